/* SPDX-License-Identifier: MIT */
/* Published ports in nftables (docs/DESIGN.md, "Published ports"): the
 * DNAT rules of prerouting and output, and the map elements that carry a
 * slot's ports. Pure, like nft-build.c; the expressions mirror what nft
 * 1.0.6 generates for the rules in the comments of enum nft_rule_kind. */

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>

#include "macro.h"
#include "nft-internal.h"
#include "slot.h"

bool nft_publish_set(enum nft_set_id set)
{
        return set >= NFT_SET_PUBLISHED_V4 && set <= NFT_SET_PUBLISHED_ANY_V6;
}

static bool set_ipv6(enum nft_set_id set)
{
        return set == NFT_SET_PUBLISHED_V6 || set == NFT_SET_PUBLISHED_ANY_V6;
}

static bool set_any(enum nft_set_id set)
{
        return set == NFT_SET_PUBLISHED_ANY_V4 || set == NFT_SET_PUBLISHED_ANY_V6;
}

/* --- rules ----------------------------------------------------------------- */

static struct nftnl_expr *expr_fib_daddr_type(uint32_t dreg)
{
        struct nftnl_expr *e = nftnl_expr_alloc("fib");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, dreg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
        nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
        return e;
}

/* ip daddr != 127.0.0.0/8, ip6 daddr != ::1: DNAT from a loopback address
 * to a guest cannot work (the kernel refuses to route 127/8 out), so the
 * connection is refused there as before. */
static void match_not_loopback(struct rule_builder *rb, bool ipv6)
{
        static const uint8_t lo4 = 127;
        static const struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;

        nft_put_expr(rb, ipv6 ? nft_expr_payload_nh(NFT_REG_1, IP6_DADDR, 16)
                              : nft_expr_payload_nh(NFT_REG_1, IP_DADDR, 1));
        nft_put_expr(rb, ipv6 ? nft_expr_cmp(NFT_CMP_NEQ, NFT_REG_1, &lo6, 16)
                              : nft_expr_cmp(NFT_CMP_NEQ, NFT_REG_1, &lo4, 1));
}

void nft_publish_rule(struct rule_builder *rb, enum nft_rule_kind kind)
{
        static const uint32_t local = RTN_LOCAL;
        bool ipv6 = kind == NFT_RULE_PUBLISH_V6 || kind == NFT_RULE_PUBLISH_ANY_V6;
        bool any = kind == NFT_RULE_PUBLISH_ANY_V4 || kind == NFT_RULE_PUBLISH_ANY_V6;
        enum nft_set_id set = ipv6 ? (any ? NFT_SET_PUBLISHED_ANY_V6 : NFT_SET_PUBLISHED_V6)
                                   : (any ? NFT_SET_PUBLISHED_ANY_V4 : NFT_SET_PUBLISHED_V4);
        uint32_t addr_len = ipv6 ? 16 : 4, key_offset = any ? 0 : addr_len;

        nft_put_expr(rb, expr_fib_daddr_type(NFT_REG_1));
        nft_put_expr(rb, nft_expr_cmp_eq(NFT_REG_1, &local, sizeof(local)));
        nft_match_nfproto(rb, ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
        match_not_loopback(rb, ipv6);
        /* The key: [daddr .] l4proto . dport */
        if (!any)
                nft_put_expr(rb, ipv6 ? nft_expr_payload_nh(NFT_REG_1, IP6_DADDR, 16)
                                      : nft_expr_payload_nh(NFT_REG_1, IP_DADDR, 4));
        nft_put_expr(rb, nft_expr_meta(NFT_META_L4PROTO, nft_reg_at(key_offset)));
        nft_put_expr(rb, nft_expr_payload_th(nft_reg_at(key_offset + 4), 2, 2));

        struct nftnl_expr *lookup =
            nft_expr_lookup(NFT_REG_1, nft_set_name(set), nft_named_set_id(set), false);
        if (lookup)
                nftnl_expr_set_u32(lookup, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1);
        nft_put_expr(rb, lookup);
        /* The data: guest address . guest port */
        nft_put_expr(rb, nft_expr_nat(NFT_NAT_DNAT, ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4, NFT_REG_1,
                                      nft_reg_at(addr_len)));
}

/* --- elements -------------------------------------------------------------- */

/* A field of a concatenation takes whole 32-bit registers. */
#define FIELD 4

int nft_publish_elem_key(const struct nft_elem *e, uint8_t key[NFT_ELEM_KEY_MAX])
{
        size_t addr_len = set_ipv6(e->set) ? 16 : 4, n = 0;
        uint16_t port = htons(e->port);

        if (!nft_publish_set(e->set) || (e->protocol != IPPROTO_TCP && e->protocol != IPPROTO_UDP) ||
            e->port == 0)
                return -EINVAL;
        memset(key, 0, NFT_ELEM_KEY_MAX);
        if (!set_any(e->set)) {
                memcpy(key, &e->addr, addr_len);
                n = addr_len;
        }
        key[n] = e->protocol;
        memcpy(key + n + FIELD, &port, 2);
        return (int)(n + 2 * FIELD);
}

int nft_publish_elem_data(const struct nft_elem *e, uint8_t data[NFT_ELEM_KEY_MAX])
{
        size_t addr_len = set_ipv6(e->set) ? 16 : 4;
        uint16_t port = htons(e->to_port);

        if (!nft_publish_set(e->set) || e->to_port == 0)
                return -EINVAL;
        memset(data, 0, NFT_ELEM_KEY_MAX);
        memcpy(data, &e->to, addr_len);
        memcpy(data + addr_len, &port, 2);
        return (int)(addr_len + FIELD);
}

bool nft_publish_elem_from_key(enum nft_set_id set, const uint8_t *key, size_t len, const uint8_t *data,
                               size_t data_len, struct nft_elem *ret)
{
        const struct nft_set_desc *d = nft_set_desc(set);
        size_t addr_len = set_ipv6(set) ? 16 : 4, n = set_any(set) ? 0 : addr_len;
        uint16_t port, to_port;

        if (!nft_publish_set(set) || !data || len != d->key_len || data_len != d->data_len)
                return false;
        *ret = (struct nft_elem){.set = set};
        memcpy(&ret->addr, key, n);
        ret->protocol = key[n];
        memcpy(&port, key + n + FIELD, 2);
        ret->port = ntohs(port);
        memcpy(&ret->to, data, addr_len);
        memcpy(&to_port, data + addr_len, 2);
        ret->to_port = ntohs(to_port);
        return (ret->protocol == IPPROTO_TCP || ret->protocol == IPPROTO_UDP) && ret->port != 0 &&
               ret->to_port != 0;
}

static void elem_of(enum nft_set_id set, const struct publish_port *p, const void *guest,
                    struct nft_elem *ret)
{
        *ret = (struct nft_elem){
            .set = set, .protocol = p->protocol, .port = p->host_port, .to_port = p->guest_port};
        if (!set_any(set))
                memcpy(&ret->addr, &p->addr, set_ipv6(set) ? 16 : 4);
        memcpy(&ret->to, guest, set_ipv6(set) ? 16 : 4);
}

size_t nft_publish_elems(const struct config *c, unsigned slot, bool ipv6, const struct publish_list *l,
                         struct nft_elem *ret)
{
        struct slot_net4 net4;
        struct slot_net6 net6;
        size_t n = 0;

        if (!l)
                return 0;
        slot_ipv4(c, slot, &net4);
        if (ipv6)
                slot_ipv6(c, slot, &net6);
        for (size_t i = 0; i < l->n; i++) {
                const struct publish_port *p = &l->ports[i];
                if (p->family != AF_INET6)
                        elem_of(p->family == AF_INET ? NFT_SET_PUBLISHED_V4 : NFT_SET_PUBLISHED_ANY_V4, p,
                                &net4.guest, &ret[n++]);
                if (p->family != AF_INET && ipv6)
                        elem_of(p->family == AF_INET6 ? NFT_SET_PUBLISHED_V6 : NFT_SET_PUBLISHED_ANY_V6, p,
                                &net6.guest, &ret[n++]);
        }
        return n;
}

int nft_publish_elem_slot(const struct config *c, const struct nft_elem *e, unsigned *ret)
{
        if (!nft_publish_set(e->set))
                return -EINVAL;
        return set_ipv6(e->set) ? slot_from_ipv6_guest(c, &e->to.v6, ret)
                                : slot_from_ipv4_guest(c, e->to.v4, ret);
}

static int cmp_port(const void *a, const void *b)
{
        return publish_port_cmp(a, b);
}

int nft_publish_from_elems(const struct nft_elem *elems, size_t n, struct publish_list **ret)
{
        _cleanup_free_ struct publish_list *l = NULL;
        size_t count = 0;

        *ret = NULL;
        for (size_t i = 0; i < n; i++)
                count += nft_publish_set(elems[i].set);
        if (count == 0)
                return 0;
        l = publish_list_new(count);
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const struct nft_elem *e = &elems[i];
                if (!nft_publish_set(e->set))
                        continue;
                struct publish_port p = {
                    .protocol = e->protocol,
                    .host_port = e->port,
                    .guest_port = e->to_port,
                    .family = set_any(e->set)    ? AF_UNSPEC
                              : set_ipv6(e->set) ? AF_INET6
                                                 : AF_INET,
                };
                if (p.family != AF_UNSPEC)
                        memcpy(&p.addr, &e->addr, p.family == AF_INET6 ? 16 : 4);
                l->ports[l->n++] = p;
        }
        qsort(l->ports, l->n, sizeof(l->ports[0]), cmp_port);
        /* A port on every address is in both families' wildcard maps. */
        size_t out = 0;
        for (size_t i = 0; i < l->n; i++)
                if (out == 0 || !publish_port_same(&l->ports[out - 1], &l->ports[i]))
                        l->ports[out++] = l->ports[i];
        l->n = out;
        *ret = TAKE_PTR(l);
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* The egress policy in nftables (docs/DESIGN.md, "Egress policy"): its
 * rules, the `public` deny list, and the elements that carry a slot's
 * policy. Pure, like nft-build.c, whose expression helpers it uses; the
 * expressions mirror what nft 1.0.6 generates for the rules in the
 * comments of enum nft_rule_kind. */

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "config-values.h"
#include "macro.h"
#include "nft-internal.h"

/* What `public` never reaches: exactly this list (taplinkd.conf(5)), in
 * the syntax of [network] isolate, read by the same parser. */
static const char public_deny[] =
    "0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, "
    "172.16.0.0/12, 192.0.0.0/24, 192.168.0.0/16, 198.18.0.0/15, 224.0.0.0/3, "
    "168.63.129.16/32, ::/128, ::1/128, ::ffff:0:0/96, 64:ff9b:1::/48, fc00::/7, "
    "fe80::/10, ff00::/8";

int nft_egress_layout_init(struct nft_layout *l)
{
        struct config_network nets[CONFIG_ISOLATE_MAX];
        _cleanup_free_ char *msg = NULL;
        size_t n = 0;
        int r;

        r = config_parse_networks(public_deny, nets, &n, &msg);
        if (r < 0)
                return r;
        l->n_deny_v4 = nft_networks_to_intervals(nets, n, AF_INET, l->deny_v4);
        l->n_deny_v6 = nft_networks_to_intervals(nets, n, AF_INET6, l->deny_v6);
        return 0;
}

/* --- rules ----------------------------------------------------------------- */


/* meta l4proto into a concatenation, as nft converts it. */
static void put_l4proto(struct rule_builder *rb, uint32_t reg)
{
        struct nftnl_expr *e = nftnl_expr_alloc("byteorder");

        nft_put_expr(rb, nft_expr_meta(NFT_META_L4PROTO, reg));
        if (e) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, reg);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, reg);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 2);
        }
        nft_put_expr(rb, e);
}

/* iifname . ip[6] daddr [. meta l4proto [. th dport]] @allow_* accept */
static void rule_allow(struct rule_builder *rb, const struct nft_layout *l, enum nft_set_id set)
{
        bool ipv6 = set >= NFT_SET_ALLOW_V6;
        unsigned fields = 2 + (unsigned)(ipv6 ? set - NFT_SET_ALLOW_V6 : set - NFT_SET_ALLOW_V4);
        uint32_t addr_len = ipv6 ? 16 : 4, offset = IFNAMSIZ + addr_len;

        nft_match_nfproto(rb, ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
        nft_put_expr(rb, nft_expr_meta(NFT_META_IIFNAME, NFT_REG_1));
        nft_put_expr(rb, nft_expr_payload_nh(NFT_REG_2, ipv6 ? IP6_DADDR : IP_DADDR, addr_len));
        if (fields >= 3)
                put_l4proto(rb, nft_reg_at(offset));
        if (fields >= 4)
                nft_put_expr(rb, nft_expr_payload_th(nft_reg_at(offset + 4), 2, 2));
        nft_put_expr(rb, nft_expr_lookup(NFT_REG_1, nft_set_name(set), nft_named_set_id(set), false));
}

/* iifname [!=] @set */
static void match_ifname_in(struct rule_builder *rb, enum nft_set_id set, bool invert)
{
        nft_put_expr(rb, nft_expr_meta(NFT_META_IIFNAME, NFT_REG_1));
        nft_put_expr(rb, nft_expr_lookup(NFT_REG_1, nft_set_name(set), nft_named_set_id(set), invert));
}

void nft_egress_rule(struct rule_builder *rb, const struct nft_layout *l, enum nft_rule_kind kind,
                     uint32_t anon_id)
{
        static const uint8_t icmpv6 = IPPROTO_ICMPV6, nd_first = 135, nd_last = 136,
                             reply = 1 /* IP_CT_DIR_REPLY */;
        uint32_t verdict = NF_ACCEPT;

        nft_match_ifname_prefix(rb, l);
        switch (kind) {
        case NFT_RULE_EGRESS_HOST:
                match_ifname_in(rb, NFT_SET_EGRESS_NONE, true);
                break;
        case NFT_RULE_EGRESS_ND:
                nft_match_nfproto(rb, NFPROTO_IPV6);
                nft_put_expr(rb, nft_expr_meta(NFT_META_L4PROTO, NFT_REG_1));
                nft_put_expr(rb, nft_expr_cmp_eq(NFT_REG_1, &icmpv6, 1));
                nft_put_expr(rb, nft_expr_payload_th(NFT_REG_1, 0, 1));
                nft_put_expr(rb, nft_expr_cmp(NFT_CMP_GTE, NFT_REG_1, &nd_first, 1));
                nft_put_expr(rb, nft_expr_cmp(NFT_CMP_LTE, NFT_REG_1, &nd_last, 1));
                break;
        case NFT_RULE_EGRESS_INTERNET:
                match_ifname_in(rb, NFT_SET_EGRESS_INTERNET, false);
                break;
        case NFT_RULE_EGRESS_PUBLIC_V4:
        case NFT_RULE_EGRESS_PUBLIC_V6: {
                bool ipv6 = kind == NFT_RULE_EGRESS_PUBLIC_V6;
                match_ifname_in(rb, NFT_SET_EGRESS_PUBLIC, false);
                nft_match_nfproto(rb, ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
                nft_put_expr(rb, ipv6 ? nft_expr_payload_nh(NFT_REG_1, IP6_DADDR, 16)
                                      : nft_expr_payload_nh(NFT_REG_1, IP_DADDR, 4));
                nft_put_expr(rb, nft_expr_lookup(NFT_REG_1, ANON_SET_NAME, anon_id, true));
                break;
        }
        case NFT_RULE_EGRESS_ALLOW_V4:
        case NFT_RULE_EGRESS_ALLOW_PROTO_V4:
        case NFT_RULE_EGRESS_ALLOW_PORT_V4:
        case NFT_RULE_EGRESS_ALLOW_V6:
        case NFT_RULE_EGRESS_ALLOW_PROTO_V6:
        case NFT_RULE_EGRESS_ALLOW_PORT_V6:
                rule_allow(rb, l, NFT_SET_ALLOW_V4 + (kind - NFT_RULE_EGRESS_ALLOW_V4));
                break;
        case NFT_RULE_EGRESS_REPLY: {
                struct nftnl_expr *e = nftnl_expr_alloc("ct");
                if (e) {
                        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_DIRECTION);
                        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
                }
                nft_put_expr(rb, e);
                nft_put_expr(rb, nft_expr_cmp_eq(NFT_REG_1, &reply, 1));
                break;
        }
        case NFT_RULE_EGRESS_DROP:
                nft_count_drop(rb, NFT_SET_DROPPED_POLICY);
                verdict = NF_DROP;
                break;
        default:
                rb->oom = true; /* not an egress rule: a bug */
                return;
        }
        nft_put_expr(rb, nft_expr_verdict(verdict));
}

/* --- elements -------------------------------------------------------------- */

static bool ifname_ok(const char *ifname)
{
        size_t n = strnlen(ifname, IFNAMSIZ);
        return n > 0 && n < IFNAMSIZ;
}

static enum nft_set_id mode_set(enum egress_mode m)
{
        static const enum nft_set_id sets[_EGRESS_MODE_MAX] = {
            [EGRESS_NONE] = NFT_SET_EGRESS_NONE,
            [EGRESS_HOST] = NFT_SET_EGRESS_HOST,
            [EGRESS_PUBLIC] = NFT_SET_EGRESS_PUBLIC,
            [EGRESS_INTERNET] = NFT_SET_EGRESS_INTERNET,
        };
        return sets[m];
}

/* The network's last address. */
static void network_last(const struct egress_allow *a, void *ret)
{
        size_t len = a->family == AF_INET ? 4 : 16;
        uint8_t *b = ret;

        memcpy(b, &a->addr, len);
        for (unsigned bit = a->prefix_len; bit < len * 8; bit++)
                b[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
}

size_t nft_egress_elems(const char *ifname, const struct egress_policy *p, struct nft_elem *ret)
{
        size_t n = 0;

        if (!ifname_ok(ifname) || (unsigned)p->mode >= _EGRESS_MODE_MAX)
                return 0;
        ret[n] = (struct nft_elem){.set = mode_set(p->mode)};
        memcpy(ret[n++].ifname, ifname, strnlen(ifname, IFNAMSIZ));
        for (size_t i = 0; i < p->n_allow && i < EGRESS_ALLOW_MAX; i++) {
                const struct egress_allow *a = &p->allow[i];
                unsigned kind = a->port ? 2 : a->protocol ? 1 : 0;
                struct nft_elem *e = &ret[n++];

                *e = (struct nft_elem){
                    .set = (a->family == AF_INET ? NFT_SET_ALLOW_V4 : NFT_SET_ALLOW_V6) + kind,
                    .addr.v6 = a->addr.v6,
                    .protocol = a->protocol,
                    .port = a->port,
                };
                if (a->family == AF_INET)
                        e->addr.v4 = a->addr.v4;
                network_last(a, &e->addr_last);
                memcpy(e->ifname, ifname, strnlen(ifname, IFNAMSIZ));
        }
        return n;
}

bool nft_egress_set(enum nft_set_id set)
{
        return set >= NFT_SET_EGRESS_NONE && set <= NFT_SET_ALLOW_PORT_V6;
}

/* The prefix length of [first, last], or -1 if it is not a network. */
static int prefix_of(const uint8_t *first, const uint8_t *last, size_t len)
{
        unsigned bits = (unsigned)len * 8, p = 0;

        while (p < bits && !((first[p / 8] ^ last[p / 8]) & (0x80u >> (p % 8))))
                p++;
        for (unsigned i = p; i < bits; i++) {
                uint8_t mask = (uint8_t)(0x80u >> (i % 8));
                if ((first[i / 8] & mask) || !(last[i / 8] & mask))
                        return -1;
        }
        return (int)p;
}

static int allow_cmp(const void *a, const void *b)
{
        return egress_allow_cmp(a, b);
}

int nft_egress_from_elems(const struct nft_elem *elems, size_t n, struct egress_policy **ret)
{
        _cleanup_free_ struct egress_policy *p =
            egress_policy_new(EGRESS_NONE, MIN(n, (size_t)EGRESS_ALLOW_MAX));
        bool have_mode = false;

        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const struct nft_elem *e = &elems[i];
                if (e->set >= NFT_SET_EGRESS_NONE && e->set <= NFT_SET_EGRESS_INTERNET) {
                        enum egress_mode m = (enum egress_mode)(e->set - NFT_SET_EGRESS_NONE);
                        /* Two modes: a crash between two commits cannot
                         * cause that (one batch each), but take the narrower. */
                        p->mode = have_mode ? MIN(p->mode, m) : m;
                        have_mode = true;
                } else if (e->set >= NFT_SET_ALLOW_V4 && e->set <= NFT_SET_ALLOW_PORT_V6 &&
                           p->n_allow < EGRESS_ALLOW_MAX) {
                        bool v4 = e->set <= NFT_SET_ALLOW_PORT_V4;
                        struct egress_allow *a = &p->allow[p->n_allow];
                        int len = prefix_of((const uint8_t *)&e->addr, (const uint8_t *)&e->addr_last,
                                            v4 ? 4 : 16);
                        if (len < 0)
                                continue; /* not ours: reconcile removes it */
                        *a = (struct egress_allow){.family = v4 ? AF_INET : AF_INET6,
                                                   .prefix_len = (uint8_t)len,
                                                   .protocol = e->protocol,
                                                   .port = e->port};
                        memcpy(&a->addr, &e->addr, v4 ? 4 : 16);
                        p->n_allow++;
                }
        }
        if (!have_mode)
                return -ENOENT;
        qsort(p->allow, p->n_allow, sizeof(p->allow[0]), allow_cmp);
        *ret = TAKE_PTR(p);
        return 0;
}

/* The key (and for allow_* the key end) of an element of an egress set. */
int nft_egress_elem_key(const struct nft_elem *e, uint8_t key[NFT_ELEM_KEY_MAX],
                        uint8_t key_end[NFT_ELEM_KEY_MAX])
{
        const struct nft_set_desc *d = nft_set_desc(e->set);
        size_t addr_len, off = IFNAMSIZ;

        if (!d || !ifname_ok(e->ifname))
                return -EINVAL;
        memset(key, 0, d->key_len);
        memcpy(key, e->ifname, strnlen(e->ifname, IFNAMSIZ));
        if (e->set <= NFT_SET_EGRESS_INTERNET)
                return (int)d->key_len;
        if (e->set > NFT_SET_ALLOW_PORT_V6)
                return -EINVAL;
        addr_len = e->set <= NFT_SET_ALLOW_PORT_V4 ? 4 : 16;
        memcpy(key_end, key, d->key_len);
        memcpy(key + off, &e->addr, addr_len);
        memcpy(key_end + off, &e->addr_last, addr_len);
        off += addr_len;
        if (off < d->key_len) {
                key[off] = key_end[off] = e->protocol;
                off += 4;
        }
        if (off < d->key_len) {
                uint16_t port = htons(e->port);
                memcpy(key + off, &port, 2);
                memcpy(key_end + off, &port, 2);
        }
        return (int)d->key_len;
}

/* The inverse for the dump parser: false when the key cannot be ours. */
bool nft_egress_elem_from_key(enum nft_set_id set, const uint8_t *key, const uint8_t *key_end, size_t len,
                              struct nft_elem *ret)
{
        const struct nft_set_desc *d = nft_set_desc(set);
        size_t name_len, addr_len, off = IFNAMSIZ;

        if (!d || len != d->key_len || !nft_egress_set(set))
                return false;
        name_len = strnlen((const char *)key, IFNAMSIZ);
        if (name_len == 0 || name_len >= IFNAMSIZ)
                return false;
        *ret = (struct nft_elem){.set = set};
        memcpy(ret->ifname, key, name_len);
        if (set <= NFT_SET_EGRESS_INTERNET)
                return true;
        if (!key_end || memcmp(key, key_end, IFNAMSIZ) != 0)
                return false;
        addr_len = set <= NFT_SET_ALLOW_PORT_V4 ? 4 : 16;
        memcpy(&ret->addr, key + off, addr_len);
        memcpy(&ret->addr_last, key_end + off, addr_len);
        off += addr_len;
        if (off < len) {
                if (key[off] != key_end[off])
                        return false;
                ret->protocol = key[off];
                off += 4;
        }
        if (off < len) {
                uint16_t port, port_end;
                memcpy(&port, key + off, 2);
                memcpy(&port_end, key_end + off, 2);
                if (port != port_end)
                        return false;
                ret->port = ntohs(port);
        }
        return true;
}

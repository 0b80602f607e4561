/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <arpa/inet.h>
#include <string.h>

#include "conntrack-build.h"
#include "slot.h"

/* CTA_FILTER_ORIG_FLAGS / CTA_FILTER_REPLY_FLAGS bits: which attributes of
 * the request's tuple an entry must equal. The kernel defines them in
 * net/netfilter/nf_conntrack_netlink.c (CTA_FILTER_F_CTA_IP_SRC, ..._DST),
 * not in a uapi header; they are ABI since Linux 5.8. */
#define FILTER_IP_SRC (1u << 0)
#define FILTER_IP_DST (1u << 1)

static struct nlmsghdr *put_header(void *buf, uint16_t type, uint16_t flags, int family, uint32_t seq)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nfgenmsg *nfg;

        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        nlh->nlmsg_seq = seq;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = (uint8_t)family;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = 0;
        return nlh;
}

struct nlmsghdr *conntrack_build_flush4(void *buf, struct in_addr addr, enum conntrack_field field,
                                        uint32_t seq)
{
        bool reply = field == CONNTRACK_REPLY_SRC || field == CONNTRACK_REPLY_DST;
        bool src = field == CONNTRACK_ORIG_SRC || field == CONNTRACK_REPLY_SRC;
        struct nlmsghdr *nlh = put_header(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, AF_INET, seq);
        struct nlattr *tuple, *ip, *filter;

        tuple = mnl_attr_nest_start(nlh, reply ? CTA_TUPLE_REPLY : CTA_TUPLE_ORIG);
        ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
        mnl_attr_put(nlh, src ? CTA_IP_V4_SRC : CTA_IP_V4_DST, sizeof(addr), &addr);
        mnl_attr_nest_end(nlh, ip);
        mnl_attr_nest_end(nlh, tuple);
        filter = mnl_attr_nest_start(nlh, CTA_FILTER);
        mnl_attr_put_u32(nlh, reply ? CTA_FILTER_REPLY_FLAGS : CTA_FILTER_ORIG_FLAGS,
                         src ? FILTER_IP_SRC : FILTER_IP_DST);
        mnl_attr_nest_end(nlh, filter);
        return nlh;
}

ssize_t conntrack_put_slot_flushes(void *buf, size_t size, const struct config *c, unsigned slot,
                                   uint32_t *seq)
{
        struct slot_net4 n4;
        size_t len = 0;

        if (size < CONNTRACK_SLOT_FLUSHES * CONNTRACK_MSG_MAX)
                return -ENOBUFS;
        slot_ipv4(c, slot, &n4);
        for (int f = 0; f < _CONNTRACK_FIELD_MAX; f++) {
                struct nlmsghdr *nlh = conntrack_build_flush4((uint8_t *)buf + len, n4.guest, f, (*seq)++);
                len += NLMSG_ALIGN(nlh->nlmsg_len);
        }
        return (ssize_t)len;
}

struct nlmsghdr *conntrack_build_dump(void *buf, int family, uint32_t seq)
{
        /* A non-zero nfgen_family is the kernel's family filter. */
        return put_header(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, family, seq);
}

int conntrack_build_delete(void *buf, const struct nf_conntrack *entry, uint32_t seq, struct nlmsghdr **ret)
{
        struct nf_conntrack *del;
        struct nlmsghdr *nlh;

        if (!nfct_attr_is_set(entry, ATTR_ORIG_L3PROTO) || !nfct_attr_is_set(entry, ATTR_ORIG_L4PROTO))
                return -EINVAL;
        del = nfct_new();
        if (!del)
                return -ENOMEM;
        /* Only what names the entry: the original tuple finds it, the zone
         * picks its table, the id makes sure it is still the same one. */
        nfct_copy(del, entry, NFCT_CP_ORIG);
        if (nfct_attr_is_set(entry, ATTR_ZONE))
                nfct_set_attr_u16(del, ATTR_ZONE, nfct_get_attr_u16(entry, ATTR_ZONE));
        if (nfct_attr_is_set(entry, ATTR_ORIG_ZONE))
                nfct_set_attr_u16(del, ATTR_ORIG_ZONE, nfct_get_attr_u16(entry, ATTR_ORIG_ZONE));
        nlh = put_header(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, nfct_get_attr_u8(entry, ATTR_ORIG_L3PROTO),
                         seq);
        nfct_nlmsg_build(nlh, del);
        nfct_destroy(del);
        /* The library builds no CTA_ID. */
        if (nfct_attr_is_set(entry, ATTR_ID))
                mnl_attr_put_u32(nlh, CTA_ID, htonl(nfct_get_attr_u32(entry, ATTR_ID)));
        *ret = nlh;
        return 0;
}

/* ---- which slots an entry is about ---- */

unsigned conntrack_entry_slots(const struct config *c, const struct nf_conntrack *entry,
                               unsigned ret[_CONNTRACK_FIELD_MAX])
{
        static const enum nf_conntrack_attr v4[] = {ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV4_DST,
                                                    ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV4_DST};
        static const enum nf_conntrack_attr v6[] = {ATTR_ORIG_IPV6_SRC, ATTR_ORIG_IPV6_DST,
                                                    ATTR_REPL_IPV6_SRC, ATTR_REPL_IPV6_DST};
        unsigned n = 0;

        if (!nfct_attr_is_set(entry, ATTR_ORIG_L3PROTO))
                return 0;
        for (int f = 0; f < _CONNTRACK_FIELD_MAX; f++) {
                int family = nfct_get_attr_u8(entry, ATTR_ORIG_L3PROTO);
                const void *addr;
                unsigned slot;
                int e;

                if (family == AF_INET && nfct_attr_is_set(entry, v4[f])) {
                        addr = nfct_get_attr(entry, v4[f]);
                        e = slot_from_ipv4_guest(c, *(const struct in_addr *)addr, &slot);
                } else if (family == AF_INET6 && nfct_attr_is_set(entry, v6[f])) {
                        addr = nfct_get_attr(entry, v6[f]);
                        e = slot_from_ipv6_guest(c, addr, &slot);
                } else
                        continue;
                if (e < 0)
                        continue;
                bool seen = false;
                for (unsigned i = 0; i < n; i++)
                        seen = seen || ret[i] == slot;
                if (!seen)
                        ret[n++] = slot;
        }
        return n;
}

int conntrack_parse_entry(const struct config *c, const struct nlmsghdr *nlh, struct nf_conntrack *entry,
                          unsigned ret[_CONNTRACK_FIELD_MAX])
{
        /* The library reads the nfgenmsg without looking at the length. */
        if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nfgenmsg)) ||
            nlh->nlmsg_type != ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW))
                return -EINVAL;
        if (nfct_nlmsg_parse(nlh, entry) < 0)
                return -EINVAL;
        return (int)conntrack_entry_slots(c, entry, ret);
}

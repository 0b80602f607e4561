/* SPDX-License-Identifier: MIT */
/* nftables through libnftnl: the table of SPEC §3 and the per-slot set
 * elements. Messages are built into libnftnl batches by the nft_build_*
 * functions; nft_talk_batch() and nft_dump() are the only I/O. The
 * expressions mirror what nft 1.0.6 generates for the SPEC's ruleset
 * (`nft --debug=netlink`), so `nft list ruleset` prints it back. */

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "macro.h"
#include "nft.h"
#include "slot.h"

/* nft's own datatype numbers (nftables src/datatype.h), stored as the
 * sets' key types; concatenations shift earlier fields by 6 bits. */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8
#define NFT_TYPE_IFNAME 41
#define NFT_TYPE_BITS 6

/* nft's set userdata values (nftables src/mnl.c, expression.h): the key's
 * byte order, and for a concatenation the "typeof" of a concat expression
 * without subexpressions. Without them nft prints the keys wrongly. */
#define NFT_UDATA_BYTEORDER_INVALID 0
#define NFT_UDATA_BYTEORDER_BIG_ENDIAN 2
#define NFT_UDATA_EXPR_PAYLOAD 7
#define NFT_UDATA_EXPR_CONCAT 13
#define NFT_UDATA_PAYLOAD_DESC 0
#define NFT_UDATA_PAYLOAD_TYPE 1
#define NFT_UDATA_PROTO_DESC_IP6 13
#define NFT_UDATA_IP6HDR_SADDR 8

#define NFT_SRCNAT_PRIORITY 100 /* "priority srcnat" */

#define ANON_SET_NAME "__set%d" /* the kernel picks the number */
#define ANON_SET_PREFIX "__set"

/* One page holds a small batch; a message never exceeds the overrun
 * (NFT_ELEMS_PER_MSG elements of at most 44 bytes, or one rule). */
#define BATCH_PAGE_SIZE (32 * 1024)
#define BATCH_PAGE_OVERRUN (16 * 1024)

#define RECV_BUF_SIZE (64 * 1024)
#define RECV_TIMEOUT_SEC 10
#define DUMP_RETRIES 8

#define NFT_RULES_MAX 8

struct nft {
        struct mnl_socket *nl;
        uint32_t portid;
        uint32_t seq;
        struct nft_layout layout;
        bool has_destroy;
        bool force_legacy;
        int sndbuf;
        int rcvbuf;
        uint8_t *buf; /* RECV_BUF_SIZE */
};

static const struct set_desc {
        const char *name;
        uint32_t key_type;
        uint32_t key_len;
        bool concat;
} set_descs[_NFT_SET_MAX] = {
    [NFT_SET_SLOTS_V4] = {"slots_v4", NFT_TYPE_IPADDR, 4, false},
    [NFT_SET_SLOTS_V6] = {"slots_v6", NFT_TYPE_IP6ADDR, 16, false},
    [NFT_SET_GUESTS_V4] = {"guests_v4", NFT_TYPE_IFNAME << NFT_TYPE_BITS | NFT_TYPE_IPADDR, IFNAMSIZ + 4,
                           true},
    [NFT_SET_GUESTS_V6] = {"guests_v6", NFT_TYPE_IFNAME << NFT_TYPE_BITS | NFT_TYPE_IP6ADDR, IFNAMSIZ + 16,
                           true},
};

static const struct chain_desc {
        const char *name;
        const char *type;
        uint32_t hook;
        int32_t prio;
} chain_descs[_NFT_CHAIN_MAX] = {
    [NFT_CHAIN_INPUT] = {"input", "filter", NF_INET_LOCAL_IN, 0},
    [NFT_CHAIN_FORWARD] = {"forward", "filter", NF_INET_FORWARD, 0},
    [NFT_CHAIN_POSTROUTING] = {"postrouting", "nat", NF_INET_POST_ROUTING, NFT_SRCNAT_PRIORITY},
};

/* { ::, fe80::/10 } as nft sends it: an interval set of half-open ranges
 * [::, ::1) and [fe80::, fec0::), each end flagged. */
static const struct anon_elem {
        uint8_t key[16];
        uint32_t flags;
} v6_exempt_elems[] = {
    {{0}, 0},
    {{[15] = 1}, NFT_SET_ELEM_INTERVAL_END},
    {{0xfe, 0x80}, 0},
    {{0xfe, 0xc0}, NFT_SET_ELEM_INTERVAL_END},
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_table *, nftnl_table_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_chain *, nftnl_chain_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set *, nftnl_set_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set_elem *, nftnl_set_elem_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_expr *, nftnl_expr_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_udata_buf *, nftnl_udata_buf_free);

const char *nft_set_name(enum nft_set_id id)
{
        if ((unsigned)id >= _NFT_SET_MAX)
                return NULL;
        return set_descs[id].name;
}

const char *nft_chain_name(enum nft_chain_id id)
{
        if ((unsigned)id >= _NFT_CHAIN_MAX)
                return NULL;
        return chain_descs[id].name;
}

static int set_id_from_name(const char *name)
{
        for (int i = 0; i < _NFT_SET_MAX; i++)
                if (strcmp(set_descs[i].name, name) == 0)
                        return i;
        return -ENOENT;
}

int nft_layout_init(const struct config *c, struct nft_layout *ret)
{
        size_t table_len = c->nft_table ? strlen(c->nft_table) : 0;
        size_t prefix_len = strnlen(c->ifname_prefix, IFNAMSIZ);

        if (table_len == 0 || table_len >= NFT_TABLE_NAME_MAX)
                return -EINVAL;
        if (prefix_len == 0 || prefix_len >= IFNAMSIZ)
                return -EINVAL;
        if (c->ipv4_prefix < 1 || c->ipv4_prefix > 31 || c->ipv6_prefix < 1 || c->ipv6_prefix > 127)
                return -EINVAL;

        *ret = (struct nft_layout){
            .ipv4_prefix = c->ipv4_prefix,
            .ipv6_prefix = c->ipv6_prefix,
            .masquerade = c->masquerade,
        };
        memcpy(ret->table, c->nft_table, table_len + 1);
        memcpy(ret->ifname_prefix, c->ifname_prefix, prefix_len + 1);
        return 0;
}

/* --- batches ------------------------------------------------------------ */

int nft_batch_start(struct nft_batch *b, uint32_t seq)
{
        struct nftnl_batch *pages = nftnl_batch_alloc(BATCH_PAGE_SIZE, BATCH_PAGE_OVERRUN);
        if (!pages)
                return -ENOMEM;
        memset(nftnl_batch_buffer(pages), 0, BATCH_PAGE_SIZE + BATCH_PAGE_OVERRUN);
        nftnl_batch_begin(nftnl_batch_buffer(pages), seq);
        if (nftnl_batch_update(pages) < 0) {
                nftnl_batch_free(pages);
                return -ENOMEM;
        }
        *b = (struct nft_batch){
            .pages = pages,
            .seq_begin = seq,
            .seq = seq + 1,
            .next_set_id = 1,
        };
        return 0;
}

int nft_batch_finish(struct nft_batch *b)
{
        nftnl_batch_end(nftnl_batch_buffer(b->pages), b->seq++);
        return nftnl_batch_update(b->pages) < 0 ? -ENOMEM : 0;
}

void nft_batch_done(struct nft_batch *b)
{
        if (b->pages)
                nftnl_batch_free(b->pages);
        b->pages = NULL;
}

/* Every message asks for an ack, so that nft_talk_batch() can tell when the
 * kernel has answered them all. */
static struct nlmsghdr *batch_msg(struct nft_batch *b, uint16_t type, uint16_t flags)
{
        return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->pages), type, NFPROTO_INET, flags | NLM_F_ACK,
                                     b->seq);
}

static int batch_next(struct nft_batch *b)
{
        if (nftnl_batch_update(b->pages) < 0)
                return -ENOMEM;
        b->seq++;
        b->n_msgs++;
        return 0;
}

/* --- table, sets, chains ------------------------------------------------ */

int nft_build_table(struct nft_batch *b, const struct nft_layout *l, uint16_t type)
{
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
        if (!t)
                return -ENOMEM;
        if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, l->table) < 0)
                return -ENOMEM;
        /* Flags 0 also wakes a table someone made dormant. */
        if (type == NFT_MSG_NEWTABLE)
                nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, 0);

        struct nlmsghdr *nlh = batch_msg(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
        nftnl_table_nlmsg_build_payload(nlh, t);
        return batch_next(b);
}

static int set_userdata(struct nftnl_set *s, const struct set_desc *d)
{
        _cleanup_(nftnl_udata_buf_freep) struct nftnl_udata_buf *u =
            nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
        if (!u)
                return -ENOMEM;
        if (d->concat) {
                nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_UDATA_BYTEORDER_INVALID);
                struct nftnl_udata *key = nftnl_udata_nest_start(u, NFTNL_UDATA_SET_KEY_TYPEOF);
                nftnl_udata_put_u32(u, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_UDATA_EXPR_CONCAT);
                struct nftnl_udata *data = nftnl_udata_nest_start(u, NFTNL_UDATA_SET_TYPEOF_DATA);
                nftnl_udata_nest_end(u, data);
                nftnl_udata_nest_end(u, key);
        } else
                nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_UDATA_BYTEORDER_BIG_ENDIAN);

        return nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u)) < 0
                   ? -ENOMEM
                   : 0;
}

static struct nftnl_set *set_new(const struct nft_layout *l, const char *name)
{
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
        if (!s)
                return NULL;
        if (nftnl_set_set_str(s, NFTNL_SET_TABLE, l->table) < 0 ||
            nftnl_set_set_str(s, NFTNL_SET_NAME, name) < 0)
                return NULL;
        nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
        return TAKE_PTR(s);
}

/* Named sets get ids 1..4 in every batch, so that rules can refer to a set
 * created in the same batch; anonymous sets count on from there. */
static uint32_t named_set_id(enum nft_set_id id)
{
        return (uint32_t)id + 1;
}

int nft_build_set(struct nft_batch *b, const struct nft_layout *l, enum nft_set_id id)
{
        if ((unsigned)id >= _NFT_SET_MAX)
                return -EINVAL;
        const struct set_desc *d = &set_descs[id];

        _cleanup_(nftnl_set_freep) struct nftnl_set *s = set_new(l, d->name);
        if (!s)
                return -ENOMEM;
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, 0);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, d->key_type);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, d->key_len);
        nftnl_set_set_u32(s, NFTNL_SET_ID, named_set_id(id));
        int r = set_userdata(s, d);
        if (r < 0)
                return r;

        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE);
        nftnl_set_nlmsg_build_payload(nlh, s);
        return batch_next(b);
}

static int build_set_del(struct nft_batch *b, const struct nft_layout *l, const char *name)
{
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = set_new(l, name);
        if (!s)
                return -ENOMEM;
        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_DELSET, 0);
        nftnl_set_nlmsg_build_payload(nlh, s);
        return batch_next(b);
}

static struct nftnl_chain *chain_new(const struct nft_layout *l, enum nft_chain_id id)
{
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
        if (!c)
                return NULL;
        if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, l->table) < 0 ||
            nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain_descs[id].name) < 0)
                return NULL;
        nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
        return TAKE_PTR(c);
}

int nft_build_chain(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id)
{
        if ((unsigned)id >= _NFT_CHAIN_MAX)
                return -EINVAL;
        const struct chain_desc *d = &chain_descs[id];

        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = chain_new(l, id);
        if (!c || nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, d->type) < 0)
                return -ENOMEM;
        nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, d->hook);
        nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, d->prio);
        nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);

        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
        nftnl_chain_nlmsg_build_payload(nlh, c);
        return batch_next(b);
}

static int build_chain_del(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id)
{
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = chain_new(l, id);
        if (!c)
                return -ENOMEM;
        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_DELCHAIN, 0);
        nftnl_chain_nlmsg_build_payload(nlh, c);
        return batch_next(b);
}

/* DELRULE naming only the chain deletes all of its rules. */
static int build_chain_flush(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id)
{
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
        if (!r)
                return -ENOMEM;
        if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, l->table) < 0 ||
            nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain_descs[id].name) < 0)
                return -ENOMEM;
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_DELRULE, 0);
        nftnl_rule_nlmsg_build_payload(nlh, r);
        return batch_next(b);
}

/* --- rules ---------------------------------------------------------------- */

/* Expressions go into the rule as they are made; a NULL (out of memory)
 * poisons the rule so that only the final check needs to look. */
struct rule_builder {
        struct nftnl_rule *rule;
        bool oom;
};

static void put_expr(struct rule_builder *rb, struct nftnl_expr *e)
{
        if (!e) {
                rb->oom = true;
                return;
        }
        nftnl_rule_add_expr(rb->rule, e);
}

static struct nftnl_expr *expr_meta(uint32_t key, uint32_t dreg)
{
        struct nftnl_expr *e = nftnl_expr_alloc("meta");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
        return e;
}

static struct nftnl_expr *expr_cmp_eq(uint32_t sreg, const void *data, uint32_t len)
{
        _cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("cmp");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
        if (nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len) < 0)
                return NULL;
        return TAKE_PTR(e);
}

static struct nftnl_expr *expr_payload_nh(uint32_t dreg, uint32_t offset, uint32_t len)
{
        struct nftnl_expr *e = nftnl_expr_alloc("payload");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
        return e;
}

static struct nftnl_expr *expr_mask(uint32_t reg, const uint8_t *mask, uint32_t len)
{
        static const uint8_t zero[16];
        _cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
        if (nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len) < 0 ||
            nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len) < 0)
                return NULL;
        return TAKE_PTR(e);
}

static struct nftnl_expr *expr_lookup(uint32_t sreg, const char *set, uint32_t set_id, bool invert)
{
        _cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("lookup");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
        if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
        /* Like nft: no flags attribute unless inverted. */
        if (invert)
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
        return TAKE_PTR(e);
}

static struct nftnl_expr *expr_verdict(uint32_t verdict)
{
        struct nftnl_expr *e = nftnl_expr_alloc("immediate");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, verdict);
        return e;
}

/* IPv4 and IPv6 header offsets of the source and destination address. */
#define IP_SADDR 12
#define IP_DADDR 16
#define IP6_SADDR 8
#define IP6_DADDR 24

/* An inet table sees both families: nft guards every network-header load
 * with `meta nfproto`. */
static void match_nfproto(struct rule_builder *rb, uint8_t nfproto)
{
        put_expr(rb, expr_meta(NFT_META_NFPROTO, NFT_REG_1));
        put_expr(rb, expr_cmp_eq(NFT_REG_1, &nfproto, sizeof(nfproto)));
}

/* iifname "<prefix>*": a comparison of the prefix's bytes only. */
static void match_ifname_prefix(struct rule_builder *rb, const struct nft_layout *l)
{
        put_expr(rb, expr_meta(NFT_META_IIFNAME, NFT_REG_1));
        put_expr(rb, expr_cmp_eq(NFT_REG_1, l->ifname_prefix, strlen(l->ifname_prefix)));
}

/* iifname . ip[6] saddr != @guests_v[46]: the name fills NFT_REG_1 (16
 * bytes), the address follows in NFT_REG_2. */
static void match_not_guest(struct rule_builder *rb, bool ipv6)
{
        enum nft_set_id set = ipv6 ? NFT_SET_GUESTS_V6 : NFT_SET_GUESTS_V4;
        put_expr(rb, expr_meta(NFT_META_IIFNAME, NFT_REG_1));
        put_expr(rb,
                 ipv6 ? expr_payload_nh(NFT_REG_2, IP6_SADDR, 16) : expr_payload_nh(NFT_REG_2, IP_SADDR, 4));
        put_expr(rb, expr_lookup(NFT_REG_1, set_descs[set].name, named_set_id(set), true));
}

/* ip6 saddr != { ::, fe80::/10 } */
static void match_v6_not_exempt(struct rule_builder *rb, uint32_t anon_id)
{
        put_expr(rb, expr_payload_nh(NFT_REG_1, IP6_SADDR, 16));
        put_expr(rb, expr_lookup(NFT_REG_1, ANON_SET_NAME, anon_id, true));
}

static void prefix_mask(unsigned prefix, uint8_t *mask, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                unsigned bits = prefix > i * 8 ? MIN(prefix - i * 8, 8u) : 0;
                mask[i] = (uint8_t)(0xff00u >> bits);
        }
}

/* ip[6] {s,d}addr & <mask> [!=] @slots_v[46] */
static void match_subnet(struct rule_builder *rb, const struct nft_layout *l, bool ipv6, bool daddr,
                         bool invert)
{
        enum nft_set_id set = ipv6 ? NFT_SET_SLOTS_V6 : NFT_SET_SLOTS_V4;
        uint32_t len = ipv6 ? 16 : 4;
        uint32_t offset = ipv6 ? (daddr ? IP6_DADDR : IP6_SADDR) : (daddr ? IP_DADDR : IP_SADDR);
        uint8_t mask[16];

        prefix_mask(ipv6 ? l->ipv6_prefix : l->ipv4_prefix, mask, len);
        put_expr(rb, expr_payload_nh(NFT_REG_1, offset, len));
        put_expr(rb, expr_mask(NFT_REG_1, mask, len));
        put_expr(rb, expr_lookup(NFT_REG_1, set_descs[set].name, named_set_id(set), invert));
}

/* Which rule of SPEC §3; the order within a chain is the SPEC's. */
enum rule_kind {
        RULE_ANTISPOOF_V4,      /* iifname "tl*" iifname . ip saddr != @guests_v4 drop */
        RULE_ANTISPOOF_V6_HOST, /* ... ip6 saddr != { ::, fe80::/10 } iifname . ip6 saddr != @guests_v6 drop
                                 */
        RULE_ANTISPOOF_V6,      /* iifname "tl*" iifname . ip6 saddr != @guests_v6 drop */
        RULE_ISOLATE_V4,        /* ip saddr & m @slots_v4 ip daddr & m @slots_v4 drop */
        RULE_ISOLATE_V6,
        RULE_MASQUERADE, /* ip saddr & m @slots_v4 ip daddr & m != @slots_v4 masquerade */
};

static size_t chain_rule_kinds(const struct nft_layout *l, enum nft_chain_id id,
                               enum rule_kind ret[NFT_RULES_MAX])
{
        size_t n = 0;
        switch (id) {
        case NFT_CHAIN_INPUT:
                ret[n++] = RULE_ANTISPOOF_V4;
                ret[n++] = RULE_ANTISPOOF_V6_HOST;
                break;
        case NFT_CHAIN_FORWARD:
                ret[n++] = RULE_ANTISPOOF_V4;
                ret[n++] = RULE_ANTISPOOF_V6;
                ret[n++] = RULE_ISOLATE_V4;
                ret[n++] = RULE_ISOLATE_V6;
                break;
        case NFT_CHAIN_POSTROUTING:
                if (l->masquerade)
                        ret[n++] = RULE_MASQUERADE;
                break;
        default:
                break;
        }
        return n;
}

static int rule_new(const struct nft_layout *l, enum nft_chain_id chain, enum rule_kind kind,
                    uint32_t anon_id, struct nftnl_rule **ret)
{
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
        if (!r)
                return -ENOMEM;
        if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, l->table) < 0 ||
            nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain_descs[chain].name) < 0)
                return -ENOMEM;
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);

        struct rule_builder rb = {.rule = r};
        switch (kind) {
        case RULE_ANTISPOOF_V4:
                match_ifname_prefix(&rb, l);
                match_nfproto(&rb, NFPROTO_IPV4);
                match_not_guest(&rb, false);
                put_expr(&rb, expr_verdict(NF_DROP));
                break;
        case RULE_ANTISPOOF_V6_HOST:
                match_ifname_prefix(&rb, l);
                match_nfproto(&rb, NFPROTO_IPV6);
                match_v6_not_exempt(&rb, anon_id);
                match_not_guest(&rb, true);
                put_expr(&rb, expr_verdict(NF_DROP));
                break;
        case RULE_ANTISPOOF_V6:
                match_ifname_prefix(&rb, l);
                match_nfproto(&rb, NFPROTO_IPV6);
                match_not_guest(&rb, true);
                put_expr(&rb, expr_verdict(NF_DROP));
                break;
        case RULE_ISOLATE_V4:
        case RULE_ISOLATE_V6: {
                bool ipv6 = kind == RULE_ISOLATE_V6;
                match_nfproto(&rb, ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
                match_subnet(&rb, l, ipv6, false, false);
                match_subnet(&rb, l, ipv6, true, false);
                put_expr(&rb, expr_verdict(NF_DROP));
                break;
        }
        case RULE_MASQUERADE:
                match_nfproto(&rb, NFPROTO_IPV4);
                match_subnet(&rb, l, false, false, false);
                match_subnet(&rb, l, false, true, true);
                put_expr(&rb, nftnl_expr_alloc("masq"));
                break;
        }
        if (rb.oom)
                return -ENOMEM;
        *ret = TAKE_PTR(r);
        return 0;
}

static bool rule_needs_anon_set(enum rule_kind kind)
{
        return kind == RULE_ANTISPOOF_V6_HOST;
}

/* The anonymous constant set of { ::, fe80::/10 }, created in the batch of
 * the rule that uses it and bound to that rule. */
static int build_anon_set(struct nft_batch *b, const struct nft_layout *l, uint32_t anon_id)
{
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = set_new(l, ANON_SET_NAME);
        _cleanup_(nftnl_udata_buf_freep) struct nftnl_udata_buf *u =
            nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
        if (!s || !u)
                return -ENOMEM;
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, NFT_TYPE_IP6ADDR);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 16);
        nftnl_set_set_u32(s, NFTNL_SET_ID, anon_id);
        nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, ELEMENTSOF(v6_exempt_elems));

        nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_UDATA_BYTEORDER_BIG_ENDIAN);
        nftnl_udata_put_u32(u, NFTNL_UDATA_SET_MERGE_ELEMENTS, 1);
        struct nftnl_udata *key = nftnl_udata_nest_start(u, NFTNL_UDATA_SET_KEY_TYPEOF);
        nftnl_udata_put_u32(u, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_UDATA_EXPR_PAYLOAD);
        struct nftnl_udata *data = nftnl_udata_nest_start(u, NFTNL_UDATA_SET_TYPEOF_DATA);
        nftnl_udata_put_u32(u, NFT_UDATA_PAYLOAD_DESC, NFT_UDATA_PROTO_DESC_IP6);
        nftnl_udata_put_u32(u, NFT_UDATA_PAYLOAD_TYPE, NFT_UDATA_IP6HDR_SADDR);
        nftnl_udata_nest_end(u, data);
        nftnl_udata_nest_end(u, key);
        if (nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u)) < 0)
                return -ENOMEM;

        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE);
        nftnl_set_nlmsg_build_payload(nlh, s);
        int r = batch_next(b);
        if (r < 0)
                return r;

        for (size_t i = 0; i < ELEMENTSOF(v6_exempt_elems); i++) {
                _cleanup_(nftnl_set_elem_freep) struct nftnl_set_elem *e = nftnl_set_elem_alloc();
                if (!e || nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, v6_exempt_elems[i].key, 16) < 0)
                        return -ENOMEM;
                if (v6_exempt_elems[i].flags)
                        nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, v6_exempt_elems[i].flags);
                nftnl_set_elem_add(s, TAKE_PTR(e));
        }
        nlh = batch_msg(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE);
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        return batch_next(b);
}

int nft_build_chain_rules(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id)
{
        enum rule_kind kinds[NFT_RULES_MAX];

        if ((unsigned)id >= _NFT_CHAIN_MAX)
                return -EINVAL;
        size_t n = chain_rule_kinds(l, id, kinds);
        for (size_t i = 0; i < n; i++) {
                uint32_t anon_id = 0;
                int r;

                if (rule_needs_anon_set(kinds[i])) {
                        /* Past the named sets' ids. */
                        anon_id = _NFT_SET_MAX + b->next_set_id++;
                        r = build_anon_set(b, l, anon_id);
                        if (r < 0)
                                return r;
                }
                _cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
                r = rule_new(l, id, kinds[i], anon_id, &rule);
                if (r < 0)
                        return r;
                struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
                nftnl_rule_nlmsg_build_payload(nlh, rule);
                r = batch_next(b);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --- elements ------------------------------------------------------------- */

int nft_elem_key(const struct nft_elem *e, uint8_t ret[NFT_ELEM_KEY_MAX])
{
        size_t name_len;

        switch (e->set) {
        case NFT_SET_SLOTS_V4:
                memcpy(ret, &e->addr.v4, 4);
                return 4;
        case NFT_SET_SLOTS_V6:
                memcpy(ret, &e->addr.v6, 16);
                return 16;
        case NFT_SET_GUESTS_V4:
        case NFT_SET_GUESTS_V6:
                name_len = strnlen(e->ifname, IFNAMSIZ);
                if (name_len == 0 || name_len >= IFNAMSIZ)
                        return -EINVAL;
                memset(ret, 0, IFNAMSIZ);
                memcpy(ret, e->ifname, name_len);
                if (e->set == NFT_SET_GUESTS_V4) {
                        memcpy(ret + IFNAMSIZ, &e->addr.v4, 4);
                        return IFNAMSIZ + 4;
                }
                memcpy(ret + IFNAMSIZ, &e->addr.v6, 16);
                return IFNAMSIZ + 16;
        default:
                return -EINVAL;
        }
}

static int build_elems_msg(struct nft_batch *b, const struct nft_layout *l, uint16_t type,
                           enum nft_set_id set, const struct nft_elem *e, size_t n, size_t *pos)
{
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = set_new(l, set_descs[set].name);
        size_t count = 0;

        if (!s)
                return -ENOMEM;
        for (; *pos < n && count < NFT_ELEMS_PER_MSG; (*pos)++) {
                uint8_t key[NFT_ELEM_KEY_MAX];
                if (e[*pos].set != set)
                        continue;
                int key_len = nft_elem_key(&e[*pos], key);
                if (key_len < 0)
                        return key_len;
                _cleanup_(nftnl_set_elem_freep) struct nftnl_set_elem *elem = nftnl_set_elem_alloc();
                if (!elem || nftnl_set_elem_set(elem, NFTNL_SET_ELEM_KEY, key, (uint32_t)key_len) < 0)
                        return -ENOMEM;
                nftnl_set_elem_add(s, TAKE_PTR(elem));
                count++;
        }
        /* A delete without elements would flush the whole set. */
        if (count == 0)
                return 0;

        struct nlmsghdr *nlh = batch_msg(b, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        return batch_next(b);
}

int nft_build_elems(struct nft_batch *b, const struct nft_layout *l, uint16_t type, const struct nft_elem *e,
                    size_t n)
{
        for (size_t i = 0; i < n; i++) {
                uint8_t key[NFT_ELEM_KEY_MAX];
                int r = nft_elem_key(&e[i], key);
                if (r < 0)
                        return r;
        }
        for (int set = 0; set < _NFT_SET_MAX; set++)
                for (size_t pos = 0; pos < n;) {
                        int r = build_elems_msg(b, l, type, set, e, n, &pos);
                        if (r < 0)
                                return r;
                }
        return 0;
}

size_t nft_slot_elems(const struct config *c, unsigned slot, struct nft_elem ret[4])
{
        char ifname[IFNAMSIZ] = {0}; /* zero-padded: elements are compared with memcmp() */
        struct slot_net4 net4;
        struct slot_net6 net6;

        if (slot_ifname(c, slot, ifname) < 0)
                return 0;
        slot_ipv4(c, slot, &net4);

        memset(ret, 0, 4 * sizeof(ret[0]));
        ret[0].set = NFT_SET_SLOTS_V4;
        ret[0].addr.v4 = net4.subnet;
        ret[1].set = NFT_SET_GUESTS_V4;
        memcpy(ret[1].ifname, ifname, IFNAMSIZ);
        ret[1].addr.v4 = net4.guest;
        if (!c->ipv6)
                return 2;

        slot_ipv6(c, slot, &net6);
        ret[2].set = NFT_SET_SLOTS_V6;
        ret[2].addr.v6 = net6.subnet;
        ret[3].set = NFT_SET_GUESTS_V6;
        memcpy(ret[3].ifname, ifname, IFNAMSIZ);
        ret[3].addr.v6 = net6.guest;
        return 4;
}

/* --- the element dump parser ------------------------------------------------ */

struct attr_table {
        const struct nlattr **tb;
        unsigned max;
        const enum mnl_attr_data_type *types;
};

/* Unknown attributes are skipped (newer kernels add some); known ones must
 * have their type's shape. */
static int attr_table_cb(const struct nlattr *attr, void *data)
{
        const struct attr_table *t = data;
        unsigned type = mnl_attr_get_type(attr);

        if (type > t->max)
                return MNL_CB_OK;
        if (t->types[type] != MNL_TYPE_UNSPEC && mnl_attr_validate(attr, t->types[type]) < 0)
                return MNL_CB_ERROR;
        t->tb[type] = attr;
        return MNL_CB_OK;
}

static const enum mnl_attr_data_type elem_list_types[NFTA_SET_ELEM_LIST_MAX + 1] = {
    [NFTA_SET_ELEM_LIST_TABLE] = MNL_TYPE_NUL_STRING,
    [NFTA_SET_ELEM_LIST_SET] = MNL_TYPE_NUL_STRING,
    [NFTA_SET_ELEM_LIST_ELEMENTS] = MNL_TYPE_NESTED,
};

static const enum mnl_attr_data_type elem_types[NFTA_SET_ELEM_MAX + 1] = {
    [NFTA_SET_ELEM_KEY] = MNL_TYPE_NESTED,
    [NFTA_SET_ELEM_FLAGS] = MNL_TYPE_U32,
};

static const enum mnl_attr_data_type data_types[NFTA_DATA_MAX + 1] = {
    [NFTA_DATA_VALUE] = MNL_TYPE_BINARY,
};

static int elem_list_append(struct nft_elem_list *l, const struct nft_elem *e)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                if (cap > SIZE_MAX / sizeof(*l->elems))
                        return -ENOMEM;
                struct nft_elem *v = realloc(l->elems, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                l->elems = v;
                l->cap = cap;
        }
        l->elems[l->n++] = *e;
        return 0;
}

/* Fills *ret from a key of set; false when the key cannot be one of ours. */
static bool elem_from_key(enum nft_set_id set, const uint8_t *key, size_t len, struct nft_elem *ret)
{
        size_t name_len;

        if (len != set_descs[set].key_len)
                return false;
        *ret = (struct nft_elem){.set = set};
        switch (set) {
        case NFT_SET_SLOTS_V4:
                memcpy(&ret->addr.v4, key, 4);
                return true;
        case NFT_SET_SLOTS_V6:
                memcpy(&ret->addr.v6, key, 16);
                return true;
        case NFT_SET_GUESTS_V4:
        case NFT_SET_GUESTS_V6:
                name_len = strnlen((const char *)key, IFNAMSIZ);
                if (name_len == 0 || name_len >= IFNAMSIZ)
                        return false;
                memcpy(ret->ifname, key, name_len);
                if (set == NFT_SET_GUESTS_V4)
                        memcpy(&ret->addr.v4, key + IFNAMSIZ, 4);
                else
                        memcpy(&ret->addr.v6, key + IFNAMSIZ, 16);
                return true;
        default:
                return false;
        }
}

static int parse_elem(enum nft_set_id set, const struct nlattr *attr, struct nft_elem_list *l)
{
        const struct nlattr *etb[NFTA_SET_ELEM_MAX + 1] = {0};
        const struct nlattr *dtb[NFTA_DATA_MAX + 1] = {0};
        struct attr_table et = {etb, NFTA_SET_ELEM_MAX, elem_types};
        struct attr_table dt = {dtb, NFTA_DATA_MAX, data_types};
        struct nft_elem e;

        if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0 ||
            mnl_attr_parse_nested(attr, attr_table_cb, &et) < 0)
                return -EBADMSG;
        /* An interval end or a catch-all element has no key of ours. */
        if (etb[NFTA_SET_ELEM_FLAGS] &&
            (ntohl(mnl_attr_get_u32(etb[NFTA_SET_ELEM_FLAGS])) & NFT_SET_ELEM_INTERVAL_END))
                return 0;
        if (!etb[NFTA_SET_ELEM_KEY])
                return 0;
        if (mnl_attr_parse_nested(etb[NFTA_SET_ELEM_KEY], attr_table_cb, &dt) < 0)
                return -EBADMSG;
        if (!dtb[NFTA_DATA_VALUE])
                return -EBADMSG;
        if (!elem_from_key(set, mnl_attr_get_payload(dtb[NFTA_DATA_VALUE]),
                           mnl_attr_get_payload_len(dtb[NFTA_DATA_VALUE]), &e))
                return 0;
        return elem_list_append(l, &e);
}

static int parse_elem_msg(const struct nlmsghdr *nlh, struct nft_elem_list *l)
{
        const struct nlattr *tb[NFTA_SET_ELEM_LIST_MAX + 1] = {0};
        struct attr_table t = {tb, NFTA_SET_ELEM_LIST_MAX, elem_list_types};
        const struct nlattr *attr;
        int set, r;

        if (nlh->nlmsg_type != (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM))
                return -EBADMSG;
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
                return -EBADMSG;
        if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_table_cb, &t) < 0)
                return -EBADMSG;
        if (!tb[NFTA_SET_ELEM_LIST_SET])
                return -EBADMSG;
        set = set_id_from_name(mnl_attr_get_str(tb[NFTA_SET_ELEM_LIST_SET]));
        if (set < 0)
                return -EBADMSG;
        if (!tb[NFTA_SET_ELEM_LIST_ELEMENTS])
                return 0;

        mnl_attr_for_each_nested(attr, tb[NFTA_SET_ELEM_LIST_ELEMENTS])
        {
                r = parse_elem(set, attr, l);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int elem_msg_cb(const struct nlmsghdr *nlh, void *data)
{
        int r = parse_elem_msg(nlh, data);
        if (r < 0) {
                errno = -r;
                return MNL_CB_ERROR;
        }
        return MNL_CB_OK;
}

/* mnl_nlmsg_ok() in libmnl 1.0.4 compares the length as an int, so a
 * length above INT_MAX passes and walks off the buffer: check the framing
 * before libmnl sees it. */
static bool nlmsgs_well_formed(const void *buf, size_t len)
{
        size_t off = 0;

        while (off < len) {
                const struct nlmsghdr *nlh = (const struct nlmsghdr *)((const uint8_t *)buf + off);
                if (len - off < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len - off)
                        return false;
                off += MIN((size_t)NLMSG_ALIGN(nlh->nlmsg_len), len - off);
        }
        return true;
}

int nft_parse_elem_dump(const void *buf, size_t len, uint32_t seq, uint32_t portid, struct nft_elem_list *l)
{
        if (len > INT_MAX || !nlmsgs_well_formed(buf, len))
                return -EBADMSG;
        errno = 0;
        int r = mnl_cb_run(buf, len, seq, portid, elem_msg_cb, l);
        if (r == MNL_CB_ERROR)
                return negative_errno();
        return r == MNL_CB_STOP ? 0 : 1;
}

/* --- talking to the kernel ------------------------------------------------ */

static int socket_buffer_at_least(struct nft *n, int *current, int force_opt, int opt, size_t want)
{
        if (want > INT_MAX / 2)
                return -EMSGSIZE;
        if ((size_t)*current >= want)
                return 0;
        /* The kernel doubles what it is given; FORCE ignores the sysctl caps
         * (we run as root), the plain option is the fallback. */
        int v = (int)want;
        if (mnl_socket_setsockopt(n->nl, force_opt, &v, sizeof(v)) < 0 &&
            setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, opt, &v, sizeof(v)) < 0)
                return negative_errno();
        socklen_t sl = sizeof(v);
        if (getsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, opt, &v, &sl) < 0)
                return negative_errno();
        *current = v;
        return 0;
}

static bool seq_in_batch(const struct nft_batch *b, uint32_t seq)
{
        return seq - b->seq_begin - 1 < b->n_msgs;
}

/* Sends a finished batch and collects one answer per message. The kernel
 * processes the whole batch during sendmsg() and answers every message that
 * asked for an ack (0) or failed (-errno), in order; a failure of the batch
 * as a whole (commit) is reported against the batch begin. Answers to an
 * earlier batch that we stopped reading early are recognized by their
 * sequence numbers and skipped. Returns the first error. */
static int nft_talk_batch(struct nft *n, struct nft_batch *b)
{
        int iovlen = nftnl_batch_iovec_len(b->pages);
        struct iovec iov[iovlen];
        size_t total = 0;
        int first_error = 0, r;

        nftnl_batch_iovec(b->pages, iov, iovlen);
        for (int i = 0; i < iovlen; i++)
                total += iov[i].iov_len;

        r = socket_buffer_at_least(n, &n->sndbuf, SO_SNDBUFFORCE, SO_SNDBUF, total + 4096);
        if (r < 0)
                return r;
        /* Every ack is a datagram of its own in the receive queue. */
        r = socket_buffer_at_least(n, &n->rcvbuf, SO_RCVBUFFORCE, SO_RCVBUF, (b->n_msgs + 1) * 1024);
        if (r < 0)
                return r;

        struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
        struct msghdr msg = {
            .msg_name = &kernel,
            .msg_namelen = sizeof(kernel),
            .msg_iov = iov,
            .msg_iovlen = (size_t)iovlen,
        };
        if (sendmsg(mnl_socket_get_fd(n->nl), &msg, 0) < 0)
                return negative_errno();

        for (size_t answered = 0; answered < b->n_msgs;) {
                ssize_t len = mnl_socket_recvfrom(n->nl, n->buf, RECV_BUF_SIZE);
                if (len < 0)
                        return errno == EAGAIN ? -ETIMEDOUT : negative_errno();

                int rest = (int)len;
                for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)n->buf; mnl_nlmsg_ok(nlh, rest);
                     nlh = mnl_nlmsg_next(nlh, &rest)) {
                        if (nlh->nlmsg_type != NLMSG_ERROR)
                                continue;
                        if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr)))
                                return -EBADMSG;
                        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
                        if (nlh->nlmsg_seq == b->seq_begin)
                                return err->error < 0 ? err->error : -EPROTO;
                        if (!seq_in_batch(b, nlh->nlmsg_seq))
                                continue;
                        answered++;
                        if (err->error < 0 && first_error == 0)
                                first_error = err->error;
                }
        }
        return first_error;
}

static int run_batch(struct nft *n, struct nft_batch *b)
{
        int r = nft_batch_finish(b);
        if (r < 0)
                return r;
        r = nft_talk_batch(n, b);
        n->seq = b->seq;
        return r;
}

static int batch_start(struct nft *n, struct nft_batch *b)
{
        return nft_batch_start(b, n->seq);
}

/* Whether the datagram holds the end of the dump with this sequence number. */
static bool dump_ends_in(const void *buf, size_t len, uint32_t seq)
{
        int rest = (int)len;
        for (const struct nlmsghdr *nlh = buf; mnl_nlmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest))
                if (nlh->nlmsg_seq == seq &&
                    (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR))
                        return true;
        return false;
}

/* Sends a request (a dump, or a get with NLM_F_ACK) and feeds every reply
 * datagram to cb until the end. After a failure it keeps reading to the
 * end, so that the next request does not find the socket mid-dump. */
typedef int (*dump_datagram_cb)(const void *buf, size_t len, uint32_t seq, uint32_t portid, void *data);

static int nft_dump(struct nft *n, const struct nlmsghdr *req, dump_datagram_cb cb, void *data)
{
        uint32_t seq = req->nlmsg_seq;
        int error = 0;

        if (mnl_socket_sendto(n->nl, req, req->nlmsg_len) < 0)
                return negative_errno();
        for (;;) {
                ssize_t len = mnl_socket_recvfrom(n->nl, n->buf, RECV_BUF_SIZE);
                if (len < 0)
                        return errno == EAGAIN ? -ETIMEDOUT : negative_errno();
                const struct nlmsghdr *nlh = (const struct nlmsghdr *)n->buf;
                if (!mnl_nlmsg_ok(nlh, (int)len) || nlh->nlmsg_seq != seq)
                        continue; /* a late answer to an earlier request */
                if (error == 0) {
                        int r = cb(n->buf, (size_t)len, seq, n->portid, data);
                        if (r == 0)
                                return 0;
                        if (r > 0)
                                continue;
                        error = r;
                }
                if (dump_ends_in(n->buf, (size_t)len, seq))
                        return error;
        }
}

static struct nlmsghdr *request_hdr(struct nft *n, void *buf, uint16_t type, uint16_t flags)
{
        return nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, flags, n->seq++);
}

/* mnl_cb_run() for nftnl object parsers. */
struct obj_dump {
        mnl_cb_t cb;
        void *data;
};

static int obj_dump_datagram(const void *buf, size_t len, uint32_t seq, uint32_t portid, void *data)
{
        struct obj_dump *d = data;
        errno = 0;
        int r = mnl_cb_run(buf, len, seq, portid, d->cb, d->data);
        if (r == MNL_CB_ERROR)
                return negative_errno();
        return r == MNL_CB_STOP ? 0 : 1;
}

static int elem_dump_datagram(const void *buf, size_t len, uint32_t seq, uint32_t portid, void *data)
{
        return nft_parse_elem_dump(buf, len, seq, portid, data);
}

/* --- nft_open --------------------------------------------------------------- */

/* DESTROYSETELEM (6.3+) of a set that cannot exist: a kernel that knows the
 * message answers ENOENT (no such set; an absent element would be fine),
 * an older one EINVAL or EOPNOTSUPP for the unknown type. The element keeps
 * the message from meaning "flush". */
static int probe_destroy(struct nft *n)
{
        _cleanup_(nft_batch_done) struct nft_batch b = {0};
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = set_new(&n->layout, "");
        _cleanup_(nftnl_set_elem_freep) struct nftnl_set_elem *e = nftnl_set_elem_alloc();
        static const uint8_t key[4];
        int r;

        if (!s || !e || nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, sizeof(key)) < 0)
                return -ENOMEM;
        nftnl_set_elem_add(s, TAKE_PTR(e));

        r = batch_start(n, &b);
        if (r < 0)
                return r;
        nftnl_set_elems_nlmsg_build_payload(batch_msg(&b, NFT_MSG_DESTROYSETELEM_COMPAT, 0), s);
        r = batch_next(&b);
        if (r < 0)
                return r;
        r = run_batch(n, &b);
        if (r == 0 || r == -ENOENT)
                n->has_destroy = true;
        else if (r == -EINVAL || r == -EOPNOTSUPP)
                n->has_destroy = false;
        else
                return r;
        return 0;
}

int nft_open(const struct config *c, struct nft **ret)
{
        _cleanup_free_ struct nft *n = calloc(1, sizeof(*n));
        int r;

        if (!n)
                return -ENOMEM;
        r = nft_layout_init(c, &n->layout);
        if (r < 0)
                return r;
        n->buf = malloc(RECV_BUF_SIZE);
        if (!n->buf)
                return -ENOMEM;
        n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!n->nl) {
                r = negative_errno();
                free(n->buf);
                return r;
        }
        if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0)
                goto fail;
        n->portid = mnl_socket_get_portid(n->nl);
        n->seq = (uint32_t)time(NULL);

        /* Acks carry only the header of the message they answer. */
        int one = 1;
        if (mnl_socket_setsockopt(n->nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
                goto fail;
        /* A kernel that never answers must not hang the daemon. */
        struct timeval tv = {.tv_sec = RECV_TIMEOUT_SEC};
        if (setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
                goto fail;
        socklen_t sl = sizeof(n->sndbuf);
        if (getsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_SNDBUF, &n->sndbuf, &sl) < 0)
                goto fail;
        sl = sizeof(n->rcvbuf);
        if (getsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVBUF, &n->rcvbuf, &sl) < 0)
                goto fail;

        r = probe_destroy(n);
        if (r < 0) {
                nft_close(TAKE_PTR(n));
                return r;
        }
        *ret = TAKE_PTR(n);
        return 0;

fail:
        r = negative_errno();
        nft_close(TAKE_PTR(n));
        return r;
}

void nft_close(struct nft *n)
{
        if (!n)
                return;
        if (n->nl)
                mnl_socket_close(n->nl);
        free(n->buf);
        free(n);
}

void nft_force_legacy_delete(struct nft *n, bool legacy)
{
        n->force_legacy = legacy;
}

bool nft_has_destroy(const struct nft *n)
{
        return n->has_destroy;
}

/* --- nft_apply, nft_dump_elems, nft_delete_table ---------------------------- */

int nft_apply(struct nft *n, const struct nft_elem *add, size_t n_add, const struct nft_elem *del,
              size_t n_del)
{
        _cleanup_(nft_batch_done) struct nft_batch b = {0};
        int r;

        if (n_add == 0 && n_del == 0)
                return 0;
        r = batch_start(n, &b);
        if (r < 0)
                return r;
        if (n_del > 0) {
                if (n->has_destroy && !n->force_legacy)
                        r = nft_build_elems(&b, &n->layout, NFT_MSG_DESTROYSETELEM_COMPAT, del, n_del);
                else {
                        /* Adding first makes the delete find its element. */
                        r = nft_build_elems(&b, &n->layout, NFT_MSG_NEWSETELEM, del, n_del);
                        if (r >= 0)
                                r = nft_build_elems(&b, &n->layout, NFT_MSG_DELSETELEM, del, n_del);
                }
                if (r < 0)
                        return r;
        }
        r = nft_build_elems(&b, &n->layout, NFT_MSG_NEWSETELEM, add, n_add);
        if (r < 0)
                return r;
        return run_batch(n, &b);
}

static int elem_cmp(const void *a, const void *b)
{
        return memcmp(a, b, sizeof(struct nft_elem));
}

/* Sorts v[0..n) and drops repeats; returns the new count. */
static size_t elems_sort_unique(struct nft_elem *v, size_t n)
{
        size_t out = 0;

        if (n == 0)
                return 0;
        qsort(v, n, sizeof(*v), elem_cmp);
        for (size_t i = 1; i < n; i++)
                if (elem_cmp(&v[out], &v[i]) != 0)
                        v[++out] = v[i];
        return out + 1;
}

/* Appends one dump of the set s names to l, sorted and without repeats. */
static int dump_set_once(struct nft *n, struct nftnl_set *s, void *req, struct nft_elem_list *l)
{
        size_t before = l->n;

        for (int attempt = 0; attempt < DUMP_RETRIES; attempt++) {
                struct nlmsghdr *nlh = request_hdr(n, req, NFT_MSG_GETSETELEM, NLM_F_DUMP);
                nftnl_set_elems_nlmsg_build_payload(nlh, s);
                int r = nft_dump(n, nlh, elem_dump_datagram, l);
                if (r == 0 || r == -ENOENT) {
                        l->n = before + elems_sort_unique(l->elems + before, l->n - before);
                        return 0;
                }
                l->n = before;
                if (r != -EINTR)
                        return r;
                /* A commit changed the set under the dump: take it again. */
        }
        return -EAGAIN;
}

/* A dump that needs several datagrams restarts the kernel's walk of the set
 * for each one and skips what it has sent; a hash set that grows or shrinks
 * in between (rhashtable resizes run after the commit, and do not mark the
 * dump interrupted) reorders its elements, so that dump repeats some and
 * misses others. Two dumps in a row that agree are the set's content. */
static int dump_set_elems(struct nft *n, enum nft_set_id id, struct nft_elem_list *l)
{
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = set_new(&n->layout, set_descs[id].name);
        _cleanup_free_ void *req = calloc(1, MNL_SOCKET_BUFFER_SIZE);
        size_t start = l->n;
        int r;

        if (!s || !req)
                return -ENOMEM;
        r = dump_set_once(n, s, req, l);
        if (r < 0)
                return r;
        for (int attempt = 0; attempt < DUMP_RETRIES; attempt++) {
                size_t first = l->n - start;
                r = dump_set_once(n, s, req, l);
                if (r < 0)
                        return r;
                size_t second = l->n - start - first;
                bool same =
                    first == second && (first == 0 || memcmp(l->elems + start, l->elems + start + first,
                                                             first * sizeof(*l->elems)) == 0);
                /* Keep the newer dump. */
                if (second > 0)
                        memmove(l->elems + start, l->elems + start + first, second * sizeof(*l->elems));
                l->n = start + second;
                if (same)
                        return 0;
        }
        return -EAGAIN;
}

int nft_dump_elems(struct nft *n, struct nft_elem **ret, size_t *ret_n)
{
        struct nft_elem_list l = {0};

        for (int set = 0; set < _NFT_SET_MAX; set++) {
                int r = dump_set_elems(n, set, &l);
                if (r < 0) {
                        free(l.elems);
                        return r;
                }
        }
        *ret = l.elems;
        *ret_n = l.n;
        return 0;
}

int nft_delete_table(struct nft *n)
{
        _cleanup_(nft_batch_done) struct nft_batch b = {0};
        int r = batch_start(n, &b);
        if (r < 0)
                return r;
        r = nft_build_table(&b, &n->layout, NFT_MSG_DELTABLE);
        if (r < 0)
                return r;
        r = run_batch(n, &b);
        return r == -ENOENT ? 0 : r;
}

/* --- nft_ensure_ruleset ------------------------------------------------------- */

/* What the kernel holds of our table. */
struct ruleset_state {
        bool table_exists;
        uint32_t table_flags;
        struct nftnl_set_list *sets; /* all of the table's, anonymous ones too */
        struct nftnl_chain *chains[_NFT_CHAIN_MAX];
        struct nftnl_rule_list *rules[_NFT_CHAIN_MAX];
        bool foreign_rules[_NFT_CHAIN_MAX]; /* rules libnftnl cannot parse */
        const char *table;
};

static void ruleset_state_done(struct ruleset_state *s)
{
        if (s->sets)
                nftnl_set_list_free(s->sets);
        for (int i = 0; i < _NFT_CHAIN_MAX; i++) {
                if (s->chains[i])
                        nftnl_chain_free(s->chains[i]);
                if (s->rules[i])
                        nftnl_rule_list_free(s->rules[i]);
        }
}

static int chain_id_from_name(const char *name)
{
        for (int i = 0; i < _NFT_CHAIN_MAX; i++)
                if (strcmp(chain_descs[i].name, name) == 0)
                        return i;
        return -ENOENT;
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
        struct ruleset_state *s = data;
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
        if (!t)
                return MNL_CB_ERROR;
        if (nftnl_table_nlmsg_parse(nlh, t) < 0) {
                errno = EBADMSG;
                return MNL_CB_ERROR;
        }
        s->table_exists = true;
        s->table_flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
        return MNL_CB_OK;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
        struct ruleset_state *s = data;
        _cleanup_(nftnl_set_freep) struct nftnl_set *set = nftnl_set_alloc();
        if (!set)
                return MNL_CB_ERROR;
        if (nftnl_set_nlmsg_parse(nlh, set) < 0) {
                errno = EBADMSG;
                return MNL_CB_ERROR;
        }
        nftnl_set_list_add_tail(TAKE_PTR(set), s->sets);
        return MNL_CB_OK;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
        struct ruleset_state *s = data;
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
        if (!c)
                return MNL_CB_ERROR;
        if (nftnl_chain_nlmsg_parse(nlh, c) < 0) {
                errno = EBADMSG;
                return MNL_CB_ERROR;
        }
        const char *table = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
        const char *name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
        if (!table || !name || strcmp(table, s->table) != 0)
                return MNL_CB_OK;
        int id = chain_id_from_name(name);
        if (id < 0)
                return MNL_CB_OK;
        if (s->chains[id])
                nftnl_chain_free(s->chains[id]);
        s->chains[id] = TAKE_PTR(c);
        return MNL_CB_OK;
}

static int rule_attr_cb(const struct nlattr *attr, void *data)
{
        const struct nlattr **tb = data;
        unsigned type = mnl_attr_get_type(attr);

        if ((type == NFTA_RULE_TABLE || type == NFTA_RULE_CHAIN) &&
            mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
                tb[type] = attr;
        return MNL_CB_OK;
}

/* A rule with an expression this libnftnl does not know (a newer nft's, in
 * our chain) cannot be ours: its chain gets rewritten. */
static void mark_foreign_rule(const struct nlmsghdr *nlh, struct ruleset_state *s)
{
        const struct nlattr *tb[NFTA_RULE_MAX + 1] = {0};

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg) ||
            mnl_attr_parse(nlh, sizeof(struct nfgenmsg), rule_attr_cb, tb) < 0 || !tb[NFTA_RULE_TABLE] ||
            !tb[NFTA_RULE_CHAIN] || strcmp(mnl_attr_get_str(tb[NFTA_RULE_TABLE]), s->table) != 0)
                return;
        int id = chain_id_from_name(mnl_attr_get_str(tb[NFTA_RULE_CHAIN]));
        if (id >= 0)
                s->foreign_rules[id] = true;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
        struct ruleset_state *s = data;
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
        if (!r)
                return MNL_CB_ERROR;
        if (nftnl_rule_nlmsg_parse(nlh, r) < 0) {
                mark_foreign_rule(nlh, s);
                return MNL_CB_OK;
        }
        const char *table = nftnl_rule_get_str(r, NFTNL_RULE_TABLE);
        const char *chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
        if (!table || !chain || strcmp(table, s->table) != 0)
                return MNL_CB_OK;
        int id = chain_id_from_name(chain);
        if (id < 0)
                return MNL_CB_OK;
        nftnl_rule_list_add_tail(TAKE_PTR(r), s->rules[id]);
        return MNL_CB_OK;
}

static int dump_objects(struct nft *n, uint16_t type, uint16_t flags,
                        void (*payload)(struct nlmsghdr *, void *), void *obj, mnl_cb_t cb,
                        struct ruleset_state *s)
{
        _cleanup_free_ void *req = calloc(1, MNL_SOCKET_BUFFER_SIZE);
        if (!req)
                return -ENOMEM;
        struct nlmsghdr *nlh = request_hdr(n, req, type, flags);
        if (payload)
                payload(nlh, obj);
        struct obj_dump d = {cb, s};
        return nft_dump(n, nlh, obj_dump_datagram, &d);
}

static void table_payload(struct nlmsghdr *nlh, void *obj)
{
        nftnl_table_nlmsg_build_payload(nlh, obj);
}

static void set_payload(struct nlmsghdr *nlh, void *obj)
{
        nftnl_set_nlmsg_build_payload(nlh, obj);
}

static void rule_payload(struct nlmsghdr *nlh, void *obj)
{
        nftnl_rule_nlmsg_build_payload(nlh, obj);
}

static int ruleset_state_load(struct nft *n, struct ruleset_state *s)
{
        const struct nft_layout *l = &n->layout;
        int r;

        s->table = l->table;
        s->sets = nftnl_set_list_alloc();
        if (!s->sets)
                return -ENOMEM;
        for (int i = 0; i < _NFT_CHAIN_MAX; i++) {
                s->rules[i] = nftnl_rule_list_alloc();
                if (!s->rules[i])
                        return -ENOMEM;
        }

        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
        if (!t || nftnl_table_set_str(t, NFTNL_TABLE_NAME, l->table) < 0)
                return -ENOMEM;
        r = dump_objects(n, NFT_MSG_GETTABLE, NLM_F_ACK, table_payload, t, table_cb, s);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;

        /* The kernel filters set and rule dumps by table; chains it does not. */
        _cleanup_(nftnl_set_freep) struct nftnl_set *set = set_new(l, "");
        if (!set)
                return -ENOMEM;
        nftnl_set_unset(set, NFTNL_SET_NAME);
        r = dump_objects(n, NFT_MSG_GETSET, NLM_F_DUMP, set_payload, set, set_cb, s);
        if (r < 0)
                return r;
        r = dump_objects(n, NFT_MSG_GETCHAIN, NLM_F_DUMP, NULL, NULL, chain_cb, s);
        if (r < 0)
                return r;
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = nftnl_rule_alloc();
        if (!rule || nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, l->table) < 0)
                return -ENOMEM;
        return dump_objects(n, NFT_MSG_GETRULE, NLM_F_DUMP, rule_payload, rule, rule_cb, s);
}

static bool set_matches(const struct nftnl_set *s, enum nft_set_id id)
{
        return nftnl_set_get_u32(s, NFTNL_SET_FLAGS) == 0 &&
               nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE) == set_descs[id].key_type &&
               nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN) == set_descs[id].key_len &&
               !nftnl_set_is_set(s, NFTNL_SET_DATA_TYPE) && !nftnl_set_is_set(s, NFTNL_SET_TIMEOUT);
}

enum chain_verdict {
        CHAIN_OK,
        CHAIN_MISSING,
        CHAIN_POLICY,   /* only the policy differs: update it */
        CHAIN_RECREATE, /* type, hook or priority differ: those cannot change */
};

static enum chain_verdict chain_check(const struct nftnl_chain *c, enum nft_chain_id id)
{
        const struct chain_desc *d = &chain_descs[id];
        const char *type;

        if (!c)
                return CHAIN_MISSING;
        type = nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE);
        if (!nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM) ||
            nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM) != d->hook ||
            nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO) != d->prio || !type || strcmp(type, d->type) != 0)
                return CHAIN_RECREATE;
        if (nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) != NF_ACCEPT)
                return CHAIN_POLICY;
        return CHAIN_OK;
}

static bool all_zero(const void *p, uint32_t len)
{
        const uint8_t *b = p;
        for (uint32_t i = 0; i < len; i++)
                if (b[i])
                        return false;
        return true;
}

static bool is_anon_set_name(const char *name)
{
        return name && strncmp(name, ANON_SET_PREFIX, strlen(ANON_SET_PREFIX)) == 0;
}

/* Compares two expressions attribute by attribute. The kernel dumps some
 * attributes we do not send (a lookup's flags 0, a bitwise's operation) and
 * never dumps a set id: an absent attribute equals one that is all zeroes,
 * and set ids are not compared. Anonymous sets have kernel-chosen names:
 * the name of the one found goes to *ret_anon, for a look at its contents. */
static bool expr_matches(const struct nftnl_expr *want, const struct nftnl_expr *have, const char **ret_anon)
{
        const char *name = nftnl_expr_get_str(want, NFTNL_EXPR_NAME);
        const char *have_name = nftnl_expr_get_str(have, NFTNL_EXPR_NAME);
        bool lookup;

        if (!name || !have_name || strcmp(name, have_name) != 0)
                return false;
        lookup = strcmp(name, "lookup") == 0;

        for (uint16_t type = NFTNL_EXPR_BASE; type < 32; type++) {
                uint32_t want_len = 0, have_len = 0;
                const void *w, *h;

                if (lookup && type == NFTNL_EXPR_LOOKUP_SET_ID)
                        continue;
                w = nftnl_expr_get(want, type, &want_len);
                h = nftnl_expr_get(have, type, &have_len);
                if (lookup && type == NFTNL_EXPR_LOOKUP_SET && is_anon_set_name(w)) {
                        if (!is_anon_set_name(h))
                                return false;
                        *ret_anon = h;
                        continue;
                }
                if (!w && !h)
                        continue;
                if (!w || !h) {
                        if (!all_zero(w ? w : h, w ? want_len : have_len))
                                return false;
                        continue;
                }
                if (want_len != have_len || memcmp(w, h, want_len) != 0)
                        return false;
        }
        return true;
}

static bool rule_matches(const struct nftnl_rule *want, const struct nftnl_rule *have, const char **ret_anon)
{
        struct nftnl_expr_iter *wi = nftnl_expr_iter_create(want);
        struct nftnl_expr_iter *hi = nftnl_expr_iter_create(have);
        bool match = wi && hi;

        while (match) {
                struct nftnl_expr *w = nftnl_expr_iter_next(wi);
                struct nftnl_expr *h = nftnl_expr_iter_next(hi);
                if (!w || !h) {
                        match = !w && !h;
                        break;
                }
                match = expr_matches(w, h, ret_anon);
        }
        if (wi)
                nftnl_expr_iter_destroy(wi);
        if (hi)
                nftnl_expr_iter_destroy(hi);
        return match;
}

static int anon_elem_cb(const struct nlmsghdr *nlh, void *data)
{
        if (nftnl_set_elems_nlmsg_parse(nlh, data) < 0) {
                errno = EBADMSG;
                return MNL_CB_ERROR;
        }
        return MNL_CB_OK;
}

/* The anonymous set bound to a rule must be { ::, fe80::/10 } exactly. */
static int anon_set_matches(struct nft *n, const struct ruleset_state *s, const char *name)
{
        struct nftnl_set *set = nftnl_set_list_lookup_byname(s->sets, name);
        if (!set ||
            nftnl_set_get_u32(set, NFTNL_SET_FLAGS) !=
                (NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL) ||
            nftnl_set_get_u32(set, NFTNL_SET_KEY_LEN) != 16)
                return false;

        _cleanup_(nftnl_set_freep) struct nftnl_set *elems = set_new(&n->layout, name);
        _cleanup_free_ void *req = calloc(1, MNL_SOCKET_BUFFER_SIZE);
        if (!elems || !req)
                return -ENOMEM;
        struct nlmsghdr *nlh = request_hdr(n, req, NFT_MSG_GETSETELEM, NLM_F_DUMP);
        nftnl_set_elems_nlmsg_build_payload(nlh, elems);
        struct obj_dump d = {anon_elem_cb, elems};
        int r = nft_dump(n, nlh, obj_dump_datagram, &d);
        if (r == -ENOENT || r == -EINTR)
                return false;
        if (r < 0)
                return r;

        bool found[ELEMENTSOF(v6_exempt_elems)] = {0};
        size_t count = 0;
        struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(elems);
        if (!it)
                return -ENOMEM;
        bool match = true;
        for (struct nftnl_set_elem *e = nftnl_set_elems_iter_next(it); e && match;
             e = nftnl_set_elems_iter_next(it)) {
                uint32_t len = 0;
                const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
                uint32_t flags = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)
                                     ? nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS)
                                     : 0;
                match = false;
                for (size_t i = 0; i < ELEMENTSOF(v6_exempt_elems); i++)
                        if (!found[i] && key && len == 16 && memcmp(key, v6_exempt_elems[i].key, 16) == 0 &&
                            (flags & NFT_SET_ELEM_INTERVAL_END) == v6_exempt_elems[i].flags) {
                                found[i] = true;
                                match = true;
                                break;
                        }
                count++;
        }
        nftnl_set_elems_iter_destroy(it);
        return match && count == ELEMENTSOF(v6_exempt_elems);
}

/* Whether the chain holds exactly the expected rules. Returns 1 or 0, or
 * -errno. */
static int chain_rules_match(struct nft *n, const struct ruleset_state *s, enum nft_chain_id id)
{
        enum rule_kind kinds[NFT_RULES_MAX];
        size_t n_kinds = chain_rule_kinds(&n->layout, id, kinds);
        const char *anon[NFT_RULES_MAX] = {0};
        size_t i = 0;
        int match = 1;

        if (s->foreign_rules[id])
                return 0;
        struct nftnl_rule_list_iter *it = nftnl_rule_list_iter_create(s->rules[id]);
        if (!it)
                return -ENOMEM;
        for (struct nftnl_rule *have = nftnl_rule_list_iter_next(it); have && match > 0;
             have = nftnl_rule_list_iter_next(it), i++) {
                _cleanup_(nftnl_rule_freep) struct nftnl_rule *want = NULL;
                if (i >= n_kinds) {
                        match = 0;
                        break;
                }
                int r = rule_new(&n->layout, id, kinds[i], 0, &want);
                if (r < 0)
                        match = r;
                else
                        match = rule_matches(want, have, &anon[i]);
        }
        nftnl_rule_list_iter_destroy(it);
        if (match <= 0)
                return match;
        if (i != n_kinds)
                return 0;

        for (i = 0; i < n_kinds; i++) {
                if (!rule_needs_anon_set(kinds[i]))
                        continue;
                if (!anon[i])
                        return 0;
                int r = anon_set_matches(n, s, anon[i]);
                if (r <= 0)
                        return r;
        }
        return 1;
}

struct ruleset_plan {
        bool table;
        bool set_create[_NFT_SET_MAX];
        bool set_recreate[_NFT_SET_MAX];
        enum chain_verdict chain[_NFT_CHAIN_MAX];
        bool rules[_NFT_CHAIN_MAX]; /* rewrite the rules */
        bool any;
};

static int ruleset_plan(struct nft *n, const struct ruleset_state *s, struct ruleset_plan *p)
{
        bool any_set_recreated = false;

        *p = (struct ruleset_plan){0};
        p->table = !s->table_exists || (s->table_flags & NFT_TABLE_F_DORMANT);

        for (int i = 0; i < _NFT_SET_MAX; i++) {
                struct nftnl_set *set = nftnl_set_list_lookup_byname(s->sets, set_descs[i].name);
                if (!set)
                        p->set_create[i] = true;
                else if (!set_matches(set, i)) {
                        p->set_recreate[i] = true;
                        any_set_recreated = true;
                }
        }

        for (int i = 0; i < _NFT_CHAIN_MAX; i++) {
                p->chain[i] = chain_check(s->chains[i], i);
                if (p->chain[i] == CHAIN_MISSING || p->chain[i] == CHAIN_RECREATE || any_set_recreated) {
                        /* A set in use cannot go: its rules go first. */
                        p->rules[i] = true;
                        continue;
                }
                int r = chain_rules_match(n, s, i);
                if (r < 0)
                        return r;
                p->rules[i] = r == 0;
        }

        p->any = p->table;
        for (int i = 0; i < _NFT_SET_MAX; i++)
                p->any = p->any || p->set_create[i] || p->set_recreate[i];
        for (int i = 0; i < _NFT_CHAIN_MAX; i++)
                p->any = p->any || p->chain[i] != CHAIN_OK || p->rules[i];
        return 0;
}

/* Order matters: rules go before the sets they use, sets come before the
 * rules that use them, a chain before its rules. */
static int ruleset_build(struct nft_batch *b, const struct nft_layout *l, const struct ruleset_plan *p)
{
        int r = nft_build_table(b, l, NFT_MSG_NEWTABLE);
        if (r < 0)
                return r;

        for (int i = 0; i < _NFT_CHAIN_MAX && r >= 0; i++)
                if (p->chain[i] == CHAIN_RECREATE)
                        r = build_chain_del(b, l, i);
                else if (p->chain[i] != CHAIN_MISSING && p->rules[i])
                        r = build_chain_flush(b, l, i);
        for (int i = 0; i < _NFT_SET_MAX && r >= 0; i++)
                if (p->set_recreate[i])
                        r = build_set_del(b, l, set_descs[i].name);
        for (int i = 0; i < _NFT_SET_MAX && r >= 0; i++)
                if (p->set_create[i] || p->set_recreate[i])
                        r = nft_build_set(b, l, i);
        for (int i = 0; i < _NFT_CHAIN_MAX && r >= 0; i++)
                if (p->chain[i] != CHAIN_OK)
                        r = nft_build_chain(b, l, i);
        for (int i = 0; i < _NFT_CHAIN_MAX && r >= 0; i++)
                if (p->rules[i])
                        r = nft_build_chain_rules(b, l, i);
        return r;
}

static int ruleset_look(struct nft *n, struct ruleset_plan *ret)
{
        _cleanup_(ruleset_state_done) struct ruleset_state s = {0};
        int r = ruleset_state_load(n, &s);
        if (r < 0)
                return r;
        return ruleset_plan(n, &s, ret);
}

int nft_ensure_ruleset(struct nft *n)
{
        _cleanup_(nft_batch_done) struct nft_batch b = {0};
        struct ruleset_plan plan = {0};
        int r = -EINTR;

        /* A dump that someone else's change interrupted is taken again. */
        for (int attempt = 0; attempt < DUMP_RETRIES && r == -EINTR; attempt++)
                r = ruleset_look(n, &plan);
        if (r < 0)
                return r;
        if (!plan.any)
                return 0;

        r = batch_start(n, &b);
        if (r < 0)
                return r;
        r = ruleset_build(&b, &n->layout, &plan);
        if (r < 0)
                return r;
        r = run_batch(n, &b);
        return r < 0 ? r : 1;
}

/* --- sysctl ------------------------------------------------------------------- */

static int sysctl_ensure_one(const char *path)
{
        char buf[32];
        ssize_t len;

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        len = read(fd, buf, sizeof(buf) - 1);
        if (len < 0)
                return -errno;
        buf[len] = '\0';
        if (strcmp(buf, "1\n") == 0 || strcmp(buf, "1") == 0)
                return 0;

        _cleanup_close_ int wfd = open(path, O_WRONLY | O_CLOEXEC);
        if (wfd < 0)
                return -errno;
        len = write(wfd, "1\n", 2);
        if (len < 0)
                return -errno;
        return len == 2 ? 1 : -EIO;
}

int sysctl_apply_forwarding(const struct config *c, const char **ret_failed_path)
{
        static const char ipv4[] = "/proc/sys/net/ipv4/ip_forward";
        static const char ipv6[] = "/proc/sys/net/ipv6/conf/all/forwarding";
        int r;

        if (c->forward_ipv4) {
                r = sysctl_ensure_one(ipv4);
                if (r < 0) {
                        if (ret_failed_path)
                                *ret_failed_path = ipv4;
                        return r;
                }
        }
        if (c->forward_ipv6) {
                r = sysctl_ensure_one(ipv6);
                if (r < 0) {
                        if (ret_failed_path)
                                *ret_failed_path = ipv6;
                        return r;
                }
        }
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* The pure half of the nftables module: the table, sets, chains, rules and
 * elements of docs/DESIGN.md ("The nftables layout") built into libnftnl
 * batches, and the per-slot element families. Nothing here touches a
 * socket; nft.c sends what these build. The expressions mirror what nft
 * 1.0.6 generates for the layout's ruleset (`nft --debug=netlink`), so
 * `nft list ruleset` prints it back. */

#include <arpa/inet.h>
#include <string.h>

#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "macro.h"
#include "nft-internal.h"
#include "slot.h"

/* nft's own datatype numbers (nftables src/datatype.h), stored as the
 * sets' key types; concatenations shift earlier fields by 6 bits. */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8
#define NFT_TYPE_IFNAME 41
#define NFT_TYPE_INET_PROTO 12
#define NFT_TYPE_INET_SERVICE 13
#define NFT_TYPE_BITS 6
#define CONCAT2(a, b) ((a) << NFT_TYPE_BITS | (b))
#define CONCAT3(a, b, c) (CONCAT2(a, b) << NFT_TYPE_BITS | (c))
#define CONCAT4(a, b, c, d) (CONCAT3(a, b, c) << NFT_TYPE_BITS | (d))
#define INTERVAL_CONCAT (NFT_SET_INTERVAL | NFT_SET_CONCAT)

/* nft's set userdata values (nftables src/mnl.c, expression.h): the key's
 * byte order, and for a concatenation the "typeof" of a concat expression
 * without subexpressions. Without them nft prints the keys wrongly. */
#define NFT_UDATA_BYTEORDER_INVALID 0
#define NFT_UDATA_BYTEORDER_HOST_ENDIAN 1
#define NFT_UDATA_BYTEORDER_BIG_ENDIAN 2
#define NFT_UDATA_EXPR_PAYLOAD 7
#define NFT_UDATA_EXPR_CONCAT 13
#define NFT_UDATA_PAYLOAD_DESC 0
#define NFT_UDATA_PAYLOAD_TYPE 1
#define NFT_UDATA_PROTO_DESC_IP 12
#define NFT_UDATA_PROTO_DESC_IP6 13
#define NFT_UDATA_IPHDR_DADDR 12
#define NFT_UDATA_IP6HDR_SADDR 8
#define NFT_UDATA_IP6HDR_DADDR 9

#define NFT_SRCNAT_PRIORITY 100  /* "priority srcnat" */
#define NFT_DSTNAT_PRIORITY -100 /* "priority dstnat" */

/* One page holds a small batch; a message never exceeds the overrun
 * (NFT_ELEMS_PER_MSG elements of at most 44 bytes, or one rule). */
#define BATCH_PAGE_SIZE (32 * 1024)
#define BATCH_PAGE_OVERRUN (16 * 1024)

/* Plain hash sets but dropped_spoofed (set dropped_spoofed { type ifname;
 * size N; flags dynamic; counter; }) and the allow_* interval
 * concatenations. */
/* Designated initializers: clang's -Wmissing-field-initializers (the fuzz
 * build) refuses positional ones that leave fields out. */
#define SET_PLAIN(n, type, len, cat)                                               \
        {                                                                          \
                .name = (n), .key_type = (type), .key_len = (len), .concat = (cat) \
        }
#define SET_IFNAME(n)                                                         \
        {                                                                     \
                .name = (n), .key_type = NFT_TYPE_IFNAME, .key_len = IFNAMSIZ \
        }
#define SET_ALLOW(n, type, len, ...)                                               \
        {                                                                          \
                .name = (n), .key_type = (type), .key_len = (len), .concat = true, \
                .flags = INTERVAL_CONCAT, .fields = {                              \
                        __VA_ARGS__                                                \
                }                                                                  \
        }

/* The published-port maps: a concatenated key and data. */
#define SET_MAP(n, type, len, dtype, dlen)                                                               \
        {                                                                                                \
                .name = (n), .key_type = (type), .key_len = (len), .concat = true, .flags = NFT_SET_MAP, \
                .data_type = (dtype), .data_len = (dlen)                                                 \
        }

static const struct nft_set_desc set_descs[_NFT_SET_MAX] = {
    [NFT_SET_SLOTS_V4] = SET_PLAIN("slots_v4", NFT_TYPE_IPADDR, 4, false),
    [NFT_SET_SLOTS_V6] = SET_PLAIN("slots_v6", NFT_TYPE_IP6ADDR, 16, false),
    [NFT_SET_GUESTS_V4] =
        SET_PLAIN("guests_v4", NFT_TYPE_IFNAME << NFT_TYPE_BITS | NFT_TYPE_IPADDR, IFNAMSIZ + 4, true),
    [NFT_SET_GUESTS_V6] =
        SET_PLAIN("guests_v6", NFT_TYPE_IFNAME << NFT_TYPE_BITS | NFT_TYPE_IP6ADDR, IFNAMSIZ + 16, true),
    [NFT_SET_DROPPED_SPOOFED] = {.name = "dropped_spoofed",
                                 .key_type = NFT_TYPE_IFNAME,
                                 .key_len = IFNAMSIZ,
                                 .flags = NFT_SET_EVAL,
                                 .size = NFT_DROPPED_SPOOFED_SIZE,
                                 .counter = true},
    [NFT_SET_DROPPED_POLICY] = {.name = "dropped_policy",
                                .key_type = NFT_TYPE_IFNAME,
                                .key_len = IFNAMSIZ,
                                .flags = NFT_SET_EVAL,
                                .size = NFT_DROPPED_SPOOFED_SIZE,
                                .counter = true},
    [NFT_SET_EGRESS_NONE] = SET_IFNAME("egress_none"),
    [NFT_SET_EGRESS_HOST] = SET_IFNAME("egress_host"),
    [NFT_SET_EGRESS_PUBLIC] = SET_IFNAME("egress_public"),
    [NFT_SET_EGRESS_INTERNET] = SET_IFNAME("egress_internet"),
    [NFT_SET_ALLOW_V4] =
        SET_ALLOW("allow_v4", CONCAT2(NFT_TYPE_IFNAME, NFT_TYPE_IPADDR), IFNAMSIZ + 4, IFNAMSIZ, 4),
    [NFT_SET_ALLOW_PROTO_V4] =
        SET_ALLOW("allow_proto_v4", CONCAT3(NFT_TYPE_IFNAME, NFT_TYPE_IPADDR, NFT_TYPE_INET_PROTO),
                  IFNAMSIZ + 8, IFNAMSIZ, 4, 1),
    [NFT_SET_ALLOW_PORT_V4] =
        SET_ALLOW("allow_port_v4",
                  CONCAT4(NFT_TYPE_IFNAME, NFT_TYPE_IPADDR, NFT_TYPE_INET_PROTO, NFT_TYPE_INET_SERVICE),
                  IFNAMSIZ + 12, IFNAMSIZ, 4, 1, 2),
    [NFT_SET_ALLOW_V6] =
        SET_ALLOW("allow_v6", CONCAT2(NFT_TYPE_IFNAME, NFT_TYPE_IP6ADDR), IFNAMSIZ + 16, IFNAMSIZ, 16),
    [NFT_SET_ALLOW_PROTO_V6] =
        SET_ALLOW("allow_proto_v6", CONCAT3(NFT_TYPE_IFNAME, NFT_TYPE_IP6ADDR, NFT_TYPE_INET_PROTO),
                  IFNAMSIZ + 20, IFNAMSIZ, 16, 1),
    [NFT_SET_ALLOW_PORT_V6] =
        SET_ALLOW("allow_port_v6",
                  CONCAT4(NFT_TYPE_IFNAME, NFT_TYPE_IP6ADDR, NFT_TYPE_INET_PROTO, NFT_TYPE_INET_SERVICE),
                  IFNAMSIZ + 24, IFNAMSIZ, 16, 1, 2),
    [NFT_SET_PUBLISHED_V4] =
        SET_MAP("published_v4", CONCAT3(NFT_TYPE_IPADDR, NFT_TYPE_INET_PROTO, NFT_TYPE_INET_SERVICE), 12,
                CONCAT2(NFT_TYPE_IPADDR, NFT_TYPE_INET_SERVICE), 8),
    [NFT_SET_PUBLISHED_ANY_V4] =
        SET_MAP("published_any_v4", CONCAT2(NFT_TYPE_INET_PROTO, NFT_TYPE_INET_SERVICE), 8,
                CONCAT2(NFT_TYPE_IPADDR, NFT_TYPE_INET_SERVICE), 8),
    [NFT_SET_PUBLISHED_V6] =
        SET_MAP("published_v6", CONCAT3(NFT_TYPE_IP6ADDR, NFT_TYPE_INET_PROTO, NFT_TYPE_INET_SERVICE), 24,
                CONCAT2(NFT_TYPE_IP6ADDR, NFT_TYPE_INET_SERVICE), 20),
    [NFT_SET_PUBLISHED_ANY_V6] =
        SET_MAP("published_any_v6", CONCAT2(NFT_TYPE_INET_PROTO, NFT_TYPE_INET_SERVICE), 8,
                CONCAT2(NFT_TYPE_IP6ADDR, NFT_TYPE_INET_SERVICE), 20),
};

static const struct nft_chain_desc chain_descs[_NFT_CHAIN_MAX] = {
    [NFT_CHAIN_INPUT] = {"input", "filter", NF_INET_LOCAL_IN, 0},
    [NFT_CHAIN_FORWARD] = {"forward", "filter", NF_INET_FORWARD, 0},
    [NFT_CHAIN_POSTROUTING] = {"postrouting", "nat", NF_INET_POST_ROUTING, NFT_SRCNAT_PRIORITY},
    [NFT_CHAIN_PREROUTING] = {"prerouting", "nat", NF_INET_PRE_ROUTING, NFT_DSTNAT_PRIORITY},
    [NFT_CHAIN_OUTPUT] = {"output", "nat", NF_INET_LOCAL_OUT, NFT_DSTNAT_PRIORITY},
};

const struct nft_anon_elem nft_v6_exempt_elems[NFT_V6_EXEMPT_ELEMS] = {
    {{0}, 0},
    {{[15] = 1}, NFT_SET_ELEM_INTERVAL_END},
    {{0xfe, 0x80}, 0},
    {{0xfe, 0xc0}, NFT_SET_ELEM_INTERVAL_END},
};

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

const struct nft_set_desc *nft_set_desc(enum nft_set_id id)
{
        if ((unsigned)id >= _NFT_SET_MAX)
                return NULL;
        return &set_descs[id];
}

const struct nft_chain_desc *nft_chain_desc(enum nft_chain_id id)
{
        if ((unsigned)id >= _NFT_CHAIN_MAX)
                return NULL;
        return &chain_descs[id];
}

int nft_set_id_from_name(const char *name)
{
        for (int i = 0; i < _NFT_SET_MAX; i++)
                if (strcmp(set_descs[i].name, name) == 0)
                        return i;
        return -ENOENT;
}

int nft_chain_id_from_name(const char *name)
{
        for (int i = 0; i < _NFT_CHAIN_MAX; i++)
                if (strcmp(chain_descs[i].name, name) == 0)
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

        struct config_network nets[CONFIG_ISOLATE_MAX];
        size_t n_nets = config_isolate(c, nets);

        *ret = (struct nft_layout){
            .ipv4_prefix = c->ipv4_prefix,
            .ipv6_prefix = c->ipv6_prefix,
            .masquerade = c->masquerade,
        };
        int r = nft_egress_layout_init(ret);
        if (r < 0)
                return r;
        ret->n_isolate_v4 = nft_networks_to_intervals(nets, n_nets, AF_INET, ret->isolate_v4);
        ret->n_isolate_v6 = nft_networks_to_intervals(nets, n_nets, AF_INET6, ret->isolate_v6);
        for (size_t i = 0; i < n_nets; i++)
                if (nets[i].family == AF_INET && ret->n_isolate_nets_v4++ == 0)
                        ret->isolate_one_v4 = nets[i];
                else if (nets[i].family == AF_INET6 && ret->n_isolate_nets_v6++ == 0)
                        ret->isolate_one_v6 = nets[i];
        memcpy(ret->table, c->nft_table, table_len + 1);
        memcpy(ret->ifname_prefix, c->ifname_prefix, prefix_len + 1);
        return 0;
}

/* A network as the half-open range [start, end); *ret_top when it reaches
 * the top of the address space (no end). */
struct range {
        uint8_t start[16], end[16];
        bool top;
};

static void network_range(const struct config_network *net, size_t len, struct range *ret)
{
        *ret = (struct range){.top = true};
        memcpy(ret->start, &net->addr, len);
        memcpy(ret->end, &net->addr, len);
        for (size_t bit = net->prefix_len; bit < len * 8; bit++)
                ret->end[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
        /* end = last address + 1, unless that overflows */
        for (size_t i = len; i-- > 0;)
                if (++ret->end[i] != 0) {
                        ret->top = false;
                        break;
                }
}

static int cmp_range(const void *a, const void *b)
{
        return memcmp(((const struct range *)a)->start, ((const struct range *)b)->start, 16);
}

size_t nft_networks_to_intervals(const struct config_network *nets, size_t n, int family,
                                 struct nft_anon_elem ret[static NFT_ISOLATE_ELEMS_MAX])
{
        size_t len = family == AF_INET ? 4 : 16, n_ranges = 0, n_ret = 0;
        struct range ranges[CONFIG_ISOLATE_MAX];

        for (size_t i = 0; i < n && n_ranges < ELEMENTSOF(ranges); i++)
                if (nets[i].family == family)
                        network_range(&nets[i], len, &ranges[n_ranges++]);
        if (n_ranges == 0)
                return 0;
        qsort(ranges, n_ranges, sizeof(*ranges), cmp_range);

        /* Merge in place: a range that starts at or before the end of the
         * one before extends it. */
        size_t m = 0;
        for (size_t i = 1; i < n_ranges; i++) {
                struct range *last = &ranges[m];
                if (last->top || memcmp(ranges[i].start, last->end, len) <= 0) {
                        if (!last->top && (ranges[i].top || memcmp(ranges[i].end, last->end, len) > 0)) {
                                memcpy(last->end, ranges[i].end, len);
                                last->top = ranges[i].top;
                        }
                } else
                        ranges[++m] = ranges[i];
        }
        n_ranges = m + 1;

        static const uint8_t zero[16];
        if (memcmp(ranges[0].start, zero, len) != 0)
                ret[n_ret++] = (struct nft_anon_elem){.flags = NFT_SET_ELEM_INTERVAL_END};
        for (size_t i = 0; i < n_ranges; i++) {
                ret[n_ret] = (struct nft_anon_elem){0};
                memcpy(ret[n_ret++].key, ranges[i].start, len);
                if (ranges[i].top)
                        break;
                ret[n_ret] = (struct nft_anon_elem){.flags = NFT_SET_ELEM_INTERVAL_END};
                memcpy(ret[n_ret++].key, ranges[i].end, len);
        }
        return n_ret;
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
struct nlmsghdr *nft_batch_msg(struct nft_batch *b, uint16_t type, uint16_t flags)
{
        return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->pages), type, NFPROTO_INET, flags | NLM_F_ACK,
                                     b->seq);
}

int nft_batch_next(struct nft_batch *b)
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

        struct nlmsghdr *nlh = nft_batch_msg(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
        nftnl_table_nlmsg_build_payload(nlh, t);
        return nft_batch_next(b);
}

static int set_userdata(struct nftnl_set *s, const struct nft_set_desc *d)
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
                /* Addresses are big-endian; a name is a string, which nft
                 * marks as host byte order. */
                nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER,
                                    d->key_type == NFT_TYPE_IFNAME ? NFT_UDATA_BYTEORDER_HOST_ENDIAN
                                                                   : NFT_UDATA_BYTEORDER_BIG_ENDIAN);

        return nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u)) < 0
                   ? -ENOMEM
                   : 0;
}

struct nftnl_set *nft_set_new(const struct nft_layout *l, const char *name)
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
uint32_t nft_named_set_id(enum nft_set_id id)
{
        return (uint32_t)id + 1;
}

int nft_build_set(struct nft_batch *b, const struct nft_layout *l, enum nft_set_id id)
{
        if ((unsigned)id >= _NFT_SET_MAX)
                return -EINVAL;
        const struct nft_set_desc *d = &set_descs[id];

        _cleanup_(nftnl_set_freep) struct nftnl_set *s = nft_set_new(l, d->name);
        if (!s)
                return -ENOMEM;
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, d->flags);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, d->key_type);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, d->key_len);
        nftnl_set_set_u32(s, NFTNL_SET_ID, nft_named_set_id(id));
        if (d->flags & NFT_SET_MAP) {
                nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, d->data_type);
                nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, d->data_len);
        }
        if (d->fields[0]) {
                uint8_t fields[NFT_REG32_COUNT] = {0};
                size_t n = strnlen((const char *)d->fields, sizeof(d->fields));
                memcpy(fields, d->fields, n);
                if (nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fields, (uint32_t)n) < 0)
                        return -ENOMEM;
        }
        if (d->size > 0)
                nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, d->size);
        int r = set_userdata(s, d);
        if (r < 0)
                return r;
        if (d->counter) {
                /* Every element gets one, whether a rule or we add it. */
                struct nftnl_expr *counter = nftnl_expr_alloc("counter");
                if (!counter)
                        return -ENOMEM;
                nftnl_set_add_expr(s, counter);
        }

        struct nlmsghdr *nlh = nft_batch_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE);
        nftnl_set_nlmsg_build_payload(nlh, s);
        return nft_batch_next(b);
}

int nft_build_set_del(struct nft_batch *b, const struct nft_layout *l, const char *name)
{
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = nft_set_new(l, name);
        if (!s)
                return -ENOMEM;
        struct nlmsghdr *nlh = nft_batch_msg(b, NFT_MSG_DELSET, 0);
        nftnl_set_nlmsg_build_payload(nlh, s);
        return nft_batch_next(b);
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
        const struct nft_chain_desc *d = &chain_descs[id];

        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = chain_new(l, id);
        if (!c || nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, d->type) < 0)
                return -ENOMEM;
        nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, d->hook);
        nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, d->prio);
        nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);

        struct nlmsghdr *nlh = nft_batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
        nftnl_chain_nlmsg_build_payload(nlh, c);
        return nft_batch_next(b);
}

int nft_build_chain_del(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id)
{
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = chain_new(l, id);
        if (!c)
                return -ENOMEM;
        struct nlmsghdr *nlh = nft_batch_msg(b, NFT_MSG_DELCHAIN, 0);
        nftnl_chain_nlmsg_build_payload(nlh, c);
        return nft_batch_next(b);
}

/* DELRULE naming only the chain deletes all of its rules. */
int nft_build_chain_flush(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id)
{
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
        if (!r)
                return -ENOMEM;
        if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, l->table) < 0 ||
            nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain_descs[id].name) < 0)
                return -ENOMEM;
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
        struct nlmsghdr *nlh = nft_batch_msg(b, NFT_MSG_DELRULE, 0);
        nftnl_rule_nlmsg_build_payload(nlh, r);
        return nft_batch_next(b);
}

/* --- rules ---------------------------------------------------------------- */

/* An inet table sees both families: nft guards every network-header load
 * with `meta nfproto`. */
void nft_match_nfproto(struct rule_builder *rb, uint8_t nfproto)
{
        nft_put_expr(rb, nft_expr_meta(NFT_META_NFPROTO, NFT_REG_1));
        nft_put_expr(rb, nft_expr_cmp_eq(NFT_REG_1, &nfproto, sizeof(nfproto)));
}

/* iifname "<prefix>*": a comparison of the prefix's bytes only. */
void nft_match_ifname_prefix(struct rule_builder *rb, const struct nft_layout *l)
{
        nft_put_expr(rb, nft_expr_meta(NFT_META_IIFNAME, NFT_REG_1));
        nft_put_expr(rb, nft_expr_cmp_eq(NFT_REG_1, l->ifname_prefix, strlen(l->ifname_prefix)));
}

/* iifname . ip[6] saddr != @guests_v[46]: the name fills NFT_REG_1 (16
 * bytes), the address follows in NFT_REG_2. */
static void match_not_guest(struct rule_builder *rb, bool ipv6)
{
        enum nft_set_id set = ipv6 ? NFT_SET_GUESTS_V6 : NFT_SET_GUESTS_V4;
        nft_put_expr(rb, nft_expr_meta(NFT_META_IIFNAME, NFT_REG_1));
        nft_put_expr(rb, ipv6 ? nft_expr_payload_nh(NFT_REG_2, IP6_SADDR, 16)
                              : nft_expr_payload_nh(NFT_REG_2, IP_SADDR, 4));
        nft_put_expr(rb, nft_expr_lookup(NFT_REG_1, set_descs[set].name, nft_named_set_id(set), true));
}

/* update @dropped_spoofed { iifname }: the lookup before it used the
 * registers, so the name is loaded again (as nft does). No rule per slot:
 * the set keeps one counter per interface (docs/DESIGN.md, "Counters"). */
void nft_count_drop(struct rule_builder *rb, enum nft_set_id set)
{
        nft_put_expr(rb, nft_expr_meta(NFT_META_IIFNAME, NFT_REG_1));
        nft_put_expr(rb, nft_expr_dynset_update(NFT_REG_1, set_descs[set].name, nft_named_set_id(set)));
}

static void count_spoofed(struct rule_builder *rb)
{
        nft_count_drop(rb, NFT_SET_DROPPED_SPOOFED);
}

/* ip6 saddr != { ::, fe80::/10 } */
static void match_v6_not_exempt(struct rule_builder *rb, uint32_t anon_id)
{
        nft_put_expr(rb, nft_expr_payload_nh(NFT_REG_1, IP6_SADDR, 16));
        nft_put_expr(rb, nft_expr_lookup(NFT_REG_1, ANON_SET_NAME, anon_id, true));
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
        nft_put_expr(rb, nft_expr_payload_nh(NFT_REG_1, offset, len));
        nft_put_expr(rb, nft_expr_mask(NFT_REG_1, mask, len));
        nft_put_expr(rb, nft_expr_lookup(NFT_REG_1, set_descs[set].name, nft_named_set_id(set), invert));
}

/* ip[6] daddr <network>, as nft matches a prefix: the whole bytes of a
 * byte-aligned prefix compared, else the address masked and compared. */
static void match_daddr_network(struct rule_builder *rb, const struct config_network *net)
{
        bool ipv6 = net->family == AF_INET6;
        uint32_t len = ipv6 ? 16 : 4, offset = ipv6 ? IP6_DADDR : IP_DADDR;
        uint8_t mask[16];

        if (net->prefix_len > 0 && net->prefix_len % 8 == 0) {
                nft_put_expr(rb, nft_expr_payload_nh(NFT_REG_1, offset, net->prefix_len / 8));
                nft_put_expr(rb, nft_expr_cmp_eq(NFT_REG_1, &net->addr, net->prefix_len / 8));
                return;
        }
        prefix_mask(net->prefix_len, mask, len);
        nft_put_expr(rb, nft_expr_payload_nh(NFT_REG_1, offset, len));
        nft_put_expr(rb, nft_expr_mask(NFT_REG_1, mask, len));
        nft_put_expr(rb, nft_expr_cmp_eq(NFT_REG_1, &net->addr, len));
}

/* The egress rules input and forward share: allow entries, replies, drop. */
static size_t egress_tail(enum nft_rule_kind ret[NFT_RULES_MAX], size_t n)
{
        for (enum nft_rule_kind k = NFT_RULE_EGRESS_ALLOW_V4; k <= NFT_RULE_EGRESS_DROP; k++)
                ret[n++] = k;
        return n;
}

size_t nft_chain_rule_kinds(const struct nft_layout *l, enum nft_chain_id id,
                            enum nft_rule_kind ret[NFT_RULES_MAX])
{
        size_t n = 0;
        switch (id) {
        case NFT_CHAIN_INPUT:
                ret[n++] = NFT_RULE_ANTISPOOF_V4;
                ret[n++] = NFT_RULE_ANTISPOOF_V6_HOST;
                ret[n++] = NFT_RULE_EGRESS_HOST;
                ret[n++] = NFT_RULE_EGRESS_ND;
                n = egress_tail(ret, n);
                break;
        case NFT_CHAIN_FORWARD:
                ret[n++] = NFT_RULE_ANTISPOOF_V4;
                ret[n++] = NFT_RULE_ANTISPOOF_V6;
                ret[n++] = NFT_RULE_ISOLATE_V4;
                ret[n++] = NFT_RULE_ISOLATE_V6;
                if (l->n_isolate_v4 > 0)
                        ret[n++] = NFT_RULE_ISOLATE_DST_V4;
                if (l->n_isolate_v6 > 0)
                        ret[n++] = NFT_RULE_ISOLATE_DST_V6;
                ret[n++] = NFT_RULE_EGRESS_INTERNET;
                ret[n++] = NFT_RULE_EGRESS_PUBLIC_V4;
                ret[n++] = NFT_RULE_EGRESS_PUBLIC_V6;
                n = egress_tail(ret, n);
                break;
        case NFT_CHAIN_POSTROUTING:
                if (l->masquerade)
                        ret[n++] = NFT_RULE_MASQUERADE;
                break;
        case NFT_CHAIN_PREROUTING:
        case NFT_CHAIN_OUTPUT:
                for (enum nft_rule_kind k = NFT_RULE_PUBLISH_V4; k <= NFT_RULE_PUBLISH_ANY_V6; k++)
                        ret[n++] = k;
                break;
        default:
                break;
        }
        return n;
}

int nft_rule_new(const struct nft_layout *l, enum nft_chain_id chain, enum nft_rule_kind kind,
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
        case NFT_RULE_ANTISPOOF_V4:
                nft_match_ifname_prefix(&rb, l);
                nft_match_nfproto(&rb, NFPROTO_IPV4);
                match_not_guest(&rb, false);
                count_spoofed(&rb);
                nft_put_expr(&rb, nft_expr_verdict(NF_DROP));
                break;
        case NFT_RULE_ANTISPOOF_V6_HOST:
                nft_match_ifname_prefix(&rb, l);
                nft_match_nfproto(&rb, NFPROTO_IPV6);
                match_v6_not_exempt(&rb, anon_id);
                match_not_guest(&rb, true);
                count_spoofed(&rb);
                nft_put_expr(&rb, nft_expr_verdict(NF_DROP));
                break;
        case NFT_RULE_ANTISPOOF_V6:
                nft_match_ifname_prefix(&rb, l);
                nft_match_nfproto(&rb, NFPROTO_IPV6);
                match_not_guest(&rb, true);
                count_spoofed(&rb);
                nft_put_expr(&rb, nft_expr_verdict(NF_DROP));
                break;
        case NFT_RULE_ISOLATE_V4:
        case NFT_RULE_ISOLATE_V6: {
                bool ipv6 = kind == NFT_RULE_ISOLATE_V6;
                nft_match_nfproto(&rb, ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
                match_subnet(&rb, l, ipv6, false, false);
                match_subnet(&rb, l, ipv6, true, false);
                nft_put_expr(&rb, nft_expr_verdict(NF_DROP));
                break;
        }
        case NFT_RULE_ISOLATE_DST_V4:
        case NFT_RULE_ISOLATE_DST_V6: {
                bool ipv6 = kind == NFT_RULE_ISOLATE_DST_V6;
                nft_match_ifname_prefix(&rb, l);
                nft_match_nfproto(&rb, ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
                if (nft_rule_needs_anon_set(l, kind)) {
                        nft_put_expr(&rb, ipv6 ? nft_expr_payload_nh(NFT_REG_1, IP6_DADDR, 16)
                                               : nft_expr_payload_nh(NFT_REG_1, IP_DADDR, 4));
                        nft_put_expr(&rb, nft_expr_lookup(NFT_REG_1, ANON_SET_NAME, anon_id, false));
                } else
                        match_daddr_network(&rb, ipv6 ? &l->isolate_one_v6 : &l->isolate_one_v4);
                nft_put_expr(&rb, nft_expr_verdict(NF_DROP));
                break;
        }
        case NFT_RULE_PUBLISH_V4:
        case NFT_RULE_PUBLISH_ANY_V4:
        case NFT_RULE_PUBLISH_V6:
        case NFT_RULE_PUBLISH_ANY_V6:
                nft_publish_rule(&rb, kind);
                break;
        default:
                nft_egress_rule(&rb, l, kind, anon_id);
                break;
        case NFT_RULE_MASQUERADE:
                nft_match_nfproto(&rb, NFPROTO_IPV4);
                match_subnet(&rb, l, false, false, false);
                match_subnet(&rb, l, false, true, true);
                nft_put_expr(&rb, nftnl_expr_alloc("masq"));
                break;
        }
        if (rb.oom)
                return -ENOMEM;
        *ret = TAKE_PTR(r);
        return 0;
}

bool nft_rule_needs_anon_set(const struct nft_layout *l, enum nft_rule_kind kind)
{
        return kind == NFT_RULE_ANTISPOOF_V6_HOST || kind == NFT_RULE_EGRESS_PUBLIC_V4 ||
               kind == NFT_RULE_EGRESS_PUBLIC_V6 ||
               (kind == NFT_RULE_ISOLATE_DST_V4 && l->n_isolate_nets_v4 > 1) ||
               (kind == NFT_RULE_ISOLATE_DST_V6 && l->n_isolate_nets_v6 > 1);
}

size_t nft_rule_anon_elems(const struct nft_layout *l, enum nft_rule_kind kind,
                           const struct nft_anon_elem **ret, uint32_t *ret_key_len)
{
        switch (kind) {
        case NFT_RULE_ANTISPOOF_V6_HOST:
                *ret = nft_v6_exempt_elems;
                *ret_key_len = 16;
                return ELEMENTSOF(nft_v6_exempt_elems);
        case NFT_RULE_ISOLATE_DST_V4:
                *ret = l->isolate_v4;
                *ret_key_len = 4;
                return l->n_isolate_v4;
        case NFT_RULE_ISOLATE_DST_V6:
                *ret = l->isolate_v6;
                *ret_key_len = 16;
                return l->n_isolate_v6;
        case NFT_RULE_EGRESS_PUBLIC_V4:
                *ret = l->deny_v4;
                *ret_key_len = 4;
                return l->n_deny_v4;
        case NFT_RULE_EGRESS_PUBLIC_V6:
                *ret = l->deny_v6;
                *ret_key_len = 16;
                return l->n_deny_v6;
        default:
                *ret = NULL;
                *ret_key_len = 0;
                return 0;
        }
}

/* The anonymous constant interval set of a rule ({ ::, fe80::/10 }, the
 * isolate networks), created in the batch of the rule that uses it and
 * bound to that rule. */
static int build_anon_set(struct nft_batch *b, const struct nft_layout *l, enum nft_rule_kind kind,
                          uint32_t anon_id)
{
        const struct nft_anon_elem *elems;
        uint32_t key_len;
        size_t n_elems = nft_rule_anon_elems(l, kind, &elems, &key_len);
        bool v4 = key_len == 4;

        _cleanup_(nftnl_set_freep) struct nftnl_set *s = nft_set_new(l, ANON_SET_NAME);
        _cleanup_(nftnl_udata_buf_freep) struct nftnl_udata_buf *u =
            nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
        if (!s || !u)
                return -ENOMEM;
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, v4 ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, key_len);
        nftnl_set_set_u32(s, NFTNL_SET_ID, anon_id);
        nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, (uint32_t)n_elems);

        nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_UDATA_BYTEORDER_BIG_ENDIAN);
        nftnl_udata_put_u32(u, NFTNL_UDATA_SET_MERGE_ELEMENTS, 1);
        struct nftnl_udata *key = nftnl_udata_nest_start(u, NFTNL_UDATA_SET_KEY_TYPEOF);
        nftnl_udata_put_u32(u, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_UDATA_EXPR_PAYLOAD);
        struct nftnl_udata *data = nftnl_udata_nest_start(u, NFTNL_UDATA_SET_TYPEOF_DATA);
        nftnl_udata_put_u32(u, NFT_UDATA_PAYLOAD_DESC,
                            v4 ? NFT_UDATA_PROTO_DESC_IP : NFT_UDATA_PROTO_DESC_IP6);
        nftnl_udata_put_u32(u, NFT_UDATA_PAYLOAD_TYPE,
                            kind == NFT_RULE_ANTISPOOF_V6_HOST ? NFT_UDATA_IP6HDR_SADDR
                            : v4                               ? NFT_UDATA_IPHDR_DADDR
                                                               : NFT_UDATA_IP6HDR_DADDR);
        nftnl_udata_nest_end(u, data);
        nftnl_udata_nest_end(u, key);
        if (nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u)) < 0)
                return -ENOMEM;

        struct nlmsghdr *nlh = nft_batch_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE);
        nftnl_set_nlmsg_build_payload(nlh, s);
        int r = nft_batch_next(b);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n_elems; i++) {
                _cleanup_(nftnl_set_elem_freep) struct nftnl_set_elem *e = nftnl_set_elem_alloc();
                if (!e || nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, elems[i].key, key_len) < 0)
                        return -ENOMEM;
                if (elems[i].flags)
                        nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, elems[i].flags);
                nftnl_set_elem_add(s, TAKE_PTR(e));
        }
        nlh = nft_batch_msg(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE);
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        return nft_batch_next(b);
}

int nft_build_chain_rules(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id)
{
        enum nft_rule_kind kinds[NFT_RULES_MAX];

        if ((unsigned)id >= _NFT_CHAIN_MAX)
                return -EINVAL;
        size_t n = nft_chain_rule_kinds(l, id, kinds);
        for (size_t i = 0; i < n; i++) {
                uint32_t anon_id = 0;
                int r;

                if (nft_rule_needs_anon_set(l, kinds[i])) {
                        /* Past the named sets' ids. */
                        anon_id = _NFT_SET_MAX + b->next_set_id++;
                        r = build_anon_set(b, l, kinds[i], anon_id);
                        if (r < 0)
                                return r;
                }
                _cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
                r = nft_rule_new(l, id, kinds[i], anon_id, &rule);
                if (r < 0)
                        return r;
                struct nlmsghdr *nlh = nft_batch_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
                nftnl_rule_nlmsg_build_payload(nlh, rule);
                r = nft_batch_next(b);
                if (r < 0)
                        return r;
        }
        return 0;
}

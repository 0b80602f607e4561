/* SPDX-License-Identifier: MIT */
/* The element-dump parsers: what the kernel answers to NFT_MSG_GETSETELEM
 * for our sets, turned back into struct nft_elem, and for dropped_spoofed
 * into struct nft_counter. Pure (a buffer in, elements out), so
 * tests/fuzz/fuzz-nft.c feeds them arbitrary bytes. */

#include <arpa/inet.h>
#include <endian.h>
#include <limits.h>
#include <string.h>

#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "macro.h"
#include "nft-internal.h"

int nft_attr_table_cb(const struct nlattr *attr, void *data)
{
        const struct nft_attr_table *t = data;
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
    [NFTA_SET_ELEM_KEY] = MNL_TYPE_NESTED,         [NFTA_SET_ELEM_FLAGS] = MNL_TYPE_U32,
    [NFTA_SET_ELEM_KEY_END] = MNL_TYPE_NESTED,     [NFTA_SET_ELEM_EXPR] = MNL_TYPE_NESTED,
    [NFTA_SET_ELEM_EXPRESSIONS] = MNL_TYPE_NESTED, [NFTA_SET_ELEM_DATA] = MNL_TYPE_NESTED,
};

static const enum mnl_attr_data_type data_types[NFTA_DATA_MAX + 1] = {
    [NFTA_DATA_VALUE] = MNL_TYPE_BINARY,
};

static const enum mnl_attr_data_type expr_types[NFTA_EXPR_MAX + 1] = {
    [NFTA_EXPR_NAME] = MNL_TYPE_NUL_STRING,
    [NFTA_EXPR_DATA] = MNL_TYPE_NESTED,
};

static const enum mnl_attr_data_type counter_types[NFTA_COUNTER_MAX + 1] = {
    [NFTA_COUNTER_BYTES] = MNL_TYPE_U64,
    [NFTA_COUNTER_PACKETS] = MNL_TYPE_U64,
};

static int elem_list_append(struct nft_elem_list *l, const struct nft_elem *e)
{
        int r = GREEDY_REALLOC(l->elems, l->cap, l->n + 1);
        if (r < 0)
                return r;
        l->elems[l->n++] = *e;
        return 0;
}

/* Fills *ret from a key of set; false when the key cannot be one of ours. */
static bool elem_from_key(enum nft_set_id set, const uint8_t *key, size_t len, struct nft_elem *ret)
{
        size_t name_len;

        if (len != nft_set_desc(set)->key_len)
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
        case NFT_SET_DROPPED_SPOOFED:
        case NFT_SET_DROPPED_POLICY:
                name_len = strnlen((const char *)key, IFNAMSIZ);
                if (name_len == 0 || name_len >= IFNAMSIZ)
                        return false;
                memcpy(ret->ifname, key, name_len);
                if (set == NFT_SET_DROPPED_SPOOFED || set == NFT_SET_DROPPED_POLICY)
                        return true;
                if (set == NFT_SET_GUESTS_V4)
                        memcpy(&ret->addr.v4, key + IFNAMSIZ, 4);
                else
                        memcpy(&ret->addr.v6, key + IFNAMSIZ, 16);
                return true;
        default:
                return false;
        }
}

/* The value of a NFTA_DATA_VALUE nest: NULL (with *len 0) when absent,
 * -EBADMSG when malformed. */
static int data_value(const struct nlattr *nest, const uint8_t **ret, size_t *len)
{
        const struct nlattr *dtb[NFTA_DATA_MAX + 1] = {0};
        struct nft_attr_table dt = {dtb, NFTA_DATA_MAX, data_types};

        *ret = NULL;
        *len = 0;
        if (!nest)
                return 0;
        if (mnl_attr_parse_nested(nest, nft_attr_table_cb, &dt) < 0 || !dtb[NFTA_DATA_VALUE])
                return -EBADMSG;
        *ret = mnl_attr_get_payload(dtb[NFTA_DATA_VALUE]);
        *len = mnl_attr_get_payload_len(dtb[NFTA_DATA_VALUE]);
        return 0;
}

/* What each parser does with one element: its attributes (etb) and, when
 * its key can be one of ours, the element. */
typedef int (*elem_visit_fn)(const struct nlattr **etb, const struct nft_elem *e, void *data);

static int parse_elem(enum nft_set_id set, const struct nlattr *attr, elem_visit_fn visit, void *data)
{
        const struct nlattr *etb[NFTA_SET_ELEM_MAX + 1] = {0};
        struct nft_attr_table et = {etb, NFTA_SET_ELEM_MAX, elem_types};
        const uint8_t *key, *key_end, *value;
        size_t len, end_len, value_len;
        struct nft_elem e;

        if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0 ||
            mnl_attr_parse_nested(attr, nft_attr_table_cb, &et) < 0)
                return -EBADMSG;
        /* An interval end or a catch-all element has no key of ours. */
        if (etb[NFTA_SET_ELEM_FLAGS] &&
            (ntohl(mnl_attr_get_u32(etb[NFTA_SET_ELEM_FLAGS])) & NFT_SET_ELEM_INTERVAL_END))
                return 0;
        if (!etb[NFTA_SET_ELEM_KEY])
                return 0;
        if (data_value(etb[NFTA_SET_ELEM_KEY], &key, &len) < 0 ||
            data_value(etb[NFTA_SET_ELEM_KEY_END], &key_end, &end_len) < 0 ||
            data_value(etb[NFTA_SET_ELEM_DATA], &value, &value_len) < 0)
                return -EBADMSG;
        if (key_end && end_len != len)
                return 0;
        if (nft_publish_set(set) ? !nft_publish_elem_from_key(set, key, len, value, value_len, &e)
            : nft_egress_set(set) ? !nft_egress_elem_from_key(set, key, key_end, len, &e)
                                  : !elem_from_key(set, key, len, &e))
                return 0;
        return visit(etb, &e, data);
}

/* want_set: the one set the dump may hold, -1 for any of ours, or
 * NFT_ELEM_DUMP_DROPPED for either dropped_* set. */
#define NFT_ELEM_DUMP_DROPPED (-2)
static int parse_elem_msg(const struct nlmsghdr *nlh, int want_set, elem_visit_fn visit, void *data)
{
        const struct nlattr *tb[NFTA_SET_ELEM_LIST_MAX + 1] = {0};
        struct nft_attr_table t = {tb, NFTA_SET_ELEM_LIST_MAX, elem_list_types};
        const struct nlattr *attr;
        int set, r;

        if (nlh->nlmsg_type != (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM))
                return -EBADMSG;
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
                return -EBADMSG;
        if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), nft_attr_table_cb, &t) < 0)
                return -EBADMSG;
        if (!tb[NFTA_SET_ELEM_LIST_SET])
                return -EBADMSG;
        set = nft_set_id_from_name(mnl_attr_get_str(tb[NFTA_SET_ELEM_LIST_SET]));
        if (set < 0 || (want_set >= 0 && set != want_set) ||
            (want_set == NFT_ELEM_DUMP_DROPPED && set != NFT_SET_DROPPED_SPOOFED &&
             set != NFT_SET_DROPPED_POLICY))
                return -EBADMSG;
        if (!tb[NFTA_SET_ELEM_LIST_ELEMENTS])
                return 0;

        mnl_attr_for_each_nested(attr, tb[NFTA_SET_ELEM_LIST_ELEMENTS])
        {
                r = parse_elem(set, attr, visit, data);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int append_elem(const struct nlattr **etb, const struct nft_elem *e, void *data)
{
        return elem_list_append(data, e);
}

/* One dump's parse: which set it must be (-1: any of ours) and what each
 * element becomes. */
struct elem_dump {
        int want_set;
        elem_visit_fn visit;
        void *data;
};

static int elem_msg_cb(const struct nlmsghdr *nlh, void *data)
{
        const struct elem_dump *d = data;
        int r = parse_elem_msg(nlh, d->want_set, d->visit, d->data);
        if (r < 0) {
                errno = -r;
                return MNL_CB_ERROR;
        }
        return MNL_CB_OK;
}

bool nft_nlmsgs_well_formed(const void *buf, size_t len)
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

static int parse_dump(const void *buf, size_t len, uint32_t seq, uint32_t portid, struct elem_dump *d)
{
        if (len > INT_MAX || !nft_nlmsgs_well_formed(buf, len))
                return -EBADMSG;
        errno = 0;
        int r = mnl_cb_run(buf, len, seq, portid, elem_msg_cb, d);
        if (r == MNL_CB_ERROR)
                return negative_errno();
        return r == MNL_CB_STOP ? 0 : 1;
}

int nft_parse_elem_dump(const void *buf, size_t len, uint32_t seq, uint32_t portid, struct nft_elem_list *l)
{
        struct elem_dump d = {-1, append_elem, l};
        return parse_dump(buf, len, seq, portid, &d);
}

/* --- counters ------------------------------------------------------------- */

/* One expression: when it is a counter, its values go to c. */
static int parse_counter_expr(const struct nlattr *attr, struct nft_counter *c)
{
        const struct nlattr *xtb[NFTA_EXPR_MAX + 1] = {0};
        const struct nlattr *ctb[NFTA_COUNTER_MAX + 1] = {0};
        struct nft_attr_table xt = {xtb, NFTA_EXPR_MAX, expr_types};
        struct nft_attr_table ct = {ctb, NFTA_COUNTER_MAX, counter_types};

        if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0 ||
            mnl_attr_parse_nested(attr, nft_attr_table_cb, &xt) < 0 || !xtb[NFTA_EXPR_NAME])
                return -EBADMSG;
        if (strcmp(mnl_attr_get_str(xtb[NFTA_EXPR_NAME]), "counter") != 0 || !xtb[NFTA_EXPR_DATA])
                return 0;
        if (mnl_attr_parse_nested(xtb[NFTA_EXPR_DATA], nft_attr_table_cb, &ct) < 0 ||
            !ctb[NFTA_COUNTER_BYTES] || !ctb[NFTA_COUNTER_PACKETS])
                return -EBADMSG;
        c->bytes = be64toh(mnl_attr_get_u64(ctb[NFTA_COUNTER_BYTES]));
        c->packets = be64toh(mnl_attr_get_u64(ctb[NFTA_COUNTER_PACKETS]));
        return 0;
}

/* The kernel sends one expression as NFTA_SET_ELEM_EXPR, several as a
 * list in NFTA_SET_ELEM_EXPRESSIONS. */
static int append_counter(const struct nlattr **etb, const struct nft_elem *e, void *data)
{
        struct nft_counter_list *l = data;
        struct nft_counter c = {0};
        const struct nlattr *attr;
        int r = 0;

        memcpy(c.ifname, e->ifname, IFNAMSIZ);
        c.policy = e->set == NFT_SET_DROPPED_POLICY;
        if (etb[NFTA_SET_ELEM_EXPR])
                r = parse_counter_expr(etb[NFTA_SET_ELEM_EXPR], &c);
        if (r == 0 && etb[NFTA_SET_ELEM_EXPRESSIONS])
                mnl_attr_for_each_nested(attr, etb[NFTA_SET_ELEM_EXPRESSIONS])
                {
                        if (mnl_attr_get_type(attr) != NFTA_LIST_ELEM)
                                return -EBADMSG;
                        r = parse_counter_expr(attr, &c);
                        if (r < 0)
                                break;
                }
        if (r < 0)
                return r;
        r = GREEDY_REALLOC(l->items, l->cap, l->n + 1);
        if (r < 0)
                return r;
        l->items[l->n++] = c;
        return 0;
}

int nft_parse_counter_dump(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                           struct nft_counter_list *l)
{
        struct elem_dump d = {NFT_ELEM_DUMP_DROPPED, append_counter, l};
        return parse_dump(buf, len, seq, portid, &d);
}

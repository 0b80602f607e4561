/* SPDX-License-Identifier: MIT */
// MODULES: nft-build nft-expr nft-elems nft-parse nft-egress nft-publish publish egress slot config config-values
/* The nftables builders and the element-dump parser, without a socket:
 * every batch is built, then parsed back with libmnl and libnftnl. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <cmocka.h>

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

#include "config-values.h"
#include "config.h"
#include "macro.h"
#include "nft-internal.h"
#include "slot.h"

#define NFT_TYPE(msg) ((NFNL_SUBSYS_NFTABLES << 8) | (msg))

/* --- helpers ----------------------------------------------------------------- */

static void config_default(struct config *c)
{
        char *warning = NULL;
        assert_int_equal(config_init(c, &warning), 0);
        free(warning);
}

static void layout_of(const struct config *c, struct nft_layout *l)
{
        assert_int_equal(nft_layout_init(c, l), 0);
}

static void set_pool4(struct config *c, const char *pool, unsigned pool_prefix, unsigned prefix)
{
        assert_int_equal(inet_pton(AF_INET, pool, &c->ipv4_pool), 1);
        c->ipv4_pool_prefix = pool_prefix;
        c->ipv4_prefix = prefix;
}

static void set_pool6(struct config *c, const char *pool, unsigned pool_prefix, unsigned prefix)
{
        assert_int_equal(inet_pton(AF_INET6, pool, &c->ipv6_pool), 1);
        c->ipv6_pool_prefix = pool_prefix;
        c->ipv6_prefix = prefix;
}

/* A finished batch, flattened, and its messages. */
struct msgs {
        uint8_t *buf;
        size_t len;
        const struct nlmsghdr *m[4096];
        size_t n;
};

static struct msgs *batch_messages(struct nft_batch *b)
{
        struct msgs *m = calloc(1, sizeof(*m));
        assert_non_null(m);
        assert_int_equal(nft_batch_finish(b), 0);

        int iovlen = nftnl_batch_iovec_len(b->pages);
        struct iovec iov[iovlen];
        nftnl_batch_iovec(b->pages, iov, iovlen);
        for (int i = 0; i < iovlen; i++)
                m->len += iov[i].iov_len;
        m->buf = malloc(m->len);
        assert_non_null(m->buf);
        size_t off = 0;
        for (int i = 0; i < iovlen; i++) {
                memcpy(m->buf + off, iov[i].iov_base, iov[i].iov_len);
                off += iov[i].iov_len;
        }

        int rest = (int)m->len;
        for (const struct nlmsghdr *nlh = (const void *)m->buf; mnl_nlmsg_ok(nlh, rest);
             nlh = mnl_nlmsg_next(nlh, &rest)) {
                assert_true(m->n < ELEMENTSOF(m->m));
                m->m[m->n++] = nlh;
        }
        assert_int_equal(rest, 0);

        /* Framing: begin, b->n_msgs messages with acks and consecutive
         * sequence numbers, end. */
        assert_int_equal(m->n, b->n_msgs + 2);
        assert_int_equal(m->m[0]->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
        assert_int_equal(m->m[0]->nlmsg_seq, b->seq_begin);
        assert_int_equal(m->m[m->n - 1]->nlmsg_type, NFNL_MSG_BATCH_END);
        for (size_t i = 1; i + 1 < m->n; i++) {
                assert_int_equal(m->m[i]->nlmsg_seq, b->seq_begin + i);
                assert_true(m->m[i]->nlmsg_flags & NLM_F_ACK);
                assert_true(m->m[i]->nlmsg_flags & NLM_F_REQUEST);
                const struct nfgenmsg *g = mnl_nlmsg_get_payload(m->m[i]);
                assert_int_equal(g->nfgen_family, NFPROTO_INET);
        }
        return m;
}

static void msgs_free(struct msgs *m)
{
        free(m->buf);
        free(m);
}

static struct msgs *build(const struct nft_layout *l,
                          int (*fn)(struct nft_batch *, const struct nft_layout *, int), int arg)
{
        struct nft_batch b;
        assert_int_equal(nft_batch_start(&b, 1000), 0);
        assert_int_equal(fn(&b, l, arg), 0);
        struct msgs *m = batch_messages(&b);
        nft_batch_done(&b);
        return m;
}

static int build_chain_rules(struct nft_batch *b, const struct nft_layout *l, int id)
{
        return nft_build_chain_rules(b, l, id);
}

static int build_set(struct nft_batch *b, const struct nft_layout *l, int id)
{
        return nft_build_set(b, l, id);
}

static int build_chain(struct nft_batch *b, const struct nft_layout *l, int id)
{
        return nft_build_chain(b, l, id);
}

/* The rules among the messages, parsed. */
static size_t parse_rules(const struct msgs *m, struct nftnl_rule **ret, size_t max)
{
        size_t n = 0;
        for (size_t i = 1; i + 1 < m->n; i++) {
                if (m->m[i]->nlmsg_type != NFT_TYPE(NFT_MSG_NEWRULE))
                        continue;
                assert_true(n < max);
                ret[n] = nftnl_rule_alloc();
                assert_non_null(ret[n]);
                assert_int_equal(nftnl_rule_nlmsg_parse(m->m[i], ret[n]), 0);
                assert_true(m->m[i]->nlmsg_flags & NLM_F_APPEND);
                n++;
        }
        return n;
}

/* Collects attributes by type (all ours are below 17). */
static int attr_cb(const struct nlattr *attr, void *data)
{
        const struct nlattr **tb = data;
        unsigned type = mnl_attr_get_type(attr);
        if (type <= 16)
                tb[type] = attr;
        return MNL_CB_OK;
}

/* nft --debug=netlink's form of a rule: one "[ ... ]" line per expression. */
static void rule_text(const struct nftnl_rule *r, char *buf, size_t size)
{
        struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
        size_t off = 0;
        buf[0] = '\0';
        for (struct nftnl_expr *e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it)) {
                char line[512];
                nftnl_expr_snprintf(line, sizeof(line), e, NFTNL_OUTPUT_DEFAULT, 0);
                off += (size_t)snprintf(buf + off, size - off, "  [ %s %s]\n",
                                        nftnl_expr_get_str(e, NFTNL_EXPR_NAME), line);
                assert_true(off < size);
        }
        nftnl_expr_iter_destroy(it);
}

static struct nftnl_expr *rule_expr(const struct nftnl_rule *r, const char *name, unsigned nth)
{
        struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
        struct nftnl_expr *found = NULL;
        for (struct nftnl_expr *e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it))
                if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), name) == 0 && nth-- == 0) {
                        found = e;
                        break;
                }
        nftnl_expr_iter_destroy(it);
        return found;
}

/* --- the rules, against what nft 1.0.6 generates --------------------------- */

/* `nft --debug=netlink -f` of the ruleset in docs/DESIGN.md (nftables 1.0.6). */
/* The egress rules input and forward end with: allow entries, replies, drop. */
#define GOLDEN_EGRESS_TAIL                                             \
        "  [ meta load iifname => reg 1 ]\n"                           \
        "  [ cmp eq reg 1 0x00006c74 ]\n"                              \
        "  [ meta load nfproto => reg 1 ]\n"                           \
        "  [ cmp eq reg 1 0x00000002 ]\n"                              \
        "  [ meta load iifname => reg 1 ]\n"                           \
        "  [ payload load 4b @ network header + 16 => reg 2 ]\n"       \
        "  [ lookup reg 1 set allow_v4 ]\n"                            \
        "  [ immediate reg 0 accept ]\n",                              \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x00006c74 ]\n"                          \
            "  [ meta load nfproto => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x00000002 ]\n"                          \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ payload load 4b @ network header + 16 => reg 2 ]\n"   \
            "  [ meta load l4proto => reg 13 ]\n"                      \
            "  [ byteorder reg 13 = hton(reg 13, 2, 1) ]\n"            \
            "  [ lookup reg 1 set allow_proto_v4 ]\n"                  \
            "  [ immediate reg 0 accept ]\n",                          \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x00006c74 ]\n"                          \
            "  [ meta load nfproto => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x00000002 ]\n"                          \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ payload load 4b @ network header + 16 => reg 2 ]\n"   \
            "  [ meta load l4proto => reg 13 ]\n"                      \
            "  [ byteorder reg 13 = hton(reg 13, 2, 1) ]\n"            \
            "  [ payload load 2b @ transport header + 2 => reg 14 ]\n" \
            "  [ lookup reg 1 set allow_port_v4 ]\n"                   \
            "  [ immediate reg 0 accept ]\n",                          \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x00006c74 ]\n"                          \
            "  [ meta load nfproto => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x0000000a ]\n"                          \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ payload load 16b @ network header + 24 => reg 2 ]\n"  \
            "  [ lookup reg 1 set allow_v6 ]\n"                        \
            "  [ immediate reg 0 accept ]\n",                          \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x00006c74 ]\n"                          \
            "  [ meta load nfproto => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x0000000a ]\n"                          \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ payload load 16b @ network header + 24 => reg 2 ]\n"  \
            "  [ meta load l4proto => reg 3 ]\n"                       \
            "  [ byteorder reg 3 = hton(reg 3, 2, 1) ]\n"              \
            "  [ lookup reg 1 set allow_proto_v6 ]\n"                  \
            "  [ immediate reg 0 accept ]\n",                          \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x00006c74 ]\n"                          \
            "  [ meta load nfproto => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x0000000a ]\n"                          \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ payload load 16b @ network header + 24 => reg 2 ]\n"  \
            "  [ meta load l4proto => reg 3 ]\n"                       \
            "  [ byteorder reg 3 = hton(reg 3, 2, 1) ]\n"              \
            "  [ payload load 2b @ transport header + 2 => reg 17 ]\n" \
            "  [ lookup reg 1 set allow_port_v6 ]\n"                   \
            "  [ immediate reg 0 accept ]\n",                          \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x00006c74 ]\n"                          \
            "  [ ct load direction => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x00000001 ]\n"                          \
            "  [ immediate reg 0 accept ]\n",                          \
            "  [ meta load iifname => reg 1 ]\n"                       \
            "  [ cmp eq reg 1 0x00006c74 ]\n" \
            "  [ meta load iifname => reg 1 ]\n" \
            "  [ dynset update reg_key 1 set dropped_policy ]\n" \
            "  [ immediate reg 0 drop ]\n",

static const char *const golden_input[] = {"  [ meta load iifname => reg 1 ]\n"
                                           "  [ cmp eq reg 1 0x00006c74 ]\n"
                                           "  [ meta load nfproto => reg 1 ]\n"
                                           "  [ cmp eq reg 1 0x00000002 ]\n"
                                           "  [ meta load iifname => reg 1 ]\n"
                                           "  [ payload load 4b @ network header + 12 => reg 2 ]\n"
                                           "  [ lookup reg 1 set guests_v4 0x1 ]\n"
                                           "  [ meta load iifname => reg 1 ]\n"
                                           "  [ dynset update reg_key 1 set dropped_spoofed ]\n"
                                           "  [ immediate reg 0 drop ]\n",
                                           "  [ meta load iifname => reg 1 ]\n"
                                           "  [ cmp eq reg 1 0x00006c74 ]\n"
                                           "  [ meta load nfproto => reg 1 ]\n"
                                           "  [ cmp eq reg 1 0x0000000a ]\n"
                                           "  [ payload load 16b @ network header + 8 => reg 1 ]\n"
                                           "  [ lookup reg 1 set __set%d 0x1 ]\n"
                                           "  [ meta load iifname => reg 1 ]\n"
                                           "  [ payload load 16b @ network header + 8 => reg 2 ]\n"
                                           "  [ lookup reg 1 set guests_v6 0x1 ]\n"
                                           "  [ meta load iifname => reg 1 ]\n"
                                           "  [ dynset update reg_key 1 set dropped_spoofed ]\n"
                                           "  [ immediate reg 0 drop ]\n",
                                           "  [ meta load iifname => reg 1 ]\n"
                                           "  [ cmp eq reg 1 0x00006c74 ]\n"
                                           "  [ meta load iifname => reg 1 ]\n"
                                           "  [ lookup reg 1 set egress_none 0x1 ]\n"
                                           "  [ immediate reg 0 accept ]\n",
                                           "  [ meta load iifname => reg 1 ]\n"
                                           "  [ cmp eq reg 1 0x00006c74 ]\n"
                                           "  [ meta load nfproto => reg 1 ]\n"
                                           "  [ cmp eq reg 1 0x0000000a ]\n"
                                           "  [ meta load l4proto => reg 1 ]\n"
                                           "  [ cmp eq reg 1 0x0000003a ]\n"
                                           "  [ payload load 1b @ transport header + 0 => reg 1 ]\n"
                                           "  [ cmp gte reg 1 0x00000087 ]\n"
                                           "  [ cmp lte reg 1 0x00000088 ]\n"
                                           "  [ immediate reg 0 accept ]\n",
                                           GOLDEN_EGRESS_TAIL};

static const char *const golden_forward[] = {
    "  [ meta load iifname => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00006c74 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ meta load iifname => reg 1 ]\n"
    "  [ payload load 4b @ network header + 12 => reg 2 ]\n"
    "  [ lookup reg 1 set guests_v4 0x1 ]\n"
    "  [ meta load iifname => reg 1 ]\n"
    "  [ dynset update reg_key 1 set dropped_spoofed ]\n"
    "  [ immediate reg 0 drop ]\n",
    "  [ meta load iifname => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00006c74 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ meta load iifname => reg 1 ]\n"
    "  [ payload load 16b @ network header + 8 => reg 2 ]\n"
    "  [ lookup reg 1 set guests_v6 0x1 ]\n"
    "  [ meta load iifname => reg 1 ]\n"
    "  [ dynset update reg_key 1 set dropped_spoofed ]\n"
    "  [ immediate reg 0 drop ]\n",
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 12 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0xfcffffff ) ^ 0x00000000 ]\n"
    "  [ lookup reg 1 set slots_v4 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0xfcffffff ) ^ 0x00000000 ]\n"
    "  [ lookup reg 1 set slots_v4 ]\n"
    "  [ immediate reg 0 drop ]\n",
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 8 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0xffffffff 0xffffffff 0x00000000 0x00000000 ) ^ 0x00000000 0x00000000 "
    "0x00000000 0x00000000 ]\n"
    "  [ lookup reg 1 set slots_v6 ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0xffffffff 0xffffffff 0x00000000 0x00000000 ) ^ 0x00000000 0x00000000 "
    "0x00000000 0x00000000 ]\n"
    "  [ lookup reg 1 set slots_v6 ]\n"
    "  [ immediate reg 0 drop ]\n",
    "  [ meta load iifname => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00006c74 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 2b @ network header + 16 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000d50a ]\n"
    "  [ immediate reg 0 drop ]\n",
    "  [ meta load iifname => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00006c74 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 6b @ network header + 24 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x006c74fd 0x00000000 ]\n"
    "  [ immediate reg 0 drop ]\n",
    "  [ meta load iifname => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00006c74 ]\n"
    "  [ meta load iifname => reg 1 ]\n"
    "  [ lookup reg 1 set egress_internet ]\n"
    "  [ immediate reg 0 accept ]\n",
    "  [ meta load iifname => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00006c74 ]\n"
    "  [ meta load iifname => reg 1 ]\n"
    "  [ lookup reg 1 set egress_public ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ lookup reg 1 set __set%d 0x1 ]\n"
    "  [ immediate reg 0 accept ]\n",
    "  [ meta load iifname => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00006c74 ]\n"
    "  [ meta load iifname => reg 1 ]\n"
    "  [ lookup reg 1 set egress_public ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ lookup reg 1 set __set%d 0x1 ]\n"
    "  [ immediate reg 0 accept ]\n",
    GOLDEN_EGRESS_TAIL};

static const char *const golden_postrouting[] = {
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 12 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0xfcffffff ) ^ 0x00000000 ]\n"
    "  [ lookup reg 1 set slots_v4 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0xfcffffff ) ^ 0x00000000 ]\n"
    "  [ lookup reg 1 set slots_v4 0x1 ]\n"
    "  [ masq ]\n",
};

/* Published ports: the same four rules in prerouting and output (the nat
 * expressions as the kernel dumps them: nft sends neither the maxima nor
 * the flags). */
static const char *const golden_publish[] = {
    "  [ fib daddr type => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 1b @ network header + 16 => reg 1 ]\n"
    "  [ cmp neq reg 1 0x0000007f ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ meta load l4proto => reg 9 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 10 ]\n"
    "  [ lookup reg 1 set published_v4 dreg 1 ]\n"
    "  [ nat dnat ip addr_min reg 1 addr_max reg 1 proto_min reg 9 proto_max reg 9 flags 0x3 ]\n",
    "  [ fib daddr type => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 1b @ network header + 16 => reg 1 ]\n"
    "  [ cmp neq reg 1 0x0000007f ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 9 ]\n"
    "  [ lookup reg 1 set published_any_v4 dreg 1 ]\n"
    "  [ nat dnat ip addr_min reg 1 addr_max reg 1 proto_min reg 9 proto_max reg 9 flags 0x3 ]\n",
    "  [ fib daddr type => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ cmp neq reg 1 0x00000000 0x00000000 0x00000000 0x01000000 ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ meta load l4proto => reg 2 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 13 ]\n"
    "  [ lookup reg 1 set published_v6 dreg 1 ]\n"
    "  [ nat dnat ip6 addr_min reg 1 addr_max reg 1 proto_min reg 2 proto_max reg 2 flags 0x3 ]\n",
    "  [ fib daddr type => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ cmp neq reg 1 0x00000000 0x00000000 0x00000000 0x01000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 9 ]\n"
    "  [ lookup reg 1 set published_any_v6 dreg 1 ]\n"
    "  [ nat dnat ip6 addr_min reg 1 addr_max reg 1 proto_min reg 2 proto_max reg 2 flags 0x3 ]\n",
};

static void check_golden(const struct nft_layout *l, enum nft_chain_id id, const char *const *golden,
                         size_t n)
{
        struct msgs *m = build(l, build_chain_rules, id);
        struct nftnl_rule *rules[NFT_RULES_MAX];
        size_t n_rules = parse_rules(m, rules, ELEMENTSOF(rules));

        assert_int_equal(n_rules, n);
        for (size_t i = 0; i < n_rules; i++) {
                char text[4096];
                assert_string_equal(nftnl_rule_get_str(rules[i], NFTNL_RULE_TABLE), l->table);
                assert_string_equal(nftnl_rule_get_str(rules[i], NFTNL_RULE_CHAIN), nft_chain_name(id));
                rule_text(rules[i], text, sizeof(text));
                assert_string_equal(text, golden[i]);
                nftnl_rule_free(rules[i]);
        }
        msgs_free(m);
}

static void test_rules_match_nft(void **state)
{
        struct config c;
        struct nft_layout l;

        config_default(&c);
        layout_of(&c, &l);
        check_golden(&l, NFT_CHAIN_INPUT, golden_input, ELEMENTSOF(golden_input));
        check_golden(&l, NFT_CHAIN_FORWARD, golden_forward, ELEMENTSOF(golden_forward));
        check_golden(&l, NFT_CHAIN_POSTROUTING, golden_postrouting, ELEMENTSOF(golden_postrouting));
        check_golden(&l, NFT_CHAIN_PREROUTING, golden_publish, ELEMENTSOF(golden_publish));
        check_golden(&l, NFT_CHAIN_OUTPUT, golden_publish, ELEMENTSOF(golden_publish));
        config_done(&c);
}

/* The anonymous set { ::, fe80::/10 } comes right before its rule, with the
 * id the rule's lookup names, as interval elements. */
static void test_anon_set(void **state)
{
        struct config c;
        struct nft_layout l;

        config_default(&c);
        layout_of(&c, &l);
        struct msgs *m = build(&l, build_chain_rules, NFT_CHAIN_INPUT);
        /* NEWRULE, NEWSET, NEWSETELEM, NEWRULE, then the egress rules
         * (10, none with a set of its own) */
        assert_int_equal(m->n, 2 + 4 + 10);
        assert_int_equal(m->m[1]->nlmsg_type, NFT_TYPE(NFT_MSG_NEWRULE));
        assert_int_equal(m->m[2]->nlmsg_type, NFT_TYPE(NFT_MSG_NEWSET));
        assert_int_equal(m->m[3]->nlmsg_type, NFT_TYPE(NFT_MSG_NEWSETELEM));
        assert_int_equal(m->m[4]->nlmsg_type, NFT_TYPE(NFT_MSG_NEWRULE));

        struct nftnl_set *s = nftnl_set_alloc();
        assert_int_equal(nftnl_set_nlmsg_parse(m->m[2], s), 0);
        assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), "__set%d");
        assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_FLAGS),
                         NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL);
        assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), 16);
        assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE), 8);
        uint32_t id = nftnl_set_get_u32(s, NFTNL_SET_ID);
        assert_true(id > 4);

        const struct nlattr *tb[17] = {0}, *elem;
        assert_int_equal(mnl_attr_parse(m->m[3], sizeof(struct nfgenmsg), attr_cb, tb), MNL_CB_OK);
        assert_non_null(tb[NFTA_SET_ELEM_LIST_SET_ID]);
        assert_int_equal(ntohl(mnl_attr_get_u32(tb[NFTA_SET_ELEM_LIST_SET_ID])), id);
        static const struct {
                const char *addr;
                uint32_t flags;
        } want[] = {{"::", 0},
                    {"::1", NFT_SET_ELEM_INTERVAL_END},
                    {"fe80::", 0},
                    {"fec0::", NFT_SET_ELEM_INTERVAL_END}};
        size_t i = 0;
        mnl_attr_for_each_nested(elem, tb[NFTA_SET_ELEM_LIST_ELEMENTS])
        {
                const struct nlattr *etb[17] = {0}, *dtb[17] = {0};
                struct in6_addr a;
                assert_true(i < ELEMENTSOF(want));
                assert_int_equal(inet_pton(AF_INET6, want[i].addr, &a), 1);
                assert_int_equal(mnl_attr_parse_nested(elem, attr_cb, etb), MNL_CB_OK);
                assert_int_equal(mnl_attr_parse_nested(etb[NFTA_SET_ELEM_KEY], attr_cb, dtb), MNL_CB_OK);
                assert_int_equal(mnl_attr_get_payload_len(dtb[NFTA_DATA_VALUE]), 16);
                assert_memory_equal(mnl_attr_get_payload(dtb[NFTA_DATA_VALUE]), &a, 16);
                uint32_t flags =
                    etb[NFTA_SET_ELEM_FLAGS] ? ntohl(mnl_attr_get_u32(etb[NFTA_SET_ELEM_FLAGS])) : 0;
                assert_int_equal(flags, want[i].flags);
                i++;
        }
        assert_int_equal(i, ELEMENTSOF(want));

        struct nftnl_rule *rules[NFT_RULES_MAX];
        size_t n_rules = parse_rules(m, rules, NFT_RULES_MAX);
        assert_int_equal(n_rules, 12);
        for (size_t r = 2; r < n_rules; r++)
                nftnl_rule_free(rules[r]);
        struct nftnl_expr *lookup = rule_expr(rules[1], "lookup", 0);
        assert_non_null(lookup);
        assert_int_equal(nftnl_expr_get_u32(lookup, NFTNL_EXPR_LOOKUP_SET_ID), id);
        assert_int_equal(nftnl_expr_get_u32(lookup, NFTNL_EXPR_LOOKUP_FLAGS), NFT_LOOKUP_F_INV);
        /* Like nft, no flags attribute on a lookup that is not inverted. */
        struct nftnl_expr *guests = rule_expr(rules[1], "lookup", 1);
        assert_string_equal(nftnl_expr_get_str(guests, NFTNL_EXPR_LOOKUP_SET), "guests_v6");
        assert_int_equal(nftnl_expr_get_u32(guests, NFTNL_EXPR_LOOKUP_SET_ID), 4);

        nftnl_rule_free(rules[0]);
        nftnl_rule_free(rules[1]);
        nftnl_set_free(s);
        msgs_free(m);
        config_done(&c);
}

static void check_masks(unsigned prefix4, const char *mask4, unsigned prefix6, const char *mask6)
{
        struct config c;
        struct nft_layout l;
        uint8_t want4[4], want6[16];

        config_default(&c);
        c.ipv4_prefix = prefix4;
        c.ipv6_prefix = prefix6;
        layout_of(&c, &l);
        assert_int_equal(inet_pton(AF_INET, mask4, want4), 1);
        assert_int_equal(inet_pton(AF_INET6, mask6, want6), 1);

        struct msgs *m = build(&l, build_chain_rules, NFT_CHAIN_FORWARD);
        struct nftnl_rule *rules[NFT_RULES_MAX];
        size_t n_fwd = parse_rules(m, rules, NFT_RULES_MAX);
        for (unsigned nth = 0; nth < 2; nth++) {
                uint32_t len;
                struct nftnl_expr *b4 = rule_expr(rules[2], "bitwise", nth);
                struct nftnl_expr *b6 = rule_expr(rules[3], "bitwise", nth);
                assert_non_null(b4);
                assert_non_null(b6);
                assert_int_equal(nftnl_expr_get_u32(b4, NFTNL_EXPR_BITWISE_LEN), 4);
                assert_memory_equal(nftnl_expr_get(b4, NFTNL_EXPR_BITWISE_MASK, &len), want4, 4);
                assert_int_equal(len, 4);
                assert_int_equal(nftnl_expr_get_u32(b6, NFTNL_EXPR_BITWISE_LEN), 16);
                assert_memory_equal(nftnl_expr_get(b6, NFTNL_EXPR_BITWISE_MASK, &len), want6, 16);
                assert_int_equal(len, 16);
        }
        for (size_t i = 0; i < n_fwd; i++)
                nftnl_rule_free(rules[i]);
        msgs_free(m);

        m = build(&l, build_chain_rules, NFT_CHAIN_POSTROUTING);
        assert_int_equal(parse_rules(m, rules, 1), 1);
        uint32_t len;
        assert_memory_equal(nftnl_expr_get(rule_expr(rules[0], "bitwise", 1), NFTNL_EXPR_BITWISE_MASK, &len),
                            want4, 4);
        nftnl_rule_free(rules[0]);
        msgs_free(m);
        config_done(&c);
}

static void test_rule_masks(void **state)
{
        check_masks(30, "255.255.255.252", 64, "ffff:ffff:ffff:ffff::");
        check_masks(31, "255.255.255.254", 56, "ffff:ffff:ffff:ff00::");
        check_masks(24, "255.255.255.0", 60, "ffff:ffff:ffff:fff0::");
        check_masks(1, "128.0.0.0", 127, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
        check_masks(17, "255.255.128.0", 1, "8000::");
}

static void check_prefix(const char *prefix)
{
        struct config c;
        struct nft_layout l;

        config_default(&c);
        snprintf(c.ifname_prefix, sizeof(c.ifname_prefix), "%s", prefix);
        layout_of(&c, &l);

        for (int chain = NFT_CHAIN_INPUT; chain <= NFT_CHAIN_FORWARD; chain++) {
                struct msgs *m = build(&l, build_chain_rules, chain);
                struct nftnl_rule *rules[NFT_RULES_MAX];
                size_t n = parse_rules(m, rules, NFT_RULES_MAX);
                /* Every rule but forward's isolation of subnets starts
                 * with the prefix. */
                for (size_t i = 0; i < n; i++) {
                        if (chain == NFT_CHAIN_FORWARD && i >= 2 && i < 4)
                                continue;
                        uint32_t len;
                        struct nftnl_expr *meta = rule_expr(rules[i], "meta", 0);
                        struct nftnl_expr *cmp = rule_expr(rules[i], "cmp", 0);
                        assert_int_equal(nftnl_expr_get_u32(meta, NFTNL_EXPR_META_KEY), NFT_META_IIFNAME);
                        const void *data = nftnl_expr_get(cmp, NFTNL_EXPR_CMP_DATA, &len);
                        assert_int_equal(len, strlen(prefix));
                        assert_memory_equal(data, prefix, len);
                }
                for (size_t i = 0; i < n; i++)
                        nftnl_rule_free(rules[i]);
                msgs_free(m);
        }
        config_done(&c);
}

static void test_prefix_pattern(void **state)
{
        check_prefix("tl");
        check_prefix("taplinkvm");
        check_prefix("x");
        check_prefix("abcdefghijklmn"); /* 14 bytes: room for one digit */
}

static void test_masquerade_off(void **state)
{
        struct config c;
        struct nft_layout l;

        config_default(&c);
        c.masquerade = false;
        layout_of(&c, &l);
        struct msgs *m = build(&l, build_chain_rules, NFT_CHAIN_POSTROUTING);
        assert_int_equal(m->n, 2); /* begin, end: no rule at all */
        msgs_free(m);

        /* The other chains do not change. */
        m = build(&l, build_chain_rules, NFT_CHAIN_FORWARD);
        struct nftnl_rule *rules[NFT_RULES_MAX];
        size_t n_fwd = parse_rules(m, rules, NFT_RULES_MAX);
        assert_int_equal(n_fwd, 17);
        for (size_t i = 0; i < n_fwd; i++) {
                assert_null(rule_expr(rules[i], "masq", 0));
                nftnl_rule_free(rules[i]);
        }
        msgs_free(m);

        /* ipv6 = no keeps the layout (see nft.h). */
        c.masquerade = true;
        c.ipv6 = false;
        layout_of(&c, &l);
        check_golden(&l, NFT_CHAIN_FORWARD, golden_forward, ELEMENTSOF(golden_forward));
        config_done(&c);
}

static void check_intervals(const char *const *networks, size_t n, int family, const char *const *want,
                            const uint32_t *want_flags, size_t n_want)
{
        struct config_network nets[CONFIG_ISOLATE_MAX];
        struct nft_anon_elem elems[NFT_ISOLATE_ELEMS_MAX];
        char *msg = NULL;
        char text[256] = "";
        size_t n_nets = 0;

        for (size_t i = 0; i < n; i++)
                snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s ", networks[i]);
        assert_int_equal(config_parse_networks(text, nets, &n_nets, &msg), 0);
        assert_int_equal(nft_networks_to_intervals(nets, n_nets, family, elems), n_want);
        for (size_t i = 0; i < n_want; i++) {
                uint8_t key[16] = {0};
                assert_int_equal(inet_pton(family, want[i], key), 1);
                assert_memory_equal(elems[i].key, key, family == AF_INET ? 4 : 16);
                assert_int_equal(elems[i].flags, want_flags[i]);
        }
}

/* [network] isolate as nft sends an interval set: a leading end at 0,
 * merged ranges, no end past the top of the address space. */
static void test_isolate_intervals(void **state)
{
        const uint32_t E = NFT_SET_ELEM_INTERVAL_END;

        check_intervals((const char *const[]){"10.213.0.0/16", "fd74:6c00::/48"}, 2, AF_INET,
                        (const char *const[]){"0.0.0.0", "10.213.0.0", "10.214.0.0"},
                        (const uint32_t[]){E, 0, E}, 3);
        check_intervals((const char *const[]){"10.213.0.0/16", "fd74:6c00::/48"}, 2, AF_INET6,
                        (const char *const[]){"::", "fd74:6c00::", "fd74:6c00:1::"},
                        (const uint32_t[]){E, 0, E}, 3);
        /* Overlapping and adjacent ranges merge; sorted. */
        check_intervals((const char *const[]){"10.214.0.0/16", "10.0.0.0/8", "11.0.0.0/8", "10.1.0.0/16"}, 4,
                        AF_INET, (const char *const[]){"0.0.0.0", "10.0.0.0", "12.0.0.0"},
                        (const uint32_t[]){E, 0, E}, 3);
        /* From 0, and up to the top. */
        check_intervals((const char *const[]){"0.0.0.0/8", "224.0.0.0/3"}, 2, AF_INET,
                        (const char *const[]){"0.0.0.0", "1.0.0.0", "224.0.0.0"},
                        (const uint32_t[]){0, E, 0}, 3);
        check_intervals((const char *const[]){"0.0.0.0/0"}, 1, AF_INET, (const char *const[]){"0.0.0.0"},
                        (const uint32_t[]){0}, 1);
        /* No network of the family: no rule. */
        check_intervals((const char *const[]){"fd00::/8"}, 1, AF_INET, NULL, NULL, 0);
}

static int count_counters(struct nftnl_expr *e, void *data)
{
        unsigned *n = data;
        assert_string_equal(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter");
        (*n)++;
        return 0;
}

static void test_sets(void **state)
{
        static const struct {
                const char *name;
                uint32_t key_type;
                uint32_t key_len;
                uint32_t flags;
                uint32_t order; /* nft's key byte order */
                uint32_t size;
                uint32_t data_type, data_len; /* maps */
        } want[] = {
            /* Plain hash sets; big endian for addresses, none for
             * concatenations. */
            [NFT_SET_SLOTS_V4] = {"slots_v4", 7, 4, 0, 2, 0},
            [NFT_SET_SLOTS_V6] = {"slots_v6", 8, 16, 0, 2, 0},
            [NFT_SET_GUESTS_V4] = {"guests_v4", 41 << 6 | 7, 20, 0, 0, 0},
            [NFT_SET_GUESTS_V6] = {"guests_v6", 41 << 6 | 8, 32, 0, 0, 0},
            /* flags dynamic, host byte order for a name, and more room
             * than there can be slots. */
            [NFT_SET_DROPPED_SPOOFED] = {"dropped_spoofed", 41, 16, NFT_SET_EVAL, 1, 2 * CONFIG_MAX_SLOTS_LIMIT},
            [NFT_SET_DROPPED_POLICY] = {"dropped_policy", 41, 16, NFT_SET_EVAL, 1, 2 * CONFIG_MAX_SLOTS_LIMIT},
            [NFT_SET_EGRESS_NONE] = {"egress_none", 41, 16, 0, 1, 0},
            [NFT_SET_EGRESS_HOST] = {"egress_host", 41, 16, 0, 1, 0},
            [NFT_SET_EGRESS_PUBLIC] = {"egress_public", 41, 16, 0, 1, 0},
            [NFT_SET_EGRESS_INTERNET] = {"egress_internet", 41, 16, 0, 1, 0},
            /* what nft 1.0.6 sends for "type ifname . ipv4_addr . inet_proto .
             * inet_service; flags interval" and the like */
            [NFT_SET_ALLOW_V4] = {"allow_v4", 41 << 6 | 7, 20, 0x84, 0, 0},
            [NFT_SET_ALLOW_PROTO_V4] = {"allow_proto_v4", (41 << 6 | 7) << 6 | 12, 24, 0x84, 0, 0},
            [NFT_SET_ALLOW_PORT_V4] = {"allow_port_v4", 0x00a4730d, 28, 0x84, 0, 0},
            [NFT_SET_ALLOW_V6] = {"allow_v6", 41 << 6 | 8, 32, 0x84, 0, 0},
            [NFT_SET_ALLOW_PROTO_V6] = {"allow_proto_v6", (41 << 6 | 8) << 6 | 12, 36, 0x84, 0, 0},
            [NFT_SET_ALLOW_PORT_V6] = {"allow_port_v6", ((41 << 6 | 8) << 6 | 12) << 6 | 13, 40, 0x84, 0, 0},
            /* maps: "type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service" */
            [NFT_SET_PUBLISHED_V4] = {"published_v4", (7 << 6 | 12) << 6 | 13, 12, NFT_SET_MAP, 0, 0, 7 << 6 | 13, 8},
            [NFT_SET_PUBLISHED_ANY_V4] = {"published_any_v4", 12 << 6 | 13, 8, NFT_SET_MAP, 0, 0, 7 << 6 | 13, 8},
            [NFT_SET_PUBLISHED_V6] = {"published_v6", (8 << 6 | 12) << 6 | 13, 24, NFT_SET_MAP, 0, 0, 8 << 6 | 13, 20},
            [NFT_SET_PUBLISHED_ANY_V6] = {"published_any_v6", 12 << 6 | 13, 8, NFT_SET_MAP, 0, 0, 8 << 6 | 13, 20},
        };
        struct config c;
        struct nft_layout l;

        config_default(&c);
        layout_of(&c, &l);
        for (int id = 0; id < _NFT_SET_MAX; id++) {
                struct msgs *m = build(&l, build_set, id);
                assert_int_equal(m->n, 3);
                assert_int_equal(m->m[1]->nlmsg_type, NFT_TYPE(NFT_MSG_NEWSET));
                /* Never NLM_F_EXCL or NLM_F_REPLACE: an existing set stays. */
                assert_int_equal(m->m[1]->nlmsg_flags & (NLM_F_EXCL | NLM_F_REPLACE), 0);
                struct nftnl_set *s = nftnl_set_alloc();
                assert_int_equal(nftnl_set_nlmsg_parse(m->m[1], s), 0);
                assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_TABLE), "taplinkd");
                assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), want[id].name);
                assert_string_equal(nft_set_name(id), want[id].name);
                assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE), want[id].key_type);
                assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), want[id].key_len);
                /* a plain hash set, or an interval concatenation */
                assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_FLAGS), want[id].flags);
                assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_ID), id + 1);
                assert_int_equal(
                    nftnl_set_is_set(s, NFTNL_SET_DESC_SIZE) ? nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE) : 0,
                    want[id].size);
                unsigned counters = 0;
                assert_int_equal(nftnl_set_expr_foreach(s, count_counters, &counters), 0);
                assert_int_equal(counters, id == NFT_SET_DROPPED_SPOOFED || id == NFT_SET_DROPPED_POLICY ? 1 : 0);
                assert_int_equal(nftnl_set_is_set(s, NFTNL_SET_DATA_TYPE), want[id].data_type != 0);
                if (want[id].data_type) {
                        assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE), want[id].data_type);
                        assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN), want[id].data_len);
                }
                uint32_t len;
                const uint8_t *ud = nftnl_set_get_data(s, NFTNL_SET_USERDATA, &len);
                assert_non_null(ud);
                assert_true(len >= 6);
                assert_int_equal(ud[0], NFTNL_UDATA_SET_KEYBYTEORDER);
                assert_int_equal(ud[1], 4);
                uint32_t order;
                memcpy(&order, ud + 2, 4);
                assert_int_equal(order, want[id].order);
                nftnl_set_free(s);
                msgs_free(m);
        }
        assert_null(nft_set_name(_NFT_SET_MAX));
        config_done(&c);
}

static void test_chains_and_table(void **state)
{
        static const struct {
                const char *name, *type;
                uint32_t hook;
                int32_t prio;
        } want[] = {
            {"input", "filter", NF_INET_LOCAL_IN, 0},
            {"forward", "filter", NF_INET_FORWARD, 0},
            {"postrouting", "nat", NF_INET_POST_ROUTING, 100},
            {"prerouting", "nat", NF_INET_PRE_ROUTING, -100},
            {"output", "nat", NF_INET_LOCAL_OUT, -100},
        };
        struct config c;
        struct nft_layout l;

        config_default(&c);
        free(c.nft_table);
        c.nft_table = strdup("other_table");
        layout_of(&c, &l);
        for (int id = 0; id < _NFT_CHAIN_MAX; id++) {
                struct msgs *m = build(&l, build_chain, id);
                assert_int_equal(m->m[1]->nlmsg_type, NFT_TYPE(NFT_MSG_NEWCHAIN));
                struct nftnl_chain *ch = nftnl_chain_alloc();
                assert_int_equal(nftnl_chain_nlmsg_parse(m->m[1], ch), 0);
                assert_string_equal(nftnl_chain_get_str(ch, NFTNL_CHAIN_TABLE), "other_table");
                assert_string_equal(nftnl_chain_get_str(ch, NFTNL_CHAIN_NAME), want[id].name);
                assert_string_equal(nftnl_chain_get_str(ch, NFTNL_CHAIN_TYPE), want[id].type);
                assert_int_equal(nftnl_chain_get_u32(ch, NFTNL_CHAIN_HOOKNUM), want[id].hook);
                assert_int_equal(nftnl_chain_get_s32(ch, NFTNL_CHAIN_PRIO), want[id].prio);
                assert_int_equal(nftnl_chain_get_u32(ch, NFTNL_CHAIN_POLICY), NF_ACCEPT);
                nftnl_chain_free(ch);
                msgs_free(m);
        }

        struct nft_batch b;
        assert_int_equal(nft_batch_start(&b, 7), 0);
        assert_int_equal(nft_build_table(&b, &l, NFT_MSG_NEWTABLE), 0);
        assert_int_equal(nft_build_table(&b, &l, NFT_MSG_DELTABLE), 0);
        struct msgs *m = batch_messages(&b);
        struct nftnl_table *t = nftnl_table_alloc();
        assert_int_equal(m->m[1]->nlmsg_type, NFT_TYPE(NFT_MSG_NEWTABLE));
        assert_int_equal(nftnl_table_nlmsg_parse(m->m[1], t), 0);
        assert_string_equal(nftnl_table_get_str(t, NFTNL_TABLE_NAME), "other_table");
        assert_true(nftnl_table_is_set(t, NFTNL_TABLE_FLAGS));
        assert_int_equal(nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS), 0);
        assert_int_equal(m->m[2]->nlmsg_type, NFT_TYPE(NFT_MSG_DELTABLE));
        nftnl_table_free(t);
        msgs_free(m);
        nft_batch_done(&b);
        config_done(&c);
}

static void test_layout_errors(void **state)
{
        struct config c;
        struct nft_layout l;

        config_default(&c);
        assert_int_equal(nft_layout_init(&c, &l), 0);
        assert_string_equal(l.table, "taplinkd");
        assert_string_equal(l.ifname_prefix, "tl");
        assert_int_equal(l.ipv4_prefix, 30);
        assert_int_equal(l.ipv6_prefix, 64);
        assert_true(l.masquerade);

        struct config bad = c;
        bad.ipv4_prefix = 32;
        assert_int_equal(nft_layout_init(&bad, &l), -EINVAL);
        bad = c;
        bad.ipv4_prefix = 0;
        assert_int_equal(nft_layout_init(&bad, &l), -EINVAL);
        bad = c;
        bad.ipv6_prefix = 128;
        assert_int_equal(nft_layout_init(&bad, &l), -EINVAL);
        bad = c;
        bad.ifname_prefix[0] = '\0';
        assert_int_equal(nft_layout_init(&bad, &l), -EINVAL);
        bad = c;
        bad.nft_table = (char *)"";
        assert_int_equal(nft_layout_init(&bad, &l), -EINVAL);
        char long_name[300];
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        bad.nft_table = long_name;
        assert_int_equal(nft_layout_init(&bad, &l), -EINVAL);
        config_done(&c);
}

/* --- elements ------------------------------------------------------------------ */

struct parsed_elem {
        const char *set;
        uint8_t key[64];
        uint32_t len;
};

/* Every element in the messages of type `type`, in order. (libnftnl 1.2.4
 * numbers the nested elements 1, 2, 3, ... when it builds them, which the
 * kernel accepts but its own parser refuses: parse with libmnl.) */
static size_t parse_elems(const struct msgs *m, uint16_t type, struct parsed_elem *ret, size_t max)
{
        size_t n = 0;
        for (size_t i = 1; i + 1 < m->n; i++) {
                const struct nlattr *tb[17] = {0};
                const struct nlattr *elem;
                if (m->m[i]->nlmsg_type != NFT_TYPE(type))
                        continue;
                assert_int_equal(mnl_attr_parse(m->m[i], sizeof(struct nfgenmsg), attr_cb, tb), MNL_CB_OK);
                assert_non_null(tb[NFTA_SET_ELEM_LIST_TABLE]);
                assert_string_equal(mnl_attr_get_str(tb[NFTA_SET_ELEM_LIST_TABLE]), "taplinkd");
                assert_non_null(tb[NFTA_SET_ELEM_LIST_SET]);
                /* Never an empty element list: that would flush the set. */
                assert_non_null(tb[NFTA_SET_ELEM_LIST_ELEMENTS]);
                const char *set = mnl_attr_get_str(tb[NFTA_SET_ELEM_LIST_SET]);
                size_t in_msg = 0;
                mnl_attr_for_each_nested(elem, tb[NFTA_SET_ELEM_LIST_ELEMENTS])
                {
                        const struct nlattr *etb[17] = {0}, *dtb[17] = {0};
                        assert_true(n < max);
                        assert_int_equal(mnl_attr_parse_nested(elem, attr_cb, etb), MNL_CB_OK);
                        assert_non_null(etb[NFTA_SET_ELEM_KEY]);
                        assert_null(etb[NFTA_SET_ELEM_FLAGS]);
                        assert_int_equal(mnl_attr_parse_nested(etb[NFTA_SET_ELEM_KEY], attr_cb, dtb),
                                         MNL_CB_OK);
                        assert_non_null(dtb[NFTA_DATA_VALUE]);
                        ret[n].len = mnl_attr_get_payload_len(dtb[NFTA_DATA_VALUE]);
                        assert_true(ret[n].len <= sizeof(ret[n].key));
                        memcpy(ret[n].key, mnl_attr_get_payload(dtb[NFTA_DATA_VALUE]), ret[n].len);
                        ret[n].set = strcmp(set, "slots_v4") == 0          ? "slots_v4"
                                     : strcmp(set, "slots_v6") == 0        ? "slots_v6"
                                     : strcmp(set, "guests_v4") == 0       ? "guests_v4"
                                     : strcmp(set, "guests_v6") == 0       ? "guests_v6"
                                     : strcmp(set, "dropped_spoofed") == 0 ? "dropped_spoofed"
                                     : strcmp(set, "dropped_policy") == 0  ? "dropped_policy"
                                                                           : "?";
                        n++;
                        in_msg++;
                }
                assert_true(in_msg > 0);
                assert_true(in_msg <= NFT_ELEMS_PER_MSG);
        }
        return n;
}

static void check_slot_keys(struct config *c, unsigned slot, const char *ifname, const char *subnet4,
                            const char *guest4, const char *subnet6, const char *guest6)
{
        struct nft_elem e[NFT_SLOT_ELEMS_MAX];
        struct nft_layout l;
        size_t n = nft_slot_elems(c, slot, e);

        assert_int_equal(n, c->ipv6 ? 6 : 4);
        layout_of(c, &l);

        struct nft_batch b;
        assert_int_equal(nft_batch_start(&b, 1), 0);
        assert_int_equal(nft_build_elems(&b, &l, NFT_MSG_NEWSETELEM, e, n), 0);
        assert_int_equal(b.n_msgs, n); /* one message per set */
        struct msgs *m = batch_messages(&b);
        for (size_t i = 1; i + 1 < m->n; i++) {
                assert_true(m->m[i]->nlmsg_flags & NLM_F_CREATE);
                assert_false(m->m[i]->nlmsg_flags & NLM_F_EXCL); /* present elements are fine */
        }
        struct parsed_elem p[NFT_SLOT_ELEMS_MAX];
        assert_int_equal(parse_elems(m, NFT_MSG_NEWSETELEM, p, NFT_SLOT_ELEMS_MAX), n);

        uint8_t key[32];
        assert_string_equal(p[0].set, "slots_v4");
        assert_int_equal(p[0].len, 4);
        assert_int_equal(inet_pton(AF_INET, subnet4, key), 1);
        assert_memory_equal(p[0].key, key, 4);

        /* ifname NUL-padded to 16 bytes, then the address. */
        size_t i = c->ipv6 ? 2 : 1;
        assert_string_equal(p[i].set, "guests_v4");
        assert_int_equal(p[i].len, 20);
        memset(key, 0, sizeof(key));
        memcpy(key, ifname, strlen(ifname));
        assert_int_equal(inet_pton(AF_INET, guest4, key + 16), 1);
        assert_memory_equal(p[i].key, key, 20);

        if (c->ipv6) {
                assert_string_equal(p[1].set, "slots_v6");
                assert_int_equal(p[1].len, 16);
                assert_int_equal(inet_pton(AF_INET6, subnet6, key), 1);
                assert_memory_equal(p[1].key, key, 16);

                assert_string_equal(p[3].set, "guests_v6");
                assert_int_equal(p[3].len, 32);
                memset(key, 0, sizeof(key));
                memcpy(key, ifname, strlen(ifname));
                assert_int_equal(inet_pton(AF_INET6, guest6, key + 16), 1);
                assert_memory_equal(p[3].key, key, 32);
        }

        /* The drop counters: the name alone, NUL-padded. */
        assert_string_equal(p[n - 2].set, "dropped_spoofed");
        assert_string_equal(p[n - 1].set, "dropped_policy");
        memset(key, 0, sizeof(key));
        memcpy(key, ifname, strlen(ifname));
        for (size_t k = n - 2; k < n; k++) {
                assert_int_equal(p[k].len, 16);
                assert_memory_equal(p[k].key, key, 16);
        }
        msgs_free(m);
        nft_batch_done(&b);
}

static void test_elem_keys(void **state)
{
        struct config c;

        config_default(&c);
        check_slot_keys(&c, 0, "tl0", "10.213.0.0", "10.213.0.2", "fd74:6c00::", "fd74:6c00::2");
        check_slot_keys(&c, 7, "tl7", "10.213.0.28", "10.213.0.30", "fd74:6c00:0:7::", "fd74:6c00:0:7::2");
        check_slot_keys(&c, 16383, "tl16383", "10.213.255.252", "10.213.255.254",
                        "fd74:6c00:0:3fff::", "fd74:6c00:0:3fff::2");

        /* /31: gateway B4, guest B4+1 */
        set_pool4(&c, "10.99.0.0", 24, 31);
        check_slot_keys(&c, 5, "tl5", "10.99.0.10", "10.99.0.11", "fd74:6c00:0:5::", "fd74:6c00:0:5::2");

        /* Top of both address spaces. */
        set_pool4(&c, "255.255.255.0", 24, 30);
        set_pool6(&c, "ffff:ffff:ffff:ff00::", 56, 64);
        check_slot_keys(&c, 63, "tl63", "255.255.255.252", "255.255.255.254",
                        "ffff:ffff:ffff:ff3f::", "ffff:ffff:ffff:ff3f::2");
        set_pool6(&c, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00", 120, 126);
        check_slot_keys(&c, 63, "tl63", "255.255.255.252", "255.255.255.254",
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc",
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");

        /* A longer prefix fills more of the 16 bytes. */
        snprintf(c.ifname_prefix, sizeof(c.ifname_prefix), "%s", "taplinkvm");
        check_slot_keys(&c, 12, "taplinkvm12", "255.255.255.48", "255.255.255.50",
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff30",
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff32");

        c.ipv6 = false;
        check_slot_keys(&c, 1, "taplinkvm1", "255.255.255.4", "255.255.255.6", NULL, NULL);
        config_done(&c);
}

static void test_elem_key_padding(void **state)
{
        struct nft_elem e = {.set = NFT_SET_GUESTS_V6};
        uint8_t key[NFT_ELEM_KEY_MAX];

        memset(key, 0xaa, sizeof(key));
        memcpy(e.ifname, "abcdefghijklmno", 16); /* 15 characters: the longest name */
        assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &e.addr.v6), 1);
        assert_int_equal(nft_elem_key(&e, key), 32);
        assert_memory_equal(key, "abcdefghijklmno\0", 16);
        assert_memory_equal(key + 16, &e.addr.v6, 16);

        /* Garbage after the NUL must not reach the key. */
        memset(e.ifname, 'z', sizeof(e.ifname));
        memcpy(e.ifname, "tl3", 4);
        e.set = NFT_SET_GUESTS_V4;
        assert_int_equal(nft_elem_key(&e, key), 20);
        assert_memory_equal(key, "tl3\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
        assert_memory_equal(key + 16, &e.addr.v4, 4);

        /* No NUL, an empty name, no such set. */
        memset(e.ifname, 'z', sizeof(e.ifname));
        assert_int_equal(nft_elem_key(&e, key), -EINVAL);
        e.ifname[0] = '\0';
        assert_int_equal(nft_elem_key(&e, key), -EINVAL);
        e.set = _NFT_SET_MAX;
        assert_int_equal(nft_elem_key(&e, key), -EINVAL);
        e.set = NFT_SET_SLOTS_V4; /* the name does not matter here */
        assert_int_equal(nft_elem_key(&e, key), 4);

        struct config c;
        struct nft_layout l;
        struct nft_batch b;
        config_default(&c);
        layout_of(&c, &l);
        struct nft_elem bad[2] = {{.set = NFT_SET_SLOTS_V4}, {.set = NFT_SET_GUESTS_V4}};
        assert_int_equal(nft_batch_start(&b, 1), 0);
        assert_int_equal(nft_build_elems(&b, &l, NFT_MSG_NEWSETELEM, bad, 2), -EINVAL);
        assert_int_equal(b.n_msgs, 0); /* checked before anything is built */
        nft_batch_done(&b);
        config_done(&c);
}

/* Deletes in both forms, and large batches split into messages and pages. */
static void test_elem_batches(void **state)
{
        struct config c;
        struct nft_layout l;
        const size_t slots = 10000;
        struct nft_elem *e = calloc(slots * NFT_SLOT_ELEMS_MAX, sizeof(*e));
        size_t n = 0;

        config_default(&c);
        layout_of(&c, &l);
        for (unsigned s = 0; s < slots; s++)
                n += nft_slot_elems(&c, s, e + n);
        assert_int_equal(n, slots * 6);

        static const uint16_t types[] = {NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM,
                                         NFT_MSG_DESTROYSETELEM_COMPAT};
        for (size_t t = 0; t < ELEMENTSOF(types); t++) {
                struct nft_batch b;
                assert_int_equal(nft_batch_start(&b, 100), 0);
                assert_int_equal(nft_build_elems(&b, &l, types[t], e, n), 0);
                /* Per set: ceil(10000 / NFT_ELEMS_PER_MSG) messages. */
                size_t per_set = (slots + NFT_ELEMS_PER_MSG - 1) / NFT_ELEMS_PER_MSG;
                assert_int_equal(b.n_msgs, 6 * per_set);
                struct msgs *m = batch_messages(&b);
                assert_true(nftnl_batch_iovec_len(b.pages) > 1); /* several pages */
                struct parsed_elem *p = calloc(n, sizeof(*p));
                assert_int_equal(parse_elems(m, types[t], p, n), n);
                /* Grouped by set, in the caller's order within a set. */
                uint8_t key[NFT_ELEM_KEY_MAX];
                assert_string_equal(p[0].set, "slots_v4");
                assert_int_equal(nft_elem_key(&e[0], key), 4);
                assert_memory_equal(p[0].key, key, 4);
                assert_string_equal(p[slots].set, "slots_v6");
                assert_int_equal(nft_elem_key(&e[2], key), 16);
                assert_memory_equal(p[slots].key, key, 16);
                assert_string_equal(p[2 * slots + 1].set, "guests_v4");
                assert_int_equal(nft_elem_key(&e[6 + 1], key), 20);
                assert_memory_equal(p[2 * slots + 1].key, key, 20);
                assert_string_equal(p[4 * slots - 1].set, "guests_v6");
                assert_int_equal(nft_elem_key(&e[6 * slots - 3], key), 32);
                assert_memory_equal(p[4 * slots - 1].key, key, 32);
                assert_string_equal(p[5 * slots - 1].set, "dropped_spoofed");
                assert_int_equal(nft_elem_key(&e[6 * slots - 2], key), 16);
                assert_memory_equal(p[5 * slots - 1].key, key, 16);
                assert_string_equal(p[6 * slots - 1].set, "dropped_policy");
                assert_int_equal(nft_elem_key(&e[6 * slots - 1], key), 16);
                assert_memory_equal(p[6 * slots - 1].key, key, 16);
                for (size_t i = 1; i + 1 < m->n; i++) {
                        assert_int_equal(m->m[i]->nlmsg_type, NFT_TYPE(types[t]));
                        assert_int_equal(!!(m->m[i]->nlmsg_flags & NLM_F_CREATE),
                                         types[t] == NFT_MSG_NEWSETELEM);
                }
                free(p);
                msgs_free(m);
                nft_batch_done(&b);
        }

        /* Nothing to do: no message at all (an empty delete would flush). */
        struct nft_batch b;
        assert_int_equal(nft_batch_start(&b, 1), 0);
        assert_int_equal(nft_build_elems(&b, &l, NFT_MSG_DELSETELEM, e, 0), 0);
        assert_int_equal(b.n_msgs, 0);
        nft_batch_done(&b);
        free(e);
        config_done(&c);
}

static void test_slot_elems(void **state)
{
        struct config c;
        struct nft_elem e[NFT_SLOT_ELEMS_MAX];

        config_default(&c);
        memset(e, 0x55, sizeof(e));
        assert_int_equal(nft_slot_elems(&c, 3, e), 6);
        assert_int_equal(e[0].set, NFT_SET_SLOTS_V4);
        assert_int_equal(e[1].set, NFT_SET_GUESTS_V4);
        assert_int_equal(e[2].set, NFT_SET_SLOTS_V6);
        assert_int_equal(e[3].set, NFT_SET_GUESTS_V6);
        assert_string_equal(e[1].ifname, "tl3");
        assert_string_equal(e[3].ifname, "tl3");
        assert_int_equal(e[4].set, NFT_SET_DROPPED_SPOOFED);
        assert_string_equal(e[4].ifname, "tl3");
        assert_int_equal(e[5].set, NFT_SET_DROPPED_POLICY);
        assert_string_equal(e[5].ifname, "tl3");
        /* Zeroed padding: callers compare elements with memcmp. */
        static const char zeros[16];
        assert_memory_equal(e[0].ifname, zeros, IFNAMSIZ);
        assert_memory_equal((const char *)&e[0].addr + 4, zeros, sizeof(e[0].addr) - 4);
        assert_memory_equal(e[1].ifname + 4, zeros, IFNAMSIZ - 4);

        assert_memory_equal((const char *)&e[4].addr, zeros, sizeof(e[4].addr));

        c.ipv6 = false;
        assert_int_equal(nft_slot_elems(&c, 3, e), 4);
        assert_int_equal(e[2].set, NFT_SET_DROPPED_SPOOFED);
        assert_int_equal(e[3].set, NFT_SET_DROPPED_POLICY);
        config_done(&c);
}

/* --- the element-dump parser ---------------------------------------------------- */

struct dump_buf {
        uint8_t buf[65536];
        size_t len;
};

/* A kernel-style NFT_MSG_NEWSETELEM dump message of set `set` with keys. */
static void dump_add_msg(struct dump_buf *d, const char *set, const uint8_t (*keys)[32],
                         const uint32_t *key_lens, size_t n, uint16_t flags)
{
        struct nftnl_set *s = nftnl_set_alloc();
        nftnl_set_set_str(s, NFTNL_SET_TABLE, "taplinkd");
        nftnl_set_set_str(s, NFTNL_SET_NAME, set);
        for (size_t i = 0; i < n; i++) {
                struct nftnl_set_elem *e = nftnl_set_elem_alloc();
                nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, keys[i], key_lens[i]);
                nftnl_set_elem_add(s, e);
        }
        struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr((char *)d->buf + d->len, NFT_MSG_NEWSETELEM,
                                                     NFPROTO_INET, NLM_F_MULTI | flags, 42);
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        nlh->nlmsg_pid = 77;
        d->len += NLMSG_ALIGN(nlh->nlmsg_len);
        nftnl_set_free(s);
}

static void dump_add_done(struct dump_buf *d)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(d->buf + d->len);
        nlh->nlmsg_type = NLMSG_DONE;
        nlh->nlmsg_flags = NLM_F_MULTI;
        nlh->nlmsg_seq = 42;
        nlh->nlmsg_pid = 77;
        int *zero = mnl_nlmsg_put_extra_header(nlh, sizeof(int));
        *zero = 0;
        d->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void dump_add_error(struct dump_buf *d, int error)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(d->buf + d->len);
        nlh->nlmsg_type = NLMSG_ERROR;
        nlh->nlmsg_seq = 42;
        nlh->nlmsg_pid = 77;
        struct nlmsgerr *err = mnl_nlmsg_put_extra_header(nlh, sizeof(*err));
        err->error = error;
        d->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

/* Keys of our four kinds, and some that cannot be ours. */
static struct dump_buf *good_dump(void)
{
        struct dump_buf *d = calloc(1, sizeof(*d));
        uint8_t keys[3][32] = {{0}};
        uint32_t lens[3];

        inet_pton(AF_INET, "10.213.0.4", keys[0]);
        inet_pton(AF_INET, "10.213.0.8", keys[1]);
        lens[0] = lens[1] = 4;
        dump_add_msg(d, "slots_v4", keys, lens, 2, 0);

        memset(keys, 0, sizeof(keys));
        memcpy(keys[0], "tl1", 3);
        inet_pton(AF_INET, "10.213.0.6", keys[0] + 16);
        lens[0] = 20;
        memset(keys[1], 'x', 16); /* no NUL in the name: skipped */
        lens[1] = 20;
        memcpy(keys[2], "tl2", 3); /* wrong length for the set: skipped */
        lens[2] = 16;
        dump_add_msg(d, "guests_v4", keys, lens, 3, 0);

        memset(keys, 0, sizeof(keys));
        inet_pton(AF_INET6, "fd74:6c00:0:1::", keys[0]);
        lens[0] = 16;
        dump_add_msg(d, "slots_v6", keys, lens, 1, 0);

        memset(keys, 0, sizeof(keys));
        memcpy(keys[0], "tl1", 3);
        inet_pton(AF_INET6, "fd74:6c00:0:1::2", keys[0] + 16);
        lens[0] = 32;
        dump_add_msg(d, "guests_v6", keys, lens, 1, 0);
        return d;
}

static void test_parse_good(void **state)
{
        struct dump_buf *d = good_dump();
        struct nft_elem_list l = {0};
        struct in_addr a4;
        struct in6_addr a6;

        /* More to come, then the end in a datagram of its own. */
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), 1);
        assert_int_equal(l.n, 5);
        struct dump_buf done = {.len = 0};
        dump_add_done(&done);
        assert_int_equal(nft_parse_elem_dump(done.buf, done.len, 42, 77, &l), 0);
        assert_int_equal(l.n, 5);

        assert_int_equal(l.elems[0].set, NFT_SET_SLOTS_V4);
        inet_pton(AF_INET, "10.213.0.4", &a4);
        assert_memory_equal(&l.elems[0].addr.v4, &a4, 4);
        assert_int_equal(l.elems[1].set, NFT_SET_SLOTS_V4);
        assert_int_equal(l.elems[2].set, NFT_SET_GUESTS_V4);
        assert_string_equal(l.elems[2].ifname, "tl1");
        inet_pton(AF_INET, "10.213.0.6", &a4);
        assert_memory_equal(&l.elems[2].addr.v4, &a4, 4);
        assert_int_equal(l.elems[3].set, NFT_SET_SLOTS_V6);
        inet_pton(AF_INET6, "fd74:6c00:0:1::", &a6);
        assert_memory_equal(&l.elems[3].addr.v6, &a6, 16);
        assert_int_equal(l.elems[4].set, NFT_SET_GUESTS_V6);
        assert_string_equal(l.elems[4].ifname, "tl1");
        inet_pton(AF_INET6, "fd74:6c00:0:1::2", &a6);
        assert_memory_equal(&l.elems[4].addr.v6, &a6, 16);

        /* What nft_slot_elems() makes compares equal with memcmp(). */
        struct config c;
        struct nft_elem own[NFT_SLOT_ELEMS_MAX];
        config_default(&c);
        assert_int_equal(nft_slot_elems(&c, 1, own), 6);
        assert_memory_equal(&own[0], &l.elems[0], sizeof(own[0]));
        assert_memory_equal(&own[1], &l.elems[2], sizeof(own[1]));
        assert_memory_equal(&own[2], &l.elems[3], sizeof(own[2]));
        assert_memory_equal(&own[3], &l.elems[4], sizeof(own[3]));
        config_done(&c);

        /* The whole dump in one datagram; seq and portid 0 match anything. */
        dump_add_done(d);
        struct nft_elem_list l2 = {0};
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 0, 0, &l2), 0);
        assert_int_equal(l2.n, 5);
        assert_memory_equal(l2.elems, l.elems, 5 * sizeof(l.elems[0]));

        /* An empty set: a message without elements. */
        struct dump_buf empty = {.len = 0};
        dump_add_msg(&empty, "slots_v4", NULL, NULL, 0, 0);
        dump_add_done(&empty);
        assert_int_equal(nft_parse_elem_dump(empty.buf, empty.len, 0, 0, &l2), 0);
        assert_int_equal(l2.n, 5);

        free(l.elems);
        free(l2.elems);
        free(d);
}

static void test_parse_errors(void **state)
{
        struct nft_elem_list l = {0};
        struct dump_buf *d = calloc(1, sizeof(*d));

        /* The kernel's error ends the dump with it. */
        dump_add_error(d, -ENOENT);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -ENOENT);

        /* Another request's answer. */
        d->len = 0;
        dump_add_done(d);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 43, 77, &l), -EPROTO);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 78, &l), -ESRCH);

        /* Interrupted: the set changed during the dump. */
        d->len = 0;
        uint8_t key[1][32] = {{10, 0, 0, 0}};
        uint32_t len = 4;
        dump_add_msg(d, "slots_v4", key, &len, 1, NLM_F_DUMP_INTR);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -EINTR);

        /* A length past INT_MAX (libmnl 1.0.4 would walk off the buffer). */
        d->len = 0;
        dump_add_msg(d, "slots_v4", key, &len, 1, 0);
        ((struct nlmsghdr *)d->buf)->nlmsg_len = 0xfffffff0;
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -EBADMSG);
        ((struct nlmsghdr *)d->buf)->nlmsg_len = (uint32_t)d->len + 4;
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -EBADMSG);

        /* Not our set. */
        d->len = 0;
        dump_add_msg(d, "other", key, &len, 1, 0);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -EBADMSG);

        /* Not an element message. */
        d->len = 0;
        dump_add_msg(d, "slots_v4", key, &len, 1, 0);
        ((struct nlmsghdr *)d->buf)->nlmsg_type = NFT_TYPE(NFT_MSG_NEWSET);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -EBADMSG);

        /* No room for the nfgenmsg. */
        d->len = 0;
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(d->buf);
        nlh->nlmsg_type = NFT_TYPE(NFT_MSG_NEWSETELEM);
        d->len = nlh->nlmsg_len;
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 0, 0, &l), -EBADMSG);

        /* The set name without its NUL. */
        d->len = 0;
        dump_add_msg(d, "slots_v4", key, &len, 1, 0);
        nlh = (struct nlmsghdr *)d->buf;
        struct nlattr *attr;
        mnl_attr_for_each(attr, nlh,
                          sizeof(struct nfgenmsg)) if (mnl_attr_get_type(attr) == NFTA_SET_ELEM_LIST_SET)
        {
                char *p = mnl_attr_get_payload(attr);
                p[mnl_attr_get_payload_len(attr) - 1] = 'x';
        }
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 0, 0, &l), -EBADMSG);

        assert_int_equal(l.n, 0);
        free(l.elems);
        free(d);
}

/* Every truncation and many corruptions of a good dump: clean errors or
 * plausible elements, never a crash (run it under SANITIZE=1). */
static void test_parse_malformed(void **state)
{
        struct dump_buf *good = good_dump();
        dump_add_done(good);
        struct dump_buf *d = calloc(1, sizeof(*d));
        uint32_t rnd = 12345;
        size_t errors = 0, ok = 0;

        for (size_t cut = 0; cut < good->len; cut++) {
                struct nft_elem_list l = {0};
                uint8_t *copy = malloc(cut ? cut : 1); /* exact size, for ASan */
                memcpy(copy, good->buf, cut);
                int r = nft_parse_elem_dump(copy, cut, 0, 0, &l);
                assert_true(r == 0 || r == 1 || r == -EBADMSG);
                assert_true(l.n <= 5);
                free(copy);
                free(l.elems);
        }

        for (int round = 0; round < 20000; round++) {
                struct nft_elem_list l = {0};
                memcpy(d->buf, good->buf, good->len);
                d->len = good->len;
                int flips = 1 + round % 4;
                for (int f = 0; f < flips; f++) {
                        rnd = rnd * 1103515245 + 12345;
                        size_t at = (rnd >> 8) % d->len;
                        rnd = rnd * 1103515245 + 12345;
                        d->buf[at] = (uint8_t)(rnd >> 16);
                }
                uint8_t *copy = malloc(d->len);
                memcpy(copy, d->buf, d->len);
                int r = nft_parse_elem_dump(copy, d->len, 0, 0, &l);
                assert_true(r <= 1);
                if (r < 0)
                        errors++;
                else
                        ok++;
                for (size_t i = 0; i < l.n; i++) {
                        assert_true((unsigned)l.elems[i].set < _NFT_SET_MAX);
                        if (l.elems[i].set == NFT_SET_GUESTS_V4 || l.elems[i].set == NFT_SET_GUESTS_V6)
                                assert_true(strnlen(l.elems[i].ifname, IFNAMSIZ) < IFNAMSIZ);
                }
                free(copy);
                free(l.elems);
        }
        assert_true(errors > 0);
        assert_true(ok > 0);
        free(good);
        free(d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rules_match_nft),
            cmocka_unit_test(test_anon_set),
            cmocka_unit_test(test_rule_masks),
            cmocka_unit_test(test_prefix_pattern),
            cmocka_unit_test(test_masquerade_off),
            cmocka_unit_test(test_isolate_intervals),
            cmocka_unit_test(test_sets),
            cmocka_unit_test(test_chains_and_table),
            cmocka_unit_test(test_layout_errors),
            cmocka_unit_test(test_elem_keys),
            cmocka_unit_test(test_elem_key_padding),
            cmocka_unit_test(test_elem_batches),
            cmocka_unit_test(test_slot_elems),
            cmocka_unit_test(test_parse_good),
            cmocka_unit_test(test_parse_errors),
            cmocka_unit_test(test_parse_malformed),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
// MODULES: nft-build nft-expr nft-elems nft-parse nft-egress nft-publish publish egress slot config config-values
/* The nftables builders without a socket: the ruleset's batches (tables,
 * chains, sets, rules) built, then parsed back with libmnl and libnftnl and
 * compared with what nft generates. The element batches and the
 * element-dump parser: test-nft-elems.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#include "nft-test.h"

/* --- helpers ----------------------------------------------------------------- */

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
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
// MODULES: nft-monitor nft-parse nft-build nft-expr nft-elems nft-egress nft-publish publish egress slot config config-values
/* The nftables event parser, without a socket: notifications are built
 * with libnftnl as the kernel sends them (a header from some port, the
 * object's attributes), and parsed back. */
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
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "macro.h"
#include "nft-internal.h"
#include "nft-monitor.h"

#define TABLE "taplinkd"
#define OWN 4242    /* our nft socket's port id */
#define OTHER 31337 /* someone else's: `nft` */

/* A datagram of notifications. */
struct datagram {
        _Alignas(struct nlmsghdr) uint8_t buf[16384];
        size_t len;
};

enum kind { K_TABLE, K_CHAIN, K_RULE, K_SET, K_ELEMS };

/* Appends one notification: type (NFT_MSG_*), the object of kind named
 * name in table (of family), with n elements for K_ELEMS, from port pid. */
static struct nlmsghdr *put(struct datagram *d, uint16_t type, uint16_t family, enum kind kind,
                            const char *table, const char *name, unsigned n, uint32_t pid)
{
        struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr((char *)d->buf + d->len, type, family, 0, 0);

        switch (kind) {
        case K_TABLE: {
                struct nftnl_table *t = nftnl_table_alloc();
                nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
                nftnl_table_nlmsg_build_payload(nlh, t);
                nftnl_table_free(t);
                break;
        }
        case K_CHAIN: {
                struct nftnl_chain *c = nftnl_chain_alloc();
                nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
                nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
                nftnl_chain_set_u64(c, NFTNL_CHAIN_HANDLE, 7);
                nftnl_chain_nlmsg_build_payload(nlh, c);
                nftnl_chain_free(c);
                break;
        }
        case K_RULE: {
                struct nftnl_rule *r = nftnl_rule_alloc();
                nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
                nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, name);
                nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, 9);
                nftnl_rule_add_expr(r, nftnl_expr_alloc("counter"));
                nftnl_rule_nlmsg_build_payload(nlh, r);
                nftnl_rule_free(r);
                break;
        }
        case K_SET:
        case K_ELEMS: {
                struct nftnl_set *s = nftnl_set_alloc();
                nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
                nftnl_set_set_str(s, NFTNL_SET_NAME, name);
                if (kind == K_SET) {
                        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
                        nftnl_set_nlmsg_build_payload(nlh, s);
                } else {
                        for (unsigned i = 0; i < n; i++) {
                                struct nftnl_set_elem *e = nftnl_set_elem_alloc();
                                uint32_t key = htonl(0x0ad50000u + 4 * i);
                                nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &key, sizeof(key));
                                nftnl_set_elem_add(s, e);
                        }
                        nftnl_set_elems_nlmsg_build_payload(nlh, s);
                }
                nftnl_set_free(s);
                break;
        }
        }
        nlh->nlmsg_pid = pid;
        d->len += NLMSG_ALIGN(nlh->nlmsg_len);
        assert_true(d->len <= sizeof(d->buf));
        return nlh;
}

/* --- one message ------------------------------------------------------------ */

static const struct event_case {
        const char *name;
        uint16_t type;
        uint16_t family;
        enum kind kind;
        const char *table;
        const char *object;
        unsigned n;
        uint32_t pid;
        int want;         /* nft_parse_event()'s return */
        unsigned what;    /* when 1 */
        int want_object;  /* when 1 */
        unsigned count;   /* when 1 */
        const char *text; /* nft_event_describe(), when 1 */
} event_cases[] = {
    /* What removes something of ours, from someone else. */
    {"delete table", NFT_MSG_DELTABLE, NFPROTO_INET, K_TABLE, TABLE, NULL, 0, OTHER, 1, NFT_LOST_TABLE, -1,
     1, "table inet taplinkd deleted"},
    {"destroy table", 26, NFPROTO_INET, K_TABLE, TABLE, NULL, 0, OTHER, 1, NFT_LOST_TABLE, -1, 1,
     "table inet taplinkd deleted"},
    {"kernel's own", NFT_MSG_DELTABLE, NFPROTO_INET, K_TABLE, TABLE, NULL, 0, 0, 1, NFT_LOST_TABLE, -1, 1,
     "table inet taplinkd deleted"},
    {"delete chain input", NFT_MSG_DELCHAIN, NFPROTO_INET, K_CHAIN, TABLE, "input", 0, OTHER, 1,
     NFT_LOST_CHAIN, NFT_CHAIN_INPUT, 1, "chain input deleted"},
    {"delete chain postrouting", NFT_MSG_DELCHAIN, NFPROTO_INET, K_CHAIN, TABLE, "postrouting", 0, OTHER, 1,
     NFT_LOST_CHAIN, NFT_CHAIN_POSTROUTING, 1, "chain postrouting deleted"},
    {"delete rule", NFT_MSG_DELRULE, NFPROTO_INET, K_RULE, TABLE, "forward", 0, OTHER, 1, NFT_LOST_RULE,
     NFT_CHAIN_FORWARD, 1, "rule deleted from chain forward"},
    {"destroy rule", 28, NFPROTO_INET, K_RULE, TABLE, "input", 0, OTHER, 1, NFT_LOST_RULE, NFT_CHAIN_INPUT,
     1, "rule deleted from chain input"},
    {"delete set", NFT_MSG_DELSET, NFPROTO_INET, K_SET, TABLE, "guests_v4", 0, OTHER, 1, NFT_LOST_SET,
     NFT_SET_GUESTS_V4, 1, "set guests_v4 deleted"},
    {"destroy set", 29, NFPROTO_INET, K_SET, TABLE, "slots_v6", 0, OTHER, 1, NFT_LOST_SET, NFT_SET_SLOTS_V6,
     1, "set slots_v6 deleted"},
    {"delete chain by destroy", 27, NFPROTO_INET, K_CHAIN, TABLE, "forward", 0, OTHER, 1, NFT_LOST_CHAIN,
     NFT_CHAIN_FORWARD, 1, "chain forward deleted"},
    {"delete one element", NFT_MSG_DELSETELEM, NFPROTO_INET, K_ELEMS, TABLE, "slots_v4", 1, OTHER, 1,
     NFT_LOST_ELEMENTS, NFT_SET_SLOTS_V4, 1, "element deleted from set slots_v4"},
    {"delete three elements", NFT_MSG_DELSETELEM, NFPROTO_INET, K_ELEMS, TABLE, "guests_v6", 3, OTHER, 1,
     NFT_LOST_ELEMENTS, NFT_SET_GUESTS_V6, 3, "3 elements deleted from set guests_v6"},
    {"destroy element", 30, NFPROTO_INET, K_ELEMS, TABLE, "slots_v4", 1, OTHER, 1, NFT_LOST_ELEMENTS,
     NFT_SET_SLOTS_V4, 1, "element deleted from set slots_v4"},
    /* What does not concern us. */
    {"our own deletion", NFT_MSG_DELSETELEM, NFPROTO_INET, K_ELEMS, TABLE, "slots_v4", 1, OWN, 0, 0, 0, 0,
     NULL},
    {"our own table", NFT_MSG_DELTABLE, NFPROTO_INET, K_TABLE, TABLE, NULL, 0, OWN, 0, 0, 0, 0, NULL},
    {"another table", NFT_MSG_DELTABLE, NFPROTO_INET, K_TABLE, "filter", NULL, 0, OTHER, 0, 0, 0, 0, NULL},
    {"a table named like ours, longer", NFT_MSG_DELTABLE, NFPROTO_INET, K_TABLE, "taplinkd2", NULL, 0, OTHER,
     0, 0, 0, 0, NULL},
    {"another family", NFT_MSG_DELTABLE, NFPROTO_IPV4, K_TABLE, TABLE, NULL, 0, OTHER, 0, 0, 0, 0, NULL},
    {"a foreign chain in our table", NFT_MSG_DELCHAIN, NFPROTO_INET, K_CHAIN, TABLE, "mine", 0, OTHER, 0, 0,
     0, 0, NULL},
    {"a rule of a foreign chain", NFT_MSG_DELRULE, NFPROTO_INET, K_RULE, TABLE, "mine", 0, OTHER, 0, 0, 0, 0,
     NULL},
    {"an anonymous set", NFT_MSG_DELSET, NFPROTO_INET, K_SET, TABLE, "__set0", 0, OTHER, 0, 0, 0, 0, NULL},
    {"a foreign set's elements", NFT_MSG_DELSETELEM, NFPROTO_INET, K_ELEMS, TABLE, "myset", 2, OTHER, 0, 0,
     0, 0, NULL},
    {"a new table", NFT_MSG_NEWTABLE, NFPROTO_INET, K_TABLE, TABLE, NULL, 0, OTHER, 0, 0, 0, 0, NULL},
    {"new elements", NFT_MSG_NEWSETELEM, NFPROTO_INET, K_ELEMS, TABLE, "slots_v4", 2, OTHER, 0, 0, 0, 0,
     NULL},
    {"a new rule", NFT_MSG_NEWRULE, NFPROTO_INET, K_RULE, TABLE, "forward", 0, OTHER, 0, 0, 0, 0, NULL},
};

static void test_events(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(event_cases); i++) {
                const struct event_case *c = &event_cases[i];
                struct datagram d = {0};
                struct nft_event ev = {.what = 0xdead};
                char text[NFT_EVENT_DESCRIPTION_MAX];

                const struct nlmsghdr *nlh =
                    put(&d, c->type, c->family, c->kind, c->table, c->object, c->n, c->pid);
                int r = nft_parse_event(nlh, TABLE, OWN, &ev);
                if (r != c->want)
                        fail_msg("%s: %d, want %d", c->name, r, c->want);
                if (r != 1) {
                        assert_int_equal(ev.what, 0xdead); /* untouched */
                        continue;
                }
                assert_int_equal(ev.what, c->what);
                assert_int_equal(ev.object, c->want_object);
                assert_int_equal(ev.count, c->count);
                nft_event_describe(&ev, TABLE, text, sizeof(text));
                assert_string_equal(text, c->text);
        }
}

/* own_portid 0: no socket is ours, so port 0 (the kernel) is not either. */
static void test_no_own_port(void **state)
{
        struct datagram d = {0};
        struct nft_event ev;
        const struct nlmsghdr *nlh = put(&d, NFT_MSG_DELTABLE, NFPROTO_INET, K_TABLE, TABLE, NULL, 0, 0);

        assert_int_equal(nft_parse_event(nlh, TABLE, 0, &ev), 1);
        assert_int_equal(nft_parse_event(nlh, TABLE, OWN, &ev), 1);
}

/* Messages of other subsystems or control messages are not ours. */
static void test_other_messages(void **state)
{
        struct datagram d = {0};
        struct nft_event ev;
        struct nlmsghdr *nlh = put(&d, NFT_MSG_DELTABLE, NFPROTO_INET, K_TABLE, TABLE, NULL, 0, OTHER);

        nlh->nlmsg_type = NFNL_SUBSYS_CTNETLINK << 8 | NFT_MSG_DELTABLE;
        assert_int_equal(nft_parse_event(nlh, TABLE, OWN, &ev), 0);
        nlh->nlmsg_type = NLMSG_ERROR;
        assert_int_equal(nft_parse_event(nlh, TABLE, OWN, &ev), 0);
        nlh->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWGEN;
        assert_int_equal(nft_parse_event(nlh, TABLE, OWN, &ev), 0);
}

static void test_event_describe(void **state)
{
        char text[NFT_EVENT_DESCRIPTION_MAX];
        struct nft_event ev = {.what = NFT_LOST_RULE, .object = NFT_CHAIN_FORWARD, .count = 4};

        nft_event_describe(&ev, TABLE, text, sizeof(text));
        assert_string_equal(text, "4 rules deleted from chain forward");
        ev = (struct nft_event){.what = NFT_LOST_EVENTS, .object = -1, .count = 1};
        nft_event_describe(&ev, TABLE, text, sizeof(text));
        assert_string_equal(text, "events lost");
        ev = (struct nft_event){.what = NFT_LOST_SET, .object = 99, .count = 1};
        nft_event_describe(&ev, TABLE, text, sizeof(text));
        assert_string_equal(text, "set ? deleted");
        /* Truncated, NUL-terminated. */
        ev = (struct nft_event){.what = NFT_LOST_TABLE, .object = -1, .count = 1};
        nft_event_describe(&ev, TABLE, text, 8);
        assert_string_equal(text, "table i");
}

/* --- malformed ------------------------------------------------------------------- */

static void test_malformed(void **state)
{
        struct nft_event ev = {.what = 0xdead};
        struct datagram d = {0};

        /* A deletion too short for its nfgenmsg. */
        struct nlmsghdr *nlh = put(&d, NFT_MSG_DELTABLE, NFPROTO_INET, K_TABLE, TABLE, NULL, 0, OTHER);
        nlh->nlmsg_len = NLMSG_HDRLEN + 2;
        assert_int_equal(nft_parse_event(nlh, TABLE, OWN, &ev), -EBADMSG);

        /* Without its table's name. */
        d.len = 0;
        nlh = nftnl_nlmsg_build_hdr((char *)d.buf, NFT_MSG_DELTABLE, NFPROTO_INET, 0, 0);
        nlh->nlmsg_pid = OTHER;
        assert_int_equal(nft_parse_event(nlh, TABLE, OWN, &ev), -EBADMSG);

        /* A chain deletion without the chain's name. */
        mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, TABLE);
        nlh->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_DELCHAIN;
        assert_int_equal(nft_parse_event(nlh, TABLE, OWN, &ev), -EBADMSG);

        /* A name without its NUL. */
        d.len = 0;
        nlh = nftnl_nlmsg_build_hdr((char *)d.buf, NFT_MSG_DELTABLE, NFPROTO_INET, 0, 0);
        nlh->nlmsg_pid = OTHER;
        mnl_attr_put(nlh, NFTA_TABLE_NAME, strlen(TABLE), TABLE);
        assert_int_equal(nft_parse_event(nlh, TABLE, OWN, &ev), -EBADMSG);

        /* Elements that are not a nest. */
        d.len = 0;
        nlh = nftnl_nlmsg_build_hdr((char *)d.buf, NFT_MSG_DELSETELEM, NFPROTO_INET, 0, 0);
        nlh->nlmsg_pid = OTHER;
        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, TABLE);
        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "slots_v4");
        mnl_attr_put(nlh, NFTA_SET_ELEM_LIST_ELEMENTS, 2, "xy");
        assert_int_equal(nft_parse_event(nlh, TABLE, OWN, &ev), -EBADMSG);
        assert_int_equal(ev.what, 0xdead);

        /* Our own malformed message is still ours: the port is all it takes. */
        nlh->nlmsg_pid = OWN;
        assert_int_equal(nft_parse_event(nlh, TABLE, OWN, &ev), 0);
}

/* --- datagrams --------------------------------------------------------------------- */

struct seen {
        struct nft_event ev[16];
        size_t n;
};

static void collect(const struct nft_event *ev, void *userdata)
{
        struct seen *s = userdata;
        assert_true(s->n < ELEMENTSOF(s->ev));
        s->ev[s->n++] = *ev;
}

/* What `nft flush ruleset` sends with our table and a neighbour's: per
 * table its sets, chains and itself, then the generation. */
static void test_datagram_flush_ruleset(void **state)
{
        struct datagram d = {0};
        struct seen s = {0};
        static const char *const sets[] = {"slots_v4", "slots_v6", "guests_v4", "guests_v6", "__set0"};
        static const char *const chains[] = {"input", "forward", "postrouting"};

        for (size_t i = 0; i < ELEMENTSOF(sets); i++)
                put(&d, NFT_MSG_DELSET, NFPROTO_INET, K_SET, TABLE, sets[i], 0, OTHER);
        for (size_t i = 0; i < ELEMENTSOF(chains); i++)
                put(&d, NFT_MSG_DELCHAIN, NFPROTO_INET, K_CHAIN, TABLE, chains[i], 0, OTHER);
        put(&d, NFT_MSG_DELTABLE, NFPROTO_INET, K_TABLE, TABLE, NULL, 0, OTHER);
        put(&d, NFT_MSG_DELCHAIN, NFPROTO_IPV4, K_CHAIN, "filter", "input", 0, OTHER);
        put(&d, NFT_MSG_DELTABLE, NFPROTO_IPV4, K_TABLE, "filter", NULL, 0, OTHER);
        struct nlmsghdr *gen = (struct nlmsghdr *)(d.buf + d.len);
        nftnl_nlmsg_build_hdr((char *)gen, NFT_MSG_NEWGEN, AF_UNSPEC, 0, 0);
        d.len += NLMSG_ALIGN(gen->nlmsg_len);

        assert_int_equal(nft_parse_events(d.buf, d.len, TABLE, OWN, collect, &s), 8);
        assert_int_equal(s.n, 8);
        for (size_t i = 0; i < 4; i++) {
                assert_int_equal(s.ev[i].what, NFT_LOST_SET);
                assert_int_equal(s.ev[i].object, nft_set_id_from_name(sets[i]));
        }
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(s.ev[4 + i].what, NFT_LOST_CHAIN);
                assert_int_equal(s.ev[4 + i].object, (int)i);
        }
        assert_int_equal(s.ev[7].what, NFT_LOST_TABLE);
}

/* Our own commit, then someone else's, in one buffer (the kernel never
 * mixes them in one datagram, but the parser does not count on it). */
static void test_datagram_mixed(void **state)
{
        struct datagram d = {0};
        struct seen s = {0};

        put(&d, NFT_MSG_DELSETELEM, NFPROTO_INET, K_ELEMS, TABLE, "slots_v4", 4, OWN);
        put(&d, NFT_MSG_NEWSETELEM, NFPROTO_INET, K_ELEMS, TABLE, "slots_v4", 4, OTHER);
        put(&d, NFT_MSG_DELSETELEM, NFPROTO_INET, K_ELEMS, TABLE, "guests_v4", 1, OTHER);
        put(&d, NFT_MSG_DELSETELEM, NFPROTO_INET, K_ELEMS, TABLE, "guests_v4", 1, OTHER);
        assert_int_equal(nft_parse_events(d.buf, d.len, TABLE, OWN, collect, &s), 2);
        assert_int_equal(s.ev[0].what, NFT_LOST_ELEMENTS);
        assert_int_equal(s.ev[0].object, NFT_SET_GUESTS_V4);
        assert_int_equal(s.ev[1].object, NFT_SET_GUESTS_V4);
}

/* A malformed deletion among good ones is reported as "events lost", in
 * its place; the others still are. */
static void test_datagram_malformed_message(void **state)
{
        struct datagram d = {0};
        struct seen s = {0};

        put(&d, NFT_MSG_DELRULE, NFPROTO_INET, K_RULE, TABLE, "forward", 0, OTHER);
        struct nlmsghdr *bad =
            nftnl_nlmsg_build_hdr((char *)d.buf + d.len, NFT_MSG_DELSET, NFPROTO_INET, 0, 0);
        bad->nlmsg_pid = OTHER;
        d.len += NLMSG_ALIGN(bad->nlmsg_len);
        put(&d, NFT_MSG_DELCHAIN, NFPROTO_INET, K_CHAIN, TABLE, "input", 0, OTHER);

        assert_int_equal(nft_parse_events(d.buf, d.len, TABLE, OWN, collect, &s), 3);
        assert_int_equal(s.ev[0].what, NFT_LOST_RULE);
        assert_int_equal(s.ev[1].what, NFT_LOST_EVENTS);
        assert_int_equal(s.ev[2].what, NFT_LOST_CHAIN);
}

static void test_datagram_framing(void **state)
{
        struct datagram d = {0};
        struct seen s = {0};

        put(&d, NFT_MSG_DELTABLE, NFPROTO_INET, K_TABLE, TABLE, NULL, 0, OTHER);
        /* Cut short, too long, a length below a header: nothing reported. */
        assert_int_equal(nft_parse_events(d.buf, d.len - 1, TABLE, OWN, collect, &s), -EBADMSG);
        ((struct nlmsghdr *)d.buf)->nlmsg_len = (uint32_t)d.len + 4;
        assert_int_equal(nft_parse_events(d.buf, d.len, TABLE, OWN, collect, &s), -EBADMSG);
        ((struct nlmsghdr *)d.buf)->nlmsg_len = 8;
        assert_int_equal(nft_parse_events(d.buf, d.len, TABLE, OWN, collect, &s), -EBADMSG);
        ((struct nlmsghdr *)d.buf)->nlmsg_len = 0x80000000u;
        assert_int_equal(nft_parse_events(d.buf, d.len, TABLE, OWN, collect, &s), -EBADMSG);
        assert_int_equal(s.n, 0);
        /* Empty: nothing. */
        assert_int_equal(nft_parse_events(d.buf, 0, TABLE, OWN, collect, &s), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_events),           cmocka_unit_test(test_no_own_port),
            cmocka_unit_test(test_other_messages),   cmocka_unit_test(test_event_describe),
            cmocka_unit_test(test_malformed),        cmocka_unit_test(test_datagram_flush_ruleset),
            cmocka_unit_test(test_datagram_mixed),   cmocka_unit_test(test_datagram_malformed_message),
            cmocka_unit_test(test_datagram_framing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
// MODULES: conntrack-build slot config config-values
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "conntrack-build.h"
#include "macro.h"
#include "slot.h"

/* The default configuration (10.213.0.0/16 in /30s, fd74:6c00::/48 in
 * /64s), with IPv6 or not, or a /31 pool. */
static void make_config(struct config *c, bool ipv6, unsigned ipv4_prefix)
{
        char *warning = NULL, *error = NULL;

        assert_int_equal(config_init(c, &warning), 0);
        free(warning);
        c->ipv6 = ipv6;
        if (ipv4_prefix)
                c->ipv4_prefix = ipv4_prefix;
        if (config_finish(c, &error) < 0)
                fail_msg("config_finish: %s", error);
}

static struct in_addr a4(const char *s)
{
        struct in_addr a;
        assert_int_equal(inet_pton(AF_INET, s, &a), 1);
        return a;
}

static struct in6_addr a6(const char *s)
{
        struct in6_addr a;
        assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
        return a;
}

/* ---- the filtered flush, parsed back ---- */

struct parsed_flush {
        uint16_t tuple_type; /* CTA_TUPLE_ORIG or _REPLY */
        uint16_t ip_type;    /* CTA_IP_V4_SRC or _DST */
        struct in_addr addr;
        uint16_t flags_type; /* CTA_FILTER_ORIG_FLAGS or _REPLY_FLAGS */
        uint32_t flags;
        int n_top; /* top-level attributes */
};

static void parse_flush(const struct nlmsghdr *nlh, struct parsed_flush *p)
{
        const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *a;

        assert_int_equal(nlh->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE);
        assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_int_equal(nfg->nfgen_family, AF_INET);
        assert_int_equal(nfg->version, NFNETLINK_V0);
        *p = (struct parsed_flush){0};
        mnl_attr_for_each(a, nlh, sizeof(*nfg))
        {
                const struct nlattr *in, *ip;

                p->n_top++;
                if (mnl_attr_get_type(a) == CTA_FILTER) {
                        int n = 0;
                        mnl_attr_for_each_nested(in, a)
                        {
                                p->flags_type = mnl_attr_get_type(in);
                                p->flags = mnl_attr_get_u32(in);
                                n++;
                        }
                        assert_int_equal(n, 1);
                        continue;
                }
                p->tuple_type = mnl_attr_get_type(a);
                mnl_attr_for_each_nested(in, a)
                {
                        assert_int_equal(mnl_attr_get_type(in), CTA_TUPLE_IP);
                        mnl_attr_for_each_nested(ip, in)
                        {
                                assert_int_equal(mnl_attr_get_payload_len(ip), 4);
                                p->ip_type = mnl_attr_get_type(ip);
                                memcpy(&p->addr, mnl_attr_get_payload(ip), 4);
                        }
                }
        }
        assert_int_equal(p->n_top, 2);
}

static void test_flush4_each_field(void **state)
{
        static const struct {
                enum conntrack_field field;
                uint16_t tuple, ip, flags_type;
                uint32_t flags; /* the kernel's CTA_FILTER_F_CTA_IP_SRC = 1, _DST = 2 */
        } cases[] = {
            {CONNTRACK_ORIG_SRC, CTA_TUPLE_ORIG, CTA_IP_V4_SRC, CTA_FILTER_ORIG_FLAGS, 1},
            {CONNTRACK_ORIG_DST, CTA_TUPLE_ORIG, CTA_IP_V4_DST, CTA_FILTER_ORIG_FLAGS, 2},
            {CONNTRACK_REPLY_SRC, CTA_TUPLE_REPLY, CTA_IP_V4_SRC, CTA_FILTER_REPLY_FLAGS, 1},
            {CONNTRACK_REPLY_DST, CTA_TUPLE_REPLY, CTA_IP_V4_DST, CTA_FILTER_REPLY_FLAGS, 2},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint8_t buf[CONNTRACK_MSG_MAX];
                struct parsed_flush p;
                struct nlmsghdr *nlh = conntrack_build_flush4(buf, a4("10.213.0.30"), cases[i].field, 77);

                assert_true(nlh->nlmsg_len <= CONNTRACK_MSG_MAX);
                assert_int_equal(nlh->nlmsg_seq, 77);
                parse_flush(nlh, &p);
                assert_int_equal(p.tuple_type, cases[i].tuple);
                assert_int_equal(p.ip_type, cases[i].ip);
                assert_int_equal(p.addr.s_addr, a4("10.213.0.30").s_addr);
                assert_int_equal(p.flags_type, cases[i].flags_type);
                assert_int_equal(p.flags, cases[i].flags);
        }
}

static void test_slot_flushes(void **state)
{
        static const struct {
                bool ipv6;
                unsigned prefix, slot;
                const char *guest;
        } cases[] = {
            {true, 0, 0, "10.213.0.2"},
            {true, 0, 7, "10.213.0.30"},
            {false, 0, 16383, "10.213.255.254"},
            {true, 31, 7, "10.213.0.15"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint8_t buf[CONNTRACK_SLOT_FLUSHES * CONNTRACK_MSG_MAX];
                bool seen[_CONNTRACK_FIELD_MAX] = {0};
                const struct nlmsghdr *nlh = (const void *)buf;
                struct config c;
                uint32_t seq = 5;
                ssize_t len;
                int left, n = 0;

                make_config(&c, cases[i].ipv6, cases[i].prefix);
                len = conntrack_put_slot_flushes(buf, sizeof(buf), &c, cases[i].slot, &seq);
                assert_true(len > 0);
                assert_int_equal(seq, 5 + CONNTRACK_SLOT_FLUSHES);
                left = (int)len;
                for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left), n++) {
                        struct parsed_flush p;

                        assert_int_equal(nlh->nlmsg_seq, 5 + (unsigned)n);
                        parse_flush(nlh, &p);
                        assert_int_equal(p.addr.s_addr, a4(cases[i].guest).s_addr);
                        seen[(p.tuple_type == CTA_TUPLE_REPLY) * 2 + (p.ip_type == CTA_IP_V4_DST)] = true;
                }
                assert_int_equal(left, 0);
                assert_int_equal(n, CONNTRACK_SLOT_FLUSHES);
                for (int f = 0; f < _CONNTRACK_FIELD_MAX; f++)
                        assert_true(seen[f]);
                config_done(&c);
        }
}

static void test_slot_flushes_no_room(void **state)
{
        uint8_t buf[CONNTRACK_SLOT_FLUSHES * CONNTRACK_MSG_MAX];
        struct config c;
        uint32_t seq = 1;

        make_config(&c, true, 0);
        memset(buf, 0xa5, sizeof(buf));
        assert_int_equal(conntrack_put_slot_flushes(buf, sizeof(buf) - 1, &c, 3, &seq), -ENOBUFS);
        assert_int_equal(seq, 1);
        assert_int_equal(buf[0], 0xa5);
        config_done(&c);
}

static void test_dump(void **state)
{
        static const int families[] = {AF_UNSPEC, AF_INET, AF_INET6};

        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                uint8_t buf[CONNTRACK_MSG_MAX];
                struct nlmsghdr *nlh = conntrack_build_dump(buf, families[i], 9);
                const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);

                assert_int_equal(nlh->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET);
                assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
                assert_int_equal(nlh->nlmsg_seq, 9);
                assert_int_equal(nfg->nfgen_family, families[i]);
                assert_int_equal(nlh->nlmsg_len, mnl_nlmsg_size(sizeof(*nfg)));
        }
}

/* ---- deleting one dumped entry ---- */

static struct nf_conntrack *entry4(const char *os, const char *od, const char *rs, const char *rd)
{
        struct nf_conntrack *ct = nfct_new();

        assert_non_null(ct);
        nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, AF_INET);
        nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, IPPROTO_UDP);
        nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_SRC, a4(os).s_addr);
        nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_DST, a4(od).s_addr);
        nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(1234));
        nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(53));
        nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, AF_INET);
        nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, IPPROTO_UDP);
        nfct_set_attr_u32(ct, ATTR_REPL_IPV4_SRC, a4(rs).s_addr);
        nfct_set_attr_u32(ct, ATTR_REPL_IPV4_DST, a4(rd).s_addr);
        return ct;
}

static struct nf_conntrack *entry6(const char *os, const char *od, const char *rs, const char *rd)
{
        struct nf_conntrack *ct = nfct_new();
        struct in6_addr a;

        assert_non_null(ct);
        nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, AF_INET6);
        nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, IPPROTO_UDP);
        a = a6(os);
        nfct_set_attr(ct, ATTR_ORIG_IPV6_SRC, &a);
        a = a6(od);
        nfct_set_attr(ct, ATTR_ORIG_IPV6_DST, &a);
        nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, AF_INET6);
        a = a6(rs);
        nfct_set_attr(ct, ATTR_REPL_IPV6_SRC, &a);
        a = a6(rd);
        nfct_set_attr(ct, ATTR_REPL_IPV6_DST, &a);
        return ct;
}

static void test_delete(void **state)
{
        struct nf_conntrack *ct = entry4("10.213.0.30", "192.0.2.2", "192.0.2.2", "192.0.2.1");
        struct nf_conntrack *back = nfct_new();
        uint8_t buf[CONNTRACK_MSG_MAX];
        const struct nfgenmsg *nfg;
        struct nlmsghdr *nlh;

        nfct_set_attr_u16(ct, ATTR_ZONE, 3);
        nfct_set_attr_u32(ct, ATTR_ID, 0xdeadbeef);
        nfct_set_attr_u32(ct, ATTR_MARK, 42);
        assert_int_equal(conntrack_build_delete(buf, ct, 11, &nlh), 0);
        assert_true(nlh->nlmsg_len <= CONNTRACK_MSG_MAX);
        assert_int_equal(nlh->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE);
        assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_int_equal(nlh->nlmsg_seq, 11);
        nfg = mnl_nlmsg_get_payload(nlh);
        assert_int_equal(nfg->nfgen_family, AF_INET);

        /* What names the entry, and nothing else. */
        assert_true(nfct_nlmsg_parse(nlh, back) >= 0);
        assert_int_equal(nfct_get_attr_u32(back, ATTR_ORIG_IPV4_SRC), a4("10.213.0.30").s_addr);
        assert_int_equal(nfct_get_attr_u32(back, ATTR_ORIG_IPV4_DST), a4("192.0.2.2").s_addr);
        assert_int_equal(nfct_get_attr_u16(back, ATTR_ORIG_PORT_SRC), htons(1234));
        assert_int_equal(nfct_get_attr_u16(back, ATTR_ORIG_PORT_DST), htons(53));
        assert_int_equal(nfct_get_attr_u8(back, ATTR_ORIG_L4PROTO), IPPROTO_UDP);
        assert_int_equal(nfct_get_attr_u16(back, ATTR_ZONE), 3);
        assert_int_equal(nfct_get_attr_u32(back, ATTR_ID), 0xdeadbeef);
        assert_false(nfct_attr_is_set(back, ATTR_REPL_IPV4_SRC));
        assert_false(nfct_attr_is_set(back, ATTR_MARK));
        nfct_destroy(back);
        nfct_destroy(ct);
}

static void test_delete_needs_tuple(void **state)
{
        struct nf_conntrack *ct = nfct_new();
        uint8_t buf[CONNTRACK_MSG_MAX];
        struct nlmsghdr *nlh = NULL;

        assert_int_equal(conntrack_build_delete(buf, ct, 1, &nlh), -EINVAL);
        assert_null(nlh);
        nfct_destroy(ct);
}

/* ---- which slots an entry is about ---- */

static void check_slots(const struct config *c, struct nf_conntrack *ct, unsigned n, const unsigned *want)
{
        unsigned got[_CONNTRACK_FIELD_MAX];

        assert_int_equal(conntrack_entry_slots(c, ct, got), n);
        for (unsigned i = 0; i < n; i++)
                assert_int_equal(got[i], want[i]);
        nfct_destroy(ct);
}

static void test_entry_slots_ipv4(void **state)
{
        struct config c;

        make_config(&c, true, 0);
        /* Slot 7's guest is 10.213.0.30, in each of the four places. */
        check_slots(&c, entry4("10.213.0.30", "192.0.2.2", "192.0.2.2", "192.0.2.1"), 1, (unsigned[]){7});
        check_slots(&c, entry4("192.0.2.2", "10.213.0.30", "10.213.0.30", "192.0.2.2"), 1, (unsigned[]){7});
        check_slots(&c, entry4("192.0.2.9", "192.0.2.1", "10.213.0.30", "192.0.2.9"), 1, (unsigned[]){7});
        check_slots(&c, entry4("192.0.2.9", "192.0.2.10", "192.0.2.10", "10.213.0.30"), 1, (unsigned[]){7});
        /* Two slots (a hairpin through a published port), each once. */
        check_slots(&c, entry4("10.213.0.30", "192.0.2.1", "10.213.0.2", "10.213.0.30"), 2,
                    (unsigned[]){7, 0});
        /* Not a guest: the gateway, the subnet base, the broadcast, out
         * of the pool, beyond the slot count. */
        check_slots(&c, entry4("10.213.0.29", "192.0.2.2", "192.0.2.2", "10.213.0.29"), 0, NULL);
        check_slots(&c, entry4("10.213.0.28", "10.213.0.31", "10.213.0.31", "10.213.0.28"), 0, NULL);
        check_slots(&c, entry4("10.214.0.30", "10.212.0.30", "10.212.0.30", "10.214.0.30"), 0, NULL);
        config_done(&c);

        /* /31: the guest is B4+1. */
        make_config(&c, false, 31);
        check_slots(&c, entry4("10.213.0.15", "192.0.2.2", "192.0.2.2", "10.213.0.14"), 1, (unsigned[]){7});
        config_done(&c);
}

static void test_entry_slots_ipv6(void **state)
{
        struct config c;

        make_config(&c, true, 0);
        check_slots(&c, entry6("fd74:6c00:0:7::2", "2001:db8::2", "2001:db8::2", "fd74:6c00:0:7::2"), 1,
                    (unsigned[]){7});
        check_slots(&c, entry6("2001:db8::9", "2001:db8::1", "fd74:6c00:0:3::2", "2001:db8::9"), 1,
                    (unsigned[]){3});
        /* The gateway, another host of the /64, another pool. */
        check_slots(&c,
                    entry6("fd74:6c00:0:7::1", "fd74:6c00:0:7::3", "fd74:6c00:0:7::3", "fd74:6c01:0:7::2"),
                    0, NULL);
        config_done(&c);

        /* IPv6 off: no guest has an IPv6 address. */
        make_config(&c, false, 0);
        check_slots(&c, entry6("fd74:6c00:0:7::2", "2001:db8::2", "2001:db8::2", "fd74:6c00:0:7::2"), 0,
                    NULL);
        config_done(&c);
}

static void test_entry_slots_unset(void **state)
{
        struct config c;

        make_config(&c, true, 0);
        check_slots(&c, nfct_new(), 0, NULL);
        config_done(&c);
}

/* A dumped entry as the kernel sends it: IPCTNL_MSG_CT_NEW. */
static struct nlmsghdr *put_entry(uint8_t *buf, struct nf_conntrack *ct, uint16_t type)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nfgenmsg *nfg;

        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
        nlh->nlmsg_flags = NLM_F_MULTI;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
        assert_int_equal(nfct_nlmsg_build(nlh, ct), 0);
        nfct_destroy(ct);
        return nlh;
}

static void test_parse_entry(void **state)
{
        uint8_t buf[1024];
        unsigned slots[_CONNTRACK_FIELD_MAX];
        struct nf_conntrack *entry;
        struct nlmsghdr *nlh;
        struct config c;

        make_config(&c, true, 0);

        /* One entry, two slots: slot 7 sent to slot 0's published port. */
        nlh = put_entry(buf, entry4("10.213.0.30", "192.0.2.1", "10.213.0.2", "10.213.0.30"),
                        IPCTNL_MSG_CT_NEW);
        entry = nfct_new();
        assert_int_equal(conntrack_parse_entry(&c, nlh, entry, slots), 2);
        assert_int_equal(slots[0], 7);
        assert_int_equal(slots[1], 0);
        assert_int_equal(nfct_get_attr_u32(entry, ATTR_ORIG_IPV4_DST), a4("192.0.2.1").s_addr);
        nfct_destroy(entry);

        nlh = put_entry(buf, entry6("2001:db8::9", "fd74:6c00:0:5::2", "fd74:6c00:0:5::2", "2001:db8::9"),
                        IPCTNL_MSG_CT_NEW);
        entry = nfct_new();
        assert_int_equal(conntrack_parse_entry(&c, nlh, entry, slots), 1);
        assert_int_equal(slots[0], 5);
        nfct_destroy(entry);

        /* Not an entry: another message type, or too short for its
         * nfgenmsg (which the library would read regardless). */
        nlh = put_entry(buf, entry4("10.213.0.30", "192.0.2.1", "192.0.2.1", "10.213.0.30"),
                        IPCTNL_MSG_CT_DELETE);
        entry = nfct_new();
        assert_int_equal(conntrack_parse_entry(&c, nlh, entry, slots), -EINVAL);
        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
        nlh->nlmsg_len = sizeof(*nlh) + 2;
        assert_int_equal(conntrack_parse_entry(&c, nlh, entry, slots), -EINVAL);
        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_CT_NEW;
        nlh->nlmsg_len = mnl_nlmsg_size(sizeof(struct nfgenmsg));
        assert_int_equal(conntrack_parse_entry(&c, nlh, entry, slots), -EINVAL);
        nfct_destroy(entry);
        config_done(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_flush4_each_field),
            cmocka_unit_test(test_slot_flushes),
            cmocka_unit_test(test_slot_flushes_no_room),
            cmocka_unit_test(test_dump),
            cmocka_unit_test(test_delete),
            cmocka_unit_test(test_delete_needs_tuple),
            cmocka_unit_test(test_entry_slots_ipv4),
            cmocka_unit_test(test_entry_slots_ipv6),
            cmocka_unit_test(test_entry_slots_unset),
            cmocka_unit_test(test_parse_entry),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

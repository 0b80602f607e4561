/* SPDX-License-Identifier: MIT */
// MODULES: dhcp6 dns-name packet
/* The DHCPv6 server's answers (src/dhcp6.c): every option of every reply,
 * where it goes and its checksum; the one address and nothing else; the
 * IAs it refuses and the addresses it withdraws. What it must drop and
 * what is malformed: test-dhcp6-refused.c. */
#include "dhcp6-test.h"

static void test_solicit(void **state)
{
        struct msg m;
        struct guest_reply r;
        struct reply6 rep;
        enum dhcp6_event ev;

        solicit(&m, false);
        assert_int_equal(handle(&m, &r, &ev), 1);
        assert_int_equal(ev, DHCP6_SOLICIT);
        parse_reply(&r, &rep);
        assert_int_equal(rep.type, ADVERTISE);
        check_ids(&rep, true);
        check_ia_na(find(&rep, IA_NA, 0), 0x0a0b0c0d, NULL, 0); /* the hint ignored */
        check_dns(&rep);
        assert_int_equal(count(&rep, PREFERENCE), 1);
        assert_int_equal(find(&rep, PREFERENCE, 0)->len, 1);
        assert_int_equal(find(&rep, PREFERENCE, 0)->data[0], 255);
        assert_int_equal(rep.n, 6);

        solicit(&m, true);
        assert_int_equal(handle(&m, &r, &ev), 1);
        parse_reply(&r, &rep);
        assert_int_equal(rep.type, REPLY);
        check_ids(&rep, true);
        assert_int_equal(count(&rep, RAPID), 1);
        assert_int_equal(find(&rep, RAPID, 0)->len, 0);
        assert_int_equal(count(&rep, PREFERENCE), 0);
        check_ia_na(find(&rep, IA_NA, 0), 0x0a0b0c0d, NULL, 0);
        check_dns(&rep);
        assert_int_equal(rep.n, 6);
}

/* REQUEST, RENEW, REBIND: the same lease; a stale address in the IA_NA
 * comes back with lifetimes 0, a few of them at most. */
static void test_request_renew_rebind(void **state)
{
        static const char *const addrs[] = {"fd74:6c00:0:7::2", "fd74:6c00:0:3::2", "2001:db8::9", "fd74::1",
                                            "fd74::2",          "fd74::3",          "fd74::4"};
        static const struct {
                uint8_t type;
                enum dhcp6_event ev;
        } cases[] = {{REQUEST, DHCP6_REQUEST}, {RENEW, DHCP6_RENEW}, {REBIND, DHCP6_REBIND}};
        struct msg m;
        struct guest_reply r;
        struct reply6 rep;
        enum dhcp6_event ev;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                for (size_t n = 0; n <= ELEMENTSOF(addrs); n++) {
                        msg_start(&m, cases[i].type);
                        client_id(&m);
                        if (cases[i].type != REBIND)
                                server_id(&m);
                        extras(&m);
                        ia(&m, IA_NA, 7, addrs, n);
                        assert_int_equal(handle(&m, &r, &ev), 1);
                        assert_int_equal(ev, cases[i].ev);
                        parse_reply(&r, &rep);
                        assert_int_equal(rep.type, REPLY);
                        check_ids(&rep, true);
                        check_ia_na(find(&rep, IA_NA, 0), 7, addrs + 1, n ? MIN(n - 1, DHCP6_STALE_MAX) : 0);
                        check_dns(&rep);
                        assert_int_equal(rep.n, 5);
                }
        }
}

/* The first IA_NA is served wherever it is; other IAs come back with a
 * status, up to DHCP6_IA_MAX IAs in all. */
static void test_other_ias(void **state)
{
        static const char *const pd[] = {"2001:db8:1::"};
        static const char *const ta[] = {"fd74:6c00:0:7::99"};
        struct msg m;
        struct guest_reply r;
        struct reply6 rep;
        const struct opt6 *o;

        msg_start(&m, SOLICIT);
        client_id(&m);
        ia(&m, IA_PD, 1, pd, 1);
        ia(&m, IA_TA, 2, ta, 1);
        ia(&m, IA_NA, 3, NULL, 0);
        ia(&m, IA_NA, 4, NULL, 0);
        ia(&m, IA_PD, 5, NULL, 0);
        assert_int_equal(handle(&m, &r, NULL), 1);
        parse_reply(&r, &rep);
        assert_int_equal(rep.type, ADVERTISE);
        check_ia_na(find(&rep, IA_NA, 0), 3, NULL, 0);
        assert_int_equal(count(&rep, IA_NA) + count(&rep, IA_TA) + count(&rep, IA_PD), DHCP6_IA_MAX);
        o = find(&rep, IA_PD, 0);
        assert_int_equal(be32(o->data), 1);
        assert_int_equal(be32(o->data + 4) | be32(o->data + 8), 0);
        check_status(o->data + 12, o->len - 12, 6);
        o = find(&rep, IA_TA, 0);
        assert_int_equal(be32(o->data), 2);
        check_status(o->data + 4, o->len - 4, 2);
        o = find(&rep, IA_NA, 1);
        assert_int_equal(be32(o->data), 4);
        check_status(o->data + 12, o->len - 12, 2);
        assert_null(find(&rep, IA_PD, 1));
        check_dns(&rep);

        /* No IA_NA: a SOLICIT hears NoAddrsAvail alone, rapid or not; a
         * REQUEST has its IAs refused and the DNS options. */
        for (int rapid = 0; rapid < 2; rapid++) {
                msg_start(&m, SOLICIT);
                client_id(&m);
                if (rapid)
                        opt(&m, RAPID, NULL, 0);
                ia(&m, IA_PD, 1, pd, 1);
                assert_int_equal(handle(&m, &r, NULL), 1);
                parse_reply(&r, &rep);
                assert_int_equal(rep.type, ADVERTISE);
                check_ids(&rep, true);
                assert_int_equal(rep.n, 3);
                check_status_opt(&rep.opts[2], 2);
        }
        msg_start(&m, REQUEST);
        client_id(&m);
        server_id(&m);
        ia(&m, IA_PD, 1, pd, 1);
        assert_int_equal(handle(&m, &r, NULL), 1);
        parse_reply(&r, &rep);
        assert_int_equal(rep.type, REPLY);
        assert_int_equal(count(&rep, IA_NA), 0);
        check_status(find(&rep, IA_PD, 0)->data + 12, find(&rep, IA_PD, 0)->len - 12, 6);
        check_dns(&rep);
}

static int confirm(const struct guest_net *n, const char *const *addrs, size_t n_addrs, uint16_t code,
                   struct reply6 *rep, struct guest_reply *r)
{
        struct msg m;
        enum dhcp6_event ev;
        int ret;

        msg_start(&m, CONFIRM);
        client_id(&m);
        ia(&m, IA_NA, 1, addrs, n_addrs > 1 ? n_addrs - 1 : n_addrs);
        if (n_addrs > 1)
                ia(&m, code, 2, addrs + n_addrs - 1, 1);
        ret = handle_from(n, m.b, m.len, guest_ll, 547, r, &ev);
        if (ret == 1) {
                assert_int_equal(ev, DHCP6_CONFIRM);
                parse_reply(r, rep);
                assert_int_equal(rep->type, REPLY);
                check_ids(rep, true);
                assert_int_equal(rep->n, 3);
        }
        return ret;
}

static void test_confirm(void **state)
{
        static const char *const in[] = {"fd74:6c00:0:7::2", "fd74:6c00:0:7:ffff::1"};
        static const char *const out[] = {"fd74:6c00:0:7::2", "fd74:6c00:0:8::2"};
        static const char *const edge[] = {"fd74:6c00:0:0::2", "fd74:6c00:0:7::2"};
        struct guest_net n = net;
        struct guest_reply r;
        struct reply6 rep;
        struct msg m;

        assert_int_equal(confirm(&net, in, 2, IA_NA, &rep, &r), 1);
        check_status_opt(&rep.opts[2], 0);
        assert_int_equal(confirm(&net, in, 2, IA_TA, &rep, &r), 1);
        check_status_opt(&rep.opts[2], 0);
        assert_int_equal(confirm(&net, out, 2, IA_NA, &rep, &r), 1);
        check_status_opt(&rep.opts[2], 4);
        assert_int_equal(confirm(&net, out, 2, IA_TA, &rep, &r), 1);
        check_status_opt(&rep.opts[2], 4);
        assert_int_equal(confirm(&net, out + 1, 1, IA_NA, &rep, &r), 1);
        check_status_opt(&rep.opts[2], 4);

        /* Prefixes that end inside an octet: the fourth group may be 0 to
         * 7 in a /61, 0 to 3 in a /62. */
        n.subnet6 = addr6("fd74:6c00:0::");
        n.prefix6 = 61;
        assert_int_equal(confirm(&n, edge, 2, IA_NA, &rep, &r), 1);
        check_status_opt(&rep.opts[2], 0);
        n.prefix6 = 62;
        assert_int_equal(confirm(&n, edge, 2, IA_NA, &rep, &r), 1);
        check_status_opt(&rep.opts[2], 4);
        n.subnet6 = net.guest6; /* and the whole address */
        n.prefix6 = 128;
        assert_int_equal(confirm(&n, in, 1, IA_NA, &rep, &r), 1);
        check_status_opt(&rep.opts[2], 0);
        assert_int_equal(confirm(&n, in, 2, IA_NA, &rep, &r), 1);
        check_status_opt(&rep.opts[2], 4);

        /* No address: no reply (RFC 8415 18.3.3); and one with a server
         * identifier is dropped. */
        msg_start(&m, CONFIRM);
        client_id(&m);
        ia(&m, IA_NA, 1, NULL, 0);
        ia(&m, IA_PD, 2, in, 1);
        expect_none(&net, &m, guest_ll, 0);
        msg_start(&m, CONFIRM);
        client_id(&m);
        server_id(&m);
        ia(&m, IA_NA, 1, in, 1);
        expect_none(&net, &m, guest_ll, 0);
}

static void test_information_request(void **state)
{
        struct msg m;
        struct guest_reply r;
        struct reply6 rep;
        enum dhcp6_event ev;

        for (int with = 0; with < 4; with++) {
                msg_start(&m, INFO_REQUEST);
                if (with & 1)
                        client_id(&m);
                if (with & 2)
                        server_id(&m);
                extras(&m);
                assert_int_equal(handle(&m, &r, &ev), 1);
                assert_int_equal(ev, DHCP6_INFORMATION_REQUEST);
                parse_reply(&r, &rep);
                assert_int_equal(rep.type, REPLY);
                check_ids(&rep, with & 1);
                check_dns(&rep);
                assert_int_equal(rep.n, 3 + (with & 1));
        }
        /* Another server's, or with an IA: dropped (RFC 8415 16.12). */
        msg_start(&m, INFO_REQUEST);
        opt(&m, SERVERID, client_duid, sizeof(client_duid));
        expect_none(&net, &m, guest_ll, 0);
        msg_start(&m, INFO_REQUEST);
        ia(&m, IA_NA, 1, NULL, 0);
        expect_none(&net, &m, guest_ll, 0);
}

static void test_release_decline(void **state)
{
        static const char *const mine[] = {"fd74:6c00:0:7::2"};
        static const uint8_t types[] = {RELEASE, DECLINE};
        struct msg m;
        struct guest_reply r;
        struct reply6 rep;
        enum dhcp6_event ev;

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                msg_start(&m, types[i]);
                client_id(&m);
                server_id(&m);
                ia(&m, IA_NA, 1, mine, 1);
                assert_int_equal(handle(&m, &r, &ev), 1);
                assert_int_equal(ev, types[i] == RELEASE ? DHCP6_RELEASE : DHCP6_DECLINE);
                parse_reply(&r, &rep);
                assert_int_equal(rep.type, REPLY);
                check_ids(&rep, true);
                assert_int_equal(rep.n, 3);
                check_status_opt(&rep.opts[2], 0);
        }
}

static void test_lifetimes_and_dns(void **state)
{
        struct guest_net n = net;
        struct guest_dns d = {0};
        struct guest_reply r;
        struct reply6 rep;
        struct msg m;

        solicit(&m, false);
        n.lease_time = 0xffffffff;
        assert_int_equal(handle_from(&n, m.b, m.len, guest_ll, 547, &r, NULL), 1);
        parse_reply(&r, &rep);
        assert_int_equal(be32(find(&rep, IA_NA, 0)->data + 4), 0x7fffffff);
        assert_int_equal(be32(find(&rep, IA_NA, 0)->data + 8), 0xcccccccc);

        n.lease_time = 86400;
        n.dns = NULL;
        assert_int_equal(handle_from(&n, m.b, m.len, guest_ll, 547, &r, NULL), 1);
        parse_reply(&r, &rep);
        assert_int_equal(count(&rep, DNS) + count(&rep, DOMAINS), 0);
        n.dns = &d;
        strcpy(d.search, "not a/valid.list");
        assert_int_equal(handle_from(&n, m.b, m.len, guest_ll, 547, &r, NULL), 1);
        parse_reply(&r, &rep);
        assert_int_equal(count(&rep, DNS) + count(&rep, DOMAINS), 0);
        strcpy(d.search, "a.example b.example");
        d.n_v6 = 100; /* more than the array: the array's worth */
        assert_int_equal(handle_from(&n, m.b, m.len, guest_ll, 547, &r, NULL), 1);
        parse_reply(&r, &rep);
        assert_int_equal(find(&rep, DNS, 0)->len, 16 * GUEST_DNS_MAX);
        assert_int_equal(find(&rep, DOMAINS, 0)->len, 22);
        assert_memory_equal(find(&rep, DOMAINS, 0)->data, "\1a\7example\0\1b\7example\0", 22);
}

static void test_event_names(void **state)
{
        assert_string_equal(dhcp6_event_to_string(DHCP6_NONE), "NONE");
        assert_string_equal(dhcp6_event_to_string(DHCP6_SOLICIT), "SOLICIT");
        assert_string_equal(dhcp6_event_to_string(DHCP6_INFORMATION_REQUEST), "INFORMATION-REQUEST");
        for (int e = 0; e < _DHCP6_EVENT_MAX; e++)
                assert_non_null(dhcp6_event_to_string((enum dhcp6_event)e));
        assert_string_equal(dhcp6_event_to_string(_DHCP6_EVENT_MAX), "?");
        assert_string_equal(dhcp6_event_to_string((enum dhcp6_event) - 1), "?");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_solicit),
            cmocka_unit_test(test_request_renew_rebind),
            cmocka_unit_test(test_other_ias),
            cmocka_unit_test(test_confirm),
            cmocka_unit_test(test_information_request),
            cmocka_unit_test(test_release_decline),
            cmocka_unit_test(test_lifetimes_and_dns),
            cmocka_unit_test(test_event_names),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}

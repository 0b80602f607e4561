/* SPDX-License-Identifier: MIT */
// MODULES: dhcp6 dns-name packet
/* What the DHCPv6 server (src/dhcp6.c) must not answer: messages RFC 8415
 * 16 has it drop, messages that are not a client's, and malformed ones,
 * each truncation of a real one included; never a reply, never a read
 * beyond the message. */
#include <errno.h>

#include "dhcp6-test.h"

/* RFC 8415 16: what must (not) carry which identifier; and whatever is
 * not a client's message. */
static void test_dropped(void **state)
{
        static const uint8_t need_server[] = {REQUEST, RENEW, RELEASE, DECLINE};
        static const uint8_t refuse_server[] = {SOLICIT, CONFIRM, REBIND};
        static const uint8_t not_ours[] = {0, ADVERTISE, REPLY, 10, 12, 13, 14, 36, 255};
        static const char *const mine[] = {"fd74:6c00:0:7::2"};
        static const uint8_t other_duid[10] = {0, 3, 0, 1, 0x06, 0x74, 0x6c, 0x00, 0x00, 0x08};
        struct guest_net off = net;
        struct guest_reply r;
        enum dhcp6_event ev = DHCP6_SOLICIT;
        struct msg m;

        for (size_t i = 0; i < ELEMENTSOF(need_server); i++) {
                msg_start(&m, need_server[i]);
                client_id(&m);
                ia(&m, IA_NA, 1, mine, 1);
                expect_none(&net, &m, guest_ll, 0);
                opt(&m, SERVERID, other_duid, sizeof(other_duid));
                expect_none(&net, &m, guest_ll, 0);
                msg_start(&m, need_server[i]); /* ours, but no client */
                server_id(&m);
                ia(&m, IA_NA, 1, mine, 1);
                expect_none(&net, &m, guest_ll, 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(refuse_server); i++) {
                msg_start(&m, refuse_server[i]);
                client_id(&m);
                server_id(&m);
                ia(&m, IA_NA, 1, mine, 1);
                expect_none(&net, &m, guest_ll, 0);
                msg_start(&m, refuse_server[i]);
                ia(&m, IA_NA, 1, mine, 1);
                expect_none(&net, &m, guest_ll, 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(not_ours); i++) {
                msg_start(&m, not_ours[i]);
                client_id(&m);
                expect_none(&net, &m, guest_ll, 0);
        }
        /* IPv6 off; and not to the server port. */
        solicit(&m, false);
        off.ipv6 = false;
        expect_none(&off, &m, guest_ll, 0);
        assert_int_equal(handle_from(&net, m.b, m.len, guest_ll, 546, &r, &ev), 0);
        assert_int_equal(ev, DHCP6_NONE);
}

/* The header and the top-level options. */
static void test_malformed(void **state)
{
        static const char *const mine[] = {"fd74:6c00:0:7::2"};
        struct msg m, base;

        solicit(&base, false);
        for (size_t n = 0; n < 4; n++) { /* shorter than the header */
                m.len = n;
                memcpy(m.b, base.b, n);
                expect_none(&net, &m, guest_ll, -EBADMSG);
        }
        for (size_t extra = 1; extra < 4; extra++) { /* an option header cut */
                m = base;
                put(&m, "\0\0\0", extra);
                expect_none(&net, &m, guest_ll, -EBADMSG);
        }
        m = base; /* an option longer than the rest */
        put(&m, (uint8_t[]){0, 99, 0, 5, 1, 2, 3, 4}, 8);
        expect_none(&net, &m, guest_ll, -EBADMSG);
        m = base;
        client_id(&m);
        expect_none(&net, &m, guest_ll, -EBADMSG);
        msg_start(&m, REQUEST);
        client_id(&m);
        server_id(&m);
        server_id(&m);
        expect_none(&net, &m, guest_ll, -EBADMSG);
        for (size_t len = 0; len < 140; len += len == 3 ? 127 : 1) { /* DUIDs: 3 to 130 */
                uint8_t duid[140] = {0, 4};
                struct guest_reply r;

                msg_start(&m, SOLICIT);
                opt(&m, CLIENTID, duid, len);
                ia(&m, IA_NA, 1, NULL, 0);
                if (len >= 3 && len <= 130)
                        assert_int_equal(handle(&m, &r, NULL), 1);
                else
                        expect_none(&net, &m, guest_ll, -EBADMSG);
        }
        m = base;
        opt(&m, RAPID, "x", 1);
        expect_none(&net, &m, guest_ll, -EBADMSG);

        /* Sources no reply can go to. */
        msg_start(&m, RENEW);
        client_id(&m);
        server_id(&m);
        ia(&m, IA_NA, 1, mine, 1);
        expect_none(&net, &m, "::", -EBADMSG);
        expect_none(&net, &m, "ff02::1", -EBADMSG);
}

/* IAs too short for their header, addresses and prefixes too short, a
 * status code without one; options nested in an IA, address or prefix
 * that are cut, or longer than the rest (the last four octets of an
 * address or prefix of 28 or more: 00 0d 00 09). */
static void test_malformed_ias(void **state)
{
        static const struct {
                uint16_t code, sub;
                size_t len, sub_len;
        } bad_ias[] = {
            {IA_NA, 0, 11, 0},       {IA_TA, 0, 3, 0},        {IA_PD, 0, 11, 0},
            {IA_NA, IAADDR, 12, 23}, {IA_TA, IAADDR, 4, 23},  {IA_PD, IAPREFIX, 12, 24},
            {IA_NA, STATUS, 12, 1},  {IA_NA, IAADDR, 12, 27}, {IA_PD, IAPREFIX, 12, 26},
            {IA_NA, IAADDR, 12, 28}, {IA_TA, IAADDR, 4, 28},  {IA_PD, IAPREFIX, 12, 29},
        };
        struct msg m;
        size_t at, sub;

        for (size_t i = 0; i < ELEMENTSOF(bad_ias); i++) {
                uint8_t body[64] = {0};

                if (bad_ias[i].sub_len >= 28)
                        memcpy(body + bad_ias[i].sub_len - 4, (uint8_t[]){0, STATUS, 0, 9}, 4);
                msg_start(&m, SOLICIT);
                client_id(&m);
                at = opt_begin(&m, bad_ias[i].code);
                put(&m, body, bad_ias[i].len);
                if (bad_ias[i].sub) {
                        sub = opt_begin(&m, bad_ias[i].sub);
                        put(&m, body, bad_ias[i].sub_len);
                        opt_end(&m, sub);
                }
                opt_end(&m, at);
                expect_none(&net, &m, guest_ll, -EBADMSG);
        }
        solicit(&m, false); /* an IA whose options end in a cut header */
        at = opt_begin(&m, IA_NA);
        put(&m, (uint8_t[14]){0}, 14);
        opt_end(&m, at);
        expect_none(&net, &m, guest_ll, -EBADMSG);
}

/* A dhclient REQUEST cut at every length: at an option boundary it parses
 * (and is dropped, 0, until it has both identifiers), elsewhere it is
 * malformed. */
static void test_truncated(void **state)
{
        static const char *const mine[] = {"fd74:6c00:0:7::2"};
        size_t bounds[16], n_bounds = 0;
        struct guest_reply r;
        struct msg m;

        msg_start(&m, REQUEST);
        bounds[n_bounds++] = m.len;
        client_id(&m);
        bounds[n_bounds++] = m.len;
        opt(&m, SERVERID, our_duid, sizeof(our_duid));
        bounds[n_bounds++] = m.len;
        opt(&m, ELAPSED, (uint8_t[]){0, 0}, 2);
        bounds[n_bounds++] = m.len;
        ia(&m, IA_NA, 0xdeadbeef, mine, 1);
        bounds[n_bounds++] = m.len;
        opt(&m, ORO, (uint8_t[]){0, DNS, 0, DOMAINS}, 4);
        bounds[n_bounds++] = m.len;
        for (size_t cut = 0; cut <= m.len; cut++) {
                int expected = -EBADMSG;

                for (size_t i = 0; i < n_bounds; i++)
                        if (cut == bounds[i])
                                expected = i >= 2 ? 1 : 0;
                assert_int_equal(handle_from(&net, m.b, cut, guest_ll, 547, &r, NULL), expected);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_dropped),
            cmocka_unit_test(test_malformed),
            cmocka_unit_test(test_malformed_ias),
            cmocka_unit_test(test_truncated),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}

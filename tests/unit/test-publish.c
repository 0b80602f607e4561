/* SPDX-License-Identifier: MIT */
// MODULES: publish
/* Published ports (docs/DESIGN.md, "Published ports"), the pure half:
 * publish.c's Port parser and printer, the order, the conflict rule and
 * the list operations. */
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

#include <json-c/json.h>

#include "macro.h"
#include "publish.h"

static const char *plain(struct json_object *o)
{
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static struct json_object *parse_json(const char *text)
{
        struct json_object *o = json_tokener_parse(text);

        if (!o && strcmp(text, "null") != 0)
                fail_msg("test JSON does not parse: %s", text);
        return o;
}

/* One Port object from JSON text: publish_port_from_json()'s result. */
static int port_from_text(const char *text, struct publish_port *ret)
{
        struct json_object *o = parse_json(text);
        int r = publish_port_from_json(o, ret);

        json_object_put(o);
        return r;
}

/* A port that must parse. */
static struct publish_port port(const char *text)
{
        struct publish_port p;

        if (port_from_text(text, &p) < 0)
                fail_msg("refused: %s", text);
        return p;
}

static int list_from_text(const char *text, size_t max, struct publish_list **ret)
{
        struct json_object *a = parse_json(text);
        int r;

        *ret = NULL;
        r = publish_list_from_json(a, max, ret);
        json_object_put(a);
        if (r < 0)
                assert_null(*ret);
        else
                assert_non_null(*ret);
        return r;
}

static void assert_list_json(const struct publish_list *l, const char *expected)
{
        struct json_object *o = publish_list_to_json(l);

        assert_non_null(o);
        assert_string_equal(plain(o), expected);
        json_object_put(o);
}

static void test_good_port(void **state)
{
        static const struct {
                const char *in, *out;
        } cases[] = {
            {"{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80}",
             "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80}"},
            /* member order does not matter; null hostAddress is absent */
            {"{\"guestPort\":53,\"hostAddress\":null,\"hostPort\":20053,\"protocol\":\"udp\"}",
             "{\"protocol\":\"udp\",\"hostPort\":20053,\"guestPort\":53}"},
            /* the bounds of both ports */
            {"{\"protocol\":\"tcp\",\"hostPort\":1,\"guestPort\":65535}",
             "{\"protocol\":\"tcp\",\"hostPort\":1,\"guestPort\":65535}"},
            {"{\"protocol\":\"udp\",\"hostPort\":65535,\"guestPort\":1}",
             "{\"protocol\":\"udp\",\"hostPort\":65535,\"guestPort\":1}"},
            {"{\"protocol\":\"tcp\",\"hostPort\":20022,\"guestPort\":22,\"hostAddress\":\"192.0.2.1\"}",
             "{\"protocol\":\"tcp\",\"hostPort\":20022,\"guestPort\":22,\"hostAddress\":\"192.0.2.1\"}"},
            /* private and public addresses alike; IPv6 printed canonically */
            {"{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"10.0.0.1\"}",
             "{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"10.0.0.1\"}"},
            {"{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"2001:DB8:0:0::1\"}",
             "{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"2001:db8::1\"}"},
            {"{\"protocol\":\"udp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"fd00::1\"}",
             "{\"protocol\":\"udp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"fd00::1\"}"},
            /* the edges of the refused ranges */
            {"{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"126.255.255.255\"}",
             "{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"126.255.255.255\"}"},
            {"{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"128.0.0.0\"}",
             "{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"128.0.0.0\"}"},
            {"{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"169.253.255.255\"}",
             "{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"169.253.255.255\"}"},
            {"{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"169.255.0.0\"}",
             "{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"169.255.0.0\"}"},
            {"{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"223.255.255.255\"}",
             "{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"223.255.255.255\"}"},
            {"{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"fec0::1\"}",
             "{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"fec0::1\"}"},
            {"{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"::2\"}",
             "{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"::2\"}"},
            {"{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"::fffe:0:1\"}",
             "{\"protocol\":\"tcp\",\"hostPort\":2,\"guestPort\":2,\"hostAddress\":\"::fffe:0:1\"}"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct publish_port p = port(cases[i].in), back;
                struct json_object *o = publish_port_to_json(&p);

                assert_non_null(o);
                if (strcmp(plain(o), cases[i].out) != 0)
                        fail_msg("case %zu: %s printed as %s", i, cases[i].in, plain(o));
                /* and back: the same port */
                assert_int_equal(publish_port_from_json(o, &back), 0);
                assert_int_equal(publish_port_cmp(&p, &back), 0);
                json_object_put(o);
        }
}

static void test_port_fields(void **state)
{
        struct publish_port p = port("{\"protocol\":\"udp\",\"hostPort\":20053,\"guestPort\":53}");
        char text[INET6_ADDRSTRLEN];

        assert_int_equal(p.protocol, IPPROTO_UDP);
        assert_int_equal(p.host_port, 20053);
        assert_int_equal(p.guest_port, 53);
        assert_int_equal(p.family, AF_UNSPEC);

        p = port(
            "{\"protocol\":\"tcp\",\"hostPort\":443,\"guestPort\":8443,\"hostAddress\":\"203.0.113.9\"}");
        assert_int_equal(p.protocol, IPPROTO_TCP);
        assert_int_equal(p.host_port, 443);
        assert_int_equal(p.guest_port, 8443);
        assert_int_equal(p.family, AF_INET);
        assert_string_equal(inet_ntop(AF_INET, &p.addr.v4, text, sizeof(text)), "203.0.113.9");

        p = port(
            "{\"protocol\":\"tcp\",\"hostPort\":443,\"guestPort\":443,\"hostAddress\":\"2001:db8::9\"}");
        assert_int_equal(p.family, AF_INET6);
        assert_string_equal(inet_ntop(AF_INET6, &p.addr.v6, text, sizeof(text)), "2001:db8::9");

        assert_string_equal(publish_protocol_to_string(IPPROTO_TCP), "tcp");
        assert_string_equal(publish_protocol_to_string(IPPROTO_UDP), "udp");
        assert_null(publish_protocol_to_string(0));
        assert_null(publish_protocol_to_string(IPPROTO_ICMP));
        assert_null(publish_protocol_to_string(IPPROTO_SCTP));
        /* No Port object for another protocol. */
        p.protocol = IPPROTO_SCTP;
        assert_null(publish_port_to_json(&p));
}

#define P(members) "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80" members "}"
#define A(addr) P(",\"hostAddress\":\"" addr "\"")

static void test_bad_port(void **state)
{
        static const char *const bad[] = {
            /* not an object */
            "null",
            "1",
            "\"tcp\"",
            "[]",
            "true",
            /* missing members, and null for required ones */
            "{}",
            "{\"hostPort\":20080,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":20080}",
            "{\"protocol\":null,\"hostPort\":20080,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":null,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":null}",
            /* unknown members, including near misses */
            P(",\"extra\":1"),
            P(",\"extra\":null"),
            P(",\"hostaddress\":\"192.0.2.1\""),
            P(",\"port\":80"),
            "{\"Protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80}",
            /* protocol */
            "{\"protocol\":\"TCP\",\"hostPort\":20080,\"guestPort\":80}",
            "{\"protocol\":\"sctp\",\"hostPort\":20080,\"guestPort\":80}",
            "{\"protocol\":\"\",\"hostPort\":20080,\"guestPort\":80}",
            "{\"protocol\":\"tcp \",\"hostPort\":20080,\"guestPort\":80}",
            "{\"protocol\":\"tcp\\u0000\",\"hostPort\":20080,\"guestPort\":80}",
            "{\"protocol\":6,\"hostPort\":20080,\"guestPort\":80}",
            "{\"protocol\":[\"tcp\"],\"hostPort\":20080,\"guestPort\":80}",
            "{\"protocol\":true,\"hostPort\":20080,\"guestPort\":80}",
            /* hostPort: bounds and types */
            "{\"protocol\":\"tcp\",\"hostPort\":0,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":65536,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":-1,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":4294967376,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":18446744073709551615,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":-9223372036854775808,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":20080.0,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":2e4,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":\"20080\",\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":true,\"guestPort\":80}",
            "{\"protocol\":\"tcp\",\"hostPort\":{},\"guestPort\":80}",
            /* guestPort: bounds and types */
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":0}",
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":65536}",
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":-80}",
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80.5}",
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":\"80\"}",
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":false}",
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":[80]}",
            /* hostAddress: not a string */
            P(",\"hostAddress\":1"),
            P(",\"hostAddress\":true"),
            P(",\"hostAddress\":[\"192.0.2.1\"]"),
            P(",\"hostAddress\":{}"),
            /* not a plain address */
            A(""),
            A(" 192.0.2.1"),
            A("192.0.2.1 "),
            A("192.0.2"),
            A("192.0.2.256"),
            A("192.0.2.01x"),
            A("0x7f.1"),
            A("example.com"),
            A("192.0.2.1/32"),
            A("192.0.2.0/24"),
            A("2001:db8::1/128"),
            A("2001:db8::1%eth0"),
            A("fe80::1%1"),
            A("2001:db8:::1"),
            A("[2001:db8::1]"),
            A("192.0.2.1:80"),
            A("192.0.2.1\\u0000"),
            A("192.0.2.1\\u0000junk"),
            /* unspecified */
            A("0.0.0.0"),
            A("::"),
            A("0::0"),
            /* loopback */
            A("127.0.0.1"),
            A("127.0.0.0"),
            A("127.255.255.255"),
            A("127.1.2.3"),
            A("::1"),
            /* multicast */
            A("224.0.0.1"),
            A("239.255.255.250"),
            A("224.0.0.0"),
            A("239.255.255.255"),
            A("ff02::1"),
            A("ff05::1:3"),
            A("ff00::"),
            /* link-local */
            A("169.254.0.0"),
            A("169.254.169.254"),
            A("169.254.255.255"),
            A("fe80::1"),
            A("febf:ffff::1"),
            /* IPv4-mapped IPv6 */
            A("::ffff:192.0.2.1"),
            A("::ffff:0:0"),
            A("::ffff:7f00:1"),
        };
        struct publish_port p, untouched;

        memset(&untouched, 0xa5, sizeof(untouched));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                p = untouched;
                if (port_from_text(bad[i], &p) != -EINVAL)
                        fail_msg("accepted: %s", bad[i]);
                /* the output is untouched on failure */
                assert_memory_equal(&p, &untouched, sizeof(p));
        }
        /* No JSON at all. */
        assert_int_equal(publish_port_from_json(NULL, &p), -EINVAL);
}

static void test_order(void **state)
{
        /* Each before the next: protocol, host port, family (every address
         * first), address, guest port. */
        static const char *const sorted[] = {
            "{\"protocol\":\"tcp\",\"hostPort\":1,\"guestPort\":9}",
            "{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":1}",
            "{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":2}",
            "{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":1,\"hostAddress\":\"10.0.0.1\"}",
            "{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":9,\"hostAddress\":\"10.0.0.1\"}",
            "{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":1,\"hostAddress\":\"10.0.0.2\"}",
            "{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":1,\"hostAddress\":\"192.0.2.1\"}",
            "{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":1,\"hostAddress\":\"2001:db8::1\"}",
            "{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":1,\"hostAddress\":\"fd00::1\"}",
            "{\"protocol\":\"tcp\",\"hostPort\":81,\"guestPort\":1}",
            "{\"protocol\":\"tcp\",\"hostPort\":65535,\"guestPort\":1}",
            "{\"protocol\":\"udp\",\"hostPort\":1,\"guestPort\":1}",
            "{\"protocol\":\"udp\",\"hostPort\":1,\"guestPort\":1,\"hostAddress\":\"10.0.0.1\"}",
        };

        for (size_t i = 0; i < ELEMENTSOF(sorted); i++)
                for (size_t j = 0; j < ELEMENTSOF(sorted); j++) {
                        struct publish_port a = port(sorted[i]), b = port(sorted[j]);
                        int r = publish_port_cmp(&a, &b);
                        int expected = i < j ? -1 : i > j;

                        if ((r > 0) - (r < 0) != expected)
                                fail_msg("cmp(%s, %s) = %d", sorted[i], sorted[j], r);
                }
}

static void test_same_and_conflicts(void **state)
{
        static const struct {
                const char *a, *b;
                bool same, conflicts;
        } cases[] = {
            /* the same address: the guest port does not matter */
            {P(""), "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":81}", true, true},
            {A("192.0.2.1"),
             "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":9,"
             "\"hostAddress\":\"192.0.2.1\"}",
             true, true},
            {A("2001:db8::1"), A("2001:db8:0::1"), true, true},
            /* a wildcard against a specific address, both ways */
            {P(""), A("192.0.2.1"), false, true},
            {A("192.0.2.1"), P(""), false, true},
            {P(""), A("2001:db8::1"), false, true},
            {A("2001:db8::1"), P(""), false, true},
            /* two specific addresses: only the same one */
            {A("192.0.2.1"), A("192.0.2.2"), false, false},
            {A("2001:db8::1"), A("2001:db8::2"), false, false},
            {A("192.0.2.1"), A("2001:db8::1"), false, false},
            {A("2001:db8::1"), A("192.0.2.1"), false, false},
            /* the IPv6 address whose last 32 bits are the IPv4 one */
            {A("192.0.2.1"), A("2001:db8::c000:201"), false, false},
            /* another host port */
            {P(""), "{\"protocol\":\"tcp\",\"hostPort\":20081,\"guestPort\":80}", false, false},
            /* tcp and udp never */
            {P(""), "{\"protocol\":\"udp\",\"hostPort\":20080,\"guestPort\":80}", false, false},
            {A("192.0.2.1"), "{\"protocol\":\"udp\",\"hostPort\":20080,\"guestPort\":80}", false, false},
            {A("192.0.2.1"),
             "{\"protocol\":\"udp\",\"hostPort\":20080,\"guestPort\":80,\"hostAddress\":\"192.0.2.1\"}",
             false, false},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct publish_port a = port(cases[i].a), b = port(cases[i].b);

                if (publish_port_same(&a, &b) != cases[i].same || publish_port_same(&b, &a) != cases[i].same)
                        fail_msg("case %zu: same(%s, %s) != %d", i, cases[i].a, cases[i].b, cases[i].same);
                if (publish_port_conflicts(&a, &b) != cases[i].conflicts ||
                    publish_port_conflicts(&b, &a) != cases[i].conflicts)
                        fail_msg("case %zu: conflicts(%s, %s) != %d", i, cases[i].a, cases[i].b,
                                 cases[i].conflicts);
                /* every port is the same as itself */
                assert_true(publish_port_same(&a, &a));
                assert_true(publish_port_conflicts(&a, &a));
        }
}

static void test_list(void **state)
{
        struct publish_list *l, *again;
        struct json_object *o;

        /* absent, null and empty: an empty list */
        assert_int_equal(list_from_text("null", 16, &l), 0);
        assert_int_equal(l->n, 0);
        assert_list_json(l, "[]");
        free(l);
        assert_int_equal(publish_list_from_json(NULL, 0, &l), 0);
        assert_int_equal(l->n, 0);
        free(l);
        assert_int_equal(list_from_text("[]", 0, &l), 0);
        assert_int_equal(l->n, 0);
        free(l);

        /* sorted; ports of one number on distinct addresses and protocols */
        assert_int_equal(
            list_from_text("[" A("2001:db8::1") "," A(
                               "192.0.2.2") ","
                                            "{\"protocol\":\"udp\",\"hostPort\":20080,\"guestPort\":80},"
                                            "{\"protocol\":\"tcp\",\"hostPort\":20001,\"guestPort\":22}," A(
                                                "192.0.2.1") "]",
                           5, &l),
            0);
        assert_list_json(
            l, "[{\"protocol\":\"tcp\",\"hostPort\":20001,\"guestPort\":22},"
               "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80,\"hostAddress\":\"192.0.2.1\"},"
               "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80,\"hostAddress\":\"192.0.2.2\"},"
               "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80,\"hostAddress\":"
               "\"2001:db8::1\"},"
               "{\"protocol\":\"udp\",\"hostPort\":20080,\"guestPort\":80}]");

        /* round trip: the printed list parses back to an equal list */
        o = publish_list_to_json(l);
        assert_non_null(o);
        assert_int_equal(publish_list_from_json(o, 5, &again), 0);
        json_object_put(o);
        assert_true(publish_list_equal(l, again));
        free(again);

        /* dup is equal; one guest port changed is not */
        again = publish_list_dup(l);
        assert_non_null(again);
        assert_true(publish_list_equal(l, again));
        again->ports[0].guest_port++;
        assert_false(publish_list_equal(l, again));
        again->n--;
        assert_false(publish_list_equal(l, again));
        free(again);
        free(l);
}

static void test_list_refused(void **state)
{
        static const char *const bad[] = {
            /* not an array of ports */
            "{}",
            "1",
            "\"tcp\"",
            P(""),
            "[null]",
            "[1]",
            "[[]]",
            "[{}]",
            "[" P("") ",null]",
            "[" P("") "," P(",\"extra\":1") "]",
            /* two that conflict: the same twice, the same publication to
             * another guest port, a wildcard and an address either way */
            "[" P("") "," P("") "]",
            "[" A("192.0.2.1") "," A("192.0.2.1") "]",
            "[" P("") ",{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":81}]",
            "[" P("") "," A("192.0.2.1") "]",
            "[" A("2001:db8::1") "," P("") "]",
            "[" A("192.0.2.1") "," A("192.0.2.2") "," P("") "]",
            /* a conflict among others, far apart before sorting */
            "[" A("192.0.2.1") ",{\"protocol\":\"udp\",\"hostPort\":1,\"guestPort\":1},"
                               "{\"protocol\":\"tcp\",\"hostPort\":1,\"guestPort\":1}," A("192.0.2.1") "]",
        };
        struct publish_list *l;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (list_from_text(bad[i], 16, &l) != -EINVAL)
                        fail_msg("accepted: %s", bad[i]);
}

/* n distinct wildcard ports 20000.., as a JSON array. */
static struct json_object *many(size_t n)
{
        struct json_object *a = json_object_new_array();

        assert_non_null(a);
        for (size_t i = 0; i < n; i++) {
                struct publish_port p = {.protocol = IPPROTO_TCP,
                                         .host_port = (uint16_t)(20000 + i),
                                         .guest_port = 80,
                                         .family = AF_UNSPEC};
                struct json_object *o = publish_port_to_json(&p);

                assert_non_null(o);
                assert_int_equal(json_object_array_add(a, o), 0);
        }
        return a;
}

static void test_list_max(void **state)
{
        struct json_object *a = many(PUBLISH_PORTS_MAX + 1);
        struct publish_list *l = NULL;

        assert_int_equal(publish_list_from_json(a, PUBLISH_PORTS_MAX, &l), -E2BIG);
        assert_null(l);
        json_object_put(a);

        a = many(PUBLISH_PORTS_MAX);
        assert_int_equal(publish_list_from_json(a, PUBLISH_PORTS_MAX, &l), 0);
        assert_int_equal(l->n, PUBLISH_PORTS_MAX);
        free(l);
        l = NULL;
        assert_int_equal(publish_list_from_json(a, PUBLISH_PORTS_MAX - 1, &l), -E2BIG);
        assert_null(l);
        json_object_put(a);

        /* max 0: no port at all */
        a = many(1);
        assert_int_equal(publish_list_from_json(a, 0, &l), -E2BIG);
        assert_int_equal(publish_list_from_json(a, 1, &l), 0);
        free(l);
        json_object_put(a);

        /* The count is checked before the ports: too many bad ones is E2BIG. */
        a = parse_json("[1,2,3]");
        assert_int_equal(publish_list_from_json(a, 2, &l), -E2BIG);
        assert_int_equal(publish_list_from_json(a, 3, &l), -EINVAL);
        json_object_put(a);
}

static void test_add_remove(void **state)
{
        struct publish_port wild = port(P("")), v4 = port(A("192.0.2.1")), v4b = port(A("192.0.2.2")),
                            v6 = port(A("2001:db8::1")),
                            udp = port("{\"protocol\":\"udp\",\"hostPort\":20080,\"guestPort\":80}"),
                            low = port("{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":8080}");
        struct publish_list *l = NULL, *next = NULL, *sentinel = (struct publish_list *)&l;

        /* From nothing: NULL is the empty list. */
        assert_int_equal(publish_list_remove(NULL, &v4, &next), -ENOENT);
        assert_null(next);
        assert_int_equal(publish_list_add(NULL, &v6, &l), 0);
        assert_int_equal(l->n, 1);

        /* Added in order, whatever order they come in. */
        static const char expected[] =
            "[{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":8080},"
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80,\"hostAddress\":\"192.0.2.1\"},"
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80,\"hostAddress\":\"192.0.2.2\"},"
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80,\"hostAddress\":\"2001:db8::1\"},"
            "{\"protocol\":\"udp\",\"hostPort\":20080,\"guestPort\":80}]";
        const struct publish_port *adds[] = {&udp, &v4b, &low, &v4};
        for (size_t i = 0; i < ELEMENTSOF(adds); i++) {
                assert_int_equal(publish_list_add(l, adds[i], &next), 0);
                free(l);
                l = TAKE_PTR(next);
        }
        assert_list_json(l, expected);

        /* Conflicts: -EEXIST, *ret untouched. */
        struct publish_port v4_other_guest = v4;
        v4_other_guest.guest_port = 9;
        const struct publish_port *clashes[] = {&v4, &v4_other_guest, &wild, &v6, &udp, &low};
        for (size_t i = 0; i < ELEMENTSOF(clashes); i++) {
                next = sentinel;
                assert_int_equal(publish_list_add(l, clashes[i], &next), -EEXIST);
                assert_ptr_equal(next, sentinel);
        }
        assert_list_json(l, expected);

        /* Remove by publication, whatever its guest port. */
        assert_int_equal(publish_list_remove(l, &v4_other_guest, &next), 0);
        assert_int_equal(next->n, 4);
        free(l);
        l = TAKE_PTR(next);
        next = sentinel;
        assert_int_equal(publish_list_remove(l, &v4, &next), -ENOENT);
        assert_ptr_equal(next, sentinel);
        /* A wildcard is not "the same" as an address it covers. */
        assert_int_equal(publish_list_remove(l, &wild, &next), -ENOENT);
        assert_ptr_equal(next, sentinel);

        /* With 192.0.2.2 and 2001:db8::1 gone, the wildcard fits. */
        const struct publish_port *removes[] = {&v4b, &v6};
        for (size_t i = 0; i < ELEMENTSOF(removes); i++) {
                assert_int_equal(publish_list_remove(l, removes[i], &next), 0);
                free(l);
                l = TAKE_PTR(next);
        }
        assert_int_equal(publish_list_add(l, &wild, &next), 0);
        free(l);
        l = TAKE_PTR(next);
        assert_list_json(l, "[{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":8080},"
                            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80},"
                            "{\"protocol\":\"udp\",\"hostPort\":20080,\"guestPort\":80}]");

        /* Down to empty, and the last one again is -ENOENT. */
        const struct publish_port *rest[] = {&udp, &low, &wild};
        for (size_t i = 0; i < ELEMENTSOF(rest); i++) {
                assert_int_equal(publish_list_remove(l, rest[i], &next), 0);
                free(l);
                l = TAKE_PTR(next);
        }
        assert_int_equal(l->n, 0);
        assert_list_json(l, "[]");
        assert_int_equal(publish_list_remove(l, &wild, &next), -ENOENT);
        free(l);
}

/* Adding and removing at every position keeps the list sorted and equal to
 * the one parsed from JSON. */
static void test_add_matches_parse(void **state)
{
        struct json_object *a = many(8);
        struct publish_list *parsed, *built = NULL, *next;
        static const size_t order[] = {5, 0, 7, 3, 1, 6, 2, 4};

        assert_int_equal(publish_list_from_json(a, 8, &parsed), 0);
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                assert_int_equal(publish_list_add(built, &parsed->ports[order[i]], &next), 0);
                free(built);
                built = next;
                for (size_t k = 1; k < built->n; k++)
                        assert_true(publish_port_cmp(&built->ports[k - 1], &built->ports[k]) < 0);
        }
        assert_true(publish_list_equal(parsed, built));
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                assert_int_equal(publish_list_remove(built, &parsed->ports[order[i]], &next), 0);
                free(built);
                built = next;
                assert_int_equal(built->n, ELEMENTSOF(order) - i - 1);
                for (size_t k = 1; k < built->n; k++)
                        assert_true(publish_port_cmp(&built->ports[k - 1], &built->ports[k]) < 0);
        }
        free(built);
        free(parsed);
        json_object_put(a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_good_port),          cmocka_unit_test(test_port_fields),
            cmocka_unit_test(test_bad_port),           cmocka_unit_test(test_order),
            cmocka_unit_test(test_same_and_conflicts), cmocka_unit_test(test_list),
            cmocka_unit_test(test_list_refused),       cmocka_unit_test(test_list_max),
            cmocka_unit_test(test_add_remove),         cmocka_unit_test(test_add_matches_parse),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

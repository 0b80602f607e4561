/* SPDX-License-Identifier: MIT */
// MODULES: egress nft-egress nft-publish publish nft-build nft-expr nft-elems nft-parse slot config config-values
/* The egress policy (docs/DESIGN.md, "Egress policy"): egress.c's JSON
 * parser and printer, and nft-egress.c's elements and their keys, both
 * ways. */
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

#include "egress.h"
#include "macro.h"
#include "nft-internal.h"
#include "nft.h"

/* Parses egress and allow (JSON text, NULL for absent); returns the bad
 * parameter or NULL with *ret set. */
static const char *parse(const char *egress, const char *allow, struct egress_policy **ret)
{
        struct json_object *e = egress ? json_tokener_parse(egress) : NULL;
        struct json_object *a = allow ? json_tokener_parse(allow) : NULL;
        const char *bad;

        assert_true(!egress || e || streq_ptr(egress, "null"));
        assert_true(!allow || a || streq_ptr(allow, "null"));
        *ret = NULL;
        bad = egress_policy_from_json(e, a, EGRESS_INTERNET, ret);
        json_object_put(e);
        json_object_put(a);
        if (bad)
                assert_null(*ret);
        else
                assert_non_null(*ret);
        return bad;
}

/* The policy's allow entries as Slot prints them. */
static void assert_allow_json(const struct egress_policy *p, const char *expected)
{
        struct json_object *o = egress_allow_to_json(p);

        assert_non_null(o);
        assert_string_equal(
            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
            expected);
        json_object_put(o);
}

static void assert_bad(const char *egress, const char *allow, const char *param)
{
        struct egress_policy *p;
        const char *bad = parse(egress, allow, &p);

        if (!bad)
                fail_msg("accepted egress %s allow %s", egress ? egress : "-", allow ? allow : "-");
        assert_string_equal(bad, param);
}

static void test_modes(void **state)
{
        static const char *const names[] = {"none", "host", "public", "internet"};
        struct egress_policy *p;

        for (enum egress_mode m = 0; m < _EGRESS_MODE_MAX; m++) {
                char json[32];
                enum egress_mode back;

                assert_string_equal(egress_mode_to_string(m), names[m]);
                assert_int_equal(egress_mode_from_string(names[m], &back), 0);
                assert_int_equal(back, m);
                snprintf(json, sizeof(json), "\"%s\"", names[m]);
                assert_null(parse(json, NULL, &p));
                assert_int_equal(p->mode, m);
                assert_int_equal(p->n_allow, 0);
                free(p);
        }
        assert_null(egress_mode_to_string(_EGRESS_MODE_MAX));
        /* Absent and null: the default. */
        assert_null(parse(NULL, NULL, &p));
        assert_int_equal(p->mode, EGRESS_INTERNET);
        free(p);
        assert_null(parse("null", "null", &p));
        assert_int_equal(p->mode, EGRESS_INTERNET);
        assert_allow_json(p, "[]");
        free(p);
}

static void test_bad_mode(void **state)
{
        static const char *const bad[] = {"\"\"", "\"None\"", "\"all\"", "\"internet \"", "1",
                                          "true", "[]",       "{}",      "\"no\"",        "\"none\\u0000\""};

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_bad(bad[i], NULL, "egress");
        /* The mode is checked before the entries. */
        assert_bad("\"x\"", "1", "egress");
}

static void test_bad_allow(void **state)
{
        static const char *const bad[] = {
            "1",
            "{}",
            "\"10.0.0.1\"",
            "[1]",
            "[null]",
            "[[]]",
            "[{}]",
            "[{\"protocol\":\"tcp\"}]",
            "[{\"destination\":null}]",
            "[{\"destination\":1}]",
            "[{\"destination\":\"\"}]",
            "[{\"destination\":\"/24\"}]",
            "[{\"destination\":\"example.com\"}]",
            "[{\"destination\":\"10.0.0.1 \"}]",
            "[{\"destination\":\"10.0.0.256\"}]",
            "[{\"destination\":\"10.0.0.1\\u0000\"}]",
            "[{\"destination\":\"10.0.0.0/\"}]",
            "[{\"destination\":\"10.0.0.0/33\"}]",
            "[{\"destination\":\"10.0.0.0/08\"}]",
            "[{\"destination\":\"10.0.0.0/+8\"}]",
            "[{\"destination\":\"10.0.0.0/-8\"}]",
            "[{\"destination\":\"10.0.0.0/8x\"}]",
            "[{\"destination\":\"10.0.0.0/0008\"}]",
            "[{\"destination\":\"10.0.0.0/8/8\"}]",
            "[{\"destination\":\"10.0.0.1/24\"}]", /* host bits */
            "[{\"destination\":\"2001:db8::1/64\"}]",
            "[{\"destination\":\"2001:db8::/129\"}]",
            "[{\"destination\":\"fe80::1%eth0\"}]",
            "[{\"destination\":\"10.0.0.1\",\"port\":443}]", /* port without protocol */
            "[{\"destination\":\"10.0.0.1\",\"protocol\":null,\"port\":443}]",
            "[{\"destination\":\"10.0.0.1\",\"protocol\":\"icmp\"}]",
            "[{\"destination\":\"10.0.0.1\",\"protocol\":\"TCP\"}]",
            "[{\"destination\":\"10.0.0.1\",\"protocol\":6}]",
            "[{\"destination\":\"10.0.0.1\",\"protocol\":\"tcp\",\"port\":0}]",
            "[{\"destination\":\"10.0.0.1\",\"protocol\":\"tcp\",\"port\":65536}]",
            "[{\"destination\":\"10.0.0.1\",\"protocol\":\"tcp\",\"port\":-1}]",
            "[{\"destination\":\"10.0.0.1\",\"protocol\":\"tcp\",\"port\":\"443\"}]",
            "[{\"destination\":\"10.0.0.1\",\"protocol\":\"tcp\",\"port\":443.0}]",
            "[{\"destination\":\"10.0.0.1\",\"extra\":1}]",
            /* Nested networks of one protocol and port. */
            "[{\"destination\":\"10.0.0.0/8\"},{\"destination\":\"10.1.0.0/16\"}]",
            "[{\"destination\":\"10.1.2.3\"},{\"destination\":\"0.0.0.0/0\"}]",
            "[{\"destination\":\"2001:db8::/32\",\"protocol\":\"udp\"},"
            "{\"destination\":\"2001:db8::53\",\"protocol\":\"udp\"}]",
            "[{\"destination\":\"203.0.113.0/24\",\"protocol\":\"tcp\",\"port\":443},"
            "{\"destination\":\"203.0.113.7\",\"protocol\":\"tcp\",\"port\":443}]",
            /* One good entry does not save a bad one. */
            "[{\"destination\":\"10.0.0.1\"},{\"destination\":\"10.0.0.3/31\"}]",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_bad("\"none\"", bad[i], "allow");
}

static void test_allow_max(void **state)
{
        char json[8192];
        struct egress_policy *p;
        size_t n = 0;

        for (int count = EGRESS_ALLOW_MAX; count <= EGRESS_ALLOW_MAX + 1; count++) {
                n = (size_t)snprintf(json, sizeof(json), "[");
                for (int i = 0; i < count; i++)
                        n += (size_t)snprintf(json + n, sizeof(json) - n,
                                              "%s{\"destination\":\"10.0.%d.1\"}", i ? "," : "", i);
                snprintf(json + n, sizeof(json) - n, "]");
                if (count == EGRESS_ALLOW_MAX) {
                        assert_null(parse("\"none\"", json, &p));
                        assert_int_equal(p->n_allow, EGRESS_ALLOW_MAX);
                        free(p);
                } else {
                        assert_bad("\"none\"", json, "allow");
                }
        }
}

static void test_normalize(void **state)
{
        struct egress_policy *p;

        /* Sorted (v4 before v6; by protocol, port, address), duplicates
         * merged, bare addresses printed with their length, and networks
         * of different protocols or ports may nest. */
        assert_null(parse("\"host\"",
                          "[{\"destination\":\"2001:db8::7\"},"
                          "{\"destination\":\"203.0.113.7\",\"protocol\":\"udp\",\"port\":53},"
                          "{\"destination\":\"203.0.113.0/24\"},"
                          "{\"destination\":\"203.0.113.7\",\"protocol\":\"tcp\",\"port\":443},"
                          "{\"destination\":\"203.0.113.7\",\"protocol\":\"tcp\"},"
                          "{\"destination\":\"203.0.113.7\",\"protocol\":\"tcp\",\"port\":443},"
                          "{\"destination\":\"198.51.100.0/24\",\"protocol\":\"tcp\",\"port\":443},"
                          "{\"destination\":\"2001:db8::7/128\"},"
                          "{\"destination\":\"0.0.0.0/0\",\"protocol\":\"tcp\",\"port\":22},"
                          "{\"destination\":\"2001:db8:0:0::7\",\"protocol\":null,\"port\":null}]",
                          &p));
        assert_int_equal(p->mode, EGRESS_HOST);
        assert_int_equal(p->n_allow, 7);
        assert_allow_json(p, "[{\"destination\":\"203.0.113.0/24\"},"
                             "{\"destination\":\"203.0.113.7/32\",\"protocol\":\"tcp\"},"
                             "{\"destination\":\"0.0.0.0/0\",\"protocol\":\"tcp\",\"port\":22},"
                             "{\"destination\":\"198.51.100.0/24\",\"protocol\":\"tcp\",\"port\":443},"
                             "{\"destination\":\"203.0.113.7/32\",\"protocol\":\"tcp\",\"port\":443},"
                             "{\"destination\":\"203.0.113.7/32\",\"protocol\":\"udp\",\"port\":53},"
                             "{\"destination\":\"2001:db8::7/128\"}]");
        for (size_t i = 1; i < p->n_allow; i++)
                assert_true(egress_allow_cmp(&p->allow[i - 1], &p->allow[i]) < 0);

        /* The same set in another order is the same policy. */
        struct egress_policy *q;
        assert_null(parse("\"host\"",
                          "[{\"destination\":\"0.0.0.0/0\",\"protocol\":\"tcp\",\"port\":22},"
                          "{\"destination\":\"2001:db8::7\"},"
                          "{\"destination\":\"203.0.113.7\",\"protocol\":\"udp\",\"port\":53},"
                          "{\"destination\":\"198.51.100.0/24\",\"protocol\":\"tcp\",\"port\":443},"
                          "{\"destination\":\"203.0.113.7\",\"protocol\":\"tcp\",\"port\":443},"
                          "{\"destination\":\"203.0.113.7\",\"protocol\":\"tcp\"},"
                          "{\"destination\":\"203.0.113.0/24\"}]",
                          &q));
        assert_true(egress_policy_equal(p, q));
        q->mode = EGRESS_NONE;
        assert_false(egress_policy_equal(p, q));
        free(q);

        q = egress_policy_dup(p);
        assert_non_null(q);
        assert_true(egress_policy_equal(p, q));
        q->n_allow--;
        assert_false(egress_policy_equal(p, q));
        free(q);
        free(p);

        /* Adjacent networks do not nest. */
        assert_null(parse("\"none\"",
                          "[{\"destination\":\"10.0.0.0/25\"},{\"destination\":\"10.0.0.128/25\"}]", &p));
        assert_int_equal(p->n_allow, 2);
        free(p);
        assert_null(parse("\"none\"", "[]", &p));
        assert_int_equal(p->n_allow, 0);
        free(p);
}

/* --- elements -------------------------------------------------------------- */

static struct egress_policy *policy(const char *egress, const char *allow)
{
        struct egress_policy *p;
        assert_null(parse(egress, allow, &p));
        return p;
}

/* elems -> keys -> elems -> policy, compared with p. */
static void round_trip(const char *ifname, const struct egress_policy *p)
{
        struct nft_elem elems[NFT_EGRESS_ELEMS_MAX], back[NFT_EGRESS_ELEMS_MAX], scratch;
        struct egress_policy *q = NULL;
        size_t n = nft_egress_elems(ifname, p, elems);

        assert_int_equal(n, 1 + p->n_allow);
        for (size_t i = 0; i < n; i++) {
                uint8_t key[NFT_ELEM_KEY_MAX], key_end[NFT_ELEM_KEY_MAX];
                int len = nft_egress_elem_key(&elems[i], key, key_end);
                bool interval = elems[i].set >= NFT_SET_ALLOW_V4;

                assert_true(nft_egress_set(elems[i].set));
                assert_string_equal(elems[i].ifname, ifname);
                assert_int_equal(len, nft_set_desc(elems[i].set)->key_len);
                assert_true(nft_egress_elem_from_key(elems[i].set, key, interval ? key_end : NULL,
                                                     (size_t)len, &back[i]));
                assert_true(nft_elem_equal(&elems[i], &back[i]));
                if (interval)
                        assert_false(
                            nft_egress_elem_from_key(elems[i].set, key, NULL, (size_t)len, &scratch));
                assert_false(
                    nft_egress_elem_from_key(elems[i].set, key, key_end, (size_t)len - 1, &scratch));
        }
        /* A dump lists elements in any order. */
        for (size_t i = 0; i < n / 2; i++) {
                struct nft_elem t = back[i];
                back[i] = back[n - 1 - i];
                back[n - 1 - i] = t;
        }
        assert_int_equal(nft_egress_from_elems(back, n, &q), 0);
        assert_true(egress_policy_equal(p, q));
        free(q);
}

static void test_elems_round_trip(void **state)
{
        static const char *const modes[] = {"\"none\"", "\"host\"", "\"public\"", "\"internet\""};
        struct egress_policy *p;

        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                p = policy(modes[i], NULL);
                round_trip("tl0", p);
                free(p);
        }
        p = policy("\"none\"", "[{\"destination\":\"203.0.113.7\",\"protocol\":\"tcp\",\"port\":443},"
                               "{\"destination\":\"203.0.113.7\",\"protocol\":\"udp\",\"port\":53},"
                               "{\"destination\":\"198.51.100.0/24\",\"protocol\":\"udp\"},"
                               "{\"destination\":\"0.0.0.0/0\"},"
                               "{\"destination\":\"2001:db8::7\",\"protocol\":\"tcp\",\"port\":65535},"
                               "{\"destination\":\"2001:db8::/32\",\"protocol\":\"tcp\"},"
                               "{\"destination\":\"::/0\"}]");
        round_trip("tl-a-long-name1", p); /* IFNAMSIZ - 1 */
        free(p);
}

static void test_elems_content(void **state)
{
        struct egress_policy *p =
            policy("\"public\"", "[{\"destination\":\"10.1.0.0/16\",\"protocol\":\"tcp\","
                                 "\"port\":8080},{\"destination\":\"fd00::/8\"}]");
        struct nft_elem e[NFT_EGRESS_ELEMS_MAX];
        uint8_t key[NFT_ELEM_KEY_MAX], key_end[NFT_ELEM_KEY_MAX];
        char text[INET6_ADDRSTRLEN];

        assert_int_equal(nft_egress_elems("tl7", p, e), 3);
        assert_int_equal(e[0].set, NFT_SET_EGRESS_PUBLIC);
        assert_int_equal(e[1].set, NFT_SET_ALLOW_PORT_V4);
        assert_string_equal(inet_ntop(AF_INET, &e[1].addr.v4, text, sizeof(text)), "10.1.0.0");
        assert_string_equal(inet_ntop(AF_INET, &e[1].addr_last.v4, text, sizeof(text)), "10.1.255.255");
        assert_int_equal(e[1].protocol, IPPROTO_TCP);
        assert_int_equal(e[1].port, 8080);
        assert_int_equal(e[2].set, NFT_SET_ALLOW_V6);
        assert_string_equal(inet_ntop(AF_INET6, &e[2].addr.v6, text, sizeof(text)), "fd00::");
        assert_string_equal(inet_ntop(AF_INET6, &e[2].addr_last.v6, text, sizeof(text)),
                            "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");

        /* The key: ifname (16 bytes, zero padded), address, protocol in a
         * 4-byte field, port in network order. */
        assert_int_equal(nft_egress_elem_key(&e[1], key, key_end), 16 + 4 + 4 + 4);
        assert_memory_equal(key, "tl7\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
        assert_memory_equal(key + 16, "\x0a\x01\x00\x00", 4);
        assert_memory_equal(key_end + 16, "\x0a\x01\xff\xff", 4);
        assert_int_equal(key[20], IPPROTO_TCP);
        assert_memory_equal(key + 24, "\x1f\x90", 2);
        assert_memory_equal(key_end + 24, "\x1f\x90", 2);

        /* No valid name, no elements. */
        assert_int_equal(nft_egress_elems("", p, e), 0);
        assert_int_equal(nft_egress_elems("a-name-too-long-x", p, e), 0);
        free(p);
}

static void test_elems_refused(void **state)
{
        struct nft_elem e = {.set = NFT_SET_ALLOW_V4, .ifname = "tl0"};
        struct egress_policy *p = NULL;
        uint8_t key[NFT_ELEM_KEY_MAX], key_end[NFT_ELEM_KEY_MAX];
        int len;

        /* No mode: no policy. */
        assert_int_equal(nft_egress_from_elems(&e, 1, &p), -ENOENT);
        assert_null(p);
        assert_int_equal(nft_egress_from_elems(NULL, 0, &p), -ENOENT);

        /* A range that is no network is skipped (reconcile removes it). */
        struct nft_elem elems[3] = {
            {.set = NFT_SET_EGRESS_INTERNET, .ifname = "tl0"},
            {.set = NFT_SET_ALLOW_V4, .ifname = "tl0"},
            {.set = NFT_SET_EGRESS_NONE, .ifname = "tl0"},
        };
        inet_pton(AF_INET, "10.0.0.1", &elems[1].addr.v4);
        inet_pton(AF_INET, "10.0.0.6", &elems[1].addr_last.v4);
        assert_int_equal(nft_egress_from_elems(elems, 3, &p), 0);
        /* Two modes: the narrower one. */
        assert_int_equal(p->mode, EGRESS_NONE);
        assert_int_equal(p->n_allow, 0);
        free(p);

        /* Keys whose halves disagree are not ours. */
        inet_pton(AF_INET, "10.0.0.0", &e.addr.v4);
        inet_pton(AF_INET, "10.0.0.255", &e.addr_last.v4);
        e.set = NFT_SET_ALLOW_PORT_V4;
        e.protocol = IPPROTO_UDP;
        e.port = 53;
        len = nft_egress_elem_key(&e, key, key_end);
        assert_true(len > 0);
        key_end[0] = 'x';
        assert_false(nft_egress_elem_from_key(e.set, key, key_end, (size_t)len, &e));
        key_end[0] = key[0];
        key_end[20] = IPPROTO_TCP;
        assert_false(nft_egress_elem_from_key(e.set, key, key_end, (size_t)len, &e));
        key_end[20] = key[20];
        key_end[25] ^= 1;
        assert_false(nft_egress_elem_from_key(e.set, key, key_end, (size_t)len, &e));
        key_end[25] ^= 1;
        assert_true(nft_egress_elem_from_key(e.set, key, key_end, (size_t)len, &e));

        /* Not an egress set; an empty name. */
        assert_false(nft_egress_elem_from_key(NFT_SET_GUESTS_V4, key, key_end, (size_t)len, &e));
        memset(key, 0, sizeof(key));
        assert_false(nft_egress_elem_from_key(NFT_SET_EGRESS_NONE, key, NULL, 16, &e));
        e.ifname[0] = '\0';
        assert_int_equal(nft_egress_elem_key(&e, key, key_end), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_modes),         cmocka_unit_test(test_bad_mode),
            cmocka_unit_test(test_bad_allow),     cmocka_unit_test(test_allow_max),
            cmocka_unit_test(test_normalize),     cmocka_unit_test(test_elems_round_trip),
            cmocka_unit_test(test_elems_content), cmocka_unit_test(test_elems_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
// MODULES: config config-print config-values slot
/* The configuration printed (config-print.c), as --check-config shows it,
 * and loaded back the same; [guest] dns_servers and dns_search, whose cases
 * are checked printed and loaded back too. The rest: test-config.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config-values.h"
#include "config.h"
#include "macro.h"
#include "config-test.h"

/* --- printing ------------------------------------------------------------ */

static void print_to(const struct config *c, const char *path)
{
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        config_print(c, f);
        assert_int_equal(fclose(f), 0);
}

static char *read_all(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf = calloc(1, 8192);

        assert_non_null(f);
        assert_non_null(buf);
        assert_true(fread(buf, 1, 8191, f) > 0);
        fclose(f);
        return buf;
}

static void round_trip(const char *content)
{
        struct config c, again;
        char *error = NULL, *warning = NULL;

        if (load_text(content, &c, &error) < 0)
                fail_msg("%s", error);
        print_to(&c, printed_path);

        assert_int_equal(config_init(&again, &warning), 0);
        free(warning);
        if (config_load(&again, printed_path, &error) < 0)
                fail_msg("printed config does not load: %s", error);
        assert_config_equal(&c, &again);
        config_done(&c);
        config_done(&again);
}

/* --- [guest] DNS ----------------------------------------------------------- */

struct dns_case {
        const char *content;
        bool is_auto;
        size_t n_v4, n_v6;
        const char *printed; /* config_print()'s dns_servers line(s) */
};

#define V4_8 "192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 192.0.2.8"
#define V6_8_LINES                                                                     \
        "  2001:db8:1111:2222:3333:4444:5555:1, 2001:db8:1111:2222:3333:4444:5555:2\n" \
        "  2001:db8:1111:2222:3333:4444:5555:3, 2001:db8:1111:2222:3333:4444:5555:4\n" \
        "  2001:db8:1111:2222:3333:4444:5555:5, 2001:db8:1111:2222:3333:4444:5555:6\n" \
        "  2001:db8:1111:2222:3333:4444:5555:7, 2001:db8:1111:2222:3333:4444:5555:8\n"

/* clang-format off */
static const struct dns_case dns_cases[] = {
        { "", true, 0, 0, "\ndns_servers = auto\n" },
        { "[guest]\ndns_servers = auto\n", true, 0, 0, "\ndns_servers = auto\n" },
        { "[guest]\ndns_servers = None\n", false, 0, 0, "\ndns_servers = none\n" },
        { "[guest]\ndns_servers = ,none,\n", false, 0, 0, "\ndns_servers = none\n" },
        { "[guest]\ndns_servers = 192.0.2.1\n", false, 1, 0, "\ndns_servers = 192.0.2.1\n" },
        { "[guest]\ndns_servers = 2001:db8::1\n", false, 0, 1, "\ndns_servers = 2001:db8::1\n" },
        /* link-local without a zone: the guest's own link */
        { "[guest]\ndns_servers = fe80::1\n", false, 0, 1, "\ndns_servers = fe80::1\n" },
        /* commas, blanks and tabs; IPv4 first when printed; canonical IPv6 */
        { "[guest]\ndns_servers = 2001:DB8:0::1,192.0.2.1\t2001:db8::2 ,  192.0.2.2,\n", false, 2, 2,
          "\ndns_servers = 192.0.2.1, 192.0.2.2, 2001:db8::1, 2001:db8::2\n" },
        /* the most of each, over continuation lines; printed wrapped */
        { "[guest]\ndns_servers = " V4_8 "\n" V6_8_LINES, false, 8, 8,
          "\ndns_servers = 192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4, 192.0.2.5,\n"
          "  192.0.2.6, 192.0.2.7, 192.0.2.8, 2001:db8:1111:2222:3333:4444:5555:1,\n"
          "  2001:db8:1111:2222:3333:4444:5555:2,\n" },
};
/* clang-format on */

static void test_dns_servers(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(dns_cases); i++) {
                const struct dns_case *t = &dns_cases[i];
                char *error = NULL, *text;
                struct config c;

                if (load_text(t->content, &c, &error) < 0)
                        fail_msg("case %zu: %s", i, error);
                if (c.dns_auto != t->is_auto || c.dns.n_v4 != t->n_v4 || c.dns.n_v6 != t->n_v6)
                        fail_msg("case %zu: auto %d, %zu IPv4, %zu IPv6", i, c.dns_auto, c.dns.n_v4,
                                 c.dns.n_v6);
                print_to(&c, printed_path);
                text = read_all(printed_path);
                if (!strstr(text, t->printed))
                        fail_msg("case %zu: printed config lacks \"%s\":\n%s", i, t->printed, text);
                free(text);
                config_done(&c);
                round_trip(t->content);
        }
}

/* A second file's dns_servers replaces the first's, and leaves dns_search. */
static void test_dns_overlay(void **state)
{
        static const char second[] = "[guest]\ndns_servers = none\n";
        char *error = NULL;
        struct config c;

        if (load_text("[guest]\ndns_servers = 192.0.2.1 2001:db8::1\ndns_search = lab.example\n", &c,
                      &error) < 0)
                fail_msg("%s", error);
        write_file(conf_path, second, strlen(second));
        assert_int_equal(config_load(&c, conf_path, &error), 0);
        assert_false(c.dns_auto);
        assert_int_equal(c.dns.n_v4, 0);
        assert_int_equal(c.dns.n_v6, 0);
        assert_string_equal(c.dns.search, "lab.example");
        config_done(&c);
}

/* Longer names than an inih line holds, straight to the value parser. */
static void test_domain_lengths(void **state)
{
        char domain[300], out[GUEST_DOMAIN_MAX + 1], *msg = NULL;

        /* 4 labels of 63 and one of 1: 4 * 64 + 1 = 257; cut to length */
        memset(domain, 'a', sizeof(domain));
        for (size_t i = 63; i < sizeof(domain); i += 64)
                domain[i] = '.';

        domain[253] = '\0'; /* ends in "a" */
        assert_int_equal(config_parse_domain(domain, out, &msg), 0);
        assert_string_equal(out, domain);

        domain[253] = '.'; /* 253 and the root's dot */
        domain[254] = '\0';
        assert_int_equal(config_parse_domain(domain, out, &msg), 0);
        assert_int_equal(strlen(out), 253);

        domain[254] = 'a';
        domain[255] = '\0';
        assert_int_equal(config_parse_domain(domain, out, &msg), -EINVAL);
        assert_non_null(strstr(msg, "is too long (at most 253 characters)"));
        free(msg);

        /* empty: no search domain */
        strcpy(out, "untouched");
        assert_int_equal(config_parse_domain("", out, &msg), 0);
        assert_string_equal(out, "");
}

static void test_print(void **state)
{
        static const char *const lines[] = {
            "[daemon]\n",
            "\nsocket = /run/test/tl.sock\n",
            "\nifname_prefix = vm-\n",
            "\nmax_slots = 1000\n",
            "\n# effective max_slots = 1000",
            "\nnft_table = my_table.v2\n",
            "\nforward_ipv4 = no\n",
            "\nforward_ipv6 = yes\n",
            "\n[network]\n",
            "\nipv4_pool = 172.16.0.0/12\n",
            "\nipv4_prefix = 29\n",
            "\nipv6 = no\n",
            "\nipv6_pool = fd00:1234::/32\n",
            "\nipv6_prefix = 80\n",
            "\nmtu = 9000\n",
            "\nmasquerade = no\n",
            "\n[access]\n",
            "\nallow_users = root, 0\n",
            "\nallow_groups = root\n",
            "\nmax_slots_per_user = 0\n",
            "\n[guest]\n",
            "\ndhcp = no\n",
            "\n# router_advertisements and dhcpv6 take effect only with ipv6 = yes\n",
            "\nrouter_advertisements = no\n",
            "\ndhcpv6 = no\n",
            "\ndhcp_lease_time = 3600\n",
            "\ndns_servers = 192.0.2.53, 198.51.100.53, 2001:db8::53\n",
            "\ndns_search = lab.example.org\n",
            "\n[policy]\n",
            "\ndefault_egress = public\n",
            "\npublish_port_range = 1024-2047\n",
            "\nmax_published_per_slot = 0\n",
        };
        char *error = NULL, *text;
        struct config c;

        if (load_text(every_key, &c, &error) < 0)
                fail_msg("%s", error);
        print_to(&c, printed_path);
        text = read_all(printed_path);
        for (size_t i = 0; i < ELEMENTSOF(lines); i++)
                if (!strstr(text, lines[i]))
                        fail_msg("printed config lacks \"%s\":\n%s", lines[i], text);
        free(text);
        config_done(&c);

        /* an empty list prints as a bare "key =" */
        if (load_text("[access]\nallow_groups =\n", &c, &error) < 0)
                fail_msg("%s", error);
        print_to(&c, printed_path);
        text = read_all(printed_path);
        assert_non_null(strstr(text, "\nallow_users =\n"));
        assert_non_null(strstr(text, "\nallow_groups =\n"));
        assert_non_null(strstr(text, "\nsocket = /run/taplinkd/io.taplinkd\n"));
        assert_non_null(strstr(text, "\n# effective max_slots = 16384"));
        assert_non_null(strstr(text, "\n[guest]\ndhcp = yes\nrouter_advertisements = yes\ndhcpv6 = yes\n"
                                     "dhcp_lease_time = 86400\ndns_servers = auto\ndns_search =\n"));
        assert_null(strstr(text, "take effect only with ipv6 = yes"));
        assert_non_null(strstr(text,
                               "\n[policy]\ndefault_egress = internet\npublish_port_range = 20000-29999\n"
                               "max_published_per_slot = 16\n"));
        free(text);
        config_done(&c);
}

static void test_round_trip(void **state)
{
        round_trip("");
        round_trip(every_key);
        round_trip("[network]\nipv4_pool = 192.168.0.0/24\nipv4_prefix = 31\nipv6_pool = ffff:ffff::/32\n"
                   "ipv6_prefix = 126\n[access]\nallow_users = root\n  0\nallow_groups = 0 root\n");
        round_trip("[guest]\ndhcp = no\ndhcp_lease_time = 2147483647\ndns_servers = none\n"
                   "dns_search = x.\n");
        round_trip("[guest]\ndns_servers = 192.0.2.1,2001:db8::1\ndns_search = " LABEL_63 "." LABEL_63 "\n");
        round_trip("[policy]\npublish_port_range = 65535-65535\nmax_published_per_slot = 256\n");
        round_trip("[policy]\ndefault_egress = none\npublish_port_range = 1 -65535\n");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_print),
            cmocka_unit_test(test_round_trip),
            cmocka_unit_test(test_dns_servers),
            cmocka_unit_test(test_dns_overlay),
            cmocka_unit_test(test_domain_lengths),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

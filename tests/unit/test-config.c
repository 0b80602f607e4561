/* SPDX-License-Identifier: MIT */
// MODULES: config config-print config-values slot
/* The configuration (config.c, config-values.c): the defaults, a missing
 * file, every key, good and bad values (the right line, the right words),
 * [network] isolate, load over load, config_finish(). [access]'s users and
 * groups: test-config-access.c; printing and [guest] DNS:
 * test-config-print.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
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

/* --- defaults ------------------------------------------------------------ */

static void test_defaults(void **state)
{
        char buf[INET6_ADDRSTRLEN];
        char *warning = NULL;
        struct config c;

        assert_int_equal(config_init(&c, &warning), 0);
        assert_string_equal(c.socket_path, "/run/taplinkd/io.taplinkd");
        assert_string_equal(c.ifname_prefix, "tl");
        assert_int_equal(c.max_slots, 65536);
        assert_string_equal(c.nft_table, "taplinkd");
        assert_true(c.forward_ipv4);
        assert_false(c.forward_ipv6);
        assert_string_equal(ntop4(c.ipv4_pool, buf), "10.213.0.0");
        assert_int_equal(c.ipv4_pool_prefix, 16);
        assert_int_equal(c.ipv4_prefix, 30);
        assert_true(c.ipv6);
        assert_string_equal(ntop6(&c.ipv6_pool, buf), "fd74:6c00::");
        assert_int_equal(c.ipv6_pool_prefix, 48);
        assert_int_equal(c.ipv6_prefix, 64);
        assert_int_equal(c.mtu, 1500);
        assert_true(c.masquerade);
        assert_int_equal(c.n_allow_users, 0);
        assert_string_equal(c.allow_users_text, "");
        assert_int_equal(c.max_slots_per_user, 64);
        assert_int_equal(c.effective_max_slots, 16384);
        assert_true(c.guest_dhcp);
        assert_true(c.guest_router_advertisements);
        assert_true(c.guest_dhcpv6);
        assert_int_equal(c.dhcp_lease_time, 86400);
        assert_true(c.dns_auto);
        assert_int_equal(c.dns.n_v4, 0);
        assert_int_equal(c.dns.n_v6, 0);
        assert_string_equal(c.dns.search, "");
        assert_int_equal(c.default_egress, 3); /* internet */
        assert_int_equal(c.publish_port_min, 20000);
        assert_int_equal(c.publish_port_max, 29999);
        assert_int_equal(c.max_published_per_slot, 16);
        assert_false(c.clone_enabled);
        assert_string_equal(c.clone_tap_name, "tap0");
        assert_memory_equal(c.clone_tap_mac, ((uint8_t[]){0x06, 0x74, 0x6c, 0xff, 0xff, 0xfe}), 6);
        assert_string_equal(ntop4(c.clone_guest, buf), "169.254.0.21");
        assert_string_equal(ntop4(c.clone_gateway, buf), "169.254.0.22");
        assert_int_equal(c.clone_prefix, 30);
        assert_int_equal(c.clone_pool, 0);

        if (getgrnam("taplink")) {
                assert_null(warning);
                assert_int_equal(c.n_allow_groups, 1);
        } else {
                assert_non_null(warning);
                assert_int_equal(c.n_allow_groups, 0);
        }
        free(warning);
        config_done(&c);

        /* the warning pointer is optional */
        assert_int_equal(config_init(&c, NULL), 0);
        config_done(&c);
}

static void test_missing_file(void **state)
{
        struct config c, before;
        char *error = NULL;
        char path[sizeof(tmpdir) + 32];

        assert_int_equal(config_init(&c, NULL), 0);
        assert_int_equal(config_init(&before, NULL), 0);
        snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
        assert_int_equal(config_load(&c, path, &error), -ENOENT);
        assert_non_null(error);
        assert_non_null(strstr(error, path));
        assert_non_null(strstr(error, "No such file or directory"));
        assert_config_equal(&c, &before);
        free(error);

        /* a directory: readable as a FILE, not as a config */
        error = NULL;
        assert_int_equal(config_load(&c, tmpdir, &error), -EISDIR);
        assert_non_null(error);
        assert_non_null(strstr(error, "Is a directory"));
        assert_config_equal(&c, &before);
        free(error);

        config_done(&c);
        config_done(&before);
}

/* --- every key ----------------------------------------------------------- */

static void test_every_key(void **state)
{
        char buf[INET6_ADDRSTRLEN];
        char *error = NULL;
        struct config c;

        if (load_text(every_key, &c, &error) < 0)
                fail_msg("%s", error);
        assert_string_equal(c.socket_path, "/run/test/tl.sock");
        assert_string_equal(c.ifname_prefix, "vm-");
        assert_int_equal(c.max_slots, 1000);
        assert_string_equal(c.nft_table, "my_table.v2");
        assert_false(c.forward_ipv4);
        assert_true(c.forward_ipv6);
        assert_string_equal(ntop4(c.ipv4_pool, buf), "172.16.0.0");
        assert_int_equal(c.ipv4_pool_prefix, 12);
        assert_int_equal(c.ipv4_prefix, 29);
        assert_false(c.ipv6);
        assert_string_equal(ntop6(&c.ipv6_pool, buf), "fd00:1234::");
        assert_int_equal(c.ipv6_pool_prefix, 32);
        assert_int_equal(c.ipv6_prefix, 80);
        assert_int_equal(c.mtu, 9000);
        assert_false(c.masquerade);
        assert_int_equal(c.n_allow_users, 2);
        assert_int_equal(c.allow_users[0], 0);
        assert_int_equal(c.allow_users[1], 0);
        assert_string_equal(c.allow_users_text, "root, 0");
        assert_int_equal(c.n_allow_groups, 1);
        assert_int_equal(c.allow_groups[0], 0);
        assert_string_equal(c.allow_groups_text, "root");
        assert_int_equal(c.max_slots_per_user, 0);
        /* min(1000, 2^(29-12)); IPv6 is off */
        assert_int_equal(c.effective_max_slots, 1000);
        assert_false(c.guest_dhcp);
        assert_false(c.guest_router_advertisements);
        assert_false(c.guest_dhcpv6);
        assert_int_equal(c.dhcp_lease_time, 3600);
        assert_false(c.dns_auto);
        assert_int_equal(c.dns.n_v4, 2);
        assert_string_equal(ntop4(c.dns.v4[0], buf), "192.0.2.53");
        assert_string_equal(ntop4(c.dns.v4[1], buf), "198.51.100.53");
        assert_int_equal(c.dns.n_v6, 1);
        assert_string_equal(ntop6(&c.dns.v6[0], buf), "2001:db8::53");
        /* the root's dot is implied */
        assert_string_equal(c.dns.search, "lab.example.org");
        assert_int_equal(c.default_egress, 2); /* public */
        assert_int_equal(c.publish_port_min, 1024);
        assert_int_equal(c.publish_port_max, 2047);
        assert_int_equal(c.max_published_per_slot, 0);
        assert_true(c.clone_enabled);
        assert_string_equal(c.clone_tap_name, "eth0");
        assert_memory_equal(c.clone_tap_mac, ((uint8_t[]){0x02, 0xab, 0xcd, 0x00, 0x00, 0x01}), 6);
        assert_string_equal(ntop4(c.clone_guest, buf), "192.168.7.2");
        assert_string_equal(ntop4(c.clone_gateway, buf), "192.168.7.1");
        assert_int_equal(c.clone_prefix, 24);
        config_done(&c);
}

struct good_case {
        const char *content;
        size_t offset; /* of an unsigned or bool field in struct config */
        bool is_bool;
        unsigned expected; /* also effective_max_slots when offset is 0 */
};

#define FIELD(f) offsetof(struct config, f)

/* clang-format off */
static const struct good_case good_cases[] = {
        { "[daemon]\nforward_ipv4 = yes\n", FIELD(forward_ipv4), true, 1 },
        { "[daemon]\nforward_ipv4 = Yes\n", FIELD(forward_ipv4), true, 1 },
        { "[daemon]\nforward_ipv4 = true\n", FIELD(forward_ipv4), true, 1 },
        { "[daemon]\nforward_ipv4 = TRUE\n", FIELD(forward_ipv4), true, 1 },
        { "[daemon]\nforward_ipv4 = 1\n", FIELD(forward_ipv4), true, 1 },
        { "[daemon]\nforward_ipv4 = no\n", FIELD(forward_ipv4), true, 0 },
        { "[daemon]\nforward_ipv4 = NO\n", FIELD(forward_ipv4), true, 0 },
        { "[daemon]\nforward_ipv4 = false\n", FIELD(forward_ipv4), true, 0 },
        { "[daemon]\nforward_ipv4 = 0\n", FIELD(forward_ipv4), true, 0 },
        { "[network]\nipv6 = no\nmtu = 68\n", FIELD(mtu), false, 68 },
        { "[network]\nmtu = 1280\n", FIELD(mtu), false, 1280 },
        { "[clone]\nenabled = yes\n", FIELD(clone_enabled), true, 1 },
        { "[clone]\nprefix = 24\n", FIELD(clone_prefix), false, 24 },
        { "[clone]\npool = 0\n", FIELD(clone_pool), false, 0 },
        { "[clone]\nenabled = yes\npool = 1024\n", FIELD(clone_pool), false, 1024 },
        { "[clone]\npool = 2\nenabled = yes\n", FIELD(clone_pool), false, 2 },
        { "[network]\nmtu = 65521\n", FIELD(mtu), false, 65521 },
        { "[network]\nmtu=1400\n", FIELD(mtu), false, 1400 },
        { "[network]\nmtu : 1400\n", FIELD(mtu), false, 1400 },
        { "[network]\r\nmtu = 1400\r\n", FIELD(mtu), false, 1400 },
        { "[network]\n  mtu = 1400\n", FIELD(mtu), false, 1400 }, /* indented, but no key before */
        { "; comment\n# comment\n[network]\n\n   ; indented comment\nmtu = 1400\n", FIELD(mtu), false, 1400 },
        { "\xEF\xBB\xBF[network]\nmtu = 1400\n", FIELD(mtu), false, 1400 },
        { "[daemon]\nmax_slots = 1\n", FIELD(max_slots), false, 1 },
        { "[daemon]\nmax_slots = 1048576\n", FIELD(max_slots), false, 1048576 },
        { "[access]\nmax_slots_per_user = 1048576\n", FIELD(max_slots_per_user), false, 1048576 },
        { "[network]\nipv4_prefix = 31\n", FIELD(ipv4_prefix), false, 31 },
        { "[network]\nipv4_pool = 10.213.0.0/31\nipv4_prefix = 31\n", FIELD(ipv4_prefix), false, 31 },
        { "[network]\nipv6_prefix = 126\n", FIELD(ipv6_prefix), false, 126 },
        /* [guest] */
        { "[guest]\ndhcp = no\n", FIELD(guest_dhcp), true, 0 },
        { "[guest]\ndhcp = TRUE\n", FIELD(guest_dhcp), true, 1 },
        { "[guest]\nrouter_advertisements = 0\n", FIELD(guest_router_advertisements), true, 0 },
        { "[guest]\nrouter_advertisements = yes\n", FIELD(guest_router_advertisements), true, 1 },
        { "[guest]\ndhcpv6 = false\n", FIELD(guest_dhcpv6), true, 0 },
        { "[guest]\ndhcpv6 = 1\n", FIELD(guest_dhcpv6), true, 1 },
        /* meaningless without IPv6, but no error: IPv6 goes off with one key */
        { "[network]\nipv6 = no\n[guest]\nrouter_advertisements = yes\ndhcpv6 = yes\n",
          FIELD(guest_dhcpv6), true, 1 },
        { "[guest]\ndhcp_lease_time = 60\n", FIELD(dhcp_lease_time), false, 60 },
        { "[guest]\ndhcp_lease_time = 2147483647\n", FIELD(dhcp_lease_time), false, 2147483647 },
        { "[guest]\ndns_servers = none\n", FIELD(dns_auto), true, 0 },
        { "[guest]\ndns_servers = AUTO\n", FIELD(dns_auto), true, 1 },
        { "[guest]\ndns_servers = 192.0.2.1\n", FIELD(dns_auto), true, 0 },
        /* [policy] */
        { "[policy]\npublish_port_range = 1-65535\n", FIELD(publish_port_min), false, 1 },
        { "[policy]\npublish_port_range = 1-65535\n", FIELD(publish_port_max), false, 65535 },
        { "[policy]\npublish_port_range = 8080-8080\n", FIELD(publish_port_min), false, 8080 },
        { "[policy]\npublish_port_range = 8080-8080\n", FIELD(publish_port_max), false, 8080 },
        { "[policy]\npublish_port_range=30000\t-\t39999\n", FIELD(publish_port_min), false, 30000 },
        { "[policy]\npublish_port_range=30000\t-\t39999\n", FIELD(publish_port_max), false, 39999 },
        { "[policy]\nmax_published_per_slot = 0\n", FIELD(max_published_per_slot), false, 0 },
        { "[policy]\nmax_published_per_slot = 1\n", FIELD(max_published_per_slot), false, 1 },
        { "[policy]\nmax_published_per_slot = 256\n", FIELD(max_published_per_slot), false, 256 },
        /* effective max_slots */
        { "", 0, false, 16384 },
        { "[network]\nipv6_pool = fd00::/56\n", 0, false, 256 },
        { "[network]\nipv6 = no\nipv6_pool = fd00::/56\n", 0, false, 16384 },
        { "[network]\nipv4_pool = 10.0.0.0/8\n", 0, false, 65536 },
        { "[network]\nipv4_pool = 10.0.0.0/8\n[daemon]\nmax_slots = 1048576\n", 0, false, 65536 },
        { "[network]\nipv4_pool = 10.0.0.0/8\nipv6_pool = fd00::/32\n[daemon]\nmax_slots = 1048576\n",
          0, false, 1048576 },
        { "[network]\nipv4_pool = 192.168.1.0/24\nipv4_prefix = 31\n", 0, false, 128 },
        /* a 12-character prefix leaves 3 bytes: 10 slots need one */
        { "[daemon]\nifname_prefix = abcdefghijkl\nmax_slots = 10\n", 0, false, 10 },
        { "[daemon]\nifname_prefix = abcdefghijkl\nmax_slots = 1000\n", 0, false, 1000 },
};
/* clang-format on */

static void test_good_values(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(good_cases); i++) {
                const struct good_case *t = &good_cases[i];
                char *error = NULL;
                struct config c;
                unsigned got;
                int r;

                r = load_text(t->content, &c, &error);
                if (r < 0)
                        fail_msg("case %zu: %d %s", i, r, error);
                if (t->offset == 0)
                        got = c.effective_max_slots;
                else if (t->is_bool)
                        got = *(const bool *)((const char *)&c + t->offset);
                else
                        got = *(const unsigned *)((const char *)&c + t->offset);
                if (got != t->expected)
                        fail_msg("case %zu: got %u, expected %u", i, got, t->expected);
                config_done(&c);
        }
}

/* --- bad values: the right line, the right words ---------------------------- */

struct bad_case {
        const char *content;
        size_t len; /* 0: strlen(content) */
        unsigned line;
        const char *message;
};

#define LONG_VALUE                                                                                          \
        "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
        "aaaa"                                                                                              \
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
        "aaa"                                                                                               \
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
        "aaa"
/* 108 characters: one more than sun_path holds */
#define SOCKET_108                                                                                          \
        "/run/"                                                                                             \
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
        "xxxxxx"

#define LABEL_64 LABEL_63 "a"

/* clang-format off */
static const struct bad_case bad_cases[] = {
        /* [network] isolate */
        { "[network]\nisolate = 10.0.0.0/8, 10.0.0.1/8\n", 0, 2, "isolate: 10.0.0.1/8 is not a network address" },
        { "[network]\nisolate = 10.0.0.0/8 10.0.0.0/8\n", 0, 2, "isolate: 10.0.0.0/8 is named twice" },
        { "[network]\nisolate = 10.0.0.0\n", 0, 2, "isolate: 10.0.0.0 is not an IPv4 network" },
        { "[network]\nisolate = fd00::/129\n", 0, 2, "isolate: fd00::/129: prefix length 129 is out of range" },
        /* [daemon] */
        { "[daemon]\nsocket = relative/path\n", 0, 2, "socket: relative/path is not an absolute path" },
        { "[daemon]\nsocket = " SOCKET_108 "\n", 0, 2, "is too long for a socket address (at most 107 bytes)" },
        { "[daemon]\nsocket =\n", 0, 2, "socket: missing value" },
        { "[daemon]\n\nifname_prefix = tl/\n", 0, 3, "ifname_prefix: tl/ is not a valid interface name prefix" },
        { "[daemon]\nifname_prefix = tl:\n", 0, 2, "ifname_prefix: tl: is not a valid" },
        { "[daemon]\nifname_prefix = t l\n", 0, 2, "ifname_prefix: t l is not a valid" },
        { "[daemon]\nifname_prefix =\n", 0, 2, "ifname_prefix: missing value" },
        { "[daemon]\nifname_prefix = abcdefghijklmno\n", 0, 2, "ifname_prefix: abcdefghijklmno is too long" },
        /* the prefix fits on its own, not with 5 digits of slot number */
        { "[daemon]\nmax_slots = 20000\nifname_prefix = abcdefghijklm\n", 0, 3,
          "ifname_prefix: abcdefghijklm is too long for 16384 slots: abcdefghijklm16383 is 18 bytes" },
        { "[daemon]\nifname_prefix = abcdefghijkl\n", 0, 2,
          "ifname_prefix: abcdefghijkl is too long for 16384 slots" },
        { "[daemon]\nmax_slots = 0\n", 0, 2, "max_slots: 0 is out of range 1..1048576" },
        { "[daemon]\nmax_slots = 1048577\n", 0, 2, "max_slots: 1048577 is out of range 1..1048576" },
        { "[daemon]\nmax_slots = 99999999999999999999999\n", 0, 2, "is out of range 1..1048576" },
        { "[daemon]\nmax_slots = 12abc\n", 0, 2, "max_slots: 12abc is not a decimal number" },
        { "[daemon]\nmax_slots = -1\n", 0, 2, "max_slots: -1 is not a decimal number" },
        { "[daemon]\nmax_slots = +5\n", 0, 2, "max_slots: +5 is not a decimal number" },
        { "[daemon]\nmax_slots = 010\n", 0, 2, "max_slots: 010 is not a decimal number" },
        { "[daemon]\nmax_slots = 0x10\n", 0, 2, "max_slots: 0x10 is not a decimal number" },
        { "[daemon]\nmax_slots = 5 5\n", 0, 2, "max_slots: 5 5 is not a decimal number" },
        { "[daemon]\nmax_slots =\n", 0, 2, "max_slots: missing value" },
        { "[daemon]\nnft_table = 1table\n", 0, 2, "nft_table: 1table is not a valid nftables table name" },
        { "[daemon]\nnft_table = my/table\n", 0, 2, "nft_table: my/table is not a valid" },
        { "[daemon]\nnft_table = my table\n", 0, 2, "nft_table: my table is not a valid" },
        { "[daemon]\nforward_ipv4 = maybe\n", 0, 2, "forward_ipv4: maybe is not a boolean" },
        { "[daemon]\nforward_ipv6 = 2\n", 0, 2, "forward_ipv6: 2 is not a boolean" },
        { "[daemon]\nforward_ipv6 = yess\n", 0, 2, "forward_ipv6: yess is not a boolean" },
        /* [network] */
        { "[network]\nipv4_pool = 10.213.0.1/16\n", 0, 2,
          "ipv4_pool: 10.213.0.1/16 is not a network address (host bits set)" },
        { "[network]\nipv4_pool = 10.213.0.3/31\n", 0, 2, "ipv4_pool: 10.213.0.3/31 is not a network address" },
        { "[network]\nipv4_pool = 10.213.0.0\n", 0, 2, "ipv4_pool: 10.213.0.0 is not an IPv4 network" },
        { "[network]\nipv4_pool = 300.1.0.0/16\n", 0, 2, "ipv4_pool: 300.1.0.0/16 is not an IPv4 network" },
        { "[network]\nipv4_pool = fd00::/16\n", 0, 2, "ipv4_pool: fd00::/16 is not an IPv4 network" },
        { "[network]\nipv4_pool = 10.0.0.0/32\n", 0, 2, "ipv4_pool: 10.0.0.0/32: prefix length 32 is out of range 1..31" },
        { "[network]\nipv4_pool = 0.0.0.0/0\n", 0, 2, "prefix length 0 is out of range 1..31" },
        { "[network]\nipv4_pool = 10.0.0.0/x\n", 0, 2, "prefix length x is not a decimal number" },
        { "[network]\nipv4_pool = 10.0.0.0/\n", 0, 2, "prefix length  is not a decimal number" },
        { "[network]\nipv4_prefix = 32\n", 0, 2, "ipv4_prefix: 32 is out of range 1..31 (a /32 has no room" },
        { "[network]\nipv4_prefix = 0\n", 0, 2, "ipv4_prefix: 0 is out of range 1..31" },
        { "[network]\nipv4_prefix = 30x\n", 0, 2, "ipv4_prefix: 30x is not a decimal number" },
        /* cross-key: the per-slot prefix must fit in the pool; the line is
         * the per-slot prefix's when the file sets it, else the pool's */
        { "[network]\nipv4_pool = 10.213.0.0/16\n\nipv4_prefix = 8\n", 0, 4,
          "ipv4_prefix: 8 is shorter than the prefix of ipv4_pool 10.213.0.0/16" },
        { "[network]\nipv4_prefix = 8\n", 0, 2, "ipv4_prefix: 8 is shorter" },
        { "[network]\nipv4_pool = 10.213.0.0/31\n", 0, 2,
          "ipv4_prefix: 30 is shorter than the prefix of ipv4_pool 10.213.0.0/31" },
        { "[network]\nipv6 = perhaps\n", 0, 2, "ipv6: perhaps is not a boolean" },
        { "[network]\nipv6_pool = fd74:6c00::1/48\n", 0, 2,
          "ipv6_pool: fd74:6c00::1/48 is not a network address (host bits set)" },
        { "[network]\nipv6_pool = fd74:6c00:0:1::/48\n", 0, 2, "is not a network address (host bits set)" },
        { "[network]\nipv6_pool = fd74:6c00::/127\n", 0, 2, "prefix length 127 is out of range 1..126" },
        { "[network]\nipv6_pool = ::/0\n", 0, 2, "prefix length 0 is out of range 1..126" },
        { "[network]\nipv6_pool = 10.0.0.0/8\n", 0, 2, "ipv6_pool: 10.0.0.0/8 is not an IPv6 network" },
        { "[network]\nipv6_pool = fd74:::/48\n", 0, 2, "is not an IPv6 network" },
        { "[network]\nipv6_prefix = 127\n", 0, 2, "ipv6_prefix: 127 is out of range 1..126" },
        { "[network]\nipv6_prefix = 0\n", 0, 2, "ipv6_prefix: 0 is out of range 1..126" },
        { "[network]\nipv6_prefix = 40\n", 0, 2,
          "ipv6_prefix: 40 is shorter than the prefix of ipv6_pool fd74:6c00::/48" },
        { "[network]\nipv6_prefix = 64\nipv6_pool = fd74:6c00::/80\n", 0, 2, "ipv6_prefix: 64 is shorter" },
        { "[network]\nmtu = 67\n", 0, 2, "mtu: 67 is out of range 68..65521" },
        { "[network]\nmtu = 1279\n", 0, 2,
          "mtu: 1279 is below 1280, the smallest link MTU IPv6 works on (set ipv6 = no for a smaller one)" },
        { "[network]\nmtu = 65522\n", 0, 2, "mtu: 65522 is out of range 68..65521" },
        { "[network]\nmtu = 1500x\n", 0, 2, "mtu: 1500x is not a decimal number" },
        { "[network]\nmasquerade = oui\n", 0, 2, "masquerade: oui is not a boolean" },
        { "[network]\nmasquerade = off\n", 0, 2, "masquerade: off is not a boolean" },
        /* [guest] */
        { "[guest]\ndhcp = maybe\n", 0, 2, "dhcp: maybe is not a boolean (yes/no, true/false, 1/0)" },
        { "[guest]\ndhcp =\n", 0, 2, "dhcp: missing value" },
        { "[guest]\nrouter_advertisements = on\n", 0, 2, "router_advertisements: on is not a boolean" },
        { "[guest]\ndhcpv6 = 2\n", 0, 2, "dhcpv6: 2 is not a boolean" },
        { "[guest]\ndhcp_lease_time = 59\n", 0, 2, "dhcp_lease_time: 59 is out of range 60..2147483647" },
        { "[guest]\ndhcp_lease_time = 0\n", 0, 2, "dhcp_lease_time: 0 is out of range 60..2147483647" },
        { "[guest]\ndhcp_lease_time = 2147483648\n", 0, 2,
          "dhcp_lease_time: 2147483648 is out of range 60..2147483647" },
        { "[guest]\ndhcp_lease_time = 4294967295\n", 0, 2, "is out of range 60..2147483647" },
        { "[guest]\ndhcp_lease_time = 1d\n", 0, 2, "dhcp_lease_time: 1d is not a decimal number" },
        { "[guest]\ndhcp_lease_time =\n", 0, 2, "dhcp_lease_time: missing value" },
        { "[guest]\ndns_servers =\n", 0, 2, "dns_servers: missing value" },
        { "[guest]\ndns_servers = , ,\n", 0, 2, "dns_servers: no server (auto, none, or IPv4/IPv6 addresses)" },
        { "[guest]\ndns_servers = auto, 192.0.2.1\n", 0, 2,
          "dns_servers: auto, 192.0.2.1: auto and none stand alone, without addresses" },
        { "[guest]\ndns_servers = 192.0.2.1 none\n", 0, 2, "auto and none stand alone" },
        { "[guest]\ndns_servers = auto auto\n", 0, 2, "auto and none stand alone" },
        { "[guest]\ndns_servers = dns.example\n", 0, 2, "dns_servers: dns.example is not an IPv4 or IPv6 address" },
        { "[guest]\ndns_servers = 192.0.2.300\n", 0, 2, "dns_servers: 192.0.2.300 is not an IPv4 or IPv6 address" },
        { "[guest]\ndns_servers = 192.0.2.1/32\n", 0, 2, "192.0.2.1/32 is not an IPv4 or IPv6 address" },
        { "[guest]\ndns_servers = 192.0.2.1;x\n", 0, 2, "192.0.2.1;x is not an IPv4 or IPv6 address" },
        { "[guest]\ndns_servers = 2001:db8:::1\n", 0, 2, "2001:db8:::1 is not an IPv4 or IPv6 address" },
        { "[guest]\ndns_servers = 1111111111111111111111111111111111111111111111111111111111111111111111111111\n", 0, 2,
          "is not an IPv4 or IPv6 address" },
        { "[guest]\ndns_servers = fe80::1%eth0\n", 0, 2, "dns_servers: fe80::1%eth0: a zone (%...) means nothing" },
        { "[guest]\ndns_servers = 127.0.0.53\n", 0, 2,
          "dns_servers: 127.0.0.53 is a loopback address (the guest's own, not the host's)" },
        { "[guest]\ndns_servers = ::1\n", 0, 2, "dns_servers: ::1 is a loopback address" },
        { "[guest]\ndns_servers = ::ffff:127.0.0.1\n", 0, 2, "::ffff:127.0.0.1 is a loopback address" },
        { "[guest]\ndns_servers = 0.0.0.0\n", 0, 2, "dns_servers: 0.0.0.0 is the unspecified address" },
        { "[guest]\ndns_servers = ::\n", 0, 2, "dns_servers: :: is the unspecified address" },
        { "[guest]\ndns_servers = 224.0.0.251\n", 0, 2, "dns_servers: 224.0.0.251 is a multicast address" },
        { "[guest]\ndns_servers = ff02::fb\n", 0, 2, "dns_servers: ff02::fb is a multicast address" },
        { "[guest]\ndns_servers = 192.0.2.1, 192.0.2.1\n", 0, 2, "dns_servers: 192.0.2.1 is listed twice" },
        { "[guest]\ndns_servers = 2001:db8::1 2001:db8:0::1\n", 0, 2, "2001:db8:0::1 is listed twice" },
        { "[guest]\ndns_servers = 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 "
          "192.0.2.8 192.0.2.9\n", 0, 2, "dns_servers: 192.0.2.9: more than 8 IPv4 servers" },
        { "[guest]\ndns_servers = 2001:db8::1 2001:db8::2 2001:db8::3 2001:db8::4 2001:db8::5\n"
          "  2001:db8::6 2001:db8::7 2001:db8::8 2001:db8::9\n", 0, 3,
          "dns_servers: 2001:db8::9: more than 8 IPv6 servers" },
        /* a continuation line is checked as part of the list */
        { "[guest]\ndns_servers = 192.0.2.1\n  bogus\n", 0, 3, "dns_servers: bogus is not an IPv4" },
        { "[guest]\ndns_servers = auto\n  192.0.2.1\n", 0, 3, "auto and none stand alone" },
        { "[guest]\ndns_servers = auto\ndns_servers = none\n", 0, 3,
          "duplicate key dns_servers (already set at line 2)" },
        { "[guest]\ndns_search = lab.example\n  other.example\n", 0, 3,
          "dns_search: indented line continues the value of dns_search "
          "(only allow_users, allow_groups and dns_servers continue over lines)" },
        { "[guest]\ndns_search = a..example\n", 0, 2, "dns_search: a..example is not a domain name (an empty label)" },
        { "[guest]\ndns_search = .example\n", 0, 2, "dns_search: .example is not a domain name (an empty label)" },
        { "[guest]\ndns_search = example..\n", 0, 2, "dns_search: example.. is not a domain name (an empty label)" },
        { "[guest]\ndns_search = .\n", 0, 2, "dns_search: . is not a domain name (the root is no search domain)" },
        { "[guest]\ndns_search = my_lab.example\n", 0, 2,
          "dns_search: my_lab.example is not a domain name (letters, digits, '-' and dots)" },
        { "[guest]\ndns_search = lab example\n", 0, 2, "dns_search: lab example is not a domain name" },
        { "[guest]\ndns_search = l\xc3\xa4" "b.example\n", 0, 2, "is not a domain name (letters, digits" },
        { "[guest]\ndns_search = -lab.example\n", 0, 2, "dns_search: -lab.example: the label -lab begins or ends with '-'" },
        { "[guest]\ndns_search = lab-.example\n", 0, 2, "the label lab- begins or ends with '-'" },
        { "[guest]\ndns_search = " LABEL_64 ".example\n", 0, 2, "is longer than 63 characters" },
        { "[guest]\ndns = auto\n", 0, 2, "unknown key dns in [guest]" },
        { "[network]\ndhcp = yes\n", 0, 2, "unknown key dhcp in [network] (it belongs in [guest])" },
        { "[guest]\nmtu = 1500\n", 0, 2, "unknown key mtu in [guest] (it belongs in [network])" },
        { "dhcp = yes\n", 0, 1, "dhcp: key outside of any section ([daemon], [network], [access], [guest], [policy])" },
        /* [policy] */
        { "[policy]\npublish_port_range = 20000\n", 0, 2,
          "publish_port_range: 20000 is not a range LOW-HIGH (two numbers joined by '-')" },
        { "[policy]\npublish_port_range = -29999\n", 0, 2, "publish_port_range: -29999 is not a range LOW-HIGH" },
        { "[policy]\npublish_port_range = 20000-\n", 0, 2, "publish_port_range: 20000- is not a range LOW-HIGH" },
        { "[policy]\npublish_port_range = 20000 -\n", 0, 2, "publish_port_range: 20000 - is not a range LOW-HIGH" },
        { "[policy]\npublish_port_range = -\n", 0, 2, "publish_port_range: - is not a range LOW-HIGH" },
        { "[policy]\npublish_port_range = 0-100\n", 0, 2, "publish_port_range: 0 is out of range 1..65535" },
        { "[policy]\npublish_port_range = 1-65536\n", 0, 2, "publish_port_range: 65536 is out of range 1..65535" },
        { "[policy]\npublish_port_range = 99999999999-1\n", 0, 2,
          "publish_port_range: 99999999999 is out of range 1..65535" },
        { "[policy]\npublish_port_range = 30000-20000\n", 0, 2,
          "publish_port_range: 30000-20000: the low end 30000 is above the high end 20000" },
        { "[policy]\npublish_port_range = 020000-29999\n", 0, 2,
          "publish_port_range: 020000 is not a decimal number" },
        { "[policy]\npublish_port_range = +1-5\n", 0, 2, "publish_port_range: +1 is not a decimal number" },
        { "[policy]\npublish_port_range = 1--5\n", 0, 2, "publish_port_range: -5 is not a decimal number" },
        { "[policy]\npublish_port_range = 1-5-9\n", 0, 2, "publish_port_range: 5-9 is not a decimal number" },
        { "[policy]\npublish_port_range = 1x-5\n", 0, 2, "publish_port_range: 1x is not a decimal number" },
        { "[policy]\npublish_port_range = 1 2-5\n", 0, 2, "publish_port_range: 1 2 is not a decimal number" },
        { "[policy]\npublish_port_range = 20000:29999\n", 0, 2,
          "publish_port_range: 20000:29999 is not a range LOW-HIGH" },
        { "[policy]\npublish_port_range =\n", 0, 2, "publish_port_range: missing value" },
        { "[policy]\npublish_port_range = 1-2\n  3-4\n", 0, 3,
          "publish_port_range: indented line continues the value of publish_port_range" },
        { "[policy]\npublish_port_range = 1-2\npublish_port_range = 3-4\n", 0, 3,
          "duplicate key publish_port_range (already set at line 2)" },
        { "[network]\npublish_port_range = 1-2\n", 0, 2,
          "unknown key publish_port_range in [network] (it belongs in [policy])" },
        { "[policy]\nmax_published_per_slot = 257\n", 0, 2, "max_published_per_slot: 257 is out of range 0..256" },
        { "[policy]\nmax_published_per_slot = 4294967296\n", 0, 2,
          "max_published_per_slot: 4294967296 is out of range 0..256" },
        { "[policy]\nmax_published_per_slot = -1\n", 0, 2, "max_published_per_slot: -1 is not a decimal number" },
        { "[policy]\nmax_published_per_slot = 16x\n", 0, 2, "max_published_per_slot: 16x is not a decimal number" },
        { "[policy]\nmax_published_per_slot = 016\n", 0, 2, "max_published_per_slot: 016 is not a decimal number" },
        { "[policy]\nmax_published_per_slot =\n", 0, 2, "max_published_per_slot: missing value" },
        { "[access]\nmax_published_per_slot = 1\n", 0, 2,
          "unknown key max_published_per_slot in [access] (it belongs in [policy])" },
        { "max_published_per_slot = 1\n", 0, 1,
          "max_published_per_slot: key outside of any section ([daemon], [network], [access], [guest], [policy])" },
        /* [access] */
        { "[access]\nallow_users = root, nosuchuser-taplinkd-test\n", 0, 2,
          "allow_users: no such user nosuchuser-taplinkd-test" },
        { "[access]\nallow_groups = root nosuchgroup-taplinkd-test\n", 0, 2,
          "allow_groups: no such group nosuchgroup-taplinkd-test" },
        { "[access]\nallow_users = 4294967295\n", 0, 2, "allow_users: 4294967295 is not a valid user id" },
        { "[access]\nallow_groups = 99999999999\n", 0, 2, "allow_groups: 99999999999 is not a valid group id" },
        { "[access]\nmax_slots_per_user = 1048577\n", 0, 2, "max_slots_per_user: 1048577 is out of range 0..1048576" },
        { "[access]\nmax_slots_per_user = -1\n", 0, 2, "max_slots_per_user: -1 is not a decimal number" },
        /* [clone] */
        { "[clone]\nenabled = maybe\n", 0, 2, "enabled: maybe is not a boolean" },
        { "[clone]\ntap_name = tap0123456789abcd\n", 0, 2, "tap_name: tap0123456789abcd is not a valid interface name" },
        { "[clone]\ntap_name = tap/0\n", 0, 2, "tap_name: tap/0 is not a valid interface name" },
        { "[clone]\ntap_name = ..\n", 0, 2, "tap_name: .. is not a valid interface name" },
        { "[clone]\ntap_mac = 06:74:6c:ff:ff\n", 0, 2, "tap_mac: 06:74:6c:ff:ff is not a MAC address" },
        { "[clone]\ntap_mac = 06:74:6c:ff:ff:fg\n", 0, 2, "tap_mac: 06:74:6c:ff:ff:fg is not a MAC address" },
        { "[clone]\ntap_mac = 06:74:6c:ff:f:ffe\n", 0, 2, "is not a MAC address" },
        { "[clone]\ntap_mac = 07:74:6c:ff:ff:fe\n", 0, 2, "tap_mac: 07:74:6c:ff:ff:fe is a multicast address" },
        { "[clone]\nguest = 169.254.0.300\n", 0, 2, "guest: 169.254.0.300 is not an IPv4 address" },
        { "[clone]\ngateway = fe80::1\n", 0, 2, "gateway: fe80::1 is not an IPv4 address" },
        { "[clone]\nprefix = 31\n", 0, 2, "prefix: 31 is out of range 1..30" },
        { "[clone]\nenabled = yes\npool = 1025\n", 0, 3, "pool: 1025 is out of range 0..1024" },
        { "[clone]\nenabled = yes\npool = -1\n", 0, 3, "pool: -1 is" },
        /* Both keys named, the pool's line first. */
        { "[clone]\nenabled = no\npool = 3\n", 0, 3, "[clone] pool = 3 needs [clone] enabled = yes" },
        { "[clone]\npool = 3\n", 0, 2, "[clone] pool = 3 needs [clone] enabled = yes" },
        { "[daemon]\nifname_prefix = abcdefghijkl\nmax_slots = 9\n[clone]\nenabled = yes\npool = 100\n", 0, 6,
          "[clone] pool: 100 namespaces need names up to abcdefghijklp100, 16 bytes" },
        { "[clone]\nguest = 169.254.0.22\n", 0, 2, "[clone]: guest and gateway are both 169.254.0.22" },
        { "[clone]\nprefix = 29\ngateway = 169.254.0.9\n", 0, 3,
          "[clone]: guest 169.254.0.21 and gateway 169.254.0.9 are not in one /29" },
        { "[clone]\nguest = 169.254.0.20\n", 0, 2, "is the network or broadcast address of its /30" },
        { "[clone]\ngateway = 169.254.0.23\n", 0, 2, "is the network or broadcast address of its /30" },
        { "[policy]\ntap_name = tap0\n", 0, 2, "unknown key tap_name in [policy] (it belongs in [clone])" },
        /* structure */
        { "[bogus]\nkey = 1\n", 0, 1, "unknown section [bogus]" },
        { "[daemon]\nmax_slots = 5\n[netwrk]\n", 0, 3, "unknown section [netwrk]" },
        { "[daemon]\n[Daemon]\nmax_slots = 5\n", 0, 2, "unknown section [Daemon]" },
        { "[daemon]\nsocket = /x\nbogus = 1\n", 0, 3, "unknown key bogus in [daemon]" },
        { "[daemon]\nMTU = 1500\n", 0, 2, "unknown key MTU in [daemon]" },
        { "[daemon]\nmtu = 1500\n", 0, 2, "unknown key mtu in [daemon] (it belongs in [network])" },
        { "mtu = 1500\n[network]\n", 0, 1, "mtu: key outside of any section" },
        { "[network]\nmtu = 1500\n\nmtu = 1400\n", 0, 4, "duplicate key mtu (already set at line 2)" },
        { "[network]\nmtu = 1500\n[daemon]\nmax_slots = 5\n[network]\nmtu = 1400\n", 0, 6,
          "duplicate key mtu (already set at line 2)" },
        { "[access]\nallow_users = root\nallow_users = 0\n", 0, 3, "duplicate key allow_users (already set at line 2)" },
        { "[network]\nmtu = 1500\n   1400\n", 0, 3, "mtu: indented line continues the value of mtu" },
        { "[network]\nmtu = 1500\n  [daemon]\n", 0, 3, "mtu: indented line continues the value of mtu" },
        { "[daemon]\nsocket\n", 0, 2, "syntax error" },
        { "[daemon\nsocket = /x\n", 0, 1, "syntax error" },
        /* inih's complaint comes first when its line does */
        { "[daemon]\nnoequals\nbogus = 1\n", 0, 2, "syntax error" },
        { "[daemon]\nbogus = 1\nnoequals\n", 0, 2, "unknown key bogus" },
        { "[daemon]\nsocket = " LONG_VALUE "\n", 0, 2, "line is too long" },
        { "[daemon]\nso\0cket = /x\n", 22, 2, "line contains a NUL byte" },
};
/* clang-format on */

static void test_bad_values(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                const struct bad_case *t = &bad_cases[i];
                char prefix[sizeof(conf_path) + 16];
                char *error = NULL, *warning = NULL;
                struct config c, before;
                int r;

                write_file(conf_path, t->content, t->len ? t->len : strlen(t->content));
                assert_int_equal(config_init(&c, &warning), 0);
                free(warning);
                assert_int_equal(config_init(&before, NULL), 0);

                r = config_load(&c, conf_path, &error);
                snprintf(prefix, sizeof(prefix), "%s:%u: ", conf_path, t->line);
                if (r != -EINVAL || !error || strncmp(error, prefix, strlen(prefix)) != 0 ||
                    !strstr(error, t->message))
                        fail_msg("case %zu: r=%d, error \"%s\", expected \"%s%s\"", i, r, error, prefix,
                                 t->message);
                /* a bad file changes nothing */
                assert_config_equal(&c, &before);

                free(error);
                config_done(&c);
                config_done(&before);
        }
}

static void test_isolate(void **state)
{
        struct config_network nets[CONFIG_ISOLATE_MAX];
        char buf[INET6_ADDRSTRLEN];
        char *error = NULL;
        struct config c;

        /* The default: the pools. */
        assert_int_equal(config_init(&c, NULL), 0);
        assert_int_equal(config_isolate(&c, nets), 2);
        assert_int_equal(nets[0].family, AF_INET);
        assert_string_equal(ntop4(nets[0].addr.v4, buf), "10.213.0.0");
        assert_int_equal(nets[0].prefix_len, 16);
        assert_int_equal(nets[1].family, AF_INET6);
        assert_string_equal(ntop6(&nets[1].addr.v6, buf), "fd74:6c00::");
        assert_int_equal(nets[1].prefix_len, 48);
        config_done(&c);

        if (load_text("[network]\nisolate = 10.212.0.0/14,\n  fd74::/16 0.0.0.0/0\n", &c, &error) < 0)
                fail_msg("%s", error);
        assert_int_equal(config_isolate(&c, nets), 3);
        assert_string_equal(ntop4(nets[0].addr.v4, buf), "10.212.0.0");
        assert_int_equal(nets[0].prefix_len, 14);
        assert_string_equal(ntop6(&nets[1].addr.v6, buf), "fd74::");
        assert_int_equal(nets[1].prefix_len, 16);
        assert_int_equal(nets[2].prefix_len, 0);
        config_done(&c);
}

static void test_brief_example(void **state)
{
        char *error = NULL;
        struct config c;

        assert_int_equal(load_text("[daemon]\n"
                                   "socket = /run/taplinkd/io.taplinkd\n"
                                   "\n"
                                   "[network]\n"
                                   "# the pool\n"
                                   "ipv6 = yes\n"
                                   "ipv4_pool = 10.213.0.1/16\n",
                                   &c, &error),
                         -EINVAL);
        char *expected = NULL;
        assert_true(asprintf(&expected,
                             "%s:7: ipv4_pool: 10.213.0.1/16 is not a network address (host bits set)",
                             conf_path) > 0);
        assert_string_equal(error, expected);
        free(expected);
        free(error);
        config_done(&c);
}

/* --- load over load, finish ---------------------------------------------- */

static void test_error_keeps_previous(void **state)
{
        struct config c, good;
        char *error = NULL;

        if (load_text(every_key, &good, &error) < 0)
                fail_msg("%s", error);
        if (load_text(every_key, &c, &error) < 0)
                fail_msg("%s", error);

        /* a second file overlays the first: what it sets, and nothing else */
        write_file(conf_path, "[network]\nmtu = 1280\n", strlen("[network]\nmtu = 1280\n"));
        assert_int_equal(config_load(&c, conf_path, &error), 0);
        assert_int_equal(c.mtu, 1280);
        good.mtu = 1280;
        assert_config_equal(&c, &good);

        /* a bad one late in the file leaves everything as it was, even the
         * keys it set before the bad line */
        static const char bad[] = "[daemon]\nmax_slots = 7\nsocket = /other\n[access]\nallow_users = 0\n"
                                  "allow_groups = nosuchgroup-taplinkd-test\n";
        write_file(conf_path, bad, strlen(bad));
        assert_int_equal(config_load(&c, conf_path, &error), -EINVAL);
        assert_non_null(strstr(error, ":6: allow_groups: no such group"));
        assert_config_equal(&c, &good);
        free(error);

        config_done(&c);
        config_done(&good);
}

static void test_finish(void **state)
{
        char *error = NULL;
        struct config c;

        assert_int_equal(config_init(&c, NULL), 0);

        /* a command-line --socket */
        free(c.socket_path);
        c.socket_path = strdup("relative.sock");
        assert_int_equal(config_finish(&c, &error), -EINVAL);
        assert_string_equal(error, "socket: relative.sock is not an absolute path");
        free(error);
        free(c.socket_path);
        c.socket_path = strdup("/tmp/x.sock");
        assert_int_equal(config_finish(&c, &error), 0);

        /* recomputes the effective maximum */
        c.max_slots = 100;
        assert_int_equal(config_finish(&c, &error), 0);
        assert_int_equal(c.effective_max_slots, 100);
        c.ipv6 = false;
        c.ipv6_pool_prefix = 120; /* off: does not limit */
        c.ipv6_prefix = 126;
        c.max_slots = 1u << 20;
        assert_int_equal(config_finish(&c, &error), 0);
        assert_int_equal(c.effective_max_slots, 16384);
        c.ipv6 = true;
        assert_int_equal(config_finish(&c, &error), 0);
        assert_int_equal(c.effective_max_slots, 64);

        /* the name check follows the slot count */
        strcpy(c.ifname_prefix, "abcdefghijklmn");
        assert_int_equal(config_finish(&c, &error), -EINVAL);
        assert_non_null(strstr(error, "ifname_prefix: abcdefghijklmn is too long for 64 slots"));
        free(error);
        c.max_slots = 10;
        assert_int_equal(config_finish(&c, &error), 0);
        assert_int_equal(c.effective_max_slots, 10);

        /* error pointer optional */
        c.ipv4_prefix = 8;
        assert_int_equal(config_finish(&c, NULL), -EINVAL);

        config_done(&c);
        config_done(&c); /* idempotent */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_missing_file),
            cmocka_unit_test(test_every_key),
            cmocka_unit_test(test_good_values),
            cmocka_unit_test(test_bad_values),
            cmocka_unit_test(test_isolate),
            cmocka_unit_test(test_brief_example),
            cmocka_unit_test(test_error_keeps_previous),
            cmocka_unit_test(test_finish),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

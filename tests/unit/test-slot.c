/* SPDX-License-Identifier: MIT */
// MODULES: slot config config-values
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "macro.h"
#include "slot.h"

#define NONE UINT32_MAX

/* A configuration as the tests describe it; NULL/0 fields keep the
 * defaults. */
struct net_spec {
        const char *ipv4_pool; /* "a.b.c.d/len" */
        unsigned ipv4_prefix;
        const char *ipv6_pool; /* "x::/len" */
        unsigned ipv6_prefix;
        unsigned max_slots;
        bool no_ipv6;
        const char *ifname_prefix;
};

static void parse_pool(int family, const char *text, void *ret_addr, unsigned *ret_len)
{
        char addr[INET6_ADDRSTRLEN];
        const char *slash = strchr(text, '/');

        assert_non_null(slash);
        assert_true((size_t)(slash - text) < sizeof(addr));
        memcpy(addr, text, (size_t)(slash - text));
        addr[slash - text] = '\0';
        assert_int_equal(inet_pton(family, addr, ret_addr), 1);
        *ret_len = (unsigned)atoi(slash + 1);
}

static void make_config(const struct net_spec *s, struct config *ret)
{
        char *warning = NULL, *error = NULL;

        assert_int_equal(config_init(ret, &warning), 0);
        free(warning);
        if (s->ipv4_pool)
                parse_pool(AF_INET, s->ipv4_pool, &ret->ipv4_pool, &ret->ipv4_pool_prefix);
        if (s->ipv4_prefix)
                ret->ipv4_prefix = s->ipv4_prefix;
        if (s->ipv6_pool)
                parse_pool(AF_INET6, s->ipv6_pool, &ret->ipv6_pool, &ret->ipv6_pool_prefix);
        if (s->ipv6_prefix)
                ret->ipv6_prefix = s->ipv6_prefix;
        if (s->max_slots)
                ret->max_slots = s->max_slots;
        if (s->no_ipv6)
                ret->ipv6 = false;
        if (s->ifname_prefix)
                strcpy(ret->ifname_prefix, s->ifname_prefix);
        if (config_finish(ret, &error) < 0)
                fail_msg("config_finish: %s", error);
}

static const char *ntop4(struct in_addr a, char buf[INET_ADDRSTRLEN])
{
        return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static const char *ntop6(const struct in6_addr *a, char buf[INET6_ADDRSTRLEN])
{
        return inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
}

/* --- capacity ----------------------------------------------------------- */

struct capacity_case {
        unsigned ipv4_pool_prefix, ipv4_prefix;
        bool ipv6;
        unsigned ipv6_pool_prefix, ipv6_prefix;
        unsigned max_slots;
        unsigned expected;
};

/* clang-format off */
static const struct capacity_case capacity_cases[] = {
        /* the defaults: the IPv4 /16 at /30 is the limit */
        { 16, 30, true, 48, 64, 65536, 16384 },
        /* a bigger IPv4 pool: the IPv6 /48 at /64 and max_slots meet */
        { 8, 30, true, 48, 64, 65536, 65536 },
        { 8, 30, true, 48, 64, 1u << 20, 65536 },
        /* 2^32 and 2^125 IPv6 slots: clamped, not wrapped to 0 or 1 */
        { 1, 31, true, 32, 64, 1u << 20, 1u << 20 },
        { 1, 31, true, 1, 126, 1u << 20, 1u << 20 },
        /* 2^30 IPv4 slots */
        { 1, 31, false, 48, 64, 1u << 20, 1u << 20 },
        /* IPv6 limits only while it is on */
        { 16, 30, true, 56, 64, 65536, 256 },
        { 16, 30, false, 56, 64, 65536, 16384 },
        /* max_slots is the limit */
        { 16, 30, true, 48, 64, 10, 10 },
        /* one slot */
        { 31, 31, true, 48, 64, 65536, 1 },
        { 24, 30, true, 126, 126, 65536, 1 },
        { 24, 30, true, 48, 64, 65536, 64 },
};
/* clang-format on */

static void test_capacity(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(capacity_cases); i++) {
                const struct capacity_case *t = &capacity_cases[i];
                struct config c = {
                    .max_slots = t->max_slots,
                    .ipv4_pool_prefix = t->ipv4_pool_prefix,
                    .ipv4_prefix = t->ipv4_prefix,
                    .ipv6 = t->ipv6,
                    .ipv6_pool_prefix = t->ipv6_pool_prefix,
                    .ipv6_prefix = t->ipv6_prefix,
                };

                if (slot_capacity(&c) != t->expected)
                        fail_msg("case %zu: capacity %u, expected %u", i, slot_capacity(&c), t->expected);
        }
}

static void test_capacity_default(void **state)
{
        struct config c;

        make_config(&(struct net_spec){}, &c);
        assert_int_equal(c.effective_max_slots, 16384);
        assert_int_equal(slot_capacity(&c), 16384);
        config_done(&c);
}

/* --- addresses ---------------------------------------------------------- */

struct addr_case {
        const char *name;
        struct net_spec net;
        unsigned slot;
        const char *subnet4, *gateway4, *guest4, *netmask4;
        unsigned prefix4;
        const char *subnet6, *gateway6, *guest6; /* NULL: not checked */
        unsigned prefix6;
};

/* clang-format off */
static const struct addr_case addr_cases[] = {
        { "default slot 0", {}, 0,
          "10.213.0.0", "10.213.0.1", "10.213.0.2", "255.255.255.252", 30,
          "fd74:6c00::", "fd74:6c00::1", "fd74:6c00::2", 64 },
        { "default slot 1", {}, 1,
          "10.213.0.4", "10.213.0.5", "10.213.0.6", "255.255.255.252", 30,
          "fd74:6c00:0:1::", "fd74:6c00:0:1::1", "fd74:6c00:0:1::2", 64 },
        { "default slot 64 carries into the third octet", {}, 64,
          "10.213.1.0", "10.213.1.1", "10.213.1.2", "255.255.255.252", 30,
          "fd74:6c00:0:40::", "fd74:6c00:0:40::1", "fd74:6c00:0:40::2", 64 },
        { "default last slot", {}, 16383,
          "10.213.255.252", "10.213.255.253", "10.213.255.254", "255.255.255.252", 30,
          "fd74:6c00:0:3fff::", "fd74:6c00:0:3fff::1", "fd74:6c00:0:3fff::2", 64 },
        { "/31 per slot", { .ipv4_prefix = 31 }, 3,
          "10.213.0.6", "10.213.0.6", "10.213.0.7", "255.255.255.254", 31,
          NULL, NULL, NULL, 0 },
        { "/31 per slot, slot 0", { .ipv4_prefix = 31 }, 0,
          "10.213.0.0", "10.213.0.0", "10.213.0.1", "255.255.255.254", 31,
          NULL, NULL, NULL, 0 },
        { "small /24 pool, last slot", { .ipv4_pool = "192.168.7.0/24" }, 63,
          "192.168.7.252", "192.168.7.253", "192.168.7.254", "255.255.255.252", 30,
          NULL, NULL, NULL, 0 },
        { "/16 pool at /24", { .ipv4_pool = "10.0.0.0/16", .ipv4_prefix = 24 }, 255,
          "10.0.255.0", "10.0.255.1", "10.0.255.2", "255.255.255.0", 24,
          NULL, NULL, NULL, 0 },
        { "/60 per slot: the slot number starts mid-byte",
          { .ipv6_pool = "fd00::/48", .ipv6_prefix = 60 }, 0x10,
          NULL, NULL, NULL, NULL, 0,
          "fd00:0:0:100::", "fd00:0:0:100::1", "fd00:0:0:100::2", 60 },
        { "/60 per slot: the slot number spans two bytes",
          { .ipv6_pool = "fd00::/48", .ipv6_prefix = 60 }, 0x1f,
          NULL, NULL, NULL, NULL, 0,
          "fd00:0:0:1f0::", "fd00:0:0:1f0::1", "fd00:0:0:1f0::2", 60 },
        { "/60 per slot, last slot",
          { .ipv6_pool = "fd00::/48", .ipv6_prefix = 60 }, 0xfff,
          NULL, NULL, NULL, NULL, 0,
          "fd00:0:0:fff0::", "fd00:0:0:fff0::1", "fd00:0:0:fff0::2", 60 },
        { "last slot of a /48 at /64",
          { .ipv4_pool = "10.0.0.0/8" }, 65535,
          "10.3.255.252", "10.3.255.253", "10.3.255.254", "255.255.255.252", 30,
          "fd74:6c00:0:ffff::", "fd74:6c00:0:ffff::1", "fd74:6c00:0:ffff::2", 64 },
        { "/56 pool at /64", { .ipv6_pool = "fd74:6c00:0:ab00::/56" }, 255,
          NULL, NULL, NULL, NULL, 0,
          "fd74:6c00:0:abff::", "fd74:6c00:0:abff::1", "fd74:6c00:0:abff::2", 64 },
        { "pool at the top of the address space", { .ipv6_pool = "ffff:ffff:ffff:ff00::/56" }, 255,
          NULL, NULL, NULL, NULL, 0,
          "ffff:ffff:ffff:ffff::", "ffff:ffff:ffff:ffff::1", "ffff:ffff:ffff:ffff::2", 64 },
        { "/126 per slot", { .ipv6_pool = "2001:db8::/120", .ipv6_prefix = 126 }, 63,
          NULL, NULL, NULL, NULL, 0,
          "2001:db8::fc", "2001:db8::fd", "2001:db8::fe", 126 },
        { "/96 per slot: the slot number spans three bytes",
          { .ipv4_pool = "10.0.0.0/8", .ipv6_pool = "2001:db8::/64", .ipv6_prefix = 96,
            .max_slots = 1u << 20 }, 0x12345,
          "10.4.141.20", "10.4.141.21", "10.4.141.22", "255.255.255.252", 30,
          "2001:db8::1:2345:0:0", "2001:db8::1:2345:0:1", "2001:db8::1:2345:0:2", 96 },
};
/* clang-format on */

static void test_addresses(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(addr_cases); i++) {
                const struct addr_case *t = &addr_cases[i];
                char buf[INET6_ADDRSTRLEN];
                struct slot_net4 n4;
                struct slot_net6 n6;
                struct config c;
                unsigned s;

                make_config(&t->net, &c);
                assert_true(t->slot < c.effective_max_slots);

                if (t->subnet4) {
                        slot_ipv4(&c, t->slot, &n4);
                        assert_string_equal(ntop4(n4.subnet, buf), t->subnet4);
                        assert_string_equal(ntop4(n4.gateway, buf), t->gateway4);
                        assert_string_equal(ntop4(n4.guest, buf), t->guest4);
                        assert_string_equal(ntop4(n4.netmask, buf), t->netmask4);
                        assert_int_equal(n4.prefix_len, t->prefix4);
                        assert_int_equal(slot_from_ipv4_subnet(&c, n4.subnet, &s), 0);
                        assert_int_equal(s, t->slot);
                }
                if (t->subnet6) {
                        slot_ipv6(&c, t->slot, &n6);
                        assert_string_equal(ntop6(&n6.subnet, buf), t->subnet6);
                        assert_string_equal(ntop6(&n6.gateway, buf), t->gateway6);
                        assert_string_equal(ntop6(&n6.guest, buf), t->guest6);
                        assert_int_equal(n6.prefix_len, t->prefix6);
                        assert_int_equal(slot_from_ipv6_subnet(&c, &n6.subnet, &s), 0);
                        assert_int_equal(s, t->slot);
                }
                config_done(&c);
        }
}

/* Every slot of a few layouts: distinct, aligned subnets that map back. */
static void test_addresses_every_slot(void **state)
{
        static const struct net_spec nets[] = {
            {},
            {.ipv4_prefix = 31},
            {.ipv4_pool = "10.0.0.0/8", .ipv6_prefix = 60, .ipv6_pool = "fd00::/44"},
            {.ipv6_pool = "ffff:ffff:ffff:ff00::/56"},
        };

        for (size_t i = 0; i < ELEMENTSOF(nets); i++) {
                struct in_addr prev4 = {};
                struct config c;

                make_config(&nets[i], &c);
                for (unsigned slot = 0; slot < c.effective_max_slots; slot++) {
                        struct slot_net4 n4;
                        struct slot_net6 n6;
                        unsigned s4 = NONE, s6 = NONE;

                        slot_ipv4(&c, slot, &n4);
                        slot_ipv6(&c, slot, &n6);
                        if (slot > 0)
                                assert_int_equal(ntohl(n4.subnet.s_addr),
                                                 ntohl(prev4.s_addr) + (1u << (32 - c.ipv4_prefix)));
                        prev4 = n4.subnet;
                        assert_int_equal(slot_from_ipv4_subnet(&c, n4.subnet, &s4), 0);
                        assert_int_equal(slot_from_ipv6_subnet(&c, &n6.subnet, &s6), 0);
                        assert_int_equal(s4, slot);
                        assert_int_equal(s6, slot);
                }
                config_done(&c);
        }
}

/* --- reverse lookups ---------------------------------------------------- */

struct reverse_case {
        struct net_spec net;
        const char *addr;
        int expected; /* the slot, or -ENOENT */
};

/* clang-format off */
static const struct reverse_case reverse_cases[] = {
        { {}, "10.213.0.0", 0 },
        { {}, "10.213.0.4", 1 },
        { {}, "10.213.255.252", 16383 },
        { {}, "10.213.0.5", -ENOENT },      /* not a subnet base */
        { {}, "10.213.0.2", -ENOENT },
        { {}, "10.214.0.0", -ENOENT },      /* past the pool */
        { {}, "10.212.255.252", -ENOENT },  /* before the pool */
        { {}, "0.0.0.0", -ENOENT },
        { { .max_slots = 100 }, "10.213.1.140", 99 },
        { { .max_slots = 100 }, "10.213.1.144", -ENOENT }, /* slot 100 */
        { { .ipv4_prefix = 31 }, "10.213.0.6", 3 },
        { { .ipv4_prefix = 31 }, "10.213.0.7", -ENOENT },
        { {}, "fd74:6c00::", 0 },
        { {}, "fd74:6c00:0:1::", 1 },
        { {}, "fd74:6c00:0:3fff::", 16383 },
        { {}, "fd74:6c00:0:4000::", -ENOENT }, /* in the pool, past max_slots */
        { {}, "fd74:6c00:0:1::1", -ENOENT },   /* host bits */
        { {}, "fd74:6c00:0:1:8000::", -ENOENT },
        { {}, "fd74:6c01::", -ENOENT },        /* another /48 */
        { {}, "fd74:6bff:ffff:ffff::", -ENOENT },
        { { .no_ipv6 = true }, "fd74:6c00:0:1::", -ENOENT },
        { { .ipv6_pool = "fd00::/48", .ipv6_prefix = 60 }, "fd00:0:0:1f0::", 0x1f },
        { { .ipv6_pool = "fd00::/48", .ipv6_prefix = 60 }, "fd00:0:0:1f8::", -ENOENT },
        { { .ipv4_pool = "10.0.0.0/8", .ipv6_pool = "fd00::/32" }, "fd00:0:0:ffff::", 65535 },
        /* 2^32 slots in the pool, 2^16 allowed: a large slot number must
         * not wrap around to a small one */
        { { .ipv4_pool = "10.0.0.0/8", .ipv6_pool = "fd00::/32" }, "fd00:1:0:0::", -ENOENT },
        { { .ipv4_pool = "10.0.0.0/8", .ipv6_pool = "fd00::/32" }, "fd00:ffff:ffff:ffff::", -ENOENT },
};
/* clang-format on */

/* clang-format off */
static const struct reverse_case guest_cases[] = {
        { {}, "10.213.0.2", 0 },
        { {}, "10.213.0.30", 7 },
        { {}, "10.213.255.254", 16383 },
        { {}, "10.213.0.1", -ENOENT },      /* the gateway */
        { {}, "10.213.0.4", -ENOENT },      /* a subnet base */
        { {}, "10.214.0.2", -ENOENT },      /* past the pool */
        { { .max_slots = 100 }, "10.213.1.146", -ENOENT }, /* slot 100 */
        { { .ipv4_prefix = 31 }, "10.213.0.7", 3 },
        { { .ipv4_prefix = 31 }, "10.213.0.6", -ENOENT },
        { {}, "fd74:6c00::2", 0 },
        { {}, "fd74:6c00:0:7::2", 7 },
        { {}, "fd74:6c00:0:7::1", -ENOENT },
        { {}, "fd74:6c00:0:7::3", -ENOENT },
        { {}, "fd74:6c00:0:4000::2", -ENOENT },
        { { .no_ipv6 = true }, "fd74:6c00:0:7::2", -ENOENT },
};
/* clang-format on */

/* Each case through the IPv4 or the IPv6 reverse function, by the
 * address's family: the slot, or the error with the output untouched. */
static void check_reverse(const struct reverse_case *cases, size_t n,
                          int (*from4)(const struct config *, struct in_addr, unsigned *),
                          int (*from6)(const struct config *, const struct in6_addr *, unsigned *))
{
        for (size_t i = 0; i < n; i++) {
                const struct reverse_case *t = &cases[i];
                unsigned slot = NONE;
                struct config c;
                int r;

                make_config(&t->net, &c);
                if (strchr(t->addr, ':')) {
                        struct in6_addr a;

                        assert_int_equal(inet_pton(AF_INET6, t->addr, &a), 1);
                        r = from6(&c, &a, &slot);
                } else {
                        struct in_addr a;

                        assert_int_equal(inet_pton(AF_INET, t->addr, &a), 1);
                        r = from4(&c, a, &slot);
                }
                if (t->expected < 0) {
                        if (r != t->expected)
                                fail_msg("case %zu (%s): got %d", i, t->addr, r);
                        assert_int_equal(slot, NONE); /* untouched */
                } else {
                        if (r != 0 || slot != (unsigned)t->expected)
                                fail_msg("case %zu (%s): got %d, slot %u", i, t->addr, r, slot);
                }
                config_done(&c);
        }
}

static void test_reverse(void **state)
{
        check_reverse(reverse_cases, ELEMENTSOF(reverse_cases), slot_from_ipv4_subnet, slot_from_ipv6_subnet);
}

/* The slot of a guest address (published ports' map data, conntrack
 * entries). */
static void test_from_guest(void **state)
{
        check_reverse(guest_cases, ELEMENTSOF(guest_cases), slot_from_ipv4_guest, slot_from_ipv6_guest);
}

/* --- interface names ---------------------------------------------------- */

struct ifname_case {
        const char *ifname;
        int expected; /* the slot, or -EINVAL */
};

/* clang-format off */
static const struct ifname_case ifname_cases[] = {
        { "tl0", 0 },
        { "tl1", 1 },
        { "tl10", 10 },
        { "tl16383", 16383 },
        { "tl16384", -EINVAL }, /* beyond effective max_slots */
        { "tl65535", -EINVAL },
        { "tl01", -EINVAL },
        { "tl00", -EINVAL },
        { "tl", -EINVAL },
        { "tl-1", -EINVAL },
        { "tl+1", -EINVAL },
        { "tl 1", -EINVAL },
        { "tlx", -EINVAL },
        { "tl1x", -EINVAL },
        { "TL1", -EINVAL },
        { "t1", -EINVAL },
        { "xl1", -EINVAL },
        { "", -EINVAL },
        { "tl99999999999999999999999", -EINVAL },
        { "tl4294967297", -EINVAL }, /* 2^32 + 1: must not wrap to 1 */
};
/* clang-format on */

static void test_ifname_parse(void **state)
{
        struct config c;

        make_config(&(struct net_spec){}, &c);
        for (size_t i = 0; i < ELEMENTSOF(ifname_cases); i++) {
                const struct ifname_case *t = &ifname_cases[i];
                unsigned slot = NONE;
                int r = slot_from_ifname(&c, t->ifname, &slot);

                if (t->expected < 0) {
                        if (r != t->expected || slot != NONE)
                                fail_msg("\"%s\": got %d, slot %u", t->ifname, r, slot);
                } else if (r != 0 || slot != (unsigned)t->expected) {
                        fail_msg("\"%s\": got %d, slot %u", t->ifname, r, slot);
                }
        }
        config_done(&c);
}

static void test_ifname_round_trip(void **state)
{
        static const unsigned slots[] = {0, 1, 9, 10, 99, 100, 12345, 16383};
        struct config c;

        make_config(&(struct net_spec){}, &c);
        for (size_t i = 0; i < ELEMENTSOF(slots); i++) {
                char name[IFNAMSIZ], expected[IFNAMSIZ];
                unsigned back = NONE;

                snprintf(expected, sizeof(expected), "tl%u", slots[i]);
                assert_int_equal(slot_ifname(&c, slots[i], name), 0);
                assert_string_equal(name, expected);
                assert_int_equal(slot_from_ifname(&c, name, &back), 0);
                assert_int_equal(back, slots[i]);
        }
        config_done(&c);
}

static void test_ifname_long_prefix(void **state)
{
        /* 14 characters leave room for one digit: max_slots 10. */
        struct config c;
        char name[IFNAMSIZ] = "untouched";
        unsigned slot = NONE;

        make_config(&(struct net_spec){.ifname_prefix = "abcdefghijklmn", .max_slots = 10}, &c);
        assert_int_equal(slot_ifname(&c, 9, name), 0);
        assert_string_equal(name, "abcdefghijklmn9");
        assert_int_equal(slot_from_ifname(&c, "abcdefghijklmn9", &slot), 0);
        assert_int_equal(slot, 9);

        strcpy(name, "untouched");
        assert_int_equal(slot_ifname(&c, 10, name), -ERANGE);
        assert_string_equal(name, "untouched");
        config_done(&c);
}

/* --- MACs and the kernel argument ---------------------------------------- */

struct mac_case {
        unsigned slot;
        const char *guest, *host;
};

/* clang-format off */
static const struct mac_case mac_cases[] = {
        { 0, "02:74:6c:00:00:00", "06:74:6c:00:00:00" },
        { 1, "02:74:6c:00:00:01", "06:74:6c:00:00:01" },
        { 255, "02:74:6c:00:00:ff", "06:74:6c:00:00:ff" },
        { 256, "02:74:6c:00:01:00", "06:74:6c:00:01:00" },
        { 65536, "02:74:6c:01:00:00", "06:74:6c:01:00:00" },
        { 0x123456, "02:74:6c:12:34:56", "06:74:6c:12:34:56" },
        { 0xffffff, "02:74:6c:ff:ff:ff", "06:74:6c:ff:ff:ff" },
};
/* clang-format on */

static void test_mac(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(mac_cases); i++) {
                uint8_t mac[6];
                char text[18];

                slot_guest_mac(mac_cases[i].slot, mac);
                slot_format_mac(mac, text);
                assert_string_equal(text, mac_cases[i].guest);
                slot_host_mac(mac_cases[i].slot, mac);
                slot_format_mac(mac, text);
                assert_string_equal(text, mac_cases[i].host);
        }

        /* byte order, checked on the bytes themselves */
        uint8_t mac[6];
        slot_guest_mac(0x123456, mac);
        assert_memory_equal(mac, ((uint8_t[]){0x02, 0x74, 0x6c, 0x12, 0x34, 0x56}), 6);
}

struct ip_arg_case {
        struct net_spec net;
        unsigned slot;
        const char *expected;
};

/* clang-format off */
static const struct ip_arg_case ip_arg_cases[] = {
        { {}, 0, "ip=10.213.0.2::10.213.0.1:255.255.255.252::eth0:off" },
        { {}, 1, "ip=10.213.0.6::10.213.0.5:255.255.255.252::eth0:off" },
        { {}, 16383, "ip=10.213.255.254::10.213.255.253:255.255.255.252::eth0:off" },
        { { .ipv4_prefix = 31 }, 3, "ip=10.213.0.7::10.213.0.6:255.255.255.254::eth0:off" },
        { { .ipv4_pool = "10.0.0.0/16", .ipv4_prefix = 24 }, 255,
          "ip=10.0.255.2::10.0.255.1:255.255.255.0::eth0:off" },
};
/* clang-format on */

static void test_kernel_ip_arg(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(ip_arg_cases); i++) {
                const struct ip_arg_case *t = &ip_arg_cases[i];
                size_t len = strlen(t->expected);
                char buf[128];
                struct config c;

                make_config(&t->net, &c);
                assert_int_equal(slot_kernel_ip_arg(&c, t->slot, buf, sizeof(buf)), 0);
                assert_string_equal(buf, t->expected);

                /* exactly enough room, then one byte short */
                memset(buf, 'x', sizeof(buf));
                assert_int_equal(slot_kernel_ip_arg(&c, t->slot, buf, len + 1), 0);
                assert_string_equal(buf, t->expected);
                memset(buf, 'x', sizeof(buf));
                assert_int_equal(slot_kernel_ip_arg(&c, t->slot, buf, len), -ENOBUFS);
                assert_int_equal(buf[0], 'x');
                config_done(&c);
        }
}

/* A clone slot's: [clone] guest, gateway and prefix, whatever the slot. */
static void test_clone_ip_arg(void **state)
{
        const struct net_spec net = {.ipv4_pool = "10.213.0.0/16", .ipv4_prefix = 30};
        const char *want = "ip=169.254.0.21::169.254.0.22:255.255.255.252::eth0:off";
        char buf[128];
        struct config c;

        make_config(&net, &c);
        assert_int_equal(slot_clone_ip_arg(&c, buf, sizeof(buf)), 0);
        assert_string_equal(buf, want);
        assert_int_equal(slot_clone_ip_arg(&c, buf, strlen(want)), -ENOBUFS);
        c.clone_prefix = 24;
        inet_pton(AF_INET, "192.168.7.2", &c.clone_guest);
        inet_pton(AF_INET, "192.168.7.1", &c.clone_gateway);
        assert_int_equal(slot_clone_ip_arg(&c, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "ip=192.168.7.2::192.168.7.1:255.255.255.0::eth0:off");
        config_done(&c);
}

/* --- the free list ------------------------------------------------------- */

/* Takes everything that is left and compares it with expected[]. */
static void expect_takes(struct slot_pool *p, const unsigned *expected, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned slot = NONE;

                assert_int_equal(slot_pool_take(p, &slot), 0);
                if (slot != expected[i])
                        fail_msg("take #%zu: slot %u, expected %u", i, slot, expected[i]);
                assert_true(slot_pool_is_used(p, slot));
        }
        unsigned slot = NONE;
        assert_int_equal(slot_pool_take(p, &slot), -ENOSPC);
        assert_int_equal(slot, NONE);
        assert_int_equal(p->n_free, 0);
}

static void test_pool_ascending(void **state)
{
        struct slot_pool p;

        assert_int_equal(slot_pool_init(&p, 5), 0);
        assert_int_equal(p.n_free, 5);
        for (unsigned s = 0; s < 5; s++)
                assert_false(slot_pool_is_used(&p, s));
        expect_takes(&p, (unsigned[]){0, 1, 2, 3, 4}, 5);
        slot_pool_done(&p);

        assert_int_equal(slot_pool_init(&p, 0), -EINVAL);
}

static void test_pool_lru(void **state)
{
        struct slot_pool p;
        unsigned slot;

        /* 0..5 in use; release 5, then 3. The untouched 6..9 come first,
         * then 5 (released earlier), then 3. */
        assert_int_equal(slot_pool_init(&p, 10), 0);
        for (unsigned i = 0; i < 6; i++) {
                assert_int_equal(slot_pool_take(&p, &slot), 0);
                assert_int_equal(slot, i);
        }
        assert_int_equal(slot_pool_put(&p, 5), 0);
        assert_int_equal(slot_pool_put(&p, 3), 0);
        assert_int_equal(p.n_free, 6);
        assert_false(slot_pool_is_used(&p, 3));
        assert_false(slot_pool_is_used(&p, 5));
        expect_takes(&p, (unsigned[]){6, 7, 8, 9, 5, 3}, 6);

        /* Everything in use: the release order alone decides. */
        static const unsigned order[] = {4, 0, 9, 1, 3};
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                assert_int_equal(slot_pool_put(&p, order[i]), 0);
        expect_takes(&p, order, ELEMENTSOF(order));

        /* A slot released, taken and released again moves to the back. */
        assert_int_equal(slot_pool_put(&p, 2), 0);
        assert_int_equal(slot_pool_put(&p, 7), 0);
        assert_int_equal(slot_pool_take(&p, &slot), 0);
        assert_int_equal(slot, 2);
        assert_int_equal(slot_pool_put(&p, 2), 0);
        expect_takes(&p, (unsigned[]){7, 2}, 2);
        slot_pool_done(&p);
}

static void test_pool_take_slot(void **state)
{
        struct slot_pool p;

        assert_int_equal(slot_pool_init(&p, 10), 0);
        assert_int_equal(slot_pool_take_slot(&p, 4), 0);
        assert_true(slot_pool_is_used(&p, 4));
        assert_int_equal(p.n_free, 9);
        assert_int_equal(slot_pool_take_slot(&p, 4), -EBUSY);
        assert_int_equal(slot_pool_take_slot(&p, 10), -ERANGE);
        assert_int_equal(slot_pool_take_slot(&p, UINT32_MAX), -ERANGE);
        assert_int_equal(p.n_free, 9);
        expect_takes(&p, (unsigned[]){0, 1, 2, 3, 5, 6, 7, 8, 9}, 9);
        slot_pool_done(&p);

        /* the head and the tail */
        assert_int_equal(slot_pool_init(&p, 3), 0);
        assert_int_equal(slot_pool_take_slot(&p, 0), 0);
        assert_int_equal(slot_pool_take_slot(&p, 2), 0);
        expect_takes(&p, (unsigned[]){1}, 1);
        assert_int_equal(slot_pool_put(&p, 2), 0);
        assert_int_equal(slot_pool_put(&p, 0), 0);
        assert_int_equal(slot_pool_take_slot(&p, 0), 0); /* the tail now */
        assert_int_equal(slot_pool_put(&p, 1), 0);
        expect_takes(&p, (unsigned[]){2, 1}, 2);
        slot_pool_done(&p);
}

static void test_pool_put_errors(void **state)
{
        struct slot_pool p;
        unsigned slot;

        assert_int_equal(slot_pool_init(&p, 4), 0);
        assert_int_equal(slot_pool_put(&p, 1), -EINVAL); /* free already */
        assert_int_equal(slot_pool_put(&p, 4), -EINVAL); /* out of range */
        assert_int_equal(p.n_free, 4);
        assert_int_equal(slot_pool_take(&p, &slot), 0);
        assert_int_equal(slot_pool_put(&p, slot), 0);
        assert_int_equal(slot_pool_put(&p, slot), -EINVAL); /* twice */
        assert_int_equal(p.n_free, 4);
        assert_false(slot_pool_is_used(&p, 4));
        expect_takes(&p, (unsigned[]){1, 2, 3, 0}, 4);
        slot_pool_done(&p);
}

/* How many entries of the pool's arrays differ from a snapshot. */
struct pool_snapshot {
        uint32_t *next, *prev;
        uint8_t *used;
};

static void snapshot(const struct slot_pool *p, struct pool_snapshot *s)
{
        s->next = malloc(p->n * sizeof(uint32_t));
        s->prev = malloc(p->n * sizeof(uint32_t));
        s->used = malloc(p->n);
        assert_non_null(s->next);
        assert_non_null(s->prev);
        assert_non_null(s->used);
        memcpy(s->next, p->next, p->n * sizeof(uint32_t));
        memcpy(s->prev, p->prev, p->n * sizeof(uint32_t));
        memcpy(s->used, p->used, p->n);
}

static size_t changed_since(const struct slot_pool *p, struct pool_snapshot *s)
{
        size_t changed = 0;

        for (unsigned i = 0; i < p->n; i++)
                changed +=
                    (p->next[i] != s->next[i]) + (p->prev[i] != s->prev[i]) + (p->used[i] != s->used[i]);
        free(s->next);
        free(s->prev);
        free(s->used);
        return changed;
}

/* The same operations on a small and the largest pool change the same
 * handful of entries. */
static void pool_op_writes(unsigned n, size_t counts[4])
{
        struct pool_snapshot s;
        struct slot_pool p;
        unsigned slot, mid = n / 2;

        assert_int_equal(slot_pool_init(&p, n), 0);

        snapshot(&p, &s);
        assert_int_equal(slot_pool_take(&p, &slot), 0);
        counts[0] = changed_since(&p, &s);

        snapshot(&p, &s);
        assert_int_equal(slot_pool_take_slot(&p, mid), 0);
        counts[1] = changed_since(&p, &s);

        snapshot(&p, &s);
        assert_int_equal(slot_pool_put(&p, mid), 0);
        counts[2] = changed_since(&p, &s);

        snapshot(&p, &s);
        assert_int_equal(slot_pool_put(&p, slot), 0);
        counts[3] = changed_since(&p, &s);

        slot_pool_done(&p);
}

static void test_pool_constant_writes(void **state)
{
        size_t small[4], large[4];

        pool_op_writes(16, small);
        pool_op_writes(CONFIG_MAX_SLOTS_LIMIT, large);
        for (size_t i = 0; i < 4; i++) {
                assert_true(large[i] <= 4);
                assert_int_equal(small[i], large[i]);
        }
}

/* Reads count as much as writes: everything of the pool's arrays but the
 * pages holding the entries an operation has any business with is made
 * inaccessible while it runs. A scan, or any walk of the list, faults. */
struct guard {
        void *pages[4096];
        size_t n;
};

static bool page_needed(uintptr_t page, size_t page_size, const void *base, size_t elem_size,
                        const unsigned *slots, size_t n_slots)
{
        for (size_t i = 0; i < n_slots; i++) {
                uintptr_t a;

                if (slots[i] == NONE)
                        continue;
                a = (uintptr_t)base + (uintptr_t)slots[i] * elem_size;
                if (a >= page && a < page + page_size)
                        return true;
        }
        return false;
}

static void guard_array(struct guard *g, const void *base, size_t elem_size, size_t n, const unsigned *slots,
                        size_t n_slots)
{
        size_t page_size = (size_t)sysconf(_SC_PAGESIZE);
        uintptr_t start = ((uintptr_t)base + page_size - 1) & ~(uintptr_t)(page_size - 1);
        uintptr_t end = ((uintptr_t)base + elem_size * n) & ~(uintptr_t)(page_size - 1);

        for (uintptr_t page = start; page < end; page += page_size) {
                if (page_needed(page, page_size, base, elem_size, slots, n_slots))
                        continue;
                assert_true(g->n < ELEMENTSOF(g->pages));
                assert_int_equal(mprotect((void *)page, page_size, PROT_NONE), 0);
                g->pages[g->n++] = (void *)page;
        }
}

static void guard_pool(struct guard *g, const struct slot_pool *p, const unsigned *slots, size_t n_slots)
{
        g->n = 0;
        guard_array(g, p->next, sizeof(uint32_t), p->n, slots, n_slots);
        guard_array(g, p->prev, sizeof(uint32_t), p->n, slots, n_slots);
        guard_array(g, p->used, 1, p->n, slots, n_slots);
        /* 2^20 slots are 9 MiB, 2304 pages; a few stay open. */
        assert_true(g->n > 2200);
}

static void unguard(struct guard *g)
{
        size_t page_size = (size_t)sysconf(_SC_PAGESIZE);

        for (size_t i = 0; i < g->n; i++)
                assert_int_equal(mprotect(g->pages[i], page_size, PROT_READ | PROT_WRITE), 0);
        g->n = 0;
}

static void test_pool_constant_access(void **state)
{
        static struct guard g;
        struct slot_pool p;
        unsigned n = CONFIG_MAX_SLOTS_LIMIT, far = 500000, slot = NONE;

        assert_int_equal(slot_pool_init(&p, n), 0);

        /* take: the head and its successor */
        guard_pool(&g, &p, (unsigned[]){p.head, p.next[p.head]}, 2);
        assert_int_equal(slot_pool_take(&p, &slot), 0);
        unguard(&g);
        assert_int_equal(slot, 0);

        /* take_slot: the slot and its neighbours */
        guard_pool(&g, &p, (unsigned[]){far, p.prev[far], p.next[far]}, 3);
        assert_int_equal(slot_pool_take_slot(&p, far), 0);
        unguard(&g);

        /* put: the slot and the tail */
        guard_pool(&g, &p, (unsigned[]){far, p.tail}, 2);
        assert_int_equal(slot_pool_put(&p, far), 0);
        unguard(&g);
        guard_pool(&g, &p, (unsigned[]){0, p.tail}, 2);
        assert_int_equal(slot_pool_put(&p, 0), 0);
        unguard(&g);

        /* take_slot of the tail, whose neighbour is far away */
        guard_pool(&g, &p, (unsigned[]){0, p.prev[0], p.next[0]}, 3);
        assert_int_equal(slot_pool_take_slot(&p, 0), 0);
        unguard(&g);

        /* is_used of anything */
        guard_pool(&g, &p, (unsigned[]){777777}, 1);
        assert_false(slot_pool_is_used(&p, 777777));
        unguard(&g);

        assert_int_equal(p.n_free, n - 1);
        assert_int_equal(p.tail, far);
        assert_int_equal(slot_pool_take(&p, &slot), 0);
        assert_int_equal(slot, 1);
        slot_pool_done(&p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_capacity),
            cmocka_unit_test(test_capacity_default),
            cmocka_unit_test(test_addresses),
            cmocka_unit_test(test_addresses_every_slot),
            cmocka_unit_test(test_reverse),
            cmocka_unit_test(test_from_guest),
            cmocka_unit_test(test_ifname_parse),
            cmocka_unit_test(test_ifname_round_trip),
            cmocka_unit_test(test_ifname_long_prefix),
            cmocka_unit_test(test_mac),
            cmocka_unit_test(test_kernel_ip_arg),
            cmocka_unit_test(test_clone_ip_arg),
            cmocka_unit_test(test_pool_ascending),
            cmocka_unit_test(test_pool_lru),
            cmocka_unit_test(test_pool_take_slot),
            cmocka_unit_test(test_pool_put_errors),
            cmocka_unit_test(test_pool_constant_writes),
            cmocka_unit_test(test_pool_constant_access),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
#pragma once

/* What the configuration's unit tests (test-config.c, test-config-access.c,
 * test-config-print.c) share: a temporary directory for the config file
 * (the group setup and teardown), loading a text over the defaults,
 * comparing two configurations field by field, and a file that sets every
 * key. Include after <cmocka.h>. */

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char tmpdir[] = "/tmp/test-config-XXXXXX";
static char conf_path[sizeof(tmpdir) + 32];
static char printed_path[sizeof(tmpdir) + 32];

static inline int setup(void **state)
{
        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(conf_path, sizeof(conf_path), "%s/taplinkd.conf", tmpdir);
        snprintf(printed_path, sizeof(printed_path), "%s/printed.conf", tmpdir);
        return 0;
}

static inline int teardown(void **state)
{
        unlink(conf_path);
        unlink(printed_path);
        return rmdir(tmpdir);
}

static inline void write_file(const char *path, const char *content, size_t len)
{
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(content, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

/* Defaults, then content as the config file. */
static inline int load_text(const char *content, struct config *c, char **ret_error)
{
        char *warning = NULL;

        write_file(conf_path, content, strlen(content));
        assert_int_equal(config_init(c, &warning), 0);
        free(warning);
        *ret_error = NULL;
        return config_load(c, conf_path, ret_error);
}

static inline const char *ntop4(struct in_addr a, char buf[INET_ADDRSTRLEN])
{
        return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static inline const char *ntop6(const struct in6_addr *a, char buf[INET6_ADDRSTRLEN])
{
        return inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
}

static inline void assert_config_equal(const struct config *a, const struct config *b)
{
        assert_string_equal(a->socket_path, b->socket_path);
        assert_string_equal(a->ifname_prefix, b->ifname_prefix);
        assert_int_equal(a->max_slots, b->max_slots);
        assert_string_equal(a->nft_table, b->nft_table);
        assert_int_equal(a->forward_ipv4, b->forward_ipv4);
        assert_int_equal(a->forward_ipv6, b->forward_ipv6);
        assert_memory_equal(&a->ipv4_pool, &b->ipv4_pool, sizeof(a->ipv4_pool));
        assert_int_equal(a->ipv4_pool_prefix, b->ipv4_pool_prefix);
        assert_int_equal(a->ipv4_prefix, b->ipv4_prefix);
        assert_int_equal(a->ipv6, b->ipv6);
        assert_memory_equal(&a->ipv6_pool, &b->ipv6_pool, sizeof(a->ipv6_pool));
        assert_int_equal(a->ipv6_pool_prefix, b->ipv6_pool_prefix);
        assert_int_equal(a->ipv6_prefix, b->ipv6_prefix);
        assert_int_equal(a->mtu, b->mtu);
        assert_int_equal(a->masquerade, b->masquerade);
        assert_int_equal(a->n_isolate, b->n_isolate);
        assert_memory_equal(a->isolate, b->isolate, sizeof(a->isolate));
        assert_int_equal(a->n_allow_users, b->n_allow_users);
        if (a->n_allow_users > 0)
                assert_memory_equal(a->allow_users, b->allow_users, a->n_allow_users * sizeof(uid_t));
        assert_int_equal(a->n_allow_groups, b->n_allow_groups);
        if (a->n_allow_groups > 0)
                assert_memory_equal(a->allow_groups, b->allow_groups, a->n_allow_groups * sizeof(gid_t));
        assert_int_equal(a->max_slots_per_user, b->max_slots_per_user);
        assert_int_equal(a->default_egress, b->default_egress);
        assert_int_equal(a->publish_port_min, b->publish_port_min);
        assert_int_equal(a->publish_port_max, b->publish_port_max);
        assert_int_equal(a->max_published_per_slot, b->max_published_per_slot);
        assert_string_equal(a->allow_users_text, b->allow_users_text);
        assert_string_equal(a->allow_groups_text, b->allow_groups_text);
        assert_int_equal(a->effective_max_slots, b->effective_max_slots);
        assert_int_equal(a->guest_dhcp, b->guest_dhcp);
        assert_int_equal(a->guest_router_advertisements, b->guest_router_advertisements);
        assert_int_equal(a->guest_dhcpv6, b->guest_dhcpv6);
        assert_int_equal(a->dhcp_lease_time, b->dhcp_lease_time);
        assert_int_equal(a->dns_auto, b->dns_auto);
        assert_int_equal(a->dns.n_v4, b->dns.n_v4);
        if (a->dns.n_v4 > 0)
                assert_memory_equal(a->dns.v4, b->dns.v4, a->dns.n_v4 * sizeof(a->dns.v4[0]));
        assert_int_equal(a->dns.n_v6, b->dns.n_v6);
        if (a->dns.n_v6 > 0)
                assert_memory_equal(a->dns.v6, b->dns.v6, a->dns.n_v6 * sizeof(a->dns.v6[0]));
        assert_string_equal(a->dns.search, b->dns.search);
        assert_int_equal(a->clone_enabled, b->clone_enabled);
        assert_string_equal(a->clone_tap_name, b->clone_tap_name);
        assert_memory_equal(a->clone_tap_mac, b->clone_tap_mac, 6);
        assert_int_equal(a->clone_guest.s_addr, b->clone_guest.s_addr);
        assert_int_equal(a->clone_gateway.s_addr, b->clone_gateway.s_addr);
        assert_int_equal(a->clone_prefix, b->clone_prefix);
        assert_int_equal(a->clone_pool, b->clone_pool);
}

/* A file that sets every key, none at its default. */
static const char every_key[] = "# every key, none at its default\n"
                                "[daemon]\n"
                                "socket = /run/test/tl.sock\n"
                                "ifname_prefix = vm-\n"
                                "max_slots = 1000\n"
                                "nft_table = my_table.v2\n"
                                "forward_ipv4 = no\n"
                                "forward_ipv6 = YES\n"
                                "\n"
                                "[network]\n"
                                "ipv4_pool = 172.16.0.0/12\n"
                                "ipv4_prefix = 29\n"
                                "ipv6 = false\n"
                                "ipv6_pool = fd00:1234::/32\n"
                                "ipv6_prefix = 80\n"
                                "mtu = 9000 ; jumbo frames\n"
                                "masquerade = 0\n"
                                "\n"
                                "[access]\n"
                                "allow_users = root, 0\n"
                                "allow_groups = root\n"
                                "max_slots_per_user = 0\n"
                                "\n"
                                "[guest]\n"
                                "dhcp = no\n"
                                "router_advertisements = False\n"
                                "dhcpv6 = 0\n"
                                "dhcp_lease_time = 3600\n"
                                "dns_servers = 192.0.2.53, 2001:db8::53 198.51.100.53\n"
                                "dns_search = lab.example.org.\n"
                                "\n"
                                "[policy]\n"
                                "default_egress = public\n"
                                "publish_port_range = 1024 - 2047\n"
                                "max_published_per_slot = 0\n"
                                "\n"
                                "[clone]\n"
                                "enabled = yes\n"
                                "tap_name = eth0\n"
                                "tap_mac = 02:AB:cd:00:00:01\n"
                                "guest = 192.168.7.2\n"
                                "gateway = 192.168.7.1\n"
                                "prefix = 24\n"
                                "pool = 0\n";

/* A DNS label of the most characters, 63. */
#define LABEL_63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

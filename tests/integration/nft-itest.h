/* SPDX-License-Identifier: MIT */
#pragma once

/* What the nftables integration tests (test-nft.c, test-nft-elems.c) share:
 * the table as docs/DESIGN.md documents it, the table and its sets as `nft`
 * shows them from outside, and the fixture (a flushed ruleset and an nft
 * handle with the default configuration). Include after <cmocka.h>. */

#include <fcntl.h>
#include <json-c/json.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../itest.h"

#include "config.h"
#include "macro.h"
#include "nft.h"

/* The rules input and forward end with. */
#define EGRESS_TAIL                                                                                 \
        "    iifname \"tl*\" iifname . ip daddr @allow_v4 accept\n"                                 \
        "    iifname \"tl*\" iifname . ip daddr . meta l4proto @allow_proto_v4 accept\n"            \
        "    iifname \"tl*\" iifname . ip daddr . meta l4proto . th dport @allow_port_v4 accept\n"  \
        "    iifname \"tl*\" iifname . ip6 daddr @allow_v6 accept\n"                                \
        "    iifname \"tl*\" iifname . ip6 daddr . meta l4proto @allow_proto_v6 accept\n"           \
        "    iifname \"tl*\" iifname . ip6 daddr . meta l4proto . th dport @allow_port_v6 accept\n" \
        "    iifname \"tl*\" ct direction reply accept\n"                                           \
        "    iifname \"tl*\" update @dropped_policy { iifname } drop\n"

/* The table with the default configuration, as docs/DESIGN.md ("The
 * nftables layout") prints it. */
/* prerouting and output alike: published ports. */
#define PUBLISH_RULES                                                                                        \
        "    fib daddr type local ip daddr != 127.0.0.0/8 dnat ip to ip daddr . meta l4proto . th dport map " \
        "@published_v4\n"                                                                                   \
        "    fib daddr type local ip daddr != 127.0.0.0/8 dnat ip to meta l4proto . th dport map "           \
        "@published_any_v4\n"                                                                               \
        "    fib daddr type local ip6 daddr != ::1 dnat ip6 to ip6 daddr . meta l4proto . th dport map "      \
        "@published_v6\n"                                                                                   \
        "    fib daddr type local ip6 daddr != ::1 dnat ip6 to meta l4proto . th dport map @published_any_v6\n"

static const char documented_table[] =
    "table inet taplinkd {\n"
    "  set slots_v4  { type ipv4_addr; }                   # every live slot's IPv4 subnet base\n"
    "  set slots_v6  { type ipv6_addr; }                   # every live slot's IPv6 subnet base\n"
    "  set guests_v4 { type ifname . ipv4_addr; }          # (tap, guest address): anti-spoofing\n"
    "  set guests_v6 { type ifname . ipv6_addr; }\n"
    "  set dropped_spoofed { type ifname; size 2097152; flags dynamic; counter; }\n"
    "  set dropped_policy { type ifname; size 2097152; flags dynamic; counter; }\n"
    "  set egress_none { type ifname; }\n"
    "  set egress_host { type ifname; }\n"
    "  set egress_public { type ifname; }\n"
    "  set egress_internet { type ifname; }\n"
    "  set allow_v4 { type ifname . ipv4_addr; flags interval; }\n"
    "  set allow_proto_v4 { type ifname . ipv4_addr . inet_proto; flags interval; }\n"
    "  set allow_port_v4 { type ifname . ipv4_addr . inet_proto . inet_service; flags interval; }\n"
    "  set allow_v6 { type ifname . ipv6_addr; flags interval; }\n"
    "  set allow_proto_v6 { type ifname . ipv6_addr . inet_proto; flags interval; }\n"
    "  set allow_port_v6 { type ifname . ipv6_addr . inet_proto . inet_service; flags interval; }\n"
    "  map published_v4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }\n"
    "  map published_any_v4 { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
    "  map published_v6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }\n"
    "  map published_any_v6 { type inet_proto . inet_service : ipv6_addr . inet_service; }\n"
    "  chain input {\n"
    "    type filter hook input priority filter; policy accept;\n"
    "    iifname \"tl*\" iifname . ip saddr != @guests_v4 update @dropped_spoofed { iifname } drop\n"
    "    iifname \"tl*\" ip6 saddr != { ::, fe80::/10 } iifname . ip6 saddr != @guests_v6 update @dropped_spoofed { iifname } drop\n"
    "    iifname \"tl*\" iifname != @egress_none accept\n"
    "    iifname \"tl*\" icmpv6 type 135-136 accept\n" EGRESS_TAIL "  }\n"
    "  chain forward {\n"
    "    type filter hook forward priority filter; policy accept;\n"
    "    iifname \"tl*\" iifname . ip saddr != @guests_v4 update @dropped_spoofed { iifname } drop\n"
    "    iifname \"tl*\" iifname . ip6 saddr != @guests_v6 update @dropped_spoofed { iifname } drop\n"
    "    ip saddr & 255.255.255.252 @slots_v4 ip daddr & 255.255.255.252 @slots_v4 drop\n"
    "    ip6 saddr & ffff:ffff:ffff:ffff:: @slots_v6 ip6 daddr & ffff:ffff:ffff:ffff:: @slots_v6 drop\n"
    "    iifname \"tl*\" ip daddr 10.213.0.0/16 drop\n"
    "    iifname \"tl*\" ip6 daddr fd74:6c00::/48 drop\n"
    "    iifname \"tl*\" iifname @egress_internet accept\n"
    "    iifname \"tl*\" iifname @egress_public ip daddr != { 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, "
    "127.0.0.0/8, "
    "168.63.129.16, 169.254.0.0/16, 172.16.0.0/12, 192.0.0.0/24, 192.168.0.0/16, 198.18.0.0/15, 224.0.0.0/3 "
    "} "
    "accept\n"
    "    iifname \"tl*\" iifname @egress_public ip6 daddr != { ::/127, ::ffff:0.0.0.0/96, 64:ff9b:1::/48, "
    "fc00::/7, fe80::/10, ff00::/8 } accept\n" EGRESS_TAIL "  }\n"
    "  chain postrouting {\n"
    "    type nat hook postrouting priority srcnat; policy accept;\n"
    "    ip saddr & 255.255.255.252 @slots_v4 ip daddr & 255.255.255.252 != @slots_v4 masquerade\n"
    "  }\n"
    "  chain prerouting {\n"
    "    type nat hook prerouting priority dstnat; policy accept;\n" PUBLISH_RULES "  }\n"
    "  chain output {\n"
    "    type nat hook output priority -100; policy accept;\n" PUBLISH_RULES "  }\n"
    "}\n";

/* ---- looking from outside ---- */

/* Tokens of a ruleset text, so that the documented one-line sets compare
 * equal to nft's multi-line ones: comments and ';' go; so does "==",
 * which nft 1.0.6 prints before a masked set lookup although its own
 * parser (and docs/DESIGN.md) leave it out. */
static inline size_t tokens(const char *text, char ***ret)
{
        char *copy = strdup(text), *save = NULL;
        char **v = NULL;
        size_t n = 0;

        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *hash = strchr(line, '#');
                char *save2 = NULL;
                if (hash)
                        *hash = '\0';
                for (char *t = strtok_r(line, " \t;", &save2); t; t = strtok_r(NULL, " \t;", &save2)) {
                        if (strcmp(t, "==") == 0)
                                continue;
                        v = realloc(v, (n + 1) * sizeof(*v));
                        v[n++] = strdup(t);
                }
        }
        free(copy);
        *ret = v;
        return n;
}

static inline void free_tokens(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static inline int strcmp_p(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The table's sets and chains, one string each, sorted: a chain that was
 * recreated is listed last, which changes nothing. */
static inline char *canonical_blocks(char **t, size_t n)
{
        char **blocks = NULL;
        size_t n_blocks = 0, total = 1;
        int depth = 0;

        for (size_t i = 0; i < n; i++) {
                if (strcmp(t[i], "{") == 0 && depth++ == 1)
                        continue;
                if (strcmp(t[i], "}") == 0 && --depth >= 0)
                        continue;
                if (depth == 1 && (strcmp(t[i], "set") == 0 || strcmp(t[i], "chain") == 0)) {
                        blocks = realloc(blocks, (n_blocks + 1) * sizeof(*blocks));
                        blocks[n_blocks++] = strdup("");
                }
                if (n_blocks == 0)
                        continue; /* the table line */
                char **b = &blocks[n_blocks - 1];
                size_t len = strlen(*b);
                *b = realloc(*b, len + strlen(t[i]) + 2);
                sprintf(*b + len, "%s ", t[i]);
        }
        qsort(blocks, n_blocks, sizeof(*blocks), strcmp_p);
        for (size_t i = 0; i < n_blocks; i++)
                total += strlen(blocks[i]) + 1;
        char *out = calloc(1, total);
        for (size_t i = 0; i < n_blocks; i++) {
                strcat(out, blocks[i]);
                strcat(out, "\n");
                free(blocks[i]);
        }
        free(blocks);
        return out;
}

/* `nft list table inet <table>` must read as `want`; with any_order, the
 * order of its sets and chains does not matter. */
static inline void assert_table_text_order(const char *table, const char *want, bool any_order)
{
        char *have = run_output("nft -t list table inet %s", table); /* -t: without elements */
        char **a, **b;
        size_t na = tokens(have, &a), nb = tokens(want, &b);
        bool same = na == nb;

        if (any_order) {
                char *ca = canonical_blocks(a, na), *cb = canonical_blocks(b, nb);
                same = same && strcmp(a[2], b[2]) == 0 && strcmp(ca, cb) == 0;
                free(ca);
                free(cb);
        } else
                for (size_t i = 0; same && i < na; i++)
                        same = strcmp(a[i], b[i]) == 0;
        if (!same)
                fail_msg("nft list table inet %s:\n%s\nwant:\n%s", table, have, want);
        free_tokens(a, na);
        free_tokens(b, nb);
        free(have);
}

static inline void assert_table_text(const char *table, const char *want)
{
        assert_table_text_order(table, want, true);
}

/* The ruleset generation, which every committed batch bumps. */
static inline uint32_t nft_generation(void)
{
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        char buf[MNL_SOCKET_BUFFER_SIZE];
        uint32_t gen = 0;

        assert_non_null(nl);
        assert_int_equal(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
        struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, 0, 1);
        assert_true(mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) > 0);
        ssize_t len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        assert_true(len > 0);
        nlh = (struct nlmsghdr *)buf;
        assert_int_equal(nlh->nlmsg_type, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN);
        struct nftnl_gen *g = nftnl_gen_alloc();
        assert_int_equal(nftnl_gen_nlmsg_parse(nlh, g), 0);
        gen = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
        nftnl_gen_free(g);
        mnl_socket_close(nl);
        return gen;
}

/* The elements of a set as nft prints them: "a.b.c.d", "tl1 . a.b.c.d". */
static inline size_t set_elements(const char *table, const char *set, char ***ret)
{
        json_object *root = run_json("nft -j list set inet %s %s", table, set), *arr, *s = NULL, *elems;
        char **v = NULL;
        size_t n = 0;

        json_object_object_get_ex(root, "nftables", &arr);
        for (size_t i = 0; i < json_object_array_length(arr); i++)
                if (json_object_object_get_ex(json_object_array_get_idx(arr, i), "set", &s))
                        break;
        assert_non_null(s);
        if (json_object_object_get_ex(s, "elem", &elems))
                for (size_t i = 0; i < json_object_array_length(elems); i++) {
                        json_object *e = json_object_array_get_idx(elems, i), *concat;
                        char text[128];
                        if (json_object_object_get_ex(e, "concat", &concat))
                                snprintf(text, sizeof(text), "%s . %s",
                                         json_object_get_string(json_object_array_get_idx(concat, 0)),
                                         json_object_get_string(json_object_array_get_idx(concat, 1)));
                        else
                                snprintf(text, sizeof(text), "%s", json_object_get_string(e));
                        v = realloc(v, (n + 1) * sizeof(*v));
                        v[n++] = strdup(text);
                }
        json_object_put(root);
        *ret = v;
        return n;
}

static inline bool set_has(const char *table, const char *set, const char *elem)
{
        char **v;
        size_t n = set_elements(table, set, &v);
        bool found = false;
        for (size_t i = 0; i < n; i++)
                found = found || strcmp(v[i], elem) == 0;
        free_tokens(v, n);
        return found;
}

static inline size_t set_count(const char *table, const char *set)
{
        char **v;
        size_t n = set_elements(table, set, &v);
        free_tokens(v, n);
        return n;
}

/* ---- setup ---- */

static inline void config_default(struct config *c)
{
        char *warning = NULL;
        assert_int_equal(config_init(c, &warning), 0);
        free(warning);
}

struct fixture {
        struct config c;
        struct nft *n;
};

static inline int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        if (system("nft flush ruleset") != 0)
                return -1;
        config_default(&f->c);
        if (nft_open(&f->c, &f->n) < 0)
                return -1;
        *state = f;
        return 0;
}

static inline int teardown(void **state)
{
        struct fixture *f = *state;
        nft_close(f->n);
        config_done(&f->c);
        free(f);
        return system("nft flush ruleset") == 0 ? 0 : -1;
}

/* The elements of slots, as the manager makes them. */
static inline size_t slots_elems(const struct config *c, unsigned first, unsigned count, struct nft_elem **ret)
{
        struct nft_elem *e = calloc((size_t)count * NFT_SLOT_ELEMS_MAX, sizeof(*e));
        size_t n = 0;
        for (unsigned s = first; s < first + count; s++)
                n += nft_slot_elems(c, s, e + n);
        *ret = e;
        return n;
}

static inline void assert_slot_present(const char *table, unsigned slot, bool present)
{
        char want[64];
        /* Default pools: 10.213.0.0/16 by /30, fd74:6c00::/48 by /64. */
        snprintf(want, sizeof(want), "10.213.%u.%u", slot * 4 / 256, slot * 4 % 256);
        assert_int_equal(set_has(table, "slots_v4", want), present);
        snprintf(want, sizeof(want), "tl%u . 10.213.%u.%u", slot, slot * 4 / 256, slot * 4 % 256 + 2);
        assert_int_equal(set_has(table, "guests_v4", want), present);
        snprintf(want, sizeof(want), "fd74:6c00:0:%x::", slot);
        assert_int_equal(set_has(table, "slots_v6", want), present);
        snprintf(want, sizeof(want), "tl%u . fd74:6c00:0:%x::2", slot, slot);
        assert_int_equal(set_has(table, "guests_v6", want), present);
}

/* Writes value into an existing file (a sysctl under /proc/sys). */
static inline void write_file(const char *path, const char *value)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, value, strlen(value)), (ssize_t)strlen(value));
        close(fd);
}

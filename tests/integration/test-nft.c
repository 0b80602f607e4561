/* SPDX-License-Identifier: MIT */
// MODULES: nft nft-build nft-expr nft-elems nft-parse nft-egress nft-publish publish egress nft-ruleset sysctl slot config config-values
/* src/nft.c against the real kernel, in a throwaway network namespace (make
 * check runs it under `unshare -n`; it refuses to run in the host's
 * namespace). What the module did is checked from outside with `nft -j` and
 * `nft list`, and broken from outside with `nft delete ...`. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../itest.h"

#include "config.h"
#include "macro.h"
#include "nft.h"
#include "sysctl.h"
#include "slot.h"

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
static size_t tokens(const char *text, char ***ret)
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

static void free_tokens(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int strcmp_p(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The table's sets and chains, one string each, sorted: a chain that was
 * recreated is listed last, which changes nothing. */
static char *canonical_blocks(char **t, size_t n)
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
static void assert_table_text_order(const char *table, const char *want, bool any_order)
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

static void assert_table_text(const char *table, const char *want)
{
        assert_table_text_order(table, want, true);
}

/* The documented table with the names and masks of another configuration. */
static char *documented_text_for(const char *table, const char *prefix, const char *mask4, const char *mask6,
                                 bool masquerade)
{
        char *text = strdup(documented_table);
        struct {
                const char *from, *to;
        } subst[] = {
            {"table inet taplinkd", NULL},
            {"\"tl*\"", NULL},
            {"255.255.255.252", mask4},
            {"ffff:ffff:ffff:ffff::", mask6},
        };
        char table_line[300], pattern[32];

        snprintf(table_line, sizeof(table_line), "table inet %s", table);
        snprintf(pattern, sizeof(pattern), "\"%s*\"", prefix);
        subst[0].to = table_line;
        subst[1].to = pattern;
        for (size_t i = 0; i < ELEMENTSOF(subst); i++) {
                char *at;
                while ((at = strstr(text, subst[i].from)) && strcmp(subst[i].from, subst[i].to) != 0) {
                        size_t before = (size_t)(at - text);
                        char *next = malloc(strlen(text) + strlen(subst[i].to) + 1);
                        memcpy(next, text, before);
                        strcpy(next + before, subst[i].to);
                        strcat(next, at + strlen(subst[i].from));
                        free(text);
                        text = next;
                }
        }
        if (!masquerade) {
                char *rule = strstr(text, "    ip saddr &");
                rule = rule ? strstr(rule + 1, "    ip saddr &") : NULL; /* the postrouting one */
                assert_non_null(rule);
                char *end = strchr(rule, '\n');
                memmove(rule, end + 1, strlen(end + 1) + 1);
        }
        return text;
}

static json_object *ruleset_objects(void)
{
        json_object *j = run_json("nft -j -a list ruleset"), *arr;
        assert_true(json_object_object_get_ex(j, "nftables", &arr));
        return j;
}

/* The objects of one kind ("set", "chain", "rule") of table, in order. */
static size_t objects(json_object *root, const char *kind, const char *table, const char *chain,
                      json_object **ret, size_t max)
{
        json_object *arr;
        size_t n = 0;

        json_object_object_get_ex(root, "nftables", &arr);
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *o = json_object_array_get_idx(arr, i), *inner, *t, *c;
                if (!json_object_object_get_ex(o, kind, &inner))
                        continue;
                if (!json_object_object_get_ex(inner, "table", &t) ||
                    strcmp(json_object_get_string(t), table) != 0)
                        continue;
                if (chain && (!json_object_object_get_ex(inner, "chain", &c) ||
                              strcmp(json_object_get_string(c), chain) != 0))
                        continue;
                if (n < max)
                        ret[n] = inner;
                n++;
        }
        return n;
}

static const char *field(json_object *o, const char *key)
{
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v))
                return NULL;
        return json_object_get_string(v);
}

static int64_t field_int(json_object *o, const char *key)
{
        json_object *v;
        assert_true(json_object_object_get_ex(o, key, &v));
        return json_object_get_int64(v);
}

/* Handle of the nth rule of a chain. */
static int64_t rule_handle(const char *table, const char *chain, size_t nth)
{
        json_object *root = ruleset_objects(), *rules[16];
        size_t n = objects(root, "rule", table, chain, rules, 16);
        assert_true(nth < n);
        int64_t h = field_int(rules[nth], "handle");
        json_object_put(root);
        return h;
}

/* Every handle of the table, as text: equal texts mean nothing was
 * replaced. */
static char *table_handles(const char *table)
{
        json_object *root = ruleset_objects(), *arr;
        char *out = calloc(1, 1);
        size_t len = 0;

        json_object_object_get_ex(root, "nftables", &arr);
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *o = json_object_array_get_idx(arr, i);
                json_object_object_foreach(o, kind, inner)
                {
                        const char *t = field(inner, kind[0] == 't' ? "name" : "table");
                        json_object *h;
                        if (!t || strcmp(t, table) != 0 || !json_object_object_get_ex(inner, "handle", &h))
                                continue;
                        char item[128];
                        int k =
                            snprintf(item, sizeof(item), "%s:%" PRId64 " ", kind, json_object_get_int64(h));
                        out = realloc(out, len + (size_t)k + 1);
                        memcpy(out + len, item, (size_t)k + 1);
                        len += (size_t)k;
                }
        }
        json_object_put(root);
        return out;
}

/* The ruleset generation, which every committed batch bumps. */
static uint32_t nft_generation(void)
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
static size_t set_elements(const char *table, const char *set, char ***ret)
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

static bool set_has(const char *table, const char *set, const char *elem)
{
        char **v;
        size_t n = set_elements(table, set, &v);
        bool found = false;
        for (size_t i = 0; i < n; i++)
                found = found || strcmp(v[i], elem) == 0;
        free_tokens(v, n);
        return found;
}

static size_t set_count(const char *table, const char *set)
{
        char **v;
        size_t n = set_elements(table, set, &v);
        free_tokens(v, n);
        return n;
}

/* ---- setup ---- */

static void config_default(struct config *c)
{
        char *warning = NULL;
        assert_int_equal(config_init(c, &warning), 0);
        free(warning);
}

struct fixture {
        struct config c;
        struct nft *n;
};

static int setup(void **state)
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

static int teardown(void **state)
{
        struct fixture *f = *state;
        nft_close(f->n);
        config_done(&f->c);
        free(f);
        return system("nft flush ruleset") == 0 ? 0 : -1;
}

/* The elements of slots, as the manager makes them. */
static size_t slots_elems(const struct config *c, unsigned first, unsigned count, struct nft_elem **ret)
{
        struct nft_elem *e = calloc((size_t)count * NFT_SLOT_ELEMS_MAX, sizeof(*e));
        size_t n = 0;
        for (unsigned s = first; s < first + count; s++)
                n += nft_slot_elems(c, s, e + n);
        *ret = e;
        return n;
}

static void assert_slot_present(const char *table, unsigned slot, bool present)
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

/* ---- the ruleset ---- */

static void test_ensure_creates(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(nft_ensure_ruleset(f->n), 1);

        json_object *root = ruleset_objects(), *o[20];
        assert_int_equal(objects(root, "set", "taplinkd", NULL, o, 20), 16);
        static const char *const set_types[][3] = {
            {"slots_v4", "ipv4_addr", NULL},
            {"slots_v6", "ipv6_addr", NULL},
            {"guests_v4", "[ \"ifname\", \"ipv4_addr\" ]", NULL},
            {"guests_v6", "[ \"ifname\", \"ipv6_addr\" ]", NULL},
            {"dropped_spoofed", "ifname", "-"}, /* flags and counter: test-nft-counters */
            {"dropped_policy", "ifname", "-"},
            {"egress_none", "ifname", NULL},
            {"egress_host", "ifname", NULL},
            {"egress_public", "ifname", NULL},
            {"egress_internet", "ifname", NULL},
            {"allow_v4", "[ \"ifname\", \"ipv4_addr\" ]", "interval"},
            {"allow_proto_v4", "[ \"ifname\", \"ipv4_addr\", \"inet_proto\" ]", "interval"},
            {"allow_port_v4", "[ \"ifname\", \"ipv4_addr\", \"inet_proto\", \"inet_service\" ]", "interval"},
            {"allow_v6", "[ \"ifname\", \"ipv6_addr\" ]", "interval"},
            {"allow_proto_v6", "[ \"ifname\", \"ipv6_addr\", \"inet_proto\" ]", "interval"},
            {"allow_port_v6", "[ \"ifname\", \"ipv6_addr\", \"inet_proto\", \"inet_service\" ]", "interval"},
        };
        for (size_t i = 0; i < ELEMENTSOF(set_types); i++) {
                assert_string_equal(field(o[i], "name"), set_types[i][0]);
                assert_string_equal(field(o[i], "type"), set_types[i][1]);
                if (set_types[i][2] && strcmp(set_types[i][2], "-") == 0)
                        continue;
                if (set_types[i][2])
                        assert_non_null(strstr(field(o[i], "flags"), set_types[i][2]));
                else
                        assert_null(field(o[i], "flags")); /* plain hash sets */
        }
        /* The counter set: a counter per element, and more room than
         * there can be slots (nft -j leaves "dynamic" out; the text
         * comparisons see it). */
        assert_string_equal(field(o[4], "size"), "2097152");
        assert_string_equal(field(o[4], "stmt"), "[ { \"counter\": null } ]");
        /* The published-port maps. */
        assert_int_equal(objects(root, "map", "taplinkd", NULL, o, 8), 4);
        static const char *const maps[] = {"published_v4", "published_any_v4", "published_v6", "published_any_v6"};
        for (size_t i = 0; i < ELEMENTSOF(maps); i++)
                assert_string_equal(field(o[i], "name"), maps[i]);
        assert_int_equal(objects(root, "chain", "taplinkd", NULL, o, 8), 5);
        static const struct {
                const char *name, *type, *hook;
                int prio;
                size_t rules;
        } chains[] = {
            {"input", "filter", "input", 0, 12},
            {"forward", "filter", "forward", 0, 17},
            {"postrouting", "nat", "postrouting", 100, 1},
            {"prerouting", "nat", "prerouting", -100, 4},
            {"output", "nat", "output", -100, 4},
        };
        for (size_t i = 0; i < ELEMENTSOF(chains); i++) {
                json_object *r[24];
                assert_string_equal(field(o[i], "name"), chains[i].name);
                assert_string_equal(field(o[i], "type"), chains[i].type);
                assert_string_equal(field(o[i], "hook"), chains[i].hook);
                assert_int_equal(field_int(o[i], "prio"), chains[i].prio);
                assert_string_equal(field(o[i], "policy"), "accept");
                assert_int_equal(objects(root, "rule", "taplinkd", chains[i].name, r, 24), chains[i].rules);
        }
        json_object_put(root);

        /* Fresh, the order is the documented one too. */
        assert_table_text_order("taplinkd", documented_table, false);
}

/* nft itself, fed the documented text, makes the same table: its rules are
 * recognized as ours and nothing is written. */
static void test_nft_made_table_is_ours(void **state)
{
        struct fixture *f = *state;
        char path[] = "/tmp/test-nft-ruleset-XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, documented_table, strlen(documented_table)),
                         (ssize_t)strlen(documented_table));
        close(fd);
        run("nft -f %s", path);
        unlink(path);

        uint32_t gen = nft_generation();
        assert_int_equal(nft_ensure_ruleset(f->n), 0);
        assert_int_equal(nft_generation(), gen);
}

static void test_ensure_idempotent(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        uint32_t gen = nft_generation();
        char *handles = table_handles("taplinkd");

        assert_int_equal(nft_ensure_ruleset(f->n), 0);
        assert_int_equal(nft_ensure_ruleset(f->n), 0);
        assert_int_equal(nft_generation(), gen);
        char *again = table_handles("taplinkd");
        assert_string_equal(again, handles);
        assert_true(strstr(handles, "rule:") != NULL);
        free(handles);
        free(again);

        /* Another handle (a restarted daemon) agrees. */
        struct nft *other;
        assert_int_equal(nft_open(&f->c, &other), 0);
        assert_int_equal(nft_ensure_ruleset(other), 0);
        nft_close(other);
        assert_int_equal(nft_generation(), gen);
}

/* Breaks the table from outside with cmd, then repairs it; the elements of
 * slots 1..3 survive every repair. */
static void check_repair(struct fixture *f, const char *cmd)
{
        struct nft_elem *e;
        size_t n = slots_elems(&f->c, 1, 3, &e);

        assert_true(nft_ensure_ruleset(f->n) >= 0);
        assert_int_equal(nft_apply(f->n, e, n, NULL, 0), 0);
        run("%s", cmd);
        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_table_text("taplinkd", documented_table);
        for (unsigned s = 1; s <= 3; s++)
                assert_slot_present("taplinkd", s, true);
        assert_int_equal(nft_ensure_ruleset(f->n), 0);
        free(e);
}

static void test_repair_deleted_rule(void **state)
{
        struct fixture *f = *state;
        char cmd[128];

        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        for (size_t nth = 0; nth < 4; nth++) {
                snprintf(cmd, sizeof(cmd), "nft delete rule inet taplinkd forward handle %" PRId64,
                         rule_handle("taplinkd", "forward", nth));
                check_repair(f, cmd);
        }
        snprintf(cmd, sizeof(cmd), "nft delete rule inet taplinkd input handle %" PRId64,
                 rule_handle("taplinkd", "input", 1));
        check_repair(f, cmd);
        snprintf(cmd, sizeof(cmd), "nft delete rule inet taplinkd postrouting handle %" PRId64,
                 rule_handle("taplinkd", "postrouting", 0));
        check_repair(f, cmd);
}

static void test_repair_deleted_chain(void **state)
{
        struct fixture *f = *state;
        check_repair(f, "nft delete chain inet taplinkd postrouting");
        check_repair(f, "nft delete chain inet taplinkd input");
        check_repair(f, "nft delete chain inet taplinkd forward && nft delete chain inet taplinkd input");
}

static void test_repair_flushed_chain(void **state)
{
        struct fixture *f = *state;
        check_repair(f, "nft flush chain inet taplinkd input");
        check_repair(f, "nft flush chain inet taplinkd forward");
        check_repair(f, "nft flush chain inet taplinkd postrouting");
}

static void test_repair_foreign_rule(void **state)
{
        struct fixture *f = *state;
        check_repair(f, "nft add rule inet taplinkd forward counter accept");
        check_repair(f, "nft insert rule inet taplinkd input ip saddr 10.1.2.3 accept");
        check_repair(f, "nft add rule inet taplinkd postrouting ip daddr 10.9.9.9 masquerade");
        /* A rule that differs only in the anonymous set's contents. */
        check_repair(
            f, "nft flush chain inet taplinkd input && "
               "nft add rule inet taplinkd input iifname '\"tl*\"' iifname . ip saddr != @guests_v4 update @dropped_spoofed '{ iifname }' drop && "
               "nft add rule inet taplinkd input iifname '\"tl*\"' ip6 saddr != '{ ::, fe80::/16 }' "
               "iifname . ip6 saddr != @guests_v6 update @dropped_spoofed '{ iifname }' drop");
        /* Same rules, other order. */
        check_repair(
            f, "nft flush chain inet taplinkd input && "
               "nft add rule inet taplinkd input iifname '\"tl*\"' ip6 saddr != '{ ::, fe80::/10 }' "
               "iifname . ip6 saddr != @guests_v6 update @dropped_spoofed '{ iifname }' drop && "
               "nft add rule inet taplinkd input iifname '\"tl*\"' iifname . ip saddr != @guests_v4 update @dropped_spoofed '{ iifname }' drop");
        /* A rule with another prefix or mask. */
        check_repair(f, "nft flush chain inet taplinkd postrouting && "
                        "nft add rule inet taplinkd postrouting ip saddr '&' 255.255.255.0 @slots_v4 "
                        "ip daddr '&' 255.255.255.252 != @slots_v4 masquerade");
}

static void test_repair_chain_and_table(void **state)
{
        struct fixture *f = *state;
        /* Policy: updated in place. */
        check_repair(f, "nft add chain inet taplinkd forward '{ policy drop; }'");
        /* Priority or type: the chain goes and comes back. */
        check_repair(f, "nft delete chain inet taplinkd input && "
                        "nft add chain inet taplinkd input '{ type filter hook input priority 10; }'");
        check_repair(
            f, "nft delete chain inet taplinkd postrouting && "
               "nft add chain inet taplinkd postrouting '{ type filter hook postrouting priority 100; }'");
        check_repair(f, "nft delete chain inet taplinkd forward && nft add chain inet taplinkd forward");
        /* A dormant table does nothing: wake it. */
        check_repair(f, "nft add table inet taplinkd '{ flags dormant; }'");
        json_object *root = run_json("nft -j list tables"), *arr, *t;
        json_object_object_get_ex(root, "nftables", &arr);
        t = json_object_array_get_idx(arr, 1);
        assert_true(json_object_object_get_ex(t, "table", &t));
        assert_null(field(t, "flags"));
        json_object_put(root);
        /* Foreign chains and sets in the table are left alone. */
        run("nft add chain inet taplinkd mine && nft add set inet taplinkd myset '{ type ipv4_addr; }'");
        assert_int_equal(nft_ensure_ruleset(f->n), 0);
        run("nft list chain inet taplinkd mine >/dev/null && nft list set inet taplinkd myset >/dev/null");
}

/* A set someone recreated with another type cannot hold our elements: it is
 * recreated, empty (the manager's reconcile puts the elements back); the
 * other sets keep theirs. */
static void check_set_recreated(struct fixture *f, const char *cmd, const char *set)
{
        struct nft_elem *e;
        size_t n = slots_elems(&f->c, 1, 3, &e);

        assert_true(nft_ensure_ruleset(f->n) >= 0);
        assert_int_equal(nft_apply(f->n, e, n, NULL, 0), 0);
        run("%s", cmd);
        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_table_text("taplinkd", documented_table);
        static const char *const sets[] = {"slots_v4", "slots_v6", "guests_v4", "guests_v6",
                                           "dropped_spoofed"};
        for (size_t i = 0; i < ELEMENTSOF(sets); i++)
                assert_int_equal(set_count("taplinkd", sets[i]), strcmp(sets[i], set) == 0 ? 0 : 3);
        assert_int_equal(nft_ensure_ruleset(f->n), 0);
        assert_int_equal(nft_apply(f->n, e, n, NULL, 0), 0);
        for (unsigned s = 1; s <= 3; s++)
                assert_slot_present("taplinkd", s, true);
        free(e);
}

static void test_repair_wrong_set_type(void **state)
{
        struct fixture *f = *state;
        check_set_recreated(
            f,
            "nft flush chain inet taplinkd input && nft flush chain inet taplinkd forward && "
            "nft delete set inet taplinkd guests_v4 && "
            "nft add set inet taplinkd guests_v4 '{ type ipv4_addr; }' && "
            "nft add element inet taplinkd guests_v4 '{ 1.2.3.4 }'",
            "guests_v4");
        check_set_recreated(
            f,
            "nft delete chain inet taplinkd postrouting && nft flush chain inet taplinkd forward && "
            "nft delete set inet taplinkd slots_v4 && "
            "nft add set inet taplinkd slots_v4 '{ type ipv4_addr; flags interval; }'",
            "slots_v4");
        /* The counter set too small (it could fill up and let spoofed
         * packets through), or without its counter. */
        static const char *const counter_sets[] = {
            "{ type ifname; size 65536; flags dynamic; counter; }",
            "{ type ifname; size 2097152; flags dynamic; }",
            "{ type ifname; size 2097152; }",
        };
        for (size_t i = 0; i < ELEMENTSOF(counter_sets); i++) {
                char cmd[512];
                snprintf(cmd, sizeof(cmd),
                         "nft flush chain inet taplinkd input && nft flush chain inet taplinkd forward && "
                         "nft delete set inet taplinkd dropped_spoofed && "
                         "nft add set inet taplinkd dropped_spoofed '%s'",
                         counter_sets[i]);
                check_set_recreated(f, cmd, "dropped_spoofed");
        }
        /* A set of the right type is never touched, whatever it holds. */
        run("nft add element inet taplinkd slots_v6 '{ 2001:db8:: }'");
        assert_int_equal(nft_ensure_ruleset(f->n), 0);
        assert_true(set_has("taplinkd", "slots_v6", "2001:db8::"));

        /* Used by a foreign rule: it cannot go, and nothing changes. */
        run("nft flush chain inet taplinkd input && nft flush chain inet taplinkd forward && "
            "nft delete set inet taplinkd guests_v6 && "
            "nft add set inet taplinkd guests_v6 '{ type ipv6_addr; }' && "
            "nft add chain inet taplinkd mine && nft add rule inet taplinkd mine ip6 saddr @guests_v6 "
            "accept");
        uint32_t gen = nft_generation();
        assert_int_equal(nft_ensure_ruleset(f->n), -EBUSY);
        assert_int_equal(nft_generation(), gen);
        run("nft delete chain inet taplinkd mine");
        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_table_text("taplinkd", documented_table);
}

/* ---- elements ---- */

static void check_elements(struct fixture *f, bool legacy)
{
        struct nft_elem e1[NFT_SLOT_ELEMS_MAX], e2[NFT_SLOT_ELEMS_MAX];

        nft_force_legacy_delete(f->n, legacy);
        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_int_equal(nft_slot_elems(&f->c, 1, e1), 6);
        assert_int_equal(nft_slot_elems(&f->c, 2, e2), 6);

        assert_int_equal(nft_apply(f->n, e1, 5, NULL, 0), 0);
        assert_slot_present("taplinkd", 1, true);
        /* Present elements are fine. */
        assert_int_equal(nft_apply(f->n, e1, 5, NULL, 0), 0);
        assert_slot_present("taplinkd", 1, true);

        assert_int_equal(nft_apply(f->n, NULL, 0, e1, 6), 0);
        assert_slot_present("taplinkd", 1, false);
        /* Absent elements are fine. */
        assert_int_equal(nft_apply(f->n, NULL, 0, e1, 6), 0);
        assert_slot_present("taplinkd", 1, false);

        /* One batch: slot 1 goes, slot 2 comes. */
        assert_int_equal(nft_apply(f->n, e1, 5, NULL, 0), 0);
        assert_int_equal(nft_apply(f->n, e2, 5, e1, 6), 0);
        assert_slot_present("taplinkd", 1, false);
        assert_slot_present("taplinkd", 2, true);
        /* Deletes come first: deleting and adding the same leaves it. */
        assert_int_equal(nft_apply(f->n, e2, 5, e2, 6), 0);
        assert_slot_present("taplinkd", 2, true);
        /* Absent deletes next to adds. */
        assert_int_equal(nft_apply(f->n, e1, 5, e1, 6), 0);
        assert_slot_present("taplinkd", 1, true);

        assert_int_equal(nft_apply(f->n, NULL, 0, NULL, 0), 0);
        /* Only the sets named: a delete never flushes a whole set. */
        assert_int_equal(nft_apply(f->n, NULL, 0, e1, 1), 0);
        assert_int_equal(set_count("taplinkd", "slots_v4"), 1);
        assert_int_equal(set_count("taplinkd", "guests_v4"), 2);
}

static void test_elements_destroy(void **state)
{
        struct fixture *f = *state;
        /* Kernel 6.3+ has NFT_MSG_DESTROYSETELEM. */
        assert_true(nft_has_destroy(f->n));
        check_elements(f, false);
}

static void test_elements_legacy(void **state)
{
        check_elements(*state, true);
}

static void check_atomic(struct fixture *f, bool legacy)
{
        struct nft_elem e[NFT_SLOT_ELEMS_MAX];

        nft_force_legacy_delete(f->n, legacy);
        assert_int_equal(nft_apply(f->n, e, 0, NULL, 0), 0);
        assert_int_equal(nft_slot_elems(&f->c, 5, e), 6);
        /* No table at all. */
        assert_int_equal(nft_apply(f->n, e, 5, NULL, 0), -ENOENT);
        assert_int_equal(nft_apply(f->n, NULL, 0, e, 6), -ENOENT);

        /* One set missing: the whole batch fails, nothing changes. */
        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_int_equal(nft_apply(f->n, e + 2, 1, NULL, 0), 0); /* slots_v6 */
        run("nft flush chain inet taplinkd input && nft flush chain inet taplinkd forward && "
            "nft delete set inet taplinkd guests_v6");
        uint32_t gen = nft_generation();
        assert_int_equal(nft_apply(f->n, e, 5, NULL, 0), -ENOENT);
        assert_int_equal(nft_apply(f->n, e, 2, e + 2, 2), -ENOENT);
        assert_int_equal(nft_generation(), gen);
        assert_int_equal(set_count("taplinkd", "slots_v4"), 0);
        assert_int_equal(set_count("taplinkd", "guests_v4"), 0);
        assert_int_equal(set_count("taplinkd", "slots_v6"), 1);

        /* The manager's repair: ensure, then again. */
        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_int_equal(nft_apply(f->n, e, 5, NULL, 0), 0);
        assert_slot_present("taplinkd", 5, true);
        /* Invalid input changes nothing either. */
        struct nft_elem bad[2] = {e[0], {.set = NFT_SET_GUESTS_V4}};
        assert_int_equal(nft_apply(f->n, NULL, 0, bad, 2), -EINVAL);
        assert_slot_present("taplinkd", 5, true);
        run("nft delete table inet taplinkd");
}

static void test_apply_atomic(void **state)
{
        check_atomic(*state, false);
        check_atomic(*state, true);
}

static int elem_cmp(const void *a, const void *b)
{
        return memcmp(a, b, sizeof(struct nft_elem));
}

static void test_dump(void **state)
{
        struct fixture *f = *state;
        struct nft_elem *e, *d;
        size_t n, nd;

        /* No table: no elements. */
        assert_int_equal(nft_dump_elems(f->n, &d, &nd), 0);
        assert_int_equal(nd, 0);
        free(d);

        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_int_equal(nft_dump_elems(f->n, &d, &nd), 0);
        assert_int_equal(nd, 0);
        free(d);

        /* Enough to need several messages per set and several datagrams.
         * The kernel resizes the hash sets right after a commit that grows
         * or shrinks them a lot: a dump that runs into a resize repeats and
         * misses elements unless it checks itself. */
        n = slots_elems(&f->c, 0, 2000, &e);
        qsort(e, n, sizeof(*e), elem_cmp);
        for (int round = 0; round < 10; round++) {
                if (round > 0) {
                        assert_int_equal(nft_apply(f->n, NULL, 0, e, n), 0);
                        assert_int_equal(nft_dump_elems(f->n, &d, &nd), 0);
                        assert_int_equal(nd, 0);
                        free(d);
                }
                assert_int_equal(nft_apply(f->n, e, n, NULL, 0), 0);
                assert_int_equal(nft_dump_elems(f->n, &d, &nd), 0);
                assert_int_equal(nd, n);
                qsort(d, nd, sizeof(*d), elem_cmp);
                assert_memory_equal(d, e, n * sizeof(*e));
                free(d);
        }

        /* A foreign element of the right shape is seen (reconcile removes
         * it); one that cannot be ours is skipped. */
        run("nft add element inet taplinkd slots_v4 '{ 192.168.7.0 }'");
        run("nft add element inet taplinkd guests_v4 '{ \"eth0\" . 192.168.7.2 }'");
        assert_int_equal(nft_dump_elems(f->n, &d, &nd), 0);
        assert_int_equal(nd, n + 2);
        free(d);

        assert_int_equal(nft_apply(f->n, NULL, 0, e, n), 0);
        assert_int_equal(nft_dump_elems(f->n, &d, &nd), 0);
        assert_int_equal(nd, 2);
        free(d);
        free(e);
}

static void test_delete_table(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        run("nft add table inet neighbour");
        assert_int_equal(nft_delete_table(f->n), 0);
        char *tables = run_output("nft list tables");
        assert_string_equal(tables, "table inet neighbour\n");
        free(tables);
        assert_int_equal(nft_delete_table(f->n), 0);
        /* And back. */
        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_table_text("taplinkd", documented_table);
}

/* ---- restore: the ruleset and the elements in one batch ---- */

static void test_restore(void **state)
{
        struct fixture *f = *state;
        struct nft_elem *e;
        size_t n = slots_elems(&f->c, 1, 3, &e);

        assert_true(nft_portid(f->n) != 0);

        /* From nothing: the table and every element, in one commit. */
        uint32_t gen = nft_generation();
        assert_int_equal(nft_restore(f->n, e, n), 1);
        assert_int_equal(nft_generation(), gen + 1);
        assert_table_text_order("taplinkd", documented_table, false);
        for (unsigned s = 1; s <= 3; s++)
                assert_slot_present("taplinkd", s, true);

        /* Intact: only the elements are written (present ones are fine). */
        assert_int_equal(nft_restore(f->n, e, n), 0);
        gen = nft_generation();
        assert_int_equal(nft_restore(f->n, NULL, 0), 0);
        assert_int_equal(nft_generation(), gen);

        /* What `nft flush ruleset` leaves, and smaller losses. */
        static const char *const breakage[] = {
            "nft flush ruleset",
            "nft delete table inet taplinkd",
            "nft flush set inet taplinkd guests_v4",
            "nft delete element inet taplinkd slots_v4 '{ 10.213.0.8 }'",
            "nft flush chain inet taplinkd forward && nft delete element inet taplinkd guests_v6 "
            "'{ \"tl2\" . fd74:6c00:0:2::2 }'",
            "nft delete chain inet taplinkd input && nft flush set inet taplinkd slots_v6",
        };
        for (size_t i = 0; i < ELEMENTSOF(breakage); i++) {
                run("%s", breakage[i]);
                gen = nft_generation();
                assert_true(nft_restore(f->n, e, n) >= 0);
                assert_int_equal(nft_generation(), gen + 1);
                assert_table_text("taplinkd", documented_table);
                for (unsigned s = 1; s <= 3; s++)
                        assert_slot_present("taplinkd", s, true);
                assert_int_equal(nft_ensure_ruleset(f->n), 0);
        }

        /* A set recreated with another type is recreated again and filled
         * in the same batch (nft_ensure_ruleset() leaves it empty). */
        run("nft flush chain inet taplinkd input && nft flush chain inet taplinkd forward && "
            "nft delete set inet taplinkd guests_v4 && "
            "nft add set inet taplinkd guests_v4 '{ type ipv4_addr; }'");
        assert_int_equal(nft_restore(f->n, e, n), 1);
        assert_table_text("taplinkd", documented_table);
        for (unsigned s = 1; s <= 3; s++)
                assert_slot_present("taplinkd", s, true);

        /* Invalid input: nothing happens, not even the repair. */
        run("nft delete table inet taplinkd");
        struct nft_elem bad[2] = {e[0], {.set = NFT_SET_GUESTS_V4}};
        gen = nft_generation();
        assert_int_equal(nft_restore(f->n, bad, 2), -EINVAL);
        assert_int_equal(nft_generation(), gen);
        char *tables = run_output("nft list tables");
        assert_string_equal(tables, "");
        free(tables);
        free(e);
}

/* ---- other configurations ---- */

static void test_custom_config(void **state)
{
        struct fixture *f = *state;
        struct config c;
        struct nft *n;
        struct nft_elem e[NFT_SLOT_ELEMS_MAX];

        config_default(&c);
        free(c.nft_table);
        c.nft_table = strdup("tlk_custom");
        snprintf(c.ifname_prefix, sizeof(c.ifname_prefix), "vmtap");
        c.ipv4_prefix = 31;
        c.ipv6_prefix = 56;
        c.masquerade = false;
        assert_int_equal(nft_open(&c, &n), 0);

        /* Side by side with the default table, neither disturbs the other. */
        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_int_equal(nft_ensure_ruleset(n), 1);
        assert_int_equal(nft_ensure_ruleset(n), 0);
        assert_int_equal(nft_ensure_ruleset(f->n), 0);
        char *want =
            documented_text_for("tlk_custom", "vmtap", "255.255.255.254", "ffff:ffff:ffff:ff00::", false);
        assert_table_text("tlk_custom", want);
        assert_table_text("taplinkd", documented_table);
        free(want);
        json_object *root = ruleset_objects(), *o[8];
        assert_int_equal(objects(root, "rule", "tlk_custom", "postrouting", o, 4), 0);
        assert_int_equal(objects(root, "chain", "tlk_custom", NULL, o, 8), 5);
        json_object_put(root);

        /* /31: subnet base 2s, guest 2s+1. */
        assert_int_equal(nft_slot_elems(&c, 3, e), 6);
        assert_int_equal(nft_apply(n, e, 5, NULL, 0), 0);
        assert_true(set_has("tlk_custom", "slots_v4", "10.213.0.6"));
        assert_true(set_has("tlk_custom", "guests_v4", "vmtap3 . 10.213.0.7"));
        assert_true(set_has("tlk_custom", "slots_v6", "fd74:6c00:0:300::"));
        assert_true(set_has("tlk_custom", "guests_v6", "vmtap3 . fd74:6c00:0:300::2"));
        assert_int_equal(set_count("taplinkd", "slots_v4"), 0);

        assert_int_equal(nft_delete_table(n), 0);
        char *tables = run_output("nft list tables");
        assert_string_equal(tables, "table inet taplinkd\n");
        free(tables);
        nft_close(n);
        config_done(&c);
}

/* A restart with another configuration rewrites the rules; the elements
 * stay. ipv6 = no keeps the IPv6 sets and rules (see nft.h). */
static void test_config_change(void **state)
{
        struct fixture *f = *state;
        struct config c;
        struct nft *n;
        struct nft_elem e[NFT_SLOT_ELEMS_MAX];

        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_int_equal(nft_slot_elems(&f->c, 9, e), 6);
        assert_int_equal(nft_apply(f->n, e, 5, NULL, 0), 0);

        config_default(&c);
        c.masquerade = false;
        c.ipv6 = false;
        assert_int_equal(nft_open(&c, &n), 0);
        assert_int_equal(nft_ensure_ruleset(n), 1);
        assert_int_equal(nft_ensure_ruleset(n), 0);
        char *want =
            documented_text_for("taplinkd", "tl", "255.255.255.252", "ffff:ffff:ffff:ffff::", false);
        assert_table_text("taplinkd", want);
        free(want);
        assert_slot_present("taplinkd", 9, true);
        assert_int_equal(nft_slot_elems(&c, 9, e), 4);
        nft_close(n);

        snprintf(c.ifname_prefix, sizeof(c.ifname_prefix), "tap");
        c.masquerade = true;
        assert_int_equal(nft_open(&c, &n), 0);
        assert_int_equal(nft_ensure_ruleset(n), 1);
        want = documented_text_for("taplinkd", "tap", "255.255.255.252", "ffff:ffff:ffff:ffff::", true);
        assert_table_text("taplinkd", want);
        free(want);
        nft_close(n);

        /* And back. */
        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_table_text("taplinkd", documented_table);
        assert_slot_present("taplinkd", 9, true);
        config_done(&c);
}

/* ---- sysctl ---- */

static void write_file(const char *path, const char *value)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, value, strlen(value)), (ssize_t)strlen(value));
        close(fd);
}

static int read_int(const char *path)
{
        char buf[16] = {0};
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
        close(fd);
        return atoi(buf);
}

static void test_sysctl(void **state)
{
        static const char v4[] = "/proc/sys/net/ipv4/ip_forward";
        static const char v6[] = "/proc/sys/net/ipv6/conf/all/forwarding";
        struct config c;
        const char *failed = "untouched";

        config_default(&c);
        write_file(v4, "0\n");
        write_file(v6, "0\n");

        /* Defaults: IPv4 forwarding on, IPv6 left alone. */
        assert_true(c.forward_ipv4);
        assert_false(c.forward_ipv6);
        assert_int_equal(sysctl_apply_forwarding(&c, &failed), 0);
        assert_string_equal(failed, "untouched");
        assert_int_equal(read_int(v4), 1);
        assert_int_equal(read_int(v6), 0);

        c.forward_ipv6 = true;
        assert_int_equal(sysctl_apply_forwarding(&c, &failed), 0);
        assert_int_equal(read_int(v4), 1);
        assert_int_equal(read_int(v6), 1);
        assert_int_equal(sysctl_apply_forwarding(&c, NULL), 0);

        /* Nothing asked: nothing written, not even a 0. */
        c.forward_ipv4 = c.forward_ipv6 = false;
        assert_int_equal(sysctl_apply_forwarding(&c, &failed), 0);
        assert_int_equal(read_int(v4), 1);
        assert_int_equal(read_int(v6), 1);
        config_done(&c);
}

/* ---- the rules at work ---- */

static uint16_t ip_checksum(const void *data, size_t len)
{
        const uint8_t *p = data;
        uint32_t sum = 0;
        for (size_t i = 0; i + 1 < len; i += 2)
                sum += (uint32_t)(p[i] << 8 | p[i + 1]);
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return htons((uint16_t)~sum);
}

/* Sends a UDP datagram from src into tl5 through its veth peer, as a guest
 * would, and reports whether the socket bound on tl5's side got it. */
static bool guest_packet_arrives(int rx, const char *src)
{
        static const char dst[] = "10.213.0.21";
        struct {
                struct ethhdr eth;
                struct iphdr ip;
                struct udphdr udp;
                char payload[8];
        } __attribute__((packed)) frame = {0};
        /* /sys shows the host's namespace here: ask the kernel. */
        struct ifreq ifr = {0};
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "tl5");
        assert_int_equal(ioctl(s, SIOCGIFHWADDR, &ifr), 0);
        close(s);
        memcpy(frame.eth.h_dest, ifr.ifr_hwaddr.sa_data, 6);
        for (int i = 0; i < 6; i++)
                frame.eth.h_source[i] = (uint8_t)(0x02 + i);
        frame.eth.h_proto = htons(ETH_P_IP);
        frame.ip.version = 4;
        frame.ip.ihl = 5;
        frame.ip.ttl = 64;
        frame.ip.protocol = IPPROTO_UDP;
        frame.ip.tot_len = htons(sizeof(frame) - sizeof(frame.eth));
        assert_int_equal(inet_pton(AF_INET, src, &frame.ip.saddr), 1);
        assert_int_equal(inet_pton(AF_INET, dst, &frame.ip.daddr), 1);
        frame.ip.check = ip_checksum(&frame.ip, sizeof(frame.ip));
        frame.udp.source = htons(4000);
        frame.udp.dest = htons(4242);
        frame.udp.len = htons(sizeof(frame.udp) + sizeof(frame.payload));
        memcpy(frame.payload, "taplink", 8);

        int tx = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
        assert_true(tx >= 0);
        struct sockaddr_ll ll = {
            .sll_family = AF_PACKET,
            .sll_ifindex = (int)if_nametoindex("g5"),
            .sll_halen = 6,
        };
        memcpy(ll.sll_addr, frame.eth.h_dest, 6);
        assert_int_equal(sendto(tx, &frame, sizeof(frame), 0, (struct sockaddr *)&ll, sizeof(ll)),
                         (ssize_t)sizeof(frame));
        close(tx);

        struct pollfd p = {.fd = rx, .events = POLLIN};
        if (poll(&p, 1, 300) <= 0)
                return false;
        char buf[64];
        return recv(rx, buf, sizeof(buf), 0) == 8 && memcmp(buf, "taplink", 8) == 0;
}

/* tl5's count in dropped_spoofed (0 without an element), by
 * nft_dump_counters(); each dropped frame is 36 bytes of IPv4. */
static uint64_t spoofed_count(struct fixture *f)
{
        struct nft_counter *c = NULL;
        size_t n = 0;
        uint64_t packets = 0;

        assert_int_equal(nft_dump_counters(f->n, &c, &n), 0);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        assert_true(strcmp(c[i - 1].ifname, c[i].ifname) < 0); /* sorted */
                if (strcmp(c[i].ifname, "tl5") != 0)
                        continue;
                packets = c[i].packets;
                assert_int_equal(c[i].bytes, packets * 36);
        }
        free(c);
        return packets;
}

static void test_antispoofing_traffic(void **state)
{
        struct fixture *f = *state;
        struct nft_elem e[NFT_SLOT_ELEMS_MAX];

        run("ip link add tl5 type veth peer name g5 && ip addr add 10.213.0.21/30 dev tl5 && "
            "ip link set tl5 up && ip link set g5 up && ip link set lo up");
        /* A spoofed source must not be dropped by reverse-path filtering
         * instead of by the rules. */
        write_file("/proc/sys/net/ipv4/conf/all/rp_filter", "0\n");
        write_file("/proc/sys/net/ipv4/conf/tl5/rp_filter", "0\n");

        int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(4242)};
        inet_pton(AF_INET, "10.213.0.21", &sin.sin_addr);
        assert_int_equal(bind(rx, (struct sockaddr *)&sin, sizeof(sin)), 0);

        /* Without the table everything gets in: the harness works. */
        assert_true(guest_packet_arrives(rx, "10.213.0.22"));
        assert_true(guest_packet_arrives(rx, "10.213.0.99"));

        /* With it, a TAP without elements sends nothing in; the drop
         * counts, in an element the rule made. */
        assert_int_equal(nft_ensure_ruleset(f->n), 1);
        assert_int_equal(spoofed_count(f), 0);
        assert_false(guest_packet_arrives(rx, "10.213.0.22"));
        assert_int_equal(spoofed_count(f), 1);

        /* Slot 5: its guest address only. Adding its counter element
         * keeps the count the rule began. */
        assert_int_equal(nft_slot_elems(&f->c, 5, e), 6);
        assert_int_equal(nft_apply(f->n, e, 5, NULL, 0), 0);
        assert_int_equal(spoofed_count(f), 1);
        assert_true(guest_packet_arrives(rx, "10.213.0.22"));
        assert_int_equal(spoofed_count(f), 1);
        assert_false(guest_packet_arrives(rx, "10.213.0.99"));
        assert_false(guest_packet_arrives(rx, "10.213.0.26")); /* slot 6's guest */
        assert_int_equal(spoofed_count(f), 3);

        /* Another slot's elements do not help. Deleting slot 5's elements
         * deleted its count too. */
        assert_int_equal(nft_apply(f->n, NULL, 0, e, 6), 0);
        assert_int_equal(spoofed_count(f), 0);
        assert_int_equal(nft_slot_elems(&f->c, 6, e), 6);
        assert_int_equal(nft_apply(f->n, e, 5, NULL, 0), 0);
        assert_false(guest_packet_arrives(rx, "10.213.0.22"));
        assert_false(guest_packet_arrives(rx, "10.213.0.26"));
        assert_int_equal(spoofed_count(f), 2);

        close(rx);
        run("ip link del tl5");
}

/* ---- main ---- */

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_ensure_creates, setup, teardown),
            cmocka_unit_test_setup_teardown(test_nft_made_table_is_ours, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ensure_idempotent, setup, teardown),
            cmocka_unit_test_setup_teardown(test_repair_deleted_rule, setup, teardown),
            cmocka_unit_test_setup_teardown(test_repair_deleted_chain, setup, teardown),
            cmocka_unit_test_setup_teardown(test_repair_flushed_chain, setup, teardown),
            cmocka_unit_test_setup_teardown(test_repair_foreign_rule, setup, teardown),
            cmocka_unit_test_setup_teardown(test_repair_chain_and_table, setup, teardown),
            cmocka_unit_test_setup_teardown(test_repair_wrong_set_type, setup, teardown),
            cmocka_unit_test_setup_teardown(test_elements_destroy, setup, teardown),
            cmocka_unit_test_setup_teardown(test_elements_legacy, setup, teardown),
            cmocka_unit_test_setup_teardown(test_apply_atomic, setup, teardown),
            cmocka_unit_test_setup_teardown(test_dump, setup, teardown),
            cmocka_unit_test_setup_teardown(test_delete_table, setup, teardown),
            cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
            cmocka_unit_test_setup_teardown(test_custom_config, setup, teardown),
            cmocka_unit_test_setup_teardown(test_config_change, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sysctl, setup, teardown),
            cmocka_unit_test_setup_teardown(test_antispoofing_traffic, setup, teardown),
        };

        itest_refuse_host_namespace();
        return cmocka_run_group_tests(tests, NULL, NULL);
}

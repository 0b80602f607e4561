/* SPDX-License-Identifier: MIT */
// MODULES: nft nft-build nft-expr nft-elems nft-parse nft-egress nft-publish publish egress nft-ruleset sysctl slot config config-values
/* src/nft.c against the real kernel, in a throwaway network namespace (make
 * check runs it under `unshare -n`; it refuses to run in the host's
 * namespace). What the module did is checked from outside with `nft -j` and
 * `nft list`, and broken from outside with `nft delete ...`: the ruleset,
 * its repair, restore, other configurations, and the forwarding sysctls.
 * The elements and the rules at work: test-nft-elems.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "macro.h"
#include "nft.h"
#include "sysctl.h"
#include "nft-itest.h"

/* ---- looking from outside ---- */

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
            cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
            cmocka_unit_test_setup_teardown(test_custom_config, setup, teardown),
            cmocka_unit_test_setup_teardown(test_config_change, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sysctl, setup, teardown),
        };

        itest_refuse_host_namespace();
        return cmocka_run_group_tests(tests, NULL, NULL);
}

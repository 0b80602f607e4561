/* SPDX-License-Identifier: MIT */
// MODULES: ctl/util ctl/run ctl/output ctl/policy ctl/top lib/client lib/wire lib/slot lib/methods lib/policy lib/clone

/* taplinkctl's pieces that need no daemon: strict numbers, fd placement
 * whatever collides, the environment a command gets, and the output. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "../open-fds.h"

#include "ctl/ctl.h"
#include "lib/taplink-private.h"

static void test_parse_unsigned(void **state)
{
        static const struct {
                const char *s;
                unsigned min, max;
                int r;
                unsigned v;
        } table[] = {
            {"0", 0, 10, 0, 0},
            {"7", 0, 10, 0, 7},
            {"10", 0, 10, 0, 10},
            {"11", 0, 10, -ERANGE, 0},
            {"2", 3, 10, -ERANGE, 0},
            {"4294967295", 0, UINT32_MAX, 0, UINT32_MAX},
            {"4294967296", 0, UINT32_MAX, -ERANGE, 0},
            {"99999999999999999999999", 0, UINT32_MAX, -ERANGE, 0},
            {"", 0, 10, -EINVAL, 0},
            {"-1", 0, 10, -EINVAL, 0},
            {"+1", 0, 10, -EINVAL, 0},
            {" 1", 0, 10, -EINVAL, 0},
            {"1 ", 0, 10, -EINVAL, 0},
            {"01", 0, 10, -EINVAL, 0},
            {"0x1", 0, 10, -EINVAL, 0},
            {"1e3", 0, 10000, -EINVAL, 0},
            {"1.0", 0, 10, -EINVAL, 0},
            {"abc", 0, 10, -EINVAL, 0},
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                unsigned v = 12345;
                int r = parse_unsigned(table[i].s, table[i].min, table[i].max, &v);
                if (r != table[i].r)
                        fail_msg("'%s': %d, expected %d", table[i].s, r, table[i].r);
                assert_int_equal(v, r == 0 ? table[i].v : 12345);
        }
        assert_int_equal(parse_unsigned(NULL, 0, 1, &(unsigned){0}), -EINVAL);
}

#define FIRST 40 /* well above anything cmocka or the runtime hold */
#define N 4

/* Places N pipes' write ends (wanted at FIRST..FIRST+N-1) starting from
 * the numbers in start[], where a number may already hold a foreign fd.
 * Checks each target is the right pipe, not close-on-exec, and nothing
 * else was left open. */
static void check_move(const int start[N], int foreign)
{
        int r[N], fds[N];
        int before = count_open_fds();

        for (size_t i = 0; i < N; i++) {
                int p[2];
                assert_int_equal(pipe2(p, O_CLOEXEC), 0);
                r[i] = p[0];
                if (p[1] != start[i]) {
                        assert_int_equal(dup3(p[1], start[i], O_CLOEXEC), start[i]);
                        close(p[1]);
                }
                fds[i] = start[i];
        }
        /* A foreign fd sitting on a target: it gets replaced. */
        if (foreign >= 0)
                assert_int_equal(dup3(0, foreign, O_CLOEXEC), foreign);

        assert_int_equal(move_fds(fds, N, FIRST), 0);
        for (size_t i = 0; i < N; i++) {
                char buf[8] = {};
                assert_int_equal(fds[i], FIRST + (int)i);
                assert_int_equal(fcntl(fds[i], F_GETFD), 0);
                assert_int_equal(write(fds[i], "q", 1), 1);
                assert_int_equal(read(r[i], buf, sizeof(buf)), 1);
        }
        /* No lifted copy, no original left behind: N read ends plus N
         * targets, and the foreign fd is gone (its number was a target). */
        assert_int_equal(count_open_fds(), before + 2 * N);
        for (size_t i = 0; i < N; i++) {
                close(fds[i]);
                close(r[i]);
        }
        assert_int_equal(count_open_fds(), before);
}

static void test_move_fds_reversed(void **state)
{
        /* Each fd sits on another's target. */
        const int start[N] = {FIRST + 3, FIRST + 2, FIRST + 1, FIRST};
        check_move(start, -1);
}

static void test_move_fds_in_place(void **state)
{
        const int start[N] = {FIRST, FIRST + 1, FIRST + 2, FIRST + 3};
        check_move(start, -1);
}

static void test_move_fds_shifted(void **state)
{
        /* Just above the range: the lifted copies must not land on them. */
        const int start[N] = {FIRST + 1, FIRST + 4, FIRST + 5, FIRST + 6};
        check_move(start, -1);
}

static void test_move_fds_from_far(void **state)
{
        const int start[N] = {200, 150, 300, 250};
        check_move(start, FIRST + 2);
}

static void test_move_fds_none(void **state)
{
        assert_int_equal(move_fds(NULL, 0, FIRST), 0);
}

static void test_fd_list(void **state)
{
        char *s = fd_list(3, 1);
        assert_string_equal(s, "3");
        free(s);
        s = fd_list(5, 3);
        assert_string_equal(s, "5,6,7");
        free(s);
}

static char *slot_text(unsigned n, bool ipv6, const char *label, unsigned uid)
{
        char *t;
        assert_true(asprintf(&t,
                             "{\"slot\":%u,\"ifname\":\"tl%u\",\"label\":\"%s\",\"ownerUid\":%u,"
                             "\"mac\":\"02:74:6c:00:00:%02x\",\"mtu\":1500,\"queues\":2,"
                             "\"vnetHeader\":true,\"persistent\":false,"
                             "\"ipv4\":{\"subnet\":\"10.213.0.%u\",\"gateway\":\"10.213.0.%u\","
                             "\"guest\":\"10.213.0.%u\",\"prefixLength\":30},"
                             "\"ipv6\":%s,"
                             "\"kernelIpArg\":\"ip=10.213.0.%u::10.213.0.%u:255.255.255.252::eth0:off\"}",
                             n, n, label, uid, n, 4 * n, 4 * n + 1, 4 * n + 2,
                             ipv6 ? "{\"subnet\":\"fd74:6c00::\",\"gateway\":\"fd74:6c00::1\","
                                    "\"guest\":\"fd74:6c00::2\",\"prefixLength\":64}"
                                  : "null",
                             4 * n + 2, 4 * n + 1) >= 0);
        return t;
}

static void parse_slot(const char *text, tl_slot *ret)
{
        json_object *o = json_tokener_parse(text);
        const char *detail = NULL;
        assert_non_null(o);
        if (tlp_slot_parse(o, ret, &detail) < 0)
                fail_msg("slot: %s", detail);
        json_object_put(o);
}

static void test_environment(void **state)
{
        _cleanup_free_ char *a = slot_text(3, true, "x", 0);
        _cleanup_free_ char *b = slot_text(4, false, "x", 0);
        tl_slot s = {}, t = {};

        parse_slot(a, &s);
        parse_slot(b, &t);
        s.n_fds = t.n_fds = 2; /* as if it came with two fds */

        assert_int_equal(export_slot_environment(&s, 3), 0);
        assert_string_equal(getenv("TAPLINK_SLOT"), "3");
        assert_string_equal(getenv("TAPLINK_IFNAME"), "tl3");
        assert_string_equal(getenv("TAPLINK_FDS"), "3,4");
        assert_string_equal(getenv("TAPLINK_MAC"), "02:74:6c:00:00:03");
        assert_string_equal(getenv("TAPLINK_IPV4_GUEST"), "10.213.0.14");
        assert_string_equal(getenv("TAPLINK_IPV4_GATEWAY"), "10.213.0.13");
        assert_string_equal(getenv("TAPLINK_IPV4_PREFIX"), "30");
        assert_string_equal(getenv("TAPLINK_IPV6_GUEST"), "fd74:6c00::2");
        assert_string_equal(getenv("TAPLINK_IPV6_GATEWAY"), "fd74:6c00::1");
        assert_string_equal(getenv("TAPLINK_KERNEL_IP_ARG"),
                            "ip=10.213.0.14::10.213.0.13:255.255.255.252::eth0:off");

        /* Without IPv6 the variables are unset, even if inherited. */
        assert_int_equal(export_slot_environment(&t, 7), 0);
        assert_string_equal(getenv("TAPLINK_SLOT"), "4");
        assert_string_equal(getenv("TAPLINK_FDS"), "7,8");
        assert_null(getenv("TAPLINK_IPV6_GUEST"));
        assert_null(getenv("TAPLINK_IPV6_GATEWAY"));

        s.n_fds = t.n_fds = 0;
        tlp_slot_done(&s);
        tlp_slot_done(&t);
}

static char *capture(void (*print)(FILE *f, const void *p), const void *p)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_non_null(f);
        print(f, p);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void print_table(FILE *f, const void *p)
{
        print_slot_table(f, p);
}

static void print_list_json(FILE *f, const void *p)
{
        assert_int_equal(print_slot_list_json(f, p), 0);
}

static void print_one(FILE *f, const void *p)
{
        print_slot(f, p);
}

static void print_one_json(FILE *f, const void *p)
{
        assert_int_equal(print_slot_json(f, p), 0);
}

static void test_table(void **state)
{
        /* Out of order, one without IPv6 or label, an owner with no name. */
        _cleanup_free_ char *a = slot_text(12, true, "a-long-label", 0);
        _cleanup_free_ char *b = slot_text(2, false, "", 4000000);
        tl_slot_list l = {.slots = calloc(2, sizeof(tl_slot)), .n_slots = 2};
        assert_non_null(l.slots);
        parse_slot(a, &l.slots[0]);
        parse_slot(b, &l.slots[1]);

        _cleanup_free_ char *out = capture(print_table, &l);
        assert_string_equal(out, "SLOT  IFNAME  LABEL         OWNER    IPV4         IPV6          QUEUES\n"
                                 "2     tl2     -             4000000  10.213.0.10  -             2\n"
                                 "12    tl12    a-long-label  root     10.213.0.50  fd74:6c00::2  2\n");

        _cleanup_free_ char *json = capture(print_list_json, &l);
        json_object *arr = json_tokener_parse(json);
        assert_true(json_object_is_type(arr, json_type_array));
        assert_int_equal(json_object_array_length(arr), 2);
        json_object *first = json_tokener_parse(a);
        assert_true(json_object_equal(json_object_array_get_idx(arr, 0), first));
        json_object_put(first);
        json_object_put(arr);

        _cleanup_free_ char *block = capture(print_one, &l.slots[0]);
        assert_non_null(strstr(block, "slot:          12\n"));
        assert_non_null(strstr(block, "owner:         root (0)\n"));
        assert_non_null(strstr(block, "ipv4:          10.213.0.50/30 (gateway 10.213.0.49)\n"));
        assert_non_null(strstr(block, "ipv6:          fd74:6c00::2/64 (gateway fd74:6c00::1)\n"));
        _cleanup_free_ char *block2 = capture(print_one, &l.slots[1]);
        assert_non_null(strstr(block2, "label:         -\n"));
        assert_non_null(strstr(block2, "owner:         4000000\n"));
        assert_non_null(strstr(block2, "ipv6:          -\n"));

        _cleanup_free_ char *one = capture(print_one_json, &l.slots[1]);
        json_object *o = json_tokener_parse(one);
        json_object *want = json_tokener_parse(b);
        assert_true(json_object_equal(o, want));
        json_object_put(o);
        json_object_put(want);

        tlp_slot_done(&l.slots[0]);
        tlp_slot_done(&l.slots[1]);
        free(l.slots);
}

static void test_table_empty(void **state)
{
        tl_slot_list l = {};
        _cleanup_free_ char *out = capture(print_table, &l);
        assert_string_equal(out, "SLOT  IFNAME  LABEL  OWNER  IPV4  IPV6  QUEUES\n");
        _cleanup_free_ char *json = capture(print_list_json, &l);
        assert_string_equal(json, "[]\n");
}

static void test_status_output(void **state)
{
        tl_status st = {.version = "0.1.0", .slots_in_use = 2, .max_slots = 16384};
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(print_status_json(f, &st), 0);
        assert_int_equal(fclose(f), 0);
        json_object *o = json_tokener_parse(buf);
        json_object *want =
            json_tokener_parse("{\"version\":\"0.1.0\",\"slotsInUse\":2,\"maxSlots\":16384}");
        assert_true(json_object_equal(o, want));
        json_object_put(o);
        json_object_put(want);
        free(buf);
}

static struct top_sample sample(unsigned slot, uint64_t sent_bytes, uint64_t received_bytes,
                                uint64_t spoofed)
{
        struct top_sample t = {.slot = slot};
        snprintf(t.ifname, sizeof(t.ifname), "tl%u", slot);
        t.counters[TOP_SENT_BYTES] = sent_bytes;
        t.counters[TOP_SENT_PACKETS] = sent_bytes / 100;
        t.counters[TOP_RECEIVED_BYTES] = received_bytes;
        t.counters[TOP_DROPPED_SPOOFED] = spoofed;
        return t;
}

static void test_top_rates(void **state)
{
        struct top_sample prev[] = {sample(1, 1000, 0, 0), sample(2, 0, 0, 0), sample(3, 5000, 5000, 10),
                                    sample(4, 900, 900, 0)};
        struct top_sample cur[] = {sample(1, 3000, 0, 0), sample(2, 0, 4000, 4), sample(3, 5000, 5000, 10),
                                   sample(4, 100, 100, 0), /* counts went down: a new tenant */
                                   sample(5, 8000, 0, 0)}; /* new: no rate yet */
        struct top_row rows[5];

        top_rates(prev, 4, cur, 5, 2.0, rows);
        /* Busiest first: slot 2 (2000 B/s received), then 1 (1000 B/s
         * sent); the rest without traffic, by slot. */
        unsigned order[] = {2, 1, 3, 4, 5};
        for (size_t i = 0; i < 5; i++)
                assert_int_equal(rows[i].sample.slot, order[i]);
        assert_true(rows[0].rates[TOP_RECEIVED_BYTES] == 2000.0);
        assert_true(rows[0].rates[TOP_DROPPED_SPOOFED] == 2.0);
        assert_true(rows[1].rates[TOP_SENT_BYTES] == 1000.0);
        assert_true(rows[1].rates[TOP_SENT_PACKETS] == 10.0);
        for (size_t i = 2; i < 5; i++)
                for (size_t k = 0; k < TOP_COUNTERS; k++)
                        assert_true(rows[i].rates[k] == 0.0);
        /* The counts themselves come along. */
        assert_int_equal(rows[4].sample.counters[TOP_SENT_BYTES], 8000);

        /* The first refresh: nothing to compare with. */
        top_rates(NULL, 0, cur, 5, 0, rows);
        for (size_t i = 0; i < 5; i++) {
                assert_int_equal(rows[i].sample.slot, i + 1);
                assert_true(rows[i].rates[TOP_SENT_BYTES] == 0.0);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_unsigned),    cmocka_unit_test(test_top_rates),
            cmocka_unit_test(test_move_fds_reversed), cmocka_unit_test(test_move_fds_in_place),
            cmocka_unit_test(test_move_fds_shifted),  cmocka_unit_test(test_move_fds_from_far),
            cmocka_unit_test(test_move_fds_none),     cmocka_unit_test(test_fd_list),
            cmocka_unit_test(test_environment),       cmocka_unit_test(test_table),
            cmocka_unit_test(test_table_empty),       cmocka_unit_test(test_status_output),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

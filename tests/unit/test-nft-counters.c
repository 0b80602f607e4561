/* SPDX-License-Identifier: MIT */
// MODULES: nft-build nft-expr nft-elems nft-parse slot config config-values nft-egress nft-publish publish egress
/* The dump parser of dropped_spoofed (nft_parse_counter_dump()): element
 * names and the counters the kernel sends with them, in both of its forms
 * (one expression, or a list), built with libnftnl the way the kernel
 * dumps them, and a datagram this kernel sent (tests/fuzz/corpus). */
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

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "nft-internal.h"
#include "nft-test.h"

static struct nftnl_expr *counter(uint64_t packets, uint64_t bytes)
{
        struct nftnl_expr *e = nftnl_expr_alloc("counter");
        assert_non_null(e);
        nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_PACKETS, packets);
        nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_BYTES, bytes);
        return e;
}

static struct nftnl_set_elem *elem(const char *name, size_t key_len)
{
        char key[32] = {0};
        struct nftnl_set_elem *e = nftnl_set_elem_alloc();
        assert_non_null(e);
        memcpy(key, name, strnlen(name, 16));
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, (uint32_t)key_len);
        return e;
}

/* A dump message of set with elems, from portid 0. */
static void dump_add(struct dump_buf *d, const char *set, struct nftnl_set_elem **elems, size_t n)
{
        dump_add_elems(d, set, elems, n, 0, 0);
}

/* tl1 with one counter (NFTA_SET_ELEM_EXPR), tl2 without any, a name
 * without its NUL (skipped), tl3 with a quota and a counter
 * (NFTA_SET_ELEM_EXPRESSIONS). */
static void good_dump(struct dump_buf *d)
{
        struct nftnl_set_elem *e[4] = {elem("tl1", 16), elem("tl2", 16), elem("xxxxxxxxxxxxxxxx", 16),
                                       elem("tl3", 16)};
        nftnl_set_elem_add_expr(e[0], counter(3, 180));
        struct nftnl_expr *quota = nftnl_expr_alloc("quota");
        assert_non_null(quota);
        nftnl_expr_set_u64(quota, NFTNL_EXPR_QUOTA_BYTES, 1000);
        nftnl_set_elem_add_expr(e[3], quota);
        nftnl_set_elem_add_expr(e[3], counter(1ull << 40, 1ull << 50));
        dump_add(d, "dropped_spoofed", e, 4);
}

static void test_counters_parsed(void **state)
{
        struct dump_buf *d = calloc(1, sizeof(*d));
        struct nft_counter_list l = {0};

        good_dump(d);
        assert_int_equal(nft_parse_counter_dump(d->buf, d->len, 42, 0, &l), 1);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.items[0].ifname, "tl1");
        assert_int_equal(l.items[0].packets, 3);
        assert_int_equal(l.items[0].bytes, 180);
        assert_string_equal(l.items[1].ifname, "tl2");
        assert_int_equal(l.items[1].packets, 0);
        assert_int_equal(l.items[1].bytes, 0);
        assert_string_equal(l.items[2].ifname, "tl3");
        assert_int_equal(l.items[2].packets, 1ull << 40);
        assert_int_equal(l.items[2].bytes, 1ull << 50);

        /* The end of the dump; what came before stays. */
        d->len = 0;
        dump_add_done(d, 0);
        assert_int_equal(nft_parse_counter_dump(d->buf, d->len, 42, 0, &l), 0);
        assert_int_equal(l.n, 3);
        free(l.items);
        free(d);
}

static void test_counters_refused(void **state)
{
        struct dump_buf *d = calloc(1, sizeof(*d));
        struct nft_counter_list l = {0};

        /* Another of our sets: not what was asked for. */
        struct nftnl_set_elem *e = elem("tl1", 16);
        dump_add(d, "slots_v4", &e, 1);
        assert_int_equal(nft_parse_counter_dump(d->buf, d->len, 0, 0, &l), -EBADMSG);

        /* A key of another length is not a name of ours: skipped. */
        d->len = 0;
        e = elem("tl1", 20);
        dump_add(d, "dropped_spoofed", &e, 1);
        assert_int_equal(nft_parse_counter_dump(d->buf, d->len, 0, 0, &l), 1);
        assert_int_equal(l.n, 0);

        /* A counter without its packets. */
        d->len = 0;
        e = elem("tl1", 16);
        struct nftnl_expr *c = nftnl_expr_alloc("counter");
        nftnl_expr_set_u64(c, NFTNL_EXPR_CTR_BYTES, 10);
        nftnl_set_elem_add_expr(e, c);
        dump_add(d, "dropped_spoofed", &e, 1);
        assert_int_equal(nft_parse_counter_dump(d->buf, d->len, 0, 0, &l), -EBADMSG);
        assert_int_equal(l.n, 0);
        free(l.items);
        free(d);
}

/* Every truncation and byte corruption: clean errors or plausible
 * counters (run it under SANITIZE=1 too). */
static void test_counters_malformed(void **state)
{
        struct dump_buf *good = calloc(1, sizeof(*good));
        uint32_t rnd = 4711;
        size_t errors = 0;

        good_dump(good);
        dump_add_done(good, 0);
        for (size_t cut = 0; cut < good->len; cut++) {
                struct nft_counter_list l = {0};
                uint8_t *copy = malloc(cut ? cut : 1);
                memcpy(copy, good->buf, cut);
                int r = nft_parse_counter_dump(copy, cut, 0, 0, &l);
                assert_true(r == 0 || r == 1 || r == -EBADMSG);
                assert_true(l.n <= 3);
                free(copy);
                free(l.items);
        }
        for (int round = 0; round < 20000; round++) {
                struct nft_counter_list l = {0};
                uint8_t *copy = malloc(good->len);
                memcpy(copy, good->buf, good->len);
                for (int f = 0; f <= round % 4; f++) {
                        rnd = rnd * 1103515245 + 12345;
                        copy[(rnd >> 8) % good->len] = (uint8_t)(rnd >> 20);
                }
                int r = nft_parse_counter_dump(copy, good->len, 0, 0, &l);
                assert_true(r <= 1);
                errors += r < 0;
                for (size_t i = 0; i < l.n; i++) {
                        size_t len = strnlen(l.items[i].ifname, IFNAMSIZ);
                        assert_true(len > 0 && len < IFNAMSIZ);
                }
                free(copy);
                free(l.items);
        }
        assert_true(errors > 0);
        free(good);
}

/* What this kernel sent for `add element ... dropped_spoofed { "tl0"
 * counter packets 3 bytes 180, "tl1", "tl123456789012" }`
 * (tests/fuzz/capture-seeds.py). */
static void test_counters_kernel_datagram(void **state)
{
        struct dump_buf *d = calloc(1, sizeof(*d));
        struct nft_counter_list l = {0};
        FILE *f = fopen("tests/fuzz/corpus/nft/dropped_spoofed-0-0.bin", "rb");

        assert_non_null(f);
        d->len = fread(d->buf, 1, sizeof(d->buf), f);
        fclose(f);
        assert_int_equal(nft_parse_counter_dump(d->buf, d->len, 0, 0, &l), 1);
        assert_int_equal(l.n, 3);
        for (size_t i = 0; i < l.n; i++) {
                bool tl0 = strcmp(l.items[i].ifname, "tl0") == 0;
                assert_true(tl0 || strcmp(l.items[i].ifname, "tl1") == 0 ||
                            strcmp(l.items[i].ifname, "tl123456789012") == 0);
                assert_int_equal(l.items[i].packets, tl0 ? 3 : 0);
                assert_int_equal(l.items[i].bytes, tl0 ? 180 : 0);
        }
        free(l.items);
        free(d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_counters_parsed),
            cmocka_unit_test(test_counters_refused),
            cmocka_unit_test(test_counters_malformed),
            cmocka_unit_test(test_counters_kernel_datagram),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
// MODULES: counters slot config config-values
/* The merge of the two dumps into per-slot counters (src/counters.c):
 * the direction of the traffic figures, names that are not slots, one
 * entry per slot whatever order the dumps come in, and 0 for a slot
 * neither dump mentions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "counters.h"

static struct config config;

static int setup(void **state)
{
        char *warning = NULL;
        int r = config_init(&config, &warning);
        free(warning);
        return r;
}

static int teardown(void **state)
{
        config_done(&config);
        return 0;
}

static struct rtnl_traffic traffic(const char *ifname, uint64_t rx_packets, uint64_t rx_bytes,
                                   uint64_t tx_packets, uint64_t tx_bytes)
{
        struct rtnl_traffic t = {
            .rx_packets = rx_packets, .rx_bytes = rx_bytes, .tx_packets = tx_packets, .tx_bytes = tx_bytes};
        snprintf(t.ifname, sizeof(t.ifname), "%s", ifname);
        return t;
}

static struct nft_counter drops(const char *ifname, uint64_t packets)
{
        struct nft_counter c = {.packets = packets, .bytes = packets * 60};
        snprintf(c.ifname, sizeof(c.ifname), "%s", ifname);
        return c;
}

static void test_direction(void **state)
{
        struct counters_table t = {0};
        struct rtnl_traffic tr = traffic("tl7", 10, 1000, 3, 300);

        assert_int_equal(counters_add_traffic(&config, &t, &tr), 0);
        counters_finish(&t);
        struct slot_counters c = counters_lookup(&t, 7);
        /* The TAP receives what the guest sends. */
        assert_int_equal(c.guest_sent_packets, 10);
        assert_int_equal(c.guest_sent_bytes, 1000);
        assert_int_equal(c.guest_received_packets, 3);
        assert_int_equal(c.guest_received_bytes, 300);
        assert_int_equal(c.dropped_spoofed, 0);
        assert_int_equal(c.dropped_policy, 0);
        counters_table_done(&t);
}

static void test_merge(void **state)
{
        struct counters_table t = {0};
        struct rtnl_traffic trs[] = {
            traffic("tl9", 1, 2, 3, 4),          traffic("tl2", 5, 6, 7, 8),
            traffic("eth0", 100, 100, 100, 100), /* not a slot */
            traffic("tl07", 100, 100, 100, 100), /* not how slot 7 is spelled */
            traffic("tl99999", 1, 1, 1, 1),      /* beyond the slot count */
        };
        struct nft_counter ncs[] = {drops("tl2", 11), drops("tl5", 4), drops("tlx", 9)};

        /* Drops first for some, traffic first for others. */
        assert_int_equal(counters_add_drops(&config, &t, &ncs[0]), 0);
        for (size_t i = 0; i < ELEMENTSOF(trs); i++)
                assert_int_equal(counters_add_traffic(&config, &t, &trs[i]), 0);
        for (size_t i = 1; i < ELEMENTSOF(ncs); i++)
                assert_int_equal(counters_add_drops(&config, &t, &ncs[i]), 0);
        counters_finish(&t);

        /* One entry per slot, sorted. */
        assert_int_equal(t.entries.n, 3);
        assert_int_equal(t.entries.items[0].slot, 2);
        assert_int_equal(t.entries.items[1].slot, 5);
        assert_int_equal(t.entries.items[2].slot, 9);

        struct slot_counters c = counters_lookup(&t, 2);
        assert_int_equal(c.guest_sent_packets, 5);
        assert_int_equal(c.guest_received_bytes, 8);
        assert_int_equal(c.dropped_spoofed, 11);
        c = counters_lookup(&t, 5); /* drops only: its device went meanwhile */
        assert_int_equal(c.dropped_spoofed, 4);
        assert_int_equal(c.guest_sent_packets, 0);
        c = counters_lookup(&t, 9);
        assert_int_equal(c.guest_sent_bytes, 2);
        assert_int_equal(c.dropped_spoofed, 0);

        /* Neither dump mentions slot 3, or slot 7: zeros. */
        struct slot_counters zero = {0};
        c = counters_lookup(&t, 3);
        assert_memory_equal(&c, &zero, sizeof(c));
        c = counters_lookup(&t, 7);
        assert_memory_equal(&c, &zero, sizeof(c));
        counters_table_done(&t);
}

static void test_empty(void **state)
{
        struct counters_table t = {0};
        struct slot_counters zero = {0};

        counters_finish(&t);
        struct slot_counters c = counters_lookup(&t, 0);
        assert_memory_equal(&c, &zero, sizeof(c));
        counters_table_done(&t);
        counters_table_done(&t); /* twice is fine */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_direction),
            cmocka_unit_test(test_merge),
            cmocka_unit_test(test_empty),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

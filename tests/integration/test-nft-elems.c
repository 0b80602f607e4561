/* SPDX-License-Identifier: MIT */
// MODULES: nft nft-build nft-expr nft-elems nft-parse nft-egress nft-publish publish egress nft-ruleset sysctl slot config config-values
/* src/nft.c's elements against the real kernel, in a throwaway network
 * namespace (`unshare -n build/itests/test-nft-elems`; it refuses to run in
 * the host's namespace): batches of them in both delete forms, atomicity,
 * the dump, the table's deletion, and the anti-spoofing rules at work on
 * real packets. What the module did is checked from outside with `nft -j`.
 * The ruleset itself: test-nft.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "macro.h"
#include "nft.h"
#include "nft-itest.h"

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
            cmocka_unit_test_setup_teardown(test_elements_destroy, setup, teardown),
            cmocka_unit_test_setup_teardown(test_elements_legacy, setup, teardown),
            cmocka_unit_test_setup_teardown(test_apply_atomic, setup, teardown),
            cmocka_unit_test_setup_teardown(test_dump, setup, teardown),
            cmocka_unit_test_setup_teardown(test_delete_table, setup, teardown),
            cmocka_unit_test_setup_teardown(test_antispoofing_traffic, setup, teardown),
        };

        itest_refuse_host_namespace();
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/* What "nothing inherited" costs (docs/DESIGN.md, "Nothing inherited"):
 * the time to delete one slot's conntrack entries with 0, 100 and 10,000
 * unrelated entries in the table, each way the daemon can do it:
 *
 *   flush4+dump6  what a slot that ends alone costs: four filtered IPv4
 *                 flushes (ctnetlink_flush4) and one dump of IPv6
 *   flush4        the same with ipv6 = no
 *   dump          one dump of both families, matched here: what a burst
 *                 of slots costs, and what start-up reconcile costs
 *
 * Each sample starts with the slot's eight entries in the table (its guest
 * addresses in all four places, both families) and checks they are gone.
 * The unrelated entries are IPv4 UDP flows between documentation
 * addresses, made through ctnetlink.
 *
 *     unshare -n build/bench/conntrack [--samples N]
 *
 * It refuses to run in a namespace that has any device but lo. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "config.h"
#include "ctnetlink.h"
#include "macro.h"
#include "slot.h"
#include "../tests/throwaway-netns.h"

#define SLOT 7
#define SLOT_ENTRIES 8

static const unsigned levels[] = {0, 100, 10000};

static _Noreturn void die(const char *what, int r)
{
        fprintf(stderr, "conntrack bench: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(1);
}

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return (x > y) - (x < y);
}

/* One UDP entry, made in the kernel: src:sport -> dst:53, its reply
 * rsrc:53 -> rdst:sport. */
static void create(struct nfct_handle *h, int family, const void *src, const void *dst, const void *rsrc,
                   const void *rdst, uint16_t sport)
{
        struct nf_conntrack *ct = nfct_new();
        int v4 = family == AF_INET;

        if (!ct)
                die("nfct_new", -ENOMEM);
        nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, family);
        nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, IPPROTO_UDP);
        nfct_set_attr(ct, v4 ? ATTR_ORIG_IPV4_SRC : ATTR_ORIG_IPV6_SRC, src);
        nfct_set_attr(ct, v4 ? ATTR_ORIG_IPV4_DST : ATTR_ORIG_IPV6_DST, dst);
        nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(sport));
        nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(53));
        nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, family);
        nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, IPPROTO_UDP);
        nfct_set_attr(ct, v4 ? ATTR_REPL_IPV4_SRC : ATTR_REPL_IPV6_SRC, rsrc);
        nfct_set_attr(ct, v4 ? ATTR_REPL_IPV4_DST : ATTR_REPL_IPV6_DST, rdst);
        nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, htons(53));
        nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, htons(sport));
        nfct_set_attr_u32(ct, ATTR_TIMEOUT, 3600);
        if (nfct_query(h, NFCT_Q_CREATE, ct) < 0)
                die("creating an entry", -errno);
        nfct_destroy(ct);
}

static void fill_unrelated(struct nfct_handle *h, unsigned from, unsigned to)
{
        for (unsigned i = from; i < to; i++) {
                /* 198.18.0.0/15: benchmarking addresses, never a slot's. */
                struct in_addr a = {htonl(0xc6120000u + i)}, b = {htonl(0xc6130000u + i)};
                create(h, AF_INET, &a, &b, &b, &a, 1000);
        }
}

/* The slot's guest address in each of the four places, both families. */
static void fill_slot(struct nfct_handle *h, const struct config *c, uint16_t port)
{
        struct in_addr far4 = {htonl(0xc0000202u)}, host4 = {htonl(0xc0000201u)};
        struct in6_addr far6 = {{{0x20, 0x01, 0x0d, 0xb8, [15] = 2}}},
                        host6 = {{{0x20, 0x01, 0x0d, 0xb8, [15] = 1}}};
        struct slot_net4 n4;
        struct slot_net6 n6;

        slot_ipv4(c, SLOT, &n4);
        slot_ipv6(c, SLOT, &n6);
        create(h, AF_INET, &n4.guest, &far4, &far4, &host4, port);     /* out, masqueraded */
        create(h, AF_INET, &far4, &n4.guest, &n4.guest, &far4, port);  /* in */
        create(h, AF_INET, &far4, &host4, &n4.guest, &far4, port + 1); /* in, DNAT */
        create(h, AF_INET, &far4, &host4, &host4, &n4.guest, port + 2);
        create(h, AF_INET6, &n6.guest, &far6, &far6, &n6.guest, port);
        create(h, AF_INET6, &far6, &n6.guest, &n6.guest, &far6, port);
        create(h, AF_INET6, &far6, &host6, &n6.guest, &far6, port + 1);
        create(h, AF_INET6, &far6, &host6, &host6, &n6.guest, port + 2);
}

static bool is_slot(unsigned slot, void *userdata)
{
        return slot == SLOT;
}

enum method { FLUSH4_DUMP6, FLUSH4, DUMP, _METHOD_MAX };
static const char *const method_names[] = {"flush4+dump6", "flush4", "dump"};

/* One deletion of the slot's entries; returns its time in ns. */
static uint64_t delete_once(struct ctnetlink *nl, enum method m)
{
        unsigned slot = SLOT;
        uint64_t t0 = now_ns();
        int e = 0;

        switch (m) {
        case FLUSH4_DUMP6:
                e = ctnetlink_flush4(nl, &slot, 1);
                if (e >= 0)
                        e = ctnetlink_dump_delete(nl, AF_INET6, is_slot, NULL);
                break;
        case FLUSH4:
                e = ctnetlink_flush4(nl, &slot, 1);
                break;
        default:
                e = ctnetlink_dump_delete(nl, AF_UNSPEC, is_slot, NULL);
                break;
        }
        if (e < 0)
                die(method_names[m], e);
        return now_ns() - t0;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {{"samples", required_argument, NULL, 's'}, {}};
        unsigned samples = 21, have = 0;
        struct nfct_handle *h;
        struct ctnetlink *nl;
        char *warning = NULL, *error = NULL;
        struct config c;
        int o, e;

        while ((o = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                if (o != 's' || (samples = (unsigned)atoi(optarg)) == 0) {
                        fprintf(stderr, "usage: unshare -n %s [--samples N]\n", argv[0]);
                        return 2;
                }
        }
        if (!namespace_is_throwaway()) {
                fprintf(stderr, "conntrack bench: run me in a network namespace of my own (unshare -n)\n");
                return 1;
        }
        if (config_init(&c, &warning) < 0 || config_finish(&c, &error) < 0)
                die("configuration", -EINVAL);
        free(warning);
        e = ctnetlink_open(&c, &nl);
        if (e < 0)
                die("ctnetlink", e);
        h = nfct_open(CONNTRACK, 0);
        if (!h)
                die("nfct_open", -errno);

        printf("conntrack: deleting one slot's %d entries (IPv6 on), ms\n", SLOT_ENTRIES);
        printf("  %-10s %-14s %8s %8s %8s\n", "unrelated", "method", "p50", "p90", "max");
        for (size_t l = 0; l < ELEMENTSOF(levels); l++) {
                fill_unrelated(h, have, levels[l]);
                have = levels[l];
                for (int m = 0; m < _METHOD_MAX; m++) {
                        uint64_t t[samples];

                        for (unsigned i = 0; i < samples; i++) {
                                fill_slot(h, &c, (uint16_t)(2000 + 3 * i));
                                t[i] = delete_once(nl, (enum method)m);
                                /* flush4 leaves the IPv6 entries: not timed. */
                                if (ctnetlink_dump_delete(nl, AF_UNSPEC, is_slot, NULL) !=
                                    (m == FLUSH4 ? 4 : 0))
                                        die("entries left behind", -EIO);
                        }
                        qsort(t, samples, sizeof(t[0]), cmp_u64);
                        printf("  %-10u %-14s %8.2f %8.2f %8.2f\n", levels[l], method_names[m],
                               (double)t[samples / 2] / 1e6, (double)t[samples * 9 / 10] / 1e6,
                               (double)t[samples - 1] / 1e6);
                }
        }
        nfct_close(h);
        ctnetlink_close(nl);
        config_done(&c);
        return 0;
}

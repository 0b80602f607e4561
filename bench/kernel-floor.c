/* SPDX-License-Identifier: MIT */
/* The in-process floor of `make bench`: what a slot costs in the kernel
 * alone, without the daemon around it. For N slots (default 1,000) in this
 * network namespace it times tap_create() + rtnl_configure_link() per slot,
 * one dump of all of them, then tears them down in rounds of 50 with each
 * method in turn (interleaved, so that the namespace's size weighs the same
 * on each): closing the fds, rtnl_delete_link() one by one, and
 * rtnl_delete_links() on the round as one group. Beyond TIMED_ROUNDS rounds
 * the rest goes untimed in groups of 1,000, so that --slots 10000 (for the
 * dump's figure) does not spend minutes on one-by-one deletions.
 *
 *     unshare -n build/bench/kernel-floor [--slots N] [--json] [--no-alias]
 *
 * It refuses to run in a namespace that has any device but lo. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "rtnl.h"
#include "tap.h"
#include "../tests/throwaway-netns.h"

#define ROUND 50
#define TIMED_ROUNDS 21 /* 7 of each method */
#define BULK 1000
#define EDGE 100        /* "first 100" and "last 100" */
#define GROUP 0x746c    /* "tl": a link group nothing else uses here */
#define MAX_SLOTS 16384 /* 10.213.0.0/16 in /30s */

struct slot {
        int fd;
        int ifindex;
};

struct bench {
        struct rtnl *rtnl;
        unsigned n;
        bool no_alias; /* --no-alias: no IFLA_IFALIAS in the NEWLINK */
        struct slot *slots;
        struct samples create, configure, both;
        struct samples by_close, by_delete, by_group; /* by_group: per device */
        uint64_t dump_ns;
};

/* The q-th quantile (0..1) of v[from..from+n-1], in µs. */
static double quantile_us(const struct samples *s, size_t from, size_t n, double q)
{
        uint64_t *copy;
        double r;

        if (n == 0)
                return 0;
        copy = malloc(n * sizeof(uint64_t));
        if (!copy)
                die("malloc", -ENOMEM);
        memcpy(copy, s->v + from, n * sizeof(uint64_t));
        qsort(copy, n, sizeof(uint64_t), cmp_u64);
        r = copy[(size_t)(q * (double)(n - 1) + 0.5)] / 1000.0;
        free(copy);
        return r;
}

static double median_us(const struct samples *s)
{
        return quantile_us(s, 0, s->n, 0.5);
}

/* What the daemon would give slot s (default pools; docs/DESIGN.md,
 * "Slots and addresses"). */
static void slot_config(unsigned s, int ifindex, char alias[32], struct rtnl_link_config *ret)
{
        uint32_t base = 0x0ad50000u + s * 4;

        snprintf(alias, 32, "bench-%u", s);
        *ret = (struct rtnl_link_config){
            .ifindex = ifindex,
            .mtu = 1500,
            .mac = {0x06, 0x74, 0x6c, s >> 16, s >> 8, s},
            .alias = alias,
            .gateway4 = {htonl(base + 1)},
            .prefix4 = 30,
            .ipv6 = true,
            .prefix6 = 64,
        };
        inet_pton(AF_INET6, "fd74:6c00::1", &ret->gateway6);
        ret->gateway6.s6_addr[6] = s >> 8;
        ret->gateway6.s6_addr[7] = s;
}

static void create_slots(struct bench *b)
{
        const struct tap_options opts = {1, true, 0};

        for (unsigned s = 0; s < b->n; s++) {
                struct rtnl_link_config cfg;
                char name[IFNAMSIZ], alias[32];
                const char *op = NULL;
                uint64_t t0, t1, t2;
                int r;

                snprintf(name, sizeof(name), "tl%u", s);
                t0 = now_ns();
                r = tap_create(name, &opts, &b->slots[s].fd, &b->slots[s].ifindex, &op);
                t1 = now_ns();
                if (r < 0)
                        die(op, r);
                slot_config(s, b->slots[s].ifindex, alias, &cfg);
                if (b->no_alias)
                        cfg.alias = NULL;
                r = rtnl_configure_link(b->rtnl, &cfg, &op);
                t2 = now_ns();
                if (r < 0)
                        die(op, r);
                b->create.v[b->create.n++] = t1 - t0;
                b->configure.v[b->configure.n++] = t2 - t1;
                b->both.v[b->both.n++] = t2 - t0;
        }
}

static int count_tap(const struct rtnl_tap_info *info, void *userdata)
{
        (*(unsigned *)userdata)++;
        return 0;
}

static unsigned count_taps(struct bench *b)
{
        unsigned n = 0;
        int r;

        r = rtnl_dump_taps(b->rtnl, "tl", count_tap, &n);
        if (r < 0)
                die("rtnl_dump_taps", r);
        return n;
}

/* Deletes slots [from, to) in one rtnl_delete_links(); the time it took. */
static uint64_t delete_group(struct bench *b, unsigned from, unsigned to)
{
        int *ifindexes = calloc(to - from, sizeof(int));
        uint64_t t0, t;
        int r;

        if (!ifindexes)
                die("calloc", -ENOMEM);
        for (unsigned s = from; s < to; s++)
                ifindexes[s - from] = b->slots[s].ifindex;
        t0 = now_ns();
        r = rtnl_delete_links(b->rtnl, ifindexes, to - from, GROUP);
        t = now_ns() - t0;
        if (r < 0)
                die("rtnl_delete_links", r);
        free(ifindexes);
        return t;
}

static void teardown_round(struct bench *b, unsigned round, unsigned from, unsigned to)
{
        uint64_t t0;
        int r;

        switch (round % 3) {
        case 0: /* the VMM exits: its last fd closes, the kernel deletes */
                for (unsigned s = from; s < to; s++) {
                        t0 = now_ns();
                        close(b->slots[s].fd);
                        b->by_close.v[b->by_close.n++] = now_ns() - t0;
                }
                return;
        case 1: /* Release while the VMM holds the fd */
                for (unsigned s = from; s < to; s++) {
                        t0 = now_ns();
                        r = rtnl_delete_link(b->rtnl, b->slots[s].ifindex);
                        b->by_delete.v[b->by_delete.n++] = now_ns() - t0;
                        if (r < 0)
                                die("rtnl_delete_link", r);
                }
                break;
        case 2: /* many at once: one unregister for the round */
                b->by_group.v[b->by_group.n++] = delete_group(b, from, to) / (to - from);
                break;
        }
        for (unsigned s = from; s < to; s++)
                close(b->slots[s].fd);
}

static void teardown(struct bench *b)
{
        unsigned from = 0;

        for (unsigned round = 0; round < TIMED_ROUNDS && from < b->n; round++, from += ROUND)
                teardown_round(b, round, from, MIN(from + ROUND, b->n));
        for (; from < b->n; from += BULK) {
                unsigned to = MIN(from + BULK, b->n);

                delete_group(b, from, to);
                for (unsigned s = from; s < to; s++)
                        close(b->slots[s].fd);
        }
}

static void report(const struct bench *b, bool json)
{
        size_t edge = MIN((size_t)EDGE, b->both.n);
        double both = median_us(&b->both), first = quantile_us(&b->both, 0, edge, 0.5),
               last = quantile_us(&b->both, b->both.n - edge, edge, 0.5),
               p90 = quantile_us(&b->both, 0, b->both.n, 0.9),
               p99 = quantile_us(&b->both, 0, b->both.n, 0.99);

        if (json) {
                printf("{\"slots\": %u, \"create_configure_median_us\": %.1f, "
                       "\"create_configure_first100_median_us\": %.1f, "
                       "\"create_configure_last100_median_us\": %.1f, "
                       "\"create_configure_p90_us\": %.1f, \"create_configure_p99_us\": %.1f, "
                       "\"tap_create_median_us\": %.1f, \"configure_median_us\": %.1f, \"dump_ms\": %.2f, "
                       "\"teardown_close_median_us\": %.1f, \"teardown_delete_link_median_us\": %.1f, "
                       "\"teardown_delete_links_group50_median_us_per_device\": %.1f}\n",
                       b->n, both, first, last, p90, p99, median_us(&b->create), median_us(&b->configure),
                       b->dump_ns / 1e6, median_us(&b->by_close), median_us(&b->by_delete),
                       median_us(&b->by_group));
                return;
        }
        printf("kernel floor, %u slots in one namespace (1 queue, vnet header, IPv4 + IPv6)\n", b->n);
        printf("  tap_create + rtnl_configure_link  median %9.1f us  (first %zu: %.1f, last %zu: %.1f; "
               "p90 %.1f, p99 %.1f)\n",
               both, edge, first, edge, last, p90, p99);
        printf("    tap_create                      median %9.1f us\n", median_us(&b->create));
        printf("    rtnl_configure_link             median %9.1f us\n", median_us(&b->configure));
        printf("  rtnl_dump_taps of %u TAPs        %9.2f ms\n", b->n, b->dump_ns / 1e6);
        printf("  teardown per device (rounds of %d, methods interleaved):\n", ROUND);
        printf("    close the last fd               median %9.1f us  (%zu devices)\n",
               median_us(&b->by_close), b->by_close.n);
        printf("    rtnl_delete_link, fd held       median %9.1f us  (%zu devices)\n",
               median_us(&b->by_delete), b->by_delete.n);
        printf("    rtnl_delete_links, group of %d  median %9.1f us  (%zu groups)\n", ROUND,
               median_us(&b->by_group), b->by_group.n);
}

static void usage(FILE *f, const char *argv0)
{
        fprintf(f,
                "usage: unshare -n %s [--slots N] [--json] [--no-alias]\n"
                "\n"
                "What a slot costs the kernel alone, with no daemon: creating and configuring N\n"
                "TAP devices (default 1000) in this throwaway network namespace, dumping them,\n"
                "and deleting them three ways (last close, RTM_DELLINK, by link group).\n"
                "  --json      one JSON object instead of the table\n"
                "  --no-alias  no IFLA_IFALIAS: an alias in the NEWLINK that brings the link up\n"
                "              costs a second NETDEV_CHANGE, and with it a walk of every IPv6 route\n",
                argv0);
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
            {"slots", required_argument, NULL, 's'},
            {"json", no_argument, NULL, 'j'},
            {"no-alias", no_argument, NULL, 'a'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct bench b = {.n = 1000};
        struct rlimit rl;
        bool json = false;
        uint64_t t0;
        unsigned left;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        b.n = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'j':
                        json = true;
                        break;
                case 'a':
                        b.no_alias = true;
                        break;
                case 'h':
                        usage(stdout, argv[0]);
                        return 0;
                default:
                        usage(stderr, argv[0]);
                        return 2;
                }
        if (b.n < ROUND || b.n > MAX_SLOTS) {
                fprintf(stderr, "kernel-floor: --slots must be in %d..%d\n", ROUND, MAX_SLOTS);
                return 2;
        }
        if (geteuid() != 0 || !namespace_is_throwaway()) {
                fprintf(stderr,
                        "kernel-floor: run it as root in a throwaway network namespace: unshare -n %s\n",
                        argv[0]);
                return 1;
        }
        /* One fd per slot stays open until teardown. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < b.n + 64) {
                rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)b.n + 64);
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }

        b.slots = calloc(b.n, sizeof(*b.slots));
        if (!b.slots)
                die("calloc", -ENOMEM);
        samples_init(&b.create, b.n);
        samples_init(&b.configure, b.n);
        samples_init(&b.both, b.n);
        samples_init(&b.by_close, b.n);
        samples_init(&b.by_delete, b.n);
        samples_init(&b.by_group, b.n / ROUND + 1);
        r = rtnl_open(&b.rtnl);
        if (r < 0)
                die("rtnl_open", r);

        create_slots(&b);
        t0 = now_ns();
        left = count_taps(&b);
        b.dump_ns = now_ns() - t0;
        if (left != b.n) {
                fprintf(stderr, "kernel-floor: dumped %u TAPs, expected %u\n", left, b.n);
                return 1;
        }
        teardown(&b);
        left = count_taps(&b);
        if (left != 0) {
                fprintf(stderr, "kernel-floor: %u TAPs left after teardown\n", left);
                return 1;
        }
        report(&b, json);

        rtnl_close(b.rtnl);
        free(b.slots);
        free(b.create.v);
        free(b.configure.v);
        free(b.both.v);
        free(b.by_close.v);
        free(b.by_delete.v);
        free(b.by_group.v);
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* What one nftables batch costs: nft_apply() for one slot with a growing
 * number of elements present, batches of 10 and 100 slots, deletes in both
 * forms, a no-op nft_ensure_ruleset() and nft_dump_elems() of 10,000 slots;
 * then an Acquire's commit with and without an egress policy (mode + 4
 * allow entries) at 0 and 1,000 live slots (docs/DESIGN.md, "Egress
 * policy").
 * Runs as root in a network namespace of its own (unshare(CLONE_NEWNET)),
 * so it never touches the host's firewall. Prints medians in µs. */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "egress.h"
#include "macro.h"
#include "nft.h"
#include "slot.h"

#define ROUNDS 400

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
        qsort(v, n, sizeof(*v), cmp_double);
        return v[n / 2];
}

static void check(int r, const char *what)
{
        if (r < 0) {
                fprintf(stderr, "nft-batch: %s failed: %s\n", what, strerror(-r));
                exit(1);
        }
}

/* The elements of slots [first, first + count). */
static struct nft_elem *elems_of(const struct config *c, unsigned first, unsigned count, size_t *ret_n)
{
        struct nft_elem *e = calloc((size_t)count * NFT_SLOT_ELEMS_MAX, sizeof(*e));
        size_t n = 0;
        if (!e)
                exit(1);
        for (unsigned s = first; s < first + count; s++)
                n += nft_slot_elems(c, s, e + n);
        *ret_n = n;
        return e;
}

/* Fills the sets with `present` slots from slot 0 on. */
static void fill(struct nft *n, const struct config *c, unsigned present)
{
        size_t ne;
        struct nft_elem *e = elems_of(c, 0, present, &ne);
        for (size_t i = 0; i < ne; i += 4096)
                check(nft_apply(n, e + i, MIN(ne - i, (size_t)4096), NULL, 0), "fill");
        free(e);
}

/* Adds and removes `batch` slots per nft_apply, above the present ones:
 * median µs per call for the add and the delete. */
static void measure_apply(struct nft *n, const struct config *c, unsigned present, unsigned batch,
                          double *ret_add, double *ret_del)
{
        double add[ROUNDS], del[ROUNDS];
        size_t ne;
        struct nft_elem *e = elems_of(c, present, batch, &ne);
        int rounds = batch >= 100 ? ROUNDS / 4 : ROUNDS;

        for (int i = 0; i < rounds; i++) {
                double t0 = now_us();
                check(nft_apply(n, e, ne, NULL, 0), "add");
                double t1 = now_us();
                check(nft_apply(n, NULL, 0, e, ne), "delete");
                double t2 = now_us();
                add[i] = t1 - t0;
                del[i] = t2 - t1;
        }
        *ret_add = median(add, (size_t)rounds);
        *ret_del = median(del, (size_t)rounds);
        free(e);
}

/* Slot s's elements: its 4, then its egress policy's. */
static size_t slot_with_policy(const struct config *c, unsigned s, const struct egress_policy *p,
                               struct nft_elem *ret)
{
        char name[IFNAMSIZ];
        size_t n = nft_slot_elems(c, s, ret);

        check(slot_ifname(c, s, name), "slot_ifname");
        return n + nft_egress_elems(name, p, ret + n);
}

/* none + 4 entries: one per allow set kind and family. */
static struct egress_policy *four_entries(void)
{
        static const char *const nets[4] = {"203.0.113.0", "198.51.100.7", "192.0.2.0", "2001:db8::"};
        static const uint8_t lens[4] = {24, 32, 24, 32}, protos[4] = {0, IPPROTO_TCP, IPPROTO_UDP, 0};
        static const uint16_t ports[4] = {0, 443, 53, 0};
        struct egress_policy *p = egress_policy_new(EGRESS_NONE, 4);

        if (!p)
                exit(1);
        for (size_t i = 0; i < 4; i++) {
                struct egress_allow *a = &p->allow[i];
                a->family = strchr(nets[i], ':') ? AF_INET6 : AF_INET;
                if (inet_pton(a->family, nets[i], &a->addr) != 1)
                        exit(1);
                a->prefix_len = lens[i];
                a->protocol = protos[i];
                a->port = ports[i];
        }
        p->n_allow = 4;
        return p;
}

/* Live slots [first, first + count), each with policy p. */
static void fill_policy(struct nft *n, const struct config *c, unsigned first, unsigned count,
                        const struct egress_policy *p)
{
        struct nft_elem e[NFT_SLOT_ELEMS_MAX + NFT_EGRESS_ELEMS_MAX];

        for (unsigned s = first; s < first + count; s++)
                check(nft_apply(n, e, slot_with_policy(c, s, p, e), NULL, 0), "fill");
}

/* An Acquire's commit (one slot and its policy), then its release: median
 * µs of the add. */
static double measure_acquire(struct nft *n, const struct config *c, unsigned s,
                              const struct egress_policy *p)
{
        struct nft_elem e[NFT_SLOT_ELEMS_MAX + NFT_EGRESS_ELEMS_MAX];
        size_t ne = slot_with_policy(c, s, p, e);
        double add[ROUNDS];

        for (int i = 0; i < ROUNDS; i++) {
                double t0 = now_us();
                check(nft_apply(n, e, ne, NULL, 0), "add");
                add[i] = now_us() - t0;
                check(nft_apply(n, NULL, 0, e, ne), "delete");
        }
        return median(add, ROUNDS);
}

static void measure_egress(const struct config *c)
{
        struct egress_policy *internet = egress_policy_new(EGRESS_INTERNET, 0), *locked = four_entries();
        struct nft *n;

        if (!internet)
                exit(1);
        check(nft_open(c, &n), "nft_open");
        check(nft_ensure_ruleset(n), "nft_ensure_ruleset");
        printf("Acquire's commit (nft_apply of one slot and its policy), median of %d, µs:\n", ROUNDS);
        printf("  %-34s %8s %14s\n", "live slots", "internet", "none+4 allow");
        static const struct {
                unsigned live;
                bool locked;
        } levels[] = {{0, false}, {1000, false}, {1000, true}};
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                unsigned live = levels[i].live;
                check(nft_delete_table(n), "nft_delete_table");
                check(nft_ensure_ruleset(n), "nft_ensure_ruleset");
                fill_policy(n, c, 0, live, levels[i].locked ? locked : internet);
                printf("  %-6u %-27s %8.1f %14.1f\n", live,
                       levels[i].locked ? "(each none+4 allow)" : "(each internet)",
                       measure_acquire(n, c, live, internet), measure_acquire(n, c, live, locked));
        }
        check(nft_delete_table(n), "nft_delete_table");
        nft_close(n);
        free(internet);
        free(locked);
}

int main(int argc, char **argv)
{
        struct config c;
        struct nft *n;
        char *warning = NULL;
        double add, del;

        if (argc > 1) {
                bool help = strcmp(argv[1], "--help") == 0;
                fprintf(help ? stdout : stderr,
                        "usage: %s\n"
                        "\n"
                        "What one nftables element batch costs, by set size and batch size, in a\n"
                        "network namespace of its own (needs root).\n",
                        argv[0]);
                return help ? 0 : 2;
        }

        if (unshare(CLONE_NEWNET) < 0) {
                fprintf(stderr, "nft-batch: needs root for a network namespace of its own: %s\n",
                        strerror(errno));
                return 1;
        }
        check(config_init(&c, &warning), "config_init");
        free(warning);
        check(nft_open(&c, &n), "nft_open");
        check(nft_ensure_ruleset(n), "nft_ensure_ruleset");

        printf("nft_apply, one slot (4 elements), median of %d, µs per call:\n", ROUNDS);
        printf("  %-22s %8s %8s %8s\n", "elements present", "add", "destroy", "add+del");
        /* add+del: the delete for kernels without DESTROYSETELEM. */
        static const unsigned present_slots[] = {0, 250, 2500, 10000};
        unsigned filled = 0;
        for (size_t i = 0; i < ELEMENTSOF(present_slots); i++) {
                double destroy, unused;
                if (present_slots[i] > filled) {
                        fill(n, &c, present_slots[i]);
                        filled = present_slots[i];
                }
                measure_apply(n, &c, filled, 1, &add, &destroy);
                nft_force_legacy_delete(n, true);
                measure_apply(n, &c, filled, 1, &unused, &del);
                nft_force_legacy_delete(n, false);
                printf("  %-22u %8.1f %8.1f %8.1f\n", filled * 4, add, destroy, del);
        }

        printf("nft_apply, several slots per batch (%u slots present), µs:\n", filled);
        printf("  %-22s %8s %8s %8s\n", "slots per batch", "add", "per slot", "destroy");
        static const unsigned batches[] = {1, 10, 100};
        for (size_t i = 0; i < ELEMENTSOF(batches); i++) {
                measure_apply(n, &c, filled, batches[i], &add, &del);
                printf("  %-22u %8.1f %8.1f %8.1f\n", batches[i], add, add / batches[i], del);
        }

        double ensure[ROUNDS];
        for (int i = 0; i < ROUNDS; i++) {
                double t0 = now_us();
                int r = nft_ensure_ruleset(n);
                check(r, "nft_ensure_ruleset");
                if (r != 0) {
                        fprintf(stderr, "nft-batch: a second nft_ensure_ruleset() wrote a batch\n");
                        return 1;
                }
                ensure[i] = now_us() - t0;
        }
        printf("nft_ensure_ruleset, nothing to do: %.1f µs\n", median(ensure, ROUNDS));

        double dump[20];
        size_t n_dumped = 0;
        for (int i = 0; i < 20; i++) {
                struct nft_elem *d;
                double t0 = now_us();
                check(nft_dump_elems(n, &d, &n_dumped), "nft_dump_elems");
                dump[i] = now_us() - t0;
                free(d);
        }
        printf("nft_dump_elems, %u slots (%zu elements): %.0f µs\n", filled, n_dumped, median(dump, 20));

        check(nft_delete_table(n), "nft_delete_table");
        nft_close(n);
        measure_egress(&c);
        config_done(&c);
        return 0;
}

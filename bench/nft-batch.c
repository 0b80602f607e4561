/* SPDX-License-Identifier: MIT */
/* What one nftables batch costs: nft_apply() for one slot with a growing
 * number of elements present, batches of 10 and 100 slots, deletes in both
 * forms, a no-op nft_ensure_ruleset() and nft_dump_elems() of 10,000 slots.
 * Runs as root in a network namespace of its own (unshare(CLONE_NEWNET)),
 * so it never touches the host's firewall. Prints medians in µs. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "macro.h"
#include "nft.h"

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
        config_done(&c);
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* What one nftables batch costs: nft_apply() for one slot with a growing
 * number of elements present, batches of 10 and 100 slots, deletes in both
 * forms, a no-op nft_ensure_ruleset() and nft_dump_elems() of 10,000 slots;
 * then the commits of an Acquire and of a Release with and without an
 * egress policy (mode + 4 allow entries) and published ports, and
 * SetEgress's, at 0, 1,000 and 10,000 live slots (docs/DESIGN.md, "Egress
 * policy", "Published ports").
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
#include "publish.h"
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

/* Slot s's elements: its own, its egress policy's, its published ports'. */
#define SLOT_MAX (NFT_SLOT_ELEMS_MAX + NFT_EGRESS_ELEMS_MAX + 8)
static size_t slot_with_policy(const struct config *c, unsigned s, const struct egress_policy *p,
                               const struct publish_list *ports, struct nft_elem *ret)
{
        char name[IFNAMSIZ];
        size_t n = nft_slot_elems(c, s, ret);

        check(slot_ifname(c, s, name), "slot_ifname");
        n += nft_egress_elems(name, p, ret + n);
        return n + nft_publish_elems(c, s, c->ipv6, ports, ret + n);
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

/* Two ports on every address, numbered after the slot so that no two
 * slots' ports collide. */
static struct publish_list *two_ports(unsigned s)
{
        struct publish_list *l = publish_list_new(2);

        if (!l)
                exit(1);
        l->ports[l->n++] = (struct publish_port){
            .protocol = IPPROTO_TCP, .host_port = (uint16_t)(1 + s % 65535), .guest_port = 80};
        l->ports[l->n++] = (struct publish_port){
            .protocol = IPPROTO_UDP, .host_port = (uint16_t)(1 + s % 65535), .guest_port = 53};
        return l;
}

/* Live slots [first, first + count), each with policy p (and two ports). */
static void fill_policy(struct nft *n, const struct config *c, unsigned first, unsigned count,
                        const struct egress_policy *p, bool ports)
{
        struct nft_elem e[SLOT_MAX];

        for (unsigned s = first; s < first + count; s++) {
                _cleanup_free_ struct publish_list *l = ports ? two_ports(s) : NULL;
                check(nft_apply(n, e, slot_with_policy(c, s, p, l, e), NULL, 0), "fill");
        }
}

/* An Acquire's commit (one slot, its policy and ports) and a Release's:
 * medians of `rounds`, µs. */
static void measure_acquire(struct nft *n, const struct config *c, unsigned s, const struct egress_policy *p,
                            bool ports, int rounds, double *ret_add, double *ret_del)
{
        _cleanup_free_ struct publish_list *l = ports ? two_ports(s) : NULL;
        struct nft_elem e[SLOT_MAX];
        size_t ne = slot_with_policy(c, s, p, l, e);
        double add[ROUNDS], del[ROUNDS];

        for (int i = 0; i < rounds; i++) {
                double t0 = now_us();
                check(nft_apply(n, e, ne, NULL, 0), "add");
                add[i] = now_us() - t0;
                t0 = now_us();
                check(nft_apply(n, NULL, 0, e, ne), "delete");
                del[i] = now_us() - t0;
        }
        *ret_add = median(add, (size_t)rounds);
        *ret_del = median(del, (size_t)rounds);
}

/* SetEgress's commits, as elements_set_egress() writes them (the old
 * policy's elements out, the new one's in, one batch): internet -> none
 * + 4 entries (narrowing) and back (widening), medians of `rounds`. */
static void measure_set_egress(struct nft *n, const struct config *c, unsigned s, const struct egress_policy *a,
                               const struct egress_policy *b, int rounds, double *ret_narrow, double *ret_widen)
{
        struct nft_elem ea[NFT_EGRESS_ELEMS_MAX], eb[NFT_EGRESS_ELEMS_MAX];
        double narrow[ROUNDS], widen[ROUNDS];
        char name[IFNAMSIZ];

        check(slot_ifname(c, s, name), "slot_ifname");
        size_t na = nft_egress_elems(name, a, ea), nb = nft_egress_elems(name, b, eb);
        check(nft_apply(n, ea, na, NULL, 0), "set_egress");
        for (int i = 0; i < rounds; i++) {
                double t0 = now_us();
                check(nft_apply(n, eb, nb, ea, na), "set_egress");
                narrow[i] = now_us() - t0;
                t0 = now_us();
                check(nft_apply(n, ea, na, eb, nb), "set_egress");
                widen[i] = now_us() - t0;
        }
        check(nft_apply(n, NULL, 0, ea, na), "set_egress");
        *ret_narrow = median(narrow, (size_t)rounds);
        *ret_widen = median(widen, (size_t)rounds);
}

static void measure_egress(const struct config *c)
{
        struct egress_policy *internet = egress_policy_new(EGRESS_INTERNET, 0), *locked = four_entries();
        struct nft *n;

        if (!internet)
                exit(1);
        check(nft_open(c, &n), "nft_open");
        printf("One slot's commits, medians, µs: Acquire (add) and Release (delete) of its\n"
               "elements with mode internet, + 2 published ports, and none + 4 allow + 2 ports;\n"
               "SetEgress internet -> none + 4 allow (narrow) and back (widen):\n");
        printf("  %-39s %13s %13s %15s %15s\n", "live slots", "internet", "+2 ports", "none+4 allow+2p",
               "SetEgress");
        printf("  %-39s %6s %6s %6s %6s %7s %7s %7s %7s\n", "", "add", "del", "add", "del", "add", "del",
               "narrow", "widen");
        static const struct {
                unsigned live;
                bool locked;
        } levels[] = {{0, false}, {1000, false}, {1000, true}, {10000, false}, {10000, true}};
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                unsigned live = levels[i].live;
                /* A deletion from a populated interval set costs tens of
                 * ms (see the README): fewer rounds there. */
                int rounds = levels[i].locked ? ROUNDS / 10 : ROUNDS;
                double a[3], d[3], narrow, widen;
                struct nft_elem e[SLOT_MAX];

                check(nft_delete_table(n), "nft_delete_table");
                check(nft_ensure_ruleset(n), "nft_ensure_ruleset");
                fill_policy(n, c, 0, live, levels[i].locked ? locked : internet, levels[i].locked);
                measure_acquire(n, c, live, internet, false, rounds, &a[0], &d[0]);
                measure_acquire(n, c, live, internet, true, rounds, &a[1], &d[1]);
                measure_acquire(n, c, live, locked, true, rounds, &a[2], &d[2]);
                check(nft_apply(n, e, nft_slot_elems(c, live, e), NULL, 0), "add");
                measure_set_egress(n, c, live, internet, locked, rounds, &narrow, &widen);
                printf("  %-6u %-32s %6.0f %6.0f %6.0f %6.0f %7.0f %7.0f %7.0f %7.0f\n", live,
                       levels[i].locked ? "(each none+4 allow+2 ports)" : "(each internet, no ports)", a[0], d[0],
                       a[1], d[1], a[2], d[2], narrow, widen);
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

/* SPDX-License-Identifier: MIT */
/* build/bench/load: the table and the BENCH lines (see bench/load.c). */
#include "load.h"

static const char *const seq_kind_name[SEQ_KINDS] = {"plain", "persistent", "floor", "floor_persistent",
                                                     "naive_floor"};

/* ---- output ---- */

static void bench_line(const struct bench *b, const char *name, const char *extra, double value)
{
        printf("BENCH name=%s %sipv6=%s value=%.*f\n", name, extra, b->ipv6 ? "yes" : "no",
               value == (double)(long)value ? 0 : 2, value);
}

static double median3(const double v[REPS])
{
        double s[REPS];

        memcpy(s, v, sizeof(s));
        qsort(s, REPS, sizeof(double), cmp_double);
        return s[REPS / 2];
}

/* The client's view: naive floor, best floor (the daemon's own kernel
 * sequence in-process) and the daemon, side by side, p50 (p99). */
static void report_sequential(const struct bench *b)
{
        printf("\nAs a client sees it: one client, Acquires back to back, every slot kept until the pass\n"
               "ends; persistent: the client closes its fds at once (the VMM opens the TAP by name).\n"
               "Floors in-process: naive (one NEWLINK mtu+up, the addresses; no MAC, no alias), best (the\n"
               "daemon's sequence: configured down, up last; persistent: TUNSETPERSIST, close). µs.\n"
               "d-best: what the daemon adds to the best floor (p50), against a Status call's round trip\n"
               "(p50), the least any call through the daemon costs.\n");
        printf("%6s | %14s %14s %14s | %14s %14s | %6s %6s %6s %6s | %6s %6s\n", "live", "naive floor",
               "best floor", "daemon", "best fl pers", "daemon pers", "d/nai", "d/best", "pers", "pe/pl",
               "d-best", "Status");
        for (size_t l = 0; l < b->n_levels; l++) {
                const struct level *lv = &b->results[l];
                const double *p50 = lv->seq_p50, *p99 = lv->seq_p99;
                char cell[5][32];
                const enum seq_kind order[5] = {SEQ_NAIVE, SEQ_FLOOR, SEQ_PLAIN, SEQ_FLOOR_PERSISTENT,
                                                SEQ_PERSISTENT};

                if (!lv->seq_done)
                        continue;
                for (unsigned i = 0; i < 5; i++)
                        snprintf(cell[i], sizeof(cell[i]), "%.0f (%.0f)", p50[order[i]], p99[order[i]]);
                printf("%6u | %14s %14s %14s | %14s %14s | %6.2f %6.2f %6.2f %6.2f | %6.0f %6.0f\n", lv->live,
                       cell[0], cell[1], cell[2], cell[3], cell[4], p50[SEQ_PLAIN] / p50[SEQ_NAIVE],
                       p50[SEQ_PLAIN] / p50[SEQ_FLOOR], p50[SEQ_PERSISTENT] / p50[SEQ_FLOOR_PERSISTENT],
                       p50[SEQ_PERSISTENT] / p50[SEQ_PLAIN], p50[SEQ_PLAIN] - p50[SEQ_FLOOR], lv->status_p50);
        }
}

/* What the rounds of the first table cost in CPU: with every CPU busy,
 * the daemon's rate cannot pass the CPUs over its and its clients' CPU
 * per acquire, whatever it overlaps. */
static void report_cpu(const struct bench *b)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        printf("\nCPU per Acquire in those rounds, µs (process CPU clocks; kernel threads not counted), and\n"
               "the rate %ld CPUs allow at that cost, against the floor's measured rate:\n",
               cpus);
        printf("%6s %4s | %7s %7s %7s | %7s | %9s %7s\n", "live", "cl", "daemon", "clients", "sum", "floor",
               "CPU bound", "/fl rt");
        for (size_t l = 0; l < b->n_levels; l++)
                for (size_t ci = 0; ci < ELEMENTSOF(client_counts); ci++) {
                        const struct latency *x = &b->results[l].lat[ci];
                        double sum = x->cpu_daemon + x->cpu_clients, bound = cpus * 1e6 / sum;

                        if (!x->done)
                                continue;
                        printf("%6u %4u | %7.0f %7.0f %7.0f | %7.0f | %9.0f %7.2f\n", b->results[l].live,
                               client_counts[ci], x->cpu_daemon, x->cpu_clients, sum, x->cpu_floor, bound,
                               bound / x->floor_rate);
                }
}

void report(const struct bench *b)
{
        const char *v6 = b->ipv6 ? "IPv6 on" : "ipv6 = no";
        char extra[96];

        printf("\ntaplinkd bench (%s; %ld CPUs; live slots persistent, fds not held)\n", v6,
               sysconf(_SC_NPROCESSORS_ONLN));
        printf("\nAcquire -> fds in hand, µs: the daemon, and the floor (the same kernel work in-process).\n"
               "p50/p99 pooled over %d interleaved repetitions (the daemon's per-repetition p50 in []);\n"
               "with several clients the mean and the rate (acquires/s) compare fairly, the p50 less so:\n"
               "the kernel's rtnl mutex is not fair, so some floor threads finish early and others late.\n",
               REPS);
        printf("%6s %4s | %6s %6s %6s %6s | %6s %6s %6s %6s | %5s %5s %5s | %-18s %s\n", "live", "cl", "p50",
               "p99", "mean", "rate", "fl p50", "fl p99", "fl mn", "fl rt", "x50", "xmean", "xrate",
               "rep p50", "n");
        for (size_t l = 0; l < b->n_levels; l++)
                for (size_t ci = 0; ci < ELEMENTSOF(client_counts); ci++) {
                        const struct latency *x = &b->results[l].lat[ci];
                        char reps[64];

                        if (!x->done)
                                continue;
                        snprintf(reps, sizeof(reps), "[%.0f %.0f %.0f]", x->rep_p50[0], x->rep_p50[1],
                                 x->rep_p50[2]);
                        printf("%6u %4u | %6.0f %6.0f %6.0f %6.0f | %6.0f %6.0f %6.0f %6.0f | %5.2f %5.2f "
                               "%5.2f | "
                               "%-18s %zu\n",
                               b->results[l].live, client_counts[ci], x->p50, x->p99, x->mean, x->rate,
                               x->floor_p50, x->floor_p99, x->floor_mean, x->floor_rate,
                               x->p50 / x->floor_p50, x->mean / x->floor_mean, x->rate / x->floor_rate, reps,
                               x->n);
                }

        report_cpu(b);
        report_sequential(b);

        printf("\nAcquire while releases run: %d clients acquire alone / while %d others release\n",
               PRESSURE_CLIENTS, PRESSURE_CLIENTS);
        printf("%6s | %8s %8s | %8s %8s | %9s | %s\n", "live", "alone50", "alone99", "rel p50", "rel p99",
               "p99 ratio", "releases overlapping");
        for (size_t l = 0; l < b->n_levels; l++) {
                const struct level *lv = &b->results[l];

                if (!lv->pressure_done)
                        continue;
                printf("%6u | %8.0f %8.0f | %8.0f %8.0f | %9.2f | %u\n", lv->live, lv->alone_p50,
                       lv->alone_p99, lv->pressure_p50, lv->pressure_p99, lv->pressure_p99 / lv->alone_p99,
                       lv->pressure_releases);
        }

        printf("\nChurn: %d clients, acquire + write + release cycles (p99 ratio against the %d clients "
               "of the first table)\n",
               CHURN_CLIENTS, CHURN_CLIENTS);
        printf("%7s | %9s | %9s %9s | %14s %7s\n", "live", "cycles/s", "acq p50", "acq p99", "no-churn p99",
               "ratio");
        for (size_t l = 0; l < b->n_levels; l++) {
                const struct level *lv = &b->results[l];
                const struct latency *x = &lv->lat[1]; /* 8 clients */

                if (!lv->churn_done)
                        continue;
                printf("%7u | %9.1f | %9.0f %9.0f | %14.0f %7.2f\n", lv->live, lv->churn_cycles_per_s,
                       lv->churn_p50, lv->churn_p99, x->p99, lv->churn_p99 / x->p99);
        }

        /* Bytes per slot against the same daemon at 0 live after its
         * measurements (warm heap), and fresh against fresh. */
        if (!b->sequential_only) {
                printf("\nMemory (VmRSS KiB), reconcile\n");
                printf("%7s | %8s | %10s %8s | %10s %8s | %12s\n", "live", "fill s", "after fill", "B/slot",
                       "fresh", "B/slot", "reconcile ms");
        }
        for (size_t l = 0; !b->sequential_only && l < b->n_levels; l++) {
                const struct level *lv = &b->results[l];
                long base = b->results[0].rss_end_kib;

                if (lv->live == 0) {
                        printf("%7u | %8s | %10ld %8s | %10ld %8s | %12s   (warm after level 0: %ld)\n", 0u,
                               "-", lv->rss_kib, "-", b->rss_fresh0_kib, "-", "-", base);
                        continue;
                }
                printf("%7u | %8.1f | %10ld %8.0f | %10ld %8.0f | %12.0f\n", lv->live, lv->fill_s,
                       lv->rss_kib, (lv->rss_kib - base) * 1024.0 / lv->live, lv->rss_fresh_kib,
                       (lv->rss_fresh_kib - b->rss_fresh0_kib) * 1024.0 / lv->live, lv->reconcile_ms);
        }
        for (int i = 0; i < 2; i++)
                if (b->release_all_n[i])
                        printf("\nRelease all %u slots from %d clients: %.0f ms (%.1f ms a slot)%s\n",
                               b->release_all_n[i], RELEASE_CLIENTS, b->release_all_ms[i],
                               b->release_all_ms[i] / b->release_all_n[i], i ? ", at the end" : "");
        printf("\n");

        for (size_t l = 0; l < b->n_levels; l++) {
                const struct level *lv = &b->results[l];

                for (size_t ci = 0; ci < ELEMENTSOF(client_counts); ci++) {
                        const struct latency *x = &lv->lat[ci];

                        if (!x->done)
                                continue;
                        snprintf(extra, sizeof(extra), "clients=%u live=%u ", client_counts[ci], lv->live);
                        bench_line(b, "acquire_p50_us", extra, (long)x->p50);
                        bench_line(b, "acquire_p99_us", extra, (long)x->p99);
                        bench_line(b, "acquire_rep_median_p50_us", extra, (long)median3(x->rep_p50));
                        bench_line(b, "floor_p50_us", extra, (long)x->floor_p50);
                        bench_line(b, "floor_p99_us", extra, (long)x->floor_p99);
                        bench_line(b, "floor_rep_median_p50_us", extra, (long)median3(x->floor_rep_p50));
                        bench_line(b, "acquire_floor_ratio_p50", extra, x->p50 / x->floor_p50);
                        bench_line(b, "acquire_floor_ratio_p99", extra, x->p99 / x->floor_p99);
                        bench_line(b, "acquire_mean_us", extra, (long)x->mean);
                        bench_line(b, "floor_mean_us", extra, (long)x->floor_mean);
                        bench_line(b, "acquire_floor_ratio_mean", extra, x->mean / x->floor_mean);
                        bench_line(b, "acquire_rate_per_s", extra, (long)x->rate);
                        bench_line(b, "floor_rate_per_s", extra, (long)x->floor_rate);
                        bench_line(b, "acquire_cpu_daemon_us", extra, (long)x->cpu_daemon);
                        bench_line(b, "acquire_cpu_clients_us", extra, (long)x->cpu_clients);
                        bench_line(b, "floor_cpu_us", extra, (long)x->cpu_floor);
                }
                for (unsigned k = 0; lv->seq_done && k < SEQ_KINDS; k++) {
                        char name[64];

                        snprintf(extra, sizeof(extra), "clients=1 live=%u ", lv->live);
                        snprintf(name, sizeof(name), "sequential_%s_p50_us", seq_kind_name[k]);
                        bench_line(b, name, extra, (long)lv->seq_p50[k]);
                        snprintf(name, sizeof(name), "sequential_%s_p99_us", seq_kind_name[k]);
                        bench_line(b, name, extra, (long)lv->seq_p99[k]);
                }
                if (lv->pressure_done) {
                        snprintf(extra, sizeof(extra), "clients=%d releasers=%d live=%u ", PRESSURE_CLIENTS,
                                 PRESSURE_CLIENTS, lv->live);
                        bench_line(b, "acquire_alone_p50_us", extra, (long)lv->alone_p50);
                        bench_line(b, "acquire_alone_p99_us", extra, (long)lv->alone_p99);
                        bench_line(b, "acquire_releasing_p50_us", extra, (long)lv->pressure_p50);
                        bench_line(b, "acquire_releasing_p99_us", extra, (long)lv->pressure_p99);
                        bench_line(b, "acquire_releasing_p99_ratio", extra,
                                   lv->pressure_p99 / lv->alone_p99);
                }
                if (lv->churn_done) {
                        snprintf(extra, sizeof(extra), "clients=%d live=%u ", CHURN_CLIENTS, lv->live);
                        bench_line(b, "churn_cycles_per_s", extra, lv->churn_cycles_per_s);
                        bench_line(b, "churn_acquire_p50_us", extra, (long)lv->churn_p50);
                        bench_line(b, "churn_acquire_p99_us", extra, (long)lv->churn_p99);
                        bench_line(b, "churn_p99_ratio", extra, lv->churn_p99 / lv->lat[1].p99);
                }
                if (lv->status_done) {
                        snprintf(extra, sizeof(extra), "clients=1 live=%u ", lv->live);
                        bench_line(b, "status_p50_us", extra, (long)lv->status_p50);
                        bench_line(b, "status_p99_us", extra, (long)lv->status_p99);
                }
                snprintf(extra, sizeof(extra), "live=%u ", lv->live);
                bench_line(b, "rss_kib", extra, lv->rss_kib);
                if (lv->live > 0 && !b->sequential_only) {
                        bench_line(b, "fill_slots_per_s", extra, (long)(lv->live / MAX(lv->fill_s, 1e-9)));
                        bench_line(b, "rss_bytes_per_slot", extra,
                                   (long)((lv->rss_kib - b->results[0].rss_end_kib) * 1024.0 / lv->live));
                        bench_line(b, "rss_fresh_kib", extra, lv->rss_fresh_kib);
                        bench_line(b, "rss_fresh_bytes_per_slot", extra,
                                   (long)((lv->rss_fresh_kib - b->rss_fresh0_kib) * 1024.0 / lv->live));
                        bench_line(b, "reconcile_ms", extra, (long)lv->reconcile_ms);
                }
        }
        for (int i = 0; i < 2; i++) {
                if (!b->release_all_n[i])
                        continue;
                snprintf(extra, sizeof(extra), "slots=%u clients=%d ", b->release_all_n[i], RELEASE_CLIENTS);
                bench_line(b, "release_all_ms", extra, (long)b->release_all_ms[i]);
        }
        fflush(stdout);
}

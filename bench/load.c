/* SPDX-License-Identifier: MIT */
/* `make bench`: taplinkd under load, next to the kernel floor.
 *
 * Runs as root in a throwaway network namespace (unshare -n), starts a
 * private daemon there (its own config, nft table and socket in a temporary
 * directory) and drives it through libtaplink. For each live-slot level
 * (default 0, 1,000, 10,000; the live slots are acquired persistent and
 * their fds closed, so the bench holds none of them) it measures:
 *
 *   - As a client sees it: one client, Acquires back to back, every slot
 *     kept until the pass ends, plain (fds kept) and persistent (fds closed
 *     at once, as Firecracker's jailer opens the TAP by name), next to the
 *     floor of each; passes interleaved, each after the machine is quiet.
 *   - Acquire -> fds in hand, p50/p99, with 1, 8 and 32 clients (one thread
 *     and one tl_client each, connected before timing). A round: every
 *     client acquires K slots back to back, all clients wait for each
 *     other, then release what they hold; releases never overlap the timed
 *     acquires. Live slots grow by at most clients * K during a round.
 *   - The floor: the same kernel work in-process, with no daemon: per slot
 *     tap_create() + rtnl_configure_link() + nft_apply() of its 4 elements
 *     into the daemon's own sets, from the same number of threads, in the
 *     same rounds, interleaved with the daemon's (devices "tf<n>" from
 *     pools of their own). The daemon's p50 over the floor's is the cost
 *     of the daemon itself.
 *   - The same 8-client rounds alone and while 8 more clients release
 *     slots acquired for that purpose (passes interleaved): what releases
 *     in progress cost an Acquire, as the ratio of the p99s.
 *   - Churn: 8 clients each acquire, write a frame on the fd, release, for
 *     a fixed time: cycles/s, and the p50/p99 of those acquires.
 *   - Status round trips: the fixed cost of a call (wake-ups, JSON).
 *   - VmRSS of the daemon after filling each level, and of a freshly
 *     started daemon that adopted the level (bytes per live slot against
 *     a fresh daemon with none).
 *   - Reconcile: kill -9, restart, time from exec to READY=1 (NOTIFY_SOCKET).
 *   - At 1,000 live: release all of them (32 clients) and the wall time;
 *     at the end the same for what is left, so that the namespace goes
 *     away empty.
 *
 *     unshare -n build/bench/load [--taplinkd PATH] [--ipv6 yes|no]
 *                                 [--levels 0,1000,10000] [--quick] [--keep]
 *                                 [--sequential-only]
 *
 * Prints a table, then one line per figure:
 *     BENCH name=acquire_p50_us clients=8 live=1000 ipv6=yes value=812
 * Progress goes to stderr. */
#include "load/load.h"
#include "../tests/throwaway-netns.h"

const unsigned client_counts[N_CLIENT_COUNTS] = {1, 8, 32};

static void run_level(struct bench *b, struct level *lv)
{
        unsigned live = lv->live;

        if (b->n_population > live) {
                /* Levels go up; a lower one after a higher one starts over. */
                progress("releasing %zu live slots to start level %u", b->n_population, live);
                release_population(b);
        }
        lv->fill_s = fill_to(b, live);
        expect_live(b, live, "after filling");
        wait_for_quiet("the level");
        lv->rss_kib = daemon_rss_kib(b);
        if (live > 0)
                progress("live %u: filled in %.1f s (%.0f slots/s); daemon VmRSS %ld KiB", live, lv->fill_s,
                         live / MAX(lv->fill_s, 1e-9), lv->rss_kib);

        measure_sequential(b, live, lv);
        measure_status(b, &lv->status_p50, &lv->status_p99);
        lv->status_done = true;
        progress("live %u: Status round trip p50 %.0f p99 %.0f us", live, lv->status_p50, lv->status_p99);
        if (b->sequential_only)
                return;
        for (size_t ci = 0; ci < ELEMENTSOF(client_counts); ci++)
                measure_latency(b, live, ci, &lv->lat[ci]);
        measure_pressure(b, live, lv);
        measure_churn(b, live, lv);
        lv->rss_end_kib = daemon_rss_kib(b);

        if (live > 0) {
                uint64_t t;

                progress("live %u: kill -9 the daemon and restart it", live);
                daemon_stop(b, SIGKILL);
                t = daemon_start(b);
                lv->reconcile_ms = t / 1e6;
                lv->rss_fresh_kib = daemon_rss_kib(b);
                expect_live(b, live, "after the restart");
                progress("  READY=1 after %.0f ms, VmRSS %ld KiB", lv->reconcile_ms, lv->rss_fresh_kib);
        }

        if (live == TEARDOWN_LEVEL) {
                progress("live %u: release all from %d clients", live, RELEASE_CLIENTS);
                b->release_all_n[0] = live;
                b->release_all_ms[0] = release_population(b);
                expect_live(b, 0, "after releasing all");
                progress("  %.0f ms", b->release_all_ms[0]);
        }
}

static void parse_levels(struct bench *b, const char *arg)
{
        char *copy = strdup(arg), *save = NULL;

        if (!copy)
                die("out of memory");
        b->n_levels = 0;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char *end;
                unsigned long v = strtoul(t, &end, 10);

                if (*end || v > 15000 || b->n_levels == MAX_LEVELS)
                        die("--levels: a list of at most %d slot counts up to 15000", MAX_LEVELS);
                if (b->n_levels > 0 && v <= b->levels[b->n_levels - 1])
                        die("--levels must increase");
                b->levels[b->n_levels++] = (unsigned)v;
        }
        free(copy);
        if (b->n_levels == 0 || b->levels[0] != 0)
                die("--levels must start with 0 (the RSS baseline)");
}

static void usage(FILE *f, const char *argv0)
{
        fprintf(f,
                "usage: unshare -n %s [--taplinkd PATH] [--ipv6 yes|no] [--levels 0,1000,...] [--quick] "
                "[--keep] [--sequential-only] [--no-wait]\n"
                "\n"
                "Starts a private taplinkd in this (throwaway) network namespace and measures it\n"
                "through libtaplink next to the same kernel work done in-process: acquire latency\n"
                "with 1, 8 and 32 clients at each live-slot level, acquires while releases run,\n"
                "churn, Status round trips, RSS per slot, reconcile and release-all times.\n"
                "\n"
                "  --taplinkd PATH   the daemon to run (default build/taplinkd)\n"
                "  --ipv6 yes|no     the daemon's and the floor's ipv6 setting (default yes)\n"
                "  --levels LIST     live-slot levels, starting with 0 (default 0,1000,10000)\n"
                "  --quick           fewer samples\n"
                "  --keep            keep the temporary directory (config, logs)\n"
                "  --sequential-only only the one-client sequential passes at each level\n"
                "  --no-wait         do not wait for a quiet machine before each pass\n"
                "  --help            this text\n",
                argv0);
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
            {"taplinkd", required_argument, NULL, 't'},
            {"ipv6", required_argument, NULL, '6'},
            {"levels", required_argument, NULL, 'l'},
            {"quick", no_argument, NULL, 'q'},
            {"keep", no_argument, NULL, 'k'},
            /* only the one-client passes, for exploring the kernel's share */
            {"sequential-only", no_argument, NULL, 's'},
            {"no-wait", no_argument, NULL, 'w'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct bench b = {.taplinkd = "build/taplinkd", .ipv6 = true, .pid = 0};
        int c;

        start_ns = now_ns();
        parse_levels(&b, "0,1000,10000");
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 't':
                        b.taplinkd = optarg;
                        break;
                case '6':
                        if (strcmp(optarg, "yes") != 0 && strcmp(optarg, "no") != 0)
                                die("--ipv6 yes|no");
                        b.ipv6 = strcmp(optarg, "yes") == 0;
                        break;
                case 'l':
                        parse_levels(&b, optarg);
                        break;
                case 'q':
                        b.quick = true;
                        break;
                case 'k':
                        b.keep = true;
                        break;
                case 's':
                        b.sequential_only = true;
                        break;
                case 'w':
                        no_wait = true;
                        break;
                case 'h':
                        usage(stdout, argv[0]);
                        return 0;
                default:
                        usage(stderr, argv[0]);
                        return 2;
                }
        if (geteuid() != 0 || !namespace_is_throwaway())
                die("run it as root in a throwaway network namespace: unshare -n %s", argv[0]);
        if (access(b.taplinkd, X_OK) < 0)
                die("%s: %s (run make)", b.taplinkd, strerror(errno));
        pthread_mutex_init(&b.lock, NULL);
        signal(SIGPIPE, SIG_IGN);

        setup_daemon_files(&b);
        setup_floor(&b);
        progress("taplinkd %s, ipv6 = %s, levels:%s%s", b.taplinkd, b.ipv6 ? "yes" : "no",
                 b.n_levels ? "" : " none", b.quick ? " (quick)" : "");
        daemon_start(&b);
        b.rss_fresh0_kib = daemon_rss_kib(&b);

        for (size_t l = 0; l < b.n_levels; l++) {
                b.results[l].live = b.levels[l];
                run_level(&b, &b.results[l]);
        }
        if (b.n_population > 0) {
                unsigned n = (unsigned)b.n_population;

                progress("releasing the remaining %u live slots from %d clients", n, RELEASE_CLIENTS);
                b.release_all_n[1] = n;
                b.release_all_ms[1] = release_population(&b);
                expect_live(&b, 0, "after releasing all");
                progress("  %.0f ms", b.release_all_ms[1]);
        }
        report(&b);

        daemon_stop(&b, SIGTERM);
        nft_close(b.nft);
        rtnl_close(b.rtnl);
        config_done(&b.floor_config);
        if (b.keep)
                progress("kept %s (the daemon's log is %s)", b.dir, b.log);
        else
                remove_daemon_files(&b);
        free(b.population);
        return 0;
}

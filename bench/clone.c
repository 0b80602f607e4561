/* SPDX-License-Identifier: MIT */
/* `make bench`: clone slots (docs/DESIGN.md, "Clone slots"), next to plain
 * slots of the same daemon in the same run.
 *
 * Runs as root in a throwaway network namespace (unshare -n). It makes a
 * mount namespace of its own with a tmpfs on /run, so that the daemon's
 * /run/netns bind mounts are seen by nobody else, and starts a private
 * daemon there ([clone] enabled = yes, ipv6 = no: clone slots are
 * IPv4-only, and the plain slots they are compared with do the same
 * kernel work). For each level of live clone slots (default 0 and 1,000:
 * persistent clone slots whose fds are closed, one namespace each; the
 * time to make them is printed), with [clone] pool = 0 and then, with
 * --pool N, with a warm pool of N (the daemon restarted with it; it adopts
 * the live slots), it measures through libtaplink:
 *
 *   - Acquire -> fds in hand, one client, in batches of BATCH back to
 *     back, slots kept until the batch ends: clone and plain batches
 *     alternating, each released off the clock and waited for until its
 *     devices and namespaces are gone. With a pool, every batch starts
 *     from a full pool (N host ends "<prefix>p<k>" present), and a batch
 *     takes at most N / 2, so each of them is served from the pool. The
 *     plain Acquire is the floor of the same run: clone / plain is what a
 *     namespace adds, and the target is warm <= 2 x plain (p50).
 *   - A burst: 32 clients (connected beforehand) each send one Acquire at
 *     once; the time until the last reply. Clone and plain, alternating.
 *   - Release and VMM exit (pool = 0 only): one slot at a time, the time
 *     of the Release reply or of the close() of the last fd, and until the
 *     host device is gone (the slot is over) and, for a clone slot, until
 *     its /run/netns mount is gone. The kernel destroys the namespace
 *     later, in a worker (cleanup_net): its cost is in the last figure,
 *     releasing the whole level, timed until no namespace id is left.
 *
 *     unshare -n build/bench/clone [--taplinkd PATH] [--levels 0,1000]
 *                                  [--pool N] [--quick] [--keep]
 *
 * Prints a table, then one line per figure:
 *     BENCH name=clone_acquire_p50_us pool=0 live=1000 value=2400
 * Progress goes to stderr. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "macro.h"
#include "taplink.h"
#include "bench-daemon.h"

#define MAX_LEVELS 4
#define MAX_LEVEL 4000
#define BATCH_MAX 10
#define BURST 32
#define BURST_REPS 3
#define FILL_CLIENTS 8
#define RELEASE_CLIENTS 32
#define GONE_TIMEOUT_NS (30 * 1000000000ull)
#define POOL_TIMEOUT_NS (120 * 1000000000ull)

enum kind { PLAIN, CLONE, N_KINDS };
static const char *const kind_name[N_KINDS] = {"plain", "clone"};
enum ending { RELEASE, VMM_EXIT, N_ENDINGS };
static const char *const ending_name[N_ENDINGS] = {"release", "vmm_exit"};
enum { PHASE_COLD, PHASE_WARM, N_PHASES };

#define progress bench_progress

/* ---- samples ---- */

struct figure {
        size_t n;
        double p50, p99; /* µs */
};

static struct figure figure_of(struct bench_samples *s)
{
        struct figure f = {s->n, bench_quantile_us(s, 0.5), bench_quantile_us(s, 0.99)};

        free(s->items);
        *s = (struct bench_samples){0};
        return f;
}

/* ---- results ---- */

struct phase_result {
        bool done;
        bool refused;  /* the daemon did not start with this pool */
        unsigned pool; /* [clone] pool */
        struct figure acquire[N_KINDS];
        struct figure burst[N_KINDS]; /* time to the last reply, over BURST_REPS bursts */
        /* pool = 0 only: [kind][ending]: the reply (or close()), the host
         * device gone, the namespace's mount gone (clone). */
        struct figure reply[N_KINDS][N_ENDINGS], dev_gone[N_KINDS][N_ENDINGS], ns_gone[N_ENDINGS];
};

struct level {
        unsigned live;
        double fill_s;
        struct phase_result phase[N_PHASES];
};

struct bench {
        struct bench_daemon d;
        unsigned pool; /* --pool: the warm phase's pool; 0: none */
        unsigned samples, endings;
        bool quick;
        unsigned levels[MAX_LEVELS];
        size_t n_levels;
        unsigned running_pool; /* the pool of the daemon now running */
        char refusal[512];     /* why the daemon refused the pool */

        struct bench_population population; /* persistent clone slots */
        tl_acquire_extra *clone_extra;      /* the main thread's */
        struct level results[MAX_LEVELS];
        double release_all_s, release_all_gone_s, release_all_nsid_s;
        unsigned release_all_n;
};

/* ---- the daemon ---- */

static void last_log_line(const char *path, char *buf, size_t size)
{
        FILE *f = fopen(path, "re");
        char line[512];

        snprintf(buf, size, "(no log)");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f))
                if (line[0] != '\n')
                        snprintf(buf, size, "%s", line);
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
}

/* The daemon with [clone] pool = pool; the live slots are adopted. False
 * when it refused to start (b->refusal says why); the daemon with pool 0
 * is then running again. */
static bool daemon_with_pool(struct bench *b, unsigned pool)
{
        char conf[512];

        if (b->d.pid > 0 && b->running_pool == pool)
                return true;
        if (b->d.pid > 0)
                bench_daemon_stop(&b->d);
        snprintf(conf, sizeof(conf),
                 "# written by bench/clone\n[daemon]\nnft_table = tlbenchc%ld\nmax_slots = %u\n"
                 "[network]\nipv6 = no\n[clone]\nenabled = yes\npool = %u\n",
                 (long)getpid(), MAX_LEVEL + 2 * BURST, pool);
        progress("starting taplinkd with [clone] pool = %u", pool);
        if (bench_daemon_start(&b->d, "clone", conf) == 0) {
                b->running_pool = pool;
                return true;
        }
        last_log_line(b->d.log, b->refusal, sizeof(b->refusal));
        b->d.keep = true; /* its log */
        bench_daemon_stop(&b->d);
        if (pool == 0)
                bench_fail("taplinkd exited during start-up: %s", b->refusal);
        b->d.keep = false;
        daemon_with_pool(b, 0);
        return false;
}

/* ---- what the kernel shows ---- */

static bool link_exists(const char *ifname)
{
        return if_nametoindex(ifname) != 0;
}

static bool path_exists(const char *path)
{
        return access(path, F_OK) == 0;
}

/* Ready pool entries: host ends of the veths named "tlp<k>" (the
 * daemon's default prefix; docs/DESIGN.md, "The pool"). */
static unsigned pool_ready(void)
{
        struct if_nameindex *ifs = if_nameindex(), *i;
        unsigned n = 0;

        if (!ifs)
                bench_fail("if_nameindex: %s", strerror(errno));
        for (i = ifs; i->if_index; i++)
                if (strncmp(i->if_name, "tlp", 3) == 0 && i->if_name[3] >= '0' && i->if_name[3] <= '9')
                        n++;
        if_freenameindex(ifs);
        return n;
}

static void wait_pool_full(const struct bench *b)
{
        uint64_t t0 = bench_now_ns();

        while (pool_ready() < b->running_pool) {
                if (bench_now_ns() - t0 > POOL_TIMEOUT_NS)
                        bench_fail("the pool has %u of %u ready after %llu s", pool_ready(), b->running_pool,
                                   POOL_TIMEOUT_NS / 1000000000ull);
                bench_sleep_ns(1000000);
        }
}

/* Namespace ids in ours: one per clone namespace not yet destroyed by
 * the kernel (an id goes when its namespace does). */
static unsigned nsid_count(void)
{
        FILE *f = popen("ip netns list-id 2>/dev/null", "re");
        char line[256];
        unsigned n = 0;

        if (!f)
                bench_fail("ip netns list-id: %s", strerror(errno));
        while (fgets(line, sizeof(line), f))
                n += strncmp(line, "nsid ", 5) == 0;
        pclose(f);
        return n;
}

/* Polls until the slot's host device is gone, and for a clone slot its
 * mount; the times (from t0) into *ret_dev and *ret_ns. */
static void wait_gone(tl_slot *s, uint64_t t0, uint64_t *ret_dev, uint64_t *ret_ns)
{
        tl_clone cl;
        bool clone = tl_slot_clone(s, &cl) == 0;
        bool dev = true, ns = clone;

        while (dev || ns) {
                uint64_t now = bench_now_ns();

                if (now - t0 > GONE_TIMEOUT_NS)
                        bench_fail("%s still there after 30 s", tl_slot_ifname(s));
                if (dev && !link_exists(tl_slot_ifname(s))) {
                        dev = false;
                        if (ret_dev)
                                *ret_dev = now - t0;
                }
                if (ns && !path_exists(cl.netns)) {
                        ns = false;
                        if (ret_ns)
                                *ret_ns = now - t0;
                }
                if (dev || ns)
                        bench_sleep_ns(200000);
        }
}

/* ---- Acquire ---- */

/* The k-th kind of round i: the order alternates from round to round. */
static enum kind alternate(unsigned i, int k)
{
        return i % 2 ? (enum kind)k : (enum kind)(N_KINDS - 1 - k);
}

/* extra: the calling thread's own "clone: true" (bench_clone_extra()). */
static tl_slot *acquire(const tl_acquire_extra *extra, tl_client *c, enum kind k)
{
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;
        tl_slot *s;

        if (tl_acquire_full(c, &opts, k == CLONE ? extra : NULL, &s) < 0)
                bench_fail("Acquire (%s): %s", kind_name[k], tl_client_error_message(c));
        return s;
}

/* Releases the slots, closes their fds and waits until they are gone. */
static void release_slots(tl_client *c, tl_slot **slots, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (tl_release(c, tl_slot_number(slots[i])) < 0)
                        bench_fail("Release: %s", tl_client_error_message(c));
        for (size_t i = 0; i < n; i++) {
                wait_gone(slots[i], bench_now_ns(), NULL, NULL);
                tl_slot_free(slots[i]);
        }
}

/* One batch of Acquires back to back, each timed, kept until all are in. */
static void batch(struct bench *b, tl_client *c, enum kind k, size_t n, struct bench_samples *out)
{
        tl_slot *slots[BATCH_MAX];

        if (b->running_pool > 0)
                wait_pool_full(b);
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = bench_now_ns();

                slots[i] = acquire(b->clone_extra, c, k);
                bench_samples_add(out, bench_now_ns() - t0);
        }
        release_slots(c, slots, n);
}

static void measure_acquire(struct bench *b, struct phase_result *r)
{
        tl_client *c = bench_connect(&b->d);
        struct bench_samples s[N_KINDS] = {0};
        size_t per = b->running_pool ? MAX(1u, MIN(b->running_pool / 2, BATCH_MAX)) : BATCH_MAX;

        progress("  Acquire: %u of each kind in batches of %zu, clone and plain alternating", b->samples,
                 per);
        for (unsigned done = 0; done < b->samples; done += per)
                for (int k = 0; k < N_KINDS; k++) {
                        enum kind kk = alternate(done / per, k);

                        batch(b, c, kk, MIN(per, b->samples - done), &s[kk]);
                }
        for (int k = 0; k < N_KINDS; k++)
                r->acquire[k] = figure_of(&s[k]);
        tl_client_free(c);
}

/* ---- the burst ---- */

struct burst {
        struct bench *b;
        enum kind kind;
        tl_client *clients[BURST];
        tl_acquire_extra *extras[BURST]; /* one a thread */
        tl_slot *slots[BURST];
        atomic_uint next;
        pthread_barrier_t start; /* the BURST threads and the timer */
        uint64_t t0;
        _Atomic uint64_t last;
};

static void *burst_thread(void *p)
{
        struct burst *u = p;
        unsigned i = atomic_fetch_add(&u->next, 1);
        uint64_t done, last;

        pthread_barrier_wait(&u->start);
        u->slots[i] = acquire(u->extras[i], u->clients[i], u->kind);
        done = bench_now_ns();
        last = atomic_load(&u->last);
        while (done > last && !atomic_compare_exchange_weak(&u->last, &last, done))
                ;
        return NULL;
}

/* BURST Acquires at once; the time from the start to the last reply. */
static uint64_t one_burst(struct burst *u, enum kind k)
{
        pthread_t threads[BURST];

        if (u->b->running_pool > 0)
                wait_pool_full(u->b);
        u->kind = k;
        atomic_store(&u->next, 0);
        atomic_store(&u->last, 0);
        pthread_barrier_init(&u->start, NULL, BURST + 1);
        for (unsigned i = 0; i < BURST; i++)
                if (pthread_create(&threads[i], NULL, burst_thread, u) != 0)
                        bench_fail("pthread_create failed");
        bench_sleep_ns(20 * 1000000); /* all at the barrier */
        u->t0 = bench_now_ns();
        pthread_barrier_wait(&u->start);
        for (unsigned i = 0; i < BURST; i++)
                pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&u->start);
        release_slots(u->clients[0], u->slots, BURST);
        return atomic_load(&u->last) - u->t0;
}

static void measure_burst(struct bench *b, struct phase_result *r)
{
        struct burst *u = calloc(1, sizeof(*u));
        struct bench_samples s[N_KINDS] = {0};

        if (!u)
                bench_fail("out of memory");
        u->b = b;
        for (unsigned i = 0; i < BURST; i++) {
                u->clients[i] = bench_connect(&b->d);
                u->extras[i] = bench_clone_extra();
        }
        progress("  burst: %d clients, one Acquire each at once, %d times each kind", BURST, BURST_REPS);
        for (unsigned rep = 0; rep < BURST_REPS; rep++)
                for (int k = 0; k < N_KINDS; k++) {
                        enum kind kk = alternate(rep, k);

                        bench_samples_add(&s[kk], one_burst(u, kk));
                }
        for (int k = 0; k < N_KINDS; k++)
                r->burst[k] = figure_of(&s[k]);
        for (unsigned i = 0; i < BURST; i++) {
                tl_client_free(u->clients[i]);
                tl_acquire_extra_free(u->extras[i]);
        }
        free(u);
}

/* ---- Release and VMM exit ---- */

static void one_ending(struct bench *b, tl_client *c, enum kind k, enum ending e,
                       struct bench_samples *reply, struct bench_samples *dev, struct bench_samples *ns)
{
        tl_slot *s = acquire(b->clone_extra, c, k);
        uint64_t t0, t_reply, t_dev = 0, t_ns = 0;

        bench_sleep_ns(50 * 1000000); /* the new link's own work, off the clock */
        t0 = bench_now_ns();
        if (e == RELEASE) {
                if (tl_release(c, tl_slot_number(s)) < 0)
                        bench_fail("Release: %s", tl_client_error_message(c));
        } else {
                for (size_t q = 0; q < tl_slot_n_fds(s); q++)
                        close(tl_slot_take_fd(s, q));
        }
        t_reply = bench_now_ns() - t0;
        wait_gone(s, t0, &t_dev, &t_ns);
        tl_slot_free(s);
        bench_samples_add(reply, t_reply);
        bench_samples_add(dev, t_dev);
        if (k == CLONE)
                bench_samples_add(ns, t_ns);
}

static void measure_endings(struct bench *b, struct phase_result *r)
{
        tl_client *c = bench_connect(&b->d);
        struct bench_samples reply[N_KINDS][N_ENDINGS] = {0}, dev[N_KINDS][N_ENDINGS] = {0},
                             ns[N_ENDINGS] = {0};

        progress("  Release and VMM exit: %u of each, one at a time", b->endings);
        for (unsigned i = 0; i < b->endings; i++)
                for (int k = 0; k < N_KINDS; k++)
                        for (int e = 0; e < N_ENDINGS; e++) {
                                enum kind kk = alternate(i, k);

                                one_ending(b, c, kk, (enum ending)e, &reply[kk][e], &dev[kk][e], &ns[e]);
                        }
        for (int k = 0; k < N_KINDS; k++)
                for (int e = 0; e < N_ENDINGS; e++) {
                        r->reply[k][e] = figure_of(&reply[k][e]);
                        r->dev_gone[k][e] = figure_of(&dev[k][e]);
                }
        for (int e = 0; e < N_ENDINGS; e++)
                r->ns_gone[e] = figure_of(&ns[e]);
        tl_client_free(c);
}

/* ---- the run ---- */

static void run_phase(struct bench *b, struct level *lv, int phase)
{
        struct phase_result *r = &lv->phase[phase];
        unsigned pool = phase == PHASE_WARM ? b->pool : 0;
        double busy;

        r->pool = pool;
        if (!daemon_with_pool(b, pool)) {
                r->refused = true;
                progress("live %u: the daemon REFUSED [clone] pool = %u: %s", lv->live, pool, b->refusal);
                return;
        }
        if (!bench_wait_for_quiet(30, &busy))
                progress("the machine is still busy (%.0f%% CPU) after 30 s; measuring anyway", busy * 100);
        progress("live %u, pool %u:", lv->live, pool);
        measure_acquire(b, r);
        measure_burst(b, r);
        if (phase == PHASE_COLD)
                measure_endings(b, r);
        r->done = true;
}

static void run_level(struct bench *b, struct level *lv)
{
        size_t before = b->population.slots.n;

        if (lv->live > before) {
                if (b->d.pid <= 0)
                        daemon_with_pool(b, 0);
                progress("filling %zu -> %u live clone slots (persistent, %d clients)", before, lv->live,
                         FILL_CLIENTS);
                lv->fill_s = bench_fill_to(&b->population, lv->live, FILL_CLIENTS);
                progress("live %u: filled in %.1f s (%.1f ms a clone slot)", lv->live, lv->fill_s,
                         lv->fill_s * 1000 / (double)(lv->live - before));
        }
        /* The daemon now running first: one restart per level, not two. */
        if (b->running_pool == 0 || !b->pool) {
                run_phase(b, lv, PHASE_COLD);
                if (b->pool)
                        run_phase(b, lv, PHASE_WARM);
        } else {
                run_phase(b, lv, PHASE_WARM);
                run_phase(b, lv, PHASE_COLD);
        }
}

/* Every live clone slot released; until the replies, the host devices
 * and mounts, and the namespaces themselves (their ids) are gone. */
static void release_everything(struct bench *b)
{
        uint64_t t0 = bench_now_ns();
        DIR *d;

        daemon_with_pool(b, 0); /* no pooled namespaces left to count */
        b->release_all_n = (unsigned)b->population.slots.n;
        progress("releasing the %u live clone slots from %d clients", b->release_all_n, RELEASE_CLIENTS);
        b->release_all_s = bench_release_all(&b->population, RELEASE_CLIENTS);
        for (;;) {
                struct dirent *de;
                bool left = false;

                d = opendir("/run/netns");
                while (d && (de = readdir(d)))
                        left = left || de->d_name[0] != '.';
                if (d)
                        closedir(d);
                if (!left)
                        break;
                if (bench_now_ns() - t0 > 10 * GONE_TIMEOUT_NS)
                        bench_fail("/run/netns not empty after 300 s");
                bench_sleep_ns(10 * 1000000);
        }
        b->release_all_gone_s = (bench_now_ns() - t0) / 1e9;
        while (nsid_count() > 0) {
                if (bench_now_ns() - t0 > 10 * GONE_TIMEOUT_NS)
                        bench_fail("namespace ids left after 300 s");
                bench_sleep_ns(100 * 1000000);
        }
        b->release_all_nsid_s = (bench_now_ns() - t0) / 1e9;
        progress("  replies %.1f s, mounts gone %.1f s, namespaces destroyed %.1f s", b->release_all_s,
                 b->release_all_gone_s, b->release_all_nsid_s);
}

/* ---- the report ---- */

static void bench_line(const char *name, unsigned pool, unsigned live, const char *extra, double value)
{
        printf("BENCH name=%s pool=%u live=%u %svalue=%.*f\n", name, pool, live, extra,
               value == (double)(long)value ? 0 : 2, value);
}

static void print_row(const char *what, const struct figure *f, const struct figure *plain)
{
        printf("    %-34s %9.0f %9.0f %5zu", what, f->p50, f->p99, f->n);
        if (plain)
                printf("   %9.0f %9.0f   %5.2f %5.2f", plain->p50, plain->p99,
                       plain->p50 ? f->p50 / plain->p50 : 0, plain->p99 ? f->p99 / plain->p99 : 0);
        putchar('\n');
}

static void report_phase(const struct level *lv, const struct phase_result *r)
{
        char what[64];

        printf("  live %u, pool %u:\n", lv->live, r->pool);
        if (r->refused) {
                printf("    the daemon REFUSED [clone] pool = %u: not measured\n", r->pool);
                return;
        }
        printf("    %-34s %9s %9s %5s   %9s %9s   %5s %5s\n", "us", "p50", "p99", "n", "plain p50",
               "plain p99", "x p50", "x p99");
        print_row(r->pool ? "clone Acquire (warm pool)" : "clone Acquire (pool = 0)", &r->acquire[CLONE],
                  &r->acquire[PLAIN]);
        snprintf(what, sizeof(what), "burst of %d, to the last reply", BURST);
        print_row(what, &r->burst[CLONE], &r->burst[PLAIN]);
        if (r->pool)
                printf("    target warm <= 2 x plain (p50): %s (%.2f)\n",
                       r->acquire[CLONE].p50 <= 2 * r->acquire[PLAIN].p50 ? "met" : "NOT met",
                       r->acquire[CLONE].p50 / r->acquire[PLAIN].p50);
        for (int e = 0; r->pool == 0 && e < N_ENDINGS; e++) {
                snprintf(what, sizeof(what), "%s: the %s", ending_name[e],
                         e == RELEASE ? "reply" : "close()");
                print_row(what, &r->reply[CLONE][e], &r->reply[PLAIN][e]);
                snprintf(what, sizeof(what), "%s: host device gone", ending_name[e]);
                print_row(what, &r->dev_gone[CLONE][e], &r->dev_gone[PLAIN][e]);
                snprintf(what, sizeof(what), "%s: namespace mount gone", ending_name[e]);
                print_row(what, &r->ns_gone[e], NULL);
        }
}

static void phase_lines(const struct level *lv, const struct phase_result *r)
{
        char extra[64];

        for (int k = 0; k < N_KINDS; k++) {
                snprintf(extra, sizeof(extra), "%s_acquire_p50_us", kind_name[k]);
                bench_line(extra, r->pool, lv->live, "", r->acquire[k].p50);
                snprintf(extra, sizeof(extra), "%s_acquire_p99_us", kind_name[k]);
                bench_line(extra, r->pool, lv->live, "", r->acquire[k].p99);
                snprintf(extra, sizeof(extra), "%s_burst%d_last_p50_us", kind_name[k], BURST);
                bench_line(extra, r->pool, lv->live, "", r->burst[k].p50);
        }
        bench_line("clone_over_plain_acquire_p50", r->pool, lv->live, "",
                   r->acquire[CLONE].p50 / r->acquire[PLAIN].p50);
        for (int e = 0; r->pool == 0 && e < N_ENDINGS; e++) {
                snprintf(extra, sizeof(extra), "ending=%s ", ending_name[e]);
                for (int k = 0; k < N_KINDS; k++) {
                        char name[64];

                        snprintf(name, sizeof(name), "%s_end_reply_p50_us", kind_name[k]);
                        bench_line(name, 0, lv->live, extra, r->reply[k][e].p50);
                        snprintf(name, sizeof(name), "%s_end_device_gone_p50_us", kind_name[k]);
                        bench_line(name, 0, lv->live, extra, r->dev_gone[k][e].p50);
                }
                bench_line("clone_end_mount_gone_p50_us", 0, lv->live, extra, r->ns_gone[e].p50);
        }
}

static void report(const struct bench *b)
{
        printf("clone slots (bench/clone.c), ipv6 = no, one client unless said; µs; x = clone / plain of "
               "the same run\n");
        for (size_t l = 0; l < b->n_levels; l++) {
                const struct level *lv = &b->results[l];

                if (lv->live)
                        printf("  live %u: %u clone slots made in %.1f s (%.1f ms each)\n", lv->live,
                               lv->live, lv->fill_s, lv->fill_s * 1000 / lv->live);
                for (int p = 0; p < N_PHASES; p++)
                        if (lv->phase[p].done || lv->phase[p].refused)
                                report_phase(lv, &lv->phase[p]);
        }
        if (b->release_all_n)
                printf("  releasing %u clone slots (%d clients): replies %.1f s, mounts gone %.1f s, "
                       "namespaces "
                       "destroyed %.1f s\n",
                       b->release_all_n, RELEASE_CLIENTS, b->release_all_s, b->release_all_gone_s,
                       b->release_all_nsid_s);
        for (size_t l = 0; l < b->n_levels; l++)
                for (int p = 0; p < N_PHASES; p++)
                        if (b->results[l].phase[p].done)
                                phase_lines(&b->results[l], &b->results[l].phase[p]);
                        else if (b->results[l].phase[p].refused)
                                bench_line("clone_pool_refused", b->pool, b->results[l].live, "", 1);
        if (b->release_all_n) {
                bench_line("clone_release_all_replies_s", 0, b->release_all_n, "", b->release_all_s);
                bench_line("clone_release_all_mounts_gone_s", 0, b->release_all_n, "",
                           b->release_all_gone_s);
                bench_line("clone_release_all_destroyed_s", 0, b->release_all_n, "", b->release_all_nsid_s);
        }
}

/* ---- main ---- */

static void parse_levels(struct bench *b, const char *arg)
{
        b->n_levels = bench_parse_levels(arg, b->levels, MAX_LEVELS, MAX_LEVEL);
}

static void usage(FILE *f, const char *argv0)
{
        fprintf(f,
                "usage: unshare -n %s [--taplinkd PATH] [--levels 0,1000] [--pool N] [--quick] [--keep]\n"
                "  --taplinkd PATH   the daemon to run (build/taplinkd)\n"
                "  --levels LIST     live clone slots, increasing (0,1000)\n"
                "  --pool N          also measure with [clone] pool = N, warm (0: not)\n"
                "  --quick           fewer samples\n"
                "  --keep            keep the temporary directory (config, log)\n",
                argv0);
}

/* /run/netns of our own: a private mount namespace with a tmpfs on /run,
 * so that 1,000 bind mounts reach nobody else and vanish with us. */
static void private_run(void)
{
        if (unshare(CLONE_NEWNS) < 0)
                bench_fail("unshare(CLONE_NEWNS): %s", strerror(errno));
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                bench_fail("making / private: %s", strerror(errno));
        if (mount("taplink-bench-clone", "/run", "tmpfs", 0, "mode=0755,size=16m") < 0)
                bench_fail("tmpfs on /run: %s", strerror(errno));
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
            {"taplinkd", required_argument, NULL, 't'},
            {"levels", required_argument, NULL, 'l'},
            {"pool", required_argument, NULL, 'p'},
            {"quick", no_argument, NULL, 'q'},
            {"keep", no_argument, NULL, 'k'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct bench b = {.d.taplinkd = "build/taplinkd", .samples = 100, .endings = 20};
        int c;

        bench_start_ns = bench_now_ns();
        parse_levels(&b, "0,1000");
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 't':
                        b.d.taplinkd = optarg;
                        break;
                case 'l':
                        parse_levels(&b, optarg);
                        break;
                case 'p':
                        b.pool = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'q':
                        b.quick = true;
                        b.samples = 40;
                        b.endings = 8;
                        break;
                case 'k':
                        b.d.keep = true;
                        break;
                case 'h':
                        usage(stdout, argv[0]);
                        return 0;
                default:
                        usage(stderr, argv[0]);
                        return 2;
                }
        bench_check_runnable(b.d.taplinkd, argv[0]);
        private_run();
        pthread_mutex_init(&b.population.lock, NULL);
        b.population.d = &b.d;
        b.clone_extra = bench_clone_extra();
        b.population.clone = true;
        signal(SIGPIPE, SIG_IGN);

        for (size_t l = 0; l < b.n_levels; l++) {
                b.results[l].live = b.levels[l];
                run_level(&b, &b.results[l]);
        }
        if (b.population.slots.n > 0)
                release_everything(&b);
        report(&b);
        bench_daemon_stop(&b.d);
        if (b.d.keep)
                progress("kept %s", b.d.dir);
        free(b.population.slots.items);
        tl_acquire_extra_free(b.clone_extra);
        return 0;
}

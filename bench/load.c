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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "nft.h"
#include "rtnl.h"
#include "slot.h"
#include "tap.h"
#include "taplink.h"
#include "../tests/throwaway-netns.h"

#define MAX_CLIENTS 32
#define MAX_LEVELS 8
#define MAX_PER_ROUND 8 /* acquires per client per round */
#define REPS 3          /* repetitions, each a daemon pass and a floor pass */
#define FILL_CLIENTS 8
#define RELEASE_CLIENTS 32
#define CHURN_CLIENTS 8
#define TEARDOWN_LEVEL 1000
#define FLOOR_GROUP 0x74666c72u /* "tflr": a link group for the floor's deletions */
#define READY_TIMEOUT_S 900     /* reconcile of 10,000 IPv6 slots is not instant */

static const unsigned client_counts[] = {1, 8, 32};

/* The daemon we started: it must not outlive us, or the namespace (and
 * every device in it) would stay with it. */
static pid_t daemon_pid;

static _Noreturn void die(const char *fmt, ...)
{
        va_list ap;

        if (daemon_pid > 0)
                kill(daemon_pid, SIGKILL);

        fprintf(stderr, "bench: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(1);
}

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t start_ns;

static void progress(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "[%7.1fs] ", (now_ns() - start_ns) / 1e9);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* ---- samples (ns) ---- */

struct samples {
        uint64_t *v;
        size_t n, cap;
};

static void samples_add(struct samples *s, uint64_t x)
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 256;
                uint64_t *v = realloc(s->v, cap * sizeof(*v));
                if (!v)
                        die("out of memory");
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n++] = x;
}

static void samples_merge(struct samples *to, const struct samples *from)
{
        for (size_t i = 0; i < from->n; i++)
                samples_add(to, from->v[i]);
}

static void samples_free(struct samples *s)
{
        free(s->v);
        *s = (struct samples){0};
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return (x > y) - (x < y);
}

/* Nearest-rank quantile in µs; sorts in place. */
static double quantile_us(struct samples *s, double q)
{
        size_t i;

        if (s->n == 0)
                return 0;
        qsort(s->v, s->n, sizeof(uint64_t), cmp_u64);
        i = (size_t)(q * (double)s->n + 0.999999);
        i = i == 0 ? 0 : MIN(i - 1, s->n - 1);
        return s->v[i] / 1000.0;
}

static double mean_us(const struct samples *s)
{
        double sum = 0;

        for (size_t i = 0; i < s->n; i++)
                sum += (double)s->v[i];
        return s->n ? sum / (double)s->n / 1000.0 : 0;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* ---- results ---- */

struct latency {
        bool done;
        double p50, p99; /* pooled over every repetition */
        double mean, floor_mean;
        double rep_p50[REPS]; /* for the spread */
        size_t n;
        double floor_p50, floor_p99;
        double floor_rep_p50[REPS];
        double floor_phase_p50[3];
        size_t floor_n;
        double rate, floor_rate; /* acquires per second within the rounds */
};

struct level {
        unsigned live;
        double fill_s;
        long rss_kib;        /* after filling, same daemon */
        long rss_end_kib;    /* after this level's measurements */
        long rss_fresh_kib;  /* a daemon started with this many live */
        double reconcile_ms; /* kill -9, restart, READY=1 */
        bool seq_done;
        double seq_p50[4], seq_p99[4]; /* by enum seq_kind (below) */
        struct latency lat[ELEMENTSOF(client_counts)];
        double status_p50, status_p99;
        bool pressure_done;
        double alone_p50, alone_p99, pressure_p50, pressure_p99;
        size_t pressure_n;
        unsigned pressure_releases;
        bool churn_done;
        double churn_cycles_per_s, churn_p50, churn_p99;
        size_t churn_cycles;
};

struct bench {
        const char *taplinkd;
        bool ipv6;
        bool quick;
        bool keep; /* the temporary directory and the daemon's log */
        bool sequential_only;
        unsigned levels[MAX_LEVELS];
        size_t n_levels;

        char dir[PATH_MAX];
        char conf[PATH_MAX + 32], socket[PATH_MAX + 32], notify[PATH_MAX + 32], log[PATH_MAX + 32];
        char table[64];
        int notify_fd;
        pthread_t notify_thread;
        pthread_cond_t ready_cond; /* under lock */
        uint64_t ready_ns;         /* when READY=1 came; 0 while waiting */
        pid_t pid;
        long rss_fresh0_kib;

        struct config floor_config;
        struct rtnl *rtnl; /* the floor's deletions */
        struct nft *nft;

        /* The persistent population, by slot number. */
        unsigned *population;
        size_t n_population, cap_population;
        pthread_mutex_t lock;

        struct level results[MAX_LEVELS];
        /* Releasing a whole level: at TEARDOWN_LEVEL, and at the end (so
         * that the namespace goes empty: the kernel would otherwise tear
         * thousands of devices down in one go, holding the rtnl mutex that
         * every namespace on the host shares for minutes with IPv6 on). */
        double release_all_ms[2];
        unsigned release_all_n[2];
};

/* ---- the daemon ---- */

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                die("%s: %s", path, strerror(errno));
}

static void log_tail(const struct bench *b)
{
        char cmd[PATH_MAX + 64];

        fprintf(stderr, "bench: last lines of %s:\n", b->log);
        snprintf(cmd, sizeof(cmd), "tail -n 20 '%s' >&2", b->log);
        (void)!system(cmd);
}

static void *notify_thread(void *p);

static void setup_daemon_files(struct bench *b)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char text[512];

        snprintf(b->dir, sizeof(b->dir), "/tmp/taplinkd-bench.XXXXXX");
        if (!mkdtemp(b->dir))
                die("mkdtemp: %s", strerror(errno));
        snprintf(b->conf, sizeof(b->conf), "%s/taplinkd.conf", b->dir);
        snprintf(b->socket, sizeof(b->socket), "%s/io.taplinkd", b->dir);
        snprintf(b->notify, sizeof(b->notify), "%s/notify", b->dir);
        snprintf(b->log, sizeof(b->log), "%s/taplinkd.log", b->dir);
        /* A table of our own: nothing else in any namespace is touched. */
        snprintf(b->table, sizeof(b->table), "tlbench%ld", (long)getpid());
        snprintf(text, sizeof(text),
                 "# written by bench/load\n[daemon]\nnft_table = %s\n[network]\nipv6 = %s\n", b->table,
                 b->ipv6 ? "yes" : "no");
        write_file(b->conf, text);

        b->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (b->notify_fd < 0)
                die("socket: %s", strerror(errno));
        if (strlen(b->notify) >= sizeof(sa.sun_path))
                die("%s: path too long", b->notify);
        strcpy(sa.sun_path, b->notify);
        if (bind(b->notify_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("bind %s: %s", b->notify, strerror(errno));
        pthread_cond_init(&b->ready_cond, NULL);
        if (pthread_create(&b->notify_thread, NULL, notify_thread, b) != 0)
                die("pthread_create failed");
}

static void remove_daemon_files(const struct bench *b)
{
        unlink(b->conf);
        unlink(b->notify);
        unlink(b->socket);
        unlink(b->log);
        rmdir(b->dir);
}

/* Plays systemd's part: reads every notification for as long as we run.
 * The daemon sends STATUS= as slots come and go; with nobody reading, the
 * queue would fill, and READY=1 after a restart would wait (up to 1 s, see
 * src/notify.c) and spoil the reconcile figure. */
static void *notify_thread(void *p)
{
        struct bench *b = p;
        char buf[4096];

        for (;;) {
                struct pollfd pfd = {.fd = b->notify_fd, .events = POLLIN};
                ssize_t n;

                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                        die("poll: %s", strerror(errno));
                n = recv(b->notify_fd, buf, sizeof(buf) - 1, 0);
                if (n <= 0)
                        continue;
                buf[n] = '\0';
                if (strstr(buf, "READY=1")) {
                        pthread_mutex_lock(&b->lock);
                        b->ready_ns = now_ns();
                        pthread_cond_broadcast(&b->ready_cond);
                        pthread_mutex_unlock(&b->lock);
                }
        }
        return NULL;
}

/* Starts taplinkd and waits for READY=1. Returns the ns from fork to READY. */
static uint64_t daemon_start(struct bench *b)
{
        uint64_t t0, ready = 0;
        pid_t pid;

        pthread_mutex_lock(&b->lock);
        b->ready_ns = 0;
        pthread_mutex_unlock(&b->lock);

        t0 = now_ns();
        pid = fork();
        if (pid < 0)
                die("fork: %s", strerror(errno));
        if (pid == 0) {
                int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                setenv("NOTIFY_SOCKET", b->notify, 1);
                execl(b->taplinkd, "taplinkd", "--config", b->conf, "--socket", b->socket, (char *)NULL);
                _exit(127);
        }
        b->pid = daemon_pid = pid;

        while (!ready) {
                struct timespec until;
                int status;

                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += 200 * 1000 * 1000;
                if (until.tv_nsec >= 1000000000) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000;
                }
                pthread_mutex_lock(&b->lock);
                if (b->ready_ns == 0)
                        pthread_cond_timedwait(&b->ready_cond, &b->lock, &until);
                ready = b->ready_ns;
                pthread_mutex_unlock(&b->lock);
                if (ready)
                        break;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        b->pid = daemon_pid = 0;
                        log_tail(b);
                        die("taplinkd exited during start-up (status %d)", status);
                }
                if (now_ns() - t0 > (uint64_t)READY_TIMEOUT_S * 1000000000u) {
                        log_tail(b);
                        die("taplinkd not ready after %d s", READY_TIMEOUT_S);
                }
        }
        return ready - t0;
}

static void daemon_stop(struct bench *b, int sig)
{
        int status;

        if (b->pid <= 0)
                return;
        kill(b->pid, sig);
        if (waitpid(b->pid, &status, 0) < 0)
                die("waitpid: %s", strerror(errno));
        b->pid = daemon_pid = 0;
}

static long daemon_rss_kib(const struct bench *b)
{
        char path[64], line[256];
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%ld/status", (long)b->pid);
        f = fopen(path, "re");
        if (!f)
                die("%s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

static tl_client *connect_client(const struct bench *b)
{
        tl_client *c;
        int r = tl_client_connect(b->socket, &c);

        if (r < 0)
                die("connect %s: %s", b->socket, strerror(-r));
        return c;
}

static unsigned daemon_slots_in_use(const struct bench *b)
{
        tl_client *c = connect_client(b);
        tl_status st;
        int r = tl_status_get(c, &st);

        if (r < 0)
                die("Status: %s", tl_client_error_message(c));
        tl_client_free(c);
        return st.slots_in_use;
}

static void expect_live(const struct bench *b, unsigned live, const char *when)
{
        unsigned n = daemon_slots_in_use(b);

        if (n != live)
                die("%s: the daemon has %u slots in use, expected %u", when, n, live);
}

/* ---- threads ---- */

/* Runs fn on n threads over the array of per-thread contexts. */
static void run_threads(void *(*fn)(void *), void *ctx, size_t size, unsigned n)
{
        pthread_t threads[MAX_CLIENTS];

        for (unsigned i = 0; i < n; i++)
                if (pthread_create(&threads[i], NULL, fn, (char *)ctx + i * size) != 0)
                        die("pthread_create failed");
        for (unsigned i = 0; i < n; i++)
                pthread_join(threads[i], NULL);
}

/* ---- population: persistent slots whose fds we close ---- */

struct fill_ctx {
        struct bench *b;
        unsigned *left; /* under b->lock */
};

static void *fill_thread(void *p)
{
        struct fill_ctx *f = p;
        struct bench *b = f->b;
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;
        tl_client *c = connect_client(b);

        opts.persistent = true;
        for (;;) {
                tl_slot *s;
                int r;

                pthread_mutex_lock(&b->lock);
                if (*f->left == 0) {
                        pthread_mutex_unlock(&b->lock);
                        break;
                }
                (*f->left)--;
                pthread_mutex_unlock(&b->lock);

                r = tl_acquire(c, &opts, &s);
                if (r < 0)
                        die("filling: Acquire: %s", tl_client_error_message(c));
                pthread_mutex_lock(&b->lock);
                if (b->n_population == b->cap_population) {
                        size_t cap = b->cap_population ? b->cap_population * 2 : 1024;
                        unsigned *v = realloc(b->population, cap * sizeof(*v));
                        if (!v)
                                die("out of memory");
                        b->population = v;
                        b->cap_population = cap;
                }
                b->population[b->n_population++] = tl_slot_number(s);
                pthread_mutex_unlock(&b->lock);
                /* Persistent: the device stays without our fd. */
                tl_slot_free(s);
        }
        tl_client_free(c);
        return NULL;
}

static double fill_to(struct bench *b, unsigned live)
{
        struct fill_ctx ctx[FILL_CLIENTS];
        unsigned left;
        uint64_t t0;

        if (live <= b->n_population)
                return 0;
        left = live - (unsigned)b->n_population;
        progress("filling %zu -> %u live slots (persistent, %d clients)", b->n_population, live,
                 FILL_CLIENTS);
        for (size_t i = 0; i < ELEMENTSOF(ctx); i++)
                ctx[i] = (struct fill_ctx){b, &left};
        t0 = now_ns();
        run_threads(fill_thread, ctx, sizeof(ctx[0]), FILL_CLIENTS);
        return (now_ns() - t0) / 1e9;
}

/* Releases the whole population from RELEASE_CLIENTS clients at once. */
struct release_ctx {
        struct bench *b;
        size_t *next;
};

static void *release_thread(void *p)
{
        struct release_ctx *rc = p;
        struct bench *b = rc->b;
        tl_client *c = connect_client(b);

        for (;;) {
                unsigned slot;
                int r;

                pthread_mutex_lock(&b->lock);
                if (*rc->next >= b->n_population) {
                        pthread_mutex_unlock(&b->lock);
                        break;
                }
                slot = b->population[(*rc->next)++];
                pthread_mutex_unlock(&b->lock);
                r = tl_release(c, slot);
                if (r < 0)
                        die("Release %u: %s", slot, tl_client_error_message(c));
        }
        tl_client_free(c);
        return NULL;
}

static double release_population(struct bench *b)
{
        struct release_ctx ctx[RELEASE_CLIENTS];
        size_t next = 0;
        uint64_t t0;

        for (size_t i = 0; i < ELEMENTSOF(ctx); i++)
                ctx[i] = (struct release_ctx){b, &next};
        t0 = now_ns();
        run_threads(release_thread, ctx, sizeof(ctx[0]), RELEASE_CLIENTS);
        b->n_population = 0;
        return (now_ns() - t0) / 1e6;
}

/* ---- acquire latency: the daemon ---- */

struct worker {
        struct bench *b;
        unsigned k;
        pthread_barrier_t *barrier;
        pthread_barrier_t *done_barrier; /* NULL: barrier */
        atomic_bool *done;               /* set once every acquire is in */
        struct samples lat;
        uint64_t begin, end; /* this round's acquires */

        /* daemon */
        tl_client *client;
        tl_slot *slots[MAX_PER_ROUND];

        /* floor */
        struct rtnl *rtnl;
        struct nft *nft;
        unsigned first_slot;
        struct samples phase[3]; /* tap_create, rtnl_configure_link, nft_apply */
        int fds[MAX_PER_ROUND];
        int ifindexes[MAX_PER_ROUND];
};

static void *daemon_round_thread(void *p)
{
        struct worker *w = p;
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;

        pthread_barrier_wait(w->barrier);
        w->begin = now_ns();
        for (unsigned i = 0; i < w->k; i++) {
                uint64_t t0 = now_ns();
                int r = tl_acquire(w->client, &opts, &w->slots[i]);

                if (r < 0)
                        die("Acquire: %s", tl_client_error_message(w->client));
                samples_add(&w->lat, now_ns() - t0);
        }
        w->end = now_ns();
        /* Our own releases wait until everybody has acquired: they are
         * not the churn being measured. */
        if (pthread_barrier_wait(w->done_barrier ? w->done_barrier : w->barrier) ==
                PTHREAD_BARRIER_SERIAL_THREAD &&
            w->done)
                atomic_store(w->done, true);
        for (unsigned i = 0; i < w->k; i++) {
                int r = tl_release(w->client, tl_slot_number(w->slots[i]));

                if (r < 0)
                        die("Release: %s", tl_client_error_message(w->client));
                tl_slot_free(w->slots[i]);
        }
        return NULL;
}

/* ---- acquire latency: the floor ---- */

/* What the daemon does for a slot, done here for slot s of the floor's
 * configuration; fills w->fds[i] and w->ifindexes[i]. */
static void floor_acquire(struct worker *w, unsigned i, unsigned s)
{
        const struct config *c = &w->b->floor_config;
        const struct tap_options opts = {.queues = 1, .vnet_header = true, .owner = 0};
        struct rtnl_link_config lc = {.mtu = c->mtu, .ipv6 = c->ipv6};
        struct slot_net4 n4;
        struct slot_net6 n6;
        struct nft_elem elems[NFT_SLOT_ELEMS_MAX];
        char name[IFNAMSIZ];
        const char *op = NULL;
        uint64_t t0, t1, t2;
        size_t n;
        int r;

        if (slot_ifname(c, s, name) < 0)
                die("floor: slot %u has no name", s);
        t0 = now_ns();
        r = tap_create(name, &opts, &w->fds[i], &w->ifindexes[i], &op);
        if (r < 0)
                die("floor: %s: %s: %s", name, op, strerror(-r));
        lc.ifindex = w->ifindexes[i];
        slot_host_mac(s, lc.mac);
        slot_ipv4(c, s, &n4);
        lc.gateway4 = n4.gateway;
        lc.prefix4 = n4.prefix_len;
        if (c->ipv6) {
                slot_ipv6(c, s, &n6);
                lc.gateway6 = n6.gateway;
                lc.prefix6 = n6.prefix_len;
        }
        t1 = now_ns();
        r = rtnl_configure_link(w->rtnl, &lc, &op);
        if (r < 0)
                die("floor: %s: %s: %s", name, op, strerror(-r));
        t2 = now_ns();
        n = nft_slot_elems(c, s, elems);
        r = nft_apply(w->nft, elems, n, NULL, 0);
        if (r < 0)
                die("floor: %s: nft_apply: %s", name, strerror(-r));
        samples_add(&w->phase[0], t1 - t0);
        samples_add(&w->phase[1], t2 - t1);
        samples_add(&w->phase[2], now_ns() - t2);
}

static void *floor_round_thread(void *p)
{
        struct worker *w = p;

        pthread_barrier_wait(w->barrier);
        w->begin = now_ns();
        for (unsigned i = 0; i < w->k; i++) {
                uint64_t t0 = now_ns();

                floor_acquire(w, i, w->first_slot + i);
                samples_add(&w->lat, now_ns() - t0);
        }
        w->end = now_ns();
        return NULL;
}

/* Undoes a floor round off the clock: one group deletion, one batch. */
static void floor_cleanup(struct bench *b, struct worker *w, unsigned n_workers)
{
        int ifindexes[MAX_CLIENTS * MAX_PER_ROUND];
        struct nft_elem elems[MAX_CLIENTS * MAX_PER_ROUND * NFT_SLOT_ELEMS_MAX];
        size_t n = 0, n_elems = 0;
        int r;

        for (unsigned t = 0; t < n_workers; t++)
                for (unsigned i = 0; i < w[t].k; i++) {
                        ifindexes[n++] = w[t].ifindexes[i];
                        n_elems += nft_slot_elems(&b->floor_config, w[t].first_slot + i, elems + n_elems);
                }
        r = rtnl_delete_links(b->rtnl, ifindexes, n, FLOOR_GROUP);
        if (r < 0)
                die("floor: rtnl_delete_links: %s", strerror(-r));
        r = nft_apply(b->nft, NULL, 0, elems, n_elems);
        if (r < 0)
                die("floor: nft_apply (delete): %s", strerror(-r));
        for (unsigned t = 0; t < n_workers; t++)
                close_many(w[t].fds, w[t].k);
}

/* ---- one latency measurement: a level, a client count ---- */

/* Rounds per repetition and acquires per client per round. */
static void round_shape(const struct bench *b, unsigned live, unsigned clients, unsigned *ret_rounds,
                        unsigned *ret_k)
{
        unsigned k = clients >= 32 ? 2 : 4, samples = clients == 1 ? 60 : clients == 8 ? 64 : 128;

        /* At 10,000 live slots each acquire costs tens of ms in the kernel. */
        if (b->quick || live >= 5000)
                samples /= 2;
        *ret_k = k;
        *ret_rounds = MAX(1u, samples / (k * clients));
}

static void measure_latency(struct bench *b, unsigned live, size_t ci, struct latency *ret)
{
        unsigned clients = client_counts[ci], rounds, k;
        struct worker w[MAX_CLIENTS];
        struct samples all = {0}, floor_all = {0};
        pthread_barrier_t barrier;
        uint64_t busy[2] = {0, 0};

        round_shape(b, live, clients, &rounds, &k);
        progress("live %u, %u client%s: %u x %u rounds of %u acquires per client, daemon and floor", live,
                 clients, clients > 1 ? "s" : "", REPS, rounds, k);

        memset(w, 0, sizeof(w));
        for (unsigned t = 0; t < clients; t++) {
                int r;

                w[t].b = b;
                w[t].k = k;
                w[t].barrier = &barrier;
                w[t].client = connect_client(b);
                w[t].first_slot = t * k;
                r = rtnl_open(&w[t].rtnl);
                if (r >= 0)
                        r = nft_open(&b->floor_config, &w[t].nft);
                if (r < 0)
                        die("floor: opening sockets: %s", strerror(-r));
        }

        for (unsigned rep = 0; rep < REPS; rep++) {
                struct samples d = {0}, f = {0};

                /* Alternate which goes first, so that neither always
                 * follows the other's teardown. */
                for (unsigned pass = 0; pass < 2; pass++) {
                        bool floor = (pass + rep) % 2 == 1;

                        for (unsigned round = 0; round < rounds; round++) {
                                pthread_barrier_init(&barrier, NULL, clients);
                                run_threads(floor ? floor_round_thread : daemon_round_thread, w,
                                            sizeof(w[0]), clients);
                                pthread_barrier_destroy(&barrier);
                                if (floor)
                                        floor_cleanup(b, w, clients);
                                uint64_t begin = UINT64_MAX, end = 0;
                                for (unsigned t = 0; t < clients; t++) {
                                        begin = MIN(begin, w[t].begin);
                                        end = MAX(end, w[t].end);
                                }
                                busy[floor] += end - begin;
                                for (unsigned t = 0; t < clients; t++) {
                                        samples_merge(floor ? &f : &d, &w[t].lat);
                                        w[t].lat.n = 0;
                                }
                        }
                }
                ret->rep_p50[rep] = quantile_us(&d, 0.5);
                ret->floor_rep_p50[rep] = quantile_us(&f, 0.5);
                samples_merge(&all, &d);
                samples_merge(&floor_all, &f);
                samples_free(&d);
                samples_free(&f);
        }
        expect_live(b, live, "after the latency rounds");

        for (unsigned ph = 0; ph < 3; ph++) {
                struct samples x = {0};

                for (unsigned t = 0; t < clients; t++)
                        samples_merge(&x, &w[t].phase[ph]);
                ret->floor_phase_p50[ph] = quantile_us(&x, 0.5);
                samples_free(&x);
        }
        ret->done = true;
        ret->rate = all.n / (busy[0] / 1e9);
        ret->floor_rate = floor_all.n / (busy[1] / 1e9);
        ret->n = all.n;
        ret->mean = mean_us(&all);
        ret->floor_mean = mean_us(&floor_all);
        ret->p50 = quantile_us(&all, 0.5);
        ret->p99 = quantile_us(&all, 0.99);
        ret->floor_n = floor_all.n;
        ret->floor_p50 = quantile_us(&floor_all, 0.5);
        ret->floor_p99 = quantile_us(&floor_all, 0.99);
        progress("  daemon p50 %.0f p99 %.0f us %.0f/s, floor p50 %.0f p99 %.0f us %.0f/s "
                 "(tap_create %.0f + configure %.0f + nft %.0f)",
                 ret->p50, ret->p99, ret->rate, ret->floor_p50, ret->floor_p99, ret->floor_rate,
                 ret->floor_phase_p50[0], ret->floor_phase_p50[1], ret->floor_phase_p50[2]);

        samples_free(&all);
        samples_free(&floor_all);
        for (unsigned t = 0; t < clients; t++) {
                tl_client_free(w[t].client);
                rtnl_close(w[t].rtnl);
                nft_close(w[t].nft);
                samples_free(&w[t].lat);
                for (unsigned ph = 0; ph < 3; ph++)
                        samples_free(&w[t].phase[ph]);
        }
}

/* ---- acquires while releases run ---- */

#define PRESSURE_CLIENTS 8
#define STOCK_PER_RELEASER 6

/* Releases its stock from the moment the acquirers start; the releases
 * that began before every acquire was in count as overlapping. */
struct releaser {
        tl_client *client;
        pthread_barrier_t *barrier;
        atomic_bool *done;
        tl_slot *stock[STOCK_PER_RELEASER];
        unsigned overlapping;
};

static void *releaser_thread(void *p)
{
        struct releaser *r = p;

        pthread_barrier_wait(r->barrier);
        for (unsigned i = 0; i < STOCK_PER_RELEASER; i++) {
                if (!atomic_load(r->done))
                        r->overlapping++;
                if (tl_release(r->client, tl_slot_number(r->stock[i])) < 0)
                        die("Release: %s", tl_client_error_message(r->client));
                tl_slot_free(r->stock[i]);
        }
        return NULL;
}

/* 8 clients acquire in rounds, as in measure_latency(); in every other
 * pass 8 more clients release slots acquired for that purpose at the same
 * time. Same acquirers, same rounds, passes interleaved: the p99 ratio is
 * what concurrent releases cost an Acquire. */
static void measure_pressure(struct bench *b, unsigned live, struct level *lv)
{
        /* At 10,000 live with IPv6 a round (and its stock) takes seconds. */
        unsigned rounds = b->quick ? 4 : live >= 5000 ? 1 : 8, k = 4;
        struct worker w[PRESSURE_CLIENTS];
        struct releaser rel[PRESSURE_CLIENTS];
        struct samples lat[2] = {{0}, {0}};
        unsigned overlapping = 0, releases = 0;
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;

        progress("live %u: %d clients acquire, alone and while %d others release (%u x %u rounds of %u)",
                 live, PRESSURE_CLIENTS, PRESSURE_CLIENTS, REPS, rounds, k);
        memset(w, 0, sizeof(w));
        memset(rel, 0, sizeof(rel));
        for (unsigned t = 0; t < PRESSURE_CLIENTS; t++) {
                w[t] = (struct worker){.b = b, .k = k, .client = connect_client(b)};
                rel[t].client = connect_client(b);
        }

        for (unsigned rep = 0; rep < REPS; rep++)
                for (unsigned pass = 0; pass < 2; pass++) {
                        bool pressure = (pass + rep) % 2 == 1;

                        for (unsigned round = 0; round < rounds; round++) {
                                pthread_t threads[2 * PRESSURE_CLIENTS];
                                pthread_barrier_t start, done_barrier;
                                atomic_bool done = false;
                                unsigned n = PRESSURE_CLIENTS * (pressure ? 2 : 1);

                                /* The stock, off the clock, in both passes: the kernel
                                 * keeps working on new devices for a second or so
                                 * (IPv6 DAD, under the rtnl mutex), and the passes
                                 * should differ only in the releases. */
                                for (unsigned t = 0; t < PRESSURE_CLIENTS; t++)
                                        for (unsigned i = 0; i < STOCK_PER_RELEASER; i++)
                                                if (tl_acquire(rel[t].client, &opts, &rel[t].stock[i]) < 0)
                                                        die("Acquire: %s",
                                                            tl_client_error_message(rel[t].client));

                                pthread_barrier_init(&start, NULL, n);
                                pthread_barrier_init(&done_barrier, NULL, PRESSURE_CLIENTS);
                                for (unsigned t = 0; t < n; t++) {
                                        int e;

                                        if (t < PRESSURE_CLIENTS) {
                                                w[t].barrier = &start;
                                                w[t].done_barrier = &done_barrier;
                                                w[t].done = &done;
                                                e = pthread_create(&threads[t], NULL, daemon_round_thread,
                                                                   &w[t]);
                                        } else {
                                                struct releaser *r = &rel[t - PRESSURE_CLIENTS];

                                                r->barrier = &start;
                                                r->done = &done;
                                                r->overlapping = 0;
                                                e = pthread_create(&threads[t], NULL, releaser_thread, r);
                                        }
                                        if (e != 0)
                                                die("pthread_create failed");
                                }
                                for (unsigned t = 0; t < n; t++)
                                        pthread_join(threads[t], NULL);
                                for (unsigned t = 0; !pressure && t < PRESSURE_CLIENTS; t++)
                                        for (unsigned i = 0; i < STOCK_PER_RELEASER; i++) {
                                                if (tl_release(rel[t].client,
                                                               tl_slot_number(rel[t].stock[i])) < 0)
                                                        die("Release: %s",
                                                            tl_client_error_message(rel[t].client));
                                                tl_slot_free(rel[t].stock[i]);
                                        }
                                pthread_barrier_destroy(&start);
                                pthread_barrier_destroy(&done_barrier);

                                for (unsigned t = 0; t < PRESSURE_CLIENTS; t++) {
                                        samples_merge(&lat[pressure], &w[t].lat);
                                        w[t].lat.n = 0;
                                        if (pressure) {
                                                overlapping += rel[t].overlapping;
                                                releases += STOCK_PER_RELEASER;
                                        }
                                }
                        }
                }
        expect_live(b, live, "after the release-pressure rounds");

        lv->pressure_done = true;
        lv->alone_p50 = quantile_us(&lat[0], 0.5);
        lv->alone_p99 = quantile_us(&lat[0], 0.99);
        lv->pressure_p50 = quantile_us(&lat[1], 0.5);
        lv->pressure_p99 = quantile_us(&lat[1], 0.99);
        lv->pressure_n = lat[1].n;
        lv->pressure_releases = overlapping;
        progress("  alone p50 %.0f p99 %.0f us; with releases p50 %.0f p99 %.0f us (%u of %u releases "
                 "overlapped the acquires)",
                 lv->alone_p50, lv->alone_p99, lv->pressure_p50, lv->pressure_p99, overlapping, releases);
        for (unsigned t = 0; t < PRESSURE_CLIENTS; t++) {
                tl_client_free(w[t].client);
                tl_client_free(rel[t].client);
                samples_free(&w[t].lat);
        }
        samples_free(&lat[0]);
        samples_free(&lat[1]);
}

/* ---- the fixed cost of a call ---- */

/* Status round trips from one client: what every call costs before any
 * kernel work (two wake-ups, JSON both ways, the event loop). */
static void measure_status(struct bench *b, double *ret_p50, double *ret_p99)
{
        tl_client *c = connect_client(b);
        struct samples lat = {0};

        for (int i = 0; i < 2000; i++) {
                uint64_t t0 = now_ns();
                tl_status st;

                if (tl_status_get(c, &st) < 0)
                        die("Status: %s", tl_client_error_message(c));
                samples_add(&lat, now_ns() - t0);
        }
        *ret_p50 = quantile_us(&lat, 0.5);
        *ret_p99 = quantile_us(&lat, 0.99);
        samples_free(&lat);
        tl_client_free(c);
}

/* ---- churn ---- */

struct churn_ctx {
        struct bench *b;
        uint64_t deadline;
        pthread_barrier_t *barrier;
        struct samples lat;
        size_t cycles;
};

/* An ARP request from the guest for its gateway, behind a zero
 * virtio_net_hdr: what a booting guest sends first. */
static size_t guest_frame(const tl_slot *s, uint8_t *buf, size_t size)
{
        static const uint8_t arp_head[] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
        const size_t vnet = 10, len = vnet + 14 + 28;
        unsigned m[6];
        uint8_t mac[6];
        struct in_addr guest, gw;

        if (size < len ||
            sscanf(tl_slot_mac(s), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
                die("churn: bad MAC %s", tl_slot_mac(s));
        for (int i = 0; i < 6; i++)
                mac[i] = (uint8_t)m[i];
        inet_pton(AF_INET, tl_slot_guest(s, TL_IPV4), &guest);
        inet_pton(AF_INET, tl_slot_gateway(s, TL_IPV4), &gw);

        memset(buf, 0, len);
        memset(buf + vnet, 0xff, 6);
        memcpy(buf + vnet + 6, mac, 6);
        buf[vnet + 12] = 0x08;
        buf[vnet + 13] = 0x06;
        memcpy(buf + vnet + 14, arp_head, sizeof(arp_head));
        memcpy(buf + vnet + 22, mac, 6);
        memcpy(buf + vnet + 28, &guest, 4);
        memcpy(buf + vnet + 38, &gw, 4);
        return len;
}

static void *churn_thread(void *p)
{
        struct churn_ctx *cc = p;
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;
        tl_client *c = connect_client(cc->b);

        pthread_barrier_wait(cc->barrier);
        while (now_ns() < cc->deadline) {
                uint8_t frame[128];
                uint64_t t0 = now_ns();
                size_t len;
                tl_slot *s;
                int r;

                r = tl_acquire(c, &opts, &s);
                if (r < 0)
                        die("churn: Acquire: %s", tl_client_error_message(c));
                samples_add(&cc->lat, now_ns() - t0);
                len = guest_frame(s, frame, sizeof(frame));
                if (write(tl_slot_fd(s, 0), frame, len) != (ssize_t)len)
                        die("churn: write on %s: %s", tl_slot_ifname(s), strerror(errno));
                r = tl_release(c, tl_slot_number(s));
                if (r < 0)
                        die("churn: Release: %s", tl_client_error_message(c));
                tl_slot_free(s);
                cc->cycles++;
        }
        tl_client_free(c);
        return NULL;
}

static void measure_churn(struct bench *b, unsigned live, struct level *ret)
{
        struct churn_ctx cc[CHURN_CLIENTS];
        struct samples all = {0};
        pthread_barrier_t barrier;
        double seconds = b->quick ? 3 : 5;
        uint64_t t0, deadline;
        size_t cycles = 0;

        progress("live %u: churn, %d clients acquire + write + release for %.0f s", live, CHURN_CLIENTS,
                 seconds);
        /* The barrier also covers connecting: the clock starts after. */
        pthread_barrier_init(&barrier, NULL, CHURN_CLIENTS);
        t0 = now_ns();
        deadline = t0 + (uint64_t)(seconds * 1e9);
        for (size_t i = 0; i < ELEMENTSOF(cc); i++)
                cc[i] = (struct churn_ctx){.b = b, .deadline = deadline, .barrier = &barrier};
        run_threads(churn_thread, cc, sizeof(cc[0]), CHURN_CLIENTS);
        pthread_barrier_destroy(&barrier);
        seconds = (now_ns() - t0) / 1e9;
        for (size_t i = 0; i < ELEMENTSOF(cc); i++) {
                samples_merge(&all, &cc[i].lat);
                cycles += cc[i].cycles;
                samples_free(&cc[i].lat);
        }
        expect_live(b, live, "after churn");

        ret->churn_done = true;
        ret->churn_cycles = cycles;
        ret->churn_cycles_per_s = cycles / seconds;
        ret->churn_p50 = quantile_us(&all, 0.5);
        ret->churn_p99 = quantile_us(&all, 0.99);
        progress("  %zu cycles, %.0f/s; acquire p50 %.0f p99 %.0f us", cycles, ret->churn_cycles_per_s,
                 ret->churn_p50, ret->churn_p99);
        samples_free(&all);
}

/* ---- the run ---- */

/* The floor's configuration: the daemon's, with names and pools of its
 * own, so that its devices and elements never meet the daemon's slots. */
static void setup_floor(struct bench *b)
{
        char *warning = NULL, *error = NULL;
        struct config *c = &b->floor_config;
        int r;

        r = config_init(c, &warning);
        free(warning);
        if (r >= 0)
                r = config_load(c, b->conf, &error);
        if (r < 0)
                die("%s: %s", b->conf, error ? error : strerror(-r));
        strcpy(c->ifname_prefix, "tf");
        inet_pton(AF_INET, "10.214.0.0", &c->ipv4_pool);
        inet_pton(AF_INET6, "fd74:6d00::", &c->ipv6_pool);
        r = config_finish(c, &error);
        if (r < 0)
                die("floor config: %s", error ? error : strerror(-r));
        r = rtnl_open(&b->rtnl);
        if (r >= 0)
                r = nft_open(c, &b->nft);
        if (r < 0)
                die("floor: opening sockets: %s", strerror(-r));
}

/* Busy share of all CPUs over the last interval, from /proc/stat. */
static double cpu_busy(uint64_t *prev_total, uint64_t *prev_idle)
{
        unsigned long long v[8] = {0};
        uint64_t total = 0, idle, dt, di;
        FILE *f = fopen("/proc/stat", "re");

        if (!f)
                return 0;
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7]) != 8)
                v[3] = 1;
        fclose(f);
        for (int i = 0; i < 8; i++)
                total += v[i];
        idle = v[3] + v[4];
        dt = total - *prev_total;
        di = idle - *prev_idle;
        *prev_total = total;
        *prev_idle = idle;
        return dt ? 1.0 - (double)di / (double)dt : 0;
}

/* Waits (up to a minute) until the machine has been quiet for two seconds
 * in a row: the kernel goes on freeing deleted devices and running IPv6
 * address work on new ones for a while after a fill or a mass release, and
 * that would be measured as the daemon's cost (it shows up mostly in the
 * wake-ups between client and daemon, which a busy CPU delays). */
/* --no-wait: measure at once, busy or not (only figures from one run,
 * interleaved, compare then). */
static bool no_wait;

static void wait_for_quiet(const char *before)
{
        uint64_t total = 0, idle = 0, t0 = now_ns();
        unsigned quiet = 0;
        double busy = 0;

        if (no_wait)
                return;
        cpu_busy(&total, &idle);
        while (quiet < 2 && now_ns() - t0 < 60 * 1000000000ull) {
                sleep(1);
                busy = cpu_busy(&total, &idle);
                quiet = busy <= 0.10 ? quiet + 1 : 0;
        }
        if (quiet < 2)
                progress("the machine is still busy (%.0f%% CPU) after 60 s; measuring %s anyway",
                         busy * 100, before);
        else if (now_ns() - t0 > 3000000000ull)
                progress("waited %.0f s for the machine to be quiet before %s", (now_ns() - t0) / 1e9,
                         before);
}

/* ---- as a client sees it: one client, one Acquire after another ---- */

enum seq_kind { SEQ_PLAIN, SEQ_PERSISTENT, SEQ_FLOOR, SEQ_FLOOR_PERSISTENT, SEQ_KINDS };

static const char *const seq_kind_name[SEQ_KINDS] = {"plain", "persistent", "floor", "floor_persistent"};

/* The daemon: Acquires back to back on one connection, every slot kept
 * until the pass ends, as a VMM manager starting sandboxes does. Plain:
 * the client keeps the fds. Persistent: it closes them as soon as it has
 * them (Firecracker's jailer opens the TAP by name later). */
static void seq_daemon(struct bench *b, unsigned n, bool persistent, struct samples *ret)
{
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;
        tl_client *c = connect_client(b);
        tl_slot **kept = calloc(n, sizeof(*kept));

        if (!kept)
                die("out of memory");
        opts.persistent = persistent;
        for (unsigned i = 0; i < n; i++) {
                uint64_t t0 = now_ns();

                if (tl_acquire(c, &opts, &kept[i]) < 0)
                        die("Acquire: %s", tl_client_error_message(c));
                if (persistent)
                        close(tl_slot_take_fd(kept[i], 0));
                samples_add(ret, now_ns() - t0);
        }
        for (unsigned i = 0; i < n; i++) {
                if (tl_release(c, tl_slot_number(kept[i])) < 0)
                        die("Release: %s", tl_client_error_message(c));
                tl_slot_free(kept[i]);
        }
        free(kept);
        tl_client_free(c);
}

/* The floor of the same: floor_acquire() n times from one thread, the
 * devices kept; persistent: TUNSETPERSIST and the fd closed at once, so
 * that the kernel takes the carrier down as it does when the client
 * closes its fds. Torn down off the clock. */
static void seq_floor(struct bench *b, unsigned n, bool persistent, struct samples *ret)
{
        struct worker w = {.b = b};
        int *fds = calloc(n, sizeof(int)), *ifindexes = calloc(n, sizeof(int));
        struct nft_elem *elems = calloc((size_t)n * NFT_SLOT_ELEMS_MAX, sizeof(*elems));
        size_t n_elems = 0;
        int r;

        if (!fds || !ifindexes || !elems)
                die("out of memory");
        r = rtnl_open(&w.rtnl);
        if (r >= 0)
                r = nft_open(&b->floor_config, &w.nft);
        if (r < 0)
                die("floor: opening sockets: %s", strerror(-r));
        for (unsigned i = 0; i < n; i++) {
                uint64_t t0 = now_ns();

                floor_acquire(&w, 0, i);
                fds[i] = w.fds[0];
                ifindexes[i] = w.ifindexes[0];
                if (persistent) {
                        r = tap_set_persist(fds[i], true);
                        if (r < 0)
                                die("floor: TUNSETPERSIST: %s", strerror(-r));
                        close(fds[i]);
                        fds[i] = -1;
                }
                samples_add(ret, now_ns() - t0);
                n_elems += nft_slot_elems(&b->floor_config, i, elems + n_elems);
        }
        r = rtnl_delete_links(b->rtnl, ifindexes, n, FLOOR_GROUP);
        if (r < 0)
                die("floor: rtnl_delete_links: %s", strerror(-r));
        r = nft_apply(b->nft, NULL, 0, elems, n_elems);
        if (r < 0)
                die("floor: nft_apply (delete): %s", strerror(-r));
        close_many(fds, n);
        for (unsigned ph = 0; ph < 3; ph++)
                samples_free(&w.phase[ph]);
        rtnl_close(w.rtnl);
        nft_close(w.nft);
        free(fds);
        free(ifindexes);
        free(elems);
}

/* REPS passes of each kind, the order rotating, each after the machine
 * is quiet again (the previous pass's releases are deletions in the
 * background, and the kernel's carrier-off work runs up to a second
 * late). */
static void measure_sequential(struct bench *b, unsigned live, struct level *lv)
{
        unsigned n = b->quick || live >= 5000 ? 50 : 100;
        struct samples all[SEQ_KINDS] = {{0}};

        progress("live %u: one client, %u Acquires back to back, slots kept: plain, persistent (fds "
                 "closed), and the floor of each (%d passes)",
                 live, n, REPS);
        for (unsigned rep = 0; rep < REPS; rep++)
                for (unsigned i = 0; i < SEQ_KINDS; i++) {
                        enum seq_kind k = (rep + i) % SEQ_KINDS;
                        bool persistent = k == SEQ_PERSISTENT || k == SEQ_FLOOR_PERSISTENT;

                        wait_for_quiet("a sequential pass");
                        if (k == SEQ_PLAIN || k == SEQ_PERSISTENT)
                                seq_daemon(b, n, persistent, &all[k]);
                        else
                                seq_floor(b, n, persistent, &all[k]);
                }
        expect_live(b, live, "after the sequential passes");
        for (unsigned k = 0; k < SEQ_KINDS; k++) {
                lv->seq_p50[k] = quantile_us(&all[k], 0.5);
                lv->seq_p99[k] = quantile_us(&all[k], 0.99);
                samples_free(&all[k]);
        }
        lv->seq_done = true;
        progress("  plain p50 %.0f p99 %.0f, persistent p50 %.0f p99 %.0f; floor p50 %.0f p99 %.0f, "
                 "floor persistent p50 %.0f p99 %.0f us",
                 lv->seq_p50[SEQ_PLAIN], lv->seq_p99[SEQ_PLAIN], lv->seq_p50[SEQ_PERSISTENT],
                 lv->seq_p99[SEQ_PERSISTENT], lv->seq_p50[SEQ_FLOOR], lv->seq_p99[SEQ_FLOOR],
                 lv->seq_p50[SEQ_FLOOR_PERSISTENT], lv->seq_p99[SEQ_FLOOR_PERSISTENT]);
}

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
        if (b->sequential_only)
                return;
        measure_status(b, &lv->status_p50, &lv->status_p99);
        progress("live %u: Status round trip p50 %.0f p99 %.0f us", live, lv->status_p50, lv->status_p99);
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

static void report(const struct bench *b)
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

        printf("\nAs a client sees it: one client, Acquires back to back, every slot kept until the pass\n"
               "ends; persistent: the client closes its fds at once (the VMM opens the TAP by name).\n"
               "The floor does the same in-process (persistent: TUNSETPERSIST, close). p50/p99 in µs.\n");
        printf("%6s | %6s %6s | %6s %6s | %6s %6s | %6s %6s | %5s %5s %6s\n", "live", "plain", "p99",
               "persis", "p99", "floor", "p99", "fl per", "p99", "x50", "xpers", "pe/pl");
        for (size_t l = 0; l < b->n_levels; l++) {
                const struct level *lv = &b->results[l];
                const double *p50 = lv->seq_p50, *p99 = lv->seq_p99;

                if (!lv->seq_done)
                        continue;
                printf("%6u | %6.0f %6.0f | %6.0f %6.0f | %6.0f %6.0f | %6.0f %6.0f | %5.2f %5.2f %6.2f\n",
                       lv->live, p50[SEQ_PLAIN], p99[SEQ_PLAIN], p50[SEQ_PERSISTENT], p99[SEQ_PERSISTENT],
                       p50[SEQ_FLOOR], p99[SEQ_FLOOR], p50[SEQ_FLOOR_PERSISTENT], p99[SEQ_FLOOR_PERSISTENT],
                       p50[SEQ_PLAIN] / p50[SEQ_FLOOR], p50[SEQ_PERSISTENT] / p50[SEQ_FLOOR_PERSISTENT],
                       p50[SEQ_PERSISTENT] / p50[SEQ_PLAIN]);
        }

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
                snprintf(extra, sizeof(extra), "clients=1 live=%u ", lv->live);
                bench_line(b, "status_p50_us", extra, (long)lv->status_p50);
                bench_line(b, "status_p99_us", extra, (long)lv->status_p99);
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

/* SPDX-License-Identifier: MIT */
#pragma once

/* What the benches that drive a private taplinkd through libtaplink share
 * (guest.c, clone.c): starting and stopping the daemon, client
 * connections, threads, and a population of persistent slots acquired and
 * released by several clients. Header-only: each bench is one .c file.
 * Failures print "bench: ..." and exit, killing the daemon first (it must
 * not outlive the bench, or its namespace and devices stay with it). */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "taplink.h"
#include "../tests/throwaway-netns.h"

#define BENCH_MAX_THREADS 64

static pid_t bench_daemon_pid;

static inline _Noreturn void bench_vfail(const char *fmt, va_list ap)
{
        if (bench_daemon_pid > 0)
                kill(bench_daemon_pid, SIGKILL);
        fprintf(stderr, "bench: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        exit(1);
}

static inline _Noreturn __attribute__((format(printf, 1, 2))) void bench_fail(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        bench_vfail(fmt, ap);
}

static inline uint64_t bench_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_sleep_ns(uint64_t ns)
{
        struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static uint64_t bench_start_ns; /* for bench_progress(); set by main */

/* "[  12.3s] ..." on stderr: progress, not results. */
static inline void bench_vprogress(const char *fmt, va_list ap)
{
        fprintf(stderr, "[%7.1fs] ", (bench_now_ns() - bench_start_ns) / 1e9);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
}

static inline __attribute__((format(printf, 1, 2))) void bench_progress(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        bench_vprogress(fmt, ap);
        va_end(ap);
}

/* ---- samples (ns) ---- */

struct bench_samples {
        uint64_t *items;
        size_t n, cap;
};

static inline void bench_samples_add(struct bench_samples *s, uint64_t x)
{
        if (VEC_PUSH(s, x) < 0)
                bench_fail("out of memory");
}

static inline int bench_cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return (x > y) - (x < y);
}

/* Nearest-rank quantile in µs of n samples in ns; sorts them in place. */
static inline double bench_quantile_of(uint64_t *v, size_t n, double q)
{
        size_t i;

        if (n == 0)
                return 0;
        qsort(v, n, sizeof(uint64_t), bench_cmp_u64);
        i = (size_t)(q * (double)n + 0.999999);
        i = i == 0 ? 0 : MIN(i - 1, n - 1);
        return v[i] / 1000.0;
}

static inline double bench_quantile_us(struct bench_samples *s, double q)
{
        return bench_quantile_of(s->items, s->n, q);
}

/* --levels: increasing slot counts up to max_level, at most max of them,
 * into levels; returns how many. */
static inline size_t bench_parse_levels(const char *arg, unsigned *levels, size_t max, unsigned max_level)
{
        char *copy = strdup(arg), *save = NULL;
        size_t n = 0;

        if (!copy)
                bench_fail("out of memory");
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char *end;
                unsigned long v = strtoul(t, &end, 10);

                if (*end || v > max_level || n == max)
                        bench_fail("--levels: a list of at most %zu slot counts up to %u", max, max_level);
                if (n > 0 && v <= levels[n - 1])
                        bench_fail("--levels must increase");
                levels[n++] = (unsigned)v;
        }
        free(copy);
        if (n == 0)
                bench_fail("--levels: none");
        return n;
}

/* ---- the daemon ---- */

/* Root, in a network namespace of its own, and the daemon built. */
static inline void bench_check_runnable(const char *taplinkd, const char *argv0)
{
        if (geteuid() != 0 || !namespace_is_throwaway())
                bench_fail("run it as root in a throwaway network namespace: unshare -n %s", argv0);
        if (access(taplinkd, X_OK) < 0)
                bench_fail("%s: %s (run make)", taplinkd, strerror(errno));
}

struct bench_daemon {
        const char *taplinkd;
        bool keep; /* the temporary directory, config and log */
        char dir[PATH_MAX];
        char conf[PATH_MAX + 32], socket[PATH_MAX + 32], log[PATH_MAX + 32];
        pid_t pid;
};

static inline void bench_write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                bench_fail("%s: %s", path, strerror(errno));
}

static inline tl_client *bench_connect(const struct bench_daemon *d)
{
        tl_client *c;
        int r = tl_client_connect(d->socket, &c);

        if (r < 0)
                bench_fail("connect %s: %s", d->socket, strerror(-r));
        return c;
}

static inline void bench_exec_daemon(const struct bench_daemon *d)
{
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                _exit(127);
        /* A bench that crashes takes its daemon along (bench_fail() kills
         * it, a signal does not), or the daemon would keep the namespace
         * and everything in it. Forked from the main thread. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
                _exit(127);
        unsetenv("NOTIFY_SOCKET");
        execl(d->taplinkd, "taplinkd", "--config", d->conf, "--socket", d->socket, (char *)NULL);
        _exit(127);
}

/* Writes conf_text as the config in a new /tmp/taplinkd-bench-<name>.XXXXXX
 * and starts the daemon there. No NOTIFY_SOCKET: it does not notify, and
 * we wait until Status answers (it does once reconcile is done and the
 * socket is served). Returns 0, or -ECHILD when the daemon exited during
 * start-up (a config it refused: d->log says why, and is kept). */
static inline int bench_daemon_start(struct bench_daemon *d, const char *name, const char *conf_text)
{
        uint64_t t0 = bench_now_ns();
        pid_t pid;

        snprintf(d->dir, sizeof(d->dir), "/tmp/taplinkd-bench-%s.XXXXXX", name);
        if (!mkdtemp(d->dir))
                bench_fail("mkdtemp: %s", strerror(errno));
        snprintf(d->conf, sizeof(d->conf), "%s/taplinkd.conf", d->dir);
        snprintf(d->socket, sizeof(d->socket), "%s/io.taplinkd", d->dir);
        snprintf(d->log, sizeof(d->log), "%s/taplinkd.log", d->dir);
        bench_write_file(d->conf, conf_text);

        pid = fork();
        if (pid < 0)
                bench_fail("fork: %s", strerror(errno));
        if (pid == 0)
                bench_exec_daemon(d);
        d->pid = bench_daemon_pid = pid;
        for (;;) {
                tl_client *c;
                tl_status st;
                int status;

                if (tl_client_connect(d->socket, &c) >= 0) {
                        int r = tl_status_get(c, &st);

                        tl_client_free(c);
                        if (r >= 0)
                                return 0;
                }
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        d->pid = bench_daemon_pid = 0;
                        return -ECHILD;
                }
                if (bench_now_ns() - t0 > 30 * 1000000000ull)
                        bench_fail("taplinkd not answering after 30 s (log %s)", d->log);
                bench_sleep_ns(20 * 1000000);
        }
}

/* SIGTERM, and the temporary files unless kept. */
static inline void bench_daemon_stop(struct bench_daemon *d)
{
        if (d->pid > 0) {
                kill(d->pid, SIGTERM);
                waitpid(d->pid, NULL, 0);
        }
        d->pid = bench_daemon_pid = 0;
        if (!d->keep) {
                unlink(d->conf);
                unlink(d->socket);
                unlink(d->log);
                rmdir(d->dir);
        }
}

/* ---- threads, and the persistent population ---- */

static inline void bench_run_threads(void *(*fn)(void *), void *ctx, unsigned n)
{
        pthread_t threads[BENCH_MAX_THREADS];

        if (n > BENCH_MAX_THREADS)
                bench_fail("%u threads: at most %d", n, BENCH_MAX_THREADS);
        for (unsigned i = 0; i < n; i++)
                if (pthread_create(&threads[i], NULL, fn, ctx) != 0)
                        bench_fail("pthread_create failed");
        for (unsigned i = 0; i < n; i++)
                pthread_join(threads[i], NULL);
}

/* Acquire's "clone: true". One per thread: the requests built from a
 * tl_acquire_extra share its JSON values, whose reference counts are not
 * atomic (two threads acquiring with one extra crashed a burst). */
static inline tl_acquire_extra *bench_clone_extra(void)
{
        tl_acquire_extra *x;

        if (tl_acquire_extra_new(&x) < 0 || tl_acquire_extra_set_clone(x, true) < 0)
                bench_fail("out of memory");
        return x;
}

/* Live slots acquired persistent, fds closed at once: the bench holds no
 * fd for them. */
struct bench_population {
        const struct bench_daemon *d;
        bool clone;          /* clone slots, else plain ones */
        VEC(unsigned) slots; /* by number; under lock */
        unsigned left;       /* to acquire; under lock */
        size_t next;         /* to release; under lock */
        pthread_mutex_t lock;
};

static inline void *bench_fill_thread(void *p)
{
        struct bench_population *pop = p;
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;
        tl_client *c = bench_connect(pop->d);
        tl_acquire_extra *extra = pop->clone ? bench_clone_extra() : NULL;

        opts.persistent = true;
        for (;;) {
                tl_slot *s;

                pthread_mutex_lock(&pop->lock);
                if (pop->left == 0) {
                        pthread_mutex_unlock(&pop->lock);
                        break;
                }
                pop->left--;
                pthread_mutex_unlock(&pop->lock);
                if (tl_acquire_full(c, &opts, extra, &s) < 0)
                        bench_fail("filling: Acquire: %s", tl_client_error_message(c));
                pthread_mutex_lock(&pop->lock);
                if (VEC_PUSH(&pop->slots, tl_slot_number(s)) < 0)
                        bench_fail("out of memory");
                pthread_mutex_unlock(&pop->lock);
                tl_slot_free(s); /* persistent: the device stays */
        }
        tl_acquire_extra_free(extra);
        tl_client_free(c);
        return NULL;
}

/* Fills up to live slots from clients clients; the wall time in seconds. */
static inline double bench_fill_to(struct bench_population *pop, unsigned live, unsigned clients)
{
        uint64_t t0 = bench_now_ns();

        pop->left = live > pop->slots.n ? live - (unsigned)pop->slots.n : 0;
        bench_run_threads(bench_fill_thread, pop, clients);
        return (bench_now_ns() - t0) / 1e9;
}

static inline void *bench_release_thread(void *p)
{
        struct bench_population *pop = p;
        tl_client *c = bench_connect(pop->d);

        for (;;) {
                unsigned slot;

                pthread_mutex_lock(&pop->lock);
                if (pop->next >= pop->slots.n) {
                        pthread_mutex_unlock(&pop->lock);
                        break;
                }
                slot = pop->slots.items[pop->next++];
                pthread_mutex_unlock(&pop->lock);
                if (tl_release(c, slot) < 0)
                        bench_fail("Release %u: %s", slot, tl_client_error_message(c));
        }
        tl_client_free(c);
        return NULL;
}

/* Released one by one from clients clients, so that the namespace goes
 * away empty: the kernel would otherwise tear thousands of devices down in
 * one go, holding the rtnl mutex that every namespace on the host shares.
 * The wall time of the Releases in seconds (the kernel's work goes on
 * after the replies). */
static inline double bench_release_all(struct bench_population *pop, unsigned clients)
{
        uint64_t t0 = bench_now_ns();

        pop->next = 0;
        bench_run_threads(bench_release_thread, pop, clients);
        pop->slots.n = 0;
        return (bench_now_ns() - t0) / 1e9;
}

/* ---- a quiet machine ---- */

#define BENCH_QUIET 0.10 /* busy share of all CPUs that counts as quiet */

/* Busy share of all CPUs over the last interval, from /proc/stat. */
static inline double bench_cpu_busy(uint64_t *prev_total, uint64_t *prev_idle)
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

/* After a fill the kernel goes on working on the new devices for a while;
 * wait (up to timeout_s) for two quiet seconds in a row. Whether it got
 * quiet; *ret_busy the last second's busy share. */
static inline bool bench_wait_for_quiet(unsigned timeout_s, double *ret_busy)
{
        uint64_t total = 0, idle = 0, t0 = bench_now_ns();
        unsigned quiet = 0;
        double busy = 0;

        bench_cpu_busy(&total, &idle);
        while (quiet < 2 && bench_now_ns() - t0 < timeout_s * 1000000000ull) {
                sleep(1);
                busy = bench_cpu_busy(&total, &idle);
                quiet = busy <= BENCH_QUIET ? quiet + 1 : 0;
        }
        *ret_busy = busy;
        return quiet >= 2;
}

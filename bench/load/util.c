/* SPDX-License-Identifier: MIT */
/* build/bench/load: dying, the clock, progress, samples, and waiting for a
 * quiet machine (see bench/load.c). */
#include "load.h"
#include "../bench-daemon.h"

/* The daemon we started: it must not outlive us, or the namespace (and
 * every device in it) would stay with it. bench-daemon.h's state is per
 * file, and load is several: these hand it over. */
pid_t daemon_pid;

_Noreturn void die(const char *fmt, ...)
{
        va_list ap;

        bench_daemon_pid = daemon_pid;
        va_start(ap, fmt);
        bench_vfail(fmt, ap);
}

uint64_t now_ns(void)
{
        return bench_now_ns();
}

uint64_t start_ns;

void progress(const char *fmt, ...)
{
        va_list ap;

        bench_start_ns = start_ns;
        va_start(ap, fmt);
        bench_vprogress(fmt, ap);
        va_end(ap);
}

/* ---- samples (ns) ---- */

void samples_add(struct samples *s, uint64_t x)
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

void samples_merge(struct samples *to, const struct samples *from)
{
        for (size_t i = 0; i < from->n; i++)
                samples_add(to, from->v[i]);
}

void samples_free(struct samples *s)
{
        free(s->v);
        *s = (struct samples){0};
}

/* Nearest-rank quantile in µs; sorts in place. */
double quantile_us(struct samples *s, double q)
{
        return bench_quantile_of(s->v, s->n, q);
}

double mean_us(const struct samples *s)
{
        double sum = 0;

        for (size_t i = 0; i < s->n; i++)
                sum += (double)s->v[i];
        return s->n ? sum / (double)s->n / 1000.0 : 0;
}

int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* ---- threads ---- */

/* Runs fn on n threads over the array of per-thread contexts. */
void run_threads(void *(*fn)(void *), void *ctx, size_t size, unsigned n)
{
        pthread_t threads[MAX_CLIENTS];

        for (unsigned i = 0; i < n; i++)
                if (pthread_create(&threads[i], NULL, fn, (char *)ctx + i * size) != 0)
                        die("pthread_create failed");
        for (unsigned i = 0; i < n; i++)
                pthread_join(threads[i], NULL);
}

/* Waits (up to a minute) until the machine has been quiet for two seconds
 * in a row: the kernel goes on freeing deleted devices and running IPv6
 * address work on new ones for a while after a fill or a mass release, and
 * that would be measured as the daemon's cost (it shows up mostly in the
 * wake-ups between client and daemon, which a busy CPU delays). */
/* --no-wait: measure at once, busy or not (only figures from one run,
 * interleaved, compare then). */
bool no_wait;

void wait_for_quiet(const char *before)
{
        uint64_t t0 = now_ns();
        double busy = 0;

        if (no_wait)
                return;
        if (!bench_wait_for_quiet(60, &busy))
                progress("the machine is still busy (%.0f%% CPU) after 60 s; measuring %s anyway",
                         busy * 100, before);
        else if (now_ns() - t0 > 3000000000ull)
                progress("waited %.0f s for the machine to be quiet before %s", (now_ns() - t0) / 1e9,
                         before);
}

static uint64_t clock_ns(clockid_t clk)
{
        struct timespec ts;

        if (clock_gettime(clk, &ts) < 0)
                die("clock_gettime: %s", strerror(errno));
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cpu_times_now(const struct bench *b, struct cpu_times *ret)
{
        clockid_t daemon_clock;
        int e = clock_getcpuclockid(b->pid, &daemon_clock);

        if (e != 0)
                die("clock_getcpuclockid(%ld): %s", (long)b->pid, strerror(e));
        ret->self = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        ret->daemon = clock_ns(daemon_clock);
}

/* Waits (up to 0.3 s) until the daemon has used less than 2 % of a CPU
 * over 5 ms: the deletions of the slots released before are done. */
void wait_daemon_idle(const struct bench *b)
{
        struct cpu_times before, after;
        uint64_t t0 = now_ns();

        cpu_times_now(b, &before);
        do {
                usleep(5000);
                cpu_times_now(b, &after);
                if (after.daemon - before.daemon < 100000)
                        return;
                before = after;
        } while (now_ns() - t0 < 300000000ull);
}

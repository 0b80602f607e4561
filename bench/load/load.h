/* SPDX-License-Identifier: MIT */
#pragma once

/* build/bench/load's parts (bench/load.c says what it measures): its
 * state, the results, and what each part offers the others. */
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

#define MAX_CLIENTS 32
#define MAX_LEVELS 8
#define MAX_PER_ROUND 8 /* acquires per client per round */
#define REPS 3          /* repetitions, each a daemon pass and a floor pass */
#define FILL_CLIENTS 8
#define RELEASE_CLIENTS 32
#define CHURN_CLIENTS 8
#define TEARDOWN_LEVEL 1000
#define FLOOR_GROUP 0x74666c72u /* "tflr": a link group for the floor's deletions */
#define PRESSURE_CLIENTS 8      /* acquiring, and as many releasing */
#define READY_TIMEOUT_S 900     /* reconcile of 10,000 IPv6 slots is not instant */

#define N_CLIENT_COUNTS 3
extern const unsigned client_counts[N_CLIENT_COUNTS];

struct samples {
        uint64_t *v;
        size_t n, cap;
};

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
        /* CPU per acquire, µs: the daemon's and its clients' (from the
         * first acquire to the last), the floor's threads' */
        double cpu_daemon, cpu_clients, cpu_floor;
};

struct level {
        unsigned live;
        double fill_s;
        long rss_kib;        /* after filling, same daemon */
        long rss_end_kib;    /* after this level's measurements */
        long rss_fresh_kib;  /* a daemon started with this many live */
        double reconcile_ms; /* kill -9, restart, READY=1 */
        bool seq_done;
        double seq_p50[5], seq_p99[5]; /* by enum seq_kind (below) */
        struct latency lat[ELEMENTSOF(client_counts)];
        bool status_done;
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

/* CPU time (ns) used so far by this program (the clients, or the floor's
 * threads) and by the daemon (every thread). */
struct cpu_times {
        uint64_t self, daemon;
};

struct worker {
        struct bench *b;
        unsigned k;
        pthread_barrier_t *barrier;
        pthread_barrier_t *done_barrier; /* NULL: barrier */
        atomic_bool *done;               /* set once every acquire is in */
        struct cpu_times *cpu_done;      /* set: taken once every acquire is in */
        struct samples lat;
        uint64_t begin, end; /* this round's acquires */

        /* daemon */
        tl_client *client;
        tl_slot *slots[MAX_PER_ROUND];

        /* floor */
        struct rtnl *rtnl;
        struct mnl_socket *naive_nl; /* set: the naive sequence (naive_configure()) */
        uint32_t naive_seq;
        struct nft *nft;
        unsigned first_slot;
        struct samples phase[3]; /* tap_create, rtnl_configure_link, nft_apply */
        int fds[MAX_PER_ROUND];
        int ifindexes[MAX_PER_ROUND];
};

enum seq_kind { SEQ_PLAIN, SEQ_PERSISTENT, SEQ_FLOOR, SEQ_FLOOR_PERSISTENT, SEQ_NAIVE, SEQ_KINDS };

/* util.c: "bench: ..." to stderr, the daemon killed, exit 1; the monotonic
 * clock; progress lines on stderr; samples in ns and their quantiles in µs;
 * n threads over an array of contexts; waiting until the CPUs are idle. */
_Noreturn void die(const char *fmt, ...);
uint64_t now_ns(void);
void progress(const char *fmt, ...);
void samples_add(struct samples *s, uint64_t x);
void samples_merge(struct samples *to, const struct samples *from);
void samples_free(struct samples *s);
double quantile_us(struct samples *s, double q);
double mean_us(const struct samples *s);
int cmp_double(const void *a, const void *b);
void run_threads(void *(*fn)(void *), void *ctx, size_t size, unsigned n);
void wait_for_quiet(const char *before);
void cpu_times_now(const struct bench *b, struct cpu_times *ret);
void wait_daemon_idle(const struct bench *b);

/* daemon.c: the private daemon's files, start (returns the time to
 * READY=1, ns), stop, VmRSS; clients; the persistent population the levels
 * are made of (fill_to() and release_population() return seconds and ms). */
void setup_daemon_files(struct bench *b);
void remove_daemon_files(const struct bench *b);
uint64_t daemon_start(struct bench *b);
void daemon_stop(struct bench *b, int sig);
long daemon_rss_kib(const struct bench *b);
tl_client *connect_client(const struct bench *b);
void expect_live(const struct bench *b, unsigned live, const char *when);
double fill_to(struct bench *b, unsigned live);
double release_population(struct bench *b);

/* floor.c: the daemon's kernel work in-process, in rounds (with the
 * daemon's) and one after another (seq_floor()), and its configuration. */
void *floor_round_thread(void *p);
void floor_cleanup(struct bench *b, struct worker *w, unsigned n_workers);
void seq_floor(struct bench *b, unsigned n, bool persistent, bool naive, struct samples *ret);
void setup_floor(struct bench *b);

/* measure.c: one level's measurements, each filling its part of *lv. */
void measure_latency(struct bench *b, unsigned live, size_t ci, struct latency *ret);
void measure_pressure(struct bench *b, unsigned live, struct level *lv);
void measure_status(struct bench *b, double *ret_p50, double *ret_p99);
void measure_churn(struct bench *b, unsigned live, struct level *ret);
void measure_sequential(struct bench *b, unsigned live, struct level *lv);

/* report.c: the tables, then one BENCH line per figure, on stdout. */
void report(const struct bench *b);

extern pid_t daemon_pid; /* killed by die() */
extern uint64_t start_ns;
extern bool no_wait; /* --no-wait: wait_for_quiet() returns at once */

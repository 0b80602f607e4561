/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include "macro.h"
#include "reaper.h"
#include "rtnl.h"

/* Deleting a device costs two things: time under the kernel's rtnl mutex,
 * which grows with the group and with the number of devices (IPv6 route
 * walks: at 1,000 live a group of 1 holds it 3-9 ms, 4: ~9 ms, 8: 25-37 ms,
 * 32: 70-140 ms) and which every Acquire then waits for; and ~15-20 ms
 * after the mutex is released (rcu_barrier, reference waits), which nobody
 * else waits for but which makes small groups slow: a call costs ~20 ms
 * whatever its size, so the release rate is about the group size over that.
 *
 * So: two threads, each deleting up to REAPER_BATCH_MAX links in one group
 * (the second overlaps its unregister with the first's wait); but while
 * Acquires are being made (reaper_note_acquire() within the last
 * REAPER_BUSY_LINGER_NS, which covers the gap between one client's reply
 * and its next request), one deletion at a time, of REAPER_BUSY_BATCH links
 * at most, so that an Acquire waits behind ~10 ms of deletion at most.
 *
 * Measured with bench/load at 1,000 live (two runs each): 8 clients
 * acquiring while 8 others release, acquire p99 against the same acquires
 * alone; 8 clients acquire + release cycles; releasing 1,000 slots from 32
 * clients:
 *   one thread, groups of up to 64 always:  3.1x 1.8x  225/s  1.9-2.1 s
 *   this, busy groups of 2:                  2.2x 1.5x   75/s  1.4-1.9 s
 *   this, busy groups of 4:                  1.3x 2.0x  140/s  1.2 s
 * Also measured and dropped: 4 threads with groups of 2 at all times
 * (more deletions under the mutex at once: 6-10x), and pausing after each
 * deletion while busy (no better, slower).
 *
 * Each thread moves its links into a group of its own, so that one thread's
 * group deletion never takes another's links. */
#define REAPER_THREADS 2
#define REAPER_BATCH_MAX 64
#define REAPER_BUSY_BATCH 4
#define REAPER_BUSY_LINGER_NS (50u * 1000u * 1000u)

/* A crash between moving links into a thread's group and deleting the group
 * leaves devices that were being released anyway; the next daemon deletes
 * them before it adopts anything (reaper_delete_leftovers()). */

int reaper_delete_leftovers(struct rtnl *rtnl)
{
        for (unsigned i = 0; i < REAPER_THREADS; i++) {
                int e = rtnl_delete_group(rtnl, REAPER_LINK_GROUP + i);
                if (e < 0)
                        return e;
        }
        return 0;
}

struct link {
        int ifindex;
        unsigned cookie;
};

struct result {
        struct link link;
        int error;
};

/* A FIFO: items [head, n). */
struct link_queue {
        struct link *v;
        size_t head, n, cap;
};

struct fd_queue {
        int *v;
        size_t head, n, cap;
};

struct job {
        reaper_job_fn fn;
        void *arg;
};

struct job_queue {
        struct job *v;
        size_t head, n, cap;
};

struct reaper;

struct worker {
        struct reaper *reaper;
        pthread_t thread;
        bool started;
        struct rtnl *rtnl; /* this thread's only */
        uint32_t group;
};

struct reaper {
        sd_event_source *source;
        int event_fd;
        reaper_done_fn done;
        void *userdata;

        struct worker workers[REAPER_THREADS];

        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stopping;
        uint64_t busy_until; /* CLOCK_MONOTONIC ns: Acquires are being made */
        bool busy_running;   /* the one deletion allowed while busy */
        struct link_queue links;
        struct fd_queue fds;
        struct job_queue jobs;
        struct result *results;
        size_t n_results, cap_results;
        unsigned long n_links_deleted, n_batches;
};

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
        size_t c;
        void *p;

        if (need <= *cap)
                return 0;
        c = MAX(*cap ? *cap * 2 : 64, need);
        p = realloc(*v, c * size);
        if (!p)
                return -ENOMEM;
        *v = p;
        *cap = c;
        return 0;
}

/* Makes room for one more item at the end of a FIFO holding [*head, *n) of
 * items of size bytes. Taken items make room before the array grows, so
 * that a queue that never quite empties does not grow for ever. */
static int fifo_make_room(void **v, size_t *head, size_t *n, size_t *cap, size_t size)
{
        if (*head == *n)
                *head = *n = 0;
        if (*n == *cap && *head > 0) {
                memmove(*v, (char *)*v + *head * size, (*n - *head) * size);
                *n -= *head;
                *head = 0;
        }
        return grow(v, cap, *n + 1, size);
}

/* Appends item to a FIFO of the queue types above: 0, or -ENOMEM. */
#define FIFO_PUSH(q, item)                                                                     \
        (fifo_make_room((void **)&(q)->v, &(q)->head, &(q)->n, &(q)->cap, sizeof(*(q)->v)) < 0 \
             ? -ENOMEM                                                                         \
             : ((q)->v[(q)->n++] = (item), 0))

static void push_results(struct reaper *r, const struct link *links, size_t n, int error)
{
        pthread_mutex_lock(&r->lock);
        if (grow((void **)&r->results, &r->cap_results, r->n_results + n, sizeof(*r->results)) < 0) {
                /* Losing a completion only delays a Release reply until
                 * RTM_DELLINK arrives, which answers it too. */
                pthread_mutex_unlock(&r->lock);
                return;
        }
        for (size_t i = 0; i < n; i++)
                r->results[r->n_results++] = (struct result){links[i], error};
        r->n_links_deleted += error == 0 ? n : 0;
        r->n_batches++;
        pthread_mutex_unlock(&r->lock);

        uint64_t one = 1;
        (void)!write(r->event_fd, &one, sizeof(one));
}

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool queue_empty(const struct reaper *r)
{
        return r->links.head == r->links.n && r->fds.head == r->fds.n && r->jobs.head == r->jobs.n;
}

static void timedwait_until(struct reaper *r, uint64_t deadline, uint64_t now)
{
        struct timespec until;
        uint64_t ns;

        clock_gettime(CLOCK_REALTIME, &until);
        ns = (uint64_t)until.tv_nsec + (deadline - now);
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&r->wake, &r->lock, &until);
}

/* Waits (r->lock held) until this thread may take work: something is
 * queued and, while busy, no other deletion runs. Returns the most it may
 * take, 0 when stopping with nothing left. */
static size_t wait_for_turn(struct reaper *r, bool *ret_busy)
{
        for (;;) {
                uint64_t now;

                if (queue_empty(r)) {
                        if (r->stopping)
                                return 0;
                        pthread_cond_wait(&r->wake, &r->lock);
                        continue;
                }
                now = now_ns();
                if (now >= r->busy_until || r->stopping) {
                        *ret_busy = false;
                        return REAPER_BATCH_MAX;
                }
                if (!r->busy_running) {
                        r->busy_running = true;
                        *ret_busy = true;
                        return REAPER_BUSY_BATCH;
                }
                /* Until the other deletion ends, or the Acquires stop. */
                timedwait_until(r, r->busy_until, now);
        }
}

static void *worker_main(void *p)
{
        struct worker *w = p;
        struct reaper *r = w->reaper;

        for (;;) {
                struct link links[REAPER_BATCH_MAX];
                int ifindexes[REAPER_BATCH_MAX], fds[REAPER_BATCH_MAX];
                size_t n_links = 0, n_fds = 0, max;
                struct job job = {0};
                bool busy = false;

                pthread_mutex_lock(&r->lock);
                max = wait_for_turn(r, &busy);
                if (max == 0) {
                        pthread_mutex_unlock(&r->lock);
                        break;
                }
                /* Oldest first; the other thread takes the rest meanwhile. */
                while (n_links < max && r->links.head < r->links.n)
                        links[n_links++] = r->links.v[r->links.head++];
                while (n_links == 0 && n_fds < max && r->fds.head < r->fds.n)
                        fds[n_fds++] = r->fds.v[r->fds.head++];
                if (n_links == 0 && n_fds == 0 && r->jobs.head < r->jobs.n)
                        job = r->jobs.v[r->jobs.head++];
                pthread_mutex_unlock(&r->lock);

                if (job.fn)
                        job.fn(w->rtnl, job.arg);
                for (size_t i = 0; i < n_fds; i++)
                        safe_close(fds[i]);
                if (n_links > 0) {
                        for (size_t i = 0; i < n_links; i++)
                                ifindexes[i] = links[i].ifindex;
                        int e = rtnl_delete_links(w->rtnl, ifindexes, n_links, w->group);
                        push_results(r, links, n_links, e);
                }
                if (busy) {
                        pthread_mutex_lock(&r->lock);
                        r->busy_running = false;
                        pthread_cond_broadcast(&r->wake);
                        pthread_mutex_unlock(&r->lock);
                }
        }
        return NULL;
}

static int on_event_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct reaper *r = userdata;
        uint64_t count;
        struct result *results;
        size_t n;

        (void)!read(fd, &count, sizeof(count));

        pthread_mutex_lock(&r->lock);
        results = r->results;
        n = r->n_results;
        r->results = NULL;
        r->n_results = r->cap_results = 0;
        pthread_mutex_unlock(&r->lock);

        for (size_t i = 0; i < n; i++)
                r->done(results[i].link.ifindex, results[i].link.cookie, results[i].error, r->userdata);
        free(results);
        return 0;
}

int reaper_new(sd_event *event, reaper_done_fn done, void *userdata, struct reaper **ret)
{
        struct reaper *r = calloc(1, sizeof(*r));
        int e;

        if (!r)
                return -ENOMEM;
        r->done = done;
        r->userdata = userdata;
        r->event_fd = -1;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->wake, NULL);

        r->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->event_fd < 0) {
                e = negative_errno();
                goto fail;
        }
        e = sd_event_add_io(event, &r->source, r->event_fd, EPOLLIN, on_event_fd, r);
        if (e < 0)
                goto fail;
        for (unsigned i = 0; i < REAPER_THREADS; i++) {
                struct worker *w = &r->workers[i];

                w->reaper = r;
                w->group = REAPER_LINK_GROUP + i;
                e = rtnl_open(&w->rtnl);
                if (e < 0)
                        goto fail;
                e = -pthread_create(&w->thread, NULL, worker_main, w);
                if (e < 0)
                        goto fail;
                w->started = true;
        }
        *ret = r;
        return 0;
fail:
        reaper_free(r);
        return e;
}

int reaper_run(struct reaper *r, reaper_job_fn fn, void *arg)
{
        int e;

        pthread_mutex_lock(&r->lock);
        e = FIFO_PUSH(&r->jobs, ((struct job){fn, arg}));
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        return e;
}

int reaper_delete_link(struct reaper *r, int ifindex, unsigned cookie)
{
        int e;

        pthread_mutex_lock(&r->lock);
        e = FIFO_PUSH(&r->links, ((struct link){ifindex, cookie}));
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        return e;
}

void reaper_close_fds(struct reaper *r, int *fds, size_t n)
{
        bool queued = false;

        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < n; i++) {
                if (fds[i] < 0)
                        continue;
                if (FIFO_PUSH(&r->fds, fds[i]) < 0)
                        safe_close(fds[i]);
                else
                        queued = true;
                fds[i] = -1;
        }
        /* Every successful Acquire comes here with its fds already taken
         * by the reply: waking a thread for nothing would cost each
         * Acquire a context switch on the other CPU. */
        if (queued)
                pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
}

void reaper_note_acquire(struct reaper *r)
{
        uint64_t until = now_ns() + REAPER_BUSY_LINGER_NS;

        pthread_mutex_lock(&r->lock);
        r->busy_until = until;
        pthread_mutex_unlock(&r->lock);
}

void reaper_stats(struct reaper *r, unsigned long *ret_links, unsigned long *ret_batches)
{
        pthread_mutex_lock(&r->lock);
        *ret_links = r->n_links_deleted;
        *ret_batches = r->n_batches;
        pthread_mutex_unlock(&r->lock);
}

void reaper_free(struct reaper *r)
{
        if (!r)
                return;
        pthread_mutex_lock(&r->lock);
        r->stopping = true;
        pthread_cond_broadcast(&r->wake);
        pthread_mutex_unlock(&r->lock);
        for (unsigned i = 0; i < REAPER_THREADS; i++) {
                if (r->workers[i].started)
                        pthread_join(r->workers[i].thread, NULL);
                rtnl_close(r->workers[i].rtnl);
        }
        sd_event_source_disable_unref(r->source);
        safe_close(r->event_fd);
        for (size_t i = r->fds.head; i < r->fds.n; i++)
                safe_close(r->fds.v[i]);
        free(r->links.v);
        free(r->fds.v);
        free(r->jobs.v);
        free(r->results);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->wake);
        free(r);
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clone-build.h"
#include "clone-pool.h"
#include "log.h"
#include "macro.h"

/* A failing build is retried after 1 s, then 2, 4 ... 60 s (or at the next
 * take): a pool that cannot be filled (no CAP_SYS_ADMIN any more, no
 * memory) costs a line in the log, not a spinning thread. */
#define RETRY_FIRST_SEC 1
#define RETRY_MAX_SEC 60
/* The worker starts a namespace only this long after the last take: making
 * one holds the rtnl lock for much of its time, and the Acquire that took
 * one (rename, addresses, the host end's configuration) or the next one of
 * a burst would wait for it. Measured in docs/DESIGN.md, "The pool". */
#define SETTLE_NSEC (20 * 1000 * 1000L)

struct clone_pool {
        const struct config *config;
        int home_fd;
        struct rtnl *rtnl; /* the worker's, in home_fd's namespace: nsids */
        pthread_t thread;
        bool started;
        unsigned next_name; /* the worker's: the next <prefix>p<k> to try */

        /* Under lock: */
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stop;
        unsigned failures; /* in a row */
        struct timespec last_take; /* CLOCK_MONOTONIC */
        struct clone_ns *ready;
        size_t n_ready, size;
};

void clone_pool_defaults(const struct config *c, struct tap_options *ret_opts, unsigned *ret_mtu)
{
        /* Acquire's defaults (params.c); the owner is set at the take. */
        *ret_opts = (struct tap_options){.queues = 1, .vnet_header = true, .owner = geteuid()};
        *ret_mtu = c->mtu;
}

/* The namespace's id in ours, one the kernel picks (an nsid naming the slot
 * is for the namespaces made for one: docs/DESIGN.md, "Clone slots"). */
static int give_nsid(struct clone_pool *p, struct clone_ns *ns)
{
        struct clone_msg m = clone_msg_new(p->rtnl);
        int e;

        e = clone_msg_send(p->rtnl, &m, clone_build_newnsid(m.buf, sizeof(m.buf), m.seq, ns->nsfd, -1));
        if (e >= 0)
                e = rtnl_get_nsid(p->rtnl, ns->nsfd, &ns->nsid);
        if (e >= 0 && ns->nsid < 0)
                e = -ENOENT;
        return e;
}

/* One namespace, under the next free pool name: a name still held (by a
 * namespace of a daemon killed before us that the kernel has not finished
 * destroying, or by anyone) is skipped. */
static int build_one(struct clone_pool *p, struct clone_ns *ret, const char **ret_op)
{
        struct tap_options opts;
        char name[IFNAMSIZ];
        unsigned mtu;
        int e = -EBUSY;

        clone_pool_defaults(p->config, &opts, &mtu);
        for (unsigned tries = 0; e == -EBUSY && tries < 64; tries++) {
                *ret_op = "pool name";
                e = clone_pool_ifname(p->config->ifname_prefix, p->next_name++, name);
                if (e == -ENAMETOOLONG && p->next_name > 1) {
                        p->next_name = 0;
                        e = -EBUSY;
                        continue;
                }
                if (e >= 0)
                        e = clone_ns_build(p->config, p->home_fd, name, &opts, mtu, ret, ret_op);
        }
        if (e < 0)
                return e;
        *ret_op = "RTM_NEWNSID";
        e = give_nsid(p, ret);
        if (e < 0)
                clone_ns_done(ret);
        return e;
}

static struct timespec add_nsec(struct timespec t, long nsec)
{
        t.tv_nsec += nsec;
        t.tv_sec += t.tv_nsec / 1000000000L;
        t.tv_nsec %= 1000000000L;
        return t;
}

static bool before(struct timespec a, struct timespec b)
{
        return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* Whether the last take is recent; if so waits until it is not (or a
 * wake-up) and the caller looks again. */
static bool settling(struct clone_pool *p)
{
        struct timespec now, until = add_nsec(p->last_take, SETTLE_NSEC);

        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!before(now, until))
                return false;
        (void)pthread_cond_timedwait(&p->wake, &p->lock, &until);
        return true;
}

static void wait_retry(struct clone_pool *p)
{
        unsigned shift = p->failures - 1 < 6 ? p->failures - 1 : 6;
        unsigned sec = RETRY_FIRST_SEC << shift;
        struct timespec at;

        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_sec += sec < RETRY_MAX_SEC ? sec : RETRY_MAX_SEC;
        (void)pthread_cond_timedwait(&p->wake, &p->lock, &at);
}

/* The worker's loop: while the pool is short, build one without the lock
 * and add it under it. The event loop never waits on the worker: it only
 * takes the lock to pop an entry. Logging is safe here (src/log.c). */
static void *worker(void *userdata)
{
        struct clone_pool *p = userdata;

        pthread_mutex_lock(&p->lock);
        while (!p->stop) {
                struct clone_ns ns;
                const char *op = NULL;
                int e;

                if (p->n_ready >= p->size) {
                        pthread_cond_wait(&p->wake, &p->lock);
                        continue;
                }
                if (settling(p))
                        continue;
                pthread_mutex_unlock(&p->lock);
                e = build_one(p, &ns, &op);
                pthread_mutex_lock(&p->lock);
                if (e >= 0) {
                        if (p->failures > 0)
                                log_info("clone pool: making namespaces works again");
                        p->failures = 0;
                        p->ready[p->n_ready++] = ns;
                        continue;
                }
                if (p->failures++ == 0)
                        log_warning_errno(e, "clone pool: making a namespace failed: %s: %m; retrying", op);
                if (!p->stop)
                        wait_retry(p);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int clone_pool_new(const struct config *c, int home_fd, struct clone_pool **ret)
{
        _cleanup_free_ struct clone_pool *p = calloc(1, sizeof(*p));
        pthread_condattr_t attr;
        int e;

        if (!p)
                return -ENOMEM;
        p->config = c;
        p->home_fd = home_fd;
        p->size = c->clone_pool;
        p->ready = calloc(p->size ? p->size : 1, sizeof(*p->ready));
        if (!p->ready)
                return -ENOMEM;
        e = rtnl_open(&p->rtnl);
        if (e < 0) {
                free(p->ready);
                return e;
        }
        pthread_mutex_init(&p->lock, NULL);
        /* Retries wait on the monotonic clock. */
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&p->wake, &attr);
        pthread_condattr_destroy(&attr);
        *ret = TAKE_PTR(p);
        return 0;
}

int clone_pool_start(struct clone_pool *p)
{
        sigset_t all, old;
        int e;

        /* Signals are the event loop's (signalfd): the worker takes none. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        e = pthread_create(&p->thread, NULL, worker, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (e != 0)
                return -e;
        p->started = true;
        return 0;
}

int clone_pool_take(struct clone_pool *p, struct clone_ns *ret)
{
        int e = -EAGAIN;

        pthread_mutex_lock(&p->lock);
        clock_gettime(CLOCK_MONOTONIC, &p->last_take);
        if (p->n_ready > 0) {
                /* The oldest first. */
                *ret = p->ready[0];
                memmove(p->ready, p->ready + 1, --p->n_ready * sizeof(*p->ready));
                e = 0;
        }
        /* A refill, or a retry now rather than at the end of a backoff. */
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        return e;
}

void clone_pool_free(struct clone_pool *p)
{
        if (!p)
                return;
        if (p->started) {
                pthread_mutex_lock(&p->lock);
                p->stop = true;
                pthread_cond_signal(&p->wake);
                pthread_mutex_unlock(&p->lock);
                pthread_join(p->thread, NULL);
        }
        for (size_t i = 0; i < p->n_ready; i++)
                clone_ns_done(&p->ready[i]);
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        rtnl_close(p->rtnl);
        free(p->ready);
        free(p);
}

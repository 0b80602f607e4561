/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "macro.h"
#include "reaper.h"
#include "rtnl.h"

/* A crash between moving links into REAPER_LINK_GROUP and deleting the
 * group leaves devices that were being released anyway; the next daemon
 * adopts them, and deletes them with the group at the next release, which is
 * what was asked. */
#define REAPER_BATCH_MAX 64

struct int_vec {
        int *v;
        size_t n, cap;
};

static int int_vec_push(struct int_vec *a, int x)
{
        if (a->n == a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 64;
                int *v = realloc(a->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                a->v = v;
                a->cap = cap;
        }
        a->v[a->n++] = x;
        return 0;
}

struct result {
        int ifindex;
        int error;
};

struct reaper {
        sd_event_source *source;
        int event_fd;
        reaper_done_fn done;
        void *userdata;

        pthread_t thread;
        bool thread_started;
        struct rtnl *rtnl; /* used by the worker only */

        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stopping;
        struct int_vec links;  /* queued ifindexes */
        struct int_vec fds;    /* queued fds to close */
        struct result *results;
        size_t n_results, cap_results;
        unsigned long n_links_deleted, n_batches;
};

static void push_results(struct reaper *r, const int *ifindexes, size_t n, int error)
{
        pthread_mutex_lock(&r->lock);
        if (r->n_results + n > r->cap_results) {
                size_t cap = MAX(r->cap_results * 2, r->n_results + n);
                struct result *v = realloc(r->results, cap * sizeof(*v));
                if (!v) {
                        /* Losing a completion only delays a Release reply
                         * until RTM_DELLINK arrives, which answers it too. */
                        pthread_mutex_unlock(&r->lock);
                        return;
                }
                r->results = v;
                r->cap_results = cap;
        }
        for (size_t i = 0; i < n; i++)
                r->results[r->n_results++] = (struct result){ifindexes[i], error};
        r->n_links_deleted += error == 0 ? n : 0;
        r->n_batches++;
        pthread_mutex_unlock(&r->lock);

        uint64_t one = 1;
        (void)!write(r->event_fd, &one, sizeof(one));
}

static void *reaper_main(void *p)
{
        struct reaper *r = p;
        struct int_vec links = {0}, fds = {0};

        for (;;) {
                pthread_mutex_lock(&r->lock);
                while (!r->stopping && r->links.n == 0 && r->fds.n == 0)
                        pthread_cond_wait(&r->wake, &r->lock);
                if (r->links.n == 0 && r->fds.n == 0 && r->stopping) {
                        pthread_mutex_unlock(&r->lock);
                        break;
                }
                /* Take everything queued: swap the vectors. */
                struct int_vec t = links;
                links = r->links;
                r->links = t;
                t = fds;
                fds = r->fds;
                r->fds = t;
                pthread_mutex_unlock(&r->lock);

                for (size_t i = 0; i < fds.n; i++)
                        safe_close(fds.v[i]);
                fds.n = 0;

                for (size_t i = 0; i < links.n; i += REAPER_BATCH_MAX) {
                        size_t n = MIN(links.n - i, (size_t)REAPER_BATCH_MAX);
                        int e = rtnl_delete_links(r->rtnl, links.v + i, n, REAPER_LINK_GROUP);
                        push_results(r, links.v + i, n, e);
                }
                links.n = 0;
        }

        free(links.v);
        free(fds.v);
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
                r->done(results[i].ifindex, results[i].error, r->userdata);
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

        e = rtnl_open(&r->rtnl);
        if (e < 0)
                goto fail;
        r->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->event_fd < 0) {
                e = negative_errno();
                goto fail;
        }
        e = sd_event_add_io(event, &r->source, r->event_fd, EPOLLIN, on_event_fd, r);
        if (e < 0)
                goto fail;
        e = -pthread_create(&r->thread, NULL, reaper_main, r);
        if (e < 0)
                goto fail;
        r->thread_started = true;
        *ret = r;
        return 0;
fail:
        reaper_free(r);
        return e;
}

int reaper_delete_link(struct reaper *r, int ifindex)
{
        int e;

        pthread_mutex_lock(&r->lock);
        e = int_vec_push(&r->links, ifindex);
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        return e;
}

void reaper_close_fds(struct reaper *r, int *fds, size_t n)
{
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < n; i++) {
                if (fds[i] < 0)
                        continue;
                if (int_vec_push(&r->fds, fds[i]) < 0)
                        safe_close(fds[i]);
                fds[i] = -1;
        }
        pthread_cond_signal(&r->wake);
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
        if (r->thread_started) {
                pthread_mutex_lock(&r->lock);
                r->stopping = true;
                pthread_cond_signal(&r->wake);
                pthread_mutex_unlock(&r->lock);
                pthread_join(r->thread, NULL);
        }
        sd_event_source_disable_unref(r->source);
        safe_close(r->event_fd);
        rtnl_close(r->rtnl);
        for (size_t i = 0; i < r->fds.n; i++)
                safe_close(r->fds.v[i]);
        free(r->links.v);
        free(r->fds.v);
        free(r->results);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->wake);
        free(r);
}

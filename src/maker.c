/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "macro.h"
#include "maker.h"
#include "rtnl.h"

/* Jobs and results share one ring each, MAKER_IN_FLIGHT long: a job
 * leaves the job ring when its result enters the result ring, and the
 * caller's submissions are bounded by what is in both. */
struct maker {
        sd_event_source *source;
        int event_fd;
        maker_done_fn done;
        void *userdata;

        pthread_t thread;
        bool started;
        struct rtnl *rtnl; /* the worker's only */

        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stopping;
        struct device_job jobs[MAKER_IN_FLIGHT];
        size_t job_head, n_jobs;
        struct device_made results[MAKER_IN_FLIGHT];
        size_t n_results;
};

/* On the worker: the device and its link; on a failure after TUNSETIFF
 * the fds are closed, which deletes the device (here, not on the loop). */
static void make(struct maker *mk, struct device_job *job, struct device_made *made)
{
        *made = (struct device_made){.slot = job->slot};
        made->error = tap_create(job->name, &job->opts, made->fds, &made->ifindex, &made->op);
        if (made->error < 0)
                return;
        made->n_fds = job->opts.queues;
        job->lc.ifindex = made->ifindex;
        job->lc.alias = job->alias;
        made->error = rtnl_configure_link(mk->rtnl, &job->lc, &made->op);
        if (made->error < 0) {
                close_many(made->fds, made->n_fds);
                made->n_fds = 0;
        }
}

static void *worker_main(void *p)
{
        struct maker *mk = p;

        pthread_mutex_lock(&mk->lock);
        for (;;) {
                struct device_job job;
                struct device_made made;
                uint64_t one = 1;

                while (!mk->stopping && mk->n_jobs == 0)
                        pthread_cond_wait(&mk->wake, &mk->lock);
                if (mk->stopping)
                        break;
                job = mk->jobs[mk->job_head];
                pthread_mutex_unlock(&mk->lock);

                make(mk, &job, &made);

                pthread_mutex_lock(&mk->lock);
                mk->job_head = (mk->job_head + 1) % MAKER_IN_FLIGHT;
                mk->n_jobs--;
                mk->results[mk->n_results++] = made;
                (void)!write(mk->event_fd, &one, sizeof(one));
        }
        pthread_mutex_unlock(&mk->lock);
        return NULL;
}

static int on_event_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct maker *mk = userdata;
        struct device_made results[MAKER_IN_FLIGHT];
        uint64_t count;
        size_t n;

        (void)!read(fd, &count, sizeof(count));
        pthread_mutex_lock(&mk->lock);
        n = mk->n_results;
        memcpy(results, mk->results, n * sizeof(*results));
        mk->n_results = 0;
        pthread_mutex_unlock(&mk->lock);

        for (size_t i = 0; i < n; i++)
                mk->done(&results[i], mk->userdata);
        return 0;
}

int maker_new(sd_event *event, maker_done_fn done, void *userdata, struct maker **ret)
{
        struct maker *mk = calloc(1, sizeof(*mk));
        int e;

        if (!mk)
                return -ENOMEM;
        mk->done = done;
        mk->userdata = userdata;
        pthread_mutex_init(&mk->lock, NULL);
        pthread_cond_init(&mk->wake, NULL);
        mk->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (mk->event_fd < 0) {
                e = negative_errno();
                goto fail;
        }
        e = sd_event_add_io(event, &mk->source, mk->event_fd, EPOLLIN, on_event_fd, mk);
        if (e < 0)
                goto fail;
        (void)sd_event_source_set_description(mk->source, "maker");
        e = rtnl_open(&mk->rtnl);
        if (e < 0)
                goto fail;
        e = -pthread_create(&mk->thread, NULL, worker_main, mk);
        if (e < 0)
                goto fail;
        mk->started = true;
        *ret = mk;
        return 0;
fail:
        maker_free(mk);
        return e;
}

int maker_submit(struct maker *mk, const struct device_job *job)
{
        int e = 0;

        pthread_mutex_lock(&mk->lock);
        if (mk->n_jobs + mk->n_results >= MAKER_IN_FLIGHT)
                e = -EBUSY;
        else {
                mk->jobs[(mk->job_head + mk->n_jobs) % MAKER_IN_FLIGHT] = *job;
                mk->n_jobs++;
                pthread_cond_signal(&mk->wake);
        }
        pthread_mutex_unlock(&mk->lock);
        return e;
}

void maker_free(struct maker *mk)
{
        if (!mk)
                return;
        pthread_mutex_lock(&mk->lock);
        mk->stopping = true;
        pthread_cond_broadcast(&mk->wake);
        pthread_mutex_unlock(&mk->lock);
        if (mk->started)
                pthread_join(mk->thread, NULL);
        rtnl_close(mk->rtnl);
        sd_event_source_disable_unref(mk->source);
        safe_close(mk->event_fd);
        for (size_t i = 0; i < mk->n_results; i++)
                close_many(mk->results[i].fds, mk->results[i].n_fds);
        pthread_mutex_destroy(&mk->lock);
        pthread_cond_destroy(&mk->wake);
        free(mk);
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "notify.h"
#include "status.h"

#define STATUS_INTERVAL_USEC (250 * 1000)

struct status {
        struct manager *manager;
        sd_event_source *timer;
        unsigned last; /* slots in use + 1 at the last STATUS=, 0: none yet */
};

void status_send(struct status *st)
{
        unsigned n = manager_slots_in_use(st->manager);

        if (st->last == n + 1)
                return;
        st->last = n + 1;
        notify_set_status("%u of %u slots in use", n, manager_config(st->manager)->effective_max_slots);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        status_send(userdata);
        return 0;
}

/* The count changed: say so within STATUS_INTERVAL_USEC. A gone slot
 * stops counting at once, so the timer reads the right figure. */
static void on_change(struct slot_rec *r, void *userdata)
{
        struct status *st = userdata;
        int enabled = SD_EVENT_OFF;

        (void)sd_event_source_get_enabled(st->timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        if (sd_event_source_set_time_relative(st->timer, STATUS_INTERVAL_USEC) < 0 ||
            sd_event_source_set_enabled(st->timer, SD_EVENT_ONESHOT) < 0)
                status_send(st);
}

static const struct slot_hooks hooks = {
    .name = "status",
    .live = on_change,
    .gone = on_change,
};

int status_new(sd_event *event, struct manager *m, struct status **ret)
{
        struct status *st = calloc(1, sizeof(*st));
        int e;

        if (!st)
                return -ENOMEM;
        st->manager = m;
        e = sd_event_add_time_relative(event, &st->timer, CLOCK_MONOTONIC, STATUS_INTERVAL_USEC, 0, on_timer,
                                       st);
        if (e >= 0)
                e = sd_event_source_set_enabled(st->timer, SD_EVENT_OFF);
        if (e >= 0)
                e = manager_subscribe(m, &hooks, st);
        if (e < 0) {
                sd_event_source_disable_unref(st->timer);
                free(st);
                return e;
        }
        *ret = st;
        return 0;
}

void status_free(struct status *st)
{
        if (!st)
                return;
        manager_unsubscribe(st->manager, &hooks, st);
        sd_event_source_disable_unref(st->timer);
        free(st);
}

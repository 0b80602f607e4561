/* SPDX-License-Identifier: MIT */

/* Monitor streams. Everything happens on the one event loop, and a stream
 * gets its snapshot and every later event queued on its connection in the
 * order they happen, so no stream sees an event for a slot before that
 * slot's "existing", and none misses one in between. */

#include <errno.h>
#include <stdlib.h>

#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "monitor.h"
#include "policy.h"
#include "protocol.h"
#include "slot-json.h"

struct stream {
        struct varlink_conn *conn; /* a reference */
        LIST_FIELDS(struct stream, streams);
};

struct monitor {
        struct manager *manager;
        struct stream *streams; /* LIST_* on streams */
        size_t n_streams;
};

static const char *reason_name(enum slot_end e)
{
        switch (e) {
        case SLOT_END_RELEASE:
                return TAPLINKD_REASON_RELEASE;
        case SLOT_END_GONE_AT_START:
                return TAPLINKD_REASON_GONE_AT_START;
        default:
                /* The device went by itself: its fds were closed, or
                 * someone deleted it. */
                return TAPLINKD_REASON_VMM_EXITED;
        }
}

/* {"event": event, "slot": Slot, "reason": reason}; r and reason may be
 * NULL (not sent). NULL when out of memory. */
static struct json_object *event_new(const struct config *c, const char *event, const struct slot_rec *r,
                                     const char *reason)
{
        _cleanup_json_ struct json_object *p = json_object_new_object();

        if (!p || json_add(p, "event", json_object_new_string(event)) < 0)
                return NULL;
        if (r && json_add(p, "slot", slot_to_json(c, r)) < 0)
                return NULL;
        if (reason && json_add(p, "reason", json_object_new_string(reason)) < 0)
                return NULL;
        return TAKE_PTR(p);
}

/* Sends one event to every stream that may see r's owner. A stream the
 * transport drops here is detached when its connection closes. */
static void broadcast(struct monitor *mon, const char *event, const struct slot_rec *r, const char *reason)
{
        const struct config *c = manager_config(mon->manager);
        _cleanup_json_ struct json_object *p = NULL;
        struct stream *s;

        LIST_FOREACH(streams, s, mon->streams)
        {
                if (!policy_may_see(varlink_conn_peer(s->conn), r->owner))
                        continue;
                /* One object, shared: the transport serializes it at once. */
                if (!p && !(p = event_new(c, event, r, reason))) {
                        log_error("tap slot %u: out of memory for a Monitor event; streams miss it",
                                  r->slot);
                        return;
                }
                (void)varlink_conn_reply_continues(s->conn, json_object_get(p));
        }
}

static void on_live(struct slot_rec *r, void *userdata)
{
        broadcast(userdata, TAPLINKD_EVENT_ACQUIRED, r, NULL);
}

static void on_changed(struct slot_rec *r, void *userdata)
{
        broadcast(userdata, TAPLINKD_EVENT_CHANGED, r, NULL);
}

static void on_gone(struct slot_rec *r, void *userdata)
{
        /* A failed Acquire was never announced. */
        if (r->was_live)
                broadcast(userdata, TAPLINKD_EVENT_RELEASED, r, reason_name(r->end));
}

static const struct slot_hooks hooks = {
    .name = "monitor",
    .live = on_live,
    .changed = on_changed,
    .gone = on_gone,
};

/* The snapshot: "existing" for each slot the peer may see (live or
 * releasing), by slot number, then "synced". */
static int send_snapshot(struct monitor *mon, struct varlink_conn *conn)
{
        const struct config *c = manager_config(mon->manager);
        const struct varlink_peer *peer = varlink_conn_peer(conn);
        _cleanup_free_ struct slot_rec **records = NULL;
        struct json_object *p;
        ssize_t n;
        int e;

        n = manager_records_by_slot(mon->manager, &records);
        if (n < 0)
                return (int)n;
        for (ssize_t i = 0; i < n; i++) {
                struct slot_rec *r = records[i];
                if ((r->phase != SLOT_LIVE && r->phase != SLOT_RELEASING) || !policy_may_see(peer, r->owner))
                        continue;
                p = event_new(c, TAPLINKD_EVENT_EXISTING, r, NULL);
                if (!p)
                        return -ENOMEM;
                e = varlink_conn_reply_continues(conn, p);
                if (e < 0)
                        return e;
        }
        p = event_new(c, TAPLINKD_EVENT_SYNCED, NULL, NULL);
        if (!p)
                return -ENOMEM;
        return varlink_conn_reply_continues(conn, p);
}

void monitor_attach(struct monitor *mon, struct varlink_conn *conn)
{
        const struct varlink_peer *peer = varlink_conn_peer(conn);
        struct stream *s;
        int e;

        s = calloc(1, sizeof(*s));
        if (!s) {
                reply_kernel_error(conn, "malloc", -ENOMEM);
                return;
        }
        e = send_snapshot(mon, conn);
        if (e == -ENOMEM && varlink_conn_is_open(conn))
                /* Still pending unless the transport gave up on it. */
                reply_kernel_error(conn, "malloc", -ENOMEM);
        if (e < 0) {
                log_warning_errno(e, "Monitor of uid %u (pid %d) ended at its start: %m",
                                  (unsigned)peer->uid, (int)peer->pid);
                free(s);
                return;
        }
        s->conn = varlink_conn_ref(conn);
        LIST_PREPEND(streams, mon->streams, s);
        mon->n_streams++;
        log_debug("Monitor of uid %u (pid %d) started", (unsigned)peer->uid, (int)peer->pid);
}

static void stream_free(struct monitor *mon, struct stream *s)
{
        LIST_REMOVE(streams, mon->streams, s);
        mon->n_streams--;
        varlink_conn_unref(s->conn);
        free(s);
}

void monitor_detach(struct monitor *mon, struct varlink_conn *conn)
{
        struct stream *s;

        if (!mon)
                return;
        LIST_FOREACH(streams, s, mon->streams)
        if (s->conn == conn) {
                stream_free(mon, s);
                return;
        }
}

size_t monitor_n_streams(const struct monitor *mon)
{
        return mon ? mon->n_streams : 0;
}

int monitor_new(struct manager *m, struct monitor **ret)
{
        struct monitor *mon = calloc(1, sizeof(*mon));
        int e;

        if (!mon)
                return -ENOMEM;
        mon->manager = m;
        e = manager_subscribe(m, &hooks, mon);
        if (e < 0) {
                free(mon);
                return e;
        }
        *ret = mon;
        return 0;
}

void monitor_free(struct monitor *mon)
{
        if (!mon)
                return;
        while (mon->streams)
                stream_free(mon, mon->streams);
        manager_unsubscribe(mon->manager, &hooks, mon);
        free(mon);
}

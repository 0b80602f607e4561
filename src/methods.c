/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "guest.h"
#include "json-util.h"
#include "log.h"
#include "methods.h"
#include "monitor.h"
#include "params.h"
#include "policy.h"
#include "ports.h"
#include "protocol.h"
#include "slot-json.h"
#include "slot.h"

/* An Acquire waiting for its turn (on_acquire_work). */
struct acquire_req {
        struct varlink_conn *conn;
        struct slot_request req; /* req.label is label, req.egress egress */
        char *label;
        struct egress_policy *egress;
        struct publish_list *published;
        struct acquire_req *next;
};

struct methods {
        struct manager *manager;
        const struct config *config;
        struct quota quota;           /* live slots per uid */
        const struct guest *guest;    /* for Status; may be NULL */
        struct monitor *monitor;      /* for Monitor; may be NULL */
        methods_counters_fn counters; /* for List; may be NULL */
        void *counters_ctx;
        methods_clone_slot_fn clone_slot; /* may be NULL */
        void *clone_slot_ctx;

        QUEUE(struct acquire_req) acquires; /* oldest first */
        sd_event_source *acquire_source;
        bool acquire_yield;
        void (*acquire_queued)(void *ctx);
        void *acquire_queued_ctx;
};

/* ---- replies ---- */

static void reply_error_int(struct varlink_conn *conn, const char *error, const char *key, int64_t value)
{
        _cleanup_json_ struct json_object *p = json_object_new_object();

        if (p && json_add(p, key, json_object_new_int64(value)) < 0)
                json_object_put(TAKE_PTR(p));
        varlink_conn_error(conn, error, TAKE_PTR(p));
}

/* Sends an Acquire's reply with the slot's fds: a "live" subscriber. */
static void reply_acquire(struct methods *mt, struct slot_rec *r, struct varlink_conn *conn)
{
        _cleanup_json_ struct json_object *p = json_object_new_object();
        struct json_object *indexes = json_object_new_array();
        int fds[TAP_MAX_QUEUES];
        size_t n_fds;

        if (json_add(p, "fileDescriptors", indexes) < 0 ||
            json_add(p, "slot", slot_to_json(mt->config, r)) < 0) {
                /* The fds stay with the manager, which closes them: the
                 * device goes, and so does the slot. */
                reply_kernel_error(conn, "malloc", -ENOMEM);
                return;
        }
        for (unsigned i = 0; i < r->n_fds; i++)
                if (json_object_array_add(indexes, json_object_new_int((int)i)) < 0) {
                        reply_kernel_error(conn, "malloc", -ENOMEM);
                        return;
                }
        log_debug("tap slot %u: acquired by uid %u (label \"%s\", %u queue%s)", r->slot, (unsigned)r->owner,
                  r->label ? r->label : "", r->queues, r->queues > 1 ? "s" : "");
        /* The varlink layer sends the fds with the reply and closes our
         * copies; from then on the VMM's fds keep the device alive. */
        n_fds = manager_take_fds(r, fds);
        varlink_conn_reply(conn, TAKE_PTR(p), fds, n_fds);
}

static void release_done(int error, const char *op, void *userdata)
{
        struct varlink_conn *conn = userdata;

        if (error == 0)
                varlink_conn_reply(conn, NULL, NULL, 0);
        else
                reply_kernel_error(conn, op, error);
        varlink_conn_unref(conn);
}

/* ---- the lifecycle: quota and the Acquire reply ---- */

static void on_live(struct slot_rec *r, void *userdata)
{
        struct methods *mt = userdata;

        /* Counted low by one on failure: the uid may get one slot more. */
        if (quota_inc(&mt->quota, r->owner) < 0)
                log_error("tap slot %u: out of memory counting uid %u's slots", r->slot, (unsigned)r->owner);
        if (r->acquire_cookie)
                reply_acquire(mt, r, r->acquire_cookie);
}

static void on_gone(struct slot_rec *r, void *userdata)
{
        struct methods *mt = userdata;

        if (r->was_live)
                quota_dec(&mt->quota, r->owner);
}

static const struct slot_hooks hooks = {
    .name = "methods",
    .live = on_live,
    .gone = on_gone,
};

/* ---- Acquire ---- */

static void acquire_req_free(struct acquire_req *q)
{
        if (!q)
                return;
        varlink_conn_unref(q->conn);
        free(q->label);
        free(q->egress);
        free(q->published);
        free(q);
}

static void run_acquire(struct methods *mt, struct acquire_req *q)
{
        uid_t uid = varlink_conn_peer(q->conn)->uid;
        const char *op = "?";
        int e;

        if (policy_check_quota(mt->config, &mt->quota, uid) < 0) {
                reply_error_int(q->conn, TAPLINKD_ERROR_QUOTA_EXCEEDED, "limit",
                                mt->config->max_slots_per_user);
                return;
        }
        /* Checked when the Acquire runs, not when it was queued: the
         * Acquires before it may have taken the ports. */
        const struct publish_port *port;
        e = ports_check(mt->config, mt->manager, uid, NULL, !q->req.clone, q->published, &port);
        if (e < 0) {
                ports_reply_error(q->conn, mt->config, e, port, "publish");
                return;
        }
        q->req.owner = uid;
        /* On success the "live" subscriber (on_live) replies. */
        e = manager_acquire(mt->manager, &q->req, q->conn, NULL, &op);
        if (e == -ENOSPC)
                varlink_conn_error(q->conn, TAPLINKD_ERROR_NO_SLOT_AVAILABLE, NULL);
        else if (e < 0)
                reply_kernel_error(q->conn, op, e);
}

/* Runs the oldest queued Acquire.
 *
 * Acquires wait in a queue instead of running from the varlink handler so
 * that each reply leaves before the next Acquire's kernel work starts: the
 * reply is queued on its connection, whose (normal priority) source sends
 * it on the next loop iteration, and in a burst of N requests the first
 * client then waits for one device, not for N. For the same reason an
 * Acquire's elements are committed right after its device is configured,
 * not gathered with the next ones: a commit costs ~30 µs, a device 0.2 to
 * tens of ms (see elements.c).
 *
 * The source runs at normal priority and yields once between two Acquires
 * (re-arming itself makes it the youngest pending source), so the replies
 * just queued go out first, and a client pipelining cheap calls cannot keep
 * Acquires waiting. */
static int on_acquire_work(sd_event_source *s, void *userdata)
{
        struct methods *mt = userdata;
        struct acquire_req *q;

        if (mt->acquire_yield) {
                mt->acquire_yield = false;
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        while ((q = QUEUE_POP(&mt->acquires))) {
                /* A client that went away while waiting gets no device. */
                bool run = varlink_conn_is_open(q->conn);
                if (run)
                        run_acquire(mt, q);
                acquire_req_free(q);
                if (run)
                        break;
        }
        if (mt->acquires.head) {
                mt->acquire_yield = true;
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

static void method_acquire(struct methods *mt, struct varlink_conn *conn, struct call_params *p)
{
        struct acquire_req *q;

        /* The label points into the call, which lives as long as conn; a
         * copy keeps the queue independent of that. */
        q = calloc(1, sizeof(*q));
        if (!q || (p->acquire.label && !(q->label = strdup(p->acquire.label)))) {
                free(q);
                reply_kernel_error(conn, "malloc", -ENOMEM);
                return;
        }
        q->conn = varlink_conn_ref(conn);
        q->req = p->acquire;
        q->req.label = q->label;
        q->egress = TAKE_PTR(p->egress);
        q->req.egress = q->egress;
        q->published = TAKE_PTR(p->published);
        q->req.published = q->published;
        QUEUE_PUSH(&mt->acquires, q);
        if (mt->acquire_queued)
                mt->acquire_queued(mt->acquire_queued_ctx);
        if (!mt->acquire_yield)
                sd_event_source_set_enabled(mt->acquire_source, SD_EVENT_ONESHOT);
}

/* ---- Release, List, Status ---- */

static bool visible(const struct varlink_peer *peer, const struct slot_rec *r)
{
        return r && (r->phase == SLOT_LIVE || r->phase == SLOT_RELEASING) && policy_may_see(peer, r->owner);
}

static void method_release(struct methods *mt, struct varlink_conn *conn, struct call_params *p)
{
        const struct varlink_peer *peer = varlink_conn_peer(conn);
        struct slot_rec *r = manager_slot(mt->manager, p->slot);
        int e;

        /* Another uid's slot does not exist as far as this caller knows. */
        if (!visible(peer, r)) {
                reply_error_int(conn, TAPLINKD_ERROR_NO_SUCH_SLOT, "slot", p->slot);
                return;
        }
        if (r->phase == SLOT_LIVE)
                log_debug("tap slot %u: release requested by uid %u", p->slot, (unsigned)peer->uid);
        e = manager_release(mt->manager, r, release_done, varlink_conn_ref(conn));
        if (e < 0) {
                varlink_conn_unref(conn);
                reply_kernel_error(conn, e == -ENOMEM ? "malloc" : "RTM_DELLINK", e);
        }
}

/* SetEgress answers with the slot as it now is. */
static void reply_slot(struct methods *mt, struct varlink_conn *conn, const struct slot_rec *r)
{
        _cleanup_json_ struct json_object *p = json_object_new_object();

        if (json_add(p, "slot", slot_to_json(mt->config, r)) < 0) {
                reply_kernel_error(conn, "malloc", -ENOMEM);
                return;
        }
        varlink_conn_reply(conn, TAKE_PTR(p), NULL, 0);
}

static void method_set_egress(struct methods *mt, struct varlink_conn *conn, struct call_params *p)
{
        const struct varlink_peer *peer = varlink_conn_peer(conn);
        struct slot_rec *r = manager_slot(mt->manager, p->slot);
        int e;

        if (!visible(peer, r) || r->phase != SLOT_LIVE) {
                reply_error_int(conn, TAPLINKD_ERROR_NO_SUCH_SLOT, "slot", p->slot);
                return;
        }
        e = manager_change_egress(mt->manager, r, p->egress);
        if (e < 0) {
                log_error_errno(e, "tap slot %u: changing its egress policy failed: %m", r->slot);
                reply_kernel_error(conn, "nft batch", e);
                return;
        }
        p->egress = NULL; /* the record's now */
        log_debug("tap slot %u: egress %s, %zu allow entries (uid %u)", r->slot,
                  egress_mode_to_string(r->egress->mode), r->egress->n_allow, (unsigned)peer->uid);
        reply_slot(mt, conn, r);
}

/* Publish and Unpublish: the slot's new list of ports, checked, in one
 * commit. */
static void change_published(struct methods *mt, struct varlink_conn *conn, struct call_params *p,
                             bool publish)
{
        const struct varlink_peer *peer = varlink_conn_peer(conn);
        struct slot_rec *r = manager_slot(mt->manager, p->slot);
        const struct publish_port *port = &p->port;
        _cleanup_free_ struct publish_list *l = NULL;
        int e;

        if (!visible(peer, r) || r->phase != SLOT_LIVE) {
                reply_error_int(conn, TAPLINKD_ERROR_NO_SUCH_SLOT, "slot", p->slot);
                return;
        }
        e = publish ? publish_list_add(r->published, &p->port, &l)
                    : publish_list_remove(r->published, &p->port, &l);
        if (e == -ENOENT) {
                varlink_conn_error_invalid_parameter(conn, "port");
                return;
        }
        if (e >= 0 && publish)
                e = ports_check(mt->config, mt->manager, peer->uid, r, !r->clone, l, &port);
        if (e == -ENOMEM) {
                reply_kernel_error(conn, "malloc", e);
                return;
        }
        if (e < 0) {
                ports_reply_error(conn, mt->config, e, port ? port : &p->port, "port");
                return;
        }
        e = manager_change_published(mt->manager, r, l);
        if (e < 0) {
                log_error_errno(e, "tap slot %u: changing its published ports failed: %m", r->slot);
                reply_kernel_error(conn, "nft batch", e);
                return;
        }
        TAKE_PTR(l); /* the record's now */
        log_debug("tap slot %u: %s %s port %u -> %u (uid %u)", r->slot,
                  publish ? "published" : "unpublished", publish_protocol_to_string(p->port.protocol),
                  p->port.host_port, p->port.guest_port, (unsigned)peer->uid);
        reply_slot(mt, conn, r);
}

static void method_publish(struct methods *mt, struct varlink_conn *conn, struct call_params *p)
{
        change_published(mt, conn, p, true);
}

static void method_unpublish(struct methods *mt, struct varlink_conn *conn, struct call_params *p)
{
        change_published(mt, conn, p, false);
}

/* The visible slots, by number, with their counters when t is not NULL. */
static int list_slots(struct methods *mt, const struct varlink_peer *peer, const struct counters_table *t,
                      struct json_object *slots)
{
        _cleanup_free_ struct slot_rec **records = NULL;
        ssize_t n = manager_records_by_slot(mt->manager, &records);

        if (n < 0)
                return (int)n;
        for (ssize_t i = 0; i < n; i++) {
                const struct slot_rec *r = records[i];
                struct json_object *o;
                if (!visible(peer, r))
                        continue;
                o = slot_to_json(mt->config, r);
                if (o && t) {
                        struct slot_counters sc = counters_lookup(t, r->slot);
                        if (slot_json_add_counters(o, &sc) < 0)
                                json_object_put(TAKE_PTR(o));
                }
                if (!o || json_object_array_add(slots, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        return 0;
}

static void method_list(struct methods *mt, struct varlink_conn *conn, struct call_params *params)
{
        const struct varlink_peer *peer = varlink_conn_peer(conn);
        _cleanup_json_ struct json_object *p = json_object_new_object();
        struct counters_table t = {0};
        struct json_object *slots;
        const char *op = "malloc";
        int e = 0;

        /* One dump of each kind for all slots, whatever the caller sees. */
        if (params->counters && mt->counters) {
                e = mt->counters(mt->counters_ctx, &t, &op);
                if (e < 0) {
                        log_error_errno(e, "List: reading the counters failed (%s): %m", op);
                        reply_kernel_error(conn, op, e);
                        return;
                }
        }
        slots = json_object_new_array();
        if (json_add(p, "slots", slots) < 0 ||
            list_slots(mt, peer, params->counters ? &t : NULL, slots) < 0) {
                counters_table_done(&t);
                reply_kernel_error(conn, "malloc", -ENOMEM);
                return;
        }
        counters_table_done(&t);
        varlink_conn_reply(conn, TAKE_PTR(p), NULL, 0);
}

static void method_status(struct methods *mt, struct varlink_conn *conn, struct call_params *params)
{
        _cleanup_json_ struct json_object *p = json_object_new_object();

        if (json_add(p, "version", json_object_new_string(TAPLINK_VERSION)) < 0 ||
            json_add(p, "slotsInUse", json_object_new_int64(manager_slots_in_use(mt->manager))) < 0 ||
            json_add(p, "maxSlots", json_object_new_int64(mt->config->effective_max_slots)) < 0 ||
            json_add(p, "guestServicesDropped", json_object_new_int64((int64_t)guest_dropped(mt->guest))) <
                0) {
                reply_kernel_error(conn, "malloc", -ENOMEM);
                return;
        }
        varlink_conn_reply(conn, TAKE_PTR(p), NULL, 0);
}

static void method_monitor(struct methods *mt, struct varlink_conn *conn, struct call_params *params)
{
        if (!mt->monitor) {
                varlink_conn_error_method_not_found(conn, TAPLINKD_METHOD_MONITOR);
                return;
        }
        monitor_attach(mt->monitor, conn);
}

/* Every call passes here: its parameters are checked (params.c), then
 * whether the caller may use taplinkd at all (Status is for everyone), and
 * only then does the method run. */
void methods_on_call(struct varlink_conn *conn, const struct varlink_call *call, void *userdata)
{
        static const struct {
                const char *name;
                params_parse_fn parse;
                bool needs_access;
                bool streams; /* needs "more" */
                void (*fn)(struct methods *mt, struct varlink_conn *conn, struct call_params *p);
        } table[] = {
            {TAPLINKD_METHOD_ACQUIRE, params_acquire, true, false, method_acquire},
            {TAPLINKD_METHOD_RELEASE, params_release, true, false, method_release},
            {TAPLINKD_METHOD_SET_EGRESS, params_set_egress, true, false, method_set_egress},
            {TAPLINKD_METHOD_PUBLISH, params_publish, true, false, method_publish},
            {TAPLINKD_METHOD_UNPUBLISH, params_publish, true, false, method_unpublish},
            {TAPLINKD_METHOD_LIST, params_list, true, false, method_list},
            {TAPLINKD_METHOD_STATUS, params_none, false, false, method_status},
            {TAPLINKD_METHOD_MONITOR, params_none, true, true, method_monitor},
        };
        struct methods *mt = userdata;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                struct call_params p = {0};
                const char *bad;

                if (!streq_ptr(call->method, table[i].name))
                        continue;
                bad = table[i].parse(mt->config, call->parameters, &p);
                if (bad && !*bad)
                        reply_kernel_error(conn, "malloc", -ENOMEM);
                else if (bad)
                        varlink_conn_error_invalid_parameter(conn, bad);
                else if (table[i].needs_access &&
                         policy_check_access(mt->config, varlink_conn_peer(conn)) < 0)
                        varlink_conn_error(conn, TAPLINKD_ERROR_PERMISSION_DENIED, NULL);
                else if (table[i].streams && !call->more)
                        varlink_conn_error(conn, VARLINK_ERROR_EXPECTED_MORE, NULL);
                else
                        table[i].fn(mt, conn, &p);
                call_params_done(&p);
                return;
        }
        varlink_conn_error_method_not_found(conn, call->method);
}

void methods_on_disconnect(struct varlink_conn *conn, void *userdata)
{
        struct methods *mt = userdata;

        monitor_detach(mt->monitor, conn);
        /* Other pending calls keep their reference and find the connection closed
         * when they answer: a queued Acquire is dropped, a sent one closes
         * its fds (deleting the device), a Release has nobody to tell. */
}

/* The clone slot whose TAP fd is attached to (its name, tap_name, is
 * every clone slot's): by its namespace's id, one lookup whatever the
 * number of clone slots. */
static int clone_slot_of(struct methods *mt, int fd, unsigned *ret_slot)
{
        return mt->clone_slot ? mt->clone_slot(mt->clone_slot_ctx, fd, ret_slot) : -ENOENT;
}

int methods_on_send_fds(const int *fds, size_t n_fds, bool sending, void *userdata)
{
        struct methods *mt = userdata;
        struct slot_rec *r;
        char name[IFNAMSIZ];
        unsigned slot;
        int e;

        if (n_fds == 0 || tap_get_name(fds[0], name) < 0)
                return 0;
        if (slot_from_ifname(mt->config, name, &slot) < 0 && clone_slot_of(mt, fds[0], &slot) < 0)
                return 0;
        r = manager_slot(mt->manager, slot);
        if (!r || r->phase == SLOT_FOREIGN || !r->persistent)
                return 0;
        /* Not sent after all: undo, so that closing the fds deletes it. */
        e = tap_set_persist(fds[0], sending);
        if (e < 0 && sending)
                /* Refusing drops the reply: the device goes with its fds,
                 * the slot with the device, the client sees a hang-up. */
                return log_error_errno(e, "%s: TUNSETPERSIST failed: %m; dropping the reply", name);
        if (e < 0)
                log_error_errno(e, "%s: clearing TUNSETPERSIST of an undelivered slot failed: %m", name);
        else if (!sending)
                log_info("%s: reply with the fds not delivered; the slot goes", name);
        return 0;
}

/* ---- life ---- */

int methods_new(sd_event *event, struct manager *m, void (*acquire_queued)(void *ctx), void *ctx,
                struct methods **ret)
{
        struct methods *mt = calloc(1, sizeof(*mt));
        int e;

        if (!mt)
                return -ENOMEM;
        mt->manager = m;
        mt->config = manager_config(m);
        mt->acquire_queued = acquire_queued;
        mt->acquire_queued_ctx = ctx;
        quota_init(&mt->quota);
        e = sd_event_add_defer(event, &mt->acquire_source, on_acquire_work, mt);
        if (e >= 0)
                e = sd_event_source_set_enabled(mt->acquire_source, SD_EVENT_OFF);
        if (e >= 0)
                e = manager_subscribe(m, &hooks, mt);
        if (e < 0) {
                methods_free(mt);
                return e;
        }
        *ret = mt;
        return 0;
}

void methods_set_guest(struct methods *mt, const struct guest *g)
{
        mt->guest = g;
}

void methods_set_monitor(struct methods *mt, struct monitor *mon)
{
        mt->monitor = mon;
}

void methods_set_counters(struct methods *mt, methods_counters_fn fn, void *ctx)
{
        mt->counters = fn;
        mt->counters_ctx = ctx;
}

void methods_set_clone_slot(struct methods *mt, methods_clone_slot_fn fn, void *ctx)
{
        mt->clone_slot = fn;
        mt->clone_slot_ctx = ctx;
}

void methods_free(struct methods *mt)
{
        struct acquire_req *q;

        if (!mt)
                return;
        /* Acquires that never ran: nothing was made for them. */
        while ((q = QUEUE_POP(&mt->acquires))) {
                reply_kernel_error(q->conn, "shutdown", -ESHUTDOWN);
                acquire_req_free(q);
        }
        manager_unsubscribe(mt->manager, &hooks, mt);
        sd_event_source_disable_unref(mt->acquire_source);
        quota_done(&mt->quota);
        free(mt);
}

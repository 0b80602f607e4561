/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "firewall.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "nft.h"
#include "notify.h"
#include "policy.h"
#include "reaper.h"
#include "rtnl.h"
#include "slot.h"
#include "sysctl.h"
#include "tap.h"

#define ERROR_PERMISSION_DENIED "io.taplinkd.PermissionDenied"
#define ERROR_QUOTA_EXCEEDED "io.taplinkd.QuotaExceeded"
#define ERROR_NO_SLOT_AVAILABLE "io.taplinkd.NoSlotAvailable"
#define ERROR_NO_SUCH_SLOT "io.taplinkd.NoSuchSlot"
#define ERROR_KERNEL "io.taplinkd.KernelError"

#define MTU_MIN 68
#define MTU_MAX 65521
/* A batch this large is committed at once rather than waiting for the
 * event loop to run dry. */
#define BATCH_FLUSH_SLOTS 32
/* Elements per nft batch at start-up (reconcile of many slots). */
#define RECONCILE_CHUNK 4096
/* STATUS= is for `systemctl status`; sent at most this often, so that a
 * burst of acquires does not cost a datagram (and a wake-up of PID 1) each. */
#define STATUS_INTERVAL_USEC (250 * 1000)

/* A slot's journey:
 *   ACQUIRING  device made and configured, elements queued; the reply waits
 *              for the nft commit
 *   LIVE       handed out
 *   RELEASING  Release asked the reaper to delete the device
 *   FAILED     an Acquire failed after the device existed; its fds are
 *              closing, so RTM_DELLINK will come
 *   GONE       the device is gone (RTM_DELLINK); element deletion queued;
 *              the slot returns to the free list once it commits
 *   FOREIGN    a device taplinkd did not make holds the name; the slot is
 *              kept out of the free list until that device goes away */
enum phase {
        PHASE_ACQUIRING,
        PHASE_LIVE,
        PHASE_RELEASING,
        PHASE_FAILED,
        PHASE_GONE,
        PHASE_FOREIGN,
};

struct waiter {
        struct varlink_conn *conn;
        struct waiter *next;
};

struct slot_rec {
        unsigned slot;
        enum phase phase;
        int ifindex;
        uid_t owner;
        char *label;
        unsigned mtu;
        unsigned queues;
        bool vnet_header;
        bool persistent;
        bool device_gone; /* RTM_DELLINK seen while ACQUIRING */

        struct slot_rec *prev, *next; /* m->records: every slot with a device */

        /* ACQUIRING: the call to answer and the fds to send. */
        struct varlink_conn *acquire_conn;
        int fds[TAP_MAX_QUEUES];
        unsigned n_fds;

        /* RELEASING/GONE: Release calls to answer once the slot is free. */
        struct waiter *waiters;
};

struct rec_vec {
        struct slot_rec **v;
        size_t n, cap;
};

struct elem_vec {
        struct nft_elem *v;
        size_t n, cap;
};

struct manager {
        sd_event *event;
        const struct config *config;

        struct slot_pool pool;
        struct slot_rec **slots; /* by slot number; NULL when free */
        struct slot_rec *records;
        unsigned n_in_use;
        struct quota quota;

        struct rtnl *rtnl;
        struct rtnl_monitor *monitor;
        sd_event_source *monitor_source;
        struct nft *nft;
        struct firewall *firewall; /* heals the table: see firewall_collect() */
        struct reaper *reaper;

        /* The nft batch being gathered. An Acquire commits it at once
         * (on_acquire_work); element deletions wait for flush_source, so
         * that a burst of RTM_DELLINKs (one group deleted by the reaper,
         * read in one go by the monitor) shares one commit. */
        struct elem_vec batch_add, batch_del;
        struct rec_vec batch_acquired, batch_gone;
        sd_event_source *flush_source;

        unsigned last_status;
        sd_event_source *status_source;

        /* Acquires not yet run, oldest first. */
        struct acquire_req *acquire_head, *acquire_tail;
        sd_event_source *acquire_source;
        bool acquire_yield;
};

static int flush_batch(struct manager *m);
static void on_dellink(int ifindex, const char *ifname, void *userdata);

/* ---- small containers ---- */

static int rec_vec_push(struct rec_vec *a, struct slot_rec *r)
{
        if (a->n == a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 16;
                struct slot_rec **v = realloc(a->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                a->v = v;
                a->cap = cap;
        }
        a->v[a->n++] = r;
        return 0;
}

static int elem_vec_append(struct elem_vec *a, const struct nft_elem *e, size_t n)
{
        if (a->n + n > a->cap) {
                size_t cap = MAX(a->cap ? a->cap * 2 : 64, a->n + n);
                struct nft_elem *v = realloc(a->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                a->v = v;
                a->cap = cap;
        }
        memcpy(a->v + a->n, e, n * sizeof(*e));
        a->n += n;
        return 0;
}

/* ---- records ---- */

static struct slot_rec *rec_new(struct manager *m, unsigned slot, enum phase phase)
{
        struct slot_rec *r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        r->slot = slot;
        r->phase = phase;
        for (size_t i = 0; i < ELEMENTSOF(r->fds); i++)
                r->fds[i] = -1;
        m->slots[slot] = r;
        if (phase != PHASE_FOREIGN) {
                r->next = m->records;
                if (m->records)
                        m->records->prev = r;
                m->records = r;
                m->n_in_use++;
        }
        return r;
}

static void send_status(struct manager *m)
{
        if (m->last_status == m->n_in_use + 1)
                return;
        m->last_status = m->n_in_use + 1;
        notify_set_status("%u of %u slots in use", m->n_in_use, m->config->effective_max_slots);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        send_status(userdata);
        return 0;
}

/* The slot count changed: say so within STATUS_INTERVAL_USEC. */
static void notify_status(struct manager *m)
{
        int enabled = SD_EVENT_OFF;

        if (!m->status_source) {
                send_status(m);
                return;
        }
        (void)sd_event_source_get_enabled(m->status_source, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        if (sd_event_source_set_time_relative(m->status_source, STATUS_INTERVAL_USEC) < 0 ||
            sd_event_source_set_enabled(m->status_source, SD_EVENT_ONESHOT) < 0)
                send_status(m);
}

/* Forgets a record and returns its slot to the back of the free list. */
static void rec_free(struct manager *m, struct slot_rec *r)
{
        if (r->phase != PHASE_FOREIGN) {
                if (r->prev)
                        r->prev->next = r->next;
                else
                        m->records = r->next;
                if (r->next)
                        r->next->prev = r->prev;
                m->n_in_use--;
                quota_dec(&m->quota, r->owner);
        }
        m->slots[r->slot] = NULL;
        slot_pool_put(&m->pool, r->slot);
        close_many(r->fds, r->n_fds);
        if (r->acquire_conn)
                varlink_conn_unref(r->acquire_conn);
        for (struct waiter *w = r->waiters, *next; w; w = next) {
                next = w->next;
                varlink_conn_unref(w->conn);
                free(w);
        }
        free(r->label);
        free(r);
        notify_status(m);
}

static const char *rec_ifname(const struct manager *m, const struct slot_rec *r, char buf[IFNAMSIZ])
{
        if (slot_ifname(m->config, r->slot, buf) < 0)
                strcpy(buf, "?");
        return buf;
}

/* ---- replies ---- */

static void reply_kernel_error(struct varlink_conn *conn, const char *operation, int error)
{
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "operation", json_object_new_string(operation));
        json_object_object_add(p, "errno", json_object_new_int(abs(error)));
        varlink_conn_error(conn, ERROR_KERNEL, p);
}

static void reply_no_such_slot(struct varlink_conn *conn, int64_t slot)
{
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "slot", json_object_new_int64(slot));
        varlink_conn_error(conn, ERROR_NO_SUCH_SLOT, p);
}

/* A Net object; addresses of the given family (AF_INET or AF_INET6). */
static struct json_object *net_to_json(int family, const void *subnet, const void *gateway,
                                       const void *guest, unsigned prefix_len)
{
        const void *addrs[] = {subnet, gateway, guest};
        static const char *const keys[] = {"subnet", "gateway", "guest"};
        struct json_object *o = json_object_new_object();
        char buf[INET6_ADDRSTRLEN];

        for (size_t i = 0; i < ELEMENTSOF(addrs); i++) {
                inet_ntop(family, addrs[i], buf, sizeof(buf));
                json_object_object_add(o, keys[i], json_object_new_string(buf));
        }
        json_object_object_add(o, "prefixLength", json_object_new_int((int)prefix_len));
        return o;
}

/* The io.taplinkd Slot object: everything derived from the slot number and
 * the configuration, plus what the record keeps (owner, label, options). */
static struct json_object *slot_to_json(const struct manager *m, const struct slot_rec *r)
{
        const struct config *c = m->config;
        struct json_object *o = json_object_new_object();
        char name[IFNAMSIZ], mac[18], ip_arg[128];
        uint8_t mac_bytes[6];
        struct slot_net4 n4;

        slot_guest_mac(r->slot, mac_bytes);
        slot_format_mac(mac_bytes, mac);
        slot_ipv4(c, r->slot, &n4);
        if (slot_kernel_ip_arg(c, r->slot, ip_arg, sizeof(ip_arg)) < 0)
                ip_arg[0] = '\0';

        json_object_object_add(o, "slot", json_object_new_int64(r->slot));
        json_object_object_add(o, "ifname", json_object_new_string(rec_ifname(m, r, name)));
        json_object_object_add(o, "label", json_object_new_string(r->label ? r->label : ""));
        json_object_object_add(o, "ownerUid", json_object_new_int64(r->owner));
        json_object_object_add(o, "mac", json_object_new_string(mac));
        json_object_object_add(o, "mtu", json_object_new_int((int)r->mtu));
        json_object_object_add(o, "queues", json_object_new_int((int)r->queues));
        json_object_object_add(o, "vnetHeader", json_object_new_boolean(r->vnet_header));
        json_object_object_add(o, "persistent", json_object_new_boolean(r->persistent));
        json_object_object_add(o, "ipv4", net_to_json(AF_INET, &n4.subnet, &n4.gateway, &n4.guest,
                                                      n4.prefix_len));
        if (c->ipv6) {
                struct slot_net6 n6;
                slot_ipv6(c, r->slot, &n6);
                json_object_object_add(o, "ipv6", net_to_json(AF_INET6, &n6.subnet, &n6.gateway,
                                                              &n6.guest, n6.prefix_len));
        } else {
                json_object_object_add(o, "ipv6", NULL);
        }
        json_object_object_add(o, "kernelIpArg", json_object_new_string(ip_arg));
        return o;
}

/* ---- the nft batch ---- */

static void schedule_flush(struct manager *m)
{
        if (m->batch_acquired.n + m->batch_gone.n >= BATCH_FLUSH_SLOTS)
                flush_batch(m);
        else
                sd_event_source_set_enabled(m->flush_source, SD_EVENT_ONESHOT);
}

static int queue_elems(struct manager *m, struct slot_rec *r, bool add)
{
        struct nft_elem elems[NFT_SLOT_ELEMS_MAX];
        size_t n = nft_slot_elems(m->config, r->slot, elems);
        int e;

        e = elem_vec_append(add ? &m->batch_add : &m->batch_del, elems, n);
        if (e < 0)
                return e;
        e = rec_vec_push(add ? &m->batch_acquired : &m->batch_gone, r);
        if (e < 0) {
                (add ? &m->batch_add : &m->batch_del)->n -= n;
                return e;
        }
        schedule_flush(m);
        return 0;
}

/* An Acquire failed after its device existed: answer the call, and let the
 * device go by closing its fds off the event loop. RTM_DELLINK then takes
 * the slot through GONE back to the free list. */
static void fail_acquire(struct manager *m, struct slot_rec *r, const char *operation, int error)
{
        char name[IFNAMSIZ];

        log_error_errno(error, "%s: %s failed: %m", rec_ifname(m, r, name), operation);
        if (r->acquire_conn) {
                reply_kernel_error(r->acquire_conn, operation, error);
                r->acquire_conn = varlink_conn_unref(r->acquire_conn);
        }
        r->phase = PHASE_FAILED;
        reaper_close_fds(m->reaper, r->fds, r->n_fds);
        r->n_fds = 0;
        if (r->device_gone) {
                /* RTM_DELLINK came already; nothing else will. */
                r->phase = PHASE_GONE;
                if (queue_elems(m, r, false) < 0)
                        rec_free(m, r);
        }
}

static void finish_acquire(struct manager *m, struct slot_rec *r)
{
        char name[IFNAMSIZ];

        if (r->device_gone) {
                fail_acquire(m, r, "device vanished", -ENODEV);
                return;
        }
        if (!r->acquire_conn || !varlink_conn_is_open(r->acquire_conn)) {
                /* The client is gone: nobody will hold the fds. */
                log_info("%s: client went away before the reply; releasing",
                         rec_ifname(m, r, name));
                fail_acquire(m, r, "reply", -ECONNRESET);
                return;
        }
        /* A persistent slot becomes persistent only when its fds leave
         * (manager_on_send_fds): a reply that never goes out must leave
         * nothing behind, and closing a non-persistent TAP's fds does that. */

        struct json_object *p = json_object_new_object();
        struct json_object *fd_indexes = json_object_new_array();
        for (unsigned i = 0; i < r->n_fds; i++)
                json_object_array_add(fd_indexes, json_object_new_int((int)i));
        json_object_object_add(p, "slot", slot_to_json(m, r));
        json_object_object_add(p, "fileDescriptors", fd_indexes);

        r->phase = PHASE_LIVE;
        log_debug("%s: acquired by uid %u (label \"%s\", %u queue%s)", rec_ifname(m, r, name),
                  (unsigned)r->owner, r->label ? r->label : "", r->queues, r->queues > 1 ? "s" : "");
        /* The varlink layer sends the fds with the reply and closes our
         * copies; from then on the VMM's fds keep the device alive. */
        varlink_conn_reply(r->acquire_conn, p, r->fds, r->n_fds);
        r->n_fds = 0;
        r->acquire_conn = varlink_conn_unref(r->acquire_conn);
}

static void finish_gone(struct manager *m, struct slot_rec *r)
{
        for (struct waiter *w = r->waiters; w; w = w->next)
                varlink_conn_reply(w->conn, NULL, NULL, 0);
        rec_free(m, r);
}

static int apply_with_repair(struct manager *m, const struct nft_elem *add, size_t n_add,
                             const struct nft_elem *del, size_t n_del)
{
        int e = nft_apply(m->nft, add, n_add, del, n_del);
        if (e == -ENOENT) {
                /* Someone deleted our table or a set: put it back, once. */
                log_warning("nftables table %s or one of its sets is missing; restoring it",
                            m->config->nft_table);
                int r = nft_ensure_ruleset(m->nft);
                if (r < 0)
                        return log_error_errno(r, "nftables: restoring table %s failed: %m",
                                               m->config->nft_table);
                e = nft_apply(m->nft, add, n_add, del, n_del);
        }
        return e;
}

static int flush_batch(struct manager *m)
{
        struct rec_vec acquired = m->batch_acquired, gone = m->batch_gone;
        int e;

        if (acquired.n == 0 && gone.n == 0)
                return 0;
        sd_event_source_set_enabled(m->flush_source, SD_EVENT_OFF);

        e = apply_with_repair(m, m->batch_add.v, m->batch_add.n, m->batch_del.v, m->batch_del.n);
        if (e < 0 && acquired.n > 0 && gone.n > 0) {
                /* Keep a failing add from holding up the deletions. */
                e = apply_with_repair(m, NULL, 0, m->batch_del.v, m->batch_del.n);
                if (e < 0)
                        log_error_errno(e, "nftables: deleting %zu elements failed: %m",
                                        m->batch_del.n);
                e = -EIO;
        }

        m->batch_add.n = m->batch_del.n = 0;
        m->batch_acquired = (struct rec_vec){0};
        m->batch_gone = (struct rec_vec){0};

        if (e < 0 && gone.n > 0 && acquired.n == 0)
                /* The elements may stay behind; the next start-up's
                 * reconcile removes them. The slot itself is free either
                 * way: its device is gone. */
                log_error_errno(e, "nftables: deleting the elements of %zu slots failed: %m",
                                gone.n);

        for (size_t i = 0; i < acquired.n; i++) {
                if (e < 0)
                        fail_acquire(m, acquired.v[i], "nft batch", e);
                else
                        finish_acquire(m, acquired.v[i]);
        }
        for (size_t i = 0; i < gone.n; i++)
                finish_gone(m, gone.v[i]);

        free(acquired.v);
        free(gone.v);
        notify_status(m);
        return e;
}

static int on_flush(sd_event_source *s, void *userdata)
{
        flush_batch(userdata);
        return 0;
}

/* ---- parameters ---- */

struct acquire_params {
        const char *label;
        unsigned mtu;
        unsigned queues;
        bool vnet_header;
        bool persistent;
};

/* An Acquire waiting for its turn (on_acquire_work). */
struct acquire_req {
        struct varlink_conn *conn;
        struct acquire_params params; /* params.label is label */
        char *label;
        struct acquire_req *next;
};

static bool label_valid(const char *s, size_t len)
{
        if (len > CONFIG_LABEL_MAX || strlen(s) != len)
                return false;
        for (size_t i = 0; i < len; i++) {
                char ch = s[i];
                if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                      strchr("._:@-", ch)))
                        return false;
        }
        return true;
}

/* An int in [min, max]; JSON null counts as absent (returns 0, *ret unset). */
static int get_int(struct json_object *v, int64_t min, int64_t max, int64_t *ret)
{
        if (!v)
                return 0;
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        /* json-c keeps integers beyond int64 as uint64 and get_int64 clamps
         * them to INT64_MAX: still out of range. */
        int64_t x = json_object_get_int64(v);
        if (x < min || x > max)
                return -ERANGE;
        *ret = x;
        return 1;
}

static int get_bool(struct json_object *v, bool *ret)
{
        if (!v)
                return 0;
        if (!json_object_is_type(v, json_type_boolean))
                return -EINVAL;
        *ret = json_object_get_boolean(v);
        return 1;
}

/* Returns NULL when the parameters are fine, else the name of the first bad
 * one (for InvalidParameter). */
static const char *parse_acquire(const struct manager *m, struct json_object *params,
                                 struct acquire_params *ret)
{
        struct acquire_params p = {
                .label = NULL,
                .mtu = m->config->mtu,
                .queues = 1,
                .vnet_header = true,
                .persistent = false,
        };

        json_object_object_foreach(params, key, v)
        {
                int64_t x;
                if (streq_ptr(key, "label")) {
                        if (!v)
                                continue;
                        if (!json_object_is_type(v, json_type_string) ||
                            !label_valid(json_object_get_string(v), json_object_get_string_len(v)))
                                return "label";
                        p.label = json_object_get_string(v);
                } else if (streq_ptr(key, "mtu")) {
                        if (get_int(v, MTU_MIN, MTU_MAX, &x) < 0)
                                return "mtu";
                        if (v)
                                p.mtu = (unsigned)x;
                } else if (streq_ptr(key, "queues")) {
                        if (get_int(v, 1, TAP_MAX_QUEUES, &x) < 0)
                                return "queues";
                        if (v)
                                p.queues = (unsigned)x;
                } else if (streq_ptr(key, "vnetHeader")) {
                        if (get_bool(v, &p.vnet_header) < 0)
                                return "vnetHeader";
                } else if (streq_ptr(key, "persistent")) {
                        if (get_bool(v, &p.persistent) < 0)
                                return "persistent";
                } else {
                        return key;
                }
        }
        /* The kernel refuses an IPv6 address below 1280: say so up front
         * instead of failing half-way with a KernelError. */
        if (m->config->ipv6 && p.mtu < CONFIG_IPV6_MIN_MTU)
                return "mtu";
        *ret = p;
        return NULL;
}

/* Methods without input accept {} only. */
static const char *first_key(struct json_object *params)
{
        json_object_object_foreach(params, key, v)
        {
                (void)v;
                return key;
        }
        return NULL;
}

/* ---- methods ---- */

/* The kernel work of one Acquire: a device, its configuration, its
 * elements queued. The reply leaves once the nft batch commits. */
static void acquire_run(struct manager *m, struct varlink_conn *conn, const struct acquire_params *pp)
{
        const struct varlink_peer *peer = varlink_conn_peer(conn);
        const struct config *c = m->config;
        const struct acquire_params p = *pp;
        const char *op = NULL;
        struct slot_rec *r = NULL;
        char name[IFNAMSIZ];
        int fds[TAP_MAX_QUEUES], ifindex = 0, e;
        unsigned slot;

        if (policy_check_quota(c, &m->quota, peer->uid) < 0) {
                struct json_object *jp = json_object_new_object();
                json_object_object_add(jp, "limit", json_object_new_int64(c->max_slots_per_user));
                varlink_conn_error(conn, ERROR_QUOTA_EXCEEDED, jp);
                return;
        }

        struct tap_options opts = {
                .queues = p.queues,
                .vnet_header = p.vnet_header,
                .owner = peer->uid,
        };
        /* Each name found taken is kept out of the free list as FOREIGN,
         * so this loop ends: at worst when the free list is empty. */
        for (;;) {
                if (slot_pool_take(&m->pool, &slot) < 0) {
                        varlink_conn_error(conn, ERROR_NO_SLOT_AVAILABLE, NULL);
                        return;
                }
                e = slot_ifname(c, slot, name);
                if (e >= 0)
                        e = tap_create(name, &opts, fds, &ifindex, &op);
                if (e != -EBUSY)
                        break;
                /* Never take over a device someone else made: keep the
                 * slot out of the free list until that device goes. */
                log_notice("%s: name taken by a device taplinkd did not create; skipping slot %u", name,
                           slot);
                if (!rec_new(m, slot, PHASE_FOREIGN)) {
                        slot_pool_put(&m->pool, slot);
                        e = -ENOMEM;
                        op = "malloc";
                        break;
                }
        }
        if (e < 0) {
                log_error_errno(e, "%s: %s failed: %m", name, op ? op : "slot_ifname");
                slot_pool_put(&m->pool, slot);
                reply_kernel_error(conn, op ? op : "slot_ifname", e);
                return;
        }

        e = quota_inc(&m->quota, peer->uid);
        if (e >= 0) {
                r = rec_new(m, slot, PHASE_ACQUIRING);
                if (!r) {
                        quota_dec(&m->quota, peer->uid);
                        e = -ENOMEM;
                }
        }
        if (e < 0) {
                /* The device goes with its fds; if its name is still taken
                 * when the slot comes round again, it is skipped as foreign
                 * until RTM_DELLINK. */
                reaper_close_fds(m->reaper, fds, p.queues);
                slot_pool_put(&m->pool, slot);
                reply_kernel_error(conn, "malloc", e);
                return;
        }
        r->ifindex = ifindex;
        r->owner = peer->uid;
        r->mtu = p.mtu;
        r->queues = p.queues;
        r->vnet_header = p.vnet_header;
        r->persistent = p.persistent;
        r->label = p.label ? strdup(p.label) : NULL;
        memcpy(r->fds, fds, sizeof(int) * p.queues);
        r->n_fds = p.queues;
        r->acquire_conn = varlink_conn_ref(conn);
        if (p.label && !r->label) {
                fail_acquire(m, r, "malloc", -ENOMEM);
                return;
        }

        struct slot_net4 n4;
        struct slot_net6 n6 = {0};
        struct rtnl_link_config lc = {
                .ifindex = ifindex,
                .mtu = p.mtu,
                .alias = p.label,
                .ipv6 = c->ipv6,
        };
        slot_host_mac(slot, lc.mac);
        slot_ipv4(c, slot, &n4);
        lc.gateway4 = n4.gateway;
        lc.prefix4 = n4.prefix_len;
        if (c->ipv6) {
                slot_ipv6(c, slot, &n6);
                lc.gateway6 = n6.gateway;
                lc.prefix6 = n6.prefix_len;
        }
        e = rtnl_configure_link(m->rtnl, &lc, &op);
        if (e < 0) {
                fail_acquire(m, r, op ? op : "RTM_NEWLINK", e);
                return;
        }

        e = queue_elems(m, r, true);
        if (e < 0)
                fail_acquire(m, r, "malloc", e);
        /* The reply leaves from finish_acquire() once the batch commits. */
}

static void acquire_req_free(struct acquire_req *q)
{
        if (!q)
                return;
        varlink_conn_unref(q->conn);
        free(q->label);
        free(q);
}

/* Runs the oldest queued Acquire and commits its elements at once.
 *
 * Acquires wait in a queue instead of running from the varlink handler so
 * that each reply leaves before the next Acquire's kernel work starts: the
 * reply is queued on its connection, whose (normal priority) source sends
 * it on the next loop iteration, and in a burst of N requests the first
 * client then waits for one device, not for N. For the same reason an
 * Acquire's elements are committed right after its device is configured,
 * not gathered with the next ones: a commit costs ~30 µs, a device 0.2 to
 * tens of ms, so waiting to share commits would cost every reply far more
 * than it saves. Deletions (RTM_DELLINK comes in bursts when the reaper
 * deletes a group) still share one batch, and ride along with an Acquire's.
 *
 * The source runs at normal priority and yields once between two Acquires
 * (re-arming itself makes it the youngest pending source), so the replies
 * just queued go out first, and a client pipelining cheap calls cannot keep
 * Acquires waiting. */
static int on_acquire_work(sd_event_source *s, void *userdata)
{
        struct manager *m = userdata;
        struct acquire_req *q;

        if (m->acquire_yield) {
                m->acquire_yield = false;
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        while ((q = m->acquire_head)) {
                m->acquire_head = q->next;
                if (!m->acquire_head)
                        m->acquire_tail = NULL;
                /* A client that went away while waiting gets no device. */
                bool run = varlink_conn_is_open(q->conn);
                if (run) {
                        acquire_run(m, q->conn, &q->params);
                        if (m->batch_acquired.n > 0)
                                flush_batch(m);
                }
                acquire_req_free(q);
                if (run)
                        break;
        }
        if (m->acquire_head) {
                m->acquire_yield = true;
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

static void method_acquire(struct manager *m, struct varlink_conn *conn, struct json_object *params)
{
        const struct varlink_peer *peer = varlink_conn_peer(conn);
        struct acquire_params p = {0};
        struct acquire_req *q;
        const char *bad;

        bad = parse_acquire(m, params, &p);
        if (bad) {
                varlink_conn_error_invalid_parameter(conn, bad);
                return;
        }
        if (policy_check_access(m->config, peer) < 0) {
                varlink_conn_error(conn, ERROR_PERMISSION_DENIED, NULL);
                return;
        }

        /* The label points into the call, which lives as long as conn; a
         * copy keeps the queue independent of that. */
        q = calloc(1, sizeof(*q));
        if (!q || (p.label && !(q->label = strdup(p.label)))) {
                free(q);
                reply_kernel_error(conn, "malloc", -ENOMEM);
                return;
        }
        q->conn = varlink_conn_ref(conn);
        q->params = p;
        q->params.label = q->label;
        if (m->acquire_tail)
                m->acquire_tail->next = q;
        else
                m->acquire_head = q;
        m->acquire_tail = q;
        /* Deletions give way while Acquires come. */
        reaper_note_acquire(m->reaper);
        if (!m->acquire_yield)
                sd_event_source_set_enabled(m->acquire_source, SD_EVENT_ONESHOT);
}

static bool may_see(const struct varlink_peer *peer, const struct slot_rec *r)
{
        return policy_is_root(peer) || r->owner == peer->uid;
}

static void method_release(struct manager *m, struct varlink_conn *conn, struct json_object *params)
{
        const struct varlink_peer *peer = varlink_conn_peer(conn);
        struct json_object *v = NULL;
        struct slot_rec *r = NULL;
        struct waiter *w;
        int64_t slot;
        char name[IFNAMSIZ];
        int e;

        json_object_object_foreach(params, key, val)
        {
                if (!streq_ptr(key, "slot")) {
                        varlink_conn_error_invalid_parameter(conn, key);
                        return;
                }
                v = val;
        }
        if (!v || !json_object_is_type(v, json_type_int)) {
                varlink_conn_error_invalid_parameter(conn, "slot");
                return;
        }
        slot = json_object_get_int64(v);
        /* Out of range (json-c clamps what int64 cannot hold, so a NoSuchSlot
         * could name a different slot than the one asked about). */
        if (slot < 0 || slot >= (int64_t)m->config->effective_max_slots) {
                varlink_conn_error_invalid_parameter(conn, "slot");
                return;
        }
        if (policy_check_access(m->config, peer) < 0) {
                varlink_conn_error(conn, ERROR_PERMISSION_DENIED, NULL);
                return;
        }
        r = m->slots[slot];
        /* Another uid's slot does not exist as far as this caller knows. */
        if (!r || (r->phase != PHASE_LIVE && r->phase != PHASE_RELEASING) || !may_see(peer, r)) {
                reply_no_such_slot(conn, slot);
                return;
        }

        w = calloc(1, sizeof(*w));
        if (!w) {
                reply_kernel_error(conn, "malloc", -ENOMEM);
                return;
        }
        if (r->phase == PHASE_LIVE) {
                e = reaper_delete_link(m->reaper, r->ifindex, r->slot);
                if (e < 0) {
                        free(w);
                        reply_kernel_error(conn, "RTM_DELLINK", e);
                        return;
                }
                r->phase = PHASE_RELEASING;
                log_debug("%s: release requested by uid %u", rec_ifname(m, r, name),
                          (unsigned)peer->uid);
        }
        w->conn = varlink_conn_ref(conn);
        w->next = r->waiters;
        r->waiters = w;
}

static void method_list(struct manager *m, struct varlink_conn *conn, struct json_object *params)
{
        const struct varlink_peer *peer = varlink_conn_peer(conn);
        const char *bad = first_key(params);

        if (bad) {
                varlink_conn_error_invalid_parameter(conn, bad);
                return;
        }
        if (policy_check_access(m->config, peer) < 0) {
                varlink_conn_error(conn, ERROR_PERMISSION_DENIED, NULL);
                return;
        }

        struct json_object *slots = json_object_new_array();
        for (struct slot_rec *r = m->records; r; r = r->next)
                if ((r->phase == PHASE_LIVE || r->phase == PHASE_RELEASING) && may_see(peer, r))
                        json_object_array_add(slots, slot_to_json(m, r));
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "slots", slots);
        varlink_conn_reply(conn, p, NULL, 0);
}

static void method_status(struct manager *m, struct varlink_conn *conn, struct json_object *params)
{
        const char *bad = first_key(params);

        if (bad) {
                varlink_conn_error_invalid_parameter(conn, bad);
                return;
        }
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "version", json_object_new_string(TAPLINK_VERSION));
        json_object_object_add(p, "slotsInUse", json_object_new_int64(m->n_in_use));
        json_object_object_add(p, "maxSlots", json_object_new_int64(m->config->effective_max_slots));
        varlink_conn_reply(conn, p, NULL, 0);
}

void manager_on_call(struct varlink_conn *conn, const struct varlink_call *call, void *userdata)
{
        struct manager *m = userdata;
        static const struct {
                const char *name;
                void (*fn)(struct manager *m, struct varlink_conn *conn, struct json_object *params);
        } methods[] = {
                {"io.taplinkd.Acquire", method_acquire},
                {"io.taplinkd.Release", method_release},
                {"io.taplinkd.List", method_list},
                {"io.taplinkd.Status", method_status},
        };

        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (streq_ptr(call->method, methods[i].name)) {
                        methods[i].fn(m, conn, call->parameters);
                        return;
                }

        varlink_conn_error_method_not_found(conn, call->method);
}

int manager_on_send_fds(const int *fds, size_t n_fds, bool sending, void *userdata)
{
        struct manager *m = userdata;
        char name[IFNAMSIZ];
        unsigned slot;
        int e;

        if (n_fds == 0 || tap_get_name(fds[0], name) < 0 || slot_from_ifname(m->config, name, &slot) < 0)
                return 0;
        struct slot_rec *r = m->slots[slot];
        if (!r || !r->persistent)
                return 0;
        /* Not sent after all: undo, so that closing the fds deletes it. */
        e = tap_set_persist(fds[0], sending);
        if (e < 0 && sending)
                /* Refusing drops the reply: the device goes with its fds,
                 * RTM_DELLINK frees the slot, the client sees a hang-up. */
                return log_error_errno(e, "%s: TUNSETPERSIST failed: %m; dropping the reply", name);
        if (e < 0)
                log_error_errno(e, "%s: clearing TUNSETPERSIST of an undelivered slot failed: %m", name);
        else if (!sending)
                log_info("%s: reply with the fds not delivered; the slot goes", name);
        return 0;
}

void manager_on_disconnect(struct varlink_conn *conn, void *userdata)
{
        /* Pending calls keep their reference and find the connection closed
         * when they answer: an Acquire then closes its fds (deleting the
         * device), a Release has nobody to tell. Nothing to do here. */
}

unsigned manager_slots_in_use(const struct manager *m)
{
        return m->n_in_use;
}

/* ---- kernel events ---- */

static void slot_device_gone(struct manager *m, struct slot_rec *r)
{
        switch (r->phase) {
        case PHASE_ACQUIRING:
                /* The reply waits for the nft batch: fail it then. */
                r->device_gone = true;
                return;
        case PHASE_LIVE:
        case PHASE_RELEASING:
        case PHASE_FAILED:
                r->phase = PHASE_GONE;
                close_many(r->fds, r->n_fds);
                r->n_fds = 0;
                if (queue_elems(m, r, false) < 0) {
                        log_error("tl%u: out of memory queueing element deletion", r->slot);
                        finish_gone(m, r);
                }
                return;
        case PHASE_GONE:
                return;
        case PHASE_FOREIGN:
                rec_free(m, r);
                return;
        }
}

static void on_dellink(int ifindex, const char *ifname, void *userdata)
{
        struct manager *m = userdata;
        struct slot_rec *r;
        unsigned slot;

        if (slot_from_ifname(m->config, ifname, &slot) < 0)
                return;
        r = m->slots[slot];
        if (!r)
                return;
        /* A foreign device holding a slot's name has no ifindex of ours. */
        if (r->phase != PHASE_FOREIGN && r->ifindex != ifindex)
                return;
        log_debug("%s: device gone (ifindex %d)", ifname, ifindex);
        slot_device_gone(m, r);
}

struct present {
        int *ifindexes;
        size_t n, cap;
};

static int collect_present(const struct rtnl_tap_info *info, void *userdata)
{
        struct present *p = userdata;
        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 256;
                int *v = realloc(p->ifindexes, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                p->ifindexes = v;
                p->cap = cap;
        }
        p->ifindexes[p->n++] = info->ifindex;
        return 0;
}

static int cmp_int(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;
        return (x > y) - (x < y);
}

/* The monitor lost events (ENOBUFS): find the devices that went away by
 * comparing a fresh dump with what we hold. */
static void on_resync(void *userdata)
{
        struct manager *m = userdata;
        struct present p = {0};
        int e;

        log_warning("link monitor overran; re-reading the device list");
        e = rtnl_dump_taps(m->rtnl, m->config->ifname_prefix, collect_present, &p);
        if (e < 0) {
                log_error_errno(e, "link dump after monitor overrun failed: %m");
                free(p.ifindexes);
                return;
        }
        qsort(p.ifindexes, p.n, sizeof(int), cmp_int);
        for (struct slot_rec *r = m->records, *next; r; r = next) {
                next = r->next;
                if (r->phase == PHASE_GONE)
                        continue;
                if (!bsearch(&r->ifindex, p.ifindexes, p.n, sizeof(int), cmp_int))
                        slot_device_gone(m, r);
        }
        free(p.ifindexes);
}

static int on_monitor(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct manager *m = userdata;
        int e = rtnl_monitor_process(m->monitor);
        if (e < 0 && e != -EAGAIN)
                log_error_errno(e, "link monitor: %m");
        return 0;
}

/* The reaper could not delete a released device: the slot stays live and
 * its Release calls get the error. The cookie is the slot number. */
static void on_reaped(int ifindex, unsigned slot, int error, void *userdata)
{
        struct manager *m = userdata;
        struct slot_rec *r;
        char name[IFNAMSIZ];

        if (error >= 0 || error == -ENODEV)
                return; /* RTM_DELLINK does the rest */
        if (slot >= m->config->effective_max_slots)
                return;
        r = m->slots[slot];
        /* The slot may have gone and come back as another device since. */
        if (!r || r->ifindex != ifindex || r->phase != PHASE_RELEASING)
                return;

        log_error_errno(error, "%s: RTM_DELLINK failed: %m", rec_ifname(m, r, name));
        r->phase = PHASE_LIVE;
        for (struct waiter *w = r->waiters, *next; w; w = next) {
                next = w->next;
                reply_kernel_error(w->conn, "RTM_DELLINK", error);
                varlink_conn_unref(w->conn);
                free(w);
        }
        r->waiters = NULL;
}

/* ---- start-up ---- */

static int adopt(const struct rtnl_tap_info *info, void *userdata)
{
        struct manager *m = userdata;
        uint8_t mac[6];
        unsigned slot;
        struct slot_rec *r;

        if (slot_from_ifname(m->config, info->ifname, &slot) < 0) {
                log_notice("%s: has the prefix \"%s\" but is not a slot of this configuration; leaving it alone",
                           info->ifname, m->config->ifname_prefix);
                return 0;
        }
        if (m->slots[slot])
                return 0;
        slot_pool_take_slot(&m->pool, slot);

        /* taplinkd gives every device its slot's host MAC before anyone
         * gets an fd: a TAP without it was not made by taplinkd. */
        slot_host_mac(slot, mac);
        if (memcmp(mac, info->mac, sizeof(mac)) != 0) {
                log_notice("%s: not made by taplinkd (MAC differs); leaving it alone", info->ifname);
                return rec_new(m, slot, PHASE_FOREIGN) ? 0 : -ENOMEM;
        }

        r = rec_new(m, slot, PHASE_LIVE);
        if (!r)
                return -ENOMEM;
        r->ifindex = info->ifindex;
        r->owner = info->has_owner ? info->owner : 0;
        r->label = strdup(info->alias);
        r->mtu = info->mtu;
        r->queues = info->queues ? info->queues : 1;
        r->vnet_header = info->vnet_header;
        r->persistent = info->persist;
        if (!r->label || quota_inc(&m->quota, r->owner) < 0)
                return -ENOMEM;
        log_debug("%s: adopted (owner %u, label \"%s\", %u queues%s%s)", info->ifname,
                  (unsigned)r->owner, r->label, r->queues, r->vnet_header ? ", vnet header" : "",
                  r->persistent ? ", persistent" : "");
        return 0;
}

static bool elem_expected(const struct manager *m, const struct nft_elem *e)
{
        const struct config *c = m->config;
        const struct slot_rec *r;
        unsigned slot;

        switch (e->set) {
        case NFT_SET_SLOTS_V4:
                if (slot_from_ipv4_subnet(c, e->addr.v4, &slot) < 0)
                        return false;
                break;
        case NFT_SET_SLOTS_V6:
                if (!c->ipv6 || slot_from_ipv6_subnet(c, &e->addr.v6, &slot) < 0)
                        return false;
                break;
        case NFT_SET_GUESTS_V4:
        case NFT_SET_GUESTS_V6:
                if (slot_from_ifname(c, e->ifname, &slot) < 0)
                        return false;
                if (e->set == NFT_SET_GUESTS_V6 && !c->ipv6)
                        return false;
                break;
        default:
                return false;
        }

        r = m->slots[slot];
        if (!r || r->phase != PHASE_LIVE)
                return false;

        /* The element must be exactly one of the slot's own. */
        struct nft_elem own[NFT_SLOT_ELEMS_MAX];
        size_t n = nft_slot_elems(c, slot, own);
        for (size_t i = 0; i < n; i++)
                if (own[i].set == e->set && memcmp(&own[i].addr, &e->addr, sizeof(e->addr)) == 0 &&
                    (e->set == NFT_SET_SLOTS_V4 || e->set == NFT_SET_SLOTS_V6 ||
                     strncmp(own[i].ifname, e->ifname, IFNAMSIZ) == 0))
                        return true;
        return false;
}

static int apply_chunked(struct manager *m, const struct elem_vec *add, const struct elem_vec *del)
{
        for (size_t i = 0; i < del->n; i += RECONCILE_CHUNK) {
                int e = nft_apply(m->nft, NULL, 0, del->v + i, MIN(del->n - i, (size_t)RECONCILE_CHUNK));
                if (e < 0)
                        return e;
        }
        for (size_t i = 0; i < add->n; i += RECONCILE_CHUNK) {
                int e = nft_apply(m->nft, add->v + i, MIN(add->n - i, (size_t)RECONCILE_CHUNK), NULL, 0);
                if (e < 0)
                        return e;
        }
        return 0;
}

/* Makes the sets hold exactly the elements of the live slots. */
static int reconcile_elements(struct manager *m)
{
        _cleanup_free_ struct nft_elem *dumped = NULL;
        struct elem_vec add = {0}, del = {0};
        size_t n_dumped = 0;
        int e;

        e = nft_dump_elems(m->nft, &dumped, &n_dumped);
        if (e < 0)
                return log_error_errno(e, "nftables: dumping the set elements of table %s failed: %m",
                                       m->config->nft_table);

        for (size_t i = 0; i < n_dumped; i++)
                if (!elem_expected(m, &dumped[i])) {
                        e = elem_vec_append(&del, &dumped[i], 1);
                        if (e < 0)
                                goto out;
                }
        /* Adding an element that exists is a no-op, so every live slot's
         * elements go in: that restores whatever is missing. */
        for (struct slot_rec *r = m->records; r; r = r->next) {
                struct nft_elem own[NFT_SLOT_ELEMS_MAX];
                size_t n = nft_slot_elems(m->config, r->slot, own);
                e = elem_vec_append(&add, own, n);
                if (e < 0)
                        goto out;
        }
        e = apply_chunked(m, &add, &del);
        if (e < 0) {
                log_error_errno(e, "nftables: reconciling set elements failed: %m");
                goto out;
        }
        log_info("reconciled: %u live slots adopted, %zu stale set elements removed", m->n_in_use, del.n);
out:
        free(add.v);
        free(del.v);
        return e;
}

/* ---- the firewall heals itself (firewall.c) ----
 * The firewall restores the table and every element in it when someone
 * else removes them; it asks for the elements here. */

/* firewall_collect_fn: the elements of every live slot. */
static int firewall_collect(struct nft_elem **ret, size_t *ret_n, void *userdata)
{
        struct manager *m = userdata;
        VEC(struct nft_elem) all = {0};

        for (struct slot_rec *r = m->records; r; r = r->next) {
                struct nft_elem own[NFT_SLOT_ELEMS_MAX];
                size_t n;

                if (r->phase != PHASE_LIVE)
                        continue;
                n = nft_slot_elems(m->config, r->slot, own);
                if (VEC_APPEND(&all, own, n) < 0) {
                        VEC_FREE(&all);
                        return -ENOMEM;
                }
        }
        *ret = all.items;
        *ret_n = all.n;
        return 0;
}

/* ---- end of the firewall's part ---- */

int manager_start(struct manager *m)
{
        const struct config *c = m->config;
        const char *what = NULL;
        int e;

        e = tap_probe_features(&what);
        if (e < 0)
                return log_error_errno(e, "/dev/net/tun: %s: %m", what ? what : "TUNGETFEATURES");

        /* The monitor starts before the dump, so a device that goes away
         * while we look is seen as an event afterwards. */
        static const struct rtnl_monitor_callbacks callbacks = {
                .on_dellink = on_dellink,
                .on_resync = on_resync,
        };
        e = rtnl_monitor_open(c->ifname_prefix, &callbacks, m, &m->monitor);
        if (e < 0)
                return log_error_errno(e, "rtnetlink: opening the link monitor failed: %m");
        e = sd_event_add_io(m->event, &m->monitor_source, rtnl_monitor_fd(m->monitor), EPOLLIN, on_monitor,
                            m);
        if (e < 0)
                return log_error_errno(e, "sd-event: adding the link monitor failed: %m");

        /* Watching before the ruleset is ensured: whatever someone else
         * removes from then on is seen, and restored once we serve. */
        e = firewall_new(m->event, m->nft, c->nft_table, firewall_collect, m, &m->firewall);
        if (e < 0)
                return log_error_errno(e, "nftables: watching table inet %s failed: %m", c->nft_table);

        e = nft_ensure_ruleset(m->nft);
        if (e < 0)
                return log_error_errno(e, "nftables: setting up table inet %s failed: %m", c->nft_table);
        if (e > 0)
                log_info("nftables: table inet %s created or repaired", c->nft_table);

        e = sysctl_apply_forwarding(c, &what);
        if (e < 0)
                return log_error_errno(e, "%s: %m (set it in sysctl.d, see taplinkd(8))",
                                       what ? what : "sysctl");

        e = rtnl_dump_taps(m->rtnl, c->ifname_prefix, adopt, m);
        if (e < 0)
                return log_error_errno(e, "rtnetlink: dumping links failed: %m");

        e = reconcile_elements(m);
        if (e < 0)
                return e;
        notify_status(m);
        return 0;
}

/* ---- life ---- */

int manager_new(sd_event *event, const struct config *config, struct manager **ret)
{
        struct manager *m = calloc(1, sizeof(*m));
        int e;

        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->config = config;
        quota_init(&m->quota);

        e = slot_pool_init(&m->pool, config->effective_max_slots);
        if (e < 0)
                goto fail;
        m->slots = calloc(config->effective_max_slots, sizeof(*m->slots));
        if (!m->slots) {
                e = -ENOMEM;
                goto fail;
        }
        e = rtnl_open(&m->rtnl);
        if (e < 0) {
                log_error_errno(e, "rtnetlink: opening a socket failed: %m");
                goto fail;
        }
        e = nft_open(config, &m->nft);
        if (e < 0) {
                log_error_errno(e, "nftables: opening a socket failed: %m");
                goto fail;
        }
        e = reaper_new(event, on_reaped, m, &m->reaper);
        if (e < 0) {
                log_error_errno(e, "starting the device reaper failed: %m");
                goto fail;
        }
        e = sd_event_add_defer(event, &m->flush_source, on_flush, m);
        if (e < 0)
                goto fail;
        /* Normal priority: the commit runs after the sources that were
         * ready before it (the rest of a burst is queued by then) and
         * cannot be put off for ever by a client pipelining calls, as an
         * idle-priority source could. */
        sd_event_source_set_enabled(m->flush_source, SD_EVENT_OFF);
        e = sd_event_add_defer(event, &m->acquire_source, on_acquire_work, m);
        if (e < 0)
                goto fail;
        sd_event_source_set_enabled(m->acquire_source, SD_EVENT_OFF);
        e = sd_event_add_time_relative(event, &m->status_source, CLOCK_MONOTONIC, STATUS_INTERVAL_USEC, 0,
                                       on_status_timer, m);
        if (e < 0)
                goto fail;
        sd_event_source_set_enabled(m->status_source, SD_EVENT_OFF);

        *ret = m;
        return 0;
fail:
        manager_free(m);
        return e;
}

void manager_free(struct manager *m)
{
        if (!m)
                return;

        /* Nothing is restored while the manager goes. */
        firewall_free(m->firewall);
        m->firewall = NULL;

        /* Acquires that never ran: nothing was made for them. */
        for (struct acquire_req *q = m->acquire_head, *next; q; q = next) {
                next = q->next;
                reply_kernel_error(q->conn, "shutdown", -ESHUTDOWN);
                acquire_req_free(q);
        }
        m->acquire_head = m->acquire_tail = NULL;

        /* Commit what is gathered so that pending calls get their answer
         * and no element outlives its device needlessly. */
        if (m->nft)
                flush_batch(m);

        /* Stop the reaper first: it finishes queued deletions and closes. */
        reaper_free(m->reaper);
        m->reaper = NULL;

        if (m->slots)
                for (unsigned i = 0; i < m->config->effective_max_slots; i++) {
                        struct slot_rec *r = m->slots[i];
                        if (!r)
                                continue;
                        if (r->acquire_conn)
                                reply_kernel_error(r->acquire_conn, "shutdown", -ESHUTDOWN);
                        free(r->label);
                        close_many(r->fds, r->n_fds);
                        if (r->acquire_conn)
                                varlink_conn_unref(r->acquire_conn);
                        for (struct waiter *w = r->waiters, *next; w; w = next) {
                                next = w->next;
                                varlink_conn_unref(w->conn);
                                free(w);
                        }
                        free(r);
                }
        free(m->slots);
        free(m->batch_add.v);
        free(m->batch_del.v);
        free(m->batch_acquired.v);
        free(m->batch_gone.v);
        sd_event_source_disable_unref(m->flush_source);
        sd_event_source_disable_unref(m->status_source);
        sd_event_source_disable_unref(m->acquire_source);
        sd_event_source_disable_unref(m->monitor_source);
        rtnl_monitor_close(m->monitor);
        rtnl_close(m->rtnl);
        nft_close(m->nft);
        slot_pool_done(&m->pool);
        quota_done(&m->quota);
        sd_event_unref(m->event);
        free(m);
}

/* ---- --cleanup ---- */

struct cleanup_ctx {
        const struct config *config;
        struct present links;
};

static int collect_slot_links(const struct rtnl_tap_info *info, void *userdata)
{
        struct cleanup_ctx *ctx = userdata;
        unsigned slot;

        if (slot_from_ifname(ctx->config, info->ifname, &slot) < 0)
                return 0;
        return collect_present(info, &ctx->links);
}

int manager_cleanup(const struct config *c)
{
        struct rtnl *rtnl = NULL;
        struct nft *nft = NULL;
        struct cleanup_ctx ctx = {.config = c};
        int e;

        e = rtnl_open(&rtnl);
        if (e < 0)
                return log_error_errno(e, "rtnetlink: opening a socket failed: %m");
        e = rtnl_dump_taps(rtnl, c->ifname_prefix, collect_slot_links, &ctx);
        if (e < 0) {
                log_error_errno(e, "rtnetlink: dumping links failed: %m");
                goto out;
        }
        for (size_t i = 0; i < ctx.links.n; i += 64) {
                size_t n = MIN(ctx.links.n - i, (size_t)64);
                e = rtnl_delete_links(rtnl, ctx.links.ifindexes + i, n, REAPER_LINK_GROUP);
                if (e < 0) {
                        log_error_errno(e, "rtnetlink: deleting devices failed: %m");
                        goto out;
                }
        }
        log_info("cleanup: deleted %zu devices", ctx.links.n);

        e = nft_open(c, &nft);
        if (e < 0) {
                log_error_errno(e, "nftables: opening a socket failed: %m");
                goto out;
        }
        e = nft_delete_table(nft);
        if (e < 0) {
                log_error_errno(e, "nftables: deleting table inet %s failed: %m", c->nft_table);
                goto out;
        }
        log_info("cleanup: table inet %s deleted", c->nft_table);
out:
        free(ctx.links.ifindexes);
        nft_close(nft);
        rtnl_close(rtnl);
        return e;
}

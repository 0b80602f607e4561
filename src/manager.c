/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "manager.h"
#include "slot.h"

/* A Release call waiting for its slot to be free. */
struct waiter {
        manager_release_fn done;
        void *userdata;
        struct waiter *next;
};

struct subscriber {
        const struct slot_hooks *hooks;
        void *userdata;
};

struct manager {
        const struct config *config;
        const struct manager_ops *ops;
        void *ops_ctx;

        struct slot_pool pool;
        struct slot_rec **slots;  /* by slot number; NULL when free */
        struct slot_rec *records; /* every record but FOREIGN ones */
        unsigned n_in_use;

        struct subscriber subscribers[MANAGER_HOOKS_MAX];
        size_t n_subscribers;
        bool started; /* manager_started() */
};

static const char *const phase_names[_SLOT_PHASE_MAX] = {
    [SLOT_ACQUIRING] = "acquiring", [SLOT_LIVE] = "live", [SLOT_RELEASING] = "releasing",
    [SLOT_FAILED] = "failed",       [SLOT_GONE] = "gone", [SLOT_FOREIGN] = "foreign",
};

const char *slot_phase_to_string(enum slot_phase p)
{
        return p < _SLOT_PHASE_MAX ? phase_names[p] : "?";
}

/* The only transitions there are. A record is born ACQUIRING, LIVE
 * (adopted) or FOREIGN, and freed from GONE or FOREIGN. */
static const bool transitions[_SLOT_PHASE_MAX][_SLOT_PHASE_MAX] = {
    [SLOT_ACQUIRING] = {[SLOT_LIVE] = true, [SLOT_FAILED] = true},
    [SLOT_LIVE] = {[SLOT_RELEASING] = true, [SLOT_GONE] = true},
    [SLOT_RELEASING] = {[SLOT_LIVE] = true, [SLOT_GONE] = true},
    [SLOT_FAILED] = {[SLOT_GONE] = true},
};

static const char *const end_names[_SLOT_END_MAX] = {
    [SLOT_END_NONE] = "none",
    [SLOT_END_RELEASE] = "release",
    [SLOT_END_DEVICE_GONE] = "device gone",
    [SLOT_END_GONE_AT_START] = "gone at start",
    [SLOT_END_ACQUIRE_FAILED] = "acquire failed",
};

const char *slot_end_to_string(enum slot_end e)
{
        return e < _SLOT_END_MAX ? end_names[e] : "?";
}

bool slot_phase_transition_valid(enum slot_phase from, enum slot_phase to)
{
        return from < _SLOT_PHASE_MAX && to < _SLOT_PHASE_MAX && transitions[from][to];
}

static bool phase_in_use(enum slot_phase p)
{
        return p == SLOT_ACQUIRING || p == SLOT_LIVE || p == SLOT_RELEASING;
}

static const char *rec_ifname(const struct manager *m, const struct slot_rec *r, char buf[IFNAMSIZ])
{
        if (slot_ifname(m->config, r->slot, buf) < 0)
                strcpy(buf, "?");
        return buf;
}

/* ---- records ---- */

static struct slot_rec *rec_new(struct manager *m, unsigned slot, enum slot_phase phase)
{
        struct slot_rec *r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        r->slot = slot;
        r->phase = phase;
        for (size_t i = 0; i < ELEMENTSOF(r->fds); i++)
                r->fds[i] = -1;
        m->slots[slot] = r;
        if (phase != SLOT_FOREIGN) {
                LIST_PREPEND(records, m->records, r);
                m->n_in_use++;
        }
        return r;
}

static void waiters_done(struct slot_rec *r, int error, const char *op)
{
        struct waiter *w = r->waiters;

        r->waiters = NULL;
        while (w) {
                struct waiter *next = w->next;
                w->done(error, op, w->userdata);
                free(w);
                w = next;
        }
}

/* Forgets a record and returns its slot to the back of the free list. */
static void rec_free(struct manager *m, struct slot_rec *r)
{
        if (r->phase != SLOT_FOREIGN)
                LIST_REMOVE(records, m->records, r);
        if (phase_in_use(r->phase))
                m->n_in_use--;
        m->slots[r->slot] = NULL;
        slot_pool_put(&m->pool, r->slot);
        close_many(r->fds, r->n_fds);
        waiters_done(r, -ESHUTDOWN, "shutdown");
        free(r->label);
        free(r->egress);
        free(r->published);
        free(r);
}

/* ---- the state machine ---- */

static void run_hooks(struct manager *m, struct slot_rec *r, enum slot_phase to)
{
        for (size_t i = 0; i < m->n_subscribers; i++) {
                const struct subscriber *s = &m->subscribers[i];
                if (to == SLOT_LIVE && s->hooks->live)
                        s->hooks->live(r, s->userdata);
                else if ((to == SLOT_GONE || to == SLOT_FAILED) && s->hooks->gone)
                        s->hooks->gone(r, s->userdata);
        }
}

/* Frees a GONE slot once nobody holds it, answering its Release calls. */
static void maybe_free(struct manager *m, struct slot_rec *r)
{
        if (r->phase != SLOT_GONE || r->holds > 0)
                return;
        waiters_done(r, 0, NULL);
        rec_free(m, r);
}

/* Why a slot moving from `from` to FAILED or GONE ended. */
static enum slot_end end_reason(const struct manager *m, enum slot_phase from, enum slot_phase to)
{
        if (to == SLOT_FAILED)
                return SLOT_END_ACQUIRE_FAILED;
        if (from == SLOT_RELEASING)
                return SLOT_END_RELEASE;
        return m->started ? SLOT_END_DEVICE_GONE : SLOT_END_GONE_AT_START;
}

/* Every phase change goes through here. Going live runs the "live"
 * subscribers; ending (FAILED, or GONE from a slot that was handed out)
 * records why and runs the "gone" ones, once. The record may be freed on
 * return from a move to GONE. */
static void set_phase(struct manager *m, struct slot_rec *r, enum slot_phase to)
{
        enum slot_phase from = r->phase;
        char name[IFNAMSIZ];

        assert(slot_phase_transition_valid(from, to));
        log_debug("%s: %s -> %s", rec_ifname(m, r, name), slot_phase_to_string(from),
                  slot_phase_to_string(to));
        if (phase_in_use(from) && !phase_in_use(to))
                m->n_in_use--;
        r->phase = to;
        if (to == SLOT_LIVE && from == SLOT_ACQUIRING) {
                r->was_live = true;
                run_hooks(m, r, to);
        } else if (to == SLOT_FAILED || (to == SLOT_GONE && from != SLOT_FAILED)) {
                r->end = end_reason(m, from, to);
                manager_hold(r); /* a subscriber's unhold must not free it under us */
                run_hooks(m, r, to);
                r->holds--;
        }
        if (to == SLOT_GONE)
                maybe_free(m, r);
}

void manager_hold(struct slot_rec *r)
{
        r->holds++;
}

void manager_unhold(struct manager *m, struct slot_rec *r)
{
        assert(r->holds > 0);
        r->holds--;
        maybe_free(m, r);
}

/* An Acquire failed after its device existed: the device goes with its
 * fds, and manager_link_gone() then frees the slot. */
static void fail_acquire(struct manager *m, struct slot_rec *r, const char *op, int error)
{
        char name[IFNAMSIZ];

        log_error_errno(error, "%s: acquire failed at %s: %m", rec_ifname(m, r, name), op);
        r->acquire_cookie = NULL;
        m->ops->close_fds(m->ops_ctx, r->fds, r->n_fds);
        r->n_fds = 0;
        set_phase(m, r, SLOT_FAILED);
        if (r->device_gone) /* nothing else will say so */
                set_phase(m, r, SLOT_GONE);
}

/* The slot's device is gone, whatever removed it. */
static void device_gone(struct manager *m, struct slot_rec *r)
{
        switch (r->phase) {
        case SLOT_ACQUIRING:
                /* manager_acquire() sees it before the slot goes live. */
                r->device_gone = true;
                return;
        case SLOT_LIVE:
        case SLOT_RELEASING:
        case SLOT_FAILED:
                close_many(r->fds, r->n_fds);
                r->n_fds = 0;
                set_phase(m, r, SLOT_GONE);
                return;
        case SLOT_GONE:
                return;
        case SLOT_FOREIGN:
                rec_free(m, r);
                return;
        case _SLOT_PHASE_MAX:
                break;
        }
        assert(!"unknown slot phase");
}

/* ---- calls ---- */

/* A free slot whose name is free too. Each name found taken is kept out of
 * the free list as FOREIGN, so this ends: at worst when the list is empty. */
static int take_slot(struct manager *m, const struct slot_request *req, const struct tap_options *opts,
                     unsigned *ret_slot, int *fds, int *ret_ifindex, const char **ret_op)
{
        char name[IFNAMSIZ];
        unsigned slot;
        int e;

        for (;;) {
                if (slot_pool_take(&m->pool, &slot) < 0)
                        return -ENOSPC;
                *ret_op = "slot_ifname";
                e = slot_ifname(m->config, slot, name);
                if (e >= 0 && req->clone)
                        e = m->ops->clone_create(m->ops_ctx, slot, name, opts, req->mtu, fds, ret_ifindex,
                                                 ret_op);
                else if (e >= 0)
                        e = m->ops->tap_create(m->ops_ctx, name, opts, fds, ret_ifindex, ret_op);
                if (e >= 0) {
                        *ret_slot = slot;
                        return 0;
                }
                if (e != -EBUSY)
                        break;
                /* Never take over a device someone else made. */
                log_notice("%s: name taken by a device taplinkd did not create; skipping slot %u", name,
                           slot);
                if (!rec_new(m, slot, SLOT_FOREIGN)) {
                        e = -ENOMEM;
                        *ret_op = "malloc";
                        break;
                }
        }
        log_error_errno(e, "%s: %s failed: %m", name, *ret_op);
        slot_pool_put(&m->pool, slot);
        return e;
}

static struct rtnl_link_config link_config(const struct manager *m, const struct slot_rec *r)
{
        const struct config *c = m->config;
        struct rtnl_link_config lc = {
            .ifindex = r->ifindex,
            .mtu = r->mtu,
            .alias = r->label,
            .ipv6 = slot_has_ipv6(c, r->clone),
        };
        struct slot_net4 n4;

        slot_host_mac(r->slot, lc.mac);
        slot_ipv4(c, r->slot, &n4);
        lc.gateway4 = n4.gateway;
        lc.prefix4 = n4.prefix_len;
        if (lc.ipv6) {
                struct slot_net6 n6;
                slot_ipv6(c, r->slot, &n6);
                lc.gateway6 = n6.gateway;
                lc.prefix6 = n6.prefix_len;
        }
        return lc;
}

int manager_acquire(struct manager *m, const struct slot_request *req, void *cookie, struct slot_rec **ret,
                    const char **ret_op)
{
        const struct tap_options opts = {
            .queues = req->queues,
            .vnet_header = req->vnet_header,
            .owner = req->owner,
        };
        int fds[TAP_MAX_QUEUES], ifindex = 0, e;
        struct slot_rec *r;
        unsigned slot;

        assert(req->queues >= 1 && req->queues <= TAP_MAX_QUEUES);
        if (req->clone && !m->ops->clone_create) {
                *ret_op = "clone";
                return -EOPNOTSUPP;
        }
        e = take_slot(m, req, &opts, &slot, fds, &ifindex, ret_op);
        if (e < 0)
                return e;
        r = rec_new(m, slot, SLOT_ACQUIRING);
        if (!r) {
                /* The device goes with its fds; if its name is still taken
                 * when the slot comes round again, it is skipped as foreign. */
                m->ops->close_fds(m->ops_ctx, fds, req->queues);
                slot_pool_put(&m->pool, slot);
                *ret_op = "malloc";
                return -ENOMEM;
        }
        r->ifindex = ifindex;
        r->owner = req->owner;
        r->mtu = req->mtu;
        r->queues = req->queues;
        r->vnet_header = req->vnet_header;
        r->persistent = req->persistent;
        r->clone = req->clone;
        memcpy(r->fds, fds, sizeof(int) * req->queues);
        r->n_fds = req->queues;

        e = -ENOMEM;
        *ret_op = "malloc";
        r->label = req->label ? strdup(req->label) : NULL;
        r->egress =
            req->egress ? egress_policy_dup(req->egress) : egress_policy_new(m->config->default_egress, 0);
        r->published = req->published ? publish_list_dup(req->published) : NULL;
        if ((!req->label || r->label) && r->egress && (!req->published || r->published)) {
                struct rtnl_link_config lc = link_config(m, r);
                *ret_op = "RTM_NEWLINK";
                e = m->ops->configure_link(m->ops_ctx, &lc, ret_op);
        }
        if (e >= 0) {
                *ret_op = "nft batch";
                e = m->ops->add_elements(m->ops_ctx, slot);
        }
        if (e >= 0 && r->device_gone) {
                *ret_op = "device vanished";
                e = -ENODEV;
        }
        if (e < 0) {
                fail_acquire(m, r, *ret_op, e);
                return e;
        }

        /* A persistent slot becomes persistent only as its fds leave (see
         * methods.c): a reply that never goes out must leave nothing
         * behind, and closing a non-persistent TAP's fds does that. */
        r->acquire_cookie = cookie;
        set_phase(m, r, SLOT_LIVE);
        r->acquire_cookie = NULL;
        /* Nobody took the fds: nobody will hold the device. */
        m->ops->close_fds(m->ops_ctx, r->fds, r->n_fds);
        r->n_fds = 0;
        if (ret)
                *ret = r;
        return 0;
}

size_t manager_take_fds(struct slot_rec *r, int *fds)
{
        size_t n = r->n_fds;

        memcpy(fds, r->fds, sizeof(int) * n);
        for (size_t i = 0; i < n; i++)
                r->fds[i] = -1;
        r->n_fds = 0;
        return n;
}

int manager_release(struct manager *m, struct slot_rec *r, manager_release_fn done, void *userdata)
{
        struct waiter *w;
        int e;

        if (r->phase != SLOT_LIVE && r->phase != SLOT_RELEASING)
                return -ENOENT;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        if (r->phase == SLOT_LIVE) {
                e = m->ops->delete_link(m->ops_ctx, r->ifindex, r->slot);
                if (e < 0) {
                        free(w);
                        return e;
                }
                set_phase(m, r, SLOT_RELEASING);
        }
        w->done = done;
        w->userdata = userdata;
        w->next = r->waiters;
        r->waiters = w;
        return 0;
}

int manager_change_egress(struct manager *m, struct slot_rec *r, struct egress_policy *p)
{
        int e;

        if (r->phase != SLOT_LIVE)
                return -ENOENT;
        e = m->ops->set_egress(m->ops_ctx, r, p);
        if (e < 0)
                return e;
        manager_slot_changed(m, r);
        return 0;
}

int manager_change_published(struct manager *m, struct slot_rec *r, struct publish_list *l)
{
        int e;

        if (r->phase != SLOT_LIVE)
                return -ENOENT;
        e = m->ops->set_published(m->ops_ctx, r, l);
        if (e < 0)
                return e;
        manager_slot_changed(m, r);
        return 0;
}

void manager_slot_changed(struct manager *m, struct slot_rec *r)
{
        assert(r->phase == SLOT_LIVE);
        for (size_t i = 0; i < m->n_subscribers; i++)
                if (m->subscribers[i].hooks->changed)
                        m->subscribers[i].hooks->changed(r, m->subscribers[i].userdata);
}

/* ---- kernel events ---- */

void manager_link_gone(struct manager *m, int ifindex, const char *ifname)
{
        struct slot_rec *r;
        unsigned slot;

        if (slot_from_ifname(m->config, ifname, &slot) < 0)
                return;
        r = m->slots[slot];
        /* A foreign device holding a slot's name has no ifindex of ours. */
        if (!r || (r->phase != SLOT_FOREIGN && r->ifindex != ifindex))
                return;
        log_debug("%s: device gone (ifindex %d)", ifname, ifindex);
        device_gone(m, r);
}

void manager_links_present(struct manager *m, const int *ifindexes, size_t n)
{
        VEC(unsigned) missing = {0};
        struct slot_rec *r;

        /* First the list, then the events: a "gone" subscriber may free
         * other records (a commit answering several at once). */
        LIST_FOREACH(records, r, m->records)
        if (r->phase != SLOT_GONE && !bsearch(&r->ifindex, ifindexes, n, sizeof(int), cmp_int) &&
            VEC_PUSH(&missing, r->slot) < 0) {
                log_error("out of memory after lost link events; some slots stay until restart");
                break;
        }
        for (size_t i = 0; i < missing.n; i++) {
                r = m->slots[missing.items[i]];
                if (r && r->phase != SLOT_GONE)
                        device_gone(m, r);
        }
        VEC_FREE(&missing);
}

void manager_link_delete_failed(struct manager *m, int ifindex, unsigned slot, int error)
{
        struct slot_rec *r;
        char name[IFNAMSIZ];

        if (slot >= m->config->effective_max_slots)
                return;
        r = m->slots[slot];
        /* The slot may have gone and come back as another device since. */
        if (!r || r->ifindex != ifindex || r->phase != SLOT_RELEASING)
                return;
        log_error_errno(error, "%s: RTM_DELLINK failed: %m", rec_ifname(m, r, name));
        set_phase(m, r, SLOT_LIVE);
        waiters_done(r, error, "RTM_DELLINK");
}

int manager_adopt(struct manager *m, const struct rtnl_tap_info *info)
{
        struct slot_rec *r;
        uint8_t mac[6];
        unsigned slot;

        if (slot_from_ifname(m->config, info->ifname, &slot) < 0) {
                log_notice(
                    "%s: has the prefix \"%s\" but is not a slot of this configuration; leaving it alone",
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
                return rec_new(m, slot, SLOT_FOREIGN) ? 0 : -ENOMEM;
        }

        r = rec_new(m, slot, SLOT_ACQUIRING);
        if (!r)
                return -ENOMEM;
        r->ifindex = info->ifindex;
        r->owner = info->has_owner ? info->owner : 0;
        r->mtu = info->mtu;
        r->queues = info->queues ? info->queues : 1;
        r->vnet_header = info->vnet_header;
        r->persistent = info->persist;
        r->clone = info->clone;
        if (info->alias[0]) {
                r->label = strdup(info->alias);
                if (!r->label)
                        return -ENOMEM; /* start-up fails; manager_free() takes it */
        }
        log_debug("%s: adopted (owner %u, label \"%s\", %u queues%s%s)", info->ifname, (unsigned)r->owner,
                  info->alias, r->queues, r->vnet_header ? ", vnet header" : "",
                  r->persistent ? ", persistent" : "");
        set_phase(m, r, SLOT_LIVE);
        return 0;
}

void manager_started(struct manager *m)
{
        m->started = true;
}

/* ---- queries and life ---- */

struct slot_rec *manager_slot(const struct manager *m, unsigned slot)
{
        return slot < m->config->effective_max_slots ? m->slots[slot] : NULL;
}

struct slot_rec *manager_records(const struct manager *m)
{
        return m->records;
}

static int cmp_slot_rec(const void *a, const void *b)
{
        const struct slot_rec *x = *(struct slot_rec *const *)a, *y = *(struct slot_rec *const *)b;
        return x->slot < y->slot ? -1 : x->slot > y->slot;
}

ssize_t manager_records_by_slot(const struct manager *m, struct slot_rec ***ret)
{
        _cleanup_free_ struct slot_rec **v = NULL;
        struct slot_rec *r;
        size_t n = 0;

        LIST_FOREACH(records, r, m->records)
        n++;
        if (n > 0) {
                v = calloc(n, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                n = 0;
                LIST_FOREACH(records, r, m->records)
                v[n++] = r;
                qsort(v, n, sizeof(*v), cmp_slot_rec);
        }
        *ret = TAKE_PTR(v);
        return (ssize_t)n;
}

void manager_set_egress(struct slot_rec *r, struct egress_policy *p)
{
        free(r->egress);
        r->egress = p;
}

void manager_set_published(struct slot_rec *r, struct publish_list *l)
{
        free(r->published);
        r->published = l;
}

unsigned manager_slots_in_use(const struct manager *m)
{
        return m->n_in_use;
}

const struct config *manager_config(const struct manager *m)
{
        return m->config;
}

int manager_subscribe(struct manager *m, const struct slot_hooks *hooks, void *userdata)
{
        if (m->n_subscribers == ELEMENTSOF(m->subscribers))
                return -E2BIG;
        m->subscribers[m->n_subscribers++] = (struct subscriber){hooks, userdata};
        return 0;
}

void manager_unsubscribe(struct manager *m, const struct slot_hooks *hooks, void *userdata)
{
        for (size_t i = 0; i < m->n_subscribers; i++)
                if (m->subscribers[i].hooks == hooks && m->subscribers[i].userdata == userdata) {
                        memmove(m->subscribers + i, m->subscribers + i + 1,
                                (m->n_subscribers - i - 1) * sizeof(m->subscribers[0]));
                        m->n_subscribers--;
                        return;
                }
}

int manager_new(const struct config *config, const struct manager_ops *ops, void *ops_ctx,
                struct manager **ret)
{
        struct manager *m = calloc(1, sizeof(*m));
        int e;

        if (!m)
                return -ENOMEM;
        m->config = config;
        m->ops = ops;
        m->ops_ctx = ops_ctx;
        e = slot_pool_init(&m->pool, config->effective_max_slots);
        if (e < 0)
                goto fail;
        m->slots = calloc(config->effective_max_slots, sizeof(*m->slots));
        if (!m->slots) {
                e = -ENOMEM;
                goto fail;
        }
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
        if (m->slots)
                for (unsigned i = 0; i < m->config->effective_max_slots; i++)
                        if (m->slots[i])
                                rec_free(m, m->slots[i]);
        free(m->slots);
        slot_pool_done(&m->pool);
        free(m);
}

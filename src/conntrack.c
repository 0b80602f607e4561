/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conntrack.h"
#include "ctnetlink.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

/* Measured (kernel 6.18, 2 vCPUs; bench/conntrack.c), the two ways to
 * delete a slot's entries: the kernel's filtered flush walks the whole
 * table once per request, nothing copied: about 0.1 ms each in an empty
 * table, 1 ms with 10,000 entries, so a slot's four IPv4 fields cost 0.4
 * to 4 ms; a dump walks every hash bucket and copies and parses every
 * entry of its family: about 2 ms empty, 15 ms with 10,000 entries,
 * however many slots it serves. So the IPv4 entries of slots that end
 * alone are flushed, and a burst of more than FLUSH_SLOTS_MAX is served by
 * one dump. IPv6 entries are always found by a dump of IPv6 alone: the
 * kernel's IPv6 flush filter cannot be used (src/conntrack-build.h). */
#define FLUSH_SLOTS_MAX 2

struct conntrack {
        struct manager *manager;
        const struct config *config;
        struct ctnetlink *nl;
        bool filtered_flush; /* the kernel takes CTA_FILTER on a delete */

        VEC(struct slot_rec *) held; /* gone, waiting for their deletion */
        sd_event_source *flush_source;
};

/* ---- slots that end ---- */

static int flush_slots(struct conntrack *ct, struct slot_rec **held, size_t n)
{
        unsigned slots[FLUSH_SLOTS_MAX];

        for (size_t i = 0; i < n; i++)
                slots[i] = held[i]->slot;
        return ctnetlink_flush4(ct->nl, slots, n);
}

static bool is_held(unsigned slot, void *userdata)
{
        struct conntrack *ct = userdata;

        for (size_t i = 0; i < ct->held.n; i++)
                if (ct->held.items[i]->slot == slot)
                        return true;
        return false;
}

static int all_families(const struct conntrack *ct)
{
        return ct->config->ipv6 ? AF_UNSPEC : AF_INET;
}

static int delete_held(struct conntrack *ct, struct slot_rec **held, size_t n)
{
        int e;

        if (n <= FLUSH_SLOTS_MAX && ct->filtered_flush) {
                e = flush_slots(ct, held, n);
                if (e != -EINVAL && e != -EOPNOTSUPP) {
                        /* IPv6 even when IPv4 failed: as much as we can. */
                        int e6 = ct->config->ipv6 ? ctnetlink_dump_delete(ct->nl, AF_INET6, is_held, ct) : 0;
                        return e < 0 ? e : e6;
                }
                /* Before Linux 6.3 a delete does not take CTA_FILTER. */
                log_notice("conntrack: the kernel has no filtered flush (%s); dumping instead",
                           strerror(-e));
                ct->filtered_flush = false;
        }
        return ctnetlink_dump_delete(ct->nl, all_families(ct), is_held, ct);
}

/* Deletes the entries of the slots gone so far, then frees the slots
 * whatever came of it: a failure is logged, and what stays behind expires
 * by its own timeout or goes at the next start-up. */
static void flush(struct conntrack *ct)
{
        struct slot_rec **held = ct->held.items;
        size_t n = ct->held.n;
        uint64_t t0;
        int e;

        if (n == 0)
                return;
        t0 = now_usec();
        e = delete_held(ct, held, n);
        log_debug("tap slot %u%s: conntrack entries deleted in %.2f ms", held[0]->slot,
                  n > 1 ? " and others" : "", (double)(now_usec() - t0) / 1000.0);
        if (e < 0) {
                if (n == 1)
                        log_error_errno(e, "tap slot %u: deleting its conntrack entries failed: %m",
                                        held[0]->slot);
                else
                        log_error_errno(
                            e, "deleting the conntrack entries of %zu slots (slot %u, ...) failed: %m", n,
                            held[0]->slot);
        }
        ct->held = (typeof(ct->held)){0};
        sd_event_source_set_enabled(ct->flush_source, SD_EVENT_OFF);
        for (size_t i = 0; i < n; i++)
                manager_unhold(ct->manager, held[i]);
        free(held);
}

static int on_flush(sd_event_source *s, void *userdata)
{
        flush(userdata);
        return 0;
}

static void on_gone(struct slot_rec *r, void *userdata)
{
        struct conntrack *ct = userdata;

        /* Even a slot that never went live had its addresses routed, so
         * traffic from outside may have made entries. */
        if (VEC_PUSH(&ct->held, r) < 0) {
                log_error("tap slot %u: out of memory queueing the deletion of its conntrack entries; "
                          "they expire by their timeouts",
                          r->slot);
                return;
        }
        manager_hold(r);
        sd_event_source_set_enabled(ct->flush_source, SD_EVENT_ONESHOT);
}

static const struct slot_hooks hooks = {
    .name = "conntrack",
    .gone = on_gone,
};

/* ---- start-up ---- */

static bool is_not_live(unsigned slot, void *userdata)
{
        struct slot_rec *r = manager_slot(userdata, slot);
        return !r || r->phase != SLOT_LIVE;
}

int conntrack_reconcile(struct conntrack *ct)
{
        int e = ctnetlink_dump_delete(ct->nl, all_families(ct), is_not_live, ct->manager);

        if (e < 0)
                return log_error_errno(e, "conntrack: deleting the entries of slots not live failed: %m");
        log_info("reconciled: %d conntrack entries of slots not live deleted", e);
        return 0;
}

/* ---- life ---- */

int conntrack_new(sd_event *event, struct manager *m, struct conntrack **ret)
{
        struct conntrack *ct = calloc(1, sizeof(*ct));
        int e;

        if (!ct)
                return -ENOMEM;
        ct->manager = m;
        ct->config = manager_config(m);
        ct->filtered_flush = true;
        e = ctnetlink_open(ct->config, &ct->nl);
        /* Normal priority, as the element deletions: after the rest of a
         * burst of events, never put off for ever. */
        if (e >= 0)
                e = sd_event_add_defer(event, &ct->flush_source, on_flush, ct);
        if (e >= 0)
                e = sd_event_source_set_enabled(ct->flush_source, SD_EVENT_OFF);
        if (e >= 0)
                e = manager_subscribe(m, &hooks, ct);
        if (e < 0) {
                sd_event_source_disable_unref(ct->flush_source);
                ctnetlink_close(ct->nl);
                free(ct);
                return e;
        }
        *ret = ct;
        return 0;
}

void conntrack_free(struct conntrack *ct)
{
        if (!ct)
                return;
        flush(ct);
        manager_unsubscribe(ct->manager, &hooks, ct);
        sd_event_source_disable_unref(ct->flush_source);
        ctnetlink_close(ct->nl);
        VEC_FREE(&ct->held);
        free(ct);
}

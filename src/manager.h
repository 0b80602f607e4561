/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "egress.h"
#include "protocol.h"
#include "publish.h"
#include "rtnl.h"
#include "tap.h"

/* The slot state machine (docs/DESIGN.md, "Modules and the slot lifecycle").
 *
 * The manager owns the slot records and their phases, and nothing else: the
 * kernel work a slot needs goes through struct manager_ops, and everything
 * that follows from a slot's life (set elements, the Acquire reply, quotas,
 * STATUS=) subscribes to its lifecycle with manager_subscribe(). Kernel
 * events come back through manager_link_gone() and friends.
 *
 * A slot's journey:
 *
 *   ACQUIRING -> LIVE -> RELEASING -> GONE -> (free)
 *       |          |  <-----'           ^
 *       |          '--------------------'
 *       '--> FAILED ------------------'
 *
 *   ACQUIRING  its device is being made and configured (manager_acquire)
 *   LIVE       configured, elements committed, handed out (or adopted)
 *   RELEASING  Release asked for the device to be deleted
 *   FAILED     an Acquire failed after the device existed; its fds are
 *              closing, so the device goes and manager_link_gone() follows
 *   GONE       the device is gone; the record waits for its holds (e.g. the
 *              element deletion) and then returns the slot to the free list
 *   FOREIGN    a device taplinkd did not make holds the slot's name; the
 *              slot stays out of the free list until that device goes */
enum slot_phase {
        SLOT_ACQUIRING,
        SLOT_LIVE,
        SLOT_RELEASING,
        SLOT_FAILED,
        SLOT_GONE,
        SLOT_FOREIGN,
        _SLOT_PHASE_MAX,
};

/* Why a slot ended, for "gone" subscribers (set as it goes GONE or FAILED). */
enum slot_end {
        SLOT_END_NONE,           /* still in use */
        SLOT_END_RELEASE,        /* Release deleted the device */
        SLOT_END_DEVICE_GONE,    /* its fds were closed (the VMM exited), or someone deleted it */
        SLOT_END_GONE_AT_START,  /* adopted at start-up, gone before the daemon served */
        SLOT_END_ACQUIRE_FAILED, /* never went live */
        _SLOT_END_MAX,
};

/* What subscribers may read. Everything else is the manager's. */
struct slot_rec {
        unsigned slot;
        enum slot_phase phase;
        int ifindex;
        uid_t owner;
        char *label; /* NULL or a valid label */
        unsigned mtu;
        unsigned queues;
        bool vnet_header;
        bool persistent;
        bool clone;        /* in a namespace of its own (docs/DESIGN.md, "Clone slots") */
        bool was_live;     /* "gone" subscribers: it went live before */
        enum slot_end end; /* "gone" subscribers: why it ended */
        /* Its egress policy (docs/DESIGN.md, "Egress policy"); NULL only
         * for an adopted slot before reconcile read it from the kernel. */
        struct egress_policy *egress;
        /* Its published ports (docs/DESIGN.md, "Published ports"); NULL:
         * none. */
        struct publish_list *published;

        /* The caller's cookie while an Acquire runs (manager_acquire). */
        void *acquire_cookie;

        /* The manager's own. */
        int fds[TAP_MAX_QUEUES];
        unsigned n_fds;
        unsigned holds;
        bool device_gone; /* the device went while ACQUIRING or FAILED */
        bool making;      /* ACQUIRING, its device being made (make_device) */
        bool verify;      /* events were lost while making: check the name */
        int gone_ifindex; /* RTM_DELLINK for the slot's name while making */
        struct waiter *waiters;
        struct slot_rec *records_next, *records_prev;
};

/* At most this many Acquires wait for their devices at once
 * (manager_ops.make_device takes that many). */
#define MANAGER_MAKING_MAX 4

/* A slot's device to make off the event loop (manager_ops.make_device):
 * tap_create() and rtnl_configure_link() with these arguments. */
struct device_job {
        unsigned slot;
        char name[IFNAMSIZ];
        struct tap_options opts;
        struct rtnl_link_config lc; /* ifindex and alias are set there */
        char alias[TAPLINKD_LABEL_MAX + 1];
};

/* What came of it (manager_device_made()). */
struct device_made {
        unsigned slot;
        int error;      /* 0, or -errno with op naming the step */
        const char *op; /* a static string */
        int ifindex;
        int fds[TAP_MAX_QUEUES];
        unsigned n_fds;
};

/* The kernel work of a slot. `ctx` is manager_new()'s ops_ctx. Each call
 * names the failing step in *ret_op (for KernelError) when it fails. */
struct manager_ops {
        /* Makes the TAP `name` and opens its queues. -EBUSY: a device
         * taplinkd did not make holds the name. */
        int (*tap_create)(void *ctx, const char *name, const struct tap_options *opts, int *fds,
                          int *ret_ifindex, const char **ret_op);
        /* A clone slot's device (docs/DESIGN.md, "Clone slots"): its
         * namespace `name`, configured, with the TAP inside (fds) and the
         * veth whose host end `name` is *ret_ifindex. -EBUSY as tap_create.
         * NULL: clone slots are off. */
        int (*clone_create)(void *ctx, unsigned slot, const char *name, const struct tap_options *opts,
                            unsigned mtu, int *fds, int *ret_ifindex, const char **ret_op);
        /* MAC, MTU, addresses, alias, up. */
        int (*configure_link)(void *ctx, const struct rtnl_link_config *lc, const char **ret_op);
        /* Optional: tap_create and configure_link off the event loop
         * (docs/DESIGN.md, "Performance"); the result comes back by
         * manager_device_made(). -EBUSY when too many are in flight.
         * With it, name_in_use tells a foreign device by its name first. */
        int (*make_device)(void *ctx, const struct device_job *job);
        bool (*name_in_use)(void *ctx, const char *name);
        /* Commits the slot's set elements, now. */
        int (*add_elements)(void *ctx, unsigned slot);
        /* Replaces a live slot's egress policy in one commit; on success p
         * is r's (manager_set_egress()). */
        int (*set_egress)(void *ctx, struct slot_rec *r, struct egress_policy *p);
        /* The same for its published ports (manager_set_published()). */
        int (*set_published)(void *ctx, struct slot_rec *r, struct publish_list *l);
        /* Deletes the device off the event loop. A failure comes back by
         * manager_link_delete_failed(), a success as manager_link_gone(). */
        int (*delete_link)(void *ctx, int ifindex, unsigned slot);
        /* Closes fds off the event loop: closing a TAP's last fd deletes
         * the device, which can take milliseconds. Takes the fds. */
        void (*close_fds)(void *ctx, int *fds, size_t n);
};

/* Lifecycle subscribers. Each callback may be NULL. */
struct slot_hooks {
        const char *name;
        /* The slot is live: its device is configured and its elements are
         * committed (after an Acquire, or adopted at start-up). */
        void (*live)(struct slot_rec *r, void *userdata);
        /* A live slot's settings changed (manager_slot_changed()). */
        void (*changed)(struct slot_rec *r, void *userdata);
        /* The slot ended, by any path: Release, its fds closed, someone
         * deleted the device, or its Acquire failed (then was_live is
         * false). Fires once per slot. A subscriber with work still to do
         * takes manager_hold() and gives it back with manager_unhold():
         * the slot number is reused and Release answered only then. */
        void (*gone)(struct slot_rec *r, void *userdata);
};

struct manager;

int manager_new(const struct config *config, const struct manager_ops *ops, void *ops_ctx,
                struct manager **ret);
/* Frees every record without calling any hook or op; fds still held are
 * closed, pending Release callbacks get -ESHUTDOWN. */
void manager_free(struct manager *m);

/* At most MANAGER_HOOKS_MAX subscribers; -E2BIG beyond. `hooks` must
 * outlive the manager. */
#define MANAGER_HOOKS_MAX 8
int manager_subscribe(struct manager *m, const struct slot_hooks *hooks, void *userdata);
void manager_unsubscribe(struct manager *m, const struct slot_hooks *hooks, void *userdata);

/* ---- calls ---- */

struct slot_request {
        uid_t owner;
        const char *label; /* copied */
        unsigned mtu;
        unsigned queues;
        bool vnet_header;
        bool persistent;
        bool clone;
        const struct egress_policy *egress;   /* copied; NULL: default_egress */
        const struct publish_list *published; /* copied; NULL: none */
};

/* Makes a slot: a device, its configuration, its elements; then the slot
 * goes live and the "live" subscribers run with r->acquire_cookie ==
 * cookie (one of them takes the fds: manager_take_fds()). Returns 0 and
 * the slot, or -ENOSPC (no slot free) or another -errno with *ret_op
 * naming the step that failed. With ops->make_device (and not a clone
 * slot) it returns 1 instead once the device is being made: the rest
 * happens in manager_device_made(), which ends with the acquire_done
 * callback (manager_set_acquire_done()). */
int manager_acquire(struct manager *m, const struct slot_request *req, void *cookie, struct slot_rec **ret,
                    const char **ret_op);

/* How an Acquire that returned 1 ended: 0 once it went live (after the
 * "live" subscribers), else -errno and the step that failed. */
typedef void (*manager_acquire_done_fn)(int error, const char *op, void *cookie, void *userdata);
void manager_set_acquire_done(struct manager *m, manager_acquire_done_fn done, void *userdata);

/* Moves the fds of a slot going live to the caller (who sends them). */
size_t manager_take_fds(struct slot_rec *r, int *fds);

/* Called once the slot is free again (error 0), or with the error of the
 * device deletion (the slot stays live), or -ESHUTDOWN. */
typedef void (*manager_release_fn)(int error, const char *op, void *userdata);

/* Starts releasing a live slot; `done` is called once. A slot already
 * releasing gets one more waiter. -ENOENT: not live. */
int manager_release(struct manager *m, struct slot_rec *r, manager_release_fn done, void *userdata);

/* SetEgress: gives a live slot policy p (taken over on success) and runs
 * the "changed" subscribers. -ENOENT: not live. */
int manager_change_egress(struct manager *m, struct slot_rec *r, struct egress_policy *p);
/* Publish, Unpublish: gives a live slot the ports l (taken over on
 * success) and runs the "changed" subscribers. */
int manager_change_published(struct manager *m, struct slot_rec *r, struct publish_list *l);

/* A live slot's settings changed: runs the "changed" subscribers. */
void manager_slot_changed(struct manager *m, struct slot_rec *r);

void manager_hold(struct slot_rec *r);
void manager_unhold(struct manager *m, struct slot_rec *r);

/* ---- kernel events ---- */

/* ops->make_device's result. */
void manager_device_made(struct manager *m, const struct device_made *made);
/* RTM_DELLINK for a device named like a slot. */
void manager_link_gone(struct manager *m, int ifindex, const char *ifname);
/* After lost events: the ifindexes of the slot devices that exist,
 * sorted; every other slot's device is gone. */
void manager_links_present(struct manager *m, const int *ifindexes, size_t n);
/* manager_ops.delete_link failed for this slot. */
void manager_link_delete_failed(struct manager *m, int ifindex, unsigned slot, int error);
/* Start-up: a device named with the prefix exists. A slot device with
 * its slot's MAC becomes a live slot (the "live" subscribers run);
 * another is kept out of the free list. */
int manager_adopt(struct manager *m, const struct rtnl_tap_info *info);

/* Start-up is over: a slot whose device goes from now on ended while the
 * daemon served (SLOT_END_DEVICE_GONE, not SLOT_END_GONE_AT_START). */
void manager_started(struct manager *m);

/* ---- queries ---- */

/* The record of a slot number, or NULL; FOREIGN ones too. */
struct slot_rec *manager_slot(const struct manager *m, unsigned slot);
/* Every record with a device of ours (not FOREIGN), newest first. */
struct slot_rec *manager_records(const struct manager *m);
/* The same records as an array sorted by slot number (what List and
 * Monitor report). *ret is malloc'd (free() it, not the records); NULL
 * when there are none. Returns how many, or -ENOMEM. */
/* Replaces r's egress policy with p (taken over; freed with the record). */
void manager_set_egress(struct slot_rec *r, struct egress_policy *p);
/* Replaces r's published ports with l (taken over; NULL: none). */
void manager_set_published(struct slot_rec *r, struct publish_list *l);
ssize_t manager_records_by_slot(const struct manager *m, struct slot_rec ***ret);
/* Slots acquiring, live or releasing. */
unsigned manager_slots_in_use(const struct manager *m);
const struct config *manager_config(const struct manager *m);

const char *slot_phase_to_string(enum slot_phase p);
const char *slot_end_to_string(enum slot_end e);
/* Whether the state machine may go from `from` to `to`. */
bool slot_phase_transition_valid(enum slot_phase from, enum slot_phase to);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "manager.h"
#include "varlink.h"

/* The io.taplinkd methods (docs/io.taplinkd.varlink): parameter checks,
 * who may call what (docs/DESIGN.md, "Who may do what"), the JSON of a
 * Slot, and the queue Acquires wait in. Subscribes to the slot lifecycle
 * for the Acquire reply and the per-uid quota. */

struct methods;

/* acquire_queued (may be NULL) is told each time an Acquire is queued, so
 * that deletions can give way to it. */
int methods_new(sd_event *event, struct manager *m, void (*acquire_queued)(void *ctx), void *ctx,
                struct methods **ret);
/* Status reports the guest services' drops from g. */
struct guest;
void methods_set_guest(struct methods *mt, const struct guest *g);
/* Monitor streams go to mon (without one, Monitor is MethodNotFound). */
struct monitor;
void methods_set_monitor(struct methods *mt, struct monitor *mon);

/* List(counters: true) reads the counters through fn (counters_collect()
 * with the daemon's sockets); without one, every counter is 0. */
struct counters_table;
typedef int (*methods_counters_fn)(void *ctx, struct counters_table *ret, const char **ret_op);
void methods_set_counters(struct methods *mt, methods_counters_fn fn, void *ctx);

/* Which clone slot a TAP fd belongs to (every clone slot's TAP has the
 * same name, in its own namespace): kernel_clone_slot_of_tap(). Without
 * one, no clone slot is made persistent as its fds leave. */
typedef int (*methods_clone_slot_fn)(void *ctx, int tap_fd, unsigned *ret_slot);
void methods_set_clone_slot(struct methods *mt, methods_clone_slot_fn fn, void *ctx);

/* Answers the Acquires still queued with KernelError("shutdown"). */
void methods_free(struct methods *mt);

/* varlink_method_handler / varlink_disconnect_handler; userdata is the
 * struct methods. */
void methods_on_call(struct varlink_conn *conn, const struct varlink_call *call, void *userdata);
void methods_on_disconnect(struct varlink_conn *conn, void *userdata);
/* varlink_send_fds_handler: makes a persistent slot's TAP persistent as
 * its fds are handed over, and not persistent again if they were not. */
int methods_on_send_fds(const int *fds, size_t n_fds, bool sending, void *userdata);

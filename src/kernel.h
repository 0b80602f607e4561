/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "manager.h"

/* The kernel side of the slot state machine: the real manager_ops (TAP
 * devices, rtnetlink, the nft element batches, the reaper), the link
 * monitor whose events go back to the manager, and the firewall that
 * restores the table when someone else removes it. */

struct kernel;

extern const struct manager_ops kernel_ops;

/* Opens the netlink sockets and starts the reaper. */
int kernel_new(sd_event *event, const struct config *c, struct kernel **ret);

/* Checks the kernel's TUN features, starts the link monitor and the
 * firewall, ensures the nftables ruleset and the forwarding sysctls, adopts
 * live devices and makes the set elements exact. Subscribers of m must be
 * in place: adopted slots go live. Logs what fails; returns -errno. */
int kernel_start(struct kernel *k, struct manager *m);

/* For methods_new(): an Acquire is queued, deletions give way. */
void kernel_acquire_queued(void *ctx);

/* methods_counters_fn: the counters of every slot, from one link dump
 * and one dump of dropped_spoofed (docs/DESIGN.md, "Counters"). */
struct counters_table;
int kernel_counters(void *ctx, struct counters_table *ret, const char **ret_op);

/* methods_clone_slot_fn: the clone slot of a TAP fd (clone_slot_of_tap()),
 * -ENOENT without clone slots. */
int kernel_clone_slot_of_tap(void *ctx, int tap_fd, unsigned *ret_slot);

/* varlink_close_fds_handler: a reply's fds that never left, closed on
 * the reaper (closing a TAP's last fd deletes it). */
void kernel_close_fds(int *fds, size_t n, void *ctx);

/* Stops the firewall, commits the element deletions gathered (their slots
 * are then free) and stops the reaper once it has finished its work. */
void kernel_stop(struct kernel *k);
void kernel_free(struct kernel *k);

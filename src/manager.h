/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "varlink.h"

/* The slot lifecycle (docs/DESIGN.md, "The kernel is the state"): acquire, release, the RTM_DELLINK path that
 * frees a slot whatever removed its device, the start-up reconcile, and
 * --cleanup. The kernel is the state: everything here can be rebuilt from
 * a link dump and a set-element dump. */

struct manager;

int manager_new(sd_event *event, const struct config *config, struct manager **ret);

/* Checks the kernel's TUN features, starts the link monitor, ensures the
 * nftables ruleset, applies the forwarding sysctls, adopts live devices and
 * removes or restores set elements. Logs what fails; returns -errno. */
int manager_start(struct manager *m);

/* Varlink handlers (varlink_method_handler / varlink_disconnect_handler);
 * userdata is the manager. */
void manager_on_call(struct varlink_conn *conn, const struct varlink_call *call, void *userdata);
void manager_on_disconnect(struct varlink_conn *conn, void *userdata);
/* varlink_send_fds_handler: makes a persistent slot's TAP persistent as
 * its fds are handed over, and not persistent again if they were not. */
int manager_on_send_fds(const int *fds, size_t n_fds, bool sending, void *userdata);

unsigned manager_slots_in_use(const struct manager *m);

/* Answers what is pending (with an error) and frees. Live slots stay. */
void manager_free(struct manager *m);

/* taplinkd --cleanup: deletes every TAP device named like a slot and the
 * nftables table, then returns. */
int manager_cleanup(const struct config *config);

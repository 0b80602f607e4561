/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "manager.h"

/* Nothing inherited (docs/DESIGN.md, "Nothing inherited"): when a slot is
 * gone, every conntrack entry that carries one of its guest addresses is
 * deleted before the slot number can be handed out again. A "gone"
 * subscriber that holds the slot until the deletion is done; slots that
 * end together share one pass. At start-up, one dump removes the entries
 * of every slot that is not live. */

struct conntrack;

/* Opens the ctnetlink socket and subscribes to m's lifecycle. */
int conntrack_new(sd_event *event, struct manager *m, struct conntrack **ret);
/* Does the deletions still gathered (their slots are then free) and
 * unsubscribes. */
void conntrack_free(struct conntrack *ct);

/* Start-up, after adoption: deletes every entry that carries the guest
 * address of a slot that is not live. Logs what fails; returns -errno. */
int conntrack_reconcile(struct conntrack *ct);

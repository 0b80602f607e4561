/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "manager.h"

/* STATUS= for `systemctl status` ("N of M slots in use"), kept current by
 * subscribing to the slot lifecycle and sent at most every 250 ms, so that
 * a burst of Acquires does not cost a datagram (and a wake-up of PID 1)
 * each (docs/DESIGN.md, "Notifications to systemd"). */

struct status;

int status_new(sd_event *event, struct manager *m, struct status **ret);
/* Sends the current count now. */
void status_send(struct status *st);
void status_free(struct status *st);

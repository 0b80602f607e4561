/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* Notifications to systemd (sd_notify(3)'s protocol) that never hold the
 * event loop for longer than a bound: see docs/DESIGN.md, "Notifications to
 * systemd", and the top of src/notify.c for what was measured.
 *
 * There is one notify socket per process, as there is one $NOTIFY_SOCKET:
 * the functions below act on it, and do nothing while it is not open. */

/* How long READY=1 and STOPPING=1 wait, at most, for room in the
 * receiver's queue. */
#define NOTIFY_WAIT_USEC (1000 * 1000)
/* How often what could not be sent is tried again while the receiver's
 * queue stays full. */
#define NOTIFY_RETRY_USEC (200 * 1000)

struct notify_params {
        /* "/path" or "@abstract name", as in $NOTIFY_SOCKET. */
        const char *address;
        uint64_t wait_usec;
        uint64_t retry_usec;
        /* WATCHDOG=1 every half of this; 0: none. */
        uint64_t watchdog_usec;
};

/* Opens the notify socket named by $NOTIFY_SOCKET, and sends WATCHDOG=1
 * from a timer on event when $WATCHDOG_USEC asks for it (sd_watchdog_enabled(3)).
 * 1 when open, 0 when $NOTIFY_SOCKET is unset (nothing to notify), -errno
 * when the address is unusable (a relative path, too long, vsock) or the
 * socket cannot be made: nothing is open then. Never logs. */
int notify_open(sd_event *event);
/* The same with everything spelled out (the unit test). */
int notify_open_with(sd_event *event, const struct notify_params *params);
/* Drops whatever is still unsent. */
void notify_close(void);

/* STATUS=: never waits. When the receiver's queue is full, the text is
 * kept, replaced by any later one, and sent every retry_usec until there is
 * room: the receiver gets the latest status, not every one. */
void notify_set_status(const char *format, ...) _printf_(1, 2);

/* READY=1, together with a kept STATUS=. Waits up to wait_usec for room
 * (the wait ends as soon as the receiver reads). 0 when sent (or nothing is
 * open); -EAGAIN when the bound passed: READY=1 is then kept and sent as
 * STATUS= is, without waiting; another -errno when the receiver is gone
 * (dropped). The caller logs. */
int notify_ready(void);
/* STOPPING=1, as notify_ready(). */
int notify_stopping(void);

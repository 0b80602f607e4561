/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "manager.h"

/* Makes slot devices off the event loop (docs/DESIGN.md, "Performance"):
 * one worker thread with an rtnetlink socket of its own creates the TAP
 * (TUNSETIFF) and configures its link (rtnl_configure_link()), the two
 * steps of an Acquire that hold the kernel's rtnl mutex, while the event
 * loop goes on with the previous Acquire's nft commit and reply, and reads
 * the next request. Jobs are done one at a time, in the order submitted;
 * at most MAKER_IN_FLIGHT wait or run. Each result comes back on the event
 * loop. */

#define MAKER_IN_FLIGHT MANAGER_MAKING_MAX

struct maker;

typedef void (*maker_done_fn)(struct device_made *made, void *userdata);

int maker_new(sd_event *event, maker_done_fn done, void *userdata, struct maker **ret);

/* Queues a job (copied). -EBUSY when MAKER_IN_FLIGHT are in flight. */
int maker_submit(struct maker *mk, const struct device_job *job);

/* Stops the worker after the job it is doing; results not delivered yet
 * have their fds closed (the devices go with them). NULL is fine. */
void maker_free(struct maker *mk);

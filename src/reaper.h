/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <systemd/sd-event.h>

/* Deletes TAP devices off the event loop. Deleting a network device costs
 * ~20 ms inside the syscall (the kernel waits for an RCU grace period),
 * whether by RTM_DELLINK or by closing its last fd; done on the event loop
 * it would freeze every client for that long per Release. The reaper is two
 * worker threads, each with its own rtnetlink socket: each takes queued
 * links, deletes them in one unregister (rtnl_delete_links: a link group),
 * and closes fds handed to it. While Acquires are being made, deletions
 * give way to them (small groups, one at a time; see reaper.c).
 * Completion is reported back on the event loop; the RTM_DELLINK the
 * kernel then broadcasts is what frees the slot. */

/* The link groups the reaper moves devices into before deleting a group:
 * REAPER_LINK_GROUP ("tlkd") plus the worker's number (0, 1), groups
 * nothing else in the namespace uses. */
#define REAPER_LINK_GROUP 0x746c6b64u

struct reaper;
struct rtnl;

/* At start-up, before adoption: deletes what a daemon killed between
 * moving links into a worker's group and deleting the group left there.
 * They were being released, which is what was asked. 0 or -errno. */
int reaper_delete_leftovers(struct rtnl *rtnl);

/* Called on the event loop for every queued link, with the cookie it was
 * queued with (the caller finds its record without a search): error is 0
 * when the link was deleted (or was gone already), else -errno. */
typedef void (*reaper_done_fn)(int ifindex, unsigned cookie, int error, void *userdata);

int reaper_new(sd_event *event, reaper_done_fn done, void *userdata, struct reaper **ret);

/* Queues the deletion of a link. -ENOMEM. */
int reaper_delete_link(struct reaper *r, int ifindex, unsigned cookie);

/* Takes ownership of fds and closes them on the worker (closing the last fd
 * of a non-persistent TAP deletes it: the same 20 ms). Never fails: if the
 * queue cannot grow, the fds are closed right here. */
void reaper_close_fds(struct reaper *r, int *fds, size_t n);

/* Other slow kernel work: runs fn(rtnl, arg) on a worker, with that
 * worker's rtnetlink socket (a clone slot's TAP deleted in its namespace
 * waits as a device deletion does). fn owns arg. -ENOMEM: not queued, the
 * caller does it itself. */
typedef void (*reaper_job_fn)(struct rtnl *rtnl, void *arg);
int reaper_run(struct reaper *r, reaper_job_fn fn, void *arg);

/* An Acquire is being made: for a short while deletions give way to
 * Acquires (see reaper.c). */
void reaper_note_acquire(struct reaper *r);

/* Finishes what is queued, stops the worker, frees. NULL is fine. */
void reaper_free(struct reaper *r);

/* For tests and the bench: links deleted and batches sent so far. */
void reaper_stats(struct reaper *r, unsigned long *ret_links, unsigned long *ret_batches);

/* SPDX-License-Identifier: MIT */
#pragma once

#include "manager.h"
#include "varlink.h"

/* io.taplinkd.Monitor (docs/DESIGN.md, "Events"): a lifecycle subscriber
 * that turns live, changed and gone into stream replies for every
 * connection that called Monitor with "more". Each stream starts with one
 * "existing" reply per slot the caller may see, by slot number, and one
 * {"event": "synced"}; then "acquired", "changed" and "released" (with its
 * "reason") follow in the order they happen. A stream lasts until its
 * connection closes; one whose reader falls behind is dropped by the
 * transport (varlink_conn_reply_continues()). */

struct monitor;

int monitor_new(struct manager *m, struct monitor **ret);
/* Forgets every stream (their connections are the server's to close). */
void monitor_free(struct monitor *mon);

/* Starts a stream on conn's pending call, which must have "more". */
void monitor_attach(struct monitor *mon, struct varlink_conn *conn);
/* conn went away: its stream, if any, ends. */
void monitor_detach(struct monitor *mon, struct varlink_conn *conn);
/* How many streams are open. */
size_t monitor_n_streams(const struct monitor *mon);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <systemd/sd-event.h>

#include "nft.h"

/* The firewall heals itself (docs/DESIGN.md, "The firewall heals itself"):
 * an nftables monitor on the event loop sees someone else remove our table,
 * a chain, a rule, a set or elements (`nft flush ruleset`, which is what
 * `systemctl restart nftables` does), and the whole ruleset comes back with
 * every live slot's elements in one batch, without any client call.
 *
 * Timing: a restore runs RESTORE_DELAY (5 ms) after the first event (the
 * rest of a burst, e.g. a script of nft commands, arrives meanwhile and is
 * restored with it). A token bucket limits restores to ten at once, then
 * one a second, and a restore may take at most a tenth of the time; so a
 * program deleting the table in a loop costs about one restore a second,
 * and the event loop goes on serving everything else. Each restore logs
 * one line naming what
 * was missing. */

/* Every element that must be present: the live slots' (nft_slot_elems()).
 * *ret is malloc'd (NULL when there are none) and freed by the caller. */
typedef int (*firewall_collect_fn)(struct nft_elem **ret, size_t *ret_n, void *userdata);

struct firewall;

/* Opens the monitor for inet <table> (ignoring nft's own changes, by
 * nft_portid()) and watches it on event. nft and userdata must outlive
 * the firewall. */
int firewall_new(sd_event *event, struct nft *nft, const char *table, firewall_collect_fn collect,
                 void *userdata, struct firewall **ret);
void firewall_free(struct firewall *fw);

/* Restores done (each one batch that succeeded), for tests and status. */
unsigned firewall_restores(const struct firewall *fw);

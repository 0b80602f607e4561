/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* A ctnetlink socket and the two ways to delete the conntrack entries of
 * slots (docs/DESIGN.md, "Nothing inherited"): the kernel's filtered
 * flush, and one dump whose entries are matched here and deleted one by
 * one. Blocking request/answer; library style (returns -errno, never
 * logs). */

struct ctnetlink;

int ctnetlink_open(const struct config *c, struct ctnetlink **ret);
void ctnetlink_close(struct ctnetlink *ct);

/* Deletes every IPv4 entry that carries the guest address of one of the
 * slots, in any of the four places: four filtered flushes per slot (at
 * most CTNETLINK_FLUSH_SLOTS_MAX slots). -EINVAL or -EOPNOTSUPP: the
 * kernel has no filtered flush (before Linux 6.3). IPv6 entries are not
 * touched: see conntrack_build_flush4(). */
#define CTNETLINK_FLUSH_SLOTS_MAX 8
int ctnetlink_flush4(struct ctnetlink *ct, const unsigned *slots, size_t n);

/* Whether the entries of a slot are to go. */
typedef bool (*ctnetlink_stale_fn)(unsigned slot, void *userdata);

/* One dump of the family's entries (AF_UNSPEC: all, filtered by family in
 * the kernel), then the deletion of every entry that carries the guest
 * address of a slot for which stale() is true. Entries gone meanwhile are
 * no error. Returns the number of entries deleted, or -errno. */
int ctnetlink_dump_delete(struct ctnetlink *ct, int family, ctnetlink_stale_fn stale, void *userdata);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "macro.h"
#include "nft.h"
#include "rtnl.h"

/* Per-slot counters for List(counters: true) (docs/DESIGN.md, "Counters"):
 * traffic from one rtnetlink dump of the TAPs (IFLA_STATS64), drops from
 * one dump of nftables' dropped_spoofed set, for all slots at once
 * (kernel_counters() takes the dumps). No state between calls: every
 * figure is the kernel's at the moment of the call. Pure: no I/O. */

struct slot_counters {
        uint64_t guest_sent_bytes; /* the TAP's rx: the guest sends, the host receives */
        uint64_t guest_sent_packets;
        uint64_t guest_received_bytes; /* the TAP's tx */
        uint64_t guest_received_packets;
        uint64_t dropped_spoofed; /* packets the anti-spoofing rules dropped */
        uint64_t dropped_policy;  /* packets the egress policy dropped */
};

struct counters_entry {
        unsigned slot;
        struct slot_counters c;
};

/* Sorted by slot, one entry per slot, after counters_collect(). */
struct counters_table {
        VEC(struct counters_entry) entries;
};

/* The slot's counters; all zero when the table has none for it. */
struct slot_counters counters_lookup(const struct counters_table *t, unsigned slot);
void counters_table_done(struct counters_table *t);

/* Each adds what one source says of the slot it names (nothing for a
 * name that is not a slot of c; -ENOMEM), and counters_finish() sorts and
 * merges them into one entry per slot. */
int counters_add_traffic(const struct config *c, struct counters_table *t, const struct rtnl_traffic *tr);
int counters_add_drops(const struct config *c, struct counters_table *t, const struct nft_counter *nc);
void counters_finish(struct counters_table *t);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

/* The firewall's eyes (docs/DESIGN.md, "The firewall heals itself"): a
 * netfilter socket subscribed to NFNLGRP_NFTABLES that reports every change
 * by someone else which removes something of our table inet <table>: the
 * table, one of our five chains, a rule of one of them, one of our four
 * sets, or elements of those sets. What it reports is what to restore; it
 * restores nothing itself. No logging, -errno returns.
 *
 * Our own changes are told apart by the port id: the kernel sends an
 * nftables notification with nlmsg_pid set to the port id of the socket
 * whose batch caused it (seen on 6.18: `nft` commands carry their own
 * socket's port id, changes through struct nft carry nft_portid(), and the
 * NFT_MSG_NEWGEN that ends each commit carries the same). Events with
 * own_portid are ignored; kernel-made changes carry port id 0 and are
 * not. */

/* What a reported event removed: one bit per event, ORed into a mask by
 * whoever gathers them. */
enum {
        NFT_LOST_TABLE = 1u << 0,    /* the table, and with it everything */
        NFT_LOST_CHAIN = 1u << 1,    /* one of our chains */
        NFT_LOST_RULE = 1u << 2,     /* a rule of one of our chains */
        NFT_LOST_SET = 1u << 3,      /* one of our sets */
        NFT_LOST_ELEMENTS = 1u << 4, /* elements of one of our sets (a set flush is one per element) */
        NFT_LOST_EVENTS = 1u << 5,   /* notifications were lost (socket overrun) or unreadable:
                                        anything may be gone */
};

struct nft_event {
        unsigned what; /* one NFT_LOST_* bit */
        /* enum nft_chain_id for NFT_LOST_CHAIN and NFT_LOST_RULE,
         * enum nft_set_id for NFT_LOST_SET and NFT_LOST_ELEMENTS, else -1. */
        int object;
        /* How many rules or elements went: the elements one DELSETELEM
         * lists, else 1 (a gatherer may sum the counts of like events). */
        unsigned count;
};

/* A short description: "table inet taplinkd deleted", "chain input
 * deleted", "rule deleted from chain forward" ("4 rules deleted from chain
 * forward"), "set guests_v4 deleted", "element deleted from set slots_v4"
 * ("3 elements deleted from set guests_v6"), "events lost". Truncated to
 * size (snprintf). */
#define NFT_EVENT_DESCRIPTION_MAX 320
void nft_event_describe(const struct nft_event *ev, const char *table, char *buf, size_t size);

/* --- Pure parts, for unit tests and fuzzing. --- */

/* One notification. Returns 1 and fills *ret when it removed something of
 * our table (family inet, name table) and came from another socket than
 * own_portid (0: none is ours); 0 when it does not concern us (another
 * table or family, another message type, a foreign chain or set, our own
 * change); -EBADMSG when a deletion of the nftables subsystem is too
 * malformed to tell. nlh->nlmsg_len must lie within the buffer. */
int nft_parse_event(const struct nlmsghdr *nlh, const char *table, uint32_t own_portid,
                    struct nft_event *ret);

/* One datagram (buf aligned for struct nlmsghdr): cb for every event that
 * removed something of ours, in order; a malformed deletion is reported as
 * NFT_LOST_EVENTS (something may be gone; restoring is safe). Returns how
 * many events were reported, or -EBADMSG when the datagram's framing is
 * broken (then nothing is reported: the caller decides). */
typedef void (*nft_event_cb)(const struct nft_event *ev, void *userdata);
int nft_parse_events(const void *buf, size_t len, const char *table, uint32_t own_portid, nft_event_cb cb,
                     void *userdata);

/* --- The socket. --- */

struct nft_monitor;

/* Subscribes to NFNLGRP_NFTABLES (non-blocking, close-on-exec). A socket
 * filter drops our own commits' datagrams in the kernel (each datagram of
 * notifications is one commit's, all of one port id), so our own element
 * changes cost no wake-up; nft_parse_event() checks every message again. */
int nft_monitor_open(const char *table, uint32_t own_portid, struct nft_monitor **ret);
int nft_monitor_fd(const struct nft_monitor *m);

/* Reads every queued datagram and calls cb for each event, with its
 * description. A receive-queue overrun (ENOBUFS), a truncated datagram or
 * a broken one is reported as one NFT_LOST_EVENTS event ("events lost"),
 * so that the caller restores anyway. Returns 0, or -errno when the socket
 * failed. */
typedef void (*nft_monitor_cb)(const struct nft_event *ev, const char *description, void *userdata);
int nft_monitor_process(struct nft_monitor *m, nft_monitor_cb cb, void *userdata);

void nft_monitor_close(struct nft_monitor *m);

/* Test hook: a small receive buffer, so that a burst overruns it. */
int nft_monitor_set_rcvbuf(struct nft_monitor *m, int bytes);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* nftables through libnftnl (SPEC §3): table inet <nft_table> with four
 * hash sets and three chains, and the per-slot elements. Message building
 * is separate from I/O (nft_build_* fill a libmnl batch and are
 * unit-tested by parsing back). No logging, -errno returns. */

enum nft_set_id {
        NFT_SET_SLOTS_V4,  /* slots_v4: ipv4_addr, subnet base */
        NFT_SET_SLOTS_V6,  /* slots_v6: ipv6_addr, subnet base */
        NFT_SET_GUESTS_V4, /* guests_v4: ifname . ipv4_addr */
        NFT_SET_GUESTS_V6, /* guests_v6: ifname . ipv6_addr */
        _NFT_SET_MAX,
};

const char *nft_set_name(enum nft_set_id id);

struct nft_elem {
        enum nft_set_id set;
        char ifname[IFNAMSIZ]; /* guests_* only */
        union {
                struct in_addr v4;
                struct in6_addr v6;
        } addr;
};

struct nft;

/* Opens a netfilter socket for the table named in c. Keeps a copy of what
 * it needs from c (table name, ifname prefix, prefixes, ipv6, masquerade). */
int nft_open(const struct config *c, struct nft **ret);
void nft_close(struct nft *n);

/* Creates or repairs the table, its four sets and three chains with exactly
 * the rules of SPEC §3, in one batch, only if anything differs: a second call
 * changes nothing; a deleted rule or chain is restored; set elements
 * survive. Returns 0 when nothing had to change, 1 when it wrote a batch. */
int nft_ensure_ruleset(struct nft *n);

/* The four (two without IPv6) elements of a slot. Returns how many. */
size_t nft_slot_elems(const struct config *c, unsigned slot, struct nft_elem ret[4]);

/* One batch: deletes del[] (absent elements are fine: NFT_MSG_DESTROYSETELEM
 * where the kernel has it, else an add+delete pair, which cannot fail on
 * absence), then adds add[] (present elements are fine). Atomic: on error
 * nothing changed. */
int nft_apply(struct nft *n, const struct nft_elem *add, size_t n_add,
              const struct nft_elem *del, size_t n_del);

/* Every element of the four sets. *ret is malloc'd (free() it). */
int nft_dump_elems(struct nft *n, struct nft_elem **ret, size_t *ret_n);

/* Deletes the whole table (taplinkd --cleanup). 0 if it did not exist. */
int nft_delete_table(struct nft *n);

/* SPEC §3 sysctls: net.ipv4.ip_forward=1 when forward_ipv4,
 * net.ipv6.conf.all.forwarding=1 when forward_ipv6. Writes only when the
 * value differs (so a read-only /proc/sys with the right values is fine).
 * *ret_failed_path names the file that failed. */
int sysctl_apply_forwarding(const struct config *c, const char **ret_failed_path);

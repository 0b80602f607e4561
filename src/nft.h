/* SPDX-License-Identifier: MIT */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* nftables through libnftnl (SPEC §3): table inet <nft_table> with four
 * hash sets and three chains, and the per-slot elements. Message building
 * is separate from I/O (nft_build_* fill a libnftnl batch and are
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
 * survive. Returns 0 when nothing had to change, 1 when it wrote a batch.
 *
 * The layout is the same with ipv6 = no: the IPv6 sets and rules stay (they
 * then drop guests' non-link-local IPv6 and match nothing else), so the
 * table never changes shape with the configuration but for masquerade = no,
 * which leaves postrouting empty. A chain whose rules differ in any way
 * (missing, extra, reordered, changed) is flushed and rewritten; a chain of
 * the wrong type, hook or priority is deleted and recreated. A set with the
 * wrong key type, length or flags cannot hold our elements: it is deleted
 * and recreated, empty, in the same batch (-EBUSY if a foreign rule uses
 * it); the manager's reconcile puts the elements back. Foreign sets and
 * chains in the table are left alone. */
int nft_ensure_ruleset(struct nft *n);

/* The four (two without IPv6) elements of a slot. Returns how many (0 when
 * the slot's interface name does not fit IFNAMSIZ). */
size_t nft_slot_elems(const struct config *c, unsigned slot, struct nft_elem ret[4]);

/* One batch: deletes del[] (absent elements are fine: NFT_MSG_DESTROYSETELEM
 * where the kernel has it, else an add+delete pair, which cannot fail on
 * absence), then adds add[] (present elements are fine). Atomic: on error
 * nothing changed. -ENOENT when the table or one of the sets is missing,
 * -EINVAL for an element of no set or without a valid interface name. */
int nft_apply(struct nft *n, const struct nft_elem *add, size_t n_add, const struct nft_elem *del,
              size_t n_del);

/* Every element of the four sets. *ret is malloc'd (free() it). A missing
 * table or set holds no elements. Elements that cannot be ours (a key of
 * the wrong length, an interface name without its NUL) are skipped. */
int nft_dump_elems(struct nft *n, struct nft_elem **ret, size_t *ret_n);

/* Deletes the whole table (taplinkd --cleanup). 0 if it did not exist. */
int nft_delete_table(struct nft *n);

/* SPEC §3 sysctls: net.ipv4.ip_forward=1 when forward_ipv4,
 * net.ipv6.conf.all.forwarding=1 when forward_ipv6. Writes only when the
 * value differs (so a read-only /proc/sys with the right values is fine).
 * *ret_failed_path names the file that failed. */
int sysctl_apply_forwarding(const struct config *c, const char **ret_failed_path);

/* Tests: use DELSETELEM preceded by NEWSETELEM of the same elements (the
 * fallback for kernels before 6.3) even where NFT_MSG_DESTROYSETELEM works. */
void nft_force_legacy_delete(struct nft *n, bool legacy);
/* Whether nft_open() found NFT_MSG_DESTROYSETELEM supported. */
bool nft_has_destroy(const struct nft *n);

/* --- Pure parts, for unit tests and fuzzing: no socket, no privilege. --- */

/* NFT_MSG_DESTROYSETELEM from the kernel's uapi (6.3); Debian 12's headers
 * predate it. A distinct name, since newer headers declare it in an enum. */
#define NFT_MSG_DESTROYSETELEM_COMPAT 30

#define NFT_TABLE_NAME_MAX 256 /* NFT_NAME_MAXLEN, with the NUL */

/* What the ruleset depends on, copied out of the configuration. */
struct nft_layout {
        char table[NFT_TABLE_NAME_MAX];
        char ifname_prefix[IFNAMSIZ];
        unsigned ipv4_prefix; /* 1..31 */
        unsigned ipv6_prefix; /* 1..127 */
        bool masquerade;
};

/* -EINVAL when the table name or prefix is empty or too long, or a prefix
 * length is out of range. */
int nft_layout_init(const struct config *c, struct nft_layout *ret);

enum nft_chain_id {
        NFT_CHAIN_INPUT,
        NFT_CHAIN_FORWARD,
        NFT_CHAIN_POSTROUTING,
        _NFT_CHAIN_MAX,
};

const char *nft_chain_name(enum nft_chain_id id);

/* One nftables batch under construction (libnftnl's paged batch): a batch
 * begin, messages seq_begin+1 .. seq-1, each with NLM_F_ACK, and after
 * nft_batch_finish() a batch end. */
struct nftnl_batch;
struct nft_batch {
        struct nftnl_batch *pages;
        uint32_t seq_begin;
        uint32_t seq;         /* the next message's */
        uint32_t next_set_id; /* for sets created in this batch */
        size_t n_msgs;        /* messages between begin and end */
};

int nft_batch_start(struct nft_batch *b, uint32_t seq);
int nft_batch_finish(struct nft_batch *b);
void nft_batch_done(struct nft_batch *b);

/* Builders: each appends messages to b. type is the netlink message type
 * (NFT_MSG_NEWTABLE or NFT_MSG_DELTABLE; NFT_MSG_NEWSETELEM,
 * NFT_MSG_DELSETELEM or NFT_MSG_DESTROYSETELEM_COMPAT). */
int nft_build_table(struct nft_batch *b, const struct nft_layout *l, uint16_t type);
int nft_build_set(struct nft_batch *b, const struct nft_layout *l, enum nft_set_id id);
int nft_build_chain(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id);
/* The chain's rules of SPEC §3, with the anonymous set a rule needs. */
int nft_build_chain_rules(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id);
/* The elements, grouped by set, at most NFT_ELEMS_PER_MSG a message.
 * -EINVAL for an element of no set or a guests_* element without a valid
 * interface name. */
#define NFT_ELEMS_PER_MSG 256
int nft_build_elems(struct nft_batch *b, const struct nft_layout *l, uint16_t type, const struct nft_elem *e,
                    size_t n);

/* The element's set key: the address, or for guests_* the interface name
 * NUL-padded to IFNAMSIZ followed by the address (nft's concatenation: each
 * field padded to a 32-bit register). Returns the key length or -EINVAL. */
#define NFT_ELEM_KEY_MAX 32
int nft_elem_key(const struct nft_elem *e, uint8_t ret[NFT_ELEM_KEY_MAX]);

/* Parses one datagram of an NFT_MSG_GETSETELEM dump of our sets and appends
 * the elements to l (seq and portid 0 match anything; buf is aligned for
 * struct nlmsghdr). Returns 1 when more
 * datagrams follow, 0 at the end of the dump, the kernel's error from an
 * NLMSG_ERROR, -EINTR when the dump was interrupted (start again),
 * -EBADMSG for malformed input, -ENOMEM. */
struct nft_elem_list {
        struct nft_elem *elems;
        size_t n;
        size_t cap;
};
int nft_parse_elem_dump(const void *buf, size_t len, uint32_t seq, uint32_t portid, struct nft_elem_list *l);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "egress.h"
#include "publish.h"

/* nftables through libnftnl (docs/DESIGN.md, "The nftables layout"): table
 * inet <nft_table> with its sets, maps and five chains, and the per-slot
 * elements. What the manager uses; the builders and parsers behind it are
 * in nft-internal.h. No logging, -errno returns.
 *
 * The module's files: nft-build.c (pure builders of the table, sets,
 * chains and rules), nft-elems.c (pure element keys, batches and the
 * per-slot element families), nft-egress.c (the egress policy's rules and
 * elements), nft-parse.c (the pure dump parsers), nft.c (the socket:
 * batches, dumps, elements, the table's deletion) and nft-ruleset.c
 * (ensure, repair and restore of the ruleset). */

enum nft_set_id {
        NFT_SET_SLOTS_V4,        /* slots_v4: ipv4_addr, subnet base */
        NFT_SET_SLOTS_V6,        /* slots_v6: ipv6_addr, subnet base */
        NFT_SET_GUESTS_V4,       /* guests_v4: ifname . ipv4_addr */
        NFT_SET_GUESTS_V6,       /* guests_v6: ifname . ipv6_addr */
        NFT_SET_DROPPED_SPOOFED, /* dropped_spoofed: ifname, dynamic, a counter per element */
        NFT_SET_DROPPED_POLICY,  /* dropped_policy: the same for the egress policy's drops */
        /* The egress policy (docs/DESIGN.md, "Egress policy"): each slot's
         * interface name is in exactly one of the four mode sets. */
        NFT_SET_EGRESS_NONE,
        NFT_SET_EGRESS_HOST,
        NFT_SET_EGRESS_PUBLIC,
        NFT_SET_EGRESS_INTERNET,
        /* Allow entries: ifname . network [. protocol [. port]], intervals. */
        NFT_SET_ALLOW_V4,
        NFT_SET_ALLOW_PROTO_V4,
        NFT_SET_ALLOW_PORT_V4,
        NFT_SET_ALLOW_V6,
        NFT_SET_ALLOW_PROTO_V6,
        NFT_SET_ALLOW_PORT_V6,
        /* Published ports (docs/DESIGN.md, "Published ports"): maps from
         * [host address .] protocol . host port to guest address . guest
         * port, one element per port and family. */
        NFT_SET_PUBLISHED_V4,     /* ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service */
        NFT_SET_PUBLISHED_ANY_V4, /* inet_proto . inet_service : ipv4_addr . inet_service */
        NFT_SET_PUBLISHED_V6,
        NFT_SET_PUBLISHED_ANY_V6,
        _NFT_SET_MAX,
};

const char *nft_set_name(enum nft_set_id id);

struct nft_elem {
        enum nft_set_id set;
        char ifname[IFNAMSIZ]; /* all but slots_* */
        union {
                struct in_addr v4;
                struct in6_addr v6;
        } addr; /* allow_*: the first address of the network */
        /* allow_*: the network's last address, the protocol, the port */
        union {
                struct in_addr v4;
                struct in6_addr v6;
        } addr_last;
        uint8_t protocol;
        uint16_t port;
        /* published_*: addr is the host address (published_v4/v6 only),
         * protocol and port the host's; the map's data is to . to_port,
         * the guest's address and port. */
        union {
                struct in_addr v4;
                struct in6_addr v6;
        } to;
        uint16_t to_port;
};

/* Whether set is one of the egress policy's (keyed by interface name). */
bool nft_egress_set(enum nft_set_id set);

/* Whether two elements are the same element of the same set. */
bool nft_elem_equal(const struct nft_elem *a, const struct nft_elem *b);

/* The elements that carry a slot's egress policy (its mode's set, its
 * allow entries), at most NFT_EGRESS_ELEMS_MAX. Returns how many, 0 when
 * ifname is not a valid name. */
#define NFT_EGRESS_ELEMS_MAX (1 + EGRESS_ALLOW_MAX)
size_t nft_egress_elems(const char *ifname, const struct egress_policy *p, struct nft_elem *ret);
/* The policy that elems[] (a slot's, from a dump) describe; -ENOENT when
 * they hold no mode, -ENOMEM. */
int nft_egress_from_elems(const struct nft_elem *elems, size_t n, struct egress_policy **ret);

/* Whether set is one of the published-port maps. */
bool nft_publish_set(enum nft_set_id set);

/* The elements that carry a slot's published ports: one per port in
 * published_v4 or published_any_v4, and when the slot has IPv6 (ipv6, as
 * for nft_slot_elems_ipv6(): slot_has_ipv6()) one more per port in published_v6 or
 * published_any_v6 (none for a port on an IPv4 host address, and the
 * other way round). At most NFT_PUBLISH_ELEMS_MAX. Returns how many. */
#define NFT_PUBLISH_ELEMS_MAX (2 * PUBLISH_PORTS_MAX)
size_t nft_publish_elems(const struct config *c, unsigned slot, bool ipv6, const struct publish_list *l,
                         struct nft_elem *ret);
/* The slot whose guest a published_* element's data names; -ENOENT when
 * it names no slot's guest under c, -EINVAL for an element of another
 * set. */
int nft_publish_elem_slot(const struct config *c, const struct nft_elem *e, unsigned *ret);
/* The ports that elems[] (one slot's, from a dump) describe: a port
 * published on every address is in both families' wildcard maps (or, with
 * IPv6 off, the IPv4 one). *ret is NULL when there are none. -ENOMEM. */
int nft_publish_from_elems(const struct nft_elem *elems, size_t n, struct publish_list **ret);

struct nft;

/* Opens a netfilter socket for the table named in c. Keeps a copy of what
 * it needs from c (table name, ifname prefix, prefixes, ipv6, masquerade). */
int nft_open(const struct config *c, struct nft **ret);
void nft_close(struct nft *n);

/* The socket's netlink port id. nftables notifications name the port of
 * the socket whose batch caused them (nlmsg_pid), so a monitor can tell
 * our own changes from everyone else's (see nft-monitor.h). */
uint32_t nft_portid(const struct nft *n);

/* Creates or repairs the table, its sets, maps and five chains with exactly
 * the rules of docs/DESIGN.md ("The nftables layout"), in one batch, only if
 * anything differs: a second call changes nothing; a deleted rule or chain
 * is restored; set elements survive. Returns 0 when nothing had to change,
 * 1 when it wrote a batch.
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

/* nft_ensure_ruleset() and the addition of elems[] (present ones are fine)
 * in ONE batch, so that nothing is missing between two commits: after a
 * `nft flush ruleset` the table comes back with every live slot's elements
 * at once (docs/DESIGN.md, "The firewall heals itself"). Atomic: on error
 * nothing changed. Returns 1 when the ruleset needed repair, 0 when only
 * the elements were written (or nothing at all: no repair, no elements);
 * -EINVAL for an element of no set or without a valid interface name. */
int nft_restore(struct nft *n, const struct nft_elem *elems, size_t n_elems);

/* How many elements a slot can have at most: one per row of the element
 * family table in nft-elems.c. */
#define NFT_SLOT_ELEMS_MAX 6

/* The elements of a slot, one per element family that applies (six, four
 * without IPv6). Returns how many (0 when the slot's interface name does
 * not fit IFNAMSIZ). */
size_t nft_slot_elems(const struct config *c, unsigned slot, struct nft_elem ret[NFT_SLOT_ELEMS_MAX]);
/* The same for a slot that has IPv6 or not, whatever c->ipv6 says (a clone
 * slot has none: slot_has_ipv6()). */
size_t nft_slot_elems_ipv6(const struct config *c, unsigned slot, bool ipv6,
                           struct nft_elem ret[NFT_SLOT_ELEMS_MAX]);

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

/* The drop counter of one interface: an element of dropped_spoofed (or,
 * policy true, of dropped_policy) and the packets and bytes its counter
 * holds. */
struct nft_counter {
        char ifname[IFNAMSIZ];
        bool policy;
        uint64_t packets;
        uint64_t bytes;
};

/* Every element of dropped_spoofed and of dropped_policy with its
 * counter, in one dump of each (taken
 * again until two in a row hold the same names, as nft_dump_elems() does).
 * *ret is malloc'd (free() it), sorted by name. A missing table or set
 * holds no counters. */
int nft_dump_counters(struct nft *n, struct nft_counter **ret, size_t *ret_n);

/* Deletes the whole table (taplinkd --cleanup). 0 if it did not exist. */
int nft_delete_table(struct nft *n);

/* Tests: use DELSETELEM preceded by NEWSETELEM of the same elements (the
 * fallback for kernels before 6.3) even where NFT_MSG_DESTROYSETELEM works. */
void nft_force_legacy_delete(struct nft *n, bool legacy);
/* Whether nft_open() found NFT_MSG_DESTROYSETELEM supported. */
bool nft_has_destroy(const struct nft *n);

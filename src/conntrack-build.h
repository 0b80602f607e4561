/* SPDX-License-Identifier: MIT */
#pragma once

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* The conntrack messages of "nothing inherited" (docs/DESIGN.md, "Nothing
 * inherited"), built into buffers without I/O, and the test that tells a
 * dumped entry's slots. Pure code: src/conntrack.c does the talking. */

/* The four places a guest address can stand in an entry. */
enum conntrack_field {
        CONNTRACK_ORIG_SRC,
        CONNTRACK_ORIG_DST,
        CONNTRACK_REPLY_SRC,
        CONNTRACK_REPLY_DST,
        _CONNTRACK_FIELD_MAX,
};

/* Flush requests per slot: one per field, IPv4 only (see below). */
#define CONNTRACK_SLOT_FLUSHES _CONNTRACK_FIELD_MAX
/* Room for the longest message built here (a delete carries one tuple and
 * a zone). */
#define CONNTRACK_MSG_MAX 512

/* The kernel's filtered flush (Linux 6.3+): IPCTNL_MSG_CT_DELETE with a
 * tuple and CTA_FILTER deletes every IPv4 entry whose `field` equals
 * `addr`, in one walk of the table and without a copy to userspace. Puts
 * one such message at buf (CONNTRACK_MSG_MAX bytes) and returns it.
 *
 * IPv4 only, on purpose: the kernel's IPv6 comparison in this filter is
 * inverted (ctnetlink_filter_match_tuple() tests !ipv6_addr_cmp(), true
 * when the addresses are equal, as "no match"), so on Linux 6.18 an IPv6
 * flush for an address deletes every IPv6 entry *but* its own. IPv6
 * entries are found by a dump instead (src/conntrack.c). */
struct nlmsghdr *conntrack_build_flush4(void *buf, struct in_addr addr, enum conntrack_field field,
                                        uint32_t seq);

/* Puts the slot's CONNTRACK_SLOT_FLUSHES IPv4 flush requests at buf, back
 * to back, seq counting up from *seq. Returns the bytes used, or -ENOBUFS
 * (nothing written) when size is less than CONNTRACK_SLOT_FLUSHES *
 * CONNTRACK_MSG_MAX. */
ssize_t conntrack_put_slot_flushes(void *buf, size_t size, const struct config *c, unsigned slot,
                                   uint32_t *seq);

/* A dump of the entries of `family` (AF_UNSPEC: all), filtered by family
 * in the kernel. */
struct nlmsghdr *conntrack_build_dump(void *buf, int family, uint32_t seq);

/* The request that deletes exactly `entry` (a dumped one): its original
 * tuple, zone and id. -EINVAL for an entry without an original tuple. */
int conntrack_build_delete(void *buf, const struct nf_conntrack *entry, uint32_t seq, struct nlmsghdr **ret);

/* The slots whose guest address is one of the entry's four addresses,
 * each once, into ret; returns how many (0 to 4). */
unsigned conntrack_entry_slots(const struct config *c, const struct nf_conntrack *entry,
                               unsigned ret[_CONNTRACK_FIELD_MAX]);

/* Reads one message of a dump: an entry (IPCTNL_MSG_CT_NEW) into `entry`
 * (fresh from nfct_new()), and the slots it is about into ret. Returns
 * how many slots (0 to 4), or -EINVAL for a message that is not an entry
 * or does not parse. The message must be readable for nlmsg_len bytes. */
int conntrack_parse_entry(const struct config *c, const struct nlmsghdr *nlh, struct nf_conntrack *entry,
                          unsigned ret[_CONNTRACK_FIELD_MAX]);

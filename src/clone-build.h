/* SPDX-License-Identifier: MIT */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

/* The netlink messages of a clone slot (docs/DESIGN.md, "Clone slots"),
 * pure: each fills buf (size bytes, 4-aligned) with one request flagged
 * NLM_F_REQUEST | NLM_F_ACK, numbered seq, and returns the bytes used;
 * -ENOBUFS when buf is too small, -EINVAL for bad arguments. Unit-tested
 * by parsing them back; sent through rtnl_request(). */

/* The id a clone namespace asks for in the daemon's namespace: the slot's
 * own, so that an event's id names its slot at a glance (clone.c keeps
 * the ids it got, since an earlier namespace of the slot may still hold
 * this one). 0x746c = "tl"; the ids the kernel picks count up from 0. */
#define CLONE_NSID_BASE 0x746c0000
#define CLONE_NSID_MAX (CLONE_NSID_BASE + (1 << 20) - 1) /* CONFIG_MAX_SLOTS_LIMIT slots */

/* The veth pair, made in the namespace the sending socket is in: `inner`
 * there, its peer `outer` directly in the namespace of outer_netns_fd
 * (IFLA_NET_NS_FD at creation: neither end is ever moved, which would wait
 * for an RCU grace period under the rtnl lock). NLM_F_CREATE | NLM_F_EXCL. */
int clone_build_veth(void *buf, size_t size, uint32_t seq, const char *inner, const char *outer,
                     int outer_netns_fd);

/* RTM_NEWROUTE: the default route via gateway on ifindex (main table). */
int clone_build_default_route(void *buf, size_t size, uint32_t seq, int ifindex, struct in_addr gateway);

/* RTM_NEWLINK setting the link's IPv4 forwarding (IFLA_AF_SPEC / AF_INET /
 * IFLA_INET_CONF, IPV4_DEVCONF_FORWARDING = 1): the input device's own
 * flag decides whether a packet is forwarded, and netlink needs no
 * writable /proc/sys. */
int clone_build_forwarding(void *buf, size_t size, uint32_t seq, int ifindex);

/* RTM_NEWNSID: gives the namespace of netns_fd the id nsid (-1: one the
 * kernel picks) in the sending socket's namespace (-EEXIST when the id or
 * the namespace has one). */
int clone_build_newnsid(void *buf, size_t size, uint32_t seq, int netns_fd, int32_t nsid);

/* RTM_DELLINK of the link named ifname in the namespace with id nsid
 * (IFLA_TARGET_NETNSID). */
int clone_build_dellink_in(void *buf, size_t size, uint32_t seq, int32_t nsid, const char *ifname);

/* RTM_NEWLINK of the link ifindex setting its name (unless NULL; a link
 * must be down to be renamed) and its MTU (unless 0); -EINVAL for
 * neither. */
int clone_build_setlink(void *buf, size_t size, uint32_t seq, int ifindex, const char *name, unsigned mtu);

/* The name of the pool's k-th veth host end, "<prefix>p<k>": never a slot's
 * name (slot names end in digits after the prefix). -ENAMETOOLONG when it
 * does not fit IFNAMSIZ. */
int clone_pool_ifname(const char *prefix, unsigned k, char ret[IFNAMSIZ]);

/* The slot's nsid, and the slot of an nsid (-ENOENT for another id). */
int32_t clone_nsid(unsigned slot);
int clone_slot_of_nsid(int32_t nsid, unsigned *ret_slot);

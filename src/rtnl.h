/* SPDX-License-Identifier: MIT */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

struct nlmsghdr;

/* rtnetlink through libmnl. Message building is separate from I/O: the
 * rtnl_build_* functions fill a caller's buffer and are unit-tested by
 * parsing the result back; rtnl_talk() sends a whole batch in one sendmsg
 * and collects every ack by sequence number. No logging, -errno returns.
 * Two files: rtnl.c (builders, sockets, dumps, the monitor) and
 * rtnl-parse.c (the pure parsers). */

struct rtnl;

int rtnl_open(struct rtnl **ret);
void rtnl_close(struct rtnl *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl *, rtnl_close)

/* What a new slot's link gets in one exchange: RTM_NEWLINK (MTU, MAC,
 * alias) while it is down, RTM_NEWADDR IPv4 gateway, RTM_NEWADDR IPv6
 * gateway (IFA_F_NODAD), then RTM_NEWLINK IFF_UP; addressed by ifindex. */
struct rtnl_link_config {
        int ifindex;
        unsigned mtu;
        uint8_t mac[6];
        const char *alias; /* "" or NULL: no IFLA_IFALIAS */
        struct in_addr gateway4;
        unsigned prefix4;
        bool ipv6;
        struct in6_addr gateway6;
        unsigned prefix6;
};

/* Sends the four messages in two sendmsgs, the IFF_UP
 * alone in the second one once the rest was acked without error (a link
 * whose MTU or address was refused stays down), and waits for every ack. On
 * failure returns the first error and names the message that failed in
 * *ret_failed_op ("RTM_NEWLINK", "RTM_NEWADDR"). */
int rtnl_configure_link(struct rtnl *r, const struct rtnl_link_config *cfg, const char **ret_failed_op);

/* RTM_GETNSID: the id the namespace of netns_fd has in ours, -1 for none. */
int rtnl_get_nsid(struct rtnl *r, int netns_fd, int32_t *ret);

/* RTM_DELLINK by ifindex. -ENODEV when it is already gone. */
int rtnl_delete_link(struct rtnl *r, int ifindex);

/* A batch of n requests the caller built, numbered from the sequence
 * number rtnl_reserve_seq(r, n) returned, in one sendmsg; every ack is
 * read. Returns 0 or the first request's error, whose index goes to
 * *ret_failed (may be NULL). n is 1..RTNL_BATCH_MAX. */
uint32_t rtnl_reserve_seq(struct rtnl *r, unsigned n);
int rtnl_request(struct rtnl *r, const void *buf, size_t len, uint32_t first_seq, unsigned n,
                 unsigned *ret_failed);

/* Deletes several links in one unregister: one sendmsg carrying an
 * RTM_NEWLINK per ifindex that moves it into link group `group`, then one
 * RTM_DELLINK for the whole group (ifi_index 0, IFLA_GROUP). The kernel then
 * pays its RCU grace period once for all of them instead of once each.
 * Links already gone (-ENODEV on their RTM_NEWLINK) are skipped. group must
 * be a group no other device uses (and not 0: -EINVAL). Returns 0 or the
 * first other error; a link whose move failed is left alone, the others are
 * deleted all the same.
 * More than RTNL_BATCH_MAX links take several sendmsgs (the group moves
 * first, the RTM_DELLINK last): a process killed in between leaves the
 * links moved so far in `group`, alive.
 * One link alone is deleted by its ifindex, not moved: the move is a
 * NETDEV_CHANGE on a link that is up, which IPv6 answers with a walk of
 * every route, and with nothing to share the grace period with, it only
 * adds time under the rtnl mutex (bench/README.md). */
int rtnl_delete_links(struct rtnl *r, const int *ifindexes, size_t n, uint32_t group);

/* RTM_DELLINK of every link in group (not 0: -EINVAL); 0 also when there
 * is none. */
int rtnl_delete_group(struct rtnl *r, uint32_t group);

/* One TAP device, as the kernel reports it (IFLA_LINKINFO/IFLA_INFO_DATA). */
struct rtnl_tap_info {
        char ifname[IFNAMSIZ];
        int ifindex;
        bool has_owner; /* IFLA_TUN_OWNER present and not -1 */
        uid_t owner;
        char alias[256]; /* IFLA_IFALIAS, "" when unset */
        unsigned mtu;
        unsigned queues; /* multi-queue: IFLA_TUN_NUM_QUEUES + IFLA_TUN_NUM_DISABLED_QUEUES,
                          * the queues attached now (0 when no fd holds it); else 1 */
        bool multi_queue;
        bool vnet_header;
        bool persist;
        bool up;
        uint8_t mac[6];
        /* Not the kernel's: set by whoever adopts a clone slot, whose
         * device is the veth's host end (docs/DESIGN.md, "Clone slots"). */
        bool clone;
};

/* Dumps every link and calls cb for each TAP device (tun kind, type tap)
 * whose name starts with prefix. A negative return from cb stops the dump
 * and is returned. One dump request (statistics skipped, filtered to kind
 * "tun" in the kernel), no per-device requests.
 * Returns 0, or 1 when the kernel flagged the dump as interrupted
 * (NLM_F_DUMP_INTR: links came or went meanwhile, so one may be missing or
 * already gone; a caller whose link monitor was open before the dump learns
 * of removals from it), or -errno (-EBADMSG for a malformed link message). */
typedef int (*rtnl_tap_cb)(const struct rtnl_tap_info *info, void *userdata);
int rtnl_dump_taps(struct rtnl *r, const char *prefix, rtnl_tap_cb cb, void *userdata);
/* The same for veth links (kind "veth"; rtnl_parse_veth()). */
int rtnl_dump_veths(struct rtnl *r, const char *prefix, rtnl_tap_cb cb, void *userdata);

/* A link's traffic as the host counts it (IFLA_STATS64). On a TAP, rx is
 * what the guest sent (the VMM writes it into the fd, the host receives
 * it) and tx what the guest is sent; on a clone slot's host end of the
 * veth likewise (what the guest sent leaves its namespace through the
 * inner end and arrives here). */
struct rtnl_traffic {
        char ifname[IFNAMSIZ];
        int ifindex;
        uint64_t rx_packets;
        uint64_t rx_bytes;
        uint64_t tx_packets;
        uint64_t tx_bytes;
};

/* One dump, statistics included, of the devices of one kind ("tun" for
 * the TAPs, "veth" for clone slots' host ends; filtered by kind in the
 * kernel): cb for each link named prefix* that carries IFLA_STATS64.
 * Returns as rtnl_dump_taps(). */
typedef int (*rtnl_stats_cb)(const struct rtnl_traffic *stats, void *userdata);
int rtnl_dump_stats(struct rtnl *r, const char *prefix, const char *kind, rtnl_stats_cb cb, void *userdata);

/* The link monitor: a socket subscribed to RTNLGRP_LINK. rtnl_monitor_process()
 * reads everything pending without blocking and calls on_dellink for each
 * RTM_DELLINK of a device whose name starts with prefix. When the socket
 * overran (ENOBUFS) events were lost: on_resync is called and the caller
 * re-dumps (rtnl_dump_taps) to find what vanished.
 * Only a real removal counts (see rtnl_parse_dellink). on_resync comes after
 * the on_dellink calls of the same rtnl_monitor_process(), and at most once
 * per call. An event can be older than the caller's view (a slot freed by a
 * resync and handed out again): compare the ifindex, not only the name. */
struct rtnl_monitor;
struct rtnl_monitor_callbacks {
        void (*on_dellink)(int ifindex, const char *ifname, void *userdata);
        void (*on_resync)(void *userdata);
        /* After rtnl_monitor_listen_all_nsid(): a link of the namespace
         * that has id nsid in ours is gone (any name). */
        void (*on_peer_dellink)(int nsid, int ifindex, const char *ifname, void *userdata);
};
int rtnl_monitor_open(const char *prefix, const struct rtnl_monitor_callbacks *cb, void *userdata,
                      struct rtnl_monitor **ret);
int rtnl_monitor_fd(const struct rtnl_monitor *m);
/* NETLINK_LISTEN_ALL_NSID: the events of every namespace that has an id in
 * ours come too, told apart by that id (on_peer_dellink), without a socket
 * per namespace (docs/DESIGN.md, "Clone slots"). */
int rtnl_monitor_listen_all_nsid(struct rtnl_monitor *m);
int rtnl_monitor_process(struct rtnl_monitor *m);
void rtnl_monitor_close(struct rtnl_monitor *m);

/* Test hook: shrinks the monitor's receive buffer so that a test can make
 * it overrun (the kernel rounds it up to its minimum). */
int rtnl_monitor_set_rcvbuf(struct rtnl_monitor *m, int bytes);

/* ---- Pure message builders (no I/O, no privilege) ----
 * Each fills buf (size bytes, 4-aligned) with one or more requests, all
 * NLM_F_REQUEST | NLM_F_ACK (the dump: NLM_F_DUMP, no ack), numbered seq,
 * seq+1, ... in order, and returns the bytes used; -ENOBUFS when buf is too
 * small, -EINVAL for bad arguments. */

/* The most messages rtnl_delete_links() puts in one sendmsg: their acks
 * must all fit the socket's receive buffer. */
#define RTNL_BATCH_MAX 64

/* The most messages rtnl_build_configure() writes. */
#define RTNL_CONFIGURE_MAX 4

/* Without ipv6 first an RTM_NEWLINK setting IFLA_AF_SPEC/AF_INET6/
 * IFLA_INET6_ADDR_GEN_MODE to none (no link-local address); then RTM_NEWLINK
 * (IFLA_MTU, IFLA_ADDRESS, IFLA_IFALIAS when alias is not empty; ifi_change
 * 0: the link stays down), RTM_NEWADDR IPv4 (IFA_LOCAL = IFA_ADDRESS =
 * gateway4, IFA_BROADCAST when prefix4 <= 30), with ipv6 RTM_NEWADDR IPv6
 * (IFA_ADDRESS = gateway6, IFA_F_NODAD in ifa_flags and IFA_FLAGS), the
 * addresses NLM_F_CREATE | NLM_F_EXCL; last RTM_NEWLINK with IFF_UP and no
 * attribute. Always four messages. The link comes up once, with everything
 * set: a change to an up link costs IPv6 a walk of every route in the
 * namespace (bench/README.md, "Issue 17: which kernel sequence"). */
int rtnl_build_configure(void *buf, size_t size, uint32_t seq, const struct rtnl_link_config *cfg);
/* Room for what it builds. */
#define RTNL_CONFIGURE_SIZE 1024
/* RTM_DELLINK by ifindex. */
int rtnl_build_dellink(void *buf, size_t size, uint32_t seq, int ifindex);
/* RTM_NEWLINK by ifindex setting IFLA_GROUP. group != 0. */
int rtnl_build_set_group(void *buf, size_t size, uint32_t seq, int ifindex, uint32_t group);
/* RTM_DELLINK of every link in group (ifi_index 0, IFLA_GROUP). group != 0. */
int rtnl_build_dellink_group(void *buf, size_t size, uint32_t seq, uint32_t group);
/* RTM_GETLINK dump: IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS and
 * IFLA_LINKINFO { IFLA_INFO_KIND "tun" }, which the kernel uses as a filter. */
int rtnl_build_dump_taps(void *buf, size_t size, uint32_t seq);
/* Either, for the devices of any kind, with statistics (stats) or without. */
int rtnl_build_dump_kind(void *buf, size_t size, uint32_t seq, bool stats, const char *kind);
/* The same without RTEXT_FILTER_SKIP_STATS (IFLA_EXT_MASK 0), filtered to
 * kind ("tun", "veth"). */
int rtnl_build_dump_stats(void *buf, size_t size, uint32_t seq, const char *kind);

/* ---- Pure parsers over untrusted bytes (fuzzed) ----
 * nlh must be readable for nlh->nlmsg_len bytes (as mnl_nlmsg_ok() checks
 * against the buffer). A message whose length is not 4-aligned, whose fixed
 * header is cut short, or whose attributes do not exactly fill it is
 * malformed: -EBADMSG. ret is written only when 1 is returned. */

/* The same for a veth named prefix* (a clone slot's host end): the
 * fields every link has (name, ifindex, MTU, MAC, alias, up); the tun
 * fields stay 0. */
int rtnl_parse_veth(const struct nlmsghdr *nlh, const char *prefix, struct rtnl_tap_info *ret);

/* RTM_NEWLINK/RTM_DELLINK: 1 for a TAP (kind "tun", IFLA_TUN_TYPE IFF_TAP)
 * named prefix*, 0 for any other link, -EBADMSG if malformed (also for a
 * message of another type). prefix NULL or "" matches every name. */
int rtnl_parse_link(const struct nlmsghdr *nlh, const char *prefix, struct rtnl_tap_info *ret);

struct rtnl_link_event {
        int ifindex;
        char ifname[IFNAMSIZ];
};

/* A monitor message: 1 when it reports that a link named prefix* is gone
 * from this namespace, 0 for anything else, -EBADMSG if malformed.
 * "Gone" is an RTM_DELLINK with ifi_family AF_UNSPEC and ifi_change ~0U:
 * the kernel sends exactly that when it unregisters a device or moves it to
 * another namespace. Other RTM_DELLINKs are not removals: the bridge sends
 * AF_BRIDGE ones when a port leaves it (or loses VLAN/port state), and
 * those carry the port's name. */
int rtnl_parse_dellink(const struct nlmsghdr *nlh, const char *prefix, struct rtnl_link_event *ret);

/* RTM_NEWLINK from the stats dump: 1 for a link named prefix* with
 * IFLA_STATS64 (its first four counters at least), 0 for any other link
 * or one without statistics, -EBADMSG if malformed (also for a message
 * of another type). */
int rtnl_parse_link_stats(const struct nlmsghdr *nlh, const char *prefix, struct rtnl_traffic *ret);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* rtnetlink through libmnl. Message building is separate from I/O: the
 * rtnl_build_* functions fill a caller's buffer and are unit-tested by
 * parsing the result back; rtnl_talk() sends a whole batch in one sendmsg
 * and collects every ack by sequence number. No logging, -errno returns. */

struct rtnl;

int rtnl_open(struct rtnl **ret);
void rtnl_close(struct rtnl *r);

/* What a new slot's link gets in one exchange: RTM_NEWLINK (MTU, MAC,
 * alias, IFF_UP) + RTM_NEWADDR IPv4 gateway + RTM_NEWADDR IPv6 gateway
 * (IFA_F_NODAD), addressed by ifindex. */
struct rtnl_link_config {
        int ifindex;
        unsigned mtu;
        uint8_t mac[6];
        const char *alias;       /* "" or NULL: no IFLA_IFALIAS */
        struct in_addr gateway4;
        unsigned prefix4;
        bool ipv6;
        struct in6_addr gateway6;
        unsigned prefix6;
};

/* Sends the three (two without IPv6) messages in one sendmsg and waits for
 * every ack. On failure returns the first error and names the message that
 * failed in *ret_failed_op ("RTM_NEWLINK", "RTM_NEWADDR"). */
int rtnl_configure_link(struct rtnl *r, const struct rtnl_link_config *cfg,
                        const char **ret_failed_op);

/* RTM_DELLINK by ifindex. -ENODEV when it is already gone. */
int rtnl_delete_link(struct rtnl *r, int ifindex);

/* Deletes several links in one unregister: one sendmsg carrying an
 * RTM_NEWLINK per ifindex that moves it into link group `group`, then one
 * RTM_DELLINK for the whole group (ifi_index 0, IFLA_GROUP). The kernel then
 * pays its RCU grace period once for all of them instead of once each.
 * Links already gone (-ENODEV on their RTM_NEWLINK) are skipped. group must
 * be a group no other device uses. Returns 0 or the first other error. */
int rtnl_delete_links(struct rtnl *r, const int *ifindexes, size_t n, uint32_t group);

/* One TAP device, as the kernel reports it (IFLA_LINKINFO/IFLA_INFO_DATA). */
struct rtnl_tap_info {
        char ifname[IFNAMSIZ];
        int ifindex;
        bool has_owner;  /* IFLA_TUN_OWNER present and not -1 */
        uid_t owner;
        char alias[256]; /* IFLA_IFALIAS, "" when unset */
        unsigned mtu;
        unsigned queues;     /* IFLA_TUN_NUM_QUEUES + IFLA_TUN_NUM_DISABLED_QUEUES */
        bool multi_queue;
        bool vnet_header;
        bool persist;
        bool up;
        uint8_t mac[6];
};

/* Dumps every link and calls cb for each TAP device (tun kind, type tap)
 * whose name starts with prefix. A negative return from cb stops the dump
 * and is returned. */
typedef int (*rtnl_tap_cb)(const struct rtnl_tap_info *info, void *userdata);
int rtnl_dump_taps(struct rtnl *r, const char *prefix, rtnl_tap_cb cb, void *userdata);

/* The link monitor: a socket subscribed to RTNLGRP_LINK. rtnl_monitor_process()
 * reads everything pending without blocking and calls on_dellink for each
 * RTM_DELLINK of a device whose name starts with prefix. When the socket
 * overran (ENOBUFS) events were lost: on_resync is called and the caller
 * re-dumps (rtnl_dump_taps) to find what vanished. */
struct rtnl_monitor;
struct rtnl_monitor_callbacks {
        void (*on_dellink)(int ifindex, const char *ifname, void *userdata);
        void (*on_resync)(void *userdata);
};
int rtnl_monitor_open(const char *prefix, const struct rtnl_monitor_callbacks *cb,
                      void *userdata, struct rtnl_monitor **ret);
int rtnl_monitor_fd(const struct rtnl_monitor *m);
int rtnl_monitor_process(struct rtnl_monitor *m);
void rtnl_monitor_close(struct rtnl_monitor *m);

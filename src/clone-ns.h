/* SPDX-License-Identifier: MIT */
#pragma once

#include <linux/netlink.h>
#include <net/if.h>
#include <stdint.h>

#include "config.h"
#include "rtnl.h"
#include "tap.h"

/* A clone namespace before it has a slot (docs/DESIGN.md, "The pool"):
 * everything a clone slot's namespace holds that does not depend on the
 * slot. Made on the event loop for an Acquire the pool cannot serve, and in
 * the pool's worker thread ahead of time; so nothing here logs or touches
 * state shared between threads. */

/* The inner end of the veth pair, in every clone namespace. */
#define CLONE_UPLINK "veth0"

struct clone_ns {
        int nsfd; /* holds the namespace: there is no bind mount yet */
        int tap_fds[TAP_MAX_QUEUES];
        struct tap_options opts;
        struct rtnl *rtnl;  /* a socket made inside */
        int tap_ifindex;    /* inside */
        int uplink_ifindex; /* inside */
        int host_ifindex;   /* the veth's other end, in the daemon's namespace */
        char host_name[IFNAMSIZ];
        unsigned mtu; /* the TAP's */
        int32_t nsid; /* in the daemon's namespace, -1: none yet */
};

/* A new namespace held by ns->nsfd, and in it: the TAP `clone_tap_name`
 * (opened there, with opts) with the clone gateway's MAC, address and mtu,
 * up; a veth whose inner end CLONE_UPLINK is there and whose other end is
 * made directly in home_fd's namespace as host_name (down; -EBUSY when the
 * name is taken); IPv4 forwarding on both inner devices; the NAT. The
 * uplink has no address and is down: the slot's come later. On failure
 * everything made is closed, so the namespace ends, with the veth, and
 * *ret_op names the step. */
int clone_ns_build(const struct config *c, int home_fd, const char *host_name,
                   const struct tap_options *opts, unsigned mtu, struct clone_ns *ret, const char **ret_op);

/* Closes all it holds: with the last reference the namespace ends, and the
 * veth pair and the TAP with it (a TAP fd handed out keeps it). */
void clone_ns_done(struct clone_ns *ns);

/* Whether a fresh namespace made with `pooled` serves an Acquire asking
 * for `want`: the queues and the vnet header are fixed when a TAP is made;
 * the owner is set afterwards. */
bool clone_ns_opts_fit(const struct tap_options *pooled, const struct tap_options *want);

/* One request of clone-build.c: clone_msg_new() numbers it on r, the
 * builder fills m.buf with m.seq, clone_msg_send() sends what it built (or
 * returns its error). */
#define CLONE_MSG_SIZE 256
struct clone_msg {
        _Alignas(struct nlmsghdr) uint8_t buf[CLONE_MSG_SIZE];
        uint32_t seq;
};
struct clone_msg clone_msg_new(struct rtnl *r);
int clone_msg_send(struct rtnl *r, const struct clone_msg *m, int len_or_error);

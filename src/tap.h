/* SPDX-License-Identifier: MIT */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <sys/types.h>

#include "protocol.h"

/* TAP devices through /dev/net/tun (taplinkd(8), "Kernel objects"). No
 * logging, -errno returns. */

/* The most queues one device gets: as many as Acquire may ask for. */
#define TAP_MAX_QUEUES TAPLINKD_QUEUES_MAX

struct tap_options {
        unsigned queues;  /* 1..TAP_MAX_QUEUES; > 1 means IFF_MULTI_QUEUE */
        bool vnet_header; /* IFF_VNET_HDR */
        uid_t owner;      /* TUNSETOWNER */
};

/* Reads TUNGETFEATURES once and checks the kernel offers what taplinkd needs
 * (IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE). -EOPNOTSUPP with
 * *ret_missing naming the first missing flag ("IFF_MULTI_QUEUE") if not;
 * other failures name the call in *ret_missing ("open", "TUNGETFEATURES"). */
int tap_probe_features(const char **ret_missing);

/* Creates the TAP device ifname, failing with -EBUSY when a device of that
 * name exists already (IFF_TUN_EXCL: never attach to someone else's device),
 * sets its owner, and opens one fd per queue, all O_CLOEXEC. On success
 * ret_fds[0..queues-1] hold the queue fds and *ret_ifindex the ifindex; the
 * device is not persistent, so closing every fd deletes it. On failure every
 * fd opened is closed, *ret_failed_op names the ioctl that failed
 * ("TUNSETIFF", "TUNSETOWNER", "SIOCGIFINDEX", "open /dev/net/tun"; or
 * "arguments" for -EINVAL: name empty or longer than IFNAMSIZ-1, queues out
 * of 1..TAP_MAX_QUEUES), and ret_fds and *ret_ifindex are untouched.
 * ret_failed_op may be NULL. */
int tap_create(const char *ifname, const struct tap_options *opts, int *ret_fds, int *ret_ifindex,
               const char **ret_failed_op);

/* TUNGETIFF: the name of the device an fd is attached to. */
int tap_get_name(int fd, char ret[IFNAMSIZ]);

/* TUNGETDEVNETNS: an fd (O_CLOEXEC) of the namespace the device is in. */
int tap_get_netns(int fd, int *ret_fd);

/* TUNSETPERSIST on one of the device's fds. */
int tap_set_persist(int fd, bool persist);

/* TUNSETOWNER on one of the device's fds (a pooled clone TAP changing
 * hands, docs/DESIGN.md, "The pool"). */
int tap_set_owner(int fd, uid_t owner);

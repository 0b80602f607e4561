/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "manager.h"
#include "reaper.h"
#include "rtnl.h"
#include "tap.h"

/* Clone slots (docs/DESIGN.md, "Clone slots"): a slot whose TAP lives in a
 * network namespace of its own, <ifname_prefix><s>, bind-mounted on
 * /run/netns/<ifname_prefix><s>, joined to the host by a veth pair whose
 * host end is the slot's device. The kernel side: making one (an op of the
 * manager's table), the "gone" subscriber that removes the namespace, and
 * the TAP's end seen by the link monitor in the slot's namespace. */

struct clone;

/* Prepares /run/netns (a shared mount point) and subscribes to m. rtnl
 * is the daemon's request socket (in its own namespace), reaper deletes a
 * slot's host end when its TAP went; both must outlive the clone module. */
int clone_new(const struct config *c, struct rtnl *rtnl, struct reaper *reaper, struct manager *m,
              struct clone **ret);
void clone_free(struct clone *cl);

/* Starts the pool's worker ([clone] pool > 0; docs/DESIGN.md, "The
 * pool"), after clone_reconcile(): it fills the pool in the background. */
int clone_start_pool(struct clone *cl);

/* manager_ops.clone_create: the namespace, the TAP in it (fds), the veth
 * pair, addresses, routes, forwarding and NAT inside, and the namespace's
 * id; *ret_ifindex is the veth's host end `name`. A namespace from the
 * pool when one is ready and opts fit it, else one made now. -EBUSY when
 * the name is taken in /run/netns or by a host device. On failure nothing
 * is left. */
int clone_create(struct clone *cl, unsigned slot, const char *name, const struct tap_options *opts,
                 unsigned mtu, int *fds, int *ret_ifindex, const char **ret_op);

/* The clone slot whose TAP tap_fd is attached to, by the id its namespace
 * has in ours (one RTM_GETNSID, whatever the number of clone slots).
 * -ENOENT: none. */
int clone_slot_of_tap(struct clone *cl, int tap_fd, unsigned *ret_slot);

/* The link monitor saw a link go in the namespace with id nsid. */
void clone_peer_link_gone(struct clone *cl, int nsid, const char *ifname);

/* Start-up, after the TAPs are adopted: each /run/netns/<slot name> with
 * its TAP and our veth becomes a live clone slot; a bind mount without a
 * namespace, a namespace without its TAP or veth, a veth without its
 * namespace are removed. */
int clone_reconcile(struct clone *cl);

/* taplinkd --cleanup: removes every /run/netns/<slot name> (the veths go
 * with the other slot devices). */
int clone_cleanup(const struct config *c);

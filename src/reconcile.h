/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"
#include "manager.h"
#include "rtnl.h"

/* The kernel is the state (docs/DESIGN.md, "The kernel is the state"):
 * what taplinkd holds is read back from a link dump at start-up and after
 * lost events, and `taplinkd --cleanup` removes all of it. */

/* Start-up: every device named like a slot becomes a live slot (or, made
 * by someone else, is kept out of the free list). */
int reconcile_adopt(struct rtnl *rtnl, struct manager *m);

/* The link monitor lost events: slots whose device is no longer there are
 * gone. */
int reconcile_links(struct rtnl *rtnl, struct manager *m);

/* taplinkd --cleanup: deletes every TAP device and veth named like a slot,
 * every clone namespace's bind mount (/run/netns/<slot name>) and the
 * nftables table, then returns. */
int reconcile_cleanup(const struct config *c);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "quota.h"
#include "varlink.h"

/* Who may do what (docs/DESIGN.md, "Who may do what"). The peer is
 * identified by SO_PEERCRED and SO_PEERGROUPS (struct varlink_peer); root
 * may do anything; another uid must be in allow_users or belong to a group
 * in allow_groups; a non-root uid holds at most max_slots_per_user slots. */

bool policy_is_root(const struct varlink_peer *peer);

/* Whether the peer may see (list, release, monitor) a slot of owner: root
 * sees every slot, any other uid its own. */
bool policy_may_see(const struct varlink_peer *peer, uid_t owner);

/* 0 when the peer may use the methods that act on slots, -EPERM if not. */
int policy_check_access(const struct config *c, const struct varlink_peer *peer);

/* 0 when uid may take one more slot, -EDQUOT if it holds its limit already
 * with its live slots and the `pending` Acquires still making theirs.
 * Root has no limit. */
int policy_check_quota(const struct config *c, const struct quota *q, uid_t uid, unsigned pending);

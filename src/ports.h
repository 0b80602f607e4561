/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "config.h"
#include "manager.h"
#include "publish.h"
#include "varlink.h"

/* Who may publish which host ports (docs/DESIGN.md, "Published ports"):
 * the rules of Acquire's `publish`, Publish and Unpublish, against the
 * configuration and every other slot's ports. */

/* Whether uid may give slot `self` (NULL: the slot an Acquire is about to
 * make; ipv6: whether that slot has IPv6) the ports l, next to every other
 * slot's. 0, or:
 *   -EAFNOSUPPORT a port is on an IPv6 host address and the slot has no
 *                IPv6 (IPv6 off, or a clone slot; *ret_port names it)
 *   -EPERM       uid is not root and a host port is outside
 *                [policy] publish_port_range (*ret_port names it)
 *   -EDQUOT      more than [policy] max_published_per_slot ports
 *   -EADDRINUSE  a port conflicts with another slot's (*ret_port names
 *                it; publish_port_conflicts()). */
int ports_check(const struct config *c, struct manager *m, uid_t uid, const struct slot_rec *self, bool ipv6,
                const struct publish_list *l, const struct publish_port **ret_port);

/* The Varlink error for one of ports_check()'s, or for -EEXIST (the slot
 * itself holds a conflicting port); parameter names the ports for
 * InvalidParameter ("publish" or "port"). */
void ports_reply_error(struct varlink_conn *conn, const struct config *c, int error,
                       const struct publish_port *p, const char *parameter);

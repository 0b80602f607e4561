/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

bool policy_is_root(const struct varlink_peer *peer)
{
        return peer->uid == 0;
}

bool policy_may_see(const struct varlink_peer *peer, uid_t owner)
{
        return policy_is_root(peer) || peer->uid == owner;
}

static bool uid_listed(const struct config *c, uid_t uid)
{
        for (size_t i = 0; i < c->n_allow_users; i++)
                if (c->allow_users[i] == uid)
                        return true;
        return false;
}

static bool gid_listed(const struct config *c, gid_t gid)
{
        for (size_t i = 0; i < c->n_allow_groups; i++)
                if (c->allow_groups[i] == gid)
                        return true;
        return false;
}

int policy_check_access(const struct config *c, const struct varlink_peer *peer)
{
        if (policy_is_root(peer) || uid_listed(c, peer->uid) || gid_listed(c, peer->gid))
                return 0;
        for (size_t i = 0; i < peer->n_groups; i++)
                if (gid_listed(c, peer->groups[i]))
                        return 0;
        return -EPERM;
}

int policy_check_quota(const struct config *c, const struct quota *q, uid_t uid, unsigned pending)
{
        if (uid == 0)
                return 0;
        return quota_get(q, uid) + pending >= c->max_slots_per_user ? -EDQUOT : 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "clone.h"
#include "log.h"
#include "macro.h"
#include "nft.h"
#include "reaper.h"
#include "reconcile.h"
#include "slot.h"

static int adopt(const struct rtnl_tap_info *info, void *userdata)
{
        return manager_adopt(userdata, info);
}

int reconcile_adopt(struct rtnl *rtnl, struct manager *m)
{
        int e = rtnl_dump_taps(rtnl, manager_config(m)->ifname_prefix, adopt, m);
        if (e < 0)
                return log_error_errno(e, "rtnetlink: dumping links failed: %m");
        return 0;
}

/* The ifindexes of the devices that are slots of this configuration. */
struct links {
        const struct config *config;
        VEC(int) ifindexes;
};

static int collect_slot_link(const struct rtnl_tap_info *info, void *userdata)
{
        struct links *l = userdata;
        unsigned slot;

        if (slot_from_ifname(l->config, info->ifname, &slot) < 0)
                return 0;
        return VEC_PUSH(&l->ifindexes, info->ifindex);
}

int reconcile_links(struct rtnl *rtnl, struct manager *m)
{
        struct links l = {.config = manager_config(m)};
        int e;

        log_warning("link monitor overran; re-reading the device list");
        e = rtnl_dump_taps(rtnl, l.config->ifname_prefix, collect_slot_link, &l);
        /* A clone slot's device is the host end of its veth. */
        if (e >= 0 && l.config->clone_enabled)
                e = rtnl_dump_veths(rtnl, l.config->ifname_prefix, collect_slot_link, &l);
        if (e < 0) {
                log_error_errno(e, "link dump after monitor overrun failed: %m");
                goto out;
        }
        qsort(l.ifindexes.items, l.ifindexes.n, sizeof(int), cmp_int);
        manager_links_present(m, l.ifindexes.items, l.ifindexes.n);
out:
        VEC_FREE(&l.ifindexes);
        return e;
}

static int delete_links(struct rtnl *rtnl, const struct config *c)
{
        struct links l = {.config = c};
        int e;

        e = rtnl_dump_taps(rtnl, c->ifname_prefix, collect_slot_link, &l);
        /* Clone slots' veths too, whether clone slots are on now or not. */
        if (e >= 0)
                e = rtnl_dump_veths(rtnl, c->ifname_prefix, collect_slot_link, &l);
        if (e < 0) {
                log_error_errno(e, "rtnetlink: dumping links failed: %m");
                goto out;
        }
        for (size_t i = 0; i < l.ifindexes.n; i += RTNL_BATCH_MAX) {
                size_t n = MIN(l.ifindexes.n - i, (size_t)RTNL_BATCH_MAX);
                e = rtnl_delete_links(rtnl, l.ifindexes.items + i, n, REAPER_LINK_GROUP);
                if (e < 0) {
                        log_error_errno(e, "rtnetlink: deleting devices failed: %m");
                        goto out;
                }
        }
        log_info("cleanup: deleted %zu devices", l.ifindexes.n);
out:
        VEC_FREE(&l.ifindexes);
        return e;
}

int reconcile_cleanup(const struct config *c)
{
        struct rtnl *rtnl = NULL;
        struct nft *nft = NULL;
        int e;

        e = rtnl_open(&rtnl);
        if (e < 0)
                return log_error_errno(e, "rtnetlink: opening a socket failed: %m");
        e = delete_links(rtnl, c);
        if (e >= 0)
                e = clone_cleanup(c);
        if (e < 0)
                goto out;
        e = nft_open(c, &nft);
        if (e < 0) {
                log_error_errno(e, "nftables: opening a socket failed: %m");
                goto out;
        }
        e = nft_delete_table(nft);
        if (e < 0) {
                log_error_errno(e, "nftables: deleting table inet %s failed: %m", c->nft_table);
                goto out;
        }
        log_info("cleanup: table inet %s deleted", c->nft_table);
out:
        nft_close(nft);
        rtnl_close(rtnl);
        return e;
}

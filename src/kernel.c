/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "clone.h"
#include "counters.h"
#include "conntrack.h"
#include "elements.h"
#include "firewall.h"
#include "kernel.h"
#include "log.h"
#include "nft.h"
#include "reaper.h"
#include "reconcile.h"
#include "rtnl.h"
#include "sysctl.h"
#include "tap.h"

struct kernel {
        sd_event *event;
        const struct config *config;
        struct manager *manager; /* from kernel_start() on */

        struct rtnl *rtnl;
        struct rtnl_monitor *monitor;
        sd_event_source *monitor_source;
        struct nft *nft;
        struct elements *elements;
        struct conntrack *conntrack;
        struct firewall *firewall;
        struct reaper *reaper;
        struct clone *clone; /* NULL unless [clone] enabled */
};

/* ---- manager_ops ---- */

static int op_tap_create(void *ctx, const char *name, const struct tap_options *opts, int *fds,
                         int *ret_ifindex, const char **ret_op)
{
        return tap_create(name, opts, fds, ret_ifindex, ret_op);
}

static int op_clone_create(void *ctx, unsigned slot, const char *name, const struct tap_options *opts,
                           unsigned mtu, int *fds, int *ret_ifindex, const char **ret_op)
{
        struct kernel *k = ctx;

        if (!k->clone) {
                *ret_op = "clone";
                return -EOPNOTSUPP;
        }
        return clone_create(k->clone, slot, name, opts, mtu, fds, ret_ifindex, ret_op);
}

static int op_configure_link(void *ctx, const struct rtnl_link_config *lc, const char **ret_op)
{
        struct kernel *k = ctx;
        return rtnl_configure_link(k->rtnl, lc, ret_op);
}

static int op_add_elements(void *ctx, unsigned slot)
{
        struct kernel *k = ctx;
        return elements_add(k->elements, slot);
}

static int op_set_egress(void *ctx, struct slot_rec *r, struct egress_policy *p)
{
        struct kernel *k = ctx;
        return elements_set_egress(k->elements, r, p);
}

static int op_set_published(void *ctx, struct slot_rec *r, struct publish_list *l)
{
        struct kernel *k = ctx;
        return elements_set_published(k->elements, r, l);
}

static int op_delete_link(void *ctx, int ifindex, unsigned slot)
{
        struct kernel *k = ctx;
        return reaper_delete_link(k->reaper, ifindex, slot);
}

static void op_close_fds(void *ctx, int *fds, size_t n)
{
        kernel_close_fds(fds, n, ctx);
}

const struct manager_ops kernel_ops = {
    .tap_create = op_tap_create,
    .clone_create = op_clone_create,
    .configure_link = op_configure_link,
    .add_elements = op_add_elements,
    .set_egress = op_set_egress,
    .set_published = op_set_published,
    .delete_link = op_delete_link,
    .close_fds = op_close_fds,
};

struct traffic_ctx {
        const struct config *config;
        struct counters_table *table;
};

static int on_traffic(const struct rtnl_traffic *tr, void *userdata)
{
        struct traffic_ctx *ctx = userdata;
        return counters_add_traffic(ctx->config, ctx->table, tr);
}

int kernel_counters(void *ctx, struct counters_table *ret, const char **ret_op)
{
        struct kernel *k = ctx;
        struct counters_table t = {0};
        struct traffic_ctx tc = {k->config, &t};
        _cleanup_free_ struct nft_counter *drops = NULL;
        size_t n_drops = 0;
        int e;

        /* 1 (links came or went during the dump) is fine: what was read
         * is each link's own. */
        *ret_op = "RTM_GETLINK";
        e = rtnl_dump_stats(k->rtnl, k->config->ifname_prefix, "tun", on_traffic, &tc);
        /* A clone slot's device on our side is the host end of its veth
         * (docs/DESIGN.md, "Counters"). */
        if (e >= 0 && k->clone)
                e = rtnl_dump_stats(k->rtnl, k->config->ifname_prefix, "veth", on_traffic, &tc);
        if (e >= 0) {
                *ret_op = "NFT_MSG_GETSETELEM";
                e = nft_dump_counters(k->nft, &drops, &n_drops);
        }
        for (size_t i = 0; e >= 0 && i < n_drops; i++) {
                *ret_op = "malloc";
                e = counters_add_drops(k->config, &t, &drops[i]);
        }
        if (e < 0) {
                counters_table_done(&t);
                return e;
        }
        counters_finish(&t);
        *ret = t;
        return 0;
}

void kernel_acquire_queued(void *ctx)
{
        struct kernel *k = ctx;
        reaper_note_acquire(k->reaper);
}

/* ---- events ---- */

static void on_dellink(int ifindex, const char *ifname, void *userdata)
{
        struct kernel *k = userdata;
        manager_link_gone(k->manager, ifindex, ifname);
}

static void on_peer_dellink(int nsid, int ifindex, const char *ifname, void *userdata)
{
        struct kernel *k = userdata;
        if (k->clone)
                clone_peer_link_gone(k->clone, nsid, ifname);
}

static void on_resync(void *userdata)
{
        struct kernel *k = userdata;
        (void)reconcile_links(k->rtnl, k->manager);
}

static int on_monitor(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct kernel *k = userdata;
        int e = rtnl_monitor_process(k->monitor);
        if (e < 0 && e != -EAGAIN)
                log_error_errno(e, "link monitor: %m");
        return 0;
}

/* The reaper's verdict on a Release: only a failure needs telling (a
 * deleted device comes back as RTM_DELLINK). The cookie is the slot. */
static void on_reaped(int ifindex, unsigned slot, int error, void *userdata)
{
        struct kernel *k = userdata;
        if (error < 0 && error != -ENODEV && k->manager)
                manager_link_delete_failed(k->manager, ifindex, slot, error);
}

int kernel_clone_slot_of_tap(void *ctx, int tap_fd, unsigned *ret_slot)
{
        struct kernel *k = ctx;
        return k->clone ? clone_slot_of_tap(k->clone, tap_fd, ret_slot) : -ENOENT;
}

void kernel_close_fds(int *fds, size_t n, void *ctx)
{
        struct kernel *k = ctx;

        if (k->reaper)
                reaper_close_fds(k->reaper, fds, n);
        else
                close_many(fds, n);
}

/* ---- start-up ---- */

static int start_monitor(struct kernel *k)
{
        static const struct rtnl_monitor_callbacks callbacks = {
            .on_dellink = on_dellink,
            .on_resync = on_resync,
            .on_peer_dellink = on_peer_dellink,
        };
        int e;

        e = rtnl_monitor_open(k->config->ifname_prefix, &callbacks, k, &k->monitor);
        if (e < 0)
                return log_error_errno(e, "rtnetlink: opening the link monitor failed: %m");
        /* A clone slot's TAP ends inside its own namespace (docs/DESIGN.md,
         * "Clone slots"). */
        if (k->config->clone_enabled) {
                e = rtnl_monitor_listen_all_nsid(k->monitor);
                if (e < 0)
                        return log_error_errno(e, "rtnetlink: NETLINK_LISTEN_ALL_NSID failed: %m");
        }
        e = sd_event_add_io(k->event, &k->monitor_source, rtnl_monitor_fd(k->monitor), EPOLLIN, on_monitor,
                            k);
        if (e < 0)
                return log_error_errno(e, "sd-event: adding the link monitor failed: %m");
        return 0;
}

int kernel_start(struct kernel *k, struct manager *m)
{
        const struct config *c = k->config;
        const char *what = NULL;
        int e;

        k->manager = m;
        e = tap_probe_features(&what);
        if (e < 0)
                return log_error_errno(e, "/dev/net/tun: %s: %m", what ? what : "TUNGETFEATURES");

        e = elements_new(k->event, k->nft, m, &k->elements);
        if (e < 0)
                return log_error_errno(e, "nftables: setting up the element batches failed: %m");
        e = conntrack_new(k->event, m, &k->conntrack);
        if (e < 0)
                return log_error_errno(e, "conntrack: opening a ctnetlink socket failed: %m");
        if (c->clone_enabled) {
                e = clone_new(c, k->rtnl, k->reaper, m, &k->clone);
                if (e < 0)
                        return e;
        }

        /* The monitor starts before the dump, so a device that goes away
         * while we look is seen as an event afterwards. */
        e = start_monitor(k);
        if (e < 0)
                return e;

        /* Watching before the ruleset is ensured: whatever someone else
         * removes from then on is seen, and restored once we serve. */
        e = firewall_new(k->event, k->nft, c->nft_table, elements_collect, k->elements, &k->firewall);
        if (e < 0)
                return log_error_errno(e, "nftables: watching table inet %s failed: %m", c->nft_table);

        e = nft_ensure_ruleset(k->nft);
        if (e < 0)
                return log_error_errno(e, "nftables: setting up table inet %s failed: %m", c->nft_table);
        if (e > 0)
                log_info("nftables: table inet %s created or repaired", c->nft_table);

        e = sysctl_apply_forwarding(c, &what);
        if (e < 0)
                return log_error_errno(e, "%s: %m (set it in sysctl.d, see taplinkd(8))",
                                       what ? what : "sysctl");

        e = reaper_delete_leftovers(k->rtnl);
        if (e < 0)
                return log_error_errno(e, "rtnetlink: deleting the devices a release left in the reaper's "
                                          "link groups failed: %m");
        e = reconcile_adopt(k->rtnl, m);
        if (e < 0)
                return e;
        if (k->clone) {
                e = clone_reconcile(k->clone);
                if (e >= 0)
                        e = clone_start_pool(k->clone);
                if (e < 0)
                        return e;
        }
        /* Devices that went while we dumped end now, as gone at start-up
         * (docs/DESIGN.md, "Events"); any later end is while we serve. */
        e = rtnl_monitor_process(k->monitor);
        if (e < 0 && e != -EAGAIN)
                log_error_errno(e, "link monitor: %m");
        manager_started(m);
        e = elements_reconcile(k->elements);
        if (e < 0)
                return e;
        /* Before serving: no slot is handed out with entries left from
         * its last tenant. */
        return conntrack_reconcile(k->conntrack);
}

/* ---- life ---- */

int kernel_new(sd_event *event, const struct config *c, struct kernel **ret)
{
        struct kernel *k = calloc(1, sizeof(*k));
        int e;

        if (!k)
                return -ENOMEM;
        k->event = sd_event_ref(event);
        k->config = c;
        e = rtnl_open(&k->rtnl);
        if (e < 0) {
                log_error_errno(e, "rtnetlink: opening a socket failed: %m");
                goto fail;
        }
        e = nft_open(c, &k->nft);
        if (e < 0) {
                log_error_errno(e, "nftables: opening a socket failed: %m");
                goto fail;
        }
        e = reaper_new(event, on_reaped, k, &k->reaper);
        if (e < 0) {
                log_error_errno(e, "starting the device reaper failed: %m");
                goto fail;
        }
        *ret = k;
        return 0;
fail:
        kernel_free(k);
        return e;
}

void kernel_stop(struct kernel *k)
{
        if (!k)
                return;
        /* Nothing is restored while the daemon goes. */
        firewall_free(k->firewall);
        k->firewall = NULL;
        /* Commit what is gathered so that pending Releases get their answer
         * and no element outlives its device needlessly. */
        elements_free(k->elements);
        k->elements = NULL;
        conntrack_free(k->conntrack);
        k->conntrack = NULL;
        clone_free(k->clone);
        k->clone = NULL;
        /* It finishes queued deletions and closes. */
        reaper_free(k->reaper);
        k->reaper = NULL;
        sd_event_source_disable_unref(k->monitor_source);
        k->monitor_source = NULL;
}

void kernel_free(struct kernel *k)
{
        if (!k)
                return;
        kernel_stop(k);
        rtnl_monitor_close(k->monitor);
        rtnl_close(k->rtnl);
        nft_close(k->nft);
        sd_event_unref(k->event);
        free(k);
}

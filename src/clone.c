/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clone-build.h"
#include "clone-ns.h"
#include "clone-pool.h"
#include "clone.h"
#include "log.h"
#include "macro.h"
#include "netns.h"
#include "slot.h"

struct clone {
        const struct config *config;
        struct rtnl *rtnl; /* the daemon's, in its namespace */
        struct reaper *reaper;
        struct manager *manager;
        int home_fd; /* the daemon's network namespace */
        /* Each clone slot's namespace id in ours (-1: none), by slot:
         * CLONE_NSID_BASE + slot unless that id was still held, or the
         * one a pooled namespace was given. */
        int32_t *nsids;
        struct clone_pool *pool; /* NULL: [clone] pool = 0 */
        struct tap_options pool_opts;
        unsigned pool_mtu;
};

static int new_nsid(struct clone *cl, int nsfd, int32_t nsid)
{
        struct clone_msg m = clone_msg_new(cl->rtnl);

        return clone_msg_send(cl->rtnl, &m, clone_build_newnsid(m.buf, sizeof(m.buf), m.seq, nsfd, nsid));
}

/* Gives the namespace an id in ours, so that its link events reach the
 * monitor (docs/DESIGN.md, "Clone slots"): the slot's own id, or, while
 * an earlier namespace of the slot that a VMM still holds keeps that one,
 * any the kernel picks. One it has already (a restart) is kept. */
static int set_nsid(struct clone *cl, int nsfd, unsigned slot)
{
        int32_t nsid = -1;
        int e = rtnl_get_nsid(cl->rtnl, nsfd, &nsid);

        if (e >= 0 && nsid < 0) {
                e = new_nsid(cl, nsfd, clone_nsid(slot));
                if (e == -EEXIST)
                        e = new_nsid(cl, nsfd, -1);
                if (e >= 0)
                        e = rtnl_get_nsid(cl->rtnl, nsfd, &nsid);
        }
        if (e >= 0 && nsid < 0)
                e = -ENOENT;
        if (e >= 0)
                cl->nsids[slot] = nsid;
        return e;
}

static int slot_of_nsid(const struct clone *cl, int32_t nsid, unsigned *ret_slot)
{
        unsigned slot;

        if (nsid < 0)
                return -ENOENT;
        if (clone_slot_of_nsid(nsid, &slot) >= 0 && slot < cl->config->effective_max_slots &&
            cl->nsids[slot] == nsid) {
                *ret_slot = slot;
                return 0;
        }
        for (slot = 0; slot < cl->config->effective_max_slots; slot++)
                if (cl->nsids[slot] == nsid) {
                        *ret_slot = slot;
                        return 0;
                }
        return -ENOENT;
}

int clone_slot_of_tap(struct clone *cl, int tap_fd, unsigned *ret_slot)
{
        _cleanup_close_ int ns = -1;
        int32_t nsid = -1;
        int e;

        e = tap_get_netns(tap_fd, &ns);
        if (e >= 0)
                e = rtnl_get_nsid(cl->rtnl, ns, &nsid);
        if (e < 0)
                return e;
        return slot_of_nsid(cl, nsid, ret_slot);
}

/* A pooled namespace if one fits (the TAP's queues and vnet header are
 * fixed when it is made), else one made now with the veth's host end
 * named `name` at once. */
static int take_or_build(struct clone *cl, const char *name, const struct tap_options *opts, unsigned mtu,
                         struct clone_ns *ret, const char **ret_op)
{
        if (cl->pool && clone_ns_opts_fit(&cl->pool_opts, opts) && clone_pool_take(cl->pool, ret) >= 0)
                return 0;
        return clone_ns_build(cl->config, cl->home_fd, name, opts, mtu, ret, ret_op);
}

static int rename_host_end(struct clone *cl, struct clone_ns *ns, const char *name)
{
        struct clone_msg m = clone_msg_new(cl->rtnl);
        int e;

        if (strcmp(ns->host_name, name) == 0)
                return 0;
        e = clone_msg_send(cl->rtnl, &m,
                           clone_build_setlink(m.buf, sizeof(m.buf), m.seq, ns->host_ifindex, name, 0));
        if (e == -EEXIST)
                return -EBUSY; /* a device someone else made */
        if (e >= 0)
                strcpy(ns->host_name, name);
        return e;
}

/* One more request, built at *off (or the builder's error). */
static int append(size_t *off, unsigned *n, int len_or_error)
{
        if (len_or_error < 0)
                return len_or_error;
        *off += (size_t)len_or_error;
        (*n)++;
        return 0;
}

/* Inside, in one sendmsg: the uplink's MAC (the slot's guest MAC: seen from
 * the host it is the guest), MTU, the slot's guest address, up, the
 * default route via the slot's gateway; the TAP's MTU if the slot's differs
 * from the one it was made with. */
static int configure_uplink(struct clone *cl, unsigned slot, unsigned mtu, struct clone_ns *ns)
{
        _Alignas(struct nlmsghdr) uint8_t buf[RTNL_CONFIGURE_SIZE + 2 * CLONE_MSG_SIZE] = {0};
        struct rtnl_link_config uplink = {.ifindex = ns->uplink_ifindex, .mtu = mtu};
        struct slot_net4 n4;
        size_t off = 0;
        unsigned n = 0;
        uint32_t seq;
        int e;

        slot_ipv4(cl->config, slot, &n4);
        slot_guest_mac(slot, uplink.mac);
        uplink.gateway4 = n4.guest;
        uplink.prefix4 = n4.prefix_len;
        seq = rtnl_reserve_seq(ns->rtnl, RTNL_CONFIGURE_MAX + 2);
        e = rtnl_build_configure(buf, sizeof(buf), seq, &uplink);
        if (e < 0)
                return e;
        off = (size_t)e;
        n = RTNL_CONFIGURE_MAX;
        e = append(&off, &n,
                   clone_build_default_route(buf + off, sizeof(buf) - off, seq + n, ns->uplink_ifindex,
                                             n4.gateway));
        if (e >= 0 && mtu != ns->mtu)
                e = append(
                    &off, &n,
                    clone_build_setlink(buf + off, sizeof(buf) - off, seq + n, ns->tap_ifindex, NULL, mtu));
        if (e < 0)
                return e;
        return rtnl_request(ns->rtnl, buf, off, seq, n, NULL);
}

/* What makes the namespace the slot's: its bind mount, the veth's host end
 * renamed to the slot's name, the TAP's owner, the uplink, the nsid. */
static int commit_slot(struct clone *cl, unsigned slot, const char *name, const struct tap_options *opts,
                       unsigned mtu, struct clone_ns *ns, const char **ret_op)
{
        int e;

        *ret_op = "netns";
        e = netns_attach(SLOT_NETNS_DIR, name, ns->nsfd);
        if (e < 0)
                return e;
        *ret_op = "RTM_NEWLINK rename";
        e = rename_host_end(cl, ns, name);
        if (e >= 0 && ns->opts.owner != opts->owner) {
                *ret_op = "TUNSETOWNER";
                e = tap_set_owner(ns->tap_fds[0], opts->owner);
        }
        if (e >= 0) {
                *ret_op = "RTM_NEWLINK/RTM_NEWADDR/RTM_NEWROUTE uplink";
                e = configure_uplink(cl, slot, mtu, ns);
        }
        if (e >= 0) {
                /* Events of the namespace reach the link monitor now. */
                *ret_op = "RTM_NEWNSID";
                if (ns->nsid >= 0)
                        cl->nsids[slot] = ns->nsid;
                else
                        e = set_nsid(cl, ns->nsfd, slot);
        }
        if (e < 0)
                (void)netns_remove(SLOT_NETNS_DIR, name);
        return e;
}

int clone_create(struct clone *cl, unsigned slot, const char *name, const struct tap_options *opts,
                 unsigned mtu, int *fds, int *ret_ifindex, const char **ret_op)
{
        struct clone_ns ns;
        int e;

        e = take_or_build(cl, name, opts, mtu, &ns, ret_op);
        if (e < 0)
                return e;
        e = commit_slot(cl, slot, name, opts, mtu, &ns, ret_op);
        if (e >= 0) {
                memcpy(fds, ns.tap_fds, sizeof(int) * ns.opts.queues);
                ns.tap_ifindex = 0; /* the fds are the caller's */
                *ret_ifindex = ns.host_ifindex;
        }
        /* On failure the namespace goes with our fds, and the veth with it;
         * but that happens in a kernel worker, later, and the slot's name
         * must be free again at once (a pooled veth may have it by now). */
        if (e < 0 && rtnl_delete_link(cl->rtnl, ns.host_ifindex) < 0)
                log_debug("%s: the veth of a failed clone Acquire goes with its namespace", name);
        clone_ns_done(&ns);
        return e;
}

/* RTM_DELLINK of the clone TAP inside a namespace, by the namespace's id.
 * nsfd holds the namespace, so that its id is not freed and given to
 * another one before the deletion runs. */
struct tap_in {
        int32_t nsid;
        int nsfd;
        char tap_name[IFNAMSIZ];
        char slot_name[IFNAMSIZ]; /* for the log */
};

static void delete_tap_in(struct rtnl *rtnl, struct tap_in *t)
{
        struct clone_msg m = clone_msg_new(rtnl);
        int e;

        e = clone_msg_send(rtnl, &m,
                           clone_build_dellink_in(m.buf, sizeof(m.buf), m.seq, t->nsid, t->tap_name));
        if (e < 0 && e != -ENODEV && e != -EINVAL && e != -ENOENT)
                log_warning_errno(e, "%s: deleting %s in its namespace failed: %m", t->slot_name,
                                  t->tap_name);
        t->nsfd = safe_close(t->nsfd);
}

/* reaper_job_fn: the same on a reaper thread (a deletion waits ~20 ms). */
static void delete_tap_job(struct rtnl *rtnl, void *arg)
{
        delete_tap_in(rtnl, arg);
        free(arg);
}

/* The clone TAP of slot's namespace `name` goes, off the event loop if it
 * can; before the bind mount goes. */
static void delete_tap(struct clone *cl, unsigned slot, const char *name)
{
        struct tap_in t = {.nsid = cl->nsids[slot], .nsfd = -1}, *copy;

        if (t.nsid < 0 || netns_open(SLOT_NETNS_DIR, name, &t.nsfd) < 0)
                return; /* no namespace: no TAP */
        strcpy(t.tap_name, cl->config->clone_tap_name);
        strcpy(t.slot_name, name);
        copy = malloc(sizeof(t));
        if (copy) {
                *copy = t;
                if (reaper_run(cl->reaper, delete_tap_job, copy) >= 0)
                        return;
                free(copy);
        }
        delete_tap_in(cl->rtnl, &t);
}

/* The veth's host end of r goes, by the reaper (a device's deletion waits
 * ~20 ms), on the event loop only if the reaper cannot take it; its
 * RTM_DELLINK ends the slot. */
static void delete_host_end(struct clone *cl, const struct slot_rec *r, const char *name)
{
        int e = reaper_delete_link(cl->reaper, r->ifindex, r->slot);

        if (e < 0)
                e = rtnl_delete_link(cl->rtnl, r->ifindex);
        if (e < 0 && e != -ENODEV)
                log_error_errno(e, "%s: RTM_DELLINK failed: %m", name);
}

/* Whatever way the slot ended, its namespace goes: the TAP (a VMM may hold
 * it, or it is persistent; deleted by the reaper), the bind mount; the
 * namespace itself, and conntrack in it, end when the last holder lets go.
 * An Acquire that failed still has its veth, whose RTM_DELLINK then ends
 * the slot. */
static void on_gone(struct slot_rec *r, void *userdata)
{
        struct clone *cl = userdata;
        char name[IFNAMSIZ];
        int e;

        if (!r->clone || slot_ifname(cl->config, r->slot, name) < 0)
                return;
        delete_tap(cl, r->slot, name);
        cl->nsids[r->slot] = -1;
        if (r->phase == SLOT_FAILED)
                delete_host_end(cl, r, name);
        e = netns_remove(SLOT_NETNS_DIR, name);
        if (e < 0)
                log_error_errno(e, "%s: removing " SLOT_NETNS_DIR "/%s failed: %m", name, name);
}

static const struct slot_hooks clone_hooks = {
    .name = "clone",
    .gone = on_gone,
};

void clone_peer_link_gone(struct clone *cl, int nsid, const char *ifname)
{
        struct slot_rec *r;
        char name[IFNAMSIZ];
        unsigned slot;

        if (strcmp(ifname, cl->config->clone_tap_name) != 0 || slot_of_nsid(cl, nsid, &slot) < 0)
                return;
        r = manager_slot(cl->manager, slot);
        if (!r || !r->clone || (r->phase != SLOT_LIVE && r->phase != SLOT_RELEASING))
                return;
        if (slot_ifname(cl->config, slot, name) < 0)
                return;
        /* The VMM's last fd closed: the host end goes, and its
         * RTM_DELLINK ends the slot the usual way. */
        log_debug("%s: %s gone in its namespace", name, ifname);
        delete_host_end(cl, r, name);
}

int clone_new(const struct config *c, struct rtnl *rtnl, struct reaper *reaper, struct manager *m,
              struct clone **ret)
{
        _cleanup_free_ struct clone *cl = calloc(1, sizeof(*cl));
        int e;

        if (!cl)
                return -ENOMEM;
        cl->config = c;
        cl->rtnl = rtnl;
        cl->reaper = reaper;
        cl->manager = m;
        cl->home_fd = -1;
        cl->nsids = malloc(sizeof(int32_t) * c->effective_max_slots);
        if (!cl->nsids)
                return -ENOMEM;
        for (unsigned i = 0; i < c->effective_max_slots; i++)
                cl->nsids[i] = -1;
        e = netns_open_current(&cl->home_fd);
        if (e < 0)
                return log_error_errno(e, "clone: opening our network namespace failed: %m");
        e = netns_dir_setup(SLOT_NETNS_DIR);
        if (e < 0) {
                close(cl->home_fd);
                return log_error_errno(e,
                                       "clone: making " SLOT_NETNS_DIR " a shared mount point failed: %m");
        }
        if (c->clone_pool > 0) {
                clone_pool_defaults(c, &cl->pool_opts, &cl->pool_mtu);
                e = clone_pool_new(c, cl->home_fd, &cl->pool);
                if (e < 0) {
                        close(cl->home_fd);
                        return log_error_errno(e, "clone pool: opening an rtnetlink socket failed: %m");
                }
        }
        e = manager_subscribe(m, &clone_hooks, cl);
        if (e < 0) {
                clone_pool_free(cl->pool);
                close(cl->home_fd);
                return log_error_errno(e, "clone: subscribing to the slot lifecycle failed: %m");
        }
        *ret = TAKE_PTR(cl);
        return 0;
}

int clone_start_pool(struct clone *cl)
{
        int e;

        if (!cl->pool)
                return 0;
        e = clone_pool_start(cl->pool);
        if (e < 0)
                return log_error_errno(e, "clone pool: starting its thread failed: %m");
        log_debug("clone pool: filling %u namespaces", cl->config->clone_pool);
        return 0;
}

void clone_free(struct clone *cl)
{
        if (!cl)
                return;
        manager_unsubscribe(cl->manager, &clone_hooks, cl);
        /* The worker uses home_fd: it goes first. */
        clone_pool_free(cl->pool);
        close(cl->home_fd);
        free(cl->nsids);
        free(cl);
}

/* ---- start-up and --cleanup ---- */

/* The veths named like slots, by slot; matched ones are adopted or
 * removed with their namespace, the rest had no namespace. */
struct veths {
        const struct config *config;
        VEC(struct rtnl_tap_info) items;
};

static int collect_veth(const struct rtnl_tap_info *info, void *userdata)
{
        struct veths *v = userdata;
        unsigned slot;

        if (slot_from_ifname(v->config, info->ifname, &slot) < 0)
                return 0;
        return VEC_PUSH(&v->items, *info);
}

static struct rtnl_tap_info *veth_of(struct veths *v, const char *name)
{
        for (size_t i = 0; i < v->items.n; i++)
                if (streq_ptr(v->items.items[i].ifname, name))
                        return &v->items.items[i];
        return NULL;
}

struct tap_lookup {
        const char *name;
        struct rtnl_tap_info info;
        bool found;
};

static int find_tap(const struct rtnl_tap_info *info, void *userdata)
{
        struct tap_lookup *t = userdata;

        if (streq_ptr(info->ifname, t->name)) {
                t->info = *info;
                t->found = true;
        }
        return 0;
}

/* The clone TAP in nsfd's namespace, through a socket made there (which
 * *ret_rtnl keeps for removing it). */
static int read_tap(struct clone *cl, int nsfd, struct tap_lookup *t, struct rtnl **ret_rtnl)
{
        int e = netns_enter(nsfd);

        if (e < 0)
                return e;
        e = rtnl_open(ret_rtnl);
        netns_leave(cl->home_fd);
        if (e < 0)
                return e;
        return rtnl_dump_taps(*ret_rtnl, t->name, find_tap, t);
}

static bool ours(const struct config *c, const struct rtnl_tap_info *veth, unsigned slot)
{
        uint8_t mac[6];

        slot_host_mac(slot, mac);
        return veth && memcmp(mac, veth->mac, sizeof(mac)) == 0;
}

/* A live clone slot found at start-up: its veth's host end as the slot's
 * device, with what the TAP inside says. The nsid set_nsid() recorded stays
 * only if the slot is adopted as a clone slot. */
static int adopt(struct clone *cl, unsigned slot, struct rtnl_tap_info *veth, const struct rtnl_tap_info *tap)
{
        struct rtnl_tap_info info = *veth;
        struct slot_rec *r;
        int e;

        info.has_owner = tap->has_owner;
        info.owner = tap->owner;
        info.queues = tap->queues;
        info.multi_queue = tap->multi_queue;
        info.vnet_header = tap->vnet_header;
        info.persist = tap->persist;
        info.clone = true;
        veth->ifindex = 0; /* taken */
        e = manager_adopt(cl->manager, &info);
        r = manager_slot(cl->manager, slot);
        if (e < 0 || !r || !r->clone)
                cl->nsids[slot] = -1;
        return e;
}

/* One /run/netns/<name>: a live clone slot (namespace, TAP and our veth)
 * is adopted; anything less is removed. */
static int reconcile_one(struct clone *cl, const char *name, unsigned slot, struct veths *v)
{
        struct tap_lookup t = {.name = cl->config->clone_tap_name};
        _cleanup_(rtnl_closep) struct rtnl *inner = NULL;
        struct rtnl_tap_info *veth = veth_of(v, name);
        _cleanup_close_ int nsfd = -1;
        int e;

        e = netns_open(SLOT_NETNS_DIR, name, &nsfd);
        if (e >= 0)
                e = set_nsid(cl, nsfd, slot);
        if (e >= 0)
                e = read_tap(cl, nsfd, &t, &inner);
        if (e >= 0 && t.found && ours(cl->config, veth, slot))
                return adopt(cl, slot, veth, &t.info);
        /* The namespace goes, and its id with it: another may get it. */
        cl->nsids[slot] = -1;
        log_info("%s: a clone namespace half made or ended while no daemon ran (%s); removing it", name,
                 nsfd < 0   ? "no namespace"
                 : !t.found ? "no TAP"
                            : "no veth");
        if (t.found && (e = rtnl_delete_link(inner, t.info.ifindex)) < 0 && e != -ENODEV)
                log_warning_errno(e, "%s: deleting its TAP failed: %m", name);
        if (ours(cl->config, veth, slot)) {
                e = rtnl_delete_link(cl->rtnl, veth->ifindex);
                if (e < 0 && e != -ENODEV)
                        log_warning_errno(e, "%s: RTM_DELLINK failed: %m", name);
                veth->ifindex = 0;
        }
        e = netns_remove(SLOT_NETNS_DIR, name);
        return e < 0 ? log_error_errno(e, "%s: removing " SLOT_NETNS_DIR "/%s failed: %m", name, name) : 0;
}

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* Calls fn for each entry of /run/netns named like a slot. */
static int for_each_netns(const struct config *c, int (*fn)(const char *name, unsigned slot, void *userdata),
                          void *userdata)
{
        _cleanup_(closedirp) DIR *d = opendir(SLOT_NETNS_DIR);
        struct dirent *de;
        int e = 0;

        if (!d)
                return errno == ENOENT ? 0 : negative_errno();
        while (e >= 0 && (de = readdir(d))) {
                unsigned slot;

                if (slot_from_ifname(c, de->d_name, &slot) >= 0)
                        e = fn(de->d_name, slot, userdata);
        }
        return e;
}

struct reconcile_ctx {
        struct clone *cl;
        struct veths *veths;
};

static int reconcile_entry(const char *name, unsigned slot, void *userdata)
{
        struct reconcile_ctx *ctx = userdata;
        return reconcile_one(ctx->cl, name, slot, ctx->veths);
}

int clone_reconcile(struct clone *cl)
{
        struct veths v = {.config = cl->config};
        struct reconcile_ctx ctx = {cl, &v};
        int e;

        e = rtnl_dump_veths(cl->rtnl, cl->config->ifname_prefix, collect_veth, &v);
        if (e < 0) {
                log_error_errno(e, "rtnetlink: dumping veths failed: %m");
                goto out;
        }
        e = for_each_netns(cl->config, reconcile_entry, &ctx);
        if (e < 0) {
                log_error_errno(e, "clone: reading " SLOT_NETNS_DIR " failed: %m");
                goto out;
        }
        /* Our veths whose namespace has no bind mount any more. */
        for (size_t i = 0; i < v.items.n; i++) {
                struct rtnl_tap_info *veth = &v.items.items[i];
                unsigned slot;

                if (veth->ifindex == 0 || slot_from_ifname(cl->config, veth->ifname, &slot) < 0 ||
                    !ours(cl->config, veth, slot))
                        continue;
                log_info("%s: a clone slot's veth without its namespace; deleting it", veth->ifname);
                e = rtnl_delete_link(cl->rtnl, veth->ifindex);
                if (e < 0 && e != -ENODEV)
                        log_warning_errno(e, "%s: RTM_DELLINK failed: %m", veth->ifname);
        }
        e = 0;
out:
        VEC_FREE(&v.items);
        return e;
}

static int remove_entry(const char *name, unsigned slot, void *userdata)
{
        unsigned *n = userdata;
        int e = netns_remove(SLOT_NETNS_DIR, name);

        if (e < 0)
                return log_error_errno(e, "%s: removing " SLOT_NETNS_DIR "/%s failed: %m", name, name);
        (*n)++;
        return 0;
}

int clone_cleanup(const struct config *c)
{
        unsigned n = 0;
        int e = for_each_netns(c, remove_entry, &n);

        if (e >= 0 && n > 0)
                log_info("cleanup: removed %u clone namespaces", n);
        return e;
}

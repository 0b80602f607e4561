/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clone-build.h"
#include "clone.h"
#include "log.h"
#include "macro.h"
#include "netns.h"
#include "nft.h"
#include "slot.h"

/* The inner end of the veth pair, in every clone namespace. */
#define CLONE_UPLINK "veth0"
/* Room for one request of clone-build.c. */
#define CLONE_MSG_SIZE 256

struct clone {
        const struct config *config;
        struct rtnl *rtnl; /* the daemon's, in its namespace */
        struct manager *manager;
        int home_fd; /* the daemon's network namespace */
};

/* What is made inside a new namespace while the thread is in it. */
struct inside {
        struct rtnl *rtnl;
        struct nft *nft;
        int tap_ifindex;
        int uplink_ifindex;
};

static void inside_done(struct inside *in)
{
        rtnl_close(in->rtnl);
        nft_close(in->nft);
        *in = (struct inside){0};
}

/* One request of clone-build.c: msg_new() numbers it on r, the builder
 * fills m.buf with m.seq, msg_send() sends what it built (or returns its
 * error). */
struct msg {
        _Alignas(struct nlmsghdr) uint8_t buf[CLONE_MSG_SIZE];
        uint32_t seq;
};

static struct msg msg_new(struct rtnl *r)
{
        return (struct msg){.seq = rtnl_reserve_seq(r, 1)};
}

static int msg_send(struct rtnl *r, const struct msg *m, int len_or_error)
{
        if (len_or_error < 0)
                return len_or_error;
        return rtnl_request(r, m->buf, (size_t)len_or_error, m->seq, 1, NULL);
}

/* The veth is made from inside, its peer straight into the daemon's
 * namespace: each end is created where it lives. */
static int make_veth(struct clone *cl, struct inside *in, const char *name)
{
        struct msg m = msg_new(in->rtnl);
        int e;

        e = msg_send(in->rtnl, &m,
                     clone_build_veth(m.buf, sizeof(m.buf), m.seq, CLONE_UPLINK, name, cl->home_fd));
        if (e == -EEXIST)
                return -EBUSY; /* the host name is taken */
        if (e < 0)
                return e;
        in->uplink_ifindex = (int)if_nametoindex(CLONE_UPLINK);
        return in->uplink_ifindex > 0 ? 0 : negative_errno();
}

/* In the new namespace: the TAP (opened here, so its fds belong to it),
 * sockets bound here for the configuration, the veth pair. */
static int build_inside(struct clone *cl, int nsfd, const char *name, const struct tap_options *opts,
                        int *fds, struct inside *in, const char **ret_op)
{
        int e;

        *ret_op = "setns";
        e = netns_enter(nsfd);
        if (e < 0)
                return e;
        e = tap_create(cl->config->clone_tap_name, opts, fds, &in->tap_ifindex, ret_op);
        if (e >= 0) {
                *ret_op = "rtnetlink socket";
                e = rtnl_open(&in->rtnl);
        }
        if (e >= 0) {
                *ret_op = "nftables socket";
                e = nft_open(cl->config, &in->nft);
        }
        if (e >= 0) {
                *ret_op = "RTM_NEWLINK veth";
                e = make_veth(cl, in, name);
        }
        netns_leave(cl->home_fd);
        if (e < 0 && in->tap_ifindex > 0)
                close_many(fds, opts->queues);
        return e;
}

static int set_forwarding(struct rtnl *r, int ifindex)
{
        struct msg m = msg_new(r);

        return msg_send(r, &m, clone_build_forwarding(m.buf, sizeof(m.buf), m.seq, ifindex));
}

/* Addresses, forwarding, the default route and the NAT, through the
 * sockets made inside. */
static int configure_inside(struct clone *cl, unsigned slot, unsigned mtu, struct inside *in,
                            const char **ret_op)
{
        const struct config *c = cl->config;
        struct rtnl_link_config tap = {
            .ifindex = in->tap_ifindex,
            .mtu = mtu,
            .gateway4 = c->clone_gateway,
            .prefix4 = c->clone_prefix,
        };
        struct rtnl_link_config uplink = {.ifindex = in->uplink_ifindex, .mtu = mtu};
        struct slot_net4 n4;
        struct msg m;
        int e;

        memcpy(tap.mac, c->clone_tap_mac, sizeof(tap.mac));
        slot_ipv4(c, slot, &n4);
        /* The namespace's end holds the slot's guest address: seen from
         * the host it is the guest, with the guest's MAC. */
        slot_guest_mac(slot, uplink.mac);
        uplink.gateway4 = n4.guest;
        uplink.prefix4 = n4.prefix_len;

        e = rtnl_configure_link(in->rtnl, &tap, ret_op);
        if (e >= 0)
                e = rtnl_configure_link(in->rtnl, &uplink, ret_op);
        if (e < 0)
                return e;
        *ret_op = "RTM_NEWLINK forwarding";
        e = set_forwarding(in->rtnl, in->tap_ifindex);
        if (e >= 0)
                e = set_forwarding(in->rtnl, in->uplink_ifindex);
        if (e < 0)
                return e;
        *ret_op = "RTM_NEWROUTE";
        m = msg_new(in->rtnl);
        e = msg_send(in->rtnl, &m,
                     clone_build_default_route(m.buf, sizeof(m.buf), m.seq, in->uplink_ifindex, n4.gateway));
        if (e < 0)
                return e;
        *ret_op = "nft batch (clone NAT)";
        return nft_clone_nat(in->nft, c->clone_guest, n4.guest);
}

static int set_nsid(struct clone *cl, int nsfd, unsigned slot)
{
        struct msg m = msg_new(cl->rtnl);

        return msg_send(cl->rtnl, &m,
                        clone_build_newnsid(m.buf, sizeof(m.buf), m.seq, nsfd, clone_nsid(slot)));
}

int clone_create(struct clone *cl, unsigned slot, const char *name, const struct tap_options *opts,
                 unsigned mtu, int *fds, int *ret_ifindex, const char **ret_op)
{
        _cleanup_close_ int nsfd = -1;
        struct inside in = {0};
        int e, ifindex = 0;

        *ret_op = "netns";
        e = netns_create(SLOT_NETNS_DIR, name, cl->home_fd, &nsfd);
        if (e < 0)
                return e;
        e = build_inside(cl, nsfd, name, opts, fds, &in, ret_op);
        if (e < 0)
                goto fail;
        e = configure_inside(cl, slot, mtu, &in, ret_op);
        if (e >= 0) {
                /* Events of the namespace reach the link monitor now. */
                *ret_op = "RTM_NEWNSID";
                e = set_nsid(cl, nsfd, slot);
        }
        if (e >= 0) {
                *ret_op = "SIOCGIFINDEX";
                ifindex = (int)if_nametoindex(name);
                e = ifindex > 0 ? 0 : negative_errno();
        }
        if (e < 0) {
                close_many(fds, opts->queues);
                goto fail;
        }
        inside_done(&in);
        *ret_ifindex = ifindex;
        return 0;
fail:
        inside_done(&in);
        /* The namespace goes with its mount and our fds, and the veth
         * with it. */
        (void)netns_remove(SLOT_NETNS_DIR, name);
        return e;
}

/* RTM_DELLINK of the clone TAP inside slot's namespace. */
static int delete_tap(struct clone *cl, unsigned slot)
{
        struct msg m = msg_new(cl->rtnl);

        return msg_send(cl->rtnl, &m,
                        clone_build_dellink_in(m.buf, sizeof(m.buf), m.seq, clone_nsid(slot),
                                               cl->config->clone_tap_name));
}

/* Whatever way the slot ended, its namespace goes: the TAP (a VMM may hold
 * it, or it is persistent), the bind mount; the namespace itself, and
 * conntrack in it, end when the last holder lets go. An Acquire that failed
 * still has its veth, whose RTM_DELLINK then ends the slot. */
static void on_gone(struct slot_rec *r, void *userdata)
{
        struct clone *cl = userdata;
        char name[IFNAMSIZ];
        int e;

        if (!r->clone || slot_ifname(cl->config, r->slot, name) < 0)
                return;
        e = delete_tap(cl, r->slot);
        if (e < 0 && e != -ENODEV && e != -EINVAL)
                log_warning_errno(e, "%s: deleting %s in its namespace failed: %m", name,
                                  cl->config->clone_tap_name);
        if (r->phase == SLOT_FAILED) {
                e = rtnl_delete_link(cl->rtnl, r->ifindex);
                if (e < 0 && e != -ENODEV)
                        log_warning_errno(e, "%s: RTM_DELLINK failed: %m", name);
        }
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
        int e;

        if (clone_slot_of_nsid(nsid, &slot) < 0 || strcmp(ifname, cl->config->clone_tap_name) != 0)
                return;
        r = manager_slot(cl->manager, slot);
        if (!r || !r->clone || (r->phase != SLOT_LIVE && r->phase != SLOT_RELEASING))
                return;
        if (slot_ifname(cl->config, slot, name) < 0)
                return;
        /* The VMM's last fd closed: the host end goes, and its RTM_DELLINK
         * ends the slot the usual way. */
        log_debug("%s: %s gone in its namespace", name, ifname);
        e = rtnl_delete_link(cl->rtnl, r->ifindex);
        if (e < 0 && e != -ENODEV)
                log_error_errno(e, "%s: RTM_DELLINK failed: %m", name);
}

int clone_new(const struct config *c, struct rtnl *rtnl, struct manager *m, struct clone **ret)
{
        _cleanup_free_ struct clone *cl = calloc(1, sizeof(*cl));
        int e;

        if (!cl)
                return -ENOMEM;
        cl->config = c;
        cl->rtnl = rtnl;
        cl->manager = m;
        cl->home_fd = -1;
        e = netns_open_current(&cl->home_fd);
        if (e < 0)
                return log_error_errno(e, "clone: opening our network namespace failed: %m");
        e = netns_dir_setup(SLOT_NETNS_DIR);
        if (e < 0) {
                close(cl->home_fd);
                return log_error_errno(e,
                                       "clone: making " SLOT_NETNS_DIR " a shared mount point failed: %m");
        }
        e = manager_subscribe(m, &clone_hooks, cl);
        if (e < 0) {
                close(cl->home_fd);
                return log_error_errno(e, "clone: subscribing to the slot lifecycle failed: %m");
        }
        *ret = TAKE_PTR(cl);
        return 0;
}

void clone_free(struct clone *cl)
{
        if (!cl)
                return;
        manager_unsubscribe(cl->manager, &clone_hooks, cl);
        close(cl->home_fd);
        free(cl);
}

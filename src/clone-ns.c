/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "clone-build.h"
#include "clone-ns.h"
#include "macro.h"
#include "netns.h"
#include "nft-internal.h"

struct clone_msg clone_msg_new(struct rtnl *r)
{
        return (struct clone_msg){.seq = rtnl_reserve_seq(r, 1)};
}

int clone_msg_send(struct rtnl *r, const struct clone_msg *m, int len_or_error)
{
        if (len_or_error < 0)
                return len_or_error;
        return rtnl_request(r, m->buf, (size_t)len_or_error, m->seq, 1, NULL);
}

bool clone_ns_opts_fit(const struct tap_options *pooled, const struct tap_options *want)
{
        return pooled->queues == want->queues && pooled->vnet_header == want->vnet_header;
}

void clone_ns_done(struct clone_ns *ns)
{
        if (ns->tap_ifindex > 0)
                close_many(ns->tap_fds, ns->opts.queues);
        rtnl_close(ns->rtnl);
        if (ns->nsfd >= 0)
                close(ns->nsfd);
        *ns = (struct clone_ns){.nsfd = -1, .nsid = -1};
}

/* The veth is made from inside, its peer straight into the daemon's
 * namespace: each end is created where it lives. */
static int make_veth(struct clone_ns *ns, int home_fd)
{
        struct clone_msg m = clone_msg_new(ns->rtnl);
        int e;

        e = clone_msg_send(
            ns->rtnl, &m,
            clone_build_veth(m.buf, sizeof(m.buf), m.seq, CLONE_UPLINK, ns->host_name, home_fd));
        if (e == -EEXIST)
                return -EBUSY; /* the host name is taken */
        if (e < 0)
                return e;
        ns->uplink_ifindex = (int)if_nametoindex(CLONE_UPLINK);
        return ns->uplink_ifindex > 0 ? 0 : negative_errno();
}

static int set_forwarding(struct rtnl *r, int ifindex)
{
        struct clone_msg m = clone_msg_new(r);

        return clone_msg_send(r, &m, clone_build_forwarding(m.buf, sizeof(m.buf), m.seq, ifindex));
}

/* On a socket opened inside the namespace: the NAT, one batch
 * (nft-clone.c builds it). */
static int commit_nat(const struct config *c, int uplink_ifindex)
{
        _cleanup_(nft_batch_done) struct nft_batch b = {0};
        struct nft *n = NULL;
        int r;

        r = nft_open(c, &n);
        if (r < 0)
                return r;
        r = nft_batch_begin(n, &b);
        if (r >= 0)
                r = nft_build_clone_nat(&b, nft_layout(n)->table, c->clone_guest, uplink_ifindex);
        if (r >= 0)
                r = nft_batch_commit(n, &b);
        nft_close(n);
        return r;
}

/* The TAP's MAC, MTU, address and up; forwarding on both inner devices;
 * the NAT. */
static int configure(const struct config *c, struct clone_ns *ns, const char **ret_op)
{
        struct rtnl_link_config tap = {
            .ifindex = ns->tap_ifindex,
            .mtu = ns->mtu,
            .gateway4 = c->clone_gateway,
            .prefix4 = c->clone_prefix,
        };
        int e;

        memcpy(tap.mac, c->clone_tap_mac, sizeof(tap.mac));
        e = rtnl_configure_link(ns->rtnl, &tap, ret_op);
        if (e < 0)
                return e;
        *ret_op = "RTM_NEWLINK forwarding";
        e = set_forwarding(ns->rtnl, ns->tap_ifindex);
        if (e >= 0)
                e = set_forwarding(ns->rtnl, ns->uplink_ifindex);
        if (e < 0)
                return e;
        *ret_op = "nft batch (clone NAT)";
        return commit_nat(c, ns->uplink_ifindex);
}

/* Inside: the TAP (opened here, so its fds belong to the namespace), a
 * socket bound here, the veth pair, the configuration. */
static int build_inside(const struct config *c, int home_fd, struct clone_ns *ns, const char **ret_op)
{
        int e;

        *ret_op = "setns";
        e = netns_enter(ns->nsfd);
        if (e < 0)
                return e;
        e = tap_create(c->clone_tap_name, &ns->opts, ns->tap_fds, &ns->tap_ifindex, ret_op);
        if (e >= 0) {
                *ret_op = "rtnetlink socket";
                e = rtnl_open(&ns->rtnl);
        }
        if (e >= 0) {
                *ret_op = "RTM_NEWLINK veth";
                e = make_veth(ns, home_fd);
        }
        if (e >= 0)
                e = configure(c, ns, ret_op);
        netns_leave(home_fd);
        return e;
}

int clone_ns_build(const struct config *c, int home_fd, const char *host_name,
                   const struct tap_options *opts, unsigned mtu, struct clone_ns *ret, const char **ret_op)
{
        struct clone_ns ns = {.nsfd = -1, .opts = *opts, .mtu = mtu, .nsid = -1};
        int e;

        if (strlen(host_name) >= sizeof(ns.host_name))
                return -EINVAL;
        strcpy(ns.host_name, host_name);
        *ret_op = "netns";
        e = netns_new(home_fd, &ns.nsfd);
        if (e >= 0)
                e = build_inside(c, home_fd, &ns, ret_op);
        if (e >= 0) {
                /* Back home: the other end's index. */
                *ret_op = "SIOCGIFINDEX";
                ns.host_ifindex = (int)if_nametoindex(host_name);
                e = ns.host_ifindex > 0 ? 0 : negative_errno();
        }
        if (e < 0) {
                clone_ns_done(&ns);
                return e;
        }
        *ret = ns;
        return 0;
}

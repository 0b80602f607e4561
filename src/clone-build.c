/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdio.h>
#include <string.h>

#include "clone-build.h"
#include "netlink-util.h"

/* Every request here asks for an ack. */
static struct nlmsghdr *begin(void *buf, size_t size, uint16_t type, uint16_t flags, uint32_t seq,
                              size_t hdrlen)
{
        return netlink_message_begin(buf, size, 0, type, NLM_F_ACK | flags, seq, hdrlen);
}

/* An RTM_NEWLINK about the link ifindex. */
static struct nlmsghdr *setlink_begin(void *buf, size_t size, uint32_t seq, int ifindex)
{
        struct nlmsghdr *nlh = begin(buf, size, RTM_NEWLINK, 0, seq, sizeof(struct ifinfomsg));
        struct ifinfomsg *ifi;

        if (!nlh)
                return NULL;
        ifi = mnl_nlmsg_get_payload(nlh);
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        return nlh;
}

static bool name_ok(const char *name)
{
        return name && name[0] && strlen(name) < IFNAMSIZ;
}

int clone_build_veth(void *buf, size_t size, uint32_t seq, const char *inner, const char *outer,
                     int outer_netns_fd)
{
        struct nlattr *linkinfo, *data, *peer;
        struct ifinfomsg *ifi, *peer_ifi;
        struct nlmsghdr *nlh;

        if (!name_ok(inner) || !name_ok(outer) || outer_netns_fd < 0)
                return -EINVAL;
        nlh = begin(buf, size, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, seq, sizeof(*ifi));
        if (!nlh)
                return -ENOBUFS;
        ifi = mnl_nlmsg_get_payload(nlh);
        ifi->ifi_family = AF_UNSPEC;
        if (!mnl_attr_put_strz_check(nlh, size, IFLA_IFNAME, inner) ||
            !(linkinfo = mnl_attr_nest_start_check(nlh, size, IFLA_LINKINFO)) ||
            !mnl_attr_put_strz_check(nlh, size, IFLA_INFO_KIND, "veth") ||
            !(data = mnl_attr_nest_start_check(nlh, size, IFLA_INFO_DATA)) ||
            !(peer = mnl_attr_nest_start_check(nlh, size, VETH_INFO_PEER)))
                return -ENOBUFS;
        /* The peer's attributes follow its own ifinfomsg. */
        if (nlh->nlmsg_len + MNL_ALIGN(sizeof(*peer_ifi)) > size)
                return -ENOBUFS;
        peer_ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*peer_ifi));
        peer_ifi->ifi_family = AF_UNSPEC;
        if (!mnl_attr_put_strz_check(nlh, size, IFLA_IFNAME, outer) ||
            !mnl_attr_put_u32_check(nlh, size, IFLA_NET_NS_FD, (uint32_t)outer_netns_fd))
                return -ENOBUFS;
        mnl_attr_nest_end(nlh, peer);
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, linkinfo);
        return (int)nlh->nlmsg_len;
}

int clone_build_default_route(void *buf, size_t size, uint32_t seq, int ifindex, struct in_addr gateway)
{
        struct nlmsghdr *nlh;
        struct rtmsg *rtm;

        if (ifindex <= 0)
                return -EINVAL;
        nlh = begin(buf, size, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, seq, sizeof(*rtm));
        if (!nlh)
                return -ENOBUFS;
        rtm = mnl_nlmsg_get_payload(nlh);
        rtm->rtm_family = AF_INET;
        rtm->rtm_table = RT_TABLE_MAIN;
        rtm->rtm_protocol = RTPROT_STATIC;
        rtm->rtm_scope = RT_SCOPE_UNIVERSE;
        rtm->rtm_type = RTN_UNICAST;
        /* The gateway is on the link whether or not it has carrier yet
         * (the host end comes up later). */
        rtm->rtm_flags = RTNH_F_ONLINK;
        if (!mnl_attr_put_check(nlh, size, RTA_GATEWAY, sizeof(gateway), &gateway) ||
            !mnl_attr_put_u32_check(nlh, size, RTA_OIF, (uint32_t)ifindex))
                return -ENOBUFS;
        return (int)nlh->nlmsg_len;
}

int clone_build_forwarding(void *buf, size_t size, uint32_t seq, int ifindex)
{
        struct nlattr *spec, *inet, *conf;
        struct nlmsghdr *nlh;

        if (ifindex <= 0)
                return -EINVAL;
        nlh = setlink_begin(buf, size, seq, ifindex);
        if (!nlh)
                return -ENOBUFS;
        if (!(spec = mnl_attr_nest_start_check(nlh, size, IFLA_AF_SPEC)) ||
            !(inet = mnl_attr_nest_start_check(nlh, size, AF_INET)) ||
            !(conf = mnl_attr_nest_start_check(nlh, size, IFLA_INET_CONF)) ||
            !mnl_attr_put_u32_check(nlh, size, IPV4_DEVCONF_FORWARDING, 1))
                return -ENOBUFS;
        mnl_attr_nest_end(nlh, conf);
        mnl_attr_nest_end(nlh, inet);
        mnl_attr_nest_end(nlh, spec);
        return (int)nlh->nlmsg_len;
}

int clone_build_newnsid(void *buf, size_t size, uint32_t seq, int netns_fd, int32_t nsid)
{
        struct nlmsghdr *nlh;
        struct rtgenmsg *g;

        if (netns_fd < 0 || nsid < -1)
                return -EINVAL;
        nlh = begin(buf, size, RTM_NEWNSID, 0, seq, sizeof(*g));
        if (!nlh)
                return -ENOBUFS;
        g = mnl_nlmsg_get_payload(nlh);
        g->rtgen_family = AF_UNSPEC;
        if (!mnl_attr_put_u32_check(nlh, size, NETNSA_FD, (uint32_t)netns_fd) ||
            !mnl_attr_put_u32_check(nlh, size, NETNSA_NSID, (uint32_t)nsid))
                return -ENOBUFS;
        return (int)nlh->nlmsg_len;
}

int clone_build_dellink_in(void *buf, size_t size, uint32_t seq, int32_t nsid, const char *ifname)
{
        struct ifinfomsg *ifi;
        struct nlmsghdr *nlh;

        if (nsid < 0 || !name_ok(ifname))
                return -EINVAL;
        nlh = begin(buf, size, RTM_DELLINK, 0, seq, sizeof(*ifi));
        if (!nlh)
                return -ENOBUFS;
        ifi = mnl_nlmsg_get_payload(nlh);
        ifi->ifi_family = AF_UNSPEC;
        if (!mnl_attr_put_strz_check(nlh, size, IFLA_IFNAME, ifname) ||
            !mnl_attr_put_u32_check(nlh, size, IFLA_TARGET_NETNSID, (uint32_t)nsid))
                return -ENOBUFS;
        return (int)nlh->nlmsg_len;
}

int clone_build_setlink(void *buf, size_t size, uint32_t seq, int ifindex, const char *name, unsigned mtu)
{
        struct nlmsghdr *nlh;

        if (ifindex <= 0 || (!name && mtu == 0) || (name && !name_ok(name)))
                return -EINVAL;
        nlh = setlink_begin(buf, size, seq, ifindex);
        if (!nlh)
                return -ENOBUFS;
        if ((name && !mnl_attr_put_strz_check(nlh, size, IFLA_IFNAME, name)) ||
            (mtu && !mnl_attr_put_u32_check(nlh, size, IFLA_MTU, mtu)))
                return -ENOBUFS;
        return (int)nlh->nlmsg_len;
}

int clone_pool_ifname(const char *prefix, unsigned k, char ret[IFNAMSIZ])
{
        int n = snprintf(ret, IFNAMSIZ, "%sp%u", prefix, k);

        return n < 0 || n >= IFNAMSIZ ? -ENAMETOOLONG : 0;
}

int32_t clone_nsid(unsigned slot)
{
        return CLONE_NSID_BASE + (int32_t)slot;
}

int clone_slot_of_nsid(int32_t nsid, unsigned *ret_slot)
{
        if (nsid < CLONE_NSID_BASE || nsid > CLONE_NSID_MAX)
                return -ENOENT;
        *ret_slot = (unsigned)(nsid - CLONE_NSID_BASE);
        return 0;
}

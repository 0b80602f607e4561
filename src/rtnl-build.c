/* SPDX-License-Identifier: MIT */
/* The rtnetlink requests taplinkd sends, built into a caller's buffer: no
 * I/O, no privilege (rtnl.h, "Pure message builders"). */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <string.h>

#include "macro.h"
#include "netlink-util.h"
#include "rtnl.h"

/* From <linux/if.h>, which cannot be included next to <net/if.h>. */
#ifndef IFALIASZ
#define IFALIASZ 256
#endif

static struct ifinfomsg *link_begin(void *buf, size_t size, size_t off, uint16_t type, uint16_t flags,
                                    uint32_t seq, int ifindex, struct nlmsghdr **ret_nlh)
{
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifi;

        nlh = netlink_message_begin(buf, size, off, type, flags, seq, sizeof(*ifi));
        if (!nlh)
                return NULL;
        ifi = mnl_nlmsg_get_payload(nlh);
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        *ret_nlh = nlh;
        return ifi;
}

/* MTU, MAC and alias, while the link is still down. A change made while it is
 * up would send NETDEV_CHANGE after NETDEV_UP, and IPv6 answers each of
 * them with a walk of every IPv6 route in the namespace (rt6_sync_up);
 * while it is down nothing is notified (bench/README.md, "Issue 17: which
 * kernel sequence"). */
static int build_newlink(void *buf, size_t size, size_t off, uint32_t seq,
                         const struct rtnl_link_config *cfg)
{
        size_t room = size - off;
        struct nlmsghdr *nlh;
        bool ok;

        if (!link_begin(buf, size, off, RTM_NEWLINK, NLM_F_ACK, seq, cfg->ifindex, &nlh))
                return -ENOBUFS;
        ok = mnl_attr_put_u32_check(nlh, room, IFLA_MTU, cfg->mtu) &&
             mnl_attr_put_check(nlh, room, IFLA_ADDRESS, sizeof(cfg->mac), cfg->mac);
        if (ok && cfg->alias && cfg->alias[0])
                ok = mnl_attr_put_strz_check(nlh, room, IFLA_IFALIAS, cfg->alias);
        if (!ok)
                return -ENOBUFS;
        return (int)nlh->nlmsg_len;
}

/* With IPv6 off the TAP needs no IPv6 at all: address generation mode
 * "none" keeps the kernel from giving it a link-local address when it comes
 * up, and with it the IPv6 route and DAD work that otherwise grows with the
 * number of devices. A message of its own, before the MTU: an MTU below
 * IPv6's minimum takes the device's IPv6 state away, and the mode could not
 * be set after it in the same message (EAFNOSUPPORT). */
static int build_no_ipv6_addrgen(void *buf, size_t size, size_t off, uint32_t seq, int ifindex)
{
        size_t room = size - off;
        struct nlmsghdr *nlh;
        struct nlattr *spec, *inet6;

        if (!link_begin(buf, size, off, RTM_NEWLINK, NLM_F_ACK, seq, ifindex, &nlh))
                return -ENOBUFS;
        spec = mnl_attr_nest_start_check(nlh, room, IFLA_AF_SPEC);
        if (!spec)
                return -ENOBUFS;
        inet6 = mnl_attr_nest_start_check(nlh, room, AF_INET6);
        if (!inet6 || !mnl_attr_put_u8_check(nlh, room, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE))
                return -ENOBUFS;
        mnl_attr_nest_end(nlh, inet6);
        mnl_attr_nest_end(nlh, spec);
        return (int)nlh->nlmsg_len;
}

/* The last message: IFF_UP alone, once the addresses are on. */
static int build_link_up(void *buf, size_t size, size_t off, uint32_t seq, int ifindex)
{
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifi;

        ifi = link_begin(buf, size, off, RTM_NEWLINK, NLM_F_ACK, seq, ifindex, &nlh);
        if (!ifi)
                return -ENOBUFS;
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
        return (int)nlh->nlmsg_len;
}

static struct ifaddrmsg *addr_begin(void *buf, size_t size, size_t off, uint32_t seq, int family,
                                    unsigned prefixlen, int ifindex, struct nlmsghdr **ret_nlh)
{
        struct nlmsghdr *nlh;
        struct ifaddrmsg *ifa;

        nlh = netlink_message_begin(buf, size, off, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq,
                            sizeof(*ifa));
        if (!nlh)
                return NULL;
        ifa = mnl_nlmsg_get_payload(nlh);
        ifa->ifa_family = family;
        ifa->ifa_prefixlen = prefixlen;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        ifa->ifa_index = ifindex;
        *ret_nlh = nlh;
        return ifa;
}

static int build_newaddr4(void *buf, size_t size, size_t off, uint32_t seq,
                          const struct rtnl_link_config *cfg)
{
        size_t room = size - off;
        struct nlmsghdr *nlh;
        bool ok;

        if (!addr_begin(buf, size, off, seq, AF_INET, cfg->prefix4, cfg->ifindex, &nlh))
                return -ENOBUFS;

        ok = mnl_attr_put_check(nlh, room, IFA_LOCAL, sizeof(cfg->gateway4), &cfg->gateway4) &&
             mnl_attr_put_check(nlh, room, IFA_ADDRESS, sizeof(cfg->gateway4), &cfg->gateway4);
        /* A /31 (RFC 3021) or /32 has no broadcast address: both addresses
         * of a /31 are hosts. */
        if (ok && cfg->prefix4 <= 30) {
                uint32_t mask = cfg->prefix4 == 0 ? 0 : UINT32_MAX << (32 - cfg->prefix4);
                struct in_addr brd = {htonl(ntohl(cfg->gateway4.s_addr) | ~mask)};

                ok = mnl_attr_put_check(nlh, room, IFA_BROADCAST, sizeof(brd), &brd);
        }
        if (!ok)
                return -ENOBUFS;
        return (int)nlh->nlmsg_len;
}

static int build_newaddr6(void *buf, size_t size, size_t off, uint32_t seq,
                          const struct rtnl_link_config *cfg)
{
        size_t room = size - off;
        struct nlmsghdr *nlh;
        struct ifaddrmsg *ifa;

        ifa = addr_begin(buf, size, off, seq, AF_INET6, cfg->prefix6, cfg->ifindex, &nlh);
        if (!ifa)
                return -ENOBUFS;
        /* No duplicate address detection: the address is usable at once
         * instead of tentative for a second. ifa_flags is only 8 bits;
         * IFA_FLAGS is what current kernels read, ifa_flags what old ones
         * did. */
        ifa->ifa_flags = IFA_F_NODAD;
        if (!mnl_attr_put_check(nlh, room, IFA_ADDRESS, sizeof(cfg->gateway6), &cfg->gateway6) ||
            !mnl_attr_put_u32_check(nlh, room, IFA_FLAGS, IFA_F_NODAD))
                return -ENOBUFS;
        return (int)nlh->nlmsg_len;
}

int rtnl_build_configure(void *buf, size_t size, uint32_t seq, const struct rtnl_link_config *cfg)
{
        size_t off = 0;
        int r;

        if (!buf || !cfg || cfg->ifindex <= 0 || cfg->prefix4 > 32 || (cfg->ipv6 && cfg->prefix6 > 128))
                return -EINVAL;
        if (cfg->alias && strlen(cfg->alias) >= IFALIASZ)
                return -EINVAL;
        size = MIN(size, (size_t)INT32_MAX);

        if (!cfg->ipv6) {
                r = build_no_ipv6_addrgen(buf, size, off, seq++, cfg->ifindex);
                if (r < 0)
                        return r;
                off += r;
        }

        r = build_newlink(buf, size, off, seq++, cfg);
        if (r < 0)
                return r;
        off += r;

        r = build_newaddr4(buf, size, off, seq++, cfg);
        if (r < 0)
                return r;
        off += r;

        if (cfg->ipv6) {
                r = build_newaddr6(buf, size, off, seq++, cfg);
                if (r < 0)
                        return r;
                off += r;
        }

        r = build_link_up(buf, size, off, seq++, cfg->ifindex);
        if (r < 0)
                return r;
        off += r;
        return (int)off;
}

int rtnl_build_dellink(void *buf, size_t size, uint32_t seq, int ifindex)
{
        struct nlmsghdr *nlh;

        if (!buf || ifindex <= 0)
                return -EINVAL;
        if (!link_begin(buf, size, 0, RTM_DELLINK, NLM_F_ACK, seq, ifindex, &nlh))
                return -ENOBUFS;
        return (int)nlh->nlmsg_len;
}

int rtnl_build_set_group(void *buf, size_t size, uint32_t seq, int ifindex, uint32_t group)
{
        struct nlmsghdr *nlh;

        if (!buf || ifindex <= 0 || group == 0)
                return -EINVAL;
        if (!link_begin(buf, size, 0, RTM_NEWLINK, NLM_F_ACK, seq, ifindex, &nlh) ||
            !mnl_attr_put_u32_check(nlh, size, IFLA_GROUP, group))
                return -ENOBUFS;
        return (int)nlh->nlmsg_len;
}

int rtnl_build_dellink_group(void *buf, size_t size, uint32_t seq, uint32_t group)
{
        struct nlmsghdr *nlh;

        /* Group 0 is every device's default group. */
        if (!buf || group == 0)
                return -EINVAL;
        if (!link_begin(buf, size, 0, RTM_DELLINK, NLM_F_ACK, seq, 0, &nlh) ||
            !mnl_attr_put_u32_check(nlh, size, IFLA_GROUP, group))
                return -ENOBUFS;
        return (int)nlh->nlmsg_len;
}

/* A dump of the devices of one kind: the kind filter keeps other devices
 * out of it altogether. Statistics are most of a link message: only the
 * stats dump wants them. */
int rtnl_build_dump_kind(void *buf, size_t size, uint32_t seq, bool stats, const char *kind)
{
        struct nlmsghdr *nlh;
        struct nlattr *linkinfo;

        if (!buf)
                return -EINVAL;
        if (!link_begin(buf, size, 0, RTM_GETLINK, NLM_F_DUMP, seq, 0, &nlh))
                return -ENOBUFS;
        if (!mnl_attr_put_u32_check(nlh, size, IFLA_EXT_MASK, stats ? 0 : RTEXT_FILTER_SKIP_STATS))
                return -ENOBUFS;
        linkinfo = mnl_attr_nest_start_check(nlh, size, IFLA_LINKINFO);
        if (!linkinfo || !mnl_attr_put_strz_check(nlh, size, IFLA_INFO_KIND, kind))
                return -ENOBUFS;
        mnl_attr_nest_end(nlh, linkinfo);
        return (int)nlh->nlmsg_len;
}

int rtnl_build_dump_taps(void *buf, size_t size, uint32_t seq)
{
        return rtnl_build_dump_kind(buf, size, seq, false, "tun");
}

int rtnl_build_dump_stats(void *buf, size_t size, uint32_t seq, const char *kind)
{
        return kind ? rtnl_build_dump_kind(buf, size, seq, true, kind) : -EINVAL;
}

/* SPDX-License-Identifier: MIT */
#pragma once

/* rtnetlink requests written out by hand, for the benches that compare
 * kernel call sequences with the daemon's own (kernel-seq.c, load.c's
 * naive floor): several messages in one buffer, sent in one sendmsg.
 * Header-only: each bench is one .c file. No error checking of sizes:
 * the callers' buffers are sized for what they put in. */

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

static inline struct nlmsghdr *nl_msg_begin(uint8_t *buf, size_t off, uint32_t seq, uint16_t type,
                                            uint16_t flags, size_t hdrlen)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + off);

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        nlh->nlmsg_seq = seq;
        mnl_nlmsg_put_extra_header(nlh, hdrlen);
        return nlh;
}

/* An RTM_NEWLINK for ifindex at buf + off, bringing it up if up; the
 * caller adds attributes and then advances off by its nlmsg_len. */
static inline struct nlmsghdr *nl_link_msg(uint8_t *buf, size_t off, uint32_t seq, int ifindex, bool up)
{
        struct nlmsghdr *nlh = nl_msg_begin(buf, off, seq, RTM_NEWLINK, 0, sizeof(struct ifinfomsg));
        struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        ifi->ifi_flags = up ? IFF_UP : 0;
        ifi->ifi_change = up ? IFF_UP : 0;
        return nlh;
}

/* IFLA_AF_SPEC/AF_INET6/IFLA_INET6_ADDR_GEN_MODE = NONE: no link-local
 * address, as the daemon does with ipv6 = no. */
static inline void nl_put_addr_gen_none(struct nlmsghdr *nlh)
{
        struct nlattr *spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
        struct nlattr *inet6 = mnl_attr_nest_start(nlh, AF_INET6);

        mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
        mnl_attr_nest_end(nlh, inet6);
        mnl_attr_nest_end(nlh, spec);
}

/* An RTM_NEWADDR at buf + *off, which it advances. */
static inline void nl_addr_msg(uint8_t *buf, size_t *off, uint32_t seq, int ifindex, int family,
                               unsigned prefix, const void *addr, const void *brd, bool nodad)
{
        struct nlmsghdr *nlh =
            nl_msg_begin(buf, *off, seq, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifaddrmsg));
        struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
        size_t len = family == AF_INET ? 4 : 16;

        ifa->ifa_family = family;
        ifa->ifa_prefixlen = prefix;
        ifa->ifa_index = ifindex;
        if (family == AF_INET)
                mnl_attr_put(nlh, IFA_LOCAL, len, addr);
        mnl_attr_put(nlh, IFA_ADDRESS, len, addr);
        if (brd)
                mnl_attr_put(nlh, IFA_BROADCAST, len, brd);
        if (nodad) {
                ifa->ifa_flags = IFA_F_NODAD;
                mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
        }
        *off += nlh->nlmsg_len;
}

/* Sends the n messages in buf in one sendmsg and waits for their n acks:
 * 0, the first error, or -errno of the socket. */
static inline int nl_talk(struct mnl_socket *nl, const uint8_t *buf, size_t len, unsigned n)
{
        _Alignas(struct nlmsghdr) uint8_t rbuf[8192];
        int error = 0;

        if (mnl_socket_sendto(nl, buf, len) < 0)
                return -errno;
        while (n > 0) {
                ssize_t k = mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
                const struct nlmsghdr *nlh = (const void *)rbuf;
                int left = (int)k;

                if (k < 0)
                        return -errno;
                for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
                        const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

                        if (nlh->nlmsg_type != NLMSG_ERROR)
                                continue;
                        if (e->error < 0 && error == 0)
                                error = e->error;
                        n--;
                }
        }
        return error;
}

/* SPDX-License-Identifier: MIT */
#pragma once

/* What the netlink modules do alike: start a request (the rtnetlink
 * builders of rtnl-build.c and clone-build.c), and for the subscribed
 * sockets (the link monitor in rtnl.c, the nftables monitor in
 * nft-monitor.c) size the receive buffer and drain the socket.
 * Header-only, so that a test or fuzz harness linking any of them needs
 * nothing more. */

#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "macro.h"

/* Starts a request at buf+off: header, then a zeroed family header of
 * hdrlen bytes. NULL when that does not fit. */
static inline struct nlmsghdr *netlink_message_begin(void *buf, size_t size, size_t off, uint16_t type,
                                                     uint16_t flags, uint32_t seq, size_t hdrlen)
{
        struct nlmsghdr *nlh;

        if (off > size || size - off < MNL_NLMSG_HDRLEN + MNL_ALIGN(hdrlen))
                return NULL;
        nlh = mnl_nlmsg_put_header((uint8_t *)buf + off);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        nlh->nlmsg_seq = seq;
        mnl_nlmsg_put_extra_header(nlh, hdrlen);
        return nlh;
}

/* We run with CAP_NET_ADMIN, so SO_RCVBUFFORCE may pass net.core.rmem_max;
 * without it, SO_RCVBUF gets as much as rmem_max allows. */
static inline int netlink_set_rcvbuf(struct mnl_socket *nl, int bytes)
{
        int fd = mnl_socket_get_fd(nl);

        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) == 0)
                return 0;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) < 0)
                return negative_errno();
        return 0;
}

/* One datagram as netlink_drain() read it into its buffer. Returns 0, or
 * -errno when the datagram could not be read, which counts as lost
 * notifications. */
typedef int (*netlink_datagram_cb)(const void *buf, size_t len, void *userdata);

/* Reads the datagrams queued on a non-blocking netlink socket into buf, one
 * at a time, and hands each to cb, until none is left (EAGAIN) or, when
 * max_reads is not 0, after max_reads reads (interrupted and failed ones
 * count). Returns 1 when notifications were lost on the way: the kernel
 * dropped some (ENOBUFS), one did not fit buf and was cut (ENOSPC), or cb
 * failed; the socket itself is fine then and reading goes on. Returns 0
 * when nothing was lost, -errno when the socket failed. */
static inline int netlink_drain(struct mnl_socket *nl, void *buf, size_t size, unsigned max_reads,
                                netlink_datagram_cb cb, void *userdata)
{
        bool lost = false;

        for (unsigned i = 0; max_reads == 0 || i < max_reads; i++) {
                ssize_t k = mnl_socket_recvfrom(nl, buf, size);

                if (k < 0) {
                        if (errno == EAGAIN)
                                break;
                        if (errno == EINTR)
                                continue;
                        if (errno == ENOBUFS || errno == ENOSPC) {
                                lost = true;
                                continue;
                        }
                        return negative_errno();
                }
                if (cb(buf, (size_t)k, userdata) < 0)
                        lost = true;
        }
        return lost;
}

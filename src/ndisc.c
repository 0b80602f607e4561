/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/if_ether.h>
#include <stdbool.h>
#include <string.h>

#include "bytes.h"
#include "dns-name.h"
#include "macro.h"
#include "ndisc.h"

#define IP6_HEADER 40
#define ICMP6_HEADER 4
#define RS_HEADER 8
#define ND_HOP_LIMIT 255 /* proves the sender is on the link (RFC 4861 6.1.1) */
#define RA_CUR_HOP_LIMIT 64
#define RA_FLAG_MANAGED 0x80
#define PIO_FLAG_ON_LINK 0x80

enum {
        ICMP6_ROUTER_SOLICIT = 133,
        ICMP6_ROUTER_ADVERT = 134,
};

enum {
        ND_OPT_SLLA = 1,
        ND_OPT_PREFIX = 3,
        ND_OPT_MTU = 5,
        ND_OPT_RDNSS = 25,
        ND_OPT_DNSSL = 31,
};

static const struct in6_addr all_nodes = {{{0xff, 0x02, [15] = 0x01}}};
static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};

/* The checksum over the pseudo-header and the message (RFC 4443 2.3). */
static bool icmp6_checksum_valid(const struct ip6_pkt *in)
{
        uint8_t pseudo[40] = {0};
        uint16_t sum;

        memcpy(pseudo, &in->src, 16);
        memcpy(pseudo + 16, &in->dst, 16);
        pseudo[34] = (uint8_t)(in->payload_len >> 8);
        pseudo[35] = (uint8_t)in->payload_len;
        pseudo[39] = IPPROTO_ICMPV6;
        /* inet_checksum() complements what it sums: undo that to carry
         * the pseudo-header's sum into the message's. */
        sum = (uint16_t)~ntohs(inet_checksum(pseudo, sizeof(pseudo), 0));
        return inet_checksum(in->payload, in->payload_len, sum) == 0;
}

/* The validity checks of a Router Solicitation (RFC 4861 6.1.1). */
static int rs_validate(const struct ip6_pkt *in)
{
        const uint8_t *p = in->payload;
        size_t off = RS_HEADER;

        if (in->hop_limit != ND_HOP_LIMIT || p[1] != 0 || in->payload_len < RS_HEADER)
                return -EBADMSG;
        /* No reply can go to a multicast source. */
        if (IN6_IS_ADDR_MULTICAST(&in->src) || !icmp6_checksum_valid(in))
                return -EBADMSG;
        while (off < in->payload_len) {
                size_t opt_len;

                if (in->payload_len - off < 2)
                        return -EBADMSG;
                opt_len = (size_t)p[off + 1] * 8;
                if (opt_len == 0 || opt_len > in->payload_len - off)
                        return -EBADMSG;
                if (p[off] == ND_OPT_SLLA && IN6_IS_ADDR_UNSPECIFIED(&in->src))
                        return -EBADMSG;
                off += opt_len;
        }
        return 0;
}

static void put_prefix(const struct guest_net *net, struct wbuf *w)
{
        wbuf_put8(w, ND_OPT_PREFIX);
        wbuf_put8(w, 4);
        wbuf_put8(w, (uint8_t)net->prefix6);
        /* On-link, not autonomous: the guest's one address comes from
         * DHCPv6, so that it is the one the firewall lets through. */
        wbuf_put8(w, PIO_FLAG_ON_LINK);
        wbuf_put32(w, net->lease_time); /* valid */
        wbuf_put32(w, net->lease_time); /* preferred */
        wbuf_put32(w, 0);
        wbuf_put(w, &net->subnet6, 16);
}

static void put_rdnss(const struct guest_net *net, struct wbuf *w)
{
        size_t n = net->dns ? MIN(net->dns->n_v6, (size_t)GUEST_DNS_MAX) : 0;

        if (n == 0)
                return;
        wbuf_put8(w, ND_OPT_RDNSS);
        wbuf_put8(w, (uint8_t)(1 + 2 * n));
        wbuf_put16(w, 0);
        wbuf_put32(w, NDISC_ROUTER_LIFETIME);
        wbuf_put(w, net->dns->v6, n * 16);
}

/* Left out when the list is empty or not one of valid names. */
static void put_dnssl(const struct guest_net *net, struct wbuf *w)
{
        size_t start = w->len;

        if (!net->dns)
                return;
        wbuf_put8(w, ND_OPT_DNSSL);
        wbuf_put8(w, 0); /* the length, once known */
        wbuf_put16(w, 0);
        wbuf_put32(w, NDISC_ROUTER_LIFETIME);
        if (dns_names_encode(net->dns->search, sizeof(net->dns->search), w) <= 0) {
                w->len = start;
                return;
        }
        while ((w->len - start) % 8)
                wbuf_put8(w, 0);
        if (!w->overflow)
                w->data[start + 1] = (uint8_t)((w->len - start) / 8);
}

static void put_ra(const struct guest_net *net, struct wbuf *w)
{
        wbuf_put8(w, ICMP6_ROUTER_ADVERT);
        wbuf_put8(w, 0);
        wbuf_put16(w, 0); /* the checksum: ip6_build() */
        wbuf_put8(w, RA_CUR_HOP_LIMIT);
        wbuf_put8(w, RA_FLAG_MANAGED);
        wbuf_put16(w, NDISC_ROUTER_LIFETIME);
        wbuf_put32(w, 0); /* reachable time */
        wbuf_put32(w, 0); /* retrans timer */

        wbuf_put8(w, ND_OPT_SLLA);
        wbuf_put8(w, 1);
        wbuf_put(w, net->host_mac, 6);

        wbuf_put8(w, ND_OPT_MTU);
        wbuf_put8(w, 1);
        wbuf_put16(w, 0);
        wbuf_put32(w, net->mtu);

        put_prefix(net, w);
        put_rdnss(net, w);
        put_dnssl(net, w);
}

static int build_ra(const struct guest_net *net, const struct in6_addr *dst, const uint8_t dst_mac[6],
                    struct guest_reply *reply)
{
        uint8_t ra[GUEST_REPLY_MAX - IP6_HEADER];
        struct wbuf w = WBUF(ra, sizeof(ra));
        size_t len;

        put_ra(net, &w);
        if (w.overflow)
                return -EMSGSIZE;
        len = ip6_build(reply->data, sizeof(reply->data), &net->link_local6, dst, IPPROTO_ICMPV6,
                        ND_HOP_LIMIT, ra, w.len, 2);
        if (len == 0)
                return -EMSGSIZE;
        memcpy(reply->dst_mac, dst_mac, 6);
        reply->ethertype = ETH_P_IPV6;
        reply->len = len;
        return 0;
}

int ndisc_build_ra(const struct guest_net *net, struct guest_reply *reply)
{
        int e;

        if (!net->ipv6)
                return -EINVAL;
        e = build_ra(net, &all_nodes, all_nodes_mac, reply);
        return e < 0 ? e : 1;
}

int ndisc_handle(const struct guest_net *net, const uint8_t src_mac[6], const struct ip6_pkt *in,
                 struct guest_reply *reply)
{
        struct in6_addr src;
        int e;

        if (!net->ipv6 || in->next_header != IPPROTO_ICMPV6)
                return 0;
        if (in->payload_len < ICMP6_HEADER)
                return -EBADMSG;
        if (in->payload[0] != ICMP6_ROUTER_SOLICIT)
                return 0;
        e = rs_validate(in);
        if (e < 0)
                return e;
        /* A solicitation from :: is answered to all nodes (RFC 4861 6.2.6). */
        if (IN6_IS_ADDR_UNSPECIFIED(&in->src))
                e = build_ra(net, &all_nodes, all_nodes_mac, reply);
        else {
                src = in->src;
                e = build_ra(net, &src, src_mac, reply);
        }
        return e < 0 ? e : 1;
}

/* SPDX-License-Identifier: MIT */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* IPv4/IPv6 packets for the guest services (docs/DESIGN.md, "Guest
 * services"): what a slot's guest is told, the reply a handler fills, and
 * pure parsers and builders of the IP and UDP/ICMPv6 headers around a
 * payload. The packets are layer 3: the AF_PACKET socket (SOCK_DGRAM) adds
 * and strips the Ethernet header. No I/O, no allocation; fuzzed. */

#define GUEST_DNS_MAX 8
#define GUEST_DOMAIN_MAX 253

/* DNS servers and the search domain handed to every guest. */
struct guest_dns {
        struct in_addr v4[GUEST_DNS_MAX];
        size_t n_v4;
        struct in6_addr v6[GUEST_DNS_MAX];
        size_t n_v6;
        char search[GUEST_DOMAIN_MAX + 1]; /* "" for none */
};

/* What one slot's guest is told; everything derives from the slot number
 * and the configuration (guest_net_for_slot() in guest.c). */
struct guest_net {
        unsigned slot;
        unsigned mtu;
        uint8_t host_mac[6];     /* the TAP's own MAC: replies come from it */
        struct in_addr guest4;   /* B4+2 */
        struct in_addr gateway4; /* B4+1: router and DHCP server identifier */
        struct in_addr netmask4;
        unsigned prefix4;
        uint32_t lease_time; /* seconds, DHCPv4 and DHCPv6 lifetimes */
        bool ipv6;
        struct in6_addr subnet6; /* B6: the on-link prefix */
        unsigned prefix6;
        struct in6_addr guest6;      /* B6::2, the one DHCPv6 address */
        struct in6_addr link_local6; /* the TAP's fe80:: address: RAs and DHCPv6 come from it */
        const struct guest_dns *dns;
};

/* The TAP's link-local address: fe80::/64 with the modified EUI-64 of its
 * MAC (RFC 4291, appendix A), as the kernel generates it. */
void guest_link_local(const uint8_t mac[6], struct in6_addr *ret);

/* A reply: an IP packet and the MAC it goes to. */
#define GUEST_REPLY_MAX 1280
struct guest_reply {
        uint8_t dst_mac[6];
        uint16_t ethertype; /* ETH_P_IP or ETH_P_IPV6, host order */
        size_t len;
        uint8_t data[GUEST_REPLY_MAX];
};

/* The Internet checksum (RFC 1071) of data, continuing from sum (0 to
 * start); returns the folded, complemented 16-bit value in network order
 * as it goes into a header. */
uint16_t inet_checksum(const void *data, size_t len, uint32_t sum);

/* A UDP datagram in an IPv4 packet. */
struct ip4_udp {
        struct in_addr src, dst;
        uint16_t sport, dport; /* host order */
        const uint8_t *payload;
        size_t payload_len;
};

/* Parses an IPv4 packet carrying UDP: version 4, a header length and total
 * length that fit, a correct header checksum, not a fragment, UDP with a
 * length that fits. The UDP checksum is not checked: a guest that offloads
 * it leaves it unfinished in what a packet socket sees. -EBADMSG when
 * malformed, -EPROTONOSUPPORT when not UDP. */
int ip4_udp_parse(const uint8_t *pkt, size_t len, struct ip4_udp *ret);

/* Builds an IPv4/UDP packet (TTL 64, UDP checksum included) into buf.
 * Returns its length, or 0 when it does not fit. */
size_t ip4_udp_build(uint8_t *buf, size_t size, struct in_addr src, struct in_addr dst, uint16_t sport,
                     uint16_t dport, const void *payload, size_t payload_len);

/* An IPv6 packet's upper layer (no extension headers). */
struct ip6_pkt {
        struct in6_addr src, dst;
        uint8_t next_header; /* IPPROTO_UDP, IPPROTO_ICMPV6, ... */
        uint8_t hop_limit;
        const uint8_t *payload; /* the UDP or ICMPv6 header onwards */
        size_t payload_len;
};

/* Parses an IPv6 header whose payload length fits. A packet with an
 * extension header is refused (-EPROTONOSUPPORT): Router Solicitations and
 * DHCPv6 carry none. -EBADMSG when malformed. */
int ip6_parse(const uint8_t *pkt, size_t len, struct ip6_pkt *ret);

/* A UDP datagram in an IPv6 packet: ip6_parse() plus a UDP header whose
 * length fits. sport/dport in host order. */
struct ip6_udp {
        struct ip6_pkt ip;
        uint16_t sport, dport;
        const uint8_t *payload;
        size_t payload_len;
};
int ip6_udp_parse(const uint8_t *pkt, size_t len, struct ip6_udp *ret);

/* Builds an IPv6 packet around an upper-layer payload whose checksum field
 * is at checksum_offset (UDP: 6, ICMPv6: 2): the checksum is computed with
 * the pseudo-header and filled in. Returns the length, or 0 when it does
 * not fit. */
size_t ip6_build(uint8_t *buf, size_t size, const struct in6_addr *src, const struct in6_addr *dst,
                 uint8_t next_header, uint8_t hop_limit, const void *payload, size_t payload_len,
                 size_t checksum_offset);

/* ip6_build() of a UDP datagram (hop limit 64 unless the caller needs
 * otherwise: DHCPv6 uses the default). */
size_t ip6_udp_build(uint8_t *buf, size_t size, const struct in6_addr *src, const struct in6_addr *dst,
                     uint16_t sport, uint16_t dport, const void *payload, size_t payload_len);

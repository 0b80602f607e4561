/* SPDX-License-Identifier: MIT */
#pragma once

/* Checks of a built IPv6 packet for the guest-service tests and fuzz
 * harnesses (test-ndisc, test-dhcp6, fuzz-icmp6, fuzz-dhcp6). The
 * checksum is summed here again, independently of src/packet.c, so that a
 * reply is not checked by the code that made it. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t check_sum16(const uint8_t *p, size_t n, uint32_t sum)
{
        for (size_t i = 0; i + 1 < n; i += 2)
                sum += (uint32_t)(p[i] << 8 | p[i + 1]);
        if (n % 2)
                sum += (uint32_t)p[n - 1] << 8;
        return sum;
}

/* The upper-layer checksum of an IPv6 packet with its pseudo-header
 * (RFC 8200 8.1) adds up to all ones. */
static inline bool ip6_checksum_ok(const uint8_t *pkt, size_t len)
{
        uint32_t sum = 0;
        size_t payload_len = len - 40;

        sum = check_sum16(pkt + 8, 32, sum); /* source and destination */
        sum += (uint32_t)payload_len;
        sum += pkt[6];
        sum = check_sum16(pkt + 40, payload_len, sum);
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return sum == 0xffff;
}

/* A well-formed IPv6 packet of exactly len octets without extension
 * headers, carrying next_header from src with the given hop limit, and
 * with a valid checksum (for UDP: one that is not 0, RFC 8200 8.1). */
static inline bool ip6_packet_ok(const uint8_t *pkt, size_t len, uint8_t next_header, uint8_t hop_limit,
                                 const struct in6_addr *src)
{
        if (len < 40 || pkt[0] >> 4 != 6)
                return false;
        if ((size_t)(pkt[4] << 8 | pkt[5]) != len - 40)
                return false;
        if (pkt[6] != next_header || pkt[7] != hop_limit || memcmp(pkt + 8, src, 16) != 0)
                return false;
        if (next_header == IPPROTO_UDP) {
                if (len < 48 || (size_t)(pkt[44] << 8 | pkt[45]) != len - 40 || (pkt[46] | pkt[47]) == 0)
                        return false;
        }
        return ip6_checksum_ok(pkt, len);
}

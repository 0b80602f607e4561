/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "packet.h"

#define IP4_HEADER_MIN 20
#define IP6_HEADER 40
#define UDP_HEADER 8

static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}

void guest_link_local(const uint8_t mac[6], struct in6_addr *ret)
{
        uint8_t *a = ret->s6_addr;

        memset(a, 0, 16);
        a[0] = 0xfe;
        a[1] = 0x80;
        a[8] = mac[0] ^ 0x02; /* the universal/local bit, inverted */
        a[9] = mac[1];
        a[10] = mac[2];
        a[11] = 0xff;
        a[12] = 0xfe;
        a[13] = mac[3];
        a[14] = mac[4];
        a[15] = mac[5];
}

static uint32_t sum_words(const void *data, size_t len, uint32_t sum)
{
        const uint8_t *p = data;

        for (; len > 1; p += 2, len -= 2)
                sum += get16(p);
        if (len)
                sum += (uint32_t)p[0] << 8;
        return sum;
}

static uint16_t fold(uint32_t sum)
{
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t)~sum;
}

uint16_t inet_checksum(const void *data, size_t len, uint32_t sum)
{
        return htons(fold(sum_words(data, len, sum)));
}

int ip4_udp_parse(const uint8_t *pkt, size_t len, struct ip4_udp *ret)
{
        size_t ihl, total, udp_len;
        const uint8_t *udp;

        if (len < IP4_HEADER_MIN || pkt[0] >> 4 != 4)
                return -EBADMSG;
        ihl = (size_t)(pkt[0] & 0x0f) * 4;
        total = get16(pkt + 2);
        if (ihl < IP4_HEADER_MIN || total < ihl || total > len || fold(sum_words(pkt, ihl, 0)) != 0)
                return -EBADMSG;
        /* More fragments, or an offset: DHCP is never fragmented. */
        if (get16(pkt + 6) & 0x3fff)
                return -EBADMSG;
        if (pkt[9] != IPPROTO_UDP)
                return -EPROTONOSUPPORT;
        udp = pkt + ihl;
        if (total - ihl < UDP_HEADER)
                return -EBADMSG;
        udp_len = get16(udp + 4);
        if (udp_len < UDP_HEADER || udp_len > total - ihl)
                return -EBADMSG;
        memcpy(&ret->src, pkt + 12, 4);
        memcpy(&ret->dst, pkt + 16, 4);
        ret->sport = get16(udp);
        ret->dport = get16(udp + 2);
        ret->payload = udp + UDP_HEADER;
        ret->payload_len = udp_len - UDP_HEADER;
        return 0;
}

size_t ip4_udp_build(uint8_t *buf, size_t size, struct in_addr src, struct in_addr dst, uint16_t sport,
                     uint16_t dport, const void *payload, size_t payload_len)
{
        size_t total = IP4_HEADER_MIN + UDP_HEADER + payload_len;
        uint8_t *udp = buf + IP4_HEADER_MIN;
        uint8_t pseudo[12];
        uint16_t sum;

        if (total > size || total > 0xffff)
                return 0;
        memset(buf, 0, IP4_HEADER_MIN + UDP_HEADER);
        buf[0] = 0x45;
        put16(buf + 2, (uint16_t)total);
        buf[8] = 64; /* TTL */
        buf[9] = IPPROTO_UDP;
        memcpy(buf + 12, &src, 4);
        memcpy(buf + 16, &dst, 4);
        memcpy(buf + 10, (uint16_t[]){inet_checksum(buf, IP4_HEADER_MIN, 0)}, 2);

        put16(udp, sport);
        put16(udp + 2, dport);
        put16(udp + 4, (uint16_t)(UDP_HEADER + payload_len));
        memmove(udp + UDP_HEADER, payload, payload_len);
        memcpy(pseudo, &src, 4);
        memcpy(pseudo + 4, &dst, 4);
        pseudo[8] = 0;
        pseudo[9] = IPPROTO_UDP;
        put16(pseudo + 10, (uint16_t)(UDP_HEADER + payload_len));
        sum = inet_checksum(udp, UDP_HEADER + payload_len, sum_words(pseudo, sizeof(pseudo), 0));
        /* 0 means "no checksum" in UDP over IPv4: send its other form. */
        if (sum == 0)
                sum = 0xffff;
        memcpy(udp + 6, &sum, 2);
        return total;
}

int ip6_parse(const uint8_t *pkt, size_t len, struct ip6_pkt *ret)
{
        size_t payload_len;

        if (len < IP6_HEADER || pkt[0] >> 4 != 6)
                return -EBADMSG;
        payload_len = get16(pkt + 4);
        if (payload_len > len - IP6_HEADER)
                return -EBADMSG;
        if (pkt[6] != IPPROTO_UDP && pkt[6] != IPPROTO_ICMPV6)
                return -EPROTONOSUPPORT;
        memcpy(&ret->src, pkt + 8, 16);
        memcpy(&ret->dst, pkt + 24, 16);
        ret->next_header = pkt[6];
        ret->hop_limit = pkt[7];
        ret->payload = pkt + IP6_HEADER;
        ret->payload_len = payload_len;
        return 0;
}

int ip6_udp_parse(const uint8_t *pkt, size_t len, struct ip6_udp *ret)
{
        size_t udp_len;
        int e;

        e = ip6_parse(pkt, len, &ret->ip);
        if (e < 0)
                return e;
        if (ret->ip.next_header != IPPROTO_UDP)
                return -EPROTONOSUPPORT;
        if (ret->ip.payload_len < UDP_HEADER)
                return -EBADMSG;
        udp_len = get16(ret->ip.payload + 4);
        if (udp_len < UDP_HEADER || udp_len > ret->ip.payload_len)
                return -EBADMSG;
        ret->sport = get16(ret->ip.payload);
        ret->dport = get16(ret->ip.payload + 2);
        ret->payload = ret->ip.payload + UDP_HEADER;
        ret->payload_len = udp_len - UDP_HEADER;
        return 0;
}

size_t ip6_build(uint8_t *buf, size_t size, const struct in6_addr *src, const struct in6_addr *dst,
                 uint8_t next_header, uint8_t hop_limit, const void *payload, size_t payload_len,
                 size_t checksum_offset)
{
        uint8_t pseudo[40];
        uint8_t *upper = buf + IP6_HEADER;
        uint16_t sum;

        if (IP6_HEADER + payload_len > size || payload_len > 0xffff || checksum_offset + 2 > payload_len)
                return 0;
        memset(buf, 0, IP6_HEADER);
        buf[0] = 0x60;
        put16(buf + 4, (uint16_t)payload_len);
        buf[6] = next_header;
        buf[7] = hop_limit;
        memcpy(buf + 8, src, 16);
        memcpy(buf + 24, dst, 16);
        memmove(upper, payload, payload_len);
        memset(upper + checksum_offset, 0, 2);

        memcpy(pseudo, src, 16);
        memcpy(pseudo + 16, dst, 16);
        memset(pseudo + 32, 0, 8);
        pseudo[34] = (uint8_t)(payload_len >> 8);
        pseudo[35] = (uint8_t)payload_len;
        pseudo[39] = next_header;
        sum = inet_checksum(upper, payload_len, sum_words(pseudo, sizeof(pseudo), 0));
        if (sum == 0 && next_header == IPPROTO_UDP)
                sum = 0xffff;
        memcpy(upper + checksum_offset, &sum, 2);
        return IP6_HEADER + payload_len;
}

size_t ip6_udp_build(uint8_t *buf, size_t size, const struct in6_addr *src, const struct in6_addr *dst,
                     uint16_t sport, uint16_t dport, const void *payload, size_t payload_len)
{
        uint8_t *udp = buf + IP6_HEADER;

        if (IP6_HEADER + UDP_HEADER + payload_len > size)
                return 0;
        /* The payload may already sit where it goes: move it first. */
        memmove(udp + UDP_HEADER, payload, payload_len);
        put16(udp, sport);
        put16(udp + 2, dport);
        put16(udp + 4, (uint16_t)(UDP_HEADER + payload_len));
        return ip6_build(buf, size, src, dst, IPPROTO_UDP, 64, udp, UDP_HEADER + payload_len, 6);
}

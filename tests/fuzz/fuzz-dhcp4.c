/* SPDX-License-Identifier: MIT */
// MODULES: dhcp4 packet
// MAX_LEN: 1500

/* The DHCPv4 server (src/dhcp4.c) over arbitrary messages from a guest.
 * The first byte picks the slot's configuration (bits 0-1: no DNS, no
 * IPv4 DNS, two servers and a domain, the most servers and the longest
 * domain; bit 2: MTU 9000; bit 3: an infinite lease); the rest is the UDP
 * payload, wrapped into an IPv4/UDP packet by ip4_udp_build() and parsed
 * back as the daemon does, in a buffer of exactly its length. Checked
 * besides memory safety:
 * - the result is 1, 0 or -EBADMSG, and a malformed message is NONE;
 * - a reply is a valid IPv4/UDP packet of at most GUEST_REPLY_MAX bytes,
 *   with a correct UDP checksum, from the gateway's port 67 to port 68;
 * - it is a BOOTREPLY echoing xid and chaddr, at least 300 bytes, whose
 *   options all fit, end with END, and carry one OFFER, ACK or NAK from
 *   the gateway; yiaddr is the guest's address or 0 (NAK, INFORM);
 * - it goes to broadcast at ff:ff:ff:ff:ff:ff, or to chaddr's MAC. */

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <string.h>

#include "dhcp4.h"
#include "fuzz.h"
#include "packet.h"

static struct guest_dns dns_none, dns_some, dns_most;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        dns_none.n_v6 = 1;
        dns_some.n_v4 = 2;
        dns_some.v4[0].s_addr = htonl(0xc0000235);
        dns_some.v4[1].s_addr = htonl(0xc6336435);
        strcpy(dns_some.search, "example.test");
        dns_most.n_v4 = GUEST_DNS_MAX;
        for (size_t i = 0; i < GUEST_DNS_MAX; i++)
                dns_most.v4[i].s_addr = htonl(0x0a000001 + (uint32_t)i);
        memset(dns_most.search, 'd', GUEST_DOMAIN_MAX);
        return 0;
}

static void net_for(uint8_t variant, struct guest_net *ret)
{
        static const struct guest_dns *const dns[] = {NULL, &dns_none, &dns_some, &dns_most};

        *ret = (struct guest_net){
            .slot = 7,
            .mtu = variant & 4 ? 9000 : 1500,
            .guest4 = {htonl(0x0ad5001e)},   /* 10.213.0.30 */
            .gateway4 = {htonl(0x0ad5001d)}, /* 10.213.0.29 */
            .netmask4 = {htonl(0xfffffffc)},
            .prefix4 = 30,
            .lease_time = variant & 8 ? UINT32_MAX : 86400,
            .dns = dns[variant & 3],
        };
}

static void check_udp_checksum(const uint8_t *pkt)
{
        size_t udp_len = (size_t)(pkt[24] << 8 | pkt[25]);
        uint32_t sum = IPPROTO_UDP + (uint32_t)udp_len;

        for (size_t i = 12; i < 20; i += 2)
                sum += (uint32_t)(pkt[i] << 8 | pkt[i + 1]);
        CHECK(inet_checksum(pkt + 20, udp_len, sum) == 0);
}

/* Walks the reply's options; returns the message type. */
static uint8_t check_options(const struct guest_net *net, const uint8_t *p, size_t len)
{
        uint8_t type = 0;
        size_t i = 240;

        while (i < len && p[i] != 255) {
                CHECK(p[i] != 0);
                CHECK(len - i >= 2 && len - i - 2 >= p[i + 1]);
                if (p[i] == 53) {
                        CHECK(type == 0 && p[i + 1] == 1);
                        type = p[i + 2];
                }
                if (p[i] == 54)
                        CHECK(p[i + 1] == 4 && memcmp(p + i + 2, &net->gateway4, 4) == 0);
                i += 2 + (size_t)p[i + 1];
        }
        CHECK(i < len); /* END */
        CHECK(type == 2 || type == 5 || type == 6);
        return type;
}

static void check_reply(const struct guest_net *net, const uint8_t *req, const struct guest_reply *reply)
{
        static const uint8_t broadcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        struct ip4_udp out;
        const uint8_t *p;
        uint32_t yiaddr;
        uint8_t type;

        CHECK(reply->ethertype == ETH_P_IP);
        CHECK(reply->len <= GUEST_REPLY_MAX);
        CHECK(ip4_udp_parse(reply->data, reply->len, &out) == 0);
        CHECK(out.payload_len + 28 == reply->len);
        check_udp_checksum(reply->data);
        CHECK(out.src.s_addr == net->gateway4.s_addr && out.sport == 67 && out.dport == 68);

        p = out.payload;
        CHECK(out.payload_len >= 300);
        CHECK(p[0] == 2 && p[1] == 1 && p[2] == 6);
        CHECK(memcmp(p + 4, req + 4, 4) == 0 && memcmp(p + 28, req + 28, 16) == 0);
        CHECK(memcmp(p + 236, "\x63\x82\x53\x63", 4) == 0);
        type = check_options(net, p, out.payload_len);
        memcpy(&yiaddr, p + 16, 4);
        CHECK(yiaddr == net->guest4.s_addr || yiaddr == 0);
        if (type == 6)
                CHECK(yiaddr == 0);
        if (type == 2)
                CHECK(yiaddr == net->guest4.s_addr);

        if (out.dst.s_addr == htonl(INADDR_BROADCAST))
                CHECK(memcmp(reply->dst_mac, broadcast_mac, 6) == 0);
        else
                CHECK(type != 6 && memcmp(reply->dst_mac, req + 28, 6) == 0 && out.dst.s_addr != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct guest_reply reply;
        enum dhcp4_event ev = DHCP4_NONE;
        struct guest_net net;
        struct ip4_udp in;
        uint8_t *pkt;
        size_t len;
        int r;

        if (size < 1)
                return 0;
        net_for(data[0], &net);
        pkt = malloc(28 + size - 1);
        CHECK(pkt);
        len = ip4_udp_build(pkt, 28 + size - 1, (struct in_addr){INADDR_ANY},
                            (struct in_addr){INADDR_BROADCAST}, 68, 67, data + 1, size - 1);
        CHECK(len == 28 + size - 1);
        CHECK(ip4_udp_parse(pkt, len, &in) == 0);

        r = dhcp4_handle(&net, (const uint8_t[6]){0x52, 0x54, 0, 0x12, 0x34, 0x56}, &in, &reply, &ev);
        CHECK(r == 1 || r == 0 || r == -EBADMSG);
        CHECK(dhcp4_event_to_string(ev) != NULL);
        if (r == -EBADMSG)
                CHECK(ev == DHCP4_NONE);
        if (r == 1) {
                CHECK(ev == DHCP4_DISCOVER || ev == DHCP4_REQUEST || ev == DHCP4_INFORM);
                check_reply(&net, in.payload, &reply);
        }
        free(pkt);
        return 0;
}

/* SPDX-License-Identifier: MIT */
#pragma once

/* The guest_nets the IPv6 guest-service harnesses (fuzz-icmp6,
 * fuzz-dhcp6) answer under: slot 7 as taplinkd derives it, with DNS
 * servers and a search list; without DNS (dns NULL); with the most DNS
 * there may be (eight servers, a search list of many short names: the
 * largest replies) and a /48 with the longest lease; and IPv6 off. The
 * first input byte picks one (low two bits) and the guest's source
 * address (next two bits). */

#include <arpa/inet.h>
#include <string.h>

#include "fuzz.h"
#include "packet.h"

#define GUEST_NETS 4

static const uint8_t fuzz_host_mac[6] = {0x06, 0x74, 0x6c, 0x00, 0x00, 0x07};
static const uint8_t fuzz_guest_mac[6] = {0x02, 0x74, 0x6c, 0x00, 0x00, 0x07};
static struct guest_dns fuzz_dns[2];
static struct guest_net fuzz_nets[GUEST_NETS];

static inline struct in6_addr fuzz_addr6(const char *s)
{
        struct in6_addr a;

        CHECK(inet_pton(AF_INET6, s, &a) == 1);
        return a;
}

static inline void fuzz_nets_init(void)
{
        struct guest_net base = {
            .slot = 7,
            .mtu = 1500,
            .lease_time = 86400,
            .ipv6 = true,
            .subnet6 = fuzz_addr6("fd74:6c00:0:7::"),
            .prefix6 = 64,
            .guest6 = fuzz_addr6("fd74:6c00:0:7::2"),
        };

        memcpy(base.host_mac, fuzz_host_mac, 6);
        guest_link_local(fuzz_host_mac, &base.link_local6);

        fuzz_dns[0] = (struct guest_dns){.n_v6 = 2, .search = "example.com corp.example"};
        fuzz_dns[0].v6[0] = fuzz_addr6("2001:db8::53");
        fuzz_dns[0].v6[1] = fuzz_addr6("fd00::35");
        fuzz_dns[1] = (struct guest_dns){.n_v6 = GUEST_DNS_MAX};
        for (size_t i = 0; i < GUEST_DNS_MAX; i++) {
                fuzz_dns[1].v6[i] = fuzz_addr6("2001:db8::100");
                fuzz_dns[1].v6[i].s6_addr[15] = (uint8_t)i;
        }
        for (size_t i = 0; i + 1 < sizeof(fuzz_dns[1].search); i += 2)
                memcpy(fuzz_dns[1].search + i, "a ", 2);

        fuzz_nets[0] = base;
        fuzz_nets[0].dns = &fuzz_dns[0];
        fuzz_nets[1] = base;
        fuzz_nets[2] = base;
        fuzz_nets[2].dns = &fuzz_dns[1];
        fuzz_nets[2].subnet6 = fuzz_addr6("fd74:6c00:7::");
        fuzz_nets[2].prefix6 = 48;
        fuzz_nets[2].guest6 = fuzz_addr6("fd74:6c00:7::2");
        fuzz_nets[2].lease_time = 0xffffffff;
        fuzz_nets[3] = base;
        fuzz_nets[3].ipv6 = false;
}

/* The guest's source address for the variant byte v. */
static inline struct in6_addr fuzz_source(uint8_t v)
{
        static const char *const sources[] = {"fe80::74:6cff:fe00:7", "::", "fd74:6c00:0:7::2", "ff02::1"};

        return fuzz_addr6(sources[(v >> 2) & 3]);
}

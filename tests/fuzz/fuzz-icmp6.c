/* SPDX-License-Identifier: MIT */
// MODULES: ndisc dns-name packet
// MAX_LEN: 1500

/* Router Solicitations (src/ndisc.c): the input after its first byte is
 * an ICMPv6 message, put in an IPv6 packet with a correct checksum,
 * parsed, handled. The first byte picks the guest_net and the source
 * (guest-nets.h), the hop limit (bits 4-5: 255, 254, 1, 0) and whether
 * the checksum is spoilt (bit 6). Checked besides memory safety:
 * - the result is 1, 0 or -EBADMSG, and the reply is untouched unless 1;
 * - 1 only for an RS (type 133, code 0, at least 8 octets, hop limit 255,
 *   checksum right) with IPv6 on;
 * - an RA is a valid IPv6 packet from net->link_local6 with hop limit 255
 *   and a right checksum, at most GUEST_REPLY_MAX, to the solicitation's
 *   source and MAC, or to ff02::1 from ::; its options are well formed,
 *   with exactly one prefix, net->subnet6/net->prefix6, not autonomous,
 *   and one source link-layer address, net->host_mac. */

#include <errno.h>
#include <linux/if_ether.h>

#include "../unit/ip6-check.h"
#include "fuzz.h"
#include "guest-nets.h"
#include "ndisc.h"

static const uint8_t hop_limits[4] = {255, 254, 1, 0};
static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
static struct in6_addr all_nodes;

static void check_options(const struct guest_net *net, const uint8_t *p, size_t len)
{
        size_t prefixes = 0, sllas = 0;

        for (size_t off = 0; off < len;) {
                size_t n;

                CHECK(len - off >= 8);
                n = (size_t)p[off + 1] * 8;
                CHECK(n > 0 && n <= len - off);
                if (p[off] == 3) {
                        CHECK(n == 32 && p[off + 2] == net->prefix6 && (p[off + 3] & 0x40) == 0);
                        CHECK(memcmp(p + off + 16, &net->subnet6, 16) == 0);
                        prefixes++;
                } else if (p[off] == 1) {
                        CHECK(n == 8 && memcmp(p + off + 2, net->host_mac, 6) == 0);
                        sllas++;
                }
                off += n;
        }
        CHECK(prefixes == 1 && sllas == 1);
}

static void check_ra(const struct guest_net *net, const struct guest_reply *r, const struct in6_addr *dst,
                     const uint8_t dst_mac[6])
{
        CHECK(r->len <= GUEST_REPLY_MAX && r->ethertype == ETH_P_IPV6);
        CHECK(ip6_packet_ok(r->data, r->len, IPPROTO_ICMPV6, 255, &net->link_local6));
        CHECK(memcmp(r->data + 24, dst, 16) == 0 && memcmp(r->dst_mac, dst_mac, 6) == 0);
        CHECK(r->len >= 40 + 16 && r->data[40] == 134 && r->data[41] == 0);
        check_options(net, r->data + 56, r->len - 56);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        struct guest_reply r;

        fuzz_nets_init();
        all_nodes = fuzz_addr6("ff02::1");
        for (size_t i = 0; i < GUEST_NETS; i++) {
                int e = ndisc_build_ra(&fuzz_nets[i], &r);

                CHECK(e == (fuzz_nets[i].ipv6 ? 1 : -EINVAL));
                if (e == 1)
                        check_ra(&fuzz_nets[i], &r, &all_nodes, all_nodes_mac);
        }
        return 0;
}

/* The packet in a buffer of exactly its length, so that ASan sees any
 * overread; under 4 octets ip6_build() has no room for the checksum, so
 * the header is cut afterwards. */
static uint8_t *make_packet(uint8_t v, const uint8_t *icmp, size_t len, struct ip6_pkt *ret)
{
        struct in6_addr src = fuzz_source(v), dst = fuzz_addr6("ff02::2");
        uint8_t pad[4] = {0};
        size_t built = len < 4 ? 4 : len;
        uint8_t *pkt = malloc(40 + built);

        CHECK(pkt);
        if (len < 4) {
                memcpy(pad, icmp, len);
                icmp = pad;
        }
        CHECK(ip6_build(pkt, 40 + built, &src, &dst, IPPROTO_ICMPV6, hop_limits[(v >> 4) & 3], icmp, built,
                        2) == 40 + built);
        if (len < 4) {
                pkt[4] = 0;
                pkt[5] = (uint8_t)len;
        }
        if (v & 0x40)
                pkt[40 + 2] ^= 0x20;
        CHECK(ip6_parse(pkt, 40 + built, ret) == 0);
        return pkt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const struct guest_net *net;
        struct guest_reply r, before;
        struct ip6_pkt in;
        uint8_t *pkt;
        uint8_t v;
        int e;

        if (size < 1 || size - 1 > 0xffff)
                return 0;
        v = data[0];
        net = &fuzz_nets[v & 3];
        pkt = make_packet(v, data + 1, size - 1, &in);
        memset(&r, 0xa5, sizeof(r));
        before = r;
        e = ndisc_handle(net, fuzz_guest_mac, &in, &r);
        CHECK(e == 1 || e == 0 || e == -EBADMSG);
        if (e != 1)
                CHECK(memcmp(&r, &before, sizeof(r)) == 0);
        else {
                CHECK(net->ipv6 && in.hop_limit == 255 && !(v & 0x40));
                CHECK(in.payload_len >= 8 && in.payload[0] == 133 && in.payload[1] == 0);
                if (IN6_IS_ADDR_UNSPECIFIED(&in.src))
                        check_ra(net, &r, &all_nodes, all_nodes_mac);
                else
                        check_ra(net, &r, &in.src, fuzz_guest_mac);
        }
        free(pkt);
        return 0;
}

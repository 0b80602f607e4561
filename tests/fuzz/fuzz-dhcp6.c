/* SPDX-License-Identifier: MIT */
// MODULES: dhcp6 dns-name packet
// MAX_LEN: 4096

/* DHCPv6 client messages (src/dhcp6.c): the input after its first byte is
 * the UDP payload to port 547 (546 when bits 6 and 7 of the first byte are
 * both set), in a checksummed IPv6 packet, parsed, handled. The first
 * byte also picks the guest_net and the source (guest-nets.h). Checked
 * besides memory safety:
 * - the result is 1, 0 or -EBADMSG (never -EMSGSIZE: a reply always
 *   fits); the reply is untouched unless 1; the event is the message's
 *   own with 1, NONE otherwise;
 * - a reply is a valid IPv6/UDP packet from net->link_local6:547 to the
 *   source's port 546 and MAC, at most GUEST_REPLY_MAX; an ADVERTISE only
 *   for a SOLICIT, else a REPLY; the transaction ID echoed; options well
 *   formed; our DUID once; the client's identifier echoed;
 * - the one address: an IAADDR with a lifetime is net->guest6, once in a
 *   reply; any other has lifetimes 0 and was in the message; no prefix is
 *   ever delegated; at most DHCP6_IA_MAX IAs. */

#include <errno.h>
#include <linux/if_ether.h>

#include "../unit/ip6-check.h"
#include "dhcp6.h"
#include "fuzz.h"
#include "guest-nets.h"

static uint16_t be16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)be16(p) << 16 | be16(p + 2);
}

/* Walks options: next_option() steps to the next (false at the end) and
 * fails on one that does not fit. */
struct walk {
        const uint8_t *p;
        size_t left;
        uint16_t code;
        const uint8_t *data;
        size_t len;
};

static bool next_option(struct walk *w)
{
        if (w->left == 0)
                return false;
        CHECK(w->left >= 4);
        w->code = be16(w->p);
        w->len = be16(w->p + 2);
        CHECK(w->len <= w->left - 4);
        w->data = w->p + 4;
        w->p += 4 + w->len;
        w->left -= 4 + w->len;
        return true;
}

/* An address the guest is given (a lifetime) is net->guest6; one taken
 * back (lifetimes 0) was in the message. Returns how many were given. */
static size_t check_ia(const struct guest_net *net, uint16_t ia_code, const uint8_t *ia, size_t len,
                       const uint8_t *msg, size_t msg_len)
{
        size_t header = ia_code == 4 ? 4 : 12, given = 0;

        CHECK(len >= header);
        for (struct walk w = {.p = ia + header, .left = len - header}; next_option(&w);) {
                CHECK(w.code == 5 || w.code == 13);
                if (w.code != 5)
                        continue;
                CHECK(ia_code == 3 && w.len == 24);
                if (be32(w.data + 16) || be32(w.data + 20)) {
                        CHECK(memcmp(w.data, &net->guest6, 16) == 0 &&
                              be32(w.data + 16) <= be32(w.data + 20));
                        given++;
                } else
                        CHECK(memmem(msg, msg_len, w.data, 16) != NULL);
        }
        return given;
}

static void check_message(const struct guest_net *net, const uint8_t *in, size_t in_len, const uint8_t *m,
                          size_t len)
{
        static const uint8_t duid_head[4] = {0, 3, 0, 1};
        size_t server_ids = 0, ias = 0, given = 0;
        bool client_id = false;

        CHECK(len >= 4 && memcmp(m + 1, in + 1, 3) == 0);
        CHECK(m[0] == 7 || (m[0] == 2 && in[0] == 1));
        for (struct walk w = {.p = m + 4, .left = len - 4}; next_option(&w);) {
                if (w.code == 2) {
                        CHECK(w.len == 10 && memcmp(w.data, duid_head, 4) == 0);
                        CHECK(memcmp(w.data + 4, net->host_mac, 6) == 0);
                        server_ids++;
                } else if (w.code == 1) {
                        CHECK(!client_id && memmem(in, in_len, w.data - 4, w.len + 4) != NULL);
                        client_id = true;
                } else if (w.code == 3 || w.code == 4 || w.code == 25) {
                        given += check_ia(net, w.code, w.data, w.len, in, in_len);
                        ias++;
                } else
                        CHECK(w.code == 7 || w.code == 13 || w.code == 14 || w.code == 23 || w.code == 24);
        }
        CHECK(server_ids == 1 && ias <= DHCP6_IA_MAX && given <= 1);
        CHECK(client_id || in[0] == 11);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_nets_init();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const struct guest_net *net;
        struct in6_addr src, dst;
        struct guest_reply r, before;
        enum dhcp6_event ev = _DHCP6_EVENT_MAX;
        struct ip6_udp in;
        uint16_t dport;
        uint8_t *pkt;
        size_t len;
        int e;

        if (size < 1)
                return 0;
        net = &fuzz_nets[data[0] & 3];
        src = fuzz_source(data[0]);
        dst = fuzz_addr6("ff02::1:2");
        dport = (data[0] & 0xc0) == 0xc0 ? 546 : 547;
        len = 48 + size - 1;
        pkt = malloc(len);
        CHECK(pkt);
        CHECK(ip6_udp_build(pkt, len, &src, &dst, 546, dport, data + 1, size - 1) == len);
        CHECK(ip6_udp_parse(pkt, len, &in) == 0);

        memset(&r, 0xa5, sizeof(r));
        before = r;
        e = dhcp6_handle(net, fuzz_guest_mac, &in, &r, &ev);
        CHECK(e == 1 || e == 0 || e == -EBADMSG);
        if (e != 1)
                CHECK(memcmp(&r, &before, sizeof(r)) == 0);
        CHECK(e > 0 || ev == DHCP6_NONE); /* always set */
        if (e == 1) {
                CHECK(net->ipv6 && dport == 547 && ev != DHCP6_NONE && ev < _DHCP6_EVENT_MAX);
                CHECK(r.len <= GUEST_REPLY_MAX && r.ethertype == ETH_P_IPV6);
                CHECK(memcmp(r.dst_mac, fuzz_guest_mac, 6) == 0);
                CHECK(ip6_packet_ok(r.data, r.len, IPPROTO_UDP, 64, &net->link_local6));
                CHECK(memcmp(r.data + 24, &src, 16) == 0);
                CHECK(be16(r.data + 40) == 547 && be16(r.data + 42) == 546);
                check_message(net, in.payload, in.payload_len, r.data + 48, r.len - 48);
        }
        free(pkt);
        return 0;
}

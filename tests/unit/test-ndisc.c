/* SPDX-License-Identifier: MIT */
// MODULES: ndisc dns-name packet
/* Router Solicitation in, Router Advertisement out (src/ndisc.c): every
 * field and option of the RA, where it goes, its checksum; the DNS options
 * with and without servers and search domains; every solicitation that is
 * refused, and every truncation of one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <string.h>

#include "ip6-check.h"
#include "macro.h"
#include "ndisc.h"
#include "packet.h"

static const uint8_t host_mac[6] = {0x06, 0x74, 0x6c, 0x00, 0x00, 0x07};
static const uint8_t guest_mac[6] = {0x02, 0x74, 0x6c, 0x00, 0x00, 0x07};
static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};

static struct guest_dns dns;
static struct guest_net net;

static struct in6_addr addr6(const char *s)
{
        struct in6_addr a;

        assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
        return a;
}

static int setup(void **state)
{
        dns = (struct guest_dns){.n_v6 = 2};
        dns.v6[0] = addr6("2001:db8::53");
        dns.v6[1] = addr6("fd00::35");
        strcpy(dns.search, "example.com corp.example.");
        net = (struct guest_net){
            .slot = 7,
            .mtu = 1500,
            .lease_time = 86400,
            .ipv6 = true,
            .subnet6 = addr6("fd74:6c00:0:7::"),
            .prefix6 = 64,
            .guest6 = addr6("fd74:6c00:0:7::2"),
            .dns = &dns,
        };
        memcpy(net.host_mac, host_mac, 6);
        guest_link_local(host_mac, &net.link_local6);
        return 0;
}

/* An RS from src with hop limit hop: the 8-octet header (code as given)
 * plus options, checksummed. Returns the parsed packet in *ret. */
static void make_rs(uint8_t *pkt, size_t size, const char *src, uint8_t hop, uint8_t code,
                    const uint8_t *opts, size_t opts_len, struct ip6_pkt *ret)
{
        uint8_t icmp[256] = {133, code};
        struct in6_addr s = addr6(src), d = addr6("ff02::2");
        size_t len;

        assert_true(8 + opts_len <= sizeof(icmp));
        if (opts_len)
                memcpy(icmp + 8, opts, opts_len);
        len = ip6_build(pkt, size, &s, &d, IPPROTO_ICMPV6, hop, icmp, 8 + opts_len, 2);
        assert_int_not_equal(len, 0);
        assert_int_equal(ip6_parse(pkt, len, ret), 0);
}

static const uint8_t sllao[8] = {1, 1, 0x02, 0x74, 0x6c, 0x00, 0x00, 0x07};

/* An RA taken apart: its header fields and each option by type. */
struct ra {
        struct in6_addr dst;
        uint8_t cur_hop_limit, flags;
        uint16_t router_lifetime;
        uint32_t reachable, retrans;
        const uint8_t *opt[256];
        size_t opt_len[256];
        unsigned count[256];
};

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void parse_ra(const struct guest_reply *r, struct ra *ra)
{
        const uint8_t *icmp = r->data + 40;
        size_t len = r->len - 40, off = 16;

        memset(ra, 0, sizeof(*ra));
        assert_int_equal(r->ethertype, ETH_P_IPV6);
        assert_true(r->len <= GUEST_REPLY_MAX);
        assert_true(ip6_packet_ok(r->data, r->len, IPPROTO_ICMPV6, 255, &net.link_local6));
        memcpy(&ra->dst, r->data + 24, 16);
        assert_true(len >= 16);
        assert_int_equal(icmp[0], 134);
        assert_int_equal(icmp[1], 0);
        ra->cur_hop_limit = icmp[4];
        ra->flags = icmp[5];
        ra->router_lifetime = (uint16_t)(icmp[6] << 8 | icmp[7]);
        ra->reachable = be32(icmp + 8);
        ra->retrans = be32(icmp + 12);
        while (off < len) {
                assert_true(len - off >= 8);
                size_t n = (size_t)icmp[off + 1] * 8;
                assert_true(n > 0 && n <= len - off);
                ra->opt[icmp[off]] = icmp + off;
                ra->opt_len[icmp[off]] = n;
                ra->count[icmp[off]]++;
                off += n;
        }
}

/* What every RA carries, whatever the DNS configuration. */
static void check_ra_fixed(const struct ra *ra)
{
        const uint8_t *o;

        assert_int_equal(ra->cur_hop_limit, 64);
        assert_int_equal(ra->flags, 0x80); /* Managed, not Other */
        assert_int_equal(ra->router_lifetime, 1800);
        assert_int_equal(ra->reachable, 0);
        assert_int_equal(ra->retrans, 0);

        assert_int_equal(ra->count[1], 1);
        assert_int_equal(ra->opt_len[1], 8);
        assert_memory_equal(ra->opt[1] + 2, host_mac, 6);

        assert_int_equal(ra->count[5], 1);
        assert_int_equal(ra->opt_len[5], 8);
        o = ra->opt[5];
        assert_int_equal(o[2] | o[3], 0);
        assert_int_equal(be32(o + 4), net.mtu);

        assert_int_equal(ra->count[3], 1);
        assert_int_equal(ra->opt_len[3], 32);
        o = ra->opt[3];
        assert_int_equal(o[2], 64);
        assert_int_equal(o[3], 0x80); /* on-link, not autonomous */
        assert_int_equal(be32(o + 4), net.lease_time);
        assert_int_equal(be32(o + 8), net.lease_time);
        assert_int_equal(be32(o + 12), 0);
        assert_memory_equal(o + 16, &net.subnet6, 16);
}

static void check_ra_dns(const struct ra *ra)
{
        static const uint8_t search[] = "\7example\3com\0\4corp\7example\0";
        const uint8_t *o;

        assert_int_equal(ra->count[25], 1);
        o = ra->opt[25];
        assert_int_equal(ra->opt_len[25], 8 + 2 * 16);
        assert_int_equal(o[2] | o[3], 0);
        assert_true(be32(o + 4) >= 1800);
        assert_memory_equal(o + 8, &dns.v6[0], 16);
        assert_memory_equal(o + 24, &dns.v6[1], 16);

        assert_int_equal(ra->count[31], 1);
        o = ra->opt[31];
        assert_int_equal(ra->opt_len[31], 8 + 32); /* 27 octets of names, padded */
        assert_int_equal(o[2] | o[3], 0);
        assert_true(be32(o + 4) >= 1800);
        assert_memory_equal(o + 8, search, sizeof(search) - 1);
        for (size_t i = 8 + sizeof(search) - 1; i < ra->opt_len[31]; i++)
                assert_int_equal(o[i], 0);
}

static void test_rs_from_link_local(void **state)
{
        uint8_t pkt[512];
        struct ip6_pkt in;
        struct guest_reply r;
        struct ra ra;
        struct in6_addr src = addr6("fe80::74:6cff:fe00:7");

        make_rs(pkt, sizeof(pkt), "fe80::74:6cff:fe00:7", 255, 0, sllao, sizeof(sllao), &in);
        assert_int_equal(ndisc_handle(&net, guest_mac, &in, &r), 1);
        assert_memory_equal(r.dst_mac, guest_mac, 6);
        parse_ra(&r, &ra);
        assert_memory_equal(&ra.dst, &src, 16);
        check_ra_fixed(&ra);
        check_ra_dns(&ra);
        assert_int_equal(r.len, 40 + 16 + 8 + 8 + 32 + 40 + 40);
}

static void test_rs_from_unspecified(void **state)
{
        uint8_t pkt[512];
        struct ip6_pkt in;
        struct guest_reply r;
        struct ra ra;
        struct in6_addr all_nodes = addr6("ff02::1");

        make_rs(pkt, sizeof(pkt), "::", 255, 0, NULL, 0, &in);
        assert_int_equal(ndisc_handle(&net, guest_mac, &in, &r), 1);
        assert_memory_equal(r.dst_mac, all_nodes_mac, 6);
        parse_ra(&r, &ra);
        assert_memory_equal(&ra.dst, &all_nodes, 16);
        check_ra_fixed(&ra);
        check_ra_dns(&ra);
}

/* Options the router does not know are skipped, as RFC 4861 4.6 says. */
static void test_rs_unknown_options(void **state)
{
        static const uint8_t opts[] = {1, 1, 2, 0x74, 0x6c, 0, 0, 7, 200, 2, [23] = 0xff};
        uint8_t pkt[512];
        struct ip6_pkt in;
        struct guest_reply r;

        make_rs(pkt, sizeof(pkt), "fd74:6c00:0:7::2", 255, 0, opts, sizeof(opts), &in);
        assert_int_equal(ndisc_handle(&net, guest_mac, &in, &r), 1);
        assert_memory_equal(r.dst_mac, guest_mac, 6);
        assert_memory_equal(r.data + 24, &in.src, 16);
}

static void test_unsolicited(void **state)
{
        struct guest_reply r, before;
        struct ra ra;
        struct guest_net off = net;
        struct in6_addr all_nodes = addr6("ff02::1");

        assert_int_equal(ndisc_build_ra(&net, &r), 1);
        assert_memory_equal(r.dst_mac, all_nodes_mac, 6);
        parse_ra(&r, &ra);
        assert_memory_equal(&ra.dst, &all_nodes, 16);
        check_ra_fixed(&ra);
        check_ra_dns(&ra);

        off.ipv6 = false;
        memset(&r, 0xaa, sizeof(r));
        before = r;
        assert_int_equal(ndisc_build_ra(&off, &r), -EINVAL);
        assert_memory_equal(&r, &before, sizeof(r));
}

static void build_with(const struct guest_net *n, struct ra *ra, struct guest_reply *r)
{
        assert_int_equal(ndisc_build_ra(n, r), 1);
        parse_ra(r, ra);
        check_ra_fixed(ra);
}

static void test_dns_options(void **state)
{
        struct guest_net n = net;
        struct guest_dns d = {0};
        struct guest_reply r;
        struct ra ra;

        n.dns = NULL;
        build_with(&n, &ra, &r);
        assert_int_equal(ra.count[25] + ra.count[31], 0);
        assert_int_equal(r.len, 40 + 16 + 8 + 8 + 32);

        n.dns = &d; /* IPv4 servers only, no search list */
        d.n_v4 = 1;
        build_with(&n, &ra, &r);
        assert_int_equal(ra.count[25] + ra.count[31], 0);

        d.n_v6 = GUEST_DNS_MAX;
        for (size_t i = 0; i < GUEST_DNS_MAX; i++) {
                d.v6[i] = addr6("2001:db8::1");
                d.v6[i].s6_addr[15] = (uint8_t)i;
        }
        build_with(&n, &ra, &r);
        assert_int_equal(ra.count[25], 1);
        assert_int_equal(ra.opt[25][1], 1 + 2 * GUEST_DNS_MAX);
        assert_memory_equal(ra.opt[25] + 8, d.v6, GUEST_DNS_MAX * 16);
        assert_int_equal(ra.count[31], 0);

        d.n_v6 = 100; /* more than there is room for: the array's worth */
        build_with(&n, &ra, &r);
        assert_int_equal(ra.opt[25][1], 1 + 2 * GUEST_DNS_MAX);

        d.n_v6 = 0;
        strcpy(d.search, "lan");
        build_with(&n, &ra, &r);
        assert_int_equal(ra.count[25], 0);
        assert_int_equal(ra.opt_len[31], 16);
        assert_memory_equal(ra.opt[31] + 8, "\3lan\0\0\0\0", 8);
}

/* A search list that is not made of valid names is left out, the rest of
 * the RA stays. */
static void test_dnssl_names(void **state)
{
        static const struct {
                const char *search;
                size_t encoded; /* 0: no DNSSL */
        } cases[] = {
            {"", 0},
            {"   ", 0},
            {"a..b", 0},
            {".", 0},
            {".lan", 0},
            {"ex!ample.com", 0},
            {"good.example bad/name", 0},
            {"a-b_c.d", 9},
            {"lan.", 5},
            {"a,b\tc", 9},
            {"xn--bcher-kva.example", 23},
        };
        struct guest_net n = net;
        struct guest_dns d = {0};
        struct guest_reply r;
        struct ra ra;

        n.dns = &d;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                strcpy(d.search, cases[i].search);
                build_with(&n, &ra, &r);
                if (!cases[i].encoded) {
                        assert_int_equal(ra.count[31], 0);
                        continue;
                }
                assert_int_equal(ra.count[31], 1);
                assert_int_equal(ra.opt_len[31], 8 + (cases[i].encoded + 7) / 8 * 8);
        }

        /* A 63-octet label is the longest. */
        memset(d.search, 'a', 63);
        d.search[63] = '\0';
        build_with(&n, &ra, &r);
        assert_int_equal(ra.opt_len[31], 8 + 72);
        d.search[63] = 'a';
        d.search[64] = '\0';
        build_with(&n, &ra, &r);
        assert_int_equal(ra.count[31], 0);

        /* Search strings that fill the array without a NUL: a name of 253
         * characters encodes to 255 octets, the most there may be; one of
         * 254 is too long. */
        memset(d.search, 'b', sizeof(d.search));
        for (size_t i = 50; i < sizeof(d.search); i += 51)
                d.search[i] = '.';
        d.search[sizeof(d.search) - 1] = ' ';
        build_with(&n, &ra, &r);
        assert_int_equal(ra.count[31], 1);
        assert_int_equal(ra.opt_len[31], 8 + 256);
        assert_int_equal(ra.opt[31][8], 50);
        assert_int_equal(ra.opt[31][8 + 254], 0);
        d.search[sizeof(d.search) - 1] = 'b';
        build_with(&n, &ra, &r);
        assert_int_equal(ra.count[31], 0);
}

static void test_not_solicitations(void **state)
{
        static const uint8_t others[] = {128, 129, 130, 131, 134, 135, 136, 137, 143, 1, 2, 0, 255};
        uint8_t pkt[512], icmp[24] = {0};
        struct in6_addr s = addr6("fe80::1"), d = addr6("ff02::2");
        struct ip6_pkt in;
        struct guest_reply r, before;
        struct guest_net off = net;
        size_t len;

        memset(&r, 0x55, sizeof(r));
        before = r;
        for (size_t i = 0; i < ELEMENTSOF(others); i++) {
                icmp[0] = others[i];
                len = ip6_build(pkt, sizeof(pkt), &s, &d, IPPROTO_ICMPV6, 1, icmp, sizeof(icmp), 2);
                assert_int_equal(ip6_parse(pkt, len, &in), 0);
                assert_int_equal(ndisc_handle(&net, guest_mac, &in, &r), 0);
        }
        /* Not ICMPv6 at all, and an RS with IPv6 off. */
        make_rs(pkt, sizeof(pkt), "fe80::1", 255, 0, NULL, 0, &in);
        in.next_header = IPPROTO_UDP;
        assert_int_equal(ndisc_handle(&net, guest_mac, &in, &r), 0);
        in.next_header = IPPROTO_ICMPV6;
        off.ipv6 = false;
        assert_int_equal(ndisc_handle(&off, guest_mac, &in, &r), 0);
        assert_memory_equal(&r, &before, sizeof(r));
}

static void expect_bad(const struct ip6_pkt *in)
{
        struct guest_reply r, before;

        memset(&r, 0x55, sizeof(r));
        before = r;
        assert_int_equal(ndisc_handle(&net, guest_mac, in, &r), -EBADMSG);
        assert_memory_equal(&r, &before, sizeof(r));
}

static void test_refused(void **state)
{
        static const uint8_t zero_len[] = {1, 0, 0, 0, 0, 0, 0, 0};
        static const uint8_t too_long[] = {1, 2, 0, 0, 0, 0, 0, 0};
        static const uint8_t odd_tail[] = {1, 1, 0, 0, 0, 0, 0, 0, 9};
        static const uint8_t zero_after[] = {1, 1, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
        uint8_t pkt[512];
        struct ip6_pkt in;

        for (unsigned hop = 0; hop < 255; hop += (hop < 2 || hop > 252) ? 1 : 50) {
                make_rs(pkt, sizeof(pkt), "fe80::1", (uint8_t)hop, 0, NULL, 0, &in);
                expect_bad(&in);
        }
        make_rs(pkt, sizeof(pkt), "fe80::1", 255, 1, NULL, 0, &in);
        expect_bad(&in);
        make_rs(pkt, sizeof(pkt), "fe80::1", 255, 255, NULL, 0, &in);
        expect_bad(&in);
        make_rs(pkt, sizeof(pkt), "fe80::1", 255, 0, zero_len, sizeof(zero_len), &in);
        expect_bad(&in);
        make_rs(pkt, sizeof(pkt), "fe80::1", 255, 0, too_long, sizeof(too_long), &in);
        expect_bad(&in);
        make_rs(pkt, sizeof(pkt), "fe80::1", 255, 0, odd_tail, sizeof(odd_tail), &in);
        expect_bad(&in);
        make_rs(pkt, sizeof(pkt), "fe80::1", 255, 0, zero_after, sizeof(zero_after), &in);
        expect_bad(&in);
        /* A source link-layer address from :: (RFC 4861 6.1.1). */
        make_rs(pkt, sizeof(pkt), "::", 255, 0, sllao, sizeof(sllao), &in);
        expect_bad(&in);
        make_rs(pkt, sizeof(pkt), "ff02::1", 255, 0, NULL, 0, &in);
        expect_bad(&in);
        /* A checksum that does not add up, in the message and in the
         * pseudo-header. */
        make_rs(pkt, sizeof(pkt), "fe80::1", 255, 0, sllao, sizeof(sllao), &in);
        pkt[40 + 2] ^= 0x01;
        expect_bad(&in);
        pkt[40 + 2] ^= 0x01;
        pkt[8 + 15] ^= 0x80; /* the source address */
        memcpy(&in.src, pkt + 8, 16);
        expect_bad(&in);
}

/* An RS with options cut at every length: only the cuts at an option
 * boundary are solicitations, the others are malformed; under 4 octets
 * even the ICMPv6 header is. */
static void test_truncated(void **state)
{
        static const uint8_t opts[] = {1, 1, 2, 0x74, 0x6c, 0, 0, 7, 14, 2, [23] = 0xee};
        uint8_t full[8 + sizeof(opts)] = {133, 0};
        uint8_t pkt[512];
        struct in6_addr s = addr6("fe80::74:6cff:fe00:7"), d = addr6("ff02::2");
        struct guest_reply r;

        memcpy(full + 8, opts, sizeof(opts));
        for (size_t cut = 0; cut <= sizeof(full); cut++) {
                struct ip6_pkt in = {.src = s, .dst = d, .next_header = IPPROTO_ICMPV6, .hop_limit = 255};
                int expected = (cut == 8 || cut == 16 || cut == sizeof(full)) ? 1 : -EBADMSG;

                /* ip6_build() wants room for the checksum: under 4
                 * octets, cut the packet it built. */
                assert_int_not_equal(
                    ip6_build(pkt, sizeof(pkt), &s, &d, IPPROTO_ICMPV6, 255, full, MAX(cut, 4), 2), 0);
                pkt[5] = (uint8_t)cut;
                assert_int_equal(ip6_parse(pkt, 40 + cut, &in), 0);
                assert_int_equal(ndisc_handle(&net, guest_mac, &in, &r), expected);
                if (expected == 1)
                        assert_true(ip6_packet_ok(r.data, r.len, IPPROTO_ICMPV6, 255, &net.link_local6));
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rs_from_link_local), cmocka_unit_test(test_rs_from_unspecified),
            cmocka_unit_test(test_rs_unknown_options), cmocka_unit_test(test_unsolicited),
            cmocka_unit_test(test_dns_options),        cmocka_unit_test(test_dnssl_names),
            cmocka_unit_test(test_not_solicitations),  cmocka_unit_test(test_refused),
            cmocka_unit_test(test_truncated),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}

/* SPDX-License-Identifier: MIT */
#pragma once

/* What test-dhcp6 and test-dhcp6-refused share: one slot's guest_net,
 * builders of client messages (as dhclient and dhcpcd shape them), a
 * handler call that parses the message from a buffer of exactly its size
 * (so that ASan sees any overread), and readers of a reply that check its
 * addressing, its checksum and each option's length. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp6.h"
#include "ip6-check.h"
#include "macro.h"
#include "packet.h"

enum { SOLICIT = 1, ADVERTISE, REQUEST, CONFIRM, RENEW, REBIND, REPLY, RELEASE, DECLINE, INFO_REQUEST = 11 };
enum { CLIENTID = 1, SERVERID, IA_NA, IA_TA, IAADDR, ORO, PREFERENCE, ELAPSED, STATUS = 13, RAPID = 14 };
enum { DNS = 23, DOMAINS = 24, IA_PD = 25, IAPREFIX = 26 };

static const uint8_t host_mac[6] = {0x06, 0x74, 0x6c, 0x00, 0x00, 0x07};
static const uint8_t guest_mac[6] = {0x02, 0x74, 0x6c, 0x00, 0x00, 0x07};
static const uint8_t our_duid[10] = {0, 3, 0, 1, 0x06, 0x74, 0x6c, 0x00, 0x00, 0x07};
/* dhclient's DUID-LLT of the guest's MAC. */
static const uint8_t client_duid[14] = {0, 1, 0, 1, 0x2d, 0x1f, 0x3a, 0x11, 0x02, 0x74, 0x6c, 0, 0, 7};
static const char *const guest_ll = "fe80::74:6cff:fe00:7";

static struct guest_dns dns;
static struct guest_net net;

static inline struct in6_addr addr6(const char *s)
{
        struct in6_addr a;

        assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
        return a;
}

static inline int setup(void **state)
{
        dns = (struct guest_dns){.n_v6 = 2, .search = "example.com"};
        dns.v6[0] = addr6("2001:db8::53");
        dns.v6[1] = addr6("fd00::35");
        net = (struct guest_net){
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

/* ---- building requests ------------------------------------------------------ */

struct msg {
        uint8_t b[2048];
        size_t len;
};

static inline void put(struct msg *m, const void *p, size_t n)
{
        assert_true(m->len + n <= sizeof(m->b));
        if (n)
                memcpy(m->b + m->len, p, n);
        m->len += n;
}

static inline void msg_start(struct msg *m, uint8_t type)
{
        m->len = 0;
        put(m, (uint8_t[]){type, 0xa1, 0xb2, 0xc3}, 4);
}

static inline size_t opt_begin(struct msg *m, uint16_t code)
{
        size_t at = m->len;

        put(m, (uint8_t[]){code >> 8, code & 0xff, 0, 0}, 4);
        return at;
}

static inline void opt_end(struct msg *m, size_t at)
{
        size_t n = m->len - at - 4;

        m->b[at + 2] = (uint8_t)(n >> 8);
        m->b[at + 3] = (uint8_t)n;
}

static inline void opt(struct msg *m, uint16_t code, const void *p, size_t n)
{
        size_t at = opt_begin(m, code);

        put(m, p, n);
        opt_end(m, at);
}

static inline void client_id(struct msg *m)
{
        opt(m, CLIENTID, client_duid, sizeof(client_duid));
}

static inline void server_id(struct msg *m)
{
        opt(m, SERVERID, our_duid, sizeof(our_duid));
}

/* What dhclient and dhcpcd put besides: elapsed time, an option request. */
static inline void extras(struct msg *m)
{
        opt(m, ELAPSED, (uint8_t[]){0, 0}, 2);
        opt(m, ORO, (uint8_t[]){0, DNS, 0, DOMAINS, 0, 39}, 6);
}

/* An IA (code: IA_NA, IA_TA, IA_PD) with n addresses (or prefixes). */
static inline void ia(struct msg *m, uint16_t code, uint32_t iaid, const char *const *addrs, size_t n)
{
        size_t at = opt_begin(m, code);

        put(m, (uint8_t[]){iaid >> 24, iaid >> 16, iaid >> 8, iaid}, 4);
        if (code != IA_TA)
                put(m, (uint8_t[8]){0}, 8);
        for (size_t i = 0; i < n; i++) {
                struct in6_addr a = addr6(addrs[i]);
                size_t sub = opt_begin(m, code == IA_PD ? IAPREFIX : IAADDR);

                if (code == IA_PD)
                        put(m, (uint8_t[]){0, 0, 0, 0, 0, 0, 0, 0, 56}, 9);
                put(m, &a, 16);
                if (code != IA_PD)
                        put(m, (uint8_t[8]){0}, 8);
                opt_end(m, sub);
        }
        opt_end(m, at);
}

/* The message as the guest sends it, parsed from a buffer of exactly its
 * size, handled. */
static inline int handle_from(const struct guest_net *n, const uint8_t *payload, size_t len, const char *src,
                              uint16_t dport, struct guest_reply *r, enum dhcp6_event *ev)
{
        struct in6_addr s = addr6(src), d = addr6("ff02::1:2");
        uint8_t *pkt = malloc(48 + len);
        struct ip6_udp in;
        int ret;

        assert_non_null(pkt);
        assert_int_equal(ip6_udp_build(pkt, 48 + len, &s, &d, 546, dport, payload, len), 48 + len);
        assert_int_equal(ip6_udp_parse(pkt, 48 + len, &in), 0);
        ret = dhcp6_handle(n, guest_mac, &in, r, ev);
        free(pkt);
        return ret;
}

static inline int handle(const struct msg *m, struct guest_reply *r, enum dhcp6_event *ev)
{
        return handle_from(&net, m->b, m->len, guest_ll, 547, r, ev);
}

/* Not answered, and the reply untouched: 0 (event NONE) or -EBADMSG. */
static inline void expect_none(const struct guest_net *n, const struct msg *m, const char *src, int expected)
{
        struct guest_reply r, before;
        enum dhcp6_event ev = DHCP6_SOLICIT;

        memset(&r, 0x5a, sizeof(r));
        before = r;
        assert_int_equal(handle_from(n, m->b, m->len, src, 547, &r, &ev), expected);
        assert_memory_equal(&r, &before, sizeof(r));
        assert_int_equal(ev, DHCP6_NONE);
}

/* ---- reading replies -------------------------------------------------------- */

struct opt6 {
        uint16_t code;
        const uint8_t *data;
        size_t len;
};

struct reply6 {
        uint8_t type;
        struct opt6 opts[32];
        size_t n;
};

static inline uint32_t be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline size_t walk(const uint8_t *p, size_t len, struct opt6 *out, size_t max)
{
        size_t n = 0, off = 0;

        while (off < len) {
                assert_true(len - off >= 4 && n < max);
                size_t l = (size_t)(p[off + 2] << 8 | p[off + 3]);
                assert_true(l <= len - off - 4);
                out[n++] = (struct opt6){(uint16_t)(p[off] << 8 | p[off + 1]), p + off + 4, l};
                off += 4 + l;
        }
        return n;
}

/* A reply to the guest's link-local address, its header and options. */
static inline void parse_reply(const struct guest_reply *r, struct reply6 *out)
{
        struct in6_addr dst = addr6(guest_ll);
        const uint8_t *udp = r->data + 40, *msg = r->data + 48;

        assert_int_equal(r->ethertype, ETH_P_IPV6);
        assert_memory_equal(r->dst_mac, guest_mac, 6);
        assert_true(r->len <= GUEST_REPLY_MAX);
        assert_true(ip6_packet_ok(r->data, r->len, IPPROTO_UDP, 64, &net.link_local6));
        assert_memory_equal(r->data + 24, &dst, 16);
        assert_int_equal(udp[0] << 8 | udp[1], 547);
        assert_int_equal(udp[2] << 8 | udp[3], 546);
        assert_true(r->len >= 52);
        assert_memory_equal(msg + 1, "\xa1\xb2\xc3", 3);
        out->type = msg[0];
        out->n = walk(msg + 4, r->len - 52, out->opts, ELEMENTSOF(out->opts));
}

static inline const struct opt6 *find(const struct reply6 *r, uint16_t code, size_t nth)
{
        for (size_t i = 0; i < r->n; i++)
                if (r->opts[i].code == code && nth-- == 0)
                        return &r->opts[i];
        return NULL;
}

static inline size_t count(const struct reply6 *r, uint16_t code)
{
        size_t n = 0;

        while (find(r, code, n))
                n++;
        return n;
}

static inline void check_status_opt(const struct opt6 *o, uint16_t status)
{
        assert_int_equal(o->code, STATUS);
        assert_true(o->len >= 2);
        assert_int_equal(o->data[0] << 8 | o->data[1], status);
}

/* An IA's options: its status alone. */
static inline void check_status(const uint8_t *p, size_t len, uint16_t status)
{
        struct opt6 o[4];

        assert_int_equal(walk(p, len, o, 4), 1);
        check_status_opt(&o[0], status);
}

/* Our DUID, the client's (when sent), each once, first. */
static inline void check_ids(const struct reply6 *r, bool with_client)
{
        assert_int_equal(r->opts[0].code, SERVERID);
        assert_int_equal(r->opts[0].len, sizeof(our_duid));
        assert_memory_equal(r->opts[0].data, our_duid, sizeof(our_duid));
        assert_int_equal(count(r, SERVERID), 1);
        assert_int_equal(count(r, CLIENTID), with_client);
        if (with_client) {
                assert_int_equal(r->opts[1].code, CLIENTID);
                assert_int_equal(r->opts[1].len, sizeof(client_duid));
                assert_memory_equal(r->opts[1].data, client_duid, sizeof(client_duid));
        }
}

static inline void check_dns(const struct reply6 *r)
{
        const struct opt6 *o = find(r, DNS, 0);

        assert_int_equal(count(r, DNS), 1);
        assert_int_equal(o->len, 32);
        assert_memory_equal(o->data, dns.v6, 32);
        o = find(r, DOMAINS, 0);
        assert_int_equal(count(r, DOMAINS), 1);
        assert_int_equal(o->len, 13);
        assert_memory_equal(o->data, "\7example\3com\0", 13);
}

/* The served IA_NA: the IAID, T1, T2, net->guest6 with the lease, and
 * then the stale addresses with lifetimes 0. */
static inline void check_ia_na(const struct opt6 *o, uint32_t iaid, const char *const *stale, size_t n_stale)
{
        struct opt6 sub[8];

        assert_non_null(o);
        assert_true(o->len >= 12);
        assert_int_equal(be32(o->data), iaid);
        assert_int_equal(be32(o->data + 4), net.lease_time / 2);
        assert_int_equal(be32(o->data + 8), (uint32_t)((uint64_t)net.lease_time * 4 / 5));
        assert_int_equal(walk(o->data + 12, o->len - 12, sub, 8), 1 + n_stale);
        for (size_t i = 0; i <= n_stale; i++) {
                struct in6_addr a = i ? addr6(stale[i - 1]) : net.guest6;
                uint32_t lifetime = i ? 0 : net.lease_time;

                assert_int_equal(sub[i].code, IAADDR);
                assert_int_equal(sub[i].len, 24);
                assert_memory_equal(sub[i].data, &a, 16);
                assert_int_equal(be32(sub[i].data + 16), lifetime);
                assert_int_equal(be32(sub[i].data + 20), lifetime);
        }
}

static inline void solicit(struct msg *m, bool rapid)
{
        static const char *const hint[] = {"fd74:6c00:0:9::2"};

        msg_start(m, SOLICIT);
        client_id(m);
        extras(m);
        if (rapid)
                opt(m, RAPID, NULL, 0);
        ia(m, IA_NA, 0x0a0b0c0d, hint, 1);
}

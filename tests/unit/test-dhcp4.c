/* SPDX-License-Identifier: MIT */
// MODULES: dhcp4 packet
/* The DHCPv4 server (src/dhcp4.c): every reply type and its options, NAK
 * and silence where RFC 2131 wants them, the addressing rules of its
 * section 4.1, client identifier echo (RFC 6842), DNS none and several,
 * and malformed messages refused without a crash (each is handed over in
 * a buffer of exactly its length, so ASan sees an overread). Every reply is
 * parsed back as IPv4/UDP and its UDP checksum verified. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp4.h"
#include "macro.h"
#include "packet.h"

static const uint8_t client_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t broadcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t cookie[4] = {99, 130, 83, 99};

static struct guest_dns dns;
static struct guest_net net;

static struct in_addr addr(const char *s)
{
        struct in_addr a;

        assert_int_equal(inet_pton(AF_INET, s, &a), 1);
        return a;
}

static int setup(void **state)
{
        dns = (struct guest_dns){.n_v4 = 2, .search = "example.test"};
        dns.v4[0] = addr("192.0.2.53");
        dns.v4[1] = addr("198.51.100.53");
        net = (struct guest_net){
            .slot = 7,
            .mtu = 1500,
            .host_mac = {0x02, 0, 0, 0, 0, 7},
            .guest4 = addr("10.213.0.30"),
            .gateway4 = addr("10.213.0.29"),
            .netmask4 = addr("255.255.255.252"),
            .prefix4 = 30,
            .lease_time = 86400,
            .dns = &dns,
        };
        return 0;
}

/* ---- requests --------------------------------------------------------------------- */

struct msg {
        uint8_t b[1024];
        size_t len;
};

static void msg_opt(struct msg *m, uint8_t code, const void *v, size_t len)
{
        m->b[m->len++] = code;
        m->b[m->len++] = (uint8_t)len;
        memcpy(m->b + m->len, v, len);
        m->len += len;
}

/* A BOOTREQUEST from client_mac, xid 0x01020304, with option 53 = type
 * first unless type is 0. */
static void msg_init(struct msg *m, uint8_t type)
{
        memset(m, 0, sizeof(*m));
        m->b[0] = 1;
        m->b[1] = 1;
        m->b[2] = 6;
        memcpy(m->b + 4, (uint8_t[]){1, 2, 3, 4}, 4);
        memcpy(m->b + 28, client_mac, 6);
        memcpy(m->b + 236, cookie, 4);
        m->len = 240;
        if (type)
                msg_opt(m, 53, &type, 1);
}

static void msg_addr(struct msg *m, uint8_t code, const char *a)
{
        struct in_addr x = addr(a);

        msg_opt(m, code, &x, 4);
}

static void msg_end(struct msg *m)
{
        m->b[m->len++] = 255;
}

static void msg_set_addr(struct msg *m, size_t offset, const char *a)
{
        struct in_addr x = addr(a);

        memcpy(m->b + offset, &x, 4);
}

/* dhcp4_handle() on a payload in a buffer of exactly len bytes. */
static int handle_bytes(const uint8_t *data, size_t len, struct guest_reply *reply, enum dhcp4_event *ev)
{
        uint8_t *copy = malloc(len ? len : 1);
        struct ip4_udp in = {
            .src = {INADDR_ANY},
            .dst = {htonl(INADDR_BROADCAST)},
            .sport = 68,
            .dport = 67,
            .payload = copy,
            .payload_len = len,
        };
        int r;

        assert_non_null(copy);
        memcpy(copy, data, len);
        r = dhcp4_handle(&net, client_mac, &in, reply, ev);
        free(copy);
        return r;
}

static int handle(const struct msg *m, struct guest_reply *reply, enum dhcp4_event *ev)
{
        return handle_bytes(m->b, m->len, reply, ev);
}

/* ---- replies ---------------------------------------------------------------------- */

struct parsed {
        struct ip4_udp ip;
        const uint8_t *bootp;
        const uint8_t *opt[256]; /* the value of each option present */
        int optlen[256];         /* -1 when absent */
        size_t n_options;
};

static void check_udp_checksum(const uint8_t *pkt)
{
        size_t udp_len = (size_t)(pkt[24] << 8 | pkt[25]);
        uint32_t sum = 0;

        for (size_t i = 12; i < 20; i += 2)
                sum += (uint32_t)(pkt[i] << 8 | pkt[i + 1]);
        sum += IPPROTO_UDP + (uint32_t)udp_len;
        assert_int_not_equal(pkt[26] | pkt[27], 0);
        assert_int_equal(inet_checksum(pkt + 20, udp_len, sum), 0);
}

/* Parses a reply as the client would, checking what every reply shares. */
static void parse_reply(const struct guest_reply *reply, struct parsed *p)
{
        size_t i;

        memset(p, 0, sizeof(*p));
        for (i = 0; i < 256; i++)
                p->optlen[i] = -1;
        assert_int_equal(reply->ethertype, ETH_P_IP);
        assert_true(reply->len <= GUEST_REPLY_MAX);
        assert_int_equal(ip4_udp_parse(reply->data, reply->len, &p->ip), 0);
        assert_int_equal(p->ip.payload_len + 28, reply->len);
        check_udp_checksum(reply->data);
        assert_int_equal(p->ip.src.s_addr, net.gateway4.s_addr);
        assert_int_equal(p->ip.sport, 67);
        assert_int_equal(p->ip.dport, 68);
        assert_true(p->ip.payload_len >= 300);

        p->bootp = p->ip.payload;
        assert_int_equal(p->bootp[0], 2);
        assert_int_equal(p->bootp[1], 1);
        assert_int_equal(p->bootp[2], 6);
        assert_memory_equal(p->bootp + 4, ((uint8_t[]){1, 2, 3, 4}), 4);
        assert_memory_equal(p->bootp + 24, ((uint8_t[4]){}), 4); /* giaddr */
        assert_memory_equal(p->bootp + 236, cookie, 4);
        for (i = 240; i < p->ip.payload_len && p->bootp[i] != 255;) {
                uint8_t code = p->bootp[i];

                assert_int_not_equal(code, 0);
                assert_true(i + 2 <= p->ip.payload_len);
                assert_true(i + 2 + p->bootp[i + 1] <= p->ip.payload_len);
                assert_int_equal(p->optlen[code], -1); /* each once */
                p->opt[code] = p->bootp + i + 2;
                p->optlen[code] = p->bootp[i + 1];
                p->n_options++;
                i += 2 + (size_t)p->bootp[i + 1];
        }
        assert_true(i < p->ip.payload_len); /* END present */
        for (i++; i < p->ip.payload_len; i++)
                assert_int_equal(p->bootp[i], 0);
}

static uint32_t opt32(const struct parsed *p, uint8_t code)
{
        uint32_t v;

        assert_int_equal(p->optlen[code], 4);
        memcpy(&v, p->opt[code], 4);
        return ntohl(v);
}

static void assert_opt_addr(const struct parsed *p, uint8_t code, struct in_addr a)
{
        assert_int_equal(p->optlen[code], 4);
        assert_memory_equal(p->opt[code], &a, 4);
}

static void assert_field_addr(const struct parsed *p, size_t offset, const char *a)
{
        struct in_addr x = addr(a);

        assert_memory_equal(p->bootp + offset, &x, 4);
}

static void assert_destination(const struct guest_reply *reply, const struct parsed *p, const char *ip,
                               const uint8_t mac[6])
{
        assert_int_equal(p->ip.dst.s_addr, addr(ip).s_addr);
        assert_memory_equal(reply->dst_mac, mac, 6);
}

/* The options of an OFFER or ACK that gives an address: all of them. */
static void assert_full_configuration(const struct parsed *p, uint8_t type, bool lease)
{
        assert_int_equal(p->optlen[53], 1);
        assert_int_equal(p->opt[53][0], type);
        assert_opt_addr(p, 54, net.gateway4);
        assert_opt_addr(p, 1, net.netmask4);
        assert_opt_addr(p, 3, net.gateway4);
        assert_int_equal(p->optlen[26], 2);
        assert_int_equal(p->opt[26][0] << 8 | p->opt[26][1], net.mtu);
        assert_int_equal(p->optlen[6], 8);
        assert_memory_equal(p->opt[6], dns.v4, 8);
        assert_int_equal(p->optlen[15], strlen(dns.search));
        assert_memory_equal(p->opt[15], dns.search, strlen(dns.search));
        if (lease) {
                assert_int_equal(opt32(p, 51), 86400);
                assert_int_equal(opt32(p, 58), 43200);
                assert_int_equal(opt32(p, 59), 75600);
                assert_int_equal(p->n_options, 10);
        } else {
                assert_int_equal(p->optlen[51], -1);
                assert_int_equal(p->optlen[58], -1);
                assert_int_equal(p->optlen[59], -1);
                assert_int_equal(p->n_options, 7);
        }
        assert_int_equal(p->optlen[61], -1);
}

static void assert_nak(const struct guest_reply *reply, const struct parsed *p)
{
        assert_int_equal(p->optlen[53], 1);
        assert_int_equal(p->opt[53][0], 6);
        assert_opt_addr(p, 54, net.gateway4);
        assert_int_equal(p->n_options, p->optlen[61] >= 0 ? 3 : 2);
        assert_field_addr(p, 12, "0.0.0.0");
        assert_field_addr(p, 16, "0.0.0.0");
        assert_destination(reply, p, "255.255.255.255", broadcast_mac);
        assert_int_equal(p->ip.payload_len, 300);
}

/* Handles m, expecting a reply of `type` (5 ACK, 6 NAK, 2 OFFER). */
static void expect_reply(const struct msg *m, uint8_t type, enum dhcp4_event event,
                         struct guest_reply *reply, struct parsed *p)
{
        enum dhcp4_event ev = DHCP4_NONE;

        assert_int_equal(handle(m, reply, &ev), 1);
        assert_int_equal(ev, event);
        parse_reply(reply, p);
        assert_int_equal(p->opt[53][0], type);
        assert_memory_equal(p->bootp + 28, client_mac, 6);
}

static void expect_silence(const struct msg *m, enum dhcp4_event event)
{
        struct guest_reply reply;
        enum dhcp4_event ev = DHCP4_DISCOVER;

        assert_int_equal(handle(m, &reply, &ev), 0);
        assert_int_equal(ev, event);
}

static void expect_malformed(const struct msg *m)
{
        struct guest_reply reply;
        enum dhcp4_event ev = DHCP4_DISCOVER;

        assert_int_equal(handle(m, &reply, &ev), -EBADMSG);
        assert_int_equal(ev, DHCP4_NONE);
}

/* ---- the cases -------------------------------------------------------------------- */

static void test_discover_offer(void **state)
{
        struct guest_reply reply;
        struct parsed p;
        struct msg m;

        msg_init(&m, 1);
        msg_opt(&m, 55, (uint8_t[]){1, 3, 6, 15, 26, 28, 51, 58, 59}, 9);
        msg_addr(&m, 50, "10.0.0.9"); /* a wish: the slot's address is offered */
        msg_end(&m);
        expect_reply(&m, 2, DHCP4_DISCOVER, &reply, &p);
        assert_full_configuration(&p, 2, true);
        assert_field_addr(&p, 12, "0.0.0.0");
        assert_field_addr(&p, 16, "10.213.0.30");
        assert_field_addr(&p, 20, "0.0.0.0"); /* siaddr */
        assert_memory_equal(p.bootp + 10, ((uint8_t[]){0, 0}), 2);
        /* Neither ciaddr nor the broadcast flag: to yiaddr at chaddr. */
        assert_destination(&reply, &p, "10.213.0.30", client_mac);
}

static void test_discover_broadcast_flag(void **state)
{
        struct guest_reply reply;
        struct parsed p;
        struct msg m;

        msg_init(&m, 1);
        m.b[10] = 0x80;
        msg_end(&m);
        expect_reply(&m, 2, DHCP4_DISCOVER, &reply, &p);
        assert_memory_equal(p.bootp + 10, ((uint8_t[]){0x80, 0}), 2);
        assert_destination(&reply, &p, "255.255.255.255", broadcast_mac);
}

static void test_discover_any_mac(void **state)
{
        static const uint8_t other[6] = {0x0a, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
        struct guest_reply reply;
        enum dhcp4_event ev;
        struct parsed p;
        struct msg m;

        msg_init(&m, 1);
        memcpy(m.b + 28, other, 6);
        memset(m.b + 34, 0x77, 10); /* chaddr's padding is echoed too */
        msg_end(&m);
        assert_int_equal(handle(&m, &reply, &ev), 1);
        parse_reply(&reply, &p);
        assert_memory_equal(p.bootp + 28, m.b + 28, 16);
        assert_destination(&reply, &p, "10.213.0.30", other);
}

static void test_request_selecting(void **state)
{
        struct guest_reply reply;
        struct parsed p;
        struct msg m;

        msg_init(&m, 3);
        msg_addr(&m, 50, "10.213.0.30");
        msg_addr(&m, 54, "10.213.0.29");
        msg_end(&m);
        expect_reply(&m, 5, DHCP4_REQUEST, &reply, &p);
        assert_full_configuration(&p, 5, true);
        assert_field_addr(&p, 12, "0.0.0.0");
        assert_field_addr(&p, 16, "10.213.0.30");
        assert_destination(&reply, &p, "10.213.0.30", client_mac);

        m.b[10] = 0x80;
        expect_reply(&m, 5, DHCP4_REQUEST, &reply, &p);
        assert_destination(&reply, &p, "255.255.255.255", broadcast_mac);
}

static void test_request_other_server(void **state)
{
        struct msg m;

        msg_init(&m, 3);
        msg_addr(&m, 50, "10.213.0.30");
        msg_addr(&m, 54, "10.213.0.33");
        msg_end(&m);
        expect_silence(&m, DHCP4_REQUEST);
}

static void test_request_init_reboot(void **state)
{
        struct guest_reply reply;
        struct parsed p;
        struct msg m;

        msg_init(&m, 3);
        msg_addr(&m, 50, "10.213.0.30");
        msg_end(&m);
        expect_reply(&m, 5, DHCP4_REQUEST, &reply, &p);
        assert_full_configuration(&p, 5, true);

        msg_init(&m, 3);
        msg_addr(&m, 50, "10.213.0.34"); /* the next slot's address */
        msg_end(&m);
        expect_reply(&m, 6, DHCP4_REQUEST, &reply, &p);
        assert_nak(&reply, &p);

        /* The right server, the wrong address: NAK as well. */
        msg_init(&m, 3);
        msg_addr(&m, 54, "10.213.0.29");
        msg_addr(&m, 50, "192.168.1.10");
        msg_end(&m);
        expect_reply(&m, 6, DHCP4_REQUEST, &reply, &p);
        assert_nak(&reply, &p);
}

static void test_request_renewing(void **state)
{
        struct guest_reply reply;
        struct parsed p;
        struct msg m;

        msg_init(&m, 3);
        msg_set_addr(&m, 12, "10.213.0.30");
        msg_end(&m);
        expect_reply(&m, 5, DHCP4_REQUEST, &reply, &p);
        assert_full_configuration(&p, 5, true);
        assert_field_addr(&p, 12, "10.213.0.30");
        assert_field_addr(&p, 16, "10.213.0.30");
        assert_destination(&reply, &p, "10.213.0.30", client_mac);
        /* ciaddr wins over the broadcast flag (RFC 2131 4.1). */
        m.b[10] = 0x80;
        expect_reply(&m, 5, DHCP4_REQUEST, &reply, &p);
        assert_destination(&reply, &p, "10.213.0.30", client_mac);

        /* Renewing another address: NAK, broadcast. */
        msg_init(&m, 3);
        msg_set_addr(&m, 12, "10.213.0.26");
        msg_end(&m);
        expect_reply(&m, 6, DHCP4_REQUEST, &reply, &p);
        assert_nak(&reply, &p);

        /* Option 50 right, ciaddr wrong: still NAK. */
        msg_init(&m, 3);
        msg_set_addr(&m, 12, "10.213.0.26");
        msg_addr(&m, 50, "10.213.0.30");
        msg_end(&m);
        expect_reply(&m, 6, DHCP4_REQUEST, &reply, &p);
        assert_nak(&reply, &p);

        /* Neither option 50 nor ciaddr: nothing it may have. */
        msg_init(&m, 3);
        msg_end(&m);
        expect_reply(&m, 6, DHCP4_REQUEST, &reply, &p);
        assert_nak(&reply, &p);
}

static void test_inform(void **state)
{
        struct guest_reply reply;
        struct parsed p;
        struct msg m;

        msg_init(&m, 8);
        msg_set_addr(&m, 12, "10.213.0.30");
        msg_end(&m);
        expect_reply(&m, 5, DHCP4_INFORM, &reply, &p);
        assert_full_configuration(&p, 5, false);
        assert_field_addr(&p, 12, "10.213.0.30");
        assert_field_addr(&p, 16, "0.0.0.0");
        assert_destination(&reply, &p, "10.213.0.30", client_mac);

        /* No ciaddr: there is no address to send it to but broadcast. */
        msg_init(&m, 8);
        msg_end(&m);
        expect_reply(&m, 5, DHCP4_INFORM, &reply, &p);
        assert_full_configuration(&p, 5, false);
        assert_field_addr(&p, 16, "0.0.0.0");
        assert_destination(&reply, &p, "255.255.255.255", broadcast_mac);

        /* A ciaddr that is not the slot's is no destination. */
        msg_init(&m, 8);
        msg_set_addr(&m, 12, "10.213.0.26");
        msg_end(&m);
        expect_reply(&m, 5, DHCP4_INFORM, &reply, &p);
        assert_field_addr(&p, 12, "10.213.0.26");
        assert_destination(&reply, &p, "255.255.255.255", broadcast_mac);
}

/* Found by fuzz-dhcp4: a DISCOVER with ciaddr 255.255.255.255 was
 * "unicast" there at chaddr's MAC. */
static void test_discover_foreign_ciaddr(void **state)
{
        static const char *const ciaddrs[] = {"255.255.255.255", "224.0.0.1", "10.213.0.29"};
        struct guest_reply reply;
        struct parsed p;
        struct msg m;

        for (size_t i = 0; i < ELEMENTSOF(ciaddrs); i++) {
                msg_init(&m, 1);
                msg_set_addr(&m, 12, ciaddrs[i]);
                msg_end(&m);
                expect_reply(&m, 2, DHCP4_DISCOVER, &reply, &p);
                assert_field_addr(&p, 12, "0.0.0.0");
                assert_destination(&reply, &p, "10.213.0.30", client_mac);
        }
}

static void test_release_decline(void **state)
{
        struct msg m;

        msg_init(&m, 7);
        msg_set_addr(&m, 12, "10.213.0.30");
        msg_addr(&m, 54, "10.213.0.29");
        msg_end(&m);
        expect_silence(&m, DHCP4_RELEASE);

        msg_init(&m, 4);
        msg_addr(&m, 50, "10.213.0.30");
        msg_addr(&m, 54, "10.213.0.29");
        msg_end(&m);
        expect_silence(&m, DHCP4_DECLINE);

        assert_string_equal(dhcp4_event_to_string(DHCP4_RELEASE), "RELEASE");
        assert_string_equal(dhcp4_event_to_string(DHCP4_DECLINE), "DECLINE");
        assert_string_equal(dhcp4_event_to_string(DHCP4_DISCOVER), "DISCOVER");
        assert_string_equal(dhcp4_event_to_string(DHCP4_REQUEST), "REQUEST");
        assert_string_equal(dhcp4_event_to_string(DHCP4_INFORM), "INFORM");
        assert_string_equal(dhcp4_event_to_string(DHCP4_NONE), "NONE");
        assert_string_equal(dhcp4_event_to_string((enum dhcp4_event)99), "NONE");
}

static void test_not_answered(void **state)
{
        /* Server messages and unknown types from a guest. */
        static const uint8_t types[] = {2, 5, 6, 9, 10, 13, 200};
        struct msg m;

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                msg_init(&m, types[i]);
                msg_end(&m);
                expect_silence(&m, DHCP4_NONE);
        }
        /* Relayed: giaddr set. */
        msg_init(&m, 1);
        msg_set_addr(&m, 24, "10.1.1.1");
        msg_end(&m);
        expect_silence(&m, DHCP4_DISCOVER);
}

static void test_client_id_echo(void **state)
{
        static const uint8_t id[] = {0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef};
        static const uint8_t types[] = {1, 3, 3, 8};
        static const uint8_t replies[] = {2, 5, 6, 5};
        struct guest_reply reply;
        struct parsed p;
        struct msg m;

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                msg_init(&m, types[i]);
                msg_opt(&m, 61, id, sizeof(id));
                if (types[i] == 3)
                        msg_addr(&m, 50, replies[i] == 5 ? "10.213.0.30" : "10.213.0.2");
                msg_end(&m);
                assert_int_equal(handle(&m, &reply, &(enum dhcp4_event){0}), 1);
                parse_reply(&reply, &p);
                assert_int_equal(p.opt[53][0], replies[i]);
                assert_int_equal(p.optlen[61], sizeof(id));
                assert_memory_equal(p.opt[61], id, sizeof(id));
        }

        /* The longest an option can be. */
        msg_init(&m, 1);
        m.b[m.len++] = 61;
        m.b[m.len++] = 255;
        for (size_t i = 0; i < 255; i++)
                m.b[m.len++] = (uint8_t)i;
        msg_end(&m);
        assert_int_equal(handle(&m, &reply, &(enum dhcp4_event){0}), 1);
        parse_reply(&reply, &p);
        assert_int_equal(p.optlen[61], 255);
        assert_memory_equal(p.opt[61], m.b + 245, 255);
}

static void test_dns(void **state)
{
        struct guest_dns many = {.n_v4 = GUEST_DNS_MAX, .search = "a.very.long.domain.example"};
        struct guest_dns v6_only = {.n_v6 = 1};
        struct guest_reply reply;
        struct parsed p;
        struct msg m;

        msg_init(&m, 1);
        msg_end(&m);

        net.dns = NULL;
        assert_int_equal(handle(&m, &reply, &(enum dhcp4_event){0}), 1);
        parse_reply(&reply, &p);
        assert_int_equal(p.optlen[6], -1);
        assert_int_equal(p.optlen[15], -1);
        assert_int_equal(p.n_options, 8);

        net.dns = &v6_only;
        assert_int_equal(handle(&m, &reply, &(enum dhcp4_event){0}), 1);
        parse_reply(&reply, &p);
        assert_int_equal(p.optlen[6], -1);
        assert_int_equal(p.optlen[15], -1);

        for (size_t i = 0; i < GUEST_DNS_MAX; i++)
                many.v4[i].s_addr = htonl(0xc0000200 + (uint32_t)i);
        net.dns = &many;
        assert_int_equal(handle(&m, &reply, &(enum dhcp4_event){0}), 1);
        parse_reply(&reply, &p);
        assert_int_equal(p.optlen[6], 4 * GUEST_DNS_MAX);
        assert_memory_equal(p.opt[6], many.v4, 4 * GUEST_DNS_MAX);
        assert_int_equal(p.optlen[15], strlen(many.search));
        assert_memory_equal(p.opt[15], many.search, strlen(many.search));

        /* The longest domain. */
        memset(many.search, 'a', GUEST_DOMAIN_MAX);
        many.search[GUEST_DOMAIN_MAX] = '\0';
        assert_int_equal(handle(&m, &reply, &(enum dhcp4_event){0}), 1);
        parse_reply(&reply, &p);
        assert_int_equal(p.optlen[15], GUEST_DOMAIN_MAX);
        net.dns = &dns;
}

static void test_lease_and_mtu(void **state)
{
        static const struct {
                uint32_t lease, t1, t2;
        } leases[] = {
            {1000, 500, 875},
            {1, 0, 0},
            {UINT32_MAX - 1, 0x7fffffff, 0xdfffffff - 1},
            {UINT32_MAX, UINT32_MAX, UINT32_MAX},
        };
        struct guest_reply reply;
        struct parsed p;
        struct msg m;

        msg_init(&m, 1);
        msg_end(&m);
        for (size_t i = 0; i < ELEMENTSOF(leases); i++) {
                net.lease_time = leases[i].lease;
                assert_int_equal(handle(&m, &reply, &(enum dhcp4_event){0}), 1);
                parse_reply(&reply, &p);
                assert_int_equal(opt32(&p, 51), leases[i].lease);
                assert_int_equal(opt32(&p, 58), leases[i].t1);
                assert_int_equal(opt32(&p, 59), leases[i].t2);
        }
        net.lease_time = 86400;

        net.mtu = 9000;
        assert_int_equal(handle(&m, &reply, &(enum dhcp4_event){0}), 1);
        parse_reply(&reply, &p);
        assert_int_equal(p.optlen[26], 2);
        assert_int_equal(p.opt[26][0] << 8 | p.opt[26][1], 9000);
        net.mtu = 1500;
}

static void test_lenient_options(void **state)
{
        struct guest_reply reply;
        struct parsed p;
        struct msg m;

        /* Pads, option 53 last, no END, overload with garbage in sname
         * and file: all fine. */
        msg_init(&m, 0);
        memset(m.b + 44, 0xee, 192);
        m.b[m.len++] = 0;
        m.b[m.len++] = 0;
        msg_opt(&m, 52, (uint8_t[]){3}, 1);
        msg_opt(&m, 12, "guest", 5);
        msg_opt(&m, 53, (uint8_t[]){1}, 1);
        expect_reply(&m, 2, DHCP4_DISCOVER, &reply, &p);
        assert_memory_equal(p.bootp + 44, ((uint8_t[192]){}), 192);

        /* What follows END is not read. */
        msg_init(&m, 1);
        msg_end(&m);
        msg_opt(&m, 53, (uint8_t[]){1, 2, 3}, 3);
        m.b[m.len++] = 200;
        expect_reply(&m, 2, DHCP4_DISCOVER, &reply, &p);
}

/* A DISCOVER shaped like dhcpcd's, option 53 last: cut anywhere before
 * its end, it is malformed. */
static void test_truncated(void **state)
{
        struct guest_reply reply;
        enum dhcp4_event ev;
        struct msg m;

        msg_init(&m, 0);
        msg_opt(&m, 61, (uint8_t[]){1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, 7);
        msg_opt(&m, 57, (uint8_t[]){0x05, 0xdc}, 2);
        msg_opt(&m, 12, "guest", 5);
        msg_opt(&m, 55, (uint8_t[]){1, 121, 33, 3, 6, 15, 26, 28, 51, 54, 58, 59, 119}, 13);
        msg_opt(&m, 53, (uint8_t[]){1}, 1);
        msg_end(&m);
        for (size_t len = 0; len < m.len - 1; len++)
                assert_int_equal(handle_bytes(m.b, len, &reply, &ev), -EBADMSG);
        assert_int_equal(handle_bytes(m.b, m.len - 1, &reply, &ev), 1);
        assert_int_equal(handle_bytes(m.b, m.len, &reply, &ev), 1);
}

static void test_malformed(void **state)
{
        struct msg m;

        msg_init(&m, 1); /* no END, then a bad cookie */
        m.b[239] = 0x64;
        expect_malformed(&m);

        msg_init(&m, 0); /* no option 53 */
        msg_opt(&m, 50, "\x0a\x00\x00\x01", 4);
        msg_end(&m);
        expect_malformed(&m);

        for (size_t i = 0; i < 3; i++) { /* op, htype, hlen */
                static const uint8_t bad[3][2] = {{2, 0}, {6, 0}, {0, 16}};

                for (size_t j = 0; j < 2; j++) {
                        msg_init(&m, 1);
                        msg_end(&m);
                        m.b[i] = bad[i][j];
                        expect_malformed(&m);
                }
        }

        msg_init(&m, 1); /* an option's length past the end */
        m.b[m.len++] = 12;
        m.b[m.len++] = 10;
        memcpy(m.b + m.len, "abc", 3);
        m.len += 3;
        expect_malformed(&m);

        msg_init(&m, 1); /* a code without its length */
        m.b[m.len++] = 12;
        expect_malformed(&m);
}

/* Options we read with the wrong length, or twice. */
static void test_malformed_options(void **state)
{
        static const struct {
                uint8_t code, len;
        } bad[] = {
            {53, 0}, {53, 2}, {50, 3}, {50, 5}, {54, 0}, {54, 16}, {61, 0}, {61, 1},
        };
        static const uint8_t twice[] = {53, 50, 54, 61};
        uint8_t v[16] = {1, 1, 1, 1};
        struct msg m;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                msg_init(&m, bad[i].code == 53 ? 0 : 1);
                msg_opt(&m, bad[i].code, v, bad[i].len);
                msg_end(&m);
                expect_malformed(&m);
        }
        for (size_t i = 0; i < ELEMENTSOF(twice); i++) {
                msg_init(&m, 3);
                msg_opt(&m, twice[i], v, twice[i] == 53 ? 1 : 4);
                if (twice[i] != 53)
                        msg_opt(&m, twice[i], v, 4);
                msg_end(&m);
                expect_malformed(&m);
        }
        msg_init(&m, 0); /* type 0 */
        msg_opt(&m, 53, (uint8_t[]){0}, 1);
        msg_end(&m);
        expect_malformed(&m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup(test_discover_offer, setup),
            cmocka_unit_test_setup(test_discover_broadcast_flag, setup),
            cmocka_unit_test_setup(test_discover_any_mac, setup),
            cmocka_unit_test_setup(test_request_selecting, setup),
            cmocka_unit_test_setup(test_request_other_server, setup),
            cmocka_unit_test_setup(test_request_init_reboot, setup),
            cmocka_unit_test_setup(test_request_renewing, setup),
            cmocka_unit_test_setup(test_inform, setup),
            cmocka_unit_test_setup(test_discover_foreign_ciaddr, setup),
            cmocka_unit_test_setup(test_release_decline, setup),
            cmocka_unit_test_setup(test_not_answered, setup),
            cmocka_unit_test_setup(test_client_id_echo, setup),
            cmocka_unit_test_setup(test_dns, setup),
            cmocka_unit_test_setup(test_lease_and_mtu, setup),
            cmocka_unit_test_setup(test_lenient_options, setup),
            cmocka_unit_test_setup(test_truncated, setup),
            cmocka_unit_test_setup(test_malformed, setup),
            cmocka_unit_test_setup(test_malformed_options, setup),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

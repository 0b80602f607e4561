/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/if_ether.h>
#include <string.h>

#include "dhcp4.h"
#include "macro.h"

/* The fixed BOOTP header (RFC 2131 section 2) and the magic cookie that
 * starts the options (RFC 2132 section 2). */
#define BOOTP_OP 0
#define BOOTP_HTYPE 1
#define BOOTP_HLEN 2
#define BOOTP_XID 4
#define BOOTP_FLAGS 10
#define BOOTP_CIADDR 12
#define BOOTP_YIADDR 16
#define BOOTP_GIADDR 24
#define BOOTP_CHADDR 28
#define BOOTP_COOKIE 236
#define BOOTP_OPTIONS 240
/* Some clients drop a reply shorter than a BOOTP message was (RFC 951). */
#define BOOTP_MIN_LEN 300

#define BOOTREQUEST 1
#define BOOTREPLY 2
#define HTYPE_ETHER 1
#define FLAG_BROADCAST 0x8000

#define SERVER_PORT 67
#define CLIENT_PORT 68
#define IP4_UDP_HEADERS 28

/* Message types (option 53). */
enum {
        DHCPDISCOVER = 1,
        DHCPOFFER = 2,
        DHCPREQUEST = 3,
        DHCPDECLINE = 4,
        DHCPACK = 5,
        DHCPNAK = 6,
        DHCPRELEASE = 7,
        DHCPINFORM = 8,
};

/* Option codes (RFC 2132). */
enum {
        OPT_PAD = 0,
        OPT_SUBNET_MASK = 1,
        OPT_ROUTER = 3,
        OPT_DNS = 6,
        OPT_DOMAIN = 15,
        OPT_MTU = 26,
        OPT_REQUESTED_ADDRESS = 50,
        OPT_LEASE_TIME = 51,
        OPT_MESSAGE_TYPE = 53,
        OPT_SERVER_ID = 54,
        OPT_T1 = 58,
        OPT_T2 = 59,
        OPT_CLIENT_ID = 61,
        OPT_END = 255,
};

static const uint8_t magic_cookie[4] = {99, 130, 83, 99};

/* What of a request decides the answer. The addresses stay in network
 * order, as in the packet. */
struct dhcp4_request {
        const uint8_t *msg; /* the BOOTP message: header fields read from here */
        uint8_t type;
        bool has_requested, has_server_id;
        struct in_addr requested, server_id, ciaddr;
        const uint8_t *client_id;
        size_t client_id_len;
};

static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

/* Records one option we read. Each may appear once: RFC 3396 lets a long
 * option be split, but none of these is long, and a repeated one is a
 * message we would read one way and the client meant another. */
static int parse_option(struct dhcp4_request *r, uint8_t code, const uint8_t *v, uint8_t len)
{
        switch (code) {
        case OPT_MESSAGE_TYPE:
                if (len != 1 || r->type != 0 || v[0] == 0)
                        return -EBADMSG;
                r->type = v[0];
                return 0;
        case OPT_REQUESTED_ADDRESS:
        case OPT_SERVER_ID: {
                bool *has = code == OPT_REQUESTED_ADDRESS ? &r->has_requested : &r->has_server_id;

                if (len != 4 || *has)
                        return -EBADMSG;
                memcpy(code == OPT_REQUESTED_ADDRESS ? &r->requested : &r->server_id, v, 4);
                *has = true;
                return 0;
        }
        case OPT_CLIENT_ID:
                /* A type and at least one byte (RFC 2132 section 9.14). */
                if (len < 2 || r->client_id)
                        return -EBADMSG;
                r->client_id = v;
                r->client_id_len = len;
                return 0;
        default:
                /* Overload (52) included: sname and file are not read. */
                return 0;
        }
}

/* Walks the options strictly: every length must fit. A missing end option
 * is tolerated when the last option ends with the message. */
static int parse_options(struct dhcp4_request *r, const uint8_t *p, size_t len)
{
        size_t i = 0;

        while (i < len) {
                uint8_t code = p[i], n;
                int e;

                if (code == OPT_END)
                        break;
                if (code == OPT_PAD) {
                        i++;
                        continue;
                }
                if (len - i < 2)
                        return -EBADMSG;
                n = p[i + 1];
                if (len - i - 2 < n)
                        return -EBADMSG;
                e = parse_option(r, code, p + i + 2, n);
                if (e < 0)
                        return e;
                i += 2 + (size_t)n;
        }
        return r->type != 0 ? 0 : -EBADMSG;
}

static int parse_request(const uint8_t *msg, size_t len, struct dhcp4_request *ret)
{
        *ret = (struct dhcp4_request){.msg = msg};

        if (len < BOOTP_OPTIONS || msg[BOOTP_OP] != BOOTREQUEST || msg[BOOTP_HTYPE] != HTYPE_ETHER ||
            msg[BOOTP_HLEN] != ETH_ALEN || memcmp(msg + BOOTP_COOKIE, magic_cookie, 4) != 0)
                return -EBADMSG;
        memcpy(&ret->ciaddr, msg + BOOTP_CIADDR, 4);
        return parse_options(ret, msg + BOOTP_OPTIONS, len - BOOTP_OPTIONS);
}

/* Appends options to a reply; the sizes are bounded (at most ~600 bytes of
 * options into more than 1000), so running out only ever marks it bad. */
struct writer {
        uint8_t *buf;
        size_t len, size;
        bool overflow;
};

static void put_option(struct writer *w, uint8_t code, const void *v, size_t len)
{
        if (len > 255 || w->size - w->len < 2 + len) {
                w->overflow = true;
                return;
        }
        w->buf[w->len++] = code;
        w->buf[w->len++] = (uint8_t)len;
        memcpy(w->buf + w->len, v, len);
        w->len += len;
}

static void put_option32(struct writer *w, uint8_t code, uint32_t v)
{
        uint32_t be = htonl(v);

        put_option(w, code, &be, 4);
}

static void put_option_addr(struct writer *w, uint8_t code, struct in_addr a)
{
        put_option(w, code, &a, 4);
}

/* The lease and its renewal times (RFC 2131 4.4.5: T1 = lease/2, T2 =
 * lease*7/8). 0xffffffff is an infinite lease, and so are its times. */
static void put_lease(struct writer *w, uint32_t lease)
{
        uint32_t t1 = lease == UINT32_MAX ? lease : lease / 2;
        uint32_t t2 = lease == UINT32_MAX ? lease : (uint32_t)((uint64_t)lease * 7 / 8);

        put_option32(w, OPT_LEASE_TIME, lease);
        put_option32(w, OPT_T1, t1);
        put_option32(w, OPT_T2, t2);
}

/* What configures the guest's interface: mask, router, MTU, DNS, domain. */
static void put_configuration(struct writer *w, const struct guest_net *net)
{
        const struct guest_dns *dns = net->dns;

        put_option_addr(w, OPT_SUBNET_MASK, net->netmask4);
        put_option_addr(w, OPT_ROUTER, net->gateway4);
        /* Option 26 is 16 bits, at least 68 (RFC 2132 section 5.1). */
        if (net->mtu >= 68 && net->mtu <= UINT16_MAX)
                put_option(w, OPT_MTU, (uint8_t[]){(uint8_t)(net->mtu >> 8), (uint8_t)net->mtu}, 2);
        if (!dns)
                return;
        if (dns->n_v4 > 0)
                put_option(w, OPT_DNS, dns->v4, 4 * MIN(dns->n_v4, (size_t)GUEST_DNS_MAX));
        if (dns->search[0] != '\0')
                put_option(w, OPT_DOMAIN, dns->search, strnlen(dns->search, GUEST_DOMAIN_MAX));
}

/* The options of a reply of `type`, ending with END. A NAK carries only
 * the type, the server and the client identifier (RFC 2131 table 3). */
static void put_options(struct writer *w, const struct guest_net *net, const struct dhcp4_request *r,
                        uint8_t type)
{
        put_option(w, OPT_MESSAGE_TYPE, &type, 1);
        put_option_addr(w, OPT_SERVER_ID, net->gateway4);
        if (type != DHCPNAK) {
                if (r->type != DHCPINFORM)
                        put_lease(w, net->lease_time);
                put_configuration(w, net);
        }
        /* Echoed in every reply (RFC 6842). */
        if (r->client_id)
                put_option(w, OPT_CLIENT_ID, r->client_id, r->client_id_len);
        if (w->len < w->size)
                w->buf[w->len++] = OPT_END;
        else
                w->overflow = true;
}

/* Where the reply goes (RFC 2131 4.1, giaddr being zero): a NAK is
 * broadcast; else to ciaddr when the client has one; else broadcast when
 * the client asks for it; else to the address given, at chaddr. A ciaddr
 * other than the slot's is no address the guest can have (the anti-spoofing
 * sets drop it), and may be a broadcast or multicast one: it counts as none. */
static struct in_addr reply_destination(const struct guest_net *net, const struct dhcp4_request *r,
                                        uint8_t type, struct in_addr yiaddr, uint8_t ret_mac[6])
{
        bool has_ciaddr = r->ciaddr.s_addr == net->guest4.s_addr;
        bool broadcast =
            type == DHCPNAK ||
            (!has_ciaddr && ((get16(r->msg + BOOTP_FLAGS) & FLAG_BROADCAST) || yiaddr.s_addr == INADDR_ANY));

        if (broadcast) {
                memset(ret_mac, 0xff, ETH_ALEN);
                return (struct in_addr){htonl(INADDR_BROADCAST)};
        }
        memcpy(ret_mac, r->msg + BOOTP_CHADDR, ETH_ALEN);
        return has_ciaddr ? r->ciaddr : yiaddr;
}

/* Builds the BOOTREPLY of `type` into reply. 1, or 0 when it cannot fit
 * (it always does: the options are bounded). */
static int build_reply(const struct guest_net *net, const struct dhcp4_request *r, uint8_t type,
                       struct guest_reply *reply)
{
        uint8_t msg[GUEST_REPLY_MAX - IP4_UDP_HEADERS] = {};
        struct writer w = {.buf = msg, .len = BOOTP_OPTIONS, .size = sizeof(msg)};
        struct in_addr yiaddr = {INADDR_ANY}, dst;

        if (type != DHCPNAK && r->type != DHCPINFORM)
                yiaddr = net->guest4;
        msg[BOOTP_OP] = BOOTREPLY;
        msg[BOOTP_HTYPE] = HTYPE_ETHER;
        msg[BOOTP_HLEN] = ETH_ALEN;
        memcpy(msg + BOOTP_XID, r->msg + BOOTP_XID, 4);
        memcpy(msg + BOOTP_FLAGS, r->msg + BOOTP_FLAGS, 2);
        /* ciaddr is echoed in an ACK (RENEWING, INFORM), 0 otherwise. */
        if (type == DHCPACK)
                memcpy(msg + BOOTP_CIADDR, &r->ciaddr, 4);
        memcpy(msg + BOOTP_YIADDR, &yiaddr, 4);
        memcpy(msg + BOOTP_CHADDR, r->msg + BOOTP_CHADDR, 16);
        memcpy(msg + BOOTP_COOKIE, magic_cookie, 4);
        put_options(&w, net, r, type);
        if (w.overflow)
                return 0;
        /* The rest of msg is zero: pad options. */
        w.len = MAX(w.len, (size_t)BOOTP_MIN_LEN);

        dst = reply_destination(net, r, type, yiaddr, reply->dst_mac);
        reply->ethertype = ETH_P_IP;
        reply->len = ip4_udp_build(reply->data, sizeof(reply->data), net->gateway4, dst, SERVER_PORT,
                                   CLIENT_PORT, msg, w.len);
        return reply->len > 0 ? 1 : 0;
}

/* REQUEST (RFC 2131 4.3.2): selecting (server identifier and option 50),
 * init-reboot (option 50) or renewing/rebinding (ciaddr). The address the
 * client asks for, or already uses, must be the slot's: else NAK. */
static int answer_request(const struct guest_net *net, const struct dhcp4_request *r,
                          struct guest_reply *reply)
{
        struct in_addr wanted = r->has_requested ? r->requested : r->ciaddr;

        /* The client took another server's offer. */
        if (r->has_server_id && r->server_id.s_addr != net->gateway4.s_addr)
                return 0;
        if (wanted.s_addr != net->guest4.s_addr ||
            (r->ciaddr.s_addr != INADDR_ANY && r->ciaddr.s_addr != net->guest4.s_addr))
                return build_reply(net, r, DHCPNAK, reply);
        return build_reply(net, r, DHCPACK, reply);
}

static enum dhcp4_event event_of(uint8_t type)
{
        switch (type) {
        case DHCPDISCOVER:
                return DHCP4_DISCOVER;
        case DHCPREQUEST:
                return DHCP4_REQUEST;
        case DHCPINFORM:
                return DHCP4_INFORM;
        case DHCPRELEASE:
                return DHCP4_RELEASE;
        case DHCPDECLINE:
                return DHCP4_DECLINE;
        default:
                return DHCP4_NONE;
        }
}

int dhcp4_handle(const struct guest_net *net, const uint8_t src_mac[6], const struct ip4_udp *in,
                 struct guest_reply *reply, enum dhcp4_event *ret_event)
{
        struct dhcp4_request r;
        int e;

        *ret_event = DHCP4_NONE;
        e = parse_request(in->payload, in->payload_len, &r);
        if (e < 0)
                return e;
        *ret_event = event_of(r.type);
        /* Relayed: the guest is on the TAP, a relay has no business here. */
        if (memcmp(r.msg + BOOTP_GIADDR, (uint8_t[4]){}, 4) != 0)
                return 0;
        switch (r.type) {
        case DHCPDISCOVER:
                return build_reply(net, &r, DHCPOFFER, reply);
        case DHCPREQUEST:
                return answer_request(net, &r, reply);
        case DHCPINFORM:
                return build_reply(net, &r, DHCPACK, reply);
        default:
                /* RELEASE, DECLINE: nothing to free or avoid, one address per
                 * slot. Server-to-client types and unknown ones: ignored. */
                return 0;
        }
}

const char *dhcp4_event_to_string(enum dhcp4_event e)
{
        static const char *const names[] = {
            [DHCP4_NONE] = "NONE",     [DHCP4_DISCOVER] = "DISCOVER", [DHCP4_REQUEST] = "REQUEST",
            [DHCP4_INFORM] = "INFORM", [DHCP4_RELEASE] = "RELEASE",   [DHCP4_DECLINE] = "DECLINE",
        };

        if ((size_t)e >= ELEMENTSOF(names) || !names[e])
                return "NONE";
        return names[e];
}

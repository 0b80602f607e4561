/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/if_ether.h>
#include <stdbool.h>
#include <string.h>

#include "bytes.h"
#include "dhcp6.h"
#include "dns-name.h"
#include "macro.h"

#define DHCP6_SERVER_PORT 547
#define DHCP6_CLIENT_PORT 546
#define IP6_UDP_HEADERS 48
#define MSG_HEADER 4 /* type and transaction ID */
#define DUID_MIN 3   /* a type and something */
#define DUID_MAX 130 /* RFC 8415 11.1 */
#define DUID_LL_LEN 10
#define IAADDR_LEN 24
#define IAPREFIX_LEN 25

enum {
        TYPE_SOLICIT = 1,
        TYPE_ADVERTISE = 2,
        TYPE_REQUEST = 3,
        TYPE_CONFIRM = 4,
        TYPE_RENEW = 5,
        TYPE_REBIND = 6,
        TYPE_REPLY = 7,
        TYPE_RELEASE = 8,
        TYPE_DECLINE = 9,
        TYPE_INFORMATION_REQUEST = 11,
};

enum {
        OPT_CLIENTID = 1,
        OPT_SERVERID = 2,
        OPT_IA_NA = 3,
        OPT_IA_TA = 4,
        OPT_IAADDR = 5,
        OPT_PREFERENCE = 7,
        OPT_STATUS_CODE = 13,
        OPT_RAPID_COMMIT = 14,
        OPT_DNS_SERVERS = 23,
        OPT_DOMAIN_LIST = 24,
        OPT_IA_PD = 25,
        OPT_IAPREFIX = 26,
};

enum {
        STATUS_SUCCESS = 0,
        STATUS_NO_ADDRS_AVAIL = 2,
        STATUS_NOT_ON_LINK = 4,
        STATUS_NO_PREFIX_AVAIL = 6,
};

static const char *const event_names[_DHCP6_EVENT_MAX] = {
    [DHCP6_NONE] = "NONE",
    [DHCP6_SOLICIT] = "SOLICIT",
    [DHCP6_REQUEST] = "REQUEST",
    [DHCP6_RENEW] = "RENEW",
    [DHCP6_REBIND] = "REBIND",
    [DHCP6_CONFIRM] = "CONFIRM",
    [DHCP6_RELEASE] = "RELEASE",
    [DHCP6_DECLINE] = "DECLINE",
    [DHCP6_INFORMATION_REQUEST] = "INFORMATION-REQUEST",
};

const char *dhcp6_event_to_string(enum dhcp6_event e)
{
        return (unsigned)e < _DHCP6_EVENT_MAX ? event_names[e] : "?";
}

/* The client messages a server answers, and the event each is. */
static enum dhcp6_event event_of(uint8_t type)
{
        switch (type) {
        case TYPE_SOLICIT:
                return DHCP6_SOLICIT;
        case TYPE_REQUEST:
                return DHCP6_REQUEST;
        case TYPE_CONFIRM:
                return DHCP6_CONFIRM;
        case TYPE_RENEW:
                return DHCP6_RENEW;
        case TYPE_REBIND:
                return DHCP6_REBIND;
        case TYPE_RELEASE:
                return DHCP6_RELEASE;
        case TYPE_DECLINE:
                return DHCP6_DECLINE;
        case TYPE_INFORMATION_REQUEST:
                return DHCP6_INFORMATION_REQUEST;
        default:
                return DHCP6_NONE;
        }
}

/* ---- reading options ------------------------------------------------------ */

struct opt {
        uint16_t code;
        const uint8_t *data;
        size_t len;
};

struct opt_iter {
        const uint8_t *p;
        size_t left;
};

/* 1 with the next option, 0 at the end, -EBADMSG when it does not fit. */
static int opt_next(struct opt_iter *it, struct opt *ret)
{
        size_t len;

        if (it->left == 0)
                return 0;
        if (it->left < 4)
                return -EBADMSG;
        len = get_be16(it->p + 2);
        if (len > it->left - 4)
                return -EBADMSG;
        *ret = (struct opt){.code = get_be16(it->p), .data = it->p + 4, .len = len};
        it->p += 4 + len;
        it->left -= 4 + len;
        return 1;
}

static int options_fit(const uint8_t *p, size_t n)
{
        struct opt_iter it = {p, n};
        struct opt o;
        int r;

        while ((r = opt_next(&it, &o)) > 0)
                ;
        return r;
}

/* The fixed part of an IA option before its own options. */
static size_t ia_header_len(uint16_t code)
{
        return code == OPT_IA_TA ? 4 : 12;
}

/* An IA's options, and the options of the addresses and prefixes in it,
 * all fit; each is long enough for what it holds. */
static int ia_check(const struct opt *ia)
{
        struct opt_iter it;
        struct opt o;
        int r;

        if (ia->len < ia_header_len(ia->code))
                return -EBADMSG;
        it = (struct opt_iter){ia->data + ia_header_len(ia->code), ia->len - ia_header_len(ia->code)};
        while ((r = opt_next(&it, &o)) > 0) {
                size_t fixed = o.code == OPT_IAADDR ? IAADDR_LEN : o.code == OPT_IAPREFIX ? IAPREFIX_LEN : 0;

                if (o.code == OPT_STATUS_CODE && o.len < 2)
                        return -EBADMSG;
                if (fixed && (o.len < fixed || options_fit(o.data + fixed, o.len - fixed) < 0))
                        return -EBADMSG;
        }
        return r;
}

/* A client message taken apart. Identifiers and IAs point into it. */
struct request {
        uint8_t type;
        const uint8_t *xid;
        const uint8_t *options;
        size_t options_len;
        struct opt client_id, server_id; /* .data NULL when absent */
        bool rapid_commit;
        struct opt ia_na;                      /* the first; .data NULL when none */
        struct opt other_ia[DHCP6_IA_MAX - 1]; /* the next IAs of any kind */
        size_t n_other_ia;
        size_t n_ia; /* all of them */
};

static int take_duid(const struct opt *o, struct opt *ret)
{
        if (ret->data || o->len < DUID_MIN || o->len > DUID_MAX)
                return -EBADMSG;
        *ret = *o;
        return 0;
}

static int take_ia(const struct opt *o, struct request *req)
{
        if (ia_check(o) < 0)
                return -EBADMSG;
        req->n_ia++;
        if (o->code == OPT_IA_NA && !req->ia_na.data)
                req->ia_na = *o;
        else if (req->n_other_ia < ELEMENTSOF(req->other_ia))
                req->other_ia[req->n_other_ia++] = *o;
        return 0;
}

static int take_option(const struct opt *o, struct request *req)
{
        switch (o->code) {
        case OPT_CLIENTID:
                return take_duid(o, &req->client_id);
        case OPT_SERVERID:
                return take_duid(o, &req->server_id);
        case OPT_RAPID_COMMIT:
                if (o->len != 0)
                        return -EBADMSG;
                req->rapid_commit = true;
                return 0;
        case OPT_IA_NA:
        case OPT_IA_TA:
        case OPT_IA_PD:
                return take_ia(o, req);
        default:
                return 0; /* what a server need not understand */
        }
}

static int parse_request(const uint8_t *msg, size_t len, struct request *ret)
{
        struct request req = {
            .type = msg[0],
            .xid = msg + 1,
            .options = msg + MSG_HEADER,
            .options_len = len - MSG_HEADER,
        };
        struct opt_iter it = {req.options, req.options_len};
        struct opt o;
        int r;

        while ((r = opt_next(&it, &o)) > 0)
                if (take_option(&o, &req) < 0)
                        return -EBADMSG;
        if (r < 0)
                return r;
        *ret = req;
        return 0;
}

static void server_duid(const struct guest_net *net, uint8_t duid[DUID_LL_LEN])
{
        duid[0] = 0;
        duid[1] = 3; /* DUID-LL */
        duid[2] = 0;
        duid[3] = 1; /* Ethernet */
        memcpy(duid + 4, net->host_mac, 6);
}

/* Which identifiers each message must and must not carry (RFC 8415 16). */
static bool request_acceptable(const struct request *req, const uint8_t duid[DUID_LL_LEN])
{
        bool ours = req->server_id.data && req->server_id.len == DUID_LL_LEN &&
                    memcmp(req->server_id.data, duid, DUID_LL_LEN) == 0;

        if (!req->client_id.data && req->type != TYPE_INFORMATION_REQUEST)
                return false;
        switch (req->type) {
        case TYPE_SOLICIT:
        case TYPE_CONFIRM:
        case TYPE_REBIND:
                return !req->server_id.data;
        case TYPE_REQUEST:
        case TYPE_RENEW:
        case TYPE_RELEASE:
        case TYPE_DECLINE:
                return ours;
        case TYPE_INFORMATION_REQUEST:
                return (!req->server_id.data || ours) && req->n_ia == 0;
        default:
                return false;
        }
}

static bool in_subnet(const struct guest_net *net, const uint8_t *addr)
{
        unsigned bits = MIN(net->prefix6, 128u);
        const uint8_t *subnet = net->subnet6.s6_addr;
        size_t whole = bits / 8;
        uint8_t mask = (uint8_t)(0xff00 >> (bits % 8));

        if (memcmp(addr, subnet, whole) != 0)
                return false;
        return bits % 8 == 0 || ((addr[whole] ^ subnet[whole]) & mask) == 0;
}

/* STATUS_SUCCESS or STATUS_NOT_ON_LINK for the addresses of a Confirm's
 * IA_NAs and IA_TAs; -ENOENT when it names none (RFC 8415 18.3.3: then
 * there is no reply). The message is known to parse. */
static int confirm_status(const struct guest_net *net, const struct request *req)
{
        struct opt_iter it = {req->options, req->options_len};
        struct opt ia, o;
        size_t n = 0;
        bool on_link = true;

        while (opt_next(&it, &ia) > 0) {
                struct opt_iter sub;

                if (ia.code != OPT_IA_NA && ia.code != OPT_IA_TA)
                        continue;
                sub = (struct opt_iter){ia.data + ia_header_len(ia.code), ia.len - ia_header_len(ia.code)};
                while (opt_next(&sub, &o) > 0) {
                        if (o.code != OPT_IAADDR)
                                continue;
                        n++;
                        on_link = on_link && in_subnet(net, o.data);
                }
        }
        if (n == 0)
                return -ENOENT;
        return on_link ? STATUS_SUCCESS : STATUS_NOT_ON_LINK;
}

/* ---- writing the reply ------------------------------------------------------ */

static size_t opt_begin(struct wbuf *w, uint16_t code)
{
        size_t start = w->len;

        wbuf_put16(w, code);
        wbuf_put16(w, 0); /* the length: opt_end() */
        return start;
}

static void opt_end(struct wbuf *w, size_t start)
{
        wbuf_patch16(w, start + 2, (uint16_t)(w->len - start - 4));
}

static void put_status(struct wbuf *w, uint16_t status, const char *message)
{
        size_t start = opt_begin(w, OPT_STATUS_CODE);

        wbuf_put16(w, status);
        wbuf_put(w, message, strlen(message));
        opt_end(w, start);
}

static void put_iaaddr(struct wbuf *w, const void *addr, uint32_t lifetime)
{
        size_t start = opt_begin(w, OPT_IAADDR);

        wbuf_put(w, addr, 16);
        wbuf_put32(w, lifetime); /* preferred */
        wbuf_put32(w, lifetime); /* valid */
        opt_end(w, start);
}

/* The addresses the client names in its IA_NA other than net->guest6,
 * withdrawn: lifetimes 0. */
static void put_stale_addresses(const struct guest_net *net, const struct opt *ia, struct wbuf *w)
{
        struct opt_iter it = {ia->data + ia_header_len(OPT_IA_NA), ia->len - ia_header_len(OPT_IA_NA)};
        struct opt o;
        size_t n = 0;

        while (n < DHCP6_STALE_MAX && opt_next(&it, &o) > 0) {
                if (o.code != OPT_IAADDR || memcmp(o.data, &net->guest6, 16) == 0)
                        continue;
                put_iaaddr(w, o.data, 0);
                n++;
        }
}

static void put_ia_na(const struct guest_net *net, const struct opt *ia, bool withdraw_stale, struct wbuf *w)
{
        size_t start = opt_begin(w, OPT_IA_NA);
        uint32_t lease = net->lease_time;

        wbuf_put(w, ia->data, 4); /* IAID */
        wbuf_put32(w, lease / 2);
        wbuf_put32(w, (uint32_t)((uint64_t)lease * 4 / 5));
        put_iaaddr(w, &net->guest6, lease);
        if (withdraw_stale)
                put_stale_addresses(net, ia, w);
        opt_end(w, start);
}

/* An IA that gets nothing: its IAID, T1 = T2 = 0 and why. */
static void put_ia_refused(const struct opt *ia, struct wbuf *w)
{
        size_t start = opt_begin(w, ia->code);

        wbuf_put(w, ia->data, 4);
        if (ia->code != OPT_IA_TA) {
                wbuf_put32(w, 0);
                wbuf_put32(w, 0);
        }
        if (ia->code == OPT_IA_PD)
                put_status(w, STATUS_NO_PREFIX_AVAIL, "no prefix delegation");
        else
                put_status(w, STATUS_NO_ADDRS_AVAIL, "one address, in the first IA_NA");
        opt_end(w, start);
}

static void put_dns(const struct guest_net *net, struct wbuf *w)
{
        size_t n, start;

        if (!net->dns)
                return;
        n = MIN(net->dns->n_v6, (size_t)GUEST_DNS_MAX);
        if (n > 0) {
                start = opt_begin(w, OPT_DNS_SERVERS);
                wbuf_put(w, net->dns->v6, n * 16);
                opt_end(w, start);
        }
        /* Left out when empty or not a list of valid names. */
        start = opt_begin(w, OPT_DOMAIN_LIST);
        if (dns_names_encode(net->dns->search, sizeof(net->dns->search), w) > 0)
                opt_end(w, start);
        else
                w->len = start;
}

/* The message header, our Server Identifier, the client's echoed. */
static void put_header(struct wbuf *w, uint8_t type, const struct request *req,
                       const uint8_t duid[DUID_LL_LEN])
{
        size_t start;

        wbuf_put8(w, type);
        wbuf_put(w, req->xid, 3);
        start = opt_begin(w, OPT_SERVERID);
        wbuf_put(w, duid, DUID_LL_LEN);
        opt_end(w, start);
        if (req->client_id.data) {
                start = opt_begin(w, OPT_CLIENTID);
                wbuf_put(w, req->client_id.data, req->client_id.len);
                opt_end(w, start);
        }
}

/* The highest: the guest's only server, so that its client requests at
 * once instead of waiting a second for other offers (RFC 8415 18.2.1). */
static void put_preference(struct wbuf *w)
{
        size_t start = opt_begin(w, OPT_PREFERENCE);

        wbuf_put8(w, 255);
        opt_end(w, start);
}

/* What a SOLICIT, REQUEST, RENEW or REBIND is given. */
static void put_leases(const struct guest_net *net, const struct request *req, struct wbuf *w)
{
        if (req->ia_na.data)
                put_ia_na(net, &req->ia_na, req->type != TYPE_SOLICIT, w);
        for (size_t i = 0; i < req->n_other_ia; i++)
                put_ia_refused(&req->other_ia[i], w);
        put_dns(net, w);
}

/* The reply's message into w; -ENOENT when there is none. */
static int compose(const struct guest_net *net, const struct request *req, const uint8_t duid[DUID_LL_LEN],
                   struct wbuf *w)
{
        int status;

        switch (req->type) {
        case TYPE_SOLICIT:
                if (!req->ia_na.data) {
                        put_header(w, TYPE_ADVERTISE, req, duid);
                        put_status(w, STATUS_NO_ADDRS_AVAIL, "one address, in an IA_NA");
                        return 0;
                }
                put_header(w, req->rapid_commit ? TYPE_REPLY : TYPE_ADVERTISE, req, duid);
                if (req->rapid_commit)
                        opt_end(w, opt_begin(w, OPT_RAPID_COMMIT));
                else
                        put_preference(w);
                put_leases(net, req, w);
                return 0;
        case TYPE_REQUEST:
        case TYPE_RENEW:
        case TYPE_REBIND:
                put_header(w, TYPE_REPLY, req, duid);
                put_leases(net, req, w);
                return 0;
        case TYPE_CONFIRM:
                status = confirm_status(net, req);
                if (status < 0)
                        return status;
                put_header(w, TYPE_REPLY, req, duid);
                put_status(w, (uint16_t)status, status == STATUS_SUCCESS ? "on link" : "not on this link");
                return 0;
        case TYPE_INFORMATION_REQUEST:
                put_header(w, TYPE_REPLY, req, duid);
                put_dns(net, w);
                return 0;
        default: /* RELEASE, DECLINE: nothing to free, a reply is due */
                put_header(w, TYPE_REPLY, req, duid);
                put_status(w, STATUS_SUCCESS, "");
                return 0;
        }
}

int dhcp6_handle(const struct guest_net *net, const uint8_t src_mac[6], const struct ip6_udp *in,
                 struct guest_reply *reply, enum dhcp6_event *ret_event)
{
        uint8_t duid[DUID_LL_LEN], msg[GUEST_REPLY_MAX - IP6_UDP_HEADERS];
        struct wbuf w = WBUF(msg, sizeof(msg));
        struct request req;
        struct in6_addr dst;
        size_t len;

        if (ret_event)
                *ret_event = DHCP6_NONE; /* until there is an answer */
        if (!net->ipv6 || in->dport != DHCP6_SERVER_PORT)
                return 0;
        if (in->payload_len < MSG_HEADER)
                return -EBADMSG;
        if (event_of(in->payload[0]) == DHCP6_NONE)
                return 0; /* a server's or a relay's */
        if (IN6_IS_ADDR_MULTICAST(&in->ip.src) || IN6_IS_ADDR_UNSPECIFIED(&in->ip.src))
                return -EBADMSG;
        if (parse_request(in->payload, in->payload_len, &req) < 0)
                return -EBADMSG;
        server_duid(net, duid);
        if (!request_acceptable(&req, duid) || compose(net, &req, duid, &w) < 0)
                return 0;
        if (w.overflow)
                return -EMSGSIZE;
        dst = in->ip.src;
        len = ip6_udp_build(reply->data, sizeof(reply->data), &net->link_local6, &dst, DHCP6_SERVER_PORT,
                            DHCP6_CLIENT_PORT, msg, w.len);
        if (len == 0)
                return -EMSGSIZE;
        memcpy(reply->dst_mac, src_mac, 6);
        reply->ethertype = ETH_P_IPV6;
        reply->len = len;
        if (ret_event)
                *ret_event = event_of(req.type);
        return 1;
}

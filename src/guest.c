/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dhcp4.h"
#include "dhcp6.h"
#include "guest.h"
#include "log.h"
#include "macro.h"
#include "ndisc.h"
#include "packet.h"
#include "resolv.h"
#include "slot.h"
#include "time-util.h"

/* Per-slot rate limit, as a generic cell rate algorithm: one packet every
 * RATE_INTERVAL_USEC on average, RATE_BURST at once. */
#define RATE_INTERVAL_USEC (USEC_PER_SEC / 20)
#define RATE_BURST 40
/* Routers re-advertise well within their lifetime (1800 s): a guest whose
 * link stayed up never solicits again. */
#define RA_RESEND_USEC (600 * USEC_PER_SEC)
/* Packets read per wake-up before the loop gets a turn. */
#define READ_BUDGET 64

#define DHCP4_SERVER_PORT 67
#define DHCP6_SERVER_PORT 547
#define ND_ROUTER_SOLICIT_TYPE 133

struct guest {
        struct manager *manager;
        const struct config *config;
        int fd4, fd6;
        sd_event_source *source4, *source6, *ra_timer;
        uint64_t *tat; /* by slot number: the rate limit's theoretical arrival time */
        struct guest_dns dns;
        uint64_t dropped;
};

/* ---- the kernel filters ---- */

/* IPv4 packets (offset 0 is the IP header on a SOCK_DGRAM packet socket):
 * UDP, not a fragment, to port 67. */
static const struct sock_filter filter4[] = {
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9), /* protocol */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 5),
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6), /* flags and fragment offset */
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 3, 0),
    BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0), /* X = header length */
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),  /* UDP destination port */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DHCP4_SERVER_PORT, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, 0),
    BPF_STMT(BPF_RET | BPF_K, 0xffff),
};

/* IPv6 packets without extension headers: ICMPv6 Router Solicitations, and
 * UDP to port 547. */
static const struct sock_filter filter6[] = {
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6), /* next header */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_ICMPV6, 0, 2),
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 40), /* ICMPv6 type */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ND_ROUTER_SOLICIT_TYPE, 3, 4),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 3),
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 42), /* UDP destination port */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DHCP6_SERVER_PORT, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 0xffff),
    BPF_STMT(BPF_RET | BPF_K, 0),
};

/* A packet socket for one ethertype on every interface. The filter goes on
 * before the bind, so that nothing unfiltered is ever queued. */
static int open_socket(uint16_t ethertype, const struct sock_filter *filter, size_t n_filter)
{
        struct sock_fprog prog = {.len = (unsigned short)n_filter, .filter = (struct sock_filter *)filter};
        struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ethertype)};
        _cleanup_close_ int fd = -1;

        fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, (int[]){1}, sizeof(int)) < 0 ||
            bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* ---- what a slot's guest is told ---- */

static void net_for_slot(const struct guest *g, const struct slot_rec *r, struct guest_net *ret)
{
        const struct config *c = g->config;
        struct slot_net4 n4;

        *ret = (struct guest_net){
            .slot = r->slot,
            .mtu = r->mtu,
            .lease_time = c->dhcp_lease_time,
            .ipv6 = c->ipv6,
            .dns = &g->dns,
        };
        slot_host_mac(r->slot, ret->host_mac);
        slot_ipv4(c, r->slot, &n4);
        ret->guest4 = n4.guest;
        ret->gateway4 = n4.gateway;
        ret->netmask4 = n4.netmask;
        ret->prefix4 = n4.prefix_len;
        if (c->ipv6) {
                struct slot_net6 n6;
                slot_ipv6(c, r->slot, &n6);
                ret->subnet6 = n6.subnet;
                ret->prefix6 = n6.prefix_len;
                ret->guest6 = n6.guest;
                guest_link_local(ret->host_mac, &ret->link_local6);
        }
}

/* The live slot whose TAP has this ifindex, or NULL: the host's own
 * interfaces, a foreign device with a slot's name, a slot not live, a
 * clone slot (its guest is behind a namespace of its own: nothing on the
 * host end of its veth is a guest asking). */
static struct slot_rec *slot_of(const struct guest *g, int fd, int ifindex)
{
        struct ifreq ifr = {.ifr_ifindex = ifindex};
        struct slot_rec *r;
        unsigned slot;

        if (ioctl(fd, SIOCGIFNAME, &ifr) < 0 || slot_from_ifname(g->config, ifr.ifr_name, &slot) < 0)
                return NULL;
        r = manager_slot(g->manager, slot);
        if (!r || r->phase != SLOT_LIVE || r->ifindex != ifindex || r->clone)
                return NULL;
        return r;
}

/* One more packet from this slot's guest: within its rate? */
static bool rate_ok(struct guest *g, unsigned slot)
{
        uint64_t *tat = &g->tat[slot], now = now_usec();

        if (*tat < now)
                *tat = now;
        if (*tat - now > (uint64_t)(RATE_BURST - 1) * RATE_INTERVAL_USEC) {
                g->dropped++;
                return false;
        }
        *tat += RATE_INTERVAL_USEC;
        return true;
}

static void send_reply(struct guest *g, int fd, int ifindex, const struct guest_reply *reply)
{
        struct sockaddr_ll sll = {
            .sll_family = AF_PACKET,
            .sll_protocol = htons(reply->ethertype),
            .sll_ifindex = ifindex,
            .sll_halen = 6,
        };

        memcpy(sll.sll_addr, reply->dst_mac, 6);
        if (sendto(fd, reply->data, reply->len, MSG_DONTWAIT, (struct sockaddr *)&sll, sizeof(sll)) < 0)
                log_debug_errno(-errno, "guest services: sending on ifindex %d failed: %m", ifindex);
}

/* ---- answering ---- */

static int answer4(struct guest *g, const struct guest_net *net, const uint8_t *mac, const uint8_t *pkt,
                   size_t len, struct guest_reply *reply)
{
        enum dhcp4_event ev = DHCP4_NONE;
        struct ip4_udp in;
        int e;

        if (!g->config->guest_dhcp || ip4_udp_parse(pkt, len, &in) < 0 || in.dport != DHCP4_SERVER_PORT)
                return 0;
        e = dhcp4_handle(net, mac, &in, reply, &ev);
        if (ev == DHCP4_RELEASE || ev == DHCP4_DECLINE)
                log_info("tap slot %u: DHCP %s from the guest", net->slot, dhcp4_event_to_string(ev));
        return e;
}

static int answer6(struct guest *g, const struct guest_net *net, const uint8_t *mac, const uint8_t *pkt,
                   size_t len, struct guest_reply *reply)
{
        const struct config *c = g->config;
        enum dhcp6_event ev;
        struct ip6_udp udp;
        struct ip6_pkt ip;
        int e;

        if (!c->ipv6 || ip6_parse(pkt, len, &ip) < 0)
                return 0;
        if (ip.next_header == IPPROTO_ICMPV6)
                return c->guest_router_advertisements ? ndisc_handle(net, mac, &ip, reply) : 0;
        if (!c->guest_dhcpv6 || ip6_udp_parse(pkt, len, &udp) < 0 || udp.dport != DHCP6_SERVER_PORT)
                return 0;
        e = dhcp6_handle(net, mac, &udp, reply, &ev);
        if (e >= 0 && (ev == DHCP6_RELEASE || ev == DHCP6_DECLINE))
                log_info("tap slot %u: DHCPv6 %s from the guest", net->slot, dhcp6_event_to_string(ev));
        return e;
}

/* Reads what is queued on one socket, up to READ_BUDGET packets. */
static int on_packet(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct guest *g = userdata;
        uint8_t pkt[2048];

        for (unsigned i = 0; i < READ_BUDGET; i++) {
                struct sockaddr_ll sll;
                socklen_t sl = sizeof(sll);
                struct guest_reply reply;
                struct guest_net net;
                struct slot_rec *r;
                ssize_t n;
                int e;

                n = recvfrom(fd, pkt, sizeof(pkt), MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&sll, &sl);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                log_warning_errno(-errno, "guest services: reading a packet failed: %m");
                        break;
                }
                if ((size_t)n > sizeof(pkt) || sll.sll_halen != 6 || sll.sll_pkttype == PACKET_OUTGOING)
                        continue;
                r = slot_of(g, fd, sll.sll_ifindex);
                if (!r || !rate_ok(g, r->slot))
                        continue;
                net_for_slot(g, r, &net);
                if (fd == g->fd4)
                        e = answer4(g, &net, sll.sll_addr, pkt, (size_t)n, &reply);
                else
                        e = answer6(g, &net, sll.sll_addr, pkt, (size_t)n, &reply);
                if (e > 0)
                        send_reply(g, fd, sll.sll_ifindex, &reply);
        }
        return 0;
}

/* ---- the lifecycle ---- */

static void send_ra(struct guest *g, const struct slot_rec *r)
{
        struct guest_reply reply;
        struct guest_net net;

        net_for_slot(g, r, &net);
        if (ndisc_build_ra(&net, &reply) > 0)
                send_reply(g, g->fd6, r->ifindex, &reply);
}

/* Every RA_RESEND_USEC, one unsolicited RA per live slot: ~2 µs each. */
static int on_ra_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct guest *g = userdata;

        for (struct slot_rec *r = manager_records(g->manager); r; r = r->records_next)
                if (r->phase == SLOT_LIVE && !r->clone)
                        send_ra(g, r);
        (void)sd_event_source_set_time_relative(s, RA_RESEND_USEC);
        return 0;
}

static void on_live(struct slot_rec *r, void *userdata)
{
        struct guest *g = userdata;

        g->tat[r->slot] = 0; /* a new tenant starts with a full burst */
        /* Unsolicited: a guest already up learns of its router now. */
        if (g->ra_timer && !r->clone)
                send_ra(g, r);
}

static const struct slot_hooks hooks = {
    .name = "guest",
    .live = on_live,
};

/* ---- life ---- */

void guest_reload_dns(struct guest *g)
{
        const char *source = NULL;
        int n;

        if (!g->config->dns_auto)
                return;
        g->dns = (struct guest_dns){0};
        memcpy(g->dns.search, g->config->dns.search, sizeof(g->dns.search));
        n = resolv_load_auto(&g->dns, &source);
        if (n < 0)
                log_warning_errno(n, "guest DNS: reading %s failed: %m; guests get no DNS servers",
                                  source ? source : "/etc/resolv.conf");
        else if (n == 0)
                log_notice("guest DNS: no nameserver other than loopback in %s; guests get no DNS servers",
                           source ? source : "/etc/resolv.conf");
        else
                log_info("guest DNS: %d nameserver%s from %s", n, n == 1 ? "" : "s", source);
}

uint64_t guest_dropped(const struct guest *g)
{
        return g ? g->dropped : 0;
}

static int open_sockets(sd_event *event, struct guest *g)
{
        const struct config *c = g->config;
        int e;

        if (c->guest_dhcp) {
                g->fd4 = open_socket(ETH_P_IP, filter4, ELEMENTSOF(filter4));
                if (g->fd4 < 0)
                        return log_error_errno(g->fd4,
                                               "guest services: opening an IPv4 packet socket failed: %m");
                e = sd_event_add_io(event, &g->source4, g->fd4, EPOLLIN, on_packet, g);
                if (e < 0)
                        return log_error_errno(e, "sd-event: adding the IPv4 packet socket failed: %m");
        }
        if (c->ipv6 && (c->guest_router_advertisements || c->guest_dhcpv6)) {
                g->fd6 = open_socket(ETH_P_IPV6, filter6, ELEMENTSOF(filter6));
                if (g->fd6 < 0)
                        return log_error_errno(g->fd6,
                                               "guest services: opening an IPv6 packet socket failed: %m");
                e = sd_event_add_io(event, &g->source6, g->fd6, EPOLLIN, on_packet, g);
                if (e < 0)
                        return log_error_errno(e, "sd-event: adding the IPv6 packet socket failed: %m");
                if (c->guest_router_advertisements) {
                        e = sd_event_add_time_relative(event, &g->ra_timer, CLOCK_MONOTONIC, RA_RESEND_USEC,
                                                       USEC_PER_SEC, on_ra_timer, g);
                        if (e < 0)
                                return log_error_errno(e, "sd-event: adding the RA timer failed: %m");
                        (void)sd_event_source_set_enabled(g->ra_timer, SD_EVENT_ON);
                }
        }
        return 0;
}

int guest_new(sd_event *event, struct manager *m, struct guest **ret)
{
        struct guest *g = calloc(1, sizeof(*g));
        int e;

        if (!g)
                return -ENOMEM;
        g->manager = m;
        g->config = manager_config(m);
        g->fd4 = g->fd6 = -1;
        g->dns = g->config->dns;
        g->tat = calloc(g->config->effective_max_slots, sizeof(*g->tat));
        e = g->tat ? open_sockets(event, g) : -ENOMEM;
        if (e >= 0)
                e = manager_subscribe(m, &hooks, g);
        if (e < 0) {
                guest_free(g);
                return e;
        }
        guest_reload_dns(g);
        *ret = g;
        return 0;
}

void guest_free(struct guest *g)
{
        if (!g)
                return;
        manager_unsubscribe(g->manager, &hooks, g);
        sd_event_source_disable_unref(g->source4);
        sd_event_source_disable_unref(g->source6);
        sd_event_source_disable_unref(g->ra_timer);
        safe_close(g->fd4);
        safe_close(g->fd6);
        free(g->tat);
        free(g);
}

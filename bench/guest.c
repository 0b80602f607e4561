/* SPDX-License-Identifier: MIT */
/* `make bench`: taplinkd's guest services (DHCPv4 here), next to the kernel.
 *
 * Runs as root in a throwaway network namespace (unshare -n), starts a
 * private daemon there (its own config, nft table and socket in a temporary
 * directory; ipv6 = no unless --ipv6 yes) and, for each live-slot level
 * (default 0, 1,000, 10,000; persistent slots whose fds are closed, filled
 * as bench/load.c does), measures:
 *
 *   - DISCOVER -> OFFER: a client holding GUEST_SLOTS slots (vnetHeader
 *     false, so the fd carries plain Ethernet frames) writes a DHCPDISCOVER
 *     on one fd and times until the OFFER is read back from it. The slots
 *     take turns, GAP_MS apart, so no slot comes near the rate limit (20/s,
 *     burst 40). Interleaved with each sample, two floors the kernel
 *     answers within the write on the same fd, read back the same way: an
 *     ARP request for the gateway, and an ICMP echo to it (IPv4 input, the
 *     input chain, a reply out: the kernel's part of a DISCOVER and more).
 *     OFFER - echo is what the daemon adds: two wake-ups, the packet
 *     socket, the slot lookup, the handler and sendto().
 *   - Acquire under a DHCP flood: FLOOD_SLOTS slots acquired and held, a
 *     thread writes a DISCOVER on each FLOOD_RATE times a second (twice the
 *     limit, so that the limiter drops half) and drains the replies; one
 *     client times Acquire and Release of a fresh slot, in passes alternating
 *     flood off / on. Status.guestServicesDropped is read around the
 *     measured part of each flood pass.
 *
 *     unshare -n build/bench/guest [--taplinkd PATH] [--ipv6 yes|no]
 *                                  [--levels 0,1000,10000] [--quick] [--keep]
 *
 * Prints a table, then one line per figure:
 *     BENCH name=guest_offer_p50_us live=1000 ipv6=no value=85
 * Progress goes to stderr. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "packet.h"
#include "protocol.h"
#include "taplink.h"
#include "bench-daemon.h"

#define MAX_LEVELS 8
#define FILL_CLIENTS 8
#define RELEASE_CLIENTS 32
#define GUEST_SLOTS 8 /* round-robin: each slot sees a DISCOVER every GUEST_SLOTS * GAP_MS */
#define GAP_MS 10     /* so 12.5/s a slot, under the 20/s limit */
#define REPLY_TIMEOUT_MS 500
#define FLOOD_SLOTS 100
#define FLOOD_RATE 40        /* DISCOVERs per second and slot: twice the limit */
#define FLOOD_WARMUP_MS 2500 /* the burst of 40 is spent after 2 s at 40/s */
#define REPS 3
#define FRAME_MAX 2048

#define die bench_fail
#define now_ns bench_now_ns
#define sleep_ns bench_sleep_ns

#define progress bench_progress
#define samples_add bench_samples_add
#define quantile_us bench_quantile_us

/* ---- results ---- */

struct level {
        unsigned live;
        double fill_s;
        size_t offer_n, lost[3]; /* by enum reply_kind */
        double p50[3], p99[3];
        double acq_p50[2], acq_p99[2], cycle_p50[2]; /* [flooding] */
        size_t acq_n[2];
        uint64_t flood_sent, flood_answered, dropped;
        double flood_s;
};

struct bench {
        struct bench_daemon d;
        bool ipv6, quick;
        unsigned levels[MAX_LEVELS];
        size_t n_levels;

        struct bench_population population; /* persistent plain slots */

        struct level results[MAX_LEVELS];
};

/* ---- the daemon ---- */

/* Status.guestServicesDropped, which libtaplink's tl_status does not carry:
 * one Varlink call by hand on a connection of its own. */
static uint64_t guest_dropped(const struct bench *b)
{
        static const char call[] = "{\"method\":\"" TAPLINKD_METHOD_STATUS "\"}";
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char buf[4096];
        size_t len = 0;
        const char *p;
        int fd;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                die("socket: %s", strerror(errno));
        if (strlen(b->d.socket) >= sizeof(sa.sun_path))
                die("%s: path too long", b->d.socket);
        memcpy(sa.sun_path, b->d.socket, strlen(b->d.socket) + 1);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            write(fd, call, sizeof(call)) != (ssize_t)sizeof(call)) /* with its NUL */
                die("Status: %s", strerror(errno));
        while (len == 0 || buf[len - 1] != '\0') {
                ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

                if (n <= 0 || len + (size_t)n >= sizeof(buf) - 1)
                        die("Status: no complete reply");
                len += (size_t)n;
        }
        close(fd);
        buf[len] = '\0';
        p = strstr(buf, "\"guestServicesDropped\":");
        if (!p)
                die("Status has no guestServicesDropped: %s", buf);
        return strtoull(p + strlen("\"guestServicesDropped\":"), NULL, 10);
}

/* ---- frames ---- */

struct guest_addr {
        uint8_t mac[6];
        uint8_t host_mac[6]; /* the TAP's, learnt from its ARP reply */
        struct in_addr guest, gateway;
};

static void guest_addr(const tl_slot *s, struct guest_addr *ret)
{
        unsigned m[6];

        if (sscanf(tl_slot_mac(s), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
                die("bad MAC %s", tl_slot_mac(s));
        for (int i = 0; i < 6; i++)
                ret->mac[i] = (uint8_t)m[i];
        inet_pton(AF_INET, tl_slot_guest(s, TL_IPV4), &ret->guest);
        inet_pton(AF_INET, tl_slot_gateway(s, TL_IPV4), &ret->gateway);
}

#define ETH 14
#define IP4 20
#define UDP 8
#define BOOTP_XID 4
#define BOOTP_OPTIONS 240

/* What a booting guest sends: a DHCPDISCOVER from 0.0.0.0 to the broadcast
 * address, unicast reply wanted (flags 0), with a parameter request list. */
static size_t discover_frame(const struct guest_addr *a, uint32_t xid, uint8_t *buf)
{
        static const uint8_t options[] = {99, 130, 83, 99,            /* magic cookie */
                                          53, 1,   1,                 /* DHCPDISCOVER */
                                          55, 5,   1,  3,  6, 15, 26, /* parameter request list */
                                          255};
        const size_t len = ETH + IP4 + UDP + 300; /* BOOTP's minimum size, as clients send */
        uint8_t *ip = buf + ETH, *udp = ip + IP4, *msg = udp + UDP;
        uint16_t sum;

        memset(buf, 0, len);
        memset(buf, 0xff, 6);
        memcpy(buf + 6, a->mac, 6);
        buf[12] = 0x08;
        ip[0] = 0x45;
        ip[2] = (uint8_t)((len - ETH) >> 8);
        ip[3] = (uint8_t)(len - ETH);
        ip[8] = 64;
        ip[9] = 17;
        memset(ip + 16, 0xff, 4);
        sum = inet_checksum(ip, IP4, 0);
        memcpy(ip + 10, &sum, 2);
        udp[1] = 68;
        udp[3] = 67;
        udp[4] = (uint8_t)((len - ETH - IP4) >> 8);
        udp[5] = (uint8_t)(len - ETH - IP4); /* checksum 0: none, as IPv4 allows */
        msg[0] = 1;                          /* BOOTREQUEST */
        msg[1] = 1;                          /* Ethernet */
        msg[2] = 6;
        memcpy(msg + BOOTP_XID, &xid, 4);
        memcpy(msg + 28, a->mac, 6); /* chaddr */
        memcpy(msg + BOOTP_OPTIONS - 4, options, sizeof(options));
        return len;
}

/* The daemon's OFFER for this xid: IPv4, UDP to port 68, BOOTREPLY,
 * option 53 = 2. Anything else on the fd is skipped. */
static bool is_offer(const uint8_t *f, size_t len, uint32_t xid)
{
        const uint8_t *ip = f + ETH, *udp, *msg;
        size_t ihl;

        if (len < ETH + IP4 || f[12] != 0x08 || f[13] != 0x00 || ip[9] != 17)
                return false;
        ihl = (size_t)(ip[0] & 0x0f) * 4;
        udp = ip + ihl;
        msg = udp + UDP;
        if (len < ETH + ihl + UDP + BOOTP_OPTIONS + 3 || udp[2] != 0 || udp[3] != 68 || msg[0] != 2 ||
            memcmp(msg + BOOTP_XID, &xid, 4) != 0)
                return false;
        for (size_t i = BOOTP_OPTIONS; i + 2 < len - ETH - ihl - UDP;) {
                if (msg[i] == 0) {
                        i++;
                        continue;
                }
                if (msg[i] == 255)
                        break;
                if (msg[i] == 53)
                        return msg[i + 1] == 1 && msg[i + 2] == 2;
                i += 2 + msg[i + 1];
        }
        return false;
}

/* An ARP request from the guest for its gateway. */
static size_t arp_frame(const struct guest_addr *a, uint8_t *buf)
{
        static const uint8_t head[] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
        const size_t len = ETH + 28;

        memset(buf, 0, len);
        memset(buf, 0xff, 6);
        memcpy(buf + 6, a->mac, 6);
        buf[12] = 0x08;
        buf[13] = 0x06;
        memcpy(buf + ETH, head, sizeof(head));
        memcpy(buf + ETH + 8, a->mac, 6);
        memcpy(buf + ETH + 14, &a->guest, 4);
        memcpy(buf + ETH + 24, &a->gateway, 4);
        return len;
}

static bool is_arp_reply(const uint8_t *f, size_t len, const struct guest_addr *a)
{
        return len >= ETH + 28 && f[12] == 0x08 && f[13] == 0x06 && f[ETH + 7] == 2 &&
               memcmp(f + ETH + 14, &a->gateway, 4) == 0;
}

/* An ICMP echo request from the guest to its gateway, to the TAP's MAC:
 * an IPv4 packet through the input chain, answered by the kernel. */
static size_t echo_frame(const struct guest_addr *a, uint16_t seq, uint8_t *buf)
{
        const size_t icmp_len = 8 + 32, len = ETH + IP4 + icmp_len;
        uint8_t *ip = buf + ETH, *icmp = ip + IP4;
        uint16_t sum;

        memset(buf, 0, len);
        memcpy(buf, a->host_mac, 6);
        memcpy(buf + 6, a->mac, 6);
        buf[12] = 0x08;
        ip[0] = 0x45;
        ip[2] = (uint8_t)((IP4 + icmp_len) >> 8);
        ip[3] = (uint8_t)(IP4 + icmp_len);
        ip[8] = 64;
        ip[9] = 1;
        memcpy(ip + 12, &a->guest, 4);
        memcpy(ip + 16, &a->gateway, 4);
        sum = inet_checksum(ip, IP4, 0);
        memcpy(ip + 10, &sum, 2);
        icmp[0] = 8;
        icmp[4] = 0x74; /* id "tb" */
        icmp[5] = 0x62;
        icmp[6] = (uint8_t)(seq >> 8);
        icmp[7] = (uint8_t)seq;
        sum = inet_checksum(icmp, icmp_len, 0);
        memcpy(icmp + 2, &sum, 2);
        return len;
}

static bool is_echo_reply(const uint8_t *f, size_t len, uint16_t seq)
{
        const uint8_t *ip = f + ETH, *icmp;
        size_t ihl;

        if (len < ETH + IP4 || f[12] != 0x08 || f[13] != 0x00 || ip[9] != 1)
                return false;
        ihl = (size_t)(ip[0] & 0x0f) * 4;
        icmp = ip + ihl;
        return len >= ETH + ihl + 8 && icmp[0] == 0 && icmp[4] == 0x74 && icmp[5] == 0x62 &&
               icmp[6] == (uint8_t)(seq >> 8) && icmp[7] == (uint8_t)seq;
}

static void drain(int fd)
{
        uint8_t buf[FRAME_MAX];

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
}

enum reply_kind { REPLY_OFFER, REPLY_ARP, REPLY_ECHO, N_REPLY_KINDS };

/* Writes a frame and waits for its answer (copied to ret_reply when not
 * NULL); the ns it took, or 0 when none came within REPLY_TIMEOUT_MS. The
 * fd is non-blocking; other frames on it are skipped. */
static uint64_t round_trip(int fd, const uint8_t *frame, size_t len, enum reply_kind kind,
                           const struct guest_addr *a, uint32_t id, uint8_t ret_reply[FRAME_MAX])
{
        uint64_t t0 = now_ns(), deadline = t0 + REPLY_TIMEOUT_MS * 1000000ull;
        uint8_t buf[FRAME_MAX];

        if (write(fd, frame, len) != (ssize_t)len)
                die("write on a TAP fd: %s", strerror(errno));
        for (;;) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                ssize_t n = read(fd, buf, sizeof(buf));
                uint64_t now;
                bool match;

                if (n > 0) {
                        match = kind == REPLY_OFFER ? is_offer(buf, (size_t)n, id)
                                : kind == REPLY_ARP ? is_arp_reply(buf, (size_t)n, a)
                                                    : is_echo_reply(buf, (size_t)n, (uint16_t)id);
                        if (!match)
                                continue;
                        now = now_ns();
                        if (ret_reply)
                                memcpy(ret_reply, buf, (size_t)n);
                        return now - t0;
                }
                if (errno != EAGAIN)
                        die("read on a TAP fd: %s", strerror(errno));
                now = now_ns();
                if (now >= deadline)
                        return 0;
                poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1));
        }
}

static int take_nonblocking_fd(tl_slot *s)
{
        int fd = tl_slot_fd(s, 0);

        if (fd < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                die("%s: no usable fd", tl_slot_ifname(s));
        return fd;
}

static void acquire_plain(tl_client *c, tl_slot **ret)
{
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;

        opts.vnet_header = 0; /* plain Ethernet frames on the fd */
        if (tl_acquire(c, &opts, ret) < 0)
                die("Acquire: %s", tl_client_error_message(c));
}

static void release_slots(tl_client *c, tl_slot **s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (tl_release(c, tl_slot_number(s[i])) < 0)
                        die("Release: %s", tl_client_error_message(c));
                tl_slot_free(s[i]);
        }
}

/* ---- DISCOVER -> OFFER, next to the kernel's own replies ---- */

static void measure_offer(struct bench *b, struct level *lv)
{
        unsigned samples = 200;
        tl_client *c = bench_connect(&b->d);
        tl_slot *slots[GUEST_SLOTS];
        struct guest_addr addr[GUEST_SLOTS];
        int fds[GUEST_SLOTS];
        struct bench_samples lat[N_REPLY_KINDS] = {{0}};
        uint32_t xid = 0x7462656e; /* "tben" */

        progress("live %u: DISCOVER -> OFFER, ARP and ICMP echo floors, %u samples each, %d slots in turn "
                 "%d ms apart",
                 lv->live, samples, GUEST_SLOTS, GAP_MS);
        for (unsigned i = 0; i < GUEST_SLOTS; i++) {
                uint8_t arp[64], reply[FRAME_MAX];

                acquire_plain(c, &slots[i]);
                guest_addr(slots[i], &addr[i]);
                fds[i] = take_nonblocking_fd(slots[i]);
                if (!round_trip(fds[i], arp, arp_frame(&addr[i], arp), REPLY_ARP, &addr[i], 0, reply))
                        die("%s: no ARP reply from the gateway", tl_slot_ifname(slots[i]));
                memcpy(addr[i].host_mac, reply + ETH + 8, 6);
        }
        sleep_ns(200 * 1000000); /* what the kernel sends on a new link, then drain it */
        for (unsigned i = 0; i < GUEST_SLOTS; i++)
                drain(fds[i]);

        /* One unmeasured turn per slot first (cold caches). */
        for (unsigned i = 0; i < samples + GUEST_SLOTS; i++) {
                unsigned s = i % GUEST_SLOTS;
                uint8_t frames[N_REPLY_KINDS][FRAME_MAX];
                size_t len[N_REPLY_KINDS];

                xid++;
                len[REPLY_OFFER] = discover_frame(&addr[s], xid, frames[REPLY_OFFER]);
                len[REPLY_ARP] = arp_frame(&addr[s], frames[REPLY_ARP]);
                len[REPLY_ECHO] = echo_frame(&addr[s], (uint16_t)xid, frames[REPLY_ECHO]);
                /* The three in turn, which goes first rotating. */
                for (unsigned j = 0; j < N_REPLY_KINDS; j++) {
                        enum reply_kind k = (i + j) % N_REPLY_KINDS;
                        uint64_t t = round_trip(fds[s], frames[k], len[k], k, &addr[s], xid, NULL);

                        if (i < GUEST_SLOTS)
                                continue;
                        if (t)
                                samples_add(&lat[k], t);
                        else
                                lv->lost[k]++;
                }
                sleep_ns(GAP_MS * 1000000ull);
        }
        release_slots(c, slots, GUEST_SLOTS);
        tl_client_free(c);

        lv->offer_n = lat[REPLY_OFFER].n;
        for (unsigned k = 0; k < N_REPLY_KINDS; k++) {
                lv->p50[k] = quantile_us(&lat[k], 0.5);
                lv->p99[k] = quantile_us(&lat[k], 0.99);
                free(lat[k].items);
        }
        progress("  p50/p99 us: OFFER %.0f/%.0f, ARP %.0f/%.0f, echo %.0f/%.0f; lost %zu %zu %zu",
                 lv->p50[REPLY_OFFER], lv->p99[REPLY_OFFER], lv->p50[REPLY_ARP], lv->p99[REPLY_ARP],
                 lv->p50[REPLY_ECHO], lv->p99[REPLY_ECHO], lv->lost[0], lv->lost[1], lv->lost[2]);
}

/* ---- Acquire while guests flood DHCP ---- */

struct flooder {
        int fds[FLOOD_SLOTS];
        uint8_t frames[FLOOD_SLOTS][400];
        size_t len;
        atomic_bool on, stop;
        atomic_uint_fast64_t sent, answered; /* while on */
};

/* One DISCOVER every 1 / (FLOOD_SLOTS * FLOOD_RATE) s, the slots in turn,
 * each slot's replies drained just before its next DISCOVER. */
static void *flood_thread(void *p)
{
        struct flooder *fl = p;
        const uint64_t step = 1000000000ull / (FLOOD_SLOTS * FLOOD_RATE);
        uint64_t next = now_ns();
        unsigned s = 0;

        while (!atomic_load(&fl->stop)) {
                uint8_t buf[FRAME_MAX];
                struct timespec ts;
                uint64_t now;
                ssize_t n;

                if (!atomic_load(&fl->on)) {
                        sleep_ns(10 * 1000000);
                        next = now_ns();
                        continue;
                }
                while ((n = read(fl->fds[s], buf, sizeof(buf))) > 0)
                        if (is_offer(buf, (size_t)n, 0x666c6f6f)) /* "floo" */
                                atomic_fetch_add(&fl->answered, 1);
                if (write(fl->fds[s], fl->frames[s], fl->len) == (ssize_t)fl->len)
                        atomic_fetch_add(&fl->sent, 1);
                s = (s + 1) % FLOOD_SLOTS;
                next += step;
                now = now_ns();
                if (next + 100 * step < now) /* far behind: do not burst to catch up */
                        next = now;
                ts = (struct timespec){.tv_sec = (time_t)(next / 1000000000u),
                                       .tv_nsec = (long)(next % 1000000000u)};
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        return NULL;
}

static void measure_flood(struct bench *b, struct level *lv)
{
        unsigned cycles = b->quick ? 20 : 40;
        tl_client *c = bench_connect(&b->d), *holder = bench_connect(&b->d);
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;
        tl_slot *flood_slots[FLOOD_SLOTS];
        struct bench_samples acq[2] = {{0}}, cycle[2] = {{0}};
        struct flooder *fl = calloc(1, sizeof(*fl));
        pthread_t thread;
        uint64_t flood_ns = 0;

        if (!fl)
                die("out of memory");
        progress("live %u: Acquire + Release, %u x %u cycles alone / while %d slots get %d DISCOVERs/s each",
                 lv->live, REPS, cycles, FLOOD_SLOTS, FLOOD_RATE);
        for (unsigned i = 0; i < FLOOD_SLOTS; i++) {
                struct guest_addr a;

                acquire_plain(holder, &flood_slots[i]);
                guest_addr(flood_slots[i], &a);
                fl->fds[i] = take_nonblocking_fd(flood_slots[i]);
                fl->len = discover_frame(&a, 0x666c6f6f, fl->frames[i]);
        }
        if (pthread_create(&thread, NULL, flood_thread, fl) != 0)
                die("pthread_create failed");
        for (unsigned rep = 0; rep < REPS; rep++)
                for (unsigned pass = 0; pass < 2; pass++) {
                        bool flooding = (pass + rep) % 2 == 1;
                        uint64_t t0 = 0, sent0 = 0, answered0 = 0, dropped0 = 0;

                        /* The flood's figures count from the end of the
                         * warm-up: the steady state, the burst spent. */
                        if (flooding) {
                                atomic_store(&fl->on, true);
                                sleep_ns(FLOOD_WARMUP_MS * 1000000ull);
                                dropped0 = guest_dropped(b);
                                sent0 = atomic_load(&fl->sent);
                                answered0 = atomic_load(&fl->answered);
                                t0 = now_ns();
                        }
                        for (unsigned i = 0; i < cycles; i++) {
                                uint64_t a0 = now_ns(), a1;
                                tl_slot *s;

                                if (tl_acquire(c, &opts, &s) < 0)
                                        die("Acquire: %s", tl_client_error_message(c));
                                a1 = now_ns();
                                if (tl_release(c, tl_slot_number(s)) < 0)
                                        die("Release: %s", tl_client_error_message(c));
                                samples_add(&acq[flooding], a1 - a0);
                                samples_add(&cycle[flooding], now_ns() - a0);
                                tl_slot_free(s);
                        }
                        if (flooding) {
                                flood_ns += now_ns() - t0;
                                lv->flood_sent += atomic_load(&fl->sent) - sent0;
                                lv->flood_answered += atomic_load(&fl->answered) - answered0;
                                lv->dropped += guest_dropped(b) - dropped0;
                                atomic_store(&fl->on, false);
                        }
                        sleep_ns(200 * 1000000); /* the flood's last packets, the releases' aftermath */
                }
        atomic_store(&fl->stop, true);
        pthread_join(thread, NULL);
        lv->flood_s = flood_ns / 1e9;
        release_slots(holder, flood_slots, FLOOD_SLOTS);
        tl_client_free(holder);
        tl_client_free(c);
        free(fl);

        for (int f = 0; f < 2; f++) {
                lv->acq_n[f] = acq[f].n;
                lv->acq_p50[f] = quantile_us(&acq[f], 0.5);
                lv->acq_p99[f] = quantile_us(&acq[f], 0.99);
                lv->cycle_p50[f] = quantile_us(&cycle[f], 0.5);
                free(acq[f].items);
                free(cycle[f].items);
        }
        progress("  Acquire p50 %.0f us alone, %.0f us flooding (x%.2f); %.0f DISCOVERs/s sent, %.0f/s "
                 "answered, %.0f/s dropped",
                 lv->acq_p50[0], lv->acq_p50[1], lv->acq_p50[1] / lv->acq_p50[0],
                 lv->flood_sent / lv->flood_s, lv->flood_answered / lv->flood_s, lv->dropped / lv->flood_s);
}

/* ---- the run ---- */

static void run_level(struct bench *b, struct level *lv)
{
        double busy;

        if (lv->live > b->population.slots.n) {
                progress("filling %zu -> %u live slots (persistent, %d clients)", b->population.slots.n,
                         lv->live, FILL_CLIENTS);
                lv->fill_s = bench_fill_to(&b->population, lv->live, FILL_CLIENTS);
                progress("live %u: filled in %.1f s", lv->live, lv->fill_s);
        }
        if (!bench_wait_for_quiet(30, &busy))
                progress("the machine is still busy (%.0f%% CPU) after 30 s; measuring anyway", busy * 100);
        measure_offer(b, lv);
        measure_flood(b, lv);
}

static void bench_line(const struct bench *b, const char *name, const char *extra, double value)
{
        printf("BENCH name=%s %sipv6=%s value=%.*f\n", name, extra, b->ipv6 ? "yes" : "no",
               value == (double)(long)value ? 0 : 2, value);
}

static void report(const struct bench *b)
{
        char extra[96];

        printf(
            "\ntaplinkd guest services bench (ipv6 = %s; %ld CPUs; live slots persistent, fds not held)\n",
            b->ipv6 ? "yes" : "no", sysconf(_SC_NPROCESSORS_ONLN));
        printf("\nDHCPDISCOVER written on a slot's fd -> DHCPOFFER read back, µs, next to two floors the\n"
               "kernel answers within the write on the same fd: an ARP request for the gateway, an ICMP\n"
               "echo to it (interleaved, %d slots in turn, %d ms apart). OFFER - echo at p50 is the\n"
               "daemon's own cost (target <= 100, flat in the live slots).\n",
               GUEST_SLOTS, GAP_MS);
        printf("%6s | %7s %7s | %6s %6s | %6s %6s | %7s %7s | %4s %s\n", "live", "offer50", "offer99",
               "arp50", "arp99", "echo50", "echo99", "-echo50", "-arp50", "n", "lost");
        for (size_t l = 0; l < b->n_levels; l++) {
                const struct level *lv = &b->results[l];

                printf("%6u | %7.0f %7.0f | %6.1f %6.1f | %6.1f %6.1f | %7.0f %7.0f | %4zu %zu %zu %zu\n",
                       lv->live, lv->p50[0], lv->p99[0], lv->p50[1], lv->p99[1], lv->p50[2], lv->p99[2],
                       lv->p50[0] - lv->p50[2], lv->p50[0] - lv->p50[1], lv->offer_n, lv->lost[0],
                       lv->lost[1], lv->lost[2]);
        }
        printf("\nAcquire (and Acquire + Release) from one client, µs: alone / while %d held slots get %d\n"
               "DISCOVERs/s each from a thread of this program (target: flood p50 <= 1.2 x alone);\n"
               "sent, answered and dropped (Status.guestServicesDropped) per second while Acquires ran.\n",
               FLOOD_SLOTS, FLOOD_RATE);
        printf("%6s | %7s %7s %7s | %7s %7s %7s | %5s | %8s %8s %8s\n", "live", "acq50", "acq99", "cyc50",
               "fl acq50", "fl acq99", "fl cyc50", "x50", "sent/s", "answ/s", "drop/s");
        for (size_t l = 0; l < b->n_levels; l++) {
                const struct level *lv = &b->results[l];

                printf("%6u | %7.0f %7.0f %7.0f | %7.0f %7.0f %7.0f | %5.2f | %8.0f %8.0f %8.0f\n", lv->live,
                       lv->acq_p50[0], lv->acq_p99[0], lv->cycle_p50[0], lv->acq_p50[1], lv->acq_p99[1],
                       lv->cycle_p50[1], lv->acq_p50[1] / lv->acq_p50[0], lv->flood_sent / lv->flood_s,
                       lv->flood_answered / lv->flood_s, lv->dropped / lv->flood_s);
        }
        printf("\n");
        for (size_t l = 0; l < b->n_levels; l++) {
                const struct level *lv = &b->results[l];

                snprintf(extra, sizeof(extra), "live=%u ", lv->live);
                bench_line(b, "guest_offer_p50_us", extra, (long)lv->p50[REPLY_OFFER]);
                bench_line(b, "guest_offer_p99_us", extra, (long)lv->p99[REPLY_OFFER]);
                bench_line(b, "guest_arp_floor_p50_us", extra, lv->p50[REPLY_ARP]);
                bench_line(b, "guest_arp_floor_p99_us", extra, lv->p99[REPLY_ARP]);
                bench_line(b, "guest_echo_floor_p50_us", extra, lv->p50[REPLY_ECHO]);
                bench_line(b, "guest_echo_floor_p99_us", extra, lv->p99[REPLY_ECHO]);
                bench_line(b, "guest_offer_minus_echo_p50_us", extra,
                           (long)(lv->p50[REPLY_OFFER] - lv->p50[REPLY_ECHO]));
                bench_line(b, "guest_offer_minus_arp_p50_us", extra,
                           (long)(lv->p50[REPLY_OFFER] - lv->p50[REPLY_ARP]));
                bench_line(b, "guest_offer_lost", extra, (double)lv->lost[REPLY_OFFER]);
                snprintf(extra, sizeof(extra), "flood_slots=%d flood_rate=%d live=%u ", FLOOD_SLOTS,
                         FLOOD_RATE, lv->live);
                bench_line(b, "guest_acquire_alone_p50_us", extra, (long)lv->acq_p50[0]);
                bench_line(b, "guest_acquire_flood_p50_us", extra, (long)lv->acq_p50[1]);
                bench_line(b, "guest_acquire_alone_p99_us", extra, (long)lv->acq_p99[0]);
                bench_line(b, "guest_acquire_flood_p99_us", extra, (long)lv->acq_p99[1]);
                bench_line(b, "guest_acquire_flood_ratio_p50", extra, lv->acq_p50[1] / lv->acq_p50[0]);
                bench_line(b, "guest_cycle_alone_p50_us", extra, (long)lv->cycle_p50[0]);
                bench_line(b, "guest_cycle_flood_p50_us", extra, (long)lv->cycle_p50[1]);
                bench_line(b, "guest_cycle_flood_ratio_p50", extra, lv->cycle_p50[1] / lv->cycle_p50[0]);
                bench_line(b, "guest_flood_sent_per_s", extra, (long)(lv->flood_sent / lv->flood_s));
                bench_line(b, "guest_flood_answered_per_s", extra, (long)(lv->flood_answered / lv->flood_s));
                bench_line(b, "guest_services_dropped", extra, (double)lv->dropped);
                bench_line(b, "guest_services_dropped_per_s", extra, (long)(lv->dropped / lv->flood_s));
        }
        fflush(stdout);
}

static void parse_levels(struct bench *b, const char *arg)
{
        b->n_levels = bench_parse_levels(arg, b->levels, MAX_LEVELS, 15000);
}

static void usage(FILE *f, const char *argv0)
{
        fprintf(f,
                "usage: unshare -n %s [--taplinkd PATH] [--ipv6 yes|no] [--levels 0,1000,...] [--quick] "
                "[--keep]\n"
                "\n"
                "Starts a private taplinkd in this (throwaway) network namespace and measures its\n"
                "guest services at each live-slot level: DHCPDISCOVER -> OFFER on a slot's fd next to\n"
                "the kernel's ARP reply on the same fd, and Acquire latency while %d slots' guests\n"
                "send %d DISCOVERs a second each.\n"
                "\n"
                "  --taplinkd PATH   the daemon to run (default build/taplinkd)\n"
                "  --ipv6 yes|no     the daemon's ipv6 setting (default no: faster to fill)\n"
                "  --levels LIST     live-slot levels, increasing (default 0,1000,10000)\n"
                "  --quick           fewer Acquire samples\n"
                "  --keep            keep the temporary directory (config, log)\n"
                "  --help            this text\n",
                argv0, FLOOD_SLOTS, FLOOD_RATE);
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
            {"taplinkd", required_argument, NULL, 't'},
            {"ipv6", required_argument, NULL, '6'},
            {"levels", required_argument, NULL, 'l'},
            {"quick", no_argument, NULL, 'q'},
            {"keep", no_argument, NULL, 'k'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct bench b = {.d.taplinkd = "build/taplinkd"};
        char conf[256];
        int c;

        bench_start_ns = now_ns();
        parse_levels(&b, "0,1000,10000");
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 't':
                        b.d.taplinkd = optarg;
                        break;
                case '6':
                        if (strcmp(optarg, "yes") != 0 && strcmp(optarg, "no") != 0)
                                die("--ipv6 yes|no");
                        b.ipv6 = strcmp(optarg, "yes") == 0;
                        break;
                case 'l':
                        parse_levels(&b, optarg);
                        break;
                case 'q':
                        b.quick = true;
                        break;
                case 'k':
                        b.d.keep = true;
                        break;
                case 'h':
                        usage(stdout, argv[0]);
                        return 0;
                default:
                        usage(stderr, argv[0]);
                        return 2;
                }
        bench_check_runnable(b.d.taplinkd, argv[0]);
        pthread_mutex_init(&b.population.lock, NULL);
        b.population.d = &b.d;
        signal(SIGPIPE, SIG_IGN);

        snprintf(conf, sizeof(conf),
                 "# written by bench/guest\n[daemon]\nnft_table = tlbenchg%ld\n[network]\nipv6 = %s\n",
                 (long)getpid(), b.ipv6 ? "yes" : "no");
        if (bench_daemon_start(&b.d, "guest", conf) < 0)
                die("taplinkd exited during start-up (log %s)", b.d.log);
        progress("taplinkd %s, ipv6 = %s, guest services%s", b.d.taplinkd, b.ipv6 ? "yes" : "no",
                 b.quick ? " (quick)" : "");
        for (size_t l = 0; l < b.n_levels; l++) {
                b.results[l].live = b.levels[l];
                run_level(&b, &b.results[l]);
        }
        if (b.population.slots.n > 0) {
                progress("releasing the %zu live slots from %d clients", b.population.slots.n,
                         RELEASE_CLIENTS);
                progress("  %.1f s", bench_release_all(&b.population, RELEASE_CLIENTS));
        }
        report(&b);
        bench_daemon_stop(&b.d);
        if (b.d.keep)
                progress("kept %s", b.d.dir);
        free(b.population.slots.items);
        return 0;
}

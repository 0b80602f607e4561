/* SPDX-License-Identifier: MIT */
/* Sequences of kernel calls that give a slot the same link (bench/README.md,
 * "Issue 17: which kernel sequence"): each variant creates a TAP and gives
 * it MTU, MAC, alias, up, the IPv4 gateway /30 and the IPv6 gateway /64 in
 * its own order and shape. With --live N slots in this namespace (filled
 * untimed with --fill's variant), each round runs every variant on --batch
 * new slots, timed one by one, and deletes them again, timed: one
 * RTM_DELLINK each in even rounds, one group delete in odd ones; then waits
 * 0.3 s for the deletions' deferred work. The
 * variants are interleaved round by round, so that the namespace's size
 * and the machine's load weigh the same on each.
 *
 *     unshare -n build/bench/kernel-seq [--live N] [--rounds R] [--batch B]
 *                                       [--fill VARIANT] [--json]
 *
 * It refuses to run in a namespace that has any device but lo. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libmnl/libmnl.h>
#include <linux/ethtool.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "packet.h"
#include "bench-util.h"
#include "netlink-msgs.h"
#include "rtnl.h"
#include "slot.h"
#include "tap.h"
#include "../tests/throwaway-netns.h"

#define MAX_SLOTS 16384 /* 10.213.0.0/16 in /30s */
#define GROUP 0x746c
#define BUF_SIZE 2048
#define SETTLE_US 300000

/* What each variant does after TUNSETIFF. */
enum variant {
        V_NAIVE,  /* the daemon's batch before issue 17: NEWLINK mtu+mac+alias+up, addr4, addr6 */
        V_DOWN,   /* NEWLINK mtu+mac+alias (down), addr4, addr6, NEWLINK up: one batch */
        V_SYNC,   /* V_DOWN after ETHTOOL_GLINK, which runs the carrier's link-watch event while down */
        V_LL,     /* V_SYNC with address generation off and the EUI-64 link-local added, no DAD */
        V_LLDOWN, /* V_LL without ETHTOOL_GLINK */
        N_VARIANTS,
};

static const char *const variant_names[N_VARIANTS] = {"naive", "down", "sync", "ll", "ll-nosync"};

struct vstats {
        struct samples acquire, del_one, del_group; /* del_group: per device */
        struct samples acquire_cpu;                 /* this thread's CPU time, kernel included */
        struct samples del_one_cpu, del_group_cpu;  /* the same of the deletions (del_group: per device) */
};

struct bench {
        struct rtnl *rtnl;
        struct mnl_socket *nl;
        uint32_t seq, portid;
        int sk; /* for SIOCETHTOOL */
        unsigned live, rounds, batch;
        enum variant fill;
        int only; /* --only: that variant alone, -1: all */
        int *fds, *ifindexes;
        struct vstats st[N_VARIANTS];
        uint64_t fill_ns;
};

/* The q-th quantile (0..1) of s, in µs; sorts s. */
static double quantile_us(struct samples *s, double q)
{
        if (s->n == 0)
                return 0;
        qsort(s->v, s->n, sizeof(uint64_t), cmp_u64);
        return s->v[(size_t)(q * (double)(s->n - 1) + 0.5)] / 1000.0;
}

/* The kernel runs a netlink request or an ioctl in the caller's thread:
 * its CPU time is the kernel work, less what others' load adds to the wall
 * clock. */
static uint64_t cpu_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sends the n messages in buf in one sendmsg and waits for their acks. */
static void talk(struct bench *b, uint8_t *buf, size_t len, unsigned n)
{
        int r = nl_talk(b->nl, buf, len, n);

        if (r < 0)
                die("netlink request", r);
}

/* Runs the carrier's pending link-watch event for ifname now, while the
 * link is down: ethtool_op_get_link() calls linkwatch_sync_dev(). */
static void sync_linkwatch(struct bench *b, const char *ifname)
{
        struct ethtool_value ev = {.cmd = ETHTOOL_GLINK};
        struct ifreq ifr = {.ifr_data = (void *)&ev};

        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        if (ioctl(b->sk, SIOCETHTOOL, &ifr) < 0)
                die("SIOCETHTOOL", -errno);
}

static void slot_addresses(unsigned s, struct in_addr *gw4, struct in_addr *brd4, struct in6_addr *gw6)
{
        uint32_t base = 0x0ad50000u + s * 4;

        gw4->s_addr = htonl(base + 1);
        brd4->s_addr = htonl(base + 3);
        inet_pton(AF_INET6, "fd74:6c00::1", gw6);
        gw6->s6_addr[6] = s >> 8;
        gw6->s6_addr[7] = s;
}

/* The variant's sequence for slot s, whose TAP exists (down). */
static void configure(struct bench *b, enum variant v, unsigned s, int ifindex, const char *ifname)
{
        _Alignas(struct nlmsghdr) uint8_t buf[BUF_SIZE] = {0};
        uint8_t mac[6];
        char alias[32];
        struct in_addr gw4, brd4;
        struct in6_addr gw6, ll;
        struct nlmsghdr *nlh;
        size_t off = 0;
        unsigned n = 0;

        slot_host_mac(s, mac);
        slot_addresses(s, &gw4, &brd4, &gw6);
        snprintf(alias, sizeof(alias), "bench-%u", s);
        if (v == V_SYNC || v == V_LL)
                sync_linkwatch(b, ifname);

        nlh = nl_link_msg(buf, off, b->seq + n++, ifindex, v == V_NAIVE);
        mnl_attr_put_u32(nlh, IFLA_MTU, 1500);
        mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(mac), mac);
        mnl_attr_put_strz(nlh, IFLA_IFALIAS, alias);
        if (v == V_LL || v == V_LLDOWN)
                nl_put_addr_gen_none(nlh);
        off += nlh->nlmsg_len;
        nl_addr_msg(buf, &off, b->seq + n++, ifindex, AF_INET, 30, &gw4, &brd4, false);
        nl_addr_msg(buf, &off, b->seq + n++, ifindex, AF_INET6, 64, &gw6, NULL, true);
        if (v == V_LL || v == V_LLDOWN) {
                guest_link_local(mac, &ll);
                nl_addr_msg(buf, &off, b->seq + n++, ifindex, AF_INET6, 64, &ll, NULL, true);
        }
        if (v != V_NAIVE) {
                nlh = nl_link_msg(buf, off, b->seq + n++, ifindex, true);
                off += nlh->nlmsg_len;
        }
        b->seq += n;
        talk(b, buf, off, n);
}

static void create(struct bench *b, enum variant v, unsigned s)
{
        const struct tap_options opts = {1, true, 0};
        char name[IFNAMSIZ];
        const char *op = NULL;
        int r;

        snprintf(name, sizeof(name), "tl%u", s);
        r = tap_create(name, &opts, &b->fds[s], &b->ifindexes[s], &op);
        if (r < 0)
                die(op, r);
        configure(b, v, s, b->ifindexes[s], name);
}

static void fill(struct bench *b)
{
        uint64_t t0 = now_ns();

        for (unsigned s = 0; s < b->live; s++)
                create(b, b->fill, s);
        b->fill_ns = now_ns() - t0;
}

/* One round: every variant on slots [live, live + batch). */
static void round_run(struct bench *b, unsigned round)
{
        unsigned from = b->live, to = b->live + b->batch;

        for (unsigned i = 0; i < N_VARIANTS; i++) {
                enum variant v = (enum variant)((i + round) % N_VARIANTS);
                struct vstats *st = &b->st[v];
                uint64_t t0;
                int r;

                if (b->only >= 0 && (int)v != b->only)
                        continue;

                for (unsigned s = from; s < to; s++) {
                        uint64_t c0 = cpu_ns();

                        t0 = now_ns();
                        create(b, v, s);
                        st->acquire.v[st->acquire.n++] = now_ns() - t0;
                        st->acquire_cpu.v[st->acquire_cpu.n++] = cpu_ns() - c0;
                }
                if (round % 2 == 0) {
                        for (unsigned s = from; s < to; s++) {
                                uint64_t c0 = cpu_ns();

                                t0 = now_ns();
                                r = rtnl_delete_link(b->rtnl, b->ifindexes[s]);
                                st->del_one.v[st->del_one.n++] = now_ns() - t0;
                                st->del_one_cpu.v[st->del_one_cpu.n++] = cpu_ns() - c0;
                                if (r < 0)
                                        die("rtnl_delete_link", r);
                        }
                } else {
                        uint64_t c0 = cpu_ns();

                        t0 = now_ns();
                        r = rtnl_delete_links(b->rtnl, b->ifindexes + from, b->batch, GROUP);
                        st->del_group.v[st->del_group.n++] = (now_ns() - t0) / b->batch;
                        st->del_group_cpu.v[st->del_group_cpu.n++] = (cpu_ns() - c0) / b->batch;
                        if (r < 0)
                                die("rtnl_delete_links", r);
                }
                for (unsigned s = from; s < to; s++)
                        close(b->fds[s]);
                /* Let the deletions' deferred work (RCU callbacks, the
                 * link-watch worker) finish before the next variant. */
                usleep(SETTLE_US);
        }
}

static void report(struct bench *b, bool json)
{
        if (!json)
                printf("kernel sequences at %u live IPv6 slots (fill: %s, %.1f s); %u rounds of %u, "
                       "interleaved; us\n"
                       "  %-10s %9s %9s %9s %9s %11s %11s %9s %9s\n",
                       b->live, variant_names[b->fill], b->fill_ns / 1e9, b->rounds, b->batch, "variant",
                       "acq p50", "acq p90", "acq p99", "cpu p50", "del1 p50", "group p50", "del1 cpu",
                       "group cpu");
        for (unsigned v = 0; v < N_VARIANTS; v++) {
                struct vstats *st = &b->st[v];
                double p50 = quantile_us(&st->acquire, 0.5), p90 = quantile_us(&st->acquire, 0.9),
                       p99 = quantile_us(&st->acquire, 0.99), d1 = quantile_us(&st->del_one, 0.5),
                       dg = quantile_us(&st->del_group, 0.5), cpu = quantile_us(&st->acquire_cpu, 0.5),
                       d1c = quantile_us(&st->del_one_cpu, 0.5), dgc = quantile_us(&st->del_group_cpu, 0.5);

                if (st->acquire.n == 0)
                        continue;
                if (json)
                        printf("{\"live\": %u, \"variant\": \"%s\", \"acquire_p50_us\": %.1f, "
                               "\"acquire_p90_us\": %.1f, \"acquire_p99_us\": %.1f, \"acquire_cpu_p50_us\": "
                               "%.1f, "
                               "\"delete_one_p50_us\": %.1f, \"delete_group_p50_us_per_device\": %.1f, "
                               "\"delete_one_cpu_p50_us\": %.1f, \"delete_group_cpu_p50_us_per_device\": %.1f}\n",
                               b->live, variant_names[v], p50, p90, p99, cpu, d1, dg, d1c, dgc);
                else
                        printf("  %-10s %9.1f %9.1f %9.1f %9.1f %11.1f %11.1f %9.1f %9.1f\n", variant_names[v], p50,
                               p90, p99, cpu, d1, dg, d1c, dgc);
        }
}

static int parse_variant(const char *s)
{
        for (unsigned v = 0; v < N_VARIANTS; v++)
                if (strcmp(s, variant_names[v]) == 0)
                        return (int)v;
        return -1;
}

static void usage(FILE *f, const char *argv0)
{
        fprintf(f,
                "usage: unshare -n %s [--live N] [--rounds R] [--batch B] [--fill VARIANT] [--json]\n"
                "\n"
                "Kernel call sequences that give a TAP the same link, side by side, with N live\n"
                "IPv6 slots (default 0) in this throwaway network namespace: R rounds (default 6)\n"
                "of B slots (default 20) per variant, created, configured and deleted, timed.\n"
                "Variants: naive down sync ll ll-nosync (bench/README.md says what each does).\n"
                "  --fill VARIANT  the sequence that makes the N live slots (default ll)\n"
                "  --only VARIANT  that variant alone (for a profile)\n"
                "  --json          one JSON object per variant instead of the table\n",
                argv0);
}

static void parse_args(struct bench *b, int argc, char **argv, bool *json)
{
        static const struct option options[] = {
            {"live", required_argument, NULL, 'l'},  {"rounds", required_argument, NULL, 'r'},
            {"batch", required_argument, NULL, 'b'}, {"fill", required_argument, NULL, 'f'},
            {"only", required_argument, NULL, 'o'},  {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},        {},
        };
        int c, v;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'l':
                        b->live = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'r':
                        b->rounds = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'b':
                        b->batch = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'f':
                        v = parse_variant(optarg);
                        if (v < 0) {
                                usage(stderr, argv[0]);
                                exit(2);
                        }
                        b->fill = (enum variant)v;
                        break;
                case 'o':
                        b->only = parse_variant(optarg);
                        if (b->only < 0) {
                                usage(stderr, argv[0]);
                                exit(2);
                        }
                        break;
                case 'j':
                        *json = true;
                        break;
                case 'h':
                        usage(stdout, argv[0]);
                        exit(0);
                default:
                        usage(stderr, argv[0]);
                        exit(2);
                }
        if (b->batch < 1 || b->rounds < 1 || b->live + b->batch > MAX_SLOTS) {
                fprintf(stderr, "kernel-seq: need rounds >= 1, batch >= 1, live + batch <= %d\n", MAX_SLOTS);
                exit(2);
        }
}

int main(int argc, char **argv)
{
        struct bench b = {.rounds = 6, .batch = 20, .fill = V_LL, .only = -1, .seq = 1};
        struct rlimit rl;
        bool json = false;
        int r;

        parse_args(&b, argc, argv, &json);
        if (geteuid() != 0 || !namespace_is_throwaway()) {
                fprintf(stderr,
                        "kernel-seq: run it as root in a throwaway network namespace: unshare -n %s\n",
                        argv[0]);
                return 1;
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < b.live + b.batch + 64) {
                rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)b.live + b.batch + 64);
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
        b.fds = calloc(b.live + b.batch, sizeof(int));
        b.ifindexes = calloc(b.live + b.batch, sizeof(int));
        if (!b.fds || !b.ifindexes)
                die("calloc", -ENOMEM);
        for (unsigned v = 0; v < N_VARIANTS; v++) {
                samples_init(&b.st[v].acquire, (size_t)b.rounds * b.batch);
                samples_init(&b.st[v].acquire_cpu, (size_t)b.rounds * b.batch);
                samples_init(&b.st[v].del_one, (size_t)b.rounds * b.batch);
                samples_init(&b.st[v].del_group, b.rounds);
                samples_init(&b.st[v].del_one_cpu, (size_t)b.rounds * b.batch);
                samples_init(&b.st[v].del_group_cpu, b.rounds);
        }
        r = rtnl_open(&b.rtnl);
        if (r < 0)
                die("rtnl_open", r);
        b.nl = mnl_socket_open(NETLINK_ROUTE);
        if (!b.nl || mnl_socket_bind(b.nl, 0, MNL_SOCKET_AUTOPID) < 0)
                die("mnl_socket", -errno);
        b.sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (b.sk < 0)
                die("socket", -errno);

        fill(&b);
        for (unsigned round = 0; round < b.rounds; round++)
                round_run(&b, round);
        report(&b, json);
        /* Exiting closes the live slots' fds; the namespace goes with them. */
        return 0;
}

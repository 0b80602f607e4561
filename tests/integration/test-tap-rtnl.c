/* SPDX-License-Identifier: MIT */
// MODULES: tap rtnl rtnl-build rtnl-parse
/* TAP creation and rtnetlink against the real kernel, in a throwaway network
 * namespace (make check runs it under `unshare -n`; it refuses to run in a
 * namespace that has any interface but lo). What the modules did is checked
 * from outside with `ip -j`. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../itest.h"

#include "rtnl.h"
#include "tap.h"

static struct rtnl *rtnl;

/* ---- looking from outside: ip -j ---- */

/* `ip -j -d link show dev X`[0], or NULL when there is no such device. */
static json_object *link_json(const char *ifname)
{
        json_object *arr = run_json("ip -j -d link show dev %s 2>/dev/null", ifname), *o;

        if (!arr)
                return NULL;
        assert_true(json_object_is_type(arr, json_type_array));
        assert_int_equal(json_object_array_length(arr), 1);
        o = json_object_get(json_object_array_get_idx(arr, 0));
        json_object_put(arr);
        return o;
}

static char *link_text(const char *ifname)
{
        json_object *o = link_json(ifname);
        char *s;

        assert_non_null(o);
        s = strdup(json_object_to_json_string(o));
        json_object_put(o);
        return s;
}

static bool link_exists(const char *ifname)
{
        return if_nametoindex(ifname) > 0;
}

static json_object *field(json_object *o, const char *path)
{
        char buf[128], *save = NULL;

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
                if (!o || !json_object_object_get_ex(o, k, &o))
                        return NULL;
        return o;
}

static bool has_flag(json_object *link, const char *flag)
{
        json_object *flags = field(link, "flags");

        for (size_t i = 0; flags && i < json_object_array_length(flags); i++)
                if (strcmp(json_object_get_string(json_object_array_get_idx(flags, i)), flag) == 0)
                        return true;
        return false;
}

static bool bool_field(json_object *o, const char *path)
{
        json_object *v = field(o, path);

        return v && json_object_get_boolean(v);
}

/* The addr_info entry of `ip -j addr show dev X` for address local. */
static json_object *find_addr(json_object *addrs, const char *local)
{
        json_object *info = field(json_object_array_get_idx(addrs, 0), "addr_info");

        for (size_t i = 0; info && i < json_object_array_length(info); i++) {
                json_object *a = json_object_array_get_idx(info, i);

                if (strcmp(json_object_get_string(field(a, "local")), local) == 0)
                        return a;
        }
        return NULL;
}

/* Every global address in the namespace (any device), as "addr/len". */
static unsigned count_global_addrs(void)
{
        json_object *arr = run_json("ip -j addr show scope global");
        unsigned n = 0;

        for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
                json_object *info = field(json_object_array_get_idx(arr, i), "addr_info");

                n += info ? json_object_array_length(info) : 0;
        }
        json_object_put(arr);
        return n;
}

/* Every link of the namespace but lo. */
static unsigned count_links(void)
{
        struct if_nameindex *ifs = if_nameindex(), *i;
        unsigned n = 0;

        assert_non_null(ifs);
        for (i = ifs; i->if_index; i++)
                n += strcmp(i->if_name, "lo") != 0;
        if_freenameindex(ifs);
        return n;
}

/* ---- a slot's configuration, as the daemon derives it ---- */

static void slot_config(unsigned slot, const char *alias, unsigned mtu, int ifindex,
                        struct rtnl_link_config *ret)
{
        uint32_t base = 0x0ad50000u + slot * 4; /* 10.213.0.0/16, /30 */

        *ret = (struct rtnl_link_config){
            .ifindex = ifindex,
            .mtu = mtu,
            .mac = {0x06, 0x74, 0x6c, slot >> 16, slot >> 8, slot},
            .alias = alias,
            .gateway4 = {htonl(base + 1)},
            .prefix4 = 30,
            .ipv6 = true,
            .prefix6 = 64,
        };
        inet_pton(AF_INET6, "fd74:6c00::1", &ret->gateway6);
        ret->gateway6.s6_addr[6] = slot >> 8;
        ret->gateway6.s6_addr[7] = slot;
}

static void close_fds(int *fds, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                if (fds[i] >= 0) {
                        assert_int_equal(close(fds[i]), 0);
                        fds[i] = -1;
                }
}

/* ---- the option matrix ---- */

static void check_owner(json_object *link, uid_t owner)
{
        json_object *user = field(link, "linkinfo.info_data.user");
        struct passwd *pw = getpwuid(owner);
        char num[16];

        assert_non_null(user);
        snprintf(num, sizeof(num), "%u", (unsigned)owner);
        /* ip prints the user name when it resolves, else the number. */
        if (json_object_is_type(user, json_type_int))
                assert_int_equal(json_object_get_int(user), owner);
        else if (pw)
                assert_string_equal(json_object_get_string(user), pw->pw_name);
        else
                assert_string_equal(json_object_get_string(user), num);
}

static void test_probe(void **state)
{
        const char *missing = "untouched";

        assert_int_equal(tap_probe_features(&missing), 0);
        assert_string_equal(missing, "untouched");
}

static void test_option_matrix(void **state)
{
        static const unsigned queue_counts[] = {1, 2, 4};
        unsigned slot = 0;

        for (size_t q = 0; q < ELEMENTSOF(queue_counts); q++)
                for (int vnet = 0; vnet <= 1; vnet++)
                        for (int persist = 0; persist <= 1; persist++)
                                for (int o = 0; o <= 1; o++, slot++) {
                                        struct tap_options opts = {queue_counts[q], vnet, o ? 1000 : 0};
                                        struct rtnl_link_config cfg;
                                        int fds[TAP_MAX_QUEUES], ifindex = 0;
                                        const char *op = NULL;
                                        char name[IFNAMSIZ], alias[32], mac[18], gw4[16], gw6[48];
                                        json_object *link, *addrs, *a;

                                        snprintf(name, sizeof(name), "tl%u", slot);
                                        snprintf(alias, sizeof(alias), "vm-%u.q%u:%d@x", slot, opts.queues,
                                                 vnet);
                                        print_message("%s: queues %u vnet %d persist %d owner %u\n", name,
                                                      opts.queues, vnet, persist, (unsigned)opts.owner);

                                        assert_int_equal(tap_create(name, &opts, fds, &ifindex, &op), 0);
                                        assert_true(ifindex > 0);
                                        assert_int_equal(ifindex, (int)if_nametoindex(name));
                                        for (unsigned i = 0; i < opts.queues; i++) {
                                                assert_true(fds[i] >= 0);
                                                assert_int_equal(fcntl(fds[i], F_GETFD), FD_CLOEXEC);
                                        }
                                        if (persist)
                                                assert_int_equal(tap_set_persist(fds[0], true), 0);

                                        slot_config(slot, alias, 1400 + slot, ifindex, &cfg);
                                        assert_int_equal(rtnl_configure_link(rtnl, &cfg, &op), 0);

                                        link = link_json(name);
                                        assert_non_null(link);
                                        assert_string_equal(json_object_get_string(field(link, "ifname")),
                                                            name);
                                        assert_int_equal(json_object_get_int(field(link, "mtu")),
                                                         1400 + slot);
                                        snprintf(mac, sizeof(mac), "06:74:6c:00:00:%02x", slot);
                                        assert_string_equal(json_object_get_string(field(link, "address")),
                                                            mac);
                                        assert_string_equal(json_object_get_string(field(link, "ifalias")),
                                                            alias);
                                        assert_true(has_flag(link, "UP"));
                                        assert_false(has_flag(link, "NO-CARRIER"));
                                        assert_string_equal(
                                            json_object_get_string(field(link, "linkinfo.info_kind")),
                                            "tun");
                                        assert_string_equal(
                                            json_object_get_string(field(link, "linkinfo.info_data.type")),
                                            "tap");
                                        assert_false(bool_field(link, "linkinfo.info_data.pi"));
                                        assert_int_equal(bool_field(link, "linkinfo.info_data.vnet_hdr"),
                                                         vnet);
                                        assert_int_equal(bool_field(link, "linkinfo.info_data.multi_queue"),
                                                         opts.queues > 1);
                                        assert_int_equal(bool_field(link, "linkinfo.info_data.persist"),
                                                         persist);
                                        if (opts.queues > 1)
                                                assert_int_equal(json_object_get_int(field(
                                                                     link, "linkinfo.info_data.numqueues")),
                                                                 opts.queues);
                                        check_owner(link, opts.owner);
                                        json_object_put(link);

                                        addrs = run_json("ip -j addr show dev %s", name);
                                        inet_ntop(AF_INET, &cfg.gateway4, gw4, sizeof(gw4));
                                        a = find_addr(addrs, gw4);
                                        assert_non_null(a);
                                        assert_int_equal(json_object_get_int(field(a, "prefixlen")), 30);
                                        assert_non_null(field(a, "broadcast"));
                                        inet_ntop(AF_INET6, &cfg.gateway6, gw6, sizeof(gw6));
                                        a = find_addr(addrs, gw6);
                                        assert_non_null(a);
                                        assert_int_equal(json_object_get_int(field(a, "prefixlen")), 64);
                                        /* Usable at once: no duplicate address detection pending. */
                                        assert_null(field(a, "tentative"));
                                        assert_true(bool_field(a, "nodad"));
                                        json_object_put(addrs);

                                        close_fds(fds, opts.queues);
                                        if (persist) {
                                                assert_true(link_exists(name));
                                                assert_int_equal(rtnl_delete_link(rtnl, ifindex), 0);
                                        }
                                        assert_false(link_exists(name));
                                        assert_int_equal(rtnl_delete_link(rtnl, ifindex), -ENODEV);
                                }
        assert_int_equal(count_links(), 0);
        assert_int_equal(count_global_addrs(), 0);
}

/* ---- someone else's device ---- */

static void test_foreign_device(void **state)
{
        struct tap_options opts = {1, true, 1000};
        int fds[TAP_MAX_QUEUES] = {-1}, ifindex = -5;
        const char *op = NULL;
        char *before, *after;

        /* A persistent TAP without owner: root could attach to it, and
         * IFF_TUN_EXCL is what stops us. */
        run("ip tuntap add tl100 mode tap");
        run("ip link set dev tl100 alias foreign");
        before = link_text("tl100");
        assert_int_equal(tap_create("tl100", &opts, fds, &ifindex, &op), -EBUSY);
        assert_string_equal(op, "TUNSETIFF");
        assert_int_equal(fds[0], -1);
        assert_int_equal(ifindex, -5);
        opts.queues = 4;
        assert_int_equal(tap_create("tl100", &opts, fds, &ifindex, &op), -EBUSY);
        after = link_text("tl100");
        assert_string_equal(before, after);
        free(before);
        free(after);

        /* Not a TAP at all. */
        run("ip link add tl101 type veth peer name tl102");
        before = link_text("tl101");
        assert_int_equal(tap_create("tl101", &opts, fds, &ifindex, &op), -EBUSY);
        after = link_text("tl101");
        assert_string_equal(before, after);
        free(before);
        free(after);

        run("ip link del tl100");
        run("ip link del tl101");
        assert_int_equal(count_links(), 0);

        /* Bad arguments. */
        opts.queues = 0;
        assert_int_equal(tap_create("tl103", &opts, fds, &ifindex, &op), -EINVAL);
        opts.queues = TAP_MAX_QUEUES + 1;
        assert_int_equal(tap_create("tl103", &opts, fds, &ifindex, &op), -EINVAL);
        opts.queues = 1;
        assert_int_equal(tap_create("tl0123456789abcd", &opts, fds, &ifindex, &op), -EINVAL);
        assert_int_equal(tap_create("", &opts, fds, &ifindex, &op), -EINVAL);
        assert_int_equal(count_links(), 0);
}

/* ---- a configuration failing half-way ---- */

static void test_configure_failures(void **state)
{
        struct tap_options opts = {2, true, 0};
        struct rtnl_link_config cfg;
        int fds[TAP_MAX_QUEUES], ifindex;
        const char *op = NULL;
        json_object *link;
        char path[128];
        int fd;

        /* An MTU the kernel refuses: RTM_NEWLINK fails, the link stays down. */
        assert_int_equal(tap_create("tl200", &opts, fds, &ifindex, &op), 0);
        slot_config(200, "too-big", 70000, ifindex, &cfg);
        assert_int_equal(rtnl_configure_link(rtnl, &cfg, &op), -EINVAL);
        assert_string_equal(op, "RTM_NEWLINK");
        link = link_json("tl200");
        assert_false(has_flag(link, "UP"));
        json_object_put(link);
        close_fds(fds, opts.queues);
        assert_false(link_exists("tl200"));

        /* IPv6 refused on the device: the third message fails. */
        assert_int_equal(tap_create("tl201", &opts, fds, &ifindex, &op), 0);
        snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", "tl201");
        fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "1", 1), 1);
        close(fd);
        slot_config(201, "no-v6", 1500, ifindex, &cfg);
        op = NULL;
        assert_true(rtnl_configure_link(rtnl, &cfg, &op) < 0);
        assert_string_equal(op, "RTM_NEWADDR");
        assert_int_equal(count_global_addrs(), 1); /* the IPv4 one went in */

        /* The same configuration twice: the IPv4 address exists (EXCL). */
        cfg.ipv6 = false;
        assert_int_equal(rtnl_configure_link(rtnl, &cfg, &op), -EEXIST);
        assert_string_equal(op, "RTM_NEWADDR");

        /* Closing the fds takes the device and its addresses with it. */
        close_fds(fds, opts.queues);
        assert_int_equal(count_links(), 0);
        assert_int_equal(count_global_addrs(), 0);

        /* A link that is gone. */
        slot_config(202, "", 1500, ifindex, &cfg);
        assert_int_equal(rtnl_configure_link(rtnl, &cfg, &op), -ENODEV);
        assert_string_equal(op, "RTM_NEWLINK");
        assert_int_equal(count_global_addrs(), 0);
}

/* ---- the monitor ---- */

struct events {
        unsigned dellinks;
        unsigned resyncs;
        int ifindex[1024];
        char ifname[1024][IFNAMSIZ];
};

static void on_dellink(int ifindex, const char *ifname, void *userdata)
{
        struct events *ev = userdata;

        if (ev->dellinks < ELEMENTSOF(ev->ifindex)) {
                ev->ifindex[ev->dellinks] = ifindex;
                snprintf(ev->ifname[ev->dellinks], IFNAMSIZ, "%s", ifname);
        }
        ev->dellinks++;
}

static void on_resync(void *userdata)
{
        struct events *ev = userdata;

        ev->resyncs++;
}

static const struct rtnl_monitor_callbacks monitor_cbs = {.on_dellink = on_dellink, .on_resync = on_resync};

/* Processes the monitor until want dellinks were seen or a second passed. */
static void monitor_wait(struct rtnl_monitor *m, struct events *ev, unsigned want)
{
        for (int i = 0; i < 10 && ev->dellinks < want; i++) {
                struct pollfd p = {rtnl_monitor_fd(m), POLLIN, 0};

                poll(&p, 1, 100);
                assert_int_equal(rtnl_monitor_process(m), 0);
        }
        /* Nothing more than that. */
        assert_int_equal(rtnl_monitor_process(m), 0);
}

static void test_monitor(void **state)
{
        struct tap_options opts = {2, true, 0};
        struct rtnl_monitor *m = NULL;
        struct events ev = {};
        int fds[TAP_MAX_QUEUES], ifindex, other[TAP_MAX_QUEUES], other_ifindex;
        const char *op;

        assert_int_equal(rtnl_monitor_open("tl", &monitor_cbs, &ev, &m), 0);
        assert_int_equal(fcntl(rtnl_monitor_fd(m), F_GETFD), FD_CLOEXEC);
        assert_true(fcntl(rtnl_monitor_fd(m), F_GETFL) & O_NONBLOCK);

        /* Creation and configuration are not deletions, and never even
         * reach the monitor's socket: its filter drops them in the kernel. */
        assert_int_equal(tap_create("tl300", &opts, fds, &ifindex, &op), 0);
        assert_int_equal(tap_create("xtl301", &opts, other, &other_ifindex, &op), 0);
        run("ip link set dev tl300 mtu 1400 && ip link set dev tl300 up && ip link set dev tl300 down");
        assert_int_equal(poll(&(struct pollfd){rtnl_monitor_fd(m), POLLIN, 0}, 1, 100), 0);
        assert_int_equal(rtnl_monitor_process(m), 0);
        assert_int_equal(ev.dellinks, 0);

        /* The last fd closes: the kernel deletes the device. */
        close(fds[0]);
        assert_int_equal(rtnl_monitor_process(m), 0);
        assert_int_equal(ev.dellinks, 0);
        close(fds[1]);
        monitor_wait(m, &ev, 1);
        assert_int_equal(ev.dellinks, 1);
        assert_int_equal(ev.ifindex[0], ifindex);
        assert_string_equal(ev.ifname[0], "tl300");

        /* Not our prefix. */
        close_fds(other, opts.queues);
        monitor_wait(m, &ev, 2);
        assert_int_equal(ev.dellinks, 1);

        /* Deleted while a VMM still holds its fd. */
        assert_int_equal(tap_create("tl302", &opts, fds, &ifindex, &op), 0);
        assert_int_equal(rtnl_delete_link(rtnl, ifindex), 0);
        monitor_wait(m, &ev, 2);
        assert_int_equal(ev.dellinks, 2);
        assert_int_equal(ev.ifindex[1], ifindex);
        assert_string_equal(ev.ifname[1], "tl302");
        assert_false(link_exists("tl302"));
        close_fds(fds, opts.queues);
        monitor_wait(m, &ev, 3);
        assert_int_equal(ev.dellinks, 2);
        assert_int_equal(ev.resyncs, 0);

        rtnl_monitor_close(m);
}

/* Counts the RTM_DELLINKs (any family) naming ifname on a raw socket. */
static unsigned count_raw_dellinks(struct mnl_socket *nl, const char *ifname)
{
        static _Alignas(struct nlmsghdr) uint8_t buf[65536];
        unsigned n = 0;
        ssize_t k;

        while ((k = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
                const struct nlmsghdr *nlh = (const void *)buf;
                int left = (int)k;

                for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
                        const struct nlattr *attr;

                        if (nlh->nlmsg_type != RTM_DELLINK)
                                continue;
                        mnl_attr_for_each(
                            attr, nlh,
                            sizeof(struct ifinfomsg)) if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
                                                          strcmp(mnl_attr_get_str(attr), ifname) == 0) n++;
                }
        }
        return n;
}

/* A TAP leaving a bridge makes the kernel send an RTM_DELLINK (AF_BRIDGE)
 * naming it; the device is still there, so the monitor must stay quiet. */
static void test_monitor_bridge_port(void **state)
{
        struct tap_options opts = {1, true, 0};
        struct rtnl_monitor *m = NULL;
        struct mnl_socket *raw;
        struct events ev = {};
        int fds[TAP_MAX_QUEUES], ifindex;
        unsigned group = RTNLGRP_LINK;
        const char *op;

        raw = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
        assert_non_null(raw);
        assert_int_equal(mnl_socket_bind(raw, 0, MNL_SOCKET_AUTOPID), 0);
        assert_int_equal(mnl_socket_setsockopt(raw, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)), 0);
        assert_int_equal(rtnl_monitor_open("tl", &monitor_cbs, &ev, &m), 0);

        assert_int_equal(tap_create("tl400", &opts, fds, &ifindex, &op), 0);
        run("ip link add br400 type bridge && ip link set dev tl400 master br400");
        run("ip link set dev tl400 nomaster");
        run("ip link set dev tl400 master br400 && ip link del br400");
        assert_true(link_exists("tl400"));
        assert_true(count_raw_dellinks(raw, "tl400") >= 2);
        monitor_wait(m, &ev, 1);
        assert_int_equal(ev.dellinks, 0);

        close_fds(fds, opts.queues);
        monitor_wait(m, &ev, 1);
        assert_int_equal(ev.dellinks, 1);
        assert_int_equal(ev.ifindex[0], ifindex);

        rtnl_monitor_close(m);
        mnl_socket_close(raw);
}

/* A device moved to another namespace is gone from ours. */
static void test_monitor_netns_move(void **state)
{
        struct tap_options opts = {1, false, 0};
        struct rtnl_monitor *m = NULL;
        struct events ev = {};
        int fds[TAP_MAX_QUEUES], ifindex, ready[2];
        const char *op;
        pid_t child;
        char c;

        assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(1);
                (void)!write(ready[1], "x", 1);
                pause();
                _exit(0);
        }
        close(ready[1]);
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);

        assert_int_equal(rtnl_monitor_open("tl", &monitor_cbs, &ev, &m), 0);
        assert_int_equal(tap_create("tl500", &opts, fds, &ifindex, &op), 0);
        run("ip link set dev tl500 netns %d", (int)child);
        assert_false(link_exists("tl500"));
        monitor_wait(m, &ev, 1);
        assert_int_equal(ev.dellinks, 1);
        assert_int_equal(ev.ifindex[0], ifindex);
        assert_string_equal(ev.ifname[0], "tl500");

        close_fds(fds, opts.queues);
        kill(child, SIGKILL);
        assert_int_equal(waitpid(child, NULL, 0), child);
        rtnl_monitor_close(m);
}

/* Overrun: events are lost, the caller is told to re-dump, and the monitor
 * goes on working. */
static void test_monitor_overrun(void **state)
{
        struct tap_options opts = {1, false, 0};
        struct rtnl_monitor *m = NULL;
        struct events ev = {};
        int fds[64][TAP_MAX_QUEUES], ifindex;
        const char *op;
        char name[IFNAMSIZ];

        assert_int_equal(rtnl_monitor_open("tl", &monitor_cbs, &ev, &m), 0);
        assert_int_equal(rtnl_monitor_set_rcvbuf(m, 1), 0);
        for (int i = 0; i < 64; i++) {
                snprintf(name, sizeof(name), "tl6%02d", i);
                assert_int_equal(tap_create(name, &opts, fds[i], &ifindex, &op), 0);
        }
        for (int i = 0; i < 64; i++)
                close_fds(fds[i], 1);
        assert_int_equal(count_links(), 0);

        assert_int_equal(rtnl_monitor_process(m), 0);
        assert_int_equal(ev.resyncs, 1);
        assert_true(ev.dellinks < 64);
        print_message("overrun: %u of 64 deletions seen, then a resync\n", ev.dellinks);

        /* At the kernel's minimum buffer even one creation's notifications
         * overrun it: back to a real size. */
        assert_int_equal(rtnl_monitor_set_rcvbuf(m, 1 << 20), 0);
        ev.dellinks = 0;
        assert_int_equal(tap_create("tl699", &opts, fds[0], &ifindex, &op), 0);
        close_fds(fds[0], 1);
        monitor_wait(m, &ev, 1);
        assert_int_equal(ev.dellinks, 1);
        assert_string_equal(ev.ifname[0], "tl699");
        assert_int_equal(ev.resyncs, 1);
        rtnl_monitor_close(m);
}

/* ---- the dump ---- */

struct dumped {
        unsigned n;
        struct rtnl_tap_info taps[256];
        int stop_after;
};

static int collect_tap(const struct rtnl_tap_info *info, void *userdata)
{
        struct dumped *d = userdata;

        if (d->stop_after && (int)d->n == d->stop_after)
                return -ECANCELED;
        assert_true(d->n < ELEMENTSOF(d->taps));
        d->taps[d->n++] = *info;
        return 0;
}

static const struct rtnl_tap_info *find_tap(const struct dumped *d, const char *ifname)
{
        for (unsigned i = 0; i < d->n; i++)
                if (strcmp(d->taps[i].ifname, ifname) == 0)
                        return &d->taps[i];
        return NULL;
}

#define DUMP_N 24

/* Every sixth without alias. */
static void dump_alias(int i, char alias[32])
{
        if (i % 6)
                snprintf(alias, 32, "dump-%d", i);
        else
                alias[0] = '\0';
}

static void test_dump(void **state)
{
        int fds[DUMP_N][TAP_MAX_QUEUES], ifindex[DUMP_N], k, spare[TAP_MAX_QUEUES], spare_ifindex;
        struct tap_options opts[DUMP_N];
        struct dumped *d = calloc(1, sizeof(*d));
        const char *op;
        char name[IFNAMSIZ], alias[32];

        for (int i = 0; i < DUMP_N; i++) {
                struct rtnl_link_config cfg;

                opts[i] = (struct tap_options){1 + i % 4, i % 3 != 0, i % 2 ? 1000 + i : 0};
                snprintf(name, sizeof(name), "tl7%02d", i);
                assert_int_equal(tap_create(name, &opts[i], fds[i], &ifindex[i], &op), 0);
                if (i % 5 == 0)
                        assert_int_equal(tap_set_persist(fds[i][0], true), 0);
                dump_alias(i, alias);
                slot_config(700 + i, alias, 1280 + i, ifindex[i], &cfg);
                assert_int_equal(rtnl_configure_link(rtnl, &cfg, &op), 0);
        }
        /* What the dump must leave out: a TUN, a veth, a TAP of another name. */
        run("ip tuntap add tl798 mode tun && ip link add tl799 type veth peer name tl797");
        assert_int_equal(tap_create("xy0", &opts[0], spare, &spare_ifindex, &op), 0);
        /* A persistent multi-queue TAP nobody holds: zero queues. */
        run("ip tuntap add tl796 mode tap user 4242 vnet_hdr multi_queue");

        assert_non_null(d);
        assert_int_equal(rtnl_dump_taps(rtnl, "tl", collect_tap, d), 0);
        assert_int_equal(d->n, DUMP_N + 1);
        for (int i = 0; i < DUMP_N; i++) {
                const struct rtnl_tap_info *t;
                uint8_t mac[6] = {0x06, 0x74, 0x6c, 0, (700 + i) >> 8, (uint8_t)(700 + i)};

                snprintf(name, sizeof(name), "tl7%02d", i);
                t = find_tap(d, name);
                assert_non_null(t);
                assert_int_equal(t->ifindex, ifindex[i]);
                assert_true(t->has_owner);
                assert_int_equal(t->owner, opts[i].owner);
                dump_alias(i, alias);
                assert_string_equal(t->alias, alias);
                assert_int_equal(t->mtu, 1280 + i);
                assert_memory_equal(t->mac, mac, 6);
                assert_int_equal(t->queues, opts[i].queues);
                assert_int_equal(t->multi_queue, opts[i].queues > 1);
                assert_int_equal(t->vnet_header, opts[i].vnet_header);
                assert_int_equal(t->persist, i % 5 == 0);
                assert_true(t->up);
        }
        {
                const struct rtnl_tap_info *t = find_tap(d, "tl796");

                assert_non_null(t);
                assert_true(t->has_owner);
                assert_int_equal(t->owner, 4242);
                assert_int_equal(t->queues, 0);
                assert_true(t->multi_queue);
                assert_true(t->persist);
                assert_true(t->vnet_header);
                assert_false(t->up);
                assert_string_equal(t->alias, "");
        }

        /* Another prefix, and no prefix. */
        memset(d, 0, sizeof(*d));
        assert_int_equal(rtnl_dump_taps(rtnl, "xy", collect_tap, d), 0);
        assert_int_equal(d->n, 1);
        assert_string_equal(d->taps[0].ifname, "xy0");
        assert_false(d->taps[0].has_owner && d->taps[0].owner != 0);
        memset(d, 0, sizeof(*d));
        assert_int_equal(rtnl_dump_taps(rtnl, NULL, collect_tap, d), 0);
        assert_int_equal(d->n, DUMP_N + 2);

        /* A callback error stops the dump and the socket stays usable. */
        memset(d, 0, sizeof(*d));
        d->stop_after = 3;
        assert_int_equal(rtnl_dump_taps(rtnl, "tl", collect_tap, d), -ECANCELED);
        assert_int_equal(d->n, 3);
        memset(d, 0, sizeof(*d));
        assert_int_equal(rtnl_dump_taps(rtnl, "tl", collect_tap, d), 0);
        assert_int_equal(d->n, DUMP_N + 1);

        for (int i = 0; i < DUMP_N; i++) {
                close_fds(fds[i], opts[i].queues);
                if (i % 5 == 0)
                        assert_int_equal(rtnl_delete_link(rtnl, ifindex[i]), 0);
        }
        close_fds(spare, opts[0].queues);
        run("ip link del tl798 && ip link del tl799 && ip link del tl796");
        k = count_links();
        assert_int_equal(k, 0);
        free(d);
}

/* ---- deleting many in one unregister ---- */

static void delete_many(unsigned n)
{
        int(*fds)[TAP_MAX_QUEUES] = calloc(n, sizeof(*fds));
        int *ifindex = calloc(n, sizeof(int)), bystander[TAP_MAX_QUEUES], bystander_ifindex;
        struct tap_options opts = {1, true, 0};
        struct dumped *d = calloc(1, sizeof(*d));
        const char *op;
        char name[IFNAMSIZ];
        json_object *link;

        assert_non_null(fds);
        assert_non_null(ifindex);
        for (unsigned i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "tl8%03u", i);
                assert_int_equal(tap_create(name, &opts, fds[i], &ifindex[i], &op), 0);
                /* Half persistent, half held: both kinds go. */
                if (i % 2)
                        assert_int_equal(tap_set_persist(fds[i][0], true), 0);
        }
        assert_int_equal(tap_create("tl8999", &opts, bystander, &bystander_ifindex, &op), 0);
        /* One is gone already: skipped. */
        assert_int_equal(rtnl_delete_link(rtnl, ifindex[n / 2]), 0);

        assert_int_equal(rtnl_delete_links(rtnl, ifindex, n, 0x7a71), 0);
        assert_int_equal(rtnl_dump_taps(rtnl, "tl8", collect_tap, d), 0);
        assert_int_equal(d->n, 1);
        assert_string_equal(d->taps[0].ifname, "tl8999");
        link = link_json("tl8999");
        assert_string_equal(json_object_get_string(field(link, "group")), "default");
        json_object_put(link);

        /* All gone: nothing to move, nothing to delete. */
        assert_int_equal(rtnl_delete_links(rtnl, ifindex, n, 0x7a71), 0);
        assert_int_equal(rtnl_delete_links(rtnl, ifindex, 0, 0x7a71), 0);
        assert_int_equal(rtnl_delete_links(rtnl, ifindex, n, 0), -EINVAL);

        for (unsigned i = 0; i < n; i++)
                close_fds(fds[i], 1);
        close_fds(bystander, 1);
        assert_int_equal(count_links(), 0);
        free(fds);
        free(ifindex);
        free(d);
}

/* One link alone goes by its own RTM_DELLINK, persistent or held, and
 * leaves the group alone; rtnl_delete_group() takes what is in it. */
static void test_delete_one_link(void **state)
{
        _Alignas(struct nlmsghdr) uint8_t buf[256] = {0};
        struct tap_options opts = {1, true, 0};
        int fds[3][TAP_MAX_QUEUES], ifindex[3], len;
        struct dumped *d = calloc(1, sizeof(*d));
        const char *op;
        uint32_t seq;

        assert_non_null(d);
        assert_int_equal(tap_create("tl8000", &opts, fds[0], &ifindex[0], &op), 0);
        assert_int_equal(tap_set_persist(fds[0][0], true), 0);
        close_fds(fds[0], 1);
        assert_int_equal(tap_create("tl8999", &opts, fds[1], &ifindex[1], &op), 0);
        /* Left in the group by a process killed between move and delete. */
        assert_int_equal(tap_create("tl8001", &opts, fds[2], &ifindex[2], &op), 0);
        seq = rtnl_reserve_seq(rtnl, 1);
        len = rtnl_build_set_group(buf, sizeof(buf), seq, ifindex[2], 0x7a71);
        assert_true(len > 0);
        assert_int_equal(rtnl_request(rtnl, buf, (size_t)len, seq, 1, NULL), 0);

        assert_int_equal(rtnl_delete_links(rtnl, &ifindex[0], 1, 0x7a71), 0);
        assert_int_equal(rtnl_dump_taps(rtnl, "tl8", collect_tap, d), 0);
        assert_int_equal(d->n, 2);
        assert_string_equal(d->taps[0].ifname, "tl8999");
        assert_string_equal(d->taps[1].ifname, "tl8001");
        assert_int_equal(rtnl_delete_group(rtnl, 0x7a71), 0);
        assert_int_equal(count_links(), 1);
        /* Nothing left in it: nothing to do. */
        assert_int_equal(rtnl_delete_group(rtnl, 0x7a71), 0);
        assert_int_equal(rtnl_delete_group(rtnl, 0), -EINVAL);
        /* Gone already: nothing to do. */
        assert_int_equal(rtnl_delete_links(rtnl, &ifindex[0], 1, 0x7a71), 0);
        /* A held one goes too, its fd detached. */
        assert_int_equal(rtnl_delete_links(rtnl, &ifindex[1], 1, 0x7a71), 0);
        assert_int_equal(count_links(), 0);
        close_fds(fds[1], 1);
        close_fds(fds[2], 1);
        free(d);
}

static void test_delete_links(void **state)
{
        delete_many(50);
        /* Several batches, the RTM_DELLINK in the last. */
        delete_many(3 * RTNL_BATCH_MAX + 7);
}

/* ---- set-up ---- */

static int group_setup(void **state)
{
        return rtnl_open(&rtnl) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
        rtnl_close(rtnl);
        return 0;
}

/* Only lo: a namespace made for this test, not the host's. */
int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_probe),
            cmocka_unit_test(test_option_matrix),
            cmocka_unit_test(test_foreign_device),
            cmocka_unit_test(test_configure_failures),
            cmocka_unit_test(test_monitor),
            cmocka_unit_test(test_monitor_bridge_port),
            cmocka_unit_test(test_monitor_netns_move),
            cmocka_unit_test(test_monitor_overrun),
            cmocka_unit_test(test_dump),
            cmocka_unit_test(test_delete_one_link),
            cmocka_unit_test(test_delete_links),
        };

        if (geteuid() != 0) {
                fprintf(stderr,
                        "FAIL: test-tap-rtnl needs root (make check runs it as root in unshare -n)\n");
                return 1;
        }
        if (access("/dev/net/tun", R_OK | W_OK) < 0) {
                fprintf(stderr, "FAIL: /dev/net/tun: %m\n");
                return 1;
        }
        if (!namespace_is_throwaway()) {
                fprintf(stderr,
                        "FAIL: refusing to run in a network namespace with devices other than lo: "
                        "run it as `unshare -n %s`\n",
                        "build/itests/test-tap-rtnl");
                return 1;
        }
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

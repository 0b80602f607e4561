/* SPDX-License-Identifier: MIT */
// MODULES: rtnl rtnl-build rtnl-parse
/* The rtnetlink builders and parsers, without privilege: every message is
 * built, then parsed back with libmnl; the parsers get synthetic link
 * messages, well-formed and broken. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rtnl.h"

/* The case tables start from a healthy message and override a field. */
#pragma GCC diagnostic ignored "-Woverride-init"

#define BUF_SIZE 4096

static _Alignas(struct nlmsghdr) uint8_t buf[BUF_SIZE];

/* ---- helpers ---- */

struct attrs {
        const struct nlattr *tb[64];
        unsigned count;
};

static int collect_cb(const struct nlattr *attr, void *data)
{
        struct attrs *a = data;
        uint16_t type = mnl_attr_get_type(attr);

        assert_true(type < ELEMENTSOF(a->tb));
        /* Every attribute exactly once. */
        assert_null(a->tb[type]);
        a->tb[type] = attr;
        a->count++;
        return MNL_CB_OK;
}

static void collect(const struct nlmsghdr *nlh, size_t hdrlen, struct attrs *a)
{
        memset(a, 0, sizeof(*a));
        assert_int_equal(mnl_attr_parse(nlh, hdrlen, collect_cb, a), MNL_CB_OK);
}

static void collect_nested(const struct nlattr *nest, struct attrs *a)
{
        memset(a, 0, sizeof(*a));
        assert_int_equal(mnl_attr_parse_nested(nest, collect_cb, a), MNL_CB_OK);
}

static unsigned split(const void *b, int len, const struct nlmsghdr **msgs, unsigned max)
{
        const struct nlmsghdr *nlh = b;
        unsigned n = 0;

        while (mnl_nlmsg_ok(nlh, len)) {
                assert_true(n < max);
                msgs[n++] = nlh;
                nlh = mnl_nlmsg_next(nlh, &len);
        }
        /* The messages fill the returned length exactly. */
        assert_int_equal(len, 0);
        return n;
}

static void assert_u32_attr(const struct nlattr *attr, uint32_t value)
{
        assert_non_null(attr);
        assert_int_equal(mnl_attr_validate(attr, MNL_TYPE_U32), 0);
        assert_int_equal(mnl_attr_get_u32(attr), value);
}

static void assert_bytes_attr(const struct nlattr *attr, const void *value, size_t len)
{
        assert_non_null(attr);
        assert_int_equal(mnl_attr_get_payload_len(attr), len);
        assert_memory_equal(mnl_attr_get_payload(attr), value, len);
}

/* ---- rtnl_build_configure, table-driven ---- */

struct configure_case {
        const char *name;
        int ifindex;
        unsigned mtu;
        uint8_t mac[6];
        const char *alias;
        const char *gateway4;
        unsigned prefix4;
        const char *broadcast4; /* NULL: no IFA_BROADCAST expected */
        bool ipv6;
        const char *gateway6;
        unsigned prefix6;
};

static const struct configure_case configure_cases[] = {
    {"default /30",
     7,
     1500,
     {0x06, 0x74, 0x6c, 0, 0, 7},
     "web-1",
     "10.213.0.29",
     30,
     "10.213.0.31",
     true,
     "fd74:6c00:0:7::1",
     64},
    {"/31 has no broadcast",
     8,
     9000,
     {0x06, 0x74, 0x6c, 0, 0, 8},
     "",
     "10.213.0.16",
     31,
     NULL,
     true,
     "fd74:6c00:0:8::1",
     64},
    {"top of the address space",
     65535,
     68,
     {0x06, 0x74, 0x6c, 0xff, 0xff, 0xff},
     NULL,
     "255.255.255.253",
     30,
     "255.255.255.255",
     true,
     "ffff:ffff:ffff:ffff::1",
     64},
    {"ipv4 only, long alias",
     1,
     65521,
     {0x06, 0x74, 0x6c, 0x01, 0x02, 0x03},
     "a-label-of-sixty-four-characters-0123456789.abcdefghijklmnop:@xy",
     "192.168.0.1",
     24,
     "192.168.0.255",
     false,
     NULL,
     0},
    {"/32, /128", 2, 1500, {0x06, 0x74, 0x6c, 0, 0, 2}, "x", "10.0.0.1", 32, NULL, true, "fd00::1", 128},
};

static void check_configure(const struct configure_case *c)
{
        struct rtnl_link_config cfg = {
            .ifindex = c->ifindex,
            .mtu = c->mtu,
            .alias = c->alias,
            .prefix4 = c->prefix4,
            .ipv6 = c->ipv6,
            .prefix6 = c->prefix6,
        };
        const struct nlmsghdr *msgs[RTNL_CONFIGURE_MAX + 1];
        const struct ifinfomsg *ifi;
        const struct ifaddrmsg *ifa;
        struct in_addr brd;
        struct attrs a;
        unsigned n, expected_attrs;
        int len;

        print_message("configure: %s\n", c->name);
        memcpy(cfg.mac, c->mac, 6);
        assert_int_equal(inet_pton(AF_INET, c->gateway4, &cfg.gateway4), 1);
        if (c->ipv6)
                assert_int_equal(inet_pton(AF_INET6, c->gateway6, &cfg.gateway6), 1);

        memset(buf, 0xaa, sizeof(buf));
        len = rtnl_build_configure(buf, sizeof(buf), 4000000000u, &cfg);
        assert_true(len > 0);
        n = split(buf, len, msgs, ELEMENTSOF(msgs));
        assert_int_equal(n, 4);

        /* Consecutive sequence numbers, every request acked. */
        for (unsigned i = 0; i < n; i++) {
                assert_int_equal(msgs[i]->nlmsg_seq, 4000000000u + i);
                assert_true(msgs[i]->nlmsg_flags & NLM_F_REQUEST);
                assert_true(msgs[i]->nlmsg_flags & NLM_F_ACK);
        }

        if (!c->ipv6) {
                /* First, before the MTU: no IPv6 address generation. */
                const struct nlattr *spec, *inet6, *mode;
                assert_int_equal(msgs[0]->nlmsg_type, RTM_NEWLINK);
                assert_int_equal(msgs[0]->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
                ifi = mnl_nlmsg_get_payload(msgs[0]);
                assert_int_equal(ifi->ifi_index, c->ifindex);
                assert_int_equal(ifi->ifi_change, 0);
                collect(msgs[0], sizeof(*ifi), &a);
                assert_int_equal(a.count, 1);
                spec = a.tb[IFLA_AF_SPEC];
                assert_non_null(spec);
                inet6 = mnl_attr_get_payload(spec);
                assert_int_equal(mnl_attr_get_type(inet6), AF_INET6);
                mode = mnl_attr_get_payload(inet6);
                assert_int_equal(mnl_attr_get_type(mode), IFLA_INET6_ADDR_GEN_MODE);
                assert_int_equal(mnl_attr_get_u8(mode), IN6_ADDR_GEN_MODE_NONE);
                /* The rest as with IPv6, one message later. */
                for (unsigned i = 0; i + 1 < n; i++)
                        msgs[i] = msgs[i + 1];
                n--;
        }

        /* RTM_NEWLINK: MTU, MAC, alias while the link is down; no
         * create/replace flags. */
        assert_int_equal(msgs[0]->nlmsg_type, RTM_NEWLINK);
        assert_int_equal(msgs[0]->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        ifi = mnl_nlmsg_get_payload(msgs[0]);
        assert_int_equal(ifi->ifi_family, AF_UNSPEC);
        assert_int_equal(ifi->ifi_index, c->ifindex);
        assert_int_equal(ifi->ifi_flags, 0);
        assert_int_equal(ifi->ifi_change, 0);
        collect(msgs[0], sizeof(*ifi), &a);
        assert_u32_attr(a.tb[IFLA_MTU], c->mtu);
        assert_bytes_attr(a.tb[IFLA_ADDRESS], c->mac, 6);
        assert_null(a.tb[IFLA_AF_SPEC]);
        expected_attrs = 2;
        if (c->alias && c->alias[0]) {
                assert_int_equal(mnl_attr_validate(a.tb[IFLA_IFALIAS], MNL_TYPE_NUL_STRING), 0);
                assert_string_equal(mnl_attr_get_str(a.tb[IFLA_IFALIAS]), c->alias);
                expected_attrs++;
        } else {
                assert_null(a.tb[IFLA_IFALIAS]);
        }
        assert_int_equal(a.count, expected_attrs);

        /* RTM_NEWADDR IPv4. */
        assert_int_equal(msgs[1]->nlmsg_type, RTM_NEWADDR);
        assert_int_equal(msgs[1]->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        ifa = mnl_nlmsg_get_payload(msgs[1]);
        assert_int_equal(ifa->ifa_family, AF_INET);
        assert_int_equal(ifa->ifa_prefixlen, c->prefix4);
        assert_int_equal(ifa->ifa_index, c->ifindex);
        assert_int_equal(ifa->ifa_scope, RT_SCOPE_UNIVERSE);
        collect(msgs[1], sizeof(*ifa), &a);
        assert_bytes_attr(a.tb[IFA_LOCAL], &cfg.gateway4, 4);
        assert_bytes_attr(a.tb[IFA_ADDRESS], &cfg.gateway4, 4);
        if (c->broadcast4) {
                assert_int_equal(inet_pton(AF_INET, c->broadcast4, &brd), 1);
                assert_bytes_attr(a.tb[IFA_BROADCAST], &brd, 4);
        } else {
                assert_null(a.tb[IFA_BROADCAST]);
        }

        if (c->ipv6) {
                /* RTM_NEWADDR IPv6, without duplicate address detection. */
                assert_int_equal(msgs[2]->nlmsg_type, RTM_NEWADDR);
                assert_int_equal(msgs[2]->nlmsg_flags,
                                 NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
                ifa = mnl_nlmsg_get_payload(msgs[2]);
                assert_int_equal(ifa->ifa_family, AF_INET6);
                assert_int_equal(ifa->ifa_prefixlen, c->prefix6);
                assert_int_equal(ifa->ifa_index, c->ifindex);
                assert_int_equal(ifa->ifa_flags, IFA_F_NODAD);
                collect(msgs[2], sizeof(*ifa), &a);
                assert_bytes_attr(a.tb[IFA_ADDRESS], &cfg.gateway6, 16);
                assert_u32_attr(a.tb[IFA_FLAGS], IFA_F_NODAD);
                assert_null(a.tb[IFA_LOCAL]);
        }

        /* Last, the link comes up: IFF_UP and nothing else. */
        assert_int_equal(msgs[n - 1]->nlmsg_type, RTM_NEWLINK);
        assert_int_equal(msgs[n - 1]->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        ifi = mnl_nlmsg_get_payload(msgs[n - 1]);
        assert_int_equal(ifi->ifi_index, c->ifindex);
        assert_int_equal(ifi->ifi_flags, IFF_UP);
        assert_int_equal(ifi->ifi_change, IFF_UP);
        collect(msgs[n - 1], sizeof(*ifi), &a);
        assert_int_equal(a.count, 0);
}

static void test_configure(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(configure_cases); i++)
                check_configure(&configure_cases[i]);
}

static void test_configure_short_buffer(void **state)
{
        struct rtnl_link_config cfg = {
            .ifindex = 3,
            .mtu = 1500,
            .alias = "label",
            .prefix4 = 30,
            .ipv6 = true,
            .prefix6 = 64,
        };
        int len = rtnl_build_configure(buf, sizeof(buf), 1, &cfg);

        assert_true(len > 0);
        /* Every size short of the whole fails cleanly, none writes past it
         * (the sanitizer build checks that with a heap copy). */
        for (int size = 0; size < len; size++) {
                uint8_t *small = malloc(size ? size : 1);

                assert_int_equal(rtnl_build_configure(small, size, 1, &cfg), -ENOBUFS);
                free(small);
        }
        assert_int_equal(rtnl_build_configure(buf, len, 1, &cfg), len);
}

static void test_configure_invalid(void **state)
{
        char long_alias[300];
        struct rtnl_link_config ok = {.ifindex = 3, .mtu = 1500, .prefix4 = 30, .ipv6 = true, .prefix6 = 64};
        struct rtnl_link_config c;

        c = ok, c.ifindex = 0;
        assert_int_equal(rtnl_build_configure(buf, sizeof(buf), 1, &c), -EINVAL);
        c = ok, c.ifindex = -1;
        assert_int_equal(rtnl_build_configure(buf, sizeof(buf), 1, &c), -EINVAL);
        c = ok, c.prefix4 = 33;
        assert_int_equal(rtnl_build_configure(buf, sizeof(buf), 1, &c), -EINVAL);
        c = ok, c.prefix6 = 129;
        assert_int_equal(rtnl_build_configure(buf, sizeof(buf), 1, &c), -EINVAL);
        /* Without IPv6 its prefix does not matter. */
        c = ok, c.ipv6 = false, c.prefix6 = 129;
        assert_true(rtnl_build_configure(buf, sizeof(buf), 1, &c) > 0);
        memset(long_alias, 'a', sizeof(long_alias));
        long_alias[256] = '\0';
        c = ok, c.alias = long_alias;
        assert_int_equal(rtnl_build_configure(buf, sizeof(buf), 1, &c), -EINVAL);
        long_alias[255] = '\0';
        assert_true(rtnl_build_configure(buf, sizeof(buf), 1, &c) > 0);
        assert_int_equal(rtnl_build_configure(buf, sizeof(buf), 1, NULL), -EINVAL);
}

/* ---- the link builders ---- */

static void test_dellink(void **state)
{
        const struct nlmsghdr *nlh = (const void *)buf;
        const struct ifinfomsg *ifi;
        struct attrs a;
        int len;

        len = rtnl_build_dellink(buf, sizeof(buf), 42, 17);
        assert_int_equal(len, mnl_nlmsg_size(sizeof(struct ifinfomsg)));
        assert_int_equal(nlh->nlmsg_len, len);
        assert_int_equal(nlh->nlmsg_type, RTM_DELLINK);
        assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_int_equal(nlh->nlmsg_seq, 42);
        ifi = mnl_nlmsg_get_payload(nlh);
        assert_int_equal(ifi->ifi_index, 17);
        assert_int_equal(ifi->ifi_flags, 0);
        assert_int_equal(ifi->ifi_change, 0);
        collect(nlh, sizeof(*ifi), &a);
        assert_int_equal(a.count, 0);

        assert_int_equal(rtnl_build_dellink(buf, sizeof(buf), 42, 0), -EINVAL);
        assert_int_equal(rtnl_build_dellink(buf, len - 1, 42, 17), -ENOBUFS);
}

static void test_group(void **state)
{
        const struct nlmsghdr *msgs[RTNL_BATCH_MAX + 2];
        const struct ifinfomsg *ifi;
        struct attrs a;
        size_t len = 0;
        int k;

        /* What rtnl_delete_links() sends for a full batch. */
        for (int i = 0; i < RTNL_BATCH_MAX; i++) {
                k = rtnl_build_set_group(buf + len, sizeof(buf) - len, 100 + i, 1000 + i, 0x7a91);
                assert_true(k > 0);
                len += k;
        }
        k = rtnl_build_dellink_group(buf + len, sizeof(buf) - len, 100 + RTNL_BATCH_MAX, 0x7a91);
        assert_true(k > 0);
        len += k;

        assert_int_equal(split(buf, len, msgs, ELEMENTSOF(msgs)), RTNL_BATCH_MAX + 1);
        for (int i = 0; i <= RTNL_BATCH_MAX; i++) {
                bool del = i == RTNL_BATCH_MAX;

                assert_int_equal(msgs[i]->nlmsg_seq, 100 + i);
                assert_int_equal(msgs[i]->nlmsg_type, del ? RTM_DELLINK : RTM_NEWLINK);
                assert_int_equal(msgs[i]->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
                ifi = mnl_nlmsg_get_payload(msgs[i]);
                assert_int_equal(ifi->ifi_index, del ? 0 : 1000 + i);
                assert_int_equal(ifi->ifi_change, 0);
                collect(msgs[i], sizeof(*ifi), &a);
                assert_int_equal(a.count, 1);
                assert_u32_attr(a.tb[IFLA_GROUP], 0x7a91);
        }

        assert_int_equal(rtnl_build_set_group(buf, sizeof(buf), 1, 5, 0), -EINVAL);
        assert_int_equal(rtnl_build_set_group(buf, sizeof(buf), 1, 0, 9), -EINVAL);
        assert_int_equal(rtnl_build_dellink_group(buf, sizeof(buf), 1, 0), -EINVAL);
        assert_int_equal(rtnl_build_set_group(buf, 36, 1, 5, 9), -ENOBUFS);
        assert_int_equal(rtnl_build_dellink_group(buf, 36, 1, 9), -ENOBUFS);
}

static void test_dump_request(void **state)
{
        const struct nlmsghdr *nlh = (const void *)buf;
        const struct ifinfomsg *ifi;
        struct attrs a, info;
        int len;

        len = rtnl_build_dump_taps(buf, sizeof(buf), 9);
        assert_true(len > 0);
        assert_int_equal(nlh->nlmsg_len, len);
        assert_int_equal(nlh->nlmsg_type, RTM_GETLINK);
        /* A dump, not acked: it ends with NLMSG_DONE. */
        assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
        assert_int_equal(nlh->nlmsg_seq, 9);
        ifi = mnl_nlmsg_get_payload(nlh);
        assert_int_equal(ifi->ifi_family, AF_UNSPEC);
        assert_int_equal(ifi->ifi_index, 0);
        collect(nlh, sizeof(*ifi), &a);
        assert_int_equal(a.count, 2);
        assert_u32_attr(a.tb[IFLA_EXT_MASK], RTEXT_FILTER_SKIP_STATS);
        assert_non_null(a.tb[IFLA_LINKINFO]);
        collect_nested(a.tb[IFLA_LINKINFO], &info);
        assert_int_equal(info.count, 1);
        assert_string_equal(mnl_attr_get_str(info.tb[IFLA_INFO_KIND]), "tun");

        for (int size = 0; size < len; size++)
                assert_int_equal(rtnl_build_dump_taps(buf, size, 9), -ENOBUFS);
}

/* ---- synthetic link messages for the parsers ---- */

enum breakage {
        INTACT,
        NO_IFNAME,
        IFNAME_NOT_TERMINATED,
        IFNAME_TOO_LONG,
        MTU_WRONG_SIZE,
        MAC_WRONG_SIZE,
        TRUNCATED_LAST_ATTR, /* the last attribute claims more than is left */
        SHORT_HEADER,        /* shorter than struct ifinfomsg */
        UNALIGNED_LENGTH,
        TUN_DATA_TRUNCATED,
        TUN_TYPE_MISSING,
        OWNER_WRONG_SIZE,
        ALIAS_NOT_TERMINATED,
};

struct link_spec {
        uint16_t type;
        uint8_t family;
        unsigned change;
        unsigned flags;
        int ifindex;
        const char *ifname;
        const char *kind; /* NULL: no IFLA_LINKINFO */
        uint8_t tun_type; /* IFF_TAP / IFF_TUN */
        long owner;       /* < -1: attribute absent */
        uint8_t vnet, persist, mq;
        uint32_t queues, disabled;
        const char *alias; /* NULL: absent */
        enum breakage breakage;
};

static const uint8_t spec_mac[6] = {0x06, 0x74, 0x6c, 0x00, 0x01, 0x02};

static const struct nlmsghdr *build_link(const struct link_spec *s)
{
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifi;

        memset(buf, 0, sizeof(buf));
        nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = s->type;
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = s->family;
        ifi->ifi_index = s->ifindex;
        ifi->ifi_flags = s->flags;
        ifi->ifi_change = s->change;

        if (s->breakage == SHORT_HEADER) {
                nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 8;
                return nlh;
        }
        if (s->breakage == IFNAME_NOT_TERMINATED)
                mnl_attr_put(nlh, IFLA_IFNAME, strlen(s->ifname), s->ifname);
        else if (s->breakage == IFNAME_TOO_LONG)
                mnl_attr_put_strz(nlh, IFLA_IFNAME, "tl0123456789abcdef");
        else if (s->breakage != NO_IFNAME)
                mnl_attr_put_strz(nlh, IFLA_IFNAME, s->ifname);

        if (s->breakage == MTU_WRONG_SIZE)
                mnl_attr_put_u16(nlh, IFLA_MTU, 1500);
        else
                mnl_attr_put_u32(nlh, IFLA_MTU, 1500);
        mnl_attr_put(nlh, IFLA_ADDRESS, s->breakage == MAC_WRONG_SIZE ? 4 : 6, spec_mac);
        mnl_attr_put_u32(nlh, IFLA_TXQLEN, 1000); /* one the parser does not use */
        if (s->alias) {
                if (s->breakage == ALIAS_NOT_TERMINATED)
                        mnl_attr_put(nlh, IFLA_IFALIAS, strlen(s->alias), s->alias);
                else
                        mnl_attr_put_strz(nlh, IFLA_IFALIAS, s->alias);
        }

        if (s->kind) {
                struct nlattr *linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
                struct nlattr *data;

                mnl_attr_put_strz(nlh, IFLA_INFO_KIND, s->kind);
                data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
                if (s->owner >= -1) {
                        if (s->breakage == OWNER_WRONG_SIZE)
                                mnl_attr_put_u8(nlh, IFLA_TUN_OWNER, 1);
                        else
                                mnl_attr_put_u32(nlh, IFLA_TUN_OWNER, (uint32_t)s->owner);
                }
                if (s->breakage != TUN_TYPE_MISSING)
                        mnl_attr_put_u8(nlh, IFLA_TUN_TYPE, s->tun_type);
                mnl_attr_put_u8(nlh, IFLA_TUN_PI, 0);
                mnl_attr_put_u8(nlh, IFLA_TUN_VNET_HDR, s->vnet);
                mnl_attr_put_u8(nlh, IFLA_TUN_PERSIST, s->persist);
                mnl_attr_put_u8(nlh, IFLA_TUN_MULTI_QUEUE, s->mq);
                mnl_attr_put_u32(nlh, IFLA_TUN_NUM_QUEUES, s->queues);
                mnl_attr_put_u32(nlh, IFLA_TUN_NUM_DISABLED_QUEUES, s->disabled);
                if (s->breakage == TUN_DATA_TRUNCATED) {
                        /* The last nested attribute overruns its nest. */
                        struct nlattr *last = mnl_nlmsg_get_payload_tail(nlh);

                        mnl_attr_put_u32(nlh, IFLA_TUN_GROUP, 5);
                        last->nla_len += 8;
                }
                mnl_attr_nest_end(nlh, data);
                mnl_attr_nest_end(nlh, linkinfo);
        }

        if (s->breakage == TRUNCATED_LAST_ATTR) {
                struct nlattr *a = (struct nlattr *)mnl_nlmsg_get_payload_tail(nlh);

                mnl_attr_put_u32(nlh, IFLA_GROUP, 3);
                a->nla_len = 64;
        }
        if (s->breakage == UNALIGNED_LENGTH)
                nlh->nlmsg_len -= 2;
        return nlh;
}

/* A healthy TAP as the kernel reports it. */
#define TAP(...)                                                                                          \
        {                                                                                                 \
                .type = RTM_NEWLINK, .family = AF_UNSPEC, .flags = IFF_UP | IFF_BROADCAST, .ifindex = 12, \
                .ifname = "tl5", .kind = "tun", .tun_type = IFF_TAP, .owner = 1000, .vnet = 1, .mq = 1,   \
                .queues = 3, .disabled = 1, .alias = "vm-5", __VA_ARGS__                                  \
        }

struct parse_case {
        const char *name;
        struct link_spec spec;
        const char *prefix;
        int expect;
};

static const struct parse_case parse_cases[] = {
    {"tap of ours", TAP(), "tl", 1},
    {"tap, no prefix given", TAP(), NULL, 1},
    {"tap, empty prefix", TAP(), "", 1},
    {"tap in a deletion message", TAP(.type = RTM_DELLINK, .change = ~0U), "tl", 1},
    {"tap without owner", TAP(.owner = -2), "tl", 1},
    {"tap with owner -1", TAP(.owner = -1), "tl", 1},
    {"tap without alias", TAP(.alias = NULL), "tl", 1},
    {"persistent single-queue tap", TAP(.mq = 0, .persist = 1, .queues = 0, .disabled = 0), "tl", 1},
    {"persistent multi-queue tap, no fd", TAP(.persist = 1, .queues = 0, .disabled = 0), "tl", 1},
    {"tun, not tap", TAP(.tun_type = IFF_TUN), "tl", 0},
    {"veth", TAP(.kind = "veth"), "tl", 0},
    {"no linkinfo", TAP(.kind = NULL), "tl", 0},
    {"other prefix", TAP(.ifname = "eth0"), "tl", 0},
    {"prefix longer than name", TAP(.ifname = "t"), "tl", 0},
    {"not ours, broken further on", TAP(.ifname = "eth0", .breakage = TUN_DATA_TRUNCATED), "tl", 0},
    {"no ifname", TAP(.breakage = NO_IFNAME), "tl", -EBADMSG},
    {"ifname not terminated", TAP(.breakage = IFNAME_NOT_TERMINATED), "tl", -EBADMSG},
    {"ifname too long", TAP(.breakage = IFNAME_TOO_LONG), "tl", -EBADMSG},
    {"mtu of 2 bytes", TAP(.breakage = MTU_WRONG_SIZE), "tl", -EBADMSG},
    {"mac of 4 bytes", TAP(.breakage = MAC_WRONG_SIZE), "tl", -EBADMSG},
    {"truncated attribute", TAP(.breakage = TRUNCATED_LAST_ATTR), "tl", -EBADMSG},
    {"truncated attribute, not a tap", TAP(.kind = "veth", .breakage = TRUNCATED_LAST_ATTR), "tl", -EBADMSG},
    {"short header", TAP(.breakage = SHORT_HEADER), "tl", -EBADMSG},
    {"unaligned length", TAP(.breakage = UNALIGNED_LENGTH), "tl", -EBADMSG},
    {"tun data truncated", TAP(.breakage = TUN_DATA_TRUNCATED), "tl", -EBADMSG},
    {"tun type missing", TAP(.breakage = TUN_TYPE_MISSING), "tl", -EBADMSG},
    {"owner of 1 byte", TAP(.breakage = OWNER_WRONG_SIZE), "tl", -EBADMSG},
    {"alias not terminated", TAP(.breakage = ALIAS_NOT_TERMINATED), "tl", -EBADMSG},
    {"not a link message", TAP(.type = RTM_NEWADDR), "tl", -EBADMSG},
};

static void test_parse_link(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(parse_cases); i++) {
                const struct parse_case *c = &parse_cases[i];
                const struct link_spec *s = &c->spec;
                struct rtnl_tap_info info, untouched;
                int r;

                print_message("parse_link: %s\n", c->name);
                memset(&info, 0x5a, sizeof(info));
                untouched = info;
                r = rtnl_parse_link(build_link(s), c->prefix, &info);
                assert_int_equal(r, c->expect);
                if (r != 1) {
                        assert_memory_equal(&info, &untouched, sizeof(info));
                        continue;
                }

                assert_string_equal(info.ifname, s->ifname);
                assert_int_equal(info.ifindex, s->ifindex);
                assert_int_equal(info.mtu, 1500);
                assert_memory_equal(info.mac, spec_mac, 6);
                assert_string_equal(info.alias, s->alias ? s->alias : "");
                assert_int_equal(info.has_owner, s->owner >= 0);
                if (s->owner >= 0)
                        assert_int_equal(info.owner, s->owner);
                assert_int_equal(info.vnet_header, s->vnet);
                assert_int_equal(info.persist, s->persist);
                assert_int_equal(info.multi_queue, s->mq);
                assert_int_equal(info.queues, s->mq ? s->queues + s->disabled : 1);
                assert_int_equal(info.up, !!(s->flags & IFF_UP));
        }
}

/* ---- the monitor's filter ---- */

#define GONE(...)                                                                                        \
        {                                                                                                \
                .type = RTM_DELLINK, .family = AF_UNSPEC, .change = ~0U, .ifindex = 33, .ifname = "tl9", \
                .kind = "tun", .tun_type = IFF_TAP, .owner = -2, __VA_ARGS__                             \
        }

static const struct parse_case dellink_cases[] = {
    {"unregistered", GONE(), "tl", 1},
    {"unregistered, no linkinfo", GONE(.kind = NULL), "tl", 1},
    {"unregistered, no prefix given", GONE(.ifname = "eth3"), NULL, 1},
    {"new link", GONE(.type = RTM_NEWLINK), "tl", 0},
    {"address message", GONE(.type = RTM_NEWADDR), "tl", 0},
    {"bridge port left (AF_BRIDGE)", GONE(.family = AF_BRIDGE), "tl", 0},
    {"bridge port state, change 0", GONE(.change = 0), "tl", 0},
    {"master change only", GONE(.change = IFF_UP), "tl", 0},
    {"other prefix", GONE(.ifname = "eth3"), "tl", 0},
    {"no ifname", GONE(.breakage = NO_IFNAME), "tl", -EBADMSG},
    {"ifname not terminated", GONE(.breakage = IFNAME_NOT_TERMINATED), "tl", -EBADMSG},
    {"truncated attribute", GONE(.breakage = TRUNCATED_LAST_ATTR), "tl", -EBADMSG},
    {"short header", GONE(.breakage = SHORT_HEADER), "tl", -EBADMSG},
    {"unaligned length", GONE(.breakage = UNALIGNED_LENGTH), "tl", -EBADMSG},
};

static void test_parse_dellink(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(dellink_cases); i++) {
                const struct parse_case *c = &dellink_cases[i];
                struct rtnl_link_event ev = {.ifindex = -7};
                int r;

                print_message("parse_dellink: %s\n", c->name);
                r = rtnl_parse_dellink(build_link(&c->spec), c->prefix, &ev);
                assert_int_equal(r, c->expect);
                if (r == 1) {
                        assert_int_equal(ev.ifindex, c->spec.ifindex);
                        assert_string_equal(ev.ifname, c->spec.ifname);
                } else {
                        assert_int_equal(ev.ifindex, -7);
                }
        }
}

/* The parsers read nothing past nlmsg_len: a message cut at every length
 * (copied to a heap buffer of exactly that size, so that ASan sees any
 * overrun) is refused or parsed, never read beyond. */
static void test_parse_every_cut(void **state)
{
        const struct link_spec spec = TAP();
        const struct nlmsghdr *full = build_link(&spec);
        uint32_t len = full->nlmsg_len;

        for (uint32_t cut = MNL_NLMSG_HDRLEN; cut <= len; cut += 4) {
                struct nlmsghdr *nlh = malloc(cut);
                struct rtnl_tap_info info;
                struct rtnl_link_event ev;
                int r;

                memcpy(nlh, full, cut);
                nlh->nlmsg_len = cut;
                /* Cut between attributes, the message is whole but has no
                 * link info yet: not a TAP. */
                r = rtnl_parse_link(nlh, "tl", &info);
                assert_true(r == -EBADMSG || r == 0 || (cut == len && r == 1));
                nlh->nlmsg_type = RTM_DELLINK;
                if (cut >= MNL_NLMSG_HDRLEN + sizeof(struct ifinfomsg))
                        ((struct ifinfomsg *)mnl_nlmsg_get_payload(nlh))->ifi_change = ~0U;
                r = rtnl_parse_dellink(nlh, "tl", &ev);
                assert_true(r == -EBADMSG || r == 0 || r == 1);
                free(nlh);
        }
}

/* ---- the statistics dump ---- */

static void test_dump_stats_request(void **state)
{
        const struct nlmsghdr *nlh = (const void *)buf;
        struct attrs a, info;
        int len = rtnl_build_dump_stats(buf, sizeof(buf), 11, "tun");

        assert_true(len > 0);
        assert_int_equal(nlh->nlmsg_type, RTM_GETLINK);
        assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
        assert_int_equal(nlh->nlmsg_seq, 11);
        collect(nlh, sizeof(struct ifinfomsg), &a);
        assert_int_equal(a.count, 2);
        /* Statistics wanted this time; still only the tun devices. */
        assert_u32_attr(a.tb[IFLA_EXT_MASK], 0);
        collect_nested(a.tb[IFLA_LINKINFO], &info);
        assert_string_equal(mnl_attr_get_str(info.tb[IFLA_INFO_KIND]), "tun");
        for (int size = 0; size < len; size++)
                assert_int_equal(rtnl_build_dump_stats(buf, size, 11, "tun"), -ENOBUFS);
        /* A clone slot's host end: the same dump of the veths. */
        len = rtnl_build_dump_stats(buf, sizeof(buf), 12, "veth");
        assert_true(len > 0);
        collect(nlh, sizeof(struct ifinfomsg), &a);
        assert_u32_attr(a.tb[IFLA_EXT_MASK], 0);
        collect_nested(a.tb[IFLA_LINKINFO], &info);
        assert_string_equal(mnl_attr_get_str(info.tb[IFLA_INFO_KIND]), "veth");
        assert_int_equal(rtnl_build_dump_stats(buf, sizeof(buf), 12, NULL), -EINVAL);
}

/* RTM_NEWLINK for ifname with IFLA_STATS64 of stats_len bytes (0: none). */
static struct nlmsghdr *build_stats_link(uint16_t type, const char *ifname, size_t stats_len)
{
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifi;
        uint8_t stats[sizeof(struct rtnl_link_stats64) + 16] = {0};
        struct rtnl_link_stats64 k = {
            .rx_packets = 7, .tx_packets = 5, .rx_bytes = 1ull << 33, .tx_bytes = 300, .rx_errors = 9};

        memset(buf, 0, sizeof(buf));
        nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = type;
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_index = 42;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
        memcpy(stats, &k, sizeof(k));
        if (stats_len > 0)
                mnl_attr_put(nlh, IFLA_STATS64, stats_len, stats);
        return nlh;
}

static void test_parse_stats(void **state)
{
        struct rtnl_traffic t, untouched;

        memset(&t, 0xa5, sizeof(t));
        untouched = t;
        assert_int_equal(
            rtnl_parse_link_stats(build_stats_link(RTM_NEWLINK, "tl3", sizeof(struct rtnl_link_stats64)),
                                  "tl", &t),
            1);
        assert_string_equal(t.ifname, "tl3");
        assert_int_equal(t.ifindex, 42);
        /* The host's view: rx is what the guest sent. */
        assert_int_equal(t.rx_packets, 7);
        assert_int_equal(t.rx_bytes, 1ull << 33);
        assert_int_equal(t.tx_packets, 5);
        assert_int_equal(t.tx_bytes, 300);

        /* A newer kernel's longer struct, or an older one's shorter one
         * that still holds the four counters. */
        assert_int_equal(
            rtnl_parse_link_stats(
                build_stats_link(RTM_NEWLINK, "tl3", sizeof(struct rtnl_link_stats64) + 16), "tl", &t),
            1);
        assert_int_equal(t.tx_bytes, 300);
        assert_int_equal(rtnl_parse_link_stats(build_stats_link(RTM_NEWLINK, "tl3", 32), "tl", &t), 1);
        assert_int_equal(t.rx_bytes, 1ull << 33);

        /* Not ours, or no statistics: 0 and *ret untouched. */
        memset(&t, 0xa5, sizeof(t));
        assert_int_equal(rtnl_parse_link_stats(build_stats_link(RTM_NEWLINK, "eth0", 32), "tl", &t), 0);
        assert_int_equal(rtnl_parse_link_stats(build_stats_link(RTM_NEWLINK, "tl3", 0), "tl", &t), 0);
        assert_memory_equal(&t, &untouched, sizeof(t));

        /* Too short to hold the counters, or another message type. */
        assert_int_equal(rtnl_parse_link_stats(build_stats_link(RTM_NEWLINK, "tl3", 24), "tl", &t),
                         -EBADMSG);
        assert_int_equal(rtnl_parse_link_stats(build_stats_link(RTM_DELLINK, "tl3", 32), "tl", &t),
                         -EBADMSG);
        assert_int_equal(rtnl_parse_link_stats(NULL, "tl", &t), -EBADMSG);
        assert_memory_equal(&t, &untouched, sizeof(t));

        /* Every cut: a clean answer. */
        const struct nlmsghdr *full = build_stats_link(RTM_NEWLINK, "tl3", sizeof(struct rtnl_link_stats64));
        for (uint32_t cut = MNL_NLMSG_HDRLEN; cut <= full->nlmsg_len; cut += 4) {
                struct nlmsghdr *nlh = malloc(cut);
                memcpy(nlh, full, cut);
                nlh->nlmsg_len = cut;
                int r = rtnl_parse_link_stats(nlh, "tl", &t);
                assert_true(r == -EBADMSG || r == 0 || (cut == full->nlmsg_len && r == 1));
                free(nlh);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_configure),
            cmocka_unit_test(test_configure_short_buffer),
            cmocka_unit_test(test_configure_invalid),
            cmocka_unit_test(test_dellink),
            cmocka_unit_test(test_group),
            cmocka_unit_test(test_dump_request),
            cmocka_unit_test(test_parse_link),
            cmocka_unit_test(test_parse_dellink),
            cmocka_unit_test(test_parse_every_cut),
            cmocka_unit_test(test_dump_stats_request),
            cmocka_unit_test(test_parse_stats),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

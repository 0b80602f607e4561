/* SPDX-License-Identifier: MIT */
// MODULES: clone-build rtnl-parse nft-clone nft-build nft-expr nft-elems nft-egress nft-publish publish egress config config-values slot
/* A clone slot's messages, without privilege (docs/DESIGN.md, "Clone
 * slots"): each rtnetlink request built and parsed back with libmnl, the
 * veth parser on synthetic links, and the NAT batch parsed back with
 * libnftnl. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libnftnl/batch.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "clone-build.h"
#include "nft-internal.h"
#include "rtnl.h"
#include "slot.h"

static _Alignas(struct nlmsghdr) uint8_t buf[1024];

/* tb[type] of each attribute of a message or a nest. */
static int attr_cb(const struct nlattr *attr, void *data)
{
        const struct nlattr **tb = data;
        uint16_t type = mnl_attr_get_type(attr);

        assert_true(type < 64);
        assert_null(tb[type]); /* each once */
        tb[type] = attr;
        return MNL_CB_OK;
}

static void header_ok(const struct nlmsghdr *nlh, int len, uint16_t type, uint32_t seq)
{
        assert_true(len > 0);
        assert_int_equal(nlh->nlmsg_len, len);
        assert_int_equal(nlh->nlmsg_type, type);
        assert_int_equal(nlh->nlmsg_seq, seq);
        assert_true(nlh->nlmsg_flags & NLM_F_REQUEST);
        assert_true(nlh->nlmsg_flags & NLM_F_ACK);
}

static void test_veth(void **state)
{
        const struct nlattr *tb[64] = {0}, *info[64] = {0}, *data[64] = {0}, *peer[64] = {0};
        const struct nlmsghdr *nlh = (const void *)buf;
        int len = clone_build_veth(buf, sizeof(buf), 7, "veth0", "tl12", 5);

        header_ok(nlh, len, RTM_NEWLINK, 7);
        assert_true(nlh->nlmsg_flags & NLM_F_CREATE);
        assert_true(nlh->nlmsg_flags & NLM_F_EXCL);
        assert_int_equal(mnl_attr_parse(nlh, sizeof(struct ifinfomsg), attr_cb, tb), MNL_CB_OK);
        assert_string_equal(mnl_attr_get_str(tb[IFLA_IFNAME]), "veth0");
        assert_null(tb[IFLA_NET_NS_FD]); /* this end stays where it is made */
        assert_int_equal(mnl_attr_parse_nested(tb[IFLA_LINKINFO], attr_cb, info), MNL_CB_OK);
        assert_string_equal(mnl_attr_get_str(info[IFLA_INFO_KIND]), "veth");
        assert_int_equal(mnl_attr_parse_nested(info[IFLA_INFO_DATA], attr_cb, data), MNL_CB_OK);
        /* The peer: its own ifinfomsg, then its name and namespace. */
        const struct nlattr *p = data[VETH_INFO_PEER];
        assert_non_null(p);
        const uint8_t *payload = mnl_attr_get_payload(p);
        size_t plen = mnl_attr_get_payload_len(p);
        assert_true(plen > sizeof(struct ifinfomsg));
        for (const struct nlattr *a = (const void *)(payload + MNL_ALIGN(sizeof(struct ifinfomsg)));
             (const uint8_t *)a < payload + plen; a = mnl_attr_next(a))
                attr_cb(a, peer);
        assert_string_equal(mnl_attr_get_str(peer[IFLA_IFNAME]), "tl12");
        assert_int_equal(mnl_attr_get_u32(peer[IFLA_NET_NS_FD]), 5);

        assert_int_equal(clone_build_veth(buf, sizeof(buf), 1, "", "tl1", 5), -EINVAL);
        assert_int_equal(clone_build_veth(buf, sizeof(buf), 1, "veth0", "a-name-too-long-x", 5), -EINVAL);
        assert_int_equal(clone_build_veth(buf, sizeof(buf), 1, "veth0", "tl1", -1), -EINVAL);
        for (size_t size = 0; size < (size_t)len; size += 4)
                assert_int_equal(clone_build_veth(buf, size, 1, "veth0", "tl12", 5), -ENOBUFS);
}

static void test_default_route(void **state)
{
        const struct nlattr *tb[64] = {0};
        const struct nlmsghdr *nlh = (const void *)buf;
        struct in_addr gw;
        inet_pton(AF_INET, "10.213.0.49", &gw);
        int len = clone_build_default_route(buf, sizeof(buf), 3, 4, gw);

        header_ok(nlh, len, RTM_NEWROUTE, 3);
        const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
        assert_int_equal(rtm->rtm_family, AF_INET);
        assert_int_equal(rtm->rtm_dst_len, 0);
        assert_int_equal(rtm->rtm_table, RT_TABLE_MAIN);
        assert_true(rtm->rtm_flags & RTNH_F_ONLINK);
        assert_int_equal(mnl_attr_parse(nlh, sizeof(*rtm), attr_cb, tb), MNL_CB_OK);
        assert_memory_equal(mnl_attr_get_payload(tb[RTA_GATEWAY]), &gw, 4);
        assert_int_equal(mnl_attr_get_u32(tb[RTA_OIF]), 4);
        assert_int_equal(clone_build_default_route(buf, sizeof(buf), 3, 0, gw), -EINVAL);
}

static void test_forwarding(void **state)
{
        const struct nlattr *tb[64] = {0}, *spec[64] = {0}, *inet[64] = {0}, *conf[64] = {0};
        const struct nlmsghdr *nlh = (const void *)buf;
        int len = clone_build_forwarding(buf, sizeof(buf), 9, 2);

        header_ok(nlh, len, RTM_NEWLINK, 9);
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        assert_int_equal(ifi->ifi_index, 2);
        assert_int_equal(mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, tb), MNL_CB_OK);
        assert_int_equal(mnl_attr_parse_nested(tb[IFLA_AF_SPEC], attr_cb, spec), MNL_CB_OK);
        assert_int_equal(mnl_attr_parse_nested(spec[AF_INET], attr_cb, inet), MNL_CB_OK);
        assert_int_equal(mnl_attr_parse_nested(inet[IFLA_INET_CONF], attr_cb, conf), MNL_CB_OK);
        assert_int_equal(mnl_attr_get_u32(conf[IPV4_DEVCONF_FORWARDING]), 1);
        assert_int_equal(clone_build_forwarding(buf, sizeof(buf), 9, 0), -EINVAL);
}

static void test_nsid_and_dellink(void **state)
{
        const struct nlattr *tb[64] = {0};
        const struct nlmsghdr *nlh = (const void *)buf;
        unsigned slot = 99;
        int len = clone_build_newnsid(buf, sizeof(buf), 4, 6, clone_nsid(12));

        header_ok(nlh, len, RTM_NEWNSID, 4);
        assert_int_equal(mnl_attr_parse(nlh, sizeof(struct rtgenmsg), attr_cb, tb), MNL_CB_OK);
        assert_int_equal(mnl_attr_get_u32(tb[NETNSA_FD]), 6);
        assert_int_equal((int32_t)mnl_attr_get_u32(tb[NETNSA_NSID]), 0x746c0000 + 12);
        /* -1: the kernel picks. */
        assert_true(clone_build_newnsid(buf, sizeof(buf), 4, 6, -1) > 0);
        assert_int_equal(clone_build_newnsid(buf, sizeof(buf), 4, 6, -2), -EINVAL);
        assert_int_equal(clone_build_newnsid(buf, sizeof(buf), 4, -1, 5), -EINVAL);

        memset(tb, 0, sizeof(tb));
        len = clone_build_dellink_in(buf, sizeof(buf), 5, 17, "tap0");
        header_ok(nlh, len, RTM_DELLINK, 5);
        assert_int_equal(((const struct ifinfomsg *)mnl_nlmsg_get_payload(nlh))->ifi_index, 0);
        assert_int_equal(mnl_attr_parse(nlh, sizeof(struct ifinfomsg), attr_cb, tb), MNL_CB_OK);
        assert_string_equal(mnl_attr_get_str(tb[IFLA_IFNAME]), "tap0");
        assert_int_equal(mnl_attr_get_u32(tb[IFLA_TARGET_NETNSID]), 17);
        assert_int_equal(clone_build_dellink_in(buf, sizeof(buf), 5, -1, "tap0"), -EINVAL);

        assert_int_equal(clone_slot_of_nsid(clone_nsid(0), &slot), 0);
        assert_int_equal(slot, 0);
        assert_int_equal(clone_slot_of_nsid(clone_nsid((1 << 20) - 1), &slot), 0);
        assert_int_equal(slot, (1 << 20) - 1);
        assert_int_equal(clone_slot_of_nsid(clone_nsid(1 << 20), &slot), -ENOENT);
        assert_int_equal(clone_slot_of_nsid(3, &slot), -ENOENT);
        assert_int_equal(clone_slot_of_nsid(-1, &slot), -ENOENT);
}

static void test_rename_and_mtu(void **state)
{
        const struct nlattr *tb[64] = {0};
        const struct nlmsghdr *nlh = (const void *)buf;
        int len = clone_build_setlink(buf, sizeof(buf), 3, 41, "tl7", 0);

        header_ok(nlh, len, RTM_NEWLINK, 3);
        /* Not a create: the link exists. */
        assert_false(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL));
        assert_int_equal(((const struct ifinfomsg *)mnl_nlmsg_get_payload(nlh))->ifi_index, 41);
        assert_int_equal(mnl_attr_parse(nlh, sizeof(struct ifinfomsg), attr_cb, tb), MNL_CB_OK);
        assert_string_equal(mnl_attr_get_str(tb[IFLA_IFNAME]), "tl7");
        assert_null(tb[IFLA_MTU]);
        assert_int_equal(clone_build_setlink(buf, sizeof(buf), 3, 0, "tl7", 0), -EINVAL);
        assert_int_equal(clone_build_setlink(buf, sizeof(buf), 3, 41, "", 0), -EINVAL);
        assert_int_equal(clone_build_setlink(buf, sizeof(buf), 3, 41, "0123456789abcdef", 0), -EINVAL);
        assert_int_equal(clone_build_setlink(buf, 16, 3, 41, "tl7", 0), -ENOBUFS);

        memset(tb, 0, sizeof(tb));
        len = clone_build_setlink(buf, sizeof(buf), 4, 5, NULL, 1400);
        header_ok(nlh, len, RTM_NEWLINK, 4);
        assert_int_equal(((const struct ifinfomsg *)mnl_nlmsg_get_payload(nlh))->ifi_index, 5);
        assert_int_equal(mnl_attr_parse(nlh, sizeof(struct ifinfomsg), attr_cb, tb), MNL_CB_OK);
        assert_int_equal(mnl_attr_get_u32(tb[IFLA_MTU]), 1400);
        assert_null(tb[IFLA_IFNAME]);
        assert_int_equal(clone_build_setlink(buf, sizeof(buf), 4, 0, NULL, 1400), -EINVAL);
        assert_int_equal(clone_build_setlink(buf, sizeof(buf), 4, 5, NULL, 0), -EINVAL);
}

static void test_pool_ifname(void **state)
{
        char name[IFNAMSIZ], *warning = NULL;
        unsigned slot;
        struct config c;

        assert_int_equal(clone_pool_ifname("tl", 0, name), 0);
        assert_string_equal(name, "tlp0");
        assert_int_equal(clone_pool_ifname("tl", 1023, name), 0);
        assert_string_equal(name, "tlp1023");
        /* 15 bytes fit, 16 do not. */
        assert_int_equal(clone_pool_ifname("abcdefghijklm", 9, name), 0);
        assert_string_equal(name, "abcdefghijklmp9");
        assert_int_equal(clone_pool_ifname("abcdefghijklm", 10, name), -ENAMETOOLONG);
        /* Never a slot's name. */
        assert_int_equal(config_init(&c, &warning), 0);
        free(warning);
        assert_int_equal(clone_pool_ifname(c.ifname_prefix, 3, name), 0);
        assert_int_equal(slot_from_ifname(&c, name, &slot), -EINVAL);
        config_done(&c);
}

/* A link message of kind `kind` named name. */
static const struct nlmsghdr *link_msg(const char *name, const char *kind)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(buf, 0, sizeof(buf)));
        static const uint8_t mac[6] = {6, 0x74, 0x6c, 0, 0, 12};
        struct ifinfomsg *ifi;
        struct nlattr *li;

        nlh->nlmsg_type = RTM_NEWLINK;
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_index = 42;
        ifi->ifi_flags = IFF_UP;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        mnl_attr_put_u32(nlh, IFLA_MTU, 1400);
        mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(mac), mac);
        mnl_attr_put_strz(nlh, IFLA_IFALIAS, "snap-1");
        li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
        mnl_attr_nest_end(nlh, li);
        return nlh;
}

static void test_parse_veth(void **state)
{
        struct rtnl_tap_info info = {.ifindex = -7};

        assert_int_equal(rtnl_parse_veth(link_msg("tl12", "veth"), "tl", &info), 1);
        assert_string_equal(info.ifname, "tl12");
        assert_int_equal(info.ifindex, 42);
        assert_int_equal(info.mtu, 1400);
        assert_string_equal(info.alias, "snap-1");
        assert_true(info.up);
        assert_int_equal(info.mac[5], 12);
        assert_false(info.clone); /* the adopter's to set */

        info.ifindex = -7;
        assert_int_equal(rtnl_parse_veth(link_msg("tl12", "bridge"), "tl", &info), 0);
        assert_int_equal(rtnl_parse_veth(link_msg("eth0", "veth"), "tl", &info), 0);
        assert_int_equal(info.ifindex, -7); /* untouched unless 1 */
        /* A veth is no TAP. */
        assert_int_equal(rtnl_parse_link(link_msg("tl12", "veth"), "tl", &info), 0);
        assert_int_equal(info.ifindex, -7);
}

/* The NAT batch, flattened; its messages in m[]. */
static size_t nat_batch(struct nft_batch *b, uint8_t **ret_flat, const struct nlmsghdr **m, size_t max)
{
        int iovlen = nftnl_batch_iovec_len(b->pages);
        struct iovec iov[iovlen];
        size_t len = 0, n = 0;

        nftnl_batch_iovec(b->pages, iov, iovlen);
        for (int i = 0; i < iovlen; i++)
                len += iov[i].iov_len;
        uint8_t *flat = malloc(len);
        assert_non_null(flat);
        len = 0;
        for (int i = 0; i < iovlen; i++) {
                memcpy(flat + len, iov[i].iov_base, iov[i].iov_len);
                len += iov[i].iov_len;
        }
        int rest = (int)len;
        for (const struct nlmsghdr *nlh = (const void *)flat; mnl_nlmsg_ok(nlh, rest);
             nlh = mnl_nlmsg_next(nlh, &rest)) {
                assert_true(n < max);
                m[n++] = nlh;
        }
        assert_int_equal(rest, 0);
        *ret_flat = flat;
        return n;
}

#define NFT_TYPE(t) ((NFNL_SUBSYS_NFTABLES << 8) | (t))

/* One expression a rule should hold: its name and, for a cmp or an
 * immediate, the data; for a meta, the key; for a payload, the offset; for
 * a nat, the type. */
struct want_expr {
        const char *name;
        uint32_t value; /* meta key, payload offset, nat type */
        const void *data;
        uint32_t len;
};

static void check_rule(const struct nlmsghdr *nlh, const char *chain, const struct want_expr *want,
                       size_t n_want)
{
        struct nftnl_rule *r = nftnl_rule_alloc();
        size_t n = 0;
        uint32_t len;

        assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
        assert_string_equal(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), chain);
        struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
        for (struct nftnl_expr *e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it), n++) {
                const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
                const struct want_expr *w = &want[n];

                assert_true(n < n_want);
                assert_string_equal(name, w->name);
                if (strcmp(name, "meta") == 0)
                        assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY), w->value);
                else if (strcmp(name, "payload") == 0)
                        assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET), w->value);
                else if (strcmp(name, "cmp") == 0) {
                        assert_memory_equal(nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len), w->data, w->len);
                        assert_int_equal(len, w->len);
                } else if (strcmp(name, "immediate") == 0)
                        assert_memory_equal(nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &len), w->data, w->len);
                else if (strcmp(name, "nat") == 0) {
                        assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_TYPE), w->value);
                        assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_FAMILY), NFPROTO_IPV4);
                }
        }
        nftnl_expr_iter_destroy(it);
        assert_int_equal(n, n_want);
        nftnl_rule_free(r);
}

static void test_nat_batch(void **state)
{
        const struct nlmsghdr *m[16];
        static const uint8_t ipv4 = NFPROTO_IPV4;
        static const uint32_t uplink = 7;
        struct in_addr clone_guest;
        struct nft_batch b;
        uint8_t *flat;

        inet_pton(AF_INET, "169.254.0.21", &clone_guest);
        assert_int_equal(nft_batch_start(&b, 100), 0);
        assert_int_equal(nft_build_clone_nat(&b, "taplinkd", clone_guest, (int)uplink), 0);
        assert_int_equal(nft_batch_finish(&b), 0);
        size_t n = nat_batch(&b, &flat, m, ELEMENTSOF(m));

        /* begin, table, two chains, two rules, end */
        assert_int_equal(n, 7);
        assert_int_equal(m[1]->nlmsg_type, NFT_TYPE(NFT_MSG_NEWTABLE));
        static const struct {
                const char *name;
                uint32_t hook;
                int32_t prio;
        } chains[] = {{"prerouting", NF_INET_PRE_ROUTING, -100}, {"postrouting", NF_INET_POST_ROUTING, 100}};
        for (size_t i = 0; i < 2; i++) {
                struct nftnl_chain *c = nftnl_chain_alloc();
                assert_int_equal(m[2 + i]->nlmsg_type, NFT_TYPE(NFT_MSG_NEWCHAIN));
                assert_int_equal(nftnl_chain_nlmsg_parse(m[2 + i], c), 0);
                assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), "taplinkd");
                assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), chains[i].name);
                assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE), "nat");
                assert_int_equal(nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM), chains[i].hook);
                assert_int_equal(nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO), chains[i].prio);
                nftnl_chain_free(c);
        }
        /* In: whatever comes in on the uplink is for the clone guest; out:
         * the clone guest leaving by the uplink is masqueraded. No slot. */
        const struct want_expr dnat[] = {
            {"meta", NFT_META_NFPROTO, NULL, 0}, {"cmp", 0, &ipv4, 1},
            {"meta", NFT_META_IIF, NULL, 0},     {"cmp", 0, &uplink, 4},
            {"immediate", 0, &clone_guest, 4},   {"nat", NFT_NAT_DNAT, NULL, 0},
        };
        const struct want_expr masq[] = {
            {"meta", NFT_META_NFPROTO, NULL, 0},
            {"cmp", 0, &ipv4, 1},
            {"payload", offsetof(struct iphdr, saddr), NULL, 0},
            {"cmp", 0, &clone_guest, 4},
            {"meta", NFT_META_OIF, NULL, 0},
            {"cmp", 0, &uplink, 4},
            {"masq", 0, NULL, 0},
        };
        check_rule(m[4], "prerouting", dnat, ELEMENTSOF(dnat));
        check_rule(m[5], "postrouting", masq, ELEMENTSOF(masq));
        free(flat);
        nft_batch_done(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_veth),           cmocka_unit_test(test_default_route),
            cmocka_unit_test(test_forwarding),     cmocka_unit_test(test_nsid_and_dellink),
            cmocka_unit_test(test_parse_veth),     cmocka_unit_test(test_nat_batch),
            cmocka_unit_test(test_rename_and_mtu), cmocka_unit_test(test_pool_ifname),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

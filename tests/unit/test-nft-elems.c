/* SPDX-License-Identifier: MIT */
// MODULES: nft-build nft-expr nft-elems nft-parse nft-egress nft-publish publish egress slot config config-values
/* The nftables element batches and the element-dump parser, without a
 * socket: every batch is built, then parsed back with libmnl and libnftnl.
 * The ruleset's batches: test-nft.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "config-values.h"
#include "config.h"
#include "macro.h"
#include "nft-internal.h"
#include "slot.h"
#include "nft-test.h"

/* --- helpers ----------------------------------------------------------------- */

static void set_pool4(struct config *c, const char *pool, unsigned pool_prefix, unsigned prefix)
{
        assert_int_equal(inet_pton(AF_INET, pool, &c->ipv4_pool), 1);
        c->ipv4_pool_prefix = pool_prefix;
        c->ipv4_prefix = prefix;
}

static void set_pool6(struct config *c, const char *pool, unsigned pool_prefix, unsigned prefix)
{
        assert_int_equal(inet_pton(AF_INET6, pool, &c->ipv6_pool), 1);
        c->ipv6_pool_prefix = pool_prefix;
        c->ipv6_prefix = prefix;
}

/* --- elements ------------------------------------------------------------------ */

struct parsed_elem {
        const char *set;
        uint8_t key[64];
        uint32_t len;
};

/* Every element in the messages of type `type`, in order. (libnftnl 1.2.4
 * numbers the nested elements 1, 2, 3, ... when it builds them, which the
 * kernel accepts but its own parser refuses: parse with libmnl.) */
static size_t parse_elems(const struct msgs *m, uint16_t type, struct parsed_elem *ret, size_t max)
{
        size_t n = 0;
        for (size_t i = 1; i + 1 < m->n; i++) {
                const struct nlattr *tb[17] = {0};
                const struct nlattr *elem;
                if (m->m[i]->nlmsg_type != NFT_TYPE(type))
                        continue;
                assert_int_equal(mnl_attr_parse(m->m[i], sizeof(struct nfgenmsg), attr_cb, tb), MNL_CB_OK);
                assert_non_null(tb[NFTA_SET_ELEM_LIST_TABLE]);
                assert_string_equal(mnl_attr_get_str(tb[NFTA_SET_ELEM_LIST_TABLE]), "taplinkd");
                assert_non_null(tb[NFTA_SET_ELEM_LIST_SET]);
                /* Never an empty element list: that would flush the set. */
                assert_non_null(tb[NFTA_SET_ELEM_LIST_ELEMENTS]);
                const char *set = mnl_attr_get_str(tb[NFTA_SET_ELEM_LIST_SET]);
                size_t in_msg = 0;
                mnl_attr_for_each_nested(elem, tb[NFTA_SET_ELEM_LIST_ELEMENTS])
                {
                        const struct nlattr *etb[17] = {0}, *dtb[17] = {0};
                        assert_true(n < max);
                        assert_int_equal(mnl_attr_parse_nested(elem, attr_cb, etb), MNL_CB_OK);
                        assert_non_null(etb[NFTA_SET_ELEM_KEY]);
                        assert_null(etb[NFTA_SET_ELEM_FLAGS]);
                        assert_int_equal(mnl_attr_parse_nested(etb[NFTA_SET_ELEM_KEY], attr_cb, dtb),
                                         MNL_CB_OK);
                        assert_non_null(dtb[NFTA_DATA_VALUE]);
                        ret[n].len = mnl_attr_get_payload_len(dtb[NFTA_DATA_VALUE]);
                        assert_true(ret[n].len <= sizeof(ret[n].key));
                        memcpy(ret[n].key, mnl_attr_get_payload(dtb[NFTA_DATA_VALUE]), ret[n].len);
                        ret[n].set = strcmp(set, "slots_v4") == 0          ? "slots_v4"
                                     : strcmp(set, "slots_v6") == 0        ? "slots_v6"
                                     : strcmp(set, "guests_v4") == 0       ? "guests_v4"
                                     : strcmp(set, "guests_v6") == 0       ? "guests_v6"
                                     : strcmp(set, "dropped_spoofed") == 0 ? "dropped_spoofed"
                                     : strcmp(set, "dropped_policy") == 0  ? "dropped_policy"
                                                                           : "?";
                        n++;
                        in_msg++;
                }
                assert_true(in_msg > 0);
                assert_true(in_msg <= NFT_ELEMS_PER_MSG);
        }
        return n;
}

static void check_slot_keys(struct config *c, unsigned slot, const char *ifname, const char *subnet4,
                            const char *guest4, const char *subnet6, const char *guest6)
{
        struct nft_elem e[NFT_SLOT_ELEMS_MAX];
        struct nft_layout l;
        size_t n = nft_slot_elems(c, slot, e);

        assert_int_equal(n, c->ipv6 ? 6 : 4);
        layout_of(c, &l);

        struct nft_batch b;
        assert_int_equal(nft_batch_start(&b, 1), 0);
        assert_int_equal(nft_build_elems(&b, &l, NFT_MSG_NEWSETELEM, e, n), 0);
        assert_int_equal(b.n_msgs, n); /* one message per set */
        struct msgs *m = batch_messages(&b);
        for (size_t i = 1; i + 1 < m->n; i++) {
                assert_true(m->m[i]->nlmsg_flags & NLM_F_CREATE);
                assert_false(m->m[i]->nlmsg_flags & NLM_F_EXCL); /* present elements are fine */
        }
        struct parsed_elem p[NFT_SLOT_ELEMS_MAX];
        assert_int_equal(parse_elems(m, NFT_MSG_NEWSETELEM, p, NFT_SLOT_ELEMS_MAX), n);

        uint8_t key[32];
        assert_string_equal(p[0].set, "slots_v4");
        assert_int_equal(p[0].len, 4);
        assert_int_equal(inet_pton(AF_INET, subnet4, key), 1);
        assert_memory_equal(p[0].key, key, 4);

        /* ifname NUL-padded to 16 bytes, then the address. */
        size_t i = c->ipv6 ? 2 : 1;
        assert_string_equal(p[i].set, "guests_v4");
        assert_int_equal(p[i].len, 20);
        memset(key, 0, sizeof(key));
        memcpy(key, ifname, strlen(ifname));
        assert_int_equal(inet_pton(AF_INET, guest4, key + 16), 1);
        assert_memory_equal(p[i].key, key, 20);

        if (c->ipv6) {
                assert_string_equal(p[1].set, "slots_v6");
                assert_int_equal(p[1].len, 16);
                assert_int_equal(inet_pton(AF_INET6, subnet6, key), 1);
                assert_memory_equal(p[1].key, key, 16);

                assert_string_equal(p[3].set, "guests_v6");
                assert_int_equal(p[3].len, 32);
                memset(key, 0, sizeof(key));
                memcpy(key, ifname, strlen(ifname));
                assert_int_equal(inet_pton(AF_INET6, guest6, key + 16), 1);
                assert_memory_equal(p[3].key, key, 32);
        }

        /* The drop counters: the name alone, NUL-padded. */
        assert_string_equal(p[n - 2].set, "dropped_spoofed");
        assert_string_equal(p[n - 1].set, "dropped_policy");
        memset(key, 0, sizeof(key));
        memcpy(key, ifname, strlen(ifname));
        for (size_t k = n - 2; k < n; k++) {
                assert_int_equal(p[k].len, 16);
                assert_memory_equal(p[k].key, key, 16);
        }
        msgs_free(m);
        nft_batch_done(&b);
}

static void test_elem_keys(void **state)
{
        struct config c;

        config_default(&c);
        check_slot_keys(&c, 0, "tl0", "10.213.0.0", "10.213.0.2", "fd74:6c00::", "fd74:6c00::2");
        check_slot_keys(&c, 7, "tl7", "10.213.0.28", "10.213.0.30", "fd74:6c00:0:7::", "fd74:6c00:0:7::2");
        check_slot_keys(&c, 16383, "tl16383", "10.213.255.252", "10.213.255.254",
                        "fd74:6c00:0:3fff::", "fd74:6c00:0:3fff::2");

        /* /31: gateway B4, guest B4+1 */
        set_pool4(&c, "10.99.0.0", 24, 31);
        check_slot_keys(&c, 5, "tl5", "10.99.0.10", "10.99.0.11", "fd74:6c00:0:5::", "fd74:6c00:0:5::2");

        /* Top of both address spaces. */
        set_pool4(&c, "255.255.255.0", 24, 30);
        set_pool6(&c, "ffff:ffff:ffff:ff00::", 56, 64);
        check_slot_keys(&c, 63, "tl63", "255.255.255.252", "255.255.255.254",
                        "ffff:ffff:ffff:ff3f::", "ffff:ffff:ffff:ff3f::2");
        set_pool6(&c, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00", 120, 126);
        check_slot_keys(&c, 63, "tl63", "255.255.255.252", "255.255.255.254",
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc",
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");

        /* A longer prefix fills more of the 16 bytes. */
        snprintf(c.ifname_prefix, sizeof(c.ifname_prefix), "%s", "taplinkvm");
        check_slot_keys(&c, 12, "taplinkvm12", "255.255.255.48", "255.255.255.50",
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff30",
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff32");

        c.ipv6 = false;
        check_slot_keys(&c, 1, "taplinkvm1", "255.255.255.4", "255.255.255.6", NULL, NULL);
        config_done(&c);
}

static void test_elem_key_padding(void **state)
{
        struct nft_elem e = {.set = NFT_SET_GUESTS_V6};
        uint8_t key[NFT_ELEM_KEY_MAX];

        memset(key, 0xaa, sizeof(key));
        memcpy(e.ifname, "abcdefghijklmno", 16); /* 15 characters: the longest name */
        assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &e.addr.v6), 1);
        assert_int_equal(nft_elem_key(&e, key), 32);
        assert_memory_equal(key, "abcdefghijklmno\0", 16);
        assert_memory_equal(key + 16, &e.addr.v6, 16);

        /* Garbage after the NUL must not reach the key. */
        memset(e.ifname, 'z', sizeof(e.ifname));
        memcpy(e.ifname, "tl3", 4);
        e.set = NFT_SET_GUESTS_V4;
        assert_int_equal(nft_elem_key(&e, key), 20);
        assert_memory_equal(key, "tl3\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
        assert_memory_equal(key + 16, &e.addr.v4, 4);

        /* No NUL, an empty name, no such set. */
        memset(e.ifname, 'z', sizeof(e.ifname));
        assert_int_equal(nft_elem_key(&e, key), -EINVAL);
        e.ifname[0] = '\0';
        assert_int_equal(nft_elem_key(&e, key), -EINVAL);
        e.set = _NFT_SET_MAX;
        assert_int_equal(nft_elem_key(&e, key), -EINVAL);
        e.set = NFT_SET_SLOTS_V4; /* the name does not matter here */
        assert_int_equal(nft_elem_key(&e, key), 4);

        struct config c;
        struct nft_layout l;
        struct nft_batch b;
        config_default(&c);
        layout_of(&c, &l);
        struct nft_elem bad[2] = {{.set = NFT_SET_SLOTS_V4}, {.set = NFT_SET_GUESTS_V4}};
        assert_int_equal(nft_batch_start(&b, 1), 0);
        assert_int_equal(nft_build_elems(&b, &l, NFT_MSG_NEWSETELEM, bad, 2), -EINVAL);
        assert_int_equal(b.n_msgs, 0); /* checked before anything is built */
        nft_batch_done(&b);
        config_done(&c);
}

/* Deletes in both forms, and large batches split into messages and pages. */
static void test_elem_batches(void **state)
{
        struct config c;
        struct nft_layout l;
        const size_t slots = 10000;
        struct nft_elem *e = calloc(slots * NFT_SLOT_ELEMS_MAX, sizeof(*e));
        size_t n = 0;

        config_default(&c);
        layout_of(&c, &l);
        for (unsigned s = 0; s < slots; s++)
                n += nft_slot_elems(&c, s, e + n);
        assert_int_equal(n, slots * 6);

        static const uint16_t types[] = {NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM,
                                         NFT_MSG_DESTROYSETELEM_COMPAT};
        for (size_t t = 0; t < ELEMENTSOF(types); t++) {
                struct nft_batch b;
                assert_int_equal(nft_batch_start(&b, 100), 0);
                assert_int_equal(nft_build_elems(&b, &l, types[t], e, n), 0);
                /* Per set: ceil(10000 / NFT_ELEMS_PER_MSG) messages. */
                size_t per_set = (slots + NFT_ELEMS_PER_MSG - 1) / NFT_ELEMS_PER_MSG;
                assert_int_equal(b.n_msgs, 6 * per_set);
                struct msgs *m = batch_messages(&b);
                assert_true(nftnl_batch_iovec_len(b.pages) > 1); /* several pages */
                struct parsed_elem *p = calloc(n, sizeof(*p));
                assert_int_equal(parse_elems(m, types[t], p, n), n);
                /* Grouped by set, in the caller's order within a set. */
                uint8_t key[NFT_ELEM_KEY_MAX];
                assert_string_equal(p[0].set, "slots_v4");
                assert_int_equal(nft_elem_key(&e[0], key), 4);
                assert_memory_equal(p[0].key, key, 4);
                assert_string_equal(p[slots].set, "slots_v6");
                assert_int_equal(nft_elem_key(&e[2], key), 16);
                assert_memory_equal(p[slots].key, key, 16);
                assert_string_equal(p[2 * slots + 1].set, "guests_v4");
                assert_int_equal(nft_elem_key(&e[6 + 1], key), 20);
                assert_memory_equal(p[2 * slots + 1].key, key, 20);
                assert_string_equal(p[4 * slots - 1].set, "guests_v6");
                assert_int_equal(nft_elem_key(&e[6 * slots - 3], key), 32);
                assert_memory_equal(p[4 * slots - 1].key, key, 32);
                assert_string_equal(p[5 * slots - 1].set, "dropped_spoofed");
                assert_int_equal(nft_elem_key(&e[6 * slots - 2], key), 16);
                assert_memory_equal(p[5 * slots - 1].key, key, 16);
                assert_string_equal(p[6 * slots - 1].set, "dropped_policy");
                assert_int_equal(nft_elem_key(&e[6 * slots - 1], key), 16);
                assert_memory_equal(p[6 * slots - 1].key, key, 16);
                for (size_t i = 1; i + 1 < m->n; i++) {
                        assert_int_equal(m->m[i]->nlmsg_type, NFT_TYPE(types[t]));
                        assert_int_equal(!!(m->m[i]->nlmsg_flags & NLM_F_CREATE),
                                         types[t] == NFT_MSG_NEWSETELEM);
                }
                free(p);
                msgs_free(m);
                nft_batch_done(&b);
        }

        /* Nothing to do: no message at all (an empty delete would flush). */
        struct nft_batch b;
        assert_int_equal(nft_batch_start(&b, 1), 0);
        assert_int_equal(nft_build_elems(&b, &l, NFT_MSG_DELSETELEM, e, 0), 0);
        assert_int_equal(b.n_msgs, 0);
        nft_batch_done(&b);
        free(e);
        config_done(&c);
}

static void test_slot_elems(void **state)
{
        struct config c;
        struct nft_elem e[NFT_SLOT_ELEMS_MAX];

        config_default(&c);
        memset(e, 0x55, sizeof(e));
        assert_int_equal(nft_slot_elems(&c, 3, e), 6);
        assert_int_equal(e[0].set, NFT_SET_SLOTS_V4);
        assert_int_equal(e[1].set, NFT_SET_GUESTS_V4);
        assert_int_equal(e[2].set, NFT_SET_SLOTS_V6);
        assert_int_equal(e[3].set, NFT_SET_GUESTS_V6);
        assert_string_equal(e[1].ifname, "tl3");
        assert_string_equal(e[3].ifname, "tl3");
        assert_int_equal(e[4].set, NFT_SET_DROPPED_SPOOFED);
        assert_string_equal(e[4].ifname, "tl3");
        assert_int_equal(e[5].set, NFT_SET_DROPPED_POLICY);
        assert_string_equal(e[5].ifname, "tl3");
        /* Zeroed padding: callers compare elements with memcmp. */
        static const char zeros[16];
        assert_memory_equal(e[0].ifname, zeros, IFNAMSIZ);
        assert_memory_equal((const char *)&e[0].addr + 4, zeros, sizeof(e[0].addr) - 4);
        assert_memory_equal(e[1].ifname + 4, zeros, IFNAMSIZ - 4);

        assert_memory_equal((const char *)&e[4].addr, zeros, sizeof(e[4].addr));

        /* A slot without IPv6 under ipv6 = yes (a clone slot). */
        assert_int_equal(nft_slot_elems_ipv6(&c, 3, false, e), 4);
        assert_int_equal(e[1].set, NFT_SET_GUESTS_V4);
        assert_int_equal(e[2].set, NFT_SET_DROPPED_SPOOFED);
        assert_int_equal(e[3].set, NFT_SET_DROPPED_POLICY);

        c.ipv6 = false;
        assert_int_equal(nft_slot_elems(&c, 3, e), 4);
        assert_int_equal(e[2].set, NFT_SET_DROPPED_SPOOFED);
        assert_int_equal(e[3].set, NFT_SET_DROPPED_POLICY);
        config_done(&c);
}

/* --- the element-dump parser ---------------------------------------------------- */

/* A dump message of set with keys, from portid 77. */
static void dump_add_msg(struct dump_buf *d, const char *set, const uint8_t (*keys)[32],
                         const uint32_t *key_lens, size_t n, uint16_t flags)
{
        struct nftnl_set_elem *e[4];

        assert_true(n <= ELEMENTSOF(e));
        for (size_t i = 0; i < n; i++) {
                e[i] = nftnl_set_elem_alloc();
                nftnl_set_elem_set(e[i], NFTNL_SET_ELEM_KEY, keys[i], key_lens[i]);
        }
        dump_add_elems(d, set, e, n, flags, 77);
}

static void dump_add_error(struct dump_buf *d, int error)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(d->buf + d->len);
        nlh->nlmsg_type = NLMSG_ERROR;
        nlh->nlmsg_seq = 42;
        nlh->nlmsg_pid = 77;
        struct nlmsgerr *err = mnl_nlmsg_put_extra_header(nlh, sizeof(*err));
        err->error = error;
        d->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

/* Keys of our four kinds, and some that cannot be ours. */
static struct dump_buf *good_dump(void)
{
        struct dump_buf *d = calloc(1, sizeof(*d));
        uint8_t keys[3][32] = {{0}};
        uint32_t lens[3];

        inet_pton(AF_INET, "10.213.0.4", keys[0]);
        inet_pton(AF_INET, "10.213.0.8", keys[1]);
        lens[0] = lens[1] = 4;
        dump_add_msg(d, "slots_v4", keys, lens, 2, 0);

        memset(keys, 0, sizeof(keys));
        memcpy(keys[0], "tl1", 3);
        inet_pton(AF_INET, "10.213.0.6", keys[0] + 16);
        lens[0] = 20;
        memset(keys[1], 'x', 16); /* no NUL in the name: skipped */
        lens[1] = 20;
        memcpy(keys[2], "tl2", 3); /* wrong length for the set: skipped */
        lens[2] = 16;
        dump_add_msg(d, "guests_v4", keys, lens, 3, 0);

        memset(keys, 0, sizeof(keys));
        inet_pton(AF_INET6, "fd74:6c00:0:1::", keys[0]);
        lens[0] = 16;
        dump_add_msg(d, "slots_v6", keys, lens, 1, 0);

        memset(keys, 0, sizeof(keys));
        memcpy(keys[0], "tl1", 3);
        inet_pton(AF_INET6, "fd74:6c00:0:1::2", keys[0] + 16);
        lens[0] = 32;
        dump_add_msg(d, "guests_v6", keys, lens, 1, 0);
        return d;
}

static void test_parse_good(void **state)
{
        struct dump_buf *d = good_dump();
        struct nft_elem_list l = {0};
        struct in_addr a4;
        struct in6_addr a6;

        /* More to come, then the end in a datagram of its own. */
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), 1);
        assert_int_equal(l.n, 5);
        struct dump_buf done = {.len = 0};
        dump_add_done(&done, 77);
        assert_int_equal(nft_parse_elem_dump(done.buf, done.len, 42, 77, &l), 0);
        assert_int_equal(l.n, 5);

        assert_int_equal(l.elems[0].set, NFT_SET_SLOTS_V4);
        inet_pton(AF_INET, "10.213.0.4", &a4);
        assert_memory_equal(&l.elems[0].addr.v4, &a4, 4);
        assert_int_equal(l.elems[1].set, NFT_SET_SLOTS_V4);
        assert_int_equal(l.elems[2].set, NFT_SET_GUESTS_V4);
        assert_string_equal(l.elems[2].ifname, "tl1");
        inet_pton(AF_INET, "10.213.0.6", &a4);
        assert_memory_equal(&l.elems[2].addr.v4, &a4, 4);
        assert_int_equal(l.elems[3].set, NFT_SET_SLOTS_V6);
        inet_pton(AF_INET6, "fd74:6c00:0:1::", &a6);
        assert_memory_equal(&l.elems[3].addr.v6, &a6, 16);
        assert_int_equal(l.elems[4].set, NFT_SET_GUESTS_V6);
        assert_string_equal(l.elems[4].ifname, "tl1");
        inet_pton(AF_INET6, "fd74:6c00:0:1::2", &a6);
        assert_memory_equal(&l.elems[4].addr.v6, &a6, 16);

        /* What nft_slot_elems() makes compares equal with memcmp(). */
        struct config c;
        struct nft_elem own[NFT_SLOT_ELEMS_MAX];
        config_default(&c);
        assert_int_equal(nft_slot_elems(&c, 1, own), 6);
        assert_memory_equal(&own[0], &l.elems[0], sizeof(own[0]));
        assert_memory_equal(&own[1], &l.elems[2], sizeof(own[1]));
        assert_memory_equal(&own[2], &l.elems[3], sizeof(own[2]));
        assert_memory_equal(&own[3], &l.elems[4], sizeof(own[3]));
        config_done(&c);

        /* The whole dump in one datagram; seq and portid 0 match anything. */
        dump_add_done(d, 77);
        struct nft_elem_list l2 = {0};
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 0, 0, &l2), 0);
        assert_int_equal(l2.n, 5);
        assert_memory_equal(l2.elems, l.elems, 5 * sizeof(l.elems[0]));

        /* An empty set: a message without elements. */
        struct dump_buf empty = {.len = 0};
        dump_add_msg(&empty, "slots_v4", NULL, NULL, 0, 0);
        dump_add_done(&empty, 77);
        assert_int_equal(nft_parse_elem_dump(empty.buf, empty.len, 0, 0, &l2), 0);
        assert_int_equal(l2.n, 5);

        free(l.elems);
        free(l2.elems);
        free(d);
}

static void test_parse_errors(void **state)
{
        struct nft_elem_list l = {0};
        struct dump_buf *d = calloc(1, sizeof(*d));

        /* The kernel's error ends the dump with it. */
        dump_add_error(d, -ENOENT);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -ENOENT);

        /* Another request's answer. */
        d->len = 0;
        dump_add_done(d, 77);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 43, 77, &l), -EPROTO);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 78, &l), -ESRCH);

        /* Interrupted: the set changed during the dump. */
        d->len = 0;
        uint8_t key[1][32] = {{10, 0, 0, 0}};
        uint32_t len = 4;
        dump_add_msg(d, "slots_v4", key, &len, 1, NLM_F_DUMP_INTR);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -EINTR);

        /* A length past INT_MAX (libmnl 1.0.4 would walk off the buffer). */
        d->len = 0;
        dump_add_msg(d, "slots_v4", key, &len, 1, 0);
        ((struct nlmsghdr *)d->buf)->nlmsg_len = 0xfffffff0;
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -EBADMSG);
        ((struct nlmsghdr *)d->buf)->nlmsg_len = (uint32_t)d->len + 4;
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -EBADMSG);

        /* Not our set. */
        d->len = 0;
        dump_add_msg(d, "other", key, &len, 1, 0);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -EBADMSG);

        /* Not an element message. */
        d->len = 0;
        dump_add_msg(d, "slots_v4", key, &len, 1, 0);
        ((struct nlmsghdr *)d->buf)->nlmsg_type = NFT_TYPE(NFT_MSG_NEWSET);
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 42, 77, &l), -EBADMSG);

        /* No room for the nfgenmsg. */
        d->len = 0;
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(d->buf);
        nlh->nlmsg_type = NFT_TYPE(NFT_MSG_NEWSETELEM);
        d->len = nlh->nlmsg_len;
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 0, 0, &l), -EBADMSG);

        /* The set name without its NUL. */
        d->len = 0;
        dump_add_msg(d, "slots_v4", key, &len, 1, 0);
        nlh = (struct nlmsghdr *)d->buf;
        struct nlattr *attr;
        mnl_attr_for_each(attr, nlh,
                          sizeof(struct nfgenmsg)) if (mnl_attr_get_type(attr) == NFTA_SET_ELEM_LIST_SET)
        {
                char *p = mnl_attr_get_payload(attr);
                p[mnl_attr_get_payload_len(attr) - 1] = 'x';
        }
        assert_int_equal(nft_parse_elem_dump(d->buf, d->len, 0, 0, &l), -EBADMSG);

        assert_int_equal(l.n, 0);
        free(l.elems);
        free(d);
}

/* Every truncation and many corruptions of a good dump: clean errors or
 * plausible elements, never a crash (run it under SANITIZE=1). */
static void test_parse_malformed(void **state)
{
        struct dump_buf *good = good_dump();
        dump_add_done(good, 77);
        struct dump_buf *d = calloc(1, sizeof(*d));
        uint32_t rnd = 12345;
        size_t errors = 0, ok = 0;

        for (size_t cut = 0; cut < good->len; cut++) {
                struct nft_elem_list l = {0};
                uint8_t *copy = malloc(cut ? cut : 1); /* exact size, for ASan */
                memcpy(copy, good->buf, cut);
                int r = nft_parse_elem_dump(copy, cut, 0, 0, &l);
                assert_true(r == 0 || r == 1 || r == -EBADMSG);
                assert_true(l.n <= 5);
                free(copy);
                free(l.elems);
        }

        for (int round = 0; round < 20000; round++) {
                struct nft_elem_list l = {0};
                memcpy(d->buf, good->buf, good->len);
                d->len = good->len;
                int flips = 1 + round % 4;
                for (int f = 0; f < flips; f++) {
                        rnd = rnd * 1103515245 + 12345;
                        size_t at = (rnd >> 8) % d->len;
                        rnd = rnd * 1103515245 + 12345;
                        d->buf[at] = (uint8_t)(rnd >> 16);
                }
                uint8_t *copy = malloc(d->len);
                memcpy(copy, d->buf, d->len);
                int r = nft_parse_elem_dump(copy, d->len, 0, 0, &l);
                assert_true(r <= 1);
                if (r < 0)
                        errors++;
                else
                        ok++;
                for (size_t i = 0; i < l.n; i++) {
                        assert_true((unsigned)l.elems[i].set < _NFT_SET_MAX);
                        if (l.elems[i].set == NFT_SET_GUESTS_V4 || l.elems[i].set == NFT_SET_GUESTS_V6)
                                assert_true(strnlen(l.elems[i].ifname, IFNAMSIZ) < IFNAMSIZ);
                }
                free(copy);
                free(l.elems);
        }
        assert_true(errors > 0);
        assert_true(ok > 0);
        free(good);
        free(d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_elem_keys),
            cmocka_unit_test(test_elem_key_padding),
            cmocka_unit_test(test_elem_batches),
            cmocka_unit_test(test_slot_elems),
            cmocka_unit_test(test_parse_good),
            cmocka_unit_test(test_parse_errors),
            cmocka_unit_test(test_parse_malformed),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

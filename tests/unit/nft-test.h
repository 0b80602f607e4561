/* SPDX-License-Identifier: MIT */
#pragma once

/* What the nftables unit tests (test-nft.c, test-nft-elems.c,
 * test-nft-counters.c) share: the default configuration and its layout, a
 * finished batch flattened into its messages, its framing checked, and
 * element dumps written as the kernel sends them. Include after
 * <cmocka.h>. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "config.h"
#include "macro.h"
#include "nft-internal.h"

#define NFT_TYPE(msg) ((NFNL_SUBSYS_NFTABLES << 8) | (msg))

static inline void config_default(struct config *c)
{
        char *warning = NULL;
        assert_int_equal(config_init(c, &warning), 0);
        free(warning);
}

static inline void layout_of(const struct config *c, struct nft_layout *l)
{
        assert_int_equal(nft_layout_init(c, l), 0);
}

/* A finished batch, flattened, and its messages. */
struct msgs {
        uint8_t *buf;
        size_t len;
        const struct nlmsghdr *m[4096];
        size_t n;
};

static inline struct msgs *batch_messages(struct nft_batch *b)
{
        struct msgs *m = calloc(1, sizeof(*m));
        assert_non_null(m);
        assert_int_equal(nft_batch_finish(b), 0);

        int iovlen = nftnl_batch_iovec_len(b->pages);
        struct iovec iov[iovlen];
        nftnl_batch_iovec(b->pages, iov, iovlen);
        for (int i = 0; i < iovlen; i++)
                m->len += iov[i].iov_len;
        m->buf = malloc(m->len);
        assert_non_null(m->buf);
        size_t off = 0;
        for (int i = 0; i < iovlen; i++) {
                memcpy(m->buf + off, iov[i].iov_base, iov[i].iov_len);
                off += iov[i].iov_len;
        }

        int rest = (int)m->len;
        for (const struct nlmsghdr *nlh = (const void *)m->buf; mnl_nlmsg_ok(nlh, rest);
             nlh = mnl_nlmsg_next(nlh, &rest)) {
                assert_true(m->n < ELEMENTSOF(m->m));
                m->m[m->n++] = nlh;
        }
        assert_int_equal(rest, 0);

        /* Framing: begin, b->n_msgs messages with acks and consecutive
         * sequence numbers, end. */
        assert_int_equal(m->n, b->n_msgs + 2);
        assert_int_equal(m->m[0]->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
        assert_int_equal(m->m[0]->nlmsg_seq, b->seq_begin);
        assert_int_equal(m->m[m->n - 1]->nlmsg_type, NFNL_MSG_BATCH_END);
        for (size_t i = 1; i + 1 < m->n; i++) {
                assert_int_equal(m->m[i]->nlmsg_seq, b->seq_begin + i);
                assert_true(m->m[i]->nlmsg_flags & NLM_F_ACK);
                assert_true(m->m[i]->nlmsg_flags & NLM_F_REQUEST);
                const struct nfgenmsg *g = mnl_nlmsg_get_payload(m->m[i]);
                assert_int_equal(g->nfgen_family, NFPROTO_INET);
        }
        return m;
}

static inline void msgs_free(struct msgs *m)
{
        free(m->buf);
        free(m);
}

/* Collects attributes by type (all ours are below 17). */
static inline int attr_cb(const struct nlattr *attr, void *data)
{
        const struct nlattr **tb = data;
        unsigned type = mnl_attr_get_type(attr);
        if (type <= 16)
                tb[type] = attr;
        return MNL_CB_OK;
}

/* A kernel-style dump: the datagrams' bytes, one after another. */
struct dump_buf {
        _Alignas(struct nlmsghdr) uint8_t buf[65536];
        size_t len;
};

/* Appends an NFT_MSG_NEWSETELEM message of table taplinkd's set with elems
 * (which it takes), sequence number 42, from portid. */
static inline void dump_add_elems(struct dump_buf *d, const char *set, struct nftnl_set_elem **elems, size_t n,
                                  uint16_t flags, uint32_t portid)
{
        struct nftnl_set *s = nftnl_set_alloc();
        nftnl_set_set_str(s, NFTNL_SET_TABLE, "taplinkd");
        nftnl_set_set_str(s, NFTNL_SET_NAME, set);
        for (size_t i = 0; i < n; i++)
                nftnl_set_elem_add(s, elems[i]);
        struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr((char *)d->buf + d->len, NFT_MSG_NEWSETELEM,
                                                     NFPROTO_INET, NLM_F_MULTI | flags, 42);
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        nlh->nlmsg_pid = portid;
        d->len += NLMSG_ALIGN(nlh->nlmsg_len);
        nftnl_set_free(s);
}

/* Appends the dump's end (NLMSG_DONE), sequence number 42, from portid. */
static inline void dump_add_done(struct dump_buf *d, uint32_t portid)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(d->buf + d->len);
        nlh->nlmsg_type = NLMSG_DONE;
        nlh->nlmsg_flags = NLM_F_MULTI;
        nlh->nlmsg_seq = 42;
        nlh->nlmsg_pid = portid;
        int *zero = mnl_nlmsg_put_extra_header(nlh, sizeof(int));
        *zero = 0;
        d->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

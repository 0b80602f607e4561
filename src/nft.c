/* SPDX-License-Identifier: MIT */
/* The nftables socket: batches sent and their acks collected, dumps, and
 * what the manager asks of it (elements added and deleted, the element
 * dump, the table's deletion). nft_talk_batch() and nft_dump() are the only
 * I/O of the module; the messages come from nft-build.c, the ruleset's
 * repair is nft-ruleset.c. */

#include <arpa/inet.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "macro.h"
#include "nft-internal.h"

#define RECV_BUF_SIZE (64 * 1024)
#define RECV_TIMEOUT_SEC 10

struct nft {
        struct mnl_socket *nl;
        uint32_t portid;
        uint32_t seq;
        struct nft_layout layout;
        bool has_destroy;
        bool force_legacy;
        int sndbuf;
        int rcvbuf;
        uint8_t *buf; /* RECV_BUF_SIZE */
};

/* --- talking to the kernel ------------------------------------------------ */

static int socket_buffer_at_least(struct nft *n, int *current, int force_opt, int opt, size_t want)
{
        if (want > INT_MAX / 2)
                return -EMSGSIZE;
        if ((size_t)*current >= want)
                return 0;
        /* The kernel doubles what it is given; FORCE ignores the sysctl caps
         * (we run as root), the plain option is the fallback. */
        int v = (int)want;
        if (mnl_socket_setsockopt(n->nl, force_opt, &v, sizeof(v)) < 0 &&
            setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, opt, &v, sizeof(v)) < 0)
                return negative_errno();
        socklen_t sl = sizeof(v);
        if (getsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, opt, &v, &sl) < 0)
                return negative_errno();
        *current = v;
        return 0;
}

static bool seq_in_batch(const struct nft_batch *b, uint32_t seq)
{
        return seq - b->seq_begin - 1 < b->n_msgs;
}

/* Sends a finished batch and collects one answer per message. The kernel
 * processes the whole batch during sendmsg() and answers every message that
 * asked for an ack (0) or failed (-errno), in order; a failure of the batch
 * as a whole (commit) is reported against the batch begin. Answers to an
 * earlier batch that we stopped reading early are recognized by their
 * sequence numbers and skipped. Returns the first error. */
static int nft_talk_batch(struct nft *n, struct nft_batch *b)
{
        int iovlen = nftnl_batch_iovec_len(b->pages);
        struct iovec iov[iovlen];
        size_t total = 0;
        int first_error = 0, r;

        nftnl_batch_iovec(b->pages, iov, iovlen);
        for (int i = 0; i < iovlen; i++)
                total += iov[i].iov_len;

        r = socket_buffer_at_least(n, &n->sndbuf, SO_SNDBUFFORCE, SO_SNDBUF, total + 4096);
        if (r < 0)
                return r;
        /* Every ack is a datagram of its own in the receive queue. */
        r = socket_buffer_at_least(n, &n->rcvbuf, SO_RCVBUFFORCE, SO_RCVBUF, (b->n_msgs + 1) * 1024);
        if (r < 0)
                return r;

        struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
        struct msghdr msg = {
            .msg_name = &kernel,
            .msg_namelen = sizeof(kernel),
            .msg_iov = iov,
            .msg_iovlen = (size_t)iovlen,
        };
        if (sendmsg(mnl_socket_get_fd(n->nl), &msg, 0) < 0)
                return negative_errno();

        for (size_t answered = 0; answered < b->n_msgs;) {
                ssize_t len = mnl_socket_recvfrom(n->nl, n->buf, RECV_BUF_SIZE);
                if (len < 0)
                        return errno == EAGAIN ? -ETIMEDOUT : negative_errno();

                int rest = (int)len;
                for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)n->buf; mnl_nlmsg_ok(nlh, rest);
                     nlh = mnl_nlmsg_next(nlh, &rest)) {
                        if (nlh->nlmsg_type != NLMSG_ERROR)
                                continue;
                        if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr)))
                                return -EBADMSG;
                        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
                        if (nlh->nlmsg_seq == b->seq_begin)
                                return err->error < 0 ? err->error : -EPROTO;
                        if (!seq_in_batch(b, nlh->nlmsg_seq))
                                continue;
                        answered++;
                        if (err->error < 0 && first_error == 0)
                                first_error = err->error;
                }
        }
        return first_error;
}

int nft_batch_commit(struct nft *n, struct nft_batch *b)
{
        int r = nft_batch_finish(b);
        if (r < 0)
                return r;
        r = nft_talk_batch(n, b);
        n->seq = b->seq;
        return r;
}

int nft_batch_begin(struct nft *n, struct nft_batch *b)
{
        return nft_batch_start(b, n->seq);
}

/* Whether the datagram holds the end of the dump with this sequence number. */
static bool dump_ends_in(const void *buf, size_t len, uint32_t seq)
{
        int rest = (int)len;
        for (const struct nlmsghdr *nlh = buf; mnl_nlmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest))
                if (nlh->nlmsg_seq == seq &&
                    (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR))
                        return true;
        return false;
}

/* Sends a request (a dump, or a get with NLM_F_ACK) and feeds every reply
 * datagram to cb until the end. After a failure it keeps reading to the
 * end, so that the next request does not find the socket mid-dump. */
typedef int (*dump_datagram_cb)(const void *buf, size_t len, uint32_t seq, uint32_t portid, void *data);

static int nft_dump(struct nft *n, const struct nlmsghdr *req, dump_datagram_cb cb, void *data)
{
        uint32_t seq = req->nlmsg_seq;
        int error = 0;

        if (mnl_socket_sendto(n->nl, req, req->nlmsg_len) < 0)
                return negative_errno();
        for (;;) {
                ssize_t len = mnl_socket_recvfrom(n->nl, n->buf, RECV_BUF_SIZE);
                if (len < 0)
                        return errno == EAGAIN ? -ETIMEDOUT : negative_errno();
                const struct nlmsghdr *nlh = (const struct nlmsghdr *)n->buf;
                if (!mnl_nlmsg_ok(nlh, (int)len) || nlh->nlmsg_seq != seq)
                        continue; /* a late answer to an earlier request */
                if (error == 0) {
                        int r = cb(n->buf, (size_t)len, seq, n->portid, data);
                        if (r == 0)
                                return 0;
                        if (r > 0)
                                continue;
                        error = r;
                }
                if (dump_ends_in(n->buf, (size_t)len, seq))
                        return error;
        }
}

struct nlmsghdr *nft_request_hdr(struct nft *n, void *buf, uint16_t type, uint16_t flags)
{
        return nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, flags, n->seq++);
}

/* mnl_cb_run() for nftnl object parsers. */
struct obj_dump {
        mnl_cb_t cb;
        void *data;
};

static int obj_dump_datagram(const void *buf, size_t len, uint32_t seq, uint32_t portid, void *data)
{
        struct obj_dump *d = data;
        errno = 0;
        int r = mnl_cb_run(buf, len, seq, portid, d->cb, d->data);
        if (r == MNL_CB_ERROR)
                return negative_errno();
        return r == MNL_CB_STOP ? 0 : 1;
}

int nft_request_objects(struct nft *n, const struct nlmsghdr *req, mnl_cb_t cb, void *data)
{
        struct obj_dump d = {cb, data};
        return nft_dump(n, req, obj_dump_datagram, &d);
}

static int elem_dump_datagram(const void *buf, size_t len, uint32_t seq, uint32_t portid, void *data)
{
        return nft_parse_elem_dump(buf, len, seq, portid, data);
}

/* --- nft_open --------------------------------------------------------------- */

/* DESTROYSETELEM (6.3+) of a set that cannot exist: a kernel that knows the
 * message answers ENOENT (no such set; an absent element would be fine),
 * an older one EINVAL or EOPNOTSUPP for the unknown type. The element keeps
 * the message from meaning "flush". */
static int probe_destroy(struct nft *n)
{
        _cleanup_(nft_batch_done) struct nft_batch b = {0};
        int r;

        r = nft_batch_begin(n, &b);
        if (r < 0)
                return r;
        r = nft_build_destroy_probe(&b, &n->layout);
        if (r < 0)
                return r;
        r = nft_batch_commit(n, &b);
        if (r == 0 || r == -ENOENT)
                n->has_destroy = true;
        else if (r == -EINVAL || r == -EOPNOTSUPP)
                n->has_destroy = false;
        else
                return r;
        return 0;
}

int nft_open(const struct config *c, struct nft **ret)
{
        _cleanup_free_ struct nft *n = calloc(1, sizeof(*n));
        int r;

        if (!n)
                return -ENOMEM;
        r = nft_layout_init(c, &n->layout);
        if (r < 0)
                return r;
        n->buf = malloc(RECV_BUF_SIZE);
        if (!n->buf)
                return -ENOMEM;
        n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!n->nl) {
                r = negative_errno();
                free(n->buf);
                return r;
        }
        if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0)
                goto fail;
        n->portid = mnl_socket_get_portid(n->nl);
        n->seq = (uint32_t)time(NULL);

        /* Acks carry only the header of the message they answer. */
        int one = 1;
        if (mnl_socket_setsockopt(n->nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
                goto fail;
        /* A kernel that never answers must not hang the daemon. */
        struct timeval tv = {.tv_sec = RECV_TIMEOUT_SEC};
        if (setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
                goto fail;
        socklen_t sl = sizeof(n->sndbuf);
        if (getsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_SNDBUF, &n->sndbuf, &sl) < 0)
                goto fail;
        sl = sizeof(n->rcvbuf);
        if (getsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVBUF, &n->rcvbuf, &sl) < 0)
                goto fail;

        r = probe_destroy(n);
        if (r < 0) {
                nft_close(TAKE_PTR(n));
                return r;
        }
        *ret = TAKE_PTR(n);
        return 0;

fail:
        r = negative_errno();
        nft_close(TAKE_PTR(n));
        return r;
}

void nft_close(struct nft *n)
{
        if (!n)
                return;
        if (n->nl)
                mnl_socket_close(n->nl);
        free(n->buf);
        free(n);
}

void nft_force_legacy_delete(struct nft *n, bool legacy)
{
        n->force_legacy = legacy;
}

bool nft_has_destroy(const struct nft *n)
{
        return n->has_destroy;
}

uint32_t nft_portid(const struct nft *n)
{
        return n->portid;
}

const struct nft_layout *nft_layout(const struct nft *n)
{
        return &n->layout;
}

/* --- nft_apply, nft_dump_elems, nft_delete_table ---------------------------- */

int nft_apply(struct nft *n, const struct nft_elem *add, size_t n_add, const struct nft_elem *del,
              size_t n_del)
{
        _cleanup_(nft_batch_done) struct nft_batch b = {0};
        int r;

        if (n_add == 0 && n_del == 0)
                return 0;
        r = nft_batch_begin(n, &b);
        if (r < 0)
                return r;
        if (n_del > 0) {
                if (n->has_destroy && !n->force_legacy)
                        r = nft_build_elems(&b, &n->layout, NFT_MSG_DESTROYSETELEM_COMPAT, del, n_del);
                else {
                        /* Adding first makes the delete find its element. */
                        r = nft_build_elems(&b, &n->layout, NFT_MSG_NEWSETELEM, del, n_del);
                        if (r >= 0)
                                r = nft_build_elems(&b, &n->layout, NFT_MSG_DELSETELEM, del, n_del);
                }
                if (r < 0)
                        return r;
        }
        r = nft_build_elems(&b, &n->layout, NFT_MSG_NEWSETELEM, add, n_add);
        if (r < 0)
                return r;
        return nft_batch_commit(n, &b);
}

static int elem_cmp(const void *a, const void *b)
{
        return memcmp(a, b, sizeof(struct nft_elem));
}

/* Sorts v[0..n) and drops repeats; returns the new count. */
static size_t elems_sort_unique(struct nft_elem *v, size_t n)
{
        size_t out = 0;

        if (n == 0)
                return 0;
        qsort(v, n, sizeof(*v), elem_cmp);
        for (size_t i = 1; i < n; i++)
                if (elem_cmp(&v[out], &v[i]) != 0)
                        v[++out] = v[i];
        return out + 1;
}

/* Appends one dump of the set s names to a list whose length is *n,
 * through cb; a dump that a commit interrupted is taken again. On failure
 * the list is back at its old length. */
static int dump_set_retrying(struct nft *n, struct nftnl_set *s, void *req, dump_datagram_cb cb, void *list,
                             size_t *list_n)
{
        size_t before = *list_n;

        for (int attempt = 0; attempt < NFT_DUMP_RETRIES; attempt++) {
                struct nlmsghdr *nlh = nft_request_hdr(n, req, NFT_MSG_GETSETELEM, NLM_F_DUMP);
                nftnl_set_elems_nlmsg_build_payload(nlh, s);
                int r = nft_dump(n, nlh, cb, list);
                if (r == 0 || r == -ENOENT)
                        return 0;
                *list_n = before;
                if (r != -EINTR)
                        return r;
        }
        return -EAGAIN;
}

/* Appends one dump of the set s names to l, sorted and without repeats. */
static int dump_set_once(struct nft *n, struct nftnl_set *s, void *req, struct nft_elem_list *l)
{
        size_t before = l->n;
        int r = dump_set_retrying(n, s, req, elem_dump_datagram, l, &l->n);
        if (r < 0)
                return r;
        l->n = before + elems_sort_unique(l->elems + before, l->n - before);
        return 0;
}

/* A dump that needs several datagrams restarts the kernel's walk of the set
 * for each one and skips what it has sent; a hash set that grows or shrinks
 * in between (rhashtable resizes run after the commit, and do not mark the
 * dump interrupted) reorders its elements, so that dump repeats some and
 * misses others. Two dumps in a row that agree are the set's content. */
static int dump_set_elems(struct nft *n, enum nft_set_id id, struct nft_elem_list *l)
{
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = nft_set_new(&n->layout, nft_set_name(id));
        _cleanup_free_ void *req = calloc(1, MNL_SOCKET_BUFFER_SIZE);
        size_t start = l->n;
        int r;

        if (!s || !req)
                return -ENOMEM;
        r = dump_set_once(n, s, req, l);
        if (r < 0)
                return r;
        for (int attempt = 0; attempt < NFT_DUMP_RETRIES; attempt++) {
                size_t first = l->n - start;
                r = dump_set_once(n, s, req, l);
                if (r < 0)
                        return r;
                size_t second = l->n - start - first;
                bool same =
                    first == second && (first == 0 || memcmp(l->elems + start, l->elems + start + first,
                                                             first * sizeof(*l->elems)) == 0);
                /* Keep the newer dump. */
                if (second > 0)
                        memmove(l->elems + start, l->elems + start + first, second * sizeof(*l->elems));
                l->n = start + second;
                if (same)
                        return 0;
        }
        return -EAGAIN;
}

int nft_dump_elems(struct nft *n, struct nft_elem **ret, size_t *ret_n)
{
        struct nft_elem_list l = {0};

        for (int set = 0; set < _NFT_SET_MAX; set++) {
                int r = dump_set_elems(n, set, &l);
                if (r < 0) {
                        free(l.elems);
                        return r;
                }
        }
        *ret = l.elems;
        *ret_n = l.n;
        return 0;
}

static int counter_dump_datagram(const void *buf, size_t len, uint32_t seq, uint32_t portid, void *data)
{
        return nft_parse_counter_dump(buf, len, seq, portid, data);
}

static int counter_cmp(const void *a, const void *b)
{
        const struct nft_counter *x = a, *y = b;
        if (x->policy != y->policy)
                return x->policy ? 1 : -1;
        return strncmp(x->ifname, y->ifname, IFNAMSIZ);
}

/* One dump of dropped_spoofed into l (emptied first), sorted by name
 * without repeats. */
static int dump_counters_once(struct nft *n, struct nftnl_set *s, void *req, struct nft_counter_list *l)
{
        size_t out = 0;

        l->n = 0;
        int r = dump_set_retrying(n, s, req, counter_dump_datagram, l, &l->n);
        if (r < 0 || l->n == 0)
                return r;
        qsort(l->items, l->n, sizeof(*l->items), counter_cmp);
        for (size_t i = 1; i < l->n; i++)
                if (counter_cmp(&l->items[out], &l->items[i]) != 0)
                        l->items[++out] = l->items[i];
        l->n = out + 1;
        return 0;
}

static bool same_names(const struct nft_counter_list *a, const struct nft_counter_list *b)
{
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (counter_cmp(&a->items[i], &b->items[i]) != 0)
                        return false;
        return true;
}

/* The counters change between two dumps, the names only when a slot comes
 * or goes: two dumps that hold the same names saw the whole set (see
 * dump_set_elems()). */
static int dump_counters_of(struct nft *n, enum nft_set_id set, struct nft_counter **ret, size_t *ret_n)
{
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = nft_set_new(&n->layout, nft_set_name(set));
        _cleanup_free_ void *req = calloc(1, MNL_SOCKET_BUFFER_SIZE);
        struct nft_counter_list l[2] = {{0}};
        int r;

        if (!s || !req)
                return -ENOMEM;
        r = dump_counters_once(n, s, req, &l[0]);
        for (int attempt = 0; r >= 0 && attempt < NFT_DUMP_RETRIES; attempt++) {
                struct nft_counter_list *prev = &l[attempt % 2], *next = &l[(attempt + 1) % 2];
                r = dump_counters_once(n, s, req, next);
                if (r >= 0 && same_names(prev, next)) {
                        *ret = TAKE_PTR(next->items);
                        *ret_n = next->n;
                        free(prev->items);
                        return 0;
                }
        }
        free(l[0].items);
        free(l[1].items);
        return r < 0 ? r : -EAGAIN;
}

int nft_dump_counters(struct nft *n, struct nft_counter **ret, size_t *ret_n)
{
        _cleanup_free_ struct nft_counter *spoofed = NULL, *policy = NULL;
        size_t n_spoofed = 0, n_policy = 0;
        struct nft_counter *all;
        int r;

        r = dump_counters_of(n, NFT_SET_DROPPED_SPOOFED, &spoofed, &n_spoofed);
        if (r >= 0)
                r = dump_counters_of(n, NFT_SET_DROPPED_POLICY, &policy, &n_policy);
        if (r < 0)
                return r;
        all = calloc(n_spoofed + n_policy + 1, sizeof(*all));
        if (!all)
                return -ENOMEM;
        if (n_spoofed)
                memcpy(all, spoofed, n_spoofed * sizeof(*all));
        if (n_policy)
                memcpy(all + n_spoofed, policy, n_policy * sizeof(*all));
        *ret = all;
        *ret_n = n_spoofed + n_policy;
        return 0;
}

int nft_delete_table(struct nft *n)
{
        _cleanup_(nft_batch_done) struct nft_batch b = {0};
        int r = nft_batch_begin(n, &b);
        if (r < 0)
                return r;
        r = nft_build_table(&b, &n->layout, NFT_MSG_DELTABLE);
        if (r < 0)
                return r;
        r = nft_batch_commit(n, &b);
        return r == -ENOENT ? 0 : r;
}

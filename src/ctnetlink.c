/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "conntrack-build.h"
#include "ctnetlink.h"
#include "macro.h"
#include "netlink-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nf_conntrack *, nfct_destroy);

/* Requests per sendmsg: each ack is an skb in our receive buffer, so a
 * bounded number keeps them from overrunning it. */
#define REQUESTS_PER_SEND 64
#define RCVBUF_BYTES (1 << 20)
/* A dump datagram is at most 32 KiB (the kernel's netlink dump size cap). */
#define DUMP_BUFFER_SIZE 32768

struct ctnetlink {
        const struct config *config;
        struct mnl_socket *nl;
        uint32_t portid;
        uint32_t seq;
};

/* ---- talking ---- */

/* Throws away what an earlier round left unread (a dump cut short, late
 * acks), so that every round starts on an empty socket. */
static void drain(struct ctnetlink *ct)
{
        char buf[MNL_SOCKET_BUFFER_SIZE];

        while (recv(mnl_socket_get_fd(ct->nl), buf, sizeof(buf), MSG_DONTWAIT) >= 0 || errno == EINTR)
                ;
}

/* Waits for the acks of n requests numbered from first. Entries already
 * gone (ENOENT) are not errors. Returns 0 or the first other -errno. */
static int read_acks(struct ctnetlink *ct, uint32_t first, size_t n)
{
        char buf[MNL_SOCKET_BUFFER_SIZE];
        size_t got = 0;
        int error = 0;

        while (got < n) {
                ssize_t k = mnl_socket_recvfrom(ct->nl, buf, sizeof(buf));
                const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
                int len = (int)k;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno(); /* ENOBUFS: the acks are lost */
                }
                for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

                        if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq - first >= n ||
                            nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*err)))
                                continue; /* a late answer to an earlier round */
                        got++;
                        if (err->error < 0 && err->error != -ENOENT && error == 0)
                                error = err->error;
                }
        }
        return error;
}

/* Sends the requests in buf (each wants an ack), REQUESTS_PER_SEND at a
 * time. Returns 0 or the first -errno. */
static int send_requests(struct ctnetlink *ct, const void *buf, size_t len)
{
        const struct nlmsghdr *nlh = buf;
        int left = (int)len, error = 0;

        drain(ct);
        while (mnl_nlmsg_ok(nlh, left)) {
                const struct nlmsghdr *start = nlh;
                uint32_t first = nlh->nlmsg_seq;
                size_t n = 0, bytes = 0;
                int e;

                for (; n < REQUESTS_PER_SEND && mnl_nlmsg_ok(nlh, left); n++) {
                        bytes += NLMSG_ALIGN(nlh->nlmsg_len);
                        nlh = mnl_nlmsg_next(nlh, &left);
                }
                if (mnl_socket_sendto(ct->nl, start, bytes) < 0)
                        return negative_errno();
                e = read_acks(ct, first, n);
                if (e == -ENOBUFS)
                        return e;
                if (e < 0 && error == 0)
                        error = e;
        }
        return error;
}

/* ---- the dump ---- */

struct dump {
        struct ctnetlink *ct;
        ctnetlink_stale_fn stale;
        void *userdata;
        VEC(uint8_t) deletes; /* requests, back to back */
        size_t n_deletes;
};

static int on_entry(const struct nlmsghdr *nlh, void *userdata)
{
        struct dump *d = userdata;
        unsigned slots[_CONNTRACK_FIELD_MAX];
        _cleanup_(nfct_destroyp) struct nf_conntrack *entry = nfct_new();
        struct nlmsghdr *del;
        bool stale = false;
        int e;

        if (!entry)
                return MNL_CB_ERROR;
        e = conntrack_parse_entry(d->ct->config, nlh, entry, slots);
        if (e < 0)
                return MNL_CB_OK; /* not an entry we could read: not ours to judge */
        for (int i = 0; i < e && !stale; i++)
                stale = d->stale(slots[i], d->userdata);
        if (!stale)
                return MNL_CB_OK;
        if (GREEDY_REALLOC(d->deletes.items, d->deletes.cap, d->deletes.n + CONNTRACK_MSG_MAX) < 0)
                return MNL_CB_ERROR;
        if (conntrack_build_delete(d->deletes.items + d->deletes.n, entry, d->ct->seq++, &del) < 0)
                return MNL_CB_OK;
        d->deletes.n += NLMSG_ALIGN(del->nlmsg_len);
        d->n_deletes++;
        return MNL_CB_OK;
}

static int read_dump(struct ctnetlink *ct, uint32_t seq, struct dump *d)
{
        _cleanup_free_ char *buf = malloc(DUMP_BUFFER_SIZE);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = mnl_socket_recvfrom(ct->nl, buf, DUMP_BUFFER_SIZE);
                int r;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                r = mnl_cb_run(buf, (size_t)k, seq, ct->portid, on_entry, d);
                if (r < 0)
                        return negative_errno();
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

int ctnetlink_dump_delete(struct ctnetlink *ct, int family, ctnetlink_stale_fn stale, void *userdata)
{
        char req[CONNTRACK_MSG_MAX];
        struct dump d = {.ct = ct, .stale = stale, .userdata = userdata};
        uint32_t seq = ct->seq++;
        int e;

        drain(ct);
        conntrack_build_dump(req, family, seq);
        if (mnl_socket_sendto(ct->nl, req, ((struct nlmsghdr *)req)->nlmsg_len) < 0)
                e = negative_errno();
        else
                e = read_dump(ct, seq, &d);
        if (e >= 0)
                e = send_requests(ct, d.deletes.items, d.deletes.n);
        VEC_FREE(&d.deletes);
        return e < 0 ? e : (int)MIN(d.n_deletes, (size_t)INT32_MAX);
}

int ctnetlink_flush4(struct ctnetlink *ct, const unsigned *slots, size_t n)
{
        uint8_t buf[CTNETLINK_FLUSH_SLOTS_MAX * CONNTRACK_SLOT_FLUSHES * CONNTRACK_MSG_MAX];
        size_t len = 0;

        if (n > CTNETLINK_FLUSH_SLOTS_MAX)
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                ssize_t k =
                    conntrack_put_slot_flushes(buf + len, sizeof(buf) - len, ct->config, slots[i], &ct->seq);
                if (k < 0)
                        return (int)k;
                len += (size_t)k;
        }
        return send_requests(ct, buf, len);
}

int ctnetlink_open(const struct config *c, struct ctnetlink **ret)
{
        struct ctnetlink *ct = calloc(1, sizeof(*ct));
        int one = 1, e = 0;

        if (!ct)
                return -ENOMEM;
        ct->config = c;
        ct->seq = 1;
        ct->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!ct->nl || mnl_socket_bind(ct->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
            /* Acks without a copy of the request. */
            mnl_socket_setsockopt(ct->nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
                e = negative_errno();
        if (e == 0)
                e = netlink_set_rcvbuf(ct->nl, RCVBUF_BYTES);
        if (e < 0) {
                ctnetlink_close(ct);
                return e;
        }
        ct->portid = mnl_socket_get_portid(ct->nl);
        *ret = ct;
        return 0;
}

void ctnetlink_close(struct ctnetlink *ct)
{
        if (!ct)
                return;
        if (ct->nl)
                mnl_socket_close(ct->nl);
        free(ct);
}

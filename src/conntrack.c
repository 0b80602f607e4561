/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "conntrack-build.h"
#include "conntrack.h"
#include "log.h"
#include "macro.h"
#include "netlink-util.h"
#include "time-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nf_conntrack *, nfct_destroy);

/* Measured (kernel 6.18, 2 vCPUs), the two ways to delete a slot's
 * entries, with 10,000 unrelated entries in the table: the kernel's
 * filtered flush walks the whole table once per request, ~1 ms each, so
 * ~4 ms for a slot's four IPv4 fields, nothing copied; a dump copies and
 * parses every entry of its family, ~15 ms, however many slots it serves.
 * So the IPv4 entries of slots that end alone are flushed, and a burst of
 * more than FLUSH_SLOTS_MAX is served by one dump. IPv6 entries are
 * always found by a dump of IPv6 alone: the kernel's IPv6 flush filter
 * cannot be used (src/conntrack-build.h). */
#define FLUSH_SLOTS_MAX 2
/* Requests per sendmsg: each ack is an skb in our receive buffer, so a
 * bounded number keeps them from overrunning it. */
#define REQUESTS_PER_SEND 64
#define RCVBUF_BYTES (1 << 20)
/* A dump datagram is at most 32 KiB (the kernel's netlink dump size cap). */
#define DUMP_BUFFER_SIZE 32768

struct conntrack {
        struct manager *manager;
        const struct config *config;
        struct mnl_socket *nl;
        uint32_t portid;
        uint32_t seq;
        bool filtered_flush; /* the kernel takes CTA_FILTER on a delete */

        VEC(struct slot_rec *) held; /* gone, waiting for their deletion */
        sd_event_source *flush_source;
};

/* ---- talking ---- */

/* Waits for the acks of n requests numbered from first. Entries already
 * gone (ENOENT) are not errors. Returns 0 or the first other -errno. */
static int read_acks(struct conntrack *ct, uint32_t first, size_t n)
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
static int send_requests(struct conntrack *ct, const void *buf, size_t len)
{
        const struct nlmsghdr *nlh = buf;
        int left = (int)len, error = 0;

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

typedef bool (*stale_fn)(unsigned slot, void *userdata);

struct dump {
        struct conntrack *ct;
        stale_fn stale;
        void *userdata;
        VEC(uint8_t) deletes; /* requests, back to back */
        size_t n_deletes;
};

static int on_entry(const struct nlmsghdr *nlh, void *userdata)
{
        struct dump *d = userdata;
        unsigned slots[_CONNTRACK_FIELD_MAX], n;
        _cleanup_(nfct_destroyp) struct nf_conntrack *entry = nfct_new();
        struct nlmsghdr *del;
        bool stale = false;

        if (!entry)
                return MNL_CB_ERROR;
        if (nfct_nlmsg_parse(nlh, entry) < 0)
                return MNL_CB_OK; /* not an entry we could read: not ours to judge */
        n = conntrack_entry_slots(d->ct->config, entry, slots);
        for (unsigned i = 0; i < n && !stale; i++)
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

static int read_dump(struct conntrack *ct, uint32_t seq, struct dump *d)
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

/* One dump of the family's entries (AF_UNSPEC: all), then the deletion of
 * every entry that carries the guest address of a slot for which stale()
 * is true. Returns the number of entries deleted, or -errno. */
static int dump_and_delete(struct conntrack *ct, int family, stale_fn stale, void *userdata)
{
        char req[CONNTRACK_MSG_MAX];
        struct dump d = {.ct = ct, .stale = stale, .userdata = userdata};
        uint32_t seq = ct->seq++;
        int e;

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

/* ---- slots that end ---- */

static int flush_slots(struct conntrack *ct, struct slot_rec **held, size_t n)
{
        uint8_t buf[FLUSH_SLOTS_MAX * CONNTRACK_SLOT_FLUSHES * CONNTRACK_MSG_MAX];
        size_t len = 0;

        for (size_t i = 0; i < n; i++) {
                ssize_t k = conntrack_put_slot_flushes(buf + len, sizeof(buf) - len, ct->config,
                                                       held[i]->slot, &ct->seq);
                if (k < 0)
                        return (int)k;
                len += (size_t)k;
        }
        return send_requests(ct, buf, len);
}

static bool is_held(unsigned slot, void *userdata)
{
        struct conntrack *ct = userdata;

        for (size_t i = 0; i < ct->held.n; i++)
                if (ct->held.items[i]->slot == slot)
                        return true;
        return false;
}

static int all_families(const struct conntrack *ct)
{
        return ct->config->ipv6 ? AF_UNSPEC : AF_INET;
}

static int delete_held(struct conntrack *ct, struct slot_rec **held, size_t n)
{
        int e;

        if (n <= FLUSH_SLOTS_MAX && ct->filtered_flush) {
                e = flush_slots(ct, held, n);
                if (e != -EINVAL && e != -EOPNOTSUPP) {
                        if (e < 0 || !ct->config->ipv6)
                                return e;
                        return dump_and_delete(ct, AF_INET6, is_held, ct);
                }
                /* Before Linux 6.3 a delete does not take CTA_FILTER. */
                log_notice("conntrack: the kernel has no filtered flush (%s); dumping instead",
                           strerror(-e));
                ct->filtered_flush = false;
        }
        return dump_and_delete(ct, all_families(ct), is_held, ct);
}

/* Deletes the entries of the slots gone so far, then frees the slots
 * whatever came of it: a failure is logged, and what stays behind expires
 * by its own timeout or goes at the next start-up. */
static void flush(struct conntrack *ct)
{
        struct slot_rec **held = ct->held.items;
        size_t n = ct->held.n;
        uint64_t t0;
        int e;

        if (n == 0)
                return;
        t0 = now_usec();
        e = delete_held(ct, held, n);
        log_debug("tap slot %u%s: conntrack entries deleted in %.2f ms", held[0]->slot,
                  n > 1 ? " and others" : "", (double)(now_usec() - t0) / 1000.0);
        if (e < 0) {
                if (n == 1)
                        log_error_errno(e, "tap slot %u: deleting its conntrack entries failed: %m",
                                        held[0]->slot);
                else
                        log_error_errno(
                            e, "deleting the conntrack entries of %zu slots (slot %u, ...) failed: %m", n,
                            held[0]->slot);
        }
        ct->held = (typeof(ct->held)){0};
        sd_event_source_set_enabled(ct->flush_source, SD_EVENT_OFF);
        for (size_t i = 0; i < n; i++)
                manager_unhold(ct->manager, held[i]);
        free(held);
}

static int on_flush(sd_event_source *s, void *userdata)
{
        flush(userdata);
        return 0;
}

static void on_gone(struct slot_rec *r, void *userdata)
{
        struct conntrack *ct = userdata;

        /* Even a slot that never went live had its addresses routed, so
         * traffic from outside may have made entries. */
        if (VEC_PUSH(&ct->held, r) < 0) {
                log_error("tap slot %u: out of memory queueing the deletion of its conntrack entries; "
                          "they expire by their timeouts",
                          r->slot);
                return;
        }
        manager_hold(r);
        sd_event_source_set_enabled(ct->flush_source, SD_EVENT_ONESHOT);
}

static const struct slot_hooks hooks = {
    .name = "conntrack",
    .gone = on_gone,
};

/* ---- start-up ---- */

static bool is_not_live(unsigned slot, void *userdata)
{
        struct slot_rec *r = manager_slot(userdata, slot);
        return !r || r->phase != SLOT_LIVE;
}

int conntrack_reconcile(struct conntrack *ct)
{
        int e = dump_and_delete(ct, all_families(ct), is_not_live, ct->manager);

        if (e < 0)
                return log_error_errno(e, "conntrack: deleting the entries of slots not live failed: %m");
        log_info("reconciled: %d conntrack entries of slots not live deleted", e);
        return 0;
}

/* ---- life ---- */

static int open_socket(struct conntrack *ct)
{
        int one = 1;

        ct->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!ct->nl)
                return negative_errno();
        if (mnl_socket_bind(ct->nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return negative_errno();
        ct->portid = mnl_socket_get_portid(ct->nl);
        /* Acks without a copy of the request. */
        if (mnl_socket_setsockopt(ct->nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
                return negative_errno();
        return netlink_set_rcvbuf(ct->nl, RCVBUF_BYTES);
}

int conntrack_new(sd_event *event, struct manager *m, struct conntrack **ret)
{
        struct conntrack *ct = calloc(1, sizeof(*ct));
        int e;

        if (!ct)
                return -ENOMEM;
        ct->manager = m;
        ct->config = manager_config(m);
        ct->seq = 1;
        ct->filtered_flush = true;
        e = open_socket(ct);
        /* Normal priority, as the element deletions: after the rest of a
         * burst of events, never put off for ever. */
        if (e >= 0)
                e = sd_event_add_defer(event, &ct->flush_source, on_flush, ct);
        if (e >= 0)
                e = sd_event_source_set_enabled(ct->flush_source, SD_EVENT_OFF);
        if (e >= 0)
                e = manager_subscribe(m, &hooks, ct);
        if (e < 0) {
                sd_event_source_disable_unref(ct->flush_source);
                if (ct->nl)
                        mnl_socket_close(ct->nl);
                free(ct);
                return e;
        }
        *ret = ct;
        return 0;
}

void conntrack_free(struct conntrack *ct)
{
        if (!ct)
                return;
        flush(ct);
        manager_unsubscribe(ct->manager, &hooks, ct);
        sd_event_source_disable_unref(ct->flush_source);
        mnl_socket_close(ct->nl);
        VEC_FREE(&ct->held);
        free(ct);
}

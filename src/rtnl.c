/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/net_namespace.h>
#include <linux/filter.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "netlink-util.h"
#include "rtnl.h"

/* The kernel never puts more than ~32 KiB into one netlink datagram (a dump
 * part is sized by the reader's largest recvmsg, capped there), so a bigger
 * buffer would not mean fewer reads. */
#define RTNL_RECV_SIZE 32768
/* Acks for a batch, and bursts of link notifications when many sandboxes
 * exit at once: sized so that a few thousand fit before ENOBUFS. */
#define RTNL_REQUEST_RCVBUF (1 << 20)
#define RTNL_MONITOR_RCVBUF (16 << 20)

/* One RTM_NEWLINK with IFLA_GROUP, and one RTM_DELLINK by ifindex. */
#define RTNL_LINK_MSG_SIZE 64

#define RESULT_PENDING 1

struct rtnl {
        struct mnl_socket *nl;
        uint32_t portid;
        uint32_t seq;
        _Alignas(struct nlmsghdr) uint8_t buf[RTNL_RECV_SIZE];
};

struct rtnl_monitor {
        struct mnl_socket *nl;
        bool all_nsid; /* NETLINK_LISTEN_ALL_NSID is on */
        char prefix[IFNAMSIZ];
        struct rtnl_monitor_callbacks cb;
        void *userdata;
        _Alignas(struct nlmsghdr) uint8_t buf[RTNL_RECV_SIZE];
};

static const char *message_name(uint16_t type)
{
        switch (type) {
        case RTM_NEWLINK:
                return "RTM_NEWLINK";
        case RTM_DELLINK:
                return "RTM_DELLINK";
        case RTM_NEWADDR:
                return "RTM_NEWADDR";
        case RTM_GETLINK:
                return "RTM_GETLINK";
        default:
                return "rtnetlink";
        }
}

/* ---- sockets ---- */

static void mnl_socket_closep(struct mnl_socket **nl)
{
        if (*nl)
                mnl_socket_close(*nl);
}

int rtnl_open(struct rtnl **ret)
{
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
        struct rtnl *r;
        int one = 1, k;

        nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        if (!nl)
                return negative_errno();
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return negative_errno();
        /* Acks without a copy of the request: small, so a batch's acks fit. */
        if (mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
                return negative_errno();
        k = netlink_set_rcvbuf(nl, RTNL_REQUEST_RCVBUF);
        if (k < 0)
                return k;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->portid = mnl_socket_get_portid(nl);
        r->seq = 1;
        r->nl = TAKE_PTR(nl);
        *ret = r;
        return 0;
}

void rtnl_close(struct rtnl *r)
{
        if (!r)
                return;
        mnl_socket_close(r->nl);
        free(r);
}

/* ---- the request path ---- */

struct talk_state {
        uint32_t first_seq;
        unsigned n;
        unsigned pending;
        int *results;
};

static int talk_on_ack(const struct nlmsghdr *nlh, void *data)
{
        struct talk_state *t = data;
        const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
        uint32_t i = nlh->nlmsg_seq - t->first_seq;
        int error;

        /* Acks of an earlier, abandoned exchange. */
        if (i >= t->n || t->results[i] != RESULT_PENDING)
                return MNL_CB_OK;

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
                error = -EBADMSG;
        else if (e->error > 0 || e->error < -4095)
                error = -EPROTO;
        else
                error = e->error;
        t->results[i] = error;
        t->pending--;
        return MNL_CB_OK;
}

/* Sends len bytes of n requests numbered first_seq.. in one sendmsg and
 * reads until every one is acked. results[i] gets 0 or -errno for request
 * i. Returns 0, or -errno when the exchange itself failed. The kernel
 * handles a batch request by request and acks each before sendmsg returns,
 * even after an error, so every ack comes. */
static int rtnl_talk(struct rtnl *r, const void *buf, size_t len, uint32_t first_seq, unsigned n,
                     int *results)
{
        /* mnl_cb_run() would stop at the first ack; a callback for
         * NLMSG_ERROR that returns MNL_CB_OK lets one loop take them all. */
        static mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
            [NLMSG_ERROR] = talk_on_ack,
        };
        struct talk_state t = {first_seq, n, n, results};

        for (unsigned i = 0; i < n; i++)
                results[i] = RESULT_PENDING;

        if (mnl_socket_sendto(r->nl, buf, len) < 0)
                return negative_errno();

        while (t.pending > 0) {
                ssize_t k = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        /* ENOBUFS: acks were dropped, the rest never come. */
                        return negative_errno();
                }
                /* Seq is checked per message by the callback (0: no check here). */
                (void)mnl_cb_run2(r->buf, k, 0, r->portid, NULL, &t, ctl, ELEMENTSOF(ctl));
        }
        return 0;
}

static const struct nlmsghdr *nth_message(const void *buf, size_t len, unsigned index)
{
        const struct nlmsghdr *nlh = buf;
        int left = (int)len;

        for (unsigned i = 0; mnl_nlmsg_ok(nlh, left); i++, nlh = mnl_nlmsg_next(nlh, &left))
                if (i == index)
                        return nlh;
        return NULL;
}

/* Sends the n messages of buf[0..len) starting at message `first` (numbered
 * seq + first ...) in one sendmsg; 0, or the first error with its message
 * named in *ret_failed_op. */
static int configure_talk(struct rtnl *r, const uint8_t *buf, size_t len, uint32_t seq, unsigned first,
                          unsigned n, const char **ret_failed_op)
{
        const struct nlmsghdr *start = nth_message(buf, len, first), *end = nth_message(buf, len, first + n);
        size_t part = (end ? (const uint8_t *)end : buf + len) - (const uint8_t *)start;
        int results[RTNL_CONFIGURE_MAX], k;

        k = rtnl_talk(r, start, part, seq + first, n, results);
        if (k < 0) {
                if (ret_failed_op)
                        *ret_failed_op = message_name(start->nlmsg_type);
                return k;
        }
        for (unsigned i = 0; i < n; i++)
                if (results[i] < 0) {
                        if (ret_failed_op)
                                *ret_failed_op = message_name(nth_message(buf, len, first + i)->nlmsg_type);
                        return results[i];
                }
        return 0;
}

int rtnl_configure_link(struct rtnl *r, const struct rtnl_link_config *cfg, const char **ret_failed_op)
{
        _Alignas(struct nlmsghdr) uint8_t buf[RTNL_CONFIGURE_SIZE] = {0};
        unsigned n = RTNL_CONFIGURE_MAX;
        uint32_t seq = rtnl_reserve_seq(r, n);
        int len, k;

        len = rtnl_build_configure(buf, sizeof(buf), seq, cfg);
        if (len < 0) {
                if (ret_failed_op)
                        *ret_failed_op = message_name(RTM_NEWLINK);
                return len;
        }

        /* Everything but the IFF_UP in one sendmsg, the IFF_UP in a second
         * one once the rest went through: the kernel would run it after a
         * failed message too, and a link whose MTU was refused stays down. */
        k = configure_talk(r, buf, len, seq, 0, n - 1, ret_failed_op);
        if (k < 0)
                return k;
        return configure_talk(r, buf, len, seq, n - 1, 1, ret_failed_op);
}

uint32_t rtnl_reserve_seq(struct rtnl *r, unsigned n)
{
        uint32_t seq = r->seq;

        r->seq += n;
        return seq;
}

int rtnl_request(struct rtnl *r, const void *buf, size_t len, uint32_t first_seq, unsigned n,
                 unsigned *ret_failed)
{
        int results[RTNL_BATCH_MAX], k;

        if (n == 0 || n > RTNL_BATCH_MAX)
                return -EINVAL;
        k = rtnl_talk(r, buf, len, first_seq, n, results);
        if (k < 0) {
                if (ret_failed)
                        *ret_failed = 0;
                return k;
        }
        for (unsigned i = 0; i < n; i++)
                if (results[i] < 0) {
                        if (ret_failed)
                                *ret_failed = i;
                        return results[i];
                }
        return 0;
}

struct nsid_answer {
        uint32_t seq;
        int32_t nsid;
        int error;
        bool done;
};

static int nsid_on_message(const struct nlmsghdr *nlh, void *data)
{
        struct nsid_answer *a = data;
        const struct nlattr *attr;

        if (nlh->nlmsg_seq != a->seq)
                return MNL_CB_OK;
        a->done = true;
        if (nlh->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
                a->error = mnl_nlmsg_get_payload_len(nlh) < sizeof(*e) || e->error > 0 ? -EBADMSG : e->error;
                return MNL_CB_OK;
        }
        if (nlh->nlmsg_type != RTM_NEWNSID || mnl_nlmsg_get_payload_len(nlh) < sizeof(struct rtgenmsg)) {
                a->error = -EBADMSG;
                return MNL_CB_OK;
        }
        mnl_attr_for_each(attr, nlh, sizeof(struct rtgenmsg)) if (mnl_attr_get_type(attr) == NETNSA_NSID &&
                                                                  mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
            a->nsid = (int32_t)mnl_attr_get_u32(attr);
        return MNL_CB_OK;
}

int rtnl_get_nsid(struct rtnl *r, int netns_fd, int32_t *ret)
{
        static mnl_cb_t ctl[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = nsid_on_message};
        _Alignas(struct nlmsghdr) uint8_t req[RTNL_LINK_MSG_SIZE] = {0};
        struct nsid_answer a = {.seq = r->seq++, .nsid = -1};
        struct nlmsghdr *nlh =
            netlink_message_begin(req, sizeof(req), 0, RTM_GETNSID, 0, a.seq, sizeof(struct rtgenmsg));

        if (!nlh || !mnl_attr_put_u32_check(nlh, sizeof(req), NETNSA_FD, (uint32_t)netns_fd))
                return -ENOBUFS;
        if (mnl_socket_sendto(r->nl, req, nlh->nlmsg_len) < 0)
                return negative_errno();
        while (!a.done) {
                ssize_t k = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                (void)mnl_cb_run2(r->buf, k, 0, r->portid, nsid_on_message, &a, ctl, ELEMENTSOF(ctl));
        }
        if (a.error < 0)
                return a.error;
        *ret = a.nsid;
        return 0;
}

int rtnl_delete_link(struct rtnl *r, int ifindex)
{
        _Alignas(struct nlmsghdr) uint8_t buf[RTNL_LINK_MSG_SIZE] = {0};
        int result, len, k;

        len = rtnl_build_dellink(buf, sizeof(buf), r->seq, ifindex);
        if (len < 0)
                return len;
        k = rtnl_talk(r, buf, len, r->seq++, 1, &result);
        return k < 0 ? k : result;
}

int rtnl_delete_group(struct rtnl *r, uint32_t group)
{
        _Alignas(struct nlmsghdr) uint8_t buf[RTNL_LINK_MSG_SIZE] = {0};
        int result, len, k;

        if (group == 0)
                return -EINVAL;
        len = rtnl_build_dellink_group(buf, sizeof(buf), r->seq, group);
        if (len < 0)
                return len;
        k = rtnl_talk(r, buf, (size_t)len, r->seq++, 1, &result);
        if (k < 0)
                return k;
        return result == -ENODEV ? 0 : result;
}

int rtnl_delete_links(struct rtnl *r, const int *ifindexes, size_t n, uint32_t group)
{
        _Alignas(struct nlmsghdr) uint8_t buf[(RTNL_BATCH_MAX + 1) * RTNL_LINK_MSG_SIZE] = {0};
        int results[RTNL_BATCH_MAX + 1];
        int first_error = 0;

        if (group == 0 || (n > 0 && !ifindexes))
                return -EINVAL;
        if (n == 0)
                return 0;
        if (n == 1) {
                int e = rtnl_delete_link(r, ifindexes[0]);
                return e == -ENODEV ? 0 : e;
        }

        for (size_t done = 0; done < n;) {
                unsigned batch = (unsigned)MIN(n - done, (size_t)RTNL_BATCH_MAX);
                bool last = done + batch == n;
                uint32_t first_seq = r->seq;
                size_t len = 0;
                int k;

                for (unsigned i = 0; i < batch; i++) {
                        k = rtnl_build_set_group(buf + len, sizeof(buf) - len, r->seq++, ifindexes[done + i],
                                                 group);
                        if (k < 0)
                                return k;
                        len += k;
                }
                if (last) {
                        k = rtnl_build_dellink_group(buf + len, sizeof(buf) - len, r->seq++, group);
                        if (k < 0)
                                return k;
                        len += k;
                }

                k = rtnl_talk(r, buf, len, first_seq, batch + last, results);
                if (k < 0)
                        return k;
                /* -ENODEV: the link is gone already (its sandbox exited), or,
                 * for the group RTM_DELLINK, no link was left to move. */
                for (unsigned i = 0; i < batch + last; i++)
                        if (results[i] < 0 && results[i] != -ENODEV && first_error == 0)
                                first_error = results[i];
                done += batch;
        }
        return first_error;
}

/* ---- the dump ---- */

/* What a dump does with each link message: a malformed one is noted in
 * *malformed (and the dump goes on); a -errno stops the handling (the
 * rest is only drained). */
typedef int (*dump_link_fn)(const struct nlmsghdr *nlh, void *ctx, bool *malformed);

struct dump_state {
        uint32_t seq;
        dump_link_fn on_link;
        void *ctx;
        int cb_error;
        int error;
        bool malformed;
        bool interrupted;
        bool done;
};

static void dump_on_link(struct dump_state *st, const struct nlmsghdr *nlh)
{
        /* After the callback failed, the rest of the dump is only drained:
         * it must be read to its end before the socket can be used again. */
        if (st->cb_error < 0)
                return;
        int k = st->on_link(nlh, st->ctx, &st->malformed);
        if (k < 0)
                st->cb_error = k;
}

/* NLMSG_DONE and NLMSG_ERROR both carry an int error first. */
static int dump_end_error(const struct nlmsghdr *nlh)
{
        int error;

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(error))
                return -EBADMSG;
        memcpy(&error, mnl_nlmsg_get_payload(nlh), sizeof(error));
        return error > 0 || error < -4095 ? -EPROTO : error;
}

/* mnl_cb_run() gives up on the whole datagram at the first message flagged
 * NLM_F_DUMP_INTR, and the NLMSG_DONE after it would be lost with it; an
 * interrupted dump is still worth reading to its end, so walk it here. */
static void dump_process(struct dump_state *st, const void *buf, size_t len, uint32_t portid)
{
        const struct nlmsghdr *nlh = buf;
        int left = (int)len;

        for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
                if (!mnl_nlmsg_portid_ok(nlh, portid) || nlh->nlmsg_seq != st->seq)
                        continue;
                if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
                        st->interrupted = true;

                switch (nlh->nlmsg_type) {
                case NLMSG_DONE:
                case NLMSG_ERROR:
                        st->error = dump_end_error(nlh);
                        st->done = true;
                        return;
                case RTM_NEWLINK:
                        dump_on_link(st, nlh);
                        break;
                default:
                        break;
                }
        }
}

/* Sends the dump request in req (len bytes, numbered st->seq) and feeds
 * every link message of the answer to st->on_link. */
static int rtnl_dump(struct rtnl *r, const void *req, int len, struct dump_state *st)
{
        if (len < 0)
                return len;
        if (mnl_socket_sendto(r->nl, req, len) < 0)
                return negative_errno();

        while (!st->done) {
                ssize_t k = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                dump_process(st, r->buf, k, r->portid);
        }

        if (st->cb_error < 0)
                return st->cb_error;
        if (st->error < 0)
                return st->error;
        if (st->malformed)
                return -EBADMSG;
        return st->interrupted ? 1 : 0;
}

/* The callback of a dump, with what it needs. */
struct link_dump {
        const char *prefix;
        union {
                rtnl_tap_cb tap;
                rtnl_stats_cb stats;
        } cb;
        void *userdata;
};

/* Whether a parser's answer k is a link for the callback; notes a
 * malformed message. */
static bool parsed(int k, bool *malformed)
{
        if (k < 0)
                *malformed = true;
        return k > 0;
}

static int tap_on_link(const struct nlmsghdr *nlh, void *ctx, bool *malformed)
{
        struct link_dump *d = ctx;
        struct rtnl_tap_info info;
        return parsed(rtnl_parse_link(nlh, d->prefix, &info), malformed) ? d->cb.tap(&info, d->userdata) : 0;
}

static int veth_on_link(const struct nlmsghdr *nlh, void *ctx, bool *malformed)
{
        struct link_dump *d = ctx;
        struct rtnl_tap_info info;
        return parsed(rtnl_parse_veth(nlh, d->prefix, &info), malformed) ? d->cb.tap(&info, d->userdata) : 0;
}

static int traffic_on_link(const struct nlmsghdr *nlh, void *ctx, bool *malformed)
{
        struct link_dump *d = ctx;
        struct rtnl_traffic t;
        return parsed(rtnl_parse_link_stats(nlh, d->prefix, &t), malformed) ? d->cb.stats(&t, d->userdata)
                                                                            : 0;
}

static int link_dump_run(struct rtnl *r, const char *kind, bool stats, dump_link_fn on_link,
                         struct link_dump *d)
{
        _Alignas(struct nlmsghdr) uint8_t req[128] = {0}; /* the padding is sent too */
        struct dump_state st = {.seq = r->seq, .on_link = on_link, .ctx = d};
        return rtnl_dump(r, req, rtnl_build_dump_kind(req, sizeof(req), r->seq++, stats, kind), &st);
}

int rtnl_dump_taps(struct rtnl *r, const char *prefix, rtnl_tap_cb cb, void *userdata)
{
        struct link_dump d = {.prefix = prefix, .cb.tap = cb, .userdata = userdata};
        return cb ? link_dump_run(r, "tun", false, tap_on_link, &d) : -EINVAL;
}

int rtnl_dump_veths(struct rtnl *r, const char *prefix, rtnl_tap_cb cb, void *userdata)
{
        struct link_dump d = {.prefix = prefix, .cb.tap = cb, .userdata = userdata};
        return cb ? link_dump_run(r, "veth", false, veth_on_link, &d) : -EINVAL;
}

int rtnl_dump_stats(struct rtnl *r, const char *prefix, const char *kind, rtnl_stats_cb cb, void *userdata)
{
        struct link_dump d = {.prefix = prefix, .cb.stats = cb, .userdata = userdata};
        return cb && kind ? link_dump_run(r, kind, true, traffic_on_link, &d) : -EINVAL;
}

/* ---- the monitor ---- */

/* The monitor acts on RTM_DELLINK only, yet RTNLGRP_LINK carries every
 * RTM_NEWLINK too: three or four per Acquire, each a wake-up and a read on
 * the event loop. A socket filter drops them in the kernel, before they
 * take room in the receive buffer (docs/DESIGN.md, "Performance"). Each
 * link notification is a datagram of one message, so looking at the first
 * header is enough; nlmsg_type is in host order, as BPF_H loads in network
 * order, hence htons(). */
static int monitor_attach_filter(struct mnl_socket *nl)
{
        struct sock_filter code[] = {
            BPF_STMT(BPF_LD | BPF_H | BPF_ABS, offsetof(struct nlmsghdr, nlmsg_type)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htons(RTM_DELLINK), 0, 1),
            BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
            BPF_STMT(BPF_RET | BPF_K, 0),
        };
        struct sock_fprog prog = {.len = ELEMENTSOF(code), .filter = code};

        if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
                return negative_errno();
        return 0;
}

int rtnl_monitor_open(const char *prefix, const struct rtnl_monitor_callbacks *cb, void *userdata,
                      struct rtnl_monitor **ret)
{
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
        struct rtnl_monitor *m;
        unsigned group = RTNLGRP_LINK;
        int k;

        if (!cb || (prefix && strlen(prefix) >= IFNAMSIZ))
                return -EINVAL;

        nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!nl)
                return negative_errno();
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return negative_errno();
        k = monitor_attach_filter(nl);
        if (k < 0)
                return k;
        if (mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
                return negative_errno();
        k = netlink_set_rcvbuf(nl, RTNL_MONITOR_RCVBUF);
        if (k < 0)
                return k;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        if (prefix)
                strcpy(m->prefix, prefix);
        m->cb = *cb;
        m->userdata = userdata;
        m->nl = TAKE_PTR(nl);
        *ret = m;
        return 0;
}

int rtnl_monitor_fd(const struct rtnl_monitor *m)
{
        return mnl_socket_get_fd(m->nl);
}

int rtnl_monitor_set_rcvbuf(struct rtnl_monitor *m, int bytes)
{
        return netlink_set_rcvbuf(m->nl, bytes);
}

int rtnl_monitor_listen_all_nsid(struct rtnl_monitor *m)
{
        int one = 1;

        if (mnl_socket_setsockopt(m->nl, NETLINK_LISTEN_ALL_NSID, &one, sizeof(one)) < 0)
                return negative_errno();
        m->all_nsid = true;
        return 0;
}

struct monitor_datagram {
        struct rtnl_monitor *m;
        int nsid; /* -1: our own namespace */
};

static int monitor_on_message(const struct nlmsghdr *nlh, void *data)
{
        struct monitor_datagram *d = data;
        struct rtnl_monitor *m = d->m;
        struct rtnl_link_event ev;

        /* A malformed message cannot be acted on; skip it, keep reading.
         * Another namespace's devices are not slots, whatever their names. */
        if (d->nsid < 0) {
                if (rtnl_parse_dellink(nlh, m->prefix, &ev) > 0 && m->cb.on_dellink)
                        m->cb.on_dellink(ev.ifindex, ev.ifname, m->userdata);
        } else if (rtnl_parse_dellink(nlh, NULL, &ev) > 0 && m->cb.on_peer_dellink)
                m->cb.on_peer_dellink(d->nsid, ev.ifindex, ev.ifname, m->userdata);
        return MNL_CB_OK;
}

/* One datagram with its NETLINK_LISTEN_ALL_NSID control message: the
 * namespace it comes from, absent for our own. Returns the bytes read, or
 * -errno as recvmsg's errno. */
static ssize_t monitor_recv(struct rtnl_monitor *m, int *ret_nsid)
{
        _Alignas(struct cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {m->buf, sizeof(m->buf)};
        struct sockaddr_nl sa;
        struct msghdr msg = {
            .msg_name = &sa,
            .msg_namelen = sizeof(sa),
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control,
            .msg_controllen = sizeof(control),
        };
        ssize_t k = recvmsg(mnl_socket_get_fd(m->nl), &msg, MSG_CMSG_CLOEXEC);

        *ret_nsid = -1;
        if (k < 0)
                return negative_errno();
        if (msg.msg_flags & MSG_TRUNC)
                return -ENOSPC;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == SOL_NETLINK && c->cmsg_type == NETLINK_LISTEN_ALL_NSID &&
                    c->cmsg_len == CMSG_LEN(sizeof(int)))
                        memcpy(ret_nsid, CMSG_DATA(c), sizeof(int));
        return k;
}

/* netlink_drain() for the monitor, which needs each datagram's namespace. */
static int monitor_drain(struct rtnl_monitor *m)
{
        bool lost = false;

        for (;;) {
                struct monitor_datagram d = {m, -1};
                ssize_t k = monitor_recv(m, &d.nsid);

                if (k == -EAGAIN)
                        break;
                if (k == -EINTR)
                        continue;
                if (k == -ENOBUFS || k == -ENOSPC) {
                        lost = true;
                        continue;
                }
                if (k < 0)
                        return (int)k;
                (void)mnl_cb_run(m->buf, (size_t)k, 0, 0, monitor_on_message, &d);
        }
        return lost;
}

int rtnl_monitor_process(struct rtnl_monitor *m)
{
        int r = monitor_drain(m);

        if (r < 0)
                return r;
        /* Some event was lost (overrun or cut): the caller looks again. */
        if (r > 0 && m->cb.on_resync)
                m->cb.on_resync(m->userdata);
        return 0;
}

void rtnl_monitor_close(struct rtnl_monitor *m)
{
        if (!m)
                return;
        mnl_socket_close(m->nl);
        free(m);
}

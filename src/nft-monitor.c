/* SPDX-License-Identifier: MIT */
/* The nftables monitor: NFNLGRP_NFTABLES notifications, filtered down to
 * what removed something of our table. The parser is pure (a datagram in,
 * events out) and fuzzed by tests/fuzz/fuzz-nft-events.c.
 *
 * What the kernel (6.18) sends, as seen with a subscribed socket: one
 * notification per object a commit removed, several to a datagram, then an
 * NFT_MSG_NEWGEN. `nft flush ruleset` sends a DELRULE per rule, then
 * DELSET, DELCHAIN and DELTABLE; `nft flush chain` a DELRULE per rule;
 * `nft flush set` and `nft delete element` a DELSETELEM per element, so a
 * flush reads as every element deleted. nlmsg_pid is the port id of the
 * socket that sent the batch (tests/fuzz/corpus/nft-events/ holds these
 * datagrams as captured). */

#include <arpa/inet.h>
#include <limits.h>
#include <linux/filter.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "macro.h"
#include "netlink-util.h"
#include "nft-internal.h"
#include "nft-monitor.h"

/* From the kernel's uapi (6.3); Debian 12's headers predate them. The
 * kernel notifies a destroy as a delete, but takes either. */
#define NFT_MSG_DESTROYTABLE_COMPAT 26
#define NFT_MSG_DESTROYCHAIN_COMPAT 27
#define NFT_MSG_DESTROYRULE_COMPAT 28
#define NFT_MSG_DESTROYSET_COMPAT 29

/* Notifications come a commit to a datagram of at most a page or so; one
 * rule can be larger. */
#define MONITOR_RECV_SIZE (64 * 1024)
/* Room for a flush of every element of a large set before an overrun
 * (an overrun is reported, and restored from, anyway). */
#define MONITOR_RCVBUF (16 << 20)
/* Datagrams read per nft_monitor_process(): a flood of notifications is
 * read in slices, and the event loop serves others in between (the fd is
 * level-triggered, so the rest is read on its next turn). */
#define MONITOR_DATAGRAMS_MAX 1024

/* Where each kind of deletion names its table and object. Every message
 * type here numbers them 1 (table), 2 or 3 (name), 3 (elements). */
#define EVENT_ATTR_MAX 3
static const struct loss_kind {
        unsigned what;
        uint16_t name_attr;     /* 0: the table itself */
        uint16_t elements_attr; /* 0: none */
} loss_kinds[] = {
    {NFT_LOST_TABLE, 0, 0},
    {NFT_LOST_CHAIN, NFTA_CHAIN_NAME, 0},
    {NFT_LOST_RULE, NFTA_RULE_CHAIN, 0},
    {NFT_LOST_SET, NFTA_SET_NAME, 0},
    {NFT_LOST_ELEMENTS, NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_ELEMENTS},
};
#define TABLE_ATTR 1 /* NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, ... */

static const struct loss_kind *loss_kind_of(uint16_t msg)
{
        switch (msg) {
        case NFT_MSG_DELTABLE:
        case NFT_MSG_DESTROYTABLE_COMPAT:
                return &loss_kinds[0];
        case NFT_MSG_DELCHAIN:
        case NFT_MSG_DESTROYCHAIN_COMPAT:
                return &loss_kinds[1];
        case NFT_MSG_DELRULE:
        case NFT_MSG_DESTROYRULE_COMPAT:
                return &loss_kinds[2];
        case NFT_MSG_DELSET:
        case NFT_MSG_DESTROYSET_COMPAT:
                return &loss_kinds[3];
        case NFT_MSG_DELSETELEM:
        case NFT_MSG_DESTROYSETELEM_COMPAT:
                return &loss_kinds[4];
        default:
                return NULL;
        }
}

/* Our chain or set the message names, or -ENOENT for a foreign one. */
static int object_of(const struct loss_kind *k, const char *name)
{
        switch (k->what) {
        case NFT_LOST_CHAIN:
        case NFT_LOST_RULE:
                return nft_chain_id_from_name(name);
        case NFT_LOST_SET:
        case NFT_LOST_ELEMENTS:
                return nft_set_id_from_name(name);
        default:
                return -1;
        }
}

static unsigned count_nested(const struct nlattr *nest)
{
        const struct nlattr *attr;
        unsigned n = 0;

        mnl_attr_for_each_nested(attr, nest) n++;
        return n;
}

int nft_parse_event(const struct nlmsghdr *nlh, const char *table, uint32_t own_portid,
                    struct nft_event *ret)
{
        const struct nlattr *tb[EVENT_ATTR_MAX + 1] = {0};
        enum mnl_attr_data_type types[EVENT_ATTR_MAX + 1] = {0};
        struct nft_attr_table t = {tb, EVENT_ATTR_MAX, types};
        const struct loss_kind *k;
        const struct nfgenmsg *g;
        int object = -1;

        if (nlh->nlmsg_type >> 8 != NFNL_SUBSYS_NFTABLES)
                return 0;
        k = loss_kind_of(nlh->nlmsg_type & 0xff);
        if (!k || (own_portid != 0 && nlh->nlmsg_pid == own_portid))
                return 0;
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
                return -EBADMSG;
        g = mnl_nlmsg_get_payload(nlh);
        if (g->nfgen_family != NFPROTO_INET)
                return 0;

        types[TABLE_ATTR] = MNL_TYPE_NUL_STRING;
        if (k->name_attr)
                types[k->name_attr] = MNL_TYPE_NUL_STRING;
        if (k->elements_attr)
                types[k->elements_attr] = MNL_TYPE_NESTED;
        if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), nft_attr_table_cb, &t) < 0)
                return -EBADMSG;
        if (!tb[TABLE_ATTR] || (k->name_attr && !tb[k->name_attr]))
                return -EBADMSG;
        if (strcmp(mnl_attr_get_str(tb[TABLE_ATTR]), table) != 0)
                return 0;
        if (k->name_attr) {
                object = object_of(k, mnl_attr_get_str(tb[k->name_attr]));
                if (object < 0)
                        return 0; /* an administrator's own chain or set */
        }

        *ret = (struct nft_event){.what = k->what, .object = object, .count = 1};
        if (k->elements_attr && tb[k->elements_attr])
                ret->count = MAX(count_nested(tb[k->elements_attr]), 1u);
        return 1;
}

int nft_parse_events(const void *buf, size_t len, const char *table, uint32_t own_portid, nft_event_cb cb,
                     void *userdata)
{
        int rest = (int)len, n = 0;

        if (len > INT_MAX || !nft_nlmsgs_well_formed(buf, len))
                return -EBADMSG;
        for (const struct nlmsghdr *nlh = buf; mnl_nlmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest)) {
                struct nft_event ev;
                int r = nft_parse_event(nlh, table, own_portid, &ev);
                if (r == 0)
                        continue;
                if (r < 0)
                        ev = (struct nft_event){.what = NFT_LOST_EVENTS, .object = -1, .count = 1};
                cb(&ev, userdata);
                n++;
        }
        return n;
}

void nft_event_describe(const struct nft_event *ev, const char *table, char *buf, size_t size)
{
        const char *chain = NULL, *set = NULL;

        if (ev->what == NFT_LOST_CHAIN || ev->what == NFT_LOST_RULE)
                chain = nft_chain_name(ev->object);
        if (ev->what == NFT_LOST_SET || ev->what == NFT_LOST_ELEMENTS)
                set = nft_set_name(ev->object);

        switch (ev->what) {
        case NFT_LOST_TABLE:
                snprintf(buf, size, "table inet %s deleted", table);
                break;
        case NFT_LOST_CHAIN:
                snprintf(buf, size, "chain %s deleted", chain ? chain : "?");
                break;
        case NFT_LOST_RULE:
                if (ev->count == 1)
                        snprintf(buf, size, "rule deleted from chain %s", chain ? chain : "?");
                else
                        snprintf(buf, size, "%u rules deleted from chain %s", ev->count,
                                 chain ? chain : "?");
                break;
        case NFT_LOST_SET:
                snprintf(buf, size, "set %s deleted", set ? set : "?");
                break;
        case NFT_LOST_ELEMENTS:
                if (ev->count == 1)
                        snprintf(buf, size, "element deleted from set %s", set ? set : "?");
                else
                        snprintf(buf, size, "%u elements deleted from set %s", ev->count, set ? set : "?");
                break;
        default:
                snprintf(buf, size, "events lost");
                break;
        }
}

/* --- the socket ----------------------------------------------------------------- */

struct nft_monitor {
        struct mnl_socket *nl;
        uint32_t own_portid;
        char table[NFT_TABLE_NAME_MAX];
        _Alignas(struct nlmsghdr) uint8_t buf[MONITOR_RECV_SIZE];
};

/* Drops, in the kernel, every datagram whose first message carries
 * own_portid. A classic BPF absolute load reads big-endian: nlmsg_pid's
 * host-order bytes read that way equal htonl(own_portid). */
static int attach_own_filter(int fd, uint32_t own_portid)
{
        struct sock_filter code[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct nlmsghdr, nlmsg_pid)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(own_portid), 0, 1),
            BPF_STMT(BPF_RET | BPF_K, 0),
            BPF_STMT(BPF_RET | BPF_K, UINT32_MAX),
        };
        struct sock_fprog prog = {.len = ELEMENTSOF(code), .filter = code};

        if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
                return negative_errno();
        return 0;
}

int nft_monitor_set_rcvbuf(struct nft_monitor *m, int bytes)
{
        return netlink_set_rcvbuf(m->nl, bytes);
}

static int monitor_setup(struct nft_monitor *m)
{
        unsigned group = NFNLGRP_NFTABLES;
        int r;

        m->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!m->nl)
                return negative_errno();
        if (mnl_socket_bind(m->nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return negative_errno();
        if (m->own_portid != 0) {
                r = attach_own_filter(mnl_socket_get_fd(m->nl), m->own_portid);
                if (r < 0)
                        return r;
        }
        r = nft_monitor_set_rcvbuf(m, MONITOR_RCVBUF);
        if (r < 0)
                return r;
        if (mnl_socket_setsockopt(m->nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
                return negative_errno();
        return 0;
}

int nft_monitor_open(const char *table, uint32_t own_portid, struct nft_monitor **ret)
{
        size_t len = table ? strlen(table) : 0;
        struct nft_monitor *m;
        int r;

        if (len == 0 || len >= NFT_TABLE_NAME_MAX)
                return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        memcpy(m->table, table, len + 1);
        m->own_portid = own_portid;
        r = monitor_setup(m);
        if (r < 0) {
                nft_monitor_close(m);
                return r;
        }
        *ret = m;
        return 0;
}

int nft_monitor_fd(const struct nft_monitor *m)
{
        return mnl_socket_get_fd(m->nl);
}

struct report_ctx {
        const struct nft_monitor *m;
        nft_monitor_cb cb;
        void *userdata;
};

static void report(const struct nft_event *ev, void *userdata)
{
        const struct report_ctx *ctx = userdata;
        char description[NFT_EVENT_DESCRIPTION_MAX];

        nft_event_describe(ev, ctx->m->table, description, sizeof(description));
        ctx->cb(ev, description, ctx->userdata);
}

static int on_datagram(const void *buf, size_t len, void *userdata)
{
        const struct report_ctx *ctx = userdata;
        int r = nft_parse_events(buf, len, ctx->m->table, ctx->m->own_portid, report, userdata);

        return r < 0 ? r : 0;
}

int nft_monitor_process(struct nft_monitor *m, nft_monitor_cb cb, void *userdata)
{
        struct report_ctx ctx = {m, cb, userdata};
        int r = netlink_drain(m->nl, m->buf, sizeof(m->buf), MONITOR_DATAGRAMS_MAX, on_datagram, &ctx);

        if (r < 0)
                return r;
        /* An overrun, a cut datagram or a broken one: anything may be gone. */
        if (r > 0)
                report(&(struct nft_event){.what = NFT_LOST_EVENTS, .object = -1, .count = 1}, &ctx);
        return 0;
}

void nft_monitor_close(struct nft_monitor *m)
{
        if (!m)
                return;
        if (m->nl)
                mnl_socket_close(m->nl);
        free(m);
}

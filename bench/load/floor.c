/* SPDX-License-Identifier: MIT */
/* build/bench/load: the floor, the daemon's kernel work done in-process
 * (see bench/load.c). */
#include "load.h"
#include "../netlink-msgs.h"

/* ---- acquire latency: the floor ---- */

/* The naive floor's link: the "minimal floor", what a simple
 * program would do: one RTM_NEWLINK with the MTU and IFF_UP (and, with
 * ipv6 = no, address generation off, as the daemon does), the addresses
 * in the same sendmsg; no MAC, no alias, not configured while down. */
static void naive_configure(struct worker *w, const struct rtnl_link_config *lc, const char *name)
{
        _Alignas(struct nlmsghdr) uint8_t buf[1024] = {0};
        struct in_addr brd4 = {lc->gateway4.s_addr | htonl(0xffffffffu >> lc->prefix4)};
        struct nlmsghdr *nlh;
        size_t off = 0;
        unsigned n = 0;
        int r;

        nlh = nl_link_msg(buf, off, w->naive_seq + n++, lc->ifindex, true);
        mnl_attr_put_u32(nlh, IFLA_MTU, lc->mtu);
        if (!lc->ipv6)
                nl_put_addr_gen_none(nlh);
        off += nlh->nlmsg_len;
        nl_addr_msg(buf, &off, w->naive_seq + n++, lc->ifindex, AF_INET, lc->prefix4, &lc->gateway4, &brd4,
                    false);
        if (lc->ipv6)
                nl_addr_msg(buf, &off, w->naive_seq + n++, lc->ifindex, AF_INET6, lc->prefix6, &lc->gateway6,
                            NULL, true);
        w->naive_seq += n;
        r = nl_talk(w->naive_nl, buf, off, n);
        if (r < 0)
                die("floor: %s: the naive sequence: %s", name, strerror(-r));
}

/* What the daemon does for a slot, done here for slot s of the floor's
 * configuration; fills w->fds[i] and w->ifindexes[i]. With w->naive_nl,
 * the link is configured the naive way instead (naive_configure()). */
static void floor_acquire(struct worker *w, unsigned i, unsigned s)
{
        const struct config *c = &w->b->floor_config;
        const struct tap_options opts = {.queues = 1, .vnet_header = true, .owner = 0};
        struct rtnl_link_config lc = {.mtu = c->mtu, .ipv6 = c->ipv6};
        struct slot_net4 n4;
        struct slot_net6 n6;
        struct nft_elem elems[NFT_SLOT_ELEMS_MAX];
        char name[IFNAMSIZ];
        const char *op = NULL;
        uint64_t t0, t1, t2;
        size_t n;
        int r;

        if (slot_ifname(c, s, name) < 0)
                die("floor: slot %u has no name", s);
        t0 = now_ns();
        r = tap_create(name, &opts, &w->fds[i], &w->ifindexes[i], &op);
        if (r < 0)
                die("floor: %s: %s: %s", name, op, strerror(-r));
        lc.ifindex = w->ifindexes[i];
        slot_host_mac(s, lc.mac);
        slot_ipv4(c, s, &n4);
        lc.gateway4 = n4.gateway;
        lc.prefix4 = n4.prefix_len;
        if (c->ipv6) {
                slot_ipv6(c, s, &n6);
                lc.gateway6 = n6.gateway;
                lc.prefix6 = n6.prefix_len;
        }
        t1 = now_ns();
        if (w->naive_nl)
                naive_configure(w, &lc, name);
        else if ((r = rtnl_configure_link(w->rtnl, &lc, &op)) < 0)
                die("floor: %s: %s: %s", name, op, strerror(-r));
        t2 = now_ns();
        n = nft_slot_elems(c, s, elems);
        r = nft_apply(w->nft, elems, n, NULL, 0);
        if (r < 0)
                die("floor: %s: nft_apply: %s", name, strerror(-r));
        samples_add(&w->phase[0], t1 - t0);
        samples_add(&w->phase[1], t2 - t1);
        samples_add(&w->phase[2], now_ns() - t2);
}

void *floor_round_thread(void *p)
{
        struct worker *w = p;

        pthread_barrier_wait(w->barrier);
        w->begin = now_ns();
        for (unsigned i = 0; i < w->k; i++) {
                uint64_t t0 = now_ns();

                floor_acquire(w, i, w->first_slot + i);
                samples_add(&w->lat, now_ns() - t0);
        }
        w->end = now_ns();
        return NULL;
}

/* The floor's devices in one group deletion, their elements in one batch. */
static void floor_delete(struct bench *b, const int *ifindexes, size_t n, const struct nft_elem *elems,
                         size_t n_elems)
{
        int r = rtnl_delete_links(b->rtnl, ifindexes, n, FLOOR_GROUP);

        if (r < 0)
                die("floor: rtnl_delete_links: %s", strerror(-r));
        r = nft_apply(b->nft, NULL, 0, elems, n_elems);
        if (r < 0)
                die("floor: nft_apply (delete): %s", strerror(-r));
}

/* Undoes a floor round off the clock: one group deletion, one batch. */
void floor_cleanup(struct bench *b, struct worker *w, unsigned n_workers)
{
        int ifindexes[MAX_CLIENTS * MAX_PER_ROUND] = {0};
        struct nft_elem elems[MAX_CLIENTS * MAX_PER_ROUND * NFT_SLOT_ELEMS_MAX] = {0};
        size_t n = 0, n_elems = 0;

        for (unsigned t = 0; t < n_workers; t++)
                for (unsigned i = 0; i < w[t].k; i++) {
                        ifindexes[n++] = w[t].ifindexes[i];
                        n_elems += nft_slot_elems(&b->floor_config, w[t].first_slot + i, elems + n_elems);
                }
        floor_delete(b, ifindexes, n, elems, n_elems);
        for (unsigned t = 0; t < n_workers; t++)
                close_many(w[t].fds, w[t].k);
}

/* The floor of the same: floor_acquire() n times from one thread, the
 * devices kept; persistent: TUNSETPERSIST and the fd closed at once, so
 * that the kernel takes the carrier down as it does when the client
 * closes its fds; naive: the naive link sequence. Torn down off the
 * clock. */
void seq_floor(struct bench *b, unsigned n, bool persistent, bool naive, struct samples *ret)
{
        struct worker w = {.b = b};
        int *fds = calloc(n, sizeof(int)), *ifindexes = calloc(n, sizeof(int));
        struct nft_elem *elems = calloc((size_t)n * NFT_SLOT_ELEMS_MAX, sizeof(*elems));
        size_t n_elems = 0;
        int r;

        if (!fds || !ifindexes || !elems)
                die("out of memory");
        r = rtnl_open(&w.rtnl);
        if (r >= 0)
                r = nft_open(&b->floor_config, &w.nft);
        if (r >= 0 && naive &&
            (!(w.naive_nl = mnl_socket_open(NETLINK_ROUTE)) ||
             mnl_socket_bind(w.naive_nl, 0, MNL_SOCKET_AUTOPID) < 0))
                r = -errno;
        if (r < 0)
                die("floor: opening sockets: %s", strerror(-r));
        for (unsigned i = 0; i < n; i++) {
                uint64_t t0 = now_ns();

                floor_acquire(&w, 0, i);
                fds[i] = w.fds[0];
                ifindexes[i] = w.ifindexes[0];
                if (persistent) {
                        r = tap_set_persist(fds[i], true);
                        if (r < 0)
                                die("floor: TUNSETPERSIST: %s", strerror(-r));
                        close(fds[i]);
                        fds[i] = -1;
                }
                samples_add(ret, now_ns() - t0);
                n_elems += nft_slot_elems(&b->floor_config, i, elems + n_elems);
        }
        floor_delete(b, ifindexes, n, elems, n_elems);
        close_many(fds, n);
        for (unsigned ph = 0; ph < 3; ph++)
                samples_free(&w.phase[ph]);
        rtnl_close(w.rtnl);
        nft_close(w.nft);
        if (w.naive_nl)
                mnl_socket_close(w.naive_nl);
        free(fds);
        free(ifindexes);
        free(elems);
}

/* The floor's configuration: the daemon's, with names and pools of its
 * own, so that its devices and elements never meet the daemon's slots. */
void setup_floor(struct bench *b)
{
        char *warning = NULL, *error = NULL;
        struct config *c = &b->floor_config;
        int r;

        r = config_init(c, &warning);
        free(warning);
        if (r >= 0)
                r = config_load(c, b->conf, &error);
        if (r < 0)
                die("%s: %s", b->conf, error ? error : strerror(-r));
        strcpy(c->ifname_prefix, "tf");
        inet_pton(AF_INET, "10.214.0.0", &c->ipv4_pool);
        inet_pton(AF_INET6, "fd74:6d00::", &c->ipv6_pool);
        r = config_finish(c, &error);
        if (r < 0)
                die("floor config: %s", error ? error : strerror(-r));
        r = rtnl_open(&b->rtnl);
        if (r >= 0)
                r = nft_open(c, &b->nft);
        if (r < 0)
                die("floor: opening sockets: %s", strerror(-r));
}

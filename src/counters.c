/* SPDX-License-Identifier: MIT */
/* The pure half of the counters: what the two dumps say, merged into one
 * entry per slot. The dumps themselves are kernel_counters()'s. */
#include <errno.h>
#include <stdlib.h>

#include "counters.h"
#include "slot.h"

static int add_entry(struct counters_table *t, const struct counters_entry *e)
{
        return VEC_PUSH(&t->entries, *e);
}

int counters_add_traffic(const struct config *c, struct counters_table *t, const struct rtnl_traffic *tr)
{
        struct counters_entry e = {0};

        if (slot_from_ifname(c, tr->ifname, &e.slot) < 0)
                return 0;
        /* A frame the guest sends arrives on the TAP: the host's rx. */
        e.c.guest_sent_bytes = tr->rx_bytes;
        e.c.guest_sent_packets = tr->rx_packets;
        e.c.guest_received_bytes = tr->tx_bytes;
        e.c.guest_received_packets = tr->tx_packets;
        return add_entry(t, &e);
}

int counters_add_drops(const struct config *c, struct counters_table *t, const struct nft_counter *nc)
{
        struct counters_entry e = {0};

        if (slot_from_ifname(c, nc->ifname, &e.slot) < 0)
                return 0;
        if (nc->policy)
                e.c.dropped_policy = nc->packets;
        else
                e.c.dropped_spoofed = nc->packets;
        return add_entry(t, &e);
}

static int entry_cmp(const void *a, const void *b)
{
        const struct counters_entry *x = a, *y = b;
        return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Each source fills its own fields and leaves the others 0, so the merge
 * of a slot's entries is their sum. */
static void merge(struct slot_counters *into, const struct slot_counters *from)
{
        into->guest_sent_bytes += from->guest_sent_bytes;
        into->guest_sent_packets += from->guest_sent_packets;
        into->guest_received_bytes += from->guest_received_bytes;
        into->guest_received_packets += from->guest_received_packets;
        into->dropped_spoofed += from->dropped_spoofed;
        into->dropped_policy += from->dropped_policy;
}

void counters_finish(struct counters_table *t)
{
        struct counters_entry *v = t->entries.items;
        size_t out = 0;

        if (t->entries.n == 0)
                return;
        qsort(v, t->entries.n, sizeof(*v), entry_cmp);
        for (size_t i = 1; i < t->entries.n; i++) {
                if (v[i].slot == v[out].slot)
                        merge(&v[out].c, &v[i].c);
                else
                        v[++out] = v[i];
        }
        t->entries.n = out + 1;
}

struct slot_counters counters_lookup(const struct counters_table *t, unsigned slot)
{
        struct counters_entry key = {.slot = slot};
        const struct counters_entry *e =
            t->entries.n ? bsearch(&key, t->entries.items, t->entries.n, sizeof(key), entry_cmp) : NULL;

        return e ? e->c : (struct slot_counters){0};
}

void counters_table_done(struct counters_table *t)
{
        VEC_FREE(&t->entries);
}

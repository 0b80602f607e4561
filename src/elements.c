/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elements.h"
#include "log.h"
#include "macro.h"
#include "slot.h"

/* Deletions this many slots deep are committed at once rather than waiting
 * for the event loop to run dry. */
#define BATCH_FLUSH_SLOTS 32
/* Elements per nft batch at start-up (reconcile of many slots). */
#define RECONCILE_CHUNK 4096

struct elements {
        struct manager *manager;
        const struct config *config;
        struct nft *nft;

        bool *in; /* by slot: its elements are (to be) in the sets */
        unsigned n_in;

        /* Deletions gathered: a burst of RTM_DELLINKs (one group deleted
         * by the reaper, read in one go by the monitor) shares a commit. */
        VEC(struct nft_elem) del;
        VEC(struct slot_rec *) held;
        sd_event_source *flush_source;
};

/* Everything a slot has in the sets: the elements its number gives, and
 * those of its egress policy. */
#define SLOT_ELEMS_MAX (NFT_SLOT_ELEMS_MAX + NFT_EGRESS_ELEMS_MAX + NFT_PUBLISH_ELEMS_MAX)

static size_t slot_elems(const struct elements *el, unsigned slot, struct nft_elem ret[SLOT_ELEMS_MAX])
{
        const struct slot_rec *r = manager_slot(el->manager, slot);
        /* A clone slot is IPv4-only (docs/DESIGN.md, "Clone slots"). */
        bool ipv6 = slot_has_ipv6(el->config, r && r->clone);
        size_t n = nft_slot_elems_ipv6(el->config, slot, ipv6, ret);
        char name[IFNAMSIZ];

        if (n == 0 || !r)
                return n;
        if (r->egress && slot_ifname(el->config, slot, name) == 0)
                n += nft_egress_elems(name, r->egress, ret + n);
        n += nft_publish_elems(el->config, slot, ipv6, r->published, ret + n);
        return n;
}

static void mark(struct elements *el, unsigned slot, bool in)
{
        if (el->in[slot] != in)
                el->n_in += in ? 1 : (unsigned)-1;
        el->in[slot] = in;
}

static int apply_with_repair(struct elements *el, const struct nft_elem *add, size_t n_add,
                             const struct nft_elem *del, size_t n_del)
{
        int e = nft_apply(el->nft, add, n_add, del, n_del);
        if (e == -ENOENT) {
                /* Someone deleted our table or a set: put it back, once. */
                log_warning("nftables table %s or one of its sets is missing; restoring it",
                            el->config->nft_table);
                int r = nft_ensure_ruleset(el->nft);
                if (r < 0)
                        return log_error_errno(r, "nftables: restoring table %s failed: %m",
                                               el->config->nft_table);
                e = nft_apply(el->nft, add, n_add, del, n_del);
        }
        return e;
}

/* The gathered deletions are done (or failed): their slots are free. */
static void release_held(struct elements *el)
{
        struct slot_rec **held = el->held.items;
        size_t n = el->held.n;

        el->held = (typeof(el->held)){0};
        el->del.n = 0;
        sd_event_source_set_enabled(el->flush_source, SD_EVENT_OFF);
        for (size_t i = 0; i < n; i++)
                manager_unhold(el->manager, held[i]);
        free(held);
}

static void flush(struct elements *el)
{
        int e;

        if (el->held.n == 0)
                return;
        e = apply_with_repair(el, NULL, 0, el->del.items, el->del.n);
        if (e < 0)
                /* The elements may stay behind; the next start-up's
                 * reconcile removes them. The slots are free either way:
                 * their devices are gone. */
                log_error_errno(e, "nftables: deleting the elements of %zu slots failed: %m", el->held.n);
        release_held(el);
}

static int on_flush(sd_event_source *s, void *userdata)
{
        flush(userdata);
        return 0;
}

int elements_add(struct elements *el, unsigned slot)
{
        struct nft_elem add[SLOT_ELEMS_MAX];
        size_t n = slot_elems(el, slot, add);
        int e;

        e = apply_with_repair(el, add, n, el->del.items, el->del.n);
        if (e < 0 && el->del.n > 0) {
                /* Keep a failing deletion from failing the Acquire, and
                 * the other way round. */
                flush(el);
                e = apply_with_repair(el, add, n, NULL, 0);
        } else if (el->held.n > 0)
                release_held(el);
        if (e < 0)
                return e;
        mark(el, slot, true);
        return 0;
}

/* ---- the lifecycle ---- */

static void on_live(struct slot_rec *r, void *userdata)
{
        /* Adopted slots: reconcile (or the next restore) adds them. */
        mark(userdata, r->slot, true);
}

static void on_gone(struct slot_rec *r, void *userdata)
{
        struct elements *el = userdata;
        struct nft_elem elems[SLOT_ELEMS_MAX];
        size_t n;

        if (!el->in[r->slot])
                return; /* its Acquire failed before the commit */
        mark(el, r->slot, false);
        n = slot_elems(el, r->slot, elems);
        if (VEC_APPEND(&el->del, elems, n) < 0 || VEC_PUSH(&el->held, r) < 0) {
                el->del.n -= MIN(el->del.n, n);
                log_error("tap slot %u: out of memory queueing its element deletion; "
                          "the next start-up removes them",
                          r->slot);
                return;
        }
        manager_hold(r);
        if (el->held.n >= BATCH_FLUSH_SLOTS)
                flush(el);
        else
                sd_event_source_set_enabled(el->flush_source, SD_EVENT_ONESHOT);
}

static const struct slot_hooks hooks = {
    .name = "elements",
    .live = on_live,
    .gone = on_gone,
};

/* ---- start-up and restores ---- */

/* The slot an element of ours belongs to, from the element itself. */
static int elem_slot(const struct config *c, const struct nft_elem *e, unsigned *ret)
{
        switch (e->set) {
        case NFT_SET_SLOTS_V4:
                return slot_from_ipv4_subnet(c, e->addr.v4, ret);
        case NFT_SET_SLOTS_V6:
                return c->ipv6 ? slot_from_ipv6_subnet(c, &e->addr.v6, ret) : -EINVAL;
        case NFT_SET_GUESTS_V4:
                return slot_from_ifname(c, e->ifname, ret);
        case NFT_SET_GUESTS_V6:
                return c->ipv6 ? slot_from_ifname(c, e->ifname, ret) : -EINVAL;
        case NFT_SET_DROPPED_SPOOFED:
        case NFT_SET_DROPPED_POLICY:
                return slot_from_ifname(c, e->ifname, ret);
        case NFT_SET_PUBLISHED_V4:
        case NFT_SET_PUBLISHED_ANY_V4:
        case NFT_SET_PUBLISHED_V6:
        case NFT_SET_PUBLISHED_ANY_V6:
                return nft_publish_elem_slot(c, e, ret);
        default:
                return slot_from_ifname(c, e->ifname, ret);
        }
}

static bool elem_expected(const struct elements *el, const struct nft_elem *e)
{
        struct nft_elem own[SLOT_ELEMS_MAX];
        unsigned slot;
        size_t n;

        if (elem_slot(el->config, e, &slot) < 0 || !el->in[slot])
                return false;
        /* The element must be exactly one of the slot's own. */
        n = slot_elems(el, slot, own);
        for (size_t i = 0; i < n; i++)
                if (nft_elem_equal(&own[i], e))
                        return true;
        return false;
}

int elements_collect(struct nft_elem **ret, size_t *ret_n, void *userdata)
{
        struct elements *el = userdata;
        VEC(struct nft_elem) all = {0};

        for (unsigned slot = 0; slot < el->config->effective_max_slots; slot++) {
                struct nft_elem own[SLOT_ELEMS_MAX];
                size_t n;

                if (!el->in[slot])
                        continue;
                n = slot_elems(el, slot, own);
                if (VEC_APPEND(&all, own, n) < 0) {
                        VEC_FREE(&all);
                        return -ENOMEM;
                }
        }
        *ret = all.items;
        *ret_n = all.n;
        return 0;
}

static int apply_chunked(struct elements *el, const struct nft_elem *add, size_t n_add,
                         const struct nft_elem *del, size_t n_del)
{
        for (size_t i = 0; i < n_del; i += RECONCILE_CHUNK) {
                int e = nft_apply(el->nft, NULL, 0, del + i, MIN(n_del - i, (size_t)RECONCILE_CHUNK));
                if (e < 0)
                        return e;
        }
        for (size_t i = 0; i < n_add; i += RECONCILE_CHUNK) {
                int e = nft_apply(el->nft, add + i, MIN(n_add - i, (size_t)RECONCILE_CHUNK), NULL, 0);
                if (e < 0)
                        return e;
        }
        return 0;
}

/* One dumped element of a slot's policy or ports, and the slot it names. */
struct slot_elem {
        unsigned slot;
        struct nft_elem elem;
};

static int cmp_slot_elem(const void *a, const void *b)
{
        const struct slot_elem *x = a, *y = b;
        return (x->slot > y->slot) - (x->slot < y->slot);
}

/* Adopted slots get their egress policy and their published ports back
 * from the kernel: the elements are the state. A slot without a mode
 * element (made by taplinkd 0.1) gets default_egress, which the reconcile
 * then writes. Elements that name no live slot are left to the reconcile,
 * which removes them as stale. */
static int adopt_state(struct elements *el, const struct nft_elem *dumped, size_t n_dumped)
{
        _cleanup_free_ struct slot_elem *v = calloc(n_dumped + 1, sizeof(*v));
        _cleanup_free_ struct nft_elem *group = calloc(n_dumped + 1, sizeof(*group));
        size_t n = 0;

        if (!v || !group)
                return log_error_errno(-ENOMEM, "nftables: reading the slots' policies and ports: %m");
        for (size_t i = 0; i < n_dumped; i++)
                if ((nft_egress_set(dumped[i].set) || nft_publish_set(dumped[i].set)) &&
                    elem_slot(el->config, &dumped[i], &v[n].slot) == 0)
                        v[n++].elem = dumped[i];
        qsort(v, n, sizeof(*v), cmp_slot_elem);

        for (struct slot_rec *r = manager_records(el->manager); r; r = r->records_next) {
                struct slot_elem key = {.slot = r->slot};
                struct slot_elem *first = bsearch(&key, v, n, sizeof(*v), cmp_slot_elem);
                size_t count = 0;
                int e;

                while (first && first > v && first[-1].slot == r->slot)
                        first--;
                while (first && first + count < v + n && first[count].slot == r->slot) {
                        group[count] = first[count].elem;
                        count++;
                }
                if (!r->egress) {
                        struct egress_policy *p = NULL;
                        e = nft_egress_from_elems(group, count, &p);
                        if (e == -ENOENT) {
                                log_info(
                                    "tap slot %u: no egress policy in the sets; giving it default_egress",
                                    r->slot);
                                p = egress_policy_new(el->config->default_egress, 0);
                                e = p ? 0 : -ENOMEM;
                        }
                        if (e < 0)
                                return log_error_errno(e, "tap slot %u: reading its egress policy: %m",
                                                       r->slot);
                        manager_set_egress(r, p);
                }
                if (!r->published) {
                        struct publish_list *l = NULL;
                        if (nft_publish_from_elems(group, count, &l) < 0)
                                return log_error_errno(
                                    -ENOMEM, "tap slot %u: reading its published ports: %m", r->slot);
                        manager_set_published(r, l);
                }
        }
        return 0;
}

int elements_reconcile(struct elements *el)
{
        _cleanup_free_ struct nft_elem *dumped = NULL, *add = NULL;
        VEC(struct nft_elem) del = {0};
        size_t n_dumped = 0, n_add = 0;
        int e;

        e = nft_dump_elems(el->nft, &dumped, &n_dumped);
        if (e < 0)
                return log_error_errno(e, "nftables: dumping the set elements of table %s failed: %m",
                                       el->config->nft_table);
        e = adopt_state(el, dumped, n_dumped);
        if (e < 0)
                goto out;
        for (size_t i = 0; i < n_dumped; i++)
                if (!elem_expected(el, &dumped[i]) && VEC_PUSH(&del, dumped[i]) < 0) {
                        e = log_error_errno(-ENOMEM, "nftables: reconciling set elements: %m");
                        goto out;
                }
        /* Adding an element that exists is a no-op, so every live slot's
         * elements go in: that restores whatever is missing. */
        e = elements_collect(&add, &n_add, el);
        if (e < 0)
                goto out;
        e = apply_chunked(el, add, n_add, del.items, del.n);
        if (e < 0) {
                log_error_errno(e, "nftables: reconciling set elements failed: %m");
                goto out;
        }
        log_info("reconciled: %u live slots adopted, %zu stale set elements removed", el->n_in, del.n);
out:
        VEC_FREE(&del);
        return e;
}

/* ---- a live slot's policy ---- */

static bool elem_in(const struct nft_elem *e, const struct nft_elem *list, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (nft_elem_equal(e, &list[i]))
                        return true;
        return false;
}

/* Replaces a slot's elements old[] by new[] in one batch: what is in
 * both stays untouched. */
static int replace_elems(struct elements *el, const struct nft_elem *old, size_t n_old,
                         const struct nft_elem *new, size_t n_new)
{
        _cleanup_free_ struct nft_elem *add = calloc(n_new + 1, sizeof(*add)),
                                       *del = calloc(n_old + 1, sizeof(*del));
        size_t n_add = 0, n_del = 0;

        if (!add || !del)
                return -ENOMEM;
        for (size_t i = 0; i < n_new; i++)
                if (!elem_in(&new[i], old, n_old))
                        add[n_add++] = new[i];
        for (size_t i = 0; i < n_old; i++)
                if (!elem_in(&old[i], new, n_new))
                        del[n_del++] = old[i];
        return apply_with_repair(el, add, n_add, del, n_del);
}

int elements_set_egress(struct elements *el, struct slot_rec *r, struct egress_policy *p)
{
        struct nft_elem old[NFT_EGRESS_ELEMS_MAX], new[NFT_EGRESS_ELEMS_MAX];
        size_t n_old = 0, n_new;
        char name[IFNAMSIZ];
        int e;

        if (slot_ifname(el->config, r->slot, name) < 0)
                return -EINVAL;
        if (r->egress)
                n_old = nft_egress_elems(name, r->egress, old);
        n_new = nft_egress_elems(name, p, new);
        /* One batch: the slot is never without a mode in between. */
        e = replace_elems(el, old, n_old, new, n_new);
        if (e < 0)
                return e;
        manager_set_egress(r, p);
        return 0;
}

int elements_set_published(struct elements *el, struct slot_rec *r, struct publish_list *l)
{
        _cleanup_free_ struct nft_elem *old = calloc(NFT_PUBLISH_ELEMS_MAX, sizeof(*old)),
                                       *new = calloc(NFT_PUBLISH_ELEMS_MAX, sizeof(*new));
        int e;

        if (!old || !new)
                return -ENOMEM;
        bool ipv6 = slot_has_ipv6(el->config, r->clone);
        size_t n_old = nft_publish_elems(el->config, r->slot, ipv6, r->published, old);
        size_t n_new = nft_publish_elems(el->config, r->slot, ipv6, l, new);
        e = replace_elems(el, old, n_old, new, n_new);
        if (e < 0)
                return e;
        manager_set_published(r, l);
        return 0;
}

/* ---- life ---- */

int elements_new(sd_event *event, struct nft *nft, struct manager *m, struct elements **ret)
{
        struct elements *el = calloc(1, sizeof(*el));
        int e;

        if (!el)
                return -ENOMEM;
        el->manager = m;
        el->config = manager_config(m);
        el->nft = nft;
        el->in = calloc(el->config->effective_max_slots, sizeof(bool));
        if (!el->in) {
                free(el);
                return -ENOMEM;
        }
        /* Normal priority: the commit runs after the sources that were
         * ready before it (the rest of a burst is queued by then) and
         * cannot be put off for ever by a client pipelining calls, as an
         * idle-priority source could. */
        e = sd_event_add_defer(event, &el->flush_source, on_flush, el);
        if (e >= 0)
                e = sd_event_source_set_enabled(el->flush_source, SD_EVENT_OFF);
        if (e >= 0)
                e = manager_subscribe(m, &hooks, el);
        if (e < 0) {
                sd_event_source_disable_unref(el->flush_source);
                free(el->in);
                free(el);
                return e;
        }
        *ret = el;
        return 0;
}

void elements_free(struct elements *el)
{
        if (!el)
                return;
        flush(el);
        manager_unsubscribe(el->manager, &hooks, el);
        sd_event_source_disable_unref(el->flush_source);
        VEC_FREE(&el->del);
        VEC_FREE(&el->held);
        free(el->in);
        free(el);
}

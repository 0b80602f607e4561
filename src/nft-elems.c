/* SPDX-License-Identifier: MIT */
/* The elements half of the pure nftables builders (nft-build.c has the
 * table, sets, chains and rules): each element's set key, their batches,
 * and the elements a slot's number gives it (docs/DESIGN.md, "The
 * nftables layout"). Nothing here touches a socket. */

#include <errno.h>
#include <string.h>

#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>

#include "macro.h"
#include "nft-internal.h"
#include "slot.h"

/* --- elements ------------------------------------------------------------- */

int nft_elem_key(const struct nft_elem *e, uint8_t ret[NFT_ELEM_KEY_MAX])
{
        size_t name_len;

        switch (e->set) {
        case NFT_SET_SLOTS_V4:
                memcpy(ret, &e->addr.v4, 4);
                return 4;
        case NFT_SET_SLOTS_V6:
                memcpy(ret, &e->addr.v6, 16);
                return 16;
        case NFT_SET_GUESTS_V4:
        case NFT_SET_GUESTS_V6:
        case NFT_SET_DROPPED_SPOOFED:
        case NFT_SET_DROPPED_POLICY:
                name_len = strnlen(e->ifname, IFNAMSIZ);
                if (name_len == 0 || name_len >= IFNAMSIZ)
                        return -EINVAL;
                memset(ret, 0, IFNAMSIZ);
                memcpy(ret, e->ifname, name_len);
                if (e->set == NFT_SET_DROPPED_SPOOFED || e->set == NFT_SET_DROPPED_POLICY)
                        return IFNAMSIZ;
                if (e->set == NFT_SET_GUESTS_V4) {
                        memcpy(ret + IFNAMSIZ, &e->addr.v4, 4);
                        return IFNAMSIZ + 4;
                }
                memcpy(ret + IFNAMSIZ, &e->addr.v6, 16);
                return IFNAMSIZ + 16;
        default:
                if (nft_publish_set(e->set))
                        return nft_publish_elem_key(e, ret);
                if (nft_egress_set(e->set)) {
                        uint8_t key_end[NFT_ELEM_KEY_MAX];
                        return nft_egress_elem_key(e, ret, key_end);
                }
                return -EINVAL;
        }
}

bool nft_elem_equal(const struct nft_elem *a, const struct nft_elem *b)
{
        uint8_t ka[NFT_ELEM_KEY_MAX], kb[NFT_ELEM_KEY_MAX], ea[NFT_ELEM_KEY_MAX] = {0},
                                                            eb[NFT_ELEM_KEY_MAX] = {0};
        int la, lb;

        if (a->set != b->set)
                return false;
        if (nft_egress_set(a->set)) {
                la = nft_egress_elem_key(a, ka, ea);
                lb = nft_egress_elem_key(b, kb, eb);
        } else {
                la = nft_elem_key(a, ka);
                lb = nft_elem_key(b, kb);
        }
        if (nft_publish_set(a->set)) {
                /* A map element: the same key and the same data. */
                la = nft_publish_elem_data(a, ea);
                lb = nft_publish_elem_data(b, eb);
                if (la < 0 || la != lb || memcmp(ea, eb, (size_t)la) != 0)
                        return false;
                la = nft_elem_key(a, ka);
                lb = nft_elem_key(b, kb);
                return la >= 0 && la == lb && memcmp(ka, kb, (size_t)la) == 0;
        }
        return la >= 0 && la == lb && memcmp(ka, kb, (size_t)la) == 0 &&
               (nft_set_desc(a->set)->flags == 0 || memcmp(ea, eb, (size_t)la) == 0);
}

static int build_elems_msg(struct nft_batch *b, const struct nft_layout *l, uint16_t type,
                           enum nft_set_id set, const struct nft_elem *e, size_t n, size_t *pos)
{
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = nft_set_new(l, nft_set_desc(set)->name);
        size_t count = 0;

        if (!s)
                return -ENOMEM;
        for (; *pos < n && count < NFT_ELEMS_PER_MSG; (*pos)++) {
                uint8_t key[NFT_ELEM_KEY_MAX];
                if (e[*pos].set != set)
                        continue;
                uint8_t key_end[NFT_ELEM_KEY_MAX];
                int key_len = nft_egress_set(set) ? nft_egress_elem_key(&e[*pos], key, key_end)
                                                  : nft_elem_key(&e[*pos], key);
                if (key_len < 0)
                        return key_len;
                _cleanup_(nftnl_set_elem_freep) struct nftnl_set_elem *elem = nftnl_set_elem_alloc();
                if (!elem || nftnl_set_elem_set(elem, NFTNL_SET_ELEM_KEY, key, (uint32_t)key_len) < 0)
                        return -ENOMEM;
                if ((nft_set_desc(set)->flags & NFT_SET_INTERVAL) &&
                    nftnl_set_elem_set(elem, NFTNL_SET_ELEM_KEY_END, key_end, (uint32_t)key_len) < 0)
                        return -ENOMEM;
                if ((nft_set_desc(set)->flags & NFT_SET_MAP) && type == NFT_MSG_NEWSETELEM) {
                        uint8_t data[NFT_ELEM_KEY_MAX];
                        int data_len = nft_publish_elem_data(&e[*pos], data);
                        if (data_len < 0)
                                return data_len;
                        if (nftnl_set_elem_set(elem, NFTNL_SET_ELEM_DATA, data, (uint32_t)data_len) < 0)
                                return -ENOMEM;
                }
                nftnl_set_elem_add(s, TAKE_PTR(elem));
                count++;
        }
        /* A delete without elements would flush the whole set. */
        if (count == 0)
                return 0;

        struct nlmsghdr *nlh = nft_batch_msg(b, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        return nft_batch_next(b);
}

int nft_build_elems(struct nft_batch *b, const struct nft_layout *l, uint16_t type, const struct nft_elem *e,
                    size_t n)
{
        for (size_t i = 0; i < n; i++) {
                uint8_t key[NFT_ELEM_KEY_MAX];
                int r = nft_elem_key(&e[i], key);
                if (r < 0)
                        return r;
        }
        for (int set = 0; set < _NFT_SET_MAX; set++)
                for (size_t pos = 0; pos < n;) {
                        int r = build_elems_msg(b, l, type, set, e, n, &pos);
                        if (r < 0)
                                return r;
                }
        return 0;
}

/* NFT_MSG_DESTROYSETELEM of a set that cannot exist: the element keeps
 * the message from meaning "flush". */
int nft_build_destroy_probe(struct nft_batch *b, const struct nft_layout *l)
{
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = nft_set_new(l, "");
        _cleanup_(nftnl_set_elem_freep) struct nftnl_set_elem *e = nftnl_set_elem_alloc();
        static const uint8_t key[4];

        if (!s || !e || nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, sizeof(key)) < 0)
                return -ENOMEM;
        nftnl_set_elem_add(s, TAKE_PTR(e));
        nftnl_set_elems_nlmsg_build_payload(nft_batch_msg(b, NFT_MSG_DESTROYSETELEM_COMPAT, 0), s);
        return nft_batch_next(b);
}

/* --- the elements of a slot ------------------------------------------------ */

/* Each derives one element of a slot from the configuration, the slot
 * number and its interface name (NUL-padded to IFNAMSIZ) into e, which
 * comes zeroed with its set filled in; false when the slot has no such
 * element under this configuration. */
typedef bool (*slot_elem_derive_fn)(const struct config *c, unsigned slot, const char *ifname,
                                    struct nft_elem *e);

static bool derive_subnet_v4(const struct config *c, unsigned slot, const char *ifname, struct nft_elem *e)
{
        struct slot_net4 net;
        slot_ipv4(c, slot, &net);
        e->addr.v4 = net.subnet;
        return true;
}

static bool derive_guest_v4(const struct config *c, unsigned slot, const char *ifname, struct nft_elem *e)
{
        struct slot_net4 net;
        slot_ipv4(c, slot, &net);
        memcpy(e->ifname, ifname, IFNAMSIZ);
        e->addr.v4 = net.guest;
        return true;
}

static bool derive_subnet_v6(const struct config *c, unsigned slot, const char *ifname, struct nft_elem *e)
{
        struct slot_net6 net;
        slot_ipv6(c, slot, &net);
        e->addr.v6 = net.subnet;
        return true;
}

static bool derive_guest_v6(const struct config *c, unsigned slot, const char *ifname, struct nft_elem *e)
{
        struct slot_net6 net;
        slot_ipv6(c, slot, &net);
        memcpy(e->ifname, ifname, IFNAMSIZ);
        e->addr.v6 = net.guest;
        return true;
}

/* The slot's counters of spoofed packets and of packets its egress policy
 * dropped start at 0 with the slot, and go with it: a new tenant of the
 * slot does not inherit the counts. */
static bool derive_dropped_spoofed(const struct config *c, unsigned slot, const char *ifname,
                                   struct nft_elem *e)
{
        memcpy(e->ifname, ifname, IFNAMSIZ);
        return true;
}

/* The element families: one row per element a slot may put into a set
 * (docs/DESIGN.md, "Slots and addresses"). A feature that gives each slot
 * an element of its own adds a row (and its set), and raises
 * NFT_SLOT_ELEMS_MAX if the rows outgrow it. The order is the order of
 * nft_slot_elems()'s result. */
static const struct slot_elem_family {
        enum nft_set_id set;
        slot_elem_derive_fn derive;
        bool ipv6; /* only for a slot with IPv6 */
} slot_elem_families[] = {
    {NFT_SET_SLOTS_V4, derive_subnet_v4, false},
    {NFT_SET_GUESTS_V4, derive_guest_v4, false},
    {NFT_SET_SLOTS_V6, derive_subnet_v6, true},
    {NFT_SET_GUESTS_V6, derive_guest_v6, true},
    {NFT_SET_DROPPED_SPOOFED, derive_dropped_spoofed, false},
    {NFT_SET_DROPPED_POLICY, derive_dropped_spoofed, false},
};

_Static_assert(ELEMENTSOF(slot_elem_families) <= NFT_SLOT_ELEMS_MAX,
               "NFT_SLOT_ELEMS_MAX must cover every element family");

size_t nft_slot_elems(const struct config *c, unsigned slot, struct nft_elem ret[NFT_SLOT_ELEMS_MAX])
{
        return nft_slot_elems_ipv6(c, slot, c->ipv6, ret);
}

size_t nft_slot_elems_ipv6(const struct config *c, unsigned slot, bool ipv6,
                           struct nft_elem ret[NFT_SLOT_ELEMS_MAX])
{
        char ifname[IFNAMSIZ] = {0}; /* zero-padded: elements are compared with memcmp() */
        size_t n = 0;

        if (slot_ifname(c, slot, ifname) < 0)
                return 0;
        /* All of it, union tails included, for the same reason. */
        memset(ret, 0, NFT_SLOT_ELEMS_MAX * sizeof(ret[0]));
        for (size_t i = 0; i < ELEMENTSOF(slot_elem_families); i++) {
                if (slot_elem_families[i].ipv6 && !ipv6)
                        continue;
                ret[n].set = slot_elem_families[i].set;
                if (slot_elem_families[i].derive(c, slot, ifname, &ret[n]))
                        n++;
                else
                        memset(&ret[n], 0, sizeof(ret[n]));
        }
        return n;
}

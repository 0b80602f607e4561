/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "slot.h"

#define SLOT_NONE UINT32_MAX

/* 2^bits, saturated at UINT_MAX: an IPv6 pool can hold far more slots than
 * an unsigned counts (a /32 cut into /64s), and max_slots caps the result
 * well below that anyway. */
static unsigned pow2_saturated(unsigned bits)
{
        return bits >= sizeof(unsigned) * CHAR_BIT ? UINT_MAX : 1u << bits;
}

static unsigned pool_capacity(unsigned pool_prefix, unsigned slot_prefix)
{
        if (slot_prefix < pool_prefix)
                return 0;
        return pow2_saturated(slot_prefix - pool_prefix);
}

unsigned slot_capacity(const struct config *c)
{
        unsigned n = c->max_slots;

        n = MIN(n, pool_capacity(c->ipv4_pool_prefix, c->ipv4_prefix));
        if (c->ipv6)
                n = MIN(n, pool_capacity(c->ipv6_pool_prefix, c->ipv6_prefix));
        return n;
}

int slot_ifname(const struct config *c, unsigned slot, char ret[IFNAMSIZ])
{
        char buf[IFNAMSIZ];
        int n;

        n = snprintf(buf, sizeof(buf), "%s%u", c->ifname_prefix, slot);
        if (n < 0 || (size_t)n >= sizeof(buf))
                return -ERANGE;
        memcpy(ret, buf, (size_t)n + 1);
        return 0;
}

int slot_from_ifname(const struct config *c, const char *ifname, unsigned *ret_slot)
{
        size_t len = strlen(c->ifname_prefix);
        const char *digits;
        uint64_t v = 0;

        if (strncmp(ifname, c->ifname_prefix, len) != 0)
                return -EINVAL;
        digits = ifname + len;

        /* Only the canonical spelling slot_ifname() produces: "tl01" or
         * "tl+1" would name a device that is not ours. */
        if (digits[0] == '\0' || (digits[0] == '0' && digits[1] != '\0'))
                return -EINVAL;
        for (const char *p = digits; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(*p - '0');
                /* v only grows, so stopping here also keeps it from
                 * overflowing on a long run of digits. */
                if (v >= c->effective_max_slots)
                        return -EINVAL;
        }

        *ret_slot = (unsigned)v;
        return 0;
}

static uint32_t ipv4_netmask(unsigned prefix_len)
{
        return prefix_len == 0 ? 0 : UINT32_MAX << (32 - prefix_len);
}

void slot_ipv4(const struct config *c, unsigned slot, struct slot_net4 *ret)
{
        uint32_t base = ntohl(c->ipv4_pool.s_addr) + (slot << (32 - c->ipv4_prefix));
        /* A /31 has no network or broadcast address (RFC 3021): both
         * addresses are usable, so the pair starts at the base. */
        uint32_t first = c->ipv4_prefix == 31 ? base : base + 1;

        *ret = (struct slot_net4){
            .subnet.s_addr = htonl(base),
            .gateway.s_addr = htonl(first),
            .guest.s_addr = htonl(first + 1),
            .netmask.s_addr = htonl(ipv4_netmask(c->ipv4_prefix)),
            .prefix_len = c->ipv4_prefix,
        };
}

/* addr += v << shift, addr read as one 128-bit big-endian number. */
static void in6_add_shifted(struct in6_addr *addr, uint32_t v, unsigned shift)
{
        uint64_t carry = (uint64_t)v << (shift % 8);

        for (int i = 15 - (int)(shift / 8); i >= 0 && carry != 0; i--) {
                carry += addr->s6_addr[i];
                addr->s6_addr[i] = carry & 0xff;
                carry >>= 8;
        }
}

void slot_ipv6(const struct config *c, unsigned slot, struct slot_net6 *ret)
{
        struct slot_net6 n = {
            .subnet = c->ipv6_pool,
            .prefix_len = c->ipv6_prefix,
        };

        in6_add_shifted(&n.subnet, slot, 128 - c->ipv6_prefix);
        n.gateway = n.subnet;
        in6_add_shifted(&n.gateway, 1, 0);
        n.guest = n.subnet;
        in6_add_shifted(&n.guest, 2, 0);
        *ret = n;
}

int slot_from_ipv4_subnet(const struct config *c, struct in_addr addr, unsigned *ret_slot)
{
        uint32_t a = ntohl(addr.s_addr);
        uint32_t pool = ntohl(c->ipv4_pool.s_addr);
        unsigned host_bits = 32 - c->ipv4_prefix;
        uint32_t offset, slot;

        if ((a & ipv4_netmask(c->ipv4_pool_prefix)) != pool)
                return -ENOENT;
        offset = a - pool;
        if ((offset & ~ipv4_netmask(c->ipv4_prefix)) != 0)
                return -ENOENT;
        slot = offset >> host_bits;
        if (slot >= c->effective_max_slots)
                return -ENOENT;

        *ret_slot = slot;
        return 0;
}

static bool in6_bit(const struct in6_addr *a, unsigned i)
{
        return (a->s6_addr[i / 8] >> (7 - i % 8)) & 1;
}

int slot_from_ipv6_subnet(const struct config *c, const struct in6_addr *addr, unsigned *ret_slot)
{
        uint64_t slot = 0;

        if (!c->ipv6)
                return -ENOENT;

        /* Bit by bit: pool bits must match, the bits between the two
         * prefixes are the slot number, the rest must be zero. */
        for (unsigned i = 0; i < 128; i++) {
                bool b = in6_bit(addr, i);

                if (i < c->ipv6_pool_prefix) {
                        if (b != in6_bit(&c->ipv6_pool, i))
                                return -ENOENT;
                } else if (i < c->ipv6_prefix) {
                        slot = slot << 1 | b;
                        /* slot only grows; stopping early keeps it small. */
                        if (slot >= c->effective_max_slots)
                                return -ENOENT;
                } else if (b) {
                        return -ENOENT;
                }
        }

        *ret_slot = (unsigned)slot;
        return 0;
}

int slot_from_ipv4_guest(const struct config *c, struct in_addr addr, unsigned *ret_slot)
{
        struct slot_net4 n;
        struct in_addr subnet = {addr.s_addr & htonl(ipv4_netmask(c->ipv4_prefix))};
        unsigned slot;

        if (slot_from_ipv4_subnet(c, subnet, &slot) < 0)
                return -ENOENT;
        slot_ipv4(c, slot, &n);
        if (n.guest.s_addr != addr.s_addr)
                return -ENOENT;
        *ret_slot = slot;
        return 0;
}

int slot_from_ipv6_guest(const struct config *c, const struct in6_addr *addr, unsigned *ret_slot)
{
        struct in6_addr subnet = *addr;
        struct slot_net6 n;
        unsigned slot;

        if (!c->ipv6)
                return -ENOENT;
        for (unsigned i = c->ipv6_prefix; i < 128; i++)
                subnet.s6_addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
        if (slot_from_ipv6_subnet(c, &subnet, &slot) < 0)
                return -ENOENT;
        slot_ipv6(c, slot, &n);
        if (memcmp(&n.guest, addr, sizeof(*addr)) != 0)
                return -ENOENT;
        *ret_slot = slot;
        return 0;
}

static void slot_mac(uint8_t first, unsigned slot, uint8_t ret[6])
{
        ret[0] = first;
        ret[1] = 0x74;
        ret[2] = 0x6c;
        ret[3] = (slot >> 16) & 0xff;
        ret[4] = (slot >> 8) & 0xff;
        ret[5] = slot & 0xff;
}

void slot_guest_mac(unsigned slot, uint8_t ret[6])
{
        slot_mac(0x02, slot, ret);
}

void slot_host_mac(unsigned slot, uint8_t ret[6])
{
        slot_mac(0x06, slot, ret);
}

void slot_format_mac(const uint8_t mac[6], char buf[18])
{
        snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

static int format_ip_arg(struct in_addr guest4, struct in_addr gateway4, struct in_addr netmask4, char *buf,
                         size_t size)
{
        char guest[INET_ADDRSTRLEN], gateway[INET_ADDRSTRLEN], netmask[INET_ADDRSTRLEN];
        char arg[sizeof("ip=::::::eth0:off") + 3 * INET_ADDRSTRLEN];
        int len;

        inet_ntop(AF_INET, &guest4, guest, sizeof(guest));
        inet_ntop(AF_INET, &gateway4, gateway, sizeof(gateway));
        inet_ntop(AF_INET, &netmask4, netmask, sizeof(netmask));

        len = snprintf(arg, sizeof(arg), "ip=%s::%s:%s::eth0:off", guest, gateway, netmask);
        if (len < 0 || (size_t)len >= size)
                return -ENOBUFS;
        memcpy(buf, arg, (size_t)len + 1);
        return 0;
}

int slot_kernel_ip_arg(const struct config *c, unsigned slot, char *buf, size_t size)
{
        struct slot_net4 n;

        slot_ipv4(c, slot, &n);
        return format_ip_arg(n.guest, n.gateway, n.netmask, buf, size);
}

int slot_clone_ip_arg(const struct config *c, char *buf, size_t size)
{
        struct in_addr netmask = {htonl(~0u << (32 - c->clone_prefix))};

        return format_ip_arg(c->clone_guest, c->clone_gateway, netmask, buf, size);
}

/* The free list is doubly linked through two index arrays, so unlinking any
 * slot (the head, or one adopted at start-up) and appending at the tail
 * touch a constant number of entries whatever n is. */

int slot_pool_init(struct slot_pool *p, unsigned n)
{
        _cleanup_free_ uint32_t *next = NULL, *prev = NULL;
        _cleanup_free_ uint8_t *used = NULL;

        if (n == 0 || n >= SLOT_NONE)
                return -EINVAL;

        next = reallocarray(NULL, n, sizeof(*next));
        prev = reallocarray(NULL, n, sizeof(*prev));
        used = calloc(n, sizeof(*used));
        if (!next || !prev || !used)
                return -ENOMEM;

        for (unsigned i = 0; i < n; i++) {
                next[i] = i + 1 < n ? i + 1 : SLOT_NONE;
                prev[i] = i > 0 ? i - 1 : SLOT_NONE;
        }

        *p = (struct slot_pool){
            .n = n,
            .n_free = n,
            .head = 0,
            .tail = n - 1,
            .next = TAKE_PTR(next),
            .prev = TAKE_PTR(prev),
            .used = TAKE_PTR(used),
        };
        return 0;
}

void slot_pool_done(struct slot_pool *p)
{
        free(p->next);
        free(p->prev);
        free(p->used);
        *p = (struct slot_pool){
            .head = SLOT_NONE,
            .tail = SLOT_NONE,
        };
}

static void pool_unlink(struct slot_pool *p, uint32_t slot)
{
        uint32_t before = p->prev[slot], after = p->next[slot];

        if (before == SLOT_NONE)
                p->head = after;
        else
                p->next[before] = after;
        if (after == SLOT_NONE)
                p->tail = before;
        else
                p->prev[after] = before;

        p->used[slot] = 1;
        p->n_free--;
}

int slot_pool_take(struct slot_pool *p, unsigned *ret_slot)
{
        uint32_t slot = p->head;

        if (slot == SLOT_NONE)
                return -ENOSPC;
        pool_unlink(p, slot);
        *ret_slot = slot;
        return 0;
}

int slot_pool_take_slot(struct slot_pool *p, unsigned slot)
{
        if (slot >= p->n)
                return -ERANGE;
        if (p->used[slot])
                return -EBUSY;
        pool_unlink(p, slot);
        return 0;
}

int slot_pool_put(struct slot_pool *p, unsigned slot)
{
        if (slot >= p->n || !p->used[slot])
                return -EINVAL;

        p->used[slot] = 0;
        p->prev[slot] = p->tail;
        p->next[slot] = SLOT_NONE;
        if (p->tail == SLOT_NONE)
                p->head = slot;
        else
                p->next[p->tail] = slot;
        p->tail = slot;
        p->n_free++;
        return 0;
}

bool slot_pool_is_used(const struct slot_pool *p, unsigned slot)
{
        return slot < p->n && p->used[slot];
}

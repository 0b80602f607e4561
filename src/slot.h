/* SPDX-License-Identifier: MIT */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Everything about a slot is derived from its number and the
 * configuration (docs/DESIGN.md, "Slots and addresses"). Pure code, no
 * I/O. */

struct slot_net4 {
        struct in_addr subnet;  /* B4 */
        struct in_addr gateway; /* B4+1 (/31: B4) */
        struct in_addr guest;   /* B4+2 (/31: B4+1) */
        struct in_addr netmask;
        unsigned prefix_len;
};

struct slot_net6 {
        struct in6_addr subnet;  /* B6 */
        struct in6_addr gateway; /* B6::1 */
        struct in6_addr guest;   /* B6::2 */
        unsigned prefix_len;
};

/* The number of slots the pools hold: min(max_slots, IPv4 capacity, IPv6
 * capacity when IPv6 is on). */
unsigned slot_capacity(const struct config *c);

/* "<prefix><slot>". Returns 0, or -ERANGE if it would not fit IFNAMSIZ-1. */
int slot_ifname(const struct config *c, unsigned slot, char ret[IFNAMSIZ]);

/* Parses a name made by slot_ifname(): the prefix, then a decimal number
 * without leading zeros, below effective_max_slots. -EINVAL otherwise. */
int slot_from_ifname(const struct config *c, const char *ifname, unsigned *ret_slot);

void slot_ipv4(const struct config *c, unsigned slot, struct slot_net4 *ret);
void slot_ipv6(const struct config *c, unsigned slot, struct slot_net6 *ret);
/* Whether a slot has IPv6: ipv6 = yes, and not a clone slot (those are
 * IPv4-only; docs/DESIGN.md, "Clone slots"). */
static inline bool slot_has_ipv6(const struct config *c, bool clone)
{
        return c->ipv6 && !clone;
}

/* The slot whose IPv4/IPv6 subnet base is addr; -ENOENT when addr is not a
 * slot subnet base of this configuration (outside the pool, not aligned,
 * beyond effective_max_slots; for IPv6 also whenever ipv6 is off). Used by
 * reconcile on dumped set elements. */
int slot_from_ipv4_subnet(const struct config *c, struct in_addr addr, unsigned *ret_slot);
int slot_from_ipv6_subnet(const struct config *c, const struct in6_addr *addr, unsigned *ret_slot);
/* The slot whose guest address addr is (B4+2, B6::2; /31: B4+1), or
 * -ENOENT when it is no slot's guest. */
int slot_from_ipv4_guest(const struct config *c, struct in_addr addr, unsigned *ret_slot);
int slot_from_ipv6_guest(const struct config *c, const struct in6_addr *addr, unsigned *ret_slot);

/* 02:74:6c:SS:SS:SS and 06:74:6c:SS:SS:SS, SS:SS:SS = slot, 24-bit BE. */
void slot_guest_mac(unsigned slot, uint8_t ret[6]);
void slot_host_mac(unsigned slot, uint8_t ret[6]);
/* "xx:xx:xx:xx:xx:xx" into buf (at least 18 bytes). */
void slot_format_mac(const uint8_t mac[6], char buf[18]);

/* "ip=<guest4>::<gateway4>:<netmask4>::eth0:off". Returns 0 or -ENOBUFS. */
int slot_kernel_ip_arg(const struct config *c, unsigned slot, char *buf, size_t size);
/* The same for every clone slot: [clone] guest, gateway and prefix. */
int slot_clone_ip_arg(const struct config *c, char *buf, size_t size);
/* A clone slot's namespace: "/run/netns/<ifname>" (NETNS_RUN_DIR). */
#define SLOT_NETNS_DIR "/run/netns"

/* The free list: least recently released slot first (docs/DESIGN.md,
 * "Slots and addresses"). Every operation is O(1); memory is 9 bytes per
 * slot. */
struct slot_pool {
        unsigned n; /* slots 0..n-1 */
        unsigned n_free;
        uint32_t head; /* next to hand out; UINT32_MAX when empty */
        uint32_t tail; /* most recently released */
        uint32_t *next;
        uint32_t *prev;
        uint8_t *used;
};

/* All n slots free, in ascending order. */
int slot_pool_init(struct slot_pool *p, unsigned n);
void slot_pool_done(struct slot_pool *p);
/* Takes the head (least recently released). -ENOSPC when none is free. */
int slot_pool_take(struct slot_pool *p, unsigned *ret_slot);
/* Takes a given free slot (adoption at start-up, or skipping a name taken
 * by someone else). -EBUSY if it is in use, -ERANGE if out of range. */
int slot_pool_take_slot(struct slot_pool *p, unsigned slot);
/* Returns a slot to the back of the list. -EINVAL if it was not in use. */
int slot_pool_put(struct slot_pool *p, unsigned slot);
bool slot_pool_is_used(const struct slot_pool *p, unsigned slot);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "packet.h"

/* Router Solicitation in, Router Advertisement out (RFC 4861, RFC 8106),
 * for one slot's guest (docs/DESIGN.md, "Guest services"). Pure: no I/O,
 * no allocation, no logging; fuzzed by fuzz-icmp6.
 *
 * The RA comes from net->link_local6 with hop limit 255: cur hop limit 64,
 * Managed flag on (the address comes from DHCPv6), Other flag off, router
 * lifetime NDISC_ROUTER_LIFETIME, reachable time and retrans timer
 * unspecified (0). Options: source link-layer address (net->host_mac), MTU
 * (net->mtu), Prefix Information for net->subnet6/net->prefix6 with L on
 * and A off (no SLAAC: the firewall lets exactly one address through),
 * valid and preferred lifetime net->lease_time; RDNSS with net->dns->v6[]
 * when there are any, DNSSL with net->dns->search when it is a valid
 * non-empty list; both with lifetime NDISC_ROUTER_LIFETIME.
 *
 * Nothing here repeats the RA, and a guest solicits only when its link
 * comes up: the router lifetime runs out NDISC_ROUTER_LIFETIME seconds
 * after the last RA the guest heard, taking its default route along. The
 * caller sends ndisc_build_ra() again well before, e.g. every
 * NDISC_ROUTER_LIFETIME / 3 seconds (RFC 4861 6.2.1 makes the default
 * router lifetime three times the longest interval between RAs). */

#define NDISC_ROUTER_LIFETIME 1800 /* seconds */

/* in: a parsed IPv6 packet from the guest; src_mac: its frame's source MAC.
 * Returns 1 and fills *reply with an RA when in is a valid Router
 * Solicitation (RFC 4861 6.1.1: hop limit 255, ICMPv6 checksum valid, code
 * 0, at least 8 octets, every option of non-zero length and fitting, no
 * source link-layer address option from ::, a source that is not
 * multicast). The RA goes to the solicitation's source (to src_mac), or to
 * ff02::1 (33:33:00:00:00:01) when that is ::. Returns 0 for any other
 * ICMPv6 message, for a packet that is not ICMPv6 and when net->ipv6 is
 * off; -EBADMSG when in is malformed. *reply is written only when 1 is
 * returned; in may not point into it. */
int ndisc_handle(const struct guest_net *net, const uint8_t src_mac[6], const struct ip6_pkt *in,
                 struct guest_reply *reply);

/* The unsolicited RA, to ff02::1 (33:33:00:00:00:01): when a slot goes
 * live, and again before the previous one's lifetimes run out. Returns 1
 * with *reply filled, or -EINVAL when net->ipv6 is off (reply untouched). */
int ndisc_build_ra(const struct guest_net *net, struct guest_reply *reply);

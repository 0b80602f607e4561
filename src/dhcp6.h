/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "packet.h"

/* A stateful DHCPv6 server (RFC 8415) for one slot's guest, with exactly
 * one address to give: net->guest6, the one the firewall lets through
 * (docs/DESIGN.md, "Guest services"). Pure: no I/O, no allocation, no
 * logging, and no leases to remember, since every answer follows from the
 * message and net alone. Fuzzed by fuzz-dhcp6.
 *
 * The server's DUID is DUID-LL (type 3, hardware type 1) of net->host_mac.
 * Every reply echoes the transaction ID and the Client Identifier.
 *
 * - SOLICIT: ADVERTISE with Preference 255 (the client need not wait for
 *   others), or REPLY with Rapid Commit when the Solicit carries Rapid
 *   Commit. REQUEST, RENEW, REBIND: REPLY. Each holds the
 *   client's first IA_NA (its IAID, T1 = lease/2, T2 = lease*4/5) with
 *   net->guest6, preferred and valid lifetime net->lease_time; DNS servers
 *   (option 23) with net->dns->v6[] and the domain list (option 24) with
 *   net->dns->search, when there are any.
 * - In a REQUEST, RENEW or REBIND, an address in that IA_NA other than
 *   net->guest6 comes back with lifetimes 0 (RFC 8415 18.3.4, 18.3.5), so
 *   that the guest stops using an address the firewall drops (the first
 *   DHCP6_STALE_MAX of them).
 * - Only one IA_NA is served. Any further IA_NA, and any IA_TA, comes back
 *   with status NoAddrsAvail, any IA_PD with NoPrefixAvail, so that the
 *   client stops asking (RFC 8415 18.3.2; RFC 7550 4.1): at most
 *   DHCP6_IA_MAX IAs in a reply, the rest of the message's are left out.
 *   A SOLICIT without an IA_NA gets an ADVERTISE with status NoAddrsAvail
 *   and nothing else (RFC 8415 18.3.9).
 * - CONFIRM: REPLY with status Success when each address in its IA_NAs
 *   and IA_TAs is in net->subnet6/net->prefix6, else NotOnLink; no
 *   address at all: no reply (RFC 8415 18.3.3).
 * - INFORMATION-REQUEST: REPLY with the DNS options alone. Its Client
 *   Identifier is optional (RFC 8415 18.2.6), echoed when there.
 * - RELEASE, DECLINE: REPLY with status Success; the event tells the
 *   caller, which may log it (there is nothing to free).
 *
 * Dropped, as RFC 8415 16 says: messages without a Client Identifier
 * (but INFORMATION-REQUEST); REQUEST, RENEW, RELEASE, DECLINE without our
 * Server Identifier; SOLICIT, CONFIRM, REBIND with any Server Identifier;
 * INFORMATION-REQUEST with another server's, or with an IA. Server and
 * relay messages are not for us. */

/* These bound a reply, so that it always fits in GUEST_REPLY_MAX. */
#define DHCP6_IA_MAX 4    /* IAs answered per message */
#define DHCP6_STALE_MAX 4 /* stale addresses withdrawn per message */

enum dhcp6_event {
        DHCP6_NONE, /* nothing answered */
        DHCP6_SOLICIT,
        DHCP6_REQUEST,
        DHCP6_RENEW,
        DHCP6_REBIND,
        DHCP6_CONFIRM,
        DHCP6_RELEASE,
        DHCP6_DECLINE,
        DHCP6_INFORMATION_REQUEST,
        _DHCP6_EVENT_MAX,
};

/* in: a parsed IPv6/UDP packet from the guest; src_mac: its frame's
 * source MAC. Returns 1 and fills *reply (from net->link_local6 port 547
 * to in->ip.src port 546, dst_mac = src_mac, ETH_P_IPV6); 0 when nothing
 * is to be sent (not to port 547, dropped as above, net->ipv6 off); or
 * -EBADMSG when in is malformed: shorter than the 4-octet header, an
 * option that does not fit (in IAs and their addresses too), a Client or
 * Server Identifier twice or not 3 to 130 octets long, Rapid Commit with
 * contents, or a source (in->ip.src) that is :: or multicast. The UDP
 * checksum is not checked (see ip6_udp_parse()). *reply is written only
 * when 1 is returned; in may not point into it. *ret_event (may be NULL)
 * is always set: the message answered when 1 is returned, else
 * DHCP6_NONE. */
int dhcp6_handle(const struct guest_net *net, const uint8_t src_mac[6], const struct ip6_udp *in,
                 struct guest_reply *reply, enum dhcp6_event *ret_event);

/* "SOLICIT", ..., "INFORMATION-REQUEST", "NONE"; "?" out of range. */
const char *dhcp6_event_to_string(enum dhcp6_event e);

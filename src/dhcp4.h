/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "packet.h"

/* The DHCPv4 server of the guest services (docs/DESIGN.md, "Guest
 * services"; RFC 2131, options RFC 2132): each slot's guest gets exactly
 * its slot's address. No leases are kept: the answer depends only on the
 * slot and the message, so a restart of the daemon changes nothing for a
 * guest. Pure: no I/O, no allocation, no logging; fuzzed by fuzz-dhcp4. */

enum dhcp4_event {
        DHCP4_NONE,     /* malformed, or a message type not answered */
        DHCP4_DISCOVER, /* answered with an OFFER */
        DHCP4_REQUEST,  /* ACK, NAK, or nothing (another server chosen) */
        DHCP4_INFORM,   /* ACK without an address or lease */
        DHCP4_RELEASE,  /* no answer */
        DHCP4_DECLINE,  /* no answer */
};

/* Answers one DHCPv4 message from the guest of `net`. `in` is the parsed
 * IPv4/UDP packet (to port 67), src_mac the frame's source MAC (not used
 * for addressing: the reply goes to chaddr, as RFC 2131 4.1 says).
 *
 * Returns 1 with *reply filled: an IPv4/UDP packet from net->gateway4:67
 * to the client's port 68, reply->dst_mac and reply->ethertype (ETH_P_IP)
 * set. Returns 0 when nothing is to be sent (RELEASE, DECLINE, a relayed
 * message, a REQUEST for another server, a type a server does not answer),
 * -EBADMSG when the message is malformed; *reply is then undefined and
 * nothing is sent. *ret_event always says what the message was (DHCP4_NONE
 * when malformed), for the caller's log. */
int dhcp4_handle(const struct guest_net *net, const uint8_t src_mac[6], const struct ip4_udp *in,
                 struct guest_reply *reply, enum dhcp4_event *ret_event);

/* "DISCOVER", "RELEASE", ...; "NONE" for DHCP4_NONE, never NULL. */
const char *dhcp4_event_to_string(enum dhcp4_event e);

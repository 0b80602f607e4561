/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

/* A slot's egress policy (docs/DESIGN.md, "Egress policy"): a mode on the
 * ladder none < host < public < internet, and allow entries on top. Pure:
 * the policy's JSON both ways and its comparison; the nftables elements
 * that carry it are nft.h's (nft_egress_elems()). */

enum egress_mode {
        EGRESS_NONE,     /* guest services only */
        EGRESS_HOST,     /* + the host itself */
        EGRESS_PUBLIC,   /* + forwarding to public destinations */
        EGRESS_INTERNET, /* + forwarding anywhere */
        _EGRESS_MODE_MAX,
};

const char *egress_mode_to_string(enum egress_mode m);
/* -EINVAL for anything but the four names. */
int egress_mode_from_string(const char *s, enum egress_mode *ret);

#define EGRESS_ALLOW_MAX TAPLINKD_ALLOW_MAX

/* One allow entry: a destination network, and optionally a protocol and
 * (with one) a port. */
struct egress_allow {
        int family; /* AF_INET or AF_INET6 */
        union {
                struct in_addr v4;
                struct in6_addr v6;
        } addr; /* the network address: no bits past prefix_len */
        uint8_t prefix_len;
        uint8_t protocol; /* 0: every protocol; IPPROTO_TCP or IPPROTO_UDP */
        uint16_t port;    /* 0: every port; else needs a protocol */
};

struct egress_policy {
        enum egress_mode mode;
        size_t n_allow;
        struct egress_allow allow[]; /* n_allow, sorted (egress_allow_cmp) */
};

/* Allocates a policy with room for n entries (free() it). */
struct egress_policy *egress_policy_new(enum egress_mode mode, size_t n);
struct egress_policy *egress_policy_dup(const struct egress_policy *p);
bool egress_policy_equal(const struct egress_policy *a, const struct egress_policy *b);
int egress_allow_cmp(const struct egress_allow *a, const struct egress_allow *b);

/* Acquire's and SetEgress's `egress` and `allow` (either NULL for absent;
 * JSON null counts as absent; an absent mode is default_mode). Entries are
 * sorted and duplicates merged; two entries of the same protocol and port
 * where one network contains the other are refused (the kernel's interval
 * sets cannot hold both, and one of them says nothing). Returns NULL and
 * *ret, else the name of the bad parameter ("egress" or "allow"), or "" for
 * -ENOMEM. */
const char *egress_policy_from_json(struct json_object *egress, struct json_object *allow,
                                    enum egress_mode default_mode, struct egress_policy **ret);

/* The entries as the Slot object reports them: [{destination, protocol,
 * port}], protocol and port left out when absent. NULL on ENOMEM. */
struct json_object *egress_allow_to_json(const struct egress_policy *p);

/* "203.0.113.0/24", "2001:db8::1/128". buf holds EGRESS_DESTINATION_MAX. */
#define EGRESS_DESTINATION_MAX (INET6_ADDRSTRLEN + 4)
void egress_format_destination(const struct egress_allow *a, char *buf);

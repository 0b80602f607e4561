/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A slot's published ports (docs/DESIGN.md, "Published ports"): host
 * (protocol, port[, address]) forwarded by the kernel's DNAT to the
 * guest's port. Pure: the Port object's JSON both ways, comparison and the
 * conflict rule; the nftables elements that carry them are nft.h's
 * (nft_publish_elems()). */

/* The most a configuration may allow per slot ([policy]
 * max_published_per_slot). */
#define PUBLISH_PORTS_MAX 256

struct publish_port {
        uint8_t protocol;   /* IPPROTO_TCP or IPPROTO_UDP */
        uint16_t host_port; /* 1..65535 */
        uint16_t guest_port;
        int family; /* AF_UNSPEC: every host address (hostAddress absent);
                       else AF_INET or AF_INET6 with addr */
        union {
                struct in_addr v4;
                struct in6_addr v6;
        } addr;
};

/* A slot's ports, sorted (publish_port_cmp), no two equal. */
struct publish_list {
        size_t n;
        struct publish_port ports[];
};

/* Allocates a list with room for n ports (n set to 0; free() it). */
struct publish_list *publish_list_new(size_t n);
struct publish_list *publish_list_dup(const struct publish_list *l);
bool publish_list_equal(const struct publish_list *a, const struct publish_list *b);

/* Orders by protocol, host port, family, address (guest port last). */
int publish_port_cmp(const struct publish_port *a, const struct publish_port *b);
/* The same publication: protocol, host port and host address (the guest
 * port does not matter). */
bool publish_port_same(const struct publish_port *a, const struct publish_port *b);
/* Whether two publications cannot both exist: the same protocol and host
 * port, and the same host address or either of them on every address. */
bool publish_port_conflicts(const struct publish_port *a, const struct publish_port *b);

/* One Port object: {protocol, hostPort, guestPort, hostAddress?} (JSON null
 * hostAddress counts as absent). -EINVAL for anything else: a protocol
 * other than "tcp"/"udp", ports out of 1..65535 or not integers, an
 * address that is not a plain IPv4/IPv6 address, a loopback, multicast,
 * unspecified or link-local address, unknown members. */
int publish_port_from_json(struct json_object *o, struct publish_port *ret);
/* The Port object, hostAddress left out for AF_UNSPEC. NULL on ENOMEM, and
 * for a protocol other than TCP and UDP (no port publish_port_from_json()
 * gives). */
struct json_object *publish_port_to_json(const struct publish_port *p);

/* Acquire's `publish` (NULL or JSON null: an empty list): an array of Port
 * objects, at most max, none conflicting with another
 * (publish_port_conflicts()). Sorted. Returns 0, -EINVAL (malformed, or two
 * that conflict), -E2BIG (more than max), -ENOMEM. */
int publish_list_from_json(struct json_object *a, size_t max, struct publish_list **ret);
/* The list as the Slot object reports it (an array, maybe empty). NULL on
 * ENOMEM. */
struct json_object *publish_list_to_json(const struct publish_list *l);

/* A new list: l (NULL: empty) with p added in order (-EEXIST if l holds a
 * port that conflicts with p), or without the port that is
 * publish_port_same() as p (-ENOENT if none is). */
int publish_list_add(const struct publish_list *l, const struct publish_port *p, struct publish_list **ret);
int publish_list_remove(const struct publish_list *l, const struct publish_port *p,
                        struct publish_list **ret);

/* "tcp", "udp" (NULL for others). */
const char *publish_protocol_to_string(uint8_t protocol);

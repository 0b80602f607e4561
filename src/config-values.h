/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "packet.h"

/* The value parsers behind config.c's keys, one per kind of value. Each
 * either stores the value, or returns -EINVAL with *ret_msg (malloc'd)
 * saying what is wrong with it, or -ENOMEM (then *ret_msg is NULL). The
 * caller prefixes "path:line: key: ". Outputs are untouched on failure. */

/* Formats *ret_msg and returns -EINVAL (-ENOMEM when that fails). */
int _printf_(2, 3) config_fail(char **ret_msg, const char *fmt, ...);

/* Strict decimal: digits only, no sign, no leading zeros (so that nothing
 * looks octal), no trailing garbage. -EINVAL if not a number, -ERANGE if
 * outside min..max; no message. */
int config_parse_decimal(const char *s, unsigned min, unsigned max, unsigned *ret);

/* config_parse_decimal() with a message. */
int config_parse_number(const char *value, unsigned min, unsigned max, unsigned *ret, char **ret_msg);

/* "LOW-HIGH": two strict decimals in min..max, LOW <= HIGH, blanks allowed
 * around the '-'. */
int config_parse_range(const char *value, unsigned min, unsigned max, unsigned *ret_low, unsigned *ret_high,
                       char **ret_msg);

/* yes/no, true/false, 1/0, in any case. */
int config_parse_boolean(const char *value, bool *ret, char **ret_msg);

/* An absolute path that fits in sun_path, without control characters. */
int config_check_socket_path(const char *path, char **ret_msg);

/* "address/length" for family (AF_INET, AF_INET6), with length in
 * min_len..max_len and every bit past the length zero. */
int config_parse_network(const char *value, int family, unsigned min_len, unsigned max_len, void *ret_addr,
                         unsigned *ret_len, char **ret_msg);

/* isolate: IPv4 or IPv6 networks ("address/length", length 0..32 or
 * 0..128, no host bits) separated by commas and/or blanks, at most
 * CONFIG_ISOLATE_MAX, none twice; "" for the default. */
struct config_network;
int config_parse_networks(const char *value, struct config_network *ret, size_t *ret_n, char **ret_msg);

/* A user's (group false) or group's id by name: 0, -ENOENT for no such
 * name, or another -errno. No message. */
int config_lookup_id(const char *name, bool group, id_t *ret_id);

/* Names or numeric ids separated by commas and/or blanks. On success the
 * ids and the canonical text (names as given, joined by ", ") replace
 * *ret_ids, *ret_n and *ret_text (whose old values are freed). */
int config_parse_id_list(const char *value, bool group, id_t **ret_ids, size_t *ret_n, char **ret_text,
                         char **ret_msg);

/* dns_servers: "auto" (*ret_auto true), "none", or IPv4/IPv6 addresses
 * separated by commas and/or blanks, at most GUEST_DNS_MAX of each family,
 * none of them unspecified, loopback or multicast, none twice. Replaces
 * ret_dns's v4/v6 lists (empty for auto and none); never touches
 * ret_dns->search. */
int config_parse_dns_servers(const char *value, bool *ret_auto, struct guest_dns *ret_dns, char **ret_msg);

/* dns_search: a DNS domain name of labels of 1..63 letters, digits and
 * '-' (not first or last), at most GUEST_DOMAIN_MAX characters, with an
 * optional trailing dot that is dropped; "" for none. */
int config_parse_domain(const char *value, char ret[static GUEST_DOMAIN_MAX + 1], char **ret_msg);

/* A unicast MAC address "xx:xx:xx:xx:xx:xx" (hex digits in any case). */
int config_parse_mac(const char *value, uint8_t ret[static 6], char **ret_msg);

/* One IPv4 address in dotted-quad form. */
struct in_addr;
int config_parse_ipv4_address(const char *value, struct in_addr *ret, char **ret_msg);

/* [clone]: guest and gateway differ and lie in one /prefix, neither its
 * network nor its broadcast address. */
int config_check_clone_net(struct in_addr guest, struct in_addr gateway, unsigned prefix, char **ret_msg);

/* [clone] pool: the pool's veths, named <ifname_prefix>p<k> (k < pool
 * and a few skipped) until they have a slot, fit IFNAMSIZ. */
int config_check_clone_pool_names(const char *ifname_prefix, unsigned pool, char **ret_msg);

/* SPDX-License-Identifier: MIT */
#pragma once

#include "packet.h"

/* dns_servers = auto: the host's resolvers, handed on to the guests
 * (docs/DESIGN.md, "Guest services"; taplinkd.conf(5), [guest]). */

#define RESOLV_CONF_PATH "/etc/resolv.conf"
/* systemd-resolved's list of upstream servers, for when /etc/resolv.conf
 * names only its local stub (127.0.0.53). */
#define RESOLV_UPSTREAM_PATH "/run/systemd/resolve/resolv.conf"

/* Reads resolv.conf text (NUL-terminated) as glibc does: a line that
 * starts with "nameserver" and a blank names the address that follows, up
 * to a blank, '#' or ';'. Takes those addresses, IPv4 and IPv6, in file
 * order, at most GUEST_DNS_MAX of each family, each once. Skipped, since a
 * guest cannot use them: loopback (127.0.0.0/8, ::1, and their IPv4-mapped
 * forms), unspecified (0.0.0.0, ::), multicast, IPv6 link-local (the
 * host's link, not the guest's) and anything with a %zone. Everything else
 * in the text is ignored. Replaces ret's v4/v6 lists; never touches
 * ret->search. Returns the number of servers; pure. */
int resolv_parse(const char *text, struct guest_dns *ret);

/* resolv_parse() of RESOLV_CONF_PATH, or, when that yields no server, of
 * RESOLV_UPSTREAM_PATH. A missing file counts as one without servers.
 * Returns the number of servers (0: none; then ret's lists are emptied), or
 * -errno when a file exists but cannot be read (then ret is untouched).
 * *ret_source is set in every case to the path the answer comes from: the
 * file the servers were found in; with none, the fallback when it exists,
 * else the first file; or the file that could not be read. Never touches
 * ret->search. */
int resolv_load_auto(struct guest_dns *ret, const char **ret_source);

/* resolv_load_auto() with other paths, for tests. The paths must outlive
 * the use of *ret_source. */
int resolv_load_auto_from(const char *path, const char *fallback_path, struct guest_dns *ret,
                          const char **ret_source);

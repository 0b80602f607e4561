/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "bytes.h"

/* Domain names in DNS wire format (RFC 1035 3.1, uncompressed), as the
 * guests are given their search list: DHCPv6 option 24 (RFC 3646) and the
 * Router Advertisement's DNSSL option (RFC 8106). Pure. */

/* Appends the names in names[0..len), or up to a NUL (one domain, or
 * several separated by blanks or commas; a trailing dot is allowed) to w.
 * Returns how many were written, or -EINVAL when one of them is not a valid domain name (labels
 * of 1 to 63 letters, digits, '-' or '_'; 255 octets at most encoded), and
 * then writes nothing. Whether everything fit is w->overflow. */
int dns_names_encode(const char *names, size_t len, struct wbuf *w);

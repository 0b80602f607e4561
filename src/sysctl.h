/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"

/* The forwarding sysctls at start-up: net.ipv4.ip_forward=1 when
 * forward_ipv4, net.ipv6.conf.all.forwarding=1 when forward_ipv6. Writes
 * only when the value differs (so a read-only /proc/sys with the right
 * values is fine). *ret_failed_path names the file that failed. No
 * logging, -errno returns. */
int sysctl_apply_forwarding(const struct config *c, const char **ret_failed_path);

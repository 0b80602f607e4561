/* SPDX-License-Identifier: MIT */
#pragma once

#include <syslog.h>

#include "macro.h"

/* Logging for the daemon. Library-style modules (slot, tap, rtnl, nft,
 * varlink) never log: they return -errno and their caller logs once, naming
 * the object and the errno:
 *     tl7: RTM_NEWADDR 10.213.0.29/30 failed: File exists
 * Lines go to stderr; under systemd (JOURNAL_STREAM set) each carries a
 * <priority> prefix that journald turns into the entry's priority. */

void log_set_max_level(int level);
int log_get_max_level(void);

/* Logs and returns -abs(error) (or 0 for error == 0), so that
 *     return log_error_errno(r, "tl%u: TUNSETIFF failed: %m", slot);
 * logs with %m meaning strerror(abs(error)) and passes the error up. */
int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)

#define log_debug(...) log_internal(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(e, ...) log_internal(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_internal(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_internal(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_internal(LOG_ERR, (e), __VA_ARGS__)

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Safe from any thread (the clone pool's worker logs): the settings are
 * atomics, each line is one fprintf, which stdio locks. */
static _Atomic int max_level = LOG_INFO;
static _Atomic int use_prefix = -1; /* -1: not yet decided */

void log_set_max_level(int level)
{
        max_level = level;
}

int log_get_max_level(void)
{
        return max_level;
}

static bool stderr_is_journal(void)
{
        /* systemd sets JOURNAL_STREAM when stderr is connected to journald;
         * then "<N>" prefixes carry the priority. */
        if (use_prefix < 0)
                use_prefix = getenv("JOURNAL_STREAM") != NULL;
        return use_prefix;
}

int log_internal(int level, int error, const char *fmt, ...)
{
        int saved_errno = errno;
        int abs_error = error < 0 ? -error : error;

        if (level <= max_level) {
                char buf[2048];
                va_list ap;

                /* %m in fmt means the error passed in, not whatever errno
                 * happens to hold. */
                errno = abs_error;
                va_start(ap, fmt);
                vsnprintf(buf, sizeof(buf), fmt, ap);
                va_end(ap);

                if (stderr_is_journal())
                        fprintf(stderr, "<%d>%s\n", level, buf);
                else
                        fprintf(stderr, "taplinkd: %s\n", buf);
        }

        errno = saved_errno;
        return -abs_error;
}

/* SPDX-License-Identifier: MIT */

/* Small pieces of taplinkctl that are worth testing on their own: number
 * parsing, fd placement, error reporting. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

int parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        /* strtoul would take blanks, a sign, "0x" and wrap negatives: a
         * typo must not become some other slot or fd. */
        if (s[0] == '0' && s[1])
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(*p - '0');
                if (v > UINT32_MAX)
                        return -ERANGE;
        }
        if (v < min || v > max)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

int move_fds(int *fds, size_t n, int first)
{
        int floor = first + (int)n;

        /* First lift every fd above the target range, so that no dup2()
         * below can clobber an fd that still has to be placed (a queue fd,
         * or the fd a target number happens to hold). */
        for (size_t i = 0; i < n; i++) {
                int high = fcntl(fds[i], F_DUPFD_CLOEXEC, floor);
                if (high < 0)
                        return -errno;
                safe_close(fds[i]);
                fds[i] = high;
        }
        /* dup2() leaves FD_CLOEXEC off on the new number, and only there:
         * exactly the targets survive the exec. */
        for (size_t i = 0; i < n; i++) {
                int target = first + (int)i;
                if (dup2(fds[i], target) < 0)
                        return -errno;
                safe_close(fds[i]);
                fds[i] = target;
        }
        return 0;
}

char *fd_list(int first, size_t n)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%d", i ? "," : "", first + (int)i);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static void vreport(const char *command, const char *fmt, va_list ap)
{
        /* One write, so the line is not torn up among other output. */
        char line[2048];
        int n = snprintf(line, sizeof(line), "taplinkctl: ");
        if (command)
                n += snprintf(line + n, sizeof(line) - (size_t)n, "%s: ", command);
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        fprintf(stderr, "%s\n", line);
}

int ctl_error(int status, const char *command, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vreport(command, fmt, ap);
        va_end(ap);
        return status;
}

int ctl_usage_error(const char *command, const char *fmt, ...)
{
        char text[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        if (command)
                return ctl_error(CTL_EXIT_USAGE, command, "%s (see 'taplinkctl %s --help')", text, command);
        return ctl_error(CTL_EXIT_USAGE, NULL, "%s (see 'taplinkctl --help')", text);
}

int ctl_call_failed(const char *command, tl_client *c, int r)
{
        const char *m = tl_client_error_message(c);

        if (!m)
                m = strerror(-r);
        /* The daemon said no: that is a refusal. Anything else means no
         * proper answer came (connection closed, not a taplinkd reply). */
        if (tl_client_error_name(c) || r == -ENOMEM)
                return ctl_error(CTL_EXIT_REFUSED, command, "%s", m);
        return ctl_error(CTL_EXIT_UNREACHABLE, command, "%s", m);
}

/* getopt's own messages carry argv[0] and two lines; ours carry the
 * command and stay one line. */
int ctl_bad_option(const char *command, char **argv, int c)
{
        const char *arg = argv[optind - 1];

        if (c == ':')
                return ctl_usage_error(command, "option '%s' needs an argument", arg);
        if (optopt && optopt != '?' && strncmp(arg, "--", 2) != 0)
                return ctl_usage_error(command, "unknown option '-%c'", optopt);
        return ctl_usage_error(command, "unknown option '%s'", arg);
}

int ctl_parse_slot(const char *command, const char *arg, unsigned *ret)
{
        int r = parse_unsigned(arg, 0, INT32_MAX, ret);
        if (r == -ERANGE)
                return ctl_usage_error(command, "slot %s: out of range", arg);
        if (r < 0)
                return ctl_usage_error(command, "'%s' is not a slot number", arg);
        return 0;
}

int ctl_connect(const struct ctl_options *o, tl_client **ret)
{
        int r = tl_client_connect(o->socket, ret);
        if (r < 0)
                return ctl_error(CTL_EXIT_UNREACHABLE, NULL, "cannot reach taplinkd at %s: %s",
                                 tl_socket_path(o->socket), strerror(-r));
        return 0;
}

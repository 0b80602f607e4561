/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers for the C integration tests (tests/integration/test-*.c), which
 * look at the kernel from outside through `ip -j` and `nft -j`. Include
 * after <cmocka.h>. */

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "throwaway-netns.h"

/* A command's standard output, NUL-terminated ("" when it printed nothing). */
static inline char *itest_vout(const char *fmt, va_list ap)
{
        char cmd[1024], chunk[4096];
        size_t len = 0, n;
        char *out = calloc(1, 1);
        FILE *f;

        assert_non_null(out);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        f = popen(cmd, "re");
        assert_non_null(f);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
                out = realloc(out, len + n + 1);
                assert_non_null(out);
                memcpy(out + len, chunk, n);
                len += n;
                out[len] = '\0';
        }
        pclose(f);
        return out;
}

static inline char *run_output(const char *fmt, ...) _printf_(1, 2);
static inline char *run_output(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *out = itest_vout(fmt, ap);
        va_end(ap);
        return out;
}

/* The command's output parsed as JSON; NULL when it printed none (e.g. `ip`
 * about a device that does not exist) or not JSON. */
static inline json_object *run_json(const char *fmt, ...) _printf_(1, 2);
static inline json_object *run_json(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *out = itest_vout(fmt, ap);
        va_end(ap);
        json_object *j = out[0] ? json_tokener_parse(out) : NULL;
        free(out);
        return j;
}

/* Runs a command; the test fails unless it exits 0. */
static inline void run(const char *fmt, ...) _printf_(1, 2);
static inline void run(const char *fmt, ...)
{
        char cmd[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        if (system(cmd) != 0)
                fail_msg("command failed: %s", cmd);
}

/* Exits unless this is root in a network namespace made for the test: not
 * pid 1's, nothing but lo. Called first thing in main(). */
static inline void itest_refuse_host_namespace(void)
{
        const char *name = program_invocation_short_name;
        struct stat self, init;

        if (geteuid() != 0) {
                fprintf(stderr, "%s: needs root (run it as `unshare -n build/itests/%s`)\n", name, name);
                exit(1);
        }
        /* pid 1's namespace may be out of reach; the interface check below
         * still holds then. */
        if (stat("/proc/self/ns/net", &self) == 0 && stat("/proc/1/ns/net", &init) == 0 &&
            self.st_ino == init.st_ino && self.st_dev == init.st_dev) {
                fprintf(stderr,
                        "%s: refusing to run in the host's network namespace "
                        "(run it as `unshare -n build/itests/%s`)\n",
                        name, name);
                exit(1);
        }
        if (!namespace_is_throwaway()) {
                fprintf(stderr, "%s: this namespace has interfaces besides lo; not a throwaway one\n", name);
                exit(1);
        }
}

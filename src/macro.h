/* SPDX-License-Identifier: MIT */
#pragma once

/* The few helpers systemd keeps private, in the same spirit:
 * cleanup attributes, ownership transfer, array sizes. */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand ownership over: returns the value and leaves the variable empty, so
 * its cleanup attribute does nothing. */
#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _taken_ = (p); \
                (p) = NULL;                  \
                _taken_;                     \
        })
#define TAKE_FD(fd)                 \
        ({                          \
                int _taken_ = (fd); \
                (fd) = -1;          \
                _taken_;            \
        })

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* close() that keeps errno, so it can run on error paths. */
static inline int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd)
{
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void close_many(int *fds, size_t n)
{
        for (size_t i = 0; i < n; i++)
                fds[i] = safe_close(fds[i]);
}

/* Defines `static inline void funcp(type **p)` calling func(*p) when set. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)      \
        static inline void func##p(type *p)          \
        {                                            \
                if (*p)                              \
                        func(*p);                    \
        }

/* errno as a negative return value, never 0 (some paths leave errno unset). */
static inline int negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}

static inline bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* SPDX-License-Identifier: MIT */
#pragma once

/* What the kernel benches (kernel-floor.c, kernel-seq.c) share: dying with
 * an errno, the clock, and samples in nanoseconds. Header-only: each bench
 * is one .c file. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct samples {
        uint64_t *v;
        size_t n;
};

/* "<program>: <what>: <strerror(-r)>" and exit 1. */
static inline _Noreturn void die(const char *what, int r)
{
        fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(-r));
        exit(1);
}

static inline uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Room for capacity samples (one more, so that 0 allocates). */
static inline void samples_init(struct samples *s, size_t capacity)
{
        s->v = calloc(capacity + 1, sizeof(uint64_t));
        s->n = 0;
        if (!s->v)
                die("calloc", -ENOMEM);
}

static inline int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

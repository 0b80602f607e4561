/* SPDX-License-Identifier: MIT */
#pragma once

/* What every harness shares: libFuzzer's entry points, and checks that say
 * which property broke before they abort (libFuzzer then saves the input). */

#include <dirent.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../open-fds.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
        do {                                                                                     \
                if (!(cond)) {                                                                   \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
                        abort();                                                                 \
                }                                                                                \
        } while (0)

/* Fails, listing what is open, when count_open_fds() differs from
 * baseline. */
static inline void fuzz_check_fds(int baseline)
{
        int n = count_open_fds();
        DIR *d;
        struct dirent *de;

        if (n == baseline)
                return;
        fprintf(stderr, "%d fds open, %d expected:\n", n, baseline);
        d = opendir("/proc/self/fd");
        while (d && (de = readdir(d))) {
                char path[PATH_MAX], target[PATH_MAX];
                ssize_t k;

                snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
                k = readlink(path, target, sizeof(target) - 1);
                if (k >= 0)
                        fprintf(stderr, "  %s -> %.*s\n", de->d_name, (int)k, target);
        }
        if (d)
                closedir(d);
        CHECK(n == baseline);
}

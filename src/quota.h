/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Per-uid counts, O(1) per operation (open addressing on uid): the slots
 * a uid holds (policy.c), the connections it has open (varlink-server.c). */
struct quota {
        struct quota_entry *entries;
        size_t n_entries; /* power of two, or 0 */
        size_t n_used;    /* uids with a count, including tombstones */
};

void quota_init(struct quota *q);
void quota_done(struct quota *q);
unsigned quota_get(const struct quota *q, uid_t uid);
int quota_inc(struct quota *q, uid_t uid); /* -ENOMEM */
void quota_dec(struct quota *q, uid_t uid);

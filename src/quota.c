/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "quota.h"

/* An entry with count 0 is a tombstone (keeps probe chains intact); the
 * table is rebuilt when tombstones and live entries fill half of it. */
struct quota_entry {
        uid_t uid;
        unsigned count;
        bool used;
};

void quota_init(struct quota *q)
{
        *q = (struct quota){0};
}

void quota_done(struct quota *q)
{
        free(q->entries);
        *q = (struct quota){0};
}

static size_t uid_hash(uid_t uid, size_t mask)
{
        /* Fibonacci hashing: uids are often consecutive. */
        return (size_t)(((uint64_t)uid * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static struct quota_entry *quota_find(const struct quota *q, uid_t uid)
{
        if (q->n_entries == 0)
                return NULL;
        size_t mask = q->n_entries - 1;
        for (size_t i = uid_hash(uid, mask);; i = (i + 1) & mask) {
                struct quota_entry *e = &q->entries[i];
                if (!e->used)
                        return NULL;
                if (e->uid == uid)
                        return e;
        }
}

unsigned quota_get(const struct quota *q, uid_t uid)
{
        const struct quota_entry *e = quota_find(q, uid);
        return e ? e->count : 0;
}

static int quota_rehash(struct quota *q, size_t n_entries)
{
        struct quota_entry *entries = calloc(n_entries, sizeof(*entries));
        size_t n_used = 0;

        if (!entries)
                return -ENOMEM;
        for (size_t i = 0; i < q->n_entries; i++) {
                const struct quota_entry *old = &q->entries[i];
                if (!old->used || old->count == 0)
                        continue;
                size_t j = uid_hash(old->uid, n_entries - 1);
                while (entries[j].used)
                        j = (j + 1) & (n_entries - 1);
                entries[j] = *old;
                n_used++;
        }
        free(q->entries);
        q->entries = entries;
        q->n_entries = n_entries;
        q->n_used = n_used;
        return 0;
}

int quota_inc(struct quota *q, uid_t uid)
{
        struct quota_entry *e = quota_find(q, uid);
        if (e) {
                e->count++;
                return 0;
        }
        if ((q->n_used + 1) * 2 > q->n_entries) {
                /* Rebuild without tombstones, at four times the live uids:
                 * churn through many uids does not grow the table. */
                size_t live = 0, size = 16;
                for (size_t i = 0; i < q->n_entries; i++)
                        live += q->entries[i].used && q->entries[i].count > 0;
                while (size < (live + 1) * 4)
                        size *= 2;
                int r = quota_rehash(q, size);
                if (r < 0)
                        return r;
        }
        size_t mask = q->n_entries - 1;
        size_t i = uid_hash(uid, mask);
        while (q->entries[i].used)
                i = (i + 1) & mask;
        q->entries[i] = (struct quota_entry){.uid = uid, .count = 1, .used = true};
        q->n_used++;
        return 0;
}

void quota_dec(struct quota *q, uid_t uid)
{
        struct quota_entry *e = quota_find(q, uid);
        if (e && e->count > 0)
                e->count--;
}

/* SPDX-License-Identifier: MIT */
#pragma once

/* The few helpers systemd keeps private, in the same spirit:
 * cleanup attributes, ownership transfer, array sizes. */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
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
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p)     \
        {                                       \
                if (*p)                         \
                        func(*p);               \
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

/* qsort()/bsearch() order of ints. */
static inline int cmp_int(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;
        return (x > y) - (x < y);
}

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Growable arrays (systemd's GREEDY_REALLOC): makes *p, an array of *cap
 * elements of elem_size bytes, hold at least need elements, doubling (from
 * 16) so that n appends cost O(n). 0, or -ENOMEM with *p and *cap unchanged. */
static inline int greedy_realloc(void **p, size_t *cap, size_t need, size_t elem_size)
{
        size_t n;
        void *q;

        if (need <= *cap)
                return 0;
        n = MAX(*cap ? *cap : 8, need);
        if (n > SIZE_MAX / 2 / elem_size)
                return -ENOMEM;
        n *= 2;
        q = realloc(*p, n * elem_size);
        if (!q)
                return -ENOMEM;
        *p = q;
        *cap = n;
        return 0;
}
#define GREEDY_REALLOC(p, cap, need) greedy_realloc((void **)&(p), &(cap), (need), sizeof(*(p)))

/* A vector: items[0..n), room for cap. Zero-initialised means empty. */
#define VEC(type)              \
        struct {               \
                type *items;   \
                size_t n, cap; \
        }
/* Appends one item; 0 or -ENOMEM (the vector unchanged). */
#define VEC_PUSH(v, item)                                                   \
        ({                                                                  \
                int _r_ = GREEDY_REALLOC((v)->items, (v)->cap, (v)->n + 1); \
                if (_r_ >= 0)                                               \
                        (v)->items[(v)->n++] = (item);                      \
                _r_;                                                        \
        })
/* Appends k items from src; 0 or -ENOMEM (the vector unchanged). */
#define VEC_APPEND(v, src, k)                                                          \
        ({                                                                             \
                size_t _k_ = (k);                                                      \
                int _r_ = GREEDY_REALLOC((v)->items, (v)->cap, (v)->n + _k_);          \
                if (_r_ >= 0 && _k_ > 0) {                                             \
                        memcpy((v)->items + (v)->n, (src), _k_ * sizeof(*(v)->items)); \
                        (v)->n += _k_;                                                 \
                }                                                                      \
                _r_;                                                                   \
        })
#define VEC_FREE(v)                    \
        do {                           \
                free((v)->items);      \
                (v)->items = NULL;     \
                (v)->n = (v)->cap = 0; \
        } while (0)

/* Intrusive doubly linked lists (systemd's LIST_*): a struct that is on a
 * list named `name` carries LIST_FIELDS(type, name); the list is a head
 * pointer, NULL when empty. */
#define LIST_FIELDS(type, name) type *name##_next, *name##_prev
#define LIST_PREPEND(name, head, item)                                 \
        do {                                                           \
                __typeof__(*(head)) **_head_ = &(head), *_i_ = (item); \
                _i_->name##_prev = NULL;                               \
                _i_->name##_next = *_head_;                            \
                if (*_head_)                                           \
                        (*_head_)->name##_prev = _i_;                  \
                *_head_ = _i_;                                         \
        } while (0)
#define LIST_REMOVE(name, head, item)                                     \
        do {                                                              \
                __typeof__(*(head)) **_head_ = &(head), *_i_ = (item);    \
                if (_i_->name##_next)                                     \
                        _i_->name##_next->name##_prev = _i_->name##_prev; \
                if (_i_->name##_prev)                                     \
                        _i_->name##_prev->name##_next = _i_->name##_next; \
                else                                                      \
                        *_head_ = _i_->name##_next;                       \
                _i_->name##_next = _i_->name##_prev = NULL;               \
        } while (0)
#define LIST_FOREACH(name, i, head) for ((i) = (head); (i); (i) = (i)->name##_next)
/* Safe against removing i inside the loop. */
#define LIST_FOREACH_SAFE(name, i, n, head) \
        for ((i) = (head); (i) && (((n) = (i)->name##_next), 1); (i) = (n))

/* A FIFO of singly linked items with a `next` field: O(1) push and pop. */
#define QUEUE(type)         \
        struct {            \
                type *head; \
                type *tail; \
        }
#define QUEUE_PUSH(q, item)                         \
        do {                                        \
                __typeof__((q)->head) _i_ = (item); \
                _i_->next = NULL;                   \
                if ((q)->tail)                      \
                        (q)->tail->next = _i_;      \
                else                                \
                        (q)->head = _i_;            \
                (q)->tail = _i_;                    \
        } while (0)
/* The oldest item, taken off the queue; NULL when empty. */
#define QUEUE_POP(q)                                   \
        ({                                             \
                __typeof__((q)->head) _i_ = (q)->head; \
                if (_i_) {                             \
                        (q)->head = _i_->next;         \
                        if (!(q)->head)                \
                                (q)->tail = NULL;      \
                        _i_->next = NULL;              \
                }                                      \
                _i_;                                   \
        })

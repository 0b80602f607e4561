/* SPDX-License-Identifier: MIT */
#pragma once

/* Network-order reads, and a bounded writer for the guest services'
 * message builders (ndisc.c, dhcp6.c, dns-name.c). The writer never writes
 * past its buffer: what does not fit sets `overflow` and is dropped, so a
 * builder checks once at the end instead of after every field. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t get_be16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct wbuf {
        uint8_t *data;
        size_t size;
        size_t len;
        bool overflow;
};

#define WBUF(buf, n) ((struct wbuf){.data = (buf), .size = (n)})

/* Appends n bytes (NULL: zeros); returns where they went, or NULL when
 * they do not fit. */
static inline uint8_t *wbuf_put(struct wbuf *w, const void *src, size_t n)
{
        uint8_t *p;

        if (w->overflow || n > w->size - w->len) {
                w->overflow = true;
                return NULL;
        }
        p = w->data + w->len;
        if (src)
                memcpy(p, src, n);
        else
                memset(p, 0, n);
        w->len += n;
        return p;
}

static inline void wbuf_put8(struct wbuf *w, uint8_t v)
{
        wbuf_put(w, &v, 1);
}

static inline void wbuf_put16(struct wbuf *w, uint16_t v)
{
        wbuf_put(w, (uint8_t[]){(uint8_t)(v >> 8), (uint8_t)v}, 2);
}

static inline void wbuf_put32(struct wbuf *w, uint32_t v)
{
        wbuf_put(w, (uint8_t[]){(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v}, 4);
}

/* Overwrites a 16-bit field written earlier at offset at (a length that is
 * known only once what follows it is written). */
static inline void wbuf_patch16(struct wbuf *w, size_t at, uint16_t v)
{
        if (!w->overflow && at + 2 <= w->len) {
                w->data[at] = (uint8_t)(v >> 8);
                w->data[at + 1] = (uint8_t)v;
        }
}

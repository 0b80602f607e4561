/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dns-name.h"

#define DNS_LABEL_MAX 63
#define DNS_NAME_MAX 255 /* encoded, the root's zero octet included */

/* Host names as resolvers accept them in a search list; no locale. */
static bool label_char_valid(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_';
}

static bool is_separator(char c)
{
        return c == ' ' || c == '\t' || c == ',';
}

/* One name, s[0..n): a length octet before each label, a zero octet after
 * the last. */
static int encode_name(const char *s, size_t n, struct wbuf *w)
{
        size_t encoded = 1, i = 0;

        if (n > 0 && s[n - 1] == '.')
                n--;
        if (n == 0)
                return -EINVAL;
        for (;;) {
                size_t j = i;

                while (j < n && s[j] != '.') {
                        if (!label_char_valid(s[j]))
                                return -EINVAL;
                        j++;
                }
                if (j == i || j - i > DNS_LABEL_MAX)
                        return -EINVAL;
                encoded += 1 + (j - i);
                if (encoded > DNS_NAME_MAX)
                        return -EINVAL;
                wbuf_put8(w, (uint8_t)(j - i));
                wbuf_put(w, s + i, j - i);
                if (j == n)
                        break;
                i = j + 1;
        }
        wbuf_put8(w, 0);
        return 0;
}

int dns_names_encode(const char *names, size_t len, struct wbuf *w)
{
        size_t start = w->len, i = 0;
        int n = 0;

        len = strnlen(names, len);
        while (i < len) {
                size_t j;

                if (is_separator(names[i])) {
                        i++;
                        continue;
                }
                for (j = i; j < len && !is_separator(names[j]); j++)
                        ;
                if (encode_name(names + i, j - i, w) < 0) {
                        w->len = start;
                        return -EINVAL;
                }
                n++;
                i = j;
        }
        return n;
}

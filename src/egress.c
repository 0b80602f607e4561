/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egress.h"
#include "json-util.h"
#include "macro.h"
#include "protocol.h"

static const char *const mode_names[_EGRESS_MODE_MAX] = {TAPLINKD_EGRESS_MODES};
_Static_assert(_EGRESS_MODE_MAX == TAPLINKD_EGRESS_MODE_COUNT, "one name per mode");

const char *egress_mode_to_string(enum egress_mode m)
{
        return (unsigned)m < _EGRESS_MODE_MAX ? mode_names[m] : NULL;
}

int egress_mode_from_string(const char *s, enum egress_mode *ret)
{
        int m = taplinkd_egress_mode(s);
        if (m < 0)
                return -EINVAL;
        *ret = (enum egress_mode)m;
        return 0;
}

struct egress_policy *egress_policy_new(enum egress_mode mode, size_t n)
{
        struct egress_policy *p = calloc(1, sizeof(*p) + n * sizeof(p->allow[0]));
        if (p)
                p->mode = mode;
        return p;
}

struct egress_policy *egress_policy_dup(const struct egress_policy *p)
{
        struct egress_policy *d = egress_policy_new(p->mode, p->n_allow);
        if (!d)
                return NULL;
        d->n_allow = p->n_allow;
        memcpy(d->allow, p->allow, p->n_allow * sizeof(p->allow[0]));
        return d;
}

int egress_allow_cmp(const struct egress_allow *a, const struct egress_allow *b)
{
        size_t len = a->family == AF_INET ? 4 : 16;
        int r;

        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        if (a->protocol != b->protocol)
                return a->protocol < b->protocol ? -1 : 1;
        if (a->port != b->port)
                return a->port < b->port ? -1 : 1;
        r = memcmp(&a->addr, &b->addr, len);
        if (r != 0)
                return r;
        return a->prefix_len < b->prefix_len ? -1 : a->prefix_len > b->prefix_len;
}

static int allow_cmp_qsort(const void *a, const void *b)
{
        return egress_allow_cmp(a, b);
}

bool egress_policy_equal(const struct egress_policy *a, const struct egress_policy *b)
{
        if (a->mode != b->mode || a->n_allow != b->n_allow)
                return false;
        for (size_t i = 0; i < a->n_allow; i++)
                if (egress_allow_cmp(&a->allow[i], &b->allow[i]) != 0)
                        return false;
        return true;
}

static bool bit_set(const uint8_t *addr, unsigned bit)
{
        return addr[bit / 8] & (0x80u >> (bit % 8));
}

/* "address" or "address/length", without bits past the length. */
static int parse_destination(const char *s, struct egress_allow *ret)
{
        char text[INET6_ADDRSTRLEN];
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        unsigned bits, len;

        if (n == 0 || n >= sizeof(text))
                return -EINVAL;
        memcpy(text, s, n);
        text[n] = '\0';
        ret->family = strchr(text, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(ret->family, text, &ret->addr) != 1)
                return -EINVAL;
        bits = ret->family == AF_INET ? 32 : 128;
        len = bits;
        if (slash) {
                const char *p = slash + 1;
                /* Decimal, no sign, no leading zero. */
                if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0') || strlen(p) > 3)
                        return -EINVAL;
                len = 0;
                for (; *p; p++) {
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        len = len * 10 + (unsigned)(*p - '0');
                }
                if (len > bits)
                        return -EINVAL;
        }
        for (unsigned i = len; i < bits; i++)
                if (bit_set((const uint8_t *)&ret->addr, i))
                        return -EINVAL;
        ret->prefix_len = (uint8_t)len;
        return 0;
}

static int parse_allow_entry(struct json_object *o, struct egress_allow *ret)
{
        struct json_object *dest = NULL, *proto = NULL, *port = NULL;

        if (!json_object_is_type(o, json_type_object))
                return -EINVAL;
        *ret = (struct egress_allow){0};
        json_object_object_foreach(o, key, v)
        {
                if (streq_ptr(key, "destination"))
                        dest = v;
                else if (streq_ptr(key, "protocol"))
                        proto = v;
                else if (streq_ptr(key, "port"))
                        port = v;
                else
                        return -EINVAL;
        }
        if (!json_object_is_type(dest, json_type_string) ||
            strlen(json_object_get_string(dest)) != (size_t)json_object_get_string_len(dest) ||
            parse_destination(json_object_get_string(dest), ret) < 0)
                return -EINVAL;
        if (proto) {
                const char *s = json_object_get_string(proto);
                if (!json_object_is_type(proto, json_type_string))
                        return -EINVAL;
                if (streq_ptr(s, "tcp"))
                        ret->protocol = IPPROTO_TCP;
                else if (streq_ptr(s, "udp"))
                        ret->protocol = IPPROTO_UDP;
                else
                        return -EINVAL;
        }
        if (port) {
                int64_t x;
                if (!json_object_is_type(port, json_type_int) || !ret->protocol)
                        return -EINVAL;
                x = json_object_get_int64(port);
                if (x < 1 || x > 65535)
                        return -EINVAL;
                ret->port = (uint16_t)x;
        }
        return 0;
}

/* Whether network a contains network b (same family). */
static bool contains(const struct egress_allow *a, const struct egress_allow *b)
{
        if (a->prefix_len > b->prefix_len)
                return false;
        for (unsigned i = 0; i < a->prefix_len; i++)
                if (bit_set((const uint8_t *)&a->addr, i) != bit_set((const uint8_t *)&b->addr, i))
                        return false;
        return true;
}

/* Sorts, drops duplicates, refuses nested networks of one protocol and port. */
static int normalize(struct egress_policy *p)
{
        size_t n = 0;

        qsort(p->allow, p->n_allow, sizeof(p->allow[0]), allow_cmp_qsort);
        for (size_t i = 0; i < p->n_allow; i++) {
                if (n > 0 && egress_allow_cmp(&p->allow[n - 1], &p->allow[i]) == 0)
                        continue;
                p->allow[n++] = p->allow[i];
        }
        p->n_allow = n;
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++) {
                        const struct egress_allow *a = &p->allow[i], *b = &p->allow[j];
                        if (a->family != b->family || a->protocol != b->protocol || a->port != b->port)
                                break; /* sorted: no later entry of a's kind */
                        if (contains(a, b) || contains(b, a))
                                return -EINVAL;
                }
        return 0;
}

const char *egress_policy_from_json(struct json_object *egress, struct json_object *allow,
                                    enum egress_mode default_mode, struct egress_policy **ret)
{
        enum egress_mode mode = default_mode;
        size_t n = 0;

        /* A NUL inside the string would hide what follows it. */
        if (egress &&
            (!json_object_is_type(egress, json_type_string) ||
             strlen(json_object_get_string(egress)) != (size_t)json_object_get_string_len(egress) ||
             egress_mode_from_string(json_object_get_string(egress), &mode) < 0))
                return "egress";
        if (allow) {
                if (!json_object_is_type(allow, json_type_array))
                        return "allow";
                n = json_object_array_length(allow);
                if (n > EGRESS_ALLOW_MAX)
                        return "allow";
        }
        _cleanup_free_ struct egress_policy *p = egress_policy_new(mode, n);
        if (!p)
                return "";
        for (size_t i = 0; i < n; i++)
                if (parse_allow_entry(json_object_array_get_idx(allow, i), &p->allow[i]) < 0)
                        return "allow";
        p->n_allow = n;
        if (normalize(p) < 0)
                return "allow";
        *ret = TAKE_PTR(p);
        return NULL;
}

void egress_format_destination(const struct egress_allow *a, char *buf)
{
        char text[INET6_ADDRSTRLEN];

        inet_ntop(a->family, &a->addr, text, sizeof(text));
        snprintf(buf, EGRESS_DESTINATION_MAX, "%s/%u", text, a->prefix_len);
}

struct json_object *egress_allow_to_json(const struct egress_policy *p)
{
        _cleanup_json_ struct json_object *list = json_object_new_array();

        if (!list)
                return NULL;
        for (size_t i = 0; i < p->n_allow; i++) {
                const struct egress_allow *a = &p->allow[i];
                struct json_object *o = json_object_new_object();
                char dest[EGRESS_DESTINATION_MAX];

                if (!o || json_object_array_add(list, o) < 0) {
                        json_object_put(o);
                        return NULL;
                }
                egress_format_destination(a, dest);
                if (json_add(o, "destination", json_object_new_string(dest)) < 0)
                        return NULL;
                if (a->protocol &&
                    json_add(o, "protocol",
                             json_object_new_string(a->protocol == IPPROTO_TCP ? "tcp" : "udp")) < 0)
                        return NULL;
                if (a->port && json_add(o, "port", json_object_new_int(a->port)) < 0)
                        return NULL;
        }
        return TAKE_PTR(list);
}

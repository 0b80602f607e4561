/* SPDX-License-Identifier: MIT */
#pragma once

/* json-c helpers for taplinkd, libtaplink and taplinkctl alike. Static
 * inline: libtaplink exports tl_* alone (src/lib/libtaplink.sym). */

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <string.h>

#include "macro.h"

/* _cleanup_json_ struct json_object *o = ...: dropped at scope exit. */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)

/* Adds val to the object o under key, taking val in every case: a NULL val
 * (a json_object_new_*() that failed) and a failed add both give -ENOMEM,
 * and val is put. json_object_object_add() alone would store a NULL as JSON
 * null, and leave val with the caller when it fails. */
static inline int json_add(struct json_object *o, const char *key, struct json_object *val)
{
        if (!val)
                return -ENOMEM;
        if (json_object_object_add(o, key, val) < 0) {
                json_object_put(val);
                return -ENOMEM;
        }
        return 0;
}

/* v's string when v is a JSON string without a NUL inside (one would hide
 * what follows it from every C string function), else NULL. */
static inline const char *json_plain_string(struct json_object *v)
{
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return NULL;
        s = json_object_get_string(v);
        return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

/* A JSON integer (not a double, string or boolean) in min..max: 0 and
 * *ret, else -EINVAL. json-c keeps integers beyond int64 as uint64 and
 * json_object_get_int64() clamps them to INT64_MAX: still out of range. */
static inline int json_int_in_range(struct json_object *v, int64_t min, int64_t max, int64_t *ret)
{
        int64_t x;

        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        x = json_object_get_int64(v);
        if (x < min || x > max)
                return -EINVAL;
        *ret = x;
        return 0;
}

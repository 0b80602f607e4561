/* SPDX-License-Identifier: MIT */
#pragma once

/* json-c helpers for taplinkd, libtaplink and taplinkctl alike. Static
 * inline: libtaplink exports tl_* alone (src/lib/libtaplink.sym). */

#include <errno.h>
#include <json-c/json.h>

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

/* SPDX-License-Identifier: MIT */

/* One Varlink message into a call: nothing but the bytes in, no I/O. What
 * is refused, and why, is in varlink.h at varlink_parse_call(); the
 * fuzzer (tests/fuzz/fuzz-varlink.c) feeds this every byte sequence it can
 * think of. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "varlink-internal.h"

static bool is_json_whitespace(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
 * json-c 0.16's JSON_TOKENER_VALIDATE_UTF8 lets all three through. */
static bool utf8_is_valid(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s, *end = p + len;

        while (p < end) {
                unsigned c = *p, cp, min;
                size_t n;

                if (c < 0x80) {
                        p++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf) {
                        n = 1;
                        cp = c & 0x1f;
                        min = 0x80;
                } else if ((c & 0xf0) == 0xe0) {
                        n = 2;
                        cp = c & 0x0f;
                        min = 0x800;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 3;
                        cp = c & 0x07;
                        min = 0x10000;
                } else
                        return false;
                if ((size_t)(end - p) <= n)
                        return false;
                for (size_t i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                p += n + 1;
        }
        return true;
}

static int json_get_flag(struct json_object *o, const char *key, bool *ret)
{
        struct json_object *v;

        if (!json_object_object_get_ex(o, key, &v)) {
                *ret = false;
                return 0;
        }
        if (!json_object_is_type(v, json_type_boolean))
                return -EBADMSG;
        *ret = json_object_get_boolean(v);
        return 0;
}

/* json-c takes NaN, Infinity and -Infinity, which are not JSON. A number it
 * parsed keeps its text (1e400 stays "1e400"); those three have none. */
static bool json_numbers_valid(struct json_object *o)
{
        switch (json_object_get_type(o)) {
        case json_type_double: {
                const char *t = json_object_to_json_string(o);
                return t && (t[0] == '-' ? t[1] : t[0]) >= '0' && (t[0] == '-' ? t[1] : t[0]) <= '9';
        }
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        if (!json_numbers_valid(json_object_array_get_idx(o, i)))
                                return false;
                return true;
        case json_type_object: {
                json_object_object_foreach(o, k, v)
                {
                        (void)k;
                        if (!json_numbers_valid(v))
                                return false;
                }
                return true;
        }
        default:
                return true;
        }
}

static int parse_json_object(const char *msg, size_t len, struct json_object **ret)
{
        struct json_tokener *tok;
        struct json_object *o;
        size_t end;

        /* Bounded depth: json-c refuses deeper nesting instead of recursing. */
        tok = json_tokener_new_ex(VARLINK_MAX_DEPTH);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        o = json_tokener_parse_ex(tok, msg, (int)len);
        end = json_tokener_get_parse_end(tok);
        if (o && json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(o);
                o = NULL;
        }
        json_tokener_free(tok);
        if (!o)
                return -EBADMSG;

        for (; end < len; end++)
                if (!is_json_whitespace(msg[end])) {
                        json_object_put(o);
                        return -EBADMSG;
                }
        if (!json_object_is_type(o, json_type_object) || !json_numbers_valid(o)) {
                json_object_put(o);
                return -EBADMSG;
        }
        *ret = o;
        return 0;
}

/* The call's method: a non-empty string without an embedded NUL. */
static int parse_method(struct json_object *o, const char **ret)
{
        struct json_object *method;
        const char *name;

        if (!json_object_object_get_ex(o, "method", &method) ||
            !json_object_is_type(method, json_type_string))
                return -EBADMSG;
        name = json_object_get_string(method);
        /* A "\u0000" inside would make the C string a different name. */
        if (!name || name[0] == 0 || strlen(name) != (size_t)json_object_get_string_len(method))
                return -EBADMSG;
        *ret = name;
        return 0;
}

int varlink_parse_message(const char *msg, size_t len, struct varlink_call *ret, bool *ret_bad_parameters)
{
        _cleanup_json_ struct json_object *o = NULL, *parameters = NULL;
        struct json_object *p;
        bool more, oneway, bad_parameters = false;
        const char *name;
        char *m;
        int r;

        if (!ret || !ret_bad_parameters || (!msg && len > 0))
                return -EINVAL;
        if (len > VARLINK_MAX_MESSAGE)
                return -EMSGSIZE;
        /* NUL frames messages, so one inside cannot be part of this one;
         * json-c would stop at it and take the rest for trailing bytes. */
        if (len == 0 || memchr(msg, 0, len) || !utf8_is_valid(msg, len))
                return -EBADMSG;

        r = parse_json_object(msg, len, &o);
        if (r < 0)
                return r;
        r = parse_method(o, &name);
        if (r < 0)
                return r;

        r = json_get_flag(o, "more", &more);
        if (r < 0)
                return r;
        r = json_get_flag(o, "oneway", &oneway);
        if (r < 0)
                return r;
        if (more && oneway)
                return -EBADMSG;

        if (json_object_object_get_ex(o, "parameters", &p) && p) {
                if (json_object_is_type(p, json_type_object))
                        parameters = json_object_get(p);
                else
                        bad_parameters = true;
        }
        if (!parameters) {
                parameters = json_object_new_object();
                if (!parameters)
                        return -ENOMEM;
        }

        m = strdup(name);
        if (!m)
                return -ENOMEM;
        *ret = (struct varlink_call){
            .method = m,
            .parameters = TAKE_PTR(parameters),
            .more = more,
            .oneway = oneway,
        };
        *ret_bad_parameters = bad_parameters;
        return 0;
}

int varlink_parse_call(const char *msg, size_t len, struct varlink_call *ret)
{
        struct varlink_call call;
        bool bad_parameters;
        int r;

        r = varlink_parse_message(msg, len, &call, &bad_parameters);
        if (r < 0)
                return r;
        if (bad_parameters) {
                varlink_call_done(&call);
                return -EBADMSG;
        }
        *ret = call;
        return 0;
}

void varlink_call_done(struct varlink_call *call)
{
        if (!call)
                return;
        free(call->method);
        if (call->parameters)
                json_object_put(call->parameters);
        *call = (struct varlink_call){};
}

/* SPDX-License-Identifier: MIT */

/* A slot's egress policy and published ports: the Acquire members that do
 * not fit tl_acquire_options, SetEgress, Publish and Unpublish, and the
 * Slot members egress, allow and published (taplink(3)). */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "taplink-private.h"

struct tl_acquire_extra {
        /* The members added to Acquire's parameters, as they will be sent:
         * "egress", "allow" and "publish", each only once set. */
        json_object *parameters;
};

/* ---- building requests ---- */

static int allow_to_json(const tl_allow *a, json_object **ret)
{
        if (!a || !a->destination)
                return -EINVAL;
        _cleanup_json_ json_object *o = json_object_new_object();
        if (!o || json_add(o, "destination", json_object_new_string(a->destination)) < 0 ||
            (a->protocol && json_add(o, "protocol", json_object_new_string(a->protocol)) < 0) ||
            (a->port > 0 && json_add(o, "port", json_object_new_int64(a->port)) < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int port_to_json(const tl_port *p, json_object **ret)
{
        if (!p)
                return -EINVAL;
        _cleanup_json_ json_object *o = json_object_new_object();
        if (!o || json_add(o, "protocol", json_object_new_string(p->protocol ? p->protocol : "tcp")) < 0 ||
            json_add(o, "hostPort", json_object_new_int64(p->host_port)) < 0 ||
            json_add(o, "guestPort", json_object_new_int64(p->guest_port)) < 0 ||
            (p->host_address && json_add(o, "hostAddress", json_object_new_string(p->host_address)) < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* Appends item (taken in every case) to the array o[key], made if absent. */
static int append_member(json_object *o, const char *key, json_object *item)
{
        json_object *a;

        if (!json_object_object_get_ex(o, key, &a)) {
                a = json_object_new_array();
                if (json_add(o, key, a) < 0) {
                        json_object_put(item);
                        return -ENOMEM;
                }
        }
        if (json_object_array_add(a, item) < 0) {
                json_object_put(item);
                return -ENOMEM;
        }
        return 0;
}

int tlp_json_merge(json_object *o, json_object *from)
{
        json_object_object_foreach(from, key, val)
        {
                if (json_add(o, key, json_object_get(val)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

_public_ int tl_acquire_extra_new(tl_acquire_extra **ret)
{
        if (!ret)
                return -EINVAL;
        _cleanup_free_ tl_acquire_extra *x = calloc(1, sizeof(*x));
        if (!x || !(x->parameters = json_object_new_object()))
                return -ENOMEM;
        *ret = TAKE_PTR(x);
        return 0;
}

_public_ void tl_acquire_extra_free(tl_acquire_extra *x)
{
        if (!x)
                return;
        json_object_put(x->parameters);
        free(x);
}

_public_ int tl_acquire_extra_set_egress(tl_acquire_extra *x, const char *mode)
{
        if (!x || !mode)
                return -EINVAL;
        return json_add(x->parameters, "egress", json_object_new_string(mode));
}

_public_ int tl_acquire_extra_set_clone(tl_acquire_extra *x, bool clone)
{
        if (!x)
                return -EINVAL;
        return json_add(x->parameters, "clone", json_object_new_boolean(clone));
}

_public_ int tl_acquire_extra_add_allow(tl_acquire_extra *x, const tl_allow *allow)
{
        json_object *o;

        if (!x)
                return -EINVAL;
        int r = allow_to_json(allow, &o);
        if (r < 0)
                return r;
        return append_member(x->parameters, "allow", o);
}

_public_ int tl_acquire_extra_add_publish(tl_acquire_extra *x, const tl_port *port)
{
        json_object *o;

        if (!x)
                return -EINVAL;
        int r = port_to_json(port, &o);
        if (r < 0)
                return r;
        return append_member(x->parameters, "publish", o);
}

_public_ int tl_acquire_full(tl_client *c, const tl_acquire_options *opts, const tl_acquire_extra *extra,
                             tl_slot **ret)
{
        return tlp_acquire(c, opts, extra ? extra->parameters : NULL, ret);
}

/* Makes a call on a live slot with p's members and "slot"; the reply's
 * parameters are not looked at (a newer daemon may add some). */
static int slot_call(tl_client *c, const char *method, unsigned slot, json_object *p)
{
        _cleanup_(tlp_reply_done) struct tl_reply reply = {};

        if (json_add(p, "slot", json_object_new_int64(slot)) < 0)
                return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        return tlp_client_call(c, method, p, &reply);
}

_public_ int tl_set_egress(tl_client *c, unsigned slot, const char *mode, const tl_allow *allow, size_t n)
{
        if (!c || !mode || (n > 0 && !allow))
                return -EINVAL;
        _cleanup_json_ json_object *p = json_object_new_object();
        _cleanup_json_ json_object *a = json_object_new_array();
        if (!p || !a || json_add(p, "egress", json_object_new_string(mode)) < 0)
                return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        for (size_t i = 0; i < n; i++) {
                json_object *o;
                int r = allow_to_json(&allow[i], &o);
                if (r == -EINVAL)
                        return r;
                if (r < 0 || json_object_array_add(a, o) < 0)
                        return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        }
        if (json_add(p, "allow", TAKE_PTR(a)) < 0)
                return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        return slot_call(c, TAPLINKD_METHOD_SET_EGRESS, slot, p);
}

static int port_call(tl_client *c, const char *method, unsigned slot, const tl_port *port)
{
        json_object *o;

        if (!c || !port)
                return -EINVAL;
        _cleanup_json_ json_object *p = json_object_new_object();
        if (!p || port_to_json(port, &o) < 0 || json_add(p, "port", o) < 0)
                return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        return slot_call(c, method, slot, p);
}

_public_ int tl_publish(tl_client *c, unsigned slot, const tl_port *port)
{
        return port_call(c, TAPLINKD_METHOD_PUBLISH, slot, port);
}

_public_ int tl_unpublish(tl_client *c, unsigned slot, const tl_port *port)
{
        return port_call(c, TAPLINKD_METHOD_UNPUBLISH, slot, port);
}

/* ---- reading a Slot ---- */

static bool is_protocol(const char *s)
{
        return strcmp(s, "tcp") == 0 || strcmp(s, "udp") == 0;
}

/* An optional member: absent or null gives NULL / 0. */
static int optional_string(json_object *o, const char *key, const char **ret)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !v) {
                *ret = NULL;
                return 0;
        }
        return tlp_json_get_string(o, key, ret);
}

static int optional_port(json_object *o, const char *key, unsigned *ret)
{
        json_object *v;
        uint64_t u;

        if (!json_object_object_get_ex(o, key, &v) || !v) {
                *ret = 0;
                return 0;
        }
        if (tlp_json_get_uint(o, key, 65535, &u) < 0 || u == 0)
                return -EBADMSG;
        *ret = (unsigned)u;
        return 0;
}

static int parse_allow(json_object *o, tl_allow *ret)
{
        tl_allow a;

        if (!json_object_is_type(o, json_type_object) ||
            tlp_json_get_string(o, "destination", &a.destination) < 0 ||
            !taplinkd_prefix_family(a.destination) || optional_string(o, "protocol", &a.protocol) < 0 ||
            (a.protocol && !is_protocol(a.protocol)) || optional_port(o, "port", &a.port) < 0 ||
            (a.port && !a.protocol))
                return -EBADMSG;
        *ret = a;
        return 0;
}

static int parse_port(json_object *o, tl_port *ret)
{
        unsigned char buf[sizeof(struct in6_addr)];
        tl_port p;

        if (!json_object_is_type(o, json_type_object) ||
            tlp_json_get_string(o, "protocol", &p.protocol) < 0 || !is_protocol(p.protocol) ||
            optional_port(o, "hostPort", &p.host_port) < 0 || !p.host_port ||
            optional_port(o, "guestPort", &p.guest_port) < 0 || !p.guest_port ||
            optional_string(o, "hostAddress", &p.host_address) < 0)
                return -EBADMSG;
        if (p.host_address && inet_pton(AF_INET, p.host_address, buf) != 1 &&
            inet_pton(AF_INET6, p.host_address, buf) != 1)
                return -EBADMSG;
        *ret = p;
        return 0;
}

/* The array o[key], or NULL when absent (a daemon older than 0.2). */
static json_object *member_array(json_object *o, const char *key)
{
        json_object *a;

        if (!o || !json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
                return NULL;
        return a;
}

static int check_array(json_object *o, const char *key, bool is_allow)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return 0;
        if (!json_object_is_type(v, json_type_array))
                return -EBADMSG;
        for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *e = json_object_array_get_idx(v, i);
                int r = is_allow ? parse_allow(e, &(tl_allow){}) : parse_port(e, &(tl_port){});
                if (r < 0)
                        return r;
        }
        return 0;
}

int tlp_slot_check_policy(json_object *o, const char **ret_detail)
{
        const char *egress;

        if (json_object_object_get_ex(o, "egress", NULL) && tlp_json_get_string(o, "egress", &egress) < 0) {
                *ret_detail = "egress";
                return -EBADMSG;
        }
        if (check_array(o, "allow", true) < 0) {
                *ret_detail = "allow";
                return -EBADMSG;
        }
        if (check_array(o, "published", false) < 0) {
                *ret_detail = "published";
                return -EBADMSG;
        }
        return 0;
}

_public_ const char *tl_slot_egress(const tl_slot *s)
{
        const char *egress;

        if (!s || tlp_json_get_string(s->object, "egress", &egress) < 0)
                return NULL;
        return egress;
}

_public_ size_t tl_slot_allow_count(const tl_slot *s)
{
        json_object *a = member_array(s ? s->object : NULL, "allow");
        return a ? json_object_array_length(a) : 0;
}

_public_ int tl_slot_allow_get(const tl_slot *s, size_t i, tl_allow *ret)
{
        json_object *a = member_array(s ? s->object : NULL, "allow");

        if (!ret || !a || i >= json_object_array_length(a))
                return -EINVAL;
        /* Checked on arrival (tlp_slot_check_policy()). */
        return parse_allow(json_object_array_get_idx(a, i), ret);
}

_public_ size_t tl_slot_published_count(const tl_slot *s)
{
        json_object *a = member_array(s ? s->object : NULL, "published");
        return a ? json_object_array_length(a) : 0;
}

_public_ int tl_slot_published_get(const tl_slot *s, size_t i, tl_port *ret)
{
        json_object *a = member_array(s ? s->object : NULL, "published");

        if (!ret || !a || i >= json_object_array_length(a))
                return -EINVAL;
        return parse_port(json_object_array_get_idx(a, i), ret);
}

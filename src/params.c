/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "macro.h"
#include "params.h"
#include "protocol.h"
#include "slot.h"

/* An int in [min, max]; JSON null counts as absent (returns 0, *ret unset). */
static int get_int(struct json_object *v, int64_t min, int64_t max, int64_t *ret)
{
        if (!v)
                return 0;
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        /* json-c keeps integers beyond int64 as uint64 and get_int64 clamps
         * them to INT64_MAX: still out of range. */
        int64_t x = json_object_get_int64(v);
        if (x < min || x > max)
                return -ERANGE;
        *ret = x;
        return 1;
}

static int get_bool(struct json_object *v, bool *ret)
{
        if (!v)
                return 0;
        if (!json_object_is_type(v, json_type_boolean))
                return -EINVAL;
        *ret = json_object_get_boolean(v);
        return 1;
}

static int get_label(struct json_object *v, const char **ret)
{
        if (!v)
                return 0;
        if (!json_object_is_type(v, json_type_string) ||
            !taplinkd_label_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
                return -EINVAL;
        *ret = json_object_get_string(v);
        return 1;
}

void call_params_done(struct call_params *p)
{
        free(p->egress);
        p->egress = NULL;
        p->acquire.egress = NULL;
        free(p->published);
        p->published = NULL;
        p->acquire.published = NULL;
}

/* A slot number below effective_max_slots. */
static int get_slot(const struct config *c, struct json_object *v, unsigned *ret)
{
        int64_t slot = 0;

        /* Out of range: json-c clamps what int64 cannot hold, so a
         * NoSuchSlot could name a different slot than the one asked about. */
        if (get_int(v, 0, (int64_t)c->effective_max_slots - 1, &slot) <= 0)
                return -EINVAL;
        *ret = (unsigned)slot;
        return 0;
}

const char *params_acquire(const struct config *c, struct json_object *params, struct call_params *ret)
{
        struct slot_request p = {
            .mtu = c->mtu,
            .queues = 1,
            .vnet_header = true,
        };
        struct json_object *egress = NULL, *allow = NULL, *publish = NULL;
        struct egress_policy *policy = NULL;
        struct publish_list *published = NULL;
        const char *bad;

        json_object_object_foreach(params, key, v)
        {
                int64_t x = 0;
                int e;

                if (streq_ptr(key, "label"))
                        e = get_label(v, &p.label);
                else if (streq_ptr(key, "mtu")) {
                        e = get_int(v, TAPLINKD_MTU_MIN, TAPLINKD_MTU_MAX, &x);
                        if (e > 0)
                                p.mtu = (unsigned)x;
                } else if (streq_ptr(key, "queues")) {
                        e = get_int(v, TAPLINKD_QUEUES_MIN, TAPLINKD_QUEUES_MAX, &x);
                        if (e > 0)
                                p.queues = (unsigned)x;
                } else if (streq_ptr(key, "vnetHeader"))
                        e = get_bool(v, &p.vnet_header);
                else if (streq_ptr(key, "persistent"))
                        e = get_bool(v, &p.persistent);
                else if (streq_ptr(key, "clone")) {
                        e = get_bool(v, &p.clone);
                        if (e > 0 && p.clone && !c->clone_enabled)
                                e = -EPERM;
                } else if (streq_ptr(key, "egress"))
                        e = (egress = v) ? 1 : 0;
                else if (streq_ptr(key, "allow"))
                        e = (allow = v) ? 1 : 0;
                else if (streq_ptr(key, "publish"))
                        e = (publish = v) ? 1 : 0;
                else
                        e = -ENOENT;
                if (e < 0)
                        return key;
        }
        /* The kernel refuses an IPv6 address below 1280: say so up front
         * instead of failing half-way with a KernelError. */
        if (slot_has_ipv6(c, p.clone) && p.mtu < TAPLINKD_IPV6_MTU_MIN)
                return "mtu";
        if (publish && publish_list_from_json(publish, PUBLISH_PORTS_MAX, &published) < 0)
                return "publish";
        bad = egress_policy_from_json(egress, allow, (enum egress_mode)c->default_egress, &policy);
        if (bad) {
                free(published);
                return bad;
        }
        p.egress = policy;
        p.published = published;
        *ret = (struct call_params){.acquire = p, .egress = policy, .published = published};
        return NULL;
}

const char *params_set_egress(const struct config *c, struct json_object *params, struct call_params *ret)
{
        struct json_object *slot = NULL, *egress = NULL, *allow = NULL;
        struct egress_policy *policy = NULL;
        unsigned n = 0;
        const char *bad;

        json_object_object_foreach(params, key, v)
        {
                if (streq_ptr(key, "slot"))
                        slot = v;
                else if (streq_ptr(key, "egress"))
                        egress = v;
                else if (streq_ptr(key, "allow"))
                        allow = v;
                else
                        return key;
        }
        if (get_slot(c, slot, &n) < 0)
                return "slot";
        if (!egress)
                return "egress";
        bad = egress_policy_from_json(egress, allow, EGRESS_NONE, &policy);
        if (bad)
                return bad;
        *ret = (struct call_params){.slot = n, .egress = policy};
        return NULL;
}

const char *params_publish(const struct config *c, struct json_object *params, struct call_params *ret)
{
        struct json_object *slot = NULL, *port = NULL;
        struct publish_port pp;
        unsigned n = 0;

        json_object_object_foreach(params, key, v)
        {
                if (streq_ptr(key, "slot"))
                        slot = v;
                else if (streq_ptr(key, "port"))
                        port = v;
                else
                        return key;
        }
        if (get_slot(c, slot, &n) < 0)
                return "slot";
        if (!port || publish_port_from_json(port, &pp) < 0)
                return "port";
        *ret = (struct call_params){.slot = n, .port = pp};
        return NULL;
}

const char *params_release(const struct config *c, struct json_object *params, struct call_params *ret)
{
        struct json_object *v = NULL;
        unsigned slot = 0;

        json_object_object_foreach(params, key, val)
        {
                if (!streq_ptr(key, "slot"))
                        return key;
                v = val;
        }
        if (get_slot(c, v, &slot) < 0)
                return "slot";
        *ret = (struct call_params){.slot = slot};
        return NULL;
}

const char *params_list(const struct config *c, struct json_object *params, struct call_params *ret)
{
        bool counters = false;

        json_object_object_foreach(params, key, v)
        {
                if (!streq_ptr(key, "counters") || get_bool(v, &counters) < 0)
                        return key;
        }
        *ret = (struct call_params){.counters = counters};
        return NULL;
}

const char *params_none(const struct config *c, struct json_object *params, struct call_params *ret)
{
        json_object_object_foreach(params, key, v)
        {
                (void)v;
                return key;
        }
        *ret = (struct call_params){0};
        return NULL;
}

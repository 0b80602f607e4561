/* SPDX-License-Identifier: MIT */

/* The io.taplinkd methods: build the parameters, check the reply. */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "taplink-private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(tl_slot *, tl_slot_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(tl_slot_list *, tl_slot_list_free)

static int malformed(tl_client *c, const char *what)
{
        return tlp_client_error(c, -EBADMSG, "malformed reply: %s", what);
}

_public_ void tl_acquire_options_init(tl_acquire_options *o)
{
        if (o)
                *o = (tl_acquire_options)TL_ACQUIRE_OPTIONS_INIT;
}

static int acquire_parameters(const tl_acquire_options *o, json_object **ret)
{
        _cleanup_json_ json_object *p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        if (o) {
                if ((o->label && json_add(p, "label", json_object_new_string(o->label)) < 0) ||
                    (o->mtu > 0 && json_add(p, "mtu", json_object_new_int64(o->mtu)) < 0) ||
                    (o->queues > 0 && json_add(p, "queues", json_object_new_int64(o->queues)) < 0) ||
                    (o->vnet_header >= 0 &&
                     json_add(p, "vnetHeader", json_object_new_boolean(o->vnet_header > 0)) < 0) ||
                    (o->persistent && json_add(p, "persistent", json_object_new_boolean(true)) < 0))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* Moves the received fds into the slot in queue order. Every index must
 * name a distinct received fd, one per queue; what is left over stays in
 * the reply and is closed with it. */
static int take_queue_fds(tl_client *c, json_object *indexes, struct tl_reply *reply, tl_slot *s)
{
        bool used[TL_MAX_FDS] = {};

        if (!json_object_is_type(indexes, json_type_array))
                return malformed(c, "fileDescriptors missing or not an array");
        size_t n = json_object_array_length(indexes);
        if (n != s->queues)
                return tlp_client_error(c, -EBADMSG, "malformed reply: %zu file descriptors for %u queues",
                                        n, s->queues);

        _cleanup_free_ int *fds = calloc(n, sizeof(int));
        if (!fds)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(indexes, i);
                if (!json_object_is_type(v, json_type_int))
                        return malformed(c, "fileDescriptors entry not an integer");
                int64_t idx = json_object_get_int64(v);
                if (idx < 0 || (uint64_t)idx >= reply->n_fds)
                        return tlp_client_error(c, -EBADMSG,
                                                "malformed reply: fileDescriptors[%zu] = %" PRId64
                                                " but %zu file descriptors came",
                                                i, idx, reply->n_fds);
                if (used[idx])
                        return malformed(c, "fileDescriptors names one descriptor twice");
                used[idx] = true;
        }
        for (size_t i = 0; i < n; i++) {
                size_t idx = (size_t)json_object_get_int64(json_object_array_get_idx(indexes, i));
                fds[i] = TAKE_FD(reply->fds[idx]);
        }
        s->fds = TAKE_PTR(fds);
        s->n_fds = n;
        return 0;
}

/* more: members to add to the parameters (tl_acquire_full()), or NULL. */
int tlp_acquire(tl_client *c, const tl_acquire_options *opts, json_object *more, tl_slot **ret)
{
        _cleanup_(tlp_reply_done) struct tl_reply reply = {};
        _cleanup_json_ json_object *p = NULL;
        _cleanup_(tl_slot_freep) tl_slot *s = NULL;
        const char *detail;
        json_object *o;
        int r;

        if (!c || !ret)
                return -EINVAL;
        r = acquire_parameters(opts, &p);
        if (r >= 0 && more)
                r = tlp_json_merge(p, more);
        if (r < 0)
                return tlp_client_error(c, r, "%s", strerror(-r));
        r = tlp_client_call(c, TAPLINKD_METHOD_ACQUIRE, p, &reply);
        if (r < 0)
                return r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        if (!json_object_object_get_ex(reply.parameters, "slot", &o))
                return malformed(c, "no slot");
        if (tlp_slot_parse(o, s, &detail) < 0)
                return tlp_client_error(c, -EBADMSG, "malformed reply: slot field %s", detail);
        json_object_object_get_ex(reply.parameters, "fileDescriptors", &o);
        r = take_queue_fds(c, o, &reply, s);
        if (r < 0)
                return r == -ENOMEM ? tlp_client_error(c, r, "%s", strerror(-r)) : r;

        *ret = TAKE_PTR(s);
        return 0;
}

_public_ int tl_acquire(tl_client *c, const tl_acquire_options *opts, tl_slot **ret)
{
        return tlp_acquire(c, opts, NULL, ret);
}

_public_ int tl_release(tl_client *c, unsigned slot)
{
        _cleanup_(tlp_reply_done) struct tl_reply reply = {};
        _cleanup_json_ json_object *p = json_object_new_object();

        if (!c)
                return -EINVAL;
        if (!p || json_add(p, "slot", json_object_new_int64(slot)) < 0)
                return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        return tlp_client_call(c, TAPLINKD_METHOD_RELEASE, p, &reply);
}

_public_ int tl_list(tl_client *c, tl_slot_list **ret)
{
        return tl_list_ex(c, 0, ret);
}

_public_ int tl_list_ex(tl_client *c, unsigned flags, tl_slot_list **ret)
{
        _cleanup_(tlp_reply_done) struct tl_reply reply = {};
        _cleanup_(tl_slot_list_freep) tl_slot_list *l = NULL;
        _cleanup_json_ json_object *p = NULL;
        json_object *a;
        int r;

        if (!c || !ret || (flags & ~(unsigned)TL_LIST_COUNTERS))
                return -EINVAL;
        /* Without flags, no parameters: what tl_list() always sent. */
        if (flags & TL_LIST_COUNTERS) {
                p = json_object_new_object();
                if (!p || json_add(p, "counters", json_object_new_boolean(true)) < 0)
                        return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        }
        r = tlp_client_call(c, TAPLINKD_METHOD_LIST, p, &reply);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply.parameters, "slots", &a) ||
            !json_object_is_type(a, json_type_array))
                return malformed(c, "slots missing or not an array");

        size_t n = json_object_array_length(a);
        l = calloc(1, sizeof(*l));
        if (!l || (n > 0 && !(l->slots = calloc(n, sizeof(tl_slot)))))
                return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        for (size_t i = 0; i < n; i++) {
                const char *detail;
                if (tlp_slot_parse(json_object_array_get_idx(a, i), &l->slots[i], &detail) < 0)
                        return tlp_client_error(c, -EBADMSG, "malformed reply: slots[%zu] field %s", i,
                                                detail);
                if ((flags & TL_LIST_COUNTERS) && !l->slots[i].has_counters) {
                        l->n_slots++; /* freed with the list */
                        return malformed(c, "a slot without counters");
                }
                l->n_slots++;
        }

        *ret = TAKE_PTR(l);
        return 0;
}

_public_ int tl_status_get(tl_client *c, tl_status *ret)
{
        _cleanup_(tlp_reply_done) struct tl_reply reply = {};
        const char *version;
        uint64_t in_use, max;
        int r;

        if (!c || !ret)
                return -EINVAL;
        r = tlp_client_call(c, TAPLINKD_METHOD_STATUS, NULL, &reply);
        if (r < 0)
                return r;
        if (tlp_json_get_string(reply.parameters, "version", &version) < 0)
                return malformed(c, "version missing or not a string");
        if (strlen(version) >= sizeof(ret->version))
                return malformed(c, "version too long");
        if (tlp_json_get_uint(reply.parameters, "slotsInUse", UINT32_MAX, &in_use) < 0)
                return malformed(c, "slotsInUse missing or not a count");
        if (tlp_json_get_uint(reply.parameters, "maxSlots", UINT32_MAX, &max) < 0)
                return malformed(c, "maxSlots missing or not a count");

        tl_status s = {.slots_in_use = (unsigned)in_use, .max_slots = (unsigned)max};
        strcpy(s.version, version);
        *ret = s;
        return 0;
}

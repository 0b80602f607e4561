/* SPDX-License-Identifier: MIT */

/* io.taplinkd.Monitor: the stream of slot events (taplink(3)). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "taplink-private.h"

struct tl_event {
        json_object *parameters; /* a reference; the strings borrow from it */
        const char *name;
        const char *reason; /* NULL unless given */
        bool has_slot;
        tl_slot slot;
};

_public_ int tl_monitor_start(tl_client *c)
{
        if (!c)
                return -EINVAL;
        return tlp_client_stream(c, TAPLINKD_METHOD_MONITOR, NULL);
}

/* Fills e from a Monitor reply's parameters. */
static int event_parse(tl_client *c, json_object *p, tl_event *e)
{
        const char *detail;
        json_object *v;

        e->parameters = json_object_get(p);
        if (tlp_json_get_string(p, "event", &e->name) < 0)
                return tlp_client_error(c, -EBADMSG, "malformed reply: event missing or not a clean string");
        if (json_object_object_get_ex(p, "reason", &v) && v &&
            tlp_json_get_string(p, "reason", &e->reason) < 0)
                return tlp_client_error(c, -EBADMSG, "malformed reply: reason not a clean string");
        if (json_object_object_get_ex(p, "slot", &v) && v) {
                if (tlp_slot_parse(v, &e->slot, &detail) < 0)
                        return tlp_client_error(c, -EBADMSG, "malformed reply: slot field %s", detail);
                e->has_slot = true;
        }
        return 0;
}

_public_ int tl_monitor_next(tl_client *c, int timeout_ms, tl_event **ret)
{
        _cleanup_(tlp_reply_done) struct tl_reply reply = {};
        tl_event *e;
        int r;

        if (!c || !ret)
                return -EINVAL;
        r = tlp_client_next(c, timeout_ms, &reply);
        if (r < 0)
                return r;
        if (!reply.continues) {
                /* The daemon ended the stream. */
                *ret = NULL;
                return 0;
        }
        e = calloc(1, sizeof(*e));
        if (!e)
                return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        r = event_parse(c, reply.parameters, e);
        if (r < 0) {
                tl_event_free(e);
                return r;
        }
        *ret = e;
        return 1;
}

_public_ const char *tl_event_name(const tl_event *e)
{
        return e ? e->name : NULL;
}

_public_ const tl_slot *tl_event_slot(const tl_event *e)
{
        return e && e->has_slot ? &e->slot : NULL;
}

_public_ const char *tl_event_reason(const tl_event *e)
{
        return e ? e->reason : NULL;
}

_public_ const char *tl_event_json(const tl_event *e)
{
        if (!e)
                return NULL;
        return json_object_to_json_string_ext(e->parameters,
                                              JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

_public_ void tl_event_free(tl_event *e)
{
        if (!e)
                return;
        if (e->has_slot)
                tlp_slot_done(&e->slot);
        json_object_put(e->parameters);
        free(e);
}

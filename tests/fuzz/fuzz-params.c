/* SPDX-License-Identifier: MIT */
// MODULES: params config config-values slot
// MAX_LEN: 4096

/* The io.taplinkd parameter checks (src/params.c) over arbitrary JSON, as
 * the Varlink server hands "parameters" to them: always an object (what is
 * not one here is tried as {}). Each parser runs under two configurations (IPv6 on, and off
 * with three slots). Checked besides memory safety:
 * - what is accepted is in bounds: an MTU the kernel takes (1280 and up
 *   with IPv6), 1 to 16 queues, a valid label, a slot that exists;
 * - what is refused names a key of the object, or "mtu"/"slot" (a value
 *   that is missing or only wrong together with the configuration);
 * - List/Status accept exactly the empty object. */

#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "params.h"
#include "protocol.h"

static struct config configs[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        char *error = NULL;

        for (size_t i = 0; i < 2; i++) {
                CHECK(config_init(&configs[i], NULL) == 0);
                if (i == 1) {
                        configs[i].ipv6 = false;
                        configs[i].max_slots = 3;
                }
                CHECK(config_finish(&configs[i], &error) == 0);
        }
        return 0;
}

static bool names_key(struct json_object *o, const char *bad, const char *own)
{
        return json_object_object_get_ex(o, bad, NULL) || strcmp(bad, own) == 0;
}

static void check_acquire(const struct config *c, struct json_object *o)
{
        struct call_params p;
        const char *bad = params_acquire(c, o, &p);

        if (bad) {
                CHECK(names_key(o, bad, "mtu"));
                return;
        }
        CHECK(p.acquire.mtu >= TAPLINKD_MTU_MIN && p.acquire.mtu <= TAPLINKD_MTU_MAX);
        CHECK(!c->ipv6 || p.acquire.mtu >= TAPLINKD_IPV6_MTU_MIN);
        CHECK(p.acquire.queues >= TAPLINKD_QUEUES_MIN && p.acquire.queues <= TAPLINKD_QUEUES_MAX);
        CHECK(!p.acquire.label || taplinkd_label_valid(p.acquire.label, strlen(p.acquire.label)));
}

static void check_release(const struct config *c, struct json_object *o)
{
        struct call_params p;
        const char *bad = params_release(c, o, &p);

        if (bad)
                CHECK(names_key(o, bad, "slot"));
        else
                CHECK(p.slot < c->effective_max_slots);
}

/* Only counters, and only as a bool or null. */
static void check_list(const struct config *c, struct json_object *o)
{
        struct call_params p;
        const char *bad = params_list(c, o, &p);
        struct json_object *v = NULL;
        bool has = json_object_object_get_ex(o, "counters", &v);
        bool ok = json_object_object_length(o) == (has ? 1 : 0) &&
                  (!v || json_object_is_type(v, json_type_boolean));

        CHECK(!bad == ok);
        if (bad)
                CHECK(names_key(o, bad, ""));
        else
                CHECK(p.counters == (v && json_object_get_boolean(v)));
}

static void check_none(const struct config *c, struct json_object *o)
{
        struct call_params p;
        const char *bad = params_none(c, o, &p);

        CHECK(!bad == (json_object_object_length(o) == 0));
        if (bad)
                CHECK(names_key(o, bad, ""));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct json_tokener *tok = json_tokener_new();
        struct json_object *o;

        CHECK(tok);
        o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
        /* The server passes an object always (absent and null become {}). */
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                o = json_object_new_object();
                CHECK(o);
        }
        for (size_t i = 0; i < 2; i++) {
                check_acquire(&configs[i], o);
                check_release(&configs[i], o);
                check_none(&configs[i], o);
                check_list(&configs[i], o);
        }
        json_object_put(o);
        json_tokener_free(tok);
        return 0;
}

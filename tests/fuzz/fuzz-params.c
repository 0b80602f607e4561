/* SPDX-License-Identifier: MIT */
// MODULES: params config config-values slot egress publish
// MAX_LEN: 4096

/* The io.taplinkd parameter checks (src/params.c) over arbitrary JSON, as
 * the Varlink server hands "parameters" to them: always an object (what is
 * not one here is tried as {}). Each parser runs under two configurations (IPv6 on, and off
 * with three slots). Checked besides memory safety:
 * - what is accepted is in bounds: an MTU the kernel takes (1280 and up
 *   with IPv6), 1 to 16 queues, a valid label, a slot that exists;
 * - what is refused names a key of the object, or "mtu"/"slot" (a value
 *   that is missing or only wrong together with the configuration);
 * - an accepted egress policy (Acquire, SetEgress) has a known mode and at
 *   most EGRESS_ALLOW_MAX entries, sorted without duplicates, each a network
 *   with no bits past its length and a port only with a protocol, none of
 *   one protocol and port inside another; SetEgress
 *   refuses a missing egress as "egress";
 * - List/Status accept exactly the empty object. */

#include <string.h>

#include "config.h"
#include "egress.h"
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

/* Whether a and b (sorted, a first) are of one kind and one network holds
 * the other: what the parser must refuse. */
static bool nested(const struct egress_allow *a, const struct egress_allow *b)
{
        const uint8_t *x = (const uint8_t *)&a->addr, *y = (const uint8_t *)&b->addr;
        unsigned len = MIN(a->prefix_len, b->prefix_len);

        if (a->family != b->family || a->protocol != b->protocol || a->port != b->port)
                return false;
        for (unsigned bit = 0; bit < len; bit++)
                if ((x[bit / 8] ^ y[bit / 8]) & (0x80u >> (bit % 8)))
                        return false;
        return true;
}

static void check_policy(const struct egress_policy *e)
{
        CHECK(e);
        CHECK(egress_mode_to_string(e->mode));
        CHECK(e->n_allow <= EGRESS_ALLOW_MAX);
        for (size_t i = 0; i < e->n_allow; i++) {
                const struct egress_allow *a = &e->allow[i];
                const uint8_t *addr = (const uint8_t *)&a->addr;
                unsigned bits = a->family == AF_INET ? 32 : 128;

                CHECK(a->family == AF_INET || a->family == AF_INET6);
                CHECK(a->prefix_len <= bits);
                for (unsigned b = a->prefix_len; b < bits; b++)
                        CHECK(!(addr[b / 8] & (0x80u >> (b % 8))));
                CHECK(a->protocol == 0 || a->protocol == IPPROTO_TCP || a->protocol == IPPROTO_UDP);
                CHECK(a->port == 0 || a->protocol != 0);
                CHECK(i == 0 || egress_allow_cmp(&e->allow[i - 1], a) < 0);
                for (size_t j = 0; j < i; j++)
                        CHECK(!nested(&e->allow[j], a));
        }
}

static void check_port(const struct publish_port *pp)
{
        CHECK(pp->protocol == IPPROTO_TCP || pp->protocol == IPPROTO_UDP);
        CHECK(pp->host_port > 0 && pp->guest_port > 0);
        CHECK(pp->family == AF_UNSPEC || pp->family == AF_INET || pp->family == AF_INET6);
        CHECK(publish_protocol_to_string(pp->protocol));
}

/* Sorted, none conflicting, and the same after a JSON round trip. */
static void check_ports(const struct publish_list *l)
{
        if (!l)
                return;
        CHECK(l->n <= PUBLISH_PORTS_MAX);
        for (size_t i = 0; i < l->n; i++) {
                check_port(&l->ports[i]);
                CHECK(i == 0 || publish_port_cmp(&l->ports[i - 1], &l->ports[i]) < 0);
                for (size_t j = 0; j < i; j++)
                        CHECK(!publish_port_conflicts(&l->ports[j], &l->ports[i]));
        }
        struct json_object *a = publish_list_to_json(l);
        struct publish_list *back = NULL;
        CHECK(a);
        CHECK(publish_list_from_json(a, PUBLISH_PORTS_MAX, &back) == 0);
        CHECK(publish_list_equal(l, back));
        free(back);
        json_object_put(a);
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
        CHECK(p.acquire.egress == p.egress);
        check_policy(p.egress);
        CHECK(p.acquire.published == p.published);
        check_ports(p.published);
        call_params_done(&p);
}

static void check_publish(const struct config *c, struct json_object *o)
{
        struct call_params p;
        const char *bad = params_publish(c, o, &p);

        if (bad) {
                CHECK(names_key(o, bad, "slot") || strcmp(bad, "port") == 0);
                return;
        }
        CHECK(p.slot < c->effective_max_slots);
        check_port(&p.port);
        call_params_done(&p);
}

static void check_set_egress(const struct config *c, struct json_object *o)
{
        struct call_params p;
        const char *bad = params_set_egress(c, o, &p);

        if (bad) {
                CHECK(names_key(o, bad, "slot") || strcmp(bad, "egress") == 0);
                return;
        }
        CHECK(p.slot < c->effective_max_slots);
        check_policy(p.egress);
        call_params_done(&p);
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
                check_set_egress(&configs[i], o);
                check_publish(&configs[i], o);
                check_none(&configs[i], o);
                check_list(&configs[i], o);
        }
        json_object_put(o);
        json_tokener_free(tok);
        return 0;
}

/* SPDX-License-Identifier: MIT */
// MODULES: params config config-values slot egress publish
/* The io.taplinkd parameter checks (src/params.c): defaults, every bound
 * on both sides, wrong types, unknown keys, null as absent, and a label
 * with an embedded NUL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config.h"
#include "macro.h"
#include "egress.h"
#include "params.h"

static struct config config_v6, config_v4;

static int setup(void **state)
{
        char *error = NULL;

        assert_int_equal(config_init(&config_v6, NULL), 0);
        assert_int_equal(config_finish(&config_v6, &error), 0);
        assert_int_equal(config_init(&config_v4, NULL), 0);
        config_v4.ipv6 = false;
        config_v4.max_slots = 3;
        assert_int_equal(config_finish(&config_v4, &error), 0);
        return 0;
}

static int teardown(void **state)
{
        config_done(&config_v6);
        config_done(&config_v4);
        return 0;
}

/* NULL if json is accepted by parse under c, else the bad parameter. */
static const char *parse(params_parse_fn fn, const struct config *c, const char *json,
                         struct call_params *ret)
{
        struct json_object *o = json_tokener_parse(json);
        static char bad[64];
        const char *b;

        assert_non_null(o);
        b = fn(c, o, ret);
        if (b)
                snprintf(bad, sizeof(bad), "%s", b); /* b may point into o */
        json_object_put(o);
        return b ? bad : NULL;
}

static void test_acquire_defaults(void **state)
{
        struct call_params p;

        assert_null(parse(params_acquire, &config_v6, "{}", &p));
        assert_null(p.acquire.label);
        assert_int_equal(p.acquire.mtu, config_v6.mtu);
        assert_int_equal(p.acquire.queues, 1);
        assert_true(p.acquire.vnet_header);
        assert_false(p.acquire.persistent);
        /* No egress: default_egress, no entries. */
        assert_non_null(p.acquire.egress);
        assert_int_equal(p.acquire.egress->mode, config_v6.default_egress);
        assert_int_equal(p.acquire.egress->n_allow, 0);
        call_params_done(&p);
        assert_null(parse(params_acquire, &config_v6,
                          "{\"label\":null,\"mtu\":null,\"queues\":null,\"egress\":null,\"allow\":null}",
                          &p));
        assert_int_equal(p.acquire.queues, 1);
        assert_int_equal(p.acquire.egress->mode, config_v6.default_egress);
        call_params_done(&p);
        assert_null(p.egress);
        assert_null(p.acquire.egress);
}

static void test_acquire_values(void **state)
{
        struct call_params p;

        assert_null(parse(params_acquire, &config_v6,
                          "{\"mtu\":9000,\"queues\":16,\"vnetHeader\":false,\"persistent\":true}", &p));
        assert_int_equal(p.acquire.mtu, 9000);
        assert_int_equal(p.acquire.queues, 16);
        assert_false(p.acquire.vnet_header);
        assert_true(p.acquire.persistent);
        call_params_done(&p);
        assert_null(parse(params_acquire, &config_v4, "{\"mtu\":68}", &p));
        assert_int_equal(p.acquire.mtu, 68);
        call_params_done(&p);
        assert_null(parse(params_acquire, &config_v6, "{\"mtu\":65521}", &p));
        call_params_done(&p);
        assert_null(parse(params_acquire, &config_v6,
                          "{\"egress\":\"none\",\"allow\":[{\"destination\":\"203.0.113.7\",\"protocol\":"
                          "\"tcp\",\"port\":443}]}",
                          &p));
        assert_ptr_equal(p.acquire.egress, p.egress);
        assert_int_equal(p.egress->mode, EGRESS_NONE);
        assert_int_equal(p.egress->n_allow, 1);
        assert_int_equal(p.egress->allow[0].port, 443);
        call_params_done(&p);
}

/* clone: refused while [clone] enabled = no; a clone slot has no IPv6, so
 * an MTU below 1280 is fine for it even with IPv6 on. */
static void test_acquire_clone(void **state)
{
        struct config enabled;
        struct call_params p;
        char *error = NULL;

        assert_string_equal(parse(params_acquire, &config_v6, "{\"clone\":true}", &p), "clone");
        assert_null(parse(params_acquire, &config_v6, "{\"clone\":false}", &p));
        assert_false(p.acquire.clone);
        call_params_done(&p);
        assert_null(parse(params_acquire, &config_v6, "{\"clone\":null}", &p));
        assert_false(p.acquire.clone);
        call_params_done(&p);

        assert_int_equal(config_init(&enabled, NULL), 0);
        enabled.clone_enabled = true;
        assert_int_equal(config_finish(&enabled, &error), 0);
        assert_null(parse(params_acquire, &enabled, "{\"clone\":true,\"persistent\":true}", &p));
        assert_true(p.acquire.clone);
        assert_true(p.acquire.persistent);
        call_params_done(&p);
        assert_null(parse(params_acquire, &enabled, "{\"clone\":true,\"mtu\":576}", &p));
        assert_int_equal(p.acquire.mtu, 576);
        call_params_done(&p);
        assert_string_equal(parse(params_acquire, &enabled, "{\"mtu\":576}", &p), "mtu");
        assert_string_equal(parse(params_acquire, &enabled, "{\"clone\":1}", &p), "clone");
        assert_string_equal(parse(params_acquire, &enabled, "{\"clone\":\"yes\"}", &p), "clone");
        config_done(&enabled);
}

static void test_acquire_refused(void **state)
{
        static const struct {
                const char *json, *bad;
        } cases[] = {
            {"{\"mtu\":67}", "mtu"},
            {"{\"mtu\":65522}", "mtu"},
            {"{\"mtu\":1279}", "mtu"}, /* IPv6 on */
            {"{\"mtu\":\"1500\"}", "mtu"},
            {"{\"mtu\":1500.0}", "mtu"},
            {"{\"queues\":0}", "queues"},
            {"{\"queues\":17}", "queues"},
            {"{\"queues\":18446744073709551615}", "queues"},
            {"{\"vnetHeader\":1}", "vnetHeader"},
            {"{\"persistent\":\"yes\"}", "persistent"},
            {"{\"label\":\"has space\"}", "label"},
            {"{\"label\":\"a\\u0000b\"}", "label"},
            {"{\"label\":5}", "label"},
            {"{\"label\":\"x\",\"colour\":\"red\"}", "colour"},
        };
        struct call_params p;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *bad = parse(params_acquire, &config_v6, cases[i].json, &p);
                assert_non_null(bad);
                assert_string_equal(bad, cases[i].bad);
        }
        /* 65 characters: one too many. */
        char json[128];
        snprintf(json, sizeof(json), "{\"label\":\"%065d\"}", 0);
        assert_string_equal(parse(params_acquire, &config_v6, json, &p), "label");
        snprintf(json, sizeof(json), "{\"label\":\"%064d\"}", 0);
        assert_null(parse(params_acquire, &config_v6, json, &p));
        assert_non_null(p.acquire.label); /* it pointed into the JSON, now put */
        call_params_done(&p);
        /* The policy's own refusals name egress or allow. */
        assert_string_equal(parse(params_acquire, &config_v6, "{\"egress\":\"open\"}", &p), "egress");
        assert_string_equal(parse(params_acquire, &config_v6, "{\"egress\":1}", &p), "egress");
        assert_string_equal(parse(params_acquire, &config_v6, "{\"allow\":{}}", &p), "allow");
        assert_string_equal(parse(params_acquire, &config_v6,
                                  "{\"allow\":[{\"destination\":\"10.0.0.1\",\"port\":22}]}", &p),
                            "allow");
}

static void test_set_egress(void **state)
{
        static const struct {
                const char *json, *bad;
        } refused[] = {
            {"{\"egress\":\"none\"}", "slot"},
            {"{\"slot\":3,\"egress\":\"none\"}", "slot"},
            {"{\"slot\":1}", "egress"},
            {"{\"slot\":1,\"egress\":null}", "egress"},
            {"{\"slot\":1,\"egress\":\"all\"}", "egress"},
            {"{\"slot\":1,\"egress\":\"none\",\"allow\":[{\"destination\":\"10.0.0.1/8\"}]}", "allow"},
            {"{\"slot\":1,\"egress\":\"none\",\"allow\":[{\"destination\":\"10.0.0.0/8\"},"
             "{\"destination\":\"10.1.0.0/16\"}]}",
             "allow"},
            {"{\"slot\":1,\"egress\":\"none\",\"label\":\"x\"}", "label"},
        };
        struct call_params p;

        for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                assert_string_equal(parse(params_set_egress, &config_v4, refused[i].json, &p),
                                    refused[i].bad);

        assert_null(parse(params_set_egress, &config_v4, "{\"slot\":2,\"egress\":\"public\"}", &p));
        assert_int_equal(p.slot, 2);
        assert_int_equal(p.egress->mode, EGRESS_PUBLIC);
        assert_int_equal(p.egress->n_allow, 0);
        call_params_done(&p);
        assert_null(parse(params_set_egress, &config_v4,
                          "{\"slot\":0,\"egress\":\"host\",\"allow\":[{\"destination\":\"fd00::/8\"},"
                          "{\"destination\":\"10.0.0.0/8\",\"protocol\":\"udp\"}]}",
                          &p));
        assert_int_equal(p.egress->mode, EGRESS_HOST);
        assert_int_equal(p.egress->n_allow, 2);
        assert_int_equal(p.egress->allow[0].family, AF_INET); /* sorted */
        call_params_done(&p);
}

static void test_publish(void **state)
{
        static const struct {
                const char *json, *bad;
        } refused[] = {
            {"{\"port\":{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":80}}", "slot"},
            {"{\"slot\":3,\"port\":{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":80}}", "slot"},
            {"{\"slot\":1}", "port"},
            {"{\"slot\":1,\"port\":null}", "port"},
            {"{\"slot\":1,\"port\":{\"protocol\":\"sctp\",\"hostPort\":80,\"guestPort\":80}}", "port"},
            {"{\"slot\":1,\"port\":[]}", "port"},
            {"{\"slot\":1,\"port\":{\"protocol\":\"tcp\",\"hostPort\":80,\"guestPort\":80},\"x\":1}",
             "x"},
        };
        struct call_params p;

        for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                assert_string_equal(parse(params_publish, &config_v4, refused[i].json, &p), refused[i].bad);
        assert_null(parse(params_publish, &config_v4,
                          "{\"slot\":2,\"port\":{\"protocol\":\"udp\",\"hostPort\":53,\"guestPort\":5353,"
                          "\"hostAddress\":\"192.0.2.1\"}}",
                          &p));
        assert_int_equal(p.slot, 2);
        assert_int_equal(p.port.protocol, IPPROTO_UDP);
        assert_int_equal(p.port.host_port, 53);
        assert_int_equal(p.port.guest_port, 5353);
        assert_int_equal(p.port.family, AF_INET);
        call_params_done(&p);

        /* Acquire's publish: a list, parsed and owned by the call. */
        assert_null(parse(params_acquire, &config_v4,
                          "{\"publish\":[{\"protocol\":\"tcp\",\"hostPort\":20001,\"guestPort\":1},"
                          "{\"protocol\":\"tcp\",\"hostPort\":20000,\"guestPort\":2}]}",
                          &p));
        assert_non_null(p.published);
        assert_ptr_equal(p.acquire.published, p.published);
        assert_int_equal(p.published->n, 2);
        assert_int_equal(p.published->ports[0].host_port, 20000); /* sorted */
        call_params_done(&p);
        assert_null(parse(params_acquire, &config_v4, "{\"publish\":null}", &p));
        assert_null(p.published);
        call_params_done(&p);
        static const char *const bad_publish[] = {
            "{\"publish\":{}}",
            "{\"publish\":[{\"protocol\":\"tcp\",\"hostPort\":1}]}",
            "{\"publish\":[{\"protocol\":\"tcp\",\"hostPort\":1,\"guestPort\":1},"
            "{\"protocol\":\"tcp\",\"hostPort\":1,\"guestPort\":2,\"hostAddress\":\"192.0.2.1\"}]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_publish); i++)
                assert_string_equal(parse(params_acquire, &config_v4, bad_publish[i], &p), "publish");
        /* A bad egress after a good publish frees the ports (ASan sees it). */
        assert_string_equal(parse(params_acquire, &config_v4,
                                  "{\"publish\":[{\"protocol\":\"tcp\",\"hostPort\":1,\"guestPort\":1}],"
                                  "\"egress\":\"all\"}",
                                  &p),
                            "egress");
}

static void test_release(void **state)
{
        struct call_params p;

        assert_null(parse(params_release, &config_v4, "{\"slot\":2}", &p));
        assert_int_equal(p.slot, 2);
        assert_string_equal(parse(params_release, &config_v4, "{\"slot\":3}", &p), "slot");
        assert_string_equal(parse(params_release, &config_v4, "{\"slot\":-1}", &p), "slot");
        assert_string_equal(parse(params_release, &config_v4, "{\"slot\":9223372036854775808}", &p), "slot");
        assert_string_equal(parse(params_release, &config_v4, "{\"slot\":null}", &p), "slot");
        assert_string_equal(parse(params_release, &config_v4, "{}", &p), "slot");
        assert_string_equal(parse(params_release, &config_v4, "{\"slot\":\"1\"}", &p), "slot");
        assert_string_equal(parse(params_release, &config_v4, "{\"slot\":1,\"force\":true}", &p), "force");
}

static void test_none(void **state)
{
        struct call_params p;

        assert_null(parse(params_none, &config_v6, "{}", &p));
        assert_string_equal(parse(params_none, &config_v6, "{\"counters\":true}", &p), "counters");
}

static void test_list(void **state)
{
        struct call_params p;

        assert_null(parse(params_list, &config_v6, "{}", &p));
        assert_false(p.counters);
        assert_null(parse(params_list, &config_v6, "{\"counters\":true}", &p));
        assert_true(p.counters);
        assert_null(parse(params_list, &config_v6, "{\"counters\":false}", &p));
        assert_false(p.counters);
        assert_null(parse(params_list, &config_v6, "{\"counters\":null}", &p));
        assert_false(p.counters);
        assert_string_equal(parse(params_list, &config_v6, "{\"counters\":1}", &p), "counters");
        assert_string_equal(parse(params_list, &config_v6, "{\"counters\":\"yes\"}", &p), "counters");
        assert_string_equal(parse(params_list, &config_v6, "{\"counters\":true,\"rates\":true}", &p),
                            "rates");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_acquire_defaults),
            cmocka_unit_test(test_acquire_values),
            cmocka_unit_test(test_acquire_refused),
            cmocka_unit_test(test_acquire_clone),
            cmocka_unit_test(test_set_egress),
            cmocka_unit_test(test_publish),
            cmocka_unit_test(test_release),
            cmocka_unit_test(test_none),
            cmocka_unit_test(test_list),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

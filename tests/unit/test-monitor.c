/* SPDX-License-Identifier: MIT */
// clang-format off
// MODULES: monitor manager slot slot-json config config-values policy quota log varlink-parse varlink-conn varlink-reply varlink-service varlink-server egress publish
// clang-format on
/* Monitor streams (src/monitor.c) between a real manager, fed kernel events
 * by hand (adoption, RTM_DELLINK, a Release whose deletion the test plays),
 * and a real varlink server: the snapshot, every event and reason,
 * "changed", who sees what, and the stream forgotten when its connection
 * goes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"
#include "manager.h"
#include "monitor.h"
#include "slot.h"
#include "varlink.h"

struct test_ctx {
        sd_event *event;
        struct varlink_server *server;
        struct varlink_conn *held; /* unused: the monitor holds its own */
        char dir[64];
        struct sockaddr_un addr;

        struct config config;
        struct manager *manager;
        struct monitor *monitor;
};

#include "varlink-client.h"

/* Release's deletion succeeds at once; the test then plays RTM_DELLINK. */
static int fake_delete_link(void *ctx, int ifindex, unsigned slot)
{
        return 0;
}

static const struct manager_ops fake_ops = {.delete_link = fake_delete_link};

static void on_call(struct varlink_conn *conn, const struct varlink_call *call, void *userdata)
{
        struct test_ctx *t = userdata;

        assert_string_equal(call->method, "io.taplinkd.Monitor");
        assert_true(call->more);
        monitor_attach(t->monitor, conn);
}

static void on_disconnect(struct varlink_conn *conn, void *userdata)
{
        struct test_ctx *t = userdata;

        monitor_detach(t->monitor, conn);
}

static int setup(void **state)
{
        struct test_ctx *t = calloc(1, sizeof(*t));
        char *warning = NULL, *error = NULL;

        assert_non_null(t);
        assert_int_equal(config_init(&t->config, &warning), 0);
        free(warning);
        t->config.max_slots = 8;
        assert_int_equal(config_finish(&t->config, &error), 0);
        assert_int_equal(manager_new(&t->config, &fake_ops, t, &t->manager), 0);
        assert_int_equal(monitor_new(t->manager, &t->monitor), 0);
        test_server_start_io(t, "interface io.taplinkd\n", on_call, on_disconnect);
        *state = t;
        return 0;
}

static int teardown(void **state)
{
        struct test_ctx *t = *state;

        test_server_stop(t);
        monitor_free(t->monitor);
        manager_free(t->manager);
        config_done(&t->config);
        free(t);
        return 0;
}

/* A device of ours for slot, owned by owner, as a link dump shows it. */
static void adopt(struct test_ctx *t, unsigned slot, uid_t owner)
{
        struct rtnl_tap_info info = {
            .ifindex = 100 + (int)slot,
            .mtu = 1500,
            .queues = 1,
            .has_owner = true,
            .owner = owner,
        };

        assert_int_equal(slot_ifname(&t->config, slot, info.ifname), 0);
        slot_host_mac(slot, info.mac);
        snprintf(info.alias, sizeof(info.alias), "vm-%u", slot);
        assert_int_equal(manager_adopt(t->manager, &info), 0);
}

static void device_gone(struct test_ctx *t, unsigned slot)
{
        char name[IFNAMSIZ];

        assert_int_equal(slot_ifname(&t->config, slot, name), 0);
        manager_link_gone(t->manager, 100 + (int)slot, name);
}

static void released(int error, const char *op, void *userdata)
{
        assert_int_equal(error, 0);
}

static void monitor_open(struct test_ctx *t, struct client *c, uid_t uid)
{
        if (uid == 0)
                client_open(t, c);
        else
                client_open_as(t, c, uid);
        client_call(c, "{\"method\":\"io.taplinkd.Monitor\",\"more\":true}");
}

/* The next event: "<event> <slot> <owner> <reason>", "synced", with the
 * Slot's label checked against the slot. */
static char *next_event(struct test_ctx *t, struct client *c)
{
        char *msg = client_recv(t, c), *out = NULL;
        struct json_object *o = json_tokener_parse(msg), *p, *v, *slot;

        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "continues", &v) && json_object_get_boolean(v));
        assert_true(json_object_object_get_ex(o, "parameters", &p));
        assert_true(json_object_object_get_ex(p, "event", &v));
        if (!json_object_object_get_ex(p, "slot", &slot)) {
                assert_int_equal(json_object_object_length(p), 1);
                out = strdup(json_object_get_string(v));
        } else {
                struct json_object *n, *owner, *label, *reason;
                char want[32];

                assert_true(json_object_object_get_ex(slot, "slot", &n));
                assert_true(json_object_object_get_ex(slot, "ownerUid", &owner));
                assert_true(json_object_object_get_ex(slot, "label", &label));
                snprintf(want, sizeof(want), "vm-%d", json_object_get_int(n));
                assert_string_equal(json_object_get_string(label), want);
                assert_true(asprintf(&out, "%s %d %d %s", json_object_get_string(v), json_object_get_int(n),
                                     json_object_get_int(owner),
                                     json_object_object_get_ex(p, "reason", &reason)
                                         ? json_object_get_string(reason)
                                         : "-") > 0);
        }
        json_object_put(o);
        free(msg);
        return out;
}

static void expect_event(struct test_ctx *t, struct client *c, const char *expected)
{
        char *e = next_event(t, c);

        assert_string_equal(e, expected);
        free(e);
}

/* Nothing more is queued for c. */
static void expect_quiet(struct test_ctx *t, struct client *c)
{
        for (int i = 0; i < 5; i++)
                assert_true(sd_event_run(t->event, 1000) >= 0);
        assert_int_equal(recv(c->fd, (char[1]){0}, 1, MSG_DONTWAIT | MSG_PEEK), -1);
        assert_int_equal(errno, EAGAIN);
}

static void test_events(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        adopt(t, 5, 1000);
        adopt(t, 2, 1000);
        manager_started(t->manager);
        monitor_open(t, &c, 0);
        expect_event(t, &c, "existing 2 1000 -");
        expect_event(t, &c, "existing 5 1000 -");
        expect_event(t, &c, "synced");
        RUN_UNTIL(t, monitor_n_streams(t->monitor) == 1);

        adopt(t, 7, 1000);
        expect_event(t, &c, "acquired 7 1000 -");
        manager_slot_changed(t->manager, manager_slot(t->manager, 7));
        expect_event(t, &c, "changed 7 1000 -");
        assert_int_equal(manager_release(t->manager, manager_slot(t->manager, 7), released, NULL), 0);
        device_gone(t, 7);
        expect_event(t, &c, "released 7 1000 release");
        device_gone(t, 2);
        expect_event(t, &c, "released 2 1000 vmm-exited");
        expect_quiet(t, &c);

        /* The stream goes with its connection. */
        client_close(&c);
        RUN_UNTIL(t, monitor_n_streams(t->monitor) == 0);
        device_gone(t, 5);
}

/* A slot releasing when the stream starts is listed, and its end follows. */
static void test_releasing_is_existing(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        adopt(t, 1, 1000);
        manager_started(t->manager);
        assert_int_equal(manager_release(t->manager, manager_slot(t->manager, 1), released, NULL), 0);
        monitor_open(t, &c, 0);
        expect_event(t, &c, "existing 1 1000 -");
        expect_event(t, &c, "synced");
        device_gone(t, 1);
        expect_event(t, &c, "released 1 1000 release");
        client_close(&c);
}

/* The daemon serves only once started, so no real stream sees this; the
 * reason is mapped all the same. */
static void test_gone_at_start(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        monitor_open(t, &c, 0);
        expect_event(t, &c, "synced");
        adopt(t, 1, 1000);
        device_gone(t, 1);
        expect_event(t, &c, "acquired 1 1000 -");
        expect_event(t, &c, "released 1 1000 gone-at-start");
        client_close(&c);
}

static void test_visibility(void **state)
{
        struct test_ctx *t = *state;
        struct client mine, root;

        if (geteuid() != 0)
                fail_msg("needs root (connects as uid 1000); run the suite as root");
        adopt(t, 3, 0);
        adopt(t, 4, 1000);
        manager_started(t->manager);
        monitor_open(t, &mine, 1000);
        monitor_open(t, &root, 0);
        expect_event(t, &mine, "existing 4 1000 -");
        expect_event(t, &mine, "synced");
        expect_event(t, &root, "existing 3 0 -");
        expect_event(t, &root, "existing 4 1000 -");
        expect_event(t, &root, "synced");

        adopt(t, 6, 0);
        device_gone(t, 3);
        device_gone(t, 4);
        expect_event(t, &root, "acquired 6 0 -");
        expect_event(t, &root, "released 3 0 vmm-exited");
        expect_event(t, &root, "released 4 1000 vmm-exited");
        expect_event(t, &mine, "released 4 1000 vmm-exited");
        expect_quiet(t, &mine);
        client_close(&mine);
        client_close(&root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_events, setup, teardown),
            cmocka_unit_test_setup_teardown(test_releasing_is_existing, setup, teardown),
            cmocka_unit_test_setup_teardown(test_gone_at_start, setup, teardown),
            cmocka_unit_test_setup_teardown(test_visibility, setup, teardown),
        };

        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}

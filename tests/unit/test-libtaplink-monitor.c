/* SPDX-License-Identifier: MIT */
// MODULES: lib/client lib/wire lib/slot lib/methods lib/monitor lib/policy lib/clone

/* libtaplink's Monitor stream (tl_monitor_start, tl_monitor_next, tl_event)
 * over a socketpair whose other end the test writes by hand: several
 * replies in one read, a timeout, a final reply, an error, a hang-up,
 * malformed events, and other calls refused while the stream runs. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/taplink-private.h"

#define SLOT7                                                                                           \
        "{\"slot\":7,\"ifname\":\"tl7\",\"label\":\"vm-7\",\"ownerUid\":1000,\"mac\":\"02:74:6c:00:00:" \
        "07\","                                                                                         \
        "\"mtu\":1500,\"queues\":1,\"vnetHeader\":true,\"persistent\":false,"                           \
        "\"ipv4\":{\"subnet\":\"10.213.0.28\",\"gateway\":\"10.213.0.29\",\"guest\":\"10.213.0.30\","   \
        "\"prefixLength\":30},\"ipv6\":null,"                                                           \
        "\"kernelIpArg\":\"ip=10.213.0.30::10.213.0.29:255.255.255.252::eth0:off\"}"

struct t {
        tl_client *c;
        int peer; /* the daemon's end */
};

static int setup(void **state)
{
        struct t *t = calloc(1, sizeof(*t));
        int sv[2];

        assert_non_null(t);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(tlp_client_new_from_fd(sv[0], "test", &t->c), 0);
        t->peer = sv[1];
        *state = t;
        return 0;
}

static int teardown(void **state)
{
        struct t *t = *state;

        tl_client_free(t->c);
        safe_close(t->peer);
        free(t);
        return 0;
}

/* Writes replies, each followed by its NUL, in one send. */
static void daemon_sends(struct t *t, const char *const *replies, size_t n)
{
        char buf[8192];
        size_t len = 0;

        for (size_t i = 0; i < n; i++) {
                size_t k = strlen(replies[i]) + 1;
                assert_true(len + k <= sizeof(buf));
                memcpy(buf + len, replies[i], k);
                len += k;
        }
        assert_int_equal(send(t->peer, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void daemon_reads(struct t *t, const char *expected)
{
        char buf[1024] = {};

        assert_int_equal(recv(t->peer, buf, sizeof(buf), MSG_DONTWAIT), (ssize_t)strlen(expected) + 1);
        assert_string_equal(buf, expected);
}

static void start(struct t *t)
{
        assert_int_equal(tl_monitor_start(t->c), 0);
        daemon_reads(t, "{\"method\":\"io.taplinkd.Monitor\",\"parameters\":{},\"more\":true}");
}

static tl_event *next(struct t *t, const char *name)
{
        tl_event *e = NULL;

        assert_int_equal(tl_monitor_next(t->c, 5000, &e), 1);
        assert_non_null(e);
        assert_string_equal(tl_event_name(e), name);
        return e;
}

static void test_events(void **state)
{
        static const char *const replies[] = {
            "{\"parameters\":{\"event\":\"existing\",\"slot\":" SLOT7 "},\"continues\":true}",
            "{\"parameters\":{\"event\":\"synced\"},\"continues\":true}",
            "{\"parameters\":{\"event\":\"released\",\"slot\":" SLOT7 ",\"reason\":\"vmm-exited\"},"
            "\"continues\":true}",
        };
        struct t *t = *state;
        tl_event *e;
        tl_status st;

        start(t);
        daemon_sends(t, replies, ELEMENTSOF(replies));

        e = next(t, "existing");
        assert_int_equal(tl_slot_number(tl_event_slot(e)), 7);
        assert_string_equal(tl_slot_label(tl_event_slot(e)), "vm-7");
        assert_false(tl_slot_has_net(tl_event_slot(e), TL_IPV6));
        assert_int_equal(tl_slot_n_fds(tl_event_slot(e)), 0);
        assert_null(tl_event_reason(e));
        tl_event_free(e);

        e = next(t, "synced");
        assert_null(tl_event_slot(e));
        assert_string_equal(tl_event_json(e), "{\"event\":\"synced\"}");
        tl_event_free(e);

        /* The connection is the stream's. */
        assert_int_equal(tl_status_get(t->c, &st), -EBUSY);
        assert_non_null(tl_client_error_message(t->c));

        e = next(t, "released");
        assert_string_equal(tl_event_reason(e), "vmm-exited");
        assert_int_equal(tl_slot_number(tl_event_slot(e)), 7);
        tl_event_free(e);

        /* Nothing more yet: the stream goes on after a timeout. */
        assert_int_equal(tl_monitor_next(t->c, 20, &e), -ETIMEDOUT);
        assert_non_null(tl_client_error_message(t->c));
        daemon_sends(t,
                     (const char *const[]){"{\"parameters\":{\"event\":\"changed\",\"slot\":" SLOT7
                                           "},\"continues\":true}"},
                     1);
        e = next(t, "changed");
        tl_event_free(e);

        /* A hang-up ends it. */
        t->peer = safe_close(t->peer);
        assert_int_equal(tl_monitor_next(t->c, -1, &e), -ECONNRESET);
        assert_string_equal(tl_client_error_message(t->c), "taplinkd closed the connection");
        assert_int_equal(tl_monitor_next(t->c, -1, &e), -ENOTCONN);
}

/* A final reply ends the stream; the connection serves calls again. */
static void test_final_reply(void **state)
{
        struct t *t = *state;
        tl_event *e = (tl_event *)1;
        tl_status st;

        start(t);
        daemon_sends(t,
                     (const char *const[]){"{\"parameters\":{\"event\":\"synced\"},\"continues\":true}",
                                           "{\"parameters\":{}}"},
                     2);
        e = next(t, "synced");
        tl_event_free(e);
        assert_int_equal(tl_monitor_next(t->c, -1, &e), 0);
        assert_null(e);
        assert_int_equal(tl_monitor_next(t->c, -1, &e), -EINVAL);

        daemon_sends(
            t,
            (const char *const[]){"{\"parameters\":{\"version\":\"0.2\",\"slotsInUse\":1,\"maxSlots\":4}}"},
            1);
        assert_int_equal(tl_status_get(t->c, &st), 0);
        assert_string_equal(st.version, "0.2");
}

static void test_error_reply(void **state)
{
        struct t *t = *state;
        tl_event *e = NULL;

        start(t);
        daemon_sends(
            t, (const char *const[]){"{\"error\":\"io.taplinkd.PermissionDenied\",\"parameters\":{}}"}, 1);
        assert_int_equal(tl_monitor_next(t->c, -1, &e), -EPERM);
        assert_null(e);
        assert_string_equal(tl_client_error_name(t->c), "io.taplinkd.PermissionDenied");
        /* Over: the connection may call again. */
        assert_int_equal(tl_monitor_start(t->c), 0);
}

static void test_malformed(void **state)
{
        static const char *const bad[] = {
            "{\"parameters\":{\"slot\":" SLOT7 "},\"continues\":true}",
            "{\"parameters\":{\"event\":\"acq\\u001b[2J\"},\"continues\":true}",
            "{\"parameters\":{\"event\":\"acquired\",\"slot\":{\"slot\":7}},\"continues\":true}",
            "{\"parameters\":{\"event\":\"released\",\"reason\":5},\"continues\":true}",
            "{\"error\":\"io.taplinkd.NoSuchSlot\",\"parameters\":{},\"continues\":true}",
            "{\"parameters\":{\"event\":\"synced\"},\"continues\":1}",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct t *t;
                tl_event *e = NULL;

                setup((void **)&t);
                start(t);
                daemon_sends(t, &bad[i], 1);
                assert_int_equal(tl_monitor_next(t->c, -1, &e), -EBADMSG);
                assert_null(e);
                assert_non_null(tl_client_error_message(t->c));
                teardown((void **)&t);
        }
}

static void test_no_stream(void **state)
{
        struct t *t = *state;
        tl_event *e = NULL;

        assert_int_equal(tl_monitor_next(t->c, 0, &e), -EINVAL);
        assert_int_equal(tl_monitor_next(NULL, 0, &e), -EINVAL);
        assert_int_equal(tl_monitor_start(NULL), -EINVAL);
        assert_null(tl_event_name(NULL));
        assert_null(tl_event_slot(NULL));
        assert_null(tl_event_reason(NULL));
        assert_null(tl_event_json(NULL));
        tl_event_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_events, setup, teardown),
            cmocka_unit_test_setup_teardown(test_final_reply, setup, teardown),
            cmocka_unit_test_setup_teardown(test_error_reply, setup, teardown),
            cmocka_unit_test(test_malformed),
            cmocka_unit_test_setup_teardown(test_no_stream, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
// MODULES: varlink-parse varlink-conn varlink-reply varlink-service varlink-server quota
/* Streaming calls ("more"): replies with "continues", the final reply, the
 * call held while the stream lasts, the close ending it, and a peer that
 * does not keep up (see varlink_conn_reply_continues() in src/varlink.h). */
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

#include "macro.h"
#include "time-util.h"
#include "varlink.h"

struct test_ctx {
        sd_event *event;
        struct varlink_server *server;
        char dir[64];
        struct sockaddr_un addr;

        struct varlink_conn *held; /* the streaming call */
        unsigned snapshot;         /* replies Watch sends from its handler */
        size_t snapshot_size;      /* the size of each */
        int snapshot_r;            /* the last one's result */
        int not_more_r;            /* reply_continues on a call without more */
        unsigned n_disconnects;
};

#include "varlink-client.h"

static struct json_object *numbered(unsigned n, size_t pad)
{
        struct json_object *p = json_object_new_object();
        char *s = malloc(pad + 1);

        assert_non_null(p);
        assert_non_null(s);
        memset(s, 'x', pad);
        s[pad] = 0;
        json_object_object_add(p, "n", json_object_new_int((int)n));
        if (pad > 0)
                json_object_object_add(p, "pad", json_object_new_string(s));
        free(s);
        return p;
}

static void on_call(struct varlink_conn *conn, const struct varlink_call *call, void *userdata)
{
        struct test_ctx *t = userdata;

        if (strcmp(call->method, "io.taplinkd.Watch") == 0) {
                if (!call->more) {
                        t->not_more_r = varlink_conn_reply_continues(conn, NULL);
                        varlink_conn_error(conn, "org.varlink.service.ExpectedMore", NULL);
                        return;
                }
                for (unsigned i = 0; i < t->snapshot; i++)
                        t->snapshot_r = varlink_conn_reply_continues(conn, numbered(i, t->snapshot_size));
                assert_null(t->held);
                t->held = varlink_conn_ref(conn);
        } else if (strcmp(call->method, "io.taplinkd.Once") == 0)
                varlink_conn_reply(conn, numbered(1, 0), NULL, 0);
        else
                varlink_conn_error_method_not_found(conn, call->method);
}

static void on_disconnect(struct varlink_conn *conn, void *userdata)
{
        struct test_ctx *t = userdata;

        t->n_disconnects++;
}

static int setup(void **state)
{
        struct test_ctx *t = calloc(1, sizeof(*t));

        assert_non_null(t);
        test_server_start_io(t, "interface io.taplinkd\n\nmethod Once() -> (n: int)\n", on_call, on_disconnect);
        *state = t;
        return 0;
}

static int teardown(void **state)
{
        struct test_ctx *t = *state;

        test_server_stop(t);
        free(t);
        return 0;
}

/* Sends one more reply of the held stream, from outside its handler. */
static int stream_send(struct test_ctx *t, unsigned n, size_t pad)
{
        return varlink_conn_reply_continues(t->held, numbered(n, pad));
}

static void test_stream(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        t->snapshot = 2;
        client_open(t, &c);
        /* Pipelined behind the stream: answered only once it ends. */
        client_call(&c, "{\"method\":\"io.taplinkd.Watch\",\"more\":true}");
        client_call(&c, "{\"method\":\"io.taplinkd.Once\"}");
        expect_reply(t, &c, "{\"parameters\":{\"n\":0},\"continues\":true}");
        expect_reply(t, &c, "{\"parameters\":{\"n\":1},\"continues\":true}");
        assert_int_equal(t->snapshot_r, 0);

        assert_int_equal(stream_send(t, 2, 0), 0);
        expect_reply(t, &c, "{\"parameters\":{\"n\":2},\"continues\":true}");
        /* Nothing else came: Once waits for the stream. */
        for (int i = 0; i < 10; i++)
                assert_true(sd_event_run(t->event, 1000) >= 0);
        assert_int_equal(recv(c.fd, (char[1]){0}, 1, MSG_DONTWAIT | MSG_PEEK), -1);
        assert_int_equal(errno, EAGAIN);

        /* The final reply ends it, without "continues". */
        assert_int_equal(varlink_conn_reply(t->held, numbered(3, 0), NULL, 0), 0);
        expect_reply(t, &c, "{\"parameters\":{\"n\":3}}");
        expect_reply(t, &c, "{\"parameters\":{\"n\":1}}");
        /* Over: nothing more may be sent on it. */
        assert_int_equal(stream_send(t, 4, 0), -EINVAL);
        t->held = varlink_conn_unref(t->held);
        client_close(&c);
}

static void test_stream_error_ends(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        t->snapshot = 1;
        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Watch\",\"more\":true}");
        expect_reply(t, &c, "{\"parameters\":{\"n\":0},\"continues\":true}");
        assert_int_equal(varlink_conn_error(t->held, "io.taplinkd.Gone", NULL), 0);
        expect_reply(t, &c, "{\"error\":\"io.taplinkd.Gone\",\"parameters\":{}}");
        client_call(&c, "{\"method\":\"io.taplinkd.Once\"}");
        expect_reply(t, &c, "{\"parameters\":{\"n\":1}}");
        t->held = varlink_conn_unref(t->held);
        client_close(&c);
}

static void test_without_more(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Watch\"}");
        expect_reply(t, &c, "{\"error\":\"org.varlink.service.ExpectedMore\",\"parameters\":{}}");
        assert_int_equal(t->not_more_r, -EINVAL);
        assert_null(t->held);
        client_close(&c);
}

static void test_close_ends_stream(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Watch\",\"more\":true}");
        RUN_UNTIL(t, t->held);
        assert_int_equal(stream_send(t, 0, 0), 0);
        expect_reply(t, &c, "{\"parameters\":{\"n\":0},\"continues\":true}");
        /* The call is pending, so the connection does not read; the hang-up
         * is seen all the same. */
        client_close(&c);
        RUN_UNTIL(t, t->n_disconnects == 1);
        assert_false(varlink_conn_is_open(t->held));
        assert_int_equal(stream_send(t, 1, 0), -ENOTCONN);
        assert_int_equal(varlink_server_n_connections(t->server), 0);
        t->held = varlink_conn_unref(t->held);
}

/* A peer that stops reading a stream is dropped once its queued output
 * passes the high-water mark; another client is served meanwhile. */
static void test_stream_slow_reader(void **state)
{
        struct test_ctx *t = *state;
        struct client slow, good;
        unsigned sent = 0;
        int r = 0;

        varlink_server_set_limits(t->server, &(struct varlink_limits){.output_high_water = 64 * 1024});
        client_open(t, &slow);
        client_open(t, &good);
        client_call(&slow, "{\"method\":\"io.taplinkd.Watch\",\"more\":true}");
        RUN_UNTIL(t, t->held);
        /* The kernel's socket buffer takes some first, then the queue
         * grows; far fewer than 10,000 replies of 1 KiB fit both. */
        while (sent < 10000 && (r = stream_send(t, sent, 1024)) == 0) {
                sent++;
                if (sent % 16 == 0)
                        assert_true(sd_event_run(t->event, 0) >= 0);
        }
        assert_int_equal(r, -ENOBUFS);
        assert_true(sent > 64);
        RUN_UNTIL(t, t->n_disconnects == 1);
        assert_false(varlink_conn_is_open(t->held));
        client_call(&good, "{\"method\":\"io.taplinkd.Once\"}");
        expect_reply(t, &good, "{\"parameters\":{\"n\":1}}");
        /* What was queued before the drop went with the connection. */
        assert_true(client_wait_closed(t, &slow));
        t->held = varlink_conn_unref(t->held);
        client_close(&slow);
        client_close(&good);
}

/* What the handler sends while it handles the call (a snapshot) may pass
 * the high-water mark; only output_max bounds it. */
static void test_snapshot_above_high_water(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        varlink_server_set_limits(t->server, &(struct varlink_limits){.output_high_water = 16 * 1024});
        t->snapshot = 200;
        t->snapshot_size = 1024;
        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Watch\",\"more\":true}");
        RUN_UNTIL(t, t->held);
        assert_int_equal(t->snapshot_r, 0);
        for (unsigned i = 0; i < t->snapshot; i++) {
                char *msg = client_recv(t, &c);
                struct json_object *o = json_tokener_parse(msg), *p, *n;

                assert_non_null(o);
                assert_true(json_object_object_get_ex(o, "parameters", &p));
                assert_true(json_object_object_get_ex(p, "n", &n));
                assert_int_equal(json_object_get_int(n), (int)i);
                json_object_put(o);
                free(msg);
        }
        /* Caught up: the stream goes on. */
        assert_int_equal(stream_send(t, 200, 0), 0);
        expect_reply(t, &c, "{\"parameters\":{\"n\":200},\"continues\":true}");
        assert_int_equal(t->n_disconnects, 0);
        client_close(&c);
        RUN_UNTIL(t, t->n_disconnects == 1);
        t->held = varlink_conn_unref(t->held);
}

/* The snapshot too is bounded: by output_max. */
static void test_snapshot_output_max(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        varlink_server_set_limits(t->server, &(struct varlink_limits){.output_max = 64 * 1024});
        t->snapshot = 200;
        t->snapshot_size = 1024;
        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Watch\",\"more\":true}");
        RUN_UNTIL(t, t->n_disconnects == 1);
        assert_int_equal(t->snapshot_r, -EINVAL); /* dropped: the call was over */
        assert_true(client_wait_closed(t, &c));
        t->held = varlink_conn_unref(t->held);
        client_close(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stream_error_ends, setup, teardown),
            cmocka_unit_test_setup_teardown(test_without_more, setup, teardown),
            cmocka_unit_test_setup_teardown(test_close_ends_stream, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stream_slow_reader, setup, teardown),
            cmocka_unit_test_setup_teardown(test_snapshot_above_high_water, setup, teardown),
            cmocka_unit_test_setup_teardown(test_snapshot_output_max, setup, teardown),
        };

        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}

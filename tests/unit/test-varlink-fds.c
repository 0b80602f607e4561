/* SPDX-License-Identifier: MIT */
// MODULES: varlink-parse varlink-conn varlink-reply varlink-service varlink-server quota
/* The close_fds handler (varlink_server_set_close_fds_handler()): fds of a
 * reply that never reached the peer go to it — a reply to a connection
 * that went, one queued behind output the peer never read, one that could
 * not be queued — and fds that did reach the peer never do. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
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

        struct varlink_conn *held; /* Hold's call */
        unsigned n_calls;
        unsigned n_handed; /* calls of the handler */
        size_t fds_handed; /* fds it was given, in all */
};

#include "varlink-client.h"

/* Two fds: the read ends of a pipe each, whose write ends tell whether
 * they are still open. */
static void reply_fds(struct varlink_conn *conn, int write_ends[2])
{
        int fds[2];

        for (int i = 0; i < 2; i++) {
                int p[2];
                assert_int_equal(pipe2(p, O_CLOEXEC), 0);
                fds[i] = p[0];
                write_ends[i] = p[1];
        }
        varlink_conn_reply(conn, json_object_new_object(), fds, 2);
}

static int write_ends[2] = {-1, -1};

static void on_call(struct varlink_conn *conn, const struct varlink_call *call, void *userdata)
{
        struct test_ctx *t = userdata;

        t->n_calls++;
        if (strcmp(call->method, "io.taplinkd.Hold") == 0)
                t->held = varlink_conn_ref(conn);
        else if (strcmp(call->method, "io.taplinkd.Fds") == 0)
                reply_fds(conn, write_ends);
        else if (strcmp(call->method, "io.taplinkd.Big") == 0) {
                /* More than the socket buffer takes, unread by the peer. */
                size_t size = 1u << 20;
                char *s = malloc(size + 1);
                struct json_object *p = json_object_new_object();

                assert_non_null(s);
                memset(s, 'x', size);
                s[size] = 0;
                json_object_object_add(p, "pad", json_object_new_string(s));
                free(s);
                varlink_conn_reply(conn, p, NULL, 0);
        } else
                varlink_conn_error_method_not_found(conn, call->method);
}

static void on_close_fds(int *fds, size_t n, void *userdata)
{
        struct test_ctx *t = userdata;

        t->n_handed++;
        t->fds_handed += n;
        close_many(fds, n);
}

static int setup(void **state)
{
        struct test_ctx *t = calloc(1, sizeof(*t));

        assert_non_null(t);
        test_server_start_io(t, "interface io.taplinkd\n\nmethod Fds() -> ()\n", on_call, NULL);
        varlink_server_set_close_fds_handler(t->server, on_close_fds, t);
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

/* Whether both write ends see their read ends closed; closes them. */
static bool read_ends_closed(void)
{
        bool closed = true;

        for (int i = 0; i < 2; i++) {
                closed &= write(write_ends[i], "x", 1) < 0 && errno == EPIPE;
                write_ends[i] = safe_close(write_ends[i]);
        }
        return closed;
}

/* Delivered: the peer has them, ours are closed directly. */
static void test_delivered(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Fds\"}");
        free(client_recv(t, &c));
        assert_int_equal(c.n_fds, 2);
        assert_int_equal(t->n_handed, 0);
        client_close(&c);
        assert_true(read_ends_closed());
}

/* The peer went before the reply was made. */
static void test_reply_after_close(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Hold\"}");
        RUN_UNTIL(t, t->n_calls == 1);
        client_close(&c);
        RUN_UNTIL(t, !varlink_conn_is_open(t->held));
        reply_fds(t->held, write_ends);
        assert_int_equal(t->n_handed, 1);
        assert_int_equal(t->fds_handed, 2);
        assert_true(read_ends_closed());
}

/* Queued behind output the peer never read, then the peer went. */
static void test_unsent_when_closed(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        /* Calls keep being read with Big's tail unsent. */
        varlink_server_set_limits(
            t->server, &(struct varlink_limits){.output_high_water = 4u << 20, .output_max = 8u << 20});
        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Big\"}");
        client_call(&c, "{\"method\":\"io.taplinkd.Fds\"}");
        RUN_UNTIL(t, t->n_calls == 2);
        assert_int_equal(t->n_handed, 0);
        client_close(&c);
        RUN_UNTIL(t, varlink_server_n_connections(t->server) == 0);
        assert_int_equal(t->n_handed, 1);
        assert_int_equal(t->fds_handed, 2);
        assert_true(read_ends_closed());
}

/* A oneway call's fds never leave. */
static void test_oneway(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Fds\",\"oneway\":true}");
        RUN_UNTIL(t, t->n_calls == 1);
        assert_int_equal(t->n_handed, 1);
        assert_true(read_ends_closed());
        client_close(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_delivered, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reply_after_close, setup, teardown),
            cmocka_unit_test_setup_teardown(test_unsent_when_closed, setup, teardown),
            cmocka_unit_test_setup_teardown(test_oneway, setup, teardown),
        };
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
#pragma once

/* The server that test-varlink.c and test-varlink-conn.c talk to: its
 * context, its method handler (io.taplinkd.Echo, Later, Fds, Big, Peer,
 * Hold, Twice) and the fixture that starts and stops it. Include after
 * <cmocka.h>. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "time-util.h"
#include "varlink.h"

#define IDL_TEXT "interface io.taplinkd\n\nmethod Status() -> (version: string)\n"

/* The suite runs as root (CI does); a test that needs root fails without
 * it rather than passing having checked nothing. */
#define REQUIRE_ROOT(why)                                                        \
        do {                                                                     \
                if (geteuid() != 0)                                              \
                        fail_msg("needs root (%s); run the suite as root", why); \
        } while (0)

struct test_ctx {
        sd_event *event;
        struct varlink_server *server;
        char dir[64];
        struct sockaddr_un addr;

        unsigned n_calls;
        unsigned n_disconnects;
        char last_method[128];
        char last_parameters[256];
        bool last_more, last_oneway;
        int last_reply_r;

        struct varlink_conn *held;
        unsigned later_calls_seen;
        int pipe_w[3];
        size_t big_size;

        unsigned n_send_fds;   /* calls of the send-fds handler */
        unsigned n_unsent_fds; /* ... with sending = false */
        size_t send_fds_n;     /* how many fds it saw last */
        int send_fds_result;   /* what it answers */

        bool peer_seen;
        struct varlink_peer peer;
        gid_t peer_groups[128];
};

#include "varlink-client.h"

/* ---- the method handler the tests talk to ---- */

static inline int later_reply(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct test_ctx *t = userdata;
        struct json_object *p = json_object_new_object();

        /* The third pipelined call must still wait for this answer. */
        t->later_calls_seen = t->n_calls;
        json_object_object_add(p, "later", json_object_new_boolean(true));
        t->last_reply_r = varlink_conn_reply(t->held, p, NULL, 0);
        t->held = varlink_conn_unref(t->held);
        return 0;
}

static inline void reply_with_pipes(struct test_ctx *t, struct varlink_conn *conn)
{
        struct json_object *p = json_object_new_object();
        struct json_object *indexes = json_object_new_array();
        int fds[3];

        for (int i = 0; i < 3; i++) {
                int pipefd[2];
                char c = (char)('0' + i);

                assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
                assert_int_equal(write(pipefd[1], &c, 1), 1);
                fds[i] = pipefd[0];
                t->pipe_w[i] = pipefd[1];
                json_object_array_add(indexes, json_object_new_int(i));
        }
        json_object_object_add(p, "fileDescriptors", indexes);
        t->last_reply_r = varlink_conn_reply(conn, p, fds, 3);
}

static inline void on_call(struct varlink_conn *conn, const struct varlink_call *call, void *userdata)
{
        struct test_ctx *t = userdata;
        const char *m = call->method;

        t->n_calls++;
        snprintf(t->last_method, sizeof(t->last_method), "%s", m);
        snprintf(t->last_parameters, sizeof(t->last_parameters), "%s",
                 json_object_to_json_string_ext(call->parameters, JSON_C_TO_STRING_PLAIN));
        t->last_more = call->more;
        t->last_oneway = call->oneway;

        if (strcmp(m, "io.taplinkd.Echo") == 0)
                t->last_reply_r = varlink_conn_reply(conn, json_object_get(call->parameters), NULL, 0);
        else if (strcmp(m, "io.taplinkd.Later") == 0) {
                t->held = varlink_conn_ref(conn);
                assert_int_equal(
                    sd_event_add_time_relative(t->event, NULL, CLOCK_MONOTONIC, 50000, 1, later_reply, t),
                    0);
        } else if (strcmp(m, "io.taplinkd.Fds") == 0)
                reply_with_pipes(t, conn);
        else if (strcmp(m, "io.taplinkd.Big") == 0) {
                char *s = malloc(t->big_size + 1);
                struct json_object *p = json_object_new_object();

                memset(s, 'x', t->big_size);
                s[t->big_size] = 0;
                json_object_object_add(p, "data", json_object_new_string(s));
                free(s);
                t->last_reply_r = varlink_conn_reply(conn, p, NULL, 0);
        } else if (strcmp(m, "io.taplinkd.Peer") == 0) {
                const struct varlink_peer *peer = varlink_conn_peer(conn);

                t->peer = *peer;
                assert_true(peer->n_groups <= ELEMENTSOF(t->peer_groups));
                memcpy(t->peer_groups, peer->groups, peer->n_groups * sizeof(gid_t));
                t->peer.groups = t->peer_groups;
                t->peer_seen = true;
                t->last_reply_r = varlink_conn_reply(conn, NULL, NULL, 0);
        } else if (strcmp(m, "io.taplinkd.Hold") == 0)
                t->held = varlink_conn_ref(conn);
        else if (strcmp(m, "io.taplinkd.Twice") == 0) {
                /* Not an object: refused, and the call stays pending. */
                assert_int_equal(varlink_conn_reply(conn, json_object_new_array(), NULL, 0), -EINVAL);
                assert_int_equal(varlink_conn_reply(conn, NULL, NULL, 0), 0);
                assert_int_equal(varlink_conn_reply(conn, NULL, NULL, 0), -EINVAL);
                assert_int_equal(varlink_conn_error(conn, "io.taplinkd.NoSuchSlot", NULL), -EINVAL);
                t->last_reply_r = 0;
        } else
                t->last_reply_r = varlink_conn_error_method_not_found(conn, m);
}

static inline void on_disconnect(struct varlink_conn *conn, void *userdata)
{
        struct test_ctx *t = userdata;

        assert_false(varlink_conn_is_open(conn));
        t->n_disconnects++;
}

/* ---- fixture ---- */

static inline int setup(void **state)
{
        static const struct varlink_server_info info = {
            .vendor = "Test Vendor",
            .product = "test",
            .version = "1.2/3",
            .url = "https://example.org/x",
            .interface_name = "io.taplinkd",
            .interface_description = IDL_TEXT,
        };
        struct test_ctx *t = calloc(1, sizeof(*t));

        assert_non_null(t);
        for (int i = 0; i < 3; i++)
                t->pipe_w[i] = -1;
        /* The socket is reachable for the peer test's unprivileged child. */
        test_server_start(t, &info, on_call, on_disconnect);
        *state = t;
        return 0;
}

static inline int teardown(void **state)
{
        struct test_ctx *t = *state;

        test_server_stop(t);
        close_many(t->pipe_w, 3);
        free(t);
        return 0;
}

#define GET_INFO_REPLY                                                                            \
        "{\"parameters\":{\"vendor\":\"Test Vendor\",\"product\":\"test\",\"version\":\"1.2/3\"," \
        "\"url\":\"https://example.org/x\",\"interfaces\":[\"org.varlink.service\",\"io.taplinkd\"]}}"

static inline void expect_get_info(struct test_ctx *t, struct client *c)
{
        client_call(c, "{\"method\":\"org.varlink.service.GetInfo\"}");
        expect_reply(t, c, GET_INFO_REPLY);
}

/* A call of io.taplinkd.Echo whose parameter x nests depth arrays. */
static inline char *nested(unsigned depth)
{
        const char *head = "{\"method\":\"io.taplinkd.Echo\",\"parameters\":{\"x\":";
        size_t len = strlen(head) + 2 * depth + 3;
        char *s = malloc(len);
        char *p = s;

        p = stpcpy(p, head);
        for (unsigned i = 0; i < depth; i++)
                *p++ = '[';
        for (unsigned i = 0; i < depth; i++)
                *p++ = ']';
        p = stpcpy(p, "}}");
        return s;
}

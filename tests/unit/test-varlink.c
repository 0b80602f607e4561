/* SPDX-License-Identifier: MIT */
// MODULES: varlink-parse varlink-conn varlink-reply varlink-service varlink-server quota
// WRAP: json_object_new_object json_object_new_array json_object_new_string
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* ---- a json-c allocator that fails on demand ---- */

struct json_object *__real_json_object_new_object(void);
struct json_object *__real_json_object_new_array(void);
struct json_object *__real_json_object_new_string(const char *s);
struct json_object *__wrap_json_object_new_object(void);
struct json_object *__wrap_json_object_new_array(void);
struct json_object *__wrap_json_object_new_string(const char *s);

/* Counts down with every allocation; the one made at 0 fails. -1: none
 * fails. */
static long alloc_countdown = -1;
static unsigned allocs_failed;

static bool alloc_should_fail(void)
{
        if (alloc_countdown < 0 || alloc_countdown-- > 0)
                return false;
        allocs_failed++;
        return true;
}

struct json_object *__wrap_json_object_new_object(void)
{
        return alloc_should_fail() ? NULL : __real_json_object_new_object();
}

struct json_object *__wrap_json_object_new_array(void)
{
        return alloc_should_fail() ? NULL : __real_json_object_new_array();
}

struct json_object *__wrap_json_object_new_string(const char *s)
{
        return alloc_should_fail() ? NULL : __real_json_object_new_string(s);
}

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

static int later_reply(sd_event_source *s, uint64_t usec, void *userdata)
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

static void reply_with_pipes(struct test_ctx *t, struct varlink_conn *conn)
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

static void on_call(struct varlink_conn *conn, const struct varlink_call *call, void *userdata)
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

static void on_disconnect(struct varlink_conn *conn, void *userdata)
{
        struct test_ctx *t = userdata;

        assert_false(varlink_conn_is_open(conn));
        t->n_disconnects++;
}

/* ---- fixture ---- */

static int setup(void **state)
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

static int teardown(void **state)
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

static void expect_get_info(struct test_ctx *t, struct client *c)
{
        client_call(c, "{\"method\":\"org.varlink.service.GetInfo\"}");
        expect_reply(t, c, GET_INFO_REPLY);
}

/* ---- varlink_parse_call ---- */

static char *nested(unsigned depth)
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

// clang-format off
#define OK(m, name, params, more, oneway) {m, 0, name, params, more, oneway}
#define BAD(m) {m, -EBADMSG, NULL, NULL, false, false}
// clang-format on

static void test_parse_call(void **state)
{
        static const struct {
                const char *msg;
                int r;
                const char *method, *parameters;
                bool more, oneway;
        } cases[] = {
            OK("{\"method\":\"a.B\"}", "a.B", "{}", false, false),
            OK("{\"method\":\"a.B\",\"parameters\":null}", "a.B", "{}", false, false),
            OK("{\"method\":\"a.B\",\"parameters\":{}}", "a.B", "{}", false, false),
            OK("{\"method\":\"a.B\",\"parameters\":{\"x\":[1,\"/\"]}}", "a.B", "{\"x\":[1,\"\\/\"]}", false,
               false),
            OK(" \t{\"parameters\":{\"y\":true},\"method\":\"a.B\"}\r\n ", "a.B", "{\"y\":true}", false,
               false),
            OK("{\"method\":\"a.B\",\"more\":true}", "a.B", "{}", true, false),
            OK("{\"method\":\"a.B\",\"oneway\":true,\"more\":false}", "a.B", "{}", false, true),
            OK("{\"method\":\"a.B\",\"upgrade\":true,\"extra\":{}}", "a.B", "{}", false, false),
            /* json-c keeps the last of duplicate keys. */
            OK("{\"method\":\"a.B\",\"method\":\"c.D\"}", "c.D", "{}", false, false),
            OK("{\"method\":\"a.\xc3\xa9\"}", "a.\xc3\xa9", "{}", false, false),
            OK("{\"method\":\"a.B\",\"parameters\":{\"e\":\"\xf0\x9f\x98\x80\xef\xbf\xbf\"}}", "a.B",
               "{\"e\":\"\xf0\x9f\x98\x80\xef\xbf\xbf\"}", false, false),
            OK("{\"method\":\"a.B\",\"parameters\":{\"s\":\"x\\u0000y\"}}", "a.B", "{\"s\":\"x\\u0000y\"}",
               false, false),

            BAD(""),
            BAD("   "),
            BAD("null"),
            BAD("[{\"method\":\"a.B\"}]"),
            BAD("\"a.B\""),
            BAD("42"),
            BAD("{}"),
            BAD("{\"method\":1}"),
            BAD("{\"method\":null}"),
            BAD("{\"method\":\"\"}"),
            BAD("{\"method\":\"a.B\\u0000C\"}"),
            BAD("{\"method\":\"a.B\",\"parameters\":[]}"),
            BAD("{\"method\":\"a.B\",\"parameters\":\"x\"}"),
            BAD("{\"method\":\"a.B\",\"parameters\":1}"),
            BAD("{\"method\":\"a.B\",\"parameters\":false}"),
            BAD("{\"method\":\"a.B\",\"more\":\"yes\"}"),
            BAD("{\"method\":\"a.B\",\"oneway\":1}"),
            BAD("{\"method\":\"a.B\",\"more\":true,\"oneway\":true}"),
            BAD("{\"method\":\"a.B\"}x"),
            BAD("{\"method\":\"a.B\"}{}"),
            BAD("{\"method\":\"a.B\"}/**/"),
            BAD("{\"method\":\"a.B\""),
            BAD("{\"method\":\"a.B\",}"),
            BAD("{\"method\":\"a.B\",\"parameters\":{\"x\":True}}"),
            BAD("{\"method\":\"a.\xff\"}"),
            BAD("{\"method\":\"a.B\",\"parameters\":{\"x\":\"\xc3\"}}"),
            BAD("{\"method\":\"a.\xed\xa0\x80\"}"),
            BAD("{\"method\":\"a.B\",\"parameters\":{\"x\":\"\xc0\x80\"}}"),
            BAD("{\"method\":\"a.B\",\"parameters\":{\"x\":\"\xe0\x80\xaf\"}}"),
            BAD("{\"method\":\"a.B\",\"parameters\":{\"x\":\"\xf4\x90\x80\x80\"}}"),
            BAD("{\"method\":\"a.B\",\"parameters\":{\"x\":\"\xf5\x80\x80\x80\"}}"),
            BAD("{\"method\":\"a.B\",\"parameters\":{\"\xff\":1}}"),
            BAD("{\"method\":\"a.B\"}\xe2\x80"),
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct varlink_call call = {};
                int r = varlink_parse_call(cases[i].msg, strlen(cases[i].msg), &call);

                if (r != cases[i].r)
                        fail_msg("case %zu (%s): got %d, want %d", i, cases[i].msg, r, cases[i].r);
                if (r < 0) {
                        assert_null(call.method);
                        continue;
                }
                assert_string_equal(call.method, cases[i].method);
                assert_string_equal(json_object_to_json_string_ext(call.parameters, JSON_C_TO_STRING_PLAIN),
                                    cases[i].parameters);
                assert_int_equal(call.more, cases[i].more);
                assert_int_equal(call.oneway, cases[i].oneway);
                varlink_call_done(&call);
                assert_null(call.method);
        }
}

static void test_parse_call_framing(void **state)
{
        static const char with_nul[] = "{\"method\":\"a.B\"}\0{}";
        struct varlink_call call = {};
        char *big, *deep;

        /* An embedded NUL would end the message. */
        assert_int_equal(varlink_parse_call(with_nul, sizeof(with_nul) - 1, &call), -EBADMSG);
        assert_int_equal(varlink_parse_call(with_nul, strlen(with_nul) + 1, &call), -EBADMSG);
        assert_int_equal(varlink_parse_call(NULL, 0, &call), -EBADMSG);
        assert_int_equal(varlink_parse_call(NULL, 3, &call), -EINVAL);

        /* Exactly the bound is fine (padded with whitespace), one more is not. */
        big = malloc(VARLINK_MAX_MESSAGE + 1);
        memset(big, ' ', VARLINK_MAX_MESSAGE + 1);
        memcpy(big, "{\"method\":\"a.B\"}", 16);
        assert_int_equal(varlink_parse_call(big, VARLINK_MAX_MESSAGE, &call), 0);
        varlink_call_done(&call);
        assert_int_equal(varlink_parse_call(big, VARLINK_MAX_MESSAGE + 1, &call), -EMSGSIZE);
        free(big);

        /* The object and "parameters" take two levels of the depth bound. */
        deep = nested(VARLINK_MAX_DEPTH - 3);
        assert_int_equal(varlink_parse_call(deep, strlen(deep), &call), 0);
        varlink_call_done(&call);
        free(deep);
        deep = nested(VARLINK_MAX_DEPTH - 1);
        assert_int_equal(varlink_parse_call(deep, strlen(deep), &call), -EBADMSG);
        free(deep);
        deep = nested(100000);
        assert_int_equal(varlink_parse_call(deep, strlen(deep), &call), -EMSGSIZE);
        free(deep);
        deep = nested(10000);
        assert_int_equal(varlink_parse_call(deep, strlen(deep), &call), -EBADMSG);
        free(deep);

        varlink_call_done(NULL);
        varlink_call_done(&call);
}

/* ---- org.varlink.service ---- */

static void test_get_info(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        expect_get_info(t, &c);
        client_call(&c, "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":null}");
        expect_reply(t, &c, GET_INFO_REPLY);
        client_call(&c, "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":{},\"more\":true}");
        expect_reply(t, &c, GET_INFO_REPLY);
        client_call(&c, "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":{\"x\":1}}");
        expect_reply(
            t, &c,
            "{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":{\"parameter\":\"x\"}}");
        assert_int_equal(t->n_calls, 0);
        assert_int_equal(varlink_server_n_connections(t->server), 1);
        client_close(&c);
        RUN_UNTIL(t, t->n_disconnects == 1);
        assert_int_equal(varlink_server_n_connections(t->server), 0);
}

static void test_get_interface_description(void **state)
{
        struct test_ctx *t = *state;
        struct json_object *o, *p, *d;
        struct client c;
        char *msg;

        client_open(t, &c);
        client_call(&c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
                        "\"parameters\":{\"interface\":\"io.taplinkd\"}}");
        msg = client_recv(t, &c);
        o = json_tokener_parse(msg);
        assert_true(json_object_object_get_ex(o, "parameters", &p));
        assert_true(json_object_object_get_ex(p, "description", &d));
        assert_string_equal(json_object_get_string(d), IDL_TEXT);
        json_object_put(o);
        free(msg);

        client_call(&c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
                        "\"parameters\":{\"interface\":\"org.varlink.service\"}}");
        msg = client_recv(t, &c);
        o = json_tokener_parse(msg);
        assert_true(json_object_object_get_ex(o, "parameters", &p));
        assert_true(json_object_object_get_ex(p, "description", &d));
        assert_non_null(strstr(json_object_get_string(d), "\ninterface org.varlink.service\n"));
        assert_non_null(strstr(json_object_get_string(d), "method GetInfo() -> ("));
        assert_non_null(strstr(json_object_get_string(d), "error InvalidParameter (parameter: string)"));
        json_object_put(o);
        free(msg);

        client_call(&c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
                        "\"parameters\":{\"interface\":\"com.example.foo\"}}");
        expect_reply(t, &c,
                     "{\"error\":\"org.varlink.service.InterfaceNotFound\","
                     "\"parameters\":{\"interface\":\"com.example.foo\"}}");
        client_call(&c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\"}");
        expect_reply(t, &c,
                     "{\"error\":\"org.varlink.service.InvalidParameter\","
                     "\"parameters\":{\"parameter\":\"interface\"}}");
        client_call(&c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
                        "\"parameters\":{\"interface\":7}}");
        expect_reply(t, &c,
                     "{\"error\":\"org.varlink.service.InvalidParameter\","
                     "\"parameters\":{\"parameter\":\"interface\"}}");
        client_call(&c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
                        "\"parameters\":{\"interface\":\"io.taplinkd\",\"verbose\":true}}");
        expect_reply(t, &c,
                     "{\"error\":\"org.varlink.service.InvalidParameter\","
                     "\"parameters\":{\"parameter\":\"verbose\"}}");
        client_close(&c);
}

static void test_not_found(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        client_call(&c, "{\"method\":\"org.varlink.service.Nope\"}");
        expect_reply(t, &c,
                     "{\"error\":\"org.varlink.service.MethodNotFound\","
                     "\"parameters\":{\"method\":\"org.varlink.service.Nope\"}}");
        client_call(&c, "{\"method\":\"com.example.Foo\",\"parameters\":{\"a\":1}}");
        expect_reply(t, &c,
                     "{\"error\":\"org.varlink.service.InterfaceNotFound\","
                     "\"parameters\":{\"interface\":\"com.example\"}}");
        client_call(&c, "{\"method\":\"io.taplinkd.sub.Foo\"}");
        expect_reply(t, &c,
                     "{\"error\":\"org.varlink.service.InterfaceNotFound\","
                     "\"parameters\":{\"interface\":\"io.taplinkd.sub\"}}");
        client_call(&c, "{\"method\":\"NoDot\"}");
        expect_reply(
            t, &c,
            "{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":{\"method\":\"NoDot\"}}");
        client_call(&c, "{\"method\":\"io.taplinkd.\"}");
        expect_reply(t, &c,
                     "{\"error\":\"org.varlink.service.MethodNotFound\","
                     "\"parameters\":{\"method\":\"io.taplinkd.\"}}");
        assert_int_equal(t->n_calls, 0);
        /* The handler's own answer for a method it does not know. */
        client_call(&c, "{\"method\":\"io.taplinkd.Nope\"}");
        expect_reply(t, &c,
                     "{\"error\":\"org.varlink.service.MethodNotFound\","
                     "\"parameters\":{\"method\":\"io.taplinkd.Nope\"}}");
        assert_int_equal(t->n_calls, 1);
        client_close(&c);
}

static void test_parameters(void **state)
{
        static const char *const calls[] = {
            "{\"method\":\"io.taplinkd.Echo\"}",
            "{\"method\":\"io.taplinkd.Echo\",\"parameters\":null}",
            "{\"method\":\"io.taplinkd.Echo\",\"parameters\":{}}",
        };
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
                client_call(&c, calls[i]);
                expect_reply(t, &c, "{\"parameters\":{}}");
                assert_int_equal(t->n_calls, i + 1);
                assert_string_equal(t->last_parameters, "{}");
        }
        client_call(&c, "{\"method\":\"io.taplinkd.Echo\",\"parameters\":{\"path\":\"/a/b\",\"n\":[1,2]}}");
        expect_reply(t, &c, "{\"parameters\":{\"path\":\"/a/b\",\"n\":[1,2]}}");

        /* Parameters of another type: answered, not disconnected, and the
         * handler never sees the call. */
        client_call(&c, "{\"method\":\"io.taplinkd.Echo\",\"parameters\":[1]}");
        expect_reply(t, &c,
                     "{\"error\":\"org.varlink.service.InvalidParameter\","
                     "\"parameters\":{\"parameter\":\"parameters\"}}");
        client_call(&c, "{\"method\":\"io.taplinkd.Echo\",\"parameters\":\"x\"}");
        expect_reply(t, &c,
                     "{\"error\":\"org.varlink.service.InvalidParameter\","
                     "\"parameters\":{\"parameter\":\"parameters\"}}");
        assert_int_equal(t->n_calls, 4);

        /* more: the single reply, without "continues". */
        client_call(&c, "{\"method\":\"io.taplinkd.Echo\",\"parameters\":{\"a\":1},\"more\":true}");
        expect_reply(t, &c, "{\"parameters\":{\"a\":1}}");
        assert_true(t->last_more);
        client_close(&c);
}

static void test_pipelined(void **state)
{
        static const char calls[] = "{\"method\":\"io.taplinkd.Echo\",\"parameters\":{\"n\":1}}\0"
                                    "{\"method\":\"io.taplinkd.Later\"}\0"
                                    "{\"method\":\"io.taplinkd.Echo\",\"parameters\":{\"n\":3}}\0";
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        client_send(&c, calls, sizeof(calls) - 1);
        expect_reply(t, &c, "{\"parameters\":{\"n\":1}}");
        expect_reply(t, &c, "{\"parameters\":{\"later\":true}}");
        expect_reply(t, &c, "{\"parameters\":{\"n\":3}}");
        assert_int_equal(t->later_calls_seen, 2);
        assert_int_equal(t->last_reply_r, 0);
        assert_int_equal(t->n_calls, 3);
        client_close(&c);
}

static void test_oneway(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Echo\",\"parameters\":{\"n\":1},\"oneway\":true}");
        client_call(&c, "{\"method\":\"io.taplinkd.Fds\",\"oneway\":true}");
        client_call(&c, "{\"method\":\"org.varlink.service.GetInfo\",\"oneway\":true}");
        client_call(&c, "{\"method\":\"io.taplinkd.Echo\",\"parameters\":[],\"oneway\":true}");
        client_call(&c, "{\"method\":\"io.taplinkd.Echo\",\"parameters\":{\"n\":2}}");
        expect_reply(t, &c, "{\"parameters\":{\"n\":2}}");
        assert_int_equal(t->n_calls, 3);
        assert_int_equal(c.n_fds, 0);
        /* The Fds reply went nowhere, and its fds are closed. */
        for (int i = 0; i < 3; i++) {
                assert_int_equal(write(t->pipe_w[i], "x", 1), -1);
                assert_int_equal(errno, EPIPE);
        }
        client_close(&c);
}

static void test_reply_twice(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Twice\"}");
        expect_reply(t, &c, "{\"parameters\":{}}");
        expect_get_info(t, &c);
        client_close(&c);
}

static void test_reply_fds(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        /* A big reply ahead, so that the fds' reply is queued behind the
         * unsent tail of another one. */
        t->big_size = 1024 * 1024;
        client_call(&c, "{\"method\":\"io.taplinkd.Big\"}");
        client_call(&c, "{\"method\":\"io.taplinkd.Fds\"}");
        free(client_recv(t, &c));
        expect_reply(t, &c, "{\"parameters\":{\"fileDescriptors\":[0,1,2]}}");
        assert_int_equal(t->last_reply_r, 0);
        assert_int_equal(c.n_fds, 3);
        for (int i = 0; i < 3; i++) {
                char b = 0;
                assert_true(fcntl(c.fds[i], F_GETFD) & FD_CLOEXEC);
                assert_int_equal(read(c.fds[i], &b, 1), 1);
                assert_int_equal(b, '0' + i);
        }
        /* Ours were the last read ends: the server closed its copies. */
        close_many(c.fds, c.n_fds);
        c.n_fds = 0;
        for (int i = 0; i < 3; i++) {
                assert_int_equal(write(t->pipe_w[i], "x", 1), -1);
                assert_int_equal(errno, EPIPE);
        }
        client_close(&c);
}

static int on_send_fds(const int *fds, size_t n_fds, bool sending, void *userdata)
{
        struct test_ctx *t = userdata;

        if (!sending) {
                t->n_unsent_fds++;
                return 0;
        }

        for (size_t i = 0; i < n_fds; i++)
                assert_true(fcntl(fds[i], F_GETFD) >= 0);
        t->n_send_fds++;
        t->send_fds_n = n_fds;
        return t->send_fds_result;
}

static void test_send_fds_handler(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        varlink_server_set_send_fds_handler(t->server, on_send_fds);

        /* Called once, right before the fds go; not for replies without. */
        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Echo\"}");
        free(client_recv(t, &c));
        assert_int_equal(t->n_send_fds, 0);
        client_call(&c, "{\"method\":\"io.taplinkd.Fds\"}");
        expect_reply(t, &c, "{\"parameters\":{\"fileDescriptors\":[0,1,2]}}");
        assert_int_equal(t->n_send_fds, 1);
        assert_int_equal(t->send_fds_n, 3);
        assert_int_equal(c.n_fds, 3);
        assert_int_equal(t->n_unsent_fds, 0);
        client_close(&c);

        /* Fds that never reached the head of the output queue were never
         * announced, so nothing is undone when the peer goes. */
        client_open(t, &c);
        t->big_size = 8 * 1024 * 1024;
        client_call(&c, "{\"method\":\"io.taplinkd.Big\"}");
        client_call(&c, "{\"method\":\"io.taplinkd.Fds\"}");
        RUN_UNTIL(t, t->n_calls >= 3);
        client_close(&c);
        RUN_UNTIL(t, varlink_server_n_connections(t->server) == 0);
        assert_int_equal(t->n_send_fds, 1);
        assert_int_equal(t->n_unsent_fds, 0);

        /* Refused: the connection ends and the fds are closed unsent. */
        t->send_fds_result = -EPERM;
        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Fds\"}");
        assert_true(client_wait_closed(t, &c));
        assert_int_equal(c.n_fds, 0);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(write(t->pipe_w[i], "x", 1), -1);
                assert_int_equal(errno, EPIPE);
        }
        client_close(&c);
}

static void test_client_fds(void **state)
{
        static const char call[] = "{\"method\":\"io.taplinkd.Echo\"}";
        struct test_ctx *t = *state;
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 2)];
        } control = {};
        struct iovec iov = {(void *)call, sizeof(call)};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        struct client bad, good;
        int p[2], q[2], fds[2];

        client_open(t, &good);
        client_open(t, &bad);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(pipe2(q, O_CLOEXEC), 0);
        fds[0] = p[0];
        fds[1] = q[0];
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(fds));
        memcpy(CMSG_DATA(cm), fds, sizeof(fds));
        assert_int_equal(sendmsg(bad.fd, &mh, 0), (ssize_t)sizeof(call));
        safe_close(p[0]);
        safe_close(q[0]);

        assert_true(client_wait_closed(t, &bad));
        assert_int_equal(t->n_calls, 0);
        assert_int_equal(t->n_disconnects, 1);
        /* The server closed the read ends it received. */
        assert_int_equal(write(p[1], "x", 1), -1);
        assert_int_equal(errno, EPIPE);
        assert_int_equal(write(q[1], "x", 1), -1);
        assert_int_equal(errno, EPIPE);
        safe_close(p[1]);
        safe_close(q[1]);

        expect_get_info(t, &good);
        client_close(&bad);
        client_close(&good);
}

static void test_bad_input(void **state)
{
        struct test_ctx *t = *state;
        static const struct {
                const char *data;
                size_t len;
        } cases[] = {
            {"hello\0", 6},
            {"[{\"method\":\"io.taplinkd.Echo\"}]\0", 33},
            {"{\"parameters\":{}}\0", 18},
            {"\0", 1},
            {"{\"method\":\"io.taplinkd.Echo\"}x\0", 31},
            {"{\"method\":\"io.taplinkd.Echo\",\"more\":true,\"oneway\":true}\0", 56},
        };
        struct client good;

        client_open(t, &good);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct client bad;

                client_open(t, &bad);
                client_send(&bad, cases[i].data, cases[i].len);
                if (!client_wait_closed(t, &bad))
                        fail_msg("case %zu not disconnected", i);
                assert_int_equal(t->n_disconnects, i + 1);
                client_close(&bad);
                expect_get_info(t, &good);
        }
        assert_int_equal(t->n_calls, 0);
        client_close(&good);
}

static void test_message_size(void **state)
{
        struct test_ctx *t = *state;
        size_t len = VARLINK_MAX_MESSAGE + 1;
        char *msg = malloc(len + 1);
        struct client bad, good;

        /* Exactly the bound: served. */
        memset(msg, ' ', len + 1);
        memcpy(msg, "{\"method\":\"io.taplinkd.Echo\"}", 29);
        msg[VARLINK_MAX_MESSAGE] = 0;
        client_open(t, &good);
        client_send(&good, msg, VARLINK_MAX_MESSAGE + 1);
        expect_reply(t, &good, "{\"parameters\":{}}");

        /* One byte more, without any NUL yet: dropped at once. */
        client_open(t, &bad);
        memset(msg, 'x', len);
        client_send(&bad, msg, len);
        assert_true(client_wait_closed(t, &bad));
        assert_int_equal(t->n_disconnects, 1);
        expect_get_info(t, &good);
        client_close(&bad);
        client_close(&good);
        free(msg);
}

static void test_split_writes(void **state)
{
        static const char call[] = "{\"method\":\"io.taplinkd.Echo\",\"parameters\":{\"s\":\"h\xc3\xa9\"}}";
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        for (size_t i = 0; i < sizeof(call); i++) {
                client_send(&c, call + i, 1);
                while (sd_event_run(t->event, 0) > 0)
                        ;
        }
        expect_reply(t, &c, "{\"parameters\":{\"s\":\"h\xc3\xa9\"}}");
        client_close(&c);
}

static void test_deep_nesting(void **state)
{
        struct test_ctx *t = *state;
        char *ok = nested(8), *deep = nested(5000);
        struct client c;

        client_open(t, &c);
        client_send(&c, ok, strlen(ok) + 1);
        expect_reply(t, &c, "{\"parameters\":{\"x\":[[[[[[[[]]]]]]]]}}");
        assert_string_equal(t->last_parameters, "{\"x\":[[[[[[[[]]]]]]]]}");
        client_send(&c, deep, strlen(deep) + 1);
        assert_true(client_wait_closed(t, &c));
        assert_int_equal(t->n_calls, 1);
        client_close(&c);
        free(ok);
        free(deep);
}

static int cmp_gid(const void *a, const void *b)
{
        gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
        return x < y ? -1 : x > y;
}

static int peer_child(const struct sockaddr_un *addr, const gid_t *groups, size_t n_groups)
{
        static const char call[] = "{\"method\":\"io.taplinkd.Peer\"}";
        char buf[256];
        ssize_t n;
        int fd;

        if (setgroups(n_groups, groups) < 0 || setresgid(4321, 4321, 4321) < 0 ||
            setresuid(1234, 1234, 1234) < 0)
                return 2;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0)
                return 3;
        if (send(fd, call, sizeof(call), MSG_NOSIGNAL) != (ssize_t)sizeof(call))
                return 4;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n != (ssize_t)sizeof("{\"parameters\":{}}"))
                return 5;
        return 0;
}

static void test_peer(void **state)
{
        struct test_ctx *t = *state;
        gid_t mine[256];
        struct client c;
        int n_mine;

        /* This process: root here. */
        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Peer\"}");
        expect_reply(t, &c, "{\"parameters\":{}}");
        assert_int_equal(t->peer.uid, getuid());
        assert_int_equal(t->peer.gid, getgid());
        assert_int_equal(t->peer.pid, getpid());
        n_mine = getgroups(ELEMENTSOF(mine), mine);
        assert_true(n_mine >= 0);
        qsort(mine, (size_t)n_mine, sizeof(gid_t), cmp_gid);
        qsort(t->peer_groups, t->peer.n_groups, sizeof(gid_t), cmp_gid);
        assert_int_equal(t->peer.n_groups, n_mine);
        assert_memory_equal(t->peer_groups, mine, (size_t)n_mine * sizeof(gid_t));
        client_close(&c);
}

static void test_peer_unprivileged(void **state)
{
        struct test_ctx *t = *state;
        gid_t groups[40];
        int status = 0;
        pid_t pid;

        REQUIRE_ROOT("the peer sets other ids");
        /* More groups than the first SO_PEERGROUPS buffer holds. */
        for (size_t i = 0; i < ELEMENTSOF(groups); i++)
                groups[i] = (gid_t)(50000 + 7 * i);
        t->peer_seen = false;
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(peer_child(&t->addr, groups, ELEMENTSOF(groups)));
        RUN_UNTIL(t, t->peer_seen);
        for (uint64_t deadline = now_usec() + DEADLINE_USEC;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                assert_true(w >= 0);
                if (w == pid)
                        break;
                assert_true(now_usec() < deadline);
                sd_event_run(t->event, 10000);
        }
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_int_equal(t->peer.uid, 1234);
        assert_int_equal(t->peer.gid, 4321);
        assert_int_equal(t->peer.pid, pid);
        assert_int_equal(t->peer.n_groups, ELEMENTSOF(groups));
        qsort(t->peer_groups, t->peer.n_groups, sizeof(gid_t), cmp_gid);
        assert_memory_equal(t->peer_groups, groups, sizeof(groups));
}

static void test_big_reply(void **state)
{
        struct test_ctx *t = *state;
        struct client c;
        char *msg;

        t->big_size = 3u * 1024u * 1024u;
        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Big\"}");
        client_call(&c, "{\"method\":\"io.taplinkd.Echo\"}");
        msg = client_recv(t, &c);
        assert_int_equal(strlen(msg), t->big_size + strlen("{\"parameters\":{\"data\":\"\"}}"));
        free(msg);
        expect_reply(t, &c, "{\"parameters\":{}}");
        client_close(&c);
}

static void test_slow_reader(void **state)
{
        struct test_ctx *t = *state;
        struct client slow, good;

        varlink_server_set_limits(t->server, &(struct varlink_limits){
                                                 .output_high_water = 64 * 1024,
                                                 .write_timeout_usec = 1000 * 1000,
                                             });
        t->big_size = 100 * 1024;
        client_open(t, &slow);
        client_open(t, &good);
        for (int i = 0; i < 64; i++)
                client_call(&slow, "{\"method\":\"io.taplinkd.Big\"}");

        /* The slow one is still connected while another is served. */
        expect_get_info(t, &good);
        assert_int_equal(t->n_disconnects, 0);
        /* Reading stopped at the high-water mark: far fewer calls than sent. */
        RUN_UNTIL(t, t->n_disconnects == 1);
        assert_true(t->n_calls > 0 && t->n_calls < 16);
        expect_get_info(t, &good);
        assert_int_equal(varlink_server_n_connections(t->server), 1);
        client_close(&slow);
        client_close(&good);
}

static void test_output_bound(void **state)
{
        struct test_ctx *t = *state;
        struct client c, good;

        varlink_server_set_limits(t->server, &(struct varlink_limits){.output_max = 256 * 1024});
        t->big_size = 300 * 1024;
        client_open(t, &c);
        client_open(t, &good);
        client_call(&c, "{\"method\":\"io.taplinkd.Big\"}");
        assert_true(client_wait_closed(t, &c));
        assert_int_equal(t->last_reply_r, -ENOBUFS);
        assert_int_equal(t->n_disconnects, 1);
        expect_get_info(t, &good);
        client_close(&c);
        client_close(&good);
}

static void test_reply_after_close(void **state)
{
        struct test_ctx *t = *state;
        int p[2], fds[2];
        struct client c;

        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Hold\"}");
        RUN_UNTIL(t, t->n_calls == 1);
        assert_true(varlink_conn_is_open(t->held));
        client_close(&c);
        RUN_UNTIL(t, t->n_disconnects == 1);
        assert_false(varlink_conn_is_open(t->held));
        assert_int_equal(varlink_server_n_connections(t->server), 0);
        /* The peer is still readable after the close. */
        assert_int_equal(varlink_conn_peer(t->held)->uid, getuid());

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        fds[0] = p[0];
        fds[1] = dup(p[0]);
        assert_int_equal(varlink_conn_reply(t->held, json_object_new_object(), fds, 2), -ENOTCONN);
        assert_int_equal(write(p[1], "x", 1), -1);
        assert_int_equal(errno, EPIPE);
        safe_close(p[1]);
        assert_int_equal(varlink_conn_error(t->held, "io.taplinkd.NoSuchSlot", NULL), -ENOTCONN);
        assert_int_equal(varlink_conn_error_invalid_parameter(t->held, "slot"), -ENOTCONN);
        t->held = varlink_conn_unref(t->held);
        assert_int_equal(t->n_disconnects, 1);
}

static void test_half_close(void **state)
{
        struct test_ctx *t = *state;
        struct client c;

        client_open(t, &c);
        client_call(&c, "{\"method\":\"io.taplinkd.Later\"}");
        client_call(&c, "{\"method\":\"io.taplinkd.Echo\"}");
        assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
        expect_reply(t, &c, "{\"parameters\":{\"later\":true}}");
        expect_reply(t, &c, "{\"parameters\":{}}");
        assert_true(client_wait_closed(t, &c));
        assert_int_equal(t->n_disconnects, 1);
        client_close(&c);
}

static void test_connection_limit(void **state)
{
        struct test_ctx *t = *state;
        struct client c[3], root;

        REQUIRE_ROOT("the limits apply to uids other than root");
        varlink_server_set_limits(t->server, &(struct varlink_limits){.max_connections = 2});
        client_open_as(t, &c[0], 4001);
        client_open_as(t, &c[1], 4002);
        RUN_UNTIL(t, varlink_server_n_connections(t->server) == 2);
        client_open_as(t, &c[2], 4003);
        assert_true(client_wait_closed(t, &c[2]));
        assert_int_equal(t->n_disconnects, 0);
        /* Root is never locked out by the others. */
        client_open(t, &root);
        expect_get_info(t, &root);
        expect_get_info(t, &c[0]);
        expect_get_info(t, &c[1]);
        client_close(&c[0]);
        RUN_UNTIL(t, varlink_server_n_connections(t->server) == 2);
        client_close(&c[2]);
        client_open_as(t, &c[2], 4003);
        expect_get_info(t, &c[2]);
        client_close(&c[1]);
        client_close(&c[2]);
        client_close(&root);
}

static void test_connection_limit_per_uid(void **state)
{
        struct test_ctx *t = *state;
        struct client a[3], b;

        REQUIRE_ROOT("the limits apply to uids other than root");
        varlink_server_set_limits(t->server, &(struct varlink_limits){.max_connections_per_uid = 2});
        client_open_as(t, &a[0], 4001);
        client_open_as(t, &a[1], 4001);
        RUN_UNTIL(t, varlink_server_n_connections(t->server) == 2);
        client_open_as(t, &a[2], 4001);
        assert_true(client_wait_closed(t, &a[2]));
        client_open_as(t, &b, 4002);
        expect_get_info(t, &b);
        expect_get_info(t, &a[0]);
        client_close(&a[0]);
        RUN_UNTIL(t, varlink_server_n_connections(t->server) == 2);
        client_close(&a[2]);
        client_open_as(t, &a[2], 4001);
        expect_get_info(t, &a[2]);
        client_close(&a[1]);
        client_close(&a[2]);
        client_close(&b);
}

static void test_accept_emfile(void **state)
{
        struct test_ctx *t = *state;
        struct rlimit saved, low;
        struct client c;
        int lowest;

        client_open(t, &c);
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
        lowest = dup(0);
        assert_true(lowest >= 0);
        close(lowest);
        /* Every fd number below the limit is taken now. */
        low = (struct rlimit){.rlim_cur = (rlim_t)lowest, .rlim_max = saved.rlim_max};
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

        assert_int_equal(sd_event_run(t->event, 100000), 1);
        assert_int_equal(varlink_server_n_connections(t->server), 0);
        /* Accepting paused instead of spinning on EMFILE. */
        for (int i = 0; i < 10; i++)
                assert_int_equal(sd_event_run(t->event, 0), 0);

        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
        expect_get_info(t, &c);
        assert_int_equal(varlink_server_n_connections(t->server), 1);
        client_close(&c);
}

static void test_server_free(void **state)
{
        struct test_ctx *t = *state;
        struct client a, b;

        client_open(t, &a);
        client_open(t, &b);
        client_call(&a, "{\"method\":\"io.taplinkd.Hold\"}");
        RUN_UNTIL(t, t->n_calls == 1);
        RUN_UNTIL(t, varlink_server_n_connections(t->server) == 2);
        varlink_server_free(t->server);
        t->server = NULL;
        assert_int_equal(t->n_disconnects, 2);
        assert_int_equal(varlink_conn_reply(t->held, NULL, NULL, 0), -ENOTCONN);
        assert_true(client_wait_closed(t, &a));
        assert_true(client_wait_closed(t, &b));
        client_close(&a);
        client_close(&b);
}

/* The reply to the call just sent, or NULL when the server closed the
 * connection without one. */
static char *client_reply_or_eof(struct test_ctx *t, struct client *c)
{
        uint64_t deadline = now_usec() + DEADLINE_USEC;
        char buf[8192];
        size_t len = 0;

        for (;;) {
                ssize_t n = recv(c->fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno == ECONNRESET)) {
                        assert_int_equal(len, 0); /* never half a reply */
                        return NULL;
                }
                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        assert_true(now_usec() < deadline);
                        assert_true(sd_event_run(t->event, 10000) >= 0);
                        continue;
                }
                len += (size_t)n;
                if (memchr(buf, 0, len)) {
                        assert_int_equal(buf[len - 1], 0); /* nothing after it */
                        return strdup(buf);
                }
                assert_true(len < sizeof(buf));
        }
}

/* Every json-c allocation the server makes for a call, failed in turn: each
 * failure ends that connection without a reply (the client is not left
 * waiting, nor sent a reply it did not ask for), never crashes the server,
 * and the others are still served. Counting up until no allocation fails
 * reaches every one of them, whatever their order. */
static void test_allocation_failure(void **state)
{
        static const struct {
                const char *call, *reply;
        } cases[] = {
            {"{\"method\":\"org.varlink.service.GetInfo\"}", GET_INFO_REPLY},
            {"{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":{\"x\":1}}",
             "{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":{\"parameter\":\"x\"}}"},
            {"{\"method\":\"org.varlink.service.GetInterfaceDescription\","
             "\"parameters\":{\"interface\":\"io.taplinkd\"}}",
             "{\"parameters\":{\"description\":\"interface io.taplinkd\\n\\nmethod Status() -> (version: "
             "string)\\n\"}}"},
            {"{\"method\":\"org.varlink.service.GetInterfaceDescription\","
             "\"parameters\":{\"interface\":\"com.example.foo\"}}",
             "{\"error\":\"org.varlink.service.InterfaceNotFound\","
             "\"parameters\":{\"interface\":\"com.example.foo\"}}"},
            {"{\"method\":\"org.varlink.service.Nope\"}",
             "{\"error\":\"org.varlink.service.MethodNotFound\","
             "\"parameters\":{\"method\":\"org.varlink.service.Nope\"}}"},
            {"{\"method\":\"com.example.Foo\"}", "{\"error\":\"org.varlink.service.InterfaceNotFound\","
                                                 "\"parameters\":{\"interface\":\"com.example\"}}"},
            {"{\"method\":\"io.taplinkd.Echo\",\"parameters\":[]}",
             "{\"error\":\"org.varlink.service.InvalidParameter\","
             "\"parameters\":{\"parameter\":\"parameters\"}}"},
            {"{\"method\":\"io.taplinkd.Echo\"}", "{\"parameters\":{}}"},
            {"{\"method\":\"io.taplinkd.Echo\",\"parameters\":{\"a\":1}}", "{\"parameters\":{\"a\":1}}"},
            {"{\"method\":\"io.taplinkd.Nope\"}", "{\"error\":\"org.varlink.service.MethodNotFound\","
                                                  "\"parameters\":{\"method\":\"io.taplinkd.Nope\"}}"},
        };
        struct test_ctx *t = *state;
        unsigned disconnects = 0;
        struct client good;

        client_open(t, &good);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                long n;

                for (n = 0;; n++) {
                        struct client c;
                        char *reply;

                        client_open(t, &c);
                        RUN_UNTIL(t, varlink_server_n_connections(t->server) == 2);
                        allocs_failed = 0;
                        alloc_countdown = n;
                        client_call(&c, cases[i].call);
                        reply = client_reply_or_eof(t, &c);
                        alloc_countdown = -1;

                        if (allocs_failed == 0) {
                                /* Past the last allocation: the real reply. */
                                if (!reply)
                                        fail_msg("case %zu: closed without a failed allocation", i);
                                assert_string_equal(reply, cases[i].reply);
                                free(reply);
                                client_close(&c);
                                break;
                        }
                        if (reply)
                                fail_msg("case %zu, allocation %ld failed: got %s", i, n, reply);
                        RUN_UNTIL(t, t->n_disconnects == ++disconnects);
                        client_close(&c);
                        expect_get_info(t, &good);
                }
                /* Each of these calls allocates, so a failure was tried. */
                assert_true(n > 0);
                RUN_UNTIL(t, varlink_server_n_connections(t->server) == 1);
                disconnects = t->n_disconnects;
        }
        client_close(&good);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_call),
            cmocka_unit_test(test_parse_call_framing),
            cmocka_unit_test_setup_teardown(test_get_info, setup, teardown),
            cmocka_unit_test_setup_teardown(test_get_interface_description, setup, teardown),
            cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
            cmocka_unit_test_setup_teardown(test_parameters, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
            cmocka_unit_test_setup_teardown(test_oneway, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reply_twice, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reply_fds, setup, teardown),
            cmocka_unit_test_setup_teardown(test_client_fds, setup, teardown),
            cmocka_unit_test_setup_teardown(test_send_fds_handler, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
            cmocka_unit_test_setup_teardown(test_message_size, setup, teardown),
            cmocka_unit_test_setup_teardown(test_split_writes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
            cmocka_unit_test_setup_teardown(test_peer, setup, teardown),
            cmocka_unit_test_setup_teardown(test_peer_unprivileged, setup, teardown),
            cmocka_unit_test_setup_teardown(test_big_reply, setup, teardown),
            cmocka_unit_test_setup_teardown(test_slow_reader, setup, teardown),
            cmocka_unit_test_setup_teardown(test_output_bound, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reply_after_close, setup, teardown),
            cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
            cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_connection_limit_per_uid, setup, teardown),
            cmocka_unit_test_setup_teardown(test_accept_emfile, setup, teardown),
            cmocka_unit_test_setup_teardown(test_server_free, setup, teardown),
            cmocka_unit_test_setup_teardown(test_allocation_failure, setup, teardown),
        };

        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}

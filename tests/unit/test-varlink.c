/* SPDX-License-Identifier: MIT */
// MODULES: varlink-parse varlink-conn varlink-reply varlink-service varlink-server quota
// WRAP: json_object_new_object json_object_new_array json_object_new_string
/* The varlink server's parser and calls (varlink-parse.c, varlink-service.c,
 * varlink-reply.c): varlink_parse_call(), org.varlink.service, parameters,
 * pipelined and oneway calls, a call answered twice, and every json-c
 * allocation of a call failed in turn. The connections:
 * test-varlink-conn.c. */
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
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "time-util.h"
#include "varlink.h"

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

#include "varlink-test-server.h"

/* ---- varlink_parse_call ---- */

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
            cmocka_unit_test_setup_teardown(test_allocation_failure, setup, teardown),
        };

        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}

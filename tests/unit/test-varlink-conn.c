/* SPDX-License-Identifier: MIT */
// MODULES: varlink-parse varlink-conn varlink-reply varlink-service varlink-server quota
/* The varlink server's connections (varlink-conn.c, varlink-server.c, with
 * quota.c): fds both ways, bad input and framing on the wire, peer
 * credentials, big replies and readers that do not keep up, the close
 * from either side, and the connection limits. The parser and the calls:
 * test-varlink.c. */
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

#include "varlink-test-server.h"

/* ---- connections ---- */

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

int main(void)
{
        const struct CMUnitTest tests[] = {
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
        };

        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}

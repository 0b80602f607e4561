/* SPDX-License-Identifier: MIT */
#pragma once

/* The client side of the varlink unit tests (test-varlink.c,
 * test-varlink-conn.c, test-varlink-more.c, test-varlink-fds.c): a
 * blocking client that drives the server's event loop while it waits, and
 * the server it talks to. The includer defines
 * struct test_ctx with at least `sd_event *event`, `struct varlink_server
 * *server`, `struct varlink_conn *held`, `char dir[64]` and `struct
 * sockaddr_un addr`. */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "time-util.h"

#ifndef DEADLINE_USEC
#define DEADLINE_USEC (5u * 1000u * 1000u)
#endif

struct client {
        int fd;
        char *buf;
        size_t len, size;
        int fds[16];
        size_t n_fds;
};

#define RUN_UNTIL(t, cond)                                                         \
        do {                                                                       \
                uint64_t _deadline = now_usec() + DEADLINE_USEC;                   \
                while (!(cond)) {                                                  \
                        assert_true(now_usec() < _deadline);                       \
                        assert_int_not_equal(sd_event_run((t)->event, 10000), -1); \
                }                                                                  \
        } while (0)

/* A listening socket at <a new directory under /tmp>/sock, world-connectable
 * (for the tests' unprivileged clients). */
static inline int test_listen(struct test_ctx *t)
{
        int fd;

        snprintf(t->dir, sizeof(t->dir), "/tmp/test-varlink-XXXXXX");
        assert_non_null(mkdtemp(t->dir));
        assert_int_equal(chmod(t->dir, 0755), 0);
        t->addr.sun_family = AF_UNIX;
        snprintf(t->addr.sun_path, sizeof(t->addr.sun_path), "%s/sock", t->dir);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&t->addr, sizeof(t->addr)), 0);
        assert_int_equal(chmod(t->addr.sun_path, 0666), 0);
        assert_int_equal(listen(fd, 128), 0);
        return fd;
}

static inline void test_unlisten(struct test_ctx *t)
{
        unlink(t->addr.sun_path);
        rmdir(t->dir);
}

/* A server on a new event loop, listening as test_listen() does. */
static inline void test_server_start(struct test_ctx *t, const struct varlink_server_info *info,
                                     varlink_method_handler on_call,
                                     varlink_disconnect_handler on_disconnect)
{
        int fd = test_listen(t);

        assert_int_equal(sd_event_new(&t->event), 0);
        assert_int_equal(varlink_server_new(t->event, fd, info, on_call, on_disconnect, t, &t->server), 0);
}

/* test_server_start() for interface io.taplinkd with this description and
 * placeholder vendor, product, version and url (the server copies them). */
static inline void test_server_start_io(struct test_ctx *t, const char *description,
                                        varlink_method_handler on_call,
                                        varlink_disconnect_handler on_disconnect)
{
        const struct varlink_server_info info = {
            .vendor = "v",
            .product = "p",
            .version = "1",
            .url = "u",
            .interface_name = "io.taplinkd",
            .interface_description = description,
        };

        test_server_start(t, &info, on_call, on_disconnect);
}

/* Frees the server, the connection a test held, the loop and the socket. */
static inline void test_server_stop(struct test_ctx *t)
{
        varlink_server_free(t->server);
        varlink_conn_unref(t->held);
        sd_event_unref(t->event);
        test_unlisten(t);
}

static inline void client_open(struct test_ctx *t, struct client *c)
{
        *c = (struct client){.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
        assert_true(c->fd >= 0);
        assert_int_equal(connect(c->fd, (struct sockaddr *)&t->addr, sizeof(t->addr)), 0);
}

/* Connects with uid as the credentials the server reads (SO_PEERCRED
 * records the effective ids at connect time). */
static inline void client_open_as(struct test_ctx *t, struct client *c, uid_t uid)
{
        assert_int_equal(setegid(uid), 0);
        assert_int_equal(seteuid(uid), 0);
        *c = (struct client){.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
        int r = connect(c->fd, (struct sockaddr *)&t->addr, sizeof(t->addr));
        assert_int_equal(seteuid(0), 0);
        assert_int_equal(setegid(0), 0);
        assert_true(c->fd >= 0);
        assert_int_equal(r, 0);
}

static inline void client_close(struct client *c)
{
        c->fd = safe_close(c->fd);
        close_many(c->fds, c->n_fds);
        c->n_fds = 0;
        free(c->buf);
        c->buf = NULL;
        c->len = c->size = 0;
}

static inline void client_send(struct client *c, const char *data, size_t len)
{
        while (len > 0) {
                ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
                assert_true(n > 0);
                data += n;
                len -= (size_t)n;
        }
}

static inline void client_call(struct client *c, const char *json)
{
        client_send(c, json, strlen(json) + 1);
}

/* Reads without blocking, driving the server's loop in between; returns
 * the next whole message (without its NUL). fds that arrive are kept. */
static inline char *client_recv(struct test_ctx *t, struct client *c)
{
        uint64_t deadline = now_usec() + DEADLINE_USEC;

        for (;;) {
                char *nul = c->len > 0 ? memchr(c->buf, 0, c->len) : NULL;
                if (nul) {
                        size_t n = (size_t)(nul - c->buf) + 1;
                        char *msg = strdup(c->buf);
                        memmove(c->buf, c->buf + n, c->len - n);
                        c->len -= n;
                        return msg;
                }
                if (c->size - c->len < 65536) {
                        c->size = c->size * 2 + 65536;
                        c->buf = realloc(c->buf, c->size);
                        assert_non_null(c->buf);
                }

                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int) * 16)];
                } control;
                struct iovec iov = {c->buf + c->len, c->size - c->len};
                struct msghdr mh = {.msg_iov = &iov,
                                    .msg_iovlen = 1,
                                    .msg_control = &control,
                                    .msg_controllen = sizeof(control)};
                ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        assert_true(now_usec() < deadline);
                        assert_true(sd_event_run(t->event, 10000) >= 0);
                        continue;
                }
                assert_true(n > 0); /* EOF: the server hung up */
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
                        assert_true(c->n_fds + k <= ELEMENTSOF(c->fds));
                        memcpy(c->fds + c->n_fds, CMSG_DATA(cm), k * sizeof(int));
                        c->n_fds += k;
                }
                c->len += (size_t)n;
        }
}

static inline void expect_reply(struct test_ctx *t, struct client *c, const char *expected)
{
        char *msg = client_recv(t, c);

        assert_string_equal(msg, expected);
        free(msg);
}

/* True once the server has closed the connection (pending replies are
 * read and dropped). */
static inline bool client_wait_closed(struct test_ctx *t, struct client *c)
{
        uint64_t deadline = now_usec() + DEADLINE_USEC;
        char buf[65536];

        while (now_usec() < deadline) {
                ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno == ECONNRESET))
                        return true;
                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        assert_true(sd_event_run(t->event, 10000) >= 0);
                }
        }
        return false;
}

/* SPDX-License-Identifier: MIT */
#pragma once

/* The fake Varlink server libtaplink's unit tests talk to: a thread that
 * answers each request with a canned reply (with fds, split, trickled, cut
 * short, or after interrupting the client's recvmsg), and records the
 * requests for the test to check. A test that includes this links
 * `// WRAP: recvmsg` and uses setup()/teardown() as its fixtures.
 * Helpers a test may not use are marked _unused_. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>

#include "../open-fds.h"

#include "lib/taplink-private.h"
#include "time-util.h"

/* ---- recvmsg wrapper: lets a test pretend the kernel truncated the fds,
 * and counts the calls a signal interrupted ---- */

ssize_t __real_recvmsg(int fd, struct msghdr *mh, int flags);
ssize_t __wrap_recvmsg(int fd, struct msghdr *mh, int flags);

static bool fake_ctrunc;
static atomic_uint recvmsg_eintr; /* the fake server thread reads it */

ssize_t __wrap_recvmsg(int fd, struct msghdr *mh, int flags)
{
        ssize_t n = __real_recvmsg(fd, mh, flags);
        if (n < 0 && errno == EINTR)
                atomic_fetch_add(&recvmsg_eintr, 1);
        if (n >= 0 && fake_ctrunc)
                mh->msg_flags |= MSG_CTRUNC;
        return n;
}

/* ---- the fake server ---- */

#define MAX_STEPS 4
#define MAX_STEP_FDS 8

struct step {
        char *reply;     /* owned; sent with its NUL unless no_nul */
        size_t send_len; /* 0: all of it; else only this many bytes, then close */
        bool no_nul;
        bool trickle;   /* one byte per send(), fds on the first */
        bool interrupt; /* SIGUSR1 the client while it waits for this reply */
        int fds[MAX_STEP_FDS];
        size_t n_fds;
};

struct server {
        char dir[64];
        char path[128];
        int listen_fd;
        pthread_t thread;
        pthread_t client;
        pid_t client_tid;
        struct step steps[MAX_STEPS];
        size_t n_steps;
        char *requests[MAX_STEPS];
        size_t n_requests;
        char failure[256]; /* cmocka must not fail from another thread */
        int fds_before;
};

static bool wait_readable(int fd)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};
        return poll(&p, 1, 5000) == 1;
}

static char *read_request(struct server *s, int conn)
{
        char buf[65536];
        size_t len = 0;

        while (len < sizeof(buf)) {
                if (!wait_readable(conn))
                        return NULL;
                ssize_t n = recv(conn, buf + len, 1, 0);
                if (n <= 0)
                        return NULL;
                if (buf[len] == 0)
                        return strdup(buf);
                len++;
        }
        snprintf(s->failure, sizeof(s->failure), "request too long");
        return NULL;
}

static void send_chunk(struct server *s, int conn, const char *p, size_t len, struct step *st)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * MAX_STEP_FDS)];
        } control = {};
        struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        if (st && st->n_fds > 0) {
                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * st->n_fds);
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * st->n_fds);
                memcpy(CMSG_DATA(cm), st->fds, sizeof(int) * st->n_fds);
        }
        while (len > 0) {
                ssize_t n = sendmsg(conn, &mh, MSG_NOSIGNAL);
                if (n < 0) {
                        snprintf(s->failure, sizeof(s->failure), "sendmsg: %m");
                        return;
                }
                mh.msg_control = NULL;
                mh.msg_controllen = 0;
                iov.iov_base = (char *)iov.iov_base + n;
                iov.iov_len -= (size_t)n;
                len -= (size_t)n;
        }
}

/* True while thread tid is inside recvmsg, as the kernel reports its
 * current system call ("running" or "-1 ..." when in none). */
static bool in_recvmsg(pid_t tid)
{
        char path[64], line[256];
        long nr;
        FILE *f;
        bool r;

        snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
        f = fopen(path, "re");
        if (!f)
                return false;
        r = fgets(line, sizeof(line), f) && sscanf(line, "%ld", &nr) == 1 && nr == SYS_recvmsg;
        fclose(f);
        return r;
}

/* Signals the client once it is blocked in recvmsg, then waits until that
 * recvmsg has returned EINTR: a reply sent earlier could be read by the
 * very call the signal was meant to interrupt, and the test would not
 * test EINTR at all. */
static bool interrupt_client(struct server *s)
{
        uint64_t deadline = now_usec() + 5000000u;
        unsigned before = atomic_load(&recvmsg_eintr);

        while (!in_recvmsg(s->client_tid)) {
                if (now_usec() > deadline) {
                        snprintf(s->failure, sizeof(s->failure), "the client never blocked in recvmsg");
                        return false;
                }
                usleep(1000);
        }
        pthread_kill(s->client, SIGUSR1);
        while (atomic_load(&recvmsg_eintr) == before) {
                if (now_usec() > deadline) {
                        snprintf(s->failure, sizeof(s->failure), "recvmsg did not return EINTR");
                        return false;
                }
                usleep(1000);
        }
        return true;
}

static void *serve(void *userdata)
{
        struct server *s = userdata;
        int conn = -1;

        if (!wait_readable(s->listen_fd)) {
                snprintf(s->failure, sizeof(s->failure), "no client connected");
                goto out;
        }
        conn = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
                snprintf(s->failure, sizeof(s->failure), "accept: %m");
                goto out;
        }

        for (size_t i = 0; i < s->n_steps; i++) {
                struct step *st = &s->steps[i];
                char *req = read_request(s, conn);
                if (!req)
                        break;
                s->requests[s->n_requests++] = req;

                if (st->interrupt && !interrupt_client(s))
                        break;

                size_t len = strlen(st->reply) + (st->no_nul ? 0 : 1);
                if (st->send_len)
                        len = st->send_len;
                if (st->trickle) {
                        for (size_t k = 0; k < len; k++) {
                                send_chunk(s, conn, st->reply + k, 1, k == 0 ? st : NULL);
                                usleep(200);
                        }
                } else {
                        send_chunk(s, conn, st->reply, len, st);
                }
                close_many(st->fds, st->n_fds);
                if (st->send_len)
                        break;
        }
out:
        safe_close(conn);
        return NULL;
}

static int setup(void **state)
{
        struct server *s = calloc(1, sizeof(*s));
        assert_non_null(s);

        s->fds_before = count_open_fds();
        strcpy(s->dir, "/tmp/test-libtaplink-XXXXXX");
        assert_non_null(mkdtemp(s->dir));
        snprintf(s->path, sizeof(s->path), "%s/io.taplinkd", s->dir);

        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, s->path);
        s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s->listen_fd >= 0);
        assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(s->listen_fd, 4), 0);
        s->client = pthread_self();
        s->client_tid = gettid();
        for (size_t i = 0; i < MAX_STEPS; i++)
                for (size_t k = 0; k < MAX_STEP_FDS; k++)
                        s->steps[i].fds[k] = -1;
        *state = s;
        return 0;
}

static void server_start(struct server *s)
{
        assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

/* Joins the server; every test calls it before its fd checks, so that the
 * server's copies of the fds are closed by then. */
static void server_join(struct server *s)
{
        if (s->thread) {
                pthread_join(s->thread, NULL);
                s->thread = 0;
        }
        if (s->failure[0])
                fail_msg("server: %s", s->failure);
}

static int teardown(void **state)
{
        struct server *s = *state;

        server_join(s);
        for (size_t i = 0; i < MAX_STEPS; i++) {
                close_many(s->steps[i].fds, s->steps[i].n_fds);
                free(s->steps[i].reply);
        }
        for (size_t i = 0; i < s->n_requests; i++)
                free(s->requests[i]);
        safe_close(s->listen_fd);
        unlink(s->path);
        rmdir(s->dir);
        /* Every fd the client received or opened must be gone again. */
        int after = count_open_fds();
        int before = s->fds_before;
        free(s);
        assert_int_equal(after, before);
        return 0;
}

_unused_ static struct step *add_step(struct server *s, const char *fmt, ...) _printf_(2, 3);
static struct step *add_step(struct server *s, const char *fmt, ...)
{
        va_list ap;
        struct step *st = &s->steps[s->n_steps++];

        va_start(ap, fmt);
        assert_true(vasprintf(&st->reply, fmt, ap) >= 0);
        va_end(ap);
        return st;
}

/* Makes a pipe; the write end goes to the step (the server sends and then
 * closes it), the read end is returned to the test. */
_unused_ static int add_pipe_fd(struct step *st)
{
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        st->fds[st->n_fds++] = p[1];
        return p[0];
}

/* Writes through fd and checks the text comes out of the pipe read end r. */
_unused_ static void assert_same_pipe(int fd, int r, const char *text)
{
        char buf[64] = {};

        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        assert_int_equal(read(r, buf, sizeof(buf) - 1), (ssize_t)strlen(text));
        assert_string_equal(buf, text);
}

/* Every write end of the pipe is closed: the client kept no copy. */
_unused_ static void assert_pipe_orphaned(int r)
{
        struct pollfd p = {.fd = r, .events = POLLIN};
        char c;

        /* A write end still open somewhere would block the read forever. */
        if (poll(&p, 1, 1000) != 1)
                fail_msg("pipe still has a writer: an fd was not closed");
        assert_int_equal(read(r, &c, 1), 0);
}

_unused_ static void assert_request(struct server *s, size_t i, const char *method, const char *parameters)
{
        assert_true(i < s->n_requests);
        json_object *req = json_tokener_parse(s->requests[i]);
        json_object *want = json_tokener_parse(parameters);
        json_object *m, *p;

        assert_non_null(req);
        assert_non_null(want);
        assert_true(json_object_object_get_ex(req, "method", &m));
        assert_string_equal(json_object_get_string(m), method);
        assert_true(json_object_object_get_ex(req, "parameters", &p));
        if (!json_object_equal(p, want))
                fail_msg("parameters %s, expected %s", json_object_to_json_string(p), parameters);
        json_object_put(req);
        json_object_put(want);
}

/* A Slot object as taplinkd derives it for slot n (defaults: /30 and /64). */
_unused_ static char *slot_text(unsigned n, unsigned queues, const char *ipv6)
{
        char *t;
        unsigned base = n * 4;
        char v6[256];

        if (!ipv6)
                snprintf(v6, sizeof(v6),
                         "{\"subnet\":\"fd74:6c00:0:%x::\",\"gateway\":\"fd74:6c00:0:%x::1\","
                         "\"guest\":\"fd74:6c00:0:%x::2\",\"prefixLength\":64}",
                         n, n, n);
        assert_true(asprintf(&t,
                             "{\"slot\":%u,\"ifname\":\"tl%u\",\"label\":\"vm-%u\",\"ownerUid\":1000,"
                             "\"mac\":\"02:74:6c:%02x:%02x:%02x\",\"mtu\":1500,\"queues\":%u,"
                             "\"vnetHeader\":true,\"persistent\":false,"
                             "\"ipv4\":{\"subnet\":\"10.213.%u.%u\",\"gateway\":\"10.213.%u.%u\","
                             "\"guest\":\"10.213.%u.%u\",\"prefixLength\":30},"
                             "%s%s%s"
                             "\"kernelIpArg\":\"ip=10.213.%u.%u::10.213.%u.%u:255.255.255.252::eth0:off\"}",
                             n, n, n, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, queues, base >> 8 & 0xff,
                             base & 0xff, base >> 8 & 0xff, (base + 1) & 0xff, base >> 8 & 0xff,
                             (base + 2) & 0xff, ipv6 && !*ipv6 ? "" : "\"ipv6\":", ipv6 ? ipv6 : v6,
                             ipv6 && !*ipv6 ? "" : ",", base >> 8 & 0xff, (base + 2) & 0xff,
                             base >> 8 & 0xff, (base + 1) & 0xff) >= 0);
        return t;
}

_unused_ static tl_client *connect_to(struct server *s)
{
        tl_client *c = NULL;
        server_start(s);
        assert_int_equal(tl_client_connect(s->path, &c), 0);
        assert_non_null(c);
        return c;
}

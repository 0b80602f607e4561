/* SPDX-License-Identifier: MIT */
// MODULES: varlink-parse varlink-conn varlink-reply varlink-service varlink-server quota
// MAX_LEN: 70000

/* The Varlink server's input path, twice per input:
 *
 * 1. The pure parser: the input is a client's byte stream, split on NUL as
 *    the server frames it; every complete message goes to
 *    varlink_parse_call() from a buffer of exactly its length (so that ASan
 *    sees any read past it). The stream ends, as in the server, at the
 *    first message longer than VARLINK_MAX_MESSAGE, which must be -EMSGSIZE.
 *
 * 2. The real server: the same bytes are written, in chunks of varying size,
 *    into a connection to a varlink_server on an sd-event loop, then the
 *    client shuts down its writing side and reads every reply. This fuzzes
 *    the buffering, framing, pipelining and output queue. The method handler
 *    answers according to the method's name (Echo, Fds, Later, Error, ...),
 *    so the fuzzer reaches every kind of answer. Checked: every complete
 *    reply is a JSON object with an object "parameters" (and a string
 *    "error", if any); the server always finishes the connection; no fd
 *    stays open afterwards. */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "macro.h"
#include "varlink.h"

#define IDL_TEXT                    \
        "interface io.taplinkd\n\n" \
        "method Echo() -> ()\n"     \
        "error NoSuchSlot (slot: int)\n"
#define MAX_HELD 64
#define OUTPUT_MAX (32 * 1024)
#define MAX_REPLY_FDS 8
/* Bytes per send(), in turn: splits the stream at many different places. */
static const size_t write_sizes[] = {1, 7, 64, 500, 4096, 3, 65536, 200};

static struct {
        sd_event *event;
        struct varlink_server *server;
        struct sockaddr_un addr;
        socklen_t addr_len;
        int null_fd;
        struct varlink_conn *held[MAX_HELD];
        size_t n_held;
} fz;

/* ---- the method handler ---- */

static int64_t param_int(const struct varlink_call *call, const char *key, int64_t min, int64_t max)
{
        struct json_object *v;
        int64_t x;

        if (!json_object_object_get_ex(call->parameters, key, &v) || !json_object_is_type(v, json_type_int))
                return min;
        x = json_object_get_int64(v);
        return x < min ? min : x > max ? max : x;
}

static void reply_fds(struct varlink_conn *conn, const struct varlink_call *call)
{
        struct json_object *p = json_object_new_object();
        struct json_object *indexes = json_object_new_array();
        int fds[MAX_REPLY_FDS];
        size_t n = (size_t)param_int(call, "n", 0, MAX_REPLY_FDS);

        CHECK(p && indexes);
        for (size_t i = 0; i < n; i++) {
                fds[i] = fcntl(fz.null_fd, F_DUPFD_CLOEXEC, 3);
                CHECK(fds[i] >= 0);
                json_object_array_add(indexes, json_object_new_int((int)i));
        }
        json_object_object_add(p, "fileDescriptors", indexes);
        (void)varlink_conn_reply(conn, p, fds, n);
}

static void reply_big(struct varlink_conn *conn, const struct varlink_call *call)
{
        size_t size = (size_t)param_int(call, "size", 0, 2 * OUTPUT_MAX);
        struct json_object *p = json_object_new_object();
        char *s = malloc(size + 1);

        CHECK(p && s);
        memset(s, 'x', size);
        s[size] = '\0';
        json_object_object_add(p, "data", json_object_new_string(s));
        free(s);
        (void)varlink_conn_reply(conn, p, NULL, 0);
}

static int on_later(sd_event_source *es, void *userdata)
{
        struct varlink_conn *conn = userdata;

        (void)varlink_conn_reply(conn, NULL, NULL, 0);
        varlink_conn_unref(conn);
        /* Not a floating source: that would stay allocated in the loop,
         * and every input that allocates more than it frees costs
         * libFuzzer a leak check. */
        sd_event_source_unref(es);
        return 0;
}

static void hold(struct varlink_conn *conn)
{
        if (fz.n_held >= MAX_HELD) {
                (void)varlink_conn_reply(conn, NULL, NULL, 0);
                return;
        }
        fz.held[fz.n_held++] = varlink_conn_ref(conn);
}

static void on_call(struct varlink_conn *conn, const struct varlink_call *call, void *userdata)
{
        const char *m = call->method + strlen("io.taplinkd.");
        struct json_object *v;
        int r;

        CHECK(varlink_conn_is_open(conn) && varlink_conn_peer(conn));
        if (strcmp(m, "Echo") == 0)
                (void)varlink_conn_reply(conn, json_object_get(call->parameters), NULL, 0);
        else if (strcmp(m, "Fds") == 0)
                reply_fds(conn, call);
        else if (strcmp(m, "Big") == 0)
                reply_big(conn, call);
        else if (strcmp(m, "Later") == 0) {
                /* Answered from the event loop, after this handler returned. */
                sd_event_source *es;

                CHECK(sd_event_add_defer(fz.event, &es, on_later, varlink_conn_ref(conn)) >= 0);
        } else if (strcmp(m, "Hold") == 0)
                /* Answered only once the client went away. */
                hold(conn);
        else if (strcmp(m, "Error") == 0) {
                if (json_object_object_get_ex(call->parameters, "error", &v) &&
                    json_object_is_type(v, json_type_string))
                        r = varlink_conn_error(conn, json_object_get_string(v),
                                               json_object_get(call->parameters));
                else
                        r = varlink_conn_error_invalid_parameter(conn, "error");
                if (r == -EINVAL) /* an empty name: refused, still pending */
                        (void)varlink_conn_error_invalid_parameter(conn, "error");
        } else if (strcmp(m, "Twice") == 0) {
                /* Not an object: refused, and the call stays pending. */
                CHECK(varlink_conn_reply(conn, json_object_new_array(), NULL, 0) == -EINVAL);
                CHECK(varlink_conn_reply(conn, NULL, NULL, 0) == 0);
                CHECK(varlink_conn_reply(conn, NULL, NULL, 0) == -EINVAL);
        } else if (strcmp(m, "Invalid") == 0) {
                struct json_object_iterator it = json_object_iter_begin(call->parameters);
                struct json_object_iterator end = json_object_iter_end(call->parameters);

                (void)varlink_conn_error_invalid_parameter(
                    conn, json_object_iter_equal(&it, &end) ? NULL : json_object_iter_peek_name(&it));
        } else
                (void)varlink_conn_error_method_not_found(conn, call->method);
}

static void on_disconnect(struct varlink_conn *conn, void *userdata)
{
        CHECK(!varlink_conn_is_open(conn));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        static const struct varlink_server_info info = {
            .vendor = "taplinkd fuzz",
            .product = "fuzz-varlink",
            .version = "0",
            .url = "https://example.org/",
            .interface_name = "io.taplinkd",
            .interface_description = IDL_TEXT,
        };
        /* Small bounds, so that the output limits are reachable cheaply. */
        static const struct varlink_limits limits = {
            .max_connections = 4,
            .output_high_water = 4096,
            .output_max = OUTPUT_MAX,
        };
        int fd;

        fz.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fz.null_fd >= 0 && fd >= 0);
        /* Abstract: nothing to clean up in the file system. */
        fz.addr.sun_family = AF_UNIX;
        snprintf(fz.addr.sun_path + 1, sizeof(fz.addr.sun_path) - 1, "taplinkd-fuzz-varlink-%d",
                 (int)getpid());
        fz.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(fz.addr.sun_path + 1));
        CHECK(bind(fd, (struct sockaddr *)&fz.addr, fz.addr_len) == 0);
        CHECK(listen(fd, 16) == 0);
        CHECK(sd_event_new(&fz.event) >= 0);
        CHECK(varlink_server_new(fz.event, fd, &info, on_call, on_disconnect, NULL, &fz.server) == 0);
        varlink_server_set_limits(fz.server, &limits);
        return 0;
}

/* ---- part 1: the pure parser ---- */

/* What the server must answer to the stream: when every message's fate is
 * known (exact), that many replies carrying that many fds, no more, no
 * fewer. A message the server may end the connection on (not a valid call,
 * too long, or one whose reply may pass the output bound) or a held call
 * ends the prediction: replies queued before it may be dropped with the
 * connection. */
struct expectation {
        size_t replies, fds;
        bool exact;
};

/* Replies to messages this short stay far below OUTPUT_MAX even where
 * json-c re-serializes numbers longer ("9e99" is 22 bytes back). */
#define PREDICTABLE_MESSAGE 4096

static void expect(const struct varlink_call *call, size_t len, struct expectation *e)
{
        const char *m = call->method;

        if (len > PREDICTABLE_MESSAGE || streq_ptr(m, "io.taplinkd.Hold") ||
            (streq_ptr(m, "io.taplinkd.Big") && param_int(call, "size", 0, INT64_MAX) > OUTPUT_MAX / 2)) {
                e->exact = false;
                return;
        }
        if (call->oneway)
                return;
        e->replies++;
        if (streq_ptr(m, "io.taplinkd.Fds"))
                e->fds += (size_t)param_int(call, "n", 0, MAX_REPLY_FDS);
}

static void parse_one(const uint8_t *msg, size_t len, struct expectation *e)
{
        struct varlink_call call = {};
        char *copy = malloc(len ? len : 1);
        int r;

        CHECK(copy);
        memcpy(copy, msg, len);
        r = varlink_parse_call(copy, len, &call);
        free(copy);
        if (len > VARLINK_MAX_MESSAGE) {
                CHECK(r == -EMSGSIZE);
                e->exact = false;
                return;
        }
        if (r < 0) {
                /* Untouched on failure. */
                CHECK(r == -EBADMSG && !call.method && !call.parameters);
                e->exact = false;
                return;
        }
        CHECK(call.method && call.method[0]);
        CHECK(json_object_is_type(call.parameters, json_type_object));
        CHECK(!(call.more && call.oneway));
        if (e->exact)
                expect(&call, len, e);
        varlink_call_done(&call);
}

static struct expectation parse_stream(const uint8_t *data, size_t size)
{
        struct expectation e = {.exact = true};
        size_t start = 0;

        while (start < size) {
                const uint8_t *nul = memchr(data + start, 0, size - start);
                size_t len = nul ? (size_t)(nul - (data + start)) : size - start;

                /* The server gives up on a message this long even before
                 * its NUL arrives. */
                if (len > VARLINK_MAX_MESSAGE) {
                        parse_one(data + start, len, &e);
                        break;
                }
                if (!nul)
                        break; /* never completed: the server drops it at EOF */
                parse_one(data + start, len, &e);
                start += len + 1;
        }
        return e;
}

/* ---- part 2: the server over a connection ---- */

struct client {
        int fd;
        char *buf;
        size_t len, size;
        bool eof;
        size_t replies, fds, fd_indexes;
};

static void check_replies(struct client *c)
{
        size_t start = 0;

        for (;;) {
                char *nul = memchr(c->buf + start, 0, c->len - start);
                struct json_object *o, *v;

                if (!nul)
                        break;
                o = json_tokener_parse(c->buf + start);
                CHECK(json_object_is_type(o, json_type_object));
                if (json_object_object_get_ex(o, "error", &v))
                        CHECK(json_object_is_type(v, json_type_string));
                CHECK(json_object_object_get_ex(o, "parameters", &v));
                CHECK(json_object_is_type(v, json_type_object));
                if (json_object_object_get_ex(v, "fileDescriptors", &v))
                        c->fd_indexes += json_object_array_length(v);
                c->replies++;
                json_object_put(o);
                start = (size_t)(nul - c->buf) + 1;
        }
        memmove(c->buf, c->buf + start, c->len - start);
        c->len -= start;
}

/* Reads what is there; returns whether anything was. Received fds are
 * closed at once. */
static bool client_read(struct client *c)
{
        bool progress = false;

        while (!c->eof) {
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int) * 253)];
                } control;
                struct iovec iov;
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
                ssize_t n;

                if (c->size - c->len < 4096) {
                        c->size = c->size * 2 + 4096;
                        c->buf = realloc(c->buf, c->size);
                        CHECK(c->buf);
                }
                iov = (struct iovec){c->buf + c->len, c->size - c->len};
                mh.msg_control = &control;
                mh.msg_controllen = sizeof(control);
                n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n < 0) {
                        if (errno == EAGAIN)
                                break;
                        CHECK(errno == ECONNRESET);
                        n = 0;
                        mh.msg_controllen = 0;
                }
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < k; i++) {
                                int fd;
                                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                                close(fd);
                        }
                        c->fds += k;
                }
                progress = true;
                if (n == 0) {
                        c->eof = true;
                        break;
                }
                c->len += (size_t)n;
                check_replies(c);
        }
        return progress;
}

static void answer_held(void)
{
        for (size_t i = 0; i < fz.n_held; i++) {
                /* The connection is gone: refused, and the reply dropped. */
                CHECK(varlink_conn_reply(fz.held[i], NULL, NULL, 0) == -ENOTCONN);
                varlink_conn_unref(fz.held[i]);
        }
        fz.n_held = 0;
}

static void serve(const uint8_t *data, size_t size, const struct expectation *e)
{
        struct client c = {.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
        size_t off = 0, turn = 0, limit = 64 * size + 100000;
        bool writing = true;

        CHECK(c.fd >= 0);
        CHECK(connect(c.fd, (struct sockaddr *)&fz.addr, fz.addr_len) == 0);
        if (size == 0) {
                shutdown(c.fd, SHUT_WR);
                writing = false;
        }

        for (size_t iter = 0;; iter++) {
                bool progress = false;
                int k;

                /* The server must finish every connection. */
                CHECK(iter <= limit);
                if (writing) {
                        size_t want = write_sizes[turn++ % ELEMENTSOF(write_sizes)];
                        size_t chunk = MIN(size - off, want);
                        ssize_t n = send(c.fd, data + off, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);

                        if (n > 0) {
                                off += (size_t)n;
                                progress = true;
                        } else if (n < 0 && errno != EAGAIN) {
                                /* The server ended the connection (a bad message). */
                                CHECK(errno == EPIPE || errno == ECONNRESET);
                                writing = false;
                        }
                        if (off == size) {
                                shutdown(c.fd, SHUT_WR);
                                writing = false;
                        }
                }
                if (client_read(&c))
                        progress = true;
                k = sd_event_run(fz.event, 0);
                CHECK(k >= 0);
                if (c.eof && varlink_server_n_connections(fz.server) == 0)
                        break;
                if (k == 0 && !progress && !c.eof) {
                        /* Nothing moves: the server waits for a held call's
                         * answer. Hang up entirely; the server must notice. */
                        CHECK(fz.n_held > 0);
                        c.fd = safe_close(c.fd);
                        c.eof = true;
                }
        }
        if (e->exact) {
                if (c.replies != e->replies || c.fds != e->fds || c.fd_indexes != e->fds)
                        fprintf(stderr, "%zu replies with %zu fds (%zu named), expected %zu with %zu\n",
                                c.replies, c.fds, c.fd_indexes, e->replies, e->fds);
                CHECK(c.replies == e->replies && c.fds == e->fds && c.fd_indexes == e->fds);
        }
        answer_held();
        safe_close(c.fd);
        free(c.buf);
        /* Leftover deferred answers run now, against a closed connection. */
        while (sd_event_run(fz.event, 0) > 0)
                ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fds = count_open_fds();
        struct expectation e = parse_stream(data, size);

        serve(data, size, &e);
        fuzz_check_fds(fds);
        return 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "quota.h"
#include "varlink.h"

/* The kernel's SCM_MAX_FD: the most fds one SCM_RIGHTS message carries. */
#define SCM_MAX_FDS 253
/* How long accepting pauses when the process or system is out of fds. */
#define ACCEPT_RETRY_USEC (100u * 1000u)
/* Accepts per wake-up, so that a connect storm cannot starve the rest. */
#define ACCEPT_BATCH 256
#define INPUT_CHUNK 4096u
/* Room for one whole message and its NUL. */
#define INPUT_MAX (VARLINK_MAX_MESSAGE + 1u)
#define SEND_MAX_IOV 16
#define SERVICE_INTERFACE "org.varlink.service"
#define SERVICE_PREFIX SERVICE_INTERFACE "."

static const char service_description[] =
    "# The Varlink service interface, provided by every Varlink service: it\n"
    "# describes the service and the interfaces it implements.\n"
    "interface org.varlink.service\n"
    "\n"
    "# Information about the service and the interfaces it provides.\n"
    "method GetInfo() -> (\n"
    "  vendor: string,\n"
    "  product: string,\n"
    "  version: string,\n"
    "  url: string,\n"
    "  interfaces: []string\n"
    ")\n"
    "\n"
    "# The description of one interface the service implements.\n"
    "method GetInterfaceDescription(interface: string) -> (description: string)\n"
    "\n"
    "# The service does not implement the requested interface.\n"
    "error InterfaceNotFound (interface: string)\n"
    "\n"
    "# The interface has no method of the requested name.\n"
    "error MethodNotFound (method: string)\n"
    "\n"
    "# The interface defines the method, but the service does not implement it.\n"
    "error MethodNotImplemented (method: string)\n"
    "\n"
    "# One of the parameters is missing, unknown, or has a bad value.\n"
    "error InvalidParameter (parameter: string)\n"
    "\n"
    "# The caller may not call the method.\n"
    "error PermissionDenied ()\n"
    "\n"
    "# The method must be called with \"more\" set.\n"
    "error ExpectedMore ()\n";

/* One queued message: a whole reply and its NUL, and the fds that travel
 * with its first byte. */
struct out_msg {
        struct out_msg *next;
        int *fds;
        size_t n_fds;
        bool announced; /* the send-fds handler heard of fds */
        size_t size, sent;
        char data[];
};

struct varlink_conn {
        unsigned n_ref;
        struct varlink_server *server; /* NULL once closed */
        struct varlink_conn *prev, *next;
        int fd;
        sd_event_source *io_source;
        sd_event_source *process_source; /* next call, queued output */
        sd_event_source *write_timer;
        bool write_timer_armed;
        struct varlink_peer peer;
        void *userdata;

        /* Unparsed input is in[in_start..in_end); in[in_scan] is either
         * in_end or the NUL ending the next message. */
        char *in;
        size_t in_size, in_start, in_end, in_scan;
        bool read_eof;

        struct out_msg *out_head, *out_tail;
        size_t out_bytes;

        struct varlink_call call;
        bool call_pending;
        bool drop; /* a reply could not be queued: close at the next chance */
        bool closed;
};

struct varlink_server {
        sd_event *event;
        int listen_fd;
        sd_event_source *listen_source;
        sd_event_source *accept_retry;
        char *vendor, *product, *version, *url;
        char *interface_name, *interface_description;
        varlink_method_handler on_call;
        varlink_disconnect_handler on_disconnect;
        varlink_send_fds_handler on_send_fds;
        void *userdata;
        struct varlink_conn *conns;
        size_t n_conns;
        size_t n_conns_unprivileged; /* of uids other than root */
        struct quota conns_per_uid;
        struct varlink_limits limits;
};

static void json_object_putp(struct json_object **p)
{
        if (*p)
                json_object_put(*p);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

/* json_object_object_add() leaves val with the caller when it fails. */
static int json_add(struct json_object *o, const char *key, struct json_object *val)
{
        if (!val)
                return -ENOMEM;
        if (json_object_object_add(o, key, val) < 0) {
                json_object_put(val);
                return -ENOMEM;
        }
        return 0;
}

static bool is_json_whitespace(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
 * json-c 0.16's JSON_TOKENER_VALIDATE_UTF8 lets all three through. */
static bool utf8_is_valid(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s, *end = p + len;

        while (p < end) {
                unsigned c = *p, cp, min;
                size_t n;

                if (c < 0x80) {
                        p++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf) {
                        n = 1;
                        cp = c & 0x1f;
                        min = 0x80;
                } else if ((c & 0xf0) == 0xe0) {
                        n = 2;
                        cp = c & 0x0f;
                        min = 0x800;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 3;
                        cp = c & 0x07;
                        min = 0x10000;
                } else
                        return false;
                if ((size_t)(end - p) <= n)
                        return false;
                for (size_t i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                p += n + 1;
        }
        return true;
}

static int json_get_flag(struct json_object *o, const char *key, bool *ret)
{
        struct json_object *v;

        if (!json_object_object_get_ex(o, key, &v)) {
                *ret = false;
                return 0;
        }
        if (!json_object_is_type(v, json_type_boolean))
                return -EBADMSG;
        *ret = json_object_get_boolean(v);
        return 0;
}

/* json-c takes NaN, Infinity and -Infinity, which are not JSON. A number it
 * parsed keeps its text (1e400 stays "1e400"); those three have none. */
static bool json_numbers_valid(struct json_object *o)
{
        switch (json_object_get_type(o)) {
        case json_type_double: {
                const char *t = json_object_to_json_string(o);
                return t && (t[0] == '-' ? t[1] : t[0]) >= '0' && (t[0] == '-' ? t[1] : t[0]) <= '9';
        }
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        if (!json_numbers_valid(json_object_array_get_idx(o, i)))
                                return false;
                return true;
        case json_type_object: {
                json_object_object_foreach(o, k, v)
                {
                        (void)k;
                        if (!json_numbers_valid(v))
                                return false;
                }
                return true;
        }
        default:
                return true;
        }
}

static int parse_json_object(const char *msg, size_t len, struct json_object **ret)
{
        struct json_tokener *tok;
        struct json_object *o;
        size_t end;

        /* Bounded depth: json-c refuses deeper nesting instead of recursing. */
        tok = json_tokener_new_ex(VARLINK_MAX_DEPTH);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        o = json_tokener_parse_ex(tok, msg, (int)len);
        end = json_tokener_get_parse_end(tok);
        if (o && json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(o);
                o = NULL;
        }
        json_tokener_free(tok);
        if (!o)
                return -EBADMSG;

        for (; end < len; end++)
                if (!is_json_whitespace(msg[end])) {
                        json_object_put(o);
                        return -EBADMSG;
                }
        if (!json_object_is_type(o, json_type_object) || !json_numbers_valid(o)) {
                json_object_put(o);
                return -EBADMSG;
        }
        *ret = o;
        return 0;
}

/* The server's parser: parameters that are neither an object nor null make
 * a call with {} and *ret_bad_parameters set, so that the server can answer
 * InvalidParameter instead of ending the connection. */
static int parse_message(const char *msg, size_t len, struct varlink_call *ret, bool *ret_bad_parameters)
{
        _cleanup_json_ struct json_object *o = NULL, *parameters = NULL;
        struct json_object *method, *p;
        bool more, oneway, bad_parameters = false;
        const char *name;
        char *m;
        int r;

        if (!ret || !ret_bad_parameters || (!msg && len > 0))
                return -EINVAL;
        if (len > VARLINK_MAX_MESSAGE)
                return -EMSGSIZE;
        /* NUL frames messages, so one inside cannot be part of this one;
         * json-c would stop at it and take the rest for trailing bytes. */
        if (len == 0 || memchr(msg, 0, len) || !utf8_is_valid(msg, len))
                return -EBADMSG;

        r = parse_json_object(msg, len, &o);
        if (r < 0)
                return r;

        if (!json_object_object_get_ex(o, "method", &method) ||
            !json_object_is_type(method, json_type_string))
                return -EBADMSG;
        name = json_object_get_string(method);
        /* A "\u0000" inside would make the C string a different name. */
        if (!name || name[0] == 0 || strlen(name) != (size_t)json_object_get_string_len(method))
                return -EBADMSG;

        r = json_get_flag(o, "more", &more);
        if (r < 0)
                return r;
        r = json_get_flag(o, "oneway", &oneway);
        if (r < 0)
                return r;
        if (more && oneway)
                return -EBADMSG;

        if (json_object_object_get_ex(o, "parameters", &p) && p) {
                if (json_object_is_type(p, json_type_object))
                        parameters = json_object_get(p);
                else
                        bad_parameters = true;
        }
        if (!parameters) {
                parameters = json_object_new_object();
                if (!parameters)
                        return -ENOMEM;
        }

        m = strdup(name);
        if (!m)
                return -ENOMEM;
        *ret = (struct varlink_call){
            .method = m,
            .parameters = TAKE_PTR(parameters),
            .more = more,
            .oneway = oneway,
        };
        *ret_bad_parameters = bad_parameters;
        return 0;
}

int varlink_parse_call(const char *msg, size_t len, struct varlink_call *ret)
{
        struct varlink_call call;
        bool bad_parameters;
        int r;

        r = parse_message(msg, len, &call, &bad_parameters);
        if (r < 0)
                return r;
        if (bad_parameters) {
                varlink_call_done(&call);
                return -EBADMSG;
        }
        *ret = call;
        return 0;
}

void varlink_call_done(struct varlink_call *call)
{
        if (!call)
                return;
        free(call->method);
        if (call->parameters)
                json_object_put(call->parameters);
        *call = (struct varlink_call){};
}

/* ---- connections ---- */

static void out_msg_free(struct out_msg *m)
{
        if (!m)
                return;
        close_many(m->fds, m->n_fds);
        free(m->fds);
        free(m);
}

static void conn_free_output(struct varlink_conn *conn)
{
        while (conn->out_head) {
                struct out_msg *m = conn->out_head;
                conn->out_head = m->next;
                if (m->announced && m->n_fds > 0 && conn->server && conn->server->on_send_fds)
                        (void)conn->server->on_send_fds(m->fds, m->n_fds, false, conn->server->userdata);
                out_msg_free(m);
        }
        conn->out_tail = NULL;
        conn->out_bytes = 0;
}

static void conn_free(struct varlink_conn *conn)
{
        sd_event_source_disable_unref(conn->io_source);
        sd_event_source_disable_unref(conn->process_source);
        sd_event_source_disable_unref(conn->write_timer);
        safe_close(conn->fd);
        conn_free_output(conn);
        varlink_call_done(&conn->call);
        free(conn->in);
        free(conn->peer.groups);
        free(conn);
}

struct varlink_conn *varlink_conn_ref(struct varlink_conn *conn)
{
        if (conn)
                conn->n_ref++;
        return conn;
}

struct varlink_conn *varlink_conn_unref(struct varlink_conn *conn)
{
        if (conn && --conn->n_ref == 0)
                conn_free(conn);
        return NULL;
}

static void conn_unrefp(struct varlink_conn **p)
{
        varlink_conn_unref(*p);
}
#define _cleanup_conn_unref_ _cleanup_(conn_unrefp)

/* Ends the connection: everything queued (fds included) is dropped, the
 * owner hears once, and the server's reference goes. Never called from
 * inside the reply functions, so a handler is not re-entered. */
static void conn_close(struct varlink_conn *conn)
{
        struct varlink_server *s = conn->server;

        if (conn->closed)
                return;
        conn->closed = true;
        conn->call_pending = false;
        conn->io_source = sd_event_source_disable_unref(conn->io_source);
        conn->process_source = sd_event_source_disable_unref(conn->process_source);
        conn->write_timer = sd_event_source_disable_unref(conn->write_timer);
        conn->fd = safe_close(conn->fd);
        conn_free_output(conn);
        free(conn->in);
        conn->in = NULL;
        conn->in_size = conn->in_start = conn->in_end = conn->in_scan = 0;

        if (conn->prev)
                conn->prev->next = conn->next;
        else
                s->conns = conn->next;
        if (conn->next)
                conn->next->prev = conn->prev;
        conn->prev = conn->next = NULL;
        s->n_conns--;
        if (conn->peer.uid != 0) {
                s->n_conns_unprivileged--;
                quota_dec(&s->conns_per_uid, conn->peer.uid);
        }
        conn->server = NULL;

        if (s->on_disconnect)
                s->on_disconnect(conn, s->userdata);
        varlink_conn_unref(conn);
}

static void conn_schedule(struct varlink_conn *conn)
{
        if (conn->process_source)
                (void)sd_event_source_set_enabled(conn->process_source, SD_EVENT_ONESHOT);
}

static bool conn_has_message(struct varlink_conn *conn)
{
        char *nul;

        if (conn->in_scan < conn->in_start)
                conn->in_scan = conn->in_start;
        if (conn->in_scan >= conn->in_end)
                return false;
        nul = memchr(conn->in + conn->in_scan, 0, conn->in_end - conn->in_scan);
        if (!nul) {
                conn->in_scan = conn->in_end;
                return false;
        }
        conn->in_scan = (size_t)(nul - conn->in);
        return true;
}

/* Room for the next read: unparsed bytes move to the front, and the buffer
 * grows in steps up to one whole message. */
static int conn_make_room(struct varlink_conn *conn)
{
        size_t used = conn->in_end - conn->in_start;

        if (conn->in_scan < conn->in_start)
                conn->in_scan = conn->in_start;
        if (conn->in_start > 0) {
                memmove(conn->in, conn->in + conn->in_start, used);
                conn->in_scan -= conn->in_start;
                conn->in_start = 0;
                conn->in_end = used;
        }
        if (conn->in_size - conn->in_end < INPUT_CHUNK && conn->in_size < INPUT_MAX) {
                size_t size = MIN(INPUT_MAX, MAX(INPUT_CHUNK, conn->in_size * 2));
                char *in = realloc(conn->in, size);
                if (!in)
                        return -ENOMEM;
                conn->in = in;
                conn->in_size = size;
        }
        return 0;
}

/* Closes every fd that came with a message: a client has no business
 * sending any. Returns how many there were. */
static size_t close_received_fds(struct msghdr *mh)
{
        size_t n = 0;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        safe_close(fd);
                }
                n += k;
        }
        return n;
}

static int conn_read(struct varlink_conn *conn)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * SCM_MAX_FDS)];
        } control;
        struct iovec iov;
        struct msghdr mh = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = &control,
            .msg_controllen = sizeof(control),
        };
        ssize_t n;
        int r;

        r = conn_make_room(conn);
        if (r < 0)
                return r;
        iov = (struct iovec){conn->in + conn->in_end, conn->in_size - conn->in_end};

        n = recvmsg(conn->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (close_received_fds(&mh) > 0 || (mh.msg_flags & MSG_CTRUNC))
                return -EPROTO;
        if (n == 0) {
                conn->read_eof = true;
                return 0;
        }
        conn->in_end += (size_t)n;

        /* A message that cannot end within the bound ends the connection
         * now rather than when its NUL arrives. */
        if (!conn_has_message(conn) && conn->in_end - conn->in_start > VARLINK_MAX_MESSAGE)
                return -EMSGSIZE;
        return 0;
}

static int conn_arm_write_timer(struct varlink_conn *conn, bool progress);

static void conn_consume_output(struct varlink_conn *conn, size_t n)
{
        conn->out_bytes -= n;
        while (n > 0) {
                struct out_msg *m = conn->out_head;
                size_t k = MIN(n, m->size - m->sent);

                m->sent += k;
                n -= k;
                if (m->sent < m->size)
                        break;
                conn->out_head = m->next;
                if (!conn->out_head)
                        conn->out_tail = NULL;
                out_msg_free(m);
        }
}

/* Sends what the socket takes. A message's fds ride on the sendmsg that
 * starts at its first byte, so a message with fds always starts a sendmsg
 * of its own, and later messages with fds are not gathered into it. */
static int conn_flush(struct varlink_conn *conn)
{
        bool progress = false;

        while (conn->out_head) {
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int) * SCM_MAX_FDS)];
                } control;
                struct iovec iov[SEND_MAX_IOV];
                struct msghdr mh = {.msg_iov = iov};
                struct out_msg *head = conn->out_head;
                bool with_fds = head->sent == 0 && head->n_fds > 0;
                ssize_t n;

                for (struct out_msg *m = head; m && mh.msg_iovlen < SEND_MAX_IOV; m = m->next) {
                        /* The peer's recvmsg returns fds with the bytes up
                         * to the end of the chunk they came with: nothing
                         * may follow their message in that chunk. */
                        if (m != head && (m->n_fds > 0 || with_fds))
                                break;
                        iov[mh.msg_iovlen++] = (struct iovec){m->data + m->sent, m->size - m->sent};
                }
                if (with_fds) {
                        size_t len = sizeof(int) * head->n_fds;
                        struct cmsghdr *c;

                        if (conn->server->on_send_fds && !head->announced) {
                                int r = conn->server->on_send_fds(head->fds, head->n_fds, true,
                                                                  conn->server->userdata);
                                if (r < 0)
                                        return r;
                                head->announced = true;
                        }

                        memset(&control, 0, sizeof(control));
                        mh.msg_control = &control;
                        mh.msg_controllen = CMSG_SPACE(len);
                        c = CMSG_FIRSTHDR(&mh);
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(len);
                        memcpy(CMSG_DATA(c), head->fds, len);
                }

                n = sendmsg(conn->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                progress = true;
                if (with_fds) {
                        /* The peer holds them now; ours go. */
                        close_many(head->fds, head->n_fds);
                        head->n_fds = 0;
                }
                conn_consume_output(conn, (size_t)n);
        }
        return conn_arm_write_timer(conn, progress);
}

static int on_write_timeout(sd_event_source *es, uint64_t usec, void *userdata)
{
        _cleanup_conn_unref_ struct varlink_conn *conn = varlink_conn_ref(userdata);

        conn_close(conn);
        return 0;
}

/* The timer runs while output waits and restarts whenever the peer takes
 * some of it: it measures how long the peer has not read. */
static int conn_arm_write_timer(struct varlink_conn *conn, bool progress)
{
        struct varlink_server *s = conn->server;
        int r;

        if (!conn->out_head) {
                if (conn->write_timer_armed)
                        (void)sd_event_source_set_enabled(conn->write_timer, SD_EVENT_OFF);
                conn->write_timer_armed = false;
                return 0;
        }
        if (conn->write_timer_armed && !progress)
                return 0;
        if (!conn->write_timer) {
                r = sd_event_add_time_relative(s->event, &conn->write_timer, CLOCK_MONOTONIC,
                                               s->limits.write_timeout_usec, 0, on_write_timeout, conn);
                if (r < 0)
                        return r;
                (void)sd_event_source_set_description(conn->write_timer, "varlink-write-timeout");
        } else {
                r = sd_event_source_set_time_relative(conn->write_timer, s->limits.write_timeout_usec);
                if (r < 0)
                        return r;
                r = sd_event_source_set_enabled(conn->write_timer, SD_EVENT_ONESHOT);
                if (r < 0)
                        return r;
        }
        conn->write_timer_armed = true;
        return 0;
}

/* Recomputes what the connection waits for, and ends it once the peer has
 * finished sending and has every reply. */
static void conn_update(struct varlink_conn *conn)
{
        const struct varlink_limits *l;
        bool has_message, may_read;
        uint32_t events = 0;

        if (conn->closed)
                return;
        if (conn->drop) {
                conn_close(conn);
                return;
        }
        l = &conn->server->limits;
        has_message = conn_has_message(conn);
        if (conn->read_eof && !conn->call_pending && !has_message && !conn->out_head) {
                conn_close(conn);
                return;
        }

        may_read = !conn->call_pending && conn->out_bytes <= l->output_high_water;
        if (may_read && !has_message && !conn->read_eof)
                events |= EPOLLIN;
        if (conn->out_head)
                events |= EPOLLOUT;
        if (sd_event_source_set_io_events(conn->io_source, events) < 0) {
                conn_close(conn);
                return;
        }
        if (may_read && has_message)
                conn_schedule(conn);
}

static int conn_dispatch_next(struct varlink_conn *conn);
static int conn_serve(struct varlink_conn *conn);

static int on_conn_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        _cleanup_conn_unref_ struct varlink_conn *conn = varlink_conn_ref(userdata);
        int r = 0;

        if (revents & (EPOLLHUP | EPOLLERR))
                r = -ECONNRESET;
        if (r >= 0 && (revents & EPOLLOUT))
                r = conn_flush(conn);
        if (r >= 0 && (revents & EPOLLIN))
                r = conn_read(conn);
        /* Answer at once what can be answered at once: every trip through
         * the event loop is an epoll_wait that re-reports every ready fd. */
        if (r >= 0 && !conn->closed)
                r = conn_serve(conn);
        if (r < 0)
                conn_close(conn);
        else
                conn_update(conn);
        return 0;
}

static void conn_dispatch_call(struct varlink_conn *conn, bool bad_parameters);

/* Parses and dispatches the next buffered call, if any: one per event loop
 * iteration, so that a client with many pipelined calls takes turns with
 * the others. */
static int conn_dispatch_next(struct varlink_conn *conn)
{
        struct varlink_call call;
        bool bad_parameters;
        size_t len;
        int r;

        if (!conn_has_message(conn))
                return 0;
        len = conn->in_scan - conn->in_start;
        r = parse_message(conn->in + conn->in_start, len, &call, &bad_parameters);
        conn->in_start = conn->in_scan + 1;
        conn->in_scan = conn->in_start;
        if (conn->in_start == conn->in_end) {
                conn->in_start = conn->in_end = conn->in_scan = 0;
                /* An idle connection need not keep a big message's room. */
                if (conn->in_size > INPUT_CHUNK) {
                        free(conn->in);
                        conn->in = NULL;
                        conn->in_size = 0;
                }
        }
        if (r < 0)
                return r;

        varlink_call_done(&conn->call);
        conn->call = call;
        conn->call_pending = true;
        conn_dispatch_call(conn, bad_parameters);
        return 1;
}

/* Dispatches the next buffered call unless one is pending or too much
 * output waits, and sends what it answered at once. */
static int conn_serve(struct varlink_conn *conn)
{
        int r;

        if (conn->drop || conn->call_pending || conn->out_bytes > conn->server->limits.output_high_water)
                return 0;
        r = conn_dispatch_next(conn);
        if (r >= 0 && !conn->closed && conn->out_head)
                r = conn_flush(conn);
        return r;
}

static int on_conn_process(sd_event_source *es, void *userdata)
{
        _cleanup_conn_unref_ struct varlink_conn *conn = varlink_conn_ref(userdata);
        int r;

        r = conn_flush(conn);
        if (r >= 0)
                r = conn_serve(conn);
        if (r < 0)
                conn_close(conn);
        else
                conn_update(conn);
        return 0;
}

static int read_peer_groups(int fd, gid_t **ret_groups, size_t *ret_n)
{
        size_t n = 16;

        for (;;) {
                _cleanup_free_ gid_t *groups = calloc(n, sizeof(gid_t));
                socklen_t len = (socklen_t)(n * sizeof(gid_t));

                if (!groups)
                        return -ENOMEM;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) >= 0) {
                        *ret_n = len / sizeof(gid_t);
                        *ret_groups = TAKE_PTR(groups);
                        return 0;
                }
                if (errno == ENOPROTOOPT) {
                        *ret_n = 0;
                        *ret_groups = NULL;
                        return 0;
                }
                if (errno != ERANGE)
                        return -errno;
                /* The kernel said how much it needs; the groups may have
                 * grown meanwhile, so also at least double. */
                n = MAX(n * 2, len / sizeof(gid_t) + 1);
                if (n > 65537)
                        return -E2BIG;
        }
}

static int read_peer(int fd, struct varlink_peer *ret)
{
        struct ucred uc;
        socklen_t len = sizeof(uc);
        gid_t *groups;
        size_t n_groups;
        int r;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        if (len != sizeof(uc))
                return -EIO;
        r = read_peer_groups(fd, &groups, &n_groups);
        if (r < 0)
                return r;
        *ret = (struct varlink_peer){
            .uid = uc.uid,
            .gid = uc.gid,
            .pid = uc.pid,
            .groups = groups,
            .n_groups = n_groups,
        };
        return 0;
}

/* Takes fd, closing it on failure. */
static int conn_new(struct varlink_server *s, int fd)
{
        struct varlink_conn *conn;
        int r;

        conn = calloc(1, sizeof(*conn));
        if (!conn) {
                safe_close(fd);
                return -ENOMEM;
        }
        conn->n_ref = 1;
        conn->fd = fd;
        conn->server = s;

        r = read_peer(fd, &conn->peer);
        if (r < 0)
                goto fail;
        if (conn->peer.uid != 0 && (s->n_conns_unprivileged >= s->limits.max_connections ||
                                    quota_get(&s->conns_per_uid, conn->peer.uid) >=
                                            s->limits.max_connections_per_uid)) {
                r = -EUSERS;
                goto fail;
        }
        r = sd_event_add_io(s->event, &conn->io_source, fd, EPOLLIN, on_conn_io, conn);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(conn->io_source, "varlink-connection");
        r = sd_event_add_defer(s->event, &conn->process_source, on_conn_process, conn);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(conn->process_source, "varlink-process");
        r = sd_event_source_set_enabled(conn->process_source, SD_EVENT_OFF);
        if (r < 0)
                goto fail;

        if (conn->peer.uid != 0) {
                r = quota_inc(&s->conns_per_uid, conn->peer.uid);
                if (r < 0)
                        goto fail;
                s->n_conns_unprivileged++;
        }
        conn->next = s->conns;
        if (s->conns)
                s->conns->prev = conn;
        s->conns = conn;
        s->n_conns++;
        return 0;
fail:
        conn_free(conn);
        return r;
}

/* ---- replies ---- */

/* Queues one message; the process source sends it from the event loop, so
 * that a handler replying is never re-entered. */
static int conn_enqueue(struct varlink_conn *conn, struct json_object *msg, int *fds, size_t n_fds)
{
        const char *text;
        struct out_msg *m;
        size_t size;

        text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text) {
                close_many(fds, n_fds);
                return -ENOMEM;
        }
        size = strlen(text) + 1;
        if (size > conn->server->limits.output_max - MIN(conn->out_bytes, conn->server->limits.output_max)) {
                close_many(fds, n_fds);
                return -ENOBUFS;
        }

        m = malloc(sizeof(*m) + size);
        if (!m) {
                close_many(fds, n_fds);
                return -ENOMEM;
        }
        *m = (struct out_msg){.size = size};
        memcpy(m->data, text, size);
        if (n_fds > 0) {
                m->fds = malloc(n_fds * sizeof(int));
                if (!m->fds) {
                        free(m);
                        close_many(fds, n_fds);
                        return -ENOMEM;
                }
                memcpy(m->fds, fds, n_fds * sizeof(int));
                m->n_fds = n_fds;
        }

        if (conn->out_tail)
                conn->out_tail->next = m;
        else
                conn->out_head = m;
        conn->out_tail = m;
        conn->out_bytes += size;
        return 0;
}

/* Completes the pending call with msg, sent unless the call was oneway. */
static int conn_answer(struct varlink_conn *conn, struct json_object *msg, int *fds, size_t n_fds)
{
        int r = 0;

        conn->call_pending = false;
        conn_schedule(conn);
        if (conn->call.oneway) {
                close_many(fds, n_fds);
                return 0;
        }
        if (!msg) {
                close_many(fds, n_fds);
                r = -ENOMEM;
        } else
                r = conn_enqueue(conn, msg, fds, n_fds);
        if (r < 0) {
                /* The client would wait forever for this reply. */
                conn->drop = true;
                return r;
        }
        /* Send now when nothing waits ahead of it: the reply leaves without
         * another trip through the event loop. A failure is handled there
         * (the connection is not closed from inside a reply function). */
        if (conn->out_head && conn->out_head->next == NULL && conn_flush(conn) < 0)
                conn->drop = true;
        return 0;
}

/* Checks common to both kinds of answer; closes the fds when refusing. */
static int conn_check_answer(struct varlink_conn *conn, struct json_object *parameters, int *fds,
                             size_t n_fds)
{
        int r = 0;

        if (!conn || (n_fds > 0 && !fds))
                r = -EINVAL;
        else if (conn->closed)
                r = -ENOTCONN;
        else if (!conn->call_pending)
                r = -EINVAL;
        else if (parameters && !json_object_is_type(parameters, json_type_object))
                r = -EINVAL;
        else if (n_fds > SCM_MAX_FDS)
                r = -E2BIG;
        if (r < 0 && fds)
                close_many(fds, n_fds);
        return r;
}

static struct json_object *message_new(const char *error, struct json_object *parameters)
{
        _cleanup_json_ struct json_object *msg = json_object_new_object();
        _cleanup_json_ struct json_object *p = parameters ?: json_object_new_object();

        if (!msg || !p)
                return NULL;
        if (error && json_add(msg, "error", json_object_new_string(error)) < 0)
                return NULL;
        if (json_add(msg, "parameters", TAKE_PTR(p)) < 0)
                return NULL;
        return TAKE_PTR(msg);
}

int varlink_conn_reply(struct varlink_conn *conn, struct json_object *parameters, int *fds, size_t n_fds)
{
        _cleanup_json_ struct json_object *p = parameters, *msg = NULL;
        int r;

        r = conn_check_answer(conn, p, fds, n_fds);
        if (r < 0)
                return r;
        msg = message_new(NULL, TAKE_PTR(p));
        return conn_answer(conn, msg, fds, n_fds);
}

int varlink_conn_error(struct varlink_conn *conn, const char *error, struct json_object *parameters)
{
        _cleanup_json_ struct json_object *p = parameters, *msg = NULL;
        int r;

        if (!error || !error[0])
                return -EINVAL;
        r = conn_check_answer(conn, p, NULL, 0);
        if (r < 0)
                return r;
        msg = message_new(error, TAKE_PTR(p));
        return conn_answer(conn, msg, NULL, 0);
}

static int conn_error_string(struct varlink_conn *conn, const char *error, const char *key,
                             const char *value)
{
        struct json_object *p = json_object_new_object();

        if (p && json_add(p, key, json_object_new_string(value)) < 0)
                p = (json_object_put(p), NULL);
        if (!p && conn && !conn->closed && conn->call_pending) {
                /* Still complete the call, so the connection moves on. */
                (void)conn_answer(conn, NULL, NULL, 0);
                return -ENOMEM;
        }
        return varlink_conn_error(conn, error, p);
}

int varlink_conn_error_invalid_parameter(struct varlink_conn *conn, const char *parameter)
{
        return conn_error_string(conn, VARLINK_ERROR_INVALID_PARAMETER, "parameter", parameter ?: "");
}

int varlink_conn_error_method_not_found(struct varlink_conn *conn, const char *method)
{
        return conn_error_string(conn, VARLINK_ERROR_METHOD_NOT_FOUND, "method", method ?: "");
}

static int conn_error_interface_not_found(struct varlink_conn *conn, const char *interface)
{
        return conn_error_string(conn, VARLINK_ERROR_INTERFACE_NOT_FOUND, "interface", interface);
}

/* ---- org.varlink.service ---- */

/* The first parameter not in allowed (a NULL-terminated list), or NULL. */
static const char *unknown_parameter(struct json_object *parameters, const char *const *allowed)
{
        struct json_object_iterator it = json_object_iter_begin(parameters);
        struct json_object_iterator end = json_object_iter_end(parameters);

        for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
                const char *key = json_object_iter_peek_name(&it);
                bool known = false;

                for (const char *const *a = allowed; *a; a++)
                        if (strcmp(key, *a) == 0)
                                known = true;
                if (!known)
                        return key;
        }
        return NULL;
}

static struct json_object *service_info_new(const struct varlink_server *s)
{
        _cleanup_json_ struct json_object *p = json_object_new_object();
        _cleanup_json_ struct json_object *interfaces = json_object_new_array();
        const char *names[] = {SERVICE_INTERFACE, s->interface_name};

        if (!p || !interfaces)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                struct json_object *name = json_object_new_string(names[i]);
                if (!name || json_object_array_add(interfaces, name) < 0) {
                        json_object_put(name);
                        return NULL;
                }
        }
        if (json_add(p, "vendor", json_object_new_string(s->vendor)) < 0 ||
            json_add(p, "product", json_object_new_string(s->product)) < 0 ||
            json_add(p, "version", json_object_new_string(s->version)) < 0 ||
            json_add(p, "url", json_object_new_string(s->url)) < 0 ||
            json_add(p, "interfaces", TAKE_PTR(interfaces)) < 0)
                return NULL;
        return TAKE_PTR(p);
}

static void service_get_info(struct varlink_conn *conn, const struct varlink_call *call)
{
        static const char *const allowed[] = {NULL};
        struct json_object *p;
        const char *bad;

        bad = unknown_parameter(call->parameters, allowed);
        if (bad) {
                (void)varlink_conn_error_invalid_parameter(conn, bad);
                return;
        }
        p = service_info_new(conn->server);
        if (!p) {
                (void)conn_answer(conn, NULL, NULL, 0);
                return;
        }
        (void)varlink_conn_reply(conn, p, NULL, 0);
}

static void service_get_interface_description(struct varlink_conn *conn, const struct varlink_call *call)
{
        static const char *const allowed[] = {"interface", NULL};
        struct varlink_server *s = conn->server;
        struct json_object *v, *p;
        const char *bad, *name, *description;

        bad = unknown_parameter(call->parameters, allowed);
        if (bad) {
                (void)varlink_conn_error_invalid_parameter(conn, bad);
                return;
        }
        if (!json_object_object_get_ex(call->parameters, "interface", &v) ||
            !json_object_is_type(v, json_type_string)) {
                (void)varlink_conn_error_invalid_parameter(conn, "interface");
                return;
        }
        name = json_object_get_string(v);
        if (strcmp(name, SERVICE_INTERFACE) == 0)
                description = service_description;
        else if (strcmp(name, s->interface_name) == 0)
                description = s->interface_description;
        else {
                (void)conn_error_interface_not_found(conn, name);
                return;
        }

        p = json_object_new_object();
        if (!p || json_add(p, "description", json_object_new_string(description)) < 0) {
                json_object_put(p);
                (void)conn_answer(conn, NULL, NULL, 0);
                return;
        }
        (void)varlink_conn_reply(conn, p, NULL, 0);
}

static void conn_dispatch_call(struct varlink_conn *conn, bool bad_parameters)
{
        struct varlink_server *s = conn->server;
        const struct varlink_call *call = &conn->call;
        const char *method = call->method, *dot;
        _cleanup_free_ char *interface = NULL;

        if (bad_parameters) {
                (void)varlink_conn_error_invalid_parameter(conn, "parameters");
                return;
        }

        if (strncmp(method, SERVICE_PREFIX, strlen(SERVICE_PREFIX)) == 0) {
                const char *name = method + strlen(SERVICE_PREFIX);

                if (strcmp(name, "GetInfo") == 0)
                        service_get_info(conn, call);
                else if (strcmp(name, "GetInterfaceDescription") == 0)
                        service_get_interface_description(conn, call);
                else
                        (void)varlink_conn_error_method_not_found(conn, method);
                return;
        }

        /* "Interface.Method": a name without both parts names no method. */
        dot = strrchr(method, '.');
        if (!dot || dot == method || dot[1] == 0) {
                (void)varlink_conn_error_method_not_found(conn, method);
                return;
        }
        interface = strndup(method, (size_t)(dot - method));
        if (!interface) {
                (void)conn_answer(conn, NULL, NULL, 0);
                return;
        }
        if (strcmp(interface, s->interface_name) != 0) {
                (void)conn_error_interface_not_found(conn, interface);
                return;
        }
        if (!s->on_call) {
                (void)varlink_conn_error_method_not_found(conn, method);
                return;
        }
        s->on_call(conn, call, s->userdata);
}

/* ---- server ---- */

static int on_accept_retry(sd_event_source *es, uint64_t usec, void *userdata)
{
        struct varlink_server *s = userdata;

        (void)sd_event_source_set_enabled(s->listen_source, SD_EVENT_ON);
        return 0;
}

/* Out of fds or memory: accepting again at once would spin on the same
 * error while the connection waits in the backlog, so pause briefly. */
static void server_pause_accept(struct varlink_server *s)
{
        if (sd_event_source_set_time_relative(s->accept_retry, ACCEPT_RETRY_USEC) < 0 ||
            sd_event_source_set_enabled(s->accept_retry, SD_EVENT_ONESHOT) < 0)
                return;
        (void)sd_event_source_set_enabled(s->listen_source, SD_EVENT_OFF);
}

static int on_listen_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct varlink_server *s = userdata;

        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                int cfd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (cfd < 0) {
                        if (errno == EAGAIN)
                                break;
                        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM)
                                continue;
                        /* EMFILE, ENFILE, ENOBUFS, ENOMEM, and anything
                         * unexpected: do not spin on it. */
                        server_pause_accept(s);
                        break;
                }
                (void)conn_new(s, cfd);
        }
        return 0;
}

static int strdup_or_empty(const char *src, char **ret)
{
        char *p = strdup(src ?: "");

        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

void varlink_server_set_limits(struct varlink_server *s, const struct varlink_limits *limits)
{
        if (!s || !limits)
                return;
        s->limits = (struct varlink_limits){
            .max_connections = limits->max_connections ?: VARLINK_DEFAULT_MAX_CONNECTIONS,
            .max_connections_per_uid = limits->max_connections_per_uid ?: VARLINK_DEFAULT_MAX_CONNECTIONS_PER_UID,
            .output_high_water = limits->output_high_water ?: VARLINK_DEFAULT_OUTPUT_HIGH_WATER,
            .output_max = limits->output_max ?: VARLINK_DEFAULT_OUTPUT_MAX,
            .write_timeout_usec = limits->write_timeout_usec ?: VARLINK_DEFAULT_WRITE_TIMEOUT_USEC,
        };
}

int varlink_server_new(sd_event *event, int listen_fd, const struct varlink_server_info *info,
                       varlink_method_handler on_call, varlink_disconnect_handler on_disconnect,
                       void *userdata, struct varlink_server **ret)
{
        struct varlink_server *s;
        int flags, r;

        if (!event || listen_fd < 0 || !info || !ret)
                return -EINVAL;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->listen_fd = -1;
        s->event = sd_event_ref(event);
        s->on_call = on_call;
        s->on_disconnect = on_disconnect;
        s->userdata = userdata;
        varlink_server_set_limits(s, &(struct varlink_limits){});

        if ((r = strdup_or_empty(info->vendor, &s->vendor)) < 0 ||
            (r = strdup_or_empty(info->product, &s->product)) < 0 ||
            (r = strdup_or_empty(info->version, &s->version)) < 0 ||
            (r = strdup_or_empty(info->url, &s->url)) < 0 ||
            (r = strdup_or_empty(info->interface_name, &s->interface_name)) < 0 ||
            (r = strdup_or_empty(info->interface_description, &s->interface_description)) < 0)
                goto fail;

        /* Socket activation hands the fd over without O_NONBLOCK. */
        flags = fcntl(listen_fd, F_GETFL);
        if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
            fcntl(listen_fd, F_SETFD, FD_CLOEXEC) < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(event, &s->listen_source, listen_fd, EPOLLIN, on_listen_io, s);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(s->listen_source, "varlink-listen");
        /* Made now: out of fds, sd-event could not make the timerfd. */
        r = sd_event_add_time_relative(event, &s->accept_retry, CLOCK_MONOTONIC, ACCEPT_RETRY_USEC, 0,
                                       on_accept_retry, s);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_description(s->accept_retry, "varlink-accept-retry");
        r = sd_event_source_set_enabled(s->accept_retry, SD_EVENT_OFF);
        if (r < 0)
                goto fail;

        s->listen_fd = listen_fd;
        *ret = s;
        return 0;
fail:
        varlink_server_free(s);
        return r;
}

void varlink_server_set_send_fds_handler(struct varlink_server *s, varlink_send_fds_handler handler)
{
        s->on_send_fds = handler;
}

void varlink_server_free(struct varlink_server *s)
{
        if (!s)
                return;
        while (s->conns)
                conn_close(s->conns);
        sd_event_source_disable_unref(s->listen_source);
        sd_event_source_disable_unref(s->accept_retry);
        safe_close(s->listen_fd);
        sd_event_unref(s->event);
        free(s->vendor);
        free(s->product);
        free(s->version);
        free(s->url);
        free(s->interface_name);
        free(s->interface_description);
        quota_done(&s->conns_per_uid);
        free(s);
}

size_t varlink_server_n_connections(const struct varlink_server *s)
{
        return s ? s->n_conns : 0;
}

const struct varlink_peer *varlink_conn_peer(const struct varlink_conn *conn)
{
        return conn ? &conn->peer : NULL;
}

void varlink_conn_set_userdata(struct varlink_conn *conn, void *userdata)
{
        if (conn)
                conn->userdata = userdata;
}

void *varlink_conn_get_userdata(const struct varlink_conn *conn)
{
        return conn ? conn->userdata : NULL;
}

bool varlink_conn_is_open(const struct varlink_conn *conn)
{
        return conn && !conn->closed;
}

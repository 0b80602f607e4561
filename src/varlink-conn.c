/* SPDX-License-Identifier: MIT */

/* One connection: reading and framing input, the output queue and its
 * bounds, the write timeout, and dispatching one call at a time (see
 * varlink.h for the guarantees; docs/DESIGN.md, "The wire protocol", for
 * why the daemon never blocks on a client). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "json-util.h"
#include "varlink-internal.h"

#define INPUT_CHUNK 4096u
/* Room for one whole message and its NUL. */
#define INPUT_MAX (VARLINK_MAX_MESSAGE + 1u)
#define SEND_MAX_IOV 16

/* ---- lifetime ---- */

/* Fds that never reached the peer: closing the last fd of a TAP deletes
 * it, so they go to the server's handler (varlink_server_set_close_fds_handler()). */
void varlink_conn_close_fds(struct varlink_conn *conn, int *fds, size_t n)
{
        if (n > 0 && conn && conn->close_fds)
                conn->close_fds(fds, n, conn->close_fds_userdata);
        else
                close_many(fds, n);
}

/* The fds ride on a message's first byte: once any of it was sent, the
 * peer has them and ours are copies. */
static void out_msg_free(struct varlink_conn *conn, struct out_msg *m)
{
        if (!m)
                return;
        if (m->sent > 0)
                close_many(m->fds, m->n_fds);
        else
                varlink_conn_close_fds(conn, m->fds, m->n_fds);
        free(m->fds);
        free(m);
}

static void conn_free_output(struct varlink_conn *conn)
{
        struct varlink_server *s = conn->server;
        struct out_msg *m;

        while ((m = QUEUE_POP(&conn->out))) {
                if (m->announced && m->n_fds > 0 && s && s->on_send_fds)
                        (void)s->on_send_fds(m->fds, m->n_fds, false, s->userdata);
                out_msg_free(conn, m);
        }
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

void varlink_conn_close(struct varlink_conn *conn)
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

        varlink_server_detach(s, conn);
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

/* ---- input ---- */

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
                char buf[CMSG_SPACE(sizeof(int) * VARLINK_SCM_MAX_FDS)];
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

/* ---- output ---- */

static int conn_arm_write_timer(struct varlink_conn *conn, bool progress);

static void conn_consume_output(struct varlink_conn *conn, size_t n)
{
        conn->out_bytes -= n;
        while (n > 0) {
                struct out_msg *m = conn->out.head;
                size_t k = MIN(n, m->size - m->sent);

                m->sent += k;
                n -= k;
                if (m->sent < m->size)
                        break;
                out_msg_free(conn, QUEUE_POP(&conn->out));
        }
}

/* Puts head's fds into mh's control buffer, telling the send-fds handler
 * first (once: a sendmsg that fails with EAGAIN is tried again later). */
static int conn_attach_fds(struct varlink_conn *conn, struct out_msg *head, struct msghdr *mh, void *control,
                           size_t control_size)
{
        struct varlink_server *s = conn->server;
        size_t len = sizeof(int) * head->n_fds;
        struct cmsghdr *c;

        if (s->on_send_fds && !head->announced) {
                int r = s->on_send_fds(head->fds, head->n_fds, true, s->userdata);
                if (r < 0)
                        return r;
                head->announced = true;
        }

        memset(control, 0, control_size);
        mh->msg_control = control;
        mh->msg_controllen = CMSG_SPACE(len);
        c = CMSG_FIRSTHDR(mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(len);
        memcpy(CMSG_DATA(c), head->fds, len);
        return 0;
}

/* Sends what the socket takes. A message's fds ride on the sendmsg that
 * starts at its first byte, so a message with fds always starts a sendmsg
 * of its own, and later messages with fds are not gathered into it. */
static int conn_flush(struct varlink_conn *conn)
{
        bool progress = false;

        while (conn->out.head) {
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int) * VARLINK_SCM_MAX_FDS)];
                } control;
                struct iovec iov[SEND_MAX_IOV];
                struct msghdr mh = {.msg_iov = iov};
                struct out_msg *head = conn->out.head;
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
                        int r = conn_attach_fds(conn, head, &mh, &control, sizeof(control));
                        if (r < 0)
                                return r;
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

        varlink_conn_close(conn);
        return 0;
}

/* The timer runs while output waits and restarts whenever the peer takes
 * some of it: it measures how long the peer has not read. */
static int conn_arm_write_timer(struct varlink_conn *conn, bool progress)
{
        struct varlink_server *s = conn->server;
        int r;

        if (!conn->out.head) {
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

/* Queues one message; the process source sends it from the event loop, so
 * that a handler replying is never re-entered. Takes fds. */
static int conn_enqueue(struct varlink_conn *conn, struct json_object *msg, int *fds, size_t n_fds)
{
        const size_t output_max = conn->server->limits.output_max;
        const char *text;
        struct out_msg *m;
        size_t size;

        text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text) {
                varlink_conn_close_fds(conn, fds, n_fds);
                return -ENOMEM;
        }
        size = strlen(text) + 1;
        if (size > output_max - MIN(conn->out_bytes, output_max)) {
                varlink_conn_close_fds(conn, fds, n_fds);
                return -ENOBUFS;
        }

        m = malloc(sizeof(*m) + size);
        if (!m) {
                varlink_conn_close_fds(conn, fds, n_fds);
                return -ENOMEM;
        }
        *m = (struct out_msg){.size = size};
        memcpy(m->data, text, size);
        if (n_fds > 0) {
                m->fds = malloc(n_fds * sizeof(int));
                if (!m->fds) {
                        free(m);
                        varlink_conn_close_fds(conn, fds, n_fds);
                        return -ENOMEM;
                }
                memcpy(m->fds, fds, n_fds * sizeof(int));
                m->n_fds = n_fds;
        }

        QUEUE_PUSH(&conn->out, m);
        conn->out_bytes += size;
        return 0;
}

int varlink_conn_answer(struct varlink_conn *conn, struct json_object *msg, int *fds, size_t n_fds)
{
        int r = 0;

        conn->call_pending = false;
        conn_schedule(conn);
        if (conn->call.oneway) {
                varlink_conn_close_fds(conn, fds, n_fds);
                return 0;
        }
        if (!msg) {
                varlink_conn_close_fds(conn, fds, n_fds);
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
        if (conn->out.head && !conn->out.head->next && conn_flush(conn) < 0)
                conn->drop = true;
        return 0;
}

int varlink_conn_continue(struct varlink_conn *conn, struct json_object *msg)
{
        const struct varlink_limits *l = &conn->server->limits;
        int r;

        /* A stream cannot be paused the way reading calls can: a peer that
         * lets the output pass the high-water mark is not keeping up and
         * goes. What a method sends while it handles the call (a snapshot)
         * is bounded by output_max alone. */
        if (!msg)
                r = -ENOMEM;
        else if (!conn->dispatching && conn->out_bytes > l->output_high_water)
                r = -ENOBUFS;
        else
                r = conn_enqueue(conn, msg, NULL, 0);
        conn_schedule(conn);
        if (r < 0) {
                conn->call_pending = false;
                conn->drop = true;
                return r;
        }
        if (conn->out.head && !conn->out.head->next && conn_flush(conn) < 0)
                conn->drop = true;
        return 0;
}

/* ---- flow control and dispatch ---- */

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
                varlink_conn_close(conn);
                return;
        }
        l = &conn->server->limits;
        has_message = conn_has_message(conn);
        if (conn->read_eof && !conn->call_pending && !has_message && !conn->out.head) {
                varlink_conn_close(conn);
                return;
        }

        may_read = !conn->call_pending && conn->out_bytes <= l->output_high_water;
        if (may_read && !has_message && !conn->read_eof)
                events |= EPOLLIN;
        if (conn->out.head)
                events |= EPOLLOUT;
        if (sd_event_source_set_io_events(conn->io_source, events) < 0) {
                varlink_conn_close(conn);
                return;
        }
        if (may_read && has_message)
                conn_schedule(conn);
}

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
        r = varlink_parse_message(conn->in + conn->in_start, len, &call, &bad_parameters);
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
        conn->dispatching = true;
        varlink_dispatch_call(conn, bad_parameters);
        conn->dispatching = false;
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
        if (r >= 0 && !conn->closed && conn->out.head)
                r = conn_flush(conn);
        return r;
}

/* Ends an event source's turn, r being how its I/O went: unless that
 * failed, answers at once what can be answered at once (every trip through
 * the event loop is an epoll_wait that re-reports every ready fd); then
 * closes the connection on failure, or recomputes what it waits for. */
static void conn_end_turn(struct varlink_conn *conn, int r)
{
        if (r >= 0 && !conn->closed)
                r = conn_serve(conn);
        if (r < 0)
                varlink_conn_close(conn);
        else
                conn_update(conn);
}

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
        conn_end_turn(conn, r);
        return 0;
}

static int on_conn_process(sd_event_source *es, void *userdata)
{
        _cleanup_conn_unref_ struct varlink_conn *conn = varlink_conn_ref(userdata);

        conn_end_turn(conn, conn_flush(conn));
        return 0;
}

int varlink_conn_new(struct varlink_server *s, int fd, struct varlink_peer *peer, struct varlink_conn **ret)
{
        struct varlink_conn *conn;
        int r;

        conn = calloc(1, sizeof(*conn));
        if (!conn) {
                free(peer->groups);
                peer->groups = NULL;
                safe_close(fd);
                return -ENOMEM;
        }
        conn->n_ref = 1;
        conn->fd = fd;
        conn->server = s;
        conn->close_fds = s->close_fds;
        conn->close_fds_userdata = s->close_fds_userdata;
        conn->peer = *peer;
        peer->groups = NULL;

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
        *ret = conn;
        return 0;
fail:
        conn_free(conn);
        return r;
}

/* ---- accessors ---- */

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

/* SPDX-License-Identifier: MIT */
#pragma once

/* What the varlink-*.c files share and nobody else sees. The public API is
 * varlink.h; the files split it along its seams:
 *   varlink-parse.c    one message into a call: JSON, UTF-8, shape (pure)
 *   varlink-conn.c     a connection: input, output queue, flow control,
 *                      dispatching one call at a time
 *   varlink-reply.c    the messages a call is answered with
 *   varlink-service.c  org.varlink.service, and routing a call to it, to
 *                      the server's interface or to InterfaceNotFound
 *   varlink-server.c   the listening socket: accept, limits, per-uid caps */

#include "macro.h"
#include "quota.h"
#include "varlink.h"

/* The kernel's SCM_MAX_FD: the most fds one SCM_RIGHTS message carries. */
#define VARLINK_SCM_MAX_FDS 253

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
        LIST_FIELDS(struct varlink_conn, conns);
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

        QUEUE(struct out_msg) out;
        size_t out_bytes;

        struct varlink_call call;
        bool call_pending;
        bool dispatching; /* inside the method handler of conn->call */
        bool drop;        /* a reply could not be queued: close at the next chance */
        bool closed;
        /* The server's close_fds handler, kept past the close: a reply
         * to a connection that went has fds that never left. */
        varlink_close_fds_handler close_fds;
        void *close_fds_userdata;
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
        varlink_close_fds_handler close_fds;
        void *close_fds_userdata;
        struct varlink_conn *conns; /* LIST_* on conns */
        size_t n_conns;
        size_t n_conns_unprivileged; /* of uids other than root */
        struct quota conns_per_uid;
        struct varlink_limits limits;
};

/* varlink-parse.c: varlink_parse_call() for the server. Parameters that
 * are neither an object nor null make a call with {} and set
 * *ret_bad_parameters, so that the server can answer InvalidParameter
 * instead of ending the connection. */
int varlink_parse_message(const char *msg, size_t len, struct varlink_call *ret, bool *ret_bad_parameters);

/* varlink-conn.c */

/* A connection on fd from peer, not yet counted by the server. Takes fd and
 * peer->groups (leaving NULL there), releasing both on failure. */
int varlink_conn_new(struct varlink_server *s, int fd, struct varlink_peer *peer, struct varlink_conn **ret);
/* Ends the connection: everything queued (fds included) is dropped, the
 * server forgets it, the owner hears once, and the server's reference
 * goes. Never called from inside the reply functions, so a handler is not
 * re-entered. */
void varlink_conn_close(struct varlink_conn *conn);
/* Completes the pending call with msg (NULL: building it failed), sent
 * unless the call was oneway. Takes fds, not msg. A message that cannot be
 * queued marks the connection to be dropped, as the client would wait
 * forever for it: -ENOMEM, -ENOBUFS. */
int varlink_conn_answer(struct varlink_conn *conn, struct json_object *msg, int *fds, size_t n_fds);
/* Closes fds of a reply that never left, by the server's close_fds
 * handler if it has one. conn may be NULL. */
void varlink_conn_close_fds(struct varlink_conn *conn, int *fds, size_t n);
/* Queues msg (NULL: building it failed) as one more reply of the pending
 * streaming call, which stays pending. Outside the method handler the
 * queued output must be below the high-water mark; a message that cannot
 * be queued ends the call and marks the connection to be dropped:
 * -ENOMEM, -ENOBUFS. */
int varlink_conn_continue(struct varlink_conn *conn, struct json_object *msg);

/* varlink-reply.c */

/* Completes the pending call after an allocation failed: the connection is
 * dropped. -ENOMEM. */
int varlink_conn_fail(struct varlink_conn *conn);
int varlink_conn_error_interface_not_found(struct varlink_conn *conn, const char *interface);

/* varlink-service.c: answers the connection's pending call (conn->call):
 * org.varlink.service here, the server's interface through its handler,
 * anything else with an error. */
void varlink_dispatch_call(struct varlink_conn *conn, bool bad_parameters);

/* varlink-server.c: takes the closing conn off the server's list and
 * counts. */
void varlink_server_detach(struct varlink_server *s, struct varlink_conn *conn);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "protocol.h"

/* Varlink server transport (docs/DESIGN.md, "The wire protocol"):
 * NUL-framed JSON over SOCK_STREAM, SCM_RIGHTS on the sendmsg that carries
 * a reply's first byte. Knows nothing of TAPs: it hands parsed calls to one
 * callback and sends what it is given.
 *
 * A connection handles one call at a time: the next pipelined request is
 * not parsed until the current one is answered, so replies leave in request
 * order and a method may answer later (after an nft batch commits, a device
 * deletion finishes) by keeping a reference to the connection. Input is
 * bounded (VARLINK_MAX_MESSAGE per message, from protocol.h); output is
 * bounded per connection and a peer that stops reading is dropped, never
 * waited for. The org.varlink.service interface (GetInfo,
 * GetInterfaceDescription) is answered here from the description passed
 * in. The VARLINK_ERROR_* names are in protocol.h. */

#define VARLINK_MAX_DEPTH 32

struct varlink_server;
struct varlink_conn;

struct varlink_peer {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t *groups; /* SO_PEERGROUPS, supplementary groups */
        size_t n_groups;
};

/* A parsed call. `parameters` is always an object (absent and null become
 * {}); `more` and `oneway` are the call's flags. */
struct varlink_call {
        char *method;                   /* "io.taplinkd.Acquire" */
        struct json_object *parameters; /* owned by the call */
        bool more;
        bool oneway;
};

/* Pure: parses one message (len bytes, without the NUL) into a call.
 * -EBADMSG when it is not JSON (UTF-8 is validated, nesting deeper than
 * VARLINK_MAX_DEPTH is refused, anything but whitespace after the object is
 * refused), not an object, lacks a non-empty string "method", has "more" or
 * "oneway" that is not a boolean (or both true), or has "parameters" that is
 * not an object or null; -EMSGSIZE above VARLINK_MAX_MESSAGE. Other keys
 * ("upgrade" included) are ignored. Duplicate keys: json-c keeps the last.
 * Used by the server and by the fuzzer. */
int varlink_parse_call(const char *msg, size_t len, struct varlink_call *ret);
void varlink_call_done(struct varlink_call *call);

/* Called for every call to a method of info->interface_name (the server
 * answers org.varlink.service itself, InterfaceNotFound for any other
 * interface, and InvalidParameter {"parameter": "parameters"} when the
 * parameters are neither an object nor null). The handler answers now or
 * later with varlink_conn_reply()/varlink_conn_error(); until it does, the
 * connection reads no further call. conn stays valid while the handler holds
 * a reference (varlink_conn_ref); call stays valid until the answered
 * handler has returned to the event loop (and, unanswered, as long as conn
 * does). A "oneway" call gets no reply. A call with "more" may stream:
 * any number of varlink_conn_reply_continues(), then one final
 * varlink_conn_reply() or varlink_conn_error(); a method that does not
 * stream answers it with its single reply, without "continues". A stream
 * holds the call, so the connection reads nothing more until it ends; when
 * the connection closes first, on_disconnect tells the method. */
typedef void (*varlink_method_handler)(struct varlink_conn *conn, const struct varlink_call *call,
                                       void *userdata);
/* Called once when a connection goes away (peer closed, protocol error,
 * dropped, varlink_server_free), before its memory is released, so a
 * handler holding a pending call can forget it. conn is already closed. */
typedef void (*varlink_disconnect_handler)(struct varlink_conn *conn, void *userdata);

struct varlink_server_info {
        const char *vendor, *product, *version, *url;
        const char *interface_name;        /* "io.taplinkd" */
        const char *interface_description; /* the IDL text */
};

/* Bounds of one server; 0 in a field of varlink_server_set_limits() selects
 * the default. A uid other than root holds at most max_connections_per_uid
 * connections, and all of them together at most max_connections; past that
 * a new connection is accepted and closed at once. Root is never refused, so
 * that no flood from another uid locks out the administrator. Calls are
 * not read while more than output_high_water bytes wait to be sent; a
 * connection is dropped when its queued output would pass output_max, or
 * when output has waited write_timeout_usec without the peer reading any
 * of it. */
struct varlink_limits {
        size_t max_connections;
        size_t max_connections_per_uid;
        size_t output_high_water;
        size_t output_max;
        uint64_t write_timeout_usec;
};
#define VARLINK_DEFAULT_MAX_CONNECTIONS 4096u
#define VARLINK_DEFAULT_MAX_CONNECTIONS_PER_UID 1024u /* as systemd's sd-varlink */
#define VARLINK_DEFAULT_OUTPUT_HIGH_WATER (256u * 1024u)
#define VARLINK_DEFAULT_OUTPUT_MAX (64u * 1024u * 1024u)
#define VARLINK_DEFAULT_WRITE_TIMEOUT_USEC (10u * 1000u * 1000u)

/* Serves on listen_fd: takes ownership on success (the fd is made
 * non-blocking and close-on-exec); on failure the caller still owns it.
 * info's strings are copied. A peer that hangs up entirely (EPOLLHUP) is
 * disconnected at once, and calls it left unread are not run; one that only
 * shuts down its writing side gets the replies to every call it sent. */
int varlink_server_new(sd_event *event, int listen_fd, const struct varlink_server_info *info,
                       varlink_method_handler on_call, varlink_disconnect_handler on_disconnect,
                       void *userdata, struct varlink_server **ret);
/* Closes every connection, calling on_disconnect for each (pending calls
 * are not answered; a later reply gets -ENOTCONN), and the listening
 * socket. */
void varlink_server_free(struct varlink_server *s);
void varlink_server_set_limits(struct varlink_server *s, const struct varlink_limits *limits);
size_t varlink_server_n_connections(const struct varlink_server *s);

/* Called with sending = true right before the sendmsg that hands a reply's
 * fds to the peer (the fds still owned by the server); a negative return
 * drops the connection instead. Called again with sending = false if those
 * fds end up closed unsent after all (the sendmsg failed, the connection
 * went). It lets the owner commit to the peer having the fds only when it
 * really gets them: taplinkd makes a persistent TAP persistent here, so that
 * a reply that never leaves (the peer went away, the daemon stopped) leaves
 * no device behind. */
typedef int (*varlink_send_fds_handler)(const int *fds, size_t n_fds, bool sending, void *userdata);
void varlink_server_set_send_fds_handler(struct varlink_server *s, varlink_send_fds_handler handler);

/* Closes fds of a reply that never reached the peer (the connection went,
 * or the reply could not be queued); without one they are closed at once.
 * taplinkd hands them to its reaper: closing a TAP's last fd deletes the
 * device, ~20 ms inside close(), which the event loop must not wait for.
 * Takes the fds. */
typedef void (*varlink_close_fds_handler)(int *fds, size_t n_fds, void *userdata);
void varlink_server_set_close_fds_handler(struct varlink_server *s, varlink_close_fds_handler handler,
                                          void *userdata);

const struct varlink_peer *varlink_conn_peer(const struct varlink_conn *conn);
void varlink_conn_set_userdata(struct varlink_conn *conn, void *userdata);
void *varlink_conn_get_userdata(const struct varlink_conn *conn);
struct varlink_conn *varlink_conn_ref(struct varlink_conn *conn);
struct varlink_conn *varlink_conn_unref(struct varlink_conn *conn);
/* false once the connection has been closed (the reply would go nowhere). */
bool varlink_conn_is_open(const struct varlink_conn *conn);

/* Replies to the pending call. Takes ownership of parameters (may be NULL
 * for {}) and of fds[0..n_fds-1]: they are sent as SCM_RIGHTS with the
 * reply's first byte and then closed, or closed unsent if the connection is
 * gone (-ENOTCONN) or fails. For oneway calls nothing is sent. Errors:
 * -ENOTCONN: the connection is closed.
 * -EINVAL: no call is pending (none came, or it was answered already), or
 *   parameters is not an object (the call then stays pending).
 * -E2BIG: more than 253 fds (the call stays pending).
 * -ENOBUFS (queued output would pass output_max), -ENOMEM: the call is
 *   over and the connection is dropped from the event loop. */
int varlink_conn_reply(struct varlink_conn *conn, struct json_object *parameters, int *fds, size_t n_fds);
/* One reply of a streaming call: {"parameters": ..., "continues": true}.
 * The call stays pending; the final reply (varlink_conn_reply(),
 * varlink_conn_error()) ends the stream, and so does the connection's close
 * (on_disconnect). Takes ownership of parameters (may be NULL for {}).
 * Replies sent from inside the method handler (a snapshot of the current
 * state) are bounded by output_max like any reply; a later one finding more
 * than output_high_water bytes still queued drops the connection: a stream
 * cannot stop while the peer catches up, the way reading calls does, and a
 * peer that falls that far behind is a slow client. Errors:
 * -ENOTCONN: the connection is closed.
 * -EINVAL: no call is pending, the call was made without "more", or
 *   parameters is not an object (the call then stays pending).
 * -ENOBUFS, -ENOMEM: the call is over and the connection is dropped. */
int varlink_conn_reply_continues(struct varlink_conn *conn, struct json_object *parameters);
/* Replies with {"error": name, "parameters": parameters}. Takes ownership of
 * parameters (may be NULL). */
int varlink_conn_error(struct varlink_conn *conn, const char *error, struct json_object *parameters);
/* Shortcuts for org.varlink.service.InvalidParameter {parameter} etc. */
int varlink_conn_error_invalid_parameter(struct varlink_conn *conn, const char *parameter);
int varlink_conn_error_method_not_found(struct varlink_conn *conn, const char *method);

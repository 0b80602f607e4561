/* SPDX-License-Identifier: MIT */
#pragma once

/* libtaplink's insides, shared by its files and its unit tests; nothing here
 * is exported (the objects are built with -fvisibility=hidden and only what
 * is marked _public_ reaches the version script's tl_* list). */

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "json-util.h"
#include "macro.h"
#include "protocol.h"
#include "taplink.h"

#define _public_ __attribute__((visibility("default")))

/* A List of 10,000 slots is a few MB of JSON; anything past this is not a
 * reply taplinkd would send, and must not make the client eat memory. */
#define TL_MAX_REPLY (64u * 1024u * 1024u)

/* SCM_MAX_FD: the kernel never passes more than this in one message. */
#define TL_MAX_FDS 253

struct tl_client {
        int fd;
        char *path;
        bool broken;    /* stream out of sync or closed: every further call fails */
        bool streaming; /* a call with "more" is running (tl_monitor_start) */

        /* Received bytes not yet consumed: [0, rbuf_len). */
        char *rbuf;
        size_t rbuf_len, rbuf_size;
        size_t max_reply;

        /* The last failed call, or all NULL. */
        char *error_name;
        char *error_parameters;
        char *error_message;
};

/* A reply as the transport hands it over: the parsed message and the fds
 * that came with it. */
struct tl_reply {
        json_object *message;    /* the whole reply object */
        json_object *parameters; /* borrowed from message; never NULL */
        const char *error;       /* borrowed; NULL unless an error reply */
        bool continues;          /* more replies follow (a streaming call) */
        int fds[TL_MAX_FDS];
        size_t n_fds;
};

void tlp_reply_done(struct tl_reply *r);

/* Internal functions carry the tlp_ prefix: libtaplink.a is linked into
 * programs with their own symbols, and must not clash with them. */

/* client.c */
int tlp_client_new_from_fd(int fd, const char *path, tl_client **ret);
void tlp_client_set_max_reply(tl_client *c, size_t max);
int tlp_client_error(tl_client *c, int err, const char *fmt, ...) _printf_(3, 4);
void tlp_client_clear_error(tl_client *c);
/* Sends one call and reads its reply. A Varlink error reply returns its
 * errno (see taplink.h) and records name, parameters and message; the fds of
 * an error reply are closed. */
int tlp_client_call(tl_client *c, const char *method, json_object *parameters, struct tl_reply *ret);
int tlp_varlink_error_to_errno(const char *name, json_object *parameters);
/* Sends a call with "more" and returns: its replies come with
 * tlp_client_next(), and other calls fail with -EBUSY until the last. */
int tlp_client_stream(tl_client *c, const char *method, json_object *parameters);
/* The streaming call's next reply, waiting up to timeout_ms (-1: no limit;
 * -ETIMEDOUT, -EINTR: none yet, the stream goes on). The stream is over
 * after a reply without "continues" and after any failure. */
int tlp_client_next(tl_client *c, int timeout_ms, struct tl_reply *ret);

/* methods.c: Acquire with the members of more (or NULL) added to its
 * parameters. */
int tlp_acquire(tl_client *c, const tl_acquire_options *opts, json_object *more, tl_slot **ret);

/* wire.c: framing only, no knowledge of methods */
int tlp_wire_send(int fd, const char *msg, size_t len);
/* Reads until the buffer holds a complete message; fds that arrive meanwhile
 * are appended to fds[]/n_fds. On success *ret_len is the message length
 * without its NUL, the message starts at c->rbuf. */
int tlp_wire_receive(tl_client *c, int *fds, size_t *n_fds, size_t *ret_len);

/* slot.c */
struct tl_net {
        const char *subnet, *gateway, *guest;
        unsigned prefix_length;
};

/* The Counters object's members, in the order of tl_slot.counters. */
#define TLP_COUNTERS 6
extern const char *const tlp_counter_keys[TLP_COUNTERS];

struct tl_slot {
        json_object *object; /* a reference; the strings below borrow from it */
        unsigned number;
        const char *ifname, *label, *mac, *kernel_ip_arg;
        uid_t owner_uid;
        unsigned mtu, queues;
        bool vnet_header, persistent;
        bool has_ipv6;
        struct tl_net ipv4, ipv6;
        int *fds;
        size_t n_fds;
        bool has_counters;
        uint64_t counters[TLP_COUNTERS]; /* in the order of tlp_counter_keys */
};

struct tl_slot_list {
        tl_slot *slots;
        size_t n_slots;
};

/* Fills *ret from a Slot object, taking a reference to it. On failure
 * *detail names what was wrong, for the error message. */
int tlp_slot_parse(json_object *o, tl_slot *ret, const char **ret_detail);
void tlp_slot_done(tl_slot *s);

/* Typed field access; -EBADMSG when missing or of the wrong type. */
int tlp_json_get_string(json_object *o, const char *key, const char **ret);
int tlp_json_get_uint(json_object *o, const char *key, uint64_t max, uint64_t *ret);
int tlp_json_get_bool(json_object *o, const char *key, bool *ret);

/* policy.c */
/* Checks a Slot's egress, allow and published members, when present; on
 * failure *ret_detail names the bad one. */
int tlp_slot_check_policy(json_object *o, const char **ret_detail);
/* The same for the Slot's clone member (clone.c). */
int tlp_slot_check_clone(json_object *o, const char **ret_detail);
/* Adds (a reference to) every member of from to o; -ENOMEM. */
int tlp_json_merge(json_object *o, json_object *from);

/* SPDX-License-Identifier: MIT */
#ifndef TAPLINK_H
#define TAPLINK_H

/* libtaplink: the client side of taplinkd's Varlink interface io.taplinkd.
 *
 * A VMM or sandbox manager connects, acquires a slot, takes the slot's TAP
 * queue fds and hands them to its virtio-net backend. Nothing here needs
 * privilege. Every call is blocking; a tl_client is not thread-safe (use one
 * per thread) and the library keeps no global state. Every fd it creates or
 * receives is close-on-exec.
 *
 * Errors are negative errno values. When the daemon answered with a Varlink
 * error, the call returns the errno listed below for that error, and
 * tl_client_error_name()/tl_client_error_parameters() give the daemon's words:
 *   io.taplinkd.PermissionDenied               -EPERM
 *   io.taplinkd.QuotaExceeded                  -EDQUOT
 *   io.taplinkd.NoSlotAvailable                -ENOSPC
 *   io.taplinkd.NoSuchSlot                     -ENOENT
 *   io.taplinkd.KernelError                    -(its errno), or -EIO
 *   org.varlink.service.InvalidParameter       -EINVAL
 *   org.varlink.service.MethodNotFound etc.    -EOPNOTSUPP
 *   any other error                            -EPROTO
 * A reply that is not valid Varlink is -EBADMSG; a connection the daemon
 * closed is -ECONNRESET. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TL_DEFAULT_SOCKET "/run/taplinkd/io.taplinkd"
#define TL_SOCKET_ENV "TAPLINK_SOCKET"

typedef struct tl_client tl_client;
typedef struct tl_slot tl_slot;
typedef struct tl_slot_list tl_slot_list;

/* ---- connection ---- */

/* Connects to path; NULL means $TAPLINK_SOCKET, or TL_DEFAULT_SOCKET. */
int tl_client_connect(const char *path, tl_client **ret);
void tl_client_free(tl_client *c);

/* The Varlink error name of the last failed call ("io.taplinkd.QuotaExceeded"),
 * or NULL when it failed locally. Valid until the next call on c. */
const char *tl_client_error_name(const tl_client *c);
/* The error's parameters as JSON text ("{\"limit\":64}"), or NULL. */
const char *tl_client_error_parameters(const tl_client *c);
/* A one-line description of the last error, always non-NULL after a failed
 * call: "io.taplinkd.KernelError: operation=TUNSETIFF errno=16 (Device or
 * resource busy)" or "connect /run/taplinkd/io.taplinkd: No such file or
 * directory". */
const char *tl_client_error_message(const tl_client *c);

/* ---- acquire ---- */

/* Options for tl_acquire(). Initialize with TL_ACQUIRE_OPTIONS_INIT (or
 * tl_acquire_options_init()); fields left at their initial value are not
 * sent, so the daemon's defaults apply. */
typedef struct tl_acquire_options {
        const char *label;  /* NULL: no label */
        unsigned mtu;       /* 0: daemon default */
        unsigned queues;    /* 0: 1 */
        int vnet_header;    /* -1: default (on), 0: off, 1: on */
        bool persistent;
} tl_acquire_options;

#define TL_ACQUIRE_OPTIONS_INIT { .label = NULL, .mtu = 0, .queues = 0, .vnet_header = -1, .persistent = false }
void tl_acquire_options_init(tl_acquire_options *o);

/* Acquires a slot. On success *ret holds the slot with its queue fds. */
int tl_acquire(tl_client *c, const tl_acquire_options *opts, tl_slot **ret);

/* Releases a slot (deletes its device even while a VMM holds it). */
int tl_release(tl_client *c, unsigned slot);

/* ---- list and status ---- */

int tl_list(tl_client *c, tl_slot_list **ret);
size_t tl_slot_list_size(const tl_slot_list *l);
/* Borrowed; valid until tl_slot_list_free(). Slots from List carry no fds. */
const tl_slot *tl_slot_list_get(const tl_slot_list *l, size_t i);
void tl_slot_list_free(tl_slot_list *l);

typedef struct tl_status {
        char version[64];
        unsigned slots_in_use;
        unsigned max_slots;
} tl_status;
int tl_status_get(tl_client *c, tl_status *ret);

/* ---- a slot ---- */

unsigned tl_slot_number(const tl_slot *s);
const char *tl_slot_ifname(const tl_slot *s);
const char *tl_slot_label(const tl_slot *s);
uid_t tl_slot_owner_uid(const tl_slot *s);
const char *tl_slot_mac(const tl_slot *s);            /* guest MAC, "02:74:6c:.." */
unsigned tl_slot_mtu(const tl_slot *s);
unsigned tl_slot_queues(const tl_slot *s);
bool tl_slot_vnet_header(const tl_slot *s);
bool tl_slot_persistent(const tl_slot *s);
const char *tl_slot_kernel_ip_arg(const tl_slot *s);

typedef enum tl_family { TL_IPV4 = 4, TL_IPV6 = 6 } tl_family;
/* false when the slot has no such network (IPv6 disabled). The strings are
 * borrowed from s. */
bool tl_slot_has_net(const tl_slot *s, tl_family family);
const char *tl_slot_subnet(const tl_slot *s, tl_family family);
const char *tl_slot_gateway(const tl_slot *s, tl_family family);
const char *tl_slot_guest(const tl_slot *s, tl_family family);
unsigned tl_slot_prefix_length(const tl_slot *s, tl_family family);

/* The slot as the daemon sent it, JSON text (borrowed). */
const char *tl_slot_json(const tl_slot *s);

/* Queue fds (Acquire only). tl_slot_fd() borrows; tl_slot_take_fd() hands
 * the fd over (the caller closes it) and leaves -1 in its place. Fds not
 * taken are closed by tl_slot_free(). */
size_t tl_slot_n_fds(const tl_slot *s);
int tl_slot_fd(const tl_slot *s, size_t queue);
int tl_slot_take_fd(tl_slot *s, size_t queue);

void tl_slot_free(tl_slot *s);

#ifdef __cplusplus
}
#endif

#endif

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
 *   io.taplinkd.PortInUse                      -EADDRINUSE
 *   org.varlink.service.InvalidParameter       -EINVAL
 *   org.varlink.service.MethodNotFound etc.    -EOPNOTSUPP
 *   any other error                            -EPROTO
 * A reply that is not valid Varlink, or does not match what was asked
 * (a field missing or of the wrong type, a fileDescriptors index with no fd
 * behind it, fds lost in transit), is -EBADMSG; a reply larger than 64 MiB
 * is -EMSGSIZE; a connection the daemon closed is -ECONNRESET. After a
 * failure that leaves the stream unusable (-ECONNRESET, -EMSGSIZE, fds lost,
 * a reply with data after it, any I/O error) every further call on the
 * client returns -ENOTCONN: connect again. Fds that came with a reply but
 * that the reply does not hand over are always closed. */

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

/* The socket tl_client_connect(path) connects to: path unless NULL or "",
 * else $TAPLINK_SOCKET unless unset or "" (ignored in set-uid programs),
 * else TL_DEFAULT_SOCKET. Borrowed: path itself, the environment's string,
 * or a constant. */
const char *tl_socket_path(const char *path);

/* Connects to tl_socket_path(path). Fails with connect()'s errno (-ENOENT:
 * no socket there, -ECONNREFUSED: nobody listening, -EACCES), or
 * -ENAMETOOLONG when the path does not fit a sockaddr_un. */
int tl_client_connect(const char *path, tl_client **ret);
void tl_client_free(tl_client *c);

/* The Varlink error name of the last failed call ("io.taplinkd.QuotaExceeded"),
 * or NULL when it failed locally (the daemon did not answer with an error).
 * Valid until the next call on c. */
const char *tl_client_error_name(const tl_client *c);
/* The error's parameters as JSON text ("{\"limit\":64}"), or NULL. */
const char *tl_client_error_parameters(const tl_client *c);
/* A one-line description of the last error, always non-NULL after a failed
 * call on c (other than one with an invalid argument, -EINVAL for a NULL c
 * or ret), NULL before any failure. Control characters from the daemon are
 * escaped. For example:
 *   "io.taplinkd.QuotaExceeded (limit=64)"
 *   "io.taplinkd.KernelError (operation=TUNSETIFF errno=16): Device or resource busy"
 *   "taplinkd closed the connection"
 *   "malformed reply: slot field mtu" */
const char *tl_client_error_message(const tl_client *c);

/* ---- acquire ---- */

/* Options for tl_acquire(). Initialize with TL_ACQUIRE_OPTIONS_INIT (or
 * tl_acquire_options_init()); fields left at their initial value are not
 * sent, so the daemon's defaults apply. */
typedef struct tl_acquire_options {
        const char *label; /* NULL: no label */
        unsigned mtu;      /* 0: daemon default */
        unsigned queues;   /* 0: 1 */
        int vnet_header;   /* -1: default (on), 0: off, 1: on */
        bool persistent;
} tl_acquire_options;

#define TL_ACQUIRE_OPTIONS_INIT                                                              \
        {                                                                                    \
                .label = NULL, .mtu = 0, .queues = 0, .vnet_header = -1, .persistent = false \
        }
void tl_acquire_options_init(tl_acquire_options *o);

/* Acquires a slot. On success *ret holds the slot with its queue fds (as
 * many as tl_slot_queues(), in queue order). A non-persistent slot lives as
 * long as any of these fds is open, here or in a process they were passed
 * to. */
int tl_acquire(tl_client *c, const tl_acquire_options *opts, tl_slot **ret);

/* Releases a slot (deletes its device even while a VMM holds it). */
int tl_release(tl_client *c, unsigned slot);

/* ---- list and status ---- */

int tl_list(tl_client *c, tl_slot_list **ret);
/* tl_list() with flags (0: the same as tl_list()). TL_LIST_COUNTERS: each
 * slot carries its counters (tl_slot_has_counters()), read by the daemon
 * from one kernel dump for all slots. An unknown flag is -EINVAL. */
#define TL_LIST_COUNTERS (1u << 0)
int tl_list_ex(tl_client *c, unsigned flags, tl_slot_list **ret);
size_t tl_slot_list_size(const tl_slot_list *l);
/* Borrowed; valid until tl_slot_list_free(); NULL when i is out of range.
 * Slots from List carry no fds. Non-root callers get only their own slots. */
const tl_slot *tl_slot_list_get(const tl_slot_list *l, size_t i);
void tl_slot_list_free(tl_slot_list *l);

typedef struct tl_status {
        char version[64]; /* a longer one makes the reply malformed */
        unsigned slots_in_use;
        unsigned max_slots;
} tl_status;
/* Status answers every client, even one not allowed anything else. */
int tl_status_get(tl_client *c, tl_status *ret);

/* ---- a slot ----
 * Accessors accept NULL (and return NULL, 0, false or (uid_t)-1). Strings
 * are borrowed from the slot and valid until it is freed. Every field was
 * checked on arrival: strings hold no control characters, addresses parse,
 * the MAC is six hex octets. */

unsigned tl_slot_number(const tl_slot *s);
const char *tl_slot_ifname(const tl_slot *s);
const char *tl_slot_label(const tl_slot *s);
uid_t tl_slot_owner_uid(const tl_slot *s);
const char *tl_slot_mac(const tl_slot *s); /* guest MAC, "02:74:6c:.." */
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

/* Counters, from tl_list_ex(TL_LIST_COUNTERS) only (all 0 otherwise, and
 * tl_slot_has_counters() false). The guest's view: "sent" is what the
 * guest sent (the TAP's rx on the host), "received" what it was sent.
 * dropped_spoofed: packets dropped because their source was not the
 * guest's address; dropped_policy: packets dropped by the slot's egress
 * policy (always 0 in this version). */
bool tl_slot_has_counters(const tl_slot *s);
uint64_t tl_slot_guest_sent_bytes(const tl_slot *s);
uint64_t tl_slot_guest_sent_packets(const tl_slot *s);
uint64_t tl_slot_guest_received_bytes(const tl_slot *s);
uint64_t tl_slot_guest_received_packets(const tl_slot *s);
uint64_t tl_slot_dropped_spoofed(const tl_slot *s);
uint64_t tl_slot_dropped_policy(const tl_slot *s);

/* The Slot object as the daemon sent it (same members, same order), as
 * compact JSON text. Borrowed: valid until the slot is freed. */
const char *tl_slot_json(const tl_slot *s);

/* Queue fds (Acquire only; 0 for slots from List). tl_slot_fd() borrows;
 * tl_slot_take_fd() hands the fd over (the caller closes it). Both return
 * -EINVAL for a queue out of range and -EBADF for one already taken. Fds
 * not taken are closed by tl_slot_free(). */
size_t tl_slot_n_fds(const tl_slot *s);
int tl_slot_fd(const tl_slot *s, size_t queue);
int tl_slot_take_fd(tl_slot *s, size_t queue);

void tl_slot_free(tl_slot *s);

/* ---- egress policy and published ports (since LIBTAPLINK_0.2) ----
 * A slot's egress mode ("none", "host", "public", "internet"), the
 * destinations it may reach beyond that mode, and the host ports forwarded
 * to it; docs/io.taplinkd.varlink (Allow, Port) and taplink(3) say what
 * each means. The library sends what it is given: the daemon checks it and
 * answers InvalidParameter (-EINVAL) for what it does not take. */

/* One extra destination. destination: an IPv4 or IPv6 address or prefix;
 * protocol: "tcp", "udp", or NULL for every protocol; port: 1..65535 with a
 * protocol, or 0 for every port. */
typedef struct tl_allow {
        const char *destination;
        const char *protocol;
        unsigned port;
} tl_allow;

/* A published port: host_port on the host (on host_address only, unless
 * NULL) forwarded to guest_port of the guest. protocol: "tcp" or "udp";
 * NULL means "tcp". */
typedef struct tl_port {
        const char *protocol;
        unsigned host_port;
        unsigned guest_port;
        const char *host_address;
} tl_port;

/* What Acquire takes beyond tl_acquire_options. tl_acquire_options is a
 * struct the caller allocates, so its size is part of the ABI and it cannot
 * grow; this object is opaque and can. Every setter copies its arguments.
 * The setters return 0, -EINVAL (NULL x, or a NULL string where one is
 * required) or -ENOMEM. Like a tl_client, one is for one thread at a time,
 * tl_acquire_full() included: the requests built from it share its values,
 * whose reference counts are not atomic. */
typedef struct tl_acquire_extra tl_acquire_extra;
int tl_acquire_extra_new(tl_acquire_extra **ret);
void tl_acquire_extra_free(tl_acquire_extra *x);
/* Replaces the mode; without one the daemon's default_egress applies. */
int tl_acquire_extra_set_egress(tl_acquire_extra *x, const char *mode);
/* Appends one entry to allow / publish, in order. */
int tl_acquire_extra_add_allow(tl_acquire_extra *x, const tl_allow *allow);
int tl_acquire_extra_add_publish(tl_acquire_extra *x, const tl_port *port);

/* clone: true asks for a clone slot (since LIBTAPLINK_0.2, see below). */
int tl_acquire_extra_set_clone(tl_acquire_extra *x, bool clone);

/* tl_acquire() with extra (NULL: exactly tl_acquire()). */
int tl_acquire_full(tl_client *c, const tl_acquire_options *opts, const tl_acquire_extra *extra,
                    tl_slot **ret);

/* Replaces a live slot's egress mode and its whole allow list (n entries;
 * allow may be NULL when n is 0). */
int tl_set_egress(tl_client *c, unsigned slot, const char *mode, const tl_allow *allow, size_t n);
/* Publishes one more port on a live slot / withdraws one. A publication
 * that clashes with another is -EADDRINUSE (io.taplinkd.PortInUse, whose
 * parameters name protocol and hostPort); more than the daemon's
 * max_published_per_slot is -EDQUOT; a host port outside the daemon's
 * publish_port_range for a non-root caller is -EPERM. */
int tl_publish(tl_client *c, unsigned slot, const tl_port *port);
int tl_unpublish(tl_client *c, unsigned slot, const tl_port *port);

/* A slot's policy as the daemon reported it. tl_slot_egress() is NULL, and
 * the counts 0, for a daemon older than 0.2 (the members are absent). The
 * _get() functions fill *ret with strings borrowed from s (protocol NULL
 * and port 0 when the entry has none; host_address NULL for every host
 * address), or return -EINVAL when i is out of range. */
const char *tl_slot_egress(const tl_slot *s);
size_t tl_slot_allow_count(const tl_slot *s);
int tl_slot_allow_get(const tl_slot *s, size_t i, tl_allow *ret);
size_t tl_slot_published_count(const tl_slot *s);
int tl_slot_published_get(const tl_slot *s, size_t i, tl_port *ret);

/* ---- clone slots (since LIBTAPLINK_0.2) ----
 * A clone slot's TAP lives in a network namespace of its own, netns (a
 * path, "/run/netns/tl7"), named tap_name there, and its guest uses guest
 * with gateway/prefix_length: the same for every clone slot, so that VMs
 * restored from one snapshot keep their address (taplinkd(8), "Clone
 * slots"). Strings are borrowed from s. -ENOENT for a plain slot. */
typedef struct tl_clone {
        const char *netns;
        const char *tap_name;
        const char *guest;
        const char *gateway;
        unsigned prefix_length;
} tl_clone;
int tl_slot_clone(const tl_slot *s, tl_clone *ret);

/* ---- monitor (since LIBTAPLINK_0.2) ----
 * Slot events as they happen (io.taplinkd.Monitor). A stream starts with
 * one "existing" event per slot the caller may see (all for root, its own
 * otherwise), by slot number, then one "synced" event (no slot); then
 * "acquired", "changed" and "released" in the order they happened. A
 * "released" event has a reason: "release" (Release), "vmm-exited" (the
 * device went by itself: its last fd was closed, or someone deleted it) or
 * "gone-at-start". A newer daemon may send other event names and reasons. */

typedef struct tl_event tl_event;

/* Starts the stream on c and returns once the call is sent. The connection
 * then belongs to the stream: any other call on c fails with -EBUSY. */
int tl_monitor_start(tl_client *c);

/* Waits up to timeout_ms (-1: as long as it takes) for the next event.
 * Returns 1 with *ret set (free it with tl_event_free()); 0 with *ret NULL
 * when the daemon ended the stream with a final reply; -ETIMEDOUT when no
 * event came in time, or -EINTR when a signal arrived while waiting: the
 * stream goes on. -ECONNRESET: the daemon closed the connection (it stopped,
 * or dropped a client that read too slowly to keep up). A Varlink error
 * ends the stream with its errno (taplink.h's table; -EPERM: not allowed).
 * Events that arrive while the caller is busy wait in the socket; a caller
 * that falls far behind is dropped. */
int tl_monitor_next(tl_client *c, int timeout_ms, tl_event **ret);

/* "existing", "synced", "acquired", "changed", "released", ... Borrowed
 * from e, like everything below. */
const char *tl_event_name(const tl_event *e);
/* The slot the event is about, as it was then; NULL for "synced". No fds. */
const tl_slot *tl_event_slot(const tl_event *e);
/* Why a slot was released; NULL for other events. */
const char *tl_event_reason(const tl_event *e);
/* The event as the daemon sent it (the reply's parameters), compact JSON. */
const char *tl_event_json(const tl_event *e);
void tl_event_free(tl_event *e);

#ifdef __cplusplus
}
#endif

#endif

/* SPDX-License-Identifier: MIT */
#pragma once

/* The protocol's names and bounds, in one place for taplinkd, libtaplink and
 * taplinkctl. docs/io.taplinkd.varlink is the interface; docs/DESIGN.md
 * ("The wire protocol") the framing and the errors. Header-only on purpose:
 * libtaplink is built with -fvisibility=hidden and exports tl_* alone, so
 * nothing here may need a symbol of its own. */

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* ---- Varlink itself ---- */

/* The longest call (its JSON, without the NUL) the daemon reads; a longer
 * one ends that connection. */
#define VARLINK_MAX_MESSAGE (64u * 1024u)

#define VARLINK_SERVICE_INTERFACE "org.varlink.service"
#define VARLINK_METHOD_GET_INFO "org.varlink.service.GetInfo"
#define VARLINK_METHOD_GET_INTERFACE_DESCRIPTION "org.varlink.service.GetInterfaceDescription"

#define VARLINK_ERROR_INTERFACE_NOT_FOUND "org.varlink.service.InterfaceNotFound"
#define VARLINK_ERROR_METHOD_NOT_FOUND "org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_METHOD_NOT_IMPLEMENTED "org.varlink.service.MethodNotImplemented"
#define VARLINK_ERROR_INVALID_PARAMETER "org.varlink.service.InvalidParameter"
#define VARLINK_ERROR_PERMISSION_DENIED "org.varlink.service.PermissionDenied"
/* A streaming method called without "more". */
#define VARLINK_ERROR_EXPECTED_MORE "org.varlink.service.ExpectedMore"

/* ---- io.taplinkd ---- */

#define TAPLINKD_INTERFACE "io.taplinkd"

#define TAPLINKD_METHOD_ACQUIRE "io.taplinkd.Acquire"
#define TAPLINKD_METHOD_RELEASE "io.taplinkd.Release"
#define TAPLINKD_METHOD_LIST "io.taplinkd.List"
#define TAPLINKD_METHOD_STATUS "io.taplinkd.Status"
#define TAPLINKD_METHOD_MONITOR "io.taplinkd.Monitor"

/* Monitor's events (the "event" of each reply) and why a slot was
 * released (its "reason"). */
#define TAPLINKD_EVENT_EXISTING "existing"
#define TAPLINKD_EVENT_SYNCED "synced"
#define TAPLINKD_EVENT_ACQUIRED "acquired"
#define TAPLINKD_EVENT_CHANGED "changed"
#define TAPLINKD_EVENT_RELEASED "released"
#define TAPLINKD_REASON_RELEASE "release"
#define TAPLINKD_REASON_VMM_EXITED "vmm-exited"
#define TAPLINKD_REASON_GONE_AT_START "gone-at-start"

#define TAPLINKD_ERROR_PERMISSION_DENIED "io.taplinkd.PermissionDenied"
#define TAPLINKD_ERROR_QUOTA_EXCEEDED "io.taplinkd.QuotaExceeded" /* (limit: int) */
#define TAPLINKD_ERROR_NO_SLOT_AVAILABLE "io.taplinkd.NoSlotAvailable"
#define TAPLINKD_ERROR_NO_SUCH_SLOT "io.taplinkd.NoSuchSlot" /* (slot: int) */
#define TAPLINKD_ERROR_KERNEL "io.taplinkd.KernelError"      /* (operation: string, errno: int) */

/* Egress policy and published ports (docs/io.taplinkd.varlink: Allow, Port). */
#define TAPLINKD_METHOD_SET_EGRESS "io.taplinkd.SetEgress"
#define TAPLINKD_METHOD_PUBLISH "io.taplinkd.Publish"
#define TAPLINKD_METHOD_UNPUBLISH "io.taplinkd.Unpublish"
#define TAPLINKD_ERROR_PORT_IN_USE "io.taplinkd.PortInUse" /* (protocol: string, hostPort: int) */
#define TAPLINKD_ALLOW_MAX 64                              /* entries in one allow list */
/* The egress modes (Acquire's and SetEgress's `egress`, [policy]
 * default_egress), in ladder order: each allows what the one before does. */
#define TAPLINKD_EGRESS_MODES "none", "host", "public", "internet"
#define TAPLINKD_EGRESS_MODE_COUNT 4

/* Acquire's parameters; a value outside is InvalidParameter. */
#define TAPLINKD_MTU_MIN 68    /* the IPv4 minimum (RFC 791) */
#define TAPLINKD_MTU_MAX 65521 /* the largest MTU a TAP accepts */
/* RFC 8200: IPv6 needs a link MTU of at least 1280, and the kernel refuses
 * an IPv6 address on a link with less. */
#define TAPLINKD_IPV6_MTU_MIN 1280
#define TAPLINKD_QUEUES_MIN 1
#define TAPLINKD_QUEUES_MAX 16
#define TAPLINKD_LABEL_MAX 64
/* A label's characters besides ASCII letters and digits. */
#define TAPLINKD_LABEL_PUNCT "._:@-"

/* The mode's index in TAPLINKD_EGRESS_MODES, or -1. */
static inline int taplinkd_egress_mode(const char *s)
{
        static const char *const modes[TAPLINKD_EGRESS_MODE_COUNT] = {TAPLINKD_EGRESS_MODES};
        for (int i = 0; s && i < TAPLINKD_EGRESS_MODE_COUNT; i++)
                if (strcmp(s, modes[i]) == 0)
                        return i;
        return -1;
}

/* A label as Acquire takes it: [A-Za-z0-9._:@-]{0,64}. len is the string's
 * length as the JSON said, so that an embedded NUL ("a\u0000b") fails. */
static inline bool taplinkd_label_valid(const char *s, size_t len)
{
        if (!s || len > TAPLINKD_LABEL_MAX || strlen(s) != len)
                return false;
        for (size_t i = 0; i < len; i++) {
                char ch = s[i];
                if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                      strchr(TAPLINKD_LABEL_PUNCT, ch)))
                        return false;
        }
        return true;
}

/* An Allow destination: an IPv4 or IPv6 address, bare or with a prefix
 * length in strict decimal ("203.0.113.0/24", "2001:db8::1"). Returns
 * AF_INET or AF_INET6, or 0 when s is neither. */
static inline int taplinkd_prefix_family(const char *s)
{
        char addr[INET6_ADDRSTRLEN];
        unsigned char buf[sizeof(struct in6_addr)];
        const char *slash = s ? strchr(s, '/') : NULL;
        size_t len = slash ? (size_t)(slash - s) : (s ? strlen(s) : 0);
        unsigned bits = 0;
        int family;

        if (!s || len == 0 || len >= sizeof(addr))
                return 0;
        memcpy(addr, s, len);
        addr[len] = 0;
        if (inet_pton(AF_INET, addr, buf) == 1)
                family = AF_INET;
        else if (inet_pton(AF_INET6, addr, buf) == 1)
                family = AF_INET6;
        else
                return 0;
        if (!slash)
                return family;
        /* Digits only, no leading zero, at most three of them. */
        const char *d = slash + 1;
        size_t n = strlen(d);
        if (n == 0 || n > 3 || (d[0] == '0' && n > 1))
                return 0;
        for (size_t i = 0; i < n; i++) {
                if (d[i] < '0' || d[i] > '9')
                        return 0;
                bits = bits * 10 + (unsigned)(d[i] - '0');
        }
        return bits <= (family == AF_INET ? 32u : 128u) ? family : 0;
}

/* SPDX-License-Identifier: MIT */
/* Notifications to systemd without blocking the event loop.
 *
 * sd_notify(3) sends on a blocking socket. The receiver (PID 1) queues at
 * most net.unix.max_dgram_qlen datagrams (10 by default) from all its
 * services together; when it falls behind, the sender sleeps in
 * unix_wait_for_peer() until it reads. Seen on a loaded machine: the
 * daemon's only thread asleep there, every client unanswered, for good.
 *
 * Measured (kernel 6.18, a bound datagram socket that nobody reads; 11
 * datagrams fit before the 12th would block):
 *   - a connected sender gets EPOLLOUT again once the receiver reads one
 *     (level- and edge-triggered); an unconnected one has EPOLLOUT set all
 *     along, so polling tells it nothing;
 *   - a send without MSG_DONTWAIT on a socket with SO_SNDTIMEO = 300 ms
 *     fails with EAGAIN after 0.31 s, and returns at once when the
 *     receiver reads: the kernel's own bounded wait, no polling needed.
 * So: one socket, not connected (each send names the address, as
 * sd_notify does, so a receiver bound again at the same path is still
 * reached and there is no connected-to-a-dead-peer state); every send
 * with MSG_DONTWAIT but READY=1 and STOPPING=1, which wait under
 * SO_SNDTIMEO for at most wait_usec; what could not be sent is kept
 * (latest STATUS= only) and tried again from a timer every retry_usec,
 * all of it in one datagram. The timer runs only while something waits,
 * and a STATUS= for humans a fifth of a second late costs nothing. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"
#include "macro.h"
#include "notify.h"
#include "time-util.h"

static struct {
        int fd;
        struct sockaddr_un address;
        socklen_t address_len;
        uint64_t wait_usec, retry_usec, watchdog_usec;
        sd_event_source *retry_source, *watchdog_source;

        /* Not sent yet; all of it goes in the next datagram. */
        bool ready, stopping, watchdog, has_status;
        char status[256];

        bool retrying;  /* the retry timer is armed: the queue was full */
        int last_error; /* the last send's error, logged when it changes */
} notifier = {.fd = -1};

/* What sd_notify accepts: an absolute path, or "@name" for the abstract
 * namespace (the '@' becomes the leading NUL). */
static int parse_address(const char *s, struct sockaddr_un *ret, socklen_t *ret_len)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t n = strlen(s);

        if (s[0] == '@') {
                if (n < 2 || n > sizeof(sa.sun_path))
                        return -EINVAL;
                memcpy(sa.sun_path + 1, s + 1, n - 1);
                *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        } else if (s[0] == '/') {
                if (n >= sizeof(sa.sun_path))
                        return -ENAMETOOLONG;
                memcpy(sa.sun_path, s, n);
                *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        } else if (strncmp(s, "vsock", 5) == 0) {
                /* AF_VSOCK: a service manager across a VM boundary.
                 * taplinkd runs on the host. */
                return -EAFNOSUPPORT;
        } else
                return -EINVAL;
        *ret = sa;
        return 0;
}

/* "READY=1\nSTATUS=…" from what is kept; its length (0: nothing). */
static size_t compose(char *buf, size_t size)
{
        int k = snprintf(buf, size, "%s%s%s%s%s", notifier.ready ? "READY=1\n" : "",
                         notifier.stopping ? "STOPPING=1\n" : "", notifier.watchdog ? "WATCHDOG=1\n" : "",
                         notifier.has_status ? "STATUS=" : "", notifier.has_status ? notifier.status : "");
        size_t n = k < 0 ? 0 : MIN((size_t)k, size - 1);

        if (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        return n;
}

static void forget_kept(void)
{
        notifier.ready = notifier.stopping = notifier.watchdog = notifier.has_status = false;
}

/* One datagram with everything kept. 0 (sent, or nothing to send),
 * -EAGAIN (no room: all of it stays kept), or another -errno (dropped). */
static int send_kept(int flags)
{
        char buf[sizeof(notifier.status) + 64];
        size_t n = compose(buf, sizeof(buf));

        if (n == 0)
                return 0;
        if (sendto(notifier.fd, buf, n, flags | MSG_NOSIGNAL, (struct sockaddr *)&notifier.address,
                   notifier.address_len) >= 0) {
                forget_kept();
                return 0;
        }
        if (errno == EAGAIN || errno == ENOBUFS)
                return -EAGAIN;
        if (errno == EINTR)
                return -EINTR;
        forget_kept();
        return negative_errno();
}

/* The kernel's bounded wait for room (see the top of this file): the
 * socket is blocking, and only this path sends without MSG_DONTWAIT. */
static int send_kept_waiting(void)
{
        uint64_t deadline = now_usec() + notifier.wait_usec;

        for (;;) {
                uint64_t now = now_usec(), left;
                struct timeval tv;
                int e;

                if (now >= deadline)
                        return send_kept(MSG_DONTWAIT);
                left = deadline - now;
                tv = (struct timeval){.tv_sec = (time_t)(left / 1000000),
                                      .tv_usec = (suseconds_t)(left % 1000000)};
                if (setsockopt(notifier.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                        return send_kept(MSG_DONTWAIT);
                e = send_kept(0);
                if (e != -EINTR)
                        return e;
        }
}

static void note_result(int e)
{
        if (e == notifier.last_error)
                return;
        if (e == -EAGAIN)
                log_debug(
                    "notify socket: the receiver's queue is full; what is left is sent when it has room");
        else if (e < 0)
                log_debug_errno(e, "notify socket: sending failed, dropped: %m");
        else if (notifier.last_error == -EAGAIN)
                log_debug("notify socket: the receiver has room again");
        notifier.last_error = e;
}

static void arm_retry(void)
{
        if (notifier.retrying)
                return;
        if (sd_event_source_set_time_relative(notifier.retry_source, notifier.retry_usec) < 0 ||
            sd_event_source_set_enabled(notifier.retry_source, SD_EVENT_ONESHOT) < 0) {
                /* Nothing left to send it later: drop rather than block. */
                forget_kept();
                return;
        }
        notifier.retrying = true;
}

/* Sends what is kept without waiting, or leaves it for the retry timer. */
static void flush(void)
{
        int e;

        if (notifier.retrying)
                return; /* the queue was full: the timer sends it all */
        e = send_kept(MSG_DONTWAIT);
        note_result(e);
        if (e == -EAGAIN || e == -EINTR)
                arm_retry();
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
        bool ready = notifier.ready;
        int e;

        notifier.retrying = false;
        e = send_kept(MSG_DONTWAIT);
        note_result(e);
        if (e == -EAGAIN || e == -EINTR)
                arm_retry();
        else if (e == 0 && ready)
                log_info("READY=1 delivered, late: systemd's notify socket has room again");
        return 0;
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata)
{
        /* Fired from the loop: a loop that is stuck sends nothing, and
         * systemd restarts the daemon, as with sd_event_set_watchdog(). */
        (void)sd_event_source_set_time_relative(s, notifier.watchdog_usec / 2);
        notifier.watchdog = true;
        flush();
        return 0;
}

int notify_open_with(sd_event *event, const struct notify_params *p)
{
        struct sockaddr_un address;
        socklen_t address_len;
        _cleanup_close_ int fd = -1;
        int e;

        notify_close();
        e = parse_address(p->address, &address, &address_len);
        if (e < 0)
                return e;
        /* Blocking on purpose: see send_kept_waiting(). */
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();

        notifier.wait_usec = p->wait_usec;
        notifier.retry_usec = p->retry_usec;
        notifier.watchdog_usec = p->watchdog_usec;
        e = sd_event_add_time_relative(event, &notifier.retry_source, CLOCK_MONOTONIC, p->retry_usec,
                                       p->retry_usec / 4, on_retry, NULL);
        if (e < 0)
                goto fail;
        (void)sd_event_source_set_enabled(notifier.retry_source, SD_EVENT_OFF);
        if (p->watchdog_usec > 0) {
                e = sd_event_add_time_relative(event, &notifier.watchdog_source, CLOCK_MONOTONIC,
                                               p->watchdog_usec / 2, p->watchdog_usec / 8, on_watchdog,
                                               NULL);
                if (e < 0)
                        goto fail;
                (void)sd_event_source_set_enabled(notifier.watchdog_source, SD_EVENT_ON);
        }
        notifier.address = address;
        notifier.address_len = address_len;
        notifier.fd = TAKE_FD(fd);
        return 1;
fail:
        notify_close();
        return e;
}

int notify_open(sd_event *event)
{
        const char *address = getenv("NOTIFY_SOCKET");
        uint64_t watchdog_usec = 0;
        int e;

        if (!address || !*address)
                return 0;
        e = sd_watchdog_enabled(false, &watchdog_usec);
        if (e < 0)
                return e;
        return notify_open_with(event, &(struct notify_params){
                                           .address = address,
                                           .wait_usec = NOTIFY_WAIT_USEC,
                                           .retry_usec = NOTIFY_RETRY_USEC,
                                           .watchdog_usec = e > 0 ? watchdog_usec : 0,
                                       });
}

void notify_close(void)
{
        notifier.retry_source = sd_event_source_disable_unref(notifier.retry_source);
        notifier.watchdog_source = sd_event_source_disable_unref(notifier.watchdog_source);
        notifier.fd = safe_close(notifier.fd);
        forget_kept();
        notifier.retrying = false;
        notifier.last_error = 0;
}

void notify_set_status(const char *format, ...)
{
        va_list ap;

        if (notifier.fd < 0)
                return;
        va_start(ap, format);
        vsnprintf(notifier.status, sizeof(notifier.status), format, ap);
        va_end(ap);
        notifier.has_status = true;
        flush();
}

static int send_waiting(void)
{
        int e = send_kept_waiting();

        note_result(e);
        if (e == -EAGAIN)
                arm_retry();
        return e;
}

int notify_ready(void)
{
        if (notifier.fd < 0)
                return 0;
        notifier.ready = true;
        return send_waiting();
}

int notify_stopping(void)
{
        if (notifier.fd < 0)
                return 0;
        notifier.stopping = true;
        return send_waiting();
}

/* SPDX-License-Identifier: MIT */
// MODULES: notify log
/* notify.c against a datagram socket bound in a temporary directory (or
 * in the abstract namespace) that nobody reads until the test says so: no
 * send ever blocks, the latest STATUS= arrives once the reader drains,
 * READY=1 waits no longer than its bound and is kept when that passes,
 * WATCHDOG=1 comes from the loop. Every test runs under alarm(): a send
 * that blocked would kill the binary rather than hang `make check`. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "notify.h"
#include "time-util.h"

/* Generous: the bounds asserted are 10x what a quiet machine needs. */
#define DEADLINE_USEC (10u * 1000u * 1000u)
#define ALARM_SECONDS 60

struct receiver {
        sd_event *event;
        char dir[64];
        char path[128];
        int fd;
        /* Sockets that filled the receiver's queue. */
        int fillers[64];
        size_t n_fillers;
};

/* Opens the notifier at r, retrying every 20 ms. */
static void open_notifier(struct receiver *r, uint64_t wait_usec, uint64_t watchdog_usec)
{
        struct notify_params p = {
            .address = r->path,
            .wait_usec = wait_usec,
            .retry_usec = 20 * 1000,
            .watchdog_usec = watchdog_usec,
        };

        assert_int_equal(notify_open_with(r->event, &p), 1);
}

static int setup(void **state)
{
        struct receiver *r = calloc(1, sizeof(*r));
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        assert_non_null(r);
        alarm(ALARM_SECONDS);
        strcpy(r->dir, "/tmp/test-notify-XXXXXX");
        assert_non_null(mkdtemp(r->dir));
        snprintf(r->path, sizeof(r->path), "%s/notify", r->dir);
        strcpy(sa.sun_path, r->path);
        r->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(r->fd >= 0);
        assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(sd_event_new(&r->event), 0);
        *state = r;
        return 0;
}

static int teardown(void **state)
{
        struct receiver *r = *state;

        notify_close();
        close_many(r->fillers, r->n_fillers);
        safe_close(r->fd);
        unlink(r->path);
        rmdir(r->dir);
        sd_event_unref(r->event);
        free(r);
        alarm(0);
        return 0;
}

/* Fills the receiver's queue from sockets of our own until a fresh one
 * cannot send a single datagram: then the receiver, not a sender's buffer,
 * is what is full (net.unix.max_dgram_qlen differs between machines). */
static void fill(struct receiver *r)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        strcpy(sa.sun_path, r->path);
        for (;;) {
                int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                unsigned sent = 0;

                assert_true(fd >= 0);
                assert_true(r->n_fillers < ELEMENTSOF(r->fillers));
                r->fillers[r->n_fillers++] = fd;
                while (sendto(fd, "FILL", 4, 0, (struct sockaddr *)&sa, sizeof(sa)) == 4)
                        sent++;
                assert_int_equal(errno, EAGAIN);
                if (sent == 0)
                        return;
        }
}

/* The next datagram that is not one of fill()'s, or "" when none is
 * queued. */
static const char *next_message(struct receiver *r, char *buf, size_t size)
{
        for (;;) {
                ssize_t n = recv(r->fd, buf, size - 1, 0);
                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        buf[0] = '\0';
                        return buf;
                }
                buf[n] = '\0';
                if (strcmp(buf, "FILL") != 0)
                        return buf;
        }
}

/* Runs the loop until a datagram other than fill()'s arrives. */
static const char *wait_message(struct receiver *r, char *buf, size_t size)
{
        uint64_t deadline = now_usec() + DEADLINE_USEC;

        while (!*next_message(r, buf, size)) {
                assert_true(now_usec() < deadline);
                assert_true(sd_event_run(r->event, 10 * 1000) >= 0);
        }
        return buf;
}

/* Runs the loop for usec. */
static void run_for(struct receiver *r, uint64_t usec)
{
        uint64_t end = now_usec() + usec;

        while (now_usec() < end)
                assert_true(sd_event_run(r->event, 10 * 1000) >= 0);
}

static void test_addresses(void **state)
{
        struct receiver *r = *state;
        char too_long[200];
        static const struct {
                const char *address;
                int error;
        } bad[] = {
            {"relative/notify", -EINVAL},
            {"", -EINVAL},
            {"@", -EINVAL},
            {"vsock:2:1234", -EAFNOSUPPORT},
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(
                    notify_open_with(r->event, &(struct notify_params){.address = bad[i].address}),
                    bad[i].error);
        memset(too_long, 'x', sizeof(too_long) - 1);
        too_long[0] = '/';
        too_long[sizeof(too_long) - 1] = '\0';
        assert_int_equal(notify_open_with(r->event, &(struct notify_params){.address = too_long}),
                         -ENAMETOOLONG);
        /* Nothing open: every call does nothing and succeeds. */
        notify_set_status("nobody hears this");
        assert_int_equal(notify_ready(), 0);
        assert_int_equal(notify_stopping(), 0);

        unsetenv("NOTIFY_SOCKET");
        assert_int_equal(notify_open(r->event), 0);
        setenv("NOTIFY_SOCKET", r->path, 1);
        assert_int_equal(notify_open(r->event), 1);
        unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_address(void **state)
{
        struct receiver *r = *state;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char name[64], buf[256];
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        socklen_t len;

        snprintf(name, sizeof(name), "@taplinkd-test-notify-%d", getpid());
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
        memcpy(sa.sun_path + 1, name + 1, strlen(name) - 1);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);

        assert_int_equal(notify_open_with(r->event, &(struct notify_params){.address = name,
                                                                            .wait_usec = 100 * 1000,
                                                                            .retry_usec = 20 * 1000}),
                         1);
        notify_set_status("abstract");
        assert_int_equal(recv(fd, buf, sizeof(buf) - 1, 0), strlen("STATUS=abstract"));
        assert_memory_equal(buf, "STATUS=abstract", strlen("STATUS=abstract"));
}

static void test_status_never_blocks_and_the_latest_arrives(void **state)
{
        struct receiver *r = *state;
        char buf[256];
        uint64_t t0;

        open_notifier(r, 300 * 1000, 0);
        notify_set_status("before");
        assert_string_equal(next_message(r, buf, sizeof(buf)), "STATUS=before");

        fill(r);
        t0 = now_usec();
        for (int i = 0; i < 1000; i++) {
                notify_set_status("%d of 4096 slots in use", i);
                if (i % 100 == 0)
                        run_for(r, 30 * 1000); /* the retry timer runs too */
        }
        /* alarm() catches a send that blocks; this, one that waits. */
        assert_true(now_usec() - t0 < DEADLINE_USEC);

        /* Only the latest, once there is room, and only once. */
        assert_string_equal(wait_message(r, buf, sizeof(buf)), "STATUS=999 of 4096 slots in use");
        run_for(r, 100 * 1000);
        assert_string_equal(next_message(r, buf, sizeof(buf)), "");
}

static void test_ready_waits_at_most_its_bound(void **state)
{
        struct receiver *r = *state;
        char buf[256];
        uint64_t t0, elapsed;

        open_notifier(r, 300 * 1000, 0);
        fill(r);
        notify_set_status("3 of 4096 slots in use");
        t0 = now_usec();
        assert_int_equal(notify_ready(), -EAGAIN);
        elapsed = now_usec() - t0;
        /* It waited (the kernel rounds the timeout up to a tick), and no
         * longer than the bound allows on a slow machine. */
        assert_true(elapsed >= 250 * 1000);
        assert_true(elapsed < 3 * 1000 * 1000);

        /* Kept, with the status, and sent once there is room. */
        assert_string_equal(wait_message(r, buf, sizeof(buf)), "READY=1\nSTATUS=3 of 4096 slots in use");
        run_for(r, 100 * 1000);
        assert_string_equal(next_message(r, buf, sizeof(buf)), "");

        fill(r);
        t0 = now_usec();
        assert_int_equal(notify_stopping(), -EAGAIN);
        elapsed = now_usec() - t0;
        assert_true(elapsed >= 250 * 1000);
        assert_true(elapsed < 3 * 1000 * 1000);
}

static void *drain_later(void *p)
{
        struct receiver *r = p;
        char buf[256];

        /* One datagram read makes room for one: READY=1's. */
        usleep(100 * 1000);
        (void)recv(r->fd, buf, sizeof(buf), 0);
        return NULL;
}

static void test_ready_is_sent_as_soon_as_there_is_room(void **state)
{
        struct receiver *r = *state;
        pthread_t thread;
        uint64_t t0, elapsed;
        char buf[256];

        open_notifier(r, DEADLINE_USEC, 0);
        fill(r);
        t0 = now_usec();
        assert_int_equal(pthread_create(&thread, NULL, drain_later, r), 0);
        assert_int_equal(notify_ready(), 0);
        elapsed = now_usec() - t0;
        assert_int_equal(pthread_join(thread, NULL), 0);
        /* Woken by the reader, not by the end of the bound. */
        assert_true(elapsed < DEADLINE_USEC - 1000 * 1000);
        assert_string_equal(wait_message(r, buf, sizeof(buf)), "READY=1");
}

static void test_watchdog(void **state)
{
        struct receiver *r = *state;
        char buf[256];

        open_notifier(r, 100 * 1000, 100 * 1000);
        assert_string_equal(wait_message(r, buf, sizeof(buf)), "WATCHDOG=1");

        /* Full: the ticks neither block nor pile up; one goes out with the
         * status once there is room. */
        fill(r);
        run_for(r, 300 * 1000);
        notify_set_status("busy");
        run_for(r, 100 * 1000);
        assert_string_equal(wait_message(r, buf, sizeof(buf)), "WATCHDOG=1\nSTATUS=busy");
}

static void test_receiver_gone(void **state)
{
        struct receiver *r = *state;
        uint64_t t0 = now_usec();

        open_notifier(r, DEADLINE_USEC, 0);
        close(r->fd);
        r->fd = -1;
        assert_int_equal(notify_ready(), -ECONNREFUSED);
        unlink(r->path);
        assert_int_equal(notify_ready(), -ENOENT);
        notify_set_status("dropped");
        run_for(r, 50 * 1000);
        /* An error is not a full queue: nothing waited for the bound. */
        assert_true(now_usec() - t0 < DEADLINE_USEC - 1000 * 1000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
            cmocka_unit_test_setup_teardown(test_abstract_address, setup, teardown),
            cmocka_unit_test_setup_teardown(test_status_never_blocks_and_the_latest_arrives, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_ready_waits_at_most_its_bound, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ready_is_sent_as_soon_as_there_is_room, setup, teardown),
            cmocka_unit_test_setup_teardown(test_watchdog, setup, teardown),
            cmocka_unit_test_setup_teardown(test_receiver_gone, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
// MODULES: lib/client lib/wire lib/slot lib/methods lib/policy lib/clone lib/monitor
// MAX_LEN: 16384

/* libtaplink reading a daemon's reply. The client's parser has no pure
 * entry point (parse_reply() and the framing live behind tlp_client_call()),
 * so the harness plays the daemon over a socketpair: the input's bytes are
 * what the "daemon" sends, fds included, and then it closes its side; the
 * client makes one real call and reads that.
 *
 * The first input byte chooses how:
 *   bits 0-1  the call: Acquire, List, Status, Release; with bit 5 set,
 *             a Monitor stream read to its end instead of Release
 *   bits 2-4  fds sent as SCM_RIGHTS with the first byte (0..7)
 *   bit 5     a small reply bound (tlp_client_set_max_reply), for -EMSGSIZE;
 *             with call 3 not (a Monitor event is a whole Slot)
 *   bit 6     the bytes go in two sends, split in the middle
 *   bit 7     a second call follows on the same client
 * Checked besides memory safety: a failed call always leaves a one-line
 * message without control characters; what a successful call returns
 * holds no control characters and exactly its queues' fds, close-on-exec;
 * and no fd outlives the client (those the reply does not hand over are
 * closed). */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "lib/taplink-private.h"

#define MAX_FDS 7
#define SMALL_REPLY 512

static int null_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        CHECK(null_fd >= 0);
        return 0;
}

/* What may reach a terminal or an environment entry. */
static void check_clean(const char *s)
{
        if (!s)
                return;
        for (; *s; s++)
                CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static void check_failure(tl_client *c, int r)
{
        const char *m = tl_client_error_message(c);

        CHECK(r < 0);
        CHECK(m);
        check_clean(m);
        CHECK(strlen(m) <= 1024);
        check_clean(tl_client_error_name(c));
}

/* Checked on arrival: every entry the counts promise reads back. */
static void check_slot_policy(const tl_slot *s)
{
        tl_allow a;
        tl_port p;

        check_clean(tl_slot_egress(s));
        for (size_t i = 0; i < tl_slot_allow_count(s); i++) {
                CHECK(tl_slot_allow_get(s, i, &a) == 0);
                CHECK(a.destination);
                check_clean(a.destination);
                CHECK(a.port <= 65535 && (!a.port || a.protocol));
        }
        CHECK(tl_slot_allow_get(s, tl_slot_allow_count(s), &a) == -EINVAL);
        for (size_t i = 0; i < tl_slot_published_count(s); i++) {
                CHECK(tl_slot_published_get(s, i, &p) == 0);
                CHECK(p.protocol && p.host_port >= 1 && p.host_port <= 65535);
                CHECK(p.guest_port >= 1 && p.guest_port <= 65535);
                check_clean(p.host_address);
        }
        CHECK(tl_slot_published_get(s, tl_slot_published_count(s), &p) == -EINVAL);
}

static void check_slot(const tl_slot *s, bool with_fds)
{
        check_clean(tl_slot_ifname(s));
        check_clean(tl_slot_label(s));
        check_clean(tl_slot_mac(s));
        check_clean(tl_slot_kernel_ip_arg(s));
        CHECK(tl_slot_ifname(s) && strlen(tl_slot_ifname(s)) <= 15);
        CHECK(tl_slot_mac(s) && strlen(tl_slot_mac(s)) == 17);
        CHECK(tl_slot_queues(s) >= 1);
        for (int family = TL_IPV4; family <= TL_IPV6; family += 2) {
                if (!tl_slot_has_net(s, family))
                        continue;
                check_clean(tl_slot_subnet(s, family));
                check_clean(tl_slot_gateway(s, family));
                check_clean(tl_slot_guest(s, family));
        }
        CHECK(tl_slot_json(s));
        check_slot_policy(s);
        if (!with_fds) {
                CHECK(tl_slot_n_fds(s) == 0);
                return;
        }
        CHECK(tl_slot_n_fds(s) == tl_slot_queues(s));
        for (size_t i = 0; i < tl_slot_n_fds(s); i++) {
                int fd = tl_slot_fd(s, i);

                CHECK(fd >= 0);
                CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
        }
}

/* Reads events until the stream ends or fails (the daemon's side is shut
 * down, so it ends). */
static int monitor(tl_client *c)
{
        tl_event *e = NULL;
        int r;

        r = tl_monitor_start(c);
        while (r >= 0 && (r = tl_monitor_next(c, -1, &e)) > 0) {
                check_clean(tl_event_name(e));
                check_clean(tl_event_reason(e));
                CHECK(tl_event_name(e) && tl_event_json(e));
                if (tl_event_slot(e))
                        check_slot(tl_event_slot(e), false);
                tl_event_free(e);
                e = NULL;
        }
        CHECK(!e);
        return r;
}

static void call(tl_client *c, unsigned method, bool stream)
{
        tl_slot *slot = NULL;
        tl_slot_list *list = NULL;
        tl_status status;
        int r;

        switch (method) {
        case 0:
                r = tl_acquire(c, NULL, &slot);
                if (r == 0)
                        check_slot(slot, true);
                tl_slot_free(slot);
                break;
        case 1:
                r = tl_list(c, &list);
                if (r == 0)
                        for (size_t i = 0; i < tl_slot_list_size(list); i++)
                                check_slot(tl_slot_list_get(list, i), false);
                tl_slot_list_free(list);
                break;
        case 2:
                r = tl_status_get(c, &status);
                if (r == 0)
                        CHECK(strnlen(status.version, sizeof(status.version)) < sizeof(status.version));
                break;
        default:
                r = stream ? monitor(c) : tl_release(c, 7);
                break;
        }
        if (r < 0)
                check_failure(c, r);
}

/* Sends data[0..size) on fd, n_fds fds riding on the first byte. */
static void send_reply(int fd, const uint8_t *data, size_t size, size_t n_fds, bool split)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
        } control;
        int fds[MAX_FDS];
        size_t first = split ? size / 2 : size;
        struct iovec iov = {(void *)data, first};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        if (size == 0)
                return; /* fds need a byte to travel with */
        if (first == 0)
                first = iov.iov_len = size;
        if (n_fds > 0) {
                struct cmsghdr *cm;

                for (size_t i = 0; i < n_fds; i++) {
                        fds[i] = fcntl(null_fd, F_DUPFD_CLOEXEC, 3);
                        CHECK(fds[i] >= 0);
                }
                memset(&control, 0, sizeof(control));
                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
        }
        CHECK(sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)first);
        close_many(fds, n_fds);
        if (first < size)
                CHECK(send(fd, data + first, size - first, MSG_NOSIGNAL) == (ssize_t)(size - first));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fds_before = count_open_fds();
        tl_client *c;
        uint8_t ctl;
        int sv[2];

        if (size < 1)
                return 0;
        ctl = data[0];
        data++;
        size--;

        /* The socket buffers hold the whole reply (max_len is far below
         * them), so nothing here blocks. */
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        send_reply(sv[1], data, size, (ctl >> 2) & 7, ctl & 0x40);
        CHECK(shutdown(sv[1], SHUT_WR) == 0);

        CHECK(tlp_client_new_from_fd(sv[0], "fuzz", &c) == 0);
        if ((ctl & 0x20) && (ctl & 3) != 3)
                tlp_client_set_max_reply(c, SMALL_REPLY);
        call(c, ctl & 3, ctl & 0x20);
        if (ctl & 0x80)
                call(c, (ctl + 1) & 3, ctl & 0x20);
        tl_client_free(c);
        close(sv[1]);

        fuzz_check_fds(fds_before);
        return 0;
}

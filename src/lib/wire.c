/* SPDX-License-Identifier: MIT */

/* Varlink framing on the client side: one JSON text, then a NUL. The fds of
 * a reply arrive as SCM_RIGHTS on the recvmsg that returns its first byte;
 * the kernel never glues bytes after an fd-carrying segment into the same
 * read, so fds and bytes can be matched to the reply being read. */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "taplink-private.h"

/* Replies are small except List; grow in steps this large at least, so a
 * few-MB reply takes a few dozen reads, not thousands. */
#define READ_CHUNK (64u * 1024u)

int tlp_wire_send(int fd, const char *msg, size_t len)
{
        while (len > 0) {
                /* MSG_NOSIGNAL: a daemon that went away must be an error
                 * return, not a SIGPIPE that kills the caller. */
                ssize_t n = send(fd, msg, len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EPIPE)
                                return -ECONNRESET;
                        return -errno;
                }
                msg += n;
                len -= (size_t)n;
        }
        return 0;
}

static int ensure_room(tl_client *c)
{
        if (c->rbuf_size - c->rbuf_len >= READ_CHUNK)
                return 0;

        /* One byte past the bound, so that a message of exactly max_reply
         * bytes still has room for its NUL. */
        size_t limit = c->max_reply + 1;
        size_t size = MAX(c->rbuf_size * 2, c->rbuf_len + READ_CHUNK);
        size = MIN(size, limit);
        if (size <= c->rbuf_len)
                return -EMSGSIZE;

        char *p = realloc(c->rbuf, size);
        if (!p)
                return -ENOMEM;
        c->rbuf = p;
        c->rbuf_size = size;
        return 0;
}

/* Appends the fds of every SCM_RIGHTS message to fds[]. Fds beyond the
 * array's room are closed at once and make the reply malformed: a reply
 * names at most TL_MAX_FDS of them. */
static int collect_fds(struct msghdr *mh, int *fds, size_t *n_fds)
{
        int r = 0;

        for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                const unsigned char *data = CMSG_DATA(cm);
                for (size_t i = 0; i < n; i++) {
                        int fd;
                        memcpy(&fd, data + i * sizeof(int), sizeof(int));
                        if (*n_fds < TL_MAX_FDS) {
                                fds[(*n_fds)++] = fd;
                        } else {
                                safe_close(fd);
                                r = -EBADMSG;
                        }
                }
        }
        return r;
}

int tlp_wire_receive(tl_client *c, int *fds, size_t *n_fds, size_t *ret_len)
{
        size_t scanned = 0;
        int r = 0;

        for (;;) {
                const char *nul = NULL;
                if (c->rbuf_len > scanned)
                        nul = memchr(c->rbuf + scanned, 0, c->rbuf_len - scanned);
                if (nul) {
                        if (r < 0)
                                return r;
                        *ret_len = (size_t)(nul - c->rbuf);
                        return 0;
                }
                scanned = c->rbuf_len;
                if (c->rbuf_len > c->max_reply)
                        return -EMSGSIZE;

                int k = ensure_room(c);
                if (k < 0)
                        return k;

                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int) * TL_MAX_FDS)];
                } control;
                struct iovec iov = {
                    .iov_base = c->rbuf + c->rbuf_len,
                    .iov_len = c->rbuf_size - c->rbuf_len,
                };
                struct msghdr mh = {
                    .msg_iov = &iov,
                    .msg_iovlen = 1,
                    .msg_control = &control,
                    .msg_controllen = sizeof(control),
                };

                ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }

                /* Collect first, so that whatever did arrive is closed by
                 * the caller, even on the error paths below. */
                k = collect_fds(&mh, fds, n_fds);
                if (k < 0)
                        r = k;
                /* Some fds were lost (the control buffer or RLIMIT_NOFILE was
                 * too small): the reply can no longer be what it says. */
                if (mh.msg_flags & MSG_CTRUNC)
                        return -EBADMSG;
                if (n == 0)
                        return -ECONNRESET;
                c->rbuf_len += (size_t)n;
        }
}

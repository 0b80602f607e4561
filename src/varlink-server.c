/* SPDX-License-Identifier: MIT */

/* The listening socket: accepting, the peer's credentials, and the bounds
 * on how many connections a uid, and all uids but root together, may hold
 * (docs/DESIGN.md, "Who may do what": root is never locked out). */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "varlink-internal.h"

/* How long accepting pauses when the process or system is out of fds. */
#define ACCEPT_RETRY_USEC (100u * 1000u)
/* Accepts per wake-up, so that a connect storm cannot starve the rest. */
#define ACCEPT_BATCH 256

static int read_peer_groups(int fd, gid_t **ret_groups, size_t *ret_n)
{
        size_t n = 16;

        for (;;) {
                _cleanup_free_ gid_t *groups = calloc(n, sizeof(gid_t));
                socklen_t len = (socklen_t)(n * sizeof(gid_t));

                if (!groups)
                        return -ENOMEM;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) >= 0) {
                        *ret_n = len / sizeof(gid_t);
                        *ret_groups = TAKE_PTR(groups);
                        return 0;
                }
                if (errno == ENOPROTOOPT) {
                        *ret_n = 0;
                        *ret_groups = NULL;
                        return 0;
                }
                if (errno != ERANGE)
                        return -errno;
                /* The kernel said how much it needs; the groups may have
                 * grown meanwhile, so also at least double. */
                n = MAX(n * 2, len / sizeof(gid_t) + 1);
                if (n > 65537)
                        return -E2BIG;
        }
}

static int read_peer(int fd, struct varlink_peer *ret)
{
        struct ucred uc;
        socklen_t len = sizeof(uc);
        gid_t *groups;
        size_t n_groups;
        int r;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        if (len != sizeof(uc))
                return -EIO;
        r = read_peer_groups(fd, &groups, &n_groups);
        if (r < 0)
                return r;
        *ret = (struct varlink_peer){
            .uid = uc.uid,
            .gid = uc.gid,
            .pid = uc.pid,
            .groups = groups,
            .n_groups = n_groups,
        };
        return 0;
}

static bool server_admits(const struct varlink_server *s, uid_t uid)
{
        if (uid == 0)
                return true;
        return s->n_conns_unprivileged < s->limits.max_connections &&
               quota_get(&s->conns_per_uid, uid) < s->limits.max_connections_per_uid;
}

/* Serves the accepted fd, or closes it (a uid past its bounds is accepted
 * and closed at once). */
static int server_accept(struct varlink_server *s, int fd)
{
        struct varlink_peer peer;
        struct varlink_conn *conn;
        int r;

        r = read_peer(fd, &peer);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        if (!server_admits(s, peer.uid)) {
                free(peer.groups);
                safe_close(fd);
                return -EUSERS;
        }
        r = varlink_conn_new(s, fd, &peer, &conn);
        if (r < 0)
                return r;
        if (peer.uid != 0) {
                r = quota_inc(&s->conns_per_uid, peer.uid);
                if (r < 0) {
                        varlink_conn_unref(conn);
                        return r;
                }
                s->n_conns_unprivileged++;
        }
        LIST_PREPEND(conns, s->conns, conn);
        s->n_conns++;
        return 0;
}

void varlink_server_detach(struct varlink_server *s, struct varlink_conn *conn)
{
        LIST_REMOVE(conns, s->conns, conn);
        s->n_conns--;
        if (conn->peer.uid != 0) {
                s->n_conns_unprivileged--;
                quota_dec(&s->conns_per_uid, conn->peer.uid);
        }
}

static int on_accept_retry(sd_event_source *es, uint64_t usec, void *userdata)
{
        struct varlink_server *s = userdata;

        (void)sd_event_source_set_enabled(s->listen_source, SD_EVENT_ON);
        return 0;
}

/* Out of fds or memory: accepting again at once would spin on the same
 * error while the connection waits in the backlog, so pause briefly. */
static void server_pause_accept(struct varlink_server *s)
{
        if (sd_event_source_set_time_relative(s->accept_retry, ACCEPT_RETRY_USEC) < 0 ||
            sd_event_source_set_enabled(s->accept_retry, SD_EVENT_ONESHOT) < 0)
                return;
        (void)sd_event_source_set_enabled(s->listen_source, SD_EVENT_OFF);
}

static int on_listen_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct varlink_server *s = userdata;

        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                int cfd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (cfd < 0) {
                        if (errno == EAGAIN)
                                break;
                        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM)
                                continue;
                        /* EMFILE, ENFILE, ENOBUFS, ENOMEM, and anything
                         * unexpected: do not spin on it. */
                        server_pause_accept(s);
                        break;
                }
                (void)server_accept(s, cfd);
        }
        return 0;
}

static int strdup_or_empty(const char *src, char **ret)
{
        char *p = strdup(src ?: "");

        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

void varlink_server_set_limits(struct varlink_server *s, const struct varlink_limits *limits)
{
        if (!s || !limits)
                return;
        s->limits = (struct varlink_limits){
            .max_connections = limits->max_connections ?: VARLINK_DEFAULT_MAX_CONNECTIONS,
            .max_connections_per_uid =
                limits->max_connections_per_uid ?: VARLINK_DEFAULT_MAX_CONNECTIONS_PER_UID,
            .output_high_water = limits->output_high_water ?: VARLINK_DEFAULT_OUTPUT_HIGH_WATER,
            .output_max = limits->output_max ?: VARLINK_DEFAULT_OUTPUT_MAX,
            .write_timeout_usec = limits->write_timeout_usec ?: VARLINK_DEFAULT_WRITE_TIMEOUT_USEC,
        };
}

static int server_copy_info(struct varlink_server *s, const struct varlink_server_info *info)
{
        int r;

        if ((r = strdup_or_empty(info->vendor, &s->vendor)) < 0 ||
            (r = strdup_or_empty(info->product, &s->product)) < 0 ||
            (r = strdup_or_empty(info->version, &s->version)) < 0 ||
            (r = strdup_or_empty(info->url, &s->url)) < 0 ||
            (r = strdup_or_empty(info->interface_name, &s->interface_name)) < 0 ||
            (r = strdup_or_empty(info->interface_description, &s->interface_description)) < 0)
                return r;
        return 0;
}

/* The event sources of the listening socket. */
static int server_listen(struct varlink_server *s, int listen_fd)
{
        int flags, r;

        /* Socket activation hands the fd over without O_NONBLOCK. */
        flags = fcntl(listen_fd, F_GETFL);
        if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
            fcntl(listen_fd, F_SETFD, FD_CLOEXEC) < 0)
                return -errno;
        r = sd_event_add_io(s->event, &s->listen_source, listen_fd, EPOLLIN, on_listen_io, s);
        if (r < 0)
                return r;
        (void)sd_event_source_set_description(s->listen_source, "varlink-listen");
        /* Made now: out of fds, sd-event could not make the timerfd. */
        r = sd_event_add_time_relative(s->event, &s->accept_retry, CLOCK_MONOTONIC, ACCEPT_RETRY_USEC, 0,
                                       on_accept_retry, s);
        if (r < 0)
                return r;
        (void)sd_event_source_set_description(s->accept_retry, "varlink-accept-retry");
        return sd_event_source_set_enabled(s->accept_retry, SD_EVENT_OFF);
}

int varlink_server_new(sd_event *event, int listen_fd, const struct varlink_server_info *info,
                       varlink_method_handler on_call, varlink_disconnect_handler on_disconnect,
                       void *userdata, struct varlink_server **ret)
{
        struct varlink_server *s;
        int r;

        if (!event || listen_fd < 0 || !info || !ret)
                return -EINVAL;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->listen_fd = -1;
        s->event = sd_event_ref(event);
        s->on_call = on_call;
        s->on_disconnect = on_disconnect;
        s->userdata = userdata;
        varlink_server_set_limits(s, &(struct varlink_limits){});

        r = server_copy_info(s, info);
        if (r >= 0)
                r = server_listen(s, listen_fd);
        if (r < 0) {
                varlink_server_free(s);
                return r;
        }
        s->listen_fd = listen_fd;
        *ret = s;
        return 0;
}

void varlink_server_set_send_fds_handler(struct varlink_server *s, varlink_send_fds_handler handler)
{
        s->on_send_fds = handler;
}

void varlink_server_set_close_fds_handler(struct varlink_server *s, varlink_close_fds_handler handler,
                                          void *userdata)
{
        s->close_fds = handler;
        s->close_fds_userdata = userdata;
}

void varlink_server_free(struct varlink_server *s)
{
        if (!s)
                return;
        while (s->conns)
                varlink_conn_close(s->conns);
        sd_event_source_disable_unref(s->listen_source);
        sd_event_source_disable_unref(s->accept_retry);
        safe_close(s->listen_fd);
        sd_event_unref(s->event);
        free(s->vendor);
        free(s->product);
        free(s->version);
        free(s->url);
        free(s->interface_name);
        free(s->interface_description);
        quota_done(&s->conns_per_uid);
        free(s);
}

size_t varlink_server_n_connections(const struct varlink_server *s)
{
        return s ? s->n_conns : 0;
}

/* SPDX-License-Identifier: MIT */
/* taplinkd: main — options, the sd-event loop, notifications to systemd, signals. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "guest.h"
#include "kernel.h"
#include "manager.h"
#include "methods.h"
#include "notify.h"
#include "monitor.h"
#include "reconcile.h"
#include "status.h"
#include "varlink.h"
#include "varlink-idl.h"

static void help(void)
{
        printf("Usage: taplinkd [OPTIONS]\n"
               "\n"
               "Hands out per-sandbox TAP links over the Varlink interface io.taplinkd.\n"
               "\n"
               "  -c, --config PATH    read PATH instead of %s\n"
               "  -s, --socket PATH    listen on PATH (overrides the config's socket)\n"
               "      --check-config   validate the configuration, print it, and exit\n"
               "      --cleanup        delete every taplinkd device and the nftables table, and exit\n"
               "  -v, --verbose        log debug messages\n"
               "  -h, --help           show this help and exit\n"
               "      --version        show the version and exit\n"
               "\n"
               "See taplinkd(8) and taplinkd.conf(5).\n",
               CONFIG_DEFAULT_PATH);
}

struct options {
        const char *config_path;
        const char *socket_path;
        bool check_config;
        bool cleanup;
        bool verbose;
};

/* Returns 1 to go on, 0 to exit successfully, <0 on a usage error. */
static int parse_options(int argc, char *argv[], struct options *ret)
{
        enum { ARG_CHECK_CONFIG = 0x100, ARG_CLEANUP, ARG_VERSION };
        static const struct option longopts[] = {
            {"config", required_argument, NULL, 'c'},
            {"socket", required_argument, NULL, 's'},
            {"check-config", no_argument, NULL, ARG_CHECK_CONFIG},
            {"cleanup", no_argument, NULL, ARG_CLEANUP},
            {"verbose", no_argument, NULL, 'v'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, ARG_VERSION},
            {},
        };
        struct options o = {0};
        int c;

        while ((c = getopt_long(argc, argv, "c:s:vh", longopts, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        o.config_path = optarg;
                        break;
                case 's':
                        o.socket_path = optarg;
                        break;
                case ARG_CHECK_CONFIG:
                        o.check_config = true;
                        break;
                case ARG_CLEANUP:
                        o.cleanup = true;
                        break;
                case 'v':
                        o.verbose = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("taplinkd %s\n", TAPLINK_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'taplinkd --help'.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "taplinkd: unexpected argument '%s'\nTry 'taplinkd --help'.\n",
                        argv[optind]);
                return -EINVAL;
        }
        if (o.check_config && o.cleanup) {
                fprintf(stderr, "taplinkd: --check-config and --cleanup exclude each other\n");
                return -EINVAL;
        }
        *ret = o;
        return 1;
}

/* Defaults, then the file (an explicit --config must exist; the default
 * path may be missing), then the command line. */
static int load_config(const struct options *o, struct config *c)
{
        _cleanup_free_ char *warning = NULL, *error = NULL;
        int e;

        e = config_init(c, &warning);
        if (e < 0)
                return log_error_errno(e, "configuration: %m");

        e = config_load(c, o->config_path ? o->config_path : CONFIG_DEFAULT_PATH, &error);
        if (e == -ENOENT && !o->config_path) {
                /* No file: every key keeps its built-in default. */
        } else if (e < 0) {
                log_error("%s", error ? error : "configuration: invalid");
                return e;
        }
        if (warning && !c->n_allow_groups && !c->n_allow_users)
                log_warning("%s", warning);

        if (o->socket_path) {
                char *s = strdup(o->socket_path);
                if (!s)
                        return log_error_errno(-ENOMEM, "configuration: %m");
                free(c->socket_path);
                c->socket_path = s;
        }
        free(error);
        error = NULL;
        e = config_finish(c, &error);
        if (e < 0) {
                log_error("%s", error ? error : "configuration: invalid");
                return e;
        }
        return 0;
}

static int mkdir_parents(const char *path)
{
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return negative_errno();
                *s = '/';
        }
        return 0;
}

/* A socket file left by a crashed daemon refuses connections: remove it.
 * One that accepts belongs to a running daemon: refuse to start. */
static int remove_stale_socket(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct stat st;
        _cleanup_close_ int fd = -1;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                return -EADDRINUSE;
        if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

static int bind_socket(const char *path, int *ret_fd)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1;
        int e;

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(-ENAMETOOLONG, "%s: %m", path);
        strcpy(sa.sun_path, path);

        e = mkdir_parents(path);
        if (e < 0)
                return log_error_errno(e, "%s: creating its directory failed: %m", path);
        e = remove_stale_socket(path);
        if (e == -EADDRINUSE)
                return log_error_errno(e, "%s: another taplinkd is serving this socket", path);
        if (e == -EEXIST)
                return log_error_errno(e, "%s: exists and is not a socket; refusing to replace it", path);
        if (e < 0)
                return log_error_errno(e, "%s: removing a stale socket failed: %m", path);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(negative_errno(), "socket(AF_UNIX) failed: %m");
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return log_error_errno(negative_errno(), "%s: bind failed: %m", path);
        /* World-connectable: every call is authorized by peer credentials
         * (taplinkd(8), "Access"), as systemd's Varlink services do. */
        if (chmod(path, 0666) < 0)
                return log_error_errno(negative_errno(), "%s: chmod failed: %m", path);
        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(negative_errno(), "%s: listen failed: %m", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The listening socket from systemd (taplinkd.socket), else our own.
 * Returns 1 when we bound it ourselves (and should remove it at exit). */
static int get_listen_fd(const char *path, int *ret_fd)
{
        int n = sd_listen_fds(true);

        if (n < 0)
                return log_error_errno(n, "sd_listen_fds failed: %m");
        if (n > 1)
                return log_error_errno(-EINVAL, "expected one socket from systemd, got %d", n);
        if (n == 1) {
                int fd = SD_LISTEN_FDS_START;
                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
                        return log_error_errno(
                            -EINVAL, "the socket from systemd is not a listening AF_UNIX stream socket");
                *ret_fd = fd;
                return 0;
        }
        int e = bind_socket(path, ret_fd);
        return e < 0 ? e : 1;
}

/* The address the listening socket really has, for the log: with socket
 * activation it is whatever taplinkd.socket (or another manager) bound,
 * not our configured path. An abstract address is shown as "@name". */
static void socket_address(int fd, char *buf, size_t size)
{
        struct sockaddr_un sa = {};
        socklen_t len = sizeof(sa);
        size_t path_len;

        if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX ||
            len <= offsetof(struct sockaddr_un, sun_path)) {
                snprintf(buf, size, "an unnamed socket (fd %d)", fd);
                return;
        }
        path_len = len - offsetof(struct sockaddr_un, sun_path);
        if (sa.sun_path[0] == '\0')
                snprintf(buf, size, "@%.*s", (int)path_len - 1, sa.sun_path + 1);
        else
                snprintf(buf, size, "%.*s", (int)strnlen(sa.sun_path, path_len), sa.sun_path);
}

/* A daemon serving many VMMs holds a socket per client: lift the soft fd
 * limit to the hard one. */
static void raise_fd_limit(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        int e;

        log_info("received %s, stopping (live slots stay)", strsignal((int)si->ssi_signo));
        e = notify_stopping();
        if (e < 0)
                log_warning_errno(e, "STOPPING=1 not sent to systemd: %m");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* What serves: the state machine, its kernel side, the io.taplinkd
 * methods and STATUS= (docs/DESIGN.md, "Modules and the slot lifecycle"). */
struct daemon {
        struct kernel *kernel;
        struct manager *manager;
        struct methods *methods;
        struct status *status;
        struct guest *guest;
        struct monitor *monitor;
};

/* SIGHUP: the host's resolvers may have changed (dns_servers = auto). */
static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct daemon *d = userdata;

        log_info("received SIGHUP, reading the host's resolvers again");
        if (d->guest)
                guest_reload_dns(d->guest);
        return 0;
}

/* Subscribers come before the kernel starts: adopted slots go live. */
static int daemon_start(sd_event *event, const struct config *c, struct daemon *d)
{
        int e;

        e = kernel_new(event, c, &d->kernel);
        if (e < 0)
                return e;
        e = manager_new(c, &kernel_ops, d->kernel, &d->manager);
        if (e < 0)
                return log_error_errno(e, "starting the slot manager failed: %m");
        e = methods_new(event, d->manager, kernel_acquire_queued, d->kernel, &d->methods);
        if (e >= 0)
                e = status_new(event, d->manager, &d->status);
        if (e < 0)
                return log_error_errno(e, "starting the slot manager failed: %m");
        e = guest_new(event, d->manager, &d->guest);
        if (e < 0)
                return e;
        methods_set_guest(d->methods, d->guest);
        e = monitor_new(d->manager, &d->monitor);
        if (e < 0)
                return log_error_errno(e, "starting the Monitor streams failed: %m");
        methods_set_monitor(d->methods, d->monitor);
        methods_set_counters(d->methods, kernel_counters, d->kernel);
        methods_set_clone_slot(d->methods, kernel_clone_slot_of_tap, d->kernel);
        return kernel_start(d->kernel, d->manager);
}

static void daemon_stop(struct daemon *d)
{
        /* Queued Acquires are answered, gathered deletions committed
         * (answering their Releases), then the records go; live slots stay
         * in the kernel. */
        methods_free(d->methods);
        monitor_free(d->monitor);
        kernel_stop(d->kernel);
        guest_free(d->guest);
        status_free(d->status);
        manager_free(d->manager);
        kernel_free(d->kernel);
}

static int serve(const struct config *c)
{
        sd_event *event = NULL;
        struct daemon d = {0};
        struct varlink_server *server = NULL;
        int listen_fd = -1, bound = 0, e;
        char address[sizeof(((struct sockaddr_un *)NULL)->sun_path) + 32];
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        e = sd_event_default(&event);
        if (e < 0) {
                log_error_errno(e, "sd_event_default failed: %m");
                goto out;
        }
        if ((e = sd_event_add_signal(event, NULL, SIGTERM, on_signal, NULL)) < 0 ||
            (e = sd_event_add_signal(event, NULL, SIGINT, on_signal, NULL)) < 0 ||
            (e = sd_event_add_signal(event, NULL, SIGHUP, on_sighup, &d)) < 0) {
                log_error_errno(e, "sd_event_add_signal failed: %m");
                goto out;
        }
        /* Also sends WATCHDOG=1 at half of WatchdogSec= when systemd asks
         * for it (not sd_event_set_watchdog(): it sends with sd_notify(),
         * which blocks while systemd's queue is full; see src/notify.c). */
        e = notify_open(event);
        if (e < 0)
                log_warning_errno(e, "NOTIFY_SOCKET=%s: %m; not notifying systemd", getenv("NOTIFY_SOCKET"));

        e = daemon_start(event, c, &d);
        if (e < 0)
                goto out;

        e = get_listen_fd(c->socket_path, &listen_fd);
        if (e < 0)
                goto out;
        bound = e;
        socket_address(listen_fd, address, sizeof(address));

        static const struct varlink_server_info info = {
            .vendor = "taplinkd",
            .product = "taplinkd",
            .version = TAPLINK_VERSION,
            /* No project home exists yet: an empty url rather than an
             * address that does not resolve (GetInfo's url is not optional). */
            .url = "",
            .interface_name = "io.taplinkd",
            .interface_description = varlink_idl_text,
        };
        e = varlink_server_new(event, listen_fd, &info, methods_on_call, methods_on_disconnect, d.methods,
                               &server);
        if (e < 0) {
                log_error_errno(e, "varlink: serving %s failed: %m", address);
                safe_close(listen_fd);
                goto out;
        }
        varlink_server_set_send_fds_handler(server, methods_on_send_fds);
        varlink_server_set_close_fds_handler(server, kernel_close_fds, d.kernel);

        log_info("serving io.taplinkd on %s%s (%u of %u slots in use)", address,
                 bound ? "" : " (from systemd)", manager_slots_in_use(d.manager), c->effective_max_slots);
        status_send(d.status);
        e = notify_ready();
        if (e == -EAGAIN)
                log_warning("READY=1 not sent to systemd within %u ms (its notify socket is full); "
                            "serving anyway, READY=1 follows when there is room",
                            (unsigned)(NOTIFY_WAIT_USEC / 1000));
        else if (e < 0)
                log_warning_errno(e, "READY=1 not sent to systemd: %m");

        e = sd_event_loop(event);
        if (e < 0)
                log_error_errno(e, "event loop failed: %m");
out:
        varlink_server_free(server);
        daemon_stop(&d);
        notify_close();
        if (bound > 0)
                (void)unlink(c->socket_path);
        sd_event_unref(event);
        return e;
}

int main(int argc, char *argv[])
{
        struct options o;
        struct config c = {0};
        int e;

        e = parse_options(argc, argv, &o);
        if (e <= 0)
                return e < 0 ? 2 : 0;
        if (o.verbose)
                log_set_max_level(LOG_DEBUG);

        e = load_config(&o, &c);
        if (e < 0) {
                config_done(&c);
                return 1;
        }

        if (o.check_config) {
                config_print(&c, stdout);
                config_done(&c);
                return 0;
        }

        raise_fd_limit();
        if (o.cleanup)
                e = reconcile_cleanup(&c);
        else
                e = serve(&c);
        config_done(&c);
        return e < 0 ? 1 : 0;
}

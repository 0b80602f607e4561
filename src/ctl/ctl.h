/* SPDX-License-Identifier: MIT */
#pragma once

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"
#include "taplink.h"

/* Exit statuses (taplinkctl(1), EXIT STATUS). */
enum {
        CTL_EXIT_OK = 0,
        CTL_EXIT_REFUSED = 1,     /* the daemon answered with an error; or a local failure */
        CTL_EXIT_USAGE = 2,       /* bad option, bad number, missing argument */
        CTL_EXIT_UNREACHABLE = 3, /* no connection, or it broke */
};

/* The global options, given before the command. */
struct ctl_options {
        const char *socket; /* NULL: $TAPLINK_SOCKET, else the default */
        bool json;
};

/* util.c */

/* Strictly decimal: digits only, no sign, no blanks, no leading zeros
 * (except "0"), no overflow; -EINVAL when not a number, -ERANGE when outside
 * [min, max]. *ret untouched on failure. */
int parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret);

/* Puts fds[i] at first + i for every i, with FD_CLOEXEC cleared on exactly
 * those; the original numbers are closed, whatever they collide with
 * (each other, the targets, anything else). On success fds[i] == first + i.
 * On failure some fds may be closed: the caller is about to exit. */
int move_fds(int *fds, size_t n, int first);

/* "3,4,5": the n numbers from first on. */
char *fd_list(int first, size_t n);

/* One line on stderr: "taplinkctl: <what>: <message>". Return the status
 * to exit with. */
int ctl_usage_error(const char *command, const char *fmt, ...) _printf_(2, 3);
int ctl_error(int status, const char *command, const char *fmt, ...) _printf_(3, 4);
/* After a failed call: the daemon's error (1) or a broken connection (3). */
int ctl_call_failed(const char *command, tl_client *c, int r);
/* Connects, or says why not (3). */
int ctl_connect(const struct ctl_options *o, tl_client **ret);
/* An option getopt_long() refused (c is what it returned: ':' or '?'). */
int ctl_bad_option(const char *command, char **argv, int c);
/* A SLOT argument; an exit status (0: *ret is set). */
int ctl_parse_slot(const char *command, const char *arg, unsigned *ret);

/* output.c */
void print_slot(FILE *f, const tl_slot *s);
void print_slot_table(FILE *f, const tl_slot_list *l);
void print_status(FILE *f, const tl_status *st);
/* JSON, pretty-printed; -ENOMEM or -EBADMSG. */
int print_slot_json(FILE *f, const tl_slot *s);
int print_slot_list_json(FILE *f, const tl_slot_list *l);
int print_status_json(FILE *f, const tl_status *st);
/* Flushes stdout; a failed write (a full disk, a closed pipe) is an error. */
int finish_output(const char *command);

/* policy.c: egress policy and published ports (taplinkctl(1)). */

/* --allow CIDR[,PORT/tcp|udp] or CIDR[,tcp|udp]. */
struct allow_spec {
        char destination[INET6_ADDRSTRLEN + 4]; /* "2001:db8::/32" */
        const char *protocol;                   /* "tcp", "udp" or NULL */
        unsigned port;                          /* 0: none */
};
/* --publish [ADDR:]HOSTPORT:GUESTPORT[/tcp|udp], ADDR of IPv6 in brackets. */
struct port_spec {
        const char *protocol; /* "tcp" or "udp" */
        unsigned host_port, guest_port;
        char host_address[INET6_ADDRSTRLEN]; /* "": every host address */
};
/* 0, or -EINVAL with *ret_why saying what is wrong; *ret untouched then. */
int parse_allow_spec(const char *s, struct allow_spec *ret, const char **ret_why);
int parse_port_spec(const char *s, struct port_spec *ret, const char **ret_why);
/* The same syntax back, as list prints it. */
void format_allow(const tl_allow *a, char *buf, size_t size);
void format_port(const tl_port *p, char *buf, size_t size);
tl_allow allow_spec_view(const struct allow_spec *a);
tl_port port_spec_view(const struct port_spec *p);

/* --egress, --allow, --publish of run and acquire (getopt values). */
enum {
        CTL_OPT_EGRESS = 0x200,
        CTL_OPT_ALLOW,
        CTL_OPT_PUBLISH,
        CTL_OPT_CLONE,
};
struct policy_args {
        const char *egress; /* NULL: the daemon's default */
        VEC(struct allow_spec) allow;
        VEC(struct port_spec) publish;
        bool clone; /* --clone */
};
/* Takes one of the options above; an exit status (0: go on). */
int policy_option(const char *command, int option, const char *arg, struct policy_args *p);
void policy_help(void);
/* Lines of print_slot() / one line under the slot's row in a table;
 * nothing for a daemon that does not report a policy. */
void print_slot_policy(FILE *f, const tl_slot *s);
void print_slot_policy_line(FILE *f, const tl_slot *s);

/* The options of run and acquire. */
struct acquire_args {
        tl_acquire_options options;
        struct policy_args policy;
        int first_fd;   /* run: --fd, default 3 */
        char **command; /* run: CMD [ARG...], NULL-terminated */
};

/* Acquires with a->options and a->policy. */
int ctl_acquire(tl_client *c, const struct acquire_args *a, tl_slot **ret);
void acquire_args_done(struct acquire_args *a);

/* The commands egress, publish and unpublish. */
int ctl_cmd_egress(struct ctl_options *o, int argc, char **argv);
int ctl_cmd_publish(struct ctl_options *o, int argc, char **argv);
int ctl_cmd_unpublish(struct ctl_options *o, int argc, char **argv);
/* monitor.c: prints slot events until the stream ends or SIGINT/SIGTERM
 * comes; returns the status to exit with. */
int ctl_monitor(const struct ctl_options *o);

/* run.c: acquires, places the fds, execs; returns only on failure, with
 * the status to exit with. */
int ctl_run(const struct ctl_options *o, const struct acquire_args *a);
/* The environment CMD gets; IPv6 variables are unset when the slot has no
 * IPv6. -ENOMEM. */
int export_slot_environment(const tl_slot *s, int first_fd);

/* top.c: list --counters and top. */
enum {
        TOP_SENT_BYTES,
        TOP_SENT_PACKETS,
        TOP_RECEIVED_BYTES,
        TOP_RECEIVED_PACKETS,
        TOP_DROPPED_SPOOFED,
        TOP_DROPPED_POLICY,
        TOP_COUNTERS,
};
struct top_sample {
        unsigned slot;
        char ifname[16];
        char label[72];
        uint64_t counters[TOP_COUNTERS];
};
struct top_row {
        struct top_sample sample;
        double rates[TOP_COUNTERS]; /* per second since the last sample; 0 without one */
};
void top_sample(const tl_slot *s, struct top_sample *ret);
/* Pure: ret[i] for each cur[i], with its rates against the same slot (and
 * name) in prev over seconds, sorted by traffic (sent + received bytes per
 * second, highest first), then by slot. A slot missing from prev or whose
 * counts went down has rates 0. */
void top_rates(const struct top_sample *prev, size_t n_prev, const struct top_sample *cur, size_t n_cur,
               double seconds, struct top_row *ret);
void print_counter_table(FILE *f, const tl_slot_list *l);
/* Refreshes every interval_ms until q, SIGINT or SIGTERM, or after
 * iterations tables (0: no limit). Returns the exit status. */
int ctl_top(const struct ctl_options *o, unsigned interval_ms, unsigned iterations);

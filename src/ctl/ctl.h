/* SPDX-License-Identifier: MIT */
#pragma once

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

/* The options of run and acquire. */
struct acquire_args {
        tl_acquire_options options;
        int first_fd;   /* run: --fd, default 3 */
        char **command; /* run: CMD [ARG...], NULL-terminated */
};

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

/* SPDX-License-Identifier: MIT */
/* taplinkctl list --counters and taplinkctl top: the slots' counters as a
 * table, and per-slot rates refreshed from List(counters: true). Plain
 * text, so that it works over ssh: on a terminal the screen is cleared
 * with one ANSI sequence before each table; otherwise the tables follow
 * each other, separated by a blank line. */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(tl_slot_list *, tl_slot_list_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(tl_client *, tl_client_free)

static uint64_t (*const counter_fns[TOP_COUNTERS])(const tl_slot *) = {
    tl_slot_guest_sent_bytes,       tl_slot_guest_sent_packets, tl_slot_guest_received_bytes,
    tl_slot_guest_received_packets, tl_slot_dropped_spoofed,    tl_slot_dropped_policy,
};

void top_sample(const tl_slot *s, struct top_sample *ret)
{
        *ret = (struct top_sample){.slot = tl_slot_number(s)};
        snprintf(ret->ifname, sizeof(ret->ifname), "%s", tl_slot_ifname(s));
        snprintf(ret->label, sizeof(ret->label), "%s", tl_slot_label(s));
        for (size_t i = 0; i < TOP_COUNTERS; i++)
                ret->counters[i] = counter_fns[i](s);
}

static int compare_rows(const void *a, const void *b)
{
        const struct top_row *x = a, *y = b;
        double tx = x->rates[TOP_SENT_BYTES] + x->rates[TOP_RECEIVED_BYTES];
        double ty = y->rates[TOP_SENT_BYTES] + y->rates[TOP_RECEIVED_BYTES];

        if (tx != ty)
                return tx > ty ? -1 : 1;
        return x->sample.slot < y->sample.slot ? -1 : x->sample.slot > y->sample.slot;
}

void top_rates(const struct top_sample *prev, size_t n_prev, const struct top_sample *cur, size_t n_cur,
               double seconds, struct top_row *ret)
{
        for (size_t i = 0; i < n_cur; i++) {
                const struct top_sample *before = NULL;
                ret[i] = (struct top_row){.sample = cur[i]};
                for (size_t j = 0; j < n_prev && !before; j++)
                        if (prev[j].slot == cur[i].slot && strcmp(prev[j].ifname, cur[i].ifname) == 0)
                                before = &prev[j];
                /* A slot new since the last refresh, or counts that went
                 * down (a new tenant, a flushed table): no rate yet. */
                for (size_t k = 0; k < TOP_COUNTERS && before && seconds > 0; k++)
                        if (cur[i].counters[k] >= before->counters[k])
                                ret[i].rates[k] =
                                    (double)(cur[i].counters[k] - before->counters[k]) / seconds;
        }
        qsort(ret, n_cur, sizeof(*ret), compare_rows);
}

static void print_rate_table(FILE *f, const struct top_row *rows, size_t n)
{
        fprintf(f, "%-7s %-15s %-16s %12s %10s %12s %10s %10s %10s\n", "SLOT", "IFNAME", "LABEL", "SENT-B/S",
                "SENT-P/S", "RECV-B/S", "RECV-P/S", "SPOOFED/S", "POLICY/S");
        for (size_t i = 0; i < n; i++) {
                const double *r = rows[i].rates;
                fprintf(f, "%-7u %-15s %-16s %12.0f %10.0f %12.0f %10.0f %10.0f %10.0f\n",
                        rows[i].sample.slot, rows[i].sample.ifname,
                        *rows[i].sample.label ? rows[i].sample.label : "-", r[0], r[1], r[2], r[3], r[4],
                        r[5]);
        }
}

void print_counter_table(FILE *f, const tl_slot_list *l)
{
        fprintf(f, "%-7s %-15s %-16s %10s %14s %10s %14s %10s %10s\n", "SLOT", "IFNAME", "LABEL",
                "SENT-PKTS", "SENT-BYTES", "RECV-PKTS", "RECV-BYTES", "SPOOFED", "POLICY");
        for (size_t i = 0; i < tl_slot_list_size(l); i++) {
                struct top_sample s;
                top_sample(tl_slot_list_get(l, i), &s);
                fprintf(f, "%-7u %-15s %-16s %10llu %14llu %10llu %14llu %10llu %10llu\n", s.slot, s.ifname,
                        *s.label ? s.label : "-", (unsigned long long)s.counters[TOP_SENT_PACKETS],
                        (unsigned long long)s.counters[TOP_SENT_BYTES],
                        (unsigned long long)s.counters[TOP_RECEIVED_PACKETS],
                        (unsigned long long)s.counters[TOP_RECEIVED_BYTES],
                        (unsigned long long)s.counters[TOP_DROPPED_SPOOFED],
                        (unsigned long long)s.counters[TOP_DROPPED_POLICY]);
        }
}

/* ---- the loop ---- */

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
        stop_signal = sig;
}

/* stdin in raw mode (no line buffering, no echo), so that a single 'q'
 * quits; Ctrl-C still raises SIGINT. Restored on every way out. */
struct terminal {
        bool raw;
        struct termios saved;
};

static void terminal_raw(struct terminal *t)
{
        struct termios raw;

        if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &t->saved) < 0)
                return;
        raw = t->saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        t->raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
}

static void terminal_restore(struct terminal *t)
{
        if (t->raw)
                (void)tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
        t->raw = false;
}

/* Waits up to ms; true when the user asked to quit ('q' or a signal). */
static bool wait_or_quit(const struct terminal *t, int ms)
{
        struct timespec end, now;

        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += ms / 1000;
        end.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (end.tv_nsec >= 1000000000L) {
                end.tv_sec++;
                end.tv_nsec -= 1000000000L;
        }
        for (;;) {
                if (stop_signal)
                        return true;
                clock_gettime(CLOCK_MONOTONIC, &now);
                long left = (end.tv_sec - now.tv_sec) * 1000L + (end.tv_nsec - now.tv_nsec) / 1000000L;
                if (left <= 0)
                        return false;
                struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
                int k = poll(&p, t->raw ? 1 : 0, (int)left);
                if (k > 0) {
                        char ch;
                        if (read(STDIN_FILENO, &ch, 1) == 1 && (ch == 'q' || ch == 'Q'))
                                return true;
                }
        }
}

static double monotonic_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One refresh: List with counters, rates against *prev, one table. */
static int refresh(tl_client *c, struct top_sample **prev, size_t *n_prev, double *t_prev, bool tty,
                   bool first)
{
        _cleanup_(tl_slot_list_freep) tl_slot_list *l = NULL;
        int r = tl_list_ex(c, TL_LIST_COUNTERS, &l);
        if (r < 0)
                return ctl_call_failed("top", c, r);
        double now = monotonic_seconds();
        size_t n = tl_slot_list_size(l);
        struct top_sample *cur = calloc(n ? n : 1, sizeof(*cur));
        _cleanup_free_ struct top_row *rows = calloc(n ? n : 1, sizeof(*rows));
        if (!cur || !rows) {
                free(cur);
                return ctl_error(CTL_EXIT_REFUSED, "top", "%s", strerror(ENOMEM));
        }
        for (size_t i = 0; i < n; i++)
                top_sample(tl_slot_list_get(l, i), &cur[i]);
        top_rates(*prev, *n_prev, cur, n, *prev ? now - *t_prev : 0, rows);

        if (tty)
                fputs("\033[H\033[2J", stdout);
        else if (!first)
                fputc('\n', stdout);
        print_rate_table(stdout, rows, n);
        free(*prev);
        *prev = cur;
        *n_prev = n;
        *t_prev = now;
        return finish_output("top");
}

int ctl_top(const struct ctl_options *o, unsigned interval_ms, unsigned iterations)
{
        _cleanup_(tl_client_freep) tl_client *c = NULL;
        _cleanup_free_ struct top_sample *prev = NULL;
        struct terminal term = {};
        struct sigaction sa = {.sa_handler = on_stop_signal};
        size_t n_prev = 0;
        double t_prev = 0;
        bool tty = isatty(STDOUT_FILENO);
        int r = ctl_connect(o, &c);

        if (r != 0)
                return r;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        terminal_raw(&term);
        for (unsigned i = 0; iterations == 0 || i < iterations; i++) {
                if (i > 0 && wait_or_quit(&term, (int)interval_ms))
                        break;
                r = refresh(c, &prev, &n_prev, &t_prev, tty, i == 0);
                if (r != CTL_EXIT_OK)
                        break;
        }
        terminal_restore(&term);
        return r;
}

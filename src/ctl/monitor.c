/* SPDX-License-Identifier: MIT */

/* taplinkctl monitor: one line per slot event, as it comes (taplinkctl(1)). */

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "ctl.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(tl_client *, tl_client_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(tl_event *, tl_event_free)

/* How long one wait lasts: a signal that lands just before the wait
 * starts is seen this late at worst. */
#define WAIT_MS 1000

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
        stop_requested = 1;
}

/* SIGINT and SIGTERM end the command with status 0; without SA_RESTART
 * they interrupt the wait at once. */
static int catch_stop_signals(void)
{
        struct sigaction sa = {.sa_handler = on_stop_signal};

        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
                return -errno;
        return 0;
}

/* One event, one line: "<event> <ifname> slot=N owner=UID label=L",
 * "<event> <ifname> reason=R" when it has a reason, "<event>" when it has
 * no slot. Every string was checked by the library: no control
 * characters. */
static void print_event(FILE *f, const tl_event *e)
{
        const char *name = tl_event_name(e), *reason = tl_event_reason(e);
        const tl_slot *s = tl_event_slot(e);

        if (!s) {
                fprintf(f, "%s\n", name);
                return;
        }
        fprintf(f, "%s %s", name, tl_slot_ifname(s));
        if (reason)
                fprintf(f, " reason=%s\n", reason);
        else
                fprintf(f, " slot=%u owner=%u label=%s\n", tl_slot_number(s), (unsigned)tl_slot_owner_uid(s),
                        tl_slot_label(s));
}

/* Prints events until the stream ends, a stop signal comes, or something
 * fails; returns the exit status. */
static int follow(const struct ctl_options *o, tl_client *c)
{
        for (;;) {
                _cleanup_(tl_event_freep) tl_event *e = NULL;
                int r;

                if (stop_requested)
                        return CTL_EXIT_OK;
                r = tl_monitor_next(c, WAIT_MS, &e);
                if (r == -ETIMEDOUT || r == -EINTR)
                        continue;
                if (r == 0 || r == -ECONNRESET) {
                        /* The daemon ended the stream, or stopped. */
                        if (r < 0)
                                ctl_error(CTL_EXIT_OK, "monitor", "taplinkd closed the stream");
                        return CTL_EXIT_OK;
                }
                if (r < 0)
                        return ctl_call_failed("monitor", c, r);
                if (o->json)
                        fprintf(stdout, "%s\n", tl_event_json(e));
                else
                        print_event(stdout, e);
                r = finish_output("monitor");
                if (r != CTL_EXIT_OK)
                        return r;
        }
}

int ctl_monitor(const struct ctl_options *o)
{
        _cleanup_(tl_client_freep) tl_client *c = NULL;
        int r;

        r = catch_stop_signals();
        if (r < 0)
                return ctl_error(CTL_EXIT_REFUSED, "monitor", "sigaction: %s", strerror(-r));
        r = ctl_connect(o, &c);
        if (r != 0)
                return r;
        r = tl_monitor_start(c);
        if (r < 0)
                return ctl_call_failed("monitor", c, r);
        return follow(o, c);
}

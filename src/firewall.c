/* SPDX-License-Identifier: MIT */
/* The self-healing firewall: nft-monitor.c's events gathered, coalesced and
 * rate-limited into restores (nft_restore(): the ruleset and every live
 * element in one batch). See firewall.h for the timing.
 *
 * Measured (tests/integration/test-firewall.c, 3 live slots, 2 shared
 * CPUs, kernel 6.18): from the return of the `nft` command that broke the
 * table to the restored table 6-10 ms, of which RESTORE_DELAY is 5; a
 * program deleting the table 1,000 times in 3.2 s got 13 restores (the
 * burst of ten, then one a second) and one more 0.8 s after it stopped,
 * for 2-3% of a CPU, while a 10 ms timer on the same loop was never more
 * than 14-33 ms late. The batch grows with the live slots: restoring the
 * 65,536 elements of 16,384 slots (the default pools' maximum) after
 * `nft flush ruleset` took 94 ms, 47 ms when only elements were missing. */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "firewall.h"
#include "log.h"
#include "macro.h"
#include "nft-monitor.h"
#include "time-util.h"

/* From the first event of a burst to the restore: the rest of a burst
 * made of several commits (a script of nft commands) is restored with it. */
#define RESTORE_DELAY_USEC (5 * USEC_PER_MSEC)
/* A token bucket: RESTORE_BURST restores at once, then one more every
 * RESTORE_REFILL. An administrator's few changes are restored at once; a
 * program deleting the table in a loop gets one restore a second. */
#define RESTORE_BURST 10
#define RESTORE_REFILL_USEC (1 * USEC_PER_SEC)
/* And restores take at most a tenth of the time: with many live slots a
 * restore is a large batch, and the loop has other work. */
#define RESTORE_DUTY 10
/* Failed restores in a row (a dump interrupted, a race with the tamperer)
 * are retried within the same limits; after this many the firewall waits
 * for the next change. */
#define FAILURES_MAX 8
/* Distinct losses named in the log line. */
#define LOSSES_MAX 6

struct loss {
        unsigned what;
        int object;
        unsigned count;
};

struct firewall {
        sd_event *event;
        struct nft *nft;
        char *table;
        firewall_collect_fn collect;
        void *userdata;

        struct nft_monitor *monitor;
        sd_event_source *io_source;
        sd_event_source *timer_source;
        bool timer_armed;

        /* What went missing since the last restore: a mask of NFT_LOST_*,
         * and like events merged, their counts summed. */
        unsigned lost;
        VEC(struct loss) losses;
        unsigned losses_more; /* events past LOSSES_MAX distinct ones */

        /* The rate limit, in CLOCK_MONOTONIC µs. */
        unsigned tokens;
        uint64_t refill_from; /* when the next token started to accrue */
        uint64_t last_end;    /* when the last restore ended */
        uint64_t last_took;   /* how long it took */

        unsigned failures;
        unsigned restores;
};

unsigned firewall_restores(const struct firewall *fw)
{
        return fw->restores;
}

static void losses_reset(struct firewall *fw)
{
        fw->lost = 0;
        fw->losses.n = 0;
        fw->losses_more = 0;
}

static void losses_add(struct firewall *fw, const struct nft_event *ev)
{
        fw->lost |= ev->what;
        for (size_t i = 0; i < fw->losses.n; i++)
                if (fw->losses.items[i].what == ev->what && fw->losses.items[i].object == ev->object) {
                        fw->losses.items[i].count += ev->count;
                        return;
                }
        if (fw->losses.n >= LOSSES_MAX ||
            VEC_PUSH(&fw->losses, ((struct loss){ev->what, ev->object, ev->count})) < 0)
                fw->losses_more++;
}

/* "table inet taplinkd deleted" (it took the rest with it), or the losses
 * one after the other: "rule deleted from chain forward, 2 elements
 * deleted from set guests_v4". */
static void losses_describe(const struct firewall *fw, char *buf, size_t size)
{
        size_t len = 0;

        if (fw->lost & NFT_LOST_TABLE) {
                struct nft_event ev = {NFT_LOST_TABLE, -1, 1};
                nft_event_describe(&ev, fw->table, buf, size);
                return;
        }
        buf[0] = '\0';
        for (size_t i = 0; i < fw->losses.n && len < size; i++) {
                const struct loss *l = &fw->losses.items[i];
                struct nft_event ev = {l->what, l->object, l->count};
                char one[NFT_EVENT_DESCRIPTION_MAX];

                nft_event_describe(&ev, fw->table, one, sizeof(one));
                len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "", one);
        }
        if (fw->losses_more > 0 && len < size)
                snprintf(buf + len, size - len, " and %u more", fw->losses_more);
        if (buf[0] == '\0')
                snprintf(buf, size, "events lost");
}

/* Adds the tokens accrued by now, one per RESTORE_REFILL, up to the burst. */
static void bucket_refill(struct firewall *fw, uint64_t now)
{
        uint64_t accrued;

        if (fw->tokens >= RESTORE_BURST) {
                fw->refill_from = now;
                return;
        }
        accrued = (now - fw->refill_from) / RESTORE_REFILL_USEC;
        fw->tokens = (unsigned)MIN(fw->tokens + accrued, (uint64_t)RESTORE_BURST);
        fw->refill_from =
            fw->tokens >= RESTORE_BURST ? now : fw->refill_from + accrued * RESTORE_REFILL_USEC;
}

/* The earliest time the next restore may run. */
static uint64_t restore_allowed_at(struct firewall *fw, uint64_t now)
{
        bucket_refill(fw, now);
        uint64_t at = fw->tokens > 0 ? now : fw->refill_from + RESTORE_REFILL_USEC;
        return MAX(at, fw->last_end + fw->last_took * (RESTORE_DUTY - 1));
}

static void schedule_restore(struct firewall *fw)
{
        uint64_t now = now_usec(), at;

        if (fw->timer_armed)
                return;
        at = MAX(now + RESTORE_DELAY_USEC, restore_allowed_at(fw, now));
        if (sd_event_source_set_time(fw->timer_source, at) < 0 ||
            sd_event_source_set_enabled(fw->timer_source, SD_EVENT_ONESHOT) < 0) {
                log_error("nftables: cannot schedule the restore of table inet %s", fw->table);
                return;
        }
        fw->timer_armed = true;
}

static void on_event(const struct nft_event *ev, const char *description, void *userdata)
{
        struct firewall *fw = userdata;

        /* No line per event: a set flush is one per element. The restore's
         * line names them all. */
        losses_add(fw, ev);
        schedule_restore(fw);
}

static int on_monitor(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct firewall *fw = userdata;
        int r = nft_monitor_process(fw->monitor, on_event, fw);

        if (r < 0) {
                /* A socket that fails once fails again: stop watching it
                 * rather than spin on it. */
                log_error_errno(
                    r, "nftables: the monitor of table inet %s failed, it no longer heals itself: %m",
                    fw->table);
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        return 0;
}

/* One batch: the ruleset's repairs and every live element. */
static int restore(struct firewall *fw)
{
        _cleanup_free_ struct nft_elem *elems = NULL;
        char what[512];
        size_t n = 0;
        int r;

        losses_describe(fw, what, sizeof(what));
        r = fw->collect(&elems, &n, fw->userdata);
        if (r < 0)
                return log_error_errno(r, "nftables: %s; collecting the live slots' elements failed: %m",
                                       what);
        r = nft_restore(fw->nft, elems, n);
        if (r < 0)
                return log_error_errno(r, "nftables: %s; restoring table inet %s failed: %m", what,
                                       fw->table);
        fw->restores++;
        log_warning("nftables: %s; restored %s %zu elements of the live slots (restore %u)", what,
                    r > 0 ? "the ruleset and the" : "the", n, fw->restores);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct firewall *fw = userdata;
        uint64_t start = now_usec();
        int r;

        fw->timer_armed = false;
        /* The timer was set for when this is allowed; checked again all
         * the same, as a token must never be taken from an empty bucket. */
        if (restore_allowed_at(fw, start) > start || fw->tokens == 0) {
                schedule_restore(fw);
                return 0;
        }
        fw->tokens--;
        r = restore(fw);
        fw->last_end = now_usec();
        fw->last_took = fw->last_end - start;

        if (r >= 0) {
                fw->failures = 0;
                losses_reset(fw);
        } else if (++fw->failures < FAILURES_MAX)
                schedule_restore(fw); /* keeps the losses for the next line */
        else {
                log_error("nftables: giving up restoring table inet %s until it changes again", fw->table);
                fw->failures = 0;
                losses_reset(fw);
        }
        return 0;
}

int firewall_new(sd_event *event, struct nft *nft, const char *table, firewall_collect_fn collect,
                 void *userdata, struct firewall **ret)
{
        struct firewall *fw;
        int r;

        if (!event || !nft || !table || !collect)
                return -EINVAL;
        fw = calloc(1, sizeof(*fw));
        if (!fw)
                return -ENOMEM;
        fw->event = sd_event_ref(event);
        fw->nft = nft;
        fw->collect = collect;
        fw->userdata = userdata;
        fw->tokens = RESTORE_BURST;
        fw->table = strdup(table);
        if (!fw->table) {
                r = -ENOMEM;
                goto fail;
        }
        r = nft_monitor_open(table, nft_portid(nft), &fw->monitor);
        if (r < 0)
                goto fail;
        r = sd_event_add_io(event, &fw->io_source, nft_monitor_fd(fw->monitor), EPOLLIN, on_monitor, fw);
        if (r < 0)
                goto fail;
        /* Accuracy 1 ms: sd-event's default (250 ms) would blur the delay. */
        r = sd_event_add_time(event, &fw->timer_source, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, on_timer, fw);
        if (r < 0)
                goto fail;
        r = sd_event_source_set_enabled(fw->timer_source, SD_EVENT_OFF);
        if (r < 0)
                goto fail;
        *ret = fw;
        return 0;
fail:
        firewall_free(fw);
        return r;
}

void firewall_free(struct firewall *fw)
{
        if (!fw)
                return;
        sd_event_source_disable_unref(fw->timer_source);
        sd_event_source_disable_unref(fw->io_source);
        nft_monitor_close(fw->monitor);
        VEC_FREE(&fw->losses);
        free(fw->table);
        sd_event_unref(fw->event);
        free(fw);
}

/* SPDX-License-Identifier: MIT */
/* build/bench/load: the measurements of one level (see bench/load.c). */
#include "load.h"

/* ---- acquire latency: the daemon ---- */

static void *daemon_round_thread(void *p)
{
        struct worker *w = p;
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;

        pthread_barrier_wait(w->barrier);
        w->begin = now_ns();
        for (unsigned i = 0; i < w->k; i++) {
                uint64_t t0 = now_ns();
                int r = tl_acquire(w->client, &opts, &w->slots[i]);

                if (r < 0)
                        die("Acquire: %s", tl_client_error_message(w->client));
                samples_add(&w->lat, now_ns() - t0);
        }
        w->end = now_ns();
        /* Our own releases wait until everybody has acquired: they are
         * not the churn being measured. */
        if (pthread_barrier_wait(w->done_barrier ? w->done_barrier : w->barrier) ==
            PTHREAD_BARRIER_SERIAL_THREAD) {
                if (w->done)
                        atomic_store(w->done, true);
                if (w->cpu_done)
                        cpu_times_now(w->b, w->cpu_done);
        }
        for (unsigned i = 0; i < w->k; i++) {
                int r = tl_release(w->client, tl_slot_number(w->slots[i]));

                if (r < 0)
                        die("Release: %s", tl_client_error_message(w->client));
                tl_slot_free(w->slots[i]);
        }
        return NULL;
}

/* ---- one latency measurement: a level, a client count ---- */

/* Rounds per repetition and acquires per client per round. */
static void round_shape(const struct bench *b, unsigned live, unsigned clients, unsigned *ret_rounds,
                        unsigned *ret_k)
{
        unsigned k = clients >= 32 ? 2 : 4, samples = clients == 1 ? 60 : clients == 8 ? 64 : 128;

        /* At 10,000 live slots each acquire costs tens of ms in the kernel. */
        if (b->quick || live >= 5000)
                samples /= 2;
        *ret_k = k;
        *ret_rounds = MAX(1u, samples / (k * clients));
}

void measure_latency(struct bench *b, unsigned live, size_t ci, struct latency *ret)
{
        unsigned clients = client_counts[ci], rounds, k;
        struct worker w[MAX_CLIENTS];
        struct samples all = {0}, floor_all = {0};
        pthread_barrier_t barrier;
        uint64_t busy[2] = {0, 0};
        /* CPU used in the rounds: the daemon's, its clients', the floor's */
        uint64_t cpu_daemon = 0, cpu_clients = 0, cpu_floor = 0;
        struct cpu_times cpu_start, cpu_done;

        round_shape(b, live, clients, &rounds, &k);
        progress("live %u, %u client%s: %u x %u rounds of %u acquires per client, daemon and floor", live,
                 clients, clients > 1 ? "s" : "", REPS, rounds, k);

        memset(w, 0, sizeof(w));
        for (unsigned t = 0; t < clients; t++) {
                int r;

                w[t].b = b;
                w[t].k = k;
                w[t].barrier = &barrier;
                w[t].client = connect_client(b);
                w[t].first_slot = t * k;
                w[t].cpu_done = &cpu_done;
                r = rtnl_open(&w[t].rtnl);
                if (r >= 0)
                        r = nft_open(&b->floor_config, &w[t].nft);
                if (r < 0)
                        die("floor: opening sockets: %s", strerror(-r));
        }

        for (unsigned rep = 0; rep < REPS; rep++) {
                struct samples d = {0}, f = {0};

                /* Alternate which goes first, so that neither always
                 * follows the other's teardown. */
                for (unsigned pass = 0; pass < 2; pass++) {
                        bool floor = (pass + rep) % 2 == 1;

                        for (unsigned round = 0; round < rounds; round++) {
                                pthread_barrier_init(&barrier, NULL, clients);
                                /* The CPU of the previous round's releases
                                 * is not this round's. */
                                wait_daemon_idle(b);
                                cpu_times_now(b, &cpu_start);
                                run_threads(floor ? floor_round_thread : daemon_round_thread, w,
                                            sizeof(w[0]), clients);
                                pthread_barrier_destroy(&barrier);
                                if (floor) {
                                        cpu_times_now(b, &cpu_done);
                                        cpu_floor += cpu_done.self - cpu_start.self;
                                } else {
                                        /* Taken once every acquire was in,
                                         * before the releases. */
                                        cpu_daemon += cpu_done.daemon - cpu_start.daemon;
                                        cpu_clients += cpu_done.self - cpu_start.self;
                                }
                                if (floor)
                                        floor_cleanup(b, w, clients);
                                uint64_t begin = UINT64_MAX, end = 0;
                                for (unsigned t = 0; t < clients; t++) {
                                        begin = MIN(begin, w[t].begin);
                                        end = MAX(end, w[t].end);
                                }
                                busy[floor] += end - begin;
                                for (unsigned t = 0; t < clients; t++) {
                                        samples_merge(floor ? &f : &d, &w[t].lat);
                                        w[t].lat.n = 0;
                                }
                        }
                }
                ret->rep_p50[rep] = quantile_us(&d, 0.5);
                ret->floor_rep_p50[rep] = quantile_us(&f, 0.5);
                samples_merge(&all, &d);
                samples_merge(&floor_all, &f);
                samples_free(&d);
                samples_free(&f);
        }
        expect_live(b, live, "after the latency rounds");

        for (unsigned ph = 0; ph < 3; ph++) {
                struct samples x = {0};

                for (unsigned t = 0; t < clients; t++)
                        samples_merge(&x, &w[t].phase[ph]);
                ret->floor_phase_p50[ph] = quantile_us(&x, 0.5);
                samples_free(&x);
        }
        ret->done = true;
        ret->rate = all.n / (busy[0] / 1e9);
        ret->floor_rate = floor_all.n / (busy[1] / 1e9);
        ret->cpu_daemon = cpu_daemon / 1e3 / all.n;
        ret->cpu_clients = cpu_clients / 1e3 / all.n;
        ret->cpu_floor = cpu_floor / 1e3 / floor_all.n;
        ret->n = all.n;
        ret->mean = mean_us(&all);
        ret->floor_mean = mean_us(&floor_all);
        ret->p50 = quantile_us(&all, 0.5);
        ret->p99 = quantile_us(&all, 0.99);
        ret->floor_n = floor_all.n;
        ret->floor_p50 = quantile_us(&floor_all, 0.5);
        ret->floor_p99 = quantile_us(&floor_all, 0.99);
        progress("  daemon p50 %.0f p99 %.0f us %.0f/s, floor p50 %.0f p99 %.0f us %.0f/s "
                 "(tap_create %.0f + configure %.0f + nft %.0f); CPU per acquire: daemon %.0f + clients %.0f, "
                 "floor %.0f us",
                 ret->p50, ret->p99, ret->rate, ret->floor_p50, ret->floor_p99, ret->floor_rate,
                 ret->floor_phase_p50[0], ret->floor_phase_p50[1], ret->floor_phase_p50[2], ret->cpu_daemon,
                 ret->cpu_clients, ret->cpu_floor);

        samples_free(&all);
        samples_free(&floor_all);
        for (unsigned t = 0; t < clients; t++) {
                tl_client_free(w[t].client);
                rtnl_close(w[t].rtnl);
                nft_close(w[t].nft);
                samples_free(&w[t].lat);
                for (unsigned ph = 0; ph < 3; ph++)
                        samples_free(&w[t].phase[ph]);
        }
}

/* ---- acquires while releases run ---- */

#define STOCK_PER_RELEASER 6

/* Releases its stock from the moment the acquirers start; the releases
 * that began before every acquire was in count as overlapping. */
struct releaser {
        tl_client *client;
        pthread_barrier_t *barrier;
        atomic_bool *done;
        tl_slot *stock[STOCK_PER_RELEASER];
        unsigned overlapping;
};

static void *releaser_thread(void *p)
{
        struct releaser *r = p;

        pthread_barrier_wait(r->barrier);
        for (unsigned i = 0; i < STOCK_PER_RELEASER; i++) {
                if (!atomic_load(r->done))
                        r->overlapping++;
                if (tl_release(r->client, tl_slot_number(r->stock[i])) < 0)
                        die("Release: %s", tl_client_error_message(r->client));
                tl_slot_free(r->stock[i]);
        }
        return NULL;
}

/* 8 clients acquire in rounds, as in measure_latency(); in every other
 * pass 8 more clients release slots acquired for that purpose at the same
 * time. Same acquirers, same rounds, passes interleaved: the p99 ratio is
 * what concurrent releases cost an Acquire. */
void measure_pressure(struct bench *b, unsigned live, struct level *lv)
{
        /* At 10,000 live with IPv6 a round (and its stock) takes seconds. */
        unsigned rounds = b->quick ? 4 : live >= 5000 ? 1 : 8, k = 4;
        struct worker w[PRESSURE_CLIENTS];
        struct releaser rel[PRESSURE_CLIENTS];
        struct samples lat[2] = {{0}, {0}};
        unsigned overlapping = 0, releases = 0;
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;

        progress("live %u: %d clients acquire, alone and while %d others release (%u x %u rounds of %u)",
                 live, PRESSURE_CLIENTS, PRESSURE_CLIENTS, REPS, rounds, k);
        memset(w, 0, sizeof(w));
        memset(rel, 0, sizeof(rel));
        for (unsigned t = 0; t < PRESSURE_CLIENTS; t++) {
                w[t] = (struct worker){.b = b, .k = k, .client = connect_client(b)};
                rel[t].client = connect_client(b);
        }

        for (unsigned rep = 0; rep < REPS; rep++)
                for (unsigned pass = 0; pass < 2; pass++) {
                        bool pressure = (pass + rep) % 2 == 1;

                        for (unsigned round = 0; round < rounds; round++) {
                                pthread_t threads[2 * PRESSURE_CLIENTS];
                                pthread_barrier_t start, done_barrier;
                                atomic_bool done = false;
                                unsigned n = PRESSURE_CLIENTS * (pressure ? 2 : 1);

                                /* The stock, off the clock, in both passes: the kernel
                                 * keeps working on new devices for a second or so
                                 * (IPv6 DAD, under the rtnl mutex), and the passes
                                 * should differ only in the releases. */
                                for (unsigned t = 0; t < PRESSURE_CLIENTS; t++)
                                        for (unsigned i = 0; i < STOCK_PER_RELEASER; i++)
                                                if (tl_acquire(rel[t].client, &opts, &rel[t].stock[i]) < 0)
                                                        die("Acquire: %s",
                                                            tl_client_error_message(rel[t].client));

                                pthread_barrier_init(&start, NULL, n);
                                pthread_barrier_init(&done_barrier, NULL, PRESSURE_CLIENTS);
                                for (unsigned t = 0; t < n; t++) {
                                        int e;

                                        if (t < PRESSURE_CLIENTS) {
                                                w[t].barrier = &start;
                                                w[t].done_barrier = &done_barrier;
                                                w[t].done = &done;
                                                e = pthread_create(&threads[t], NULL, daemon_round_thread,
                                                                   &w[t]);
                                        } else {
                                                struct releaser *r = &rel[t - PRESSURE_CLIENTS];

                                                r->barrier = &start;
                                                r->done = &done;
                                                r->overlapping = 0;
                                                e = pthread_create(&threads[t], NULL, releaser_thread, r);
                                        }
                                        if (e != 0)
                                                die("pthread_create failed");
                                }
                                for (unsigned t = 0; t < n; t++)
                                        pthread_join(threads[t], NULL);
                                for (unsigned t = 0; !pressure && t < PRESSURE_CLIENTS; t++)
                                        for (unsigned i = 0; i < STOCK_PER_RELEASER; i++) {
                                                if (tl_release(rel[t].client,
                                                               tl_slot_number(rel[t].stock[i])) < 0)
                                                        die("Release: %s",
                                                            tl_client_error_message(rel[t].client));
                                                tl_slot_free(rel[t].stock[i]);
                                        }
                                pthread_barrier_destroy(&start);
                                pthread_barrier_destroy(&done_barrier);

                                for (unsigned t = 0; t < PRESSURE_CLIENTS; t++) {
                                        samples_merge(&lat[pressure], &w[t].lat);
                                        w[t].lat.n = 0;
                                        if (pressure) {
                                                overlapping += rel[t].overlapping;
                                                releases += STOCK_PER_RELEASER;
                                        }
                                }
                        }
                }
        expect_live(b, live, "after the release-pressure rounds");

        lv->pressure_done = true;
        lv->alone_p50 = quantile_us(&lat[0], 0.5);
        lv->alone_p99 = quantile_us(&lat[0], 0.99);
        lv->pressure_p50 = quantile_us(&lat[1], 0.5);
        lv->pressure_p99 = quantile_us(&lat[1], 0.99);
        lv->pressure_n = lat[1].n;
        lv->pressure_releases = overlapping;
        progress("  alone p50 %.0f p99 %.0f us; with releases p50 %.0f p99 %.0f us (%u of %u releases "
                 "overlapped the acquires)",
                 lv->alone_p50, lv->alone_p99, lv->pressure_p50, lv->pressure_p99, overlapping, releases);
        for (unsigned t = 0; t < PRESSURE_CLIENTS; t++) {
                tl_client_free(w[t].client);
                tl_client_free(rel[t].client);
                samples_free(&w[t].lat);
        }
        samples_free(&lat[0]);
        samples_free(&lat[1]);
}

/* ---- the fixed cost of a call ---- */

/* Status round trips from one client: what every call costs before any
 * kernel work (two wake-ups, JSON both ways, the event loop). */
void measure_status(struct bench *b, double *ret_p50, double *ret_p99)
{
        tl_client *c = connect_client(b);
        struct samples lat = {0};

        for (int i = 0; i < 2000; i++) {
                uint64_t t0 = now_ns();
                tl_status st;

                if (tl_status_get(c, &st) < 0)
                        die("Status: %s", tl_client_error_message(c));
                samples_add(&lat, now_ns() - t0);
        }
        *ret_p50 = quantile_us(&lat, 0.5);
        *ret_p99 = quantile_us(&lat, 0.99);
        samples_free(&lat);
        tl_client_free(c);
}

/* ---- churn ---- */

struct churn_ctx {
        struct bench *b;
        uint64_t deadline;
        pthread_barrier_t *barrier;
        struct samples lat;
        size_t cycles;
};

/* An ARP request from the guest for its gateway, behind a zero
 * virtio_net_hdr: what a booting guest sends first. */
static size_t guest_frame(const tl_slot *s, uint8_t *buf, size_t size)
{
        static const uint8_t arp_head[] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
        const size_t vnet = 10, len = vnet + 14 + 28;
        unsigned m[6];
        uint8_t mac[6];
        struct in_addr guest, gw;

        if (size < len ||
            sscanf(tl_slot_mac(s), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
                die("churn: bad MAC %s", tl_slot_mac(s));
        for (int i = 0; i < 6; i++)
                mac[i] = (uint8_t)m[i];
        inet_pton(AF_INET, tl_slot_guest(s, TL_IPV4), &guest);
        inet_pton(AF_INET, tl_slot_gateway(s, TL_IPV4), &gw);

        memset(buf, 0, len);
        memset(buf + vnet, 0xff, 6);
        memcpy(buf + vnet + 6, mac, 6);
        buf[vnet + 12] = 0x08;
        buf[vnet + 13] = 0x06;
        memcpy(buf + vnet + 14, arp_head, sizeof(arp_head));
        memcpy(buf + vnet + 22, mac, 6);
        memcpy(buf + vnet + 28, &guest, 4);
        memcpy(buf + vnet + 38, &gw, 4);
        return len;
}

static void *churn_thread(void *p)
{
        struct churn_ctx *cc = p;
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;
        tl_client *c = connect_client(cc->b);

        pthread_barrier_wait(cc->barrier);
        while (now_ns() < cc->deadline) {
                uint8_t frame[128];
                uint64_t t0 = now_ns();
                size_t len;
                tl_slot *s;
                int r;

                r = tl_acquire(c, &opts, &s);
                if (r < 0)
                        die("churn: Acquire: %s", tl_client_error_message(c));
                samples_add(&cc->lat, now_ns() - t0);
                len = guest_frame(s, frame, sizeof(frame));
                if (write(tl_slot_fd(s, 0), frame, len) != (ssize_t)len)
                        die("churn: write on %s: %s", tl_slot_ifname(s), strerror(errno));
                r = tl_release(c, tl_slot_number(s));
                if (r < 0)
                        die("churn: Release: %s", tl_client_error_message(c));
                tl_slot_free(s);
                cc->cycles++;
        }
        tl_client_free(c);
        return NULL;
}

void measure_churn(struct bench *b, unsigned live, struct level *ret)
{
        struct churn_ctx cc[CHURN_CLIENTS];
        struct samples all = {0};
        pthread_barrier_t barrier;
        double seconds = b->quick ? 3 : 5;
        uint64_t t0, deadline;
        size_t cycles = 0;

        progress("live %u: churn, %d clients acquire + write + release for %.0f s", live, CHURN_CLIENTS,
                 seconds);
        /* The barrier also covers connecting: the clock starts after. */
        pthread_barrier_init(&barrier, NULL, CHURN_CLIENTS);
        t0 = now_ns();
        deadline = t0 + (uint64_t)(seconds * 1e9);
        for (size_t i = 0; i < ELEMENTSOF(cc); i++)
                cc[i] = (struct churn_ctx){.b = b, .deadline = deadline, .barrier = &barrier};
        run_threads(churn_thread, cc, sizeof(cc[0]), CHURN_CLIENTS);
        pthread_barrier_destroy(&barrier);
        seconds = (now_ns() - t0) / 1e9;
        for (size_t i = 0; i < ELEMENTSOF(cc); i++) {
                samples_merge(&all, &cc[i].lat);
                cycles += cc[i].cycles;
                samples_free(&cc[i].lat);
        }
        expect_live(b, live, "after churn");

        ret->churn_done = true;
        ret->churn_cycles = cycles;
        ret->churn_cycles_per_s = cycles / seconds;
        ret->churn_p50 = quantile_us(&all, 0.5);
        ret->churn_p99 = quantile_us(&all, 0.99);
        progress("  %zu cycles, %.0f/s; acquire p50 %.0f p99 %.0f us", cycles, ret->churn_cycles_per_s,
                 ret->churn_p50, ret->churn_p99);
        samples_free(&all);
}

/* ---- as a client sees it: one client, one Acquire after another ---- */

/* The daemon: Acquires back to back on one connection, every slot kept
 * until the pass ends, as a VMM manager starting sandboxes does. Plain:
 * the client keeps the fds. Persistent: it closes them as soon as it has
 * them (Firecracker's jailer opens the TAP by name later). */
static void seq_daemon(struct bench *b, unsigned n, bool persistent, struct samples *ret)
{
        tl_acquire_options opts = TL_ACQUIRE_OPTIONS_INIT;
        tl_client *c = connect_client(b);
        tl_slot **kept = calloc(n, sizeof(*kept));

        if (!kept)
                die("out of memory");
        opts.persistent = persistent;
        for (unsigned i = 0; i < n; i++) {
                uint64_t t0 = now_ns();

                if (tl_acquire(c, &opts, &kept[i]) < 0)
                        die("Acquire: %s", tl_client_error_message(c));
                if (persistent)
                        close(tl_slot_take_fd(kept[i], 0));
                samples_add(ret, now_ns() - t0);
        }
        for (unsigned i = 0; i < n; i++) {
                if (tl_release(c, tl_slot_number(kept[i])) < 0)
                        die("Release: %s", tl_client_error_message(c));
                tl_slot_free(kept[i]);
        }
        free(kept);
        tl_client_free(c);
}

/* REPS passes of each kind, the order rotating, each after the machine
 * is quiet again (the previous pass's releases are deletions in the
 * background, and the kernel's carrier-off work runs up to a second
 * late). */
void measure_sequential(struct bench *b, unsigned live, struct level *lv)
{
        unsigned n = b->quick || live >= 5000 ? 50 : 100;
        struct samples all[SEQ_KINDS] = {{0}};

        progress("live %u: one client, %u Acquires back to back, slots kept: plain, persistent (fds "
                 "closed), the floor of each, and the naive floor (%d passes)",
                 live, n, REPS);
        for (unsigned rep = 0; rep < REPS; rep++)
                for (unsigned i = 0; i < SEQ_KINDS; i++) {
                        enum seq_kind k = (rep + i) % SEQ_KINDS;
                        bool persistent = k == SEQ_PERSISTENT || k == SEQ_FLOOR_PERSISTENT;

                        wait_for_quiet("a sequential pass");
                        if (k == SEQ_PLAIN || k == SEQ_PERSISTENT)
                                seq_daemon(b, n, persistent, &all[k]);
                        else
                                seq_floor(b, n, persistent, k == SEQ_NAIVE, &all[k]);
                }
        expect_live(b, live, "after the sequential passes");
        for (unsigned k = 0; k < SEQ_KINDS; k++) {
                lv->seq_p50[k] = quantile_us(&all[k], 0.5);
                lv->seq_p99[k] = quantile_us(&all[k], 0.99);
                samples_free(&all[k]);
        }
        lv->seq_done = true;
        progress("  plain p50 %.0f p99 %.0f, persistent p50 %.0f p99 %.0f; floor p50 %.0f p99 %.0f, "
                 "floor persistent p50 %.0f p99 %.0f, naive floor p50 %.0f p99 %.0f us",
                 lv->seq_p50[SEQ_PLAIN], lv->seq_p99[SEQ_PLAIN], lv->seq_p50[SEQ_PERSISTENT],
                 lv->seq_p99[SEQ_PERSISTENT], lv->seq_p50[SEQ_FLOOR], lv->seq_p99[SEQ_FLOOR],
                 lv->seq_p50[SEQ_FLOOR_PERSISTENT], lv->seq_p99[SEQ_FLOOR_PERSISTENT],
                 lv->seq_p50[SEQ_NAIVE], lv->seq_p99[SEQ_NAIVE]);
}

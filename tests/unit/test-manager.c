/* SPDX-License-Identifier: MIT */
// MODULES: manager slot config config-values log egress publish
/* The slot state machine (src/manager.c) with fake kernel ops and fake
 * lifecycle subscribers: an Acquire that succeeds, one that fails at each
 * step, a Release during an Acquire, a device that goes during an Acquire,
 * Release and its failure, adoption at start-up, lost link events, holds,
 * and the transition table. No root, no kernel: the fds are eventfds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"
#include "manager.h"
#include "slot.h"

/* ---- fake kernel ---- */

struct fake {
        struct manager *m;
        struct config config;
        char calls[512];  /* "tap_create configure ..." */
        const char *fail; /* the op that fails */
        int fail_errno;
        unsigned busy_slot; /* tap_create: -EBUSY for this slot's name, +1 */
        int next_ifindex;
        unsigned clone_mtu;
        int open_fds; /* made by tap_create, not yet closed */
        int delete_ifindex;
        unsigned delete_slot;
        struct rtnl_link_config lc;
        char lc_alias[TAP_MAX_QUEUES * 8];
        /* Runs inside configure_link, as a kernel event could. */
        void (*during_configure)(struct fake *f);
        int during_result;
};

static void call(struct fake *f, const char *name)
{
        if (f->calls[0])
                strcat(f->calls, " ");
        strcat(f->calls, name);
}

static int fail_if(struct fake *f, const char *name)
{
        return f->fail && streq_ptr(f->fail, name) ? -f->fail_errno : 0;
}

static int fake_tap_create(void *ctx, const char *name, const struct tap_options *opts, int *fds,
                           int *ret_ifindex, const char **ret_op)
{
        struct fake *f = ctx;
        char busy[IFNAMSIZ];

        call(f, "tap_create");
        if (f->busy_slot && slot_ifname(&f->config, f->busy_slot - 1, busy) >= 0 && streq_ptr(busy, name))
                return -EBUSY;
        if (fail_if(f, "tap_create") < 0) {
                *ret_op = "TUNSETIFF";
                return fail_if(f, "tap_create");
        }
        for (unsigned i = 0; i < opts->queues; i++) {
                fds[i] = eventfd(0, EFD_CLOEXEC);
                assert_true(fds[i] >= 0);
                f->open_fds++;
        }
        *ret_ifindex = ++f->next_ifindex;
        return 0;
}

/* A clone slot's device: the namespace's TAP fds and the veth's ifindex,
 * made as fake_tap_create() makes a TAP. */
static int fake_clone_create(void *ctx, unsigned slot, const char *name, const struct tap_options *opts,
                             unsigned mtu, int *fds, int *ret_ifindex, const char **ret_op)
{
        struct fake *f = ctx;
        char want[IFNAMSIZ];
        int e;

        assert_int_equal(slot_ifname(&f->config, slot, want), 0);
        assert_string_equal(name, want);
        f->clone_mtu = mtu;
        e = fake_tap_create(ctx, name, opts, fds, ret_ifindex, ret_op);
        /* fake_tap_create() noted itself: this call's name instead. */
        f->calls[strlen(f->calls) - strlen("tap_create")] = '\0';
        call(f, "clone_create");
        return e;
}

static int fake_configure_link(void *ctx, const struct rtnl_link_config *lc, const char **ret_op)
{
        struct fake *f = ctx;

        call(f, "configure");
        f->lc = *lc;
        snprintf(f->lc_alias, sizeof(f->lc_alias), "%s", lc->alias ? lc->alias : "");
        if (f->during_configure)
                f->during_configure(f);
        if (fail_if(f, "configure") < 0) {
                *ret_op = "RTM_NEWADDR";
                return fail_if(f, "configure");
        }
        return 0;
}

static int fake_set_egress(void *ctx, struct slot_rec *r, struct egress_policy *p)
{
        struct fake *f = ctx;
        call(f, "set_egress");
        int e = fail_if(f, "set_egress");
        if (e == 0)
                manager_set_egress(r, p);
        return e;
}

static int fake_set_published(void *ctx, struct slot_rec *r, struct publish_list *l)
{
        struct fake *f = ctx;
        call(f, "set_published");
        int e = fail_if(f, "set_published");
        if (e == 0)
                manager_set_published(r, l);
        return e;
}

static int fake_add_elements(void *ctx, unsigned slot)
{
        struct fake *f = ctx;

        call(f, "add_elements");
        return fail_if(f, "add_elements");
}

static int fake_delete_link(void *ctx, int ifindex, unsigned slot)
{
        struct fake *f = ctx;

        call(f, "delete_link");
        f->delete_ifindex = ifindex;
        f->delete_slot = slot;
        return fail_if(f, "delete_link");
}

static void fake_close_fds(void *ctx, int *fds, size_t n)
{
        struct fake *f = ctx;

        if (n > 0)
                call(f, "close_fds");
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(close(fds[i]), 0);
                fds[i] = -1;
                f->open_fds--;
        }
}

static const struct manager_ops fake_ops = {
    .tap_create = fake_tap_create,
    .clone_create = fake_clone_create,
    .configure_link = fake_configure_link,
    .add_elements = fake_add_elements,
    .set_egress = fake_set_egress,
    .set_published = fake_set_published,
    .delete_link = fake_delete_link,
    .close_fds = fake_close_fds,
};

/* ---- fake subscriber ---- */

struct sub {
        struct fake *fake;
        unsigned n_live, n_changed, n_gone;
        bool take_fds; /* live: take the fds (and close them) */
        bool hold;     /* gone: hold the slot */
        struct slot_rec *held;
        void *cookie;       /* live: r->acquire_cookie */
        bool gone_was_live; /* gone: r->was_live */
        enum slot_phase gone_phase;
        enum slot_end gone_end; /* gone: r->end */
};

static void sub_live(struct slot_rec *r, void *userdata)
{
        struct sub *s = userdata;
        int fds[TAP_MAX_QUEUES];

        s->n_live++;
        s->cookie = r->acquire_cookie;
        assert_int_equal(r->phase, SLOT_LIVE);
        if (s->take_fds && r->acquire_cookie) {
                size_t n = manager_take_fds(r, fds);
                assert_int_equal(n, r->queues);
                for (size_t i = 0; i < n; i++) {
                        assert_int_equal(close(fds[i]), 0);
                        s->fake->open_fds--;
                }
        }
}

static void sub_changed(struct slot_rec *r, void *userdata)
{
        struct sub *s = userdata;
        s->n_changed++;
}

static void sub_gone(struct slot_rec *r, void *userdata)
{
        struct sub *s = userdata;

        s->n_gone++;
        s->gone_was_live = r->was_live;
        s->gone_phase = r->phase;
        s->gone_end = r->end;
        if (s->hold) {
                manager_hold(r);
                s->held = r;
        }
}

static const struct slot_hooks sub_hooks = {
    .name = "test",
    .live = sub_live,
    .changed = sub_changed,
    .gone = sub_gone,
};

struct released {
        unsigned n;
        int error;
        const char *op;
};

static void on_released(int error, const char *op, void *userdata)
{
        struct released *r = userdata;
        r->n++;
        r->error = error;
        r->op = op;
}

/* ---- fixture ---- */

struct t {
        struct fake fake;
        struct sub sub;
        struct released rel; /* outlives the test: teardown may answer it */
};

/* A manager still starting: reconcile's adoptions, before it serves. */
static int setup_starting(void **state)
{
        struct t *t = calloc(1, sizeof(*t));
        char *warning = NULL, *error = NULL;

        assert_non_null(t);
        assert_int_equal(config_init(&t->fake.config, &warning), 0);
        free(warning);
        t->fake.config.max_slots = 4;
        assert_int_equal(config_finish(&t->fake.config, &error), 0);
        assert_int_equal(t->fake.config.effective_max_slots, 4);
        assert_int_equal(manager_new(&t->fake.config, &fake_ops, &t->fake, &t->fake.m), 0);
        t->sub.fake = &t->fake;
        t->sub.take_fds = true;
        assert_int_equal(manager_subscribe(t->fake.m, &sub_hooks, &t->sub), 0);
        *state = t;
        return 0;
}

static int setup(void **state)
{
        setup_starting(state);
        manager_started(((struct t *)*state)->fake.m);
        return 0;
}

static int teardown(void **state)
{
        struct t *t = *state;

        manager_free(t->fake.m);
        config_done(&t->fake.config);
        free(t);
        return 0;
}

static const struct slot_request plain = {.owner = 1000, .label = "vm-1", .mtu = 1500, .queues = 2};

static int acquire(struct t *t, const char **op, struct slot_rec **ret)
{
        t->fake.calls[0] = '\0';
        return manager_acquire(t->fake.m, &plain, t, ret, op);
}

static void link_gone(struct t *t, const struct slot_rec *r)
{
        char name[IFNAMSIZ];
        int ifindex = r->ifindex;

        assert_int_equal(slot_ifname(&t->fake.config, r->slot, name), 0);
        manager_link_gone(t->fake.m, ifindex, name);
}

/* ---- tests ---- */

static void test_acquire(void **state)
{
        struct t *t = *state;
        struct slot_rec *r = NULL;
        const char *op = NULL;
        uint8_t mac[6];

        assert_int_equal(acquire(t, &op, &r), 0);
        assert_string_equal(t->fake.calls, "tap_create configure add_elements");
        assert_int_equal(r->phase, SLOT_LIVE);
        assert_int_equal(r->slot, 0);
        assert_int_equal(r->owner, 1000);
        assert_string_equal(r->label, "vm-1");
        assert_int_equal(r->queues, 2);
        assert_true(r->was_live);
        assert_ptr_equal(manager_slot(t->fake.m, 0), r);
        assert_ptr_equal(manager_records(t->fake.m), r);
        assert_int_equal(manager_slots_in_use(t->fake.m), 1);
        /* The subscriber ran once, saw the cookie and took both fds. */
        assert_int_equal(t->sub.n_live, 1);
        assert_ptr_equal(t->sub.cookie, t);
        assert_null(r->acquire_cookie);
        assert_int_equal(t->fake.open_fds, 0);
        assert_int_equal(r->n_fds, 0);
        /* The link got the slot's own configuration. */
        slot_host_mac(0, mac);
        assert_memory_equal(t->fake.lc.mac, mac, 6);
        assert_int_equal(t->fake.lc.mtu, 1500);
        assert_int_equal(t->fake.lc.ifindex, r->ifindex);
        assert_string_equal(t->fake.lc_alias, "vm-1");

        assert_int_equal(acquire(t, &op, &r), 0);
        assert_int_equal(r->slot, 1);
        assert_int_equal(manager_slots_in_use(t->fake.m), 2);
}

/* A clone slot: its device from clone_create, configured without IPv6;
 * without the op clone slots are refused before anything is made. */
static void test_acquire_clone(void **state)
{
        struct t *t = *state;
        struct slot_request req = plain;
        struct slot_rec *r = NULL;
        const char *op = NULL;
        struct manager *m2;

        req.clone = true;
        req.mtu = 1400;
        t->fake.calls[0] = '\0';
        assert_true(t->fake.config.ipv6);
        assert_int_equal(manager_acquire(t->fake.m, &req, t, &r, &op), 0);
        assert_string_equal(t->fake.calls, "clone_create configure add_elements");
        assert_true(r->clone);
        assert_int_equal(t->fake.clone_mtu, 1400);
        assert_false(t->fake.lc.ipv6);
        assert_int_equal(t->fake.lc.ifindex, r->ifindex);
        assert_int_equal(t->sub.n_live, 1);
        /* It ends as any slot does. */
        link_gone(t, r);
        assert_int_equal(manager_slots_in_use(t->fake.m), 0);

        /* An ordinary slot is configured with IPv6 as before. */
        assert_int_equal(acquire(t, &op, &r), 0);
        assert_false(r->clone);
        assert_true(t->fake.lc.ipv6);

        struct manager_ops no_clone = fake_ops;
        no_clone.clone_create = NULL;
        assert_int_equal(manager_new(&t->fake.config, &no_clone, &t->fake, &m2), 0);
        t->fake.calls[0] = '\0';
        assert_int_equal(manager_acquire(m2, &req, t, &r, &op), -EOPNOTSUPP);
        assert_string_equal(op, "clone");
        assert_string_equal(t->fake.calls, "");
        manager_free(m2);
}

/* Nobody takes the fds: they are closed, so the device goes. */
static void test_acquire_fds_untaken(void **state)
{
        struct t *t = *state;
        const char *op = NULL;

        t->sub.take_fds = false;
        assert_int_equal(acquire(t, &op, NULL), 0);
        assert_string_equal(t->fake.calls, "tap_create configure add_elements close_fds");
        assert_int_equal(t->fake.open_fds, 0);
}

static void test_acquire_fails(void **state)
{
        static const struct {
                const char *step, *op;
                bool made;
        } steps[] = {
            {"tap_create", "TUNSETIFF", false},
            {"configure", "RTM_NEWADDR", true},
            {"add_elements", "nft batch", true},
        };

        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                struct t *t = NULL;
                struct slot_rec *r;
                const char *op = NULL;

                setup((void **)&t);
                t->fake.fail = steps[i].step;
                t->fake.fail_errno = EIO;
                assert_int_equal(acquire(t, &op, NULL), -EIO);
                assert_string_equal(op, steps[i].op);
                assert_int_equal(t->sub.n_live, 0);
                assert_int_equal(manager_slots_in_use(t->fake.m), 0);
                assert_int_equal(t->fake.open_fds, 0);
                r = manager_slot(t->fake.m, 0);
                if (!steps[i].made) {
                        /* Nothing was made: the slot is free at once. */
                        assert_null(r);
                        assert_int_equal(t->sub.n_gone, 0);
                } else {
                        /* The device goes with its fds; until it has, the
                         * slot is not handed out again. */
                        assert_non_null(r);
                        assert_int_equal(r->phase, SLOT_FAILED);
                        assert_int_equal(t->sub.n_gone, 1);
                        assert_false(t->sub.gone_was_live);
                        assert_int_equal(t->sub.gone_end, SLOT_END_ACQUIRE_FAILED);
                        t->fake.fail = NULL;
                        assert_int_equal(acquire(t, &op, &r), 0);
                        assert_int_equal(r->slot, 1);
                        link_gone(t, manager_slot(t->fake.m, 0));
                        assert_null(manager_slot(t->fake.m, 0));
                        assert_int_equal(t->sub.n_gone, 1); /* once per slot */
                }
                teardown((void **)&t);
        }
}

static void test_no_slot_available(void **state)
{
        struct t *t = *state;
        const char *op = NULL;

        for (unsigned i = 0; i < 4; i++)
                assert_int_equal(acquire(t, &op, NULL), 0);
        assert_int_equal(acquire(t, &op, NULL), -ENOSPC);
        assert_string_equal(t->fake.calls, "");
        assert_int_equal(manager_slots_in_use(t->fake.m), 4);
}

/* A device someone else made holds slot 0's name: skipped, kept out of
 * the free list until it goes. */
static void test_foreign_name(void **state)
{
        struct t *t = *state;
        struct slot_rec *r = NULL;
        const char *op = NULL;
        char name[IFNAMSIZ];

        t->fake.busy_slot = 1;
        assert_int_equal(acquire(t, &op, &r), 0);
        assert_int_equal(r->slot, 1);
        assert_int_equal(manager_slot(t->fake.m, 0)->phase, SLOT_FOREIGN);
        assert_ptr_equal(manager_records(t->fake.m), r); /* not listed */
        assert_int_equal(manager_slots_in_use(t->fake.m), 1);

        assert_int_equal(slot_ifname(&t->fake.config, 0, name), 0);
        manager_link_gone(t->fake.m, 999, name);
        assert_null(manager_slot(t->fake.m, 0));
        assert_int_equal(t->sub.n_gone, 0);
}

static void gone_during_configure(struct fake *f)
{
        char name[IFNAMSIZ];

        assert_int_equal(slot_ifname(&f->config, 0, name), 0);
        manager_link_gone(f->m, f->lc.ifindex, name);
}

static void test_device_gone_during_acquire(void **state)
{
        struct t *t = *state;
        const char *op = NULL;

        t->sub.hold = true;
        t->fake.during_configure = gone_during_configure;
        assert_int_equal(acquire(t, &op, NULL), -ENODEV);
        assert_string_equal(op, "device vanished");
        assert_int_equal(t->sub.n_live, 0);
        assert_int_equal(t->sub.n_gone, 1);
        assert_int_equal(t->sub.gone_end, SLOT_END_ACQUIRE_FAILED);
        assert_int_equal(t->fake.open_fds, 0);
        /* Gone already, waiting for the subscriber's hold only. */
        assert_int_equal(manager_slot(t->fake.m, 0)->phase, SLOT_GONE);
        manager_unhold(t->fake.m, t->sub.held);
        assert_null(manager_slot(t->fake.m, 0));
        assert_null(manager_records(t->fake.m));
}

static void release_during_configure(struct fake *f)
{
        static struct released rel;
        struct slot_rec *r = manager_slot(f->m, 0);

        assert_non_null(r);
        assert_int_equal(r->phase, SLOT_ACQUIRING);
        f->during_result = manager_release(f->m, r, on_released, &rel);
}

static void test_release_during_acquire(void **state)
{
        struct t *t = *state;
        const char *op = NULL;

        t->fake.during_configure = release_during_configure;
        assert_int_equal(acquire(t, &op, NULL), 0);
        assert_int_equal(t->fake.during_result, -ENOENT);
        assert_int_equal(manager_slot(t->fake.m, 0)->phase, SLOT_LIVE);
        assert_null(strstr(t->fake.calls, "delete_link"));
}

static void test_release(void **state)
{
        struct t *t = *state;
        struct released a = {0}, b = {0};
        struct slot_rec *r = NULL;
        const char *op = NULL;

        assert_int_equal(acquire(t, &op, &r), 0);
        t->sub.hold = true;
        t->fake.calls[0] = '\0';
        assert_int_equal(manager_release(t->fake.m, r, on_released, &a), 0);
        assert_string_equal(t->fake.calls, "delete_link");
        assert_int_equal(t->fake.delete_ifindex, r->ifindex);
        assert_int_equal(t->fake.delete_slot, 0);
        assert_int_equal(r->phase, SLOT_RELEASING);
        /* A second Release waits for the same deletion. */
        assert_int_equal(manager_release(t->fake.m, r, on_released, &b), 0);
        assert_string_equal(t->fake.calls, "delete_link");
        assert_int_equal(manager_slots_in_use(t->fake.m), 1);

        link_gone(t, r);
        assert_int_equal(t->sub.n_gone, 1);
        assert_true(t->sub.gone_was_live);
        assert_int_equal(t->sub.gone_phase, SLOT_GONE);
        assert_int_equal(t->sub.gone_end, SLOT_END_RELEASE);
        assert_int_equal(manager_slots_in_use(t->fake.m), 0);
        /* Held: Release is answered when the hold goes. */
        assert_int_equal(a.n + b.n, 0);
        assert_non_null(manager_slot(t->fake.m, 0));
        manager_unhold(t->fake.m, t->sub.held);
        assert_int_equal(a.n, 1);
        assert_int_equal(a.error, 0);
        assert_int_equal(b.n, 1);
        assert_null(manager_slot(t->fake.m, 0));

        /* No longer there. */
        assert_int_equal(acquire(t, &op, &r), 0);
        assert_int_equal(r->slot, 1); /* freed slots go to the back */
}

static void test_release_delete_fails(void **state)
{
        struct t *t = *state;
        struct released *a = &t->rel;
        struct slot_rec *r = NULL;
        const char *op = NULL;

        assert_int_equal(acquire(t, &op, &r), 0);
        /* At once: the slot stays live. */
        t->fake.fail = "delete_link";
        t->fake.fail_errno = ENOMEM;
        assert_int_equal(manager_release(t->fake.m, r, on_released, a), -ENOMEM);
        assert_int_equal(r->phase, SLOT_LIVE);
        assert_int_equal(a->n, 0);

        /* Later, from the reaper: the waiters get the error. */
        t->fake.fail = NULL;
        assert_int_equal(manager_release(t->fake.m, r, on_released, a), 0);
        manager_link_delete_failed(t->fake.m, r->ifindex + 1, r->slot, -EPERM); /* another device */
        assert_int_equal(a->n, 0);
        manager_link_delete_failed(t->fake.m, r->ifindex, r->slot, -EPERM);
        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, -EPERM);
        assert_string_equal(a->op, "RTM_DELLINK");
        assert_int_equal(r->phase, SLOT_LIVE);
        assert_int_equal(t->sub.n_gone, 0);
        assert_int_equal(r->end, SLOT_END_NONE);
        /* Released again, and this time it goes. */
        assert_int_equal(manager_release(t->fake.m, r, on_released, a), 0);
        link_gone(t, r);
        assert_int_equal(t->sub.n_gone, 1);
        assert_int_equal(t->sub.gone_end, SLOT_END_RELEASE);
}

/* A Release failed, then the VMM exited: the device went by itself. */
static void test_release_failed_then_vmm_exit(void **state)
{
        struct t *t = *state;
        struct released *a = &t->rel;
        struct slot_rec *r = NULL;
        const char *op = NULL;

        assert_int_equal(acquire(t, &op, &r), 0);
        assert_int_equal(manager_release(t->fake.m, r, on_released, a), 0);
        manager_link_delete_failed(t->fake.m, r->ifindex, r->slot, -EPERM);
        assert_int_equal(r->phase, SLOT_LIVE);
        link_gone(t, r);
        assert_int_equal(t->sub.n_gone, 1);
        assert_int_equal(t->sub.gone_end, SLOT_END_DEVICE_GONE);
}

/* The VMM closed its fds: the device went without a Release. */
static void test_vmm_exit(void **state)
{
        struct t *t = *state;
        struct slot_rec *r = NULL;
        const char *op = NULL;

        assert_int_equal(acquire(t, &op, &r), 0);
        link_gone(t, r);
        assert_int_equal(t->sub.n_gone, 1);
        assert_int_equal(t->sub.gone_end, SLOT_END_DEVICE_GONE);
        assert_null(manager_slot(t->fake.m, 0));
        assert_int_equal(manager_slots_in_use(t->fake.m), 0);
}

static struct rtnl_tap_info tap_info(struct t *t, unsigned slot, int ifindex)
{
        struct rtnl_tap_info info = {
            .ifindex = ifindex,
            .mtu = 9000,
            .queues = 3,
            .has_owner = true,
            .owner = 1001,
            .persist = true,
        };

        assert_int_equal(slot_ifname(&t->fake.config, slot, info.ifname), 0);
        slot_host_mac(slot, info.mac);
        strcpy(info.alias, "adopted");
        return info;
}

static void test_adopt(void **state)
{
        struct t *t = *state;
        struct rtnl_tap_info info = tap_info(t, 2, 42);
        struct slot_rec *r;
        const char *op = NULL;

        assert_int_equal(manager_adopt(t->fake.m, &info), 0);
        r = manager_slot(t->fake.m, 2);
        assert_non_null(r);
        assert_int_equal(r->phase, SLOT_LIVE);
        assert_int_equal(r->ifindex, 42);
        assert_int_equal(r->owner, 1001);
        assert_string_equal(r->label, "adopted");
        assert_int_equal(r->mtu, 9000);
        assert_int_equal(r->queues, 3);
        assert_true(r->persistent);
        assert_int_equal(t->sub.n_live, 1);
        assert_null(t->sub.cookie);
        /* Seen twice (monitor and dump): once. */
        assert_int_equal(manager_adopt(t->fake.m, &info), 0);
        assert_int_equal(t->sub.n_live, 1);

        /* Not made by taplinkd: kept out of the free list, not live. */
        info = tap_info(t, 0, 43);
        info.mac[5] ^= 1;
        assert_int_equal(manager_adopt(t->fake.m, &info), 0);
        assert_int_equal(manager_slot(t->fake.m, 0)->phase, SLOT_FOREIGN);
        assert_int_equal(t->sub.n_live, 1);

        /* The prefix but no slot of this configuration: left alone. */
        strcpy(info.ifname, "tlx");
        assert_int_equal(manager_adopt(t->fake.m, &info), 0);
        assert_int_equal(manager_slots_in_use(t->fake.m), 1);

        /* Acquire hands out neither. */
        assert_int_equal(acquire(t, &op, &r), 0);
        assert_int_equal(r->slot, 1);
        assert_int_equal(acquire(t, &op, &r), 0);
        assert_int_equal(r->slot, 3);
        assert_int_equal(acquire(t, &op, &r), -ENOSPC);
        /* An adopted slot ends like any other. */
        link_gone(t, manager_slot(t->fake.m, 2));
        assert_true(t->sub.gone_was_live);
        assert_int_equal(t->sub.gone_end, SLOT_END_DEVICE_GONE);
        assert_null(manager_slot(t->fake.m, 2));
}

/* A device adopted at start-up that goes before the daemon serves (seen
 * by the link monitor, open since before the dump). */
static void test_gone_at_start(void **state)
{
        struct t *t = *state;
        struct rtnl_tap_info a = tap_info(t, 1, 42), b = tap_info(t, 2, 43);

        assert_int_equal(manager_adopt(t->fake.m, &a), 0);
        assert_int_equal(manager_adopt(t->fake.m, &b), 0);
        link_gone(t, manager_slot(t->fake.m, 1));
        assert_int_equal(t->sub.n_gone, 1);
        assert_true(t->sub.gone_was_live);
        assert_int_equal(t->sub.gone_end, SLOT_END_GONE_AT_START);

        manager_started(t->fake.m);
        link_gone(t, manager_slot(t->fake.m, 2));
        assert_int_equal(t->sub.n_gone, 2);
        assert_int_equal(t->sub.gone_end, SLOT_END_DEVICE_GONE);
        assert_string_equal(slot_end_to_string(SLOT_END_GONE_AT_START), "gone at start");
}

/* The monitor overran: a dump says which devices are still there. */
static void test_links_present(void **state)
{
        struct t *t = *state;
        struct slot_rec *r[3];
        const char *op = NULL;
        int present[1];

        for (size_t i = 0; i < ELEMENTSOF(r); i++)
                assert_int_equal(acquire(t, &op, &r[i]), 0);
        present[0] = r[1]->ifindex;
        manager_links_present(t->fake.m, present, 1);
        assert_int_equal(t->sub.n_gone, 2);
        assert_int_equal(t->sub.gone_end, SLOT_END_DEVICE_GONE);
        assert_null(manager_slot(t->fake.m, 0));
        assert_non_null(manager_slot(t->fake.m, 1));
        assert_null(manager_slot(t->fake.m, 2));
        assert_int_equal(manager_slots_in_use(t->fake.m), 1);
}

static void test_records_by_slot(void **state)
{
        struct t *t = *state;
        _cleanup_free_ struct slot_rec **v = NULL;
        struct slot_rec *r[3];
        const char *op = NULL;

        assert_int_equal(manager_records_by_slot(t->fake.m, &v), 0);
        assert_null(v);
        for (size_t i = 0; i < ELEMENTSOF(r); i++)
                assert_int_equal(acquire(t, &op, &r[i]), 0);
        /* Slot 1 ends; the next Acquire takes 3: records are newest first
         * (3, 2, 0), the array is by number. */
        link_gone(t, r[1]);
        assert_int_equal(acquire(t, &op, &r[1]), 0);
        assert_int_equal(r[1]->slot, 3);
        assert_int_equal(manager_records(t->fake.m)->slot, 3);
        assert_int_equal(manager_records_by_slot(t->fake.m, &v), 3);
        assert_int_equal(v[0]->slot, 0);
        assert_int_equal(v[1]->slot, 2);
        assert_int_equal(v[2]->slot, 3);
}

static void test_changed_and_unsubscribe(void **state)
{
        struct t *t = *state;
        struct slot_rec *r = NULL;
        const char *op = NULL;

        assert_int_equal(acquire(t, &op, &r), 0);
        manager_slot_changed(t->fake.m, r);
        assert_int_equal(t->sub.n_changed, 1);
        manager_unsubscribe(t->fake.m, &sub_hooks, &t->sub);
        manager_slot_changed(t->fake.m, r);
        link_gone(t, r);
        assert_int_equal(t->sub.n_changed, 1);
        assert_int_equal(t->sub.n_gone, 0);
}

static struct publish_list *ports(unsigned n)
{
        struct publish_list *l = publish_list_new(n);
        assert_non_null(l);
        for (unsigned i = 0; i < n; i++)
                l->ports[l->n++] = (struct publish_port){
                    .protocol = IPPROTO_TCP, .host_port = (uint16_t)(20000 + i), .guest_port = 80};
        return l;
}

/* An Acquire's ports are the record's own copy; Publish and Unpublish
 * replace them through the ops and tell the subscribers. */
static void test_published(void **state)
{
        struct t *t = *state;
        struct slot_request req = plain;
        struct publish_list *l = ports(2), *next;
        struct slot_rec *r = NULL;
        const char *op = NULL;

        req.published = l;
        assert_int_equal(manager_acquire(t->fake.m, &req, t, &r, &op), 0);
        assert_non_null(r->published);
        assert_ptr_not_equal(r->published, l);
        assert_true(publish_list_equal(r->published, l));
        free(l);

        next = ports(3);
        assert_int_equal(manager_change_published(t->fake.m, r, next), 0);
        assert_ptr_equal(r->published, next);
        assert_int_equal(t->sub.n_changed, 1);

        /* A failing commit changes nothing and tells nobody. */
        l = ports(1);
        t->fake.fail = "set_published";
        t->fake.fail_errno = EIO;
        assert_int_equal(manager_change_published(t->fake.m, r, l), -EIO);
        assert_ptr_equal(r->published, next);
        assert_int_equal(t->sub.n_changed, 1);
        t->fake.fail = NULL;

        /* Only a live slot (a held one that is gone: no). */
        t->sub.hold = true;
        link_gone(t, r);
        assert_ptr_equal(t->sub.held, r);
        assert_int_equal(manager_change_published(t->fake.m, r, l), -ENOENT);
        manager_unhold(t->fake.m, r);
        t->sub.hold = false;
        free(l);

        /* Without ports: none. */
        assert_int_equal(acquire(t, &op, &r), 0);
        assert_null(r->published);
}

static void test_subscribe_limit(void **state)
{
        struct t *t = *state;
        static struct sub more[MANAGER_HOOKS_MAX];

        for (size_t i = 1; i < MANAGER_HOOKS_MAX; i++)
                assert_int_equal(manager_subscribe(t->fake.m, &sub_hooks, &more[i]), 0);
        assert_int_equal(manager_subscribe(t->fake.m, &sub_hooks, &more[0]), -E2BIG);
}

/* The daemon stops with a Release waiting on a hold: it hears so, and
 * nothing leaks (ASan and the fd count tell). */
static void test_free_with_pending(void **state)
{
        struct t *t = *state;
        struct released a = {0};
        struct slot_rec *r = NULL;
        const char *op = NULL;

        t->sub.hold = true;
        t->sub.take_fds = false;
        t->fake.fail = "add_elements";
        t->fake.fail_errno = EIO;
        assert_int_equal(acquire(t, &op, NULL), -EIO); /* slot 0: FAILED */
        t->fake.fail = NULL;
        assert_int_equal(acquire(t, &op, &r), 0);
        assert_int_equal(manager_release(t->fake.m, r, on_released, &a), 0);
        link_gone(t, r);
        manager_free(t->fake.m);
        t->fake.m = NULL;
        assert_int_equal(a.n, 1);
        assert_int_equal(a.error, -ESHUTDOWN);
        assert_int_equal(t->fake.open_fds, 0);
}

static void test_transitions(void **state)
{
        static const struct {
                enum slot_phase from, to;
                bool valid;
        } cases[] = {
            {SLOT_ACQUIRING, SLOT_LIVE, true},   {SLOT_ACQUIRING, SLOT_FAILED, true},
            {SLOT_ACQUIRING, SLOT_GONE, false},  {SLOT_LIVE, SLOT_RELEASING, true},
            {SLOT_LIVE, SLOT_GONE, true},        {SLOT_LIVE, SLOT_FAILED, false},
            {SLOT_LIVE, SLOT_ACQUIRING, false},  {SLOT_RELEASING, SLOT_LIVE, true},
            {SLOT_RELEASING, SLOT_GONE, true},   {SLOT_FAILED, SLOT_GONE, true},
            {SLOT_FAILED, SLOT_LIVE, false},     {SLOT_GONE, SLOT_LIVE, false},
            {SLOT_GONE, SLOT_ACQUIRING, false},  {SLOT_FOREIGN, SLOT_LIVE, false},
            {SLOT_LIVE, _SLOT_PHASE_MAX, false}, {_SLOT_PHASE_MAX, SLOT_LIVE, false},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_int_equal(slot_phase_transition_valid(cases[i].from, cases[i].to), cases[i].valid);
        assert_string_equal(slot_phase_to_string(SLOT_RELEASING), "releasing");
        assert_string_equal(slot_phase_to_string(_SLOT_PHASE_MAX), "?");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_acquire, setup, teardown),
            cmocka_unit_test_setup_teardown(test_acquire_fds_untaken, setup, teardown),
            cmocka_unit_test_setup_teardown(test_acquire_clone, setup, teardown),
            cmocka_unit_test(test_acquire_fails),
            cmocka_unit_test_setup_teardown(test_no_slot_available, setup, teardown),
            cmocka_unit_test_setup_teardown(test_foreign_name, setup, teardown),
            cmocka_unit_test_setup_teardown(test_device_gone_during_acquire, setup, teardown),
            cmocka_unit_test_setup_teardown(test_release_during_acquire, setup, teardown),
            cmocka_unit_test_setup_teardown(test_release, setup, teardown),
            cmocka_unit_test_setup_teardown(test_release_delete_fails, setup, teardown),
            cmocka_unit_test_setup_teardown(test_release_failed_then_vmm_exit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_vmm_exit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_adopt, setup, teardown),
            cmocka_unit_test_setup_teardown(test_gone_at_start, setup_starting, teardown),
            cmocka_unit_test_setup_teardown(test_links_present, setup, teardown),
            cmocka_unit_test_setup_teardown(test_records_by_slot, setup, teardown),
            cmocka_unit_test_setup_teardown(test_changed_and_unsubscribe, setup, teardown),
            cmocka_unit_test_setup_teardown(test_published, setup, teardown),
            cmocka_unit_test_setup_teardown(test_subscribe_limit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_free_with_pending, setup, teardown),
            cmocka_unit_test(test_transitions),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
// MODULES: manager slot config config-values log egress publish
/* An Acquire whose device is made off the event loop (manager_ops.
 * make_device, src/maker.c): the record while the device is made, the
 * result coming back by manager_device_made() (made, failed, deleted
 * meanwhile, lost in an overrun), a name held by someone else, a full
 * maker, and freeing with a device in the making. No kernel: the fds are
 * eventfds, the "maker" is the test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"
#include "manager.h"
#include "slot.h"

struct t {
        struct config config;
        struct manager *m;
        struct device_job job; /* the last one submitted */
        unsigned n_jobs;
        int make_error;      /* make_device's answer */
        unsigned taken_slot; /* name_in_use: true for this slot's name, +1 */
        bool names_gone;     /* name_in_use: false for every name */
        unsigned n_elements, n_live, n_gone, n_done;
        enum slot_end gone_end;
        int done_error;
        const char *done_op;
        void *live_cookie, *done_cookie;
        int open_fds;
};

static int fake_make_device(void *ctx, const struct device_job *job)
{
        struct t *t = ctx;

        if (t->make_error < 0)
                return t->make_error;
        t->job = *job;
        t->n_jobs++;
        return 0;
}

static bool fake_name_in_use(void *ctx, const char *name)
{
        struct t *t = ctx;
        char taken[IFNAMSIZ];

        if (t->names_gone)
                return false;
        if (t->taken_slot && slot_ifname(&t->config, t->taken_slot - 1, taken) >= 0)
                return streq_ptr(taken, name);
        /* A name is in use once its device is made. */
        return t->n_jobs > 0 && streq_ptr(t->job.name, name);
}

static int fake_add_elements(void *ctx, unsigned slot)
{
        struct t *t = ctx;
        t->n_elements++;
        return 0;
}

static void fake_close_fds(void *ctx, int *fds, size_t n)
{
        struct t *t = ctx;

        for (size_t i = 0; i < n; i++) {
                assert_int_equal(close(fds[i]), 0);
                fds[i] = -1;
                t->open_fds--;
        }
}

static int fake_delete_link(void *ctx, int ifindex, unsigned slot)
{
        return 0;
}

static const struct manager_ops ops = {
    .make_device = fake_make_device,
    .name_in_use = fake_name_in_use,
    .add_elements = fake_add_elements,
    .delete_link = fake_delete_link,
    .close_fds = fake_close_fds,
};

static void on_live(struct slot_rec *r, void *userdata)
{
        struct t *t = userdata;
        int fds[TAP_MAX_QUEUES];

        t->n_live++;
        t->live_cookie = r->acquire_cookie;
        fake_close_fds(t, fds, manager_take_fds(r, fds));
}

static void on_gone(struct slot_rec *r, void *userdata)
{
        struct t *t = userdata;
        t->n_gone++;
        t->gone_end = r->end;
}

static const struct slot_hooks hooks = {.name = "test", .live = on_live, .gone = on_gone};

static void on_done(int error, const char *op, void *cookie, void *userdata)
{
        struct t *t = userdata;
        t->n_done++;
        t->done_error = error;
        t->done_op = op;
        t->done_cookie = cookie;
}

static int setup(void **state)
{
        struct t *t = calloc(1, sizeof(*t));
        char *warning = NULL, *error = NULL;

        assert_non_null(t);
        assert_int_equal(config_init(&t->config, &warning), 0);
        free(warning);
        t->config.max_slots = 4;
        assert_int_equal(config_finish(&t->config, &error), 0);
        assert_int_equal(manager_new(&t->config, &ops, t, &t->m), 0);
        assert_int_equal(manager_subscribe(t->m, &hooks, t), 0);
        manager_set_acquire_done(t->m, on_done, t);
        manager_started(t->m);
        *state = t;
        return 0;
}

static int teardown(void **state)
{
        struct t *t = *state;

        manager_free(t->m);
        assert_int_equal(t->open_fds, 0);
        config_done(&t->config);
        free(t);
        return 0;
}

static const struct slot_request plain = {.owner = 1000, .label = "vm-1", .mtu = 1400, .queues = 2};

static struct slot_rec *start(struct t *t)
{
        const char *op = NULL;

        assert_int_equal(manager_acquire(t->m, &plain, t, NULL, &op), 1);
        return manager_slot(t->m, t->job.slot);
}

/* What the worker hands back for the last job: its fds, or error. */
static void made(struct t *t, int error, const char *op)
{
        struct device_made d = {.slot = t->job.slot, .error = error, .op = op};

        if (error == 0) {
                d.ifindex = 100 + (int)t->job.slot;
                d.n_fds = t->job.opts.queues;
                for (unsigned i = 0; i < d.n_fds; i++) {
                        d.fds[i] = eventfd(0, EFD_CLOEXEC);
                        assert_true(d.fds[i] >= 0);
                        t->open_fds++;
                }
        }
        manager_device_made(t->m, &d);
}

static void test_made(void **state)
{
        struct t *t = *state;
        struct slot_rec *r = start(t);
        uint8_t mac[6];

        /* The record is there, not live, counted; nothing committed yet. */
        assert_non_null(r);
        assert_int_equal(r->phase, SLOT_ACQUIRING);
        assert_int_equal(manager_slots_in_use(t->m), 1);
        assert_int_equal(t->n_elements, 0);
        /* The job is the slot's own link. */
        assert_int_equal(t->job.slot, 0);
        assert_string_equal(t->job.name, "tl0");
        assert_int_equal(t->job.opts.queues, 2);
        assert_int_equal(t->job.opts.owner, 1000);
        assert_string_equal(t->job.alias, "vm-1");
        assert_int_equal(t->job.lc.mtu, 1400);
        slot_host_mac(0, mac);
        assert_memory_equal(t->job.lc.mac, mac, 6);

        made(t, 0, NULL);
        assert_int_equal(r->phase, SLOT_LIVE);
        assert_int_equal(r->ifindex, 100);
        assert_int_equal(t->n_elements, 1);
        assert_int_equal(t->n_live, 1);
        assert_ptr_equal(t->live_cookie, t);
        assert_int_equal(t->n_done, 1);
        assert_int_equal(t->done_error, 0);
        assert_ptr_equal(t->done_cookie, t);
        assert_null(r->acquire_cookie);
}

static void test_failed(void **state)
{
        struct t *t = *state;

        start(t);
        made(t, -EPERM, "TUNSETIFF");
        assert_int_equal(t->n_done, 1);
        assert_int_equal(t->done_error, -EPERM);
        assert_string_equal(t->done_op, "TUNSETIFF");
        assert_int_equal(t->n_live, 0);
        assert_int_equal(t->n_gone, 1);
        assert_int_equal(t->gone_end, SLOT_END_ACQUIRE_FAILED);
        /* The slot is free again, and taken next. */
        assert_int_equal(manager_slots_in_use(t->m), 0);
        t->n_jobs = 0;
        start(t);
        assert_int_equal(t->job.slot, 1); /* least recently used first */
        made(t, 0, NULL);
        assert_int_equal(t->n_live, 1);
}

/* Someone else's device holds slot 0's name: it is skipped. */
static void test_name_taken(void **state)
{
        struct t *t = *state;

        t->taken_slot = 1;
        start(t);
        assert_int_equal(t->job.slot, 1);
        assert_int_equal(manager_slot(t->m, 0)->phase, SLOT_FOREIGN);
        made(t, 0, NULL);
        assert_int_equal(t->n_live, 1);
}

/* RTM_DELLINK of the new device before its result came: it fails. */
static void test_deleted_while_made(void **state)
{
        struct t *t = *state;

        start(t);
        manager_link_gone(t->m, 100, "tl0");
        made(t, 0, NULL);
        assert_int_equal(t->done_error, -ENODEV);
        assert_string_equal(t->done_op, "device vanished");
        assert_int_equal(t->n_live, 0);
        assert_int_equal(t->n_gone, 1);
        assert_int_equal(t->open_fds, 0);

        /* Another device's RTM_DELLINK by that name changes nothing. */
        start(t);
        manager_link_gone(t->m, 7, t->job.name);
        made(t, 0, NULL);
        assert_int_equal(t->done_error, 0);
        assert_int_equal(t->n_live, 1);
}

/* Events lost while it was made: the name is checked when it comes. */
static void test_overrun_while_made(void **state)
{
        struct t *t = *state;

        start(t);
        manager_links_present(t->m, NULL, 0);
        assert_int_equal(manager_slot(t->m, 0)->phase, SLOT_ACQUIRING);
        t->names_gone = true;
        made(t, 0, NULL);
        assert_int_equal(t->done_error, -ENODEV);
        assert_int_equal(t->n_live, 0);

        t->names_gone = false;
        start(t);
        manager_links_present(t->m, NULL, 0);
        made(t, 0, NULL);
        assert_int_equal(t->done_error, 0);
        assert_int_equal(t->n_live, 1);
}

/* The maker is full: the Acquire fails at once and takes nothing. */
static void test_maker_full(void **state)
{
        struct t *t = *state;
        const char *op = NULL;

        t->make_error = -EBUSY;
        assert_int_equal(manager_acquire(t->m, &plain, t, NULL, &op), -EBUSY);
        assert_string_equal(op, "make device");
        assert_int_equal(manager_slots_in_use(t->m), 0);
        assert_int_equal(t->n_done, 0);
}

/* The daemon goes while a device is made: the record goes, the result
 * (and its fds) are the maker's to drop. */
static void test_free_while_made(void **state)
{
        struct t *t = *state;

        start(t);
        assert_int_equal(t->n_done, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_made, setup, teardown),
            cmocka_unit_test_setup_teardown(test_failed, setup, teardown),
            cmocka_unit_test_setup_teardown(test_name_taken, setup, teardown),
            cmocka_unit_test_setup_teardown(test_deleted_while_made, setup, teardown),
            cmocka_unit_test_setup_teardown(test_overrun_while_made, setup, teardown),
            cmocka_unit_test_setup_teardown(test_maker_full, setup, teardown),
            cmocka_unit_test_setup_teardown(test_free_while_made, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
// MODULES: config config-print config-values slot
// WRAP: getgrnam_r
/* [access] in the configuration (config.c, config-values.c): allow_users
 * and allow_groups lists, and the default group taplink, whether it exists
 * or not (getgrnam_r() staged). The rest: test-config.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config-values.h"
#include "config.h"
#include "macro.h"
#include "config-test.h"

/* What getgrnam_r says about "taplink": the machine's answer, or a staged
 * one, so that both sides of the default group's leniency are tested
 * wherever the tests run. */
static enum {
        TAPLINK_REAL,
        TAPLINK_MISSING,
        TAPLINK_PRESENT,      /* gid 4242 */
        TAPLINK_PRESENT_BIG,  /* gid 4242, ERANGE below an 8 KiB buffer */
        TAPLINK_LOOKUP_FAILS, /* EIO */
} taplink_group;

int __real_getgrnam_r(const char *name, struct group *grp, char *buf, size_t buflen, struct group **result);
int __wrap_getgrnam_r(const char *name, struct group *grp, char *buf, size_t buflen, struct group **result)
{
        if (strcmp(name, "taplink") != 0 || taplink_group == TAPLINK_REAL)
                return __real_getgrnam_r(name, grp, buf, buflen, result);

        *result = NULL;
        switch (taplink_group) {
        case TAPLINK_MISSING:
                return 0;
        case TAPLINK_LOOKUP_FAILS:
                return EIO;
        case TAPLINK_PRESENT_BIG:
                if (buflen < 8192)
                        return ERANGE;
                /* fall through */
        default:
                *grp = (struct group){.gr_name = (char *)"taplink", .gr_gid = 4242};
                *result = grp;
                return 0;
        }
}

static int reset_group(void **state)
{
        taplink_group = TAPLINK_REAL;
        return 0;
}

/* --- users and groups ---------------------------------------------------- */

struct list_case {
        const char *content;
        bool groups;
        size_t n;
        const char *text;
};

/* clang-format off */
static const struct list_case list_cases[] = {
        { "[access]\nallow_users = root\n", false, 1, "root" },
        { "[access]\nallow_users = 0\n", false, 1, "0" },
        { "[access]\nallow_users = root,0 root\troot\n", false, 4, "root, 0, root, root" },
        { "[access]\nallow_users = ,, root ,\n", false, 1, "root" },
        { "[access]\nallow_users =\n", false, 0, "" },
        { "[access]\nallow_users = 4294967294\n", false, 1, "4294967294" },
        { "[access]\nallow_groups = root, 0\n", true, 2, "root, 0" },
        { "[access]\nallow_groups =\n", true, 0, "" },
        /* a list may continue on indented lines */
        { "[access]\nallow_users = root\n    0, root\n\t0\nmax_slots_per_user = 3\n", false, 4, "root, 0, root, 0" },
        { "[access]\nallow_groups =\n  root\n", true, 1, "root" },
};
/* clang-format on */

static void test_user_group_lists(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(list_cases); i++) {
                const struct list_case *t = &list_cases[i];
                char *error = NULL;
                struct config c;
                size_t n;

                if (load_text(t->content, &c, &error) < 0)
                        fail_msg("case %zu: %s", i, error);
                n = t->groups ? c.n_allow_groups : c.n_allow_users;
                if (n != t->n)
                        fail_msg("case %zu: %zu ids, expected %zu", i, n, t->n);
                for (size_t k = 0; k < n; k++) {
                        unsigned id = t->groups ? c.allow_groups[k] : c.allow_users[k];

                        /* every name above is root, every number 0 but one */
                        assert_true(id == 0 || id == 4294967294u);
                }
                assert_string_equal(t->groups ? c.allow_groups_text : c.allow_users_text, t->text);
                config_done(&c);
        }
}

struct default_group_case {
        int mode;
        size_t n; /* groups */
        const char *text;
        const char *warning; /* NULL: none */
};

/* clang-format off */
static const struct default_group_case default_group_cases[] = {
        { TAPLINK_PRESENT, 1, "taplink", NULL },
        { TAPLINK_PRESENT_BIG, 1, "taplink", NULL },
        { TAPLINK_MISSING, 0, "", "allow_groups: group taplink does not exist" },
        { TAPLINK_LOOKUP_FAILS, 0, "", "allow_groups: cannot look up group taplink (Input/output error)" },
};
/* clang-format on */

/* A fresh machine has no taplink group: the daemon must start anyway. */
static void test_default_group(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(default_group_cases); i++) {
                const struct default_group_case *t = &default_group_cases[i];
                char *warning = (char *)"untouched";
                struct config c;

                taplink_group = t->mode;
                assert_int_equal(config_init(&c, &warning), 0);
                assert_int_equal(c.n_allow_groups, t->n);
                if (t->n > 0)
                        assert_int_equal(c.allow_groups[0], 4242);
                assert_string_equal(c.allow_groups_text, t->text);
                if (t->warning) {
                        assert_non_null(warning);
                        if (!strstr(warning, t->warning))
                                fail_msg("case %zu: warning \"%s\"", i, warning);
                        free(warning);
                } else {
                        assert_null(warning);
                }
                assert_int_equal(c.effective_max_slots, 16384);
                config_done(&c);
        }
}

static void test_default_group_not_lenient_in_file(void **state)
{
        char *error = NULL;
        struct config c;

        taplink_group = TAPLINK_MISSING;
        /* Only the built-in default may name a missing group. */
        assert_int_equal(load_text("[access]\nallow_groups = taplink\n", &c, &error), -EINVAL);
        assert_non_null(strstr(error, ":2: allow_groups: no such group taplink"));
        free(error);
        config_done(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_user_group_lists),
            cmocka_unit_test_teardown(test_default_group, reset_group),
            cmocka_unit_test_teardown(test_default_group_not_lenient_in_file, reset_group),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

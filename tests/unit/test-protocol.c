/* SPDX-License-Identifier: MIT */
// MODULES:
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "macro.h"
#include "protocol.h"

/* taplinkd_label_valid(): what the daemon takes as a label, and what a
 * client may check before asking. */
static void test_label_valid(void **state)
{
        static const struct {
                const char *label;
                size_t len; /* 0: strlen */
                bool valid;
        } cases[] = {
            {"", 0, true},
            {"vm-1", 0, true},
            {"web_01.example:8080@host-A", 0, true},
            {"0123456789012345678901234567890123456789012345678901234567890123", 0, true},
            {"01234567890123456789012345678901234567890123456789012345678901234", 0, false},
            {"no spaces", 0, false},
            {"a/b", 0, false},
            {"tab\there", 0, false},
            {"caf\xc3\xa9", 0, false},
            {"quote\"", 0, false},
            /* JSON's "a\u0000b": three bytes, the C string one long. */
            {"a\0b", 3, false},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t len = cases[i].len ?: strlen(cases[i].label);
                if (taplinkd_label_valid(cases[i].label, len) != cases[i].valid)
                        fail_msg("case %zu (%s): want %s", i, cases[i].label,
                                 cases[i].valid ? "valid" : "invalid");
        }
        assert_false(taplinkd_label_valid(NULL, 0));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_label_valid),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
// MODULES: resolv
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "resolv.h"

static char tmpdir[] = "/tmp/test-resolv-XXXXXX";
static char etc_path[sizeof(tmpdir) + 32];
static char run_path[sizeof(tmpdir) + 32];

static int setup(void **state)
{
        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(etc_path, sizeof(etc_path), "%s/resolv.conf", tmpdir);
        snprintf(run_path, sizeof(run_path), "%s/upstream.conf", tmpdir);
        return 0;
}

static int remove_files(void **state)
{
        unlink(etc_path);
        rmdir(etc_path); /* a test makes it a directory */
        unlink(run_path);
        return 0;
}

static int teardown(void **state)
{
        remove_files(state);
        return rmdir(tmpdir);
}

static void write_file(const char *path, const char *content)
{
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
        assert_int_equal(fclose(f), 0);
}

/* The servers as one line, "v4 v4 | v6 v6", to compare at a glance. */
static const char *servers(const struct guest_dns *dns)
{
        static char out[2 * GUEST_DNS_MAX * (INET6_ADDRSTRLEN + 1) + 4];
        size_t len = 0;

        out[0] = '\0';
        for (size_t i = 0; i < dns->n_v4; i++) {
                len += (size_t)sprintf(out + len, "%s", i > 0 ? " " : "");
                inet_ntop(AF_INET, &dns->v4[i], out + len, INET_ADDRSTRLEN);
                len += strlen(out + len);
        }
        len += (size_t)sprintf(out + len, " |");
        for (size_t i = 0; i < dns->n_v6; i++) {
                len += (size_t)sprintf(out + len, " ");
                inet_ntop(AF_INET6, &dns->v6[i], out + len, INET6_ADDRSTRLEN);
                len += strlen(out + len);
        }
        return out;
}

struct parse_case {
        const char *text;
        int n;
        const char *servers;
};

/* clang-format off */
static const struct parse_case parse_cases[] = {
        { "", 0, " |" },
        { "nameserver 192.0.2.1\n", 1, "192.0.2.1 |" },
        { "nameserver 192.0.2.1", 1, "192.0.2.1 |" }, /* no final newline */
        /* systemd-resolved's stub file */
        { "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n"
          "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n", 0, " |" },
        /* comments, and what is not a nameserver line */
        { "# nameserver 192.0.2.1\n; nameserver 192.0.2.2\nsearch example.org\ndomain example.org\n"
          "options ndots:2\nsortlist 192.0.2.0/24\nnameserver192.0.2.3\nnameservers 192.0.2.4\n"
          "NAMESERVER 192.0.2.5\nnameserver\nnameserver   \n", 0, " |" },
        /* as glibc: the keyword starts the line */
        { " nameserver 192.0.2.1\n\tnameserver 192.0.2.2\n", 0, " |" },
        /* odd whitespace and trailing comments */
        { "nameserver\t192.0.2.1\nnameserver  \t 192.0.2.2   \nnameserver 192.0.2.3\r\n"
          "nameserver 192.0.2.4# the fourth\nnameserver 192.0.2.5 ; fifth\nnameserver 192.0.2.6 192.0.2.7\n"
          "\n\n   \n", 6, "192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 |" },
        /* both families, in file order within each */
        { "nameserver 2001:db8::1\nnameserver 192.0.2.1\nnameserver 2001:DB8:0:0::2\nnameserver 192.0.2.2\n",
          4, "192.0.2.1 192.0.2.2 | 2001:db8::1 2001:db8::2" },
        /* link-local and zones: the host's link, not the guest's */
        { "nameserver fe80::1%eth0\nnameserver fe80::2\nnameserver 2001:db8::1%2\nnameserver febf::1\n"
          "nameserver 2001:db8::3\n", 1, " | 2001:db8::3" },
        /* loopback, unspecified, multicast */
        { "nameserver 127.0.0.53\nnameserver 127.0.0.1\nnameserver 127.255.255.254\nnameserver ::1\n"
          "nameserver 0.0.0.0\nnameserver ::\nnameserver ::ffff:127.0.0.1\nnameserver 224.0.0.251\n"
          "nameserver ff02::fb\nnameserver 198.51.100.1\n", 1, "198.51.100.1 |" },
        { "nameserver ::ffff:192.0.2.1\n", 1, " | ::ffff:192.0.2.1" },
        /* not addresses */
        { "nameserver dns.example\nnameserver 192.0.2.256\nnameserver 192.0.2.1/24\nnameserver 2001:db8:::1\n"
          "nameserver 11111111111111111111111111111111111111111111111111111111111\n", 0, " |" },
        /* each once */
        { "nameserver 192.0.2.1\nnameserver 192.0.2.1\nnameserver 2001:db8::1\nnameserver 2001:db8:0::1\n",
          2, "192.0.2.1 | 2001:db8::1" },
        /* more than the most of each family: the first ones */
        { "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n"
          "nameserver 192.0.2.5\nnameserver 192.0.2.6\nnameserver 192.0.2.7\nnameserver 192.0.2.8\n"
          "nameserver 192.0.2.9\nnameserver 2001:db8::1\nnameserver 2001:db8::2\nnameserver 2001:db8::3\n"
          "nameserver 2001:db8::4\nnameserver 2001:db8::5\nnameserver 2001:db8::6\nnameserver 2001:db8::7\n"
          "nameserver 2001:db8::8\nnameserver 2001:db8::9\nnameserver 2001:db8::a\n", 16,
          "192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 192.0.2.8 | "
          "2001:db8::1 2001:db8::2 2001:db8::3 2001:db8::4 2001:db8::5 2001:db8::6 2001:db8::7 2001:db8::8" },
};
/* clang-format on */

static void test_parse(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(parse_cases); i++) {
                const struct parse_case *t = &parse_cases[i];
                struct guest_dns dns;
                int n;

                /* whatever was there goes; the search domain stays */
                memset(&dns, 0xAA, sizeof(dns));
                dns.n_v4 = dns.n_v6 = GUEST_DNS_MAX;
                strcpy(dns.search, "lab.example");

                n = resolv_parse(t->text, &dns);
                if (n != t->n || strcmp(servers(&dns), t->servers) != 0)
                        fail_msg("case %zu: %d servers \"%s\", expected %d \"%s\"", i, n, servers(&dns),
                                 t->n, t->servers);
                assert_string_equal(dns.search, "lab.example");
        }
}

static int load(struct guest_dns *dns, const char **source)
{
        *dns = (struct guest_dns){};
        strcpy(dns->search, "lab.example");
        *source = NULL;
        return resolv_load_auto_from(etc_path, run_path, dns, source);
}

static void test_load_first_file(void **state)
{
        struct guest_dns dns;
        const char *source;

        write_file(etc_path, "nameserver 192.0.2.1\nnameserver 2001:db8::1\n");
        write_file(run_path, "nameserver 198.51.100.1\n");
        assert_int_equal(load(&dns, &source), 2);
        assert_string_equal(servers(&dns), "192.0.2.1 | 2001:db8::1");
        assert_ptr_equal(source, etc_path);
        assert_string_equal(dns.search, "lab.example");
}

/* systemd-resolved: /etc/resolv.conf names only the stub. */
static void test_load_stub_falls_back(void **state)
{
        struct guest_dns dns;
        const char *source;

        write_file(etc_path, "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n");
        write_file(run_path, "# upstream\nnameserver 198.51.100.1\nnameserver 2001:db8::53\n");
        assert_int_equal(load(&dns, &source), 2);
        assert_string_equal(servers(&dns), "198.51.100.1 | 2001:db8::53");
        assert_ptr_equal(source, run_path);
        assert_string_equal(dns.search, "lab.example");

        /* the upstream list is empty too (resolved knows no server yet) */
        write_file(run_path, "# No DNS servers known.\n");
        assert_int_equal(load(&dns, &source), 0);
        assert_string_equal(servers(&dns), " |");
        assert_ptr_equal(source, run_path);

        /* no resolved at all: the first file is named */
        unlink(run_path);
        assert_int_equal(load(&dns, &source), 0);
        assert_ptr_equal(source, etc_path);

        /* no fallback given */
        assert_int_equal(resolv_load_auto_from(etc_path, NULL, &dns, &source), 0);
        assert_ptr_equal(source, etc_path);
}

static void test_load_missing_files(void **state)
{
        struct guest_dns dns;
        const char *source;

        /* only the fallback */
        write_file(run_path, "nameserver 198.51.100.1\n");
        assert_int_equal(load(&dns, &source), 1);
        assert_string_equal(servers(&dns), "198.51.100.1 |");
        assert_ptr_equal(source, run_path);

        /* neither: no servers, not an error; old servers go */
        unlink(run_path);
        dns.n_v4 = 1;
        assert_int_equal(resolv_load_auto_from(etc_path, run_path, &dns, &source), 0);
        assert_int_equal(dns.n_v4, 0);
        assert_int_equal(dns.n_v6, 0);
        assert_ptr_equal(source, etc_path);
}

static void test_load_read_error(void **state)
{
        struct guest_dns dns = {.n_v4 = 1};
        const char *source = NULL;

        /* a directory exists but cannot be read as a file */
        assert_int_equal(mkdir(etc_path, 0700), 0);
        write_file(run_path, "nameserver 198.51.100.1\n");
        assert_int_equal(resolv_load_auto_from(etc_path, run_path, &dns, &source), -EISDIR);
        assert_ptr_equal(source, etc_path);
        assert_int_equal(dns.n_v4, 1); /* untouched */
        assert_int_equal(rmdir(etc_path), 0);

        /* the fallback's error is the fallback's */
        write_file(etc_path, "nameserver 127.0.0.53\n");
        unlink(run_path);
        assert_int_equal(mkdir(run_path, 0700), 0);
        assert_int_equal(resolv_load_auto_from(etc_path, run_path, &dns, &source), -EISDIR);
        assert_ptr_equal(source, run_path);
        assert_int_equal(rmdir(run_path), 0);
}

/* The real paths: whatever this machine has, the contract holds. */
static void test_load_auto(void **state)
{
        struct guest_dns dns = {.search = "lab.example"};
        const char *source = NULL;
        int n = resolv_load_auto(&dns, &source);

        assert_non_null(source);
        assert_true(strcmp(source, RESOLV_CONF_PATH) == 0 || strcmp(source, RESOLV_UPSTREAM_PATH) == 0);
        if (n >= 0)
                assert_int_equal((size_t)n, dns.n_v4 + dns.n_v6);
        assert_string_equal(dns.search, "lab.example");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse),
            cmocka_unit_test_teardown(test_load_first_file, remove_files),
            cmocka_unit_test_teardown(test_load_stub_falls_back, remove_files),
            cmocka_unit_test_teardown(test_load_missing_files, remove_files),
            cmocka_unit_test_teardown(test_load_read_error, remove_files),
            cmocka_unit_test(test_load_auto),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

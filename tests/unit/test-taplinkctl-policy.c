/* SPDX-License-Identifier: MIT */
// MODULES: ctl/util ctl/run ctl/output ctl/policy lib/client lib/wire lib/slot lib/methods lib/policy lib/clone
// WRAP: recvmsg

/* taplinkctl's --allow and --publish syntax (every malformed form a usage
 * error, and what list prints parsing back to the same thing), the policy
 * options of run/acquire, and the requests they turn into, against the
 * fake server of test-libtaplink. */

#include "libtaplink-fake-server.h"

#include "ctl/ctl.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(tl_client *, tl_client_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(tl_slot *, tl_slot_free)

static void test_parse_allow(void **state)
{
        static const struct {
                const char *s;
                const char *destination, *protocol;
                unsigned port;
        } good[] = {
            {"203.0.113.7", "203.0.113.7", NULL, 0},
            {"203.0.113.0/24", "203.0.113.0/24", NULL, 0},
            {"203.0.113.7,443/tcp", "203.0.113.7", "tcp", 443},
            {"203.0.113.7,53/udp", "203.0.113.7", "udp", 53},
            {"203.0.113.7,tcp", "203.0.113.7", "tcp", 0},
            {"2001:db8::/32,udp", "2001:db8::/32", "udp", 0},
            {"2001:db8::1,65535/tcp", "2001:db8::1", "tcp", 65535},
            {"0.0.0.0/0,1/udp", "0.0.0.0/0", "udp", 1},
        };
        static const char *const bad[] = {
            "",
            ",",
            ",443/tcp",
            "203.0.113.7,",
            "203.0.113.7,443",
            "203.0.113.7,443/",
            "203.0.113.7,443/sctp",
            "203.0.113.7,/tcp",
            "203.0.113.7,0/tcp",
            "203.0.113.7,65536/tcp",
            "203.0.113.7,0443/tcp",
            "203.0.113.7,-1/tcp",
            "203.0.113.7,443/tcp,80/tcp",
            "203.0.113.7,TCP",
            "203.0.113.7,icmp",
            "203.0.113.7 ,tcp",
            "203.0.113.7/33",
            "203.0.113.7/",
            "2001:db8::/129",
            "[2001:db8::1]",
            "[2001:db8::1],443/tcp",
            "example.com",
            "203.0.113",
            "203.0.113.7:443",
            "1111:2222:3333:4444:5555:6666:7777:8888:9999/128",
            "1111:2222:3333:4444:5555:6666:255.255.255.255/128xx",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                struct allow_spec a;
                const char *why = NULL;
                if (parse_allow_spec(good[i].s, &a, &why) != 0)
                        fail_msg("'%s': %s", good[i].s, why);
                assert_string_equal(a.destination, good[i].destination);
                if (good[i].protocol)
                        assert_string_equal(a.protocol, good[i].protocol);
                else
                        assert_null(a.protocol);
                assert_int_equal(a.port, good[i].port);

                /* What list prints parses back to the same. */
                char buf[128];
                struct allow_spec b;
                tl_allow view = allow_spec_view(&a);
                format_allow(&view, buf, sizeof(buf));
                assert_string_equal(buf, good[i].s);
                assert_int_equal(parse_allow_spec(buf, &b, &why), 0);
                assert_memory_equal(&a, &b, sizeof(a));
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct allow_spec a = {.port = 12345};
                const char *why = NULL;
                if (parse_allow_spec(bad[i], &a, &why) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                assert_non_null(why);
                assert_int_equal(a.port, 12345);
        }
}

static void test_parse_port(void **state)
{
        static const struct {
                const char *s;
                const char *protocol;
                unsigned host_port, guest_port;
                const char *host_address;
                const char *printed; /* NULL: s itself */
        } good[] = {
            {"20080:80", "tcp", 20080, 80, "", "20080:80/tcp"},
            {"20080:80/tcp", "tcp", 20080, 80, "", NULL},
            {"20053:53/udp", "udp", 20053, 53, "", NULL},
            {"1:65535/tcp", "tcp", 1, 65535, "", NULL},
            {"192.0.2.1:8080:80/tcp", "tcp", 8080, 80, "192.0.2.1", NULL},
            {"192.0.2.1:8080:80", "tcp", 8080, 80, "192.0.2.1", "192.0.2.1:8080:80/tcp"},
            {"[2001:db8::1]:8080:80", "tcp", 8080, 80, "2001:db8::1", "[2001:db8::1]:8080:80/tcp"},
            {"[::1]:20000:22/udp", "udp", 20000, 22, "::1", NULL},
        };
        static const char *const bad[] = {
            "",
            "80",
            "80/tcp",
            ":80",
            "80:",
            "0:80",
            "80:0",
            "65536:80",
            "80:65536",
            "080:80",
            "80:80/",
            "80:80/sctp",
            "80:80/TCP",
            "80:80/tcp/udp",
            "a:80",
            "80:b",
            " 80:80",
            "80:80 ",
            "80:80:80",
            "192.0.2.1:80",
            "192.0.2.256:80:80",
            "example.com:80:80",
            ":80:80",
            "2001:db8::1:8080:80",
            "[2001:db8::1]:8080",
            "[2001:db8::1]8080:80",
            "[2001:db8::1:8080:80",
            "[]:8080:80",
            "[192.0.2.1]:8080:80",
            "[2001:db8::1]:8080:80:80",
            "[2001:db8::1]",
            "/tcp",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                struct port_spec p;
                const char *why = NULL;
                if (parse_port_spec(good[i].s, &p, &why) != 0)
                        fail_msg("'%s': %s", good[i].s, why);
                assert_string_equal(p.protocol, good[i].protocol);
                assert_int_equal(p.host_port, good[i].host_port);
                assert_int_equal(p.guest_port, good[i].guest_port);
                assert_string_equal(p.host_address, good[i].host_address);

                char buf[128];
                struct port_spec q;
                tl_port view = port_spec_view(&p);
                if (!*good[i].host_address)
                        assert_null(view.host_address);
                format_port(&view, buf, sizeof(buf));
                assert_string_equal(buf, good[i].printed ? good[i].printed : good[i].s);
                assert_int_equal(parse_port_spec(buf, &q, &why), 0);
                assert_memory_equal(&p, &q, sizeof(p));
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct port_spec p = {.host_port = 12345};
                const char *why = NULL;
                if (parse_port_spec(bad[i], &p, &why) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                assert_non_null(why);
                assert_int_equal(p.host_port, 12345);
        }
}

/* Each bad option value is a usage error (2), and nothing is kept. */
static void test_policy_option_errors(void **state)
{
        struct acquire_args a = {};
        char many[32];

        assert_int_equal(policy_option("acquire", CTL_OPT_EGRESS, "open", &a.policy), CTL_EXIT_USAGE);
        assert_int_equal(policy_option("acquire", CTL_OPT_EGRESS, "", &a.policy), CTL_EXIT_USAGE);
        assert_int_equal(policy_option("acquire", CTL_OPT_EGRESS, "None", &a.policy), CTL_EXIT_USAGE);
        assert_null(a.policy.egress);
        assert_int_equal(policy_option("acquire", CTL_OPT_ALLOW, "x", &a.policy), CTL_EXIT_USAGE);
        assert_int_equal(policy_option("acquire", CTL_OPT_PUBLISH, "80", &a.policy), CTL_EXIT_USAGE);
        assert_int_equal(a.policy.allow.n, 0);
        assert_int_equal(a.policy.publish.n, 0);

        const char *modes[] = {"none", "host", "public", "internet"};
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                assert_int_equal(policy_option("run", CTL_OPT_EGRESS, modes[i], &a.policy), 0);
                assert_string_equal(a.policy.egress, modes[i]);
        }

        /* At most TAPLINKD_ALLOW_MAX entries. */
        for (unsigned i = 0; i < TAPLINKD_ALLOW_MAX; i++) {
                snprintf(many, sizeof(many), "198.51.100.%u", i);
                assert_int_equal(policy_option("run", CTL_OPT_ALLOW, many, &a.policy), 0);
        }
        assert_int_equal(policy_option("run", CTL_OPT_ALLOW, "198.51.100.200", &a.policy), CTL_EXIT_USAGE);
        assert_int_equal(a.policy.allow.n, TAPLINKD_ALLOW_MAX);
        acquire_args_done(&a);
        assert_int_equal(a.policy.allow.n, 0);
}

/* From the options to the request: what the user typed is what the
 * daemon gets, in order. */
static void test_acquire_request(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *slot = slot_text(3, 1, NULL);
        struct step *st = add_step(s, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0]}}", slot);
        int r = add_pipe_fd(st);
        st = add_step(s, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0]}}", slot);
        int r2 = add_pipe_fd(st);
        _cleanup_(tl_client_freep) tl_client *c = connect_to(s);
        _cleanup_(acquire_args_done) struct acquire_args a = {};
        struct acquire_args plain = {};
        tl_slot *sl = NULL;

        tl_acquire_options_init(&a.options);
        a.options.persistent = true;
        assert_int_equal(policy_option("acquire", CTL_OPT_EGRESS, "none", &a.policy), 0);
        assert_int_equal(policy_option("acquire", CTL_OPT_ALLOW, "203.0.113.7,443/tcp", &a.policy), 0);
        assert_int_equal(policy_option("acquire", CTL_OPT_ALLOW, "2001:db8::/32,udp", &a.policy), 0);
        assert_int_equal(policy_option("acquire", CTL_OPT_PUBLISH, "20080:80", &a.policy), 0);
        assert_int_equal(policy_option("acquire", CTL_OPT_PUBLISH, "[::1]:20053:53/udp", &a.policy), 0);
        assert_int_equal(ctl_acquire(c, &a, &sl), 0);
        tl_slot_free(sl);

        /* No policy option: none of the members, the daemon's defaults. */
        tl_acquire_options_init(&plain.options);
        assert_int_equal(ctl_acquire(c, &plain, &sl), 0);
        tl_slot_free(sl);

        server_join(s);
        assert_request(
            s, 0, "io.taplinkd.Acquire",
            "{\"persistent\":true,\"egress\":\"none\",\"allow\":["
            "{\"destination\":\"203.0.113.7\",\"protocol\":\"tcp\",\"port\":443},"
            "{\"destination\":\"2001:db8::/32\",\"protocol\":\"udp\"}],\"publish\":["
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80},"
            "{\"protocol\":\"udp\",\"hostPort\":20053,\"guestPort\":53,\"hostAddress\":\"::1\"}]}");
        assert_request(s, 1, "io.taplinkd.Acquire", "{}");
        close(r);
        close(r2);
}

static char *capture(void (*print)(FILE *f, const tl_slot *s), const tl_slot *s)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_non_null(f);
        print(f, s);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void print_table_of_one(FILE *f, const tl_slot *s)
{
        tl_slot_list l = {.slots = (tl_slot *)s, .n_slots = 1};
        print_slot_table(f, &l);
}

static void parse_slot_with(const char *members, tl_slot *ret)
{
        _cleanup_free_ char *base = slot_text(6, 1, NULL);
        _cleanup_free_ char *text = NULL;
        const char *detail = NULL;

        base[strlen(base) - 1] = 0;
        assert_true(asprintf(&text, "%s%s%s}", base, *members ? "," : "", members) >= 0);
        json_object *o = json_tokener_parse(text);
        assert_non_null(o);
        assert_int_equal(tlp_slot_parse(o, ret, &detail), 0);
        json_object_put(o);
}

static void test_print_policy(void **state)
{
        tl_slot s, t, old;

        parse_slot_with(
            "\"egress\":\"none\",\"allow\":[{\"destination\":\"203.0.113.7\",\"protocol\":\"tcp\","
            "\"port\":443},{\"destination\":\"2001:db8::/32\",\"protocol\":\"udp\"},"
            "{\"destination\":\"10.0.0.0/8\"}],\"published\":[{\"protocol\":\"tcp\",\"hostPort\":"
            "20080,\"guestPort\":80},{\"protocol\":\"udp\",\"hostPort\":20053,\"guestPort\":53,"
            "\"hostAddress\":\"2001:db8::1\"}]",
            &s);
        parse_slot_with("\"egress\":\"internet\",\"allow\":[],\"published\":[]", &t);
        parse_slot_with("", &old);

        _cleanup_free_ char *line = capture(print_slot_policy_line, &s);
        assert_string_equal(line, "  egress none  allow 203.0.113.7,443/tcp 2001:db8::/32,udp 10.0.0.0/8"
                                  "  published 20080:80/tcp [2001:db8::1]:20053:53/udp\n");
        _cleanup_free_ char *block = capture(print_slot_policy, &s);
        assert_string_equal(block, "egress:        none\n"
                                   "allow:         203.0.113.7,443/tcp\n"
                                   "allow:         2001:db8::/32,udp\n"
                                   "allow:         10.0.0.0/8\n"
                                   "published:     20080:80/tcp\n"
                                   "published:     [2001:db8::1]:20053:53/udp\n");
        _cleanup_free_ char *line2 = capture(print_slot_policy_line, &t);
        assert_string_equal(line2, "  egress internet\n");
        _cleanup_free_ char *block2 = capture(print_slot_policy, &t);
        assert_string_equal(block2, "egress:        internet\n");
        /* A 0.1 daemon's slot: nothing at all. */
        _cleanup_free_ char *line3 = capture(print_slot_policy_line, &old);
        assert_string_equal(line3, "");
        _cleanup_free_ char *block3 = capture(print_slot_policy, &old);
        assert_string_equal(block3, "");

        /* In the table, the line goes under the slot's row. */
        _cleanup_free_ char *table = capture(print_table_of_one, &s);
        assert_non_null(strstr(table, "  1\n  egress none  allow 203.0.113.7,443/tcp"));

        tlp_slot_done(&s);
        tlp_slot_done(&t);
        tlp_slot_done(&old);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_allow),          cmocka_unit_test(test_parse_port),
            cmocka_unit_test(test_policy_option_errors), T(test_acquire_request),
            cmocka_unit_test(test_print_policy),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

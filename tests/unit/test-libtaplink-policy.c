/* SPDX-License-Identifier: MIT */
// MODULES: lib/client lib/wire lib/slot lib/methods lib/policy lib/clone
// WRAP: recvmsg

/* libtaplink's egress policy and published ports against the fake server
 * of test-libtaplink: the requests built (Acquire's egress, allow and
 * publish; SetEgress, Publish, Unpublish), the errors (PortInUse and the
 * others a publication meets), and the Slot members read back, checked on
 * arrival, or absent from an older daemon. */

#include "libtaplink-fake-server.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(tl_client *, tl_client_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(tl_slot *, tl_slot_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(tl_slot_list *, tl_slot_list_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(tl_acquire_extra *, tl_acquire_extra_free)

#define POLICY                                                                                            \
        "\"egress\":\"none\",\"allow\":[{\"destination\":\"203.0.113.7\",\"protocol\":\"tcp\",\"port\":"  \
        "443},"                                                                                           \
        "{\"destination\":\"2001:db8::/32\",\"protocol\":\"udp\",\"port\":null},"                         \
        "{\"destination\":\"10.0.0.0/8\"}],"                                                              \
        "\"published\":[{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80,\"hostAddress\":null}," \
        "{\"protocol\":\"udp\",\"hostPort\":5353,\"guestPort\":53,\"hostAddress\":\"2001:db8::1\"}]"

/* slot_text(n, 1, NULL) with members added at its end. */
static char *slot_with(unsigned n, const char *members)
{
        _cleanup_free_ char *base = slot_text(n, 1, NULL);
        char *t;

        base[strlen(base) - 1] = 0; /* the closing brace */
        assert_true(asprintf(&t, "%s,%s}", base, members) >= 0);
        return t;
}

static void assert_slot_policy(const tl_slot *s)
{
        tl_allow a;
        tl_port p;

        assert_string_equal(tl_slot_egress(s), "none");
        assert_int_equal(tl_slot_allow_count(s), 3);
        assert_int_equal(tl_slot_allow_get(s, 0, &a), 0);
        assert_string_equal(a.destination, "203.0.113.7");
        assert_string_equal(a.protocol, "tcp");
        assert_int_equal(a.port, 443);
        assert_int_equal(tl_slot_allow_get(s, 1, &a), 0);
        assert_string_equal(a.destination, "2001:db8::/32");
        assert_string_equal(a.protocol, "udp");
        assert_int_equal(a.port, 0);
        assert_int_equal(tl_slot_allow_get(s, 2, &a), 0);
        assert_string_equal(a.destination, "10.0.0.0/8");
        assert_null(a.protocol);
        assert_int_equal(a.port, 0);
        assert_int_equal(tl_slot_allow_get(s, 3, &a), -EINVAL);

        assert_int_equal(tl_slot_published_count(s), 2);
        assert_int_equal(tl_slot_published_get(s, 0, &p), 0);
        assert_string_equal(p.protocol, "tcp");
        assert_int_equal(p.host_port, 20080);
        assert_int_equal(p.guest_port, 80);
        assert_null(p.host_address);
        assert_int_equal(tl_slot_published_get(s, 1, &p), 0);
        assert_string_equal(p.protocol, "udp");
        assert_int_equal(p.host_port, 5353);
        assert_int_equal(p.guest_port, 53);
        assert_string_equal(p.host_address, "2001:db8::1");
        assert_int_equal(tl_slot_published_get(s, 2, &p), -EINVAL);
}

#define CLONE                                                                                      \
        "\"clone\":{\"netns\":\"/run/netns/tl3\",\"tapName\":\"tap0\",\"guest\":\"169.254.0.21\"," \
        "\"gateway\":\"169.254.0.22\",\"prefixLength\":30}"

/* clone: true asked for, the Clone object read back; a plain slot has none;
 * a broken one is refused on arrival. */
static void test_clone(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *slot = slot_with(3, CLONE);
        struct step *st = add_step(s, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0]}}", slot);
        int r = add_pipe_fd(st);
        _cleanup_(tl_client_freep) tl_client *c = connect_to(s);
        _cleanup_(tl_acquire_extra_freep) tl_acquire_extra *x = NULL;
        _cleanup_(tl_slot_freep) tl_slot *sl = NULL;
        tl_acquire_options o = TL_ACQUIRE_OPTIONS_INIT;
        tl_clone cl;

        assert_int_equal(tl_acquire_extra_new(&x), 0);
        assert_int_equal(tl_acquire_extra_set_clone(x, false), 0);
        assert_int_equal(tl_acquire_extra_set_clone(x, true), 0); /* the last wins */
        assert_int_equal(tl_acquire_extra_set_clone(NULL, true), -EINVAL);
        assert_int_equal(tl_acquire_full(c, &o, x, &sl), 0);
        server_join(s);
        assert_request(s, 0, "io.taplinkd.Acquire", "{\"clone\":true}");
        assert_int_equal(tl_slot_clone(sl, &cl), 0);
        assert_string_equal(cl.netns, "/run/netns/tl3");
        assert_string_equal(cl.tap_name, "tap0");
        assert_string_equal(cl.guest, "169.254.0.21");
        assert_string_equal(cl.gateway, "169.254.0.22");
        assert_int_equal(cl.prefix_length, 30);
        assert_int_equal(tl_slot_clone(NULL, &cl), -EINVAL);
        close(r);

        static const char *const plain[] = {"\"clone\":null", "\"egress\":\"internet\""};
        static const char *const broken[] = {
            "\"clone\":{}",
            "\"clone\":true",
            "\"clone\":{\"netns\":\"tl3\",\"tapName\":\"tap0\",\"guest\":\"169.254.0.21\","
            "\"gateway\":\"169.254.0.22\",\"prefixLength\":30}",
            "\"clone\":{\"netns\":\"/run/netns/tl3\",\"tapName\":\"tap0\",\"guest\":\"169.254.0.300\","
            "\"gateway\":\"169.254.0.22\",\"prefixLength\":30}",
            "\"clone\":{\"netns\":\"/run/netns/tl3\",\"tapName\":\"tap0\",\"guest\":\"169.254.0.21\","
            "\"gateway\":\"169.254.0.22\",\"prefixLength\":33}",
            "\"clone\":{\"netns\":\"/run/netns/tl3\",\"tapName\":\"\",\"guest\":\"169.254.0.21\","
            "\"gateway\":\"169.254.0.22\",\"prefixLength\":30}",
        };
        for (size_t i = 0; i < ELEMENTSOF(plain) + ELEMENTSOF(broken); i++) {
                bool ok = i < ELEMENTSOF(plain);
                _cleanup_free_ char *text = slot_with(5, ok ? plain[i] : broken[i - ELEMENTSOF(plain)]);
                json_object *obj = json_tokener_parse(text);
                const char *detail = NULL;
                tl_slot t;

                assert_non_null(obj);
                assert_int_equal(tlp_slot_parse(obj, &t, &detail), ok ? 0 : -EBADMSG);
                if (ok) {
                        assert_int_equal(tl_slot_clone(&t, &cl), -ENOENT);
                        tlp_slot_done(&t);
                } else
                        assert_string_equal(detail, "clone");
                json_object_put(obj);
        }
}

static void test_acquire_with_policy(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *slot = slot_with(3, POLICY);
        struct step *st = add_step(s, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0]}}", slot);
        int r = add_pipe_fd(st);
        _cleanup_(tl_client_freep) tl_client *c = connect_to(s);
        _cleanup_(tl_acquire_extra_freep) tl_acquire_extra *x = NULL;
        _cleanup_(tl_slot_freep) tl_slot *sl = NULL;
        tl_acquire_options o = TL_ACQUIRE_OPTIONS_INIT;

        o.label = "web";
        assert_int_equal(tl_acquire_extra_new(&x), 0);
        /* The last mode set wins. */
        assert_int_equal(tl_acquire_extra_set_egress(x, "public"), 0);
        assert_int_equal(tl_acquire_extra_set_egress(x, "none"), 0);
        assert_int_equal(tl_acquire_extra_add_allow(x, &(tl_allow){"203.0.113.7", "tcp", 443}), 0);
        assert_int_equal(tl_acquire_extra_add_allow(x, &(tl_allow){"2001:db8::/32", "udp", 0}), 0);
        assert_int_equal(tl_acquire_extra_add_allow(x, &(tl_allow){"10.0.0.0/8", NULL, 0}), 0);
        /* A NULL protocol publishes tcp. */
        assert_int_equal(tl_acquire_extra_add_publish(x, &(tl_port){NULL, 20080, 80, NULL}), 0);
        assert_int_equal(tl_acquire_extra_add_publish(x, &(tl_port){"udp", 5353, 53, "2001:db8::1"}), 0);

        assert_int_equal(tl_acquire_full(c, &o, x, &sl), 0);
        server_join(s);
        assert_request(
            s, 0, "io.taplinkd.Acquire",
            "{\"label\":\"web\",\"egress\":\"none\",\"allow\":["
            "{\"destination\":\"203.0.113.7\",\"protocol\":\"tcp\",\"port\":443},"
            "{\"destination\":\"2001:db8::/32\",\"protocol\":\"udp\"},"
            "{\"destination\":\"10.0.0.0/8\"}],\"publish\":["
            "{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80},"
            "{\"protocol\":\"udp\",\"hostPort\":5353,\"guestPort\":53,\"hostAddress\":\"2001:db8::1\"}]}");
        assert_slot_policy(sl);
        assert_int_equal(tl_slot_n_fds(sl), 1);
        assert_same_pipe(tl_slot_fd(sl, 0), r, "x");
        close(r);
}

/* No extra, or an empty one: exactly tl_acquire()'s request. */
static void test_acquire_full_plain(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *slot = slot_text(1, 1, NULL);
        int r[2];
        for (size_t i = 0; i < 2; i++) {
                struct step *st =
                    add_step(s, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0]}}", slot);
                r[i] = add_pipe_fd(st);
        }
        _cleanup_(tl_client_freep) tl_client *c = connect_to(s);
        _cleanup_(tl_acquire_extra_freep) tl_acquire_extra *x = NULL;
        tl_slot *sl = NULL;

        assert_int_equal(tl_acquire_full(c, NULL, NULL, &sl), 0);
        /* A 0.1 daemon's slot: no policy members. */
        assert_null(tl_slot_egress(sl));
        assert_int_equal(tl_slot_allow_count(sl), 0);
        assert_int_equal(tl_slot_published_count(sl), 0);
        assert_int_equal(tl_slot_allow_get(sl, 0, &(tl_allow){}), -EINVAL);
        assert_int_equal(tl_slot_published_get(sl, 0, &(tl_port){}), -EINVAL);
        tl_slot_free(sl);

        assert_int_equal(tl_acquire_extra_new(&x), 0);
        assert_int_equal(tl_acquire_full(c, NULL, x, &sl), 0);
        tl_slot_free(sl);
        server_join(s);
        assert_request(s, 0, "io.taplinkd.Acquire", "{}");
        assert_request(s, 1, "io.taplinkd.Acquire", "{}");
        close_many(r, 2);
}

static void test_extra_invalid(void **state)
{
        _cleanup_(tl_acquire_extra_freep) tl_acquire_extra *x = NULL;

        assert_int_equal(tl_acquire_extra_new(NULL), -EINVAL);
        assert_int_equal(tl_acquire_extra_new(&x), 0);
        assert_int_equal(tl_acquire_extra_set_egress(NULL, "none"), -EINVAL);
        assert_int_equal(tl_acquire_extra_set_egress(x, NULL), -EINVAL);
        assert_int_equal(tl_acquire_extra_add_allow(NULL, &(tl_allow){"10.0.0.1", NULL, 0}), -EINVAL);
        assert_int_equal(tl_acquire_extra_add_allow(x, NULL), -EINVAL);
        assert_int_equal(tl_acquire_extra_add_allow(x, &(tl_allow){NULL, "tcp", 1}), -EINVAL);
        assert_int_equal(tl_acquire_extra_add_publish(NULL, &(tl_port){"tcp", 1, 1, NULL}), -EINVAL);
        assert_int_equal(tl_acquire_extra_add_publish(x, NULL), -EINVAL);
        tl_acquire_extra_free(NULL);

        assert_null(tl_slot_egress(NULL));
        assert_int_equal(tl_slot_allow_count(NULL), 0);
        assert_int_equal(tl_slot_published_count(NULL), 0);
        assert_int_equal(tl_slot_allow_get(NULL, 0, &(tl_allow){}), -EINVAL);
        assert_int_equal(tl_slot_published_get(NULL, 0, &(tl_port){}), -EINVAL);
}

static void test_set_egress(void **state)
{
        struct server *s = *state;
        add_step(s, "{\"parameters\":{}}");
        add_step(s, "{}");
        _cleanup_(tl_client_freep) tl_client *c = connect_to(s);
        const tl_allow allow[] = {{"203.0.113.0/24", "tcp", 443}, {"2001:db8::1", NULL, 0}};

        assert_int_equal(tl_set_egress(c, 7, "host", allow, ELEMENTSOF(allow)), 0);
        /* No entries: the list is replaced by an empty one, not left alone. */
        assert_int_equal(tl_set_egress(c, 7, "internet", NULL, 0), 0);
        server_join(s);
        assert_request(s, 0, "io.taplinkd.SetEgress",
                       "{\"slot\":7,\"egress\":\"host\",\"allow\":["
                       "{\"destination\":\"203.0.113.0/24\",\"protocol\":\"tcp\",\"port\":443},"
                       "{\"destination\":\"2001:db8::1\"}]}");
        assert_request(s, 1, "io.taplinkd.SetEgress", "{\"slot\":7,\"egress\":\"internet\",\"allow\":[]}");
}

/* What cannot be sent fails before anything is: no request at all. */
static void test_calls_invalid(void **state)
{
        struct server *s = *state;
        _cleanup_(tl_client_freep) tl_client *c = connect_to(s);
        const tl_allow bad[] = {{"10.0.0.1", NULL, 0}, {NULL, NULL, 0}};

        assert_int_equal(tl_set_egress(NULL, 1, "none", NULL, 0), -EINVAL);
        assert_int_equal(tl_set_egress(c, 1, NULL, NULL, 0), -EINVAL);
        assert_int_equal(tl_set_egress(c, 1, "none", NULL, 1), -EINVAL);
        assert_int_equal(tl_set_egress(c, 1, "none", bad, 2), -EINVAL);
        assert_int_equal(tl_publish(NULL, 1, &(tl_port){"tcp", 1, 1, NULL}), -EINVAL);
        assert_int_equal(tl_publish(c, 1, NULL), -EINVAL);
        assert_int_equal(tl_unpublish(c, 1, NULL), -EINVAL);
        tl_client_free(TAKE_PTR(c));
        server_join(s);
        assert_int_equal(s->n_requests, 0);
}

static void test_publish_unpublish(void **state)
{
        struct server *s = *state;
        add_step(s, "{\"parameters\":{}}");
        add_step(s, "{\"parameters\":{}}");
        _cleanup_(tl_client_freep) tl_client *c = connect_to(s);

        assert_int_equal(tl_publish(c, 4, &(tl_port){"udp", 20053, 53, "192.0.2.1"}), 0);
        assert_int_equal(tl_unpublish(c, 4, &(tl_port){NULL, 20080, 80, NULL}), 0);
        server_join(s);
        assert_request(s, 0, "io.taplinkd.Publish",
                       "{\"slot\":4,\"port\":{\"protocol\":\"udp\",\"hostPort\":20053,\"guestPort\":53,"
                       "\"hostAddress\":\"192.0.2.1\"}}");
        assert_request(s, 1, "io.taplinkd.Unpublish",
                       "{\"slot\":4,\"port\":{\"protocol\":\"tcp\",\"hostPort\":20080,\"guestPort\":80}}");
}

/* The errors a publication meets, each as its errno, and the connection
 * still usable after each. */
static void test_publish_errors(void **state)
{
        static const struct {
                const char *reply;
                int r;
                const char *message;
        } table[] = {
            {"{\"error\":\"io.taplinkd.PortInUse\",\"parameters\":{\"protocol\":\"tcp\",\"hostPort\":20080}"
             "}",
             -EADDRINUSE, "io.taplinkd.PortInUse (protocol=tcp hostPort=20080)"},
            {"{\"error\":\"io.taplinkd.QuotaExceeded\",\"parameters\":{\"limit\":16}}", -EDQUOT,
             "io.taplinkd.QuotaExceeded (limit=16)"},
            {"{\"error\":\"io.taplinkd.PermissionDenied\",\"parameters\":{}}", -EPERM,
             "io.taplinkd.PermissionDenied"},
            {"{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":{\"parameter\":\"port\"}}",
             -EINVAL, "org.varlink.service.InvalidParameter (parameter=port)"},
        };
        struct server *s = *state;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                add_step(s, "%s", table[i].reply);
        _cleanup_(tl_client_freep) tl_client *c = connect_to(s);

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                assert_int_equal(tl_publish(c, 2, &(tl_port){"tcp", 20080, 80, NULL}), table[i].r);
                assert_string_equal(tl_client_error_message(c), table[i].message);
        }
        assert_string_equal(tl_client_error_name(c), "org.varlink.service.InvalidParameter");
        server_join(s);
}

static void test_list_policy(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *a = slot_with(3, POLICY);
        _cleanup_free_ char *b = slot_with(4, "\"egress\":\"internet\",\"allow\":[],\"published\":[]");
        add_step(s, "{\"parameters\":{\"slots\":[%s,%s]}}", a, b);
        _cleanup_(tl_client_freep) tl_client *c = connect_to(s);
        _cleanup_(tl_slot_list_freep) tl_slot_list *l = NULL;

        assert_int_equal(tl_list(c, &l), 0);
        assert_int_equal(tl_slot_list_size(l), 2);
        assert_slot_policy(tl_slot_list_get(l, 0));
        const tl_slot *t = tl_slot_list_get(l, 1);
        assert_string_equal(tl_slot_egress(t), "internet");
        assert_int_equal(tl_slot_allow_count(t), 0);
        assert_int_equal(tl_slot_published_count(t), 0);
        server_join(s);
}

/* Policy members of the wrong shape make the whole reply malformed, and
 * the message names the member. */
static void test_list_policy_malformed(void **state)
{
        static const struct {
                const char *members;
                const char *field;
        } table[] = {
            {"\"egress\":3", "egress"},
            {"\"egress\":null", "egress"},
            {"\"egress\":\"no\\u0001ne\"", "egress"},
            {"\"allow\":{}", "allow"},
            {"\"allow\":null", "allow"},
            {"\"allow\":[\"10.0.0.1\"]", "allow"},
            {"\"allow\":[{}]", "allow"},
            {"\"allow\":[{\"destination\":\"10.0.0.300\"}]", "allow"},
            {"\"allow\":[{\"destination\":\"10.0.0.0/33\"}]", "allow"},
            {"\"allow\":[{\"destination\":\"2001:db8::/129\"}]", "allow"},
            {"\"allow\":[{\"destination\":\"10.0.0.0/\"}]", "allow"},
            {"\"allow\":[{\"destination\":\"10.0.0.0/08\"}]", "allow"},
            {"\"allow\":[{\"destination\":\"example.com\"}]", "allow"},
            {"\"allow\":[{\"destination\":\"10.0.0.1\",\"protocol\":\"icmp\"}]", "allow"},
            {"\"allow\":[{\"destination\":\"10.0.0.1\",\"protocol\":6}]", "allow"},
            {"\"allow\":[{\"destination\":\"10.0.0.1\",\"port\":80}]", "allow"},
            {"\"allow\":[{\"destination\":\"10.0.0.1\",\"protocol\":\"tcp\",\"port\":0}]", "allow"},
            {"\"allow\":[{\"destination\":\"10.0.0.1\",\"protocol\":\"tcp\",\"port\":65536}]", "allow"},
            {"\"allow\":[{\"destination\":\"10.0.0.1\",\"protocol\":\"tcp\",\"port\":\"80\"}]", "allow"},
            {"\"published\":{}", "published"},
            {"\"published\":[{}]", "published"},
            {"\"published\":[{\"protocol\":\"sctp\",\"hostPort\":1,\"guestPort\":1}]", "published"},
            {"\"published\":[{\"protocol\":\"tcp\",\"guestPort\":1}]", "published"},
            {"\"published\":[{\"protocol\":\"tcp\",\"hostPort\":1}]", "published"},
            {"\"published\":[{\"protocol\":\"tcp\",\"hostPort\":0,\"guestPort\":1}]", "published"},
            {"\"published\":[{\"protocol\":\"tcp\",\"hostPort\":1,\"guestPort\":70000}]", "published"},
            {"\"published\":[{\"protocol\":\"tcp\",\"hostPort\":1,\"guestPort\":1,\"hostAddress\":\"x\"}]",
             "published"},
            {"\"published\":[{\"protocol\":\"tcp\",\"hostPort\":1,\"guestPort\":1,\"hostAddress\":5}]",
             "published"},
        };
        struct server *s = *state;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *slot = slot_with(5, table[i].members);
                _cleanup_free_ char *want = NULL;
                json_object *o = json_tokener_parse(slot);
                tl_slot t;
                const char *detail = NULL;

                assert_non_null(o);
                assert_int_equal(tlp_slot_parse(o, &t, &detail), -EBADMSG);
                if (!detail || strcmp(detail, table[i].field) != 0)
                        fail_msg("%s: detail %s, expected %s", table[i].members, detail ? detail : "(null)",
                                 table[i].field);
                json_object_put(o);
        }

        /* And through the client, the message names it. */
        _cleanup_free_ char *slot = slot_with(5, "\"allow\":[{\"destination\":\"nowhere\"}]");
        add_step(s, "{\"parameters\":{\"slots\":[%s]}}", slot);
        _cleanup_(tl_client_freep) tl_client *c = connect_to(s);
        tl_slot_list *l = NULL;
        assert_int_equal(tl_list(c, &l), -EBADMSG);
        assert_null(l);
        assert_string_equal(tl_client_error_message(c), "malformed reply: slots[0] field allow");
        server_join(s);
}

static void test_prefix_family(void **state)
{
        static const struct {
                const char *s;
                int family;
        } table[] = {
            {"203.0.113.7", AF_INET},
            {"203.0.113.0/24", AF_INET},
            {"0.0.0.0/0", AF_INET},
            {"10.0.0.0/32", AF_INET},
            {"2001:db8::1", AF_INET6},
            {"2001:db8::/32", AF_INET6},
            {"::/0", AF_INET6},
            {"::ffff:192.0.2.1/128", AF_INET6},
            {"", 0},
            {"/24", 0},
            {"10.0.0.0/33", 0},
            {"10.0.0.0/", 0},
            {"10.0.0.0/-1", 0},
            {"10.0.0.0/+8", 0},
            {"10.0.0.0/08", 0},
            {"10.0.0.0/8/8", 0},
            {"10.0.0.0/ 8", 0},
            {"10.0.0.0 /8", 0},
            {"10.0.0", 0},
            {"10.0.0.256", 0},
            {"2001:db8::/129", 0},
            {"2001:db8::/1000", 0},
            {"2001:db8:::1", 0},
            {"[2001:db8::1]", 0},
            {"fe80::1%eth0", 0},
            {"example.com", 0},
            {"2001:0db8:0000:0000:0000:0000:0000:0001:1/64", 0},
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (taplinkd_prefix_family(table[i].s) != table[i].family)
                        fail_msg("'%s': %d, expected %d", table[i].s, taplinkd_prefix_family(table[i].s),
                                 table[i].family);
        assert_int_equal(taplinkd_prefix_family(NULL), 0);
}

static void test_error_mapping_port_in_use(void **state)
{
        assert_int_equal(tlp_varlink_error_to_errno("io.taplinkd.PortInUse", NULL), -EADDRINUSE);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(test_clone),
            T(test_acquire_with_policy),
            T(test_acquire_full_plain),
            T(test_extra_invalid),
            T(test_set_egress),
            T(test_calls_invalid),
            T(test_publish_unpublish),
            T(test_publish_errors),
            T(test_list_policy),
            T(test_list_policy_malformed),
            cmocka_unit_test(test_prefix_family),
            cmocka_unit_test(test_error_mapping_port_in_use),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

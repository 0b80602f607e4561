/* SPDX-License-Identifier: MIT */
// MODULES: lib/client lib/wire lib/slot lib/methods lib/policy lib/clone
// WRAP: recvmsg

/* libtaplink against a fake Varlink server in a thread: canned replies,
 * with fds (pipe write ends, so a test can tell which fd is which and
 * whether any copy is still open), malformed in every way the client must
 * survive. No daemon needed. */

#include "libtaplink-fake-server.h"

/* ---- Acquire ---- */

static void test_acquire_one_fd(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *slot = slot_text(7, 1, NULL);
        struct step *st = add_step(s, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0]}}", slot);
        _cleanup_close_ int r0 = add_pipe_fd(st);

        tl_client *c = connect_to(s);
        tl_acquire_options o;
        tl_acquire_options_init(&o);
        o.label = "web-1";
        o.mtu = 9000;
        o.queues = 1;
        o.vnet_header = 0;
        o.persistent = true;
        tl_slot *sl = NULL;
        assert_int_equal(tl_acquire(c, &o, &sl), 0);
        assert_null(tl_client_error_message(c));
        server_join(s);
        assert_request(
            s, 0, "io.taplinkd.Acquire",
            "{\"label\":\"web-1\",\"mtu\":9000,\"queues\":1,\"vnetHeader\":false,\"persistent\":true}");

        assert_int_equal(tl_slot_number(sl), 7);
        assert_string_equal(tl_slot_ifname(sl), "tl7");
        assert_string_equal(tl_slot_label(sl), "vm-7");
        assert_int_equal(tl_slot_owner_uid(sl), 1000);
        assert_string_equal(tl_slot_mac(sl), "02:74:6c:00:00:07");
        assert_int_equal(tl_slot_mtu(sl), 1500);
        assert_int_equal(tl_slot_queues(sl), 1);
        assert_true(tl_slot_vnet_header(sl));
        assert_false(tl_slot_persistent(sl));
        assert_true(tl_slot_has_net(sl, TL_IPV4));
        assert_string_equal(tl_slot_subnet(sl, TL_IPV4), "10.213.0.28");
        assert_string_equal(tl_slot_gateway(sl, TL_IPV4), "10.213.0.29");
        assert_string_equal(tl_slot_guest(sl, TL_IPV4), "10.213.0.30");
        assert_int_equal(tl_slot_prefix_length(sl, TL_IPV4), 30);
        assert_true(tl_slot_has_net(sl, TL_IPV6));
        assert_string_equal(tl_slot_gateway(sl, TL_IPV6), "fd74:6c00:0:7::1");
        assert_string_equal(tl_slot_guest(sl, TL_IPV6), "fd74:6c00:0:7::2");
        assert_int_equal(tl_slot_prefix_length(sl, TL_IPV6), 64);
        assert_null(tl_slot_guest(sl, (tl_family)5));
        assert_string_equal(tl_slot_kernel_ip_arg(sl),
                            "ip=10.213.0.30::10.213.0.29:255.255.255.252::eth0:off");

        /* The JSON text is the daemon's object, member for member. */
        json_object *a = json_tokener_parse(tl_slot_json(sl));
        json_object *b = json_tokener_parse(slot);
        assert_true(json_object_equal(a, b));
        json_object_put(a);
        json_object_put(b);

        assert_int_equal(tl_slot_n_fds(sl), 1);
        int fd = tl_slot_fd(sl, 0);
        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_same_pipe(fd, r0, "queue 0");
        assert_int_equal(tl_slot_fd(sl, 1), -EINVAL);

        int taken = tl_slot_take_fd(sl, 0);
        assert_int_equal(taken, fd);
        assert_int_equal(tl_slot_take_fd(sl, 0), -EBADF);
        assert_int_equal(tl_slot_fd(sl, 0), -EBADF);
        tl_slot_free(sl);
        /* Taken means ours: tl_slot_free() left it open. */
        assert_int_equal(fcntl(taken, F_GETFD), FD_CLOEXEC);
        close(taken);
        assert_pipe_orphaned(r0);
        tl_client_free(c);
}

static void acquire_n(struct server *s, const char *indexes, const int *order, size_t n)
{
        _cleanup_free_ char *slot = slot_text(3, (unsigned)n, NULL);
        struct step *st =
            add_step(s, "{\"parameters\":{\"fileDescriptors\":%s,\"slot\":%s}}", indexes, slot);
        int r[MAX_STEP_FDS];
        for (size_t i = 0; i < n; i++)
                r[i] = add_pipe_fd(st);

        tl_client *c = connect_to(s);
        tl_acquire_options o = TL_ACQUIRE_OPTIONS_INIT;
        o.queues = (unsigned)n;
        tl_slot *sl = NULL;
        assert_int_equal(tl_acquire(c, &o, &sl), 0);
        server_join(s);
        assert_request(s, 0, "io.taplinkd.Acquire", "{\"queues\":4}");
        assert_int_equal(tl_slot_n_fds(sl), n);

        /* Queue i is the fd at index order[i] of the SCM_RIGHTS array. */
        int fds[MAX_STEP_FDS];
        for (size_t i = 0; i < n; i++) {
                char text[32];
                fds[i] = tl_slot_fd(sl, i);
                assert_true(fds[i] >= 0);
                snprintf(text, sizeof(text), "queue %zu", i);
                assert_same_pipe(fds[i], r[order[i]], text);
        }
        tl_slot_free(sl);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(fcntl(fds[i], F_GETFD), -1);
                assert_int_equal(errno, EBADF);
                assert_pipe_orphaned(r[i]);
                close(r[i]);
        }
        tl_client_free(c);
}

static void test_acquire_four_fds(void **state)
{
        static const int order[] = {0, 1, 2, 3};
        acquire_n(*state, "[0,1,2,3]", order, 4);
}

static void test_acquire_fds_out_of_order(void **state)
{
        static const int order[] = {2, 0, 3, 1};
        acquire_n(*state, "[2,0,3,1]", order, 4);
}

static void test_acquire_unreferenced_fds_closed(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *slot = slot_text(1, 1, NULL);
        struct step *st = add_step(s, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[1]}}", slot);
        _cleanup_close_ int r0 = add_pipe_fd(st);
        _cleanup_close_ int r1 = add_pipe_fd(st);
        _cleanup_close_ int r2 = add_pipe_fd(st);

        tl_client *c = connect_to(s);
        tl_slot *sl = NULL;
        assert_int_equal(tl_acquire(c, NULL, &sl), 0);
        server_join(s);
        assert_request(s, 0, "io.taplinkd.Acquire", "{}");
        assert_pipe_orphaned(r0);
        assert_pipe_orphaned(r2);
        assert_same_pipe(tl_slot_fd(sl, 0), r1, "the one");
        tl_slot_free(sl);
        assert_pipe_orphaned(r1);
        tl_client_free(c);
}

/* Replies whose fds must all be closed, and the call fail with -EBADMSG. */
static void acquire_rejected(struct server *s, const char *fmt, size_t n_fds, const char *message)
{
        _cleanup_free_ char *slot = slot_text(2, 2, NULL);
        struct step *st = add_step(s, fmt, slot);
        int r[MAX_STEP_FDS];
        for (size_t i = 0; i < n_fds; i++)
                r[i] = add_pipe_fd(st);

        tl_client *c = connect_to(s);
        tl_slot *sl = NULL;
        assert_int_equal(tl_acquire(c, NULL, &sl), -EBADMSG);
        assert_null(sl);
        assert_null(tl_client_error_name(c));
        assert_non_null(tl_client_error_message(c));
        if (message)
                assert_string_equal(tl_client_error_message(c), message);
        server_join(s);
        for (size_t i = 0; i < n_fds; i++) {
                assert_pipe_orphaned(r[i]);
                close(r[i]);
        }
        tl_client_free(c);
}

static void test_acquire_fds_without_indexes(void **state)
{
        acquire_rejected(*state, "{\"parameters\":{\"slot\":%s}}", 2,
                         "malformed reply: fileDescriptors missing or not an array");
}

static void test_acquire_index_out_of_range(void **state)
{
        acquire_rejected(*state, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0,2]}}", 2,
                         "malformed reply: fileDescriptors[1] = 2 but 2 file descriptors came");
}

static void test_acquire_negative_index(void **state)
{
        acquire_rejected(*state, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[-1,0]}}", 2, NULL);
}

static void test_acquire_duplicate_index(void **state)
{
        acquire_rejected(*state, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[1,1]}}", 2,
                         "malformed reply: fileDescriptors names one descriptor twice");
}

static void test_acquire_count_mismatch(void **state)
{
        acquire_rejected(*state, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0]}}", 2,
                         "malformed reply: 1 file descriptors for 2 queues");
}

static void test_acquire_index_wrong_type(void **state)
{
        acquire_rejected(*state, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0,\"1\"]}}", 2, NULL);
}

static void test_acquire_no_fds_at_all(void **state)
{
        acquire_rejected(*state, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0,1]}}", 0, NULL);
}

static void test_acquire_bad_slot(void **state)
{
        acquire_rejected(*state, "{\"parameters\":{\"slot\":1,\"fileDescriptors\":[0,1]}%.0s}", 2,
                         "malformed reply: slot field slot");
}

static void test_acquire_trickled(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *slot = slot_text(9, 2, "null");
        struct step *st = add_step(s, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[1,0]}}", slot);
        _cleanup_close_ int r0 = add_pipe_fd(st);
        _cleanup_close_ int r1 = add_pipe_fd(st);
        st->trickle = true;

        tl_client *c = connect_to(s);
        tl_slot *sl = NULL;
        assert_int_equal(tl_acquire(c, NULL, &sl), 0);
        server_join(s);
        assert_false(tl_slot_has_net(sl, TL_IPV6));
        assert_null(tl_slot_guest(sl, TL_IPV6));
        assert_int_equal(tl_slot_prefix_length(sl, TL_IPV6), 0);
        assert_same_pipe(tl_slot_fd(sl, 0), r1, "q0");
        assert_same_pipe(tl_slot_fd(sl, 1), r0, "q1");
        tl_slot_free(sl);
        assert_pipe_orphaned(r0);
        assert_pipe_orphaned(r1);
        tl_client_free(c);
}

static int sigusr1_count;

static void on_sigusr1(int sig)
{
        sigusr1_count++;
}

static void test_acquire_interrupted(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *slot = slot_text(4, 1, NULL);
        struct step *st = add_step(s, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0]}}", slot);
        _cleanup_close_ int r0 = add_pipe_fd(st);
        st->interrupt = true;

        /* No SA_RESTART: recvmsg really returns EINTR. */
        struct sigaction sa = {.sa_handler = on_sigusr1}, old;
        assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
        sigusr1_count = 0;
        atomic_store(&recvmsg_eintr, 0);

        tl_client *c = connect_to(s);
        tl_slot *sl = NULL;
        assert_int_equal(tl_acquire(c, NULL, &sl), 0);
        server_join(s);
        assert_int_equal(sigusr1_count, 1);
        /* The signal interrupted the blocking recvmsg, and the client read
         * the reply with the next one. */
        assert_int_equal(atomic_load(&recvmsg_eintr), 1);
        assert_same_pipe(tl_slot_fd(sl, 0), r0, "after EINTR");
        tl_slot_free(sl);
        tl_client_free(c);
        sigaction(SIGUSR1, &old, NULL);
}

static void test_acquire_ctrunc(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *slot = slot_text(4, 2, NULL);
        struct step *st = add_step(s, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0,1]}}", slot);
        _cleanup_close_ int r0 = add_pipe_fd(st);
        _cleanup_close_ int r1 = add_pipe_fd(st);

        tl_client *c = connect_to(s);
        tl_slot *sl = NULL;
        fake_ctrunc = true;
        assert_int_equal(tl_acquire(c, NULL, &sl), -EBADMSG);
        fake_ctrunc = false;
        server_join(s);
        assert_pipe_orphaned(r0);
        assert_pipe_orphaned(r1);
        /* The stream is out of step now: the client says so. */
        assert_int_equal(tl_release(c, 1), -ENOTCONN);
        tl_client_free(c);
}

/* ---- Varlink errors ---- */

static void test_errors(void **state)
{
        static const struct {
                const char *reply;
                int err;
                const char *name, *parameters, *message;
        } table[] = {
            {"{\"error\":\"io.taplinkd.PermissionDenied\",\"parameters\":{}}", -EPERM,
             "io.taplinkd.PermissionDenied", "{}", "io.taplinkd.PermissionDenied"},
            {"{\"error\":\"io.taplinkd.QuotaExceeded\",\"parameters\":{\"limit\":64}}", -EDQUOT,
             "io.taplinkd.QuotaExceeded", "{\"limit\":64}", "io.taplinkd.QuotaExceeded (limit=64)"},
            {"{\"error\":\"io.taplinkd.NoSlotAvailable\"}", -ENOSPC, "io.taplinkd.NoSlotAvailable", "{}",
             "io.taplinkd.NoSlotAvailable"},
            {"{\"error\":\"io.taplinkd.NoSuchSlot\",\"parameters\":{\"slot\":12}}", -ENOENT,
             "io.taplinkd.NoSuchSlot", "{\"slot\":12}", "io.taplinkd.NoSuchSlot (slot=12)"},
            {"{\"error\":\"io.taplinkd.KernelError\",\"parameters\":{\"operation\":\"TUNSETIFF\",\"errno\":"
             "16}}",
             -EBUSY, "io.taplinkd.KernelError", "{\"operation\":\"TUNSETIFF\",\"errno\":16}",
             "io.taplinkd.KernelError (operation=TUNSETIFF errno=16): Device or resource busy"},
            {"{\"error\":\"io.taplinkd.KernelError\",\"parameters\":{\"operation\":\"nft "
             "batch\",\"errno\":0}}",
             -EIO, "io.taplinkd.KernelError", "{\"operation\":\"nft batch\",\"errno\":0}",
             "io.taplinkd.KernelError (operation=\"nft batch\" errno=0)"},
            {"{\"error\":\"io.taplinkd.KernelError\",\"parameters\":{\"operation\":\"x\",\"errno\":"
             "\"EBUSY\"}}",
             -EIO, "io.taplinkd.KernelError", NULL, NULL},
            {"{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":{\"parameter\":\"mtu\"}}",
             -EINVAL, "org.varlink.service.InvalidParameter", "{\"parameter\":\"mtu\"}",
             "org.varlink.service.InvalidParameter (parameter=mtu)"},
            {"{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":{\"method\":\"io.taplinkd."
             "Acquire\"}}",
             -EOPNOTSUPP, "org.varlink.service.MethodNotFound", NULL,
             "org.varlink.service.MethodNotFound (method=io.taplinkd.Acquire)"},
            {"{\"error\":\"org.varlink.service.InterfaceNotFound\",\"parameters\":{\"interface\":\"io."
             "taplinkd\"}}",
             -EOPNOTSUPP, "org.varlink.service.InterfaceNotFound", NULL, NULL},
            {"{\"error\":\"io.example.Weird\",\"parameters\":{\"text\":\"two\\nlines\",\"n\":[1,2]}}",
             -EPROTO, "io.example.Weird", NULL, "io.example.Weird (text=\"two\\nlines\" n=[1,2])"},
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                struct server *s = *state;
                /* Each case on its own connection: a fresh fake server. */
                if (i > 0) {
                        assert_int_equal(teardown(state), 0);
                        assert_int_equal(setup(state), 0);
                        s = *state;
                }
                struct step *st = add_step(s, "%s", table[i].reply);
                /* An error reply's fds are not the caller's either. */
                _cleanup_close_ int r0 = add_pipe_fd(st);

                tl_client *c = connect_to(s);
                tl_slot *sl = NULL;
                assert_int_equal(tl_acquire(c, NULL, &sl), table[i].err);
                assert_null(sl);
                server_join(s);
                assert_pipe_orphaned(r0);
                assert_string_equal(tl_client_error_name(c), table[i].name);
                assert_non_null(tl_client_error_parameters(c));
                if (table[i].parameters)
                        assert_string_equal(tl_client_error_parameters(c), table[i].parameters);
                assert_non_null(tl_client_error_message(c));
                assert_null(strchr(tl_client_error_message(c), '\n'));
                if (table[i].message)
                        assert_string_equal(tl_client_error_message(c), table[i].message);
                tl_client_free(c);
        }
}

static void test_error_then_success(void **state)
{
        struct server *s = *state;
        add_step(s, "{\"error\":\"io.taplinkd.NoSuchSlot\",\"parameters\":{\"slot\":5}}");
        add_step(s, "{}");

        tl_client *c = connect_to(s);
        assert_int_equal(tl_release(c, 5), -ENOENT);
        assert_string_equal(tl_client_error_message(c), "io.taplinkd.NoSuchSlot (slot=5)");
        /* The connection stays usable, and a success clears the error. */
        assert_int_equal(tl_release(c, 6), 0);
        assert_null(tl_client_error_name(c));
        assert_null(tl_client_error_parameters(c));
        assert_null(tl_client_error_message(c));
        server_join(s);
        assert_request(s, 0, "io.taplinkd.Release", "{\"slot\":5}");
        assert_request(s, 1, "io.taplinkd.Release", "{\"slot\":6}");
        tl_client_free(c);
}

/* ---- broken transport ---- */

static void test_truncated_reply(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *slot = slot_text(2, 1, NULL);
        struct step *st = add_step(s, "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0]}}", slot);
        _cleanup_close_ int r0 = add_pipe_fd(st);
        st->send_len = strlen(st->reply) / 2;

        tl_client *c = connect_to(s);
        tl_slot *sl = NULL;
        assert_int_equal(tl_acquire(c, NULL, &sl), -ECONNRESET);
        assert_string_equal(tl_client_error_message(c), "taplinkd closed the connection");
        server_join(s);
        assert_pipe_orphaned(r0);
        assert_int_equal(tl_list(c, &(tl_slot_list *){NULL}), -ENOTCONN);
        assert_non_null(tl_client_error_message(c));
        tl_client_free(c);
}

static void test_reply_without_nul(void **state)
{
        struct server *s = *state;
        struct step *st = add_step(s, "{}");
        st->no_nul = true;
        st->send_len = 2;

        tl_client *c = connect_to(s);
        assert_int_equal(tl_release(c, 0), -ECONNRESET);
        server_join(s);
        tl_client_free(c);
}

static void test_no_reply(void **state)
{
        struct server *s = *state;
        struct step *st = add_step(s, "{}");
        st->send_len = 0;
        st->no_nul = true;
        /* An empty reply (no byte, then close). */
        st->reply[0] = 0;

        tl_client *c = connect_to(s);
        tl_status status;
        assert_int_equal(tl_status_get(c, &status), -ECONNRESET);
        server_join(s);
        tl_client_free(c);
}

static void test_reply_too_large(void **state)
{
        struct server *s = *state;
        char *big = malloc(4096);
        assert_non_null(big);
        memset(big, ' ', 4095);
        big[4095] = 0;
        add_step(s, "{\"parameters\":{}%s}", big);
        free(big);

        tl_client *c = connect_to(s);
        tlp_client_set_max_reply(c, 1024);
        assert_int_equal(tl_release(c, 0), -EMSGSIZE);
        tl_client_free(c);
        server_join(s);
}

static void test_data_after_reply(void **state)
{
        struct server *s = *state;
        struct step *st = add_step(s, "{}");
        /* Two replies in one go, where one was asked for. */
        free(st->reply);
        st->reply = malloc(6);
        assert_non_null(st->reply);
        memcpy(st->reply, "{}\0{}", 6);
        st->send_len = 6;

        tl_client *c = connect_to(s);
        assert_int_equal(tl_release(c, 0), -EBADMSG);
        assert_int_equal(tl_release(c, 0), -ENOTCONN);
        server_join(s);
        tl_client_free(c);
}

static void test_malformed_replies(void **state)
{
        _cleanup_free_ char *good = slot_text(5, 1, NULL);
        static const struct {
                const char *from, *to;
        } slot_edits[] = {
            {"\"mtu\":1500", "\"mtu\":\"1500\""},
            {"\"mtu\":1500", "\"mtu\":1500.0"},
            {"\"mtu\":1500", "\"mtu\":-1"},
            {"\"mtu\":1500,", ""},
            {"\"ifname\":\"tl5\"", "\"ifname\":7"},
            {"\"ifname\":\"tl5\"", "\"ifname\":\"\""},
            {"\"ifname\":\"tl5\"", "\"ifname\":\"a-name-far-too-long\""},
            {"\"label\":\"vm-5\"", "\"label\":\"vm\\u0000x\""},
            {"\"label\":\"vm-5\"", "\"label\":\"\\u001b[2J\""},
            {"\"label\":\"vm-5\"", "\"label\":null"},
            {"\"ownerUid\":1000", "\"ownerUid\":-1"},
            {"\"ownerUid\":1000", "\"ownerUid\":4294967295"},
            {"\"ownerUid\":1000", "\"ownerUid\":18446744073709551615"},
            {"\"mac\":\"02:74:6c:00:00:05\"", "\"mac\":\"02:74:6c:00:00\""},
            {"\"mac\":\"02:74:6c:00:00:05\"", "\"mac\":\"02-74-6c-00-00-05\""},
            {"\"queues\":1", "\"queues\":0"},
            {"\"vnetHeader\":true", "\"vnetHeader\":1"},
            {"\"persistent\":false", "\"persistent\":\"false\""},
            {"\"guest\":\"10.213.0.22\"", "\"guest\":\"10.213.0.256\""},
            {"\"guest\":\"10.213.0.22\"", "\"guest\":\"fd74::2\""},
            {"\"prefixLength\":30", "\"prefixLength\":33"},
            {"\"prefixLength\":64", "\"prefixLength\":129"},
            {"\"guest\":\"fd74:6c00:0:5::2\"", "\"guest\":\"10.0.0.1\""},
            {"\"ipv6\":{", "\"ipv6\":[{"},
            {"\"kernelIpArg\":\"ip=", "\"kernelIpArg\":[\"ip="},
            {"\"slot\":5", "\"slot\":5.5"},
            {"\"slot\":5", "\"slot\":true"},
        };
        static const char *const whole[] = {
            "not json",
            "[]",
            "\"string\"",
            "{\"parameters\":{}} trailing",
            "{\"parameters\":[]}",
            "{\"parameters\":\"x\"}",
            "{\"error\":5}",
            "{\"error\":\"two words\"}",
            "{\"error\":null}",
            "{\"continues\":true,\"parameters\":{}}",
            "{\"continues\":\"no\",\"parameters\":{}}",
            "{\"parameters\":{\"slot\":{},\"fileDescriptors\":[0]}}",
            "{\"parameters\":{\"fileDescriptors\":[0]}}",
            "{\"parameters\":{\"slot\":null,\"fileDescriptors\":[0]}}",
            "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":{}}}",
            "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":null}}",
            "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0.0]}}",
            "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[1e0]}}",
            "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[[0]]}}",
            "{\"parameters\":{\"slot\":%s,\"fileDescriptors\":[0]}", /* unterminated */
        };
        size_t n_cases = ELEMENTSOF(slot_edits) + ELEMENTSOF(whole);

        for (size_t i = 0; i < n_cases; i++) {
                if (i > 0) {
                        assert_int_equal(teardown(state), 0);
                        assert_int_equal(setup(state), 0);
                }
                struct server *s = *state;
                struct step *st;
                if (i < ELEMENTSOF(slot_edits)) {
                        const char *from = slot_edits[i].from, *to = slot_edits[i].to;
                        char *at = strstr(good, from);
                        if (!at)
                                fail_msg("case %zu: %s not in %s", i, from, good);
                        st = add_step(s, "{\"parameters\":{\"slot\":%.*s%s%s,\"fileDescriptors\":[0]}}",
                                      (int)(at - good), good, to, at + strlen(from));
                } else {
                        st = add_step(s, whole[i - ELEMENTSOF(slot_edits)], good);
                }
                _cleanup_close_ int r0 = add_pipe_fd(st);

                tl_client *c = connect_to(s);
                tl_slot *sl = NULL;
                int r = tl_acquire(c, NULL, &sl);
                if (r != -EBADMSG)
                        fail_msg("case %zu (%s): %d, expected -EBADMSG", i, st->reply, r);
                assert_null(sl);
                assert_non_null(tl_client_error_message(c));
                server_join(s);
                assert_pipe_orphaned(r0);
                tl_client_free(c);
        }
}

/* ---- List, Status, Release ---- */

static void test_list(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *a = slot_text(0, 1, NULL);
        _cleanup_free_ char *b = slot_text(300, 4, "null");
        _cleanup_free_ char *c3 = slot_text(70000, 2, "");
        struct step *st = add_step(s, "{\"parameters\":{\"slots\":[%s,%s,%s]}}", a, b, c3);
        /* A List reply carries no fds; any that came anyway are closed. */
        _cleanup_close_ int r0 = add_pipe_fd(st);

        tl_client *c = connect_to(s);
        tl_slot_list *l = NULL;
        assert_int_equal(tl_list(c, &l), 0);
        server_join(s);
        assert_request(s, 0, "io.taplinkd.List", "{}");
        assert_pipe_orphaned(r0);

        assert_int_equal(tl_slot_list_size(l), 3);
        assert_null(tl_slot_list_get(l, 3));
        const tl_slot *x = tl_slot_list_get(l, 0);
        assert_int_equal(tl_slot_number(x), 0);
        assert_string_equal(tl_slot_ifname(x), "tl0");
        assert_true(tl_slot_has_net(x, TL_IPV6));
        assert_int_equal(tl_slot_n_fds(x), 0);
        assert_int_equal(tl_slot_fd(x, 0), -EINVAL);
        x = tl_slot_list_get(l, 1);
        assert_int_equal(tl_slot_number(x), 300);
        assert_string_equal(tl_slot_mac(x), "02:74:6c:00:01:2c");
        assert_int_equal(tl_slot_queues(x), 4);
        assert_false(tl_slot_has_net(x, TL_IPV6));
        x = tl_slot_list_get(l, 2);
        assert_int_equal(tl_slot_number(x), 70000);
        assert_string_equal(tl_slot_mac(x), "02:74:6c:01:11:70");
        assert_false(tl_slot_has_net(x, TL_IPV6));
        assert_non_null(strstr(tl_slot_json(x), "\"slot\":70000"));
        tl_slot_list_free(l);
        tl_client_free(c);
}

/* slot_text() with a Counters object (counters: the members' text). */
static char *slot_text_counters(unsigned n, const char *counters)
{
        _cleanup_free_ char *plain = slot_text(n, 1, NULL);
        char *t;
        plain[strlen(plain) - 1] = '\0';
        assert_true(asprintf(&t, "%s,\"counters\":{%s}}", plain, counters) >= 0);
        return t;
}

static void test_list_counters(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *a = slot_text_counters(
            1, "\"guestSentBytes\":1000,\"guestSentPackets\":10,\"guestReceivedBytes\":9223372036854775807,"
               "\"guestReceivedPackets\":3,\"droppedSpoofed\":7,\"droppedPolicy\":0");
        _cleanup_free_ char *b =
            slot_text_counters(2, "\"guestSentBytes\":1,\"guestSentPackets\":-1,\"guestReceivedBytes\":0,"
                                  "\"guestReceivedPackets\":0,\"droppedSpoofed\":0,\"droppedPolicy\":0");
        _cleanup_free_ char *plain = slot_text(3, 1, NULL);
        add_step(s, "{\"parameters\":{\"slots\":[%s]}}", a);
        add_step(s, "{\"parameters\":{\"slots\":[%s]}}", b);     /* a negative count */
        add_step(s, "{\"parameters\":{\"slots\":[%s]}}", plain); /* none, though asked */

        tl_client *c = connect_to(s);
        tl_slot_list *l = NULL;
        assert_int_equal(tl_list_ex(c, TL_LIST_COUNTERS | 2, &l), -EINVAL);
        assert_int_equal(tl_list_ex(c, TL_LIST_COUNTERS, &l), 0);
        const tl_slot *x = tl_slot_list_get(l, 0);
        assert_true(tl_slot_has_counters(x));
        assert_int_equal(tl_slot_guest_sent_bytes(x), 1000);
        assert_int_equal(tl_slot_guest_sent_packets(x), 10);
        assert_int_equal(tl_slot_guest_received_bytes(x), INT64_MAX);
        assert_int_equal(tl_slot_guest_received_packets(x), 3);
        assert_int_equal(tl_slot_dropped_spoofed(x), 7);
        assert_int_equal(tl_slot_dropped_policy(x), 0);
        tl_slot_list_free(l);
        l = NULL;
        assert_int_equal(tl_list_ex(c, TL_LIST_COUNTERS, &l), -EBADMSG);
        assert_string_equal(tl_client_error_message(c), "malformed reply: slots[0] field guestSentPackets");
        assert_int_equal(tl_list_ex(c, TL_LIST_COUNTERS, &l), -EBADMSG);
        assert_null(l);
        server_join(s);
        assert_request(s, 0, "io.taplinkd.List", "{\"counters\":true}");
        tl_client_free(c);

        /* Without the flag: none asked, none there, accessors say 0. */
        assert_false(tl_slot_has_counters(NULL));
        assert_int_equal(tl_slot_dropped_spoofed(NULL), 0);
}

static void test_list_empty(void **state)
{
        struct server *s = *state;
        add_step(s, "{\"parameters\":{\"slots\":[]}}");

        tl_client *c = connect_to(s);
        tl_slot_list *l = NULL;
        assert_int_equal(tl_list(c, &l), 0);
        assert_int_equal(tl_slot_list_size(l), 0);
        assert_null(tl_slot_list_get(l, 0));
        tl_slot_list_free(l);
        tl_client_free(c);
        server_join(s);
}

static void test_list_large(void **state)
{
        struct server *s = *state;
        const unsigned n = 10000;
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_non_null(f);
        fputs("{\"parameters\":{\"slots\":[", f);
        for (unsigned i = 0; i < n; i++) {
                char *t = slot_text(i, 1, NULL);
                fprintf(f, "%s%s", i ? "," : "", t);
                free(t);
        }
        fputs("]}}", f);
        assert_int_equal(fclose(f), 0);
        add_step(s, "%s", buf);
        free(buf);

        tl_client *c = connect_to(s);
        tl_slot_list *l = NULL;
        assert_int_equal(tl_list(c, &l), 0);
        server_join(s);
        assert_int_equal(tl_slot_list_size(l), n);
        assert_int_equal(tl_slot_number(tl_slot_list_get(l, n - 1)), n - 1);
        tl_slot_list_free(l);
        tl_client_free(c);
}

static void test_list_malformed(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *a = slot_text(0, 1, NULL);
        add_step(s, "{\"parameters\":{\"slots\":[%s,{\"slot\":1}]}}", a);

        tl_client *c = connect_to(s);
        tl_slot_list *l = NULL;
        assert_int_equal(tl_list(c, &l), -EBADMSG);
        assert_null(l);
        assert_string_equal(tl_client_error_message(c), "malformed reply: slots[1] field ifname");
        server_join(s);
        tl_client_free(c);
}

static void test_list_not_array(void **state)
{
        struct server *s = *state;
        add_step(s, "{\"parameters\":{\"slots\":{}}}");

        tl_client *c = connect_to(s);
        tl_slot_list *l = NULL;
        assert_int_equal(tl_list(c, &l), -EBADMSG);
        assert_null(l);
        server_join(s);
        tl_client_free(c);
}

static void test_status(void **state)
{
        struct server *s = *state;
        add_step(s, "{\"parameters\":{\"version\":\"0.1.0\",\"slotsInUse\":3,\"maxSlots\":16384}}");
        add_step(s, "{\"parameters\":{\"version\":\"0.1.0\",\"slotsInUse\":-3,\"maxSlots\":16384}}");
        add_step(s, "{\"parameters\":{\"version\":\"%080d\",\"slotsInUse\":3,\"maxSlots\":16384}}", 0);

        tl_client *c = connect_to(s);
        tl_status st;
        assert_int_equal(tl_status_get(c, &st), 0);
        assert_string_equal(st.version, "0.1.0");
        assert_int_equal(st.slots_in_use, 3);
        assert_int_equal(st.max_slots, 16384);

        /* Failures leave *ret alone. */
        tl_status before = st;
        assert_int_equal(tl_status_get(c, &st), -EBADMSG);
        assert_memory_equal(&st, &before, sizeof(st));
        assert_int_equal(tl_status_get(c, &st), -EBADMSG);
        assert_memory_equal(&st, &before, sizeof(st));
        server_join(s);
        assert_request(s, 0, "io.taplinkd.Status", "{}");
        tl_client_free(c);
}

static void test_release(void **state)
{
        struct server *s = *state;
        /* No parameters at all, and null parameters, both mean none. */
        struct step *st = add_step(s, "{}");
        _cleanup_close_ int r0 = add_pipe_fd(st);
        add_step(s, "{\"parameters\":null}");

        tl_client *c = connect_to(s);
        assert_int_equal(tl_release(c, 4294967295u), 0);
        assert_int_equal(tl_release(c, 0), 0);
        server_join(s);
        assert_request(s, 0, "io.taplinkd.Release", "{\"slot\":4294967295}");
        assert_request(s, 1, "io.taplinkd.Release", "{\"slot\":0}");
        assert_pipe_orphaned(r0);
        tl_client_free(c);
}

/* ---- connecting ---- */

static void test_socket_env(void **state)
{
        struct server *s = *state;
        add_step(s, "{}");

        unsetenv(TL_SOCKET_ENV);
        assert_string_equal(tl_socket_path(NULL), TL_DEFAULT_SOCKET);
        assert_string_equal(tl_socket_path(""), TL_DEFAULT_SOCKET);
        setenv(TL_SOCKET_ENV, "", 1);
        assert_string_equal(tl_socket_path(NULL), TL_DEFAULT_SOCKET);
        setenv(TL_SOCKET_ENV, s->path, 1);
        assert_string_equal(tl_socket_path(NULL), s->path);
        assert_string_equal(tl_socket_path("/elsewhere"), "/elsewhere");

        server_start(s);
        tl_client *c = NULL;
        assert_int_equal(tl_client_connect(NULL, &c), 0);
        assert_int_equal(tl_release(c, 1), 0);
        tl_client_free(c);
        unsetenv(TL_SOCKET_ENV);
        server_join(s);
}

static void test_connect_failures(void **state)
{
        struct server *s = *state;
        char path[256], longpath[200];
        tl_client *c = NULL;

        snprintf(path, sizeof(path), "%s/nothing-here", s->dir);
        assert_int_equal(tl_client_connect(path, &c), -ENOENT);
        assert_null(c);

        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = 0;
        assert_int_equal(tl_client_connect(longpath, &c), -ENAMETOOLONG);
        assert_null(c);

        /* A socket nobody listens on any more. */
        snprintf(path, sizeof(path), "%s/stale", s->dir);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
        assert_int_equal(tl_client_connect(path, &c), -ECONNREFUSED);
        unlink(path);

        assert_int_equal(tl_client_connect(NULL, NULL), -EINVAL);
}

static void test_null_arguments(void **state)
{
        tl_slot_list *l = NULL;
        tl_slot *sl = NULL;
        tl_status st;

        assert_int_equal(tl_acquire(NULL, NULL, &sl), -EINVAL);
        assert_int_equal(tl_release(NULL, 0), -EINVAL);
        assert_int_equal(tl_list(NULL, &l), -EINVAL);
        assert_int_equal(tl_status_get(NULL, &st), -EINVAL);
        assert_null(tl_client_error_message(NULL));
        assert_null(tl_client_error_name(NULL));
        assert_null(tl_slot_ifname(NULL));
        assert_int_equal(tl_slot_owner_uid(NULL), (uid_t)-1);
        assert_false(tl_slot_has_net(NULL, TL_IPV4));
        assert_null(tl_slot_json(NULL));
        assert_int_equal(tl_slot_n_fds(NULL), 0);
        assert_int_equal(tl_slot_take_fd(NULL, 0), -EINVAL);
        assert_int_equal(tl_slot_list_size(NULL), 0);
        tl_slot_free(NULL);
        tl_slot_list_free(NULL);
        tl_client_free(NULL);
        tl_acquire_options_init(NULL);
}

static void test_error_mapping(void **state)
{
        json_object *p = json_tokener_parse("{\"errno\":4096}");
        assert_int_equal(tlp_varlink_error_to_errno("io.taplinkd.KernelError", p), -EIO);
        json_object_put(p);
        p = json_tokener_parse("{\"errno\":-5}");
        assert_int_equal(tlp_varlink_error_to_errno("io.taplinkd.KernelError", p), -EIO);
        json_object_put(p);
        p = json_tokener_parse("{\"errno\":28}");
        assert_int_equal(tlp_varlink_error_to_errno("io.taplinkd.KernelError", p), -ENOSPC);
        assert_int_equal(tlp_varlink_error_to_errno("org.varlink.service.MethodNotImplemented", p),
                         -EOPNOTSUPP);
        assert_int_equal(tlp_varlink_error_to_errno("io.taplinkd.Unknown", p), -EPROTO);
        json_object_put(p);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(test_acquire_one_fd),
            T(test_acquire_four_fds),
            T(test_acquire_fds_out_of_order),
            T(test_acquire_unreferenced_fds_closed),
            T(test_acquire_fds_without_indexes),
            T(test_acquire_index_out_of_range),
            T(test_acquire_negative_index),
            T(test_acquire_duplicate_index),
            T(test_acquire_count_mismatch),
            T(test_acquire_index_wrong_type),
            T(test_acquire_no_fds_at_all),
            T(test_acquire_bad_slot),
            T(test_acquire_trickled),
            T(test_acquire_interrupted),
            T(test_acquire_ctrunc),
            T(test_errors),
            T(test_error_then_success),
            T(test_truncated_reply),
            T(test_reply_without_nul),
            T(test_no_reply),
            T(test_reply_too_large),
            T(test_data_after_reply),
            T(test_malformed_replies),
            T(test_list),
            T(test_list_counters),
            T(test_list_empty),
            T(test_list_large),
            T(test_list_malformed),
            T(test_list_not_array),
            T(test_status),
            T(test_release),
            T(test_socket_env),
            T(test_connect_failures),
            T(test_null_arguments),
            T(test_error_mapping),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

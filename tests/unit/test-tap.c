/* SPDX-License-Identifier: MIT */
// MODULES: tap
// WRAP: open open64 ioctl socket close
/* tap.c against a faked /dev/net/tun: the flags each TUNSETIFF carries, and
 * every way tap_create() can fail half-way (each must close every fd it
 * opened, name the failed operation and leave the output untouched). The
 * real kernel is exercised by tests/integration/test-tap-rtnl.c. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "tap.h"

int __real_open(const char *path, int flags, ...);
int __real_socket(int domain, int type, int protocol);
int __real_close(int fd);

enum op {
        OP_OPEN,
        OP_TUNSETIFF,
        OP_TUNSETOWNER,
        OP_SOCKET,
        OP_SIOCGIFINDEX,
        OP_TUNGETFEATURES,
        OP_PERSIST,
        _OP_MAX
};

static struct {
        /* Fault injection: the nth call (1-based) of op fails with err. */
        enum op fail_op;
        unsigned fail_nth;
        int fail_errno;
        unsigned features;

        unsigned calls[_OP_MAX];
        int open_flags[32];
        unsigned n_opened;
        int opened[64];
        unsigned n_closed;
        int closed[64];
        short setiff_flags[32];
        char setiff_name[32][IFNAMSIZ];
        unsigned long owner;
        unsigned long persist;
        int socket_domain, socket_type;
} fake;

static void fake_reset(void)
{
        memset(&fake, 0, sizeof(fake));
        fake.fail_op = _OP_MAX;
        fake.features = IFF_TUN | IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE | IFF_NAPI;
}

/* Counts a call of op; true when it is the one to fail (errno set). */
static bool fake_call(enum op op)
{
        if (++fake.calls[op] == fake.fail_nth && op == fake.fail_op) {
                errno = fake.fail_errno;
                return true;
        }
        return false;
}

static int fake_open(const char *path, int flags)
{
        int fd;

        assert_string_equal(path, "/dev/net/tun");
        if (fake_call(OP_OPEN))
                return -1;
        fake.open_flags[fake.calls[OP_OPEN] - 1] = flags;
        /* A real fd, so that its flags can be checked. */
        fd = __real_open("/dev/null", flags);
        assert_true(fd >= 0);
        fake.opened[fake.n_opened++] = fd;
        return fd;
}

int __wrap_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...)
{
        return fake_open(path, flags);
}

int __wrap_open64(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...)
{
        return fake_open(path, flags);
}

int __wrap_socket(int domain, int type, int protocol);
int __wrap_socket(int domain, int type, int protocol)
{
        int fd;

        fake.socket_domain = domain;
        fake.socket_type = type;
        if (fake_call(OP_SOCKET))
                return -1;
        fd = __real_socket(domain, type, protocol);
        assert_true(fd >= 0);
        fake.opened[fake.n_opened++] = fd;
        return fd;
}

int __wrap_close(int fd);
int __wrap_close(int fd)
{
        fake.closed[fake.n_closed++] = fd;
        return __real_close(fd);
}

int __wrap_ioctl(int fd, unsigned long request, ...);
int __wrap_ioctl(int fd, unsigned long request, ...)
{
        unsigned long arg;
        struct ifreq *ifr;
        va_list ap;

        va_start(ap, request);
        arg = va_arg(ap, unsigned long);
        va_end(ap);
        ifr = (struct ifreq *)arg;

        switch (request) {
        case TUNGETFEATURES:
                if (fake_call(OP_TUNGETFEATURES))
                        return -1;
                *(unsigned *)arg = fake.features;
                return 0;
        case TUNSETIFF:
                if (fake_call(OP_TUNSETIFF))
                        return -1;
                fake.setiff_flags[fake.calls[OP_TUNSETIFF] - 1] = ifr->ifr_flags;
                memcpy(fake.setiff_name[fake.calls[OP_TUNSETIFF] - 1], ifr->ifr_name, IFNAMSIZ);
                return 0;
        case TUNSETOWNER:
                if (fake_call(OP_TUNSETOWNER))
                        return -1;
                fake.owner = arg;
                return 0;
        case TUNSETPERSIST:
                if (fake_call(OP_PERSIST))
                        return -1;
                fake.persist = arg;
                return 0;
        case SIOCGIFINDEX:
                if (fake_call(OP_SIOCGIFINDEX))
                        return -1;
                assert_string_equal(ifr->ifr_name, "tl7");
                ifr->ifr_ifindex = 42;
                return 0;
        default:
                fail_msg("unexpected ioctl %#lx", request);
                return -1;
        }
}

static bool was_closed(int fd)
{
        for (unsigned i = 0; i < fake.n_closed; i++)
                if (fake.closed[i] == fd)
                        return true;
        return false;
}

/* ---- tap_probe_features ---- */

static void test_probe(void **state)
{
        static const struct {
                unsigned remove;
                const char *missing;
        } cases[] = {
            {0, NULL},
            {IFF_TAP, "IFF_TAP"},
            {IFF_NO_PI, "IFF_NO_PI"},
            {IFF_VNET_HDR, "IFF_VNET_HDR"},
            {IFF_MULTI_QUEUE, "IFF_MULTI_QUEUE"},
            {IFF_VNET_HDR | IFF_MULTI_QUEUE, "IFF_VNET_HDR"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *missing = NULL;

                fake_reset();
                fake.features &= ~cases[i].remove;
                assert_int_equal(tap_probe_features(&missing), cases[i].missing ? -EOPNOTSUPP : 0);
                if (cases[i].missing)
                        assert_string_equal(missing, cases[i].missing);
                else
                        assert_null(missing);
                assert_int_equal(fake.n_closed, 1);
                assert_true(was_closed(fake.opened[0]));
        }

        fake_reset();
        fake.fail_op = OP_OPEN, fake.fail_nth = 1, fake.fail_errno = ENOENT;
        assert_int_equal(tap_probe_features(NULL), -ENOENT);
        fake_reset();
        fake.fail_op = OP_TUNGETFEATURES, fake.fail_nth = 1, fake.fail_errno = EINVAL;
        assert_int_equal(tap_probe_features(NULL), -EINVAL);
        assert_true(was_closed(fake.opened[0]));
}

/* ---- tap_create: what it asks of the kernel ---- */

static void test_create_flags(void **state)
{
        static const struct {
                struct tap_options opts;
                short first, others;
        } cases[] = {
            {{1, false, 0}, (short)(IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL), 0},
            {{1, true, 1000}, (short)(IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL | IFF_VNET_HDR), 0},
            {{2, false, 0},
             (short)(IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL | IFF_MULTI_QUEUE),
             IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE},
            {{TAP_MAX_QUEUES, true, 65534},
             (short)(IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL | IFF_VNET_HDR | IFF_MULTI_QUEUE),
             IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct tap_options *o = &cases[i].opts;
                int fds[TAP_MAX_QUEUES], ifindex = 0;
                const char *op = "untouched";

                fake_reset();
                assert_int_equal(tap_create("tl7", o, fds, &ifindex, &op), 0);
                assert_string_equal(op, "untouched");
                assert_int_equal(ifindex, 42);
                assert_int_equal(fake.calls[OP_OPEN], o->queues);
                assert_int_equal(fake.calls[OP_TUNSETIFF], o->queues);
                /* The first queue creates, exclusively; the others attach. */
                assert_int_equal(fake.setiff_flags[0], cases[i].first);
                for (unsigned q = 1; q < o->queues; q++)
                        assert_int_equal(fake.setiff_flags[q], cases[i].others);
                for (unsigned q = 0; q < o->queues; q++) {
                        assert_string_equal(fake.setiff_name[q], "tl7");
                        assert_true(fake.open_flags[q] & O_CLOEXEC);
                        assert_int_equal(fake.open_flags[q] & O_ACCMODE, O_RDWR);
                        assert_int_equal(fds[q], fake.opened[q]);
                        assert_int_equal(fcntl(fds[q], F_GETFD), FD_CLOEXEC);
                }
                assert_int_equal(fake.owner, o->owner);
                /* Only the address families the unit allows. */
                assert_int_equal(fake.socket_domain, AF_UNIX);
                assert_true(fake.socket_type & SOCK_CLOEXEC);
                /* Only the helper socket was closed. */
                assert_int_equal(fake.n_closed, 1);
                assert_int_equal(fake.closed[0], fake.opened[o->queues]);
                for (unsigned q = 0; q < o->queues; q++)
                        __real_close(fds[q]);
        }
}

/* ---- tap_create failing half-way ---- */

static void test_create_failures(void **state)
{
        static const struct {
                enum op op;
                unsigned nth;
                int err;
                const char *failed_op;
        } cases[] = {
            {OP_OPEN, 1, EMFILE, "open /dev/net/tun"},    {OP_TUNSETIFF, 1, EBUSY, "TUNSETIFF"},
            {OP_TUNSETOWNER, 1, EPERM, "TUNSETOWNER"},    {OP_OPEN, 2, ENFILE, "open /dev/net/tun"},
            {OP_OPEN, 4, EMFILE, "open /dev/net/tun"},    {OP_TUNSETIFF, 3, EINVAL, "TUNSETIFF"},
            {OP_TUNSETIFF, 4, ENOMEM, "TUNSETIFF"},       {OP_SOCKET, 1, EAFNOSUPPORT, "SIOCGIFINDEX"},
            {OP_SIOCGIFINDEX, 1, ENODEV, "SIOCGIFINDEX"},
        };
        const struct tap_options opts = {4, true, 1000};

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int fds[TAP_MAX_QUEUES], ifindex = -3;
                const char *op = NULL;

                for (size_t q = 0; q < TAP_MAX_QUEUES; q++)
                        fds[q] = -2;
                fake_reset();
                fake.fail_op = cases[i].op;
                fake.fail_nth = cases[i].nth;
                fake.fail_errno = cases[i].err;

                assert_int_equal(tap_create("tl7", &opts, fds, &ifindex, &op), -cases[i].err);
                assert_non_null(op);
                assert_string_equal(op, cases[i].failed_op);
                /* Every fd opened is closed, exactly once. */
                assert_int_equal(fake.n_closed, fake.n_opened);
                for (unsigned k = 0; k < fake.n_opened; k++)
                        assert_true(was_closed(fake.opened[k]));
                /* Outputs untouched. */
                assert_int_equal(ifindex, -3);
                for (size_t q = 0; q < TAP_MAX_QUEUES; q++)
                        assert_int_equal(fds[q], -2);
        }
}

static void test_create_invalid(void **state)
{
        struct tap_options opts = {1, true, 0};
        int fds[TAP_MAX_QUEUES], ifindex;
        const char *op = NULL;

        fake_reset();
        assert_int_equal(tap_create("tl0123456789abcd", &opts, fds, &ifindex, &op), -EINVAL);
        assert_string_equal(op, "arguments");
        assert_int_equal(tap_create("", &opts, fds, &ifindex, NULL), -EINVAL);
        opts.queues = 0;
        assert_int_equal(tap_create("tl7", &opts, fds, &ifindex, NULL), -EINVAL);
        opts.queues = TAP_MAX_QUEUES + 1;
        assert_int_equal(tap_create("tl7", &opts, fds, &ifindex, NULL), -EINVAL);
        assert_int_equal(fake.calls[OP_OPEN], 0);

        /* The longest name that fits. */
        opts.queues = 1;
        fake_reset();
        fake.fail_op = OP_SIOCGIFINDEX, fake.fail_nth = 1, fake.fail_errno = ENODEV;
        assert_int_equal(tap_create("tl0123456789abc", &opts, fds, &ifindex, &op), -ENODEV);
        assert_string_equal(fake.setiff_name[0], "tl0123456789abc");
}

static void test_persist(void **state)
{
        fake_reset();
        assert_int_equal(tap_set_persist(5, true), 0);
        assert_int_equal(fake.persist, 1);
        assert_int_equal(tap_set_persist(5, false), 0);
        assert_int_equal(fake.persist, 0);
        fake.fail_op = OP_PERSIST, fake.fail_nth = 3, fake.fail_errno = EPERM;
        assert_int_equal(tap_set_persist(5, true), -EPERM);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_probe),           cmocka_unit_test(test_create_flags),
            cmocka_unit_test(test_create_failures), cmocka_unit_test(test_create_invalid),
            cmocka_unit_test(test_persist),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

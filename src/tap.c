/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "macro.h"
#include "tap.h"

#define TUN_PATH "/dev/net/tun"

int tap_probe_features(const char **ret_missing)
{
        static const struct {
                unsigned flag;
                const char *name;
        } needed[] = {
            {IFF_TAP, "IFF_TAP"},
            {IFF_NO_PI, "IFF_NO_PI"},
            {IFF_VNET_HDR, "IFF_VNET_HDR"},
            {IFF_MULTI_QUEUE, "IFF_MULTI_QUEUE"},
        };
        _cleanup_close_ int fd = -1;
        unsigned features = 0;

        fd = open(TUN_PATH, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                if (ret_missing)
                        *ret_missing = "open";
                return negative_errno();
        }
        if (ioctl(fd, TUNGETFEATURES, &features) < 0) {
                if (ret_missing)
                        *ret_missing = "TUNGETFEATURES";
                return negative_errno();
        }

        for (size_t i = 0; i < ELEMENTSOF(needed); i++)
                if (!(features & needed[i].flag)) {
                        if (ret_missing)
                                *ret_missing = needed[i].name;
                        return -EOPNOTSUPP;
                }
        return 0;
}

/* One queue: a fresh /dev/net/tun fd bound to ifname with flags. */
static int tap_open_queue(const char *ifname, unsigned flags, int *ret_fd, const char **ret_failed_op)
{
        _cleanup_close_ int fd = -1;
        struct ifreq ifr = {};

        fd = open(TUN_PATH, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                *ret_failed_op = "open /dev/net/tun";
                return negative_errno();
        }

        strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
        /* ifr_flags is a short and IFF_TUN_EXCL is its sign bit. */
        ifr.ifr_flags = (short)flags;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                *ret_failed_op = "TUNSETIFF";
                return negative_errno();
        }

        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* SIOCGIFINDEX works on any socket: an AF_UNIX one keeps us within the
 * address families the systemd unit allows (AF_UNIX, AF_NETLINK). */
static int tap_ifindex(const char *ifname, int *ret_ifindex)
{
        _cleanup_close_ int sk = -1;
        struct ifreq ifr = {};

        sk = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sk < 0)
                return negative_errno();

        strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
        if (ioctl(sk, SIOCGIFINDEX, &ifr) < 0)
                return negative_errno();

        *ret_ifindex = ifr.ifr_ifindex;
        return 0;
}

int tap_create(const char *ifname, const struct tap_options *opts, int *ret_fds, int *ret_ifindex,
               const char **ret_failed_op)
{
        int fds[TAP_MAX_QUEUES];
        const char *failed_op = NULL;
        unsigned flags = IFF_TAP | IFF_NO_PI;
        int ifindex = 0, r;
        size_t len;

        if (!ifname || !opts || !ret_fds || !ret_ifindex)
                return -EINVAL;
        len = strlen(ifname);
        if (len == 0 || len >= IFNAMSIZ || opts->queues < 1 || opts->queues > TAP_MAX_QUEUES) {
                if (ret_failed_op)
                        *ret_failed_op = "arguments";
                return -EINVAL;
        }

        if (opts->vnet_header)
                flags |= IFF_VNET_HDR;
        if (opts->queues > 1)
                flags |= IFF_MULTI_QUEUE;
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                fds[i] = -1;

        /* The first queue creates the device; with IFF_TUN_EXCL an existing
         * device of that name is -EBUSY, even one root could attach to. */
        r = tap_open_queue(ifname, flags | IFF_TUN_EXCL, &fds[0], &failed_op);
        if (r < 0)
                goto fail;

        if (ioctl(fds[0], TUNSETOWNER, (unsigned long)opts->owner) < 0) {
                r = negative_errno();
                failed_op = "TUNSETOWNER";
                goto fail;
        }

        /* The other queues attach without IFF_TUN_EXCL. That cannot land on
         * someone else's device: fds[0] keeps ours alive, names are unique,
         * so until we close fds[0] the name can only mean our device (short
         * of a privileged rename or delete, which a root daemon cannot guard
         * against anyway). */
        for (unsigned q = 1; q < opts->queues; q++) {
                r = tap_open_queue(ifname, flags, &fds[q], &failed_op);
                if (r < 0)
                        goto fail;
        }

        r = tap_ifindex(ifname, &ifindex);
        if (r < 0) {
                failed_op = "SIOCGIFINDEX";
                goto fail;
        }

        memcpy(ret_fds, fds, opts->queues * sizeof(int));
        *ret_ifindex = ifindex;
        return 0;

fail:
        /* Closing the last fd of a non-persistent device deletes it, so a
         * half-made device does not outlive this call. */
        close_many(fds, opts->queues);
        if (ret_failed_op)
                *ret_failed_op = failed_op;
        return r;
}

int tap_get_name(int fd, char ret[IFNAMSIZ])
{
        struct ifreq ifr = {0};

        if (ioctl(fd, TUNGETIFF, &ifr) < 0)
                return negative_errno();
        memcpy(ret, ifr.ifr_name, IFNAMSIZ);
        ret[IFNAMSIZ - 1] = '\0';
        return 0;
}

int tap_get_netns(int fd, int *ret_fd)
{
        int ns = ioctl(fd, TUNGETDEVNETNS);

        if (ns < 0)
                return negative_errno();
        *ret_fd = ns;
        return 0;
}

int tap_set_persist(int fd, bool persist)
{
        if (ioctl(fd, TUNSETPERSIST, persist ? 1UL : 0UL) < 0)
                return negative_errno();
        return 0;
}

int tap_set_owner(int fd, uid_t owner)
{
        if (ioctl(fd, TUNSETOWNER, (unsigned long)owner) < 0)
                return negative_errno();
        return 0;
}

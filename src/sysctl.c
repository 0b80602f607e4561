/* SPDX-License-Identifier: MIT */
/* The forwarding sysctls taplinkd needs (taplinkd(8), taplinkd.conf(5):
 * forward_ipv4, forward_ipv6). */

#include <fcntl.h>
#include <string.h>

#include "macro.h"
#include "sysctl.h"

static int sysctl_ensure_one(const char *path)
{
        char buf[32];
        ssize_t len;

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        len = read(fd, buf, sizeof(buf) - 1);
        if (len < 0)
                return -errno;
        buf[len] = '\0';
        if (strcmp(buf, "1\n") == 0 || strcmp(buf, "1") == 0)
                return 0;

        _cleanup_close_ int wfd = open(path, O_WRONLY | O_CLOEXEC);
        if (wfd < 0)
                return -errno;
        len = write(wfd, "1\n", 2);
        if (len < 0)
                return -errno;
        return len == 2 ? 1 : -EIO;
}

int sysctl_apply_forwarding(const struct config *c, const char **ret_failed_path)
{
        static const char ipv4[] = "/proc/sys/net/ipv4/ip_forward";
        static const char ipv6[] = "/proc/sys/net/ipv6/conf/all/forwarding";
        int r;

        if (c->forward_ipv4) {
                r = sysctl_ensure_one(ipv4);
                if (r < 0) {
                        if (ret_failed_path)
                                *ret_failed_path = ipv4;
                        return r;
                }
        }
        if (c->forward_ipv6) {
                r = sysctl_ensure_one(ipv6);
                if (r < 0) {
                        if (ret_failed_path)
                                *ret_failed_path = ipv6;
                        return r;
                }
        }
        return 0;
}

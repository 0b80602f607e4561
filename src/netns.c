/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "macro.h"
#include "netns.h"

#define THREAD_NETNS "/proc/thread-self/ns/net"

int netns_open_current(int *ret_fd)
{
        int fd = open(THREAD_NETNS, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

int netns_dir_setup(const char *dir)
{
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return negative_errno();
        if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) == 0)
                return 0;
        if (errno != EINVAL)
                return negative_errno();
        /* Not a mount point yet: make it one, then shared. */
        if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0)
                return negative_errno();
        if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) < 0)
                return negative_errno();
        return 0;
}

static int path_of(const char *dir, const char *name, char ret[PATH_MAX])
{
        int n = snprintf(ret, PATH_MAX, "%s/%s", dir, name);

        return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

void netns_leave(int home_fd)
{
        if (setns(home_fd, CLONE_NEWNET) < 0)
                abort();
}

int netns_enter(int fd)
{
        return setns(fd, CLONE_NEWNET) < 0 ? negative_errno() : 0;
}

int netns_new(int home_fd, int *ret_fd)
{
        int fd = -1, e = 0;

        if (unshare(CLONE_NEWNET) < 0)
                return negative_errno();
        e = netns_open_current(&fd);
        netns_leave(home_fd);
        if (e < 0)
                return e;
        *ret_fd = fd;
        return 0;
}

int netns_attach(const char *dir, const char *name, int fd)
{
        char path[PATH_MAX], source[64];
        int file, e;

        e = path_of(dir, name, path);
        if (e < 0)
                return e;
        file = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
        if (file < 0)
                return errno == EEXIST ? -EBUSY : negative_errno();
        close(file);
        /* The namespace file behind our fd, as `ip netns attach` mounts
         * /proc/<pid>/ns/net. */
        snprintf(source, sizeof(source), "/proc/self/fd/%d", fd);
        if (mount(source, path, "none", MS_BIND, NULL) < 0) {
                e = negative_errno();
                unlink(path);
                return e;
        }
        return 0;
}

int netns_remove(const char *dir, const char *name)
{
        char path[PATH_MAX];
        int e = path_of(dir, name, path);

        if (e < 0)
                return e;
        /* EINVAL: not mounted (half-made); ENOENT: gone already. */
        if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return negative_errno();
        if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

int netns_open(const char *dir, const char *name, int *ret_fd)
{
        _cleanup_close_ int fd = -1;
        char path[PATH_MAX];
        struct statfs sfs;
        int e = path_of(dir, name, path);

        if (e < 0)
                return e;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstatfs(fd, &sfs) < 0)
                return negative_errno();
        if (sfs.f_type != NSFS_MAGIC)
                return -EINVAL;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

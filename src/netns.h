/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/* Network namespaces by name, as `ip netns` keeps them: a namespace
 * bind-mounted on <dir>/<name>, with <dir> a shared mount point so that the
 * mount shows in every mount namespace that has a copy of it. No logging,
 * -errno returns. The calling thread's namespace is switched only inside
 * these calls and always switched back (docs/DESIGN.md, "Clone slots"). */

/* The calling thread's network namespace, O_CLOEXEC. */
int netns_open_current(int *ret_fd);

/* Makes <dir> (0755) if missing and a shared mount point (bound onto
 * itself first if it is not a mount point), as `ip netns add` does. */
int netns_dir_setup(const char *dir);

/* A new namespace, held only by *ret_fd (no bind mount: it ends with the
 * fd, and so with the process). The thread is back in home_fd's namespace
 * on return; if it cannot get back the process aborts (every socket it made
 * afterwards would be in the wrong namespace). Safe in any thread: only the
 * calling thread switches. */
int netns_new(int home_fd, int *ret_fd);

/* Bind-mounts fd's namespace on <dir>/<name>, made O_EXCL: -EBUSY when it
 * exists. On failure the file is removed again. */
int netns_attach(const char *dir, const char *name, int fd);

/* Unmounts <dir>/<name> (detached) and removes the file; both may be gone
 * already. The namespace itself ends when nothing else holds it. */
int netns_remove(const char *dir, const char *name);

/* Opens <dir>/<name>: -ENOENT when there is no such file, -EINVAL when it is
 * not a network namespace (a file with no namespace mounted on it). */
int netns_open(const char *dir, const char *name, int *ret_fd);

/* Switches the calling thread into fd's namespace; netns_leave() back to
 * home_fd's, aborting if it cannot (as netns_create()). */
int netns_enter(int fd);
void netns_leave(int home_fd);

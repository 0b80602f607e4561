/* SPDX-License-Identifier: MIT */

/* taplinkctl run: acquire a slot, hand its queue fds to a command and
 * become that command. Nothing of taplinkctl stays behind: the slot's
 * lifetime is the command's hold on the fds. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(tl_client *, tl_client_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(tl_slot *, tl_slot_free)

static int set(const char *name, const char *value)
{
        return setenv(name, value, 1) < 0 ? -errno : 0;
}

static int set_uint(const char *name, unsigned value)
{
        char buf[16];
        snprintf(buf, sizeof(buf), "%u", value);
        return set(name, buf);
}

int export_slot_environment(const tl_slot *s, int first_fd)
{
        _cleanup_free_ char *fds = fd_list(first_fd, tl_slot_n_fds(s));
        int r = 0;

        if (!fds)
                return -ENOMEM;
        if ((r = set_uint("TAPLINK_SLOT", tl_slot_number(s))) < 0 ||
            (r = set("TAPLINK_IFNAME", tl_slot_ifname(s))) < 0 || (r = set("TAPLINK_FDS", fds)) < 0 ||
            (r = set("TAPLINK_MAC", tl_slot_mac(s))) < 0 ||
            (r = set("TAPLINK_IPV4_GUEST", tl_slot_guest(s, TL_IPV4))) < 0 ||
            (r = set("TAPLINK_IPV4_GATEWAY", tl_slot_gateway(s, TL_IPV4))) < 0 ||
            (r = set_uint("TAPLINK_IPV4_PREFIX", tl_slot_prefix_length(s, TL_IPV4))) < 0 ||
            (r = set("TAPLINK_KERNEL_IP_ARG", tl_slot_kernel_ip_arg(s))) < 0)
                return r;

        /* A clone slot's guest has the fixed clone addressing, in the
         * namespace the VMM joins (a jailer's --netns). */
        tl_clone cl;
        if (tl_slot_clone(s, &cl) >= 0) {
                if ((r = set("TAPLINK_NETNS", cl.netns)) < 0 ||
                    (r = set("TAPLINK_TAP_NAME", cl.tap_name)) < 0 ||
                    (r = set("TAPLINK_IPV4_GUEST", cl.guest)) < 0 ||
                    (r = set("TAPLINK_IPV4_GATEWAY", cl.gateway)) < 0 ||
                    (r = set_uint("TAPLINK_IPV4_PREFIX", cl.prefix_length)) < 0)
                        return r;
        } else {
                unsetenv("TAPLINK_NETNS");
                unsetenv("TAPLINK_TAP_NAME");
        }
        if (tl_slot_has_net(s, TL_IPV6)) {
                if ((r = set("TAPLINK_IPV6_GUEST", tl_slot_guest(s, TL_IPV6))) < 0 ||
                    (r = set("TAPLINK_IPV6_GATEWAY", tl_slot_gateway(s, TL_IPV6))) < 0)
                        return r;
        } else {
                /* Unset, not empty, and never inherited from an outer run:
                 * "${TAPLINK_IPV6_GUEST+set}" tells whether there is IPv6. */
                unsetenv("TAPLINK_IPV6_GUEST");
                unsetenv("TAPLINK_IPV6_GATEWAY");
        }
        return 0;
}

int ctl_run(const struct ctl_options *o, const struct acquire_args *a)
{
        _cleanup_(tl_client_freep) tl_client *c = NULL;
        _cleanup_(tl_slot_freep) tl_slot *s = NULL;
        _cleanup_free_ int *fds = NULL;
        int r;

        r = ctl_connect(o, &c);
        if (r != 0)
                return r;
        r = ctl_acquire(c, a, &s);
        if (r < 0)
                return ctl_call_failed("run", c, r);

        r = export_slot_environment(s, a->first_fd);
        if (r < 0)
                return ctl_error(CTL_EXIT_REFUSED, "run", "cannot set the environment: %s", strerror(-r));

        size_t n = tl_slot_n_fds(s);
        fds = calloc(n, sizeof(int));
        if (!fds)
                return ctl_error(CTL_EXIT_REFUSED, "run", "%s", strerror(ENOMEM));
        for (size_t i = 0; i < n; i++)
                fds[i] = tl_slot_take_fd(s, i);
        /* The connection goes before the fds move: its number may be one of
         * the targets, and the command must not inherit it. */
        s = (tl_slot_free(s), NULL);
        c = (tl_client_free(c), NULL);

        r = move_fds(fds, n, a->first_fd);
        if (r < 0) {
                close_many(fds, n);
                return ctl_error(CTL_EXIT_REFUSED, "run", "cannot place the fds at %d: %s", a->first_fd,
                                 strerror(-r));
        }

        fflush(stdout);
        execvp(a->command[0], a->command);
        /* As env(1) and the shells: 127 when there is no such command, 126
         * when it cannot be run. Exiting closes the fds: the slot goes. */
        r = errno;
        close_many(fds, n);
        return ctl_error(r == ENOENT ? 127 : 126, "run", "cannot execute %s: %s", a->command[0],
                         strerror(r));
}

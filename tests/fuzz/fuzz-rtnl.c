/* SPDX-License-Identifier: MIT */
// MODULES: rtnl rtnl-build rtnl-parse
// MAX_LEN: 16384

/* The rtnetlink parsers over an arbitrary datagram, as the link dumps and
 * the link monitor hand it to them: every message whose framing holds goes
 * to rtnl_parse_link(), rtnl_parse_veth(), rtnl_parse_dellink() and
 * rtnl_parse_link_stats(),
 * with and without a name prefix. Each message is copied into a buffer of exactly nlmsg_len bytes
 * (malloc's alignment suits struct nlmsghdr), so ASan sees any read past
 * the message. The walk checks the framing itself with size_t arithmetic:
 * the parsers' contract is a message readable for nlmsg_len bytes.
 * Checked besides memory safety: a message reported as a TAP or a removal
 * carries a NUL-terminated name with the prefix, and the dump's fields are
 * in range. */

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "fuzz.h"
#include "rtnl.h"

#define PREFIX "tl"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        return 0;
}

/* NUL-terminated within the field and starting with prefix. (The kernel
 * never names a link "", but without a prefix nothing rules it out.) */
static bool name_ok(const char *name, size_t size, const char *prefix)
{
        return strnlen(name, size) < size && (!prefix || strncmp(name, prefix, strlen(prefix)) == 0);
}

/* Runs one link parser: on no answer the output is untouched; on one, the
 * checks every link of ours passes. Returns whether it parsed a link. */
static bool parse_one(int (*parse)(const struct nlmsghdr *, const char *, struct rtnl_tap_info *),
                      const struct nlmsghdr *nlh, const char *prefix, struct rtnl_tap_info *info)
{
        struct rtnl_tap_info untouched;
        int r;

        memset(info, 0xa5, sizeof(*info));
        untouched = *info;
        r = parse(nlh, prefix, info);
        CHECK(r == 1 || r == 0 || r == -EBADMSG);
        if (r != 1) {
                CHECK(memcmp(info, &untouched, sizeof(*info)) == 0);
                return false;
        }
        CHECK(nlh->nlmsg_type == RTM_NEWLINK || nlh->nlmsg_type == RTM_DELLINK);
        CHECK(name_ok(info->ifname, sizeof(info->ifname), prefix));
        CHECK(strnlen(info->alias, sizeof(info->alias)) < sizeof(info->alias));
        return true;
}

static void parse_link(const struct nlmsghdr *nlh, const char *prefix)
{
        struct rtnl_tap_info info;

        if (!parse_one(rtnl_parse_link, nlh, prefix, &info))
                return;
        CHECK(info.multi_queue || info.queues == 1);
        CHECK(info.has_owner || info.owner == (uid_t)-1);
}

/* A clone slot's veth: the same framing, no tun fields. */
static void parse_veth(const struct nlmsghdr *nlh, const char *prefix)
{
        struct rtnl_tap_info info, scratch;

        if (!parse_one(rtnl_parse_veth, nlh, prefix, &info))
                return;
        /* A link is a TAP or a veth, never both. */
        CHECK(rtnl_parse_link(nlh, prefix, &scratch) != 1);
}

static void parse_dellink(const struct nlmsghdr *nlh, const char *prefix)
{
        struct rtnl_link_event ev, untouched;
        int r;

        memset(&ev, 0xa5, sizeof(ev));
        untouched = ev;
        r = rtnl_parse_dellink(nlh, prefix, &ev);
        CHECK(r == 1 || r == 0 || r == -EBADMSG);
        if (r != 1) {
                CHECK(memcmp(&ev, &untouched, sizeof(ev)) == 0);
                return;
        }
        CHECK(nlh->nlmsg_type == RTM_DELLINK);
        CHECK(name_ok(ev.ifname, sizeof(ev.ifname), prefix));
}

static void parse_stats(const struct nlmsghdr *nlh, const char *prefix)
{
        struct rtnl_traffic t, untouched;
        int r;

        memset(&t, 0xa5, sizeof(t));
        untouched = t;
        r = rtnl_parse_link_stats(nlh, prefix, &t);
        CHECK(r == 1 || r == 0 || r == -EBADMSG);
        if (r != 1) {
                CHECK(memcmp(&t, &untouched, sizeof(t)) == 0);
                return;
        }
        CHECK(nlh->nlmsg_type == RTM_NEWLINK);
        CHECK(name_ok(t.ifname, sizeof(t.ifname), prefix));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t off = 0;

        while (size - off >= sizeof(struct nlmsghdr)) {
                struct nlmsghdr hdr;
                struct nlmsghdr *nlh;

                memcpy(&hdr, data + off, sizeof(hdr));
                if (hdr.nlmsg_len < sizeof(hdr) || hdr.nlmsg_len > size - off)
                        break; /* where mnl_nlmsg_ok() stops too */
                nlh = malloc(hdr.nlmsg_len);
                CHECK(nlh);
                memcpy(nlh, data + off, hdr.nlmsg_len);

                parse_link(nlh, PREFIX);
                parse_link(nlh, NULL);
                parse_veth(nlh, PREFIX);
                parse_veth(nlh, NULL);
                parse_dellink(nlh, PREFIX);
                parse_dellink(nlh, NULL);
                parse_stats(nlh, PREFIX);
                parse_stats(nlh, NULL);
                free(nlh);

                off += MIN((size_t)NLMSG_ALIGN(hdr.nlmsg_len), size - off);
        }
        return 0;
}

/* SPDX-License-Identifier: MIT */
/* The pure rtnetlink parsers (rtnl.h, "Pure parsers over untrusted bytes"):
 * link messages from the dump and the monitor, in, plain structs out. No
 * socket, no state: tests/fuzz/fuzz-rtnl.c feeds them arbitrary bytes. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "rtnl.h"

static bool name_has_prefix(const char *name, const char *prefix)
{
        return !prefix || strncmp(name, prefix, strlen(prefix)) == 0;
}

/* ---- parsers ---- */

struct attr_table {
        const struct nlattr **tb;
        uint16_t max;
        const uint8_t *end; /* end of the last attribute seen */
};

static int attr_table_cb(const struct nlattr *attr, void *data)
{
        struct attr_table *t = data;
        uint16_t type = mnl_attr_get_type(attr);

        t->end = (const uint8_t *)attr + MNL_ALIGN(attr->nla_len);
        /* Unknown (newer) attributes are fine; a repeated one: the last
         * wins, as in the kernel's own parser. */
        if (type <= t->max)
                t->tb[type] = attr;
        return MNL_CB_OK;
}

/* mnl_attr_parse() silently stops at the first attribute that overruns the
 * message; here that makes the message malformed. */
static int parse_attrs(const struct nlmsghdr *nlh, size_t hdrlen, const struct nlattr **tb, uint16_t max)
{
        struct attr_table t = {tb, max, mnl_nlmsg_get_payload_offset(nlh, hdrlen)};

        memset(tb, 0, (max + 1) * sizeof(*tb));
        if (mnl_attr_parse(nlh, hdrlen, attr_table_cb, &t) < 0)
                return -EBADMSG;
        if (t.end < (const uint8_t *)mnl_nlmsg_get_payload_tail(nlh))
                return -EBADMSG;
        return 0;
}

static int parse_nested(const struct nlattr *nest, const struct nlattr **tb, uint16_t max)
{
        struct attr_table t = {tb, max, mnl_attr_get_payload(nest)};

        memset(tb, 0, (max + 1) * sizeof(*tb));
        if (mnl_attr_parse_nested(nest, attr_table_cb, &t) < 0)
                return -EBADMSG;
        if (t.end < (const uint8_t *)mnl_attr_get_payload(nest) + mnl_attr_get_payload_len(nest))
                return -EBADMSG;
        return 0;
}

/* The fixed part of a link message; NULL when it is cut short. */
static const struct ifinfomsg *link_header(const struct nlmsghdr *nlh)
{
        if (nlh->nlmsg_len % 4 != 0 ||
            nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct ifinfomsg)))
                return NULL;
        return mnl_nlmsg_get_payload(nlh);
}

/* A NUL-terminated string attribute of at most max bytes, NUL included. */
static const char *attr_string(const struct nlattr *attr, size_t max)
{
        if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0 || mnl_attr_get_payload_len(attr) > max)
                return NULL;
        return mnl_attr_get_str(attr);
}

static int attr_u8(const struct nlattr *attr, uint8_t *ret)
{
        if (!attr)
                return 0;
        if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0)
                return -EBADMSG;
        *ret = mnl_attr_get_u8(attr);
        return 1;
}

static int attr_u32(const struct nlattr *attr, uint32_t *ret)
{
        if (!attr)
                return 0;
        if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
                return -EBADMSG;
        *ret = mnl_attr_get_u32(attr);
        return 1;
}

/* IFLA_INFO_DATA of a tun device into info. 1 for a TAP, 0 for a TUN. */
static int parse_tun_data(const struct nlattr *data, struct rtnl_tap_info *info)
{
        const struct nlattr *tb[IFLA_TUN_MAX + 1];
        uint8_t type, pi = 0, vnet = 0, persist = 0, mq = 0;
        uint32_t owner = UINT32_MAX, queues = 0, disabled = 0;
        int r;

        if (parse_nested(data, tb, IFLA_TUN_MAX) < 0)
                return -EBADMSG;
        r = attr_u8(tb[IFLA_TUN_TYPE], &type);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        if (type != IFF_TAP)
                return 0;

        if (attr_u8(tb[IFLA_TUN_PI], &pi) < 0 || attr_u8(tb[IFLA_TUN_VNET_HDR], &vnet) < 0 ||
            attr_u8(tb[IFLA_TUN_PERSIST], &persist) < 0 || attr_u8(tb[IFLA_TUN_MULTI_QUEUE], &mq) < 0 ||
            attr_u32(tb[IFLA_TUN_OWNER], &owner) < 0 || attr_u32(tb[IFLA_TUN_NUM_QUEUES], &queues) < 0 ||
            attr_u32(tb[IFLA_TUN_NUM_DISABLED_QUEUES], &disabled) < 0)
                return -EBADMSG;

        /* The kernel leaves IFLA_TUN_OWNER out when no owner is set; -1
         * means the same. */
        info->has_owner = owner != UINT32_MAX;
        info->owner = info->has_owner ? (uid_t)owner : (uid_t)-1;
        info->vnet_header = vnet;
        info->persist = persist;
        info->multi_queue = mq;
        /* The queue counts come only with IFF_MULTI_QUEUE; a single-queue
         * TAP has its one queue whether or not an fd holds it. */
        info->queues = mq ? queues + disabled : 1;
        return 1;
}

/* What every link of ours carries: name (prefix*), kind and its data,
 * MTU, MAC, alias, ifindex, up. 1, or 0 for another name or a link
 * without a kind; -EBADMSG if malformed. */
static int parse_link_head(const struct nlmsghdr *nlh, const char *prefix, struct rtnl_tap_info *ret,
                           const char **ret_kind, const struct nlattr **ret_data)
{
        const struct nlattr *tb[IFLA_MAX + 1], *linkinfo[IFLA_INFO_MAX + 1];
        const struct ifinfomsg *ifi;
        struct rtnl_tap_info info = {};
        const char *s;
        uint32_t mtu = 0;

        if (!nlh || (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK))
                return -EBADMSG;
        ifi = link_header(nlh);
        if (!ifi || parse_attrs(nlh, sizeof(*ifi), tb, IFLA_MAX) < 0)
                return -EBADMSG;

        if (!tb[IFLA_IFNAME] || !(s = attr_string(tb[IFLA_IFNAME], IFNAMSIZ)))
                return -EBADMSG;
        if (!name_has_prefix(s, prefix))
                return 0;
        strcpy(info.ifname, s);

        if (!tb[IFLA_LINKINFO])
                return 0;
        if (parse_nested(tb[IFLA_LINKINFO], linkinfo, IFLA_INFO_MAX) < 0)
                return -EBADMSG;
        if (!linkinfo[IFLA_INFO_KIND] || !(*ret_kind = attr_string(linkinfo[IFLA_INFO_KIND], 64)))
                return linkinfo[IFLA_INFO_KIND] ? -EBADMSG : 0;
        *ret_data = linkinfo[IFLA_INFO_DATA];

        if (attr_u32(tb[IFLA_MTU], &mtu) < 0)
                return -EBADMSG;
        if (tb[IFLA_ADDRESS]) {
                if (mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) != sizeof(info.mac))
                        return -EBADMSG;
                memcpy(info.mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), sizeof(info.mac));
        }
        if (tb[IFLA_IFALIAS]) {
                s = attr_string(tb[IFLA_IFALIAS], sizeof(info.alias));
                if (!s)
                        return -EBADMSG;
                strcpy(info.alias, s);
        }

        info.ifindex = ifi->ifi_index;
        info.mtu = mtu;
        info.up = ifi->ifi_flags & IFF_UP;
        *ret = info;
        return 1;
}

/* parse_link_head() for a link of this kind only. */
static int parse_link_of_kind(const struct nlmsghdr *nlh, const char *prefix, const char *kind,
                              struct rtnl_tap_info *ret, const struct nlattr **ret_data)
{
        const char *k = NULL;
        int r = parse_link_head(nlh, prefix, ret, &k, ret_data);

        return r <= 0 ? r : strcmp(k, kind) == 0;
}

int rtnl_parse_link(const struct nlmsghdr *nlh, const char *prefix, struct rtnl_tap_info *ret)
{
        const struct nlattr *data = NULL;
        struct rtnl_tap_info info;
        int r = parse_link_of_kind(nlh, prefix, "tun", &info, &data);

        if (r <= 0 || !data)
                return r < 0 ? r : 0;
        r = parse_tun_data(data, &info);
        if (r <= 0)
                return r;
        *ret = info;
        return 1;
}

int rtnl_parse_veth(const struct nlmsghdr *nlh, const char *prefix, struct rtnl_tap_info *ret)
{
        const struct nlattr *data = NULL;
        struct rtnl_tap_info info;
        int r = parse_link_of_kind(nlh, prefix, "veth", &info, &data);

        if (r > 0)
                *ret = info;
        return r;
}

int rtnl_parse_dellink(const struct nlmsghdr *nlh, const char *prefix, struct rtnl_link_event *ret)
{
        const struct nlattr *tb[IFLA_MAX + 1];
        const struct ifinfomsg *ifi;
        const char *name;

        if (!nlh)
                return -EBADMSG;
        if (nlh->nlmsg_type != RTM_DELLINK)
                return 0;
        ifi = link_header(nlh);
        if (!ifi)
                return -EBADMSG;
        /* Unregistering a device and moving it to another namespace are the
         * two RTM_DELLINKs with ifi_change ~0U; the bridge's port
         * notifications are AF_BRIDGE. */
        if (ifi->ifi_family != AF_UNSPEC || ifi->ifi_change != ~0U)
                return 0;
        if (parse_attrs(nlh, sizeof(*ifi), tb, IFLA_MAX) < 0)
                return -EBADMSG;
        if (!tb[IFLA_IFNAME] || !(name = attr_string(tb[IFLA_IFNAME], IFNAMSIZ)))
                return -EBADMSG;
        if (!name_has_prefix(name, prefix))
                return 0;

        ret->ifindex = ifi->ifi_index;
        strcpy(ret->ifname, name);
        return 1;
}

int rtnl_parse_link_stats(const struct nlmsghdr *nlh, const char *prefix, struct rtnl_traffic *ret)
{
        const struct nlattr *tb[IFLA_MAX + 1];
        const struct ifinfomsg *ifi;
        struct rtnl_link_stats64 kernel;
        const char *name;

        if (!nlh || nlh->nlmsg_type != RTM_NEWLINK)
                return -EBADMSG;
        ifi = link_header(nlh);
        if (!ifi || parse_attrs(nlh, sizeof(*ifi), tb, IFLA_MAX) < 0)
                return -EBADMSG;
        if (!tb[IFLA_IFNAME] || !(name = attr_string(tb[IFLA_IFNAME], IFNAMSIZ)))
                return -EBADMSG;
        if (!name_has_prefix(name, prefix) || !tb[IFLA_STATS64])
                return 0;
        /* Newer kernels append fields; the four we read come first. The
         * payload is only 4-aligned: copy it out. */
        size_t len = mnl_attr_get_payload_len(tb[IFLA_STATS64]);
        if (len < offsetof(struct rtnl_link_stats64, rx_errors))
                return -EBADMSG;
        memset(&kernel, 0, sizeof(kernel));
        memcpy(&kernel, mnl_attr_get_payload(tb[IFLA_STATS64]), MIN(len, sizeof(kernel)));

        *ret = (struct rtnl_traffic){
            .ifindex = ifi->ifi_index,
            .rx_packets = kernel.rx_packets,
            .rx_bytes = kernel.rx_bytes,
            .tx_packets = kernel.tx_packets,
            .tx_bytes = kernel.tx_bytes,
        };
        strcpy(ret->ifname, name);
        return 1;
}

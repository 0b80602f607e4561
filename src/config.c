/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-values.h"
#include "config.h"
#include "protocol.h"
#include "macro.h"
#include "publish.h"
#include "slot.h"

#define DEFAULT_GROUP "taplink"
#define NFT_TABLE_NAME_MAX 255 /* NFT_NAME_MAXLEN - 1 */
#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

/* allow_users and allow_groups share one list parser. */
_Static_assert(__builtin_types_compatible_p(uid_t, id_t), "uid_t is not id_t");
_Static_assert(__builtin_types_compatible_p(gid_t, id_t), "gid_t is not id_t");

enum key_id {
        KEY_SOCKET,
        KEY_IFNAME_PREFIX,
        KEY_MAX_SLOTS,
        KEY_NFT_TABLE,
        KEY_FORWARD_IPV4,
        KEY_FORWARD_IPV6,
        KEY_IPV4_POOL,
        KEY_IPV4_PREFIX,
        KEY_IPV6,
        KEY_IPV6_POOL,
        KEY_IPV6_PREFIX,
        KEY_MTU,
        KEY_MASQUERADE,
        KEY_ISOLATE,
        KEY_ALLOW_USERS,
        KEY_ALLOW_GROUPS,
        KEY_MAX_SLOTS_PER_USER,
        KEY_GUEST_DHCP,
        KEY_GUEST_ROUTER_ADVERTISEMENTS,
        KEY_GUEST_DHCPV6,
        KEY_DHCP_LEASE_TIME,
        KEY_DNS_SERVERS,
        KEY_DNS_SEARCH,
        KEY_DEFAULT_EGRESS,
        KEY_PUBLISH_PORT_RANGE,
        KEY_MAX_PUBLISHED_PER_SLOT,
        KEY_CLONE_ENABLED,
        KEY_CLONE_TAP_NAME,
        KEY_CLONE_TAP_MAC,
        KEY_CLONE_GUEST,
        KEY_CLONE_GATEWAY,
        KEY_CLONE_PREFIX,
        KEY_CLONE_POOL,
        _KEY_MAX,
};

/* A key's parser stores value into c, or returns -EINVAL with *ret_msg
 * saying what is wrong with the value (the caller prefixes "path:line: key: "),
 * or -ENOMEM. */
typedef int (*key_parser)(struct config *c, const char *value, char **ret_msg);

struct key_def {
        const char *section;
        const char *name;
        key_parser parse;
        bool may_be_empty;
        bool continues; /* a list: indented lines continue it */
};

static const char *const sections[] = {"daemon", "network", "access", "guest", "policy", "clone"};

static int replace_string(char **dst, const char *value)
{
        char *s = strdup(value);

        if (!s)
                return -ENOMEM;
        free(*dst);
        *dst = s;
        return 0;
}

static int parse_socket(struct config *c, const char *value, char **ret_msg)
{
        int r = config_check_socket_path(value, ret_msg);

        if (r < 0)
                return r;
        return replace_string(&c->socket_path, value);
}

static int parse_ifname_prefix(struct config *c, const char *value, char **ret_msg)
{
        /* At least one digit must follow within IFNAMSIZ-1 bytes;
         * config_check() does the exact sum once the slot count is known. */
        if (strlen(value) > IFNAMSIZ - 2)
                return config_fail(ret_msg, "%s is too long (at most %d characters, a slot number follows)",
                                   value, IFNAMSIZ - 2);
        if (value[strspn(value, NAME_CHARS)] != '\0')
                return config_fail(
                    ret_msg, "%s is not a valid interface name prefix (letters, digits, '_', '.', '-')",
                    value);
        strcpy(c->ifname_prefix, value);
        return 0;
}

static int parse_max_slots(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_number(value, 1, CONFIG_MAX_SLOTS_LIMIT, &c->max_slots, ret_msg);
}

static int parse_nft_table(struct config *c, const char *value, char **ret_msg)
{
        /* nft's own identifier rule, minus '/' and '\' which would need
         * quoting in every rule that names the table. */
        if (!isalpha((unsigned char)value[0]) || value[strspn(value, NAME_CHARS)] != '\0')
                return config_fail(
                    ret_msg,
                    "%s is not a valid nftables table name (a letter, then letters, digits, '_', '.', '-')",
                    value);
        if (strlen(value) > NFT_TABLE_NAME_MAX)
                return config_fail(ret_msg, "%s is too long (at most %d characters)", value,
                                   NFT_TABLE_NAME_MAX);
        return replace_string(&c->nft_table, value);
}

static int parse_forward_ipv4(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_boolean(value, &c->forward_ipv4, ret_msg);
}

static int parse_forward_ipv6(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_boolean(value, &c->forward_ipv6, ret_msg);
}

static int parse_ipv4_pool(struct config *c, const char *value, char **ret_msg)
{
        /* Up to /31: the pool must hold at least one slot of at most /31. */
        return config_parse_network(value, AF_INET, 1, 31, &c->ipv4_pool, &c->ipv4_pool_prefix, ret_msg);
}

static int parse_ipv4_prefix(struct config *c, const char *value, char **ret_msg)
{
        if (strcmp(value, "32") == 0)
                return config_fail(ret_msg,
                                   "32 is out of range 1..31 (a /32 has no room for gateway and guest)");
        return config_parse_number(value, 1, 31, &c->ipv4_prefix, ret_msg);
}

static int parse_ipv6(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_boolean(value, &c->ipv6, ret_msg);
}

static int parse_ipv6_pool(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_network(value, AF_INET6, 1, 126, &c->ipv6_pool, &c->ipv6_pool_prefix, ret_msg);
}

static int parse_ipv6_prefix(struct config *c, const char *value, char **ret_msg)
{
        /* Up to /126: gateway ::1 and guest ::2 need two host bits. */
        return config_parse_number(value, 1, 126, &c->ipv6_prefix, ret_msg);
}

static int parse_mtu(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_number(value, TAPLINKD_MTU_MIN, TAPLINKD_MTU_MAX, &c->mtu, ret_msg);
}

static int parse_masquerade(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_boolean(value, &c->masquerade, ret_msg);
}

static int parse_allow_users(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_id_list(value, false, &c->allow_users, &c->n_allow_users, &c->allow_users_text,
                                    ret_msg);
}

static int parse_allow_groups(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_id_list(value, true, &c->allow_groups, &c->n_allow_groups, &c->allow_groups_text,
                                    ret_msg);
}

static int parse_max_slots_per_user(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_number(value, 0, CONFIG_MAX_SLOTS_LIMIT, &c->max_slots_per_user, ret_msg);
}

static int parse_guest_dhcp(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_boolean(value, &c->guest_dhcp, ret_msg);
}

/* Only meaningful with ipv6 = yes; not an error without, so that IPv6 can
 * be switched off with one key. */
static int parse_guest_router_advertisements(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_boolean(value, &c->guest_router_advertisements, ret_msg);
}

static int parse_guest_dhcpv6(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_boolean(value, &c->guest_dhcpv6, ret_msg);
}

static int parse_dhcp_lease_time(struct config *c, const char *value, char **ret_msg)
{
        /* A minute at least, so that renewals do not flood the event loop;
         * at most 2^31-1 s, which every DHCP client holds in a signed
         * 32-bit time, and below DHCPv6's "infinity" (0xffffffff). */
        return config_parse_number(value, CONFIG_DHCP_LEASE_TIME_MIN, CONFIG_DHCP_LEASE_TIME_MAX,
                                   &c->dhcp_lease_time, ret_msg);
}

static int parse_dns_servers(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_dns_servers(value, &c->dns_auto, &c->dns, ret_msg);
}

static int parse_dns_search(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_domain(value, c->dns.search, ret_msg);
}

static int parse_isolate(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_networks(value, c->isolate, &c->n_isolate, ret_msg);
}

static int parse_default_egress(struct config *c, const char *value, char **ret_msg)
{
        int m = taplinkd_egress_mode(value);
        if (m < 0)
                return config_fail(ret_msg, "%s is not an egress mode (none, host, public, internet)",
                                   value);
        c->default_egress = m;
        return 0;
}

static int parse_publish_port_range(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_range(value, 1, 65535, &c->publish_port_min, &c->publish_port_max, ret_msg);
}

static int parse_max_published_per_slot(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_number(value, 0, PUBLISH_PORTS_MAX, &c->max_published_per_slot, ret_msg);
}

static int parse_clone_enabled(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_boolean(value, &c->clone_enabled, ret_msg);
}

static int parse_clone_tap_name(struct config *c, const char *value, char **ret_msg)
{
        if (strlen(value) > IFNAMSIZ - 1 || value[strspn(value, NAME_CHARS)] != '\0' ||
            strcmp(value, ".") == 0 || strcmp(value, "..") == 0)
                return config_fail(
                    ret_msg, "%s is not a valid interface name (at most %d letters, digits, '_', '.', '-')",
                    value, IFNAMSIZ - 1);
        strcpy(c->clone_tap_name, value);
        return 0;
}

static int parse_clone_tap_mac(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_mac(value, c->clone_tap_mac, ret_msg);
}

static int parse_clone_guest(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_ipv4_address(value, &c->clone_guest, ret_msg);
}

static int parse_clone_gateway(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_ipv4_address(value, &c->clone_gateway, ret_msg);
}

static int parse_clone_prefix(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_number(value, 1, 30, &c->clone_prefix, ret_msg);
}

static int parse_clone_pool(struct config *c, const char *value, char **ret_msg)
{
        return config_parse_number(value, 0, CONFIG_CLONE_POOL_MAX, &c->clone_pool, ret_msg);
}

static const struct key_def keys[_KEY_MAX] = {
    [KEY_SOCKET] = {"daemon", "socket", parse_socket, false, false},
    [KEY_IFNAME_PREFIX] = {"daemon", "ifname_prefix", parse_ifname_prefix, false, false},
    [KEY_MAX_SLOTS] = {"daemon", "max_slots", parse_max_slots, false, false},
    [KEY_NFT_TABLE] = {"daemon", "nft_table", parse_nft_table, false, false},
    [KEY_FORWARD_IPV4] = {"daemon", "forward_ipv4", parse_forward_ipv4, false, false},
    [KEY_FORWARD_IPV6] = {"daemon", "forward_ipv6", parse_forward_ipv6, false, false},
    [KEY_IPV4_POOL] = {"network", "ipv4_pool", parse_ipv4_pool, false, false},
    [KEY_IPV4_PREFIX] = {"network", "ipv4_prefix", parse_ipv4_prefix, false, false},
    [KEY_IPV6] = {"network", "ipv6", parse_ipv6, false, false},
    [KEY_IPV6_POOL] = {"network", "ipv6_pool", parse_ipv6_pool, false, false},
    [KEY_IPV6_PREFIX] = {"network", "ipv6_prefix", parse_ipv6_prefix, false, false},
    [KEY_MTU] = {"network", "mtu", parse_mtu, false, false},
    [KEY_MASQUERADE] = {"network", "masquerade", parse_masquerade, false, false},
    [KEY_ISOLATE] = {"network", "isolate", parse_isolate, true, true},
    [KEY_ALLOW_USERS] = {"access", "allow_users", parse_allow_users, true, true},
    [KEY_ALLOW_GROUPS] = {"access", "allow_groups", parse_allow_groups, true, true},
    [KEY_MAX_SLOTS_PER_USER] = {"access", "max_slots_per_user", parse_max_slots_per_user, false, false},
    [KEY_GUEST_DHCP] = {"guest", "dhcp", parse_guest_dhcp, false, false},
    [KEY_GUEST_ROUTER_ADVERTISEMENTS] = {"guest", "router_advertisements", parse_guest_router_advertisements,
                                         false, false},
    [KEY_GUEST_DHCPV6] = {"guest", "dhcpv6", parse_guest_dhcpv6, false, false},
    [KEY_DHCP_LEASE_TIME] = {"guest", "dhcp_lease_time", parse_dhcp_lease_time, false, false},
    [KEY_DNS_SERVERS] = {"guest", "dns_servers", parse_dns_servers, false, true},
    [KEY_DNS_SEARCH] = {"guest", "dns_search", parse_dns_search, true, false},
    [KEY_DEFAULT_EGRESS] = {"policy", "default_egress", parse_default_egress, false, false},
    [KEY_PUBLISH_PORT_RANGE] = {"policy", "publish_port_range", parse_publish_port_range, false, false},
    [KEY_MAX_PUBLISHED_PER_SLOT] = {"policy", "max_published_per_slot", parse_max_published_per_slot, false,
                                    false},
    [KEY_CLONE_ENABLED] = {"clone", "enabled", parse_clone_enabled, false, false},
    [KEY_CLONE_TAP_NAME] = {"clone", "tap_name", parse_clone_tap_name, false, false},
    [KEY_CLONE_TAP_MAC] = {"clone", "tap_mac", parse_clone_tap_mac, false, false},
    [KEY_CLONE_GUEST] = {"clone", "guest", parse_clone_guest, false, false},
    [KEY_CLONE_GATEWAY] = {"clone", "gateway", parse_clone_gateway, false, false},
    [KEY_CLONE_PREFIX] = {"clone", "prefix", parse_clone_prefix, false, false},
    [KEY_CLONE_POOL] = {"clone", "pool", parse_clone_pool, false, false},
};

static bool known_section(const char *name, size_t len)
{
        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                if (strlen(sections[i]) == len && strncmp(sections[i], name, len) == 0)
                        return true;
        return false;
}

static int find_key(const char *section, const char *name)
{
        for (int i = 0; i < _KEY_MAX; i++)
                if ((!section || strcmp(keys[i].section, section) == 0) && strcmp(keys[i].name, name) == 0)
                        return i;
        return -1;
}

/* [clone]: its network, and the pool (which needs clone slots on, and
 * names its veths <prefix>p<k> until they have a slot). */
static int check_clone(const struct config *c, const enum key_id **ret_keys, size_t *ret_n_keys,
                       char **ret_msg)
{
        static const enum key_id clone_keys[] = {KEY_CLONE_GUEST, KEY_CLONE_GATEWAY, KEY_CLONE_PREFIX};
        static const enum key_id pool_keys[] = {KEY_CLONE_POOL, KEY_CLONE_ENABLED};
        static const enum key_id pool_name_keys[] = {KEY_CLONE_POOL, KEY_IFNAME_PREFIX};
        _cleanup_free_ char *msg = NULL;
        int r;

        r = config_check_clone_net(c->clone_guest, c->clone_gateway, c->clone_prefix, &msg);
        if (r == -EINVAL) {
                *ret_keys = clone_keys;
                *ret_n_keys = ELEMENTSOF(clone_keys);
                return config_fail(ret_msg, "[clone]: %s", msg);
        }
        if (r < 0 || c->clone_pool == 0)
                return r;
        if (!c->clone_enabled) {
                *ret_keys = pool_keys;
                *ret_n_keys = ELEMENTSOF(pool_keys);
                return config_fail(ret_msg, "[clone] pool = %u needs [clone] enabled = yes", c->clone_pool);
        }
        r = config_check_clone_pool_names(c->ifname_prefix, c->clone_pool, &msg);
        if (r == -EINVAL) {
                *ret_keys = pool_name_keys;
                *ret_n_keys = ELEMENTSOF(pool_name_keys);
                return config_fail(ret_msg, "[clone] %s", msg);
        }
        return r;
}

/* Checks what no single line carries. On failure *ret_keys lists the keys
 * involved, most telling first, so that config_load() can point at a line. */
static int config_check(const struct config *c, const enum key_id **ret_keys, size_t *ret_n_keys,
                        char **ret_msg)
{
        static const enum key_id socket_keys[] = {KEY_SOCKET};
        static const enum key_id max_slots_keys[] = {KEY_MAX_SLOTS};
        static const enum key_id ipv4_keys[] = {KEY_IPV4_PREFIX, KEY_IPV4_POOL};
        static const enum key_id ipv6_keys[] = {KEY_IPV6_PREFIX, KEY_IPV6_POOL};
        static const enum key_id mtu_keys[] = {KEY_MTU, KEY_IPV6};
        static const enum key_id ifname_keys[] = {
            KEY_IFNAME_PREFIX, KEY_MAX_SLOTS, KEY_IPV4_PREFIX, KEY_IPV4_POOL,
            KEY_IPV6_PREFIX,   KEY_IPV6_POOL, KEY_IPV6,
        };
        char pool[INET6_ADDRSTRLEN], name[32];
        _cleanup_free_ char *msg = NULL;
        unsigned n;
        int r;

        r = config_check_socket_path(c->socket_path ? c->socket_path : "", &msg);
        if (r == -EINVAL) {
                *ret_keys = socket_keys;
                *ret_n_keys = ELEMENTSOF(socket_keys);
                return config_fail(ret_msg, "socket: %s", msg);
        }
        if (r < 0)
                return r;

        if (c->ipv4_prefix < c->ipv4_pool_prefix) {
                inet_ntop(AF_INET, &c->ipv4_pool, pool, sizeof(pool));
                *ret_keys = ipv4_keys;
                *ret_n_keys = ELEMENTSOF(ipv4_keys);
                return config_fail(ret_msg,
                                   "ipv4_prefix: %u is shorter than the prefix of ipv4_pool %s/%u "
                                   "(a slot's subnet must fit in the pool: %u..31)",
                                   c->ipv4_prefix, pool, c->ipv4_pool_prefix, c->ipv4_pool_prefix);
        }
        if (c->ipv6_prefix < c->ipv6_pool_prefix) {
                inet_ntop(AF_INET6, &c->ipv6_pool, pool, sizeof(pool));
                *ret_keys = ipv6_keys;
                *ret_n_keys = ELEMENTSOF(ipv6_keys);
                return config_fail(ret_msg,
                                   "ipv6_prefix: %u is shorter than the prefix of ipv6_pool %s/%u "
                                   "(a slot's subnet must fit in the pool: %u..126)",
                                   c->ipv6_prefix, pool, c->ipv6_pool_prefix, c->ipv6_pool_prefix);
        }

        if (c->ipv6 && c->mtu < TAPLINKD_IPV6_MTU_MIN) {
                *ret_keys = mtu_keys;
                *ret_n_keys = ELEMENTSOF(mtu_keys);
                return config_fail(ret_msg,
                                   "mtu: %u is below %u, the smallest link MTU IPv6 works on "
                                   "(set ipv6 = no for a smaller one)",
                                   c->mtu, TAPLINKD_IPV6_MTU_MIN);
        }

        r = check_clone(c, ret_keys, ret_n_keys, ret_msg);
        if (r < 0)
                return r;

        n = slot_capacity(c);
        if (n == 0) {
                *ret_keys = max_slots_keys;
                *ret_n_keys = ELEMENTSOF(max_slots_keys);
                return config_fail(ret_msg, "max_slots: 0 leaves no slot");
        }
        r = snprintf(name, sizeof(name), "%s%u", c->ifname_prefix, n - 1);
        if (r > IFNAMSIZ - 1) {
                *ret_keys = ifname_keys;
                *ret_n_keys = ELEMENTSOF(ifname_keys);
                return config_fail(ret_msg,
                                   "ifname_prefix: %s is too long for %u slots: %s is %d bytes, "
                                   "an interface name has at most %d",
                                   c->ifname_prefix, n, name, r, IFNAMSIZ - 1);
        }

        return 0;
}

int config_finish(struct config *c, char **ret_error)
{
        const enum key_id *involved;
        size_t n_involved;
        char *msg = NULL;
        int r;

        r = config_check(c, &involved, &n_involved, &msg);
        if (r < 0) {
                if (ret_error)
                        *ret_error = msg;
                else
                        free(msg);
                return r;
        }
        c->effective_max_slots = slot_capacity(c);
        return 0;
}

static int config_copy(const struct config *src, struct config *ret)
{
        struct config c = *src;

        c.socket_path = c.nft_table = c.allow_users_text = c.allow_groups_text = NULL;
        c.allow_users = NULL;
        c.allow_groups = NULL;

        if (src->socket_path && !(c.socket_path = strdup(src->socket_path)))
                goto oom;
        if (src->nft_table && !(c.nft_table = strdup(src->nft_table)))
                goto oom;
        if (src->allow_users_text && !(c.allow_users_text = strdup(src->allow_users_text)))
                goto oom;
        if (src->allow_groups_text && !(c.allow_groups_text = strdup(src->allow_groups_text)))
                goto oom;
        if (src->n_allow_users > 0) {
                c.allow_users = reallocarray(NULL, src->n_allow_users, sizeof(uid_t));
                if (!c.allow_users)
                        goto oom;
                memcpy(c.allow_users, src->allow_users, src->n_allow_users * sizeof(uid_t));
        }
        if (src->n_allow_groups > 0) {
                c.allow_groups = reallocarray(NULL, src->n_allow_groups, sizeof(gid_t));
                if (!c.allow_groups)
                        goto oom;
                memcpy(c.allow_groups, src->allow_groups, src->n_allow_groups * sizeof(gid_t));
        }

        *ret = c;
        return 0;
oom:
        config_done(&c);
        return -ENOMEM;
}

int config_init(struct config *c, char **ret_warning)
{
        _cleanup_free_ char *warning = NULL;
        struct config d = {
            .ifname_prefix = "tl",
            .max_slots = 65536,
            .forward_ipv4 = true,
            .forward_ipv6 = false,
            .ipv4_pool.s_addr = htonl(0x0ad50000), /* 10.213.0.0 */
            .ipv4_pool_prefix = 16,
            .ipv4_prefix = 30,
            .ipv6 = true,
            .ipv6_pool.s6_addr = {0xfd, 0x74, 0x6c, 0x00},
            .ipv6_pool_prefix = 48,
            .ipv6_prefix = 64,
            .mtu = 1500,
            .masquerade = true,
            .default_egress = TAPLINKD_EGRESS_MODE_COUNT - 1, /* internet */
            .publish_port_min = CONFIG_PUBLISH_PORT_MIN,
            .publish_port_max = CONFIG_PUBLISH_PORT_MAX,
            .max_published_per_slot = 16,
            .max_slots_per_user = 64,
            .guest_dhcp = true,
            .guest_router_advertisements = true,
            .guest_dhcpv6 = true,
            .dhcp_lease_time = 86400,
            .dns_auto = true,
            .clone_tap_name = "tap0",
            .clone_tap_mac = {0x06, 0x74, 0x6c, 0xff, 0xff, 0xfe},
            .clone_guest.s_addr = htonl(0xa9fe0015),   /* 169.254.0.21 */
            .clone_gateway.s_addr = htonl(0xa9fe0016), /* 169.254.0.22 */
            .clone_prefix = 30,
        };
        id_t gid;
        int r;

        d.socket_path = strdup(CONFIG_DEFAULT_SOCKET);
        d.nft_table = strdup("taplinkd");
        d.allow_users_text = strdup("");
        if (!d.socket_path || !d.nft_table || !d.allow_users_text)
                goto oom;

        /* A fresh machine has no taplink group yet (sysusers creates it on
         * install): start anyway, root-only, rather than refuse to run. */
        r = config_lookup_id(DEFAULT_GROUP, true, &gid);
        if (r == -ENOMEM)
                goto oom;
        if (r >= 0) {
                d.allow_groups = malloc(sizeof(gid_t));
                d.allow_groups_text = strdup(DEFAULT_GROUP);
                if (!d.allow_groups || !d.allow_groups_text)
                        goto oom;
                d.allow_groups[0] = gid;
                d.n_allow_groups = 1;
        } else {
                d.allow_groups_text = strdup("");
                if (!d.allow_groups_text)
                        goto oom;
                if (r == -ENOENT)
                        r = asprintf(&warning, "allow_groups: group " DEFAULT_GROUP " does not exist, "
                                               "only root and allow_users may use taplinkd");
                else
                        r = asprintf(&warning,
                                     "allow_groups: cannot look up group " DEFAULT_GROUP
                                     " (%s), only root and allow_users may use taplinkd",
                                     strerror(-r));
                if (r < 0) {
                        warning = NULL;
                        goto oom;
                }
        }

        d.effective_max_slots = slot_capacity(&d);
        *c = d;
        if (ret_warning)
                *ret_warning = TAKE_PTR(warning);
        return 0;
oom:
        config_done(&d);
        return -ENOMEM;
}

/* State shared by the inih reader and handler. The reader hands inih one
 * whole line per call, so both count lines alike, and it remembers what the
 * handler cannot learn from inih: the line number and whether the line is
 * indented (an inih continuation line). */
struct parse_ctx {
        struct config *config;
        const char *path;
        FILE *f;
        char *line;
        size_t line_size;
        unsigned lineno;
        bool indented;
        bool key_in_section; /* inih continues a key only after one */
        unsigned key_line[_KEY_MAX];
        char *list_text[_KEY_MAX]; /* a continuing key's value so far */
        int read_error;
        int error_r;
        unsigned error_line;
        char *error; /* the first error, "path:line: message" */
};

static int _printf_(3, 4) ctx_fail(struct parse_ctx *ctx, int r, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        if (ctx->error_r < 0)
                return 0;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0 || asprintf(&ctx->error, "%s:%u: %s", ctx->path, ctx->lineno, msg) < 0) {
                ctx->error = NULL;
                ctx->error_r = -ENOMEM;
                return 0;
        }
        ctx->error_r = r;
        ctx->error_line = ctx->lineno;
        return 0;
}

static void note_line(struct parse_ctx *ctx)
{
        const char *p = ctx->line;
        const char *end;

        if (ctx->lineno == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
                p += 3;
        ctx->indented = isspace((unsigned char)*p);
        while (isspace((unsigned char)*p))
                p++;
        /* inih reads an indented line after a key as more of its value,
         * even one that looks like a header. */
        if (*p != '[' || (ctx->indented && ctx->key_in_section))
                return;

        /* A section header: inih only tells the handler about sections
         * that hold keys, but an empty unknown section is a typo too. */
        ctx->key_in_section = false;
        end = strchr(p, ']');
        if (end && !known_section(p + 1, (size_t)(end - p - 1)))
                ctx_fail(ctx, -EINVAL, "unknown section [%.*s]", (int)(end - p - 1), p + 1);
}

static char *config_reader(char *str, int num, void *stream)
{
        struct parse_ctx *ctx = stream;
        ssize_t n;

        if (ctx->error_r < 0 || ctx->read_error < 0)
                return NULL;

        errno = 0;
        n = getline(&ctx->line, &ctx->line_size, ctx->f);
        if (n < 0) {
                if (ferror(ctx->f))
                        ctx->read_error = negative_errno();
                return NULL;
        }
        ctx->lineno++;
        if (n > 0 && ctx->line[n - 1] == '\n')
                ctx->line[--n] = '\0';

        if (strlen(ctx->line) != (size_t)n) {
                ctx_fail(ctx, -EINVAL, "line contains a NUL byte");
                return NULL;
        }
        /* inih would split a longer line and parse the rest as a line of
         * its own. */
        if (n >= num) {
                ctx_fail(ctx, -EINVAL, "line is too long (at most %d bytes)", num - 1);
                return NULL;
        }

        note_line(ctx);
        if (ctx->error_r < 0)
                return NULL;
        memcpy(str, ctx->line, (size_t)n + 1);
        return str;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
        struct parse_ctx *ctx = user;
        _cleanup_free_ char *joined = NULL, *msg = NULL;
        int id, r;

        if (ctx->error_r < 0)
                return 0;

        if (section[0] == '\0')
                return ctx_fail(
                    ctx, -EINVAL,
                    "%s: key outside of any section ([daemon], [network], [access], [guest], [policy])",
                    name);
        if (!known_section(section, strlen(section)))
                return ctx_fail(ctx, -EINVAL, "unknown section [%s]", section);

        id = find_key(section, name);
        if (id < 0) {
                int other = find_key(NULL, name);

                if (other >= 0)
                        return ctx_fail(ctx, -EINVAL, "unknown key %s in [%s] (it belongs in [%s])", name,
                                        section, keys[other].section);
                return ctx_fail(ctx, -EINVAL, "unknown key %s in [%s]", name, section);
        }

        if (ctx->indented && ctx->key_in_section) {
                /* inih hands an indented line on as more of the previous
                 * key's value. Lists may grow that way; anything else would
                 * silently lose the line's meaning. */
                if (!keys[id].continues)
                        return ctx_fail(
                            ctx, -EINVAL,
                            "%s: indented line continues the value of %s "
                            "(only allow_users, allow_groups and dns_servers continue over lines)",
                            name, name);
                if (asprintf(&joined, "%s, %s", ctx->list_text[id], value) < 0) {
                        joined = NULL;
                        return ctx_fail(ctx, -ENOMEM, "out of memory");
                }
                value = joined;
        } else if (ctx->key_line[id] > 0) {
                return ctx_fail(ctx, -EINVAL, "duplicate key %s (already set at line %u)", name,
                                ctx->key_line[id]);
        } else if (value[0] == '\0' && !keys[id].may_be_empty) {
                return ctx_fail(ctx, -EINVAL, "%s: missing value", name);
        }

        r = keys[id].parse(ctx->config, value, &msg);
        if (r < 0)
                return ctx_fail(ctx, r, "%s: %s", name, msg ? msg : "out of memory");

        if (keys[id].continues) {
                char *text = strdup(value);

                if (!text)
                        return ctx_fail(ctx, -ENOMEM, "out of memory");
                free(ctx->list_text[id]);
                ctx->list_text[id] = text;
        }
        if (ctx->key_line[id] == 0)
                ctx->key_line[id] = ctx->lineno;
        ctx->key_in_section = true;
        return 1;
}

/* Runs inih over ctx->f into ctx->config. Returns 0, or -errno with
 * ctx->error set (NULL only when out of memory). */
static int parse_file(struct parse_ctx *ctx)
{
        int r = ini_parse_stream(config_reader, ctx, config_handler, ctx);

        if (r > 0 && (ctx->error_r == 0 || (unsigned)r < ctx->error_line)) {
                /* inih's own complaint, about a line the handler never saw. */
                free(ctx->error);
                if (asprintf(&ctx->error,
                             "%s:%d: syntax error (expected [section], key = value or a comment)", ctx->path,
                             r) < 0) {
                        ctx->error = NULL;
                        return -ENOMEM;
                }
                return -EINVAL;
        }
        if (ctx->error_r < 0)
                return ctx->error_r;
        if (ctx->read_error < 0) {
                if (asprintf(&ctx->error, "%s: %s", ctx->path, strerror(-ctx->read_error)) < 0)
                        ctx->error = NULL;
                return ctx->read_error;
        }
        if (r < 0) /* -2: inih could not allocate its line buffer */
                return -ENOMEM;
        return 0;
}

/* "path:line: msg" at the first of the involved keys that the file set, or
 * "path: msg" when the conflict comes from defaults alone. */
static char *locate_error(const char *path, const unsigned key_line[], const enum key_id *involved,
                          size_t n_involved, const char *msg)
{
        unsigned line = 0;
        char *s;
        int r;

        for (size_t i = 0; i < n_involved && line == 0; i++)
                line = key_line[involved[i]];
        if (line > 0)
                r = asprintf(&s, "%s:%u: %s", path, line, msg);
        else
                r = asprintf(&s, "%s: %s", path, msg);
        return r < 0 ? NULL : s;
}

int config_load(struct config *c, const char *path, char **ret_error)
{
        _cleanup_(config_done) struct config work = {};
        _cleanup_free_ char *error = NULL, *msg = NULL;
        struct parse_ctx ctx = {
            .config = &work,
            .path = path,
        };
        const enum key_id *involved = NULL;
        size_t n_involved = 0;
        int r;

        ctx.f = fopen(path, "re");
        if (!ctx.f) {
                r = negative_errno();
                if (ret_error && asprintf(ret_error, "%s: %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }

        /* Work on a copy, so that a bad file leaves c as it was. */
        r = config_copy(c, &work);
        if (r >= 0) {
                r = parse_file(&ctx);
                error = TAKE_PTR(ctx.error);
        }
        fclose(ctx.f);
        free(ctx.line);
        for (size_t i = 0; i < _KEY_MAX; i++)
                free(ctx.list_text[i]);

        if (r >= 0) {
                r = config_check(&work, &involved, &n_involved, &msg);
                if (r < 0 && msg)
                        error = locate_error(path, ctx.key_line, involved, n_involved, msg);
        }
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                return r;
        }

        work.effective_max_slots = slot_capacity(&work);
        config_done(c);
        *c = work;
        work = (struct config){};
        return 0;
}

size_t config_isolate(const struct config *c, struct config_network ret[static CONFIG_ISOLATE_MAX])
{
        if (c->n_isolate > 0) {
                memcpy(ret, c->isolate, c->n_isolate * sizeof(*ret));
                return c->n_isolate;
        }
        ret[0] = (struct config_network){
            .family = AF_INET, .addr.v4 = c->ipv4_pool, .prefix_len = c->ipv4_pool_prefix};
        ret[1] = (struct config_network){
            .family = AF_INET6, .addr.v6 = c->ipv6_pool, .prefix_len = c->ipv6_pool_prefix};
        return 2;
}

void config_done(struct config *c)
{
        free(c->socket_path);
        free(c->nft_table);
        free(c->allow_users);
        free(c->allow_groups);
        free(c->allow_users_text);
        free(c->allow_groups_text);
        *c = (struct config){};
}

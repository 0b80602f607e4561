/* SPDX-License-Identifier: MIT */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "packet.h"
#include "protocol.h"

/* /etc/taplinkd/taplinkd.conf, described in taplinkd.conf(5). Every key has
 * a built-in default; config_init() fills them in, config_load() overlays a
 * file. */

#define CONFIG_DEFAULT_PATH "/etc/taplinkd/taplinkd.conf"
#define CONFIG_DEFAULT_SOCKET "/run/taplinkd/io.taplinkd"
#define CONFIG_MAX_SLOTS_LIMIT (1u << 20)      /* upper bound for max_slots */
#define CONFIG_CLONE_POOL_MAX 1024             /* upper bound for [clone] pool */
#define CONFIG_DHCP_LEASE_TIME_MIN 60u         /* bounds of dhcp_lease_time, seconds */
#define CONFIG_DHCP_LEASE_TIME_MAX 2147483647u /* 2^31-1 */
#define CONFIG_PUBLISH_PORT_MIN 20000u         /* the default publish_port_range */
#define CONFIG_PUBLISH_PORT_MAX 29999u
/* Older names of protocol.h's bounds (manager.c and tests still use them). */
#define CONFIG_LABEL_MAX TAPLINKD_LABEL_MAX
#define CONFIG_IPV6_MIN_MTU TAPLINKD_IPV6_MTU_MIN

/* One network of [network] isolate. */
#define CONFIG_ISOLATE_MAX 32
struct config_network {
        int family; /* AF_INET or AF_INET6 */
        union {
                struct in_addr v4;
                struct in6_addr v6;
        } addr;
        unsigned prefix_len;
};

struct config {
        /* [daemon] */
        char *socket_path;
        char ifname_prefix[IFNAMSIZ];
        unsigned max_slots; /* as configured; see effective_max_slots */
        char *nft_table;
        bool forward_ipv4;
        bool forward_ipv6;

        /* [network] */
        struct in_addr ipv4_pool;  /* network address, network byte order */
        unsigned ipv4_pool_prefix; /* e.g. 16 */
        unsigned ipv4_prefix;      /* per-slot prefix, 1..31 */
        bool ipv6;
        struct in6_addr ipv6_pool;
        unsigned ipv6_pool_prefix; /* e.g. 48 */
        unsigned ipv6_prefix;      /* per-slot prefix, e.g. 64 */
        unsigned mtu;
        bool masquerade;
        /* isolate: destinations no guest may reach, like other slots
         * (docs/taplinkd.conf.5). Empty: the pools themselves; see
         * config_isolate(). */
        struct config_network isolate[CONFIG_ISOLATE_MAX];
        size_t n_isolate;

        /* [policy] */
        int default_egress; /* enum egress_mode */
        /* publish_port_range: the host ports a non-root client may publish
         * (docs/DESIGN.md, "Published ports"); root may publish any. */
        unsigned publish_port_min, publish_port_max; /* 1 <= min <= max <= 65535 */
        unsigned max_published_per_slot;             /* 0..PUBLISH_PORTS_MAX */

        /* [clone]: clone slots, each in a network namespace of its own
         * (docs/DESIGN.md, "Clone slots"). */
        bool clone_enabled;
        char clone_tap_name[IFNAMSIZ];
        uint8_t clone_tap_mac[6];
        struct in_addr clone_guest;   /* network byte order */
        struct in_addr clone_gateway; /* network byte order */
        unsigned clone_prefix;        /* 1..30 */
        unsigned clone_pool;          /* 0: no namespaces made ahead */

        /* [access] */
        uid_t *allow_users;
        size_t n_allow_users;
        gid_t *allow_groups;
        size_t n_allow_groups;
        unsigned max_slots_per_user; /* non-root; 0: no slots for non-root at all */

        /* [guest]: what taplinkd answers on every slot's TAP (docs/DESIGN.md,
         * "Guest services"). */
        bool guest_dhcp;                  /* dhcp */
        bool guest_router_advertisements; /* router_advertisements (IPv6 on only) */
        bool guest_dhcpv6;                /* dhcpv6 (IPv6 on only) */
        unsigned dhcp_lease_time;         /* seconds, also the DHCPv6 lifetimes */
        bool dns_auto;                    /* dns_servers = auto: the host's resolvers */
        struct guest_dns dns;             /* dns_servers otherwise ("none": empty), and dns_search */

        /* The textual forms, kept for printing the effective config. */
        char *allow_users_text;
        char *allow_groups_text;

        /* Derived: the smallest of max_slots and the pools' capacities
         * (docs/DESIGN.md, "Slots and addresses"). Always valid after
         * config_init()/config_load(). */
        unsigned effective_max_slots;
};

/* The networks guests may not reach: isolate as configured, else
 * ipv4_pool and ipv6_pool. Returns how many (at most CONFIG_ISOLATE_MAX). */
size_t config_isolate(const struct config *c, struct config_network ret[static CONFIG_ISOLATE_MAX]);

/* Fills in every built-in default. The default group "taplink" is resolved
 * if it exists; if it does not, allow_groups is empty and a warning is
 * returned in *ret_warning (malloc'd, may be NULL). Returns 0 or -ENOMEM
 * (then c is untouched). */
int config_init(struct config *c, char **ret_warning);

/* Reads path over the defaults in c. On a bad file returns a negative errno
 * and sets *ret_error to a malloc'd "path:line: message" (or "path: message"
 * when the file cannot be read). -ENOENT when the file does not exist, with
 * *ret_error set as well; callers decide whether a missing file is fine.
 * On any failure c keeps its previous values. Indented lines continue the
 * value of allow_users/allow_groups (inih continuation lines); anywhere else
 * they are an error. */
int config_load(struct config *c, const char *path, char **ret_error);

/* Recomputes effective_max_slots and checks cross-key constraints that no
 * single line carries (e.g. a name prefix too long for the slot count).
 * Returns 0 or -EINVAL with *ret_error set. Called by config_load() and after
 * command-line overrides. */
int config_finish(struct config *c, char **ret_error);

/* Prints the effective configuration as a valid config file. */
void config_print(const struct config *c, FILE *f);

void config_done(struct config *c);

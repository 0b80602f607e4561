/* SPDX-License-Identifier: MIT */
/* config_print(): the configuration in effect, as a config file
 * (taplinkd --check-config), every key with its value. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "protocol.h"

static const char *yes_no(bool b)
{
        return b ? "yes" : "no";
}

/* inih reads at most 199 bytes a line: a long list goes on indented
 * continuation lines, which config_load() joins back into the same list. */
#define PRINT_LIST_WIDTH 72

static void print_list(FILE *f, const char *name, const char *text)
{
        const char *p = text ? text : "";
        int col = fprintf(f, "%s =", name);

        while (*p) {
                size_t len = strcspn(p, ", ");
                const char *next = p + len + strspn(p + len, ", ");

                if (col > 2 && (size_t)col + len + 2 > PRINT_LIST_WIDTH) {
                        fputs("\n ", f);
                        col = 1;
                }
                col += fprintf(f, " %.*s%s", (int)len, p, *next ? "," : "");
                p = next;
        }
        fputc('\n', f);
}

static void print_dns_servers(FILE *f, const struct config *c)
{
        char text[2 * GUEST_DNS_MAX * (INET6_ADDRSTRLEN + 2)] = "";
        size_t len = 0;

        if (c->dns_auto || c->dns.n_v4 + c->dns.n_v6 == 0) {
                fprintf(f, "dns_servers = %s\n", c->dns_auto ? "auto" : "none");
                return;
        }
        for (size_t i = 0; i < c->dns.n_v4 + c->dns.n_v6; i++) {
                if (i > 0)
                        len += (size_t)sprintf(text + len, ", ");
                if (i < c->dns.n_v4)
                        inet_ntop(AF_INET, &c->dns.v4[i], text + len, INET_ADDRSTRLEN);
                else
                        inet_ntop(AF_INET6, &c->dns.v6[i - c->dns.n_v4], text + len, INET6_ADDRSTRLEN);
                len += strlen(text + len);
        }
        print_list(f, "dns_servers", text);
}

static void print_isolate(FILE *f, const struct config *c)
{
        char text[INET6_ADDRSTRLEN];

        if (c->n_isolate == 0) {
                fprintf(f, "# isolate: the pools\nisolate =\n");
                return;
        }
        fprintf(f, "isolate =");
        for (size_t i = 0; i < c->n_isolate; i++) {
                inet_ntop(c->isolate[i].family, &c->isolate[i].addr, text, sizeof(text));
                fprintf(f, "%s %s/%u", i ? "," : "", text, c->isolate[i].prefix_len);
        }
        fprintf(f, "\n");
}

void config_print(const struct config *c, FILE *f)
{
        char v4[INET_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];

        inet_ntop(AF_INET, &c->ipv4_pool, v4, sizeof(v4));
        inet_ntop(AF_INET6, &c->ipv6_pool, v6, sizeof(v6));

        fprintf(f, "[daemon]\n");
        fprintf(f, "socket = %s\n", c->socket_path);
        fprintf(f, "ifname_prefix = %s\n", c->ifname_prefix);
        fprintf(f, "max_slots = %u\n", c->max_slots);
        fprintf(f, "# effective max_slots = %u (the smallest of max_slots and the pools' capacities)\n",
                c->effective_max_slots);
        fprintf(f, "nft_table = %s\n", c->nft_table);
        fprintf(f, "forward_ipv4 = %s\n", yes_no(c->forward_ipv4));
        fprintf(f, "forward_ipv6 = %s\n", yes_no(c->forward_ipv6));

        fprintf(f, "\n[network]\n");
        fprintf(f, "ipv4_pool = %s/%u\n", v4, c->ipv4_pool_prefix);
        fprintf(f, "ipv4_prefix = %u\n", c->ipv4_prefix);
        fprintf(f, "ipv6 = %s\n", yes_no(c->ipv6));
        fprintf(f, "ipv6_pool = %s/%u\n", v6, c->ipv6_pool_prefix);
        fprintf(f, "ipv6_prefix = %u\n", c->ipv6_prefix);
        fprintf(f, "mtu = %u\n", c->mtu);
        fprintf(f, "masquerade = %s\n", yes_no(c->masquerade));
        print_isolate(f, c);

        fprintf(f, "\n[access]\n");
        print_list(f, "allow_users", c->allow_users_text);
        print_list(f, "allow_groups", c->allow_groups_text);
        fprintf(f, "max_slots_per_user = %u\n", c->max_slots_per_user);

        fprintf(f, "\n[guest]\n");
        fprintf(f, "dhcp = %s\n", yes_no(c->guest_dhcp));
        if (!c->ipv6)
                fprintf(f, "# router_advertisements and dhcpv6 take effect only with ipv6 = yes\n");
        fprintf(f, "router_advertisements = %s\n", yes_no(c->guest_router_advertisements));
        fprintf(f, "dhcpv6 = %s\n", yes_no(c->guest_dhcpv6));
        fprintf(f, "dhcp_lease_time = %u\n", c->dhcp_lease_time);
        print_dns_servers(f, c);
        fprintf(f, "dns_search =%s%s\n", c->dns.search[0] ? " " : "", c->dns.search);

        static const char *const modes[] = {TAPLINKD_EGRESS_MODES};
        fprintf(f, "\n[policy]\n");
        fprintf(f, "default_egress = %s\n", modes[c->default_egress]);
        fprintf(f, "publish_port_range = %u-%u\n", c->publish_port_min, c->publish_port_max);
        fprintf(f, "max_published_per_slot = %u\n", c->max_published_per_slot);

        const uint8_t *mac = c->clone_tap_mac;
        fprintf(f, "\n[clone]\n");
        fprintf(f, "enabled = %s\n", yes_no(c->clone_enabled));
        fprintf(f, "tap_name = %s\n", c->clone_tap_name);
        fprintf(f, "tap_mac = %02x:%02x:%02x:%02x:%02x:%02x\n", mac[0], mac[1], mac[2], mac[3], mac[4],
                mac[5]);
        fprintf(f, "guest = %s\n", inet_ntop(AF_INET, &c->clone_guest, v4, sizeof(v4)));
        fprintf(f, "gateway = %s\n", inet_ntop(AF_INET, &c->clone_gateway, v4, sizeof(v4)));
        fprintf(f, "prefix = %u\n", c->clone_prefix);
        fprintf(f, "pool = %u\n", c->clone_pool);
}

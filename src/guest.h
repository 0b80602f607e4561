/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "manager.h"

/* Guest services (docs/DESIGN.md, "Guest services"): DHCPv4, Router
 * Advertisements and DHCPv6 answered for every live slot, by the daemon
 * itself, from two packet sockets for all slots (one per ethertype) with a
 * kernel filter that lets through only what is asked for. A slot's guest
 * is answered while the manager's record of it is live; a "live"
 * subscriber sends it an unsolicited Router Advertisement and starts its
 * rate limit afresh. */

struct guest;

/* Opens the sockets the configuration asks for (none when every service
 * is off) and subscribes to m. With dns_servers = auto, reads the host's
 * resolvers. */
int guest_new(sd_event *event, struct manager *m, struct guest **ret);
void guest_free(struct guest *g);

/* SIGHUP: reads the host's resolvers again (dns_servers = auto). */
void guest_reload_dns(struct guest *g);

/* Packets dropped by the per-slot rate limit since start. */
uint64_t guest_dropped(const struct guest *g);

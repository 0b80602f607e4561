/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "json-util.h"
#include "protocol.h"
#include "slot-json.h"
#include "slot.h"

/* A Net object; addresses of the given family (AF_INET or AF_INET6). */
static struct json_object *net_to_json(int family, const void *subnet, const void *gateway,
                                       const void *guest, unsigned prefix_len)
{
        const void *addrs[] = {subnet, gateway, guest};
        static const char *const keys[] = {"subnet", "gateway", "guest"};
        _cleanup_json_ struct json_object *o = json_object_new_object();
        char buf[INET6_ADDRSTRLEN];

        if (!o)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(addrs); i++) {
                inet_ntop(family, addrs[i], buf, sizeof(buf));
                if (json_add(o, keys[i], json_object_new_string(buf)) < 0)
                        return NULL;
        }
        if (json_add(o, "prefixLength", json_object_new_int((int)prefix_len)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static int add_nets(struct json_object *o, const struct config *c, unsigned slot, bool clone)
{
        struct slot_net4 n4;
        struct slot_net6 n6;

        slot_ipv4(c, slot, &n4);
        if (json_add(o, "ipv4", net_to_json(AF_INET, &n4.subnet, &n4.gateway, &n4.guest, n4.prefix_len)) < 0)
                return -ENOMEM;
        if (!slot_has_ipv6(c, clone))
                return json_object_object_add(o, "ipv6", NULL) < 0 ? -ENOMEM : 0;
        slot_ipv6(c, slot, &n6);
        return json_add(o, "ipv6", net_to_json(AF_INET6, &n6.subnet, &n6.gateway, &n6.guest, n6.prefix_len));
}

/* egress and allow; a slot adopted a moment ago and not yet reconciled
 * reports the default it is about to get. */
static int add_egress(struct json_object *o, const struct config *c, const struct egress_policy *p)
{
        static const struct egress_policy none = {0};
        enum egress_mode mode = p ? p->mode : (enum egress_mode)c->default_egress;

        if (json_add(o, "egress", json_object_new_string(egress_mode_to_string(mode))) < 0)
                return -ENOMEM;
        return json_add(o, "allow", egress_allow_to_json(p ? p : &none));
}

/* clone: the Clone object, or null for a plain slot. */
static int add_clone(struct json_object *o, const struct config *c, const char *ifname, bool clone)
{
        _cleanup_json_ struct json_object *cl = NULL;
        char netns[sizeof(SLOT_NETNS_DIR) + IFNAMSIZ], buf[INET_ADDRSTRLEN];

        if (!clone)
                return json_object_object_add(o, "clone", NULL) < 0 ? -ENOMEM : 0;
        snprintf(netns, sizeof(netns), SLOT_NETNS_DIR "/%s", ifname);
        cl = json_object_new_object();
        if (!cl || json_add(cl, "netns", json_object_new_string(netns)) < 0 ||
            json_add(cl, "tapName", json_object_new_string(c->clone_tap_name)) < 0 ||
            json_add(cl, "guest",
                     json_object_new_string(inet_ntop(AF_INET, &c->clone_guest, buf, sizeof(buf)))) < 0 ||
            json_add(cl, "gateway",
                     json_object_new_string(inet_ntop(AF_INET, &c->clone_gateway, buf, sizeof(buf)))) < 0 ||
            json_add(cl, "prefixLength", json_object_new_int((int)c->clone_prefix)) < 0)
                return -ENOMEM;
        return json_add(o, "clone", TAKE_PTR(cl));
}

struct json_object *slot_to_json(const struct config *c, const struct slot_rec *r)
{
        _cleanup_json_ struct json_object *o = json_object_new_object();
        char name[IFNAMSIZ], mac[18], ip_arg[128];
        uint8_t mac_bytes[6];

        if (!o)
                return NULL;
        if (slot_ifname(c, r->slot, name) < 0)
                strcpy(name, "?");
        slot_guest_mac(r->slot, mac_bytes);
        slot_format_mac(mac_bytes, mac);
        if ((r->clone ? slot_clone_ip_arg(c, ip_arg, sizeof(ip_arg))
                      : slot_kernel_ip_arg(c, r->slot, ip_arg, sizeof(ip_arg))) < 0)
                ip_arg[0] = '\0';

        if (json_add(o, "slot", json_object_new_int64(r->slot)) < 0 ||
            json_add(o, "ifname", json_object_new_string(name)) < 0 ||
            json_add(o, "label", json_object_new_string(r->label ? r->label : "")) < 0 ||
            json_add(o, "ownerUid", json_object_new_int64(r->owner)) < 0 ||
            json_add(o, "mac", json_object_new_string(mac)) < 0 ||
            json_add(o, "mtu", json_object_new_int((int)r->mtu)) < 0 ||
            json_add(o, "queues", json_object_new_int((int)r->queues)) < 0 ||
            json_add(o, "vnetHeader", json_object_new_boolean(r->vnet_header)) < 0 ||
            json_add(o, "persistent", json_object_new_boolean(r->persistent)) < 0 ||
            add_nets(o, c, r->slot, r->clone) < 0 ||
            json_add(o, "kernelIpArg", json_object_new_string(ip_arg)) < 0 ||
            add_clone(o, c, name, r->clone) < 0 || add_egress(o, c, r->egress) < 0 ||
            json_add(o, "published", publish_list_to_json(r->published)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

/* Varlink's int is a JSON integer, which json-c holds as int64: a count
 * beyond it (some 290 years at 1 GB/s) stays at the top. */
static struct json_object *json_count(uint64_t v)
{
        return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

int slot_json_add_counters(struct json_object *o, const struct slot_counters *sc)
{
        _cleanup_json_ struct json_object *c = json_object_new_object();

        if (!c || json_add(c, "guestSentBytes", json_count(sc->guest_sent_bytes)) < 0 ||
            json_add(c, "guestSentPackets", json_count(sc->guest_sent_packets)) < 0 ||
            json_add(c, "guestReceivedBytes", json_count(sc->guest_received_bytes)) < 0 ||
            json_add(c, "guestReceivedPackets", json_count(sc->guest_received_packets)) < 0 ||
            json_add(c, "droppedSpoofed", json_count(sc->dropped_spoofed)) < 0 ||
            json_add(c, "droppedPolicy", json_count(sc->dropped_policy)) < 0)
                return -ENOMEM;
        return json_add(o, "counters", TAKE_PTR(c));
}

void reply_kernel_error(struct varlink_conn *conn, const char *operation, int error)
{
        _cleanup_json_ struct json_object *p = json_object_new_object();

        /* Without the parameters the error still goes out. */
        if (p && (json_add(p, "operation", json_object_new_string(operation)) < 0 ||
                  json_add(p, "errno", json_object_new_int(abs(error))) < 0))
                json_object_put(TAKE_PTR(p));
        varlink_conn_error(conn, TAPLINKD_ERROR_KERNEL, TAKE_PTR(p));
}

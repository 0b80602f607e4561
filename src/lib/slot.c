/* SPDX-License-Identifier: MIT */

/* A Slot object from the daemon, checked field by field: whatever the reply
 * says ends up in environment variables, on a terminal and in a VMM's
 * configuration, so nothing unchecked passes. */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "taplink-private.h"

#define IFNAME_MAX 15 /* IFNAMSIZ - 1 */

/* Control characters would let a daemon's text rewrite a terminal or split
 * an environment entry; an embedded NUL would silently shorten it. */
static bool is_clean_string(json_object *v)
{
        const char *s = json_object_get_string(v);
        size_t len = (size_t)json_object_get_string_len(v);

        if (strlen(s) != len)
                return false;
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (ch < 0x20 || ch == 0x7f)
                        return false;
        }
        return true;
}

int tlp_json_get_string(json_object *o, const char *key, const char **ret)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return -EBADMSG;
        if (!is_clean_string(v))
                return -EBADMSG;
        *ret = json_object_get_string(v);
        return 0;
}

int tlp_json_get_uint(json_object *o, const char *key, uint64_t max, uint64_t *ret)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return -EBADMSG;
        /* Numbers past INT64_MAX read as INT64_MAX, which max rules out. */
        int64_t i = json_object_get_int64(v);
        if (i < 0 || (uint64_t)i > max)
                return -EBADMSG;
        *ret = (uint64_t)i;
        return 0;
}

int tlp_json_get_bool(json_object *o, const char *key, bool *ret)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
                return -EBADMSG;
        *ret = json_object_get_boolean(v);
        return 0;
}

static bool is_mac(const char *s)
{
        if (strlen(s) != 17)
                return false;
        for (size_t i = 0; i < 17; i++) {
                bool ok = i % 3 == 2 ? s[i] == ':' : isxdigit((unsigned char)s[i]);
                if (!ok)
                        return false;
        }
        return true;
}

static int parse_address(json_object *o, const char *key, int family, const char **ret)
{
        unsigned char buf[sizeof(struct in6_addr)];
        const char *s;

        if (tlp_json_get_string(o, key, &s) < 0 || inet_pton(family, s, buf) != 1)
                return -EBADMSG;
        *ret = s;
        return 0;
}

static int parse_net(json_object *o, int family, struct tl_net *ret)
{
        struct tl_net n;
        uint64_t u;

        if (!json_object_is_type(o, json_type_object) || parse_address(o, "subnet", family, &n.subnet) < 0 ||
            parse_address(o, "gateway", family, &n.gateway) < 0 ||
            parse_address(o, "guest", family, &n.guest) < 0 ||
            tlp_json_get_uint(o, "prefixLength", family == AF_INET ? 32 : 128, &u) < 0)
                return -EBADMSG;
        n.prefix_length = (unsigned)u;
        *ret = n;
        return 0;
}

const char *const tlp_counter_keys[TLP_COUNTERS] = {
    "guestSentBytes",       "guestSentPackets", "guestReceivedBytes",
    "guestReceivedPackets", "droppedSpoofed",   "droppedPolicy",
};

/* ?Counters: only from List(counters: true). */
static int parse_counters(json_object *o, tl_slot *s, const char **ret_detail)
{
        json_object *c;

        if (!json_object_object_get_ex(o, "counters", &c) || !c)
                return 0;
        if (!json_object_is_type(c, json_type_object)) {
                *ret_detail = "counters";
                return -EBADMSG;
        }
        for (size_t i = 0; i < TLP_COUNTERS; i++)
                if (tlp_json_get_uint(c, tlp_counter_keys[i], INT64_MAX, &s->counters[i]) < 0) {
                        *ret_detail = tlp_counter_keys[i];
                        return -EBADMSG;
                }
        s->has_counters = true;
        return 0;
}

int tlp_slot_parse(json_object *o, tl_slot *ret, const char **ret_detail)
{
        tl_slot s = {};
        uint64_t u;

#define FAIL(what)                  \
        do {                        \
                *ret_detail = what; \
                return -EBADMSG;    \
        } while (0)

        if (!json_object_is_type(o, json_type_object))
                FAIL("slot");
        if (tlp_json_get_uint(o, "slot", INT32_MAX, &u) < 0)
                FAIL("slot");
        s.number = (unsigned)u;
        if (tlp_json_get_string(o, "ifname", &s.ifname) < 0 || !*s.ifname || strlen(s.ifname) > IFNAME_MAX ||
            strchr(s.ifname, '/'))
                FAIL("ifname");
        if (tlp_json_get_string(o, "label", &s.label) < 0)
                FAIL("label");
        /* (uid_t) -1 means "no uid" to every syscall taking one. */
        if (tlp_json_get_uint(o, "ownerUid", UINT32_MAX - 1, &u) < 0)
                FAIL("ownerUid");
        s.owner_uid = (uid_t)u;
        if (tlp_json_get_string(o, "mac", &s.mac) < 0 || !is_mac(s.mac))
                FAIL("mac");
        if (tlp_json_get_uint(o, "mtu", INT32_MAX, &u) < 0)
                FAIL("mtu");
        s.mtu = (unsigned)u;
        if (tlp_json_get_uint(o, "queues", INT32_MAX, &u) < 0 || u == 0)
                FAIL("queues");
        s.queues = (unsigned)u;
        if (tlp_json_get_bool(o, "vnetHeader", &s.vnet_header) < 0)
                FAIL("vnetHeader");
        if (tlp_json_get_bool(o, "persistent", &s.persistent) < 0)
                FAIL("persistent");
        if (tlp_json_get_string(o, "kernelIpArg", &s.kernel_ip_arg) < 0)
                FAIL("kernelIpArg");

        json_object *net;
        if (!json_object_object_get_ex(o, "ipv4", &net) || parse_net(net, AF_INET, &s.ipv4) < 0)
                FAIL("ipv4");
        /* ?Net: null or absent when the daemon runs without IPv6. */
        if (json_object_object_get_ex(o, "ipv6", &net) && net) {
                if (parse_net(net, AF_INET6, &s.ipv6) < 0)
                        FAIL("ipv6");
                s.has_ipv6 = true;
        }
        if (tlp_slot_check_policy(o, ret_detail) < 0 || tlp_slot_check_clone(o, ret_detail) < 0)
                return -EBADMSG;
#undef FAIL
        if (parse_counters(o, &s, ret_detail) < 0)
                return -EBADMSG;

        s.object = json_object_get(o);
        *ret = s;
        return 0;
}

void tlp_slot_done(tl_slot *s)
{
        if (s->fds)
                close_many(s->fds, s->n_fds);
        free(s->fds);
        s->fds = NULL;
        s->n_fds = 0;
        json_object_put(s->object);
        s->object = NULL;
}

_public_ void tl_slot_free(tl_slot *s)
{
        if (!s)
                return;
        tlp_slot_done(s);
        free(s);
}

_public_ size_t tl_slot_list_size(const tl_slot_list *l)
{
        return l ? l->n_slots : 0;
}

_public_ const tl_slot *tl_slot_list_get(const tl_slot_list *l, size_t i)
{
        if (!l || i >= l->n_slots)
                return NULL;
        return &l->slots[i];
}

_public_ void tl_slot_list_free(tl_slot_list *l)
{
        if (!l)
                return;
        for (size_t i = 0; i < l->n_slots; i++)
                tlp_slot_done(&l->slots[i]);
        free(l->slots);
        free(l);
}

_public_ unsigned tl_slot_number(const tl_slot *s)
{
        return s ? s->number : 0;
}

_public_ const char *tl_slot_ifname(const tl_slot *s)
{
        return s ? s->ifname : NULL;
}

_public_ const char *tl_slot_label(const tl_slot *s)
{
        return s ? s->label : NULL;
}

_public_ uid_t tl_slot_owner_uid(const tl_slot *s)
{
        return s ? s->owner_uid : (uid_t)-1;
}

_public_ const char *tl_slot_mac(const tl_slot *s)
{
        return s ? s->mac : NULL;
}

_public_ unsigned tl_slot_mtu(const tl_slot *s)
{
        return s ? s->mtu : 0;
}

_public_ unsigned tl_slot_queues(const tl_slot *s)
{
        return s ? s->queues : 0;
}

_public_ bool tl_slot_vnet_header(const tl_slot *s)
{
        return s && s->vnet_header;
}

_public_ bool tl_slot_persistent(const tl_slot *s)
{
        return s && s->persistent;
}

_public_ const char *tl_slot_kernel_ip_arg(const tl_slot *s)
{
        return s ? s->kernel_ip_arg : NULL;
}

static const struct tl_net *slot_net(const tl_slot *s, tl_family family)
{
        if (!s)
                return NULL;
        if (family == TL_IPV4)
                return &s->ipv4;
        if (family == TL_IPV6 && s->has_ipv6)
                return &s->ipv6;
        return NULL;
}

_public_ bool tl_slot_has_net(const tl_slot *s, tl_family family)
{
        return slot_net(s, family) != NULL;
}

_public_ const char *tl_slot_subnet(const tl_slot *s, tl_family family)
{
        const struct tl_net *n = slot_net(s, family);
        return n ? n->subnet : NULL;
}

_public_ const char *tl_slot_gateway(const tl_slot *s, tl_family family)
{
        const struct tl_net *n = slot_net(s, family);
        return n ? n->gateway : NULL;
}

_public_ const char *tl_slot_guest(const tl_slot *s, tl_family family)
{
        const struct tl_net *n = slot_net(s, family);
        return n ? n->guest : NULL;
}

_public_ unsigned tl_slot_prefix_length(const tl_slot *s, tl_family family)
{
        const struct tl_net *n = slot_net(s, family);
        return n ? n->prefix_length : 0;
}

_public_ const char *tl_slot_json(const tl_slot *s)
{
        if (!s)
                return NULL;
        return json_object_to_json_string_ext(s->object,
                                              JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

_public_ size_t tl_slot_n_fds(const tl_slot *s)
{
        return s ? s->n_fds : 0;
}

_public_ int tl_slot_fd(const tl_slot *s, size_t queue)
{
        if (!s || queue >= s->n_fds)
                return -EINVAL;
        return s->fds[queue] >= 0 ? s->fds[queue] : -EBADF;
}

_public_ int tl_slot_take_fd(tl_slot *s, size_t queue)
{
        if (!s || queue >= s->n_fds)
                return -EINVAL;
        if (s->fds[queue] < 0)
                return -EBADF;
        return TAKE_FD(s->fds[queue]);
}

_public_ bool tl_slot_has_counters(const tl_slot *s)
{
        return s && s->has_counters;
}

static uint64_t counter(const tl_slot *s, size_t i)
{
        return s && s->has_counters ? s->counters[i] : 0;
}

_public_ uint64_t tl_slot_guest_sent_bytes(const tl_slot *s)
{
        return counter(s, 0);
}

_public_ uint64_t tl_slot_guest_sent_packets(const tl_slot *s)
{
        return counter(s, 1);
}

_public_ uint64_t tl_slot_guest_received_bytes(const tl_slot *s)
{
        return counter(s, 2);
}

_public_ uint64_t tl_slot_guest_received_packets(const tl_slot *s)
{
        return counter(s, 3);
}

_public_ uint64_t tl_slot_dropped_spoofed(const tl_slot *s)
{
        return counter(s, 4);
}

_public_ uint64_t tl_slot_dropped_policy(const tl_slot *s)
{
        return counter(s, 5);
}

/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "publish.h"

struct publish_list *publish_list_new(size_t n)
{
        return calloc(1, sizeof(struct publish_list) + n * sizeof(struct publish_port));
}

struct publish_list *publish_list_dup(const struct publish_list *l)
{
        struct publish_list *d = publish_list_new(l->n);

        if (!d)
                return NULL;
        d->n = l->n;
        memcpy(d->ports, l->ports, l->n * sizeof(l->ports[0]));
        return d;
}

bool publish_list_equal(const struct publish_list *a, const struct publish_list *b)
{
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (publish_port_cmp(&a->ports[i], &b->ports[i]) != 0)
                        return false;
        return true;
}

static size_t addr_len(int family)
{
        return family == AF_INET ? sizeof(struct in_addr) : family == AF_INET6 ? sizeof(struct in6_addr) : 0;
}

/* Everything but the guest port. */
static int cmp_publication(const struct publish_port *a, const struct publish_port *b)
{
        if (a->protocol != b->protocol)
                return a->protocol < b->protocol ? -1 : 1;
        if (a->host_port != b->host_port)
                return a->host_port < b->host_port ? -1 : 1;
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        return memcmp(&a->addr, &b->addr, addr_len(a->family));
}

int publish_port_cmp(const struct publish_port *a, const struct publish_port *b)
{
        int r = cmp_publication(a, b);

        if (r != 0)
                return r;
        return a->guest_port < b->guest_port ? -1 : a->guest_port > b->guest_port;
}

static int port_cmp_qsort(const void *a, const void *b)
{
        return publish_port_cmp(a, b);
}

bool publish_port_same(const struct publish_port *a, const struct publish_port *b)
{
        return cmp_publication(a, b) == 0;
}

bool publish_port_conflicts(const struct publish_port *a, const struct publish_port *b)
{
        if (a->protocol != b->protocol || a->host_port != b->host_port)
                return false;
        /* An IPv4 and an IPv6 address never meet; a wildcard meets both. */
        return a->family == AF_UNSPEC || b->family == AF_UNSPEC || publish_port_same(a, b);
}

const char *publish_protocol_to_string(uint8_t protocol)
{
        return protocol == IPPROTO_TCP ? "tcp" : protocol == IPPROTO_UDP ? "udp" : NULL;
}

/* An address the kernel can DNAT arriving traffic for: none that means
 * "any", the host itself on lo, a group, a link without a zone, or an IPv4
 * address in IPv6 clothes (it would never match an IPv4 packet). */
static bool host_address_usable(int family, const void *addr)
{
        if (family == AF_INET) {
                uint32_t a = ntohl(((const struct in_addr *)addr)->s_addr);

                return a != INADDR_ANY && (a >> 24) != 127 && !IN_MULTICAST(a) && (a >> 16) != 0xa9fe;
        }
        const struct in6_addr *a = addr;
        return !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_MULTICAST(a) &&
               !IN6_IS_ADDR_LINKLOCAL(a) && !IN6_IS_ADDR_V4MAPPED(a);
}

static int parse_host_address(struct json_object *v, struct publish_port *p)
{
        const char *s = json_plain_string(v);

        /* inet_pton() takes neither a prefix nor a zone. */
        if (!s)
                return -EINVAL;
        if (inet_pton(AF_INET, s, &p->addr.v4) == 1)
                p->family = AF_INET;
        else if (inet_pton(AF_INET6, s, &p->addr.v6) == 1)
                p->family = AF_INET6;
        else
                return -EINVAL;
        return host_address_usable(p->family, &p->addr) ? 0 : -EINVAL;
}

static int parse_protocol(struct json_object *v, uint8_t *ret)
{
        const char *s = json_plain_string(v);

        if (streq_ptr(s, "tcp"))
                *ret = IPPROTO_TCP;
        else if (streq_ptr(s, "udp"))
                *ret = IPPROTO_UDP;
        else
                return -EINVAL;
        return 0;
}

static int parse_port(struct json_object *v, uint16_t *ret)
{
        int64_t x;

        if (json_int_in_range(v, 1, 65535, &x) < 0)
                return -EINVAL;
        *ret = (uint16_t)x;
        return 0;
}

int publish_port_from_json(struct json_object *o, struct publish_port *ret)
{
        struct json_object *proto = NULL, *host_port = NULL, *guest_port = NULL, *host_addr = NULL;
        struct publish_port p = {.family = AF_UNSPEC};

        if (!json_object_is_type(o, json_type_object))
                return -EINVAL;
        json_object_object_foreach(o, key, v)
        {
                if (streq_ptr(key, "protocol"))
                        proto = v;
                else if (streq_ptr(key, "hostPort"))
                        host_port = v;
                else if (streq_ptr(key, "guestPort"))
                        guest_port = v;
                else if (streq_ptr(key, "hostAddress"))
                        host_addr = v;
                else
                        return -EINVAL;
        }
        if (parse_protocol(proto, &p.protocol) < 0 || parse_port(host_port, &p.host_port) < 0 ||
            parse_port(guest_port, &p.guest_port) < 0)
                return -EINVAL;
        /* JSON null: absent, every host address. */
        if (host_addr && parse_host_address(host_addr, &p) < 0)
                return -EINVAL;
        *ret = p;
        return 0;
}

struct json_object *publish_port_to_json(const struct publish_port *p)
{
        const char *protocol = publish_protocol_to_string(p->protocol);
        char text[INET6_ADDRSTRLEN];

        /* json_object_new_string(NULL) would crash. */
        if (!protocol)
                return NULL;
        _cleanup_json_ struct json_object *o = json_object_new_object();
        if (!o || json_add(o, "protocol", json_object_new_string(protocol)) < 0 ||
            json_add(o, "hostPort", json_object_new_int(p->host_port)) < 0 ||
            json_add(o, "guestPort", json_object_new_int(p->guest_port)) < 0)
                return NULL;
        if (p->family != AF_UNSPEC && (!inet_ntop(p->family, &p->addr, text, sizeof(text)) ||
                                       json_add(o, "hostAddress", json_object_new_string(text)) < 0))
                return NULL;
        return TAKE_PTR(o);
}

/* Whether two ports of the sorted list l conflict. Only ports of one
 * protocol and host port can, and those are neighbours. */
static bool list_has_conflict(const struct publish_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                for (size_t j = i + 1; j < l->n; j++) {
                        const struct publish_port *a = &l->ports[i], *b = &l->ports[j];
                        if (a->protocol != b->protocol || a->host_port != b->host_port)
                                break; /* sorted: nothing later shares a's port */
                        if (publish_port_conflicts(a, b))
                                return true;
                }
        return false;
}

int publish_list_from_json(struct json_object *a, size_t max, struct publish_list **ret)
{
        size_t n = 0;

        if (a) {
                if (!json_object_is_type(a, json_type_array))
                        return -EINVAL;
                n = json_object_array_length(a);
                if (n > max)
                        return -E2BIG;
        }
        _cleanup_free_ struct publish_list *l = publish_list_new(n);
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (publish_port_from_json(json_object_array_get_idx(a, i), &l->ports[i]) < 0)
                        return -EINVAL;
        l->n = n;
        qsort(l->ports, l->n, sizeof(l->ports[0]), port_cmp_qsort);
        if (list_has_conflict(l))
                return -EINVAL;
        *ret = TAKE_PTR(l);
        return 0;
}

struct json_object *publish_list_to_json(const struct publish_list *l)
{
        _cleanup_json_ struct json_object *list = json_object_new_array();

        if (!list)
                return NULL;
        for (size_t i = 0; l && i < l->n; i++) {
                struct json_object *o = publish_port_to_json(&l->ports[i]);

                if (!o || json_object_array_add(list, o) < 0) {
                        json_object_put(o);
                        return NULL;
                }
        }
        return TAKE_PTR(list);
}

int publish_list_add(const struct publish_list *l, const struct publish_port *p, struct publish_list **ret)
{
        size_t n = l ? l->n : 0, at = n;

        for (size_t i = 0; i < n; i++) {
                if (publish_port_conflicts(&l->ports[i], p))
                        return -EEXIST;
                if (at == n && publish_port_cmp(p, &l->ports[i]) < 0)
                        at = i;
        }
        struct publish_list *d = publish_list_new(n + 1);
        if (!d)
                return -ENOMEM;
        if (n > 0) {
                memcpy(d->ports, l->ports, at * sizeof(l->ports[0]));
                memcpy(d->ports + at + 1, l->ports + at, (n - at) * sizeof(l->ports[0]));
        }
        d->ports[at] = *p;
        d->n = n + 1;
        *ret = d;
        return 0;
}

int publish_list_remove(const struct publish_list *l, const struct publish_port *p,
                        struct publish_list **ret)
{
        size_t n = l ? l->n : 0;

        for (size_t i = 0; i < n; i++) {
                if (!publish_port_same(&l->ports[i], p))
                        continue;
                struct publish_list *d = publish_list_new(n - 1);
                if (!d)
                        return -ENOMEM;
                memcpy(d->ports, l->ports, i * sizeof(l->ports[0]));
                memcpy(d->ports + i, l->ports + i + 1, (n - i - 1) * sizeof(l->ports[0]));
                d->n = n - 1;
                *ret = d;
                return 0;
        }
        return -ENOENT;
}

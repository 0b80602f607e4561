/* SPDX-License-Identifier: MIT */

/* Clone slots on the client side: the Slot member clone, checked on
 * arrival, and its accessor (taplink(3)). */

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <string.h>

#include "taplink-private.h"

/* The Clone object's strings as the daemon sent them, checked. */
static int parse_clone(json_object *c, tl_clone *ret)
{
        struct in_addr a;
        uint64_t u;
        tl_clone x;

        if (!json_object_is_type(c, json_type_object) || tlp_json_get_string(c, "netns", &x.netns) < 0 ||
            x.netns[0] != '/' || tlp_json_get_string(c, "tapName", &x.tap_name) < 0 || !x.tap_name[0] ||
            strlen(x.tap_name) >= IFNAMSIZ || tlp_json_get_string(c, "guest", &x.guest) < 0 ||
            inet_pton(AF_INET, x.guest, &a) != 1 || tlp_json_get_string(c, "gateway", &x.gateway) < 0 ||
            inet_pton(AF_INET, x.gateway, &a) != 1 || tlp_json_get_uint(c, "prefixLength", 32, &u) < 0)
                return -EBADMSG;
        x.prefix_length = (unsigned)u;
        *ret = x;
        return 0;
}

int tlp_slot_check_clone(json_object *o, const char **ret_detail)
{
        json_object *c;

        /* ?Clone: null or absent for a plain slot (and from older daemons). */
        if (!json_object_object_get_ex(o, "clone", &c) || !c)
                return 0;
        if (parse_clone(c, &(tl_clone){}) < 0) {
                *ret_detail = "clone";
                return -EBADMSG;
        }
        return 0;
}

_public_ int tl_slot_clone(const tl_slot *s, tl_clone *ret)
{
        json_object *c;

        if (!s || !ret)
                return -EINVAL;
        if (!json_object_object_get_ex(s->object, "clone", &c) || !c)
                return -ENOENT;
        return parse_clone(c, ret);
}

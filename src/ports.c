/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sys/socket.h>

#include "json-util.h"
#include "ports.h"
#include "protocol.h"

static bool in_range(const struct config *c, const struct publish_port *p)
{
        return p->host_port >= c->publish_port_min && p->host_port <= c->publish_port_max;
}

/* The port of l that conflicts with one of another slot's, or NULL. */
static const struct publish_port *conflict(struct manager *m, const struct slot_rec *self,
                                           const struct publish_list *l)
{
        for (struct slot_rec *r = manager_records(m); r; r = r->records_next) {
                /* A slot that is gone has its elements' deletion queued,
                 * and that goes first in the next commit (elements.c). */
                if (r == self || !r->published || r->phase == SLOT_GONE || r->phase == SLOT_FAILED)
                        continue;
                for (size_t i = 0; i < l->n; i++)
                        for (size_t j = 0; j < r->published->n; j++)
                                if (publish_port_conflicts(&l->ports[i], &r->published->ports[j]))
                                        return &l->ports[i];
        }
        return NULL;
}

int ports_check(const struct config *c, struct manager *m, uid_t uid, const struct slot_rec *self, bool ipv6,
                const struct publish_list *l, const struct publish_port **ret_port)
{
        *ret_port = NULL;
        if (!l || l->n == 0)
                return 0;
        /* Such a port would have no element: published, yet nothing listens. */
        if (!ipv6 || !c->ipv6)
                for (size_t i = 0; i < l->n; i++)
                        if (l->ports[i].family == AF_INET6) {
                                *ret_port = &l->ports[i];
                                return -EAFNOSUPPORT;
                        }
        if (uid != 0)
                for (size_t i = 0; i < l->n; i++)
                        if (!in_range(c, &l->ports[i])) {
                                *ret_port = &l->ports[i];
                                return -EPERM;
                        }
        if (l->n > c->max_published_per_slot)
                return -EDQUOT;
        *ret_port = conflict(m, self, l);
        return *ret_port ? -EADDRINUSE : 0;
}

void ports_reply_error(struct varlink_conn *conn, const struct config *c, int error,
                       const struct publish_port *p, const char *parameter)
{
        _cleanup_json_ struct json_object *o = json_object_new_object();

        switch (error) {
        case -EAFNOSUPPORT:
                varlink_conn_error_invalid_parameter(conn, parameter);
                return;
        case -EPERM:
                varlink_conn_error(conn, TAPLINKD_ERROR_PERMISSION_DENIED, NULL);
                return;
        case -EDQUOT:
                if (json_add(o, "limit", json_object_new_int64(c->max_published_per_slot)) < 0)
                        json_object_put(TAKE_PTR(o));
                varlink_conn_error(conn, TAPLINKD_ERROR_QUOTA_EXCEEDED, TAKE_PTR(o));
                return;
        default: /* -EADDRINUSE, -EEXIST */
                if (json_add(o, "protocol",
                             json_object_new_string(publish_protocol_to_string(p->protocol))) < 0 ||
                    json_add(o, "hostPort", json_object_new_int64(p->host_port)) < 0)
                        json_object_put(TAKE_PTR(o));
                varlink_conn_error(conn, TAPLINKD_ERROR_PORT_IN_USE, TAKE_PTR(o));
                return;
        }
}

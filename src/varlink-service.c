/* SPDX-License-Identifier: MIT */

/* org.varlink.service, which every Varlink service answers (GetInfo,
 * GetInterfaceDescription), and the routing of a call: to it, to the
 * server's one interface through its handler, or to InterfaceNotFound /
 * MethodNotFound. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "varlink-internal.h"

#define SERVICE_PREFIX VARLINK_SERVICE_INTERFACE "."

static const char service_description[] =
    "# The Varlink service interface, provided by every Varlink service: it\n"
    "# describes the service and the interfaces it implements.\n"
    "interface org.varlink.service\n"
    "\n"
    "# Information about the service and the interfaces it provides.\n"
    "method GetInfo() -> (\n"
    "  vendor: string,\n"
    "  product: string,\n"
    "  version: string,\n"
    "  url: string,\n"
    "  interfaces: []string\n"
    ")\n"
    "\n"
    "# The description of one interface the service implements.\n"
    "method GetInterfaceDescription(interface: string) -> (description: string)\n"
    "\n"
    "# The service does not implement the requested interface.\n"
    "error InterfaceNotFound (interface: string)\n"
    "\n"
    "# The interface has no method of the requested name.\n"
    "error MethodNotFound (method: string)\n"
    "\n"
    "# The interface defines the method, but the service does not implement it.\n"
    "error MethodNotImplemented (method: string)\n"
    "\n"
    "# One of the parameters is missing, unknown, or has a bad value.\n"
    "error InvalidParameter (parameter: string)\n"
    "\n"
    "# The caller may not call the method.\n"
    "error PermissionDenied ()\n"
    "\n"
    "# The method must be called with \"more\" set.\n"
    "error ExpectedMore ()\n";

/* The first parameter not in allowed (a NULL-terminated list), or NULL. */
static const char *unknown_parameter(struct json_object *parameters, const char *const *allowed)
{
        struct json_object_iterator it = json_object_iter_begin(parameters);
        struct json_object_iterator end = json_object_iter_end(parameters);

        for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
                const char *key = json_object_iter_peek_name(&it);
                bool known = false;

                for (const char *const *a = allowed; *a; a++)
                        if (strcmp(key, *a) == 0)
                                known = true;
                if (!known)
                        return key;
        }
        return NULL;
}

/* GetInfo's reply parameters; NULL when an allocation failed. */
static struct json_object *service_info_new(const struct varlink_server *s)
{
        _cleanup_json_ struct json_object *p = json_object_new_object();
        _cleanup_json_ struct json_object *interfaces = json_object_new_array();
        const char *names[] = {VARLINK_SERVICE_INTERFACE, s->interface_name};

        if (!p || !interfaces)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                struct json_object *name = json_object_new_string(names[i]);
                if (!name || json_object_array_add(interfaces, name) < 0) {
                        json_object_put(name);
                        return NULL;
                }
        }
        if (json_add(p, "vendor", json_object_new_string(s->vendor)) < 0 ||
            json_add(p, "product", json_object_new_string(s->product)) < 0 ||
            json_add(p, "version", json_object_new_string(s->version)) < 0 ||
            json_add(p, "url", json_object_new_string(s->url)) < 0 ||
            json_add(p, "interfaces", TAKE_PTR(interfaces)) < 0)
                return NULL;
        return TAKE_PTR(p);
}

static void service_get_info(struct varlink_conn *conn, const struct varlink_call *call)
{
        static const char *const allowed[] = {NULL};
        struct json_object *p;
        const char *bad;

        bad = unknown_parameter(call->parameters, allowed);
        if (bad) {
                (void)varlink_conn_error_invalid_parameter(conn, bad);
                return;
        }
        p = service_info_new(conn->server);
        if (!p) {
                (void)varlink_conn_fail(conn);
                return;
        }
        (void)varlink_conn_reply(conn, p, NULL, 0);
}

static void service_get_interface_description(struct varlink_conn *conn, const struct varlink_call *call)
{
        static const char *const allowed[] = {"interface", NULL};
        struct varlink_server *s = conn->server;
        struct json_object *v, *p;
        const char *bad, *name, *description;

        bad = unknown_parameter(call->parameters, allowed);
        if (bad) {
                (void)varlink_conn_error_invalid_parameter(conn, bad);
                return;
        }
        if (!json_object_object_get_ex(call->parameters, "interface", &v) ||
            !json_object_is_type(v, json_type_string)) {
                (void)varlink_conn_error_invalid_parameter(conn, "interface");
                return;
        }
        name = json_object_get_string(v);
        if (strcmp(name, VARLINK_SERVICE_INTERFACE) == 0)
                description = service_description;
        else if (strcmp(name, s->interface_name) == 0)
                description = s->interface_description;
        else {
                (void)varlink_conn_error_interface_not_found(conn, name);
                return;
        }

        p = json_object_new_object();
        if (!p || json_add(p, "description", json_object_new_string(description)) < 0) {
                json_object_put(p);
                (void)varlink_conn_fail(conn);
                return;
        }
        (void)varlink_conn_reply(conn, p, NULL, 0);
}

static void service_dispatch(struct varlink_conn *conn, const struct varlink_call *call)
{
        if (strcmp(call->method, VARLINK_METHOD_GET_INFO) == 0)
                service_get_info(conn, call);
        else if (strcmp(call->method, VARLINK_METHOD_GET_INTERFACE_DESCRIPTION) == 0)
                service_get_interface_description(conn, call);
        else
                (void)varlink_conn_error_method_not_found(conn, call->method);
}

void varlink_dispatch_call(struct varlink_conn *conn, bool bad_parameters)
{
        struct varlink_server *s = conn->server;
        const struct varlink_call *call = &conn->call;
        const char *method = call->method, *dot;
        _cleanup_free_ char *interface = NULL;

        if (bad_parameters) {
                (void)varlink_conn_error_invalid_parameter(conn, "parameters");
                return;
        }
        if (strncmp(method, SERVICE_PREFIX, strlen(SERVICE_PREFIX)) == 0) {
                service_dispatch(conn, call);
                return;
        }

        /* "Interface.Method": a name without both parts names no method. */
        dot = strrchr(method, '.');
        if (!dot || dot == method || dot[1] == 0) {
                (void)varlink_conn_error_method_not_found(conn, method);
                return;
        }
        interface = strndup(method, (size_t)(dot - method));
        if (!interface) {
                (void)varlink_conn_fail(conn);
                return;
        }
        if (strcmp(interface, s->interface_name) != 0) {
                (void)varlink_conn_error_interface_not_found(conn, interface);
                return;
        }
        if (!s->on_call) {
                (void)varlink_conn_error_method_not_found(conn, method);
                return;
        }
        s->on_call(conn, call, s->userdata);
}

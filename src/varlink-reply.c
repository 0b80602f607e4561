/* SPDX-License-Identifier: MIT */

/* The messages a call is answered with: {"parameters": ...} or {"error":
 * name, "parameters": ...}. Every json-c allocation is checked: one that
 * fails still completes the call, by dropping the connection (the client
 * would otherwise wait forever), never by a reply that is not the one
 * asked for. */

#include <errno.h>

#include "json-util.h"
#include "varlink-internal.h"

/* Checks common to both kinds of answer; closes the fds when refusing. */
static int conn_check_answer(struct varlink_conn *conn, struct json_object *parameters, int *fds,
                             size_t n_fds)
{
        int r = 0;

        if (!conn || (n_fds > 0 && !fds))
                r = -EINVAL;
        else if (conn->closed)
                r = -ENOTCONN;
        else if (!conn->call_pending)
                r = -EINVAL;
        else if (parameters && !json_object_is_type(parameters, json_type_object))
                r = -EINVAL;
        else if (n_fds > VARLINK_SCM_MAX_FDS)
                r = -E2BIG;
        if (r < 0 && fds)
                varlink_conn_close_fds(conn, fds, n_fds);
        return r;
}

/* The whole message; takes parameters (NULL: {}). NULL when an allocation
 * failed. */
static struct json_object *message_new(const char *error, struct json_object *parameters)
{
        _cleanup_json_ struct json_object *msg = json_object_new_object();
        _cleanup_json_ struct json_object *p = parameters ?: json_object_new_object();

        if (!msg || !p)
                return NULL;
        if (error && json_add(msg, "error", json_object_new_string(error)) < 0)
                return NULL;
        if (json_add(msg, "parameters", TAKE_PTR(p)) < 0)
                return NULL;
        return TAKE_PTR(msg);
}

int varlink_conn_reply(struct varlink_conn *conn, struct json_object *parameters, int *fds, size_t n_fds)
{
        _cleanup_json_ struct json_object *p = parameters, *msg = NULL;
        int r;

        r = conn_check_answer(conn, p, fds, n_fds);
        if (r < 0)
                return r;
        msg = message_new(NULL, TAKE_PTR(p));
        return varlink_conn_answer(conn, msg, fds, n_fds);
}

int varlink_conn_reply_continues(struct varlink_conn *conn, struct json_object *parameters)
{
        _cleanup_json_ struct json_object *p = parameters, *msg = NULL;
        int r;

        r = conn_check_answer(conn, p, NULL, 0);
        if (r < 0)
                return r;
        if (!conn->call.more)
                return -EINVAL;
        msg = message_new(NULL, TAKE_PTR(p));
        if (msg && json_add(msg, "continues", json_object_new_boolean(true)) < 0)
                msg = (json_object_put(msg), NULL);
        return varlink_conn_continue(conn, msg);
}

int varlink_conn_error(struct varlink_conn *conn, const char *error, struct json_object *parameters)
{
        _cleanup_json_ struct json_object *p = parameters, *msg = NULL;
        int r;

        if (!error || !error[0])
                return -EINVAL;
        r = conn_check_answer(conn, p, NULL, 0);
        if (r < 0)
                return r;
        msg = message_new(error, TAKE_PTR(p));
        return varlink_conn_answer(conn, msg, NULL, 0);
}

int varlink_conn_fail(struct varlink_conn *conn)
{
        return varlink_conn_answer(conn, NULL, NULL, 0);
}

/* An error whose parameters are {key: value}. */
static int conn_error_string(struct varlink_conn *conn, const char *error, const char *key,
                             const char *value)
{
        struct json_object *p = json_object_new_object();

        if (p && json_add(p, key, json_object_new_string(value)) < 0)
                p = (json_object_put(p), NULL);
        if (!p && conn && !conn->closed && conn->call_pending) {
                /* Still complete the call, so the connection moves on. */
                (void)varlink_conn_fail(conn);
                return -ENOMEM;
        }
        return varlink_conn_error(conn, error, p);
}

int varlink_conn_error_invalid_parameter(struct varlink_conn *conn, const char *parameter)
{
        return conn_error_string(conn, VARLINK_ERROR_INVALID_PARAMETER, "parameter", parameter ?: "");
}

int varlink_conn_error_method_not_found(struct varlink_conn *conn, const char *method)
{
        return conn_error_string(conn, VARLINK_ERROR_METHOD_NOT_FOUND, "method", method ?: "");
}

int varlink_conn_error_interface_not_found(struct varlink_conn *conn, const char *interface)
{
        return conn_error_string(conn, VARLINK_ERROR_INTERFACE_NOT_FOUND, "interface", interface ?: "");
}

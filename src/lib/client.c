/* SPDX-License-Identifier: MIT */

/* The connection: connect, one call at a time, Varlink errors mapped to
 * errno and kept for the caller to show. */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "taplink-private.h"

/* A daemon's error parameters are untrusted text going to a terminal: keep
 * the message to one line of sane length. */
#define MAX_ERROR_MESSAGE 1024

_public_ const char *tl_socket_path(const char *path)
{
        if (path && *path)
                return path;
        /* secure_getenv: a set-uid program linking this library must not be
         * pointed at another socket by whoever runs it. */
        const char *e = secure_getenv(TL_SOCKET_ENV);
        if (e && *e)
                return e;
        return TL_DEFAULT_SOCKET;
}

int tlp_client_new_from_fd(int fd, const char *path, tl_client **ret)
{
        tl_client *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->path = strdup(path ? path : "");
        if (!c->path) {
                free(c);
                return -ENOMEM;
        }
        c->fd = fd;
        c->max_reply = TL_MAX_REPLY;
        *ret = c;
        return 0;
}

void tlp_client_set_max_reply(tl_client *c, size_t max)
{
        c->max_reply = max;
}

_public_ int tl_client_connect(const char *path, tl_client **ret)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        if (!ret)
                return -EINVAL;
        path = tl_socket_path(path);
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;

        for (;;) {
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        break;
                if (errno == EINTR)
                        continue;
                /* An interrupted connect may have completed meanwhile. */
                if (errno == EISCONN)
                        break;
                return -errno;
        }

        tl_client *c;
        int r = tlp_client_new_from_fd(fd, path, &c);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        *ret = c;
        return 0;
}

_public_ void tl_client_free(tl_client *c)
{
        if (!c)
                return;
        safe_close(c->fd);
        tlp_client_clear_error(c);
        free(c->rbuf);
        free(c->path);
        free(c);
}

void tlp_client_clear_error(tl_client *c)
{
        free(c->error_name);
        free(c->error_parameters);
        free(c->error_message);
        c->error_name = c->error_parameters = c->error_message = NULL;
}

int tlp_client_error(tl_client *c, int err, const char *fmt, ...)
{
        va_list ap;
        char *m;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) >= 0) {
                free(c->error_message);
                c->error_message = m;
        }
        va_end(ap);
        return err;
}

_public_ const char *tl_client_error_name(const tl_client *c)
{
        return c ? c->error_name : NULL;
}

_public_ const char *tl_client_error_parameters(const tl_client *c)
{
        return c ? c->error_parameters : NULL;
}

_public_ const char *tl_client_error_message(const tl_client *c)
{
        return c ? c->error_message : NULL;
}

int tlp_varlink_error_to_errno(const char *name, json_object *parameters)
{
        static const struct {
                const char *name;
                int err;
        } table[] = {
            {TAPLINKD_ERROR_PERMISSION_DENIED, EPERM},
            {TAPLINKD_ERROR_QUOTA_EXCEEDED, EDQUOT},
            {TAPLINKD_ERROR_NO_SLOT_AVAILABLE, ENOSPC},
            {TAPLINKD_ERROR_NO_SUCH_SLOT, ENOENT},
            {TAPLINKD_ERROR_PORT_IN_USE, EADDRINUSE},
            {VARLINK_ERROR_INVALID_PARAMETER, EINVAL},
            {VARLINK_ERROR_PERMISSION_DENIED, EPERM},
            {VARLINK_ERROR_METHOD_NOT_FOUND, EOPNOTSUPP},
            {VARLINK_ERROR_METHOD_NOT_IMPLEMENTED, EOPNOTSUPP},
            {VARLINK_ERROR_INTERFACE_NOT_FOUND, EOPNOTSUPP},
        };

        if (strcmp(name, TAPLINKD_ERROR_KERNEL) == 0) {
                json_object *e;
                /* Only a plausible errno is passed on: a caller must be able
                 * to rely on the value being negative and meaningful. */
                if (json_object_object_get_ex(parameters, "errno", &e) &&
                    json_object_is_type(e, json_type_int)) {
                        int64_t v = json_object_get_int64(e);
                        if (v > 0 && v < 4096)
                                return -(int)v;
                }
                return -EIO;
        }
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcmp(name, table[i].name) == 0)
                        return -table[i].err;
        return -EPROTO;
}

static bool is_plain_word(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s <= ' ' || *s == '"' || *s == '\\' || *s == 0x7f)
                        return false;
        return true;
}

/* JSON text with every control character escaped: json-c escapes those
 * below 0x20 (so the line stays one line) but passes DEL through, which can
 * only stand inside a string there, where \u007f means the same. */
static void fputs_json(FILE *f, const char *s)
{
        for (; *s; s++) {
                if (*s == 0x7f)
                        fputs("\\u007f", f);
                else
                        fputc(*s, f);
        }
}

/* "io.taplinkd.QuotaExceeded (limit=64)"; a KernelError also gets its
 * errno's text: "... (operation=TUNSETIFF errno=16): Device or resource busy". */
static char *format_varlink_error(const char *name, json_object *parameters, int err)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;

        fputs(name, f);
        bool first = true;
        json_object_object_foreach(parameters, key, value)
        {
                fputs(first ? " (" : " ", f);
                first = false;
                fprintf(f, "%s=", is_plain_word(key) ? key : "?");
                if (json_object_is_type(value, json_type_string) &&
                    is_plain_word(json_object_get_string(value)))
                        fputs(json_object_get_string(value), f);
                else
                        fputs_json(f, json_object_to_json_string_ext(
                                          value, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        }
        if (!first)
                fputc(')', f);
        if (strcmp(name, TAPLINKD_ERROR_KERNEL) == 0 && err != -EIO)
                fprintf(f, ": %s", strerror(-err));
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        if (size > MAX_ERROR_MESSAGE)
                strcpy(buf + MAX_ERROR_MESSAGE - 4, "...");
        return buf;
}

static int record_varlink_error(tl_client *c, const char *name, json_object *parameters)
{
        int err = tlp_varlink_error_to_errno(name, parameters);

        c->error_name = strdup(name);
        c->error_parameters = strdup(json_object_to_json_string_ext(
            parameters, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        c->error_message = format_varlink_error(name, parameters, err);
        if (!c->error_name || !c->error_parameters || !c->error_message) {
                tlp_client_clear_error(c);
                return -ENOMEM;
        }
        return err;
}

void tlp_reply_done(struct tl_reply *r)
{
        close_many(r->fds, r->n_fds);
        r->n_fds = 0;
        json_object_put(r->message);
        r->message = NULL;
        r->parameters = NULL;
        r->error = NULL;
}

static int parse_reply(tl_client *c, const char *text, size_t len, struct tl_reply *r)
{
        _cleanup_json_ json_object *m = NULL;
        json_tokener *tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        m = json_tokener_parse_ex(tok, text, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t used = tok->char_offset;
        json_tokener_free(tok);
        if (!m || jerr != json_tokener_success || used != len)
                return tlp_client_error(c, -EBADMSG, "malformed reply: not JSON");
        if (!json_object_is_type(m, json_type_object))
                return tlp_client_error(c, -EBADMSG, "malformed reply: not a JSON object");

        json_object *v;
        const char *error = NULL;
        if (json_object_object_get_ex(m, "error", &v)) {
                if (!json_object_is_type(v, json_type_string))
                        return tlp_client_error(c, -EBADMSG, "malformed reply: \"error\" is not a string");
                error = json_object_get_string(v);
                /* It goes into messages as-is: a name, not arbitrary text. */
                if (!is_plain_word(error) || strlen(error) > 255)
                        return tlp_client_error(c, -EBADMSG, "malformed reply: bad error name");
        }
        /* Only a streaming call's replies (not an error) may continue. */
        bool continues = false;
        if (json_object_object_get_ex(m, "continues", &v)) {
                if (!json_object_is_type(v, json_type_boolean))
                        return tlp_client_error(c, -EBADMSG,
                                                "malformed reply: \"continues\" is not a boolean");
                continues = json_object_get_boolean(v);
                if (continues && (!c->streaming || error))
                        return tlp_client_error(c, -EBADMSG, "malformed reply: unexpected \"continues\"");
        }

        json_object *parameters = NULL;
        if (json_object_object_get_ex(m, "parameters", &v) && v) {
                if (!json_object_is_type(v, json_type_object))
                        return tlp_client_error(c, -EBADMSG,
                                                "malformed reply: \"parameters\" is not an object");
                parameters = v;
        } else {
                /* Absent or null parameters mean none: give callers an
                 * object to look into all the same. */
                parameters = json_object_new_object();
                if (!parameters)
                        return -ENOMEM;
                if (json_object_object_add(m, "parameters", parameters) < 0) {
                        json_object_put(parameters);
                        return -ENOMEM;
                }
        }

        r->message = TAKE_PTR(m);
        r->parameters = parameters;
        r->error = error;
        r->continues = continues;
        return 0;
}

/* Takes the first message out of the read buffer. Anything after it was
 * sent without being asked for, unless a stream runs: then it is the
 * stream's next replies. */
static int consume_message(tl_client *c, size_t len)
{
        size_t rest = c->rbuf_len - (len + 1);
        c->rbuf_len = 0;
        if (rest > 0 && c->streaming) {
                memmove(c->rbuf, c->rbuf + len + 1, rest);
                c->rbuf_len = rest;
                return 0;
        }
        if (rest > 0) {
                c->broken = true;
                return tlp_client_error(c, -EBADMSG, "malformed reply: data after the reply");
        }
        return 0;
}

static int receive_reply(tl_client *c, struct tl_reply *r)
{
        size_t len;
        int k = tlp_wire_receive(c, r->fds, &r->n_fds, &len);
        if (k < 0) {
                /* The stream is mid-message or gone: nothing further on it
                 * can be matched to a call. */
                c->broken = true;
                if (k == -ECONNRESET)
                        return tlp_client_error(c, k, "taplinkd closed the connection");
                if (k == -EMSGSIZE)
                        return tlp_client_error(c, k, "reply larger than %zu bytes", c->max_reply);
                if (k == -EBADMSG)
                        return tlp_client_error(c, k, "malformed reply: file descriptors lost or too many");
                return tlp_client_error(c, k, "receive from taplinkd: %s", strerror(-k));
        }

        k = parse_reply(c, c->rbuf, len, r);
        int q = consume_message(c, len);
        return k < 0 ? k : q;
}

static int send_call(tl_client *c, const char *method, json_object *parameters, bool more)
{
        tlp_client_clear_error(c);
        if (c->broken)
                return tlp_client_error(c, -ENOTCONN, "connection to taplinkd is no longer usable");
        if (c->streaming)
                return tlp_client_error(c, -EBUSY, "a Monitor stream runs on this connection");

        _cleanup_json_ json_object *call = json_object_new_object();
        if (!call)
                return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        if (json_add(call, "method", json_object_new_string(method)) < 0 ||
            json_add(call, "parameters",
                     parameters ? json_object_get(parameters) : json_object_new_object()) < 0 ||
            (more && json_add(call, "more", json_object_new_boolean(true)) < 0))
                return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));
        const char *text =
            json_object_to_json_string_ext(call, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return tlp_client_error(c, -ENOMEM, "%s", strerror(ENOMEM));

        /* The terminating NUL of the string is the message's frame. */
        int k = tlp_wire_send(c->fd, text, strlen(text) + 1);
        if (k < 0) {
                c->broken = true;
                if (k == -ECONNRESET)
                        return tlp_client_error(c, k, "taplinkd closed the connection");
                return tlp_client_error(c, k, "send to taplinkd: %s", strerror(-k));
        }
        return 0;
}

/* Reads the next reply; a Varlink error becomes its errno. */
static int receive_answer(tl_client *c, struct tl_reply *ret)
{
        struct tl_reply r = {};
        int k = receive_reply(c, &r);
        if (k < 0) {
                tlp_reply_done(&r);
                /* Every failure gets its one line, allocation failures too. */
                if (!c->error_message)
                        return tlp_client_error(c, k, "%s", strerror(-k));
                return k;
        }
        if (r.error) {
                k = record_varlink_error(c, r.error, r.parameters);
                tlp_reply_done(&r);
                if (k == -ENOMEM)
                        return tlp_client_error(c, k, "%s", strerror(ENOMEM));
                return k;
        }
        *ret = r;
        return 0;
}

int tlp_client_call(tl_client *c, const char *method, json_object *parameters, struct tl_reply *ret)
{
        int k = send_call(c, method, parameters, false);
        return k < 0 ? k : receive_answer(c, ret);
}

int tlp_client_stream(tl_client *c, const char *method, json_object *parameters)
{
        int k = send_call(c, method, parameters, true);
        if (k < 0)
                return k;
        c->streaming = true;
        return 0;
}

/* Waits until a reply has begun to arrive, unless one is buffered whole. */
static int wait_readable(tl_client *c, int timeout_ms)
{
        struct pollfd p = {.fd = c->fd, .events = POLLIN};

        if (c->rbuf_len > 0 && memchr(c->rbuf, 0, c->rbuf_len))
                return 0;
        int n = poll(&p, 1, timeout_ms < 0 ? -1 : timeout_ms);
        if (n < 0)
                return tlp_client_error(c, -errno, "waiting for taplinkd: %s", strerror(errno));
        if (n == 0)
                return tlp_client_error(c, -ETIMEDOUT, "no reply within %d ms", timeout_ms);
        return 0;
}

int tlp_client_next(tl_client *c, int timeout_ms, struct tl_reply *ret)
{
        tlp_client_clear_error(c);
        if (c->broken)
                return tlp_client_error(c, -ENOTCONN, "connection to taplinkd is no longer usable");
        if (!c->streaming)
                return tlp_client_error(c, -EINVAL, "no Monitor stream runs on this connection");

        int k = wait_readable(c, timeout_ms);
        if (k < 0)
                return k;
        struct tl_reply r = {};
        k = receive_answer(c, &r);
        if (k < 0 || !r.continues)
                c->streaming = false;
        if (k < 0)
                return k;
        *ret = r;
        return 0;
}

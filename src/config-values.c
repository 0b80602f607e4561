/* SPDX-License-Identifier: MIT */
/* The values of taplinkd.conf's keys: numbers, booleans, paths, networks,
 * user and group lists. config.c knows the keys; this file knows what a
 * well-formed value of each kind is. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config-values.h"
#include "macro.h"

#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1)

int config_fail(char **ret_msg, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(ret_msg, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *ret_msg = NULL;
                return -ENOMEM;
        }
        return -EINVAL;
}

int config_parse_decimal(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        uint64_t v = 0;

        if (s[0] == '\0' || s[strspn(s, "0123456789")] != '\0')
                return -EINVAL;
        if (s[0] == '0' && s[1] != '\0')
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                v = v * 10 + (uint64_t)(*p - '0');
                if (v > max)
                        return -ERANGE;
        }
        if (v < min)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

int config_parse_number(const char *value, unsigned min, unsigned max, unsigned *ret, char **ret_msg)
{
        int r = config_parse_decimal(value, min, max, ret);

        if (r == -EINVAL)
                return config_fail(ret_msg, "%s is not a decimal number", value);
        if (r < 0)
                return config_fail(ret_msg, "%s is out of range %u..%u", value, min, max);
        return 0;
}

int config_parse_boolean(const char *value, bool *ret, char **ret_msg)
{
        static const char *const yes[] = {"yes", "true", "1"};
        static const char *const no[] = {"no", "false", "0"};

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(value, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(value, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return config_fail(ret_msg, "%s is not a boolean (yes/no, true/false, 1/0)", value);
}

int config_check_socket_path(const char *path, char **ret_msg)
{
        if (path[0] != '/')
                return config_fail(ret_msg, "%s is not an absolute path", path);
        if (strlen(path) > SOCKET_PATH_MAX)
                return config_fail(ret_msg, "%s is too long for a socket address (at most %zu bytes)", path,
                                   SOCKET_PATH_MAX);
        for (const char *p = path; *p; p++)
                if (iscntrl((unsigned char)*p))
                        return config_fail(ret_msg, "%s contains a control character", path);
        return 0;
}

static bool in_bit(const uint8_t *bytes, unsigned i)
{
        return (bytes[i / 8] >> (7 - i % 8)) & 1;
}

int config_parse_network(const char *value, int family, unsigned min_len, unsigned max_len, void *ret_addr,
                         unsigned *ret_len, char **ret_msg)
{
        const char *what = family == AF_INET ? "IPv4" : "IPv6";
        unsigned bits = family == AF_INET ? 32 : 128;
        char text[INET6_ADDRSTRLEN];
        uint8_t addr[16];
        const char *slash;
        unsigned len;
        size_t n;
        int r;

        slash = strchr(value, '/');
        n = slash ? (size_t)(slash - value) : 0;
        if (!slash || n >= sizeof(text))
                return config_fail(ret_msg, "%s is not an %s network (address/prefix length)", value, what);
        memcpy(text, value, n);
        text[n] = '\0';
        if (inet_pton(family, text, addr) != 1)
                return config_fail(ret_msg, "%s is not an %s network (address/prefix length)", value, what);

        r = config_parse_decimal(slash + 1, min_len, max_len, &len);
        if (r == -EINVAL)
                return config_fail(ret_msg, "%s: prefix length %s is not a decimal number", value,
                                   slash + 1);
        if (r < 0)
                return config_fail(ret_msg, "%s: prefix length %s is out of range %u..%u", value, slash + 1,
                                   min_len, max_len);

        for (unsigned i = len; i < bits; i++)
                if (in_bit(addr, i))
                        return config_fail(ret_msg, "%s is not a network address (host bits set)", value);

        memcpy(ret_addr, addr, bits / 8);
        *ret_len = len;
        return 0;
}

/* getpwnam_r/getgrnam_r want a caller's buffer of unknown size: grow it on
 * ERANGE. Returns the id, -ENOENT for no such name, or another -errno. */
int config_lookup_id(const char *name, bool group, id_t *ret_id)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 1024;
        id_t id = 0;
        bool found = false;
        int r;

        for (;;) {
                char *b = realloc(buf, size);

                if (!b)
                        return -ENOMEM;
                buf = b;

                if (group) {
                        struct group gr, *res = NULL;

                        r = getgrnam_r(name, &gr, buf, size, &res);
                        found = res != NULL;
                        if (found)
                                id = gr.gr_gid;
                } else {
                        struct passwd pw, *res = NULL;

                        r = getpwnam_r(name, &pw, buf, size, &res);
                        found = res != NULL;
                        if (found)
                                id = pw.pw_uid;
                }
                if (r != ERANGE || size >= 1024 * 1024)
                        break;
                size *= 2;
        }

        if (found) {
                *ret_id = id;
                return 0;
        }
        /* Not found is 0 with no result, though some NSS modules say so
         * with one of these instead. */
        if (r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
                return -ENOENT;
        return -r;
}

int config_parse_id_list(const char *value, bool group, id_t **ret_ids, size_t *ret_n, char **ret_text,
                         char **ret_msg)
{
        const char *what = group ? "group" : "user";
        _cleanup_free_ id_t *ids = NULL;
        _cleanup_free_ char *text = NULL;
        size_t n = 0, ids_cap = 0, text_len = 0, text_cap = 0;
        const char *p = value;

        if (GREEDY_REALLOC(text, text_cap, 1) < 0)
                return -ENOMEM;
        text[0] = '\0';

        for (;;) {
                _cleanup_free_ char *token = NULL;
                size_t len;
                id_t id;
                int r;

                p += strspn(p, ", \t");
                if (*p == '\0')
                        break;
                len = strcspn(p, ", \t");
                token = strndup(p, len);
                if (!token)
                        return -ENOMEM;
                p += len;

                if (token[strspn(token, "0123456789")] == '\0') {
                        unsigned v;

                        /* (id_t)-1 means "no id" to the kernel. */
                        if (config_parse_decimal(token, 0, UINT32_MAX - 1, &v) < 0)
                                return config_fail(ret_msg, "%s is not a valid %s id", token, what);
                        id = v;
                } else {
                        r = config_lookup_id(token, group, &id);
                        if (r == -ENOENT)
                                return config_fail(ret_msg, "no such %s %s", what, token);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return config_fail(ret_msg, "cannot look up %s %s: %s", what, token,
                                                   strerror(-r));
                }

                if (GREEDY_REALLOC(ids, ids_cap, n + 1) < 0)
                        return -ENOMEM;
                ids[n++] = id;

                /* ", " before all but the first, and the NUL. */
                if (GREEDY_REALLOC(text, text_cap, text_len + len + 3) < 0)
                        return -ENOMEM;
                text_len += (size_t)sprintf(text + text_len, "%s%s", n > 1 ? ", " : "", token);
        }

        free(*ret_ids);
        *ret_ids = TAKE_PTR(ids);
        *ret_n = n;
        free(*ret_text);
        *ret_text = TAKE_PTR(text);
        return 0;
}

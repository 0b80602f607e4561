/* SPDX-License-Identifier: MIT */
/* The host's nameservers, for guests whose configuration says
 * dns_servers = auto. On a host with systemd-resolved, /etc/resolv.conf
 * usually names only the stub at 127.0.0.53, which a guest cannot reach
 * (it is the host's loopback); resolved keeps the servers it forwards to in
 * RESOLV_UPSTREAM_PATH, so that file is the fallback. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "resolv.h"

/* resolv.conf is a few hundred bytes; glibc itself reads no further than
 * the first few nameservers. What lies beyond this is ignored. */
#define RESOLV_FILE_MAX (64 * 1024)

#define BLANKS " \t\r\f\v"

static bool usable_v4(struct in_addr a)
{
        uint32_t h = ntohl(a.s_addr);

        return h != INADDR_ANY && (h >> 24) != 127 && !IN_MULTICAST(h);
}

static bool usable_v6(const struct in6_addr *a)
{
        if (IN6_IS_ADDR_V4MAPPED(a)) {
                struct in_addr v4;

                memcpy(&v4, &a->s6_addr[12], sizeof(v4));
                return usable_v4(v4);
        }
        return !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_MULTICAST(a) &&
               !IN6_IS_ADDR_LINKLOCAL(a);
}

/* One address, as glibc reads it: the word after "nameserver", ended by a
 * blank or a comment. */
static void add_server(const char *word, size_t len, struct guest_dns *dns)
{
        char text[INET6_ADDRSTRLEN];
        struct in6_addr a6;
        struct in_addr a4;

        /* "%zone": link-local scope on the host, meaningless to a guest. */
        if (len >= sizeof(text) || memchr(word, '%', len))
                return;
        memcpy(text, word, len);
        text[len] = '\0';

        if (inet_pton(AF_INET, text, &a4) == 1) {
                if (!usable_v4(a4) || dns->n_v4 >= GUEST_DNS_MAX)
                        return;
                for (size_t i = 0; i < dns->n_v4; i++)
                        if (dns->v4[i].s_addr == a4.s_addr)
                                return;
                dns->v4[dns->n_v4++] = a4;
        } else if (inet_pton(AF_INET6, text, &a6) == 1) {
                if (!usable_v6(&a6) || dns->n_v6 >= GUEST_DNS_MAX)
                        return;
                for (size_t i = 0; i < dns->n_v6; i++)
                        if (IN6_ARE_ADDR_EQUAL(&dns->v6[i], &a6))
                                return;
                dns->v6[dns->n_v6++] = a6;
        }
}

static void parse_line(const char *line, size_t len, struct guest_dns *dns)
{
        static const char keyword[] = "nameserver";
        const size_t klen = sizeof(keyword) - 1;
        const char *end = line + len;
        const char *p = line;
        size_t n;

        /* As glibc: the keyword starts the line, a blank follows it. */
        if ((size_t)(end - p) <= klen || memcmp(p, keyword, klen) != 0 || !strchr(BLANKS, p[klen]))
                return;
        p += klen;
        while (p < end && strchr(BLANKS, *p))
                p++;
        for (n = 0; p + n < end && !strchr(BLANKS "#;", p[n]); n++)
                ;
        if (n > 0)
                add_server(p, n, dns);
}

int resolv_parse(const char *text, struct guest_dns *ret)
{
        struct guest_dns dns = {};

        for (const char *p = text; *p;) {
                size_t len = strcspn(p, "\n");

                parse_line(p, len, &dns);
                p += len;
                if (*p == '\n')
                        p++;
        }

        memcpy(ret->v4, dns.v4, sizeof(dns.v4));
        ret->n_v4 = dns.n_v4;
        memcpy(ret->v6, dns.v6, sizeof(dns.v6));
        ret->n_v6 = dns.n_v6;
        return (int)(dns.n_v4 + dns.n_v6);
}

/* The file's text, NUL-terminated, at most RESOLV_FILE_MAX bytes of it. */
static int read_text(const char *path, char **ret_text)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        buf = malloc(RESOLV_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        while (n < RESOLV_FILE_MAX) {
                ssize_t k = read(fd, buf + n, RESOLV_FILE_MAX - n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        buf[n] = '\0';
        *ret_text = TAKE_PTR(buf);
        return 0;
}

/* Servers in path: their number, 0 for a missing file (*ret_exists
 * false), or -errno. */
static int load_one(const char *path, struct guest_dns *ret, bool *ret_exists)
{
        _cleanup_free_ char *text = NULL;
        int r = read_text(path, &text);

        *ret_exists = r != -ENOENT;
        if (r == -ENOENT) {
                *ret = (struct guest_dns){};
                return 0;
        }
        if (r < 0)
                return r;
        return resolv_parse(text, ret);
}

int resolv_load_auto_from(const char *path, const char *fallback_path, struct guest_dns *ret,
                          const char **ret_source)
{
        struct guest_dns dns;
        bool exists;
        int r;

        *ret_source = path;
        r = load_one(path, &dns, &exists);
        if (r == 0 && fallback_path) {
                r = load_one(fallback_path, &dns, &exists);
                /* A missing fallback is no news: name the first file. */
                if (r != 0 || exists)
                        *ret_source = fallback_path;
        }
        if (r < 0)
                return r;

        memcpy(ret->v4, dns.v4, sizeof(dns.v4));
        ret->n_v4 = dns.n_v4;
        memcpy(ret->v6, dns.v6, sizeof(dns.v6));
        ret->n_v6 = dns.n_v6;
        return r;
}

int resolv_load_auto(struct guest_dns *ret, const char **ret_source)
{
        return resolv_load_auto_from(RESOLV_CONF_PATH, RESOLV_UPSTREAM_PATH, ret, ret_source);
}

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
#include "config.h"
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

int config_parse_range(const char *value, unsigned min, unsigned max, unsigned *ret_low, unsigned *ret_high,
                       char **ret_msg)
{
        const char *dash = strchr(value, '-');
        _cleanup_free_ char *low_text = NULL;
        const char *high_text;
        unsigned low, high;
        size_t n;
        int r;

        if (!dash)
                return config_fail(ret_msg, "%s is not a range LOW-HIGH (two numbers joined by '-')", value);
        /* Blanks around the '-' are fine, "20000 - 29999" reads well. */
        n = (size_t)(dash - value);
        while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
                n--;
        high_text = dash + 1 + strspn(dash + 1, " \t");
        if (n == 0 || high_text[0] == '\0')
                return config_fail(ret_msg, "%s is not a range LOW-HIGH (two numbers joined by '-')", value);
        low_text = strndup(value, n);
        if (!low_text) {
                *ret_msg = NULL;
                return -ENOMEM;
        }
        /* A second '-' (a sign, or a third number) makes HIGH no number. */
        r = config_parse_number(low_text, min, max, &low, ret_msg);
        if (r < 0)
                return r;
        r = config_parse_number(high_text, min, max, &high, ret_msg);
        if (r < 0)
                return r;
        if (low > high)
                return config_fail(ret_msg, "%s: the low end %u is above the high end %u", value, low, high);
        *ret_low = low;
        *ret_high = high;
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

#define NETWORK_SEPARATORS ", \t"

int config_parse_networks(const char *value, struct config_network *ret, size_t *ret_n, char **ret_msg)
{
        struct config_network nets[CONFIG_ISOLATE_MAX];
        const char *p = value;
        size_t n = 0;

        for (;;) {
                char token[INET6_ADDRSTRLEN + 8];
                struct config_network *net = &nets[n];
                size_t len;
                int r;

                p += strspn(p, NETWORK_SEPARATORS);
                if (*p == '\0')
                        break;
                len = strcspn(p, NETWORK_SEPARATORS);
                if (n == CONFIG_ISOLATE_MAX)
                        return config_fail(ret_msg, "more than %u networks", CONFIG_ISOLATE_MAX);
                if (len >= sizeof(token))
                        return config_fail(ret_msg, "%.*s is not an IPv4 or IPv6 network", (int)len, p);
                memcpy(token, p, len);
                token[len] = '\0';
                *net = (struct config_network){.family = strchr(token, ':') ? AF_INET6 : AF_INET};
                r = config_parse_network(token, net->family, 0, net->family == AF_INET ? 32 : 128,
                                         &net->addr, &net->prefix_len, ret_msg);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        if (memcmp(&nets[i], net, sizeof(*net)) == 0)
                                return config_fail(ret_msg, "%s is named twice", token);
                n++;
                p += len;
        }
        memcpy(ret, nets, n * sizeof(*nets));
        *ret_n = n;
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

#define DNS_SEPARATORS ", \t"
#define DOMAIN_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"

static bool dns_word(const char *token, size_t len, const char *word)
{
        return strlen(word) == len && strncasecmp(token, word, len) == 0;
}

/* Why a guest could not use addr as its DNS server, or NULL. */
static const char *dns_address_problem(int family, const void *addr)
{
        if (family == AF_INET) {
                uint32_t a = ntohl(((const struct in_addr *)addr)->s_addr);

                if (a == INADDR_ANY)
                        return "the unspecified address";
                if ((a >> 24) == 127)
                        return "a loopback address (the guest's own, not the host's)";
                if (IN_MULTICAST(a))
                        return "a multicast address";
                return NULL;
        }
        if (IN6_IS_ADDR_V4MAPPED(addr))
                return dns_address_problem(AF_INET, (const uint8_t *)addr + 12);
        if (IN6_IS_ADDR_UNSPECIFIED(addr))
                return "the unspecified address";
        if (IN6_IS_ADDR_LOOPBACK(addr))
                return "a loopback address (the guest's own, not the host's)";
        if (IN6_IS_ADDR_MULTICAST(addr))
                return "a multicast address";
        return NULL;
}

static int add_dns_server(const char *token, struct guest_dns *dns, char **ret_msg)
{
        union {
                struct in_addr v4;
                struct in6_addr v6;
        } a;
        const char *problem;
        int family;

        if (inet_pton(AF_INET, token, &a.v4) == 1)
                family = AF_INET;
        else if (inet_pton(AF_INET6, token, &a.v6) == 1)
                family = AF_INET6;
        else if (strchr(token, '%'))
                return config_fail(ret_msg, "%s: a zone (%%...) means nothing on the guest's link", token);
        else
                return config_fail(ret_msg, "%s is not an IPv4 or IPv6 address", token);

        problem = dns_address_problem(family, &a);
        if (problem)
                return config_fail(ret_msg, "%s is %s", token, problem);

        if (family == AF_INET) {
                for (size_t i = 0; i < dns->n_v4; i++)
                        if (dns->v4[i].s_addr == a.v4.s_addr)
                                return config_fail(ret_msg, "%s is listed twice", token);
                if (dns->n_v4 >= GUEST_DNS_MAX)
                        return config_fail(ret_msg, "%s: more than %d IPv4 servers", token, GUEST_DNS_MAX);
                dns->v4[dns->n_v4++] = a.v4;
        } else {
                for (size_t i = 0; i < dns->n_v6; i++)
                        if (IN6_ARE_ADDR_EQUAL(&dns->v6[i], &a.v6))
                                return config_fail(ret_msg, "%s is listed twice", token);
                if (dns->n_v6 >= GUEST_DNS_MAX)
                        return config_fail(ret_msg, "%s: more than %d IPv6 servers", token, GUEST_DNS_MAX);
                dns->v6[dns->n_v6++] = a.v6;
        }
        return 0;
}

int config_parse_dns_servers(const char *value, bool *ret_auto, struct guest_dns *ret_dns, char **ret_msg)
{
        struct guest_dns dns = {};
        const char *p = value;
        bool is_auto = false, word = false;
        size_t n = 0;

        for (;;) {
                char token[INET6_ADDRSTRLEN + 64];
                size_t len;
                int r;

                p += strspn(p, DNS_SEPARATORS);
                if (*p == '\0')
                        break;
                len = strcspn(p, DNS_SEPARATORS);
                if (dns_word(p, len, "auto") || dns_word(p, len, "none")) {
                        is_auto = dns_word(p, len, "auto");
                        word = true;
                } else if (len >= sizeof(token)) {
                        return config_fail(ret_msg, "%.*s is not an IPv4 or IPv6 address", (int)len, p);
                } else {
                        memcpy(token, p, len);
                        token[len] = '\0';
                        r = add_dns_server(token, &dns, ret_msg);
                        if (r < 0)
                                return r;
                }
                n++;
                p += len;
        }

        if (n == 0)
                return config_fail(ret_msg, "no server (auto, none, or IPv4/IPv6 addresses)");
        if (word && n > 1)
                return config_fail(ret_msg, "%s: auto and none stand alone, without addresses", value);

        *ret_auto = is_auto;
        memcpy(ret_dns->v4, dns.v4, sizeof(dns.v4));
        ret_dns->n_v4 = dns.n_v4;
        memcpy(ret_dns->v6, dns.v6, sizeof(dns.v6));
        ret_dns->n_v6 = dns.n_v6;
        return 0;
}

int config_parse_domain(const char *value, char ret[static GUEST_DOMAIN_MAX + 1], char **ret_msg)
{
        size_t len = strlen(value);
        const char *p = value;

        if (len > 0 && value[len - 1] == '.')
                len--; /* the root's dot: implied anyway */
        if (len == 0 && value[0] != '\0')
                return config_fail(ret_msg, "%s is not a domain name (the root is no search domain)", value);
        if (len > GUEST_DOMAIN_MAX)
                return config_fail(ret_msg, "%s is too long (at most %d characters)", value,
                                   GUEST_DOMAIN_MAX);

        while (len > 0) {
                size_t label = strcspn(p, ".");

                if (p + label > value + len)
                        label = (size_t)(value + len - p);
                if (label == 0)
                        return config_fail(ret_msg, "%s is not a domain name (an empty label)", value);
                if (label > 63)
                        return config_fail(ret_msg, "%s: the label %.*s is longer than 63 characters", value,
                                           (int)label, p);
                for (size_t i = 0; i < label; i++)
                        if (!strchr(DOMAIN_CHARS, p[i]))
                                return config_fail(ret_msg,
                                                   "%s is not a domain name (letters, digits, '-' and dots)",
                                                   value);
                if (p[0] == '-' || p[label - 1] == '-')
                        return config_fail(ret_msg, "%s: the label %.*s begins or ends with '-'", value,
                                           (int)label, p);
                p += label;
                if (p >= value + len)
                        break;
                p++; /* the dot; a label must follow it */
        }

        memcpy(ret, value, len);
        ret[len] = '\0';
        return 0;
}

int config_parse_mac(const char *value, uint8_t ret[static 6], char **ret_msg)
{
        unsigned b[6];
        int n = 0;

        /* sscanf alone would take "1:2:3:4:5:6" and trailing text. */
        if (strlen(value) != 17 ||
            sscanf(value, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &n) != 6 ||
            n != 17)
                return config_fail(ret_msg, "%s is not a MAC address (xx:xx:xx:xx:xx:xx)", value);
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? value[i] != ':' : !isxdigit((unsigned char)value[i]))
                        return config_fail(ret_msg, "%s is not a MAC address (xx:xx:xx:xx:xx:xx)", value);
        if (b[0] & 1)
                return config_fail(ret_msg, "%s is a multicast address, not a device's own", value);
        for (size_t i = 0; i < 6; i++)
                ret[i] = (uint8_t)b[i];
        return 0;
}

int config_parse_ipv4_address(const char *value, struct in_addr *ret, char **ret_msg)
{
        struct in_addr a;

        if (inet_pton(AF_INET, value, &a) != 1)
                return config_fail(ret_msg, "%s is not an IPv4 address", value);
        *ret = a;
        return 0;
}

int config_check_clone_net(struct in_addr guest, struct in_addr gateway, unsigned prefix, char **ret_msg)
{
        uint32_t g = ntohl(guest.s_addr), gw = ntohl(gateway.s_addr);
        uint32_t mask = prefix == 0 ? 0 : ~0u << (32 - prefix);
        char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &guest, a, sizeof(a));
        inet_ntop(AF_INET, &gateway, b, sizeof(b));
        if (g == gw)
                return config_fail(ret_msg, "guest and gateway are both %s", a);
        if ((g & mask) != (gw & mask))
                return config_fail(ret_msg, "guest %s and gateway %s are not in one /%u", a, b, prefix);
        if ((g & ~mask) == 0 || (gw & ~mask) == 0 || (g | mask) == ~0u || (gw | mask) == ~0u)
                return config_fail(ret_msg,
                                   "guest %s or gateway %s is the network or broadcast address of its /%u",
                                   a, b, prefix);
        return 0;
}

int config_check_clone_pool_names(const char *ifname_prefix, unsigned pool, char **ret_msg)
{
        char name[32];
        int n = snprintf(name, sizeof(name), "%sp%u", ifname_prefix, pool);

        if (n > IFNAMSIZ - 1)
                return config_fail(ret_msg,
                                   "pool: %u namespaces need names up to %s, %d bytes; an interface name "
                                   "has at most %d (a shorter ifname_prefix)",
                                   pool, name, n, IFNAMSIZ - 1);
        return 0;
}

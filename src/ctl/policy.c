/* SPDX-License-Identifier: MIT */

/* taplinkctl's side of egress policy and published ports: the --allow and
 * --publish syntax (parsed here so that a typo is a usage error naming the
 * option, before anything is acquired), the commands egress, publish and
 * unpublish, and how a slot's policy is printed (taplinkctl(1)). */

#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "ctl.h"
#include "protocol.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(tl_client *, tl_client_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(tl_acquire_extra *, tl_acquire_extra_free)

static const char *protocol_name(const char *s, size_t len)
{
        if (len == 3 && strncmp(s, "tcp", 3) == 0)
                return "tcp";
        if (len == 3 && strncmp(s, "udp", 3) == 0)
                return "udp";
        return NULL;
}

/* 0 for a known mode, else the usage error naming what (an option or an
 * argument) and the value. */
static int check_egress_mode(const char *command, const char *what, const char *mode)
{
        if (taplinkd_egress_mode(mode) >= 0)
                return 0;
        return ctl_usage_error(command, "%s '%s': not one of none, host, public, internet", what, mode);
}

/* A port of 1..65535 from s[0..len). */
static int parse_port_number(const char *s, size_t len, unsigned *ret)
{
        char buf[8];

        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, len);
        buf[len] = 0;
        return parse_unsigned(buf, 1, 65535, ret) < 0 ? -EINVAL : 0;
}

#define FAIL(why)                 \
        do {                      \
                *ret_why = (why); \
                return -EINVAL;   \
        } while (0)

int parse_allow_spec(const char *s, struct allow_spec *ret, const char **ret_why)
{
        struct allow_spec a = {};
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);

        if (len == 0)
                FAIL("no destination");
        if (len >= sizeof(a.destination))
                FAIL("not an IPv4 or IPv6 address or prefix");
        memcpy(a.destination, s, len);
        if (!taplinkd_prefix_family(a.destination))
                FAIL("not an IPv4 or IPv6 address or prefix");
        if (comma) {
                const char *rest = comma + 1;
                const char *slash = strchr(rest, '/');
                if (!*rest)
                        FAIL("nothing after ','");
                if (!slash) {
                        a.protocol = protocol_name(rest, strlen(rest));
                        if (!a.protocol)
                                FAIL(strspn(rest, "0123456789") == strlen(rest)
                                         ? "a port needs a protocol: PORT/tcp or PORT/udp"
                                         : "expected PORT/tcp, PORT/udp, tcp or udp after ','");
                } else {
                        if (parse_port_number(rest, (size_t)(slash - rest), &a.port) < 0)
                                FAIL("the port is not a number 1..65535");
                        a.protocol = protocol_name(slash + 1, strlen(slash + 1));
                        if (!a.protocol)
                                FAIL("the protocol is not tcp or udp");
                }
        }
        *ret = a;
        return 0;
}

/* [ADDR:] of a --publish: the address into p, and the rest after it. */
static int parse_host_address(const char *s, size_t len, struct port_spec *p, const char **ret_rest,
                              const char **ret_why)
{
        unsigned char buf[sizeof(struct in6_addr)];
        const char *end = s + len;
        size_t colons = 0;

        for (const char *q = s; q < end; q++)
                colons += *q == ':';
        if (s[0] == '[') {
                const char *close = memchr(s, ']', len);
                size_t n = close ? (size_t)(close - s - 1) : 0;
                if (!close || close + 1 == end || close[1] != ':')
                        FAIL("expected [IPV6]:HOSTPORT:GUESTPORT");
                if (n == 0 || n >= sizeof(p->host_address))
                        FAIL("not an IPv6 address in brackets");
                memcpy(p->host_address, s + 1, n);
                p->host_address[n] = 0;
                if (inet_pton(AF_INET6, p->host_address, buf) != 1)
                        FAIL("not an IPv6 address in brackets");
                *ret_rest = close + 2;
                return 0;
        }
        if (colons == 1) {
                *ret_rest = s;
                return 0;
        }
        if (colons != 2)
                FAIL(colons == 0 ? "expected [ADDR:]HOSTPORT:GUESTPORT"
                                 : "an IPv6 address goes in brackets: [2001:db8::1]:8080:80");
        const char *colon = memchr(s, ':', len);
        size_t n = (size_t)(colon - s);
        if (n == 0 || n >= sizeof(p->host_address))
                FAIL("not an IPv4 address before HOSTPORT");
        memcpy(p->host_address, s, n);
        p->host_address[n] = 0;
        if (inet_pton(AF_INET, p->host_address, buf) != 1)
                FAIL("not an IPv4 address before HOSTPORT");
        *ret_rest = colon + 1;
        return 0;
}

int parse_port_spec(const char *s, struct port_spec *ret, const char **ret_why)
{
        struct port_spec p = {.protocol = "tcp"};
        const char *slash = strrchr(s, '/');
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        const char *rest;

        if (slash && !(p.protocol = protocol_name(slash + 1, strlen(slash + 1))))
                FAIL("the protocol is not tcp or udp");
        if (len == 0)
                FAIL("expected [ADDR:]HOSTPORT:GUESTPORT");
        if (parse_host_address(s, len, &p, &rest, ret_why) < 0)
                return -EINVAL;

        const char *colon = memchr(rest, ':', (size_t)(s + len - rest));
        if (!colon)
                FAIL("expected [ADDR:]HOSTPORT:GUESTPORT");
        if (parse_port_number(rest, (size_t)(colon - rest), &p.host_port) < 0)
                FAIL("the host port is not a number 1..65535");
        if (parse_port_number(colon + 1, (size_t)(s + len - colon - 1), &p.guest_port) < 0)
                FAIL("the guest port is not a number 1..65535");
        *ret = p;
        return 0;
}
#undef FAIL

void format_allow(const tl_allow *a, char *buf, size_t size)
{
        if (a->protocol && a->port)
                snprintf(buf, size, "%s,%u/%s", a->destination, a->port, a->protocol);
        else if (a->protocol)
                snprintf(buf, size, "%s,%s", a->destination, a->protocol);
        else
                snprintf(buf, size, "%s", a->destination);
}

void format_port(const tl_port *p, char *buf, size_t size)
{
        const char *addr = p->host_address;
        bool v6 = addr && strchr(addr, ':');

        snprintf(buf, size, "%s%s%s%s%u:%u/%s", v6 ? "[" : "", addr ? addr : "", v6 ? "]" : "",
                 addr ? ":" : "", p->host_port, p->guest_port, p->protocol ? p->protocol : "tcp");
}

tl_allow allow_spec_view(const struct allow_spec *a)
{
        return (tl_allow){.destination = a->destination, .protocol = a->protocol, .port = a->port};
}

tl_port port_spec_view(const struct port_spec *p)
{
        return (tl_port){.protocol = p->protocol,
                         .host_port = p->host_port,
                         .guest_port = p->guest_port,
                         .host_address = p->host_address[0] ? p->host_address : NULL};
}

/* ---- run and acquire ---- */

static int add_allow(const char *command, const char *arg, struct policy_args *p)
{
        struct allow_spec a;
        const char *why;

        if (parse_allow_spec(arg, &a, &why) < 0)
                return ctl_usage_error(command, "--allow '%s': %s", arg, why);
        if (p->allow.n >= TAPLINKD_ALLOW_MAX)
                return ctl_usage_error(command, "--allow '%s': at most %d --allow", arg, TAPLINKD_ALLOW_MAX);
        if (VEC_PUSH(&p->allow, a) < 0)
                return ctl_error(CTL_EXIT_REFUSED, command, "%s", strerror(ENOMEM));
        return 0;
}

int policy_option(const char *command, int option, const char *arg, struct policy_args *p)
{
        struct port_spec port;
        const char *why;
        int r;

        switch (option) {
        case CTL_OPT_EGRESS:
                r = check_egress_mode(command, "--egress", arg);
                if (r == 0)
                        p->egress = arg;
                return r;
        case CTL_OPT_ALLOW:
                return add_allow(command, arg, p);
        case CTL_OPT_PUBLISH:
                if (parse_port_spec(arg, &port, &why) < 0)
                        return ctl_usage_error(command, "--publish '%s': %s", arg, why);
                if (VEC_PUSH(&p->publish, port) < 0)
                        return ctl_error(CTL_EXIT_REFUSED, command, "%s", strerror(ENOMEM));
                return 0;
        case CTL_OPT_CLONE:
                p->clone = true;
                return 0;
        }
        return ctl_usage_error(command, "unknown option");
}

static void policy_args_done(struct policy_args *p)
{
        VEC_FREE(&p->allow);
        VEC_FREE(&p->publish);
}

void acquire_args_done(struct acquire_args *a)
{
        policy_args_done(&a->policy);
}

void policy_help(void)
{
        printf("  --egress MODE  what the guest may reach: none, host, public or internet\n"
               "                 (default: the daemon's default_egress)\n"
               "  --allow CIDR[,PORT/tcp|udp]  a destination allowed beyond MODE, e.g.\n"
               "                 203.0.113.7,443/tcp or 2001:db8::/32,udp (repeatable, at most %d)\n"
               "  --publish [ADDR:]HOSTPORT:GUESTPORT[/tcp|udp]  forward a host port to the\n"
               "                 guest (default tcp; an IPv6 ADDR in brackets; repeatable)\n"
               "  --clone        a clone slot: the TAP in a network namespace of its own,\n"
               "                 with the daemon's fixed [clone] addresses (taplinkd(8))\n",
               TAPLINKD_ALLOW_MAX);
}

static int make_extra(const struct policy_args *p, tl_acquire_extra **ret)
{
        _cleanup_(tl_acquire_extra_freep) tl_acquire_extra *x = NULL;
        int r = tl_acquire_extra_new(&x);

        if (r >= 0 && p->egress)
                r = tl_acquire_extra_set_egress(x, p->egress);
        if (r >= 0 && p->clone)
                r = tl_acquire_extra_set_clone(x, true);
        for (size_t i = 0; r >= 0 && i < p->allow.n; i++) {
                tl_allow a = allow_spec_view(&p->allow.items[i]);
                r = tl_acquire_extra_add_allow(x, &a);
        }
        for (size_t i = 0; r >= 0 && i < p->publish.n; i++) {
                tl_port port = port_spec_view(&p->publish.items[i]);
                r = tl_acquire_extra_add_publish(x, &port);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(x);
        return 0;
}

int ctl_acquire(tl_client *c, const struct acquire_args *a, tl_slot **ret)
{
        _cleanup_(tl_acquire_extra_freep) tl_acquire_extra *x = NULL;
        int r = make_extra(&a->policy, &x);

        if (r < 0)
                return r;
        return tl_acquire_full(c, &a->options, x, ret);
}

/* ---- egress, publish, unpublish ---- */

static void help_command(const char *command)
{
        if (strcmp(command, "egress") == 0)
                printf(
                    "Usage: taplinkctl [--socket PATH] egress SLOT MODE [--allow CIDR[,PORT/tcp|udp]]...\n"
                    "\n"
                    "Replace a live slot's egress policy: MODE (none, host, public or internet)\n"
                    "and the destinations allowed beyond it. Without --allow the slot has none.\n"
                    "Connections the new policy forbids stop at their next packet.\n"
                    "\n"
                    "Options:\n"
                    "  --allow CIDR[,PORT/tcp|udp]  a destination allowed beyond MODE, e.g.\n"
                    "                 203.0.113.7,443/tcp or 2001:db8::/32,udp (repeatable, at most %d)\n",
                    TAPLINKD_ALLOW_MAX);
        else
                printf("Usage: taplinkctl [--socket PATH] %s SLOT [ADDR:]HOSTPORT:GUESTPORT[/tcp|udp]\n"
                       "\n"
                       "%s a live slot's port: HOSTPORT on the host (on ADDR only, if given;\n"
                       "an IPv6 ADDR in brackets) forwarded to GUESTPORT of the guest. The protocol\n"
                       "is tcp unless /udp is given.\n"
                       "\n"
                       "Options:\n",
                       command, strcmp(command, "publish") == 0 ? "Publish" : "Withdraw");
        printf("  -h, --help     show this help\n");
}

/* Options anywhere among SLOT and the rest. Returns -1 after help, else an
 * exit status (0: go on, argv[optind] is SLOT). */
static int parse_command(const char *command, int argc, char **argv, struct policy_args *p)
{
        static const struct option options[] = {
            {"allow", required_argument, NULL, CTL_OPT_ALLOW},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        bool egress = strcmp(command, "egress") == 0;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":h", egress ? options : options + 1, NULL)) >= 0) {
                if (c == 'h') {
                        help_command(command);
                        return -1;
                }
                if (c != CTL_OPT_ALLOW)
                        return ctl_bad_option(command, argv, c);
                int r = add_allow(command, optarg, p);
                if (r != 0)
                        return r;
        }
        if (argc - optind < 2)
                return ctl_usage_error(command, "missing argument");
        if (argc - optind > 2)
                return ctl_usage_error(command, "unexpected argument '%s'", argv[optind + 2]);
        return 0;
}

int ctl_cmd_egress(struct ctl_options *o, int argc, char **argv)
{
        _cleanup_(tl_client_freep) tl_client *c = NULL;
        _cleanup_(policy_args_done) struct policy_args p = {};
        _cleanup_free_ tl_allow *allow = NULL;
        unsigned slot;

        int r = parse_command("egress", argc, argv, &p);
        if (r != 0)
                return r < 0 ? CTL_EXIT_OK : r;
        r = ctl_parse_slot("egress", argv[optind], &slot);
        if (r != 0)
                return r;
        const char *mode = argv[optind + 1];
        r = check_egress_mode("egress", "mode", mode);
        if (r != 0)
                return r;
        if (p.allow.n > 0 && !(allow = calloc(p.allow.n, sizeof(*allow))))
                return ctl_error(CTL_EXIT_REFUSED, "egress", "%s", strerror(ENOMEM));
        for (size_t i = 0; i < p.allow.n; i++)
                allow[i] = allow_spec_view(&p.allow.items[i]);
        r = ctl_connect(o, &c);
        if (r != 0)
                return r;
        r = tl_set_egress(c, slot, mode, allow, p.allow.n);
        if (r < 0)
                return ctl_call_failed("egress", c, r);
        return CTL_EXIT_OK;
}

static int port_command(const char *command, struct ctl_options *o, int argc, char **argv)
{
        _cleanup_(tl_client_freep) tl_client *c = NULL;
        _cleanup_(policy_args_done) struct policy_args p = {};
        struct port_spec port;
        const char *why;
        unsigned slot;

        int r = parse_command(command, argc, argv, &p);
        if (r != 0)
                return r < 0 ? CTL_EXIT_OK : r;
        r = ctl_parse_slot(command, argv[optind], &slot);
        if (r != 0)
                return r;
        if (parse_port_spec(argv[optind + 1], &port, &why) < 0)
                return ctl_usage_error(command, "SPEC '%s': %s", argv[optind + 1], why);
        r = ctl_connect(o, &c);
        if (r != 0)
                return r;
        tl_port view = port_spec_view(&port);
        r = strcmp(command, "publish") == 0 ? tl_publish(c, slot, &view) : tl_unpublish(c, slot, &view);
        if (r < 0)
                return ctl_call_failed(command, c, r);
        return CTL_EXIT_OK;
}

int ctl_cmd_publish(struct ctl_options *o, int argc, char **argv)
{
        return port_command("publish", o, argc, argv);
}

int ctl_cmd_unpublish(struct ctl_options *o, int argc, char **argv)
{
        return port_command("unpublish", o, argc, argv);
}

/* ---- output ---- */

/* Calls out() with egress, each allow entry and each publication, in the
 * syntax the options take; nothing for a daemon that reports no policy. */
static void each_policy_item(FILE *f, const tl_slot *s,
                             void (*out)(FILE *f, const char *what, size_t i, const char *text))
{
        const char *egress = tl_slot_egress(s);
        char buf[128];
        tl_allow a;
        tl_port p;

        if (!egress)
                return;
        out(f, "egress", 0, egress);
        for (size_t i = 0; tl_slot_allow_get(s, i, &a) == 0; i++) {
                format_allow(&a, buf, sizeof(buf));
                out(f, "allow", i, buf);
        }
        for (size_t i = 0; tl_slot_published_get(s, i, &p) == 0; i++) {
                format_port(&p, buf, sizeof(buf));
                out(f, "published", i, buf);
        }
}

static void out_block(FILE *f, const char *what, size_t i, const char *text)
{
        fprintf(f, "%s:%*s%s\n", what, (int)(14 - strlen(what)), "", text);
}

static void out_line(FILE *f, const char *what, size_t i, const char *text)
{
        if (i == 0)
                fprintf(f, "  %s %s", what, text);
        else
                fprintf(f, " %s", text);
}

void print_slot_policy(FILE *f, const tl_slot *s)
{
        each_policy_item(f, s, out_block);
}

void print_slot_policy_line(FILE *f, const tl_slot *s)
{
        if (!tl_slot_egress(s))
                return;
        each_policy_item(f, s, out_line);
        fputc('\n', f);
}

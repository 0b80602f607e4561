/* SPDX-License-Identifier: MIT */

/* taplinkctl: the command-line client of taplinkd (taplinkctl(1)). */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>

#include "ctl.h"
#include "protocol.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(tl_client *, tl_client_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(tl_slot *, tl_slot_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(tl_slot_list *, tl_slot_list_free)

/* The daemon's ranges for mtu and queues (protocol.h) are checked here too,
 * so that a typo is a usage error before anything is acquired. A label is
 * left to the daemon, whose InvalidParameter names it. */
#define DEFAULT_FIRST_FD 3

static void help(void)
{
        printf("Usage: taplinkctl [--socket PATH] [--json] COMMAND [ARG...]\n"
               "\n"
               "Ask taplinkd for per-sandbox network links: TAP devices with addresses,\n"
               "handed over as file descriptors.\n"
               "\n"
               "Commands:\n"
               "  run [OPTIONS] -- CMD [ARG...]  acquire a slot, pass its fds to CMD, exec CMD\n"
               "  acquire --persistent [OPTIONS] acquire a slot that lives until released\n"
               "  release SLOT                   delete a slot\n"
               "  list [--counters]              list the slots (your own unless root)\n"
               "  top                            per-slot rates, refreshed every second\n"
               "  status                         show the daemon's version and slot count\n"
               "  egress SLOT MODE [--allow ...] change a live slot's egress policy\n"
               "  publish SLOT SPEC              forward a host port to a live slot\n"
               "  unpublish SLOT SPEC            withdraw a published port\n"
               "  monitor                        print slot events as they happen\n"
               "\n"
               "Options:\n"
               "  --socket PATH  taplinkd's socket (default: $" TL_SOCKET_ENV ", else\n"
               "                 " TL_DEFAULT_SOCKET ")\n"
               "  --json         print the Varlink objects as JSON\n"
               "  -h, --help     show this help\n"
               "  --version      show the version\n"
               "\n"
               "'taplinkctl COMMAND --help' shows a command's options; see taplinkctl(1).\n"
               "Exit status: 0 ok, 1 refused by the daemon, 2 usage, 3 daemon not reachable.\n");
}

static void help_acquire(bool run)
{
        if (run)
                printf("Usage: taplinkctl [--socket PATH] run [OPTIONS] -- CMD [ARG...]\n"
                       "\n"
                       "Acquire a slot, put its TAP queue fds at N, N+1, ... (default 3), export\n"
                       "TAPLINK_* variables describing it and exec CMD. The slot lives as long as\n"
                       "CMD (or whatever it passes the fds to) keeps them open.\n");
        else
                printf("Usage: taplinkctl [--socket PATH] [--json] acquire --persistent [OPTIONS]\n"
                       "\n"
                       "Acquire a persistent slot, for VMMs that open a TAP device by name, and\n"
                       "print it. It stays until 'taplinkctl release SLOT'.\n");
        printf("\n"
               "Options:\n");
        if (!run)
                printf("  --persistent   required: the slot outlives this command\n");
        printf("  --label L      label the slot ([A-Za-z0-9%s], at most %d)\n"
               "  --mtu N        the device's MTU (%d..%d; default: the daemon's)\n"
               "  --queues N     number of queues, one fd each (%d..%d; default 1)\n"
               "  --no-vnet-hdr  open the device without IFF_VNET_HDR\n",
               TAPLINKD_LABEL_PUNCT, TAPLINKD_LABEL_MAX, TAPLINKD_MTU_MIN, TAPLINKD_MTU_MAX,
               TAPLINKD_QUEUES_MIN, TAPLINKD_QUEUES_MAX);
        if (run)
                printf("  --fd N         put the first fd at N (default 3)\n");
        policy_help();
        printf("  -h, --help     show this help\n");
}

static void help_simple(const char *command)
{
        if (strcmp(command, "release") == 0)
                printf("Usage: taplinkctl [--socket PATH] release SLOT\n"
                       "\n"
                       "Delete slot SLOT's device and addresses, even while a VMM holds its fds.\n"
                       "Only root may release another user's slot.\n");
        else if (strcmp(command, "list") == 0)
                printf("Usage: taplinkctl [--socket PATH] [--json] list [--counters]\n"
                       "\n"
                       "List the live slots: all of them for root, your own otherwise.\n"
                       "\n"
                       "  --counters     with each slot's traffic and drops (the guest's view)\n");
        else if (strcmp(command, "monitor") == 0)
                printf("Usage: taplinkctl [--socket PATH] [--json] monitor\n"
                       "\n"
                       "Print one line per slot event until interrupted: first 'existing' for\n"
                       "each slot (all for root, your own otherwise), then 'synced', then\n"
                       "'acquired', 'changed' and 'released' (with its reason) as they happen.\n"
                       "With --json, each event as the daemon sent it, one JSON object a line.\n"
                       "Ends with status 0 on SIGINT or SIGTERM, or when taplinkd closes the stream.\n");
        else
                printf("Usage: taplinkctl [--socket PATH] [--json] status\n"
                       "\n"
                       "Show the daemon's version, the slots in use and the maximum.\n");
        printf("\n"
               "Options:\n"
               "  -h, --help     show this help\n");
}

static int bad_number(const char *command, const char *option, const char *value, int r, unsigned min,
                      unsigned max)
{
        if (r == -ERANGE)
                return ctl_usage_error(command, "%s %s: out of range %u..%u", option, value, min, max);
        return ctl_usage_error(command, "%s '%s': not a decimal number", option, value);
}

enum {
        OPT_LABEL = 0x100,
        OPT_MTU,
        OPT_QUEUES,
        OPT_NO_VNET_HDR,
        OPT_FD,
        OPT_PERSISTENT,
        OPT_JSON,
        OPT_SOCKET,
        OPT_VERSION,
};

/* What getopt cannot check: the command of `run` and whether its fds fit
 * under the open file limit; `acquire` needs --persistent. Returns an exit
 * status (0: go on). */
static int check_acquire_args(const char *command, bool run, int argc, char **argv, struct acquire_args *a)
{
        if (run) {
                if (optind >= argc)
                        return ctl_usage_error(command, "no command given after '--'");
                a->command = argv + optind;

                /* Check now, before a slot is taken: the fds go to
                 * first..first+queues-1, and pass through as many numbers
                 * above that on the way. */
                struct rlimit rl;
                unsigned queues = a->options.queues ? a->options.queues : 1;
                if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                    (rlim_t)a->first_fd + 2 * queues > rl.rlim_cur)
                        return ctl_usage_error(command,
                                               "--fd %d with %u queue(s) exceeds the open file limit %llu",
                                               a->first_fd, queues, (unsigned long long)rl.rlim_cur);
        } else {
                if (optind < argc)
                        return ctl_usage_error(command, "unexpected argument '%s'", argv[optind]);
                if (!a->options.persistent)
                        return ctl_usage_error(command, "--persistent is required: any other slot would die "
                                                        "with this process (use 'run')");
        }
        return 0;
}

/* Returns -1 after printing help, else an exit status (0: go on). The
 * policy options go straight into ret->policy, which the caller frees with
 * acquire_args_done() (ret starts zeroed); the rest only on success. */
static int parse_acquire_args(const char *command, bool run, int argc, char **argv, struct ctl_options *o,
                              struct acquire_args *ret)
{
        static const struct option run_options[] = {
            {"label", required_argument, NULL, OPT_LABEL},
            {"mtu", required_argument, NULL, OPT_MTU},
            {"queues", required_argument, NULL, OPT_QUEUES},
            {"no-vnet-hdr", no_argument, NULL, OPT_NO_VNET_HDR},
            {"fd", required_argument, NULL, OPT_FD},
            {"egress", required_argument, NULL, CTL_OPT_EGRESS},
            {"allow", required_argument, NULL, CTL_OPT_ALLOW},
            {"publish", required_argument, NULL, CTL_OPT_PUBLISH},
            {"clone", no_argument, NULL, CTL_OPT_CLONE},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        static const struct option acquire_options[] = {
            {"label", required_argument, NULL, OPT_LABEL},
            {"mtu", required_argument, NULL, OPT_MTU},
            {"queues", required_argument, NULL, OPT_QUEUES},
            {"no-vnet-hdr", no_argument, NULL, OPT_NO_VNET_HDR},
            {"persistent", no_argument, NULL, OPT_PERSISTENT},
            {"json", no_argument, NULL, OPT_JSON},
            {"egress", required_argument, NULL, CTL_OPT_EGRESS},
            {"allow", required_argument, NULL, CTL_OPT_ALLOW},
            {"publish", required_argument, NULL, CTL_OPT_PUBLISH},
            {"clone", no_argument, NULL, CTL_OPT_CLONE},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct acquire_args a = {.first_fd = DEFAULT_FIRST_FD};
        unsigned u;
        int c, r;

        tl_acquire_options_init(&a.options);
        optind = 0;
        while ((c = getopt_long(argc, argv, "+:h", run ? run_options : acquire_options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help_acquire(run);
                        return -1;
                case OPT_LABEL:
                        a.options.label = optarg;
                        break;
                case OPT_MTU:
                        r = parse_unsigned(optarg, TAPLINKD_MTU_MIN, TAPLINKD_MTU_MAX, &u);
                        if (r < 0)
                                return bad_number(command, "--mtu", optarg, r, TAPLINKD_MTU_MIN,
                                                  TAPLINKD_MTU_MAX);
                        a.options.mtu = u;
                        break;
                case OPT_QUEUES:
                        r = parse_unsigned(optarg, TAPLINKD_QUEUES_MIN, TAPLINKD_QUEUES_MAX, &u);
                        if (r < 0)
                                return bad_number(command, "--queues", optarg, r, TAPLINKD_QUEUES_MIN,
                                                  TAPLINKD_QUEUES_MAX);
                        a.options.queues = u;
                        break;
                case OPT_NO_VNET_HDR:
                        a.options.vnet_header = 0;
                        break;
                case OPT_FD:
                        /* 0..2 are the command's stdio. */
                        r = parse_unsigned(optarg, 3, INT_MAX / 2, &u);
                        if (r < 0)
                                return bad_number(command, "--fd", optarg, r, 3, INT_MAX / 2);
                        a.first_fd = (int)u;
                        break;
                case OPT_PERSISTENT:
                        a.options.persistent = true;
                        break;
                case OPT_JSON:
                        o->json = true;
                        break;
                case CTL_OPT_EGRESS:
                case CTL_OPT_ALLOW:
                case CTL_OPT_PUBLISH:
                case CTL_OPT_CLONE:
                        r = policy_option(command, c, optarg, &ret->policy);
                        if (r != 0)
                                return r;
                        break;
                default:
                        return ctl_bad_option(command, argv, c);
                }
        }

        r = check_acquire_args(command, run, argc, argv, &a);
        if (r != 0)
                return r;
        a.policy = ret->policy;
        *ret = a;
        return 0;
}

static int cmd_run(struct ctl_options *o, int argc, char **argv)
{
        _cleanup_(acquire_args_done) struct acquire_args a = {};
        int r = parse_acquire_args("run", true, argc, argv, o, &a);
        if (r != 0)
                return r < 0 ? CTL_EXIT_OK : r;
        return ctl_run(o, &a);
}

static int cmd_acquire(struct ctl_options *o, int argc, char **argv)
{
        _cleanup_(tl_client_freep) tl_client *c = NULL;
        _cleanup_(tl_slot_freep) tl_slot *s = NULL;
        _cleanup_(acquire_args_done) struct acquire_args a = {};

        int r = parse_acquire_args("acquire", false, argc, argv, o, &a);
        if (r != 0)
                return r < 0 ? CTL_EXIT_OK : r;
        r = ctl_connect(o, &c);
        if (r != 0)
                return r;
        r = ctl_acquire(c, &a, &s);
        if (r < 0)
                return ctl_call_failed("acquire", c, r);
        /* The fds close with the slot object; the device is persistent. */
        if (o->json) {
                r = print_slot_json(stdout, s);
                if (r < 0)
                        return ctl_error(CTL_EXIT_REFUSED, "acquire", "%s", strerror(-r));
        } else
                print_slot(stdout, s);
        return finish_output("acquire");
}

/* For the commands without options of their own: -h, and --json for those
 * that print. Returns -1 after help, else an exit status. */
static int parse_simple(const char *command, int argc, char **argv, struct ctl_options *o, int n_args)
{
        static const struct option options[] = {
            {"json", no_argument, NULL, OPT_JSON},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        bool takes_json = strcmp(command, "release") != 0;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+:h", takes_json ? options : options + 1, NULL)) >= 0) {
                if (c == 'h') {
                        help_simple(command);
                        return -1;
                }
                if (c == OPT_JSON) {
                        o->json = true;
                        continue;
                }
                return ctl_bad_option(command, argv, c);
        }
        if (argc - optind < n_args)
                return ctl_usage_error(command, "missing argument");
        if (argc - optind > n_args)
                return ctl_usage_error(command, "unexpected argument '%s'", argv[optind + n_args]);
        return 0;
}

static int cmd_release(struct ctl_options *o, int argc, char **argv)
{
        _cleanup_(tl_client_freep) tl_client *c = NULL;
        unsigned slot;

        int r = parse_simple("release", argc, argv, o, 1);
        if (r != 0)
                return r < 0 ? CTL_EXIT_OK : r;
        r = ctl_parse_slot("release", argv[optind], &slot);
        if (r != 0)
                return r;
        r = ctl_connect(o, &c);
        if (r != 0)
                return r;
        r = tl_release(c, slot);
        if (r < 0)
                return ctl_call_failed("release", c, r);
        return CTL_EXIT_OK;
}

static int cmd_list(struct ctl_options *o, int argc, char **argv)
{
        _cleanup_(tl_client_freep) tl_client *c = NULL;
        _cleanup_(tl_slot_list_freep) tl_slot_list *l = NULL;
        bool counters = false;

        /* --counters may come anywhere among the options. */
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--counters") == 0) {
                        counters = true;
                        memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof(*argv));
                        argc--;
                        i--;
                }
        int r = parse_simple("list", argc, argv, o, 0);
        if (r != 0)
                return r < 0 ? CTL_EXIT_OK : r;
        r = ctl_connect(o, &c);
        if (r != 0)
                return r;
        r = tl_list_ex(c, counters ? TL_LIST_COUNTERS : 0, &l);
        if (r < 0)
                return ctl_call_failed("list", c, r);
        if (o->json) {
                r = print_slot_list_json(stdout, l);
                if (r < 0)
                        return ctl_error(CTL_EXIT_REFUSED, "list", "%s", strerror(-r));
        } else if (counters)
                print_counter_table(stdout, l);
        else
                print_slot_table(stdout, l);
        return finish_output("list");
}

static void help_top(void)
{
        printf("Usage: taplinkctl [--socket PATH] top [--interval SECONDS] [--iterations N]\n"
               "\n"
               "Show each slot's rates (bytes and packets per second the guest sent and\n"
               "received, drops per second), busiest first, refreshed every interval.\n"
               "Quit with q or Ctrl-C. Without a terminal, one table per refresh,\n"
               "separated by a blank line.\n"
               "\n"
               "Options:\n"
               "  --interval S   seconds between refreshes (0.1..3600; default 1)\n"
               "  --iterations N stop after N tables (default: until quit)\n"
               "  -h, --help     show this help\n");
}

/* Seconds, with at most three decimals, as milliseconds. */
static int parse_interval(const char *s, unsigned *ret_ms)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || *end || !(v >= 0.1 && v <= 3600))
                return -EINVAL;
        *ret_ms = (unsigned)(v * 1000 + 0.5);
        return 0;
}

static int cmd_top(struct ctl_options *o, int argc, char **argv)
{
        enum { OPT_INTERVAL = 0x200, OPT_ITERATIONS };
        static const struct option options[] = {
            {"interval", required_argument, NULL, OPT_INTERVAL},
            {"iterations", required_argument, NULL, OPT_ITERATIONS},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        unsigned interval_ms = 1000, iterations = 0;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help_top();
                        return finish_output(NULL);
                case OPT_INTERVAL:
                        if (parse_interval(optarg, &interval_ms) < 0)
                                return ctl_usage_error(
                                    "top", "--interval %s: not a number of seconds in 0.1..3600", optarg);
                        break;
                case OPT_ITERATIONS:
                        r = parse_unsigned(optarg, 1, UINT32_MAX, &iterations);
                        if (r < 0)
                                return bad_number("top", "--iterations", optarg, r, 1, UINT32_MAX);
                        break;
                default:
                        return ctl_bad_option("top", argv, c);
                }
        }
        if (argc > optind)
                return ctl_usage_error("top", "unexpected argument '%s'", argv[optind]);
        return ctl_top(o, interval_ms, iterations);
}

static int cmd_status(struct ctl_options *o, int argc, char **argv)
{
        _cleanup_(tl_client_freep) tl_client *c = NULL;
        tl_status st;

        int r = parse_simple("status", argc, argv, o, 0);
        if (r != 0)
                return r < 0 ? CTL_EXIT_OK : r;
        r = ctl_connect(o, &c);
        if (r != 0)
                return r;
        r = tl_status_get(c, &st);
        if (r < 0)
                return ctl_call_failed("status", c, r);
        if (o->json) {
                r = print_status_json(stdout, &st);
                if (r < 0)
                        return ctl_error(CTL_EXIT_REFUSED, "status", "%s", strerror(-r));
        } else
                print_status(stdout, &st);
        return finish_output("status");
}

static int cmd_monitor(struct ctl_options *o, int argc, char **argv)
{
        int r = parse_simple("monitor", argc, argv, o, 0);
        if (r != 0)
                return r < 0 ? CTL_EXIT_OK : r;
        return ctl_monitor(o);
}

static const struct {
        const char *name;
        int (*run)(struct ctl_options *o, int argc, char **argv);
} commands[] = {
    {"run", cmd_run},
    {"acquire", cmd_acquire},
    {"release", cmd_release},
    {"list", cmd_list},
    {"status", cmd_status},
    {"egress", ctl_cmd_egress},
    {"publish", ctl_cmd_publish},
    {"unpublish", ctl_cmd_unpublish},
    {"monitor", cmd_monitor},
    {"top", cmd_top},
};

int main(int argc, char **argv)
{
        static const struct option options[] = {
            {"socket", required_argument, NULL, OPT_SOCKET},
            {"json", no_argument, NULL, OPT_JSON},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, OPT_VERSION},
            {},
        };
        struct ctl_options o = {};
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return finish_output(NULL);
                case OPT_VERSION:
                        printf("taplinkctl %s\n", TAPLINK_VERSION);
                        return finish_output(NULL);
                case OPT_SOCKET:
                        if (!*optarg)
                                return ctl_usage_error(NULL, "--socket needs a path");
                        o.socket = optarg;
                        break;
                case OPT_JSON:
                        o.json = true;
                        break;
                default:
                        return ctl_bad_option(NULL, argv, c);
                }
        }
        if (optind >= argc)
                return ctl_usage_error(NULL, "no command given");

        const char *name = argv[optind];
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(name, commands[i].name) == 0)
                        /* The command sees itself as argv[0]. */
                        return commands[i].run(&o, argc - optind, argv + optind);
        return ctl_usage_error(NULL, "unknown command '%s'", name);
}

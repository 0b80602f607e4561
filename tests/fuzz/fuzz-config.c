/* SPDX-License-Identifier: MIT */
// MODULES: config config-print config-values slot
// MAX_LEN: 4096

/* config_load() over arbitrary file contents (a memfd, read back through
 * /proc/self/fd, so nothing touches the disk). Checked besides memory
 * safety:
 * - a refused file leaves the configuration exactly as it was, and says
 *   why as "path:line: message" or "path: message", on one line;
 * - an accepted one is consistent (effective_max_slots, interface names),
 *   and what config_print() makes of it is itself a valid configuration
 *   that loads back to the same text (what --check-config promises);
 * - the first and the last slot's names and subnets map back to the slot. */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "macro.h"
#include "slot.h"

static struct {
        int fd, fd_printed;
        char path[64], path_printed[64];
        char *defaults; /* config_print() of config_init() */
} fz;

static char *print_config(const struct config *c)
{
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        CHECK(f);
        config_print(c, f);
        CHECK(fclose(f) == 0);
        return text;
}

static void write_file(int fd, const void *data, size_t size)
{
        CHECK(ftruncate(fd, 0) == 0);
        CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
}

static void load_defaults(struct config *c)
{
        CHECK(config_init(c, NULL) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        struct config c;

        fz.fd = memfd_create("taplinkd.conf", MFD_CLOEXEC);
        fz.fd_printed = memfd_create("printed.conf", MFD_CLOEXEC);
        CHECK(fz.fd >= 0 && fz.fd_printed >= 0);
        snprintf(fz.path, sizeof(fz.path), "/proc/self/fd/%d", fz.fd);
        snprintf(fz.path_printed, sizeof(fz.path_printed), "/proc/self/fd/%d", fz.fd_printed);
        load_defaults(&c);
        fz.defaults = print_config(&c);
        config_done(&c);
        return 0;
}

static void check_error(const char *path, int r, const char *error)
{
        size_t n = strlen(path);

        CHECK(r == -EINVAL || r == -ENOMEM);
        if (r == -ENOMEM && !error)
                return;
        CHECK(error);
        CHECK(strncmp(error, path, n) == 0 && error[n] == ':');
        CHECK(!strchr(error, '\n'));
}

/* The derivations reconcile relies on invert each other (docs/DESIGN.md,
 * "Derivation"). */
static void check_slot(const struct config *c, unsigned slot)
{
        char name[IFNAMSIZ], ip_arg[128];
        struct slot_net4 n4;
        struct slot_net6 n6;
        unsigned back;

        CHECK(slot_ifname(c, slot, name) == 0);
        CHECK(slot_from_ifname(c, name, &back) == 0 && back == slot);
        slot_ipv4(c, slot, &n4);
        CHECK(n4.prefix_len == c->ipv4_prefix);
        CHECK(slot_from_ipv4_subnet(c, n4.subnet, &back) == 0 && back == slot);
        CHECK((ntohl(n4.guest.s_addr) & ntohl(n4.netmask.s_addr)) == ntohl(n4.subnet.s_addr));
        CHECK(n4.guest.s_addr != n4.gateway.s_addr);
        CHECK(slot_kernel_ip_arg(c, slot, ip_arg, sizeof(ip_arg)) == 0);
        if (c->ipv6) {
                slot_ipv6(c, slot, &n6);
                CHECK(n6.prefix_len == c->ipv6_prefix);
                CHECK(slot_from_ipv6_subnet(c, &n6.subnet, &back) == 0 && back == slot);
        }
}

static void check_consistent(const struct config *c)
{

        CHECK(c->effective_max_slots >= 1 && c->effective_max_slots <= c->max_slots);
        CHECK(c->effective_max_slots == slot_capacity(c));
        CHECK(c->ipv4_prefix >= c->ipv4_pool_prefix && c->ipv4_prefix <= 31);
        CHECK(c->ipv6_prefix >= c->ipv6_pool_prefix && c->ipv6_prefix <= 126);
        CHECK(!c->ipv6 || c->mtu >= CONFIG_IPV6_MIN_MTU);
        /* Every slot's name fits: the last one is the longest. */
        check_slot(c, 0);
        check_slot(c, c->effective_max_slots - 1);
        CHECK(c->socket_path && c->socket_path[0] == '/');
        CHECK(c->nft_table && c->nft_table[0]);
}

/* What config_print() writes loads back, and prints the same. */
static void check_round_trip(const char *text)
{
        _cleanup_free_ char *error = NULL, *again = NULL;
        struct config c;
        int r;

        write_file(fz.fd_printed, text, strlen(text));
        load_defaults(&c);
        r = config_load(&c, fz.path_printed, &error);
        if (r < 0)
                fprintf(stderr, "printed configuration does not load: %s\n--\n%s--\n", error, text);
        CHECK(r == 0);
        again = print_config(&c);
        if (strcmp(again, text) != 0)
                fprintf(stderr, "printed configuration changes on reload:\n--\n%s--\n%s--\n", text, again);
        CHECK(strcmp(again, text) == 0);
        config_done(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *error = NULL, *text = NULL;
        struct config c;
        int r;

        write_file(fz.fd, data, size);
        load_defaults(&c);
        r = config_load(&c, fz.path, &error);
        text = print_config(&c);
        if (r < 0) {
                check_error(fz.path, r, error);
                /* On any failure c keeps its previous values. */
                CHECK(strcmp(text, fz.defaults) == 0);
        } else {
                check_consistent(&c);
                check_round_trip(text);
        }
        config_done(&c);
        return 0;
}

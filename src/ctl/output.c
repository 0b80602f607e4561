/* SPDX-License-Identifier: MIT */

/* What taplinkctl prints: a block per slot, a table of slots, and the same
 * as JSON for scripts. */

#include <errno.h>
#include <pwd.h>
#include <string.h>

#include "ctl.h"
#include "json-util.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

/* The user name of uid into buf, or its number when it has none; true when
 * a name was found. A list is mostly one or two owners: one remembered
 * answer saves thousands of lookups. */
static bool owner_name(uid_t uid, char *buf, size_t size)
{
        static uid_t cached_uid = (uid_t)-1;
        static char cached[64];
        static bool cached_found;

        if (uid != cached_uid) {
                struct passwd pw, *result = NULL;
                char pwbuf[4096];
                cached_found = getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &result) == 0 && result &&
                               strlen(result->pw_name) < sizeof(cached);
                if (cached_found)
                        strcpy(cached, result->pw_name);
                else
                        snprintf(cached, sizeof(cached), "%u", (unsigned)uid);
                cached_uid = uid;
        }
        snprintf(buf, size, "%s", cached);
        return cached_found;
}

void print_slot(FILE *f, const tl_slot *s)
{
        char owner[64];
        const char *label = tl_slot_label(s);

        fprintf(f, "slot:          %u\n", tl_slot_number(s));
        fprintf(f, "ifname:        %s\n", tl_slot_ifname(s));
        fprintf(f, "label:         %s\n", *label ? label : "-");
        if (owner_name(tl_slot_owner_uid(s), owner, sizeof(owner)))
                fprintf(f, "owner:         %s (%u)\n", owner, (unsigned)tl_slot_owner_uid(s));
        else
                fprintf(f, "owner:         %s\n", owner);
        fprintf(f, "mac:           %s\n", tl_slot_mac(s));
        fprintf(f, "mtu:           %u\n", tl_slot_mtu(s));
        fprintf(f, "queues:        %u\n", tl_slot_queues(s));
        fprintf(f, "vnet header:   %s\n", tl_slot_vnet_header(s) ? "yes" : "no");
        fprintf(f, "persistent:    %s\n", tl_slot_persistent(s) ? "yes" : "no");
        for (tl_family fam = TL_IPV4; fam <= TL_IPV6; fam += TL_IPV6 - TL_IPV4) {
                const char *name = fam == TL_IPV4 ? "ipv4" : "ipv6";
                if (!tl_slot_has_net(s, fam)) {
                        fprintf(f, "%s:          -\n", name);
                        continue;
                }
                fprintf(f, "%s:          %s/%u (gateway %s)\n", name, tl_slot_guest(s, fam),
                        tl_slot_prefix_length(s, fam), tl_slot_gateway(s, fam));
        }
        fprintf(f, "kernel ip=:    %s\n", tl_slot_kernel_ip_arg(s));
        tl_clone cl;
        if (tl_slot_clone(s, &cl) >= 0)
                fprintf(f, "clone:         %s in %s, guest %s/%u (gateway %s)\n", cl.tap_name, cl.netns,
                        cl.guest, cl.prefix_length, cl.gateway);
        print_slot_policy(f, s);
}

enum { COL_SLOT, COL_IFNAME, COL_LABEL, COL_OWNER, COL_IPV4, COL_IPV6, COL_QUEUES, N_COLUMNS };

static const char *const column_titles[N_COLUMNS] = {"SLOT", "IFNAME", "LABEL", "OWNER",
                                                     "IPV4", "IPV6",   "QUEUES"};

struct row {
        char cells[N_COLUMNS][64];
};

static void fill_row(struct row *r, const tl_slot *s)
{
        const char *label = tl_slot_label(s);

        snprintf(r->cells[COL_SLOT], sizeof(r->cells[0]), "%u", tl_slot_number(s));
        snprintf(r->cells[COL_IFNAME], sizeof(r->cells[0]), "%s", tl_slot_ifname(s));
        snprintf(r->cells[COL_LABEL], sizeof(r->cells[0]), "%s", *label ? label : "-");
        owner_name(tl_slot_owner_uid(s), r->cells[COL_OWNER], sizeof(r->cells[0]));
        snprintf(r->cells[COL_IPV4], sizeof(r->cells[0]), "%s", tl_slot_guest(s, TL_IPV4));
        snprintf(r->cells[COL_IPV6], sizeof(r->cells[0]), "%s",
                 tl_slot_has_net(s, TL_IPV6) ? tl_slot_guest(s, TL_IPV6) : "-");
        snprintf(r->cells[COL_QUEUES], sizeof(r->cells[0]), "%u", tl_slot_queues(s));
}

static int compare_slots(const void *a, const void *b)
{
        unsigned x = tl_slot_number(*(const tl_slot *const *)a);
        unsigned y = tl_slot_number(*(const tl_slot *const *)b);
        return x < y ? -1 : x > y;
}

static void print_row(FILE *f, const char *const cells[N_COLUMNS], const size_t width[N_COLUMNS])
{
        for (size_t c = 0; c < N_COLUMNS; c++) {
                if (c + 1 == N_COLUMNS)
                        fprintf(f, "%s\n", cells[c]);
                else
                        fprintf(f, "%-*s  ", (int)width[c], cells[c]);
        }
}

void print_slot_table(FILE *f, const tl_slot_list *l)
{
        size_t n = tl_slot_list_size(l);
        size_t width[N_COLUMNS];
        _cleanup_free_ const tl_slot **sorted = calloc(n ? n : 1, sizeof(*sorted));
        _cleanup_free_ struct row *rows = calloc(n ? n : 1, sizeof(*rows));

        if (!sorted || !rows) {
                fprintf(stderr, "taplinkctl: list: %s\n", strerror(ENOMEM));
                return;
        }
        for (size_t i = 0; i < n; i++)
                sorted[i] = tl_slot_list_get(l, i);
        qsort(sorted, n, sizeof(*sorted), compare_slots);

        for (size_t c = 0; c < N_COLUMNS; c++)
                width[c] = strlen(column_titles[c]);
        for (size_t i = 0; i < n; i++) {
                fill_row(&rows[i], sorted[i]);
                for (size_t c = 0; c < N_COLUMNS; c++)
                        width[c] = MAX(width[c], strlen(rows[i].cells[c]));
        }

        print_row(f, column_titles, width);
        for (size_t i = 0; i < n; i++) {
                const char *cells[N_COLUMNS];
                for (size_t c = 0; c < N_COLUMNS; c++)
                        cells[c] = rows[i].cells[c];
                print_row(f, cells, width);
                print_slot_policy_line(f, sorted[i]);
        }
}

void print_status(FILE *f, const tl_status *st)
{
        fprintf(f, "version:       %s\n", st->version);
        fprintf(f, "slots in use:  %u\n", st->slots_in_use);
        fprintf(f, "max slots:     %u\n", st->max_slots);
}

static int print_json(FILE *f, json_object *o)
{
        const char *text = json_object_to_json_string_ext(o, JSON_FLAGS);
        if (!text)
                return -ENOMEM;
        fprintf(f, "%s\n", text);
        return 0;
}

/* The library hands out each slot's own JSON text; parse it back into an
 * object so that it can be pretty-printed or put in an array. */
static int slot_object(const tl_slot *s, json_object **ret)
{
        json_object *o = json_tokener_parse(tl_slot_json(s));
        if (!o)
                return -EBADMSG;
        *ret = o;
        return 0;
}

int print_slot_json(FILE *f, const tl_slot *s)
{
        _cleanup_json_ json_object *o = NULL;
        int r = slot_object(s, &o);
        if (r < 0)
                return r;
        return print_json(f, o);
}

int print_slot_list_json(FILE *f, const tl_slot_list *l)
{
        /* json-c would spread an empty array over two lines. */
        if (tl_slot_list_size(l) == 0) {
                fputs("[]\n", f);
                return 0;
        }
        _cleanup_json_ json_object *a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < tl_slot_list_size(l); i++) {
                json_object *o;
                int r = slot_object(tl_slot_list_get(l, i), &o);
                if (r < 0)
                        return r;
                if (json_object_array_add(a, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        return print_json(f, a);
}

int print_status_json(FILE *f, const tl_status *st)
{
        _cleanup_json_ json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        /* Members as the Varlink reply names them. */
        if (json_add(o, "version", json_object_new_string(st->version)) < 0 ||
            json_add(o, "slotsInUse", json_object_new_int64(st->slots_in_use)) < 0 ||
            json_add(o, "maxSlots", json_object_new_int64(st->max_slots)) < 0)
                return -ENOMEM;
        return print_json(f, o);
}

int finish_output(const char *command)
{
        if (fflush(stdout) != 0 || ferror(stdout))
                return ctl_error(CTL_EXIT_REFUSED, command, "cannot write output: %s", strerror(errno));
        return CTL_EXIT_OK;
}

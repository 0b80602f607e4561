/* SPDX-License-Identifier: MIT */
// MODULES: conntrack-build slot config config-values
// MAX_LEN: 128

/* What src/conntrack-build.c does with a dumped entry: the slot test
 * (conntrack_entry_slots()) and the request that deletes it
 * (conntrack_build_delete()), over entries whose every field comes from
 * the input: the family (any byte), which attributes are set, the protocol,
 * the four addresses, ports, zone and id. Checked: the slots are distinct
 * slots of the configuration and their guest address is in the entry; a
 * delete request fits CONNTRACK_MSG_MAX, carries the entry's family, and
 * libnetfilter_conntrack reads it back to the same original tuple.
 *
 * The entries are built with the library's setters, not parsed from raw
 * bytes: its parser (nfct_nlmsg_parse()) exit()s on an attribute whose
 * type or length it does not expect ("ctnetlink kernel ABI is broken"),
 * by design, so it can only be given what the kernel sends. The dump's
 * messages come from the kernel alone (src/ctnetlink.c); what the daemon
 * checks itself before the library sees a message, the length and type
 * in conntrack_parse_entry(), is unit-tested (tests/unit/test-conntrack.c).
 *
 * Input: family (0: AF_INET, 1: AF_INET6, else that byte), a mask of
 * what is set (bits: family, protocol, the four addresses, zone, id), the
 * protocol, 4 x 16 address bytes, zone (2), id (4), the two ports (2 + 2,
 * set for TCP and UDP). */

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <string.h>

#include "config.h"
#include "conntrack-build.h"
#include "fuzz.h"
#include "macro.h"
#include "slot.h"

#define INPUT_LEN (3 + 4 * 16 + 2 + 4 + 4)

static struct config config_v6, config_v4;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        char *warning = NULL, *error = NULL;

        CHECK(config_init(&config_v6, &warning) == 0 && config_finish(&config_v6, &error) == 0);
        free(warning);
        warning = NULL;
        CHECK(config_init(&config_v4, &warning) == 0);
        free(warning);
        config_v4.ipv6 = false;
        config_v4.ipv4_prefix = 31;
        CHECK(config_finish(&config_v4, &error) == 0);
        return 0;
}

static const enum nf_conntrack_attr addr4[] = {ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV4_DST, ATTR_REPL_IPV4_SRC,
                                               ATTR_REPL_IPV4_DST};
static const enum nf_conntrack_attr addr6[] = {ATTR_ORIG_IPV6_SRC, ATTR_ORIG_IPV6_DST, ATTR_REPL_IPV6_SRC,
                                               ATTR_REPL_IPV6_DST};

static struct nf_conntrack *make_entry(const uint8_t *in, int *ret_family)
{
        struct nf_conntrack *ct = nfct_new();
        int family = in[0] == 0 ? AF_INET : in[0] == 1 ? AF_INET6 : in[0];
        uint8_t mask = in[1];
        const uint8_t *addrs = in + 3, *rest = in + 3 + 4 * 16;
        uint16_t u16;
        uint32_t u32;

        CHECK(ct);
        if (mask & 1)
                nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, (uint8_t)family);
        if (mask & 2)
                nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, in[2]);
        for (int f = 0; f < 4; f++)
                if (mask & (4 << f))
                        nfct_set_attr(ct, family == AF_INET6 ? addr6[f] : addr4[f], addrs + 16 * f);
        memcpy(&u16, rest, 2);
        if (mask & 64)
                nfct_set_attr_u16(ct, ATTR_ZONE, u16);
        memcpy(&u32, rest + 2, 4);
        if (mask & 128)
                nfct_set_attr_u32(ct, ATTR_ID, u32);
        if (in[2] == IPPROTO_TCP || in[2] == IPPROTO_UDP) {
                memcpy(&u16, rest + 6, 2);
                nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, u16);
                memcpy(&u16, rest + 8, 2);
                nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, u16);
        }
        *ret_family = family;
        return ct;
}

/* The slot's guest address is one of the entry's. */
static bool guest_in_entry(const struct config *c, const struct nf_conntrack *ct, int family, unsigned slot)
{
        struct slot_net4 n4;
        struct slot_net6 n6;

        slot_ipv4(c, slot, &n4);
        slot_ipv6(c, slot, &n6);
        for (int f = 0; f < 4; f++) {
                if (family == AF_INET && nfct_attr_is_set(ct, addr4[f]) &&
                    memcmp(nfct_get_attr(ct, addr4[f]), &n4.guest, 4) == 0)
                        return true;
                if (family == AF_INET6 && c->ipv6 && nfct_attr_is_set(ct, addr6[f]) &&
                    memcmp(nfct_get_attr(ct, addr6[f]), &n6.guest, 16) == 0)
                        return true;
        }
        return false;
}

static void check_delete(const struct nf_conntrack *ct, int family)
{
        uint8_t buf[CONNTRACK_MSG_MAX + 64];
        struct nf_conntrack *back;
        struct nlmsghdr *del;
        int e;

        e = conntrack_build_delete(buf, ct, 1, &del);
        CHECK(e == 0 || e == -EINVAL);
        if (e < 0)
                return;
        CHECK(del->nlmsg_len <= CONNTRACK_MSG_MAX);
        CHECK(((const struct nfgenmsg *)mnl_nlmsg_get_payload(del))->nfgen_family == (uint8_t)family);
        if (family != AF_INET && family != AF_INET6)
                return; /* the library builds no address for another family */
        back = nfct_new();
        CHECK(back);
        CHECK(nfct_nlmsg_parse(del, back) >= 0);
        CHECK(nfct_cmp(ct, back, NFCT_CMP_ORIG | NFCT_CMP_MASK) == 1);
        nfct_destroy(back);
}

static void run(const struct config *c, const uint8_t *in)
{
        unsigned slots[_CONNTRACK_FIELD_MAX], n;
        int family;
        struct nf_conntrack *ct = make_entry(in, &family);

        n = conntrack_entry_slots(c, ct, slots);
        CHECK(n <= _CONNTRACK_FIELD_MAX);
        CHECK(n == 0 || nfct_attr_is_set(ct, ATTR_ORIG_L3PROTO));
        for (unsigned i = 0; i < n; i++) {
                CHECK(slots[i] < c->effective_max_slots);
                CHECK(guest_in_entry(c, ct, family, slots[i]));
                for (unsigned j = 0; j < i; j++)
                        CHECK(slots[i] != slots[j]);
        }
        check_delete(ct, family);
        nfct_destroy(ct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t in[INPUT_LEN] = {0};

        memcpy(in, data, MIN(size, sizeof(in)));
        run(&config_v6, in);
        run(&config_v4, in);
        return 0;
}

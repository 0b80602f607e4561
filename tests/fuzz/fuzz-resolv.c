/* SPDX-License-Identifier: MIT */
// MODULES: resolv
// MAX_LEN: 4096

/* resolv_parse() over arbitrary resolv.conf text (the bytes up to the
 * first NUL, in a buffer of exactly that size). Checked besides memory
 * safety:
 * - the count is what the lists hold, at most GUEST_DNS_MAX a family, and
 *   the search domain is untouched;
 * - no server is one a guest cannot use (loopback, unspecified, multicast,
 *   IPv6 link-local), none twice;
 * - the servers written back as "nameserver" lines parse to the same
 *   lists. */

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "macro.h"
#include "resolv.h"

#define SEARCH "untouched.example"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        return 0;
}

static bool usable_v4(struct in_addr a)
{
        uint32_t h = ntohl(a.s_addr);

        return h != 0 && (h >> 24) != 127 && (h >> 28) != 0xe;
}

static void check_servers(const struct guest_dns *dns, int n)
{
        CHECK(n >= 0);
        CHECK(dns->n_v4 <= GUEST_DNS_MAX && dns->n_v6 <= GUEST_DNS_MAX);
        CHECK((size_t)n == dns->n_v4 + dns->n_v6);
        CHECK(strcmp(dns->search, SEARCH) == 0);
        for (size_t i = 0; i < dns->n_v4; i++) {
                CHECK(usable_v4(dns->v4[i]));
                for (size_t k = 0; k < i; k++)
                        CHECK(dns->v4[k].s_addr != dns->v4[i].s_addr);
        }
        for (size_t i = 0; i < dns->n_v6; i++) {
                const struct in6_addr *a = &dns->v6[i];

                CHECK(!IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_LOOPBACK(a));
                CHECK(!IN6_IS_ADDR_MULTICAST(a) && !IN6_IS_ADDR_LINKLOCAL(a));
                if (IN6_IS_ADDR_V4MAPPED(a)) {
                        struct in_addr v4;

                        memcpy(&v4, &a->s6_addr[12], sizeof(v4));
                        CHECK(usable_v4(v4));
                }
                for (size_t k = 0; k < i; k++)
                        CHECK(!IN6_ARE_ADDR_EQUAL(&dns->v6[k], a));
        }
}

/* The servers as resolv.conf text parse back to themselves. */
static void check_written_back(const struct guest_dns *dns)
{
        char text[2 * GUEST_DNS_MAX * (sizeof("nameserver \n") + INET6_ADDRSTRLEN)];
        struct guest_dns again = {.search = SEARCH};
        size_t len = 0;

        text[0] = '\0';
        for (size_t i = 0; i < dns->n_v4 + dns->n_v6; i++) {
                len += (size_t)sprintf(text + len, "nameserver ");
                if (i < dns->n_v4)
                        CHECK(inet_ntop(AF_INET, &dns->v4[i], text + len, INET_ADDRSTRLEN));
                else
                        CHECK(inet_ntop(AF_INET6, &dns->v6[i - dns->n_v4], text + len, INET6_ADDRSTRLEN));
                len += strlen(text + len);
                text[len++] = '\n';
                text[len] = '\0';
        }
        CHECK(resolv_parse(text, &again) == (int)(dns->n_v4 + dns->n_v6));
        CHECK(again.n_v4 == dns->n_v4 && again.n_v6 == dns->n_v6);
        CHECK(memcmp(again.v4, dns->v4, dns->n_v4 * sizeof(dns->v4[0])) == 0);
        CHECK(memcmp(again.v6, dns->v6, dns->n_v6 * sizeof(dns->v6[0])) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *nul = memchr(data, '\0', size);
        size_t len = nul ? (size_t)(nul - data) : size;
        _cleanup_free_ char *text = malloc(len + 1);
        struct guest_dns dns;
        int n;

        CHECK(text);
        memcpy(text, data, len);
        text[len] = '\0';

        /* whatever was in the lists goes */
        memset(&dns, 0xAA, sizeof(dns));
        strcpy(dns.search, SEARCH);
        n = resolv_parse(text, &dns);
        check_servers(&dns, n);
        check_written_back(&dns);
        return 0;
}

/* SPDX-License-Identifier: MIT */
// MODULES: nft-parse nft-build nft-expr nft-elems nft-egress nft-publish publish egress slot config config-values
// MAX_LEN: 16384

/* nft_parse_elem_dump() and nft_parse_counter_dump() over an arbitrary
 * datagram, as nft_dump_elems() and nft_dump_counters() receive it from
 * the kernel. The bytes are copied into a buffer of
 * exactly their length (malloc's alignment suits struct nlmsghdr), so ASan
 * sees any read past the datagram. seq and portid 0 match every message.
 * Checked besides memory safety: the documented returns only, elements are
 * appended and never lost across datagrams, and every element returned is
 * one that could be ours: its set exists and nft_elem_key() accepts it;
 * every counter has a NUL-terminated, non-empty name. */

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "nft-internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        return 0;
}

static void check_elems(const struct nft_elem_list *l, size_t from)
{
        CHECK(l->n <= l->cap);
        for (size_t i = from; i < l->n; i++) {
                const struct nft_elem *e = &l->elems[i];
                uint8_t key[NFT_ELEM_KEY_MAX];

                CHECK(e->set < _NFT_SET_MAX);
                CHECK(strnlen(e->ifname, sizeof(e->ifname)) < sizeof(e->ifname));
                CHECK(nft_elem_key(e, key) > 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct nft_elem_list l = {0};
        uint8_t *buf = malloc(size ? size : 1);
        size_t before;
        int r;

        CHECK(buf);
        memcpy(buf, data, size);

        r = nft_parse_elem_dump(buf, size, 0, 0, &l);
        CHECK(r == 1 || r == 0 || r < 0);
        check_elems(&l, 0);

        /* The same datagram again, as the next one of the dump: what the
         * first call appended stays. */
        before = l.n;
        r = nft_parse_elem_dump(buf, size, 0, 0, &l);
        CHECK(l.n >= before);
        check_elems(&l, before);

        struct nft_counter_list c = {0};
        r = nft_parse_counter_dump(buf, size, 0, 0, &c);
        CHECK(r == 1 || r == 0 || r < 0);
        CHECK(c.n <= c.cap);
        for (size_t i = 0; i < c.n; i++) {
                size_t len = strnlen(c.items[i].ifname, sizeof(c.items[i].ifname));
                CHECK(len > 0 && len < sizeof(c.items[i].ifname));
        }
        free(c.items);

        free(l.elems);
        free(buf);
        return 0;
}

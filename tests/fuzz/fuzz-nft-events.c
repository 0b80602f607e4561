/* SPDX-License-Identifier: MIT */
// MODULES: nft-monitor nft-parse nft-build nft-expr nft-elems nft-egress nft-publish publish egress slot config config-values
// MAX_LEN: 16384

/* nft_parse_events() over an arbitrary datagram, as nft_monitor_process()
 * receives it from NFNLGRP_NFTABLES. The bytes are copied into a buffer of
 * exactly their length (malloc's alignment suits struct nlmsghdr), so ASan
 * sees any read past the datagram. Checked besides memory safety: the
 * documented returns only; a broken datagram reports nothing; every event
 * is one NFT_LOST_* bit with an object of its kind and a count of at least
 * one, and describes itself in a non-empty line; the events of the
 * messages from our own port are never reported (the datagram is parsed a
 * second time with the first message's port as ours). */

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "nft-internal.h"
#include "nft-monitor.h"

#define TABLE "taplinkd"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        return 0;
}

struct seen {
        size_t n;
};

static void check_event(const struct nft_event *ev, void *userdata)
{
        struct seen *s = userdata;
        char text[NFT_EVENT_DESCRIPTION_MAX];

        s->n++;
        switch (ev->what) {
        case NFT_LOST_TABLE:
        case NFT_LOST_EVENTS:
                CHECK(ev->object == -1);
                break;
        case NFT_LOST_CHAIN:
        case NFT_LOST_RULE:
                CHECK(nft_chain_name(ev->object) != NULL);
                break;
        case NFT_LOST_SET:
        case NFT_LOST_ELEMENTS:
                CHECK(nft_set_name(ev->object) != NULL);
                break;
        default:
                CHECK(!"an event of no known kind");
        }
        CHECK(ev->count >= 1);
        nft_event_describe(ev, TABLE, text, sizeof(text));
        CHECK(text[0] != '\0' && strlen(text) < sizeof(text));
}

/* How many messages of the datagram come from port pid. */
static size_t messages_from(const uint8_t *buf, size_t size, uint32_t pid)
{
        int rest = (int)size;
        size_t n = 0;

        for (const struct nlmsghdr *nlh = (const void *)buf; mnl_nlmsg_ok(nlh, rest);
             nlh = mnl_nlmsg_next(nlh, &rest))
                n += nlh->nlmsg_pid == pid;
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t *buf = malloc(size ? size : 1);
        struct seen all = {0}, others = {0};
        int r;

        CHECK(buf);
        memcpy(buf, data, size);

        r = nft_parse_events(buf, size, TABLE, 0, check_event, &all);
        CHECK(r == -EBADMSG || r >= 0);
        CHECK(r < 0 ? all.n == 0 : (size_t)r == all.n);

        if (r > 0 && size >= sizeof(struct nlmsghdr)) {
                uint32_t own = ((const struct nlmsghdr *)buf)->nlmsg_pid;
                int k = nft_parse_events(buf, size, TABLE, own, check_event, &others);
                CHECK(k >= 0 && (size_t)k == others.n);
                /* Ours are skipped, and only ours (port 0 is no one's). */
                if (own != 0)
                        CHECK(others.n + messages_from(buf, size, own) >= all.n);
                else
                        CHECK(others.n == all.n);
                CHECK(others.n <= all.n);
        }

        free(buf);
        return 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stddef.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "nft-internal.h"

/* The NAT inside a clone slot's namespace (docs/DESIGN.md, "Clone slots"):
 *
 *   table inet <table> {
 *     chain prerouting  { type nat hook prerouting priority dstnat; policy accept;
 *       meta nfproto ipv4 iif <uplink> dnat ip to <clone guest> }
 *     chain postrouting { type nat hook postrouting priority srcnat; policy accept;
 *       meta nfproto ipv4 ip saddr <clone guest> oif <uplink> masquerade }
 *   }
 *
 * Two fixed rules a namespace; conntrack undoes each for the replies. Nothing
 * in them names the slot (what arrives on the uplink is for the guest; what
 * the guest sends leaves as the uplink's one address, the slot's guest
 * address), so a namespace is made whole before it has a slot: the pool's
 * (docs/DESIGN.md, "The pool"). */

#define NAT_DSTNAT_PRIORITY (-100)
#define NAT_SRCNAT_PRIORITY 100

static const struct {
        const char *name;
        uint32_t hook;
        int32_t prio;
} clone_chains[] = {
    {"prerouting", NF_INET_PRE_ROUTING, NAT_DSTNAT_PRIORITY},
    {"postrouting", NF_INET_POST_ROUTING, NAT_SRCNAT_PRIORITY},
};

static int build_chain(struct nft_batch *b, const char *table, size_t i)
{
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();

        if (!c || nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table) < 0 ||
            nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, clone_chains[i].name) < 0 ||
            nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "nat") < 0)
                return -ENOMEM;
        nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
        nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, clone_chains[i].hook);
        nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, clone_chains[i].prio);
        nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
        nftnl_chain_nlmsg_build_payload(nft_batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE), c);
        return nft_batch_next(b);
}

static struct nftnl_expr *expr_immediate(uint32_t dreg, const void *data, uint32_t len)
{
        _cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("immediate");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
        if (nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len) < 0)
                return NULL;
        return TAKE_PTR(e);
}

static struct nftnl_rule *rule_new(const char *table, size_t chain)
{
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();

        if (!r || nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0 ||
            nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, clone_chains[chain].name) < 0)
                return NULL;
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
        return TAKE_PTR(r);
}

static void match_device(struct rule_builder *rb, uint32_t meta_key, uint32_t ifindex)
{
        nft_put_expr(rb, nft_expr_meta(meta_key, NFT_REG_1));
        nft_put_expr(rb, nft_expr_cmp_eq(NFT_REG_1, &ifindex, sizeof(ifindex)));
}

static int add_rule(struct nft_batch *b, struct rule_builder *rb)
{
        if (rb->oom)
                return -ENOMEM;
        nftnl_rule_nlmsg_build_payload(nft_batch_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND),
                                       rb->rule);
        return nft_batch_next(b);
}

/* Inbound: whatever arrives on the uplink is for the clone guest. */
static int build_dnat(struct nft_batch *b, const char *table, struct in_addr clone_guest, uint32_t uplink)
{
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = rule_new(table, 0);
        struct rule_builder rb = {.rule = r};

        if (!r)
                return -ENOMEM;
        nft_match_nfproto(&rb, NFPROTO_IPV4);
        match_device(&rb, NFT_META_IIF, uplink);
        nft_put_expr(&rb, expr_immediate(NFT_REG_1, &clone_guest, sizeof(clone_guest)));
        nft_put_expr(&rb, nft_expr_nat(NFT_NAT_DNAT, NFPROTO_IPV4, NFT_REG_1, 0));
        return add_rule(b, &rb);
}

/* Outbound: the clone guest leaves as the uplink's address. */
static int build_masquerade(struct nft_batch *b, const char *table, struct in_addr clone_guest,
                            uint32_t uplink)
{
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = rule_new(table, 1);
        struct rule_builder rb = {.rule = r};

        if (!r)
                return -ENOMEM;
        nft_match_nfproto(&rb, NFPROTO_IPV4);
        nft_put_expr(&rb,
                     nft_expr_payload_nh(NFT_REG_1, offsetof(struct iphdr, saddr), sizeof(clone_guest)));
        nft_put_expr(&rb, nft_expr_cmp_eq(NFT_REG_1, &clone_guest, sizeof(clone_guest)));
        match_device(&rb, NFT_META_OIF, uplink);
        nft_put_expr(&rb, nftnl_expr_alloc("masq"));
        return add_rule(b, &rb);
}

int nft_build_clone_nat(struct nft_batch *b, const char *table, struct in_addr clone_guest,
                        int uplink_ifindex)
{
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
        int r;

        if (!t || nftnl_table_set_str(t, NFTNL_TABLE_NAME, table) < 0)
                return -ENOMEM;
        nftnl_table_nlmsg_build_payload(nft_batch_msg(b, NFT_MSG_NEWTABLE, NLM_F_CREATE), t);
        r = nft_batch_next(b);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(clone_chains); i++)
                r = build_chain(b, table, i);
        if (r >= 0)
                r = build_dnat(b, table, clone_guest, (uint32_t)uplink_ifindex);
        if (r >= 0)
                r = build_masquerade(b, table, clone_guest, (uint32_t)uplink_ifindex);
        return r;
}

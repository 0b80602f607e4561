/* SPDX-License-Identifier: MIT */
/* libnftnl expressions, one constructor each, as nft 1.0.6 generates them
 * (nft-build.c, nft-egress.c, nft-publish.c and nft-clone.c put them
 * together into rules). Pure: nothing here touches a socket. */

#include <arpa/inet.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>

#include "macro.h"
#include "nft-internal.h"

/* Expressions go into the rule as they are made; a NULL (out of memory)
 * poisons the rule so that only the final check needs to look. */

void nft_put_expr(struct rule_builder *rb, struct nftnl_expr *e)
{
        if (!e) {
                rb->oom = true;
                return;
        }
        nftnl_rule_add_expr(rb->rule, e);
}

struct nftnl_expr *nft_expr_meta(uint32_t key, uint32_t dreg)
{
        struct nftnl_expr *e = nftnl_expr_alloc("meta");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
        return e;
}

struct nftnl_expr *nft_expr_cmp_eq(uint32_t sreg, const void *data, uint32_t len)
{
        _cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("cmp");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
        if (nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len) < 0)
                return NULL;
        return TAKE_PTR(e);
}

struct nftnl_expr *nft_expr_payload_nh(uint32_t dreg, uint32_t offset, uint32_t len)
{
        struct nftnl_expr *e = nftnl_expr_alloc("payload");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
        return e;
}

uint32_t nft_reg_at(uint32_t offset)
{
        return offset % 16 == 0 ? NFT_REG_1 + offset / 16 : NFT_REG32_00 + offset / 4;
}

struct nftnl_expr *nft_expr_cmp(uint32_t op, uint32_t sreg, const void *data, uint32_t len)
{
        struct nftnl_expr *e = nft_expr_cmp_eq(sreg, data, len);
        if (e)
                nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
        return e;
}

struct nftnl_expr *nft_expr_payload_th(uint32_t dreg, uint32_t offset, uint32_t len)
{
        struct nftnl_expr *e = nft_expr_payload_nh(dreg, offset, len);
        if (e)
                nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
        return e;
}

struct nftnl_expr *nft_expr_nat(uint32_t type, uint32_t family, uint32_t reg_addr, uint32_t reg_proto)
{
        struct nftnl_expr *e = nftnl_expr_alloc("nat");
        uint32_t flags = NF_NAT_RANGE_MAP_IPS;

        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, type);
        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, family);
        /* What the kernel dumps back (it fills in the maxima and the flags
         * that nft leaves out), so that the repair's comparison of the
         * rules finds them equal. */
        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg_addr);
        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX, reg_addr);
        if (reg_proto) {
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, reg_proto);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MAX, reg_proto);
                flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
        }
        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, flags);
        return e;
}

struct nftnl_expr *nft_expr_mask(uint32_t reg, const uint8_t *mask, uint32_t len)
{
        static const uint8_t zero[16];
        _cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
        if (nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len) < 0 ||
            nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len) < 0)
                return NULL;
        return TAKE_PTR(e);
}

struct nftnl_expr *nft_expr_lookup(uint32_t sreg, const char *set, uint32_t set_id, bool invert)
{
        _cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("lookup");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
        if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
        /* Like nft: no flags attribute unless inverted. */
        if (invert)
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
        return TAKE_PTR(e);
}

/* update @set { reg }: adds the key to a dynamic set, or finds it, and
 * runs the element's expressions (its counter). */
struct nftnl_expr *nft_expr_dynset_update(uint32_t sreg, const char *set, uint32_t set_id)
{
        _cleanup_(nftnl_expr_freep) struct nftnl_expr *e = nftnl_expr_alloc("dynset");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
        nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg);
        if (nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set) < 0)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, set_id);
        return TAKE_PTR(e);
}

struct nftnl_expr *nft_expr_verdict(uint32_t verdict)
{
        struct nftnl_expr *e = nftnl_expr_alloc("immediate");
        if (!e)
                return NULL;
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, verdict);
        return e;
}

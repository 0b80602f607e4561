/* SPDX-License-Identifier: MIT */
#pragma once

/* Behind nft.h: the pure builders and parsers (unit-tested and fuzzed
 * without a socket or privilege), and what the nft-*.c files share. The
 * manager includes nft.h only. */

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "macro.h"
#include "nft.h"

/* --- Pure parts, for unit tests and fuzzing: no socket, no privilege. --- */

/* NFT_MSG_DESTROYSETELEM from the kernel's uapi (6.3); Debian 12's headers
 * predate it. A distinct name, since newer headers declare it in an enum. */
#define NFT_MSG_DESTROYSETELEM_COMPAT 30

#define NFT_TABLE_NAME_MAX 256 /* NFT_NAME_MAXLEN, with the NUL */

/* One element of an anonymous constant interval set as nft sends it: the
 * start of a range, or with NFT_SET_ELEM_INTERVAL_END the first address
 * past it. An IPv4 key is the first 4 bytes. */
struct nft_anon_elem {
        uint8_t key[16];
        uint32_t flags;
};

/* [network] isolate as interval elements: a leading end at 0 when the
 * first range starts later, then start and end of each merged range (no
 * end for a range reaching the top of the address space). */
#define NFT_ISOLATE_ELEMS_MAX (2 * CONFIG_ISOLATE_MAX + 1)

/* What the ruleset depends on, copied out of the configuration. */
struct nft_layout {
        char table[NFT_TABLE_NAME_MAX];
        char ifname_prefix[IFNAMSIZ];
        unsigned ipv4_prefix; /* 1..31 */
        unsigned ipv6_prefix; /* 1..127 */
        bool masquerade;
        /* isolate, per family: one network is matched as nft matches a
         * prefix (isolate_one_*), more through an anonymous set. */
        size_t n_isolate_nets_v4, n_isolate_nets_v6;
        struct config_network isolate_one_v4, isolate_one_v6;
        struct nft_anon_elem isolate_v4[NFT_ISOLATE_ELEMS_MAX];
        size_t n_isolate_v4;
        struct nft_anon_elem isolate_v6[NFT_ISOLATE_ELEMS_MAX];
        size_t n_isolate_v6;
        /* What egress `public` never reaches, as interval elements. */
        struct nft_anon_elem deny_v4[NFT_ISOLATE_ELEMS_MAX];
        size_t n_deny_v4;
        struct nft_anon_elem deny_v6[NFT_ISOLATE_ELEMS_MAX];
        size_t n_deny_v6;
};

/* -EINVAL when the table name or prefix is empty or too long, or a prefix
 * length is out of range. */
int nft_layout_init(const struct config *c, struct nft_layout *ret);

enum nft_chain_id {
        NFT_CHAIN_INPUT,
        NFT_CHAIN_FORWARD,
        NFT_CHAIN_POSTROUTING,
        /* Published ports: type nat, priority dstnat, hooks prerouting
         * (from other hosts) and output (from the host itself). */
        NFT_CHAIN_PREROUTING,
        NFT_CHAIN_OUTPUT,
        _NFT_CHAIN_MAX,
};

const char *nft_chain_name(enum nft_chain_id id);

/* One nftables batch under construction (libnftnl's paged batch): a batch
 * begin, messages seq_begin+1 .. seq-1, each with NLM_F_ACK, and after
 * nft_batch_finish() a batch end. */
struct nftnl_batch;
struct nft_batch {
        struct nftnl_batch *pages;
        uint32_t seq_begin;
        uint32_t seq;         /* the next message's */
        uint32_t next_set_id; /* for sets created in this batch */
        size_t n_msgs;        /* messages between begin and end */
};

int nft_batch_start(struct nft_batch *b, uint32_t seq);
/* The header of the batch's next message, and what finishes it. */
struct nlmsghdr *nft_batch_msg(struct nft_batch *b, uint16_t type, uint16_t flags);
int nft_batch_next(struct nft_batch *b);
int nft_batch_finish(struct nft_batch *b);
void nft_batch_done(struct nft_batch *b);

/* Builders: each appends messages to b. type is the netlink message type
 * (NFT_MSG_NEWTABLE or NFT_MSG_DELTABLE; NFT_MSG_NEWSETELEM,
 * NFT_MSG_DELSETELEM or NFT_MSG_DESTROYSETELEM_COMPAT). */
int nft_build_table(struct nft_batch *b, const struct nft_layout *l, uint16_t type);
int nft_build_set(struct nft_batch *b, const struct nft_layout *l, enum nft_set_id id);
int nft_build_chain(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id);
/* The chain's rules (docs/DESIGN.md, "The nftables layout"), with the
 * anonymous set a rule needs. */
int nft_build_chain_rules(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id);
/* The elements, grouped by set, at most NFT_ELEMS_PER_MSG a message.
 * -EINVAL for an element of no set or a guests_* element without a valid
 * interface name. */
#define NFT_ELEMS_PER_MSG 256
int nft_build_elems(struct nft_batch *b, const struct nft_layout *l, uint16_t type, const struct nft_elem *e,
                    size_t n);

/* The element's set key: the address, or for guests_* the interface name
 * NUL-padded to IFNAMSIZ followed by the address (nft's concatenation: each
 * field padded to a 32-bit register). Returns the key length or -EINVAL. */
#define NFT_ELEM_KEY_MAX 40
int nft_elem_key(const struct nft_elem *e, uint8_t ret[NFT_ELEM_KEY_MAX]);

/* Parses one datagram of an NFT_MSG_GETSETELEM dump of our sets and appends
 * the elements to l (seq and portid 0 match anything; buf is aligned for
 * struct nlmsghdr). Returns 1 when more
 * datagrams follow, 0 at the end of the dump, the kernel's error from an
 * NLMSG_ERROR, -EINTR when the dump was interrupted (start again),
 * -EBADMSG for malformed input, -ENOMEM. */
struct nft_elem_list {
        struct nft_elem *elems;
        size_t n;
        size_t cap;
};
int nft_parse_elem_dump(const void *buf, size_t len, uint32_t seq, uint32_t portid, struct nft_elem_list *l);

/* The same for a dump of dropped_spoofed: each element's name and the
 * counter it carries (NFTA_SET_ELEM_EXPR or NFTA_SET_ELEM_EXPRESSIONS);
 * an element without a counter counts 0, one whose key cannot be an
 * interface name is skipped, and a message of another set is -EBADMSG. */
struct nft_counter_list {
        struct nft_counter *items;
        size_t n;
        size_t cap;
};
int nft_parse_counter_dump(const void *buf, size_t len, uint32_t seq, uint32_t portid,
                           struct nft_counter_list *l);

/* Whether buf holds whole netlink messages, each at least a header long
 * and none past the end. mnl_nlmsg_ok() in libmnl 1.0.4 compares the
 * length as an int, so a length above INT_MAX passes it and walks off the
 * buffer: every parser of untrusted datagrams checks this first. */
bool nft_nlmsgs_well_formed(const void *buf, size_t len);

/* An attribute table for mnl_attr_parse(): tb[type] for each attribute of
 * a type up to max. Unknown attributes are skipped (newer kernels add
 * some); known ones must have the shape types[] gives (MNL_TYPE_UNSPEC:
 * any), else the callback fails. */
struct nft_attr_table {
        const struct nlattr **tb;
        unsigned max;
        const enum mnl_attr_data_type *types;
};
int nft_attr_table_cb(const struct nlattr *attr, void *data);

/* --- Shared by the nft-*.c files. --- */

/* nft's set key types and what our sets look like. flags are the set's
 * NFT_SET_* flags; size (NFTA_SET_DESC_SIZE) and a counter on each element
 * only for dropped_spoofed. */
struct nft_set_desc {
        const char *name;
        uint32_t key_type;
        uint32_t key_len;
        bool concat;
        uint32_t flags;    /* NFT_SET_INTERVAL | NFT_SET_CONCAT for allow_*; NFT_SET_EVAL */
        uint8_t fields[4]; /* an interval concatenation's field lengths, 0-terminated */
        uint32_t size;     /* dropped_spoofed's */
        bool counter;      /* a counter per element */
        /* Maps (flags NFT_SET_MAP): the data's type and length. */
        uint32_t data_type;
        uint32_t data_len;
};

/* dropped_spoofed's size. A dynamic set that is full makes the dynset
 * expression break its rule, and the anti-spoofing drop after it would
 * not happen: so the set can never be full. It holds one element per
 * slot (CONFIG_MAX_SLOTS_LIMIT at most, whatever the configuration), and
 * the other half is room for names with the prefix that are not slots
 * (docs/DESIGN.md, "Counters"). A constant, so that the table's shape
 * does not follow max_slots. */
#define NFT_DROPPED_SPOOFED_SIZE (2 * CONFIG_MAX_SLOTS_LIMIT)
_Static_assert(NFT_DROPPED_SPOOFED_SIZE > CONFIG_MAX_SLOTS_LIMIT,
               "dropped_spoofed must hold more elements than there can be slots");
const struct nft_set_desc *nft_set_desc(enum nft_set_id id);
/* The set id of one of our set names, or -ENOENT. */
int nft_set_id_from_name(const char *name);

struct nft_chain_desc {
        const char *name;
        const char *type;
        uint32_t hook;
        int32_t prio;
};
const struct nft_chain_desc *nft_chain_desc(enum nft_chain_id id);
/* The chain id of one of our chain names, or -ENOENT. */
int nft_chain_id_from_name(const char *name);

/* { ::, fe80::/10 }, the addresses a guest may send from before it has
 * its own, as nft sends that anonymous set: an interval set of half-open
 * ranges [::, ::1) and [fe80::, fec0::), each end flagged. */
#define NFT_V6_EXEMPT_ELEMS 4
extern const struct nft_anon_elem nft_v6_exempt_elems[NFT_V6_EXEMPT_ELEMS];
/* Anonymous sets are named by the kernel: "__set<number>". */
#define NFT_ANON_SET_PREFIX "__set"
#define ANON_SET_NAME NFT_ANON_SET_PREFIX "%d" /* the kernel picks the number */

/* IPv4 and IPv6 header offsets of the source and destination address. */
#define IP_SADDR 12
#define IP_DADDR 16
#define IP6_SADDR 8
#define IP6_DADDR 24

/* Named sets get ids 1.._NFT_SET_MAX in every batch, so that rules can
 * refer to a set created in the same batch; anonymous sets count on from
 * there. */
uint32_t nft_named_set_id(enum nft_set_id id);

/* Expressions go into the rule as they are made; a NULL (out of memory)
 * poisons the rule so that only the final check needs to look. The
 * constructors are in nft-expr.c. */
struct rule_builder {
        struct nftnl_rule *rule;
        bool oom;
};
void nft_put_expr(struct rule_builder *rb, struct nftnl_expr *e);
struct nftnl_expr *nft_expr_meta(uint32_t key, uint32_t dreg);
struct nftnl_expr *nft_expr_cmp_eq(uint32_t sreg, const void *data, uint32_t len);
struct nftnl_expr *nft_expr_payload_nh(uint32_t dreg, uint32_t offset, uint32_t len);
struct nftnl_expr *nft_expr_mask(uint32_t reg, const uint8_t *mask, uint32_t len);
struct nftnl_expr *nft_expr_lookup(uint32_t sreg, const char *set, uint32_t set_id, bool invert);
struct nftnl_expr *nft_expr_verdict(uint32_t verdict);
/* update @set { sreg } (a dynamic set's element and its counter) */
struct nftnl_expr *nft_expr_dynset_update(uint32_t sreg, const char *set, uint32_t set_id);
/* meta nfproto <nfproto> (nft's guard before a network-header load) */
void nft_match_nfproto(struct rule_builder *rb, uint8_t nfproto);
/* iifname "<prefix>*" */
void nft_match_ifname_prefix(struct rule_builder *rb, const struct nft_layout *l);

/* Our rules, in the order their chain holds them. */
/* Each anti-spoofing rule counts what it drops in dropped_spoofed before
 * the drop: `update @dropped_spoofed { iifname }` (written "count" here). */
enum nft_rule_kind {
        NFT_RULE_ANTISPOOF_V4,      /* iifname "tl*" iifname . ip saddr != @guests_v4 count drop */
        NFT_RULE_ANTISPOOF_V6_HOST, /* ... ip6 saddr != { ::, fe80::/10 } iifname . ip6 saddr != @guests_v6
                                       count drop */
        NFT_RULE_ANTISPOOF_V6,      /* iifname "tl*" iifname . ip6 saddr != @guests_v6 count drop */
        NFT_RULE_ISOLATE_V4,        /* ip saddr & m @slots_v4 ip daddr & m @slots_v4 drop */
        NFT_RULE_ISOLATE_V6,
        NFT_RULE_ISOLATE_DST_V4, /* iifname "tl*" ip daddr <isolate> drop (a prefix, or { set }) */
        NFT_RULE_ISOLATE_DST_V6,
        NFT_RULE_MASQUERADE, /* ip saddr & m @slots_v4 ip daddr & m != @slots_v4 masquerade */

        /* The egress policy (docs/DESIGN.md, "Egress policy"), input: */
        NFT_RULE_EGRESS_FIRST,
        NFT_RULE_EGRESS_HOST = NFT_RULE_EGRESS_FIRST, /* iifname "tl*" iifname != @egress_none accept */
        NFT_RULE_EGRESS_ND,                           /* iifname "tl*" icmpv6 type 135-136 accept */
        /* forward: */
        NFT_RULE_EGRESS_INTERNET,  /* iifname "tl*" iifname @egress_internet accept */
        NFT_RULE_EGRESS_PUBLIC_V4, /* ... iifname @egress_public ip daddr != { <deny> } accept */
        NFT_RULE_EGRESS_PUBLIC_V6,
        /* both: */
        NFT_RULE_EGRESS_ALLOW_V4,       /* iifname "tl*" iifname . ip daddr @allow_v4 accept */
        NFT_RULE_EGRESS_ALLOW_PROTO_V4, /* ... iifname . ip daddr . meta l4proto @allow_proto_v4 accept */
        NFT_RULE_EGRESS_ALLOW_PORT_V4,  /* ... . meta l4proto . th dport @allow_port_v4 accept */
        NFT_RULE_EGRESS_ALLOW_V6,
        NFT_RULE_EGRESS_ALLOW_PROTO_V6,
        NFT_RULE_EGRESS_ALLOW_PORT_V6,
        NFT_RULE_EGRESS_REPLY, /* iifname "tl*" ct direction reply accept */
        NFT_RULE_EGRESS_DROP,  /* iifname "tl*" drop */

        /* Published ports (docs/DESIGN.md, "Published ports"), in
         * prerouting and output alike: */
        NFT_RULE_PUBLISH_V4,     /* fib daddr type local ip daddr != 127.0.0.0/8
                                    dnat ip to ip daddr . meta l4proto . th dport map @published_v4 */
        NFT_RULE_PUBLISH_ANY_V4, /* fib daddr type local meta nfproto ipv4 ip daddr != 127.0.0.0/8
                                    dnat ip to meta l4proto . th dport map @published_any_v4 */
        NFT_RULE_PUBLISH_V6,     /* the same with ip6 daddr != ::1 */
        NFT_RULE_PUBLISH_ANY_V6,
};
#define NFT_RULES_MAX 24

/* update @set { iifname }: counts the packet in a dropped_* set. */
void nft_count_drop(struct rule_builder *rb, enum nft_set_id set);

/* The egress policy's rules (nft-egress.c): the kinds from
 * NFT_RULE_EGRESS_FIRST on. */
void nft_egress_rule(struct rule_builder *rb, const struct nft_layout *l, enum nft_rule_kind kind,
                     uint32_t anon_id);
/* The `public` deny list into l->deny_*. */
int nft_egress_layout_init(struct nft_layout *l);
/* An egress element's key, and for allow_* its key end (the last address;
 * the same protocol and port). Returns the key length or -EINVAL. */
int nft_egress_elem_key(const struct nft_elem *e, uint8_t key[NFT_ELEM_KEY_MAX],
                        uint8_t key_end[NFT_ELEM_KEY_MAX]);
/* The inverse, for the dump parser (key_end NULL when the dump had none). */
bool nft_egress_elem_from_key(enum nft_set_id set, const uint8_t *key, const uint8_t *key_end, size_t len,
                              struct nft_elem *ret);

/* The published-port rules (nft-publish.c): the NFT_RULE_PUBLISH_* kinds. */
void nft_publish_rule(struct rule_builder *rb, enum nft_rule_kind kind);
/* A published_* element's key and map data. Return their lengths or
 * -EINVAL. */
int nft_publish_elem_key(const struct nft_elem *e, uint8_t key[NFT_ELEM_KEY_MAX]);
int nft_publish_elem_data(const struct nft_elem *e, uint8_t data[NFT_ELEM_KEY_MAX]);
/* The inverse, for the dump parser (data NULL when the dump had none:
 * then false). */
bool nft_publish_elem_from_key(enum nft_set_id set, const uint8_t *key, size_t len, const uint8_t *data,
                               size_t data_len, struct nft_elem *ret);

/* The register a concatenation's field at byte offset starts in: nft names
 * a 16-byte-aligned one by its 128-bit register. */
uint32_t nft_reg_at(uint32_t offset);
struct nftnl_expr *nft_expr_payload_th(uint32_t dreg, uint32_t offset, uint32_t len);
struct nftnl_expr *nft_expr_cmp(uint32_t op, uint32_t sreg, const void *data, uint32_t len);
/* snat/dnat (NFT_NAT_*) of family to the address in reg_addr and, with
 * reg_proto non-zero, the port in reg_proto. */
struct nftnl_expr *nft_expr_nat(uint32_t type, uint32_t family, uint32_t reg_addr, uint32_t reg_proto);

/* The kinds of the chain's rules, in order; returns how many. */
size_t nft_chain_rule_kinds(const struct nft_layout *l, enum nft_chain_id id,
                            enum nft_rule_kind ret[NFT_RULES_MAX]);
/* One rule; anon_id is the batch id of its anonymous set, if it has one. */
int nft_rule_new(const struct nft_layout *l, enum nft_chain_id chain, enum nft_rule_kind kind,
                 uint32_t anon_id, struct nftnl_rule **ret);
bool nft_rule_needs_anon_set(const struct nft_layout *l, enum nft_rule_kind kind);
/* The elements of the anonymous set of a rule that needs one, and their
 * key length (4 or 16). Returns how many. */
size_t nft_rule_anon_elems(const struct nft_layout *l, enum nft_rule_kind kind,
                           const struct nft_anon_elem **ret, uint32_t *ret_key_len);
/* The networks of one family as interval elements (see
 * NFT_ISOLATE_ELEMS_MAX): sorted, overlapping and adjacent ones merged.
 * Returns how many. */
size_t nft_networks_to_intervals(const struct config_network *nets, size_t n, int family,
                                 struct nft_anon_elem ret[static NFT_ISOLATE_ELEMS_MAX]);

/* A set object of our table with this name, for requests. */
struct nftnl_set *nft_set_new(const struct nft_layout *l, const char *name);

/* Deletions for the repair: a set, a chain, or every rule of a chain. */
int nft_build_set_del(struct nft_batch *b, const struct nft_layout *l, const char *name);
int nft_build_chain_del(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id);
int nft_build_chain_flush(struct nft_batch *b, const struct nft_layout *l, enum nft_chain_id id);

/* NFT_MSG_DESTROYSETELEM of one element of a set that cannot exist (an
 * empty name): what nft_open() asks to learn whether the kernel has it. */
int nft_build_destroy_probe(struct nft_batch *b, const struct nft_layout *l);

/* The NAT table inside a clone slot's namespace (nft-clone.c): what
 * arrives on the uplink goes to clone_guest, what clone_guest sends out of
 * it is masqueraded. Names no slot. */
int nft_build_clone_nat(struct nft_batch *b, const char *table, struct in_addr clone_guest,
                        int uplink_ifindex);

/* nft.c's socket, for nft-ruleset.c. */
#define NFT_DUMP_RETRIES 8
const struct nft_layout *nft_layout(const struct nft *n);
/* A batch numbered after the socket's last message. */
int nft_batch_begin(struct nft *n, struct nft_batch *b);
/* Finishes b, sends it, and returns the first error among the answers. */
int nft_batch_commit(struct nft *n, struct nft_batch *b);
/* The header of a request (a dump or a get) in buf, with the next sequence
 * number. */
struct nlmsghdr *nft_request_hdr(struct nft *n, void *buf, uint16_t type, uint16_t flags);
/* Sends req and feeds every message of the answer to cb (libnftnl's
 * *_nlmsg_parse() callbacks); returns 0, cb's error or the kernel's. */
int nft_request_objects(struct nft *n, const struct nlmsghdr *req, mnl_cb_t cb, void *data);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_table *, nftnl_table_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_chain *, nftnl_chain_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set *, nftnl_set_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set_elem *, nftnl_set_elem_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_expr *, nftnl_expr_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_udata_buf *, nftnl_udata_buf_free);

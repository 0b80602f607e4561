/* SPDX-License-Identifier: MIT */
/* The ruleset's repair: what the kernel holds of our table is loaded
 * (ruleset_state_load), compared with what it should hold (ruleset_plan:
 * sets by type, chains by hook and priority, rules expression by
 * expression) and only what differs is rewritten, in one batch
 * (ruleset_build). nft_restore() adds every live element to that batch,
 * for the firewall's self-healing (docs/DESIGN.md, "The firewall heals
 * itself"). */

#include <arpa/inet.h>
#include <string.h>

#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "macro.h"
#include "nft-internal.h"

/* What the kernel holds of our table. */
struct ruleset_state {
        bool table_exists;
        uint32_t table_flags;
        struct nftnl_set_list *sets; /* all of the table's, anonymous ones too */
        struct nftnl_chain *chains[_NFT_CHAIN_MAX];
        struct nftnl_rule_list *rules[_NFT_CHAIN_MAX];
        bool foreign_rules[_NFT_CHAIN_MAX]; /* rules libnftnl cannot parse */
        const char *table;
};

static void ruleset_state_done(struct ruleset_state *s)
{
        if (s->sets)
                nftnl_set_list_free(s->sets);
        for (int i = 0; i < _NFT_CHAIN_MAX; i++) {
                if (s->chains[i])
                        nftnl_chain_free(s->chains[i]);
                if (s->rules[i])
                        nftnl_rule_list_free(s->rules[i]);
        }
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
        struct ruleset_state *s = data;
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
        if (!t)
                return MNL_CB_ERROR;
        if (nftnl_table_nlmsg_parse(nlh, t) < 0) {
                errno = EBADMSG;
                return MNL_CB_ERROR;
        }
        s->table_exists = true;
        s->table_flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
        return MNL_CB_OK;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
        struct ruleset_state *s = data;
        _cleanup_(nftnl_set_freep) struct nftnl_set *set = nftnl_set_alloc();
        if (!set)
                return MNL_CB_ERROR;
        if (nftnl_set_nlmsg_parse(nlh, set) < 0) {
                errno = EBADMSG;
                return MNL_CB_ERROR;
        }
        nftnl_set_list_add_tail(TAKE_PTR(set), s->sets);
        return MNL_CB_OK;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
        struct ruleset_state *s = data;
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
        if (!c)
                return MNL_CB_ERROR;
        if (nftnl_chain_nlmsg_parse(nlh, c) < 0) {
                errno = EBADMSG;
                return MNL_CB_ERROR;
        }
        const char *table = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
        const char *name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
        if (!table || !name || strcmp(table, s->table) != 0)
                return MNL_CB_OK;
        int id = nft_chain_id_from_name(name);
        if (id < 0)
                return MNL_CB_OK;
        if (s->chains[id])
                nftnl_chain_free(s->chains[id]);
        s->chains[id] = TAKE_PTR(c);
        return MNL_CB_OK;
}

static int rule_attr_cb(const struct nlattr *attr, void *data)
{
        const struct nlattr **tb = data;
        unsigned type = mnl_attr_get_type(attr);

        if ((type == NFTA_RULE_TABLE || type == NFTA_RULE_CHAIN) &&
            mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
                tb[type] = attr;
        return MNL_CB_OK;
}

/* A rule with an expression this libnftnl does not know (a newer nft's, in
 * our chain) cannot be ours: its chain gets rewritten. */
static void mark_foreign_rule(const struct nlmsghdr *nlh, struct ruleset_state *s)
{
        const struct nlattr *tb[NFTA_RULE_MAX + 1] = {0};

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg) ||
            mnl_attr_parse(nlh, sizeof(struct nfgenmsg), rule_attr_cb, tb) < 0 || !tb[NFTA_RULE_TABLE] ||
            !tb[NFTA_RULE_CHAIN] || strcmp(mnl_attr_get_str(tb[NFTA_RULE_TABLE]), s->table) != 0)
                return;
        int id = nft_chain_id_from_name(mnl_attr_get_str(tb[NFTA_RULE_CHAIN]));
        if (id >= 0)
                s->foreign_rules[id] = true;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
        struct ruleset_state *s = data;
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
        if (!r)
                return MNL_CB_ERROR;
        if (nftnl_rule_nlmsg_parse(nlh, r) < 0) {
                mark_foreign_rule(nlh, s);
                return MNL_CB_OK;
        }
        const char *table = nftnl_rule_get_str(r, NFTNL_RULE_TABLE);
        const char *chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
        if (!table || !chain || strcmp(table, s->table) != 0)
                return MNL_CB_OK;
        int id = nft_chain_id_from_name(chain);
        if (id < 0)
                return MNL_CB_OK;
        nftnl_rule_list_add_tail(TAKE_PTR(r), s->rules[id]);
        return MNL_CB_OK;
}

static int dump_objects(struct nft *n, uint16_t type, uint16_t flags,
                        void (*payload)(struct nlmsghdr *, void *), void *obj, mnl_cb_t cb,
                        struct ruleset_state *s)
{
        _cleanup_free_ void *req = calloc(1, MNL_SOCKET_BUFFER_SIZE);
        if (!req)
                return -ENOMEM;
        struct nlmsghdr *nlh = nft_request_hdr(n, req, type, flags);
        if (payload)
                payload(nlh, obj);
        return nft_request_objects(n, nlh, cb, s);
}

static void table_payload(struct nlmsghdr *nlh, void *obj)
{
        nftnl_table_nlmsg_build_payload(nlh, obj);
}

static void set_payload(struct nlmsghdr *nlh, void *obj)
{
        nftnl_set_nlmsg_build_payload(nlh, obj);
}

static void rule_payload(struct nlmsghdr *nlh, void *obj)
{
        nftnl_rule_nlmsg_build_payload(nlh, obj);
}

static int ruleset_state_load(struct nft *n, struct ruleset_state *s)
{
        const struct nft_layout *l = nft_layout(n);
        int r;

        s->table = l->table;
        s->sets = nftnl_set_list_alloc();
        if (!s->sets)
                return -ENOMEM;
        for (int i = 0; i < _NFT_CHAIN_MAX; i++) {
                s->rules[i] = nftnl_rule_list_alloc();
                if (!s->rules[i])
                        return -ENOMEM;
        }

        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
        if (!t || nftnl_table_set_str(t, NFTNL_TABLE_NAME, l->table) < 0)
                return -ENOMEM;
        r = dump_objects(n, NFT_MSG_GETTABLE, NLM_F_ACK, table_payload, t, table_cb, s);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;

        /* The kernel filters set and rule dumps by table; chains it does not. */
        _cleanup_(nftnl_set_freep) struct nftnl_set *set = nft_set_new(l, "");
        if (!set)
                return -ENOMEM;
        nftnl_set_unset(set, NFTNL_SET_NAME);
        r = dump_objects(n, NFT_MSG_GETSET, NLM_F_DUMP, set_payload, set, set_cb, s);
        if (r < 0)
                return r;
        r = dump_objects(n, NFT_MSG_GETCHAIN, NLM_F_DUMP, NULL, NULL, chain_cb, s);
        if (r < 0)
                return r;
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = nftnl_rule_alloc();
        if (!rule || nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, l->table) < 0)
                return -ENOMEM;
        return dump_objects(n, NFT_MSG_GETRULE, NLM_F_DUMP, rule_payload, rule, rule_cb, s);
}

static int count_counter_expr(struct nftnl_expr *e, void *data)
{
        const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
        unsigned *n = data;

        *n += name && strcmp(name, "counter") == 0 ? 1 : 100; /* anything else: no match */
        return 0;
}

/* dropped_spoofed's size and counter: a smaller set could fill up, and
 * without the counter it counts nothing. */
static bool set_extras_match(const struct nftnl_set *s, const struct nft_set_desc *d)
{
        unsigned counters = 0;
        uint32_t size =
            nftnl_set_is_set(s, NFTNL_SET_DESC_SIZE) ? nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE) : 0;

        if (size != d->size)
                return false;
        nftnl_set_expr_foreach(s, count_counter_expr, &counters);
        return counters == (d->counter ? 1u : 0u);
}

static bool set_matches(const struct nftnl_set *s, enum nft_set_id id)
{
        const struct nft_set_desc *d = nft_set_desc(id);

        return nftnl_set_get_u32(s, NFTNL_SET_FLAGS) == d->flags &&
               nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE) == d->key_type &&
               nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN) == d->key_len &&
               (d->flags & NFT_SET_MAP ? nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE) == d->data_type &&
                                             nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN) == d->data_len
                                       : !nftnl_set_is_set(s, NFTNL_SET_DATA_TYPE)) &&
               !nftnl_set_is_set(s, NFTNL_SET_TIMEOUT) &&
               set_extras_match(s, d);
}

enum chain_verdict {
        CHAIN_OK,
        CHAIN_MISSING,
        CHAIN_POLICY,   /* only the policy differs: update it */
        CHAIN_RECREATE, /* type, hook or priority differ: those cannot change */
};

static enum chain_verdict chain_check(const struct nftnl_chain *c, enum nft_chain_id id)
{
        const struct nft_chain_desc *d = nft_chain_desc(id);
        const char *type;

        if (!c)
                return CHAIN_MISSING;
        type = nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE);
        if (!nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM) ||
            nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM) != d->hook ||
            nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO) != d->prio || !type || strcmp(type, d->type) != 0)
                return CHAIN_RECREATE;
        if (nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) != NF_ACCEPT)
                return CHAIN_POLICY;
        return CHAIN_OK;
}

static bool all_zero(const void *p, uint32_t len)
{
        const uint8_t *b = p;
        for (uint32_t i = 0; i < len; i++)
                if (b[i])
                        return false;
        return true;
}

static bool is_anon_set_name(const char *name)
{
        return name && strncmp(name, NFT_ANON_SET_PREFIX, strlen(NFT_ANON_SET_PREFIX)) == 0;
}

/* Compares two expressions attribute by attribute. The kernel dumps some
 * attributes we do not send (a lookup's flags 0, a bitwise's operation, a
 * dynset's timeout and flags 0) and never dumps a set id: an absent
 * attribute equals one that is all zeroes, and set ids are not compared.
 * A dynset also dumps the expressions it copied from its set (the
 * counter), which set_matches() checks on the set. Anonymous sets have
 * kernel-chosen names: the name of the one found goes to *ret_anon, for a
 * look at its contents. */
static bool expr_attr_skipped(bool lookup, bool dynset, uint16_t type)
{
        if (lookup)
                return type == NFTNL_EXPR_LOOKUP_SET_ID;
        if (dynset)
                return type == NFTNL_EXPR_DYNSET_SET_ID || type == NFTNL_EXPR_DYNSET_EXPR ||
                       type == NFTNL_EXPR_DYNSET_EXPRESSIONS;
        return false;
}

static bool expr_matches(const struct nftnl_expr *want, const struct nftnl_expr *have, const char **ret_anon)
{
        const char *name = nftnl_expr_get_str(want, NFTNL_EXPR_NAME);
        const char *have_name = nftnl_expr_get_str(have, NFTNL_EXPR_NAME);
        bool lookup, dynset;

        if (!name || !have_name || strcmp(name, have_name) != 0)
                return false;
        lookup = strcmp(name, "lookup") == 0;
        dynset = strcmp(name, "dynset") == 0;

        for (uint16_t type = NFTNL_EXPR_BASE; type < 32; type++) {
                uint32_t want_len = 0, have_len = 0;
                const void *w, *h;

                if (expr_attr_skipped(lookup, dynset, type))
                        continue;
                w = nftnl_expr_get(want, type, &want_len);
                h = nftnl_expr_get(have, type, &have_len);
                if (lookup && type == NFTNL_EXPR_LOOKUP_SET && is_anon_set_name(w)) {
                        if (!is_anon_set_name(h))
                                return false;
                        *ret_anon = h;
                        continue;
                }
                if (!w && !h)
                        continue;
                if (!w || !h) {
                        if (!all_zero(w ? w : h, w ? want_len : have_len))
                                return false;
                        continue;
                }
                if (want_len != have_len || memcmp(w, h, want_len) != 0)
                        return false;
        }
        return true;
}

static bool rule_matches(const struct nftnl_rule *want, const struct nftnl_rule *have, const char **ret_anon)
{
        struct nftnl_expr_iter *wi = nftnl_expr_iter_create(want);
        struct nftnl_expr_iter *hi = nftnl_expr_iter_create(have);
        bool match = wi && hi;

        while (match) {
                struct nftnl_expr *w = nftnl_expr_iter_next(wi);
                struct nftnl_expr *h = nftnl_expr_iter_next(hi);
                if (!w || !h) {
                        match = !w && !h;
                        break;
                }
                match = expr_matches(w, h, ret_anon);
        }
        if (wi)
                nftnl_expr_iter_destroy(wi);
        if (hi)
                nftnl_expr_iter_destroy(hi);
        return match;
}

static int anon_elem_cb(const struct nlmsghdr *nlh, void *data)
{
        if (nftnl_set_elems_nlmsg_parse(nlh, data) < 0) {
                errno = EBADMSG;
                return MNL_CB_ERROR;
        }
        return MNL_CB_OK;
}

/* The anonymous set bound to a rule must hold the rule's elements exactly
 * ({ ::, fe80::/10 }, the isolate networks). */
static int anon_set_matches(struct nft *n, const struct ruleset_state *s, const char *name,
                            enum nft_rule_kind kind)
{
        const struct nft_anon_elem *want;
        uint32_t key_len;
        size_t n_want = nft_rule_anon_elems(nft_layout(n), kind, &want, &key_len);
        struct nftnl_set *set = nftnl_set_list_lookup_byname(s->sets, name);
        if (!set ||
            nftnl_set_get_u32(set, NFTNL_SET_FLAGS) !=
                (NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL) ||
            nftnl_set_get_u32(set, NFTNL_SET_KEY_LEN) != key_len)
                return false;

        _cleanup_(nftnl_set_freep) struct nftnl_set *elems = nft_set_new(nft_layout(n), name);
        _cleanup_free_ void *req = calloc(1, MNL_SOCKET_BUFFER_SIZE);
        if (!elems || !req)
                return -ENOMEM;
        struct nlmsghdr *nlh = nft_request_hdr(n, req, NFT_MSG_GETSETELEM, NLM_F_DUMP);
        nftnl_set_elems_nlmsg_build_payload(nlh, elems);
        int r = nft_request_objects(n, nlh, anon_elem_cb, elems);
        if (r == -ENOENT || r == -EINTR)
                return false;
        if (r < 0)
                return r;

        bool found[MAX(NFT_ISOLATE_ELEMS_MAX, NFT_V6_EXEMPT_ELEMS)] = {0};
        size_t count = 0;
        struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(elems);
        if (!it)
                return -ENOMEM;
        bool match = true;
        for (struct nftnl_set_elem *e = nftnl_set_elems_iter_next(it); e && match;
             e = nftnl_set_elems_iter_next(it)) {
                uint32_t len = 0;
                const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
                uint32_t flags = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)
                                     ? nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS)
                                     : 0;
                match = false;
                for (size_t i = 0; i < n_want; i++)
                        if (!found[i] && key && len == key_len && memcmp(key, want[i].key, key_len) == 0 &&
                            (flags & NFT_SET_ELEM_INTERVAL_END) == want[i].flags) {
                                found[i] = true;
                                match = true;
                                break;
                        }
                count++;
        }
        nftnl_set_elems_iter_destroy(it);
        return match && count == n_want;
}

/* Whether the chain holds exactly the expected rules. Returns 1 or 0, or
 * -errno. */
static int chain_rules_match(struct nft *n, const struct ruleset_state *s, enum nft_chain_id id)
{
        enum nft_rule_kind kinds[NFT_RULES_MAX];
        size_t n_kinds = nft_chain_rule_kinds(nft_layout(n), id, kinds);
        const char *anon[NFT_RULES_MAX] = {0};
        size_t i = 0;
        int match = 1;

        if (s->foreign_rules[id])
                return 0;
        struct nftnl_rule_list_iter *it = nftnl_rule_list_iter_create(s->rules[id]);
        if (!it)
                return -ENOMEM;
        for (struct nftnl_rule *have = nftnl_rule_list_iter_next(it); have && match > 0;
             have = nftnl_rule_list_iter_next(it), i++) {
                _cleanup_(nftnl_rule_freep) struct nftnl_rule *want = NULL;
                if (i >= n_kinds) {
                        match = 0;
                        break;
                }
                int r = nft_rule_new(nft_layout(n), id, kinds[i], 0, &want);
                if (r < 0)
                        match = r;
                else
                        match = rule_matches(want, have, &anon[i]);
        }
        nftnl_rule_list_iter_destroy(it);
        if (match <= 0)
                return match;
        if (i != n_kinds)
                return 0;

        for (i = 0; i < n_kinds; i++) {
                if (!nft_rule_needs_anon_set(nft_layout(n), kinds[i]))
                        continue;
                if (!anon[i])
                        return 0;
                int r = anon_set_matches(n, s, anon[i], kinds[i]);
                if (r <= 0)
                        return r;
        }
        return 1;
}

struct ruleset_plan {
        bool table;
        bool set_create[_NFT_SET_MAX];
        bool set_recreate[_NFT_SET_MAX];
        enum chain_verdict chain[_NFT_CHAIN_MAX];
        bool rules[_NFT_CHAIN_MAX]; /* rewrite the rules */
        bool any;
};

static int ruleset_plan(struct nft *n, const struct ruleset_state *s, struct ruleset_plan *p)
{
        bool any_set_recreated = false;

        *p = (struct ruleset_plan){0};
        p->table = !s->table_exists || (s->table_flags & NFT_TABLE_F_DORMANT);

        for (int i = 0; i < _NFT_SET_MAX; i++) {
                struct nftnl_set *set = nftnl_set_list_lookup_byname(s->sets, nft_set_name(i));
                if (!set)
                        p->set_create[i] = true;
                else if (!set_matches(set, i)) {
                        p->set_recreate[i] = true;
                        any_set_recreated = true;
                }
        }

        for (int i = 0; i < _NFT_CHAIN_MAX; i++) {
                p->chain[i] = chain_check(s->chains[i], i);
                if (p->chain[i] == CHAIN_MISSING || p->chain[i] == CHAIN_RECREATE || any_set_recreated) {
                        /* A set in use cannot go: its rules go first. */
                        p->rules[i] = true;
                        continue;
                }
                int r = chain_rules_match(n, s, i);
                if (r < 0)
                        return r;
                p->rules[i] = r == 0;
        }

        p->any = p->table;
        for (int i = 0; i < _NFT_SET_MAX; i++)
                p->any = p->any || p->set_create[i] || p->set_recreate[i];
        for (int i = 0; i < _NFT_CHAIN_MAX; i++)
                p->any = p->any || p->chain[i] != CHAIN_OK || p->rules[i];
        return 0;
}

/* Order matters: rules go before the sets they use, sets come before the
 * rules that use them, a chain before its rules. */
static int ruleset_build(struct nft_batch *b, const struct nft_layout *l, const struct ruleset_plan *p)
{
        int r = nft_build_table(b, l, NFT_MSG_NEWTABLE);
        if (r < 0)
                return r;

        for (int i = 0; i < _NFT_CHAIN_MAX && r >= 0; i++)
                if (p->chain[i] == CHAIN_RECREATE)
                        r = nft_build_chain_del(b, l, i);
                else if (p->chain[i] != CHAIN_MISSING && p->rules[i])
                        r = nft_build_chain_flush(b, l, i);
        for (int i = 0; i < _NFT_SET_MAX && r >= 0; i++)
                if (p->set_recreate[i])
                        r = nft_build_set_del(b, l, nft_set_name(i));
        for (int i = 0; i < _NFT_SET_MAX && r >= 0; i++)
                if (p->set_create[i] || p->set_recreate[i])
                        r = nft_build_set(b, l, i);
        for (int i = 0; i < _NFT_CHAIN_MAX && r >= 0; i++)
                if (p->chain[i] != CHAIN_OK)
                        r = nft_build_chain(b, l, i);
        for (int i = 0; i < _NFT_CHAIN_MAX && r >= 0; i++)
                if (p->rules[i])
                        r = nft_build_chain_rules(b, l, i);
        return r;
}

static int ruleset_look(struct nft *n, struct ruleset_plan *ret)
{
        _cleanup_(ruleset_state_done) struct ruleset_state s = {0};
        int r = ruleset_state_load(n, &s);
        if (r < 0)
                return r;
        return ruleset_plan(n, &s, ret);
}

/* One batch: the plan's repairs, then elems[] (nothing when neither is
 * needed). Returns whether the ruleset needed repair. */
static int ruleset_commit(struct nft *n, const struct nft_elem *elems, size_t n_elems)
{
        _cleanup_(nft_batch_done) struct nft_batch b = {0};
        struct ruleset_plan plan = {0};
        int r = -EINTR;

        /* A dump that someone else's change interrupted is taken again. */
        for (int attempt = 0; attempt < NFT_DUMP_RETRIES && r == -EINTR; attempt++)
                r = ruleset_look(n, &plan);
        if (r < 0)
                return r;
        if (!plan.any && n_elems == 0)
                return 0;

        r = nft_batch_begin(n, &b);
        if (r < 0)
                return r;
        if (plan.any) {
                r = ruleset_build(&b, nft_layout(n), &plan);
                if (r < 0)
                        return r;
        }
        /* After the sets they go into, which the repair may have made. */
        r = nft_build_elems(&b, nft_layout(n), NFT_MSG_NEWSETELEM, elems, n_elems);
        if (r < 0)
                return r;
        r = nft_batch_commit(n, &b);
        if (r < 0)
                return r;
        return plan.any ? 1 : 0;
}

int nft_ensure_ruleset(struct nft *n)
{
        return ruleset_commit(n, NULL, 0);
}

int nft_restore(struct nft *n, const struct nft_elem *elems, size_t n_elems)
{
        return ruleset_commit(n, elems, n_elems);
}

/* Replication between tables: routing instances and their route targets,
 * export of a VRF's best paths into the global VPN table, import of VPN
 * paths into every VRF whose import targets match, leak rules with next-hop
 * and label rewrite, and the per-source stale / LLGR / sweep operations.
 *
 * replicate(route) is the one primitive: it computes the complete set of
 * replicas the route should have now, then diffs it against the replicas it
 * has (listed in route->deps) — unchanged replicas stay untouched, changed
 * ones are replaced in place, missing ones added, extra ones removed — and
 * finally updates every route it touched, which may replicate further. Since
 * an unchanged replica leaves its route untouched, propagation stops where
 * nothing changes.
 *
 * Loops. A path is never imported or leaked into a table its replication
 * chain already passes through (chain_has(): its own table, each primary's
 * table, back to the origin). Every cycle of replication would have to
 * re-enter a VRF (VPN tables only feed VRFs, and an imported path is never
 * exported), so none can form; the global VPN table may appear twice in a
 * chain under different RDs (a BGP route imported, leaked into a service
 * instance and exported again), which is the service-chain case. Chains
 * are also capped at RIB_REPL_DEPTH_MAX hops. */
#include <stdlib.h>
#include <string.h>

#include "routing/rib/rib_int.h"

bool rib_family_is_vpn(enum rib_family af)
{
    return af == RIB_AF_L3VPN || af == RIB_AF_L3VPN6 || af == RIB_AF_EVPN_VPN;
}

enum rib_family rib_family_vrf(enum rib_family vpn_af)
{
    return vpn_af == RIB_AF_L3VPN ? RIB_AF_INET : vpn_af == RIB_AF_L3VPN6 ? RIB_AF_INET6 : RIB_AF_EVPN;
}

enum rib_family rib_family_vpn(enum rib_family vrf_af)
{
    return vrf_af == RIB_AF_INET ? RIB_AF_L3VPN : vrf_af == RIB_AF_INET6 ? RIB_AF_L3VPN6 : RIB_AF_EVPN_VPN;
}

static int vrf_index(enum rib_family af)
{
    return af == RIB_AF_INET ? 0 : af == RIB_AF_INET6 ? 1 : af == RIB_AF_EVPN ? 2 : -1;
}

/* ---- route-target import index ---- */

static struct rib_rtidx *rtidx_find(struct rib *r, const struct rib_rt *rt)
{
    if (!r->rtidx_cap)
        return NULL;
    size_t mask = r->rtidx_cap - 1;
    for (size_t i = rib_key_hash(rt->b, 8) & mask; r->rtidx[i].used; i = (i + 1) & mask)
        if (memcmp(r->rtidx[i].rt.b, rt->b, 8) == 0)
            return &r->rtidx[i];
    return NULL;
}

static int rtidx_add(struct rib *r, const struct rib_rt *rt, struct rib_instance *inst)
{
    struct rib_rtidx *e = rtidx_find(r, rt);
    if (!e) {
        if ((r->rtidx_count + 1) * 10 > r->rtidx_cap * 7) {
            size_t ncap = r->rtidx_cap ? r->rtidx_cap * 2 : 64;
            struct rib_rtidx *ns = rib_zalloc(r, ncap * sizeof *ns);
            if (!ns)
                return RIB_ERR_NOMEM;
            for (size_t i = 0; i < r->rtidx_cap; i++) {
                if (!r->rtidx[i].used)
                    continue;
                size_t j = rib_key_hash(r->rtidx[i].rt.b, 8) & (ncap - 1);
                while (ns[j].used)
                    j = (j + 1) & (ncap - 1);
                ns[j] = r->rtidx[i];
            }
            rib_dealloc(r, r->rtidx, r->rtidx_cap * sizeof *r->rtidx);
            r->rtidx = ns;
            r->rtidx_cap = ncap;
        }
        size_t mask = r->rtidx_cap - 1, i = rib_key_hash(rt->b, 8) & mask;
        while (r->rtidx[i].used)
            i = (i + 1) & mask;
        e = &r->rtidx[i];
        e->used = true;
        e->rt = *rt;
        r->rtidx_count++;
    }
    struct rib_instance **ni = rib_realloc(r, e->insts, e->len * sizeof *ni, (e->len + 1) * sizeof *ni);
    if (!ni)
        return RIB_ERR_NOMEM;
    e->insts = ni;
    ni[e->len++] = inst;
    return 0;
}

static void rtidx_del(struct rib *r, const struct rib_rt *rt, struct rib_instance *inst)
{
    struct rib_rtidx *e = rtidx_find(r, rt);
    if (!e)
        return;
    for (size_t i = 0; i < e->len; i++) {
        if (e->insts[i] != inst)
            continue;
        memmove(&e->insts[i], &e->insts[i + 1], (e->len - i - 1) * sizeof *e->insts);
        e->len--;
        if (e->len == 0) {
            rib_dealloc(r, e->insts, sizeof *e->insts);
            e->insts = NULL;
        } else {
            struct rib_instance **ni = rib_realloc(r, e->insts, (e->len + 1) * sizeof *ni, e->len * sizeof *ni);
            if (ni)
                e->insts = ni;
            else
                r->bytes -= sizeof *ni;
        }
        return;
    }
}

/* ---- replicate ---- */

struct want {
    struct rib_table *dt;
    struct rib_path p;
    uint8_t keylen;
    uint8_t key[RIB_KEY_MAX];
};

struct wants {
    struct want *v;
    size_t len, cap;
    bool dedupe;
};

/* Appends a replica; takes ownership of the reference on 'p->attr'. */
static void want_add(struct rib *r, struct wants *w, struct rib_table *dt, const uint8_t *key, uint8_t keylen,
                     const struct rib_path *p)
{
    if (w->dedupe) {
        for (size_t i = 0; i < w->len; i++) {
            struct want *o = &w->v[i];
            if (o->dt == dt && o->p.source == p->source && o->p.path_id == p->path_id && o->keylen == keylen &&
                memcmp(o->key, key, keylen) == 0) {
                rib_attr_unref(r, p->attr);
                return;
            }
        }
    }
    if (w->len == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 8;
        struct want *nv = rib_tmp_realloc(w->v, ncap * sizeof *nv);
        if (!nv) {
            r->repl_failures++;
            rib_attr_unref(r, p->attr);
            return;
        }
        w->v = nv;
        w->cap = ncap;
    }
    struct want *n = &w->v[w->len++];
    n->dt = dt;
    n->p = *p;
    n->keylen = keylen;
    memcpy(n->key, key, keylen);
}

static bool imported(const struct rib_path *p)
{
    return (p->flags & RIB_PATH_REPLICATED) && !(p->flags & RIB_PATH_LEAKED);
}

/* The path of 'pr' that the replica 'p' was made from, as the want builders
 * below choose it: for an export, the first primary path of the best set
 * with p's source and path id, else the first leaked one; for a leak, the
 * first non-leaked one of the best set. NULL when it cannot be told. */
static const struct rib_path *parent_of(const struct rib_table *pt, const struct rib_path *p)
{
    const struct rib_route *pr = p->primary;
    const struct rib_path *leaked = NULL;
    bool leak = (p->flags & RIB_PATH_LEAKED) != 0;
    for (uint16_t i = 0; i < pr->nbest; i++) {
        const struct rib_path *q = &RIB_PATHS(pr)[i];
        if (q->source != p->source || q->path_id != p->path_id)
            continue;
        if (leak) {
            if (!(q->flags & RIB_PATH_LEAKED))
                return q;
        } else if (pt->inst) {
            if (!(q->flags & RIB_PATH_REPLICATED))
                return q;
            if (!imported(q) && !leaked)
                leaked = q;
        }
    }
    return leaked;
}

/* True when the replication chain of 'p' (its own table, the tables its
 * primaries live in, back to the origin) includes table 'id'. Exports and
 * leaks know their parent path exactly (parent_of()); an import from a VPN
 * route holding several paths of one source and path id counts all of them
 * (conservative). Chains longer than the cap count as including every
 * table. */
static bool chain_has(const struct rib *r, const struct rib_path *p, uint32_t id, int budget)
{
    if (p->origin_table == id)
        return true;
    if (!(p->flags & RIB_PATH_REPLICATED))
        return false;
    if (p->primary_table == id || budget <= 0)
        return true;
    const struct rib_table *pt = r->tables[p->primary_table];
    if (!pt)
        return true;
    if (pt->inst) {
        const struct rib_path *q = parent_of(pt, p);
        return !q || chain_has(r, q, id, budget - 1);
    }
    const struct rib_route *pr = p->primary;
    for (uint16_t i = 0; i < pr->npaths; i++) {
        const struct rib_path *q = &RIB_PATHS(pr)[i];
        if (q->source == p->source && q->path_id == p->path_id && chain_has(r, q, id, budget - 1))
            return true;
    }
    return false;
}

static void wants_vrf(struct rib *r, struct rib_table *t, struct rib_route *rt, struct wants *w)
{
    struct rib_instance *inst = t->inst;
    struct rib_table *vpn = r->vpn[rib_family_vpn(t->family)];
    int vi = vrf_index(t->family);
    /* Exports: primary paths of the best set, then leaked ones (the order
     * parent_of() relies on when a source has both). */
    for (int pass = 0; pass < 2 && inst->vpn && vpn; pass++) {
        for (uint16_t i = 0; i < rt->nbest; i++) {
            const struct rib_path *bp = &RIB_PATHS(rt)[i];
            bool want = pass == 0 ? !(bp->flags & RIB_PATH_REPLICATED) : (bp->flags & RIB_PATH_LEAKED) != 0;
            if (!want || bp->depth + 1 > RIB_REPL_DEPTH_MAX)
                continue;
            struct rib_path np = {
                .primary = rt,
                .label = bp->label,
                .l3_label = bp->l3_label,
                .vni = bp->vni,
                .source = bp->source,
                .path_id = bp->path_id,
                .primary_table = t->id,
                .origin_table = bp->origin_table,
                .flags = (uint8_t)((bp->flags & (RIB_PATH_USER_FLAGS | RIB_PATH_REWRITTEN)) | RIB_PATH_REPLICATED),
                .depth = (uint8_t)(bp->depth + 1),
            };
            uint8_t key[RIB_KEY_MAX];
            memcpy(key, inst->rd.b, 8);
            memcpy(key + 8, rt->key, rt->keylen);
            if (rib_attr_derive(r, bp->attr, inst->exp, inst->exp_len, 0, NULL, NULL, &np.attr) == 0)
                want_add(r, w, vpn, key, (uint8_t)(rt->keylen + 8), &np);
            else
                r->repl_failures++;
        }
    }
    /* Leaks: every non-leaked path of the best set, through every rule. */
    for (uint16_t i = 0; i < rt->nbest; i++) {
        const struct rib_path *bp = &RIB_PATHS(rt)[i];
        if ((bp->flags & RIB_PATH_LEAKED) || bp->depth + 1 > RIB_REPL_DEPTH_MAX)
            continue;
        for (size_t l = 0; l < inst->leaks_len; l++) {
            const struct rib_leak *lk = &inst->leaks[l];
            struct rib_table *dt = lk->to->tables[vi];
            if (lk->cfg.families && !(lk->cfg.families & RIB_LEAK_FAMILY(t->family)))
                continue;
            if (chain_has(r, bp, dt->id, RIB_REPL_DEPTH_MAX))
                continue;
            struct rib_path lp = {
                .primary = rt,
                .label = lk->cfg.has_label ? lk->cfg.label : bp->label,
                .l3_label = bp->l3_label,
                .vni = lk->cfg.has_label ? 0 : bp->vni,
                .source = bp->source,
                .path_id = bp->path_id,
                .primary_table = t->id,
                .origin_table = bp->origin_table,
                .flags = (uint8_t)((bp->flags & (RIB_PATH_USER_FLAGS | RIB_PATH_REWRITTEN)) | RIB_PATH_REPLICATED |
                                   RIB_PATH_LEAKED |
                                   (lk->cfg.nexthop.af || lk->cfg.has_label ? RIB_PATH_REWRITTEN : 0)),
                .depth = (uint8_t)(bp->depth + 1),
            };
            if (rib_attr_derive(r, bp->attr, NULL, 0, 0, &lk->cfg.nexthop, lk->cfg.has_label ? &lk->cfg.label : NULL,
                                &lp.attr) == 0)
                want_add(r, w, dt, rt->key, rt->keylen, &lp);
            else
                r->repl_failures++;
        }
    }
}

static void wants_vpn(struct rib *r, struct rib_table *t, struct rib_route *rt, struct wants *w)
{
    int vi = vrf_index(rib_family_vrf(t->family));
    if (rt->keylen <= 8)
        return;
    for (uint16_t i = 0; i < rt->npaths; i++) {
        const struct rib_path *p = &RIB_PATHS(rt)[i];
        if ((p->flags & RIB_PATH_INFEASIBLE) || p->depth + 1 > RIB_REPL_DEPTH_MAX)
            continue;
        uint32_t gen = ++r->gen;
        for (size_t e = 0; e < p->attr->exts_len; e++) {
            const struct rib_ext *x = &p->attr->exts[e];
            if (!rib_ext_is_rt(x))
                continue;
            struct rib_rt rtv;
            memcpy(rtv.b, x->b, 8);
            const struct rib_rtidx *ix = rtidx_find(r, &rtv);
            for (size_t k = 0; ix && k < ix->len; k++) {
                struct rib_instance *inst = ix->insts[k];
                struct rib_table *dt = inst->tables[vi];
                if (!inst->vpn || inst->gen == gen || chain_has(r, p, dt->id, RIB_REPL_DEPTH_MAX))
                    continue;
                inst->gen = gen;
                struct rib_path np = {
                    .attr = rib_attr_ref(p->attr),
                    .primary = rt,
                    .label = p->label,
                    .l3_label = p->l3_label,
                    .vni = p->vni,
                    .source = p->source,
                    .path_id = p->path_id,
                    .primary_table = t->id,
                    .origin_table = p->origin_table,
                    .flags = (uint8_t)((p->flags & (RIB_PATH_USER_FLAGS | RIB_PATH_REWRITTEN)) | RIB_PATH_REPLICATED),
                    .depth = (uint8_t)(p->depth + 1),
                };
                want_add(r, w, dt, rt->key + 8, (uint8_t)(rt->keylen - 8), &np);
            }
        }
    }
}

static bool same_replica(const struct rib_path *old, const struct rib_path *n)
{
    return old->attr == n->attr && rib_path_same_labels(old, n) &&
           (old->flags & (uint8_t)~RIB_PATH_MARK) == n->flags && old->depth == n->depth &&
           old->origin_table == n->origin_table && old->primary_table == n->primary_table;
}

static void count_route(struct rib_table *t, struct rib_route *d, bool was_empty)
{
    if (was_empty && d->npaths)
        t->count++, t->rib->routes++;
    else if (!was_empty && !d->npaths)
        t->count--, t->rib->routes--;
}

void rib_replicate(struct rib_table *t, struct rib_route *rt)
{
    struct rib *r = t->rib;
    struct wants w = {0};
    for (uint16_t i = 0; i < rt->npaths && !w.dedupe; i++)
        for (uint16_t j = (uint16_t)(i + 1); j < rt->npaths; j++)
            if (RIB_PATHS(rt)[i].source == RIB_PATHS(rt)[j].source && RIB_PATHS(rt)[i].path_id == RIB_PATHS(rt)[j].path_id)
                w.dedupe = true;
    if (t->inst)
        wants_vrf(r, t, rt, &w);
    else if (rib_family_is_vpn(t->family))
        wants_vpn(r, t, rt, &w);
    if (w.len == 0 && RIB_NDEPS(rt) == 0)
        return;

    /* 1. Mark the current replicas; whatever is still marked after the new
     *    set is applied goes. */
    for (uint32_t d = 0; d < RIB_NDEPS(rt); d++) {
        struct rib_route *dr = rt->deps->v[d].route;
        for (uint16_t k = 0; k < dr->npaths; k++)
            if (RIB_PATHS(dr)[k].primary == rt)
                RIB_PATHS(dr)[k].flags |= RIB_PATH_MARK;
    }
    /* 2. Apply the wanted set. */
    struct rib_dep *nd = w.len ? rib_tmp_alloc(w.len * sizeof *nd) : NULL;
    size_t nnd = 0;
    if (w.len && !nd)
        r->repl_failures++;
    for (size_t i = 0; i < w.len && nd; i++) {
        struct want *x = &w.v[i];
        struct rib_route *dr = rib_route_get(x->dt, x->key, x->keylen);
        if (!dr) {
            r->repl_failures++;
            continue;
        }
        int idx = rib_route_path_find(dr, x->p.source, x->p.path_id, rt);
        if (idx >= 0) {
            if (same_replica(&RIB_PATHS(dr)[idx], &x->p))
                RIB_PATHS(dr)[idx].flags &= (uint8_t)~RIB_PATH_MARK;
            else
                rib_route_path_replace(r, dr, idx, &x->p);
        } else {
            bool was_empty = dr->npaths == 0;
            if (rib_route_path_append(r, dr, &x->p) != 0) {
                r->repl_failures++;
                continue;
            }
            count_route(x->dt, dr, was_empty);
        }
        if (!(dr->flags & RIB_RT_MARK)) {
            dr->flags |= RIB_RT_MARK;
            nd[nnd].route = dr;
            nd[nnd].table = x->dt->id;
            nnd++;
        }
    }
    for (size_t i = 0; i < nnd; i++)
        nd[i].route->flags &= (uint8_t)~RIB_RT_MARK;
    /* 3. Drop replicas no longer wanted. */
    for (uint32_t d = 0; d < RIB_NDEPS(rt); d++) {
        struct rib_route *dr = rt->deps->v[d].route;
        struct rib_table *dt = r->tables[rt->deps->v[d].table];
        bool was_empty = dr->npaths == 0;
        for (int k = dr->npaths - 1; k >= 0; k--)
            if (RIB_PATHS(dr)[k].primary == rt && (RIB_PATHS(dr)[k].flags & RIB_PATH_MARK))
                rib_route_path_remove(r, dr, k);
        count_route(dt, dr, was_empty);
    }
    /* 4. Swap the dependents list (old one kept for step 5). */
    struct rib_deps *old = rt->deps;
    uint32_t nold = RIB_NDEPS(rt);
    rt->deps = NULL;
    if (nnd) {
        rt->deps = rib_alloc(r, RIB_DEPS_SIZE(nnd));
        if (rt->deps) {
            memcpy(rt->deps->v, nd, nnd * sizeof *nd);
            rt->deps->len = (uint32_t)nnd;
        } else {
            /* Cannot record the replicas: take them back out. */
            r->repl_failures++;
            for (size_t i = 0; i < nnd; i++) {
                struct rib_route *dr = nd[i].route;
                bool was_empty = dr->npaths == 0;
                for (int k = dr->npaths - 1; k >= 0; k--)
                    if (RIB_PATHS(dr)[k].primary == rt)
                        rib_route_path_remove(r, dr, k);
                count_route(r->tables[nd[i].table], dr, was_empty);
            }
        }
    }
    for (size_t i = 0; i < w.len; i++)
        rib_attr_unref(r, w.v[i].p.attr);
    free(w.v);
    /* 5. Let every touched route re-decide (and replicate further). */
    for (uint32_t d = 0; d < nold; d++)
        rib_route_update(r->tables[old->v[d].table], old->v[d].route);
    for (size_t i = 0; i < nnd; i++)
        rib_route_update(r->tables[nd[i].table], nd[i].route);
    rib_dealloc(r, old, RIB_DEPS_SIZE(nold));
    free(nd);
}

/* Replicates every route of the instance's tables. */
static void instance_rereplicate(struct rib_instance *inst)
{
    for (int i = 0; i < 3; i++) {
        struct rib_table *t = inst->tables[i];
        size_t n;
        struct rib_route **a = rib_table_snapshot(t, &n);
        if (!a) {
            inst->rib->repl_failures++;
            continue;
        }
        for (size_t k = 0; k < n; k++)
            if (a[k]->nbest || RIB_NDEPS(a[k]))
                rib_replicate(t, a[k]);
        free(a);
    }
}

/* ---- instances ---- */

int rib_instance_create(struct rib *r, const char *name, struct rib_instance **out)
{
    static const char *const sfx[3] = {".inet.0", ".inet6.0", ".evpn.0"};
    static const enum rib_family fam[3] = {RIB_AF_INET, RIB_AF_INET6, RIB_AF_EVPN};
    if (!r || !name || !out || !*name || strncmp(name, "bgp.", 4) == 0 || strlen(name) > 1024)
        return RIB_ERR_INVAL;
    if (rib_instance_find(r, name))
        return RIB_ERR_EXISTS;
    struct rib_instance **ni = rib_realloc(r, r->insts, r->insts_len * sizeof *ni, (r->insts_len + 1) * sizeof *ni);
    if (!ni)
        return RIB_ERR_NOMEM;
    r->insts = ni;
    struct rib_instance *inst = rib_zalloc(r, sizeof *inst);
    if (!inst)
        return RIB_ERR_NOMEM;
    inst->rib = r;
    if (!(inst->name = rib_strdup(r, name)))
        goto fail;
    for (int i = 0; i < 3; i++) {
        char tn[1040];
        strcpy(tn, name);
        strcat(tn, sfx[i]);
        if (!(inst->tables[i] = rib_table_new(r, fam[i], tn, inst)))
            goto fail;
    }
    ni[r->insts_len++] = inst;
    *out = inst;
    return 0;
fail:
    for (int i = 0; i < 3; i++)
        if (inst->tables[i])
            rib_table_release(inst->tables[i]);
    rib_strfree(r, inst->name);
    rib_dealloc(r, inst, sizeof *inst);
    return RIB_ERR_NOMEM;
}

struct rib_instance *rib_instance_find(struct rib *r, const char *name)
{
    for (size_t i = 0; r && name && i < r->insts_len; i++)
        if (strcmp(r->insts[i]->name, name) == 0)
            return r->insts[i];
    return NULL;
}

const char *rib_instance_name(const struct rib_instance *inst)
{
    return inst->name;
}

struct rib_table *rib_instance_table(struct rib_instance *inst, enum rib_family family)
{
    int i = vrf_index(family);
    return inst && i >= 0 ? inst->tables[i] : NULL;
}

static int cmp_rt(const void *a, const void *b)
{
    return memcmp(a, b, 8);
}

static bool rt_in(const struct rib_rt *v, size_t len, const struct rib_rt *rt)
{
    return len && bsearch(rt, v, len, sizeof *v, cmp_rt) != NULL;
}

/* Sorted, deduplicated copy of a target list (accounted), or NULL for none. */
static int rt_set(struct rib *r, const struct rib_rt *src, size_t len, struct rib_rt **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len == 0)
        return 0;
    if (len > RIB_LIST_MAX || !src)
        return len > RIB_LIST_MAX ? RIB_ERR_LIMIT : RIB_ERR_INVAL;
    struct rib_rt *v = rib_alloc(r, len * sizeof *v);
    if (!v)
        return RIB_ERR_NOMEM;
    memcpy(v, src, len * sizeof *v);
    qsort(v, len, sizeof *v, cmp_rt);
    size_t n = 1;
    for (size_t i = 1; i < len; i++)
        if (memcmp(&v[n - 1], &v[i], 8) != 0)
            v[n++] = v[i];
    *out = v;
    *out_len = n;
    r->bytes -= (len - n) * sizeof *v; /* accounted at its used size below */
    return 0;
}

static bool any_rt_of(const struct rib_attr *a, const struct rib_rt *set, size_t len, const struct rib_rt *but,
                      size_t but_len)
{
    for (size_t e = 0; e < a->exts_len; e++) {
        const struct rib_rt *x = (const struct rib_rt *)(const void *)&a->exts[e];
        if (rib_ext_is_rt(&a->exts[e]) && rt_in(set, len, x) && !rt_in(but, but_len, x))
            return true;
    }
    return false;
}

int rib_instance_configure(struct rib_instance *inst, const struct rib_instance_config *cfg)
{
    if (!inst || !cfg)
        return RIB_ERR_INVAL;
    struct rib *r = inst->rib;
    struct rib_rt *imp, *exp;
    size_t imp_len, exp_len;
    int rc = rt_set(r, cfg->import_rts, cfg->import_len, &imp, &imp_len);
    if (rc)
        return rc;
    if ((rc = rt_set(r, cfg->export_rts, cfg->export_len, &exp, &exp_len))) {
        rib_dealloc(r, imp, imp_len * sizeof *imp);
        return rc;
    }
    const struct rib_rt *old_eff = inst->vpn ? inst->imp : NULL;
    size_t old_len = inst->vpn ? inst->imp_len : 0;
    const struct rib_rt *new_eff = cfg->vpn ? imp : NULL;
    size_t new_len = cfg->vpn ? imp_len : 0;
    /* Index the added targets first: the only step that can fail. */
    size_t added = 0;
    for (size_t i = 0; i < new_len; i++) {
        if (rt_in(old_eff, old_len, &new_eff[i]))
            continue;
        if ((rc = rtidx_add(r, &new_eff[i], inst))) {
            for (size_t j = 0; j < i; j++)
                if (!rt_in(old_eff, old_len, &new_eff[j]))
                    rtidx_del(r, &new_eff[j], inst);
            rib_dealloc(r, imp, imp_len * sizeof *imp);
            rib_dealloc(r, exp, exp_len * sizeof *exp);
            return rc;
        }
        added++;
    }
    size_t removed = 0;
    for (size_t i = 0; i < old_len; i++)
        if (!rt_in(new_eff, new_len, &old_eff[i])) {
            rtidx_del(r, &old_eff[i], inst);
            removed++;
        }
    bool export_changed = inst->vpn != cfg->vpn || memcmp(inst->rd.b, cfg->rd.b, 8) != 0 ||
                          inst->exp_len != exp_len ||
                          (exp_len && memcmp(inst->exp, exp, exp_len * sizeof *exp) != 0);
    struct rib_rt *old_imp = inst->imp;
    size_t old_imp_len = inst->imp_len;
    bool old_vpn = inst->vpn;
    rib_dealloc(r, inst->exp, inst->exp_len * sizeof *inst->exp);
    inst->imp = imp;
    inst->imp_len = imp_len;
    inst->exp = exp;
    inst->exp_len = exp_len;
    inst->rd = cfg->rd;
    inst->vpn = cfg->vpn;

    /* Un-import: the VPN routes behind imported paths that carry a target
     * no longer imported are re-replicated. */
    if (removed) {
        for (int i = 0; i < 3; i++) {
            struct rib_table *t = inst->tables[i];
            size_t n, np = 0;
            struct rib_route **a = rib_table_snapshot(t, &n);
            size_t total = 1;
            for (size_t k = 0; a && k < n; k++)
                total += a[k]->npaths;
            struct rib_dep *prim = a ? rib_tmp_alloc(total * sizeof *prim) : NULL;
            for (size_t k = 0; prim && k < n; k++) {
                for (uint16_t j = 0; j < a[k]->npaths; j++) {
                    const struct rib_path *p = &RIB_PATHS(a[k])[j];
                    if ((p->flags & RIB_PATH_REPLICATED) && !(p->flags & RIB_PATH_LEAKED) &&
                        !(p->primary->flags & RIB_RT_MARK) &&
                        any_rt_of(p->attr, old_vpn ? old_imp : NULL, old_vpn ? old_imp_len : 0, new_eff, new_len)) {
                        p->primary->flags |= RIB_RT_MARK;
                        prim[np].route = p->primary;
                        prim[np].table = p->primary_table;
                        np++;
                    }
                }
            }
            if (!prim)
                r->repl_failures++;
            for (size_t k = 0; k < np; k++)
                prim[k].route->flags &= (uint8_t)~RIB_RT_MARK;
            for (size_t k = 0; k < np; k++)
                rib_replicate(r->tables[prim[k].table], prim[k].route);
            free(prim);
            free(a);
        }
    }
    /* Import: VPN routes carrying an added target. */
    if (added) {
        static const enum rib_family vf[3] = {RIB_AF_L3VPN, RIB_AF_L3VPN6, RIB_AF_EVPN_VPN};
        for (int i = 0; i < 3; i++) {
            struct rib_table *t = r->vpn[vf[i]];
            size_t n;
            struct rib_route **a = rib_table_snapshot(t, &n);
            if (!a) {
                r->repl_failures++;
                continue;
            }
            /* Few distinct attribute sets serve many routes: decide once
             * per set (memoised in the node for this scan's generation). */
            uint32_t gen = ++r->gen;
            for (size_t k = 0; k < n; k++) {
                bool hit = false;
                for (uint16_t j = 0; j < a[k]->npaths && !hit; j++) {
                    struct rib_attr_node *an = rib_attr_node(RIB_PATHS(a[k])[j].attr);
                    if (an->scan_gen != gen) {
                        an->scan_gen = gen;
                        an->scan_hit = any_rt_of(RIB_PATHS(a[k])[j].attr, new_eff, new_len, old_vpn ? old_imp : NULL,
                                                 old_vpn ? old_imp_len : 0);
                    }
                    hit = an->scan_hit;
                }
                if (hit)
                    rib_replicate(t, a[k]);
            }
            free(a);
        }
    }
    rib_dealloc(r, old_imp, old_imp_len * sizeof *old_imp);
    if (export_changed)
        instance_rereplicate(inst);
    return 0;
}

/* ---- leaks ---- */

int rib_leak_set(struct rib_instance *from, struct rib_instance *to, const struct rib_leak_config *cfg)
{
    if (!from || !to || !cfg || from == to || from->rib != to->rib)
        return RIB_ERR_INVAL;
    if (cfg->nexthop.af != 0 && cfg->nexthop.af != 4 && cfg->nexthop.af != 6)
        return RIB_ERR_INVAL;
    if (cfg->families & ~(RIB_LEAK_FAMILY(RIB_AF_INET) | RIB_LEAK_FAMILY(RIB_AF_INET6) | RIB_LEAK_FAMILY(RIB_AF_EVPN)))
        return RIB_ERR_INVAL;
    struct rib *r = from->rib;
    size_t i;
    for (i = 0; i < from->leaks_len; i++)
        if (from->leaks[i].to == to)
            break;
    if (i == from->leaks_len) {
        struct rib_leak *nl = rib_realloc(r, from->leaks, from->leaks_len * sizeof *nl, (from->leaks_len + 1) * sizeof *nl);
        if (!nl)
            return RIB_ERR_NOMEM;
        from->leaks = nl;
        from->leaks_len++;
    }
    from->leaks[i].to = to;
    from->leaks[i].cfg = *cfg;
    instance_rereplicate(from);
    return 0;
}

static void leak_remove_at(struct rib_instance *from, size_t i)
{
    struct rib *r = from->rib;
    memmove(&from->leaks[i], &from->leaks[i + 1], (from->leaks_len - i - 1) * sizeof *from->leaks);
    from->leaks_len--;
    if (from->leaks_len == 0) {
        rib_dealloc(r, from->leaks, sizeof *from->leaks);
        from->leaks = NULL;
    } else {
        struct rib_leak *nl = rib_realloc(r, from->leaks, (from->leaks_len + 1) * sizeof *nl, from->leaks_len * sizeof *nl);
        if (nl)
            from->leaks = nl;
        else
            r->bytes -= sizeof *nl;
    }
}

int rib_leak_clear(struct rib_instance *from, struct rib_instance *to)
{
    if (!from || !to)
        return RIB_ERR_INVAL;
    for (size_t i = 0; i < from->leaks_len; i++) {
        if (from->leaks[i].to != to)
            continue;
        leak_remove_at(from, i);
        instance_rereplicate(from);
        return 0;
    }
    return RIB_ERR_NOENT;
}

/* ---- instance removal ---- */

static void instance_struct_free(struct rib *r, struct rib_instance *inst)
{
    rib_dealloc(r, inst->imp, inst->imp_len * sizeof *inst->imp);
    rib_dealloc(r, inst->exp, inst->exp_len * sizeof *inst->exp);
    rib_dealloc(r, inst->leaks, inst->leaks_len * sizeof *inst->leaks);
    rib_strfree(r, inst->name);
    rib_dealloc(r, inst, sizeof *inst);
}

void rib_instance_destroy(struct rib_instance *inst)
{
    if (!inst)
        return;
    struct rib *r = inst->rib;
    /* Rules into this instance, then its own. */
    for (size_t k = 0; k < r->insts_len; k++) {
        struct rib_instance *o = r->insts[k];
        for (size_t i = 0; i < o->leaks_len; i++)
            if (o->leaks[i].to == inst) {
                leak_remove_at(o, i);
                instance_rereplicate(o);
                break;
            }
    }
    if (inst->leaks_len) {
        rib_dealloc(r, inst->leaks, inst->leaks_len * sizeof *inst->leaks);
        inst->leaks = NULL;
        inst->leaks_len = 0;
        instance_rereplicate(inst);
    }
    /* Leave the VPN: un-import and un-export. An empty configuration
     * allocates nothing, so this cannot fail. */
    struct rib_instance_config none = {.rd = inst->rd};
    if (rib_instance_configure(inst, &none) != 0)
        r->repl_failures++;
    /* Whatever is left: primary paths (and replicas, were memory short). */
    for (int i = 0; i < 3; i++) {
        struct rib_table *t = inst->tables[i];
        for (size_t s = 0; s < t->cap; s++) {
            struct rib_route *rt = rib_slot_route(t->slots[s]);
            if (!rt)
                continue;
            for (int k = rt->npaths - 1; k >= 0; k--) {
                if (RIB_PATHS(rt)[k].primary)
                    rib_dep_del(r, RIB_PATHS(rt)[k].primary, rt);
                rib_route_path_remove(r, rt, k);
            }
            rt->nbest = 0;
            rt->flags &= (uint8_t)~(RIB_RT_CHANGED | RIB_RT_TOUCHED);
            if (RIB_NDEPS(rt))
                rib_replicate(t, rt);
        }
        r->routes -= t->count;
        t->count = 0;
    }
    for (int i = 0; i < 3; i++)
        rib_table_release(inst->tables[i]);
    for (size_t k = 0; k < r->insts_len; k++)
        if (r->insts[k] == inst) {
            r->insts[k] = r->insts[--r->insts_len];
            break;
        }
    instance_struct_free(r, inst);
}

void rib_instances_free_all(struct rib *r)
{
    for (size_t k = 0; k < r->insts_len; k++)
        instance_struct_free(r, r->insts[k]);
    rib_dealloc(r, r->insts, r->insts_len * sizeof *r->insts);
    r->insts = NULL;
    r->insts_len = 0;
    for (size_t i = 0; i < r->rtidx_cap; i++)
        rib_dealloc(r, r->rtidx[i].insts, r->rtidx[i].len * sizeof *r->rtidx[i].insts);
    rib_dealloc(r, r->rtidx, r->rtidx_cap * sizeof *r->rtidx);
    r->rtidx = NULL;
    r->rtidx_cap = r->rtidx_count = 0;
}

/* ---- per-source stale handling ---- */

enum src_op { OP_STALE, OP_LLGR, OP_SWEEP, OP_WITHDRAW };

static int source_scan(struct rib *r, uint32_t source, enum src_op op)
{
    if (!rib_source_get(r, source))
        return RIB_ERR_SOURCE;
    int done = 0;
    for (uint32_t ti = 1; ti < r->tables_len; ti++) {
        struct rib_table *t = r->tables[ti];
        if (!t || t->count == 0)
            continue;
        size_t n;
        struct rib_route **a = rib_table_snapshot(t, &n);
        if (!a)
            return RIB_ERR_NOMEM;
        for (size_t k = 0; k < n; k++) {
            struct rib_route *rt = a[k];
            bool was_empty = rt->npaths == 0;
            for (int i = rt->npaths - 1; i >= 0; i--) {
                struct rib_path *p = &RIB_PATHS(rt)[i];
                if (p->primary || p->source != source)
                    continue;
                struct rib_path np = *p;
                switch (op) {
                case OP_STALE:
                    if (p->flags & RIB_PATH_STALE)
                        continue;
                    np.flags |= RIB_PATH_STALE;
                    rib_route_path_replace(r, rt, i, &np);
                    break;
                case OP_LLGR:
                    if (!(p->flags & RIB_PATH_STALE) || (p->flags & RIB_PATH_LLGR_STALE))
                        continue;
                    if (rib_attr_has_comm(p->attr, RIB_COMM_NO_LLGR)) {
                        rib_route_path_remove(r, rt, i);
                        continue;
                    }
                    np.flags |= RIB_PATH_LLGR_STALE;
                    if (rib_attr_derive(r, p->attr, NULL, 0, RIB_COMM_LLGR_STALE, NULL, NULL, &np.attr) != 0)
                        np.attr = rib_attr_ref(p->attr);
                    rib_route_path_replace(r, rt, i, &np);
                    rib_attr_unref(r, np.attr);
                    break;
                case OP_SWEEP:
                    if (!(p->flags & (RIB_PATH_STALE | RIB_PATH_LLGR_STALE)))
                        continue;
                    rib_route_path_remove(r, rt, i);
                    break;
                case OP_WITHDRAW:
                    rib_route_path_remove(r, rt, i);
                    break;
                }
                done++;
            }
            count_route(t, rt, was_empty);
            rib_route_update(t, rt);
        }
        free(a);
    }
    return done;
}

int rib_source_mark_stale(struct rib *r, uint32_t source)
{
    return source_scan(r, source, OP_STALE);
}

int rib_source_mark_llgr(struct rib *r, uint32_t source)
{
    return source_scan(r, source, OP_LLGR);
}

int rib_source_sweep(struct rib *r, uint32_t source)
{
    return source_scan(r, source, OP_SWEEP);
}

int rib_source_withdraw_all(struct rib *r, uint32_t source)
{
    return source_scan(r, source, OP_WITHDRAW);
}

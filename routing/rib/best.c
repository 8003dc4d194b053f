/* The decision process: orders a route's paths best first and finds the ECMP
 * set. Steps, each deciding only when the previous ones tie:
 *   1. feasible paths before infeasible ones (infeasible are never best);
 *   2. non-LLGR-stale before LLGR-stale (RFC 9494 §4.3);
 *   3. higher sequence number (MAC mobility / VM move; 0 when absent, so
 *      plain BGP paths tie here) — before local-pref, as the anchor does;
 *   4. higher LOCAL_PREF (absent: 100);
 *   5. locally originated (LOCAL or XMPP source) before BGP-learned — the
 *      "locally originated" rule of real routers, with agent routes counting
 *      as local because this control node originates them into BGP;
 *   6. shorter AS path (AS_SET counts 1, confederation segments 0);
 *   7. lower ORIGIN;
 *   8. lower MED (absent: 0), only between paths whose neighbouring AS is the
 *      same unless always_compare_med;
 *   9. eBGP before iBGP;
 *  10. lower router id (ORIGINATOR_ID when present);
 *  11. shorter CLUSTER_LIST;
 *  12. lower peer address;
 *  13. a total tie-break (source id, path id, primary table, primary key).
 *
 * Determinism (same paths, any insertion order, same result) needs a
 * transitive order, which pairwise MED comparison is not. So MED is applied
 * the "deterministic-med" way: paths are grouped by neighbouring AS, each
 * group is ordered with all steps, and groups are ordered by comparing their
 * leaders with every step except MED. The ECMP set is every feasible path
 * equal to the best one through steps 1–9 (MED only against a path of the
 * same group), excluding paths whose attributes say RIB_ATTR_SINGLE_PATH
 * (and nothing joins a best path that says it). */
#include <stdlib.h>
#include <string.h>

#include "routing/rib/rib_int.h"

struct pkey {
    const struct rib_path *p;
    int idx;
    uint32_t group;
    uint8_t infeasible, llgr, local_class, origin, ibgp;
    uint32_t seq, lp, aslen, med, router_id, cluster_len;
    const struct rib_addr *peer;
};

static int cmp3(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

/* Steps 1..12 (MED when 'med'). Returns <0 when 'a' is better. */
static int cmp_steps(const struct pkey *a, const struct pkey *b, bool med)
{
    int c;
    if ((c = cmp3(a->infeasible, b->infeasible)))
        return c;
    if ((c = cmp3(a->llgr, b->llgr)))
        return c;
    if ((c = cmp3(b->seq, a->seq)))
        return c;
    if ((c = cmp3(b->lp, a->lp)))
        return c;
    if ((c = cmp3(a->local_class, b->local_class)))
        return c;
    if ((c = cmp3(a->aslen, b->aslen)))
        return c;
    if ((c = cmp3(a->origin, b->origin)))
        return c;
    if (med && (c = cmp3(a->med, b->med)))
        return c;
    if ((c = cmp3(a->ibgp, b->ibgp)))
        return c;
    if ((c = cmp3(a->router_id, b->router_id)))
        return c;
    if ((c = cmp3(a->cluster_len, b->cluster_len)))
        return c;
    if ((c = cmp3(a->peer->af, b->peer->af)))
        return c;
    return memcmp(a->peer->b, b->peer->b, 16);
}

static int cmp_tiebreak(const struct pkey *a, const struct pkey *b)
{
    int c;
    if ((c = cmp3(a->p->source, b->p->source)))
        return c;
    if ((c = cmp3(a->p->path_id, b->p->path_id)))
        return c;
    if ((c = cmp3(a->p->primary_table, b->p->primary_table)))
        return c;
    const struct rib_route *x = a->p->primary, *y = b->p->primary;
    if (!x || !y)
        return cmp3(x != NULL, y != NULL);
    size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
    if ((c = memcmp(x->key, y->key, n)))
        return c;
    return cmp3(x->keylen, y->keylen);
}

static int cmp_in_group(const void *va, const void *vb)
{
    const struct pkey *a = va, *b = vb;
    int c = cmp3(a->group, b->group);
    if (!c)
        c = cmp_steps(a, b, true);
    return c ? c : cmp_tiebreak(a, b);
}

static int cmp_leaders(const void *va, const void *vb)
{
    const struct pkey *a = *(const struct pkey *const *)va, *b = *(const struct pkey *const *)vb;
    int c = cmp_steps(a, b, false);
    return c ? c : cmp_tiebreak(a, b);
}

static bool ecmp_equal(const struct pkey *a, const struct pkey *b)
{
    return !b->infeasible && a->llgr == b->llgr && a->seq == b->seq && a->lp == b->lp &&
           a->local_class == b->local_class && a->aslen == b->aslen && a->origin == b->origin &&
           (a->group != b->group || a->med == b->med) && a->ibgp == b->ibgp;
}

static void fill_key(const struct rib *r, const struct rib_path *p, int idx, struct pkey *k)
{
    static const struct rib_addr none;
    const struct rib_attr *a = p->attr;
    const struct rib_source_info *s = rib_source_get(r, p->source);
    enum rib_source_type type = s ? s->type : RIB_SRC_IBGP;
    k->p = p;
    k->idx = idx;
    k->group = r->cfg.always_compare_med ? 0 : rib_attr_neighbor_as(a);
    k->infeasible = (p->flags & RIB_PATH_INFEASIBLE) != 0;
    k->llgr = (p->flags & RIB_PATH_LLGR_STALE) != 0;
    k->seq = a->seq;
    k->lp = a->flags & RIB_ATTR_HAS_LOCAL_PREF ? a->local_pref : 100;
    k->local_class = type == RIB_SRC_LOCAL || type == RIB_SRC_XMPP ? 0 : 1;
    k->aslen = rib_attr_as_path_count(a);
    k->origin = a->origin;
    k->med = a->flags & RIB_ATTR_HAS_MED ? a->med : 0;
    k->ibgp = type == RIB_SRC_IBGP;
    k->router_id = a->flags & RIB_ATTR_HAS_ORIGINATOR ? a->originator_id : (s ? s->router_id : 0);
    k->cluster_len = (uint32_t)a->cluster_len;
    k->peer = s ? &s->address : &none;
}

bool rib_best_sort(struct rib *r, struct rib_table *t, struct rib_route *rt)
{
    (void)t;
    uint16_t n = rt->npaths, old_nbest = rt->nbest;
    bool changed = (rt->flags & RIB_RT_TOUCHED) != 0;
    rt->flags &= (uint8_t)~(RIB_RT_TOUCHED | RIB_RT_UNSORTED);
    if (n == 0) {
        rt->nbest = 0;
        return changed || old_nbest != 0;
    }
    if (n == 1) {
        /* The common case: nothing to order. */
        rt->nbest = (RIB_PATHS(rt)[0].flags & RIB_PATH_INFEASIBLE) ? 0 : 1;
        return changed || rt->nbest != old_nbest;
    }
    struct pkey kbuf[8];
    const struct pkey *lbuf[8];
    struct rib_path pbuf[8];
    struct pkey *keys = kbuf;
    const struct pkey **leaders = lbuf;
    struct rib_path *tmp = pbuf;
    if (n > 8) {
        keys = rib_tmp_alloc(n * sizeof *keys);
        leaders = rib_tmp_alloc(n * sizeof *leaders);
        tmp = rib_tmp_alloc(n * sizeof *tmp);
        if (!keys || !leaders || !tmp) {
            /* No memory to decide: the route has no best path until its
             * next change (conservative, and every invariant holds). */
            free(keys);
            free(leaders);
            free(tmp);
            r->repl_failures++;
            rt->nbest = 0;
            rt->flags |= RIB_RT_UNSORTED;
            return changed || old_nbest != 0;
        }
    }
    for (int i = 0; i < n; i++)
        fill_key(r, &RIB_PATHS(rt)[i], i, &keys[i]);
    qsort(keys, n, sizeof *keys, cmp_in_group);
    size_t ngroups = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || keys[i].group != keys[i - 1].group)
            leaders[ngroups++] = &keys[i];
    qsort(leaders, ngroups, sizeof *leaders, cmp_leaders);

    /* Concatenate the groups in leader order, then pull the ECMP set to
     * the front. 'pos' walks the output. */
    const struct pkey *best = leaders[0];
    uint16_t nbest = 0, pos = 0;
    bool single = best->infeasible || (best->p->attr->flags & RIB_ATTR_SINGLE_PATH);
    /* pass 0: ECMP members; pass 1: the rest. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t g = 0; g < ngroups; g++) {
            const struct pkey *k = leaders[g];
            for (const struct pkey *e = keys + n; k < e && k->group == leaders[g]->group; k++) {
                bool member = !best->infeasible &&
                              (k == best || (!single && !(k->p->attr->flags & RIB_ATTR_SINGLE_PATH) &&
                                             ecmp_equal(best, k)));
                if (member != (pass == 0))
                    continue;
                if (pos < old_nbest && k->idx != pos)
                    changed = true;
                tmp[pos++] = *k->p;
                if (pass == 0)
                    nbest++;
            }
        }
    }
    if (nbest != old_nbest)
        changed = true;
    memcpy(RIB_PATHS(rt), tmp, n * sizeof *tmp);
    rt->nbest = nbest;
    if (keys != kbuf) {
        free(keys);
        free(leaders);
        free(tmp);
    }
    return changed;
}

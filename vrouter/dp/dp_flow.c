/* The flow table of the vRouter core: 5-tuple + VRF keys (IPv4 and IPv6)
 * mapped to an action (forward, drop, NAT, mirror), with per-flow counters,
 * last-seen time for aging, a reverse-flow index and a "hold" state for a
 * flow whose first packet went to the agent.
 *
 * Layout: 2^n main slots in buckets of DP_FLOW_WAYS, plus an overflow area
 * chained per bucket. Lookups are lock-free: a slot's precomputed hash is
 * compared first, then its key, both validated by the slot's sequence
 * counter. Every writer of keys and actions (the fast path creating a held
 * entry on a miss, and control) holds flow_lock; the fast path also writes
 * an entry's forwarding cache without that lock, so every writer takes the
 * entry's sequence counter itself (dp_seq_lock / dp_seq_trylock), and every
 * control write clears the cache. Overflow slots that are unlinked are
 * recycled only after a grace period, which control runs with flow_lock
 * released (fast-path threads may be waiting on it). */
#include "vrouter/dp/dp_int.h"

_Static_assert(sizeof(struct dp_flow_ent) == 128, "a flow entry is two cache lines");

uint32_t dp_flow_hash(const struct dp_flow_key *k)
{
    if (k->family == 4) {
        const uint8_t *b = (const uint8_t *)k;
        return dp_flow_hash4(dp_ld64(b), dp_ld32(b + 20), dp_ld64(b + 36));
    }
    uint64_t x = dp_ld64(k->src) ^ ((dp_ld64(k->src + 8) << 17) | (dp_ld64(k->src + 8) >> 47));
    uint64_t y = dp_ld64(k->dst) ^ ((dp_ld64(k->dst + 8) << 31) | (dp_ld64(k->dst + 8) >> 33));
    uint64_t z = (uint64_t)k->vrf << 40 | (uint64_t)k->proto << 32 | (uint64_t)k->sport << 16 | k->dport;
    uint64_t h = x * 0x9e3779b97f4a7c15ull ^ y * 0xc2b2ae3d27d4eb4full ^ z * 0x165667b19e3779f9ull;
    return dp_mix64(h ^ k->family);
}

static int key_eq(const struct dp_flow_key *a, const struct dp_flow_key *b)
{
    if (b->family == 4) {
        return dp_key4_eq(a, b);
    }
    const uint8_t *pa = (const uint8_t *)a, *pb = (const uint8_t *)b;
    uint64_t d = 0;
    for (uint32_t i = 0; i + 8 <= sizeof *a; i += 8) {
        d |= dp_ld64(pa + i) ^ dp_ld64(pb + i);
    }
    uint32_t ta, tb;
    dp_memcpy(&ta, pa + sizeof *a - 4, 4);
    dp_memcpy(&tb, pb + sizeof *a - 4, 4);
    return (d | (ta ^ tb)) == 0;
}

int dp_flow_tables_init(struct dp *dp)
{
    uint32_t main = DP_FLOW_WAYS;
    while (main < dp->cfg.flows) {
        main <<= 1;
    }
    dp->flow_main = main;
    dp->flow_bmask = main / DP_FLOW_WAYS - 1;
    dp->flows_mem = dp_env_zalloc(((size_t)main + dp->cfg.flow_overflow) * sizeof *dp->flows + 63);
    dp->flows = (struct dp_flow_ent *)(((uintptr_t)dp->flows_mem + 63) & ~(uintptr_t)63);
    dp->flow_ovf_head = dp_env_zalloc(((size_t)main / DP_FLOW_WAYS) * sizeof *dp->flow_ovf_head);
    dp->flow_tag = dp_env_zalloc((size_t)main * sizeof *dp->flow_tag);
    dp->flow_used = dp_env_zalloc((size_t)main / DP_FLOW_WAYS);
    if (!dp->flows_mem || !dp->flow_ovf_head || !dp->flow_tag || !dp->flow_used) {
        return VR_ENOMEM;
    }
    for (uint32_t b = 0; b <= dp->flow_bmask; b++) {
        dp->flow_ovf_head[b] = DP_FLOW_NONE;
    }
    return dp_pool_init(&dp->flow_ovf_pool, dp->cfg.flow_overflow);
}

void dp_flow_prefetch(const struct dp *dp, const struct dp_flow_key *key)
{
    uint32_t hash = dp_flow_hash(key);
    uint32_t b = hash & dp->flow_bmask;
    __builtin_prefetch(&dp->flow_tag[b * DP_FLOW_WAYS], 0, 3);
    __builtin_prefetch(&dp->flow_used[b], 1, 3);
    __builtin_prefetch(&dp->flows[b * DP_FLOW_WAYS], 1, 3);
}

void dp_flow_prefault(struct dp *dp)
{
    volatile uint8_t *p = (volatile uint8_t *)dp->flows_mem;
    size_t size = ((size_t)dp->flow_main + dp->cfg.flow_overflow) * sizeof *dp->flows + 63;
    for (size_t off = 0; off < size; off += 4096) {
        p[off] = p[off]; /* zero already: a write that faults the page in */
    }
    volatile uint8_t *t = (volatile uint8_t *)dp->flow_tag;
    for (size_t off = 0; off < (size_t)dp->flow_main * sizeof *dp->flow_tag; off += 4096) {
        t[off] = t[off];
    }
}

int dp_flow_table_region(const struct dp *dp, unsigned i, void **p, size_t *size)
{
    if (i == 0) {
        *p = dp->flows_mem;
        *size = ((size_t)dp->flow_main + dp->cfg.flow_overflow) * sizeof *dp->flows + 63;
        return 0;
    }
    if (i == 1) {
        *p = dp->flow_tag;
        *size = (size_t)dp->flow_main * sizeof *dp->flow_tag;
        return 0;
    }
    return -1;
}

void dp_flow_tables_free(struct dp *dp)
{
    dp_pool_destroy(&dp->flow_ovf_pool);
    dp_env_free(dp->flow_tag);
    dp_env_free(dp->flow_used);
    dp_env_free(dp->flow_ovf_head);
    dp_env_free(dp->flows_mem);
}

static int slot_matches(const struct dp_flow_ent *e, const struct dp_flow_key *key)
{
    uint32_t s, match;
    do {
        s = dp_seq_read_begin(&e->seq);
        match = e->state != DP_FLOW_FREE && key_eq(&e->key, key);
    } while (dp_seq_read_retry(&e->seq, s));
    return match;
}

/* 1 and 'v' filled when slot 'e' holds 'key'; one consistent read. */
static int slot_read(const struct dp_flow_ent *e, const struct dp_flow_key *key, struct dp_flow_view *v)
{
    uint32_t s, match;
    do {
        s = dp_seq_read_begin(&e->seq);
        match = e->state != DP_FLOW_FREE && key_eq(&e->key, key);
        if (match) {
            v->state = e->state;
            v->act = e->act;
            v->cache = e->cache;
        }
    } while (dp_seq_read_retry(&e->seq, s));
    v->seq = s;
    return match;
}

uint32_t dp_flow_lookup(const struct dp *dp, const struct dp_flow_key *key, uint32_t hash, struct dp_flow_view *v)
{
    uint32_t b = hash & dp->flow_bmask;
    uint32_t base = b * DP_FLOW_WAYS;
    const uint32_t *tag = &dp->flow_tag[base];
    for (uint32_t w = 0; w < DP_FLOW_WAYS; w++) {
        if (dp_load_relaxed(&tag[w]) == hash && slot_read(&dp->flows[base + w], key, v)) {
            return base + w;
        }
    }
    for (uint32_t i = dp_load_acquire(&dp->flow_ovf_head[b]); i != DP_FLOW_NONE;
         i = dp_load_acquire(&dp->flows[i].next)) {
        if (dp_load_relaxed(&dp->flows[i].hash) == hash && slot_read(&dp->flows[i], key, v)) {
            return i;
        }
    }
    return DP_FLOW_NONE;
}

void dp_flow_cache_fill(struct dp *dp, uint32_t idx, uint32_t seq, const struct dp_flow_cache *fc)
{
    struct dp_flow_ent *e = &dp->flows[idx];
    if (!dp_seq_trylock(&e->seq, seq)) {
        return;
    }
    e->cache = *fc;
    dp_seq_write_end(&e->seq);
}

uint32_t dp_flow_index_limit(const struct dp *dp)
{
    return dp->flow_main + dp->cfg.flow_overflow;
}

uint32_t dp_flow_find(const struct dp *dp, const struct dp_flow_key *key, uint32_t hash)
{
    uint32_t b = hash & dp->flow_bmask;
    uint32_t base = b * DP_FLOW_WAYS;
    const uint32_t *tag = &dp->flow_tag[base];
    for (uint32_t w = 0; w < DP_FLOW_WAYS; w++) {
        if (dp_load_relaxed(&tag[w]) == hash && slot_matches(&dp->flows[base + w], key)) {
            return base + w;
        }
    }
    for (uint32_t i = dp_load_acquire(&dp->flow_ovf_head[b]); i != DP_FLOW_NONE;
         i = dp_load_acquire(&dp->flows[i].next)) {
        if (dp_load_relaxed(&dp->flows[i].hash) == hash && slot_matches(&dp->flows[i], key)) {
            return i;
        }
    }
    return DP_FLOW_NONE;
}

/* Finds a free slot for 'hash' and links it if it is an overflow slot; its
 * state stays FREE until the caller writes it. Caller holds flow_lock.
 * Never waits for a grace period. */
static uint32_t flow_slot_new(struct dp *dp, uint32_t hash)
{
    _Static_assert(DP_FLOW_WAYS <= 8, "flow_used has a bit per way");
    uint32_t b = hash & dp->flow_bmask;
    uint32_t used = dp->flow_used[b];
    if (used != (1u << DP_FLOW_WAYS) - 1) {
        return b * DP_FLOW_WAYS + (uint32_t)__builtin_ctz(~used);
    }
    struct dp_pool *p = &dp->flow_ovf_pool;
    uint32_t o = p->free_head;
    if (o == DP_NONE) {
        return DP_FLOW_NONE;
    }
    p->free_head = p->next[o];
    p->next[o] = DP_NONE;
    p->used++;
    uint32_t idx = dp->flow_main + o - 1;
    struct dp_flow_ent *e = &dp->flows[idx];
    dp_seq_lock(&e->seq);
    e->state = DP_FLOW_FREE;
    e->hash = hash;
    dp_flow_cache_clear(&e->cache);
    dp_seq_write_end(&e->seq);
    e->next = dp->flow_ovf_head[b];
    dp_store_release(&dp->flow_ovf_head[b], idx);
    return idx;
}

static void flow_write(struct dp *dp, uint32_t idx, const struct dp_flow_key *key, uint32_t hash,
                       uint32_t state, const struct dp_flow_action *act, uint64_t now_ms)
{
    struct dp_flow_ent *e = &dp->flows[idx];
    dp_seq_lock(&e->seq);
    e->key = *key;
    dp_flow_cache_clear(&e->cache);
    dp_store_relaxed(&e->hash, hash);
    if (idx < dp->flow_main) {
        dp_store_relaxed(&dp->flow_tag[idx], hash);
    }
    if (act) {
        e->act = *act;
    } else {
        dp_memset(&e->act, 0, sizeof e->act);
    }
    e->reverse = DP_FLOW_NONE;
    e->gen = dp->gen;
    e->packets = 0;
    e->bytes = 0;
    e->last_seen = now_ms;
    e->state = (uint8_t)state;
    dp_seq_write_end(&e->seq);
    if (idx < dp->flow_main) {
        dp->flow_used[idx / DP_FLOW_WAYS] |= (uint8_t)(1u << (idx % DP_FLOW_WAYS));
    }
}

uint32_t dp_flow_hold(struct dp *dp, const struct dp_flow_key *key, uint32_t hash, uint64_t now_ms)
{
    dp_env_lock(dp->flow_lock);
    uint32_t idx = dp_flow_find(dp, key, hash);
    if (idx == DP_FLOW_NONE) {
        idx = flow_slot_new(dp, hash);
        if (idx != DP_FLOW_NONE) {
            flow_write(dp, idx, key, hash, DP_FLOW_HOLD, 0, now_ms);
        }
    }
    dp_env_unlock(dp->flow_lock);
    return idx;
}

static int flow_key_ok(const struct dp *dp, const struct dp_flow_key *k)
{
    if (k->family != 4 && k->family != 6) {
        return 0;
    }
    if (k->pad[0] || k->pad[1] || k->vrf >= dp->cfg.vrfs) {
        return 0;
    }
    if (k->family == 4) {
        for (int i = 4; i < 16; i++) {
            if (k->src[i] || k->dst[i]) {
                return 0;
            }
        }
    }
    return 1;
}

static int flow_act_ok(const struct dp *dp, const struct dp_flow_action *a)
{
    if (a->type > DP_FLOW_MIRROR || a->vrf >= dp->cfg.vrfs || a->mirror_nh >= dp->cfg.nhs) {
        return 0;
    }
    if (a->type == DP_FLOW_MIRROR && a->mirror_nh == DP_NONE) {
        return 0;
    }
    return a->type != DP_FLOW_NAT || (a->flags & (DP_FA_SNAT | DP_FA_DNAT)) != 0;
}

/* Installs or updates; caller holds flow_lock. */
static int flow_set_locked(struct dp *dp, const struct dp_flow_key *key, const struct dp_flow_action *act,
                           uint64_t now_ms, uint32_t *index)
{
    uint32_t hash = dp_flow_hash(key);
    uint32_t idx = dp_flow_find(dp, key, hash);
    if (idx == DP_FLOW_NONE) {
        idx = flow_slot_new(dp, hash);
        if (idx == DP_FLOW_NONE) {
            return VR_EFULL;
        }
        flow_write(dp, idx, key, hash, DP_FLOW_ACTIVE, act, now_ms);
    } else {
        struct dp_flow_ent *e = &dp->flows[idx];
        dp_seq_lock(&e->seq);
        e->act = *act;
        dp_flow_cache_clear(&e->cache);
        e->gen = dp->gen;
        if (e->state == DP_FLOW_HOLD) {
            e->last_seen = now_ms;
        }
        e->state = DP_FLOW_ACTIVE;
        dp_seq_write_end(&e->seq);
    }
    if (index) {
        *index = idx;
    }
    return 0;
}

int dp_flow_set(struct dp *dp, const struct dp_flow_key *key, const struct dp_flow_action *act, uint64_t now_ms,
                uint32_t *index)
{
    if (!flow_key_ok(dp, key) || !flow_act_ok(dp, act)) {
        return VR_EINVAL;
    }
    dp_env_lock(dp->flow_lock);
    int rc = flow_set_locked(dp, key, act, now_ms, index);
    dp_env_unlock(dp->flow_lock);
    return rc;
}

static void flow_remove(struct dp *dp, uint32_t idx);

int dp_flow_set_pair(struct dp *dp, const struct dp_flow_key *fwd, const struct dp_flow_action *fwd_act,
                     const struct dp_flow_key *rev, const struct dp_flow_action *rev_act, uint64_t now_ms,
                     uint32_t *fwd_index, uint32_t *rev_index)
{
    if (!flow_key_ok(dp, fwd) || !flow_act_ok(dp, fwd_act) || !flow_key_ok(dp, rev) || !flow_act_ok(dp, rev_act) ||
        key_eq(fwd, rev)) {
        return VR_EINVAL;
    }
    uint32_t fi, ri;
    dp_env_lock(dp->flow_lock);
    int rc = flow_set_locked(dp, fwd, fwd_act, now_ms, &fi);
    if (rc == 0) {
        rc = flow_set_locked(dp, rev, rev_act, now_ms, &ri);
        if (rc != 0) {
            flow_remove(dp, fi);
        }
    }
    if (rc == 0) {
        dp_store_relaxed(&dp->flows[fi].reverse, ri);
        dp_store_relaxed(&dp->flows[ri].reverse, fi);
        if (fwd_index) {
            *fwd_index = fi;
        }
        if (rev_index) {
            *rev_index = ri;
        }
    }
    dp_env_unlock(dp->flow_lock);
    return rc;
}

/* Frees slot 'idx'; caller holds flow_lock. */
static void flow_remove(struct dp *dp, uint32_t idx)
{
    struct dp_flow_ent *e = &dp->flows[idx];
    uint32_t rev = e->reverse;
    if (rev != DP_FLOW_NONE && dp->flows[rev].reverse == idx) {
        dp_store_relaxed(&dp->flows[rev].reverse, DP_FLOW_NONE);
    }
    dp_seq_lock(&e->seq);
    e->state = DP_FLOW_FREE;
    dp_flow_cache_clear(&e->cache);
    e->reverse = DP_FLOW_NONE;
    dp_seq_write_end(&e->seq);
    if (idx < dp->flow_main) {
        dp->flow_used[idx / DP_FLOW_WAYS] &= (uint8_t)~(1u << (idx % DP_FLOW_WAYS));
    } else {
        uint32_t *link = &dp->flow_ovf_head[e->hash & dp->flow_bmask];
        while (*link != idx) {
            link = &dp->flows[*link].next;
        }
        dp_store_release(link, e->next);
        dp_pool_free(&dp->flow_ovf_pool, idx - dp->flow_main + 1);
    }
}

/* Makes overflow slots unlinked before the call reusable. Must not be
 * called with flow_lock held. */
static void flow_recycle(struct dp *dp)
{
    dp_env_lock(dp->flow_lock);
    int pending = dp->flow_ovf_pool.limbo_head != DP_NONE;
    dp_env_unlock(dp->flow_lock);
    if (!pending) {
        return;
    }
    dp_env_synchronize();
    dp_env_lock(dp->flow_lock);
    struct dp_pool *p = &dp->flow_ovf_pool;
    while (p->limbo_head != DP_NONE) {
        uint32_t o = p->limbo_head;
        p->limbo_head = p->next[o];
        p->next[o] = p->free_head;
        p->free_head = o;
    }
    dp_env_unlock(dp->flow_lock);
}

int dp_flow_del(struct dp *dp, const struct dp_flow_key *key)
{
    if (!flow_key_ok(dp, key)) {
        return VR_EINVAL;
    }
    int rc = 0;
    dp_env_lock(dp->flow_lock);
    uint32_t idx = dp_flow_find(dp, key, dp_flow_hash(key));
    if (idx == DP_FLOW_NONE) {
        rc = VR_ENOENT;
    } else {
        flow_remove(dp, idx);
    }
    dp_env_unlock(dp->flow_lock);
    if (rc == 0) {
        flow_recycle(dp);
    }
    return rc;
}

static void flow_export(const struct dp *dp, uint32_t idx, struct dp_flow *o)
{
    const struct dp_flow_ent *e = &dp->flows[idx];
    dp_memset(o, 0, sizeof *o);
    o->index = idx;
    o->state = (uint8_t)e->state;
    o->key = e->key;
    o->action = e->act;
    o->reverse = e->reverse;
    o->packets = dp_load_relaxed(&e->packets);
    o->bytes = dp_load_relaxed(&e->bytes);
    o->last_seen_ms = dp_load_relaxed(&e->last_seen);
    o->gen = e->gen;
}

int dp_flow_get(struct dp *dp, const struct dp_flow_key *key, struct dp_flow *out)
{
    if (!flow_key_ok(dp, key)) {
        return VR_EINVAL;
    }
    int rc = 0;
    dp_env_lock(dp->flow_lock);
    uint32_t idx = dp_flow_find(dp, key, dp_flow_hash(key));
    if (idx == DP_FLOW_NONE) {
        rc = VR_ENOENT;
    } else {
        flow_export(dp, idx, out);
    }
    dp_env_unlock(dp->flow_lock);
    return rc;
}

int dp_flow_get_index(struct dp *dp, uint32_t index, struct dp_flow *out)
{
    if (index >= dp->flow_main + dp->cfg.flow_overflow) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->flow_lock);
    if (dp->flows[index].state == DP_FLOW_FREE) {
        rc = VR_ENOENT;
    } else {
        flow_export(dp, index, out);
    }
    dp_env_unlock(dp->flow_lock);
    return rc;
}

int dp_flow_next(struct dp *dp, uint32_t *pos, struct dp_flow *out)
{
    int rc = VR_EEND;
    dp_env_lock(dp->flow_lock);
    for (; *pos < dp->flow_main + dp->cfg.flow_overflow; (*pos)++) {
        if (dp->flows[*pos].state != DP_FLOW_FREE) {
            flow_export(dp, *pos, out);
            (*pos)++;
            rc = 0;
            break;
        }
    }
    dp_env_unlock(dp->flow_lock);
    return rc;
}

static int flow_idle(const struct dp_flow_ent *e, uint64_t now_ms, uint64_t idle_ms)
{
    uint64_t seen = dp_load_relaxed(&e->last_seen);
    return now_ms >= seen && now_ms - seen > idle_ms;
}

uint32_t dp_flow_age(struct dp *dp, uint64_t now_ms, uint64_t idle_ms)
{
    uint32_t removed = 0;
    dp_env_lock(dp->flow_lock);
    for (uint32_t i = 0; i < dp->flow_main + dp->cfg.flow_overflow; i++) {
        struct dp_flow_ent *e = &dp->flows[i];
        if (e->state == DP_FLOW_FREE || !flow_idle(e, now_ms, idle_ms)) {
            continue;
        }
        uint32_t rev = e->reverse;
        if (rev != DP_FLOW_NONE && dp->flows[rev].state != DP_FLOW_FREE &&
            !flow_idle(&dp->flows[rev], now_ms, idle_ms)) {
            continue;
        }
        flow_remove(dp, i);
        removed++;
    }
    dp_env_unlock(dp->flow_lock);
    flow_recycle(dp);
    return removed;
}

uint32_t dp_flow_sweep(struct dp *dp, uint32_t gen)
{
    uint32_t removed = 0;
    dp_env_lock(dp->flow_lock);
    for (uint32_t i = 0; i < dp->flow_main + dp->cfg.flow_overflow; i++) {
        struct dp_flow_ent *e = &dp->flows[i];
        if (e->state != DP_FLOW_FREE && (int32_t)(e->gen - gen) < 0) {
            flow_remove(dp, i);
            removed++;
        }
    }
    dp_env_unlock(dp->flow_lock);
    flow_recycle(dp);
    return removed;
}

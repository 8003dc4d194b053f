/* Longest-prefix match for the vRouter core: one 256-way trie per VRF and
 * family, with prefix expansion, so a lookup is one load per address byte
 * (at most 4 for IPv4, 16 for IPv6) and never compares prefixes.
 *
 * Each slot holds either a next-hop id or a child node. A prefix /p is
 * expanded into every slot it covers at depth ceil(p/8); each such slot
 * remembers the length that produced it, so a shorter prefix never
 * overwrites a longer one, and deleting /p restores exactly the slots /p
 * produced with its cover (the longest shorter prefix, found by the caller
 * in the exact-prefix table). A child node starts as 256 copies of the slot
 * it replaces; when a delete leaves a child uniform again it is folded back
 * into its parent slot and recycled after a grace period. Writers hold
 * dp->lock; slot stores are release stores, and a child is fully written
 * before the store that links it, so lock-free readers see either the old
 * or the new state of every slot. */
#include "vrouter/dp/dp_int.h"

static uint32_t lpm_node_new(struct dp *dp, uint32_t fill, uint8_t plen)
{
    uint32_t idx = dp_pool_alloc(&dp->lpm_pool);
    if (idx == DP_NONE) {
        return DP_NONE;
    }
    struct dp_lpm_node *n = &dp->lpm[idx];
    for (int i = 0; i < 256; i++) {
        dp_store_relaxed(&n->slot[i], fill);
        n->plen[i] = plen;
    }
    return idx;
}

/* Writes route 'nh/plen' into slot 's' of 'node' and, through children,
 * into every slot beneath it that no longer prefix produced. */
static void lpm_fill(struct dp *dp, uint32_t node, uint32_t s, uint32_t nh, uint8_t plen)
{
    struct dp_lpm_node *n = &dp->lpm[node];
    uint32_t v = n->slot[s];
    if (v & DP_LPM_CHILD) {
        for (uint32_t i = 0; i < 256; i++) {
            lpm_fill(dp, v & ~DP_LPM_CHILD, i, nh, plen);
        }
        return;
    }
    if (n->plen[s] <= plen) {
        n->plen[s] = plen;
        dp_store_release(&n->slot[s], nh);
    }
}

/* Folds the child under slot 's' back into the slot when it is uniform. */
static void lpm_collapse(struct dp *dp, uint32_t node, uint32_t s)
{
    struct dp_lpm_node *n = &dp->lpm[node];
    uint32_t v = n->slot[s];
    if (!(v & DP_LPM_CHILD)) {
        return;
    }
    uint32_t child = v & ~DP_LPM_CHILD;
    const struct dp_lpm_node *c = &dp->lpm[child];
    for (uint32_t i = 0; i < 256; i++) {
        if ((c->slot[i] & DP_LPM_CHILD) || c->slot[i] != c->slot[0] || c->plen[i] != c->plen[0]) {
            return;
        }
    }
    n->plen[s] = c->plen[0];
    dp_store_release(&n->slot[s], c->slot[0]);
    dp_pool_free(&dp->lpm_pool, child);
}

static void lpm_unfill(struct dp *dp, uint32_t node, uint32_t s, uint8_t plen, uint32_t cover_nh,
                       uint8_t cover_plen)
{
    struct dp_lpm_node *n = &dp->lpm[node];
    uint32_t v = n->slot[s];
    if (v & DP_LPM_CHILD) {
        for (uint32_t i = 0; i < 256; i++) {
            lpm_unfill(dp, v & ~DP_LPM_CHILD, i, plen, cover_nh, cover_plen);
        }
        lpm_collapse(dp, node, s);
        return;
    }
    if (n->plen[s] == plen) {
        n->plen[s] = cover_plen;
        dp_store_release(&n->slot[s], cover_nh);
    }
}

static void lpm_range(const uint8_t *addr, uint8_t plen, uint32_t level, uint32_t *first, uint32_t *span)
{
    uint32_t bits = plen - level * 8; /* 0..8 bits of this byte are fixed */
    *span = 1u << (8 - bits);
    *first = bits ? (addr[level] & (0xffu << (8 - bits)) & 0xffu) : 0;
}

int dp_lpm_insert(struct dp *dp, uint32_t *root, const uint8_t *addr, uint8_t plen, uint8_t maxlen,
                  uint32_t nh)
{
    if (plen > maxlen) {
        return VR_EINVAL;
    }
    if (*root == DP_NONE) {
        uint32_t r = lpm_node_new(dp, DP_NONE, 0);
        if (r == DP_NONE) {
            return VR_EFULL;
        }
        dp_store_release(root, r);
    }
    uint32_t node = *root;
    uint32_t level = 0;
    while (plen > (level + 1) * 8) {
        struct dp_lpm_node *n = &dp->lpm[node];
        uint32_t s = addr[level];
        uint32_t v = n->slot[s];
        if (!(v & DP_LPM_CHILD)) {
            uint32_t c = lpm_node_new(dp, v, n->plen[s]);
            if (c == DP_NONE) {
                return VR_EFULL; /* nodes made so far only copy their parent */
            }
            v = c | DP_LPM_CHILD;
            dp_store_release(&n->slot[s], v);
        }
        node = v & ~DP_LPM_CHILD;
        level++;
    }
    uint32_t first, span;
    lpm_range(addr, plen, level, &first, &span);
    for (uint32_t s = first; s < first + span; s++) {
        lpm_fill(dp, node, s, nh, plen);
    }
    return 0;
}

static void lpm_remove_at(struct dp *dp, uint32_t node, uint32_t level, const uint8_t *addr, uint8_t plen,
                          uint32_t cover_nh, uint8_t cover_plen)
{
    if (plen > (level + 1) * 8) {
        uint32_t s = addr[level];
        uint32_t v = dp->lpm[node].slot[s];
        if (!(v & DP_LPM_CHILD)) {
            return;
        }
        lpm_remove_at(dp, v & ~DP_LPM_CHILD, level + 1, addr, plen, cover_nh, cover_plen);
        lpm_collapse(dp, node, s);
        return;
    }
    uint32_t first, span;
    lpm_range(addr, plen, level, &first, &span);
    for (uint32_t s = first; s < first + span; s++) {
        lpm_unfill(dp, node, s, plen, cover_nh, cover_plen);
    }
}

void dp_lpm_remove(struct dp *dp, uint32_t *root, const uint8_t *addr, uint8_t plen, uint8_t maxlen,
                   uint32_t cover_nh, uint8_t cover_plen)
{
    if (*root == DP_NONE || plen > maxlen) {
        return;
    }
    lpm_remove_at(dp, *root, 0, addr, plen, cover_nh, cover_plen);
}

static void lpm_free_node(struct dp *dp, uint32_t node)
{
    struct dp_lpm_node *n = &dp->lpm[node];
    for (uint32_t i = 0; i < 256; i++) {
        if (n->slot[i] & DP_LPM_CHILD) {
            lpm_free_node(dp, n->slot[i] & ~DP_LPM_CHILD);
        }
    }
    dp_pool_free(&dp->lpm_pool, node);
}

void dp_lpm_clear(struct dp *dp, uint32_t *root)
{
    uint32_t r = *root;
    if (r == DP_NONE) {
        return;
    }
    dp_store_release(root, DP_NONE);
    lpm_free_node(dp, r);
}

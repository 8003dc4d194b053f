/* Internals of the vRouter forwarding core shared by its .c files: table
 * entry layouts, index pools, hashing and the bounded packet accessor. Not
 * for hosts: they use dp.h. */
#ifndef STRATA_DP_INT_H
#define STRATA_DP_INT_H

#include "vrouter/dp/dp.h"

#define DP_NONE 0u /* "no index" in pools, chains, routes and labels */

/* An index pool over [1, count]. Freed indices wait in 'limbo' until a grace
 * period (dp_env_synchronize) has passed, because lock-free readers may
 * still be walking them. Invariant: every index is in exactly one of: used,
 * the free list, the limbo list. */
struct dp_pool {
    uint32_t *next;
    uint32_t count;
    uint32_t used;
    uint32_t free_head;
    uint32_t limbo_head;
};

/* Interface. Fast-path readers copy fields under 'seq'. */
struct dp_if_ent {
    uint32_t seq;
    uint8_t type;
    uint8_t flags;
    uint8_t mac[6];
    uint8_t gw_mac[6];
    uint32_t vrf;
    uint32_t ip4, gw_ip4, dns_ip4;
    uint32_t gen;
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, drops;
};

/* VRF. 'present', 'root', 'bum_nh' and 'rt_ver' are single words read
 * lock-free. 'rt_ver' (always even) moves (store-release) after every
 * change of either trie is complete, so a reader that load-acquires it before a lookup and
 * finds it unchanged later knows the lookup's answer still holds. */
struct dp_vrf_ent {
    uint32_t present;
    uint32_t root[2]; /* LPM trie roots for IPv4 [0] and IPv6 [1], DP_NONE if empty */
    uint32_t bum_nh;
    uint32_t rt_ver;
    uint32_t gen;
};

/* Tunnel header template: outer Ethernet + IPv4 + GRE/UDP + MPLS/VXLAN. */
#define DP_TMPL_MAX 52

/* What the established-flow fast path writes for a next hop (fast_kind). */
enum dp_fast_kind {
    DP_FK_NONE,    /* not for the fast path (composites, discard, punt...) */
    DP_FK_IF,      /* local port: 'fast' is the new Ethernet destination and source */
    DP_FK_TUN,     /* tunnel without UDP (MPLSoGRE) */
    DP_FK_TUN_UDP, /* MPLSoUDP or VXLAN: the outer UDP header needs a port and a length */
};
#define DP_FAST_MAX 64
#define DP_FAST_META(kind, grow, size) ((uint32_t)(kind) | (uint32_t)(grow) << 8 | (uint32_t)(size) << 16)

/* Next hop. Fast-path readers copy what they need under 'seq'. For TUNNEL,
 * 'tmpl' holds the whole outer header with zero total length, zero UDP
 * source port and zero IPv4 checksum; 'csum_base' is the ones' complement
 * sum of that IPv4 header. The fast path's rewrite of a routed IPv4 frame
 * is one copy of 'fast' ('size' bytes of 'fast_meta', 12 for DP_FK_IF, else
 * 32 to DP_FAST_MAX) to 'grow' bytes before the frame's start: for DP_FK_IF
 * (grow 0) the Ethernet addresses; for MPLS tunnels the outer header,
 * ending where the inner IPv4 header starts (grow = size - 14); for VXLAN
 * the outer header followed by the inner Ethernet addresses (grow = size -
 * 12). Then, for tunnels, the outer IPv4 length and checksum (offsets 16,
 * 24) and for DP_FK_TUN_UDP the UDP source port and length (34, 38). */
struct dp_nh_ent {
    uint32_t seq;
    uint8_t type;
    uint8_t encap;
    uint8_t flags;
    uint8_t member_count;
    uint32_t ifindex;
    uint32_t csum_base;
    uint32_t fast_meta; /* DP_FAST_META(kind, grow, size), written as one word */
    uint32_t fast_csum; /* 'csum_base' folded to 16 bits, in network order as loaded */
    uint8_t tmpl_size;
    uint8_t fast[DP_FAST_MAX];
    uint32_t vrf, label, sip, dip;
    uint8_t dmac[6];
    uint8_t outer_dmac[6];
    uint32_t comp; /* composite member list index (ECMP/BUM) */
    uint32_t gen;
    uint8_t tmpl[DP_TMPL_MAX];
};

struct dp_comp {
    uint32_t members[DP_NH_MAX_MEMBERS];
};

struct dp_label_ent {
    uint32_t nh; /* read lock-free */
    uint32_t gen;
};

/* Hash-chained entries: the key is immutable while linked; the value is a
 * single word stored with release. */
struct dp_mac_ent {
    uint32_t next;
    uint32_t vrf;
    uint8_t used;
    uint8_t mac[6];
    uint32_t nh;
    uint32_t gen;
};

struct dp_vni_ent {
    uint32_t next;
    uint32_t vni;
    uint32_t used;
    uint64_t val; /* vrf << 32 | nh */
    uint32_t gen;
};

struct dp_route_ent {
    uint32_t next;
    uint32_t vrf;
    uint8_t used;
    uint8_t family;
    uint8_t plen;
    uint8_t addr[16];
    uint32_t nh;
    uint32_t gen;
};

/* A 256-way trie node with prefix expansion. slot[i] is a next-hop id, or
 * DP_LPM_CHILD | node index; plen[i] is the prefix length that produced a
 * next-hop slot (control-only metadata). */
#define DP_LPM_CHILD 0x80000000u
struct dp_lpm_node {
    uint32_t slot[256];
    uint8_t plen[256];
};

/* The forwarding decision cached in a flow entry by the fast path: the
 * route lookup in the routing VRF (valid while that VRF's rt_ver is
 * 'rt_ver') gave next hop 'nh' (read at sequence 'nh_seq'), which resolved
 * to 'leaf' (read at 'leaf_seq'; leaf == nh unless nh is ECMP). The cache is
 * valid when 'nh' is not DP_NONE and every recorded version still holds;
 * nothing ever flushes caches globally. Only flows whose action is FORWARD
 * or NAT are cached, and every control write of a flow clears its cache
 * (dp_flow_cache_clear): so 'nh' is not DP_NONE only in an ACTIVE entry.
 * Route versions are even; a cleared cache holds the odd DP_RT_VER_NONE,
 * so a matching route version alone says the cache is filled. */
struct dp_flow_cache {
    uint32_t rt_ver;
    uint32_t nh, nh_seq;
    uint32_t leaf, leaf_seq;
};
#define DP_RT_VER_NONE 1u
static inline void dp_flow_cache_clear(struct dp_flow_cache *fc)
{
    fc->nh = DP_NONE;
    fc->rt_ver = DP_RT_VER_NONE;
}

/* Flow entry, 128 bytes: the first cache line is what a lookup reads, the
 * second the action, the forwarding cache and the counters. Writers (control
 * under flow_lock, and the fast path creating held entries or filling the
 * cache) take 'seq' with dp_seq_lock/dp_seq_trylock; readers match 'hash'
 * and 'key' and copy the action and cache under 'seq'. Main slots live at
 * bucket * 4 + way; overflow slots at flow_main + i - 1 and are chained
 * from flow_ovf_head[bucket] through 'next'. The counters are written
 * outside 'seq' by the fast path (dp_counter_add). */
#define DP_FLOW_WAYS 4
struct dp_flow_ent {
    uint32_t seq;
    uint32_t hash;
    uint32_t next;
    uint8_t state;
    uint8_t pad[3];
    struct dp_flow_key key;
    uint32_t reverse;
    struct dp_flow_action act;
    uint32_t gen;
    struct dp_flow_cache cache;
    uint64_t packets, bytes, last_seen;
};

/* Exact-match cache entry, one cache line: the raw header bytes of the last
 * IPv4 packet of a flow forwarded by the fast path whose index
 * (dp_emc_index) is this slot, and what that packet's decision rested on.
 * 'kb' is frame bytes 20..27 as loaded with only the fragment field and
 * the protocol kept (DP_EMC_MASK_B) and, in place of bytes 24..27
 * (checksum, high half of the source address), the receiving VRF's route
 * version (dp_emc_rtb); 'kc' bytes 26..33 (addresses), 'kd' bytes 34..37
 * (ports) in its low half as loaded and the VRF of the receiving port in
 * its high half; the Ethernet type and IPv4 version/IHL are checked
 * against constants first. The decision stays valid while flow entry
 * 'flow' is at sequence 'flow_seq' (any control write of the flow moves
 * it), the VRF's route version is the one in 'kb' and next-hop entry
 * 'leaf' is at 'leaf_seq': the versions the flow cache checks, checked the
 * same way. 'sport' is the outer UDP source port (network order) of the
 * flow, 'tot_min' the smallest IPv4 total length the protocol allows;
 * 'kind', 'grow' and 'size' split the next hop's fast_meta and 'ncsum' is
 * the complement of its fast_csum with 'grow' added (both valid with
 * 'leaf_seq'), so that the outer checksum is 'ncsum' less the inner total
 * length as loaded (ones' complement sums do not depend on byte order);
 * its interface and 'fast' bytes are read from the next hop itself. Only the fast path writes entries, under 'seq'
 * (dp_seq_trylock, never waiting); readers check 'seq' after reading. Only
 * plain FORWARD flows in the receiving VRF with a non-ECMP next hop are
 * entered. An empty entry holds DP_EMC_EMPTY_B in 'kb': a bit that no
 * packet's key has. */
struct dp_emc_ent {
    uint32_t seq;
    uint32_t flow_seq;
    uint64_t kb, kc, kd;
    struct dp_flow_ent *flow;
    const struct dp_nh_ent *leaf;
    uint32_t leaf_seq;
    uint16_t sport;
    uint16_t ncsum; /* ~(the next hop's fast_csum plus 'grow' in network order, folded) */
    uint8_t tot_min;
    uint8_t kind, grow, size; /* the next hop's fast_meta, split */
    uint8_t pad[64 - 44 - 2 * sizeof(void *)];
};
_Static_assert(sizeof(struct dp_emc_ent) == 64, "one cache line");
#define DP_EMC_BITS 14 /* 16384 entries, 1 MiB */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DP_EMC_MASK_B 0x00000000ff00ffffull /* keeps bytes 20, 21 (fragment field), 23 (protocol) */
#define DP_EMC_EMPTY_B 0x0000000000ff0000ull /* byte 22 (TTL), which the mask clears */
#else
#define DP_EMC_MASK_B 0xffff00ff00000000ull
#define DP_EMC_EMPTY_B 0x0000ff0000000000ull
#endif
/* The route version 'rt_ver' placed where 'kb' holds it (bytes 24..27). */
static inline uint64_t dp_emc_rtb(uint32_t rt_ver)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (uint64_t)rt_ver << 32;
#else
    return rt_ver;
#endif
}
/* The slot of a packet with 'kc', 'kd' (struct dp_emc_ent). */
static inline uint32_t dp_emc_index(uint64_t kc, uint64_t kd)
{
    /* Multilinear hashing (odd multipliers, the sum's top bits). */
    uint64_t x = kc * 0x9e3779b97f4a7c15ull + kd * 0xc2b2ae3d27d4eb4full;
    return (uint32_t)(x >> (64 - DP_EMC_BITS));
}

/* What the fast path copies out of a matching flow entry under its 'seq'. */
struct dp_flow_view {
    uint32_t seq;
    uint8_t state;
    struct dp_flow_action act;
    struct dp_flow_cache cache;
};

struct dp {
    struct dp_config cfg;
    struct dp_env_lock *lock;      /* control tables */
    struct dp_env_lock *flow_lock; /* flow table writers */
    uint32_t gen;
    uint32_t agent_if; /* ifindex + 1 of the agent interface, 0 for none */

    struct dp_if_ent *ifs;
    struct dp_vrf_ent *vrfs;
    struct dp_nh_ent *nhs;
    struct dp_comp *comps;
    struct dp_pool comp_pool;
    struct dp_label_ent *labels;

    struct dp_mac_ent *macs;
    uint32_t *mac_bucket;
    uint32_t mac_mask;
    struct dp_pool mac_pool;

    struct dp_vni_ent *vnis;
    uint32_t *vni_bucket;
    uint32_t vni_mask;
    struct dp_pool vni_pool;

    struct dp_route_ent *routes;
    uint32_t *route_bucket;
    uint32_t route_mask;
    struct dp_pool route_pool;

    struct dp_lpm_node *lpm;
    struct dp_pool lpm_pool;

    struct dp_flow_ent *flows; /* 64-byte aligned inside 'flows_mem' */
    void *flows_mem;
    uint32_t flow_main;   /* main slots: buckets * DP_FLOW_WAYS */
    uint32_t flow_bmask;  /* bucket mask */
    uint32_t *flow_tag;   /* hash of each main slot, compared before the entry */
    uint8_t *flow_used;   /* per bucket, bit w set while main slot w is not FREE
                             (flow_lock; lets a new slot be found without
                             reading the entries) */
    uint32_t *flow_ovf_head;
    struct dp_pool flow_ovf_pool;

    struct dp_emc_ent *emc; /* 1 << DP_EMC_BITS entries, 64-byte aligned inside 'emc_mem' */
    void *emc_mem;

    uint64_t drops[DP_DROP_COUNT];
    uint64_t punts;
#ifdef STRATA_TEST_HOOKS
    uint64_t fast_hits; /* packets the established-flow fast path forwarded (tests) */
    uint64_t emc_hits;  /* of those, packets decided by the exact-match cache (tests) */
#endif
};

/* ---- pools (dp_tables.c) ---- */
int dp_pool_init(struct dp_pool *p, uint32_t count) STRATA_WARN_UNUSED;
void dp_pool_destroy(struct dp_pool *p);
/* Returns a free index or DP_NONE; may run a grace period to recycle limbo. */
uint32_t dp_pool_alloc(struct dp_pool *p);
/* Queues 'idx' for reuse after the next grace period. */
void dp_pool_free(struct dp_pool *p, uint32_t idx);

/* ---- LPM (dp_lpm.c); callers hold dp->lock ---- */
int dp_lpm_insert(struct dp *dp, uint32_t *root, const uint8_t *addr, uint8_t plen, uint8_t maxlen,
                  uint32_t nh) STRATA_WARN_UNUSED;
/* Replaces the slots that '/plen' produced by the cover 'cover_nh/cover_plen'. */
void dp_lpm_remove(struct dp *dp, uint32_t *root, const uint8_t *addr, uint8_t plen, uint8_t maxlen,
                   uint32_t cover_nh, uint8_t cover_plen);
/* Frees every node of the trie at '*root' and clears it. */
void dp_lpm_clear(struct dp *dp, uint32_t *root);
/* Lock-free lookup of 'addr' ('bytes' long: 4 or 16). */
static inline uint32_t dp_lpm_lookup(const struct dp *dp, uint32_t root, const uint8_t *addr, uint32_t bytes)
{
    uint32_t node = root;
    for (uint32_t i = 0; i < bytes && node != DP_NONE; i++) {
        uint32_t v = dp_load_acquire(&dp->lpm[node].slot[addr[i]]);
        if (!(v & DP_LPM_CHILD)) {
            return v;
        }
        node = v & ~DP_LPM_CHILD;
    }
    return DP_NONE;
}

/* ---- lock-free lookups of hashed tables (dp_tables.c) ---- */
/* The next hop of 'mac' in 'vrf', DP_NONE when unknown. */
uint32_t dp_mac_lookup(const struct dp *dp, uint32_t vrf, const uint8_t *mac);
/* 1 and '*vrf', '*nh' when 'vni' is known, else 0. */
int dp_vni_lookup(const struct dp *dp, uint32_t vni, uint32_t *vrf, uint32_t *nh);

/* ---- flows (dp_flow.c) ---- */
/* Lock-free lookup: the slot index of 'key' (with 'hash') or DP_FLOW_NONE. */
uint32_t dp_flow_find(const struct dp *dp, const struct dp_flow_key *key, uint32_t hash);
/* Lock-free lookup that also copies the matching entry's state, action and
 * cache into 'v' (one consistent read). Returns the slot or DP_FLOW_NONE. */
uint32_t dp_flow_lookup(const struct dp *dp, const struct dp_flow_key *key, uint32_t hash, struct dp_flow_view *v);
/* Stores 'fc' as the forwarding cache of flow 'idx' if the entry is still
 * at sequence 'seq' (as the caller read it) and no other writer holds it;
 * otherwise leaves it alone. Never waits. */
void dp_flow_cache_fill(struct dp *dp, uint32_t idx, uint32_t seq, const struct dp_flow_cache *fc);
/* Creates a held entry for 'key' (or finds the existing one). Returns the
 * index or DP_FLOW_NONE when full. Takes flow_lock. */
uint32_t dp_flow_hold(struct dp *dp, const struct dp_flow_key *key, uint32_t hash, uint64_t now_ms);
/* Removes flows of generation older than 'gen'; caller holds dp->lock. */
uint32_t dp_flow_sweep(struct dp *dp, uint32_t gen);
int dp_flow_tables_init(struct dp *dp) STRATA_WARN_UNUSED;
void dp_flow_tables_free(struct dp *dp);

/* Key equality for IPv4 keys ('b->family' is 4): only the VRF, the first
 * four bytes of each address and the ports/proto/family/pad word can be
 * nonzero in an IPv4 key (control rejects others, the fast path zeroes
 * them), so only those are compared; 'family' is in the last word, so an
 * IPv6 key never equals an IPv4 one. */
_Static_assert(sizeof(struct dp_flow_key) == 44 && __builtin_offsetof(struct dp_flow_key, src) == 4 &&
                   __builtin_offsetof(struct dp_flow_key, dst) == 20 &&
                   __builtin_offsetof(struct dp_flow_key, sport) == 36,
               "flow key layout");
static inline uint64_t dp_ld64(const uint8_t *p);
static inline int dp_key4_eq(const struct dp_flow_key *a, const struct dp_flow_key *b)
{
    const uint8_t *pa = (const uint8_t *)a, *pb = (const uint8_t *)b;
    uint32_t da, db;
    dp_memcpy(&da, pa + 20, 4);
    dp_memcpy(&db, pb + 20, 4);
    return ((dp_ld64(pa) ^ dp_ld64(pb)) | (dp_ld64(pa + 36) ^ dp_ld64(pb + 36)) | (da ^ db)) == 0;
}

/* ---- hashing ---- */
static inline uint32_t dp_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}
static inline uint64_t dp_ld64(const uint8_t *p)
{
    uint64_t v;
    dp_memcpy(&v, p, 8);
    return v;
}
/* dp_flow_hash of an IPv4 key, from the three words dp_key4_eq compares,
 * each loaded in memory order: 'w0' bytes 0..7 (VRF, source), 'w1' bytes
 * 20..23 (destination), 'w2' bytes 36..43 (ports, protocol, family, pad).
 * One multiplication: cheap enough for every packet. */
static inline uint32_t dp_flow_hash4(uint64_t w0, uint32_t w1, uint64_t w2)
{
    uint64_t a = w0 ^ 0x9e3779b97f4a7c15ull, b = w2 ^ (uint64_t)w1 << 24 ^ 0xc2b2ae3d27d4eb4full;
#ifdef __SIZEOF_INT128__
    /* The 128-bit product folded (as in wyhash): every input bit reaches
     * every output bit. */
    unsigned __int128 m = (unsigned __int128)a * b;
    uint64_t h = (uint64_t)m ^ (uint64_t)(m >> 64);
#else
    uint64_t h = a * 0xff51afd7ed558ccdull ^ b * 0xc4ceb9fe1a85ec53ull;
    h = (h ^ h >> 29) * 0x165667b19e3779f9ull;
#endif
    return (uint32_t)h ^ (uint32_t)(h >> 32);
}

/* ---- byte order on bounded memory ---- */
/* Unaligned native-order loads and stores (the compiler emits one move). */
static inline uint16_t dp_ld16(const uint8_t *p)
{
    uint16_t v;
    dp_memcpy(&v, p, 2);
    return v;
}
static inline uint32_t dp_ld32(const uint8_t *p)
{
    uint32_t v;
    dp_memcpy(&v, p, 4);
    return v;
}
static inline void dp_st16(uint8_t *p, uint16_t v)
{
    dp_memcpy(p, &v, 2);
}
/* Sixteen bytes moved as one value (one vector move where the target has
 * them; the kernel's general-register-only build splits it). */
typedef uint8_t dp_v16 __attribute__((vector_size(16)));
/* Host order <-> big endian (its own inverse). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define dp_bswap16_be(v) __builtin_bswap16(v)
#define dp_bswap32_be(v) __builtin_bswap32(v)
#else
#define dp_bswap16_be(v) ((uint16_t)(v))
#define dp_bswap32_be(v) ((uint32_t)(v))
#endif
static inline uint16_t dp_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t dp_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void dp_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void dp_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The checked packet accessor: a pointer to 'n' readable bytes at data
 * offset 'at', or NULL when the frame is shorter. Every parse goes through
 * it; nothing reads past what it granted. */
static inline uint8_t *dp_pkt_at(const struct dp_pkt *p, uint32_t at, uint32_t n)
{
    if (at > p->len || n > p->len - at) {
        return 0;
    }
    return p->buf + p->off + at;
}

/* Ones' complement helpers (RFC 1071 / RFC 1624). */
static inline uint16_t dp_csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}
/* Updates the big-endian checksum at 'csum' for a 16-bit field changing
 * from 'from' to 'to'. */
static inline void dp_csum_replace16(uint8_t *csum, uint16_t from, uint16_t to)
{
    uint32_t sum = (uint16_t)~dp_be16(csum);
    sum += (uint16_t)~from;
    sum += to;
    dp_put16(csum, (uint16_t)~dp_csum_fold(sum));
}
static inline void dp_csum_replace32(uint8_t *csum, uint32_t from, uint32_t to)
{
    uint32_t sum = (uint16_t)~dp_be16(csum);
    sum += (uint16_t)~(from >> 16);
    sum += (uint16_t)~(from & 0xffff);
    sum += to >> 16;
    sum += to & 0xffff;
    dp_put16(csum, (uint16_t)~dp_csum_fold(sum));
}

#endif

/* Internals shared by the RIB's files: the interned attribute node, routes
 * and their hash index, tables, instances, the route-target import index,
 * and the calls between the table core (table.c), the decision process
 * (best.c) and replication (repl.c). */
#ifndef STRATA_RIB_INT_H
#define STRATA_RIB_INT_H

#include <stddef.h>
#include <stdint.h>

#include "routing/rib/rib.h"

#define RIB_KEY_MAX 40
#define RIB_LIST_MAX 4096
#define RIB_ATTR_MAGIC 0x52414954u /* "RAIT" */

/* Internal path flag: replica scheduled for removal during replicate(). */
#define RIB_PATH_MARK 0x80

/* Paths carrying the same labels (struct rib_path's label fields). */
static inline bool rib_path_same_labels(const struct rib_path *a, const struct rib_path *b)
{
    return a->label == b->label && a->l3_label == b->l3_label && a->vni == b->vni;
}
#define RIB_PATH_USER_FLAGS (RIB_PATH_STALE | RIB_PATH_LLGR_STALE | RIB_PATH_INFEASIBLE)

/* An interned attribute set. 'pub' and its arrays live in this allocation;
 * 'blob' is the canonical encoding that identifies the set (hash and
 * equality are over it). Invariant: refs >= 1 while in the intern table. */
struct rib_attr_node {
    uint32_t magic;
    uint32_t refs;
    uint32_t hash;
    uint32_t blob_size;
    uint32_t scan_gen; /* scratch for table scans: result valid when == rib->gen */
    bool scan_hit;
    size_t alloc_size;
    const uint8_t *blob;
    struct rib_attr pub;
};

/* A replica made from a route: where it went. */
struct rib_dep {
    struct rib_route *route;
    uint32_t table;
};

/* The replicas made from a route: one allocation with its count, so that a
 * route without any pays one pointer. */
struct rib_deps {
    uint32_t len; /* >= 1 */
    struct rib_dep v[];
};
#define RIB_DEPS_SIZE(n) (offsetof(struct rib_deps, v) + (size_t)(n) * sizeof(struct rib_dep))
#define RIB_NDEPS(rt) ((rt)->deps ? (rt)->deps->len : 0u)

#define RIB_RT_DIRTY 0x01   /* queued on its table's dirty list */
#define RIB_RT_CHANGED 0x02 /* paths changed since the last route_update() */
#define RIB_RT_TOUCHED 0x04 /* a path among the first 'nbest' changed or went */
#define RIB_RT_MARK 0x08    /* scratch for set building */
#define RIB_RT_UNSORTED 0x10 /* the last decision ran out of memory: no best set, order undefined */

/* A prefix of one table. Invariants: paths[0..nbest) is the ECMP set in
 * order, the rest follow in decision order (after route_update()); a route
 * with npaths == 0 is either DIRTY (freed by rib_flush()) or being built;
 * every replica made from this route is listed once in 'deps'. A route with
 * at most one path holds it in 'pv.one' (most routes have exactly one: no
 * second allocation, no pointer to it, and the path shares the route's cache
 * lines); with more, 'pv.many' is an allocation of exactly 'npaths' paths.
 * RIB_PATHS() is the array either way. 'marks' belong to the table's users
 * (rib_table_marks_clear()): kept across path changes, zero in a new route.
 * Routes come from the RIB's slabs (rib_route_alloc()): a VPNv4 route with
 * its path is 80 bytes, with no allocator header. */
struct rib_route {
    struct rib_deps *deps;
    uint16_t npaths;
    uint16_t nbest;
    uint8_t flags;
    uint8_t keylen;
    uint16_t marks;
    union {
        struct rib_path one;
        struct rib_path *many;
    } pv;
    uint8_t key[];
};

#define RIB_PATHS(rt) ((rt)->npaths > 1 ? (rt)->pv.many : &(rt)->pv.one)

/* Allocation size of a route with a 'len'-byte key, rounded to the slabs'
 * 8-byte granule. */
#define RIB_ROUTE_SIZE(len) ((offsetof(struct rib_route, key) + (size_t)(len) + 7u) & ~(size_t)7u)

struct rib_listener {
    uint32_t id;
    rib_listener_fn fn;       /* one of 'fn' and 'mfn' is set */
    rib_mark_listener_fn mfn;
    void *ctx;
};

/* An index slot: 0 when empty, else a route's address with bits of its
 * key's hash in the low bits that the route's alignment leaves zero (a
 * "tag": probes skip routes whose tag differs without touching them). */
#define RIB_SLOT_TAG_MASK ((uintptr_t)(_Alignof(struct rib_route) >= 8 ? 7 : _Alignof(struct rib_route) - 1))
_Static_assert(_Alignof(struct rib_route) >= 4, "routes leave two low address bits for the tag");

static inline struct rib_route *rib_slot_route(uintptr_t slot)
{
    return (struct rib_route *)(slot & ~RIB_SLOT_TAG_MASK);
}

/* Invariant: 'slots' is an open-addressing table (linear probing, no
 * tombstones) of 'cap' (a power of two, or 0) entries holding 'used' routes,
 * each at or after (cyclically) its home slot, hash & (cap - 1), with no
 * empty slot in between, and tagged with the top bits of that hash;
 * 'count' of them have paths. */
struct rib_table {
    struct rib *rib;
    uint32_t id;
    enum rib_family family;
    bool queued; /* on rib->dirty_tables */
    bool rescan; /* some DIRTY route missing from 'dirty' (queue growth failed) */
    char *name;
    struct rib_instance *inst; /* NULL for the global VPN tables */
    uintptr_t *slots;
    size_t cap, used, count;
    struct rib_route **dirty;
    size_t dirty_len, dirty_cap;
    struct rib_listener *ls;
    size_t ls_len;
    uint32_t ls_next;
};

struct rib_leak {
    struct rib_instance *to;
    struct rib_leak_config cfg;
};

struct rib_instance {
    struct rib *rib;
    char *name;
    struct rib_table *tables[3]; /* inet, inet6, evpn */
    struct rib_rd rd;
    struct rib_rt *imp, *exp;
    size_t imp_len, exp_len;
    bool vpn;
    uint32_t gen; /* scratch for deduplication */
    struct rib_leak *leaks;
    size_t leaks_len;
};

struct rib_src {
    bool used;
    struct rib_source_info info;
};

/* Route-target import index entry: instances importing 'rt'. */
struct rib_rtidx {
    bool used;
    struct rib_rt rt;
    struct rib_instance **insts;
    size_t len;
};

/* Route slabs: one class per route size (8-byte steps up to a RIB_KEY_MAX
 * key). A block is RIB_SLAB_BLOCK bytes aligned to its size, so an object's
 * block is found by masking its address; a class lists the blocks that have
 * a free object, and a block whose objects are all free goes back to malloc.
 * Invariants: a block is on its class's 'partial' list iff it has a free or
 * uncarved object; 'used' counts the objects handed out. */
#define RIB_SLAB_BLOCK 262144u
#define RIB_SLAB_CLASSES ((RIB_ROUTE_SIZE(RIB_KEY_MAX) - RIB_ROUTE_SIZE(0)) / 8 + 1)

struct rib_slab_block {
    struct rib_slab_block *next, *prev; /* the class's partial list */
    void *free;                         /* free objects, linked through their first word */
    uint32_t used;
    uint32_t carved;                    /* objects carved from the block so far */
    uint32_t cls;
};

struct rib {
    struct rib_config cfg;
    struct rib_slab_block *slab_partial[RIB_SLAB_CLASSES];
    size_t slab_live; /* routes handed out by the slabs: every one is in a table's index */
    struct rib_attr_node **attrs;
    size_t attrs_cap, attrs_count;
    struct rib_src *srcs; /* index = source id; 0 unused */
    uint32_t srcs_len;
    struct rib_table **tables; /* index = table id; 0 unused, NULL when gone */
    uint32_t tables_len;
    struct rib_table *vpn[RIB_AF_COUNT];
    struct rib_instance **insts;
    size_t insts_len;
    struct rib_rtidx *rtidx;
    size_t rtidx_cap, rtidx_count;
    uint32_t *dirty_tables;
    size_t dirty_len, dirty_cap;
    bool rescan; /* some table with DIRTY routes missing from dirty_tables */
    uint32_t gen;
    size_t bytes, routes, paths, replicated, repl_failures;
};

/* ---- allocation (table.c) ---- */
/* Scratch memory freed with free() before the call returns; not accounted.
 * Like every allocation here it honours the test hook below. */
void *rib_tmp_alloc(size_t size);
void *rib_tmp_realloc(void *p, size_t size);
#ifdef STRATA_TEST_HOOKS
/* Test builds: the 'n'-th allocation from now (0: the next) fails, once;
 * n < 0 disarms. Returns how many allocations were made since arming. */
long rib_test_fail_nth(long n);
#endif
/* A route for a 'len'-byte key from the slabs (RIB_ROUTE_SIZE(len) bytes,
 * accounted, honours the test hook), and its release. */
struct rib_route *rib_route_alloc(struct rib *r, uint8_t len);
void rib_route_dealloc(struct rib *r, struct rib_route *rt);
/* Accounted allocations (struct rib.bytes). */
void *rib_alloc(struct rib *r, size_t size);
void *rib_zalloc(struct rib *r, size_t size);
void *rib_realloc(struct rib *r, void *p, size_t old_size, size_t new_size);
void rib_dealloc(struct rib *r, void *p, size_t size);
char *rib_strdup(struct rib *r, const char *s);
void rib_strfree(struct rib *r, char *s);

/* ---- attributes (attr.c) ---- */
struct rib_attr_node *rib_attr_node(const struct rib_attr *a);
void rib_attrs_free_all(struct rib *r);
/* Interns a copy of 'a' with 'add_rts' appended to its extended
 * communities, 'add_comm' (when non-zero) to its communities, the next hop
 * replaced by 'nexthop' (when non-NULL with af != 0) and the label by
 * '*label' (when non-NULL; the VNI is then dropped). The caller owns the
 * reference in '*out'. */
int rib_attr_derive(struct rib *r, const struct rib_attr *a, const struct rib_rt *add_rts, size_t add_len,
                    uint32_t add_comm, const struct rib_addr *nexthop, const uint32_t *label,
                    const struct rib_attr **out) STRATA_WARN_UNUSED;

/* ---- keys (table.c) ---- */
int rib_key_encode(const struct rib_prefix *p, uint8_t *key, uint8_t *len) STRATA_WARN_UNUSED;
void rib_key_decode(enum rib_family af, const uint8_t *key, uint8_t len, struct rib_prefix *p);
uint32_t rib_key_hash(const uint8_t *key, size_t len);

/* ---- tables and routes (table.c) ---- */
struct rib_table *rib_table_new(struct rib *r, enum rib_family af, const char *name, struct rib_instance *inst);
void rib_table_release(struct rib_table *t);
struct rib_route *rib_route_find(struct rib_table *t, const uint8_t *key, uint8_t len);
struct rib_route *rib_route_get(struct rib_table *t, const uint8_t *key, uint8_t len);
int rib_route_path_find(const struct rib_route *rt, uint32_t source, uint32_t path_id, const struct rib_route *primary);
int rib_route_path_append(struct rib *r, struct rib_route *rt, const struct rib_path *p) STRATA_WARN_UNUSED;
void rib_route_path_replace(struct rib *r, struct rib_route *rt, int idx, const struct rib_path *p);
void rib_route_path_remove(struct rib *r, struct rib_route *rt, int idx);
/* Re-sorts a CHANGED route, queues a notification if its best set changed
 * and replicates it when needed. */
void rib_route_update(struct rib_table *t, struct rib_route *rt);
/* Snapshot of the routes of 't' (array owned by the caller, free()). */
struct rib_route **rib_table_snapshot(struct rib_table *t, size_t *len);
void rib_dep_del(struct rib *r, struct rib_route *rt, struct rib_route *d);

/* ---- decision process (best.c) ---- */
/* Orders rt->paths and sets rt->nbest. Returns true when the best set differs
 * from the one before (TOUCHED, a different count, or a different member). */
bool rib_best_sort(struct rib *r, struct rib_table *t, struct rib_route *rt);

/* ---- replication (repl.c) ---- */
void rib_replicate(struct rib_table *t, struct rib_route *rt);
bool rib_family_is_vpn(enum rib_family af);
enum rib_family rib_family_vrf(enum rib_family vpn_af);
enum rib_family rib_family_vpn(enum rib_family vrf_af);
void rib_instances_free_all(struct rib *r);

#endif

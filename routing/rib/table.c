/* The RIB's core: the RIB object and its sources, prefix keys, the per-table
 * hash index (open addressing over the prefix's key bytes, linear probing,
 * backward-shift deletion), the slabs routes are carved from, paths of a
 * route, change tracking and the coalesced listener notifications delivered
 * by rib_flush(), route marks, lookups, sorted walks, statistics and the
 * audit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/buf.h"
#include "routing/rib/rib_int.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#endif

/* ---- allocation with accounting ---- */

#ifdef STRATA_TEST_HOOKS
static long fail_countdown = -1, alloc_count;

long rib_test_fail_nth(long n)
{
    long made = alloc_count;
    fail_countdown = n;
    alloc_count = 0;
    return made;
}

static bool alloc_fails(void)
{
    alloc_count++;
    if (fail_countdown < 0)
        return false;
    return fail_countdown-- == 0;
}
#else
static bool alloc_fails(void)
{
    return false;
}
#endif

void *rib_tmp_alloc(size_t size)
{
    return alloc_fails() ? NULL : malloc(size ? size : 1);
}

void *rib_tmp_realloc(void *p, size_t size)
{
    return alloc_fails() ? NULL : realloc(p, size ? size : 1);
}

void *rib_alloc(struct rib *r, size_t size)
{
    if (alloc_fails())
        return NULL;
    void *p = malloc(size ? size : 1);
    if (p)
        r->bytes += size;
    return p;
}

void *rib_zalloc(struct rib *r, size_t size)
{
    if (alloc_fails())
        return NULL;
    void *p = calloc(1, size ? size : 1);
    if (p)
        r->bytes += size;
    return p;
}

void *rib_realloc(struct rib *r, void *p, size_t old_size, size_t new_size)
{
    if (alloc_fails())
        return NULL;
    void *n = realloc(p, new_size ? new_size : 1);
    if (n)
        r->bytes = r->bytes - old_size + new_size;
    return n;
}

void rib_dealloc(struct rib *r, void *p, size_t size)
{
    if (!p)
        return;
    r->bytes -= size;
    free(p);
}

/* ---- route slabs ---- */

#define SLAB_HDR RIB_ROUTE_SIZE(sizeof(struct rib_slab_block) - offsetof(struct rib_route, key))

/* A block straight from the kernel, aligned to its size: malloc's aligned
 * allocations leave a touched gap before each block (about 12% more
 * resident memory at 64 KiB), and pages of a mapping cost nothing until
 * routes are carved from them. */
static struct rib_slab_block *slab_map(void)
{
    size_t n = 2 * (size_t)RIB_SLAB_BLOCK;
    uint8_t *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uint8_t *b = (uint8_t *)(((uintptr_t)m + RIB_SLAB_BLOCK - 1) & ~(uintptr_t)(RIB_SLAB_BLOCK - 1));
    if (b > m)
        munmap(m, (size_t)(b - m));
    if (m + n > b + RIB_SLAB_BLOCK)
        munmap(b + RIB_SLAB_BLOCK, (size_t)(m + n - (b + RIB_SLAB_BLOCK)));
    return (struct rib_slab_block *)b;
}

static void slab_unlink(struct rib *r, struct rib_slab_block *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        r->slab_partial[b->cls] = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->next = b->prev = NULL;
}

static void slab_push(struct rib *r, struct rib_slab_block *b)
{
    b->prev = NULL;
    b->next = r->slab_partial[b->cls];
    if (b->next)
        b->next->prev = b;
    r->slab_partial[b->cls] = b;
}

struct rib_route *rib_route_alloc(struct rib *r, uint8_t len)
{
    if (len > RIB_KEY_MAX || alloc_fails())
        return NULL;
    size_t size = RIB_ROUTE_SIZE(len), cls = (size - RIB_ROUTE_SIZE(0)) / 8;
    size_t per_block = (RIB_SLAB_BLOCK - SLAB_HDR) / size;
    struct rib_slab_block *b = r->slab_partial[cls];
    if (!b) {
        b = slab_map();
        if (!b)
            return NULL;
        r->bytes += RIB_SLAB_BLOCK;
        memset(b, 0, sizeof *b);
        b->cls = (uint32_t)cls;
        slab_push(r, b);
    }
    void *o = b->free;
    if (o) {
        ASAN_UNPOISON_MEMORY_REGION(o, size);
        memcpy(&b->free, o, sizeof b->free);
    } else {
        o = (uint8_t *)b + SLAB_HDR + (size_t)b->carved++ * size;
    }
    b->used++;
    r->slab_live++;
    if (!b->free && b->carved == per_block)
        slab_unlink(r, b);
    return o;
}

void rib_route_dealloc(struct rib *r, struct rib_route *rt)
{
    size_t size = RIB_ROUTE_SIZE(rt->keylen);
    size_t per_block = (RIB_SLAB_BLOCK - SLAB_HDR) / size;
    struct rib_slab_block *b = (struct rib_slab_block *)((uintptr_t)rt & ~(uintptr_t)(RIB_SLAB_BLOCK - 1));
    bool was_full = !b->free && b->carved == per_block;
    memcpy(rt, &b->free, sizeof b->free);
    ASAN_POISON_MEMORY_REGION(rt, size);
    b->free = rt;
    r->slab_live--;
    if (--b->used == 0) {
        if (!was_full)
            slab_unlink(r, b);
        r->bytes -= RIB_SLAB_BLOCK;
        ASAN_UNPOISON_MEMORY_REGION(b, RIB_SLAB_BLOCK);
        munmap(b, RIB_SLAB_BLOCK);
    } else if (was_full) {
        slab_push(r, b);
    }
}

char *rib_strdup(struct rib *r, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = rib_alloc(r, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void rib_strfree(struct rib *r, char *s)
{
    if (s)
        rib_dealloc(r, s, strlen(s) + 1);
}

/* ---- families and keys ---- */

const char *rib_family_name(enum rib_family af)
{
    switch (af) {
    case RIB_AF_INET:
        return "inet";
    case RIB_AF_INET6:
        return "inet6";
    case RIB_AF_EVPN:
        return "evpn";
    case RIB_AF_L3VPN:
        return "l3vpn";
    case RIB_AF_L3VPN6:
        return "l3vpn-inet6";
    case RIB_AF_EVPN_VPN:
        return "evpn-vpn";
    case RIB_AF_RTARGET:
        return "rtarget";
    case RIB_AF_COUNT:
        break;
    }
    return "?";
}

static void mask_bits(uint8_t *b, size_t size, unsigned plen)
{
    for (size_t i = 0; i < size; i++) {
        unsigned bit = (unsigned)i * 8;
        if (bit >= plen)
            b[i] = 0;
        else if (plen - bit < 8)
            b[i] &= (uint8_t)(0xff << (8 - (plen - bit)));
    }
}

static int key_ip_prefix(const struct rib_prefix *p, uint8_t want_af, uint8_t *k, uint8_t *len)
{
    size_t n = want_af == 4 ? 4 : 16;
    if (p->addr.af != want_af || p->plen > n * 8)
        return RIB_ERR_PREFIX;
    memcpy(k + *len, p->addr.b, n);
    mask_bits(k + *len, n, p->plen);
    *len = (uint8_t)(*len + n);
    k[(*len)++] = p->plen;
    return 0;
}

static int key_addr(const struct rib_addr *a, bool optional, uint8_t *k, uint8_t *len)
{
    if (a->af == 0 && optional) {
        k[(*len)++] = 0;
        return 0;
    }
    if (a->af != 4 && a->af != 6)
        return RIB_ERR_PREFIX;
    size_t n = a->af == 4 ? 4 : 16;
    k[(*len)++] = a->af;
    memcpy(k + *len, a->b, n);
    *len = (uint8_t)(*len + n);
    return 0;
}

static int key_evpn(const struct rib_prefix *p, uint8_t *k, uint8_t *len)
{
    k[(*len)++] = p->evpn.type;
    be32_store(k + *len, p->evpn.eth_tag);
    *len = (uint8_t)(*len + 4);
    switch (p->evpn.type) {
    case 2:
        memcpy(k + *len, p->evpn.mac, 6);
        *len = (uint8_t)(*len + 6);
        return key_addr(&p->addr, true, k, len);
    case 3:
        return key_addr(&p->addr, false, k, len);
    case 5: {
        unsigned max = p->addr.af == 4 ? 32 : 128;
        if (p->plen > max)
            return RIB_ERR_PREFIX;
        int rc = key_addr(&p->addr, false, k, len);
        if (rc)
            return rc;
        mask_bits(k + *len - (max / 8), max / 8, p->plen);
        k[(*len)++] = p->plen;
        return 0;
    }
    default:
        return RIB_ERR_PREFIX;
    }
}

int rib_key_encode(const struct rib_prefix *p, uint8_t *k, uint8_t *len)
{
    *len = 0;
    switch (p->family) {
    case RIB_AF_INET:
        return key_ip_prefix(p, 4, k, len);
    case RIB_AF_INET6:
        return key_ip_prefix(p, 6, k, len);
    case RIB_AF_EVPN:
        return key_evpn(p, k, len);
    case RIB_AF_L3VPN:
    case RIB_AF_L3VPN6:
    case RIB_AF_EVPN_VPN:
        memcpy(k, p->rd.b, 8);
        *len = 8;
        if (p->family == RIB_AF_EVPN_VPN)
            return key_evpn(p, k, len);
        return key_ip_prefix(p, p->family == RIB_AF_L3VPN ? 4 : 6, k, len);
    case RIB_AF_RTARGET:
        if (p->plen > 96)
            return RIB_ERR_PREFIX;
        be32_store(k, p->rt_origin_as);
        memcpy(k + 4, p->rt.b, 8);
        mask_bits(k, 12, p->plen);
        k[12] = p->plen;
        *len = 13;
        return 0;
    case RIB_AF_COUNT:
        break;
    }
    return RIB_ERR_FAMILY;
}

static size_t dec_addr(const uint8_t *k, struct rib_addr *a)
{
    a->af = k[0];
    size_t n = a->af == 4 ? 4 : a->af == 6 ? 16 : 0;
    memcpy(a->b, k + 1, n);
    return 1 + n;
}

static void dec_evpn(const uint8_t *k, struct rib_prefix *p)
{
    p->evpn.type = k[0];
    p->evpn.eth_tag = be32_load(k + 1);
    k += 5;
    if (p->evpn.type == 2) {
        memcpy(p->evpn.mac, k, 6);
        k += 6;
    }
    k += dec_addr(k, &p->addr);
    if (p->evpn.type == 5)
        p->plen = k[0];
}

void rib_key_decode(enum rib_family af, const uint8_t *k, uint8_t len, struct rib_prefix *p)
{
    memset(p, 0, sizeof *p);
    p->family = af;
    switch (af) {
    case RIB_AF_L3VPN:
    case RIB_AF_L3VPN6:
    case RIB_AF_EVPN_VPN:
        memcpy(p->rd.b, k, 8);
        k += 8;
        len = (uint8_t)(len - 8);
        break;
    case RIB_AF_INET:
    case RIB_AF_INET6:
    case RIB_AF_EVPN:
    case RIB_AF_RTARGET:
    case RIB_AF_COUNT:
        break;
    }
    switch (af) {
    case RIB_AF_INET:
    case RIB_AF_L3VPN:
    case RIB_AF_INET6:
    case RIB_AF_L3VPN6:
        p->addr.af = len == 5 ? 4 : 6;
        memcpy(p->addr.b, k, (size_t)len - 1);
        p->plen = k[len - 1];
        break;
    case RIB_AF_EVPN:
    case RIB_AF_EVPN_VPN:
        dec_evpn(k, p);
        break;
    case RIB_AF_RTARGET:
        p->rt_origin_as = be32_load(k);
        memcpy(p->rt.b, k + 4, 8);
        p->plen = k[12];
        break;
    case RIB_AF_COUNT:
        break;
    }
}

static void fmt_addr(const struct rib_addr *a, char *out, size_t size)
{
    if (a->af == 4) {
        snprintf(out, size, "%u.%u.%u.%u", a->b[0], a->b[1], a->b[2], a->b[3]);
    } else if (a->af == 6) {
        size_t o = 0;
        for (int i = 0; i < 16 && o < size; i += 2)
            o += (size_t)snprintf(out + o, size - o, "%s%x", i ? ":" : "", be16_load(a->b + i));
    } else {
        snprintf(out, size, "-");
    }
}

void rib_prefix_format(const struct rib_prefix *p, char *out, size_t size)
{
    char rd[32] = "", ip[48], rt[40];
    bool vpn = rib_family_is_vpn(p->family);
    if (vpn) {
        rib_rd_format(&p->rd, rd, sizeof rd - 1);
        strcat(rd, ":");
    }
    fmt_addr(&p->addr, ip, sizeof ip);
    switch (p->family) {
    case RIB_AF_INET:
    case RIB_AF_INET6:
    case RIB_AF_L3VPN:
    case RIB_AF_L3VPN6:
        snprintf(out, size, "%s%s/%u", rd, ip, p->plen);
        break;
    case RIB_AF_EVPN:
    case RIB_AF_EVPN_VPN:
        if (p->evpn.type == 2)
            snprintf(out, size, "%s2-%02x:%02x:%02x:%02x:%02x:%02x,%s", rd, p->evpn.mac[0], p->evpn.mac[1],
                     p->evpn.mac[2], p->evpn.mac[3], p->evpn.mac[4], p->evpn.mac[5], ip);
        else if (p->evpn.type == 3)
            snprintf(out, size, "%s3-%u-%s", rd, p->evpn.eth_tag, ip);
        else
            snprintf(out, size, "%s5-%u-%s/%u", rd, p->evpn.eth_tag, ip, p->plen);
        break;
    case RIB_AF_RTARGET:
        rib_rt_format(&p->rt, rt, sizeof rt);
        snprintf(out, size, "%u:%s/%u", p->rt_origin_as, rt, p->plen);
        break;
    case RIB_AF_COUNT:
        snprintf(out, size, "?");
        break;
    }
}

uint32_t rib_key_hash(const uint8_t *k, size_t len)
{
    /* Eight bytes at a time (keys are at most RIB_KEY_MAX bytes), then a
     * 64-bit finaliser so that low bits (home slot) and top bits (tag) both
     * depend on every key byte. */
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ len, w;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, k + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    if (i < len) {
        w = 0;
        memcpy(&w, k + i, len - i);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return (uint32_t)h;
}

/* ---- the RIB, sources ---- */

int rib_create(const struct rib_config *cfg, struct rib **out)
{
    static const char *const names[RIB_AF_COUNT] = {
        [RIB_AF_L3VPN] = "bgp.l3vpn.0",
        [RIB_AF_L3VPN6] = "bgp.l3vpn-inet6.0",
        [RIB_AF_EVPN_VPN] = "bgp.evpn.0",
        [RIB_AF_RTARGET] = "bgp.rtarget.0",
    };
    if (!out)
        return RIB_ERR_INVAL;
    struct rib *r = alloc_fails() ? NULL : calloc(1, sizeof *r);
    if (!r)
        return RIB_ERR_NOMEM;
    if (cfg)
        r->cfg = *cfg;
    for (int af = 0; af < RIB_AF_COUNT; af++) {
        if (!names[af])
            continue;
        if (!(r->vpn[af] = rib_table_new(r, (enum rib_family)af, names[af], NULL))) {
            rib_free(r);
            return RIB_ERR_NOMEM;
        }
    }
    *out = r;
    return 0;
}

void rib_free(struct rib *r)
{
    if (!r)
        return;
    rib_instances_free_all(r);
    for (uint32_t i = 1; i < r->tables_len; i++)
        if (r->tables[i])
            rib_table_release(r->tables[i]);
    rib_dealloc(r, r->tables, r->tables_len * sizeof *r->tables);
    for (uint32_t i = 1; i < r->srcs_len; i++)
        if (r->srcs[i].used)
            rib_strfree(r, (char *)(uintptr_t)r->srcs[i].info.name);
    rib_dealloc(r, r->srcs, r->srcs_len * sizeof *r->srcs);
    rib_dealloc(r, r->dirty_tables, r->dirty_cap * sizeof *r->dirty_tables);
    rib_attrs_free_all(r);
    free(r);
}

int rib_source_add(struct rib *r, const struct rib_source_info *info, uint32_t *id)
{
    if (!r || !info || !id || info->type > RIB_SRC_IBGP)
        return RIB_ERR_INVAL;
    uint32_t slot = 0;
    for (uint32_t i = 1; i < r->srcs_len; i++)
        if (!r->srcs[i].used) {
            slot = i;
            break;
        }
    if (!slot) {
        /* Slot 0 is never used: ids start at 1. */
        uint32_t n = r->srcs_len ? r->srcs_len : 1;
        struct rib_src *ns = rib_realloc(r, r->srcs, r->srcs_len * sizeof *ns, (n + 1) * sizeof *ns);
        if (!ns)
            return RIB_ERR_NOMEM;
        memset(&ns[r->srcs_len], 0, (n + 1 - r->srcs_len) * sizeof *ns);
        r->srcs = ns;
        r->srcs_len = n + 1;
        slot = n;
    }
    struct rib_src *s = &r->srcs[slot];
    s->info = *info;
    s->info.name = NULL;
    if (info->name && !(s->info.name = rib_strdup(r, info->name)))
        return RIB_ERR_NOMEM;
    s->used = true;
    *id = slot;
    return 0;
}

const struct rib_source_info *rib_source_get(const struct rib *r, uint32_t id)
{
    if (!r || id == 0 || id >= r->srcs_len || !r->srcs[id].used)
        return NULL;
    return &r->srcs[id].info;
}

int rib_source_del(struct rib *r, uint32_t id)
{
    if (!rib_source_get(r, id))
        return RIB_ERR_SOURCE;
    int rc = rib_source_withdraw_all(r, id);
    if (rc < 0)
        return rc;
    rib_strfree(r, (char *)(uintptr_t)r->srcs[id].info.name);
    memset(&r->srcs[id], 0, sizeof r->srcs[id]);
    return 0;
}

/* ---- tables ---- */

struct rib_table *rib_table_new(struct rib *r, enum rib_family af, const char *name, struct rib_instance *inst)
{
    struct rib_table **nt = rib_realloc(r, r->tables, r->tables_len * sizeof *nt,
                                        (r->tables_len ? r->tables_len + 1 : 2) * sizeof *nt);
    if (!nt)
        return NULL;
    if (!r->tables_len) {
        nt[0] = NULL;
        r->tables_len = 1;
    }
    r->tables = nt;
    struct rib_table *t = rib_zalloc(r, sizeof *t);
    if (!t)
        return NULL;
    if (!(t->name = rib_strdup(r, name))) {
        rib_dealloc(r, t, sizeof *t);
        return NULL;
    }
    t->rib = r;
    t->family = af;
    t->inst = inst;
    t->id = r->tables_len;
    t->ls_next = 1;
    nt[r->tables_len++] = t;
    return t;
}

static void route_free(struct rib *r, struct rib_route *rt)
{
    for (uint16_t i = 0; i < rt->npaths; i++) {
        rib_attr_unref(r, RIB_PATHS(rt)[i].attr);
        r->paths--;
        if (RIB_PATHS(rt)[i].flags & RIB_PATH_REPLICATED)
            r->replicated--;
    }
    if (rt->npaths > 1)
        rib_dealloc(r, rt->pv.many, rt->npaths * sizeof *rt->pv.many);
    rib_dealloc(r, rt->deps, RIB_DEPS_SIZE(RIB_NDEPS(rt)));
    rib_route_dealloc(r, rt);
}

/* Frees 't' and everything in it without replication bookkeeping (the caller
 * has detached it from every other table). */
void rib_table_release(struct rib_table *t)
{
    struct rib *r = t->rib;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i])
            route_free(r, rib_slot_route(t->slots[i]));
    r->routes -= t->count;
    rib_dealloc(r, t->slots, t->cap * sizeof *t->slots);
    rib_dealloc(r, t->dirty, t->dirty_cap * sizeof *t->dirty);
    rib_dealloc(r, t->ls, t->ls_len * sizeof *t->ls);
    r->tables[t->id] = NULL;
    rib_strfree(r, t->name);
    rib_dealloc(r, t, sizeof *t);
}

struct rib_table *rib_vpn_table(struct rib *r, enum rib_family family)
{
    if (!r || family >= RIB_AF_COUNT)
        return NULL;
    return r->vpn[family];
}

const char *rib_table_name(const struct rib_table *t)
{
    return t->name;
}

enum rib_family rib_table_family(const struct rib_table *t)
{
    return t->family;
}

uint32_t rib_table_id(const struct rib_table *t)
{
    return t->id;
}

struct rib_table *rib_table_find(struct rib *r, const char *name)
{
    for (uint32_t i = 1; r && name && i < r->tables_len; i++)
        if (r->tables[i] && strcmp(r->tables[i]->name, name) == 0)
            return r->tables[i];
    return NULL;
}

struct rib_table *rib_table_by_id(struct rib *r, uint32_t id)
{
    return r && id < r->tables_len ? r->tables[id] : NULL;
}

size_t rib_table_count(const struct rib_table *t)
{
    return t->count;
}

/* ---- hash index ---- */

/* Routes do not store their hash (it would cost a malloc size class for
 * VPNv4 routes); it is recomputed from the key when the index moves them.
 * Lookups compare the slot's tag (the hash's top bits) first, so a probe
 * dereferences only the routes whose tag matches: a miss in a table at
 * load 0.5 touches about 0.2 routes instead of 1.5. */
static uint32_t route_hash(const struct rib_route *rt)
{
    return rib_key_hash(rt->key, rt->keylen);
}

static uintptr_t slot_tag(uint32_t h)
{
    return (uintptr_t)(h >> 29) & RIB_SLOT_TAG_MASK;
}

static uintptr_t slot_make(const struct rib_route *rt, uint32_t h)
{
    return (uintptr_t)rt | slot_tag(h);
}

#define INDEX_PREFETCH 16 /* slots */

static void route_prefetch(const struct rib_route *rt)
{
#if defined(__GNUC__)
    const uint8_t *k = &rt->keylen;
    __builtin_prefetch(k);
    __builtin_prefetch(k + 16);
#else
    (void)rt;
#endif
}

static bool index_grow(struct rib_table *t)
{
    struct rib *r = t->rib;
    size_t ncap = t->cap ? t->cap * 2 : 16;
    uintptr_t *ns = rib_zalloc(r, ncap * sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        /* Rehashing reads every route's key in slot (random) order: ask for
         * the routes a few slots ahead so the loads overlap. */
        if (i + INDEX_PREFETCH < t->cap && t->slots[i + INDEX_PREFETCH])
            route_prefetch(rib_slot_route(t->slots[i + INDEX_PREFETCH]));
        if (!t->slots[i])
            continue;
        size_t j = route_hash(rib_slot_route(t->slots[i])) & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    rib_dealloc(r, t->slots, t->cap * sizeof *t->slots);
    t->slots = ns;
    t->cap = ncap;
    return true;
}

static void index_remove(struct rib_table *t, struct rib_route *rt)
{
    size_t mask = t->cap - 1, i = route_hash(rt) & mask;
    while (rib_slot_route(t->slots[i]) != rt)
        i = (i + 1) & mask;
    t->slots[i] = 0;
    /* The shift below reads the key of each route up to the next empty
     * slot: start those loads together. */
    for (size_t k = (i + 1) & mask, n = 0; t->slots[k] && n < 8; k = (k + 1) & mask, n++)
        route_prefetch(rib_slot_route(t->slots[k]));
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        uintptr_t m = t->slots[j];
        if (!m)
            break;
        size_t home = route_hash(rib_slot_route(m)) & mask;
        bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            t->slots[i] = m;
            t->slots[j] = 0;
            i = j;
        }
    }
    t->used--;
}

/* Probes for 'key' (hash 'h'): returns its route, or NULL with '*empty' at
 * the empty slot that ended the probe (where the key would go). */
static struct rib_route *index_probe(const struct rib_table *t, const uint8_t *key, uint8_t len, uint32_t h,
                                     size_t *empty)
{
    size_t mask = t->cap - 1, i = h & mask;
    uintptr_t tag = slot_tag(h), s;
    for (; (s = t->slots[i]); i = (i + 1) & mask) {
        if ((s & RIB_SLOT_TAG_MASK) != tag)
            continue;
        struct rib_route *rt = rib_slot_route(s);
        if (rt->keylen == len && memcmp(rt->key, key, len) == 0)
            return rt;
    }
    *empty = i;
    return NULL;
}

struct rib_route *rib_route_find(struct rib_table *t, const uint8_t *key, uint8_t len)
{
    size_t empty;
    return t->cap ? index_probe(t, key, len, rib_key_hash(key, len), &empty) : NULL;
}

/* Marks 'rt' for delivery at the next flush (and, if it has no path then,
 * for freeing). Cannot fail: when a queue cannot grow, rib_flush() finds the
 * route by its DIRTY flag instead. */
static void route_queue(struct rib_table *t, struct rib_route *rt)
{
    struct rib *r = t->rib;
    if (rt->flags & RIB_RT_DIRTY)
        return;
    rt->flags |= RIB_RT_DIRTY;
    if (!t->queued) {
        if (r->dirty_len == r->dirty_cap) {
            size_t ncap = r->dirty_cap ? r->dirty_cap * 2 : 16;
            uint32_t *nd = rib_realloc(r, r->dirty_tables, r->dirty_cap * sizeof *nd, ncap * sizeof *nd);
            if (nd) {
                r->dirty_tables = nd;
                r->dirty_cap = ncap;
            }
        }
        if (r->dirty_len < r->dirty_cap) {
            r->dirty_tables[r->dirty_len++] = t->id;
            t->queued = true;
        } else {
            r->rescan = true;
        }
    }
    if (t->dirty_len == t->dirty_cap) {
        size_t ncap = t->dirty_cap ? t->dirty_cap * 2 : 16;
        struct rib_route **nd = rib_realloc(r, t->dirty, t->dirty_cap * sizeof *nd, ncap * sizeof *nd);
        if (nd) {
            t->dirty = nd;
            t->dirty_cap = ncap;
        }
    }
    if (t->dirty_len < t->dirty_cap)
        t->dirty[t->dirty_len++] = rt;
    else
        t->rescan = true;
}

struct rib_route *rib_route_get(struct rib_table *t, const uint8_t *key, uint8_t len)
{
    /* Grown before probing (at worst one insertion early) so that one probe
     * finds the route or the slot for it. */
    if ((t->used + 1) * 10 > t->cap * 7 && !index_grow(t))
        return rib_route_find(t, key, len);
    uint32_t h = rib_key_hash(key, len);
    size_t i;
    struct rib_route *rt = index_probe(t, key, len, h, &i);
    if (rt)
        return rt;
    rt = rib_route_alloc(t->rib, len);
    if (!rt)
        return NULL;
    memset(rt, 0, offsetof(struct rib_route, key));
    rt->keylen = len;
    memcpy(rt->key, key, len);
    t->slots[i] = slot_make(rt, h);
    t->used++;
    /* Queued at once so that an empty route is always freed by rib_flush(). */
    route_queue(t, rt);
    return rt;
}

/* ---- paths of a route ---- */

int rib_route_path_find(const struct rib_route *rt, uint32_t source, uint32_t path_id, const struct rib_route *primary)
{
    for (int i = 0; i < rt->npaths; i++) {
        const struct rib_path *p = &RIB_PATHS(rt)[i];
        if (p->source == source && p->path_id == path_id && p->primary == primary)
            return i;
    }
    return -1;
}

int rib_route_path_append(struct rib *r, struct rib_route *rt, const struct rib_path *p)
{
    if (rt->npaths == UINT16_MAX)
        return RIB_ERR_LIMIT;
    if (rt->npaths == 0) {
        rt->pv.one = *p;
    } else if (rt->npaths == 1) {
        struct rib_path *np = rib_alloc(r, 2 * sizeof *np);
        if (!np)
            return RIB_ERR_NOMEM;
        np[0] = rt->pv.one;
        np[1] = *p;
        rt->pv.many = np;
    } else {
        struct rib_path *np = rib_realloc(r, rt->pv.many, rt->npaths * sizeof *np, (rt->npaths + 1u) * sizeof *np);
        if (!np)
            return RIB_ERR_NOMEM;
        rt->pv.many = np;
        np[rt->npaths] = *p;
    }
    rt->npaths++;
    rib_attr_ref(p->attr);
    r->paths++;
    if (p->flags & RIB_PATH_REPLICATED)
        r->replicated++;
    rt->flags |= RIB_RT_CHANGED;
    return 0;
}

void rib_route_path_replace(struct rib *r, struct rib_route *rt, int idx, const struct rib_path *p)
{
    struct rib_path *old = &RIB_PATHS(rt)[idx];
    rib_attr_ref(p->attr);
    rib_attr_unref(r, old->attr);
    *old = *p;
    rt->flags |= RIB_RT_CHANGED;
    if (idx < rt->nbest)
        rt->flags |= RIB_RT_TOUCHED;
}

void rib_route_path_remove(struct rib *r, struct rib_route *rt, int idx)
{
    rib_attr_unref(r, RIB_PATHS(rt)[idx].attr);
    r->paths--;
    if (RIB_PATHS(rt)[idx].flags & RIB_PATH_REPLICATED)
        r->replicated--;
    memmove(&RIB_PATHS(rt)[idx], &RIB_PATHS(rt)[idx + 1], (size_t)(rt->npaths - idx - 1) * sizeof *RIB_PATHS(rt));
    if (rt->npaths == 2) {
        struct rib_path *many = rt->pv.many;
        rt->pv.one = many[0];
        rib_dealloc(r, many, 2 * sizeof *many);
    } else if (rt->npaths > 2) {
        struct rib_path *np = rib_realloc(r, rt->pv.many, rt->npaths * sizeof *np, (rt->npaths - 1u) * sizeof *np);
        if (np)
            rt->pv.many = np;
        else
            r->bytes -= sizeof *np; /* the block keeps its old size; account as shrunk */
    }
    rt->npaths--;
    rt->flags |= RIB_RT_CHANGED;
    if (idx < rt->nbest) {
        rt->flags |= RIB_RT_TOUCHED;
        rt->nbest--;
    }
}

void rib_dep_del(struct rib *r, struct rib_route *rt, struct rib_route *d)
{
    for (uint32_t i = 0; i < RIB_NDEPS(rt); i++) {
        struct rib_deps *ds = rt->deps;
        if (ds->v[i].route != d)
            continue;
        ds->v[i] = ds->v[ds->len - 1];
        ds->len--;
        if (ds->len == 0) {
            rib_dealloc(r, ds, RIB_DEPS_SIZE(1));
            rt->deps = NULL;
        } else {
            struct rib_deps *nd = rib_realloc(r, ds, RIB_DEPS_SIZE(ds->len + 1u), RIB_DEPS_SIZE(ds->len));
            if (nd)
                rt->deps = nd;
            else
                r->bytes -= sizeof nd->v[0];
        }
        return;
    }
}

void rib_route_update(struct rib_table *t, struct rib_route *rt)
{
    if (!(rt->flags & RIB_RT_CHANGED))
        return;
    rt->flags &= (uint8_t)~RIB_RT_CHANGED;
    bool best_changed = rib_best_sort(t->rib, t, rt);
    if (best_changed)
        route_queue(t, rt);
    if (rt->npaths == 0)
        route_queue(t, rt);
    /* A VRF replicates its best set only; a VPN table imports every path. */
    if (t->inst ? best_changed : rib_family_is_vpn(t->family))
        rib_replicate(t, rt);
}

struct rib_route **rib_table_snapshot(struct rib_table *t, size_t *len)
{
    *len = 0;
    struct rib_route **a = rib_tmp_alloc((t->used ? t->used : 1) * sizeof *a);
    if (!a)
        return NULL;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i])
            a[(*len)++] = rib_slot_route(t->slots[i]);
    return a;
}

/* ---- public path operations ---- */

static int check_family(const struct rib_table *t, const struct rib_prefix *p)
{
    return p && p->family == t->family ? 0 : RIB_ERR_FAMILY;
}

int rib_path_add(struct rib_table *t, const struct rib_prefix *p, uint32_t source, uint32_t path_id,
                 const struct rib_attr *attr, unsigned flags)
{
    struct rib_labels lb = {0};
    if (attr) {
        lb.label = attr->label;
        lb.l3_label = attr->l3_label;
        lb.vni = attr->vni;
    }
    return rib_path_add_labels(t, p, source, path_id, attr, flags, &lb);
}

int rib_path_add_labels(struct rib_table *t, const struct rib_prefix *p, uint32_t source, uint32_t path_id,
                        const struct rib_attr *attr, unsigned flags, const struct rib_labels *labels)
{
    if (!t)
        return RIB_ERR_INVAL;
    struct rib *r = t->rib;
    int rc = check_family(t, p);
    if (rc)
        return rc;
    if (flags & ~(unsigned)RIB_PATH_USER_FLAGS)
        return RIB_ERR_INVAL;
    if (!rib_source_get(r, source))
        return RIB_ERR_SOURCE;
    if (!attr || attr->owner != r || !rib_attr_node(attr))
        return RIB_ERR_ATTR;
    uint8_t key[RIB_KEY_MAX], len;
    if ((rc = rib_key_encode(p, key, &len)))
        return rc;
    struct rib_route *rt = rib_route_get(t, key, len);
    if (!rt)
        return RIB_ERR_NOMEM;
    struct rib_path np = {
        .attr = attr,
        .label = labels->label,
        .l3_label = labels->l3_label,
        .vni = labels->vni,
        .source = source,
        .path_id = path_id,
        .origin_table = t->id,
        .flags = (uint8_t)flags,
    };
    int idx = rib_route_path_find(rt, source, path_id, NULL);
    if (idx >= 0) {
        const struct rib_path *old = &RIB_PATHS(rt)[idx];
        if (old->attr == attr && old->flags == np.flags && rib_path_same_labels(old, &np))
            return 0;
        rib_route_path_replace(r, rt, idx, &np);
    } else {
        bool was_empty = rt->npaths == 0;
        if ((rc = rib_route_path_append(r, rt, &np)))
            return rc;
        if (was_empty) {
            t->count++;
            r->routes++;
        }
    }
    rib_route_update(t, rt);
    return 0;
}

void rib_table_prefetch(const struct rib_table *t, const struct rib_prefix *p)
{
    uint8_t key[RIB_KEY_MAX], len;
    if (!t || !t->cap || check_family(t, p) || rib_key_encode(p, key, &len))
        return;
#if defined(__GNUC__)
    __builtin_prefetch(&t->slots[rib_key_hash(key, len) & (t->cap - 1)]);
#endif
}

int rib_path_del(struct rib_table *t, const struct rib_prefix *p, uint32_t source, uint32_t path_id)
{
    if (!t)
        return RIB_ERR_INVAL;
    int rc = check_family(t, p);
    if (rc)
        return rc;
    uint8_t key[RIB_KEY_MAX], len;
    if ((rc = rib_key_encode(p, key, &len)))
        return rc;
    struct rib_route *rt = rib_route_find(t, key, len);
    int idx = rt ? rib_route_path_find(rt, source, path_id, NULL) : -1;
    if (idx < 0)
        return RIB_ERR_NOENT;
    rib_route_path_remove(t->rib, rt, idx);
    if (rt->npaths == 0) {
        t->count--;
        t->rib->routes--;
    }
    rib_route_update(t, rt);
    return 0;
}

int rib_table_lookup(struct rib_table *t, const struct rib_prefix *p, const struct rib_path **paths, size_t *count,
                     size_t *nbest)
{
    if (!t || !paths || !count || !nbest)
        return RIB_ERR_INVAL;
    int rc = check_family(t, p);
    if (rc)
        return rc;
    uint8_t key[RIB_KEY_MAX], len;
    if ((rc = rib_key_encode(p, key, &len)))
        return rc;
    struct rib_route *rt = rib_route_find(t, key, len);
    if (!rt || rt->npaths == 0)
        return RIB_ERR_NOENT;
    *paths = RIB_PATHS(rt);
    *count = rt->npaths;
    *nbest = rt->nbest;
    return 0;
}

static int cmp_route_key(const void *a, const void *b)
{
    const struct rib_route *x = *(struct rib_route *const *)a, *y = *(struct rib_route *const *)b;
    size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return (int)x->keylen - (int)y->keylen;
}

static int table_walk(struct rib_table *t, rib_walk_fn fn, rib_mark_walk_fn mfn, void *ctx)
{
    size_t n;
    struct rib_route **a = rib_table_snapshot(t, &n);
    if (!a)
        return RIB_ERR_NOMEM;
    qsort(a, n, sizeof *a, cmp_route_key);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (a[i]->npaths == 0)
            continue;
        struct rib_prefix p;
        rib_key_decode(t->family, a[i]->key, a[i]->keylen, &p);
        if (mfn)
            rc = mfn(ctx, &p, RIB_PATHS(a[i]), a[i]->npaths, a[i]->nbest, &a[i]->marks);
        else
            rc = fn(ctx, &p, RIB_PATHS(a[i]), a[i]->npaths, a[i]->nbest);
    }
    free(a);
    return rc;
}

int rib_table_walk(struct rib_table *t, rib_walk_fn fn, void *ctx)
{
    if (!t || !fn)
        return RIB_ERR_INVAL;
    return table_walk(t, fn, NULL, ctx);
}

int rib_table_walk_marks(struct rib_table *t, rib_mark_walk_fn fn, void *ctx)
{
    if (!t || !fn)
        return RIB_ERR_INVAL;
    return table_walk(t, NULL, fn, ctx);
}

size_t rib_table_marks_clear(struct rib_table *t, uint16_t mask)
{
    size_t n = 0;
    for (size_t i = 0; t && i < t->cap; i++) {
        struct rib_route *rt = rib_slot_route(t->slots[i]);
        if (i + INDEX_PREFETCH < t->cap && t->slots[i + INDEX_PREFETCH])
            route_prefetch(rib_slot_route(t->slots[i + INDEX_PREFETCH]));
        if (rt && (rt->marks & mask)) {
            rt->marks &= (uint16_t)~mask;
            n++;
        }
    }
    return n;
}

/* ---- listeners and flush ---- */

static int listener_add(struct rib_table *t, rib_listener_fn fn, rib_mark_listener_fn mfn, void *ctx, uint32_t *id)
{
    struct rib *r = t->rib;
    struct rib_listener *nl = rib_realloc(r, t->ls, t->ls_len * sizeof *nl, (t->ls_len + 1) * sizeof *nl);
    if (!nl)
        return RIB_ERR_NOMEM;
    t->ls = nl;
    nl[t->ls_len].id = t->ls_next++;
    nl[t->ls_len].fn = fn;
    nl[t->ls_len].mfn = mfn;
    nl[t->ls_len].ctx = ctx;
    *id = nl[t->ls_len].id;
    t->ls_len++;
    return 0;
}

int rib_listener_add(struct rib_table *t, rib_listener_fn fn, void *ctx, uint32_t *id)
{
    if (!t || !fn || !id)
        return RIB_ERR_INVAL;
    return listener_add(t, fn, NULL, ctx, id);
}

int rib_listener_add_marks(struct rib_table *t, rib_mark_listener_fn fn, void *ctx, uint32_t *id)
{
    if (!t || !fn || !id)
        return RIB_ERR_INVAL;
    return listener_add(t, NULL, fn, ctx, id);
}

int rib_listener_del(struct rib_table *t, uint32_t id)
{
    if (!t)
        return RIB_ERR_INVAL;
    for (size_t i = 0; i < t->ls_len; i++) {
        if (t->ls[i].id != id)
            continue;
        memmove(&t->ls[i], &t->ls[i + 1], (t->ls_len - i - 1) * sizeof *t->ls);
        t->ls_len--;
        if (t->ls_len == 0) {
            rib_dealloc(t->rib, t->ls, sizeof *t->ls);
            t->ls = NULL;
        } else {
            struct rib_listener *nl = rib_realloc(t->rib, t->ls, (t->ls_len + 1) * sizeof *nl, t->ls_len * sizeof *nl);
            if (nl)
                t->ls = nl;
            else
                t->rib->bytes -= sizeof *nl;
        }
        return 0;
    }
    return RIB_ERR_NOENT;
}

/* Notifies the listeners of 't' about 'rt' and frees it when it is empty.
 * Returns true when it was freed. */
static bool deliver(struct rib *r, struct rib_table *t, struct rib_route *rt)
{
    rt->flags &= (uint8_t)~RIB_RT_DIRTY;
    if (t->ls_len) {
        struct rib_prefix p;
        rib_key_decode(t->family, rt->key, rt->keylen, &p);
        const struct rib_path *best = rt->npaths ? RIB_PATHS(rt) : NULL;
        for (size_t l = 0; l < t->ls_len; l++) {
            if (t->ls[l].mfn)
                t->ls[l].mfn(t->ls[l].ctx, t, &p, best, rt->nbest, &rt->marks);
            else
                t->ls[l].fn(t->ls[l].ctx, t, &p, best, rt->nbest);
        }
    }
    if (rt->npaths || RIB_NDEPS(rt))
        return false;
    index_remove(t, rt);
    route_free(r, rt);
    return true;
}

static size_t flush_table(struct rib *r, struct rib_table *t)
{
    size_t made = 0;
    for (size_t i = 0; i < t->dirty_len; i++) {
        if (!(t->dirty[i]->flags & RIB_RT_DIRTY))
            continue;
        deliver(r, t, t->dirty[i]);
        made++;
    }
    if (t->rescan) {
        /* Removal shifts later entries back into slot i: look at it again.
         * Entries wrapped from the front were already delivered. */
        for (size_t i = 0; i < t->cap;) {
            struct rib_route *rt = rib_slot_route(t->slots[i]);
            if (!rt || !(rt->flags & RIB_RT_DIRTY)) {
                i++;
                continue;
            }
            made++;
            if (!deliver(r, t, rt))
                i++;
        }
        t->rescan = false;
    }
    t->dirty_len = 0;
    t->queued = false;
    if (t->dirty_cap > 1024) {
        /* A burst is over: do not keep its queue's storage per table. */
        rib_dealloc(r, t->dirty, t->dirty_cap * sizeof *t->dirty);
        t->dirty = NULL;
        t->dirty_cap = 0;
    }
    return made;
}

size_t rib_flush(struct rib *r)
{
    size_t made = 0;
    if (!r)
        return 0;
    for (size_t ti = 0; ti < r->dirty_len; ti++) {
        struct rib_table *t = rib_table_by_id(r, r->dirty_tables[ti]);
        if (t)
            made += flush_table(r, t);
    }
    r->dirty_len = 0;
    if (r->rescan) {
        r->rescan = false;
        for (uint32_t ti = 1; ti < r->tables_len; ti++)
            if (r->tables[ti])
                made += flush_table(r, r->tables[ti]);
    }
    return made;
}

/* ---- statistics and audit ---- */

void rib_stats_get(const struct rib *r, struct rib_stats *st)
{
    st->routes = r->routes;
    st->paths = r->paths;
    st->replicated = r->replicated;
    st->attrs = r->attrs_count;
    st->bytes = r->bytes;
    st->repl_failures = r->repl_failures;
}

#define FAIL(...)                                   \
    do {                                            \
        if (why)                                    \
            snprintf(why, size, __VA_ARGS__);       \
        rc = RIB_ERR_INVAL;                         \
        goto out;                                   \
    } while (0)

/* True when deciding 'rt' afresh gives the order and best set it has. */
static bool audit_order(struct rib *r, struct rib_table *t, const struct rib_route *rt)
{
    if (rt->npaths < 2 || (rt->flags & RIB_RT_UNSORTED))
        return true;
    struct rib_route *c = malloc(RIB_ROUTE_SIZE(rt->keylen));
    struct rib_path *paths = malloc(rt->npaths * sizeof *paths);
    bool ok = true;
    if (c && paths) {
        memcpy(c, rt, RIB_ROUTE_SIZE(rt->keylen));
        /* Decide from the reverse order, so that an unsorted route shows. */
        for (uint16_t i = 0; i < rt->npaths; i++)
            paths[i] = RIB_PATHS(rt)[rt->npaths - 1 - i];
        c->pv.many = paths;
        c->nbest = 0;
        c->flags = 0;
        size_t failures = r->repl_failures;
        rib_best_sort(r, t, c);
        if (r->repl_failures == failures) {
            ok = c->nbest == rt->nbest;
            for (uint16_t i = 0; i < rt->npaths && ok; i++) {
                const struct rib_path *x = &paths[i], *y = &RIB_PATHS(rt)[i];
                ok = x->source == y->source && x->path_id == y->path_id && x->primary == y->primary &&
                     x->attr == y->attr && x->flags == y->flags && x->depth == y->depth &&
                     rib_path_same_labels(x, y);
            }
        }
        r->repl_failures = failures;
    }
    free(c);
    free(paths);
    return ok;
}

int rib_audit(struct rib *r, char *why, size_t size)
{
    int rc = 0;
    size_t routes = 0, paths = 0, repl = 0, indexed = 0;
    size_t nattr = 0;
    for (uint32_t ti = 1; ti < r->tables_len; ti++) {
        struct rib_table *t = r->tables[ti];
        if (!t)
            continue;
        size_t used = 0, count = 0;
        for (size_t i = 0; i < t->cap; i++) {
            struct rib_route *rt = rib_slot_route(t->slots[i]);
            if (!rt)
                continue;
            used++;
            if ((t->slots[i] & RIB_SLOT_TAG_MASK) != slot_tag(route_hash(rt)))
                FAIL("%s: index slot with a wrong tag", t->name);
            if (rt->npaths)
                count++;
            if (rib_route_find(t, rt->key, rt->keylen) != rt)
                FAIL("%s: route not reachable through the index", t->name);
            if (rt->npaths == 0 && !(rt->flags & RIB_RT_DIRTY))
                FAIL("%s: empty route not queued", t->name);
            if (rt->nbest > rt->npaths)
                FAIL("%s: nbest > npaths", t->name);
            if (!audit_order(r, t, rt))
                FAIL("%s: paths not in decision order", t->name);
            if (rt->flags & (RIB_RT_CHANGED | RIB_RT_TOUCHED))
                FAIL("%s: route left with pending change flags", t->name);
            for (uint16_t k = 0; k < rt->npaths; k++) {
                const struct rib_path *p = &RIB_PATHS(rt)[k];
                paths++;
                if (!rib_attr_node(p->attr) || rib_attr_node(p->attr)->refs == 0)
                    FAIL("%s: path with a dead attribute set", t->name);
                if (!rib_source_get(r, p->source))
                    FAIL("%s: path of an unknown source", t->name);
                if (k < rt->nbest && (p->flags & RIB_PATH_INFEASIBLE))
                    FAIL("%s: infeasible path in the best set", t->name);
                for (uint16_t m = (uint16_t)(k + 1); m < rt->npaths; m++)
                    if (RIB_PATHS(rt)[m].source == p->source && RIB_PATHS(rt)[m].path_id == p->path_id &&
                        RIB_PATHS(rt)[m].primary == p->primary)
                        FAIL("%s: duplicate path", t->name);
                if (p->flags & RIB_PATH_REPLICATED) {
                    repl++;
                    struct rib_table *pt = rib_table_by_id(r, p->primary_table);
                    if (!p->primary || !pt || p->depth == 0 || p->depth > RIB_REPL_DEPTH_MAX)
                        FAIL("%s: replicated path without a live primary", t->name);
                    if (rib_route_find(pt, p->primary->key, p->primary->keylen) != p->primary)
                        FAIL("%s: primary route not in its table", t->name);
                    bool listed = false;
                    for (uint32_t d = 0; d < RIB_NDEPS(p->primary); d++)
                        if (p->primary->deps->v[d].route == rt && p->primary->deps->v[d].table == t->id)
                            listed = true;
                    if (!listed)
                        FAIL("%s: replica missing from its primary's dependents", t->name);
                } else if (p->primary || p->primary_table || p->depth) {
                    FAIL("%s: primary path with replication fields", t->name);
                }
            }
            for (uint32_t d = 0; d < RIB_NDEPS(rt); d++) {
                struct rib_table *dt = rib_table_by_id(r, rt->deps->v[d].table);
                if (!dt || rib_route_find(dt, rt->deps->v[d].route->key, rt->deps->v[d].route->keylen) != rt->deps->v[d].route)
                    FAIL("%s: dependent route gone", t->name);
                bool any = false;
                struct rib_route *dr = rt->deps->v[d].route;
                for (uint16_t k = 0; k < dr->npaths; k++)
                    if (RIB_PATHS(dr)[k].primary == rt)
                        any = true;
                if (!any)
                    FAIL("%s: dependent without a replica", t->name);
            }
        }
        if (used != t->used || count != t->count)
            FAIL("%s: counters %zu/%zu, found %zu/%zu", t->name, t->used, t->count, used, count);
        routes += count;
        indexed += used;
    }
    if (indexed != r->slab_live)
        FAIL("%zu routes from the slabs, %zu in the indexes", r->slab_live, indexed);
    if (routes != r->routes || paths != r->paths || repl != r->replicated)
        FAIL("rib counters routes %zu paths %zu repl %zu, found %zu %zu %zu", r->routes, r->paths, r->replicated,
             routes, paths, repl);
    for (size_t i = 0; i < r->attrs_cap; i++)
        if (r->attrs[i])
            nattr++;
    if (nattr != r->attrs_count)
        FAIL("attribute table count %zu, found %zu", r->attrs_count, nattr);
out:
    return rc;
}

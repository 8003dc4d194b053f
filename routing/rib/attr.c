/* Path attribute sets, interned (hash-consed): a set is reduced to a
 * canonical byte encoding (lists that are sets — communities, extended
 * communities, security-group ids — sorted and deduplicated; absent optional
 * values zeroed), and every identical encoding shares one reference-counted
 * node, so a million routes with a handful of distinct attribute sets hold a
 * handful of copies. Also the route distinguisher, route target and
 * encapsulation helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "routing/rib/rib_int.h"

STRATA_ERR_DEFINE(rib, RIB_ERRORS)

/* ---- RD, RT, extended communities ---- */

struct rib_rd rib_rd_make(uint32_t asn, uint32_t n)
{
    struct rib_rd rd = {{0}};
    if (asn < 65536) {
        be16_store(rd.b, 0);
        be16_store(rd.b + 2, (uint16_t)asn);
        be32_store(rd.b + 4, n);
    } else {
        be16_store(rd.b, 2);
        be32_store(rd.b + 2, asn);
        be16_store(rd.b + 6, (uint16_t)n);
    }
    return rd;
}

struct rib_rd rib_rd_make_ip(uint32_t ipv4, uint16_t n)
{
    struct rib_rd rd = {{0}};
    be16_store(rd.b, 1);
    be32_store(rd.b + 2, ipv4);
    be16_store(rd.b + 6, n);
    return rd;
}

struct rib_rt rib_rt_make(uint32_t asn, uint32_t n)
{
    struct rib_rt rt = {{0}};
    if (asn < 65536) {
        rt.b[0] = 0x00;
        rt.b[1] = 0x02;
        be16_store(rt.b + 2, (uint16_t)asn);
        be32_store(rt.b + 4, n);
    } else {
        rt.b[0] = 0x02;
        rt.b[1] = 0x02;
        be32_store(rt.b + 2, asn);
        be16_store(rt.b + 6, (uint16_t)n);
    }
    return rt;
}

struct rib_rt rib_rt_make_ip(uint32_t ipv4, uint16_t n)
{
    struct rib_rt rt = {{0}};
    rt.b[0] = 0x01;
    rt.b[1] = 0x02;
    be32_store(rt.b + 2, ipv4);
    be16_store(rt.b + 6, n);
    return rt;
}

struct rib_ext rib_ext_encap(enum rib_encap type)
{
    struct rib_ext e = {{0x03, 0x0c, 0, 0, 0, 0, 0, 0}};
    be16_store(e.b + 6, (uint16_t)type);
    return e;
}

struct rib_ext rib_rt_ext(struct rib_rt rt)
{
    struct rib_ext e;
    memcpy(e.b, rt.b, 8);
    return e;
}

bool rib_ext_is_rt(const struct rib_ext *e)
{
    return e->b[0] <= 0x02 && e->b[1] == 0x02;
}

static int parse_u32(const char *s, const char *end, uint32_t max, uint32_t *v)
{
    uint64_t x = 0;
    if (s == end)
        return RIB_ERR_INVAL;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return RIB_ERR_INVAL;
        x = x * 10 + (uint64_t)(*s - '0');
        if (x > max)
            return RIB_ERR_INVAL;
    }
    *v = (uint32_t)x;
    return 0;
}

int rib_rt_parse(const char *text, struct rib_rt *rt)
{
    if (!text || !rt)
        return RIB_ERR_INVAL;
    if (strncmp(text, "target:", 7) == 0)
        text += 7;
    const char *colon = strrchr(text, ':');
    if (!colon)
        return RIB_ERR_INVAL;
    const char *end = colon + strlen(colon);
    uint32_t n;
    if (memchr(text, '.', (size_t)(colon - text))) {
        uint32_t ip = 0, part;
        const char *s = text;
        for (int i = 0; i < 4; i++) {
            const char *dot = i < 3 ? memchr(s, '.', (size_t)(colon - s)) : colon;
            if (!dot || parse_u32(s, dot, 255, &part) != 0)
                return RIB_ERR_INVAL;
            ip = (ip << 8) | part;
            s = dot + 1;
        }
        if (parse_u32(colon + 1, end, 65535, &n) != 0)
            return RIB_ERR_INVAL;
        *rt = rib_rt_make_ip(ip, (uint16_t)n);
        return 0;
    }
    uint32_t asn;
    if (parse_u32(text, colon, UINT32_MAX, &asn) != 0)
        return RIB_ERR_INVAL;
    if (parse_u32(colon + 1, end, asn < 65536 ? UINT32_MAX : 65535, &n) != 0)
        return RIB_ERR_INVAL;
    *rt = rib_rt_make(asn, n);
    return 0;
}

static void format_admin(const uint8_t *b, int type, char *out, size_t size)
{
    /* 'b' points at the 6-byte value; 'type' 0: 2+4, 1: ip+2, 2: 4+2. */
    switch (type) {
    case 0:
        snprintf(out, size, "%u:%u", be16_load(b), be32_load(b + 2));
        break;
    case 1:
        snprintf(out, size, "%u.%u.%u.%u:%u", b[0], b[1], b[2], b[3], be16_load(b + 4));
        break;
    default:
        snprintf(out, size, "%u:%u", be32_load(b), be16_load(b + 4));
        break;
    }
}

void rib_rt_format(const struct rib_rt *rt, char *out, size_t size)
{
    char v[32];
    format_admin(rt->b + 2, rt->b[0], v, sizeof v);
    snprintf(out, size, "target:%s", v);
}

void rib_rd_format(const struct rib_rd *rd, char *out, size_t size)
{
    format_admin(rd->b + 2, be16_load(rd->b), out, size);
}

/* ---- interning ---- */

struct rib_attr_node *rib_attr_node(const struct rib_attr *a)
{
    if (!a || !a->owner)
        return NULL;
    struct rib_attr_node *n = (struct rib_attr_node *)((uint8_t *)(uintptr_t)a - offsetof(struct rib_attr_node, pub));
    return n->magic == RIB_ATTR_MAGIC ? n : NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_ext(const void *a, const void *b)
{
    return memcmp(a, b, 8);
}

/* Sorted, deduplicated copy of 'len' elements of 'esize' bytes. */
static size_t sorted_set(const void *src, size_t len, size_t esize, int (*cmp)(const void *, const void *),
                         uint8_t *dst)
{
    if (len == 0)
        return 0;
    memcpy(dst, src, len * esize);
    qsort(dst, len, esize, cmp);
    size_t out = 1;
    for (size_t i = 1; i < len; i++) {
        if (memcmp(dst + (out - 1) * esize, dst + i * esize, esize) != 0) {
            if (out != i)
                memcpy(dst + out * esize, dst + i * esize, esize);
            out++;
        }
    }
    return out;
}

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return (uint32_t)(h ^ (h >> 32));
}

static int validate(const struct rib_attr *a)
{
    if (a->origin > RIB_ORIGIN_INCOMPLETE)
        return RIB_ERR_ATTR;
    if (a->nexthop.af != 0 && a->nexthop.af != 4 && a->nexthop.af != 6)
        return RIB_ERR_ATTR;
    if (a->as_path_len > 255 || a->comms_len > RIB_LIST_MAX || a->exts_len > RIB_LIST_MAX ||
        a->cluster_len > RIB_LIST_MAX || a->sgids_len > RIB_LIST_MAX)
        return RIB_ERR_ATTR;
    if ((a->as_path_len && !a->as_path) || (a->comms_len && !a->comms) || (a->exts_len && !a->exts) ||
        (a->cluster_len && !a->cluster_list) || (a->sgids_len && !a->sgids))
        return RIB_ERR_ATTR;
    for (size_t i = 0; i < a->as_path_len; i++) {
        const struct rib_as_seg *s = &a->as_path[i];
        if (s->len == 0 || !s->asns || s->type < RIB_AS_SET || s->type > RIB_AS_CONFED_SET)
            return RIB_ERR_ATTR;
    }
    if (a->vn && strlen(a->vn) > 255)
        return RIB_ERR_ATTR;
    return 0;
}

static size_t nh_size(uint8_t af)
{
    return af == 4 ? 4 : af == 6 ? 16 : 0;
}

/* Canonical encoding of 'a' whose set-lists are already sorted. */
static int encode(struct buf *b, const struct rib_attr *a)
{
    const uint16_t valid = RIB_ATTR_HAS_MED | RIB_ATTR_HAS_LOCAL_PREF | RIB_ATTR_HAS_LABEL | RIB_ATTR_HAS_VNI |
                           RIB_ATTR_HAS_L3_LABEL | RIB_ATTR_HAS_ORIGINATOR | RIB_ATTR_SINGLE_PATH;
    int rc = 0;
    rc |= buf_put_u16(b, a->flags & valid);
    rc |= buf_put_u8(b, a->origin);
    rc |= buf_put_u32(b, a->flags & RIB_ATTR_HAS_MED ? a->med : 0);
    rc |= buf_put_u32(b, a->flags & RIB_ATTR_HAS_LOCAL_PREF ? a->local_pref : 0);
    rc |= buf_put_u32(b, a->flags & RIB_ATTR_HAS_LABEL ? a->label : 0);
    rc |= buf_put_u32(b, a->flags & RIB_ATTR_HAS_VNI ? a->vni : 0);
    rc |= buf_put_u32(b, a->flags & RIB_ATTR_HAS_L3_LABEL ? a->l3_label : 0);
    rc |= buf_put_u32(b, a->flags & RIB_ATTR_HAS_ORIGINATOR ? a->originator_id : 0);
    rc |= buf_put_u32(b, a->seq);
    rc |= buf_put_u8(b, a->nexthop.af);
    rc |= buf_put(b, a->nexthop.b, nh_size(a->nexthop.af));
    rc |= buf_put_u16(b, (uint16_t)a->as_path_len);
    for (size_t i = 0; i < a->as_path_len; i++) {
        rc |= buf_put_u8(b, a->as_path[i].type);
        rc |= buf_put_u8(b, a->as_path[i].len);
        for (size_t j = 0; j < a->as_path[i].len; j++)
            rc |= buf_put_u32(b, a->as_path[i].asns[j]);
    }
    rc |= buf_put_u16(b, (uint16_t)a->comms_len);
    for (size_t i = 0; i < a->comms_len; i++)
        rc |= buf_put_u32(b, a->comms[i]);
    rc |= buf_put_u16(b, (uint16_t)a->exts_len);
    for (size_t i = 0; i < a->exts_len; i++)
        rc |= buf_put(b, a->exts[i].b, 8);
    rc |= buf_put_u16(b, (uint16_t)a->cluster_len);
    for (size_t i = 0; i < a->cluster_len; i++)
        rc |= buf_put_u32(b, a->cluster_list[i]);
    rc |= buf_put_u16(b, (uint16_t)a->sgids_len);
    for (size_t i = 0; i < a->sgids_len; i++)
        rc |= buf_put_u32(b, a->sgids[i]);
    size_t vnlen = a->vn ? strlen(a->vn) : 0;
    rc |= buf_put_u8(b, (uint8_t)vnlen);
    rc |= buf_put(b, a->vn ? a->vn : "", vnlen);
    rc |= buf_put_u8(b, a->vn ? 1 : 0);
    return rc ? RIB_ERR_NOMEM : 0;
}

static bool attr_slot_grow(struct rib *r)
{
    size_t ncap = r->attrs_cap ? r->attrs_cap * 2 : 64;
    struct rib_attr_node **ns = rib_zalloc(r, ncap * sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < r->attrs_cap; i++) {
        struct rib_attr_node *n = r->attrs[i];
        if (!n)
            continue;
        size_t j = n->hash & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = n;
    }
    rib_dealloc(r, r->attrs, r->attrs_cap * sizeof *r->attrs);
    r->attrs = ns;
    r->attrs_cap = ncap;
    return true;
}

static void attr_slot_remove(struct rib *r, struct rib_attr_node *n)
{
    size_t mask = r->attrs_cap - 1, i = n->hash & mask;
    while (r->attrs[i] != n)
        i = (i + 1) & mask;
    r->attrs[i] = NULL;
    /* Backward-shift deletion keeps probe chains unbroken. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        struct rib_attr_node *m = r->attrs[j];
        if (!m)
            break;
        size_t home = m->hash & mask;
        bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            r->attrs[i] = m;
            r->attrs[j] = NULL;
            i = j;
        }
    }
    r->attrs_count--;
}

#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

static struct rib_attr_node *build_node(struct rib *r, const struct rib_attr *a, const struct buf *blob,
                                        uint32_t hash)
{
    size_t nasns = 0;
    for (size_t i = 0; i < a->as_path_len; i++)
        nasns += a->as_path[i].len;
    size_t vnlen = a->vn ? strlen(a->vn) + 1 : 0;
    size_t off = ALIGN8(sizeof(struct rib_attr_node));
    size_t o_seg = off;
    off = ALIGN8(off + a->as_path_len * sizeof(struct rib_as_seg));
    size_t o_asn = off;
    off += nasns * 4;
    size_t o_comm = off;
    off += a->comms_len * 4;
    size_t o_clu = off;
    off += a->cluster_len * 4;
    size_t o_sg = off;
    off += a->sgids_len * 4;
    size_t o_ext = off;
    off += a->exts_len * 8;
    size_t o_vn = off;
    off += vnlen;
    size_t o_blob = off;
    off += blob->size;
    uint8_t *m = rib_alloc(r, off);
    if (!m)
        return NULL;
    struct rib_attr_node *n = (struct rib_attr_node *)m;
    memset(n, 0, sizeof *n);
    n->magic = RIB_ATTR_MAGIC;
    n->refs = 1;
    n->hash = hash;
    n->blob_size = (uint32_t)blob->size;
    n->alloc_size = off;
    memcpy(m + o_blob, blob->data, blob->size);
    n->blob = m + o_blob;
    struct rib_attr *p = &n->pub;
    *p = *a;
    p->owner = r;
    if (!(p->flags & RIB_ATTR_HAS_MED))
        p->med = 0;
    if (!(p->flags & RIB_ATTR_HAS_LOCAL_PREF))
        p->local_pref = 0;
    if (!(p->flags & RIB_ATTR_HAS_LABEL))
        p->label = 0;
    if (!(p->flags & RIB_ATTR_HAS_VNI))
        p->vni = 0;
    if (!(p->flags & RIB_ATTR_HAS_L3_LABEL))
        p->l3_label = 0;
    if (!(p->flags & RIB_ATTR_HAS_ORIGINATOR))
        p->originator_id = 0;
    struct rib_addr nh = {.af = a->nexthop.af};
    memcpy(nh.b, a->nexthop.b, nh_size(a->nexthop.af));
    p->nexthop = nh;
    struct rib_as_seg *segs = (struct rib_as_seg *)(void *)(m + o_seg);
    uint32_t *asns = (uint32_t *)(void *)(m + o_asn);
    for (size_t i = 0; i < a->as_path_len; i++) {
        segs[i].type = a->as_path[i].type;
        segs[i].len = a->as_path[i].len;
        segs[i].asns = asns;
        memcpy(asns, a->as_path[i].asns, a->as_path[i].len * 4u);
        asns += a->as_path[i].len;
    }
    p->as_path = a->as_path_len ? segs : NULL;
    p->comms = a->comms_len ? memcpy(m + o_comm, a->comms, a->comms_len * 4) : NULL;
    p->cluster_list = a->cluster_len ? memcpy(m + o_clu, a->cluster_list, a->cluster_len * 4) : NULL;
    p->sgids = a->sgids_len ? memcpy(m + o_sg, a->sgids, a->sgids_len * 4) : NULL;
    p->exts = a->exts_len ? memcpy(m + o_ext, a->exts, a->exts_len * 8) : NULL;
    p->vn = a->vn ? memcpy(m + o_vn, a->vn, vnlen) : NULL;
    return n;
}

int rib_attr_intern(struct rib *r, const struct rib_attr *a, const struct rib_attr **out)
{
    if (!r || !a || !out)
        return RIB_ERR_INVAL;
    int rc = validate(a);
    if (rc)
        return rc;
    size_t tmp_size = a->comms_len * 4 + a->exts_len * 8 + a->sgids_len * 4;
    uint8_t *tmp = NULL;
    if (tmp_size && !(tmp = rib_tmp_alloc(tmp_size)))
        return RIB_ERR_NOMEM;
    struct rib_attr c = *a;
    uint8_t *t = tmp;
    c.comms_len = sorted_set(a->comms, a->comms_len, 4, cmp_u32, t);
    c.comms = (const uint32_t *)(void *)t;
    t += a->comms_len * 4;
    c.exts_len = sorted_set(a->exts, a->exts_len, 8, cmp_ext, t);
    c.exts = (const struct rib_ext *)(void *)t;
    t += a->exts_len * 8;
    c.sgids_len = sorted_set(a->sgids, a->sgids_len, 4, cmp_u32, t);
    c.sgids = (const uint32_t *)(void *)t;

    struct buf b;
    buf_init(&b, 0);
    rc = encode(&b, &c);
    if (rc)
        goto out_buf;
    uint32_t h = hash_bytes(b.data, b.size);
    if (r->attrs_cap) {
        size_t mask = r->attrs_cap - 1;
        for (size_t i = h & mask; r->attrs[i]; i = (i + 1) & mask) {
            struct rib_attr_node *n = r->attrs[i];
            if (n->hash == h && n->blob_size == b.size && memcmp(n->blob, b.data, b.size) == 0) {
                n->refs++;
                *out = &n->pub;
                goto out_buf;
            }
        }
    }
    if ((r->attrs_count + 1) * 4 > r->attrs_cap * 3 && !attr_slot_grow(r)) {
        rc = RIB_ERR_NOMEM;
        goto out_buf;
    }
    struct rib_attr_node *n = build_node(r, &c, &b, h);
    if (!n) {
        rc = RIB_ERR_NOMEM;
        goto out_buf;
    }
    size_t mask = r->attrs_cap - 1, i = h & mask;
    while (r->attrs[i])
        i = (i + 1) & mask;
    r->attrs[i] = n;
    r->attrs_count++;
    *out = &n->pub;
out_buf:
    buf_destroy(&b);
    free(tmp);
    return rc;
}

const struct rib_attr *rib_attr_ref(const struct rib_attr *a)
{
    struct rib_attr_node *n = rib_attr_node(a);
    if (n)
        n->refs++;
    return a;
}

void rib_attr_unref(struct rib *r, const struct rib_attr *a)
{
    struct rib_attr_node *n = rib_attr_node(a);
    if (!n)
        return;
    if (--n->refs > 0)
        return;
    attr_slot_remove(r, n);
    n->magic = 0;
    rib_dealloc(r, n, n->alloc_size);
}

uint32_t rib_attr_refcount(const struct rib_attr *a)
{
    struct rib_attr_node *n = rib_attr_node(a);
    return n ? n->refs : 0;
}

void rib_attrs_free_all(struct rib *r)
{
    for (size_t i = 0; i < r->attrs_cap; i++) {
        struct rib_attr_node *n = r->attrs[i];
        if (n) {
            n->magic = 0;
            rib_dealloc(r, n, n->alloc_size);
        }
    }
    rib_dealloc(r, r->attrs, r->attrs_cap * sizeof *r->attrs);
    r->attrs = NULL;
    r->attrs_cap = r->attrs_count = 0;
}

uint32_t rib_attr_as_path_count(const struct rib_attr *a)
{
    uint32_t n = 0;
    for (size_t i = 0; i < a->as_path_len; i++) {
        const struct rib_as_seg *s = &a->as_path[i];
        if (s->type == RIB_AS_SEQUENCE)
            n += s->len;
        else if (s->type == RIB_AS_SET)
            n += 1;
    }
    return n;
}

uint32_t rib_attr_neighbor_as(const struct rib_attr *a)
{
    for (size_t i = 0; i < a->as_path_len; i++) {
        const struct rib_as_seg *s = &a->as_path[i];
        if (s->type == RIB_AS_SEQUENCE)
            return s->asns[0];
        if (s->type == RIB_AS_SET)
            return 0;
    }
    return 0;
}

bool rib_attr_has_comm(const struct rib_attr *a, uint32_t comm)
{
    return a->comms_len && bsearch(&comm, a->comms, a->comms_len, 4, cmp_u32) != NULL;
}

bool rib_attr_has_rt(const struct rib_attr *a, const struct rib_rt *rt)
{
    return a->exts_len && bsearch(rt->b, a->exts, a->exts_len, 8, cmp_ext) != NULL;
}

int rib_attr_derive(struct rib *r, const struct rib_attr *a, const struct rib_rt *add_rts, size_t add_len,
                    uint32_t add_comm, const struct rib_addr *nexthop, const uint32_t *label,
                    const struct rib_attr **out)
{
    struct rib_attr c = *a;
    struct rib_ext *exts = NULL;
    uint32_t *comms = NULL;
    int rc;
    if (add_len) {
        if (a->exts_len + add_len > RIB_LIST_MAX)
            return RIB_ERR_LIMIT;
        exts = rib_tmp_alloc((a->exts_len + add_len) * sizeof *exts);
        if (!exts)
            return RIB_ERR_NOMEM;
        if (a->exts_len)
            memcpy(exts, a->exts, a->exts_len * sizeof *exts);
        memcpy(exts + a->exts_len, add_rts, add_len * sizeof *exts);
        c.exts = exts;
        c.exts_len = a->exts_len + add_len;
    }
    if (add_comm) {
        comms = rib_tmp_alloc((a->comms_len + 1) * sizeof *comms);
        if (!comms) {
            rc = RIB_ERR_NOMEM;
            goto out;
        }
        if (a->comms_len)
            memcpy(comms, a->comms, a->comms_len * sizeof *comms);
        comms[a->comms_len] = add_comm;
        c.comms = comms;
        c.comms_len = a->comms_len + 1;
    }
    if (nexthop && nexthop->af)
        c.nexthop = *nexthop;
    if (label) {
        c.label = *label;
        c.flags |= RIB_ATTR_HAS_LABEL;
        c.flags &= (uint16_t)~RIB_ATTR_HAS_VNI;
        c.vni = 0;
    }
    rc = rib_attr_intern(r, &c, out);
out:
    free(exts);
    free(comms);
    return rc;
}

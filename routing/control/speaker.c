/* The BGP speaker: sessions on libuv, the pure FSM of routing/bgp, the RIB of
 * routing/rib, and the export rules between them. See speaker.h. */
#include "routing/control/speaker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/log.h"
#include "routing/bgp/bgp_fsm.h"
#include "routing/control/bgp_conv.h"

#define SPEAKER_DEFAULT_FAMILIES                                                                          \
    (BGP_FAM_BIT(BGP_FAM_VPNV4) | BGP_FAM_BIT(BGP_FAM_VPNV6) | BGP_FAM_BIT(BGP_FAM_EVPN) |                 \
     BGP_FAM_BIT(BGP_FAM_RTC))
#define SPEAKER_VPN_FAMILIES                                                                              \
    (BGP_FAM_BIT(BGP_FAM_VPNV4) | BGP_FAM_BIT(BGP_FAM_VPNV6) | BGP_FAM_BIT(BGP_FAM_EVPN))
#define PACK_MAX_NLRI 256 /* NLRI per UPDATE before the size check splits it */
/* Room left for NLRI in an UPDATE: the header, the two length fields and an
 * allowance for the path attributes (MP_REACH's header and next hop
 * included). Longer attributes make the encoder refuse the UPDATE, which is
 * then split in halves. */
#define PACK_NLRI_ROOM (BGP_MAX_MSG_SIZE - BGP_HDR_SIZE - 4 - 256)
#define CORK_MAX 65536 /* bytes of UPDATEs gathered per write */
/* Bytes read from all peers before the changes are flushed: reading pauses
 * until the next loop iteration has flushed them, which bounds the pending
 * queues (about one entry per 16 bytes read) however much the kernel has
 * buffered while the speaker was not scheduled. */
#define READ_BUDGET (256 * 1024)
#define NLRI_PREFETCH 4   /* received NLRI the RIB is asked to prefetch ahead */

/* ---- Adj-RIB-Out: the set of prefixes advertised to one peer ----
 *
 * Only membership is ever asked ("was this prefix sent to the peer?"), with
 * the prefix and its RIB route at hand. The first SPEAKER_MARK_BITS
 * established peers get one bit of the routes' marks (rib.h): membership is
 * then a bit in a route the speaker is already reading, no memory and no
 * cache miss of its own. Peers beyond them use a set of 92-bit fingerprints
 * of each prefix (two independent 64-bit hashes, one truncated to 28 bits)
 * and its family in 12 bytes, not the 56-byte key: 1M advertised routes
 * cost ~24 MiB per such peer. Two distinct prefixes share a fingerprint with
 * probability about n^2 / 2^93 (1e-16 for a million routes). */

#define SPEAKER_MARK_BITS 16

struct adj_slot {
    uint64_t h1;  /* 0: empty */
    uint32_t h2;  /* family << 28 | 28 bits of the second hash */
} __attribute__((packed));

struct adj_set {
    struct adj_slot *v;
    size_t cap; /* power of two */
    size_t len;
};

static void prefix_fp(const struct rib_prefix *p, uint64_t *h1, uint32_t *h2)
{
    /* word at a time: the prefix is zero-filled (padding included) */
    uint64_t a = 0x9e3779b97f4a7c15ull, c = 0xc2b2ae3d27d4eb4full;
    const uint8_t *b = (const uint8_t *)p;
    size_t i = 0;
    for (; i + 8 <= sizeof *p; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        a = (a ^ w) * 0xff51afd7ed558ccdull;
        a ^= a >> 32;
        c = (c ^ w) * 0xc4ceb9fe1a85ec53ull;
        c ^= c >> 29;
    }
    for (; i < sizeof *p; i++) {
        a = (a ^ b[i]) * 0xff51afd7ed558ccdull;
        c = (c ^ b[i]) * 0xc4ceb9fe1a85ec53ull;
    }
    a ^= a >> 33;
    a *= 0xbf58476d1ce4e5b9ull;
    a ^= a >> 31;
    c ^= c >> 31;
    *h1 = a ? a : 1;
    *h2 = ((uint32_t)p->family << 28) | (uint32_t)(c & 0x0FFFFFFFu);
}

static struct adj_slot *adj_find(struct adj_set *s, uint64_t h1, uint32_t h2)
{
    if (s->cap == 0) {
        return NULL;
    }
    for (size_t i = (size_t)h1 & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        struct adj_slot *e = &s->v[i];
        if (e->h1 == 0 || (e->h1 == h1 && e->h2 == h2)) {
            return e;
        }
    }
}

static int adj_grow(struct adj_set *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    struct adj_slot *v = calloc(cap, sizeof *v);
    if (!v) {
        return RIB_ERR_NOMEM;
    }
    struct adj_set n = {.v = v, .cap = cap, .len = 0};
    for (size_t i = 0; i < s->cap; i++) {
        if (s->v[i].h1) {
            *adj_find(&n, s->v[i].h1, s->v[i].h2) = s->v[i];
            n.len++;
        }
    }
    free(s->v);
    *s = n;
    return 0;
}

/* Returns true when 'p' was not in the set (and adds it). */
static bool adj_add(struct adj_set *s, const struct rib_prefix *p)
{
    if ((s->len + 1) * 8 > s->cap * 7 && adj_grow(s) != 0) {
        return true; /* cannot track it: advertise anyway */
    }
    uint64_t h1;
    uint32_t h2;
    prefix_fp(p, &h1, &h2);
    struct adj_slot *e = adj_find(s, h1, h2);
    if (e->h1) {
        return false;
    }
    e->h1 = h1;
    e->h2 = h2;
    s->len++;
    return true;
}

/* Removes slot 'i', keeping probe chains intact (backward shift). */
static void adj_remove_at(struct adj_set *s, size_t i)
{
    for (;;) {
        s->v[i].h1 = 0;
        size_t j = i;
        for (;;) {
            j = (j + 1) & (s->cap - 1);
            if (s->v[j].h1 == 0) {
                s->len--;
                return;
            }
            size_t home = (size_t)s->v[j].h1 & (s->cap - 1);
            if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
                break;
            }
        }
        s->v[i] = s->v[j];
        i = j;
    }
}

/* Returns true when 'p' was in the set (and removes it). */
static bool adj_del(struct adj_set *s, const struct rib_prefix *p)
{
    uint64_t h1;
    uint32_t h2;
    prefix_fp(p, &h1, &h2);
    struct adj_slot *e = adj_find(s, h1, h2);
    if (!e || !e->h1) {
        return false;
    }
    adj_remove_at(s, (size_t)(e - s->v));
    return true;
}

/* Forgets every prefix of RIB family 'af'. */
static void adj_clear_family(struct adj_set *s, enum rib_family af)
{
    for (size_t i = 0; i < s->cap;) {
        if (s->v[i].h1 && (s->v[i].h2 >> 28) == (uint32_t)af) {
            adj_remove_at(s, i); /* slot i now holds a shifted entry: look again */
        } else {
            i++;
        }
    }
}

/* ---- peers ---- */

struct pend {
    struct rib_prefix p;
    const struct rib_attr *attr; /* referenced; NULL: withdraw */
    struct rib_labels labels;    /* the path's */
    uint32_t originator;         /* router id of the path's source (reflection) */
    bool reflect;
};

struct conn;

/* Route targets a peer asked for through RT constraint (RFC 4684). */
struct rt_member {
    struct rib_rt rt;
    uint32_t count;
};

struct peer {
    struct speaker *sp;
    struct speaker_peer_config cfg;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    bool ebgp;
    struct bgp_fsm *fsm;
    struct conn *conn;
    uv_timer_t timer;
    uv_timer_t gr_timer;
    uint32_t source;
    bool up;
    struct bgp_fsm_caps caps;
    uint32_t eor_wait;     /* families whose End-of-RIB is awaited for the sweep */
    uint32_t eor_due;      /* families whose End-of-RIB we still send */
    int gr_phase;          /* 0 none, 1 stale (restart timer), 2 LLGR */
    uint32_t llgr_secs;
    struct rib_addr self;  /* local address of the session */
    uint16_t mark;         /* the peer's bit in the routes' marks; 0: 'out' holds the Adj-RIB-Out */
    size_t advertised;     /* prefixes in the Adj-RIB-Out */
    struct adj_set out;
    struct pend *pend;
    size_t pend_len, pend_cap;
    bool rewalk;           /* RT membership changed: recompute the Adj-RIB-Out */
    struct rt_member *rts;
    size_t rts_len, rts_cap;
    uint32_t rt_default;   /* default RTC routes received: everything wanted */
    bool rtc_eor;          /* RTC End-of-RIB received (VPN dump may start) */
    bool vpn_dumped;
    uint64_t up_since_ms;
    uint64_t msgs_in, msgs_out, updates_in, updates_out;
    uint32_t flaps;
    char last_error[160];
    bool removed;
    int handles_open;
    bool corked;           /* io_send() gathers into 'obuf' (peer_send_pending) */
    struct buf obuf;
    struct peer *next;
};

struct conn {
    uv_tcp_t tcp;
    struct peer *peer; /* NULL once detached */
    bool connected;
    bool inbound;
    bool paused;       /* reading stopped until the next flush (READ_BUDGET) */
};

struct speaker {
    uv_loop_t *loop;
    struct speaker_config cfg;
    struct rib *rib;
    struct rib_instance *master;
    uv_tcp_t listener;
    bool listening;
    uv_idle_t flush;
    bool in_flush;         /* inside flush_cb's rib_flush() */
    bool closing;
    int handles;
    struct peer *peers;
    uint32_t local_source;
    uint16_t marks_used;   /* route mark bits held by established peers */
    size_t read_since_flush;
    struct buf scratch;
};

static void peer_arm_timer(struct peer *p);
static void speaker_schedule(struct speaker *sp);

static uint64_t now_ms(struct speaker *sp)
{
    return uv_now(sp->loop);
}

static bool peer_wants(const struct peer *p, enum bgp_family f)
{
    return p->up && (p->caps.families & BGP_FAM_BIT(f)) != 0;
}

static void pend_clear(struct speaker *sp, struct peer *p)
{
    for (size_t i = 0; i < p->pend_len; i++) {
        rib_attr_unref(sp->rib, p->pend[i].attr);
    }
    p->pend_len = 0;
}

static int pend_push(struct peer *p, const struct rib_prefix *pfx, const struct rib_path *path, bool reflect,
                     uint32_t originator)
{
    if (p->pend_len == p->pend_cap) {
        size_t cap = p->pend_cap ? p->pend_cap * 2 : 256;
        struct pend *v = realloc(p->pend, cap * sizeof *v);
        if (!v) {
            return RIB_ERR_NOMEM;
        }
        p->pend = v;
        p->pend_cap = cap;
    }
    struct pend *e = &p->pend[p->pend_len++];
    e->p = *pfx;
    e->attr = path ? rib_attr_ref(path->attr) : NULL;
    memset(&e->labels, 0, sizeof e->labels);
    if (path) {
        e->labels.label = path->label;
        e->labels.l3_label = path->l3_label;
        e->labels.vni = path->vni;
    }
    e->reflect = reflect;
    e->originator = originator;
    return 0;
}

static struct peer *peer_by_source(struct speaker *sp, uint32_t source)
{
    for (struct peer *p = sp->peers; p; p = p->next) {
        if (p->source == source) {
            return p;
        }
    }
    return NULL;
}

/* RT constraint: does peer 'p' want a VPN route carrying 'a''s targets? */
static bool rtc_wants(const struct peer *p, const struct rib_attr *a)
{
    if (!(p->caps.families & BGP_FAM_BIT(BGP_FAM_RTC)) || p->rt_default > 0) {
        return true;
    }
    for (size_t i = 0; i < a->exts_len; i++) {
        if (!rib_ext_is_rt(&a->exts[i])) {
            continue;
        }
        for (size_t k = 0; k < p->rts_len; k++) {
            if (memcmp(p->rts[k].rt.b, a->exts[i].b, 8) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* Decides whether best path 'b' of a prefix of 'family' goes to 'p', and how. */
static bool export_ok(struct speaker *sp, struct peer *p, enum bgp_family family, const struct rib_path *b,
                      bool *reflect, uint32_t *originator)
{
    *reflect = false;
    *originator = 0;
    if (b->source == p->source) {
        return false;
    }
    if ((b->flags & RIB_PATH_LLGR_STALE) && !p->caps.peer_llgr) {
        return false;
    }
    const struct rib_source_info *src = rib_source_get(sp->rib, b->source);
    if (!src) {
        return false;
    }
    if (src->type == RIB_SRC_IBGP && !p->ebgp) {
        struct peer *from = peer_by_source(sp, b->source);
        bool from_client = from && from->cfg.rr_client;
        if (!from_client && !p->cfg.rr_client) {
            return false;
        }
        if ((b->attr->flags & RIB_ATTR_HAS_ORIGINATOR) && b->attr->originator_id == p->caps.peer_id) {
            return false; /* RFC 4456 §8: never back to the originator */
        }
        *reflect = true;
        *originator = src->router_id;
    }
    if ((SPEAKER_VPN_FAMILIES & BGP_FAM_BIT(family)) && !rtc_wants(p, b->attr)) {
        return false;
    }
    if ((SPEAKER_VPN_FAMILIES & BGP_FAM_BIT(family)) && (p->caps.families & BGP_FAM_BIT(BGP_FAM_RTC)) &&
        !p->rtc_eor) {
        return false; /* RFC 4684 §6: wait for the peer's RT membership */
    }
    return true;
}

/* Records 'pfx' (route marks 'marks') as advertised to 'p'; true when it
 * was not. */
static bool out_add(struct peer *p, const struct rib_prefix *pfx, uint16_t *marks)
{
    if (p->mark) {
        if (*marks & p->mark) {
            return false;
        }
        *marks |= p->mark;
    } else if (!adj_add(&p->out, pfx)) {
        return false;
    }
    p->advertised++;
    return true;
}

/* Forgets 'pfx' in the Adj-RIB-Out of 'p'; true when it was there. */
static bool out_del(struct peer *p, const struct rib_prefix *pfx, uint16_t *marks)
{
    if (p->mark) {
        if (!(*marks & p->mark)) {
            return false;
        }
        *marks &= (uint16_t)~p->mark;
    } else if (!adj_del(&p->out, pfx)) {
        return false;
    }
    p->advertised--;
    return true;
}

/* Queues what 'p' must learn about prefix 'pfx' whose best set is 'best'.
 * 'changed': the best path changed, so an advertised prefix is sent again;
 * otherwise (a table walk) only prefixes not yet advertised are. */
static void peer_consider(struct speaker *sp, struct peer *p, enum bgp_family family, const struct rib_prefix *pfx,
                          const struct rib_path *best, size_t nbest, bool changed, uint16_t *marks)
{
    bool reflect = false;
    uint32_t originator = 0;
    if (nbest > 0 && export_ok(sp, p, family, &best[0], &reflect, &originator)) {
        if (out_add(p, pfx, marks) || changed) {
            (void)pend_push(p, pfx, &best[0], reflect, originator);
        }
    } else if (out_del(p, pfx, marks)) {
        (void)pend_push(p, pfx, NULL, false, 0);
    }
}

static void on_best_change(void *ctx, struct rib_table *t, const struct rib_prefix *pfx, const struct rib_path *best,
                           size_t nbest, uint16_t *marks)
{
    struct speaker *sp = ctx;
    int f = bgp_conv_bgp_family(rib_table_family(t));
    if (f < 0) {
        return;
    }
    if (!sp->in_flush) {
        speaker_schedule(sp); /* another user of the RIB flushed it: send what changed */
    }
    bool vpn = (SPEAKER_VPN_FAMILIES & BGP_FAM_BIT(f)) != 0;
    for (struct peer *p = sp->peers; p; p = p->next) {
        /* a peer due for a rewalk gets a VPN prefix then, unless it is gone
         * (the walk only sees prefixes that have paths); the rewalk covers
         * only the VPN families, so every other family (RT membership
         * itself) goes now */
        if (peer_wants(p, (enum bgp_family)f) && (!vpn || !p->rewalk || nbest == 0)) {
            peer_consider(sp, p, (enum bgp_family)f, pfx, best, nbest, true, marks);
        }
    }
}

struct walk_ctx {
    struct speaker *sp;
    struct peer *p;
    enum bgp_family family;
};

static int walk_one(void *ctx, const struct rib_prefix *pfx, const struct rib_path *paths, size_t count, size_t nbest,
                    uint16_t *marks)
{
    (void)count;
    struct walk_ctx *w = ctx;
    peer_consider(w->sp, w->p, w->family, pfx, paths, nbest, false, marks);
    return 0;
}

static struct rib_table *family_table(struct speaker *sp, enum bgp_family f)
{
    int af = bgp_conv_rib_family(f);
    if (af < 0) {
        return NULL;
    }
    if (af == RIB_AF_INET || af == RIB_AF_INET6) {
        return rib_instance_table(sp->master, (enum rib_family)af);
    }
    return rib_vpn_table(sp->rib, (enum rib_family)af);
}

/* Empties the Adj-RIB-Out of 'p' for 'family' (route refresh: everything
 * is sent again). */
static void out_clear_family(struct speaker *sp, struct peer *p, enum bgp_family family)
{
    int af = bgp_conv_rib_family(family);
    if (af < 0) {
        return;
    }
    if (p->mark) {
        struct rib_table *t = family_table(sp, family);
        size_t n = t ? rib_table_marks_clear(t, p->mark) : 0;
        p->advertised -= n < p->advertised ? n : p->advertised;
    } else {
        size_t before = p->out.len;
        adj_clear_family(&p->out, (enum rib_family)af);
        p->advertised -= before - p->out.len;
    }
}

/* Empties the Adj-RIB-Out of 'p' (session down) and gives its mark bit back. */
static void out_release(struct speaker *sp, struct peer *p)
{
    if (p->mark) {
        for (int f = 0; f < BGP_FAM_COUNT; f++) {
            struct rib_table *t = family_table(sp, (enum bgp_family)f);
            if (t) { /* every family: one may have been disabled (RFC 7606) */
                (void)rib_table_marks_clear(t, p->mark);
            }
        }
        sp->marks_used &= (uint16_t)~p->mark;
        p->mark = 0;
    }
    free(p->out.v);
    memset(&p->out, 0, sizeof p->out);
    p->advertised = 0;
}

/* Advertises everything 'p' should have of 'family' (initial dump, route
 * refresh, RT membership change); withdraws what it should no longer have. */
static void peer_dump(struct speaker *sp, struct peer *p, enum bgp_family family)
{
    struct rib_table *t = family_table(sp, family);
    if (!t) {
        return;
    }
    struct walk_ctx w = {.sp = sp, .p = p, .family = family};
    if (rib_table_walk_marks(t, walk_one, &w) != 0) {
        log_warn("bgp", "table walk failed", "peer=%s family=%s", p->cfg.name, bgp_family_name(family));
    }
}

/* After an RT membership change: every VPN route is considered again, so
 * what the peer no longer wants is withdrawn (it is in the Adj-RIB-Out) and
 * what it now wants is advertised. */
static void peer_rewalk(struct speaker *sp, struct peer *p)
{
    p->rewalk = false;
    for (int f = 0; f < BGP_FAM_COUNT; f++) {
        if ((SPEAKER_VPN_FAMILIES & BGP_FAM_BIT(f)) && peer_wants(p, (enum bgp_family)f)) {
            peer_dump(sp, p, (enum bgp_family)f);
        }
    }
}

/* ---- sending ---- */

/* True when 'a' and 'b' encode to the same path attributes: equal but for
 * the labels and VNI, which travel in each NLRI. Routes that differ only in
 * their label (the common case: one label per prefix) share one UPDATE. */
static bool same_update_attrs(const struct rib_attr *a, const struct rib_attr *b)
{
    if (a == b) {
        return true;
    }
    if (!a || !b) {
        return false;
    }
    const uint16_t labels = RIB_ATTR_HAS_LABEL | RIB_ATTR_HAS_L3_LABEL | RIB_ATTR_HAS_VNI;
    if ((a->flags & ~labels) != (b->flags & ~labels) || a->origin != b->origin || a->med != b->med ||
        a->local_pref != b->local_pref || memcmp(&a->nexthop, &b->nexthop, sizeof a->nexthop) != 0 ||
        a->as_path_len != b->as_path_len || a->comms_len != b->comms_len || a->exts_len != b->exts_len ||
        a->originator_id != b->originator_id || a->cluster_len != b->cluster_len || a->seq != b->seq ||
        a->sgids_len != b->sgids_len) {
        return false;
    }
    for (size_t i = 0; i < a->as_path_len; i++) {
        if (a->as_path[i].type != b->as_path[i].type || a->as_path[i].len != b->as_path[i].len ||
            memcmp(a->as_path[i].asns, b->as_path[i].asns, a->as_path[i].len * sizeof(uint32_t)) != 0) {
            return false;
        }
    }
    return (a->comms_len == 0 || memcmp(a->comms, b->comms, a->comms_len * sizeof(uint32_t)) == 0) &&
           (a->exts_len == 0 || memcmp(a->exts, b->exts, a->exts_len * sizeof(struct rib_ext)) == 0) &&
           (a->cluster_len == 0 || memcmp(a->cluster_list, b->cluster_list, a->cluster_len * sizeof(uint32_t)) == 0) &&
           (a->sgids_len == 0 || memcmp(a->sgids, b->sgids, a->sgids_len * sizeof(uint32_t)) == 0) &&
           ((a->vn == NULL && b->vn == NULL) || (a->vn && b->vn && strcmp(a->vn, b->vn) == 0));
}

static int send_group(struct speaker *sp, struct peer *p, enum bgp_family f, const struct pend *first,
                      struct bgp_nlri *nl, size_t n, bool withdraw);
static void peer_cork(struct peer *p);
static void peer_uncork(struct peer *p);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

/* Encoded size of 'n' (an upper bound for EVPN), for packing UPDATEs. */
static size_t nlri_wire_size(const struct bgp_nlri *n)
{
    size_t prefix = ((size_t)n->plen + 7) / 8;
    switch ((enum bgp_family)n->family) {
    case BGP_FAM_IPV4_UNICAST:
    case BGP_FAM_IPV6_UNICAST:
        return 1 + prefix;
    case BGP_FAM_VPNV4:
    case BGP_FAM_VPNV6:
        return 1 + 3 * (size_t)(n->label_count ? n->label_count : 1) + 8 + prefix;
    case BGP_FAM_RTC:
        return 1 + 12;
    case BGP_FAM_EVPN:
    case BGP_FAM_COUNT:
        break;
    }
    return 2 + 8 + 10 + 4 + 1 + 6 + 1 + 16 + 1 + 16 + 6; /* EVPN type 2/5 at most */
}

/* Sends the queued changes of 'p', packing NLRI that share an attribute set
 * (same interned pointer, same reflection) and family into one UPDATE. */
static void peer_send_pending(struct speaker *sp, struct peer *p)
{
    if (!p->up || !p->fsm) {
        pend_clear(sp, p);
        return;
    }
    struct bgp_nlri *nl = malloc(PACK_MAX_NLRI * sizeof *nl);
    if (!nl) {
        pend_clear(sp, p);
        return;
    }
    peer_cork(p);
    size_t i = 0;
    while (i < p->pend_len) {
        const struct pend *first = &p->pend[i];
        int f = bgp_conv_bgp_family(first->p.family);
        size_t n = 0, j = i, room = PACK_NLRI_ROOM;
        while (j < p->pend_len && n < PACK_MAX_NLRI) {
            const struct pend *e = &p->pend[j];
            if (!same_update_attrs(e->attr, first->attr) || e->reflect != first->reflect ||
                e->originator != first->originator || e->p.family != first->p.family) {
                break;
            }
            if (bgp_conv_nlri(&e->p, e->attr, e->attr ? &e->labels : NULL, &nl[n]) == 0) {
                size_t size = nlri_wire_size(&nl[n]);
                if (size > room && n > 0) {
                    break; /* the next UPDATE starts with this one */
                }
                room -= size < room ? size : room;
                n++;
            }
            j++;
        }
        if (f >= 0 && n > 0 && p->up) {
            (void)send_group(sp, p, (enum bgp_family)f, first, nl, n, first->attr == NULL);
        }
        i = j;
    }
    free(nl);
    pend_clear(sp, p);
    for (int f = 0; f < BGP_FAM_COUNT && p->up; f++) {
        if (p->eor_due & BGP_FAM_BIT(f)) {
            if ((SPEAKER_VPN_FAMILIES & BGP_FAM_BIT(f)) && (p->caps.families & BGP_FAM_BIT(BGP_FAM_RTC)) &&
                !p->rtc_eor) {
                continue; /* our VPN dump has not happened yet */
            }
            p->eor_due &= ~BGP_FAM_BIT(f);
            if (bgp_fsm_send_eor(p->fsm, now_ms(sp), (enum bgp_family)f) == 0) {
                p->msgs_out++;
            }
        }
    }
    peer_uncork(p);
    peer_arm_timer(p); /* a failed send may have ended the session */
}

static int send_group(struct speaker *sp, struct peer *p, enum bgp_family f, const struct pend *first,
                      struct bgp_nlri *nl, size_t n, bool withdraw)
{
    struct bgp_update u;
    memset(&u, 0, sizeof u);
    static struct bgp_conv_out out;
    if (withdraw) {
        if (f == BGP_FAM_IPV4_UNICAST) {
            u.withdrawn.v = nl;
            u.withdrawn.count = n;
        } else {
            u.has_mp_unreach = true;
            u.mp_unreach.family = (uint8_t)f;
            u.mp_unreach.afi = bgp_family_afi(f);
            u.mp_unreach.safi = bgp_family_safi(f);
            u.mp_unreach.nlri.v = nl;
            u.mp_unreach.nlri.count = n;
        }
    } else {
        struct bgp_conv_export x = {
            .ebgp = p->ebgp,
            .local_as = sp->cfg.local_as,
            .reflect = first->reflect,
            .originator_id = first->originator,
            .cluster_id = sp->cfg.cluster_id,
            .next_hop_self = p->ebgp,
            .self = p->self,
        };
        struct bgp_mp mp;
        int rc = bgp_conv_export_attr(first->attr, f, &x, &out, &mp);
        if (rc != 0) {
            log_warn("bgp", "route not exportable", "peer=%s err=\"%s\"", p->cfg.name, strata_strerror(rc));
            return rc;
        }
        u.attrs = out.attrs;
        if (f == BGP_FAM_IPV4_UNICAST) {
            u.nlri.v = nl;
            u.nlri.count = n;
        } else {
            u.has_mp_reach = true;
            u.mp_reach = mp;
            u.mp_reach.nlri.v = nl;
            u.mp_reach.nlri.count = n;
        }
    }
    int rc = bgp_fsm_send_update(p->fsm, now_ms(sp), &u);
    if (rc == BGP_ERR_TOO_BIG && n > 1) {
        size_t half = n / 2;
        rc = send_group(sp, p, f, first, nl, half, withdraw);
        if (rc == 0) {
            rc = send_group(sp, p, f, first, nl + half, n - half, withdraw);
        }
        return rc;
    }
    if (rc == 0) {
        p->msgs_out++;
        p->updates_out++;
    } else {
        log_warn("bgp", "UPDATE not sent", "peer=%s err=\"%s\"", p->cfg.name, strata_strerror(rc));
    }
    return rc;
}

static void flush_cb(uv_idle_t *h)
{
    struct speaker *sp = h->data;
    uv_idle_stop(h);
    sp->in_flush = true;
    (void)rib_flush(sp->rib);
    sp->in_flush = false;
    for (struct peer *p = sp->peers; p; p = p->next) {
        if (p->rewalk && p->up) {
            peer_rewalk(sp, p);
        }
        if (p->up && !p->vpn_dumped && (!(p->caps.families & BGP_FAM_BIT(BGP_FAM_RTC)) || p->rtc_eor)) {
            p->vpn_dumped = true;
            for (int f = 0; f < BGP_FAM_COUNT; f++) {
                if ((SPEAKER_VPN_FAMILIES & BGP_FAM_BIT(f)) && peer_wants(p, (enum bgp_family)f)) {
                    peer_dump(sp, p, (enum bgp_family)f);
                }
            }
        }
        if (p->pend_len > 0 || p->eor_due) {
            peer_send_pending(sp, p);
        }
    }
    sp->read_since_flush = 0;
    for (struct peer *p = sp->peers; p; p = p->next) {
        struct conn *c = p->conn;
        if (c && c->paused && !uv_is_closing((uv_handle_t *)&c->tcp)) {
            c->paused = false;
            uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
        }
    }
}

static void speaker_schedule(struct speaker *sp)
{
    if (!sp->closing) {
        uv_idle_start(&sp->flush, flush_cb);
    }
}

void speaker_kick(struct speaker *sp)
{
    speaker_schedule(sp);
}

/* ---- received routes ---- */

static void rtc_update(struct peer *p, const struct rib_prefix *pfx, bool add)
{
    if (pfx->plen == 0) {
        p->rt_default = add ? p->rt_default + 1 : (p->rt_default ? p->rt_default - 1 : 0);
        p->rewalk = true;
        return;
    }
    for (size_t i = 0; i < p->rts_len; i++) {
        if (memcmp(p->rts[i].rt.b, pfx->rt.b, 8) == 0) {
            if (add) {
                p->rts[i].count++;
            } else if (--p->rts[i].count == 0) {
                p->rts[i] = p->rts[--p->rts_len];
                p->rewalk = true;
            }
            return;
        }
    }
    if (!add) {
        return;
    }
    if (p->rts_len == p->rts_cap) {
        size_t cap = p->rts_cap ? p->rts_cap * 2 : 16;
        struct rt_member *v = realloc(p->rts, cap * sizeof *v);
        if (!v) {
            return;
        }
        p->rts = v;
        p->rts_cap = cap;
    }
    p->rts[p->rts_len].rt = pfx->rt;
    p->rts[p->rts_len].count = 1;
    p->rts_len++;
    p->rewalk = true;
}

static void withdraw_list(struct speaker *sp, struct peer *p, const struct bgp_nlri_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        struct rib_prefix pfx;
        struct rib_table *t;
        if (bgp_conv_prefix(&l->v[i], &pfx) != 0 || !(t = family_table(sp, (enum bgp_family)l->v[i].family))) {
            continue;
        }
        if (rib_path_del(t, &pfx, p->source, 0) == 0) {
            if (pfx.family == RIB_AF_RTARGET) {
                rtc_update(p, &pfx, false);
            }
        }
    }
}

static void add_list(struct speaker *sp, struct peer *p, const struct bgp_update *u, const struct bgp_mp *mp,
                     const struct bgp_nlri_list *l)
{
    static struct bgp_conv_attr ca;
    int rc = bgp_conv_attr(u, mp, p->ebgp, &ca);
    if (rc != 0) {
        log_warn("bgp", "UPDATE attributes not usable; treated as withdraw", "peer=%s err=\"%s\"", p->cfg.name,
                 strata_strerror(rc));
        withdraw_list(sp, p, l);
        return;
    }
    const struct rib_attr *a = NULL;
    uint16_t a_flags = 0;
    for (size_t i = 0; i < l->count; i++) {
        struct rib_prefix pfx;
        struct rib_table *t;
        if (i + NLRI_PREFETCH < l->count) { /* overlap the RIB's cache misses */
            const struct bgp_nlri *ahead = &l->v[i + NLRI_PREFETCH];
            if (bgp_conv_prefix(ahead, &pfx) == 0 && (t = family_table(sp, (enum bgp_family)ahead->family))) {
                rib_table_prefetch(t, &pfx);
            }
        }
        if (bgp_conv_prefix(&l->v[i], &pfx) != 0 || !(t = family_table(sp, (enum bgp_family)l->v[i].family))) {
            continue;
        }
        struct rib_labels lb;
        bgp_conv_attr_labels(&ca, &l->v[i], &lb);
        /* one interned set per UPDATE (per label layout): labels live in paths */
        if (!a || ca.a.flags != a_flags) {
            rib_attr_unref(sp->rib, a);
            a = NULL;
            if (rib_attr_intern(sp->rib, &ca.a, &a) != 0) {
                continue;
            }
            a_flags = ca.a.flags;
        }
        bool existed = false;
        if (pfx.family == RIB_AF_RTARGET) { /* RT membership counts each route once */
            const struct rib_path *paths;
            size_t count, nbest;
            if (rib_table_lookup(t, &pfx, &paths, &count, &nbest) == 0) {
                for (size_t k = 0; k < count; k++) {
                    existed |= paths[k].source == p->source &&
                               !(paths[k].flags & (RIB_PATH_REPLICATED | RIB_PATH_LEAKED));
                }
            }
        }
        if (rib_path_add_labels(t, &pfx, p->source, 0, a, 0, &lb) == 0 && pfx.family == RIB_AF_RTARGET && !existed) {
            rtc_update(p, &pfx, true);
        }
    }
    rib_attr_unref(sp->rib, a);
}

/* ---- FSM callbacks ---- */

static int io_send(void *ctx, const uint8_t *data, size_t size);
static void io_connect(void *ctx);
static void io_close(void *ctx);

static void io_established(void *ctx, const struct bgp_fsm_caps *caps)
{
    struct peer *p = ctx;
    struct speaker *sp = p->sp;
    p->caps = *caps;
    p->up = true;
    p->up_since_ms = now_ms(sp);
    p->rtc_eor = false;
    p->vpn_dumped = false;
    p->rt_default = 0;
    p->rts_len = 0;
    for (int b = 0; b < SPEAKER_MARK_BITS && !p->mark; b++) {
        if (!(sp->marks_used & (1u << b))) {
            p->mark = (uint16_t)(1u << b);
            sp->marks_used |= p->mark;
        }
    }
    /* the local address of this session, for next-hop-self */
    struct sockaddr_storage ss;
    int len = sizeof ss;
    memset(&p->self, 0, sizeof p->self);
    if (p->conn && uv_tcp_getsockname(&p->conn->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            p->self.af = 4;
            memcpy(p->self.b, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        } else if (ss.ss_family == AF_INET6) {
            p->self.af = 6;
            memcpy(p->self.b, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        }
    }
    if (p->gr_phase) {
        /* stale paths wait for End-of-RIB of every family negotiated now;
         * families the peer no longer preserves are flushed now. */
        p->eor_wait = caps->families;
        uv_timer_stop(&p->gr_timer);
        if ((caps->peer_gr_forwarding & caps->families) != caps->families || !caps->peer_gr) {
            int n = rib_source_sweep(sp->rib, p->source);
            log_info("bgp", "peer did not preserve forwarding; stale paths flushed", "peer=%s paths=%d",
                     p->cfg.name, n);
            p->gr_phase = 0;
            p->eor_wait = 0;
        }
    }
    p->eor_due = caps->families;
    log_info("bgp", "session established", "peer=%s as=%u id=%08x families=0x%x hold=%u", p->cfg.name,
             caps->peer_as, caps->peer_id, caps->families, caps->hold_time);
    /* non-VPN families dump now; VPN families once RT membership is known */
    for (int f = 0; f < BGP_FAM_COUNT; f++) {
        if (!(SPEAKER_VPN_FAMILIES & BGP_FAM_BIT(f)) && peer_wants(p, (enum bgp_family)f)) {
            peer_dump(sp, p, (enum bgp_family)f);
        }
    }
    if (!(caps->families & BGP_FAM_BIT(BGP_FAM_RTC))) {
        p->rtc_eor = true;
    }
    speaker_schedule(sp);
}

static void gr_timer_cb(uv_timer_t *t)
{
    struct peer *p = t->data;
    struct speaker *sp = p->sp;
    if (p->gr_phase == 1 && p->llgr_secs > 0) {
        int n = rib_source_mark_llgr(sp->rib, p->source);
        log_info("bgp", "restart time passed; paths long-lived stale", "peer=%s paths=%d", p->cfg.name, n);
        p->gr_phase = 2;
        uv_timer_start(&p->gr_timer, gr_timer_cb, (uint64_t)p->llgr_secs * 1000, 0);
    } else {
        int n = rib_source_sweep(sp->rib, p->source);
        log_info("bgp", "stale paths swept (timer)", "peer=%s paths=%d", p->cfg.name, n);
        p->gr_phase = 0;
    }
    speaker_schedule(sp);
}

static void io_down(void *ctx, const struct bgp_fsm_down *d)
{
    struct peer *p = ctx;
    struct speaker *sp = p->sp;
    bool was_up = p->up;
    p->up = false;
    p->eor_due = 0;
    pend_clear(sp, p);
    out_release(sp, p);
    if (d->notification) {
        snprintf(p->last_error, sizeof p->last_error, "%s; NOTIFICATION %u/%u",
                 bgp_fsm_errmsg(p->fsm)[0] ? bgp_fsm_errmsg(p->fsm) : "session closed", d->notification->code,
                 d->notification->subcode);
    } else {
        snprintf(p->last_error, sizeof p->last_error, "%s",
                 bgp_fsm_errmsg(p->fsm)[0] ? bgp_fsm_errmsg(p->fsm) : "transport closed");
    }
    if (!was_up) {
        return;
    }
    p->flaps++;
    if (d->gr_stale && !p->removed) {
        int n = rib_source_mark_stale(sp->rib, p->source);
        p->gr_phase = 1;
        p->llgr_secs = 0;
        for (int f = 0; f < BGP_FAM_COUNT; f++) {
            if ((d->llgr_families & BGP_FAM_BIT(f)) && d->llgr_stale[f] > p->llgr_secs) {
                p->llgr_secs = d->llgr_stale[f];
            }
        }
        uv_timer_start(&p->gr_timer, gr_timer_cb, (uint64_t)d->restart_time * 1000, 0);
        log_info("bgp", "session down; peer's paths kept stale", "peer=%s paths=%d restart_s=%u llgr_s=%u",
                 p->cfg.name, n, d->restart_time, p->llgr_secs);
    } else {
        int n = rib_source_withdraw_all(sp->rib, p->source);
        log_info("bgp", "session down; peer's paths withdrawn", "peer=%s paths=%d reason=\"%s\"", p->cfg.name, n,
                 p->last_error);
    }
    speaker_schedule(sp);
}

static void io_update(void *ctx, const struct bgp_update *u)
{
    struct peer *p = ctx;
    struct speaker *sp = p->sp;
    p->msgs_in++;
    p->updates_in++;
    switch (u->action) {
    case BGP_UPDATE_OK:
    case BGP_UPDATE_ATTR_DISCARD:
        withdraw_list(sp, p, &u->withdrawn);
        if (u->has_mp_unreach) {
            withdraw_list(sp, p, &u->mp_unreach.nlri);
        }
        if (u->nlri.count > 0) {
            add_list(sp, p, u, NULL, &u->nlri);
        }
        if (u->has_mp_reach) {
            add_list(sp, p, u, &u->mp_reach, &u->mp_reach.nlri);
        }
        break;
    case BGP_UPDATE_TREAT_AS_WITHDRAW:
        withdraw_list(sp, p, &u->withdrawn);
        withdraw_list(sp, p, &u->nlri);
        if (u->has_mp_unreach) {
            withdraw_list(sp, p, &u->mp_unreach.nlri);
        }
        if (u->has_mp_reach) {
            withdraw_list(sp, p, &u->mp_reach.nlri);
        }
        log_warn("bgp", "malformed UPDATE treated as withdraw (RFC 7606)", "peer=%s", p->cfg.name);
        break;
    case BGP_UPDATE_AFI_SAFI_DISABLE: {
        int f = bgp_family_from_afi_safi(u->disable_afi, u->disable_safi);
        log_warn("bgp", "malformed UPDATE: family disabled for this session (RFC 7606)", "peer=%s afi=%u safi=%u",
                 p->cfg.name, u->disable_afi, u->disable_safi);
        if (f >= 0) {
            p->caps.families &= ~BGP_FAM_BIT(f);
        }
        /* The RIB keeps paths per source, not per family: drop the peer's
         * paths and let the remaining families be re-advertised. */
        int n = rib_source_withdraw_all(sp->rib, p->source);
        log_info("bgp", "peer's paths withdrawn; other families asked again", "peer=%s paths=%d", p->cfg.name, n);
        for (int g = 0; g < BGP_FAM_COUNT; g++) {
            if ((p->caps.families & BGP_FAM_BIT(g)) && p->caps.route_refresh &&
                bgp_fsm_send_route_refresh(p->fsm, now_ms(sp), (enum bgp_family)g) == 0) {
                p->msgs_out++;
            }
        }
        break;
    }
    case BGP_UPDATE_SESSION_RESET:
        break;
    }
    speaker_schedule(sp);
}

static void io_eor(void *ctx, enum bgp_family family)
{
    struct peer *p = ctx;
    struct speaker *sp = p->sp;
    p->msgs_in++;
    if (family == BGP_FAM_RTC && !p->rtc_eor) {
        p->rtc_eor = true;
    }
    if (p->gr_phase && (p->eor_wait & BGP_FAM_BIT(family))) {
        p->eor_wait &= ~BGP_FAM_BIT(family);
        if (p->eor_wait == 0) {
            int n = rib_source_sweep(sp->rib, p->source);
            log_info("bgp", "End-of-RIB from every family; stale paths swept", "peer=%s paths=%d", p->cfg.name, n);
            p->gr_phase = 0;
            uv_timer_stop(&p->gr_timer);
        }
    }
    speaker_schedule(sp);
}

static void io_route_refresh(void *ctx, enum bgp_family family)
{
    struct peer *p = ctx;
    struct speaker *sp = p->sp;
    p->msgs_in++;
    if (!peer_wants(p, family)) {
        return;
    }
    /* re-send everything of the family: forget what was sent */
    out_clear_family(sp, p, family);
    peer_dump(sp, p, family);
    p->eor_due |= BGP_FAM_BIT(family);
    speaker_schedule(sp);
}

/* ---- transport ---- */

static void conn_close_cb(uv_handle_t *h)
{
    struct conn *c = h->data;
    free(c);
}

static void conn_drop(struct conn *c)
{
    if (c->peer && c->peer->conn == c) {
        c->peer->conn = NULL;
    }
    c->peer = NULL;
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    static char buf[65536];
    b->base = buf;
    b->len = sizeof buf;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = s->data;
    struct peer *p = c->peer;
    if (!p) {
        return;
    }
    if (n > 0) {
        /* The FSM may close this connection (a NOTIFICATION, an error):
         * its timers (idle hold, connect retry) must be armed either way. */
        bgp_fsm_recv(p->fsm, now_ms(p->sp), (const uint8_t *)b->base, (size_t)n);
        peer_arm_timer(p);
        struct speaker *sp = p->sp;
        sp->read_since_flush += (size_t)n;
        if (sp->read_since_flush >= READ_BUDGET && p->conn == c && !uv_is_closing((uv_handle_t *)&c->tcp)) {
            uv_read_stop(s);
            c->paused = true;
            speaker_schedule(sp);
        }
    } else if (n < 0) {
        conn_drop(c);
        bgp_fsm_tcp_closed(p->fsm, now_ms(p->sp));
        peer_arm_timer(p);
    }
}

static void conn_start(struct peer *p, struct conn *c)
{
    c->connected = true;
    int one = 1;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int tos = 0xc0; /* network control (CS6), as routers mark BGP */
        (void)setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    }
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    bgp_fsm_tcp_connected(p->fsm, now_ms(p->sp));
    peer_arm_timer(p);
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    free(req);
    struct peer *p = c->peer;
    if (!p) {
        return;
    }
    if (status != 0) {
        snprintf(p->last_error, sizeof p->last_error, "connect: %s", uv_strerror(status));
        conn_drop(c);
        bgp_fsm_tcp_failed(p->fsm, now_ms(p->sp));
        peer_arm_timer(p);
        return;
    }
    conn_start(p, c);
}

/* TCP-MD5 (RFC 2385) for 'p' on socket 'fd'. */
static int set_md5(uv_os_fd_t fd, const struct peer *p)
{
    if (p->cfg.password[0] == '\0') {
        return 0;
    }
    struct tcp_md5sig sig;
    memset(&sig, 0, sizeof sig);
    memcpy(&sig.tcpm_addr, &p->addr, p->addr_len);
    size_t len = strlen(p->cfg.password);
    sig.tcpm_keylen = (uint16_t)len;
    memcpy(sig.tcpm_key, p->cfg.password, len);
    return setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) == 0 ? 0 : UV_EINVAL;
}

static int local_sockaddr(const struct speaker *sp, int family, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        return sp->cfg.listen[0] && inet_pton(AF_INET6, sp->cfg.listen, &a->sin6_addr) != 1 ? UV_EINVAL : 0;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    return sp->cfg.listen[0] && inet_pton(AF_INET, sp->cfg.listen, &a->sin_addr) != 1 ? UV_EINVAL : 0;
}

static void io_connect(void *ctx)
{
    struct peer *p = ctx;
    struct speaker *sp = p->sp;
    if (p->conn) {
        conn_drop(p->conn);
    }
    struct conn *c = calloc(1, sizeof *c);
    uv_connect_t *req = calloc(1, sizeof *req);
    if (!c || !req) {
        free(c);
        free(req);
        bgp_fsm_tcp_failed(p->fsm, now_ms(sp));
        return;
    }
    uv_tcp_init_ex(sp->loop, &c->tcp, p->addr.ss_family);
    c->tcp.data = c;
    c->peer = p;
    req->data = c;
    p->conn = c;
    struct sockaddr_storage local;
    uv_os_fd_t fd;
    int rc = 0;
    if (sp->cfg.listen[0]) {
        rc = local_sockaddr(sp, p->addr.ss_family, 0, &local);
        if (rc == 0) {
            rc = uv_tcp_bind(&c->tcp, (struct sockaddr *)&local, 0);
        }
    }
    if (rc == 0 && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
        rc = set_md5(fd, p);
    }
    if (rc == 0) {
        rc = uv_tcp_connect(req, &c->tcp, (struct sockaddr *)&p->addr, connect_cb);
    }
    if (rc != 0) {
        free(req);
        snprintf(p->last_error, sizeof p->last_error, "connect: %s", uv_strerror(rc));
        conn_drop(c);
        bgp_fsm_tcp_failed(p->fsm, now_ms(sp));
    }
}

static void io_close(void *ctx)
{
    struct peer *p = ctx;
    if (p->conn) {
        conn_drop(p->conn);
    }
}

struct wreq {
    uv_write_t req;
    uint8_t data[];
};

static void write_cb(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

/* Writes 'data' to the peer's connection now, queueing what the socket
 * does not take. */
static int conn_write(struct peer *p, const uint8_t *data, size_t size)
{
    if (!p->conn || !p->conn->connected) {
        return UV_ENOTCONN;
    }
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)size);
    int n = uv_try_write((uv_stream_t *)&p->conn->tcp, &b, 1);
    if (n == (int)size) {
        return 0;
    }
    if (n < 0 && n != UV_EAGAIN) {
        return n;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    struct wreq *w = malloc(sizeof *w + size - done);
    if (!w) {
        return UV_ENOMEM;
    }
    memcpy(w->data, data + done, size - done);
    b = uv_buf_init((char *)w->data, (unsigned)(size - done));
    int rc = uv_write(&w->req, (uv_stream_t *)&p->conn->tcp, &b, 1, write_cb);
    if (rc != 0) {
        free(w);
    }
    return rc;
}

static int io_send(void *ctx, const uint8_t *data, size_t size)
{
    struct peer *p = ctx;
    if (!p->corked) {
        return conn_write(p, data, size);
    }
    if (p->obuf.size + size > CORK_MAX) {
        peer_uncork(p);
        if (!p->conn) {
            return UV_ENOTCONN;
        }
        p->corked = true;
    }
    return buf_put(&p->obuf, data, size) == 0 ? 0 : conn_write(p, data, size);
}

/* From now on io_send() gathers messages: one write for many UPDATEs. */
static void peer_cork(struct peer *p)
{
    p->corked = true;
}

/* Writes what was gathered and stops gathering. A failed write ends the
 * transport as a failed read would. */
static void peer_uncork(struct peer *p)
{
    p->corked = false;
    if (p->obuf.size == 0) {
        return;
    }
    int rc = p->conn ? conn_write(p, p->obuf.data, p->obuf.size) : 0;
    buf_reset(&p->obuf);
    if (rc != 0 && p->conn) {
        snprintf(p->last_error, sizeof p->last_error, "write: %s", uv_strerror(rc));
        conn_drop(p->conn);
        bgp_fsm_tcp_closed(p->fsm, now_ms(p->sp));
    }
}

static void peer_timer_cb(uv_timer_t *t)
{
    struct peer *p = t->data;
    bgp_fsm_tick(p->fsm, now_ms(p->sp));
    peer_arm_timer(p);
}

static void peer_arm_timer(struct peer *p)
{
    if (p->removed) {
        return;
    }
    uint64_t d = bgp_fsm_next_deadline(p->fsm);
    if (d == UINT64_MAX) {
        uv_timer_stop(&p->timer);
        return;
    }
    uint64_t now = now_ms(p->sp);
    uv_timer_start(&p->timer, peer_timer_cb, d > now ? d - now : 0, 0);
}

static struct peer *peer_by_sockaddr(struct speaker *sp, const struct sockaddr_storage *ss)
{
    for (struct peer *p = sp->peers; p; p = p->next) {
        if (p->removed || p->addr.ss_family != ss->ss_family) {
            continue;
        }
        if (ss->ss_family == AF_INET &&
            memcmp(&((const struct sockaddr_in *)ss)->sin_addr, &((struct sockaddr_in *)&p->addr)->sin_addr, 4) == 0) {
            return p;
        }
        if (ss->ss_family == AF_INET6 &&
            memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, &((struct sockaddr_in6 *)&p->addr)->sin6_addr,
                   16) == 0) {
            return p;
        }
    }
    return NULL;
}

static uint32_t peer_addr_id(const struct peer *p)
{
    if (p->addr.ss_family == AF_INET) {
        return ntohl(((const struct sockaddr_in *)&p->addr)->sin_addr.s_addr);
    }
    return 0;
}

static void accept_cb(uv_stream_t *server, int status)
{
    struct speaker *sp = server->data;
    if (status != 0) {
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        return;
    }
    uv_tcp_init(sp->loop, &c->tcp);
    c->tcp.data = c;
    c->inbound = true;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    struct peer *p = NULL;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        p = peer_by_sockaddr(sp, &ss);
    }
    if (!p) {
        log_warn("bgp", "connection from an unknown address refused", NULL);
        uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
        return;
    }
    enum bgp_fsm_state st = bgp_fsm_state(p->fsm);
    bool adopt;
    if (st == BGP_ESTABLISHED) {
        adopt = false;
    } else if (st == BGP_IDLE) {
        /* A configured peer is always started: Idle is the second of idle
         * hold after a failed attempt. Refusing here made two ends whose
         * holds were out of phase refuse each other's attempts in turn
         * (each connected while the other was Idle) for tens of seconds.
         * Start now (Connect, whose own attempt is dropped below) and take
         * the peer's connection. */
        bgp_fsm_start(p->fsm, now_ms(sp));
        adopt = bgp_fsm_state(p->fsm) == BGP_CONNECT || bgp_fsm_state(p->fsm) == BGP_ACTIVE;
    } else if (st == BGP_OPENSENT || st == BGP_OPENCONFIRM) {
        /* §6.8: the connection opened by the higher BGP identifier wins. */
        const struct bgp_open *o = bgp_fsm_peer_open(p->fsm);
        uint32_t peer_id = o ? o->bgp_id : peer_addr_id(p);
        adopt = p->conn && !p->conn->inbound && peer_id > p->sp->cfg.router_id;
        if (adopt) {
            bgp_fsm_stop_with(p->fsm, now_ms(sp), BGP_CEASE_COLLISION);
            bgp_fsm_start(p->fsm, now_ms(sp));
        }
    } else if (st == BGP_CONNECT && p->conn && !p->conn->inbound && peer_addr_id(p) != 0) {
        /* Both sides connecting at once (a mesh configured at the same
         * moment): the same rule as above with the peer's address for its
         * identifier, so both ends keep the same connection. Dropping our
         * attempt unconditionally made both ends drop the connection the
         * other kept, go Idle together and collide again, for ever. */
        adopt = peer_addr_id(p) > sp->cfg.router_id;
    } else {
        adopt = true; /* Connect / Active: no transport open yet */
    }
    if (!adopt) {
        uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
        return;
    }
    if (p->conn) {
        conn_drop(p->conn);
    }
    c->peer = p;
    p->conn = c;
    conn_start(p, c);
}

/* ---- lifecycle ---- */

static const struct bgp_fsm_io peer_io = {
    .send = io_send,
    .connect = io_connect,
    .close = io_close,
    .established = io_established,
    .down = io_down,
    .update = io_update,
    .eor = io_eor,
    .route_refresh = io_route_refresh,
};

int speaker_peer_add(struct speaker *sp, const struct speaker_peer_config *pc)
{
    struct peer *p = calloc(1, sizeof *p);
    if (!p) {
        return RIB_ERR_NOMEM;
    }
    p->sp = sp;
    p->cfg = *pc;
    buf_init(&p->obuf, 0);
    if (!p->cfg.name[0]) {
        snprintf(p->cfg.name, sizeof p->cfg.name, "%s", pc->address);
    }
    if (!p->cfg.families) {
        p->cfg.families = SPEAKER_DEFAULT_FAMILIES;
    }
    uint16_t port = pc->port ? pc->port : BGP_PORT;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&p->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&p->addr;
    if (inet_pton(AF_INET, pc->address, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        p->addr_len = sizeof *a4;
    } else if (inet_pton(AF_INET6, pc->address, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        p->addr_len = sizeof *a6;
    } else {
        free(p);
        return LIB_EINVAL;
    }
    if (peer_by_sockaddr(sp, &p->addr)) {
        free(p);
        return LIB_EINVAL;
    }
    p->ebgp = pc->peer_as != sp->cfg.local_as;
    struct rib_source_info si = {
        .type = p->ebgp ? RIB_SRC_EBGP : RIB_SRC_IBGP,
        .peer_as = pc->peer_as,
        .name = p->cfg.name,
    };
    si.address.af = p->addr.ss_family == AF_INET ? 4 : 6;
    memcpy(si.address.b, p->addr.ss_family == AF_INET ? (void *)&a4->sin_addr : (void *)&a6->sin6_addr,
           si.address.af == 4 ? 4 : 16);
    si.router_id = peer_addr_id(p);
    int rc = rib_source_add(sp->rib, &si, &p->source);
    if (rc != 0) {
        free(p);
        return rc;
    }
    struct bgp_fsm_config fc = {
        .local_as = sp->cfg.local_as,
        .local_id = sp->cfg.router_id,
        .peer_as = pc->peer_as,
        .hold_time = pc->hold_time,
        .connect_retry = pc->connect_retry,
        .passive = pc->passive,
        .families = p->cfg.families,
        .gr = sp->cfg.gr,
        .gr_restarting = sp->cfg.gr_restarting,
        .gr_restart_time = sp->cfg.gr_restart_time,
        .gr_forwarding = sp->cfg.gr ? p->cfg.families : 0,
        .llgr = sp->cfg.llgr,
        .llgr_stale_time = sp->cfg.llgr_stale_time,
    };
    struct bgp_fsm_io io = peer_io;
    io.ctx = p;
    rc = bgp_fsm_create(&fc, &io, &p->fsm);
    if (rc != 0) {
        int del = rib_source_del(sp->rib, p->source);
        free(p);
        return del != 0 ? del : rc;
    }
    if (sp->listening && pc->password[0]) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&sp->listener, &fd) == 0 && set_md5(fd, p) != 0) {
            log_warn("bgp", "cannot set TCP-MD5 on the listening socket", "peer=%s", p->cfg.name);
        }
    }
    uv_timer_init(sp->loop, &p->timer);
    uv_timer_init(sp->loop, &p->gr_timer);
    p->timer.data = p;
    p->gr_timer.data = p;
    p->next = sp->peers;
    sp->peers = p;
    bgp_fsm_start(p->fsm, now_ms(sp));
    peer_arm_timer(p);
    log_info("bgp", "peer added", "peer=%s address=%s as=%u passive=%d", p->cfg.name, pc->address, pc->peer_as,
             pc->passive);
    return 0;
}

static void peer_handle_closed(uv_handle_t *h)
{
    struct peer *p = h->data;
    if (--p->handles_open == 0) {
        bgp_fsm_free(p->fsm);
        buf_destroy(&p->obuf);
        free(p->pend);
        free(p->rts);
        free(p->out.v);
        free(p);
    }
}

static void peer_destroy(struct speaker *sp, struct peer *p)
{
    p->removed = true;
    bgp_fsm_stop(p->fsm, now_ms(sp));
    if (p->mark) {
        out_release(sp, p); /* normally done by io_down() */
    }
    if (p->conn) {
        conn_drop(p->conn);
    }
    if (rib_source_del(sp->rib, p->source) != 0) {
        log_warn("bgp", "peer's RIB source already gone", "peer=%s", p->cfg.name);
    }
    pend_clear(sp, p);
    p->handles_open = 2;
    uv_close((uv_handle_t *)&p->timer, peer_handle_closed);
    uv_close((uv_handle_t *)&p->gr_timer, peer_handle_closed);
}

int speaker_peer_del(struct speaker *sp, const char *address)
{
    struct peer **pp = &sp->peers;
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->cfg.address, address) == 0) {
            struct peer *p = *pp;
            *pp = p->next;
            peer_destroy(sp, p);
            speaker_schedule(sp);
            return 0;
        }
    }
    return RIB_ERR_NOENT;
}

/* Same session parameters (the name aside); 'b' is normalised like
 * speaker_peer_add() does. */
static bool same_session(const struct speaker_peer_config *a, const struct speaker_peer_config *b)
{
    uint32_t bf = b->families ? b->families : SPEAKER_DEFAULT_FAMILIES;
    uint16_t ap = a->port ? a->port : BGP_PORT, bp = b->port ? b->port : BGP_PORT;
    return ap == bp && a->peer_as == b->peer_as && a->families == bf && a->passive == b->passive &&
           a->rr_client == b->rr_client && a->hold_time == b->hold_time && a->connect_retry == b->connect_retry &&
           strcmp(a->password, b->password) == 0;
}

int speaker_sync(struct speaker *sp, const struct speaker_peer_config *peers, size_t count)
{
    int touched = 0;
    /* removed or changed */
    struct peer **pp = &sp->peers;
    while (*pp) {
        struct peer *p = *pp;
        const struct speaker_peer_config *want = NULL;
        for (size_t i = 0; i < count && !want; i++) {
            if (strcmp(peers[i].address, p->cfg.address) == 0) {
                want = &peers[i];
            }
        }
        if (want && same_session(&p->cfg, want)) {
            if (want->name[0] && strcmp(want->name, p->cfg.name) != 0) {
                snprintf(p->cfg.name, sizeof p->cfg.name, "%s", want->name);
            }
            pp = &p->next;
            continue;
        }
        log_info("bgp", want ? "peer configuration changed; restarting its session" : "peer removed", "peer=%s",
                 p->cfg.name);
        *pp = p->next;
        peer_destroy(sp, p);
        touched += want == NULL; /* a changed one counts once, when re-added */
    }
    /* added (and the changed ones again) */
    for (size_t i = 0; i < count; i++) {
        bool have = false;
        for (struct peer *p = sp->peers; p && !have; p = p->next) {
            have = strcmp(p->cfg.address, peers[i].address) == 0;
        }
        if (have) {
            continue;
        }
        int rc = speaker_peer_add(sp, &peers[i]);
        if (rc != 0) {
            return rc;
        }
        touched++;
    }
    speaker_schedule(sp);
    return touched;
}

int speaker_create(uv_loop_t *loop, const struct speaker_config *cfg, struct speaker **out)
{
    if (cfg->router_id == 0 || cfg->local_as == 0) {
        return LIB_EINVAL;
    }
    struct speaker *sp = calloc(1, sizeof *sp);
    if (!sp) {
        return RIB_ERR_NOMEM;
    }
    sp->loop = loop;
    sp->cfg = *cfg;
    sp->marks_used = cfg->marks_reserved;
    if (!sp->cfg.cluster_id) {
        sp->cfg.cluster_id = cfg->router_id;
    }
    struct rib_config rc_cfg = {0};
    int rc = rib_create(&rc_cfg, &sp->rib);
    if (rc == 0) {
        rc = rib_instance_create(sp->rib, "master", &sp->master);
    }
    struct rib_source_info local = {.type = RIB_SRC_LOCAL, .router_id = cfg->router_id, .name = "local"};
    if (rc == 0) {
        rc = rib_source_add(sp->rib, &local, &sp->local_source);
    }
    for (int f = 0; rc == 0 && f < BGP_FAM_COUNT; f++) {
        struct rib_table *t = family_table(sp, (enum bgp_family)f);
        uint32_t id;
        if (t) {
            rc = rib_listener_add_marks(t, on_best_change, sp, &id);
        }
    }
    if (rc != 0) {
        rib_free(sp->rib);
        free(sp);
        return rc;
    }
    uv_idle_init(loop, &sp->flush);
    sp->flush.data = sp;
    if (!cfg->no_listen) {
        struct sockaddr_storage ss;
        int fam = strchr(cfg->listen, ':') ? AF_INET6 : AF_INET;
        uv_tcp_init(loop, &sp->listener);
        sp->listener.data = sp;
        sp->listening = true;
        if (cfg->listen_fd > 0) {
            rc = uv_tcp_open(&sp->listener, cfg->listen_fd);
        } else {
            rc = local_sockaddr(sp, fam, cfg->port ? cfg->port : BGP_PORT, &ss);
            if (rc == 0) {
                rc = uv_tcp_bind(&sp->listener, (struct sockaddr *)&ss, 0);
            }
        }
        if (rc == 0) {
            rc = uv_listen((uv_stream_t *)&sp->listener, 64, accept_cb);
        }
        if (rc != 0) {
            log_error("bgp", "cannot listen", "address=%s port=%u err=\"%s\"", cfg->listen,
                      cfg->port ? cfg->port : BGP_PORT, uv_strerror(rc));
            speaker_close(sp);
            return rc;
        }
    }
    *out = sp;
    return 0;
}

static void speaker_free_cb(uv_handle_t *h)
{
    struct speaker *sp = h->data;
    if (--sp->handles == 0) {
        rib_free(sp->rib);
        free(sp);
    }
}

void speaker_close(struct speaker *sp)
{
    sp->closing = true;
    while (sp->peers) {
        struct peer *p = sp->peers;
        sp->peers = p->next;
        peer_destroy(sp, p);
    }
    /* the RIB goes with the last handle: peers' handles close first */
    sp->handles = 1 + (sp->listening ? 1 : 0);
    uv_close((uv_handle_t *)&sp->flush, speaker_free_cb);
    if (sp->listening) {
        uv_close((uv_handle_t *)&sp->listener, speaker_free_cb);
    }
}

struct rib *speaker_rib(struct speaker *sp)
{
    return sp->rib;
}

uint32_t speaker_local_source(const struct speaker *sp)
{
    return sp->local_source;
}

/* ---- operator views ---- */

struct count_ctx {
    uint64_t *per_source;
    uint32_t max_source;
};

static int count_paths(void *ctx, const struct rib_prefix *pfx, const struct rib_path *paths, size_t count,
                       size_t nbest)
{
    (void)pfx;
    (void)nbest;
    struct count_ctx *c = ctx;
    for (size_t i = 0; i < count; i++) {
        if (!(paths[i].flags & (RIB_PATH_REPLICATED | RIB_PATH_LEAKED)) && paths[i].source <= c->max_source) {
            c->per_source[paths[i].source]++;
        }
    }
    return 0;
}

json_t *speaker_neighbors_json(struct speaker *sp)
{
    /* prefixes received: primary paths per source, counted on demand (an
     * operator's command) rather than on every UPDATE */
    struct count_ctx cc = {0};
    for (struct peer *p = sp->peers; p; p = p->next) {
        cc.max_source = p->source > cc.max_source ? p->source : cc.max_source;
    }
    cc.per_source = calloc((size_t)cc.max_source + 1, sizeof *cc.per_source);
    if (!cc.per_source) {
        return NULL;
    }
    for (int f = 0; f < BGP_FAM_COUNT; f++) {
        struct rib_table *t = family_table(sp, (enum bgp_family)f);
        if (t && rib_table_walk(t, count_paths, &cc) != 0) {
            free(cc.per_source);
            return NULL;
        }
    }
    json_t *arr = json_array();
    uint64_t now = now_ms(sp);
    for (struct peer *p = sp->peers; arr && p; p = p->next) {
        json_t *fams = json_array();
        for (int f = 0; f < BGP_FAM_COUNT; f++) {
            if (p->up && (p->caps.families & BGP_FAM_BIT(f))) {
                json_array_append_new(fams, json_string(bgp_family_name(f)));
            }
        }
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:I, s:s, s:b, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "name",
                           p->cfg.name, "address", p->cfg.address, "peer_as", (json_int_t)p->cfg.peer_as, "state",
                           bgp_fsm_state_name(bgp_fsm_state(p->fsm)), "ebgp", p->ebgp, "uptime_s",
                           (json_int_t)(p->up ? (now - p->up_since_ms) / 1000 : 0), "families", fams,
                           "prefixes_received", (json_int_t)cc.per_source[p->source], "prefixes_advertised",
                           (json_int_t)p->advertised, "updates_received", (json_int_t)p->updates_in,
                           "updates_sent", (json_int_t)p->updates_out, "flaps", (json_int_t)p->flaps,
                           "stale_routes", (json_int_t)(p->gr_phase ? 1 : 0), "graceful_restart",
                           p->gr_phase == 1 ? "stale" : p->gr_phase == 2 ? "llgr-stale" : "none", "last_error",
                           p->last_error));
    }
    free(cc.per_source);
    return arr;
}

static struct rib_table *table_by_name(struct speaker *sp, const char *name)
{
    static const enum rib_family vpn[] = {RIB_AF_L3VPN, RIB_AF_L3VPN6, RIB_AF_EVPN_VPN, RIB_AF_RTARGET};
    for (size_t i = 0; i < sizeof vpn / sizeof vpn[0]; i++) {
        struct rib_table *t = rib_vpn_table(sp->rib, vpn[i]);
        if (t && strcmp(rib_table_name(t), name) == 0) {
            return t;
        }
    }
    static const struct {
        const char *suffix;
        enum rib_family af;
    } sfx[] = {{".inet.0", RIB_AF_INET}, {".inet6.0", RIB_AF_INET6}, {".evpn.0", RIB_AF_EVPN}};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        size_t sl = strlen(sfx[i].suffix);
        if (len > sl && strcmp(name + len - sl, sfx[i].suffix) == 0) {
            char inst[256];
            snprintf(inst, sizeof inst, "%.*s", (int)(len - sl), name);
            struct rib_instance *ri = rib_instance_find(sp->rib, inst);
            return ri ? rib_instance_table(ri, sfx[i].af) : NULL;
        }
    }
    return NULL;
}

static void addr_text(const struct rib_addr *a, char *out, size_t size)
{
    if (a->af == 4 || a->af == 6) {
        inet_ntop(a->af == 4 ? AF_INET : AF_INET6, a->b, out, (socklen_t)size);
    } else {
        snprintf(out, size, "-");
    }
}

static int route_json(void *ctx, const struct rib_prefix *pfx, const struct rib_path *paths, size_t count, size_t nbest)
{
    json_t *arr = ctx;
    char text[128];
    rib_prefix_format(pfx, text, sizeof text);
    json_t *jp = json_array();
    for (size_t i = 0; i < count; i++) {
        const struct rib_path *p = &paths[i];
        const struct rib_attr *a = p->attr;
        char nh[64];
        addr_text(&a->nexthop, nh, sizeof nh);
        json_t *rts = json_array();
        for (size_t k = 0; k < a->exts_len; k++) {
            if (rib_ext_is_rt(&a->exts[k])) {
                char rt[48];
                struct rib_rt r;
                memcpy(r.b, a->exts[k].b, 8);
                rib_rt_format(&r, rt, sizeof rt);
                json_array_append_new(rts, json_string(rt));
            }
        }
        json_t *asp = json_array();
        for (size_t s = 0; s < a->as_path_len; s++) {
            for (size_t k = 0; k < a->as_path[s].len; k++) {
                json_array_append_new(asp, json_integer(a->as_path[s].asns[k]));
            }
        }
        json_array_append_new(
            jp, json_pack("{s:I, s:s, s:I, s:I, s:I, s:o, s:o, s:b, s:b, s:b}", "source", (json_int_t)p->source,
                          "next_hop", nh, "label", (json_int_t)p->label, "vni", (json_int_t)p->vni, "local_pref",
                          (json_int_t)((a->flags & RIB_ATTR_HAS_LOCAL_PREF) ? a->local_pref : 100), "as_path", asp,
                          "route_targets", rts, "best", i < nbest, "stale", (p->flags & RIB_PATH_STALE) != 0,
                          "llgr_stale", (p->flags & RIB_PATH_LLGR_STALE) != 0));
    }
    json_array_append_new(arr, json_pack("{s:s, s:o}", "prefix", text, "paths", jp));
    return 0;
}

json_t *speaker_routes_json(struct speaker *sp, const char *table)
{
    if (!table) {
        json_t *obj = json_object();
        static const enum rib_family vpn[] = {RIB_AF_L3VPN, RIB_AF_L3VPN6, RIB_AF_EVPN_VPN, RIB_AF_RTARGET};
        for (size_t i = 0; obj && i < sizeof vpn / sizeof vpn[0]; i++) {
            struct rib_table *t = rib_vpn_table(sp->rib, vpn[i]);
            json_object_set_new(obj, rib_table_name(t), json_integer((json_int_t)rib_table_count(t)));
        }
        struct rib_table *m = rib_instance_table(sp->master, RIB_AF_INET);
        json_object_set_new(obj, rib_table_name(m), json_integer((json_int_t)rib_table_count(m)));
        return obj;
    }
    struct rib_table *t = table_by_name(sp, table);
    if (!t) {
        return NULL;
    }
    json_t *arr = json_array();
    if (arr && rib_table_walk(t, route_json, arr) != 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

json_t *speaker_summary_json(struct speaker *sp)
{
    size_t peers = 0, established = 0;
    for (struct peer *p = sp->peers; p; p = p->next) {
        peers++;
        established += p->up;
    }
    char rid[INET_ADDRSTRLEN];
    struct in_addr a = {.s_addr = htonl(sp->cfg.router_id)};
    inet_ntop(AF_INET, &a, rid, sizeof rid);
    json_t *tables = speaker_routes_json(sp, NULL);
    if (!tables) {
        return NULL;
    }
    return json_pack("{s:I, s:s, s:I, s:I, s:o}", "local_as", (json_int_t)sp->cfg.local_as, "router_id", rid,
                     "peers", (json_int_t)peers, "established", (json_int_t)established, "tables", tables);
}

int speaker_set_gr(struct speaker *sp, bool gr, uint16_t gr_restart_time, bool llgr, uint32_t llgr_stale_time)
{
    if (gr_restart_time > BGP_GR_MAX_RESTART_TIME || llgr_stale_time > 0xFFFFFF) {
        return LIB_EINVAL;
    }
    sp->cfg.gr = gr;
    sp->cfg.gr_restart_time = gr_restart_time;
    sp->cfg.llgr = llgr;
    sp->cfg.llgr_stale_time = llgr_stale_time;
    for (struct peer *p = sp->peers; p; p = p->next) {
        if (p->fsm && bgp_fsm_set_gr(p->fsm, gr, gr_restart_time, gr ? p->cfg.families : 0, llgr,
                                     llgr_stale_time) != 0) {
            return LIB_EINVAL;
        }
    }
    return 0;
}

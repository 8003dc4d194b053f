/* XMPP agents <-> RIB: see xmpp_glue.h. */
#include "routing/control/xmpp_glue.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/vec.h"

/* A routing instance some agent subscribed or published to. */
struct ginst {
    struct rib_instance *inst;
    char name[XMPP_NAME_MAX];
    uint32_t listener[3]; /* inet, inet6, evpn */
    struct xglue *g;
    /* the agents subscribed to it (each lists it in its 'subs'), so that a
     * change visits its subscribers, not every agent */
    struct xglue_agent **subs;
    size_t subs_len, subs_cap;
    /* the digest of its routes as agents get them, valid for the flush
     * whose serial is 'dg_serial' (instance_digest()) */
    uint64_t dg_serial, dg_all;
    struct gown *dg_own;
    size_t dg_own_len, dg_own_cap;
    struct ginst *next;
};

/* A source whose own routes are the sole best paths of some prefixes: the
 * sum of those items' hashes (they are not sent back to it). */
struct gown {
    uint32_t source;
    uint64_t sum;
};

struct qent {
    struct ginst *gi;
    enum rib_family af;
    struct rib_prefix p;
};

/* A subscription whose dump waits for the End-of-RIB hold to end: the
 * agent announced the digest of what it holds. */
struct gdefer {
    struct ginst *gi;
    uint64_t digest;
};

struct xglue_agent {
    char name[XMPP_JID_MAX];
    uint32_t source;
    struct xmpp_session *session; /* NULL while disconnected (stale) */
    struct ginst **subs;
    size_t subs_len, subs_cap;
    struct qent *q;
    size_t q_len, q_cap;
    struct gdefer *defer;
    size_t defer_len, defer_cap;
    bool eor_due;
    bool eor_sent;
    bool peer_eor;  /* the agent's End-of-RIB seen on this session */
    bool pending;   /* listed in g->pending: the next flush has work for it */
    /* some of its paths were marked stale (xglue_agent_down) and have not
     * been swept since: only then does its End-of-RIB scan the RIB (the
     * glue is the only one to mark an agent's source stale) */
    bool has_stale;
    struct xglue *g;
    struct xglue_agent_stats st;
    struct xglue_agent *next;
    struct xglue_agent *hnext; /* in g->by_name's bucket */
};

struct xglue {
    struct rib *rib;
    struct ginst *insts;
    struct xglue_agent *agents;
    void (*notify)(void *arg);
    void *notify_arg;
    bool eor_held; /* End-of-RIB to agents held (xglue_hold_eor) */
    uint64_t shared_hits, shared_misses; /* routes messages: items part shared / built */
    /* the agents the next flush has work for (queued items, End-of-RIB or
     * deferred subscriptions): a flush visits only them, not every agent */
    struct xglue_agent **pending;
    size_t pending_len, pending_cap;
    /* agents by name (chained; 'nbuckets' a power of two, grown at 2
     * agents per bucket); 'nagents' records, 'connected' with a session,
     * 'waiting_eor' of those without their End-of-RIB on that session */
    struct xglue_agent **by_name;
    size_t nbuckets, nagents, connected, waiting_eor;
    /* a flush's scratch space, kept between flushes */
    struct xmpp_route_item *items;
    struct qent *mq;
    struct gcache *cache;
    uint64_t flush_serial; /* digests computed in this flush are reused */
};

static const enum rib_family vrf_families[3] = {RIB_AF_INET, RIB_AF_INET6, RIB_AF_EVPN};

static enum xmpp_family xmpp_family_of(enum rib_family af)
{
    return af == RIB_AF_INET ? XMPP_FAMILY_INET : af == RIB_AF_INET6 ? XMPP_FAMILY_INET6 : XMPP_FAMILY_EVPN;
}

static int rib_family_of(enum xmpp_family f, enum rib_family *af)
{
    switch (f) {
    case XMPP_FAMILY_INET: *af = RIB_AF_INET; return 0;
    case XMPP_FAMILY_INET6: *af = RIB_AF_INET6; return 0;
    case XMPP_FAMILY_EVPN: *af = RIB_AF_EVPN; return 0;
    case XMPP_FAMILY_NONE: break;
    }
    return RIB_ERR_FAMILY;
}

static bool subscribed(const struct xglue_agent *a, const struct ginst *gi)
{
    for (size_t i = 0; i < a->subs_len; i++) {
        if (a->subs[i] == gi) {
            return true;
        }
    }
    return false;
}

static bool deferred(const struct xglue_agent *a, const struct ginst *gi)
{
    for (size_t i = 0; i < a->defer_len; i++) {
        if (a->defer[i].gi == gi) {
            return true;
        }
    }
    return false;
}

/* Adds 'a' to the subscribers of 'gi' (not listed yet). */
static int gi_sub_add(struct ginst *gi, struct xglue_agent *a)
{
    struct xglue_agent **v = vec_grow(gi->subs, &gi->subs_cap, gi->subs_len, sizeof *v, 8);
    if (!v) {
        return RIB_ERR_NOMEM;
    }
    gi->subs = v;
    gi->subs[gi->subs_len++] = a;
    return 0;
}

static void gi_sub_del(struct ginst *gi, const struct xglue_agent *a)
{
    for (size_t i = 0; i < gi->subs_len; i++) {
        if (gi->subs[i] == a) {
            gi->subs[i] = gi->subs[--gi->subs_len];
            return;
        }
    }
}

/* Ends every subscription of 'a' (its counter keeps the last figure). */
static void subs_clear(struct xglue_agent *a)
{
    for (size_t i = 0; i < a->subs_len; i++) {
        gi_sub_del(a->subs[i], a);
    }
    a->subs_len = 0;
}

static size_t name_bucket(const struct xglue *g, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h = (h ^ *p) * 0x100000001b3ull;
    }
    return (size_t)(h ^ (h >> 32)) & (g->nbuckets - 1);
}

static struct xglue_agent *agent_find(const struct xglue *g, const char *name)
{
    if (g->nbuckets == 0) {
        return NULL;
    }
    for (struct xglue_agent *a = g->by_name[name_bucket(g, name)]; a; a = a->hnext) {
        if (strcmp(a->name, name) == 0) {
            return a;
        }
    }
    return NULL;
}

/* Indexes 'a' by name; the table doubles at two agents per bucket (without
 * memory for a larger one the chains grow instead). */
static int by_name_add(struct xglue *g, struct xglue_agent *a)
{
    if (g->nagents >= 2 * g->nbuckets) {
        size_t nb = g->nbuckets ? g->nbuckets * 2 : 64;
        struct xglue_agent **v = calloc(nb, sizeof *v);
        if (!v && g->nbuckets == 0) {
            return RIB_ERR_NOMEM;
        }
        if (v) {
            struct xglue_agent **old = g->by_name;
            size_t old_n = g->nbuckets;
            g->by_name = v;
            g->nbuckets = nb;
            for (size_t b = 0; b < old_n; b++) {
                while (old[b]) {
                    struct xglue_agent *x = old[b];
                    old[b] = x->hnext;
                    size_t nbk = name_bucket(g, x->name);
                    x->hnext = v[nbk];
                    v[nbk] = x;
                }
            }
            free(old);
        }
    }
    size_t b = name_bucket(g, a->name);
    a->hnext = g->by_name[b];
    g->by_name[b] = a;
    g->nagents++;
    return 0;
}

static void by_name_del(struct xglue *g, struct xglue_agent *a)
{
    for (struct xglue_agent **pp = &g->by_name[name_bucket(g, a->name)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == a) {
            *pp = a->hnext;
            g->nagents--;
            return;
        }
    }
}

/* Lists 'a' for the next flush. Without memory the agent is served at a
 * later flush that finds room (logged). */
static void agent_pending(struct xglue_agent *a)
{
    struct xglue *g = a->g;
    if (a->pending) {
        return;
    }
    struct xglue_agent **v = vec_grow(g->pending, &g->pending_cap, g->pending_len, sizeof *v, 64);
    if (!v) {
        log_warn("xmpp", "out of memory listing an agent for delivery", "agent=%s", a->name);
        return;
    }
    g->pending = v;
    g->pending[g->pending_len++] = a;
    a->pending = true;
}

static void queue_push(struct xglue_agent *a, struct ginst *gi, enum rib_family af, const struct rib_prefix *p)
{
    agent_pending(a);
    struct qent *v = vec_grow(a->q, &a->q_cap, a->q_len, sizeof *v, 64);
    if (!v) {
        log_warn("xmpp", "out of memory queueing a route for an agent", "agent=%s", a->name);
        return;
    }
    a->q = v;
    struct qent *e = &a->q[a->q_len++];
    memset(e, 0, sizeof *e); /* padding too: entries are compared bytewise */
    e->gi = gi;
    e->af = af;
    e->p.family = p->family;
    e->p.plen = p->plen;
    e->p.rd = p->rd;
    e->p.addr = p->addr;
    e->p.evpn.type = p->evpn.type;
    e->p.evpn.eth_tag = p->evpn.eth_tag;
    memcpy(e->p.evpn.mac, p->evpn.mac, 6);
    e->p.rt_origin_as = p->rt_origin_as;
    e->p.rt = p->rt;
}

static int qent_cmp(const void *x, const void *y)
{
    const struct qent *a = x, *b = y;
    if (a->gi != b->gi) {
        return (uintptr_t)a->gi < (uintptr_t)b->gi ? -1 : 1;
    }
    if (a->af != b->af) {
        return a->af < b->af ? -1 : 1;
    }
    return memcmp(&a->p, &b->p, sizeof a->p);
}

/* Sorts the queue by instance, family, prefix and drops repeats: an item
 * is built from the RIB's current state, so one per prefix per flush says
 * everything (a subscription's dump and a change in the same flush used to
 * send the route twice). */
static void queue_dedupe(struct xglue_agent *a)
{
    if (a->q_len < 2) {
        return;
    }
    qsort(a->q, a->q_len, sizeof *a->q, qent_cmp);
    size_t out = 1;
    for (size_t i = 1; i < a->q_len; i++) {
        if (qent_cmp(&a->q[i], &a->q[out - 1]) != 0) {
            a->q[out++] = a->q[i];
        }
    }
    a->q_len = out;
}

static void on_change(void *ctx, struct rib_table *t, const struct rib_prefix *p, const struct rib_path *best,
                      size_t nbest)
{
    (void)best;
    (void)nbest;
    struct ginst *gi = ctx;
    bool queued = false;
    for (size_t i = 0; i < gi->subs_len; i++) {
        struct xglue_agent *a = gi->subs[i];
        if (a->session && !deferred(a, gi)) {
            queue_push(a, gi, rib_table_family(t), p);
            queued = true;
        }
    }
    if (queued && gi->g->notify) {
        gi->g->notify(gi->g->notify_arg);
    }
}

void xglue_set_notify(struct xglue *g, void (*fn)(void *arg), void *arg)
{
    g->notify = fn;
    g->notify_arg = arg;
}

static struct ginst *ginst_get(struct xglue *g, const char *name)
{
    for (struct ginst *gi = g->insts; gi; gi = gi->next) {
        if (strcmp(gi->name, name) == 0) {
            return gi;
        }
    }
    if (!name[0] || strlen(name) >= XMPP_NAME_MAX) {
        return NULL;
    }
    struct ginst *gi = calloc(1, sizeof *gi);
    if (!gi) {
        return NULL;
    }
    gi->g = g;
    snprintf(gi->name, sizeof gi->name, "%s", name);
    gi->inst = rib_instance_find(g->rib, name);
    if (!gi->inst && rib_instance_create(g->rib, name, &gi->inst) != 0) {
        free(gi);
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        if (rib_listener_add(rib_instance_table(gi->inst, vrf_families[i]), on_change, gi, &gi->listener[i]) != 0) {
            while (--i >= 0) {
                if (rib_listener_del(rib_instance_table(gi->inst, vrf_families[i]), gi->listener[i]) != 0) {
                    log_warn("xmpp", "listener already gone", "instance=%s", name);
                }
            }
            free(gi);
            return NULL;
        }
    }
    gi->next = g->insts;
    g->insts = gi;
    return gi;
}

int xglue_create(struct rib *rib, struct xglue **out)
{
    struct xglue *g = calloc(1, sizeof *g);
    if (!g) {
        return RIB_ERR_NOMEM;
    }
    g->rib = rib;
    *out = g;
    return 0;
}

static void agent_free(struct xglue_agent *a)
{
    subs_clear(a);
    free(a->subs);
    free(a->q);
    free(a->defer);
    free(a);
}

void xglue_free(struct xglue *g)
{
    if (!g) {
        return;
    }
    while (g->agents) {
        struct xglue_agent *a = g->agents;
        g->agents = a->next;
        agent_free(a);
    }
    while (g->insts) {
        struct ginst *gi = g->insts;
        g->insts = gi->next;
        for (int i = 0; i < 3; i++) {
            struct rib_table *t = rib_instance_table(gi->inst, vrf_families[i]);
            if (t && rib_listener_del(t, gi->listener[i]) != 0) {
                log_warn("xmpp", "listener already gone", "instance=%s", gi->name);
            }
        }
        free(gi->subs);
        free(gi->dg_own);
        free(gi);
    }
    free(g->pending);
    free(g->by_name);
    free(g->items);
    free(g->mq);
    free(g->cache);
    free(g);
}

int xglue_agent_up(struct xglue *g, const char *name, struct xmpp_session *session, struct xglue_agent **out)
{
    struct xglue_agent *a = agent_find(g, name);
    if (a && a->session) {
        return RIB_ERR_EXISTS;
    }
    if (!a) {
        if (strlen(name) >= sizeof a->name) {
            return RIB_ERR_INVAL;
        }
        a = calloc(1, sizeof *a);
        if (!a) {
            return RIB_ERR_NOMEM;
        }
        snprintf(a->name, sizeof a->name, "%s", name);
        a->g = g;
        struct rib_source_info si = {.type = RIB_SRC_XMPP, .name = name};
        int rc = rib_source_add(g->rib, &si, &a->source);
        if (rc != 0) {
            free(a);
            return rc;
        }
        if ((rc = by_name_add(g, a)) != 0) {
            if (rib_source_del(g->rib, a->source) != 0) {
                log_warn("xmpp", "agent's RIB source already gone", "agent=%s", a->name);
            }
            free(a);
            return rc;
        }
        a->next = g->agents;
        g->agents = a;
    }
    a->session = session;
    g->connected++;
    g->waiting_eor++;
    a->st.connected = true;
    a->eor_due = false;
    a->eor_sent = false;
    a->peer_eor = false;
    subs_clear(a);
    a->q_len = 0;
    a->defer_len = 0;
    *out = a;
    return 0;
}

struct xmpp_session *xglue_agent_session(const struct xglue *g, const char *name)
{
    const struct xglue_agent *a = agent_find(g, name);
    return a ? a->session : NULL;
}

static void agent_remove(struct xglue *g, struct xglue_agent *a)
{
    for (size_t i = 0; a->pending && i < g->pending_len; i++) {
        if (g->pending[i] == a) {
            g->pending[i] = g->pending[--g->pending_len];
            break;
        }
    }
    for (struct xglue_agent **pp = &g->agents; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    }
    by_name_del(g, a);
    if (rib_source_del(g->rib, a->source) != 0) {
        log_warn("xmpp", "agent's RIB source already gone", "agent=%s", a->name);
    }
    agent_free(a);
}

void xglue_agent_down(struct xglue *g, struct xglue_agent *a, bool graceful)
{
    if (a->session) {
        g->connected--;
        g->waiting_eor -= !a->peer_eor;
    }
    a->session = NULL;
    a->st.connected = false;
    subs_clear(a);
    a->q_len = 0;
    a->defer_len = 0;
    if (graceful) {
        int n = rib_source_mark_stale(g->rib, a->source);
        a->has_stale |= n != 0; /* an error (< 0) may have marked some */
        log_info("xmpp", "agent lost; its routes kept stale", "agent=%s paths=%d", a->name, n);
    } else {
        log_info("xmpp", "agent left; its routes withdrawn", "agent=%s", a->name);
        agent_remove(g, a);
    }
}

int xglue_agent_expire(struct xglue *g, const char *name)
{
    struct xglue_agent *a = agent_find(g, name);
    if (!a || a->session) {
        return RIB_ERR_NOENT;
    }
    log_info("xmpp", "agent did not come back; its stale routes removed", "agent=%s", a->name);
    agent_remove(g, a);
    return 0;
}

struct dump_ctx {
    struct xglue_agent *a;
    struct ginst *gi;
    enum rib_family af;
};

static int dump_one(void *ctx, const struct rib_prefix *p, const struct rib_path *paths, size_t count, size_t nbest)
{
    (void)paths;
    (void)count;
    struct dump_ctx *d = ctx;
    if (nbest > 0) {
        queue_push(d->a, d->gi, d->af, p);
    }
    return 0;
}

/* Subscribes 'a' to 'instance': '*gi' gets the instance, '*added' whether
 * the subscription is new. */
static int sub_add(struct xglue *g, struct xglue_agent *a, const char *instance, struct ginst **out, bool *added)
{
    struct ginst *gi = ginst_get(g, instance);
    *added = false;
    if (!gi) {
        return RIB_ERR_NOMEM;
    }
    *out = gi;
    if (subscribed(a, gi)) {
        return 0;
    }
    struct ginst **v = vec_grow(a->subs, &a->subs_cap, a->subs_len, sizeof *v, 8);
    if (!v) {
        return RIB_ERR_NOMEM;
    }
    a->subs = v;
    if (gi_sub_add(gi, a) != 0) {
        return RIB_ERR_NOMEM;
    }
    a->subs[a->subs_len++] = gi;
    a->st.subscriptions = (uint32_t)a->subs_len;
    if (!a->eor_sent) {
        a->eor_due = true;
        agent_pending(a);
    }
    *added = true;
    return 0;
}

/* Queues the whole of 'gi' for 'a'. */
static int dump_instance(struct xglue_agent *a, struct ginst *gi)
{
    for (int i = 0; i < 3; i++) {
        struct dump_ctx d = {.a = a, .gi = gi, .af = vrf_families[i]};
        int rc = rib_table_walk(rib_instance_table(gi->inst, vrf_families[i]), dump_one, &d);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int xglue_subscribe(struct xglue *g, struct xglue_agent *a, const char *instance)
{
    struct ginst *gi;
    bool added;
    int rc = sub_add(g, a, instance, &gi, &added);
    return rc == 0 && added ? dump_instance(a, gi) : rc;
}

int xglue_subscribe_digest(struct xglue *g, struct xglue_agent *a, const char *instance, uint64_t digest)
{
    struct ginst *gi;
    bool added;
    int rc = sub_add(g, a, instance, &gi, &added);
    if (rc != 0 || !added) {
        return rc;
    }
    struct gdefer *v = vec_grow(a->defer, &a->defer_cap, a->defer_len, sizeof *v, 4);
    if (!v) {
        return dump_instance(a, gi); /* no room to defer: today's dump */
    }
    a->defer = v;
    a->defer[a->defer_len++] = (struct gdefer){.gi = gi, .digest = digest};
    agent_pending(a);
    return 0;
}

void xglue_unsubscribe(struct xglue *g, struct xglue_agent *a, const char *instance)
{
    (void)g;
    for (size_t i = 0; i < a->defer_len; i++) {
        if (strcmp(a->defer[i].gi->name, instance) == 0) {
            a->defer[i] = a->defer[--a->defer_len];
            break;
        }
    }
    for (size_t i = 0; i < a->subs_len; i++) {
        if (strcmp(a->subs[i]->name, instance) == 0) {
            gi_sub_del(a->subs[i], a);
            a->subs[i] = a->subs[--a->subs_len];
            a->st.subscriptions = (uint32_t)a->subs_len;
            return;
        }
    }
}

static int key_to_prefix(enum rib_family af, const struct xmpp_route_key *k, struct rib_prefix *p)
{
    memset(p, 0, sizeof *p);
    p->family = af;
    if (af == RIB_AF_EVPN) {
        p->evpn.type = 2;
        p->evpn.eth_tag = k->ethernet_tag;
        memcpy(p->evpn.mac, k->mac, 6);
        if (k->prefix.version) {
            p->addr.af = k->prefix.version;
            memcpy(p->addr.b, k->prefix.addr, k->prefix.version == 4 ? 4 : 16);
            p->plen = k->plen;
        }
        return 0;
    }
    if (k->prefix.version != (af == RIB_AF_INET ? 4 : 6)) {
        return RIB_ERR_PREFIX;
    }
    p->addr.af = k->prefix.version;
    memcpy(p->addr.b, k->prefix.addr, af == RIB_AF_INET ? 4 : 16);
    p->plen = k->plen;
    return 0;
}

/* Removes the agent's paths at 'p' from path id 'from' on. */
static void remove_paths_from(struct xglue *g, struct xglue_agent *a, struct rib_table *t, const struct rib_prefix *p,
                              uint32_t from)
{
    const struct rib_path *paths;
    size_t count, nbest;
    uint32_t ids[XMPP_MAX_NEXTHOPS * 2];
    size_t n = 0;
    if (rib_table_lookup(t, p, &paths, &count, &nbest) != 0) {
        return;
    }
    for (size_t i = 0; i < count && n < sizeof ids / sizeof ids[0]; i++) {
        if (paths[i].source == a->source && !paths[i].primary && paths[i].path_id >= from) {
            ids[n++] = paths[i].path_id;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (rib_path_del(t, p, a->source, ids[i]) != 0) {
            log_warn("xmpp", "agent path vanished while withdrawing", "agent=%s", a->name);
        }
    }
    (void)g;
}

int xglue_publish(struct xglue *g, struct xglue_agent *a, const char *instance, const struct xmpp_route_entry *e)
{
    enum rib_family af;
    struct rib_prefix p;
    int rc = rib_family_of(e->family, &af);
    if (rc == 0) {
        rc = key_to_prefix(af, &e->key, &p);
    }
    struct ginst *gi = rc == 0 ? ginst_get(g, instance) : NULL;
    if (rc != 0 || !gi) {
        return rc ? rc : RIB_ERR_NOMEM;
    }
    struct rib_table *t = rib_instance_table(gi->inst, af);
    for (size_t i = 0; i < e->next_hop_count; i++) {
        const struct xmpp_nexthop *nh = &e->next_hops[i];
        struct rib_ext exts[3];
        size_t nexts = 0;
        if (nh->encaps & XMPP_ENCAP_GRE) {
            exts[nexts++] = rib_ext_encap(RIB_ENCAP_GRE);
        }
        if (nh->encaps & XMPP_ENCAP_UDP) {
            exts[nexts++] = rib_ext_encap(RIB_ENCAP_MPLS_UDP);
        }
        if (nh->encaps & XMPP_ENCAP_VXLAN) {
            exts[nexts++] = rib_ext_encap(RIB_ENCAP_VXLAN);
        }
        struct rib_attr attr = {
            .flags = RIB_ATTR_HAS_LABEL,
            .origin = RIB_ORIGIN_IGP,
            .exts = exts,
            .exts_len = nexts,
            .seq = e->sequence_number,
            .sgids = e->security_groups,
            .sgids_len = e->security_group_count,
            .vn = e->virtual_network[0] ? e->virtual_network : NULL,
        };
        attr.nexthop.af = nh->address.version;
        memcpy(attr.nexthop.b, nh->address.addr, nh->address.version == 4 ? 4 : 16);
        struct rib_labels lb = {.label = nh->label};
        if (nh->has_vni) {
            attr.flags |= RIB_ATTR_HAS_VNI;
            lb.vni = nh->vni;
        }
        if (af == RIB_AF_EVPN && nh->has_vni && (nh->encaps & XMPP_ENCAP_VXLAN)) {
            /* EVPN over VXLAN: the VNI is the label (RFC 8365 §5.1.3); an
             * MPLS label kept beside it would go out over BGP in the VNI's
             * place and peers would read it as the VNI */
            attr.flags &= (uint16_t)~RIB_ATTR_HAS_LABEL;
            lb.label = 0;
        }
        if (nh->has_l3_label) {
            attr.flags |= RIB_ATTR_HAS_L3_LABEL;
            lb.l3_label = nh->l3_label;
        }
        if (e->has_local_preference) {
            attr.flags |= RIB_ATTR_HAS_LOCAL_PREF;
            attr.local_pref = e->local_preference;
        }
        if (e->has_med) {
            attr.flags |= RIB_ATTR_HAS_MED;
            attr.med = e->med;
        }
        const struct rib_attr *ia;
        if ((rc = rib_attr_intern(g->rib, &attr, &ia)) != 0) {
            return rc;
        }
        rc = rib_path_add_labels(t, &p, a->source, (uint32_t)i, ia, 0, &lb);
        rib_attr_unref(g->rib, ia);
        if (rc != 0) {
            return rc;
        }
    }
    remove_paths_from(g, a, t, &p, (uint32_t)e->next_hop_count);
    a->st.published++;
    return 0;
}

void xglue_withdraw(struct xglue *g, struct xglue_agent *a, const char *instance, enum xmpp_family family,
                    const struct xmpp_route_key *key)
{
    enum rib_family af;
    struct rib_prefix p;
    struct rib_instance *inst = rib_instance_find(g->rib, instance);
    if (!inst || rib_family_of(family, &af) != 0 || key_to_prefix(af, key, &p) != 0) {
        return;
    }
    remove_paths_from(g, a, rib_instance_table(inst, af), &p, 0);
    a->st.withdrawn++;
}

int xglue_eor(struct xglue *g, struct xglue_agent *a)
{
    if (a->session && !a->peer_eor) {
        g->waiting_eor--;
    }
    a->peer_eor = true;
    if (!a->has_stale) {
        return 0; /* nothing of it is stale: no scan of the RIB */
    }
    int n = rib_source_sweep(g->rib, a->source);
    if (n >= 0) {
        a->has_stale = false;
    }
    if (n > 0) {
        log_info("xmpp", "agent's End-of-RIB: stale routes swept", "agent=%s paths=%d", a->name, n);
    }
    return n;
}

/* ---- RIB -> agents ---- */

static unsigned encaps_of(const struct rib_attr *a)
{
    unsigned e = 0;
    for (size_t i = 0; i < a->exts_len; i++) {
        const uint8_t *x = a->exts[i].b;
        if (x[0] != 0x03 || x[1] != 0x0c) {
            continue;
        }
        unsigned type = (unsigned)x[6] << 8 | x[7];
        e |= type == RIB_ENCAP_VXLAN ? XMPP_ENCAP_VXLAN
             : type == RIB_ENCAP_MPLS_UDP ? XMPP_ENCAP_UDP
             : (type == RIB_ENCAP_GRE || type == 11) ? XMPP_ENCAP_GRE
                                                      : 0;
    }
    return e ? e : XMPP_ENCAP_GRE;
}

/* The sources of the best paths of one message's prefixes. */
#define GSRC_MAX 8
struct gsrc {
    uint32_t id[GSRC_MAX];
    size_t n;
    bool overflow; /* more than GSRC_MAX: not all listed */
};

static void gsrc_add(struct gsrc *s, uint32_t id)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->id[i] == id) {
            return;
        }
    }
    if (s->n == GSRC_MAX) {
        s->overflow = true;
        return;
    }
    s->id[s->n++] = id;
}

static bool gsrc_has(const struct gsrc *s, uint32_t id)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->id[i] == id) {
            return true;
        }
    }
    return s->overflow;
}

/* Fills item 'it' for prefix 'p' of 'af' as 'a' should see it now; adds
 * the sources of its best paths to 'srcs' (NULL: not wanted). The item
 * depends on 'a' only when the best paths are all its own (they are not
 * sent back); 'a' NULL: as an agent that is none of their sources. */
static void build_item(struct xglue *g, struct xglue_agent *a, struct ginst *gi, enum rib_family af,
                       const struct rib_prefix *p, struct xmpp_route_item *it, struct gsrc *srcs)
{
    memset(it, 0, sizeof *it);
    struct xmpp_route_entry *e = &it->entry;
    e->family = xmpp_family_of(af);
    if (af == RIB_AF_EVPN) {
        e->key.ethernet_tag = p->evpn.eth_tag;
        memcpy(e->key.mac, p->evpn.mac, 6);
    }
    if (p->addr.af) {
        e->key.prefix.version = p->addr.af;
        memcpy(e->key.prefix.addr, p->addr.b, p->addr.af == 4 ? 4 : 16);
        e->key.plen = p->plen;
        if (af == RIB_AF_EVPN && p->evpn.type == 2) {
            /* a MAC/IP route's address is a host address: the RIB keys it
             * without a length (RFC 7432), the item id says /32 or /128 */
            e->key.plen = p->addr.af == 4 ? 32 : 128;
        }
    }
    const struct rib_path *paths;
    size_t count, nbest = 0;
    struct rib_table *t = rib_instance_table(gi->inst, af);
    if (rib_table_lookup(t, p, &paths, &count, &nbest) != 0 || nbest == 0) {
        it->retract = true;
        return;
    }
    bool all_own = a != NULL;
    for (size_t i = 0; i < nbest; i++) {
        all_own &= a && paths[i].source == a->source && !(paths[i].flags & RIB_PATH_REWRITTEN);
        if (srcs) {
            gsrc_add(srcs, paths[i].source);
        }
    }
    if (all_own) {
        it->retract = true; /* the agent's own route: not sent back */
        return;
    }
    const struct rib_attr *b = paths[0].attr;
    for (size_t i = 0; i < nbest && e->next_hop_count < XMPP_MAX_NEXTHOPS; i++) {
        const struct rib_attr *x = paths[i].attr;
        if (x->nexthop.af != 4 && x->nexthop.af != 6) {
            continue;
        }
        struct xmpp_nexthop *nh = &e->next_hops[e->next_hop_count++];
        nh->address.version = x->nexthop.af;
        memcpy(nh->address.addr, x->nexthop.b, x->nexthop.af == 4 ? 4 : 16);
        nh->label = paths[i].label & XMPP_LABEL_MAX;
        if (x->flags & RIB_ATTR_HAS_VNI) {
            nh->has_vni = true;
            nh->vni = paths[i].vni & XMPP_VNI_MAX;
        }
        if (x->flags & RIB_ATTR_HAS_L3_LABEL) {
            nh->has_l3_label = true;
            nh->l3_label = paths[i].l3_label & XMPP_LABEL_MAX;
        }
        nh->encaps = encaps_of(x);
    }
    if (e->next_hop_count == 0) {
        it->retract = true;
        return;
    }
    if (b->vn) {
        snprintf(e->virtual_network, sizeof e->virtual_network, "%s", b->vn);
    }
    e->sequence_number = b->seq;
    for (size_t i = 0; i < b->sgids_len && i < XMPP_MAX_SECURITY_GROUPS; i++) {
        e->security_groups[e->security_group_count++] = b->sgids[i];
    }
    if (b->flags & RIB_ATTR_HAS_LOCAL_PREF) {
        e->has_local_preference = true;
        e->local_preference = b->local_pref;
    }
    if (b->flags & RIB_ATTR_HAS_MED) {
        e->has_med = true;
        e->med = b->med;
    }
    (void)g;
}

static void agent_send(struct xglue_agent *a, uint64_t now, struct xmpp_stanza *st)
{
    snprintf(st->from, sizeof st->from, "%s", XMPP_CONTROL_JID);
    snprintf(st->to, sizeof st->to, "%s", a->name);
    int rc = xmpp_session_send(a->session, now, st);
    if (rc != 0) {
        log_warn("xmpp", "cannot send to agent", "agent=%s err=\"%s\"", a->name, strata_strerror(rc));
    } else {
        a->st.messages_sent++;
    }
}

struct digest_ctx {
    struct xglue *g;
    struct ginst *gi;
    enum rib_family af;
    struct xmpp_route_item it;
};

static int gown_cmp(const void *x, const void *y)
{
    const struct gown *a = x, *b = y;
    return a->source < b->source ? -1 : a->source > b->source;
}

/* Adds the item of one prefix to gi's digest: to 'dg_all', and to the
 * 'dg_own' entry of the source whose own paths are all its best paths
 * (that agent is not sent the item: build_item()). */
static int digest_one(void *ctx, const struct rib_prefix *p, const struct rib_path *paths, size_t count, size_t nbest)
{
    (void)count;
    struct digest_ctx *d = ctx;
    struct ginst *gi = d->gi;
    if (nbest == 0) {
        return 0;
    }
    build_item(d->g, NULL, gi, d->af, p, &d->it, NULL);
    if (d->it.retract) {
        return 0;
    }
    uint64_t h = xmpp_route_item_hash(gi->name, &d->it.entry);
    gi->dg_all += h;
    bool sole = true;
    for (size_t i = 0; i < nbest; i++) {
        sole &= paths[i].source == paths[0].source && !(paths[i].flags & RIB_PATH_REWRITTEN);
    }
    if (!sole) {
        return 0;
    }
    struct gown *v = vec_grow(gi->dg_own, &gi->dg_own_cap, gi->dg_own_len, sizeof *v, 64);
    if (!v) {
        return RIB_ERR_NOMEM;
    }
    gi->dg_own = v;
    gi->dg_own[gi->dg_own_len++] = (struct gown){.source = paths[0].source, .sum = h};
    return 0;
}

/* Computes gi's digest unless this flush did already: one walk of its
 * tables for every agent, instead of one per agent. Returns 0 or
 * RIB_ERR_NOMEM (then nothing is cached). */
static int instance_digest(struct xglue *g, struct ginst *gi)
{
    if (gi->dg_serial == g->flush_serial) {
        return 0;
    }
    struct digest_ctx *d = calloc(1, sizeof *d);
    if (!d) {
        return RIB_ERR_NOMEM;
    }
    *d = (struct digest_ctx){.g = g, .gi = gi};
    gi->dg_all = 0;
    gi->dg_own_len = 0;
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        d->af = vrf_families[i];
        rc = rib_table_walk(rib_instance_table(gi->inst, vrf_families[i]), digest_one, d);
    }
    free(d);
    if (rc != 0) {
        gi->dg_serial = 0;
        return rc;
    }
    /* one entry per source, sorted for the lookups */
    if (gi->dg_own_len > 1) {
        qsort(gi->dg_own, gi->dg_own_len, sizeof *gi->dg_own, gown_cmp);
    }
    size_t out = 0;
    for (size_t i = 0; i < gi->dg_own_len; i++) {
        if (out > 0 && gi->dg_own[out - 1].source == gi->dg_own[i].source) {
            gi->dg_own[out - 1].sum += gi->dg_own[i].sum;
        } else {
            gi->dg_own[out++] = gi->dg_own[i];
        }
    }
    gi->dg_own_len = out;
    gi->dg_serial = g->flush_serial;
    return 0;
}

/* The digest of what 'a' would be sent of 'gi': computed in this flush by
 * instance_digest(). */
static uint64_t agent_digest(const struct ginst *gi, const struct xglue_agent *a)
{
    struct gown key = {.source = a->source};
    const struct gown *o =
        gi->dg_own_len ? bsearch(&key, gi->dg_own, gi->dg_own_len, sizeof key, gown_cmp) : NULL;
    return gi->dg_all - (o ? o->sum : 0);
}

uint64_t xglue_instance_digest(struct xglue *g, struct xglue_agent *a, const char *instance)
{
    struct ginst *gi = NULL;
    for (struct ginst *x = g->insts; x; x = x->next) {
        if (strcmp(x->name, instance) == 0) {
            gi = x;
        }
    }
    g->flush_serial++; /* the RIB may have changed since the last computation */
    if (!gi || instance_digest(g, gi) != 0) {
        return 0;
    }
    return agent_digest(gi, a);
}

/* The deferred subscriptions of 'a', once the hold is over: an instance
 * whose digest equals the agent's gets IN_SYNC and nothing else, any other
 * its whole table. */
static void resolve_deferred(struct xglue *g, struct xglue_agent *a, uint64_t now)
{
    while (a->defer_len > 0) {
        struct gdefer d = a->defer[--a->defer_len];
        if (instance_digest(g, d.gi) == 0 && agent_digest(d.gi, a) == d.digest) {
            struct xmpp_stanza st;
            memset(&st, 0, sizeof st);
            st.type = XMPP_STANZA_IN_SYNC;
            snprintf(st.instance, sizeof st.instance, "%s", d.gi->name);
            agent_send(a, now, &st);
            a->st.in_sync++;
        } else {
            a->st.resume_dumps++;
            if (dump_instance(a, d.gi) != 0) {
                log_warn("xmpp", "cannot dump an instance to a resuming agent", "agent=%s instance=%s", a->name,
                         d.gi->name);
            }
        }
    }
}

/* Fan-out: the items part of a message, encoded once per flush and sent
 * to every agent whose message has the same prefixes of the same table
 * and is not among the sources of their best paths (for such agents the
 * items are the same; the publisher's own routes are retracts for it). */
#define GSHARED_MAX 256
struct gshared {
    struct ginst *gi;
    enum rib_family af;
    struct qent *q; /* the message's prefixes */
    size_t n;
    struct gsrc srcs;
    struct buf xml;
};

struct gcache {
    struct gshared e[GSHARED_MAX];
    size_t n;
    size_t hits, misses;
};

static struct gshared *gcache_find(struct gcache *c, const struct xglue_agent *a, const struct qent *q, size_t n)
{
    for (size_t i = c->n; i-- > 0;) {
        struct gshared *e = &c->e[i];
        if (e->n == n && e->gi == q[0].gi && e->af == q[0].af && !gsrc_has(&e->srcs, a->source) &&
            memcmp(e->q, q, n * sizeof *q) == 0) {
            return e;
        }
    }
    return NULL;
}

static void gcache_clear(struct gcache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].q);
        buf_destroy(&c->e[i].xml);
    }
    c->n = 0;
}

/* One routes message to 'a': the 'n' prefixes 'q' (one instance and
 * family), from the cache when another agent got the same, else built
 * and (when it does not depend on 'a') encoded into the cache. */
static void send_items(struct xglue *g, struct xglue_agent *a, uint64_t now, const struct qent *q, size_t n,
                       struct xmpp_route_item *items, struct gcache *c)
{
    struct xmpp_stanza st;
    memset(&st, 0, sizeof st);
    st.type = XMPP_STANZA_ROUTES;
    snprintf(st.instance, sizeof st.instance, "%s", q[0].gi->name);
    st.family = xmpp_family_of(q[0].af);
    snprintf(st.from, sizeof st.from, "%s", XMPP_CONTROL_JID);
    snprintf(st.to, sizeof st.to, "%s", a->name);
    struct gshared *e = gcache_find(c, a, q, n);
    int rc;
    if (e) {
        c->hits++;
        rc = xmpp_session_send_routes(a->session, now, &st, e->xml.data, e->xml.size);
    } else {
        c->misses++;
        struct gsrc srcs = {.n = 0};
        for (size_t i = 0; i < n; i++) {
            build_item(g, a, q[i].gi, q[i].af, &q[i].p, &items[i], &srcs);
        }
        st.items = items;
        st.item_count = n;
        e = !gsrc_has(&srcs, a->source) && c->n < GSHARED_MAX ? &c->e[c->n] : NULL;
        if (e) {
            *e = (struct gshared){.gi = q[0].gi, .af = q[0].af, .n = n, .srcs = srcs, .q = malloc(n * sizeof *q)};
            buf_init(&e->xml, 0);
            if (e->q && xmpp_routes_items_encode(&e->xml, &st) == 0) {
                memcpy(e->q, q, n * sizeof *q);
                c->n++;
            } else {
                free(e->q);
                buf_destroy(&e->xml);
                e = NULL;
            }
        }
        rc = e ? xmpp_session_send_routes(a->session, now, &st, e->xml.data, e->xml.size)
               : xmpp_session_send(a->session, now, &st);
    }
    if (rc != 0) {
        log_warn("xmpp", "cannot send to agent", "agent=%s err=\"%s\"", a->name, strata_strerror(rc));
    } else {
        a->st.messages_sent++;
    }
}

size_t xglue_flush(struct xglue *g, uint64_t now)
{
    (void)rib_flush(g->rib);
    g->flush_serial++; /* the digests of the previous flush are stale */
    size_t sent = 0;
    if (!g->items) {
        g->items = calloc(XGLUE_ITEMS_PER_MESSAGE, sizeof *g->items);
    }
    if (!g->mq) {
        g->mq = calloc(XGLUE_ITEMS_PER_MESSAGE, sizeof *g->mq);
    }
    if (!g->cache) {
        g->cache = calloc(1, sizeof *g->cache);
    }
    struct xmpp_route_item *items = g->items;
    struct qent *mq = g->mq;
    struct gcache *cache = g->cache;
    if (!items || !mq || !cache) {
        return 0;
    }
    cache->hits = cache->misses = 0;
    /* the agents with work: taken as a batch; one whose work must wait
     * (End-of-RIB held) is listed again */
    struct xglue_agent **batch = g->pending;
    size_t batch_len = g->pending_len;
    g->pending = NULL;
    g->pending_len = g->pending_cap = 0;
    for (size_t b = 0; b < batch_len; b++) {
        struct xglue_agent *a = batch[b];
        a->pending = false;
        if (!a->session) {
            continue;
        }
        a->pending = true; /* a dump of a deferred subscription queues for 'a' itself */
        if (!g->eor_held) {
            resolve_deferred(g, a, now);
        }
        queue_dedupe(a);
        size_t i = 0;
        while (i < a->q_len) {
            struct ginst *gi = a->q[i].gi;
            enum rib_family af = a->q[i].af;
            size_t n = 0;
            while (i < a->q_len && n < XGLUE_ITEMS_PER_MESSAGE && a->q[i].gi == gi && a->q[i].af == af) {
                if (subscribed(a, gi) && !deferred(a, gi)) {
                    memcpy(&mq[n++], &a->q[i], sizeof *mq); /* padding too: compared bytewise */
                }
                i++;
            }
            if (n == 0) {
                continue;
            }
            send_items(g, a, now, mq, n, items, cache);
            a->st.items_sent += n;
            sent += n;
        }
        a->q_len = 0;
        if (a->eor_due && !g->eor_held) {
            struct xmpp_stanza st;
            memset(&st, 0, sizeof st);
            st.type = XMPP_STANZA_EOR_EVENT;
            agent_send(a, now, &st);
            a->eor_due = false;
            a->eor_sent = true;
        }
        a->pending = false; /* held work (End-of-RIB, deferred subscriptions) is listed at the release */
    }
    free(batch);
    g->shared_hits += cache->hits;
    g->shared_misses += cache->misses;
    gcache_clear(cache);
    return sent;
}

void xglue_shared_stats(const struct xglue *g, uint64_t *hits, uint64_t *misses)
{
    *hits = g->shared_hits;
    *misses = g->shared_misses;
}

void xglue_hold_eor(struct xglue *g, bool hold)
{
    bool release = g->eor_held && !hold;
    g->eor_held = hold;
    if (!release) {
        return;
    }
    bool any = false;
    for (struct xglue_agent *a = g->agents; a; a = a->next) {
        if (a->session && (a->eor_due || a->defer_len > 0)) {
            agent_pending(a); /* the held End-of-RIBs and digests at the next flush */
            any = true;
        }
    }
    if (any && g->notify) {
        g->notify(g->notify_arg);
    }
}

size_t xglue_agents_pending_eor(const struct xglue *g, size_t *connected)
{
    if (connected) {
        *connected = g->connected;
    }
    return g->waiting_eor;
}

int xglue_agent_stats(struct xglue *g, const char *name, struct xglue_agent_stats *st)
{
    struct xglue_agent *a = agent_find(g, name);
    if (!a) {
        return RIB_ERR_NOENT;
    }
    *st = a->st;
    return 0;
}

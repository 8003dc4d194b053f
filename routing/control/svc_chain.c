/* Service routing instances -> RIB leak rules with next-hop-self: see
 * svc_chain.h. */
#include "routing/control/svc_chain.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int copy_str(char *dst, size_t size, const char *src)
{
    if (!src || strlen(src) >= size) {
        return -1;
    }
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

bool svc_chain_is_service(const json_t *obj)
{
    return json_is_object(json_object_get(obj, "service_chain_information"));
}

int svc_chain_parse(const json_t *obj, struct svc_chain_ri *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    const json_t *fq = json_object_get(obj, "fq_name");
    const json_t *sci = json_object_get(obj, "service_chain_information");
    size_t used = 0, i;
    json_t *v;
    if (!json_is_array(fq) || json_array_size(fq) == 0) {
        snprintf(err, err_size, "service routing-instance without fq_name");
        return LIB_EINVAL;
    }
    json_array_foreach(fq, i, v) {
        const char *part = json_string_value(v);
        int n = part ? snprintf(out->name + used, sizeof out->name - used, "%s%s", i ? ":" : "", part) : -1;
        if (n <= (int)(i ? 1 : 0) || (size_t)n >= sizeof out->name - used) {
            snprintf(err, err_size, "service routing-instance fq_name empty, not text or too long");
            return LIB_EINVAL;
        }
        used += (size_t)n;
    }
    if (!json_is_object(sci) ||
        copy_str(out->peer, sizeof out->peer, json_string_value(json_object_get(sci, "routing_instance"))) != 0 ||
        copy_str(out->source, sizeof out->source,
                 json_string_value(json_object_get(sci, "source_routing_instance"))) != 0 ||
        !out->peer[0] || !out->source[0] || strcmp(out->peer, out->name) == 0) {
        snprintf(err, err_size, "%s: service_chain_information without usable routing instances", out->name);
        return LIB_EINVAL;
    }
    const char *si = json_string_value(json_object_get(sci, "service_instance"));
    const char *mode = json_string_value(json_object_get(sci, "service_mode"));
    if ((si && copy_str(out->service, sizeof out->service, si) != 0) ||
        (mode && copy_str(out->mode, sizeof out->mode, mode) != 0)) {
        snprintf(err, err_size, "%s: service instance or mode too long", out->name);
        return LIB_EINVAL;
    }
    json_array_foreach(json_object_get(sci, "service_interfaces"), i, v) {
        const char *uuid = json_string_value(json_object_get(v, "virtual_machine_interface"));
        const char *type = json_string_value(json_object_get(v, "interface_type"));
        if (!uuid) {
            continue;
        }
        if (out->ifaces_len == SVC_CHAIN_IFACES_MAX) {
            snprintf(err, err_size, "%s: more than %d service interfaces", out->name, SVC_CHAIN_IFACES_MAX);
            return LIB_EINVAL;
        }
        struct svc_chain_iface *f = &out->ifaces[out->ifaces_len];
        if (copy_str(f->uuid, sizeof f->uuid, uuid) != 0 ||
            (type && copy_str(f->type, sizeof f->type, type) != 0)) {
            snprintf(err, err_size, "%s: service interface uuid or type too long", out->name);
            return LIB_EINVAL;
        }
        out->ifaces_len++;
    }
    return 0;
}

json_t *svc_chain_ifaces(const json_t *indexes)
{
    json_t *out = json_object();
    const char *k;
    json_t *idx;
    if (!out) {
        return NULL;
    }
    json_object_foreach((json_t *)indexes, k, idx) {
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(json_object_get(idx, "virtual_router_index"), "interfaces"), i, f) {
            const char *uuid = json_string_value(json_object_get(f, "uuid"));
            const char *ri = json_string_value(json_object_get(f, "routing_instance"));
            json_t *addrs = json_object_get(f, "instance_ip_addresses");
            if (!uuid || !ri || json_object_get(out, uuid)) {
                continue; /* an interface hosted by several routers: the same entry */
            }
            json_t *e = json_pack("{s:s,s:o}", "routing_instance", ri, "addresses",
                                  json_is_array(addrs) ? json_incref(addrs) : json_array());
            if (!e || json_object_set_new(out, uuid, e) != 0) {
                json_decref(out);
                return NULL;
            }
        }
    }
    return out;
}

/* 'text' as a host prefix (/32 or /128); false when not an address. */
static bool host_prefix(const char *text, struct rib_prefix *p)
{
    memset(p, 0, sizeof *p);
    p->family = RIB_AF_INET;
    if (text && inet_pton(AF_INET, text, p->addr.b) == 1) {
        p->addr.af = 4;
        p->plen = 32;
        return true;
    }
    p->family = RIB_AF_INET6;
    if (text && inet_pton(AF_INET6, text, p->addr.b) == 1) {
        p->addr.af = 6;
        p->plen = 128;
        return true;
    }
    return false;
}

/* The candidate interfaces of 'c': those whose instance is X's network's
 * default instance or X itself, in the compiler's order. Calls 'fn' with
 * every address prefix, in X and then in the interface's own instance;
 * stops on non-zero. */
typedef int cand_fn(void *arg, const struct svc_chain_iface *f, const char *ri, const struct rib_prefix *p);

static int candidates(const struct svc_chain_ri *c, const json_t *ifaces, cand_fn *fn, void *arg)
{
    for (size_t i = 0; i < c->ifaces_len; i++) {
        const json_t *e = json_object_get(ifaces, c->ifaces[i].uuid);
        const char *ri = json_string_value(json_object_get(e, "routing_instance"));
        size_t j;
        json_t *a;
        if (!ri || (strcmp(ri, c->source) != 0 && strcmp(ri, c->name) != 0)) {
            continue;
        }
        json_array_foreach(json_object_get(e, "addresses"), j, a) {
            struct rib_prefix p;
            if (!host_prefix(json_string_value(a), &p)) {
                continue;
            }
            /* its own instance, then the service instance (where its
             * agent publishes it when the port is in it: index view) */
            int rc = fn(arg, &c->ifaces[i], c->name, &p);
            if (rc == 0 && strcmp(ri, c->name) != 0) {
                rc = fn(arg, &c->ifaces[i], ri, &p);
            }
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static struct rib_table *ri_table(struct rib *rib, const char *ri, enum rib_family af)
{
    struct rib_instance *inst = rib_instance_find(rib, ri);
    return inst ? rib_instance_table(inst, af) : NULL;
}

struct resolve {
    struct rib *rib;
    struct svc_leak *out;
};

static int resolve_one(void *arg, const struct svc_chain_iface *f, const char *ri, const struct rib_prefix *p)
{
    struct resolve *x = arg;
    struct rib_table *t = ri_table(x->rib, ri, p->family);
    const struct rib_path *paths;
    size_t count, nbest;
    if (!t || rib_table_lookup(t, p, &paths, &count, &nbest) != 0) {
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        const struct rib_path *q = &paths[i];
        const struct rib_source_info *si = rib_source_get(x->rib, q->source);
        if (q->primary || (q->flags & (RIB_PATH_REPLICATED | RIB_PATH_INFEASIBLE)) || !si ||
            si->type != RIB_SRC_XMPP || q->attr->nexthop.af == 0) {
            continue;
        }
        struct svc_leak *o = x->out;
        o->resolved = true;
        snprintf(o->iface, sizeof o->iface, "%s", f->uuid);
        snprintf(o->iface_ri, sizeof o->iface_ri, "%s", ri);
        o->iface_prefix = *p;
        o->cfg.nexthop = q->attr->nexthop;
        o->cfg.has_label = (q->attr->flags & RIB_ATTR_HAS_LABEL) != 0;
        o->cfg.label = o->cfg.has_label ? q->label : 0;
        return 1;
    }
    return 0;
}

void svc_leak_compute(struct rib *rib, const struct svc_chain_ri *c, const json_t *ifaces, struct svc_leak *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->from, sizeof out->from, "%s", c->peer);
    snprintf(out->to, sizeof out->to, "%s", c->name);
    out->cfg.families = RIB_LEAK_FAMILY(RIB_AF_INET) | RIB_LEAK_FAMILY(RIB_AF_INET6);
    struct resolve x = {.rib = rib, .out = out};
    (void)candidates(c, ifaces, resolve_one, &x);
}

struct watch {
    svc_watch_fn *fn;
    void *arg;
};

static int watch_one(void *arg, const struct svc_chain_iface *f, const char *ri, const struct rib_prefix *p)
{
    (void)f;
    struct watch *w = arg;
    char table[RI_CONFIG_NAME_MAX + 16];
    snprintf(table, sizeof table, "%s.%s.0", ri, p->family == RIB_AF_INET ? "inet" : "inet6");
    return w->fn(w->arg, table, p);
}

int svc_chain_watch(const struct svc_chain_ri *c, const json_t *ifaces, svc_watch_fn *fn, void *arg)
{
    struct watch w = {.fn = fn, .arg = arg};
    return candidates(c, ifaces, watch_one, &w);
}

/* ---- the sync ---- */

struct svc_sync {
    struct rib *rib;
    svc_sync_dirty_fn *dirty_fn;
    void *dirty_arg;
    bool dirty;
    struct svc_chain_ri *chains;
    size_t chains_len;
    json_t *indexes;   /* store key -> virtual-router-index object */
    json_t *ifaces;    /* svc_chain_ifaces(indexes), NULL when stale */
    struct svc_leak *leaks; /* what the RIB holds: resolved ones set, in chain order */
    size_t leaks_len;
    json_t *moves;     /* "<interface uuid>|<source instance>" -> service instance name */
    bool views_changed;
    json_t *watched;   /* "<table>|<prefix>" -> true */
    json_t *listeners; /* table name -> {"table": id, "listener": id} */
};

static void mark_dirty(struct svc_sync *s)
{
    if (!s->dirty) {
        s->dirty = true;
        if (s->dirty_fn) {
            s->dirty_fn(s->dirty_arg);
        }
    }
}

static void watch_key(const char *table, const struct rib_prefix *p, char *out, size_t size)
{
    char pfx[128];
    rib_prefix_format(p, pfx, sizeof pfx);
    snprintf(out, size, "%s|%s", table, pfx);
}

static void on_route(void *ctx, struct rib_table *t, const struct rib_prefix *p, const struct rib_path *best,
                     size_t nbest)
{
    (void)best;
    (void)nbest;
    struct svc_sync *s = ctx;
    char key[RI_CONFIG_NAME_MAX + 160];
    watch_key(rib_table_name(t), p, key, sizeof key);
    if (json_object_get(s->watched, key)) {
        mark_dirty(s);
    }
}

int svc_sync_create(struct rib *rib, svc_sync_dirty_fn *fn, void *arg, struct svc_sync **out)
{
    struct svc_sync *s = calloc(1, sizeof *s);
    if (!s) {
        return RIB_ERR_NOMEM;
    }
    s->rib = rib;
    s->dirty_fn = fn;
    s->dirty_arg = arg;
    s->indexes = json_object();
    s->watched = json_object();
    s->listeners = json_object();
    s->moves = json_object();
    if (!s->indexes || !s->watched || !s->listeners || !s->moves) {
        svc_sync_free(s);
        return RIB_ERR_NOMEM;
    }
    *out = s;
    return 0;
}

int svc_sync_attach(struct svc_sync *s, struct rib *rib)
{
    if (s->rib == rib) {
        return 0;
    }
    if (s->rib || !rib) {
        return RIB_ERR_INVAL;
    }
    s->rib = rib;
    mark_dirty(s);
    return 0;
}

/* The live table a listener entry was registered on, or NULL. */
static struct rib_table *listener_table(struct rib *rib, const char *name, const json_t *e)
{
    struct rib_table *t = rib_table_find(rib, name);
    json_int_t id = json_integer_value(json_object_get(e, "table"));
    return t && (json_int_t)rib_table_id(t) == id ? t : NULL;
}

static void listener_drop(struct svc_sync *s, const char *name, const json_t *e)
{
    struct rib_table *t = listener_table(s->rib, name, e);
    if (t && rib_listener_del(t, (uint32_t)json_integer_value(json_object_get(e, "listener"))) != 0) {
        return; /* already gone with its table */
    }
}

static void leak_clear(struct svc_sync *s, const struct svc_leak *l)
{
    struct rib_instance *from = rib_instance_find(s->rib, l->from);
    struct rib_instance *to = rib_instance_find(s->rib, l->to);
    if (from && to && rib_leak_clear(from, to) != 0) {
        return; /* the rule went with an instance */
    }
}

void svc_sync_free(struct svc_sync *s)
{
    if (!s) {
        return;
    }
    if (!s->rib) {
        s->leaks_len = 0;
        json_object_clear(s->listeners);
    }
    for (size_t i = 0; i < s->leaks_len; i++) {
        if (s->leaks[i].resolved) {
            leak_clear(s, &s->leaks[i]);
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(s->listeners, k, v) {
        listener_drop(s, k, v);
    }
    free(s->chains);
    free(s->leaks);
    json_decref(s->indexes);
    json_decref(s->ifaces);
    json_decref(s->watched);
    json_decref(s->listeners);
    json_decref(s->moves);
    free(s);
}

int svc_sync_set_instances(struct svc_sync *s, const json_t *instances, size_t *skipped)
{
    size_t n = 0, bad = 0, i;
    json_t *obj;
    json_array_foreach(instances, i, obj) {
        n += svc_chain_is_service(obj);
    }
    struct svc_chain_ri *chains = calloc(n ? n : 1, sizeof *chains);
    if (!chains) {
        return RIB_ERR_NOMEM;
    }
    size_t len = 0;
    json_array_foreach(instances, i, obj) {
        char err[160];
        if (!svc_chain_is_service(obj)) {
            continue;
        }
        if (svc_chain_parse(obj, &chains[len], err, sizeof err) != 0) {
            bad++;
            continue;
        }
        len++;
    }
    json_t *moves = json_object();
    for (size_t c = 0; moves && c < len; c++) {
        for (size_t k = 0; k < chains[c].ifaces_len; k++) {
            char key[SVC_CHAIN_UUID_MAX + RI_CONFIG_NAME_MAX + 2];
            snprintf(key, sizeof key, "%s|%s", chains[c].ifaces[k].uuid, chains[c].source);
            if (!json_object_get(moves, key) && json_object_set_new(moves, key, json_string(chains[c].name)) != 0) {
                json_decref(moves);
                moves = NULL;
            }
        }
    }
    if (!moves) {
        free(chains);
        return RIB_ERR_NOMEM;
    }
    if (!json_equal(moves, s->moves)) {
        s->views_changed = true;
    }
    json_decref(s->moves);
    s->moves = moves;
    free(s->chains);
    s->chains = chains;
    s->chains_len = len;
    if (skipped) {
        *skipped = bad;
    }
    return svc_sync_update(s);
}

int svc_sync_index(struct svc_sync *s, const char *key, const json_t *obj)
{
    if (key && !key[0]) {
        return 0;
    }
    if (!key) {
        if (json_object_size(s->indexes) == 0) {
            return 0;
        }
        json_object_clear(s->indexes);
    } else if (!obj) {
        if (json_object_del(s->indexes, key) != 0) {
            return 0; /* not known */
        }
    } else {
        const json_t *old = json_object_get(s->indexes, key);
        if (old && json_equal(old, obj)) {
            return 0;
        }
        /* kept by reference: the feed replaces objects, never edits them */
        if (json_object_set(s->indexes, key, (json_t *)obj) != 0) {
            return RIB_ERR_NOMEM;
        }
    }
    /* the interfaces are recomputed when a chain needs them: without a
     * chain an index change moves no leak (at 1,000 routers the rebuild
     * over every index was half the control role's CPU per port created) */
    json_decref(s->ifaces);
    s->ifaces = NULL;
    if (s->chains_len > 0) {
        mark_dirty(s);
    }
    return 0;
}

static bool leak_same(const struct svc_leak *a, const struct svc_leak *b)
{
    return a->resolved == b->resolved && strcmp(a->from, b->from) == 0 && strcmp(a->to, b->to) == 0 &&
           a->cfg.nexthop.af == b->cfg.nexthop.af &&
           memcmp(a->cfg.nexthop.b, b->cfg.nexthop.b, sizeof a->cfg.nexthop.b) == 0 &&
           a->cfg.has_label == b->cfg.has_label && a->cfg.label == b->cfg.label &&
           a->cfg.families == b->cfg.families;
}

struct watch_ctx {
    struct svc_sync *s;
    json_t *watched;
    json_t *tables;
};

static int watch_add(void *arg, const char *table, const struct rib_prefix *p)
{
    struct watch_ctx *w = arg;
    char key[RI_CONFIG_NAME_MAX + 160];
    watch_key(table, p, key, sizeof key);
    if (json_object_set_new(w->watched, key, json_true()) != 0 ||
        json_object_set_new(w->tables, table, json_true()) != 0) {
        return RIB_ERR_NOMEM;
    }
    return 0;
}

/* Listeners on exactly the tables of 'tables' that exist. */
static int listeners_follow(struct svc_sync *s, const json_t *tables)
{
    const char *k;
    json_t *v, *tmp;
    int rc = 0;
    json_object_foreach_safe(s->listeners, tmp, k, v) {
        if (!json_object_get(tables, k) || !listener_table(s->rib, k, v)) {
            listener_drop(s, k, v);
            json_object_del(s->listeners, k);
        }
    }
    json_object_foreach((json_t *)tables, k, v) {
        struct rib_table *t = rib_table_find(s->rib, k);
        uint32_t id;
        if (!t || json_object_get(s->listeners, k)) {
            continue;
        }
        int r = rib_listener_add(t, on_route, s, &id);
        json_t *e = r == 0 ? json_pack("{s:I,s:I}", "table", (json_int_t)rib_table_id(t), "listener", (json_int_t)id)
                           : NULL;
        if (!e || json_object_set_new(s->listeners, k, e) != 0) {
            if (r == 0 && rib_listener_del(t, id) != 0) {
                r = RIB_ERR_INVAL; /* just added: cannot be missing */
            }
            rc = rc ? rc : r ? r : RIB_ERR_NOMEM;
        }
    }
    return rc;
}

int svc_sync_update(struct svc_sync *s)
{
    s->dirty = false;
    if (!s->rib) {
        return 0;
    }
    if (s->chains_len > 0 && !s->ifaces && !(s->ifaces = svc_chain_ifaces(s->indexes))) {
        mark_dirty(s);
        return RIB_ERR_NOMEM;
    }
    struct svc_leak *want = calloc(s->chains_len ? s->chains_len : 1, sizeof *want);
    struct watch_ctx w = {.s = s, .watched = json_object(), .tables = json_object()};
    int rc = want && w.watched && w.tables ? 0 : RIB_ERR_NOMEM;
    for (size_t i = 0; i < s->chains_len && rc == 0; i++) {
        svc_leak_compute(s->rib, &s->chains[i], s->ifaces, &want[i]);
        struct rib_instance *from = rib_instance_find(s->rib, want[i].from);
        struct rib_instance *to = rib_instance_find(s->rib, want[i].to);
        if (!from || !to) {
            want[i].resolved = false; /* not configured (yet) */
        }
        rc = svc_chain_watch(&s->chains[i], s->ifaces, watch_add, &w);
    }
    if (rc != 0) {
        free(want);
        json_decref(w.watched);
        json_decref(w.tables);
        mark_dirty(s);
        return rc;
    }
    /* clear what is no longer wanted (or wanted differently), then set;
     * rules are found by their instance ('to': one rule each) */
    json_t *old_at = json_object(), *want_at = json_object();
    for (size_t i = 0; old_at && i < s->leaks_len; i++) {
        if (s->leaks[i].resolved && json_object_set_new(old_at, s->leaks[i].to, json_integer((json_int_t)i)) != 0) {
            json_decref(old_at);
            old_at = NULL;
        }
    }
    for (size_t j = 0; want_at && j < s->chains_len; j++) {
        if (want[j].resolved && json_object_set_new(want_at, want[j].to, json_integer((json_int_t)j)) != 0) {
            json_decref(want_at);
            want_at = NULL;
        }
    }
    if (!old_at || !want_at) {
        json_decref(old_at);
        json_decref(want_at);
        free(want);
        json_decref(w.watched);
        json_decref(w.tables);
        mark_dirty(s);
        return RIB_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->leaks_len; i++) {
        const struct svc_leak *old = &s->leaks[i];
        const json_t *j = json_object_get(want_at, old->to);
        if (old->resolved && !(j && leak_same(old, &want[json_integer_value(j)]))) {
            leak_clear(s, old);
        }
    }
    for (size_t j = 0; j < s->chains_len; j++) {
        const json_t *i = json_object_get(old_at, want[j].to);
        if (!want[j].resolved || (i && leak_same(&s->leaks[json_integer_value(i)], &want[j]))) {
            continue;
        }
        int r = rib_leak_set(rib_instance_find(s->rib, want[j].from), rib_instance_find(s->rib, want[j].to),
                             &want[j].cfg);
        if (r != 0) {
            want[j].resolved = false;
            rc = rc ? rc : r;
        }
    }
    json_decref(old_at);
    json_decref(want_at);
    free(s->leaks);
    s->leaks = want;
    s->leaks_len = s->chains_len;
    json_decref(s->watched);
    s->watched = w.watched;
    int lr = listeners_follow(s, w.tables);
    json_decref(w.tables);
    if (rc != 0 || lr != 0) {
        mark_dirty(s); /* try again */
    }
    return rc ? rc : lr;
}

bool svc_sync_dirty(const struct svc_sync *s)
{
    return s->dirty;
}

size_t svc_sync_chains(const struct svc_sync *s)
{
    return s->chains_len;
}

size_t svc_sync_leaks(const struct svc_sync *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->leaks_len; i++) {
        n += s->leaks[i].resolved;
    }
    return n;
}

json_t *svc_sync_json(const struct svc_sync *s)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < s->chains_len; i++) {
        const struct svc_chain_ri *c = &s->chains[i];
        const struct svc_leak *l = i < s->leaks_len ? &s->leaks[i] : NULL;
        json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:b}", "instance", c->name, "from", c->peer, "service", c->service,
                              "mode", c->mode, "resolved", l && l->resolved);
        if (e && l && l->resolved) {
            char nh[64] = "";
            (void)inet_ntop(l->cfg.nexthop.af == 6 ? AF_INET6 : AF_INET, l->cfg.nexthop.b, nh, sizeof nh);
            json_object_set_new(e, "interface", json_string(l->iface));
            json_object_set_new(e, "nexthop", json_string(nh));
            if (l->cfg.has_label) {
                json_object_set_new(e, "label", json_integer(l->cfg.label));
            }
        }
        if (!e || json_array_append_new(arr, e) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

json_t *svc_sync_index_view(const struct svc_sync *s, const json_t *obj)
{
    const json_t *vri = json_object_get(obj, "virtual_router_index");
    const json_t *ifs = json_object_get(vri, "interfaces");
    bool moves = false;
    size_t i;
    json_t *f;
    json_array_foreach(ifs, i, f) {
        char key[SVC_CHAIN_UUID_MAX + RI_CONFIG_NAME_MAX + 2];
        const char *uuid = json_string_value(json_object_get(f, "uuid"));
        const char *ri = json_string_value(json_object_get(f, "routing_instance"));
        snprintf(key, sizeof key, "%s|%s", uuid ? uuid : "", ri ? ri : "");
        moves = moves || (uuid && ri && json_object_get(s->moves, key));
    }
    if (!moves) {
        return json_incref((json_t *)obj);
    }
    json_t *view = json_deep_copy(obj);
    json_t *vvri = json_object_get(view, "virtual_router_index");
    json_t *ris = json_object_get(vvri, "routing_instances");
    if (!view || (!json_is_array(ris) && json_object_set_new(vvri, "routing_instances", json_array()) != 0)) {
        json_decref(view);
        return NULL;
    }
    ris = json_object_get(vvri, "routing_instances");
    json_array_foreach(json_object_get(vvri, "interfaces"), i, f) {
        char key[SVC_CHAIN_UUID_MAX + RI_CONFIG_NAME_MAX + 2];
        const char *uuid = json_string_value(json_object_get(f, "uuid"));
        const char *ri = json_string_value(json_object_get(f, "routing_instance"));
        snprintf(key, sizeof key, "%s|%s", uuid ? uuid : "", ri ? ri : "");
        const json_t *to = uuid && ri ? json_object_get(s->moves, key) : NULL;
        if (!to) {
            continue;
        }
        bool listed = false;
        size_t j;
        json_t *r;
        json_array_foreach(ris, j, r) {
            listed = listed || json_equal(r, to);
        }
        if (json_object_set_new(f, "routing_instance", json_copy((json_t *)to)) != 0 ||
            (!listed && json_array_append_new(ris, json_copy((json_t *)to)) != 0)) {
            json_decref(view);
            return NULL;
        }
    }
    /* sorted, as the compiler writes its lists */
    size_t n = json_array_size(ris);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    json_t *sorted = json_array();
    if (!v || !sorted) {
        free(v);
        json_decref(sorted);
        json_decref(view);
        return NULL;
    }
    for (size_t k = 0; k < n; k++) {
        v[k] = json_array_get(ris, k);
    }
    qsort(v, n, sizeof *v, str_cmp);
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        rc = json_array_append(sorted, v[k]);
    }
    free(v);
    if (rc != 0 || json_object_set_new(vvri, "routing_instances", sorted) != 0) {
        json_decref(view);
        return NULL;
    }
    return view;
}

bool svc_sync_views_changed(struct svc_sync *s)
{
    bool c = s->views_changed;
    s->views_changed = false;
    return c;
}

int svc_sync_index_foreach(const struct svc_sync *s, svc_index_fn *fn, void *arg)
{
    const char *k;
    json_t *v;
    json_object_foreach(s->indexes, k, v) {
        int rc = fn(arg, k, v);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

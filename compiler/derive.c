/* The compiler's image of the store and the planner of compiling
 * transactions (derive.h). The image holds the intent objects in a
 * compile_model, the derived objects and every object's mod revision in
 * JSON maps, the identifier keys, and the cluster version; the planner
 * compiles a change on it and states as compares everything the compile
 * relied on, so the transaction commits only if the store still agrees. */
#include "compiler/derive.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler/compile.h"
#include "lib/clock.h"
#include "store/cmd.h"

STRATA_ERR_DEFINE(derive, DERIVE_ERRORS)

/* Invariants: every uuid in 'model' has an entry in 'mods'; every key of
 * 'derived' ("<type>/<uuid>") has one in 'dmods'; 'rt' and 'vni' map the
 * decimal number to its owner. 'revision' only grows between resets. */
struct derive {
    pthread_mutex_t compiling; /* one compiling transaction of this process at a time */
    pthread_mutex_t mu;   /* guards everything below */
    pthread_cond_t moved; /* 'revision' grew */
    struct compile_model *model;
    json_t *mods;    /* intent uuid -> mod revision */
    json_t *derived; /* "<type>/<uuid>" -> derived object */
    json_t *owners;  /* owner uuid -> {"<type>/<uuid>": true}: 'derived' by owner */
    json_t *dmods;   /* "<type>/<uuid>" -> mod revision */
    json_t *rt;      /* "<n>" -> owner */
    json_t *vni;     /* "<n>" -> owner */
    struct compile_alloc *ids; /* the pools of 'rt' and 'vni', kept in step with them
                                * so a plan need not load a copy (O(numbers));
                                * NULL: rebuilt from them by the next plan */
    json_t *ids_resv; /* during a plan: the reservations claimed on 'ids' */
    char cv[32];     /* value of /c/cv, "" when absent */
    uint64_t rel_mod[2]; /* mod revision of /c/id/rel/rt and /c/id/rel/vni, 0: absent */
    json_t *keyrev;  /* key -> revision of the state applied (puts and deletes) */
    json_t *resv;    /* identifiers taken by plans in flight in this process:
                      * "<pool>\x1f<owner>" -> [number, plan token]; kept
                      * across reloads, dropped by derive_unreserve() */
    uint64_t tokens; /* last plan token handed out */
    uint64_t revision;
    int vmin, vmax;  /* rules versions this process compiles (derive_set_versions()) */
    json_t *pend;    /* pending key -> [mod revision, [source uuid, ...]] */
    size_t budget_cmps, budget_ops; /* derive_set_budget(); 0: the store's caps */
    bool ready, broken, watched;
};

static const char *const input_types[] = {
    "virtual-network", "network-policy", "security-group",  "project",
    "global-system-config", "service-instance", "logical-router",
    /* version 2 */
    "service-template", "port-tuple", "virtual-machine-interface", "instance-ip",
    "floating-ip", "virtual-router",
    /* version 3 */
    "global-vrouter-config",
};
static const char *const derived_types[] = {"routing-instance",    "route-target",
                                            "access-control-list", "floating-ip-mapping",
                                            "virtual-router-index", COMPILE_EGC_TYPE};

static const char *const prefixes[] = {
    "/c/o/virtual-network/", "/c/o/network-policy/", "/c/o/security-group/",
    "/c/o/project/", "/c/o/global-system-config/", "/c/o/service-instance/",
    "/c/o/logical-router/", "/c/o/service-template/", "/c/o/port-tuple/",
    "/c/o/virtual-machine-interface/", "/c/o/instance-ip/", "/c/o/floating-ip/",
    "/c/o/virtual-router/", "/c/o/routing-instance/", "/c/o/route-target/",
    "/c/o/access-control-list/", "/c/o/floating-ip-mapping/", "/c/o/virtual-router-index/",
    "/c/o/global-vrouter-config/", "/c/o/" COMPILE_EGC_TYPE "/",
    "/c/id/", DERIVE_KEY_CV, DERIVE_KEY_PEND,
};

static bool in_list(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i], s) == 0) {
            return true;
        }
    }
    return false;
}

bool derive_type_derived(const char *type)
{
    return type && in_list(derived_types, sizeof derived_types / sizeof derived_types[0], type);
}

bool derive_type_input(const char *type)
{
    return type && (in_list(input_types, sizeof input_types / sizeof input_types[0], type) ||
                    derive_type_derived(type));
}

const char *const *derive_prefixes(size_t *len)
{
    *len = sizeof prefixes / sizeof prefixes[0];
    return prefixes;
}

void derive_id_key(const char *pool, unsigned long n, char *out, size_t size)
{
    snprintf(out, size, DERIVE_ID_FMT, pool, n);
}

int derive_id_parse(const char *key, size_t key_size, const char **pool, unsigned long *n)
{
    static const char *const pools[] = {"rt", "vni"};
    for (size_t i = 0; i < 2; i++) {
        char pre[16];
        int pl = snprintf(pre, sizeof pre, "/c/id/%s/", pools[i]);
        if (key_size != (size_t)pl + 10 || memcmp(key, pre, (size_t)pl) != 0) {
            continue;
        }
        unsigned long v = 0;
        for (size_t j = (size_t)pl; j < key_size; j++) {
            if (key[j] < '0' || key[j] > '9') {
                return -1;
            }
            v = v * 10 + (unsigned long)(key[j] - '0');
        }
        *pool = pools[i];
        *n = v;
        return 0;
    }
    return -1;
}

static void image_clear(struct derive *d)
{
    compile_model_free(d->model);
    d->model = NULL;
    json_decref(d->mods);
    json_decref(d->derived);
    json_decref(d->dmods);
    json_decref(d->rt);
    json_decref(d->vni);
    json_decref(d->keyrev);
    json_decref(d->pend);
    json_decref(d->owners);
    d->mods = d->derived = d->dmods = d->rt = d->vni = d->keyrev = d->pend = d->owners = NULL;
    compile_alloc_free(d->ids);
    d->ids = NULL;
    json_decref(d->ids_resv);
    d->ids_resv = NULL;
}

static int image_init(struct derive *d)
{
    d->mods = json_object();
    d->derived = json_object();
    d->dmods = json_object();
    d->rt = json_object();
    d->vni = json_object();
    d->keyrev = json_object();
    d->pend = json_object();
    d->owners = json_object();
    d->cv[0] = '\0';
    d->rel_mod[0] = d->rel_mod[1] = 0;
    if (compile_model_create(&d->model) != 0 || !d->mods || !d->derived || !d->dmods || !d->rt ||
        !d->vni || !d->keyrev || !d->pend || !d->owners) {
        image_clear(d);
        return DERIVE_ENOMEM;
    }
    return 0;
}

int derive_create(struct derive **out)
{
    struct derive *d = calloc(1, sizeof *d);
    if (!d) {
        return DERIVE_ENOMEM;
    }
    d->resv = json_object();
    d->vmin = DERIVE_VERSION_MIN;
    d->vmax = DERIVE_VERSION;
    if (!d->resv || image_init(d) != 0) {
        json_decref(d->resv);
        free(d);
        return DERIVE_ENOMEM;
    }
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->compiling, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->moved, &ca);
    pthread_condattr_destroy(&ca);
    *out = d;
    return 0;
}

void derive_free(struct derive *d)
{
    if (!d) {
        return;
    }
    image_clear(d);
    json_decref(d->resv);
    pthread_cond_destroy(&d->moved);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->compiling);
    free(d);
}

void derive_reset(struct derive *d)
{
    pthread_mutex_lock(&d->mu);
    image_clear(d);
    d->broken = image_init(d) != 0;
    d->ready = false;
    d->revision = 0;
    pthread_mutex_unlock(&d->mu);
}

/* Drops derived object 'key' from its owner's entry in d->owners. */
static void owner_unindex(struct derive *d, const char *key)
{
    const char *owner = compile_owner(json_object_get(d->derived, key));
    json_t *set = owner ? json_object_get(d->owners, owner) : NULL;
    if (set) {
        json_object_del(set, key);
        if (json_object_size(set) == 0) {
            json_object_del(d->owners, owner);
        }
    }
}

/* Adds derived object 'key' ('obj') to its owner's entry in d->owners. */
static int owner_index(struct derive *d, const char *key, const json_t *obj)
{
    const char *owner = compile_owner(obj);
    if (!owner) {
        return 0;
    }
    json_t *set = json_object_get(d->owners, owner);
    if (!set && (!(set = json_object()) || json_object_set_new(d->owners, owner, set) != 0)) {
        return DERIVE_ENOMEM;
    }
    return json_object_set_new(set, key, json_true()) == 0 ? 0 : DERIVE_ENOMEM;
}

/* The derived objects the sources 'subset' own, as compile_owned_by()
 * gives them, from the owner index (O(what they own), not O(derived)). */
static json_t *owned_by(const struct derive *d, const json_t *subset)
{
    json_t *res = json_object();
    const char *src, *k;
    json_t *v, *x;
    json_object_foreach((json_t *)subset, src, v) {
        json_object_foreach(json_object_get(d->owners, src), k, x) {
            json_t *obj = json_object_get(d->derived, k);
            if (res && obj && json_object_set(res, k, obj) != 0) {
                json_decref(res);
                res = NULL;
            }
        }
    }
    return res;
}

/* Applies one key state; d->mu held. */
static int apply_locked(struct derive *d, const char *key, const uint8_t *value, size_t size,
                        uint64_t mod, bool deleted)
{
    if (!d->model) {
        return DERIVE_ENOMEM;
    }
    if (strcmp(key, DERIVE_KEY_CV) == 0) {
        snprintf(d->cv, sizeof d->cv, "%.*s", deleted ? 0 : (int)(size < 31 ? size : 31),
                 (const char *)value);
        return 0;
    }
    if (strncmp(key, DERIVE_KEY_PEND, strlen(DERIVE_KEY_PEND)) == 0) {
        if (deleted) {
            json_object_del(d->pend, key);
            return 0;
        }
        json_t *list = json_loadb((const char *)value, size, 0, NULL);
        json_t *e = json_is_array(list) ? json_pack("[I,o]", (json_int_t)mod, list) : NULL;
        if (!e) {
            json_decref(list);
            return COMPILE_EINVAL;
        }
        return json_object_set_new(d->pend, key, e) ? DERIVE_ENOMEM : 0;
    }
    const char *pool;
    unsigned long n;
    if (strncmp(key, "/c/id/rel/", 10) == 0) {
        int i = strcmp(key + 10, "rt") == 0 ? 0 : strcmp(key + 10, "vni") == 0 ? 1 : -1;
        if (i >= 0) {
            d->rel_mod[i] = deleted ? 0 : mod;
        }
        return 0;
    }
    if (derive_id_parse(key, strlen(key), &pool, &n) == 0) {
        bool rt = strcmp(pool, "rt") == 0;
        json_t *map = rt ? d->rt : d->vni;
        char num[24];
        snprintf(num, sizeof num, "%lu", n);
        if (deleted) {
            json_object_del(map, num);
            if (d->ids) {
                compile_alloc_unset(d->ids, rt, n);
            }
            return 0;
        }
        json_t *owner = json_stringn((const char *)value, size);
        if (d->ids && (!owner || compile_alloc_set(d->ids, rt, json_string_value(owner), n) != 0)) {
            compile_alloc_free(d->ids); /* rebuilt from the maps by the next plan */
            d->ids = NULL;
        }
        return owner && json_object_set_new(map, num, owner) == 0 ? 0 : DERIVE_ENOMEM;
    }
    if (strncmp(key, "/c/o/", 5) != 0) {
        return 0;
    }
    const char *type = key + 5, *slash = strchr(type, '/');
    char tname[64];
    if (!slash || (size_t)(slash - type) >= sizeof tname) {
        return 0;
    }
    memcpy(tname, type, (size_t)(slash - type));
    tname[slash - type] = '\0';
    const char *uuid = slash + 1;
    if (!derive_type_input(tname)) {
        return 0;
    }
    bool dv = derive_type_derived(tname);
    if (deleted) {
        if (dv) {
            owner_unindex(d, type);
            json_object_del(d->derived, type);
            json_object_del(d->dmods, type);
        } else {
            compile_model_remove(d->model, uuid);
            json_object_del(d->mods, uuid);
        }
        return 0;
    }
    json_t *obj = json_loadb((const char *)value, size, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return COMPILE_EINVAL;
    }
    int rc;
    if (dv) {
        owner_unindex(d, type);
        int irc = owner_index(d, type, obj);
        rc = json_object_set_new(d->derived, type, obj) == 0 && irc == 0 &&
                     json_object_set_new(d->dmods, type, json_integer((json_int_t)mod)) == 0
                 ? 0
                 : DERIVE_ENOMEM;
    } else {
        rc = compile_model_put(d->model, tname, obj);
        json_decref(obj);
        if (rc == 0 && json_object_set_new(d->mods, uuid, json_integer((json_int_t)mod)) != 0) {
            rc = DERIVE_ENOMEM;
        }
    }
    return rc;
}

int derive_apply(struct derive *d, const uint8_t *key, size_t key_size, const uint8_t *value,
                 size_t size, uint64_t mod, bool deleted)
{
    char k[512];
    if (key_size >= sizeof k) {
        return 0; /* longer than any key the image follows */
    }
    memcpy(k, key, key_size);
    k[key_size] = '\0';
    pthread_mutex_lock(&d->mu);
    /* states arrive from the feeder and from this process's own commits,
     * not necessarily in order: a key never goes back to an older state,
     * and a state it already has is not parsed again (a key's state at a
     * revision is one value: the watch repeats every write this process
     * applied at its commit, compile_end() in graph.c) */
    int rc = 0;
    bool followed = false;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0] && !followed; i++) {
        followed = strncmp(k, prefixes[i], strlen(prefixes[i])) == 0;
    }
    if (!followed) {
        pthread_mutex_unlock(&d->mu);
        return 0;
    }
    json_t *seen = d->keyrev ? json_object_get(d->keyrev, k) : NULL;
    if (seen && (uint64_t)json_integer_value(seen) >= mod) {
        pthread_mutex_unlock(&d->mu);
        return 0;
    }
    if (d->keyrev && json_object_set_new(d->keyrev, k, json_integer((json_int_t)mod))) {
        rc = DERIVE_ENOMEM;
    }
    rc = rc ? rc : apply_locked(d, k, value, size, mod, deleted);
    if (rc) {
        d->broken = true;
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

void derive_caught_up(struct derive *d, uint64_t revision)
{
    pthread_mutex_lock(&d->mu);
    if (revision > d->revision) {
        d->revision = revision;
    }
    d->ready = true;
    pthread_cond_broadcast(&d->moved);
    pthread_mutex_unlock(&d->mu);
}

void derive_set_watched(struct derive *d, bool watched)
{
    pthread_mutex_lock(&d->mu);
    d->watched = watched;
    pthread_cond_broadcast(&d->moved);
    pthread_mutex_unlock(&d->mu);
}

bool derive_watched(const struct derive *d)
{
    struct derive *m = (struct derive *)d;
    pthread_mutex_lock(&m->mu);
    bool w = m->watched;
    pthread_mutex_unlock(&m->mu);
    return w;
}

bool derive_broken(const struct derive *d)
{
    struct derive *m = (struct derive *)d;
    pthread_mutex_lock(&m->mu);
    bool b = m->broken;
    pthread_mutex_unlock(&m->mu);
    return b;
}

bool derive_ready(const struct derive *d)
{
    struct derive *m = (struct derive *)d;
    pthread_mutex_lock(&m->mu);
    bool r = m->ready && !m->broken;
    pthread_mutex_unlock(&m->mu);
    return r;
}

uint64_t derive_revision(const struct derive *d)
{
    struct derive *m = (struct derive *)d;
    pthread_mutex_lock(&m->mu);
    uint64_t r = m->revision;
    pthread_mutex_unlock(&m->mu);
    return r;
}

bool derive_wait(struct derive *d, uint64_t revision, unsigned timeout_ms)
{
    struct timespec until = clock_deadline_ms(timeout_ms);
    pthread_mutex_lock(&d->mu);
    while (d->watched && !(d->ready && d->revision >= revision)) {
        if (pthread_cond_timedwait(&d->moved, &d->mu, &until) == ETIMEDOUT) {
            break;
        }
    }
    bool ok = d->ready && d->revision >= revision;
    pthread_mutex_unlock(&d->mu);
    return ok;
}

int derive_set_versions(struct derive *d, int min, int max)
{
    if (min < DERIVE_VERSION_MIN || max > DERIVE_VERSION || min > max) {
        return DERIVE_EVERSION;
    }
    pthread_mutex_lock(&d->mu);
    d->vmin = min;
    d->vmax = max;
    pthread_mutex_unlock(&d->mu);
    return 0;
}

void derive_versions(const struct derive *d, int *min, int *max)
{
    struct derive *m = (struct derive *)d;
    pthread_mutex_lock(&m->mu);
    *min = m->vmin;
    *max = m->vmax;
    pthread_mutex_unlock(&m->mu);
}

int derive_cluster_version(const struct derive *d)
{
    struct derive *m = (struct derive *)d;
    pthread_mutex_lock(&m->mu);
    int v = m->cv[0] ? atoi(m->cv) : 0;
    pthread_mutex_unlock(&m->mu);
    return v;
}

/* The image whose compiling lock this thread holds (NULL: none); a
 * thread holds at most one (a graph compiles with one image). */
static _Thread_local const struct derive *held_here;

void derive_lock(struct derive *d)
{
    pthread_mutex_lock(&d->compiling);
    held_here = d;
}

void derive_unlock(struct derive *d)
{
    held_here = NULL;
    pthread_mutex_unlock(&d->compiling);
}

bool derive_held(const struct derive *d)
{
    return d && held_here == d;
}

bool derive_type_serial(const char *type)
{
    static const char *const free_types[] = {"virtual-machine-interface", "instance-ip",
                                             "floating-ip", "virtual-router"};
    return derive_type_input(type) &&
           !in_list(free_types, sizeof free_types / sizeof free_types[0], type);
}

/* ---- plans ---- */

void derive_plan_init(struct derive_plan *p)
{
    memset(p, 0, sizeof *p);
}

static void plan_clear(struct derive_plan *p)
{
    for (size_t i = 0; i < p->ncmps; i++) {
        free(p->cmps[i].key);
        free(p->cmps[i].value);
    }
    for (size_t i = 0; i < p->nops; i++) {
        free(p->ops[i].key);
        free(p->ops[i].value);
    }
    p->ncmps = p->nops = 0;
    p->sources = p->puts = p->deletes = p->deferred = 0;
    p->token = 0;
    p->serial = false;
}

void derive_plan_destroy(struct derive_plan *p)
{
    plan_clear(p);
    free(p->cmps);
    free(p->ops);
    derive_plan_init(p);
}

void derive_set_budget(struct derive *d, size_t cmps, size_t ops)
{
    pthread_mutex_lock(&d->mu);
    d->budget_cmps = cmps;
    d->budget_ops = ops;
    pthread_mutex_unlock(&d->mu);
}

bool derive_pending(const struct derive *d)
{
    struct derive *m = (struct derive *)d;
    pthread_mutex_lock(&m->mu);
    bool r = m->pend && json_object_size(m->pend) > 0;
    pthread_mutex_unlock(&m->mu);
    return r;
}

/* Takes ownership of 'key' and 'value' (either may be NULL: out of memory). */
static int plan_cmp(struct derive_plan *p, uint8_t target, uint8_t op, char *key, char *value,
                    uint64_t number)
{
    if (!key || (target == STORE_CMP_VALUE && !value) ||
        (p->ncmps == p->capcmps &&
         !(p->cmps = reallocarray(p->cmps, p->capcmps = p->capcmps ? 2 * p->capcmps : 16,
                                  sizeof *p->cmps)))) {
        free(key);
        free(value);
        return DERIVE_ENOMEM;
    }
    p->cmps[p->ncmps++] = (struct derive_cmp){target, op, key, value, number};
    return 0;
}

static int plan_op(struct derive_plan *p, bool del, char *key, char *value)
{
    if (!key || (!del && !value) ||
        (p->nops == p->capops &&
         !(p->ops = reallocarray(p->ops, p->capops = p->capops ? 2 * p->capops : 16,
                                 sizeof *p->ops)))) {
        free(key);
        free(value);
        return DERIVE_ENOMEM;
    }
    p->ops[p->nops++] = (struct derive_op){del, key, value};
    return 0;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, f);
    int n = vasprintf(&s, f, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* fq_name elements joined by 'sep' (malloc'd). */
static char *fq_join(const json_t *fq, char sep)
{
    size_t n = json_array_size(fq), size = 1;
    for (size_t i = 0; i < n; i++) {
        size += strlen(json_string_value(json_array_get(fq, i)) ?: "") + 1;
    }
    char *s = malloc(size), *w = s;
    if (!s) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *e = json_string_value(json_array_get(fq, i)) ?: "";
        size_t el = strlen(e);
        if (i) {
            *w++ = sep;
        }
        memcpy(w, e, el);
        w += el;
    }
    *w = '\0';
    return s;
}

/* The graph's fq index key of ('type', 'fq'): /c/f/<type>/<elements 0x1f>. */
static char *fq_key(const char *type, const json_t *fq)
{
    char *j = fq_join(fq, '\x1f');
    char *k = j ? fmt("/c/f/%s/%s", type, j) : NULL;
    free(j);
    return k;
}

static uint64_t mod_of(const json_t *map, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(map, key));
}

/* Forgets the long-lived pools (rebuilt by the next plan). */
static void ids_drop(struct derive *d)
{
    compile_alloc_free(d->ids); /* a journal running on it goes with it */
    d->ids = NULL;
    json_decref(d->ids_resv);
    d->ids_resv = NULL;
}

/* The identifier state as compile_alloc_load() reads it; d->mu held. */
static json_t *ids_state(const struct derive *d)
{
    json_t *st = json_pack("{s:{},s:{}}", "route_target", "vni");
    const json_t *maps[2] = {d->rt, d->vni};
    for (int i = 0; st && i < 2; i++) {
        json_t *dst = json_object_get(st, i ? "vni" : "route_target");
        const char *num;
        json_t *owner;
        json_object_foreach((json_t *)maps[i], num, owner) {
            if (json_object_set_new(dst, json_string_value(owner),
                                    json_integer(strtoll(num, NULL, 10)))) {
                json_decref(st);
                return NULL;
            }
        }
    }
    return st;
}

/* The identifier state with this process's reservations added (those
 * whose owner or number the image now shows committed are left out, they
 * are settled); d->mu held. */
static json_t *ids_state_reserved(const struct derive *d)
{
    json_t *st = ids_state(d);
    const char *k;
    json_t *v;
    if (!st) {
        return NULL;
    }
    json_object_foreach(d->resv, k, v) {
        const char *sep = strchr(k, '\x1f');
        bool rt = strncmp(k, "rt\x1f", 3) == 0;
        json_t *pool = json_object_get(st, rt ? "route_target" : "vni");
        char num[24];
        json_int_t n = json_integer_value(json_array_get(v, 0));
        snprintf(num, sizeof num, "%lld", (long long)n);
        if (!sep || json_object_get(pool, sep + 1) || json_object_get(rt ? d->rt : d->vni, num)) {
            continue;
        }
        bool taken = false;
        const char *o;
        json_t *x;
        json_object_foreach(pool, o, x) {
            taken |= json_integer_value(x) == n;
        }
        if (!taken && json_object_set_new(pool, sep + 1, json_integer(n))) {
            json_decref(st);
            return NULL;
        }
    }
    return st;
}

/* Starts a plan on the image's long-lived pools (d->ids, built from the
 * maps when missing): a journal on them, then this process's reservations
 * claimed on top as ids_state_reserved() adds them (an owner the pools
 * already know, or a number they hold, is left out). The journal's
 * reservation part is kept in d->ids_resv for ids_end(). d->mu held. */
static int ids_begin(struct derive *d)
{
    if (!d->ids) {
        json_t *st = ids_state(d);
        int rc = st ? compile_alloc_create(&d->ids) : DERIVE_ENOMEM;
        rc = rc ? rc : compile_alloc_load(d->ids, st);
        json_decref(st);
        if (rc) {
            compile_alloc_free(d->ids);
            d->ids = NULL;
            return rc;
        }
    }
    if (compile_alloc_begin(d->ids) != 0) {
        return DERIVE_ENOMEM;
    }
    const char *k;
    json_t *v;
    json_object_foreach(d->resv, k, v) {
        const char *sep = strchr(k, '\x1f');
        bool rt = strncmp(k, "rt\x1f", 3) == 0;
        json_int_t n = json_integer_value(json_array_get(v, 0));
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)n);
        if (!sep || n <= 0 ||
            (rt ? compile_alloc_rt(d->ids, sep + 1) : compile_alloc_vni(d->ids, sep + 1)) != 0 ||
            json_object_get(rt ? d->rt : d->vni, num)) {
            continue;
        }
        int rc = compile_alloc_claim(d->ids, rt, sep + 1, (uint64_t)n);
        if (rc == COMPILE_ENOMEM) {
            ids_drop(d);
            return DERIVE_ENOMEM;
        }
    }
    json_t *then = NULL;
    json_decref(d->ids_resv);
    d->ids_resv = NULL;
    if (compile_alloc_changes(d->ids, &then, &d->ids_resv) != 0) {
        ids_drop(d);
        return DERIVE_ENOMEM;
    }
    json_decref(then); /* reservations only add owners the image lacks */
    return 0;
}

/* Ends a plan begun by ids_begin(): '*image' gets the image's numbers of
 * every owner the plan (or a reservation) changed, '*before' the same
 * with the reservations, '*after' what the compile left; owners not
 * changed are in none of them (plan_ids() and reserve() look only at
 * differences). The pools are rolled back. d->mu held. */
static int ids_end(struct derive *d, json_t **image, json_t **before, json_t **after)
{
    *image = *before = *after = NULL;
    int rc = compile_alloc_changes(d->ids, image, after);
    if (rc == 0) {
        *before = json_deep_copy(*image);
        static const char *const pools[2] = {"route_target", "vni"};
        for (int i = 0; i < 2 && *before && rc == 0; i++) {
            rc = json_object_update(json_object_get(*before, pools[i]),
                                    json_object_get(d->ids_resv, pools[i]))
                     ? DERIVE_ENOMEM
                     : 0;
        }
        rc = rc ? rc : *before ? 0 : DERIVE_ENOMEM;
    }
    if (compile_alloc_rollback(d->ids) != 0) {
        rc = DERIVE_ENOMEM;
        ids_drop(d);
    }
    json_decref(d->ids_resv);
    d->ids_resv = NULL;
    if (rc) {
        json_decref(*image);
        json_decref(*before);
        json_decref(*after);
        *image = *before = *after = NULL;
    }
    return rc;
}

/* Records the allocations of 'after' absent from 'before' as reserved by
 * plan 'token'; d->mu held. */
static int reserve(struct derive *d, const json_t *before, const json_t *after, uint64_t token)
{
    static const char *const pools[2][2] = {{"route_target", "rt"}, {"vni", "vni"}};
    for (int i = 0; i < 2; i++) {
        const json_t *b = json_object_get(before, pools[i][0]);
        const char *owner;
        json_t *v;
        json_object_foreach(json_object_get(after, pools[i][0]), owner, v) {
            json_t *was = json_object_get(b, owner);
            if (was && json_integer_value(was) == json_integer_value(v)) {
                continue;
            }
            char *key = fmt("%s\x1f%s", pools[i][1], owner);
            json_t *e = json_pack("[I,I]", json_integer_value(v), (json_int_t)token);
            int rc = key && e && json_object_set_new(d->resv, key, e) == 0 ? 0 : DERIVE_ENOMEM;
            if (rc && !key) {
                json_decref(e);
            }
            free(key);
            if (rc) {
                return rc;
            }
        }
    }
    return 0;
}

static void unreserve_locked(struct derive *d, uint64_t token)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(d->resv, tmp, k, v) {
        if ((uint64_t)json_integer_value(json_array_get(v, 1)) == token) {
            json_object_del(d->resv, k);
        }
    }
}

void derive_unreserve(struct derive *d, uint64_t token)
{
    if (!token) {
        return;
    }
    pthread_mutex_lock(&d->mu);
    unreserve_locked(d, token);
    pthread_mutex_unlock(&d->mu);
}

/* Pipelined plans (graph_kv.send): plans of this process still in flight
 * were sent before this one and reach the store first, and their numbers
 * are reserved, so this plan took numbers above some of them. Should one
 * of those be refused, this plan must not commit (a hole below a committed
 * number is not what a serial compile gives): CREATE != 0 on the key of
 * every number reserved by another plan in pool 'pool' ("rt" or "vni")
 * that is below the highest this plan takes and that the image does not
 * show committed. With no plan in flight (the serial path) it adds
 * nothing. d->mu held. */
static int plan_predecessors(struct derive_plan *p, const struct derive *d, const char *pool,
                             const json_t *before, const json_t *after)
{
    json_int_t top = 0;
    const char *owner;
    json_t *v;
    json_object_foreach((json_t *)after, owner, v) {
        json_t *was = json_object_get(before, owner);
        if ((!was || json_integer_value(was) != json_integer_value(v)) && json_integer_value(v) > top) {
            top = json_integer_value(v);
        }
    }
    size_t plen = strlen(pool);
    const char *k;
    json_object_foreach(d->resv, k, v) {
        json_int_t n = json_integer_value(json_array_get(v, 0));
        char num[24], key[64];
        snprintf(num, sizeof num, "%lld", (long long)n);
        if (strncmp(k, pool, plen) != 0 || k[plen] != '\x1f' || n <= 0 || n >= top ||
            json_object_get(strcmp(pool, "rt") == 0 ? d->rt : d->vni, num)) {
            continue;
        }
        derive_id_key(pool, (unsigned long)n, key, sizeof key);
        int rc = plan_cmp(p, STORE_CMP_CREATE, STORE_CMP_NE, strdup(key), NULL, 0);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

/* Compares and writes for the identifier changes from 'before' to 'after'
 * (both as compile_alloc_dump() writes). An allocation compares CREATE ==
 * 0 on its key (no one else took the number) and MOD of the pool's release
 * marker /c/id/rel/<pool> (no number was released since the image looked,
 * so the number taken is still the lowest free); a release deletes its key
 * and rewrites the marker. Only releases write the marker: creates do not
 * conflict with each other through it. d->mu held. */
static int plan_ids(struct derive_plan *p, const struct derive *d, const json_t *image,
                    const json_t *before, const json_t *after)
{
    static const char *const pools[2][2] = {{"route_target", "rt"}, {"vni", "vni"}};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        const json_t *b = json_object_get(before, pools[i][0]);
        const json_t *a = json_object_get(after, pools[i][0]);
        const char *owner;
        json_t *v;
        char key[64];
        unsigned long released = 0;
        bool allocated = false;
        json_object_foreach((json_t *)a, owner, v) {
            json_t *was = json_object_get(b, owner);
            if (was && json_integer_value(was) == json_integer_value(v)) {
                continue;
            }
            allocated = true;
            derive_id_key(pools[i][1], (unsigned long)json_integer_value(v), key, sizeof key);
            rc = plan_cmp(p, STORE_CMP_CREATE, STORE_CMP_EQ, strdup(key), NULL, 0);
            rc = rc ? rc : plan_op(p, false, strdup(key), strdup(owner));
            was = json_object_get(json_object_get(image, pools[i][0]), owner);
            if (rc == 0 && was) {
                released = (unsigned long)json_integer_value(was);
                derive_id_key(pools[i][1], released, key, sizeof key);
                rc = plan_op(p, true, strdup(key), NULL);
            }
            if (rc) {
                return rc;
            }
        }
        /* releases: only numbers the store holds (not other plans' reservations) */
        json_object_foreach(json_object_get(image, pools[i][0]), owner, v) {
            if (!json_object_get(a, owner)) {
                released = (unsigned long)json_integer_value(v);
                derive_id_key(pools[i][1], released, key, sizeof key);
                if ((rc = plan_op(p, true, strdup(key), NULL)) != 0) {
                    return rc;
                }
            }
        }
        if (allocated) {
            rc = plan_cmp(p, STORE_CMP_MOD, STORE_CMP_EQ, fmt("/c/id/rel/%s", pools[i][1]), NULL,
                          d->rel_mod[i]);
            rc = rc ? rc : plan_predecessors(p, d, pools[i][1], b, a);
        }
        if (rc == 0 && released) {
            rc = plan_op(p, false, fmt("/c/id/rel/%s", pools[i][1]), fmt("%lu", released));
        }
    }
    return rc;
}

/* 1 when object 'obj' of 'type' has an entry under the store's relation
 * prefix 'prefix' ("/c/<br|wbr|ch>/<uuid>/<type>/"), else 0. */
static int relation_has(const char *prefix, const char *type, const json_t *obj)
{
    char kind[8], key[80], t[80];
    if (!obj || sscanf(prefix, "/c/%7[^/]/%79[^/]/%79[^/]/", kind, key, t) != 3 ||
        strcmp(t, type) != 0) {
        return 0;
    }
    if (strcmp(kind, "ch") == 0) {
        const char *pu = json_string_value(json_object_get(obj, "parent_uuid"));
        return pu && strcmp(pu, key) == 0;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        size_t n = strlen(k), i;
        json_t *ref;
        if (n < 5 || strcmp(k + n - 5, "_refs") != 0) {
            continue;
        }
        json_array_foreach(v, i, ref) {
            const char *u = json_string_value(json_object_get(ref, "uuid"));
            if (u && strcmp(u, key) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* Compares for the read set 'reads' (compile_model_track()), leaving out
 * the objects the change itself writes ('skip' uuids, and the name
 * 'skip_name' = "<type>\x1f<fq ':'>"). An enumeration's count is what the
 * store holds before the change's own transaction: the model's count,
 * less the changed object ('type' from 'old' to 'now') when the model has
 * it as a member now, plus it when it was one before. d->mu held. */
static int plan_reads(struct derive_plan *p, const struct derive *d, const json_t *reads,
                      const json_t *skip, const char *skip_name, const char *ctype,
                      const json_t *old, const json_t *now)
{
    const char *k;
    json_t *v;
    if (json_object_get(reads, COMPILE_READS_OOM)) {
        return DERIVE_ENOMEM;
    }
    json_object_foreach((json_t *)reads, k, v) {
        int rc = 0;
        const char *sep = strchr(k, '\x1f');
        if (json_object_get(skip, k) || (skip_name && strcmp(k, skip_name) == 0)) {
            continue;
        }
        if (k[0] == COMPILE_READS_COUNT[0]) {
            json_int_t n = json_integer_value(v) - relation_has(k + 1, ctype, now) +
                           relation_has(k + 1, ctype, old);
            rc = plan_cmp(p, STORE_CMP_COUNT, STORE_CMP_EQ, strdup(k + 1), NULL,
                          (uint64_t)(n < 0 ? 0 : n));
        } else if (sep) {
            /* a name that resolved to nothing: still nothing */
            char type[64];
            if ((size_t)(sep - k) >= sizeof type) {
                continue;
            }
            memcpy(type, k, (size_t)(sep - k));
            type[sep - k] = '\0';
            char *els = strdup(sep + 1);
            if (!els) {
                return DERIVE_ENOMEM;
            }
            for (char *c = els; *c; c++) {
                *c = *c == ':' ? '\x1f' : *c;
            }
            rc = plan_cmp(p, STORE_CMP_CREATE, STORE_CMP_EQ, fmt("/c/f/%s/%s", type, els), NULL, 0);
            free(els);
        } else if (json_is_string(v)) {
            rc = plan_cmp(p, STORE_CMP_MOD, STORE_CMP_EQ,
                          fmt("/c/o/%s/%s", json_string_value(v), k), NULL, mod_of(d->mods, k));
        } else {
            rc = plan_cmp(p, STORE_CMP_CREATE, STORE_CMP_EQ, fmt("/c/u/%s", k), NULL, 0);
        }
        if (rc) {
            return rc;
        }
    }
    return 0;
}

/* Compares and writes turning the derived objects 'old' (owned by the
 * compiled 'sources', as the image has them) into 'now'; d->mu held. */
static int plan_derived(struct derive_plan *p, const struct derive *d, const json_t *sources,
                        const json_t *old, const json_t *now)
{
    json_t *puts = NULL, *dels = NULL, *counts = json_object();
    const char *k;
    json_t *v;
    int rc = counts ? compile_diff(old, now, &puts, &dels) : DERIVE_ENOMEM;
    if (rc) {
        goto out;
    }
    /* what each source owned: its owner index must still hold exactly that */
    json_object_foreach((json_t *)old, k, v) {
        const char *owner = compile_owner(v);
        json_int_t c = json_integer_value(json_object_get(counts, owner));
        if (json_object_set_new(counts, owner, json_integer(c + 1)) ||
            (rc = plan_cmp(p, STORE_CMP_MOD, STORE_CMP_EQ, fmt("/c/o/%s", k), NULL,
                           mod_of(d->dmods, k))) != 0) {
            rc = rc ? rc : DERIVE_ENOMEM;
            goto out;
        }
    }
    json_object_foreach((json_t *)sources, k, v) {
        rc = plan_cmp(p, STORE_CMP_COUNT, STORE_CMP_EQ, fmt("/c/d/%s/", k), NULL,
                      (uint64_t)json_integer_value(json_object_get(counts, k)));
        if (rc) {
            goto out;
        }
    }
    json_object_foreach(puts, k, v) {
        const char *owner = compile_owner(v);
        const char *uuid = json_string_value(json_object_get(v, "uuid"));
        const char *slash = strchr(k, '/');
        char *text = json_dumps(v, JSON_COMPACT);
        if (!slash || !uuid) {
            free(text);
            rc = COMPILE_EINVAL;
            goto out;
        }
        char *type = strndup(k, (size_t)(slash - k));
        p->puts++;
        const json_t *was = json_object_get(old, k);
        if (was) {
            rc = plan_op(p, false, fmt("/c/o/%s", k), text);
            const char *wo = compile_owner(was);
            if (rc == 0 && owner && wo && strcmp(owner, wo) != 0) {
                /* the owner changed (a project's default group became an
                 * input and took over its ACLs): move the index entry */
                rc = plan_op(p, true, fmt("/c/d/%s/%s", wo, k), NULL);
                rc = rc ? rc : plan_op(p, false, fmt("/c/d/%s/%s", owner, k), strdup(""));
            }
        } else {
            /* a new object: its keys must be free; the default
             * security-group of a project (no owner) becomes an input */
            char *fk = type ? fq_key(type, json_object_get(v, "fq_name")) : NULL;
            rc = plan_cmp(p, STORE_CMP_CREATE, STORE_CMP_EQ, fmt("/c/o/%s", k), NULL, 0);
            rc = rc ? (free(text), rc) : plan_op(p, false, fmt("/c/o/%s", k), text);
            rc = rc ? rc : plan_cmp(p, STORE_CMP_CREATE, STORE_CMP_EQ, fk ? strdup(fk) : NULL, NULL, 0);
            rc = rc ? rc : plan_op(p, false, fmt("/c/u/%s", uuid), type ? strdup(type) : NULL);
            rc = rc ? rc : plan_op(p, false, fk ? strdup(fk) : NULL, strdup(uuid));
            if (rc == 0 && owner) {
                rc = plan_op(p, false, fmt("/c/d/%s/%s", owner, k), strdup(""));
            }
            free(fk);
        }
        free(type);
        if (rc) {
            goto out;
        }
    }
    size_t i;
    json_array_foreach(dels, i, v) {
        k = json_string_value(v);
        const json_t *o = json_object_get(old, k);
        const char *slash = strchr(k, '/');
        char *type = strndup(k, (size_t)(slash - k));
        p->deletes++;
        rc = plan_op(p, true, fmt("/c/o/%s", k), NULL);
        rc = rc ? rc : plan_op(p, true, fmt("/c/u/%s", slash + 1), NULL);
        rc = rc ? rc : plan_op(p, true, type ? fq_key(type, json_object_get(o, "fq_name")) : NULL, NULL);
        rc = rc ? rc : plan_op(p, true, fmt("/c/d/%s/%s", compile_owner(o), k), NULL);
        free(type);
        if (rc) {
            goto out;
        }
    }
out:
    json_decref(counts);
    json_decref(puts);
    json_decref(dels);
    return rc;
}

/* The cluster-version gate: the plan compiles with the recorded version
 * (the newest this node implements when none is recorded yet, which the
 * plan then records) and compares it; '*version' gets it. d->mu held. */
static int plan_cv(struct derive_plan *p, const struct derive *d, int *version, char *msg,
                   size_t msg_size)
{
    char ours[16];
    if (!d->cv[0]) {
        snprintf(ours, sizeof ours, "%d", d->vmax);
        *version = d->vmax;
        int rc = plan_cmp(p, STORE_CMP_CREATE, STORE_CMP_EQ, strdup(DERIVE_KEY_CV), NULL, 0);
        return rc ? rc : plan_op(p, false, strdup(DERIVE_KEY_CV), strdup(ours));
    }
    char *end = NULL;
    long v = strtol(d->cv, &end, 10);
    if (!end || *end || v < d->vmin || v > d->vmax) {
        snprintf(msg, msg_size, "the cluster compiles with version %s; this node implements %d to %d",
                 d->cv, d->vmin, d->vmax);
        return DERIVE_EVERSION;
    }
    *version = (int)v;
    return plan_cmp(p, STORE_CMP_VALUE, STORE_CMP_EQ, strdup(DERIVE_KEY_CV), strdup(d->cv), 0);
}

static int adopt_default_acls(json_t *out);

/* ---- chunks: a compile split over several transactions ---- */

/* What plan_chunked() compiles: 'sources' (all of them), of which 'must'
 * ride in this transaction; the lookups already made ('base_reads', e.g.
 * by compile_affected()) and what plan_reads() skips; the change (type,
 * uuid, old, now; NULL when none); the pending key that lists deferred
 * sources, merged with what it holds ('merge') or replaced (a follow-up
 * consuming it). */
struct chunk {
    const json_t *sources, *must, *base_reads, *skip;
    const char *skip_name, *type, *uuid;
    const json_t *old, *now;
    const char *pend_key;
    bool merge;
};

static size_t plan_bytes(const struct derive_plan *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->ncmps; i++) {
        n += 16 + strlen(p->cmps[i].key) + (p->cmps[i].value ? strlen(p->cmps[i].value) : 0);
    }
    for (size_t i = 0; i < p->nops; i++) {
        n += 16 + strlen(p->ops[i].key) + (p->ops[i].value ? strlen(p->ops[i].value) : 0);
    }
    return n;
}

/* Drops the compares and writes after the first 'nc' and 'no'. */
static void plan_truncate(struct derive_plan *p, size_t nc, size_t no)
{
    for (size_t i = nc; i < p->ncmps; i++) {
        free(p->cmps[i].key);
        free(p->cmps[i].value);
    }
    for (size_t i = no; i < p->nops; i++) {
        free(p->ops[i].key);
        free(p->ops[i].value);
    }
    p->ncmps = nc;
    p->nops = no;
}

static bool plan_fits(const struct derive *d, const struct derive_plan *p)
{
    size_t bc = p->budget_cmps ? p->budget_cmps : STORE_TXN_COMPARES_MAX - DERIVE_TXN_MARGIN;
    size_t bo = p->budget_ops ? p->budget_ops : STORE_TXN_OPS_MAX - DERIVE_TXN_MARGIN;
    if (d->budget_cmps && d->budget_cmps < bc) {
        bc = d->budget_cmps;
    }
    if (d->budget_ops && d->budget_ops < bo) {
        bo = d->budget_ops;
    }
    return p->ncmps <= bc && p->nops <= bo && plan_bytes(p) <= DERIVE_TXN_BYTES;
}

/* True when compiling 'subset' may take or release identifiers: it holds
 * a network or a logical router (compile_sources() allocates for those
 * only), or a source the model no longer has (a delete releases what it
 * held). d->mu held. */
static bool subset_allocates(const struct derive *d, const json_t *subset)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)subset, k, v) {
        const char *type = NULL;
        if (!compile_model_get(d->model, k, &type) || strcmp(type, "virtual-network") == 0 ||
            strcmp(type, "logical-router") == 0) {
            return true;
        }
    }
    return false;
}

/* True when 'p' writes identifier keys, release markers, the cluster
 * version or a pending list: what compiling transactions of several
 * workers race for (derive_plan.serial). */
static bool plan_is_serial(const struct derive_plan *p)
{
    for (size_t i = 0; i < p->nops; i++) {
        const char *k = p->ops[i].key;
        if (strncmp(k, "/c/id/", 6) == 0 || strncmp(k, DERIVE_KEY_PEND, strlen(DERIVE_KEY_PEND)) == 0 ||
            strcmp(k, DERIVE_KEY_CV) == 0) {
            return true;
        }
    }
    return false;
}

/* Compiles the sources 'subset' into 'p' (reads, derived objects,
 * identifiers); '*before' and '*after' get the identifier states for
 * reserve(). d->mu held. */
static int plan_subset(struct derive *d, struct derive_plan *p, const struct chunk *c,
                       const json_t *subset, json_t **before, json_t **after, char *msg,
                       size_t msg_size)
{
    json_t *reads = json_copy((json_t *)c->base_reads), *out = json_object(), *owned = NULL;
    json_t *image = NULL;
    struct compile_alloc *alloc = NULL;
    bool ids = subset_allocates(d, subset);
    /* with identifiers, compile on the image's long-lived pools under a
     * journal (ids_begin()), rolled back after: O(what changes), not
     * O(numbers); without a usable one, on a loaded copy */
    bool journal = ids && ids_begin(d) == 0;
    int rc = reads && out ? 0 : DERIVE_ENOMEM;
    *before = *after = NULL;
    if (rc == 0 && !journal) {
        /* sources that take no identifiers compile against empty pools
         * (they never read them), so the plan skips copying the pools */
        image = ids ? ids_state(d) : json_object();
        *before = ids ? ids_state_reserved(d) : json_object();
        rc = image && *before ? compile_alloc_create(&alloc) : DERIVE_ENOMEM;
    }
    compile_model_track(d->model, reads);
    rc = rc || journal ? rc : compile_alloc_load(alloc, ids ? *before : NULL);
    rc = rc ? rc : compile_sources(d->model, journal ? d->ids : alloc, subset, out);
    compile_model_track(d->model, NULL);
    if (rc == 0 && journal) {
        rc = ids_end(d, &image, before, after);
        journal = false;
    }
    if (journal) {
        json_t *i = NULL, *b = NULL, *a = NULL;
        (void)ids_end(d, &i, &b, &a);
        json_decref(i);
        json_decref(b);
        json_decref(a);
    }
    if (rc == 0) {
        *after = *after ? *after : ids ? compile_alloc_dump(alloc) : json_object();
        owned = json_object_size(subset) ? owned_by(d, subset) : json_object();
        rc = *after && owned ? 0 : DERIVE_ENOMEM;
    }
    rc = rc ? rc : adopt_default_acls(out);
    /* the compiler re-creating the default group being deleted: refuse */
    if (rc == 0 && c->type && strcmp(c->type, "security-group") == 0 && !c->now) {
        char k[128];
        snprintf(k, sizeof k, "security-group/%s", c->uuid);
        if (json_object_get(out, k)) {
            snprintf(msg, msg_size, "the default security-group of a project is deleted with the "
                     "project");
            rc = DERIVE_EDEFAULT;
        }
    }
    rc = rc ? rc : plan_reads(p, d, reads, c->skip, c->skip_name, c->type ? c->type : "", c->old, c->now);
    rc = rc ? rc : plan_derived(p, d, subset, owned, out);
    rc = rc || !ids ? rc : plan_ids(p, d, image, *before, *after);
    compile_alloc_free(alloc);
    json_decref(reads);
    json_decref(out);
    json_decref(owned);
    json_decref(image);
    return rc;
}

/* The sources of 'c' in the order chunks take them: 'must' first, then
 * the rest, each in uuid order; a new array. */
static json_t *chunk_order(const struct chunk *c)
{
    json_t *order = json_array(), *rest = json_array();
    const char *k;
    json_t *v;
    for (int pass = 0; order && rest && pass < 2; pass++) {
        json_object_foreach((json_t *)c->sources, k, v) {
            bool m = c->must && json_object_get(c->must, k);
            if (m == (pass == 0) && json_array_append_new(m ? order : rest, json_string(k))) {
                json_decref(order);
                json_decref(rest);
                return NULL;
            }
        }
    }
    if (!order || !rest) {
        json_decref(order);
        json_decref(rest);
        return NULL;
    }
    /* uuid order within each part (json objects do not keep one) */
    json_t *parts[2] = {order, rest};
    for (int i = 0; i < 2; i++) {
        size_t n = json_array_size(parts[i]);
        for (size_t x = 1; x < n; x++) {
            for (size_t y = x; y > 0 && strcmp(json_string_value(json_array_get(parts[i], y - 1)),
                                               json_string_value(json_array_get(parts[i], y))) > 0; y--) {
                json_t *t = json_incref(json_array_get(parts[i], y));
                json_array_set(parts[i], y, json_array_get(parts[i], y - 1));
                json_array_set_new(parts[i], y - 1, t);
            }
        }
    }
    json_array_extend(order, rest);
    json_decref(rest);
    return order;
}

/* The pending list's compare and write: sources 'rest' (an array, may be
 * empty) still to compile. d->mu held. */
static int plan_pending_key(struct derive_plan *p, const struct derive *d, const struct chunk *c,
                            const json_t *rest)
{
    const json_t *cur = json_object_get(d->pend, c->pend_key);
    json_t *list = json_array();
    int rc = list ? 0 : DERIVE_ENOMEM;
    if (rc == 0 && c->merge && cur) {
        json_t *set = json_object();
        size_t i;
        json_t *v;
        json_array_foreach(json_array_get(cur, 1), i, v) {
            if (set) {
                json_object_set(set, json_string_value(v), json_true());
            }
        }
        json_array_foreach((json_t *)rest, i, v) {
            if (set) {
                json_object_set(set, json_string_value(v), json_true());
            }
        }
        struct chunk all = {.sources = set};
        json_t *sorted = set ? chunk_order(&all) : NULL;
        rc = sorted ? json_array_extend(list, sorted) : DERIVE_ENOMEM;
        json_decref(sorted);
        json_decref(set);
    } else if (rc == 0) {
        rc = json_array_extend(list, (json_t *)rest) ? DERIVE_ENOMEM : 0;
    }
    if (rc == 0 && json_array_size(list) == 0 && !cur) {
        json_decref(list);
        return 0; /* nothing deferred, nothing pending */
    }
    rc = rc ? rc
            : cur ? plan_cmp(p, STORE_CMP_MOD, STORE_CMP_EQ, strdup(c->pend_key), NULL,
                             (uint64_t)json_integer_value(json_array_get(cur, 0)))
                  : plan_cmp(p, STORE_CMP_CREATE, STORE_CMP_EQ, strdup(c->pend_key), NULL, 0);
    if (rc == 0) {
        rc = json_array_size(list) ? plan_op(p, false, strdup(c->pend_key), json_dumps(list, JSON_COMPACT))
                                   : plan_op(p, true, strdup(c->pend_key), NULL);
    }
    json_decref(list);
    return rc;
}

/* Plans the compile of the sources of 'c' into 'p': all of them when the
 * transaction can hold it, else the largest prefix of chunk_order() that
 * fits (halving; never fewer than the 'must' ones: COMPILE_ETOOLARGE),
 * with the rest recorded under the pending key for follow-up transactions
 * (derive_plan_pending()). Reserves the identifiers taken. d->mu held. */
static int plan_chunked(struct derive *d, struct derive_plan *p, const struct chunk *c, char *msg,
                        size_t msg_size)
{
    json_t *order = chunk_order(c), *before = NULL, *after = NULL;
    size_t n = json_array_size(order), nmust = c->must ? json_object_size(c->must) : 0;
    size_t nc = p->ncmps, no = p->nops, k = n;
    int rc = order ? 0 : DERIVE_ENOMEM;
    while (rc == 0) {
        json_t *subset = json_object(), *rest = json_array();
        rc = subset && rest ? 0 : DERIVE_ENOMEM;
        for (size_t i = 0; i < n && rc == 0; i++) {
            json_t *u = json_array_get(order, i);
            rc = i < k ? (json_object_set(subset, json_string_value(u), json_true()) ? DERIVE_ENOMEM : 0)
                       : (json_array_append(rest, u) ? DERIVE_ENOMEM : 0);
        }
        json_decref(before);
        json_decref(after);
        before = after = NULL;
        p->puts = p->deletes = 0;
        rc = rc ? rc : plan_subset(d, p, c, subset, &before, &after, msg, msg_size);
        rc = rc ? rc : plan_pending_key(p, d, c, rest);
        p->sources = k;
        p->deferred = n - k;
        json_decref(subset);
        json_decref(rest);
        if (rc || plan_fits(d, p)) {
            break;
        }
        if (k <= nmust || k <= 1) {
            snprintf(msg, msg_size, "the compile of %zu source(s) needs more than one transaction "
                     "holds", k);
            rc = COMPILE_ETOOLARGE;
            break;
        }
        plan_truncate(p, nc, no);
        k = k / 2 > nmust ? k / 2 : nmust;
    }
    if (rc == 0) {
        p->token = ++d->tokens;
        rc = reserve(d, before, after, p->token);
        if (rc) {
            unreserve_locked(d, p->token);
            p->token = 0;
        }
        p->serial = plan_is_serial(p);
    }
    json_decref(before);
    json_decref(after);
    json_decref(order);
    return rc;
}

/* One entry of the model to restore after planning. */
struct saved {
    char uuid[64];
    char type[64];
    json_t *obj; /* NULL: was absent */
};

static int model_swap(struct compile_model *m, struct saved *s, const char *type, const char *uuid,
                      json_t *now)
{
    const char *t = NULL;
    const json_t *o = compile_model_get(m, uuid, &t);
    snprintf(s->uuid, sizeof s->uuid, "%s", uuid);
    snprintf(s->type, sizeof s->type, "%s", t ? t : type);
    s->obj = o ? json_incref((json_t *)o) : NULL;
    if (now) {
        return compile_model_put(m, type, now);
    }
    compile_model_remove(m, uuid);
    return 0;
}

/* Puts back what model_swap() changed; false when that ran out of memory. */
static bool model_restore(struct compile_model *m, struct saved *s)
{
    bool ok = true;
    if (s->obj) {
        ok = compile_model_put(m, s->type, s->obj) == 0;
        json_decref(s->obj);
        s->obj = NULL;
    } else if (s->uuid[0]) {
        compile_model_remove(m, s->uuid);
    }
    s->uuid[0] = '\0';
    return ok;
}

static int compile_code_msg(int rc, char *msg, size_t msg_size)
{
    if (!msg[0]) {
        snprintf(msg, msg_size, "compiler: %s", strata_strerror(rc));
    }
    return rc;
}

/* A project's new default security-group is an input once written, and an
 * input group owns its ACLs: written owned by the group from the start, the
 * ACLs are what compiling the group itself yields, so an incremental
 * compile and a full one agree. */
static int adopt_default_acls(json_t *out)
{
    const char *k;
    json_t *v;
    json_object_foreach(out, k, v) {
        if (strncmp(k, "security-group/", 15) != 0 || compile_owner(v)) {
            continue;
        }
        const char *sg = json_string_value(json_object_get(v, "uuid"));
        const char *k2;
        json_t *acl;
        json_object_foreach(out, k2, acl) {
            const char *pu = json_string_value(json_object_get(acl, "parent_uuid"));
            if (strncmp(k2, "access-control-list/", 20) != 0 || !pu || !sg || strcmp(pu, sg) != 0) {
                continue;
            }
            json_t *df = json_pack("[{s:s,s:s,s:O}]", "type", "security-group", "uuid", sg,
                                   "fq_name", json_object_get(v, "fq_name"));
            if (!df || json_object_set_new(acl, "derived_from", df)) {
                return DERIVE_ENOMEM;
            }
        }
    }
    return 0;
}

int derive_plan_change(struct derive *d, const char *type, const char *uuid, const json_t *old,
                       const json_t *now, struct derive_plan *p, char *msg, size_t msg_size)
{
    struct saved sv = {.obj = NULL}, sg = {.obj = NULL}, dup = {.obj = NULL};
    json_t *reads = json_object(), *sources = json_object(), *skip = json_object();
    json_t *out = json_object();
    char *skip_name = NULL;
    int rc = 0;
    msg[0] = '\0';
    plan_clear(p);
    pthread_mutex_lock(&d->mu);
    if (!reads || !sources || !skip || !out) {
        rc = DERIVE_ENOMEM;
        goto out_unlock;
    }
    if (!d->ready || d->broken || !d->model) {
        snprintf(msg, msg_size, "the compiler has not loaded the store yet");
        rc = DERIVE_ENOTREADY;
        goto out_unlock;
    }
    int version = 0;
    if ((rc = plan_cv(p, d, &version, msg, msg_size)) != 0) {
        goto out_unlock;
    }
    compile_model_set_version(d->model, version);
    const json_t *self = now ? now : old;
    char *fqc = fq_join(json_object_get(self, "fq_name"), ':');
    skip_name = fqc ? fmt("%s\x1f%s", type, fqc) : NULL;
    free(fqc);
    if (!skip_name || json_object_set_new(skip, uuid, json_true())) {
        rc = DERIVE_ENOMEM;
        goto out_unlock;
    }
    /* a project's default security-group goes with the project */
    const json_t *dsg = NULL;
    char dsg_uuid[37] = "";
    if (strcmp(type, "project") == 0 || strcmp(type, "security-group") == 0) {
        json_t *fq = json_copy(json_object_get(self, "fq_name"));
        if (strcmp(type, "project") == 0 && fq) {
            json_array_append_new(fq, json_string("default"));
        }
        if (!fq || compile_uuid("security-group", fq, dsg_uuid) != 0) {
            dsg_uuid[0] = '\0';
        }
        json_decref(fq);
        if (strcmp(type, "security-group") == 0) {
            if (!now && strcmp(dsg_uuid, uuid) == 0) {
                snprintf(msg, msg_size, "the default security-group of a project is deleted with "
                         "the project");
                rc = DERIVE_EDEFAULT;
                goto out_unlock;
            }
        } else if (!now && dsg_uuid[0]) {
            dsg = compile_model_get(d->model, dsg_uuid, NULL);
        }
    }
    /* a create named like an object the image holds (it will fail the
     * graph's fq_name compare, or the image is stale): putting it in the
     * model takes over that object's name indexes, so the other object is
     * put back afterwards */
    const char *twin = !old && now ? compile_model_find(d->model, type, json_object_get(now, "fq_name"))
                                   : NULL;
    if (twin && strcmp(twin, uuid) != 0) {
        snprintf(dup.uuid, sizeof dup.uuid, "%s", twin);
        snprintf(dup.type, sizeof dup.type, "%s", type);
        dup.obj = json_incref((json_t *)compile_model_get(d->model, twin, NULL));
    }
    if ((rc = model_swap(d->model, &sv, type, uuid, (json_t *)now)) != 0) {
        goto out_restore;
    }
    compile_model_track(d->model, reads);
    rc = compile_affected(d->model, type, uuid, old, now, sources);
    if (rc == 0 && now && strcmp(type, "project") == 0 && dsg_uuid[0] &&
        compile_model_get(d->model, dsg_uuid, NULL)) {
        /* the group compiles with its project, so the ACLs it took over
         * from the project keep existing */
        rc = json_object_set_new(sources, dsg_uuid, json_true()) ? DERIVE_ENOMEM : 0;
    }
    if (rc == 0 && dsg) {
        json_t *g = json_incref((json_t *)dsg);
        if ((rc = model_swap(d->model, &sg, "security-group", dsg_uuid, NULL)) == 0) {
            rc = compile_affected(d->model, "security-group", dsg_uuid, g, NULL, sources);
        }
        if (rc == 0 && json_object_set_new(skip, dsg_uuid, json_true())) {
            rc = DERIVE_ENOMEM;
        }
        /* the group's own keys and the guard that nothing refers to it */
        rc = rc ? rc : plan_cmp(p, STORE_CMP_MOD, STORE_CMP_EQ,
                                fmt("/c/o/security-group/%s", dsg_uuid), NULL,
                                mod_of(d->mods, dsg_uuid));
        rc = rc ? rc : plan_cmp(p, STORE_CMP_COUNT, STORE_CMP_EQ, fmt("/c/br/%s/", dsg_uuid), NULL, 0);
        rc = rc ? rc : plan_cmp(p, STORE_CMP_COUNT, STORE_CMP_EQ, fmt("/c/ch/%s/", dsg_uuid), NULL, 0);
        rc = rc ? rc : plan_op(p, true, fmt("/c/o/security-group/%s", dsg_uuid), NULL);
        rc = rc ? rc : plan_op(p, true, fmt("/c/u/%s", dsg_uuid), NULL);
        rc = rc ? rc : plan_op(p, true, fq_key("security-group", json_object_get(g, "fq_name")), NULL);
        rc = rc ? rc : plan_op(p, true, fmt("/c/wbr/%s/", dsg_uuid), NULL);
        json_decref(g);
    }
    compile_model_track(d->model, NULL);
    if (rc == 0) {
        /* the changed object and the default group going with a project
         * compile in this transaction; the rest may be deferred */
        json_t *must = json_object();
        rc = must ? 0 : DERIVE_ENOMEM;
        if (rc == 0 && json_object_get(sources, uuid)) {
            rc = json_object_set_new(must, uuid, json_true()) ? DERIVE_ENOMEM : 0;
        }
        if (rc == 0 && dsg_uuid[0] && json_object_get(sources, dsg_uuid)) {
            rc = json_object_set_new(must, dsg_uuid, json_true()) ? DERIVE_ENOMEM : 0;
        }
        char *pend = fmt("%s%s", DERIVE_KEY_PEND, uuid);
        struct chunk ck = {.sources = sources, .must = must, .base_reads = reads, .skip = skip,
                           .skip_name = skip_name, .type = type, .uuid = uuid, .old = old,
                           .now = now, .pend_key = pend, .merge = true};
        rc = rc ? rc : pend ? plan_chunked(d, p, &ck, msg, msg_size) : DERIVE_ENOMEM;
        free(pend);
        json_decref(must);
    }
out_restore:
    compile_model_track(d->model, NULL);
    bool restored = model_restore(d->model, &sg);
    restored &= model_restore(d->model, &sv);
    if (!model_restore(d->model, &dup) || !restored) {
        d->broken = true; /* the feeder reloads */
    }
out_unlock:
    pthread_mutex_unlock(&d->mu);
    if (rc) {
        plan_clear(p);
        if (rc != DERIVE_ENOTREADY && rc != DERIVE_EVERSION && rc != DERIVE_EDEFAULT) {
            compile_code_msg(rc, msg, msg_size);
        }
    }
    json_decref(reads);
    json_decref(sources);
    json_decref(skip);
    json_decref(out);
    free(skip_name);
    return rc;
}

/* True for the types compile_sources() compiles (the owners of derived
 * objects). */
static bool source_type(const char *t)
{
    static const char *const types[] = {"virtual-network", "security-group", "project",
                                        "logical-router", "floating-ip", "virtual-router",
                                        "global-system-config"};
    return t && in_list(types, sizeof types / sizeof types[0], t);
}

/* After a plan attempt answering 'rc': a failed plan is emptied and, unless
 * the image was not ready or this build lacks the version (their messages
 * are already set), 'msg' says which compile error it was. */
static void plan_failed(struct derive_plan *p, int rc, char *msg, size_t msg_size)
{
    if (rc) {
        plan_clear(p);
        if (rc != DERIVE_ENOTREADY && rc != DERIVE_EVERSION) {
            compile_code_msg(rc, msg, msg_size);
        }
    }
}

int derive_plan_version(struct derive *d, int version, struct derive_plan *p, char *msg,
                        size_t msg_size)
{
    json_t *reads = json_object(), *sources = json_object(), *skip = json_object();
    int rc = 0;
    msg[0] = '\0';
    plan_clear(p);
    pthread_mutex_lock(&d->mu);
    if (!reads || !sources || !skip) {
        rc = DERIVE_ENOMEM;
        goto out_unlock;
    }
    if (!d->ready || d->broken || !d->model) {
        snprintf(msg, msg_size, "the compiler has not loaded the store yet");
        rc = DERIVE_ENOTREADY;
        goto out_unlock;
    }
    if (version < d->vmin || version > d->vmax) {
        snprintf(msg, msg_size, "this node implements compiler versions %d to %d, not %d", d->vmin,
                 d->vmax, version);
        rc = DERIVE_EVERSION;
        goto out_unlock;
    }
    /* the version it replaces, then the new one */
    rc = d->cv[0] ? plan_cmp(p, STORE_CMP_VALUE, STORE_CMP_EQ, strdup(DERIVE_KEY_CV), strdup(d->cv), 0)
                  : plan_cmp(p, STORE_CMP_CREATE, STORE_CMP_EQ, strdup(DERIVE_KEY_CV), NULL, 0);
    rc = rc ? rc : plan_op(p, false, strdup(DERIVE_KEY_CV), fmt("%d", version));
    /* every source, and every owner of a derived object or an identifier */
    const char *k;
    json_t *v;
    json_object_foreach(d->mods, k, v) {
        const char *t = NULL;
        (void)compile_model_get(d->model, k, &t);
        bool src = source_type(t) && (version >= 3 || strcmp(t, "global-system-config") != 0);
        if (rc == 0 && src && json_object_set_new(sources, k, json_true())) {
            rc = DERIVE_ENOMEM;
        }
    }
    json_object_foreach(d->derived, k, v) {
        const char *o = compile_owner(v);
        if (rc == 0 && o && json_object_set_new(sources, o, json_true())) {
            rc = DERIVE_ENOMEM;
        }
    }
    for (int i = 0; i < 2 && rc == 0; i++) {
        json_object_foreach(i ? d->vni : d->rt, k, v) {
            const char *o = json_string_value(v), *slash = o ? strchr(o, '/') : NULL;
            char owner[64];
            snprintf(owner, sizeof owner, "%.*s", slash ? (int)(slash - o) : 63, o ? o : "");
            if (owner[0] && json_object_set_new(sources, owner, json_true())) {
                rc = DERIVE_ENOMEM;
                break;
            }
        }
    }
    if (rc) {
        goto out_unlock;
    }
    compile_model_set_version(d->model, version);
    struct chunk ck = {.sources = sources, .base_reads = reads, .skip = skip,
                       .pend_key = DERIVE_KEY_PEND "cluster-version", .merge = true};
    rc = plan_chunked(d, p, &ck, msg, msg_size);
out_unlock:
    pthread_mutex_unlock(&d->mu);
    plan_failed(p, rc, msg, msg_size);
    json_decref(reads);
    json_decref(sources);
    json_decref(skip);
    return rc;
}

int derive_plan_pending(struct derive *d, struct derive_plan *p, char *msg, size_t msg_size)
{
    json_t *sources = json_object(), *empty = json_object();
    char *key = NULL;
    int rc = 0;
    msg[0] = '\0';
    plan_clear(p);
    pthread_mutex_lock(&d->mu);
    if (!sources || !empty) {
        rc = DERIVE_ENOMEM;
        goto out_unlock;
    }
    if (!d->ready || d->broken || !d->model || json_object_size(d->pend) == 0) {
        snprintf(msg, msg_size, "%s", d->ready ? "nothing pending" : "the compiler has not loaded the store yet");
        rc = DERIVE_ENOTREADY;
        goto out_unlock;
    }
    const char *k;
    json_t *v;
    json_object_foreach(d->pend, k, v) {
        if (!key || strcmp(k, key) < 0) {
            free(key);
            key = strdup(k);
            if (!key) {
                rc = DERIVE_ENOMEM;
                goto out_unlock;
            }
        }
    }
    size_t i;
    json_array_foreach(json_array_get(json_object_get(d->pend, key), 1), i, v) {
        if (json_string_value(v) && json_object_set_new(sources, json_string_value(v), json_true())) {
            rc = DERIVE_ENOMEM;
            goto out_unlock;
        }
    }
    int version = 0;
    if ((rc = plan_cv(p, d, &version, msg, msg_size)) != 0) {
        goto out_unlock;
    }
    compile_model_set_version(d->model, version);
    struct chunk ck = {.sources = sources, .base_reads = empty, .skip = empty, .pend_key = key,
                       .merge = false};
    rc = plan_chunked(d, p, &ck, msg, msg_size);
out_unlock:
    pthread_mutex_unlock(&d->mu);
    plan_failed(p, rc, msg, msg_size);
    free(key);
    json_decref(sources);
    json_decref(empty);
    return rc;
}

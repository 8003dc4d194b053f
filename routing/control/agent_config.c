/* routing/control/agent_config.c: the config subgraph of each vRouter
 * agent, from the compiler's virtual-router-index objects, and the diffs
 * that keep agents current (agent_config.h). Sets and the image are JSON
 * objects (jansson's hash tables); keys are canonical strings so that two
 * sets compare entry by entry. */
#include "routing/control/agent_config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/vec.h"

#define T_VR "virtual-router"
#define T_VRI "virtual-router-index"
#define T_VMI "virtual-machine-interface"
#define T_VN "virtual-network"
#define T_RI "routing-instance"
#define T_ACL "access-control-list"
#define T_SG "security-group"
/* compiler/compile.h: COMPILE_EGC_TYPE, COMPILE_EGC_NAME, COMPILE_GVRC_NAME */
#define T_EGC "effective-global-config"
#define T_GVRC "global-vrouter-config"
#define GSC_DEFAULT "default-global-system-config"
#define EGC_KEY T_EGC "\n" GSC_DEFAULT ":effective"
#define GVRC_NODE GSC_DEFAULT ":default-global-vrouter-config"

struct acfg_set {
    json_t *entries; /* key -> entry */
    /* where node properties came from, for the next build from this set:
     * "I\nNAME" -> the index's interface entry, "O\nTYPE\nNAME" -> the
     * store object (held: same pointer = unchanged object) */
    json_t *srcs;
    const struct acfg_set *prev; /* while building: the set to reuse entries from */
};

/* While building from 'prev': its entry under 'key' (NULL: none). */
static json_t *prev_entry(const struct acfg_set *s, const char *key)
{
    return s->prev ? json_object_get(s->prev->entries, key) : NULL;
}

/* ---- names and properties ---- */

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= XMPP_NAME_MAX) {
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

static bool prop_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= XMPP_TYPE_MAX || strcmp(s, "name") == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!(alpha || (i > 0 && ((c >= '0' && c <= '9') || c == '-')))) {
            return false;
        }
    }
    return true;
}

/* A property value as text: strings as they are, the rest compact JSON. */
static json_t *prop_value(const json_t *v)
{
    if (json_is_string(v)) {
        return json_string(json_string_value(v));
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_t *r = s ? json_string(s) : NULL;
    free(s);
    return r;
}

/* Copies the fields of 'src' except 'skip' (NULL-terminated) into a new
 * property object. */
static json_t *props_from(const json_t *src, const char *const *skip)
{
    json_t *p = json_object();
    const char *k;
    json_t *v;
    if (!p || !json_is_object(src)) {
        return p;
    }
    json_object_foreach((json_t *)src, k, v) {
        bool skipped = !prop_name_ok(k);
        for (size_t i = 0; skip && skip[i] && !skipped; i++) {
            skipped = strcmp(k, skip[i]) == 0;
        }
        if (skipped) {
            continue;
        }
        json_t *s = prop_value(v);
        if (!s || json_object_set_new(p, k, s) != 0) {
            json_decref(p);
            return NULL;
        }
    }
    return p;
}

/* fq_name joined with ':' into 'out' ("" when malformed). */
static void fq_join(const json_t *fq, char *out, size_t size)
{
    size_t i, at = 0;
    json_t *part;
    out[0] = '\0';
    json_array_foreach(fq, i, part) {
        const char *s = json_string_value(part);
        size_t n = s ? strlen(s) : 0;
        if (!s || at + n + 2 > size) {
            out[0] = '\0';
            return;
        }
        if (i) {
            out[at++] = ':';
        }
        memcpy(out + at, s, n);
        at += n;
        out[at] = '\0';
    }
}

/* ---- sets ---- */

static int node_key(char *out, size_t size, const char *type, const char *name)
{
    int n = snprintf(out, size, "N\n%s\n%s", type, name);
    return n > 0 && (size_t)n < size ? 0 : LIB_EINVAL;
}

/* Adds node TYPE NAME with 'props' (stolen; NULL: none). An existing node
 * keeps its properties unless it had none. */
static int set_node(struct acfg_set *s, const char *type, const char *name, json_t *props)
{
    char key[XMPP_TYPE_MAX + XMPP_NAME_MAX + 8];
    if (!name_ok(name) || node_key(key, sizeof key, type, name) != 0) {
        json_decref(props);
        return 0;
    }
    json_t *old = json_object_get(s->entries, key);
    if (old && (!props || json_object_size(json_object_get(old, "p")) > 0)) {
        json_decref(props);
        return 0;
    }
    json_t *e = json_pack("{s:s,s:s,s:o}", "t", type, "n", name, "p", props ? props : json_object());
    if (!e || json_object_set_new(s->entries, key, e) != 0) {
        return LIB_ENOMEM;
    }
    return 0;
}

static int set_link(struct acfg_set *s, const char *lt, const char *ln, const char *rt, const char *rn)
{
    char meta[XMPP_TYPE_MAX], key[2 * XMPP_TYPE_MAX + 2 * XMPP_NAME_MAX + 16];
    if (!name_ok(ln) || !name_ok(rn)) {
        return 0;
    }
    int n = snprintf(meta, sizeof meta, "%s-%s", lt, rt);
    int m = snprintf(key, sizeof key, "L\n%s\n%s\n%s\n%s", lt, ln, rt, rn);
    if (n <= 0 || (size_t)n >= sizeof meta || m <= 0 || (size_t)m >= sizeof key) {
        return 0;
    }
    json_t *pe = prev_entry(s, key); /* a link is its key: the previous entry is the same */
    if (pe) {
        return json_object_set(s->entries, key, pe) == 0 ? 0 : LIB_ENOMEM;
    }
    json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s}", "lt", lt, "ln", ln, "rt", rt, "rn", rn, "m", meta);
    if (!e || json_object_set_new(s->entries, key, e) != 0) {
        return LIB_ENOMEM;
    }
    return 0;
}

static const char *const object_skip[] = {"fq_name", "derived_from", NULL};

/* Node TYPE NAME with the properties of the store object of that name. */
static int set_named(struct acfg_set *s, const json_t *objects, const char *type, const char *name)
{
    char key[XMPP_TYPE_MAX + XMPP_NAME_MAX + 8];
    if (!name_ok(name) || snprintf(key, sizeof key, "%s\n%s", type, name) >= (int)sizeof key) {
        return 0;
    }
    json_t *obj = objects ? json_object_get(objects, key) : NULL;
    char nkey[XMPP_TYPE_MAX + XMPP_NAME_MAX + 8], skey[XMPP_TYPE_MAX + XMPP_NAME_MAX + 8];
    if (obj && node_key(nkey, sizeof nkey, type, name) == 0 &&
        snprintf(skey, sizeof skey, "O\n%s\n%s", type, name) < (int)sizeof skey) {
        json_t *pe = prev_entry(s, nkey);
        json_t *cur = json_object_get(s->entries, nkey);
        /* the node takes the object's properties (set_node()) unless an
         * interface's security-group entry gave it some: only then is the
         * object its source */
        if (!cur || json_object_size(json_object_get(cur, "p")) == 0) {
            if (json_object_set(s->srcs, skey, obj) != 0) {
                return LIB_ENOMEM;
            }
            if (pe && json_object_get(s->prev->srcs, skey) == obj) {
                /* the same store object as last time: the same properties */
                return json_object_set(s->entries, nkey, pe) == 0 ? 0 : LIB_ENOMEM;
            }
        }
    }
    json_t *props = obj ? props_from(obj, object_skip) : NULL;
    if (obj && !props) {
        return LIB_ENOMEM;
    }
    return set_node(s, type, name, props);
}

static int build_interface(struct acfg_set *s, const char *vrouter, const json_t *e)
{
    char name[XMPP_NAME_MAX];
    fq_join(json_object_get(e, "fq_name"), name, sizeof name);
    if (!name[0]) {
        const char *u = json_string_value(json_object_get(e, "uuid"));
        snprintf(name, sizeof name, "%s", u ? u : "");
    }
    if (!name_ok(name)) {
        return 0;
    }
    static const char *const skip[] = {"fq_name", NULL};
    char nkey[XMPP_TYPE_MAX + XMPP_NAME_MAX + 8], skey[XMPP_NAME_MAX + 4];
    int rc = 0;
    bool reused = false;
    if (node_key(nkey, sizeof nkey, T_VMI, name) == 0 && snprintf(skey, sizeof skey, "I\n%s", name) < (int)sizeof skey) {
        json_t *pe = prev_entry(s, nkey);
        const json_t *ps = s->prev ? json_object_get(s->prev->srcs, skey) : NULL;
        if (json_object_get(s->entries, nkey)) {
            /* a second entry of the name: not a source to trust next time */
            (void)json_object_del(s->srcs, skey);
        } else {
            if (pe && ps && json_equal((json_t *)ps, (json_t *)e)) {
                /* the interface's entry is as last time: the same properties */
                rc = json_object_set(s->entries, nkey, pe);
                reused = true;
            }
            if (rc == 0) {
                rc = json_object_set(s->srcs, skey, (json_t *)e);
            }
            if (rc != 0) {
                return LIB_ENOMEM;
            }
        }
    }
    json_t *props = reused ? NULL : props_from(e, skip);
    if (!reused && !props) {
        return LIB_ENOMEM;
    }
    if (!reused) {
        rc = set_node(s, T_VMI, name, props);
    }
    if (rc == 0) rc = set_link(s, T_VR, vrouter, T_VMI, name);
    const char *vn = json_string_value(json_object_get(e, "virtual_network"));
    const char *ri = json_string_value(json_object_get(e, "routing_instance"));
    if (rc == 0 && vn) rc = set_link(s, T_VMI, name, T_VN, vn);
    if (rc == 0 && ri) rc = set_link(s, T_VMI, name, T_RI, ri);
    size_t i;
    json_t *sg;
    json_array_foreach(json_object_get(e, "security_groups"), i, sg) {
        const char *sgn = json_string_value(json_object_get(sg, "security_group"));
        if (rc != 0 || !sgn) {
            continue;
        }
        static const char *const sg_skip[] = {"security_group", NULL};
        json_t *p = props_from(sg, sg_skip);
        rc = p ? set_node(s, T_SG, sgn, p) : LIB_ENOMEM;
        if (rc == 0) rc = set_link(s, T_VMI, name, T_SG, sgn);
    }
    return rc;
}

/* The global settings node (agent_config.h) from the compiler's
 * effective-global-config 'egc': its three properties, as text. */
static int build_global(struct acfg_set *s, const json_t *egc)
{
    static const char *const keys[] = {"autonomous_system", "encapsulation_priorities",
                                       "graceful_restart_parameters"};
    json_t *p = json_object();
    for (size_t i = 0; p && i < sizeof keys / sizeof keys[0]; i++) {
        const json_t *v = json_object_get(egc, keys[i]);
        json_t *t = v ? prop_value(v) : NULL;
        if (v && (!t || json_object_set_new(p, keys[i], t) != 0)) {
            json_decref(p);
            p = NULL;
        }
    }
    return p ? set_node(s, T_GVRC, GVRC_NODE, p) : LIB_ENOMEM;
}

int acfg_set_build(const json_t *index, const char *vrouter, const json_t *objects, struct acfg_set **out)
{
    return acfg_set_build_from(index, vrouter, objects, NULL, out);
}

int acfg_set_build_from(const json_t *index, const char *vrouter, const json_t *objects, const struct acfg_set *prev,
                        struct acfg_set **out)
{
    struct acfg_set *s = calloc(1, sizeof *s);
    if (!s || !(s->entries = json_object()) || !(s->srcs = json_object())) {
        if (s) {
            json_decref(s->entries);
        }
        free(s);
        return LIB_ENOMEM;
    }
    s->prev = prev;
    int rc = 0;
    const json_t *egc = objects ? json_object_get(objects, EGC_KEY) : NULL;
    if (egc && name_ok(vrouter)) {
        rc = build_global(s, egc);
    }
    const json_t *vri = json_object_get(index, "virtual_router_index");
    if (index && json_is_object(vri) && name_ok(vrouter)) {
        json_t *p = json_object();
        const char *uuid = json_string_value(json_object_get(index, "uuid"));
        if (!p || (uuid && json_object_set_new(p, "index_uuid", json_string(uuid)) != 0)) {
            json_decref(p);
            rc = LIB_ENOMEM;
        } else {
            rc = set_node(s, T_VR, vrouter, p);
        }
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(vri, "interfaces"), i, e) {
            if (rc == 0 && json_is_object(e)) {
                rc = build_interface(s, vrouter, e);
            }
        }
        static const struct {
            const char *list, *type;
        } named[] = {{"virtual_networks", T_VN}, {"routing_instances", T_RI}, {"access_control_lists", T_ACL},
                     {"security_groups", T_SG}};
        for (size_t k = 0; k < sizeof named / sizeof named[0] && rc == 0; k++) {
            json_array_foreach(json_object_get(vri, named[k].list), i, e) {
                if (rc == 0 && json_is_string(e)) {
                    rc = set_named(s, objects, named[k].type, json_string_value(e));
                }
            }
        }
    }
    s->prev = NULL;
    if (rc != 0) {
        acfg_set_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void acfg_set_free(struct acfg_set *s)
{
    if (s) {
        json_decref(s->entries);
        json_decref(s->srcs);
        free(s);
    }
}

size_t acfg_set_size(const struct acfg_set *s)
{
    return s ? json_object_size(s->entries) : 0;
}

bool acfg_set_has_node(const struct acfg_set *s, const char *type, const char *name)
{
    char key[XMPP_TYPE_MAX + XMPP_NAME_MAX + 8];
    return s && node_key(key, sizeof key, type, name) == 0 && json_object_get(s->entries, key) != NULL;
}

/* ---- diff ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of 'entries', sorted (borrowed strings). */
static const char **sorted_keys(const json_t *entries, size_t *n)
{
    *n = json_object_size(entries);
    const char **keys = malloc((*n ? *n : 1) * sizeof *keys);
    if (!keys) {
        return NULL;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)entries, k, v) {
        keys[i++] = k;
    }
    qsort(keys, *n, sizeof *keys, cmp_str);
    return keys;
}

static void fill_node(struct xmpp_config_node *n, const char *type, const char *name)
{
    snprintf(n->type, sizeof n->type, "%.*s", (int)sizeof n->type - 1, type);
    snprintf(n->name, sizeof n->name, "%.*s", (int)sizeof n->name - 1, name);
}

static const char *jstr(const json_t *e, const char *k)
{
    const char *s = json_string_value(json_object_get(e, k));
    return s ? s : "";
}

/* Writes entry 'e' as object 'o' with operation 'op'. */
static int obj_from(struct xmpp_config_obj *o, const json_t *e, enum xmpp_config_op op)
{
    memset(o, 0, sizeof *o);
    o->op = op;
    if (json_object_get(e, "lt")) {
        o->is_link = true;
        fill_node(&o->left, jstr(e, "lt"), jstr(e, "ln"));
        fill_node(&o->right, jstr(e, "rt"), jstr(e, "rn"));
        snprintf(o->metadata.type, sizeof o->metadata.type, "%s", jstr(e, "m"));
        return 0;
    }
    fill_node(&o->node, jstr(e, "t"), jstr(e, "n"));
    const json_t *p = json_object_get(e, "p");
    if (op == XMPP_CONFIG_DELETE || json_object_size(p) == 0) {
        return 0;
    }
    size_t n;
    const char **keys = sorted_keys(p, &n);
    o->node.props = calloc(n, sizeof *o->node.props);
    if (!keys || !o->node.props) {
        free(keys);
        free(o->node.props);
        o->node.props = NULL;
        return LIB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        o->node.props[i].name = (char *)keys[i];
        o->node.props[i].value = (char *)json_string_value(json_object_get(p, keys[i]));
    }
    o->node.prop_count = n;
    free(keys);
    return 0;
}

/* One diff step for the key 'key' of the kind the pass walks: a delete
 * pass offers the keys 'held' has, an update pass those 'want' has. Fills
 * 'o' and sets '*emitted' when the agent needs an object for it. */
typedef int (*diff_step_fn)(const json_t *held, const json_t *want, const char *key, bool deleting,
                            struct xmpp_config_obj *o, bool *emitted);

/* The objects that take an agent holding the set keys of 'held' to 'want',
 * in the order an agent can apply them: deletes of links, updates of
 * nodes, updates of links, deletes of nodes; 'step' decides each key. */
static int diff_walk(const json_t *held, const json_t *want, diff_step_fn step, struct xmpp_config_obj **objs,
                     size_t *count)
{
    size_t nf, nt;
    const char **fk = sorted_keys(held, &nf), **tk = sorted_keys(want, &nt);
    /* grown as objects are emitted: an object is a few KiB and a resuming
     * agent usually needs none, so nothing is sized for the whole set */
    struct xmpp_config_obj *out = NULL, *one = calloc(1, sizeof *one);
    size_t n = 0, cap = 0;
    int rc = fk && tk && one ? 0 : LIB_ENOMEM;
    /* pass 0: delete links, 1: update nodes, 2: update links, 3: delete nodes */
    for (int pass = 0; pass < 4 && rc == 0; pass++) {
        bool deleting = pass == 0 || pass == 3;
        char want_kind = pass == 0 || pass == 2 ? 'L' : 'N';
        const char **keys = deleting ? fk : tk;
        size_t nk = deleting ? nf : nt;
        for (size_t i = 0; i < nk && rc == 0; i++) {
            bool emitted = false;
            if (keys[i][0] != want_kind || (rc = step(held, want, keys[i], deleting, one, &emitted)) != 0 ||
                !emitted) {
                continue;
            }
            struct xmpp_config_obj *v = vec_grow(out, &cap, n, sizeof *v, 4);
            if (!v) {
                free(one->node.props);
                rc = LIB_ENOMEM;
                break;
            }
            out = v;
            out[n++] = *one; /* takes over its properties */
            memset(one, 0, sizeof *one);
        }
    }
    free(one);
    if (rc == 0 && !out && !(out = calloc(1, sizeof *out))) {
        rc = LIB_ENOMEM; /* callers get an array, also an empty one */
    }
    free(fk);
    free(tk);
    if (rc != 0) {
        acfg_objs_free(out, n);
        return rc;
    }
    *objs = out;
    *count = n;
    return 0;
}

/* acfg_diff()'s step: 'held' and 'want' are both sets (key -> entry). */
static int step_sets(const json_t *held, const json_t *want, const char *key, bool deleting,
                     struct xmpp_config_obj *o, bool *emitted)
{
    const json_t *mine = json_object_get(deleting ? held : want, key);
    const json_t *other = json_object_get(deleting ? want : held, key);
    if (deleting ? other != NULL : (other && json_equal((json_t *)other, (json_t *)mine))) {
        return 0;
    }
    int rc = obj_from(o, mine, deleting ? XMPP_CONFIG_DELETE : XMPP_CONFIG_UPDATE);
    *emitted = rc == 0;
    return rc;
}

int acfg_diff(const struct acfg_set *from, const struct acfg_set *to, struct xmpp_config_obj **objs, size_t *count)
{
    json_t *none = NULL;
    if (!from || !to) {
        none = json_object();
        if (!none) {
            return LIB_ENOMEM;
        }
    }
    int rc = diff_walk(from ? from->entries : none, to ? to->entries : none, step_sets, objs, count);
    json_decref(none);
    return rc;
}

void acfg_objs_free(struct xmpp_config_obj *objs, size_t count)
{
    for (size_t i = 0; objs && i < count; i++) {
        free(objs[i].node.props);
    }
    free(objs);
}

/* ---- the image and the agents ---- */

struct acfg_agent {
    char name[XMPP_JID_MAX];
    void *user;
    bool connected;
    bool dirty;
    struct acfg_set *held; /* what the agent holds (sent) */
    json_t *remote;        /* a resuming agent's announcement: key -> hash, until its first flush */
    size_t objects_sent, stanzas_sent;
};

struct acfg {
    json_t *objects;  /* "TYPE\nNAME" -> object (networks, instances, ACLs, the
                       * effective-global-config) */
    json_t *indexes;  /* router name -> index object */
    json_t *keys;     /* store key -> [type, name] */
    json_t *agent_ix; /* agent name -> position in 'agents' */
    struct acfg_agent **agents;
    size_t nagents, cap;
    size_t dirty; /* connected agents marked */
};

int acfg_create(struct acfg **out)
{
    struct acfg *c = calloc(1, sizeof *c);
    if (!c) {
        return LIB_ENOMEM;
    }
    c->objects = json_object();
    c->indexes = json_object();
    c->keys = json_object();
    c->agent_ix = json_object();
    if (!c->objects || !c->indexes || !c->keys || !c->agent_ix) {
        acfg_free(c);
        return LIB_ENOMEM;
    }
    *out = c;
    return 0;
}

void acfg_free(struct acfg *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < c->nagents; i++) {
        acfg_set_free(c->agents[i]->held);
        json_decref(c->agents[i]->remote);
        free(c->agents[i]);
    }
    free(c->agents);
    json_decref(c->objects);
    json_decref(c->indexes);
    json_decref(c->keys);
    json_decref(c->agent_ix);
    free(c);
}

static struct acfg_agent *agent_get(const struct acfg *c, const char *name)
{
    json_t *ix = json_object_get(c->agent_ix, name);
    return ix ? c->agents[json_integer_value(ix)] : NULL;
}

static bool mark(struct acfg *c, struct acfg_agent *a)
{
    if (!a || !a->connected || a->dirty) {
        return false;
    }
    a->dirty = true;
    c->dirty++;
    return true;
}

/* The router an index object belongs to: fq_name [gsc, ROUTER, "index"]. */
static const char *index_router(const json_t *obj)
{
    const json_t *fq = json_object_get(obj, "fq_name");
    return json_array_size(fq) >= 2 ? json_string_value(json_array_get(fq, json_array_size(fq) - 2)) : NULL;
}

static bool mark_holders(struct acfg *c, const char *type, const char *name)
{
    bool any = false;
    for (size_t i = 0; i < c->nagents; i++) {
        struct acfg_agent *a = c->agents[i];
        if (a->connected && !a->dirty && acfg_set_has_node(a->held, type, name)) {
            any |= mark(c, a);
        }
    }
    return any;
}

static bool mark_all(struct acfg *c)
{
    bool any = false;
    for (size_t i = 0; i < c->nagents; i++) {
        any |= mark(c, c->agents[i]);
    }
    return any;
}

/* Removes what 'key' held; returns whether an agent was marked. */
static bool forget_key(struct acfg *c, const char *key)
{
    json_t *tn = json_object_get(c->keys, key);
    if (!tn) {
        return false;
    }
    const char *type = json_string_value(json_array_get(tn, 0));
    const char *name = json_string_value(json_array_get(tn, 1));
    bool any;
    if (strcmp(type, T_VRI) == 0) {
        json_object_del(c->indexes, name);
        any = mark(c, agent_get(c, name));
    } else if (strcmp(type, T_EGC) == 0) {
        char k[XMPP_TYPE_MAX + XMPP_NAME_MAX + 8];
        snprintf(k, sizeof k, "%s\n%s", type, name);
        json_object_del(c->objects, k);
        any = mark_all(c);
    } else {
        char k[XMPP_TYPE_MAX + XMPP_NAME_MAX + 8];
        snprintf(k, sizeof k, "%s\n%s", type, name);
        json_object_del(c->objects, k);
        any = mark_holders(c, type, name);
    }
    json_object_del(c->keys, key);
    return any;
}

static bool known_type(const char *type)
{
    return strcmp(type, T_VRI) == 0 || strcmp(type, T_VN) == 0 || strcmp(type, T_RI) == 0 ||
           strcmp(type, T_ACL) == 0 || strcmp(type, T_EGC) == 0;
}

bool acfg_object(struct acfg *c, const char *type, const char *key, const json_t *obj)
{
    if (!type || !known_type(type) || (key && !key[0])) {
        return false;
    }
    if (!key) {
        /* forget every object of 'type' */
        const char *k;
        json_t *tn, *tmp;
        bool any = false;
        json_object_foreach_safe(c->keys, tmp, k, tn) {
            if (strcmp(json_string_value(json_array_get(tn, 0)), type) == 0) {
                any |= forget_key(c, k);
            }
        }
        return mark_all(c) || any;
    }
    bool any = forget_key(c, key);
    if (!obj) {
        return any;
    }
    char name[XMPP_NAME_MAX];
    const char *router = NULL;
    if (strcmp(type, T_VRI) == 0) {
        router = index_router(obj);
        snprintf(name, sizeof name, "%s", router ? router : "");
    } else {
        fq_join(json_object_get(obj, "fq_name"), name, sizeof name);
    }
    if (!name_ok(name)) {
        return any;
    }
    json_t *tn = json_pack("[s,s]", type, name);
    if (!tn || json_object_set_new(c->keys, key, tn) != 0) {
        return any; /* out of memory: the object is left out */
    }
    if (router) {
        json_object_set(c->indexes, name, (json_t *)obj);
        return mark(c, agent_get(c, name)) || any;
    }
    char k[XMPP_TYPE_MAX + XMPP_NAME_MAX + 8];
    snprintf(k, sizeof k, "%s\n%s", type, name);
    json_object_set(c->objects, k, (json_t *)obj);
    if (strcmp(type, T_EGC) == 0) {
        return mark_all(c) || any; /* every agent's set has the global node */
    }
    return mark_holders(c, type, name) || any;
}

int acfg_agent_up(struct acfg *c, const char *name, void *user)
{
    struct acfg_agent *a = agent_get(c, name);
    if (!a) {
        struct acfg_agent **n = vec_grow(c->agents, &c->cap, c->nagents, sizeof *n, 16);
        if (!n) {
            return LIB_ENOMEM;
        }
        c->agents = n;
        a = calloc(1, sizeof *a);
        if (!a || json_object_set_new(c->agent_ix, name, json_integer((json_int_t)c->nagents)) != 0) {
            free(a);
            return LIB_ENOMEM;
        }
        snprintf(a->name, sizeof a->name, "%s", name);
        c->agents[c->nagents++] = a;
    }
    if (a->connected && a->dirty) {
        c->dirty--;
    }
    acfg_set_free(a->held);
    a->held = NULL;
    json_decref(a->remote);
    a->remote = NULL;
    a->user = user;
    a->connected = true;
    a->dirty = false;
    (void)mark(c, a);
    return 0;
}

void acfg_agent_down(struct acfg *c, const char *name)
{
    struct acfg_agent *a = agent_get(c, name);
    if (!a || !a->connected) {
        return;
    }
    if (a->dirty) {
        c->dirty--;
    }
    a->connected = a->dirty = false;
    a->user = NULL;
    acfg_set_free(a->held);
    a->held = NULL;
    json_decref(a->remote);
    a->remote = NULL;
}

bool acfg_pending(const struct acfg *c)
{
    return c->dirty > 0;
}

size_t acfg_agents_missing(const struct acfg *c)
{
    size_t missing = 0;
    const char *name;
    json_t *v;
    json_object_foreach(c->indexes, name, v) {
        const struct acfg_agent *a = agent_get(c, name);
        missing += !a || !a->connected;
    }
    return missing;
}

/* ---- resume: what an agent announces it holds ---- */

/* The set key of held object 'o'. */
static int held_key(const struct xmpp_held_obj *o, char *key, size_t size)
{
    int n = o->is_link ? snprintf(key, size, "L\n%s\n%s\n%s\n%s", o->type, o->name, o->rtype, o->rname)
                       : snprintf(key, size, "N\n%s\n%s", o->type, o->name);
    return n > 0 && (size_t)n < size ? 0 : LIB_EINVAL;
}

/* Splits 'key' at its newlines into 'parts' (copies, at most 'max'). */
static size_t split_key(const char *key, char parts[][XMPP_NAME_MAX], size_t max)
{
    size_t np = 0, at = 0;
    for (const char *p = key; np < max; p++) {
        if (*p == '\n' || *p == '\0') {
            parts[np++][at] = '\0';
            at = 0;
            if (*p == '\0') {
                break;
            }
        } else if (at + 1 < XMPP_NAME_MAX) {
            parts[np][at++] = *p;
        }
    }
    return np;
}

/* A delete of the object under set key 'key' (which 'want' lacks). */
static void obj_delete_of_key(struct xmpp_config_obj *o, const char *key)
{
    char parts[5][XMPP_NAME_MAX];
    memset(parts, 0, sizeof parts);
    (void)split_key(key, parts, 5);
    memset(o, 0, sizeof *o);
    o->op = XMPP_CONFIG_DELETE;
    if (key[0] == 'L') {
        o->is_link = true;
        fill_node(&o->left, parts[1], parts[2]);
        fill_node(&o->right, parts[3], parts[4]);
        snprintf(o->metadata.type, sizeof o->metadata.type, "%.60s-%.60s", parts[1], parts[3]);
    } else {
        fill_node(&o->node, parts[1], parts[2]);
    }
}

/* diff_remote()'s step: 'held' maps set keys to the hash of the update the
 * agent holds ('remote'), 'want' is a set. */
static int step_remote(const json_t *held, const json_t *want, const char *key, bool deleting,
                       struct xmpp_config_obj *o, bool *emitted)
{
    if (deleting) {
        if (!json_object_get(want, key)) {
            obj_delete_of_key(o, key);
            *emitted = true;
        }
        return 0;
    }
    int rc = obj_from(o, json_object_get(want, key), XMPP_CONFIG_UPDATE);
    if (rc != 0) {
        return rc;
    }
    const json_t *h = json_object_get(held, key);
    if (h && (uint64_t)json_integer_value(h) == xmpp_config_obj_hash(o)) {
        free(o->node.props);
        memset(o, 0, sizeof *o);
        return 0; /* the agent holds it as it is */
    }
    *emitted = true;
    return 0;
}

/* The objects that take an agent holding 'remote' (set key -> hash of the
 * object's update) to 'to', in acfg_diff()'s order. */
static int diff_remote(const json_t *remote, const struct acfg_set *to, struct xmpp_config_obj **objs, size_t *count)
{
    return diff_walk(remote, to->entries, step_remote, objs, count);
}

int acfg_agent_held(struct acfg *c, const char *name, const struct xmpp_held_obj *held, size_t count)
{
    struct acfg_agent *a = agent_get(c, name);
    if (!a || !a->connected) {
        return LIB_EINVAL;
    }
    json_t *r = json_object();
    char key[2 * XMPP_TYPE_MAX + 2 * XMPP_NAME_MAX + 16];
    for (size_t i = 0; r && i < count; i++) {
        if (held_key(&held[i], key, sizeof key) == 0 &&
            json_object_set_new(r, key, json_integer((json_int_t)held[i].hash)) != 0) {
            json_decref(r);
            r = NULL;
        }
    }
    if (!r) {
        return LIB_ENOMEM;
    }
    acfg_set_free(a->held);
    a->held = NULL;
    json_decref(a->remote);
    a->remote = r;
    (void)mark(c, a);
    return 0;
}

/* Sends agent 'a' its diff. */
static long flush_agent(struct acfg *c, struct acfg_agent *a, acfg_send_fn *send, void *arg)
{
    struct acfg_set *want;
    int rc = acfg_set_build_from(json_object_get(c->indexes, a->name), a->name, c->objects, a->held, &want);
    if (rc != 0) {
        return rc;
    }
    struct xmpp_config_obj *objs;
    size_t n;
    rc = a->remote && !a->held ? diff_remote(a->remote, want, &objs, &n) : acfg_diff(a->held, want, &objs, &n);
    if (rc != 0) {
        acfg_set_free(want);
        return rc;
    }
    json_decref(a->remote);
    a->remote = NULL;
    size_t sent = 0;
    while (sent < n) {
        size_t chunk = n - sent < XMPP_MAX_CONFIG_OBJS ? n - sent : XMPP_MAX_CONFIG_OBJS;
        if (send(arg, a->user, objs + sent, chunk) != 0) {
            break;
        }
        sent += chunk;
        a->stanzas_sent++;
    }
    a->objects_sent += sent;
    acfg_objs_free(objs, n);
    acfg_set_free(a->held);
    a->held = want;
    return (long)sent;
}

long acfg_flush(struct acfg *c, acfg_send_fn *send, void *arg)
{
    long total = 0;
    for (size_t i = 0; i < c->nagents && c->dirty > 0; i++) {
        struct acfg_agent *a = c->agents[i];
        if (!a->connected || !a->dirty) {
            continue;
        }
        long n = flush_agent(c, a, send, arg);
        if (n < 0) {
            return n;
        }
        a->dirty = false;
        c->dirty--;
        total += n;
    }
    return total;
}

int acfg_agent_stats(const struct acfg *c, const char *name, size_t *objects, size_t *stanzas)
{
    const struct acfg_agent *a = agent_get(c, name);
    if (!a) {
        return LIB_EINVAL;
    }
    *objects = a->objects_sent;
    *stanzas = a->stanzas_sent;
    return 0;
}

const json_t *acfg_indexes(const struct acfg *c)
{
    return c->indexes;
}

/* ---- the receiving side ---- */

struct acfg_mirror {
    json_t *nodes; /* "TYPE\nNAME" -> props */
    json_t *links; /* "LT\nLN\nRT\nRN" -> metadata type */
};

int acfg_mirror_create(struct acfg_mirror **out)
{
    struct acfg_mirror *m = calloc(1, sizeof *m);
    if (!m || !(m->nodes = json_object()) || !(m->links = json_object())) {
        acfg_mirror_free(m);
        return LIB_ENOMEM;
    }
    *out = m;
    return 0;
}

void acfg_mirror_free(struct acfg_mirror *m)
{
    if (m) {
        json_decref(m->nodes);
        json_decref(m->links);
        free(m);
    }
}

int acfg_mirror_apply(struct acfg_mirror *m, const struct xmpp_config_obj *objs, size_t count)
{
    char key[2 * XMPP_TYPE_MAX + 2 * XMPP_NAME_MAX + 16];
    for (size_t i = 0; i < count; i++) {
        const struct xmpp_config_obj *o = &objs[i];
        if (o->is_link) {
            snprintf(key, sizeof key, "%s\n%s\n%s\n%s", o->left.type, o->left.name, o->right.type, o->right.name);
            if (o->op == XMPP_CONFIG_DELETE) {
                json_object_del(m->links, key);
            } else if (json_object_set_new(m->links, key, json_string(o->metadata.type)) != 0) {
                return LIB_ENOMEM;
            }
            continue;
        }
        snprintf(key, sizeof key, "%s\n%s", o->node.type, o->node.name);
        if (o->op == XMPP_CONFIG_DELETE) {
            json_object_del(m->nodes, key);
            continue;
        }
        json_t *p = json_object();
        for (size_t k = 0; p && k < o->node.prop_count; k++) {
            if (json_object_set_new(p, o->node.props[k].name, json_string(o->node.props[k].value)) != 0) {
                json_decref(p);
                p = NULL;
            }
        }
        if (!p || json_object_set_new(m->nodes, key, p) != 0) {
            return LIB_ENOMEM;
        }
    }
    return 0;
}

const json_t *acfg_mirror_node(const struct acfg_mirror *m, const char *type, const char *name)
{
    char key[XMPP_TYPE_MAX + XMPP_NAME_MAX + 8];
    snprintf(key, sizeof key, "%s\n%s", type, name);
    return json_object_get(m->nodes, key);
}

bool acfg_mirror_has_link(const struct acfg_mirror *m, const char *ltype, const char *lname, const char *rtype,
                          const char *rname)
{
    char key[2 * XMPP_TYPE_MAX + 2 * XMPP_NAME_MAX + 16];
    snprintf(key, sizeof key, "%s\n%s\n%s\n%s", ltype, lname, rtype, rname);
    return json_object_get(m->links, key) != NULL;
}

size_t acfg_mirror_nodes(const struct acfg_mirror *m)
{
    return json_object_size(m->nodes);
}

size_t acfg_mirror_links(const struct acfg_mirror *m)
{
    return json_object_size(m->links);
}

static void fill_held(struct xmpp_held_obj *x, const char *type, const char *name)
{
    snprintf(x->type, sizeof x->type, "%.*s", (int)sizeof x->type - 1, type);
    snprintf(x->name, sizeof x->name, "%.*s", (int)sizeof x->name - 1, name);
}

int acfg_mirror_held(const struct acfg_mirror *m, struct xmpp_held_obj **out, size_t *count)
{
    size_t nn = json_object_size(m->nodes), nl = json_object_size(m->links), n = 0;
    struct xmpp_held_obj *h = calloc(nn + nl + 1, sizeof *h);
    char (*parts)[XMPP_NAME_MAX] = calloc(4, XMPP_NAME_MAX);
    struct xmpp_config_prop *props = calloc(XMPP_MAX_PROPS, sizeof *props);
    if (!h || !parts || !props) {
        free(h);
        free(parts);
        free(props);
        return LIB_ENOMEM;
    }
    const char *k;
    json_t *v;
    struct xmpp_config_obj o;
    json_object_foreach(m->nodes, k, v) {
        if (split_key(k, parts, 2) != 2 || json_object_size(v) > XMPP_MAX_PROPS) {
            continue;
        }
        memset(&o, 0, sizeof o);
        fill_node(&o.node, parts[0], parts[1]);
        const char *pk;
        json_t *pv;
        json_object_foreach(v, pk, pv) {
            props[o.node.prop_count].name = (char *)pk;
            props[o.node.prop_count++].value = (char *)json_string_value(pv);
        }
        o.node.props = props;
        struct xmpp_held_obj *x = &h[n++];
        fill_held(x, parts[0], parts[1]);
        x->hash = xmpp_config_obj_hash(&o);
    }
    json_object_foreach(m->links, k, v) {
        if (split_key(k, parts, 4) != 4) {
            continue;
        }
        memset(&o, 0, sizeof o);
        o.is_link = true;
        fill_node(&o.left, parts[0], parts[1]);
        fill_node(&o.right, parts[2], parts[3]);
        snprintf(o.metadata.type, sizeof o.metadata.type, "%s", json_string_value(v));
        struct xmpp_held_obj *x = &h[n++];
        x->is_link = true;
        fill_held(x, parts[0], parts[1]);
        snprintf(x->rtype, sizeof x->rtype, "%.*s", (int)sizeof x->rtype - 1, parts[2]);
        snprintf(x->rname, sizeof x->rname, "%.*s", (int)sizeof x->rname - 1, parts[3]);
        x->hash = xmpp_config_obj_hash(&o);
    }
    free(parts);
    free(props);
    *out = h;
    *count = n;
    return 0;
}

json_t *acfg_mirror_names(const struct acfg_mirror *m, const char *type)
{
    size_t n, tl = strlen(type);
    const char **keys = sorted_keys(m->nodes, &n);
    json_t *arr = keys ? json_array() : NULL;
    for (size_t i = 0; arr && i < n; i++) {
        if (strncmp(keys[i], type, tl) == 0 && keys[i][tl] == '\n' &&
            json_array_append_new(arr, json_string(keys[i] + tl + 1)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    free(keys);
    return arr;
}

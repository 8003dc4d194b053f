/* Unit tests for the compiler wired into the object graph (compiler/derive.c
 * and its hooks in graph.c), on a store state machine in a temporary
 * directory: two graphs, each with its own compiler image, stand for two
 * nodes. Every test ends with the invariant check: the derived objects and
 * identifiers in the store equal a full compile (compile_all) of the intent
 * objects in the store, every derived object has its owner-index, uuid and
 * fq_name keys, and nothing else is under those prefixes. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "compiler/compile.h"
#include "compiler/derive.h"
#include "compiler/graph.h"
#include "store/cmd.h"
#include "store/fsm.h"

static struct schema *g_schema;

struct fx {
    char dir[64];
    struct store_fsm *fsm;
    struct graph_kv_fsm kv;
    struct derive *d1, *d2;
    struct graph g1, g2; /* "node 1" and "node 2" */
    struct graph_error err;
    char proj[GRAPH_UUID_SIZE];
    struct graph_kv inner; /* the state machine; the graphs go through log_cmd() */
    struct buf *log;       /* every transaction proposed, in order */
    size_t log_len;
};

/* The store is one state machine: commands of concurrent graphs (threads)
 * apply one at a time, as raft would order them; 'g_moved' wakes the
 * feeders of watched images after each transaction. */
static pthread_mutex_t g_store_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_moved = PTHREAD_COND_INITIALIZER;

/* Records every transaction the graphs propose, for replays. */
static int log_cmd(void *arg, const struct buf *cmd, bool serializable, struct buf *reply)
{
    struct fx *f = arg;
    pthread_mutex_lock(&g_store_mu);
    bool txn = cmd->size > 1 && cmd->data[1] == STORE_CMD_TXN;
    if (txn) {
        struct buf *log = realloc(f->log, (f->log_len + 1) * sizeof *f->log);
        if (!log) {
            pthread_mutex_unlock(&g_store_mu);
            return -1;
        }
        f->log = log;
        buf_init(&f->log[f->log_len], 0);
        if (buf_put(&f->log[f->log_len], cmd->data, cmd->size) != 0) {
            pthread_mutex_unlock(&g_store_mu);
            return -1;
        }
        f->log_len++;
    }
    int rc = f->inner.cmd(f->inner.arg, cmd, serializable, reply);
    if (txn) {
        pthread_cond_broadcast(&g_moved);
    }
    pthread_mutex_unlock(&g_store_mu);
    return rc;
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/strata-derive-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct store_fsm_config c = {.no_sync = true, .map_size = 64u << 20};
    assert_int_equal(store_fsm_open(&f->fsm, f->dir, &c), 0);
    graph_kv_fsm_init(&f->kv, f->fsm, 0);
    assert_int_equal(derive_create(&f->d1), 0);
    assert_int_equal(derive_create(&f->d2), 0);
    f->inner = graph_kv_fsm(&f->kv);
    graph_init(&f->g1, g_schema, (struct graph_kv){.cmd = log_cmd, .arg = f});
    graph_init(&f->g2, g_schema, (struct graph_kv){.cmd = log_cmd, .arg = f});
    assert_int_equal(graph_derive_load(&f->g1, f->d1, NULL, &f->err), 0);
    graph_set_derive(&f->g1, f->d1);
    graph_set_derive(&f->g2, f->d2);
    assert_int_equal(graph_bootstrap(&f->g1, "test", &f->err), 0);
    assert_int_equal(graph_derive_load(&f->g2, f->d2, NULL, &f->err), 0);
    json_t *fq = json_pack("[s,s]", "default-domain", "default-project");
    assert_int_equal(graph_fqname_to_id(&f->g1, "project", fq, true, f->proj, &f->err), 0);
    json_decref(fq);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_fsm_audit(f->fsm), 0);
    store_fsm_close(f->fsm);
    char p[128];
    snprintf(p, sizeof p, "%s/data.mdb", f->dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", f->dir);
    unlink(p);
    rmdir(f->dir);
    derive_free(f->d1);
    derive_free(f->d2);
    for (size_t i = 0; i < f->log_len; i++) {
        buf_destroy(&f->log[i]);
    }
    free(f->log);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static json_t *J(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *J(const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j) {
        fail_msg("bad test JSON: %s: %s", text, e.text);
    }
    return j;
}

static int create(struct fx *f, struct graph *g, const char *type, char uuid[GRAPH_UUID_SIZE],
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int create(struct fx *f, struct graph *g, const char *type, char uuid[GRAPH_UUID_SIZE],
                  const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_t *body = J("%s", text), *out = NULL;
    int rc = graph_obj_create(g, type, body, "tester", &out, NULL, &f->err);
    if (rc == 0 && uuid) {
        snprintf(uuid, GRAPH_UUID_SIZE, "%s", json_string_value(json_object_get(out, "uuid")));
    }
    if (rc && getenv("GRAPH_TEST_VERBOSE")) {
        fprintf(stderr, "create %s: %s\n", type, f->err.message);
    }
    json_decref(out);
    json_decref(body);
    return rc;
}

struct scan_arg {
    json_t *out; /* key -> value text */
};

static int scan_cb(void *arg, const struct store_kv *kv)
{
    struct scan_arg *a = arg;
    json_object_setn_new_nocheck(a->out, (const char *)kv->key, kv->key_size,
                             json_stringn((const char *)kv->value, kv->value_size));
    return 0;
}

/* Every key under 'prefix' -> its value (text). */
static json_t *scan(struct fx *f, const char *prefix)
{
    struct scan_arg a = {.out = json_object()};
    struct store_keysel sel = store_sel_prefix(prefix, (uint32_t)strlen(prefix));
    assert_int_equal(store_fsm_scan(f->fsm, &sel, 0, scan_cb, &a, NULL), 0);
    return a.out;
}

static json_t *parse(const json_t *text)
{
    json_t *o = json_loads(json_string_value(text), 0, NULL);
    assert_non_null(o);
    return o;
}

/* The object 'type' named by fq_name text 'fq' (elements joined by ':'),
 * or NULL. */
static json_t *by_fq(struct fx *f, const char *type, const char *fq)
{
    json_t *all = scan(f, "/c/o/");
    const char *k;
    json_t *v, *found = NULL;
    char pre[96];
    snprintf(pre, sizeof pre, "/c/o/%s/", type);
    json_object_foreach(all, k, v) {
        if (strncmp(k, pre, strlen(pre)) != 0) {
            continue;
        }
        json_t *o = parse(v);
        json_t *fqa = json_object_get(o, "fq_name");
        char text[1024] = "";
        for (size_t i = 0; i < json_array_size(fqa); i++) {
            size_t n = strlen(text);
            snprintf(text + n, sizeof text - n, "%s%s", i ? ":" : "",
                     json_string_value(json_array_get(fqa, i)));
        }
        if (strcmp(text, fq) == 0) {
            found = o;
            break;
        }
        json_decref(o);
    }
    json_decref(all);
    return found;
}

/* The invariant: the store's derived state is a full compile of its
 * intent state, with consistent indexes. */
static void check_full(struct fx *f)
{
    json_t *all = scan(f, "/c/o/"), *input = json_array(), *stored = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(all, k, v) {
        char type[64];
        const char *t = k + 5, *slash = strchr(t, '/');
        snprintf(type, sizeof type, "%.*s", (int)(slash - t), t);
        json_t *o = parse(v);
        if (derive_type_derived(type)) {
            json_object_set_new(stored, t, o);
            continue;
        }
        if (derive_type_input(type)) {
            json_object_set_new(o, "type", json_string(type));
            json_array_append(input, o);
        }
        json_decref(o);
    }
    json_t *ids = scan(f, "/c/id/"), *state = json_pack("{s:{},s:{}}", "route_target", "vni");
    json_object_foreach(ids, k, v) {
        if (strncmp(k, "/c/id/rel/", 10) == 0) {
            continue; /* release markers */
        }
        const char *pool;
        unsigned long n;
        assert_int_equal(derive_id_parse(k, strlen(k), &pool, &n), 0);
        json_object_set_new(json_object_get(state, strcmp(pool, "rt") == 0 ? "route_target" : "vni"),
                            json_string_value(v), json_integer((json_int_t)n));
    }
    struct compile_model *m;
    struct compile_alloc *a;
    json_t *full = NULL;
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    assert_int_equal(compile_model_load(m, input), 0);
    /* the rules of the recorded cluster version */
    json_t *cv = scan(f, DERIVE_KEY_CV);
    json_t *cvv = json_object_get(cv, DERIVE_KEY_CV);
    compile_model_set_version(m, cvv ? atoi(json_string_value(cvv)) : DERIVE_VERSION);
    json_decref(cv);
    assert_int_equal(compile_alloc_load(a, state), 0);
    assert_int_equal(compile_all(m, a, &full), 0);
    /* no allocation was missing and none was left behind */
    json_t *after = compile_alloc_dump(a);
    if (!json_equal(after, state)) {
        char *x = json_dumps(state, JSON_COMPACT), *y = json_dumps(after, JSON_COMPACT);
        fail_msg("identifiers %s, full compile %s", x, y);
    }
    json_decref(after);
    /* every derived object the full compile makes is stored, equal */
    json_object_foreach(full, k, v) {
        if (strncmp(k, "security-group/", 15) == 0) {
            fail_msg("a project lacks its default security-group: %s", k);
        }
        json_t *s = json_object_get(stored, k);
        if (!s || !json_equal(s, v)) {
            char *x = s ? json_dumps(s, JSON_COMPACT) : strdup("(absent)");
            char *y = json_dumps(v, JSON_COMPACT);
            fail_msg("%s stored %s, full compile %s", k, x, y);
        }
    }
    assert_int_equal(json_object_size(full), json_object_size(stored));
    /* indexes: owner index, uuid and fq keys of each; nothing else */
    json_t *d = scan(f, "/c/d/");
    assert_int_equal(json_object_size(d), json_object_size(stored));
    json_object_foreach(stored, k, v) {
        char key[256];
        snprintf(key, sizeof key, "/c/d/%s/%s", compile_owner(v), k);
        assert_non_null(json_object_get(d, key));
        json_t *u = scan(f, "/c/u/");
        snprintf(key, sizeof key, "/c/u/%s", json_string_value(json_object_get(v, "uuid")));
        assert_non_null(json_object_get(u, key));
        json_decref(u);
    }
    json_decref(d);
    json_decref(full);
    compile_alloc_free(a);
    compile_model_free(m);
    json_decref(ids);
    json_decref(state);
    json_decref(all);
    json_decref(input);
    json_decref(stored);
}

static json_t *ri_of(struct fx *f, const char *vn_fq, const char *name)
{
    char fq[512];
    snprintf(fq, sizeof fq, "%s:%s", vn_fq, name);
    return by_fq(f, "routing-instance", fq);
}

/* The route-target names the instance of 'vn' imports, as one string. */
static void ri_targets(struct fx *f, const char *vn, char *out, size_t size)
{
    json_t *ri = ri_of(f, vn, strrchr(vn, ':') + 1);
    assert_non_null(ri);
    out[0] = '\0';
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(ri, "route_target_refs"), i, r) {
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%s/%s", n ? " " : "",
                 json_string_value(json_array_get(json_object_get(r, "to"), 0)),
                 json_string_value(json_object_get(json_object_get(r, "attr"), "import_export"))
                     ?: "both");
    }
    json_decref(ri);
}

#define VN_FMT "{\"name\":\"%s\",\"parent_type\":\"project\",\"parent_uuid\":\"%s\"}"

#define POLICY \
    "{\"name\":\"a-b\",\"parent_type\":\"project\",\"parent_uuid\":\"%s\"," \
    "\"network_policy_entries\":{\"policy_rule\":[{\"direction\":\"<>\",\"protocol\":\"any\"," \
    "\"src_addresses\":[{\"virtual_network\":\"vn-a\"}]," \
    "\"dst_addresses\":[{\"virtual_network\":\"vn-b\"}]," \
    "\"action_list\":{\"simple_action\":\"pass\"}}]}}"

/* ---- tests ---- */

static void test_id_keys(void **state)
{
    (void)state;
    char key[64];
    const char *pool;
    unsigned long n;
    derive_id_key("rt", 8000000, key, sizeof key);
    assert_string_equal(key, "/c/id/rt/0008000000");
    assert_int_equal(derive_id_parse(key, strlen(key), &pool, &n), 0);
    assert_string_equal(pool, "rt");
    assert_int_equal(n, 8000000);
    derive_id_key("vni", 1, key, sizeof key);
    assert_string_equal(key, "/c/id/vni/0000000001");
    assert_int_equal(derive_id_parse(key, strlen(key), &pool, &n), 0);
    assert_string_equal(pool, "vni");
    assert_int_equal(n, 1);
    assert_int_equal(derive_id_parse("/c/id/rt/12", 11, &pool, &n), -1);
    assert_int_equal(derive_id_parse("/c/id/xx/0000000001", 19, &pool, &n), -1);
    assert_int_equal(derive_id_parse("/c/id/rt/00000000a1", 19, &pool, &n), -1);
    assert_true(derive_type_input("virtual-network"));
    assert_true(derive_type_input("routing-instance"));
    assert_true(derive_type_input("virtual-machine-interface"));
    assert_false(derive_type_input("virtual-machine"));
    assert_false(derive_type_input("floating-ip-pool"));
    assert_true(derive_type_derived("floating-ip-mapping"));
    assert_true(derive_type_derived("virtual-router-index"));
    assert_true(derive_type_derived("route-target"));
    assert_false(derive_type_derived("security-group"));
}

/* A key's state at a revision is applied once: the watch repeating a state
 * the process applied at its own commit (the same revision) is not parsed
 * again, an older one is ignored, a newer one applies. Observed through
 * the cluster-version key: the repeat here carries another value, which a
 * real repeat never does, so that applying it again would show. */
static void test_apply_once_per_revision(void **state)
{
    (void)state;
    struct derive *d = NULL;
    assert_int_equal(derive_create(&d), 0);
    const uint8_t *k = (const uint8_t *)DERIVE_KEY_CV;
    size_t ks = strlen(DERIVE_KEY_CV);
    assert_int_equal(derive_apply(d, k, ks, (const uint8_t *)"2", 1, 5, false), 0);
    assert_int_equal(derive_cluster_version(d), 2);
    assert_int_equal(derive_apply(d, k, ks, (const uint8_t *)"3", 1, 5, false), 0);
    assert_int_equal(derive_cluster_version(d), 2); /* revision 5 already applied */
    assert_int_equal(derive_apply(d, k, ks, (const uint8_t *)"1", 1, 4, false), 0);
    assert_int_equal(derive_cluster_version(d), 2); /* older */
    assert_int_equal(derive_apply(d, k, ks, (const uint8_t *)"3", 1, 6, false), 0);
    assert_int_equal(derive_cluster_version(d), 3);
    assert_int_equal(derive_apply(d, k, ks, NULL, 0, 6, true), 0);
    assert_int_equal(derive_cluster_version(d), 3); /* a delete at revision 6 cannot follow a put at 6 */
    assert_int_equal(derive_apply(d, k, ks, NULL, 0, 7, true), 0);
    assert_int_equal(derive_cluster_version(d), 0);
    derive_free(d);
}

/* A network gets its instance, target, VNI and ACL in the transaction that
 * creates it; the default project got its default group at bootstrap. */
static void test_vn_create(void **state)
{
    struct fx *f = *state;
    char vn[GRAPH_UUID_SIZE];
    uint64_t before = f->g1.txn_count;
    assert_int_equal(create(f, &f->g1, "virtual-network", vn, VN_FMT, "vn-a", f->proj), 0);
    assert_int_equal(f->g1.txn_count - before, 1); /* one transaction, no retry */
    json_t *ri = ri_of(f, "default-domain:default-project:vn-a", "vn-a");
    assert_non_null(ri);
    json_t *df = json_array_get(json_object_get(ri, "derived_from"), 0);
    assert_string_equal(json_string_value(json_object_get(df, "type")), "virtual-network");
    assert_string_equal(json_string_value(json_object_get(df, "uuid")), vn);
    assert_true(json_is_true(json_object_get(ri, "routing_instance_is_default")));
    /* rules 3: the allocated VNI (the /c/id/vni owner below) on the instance */
    assert_int_equal(json_integer_value(json_object_get(ri, "vxlan_network_identifier")), 1);
    json_decref(ri);
    json_t *rt = by_fq(f, "route-target", "target:64512:8000000");
    assert_non_null(rt);
    json_decref(rt);
    json_t *acl = by_fq(f, "access-control-list", "default-domain:default-project:vn-a:vn-a");
    assert_non_null(acl);
    json_decref(acl);
    json_t *ids = scan(f, "/c/id/");
    assert_string_equal(json_string_value(json_object_get(ids, "/c/id/rt/0008000000")), vn);
    assert_string_equal(json_string_value(json_object_get(ids, "/c/id/vni/0000000001")), vn);
    json_decref(ids);
    json_t *sg = by_fq(f, "security-group", "default-domain:default-project:default");
    assert_non_null(sg);
    json_decref(sg);
    json_t *cv = scan(f, DERIVE_KEY_CV);
    char newest[16];
    snprintf(newest, sizeof newest, "%d", DERIVE_VERSION);
    assert_string_equal(json_string_value(json_object_get(cv, DERIVE_KEY_CV)), newest);
    json_decref(cv);
    check_full(f);
}

/* Two networks and a policy between them: attached to both, the instances
 * import each other's targets; detached, they do not; deleted, everything
 * derived goes and the lowest number is reused. */
static void test_policy_attach_detach(void **state)
{
    struct fx *f = *state;
    char a[GRAPH_UUID_SIZE], b[GRAPH_UUID_SIZE], pol[GRAPH_UUID_SIZE], c[GRAPH_UUID_SIZE];
    char t[512];
    assert_int_equal(create(f, &f->g1, "virtual-network", a, VN_FMT, "vn-a", f->proj), 0);
    assert_int_equal(create(f, &f->g2, "virtual-network", b, VN_FMT, "vn-b", f->proj), 0);
    assert_int_equal(create(f, &f->g1, "network-policy", pol, POLICY, f->proj), 0);
    check_full(f);
    assert_int_equal(graph_ref_update(&f->g1, GRAPH_REF_ADD, "virtual-network", a, "network-policy",
                                      pol, NULL, NULL, "t", NULL, &f->err), 0);
    assert_int_equal(graph_ref_update(&f->g2, GRAPH_REF_ADD, "virtual-network", b, "network-policy",
                                      pol, NULL, NULL, "t", NULL, &f->err), 0);
    ri_targets(f, "default-domain:default-project:vn-a", t, sizeof t);
    assert_string_equal(t, "target:64512:8000000/both target:64512:8000001/import");
    ri_targets(f, "default-domain:default-project:vn-b", t, sizeof t);
    assert_string_equal(t, "target:64512:8000001/both target:64512:8000000/import");
    json_t *acl = by_fq(f, "access-control-list", "default-domain:default-project:vn-a:vn-a");
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(acl, "access_control_list_entries"), "acl_rule")),
                     2);
    json_t *df = json_object_get(acl, "derived_from");
    assert_int_equal(json_array_size(df), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(df, 1), "type")),
                        "network-policy");
    json_decref(acl);
    check_full(f);
    /* detach from b on node 2: a stops importing b's target too */
    assert_int_equal(graph_ref_update(&f->g2, GRAPH_REF_DELETE, "virtual-network", b,
                                      "network-policy", pol, NULL, NULL, "t", NULL, &f->err), 0);
    ri_targets(f, "default-domain:default-project:vn-a", t, sizeof t);
    assert_string_equal(t, "target:64512:8000000/both");
    check_full(f);
    /* delete a: its instance, target, ACL and numbers go */
    assert_int_equal(graph_ref_update(&f->g1, GRAPH_REF_DELETE, "virtual-network", a,
                                      "network-policy", pol, NULL, NULL, "t", NULL, &f->err), 0);
    assert_int_equal(graph_obj_delete(&f->g1, "virtual-network", a, 0, "t", NULL, &f->err), 0);
    json_t *gone = ri_of(f, "default-domain:default-project:vn-a", "vn-a");
    assert_null(gone);
    gone = by_fq(f, "route-target", "target:64512:8000000");
    assert_null(gone);
    json_t *ids = scan(f, "/c/id/rt/");
    assert_int_equal(json_object_size(ids), 1);
    json_decref(ids);
    check_full(f);
    /* a new network takes the lowest free number: 8000000 again */
    assert_int_equal(create(f, &f->g2, "virtual-network", c, VN_FMT, "vn-c", f->proj), 0);
    json_t *rt = by_fq(f, "route-target", "target:64512:8000000");
    assert_non_null(rt);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(rt, "derived_from"), 0), "uuid")),
                        c);
    json_decref(rt);
    assert_int_equal(graph_obj_delete(&f->g1, "network-policy", pol, 0, "t", NULL, &f->err), 0);
    check_full(f);
}

/* Node 2's image is stale (node 1 created networks since node 2 last
 * looked): its plan allocates a number node 1 holds, the compare fails, it
 * catches up and allocates the next one. */
static void test_stale_image_allocates_fresh(void **state)
{
    struct fx *f = *state;
    char a[GRAPH_UUID_SIZE], b[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, &f->g1, "virtual-network", a, VN_FMT, "vn-a", f->proj), 0);
    uint64_t conflicts = f->g2.txn_conflicts;
    assert_int_equal(create(f, &f->g2, "virtual-network", b, VN_FMT, "vn-b", f->proj), 0);
    assert_int_equal(f->g2.txn_conflicts - conflicts, 1);
    json_t *ids = scan(f, "/c/id/");
    assert_string_equal(json_string_value(json_object_get(ids, "/c/id/rt/0008000001")), b);
    assert_string_equal(json_string_value(json_object_get(ids, "/c/id/vni/0000000002")), b);
    json_decref(ids);
    check_full(f);
}

/* A stale image missing a network a policy names: node 2 attaches the
 * policy to vn-a while it does not know vn-b (created and attached on node
 * 1); the recorded lookup of vn-b ("absent") fails its compare, node 2
 * recompiles with vn-b, and the result equals a full compile. */
static void test_stale_image_absent_name(void **state)
{
    struct fx *f = *state;
    char a[GRAPH_UUID_SIZE], b[GRAPH_UUID_SIZE], pol[GRAPH_UUID_SIZE], t[512];
    assert_int_equal(create(f, &f->g2, "virtual-network", a, VN_FMT, "vn-a", f->proj), 0);
    assert_int_equal(create(f, &f->g2, "network-policy", pol, POLICY, f->proj), 0);
    /* node 1: vn-b with the policy attached; node 2 does not see it */
    assert_int_equal(create(f, &f->g1, "virtual-network", b,
                            "{\"name\":\"vn-b\",\"parent_type\":\"project\",\"parent_uuid\":\"%s\","
                            "\"network_policy_refs\":[{\"uuid\":\"%s\"}]}",
                            f->proj, pol),
                     0);
    uint64_t conflicts = f->g2.txn_conflicts;
    assert_int_equal(graph_ref_update(&f->g2, GRAPH_REF_ADD, "virtual-network", a, "network-policy",
                                      pol, NULL, NULL, "t", NULL, &f->err), 0);
    assert_true(f->g2.txn_conflicts > conflicts);
    ri_targets(f, "default-domain:default-project:vn-a", t, sizeof t);
    assert_string_equal(t, "target:64512:8000000/both target:64512:8000001/import");
    ri_targets(f, "default-domain:default-project:vn-b", t, sizeof t);
    assert_string_equal(t, "target:64512:8000001/both target:64512:8000000/import");
    check_full(f);
}

/* A project: its default group and the group's two ACLs on create; the
 * group cannot be deleted alone; deleting the project removes them. */
static void test_project_default_group(void **state)
{
    struct fx *f = *state;
    char p[GRAPH_UUID_SIZE], vn[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, &f->g1, "project", p, "{\"name\":\"p1\"}"), 0);
    json_t *sg = by_fq(f, "security-group", "default-domain:p1:default");
    assert_non_null(sg);
    json_t *in = by_fq(f, "access-control-list", "default-domain:p1:default:ingress-access-control-list");
    assert_non_null(in);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(in, "derived_from"), 0), "type")),
                        "security-group");
    json_decref(in);
    check_full(f);
    /* updating the project keeps the group's ACLs */
    json_t *body = J("{\"display_name\":\"P one\"}");
    assert_int_equal(graph_obj_update(&f->g2, "project", p, body, 0, "t", NULL, NULL, &f->err), 0);
    json_decref(body);
    check_full(f);
    const char *sgu = json_string_value(json_object_get(sg, "uuid"));
    int rc = graph_obj_delete(&f->g1, "security-group", sgu, 0, "t", NULL, &f->err);
    assert_int_equal(rc, GRAPH_ECONFLICT);
    assert_non_null(strstr(f->err.message, "deleted with the project"));
    /* a port in another project using the group blocks the project's
     * delete (409 naming it); a network under the project does too; both
     * gone, the project goes with its group and ACLs */
    char vmi[GRAPH_UUID_SIZE], vn2[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, &f->g1, "virtual-network", vn2, VN_FMT, "other", f->proj), 0);
    assert_int_equal(create(f, &f->g2, "virtual-machine-interface", vmi,
                            "{\"name\":\"port1\",\"parent_type\":\"project\","
                            "\"parent_uuid\":\"%s\",\"virtual_network_refs\":[{\"uuid\":\"%s\"}],"
                            "\"security_group_refs\":[{\"uuid\":\"%s\"}]}",
                            f->proj, vn2, sgu),
                     0);
    rc = graph_obj_delete(&f->g2, "project", p, 0, "t", NULL, &f->err);
    assert_int_equal(rc, GRAPH_ECONFLICT);
    assert_non_null(strstr(f->err.message, "default security-group is referred to by"));
    assert_non_null(strstr(f->err.message, "port1"));
    assert_int_equal(graph_obj_delete(&f->g1, "virtual-machine-interface", vmi, 0, "t", NULL,
                                      &f->err), 0);
    assert_int_equal(create(f, &f->g1, "virtual-network", vn, VN_FMT, "n", p), 0);
    assert_int_equal(graph_obj_delete(&f->g2, "project", p, 0, "t", NULL, &f->err), GRAPH_ECONFLICT);
    assert_int_equal(graph_obj_delete(&f->g2, "virtual-network", vn, 0, "t", NULL, &f->err), 0);
    assert_int_equal(graph_obj_delete(&f->g2, "project", p, 0, "t", NULL, &f->err), 0);
    json_t *gone = by_fq(f, "security-group", "default-domain:p1:default");
    assert_null(gone);
    gone = by_fq(f, "access-control-list", "default-domain:p1:default:ingress-access-control-list");
    assert_null(gone);
    json_decref(sg);
    check_full(f);
}

/* A cluster version this build does not implement: compiling writes are
 * refused (503) and nothing is written; other writes go on. */
static void test_cluster_version_gate(void **state)
{
    struct fx *f = *state;
    char vn[GRAPH_UUID_SIZE];
    struct store_compare none[1];
    char beyond[16], why[32];
    snprintf(beyond, sizeof beyond, "%d", DERIVE_VERSION + 1);
    snprintf(why, sizeof why, "version %d", DERIVE_VERSION + 1);
    struct store_op put = {.kind = STORE_OP_PUT,
                           .sel = store_sel_key(DERIVE_KEY_CV, (uint32_t)strlen(DERIVE_KEY_CV)),
                           .value = (const uint8_t *)beyond, .value_size = (uint32_t)strlen(beyond)};
    struct store_cmd c = {.kind = STORE_CMD_TXN, .compares = none, .compares_len = 0,
                          .success = &put, .success_len = 1};
    struct buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    assert_int_equal(store_cmd_encode(&c, &cmd), 0);
    struct graph_kv kv = graph_kv_fsm(&f->kv);
    assert_int_equal(kv.cmd(kv.arg, &cmd, false, &reply), 0);
    buf_destroy(&cmd);
    buf_destroy(&reply);
    assert_int_equal(graph_derive_load(&f->g1, f->d1, NULL, &f->err), 0);
    int rc = create(f, &f->g1, "virtual-network", vn, VN_FMT, "vn-x", f->proj);
    assert_int_equal(rc, GRAPH_EUNAVAIL);
    assert_int_equal(f->err.status, 503);
    assert_non_null(strstr(f->err.message, why));
    json_t *none_vn = by_fq(f, "virtual-network", "default-domain:default-project:vn-x");
    assert_null(none_vn);
    char ipam[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, &f->g1, "network-ipam", ipam, "{\"name\":\"i\"}"), 0);
}

/* ---- version 2: floating IPs, virtual routers, service chains ---- */

/* A network with one IPv4 subnet (through its own ipam). */
static void make_vn_subnet(struct fx *f, struct graph *g, const char *name, const char *prefix,
                           char vn[GRAPH_UUID_SIZE])
{
    char ipam[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, g, "network-ipam", ipam, "{\"name\":\"ipam-%s\"}", name), 0);
    int rc = create(f, g, "virtual-network", vn,
                    "{\"name\":\"%s\",\"network_ipam_refs\":[{\"uuid\":\"%s\",\"attr\":"
                    "{\"ipam_subnets\":[{\"subnet\":{\"ip_prefix\":\"%s\",\"ip_prefix_len\":24}}]}}]}",
                    name, ipam, prefix);
    if (rc) {
        fail_msg("make_vn_subnet: %s", f->err.message);
    }
}

static void update(struct fx *f, struct graph *g, const char *type, const char *uuid,
                   const char *body_text)
{
    json_t *body = J("%s", body_text);
    int rc = graph_obj_update(g, type, uuid, body, 0, "t", NULL, NULL, &f->err);
    if (rc) {
        fail_msg("update %s: %s", type, f->err.message);
    }
    json_decref(body);
}

static void delete(struct fx *f, struct graph *g, const char *type, const char *uuid)
{
    int rc = graph_obj_delete(g, type, uuid, 0, "t", NULL, &f->err);
    if (rc) {
        fail_msg("delete %s: %s", type, f->err.message);
    }
}

#define VMI_FMT                                                                               \
    "{\"name\":\"%s\",\"virtual_network_refs\":[{\"uuid\":\"%s\"}]%s}"

/* The floating-ip-mapping of floating IP 'fip' under network 'vn_fq'. */
static json_t *mapping_of(struct fx *f, const char *vn_fq, const char *fip)
{
    char fq[512];
    snprintf(fq, sizeof fq, "%s:%s:%s", vn_fq, strrchr(vn_fq, ':') + 1, fip);
    return by_fq(f, "floating-ip-mapping", fq);
}

/* A floating IP compiles to the route in the pool network's instance and
 * the NAT towards its interface's fixed address; deleting the floating IP,
 * or its interface (the reference is weak), removes the mapping. */
static void test_floating_ip(void **state)
{
    struct fx *f = *state;
    char pub[GRAPH_UUID_SIZE], priv[GRAPH_UUID_SIZE], pool[GRAPH_UUID_SIZE], vmi[GRAPH_UUID_SIZE];
    char iip[GRAPH_UUID_SIZE], fip[GRAPH_UUID_SIZE];
    make_vn_subnet(f, &f->g1, "public", "192.0.2.0", pub);
    make_vn_subnet(f, &f->g1, "private", "10.0.0.0", priv);
    assert_int_equal(create(f, &f->g2, "floating-ip-pool", pool,
                            "{\"name\":\"pool\",\"parent_type\":\"virtual-network\","
                            "\"parent_uuid\":\"%s\"}", pub), 0);
    assert_int_equal(create(f, &f->g1, "virtual-machine-interface", vmi, VMI_FMT, "vm1", priv, ""), 0);
    assert_int_equal(create(f, &f->g2, "instance-ip", iip,
                            "{\"virtual_network_refs\":[{\"uuid\":\"%s\"}],"
                            "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}", priv, vmi), 0);
    uint64_t w = f->g1.derived_writes;
    assert_int_equal(create(f, &f->g1, "floating-ip", fip,
                            "{\"name\":\"fip\",\"parent_type\":\"floating-ip-pool\",\"parent_uuid\":\"%s\","
                            "\"floating_ip_address\":\"192.0.2.50\","
                            "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}", pool, vmi), 0);
    assert_int_equal(f->g1.derived_writes - w, 1);
    json_t *m = mapping_of(f, "default-domain:default-project:public", fip);
    assert_non_null(m);
    json_t *nat = json_object_get(m, "floating_ip_mapping");
    assert_string_equal(json_string_value(json_object_get(nat, "prefix")), "192.0.2.50/32");
    assert_string_equal(json_string_value(json_object_get(nat, "fixed_ip_address")), "10.0.0.3");
    assert_string_equal(json_string_value(json_object_get(nat, "virtual_machine_interface")), vmi);
    assert_string_equal(json_string_value(json_object_get(nat, "floating_routing_instance")),
                        "default-domain:default-project:public:public");
    assert_string_equal(json_string_value(json_object_get(nat, "fixed_routing_instance")),
                        "default-domain:default-project:private:private");
    assert_string_equal(json_string_value(json_object_get(json_array_get(
                            json_object_get(m, "derived_from"), 0), "uuid")), fip);
    json_decref(m);
    check_full(f);
    /* the fixed address goes: the mapping goes (incomplete), and comes back */
    delete(f, &f->g2, "instance-ip", iip);
    assert_null(mapping_of(f, "default-domain:default-project:public", fip));
    check_full(f);
    assert_int_equal(create(f, &f->g2, "instance-ip", iip,
                            "{\"virtual_network_refs\":[{\"uuid\":\"%s\"}],"
                            "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}", priv, vmi), 0);
    m = mapping_of(f, "default-domain:default-project:public", fip);
    assert_non_null(m);
    json_decref(m);
    /* deleting the floating IP removes its mapping */
    delete(f, &f->g1, "floating-ip", fip);
    assert_null(mapping_of(f, "default-domain:default-project:public", fip));
    check_full(f);
    /* deleting the interface removes it too; the floating IP stays */
    assert_int_equal(create(f, &f->g1, "floating-ip", fip,
                            "{\"name\":\"fip\",\"parent_type\":\"floating-ip-pool\",\"parent_uuid\":\"%s\","
                            "\"floating_ip_address\":\"192.0.2.50\","
                            "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}", pool, vmi), 0);
    m = mapping_of(f, "default-domain:default-project:public", fip);
    assert_non_null(m);
    json_decref(m);
    delete(f, &f->g2, "instance-ip", iip);
    delete(f, &f->g2, "virtual-machine-interface", vmi);
    assert_null(mapping_of(f, "default-domain:default-project:public", fip));
    json_t *fo = by_fq(f, "floating-ip", "default-domain:default-project:public:pool:fip");
    assert_non_null(fo);
    json_decref(fo);
    check_full(f);
    /* nothing dangles */
    json_t *left = scan(f, "/c/o/floating-ip-mapping/");
    assert_int_equal(json_object_size(left), 0);
    json_decref(left);
}

/* The index interfaces of virtual router 'name', as "vmi-name,..." */
static void vr_ifs(struct fx *f, const char *name, char *out, size_t size)
{
    char fq[256];
    snprintf(fq, sizeof fq, "default-global-system-config:%s:index", name);
    json_t *idx = by_fq(f, "virtual-router-index", fq);
    out[0] = '\0';
    if (!idx) {
        snprintf(out, size, "(none)");
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(idx, "virtual_router_index"), "interfaces"), i, e) {
        json_t *fq_a = json_object_get(e, "fq_name");
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%s", n ? "," : "",
                 json_string_value(json_array_get(fq_a, json_array_size(fq_a) - 1)));
    }
    json_decref(idx);
}

/* Binding (a virtual-router refers to the interface's virtual machine),
 * moving, unbinding and changing interfaces rewrites exactly the index of
 * each virtual router concerned: the write counts say so. */
static void test_vrouter_index(void **state)
{
    struct fx *f = *state;
    char vn[GRAPH_UUID_SIZE], vn2[GRAPH_UUID_SIZE], vm[3][GRAPH_UUID_SIZE], r[3][GRAPH_UUID_SIZE];
    char a[GRAPH_UUID_SIZE], b[GRAPH_UUID_SIZE], c[GRAPH_UUID_SIZE], buf[256], body[512];
    make_vn_subnet(f, &f->g1, "net", "10.0.0.0", vn);
    make_vn_subnet(f, &f->g1, "net2", "10.0.1.0", vn2);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(create(f, &f->g1, "virtual-machine", vm[i], "{\"name\":\"vm-%d\"}", i), 0);
    }
    /* compute-1 hosts vm-0, compute-2 vm-1, compute-3 nothing */
    for (int i = 0; i < 3; i++) {
        char refs[256] = "";
        if (i < 2) {
            snprintf(refs, sizeof refs, ",\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]", vm[i]);
        }
        assert_int_equal(create(f, &f->g1, "virtual-router", r[i],
                                "{\"name\":\"compute-%d\",\"virtual_router_ip_address\":\"172.16.0.%d\"%s}",
                                i + 1, i + 1, refs), 0);
    }
    vr_ifs(f, "compute-1", buf, sizeof buf);
    assert_string_equal(buf, "");
    /* bind: one index written */
    uint64_t w = f->g1.derived_writes;
    snprintf(body, sizeof body, ",\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]", vm[0]);
    assert_int_equal(create(f, &f->g1, "virtual-machine-interface", a, VMI_FMT, "a", vn, body), 0);
    assert_int_equal(f->g1.derived_writes - w, 1);
    w = f->g1.derived_writes;
    assert_int_equal(create(f, &f->g1, "virtual-machine-interface", b, VMI_FMT, "b", vn, body), 0);
    assert_int_equal(f->g1.derived_writes - w, 1);
    vr_ifs(f, "compute-1", buf, sizeof buf);
    assert_true(strcmp(buf, "a,b") == 0 || strcmp(buf, "b,a") == 0);
    /* rules 3: each entry carries the MAC the API assigned its interface */
    json_t *idx = by_fq(f, "virtual-router-index", "default-global-system-config:compute-1:index");
    json_t *vmi_a = by_fq(f, "virtual-machine-interface", "default-domain:default-project:a");
    assert_non_null(idx);
    assert_non_null(vmi_a);
    const json_t *mac_a = json_object_get(vmi_a, "virtual_machine_interface_mac_addresses");
    assert_int_equal(json_array_size(json_object_get(mac_a, "mac_address")), 1);
    size_t ie;
    json_t *ent;
    int seen = 0;
    json_array_foreach(json_object_get(json_object_get(idx, "virtual_router_index"), "interfaces"), ie, ent) {
        const json_t *em = json_object_get(ent, "virtual_machine_interface_mac_addresses");
        assert_non_null(em);
        if (strcmp(json_string_value(json_object_get(ent, "uuid")), a) == 0) {
            assert_true(json_equal(em, mac_a));
            seen++;
        }
    }
    assert_int_equal(seen, 1);
    json_decref(vmi_a);
    json_decref(idx);
    check_full(f);
    /* move a from compute-1 to compute-2: two indexes */
    w = f->g1.derived_writes;
    snprintf(body, sizeof body, "{\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]}", vm[1]);
    update(f, &f->g1, "virtual-machine-interface", a, body);
    assert_int_equal(f->g1.derived_writes - w, 2);
    vr_ifs(f, "compute-1", buf, sizeof buf);
    assert_string_equal(buf, "b");
    vr_ifs(f, "compute-2", buf, sizeof buf);
    assert_string_equal(buf, "a");
    /* a change the index does not show: nothing written */
    w = f->g1.derived_writes;
    update(f, &f->g1, "virtual-machine-interface", a, "{\"display_name\":\"A\"}");
    assert_int_equal(f->g1.derived_writes - w, 0);
    /* the interface moves to another network: its router's index only */
    snprintf(body, sizeof body, "{\"virtual_network_refs\":[{\"uuid\":\"%s\"}]}", vn2);
    w = f->g1.derived_writes;
    update(f, &f->g1, "virtual-machine-interface", a, body);
    assert_int_equal(f->g1.derived_writes - w, 1);
    /* a network change does not touch any index */
    w = f->g1.derived_writes;
    update(f, &f->g1, "virtual-network", vn, "{\"display_name\":\"N\"}");
    assert_int_equal(f->g1.derived_writes - w, 0);
    /* an address of a bound interface: its router's index */
    char iip[GRAPH_UUID_SIZE];
    w = f->g1.derived_writes;
    assert_int_equal(create(f, &f->g1, "instance-ip", iip,
                            "{\"virtual_network_refs\":[{\"uuid\":\"%s\"}],"
                            "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}", vn, b), 0);
    assert_int_equal(f->g1.derived_writes - w, 1);
    /* unbind: one index */
    w = f->g1.derived_writes;
    update(f, &f->g1, "virtual-machine-interface", a, "{\"virtual_machine_refs\":null}");
    assert_int_equal(f->g1.derived_writes - w, 1);
    vr_ifs(f, "compute-2", buf, sizeof buf);
    assert_string_equal(buf, "");
    /* a router takes vm-0 too: its index only */
    snprintf(body, sizeof body, "{\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]}", vm[0]);
    w = f->g1.derived_writes;
    update(f, &f->g1, "virtual-router", r[2], body);
    assert_int_equal(f->g1.derived_writes - w, 1);
    vr_ifs(f, "compute-3", buf, sizeof buf);
    assert_string_equal(buf, "b");
    check_full(f);
    /* a router created on node 1 after node 2 bound an interface to its
     * machine: node 1's image is stale, the COUNT compare on the machine's
     * back-references catches it and the retry lists the interface */
    char vmx[GRAPH_UUID_SIZE], r9[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, &f->g2, "virtual-machine", vmx, "{\"name\":\"vm-x\"}"), 0);
    snprintf(body, sizeof body, ",\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]", vmx);
    assert_int_equal(create(f, &f->g2, "virtual-machine-interface", c, VMI_FMT, "c", vn, body), 0);
    uint64_t conflicts = f->g1.txn_conflicts;
    assert_int_equal(create(f, &f->g1, "virtual-router", r9,
                            "{\"name\":\"compute-9\",\"virtual_router_ip_address\":\"172.16.0.9\","
                            "\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]}", vmx), 0);
    assert_true(f->g1.txn_conflicts > conflicts);
    vr_ifs(f, "compute-9", buf, sizeof buf);
    assert_string_equal(buf, "c");
    check_full(f);
    /* deleting a router deletes its index; deleting an interface updates
     * every router hosting it (b: compute-1 and compute-3) */
    delete(f, &f->g1, "virtual-router", r9);
    vr_ifs(f, "compute-9", buf, sizeof buf);
    assert_string_equal(buf, "(none)");
    delete(f, &f->g1, "instance-ip", iip);
    w = f->g1.derived_writes;
    delete(f, &f->g1, "virtual-machine-interface", b);
    assert_int_equal(f->g1.derived_writes - w, 2);
    vr_ifs(f, "compute-1", buf, sizeof buf);
    assert_string_equal(buf, "");
    check_full(f);
}

/* The service mode in the chain information of network 'vn''s instance
 * for service 'si' ("" when absent), and the number of interfaces. */
static void sci_of(struct fx *f, const char *vn, const char *si, char *mode, size_t size, size_t *nifs)
{
    char name[256];
    snprintf(name, sizeof name, "service-%s", si);
    for (char *c = name; *c; c++) {
        *c = *c == ':' ? '_' : *c;
    }
    json_t *ri = ri_of(f, vn, name);
    assert_non_null(ri);
    json_t *sci = json_object_get(ri, "service_chain_information");
    snprintf(mode, size, "%s", json_string_value(json_object_get(sci, "service_mode")) ?: "");
    *nifs = json_array_size(json_object_get(sci, "service_interfaces"));
    json_decref(ri);
}

/* Service templates, port tuples and their interfaces are chain inputs:
 * changing one recompiles the chains through instances that use it. */
static void test_service_chain_triggers(void **state)
{
    struct fx *f = *state;
    char st[GRAPH_UUID_SIZE], si[GRAPH_UUID_SIZE], pol[GRAPH_UUID_SIZE], l[GRAPH_UUID_SIZE];
    char r[GRAPH_UUID_SIZE], pt[GRAPH_UUID_SIZE], vmi[GRAPH_UUID_SIZE], mode[64], body[512];
    size_t nifs;
    assert_int_equal(create(f, &f->g1, "service-template", st,
                            "{\"name\":\"fw-t\",\"service_template_properties\":"
                            "{\"service_mode\":\"in-network\"}}"), 0);
    assert_int_equal(create(f, &f->g1, "service-instance", si,
                            "{\"name\":\"fw\",\"service_template_refs\":[{\"uuid\":\"%s\"}]}", st), 0);
    assert_int_equal(create(f, &f->g1, "network-policy", pol,
                            "{\"name\":\"via-fw\",\"network_policy_entries\":{\"policy_rule\":[{"
                            "\"direction\":\"<>\",\"protocol\":\"any\","
                            "\"src_addresses\":[{\"virtual_network\":\"left\"}],"
                            "\"dst_addresses\":[{\"virtual_network\":\"right\"}],"
                            "\"action_list\":{\"simple_action\":\"pass\",\"apply_service\":[\"fw\"]}}]}}"), 0);
    make_vn_subnet(f, &f->g1, "left", "10.0.0.0", l);
    make_vn_subnet(f, &f->g2, "right", "10.0.1.0", r);
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof body, "{\"network_policy_refs\":[{\"uuid\":\"%s\",\"attr\":"
                 "{\"sequence\":{\"major\":0,\"minor\":0}}}]}", pol);
        update(f, i ? &f->g2 : &f->g1, "virtual-network", i ? r : l, body);
    }
    const char *lfq = "default-domain:default-project:left", *sifq = "default-domain:default-project:fw";
    sci_of(f, lfq, sifq, mode, sizeof mode, &nifs);
    assert_string_equal(mode, "in-network");
    assert_int_equal(nifs, 0);
    check_full(f);
    /* the template's mode: both ends' service instances are rewritten */
    uint64_t w = f->g2.derived_writes;
    update(f, &f->g2, "service-template", st,
           "{\"service_template_properties\":{\"service_mode\":\"transparent\"}}");
    assert_int_equal(f->g2.derived_writes - w, 2);
    sci_of(f, lfq, sifq, mode, sizeof mode, &nifs);
    assert_string_equal(mode, "transparent");
    check_full(f);
    /* a port tuple and an interface in it */
    assert_int_equal(create(f, &f->g1, "port-tuple", pt,
                            "{\"name\":\"pt\",\"parent_type\":\"service-instance\",\"parent_uuid\":\"%s\"}",
                            si), 0);
    snprintf(body, sizeof body, ",\"port_tuple_refs\":[{\"uuid\":\"%s\"}],"
             "\"virtual_machine_interface_properties\":{\"service_interface_type\":\"left\"}", pt);
    w = f->g1.derived_writes;
    assert_int_equal(create(f, &f->g1, "virtual-machine-interface", vmi, VMI_FMT, "fw-left", l, body), 0);
    assert_int_equal(f->g1.derived_writes - w, 2);
    sci_of(f, lfq, sifq, mode, sizeof mode, &nifs);
    assert_int_equal(nifs, 1);
    check_full(f);
    /* the interface leaves, then the port tuple goes: chains follow */
    delete(f, &f->g2, "virtual-machine-interface", vmi);
    sci_of(f, lfq, sifq, mode, sizeof mode, &nifs);
    assert_int_equal(nifs, 0);
    delete(f, &f->g2, "port-tuple", pt);
    check_full(f);
}

/* One policy attached to 500 networks: changing its rules recompiles the
 * 500 ACLs in one transaction (the raised store caps), and only them. */
static void test_policy_many_networks(void **state)
{
    struct fx *f = *state;
    char pol[GRAPH_UUID_SIZE], vn[GRAPH_UUID_SIZE], body[512];
    enum { N = 500 };
    assert_int_equal(create(f, &f->g1, "network-policy", pol,
                            "{\"name\":\"wide\",\"network_policy_entries\":{\"policy_rule\":[{"
                            "\"direction\":\">\",\"protocol\":\"tcp\","
                            "\"src_addresses\":[{\"virtual_network\":\"any\"}],"
                            "\"dst_addresses\":[{\"virtual_network\":\"local\"}],"
                            "\"dst_ports\":[{\"start_port\":22,\"end_port\":22}],"
                            "\"action_list\":{\"simple_action\":\"pass\"}}]}}"), 0);
    for (int i = 0; i < N; i++) {
        int rc = create(f, &f->g1, "virtual-network", vn,
                        "{\"name\":\"n%03d\",\"network_policy_refs\":[{\"uuid\":\"%s\",\"attr\":"
                        "{\"sequence\":{\"major\":0,\"minor\":0}}}]}", i, pol);
        if (rc) {
            fail_msg("network %d: %s", i, f->err.message);
        }
    }
    uint64_t w = f->g2.derived_writes, t = f->g2.txn_count, c = f->g2.txn_conflicts;
    snprintf(body, sizeof body, "{\"network_policy_entries\":{\"policy_rule\":[{"
             "\"direction\":\">\",\"protocol\":\"tcp\","
             "\"src_addresses\":[{\"virtual_network\":\"any\"}],"
             "\"dst_addresses\":[{\"virtual_network\":\"local\"}],"
             "\"dst_ports\":[{\"start_port\":443,\"end_port\":443}],"
             "\"action_list\":{\"simple_action\":\"pass\"}}]}}");
    update(f, &f->g2, "network-policy", pol, body);
    assert_int_equal(f->g2.derived_writes - w, N);
    /* node 2's image had not seen the 500 attachments: its first plan
     * (compiling none of them) failed the COUNT compare on the policy's
     * back-references; the one that committed compiled all 500 */
    assert_int_equal(f->g2.txn_conflicts - c, 1);
    assert_int_equal(f->g2.txn_count - t, 2);
    json_t *acl = by_fq(f, "access-control-list", "default-domain:default-project:n499:n499");
    assert_non_null(acl);
    json_t *e = json_array_get(json_object_get(json_object_get(acl, "access_control_list_entries"),
                                               "acl_rule"), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(
                         e, "match_condition"), "dst_port"), "start_port")), 443);
    json_decref(acl);
    check_full(f);
}

/* A cluster started by a release that implements version 1 only: node 1
 * is limited to version 1 before the bootstrap records the version. */
/* As fx_setup, with d1 a node of an older release: versions 1..'max'. */
static int fx_setup_old(void **state, int max)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/strata-derive-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct store_fsm_config c = {.no_sync = true, .map_size = 64u << 20};
    assert_int_equal(store_fsm_open(&f->fsm, f->dir, &c), 0);
    graph_kv_fsm_init(&f->kv, f->fsm, 0);
    assert_int_equal(derive_create(&f->d1), 0);
    assert_int_equal(derive_create(&f->d2), 0);
    assert_int_equal(derive_set_versions(f->d1, 1, max), 0);
    f->inner = graph_kv_fsm(&f->kv);
    graph_init(&f->g1, g_schema, (struct graph_kv){.cmd = log_cmd, .arg = f});
    graph_init(&f->g2, g_schema, (struct graph_kv){.cmd = log_cmd, .arg = f});
    assert_int_equal(graph_derive_load(&f->g1, f->d1, NULL, &f->err), 0);
    graph_set_derive(&f->g1, f->d1);
    graph_set_derive(&f->g2, f->d2);
    assert_int_equal(graph_bootstrap(&f->g1, "test", &f->err), 0);
    assert_int_equal(graph_derive_load(&f->g2, f->d2, NULL, &f->err), 0);
    json_t *fq = json_pack("[s,s]", "default-domain", "default-project");
    assert_int_equal(graph_fqname_to_id(&f->g1, "project", fq, true, f->proj, &f->err), 0);
    json_decref(fq);
    *state = f;
    return 0;
}

static int fx_setup_v1(void **state)
{
    return fx_setup_old(state, 1);
}

static int fx_setup_v2(void **state)
{
    return fx_setup_old(state, 2);
}

/* The plans of 'a' and 'b' for one change, as text: equal when the two
 * nodes would commit the same compares and writes. */
static char *plan_text(struct derive *d, const char *type, const char *uuid, const json_t *old,
                       const json_t *now)
{
    struct derive_plan p;
    char msg[256];
    derive_plan_init(&p);
    int rc = derive_plan_change(d, type, uuid, old, now, &p, msg, sizeof msg);
    if (rc) {
        fail_msg("plan %s: %s", type, msg);
    }
    size_t size = 1;
    char *t = calloc(1, size);
    for (size_t i = 0; i < p.ncmps; i++) {
        char *line = NULL;
        assert_true(asprintf(&line, "cmp %u %u %s %s %llu\n", p.cmps[i].target, p.cmps[i].op,
                             p.cmps[i].key, p.cmps[i].value ? p.cmps[i].value : "-",
                             (unsigned long long)p.cmps[i].number) > 0);
        t = realloc(t, size += strlen(line));
        strcat(t, line);
        free(line);
    }
    for (size_t i = 0; i < p.nops; i++) {
        char *line = NULL;
        assert_true(asprintf(&line, "%s %s %s\n", p.ops[i].del ? "del" : "put", p.ops[i].key,
                             p.ops[i].value ? p.ops[i].value : "-") > 0);
        t = realloc(t, size += strlen(line));
        strcat(t, line);
        free(line);
    }
    derive_unreserve(d, p.token);
    derive_plan_destroy(&p);
    return t;
}

/* A rolling upgrade: while the cluster version is 1, a node of the new
 * release (versions 1 and 2) plans every change exactly as a node of the
 * old release (version 1 only): same compares, same writes, no version 2
 * objects. Raising the version is refused while the old node reports it
 * lacks version 2; once it is upgraded, the raise recompiles everything
 * under version 2 in one transaction, recorded in the audit trail. */
static void test_version_raise_two_releases(void **state)
{
    struct fx *f = *state;
    char vn[GRAPH_UUID_SIZE], vm[GRAPH_UUID_SIZE], vr[GRAPH_UUID_SIZE], vmi[GRAPH_UUID_SIZE];
    char body[512], buf[256];
    int lo, hi;
    derive_versions(f->d1, &lo, &hi);
    assert_int_equal(hi, 1);
    assert_int_equal(graph_node_versions_report(&f->g1, "node-1", 1, 1, &f->err), 0);
    assert_int_equal(graph_node_versions_report(&f->g2, "node-2", 1, 2, &f->err), 0);
    json_t *cv = scan(f, DERIVE_KEY_CV);
    assert_string_equal(json_string_value(json_object_get(cv, DERIVE_KEY_CV)), "1");
    json_decref(cv);
    /* changes through both nodes */
    make_vn_subnet(f, &f->g2, "net", "10.0.0.0", vn);
    assert_int_equal(create(f, &f->g1, "virtual-machine", vm, "{\"name\":\"vm\"}"), 0);
    snprintf(body, sizeof body, ",\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]", vm);
    assert_int_equal(create(f, &f->g2, "virtual-machine-interface", vmi, VMI_FMT, "p", vn, body), 0);
    assert_int_equal(create(f, &f->g2, "virtual-router", vr,
                            "{\"name\":\"compute-1\",\"virtual_router_ip_address\":\"172.16.0.1\","
                            "\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]}", vm), 0);
    vr_ifs(f, "compute-1", buf, sizeof buf);
    assert_string_equal(buf, "(none)"); /* version 1 has no index */
    check_full(f);
    /* both images from the store: every plan is identical on both nodes */
    assert_int_equal(graph_derive_load(&f->g1, f->d1, NULL, &f->err), 0);
    assert_int_equal(graph_derive_load(&f->g2, f->d2, NULL, &f->err), 0);
    json_t *nvn = J("{\"uuid\":\"11111111-2222-4333-8444-555555555555\",\"fq_name\":"
                    "[\"default-domain\",\"default-project\",\"n2\"],\"name\":\"n2\","
                    "\"parent_type\":\"project\",\"parent_uuid\":\"%s\"}", f->proj);
    json_t *vrobj = by_fq(f, "virtual-router", "default-global-system-config:compute-1");
    json_t *vmiobj = by_fq(f, "virtual-machine-interface", "default-domain:default-project:p");
    json_t *vr2 = json_deep_copy(vrobj);
    json_object_set_new(vr2, "virtual_machine_refs", json_array());
    const struct {
        const char *type, *uuid;
        const json_t *old, *now;
    } changes[] = {
        {"virtual-network", "11111111-2222-4333-8444-555555555555", NULL, nvn},
        {"virtual-router", vr, vrobj, vr2},
        {"virtual-machine-interface", vmi, vmiobj, NULL},
        {"virtual-router", vr, vrobj, NULL},
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        char *a = plan_text(f->d1, changes[i].type, changes[i].uuid, changes[i].old, changes[i].now);
        char *b = plan_text(f->d2, changes[i].type, changes[i].uuid, changes[i].old, changes[i].now);
        assert_string_equal(a, b);
        assert_non_null(strstr(a, "/c/cv"));
        free(a);
        free(b);
    }
    json_decref(nvn);
    json_decref(vr2);
    json_decref(vrobj);
    json_decref(vmiobj);
    /* raising: refused while node 1 lacks version 2, then by node 1 itself */
    int rc = graph_cluster_version_raise(&f->g2, 2, "admin", NULL, &f->err);
    assert_int_equal(rc, GRAPH_ECONFLICT);
    assert_non_null(strstr(f->err.message, "node-1"));
    rc = graph_cluster_version_raise(&f->g1, 2, "admin", NULL, &f->err);
    assert_int_equal(rc, GRAPH_ECONFLICT);
    /* node 1 upgraded: it reports, and the raise goes through */
    assert_int_equal(derive_set_versions(f->d1, 1, 2), 0);
    assert_int_equal(graph_node_versions_report(&f->g1, "node-1", 1, 2, &f->err), 0);
    uint64_t w = f->g2.derived_writes;
    rc = graph_cluster_version_raise(&f->g2, 2, "admin", NULL, &f->err);
    if (rc) {
        fail_msg("raise: %s", f->err.message);
    }
    assert_int_equal(f->g2.derived_writes - w, 1); /* compute-1's index */
    vr_ifs(f, "compute-1", buf, sizeof buf);
    assert_string_equal(buf, "p");
    cv = scan(f, DERIVE_KEY_CV);
    assert_string_equal(json_string_value(json_object_get(cv, DERIVE_KEY_CV)), "2");
    json_decref(cv);
    json_t *audit = scan(f, "/c/a/");
    const char *k;
    json_t *v;
    bool recorded = false;
    json_object_foreach(audit, k, v) {
        recorded |= strstr(json_string_value(v), "\"op\":\"cluster-version\"") &&
                    strstr(json_string_value(v), "\"to\":2");
    }
    assert_true(recorded);
    json_decref(audit);
    check_full(f);
    /* never lowered; node 1's next change compiles version 2 */
    assert_int_equal(graph_cluster_version_raise(&f->g1, 1, "admin", NULL, &f->err), GRAPH_ECONFLICT);
    assert_int_equal(create(f, &f->g1, "virtual-machine-interface", vmi, VMI_FMT, "q", vn, body), 0);
    vr_ifs(f, "compute-1", buf, sizeof buf);
    assert_true(strcmp(buf, "p,q") == 0 || strcmp(buf, "q,p") == 0);
    check_full(f);
}

/* A compile larger than one transaction is split, not refused: with a
 * budget of 40 compares per plan, changing a policy attached to 30
 * networks commits the policy with the first chunk and a pending key,
 * and follow-up transactions (run by the same request) compile the rest
 * in uuid order. A follow-up left behind (the node died) is finished by
 * another node. */
static void test_split_compile(void **state)
{
    struct fx *f = *state;
    char pol[GRAPH_UUID_SIZE], vn[GRAPH_UUID_SIZE];
    enum { N = 30 };
    assert_int_equal(create(f, &f->g1, "network-policy", pol,
                            "{\"name\":\"p\",\"network_policy_entries\":{\"policy_rule\":[{"
                            "\"direction\":\">\",\"protocol\":\"udp\","
                            "\"src_addresses\":[{\"virtual_network\":\"any\"}],"
                            "\"dst_addresses\":[{\"virtual_network\":\"local\"}],"
                            "\"action_list\":{\"simple_action\":\"pass\"}}]}}"), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(create(f, &f->g1, "virtual-network", vn,
                                "{\"name\":\"s%02d\",\"network_policy_refs\":[{\"uuid\":\"%s\",\"attr\":"
                                "{\"sequence\":{\"major\":0,\"minor\":0}}}]}", i, pol), 0);
    }
    assert_int_equal(graph_derive_load(&f->g1, f->d1, NULL, &f->err), 0);
    derive_set_budget(f->d1, 40, 40);
    uint64_t w = f->g1.derived_writes, t = f->g1.txn_count;
    update(f, &f->g1, "network-policy", pol,
           "{\"network_policy_entries\":{\"policy_rule\":[{\"direction\":\">\",\"protocol\":\"tcp\","
           "\"src_addresses\":[{\"virtual_network\":\"any\"}],"
           "\"dst_addresses\":[{\"virtual_network\":\"local\"}],"
           "\"action_list\":{\"simple_action\":\"pass\"}}]}}");
    assert_int_equal(f->g1.derived_writes - w, N);
    assert_true(f->g1.txn_count - t >= 4); /* 30 networks at ~5 compares each, 40 per plan */
    json_t *pend = scan(f, DERIVE_KEY_PEND);
    assert_int_equal(json_object_size(pend), 0);
    json_decref(pend);
    check_full(f);
    /* the first part only, as a node that dies after it would leave it */
    struct derive_plan p;
    char msg[256];
    derive_plan_init(&p);
    json_t *old = by_fq(f, "network-policy", "default-domain:default-project:p");
    json_t *now = json_deep_copy(old);
    json_object_set_new(json_array_get(json_object_get(json_object_get(now, "network_policy_entries"),
                                                       "policy_rule"), 0),
                        "protocol", json_string("icmp"));
    assert_int_equal(derive_plan_change(f->d1, "network-policy", pol, old, now, &p, msg, sizeof msg), 0);
    assert_true(p.deferred > 0);
    assert_true(p.sources + p.deferred == N);
    /* commit the plan with the policy's own write (what the graph adds) */
    size_t nops = p.nops + 1, ncmps = p.ncmps;
    struct store_op *ops = calloc(nops, sizeof *ops);
    struct store_compare *cmps = calloc(ncmps ? ncmps : 1, sizeof *cmps);
    char *text = json_dumps(now, JSON_COMPACT), *okey = NULL;
    assert_true(asprintf(&okey, "/c/o/network-policy/%s", pol) > 0);
    for (size_t i = 0; i < p.ncmps; i++) {
        cmps[i] = (struct store_compare){.target = p.cmps[i].target, .op = p.cmps[i].op,
            .key = (const uint8_t *)p.cmps[i].key, .key_size = (uint32_t)strlen(p.cmps[i].key),
            .number = p.cmps[i].number};
        if (p.cmps[i].value) {
            cmps[i].value = (const uint8_t *)p.cmps[i].value;
            cmps[i].value_size = (uint32_t)strlen(p.cmps[i].value);
        }
    }
    for (size_t i = 0; i < p.nops; i++) {
        ops[i].kind = p.ops[i].del ? STORE_OP_DELETE : STORE_OP_PUT;
        ops[i].sel = store_sel_key(p.ops[i].key, (uint32_t)strlen(p.ops[i].key));
        if (!p.ops[i].del) {
            ops[i].value = (const uint8_t *)p.ops[i].value;
            ops[i].value_size = (uint32_t)strlen(p.ops[i].value);
        }
    }
    ops[nops - 1] = (struct store_op){.kind = STORE_OP_PUT,
        .sel = store_sel_key(okey, (uint32_t)strlen(okey)), .value = (const uint8_t *)text,
        .value_size = (uint32_t)strlen(text)};
    struct store_cmd c = {.kind = STORE_CMD_TXN, .compares = cmps, .compares_len = (uint32_t)ncmps,
                          .success = ops, .success_len = (uint32_t)nops};
    struct buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    assert_int_equal(store_cmd_encode(&c, &cmd), 0);
    struct graph_kv kv = graph_kv_fsm(&f->kv);
    assert_int_equal(kv.cmd(kv.arg, &cmd, false, &reply), 0);
    struct store_reply r;
    assert_int_equal(store_reply_decode(&r, reply.data, reply.size), 0);
    assert_int_equal(r.succeeded, 1);
    store_reply_destroy(&r);
    buf_destroy(&cmd);
    buf_destroy(&reply);
    derive_unreserve(f->d1, p.token);
    derive_plan_destroy(&p);
    free(ops);
    free(cmps);
    free(text);
    free(okey);
    json_decref(old);
    json_decref(now);
    pend = scan(f, DERIVE_KEY_PEND);
    assert_int_equal(json_object_size(pend), 1);
    json_decref(pend);
    /* node 2 finishes it */
    assert_int_equal(graph_derive_load(&f->g2, f->d2, NULL, &f->err), 0);
    assert_true(derive_pending(f->d2));
    assert_int_equal(graph_compile_pending(&f->g2, &f->err), 0);
    pend = scan(f, DERIVE_KEY_PEND);
    assert_int_equal(json_object_size(pend), 0);
    json_decref(pend);
    check_full(f);
}

/* Determinism: the transactions of a scenario with every version 2
 * construct (a floating IP, a virtual router's index, a service chain with
 * a port tuple, a split compile), replayed on a fresh state machine, give
 * the same revision and consistency hash. */
static void test_replay_v2(void **state)
{
    struct fx *f = *state;
    char pub[GRAPH_UUID_SIZE], priv[GRAPH_UUID_SIZE], pool[GRAPH_UUID_SIZE], vm[GRAPH_UUID_SIZE];
    char vmi[GRAPH_UUID_SIZE], x[GRAPH_UUID_SIZE], st[GRAPH_UUID_SIZE], si[GRAPH_UUID_SIZE];
    char pol[GRAPH_UUID_SIZE], body[512];
    make_vn_subnet(f, &f->g1, "pub", "192.0.2.0", pub);
    make_vn_subnet(f, &f->g2, "priv", "10.0.0.0", priv);
    assert_int_equal(create(f, &f->g1, "floating-ip-pool", pool,
                            "{\"name\":\"pool\",\"parent_type\":\"virtual-network\","
                            "\"parent_uuid\":\"%s\"}", pub), 0);
    assert_int_equal(create(f, &f->g2, "virtual-machine", vm, "{\"name\":\"vm\"}"), 0);
    snprintf(body, sizeof body, ",\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]", vm);
    assert_int_equal(create(f, &f->g1, "virtual-machine-interface", vmi, VMI_FMT, "p", priv, body), 0);
    assert_int_equal(create(f, &f->g2, "instance-ip", x,
                            "{\"virtual_network_refs\":[{\"uuid\":\"%s\"}],"
                            "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}", priv, vmi), 0);
    assert_int_equal(create(f, &f->g1, "floating-ip", x,
                            "{\"name\":\"f\",\"parent_type\":\"floating-ip-pool\",\"parent_uuid\":\"%s\","
                            "\"floating_ip_address\":\"192.0.2.9\","
                            "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}", pool, vmi), 0);
    assert_int_equal(create(f, &f->g2, "virtual-router", x,
                            "{\"name\":\"c1\",\"virtual_router_ip_address\":\"172.16.0.1\","
                            "\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]}", vm), 0);
    assert_int_equal(create(f, &f->g1, "service-template", st,
                            "{\"name\":\"t\",\"service_template_properties\":{\"service_mode\":\"in-network\"}}"), 0);
    assert_int_equal(create(f, &f->g1, "service-instance", si,
                            "{\"name\":\"s\",\"service_template_refs\":[{\"uuid\":\"%s\"}]}", st), 0);
    assert_int_equal(create(f, &f->g2, "port-tuple", x,
                            "{\"name\":\"pt\",\"parent_type\":\"service-instance\",\"parent_uuid\":\"%s\"}", si), 0);
    assert_int_equal(create(f, &f->g1, "network-policy", pol,
                            "{\"name\":\"chain\",\"network_policy_entries\":{\"policy_rule\":[{"
                            "\"direction\":\"<>\",\"protocol\":\"any\","
                            "\"src_addresses\":[{\"virtual_network\":\"pub\"}],"
                            "\"dst_addresses\":[{\"virtual_network\":\"priv\"}],"
                            "\"action_list\":{\"simple_action\":\"pass\",\"apply_service\":[\"s\"]}}]}}"), 0);
    derive_set_budget(f->d2, 24, 24);
    bool split = false;
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof body, "{\"network_policy_refs\":[{\"uuid\":\"%s\",\"attr\":"
                 "{\"sequence\":{\"major\":0,\"minor\":0}}}]}", pol);
        size_t before = f->log_len;
        update(f, &f->g2, "virtual-network", i ? priv : pub, body);
        for (size_t j = before; j < f->log_len; j++) {
            split |= memmem(f->log[j].data, f->log[j].size, DERIVE_KEY_PEND, strlen(DERIVE_KEY_PEND)) != NULL;
        }
    }
    assert_true(split); /* the second attachment's compile was split */
    derive_set_budget(f->d2, 0, 0);
    /* version 3: the global settings, through both nodes */
    assert_int_equal(create(f, &f->g1, "global-vrouter-config", x,
                            "{\"fq_name\":[\"default-global-system-config\",\"%s\"],"
                            "\"parent_type\":\"global-system-config\","
                            "\"encapsulation_priorities\":{\"encapsulation\":[\"VXLAN\",\"MPLSoGRE\"]}}",
                            COMPILE_GVRC_NAME), 0);
    json_t *gfq = json_pack("[s]", "default-global-system-config");
    assert_int_equal(graph_fqname_to_id(&f->g2, "global-system-config", gfq, true, x, &f->err), 0);
    json_decref(gfq);
    update(f, &f->g2, "global-system-config", x, "{\"graceful_restart_parameters\":{\"restart_time\":60}}");
    check_full(f);
    json_t *m = by_fq(f, "virtual-router-index", "default-global-system-config:c1:index");
    assert_non_null(m);
    json_decref(m);
    m = by_fq(f, COMPILE_EGC_TYPE, "default-global-system-config:" COMPILE_EGC_NAME);
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "graceful_restart_parameters"),
                                                        "restart_time")), 60);
    json_decref(m);
    /* replay */
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/strata-derive-XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct store_fsm *other;
    struct store_fsm_config c = {.no_sync = true, .map_size = 64u << 20};
    assert_int_equal(store_fsm_open(&other, dir, &c), 0);
    struct store_result res;
    buf_init(&res.reply, 0);
    for (size_t i = 0; i < f->log_len; i++) {
        struct store_entry e = {.index = i + 1, .data = f->log[i].data, .size = f->log[i].size};
        assert_int_equal(store_fsm_apply_batch(other, &e, 1, &res), 0);
    }
    buf_destroy(&res.reply);
    uint8_t h1[STORE_HASH_SIZE], h2[STORE_HASH_SIZE];
    uint64_t r1, r2;
    assert_int_equal(store_fsm_hash(f->fsm, &r1, h1), 0);
    assert_int_equal(store_fsm_hash(other, &r2, h2), 0);
    assert_true(r1 == r2);
    assert_memory_equal(h1, h2, STORE_HASH_SIZE);
    store_fsm_close(other);
    char p[128];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

static bool plan_has_op(const struct derive_plan *p, const char *key)
{
    for (size_t i = 0; i < p->nops; i++) {
        if (strcmp(p->ops[i].key, key) == 0) {
            return true;
        }
    }
    return false;
}

/* Plans in flight in one process take distinct numbers (reservations);
 * a dropped reservation frees its number for the next plan. */
static void test_reservations(void **state)
{
    struct fx *f = *state;
    struct derive_plan p1, p2, p3;
    char msg[256];
    const char *ua = "00000000-0000-4000-8000-00000000000a";
    const char *ub = "00000000-0000-4000-8000-00000000000b";
    derive_plan_init(&p1);
    derive_plan_init(&p2);
    derive_plan_init(&p3);
    json_t *a = J("{\"uuid\":\"%s\",\"name\":\"a\",\"fq_name\":[\"default-domain\","
                  "\"default-project\",\"a\"],\"parent_type\":\"project\",\"parent_uuid\":\"%s\"}",
                  ua, f->proj);
    json_t *b = J("{\"uuid\":\"%s\",\"name\":\"b\",\"fq_name\":[\"default-domain\","
                  "\"default-project\",\"b\"],\"parent_type\":\"project\",\"parent_uuid\":\"%s\"}",
                  ub, f->proj);
    assert_int_equal(derive_plan_change(f->d1, "virtual-network", ua, NULL, a, &p1, msg, sizeof msg), 0);
    assert_int_equal(derive_plan_change(f->d1, "virtual-network", ub, NULL, b, &p2, msg, sizeof msg), 0);
    assert_true(plan_has_op(&p1, "/c/id/rt/0008000000"));
    assert_true(plan_has_op(&p1, "/c/id/vni/0000000001"));
    assert_true(plan_has_op(&p2, "/c/id/rt/0008000001"));
    assert_true(plan_has_op(&p2, "/c/id/vni/0000000002"));
    assert_true(p1.token != 0 && p2.token != 0 && p1.token != p2.token);
    /* a dropped, b still in flight: a new plan for a takes 8000000 again */
    derive_unreserve(f->d1, p1.token);
    assert_int_equal(derive_plan_change(f->d1, "virtual-network", ua, NULL, a, &p3, msg, sizeof msg), 0);
    assert_true(plan_has_op(&p3, "/c/id/rt/0008000000"));
    assert_false(plan_has_op(&p3, "/c/id/rt/0008000001"));
    derive_unreserve(f->d1, p2.token);
    derive_unreserve(f->d1, p3.token);
    /* nothing reserved: b takes the lowest number */
    assert_int_equal(derive_plan_change(f->d1, "virtual-network", ub, NULL, b, &p2, msg, sizeof msg), 0);
    assert_true(plan_has_op(&p2, "/c/id/rt/0008000000"));
    derive_unreserve(f->d1, p2.token);
    derive_plan_destroy(&p1);
    derive_plan_destroy(&p2);
    derive_plan_destroy(&p3);
    json_decref(a);
    json_decref(b);
}

/* True when plans 'a' and 'b' hold the same compares and writes in the
 * same order. */
static bool plans_equal(const struct derive_plan *a, const struct derive_plan *b)
{
    if (a->ncmps != b->ncmps || a->nops != b->nops) {
        return false;
    }
    for (size_t i = 0; i < a->ncmps; i++) {
        const struct derive_cmp *x = &a->cmps[i], *y = &b->cmps[i];
        if (x->target != y->target || x->op != y->op || x->number != y->number ||
            strcmp(x->key, y->key) != 0 || (x->value == NULL) != (y->value == NULL) ||
            (x->value && strcmp(x->value, y->value) != 0)) {
            return false;
        }
    }
    for (size_t i = 0; i < a->nops; i++) {
        const struct derive_op *x = &a->ops[i], *y = &b->ops[i];
        if (x->del != y->del || strcmp(x->key, y->key) != 0 || (x->value == NULL) != (y->value == NULL) ||
            (x->value && strcmp(x->value, y->value) != 0)) {
            return false;
        }
    }
    return true;
}

/* The image keeps its identifier pools from plan to plan (derive.c,
 * ids_begin(): a journal on them, rolled back after each plan) and in
 * step with the key states it is fed (here its own commits: allocations,
 * and deletions that release numbers). After twelve creates and three
 * deletes through one node, the released numbers are taken again lowest
 * first, and a plan on that image equals, compare for compare and write
 * for write, the same plan on an image loaded fresh from the store; with
 * a plan in flight (reserved), too. */
static void test_ids_in_step(void **state)
{
    struct fx *f = *state;
    char vn[12][GRAPH_UUID_SIZE], name[16], extra[3][GRAPH_UUID_SIZE];
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(create(f, &f->g1, "virtual-network", vn[i], VN_FMT, name, f->proj), 0);
    }
    /* the numbers of n3, n7 and n9 */
    const int gone[3] = {3, 7, 9};
    char vni_key[3][64], rt_key[3][64];
    json_t *ids = scan(f, "/c/id/");
    for (int k = 0; k < 3; k++) {
        vni_key[k][0] = rt_key[k][0] = '\0';
        const char *key;
        json_t *v;
        json_object_foreach(ids, key, v) {
            if (strcmp(json_string_value(v), vn[gone[k]]) == 0) {
                snprintf(strncmp(key, "/c/id/vni/", 10) == 0 ? vni_key[k] : rt_key[k], 64, "%s", key);
            }
        }
        assert_true(vni_key[k][0] && rt_key[k][0]);
    }
    json_decref(ids);
    for (int k = 2; k >= 0; k--) {
        assert_int_equal(graph_obj_delete(&f->g1, "virtual-network", vn[gone[k]], 0, "tester", NULL,
                                          &f->err), 0);
    }
    /* lowest first: n3's numbers, then n7's, then n9's */
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "x%d", k);
        assert_int_equal(create(f, &f->g1, "virtual-network", extra[k], VN_FMT, name, f->proj), 0);
        ids = scan(f, "/c/id/");
        assert_string_equal(json_string_value(json_object_get(ids, vni_key[k])), extra[k]);
        assert_string_equal(json_string_value(json_object_get(ids, rt_key[k])), extra[k]);
        json_decref(ids);
    }
    assert_int_equal(graph_obj_delete(&f->g1, "virtual-network", vn[5], 0, "tester", NULL, &f->err), 0);

    /* a plan on the long-lived pools equals one on a fresh image, with and
     * without a plan in flight */
    struct derive *fresh;
    assert_int_equal(derive_create(&fresh), 0);
    assert_int_equal(graph_derive_load(&f->g1, fresh, NULL, &f->err), 0);
    struct derive_plan p1, p2, q1, q2;
    char msg[256];
    derive_plan_init(&p1);
    derive_plan_init(&p2);
    derive_plan_init(&q1);
    derive_plan_init(&q2);
    const char *ua = "00000000-0000-4000-8000-0000000000aa";
    const char *ub = "00000000-0000-4000-8000-0000000000bb";
    json_t *a = J("{\"uuid\":\"%s\",\"name\":\"pa\",\"fq_name\":[\"default-domain\","
                  "\"default-project\",\"pa\"],\"parent_type\":\"project\",\"parent_uuid\":\"%s\"}",
                  ua, f->proj);
    json_t *b = J("{\"uuid\":\"%s\",\"name\":\"pb\",\"fq_name\":[\"default-domain\","
                  "\"default-project\",\"pb\"],\"parent_type\":\"project\",\"parent_uuid\":\"%s\"}",
                  ub, f->proj);
    assert_int_equal(derive_plan_change(f->d1, "virtual-network", ua, NULL, a, &p1, msg, sizeof msg), 0);
    assert_int_equal(derive_plan_change(fresh, "virtual-network", ua, NULL, a, &p2, msg, sizeof msg), 0);
    assert_true(plans_equal(&p1, &p2));
    assert_true(plan_has_op(&p1, "/c/id/vni/0000000006")); /* n5's, the lowest free */
    /* pa still reserved on both: pb takes the next free */
    assert_int_equal(derive_plan_change(f->d1, "virtual-network", ub, NULL, b, &q1, msg, sizeof msg), 0);
    assert_int_equal(derive_plan_change(fresh, "virtual-network", ub, NULL, b, &q2, msg, sizeof msg), 0);
    assert_true(plans_equal(&q1, &q2));
    assert_true(plan_has_op(&q1, "/c/id/vni/0000000013"));
    derive_unreserve(f->d1, p1.token);
    derive_unreserve(f->d1, q1.token);
    derive_unreserve(fresh, p2.token);
    derive_unreserve(fresh, q2.token);
    derive_plan_destroy(&p1);
    derive_plan_destroy(&p2);
    derive_plan_destroy(&q1);
    derive_plan_destroy(&q2);
    json_decref(a);
    json_decref(b);
    derive_free(fresh);
    check_full(f);
}

static bool plan_has_cmp(const struct derive_plan *p, const char *key)
{
    for (size_t i = 0; i < p->ncmps; i++) {
        if (strcmp(p->cmps[i].key, key) == 0) {
            return true;
        }
    }
    return false;
}

/* Planning a create named like an object the image holds (it will fail
 * the graph's fq_name compare) must not cost that object its name index:
 * a later plan still finds it by name (no "absent" compare for it). */
static void test_twin_name_keeps_index(void **state)
{
    struct fx *f = *state;
    char a[GRAPH_UUID_SIZE], b[GRAPH_UUID_SIZE], pol[GRAPH_UUID_SIZE], msg[256];
    assert_int_equal(create(f, &f->g1, "virtual-network", a, VN_FMT, "vn-a", f->proj), 0);
    assert_int_equal(create(f, &f->g1, "virtual-network", b, VN_FMT, "vn-b", f->proj), 0);
    assert_int_equal(create(f, &f->g1, "network-policy", pol, POLICY, f->proj), 0);
    assert_int_equal(graph_ref_update(&f->g1, GRAPH_REF_ADD, "virtual-network", b, "network-policy",
                                      pol, NULL, NULL, "t", NULL, &f->err), 0);
    struct derive_plan p;
    derive_plan_init(&p);
    json_t *twin = J("{\"uuid\":\"00000000-0000-4000-8000-0000000000aa\",\"name\":\"vn-a\","
                     "\"fq_name\":[\"default-domain\",\"default-project\",\"vn-a\"],"
                     "\"parent_type\":\"project\",\"parent_uuid\":\"%s\"}", f->proj);
    assert_int_equal(derive_plan_change(f->d1, "virtual-network",
                                        "00000000-0000-4000-8000-0000000000aa", NULL, twin, &p,
                                        msg, sizeof msg), 0);
    derive_unreserve(f->d1, p.token);
    /* vn-b's policy names vn-a: recompiling vn-b looks it up by name */
    json_t *now = NULL, *obj = NULL;
    assert_int_equal(graph_obj_read(&f->g1, "virtual-network", b, NULL, true, &obj, NULL, &f->err), 0);
    now = json_deep_copy(obj);
    json_object_set_new(now, "display_name", json_string("B"));
    json_object_del(now, "href");
    assert_int_equal(derive_plan_change(f->d1, "virtual-network", b, obj, now, &p, msg, sizeof msg), 0);
    assert_false(plan_has_cmp(&p, "/c/f/virtual-network/default-domain\x1f" "default-project\x1fvn-a"));
    char key[128];
    snprintf(key, sizeof key, "/c/o/virtual-network/%s", a);
    assert_true(plan_has_cmp(&p, key)); /* read, present */
    derive_unreserve(f->d1, p.token);
    derive_plan_destroy(&p);
    json_decref(twin);
    json_decref(obj);
    json_decref(now);
    check_full(f);
}


/* ---- concurrent writers (lock-free compiles) ---- */

/* A watch on the store for one image: after every transaction, the
 * history since the last revision fed goes into the image (as the config
 * role's feeder does over the network). */
struct feeder {
    struct fx *f;
    struct derive *d;
    uint64_t next; /* first revision not fed yet */
    bool stop;
    int error;
    pthread_t thread;
};

static int feed_event(void *arg, const struct store_event *ev)
{
    struct feeder *fd = arg;
    if (derive_apply(fd->d, ev->kv.key, ev->kv.key_size, ev->kv.value, ev->kv.value_size,
                     ev->revision, ev->type == STORE_EVENT_DELETE) != 0) {
        fd->error = -1;
    }
    return 0;
}

static void *feeder_main(void *arg)
{
    struct feeder *fd = arg;
    struct store_keysel sel = store_sel_prefix("/c/", 3);
    pthread_mutex_lock(&g_store_mu);
    while (!fd->stop && fd->error == 0) {
        struct store_fsm_status st;
        if (store_fsm_status(fd->f->fsm, &st) != 0) {
            fd->error = -1;
            break;
        }
        if (st.revision < fd->next) {
            pthread_cond_wait(&g_moved, &g_store_mu);
            continue;
        }
        if (store_fsm_history(fd->f->fsm, fd->next, &sel, 0, feed_event, fd, NULL) != 0) {
            fd->error = -1;
            break;
        }
        derive_caught_up(fd->d, st.revision);
        fd->next = st.revision + 1;
    }
    pthread_mutex_unlock(&g_store_mu);
    return NULL;
}

/* Loads 'd' through 'g' and starts following the store. */
static void feeder_start(struct feeder *fd, struct fx *f, struct graph *g, struct derive *d)
{
    *fd = (struct feeder){.f = f, .d = d};
    assert_int_equal(graph_derive_load(g, d, NULL, &f->err), 0);
    fd->next = derive_revision(d) + 1;
    derive_set_watched(d, true);
    assert_int_equal(pthread_create(&fd->thread, NULL, feeder_main, fd), 0);
}

static void feeder_stop(struct feeder *fd)
{
    pthread_mutex_lock(&g_store_mu);
    fd->stop = true;
    pthread_cond_broadcast(&g_moved);
    pthread_mutex_unlock(&g_store_mu);
    assert_int_equal(pthread_join(fd->thread, NULL), 0);
    derive_set_watched(fd->d, false);
    assert_int_equal(fd->error, 0);
}

#define CW_WORKERS 4
#define CW_PORTS 12

/* One worker thread: a graph of node 1 or 2 creating interfaces (bound to
 * machines hosted by the two routers, or unbound), their addresses and
 * floating IPs; worker 0 also creates a network (its compile allocates,
 * so it takes the lock), worker 3 adds a machine to compute-2 midway. */
struct cw {
    struct fx *f;
    struct graph *g;
    int id;
    const char *vn, *pool, *r2;
    char (*vm)[GRAPH_UUID_SIZE];
    int rc;
    char what[64];
    struct graph_error err;
};

static int cw_create(struct cw *w, const char *type, char uuid[GRAPH_UUID_SIZE], const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int cw_create(struct cw *w, const char *type, char uuid[GRAPH_UUID_SIZE], const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_t *body = json_loads(text, 0, NULL), *out = NULL;
    int rc = body ? graph_obj_create(w->g, type, body, "tester", &out, NULL, &w->err) : -1;
    if (rc == 0 && uuid) {
        snprintf(uuid, GRAPH_UUID_SIZE, "%s", json_string_value(json_object_get(out, "uuid")));
    }
    json_decref(out);
    json_decref(body);
    snprintf(w->what, sizeof w->what, "create %s", type);
    return rc;
}

static void *cw_main(void *arg)
{
    struct cw *w = arg;
    for (int i = 0; i < CW_PORTS && w->rc == 0; i++) {
        char vmi[GRAPH_UUID_SIZE], vmref[128] = "";
        bool bound = i % 3 != 2;
        if (bound) {
            snprintf(vmref, sizeof vmref, ",\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]",
                     w->vm[(w->id + i) % 4]);
        }
        w->rc = cw_create(w, "virtual-machine-interface", vmi,
                          "{\"name\":\"w%d-%d\",\"virtual_network_refs\":[{\"uuid\":\"%s\"}]%s}",
                          w->id, i, w->vn, vmref);
        if (w->rc == 0 && bound) {
            w->rc = cw_create(w, "instance-ip", NULL,
                              "{\"virtual_network_refs\":[{\"uuid\":\"%s\"}],"
                              "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}", w->vn, vmi);
        }
        if (w->rc == 0 && i % 4 == 0) {
            w->rc = cw_create(w, "floating-ip", NULL,
                              "{\"name\":\"fip-%d-%d\",\"parent_type\":\"floating-ip-pool\","
                              "\"parent_uuid\":\"%s\",\"floating_ip_address\":\"192.0.2.%d\","
                              "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}",
                              w->id, i, w->pool, 10 + w->id * CW_PORTS + i, vmi);
        }
        if (w->rc == 0 && w->id == 0 && i == CW_PORTS / 2) {
            w->rc = cw_create(w, "virtual-network", NULL, "{\"name\":\"net-w0\"}");
        }
        if (w->rc == 0 && w->id == 3 && i == CW_PORTS / 2) {
            char body[512];
            snprintf(body, sizeof body, "{\"virtual_machine_refs\":[{\"uuid\":\"%s\"},{\"uuid\":\"%s\"},"
                     "{\"uuid\":\"%s\"}]}", w->vm[2], w->vm[3], w->vm[0]);
            json_t *b = json_loads(body, 0, NULL);
            w->rc = b ? graph_obj_update(w->g, "virtual-router", w->r2, b, 0, "t", NULL, NULL, &w->err)
                      : -1;
            snprintf(w->what, sizeof w->what, "update virtual-router");
            json_decref(b);
        }
    }
    return NULL;
}

/* How many interfaces the index of router 'name' lists. */
static size_t vr_count(struct fx *f, const char *name)
{
    char fq[256];
    snprintf(fq, sizeof fq, "default-global-system-config:%s:index", name);
    json_t *idx = by_fq(f, "virtual-router-index", fq);
    size_t n = json_array_size(json_object_get(json_object_get(idx, "virtual_router_index"),
                                               "interfaces"));
    json_decref(idx);
    return n;
}

/* A create in another thread while this one holds 'd''s compiling lock. */
struct held {
    struct fx *f;
    struct graph *g;
    const char *type, *body;
    int rc;
    bool done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct graph_error err;
};

static void *held_main(void *arg)
{
    struct held *h = arg;
    json_t *b = json_loads(h->body, 0, NULL);
    int rc = b ? graph_obj_create(h->g, h->type, b, "t", NULL, NULL, &h->err) : -1;
    json_decref(b);
    pthread_mutex_lock(&h->mu);
    h->rc = rc;
    h->done = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Runs the create of 'type' 'body' on 'g' in a thread while this thread
 * holds 'g''s compiling lock; true when it finished (successfully) with
 * the lock still held: it never waited for it. A create that needed the
 * lock cannot finish before the 30 s bound; the lock is then released and
 * the thread joined. */
static bool create_while_locked(struct fx *f, struct graph *g, const char *type, const char *body)
{
    struct held h = {.f = f, .g = g, .type = type, .body = body};
    pthread_t t;
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    derive_lock(g->derive);
    assert_int_equal(pthread_create(&t, NULL, held_main, &h), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&h.mu);
    while (!h.done && pthread_cond_timedwait(&h.cv, &h.mu, &until) == 0) {
    }
    bool done = h.done;
    pthread_mutex_unlock(&h.mu);
    derive_unlock(g->derive);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_mutex_destroy(&h.mu);
    pthread_cond_destroy(&h.cv);
    if (h.rc) {
        fail_msg("create %s: %s", type, h.err.message);
    }
    return done;
}

/* Interfaces, instance-ips, floating IPs and virtual routers compile
 * without the per-process lock. Four workers (two graphs on each of two
 * nodes' watched images) create interfaces bound to machines hosted by
 * two routers, unbound ones, their addresses and floating IPs, a network
 * (which takes the lock) and a router change, all at once: every request
 * succeeds (stale plans fail their compares, wait for the image and plan
 * again), and the store equals a full compile of its intent, the result
 * of a serial compile. An unbound interface's plan is compares only.
 * Afterwards, on the watched lock-free path, binding, moving and
 * unbinding write exactly 1, 2 and 1 indexes, as in the serial path. */
static void test_concurrent_lock_free(void **state)
{
    struct fx *f = *state;
    char vn[GRAPH_UUID_SIZE], pub[GRAPH_UUID_SIZE], pool[GRAPH_UUID_SIZE];
    char vm[4][GRAPH_UUID_SIZE], r[2][GRAPH_UUID_SIZE], body[512];
    make_vn_subnet(f, &f->g1, "net", "10.0.0.0", vn);
    make_vn_subnet(f, &f->g1, "public", "192.0.2.0", pub);
    assert_int_equal(create(f, &f->g1, "floating-ip-pool", pool,
                            "{\"name\":\"pool\",\"parent_type\":\"virtual-network\","
                            "\"parent_uuid\":\"%s\"}", pub), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(create(f, &f->g1, "virtual-machine", vm[i], "{\"name\":\"vm-%d\"}", i), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(create(f, &f->g1, "virtual-router", r[i],
                                "{\"name\":\"compute-%d\",\"virtual_router_ip_address\":\"172.16.0.%d\","
                                "\"virtual_machine_refs\":[{\"uuid\":\"%s\"},{\"uuid\":\"%s\"}]}",
                                i + 1, i + 1, vm[2 * i], vm[2 * i + 1]), 0);
    }
    assert_true(derive_type_serial("virtual-network"));
    assert_true(derive_type_serial("port-tuple"));
    assert_false(derive_type_serial("virtual-machine-interface"));
    assert_false(derive_type_serial("instance-ip"));
    assert_false(derive_type_serial("floating-ip"));
    assert_false(derive_type_serial("virtual-router"));
    assert_false(derive_type_serial("virtual-machine"));

    /* an unbound interface no floating IP names: no writes, a few
     * compares, not serial; a network: serial */
    struct derive_plan p;
    char msg[256];
    derive_plan_init(&p);
    const char *nu = "00000000-0000-4000-8000-0000000000c1";
    json_t *nv = J("{\"uuid\":\"%s\",\"name\":\"u\",\"fq_name\":[\"default-domain\","
                   "\"default-project\",\"u\"],\"parent_type\":\"project\",\"parent_uuid\":\"%s\","
                   "\"virtual_network_refs\":[{\"uuid\":\"%s\",\"to\":[\"default-domain\","
                   "\"default-project\",\"net\"]}]}", nu, f->proj, vn);
    assert_int_equal(derive_plan_change(f->d1, "virtual-machine-interface", nu, NULL, nv, &p, msg,
                                        sizeof msg), 0);
    for (size_t i = 0; getenv("GRAPH_TEST_VERBOSE") && i < p.ncmps; i++) {
        fprintf(stderr, "unbound interface: compare %u %s\n", p.cmps[i].target, p.cmps[i].key);
    }
    assert_int_equal(p.nops, 0);
    assert_int_equal(p.sources, 0);
    assert_false(p.serial);
    assert_true(p.ncmps >= 1 && p.ncmps <= 8);
    assert_true(plan_has_cmp(&p, DERIVE_KEY_CV));
    char key[128];
    snprintf(key, sizeof key, "/c/wbr/%s/floating-ip/", nu);
    assert_true(plan_has_cmp(&p, key)); /* no floating IP refers to it */
    derive_unreserve(f->d1, p.token);
    json_decref(nv);
    nv = J("{\"uuid\":\"%s\",\"name\":\"n\",\"fq_name\":[\"default-domain\",\"default-project\",\"n\"],"
           "\"parent_type\":\"project\",\"parent_uuid\":\"%s\"}", nu, f->proj);
    assert_int_equal(derive_plan_change(f->d1, "virtual-network", nu, NULL, nv, &p, msg, sizeof msg), 0);
    assert_true(p.serial);
    derive_unreserve(f->d1, p.token);
    derive_plan_destroy(&p);
    json_decref(nv);

    struct feeder fd1, fd2;
    feeder_start(&fd1, f, &f->g1, f->d1);
    feeder_start(&fd2, f, &f->g2, f->d2);
    /* with node 1's lock held by another thread: an interface, its
     * address and a floating IP commit; they never wait for it */
    char vmi[GRAPH_UUID_SIZE];
    snprintf(body, sizeof body, "{\"name\":\"held\",\"virtual_network_refs\":[{\"uuid\":\"%s\"}],"
             "\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]}", vn, vm[0]);
    assert_true(create_while_locked(f, &f->g1, "virtual-machine-interface", body));
    json_t *fqv = J("[\"default-domain\",\"default-project\",\"held\"]");
    assert_int_equal(graph_fqname_to_id(&f->g1, "virtual-machine-interface", fqv, true, vmi, &f->err), 0);
    json_decref(fqv);
    snprintf(body, sizeof body, "{\"virtual_network_refs\":[{\"uuid\":\"%s\"}],"
             "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}", vn, vmi);
    assert_true(create_while_locked(f, &f->g1, "instance-ip", body));
    snprintf(body, sizeof body, "{\"name\":\"fip-held\",\"parent_type\":\"floating-ip-pool\","
             "\"parent_uuid\":\"%s\",\"floating_ip_address\":\"192.0.2.200\","
             "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}", pool, vmi);
    assert_true(create_while_locked(f, &f->g1, "floating-ip", body));
    assert_int_equal(vr_count(f, "compute-1"), 1);

    /* four workers at once */
    struct graph g1b, g2b;
    graph_init(&g1b, g_schema, (struct graph_kv){.cmd = log_cmd, .arg = f});
    graph_init(&g2b, g_schema, (struct graph_kv){.cmd = log_cmd, .arg = f});
    graph_set_derive(&g1b, f->d1);
    graph_set_derive(&g2b, f->d2);
    struct graph *gs[CW_WORKERS] = {&f->g1, &f->g2, &g1b, &g2b};
    struct cw w[CW_WORKERS];
    pthread_t th[CW_WORKERS];
    uint64_t conflicts = 0;
    for (int i = 0; i < CW_WORKERS; i++) {
        conflicts += gs[i]->txn_conflicts;
        w[i] = (struct cw){.f = f, .g = gs[i], .id = i, .vn = vn, .pool = pool, .r2 = r[1], .vm = vm};
        assert_int_equal(pthread_create(&th[i], NULL, cw_main, &w[i]), 0);
    }
    for (int i = 0; i < CW_WORKERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
    }
    for (int i = 0; i < CW_WORKERS; i++) {
        if (w[i].rc) {
            fail_msg("worker %d: %s: %s", i, w[i].what, w[i].err.message);
        }
    }
    for (int i = 0; i < CW_WORKERS; i++) {
        conflicts -= gs[i]->txn_conflicts;
    }
    if (getenv("GRAPH_TEST_VERBOSE")) {
        fprintf(stderr, "concurrent: %llu refused transactions\n", (unsigned long long)-conflicts);
    }
    check_full(f);
    /* compute-1 hosts vm-0 and vm-1: the held interface and the bound
     * interfaces of the workers on those machines */
    size_t want = 1;
    for (int id = 0; id < CW_WORKERS; id++) {
        for (int i = 0; i < CW_PORTS; i++) {
            want += i % 3 != 2 && (id + i) % 4 < 2;
        }
    }
    assert_int_equal(vr_count(f, "compute-1"), want);

    /* the lock-free path's write counts equal the serial path's; counted
     * per attempt, so first both images see every worker's commit (a plan
     * on a lagging image is refused and made again, counting twice) */
    struct store_fsm_status fst;
    pthread_mutex_lock(&g_store_mu);
    assert_int_equal(store_fsm_status(f->fsm, &fst), 0);
    pthread_mutex_unlock(&g_store_mu);
    assert_true(derive_wait(f->d1, fst.revision, 60000));
    assert_true(derive_wait(f->d2, fst.revision, 60000));
    char a[GRAPH_UUID_SIZE];
    uint64_t wr = f->g1.derived_writes;
    snprintf(body, sizeof body, ",\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]", vm[1]);
    assert_int_equal(create(f, &f->g1, "virtual-machine-interface", a, VMI_FMT, "late", vn, body), 0);
    assert_int_equal(f->g1.derived_writes - wr, 1);
    wr = f->g1.derived_writes;
    snprintf(body, sizeof body, "{\"virtual_machine_refs\":[{\"uuid\":\"%s\"}]}", vm[3]);
    update(f, &f->g1, "virtual-machine-interface", a, body);
    assert_int_equal(f->g1.derived_writes - wr, 2);
    wr = f->g1.derived_writes;
    update(f, &f->g1, "virtual-machine-interface", a, "{\"virtual_machine_refs\":null}");
    assert_int_equal(f->g1.derived_writes - wr, 1);
    wr = f->g1.derived_writes;
    assert_int_equal(create(f, &f->g1, "virtual-machine-interface", NULL, VMI_FMT, "plain", vn, ""), 0);
    assert_int_equal(f->g1.derived_writes - wr, 0);
    feeder_stop(&fd1);
    feeder_stop(&fd2);
    check_full(f);
}

/* ---- pipelined plans (graph_kv.send / wait) ---- */

/* An ordered pipeline in front of the store, as the config role's
 * store_mux is: sends queue in order; each waiter applies its own command
 * once every earlier one has been applied and the gate is open. */
#define PQ_MAX 1024
struct pq {
    struct fx *f;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct buf cmds[PQ_MAX];
    size_t sent, applied;
    bool gate;
};

static void pq_init(struct pq *q, struct fx *f, bool gate)
{
    memset(q, 0, sizeof *q);
    q->f = f;
    q->gate = gate;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
}

static void pq_destroy(struct pq *q)
{
    for (size_t i = 0; i < q->sent; i++) {
        buf_destroy(&q->cmds[i]);
    }
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

static int pq_cmd(void *arg, const struct buf *cmd, bool serializable, struct buf *reply)
{
    struct pq *q = arg;
    return log_cmd(q->f, cmd, serializable, reply);
}

static int pq_send(void *arg, const struct buf *cmd, void **pending)
{
    struct pq *q = arg;
    pthread_mutex_lock(&q->mu);
    size_t i = q->sent;
    int rc = i < PQ_MAX ? 0 : -1;
    if (rc == 0) {
        buf_init(&q->cmds[i], 0);
        rc = buf_put(&q->cmds[i], cmd->data, cmd->size);
        q->sent++;
        *pending = (void *)(uintptr_t)(i + 1);
    }
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

static int pq_wait(void *arg, void *pending, struct buf *reply)
{
    struct pq *q = arg;
    size_t i = (size_t)(uintptr_t)pending - 1;
    pthread_mutex_lock(&q->mu);
    while (!q->gate || q->applied != i) {
        pthread_cond_wait(&q->cv, &q->mu);
    }
    int rc = log_cmd(q->f, &q->cmds[i], false, reply);
    q->applied++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

static struct graph_kv pq_kv(struct pq *q)
{
    return (struct graph_kv){.cmd = pq_cmd, .arg = q, .send = pq_send, .wait = pq_wait};
}

/* Waits until 'n' commands were sent through 'q'. */
static void pq_wait_sent(struct pq *q, size_t n)
{
    pthread_mutex_lock(&q->mu);
    while (q->sent < n) {
        pthread_cond_wait(&q->cv, &q->mu);
    }
    pthread_mutex_unlock(&q->mu);
}

/* True when encoded transaction 'cmd' compares 'target' 'op' 0 on 'key'. */
static bool txn_has_cmp(const struct buf *cmd, uint8_t target, uint8_t op, const char *key)
{
    struct store_cmd c;
    assert_int_equal(store_cmd_decode(&c, cmd->data, cmd->size), 0);
    bool found = false;
    for (uint32_t i = 0; i < c.compares_len; i++) {
        const struct store_compare *x = &c.compares[i];
        found |= x->target == target && x->op == op && x->number == 0 &&
                 x->key_size == strlen(key) && memcmp(x->key, key, x->key_size) == 0;
    }
    store_cmd_destroy(&c);
    return found;
}

struct pw {
    struct fx *f;
    struct graph g;
    char body[512];
    int rc;
    struct graph_error err;
    pthread_t thread;
};

static void *pw_main(void *arg)
{
    struct pw *w = arg;
    json_t *body = J("%s", w->body);
    w->rc = graph_obj_create(&w->g, "virtual-network", body, "tester", NULL, NULL, &w->err);
    json_decref(body);
    return NULL;
}

/* Plans pipelined on one node: network a's transaction is in flight (sent
 * under the lock, not yet applied) when network b is planned; b takes the
 * next numbers and compares CREATE != 0 on each of a's, so it commits only
 * behind a. Then a is refused (its uuid was taken meanwhile by a machine
 * created on another node): b's compare fails, b plans again and gets the
 * lowest numbers, as a serial compile would give; a answers 409; the
 * state equals a full compile of the intent. Plan level too: with a plan
 * in flight the next plan carries those compares; with none it carries
 * none. */
static void test_pipelined_plans(void **state)
{
    struct fx *f = *state;
    const char *ua = "00000000-0000-4000-8000-0000000000aa";
    struct derive_plan p1, p2;
    char msg[256];
    derive_plan_init(&p1);
    derive_plan_init(&p2);
    json_t *a = J("{\"uuid\":\"%s\",\"name\":\"a\",\"fq_name\":[\"default-domain\","
                  "\"default-project\",\"a\"],\"parent_type\":\"project\",\"parent_uuid\":\"%s\"}",
                  ua, f->proj);
    json_t *b = J("{\"uuid\":\"00000000-0000-4000-8000-0000000000bb\",\"name\":\"b\",\"fq_name\":"
                  "[\"default-domain\",\"default-project\",\"b\"],\"parent_type\":\"project\","
                  "\"parent_uuid\":\"%s\"}", f->proj);
    assert_int_equal(derive_plan_change(f->d1, "virtual-network", ua, NULL, a, &p1, msg, sizeof msg), 0);
    assert_int_equal(derive_plan_change(f->d1, "virtual-network",
                                        "00000000-0000-4000-8000-0000000000bb", NULL, b, &p2, msg,
                                        sizeof msg), 0);
    assert_true(plan_has_op(&p2, "/c/id/rt/0008000001"));
    size_t ne = 0;
    for (size_t i = 0; i < p2.ncmps; i++) {
        const struct derive_cmp *c = &p2.cmps[i];
        if (c->target == STORE_CMP_CREATE && c->op == STORE_CMP_NE) {
            ne++;
            assert_true(strcmp(c->key, "/c/id/rt/0008000000") == 0 ||
                        strcmp(c->key, "/c/id/vni/0000000001") == 0);
        }
    }
    assert_int_equal(ne, 2);
    for (size_t i = 0; i < p1.ncmps; i++) {
        assert_false(p1.cmps[i].target == STORE_CMP_CREATE && p1.cmps[i].op == STORE_CMP_NE);
    }
    derive_unreserve(f->d1, p1.token);
    derive_unreserve(f->d1, p2.token);
    derive_plan_destroy(&p1);
    derive_plan_destroy(&p2);
    json_decref(a);
    json_decref(b);

    /* end to end through two pipelined graphs of node 1 */
    struct feeder fd;
    feeder_start(&fd, f, &f->g1, f->d1);
    static struct pq q;
    pq_init(&q, f, false);
    struct pw wa = {.f = f}, wb = {.f = f};
    struct graph_kv kv = pq_kv(&q);
    graph_init(&wa.g, g_schema, kv);
    graph_init(&wb.g, g_schema, kv);
    graph_set_derive(&wa.g, f->d1);
    graph_set_derive(&wb.g, f->d1);
    snprintf(wa.body, sizeof wa.body, "{\"uuid\":\"%s\",\"name\":\"a\",\"parent_type\":\"project\","
             "\"parent_uuid\":\"%s\"}", ua, f->proj);
    snprintf(wb.body, sizeof wb.body, VN_FMT, "b", f->proj);
    assert_int_equal(pthread_create(&wa.thread, NULL, pw_main, &wa), 0);
    pq_wait_sent(&q, 1);
    assert_int_equal(pthread_create(&wb.thread, NULL, pw_main, &wb), 0);
    pq_wait_sent(&q, 2);
    /* b went out behind a, on a's numbers' existence */
    assert_true(txn_has_cmp(&q.cmds[0], STORE_CMP_CREATE, STORE_CMP_EQ, "/c/id/rt/0008000000"));
    assert_true(txn_has_cmp(&q.cmds[1], STORE_CMP_CREATE, STORE_CMP_EQ, "/c/id/rt/0008000001"));
    assert_true(txn_has_cmp(&q.cmds[1], STORE_CMP_CREATE, STORE_CMP_NE, "/c/id/rt/0008000000"));
    assert_true(txn_has_cmp(&q.cmds[1], STORE_CMP_CREATE, STORE_CMP_NE, "/c/id/vni/0000000001"));
    /* another node takes a's uuid (a machine: not compiled, no numbers) */
    assert_int_equal(create(f, &f->g2, "virtual-machine", NULL, "{\"uuid\":\"%s\",\"name\":\"m\"}",
                            ua), 0);
    pthread_mutex_lock(&q.mu);
    q.gate = true;
    pthread_cond_broadcast(&q.cv);
    pthread_mutex_unlock(&q.mu);
    assert_int_equal(pthread_join(wa.thread, NULL), 0);
    assert_int_equal(pthread_join(wb.thread, NULL), 0);
    assert_int_equal(wa.rc, GRAPH_ECONFLICT);
    assert_int_equal(wb.rc, 0);
    assert_true(wb.g.compile_refused >= 1);
    assert_true(wb.g.compile_pipelined >= 2);
    /* b holds the lowest numbers; nothing else was taken */
    json_t *ids = scan(f, "/c/id/");
    assert_non_null(json_object_get(ids, "/c/id/rt/0008000000"));
    assert_non_null(json_object_get(ids, "/c/id/vni/0000000001"));
    assert_null(json_object_get(ids, "/c/id/rt/0008000001"));
    assert_null(json_object_get(ids, "/c/id/vni/0000000002"));
    json_decref(ids);
    char t[256];
    ri_targets(f, "default-domain:default-project:b", t, sizeof t);
    assert_non_null(strstr(t, ":8000000/"));
    feeder_stop(&fd);
    pq_destroy(&q);
    check_full(f);
}


/* Two nodes, each with its own watched image and ordered pipeline, three
 * workers each creating networks at once (the nodes race for the lowest
 * numbers, each node's plans overlap their commits): every create lands,
 * the VNIs are exactly 1..n and the route targets 8000000.. without a
 * hole or a repeat (what a serial compile gives), and the store equals a
 * full compile of the intent. */
#define PN_WORKERS 3
#define PN_NETS 8

struct pn {
    struct fx *f;
    struct graph g;
    int node, id;
    int failed;
    struct graph_error err;
    pthread_t thread;
};

static void *pn_main(void *arg)
{
    struct pn *w = arg;
    for (int i = 0; i < PN_NETS; i++) {
        json_t *body = J("{\"name\":\"n%d-%d-%d\",\"parent_type\":\"project\",\"parent_uuid\":\"%s\"}",
                         w->node, w->id, i, w->f->proj);
        if (graph_obj_create(&w->g, "virtual-network", body, "tester", NULL, NULL, &w->err) != 0) {
            w->failed++;
        }
        json_decref(body);
    }
    return NULL;
}

static void test_pipelined_two_nodes(void **state)
{
    struct fx *f = *state;
    struct feeder fd1, fd2;
    feeder_start(&fd1, f, &f->g1, f->d1);
    feeder_start(&fd2, f, &f->g2, f->d2);
    struct pq *q[2];
    struct pn w[2][PN_WORKERS];
    for (int n = 0; n < 2; n++) {
        q[n] = malloc(sizeof *q[n]);
        assert_non_null(q[n]);
        pq_init(q[n], f, true);
        for (int i = 0; i < PN_WORKERS; i++) {
            w[n][i] = (struct pn){.f = f, .node = n + 1, .id = i};
            graph_init(&w[n][i].g, g_schema, pq_kv(q[n]));
            graph_set_derive(&w[n][i].g, n ? f->d2 : f->d1);
        }
    }
    for (int n = 0; n < 2; n++) {
        for (int i = 0; i < PN_WORKERS; i++) {
            assert_int_equal(pthread_create(&w[n][i].thread, NULL, pn_main, &w[n][i]), 0);
        }
    }
    uint64_t pipelined = 0, refused = 0;
    for (int n = 0; n < 2; n++) {
        for (int i = 0; i < PN_WORKERS; i++) {
            assert_int_equal(pthread_join(w[n][i].thread, NULL), 0);
            if (w[n][i].failed) {
                fprintf(stderr, "node %d worker %d: %s\n", n + 1, i, w[n][i].err.message);
            }
            assert_int_equal(w[n][i].failed, 0);
            pipelined += w[n][i].g.compile_pipelined;
            refused += w[n][i].g.compile_refused;
        }
    }
    const int total = 2 * PN_WORKERS * PN_NETS;
    if (getenv("GRAPH_TEST_VERBOSE")) {
        fprintf(stderr, "two nodes: %d creates, %llu sent, %llu refused\n", total,
                (unsigned long long)pipelined, (unsigned long long)refused);
    }
    assert_int_equal(pipelined, (uint64_t)total + refused);
    feeder_stop(&fd1);
    feeder_stop(&fd2);
    json_t *ids = scan(f, "/c/id/");
    int rts = 0, vnis = 0;
    const char *k;
    json_t *v;
    json_object_foreach(ids, k, v) {
        rts += strncmp(k, "/c/id/rt/", 9) == 0;
        vnis += strncmp(k, "/c/id/vni/", 10) == 0;
    }
    assert_int_equal(rts, total);
    assert_int_equal(vnis, total);
    for (int i = 0; i < total; i++) {
        char key[64];
        snprintf(key, sizeof key, "/c/id/vni/%010d", i + 1);
        assert_non_null(json_object_get(ids, key));
        snprintf(key, sizeof key, "/c/id/rt/%010d", 8000000 + i);
        assert_non_null(json_object_get(ids, key));
    }
    json_decref(ids);
    for (int n = 0; n < 2; n++) {
        pq_destroy(q[n]);
        free(q[n]);
    }
    check_full(f);
}


/* The encapsulation list of the effective-global-config, joined by ','. */
static void egc_encaps(struct fx *f, char *out, size_t size)
{
    json_t *e = by_fq(f, COMPILE_EGC_TYPE, "default-global-system-config:" COMPILE_EGC_NAME);
    assert_non_null(e);
    out[0] = '\0';
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(e, "encapsulation_priorities"), "encapsulation"), i, v) {
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%s", i ? "," : "", json_string_value(v));
    }
    json_decref(e);
}

static int try_update(struct fx *f, struct graph *g, const char *type, const char *uuid, const char *text)
{
    json_t *body = J("%s", text);
    int rc = graph_obj_update(g, type, uuid, body, 0, "t", NULL, NULL, &f->err);
    json_decref(body);
    return rc;
}

/* Version 3: one effective-global-config, defaults filled from the start;
 * creating the global-vrouter-config or changing its encapsulation order
 * writes exactly that object, a change it does not show writes nothing, a
 * repeated encapsulation is refused (422), graceful-restart parameters
 * rewrite only it, an ASN change also the networks' targets. */
static void test_global_settings(void **state)
{
    struct fx *f = *state;
    char gsc[GRAPH_UUID_SIZE], gv[GRAPH_UUID_SIZE], vn[GRAPH_UUID_SIZE], buf[128];
    json_t *fq = json_pack("[s]", "default-global-system-config");
    assert_int_equal(graph_fqname_to_id(&f->g1, "global-system-config", fq, true, gsc, &f->err), 0);
    json_decref(fq);
    json_t *e = by_fq(f, COMPILE_EGC_TYPE, "default-global-system-config:" COMPILE_EGC_NAME);
    assert_non_null(e);
    json_t *want = J("{\"bgp_helper_enable\":true,\"enable\":true,\"end_of_rib_timeout\":300,"
                     "\"long_lived_restart_time\":300,\"restart_time\":300,\"xmpp_helper_enable\":true}");
    assert_true(json_equal(json_object_get(e, "graceful_restart_parameters"), want));
    json_decref(want);
    assert_int_equal(json_integer_value(json_object_get(e, "autonomous_system")), 64512);
    assert_int_equal(json_array_size(json_object_get(e, "derived_from")), 1);
    assert_string_equal(compile_owner(e), gsc);
    json_decref(e);
    egc_encaps(f, buf, sizeof buf);
    assert_string_equal(buf, "MPLSoUDP,MPLSoGRE,VXLAN");
    assert_int_equal(create(f, &f->g1, "virtual-network", vn, VN_FMT, "net", f->proj), 0);

    uint64_t w = f->g1.derived_writes;
    assert_int_equal(create(f, &f->g1, "global-vrouter-config", gv,
                            "{\"fq_name\":[\"default-global-system-config\",\"%s\"],"
                            "\"parent_type\":\"global-system-config\","
                            "\"encapsulation_priorities\":{\"encapsulation\":[\"VXLAN\",\"MPLSoGRE\"]}}",
                            COMPILE_GVRC_NAME), 0);
    assert_int_equal(f->g1.derived_writes - w, 1);
    egc_encaps(f, buf, sizeof buf);
    assert_string_equal(buf, "VXLAN,MPLSoGRE");
    e = by_fq(f, COMPILE_EGC_TYPE, "default-global-system-config:" COMPILE_EGC_NAME);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(e, "derived_from"), 1), "uuid")), gv);
    json_decref(e);

    /* through the other node, its image current (writes count planned attempts) */
    assert_int_equal(graph_derive_load(&f->g2, f->d2, NULL, &f->err), 0);
    w = f->g2.derived_writes;
    assert_int_equal(try_update(f, &f->g2, "global-vrouter-config", gv, "{\"flow_aging_timeout\":60}"), 0);
    assert_int_equal(f->g2.derived_writes - w, 0);
    assert_int_equal(try_update(f, &f->g2, "virtual-network", vn, "{\"display_name\":\"x\"}"), 0);
    assert_int_equal(f->g2.derived_writes - w, 0);
    assert_int_equal(try_update(f, &f->g2, "global-vrouter-config", gv,
                            "{\"encapsulation_priorities\":{\"encapsulation\":"
                            "[\"MPLSoGRE\",\"VXLAN\",\"MPLSoUDP\"]}}"), 0);
    assert_int_equal(f->g2.derived_writes - w, 1);
    egc_encaps(f, buf, sizeof buf);
    assert_string_equal(buf, "MPLSoGRE,VXLAN,MPLSoUDP");
    int rc = try_update(f, &f->g1, "global-vrouter-config", gv,
                    "{\"encapsulation_priorities\":{\"encapsulation\":[\"VXLAN\",\"VXLAN\"]}}");
    assert_int_not_equal(rc, 0);
    assert_int_equal(f->err.status, 422);
    egc_encaps(f, buf, sizeof buf);
    assert_string_equal(buf, "MPLSoGRE,VXLAN,MPLSoUDP");

    assert_int_equal(graph_derive_load(&f->g1, f->d1, NULL, &f->err), 0);
    w = f->g1.derived_writes;
    assert_int_equal(try_update(f, &f->g1, "global-system-config", gsc,
                            "{\"graceful_restart_parameters\":{\"enable\":false,\"restart_time\":120}}"), 0);
    assert_int_equal(f->g1.derived_writes - w, 1);
    e = by_fq(f, COMPILE_EGC_TYPE, "default-global-system-config:" COMPILE_EGC_NAME);
    json_t *gr = json_object_get(e, "graceful_restart_parameters");
    assert_true(json_is_false(json_object_get(gr, "enable")));
    assert_int_equal(json_integer_value(json_object_get(gr, "restart_time")), 120);
    assert_int_equal(json_integer_value(json_object_get(gr, "end_of_rib_timeout")), 300);
    json_decref(e);
    assert_int_equal(graph_derive_load(&f->g1, f->d1, NULL, &f->err), 0);
    w = f->g1.derived_writes;
    assert_int_equal(try_update(f, &f->g1, "global-system-config", gsc, "{\"autonomous_system\":65001}"), 0);
    assert_true(f->g1.derived_writes - w > 1); /* the network's target and instance too */
    json_t *rt = by_fq(f, "route-target", "target:65001:8000000");
    assert_non_null(rt);
    json_decref(rt);
    /* the global-vrouter-config goes: defaults again, derived from the config alone */
    assert_int_equal(graph_obj_delete(&f->g1, "global-vrouter-config", gv, 0, "t", NULL, &f->err), 0);
    egc_encaps(f, buf, sizeof buf);
    assert_string_equal(buf, "MPLSoUDP,MPLSoGRE,VXLAN");
    check_full(f);
}

/* A rolling upgrade to version 3: while the cluster compiles with 2, nodes
 * of releases 1..2 and 1..3 plan global-vrouter-config and
 * global-system-config changes identically and no effective-global-config
 * appears; the raise is refused while a node lacks 3 and then writes
 * exactly that one object. */
static void test_version_raise_three(void **state)
{
    struct fx *f = *state;
    char gsc[GRAPH_UUID_SIZE], gv[GRAPH_UUID_SIZE], vn[GRAPH_UUID_SIZE], buf[128];
    json_t *cv = scan(f, DERIVE_KEY_CV);
    assert_string_equal(json_string_value(json_object_get(cv, DERIVE_KEY_CV)), "2");
    json_decref(cv);
    assert_int_equal(graph_node_versions_report(&f->g1, "node-1", 1, 2, &f->err), 0);
    assert_int_equal(graph_node_versions_report(&f->g2, "node-2", 1, 3, &f->err), 0);
    json_t *fq = json_pack("[s]", "default-global-system-config");
    assert_int_equal(graph_fqname_to_id(&f->g1, "global-system-config", fq, true, gsc, &f->err), 0);
    json_decref(fq);
    assert_int_equal(create(f, &f->g2, "virtual-network", vn, VN_FMT, "net", f->proj), 0);
    assert_int_equal(create(f, &f->g2, "global-vrouter-config", gv,
                            "{\"fq_name\":[\"default-global-system-config\",\"%s\"],"
                            "\"parent_type\":\"global-system-config\","
                            "\"encapsulation_priorities\":{\"encapsulation\":[\"VXLAN\"]}}",
                            COMPILE_GVRC_NAME), 0);
    json_t *none = by_fq(f, COMPILE_EGC_TYPE, "default-global-system-config:" COMPILE_EGC_NAME);
    assert_null(none);
    check_full(f);
    assert_int_equal(graph_derive_load(&f->g1, f->d1, NULL, &f->err), 0);
    assert_int_equal(graph_derive_load(&f->g2, f->d2, NULL, &f->err), 0);
    json_t *gobj = by_fq(f, "global-system-config", "default-global-system-config");
    json_t *vobj = by_fq(f, "global-vrouter-config", "default-global-system-config:" COMPILE_GVRC_NAME);
    json_t *g2 = json_deep_copy(gobj), *v2 = json_deep_copy(vobj);
    json_object_set_new(g2, "graceful_restart_parameters", J("{\"restart_time\":60}"));
    json_object_set_new(v2, "encapsulation_priorities", J("{\"encapsulation\":[\"MPLSoGRE\"]}"));
    const struct {
        const char *type, *uuid;
        const json_t *old, *now;
    } changes[] = {
        {"global-system-config", gsc, gobj, g2},
        {"global-vrouter-config", gv, vobj, v2},
        {"global-vrouter-config", gv, vobj, NULL},
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        char *a = plan_text(f->d1, changes[i].type, changes[i].uuid, changes[i].old, changes[i].now);
        char *b = plan_text(f->d2, changes[i].type, changes[i].uuid, changes[i].old, changes[i].now);
        assert_string_equal(a, b);
        assert_null(strstr(a, COMPILE_EGC_TYPE));
        free(a);
        free(b);
    }
    json_decref(gobj);
    json_decref(vobj);
    json_decref(g2);
    json_decref(v2);
    int rc = graph_cluster_version_raise(&f->g2, 3, "admin", NULL, &f->err);
    assert_int_equal(rc, GRAPH_ECONFLICT);
    assert_non_null(strstr(f->err.message, "node-1"));
    assert_int_equal(derive_set_versions(f->d1, 1, 3), 0);
    assert_int_equal(graph_node_versions_report(&f->g1, "node-1", 1, 3, &f->err), 0);
    uint64_t w = f->g2.derived_writes;
    rc = graph_cluster_version_raise(&f->g2, 3, "admin", NULL, &f->err);
    if (rc) {
        fail_msg("raise: %s", f->err.message);
    }
    /* the effective-global-config, and net's instance now carrying its VNI */
    assert_int_equal(f->g2.derived_writes - w, 2);
    json_t *ri = ri_of(f, "default-domain:default-project:net", "net");
    assert_non_null(ri);
    assert_int_equal(json_integer_value(json_object_get(ri, "vxlan_network_identifier")), 1);
    json_decref(ri);
    egc_encaps(f, buf, sizeof buf);
    assert_string_equal(buf, "VXLAN");
    check_full(f);
}

int main(void)
{
    struct schema_error se;
    if (schema_load_builtin(&g_schema, &se) != 0) {
        fprintf(stderr, "schema: %s\n", se.message);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_keys),
        cmocka_unit_test(test_apply_once_per_revision),
        cmocka_unit_test_setup_teardown(test_vn_create, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_policy_attach_detach, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stale_image_allocates_fresh, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stale_image_absent_name, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_project_default_group, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cluster_version_gate, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reservations, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ids_in_step, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_twin_name_keeps_index, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_floating_ip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_vrouter_index, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_service_chain_triggers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_policy_many_networks, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_version_raise_two_releases, fx_setup_v1, fx_teardown),
        cmocka_unit_test_setup_teardown(test_split_compile, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_replay_v2, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_lock_free, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_plans, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_two_nodes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_global_settings, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_version_raise_three, fx_setup_v2, fx_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    schema_free(g_schema);
    return rc;
}

/* Unit tests for compiler/graph: VNC-API semantics as optimistic store
 * transactions, on a store state machine in a temporary directory (through
 * graph_kv_fsm, wrapped to log writes, inject store errors and run a
 * competing request between another request's reads and its proposal). */
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

#include "compiler/graph.h"
#include "store/cmd.h"
#include "store/fsm.h"

static struct schema *g_schema;

/* ---- fixture ---- */

struct tkv;
typedef void hook_fn(struct tkv *k);

struct tkv {
    struct graph_kv_fsm fk;
    struct graph_kv inner;
    hook_fn *before_write; /* run once, before the next write is applied */
    int inject;            /* non-zero: the next command fails with it */
    struct buf *log;       /* write commands in order */
    size_t log_len;
};

struct fx {
    char dir[64];
    struct store_fsm *fsm;
    struct tkv kv;
    struct graph g;
    struct graph_error err;
    char proj[GRAPH_UUID_SIZE]; /* default-project */
};

static struct fx *g_fx; /* for hooks */

static int tkv_cmd(void *arg, const struct buf *cmd, bool serializable, struct buf *reply)
{
    struct tkv *k = arg;
    if (k->inject) {
        int rc = k->inject;
        k->inject = 0;
        return rc;
    }
    if (cmd->size > 1 && cmd->data[1] == STORE_CMD_TXN) {
        if (k->before_write) {
            hook_fn *h = k->before_write;
            k->before_write = NULL;
            h(k);
        }
        k->log = realloc(k->log, (k->log_len + 1) * sizeof *k->log);
        assert_non_null(k->log);
        buf_init(&k->log[k->log_len], 0);
        assert_int_equal(buf_put(&k->log[k->log_len], cmd->data, cmd->size), 0);
        k->log_len++;
    }
    return k->inner.cmd(k->inner.arg, cmd, serializable, reply);
}

static void rmdir_env(const char *dir)
{
    char p[128];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/strata-graph-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct store_fsm_config c = {.no_sync = true, .map_size = 256u << 20, .value_max = 256u << 10};
    assert_int_equal(store_fsm_open(&f->fsm, f->dir, &c), 0);
    graph_kv_fsm_init(&f->kv.fk, f->fsm, 0);
    f->kv.inner = graph_kv_fsm(&f->kv.fk);
    graph_init(&f->g, g_schema, (struct graph_kv){.cmd = tkv_cmd, .arg = &f->kv});
    assert_int_equal(graph_bootstrap(&f->g, "test", &f->err), 0);
    json_t *fq = json_pack("[s,s]", "default-domain", "default-project");
    assert_int_equal(graph_fqname_to_id(&f->g, "project", fq, true, f->proj, &f->err), 0);
    json_decref(fq);
    g_fx = f;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_fsm_audit(f->fsm), 0);
    store_fsm_close(f->fsm);
    rmdir_env(f->dir);
    for (size_t i = 0; i < f->kv.log_len; i++) {
        buf_destroy(&f->kv.log[i]);
    }
    free(f->kv.log);
    free(f);
    g_fx = NULL;
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

/* Creates 'type' from JSON text; returns the code, the uuid in 'uuid'. */
static int create(struct fx *f, const char *type, char uuid[GRAPH_UUID_SIZE], const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

static int create(struct fx *f, const char *type, char uuid[GRAPH_UUID_SIZE], const char *fmt,
                  ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_t *body = J("%s", text);
    json_t *out = NULL;
    uint64_t rev = 0;
    int rc = graph_obj_create(&f->g, type, body, "tester", &out, &rev, &f->err);
    if (rc && getenv("GRAPH_TEST_VERBOSE")) {
        fprintf(stderr, "create %s: %d %s [%s]\n", type, f->err.status, f->err.message,
                f->err.field);
    }
    if (rc == 0) {
        assert_true(rev > 0);
        if (uuid) {
            snprintf(uuid, GRAPH_UUID_SIZE, "%s", json_string_value(json_object_get(out, "uuid")));
        }
    }
    json_decref(out);
    json_decref(body);
    return rc;
}

static json_t *read_obj(struct fx *f, const char *type, const char *uuid, uint64_t *rev)
{
    json_t *o = NULL;
    assert_int_equal(graph_obj_read(&f->g, type, uuid, NULL, true, &o, rev, &f->err), 0);
    return o;
}

static const char *str_at(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void expect_err(struct fx *f, int rc, int code, int status, const char *field,
                       const char *needle)
{
    if (rc != code) {
        fail_msg("expected %s, got %d (%s): %s", graph_strerror(code), rc, strata_strerror(rc),
                 f->err.message);
    }
    assert_int_equal(f->err.status, status);
    assert_int_equal(graph_http_status(code), status);
    if (field) {
        assert_string_equal(f->err.field, field);
    }
    if (needle && !strstr(f->err.message, needle)) {
        fail_msg("message '%s' lacks '%s'", f->err.message, needle);
    }
}

/* An ipam and a virtual-network with one subnet 'prefix'/'len' (extra
 * IpamSubnetType fields in 'extra', e.g. ",\"default_gateway\":\"...\""). */
static void make_vn(struct fx *f, const char *name, const char *prefix, int len, const char *extra,
                    char vn[GRAPH_UUID_SIZE])
{
    char ipam[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, "network-ipam", ipam,
                            "{\"fq_name\":[\"default-domain\",\"default-project\",\"ipam-%s\"],"
                            "\"parent_type\":\"project\"}",
                            name),
                     0);
    int rc = create(f, "virtual-network", vn,
                    "{\"fq_name\":[\"default-domain\",\"default-project\",\"%s\"],"
                    "\"parent_type\":\"project\",\"network_ipam_refs\":[{\"uuid\":\"%s\","
                    "\"attr\":{\"ipam_subnets\":[{\"subnet\":{\"ip_prefix\":\"%s\","
                    "\"ip_prefix_len\":%d}%s}]}}]}",
                    name, ipam, prefix, len, extra ? extra : "");
    if (rc) {
        fail_msg("make_vn: %s", f->err.message);
    }
}

/* Creates an instance-ip in 'vn' (requested address or NULL); the address
 * it got in 'addr'. */
static int make_iip(struct fx *f, const char *vn, const char *req, char *addr, size_t size,
                    char uuid[GRAPH_UUID_SIZE])
{
    char reqtxt[96] = "";
    if (req) {
        snprintf(reqtxt, sizeof reqtxt, ",\"instance_ip_address\":\"%s\"", req);
    }
    json_t *body = J("{\"virtual_network_refs\":[{\"uuid\":\"%s\"}]%s}", vn, reqtxt);
    json_t *out = NULL;
    int rc = graph_obj_create(&f->g, "instance-ip", body, "tester", &out, NULL, &f->err);
    if (rc == 0) {
        snprintf(addr, size, "%s", str_at(out, "instance_ip_address"));
        if (uuid) {
            snprintf(uuid, GRAPH_UUID_SIZE, "%s", str_at(out, "uuid"));
        }
    }
    json_decref(out);
    json_decref(body);
    return rc;
}

/* ---- tests ---- */

static void test_bootstrap_idempotent(void **state)
{
    struct fx *f = *state;
    uint64_t before = f->g.txn_count;
    assert_int_equal(graph_bootstrap(&f->g, "again", &f->err), 0);
    assert_int_equal(f->g.txn_count, before); /* nothing to create */
    static const char *const types[] = {"config-root", "global-system-config", "domain"};
    static const char *const names[] = {GRAPH_ROOT_NAME, "default-global-system-config",
                                        "default-domain"};
    for (int i = 0; i < 3; i++) {
        char u[GRAPH_UUID_SIZE], type[64];
        json_t *fq = json_pack("[s]", names[i]), *back = NULL;
        assert_int_equal(graph_fqname_to_id(&f->g, types[i], fq, true, u, &f->err), 0);
        assert_int_equal(graph_id_to_fqname(&f->g, u, true, type, sizeof type, &back, &f->err), 0);
        assert_string_equal(type, types[i]);
        assert_true(json_equal(fq, back));
        json_decref(fq);
        json_decref(back);
    }
    /* the domain lists its project as a child */
    json_t *fq = json_pack("[s]", "default-domain");
    char d[GRAPH_UUID_SIZE];
    assert_int_equal(graph_fqname_to_id(&f->g, "domain", fq, true, d, &f->err), 0);
    json_decref(fq);
    json_t *dom = read_obj(f, "domain", d, NULL);
    json_t *projects = json_object_get(dom, "projects");
    assert_int_equal(json_array_size(projects), 1);
    assert_string_equal(str_at(json_array_get(projects, 0), "uuid"), f->proj);
    json_decref(dom);
}

static void test_create_read_refs_children(void **state)
{
    struct fx *f = *state;
    char vn[GRAPH_UUID_SIZE];
    make_vn(f, "vn1", "10.0.0.0", 24, NULL, vn);
    uint64_t rev = 0;
    json_t *o = read_obj(f, "virtual-network", vn, &rev);
    assert_true(rev > 0);
    assert_string_equal(str_at(o, "uuid"), vn);
    assert_string_equal(str_at(o, "name"), "vn1");
    assert_string_equal(str_at(o, "parent_type"), "project");
    assert_string_equal(str_at(o, "parent_uuid"), f->proj);
    json_t *ref = json_array_get(json_object_get(o, "network_ipam_refs"), 0);
    assert_non_null(ref);
    assert_string_equal(json_string_value(json_array_get(json_object_get(ref, "to"), 2)),
                        "ipam-vn1");
    const char *ipam = str_at(ref, "uuid");
    assert_non_null(ipam);
    assert_non_null(json_object_get(json_object_get(ref, "attr"), "ipam_subnets"));
    char ipam_uuid[GRAPH_UUID_SIZE];
    snprintf(ipam_uuid, sizeof ipam_uuid, "%s", ipam);
    json_decref(o);

    /* the ipam shows the back-ref with the link attribute */
    json_t *io = read_obj(f, "network-ipam", ipam_uuid, NULL);
    json_t *br = json_object_get(io, "virtual_network_back_refs");
    assert_int_equal(json_array_size(br), 1);
    assert_string_equal(str_at(json_array_get(br, 0), "uuid"), vn);
    assert_non_null(json_object_get(json_object_get(json_array_get(br, 0), "attr"),
                                    "ipam_subnets"));
    json_decref(io);

    /* the project lists both children; fields limits what is returned */
    json_t *p = NULL;
    assert_int_equal(graph_obj_read(&f->g, "project", f->proj, "virtual_networks", false, &p,
                                    NULL, &f->err),
                     0);
    assert_int_equal(json_array_size(json_object_get(p, "virtual_networks")), 1);
    assert_null(json_object_get(p, "network_ipams"));
    assert_string_equal(str_at(json_array_get(json_object_get(p, "virtual_networks"), 0), "uuid"),
                        vn);
    json_decref(p);
    p = read_obj(f, "project", f->proj, NULL);
    assert_int_equal(json_array_size(json_object_get(p, "network_ipams")), 1);
    json_decref(p);

    /* a ref by fq_name ("to") resolves to the uuid */
    char vmi[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, "virtual-machine-interface", vmi,
                            "{\"fq_name\":[\"default-domain\",\"default-project\",\"port1\"],"
                            "\"parent_type\":\"project\",\"virtual_network_refs\":[{\"to\":"
                            "[\"default-domain\",\"default-project\",\"vn1\"]}]}"),
                     0);
    json_t *v = read_obj(f, "virtual-machine-interface", vmi, NULL);
    assert_string_equal(str_at(json_array_get(json_object_get(v, "virtual_network_refs"), 0),
                               "uuid"),
                        vn);
    json_decref(v);

    /* fq_name derived from name and the default parent */
    char ipam2[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, "network-ipam", ipam2, "{\"name\":\"derived\"}"), 0);
    json_t *d = read_obj(f, "network-ipam", ipam2, NULL);
    json_t *want = J("[\"default-domain\",\"default-project\",\"derived\"]");
    assert_true(json_equal(json_object_get(d, "fq_name"), want));
    json_decref(want);
    json_decref(d);
    /* a given uuid is kept */
    assert_int_equal(create(f, "network-ipam", NULL,
                            "{\"name\":\"given\",\"uuid\":\"11111111-2222-4333-8444-555555555555\"}"),
                     0);
    json_t *gv = read_obj(f, "network-ipam", "11111111-2222-4333-8444-555555555555", NULL);
    assert_string_equal(str_at(gv, "name"), "given");
    json_decref(gv);
}

static void test_create_errors(void **state)
{
    struct fx *f = *state;
    expect_err(f, create(f, "no-such-type", NULL, "{}"), GRAPH_EBADREQ, 400, NULL, NULL);
    /* schema errors pass through with their field path */
    expect_err(f, create(f, "virtual-network", NULL,
                         "{\"fq_name\":[\"default-domain\",\"default-project\",\"v\"],"
                         "\"router_external\":\"yes\"}"),
               GRAPH_EBADREQ, 400, "router_external", NULL);
    expect_err(f, create(f, "virtual-network", NULL,
                         "{\"fq_name\":[\"default-domain\",\"default-project\",\"v\"],"
                         "\"bogus\":1}"),
               GRAPH_EBADREQ, 400, "bogus", NULL);
    expect_err(f, create(f, "virtual-network", NULL,
                         "{\"fq_name\":[\"default-domain\",\"default-project\",\"v\"],"
                         "\"network_ipam_refs\":[{\"to\":[\"default-domain\",\"default-project\","
                         "\"i\"],\"attr\":{\"ipam_subnets\":[{\"subnet\":{\"ip_prefix\":"
                         "\"10.0.0.0\",\"ip_prefix_len\":200}}]}}]}"),
               GRAPH_EINVALID, 422,
               "network_ipam_refs[0].attr.ipam_subnets[0].subnet.ip_prefix_len", NULL);
    /* missing parent, missing ref targets */
    expect_err(f, create(f, "virtual-network", NULL,
                         "{\"fq_name\":[\"default-domain\",\"nope\",\"v\"]}"),
               GRAPH_ENOTFOUND, 404, "fq_name", "default-domain:nope");
    expect_err(f, create(f, "virtual-network", NULL,
                         "{\"fq_name\":[\"default-domain\",\"default-project\",\"v\"],"
                         "\"network_ipam_refs\":[{\"to\":[\"default-domain\",\"default-project\","
                         "\"ghost\"]}]}"),
               GRAPH_ENOTFOUND, 404, "network_ipam_refs[0]", "ghost");
    expect_err(f, create(f, "virtual-network", NULL,
                         "{\"fq_name\":[\"default-domain\",\"default-project\",\"v\"],"
                         "\"network_ipam_refs\":[{\"uuid\":\"aaaaaaaa-2222-4333-8444-555555555555\"}]}"),
               GRAPH_ENOTFOUND, 404, "network_ipam_refs[0]", "aaaaaaaa");
    expect_err(f, create(f, "virtual-network", NULL,
                         "{\"fq_name\":[\"default-domain\",\"default-project\",\"v\"],"
                         "\"parent_uuid\":\"aaaaaaaa-2222-4333-8444-555555555555\"}"),
               GRAPH_ENOTFOUND, 404, "parent_uuid", NULL);
    /* duplicate fq_name and duplicate uuid */
    char a[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, "network-ipam", a, "{\"name\":\"dup\"}"), 0);
    expect_err(f, create(f, "network-ipam", NULL, "{\"name\":\"dup\"}"), GRAPH_ECONFLICT, 409,
               "fq_name", "default-domain:default-project:dup");
    expect_err(f, create(f, "network-ipam", NULL, "{\"name\":\"dup2\",\"uuid\":\"%s\"}", a),
               GRAPH_ECONFLICT, 409, "uuid", a);
    /* duplicate refs to one target */
    expect_err(f, create(f, "virtual-network", NULL,
                         "{\"name\":\"v\",\"network_ipam_refs\":[{\"uuid\":\"%s\"},"
                         "{\"uuid\":\"%s\"}]}",
                         a, a),
               GRAPH_EINVALID, 422, "network_ipam_refs[1]", "duplicate");
    /* a parent_uuid of the wrong type */
    expect_err(f, create(f, "virtual-network", NULL,
                         "{\"name\":\"v\",\"parent_uuid\":\"%s\"}", a),
               GRAPH_EINVALID, 422, "parent_uuid", NULL);
    /* nothing was written by the failures: the names are still free */
    assert_int_equal(create(f, "virtual-network", NULL, "{\"name\":\"v\"}"), 0);
}

static void test_fq_name_with_colons(void **state)
{
    struct fx *f = *state;
    /* [d, "p", "x:y"] and [d, "p:x", "y"] join to the same "d:p:x:y" */
    assert_int_equal(create(f, "project", NULL, "{\"fq_name\":[\"default-domain\",\"p\"]}"), 0);
    assert_int_equal(create(f, "project", NULL, "{\"fq_name\":[\"default-domain\",\"p:x\"]}"), 0);
    char a[GRAPH_UUID_SIZE], b[GRAPH_UUID_SIZE], u[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, "virtual-network", a,
                            "{\"fq_name\":[\"default-domain\",\"p\",\"x:y\"]}"),
                     0);
    assert_int_equal(create(f, "virtual-network", b,
                            "{\"fq_name\":[\"default-domain\",\"p:x\",\"y\"]}"),
                     0);
    json_t *fq = J("[\"default-domain\",\"p:x\",\"y\"]");
    assert_int_equal(graph_fqname_to_id(&f->g, "virtual-network", fq, true, u, &f->err), 0);
    assert_string_equal(u, b);
    json_decref(fq);
    fq = J("[\"default-domain\",\"p\",\"x:y\"]");
    assert_int_equal(graph_fqname_to_id(&f->g, "virtual-network", fq, true, u, &f->err), 0);
    assert_string_equal(u, a);
    json_decref(fq);
    fq = J("[\"default-domain\",\"p\",\"zz\"]");
    expect_err(f, graph_fqname_to_id(&f->g, "virtual-network", fq, true, u, &f->err),
               GRAPH_ENOTFOUND, 404, NULL, "default-domain:p:zz");
    json_decref(fq);
    json_t *back = NULL;
    char type[64];
    expect_err(f, graph_id_to_fqname(&f->g, "aaaaaaaa-2222-4333-8444-555555555555", true, type,
                                     sizeof type, &back, &f->err),
               GRAPH_ENOTFOUND, 404, NULL, NULL);
}

/* The race: A has read (fq_name free) and built its txn; before it is
 * applied, B creates the same fq_name. A's compare fails, its retry reads
 * again and answers 409. */
static void hook_create_same(struct tkv *k)
{
    (void)k;
    assert_int_equal(create(g_fx, "virtual-network", NULL, "{\"name\":\"race\"}"), 0);
}

static void test_concurrent_same_fq_name(void **state)
{
    struct fx *f = *state;
    uint64_t conflicts = f->g.txn_conflicts;
    f->kv.before_write = hook_create_same;
    expect_err(f, create(f, "virtual-network", NULL, "{\"name\":\"race\"}"), GRAPH_ECONFLICT, 409,
               "fq_name", "race");
    assert_int_equal(f->g.txn_conflicts, conflicts + 1); /* A's txn failed its compare */
    json_t *list = NULL;
    char marker[GRAPH_UUID_SIZE];
    struct graph_list_req req = {.filters = "name==race"};
    assert_int_equal(graph_obj_list(&f->g, "virtual-network", &req, &list, marker, &f->err), 0);
    assert_int_equal(json_array_size(list), 1); /* exactly one exists */
    json_decref(list);
}

static void test_delete_children_and_backrefs(void **state)
{
    struct fx *f = *state;
    char proj[GRAPH_UUID_SIZE], ipam[GRAPH_UUID_SIZE], vn[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, "project", proj, "{\"fq_name\":[\"default-domain\",\"tenant\"]}"), 0);
    assert_int_equal(create(f, "network-ipam", ipam,
                            "{\"fq_name\":[\"default-domain\",\"tenant\",\"ipam\"],"
                            "\"parent_type\":\"project\"}"),
                     0);
    assert_int_equal(create(f, "virtual-network", vn,
                            "{\"fq_name\":[\"default-domain\",\"tenant\",\"net\"],"
                            "\"parent_uuid\":\"%s\",\"network_ipam_refs\":[{\"uuid\":\"%s\"}]}",
                            proj, ipam),
                     0);
    /* the project has children: 409 naming them */
    expect_err(f, graph_obj_delete(&f->g, "project", proj, 0, "t", NULL, &f->err),
               GRAPH_ECONFLICT, 409, NULL, "children");
    assert_non_null(strstr(f->err.message, vn));
    assert_non_null(strstr(f->err.message, "default-domain:tenant:net"));
    /* the ipam is referred to: 409 naming the referrer */
    expect_err(f, graph_obj_delete(&f->g, "network-ipam", ipam, 0, "t", NULL, &f->err),
               GRAPH_ECONFLICT, 409, NULL, "referred to by virtual-network default-domain:tenant:net");
    /* stale If-Match */
    uint64_t rev;
    json_decref(read_obj(f, "virtual-network", vn, &rev));
    expect_err(f, graph_obj_delete(&f->g, "virtual-network", vn, rev + 100, "t", NULL, &f->err),
               GRAPH_EPRECOND, 412, NULL, NULL);
    uint64_t drev = 0;
    assert_int_equal(graph_obj_delete(&f->g, "virtual-network", vn, rev, "t", &drev, &f->err), 0);
    assert_true(drev > rev);
    expect_err(f, graph_obj_delete(&f->g, "virtual-network", vn, 0, "t", NULL, &f->err),
               GRAPH_ENOTFOUND, 404, NULL, NULL);
    assert_int_equal(graph_obj_delete(&f->g, "network-ipam", ipam, 0, "t", NULL, &f->err), 0);
    assert_int_equal(graph_obj_delete(&f->g, "project", proj, 0, "t", NULL, &f->err), 0);
    /* every index entry went with them: the fq_name can be reused */
    assert_int_equal(create(f, "project", NULL, "{\"fq_name\":[\"default-domain\",\"tenant\"]}"), 0);
    json_t *d = NULL;
    json_t *fq = json_pack("[s]", "default-domain");
    char du[GRAPH_UUID_SIZE];
    assert_int_equal(graph_fqname_to_id(&f->g, "domain", fq, true, du, &f->err), 0);
    json_decref(fq);
    d = read_obj(f, "domain", du, NULL);
    assert_int_equal(json_array_size(json_object_get(d, "projects")), 2);
    json_decref(d);
}

static void test_weak_refs_dangle(void **state)
{
    struct fx *f = *state;
    char proj[GRAPH_UUID_SIZE], tok[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, "project", proj, "{\"fq_name\":[\"default-domain\",\"weak\"]}"), 0);
    assert_int_equal(create(f, "api-token", tok,
                            "{\"name\":\"t1\",\"token_role\":\"member\",\"token_hash\":\"%064d\","
                            "\"project_refs\":[{\"uuid\":\"%s\"}]}",
                            0, proj),
                     0);
    json_t *p = read_obj(f, "project", proj, NULL);
    assert_int_equal(json_array_size(json_object_get(p, "api_token_back_refs")), 1);
    json_decref(p);
    /* a weak back-ref does not block the delete */
    assert_int_equal(graph_obj_delete(&f->g, "project", proj, 0, "t", NULL, &f->err), 0);
    json_t *t = read_obj(f, "api-token", tok, NULL);
    assert_string_equal(str_at(json_array_get(json_object_get(t, "project_refs"), 0), "uuid"),
                        proj); /* dangles */
    json_decref(t);
    /* and the token can still be updated and deleted */
    json_t *body = J("{\"token_description\":\"still here\"}");
    assert_int_equal(graph_obj_update(&f->g, "api-token", tok, body, 0, "t", NULL, NULL, &f->err),
                     0);
    json_decref(body);
    assert_int_equal(graph_obj_delete(&f->g, "api-token", tok, 0, "t", NULL, &f->err), 0);
}

static void test_ref_update(void **state)
{
    struct fx *f = *state;
    char vn[GRAPH_UUID_SIZE], pol[GRAPH_UUID_SIZE];
    make_vn(f, "rv", "10.2.0.0", 24, NULL, vn);
    assert_int_equal(create(f, "network-policy", pol, "{\"name\":\"pol\"}"), 0);
    json_t *fq = J("[\"default-domain\",\"default-project\",\"pol\"]");
    json_t *attr = J("{\"sequence\":{\"major\":1,\"minor\":0}}");
    uint64_t rev = 0;
    assert_int_equal(graph_ref_update(&f->g, GRAPH_REF_ADD, "virtual-network", vn,
                                      "network-policy", NULL, fq, attr, "t", &rev, &f->err),
                     0);
    assert_true(rev > 0);
    json_t *po = read_obj(f, "network-policy", pol, NULL);
    json_t *br = json_object_get(po, "virtual_network_back_refs");
    assert_int_equal(json_array_size(br), 1);
    assert_true(json_equal(json_object_get(json_array_get(br, 0), "attr"), attr));
    json_decref(po);
    /* ADD again with another attr replaces it */
    json_t *attr2 = J("{\"sequence\":{\"major\":2,\"minor\":0}}");
    assert_int_equal(graph_ref_update(&f->g, GRAPH_REF_ADD, "virtual-network", vn,
                                      "network-policy", pol, NULL, attr2, "t", NULL, &f->err),
                     0);
    json_t *v = read_obj(f, "virtual-network", vn, NULL);
    json_t *refs = json_object_get(v, "network_policy_refs");
    assert_int_equal(json_array_size(refs), 1);
    assert_true(json_equal(json_object_get(json_array_get(refs, 0), "attr"), attr2));
    json_decref(v);
    po = read_obj(f, "network-policy", pol, NULL);
    br = json_object_get(po, "virtual_network_back_refs");
    assert_true(json_equal(json_object_get(json_array_get(br, 0), "attr"), attr2));
    json_decref(po);
    expect_err(f, graph_obj_delete(&f->g, "network-policy", pol, 0, "t", NULL, &f->err),
               GRAPH_ECONFLICT, 409, NULL, NULL);
    /* errors: no such ref type, target missing, bad attr */
    expect_err(f, graph_ref_update(&f->g, GRAPH_REF_ADD, "virtual-network", vn, "project", pol,
                                   NULL, NULL, "t", NULL, &f->err),
               GRAPH_EINVALID, 422, "ref-type", NULL);
    expect_err(f, graph_ref_update(&f->g, GRAPH_REF_ADD, "virtual-network", vn, "network-policy",
                                   "aaaaaaaa-2222-4333-8444-555555555555", NULL, NULL, "t", NULL,
                                   &f->err),
               GRAPH_ENOTFOUND, 404, NULL, NULL);
    json_t *bad = J("{\"sequence\":{\"major\":-1,\"minor\":0}}");
    expect_err(f, graph_ref_update(&f->g, GRAPH_REF_ADD, "virtual-network", vn, "network-policy",
                                   pol, NULL, bad, "t", NULL, &f->err),
               GRAPH_EINVALID, 422, "network_policy_refs[0].attr.sequence.major", NULL);
    /* DELETE, twice (absent is fine); the policy is free again */
    assert_int_equal(graph_ref_update(&f->g, GRAPH_REF_DELETE, "virtual-network", vn,
                                      "network-policy", pol, NULL, NULL, "t", NULL, &f->err),
                     0);
    assert_int_equal(graph_ref_update(&f->g, GRAPH_REF_DELETE, "virtual-network", vn,
                                      "network-policy", NULL, fq, NULL, "t", NULL, &f->err),
                     0);
    v = read_obj(f, "virtual-network", vn, NULL);
    assert_null(json_object_get(v, "network_policy_refs"));
    json_decref(v);
    assert_int_equal(graph_obj_delete(&f->g, "network-policy", pol, 0, "t", NULL, &f->err), 0);
    json_decref(bad);
    json_decref(attr);
    json_decref(attr2);
    json_decref(fq);
}

static void test_update_if_match(void **state)
{
    struct fx *f = *state;
    char vn[GRAPH_UUID_SIZE];
    make_vn(f, "up", "10.3.0.0", 24, NULL, vn);
    uint64_t rev, rev2 = 0;
    json_t *o = read_obj(f, "virtual-network", vn, &rev);
    const char *ipam = str_at(json_array_get(json_object_get(o, "network_ipam_refs"), 0), "uuid");
    char ipam_uuid[GRAPH_UUID_SIZE];
    snprintf(ipam_uuid, sizeof ipam_uuid, "%s", ipam);
    json_decref(o);
    json_t *body = J("{\"display_name\":\"Up\",\"router_external\":true}");
    json_t *out = NULL;
    assert_int_equal(graph_obj_update(&f->g, "virtual-network", vn, body, rev, "t", &out, &rev2,
                                      &f->err),
                     0);
    assert_true(rev2 > rev);
    assert_string_equal(str_at(out, "display_name"), "Up");
    assert_non_null(json_object_get(out, "network_ipam_refs")); /* kept */
    json_decref(out);
    /* the old revision is stale now */
    expect_err(f, graph_obj_update(&f->g, "virtual-network", vn, body, rev, "t", NULL, NULL,
                                   &f->err),
               GRAPH_EPRECOND, 412, NULL, NULL);
    json_decref(body);
    /* null removes; fixed fields may be restated but not changed */
    body = J("{\"display_name\":null,\"name\":\"up\"}");
    assert_int_equal(graph_obj_update(&f->g, "virtual-network", vn, body, 0, "t", NULL, NULL,
                                      &f->err),
                     0);
    json_decref(body);
    o = read_obj(f, "virtual-network", vn, NULL);
    assert_null(json_object_get(o, "display_name"));
    assert_true(json_is_true(json_object_get(o, "router_external")));
    json_decref(o);
    body = J("{\"fq_name\":[\"default-domain\",\"default-project\",\"other\"]}");
    expect_err(f, graph_obj_update(&f->g, "virtual-network", vn, body, 0, "t", NULL, NULL,
                                   &f->err),
               GRAPH_EINVALID, 422, "fq_name", "cannot be changed");
    json_decref(body);
    body = J("{\"router_external\":7}");
    expect_err(f, graph_obj_update(&f->g, "virtual-network", vn, body, 0, "t", NULL, NULL,
                                   &f->err),
               GRAPH_EBADREQ, 400, "router_external", NULL);
    json_decref(body);
    /* replacing the ref list changes the attr on the back-ref */
    body = J("{\"network_ipam_refs\":[{\"uuid\":\"%s\",\"attr\":{\"ipam_subnets\":[{\"subnet\":"
             "{\"ip_prefix\":\"10.9.0.0\",\"ip_prefix_len\":16}}]}}]}",
             ipam_uuid);
    assert_int_equal(graph_obj_update(&f->g, "virtual-network", vn, body, 0, "t", NULL, NULL,
                                      &f->err),
                     0);
    json_decref(body);
    json_t *io = read_obj(f, "network-ipam", ipam_uuid, NULL);
    json_t *attr = json_object_get(json_array_get(json_object_get(io, "virtual_network_back_refs"),
                                                  0),
                                   "attr");
    const char *pfx = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(attr, "ipam_subnets"), 0), "subnet"),
        "ip_prefix"));
    assert_string_equal(pfx, "10.9.0.0");
    json_decref(io);
    /* removing the refs frees the ipam */
    body = J("{\"network_ipam_refs\":[]}");
    assert_int_equal(graph_obj_update(&f->g, "virtual-network", vn, body, 0, "t", NULL, NULL,
                                      &f->err),
                     0);
    json_decref(body);
    assert_int_equal(graph_obj_delete(&f->g, "network-ipam", ipam_uuid, 0, "t", NULL, &f->err), 0);
    /* unknown object */
    body = J("{\"display_name\":\"x\"}");
    expect_err(f, graph_obj_update(&f->g, "virtual-network", "aaaaaaaa-2222-4333-8444-555555555555",
                                   body, 0, "t", NULL, NULL, &f->err),
               GRAPH_ENOTFOUND, 404, NULL, NULL);
    json_decref(body);
}

static void test_ipam_allocation(void **state)
{
    struct fx *f = *state;
    char vn[GRAPH_UUID_SIZE], a[64], u4[GRAPH_UUID_SIZE];
    /* 10.1.0.0/29: .0 network, .7 broadcast, .1 gateway, .2 DNS by default */
    make_vn(f, "ip", "10.1.0.0", 29, NULL, vn);
    assert_int_equal(make_iip(f, vn, NULL, a, sizeof a, NULL), 0);
    assert_string_equal(a, "10.1.0.3");
    assert_int_equal(make_iip(f, vn, "10.1.0.5", a, sizeof a, NULL), 0);
    assert_string_equal(a, "10.1.0.5");
    expect_err(f, make_iip(f, vn, "10.1.0.5", a, sizeof a, NULL), GRAPH_ECONFLICT, 409,
               "instance_ip_address", "already allocated");
    expect_err(f, make_iip(f, vn, "10.1.0.1", a, sizeof a, NULL), GRAPH_ECONFLICT, 409,
               "instance_ip_address", "reserved");
    expect_err(f, make_iip(f, vn, "10.1.0.7", a, sizeof a, NULL), GRAPH_ECONFLICT, 409,
               "instance_ip_address", "reserved");
    expect_err(f, make_iip(f, vn, "10.2.0.9", a, sizeof a, NULL), GRAPH_EINVALID, 422,
               "instance_ip_address", "not in a subnet");
    assert_int_equal(make_iip(f, vn, NULL, a, sizeof a, u4), 0);
    assert_string_equal(a, "10.1.0.4");
    assert_int_equal(make_iip(f, vn, NULL, a, sizeof a, NULL), 0);
    assert_string_equal(a, "10.1.0.6");
    expect_err(f, make_iip(f, vn, NULL, a, sizeof a, NULL), GRAPH_EEXHAUSTED, 409, NULL,
               "no free IPv4 address");
    /* freeing one makes it the next */
    assert_int_equal(graph_obj_delete(&f->g, "instance-ip", u4, 0, "t", NULL, &f->err), 0);
    assert_int_equal(make_iip(f, vn, NULL, a, sizeof a, NULL), 0);
    assert_string_equal(a, "10.1.0.4");
    /* nor can a subnet with allocated addresses; adding one is fine */
    json_t *vo = read_obj(f, "virtual-network", vn, NULL);
    const char *ipam = str_at(json_array_get(json_object_get(vo, "network_ipam_refs"), 0), "uuid");
    json_t *upd = J("{\"network_ipam_refs\":[{\"uuid\":\"%s\",\"attr\":{\"ipam_subnets\":["
                    "{\"subnet\":{\"ip_prefix\":\"10.99.0.0\",\"ip_prefix_len\":24}}]}}]}",
                    ipam);
    expect_err(f, graph_obj_update(&f->g, "virtual-network", vn, upd, 0, "t", NULL, NULL,
                                   &f->err),
               GRAPH_ECONFLICT, 409, "network_ipam_refs", "subnet 10.1.0.0/29 still has 4");
    json_decref(upd);
    upd = J("{\"network_ipam_refs\":[{\"uuid\":\"%s\",\"attr\":{\"ipam_subnets\":["
            "{\"subnet\":{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":29}},"
            "{\"subnet\":{\"ip_prefix\":\"10.99.0.0\",\"ip_prefix_len\":24}}]}}]}",
            ipam);
    assert_int_equal(graph_obj_update(&f->g, "virtual-network", vn, upd, 0, "t", NULL, NULL,
                                      &f->err),
                     0);
    json_decref(upd);
    json_decref(vo);
    /* the full /29 now overflows into the added subnet */
    assert_int_equal(make_iip(f, vn, NULL, a, sizeof a, NULL), 0);
    assert_string_equal(a, "10.99.0.3");
    /* the network cannot go while its addresses are allocated */
    expect_err(f, graph_obj_delete(&f->g, "virtual-network", vn, 0, "t", NULL, &f->err),
               GRAPH_ECONFLICT, 409, NULL, "instance-ip");
    /* an explicit gateway moves the reservation; allocation pools bound it */
    char vn2[GRAPH_UUID_SIZE];
    make_vn(f, "ip2", "192.168.5.0", 24,
            ",\"default_gateway\":\"192.168.5.254\",\"dns_server_address\":\"192.168.5.253\","
            "\"allocation_pools\":[{\"start\":\"192.168.5.252\",\"end\":\"192.168.5.254\"}]",
            vn2);
    assert_int_equal(make_iip(f, vn2, NULL, a, sizeof a, NULL), 0);
    assert_string_equal(a, "192.168.5.252");
    expect_err(f, make_iip(f, vn2, NULL, a, sizeof a, NULL), GRAPH_EEXHAUSTED, 409, NULL, NULL);
    assert_int_equal(make_iip(f, vn2, "192.168.5.1", a, sizeof a, NULL), 0); /* not reserved now */
    /* IPv6 */
    char vn6[GRAPH_UUID_SIZE];
    make_vn(f, "ip6", "fd00:1::", 64, NULL, vn6);
    json_t *body = J("{\"virtual_network_refs\":[{\"uuid\":\"%s\"}],\"instance_ip_family\":\"v6\"}",
                     vn6);
    json_t *out = NULL;
    assert_int_equal(graph_obj_create(&f->g, "instance-ip", body, "t", &out, NULL, &f->err), 0);
    assert_string_equal(str_at(out, "instance_ip_address"), "fd00:1::3");
    assert_string_equal(str_at(out, "instance_ip_family"), "v6");
    json_decref(out);
    /* no v4 subnet there */
    expect_err(f, make_iip(f, vn6, NULL, a, sizeof a, NULL), GRAPH_EEXHAUSTED, 409, NULL,
               "no IPv4 subnet");
    json_decref(body);
}

/* Two allocators race for the next free address: B takes it between A's
 * scan and A's proposal; A's compare on the allocation key fails and its
 * retry takes the next one. */
static char g_vn[GRAPH_UUID_SIZE], g_addr_b[64];

static void hook_alloc(struct tkv *k)
{
    (void)k;
    assert_int_equal(make_iip(g_fx, g_vn, NULL, g_addr_b, sizeof g_addr_b, NULL), 0);
}

static void test_ipam_concurrent(void **state)
{
    struct fx *f = *state;
    char a[64];
    make_vn(f, "race", "10.5.0.0", 24, NULL, g_vn);
    uint64_t conflicts = f->g.txn_conflicts;
    f->kv.before_write = hook_alloc;
    assert_int_equal(make_iip(f, g_vn, NULL, a, sizeof a, NULL), 0);
    assert_int_equal(f->g.txn_conflicts, conflicts + 1);
    assert_string_equal(g_addr_b, "10.5.0.3");
    assert_string_equal(a, "10.5.0.4");
}

static void test_mac(void **state)
{
    struct fx *f = *state;
    char vn[GRAPH_UUID_SIZE], p1[GRAPH_UUID_SIZE];
    make_vn(f, "macs", "10.6.0.0", 24, NULL, vn);
    json_t *body = J("{\"name\":\"p1\",\"uuid\":\"0a0b0c0d-0e0f-4111-8222-333333333333\","
                     "\"virtual_network_refs\":[{\"uuid\":\"%s\"}]}",
                     vn);
    json_t *out = NULL;
    assert_int_equal(graph_obj_create(&f->g, "virtual-machine-interface", body, "t", &out, NULL,
                                      &f->err),
                     0);
    json_t *macs = json_object_get(json_object_get(out, "virtual_machine_interface_mac_addresses"),
                                   "mac_address");
    assert_string_equal(json_string_value(json_array_get(macs, 0)), "02:0a:0b:0c:0d:0e");
    snprintf(p1, sizeof p1, "%s", str_at(out, "uuid"));
    json_decref(out);
    json_decref(body);
    /* a second port asking for the same MAC: 409 naming the holder */
    expect_err(f, create(f, "virtual-machine-interface", NULL,
                         "{\"name\":\"p2\",\"virtual_network_refs\":[{\"uuid\":\"%s\"}],"
                         "\"virtual_machine_interface_mac_addresses\":{\"mac_address\":"
                         "[\"02:0A:0B:0C:0D:0E\"]}}",
                         vn),
               GRAPH_ECONFLICT, 409, "virtual_machine_interface_mac_addresses.mac_address[0]", p1);
    /* a uuid whose first five bytes collide gets the next derivation */
    body = J("{\"name\":\"p3\",\"uuid\":\"0a0b0c0d-0eff-4111-8222-333333333333\","
             "\"virtual_network_refs\":[{\"uuid\":\"%s\"}]}",
             vn);
    assert_int_equal(graph_obj_create(&f->g, "virtual-machine-interface", body, "t", &out, NULL,
                                      &f->err),
                     0);
    macs = json_object_get(json_object_get(out, "virtual_machine_interface_mac_addresses"),
                           "mac_address");
    assert_string_equal(json_string_value(json_array_get(macs, 0)), "02:0b:0c:0d:0e:ff");
    json_decref(out);
    json_decref(body);
    /* the MAC cannot be changed, and is freed by the delete */
    body = J("{\"virtual_machine_interface_mac_addresses\":{\"mac_address\":[\"02:00:00:00:00:01\"]}}");
    expect_err(f, graph_obj_update(&f->g, "virtual-machine-interface", p1, body, 0, "t", NULL,
                                   NULL, &f->err),
               GRAPH_EINVALID, 422, "virtual_machine_interface_mac_addresses", NULL);
    json_decref(body);
    assert_int_equal(graph_obj_delete(&f->g, "virtual-machine-interface", p1, 0, "t", NULL,
                                      &f->err),
                     0);
    assert_int_equal(create(f, "virtual-machine-interface", NULL,
                            "{\"name\":\"p4\",\"virtual_network_refs\":[{\"uuid\":\"%s\"}],"
                            "\"virtual_machine_interface_mac_addresses\":{\"mac_address\":"
                            "[\"02:0a:0b:0c:0d:0e\"]}}",
                            vn),
                     0);
}

static void test_list(void **state)
{
    struct fx *f = *state;
    char p2[GRAPH_UUID_SIZE], ipam[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, "project", p2, "{\"fq_name\":[\"default-domain\",\"p2\"]}"), 0);
    assert_int_equal(create(f, "network-ipam", ipam, "{\"name\":\"li\"}"), 0);
    char names[7][16];
    for (int i = 0; i < 7; i++) {
        snprintf(names[i], sizeof names[i], "n%d", i);
        if (i < 4) {
            assert_int_equal(create(f, "virtual-network", NULL,
                                    "{\"name\":\"%s\",\"display_name\":\"%s\"%s}", names[i],
                                    i % 2 ? "odd" : "even",
                                    i == 0 ? ",\"router_external\":true" : ""),
                             0);
        } else {
            assert_int_equal(create(f, "virtual-network", NULL,
                                    "{\"fq_name\":[\"default-domain\",\"p2\",\"%s\"],"
                                    "\"network_ipam_refs\":[{\"uuid\":\"%s\"}]}",
                                    names[i], ipam),
                             0);
        }
    }
    char marker[GRAPH_UUID_SIZE];
    json_t *l = NULL;
    assert_int_equal(graph_obj_list(&f->g, "virtual-network", NULL, &l, marker, &f->err), 0);
    assert_int_equal(json_array_size(l), 7);
    assert_string_equal(marker, "");
    assert_non_null(json_object_get(json_array_get(l, 0), "fq_name"));
    assert_null(json_object_get(json_array_get(l, 0), "display_name"));
    for (size_t i = 1; i < 7; i++) { /* uuid order */
        assert_true(strcmp(str_at(json_array_get(l, i - 1), "uuid"),
                           str_at(json_array_get(l, i), "uuid")) < 0);
    }
    json_decref(l);
    struct graph_list_req req = {.parent_ids = p2};
    assert_int_equal(graph_obj_list(&f->g, "virtual-network", &req, &l, marker, &f->err), 0);
    assert_int_equal(json_array_size(l), 3);
    json_decref(l);
    char both[80];
    snprintf(both, sizeof both, "%s,%s", p2, f->proj);
    req = (struct graph_list_req){.parent_ids = both, .detail = true};
    assert_int_equal(graph_obj_list(&f->g, "virtual-network", &req, &l, marker, &f->err), 0);
    assert_int_equal(json_array_size(l), 7);
    assert_non_null(json_object_get(json_array_get(l, 0), "parent_uuid"));
    json_decref(l);
    req = (struct graph_list_req){.back_ref_ids = ipam};
    assert_int_equal(graph_obj_list(&f->g, "virtual-network", &req, &l, marker, &f->err), 0);
    assert_int_equal(json_array_size(l), 3);
    json_decref(l);
    req = (struct graph_list_req){.back_ref_ids = ipam, .parent_ids = f->proj};
    assert_int_equal(graph_obj_list(&f->g, "virtual-network", &req, &l, marker, &f->err), 0);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    /* filters and fields */
    req = (struct graph_list_req){.filters = "display_name==odd", .fields = "display_name"};
    assert_int_equal(graph_obj_list(&f->g, "virtual-network", &req, &l, marker, &f->err), 0);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(str_at(json_array_get(l, 0), "display_name"), "odd");
    json_decref(l);
    req = (struct graph_list_req){.filters = "display_name==odd,display_name==even"};
    assert_int_equal(graph_obj_list(&f->g, "virtual-network", &req, &l, marker, &f->err), 0);
    assert_int_equal(json_array_size(l), 4);
    json_decref(l);
    req = (struct graph_list_req){.filters = "display_name==even,router_external==true"};
    assert_int_equal(graph_obj_list(&f->g, "virtual-network", &req, &l, marker, &f->err), 0);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    req = (struct graph_list_req){.filters = "virtual_network_properties==x"};
    expect_err(f, graph_obj_list(&f->g, "virtual-network", &req, &l, marker, &f->err),
               GRAPH_EBADREQ, 400, "filters", NULL);
    req = (struct graph_list_req){.parent_ids = "nope"};
    expect_err(f, graph_obj_list(&f->g, "virtual-network", &req, &l, marker, &f->err),
               GRAPH_EBADREQ, 400, "parent_id", NULL);
    /* pagination visits every object once, for both sources */
    for (int src = 0; src < 2; src++) {
        char seen[16][GRAPH_UUID_SIZE];
        size_t nseen = 0;
        char cur[GRAPH_UUID_SIZE] = "";
        int pages = 0;
        do {
            req = (struct graph_list_req){.limit = 2, .marker = cur,
                                          .parent_ids = src ? both : NULL};
            assert_int_equal(graph_obj_list(&f->g, "virtual-network", &req, &l, marker, &f->err),
                             0);
            assert_true(json_array_size(l) <= 2);
            for (size_t i = 0; i < json_array_size(l); i++) {
                const char *u = str_at(json_array_get(l, i), "uuid");
                for (size_t k = 0; k < nseen; k++) {
                    assert_string_not_equal(seen[k], u);
                }
                snprintf(seen[nseen++], GRAPH_UUID_SIZE, "%s", u);
            }
            json_decref(l);
            snprintf(cur, sizeof cur, "%s", marker);
            pages++;
        } while (cur[0] && pages < 10);
        assert_int_equal(nseen, 7);
        assert_int_equal(pages, 4);
    }
}

/* Replaying the logged transactions into a fresh state machine yields the
 * same hash: the entries carry every decision (uuids, addresses, MACs). */
static void test_determinism(void **state)
{
    struct fx *f = *state;
    char vn[GRAPH_UUID_SIZE], a[64];
    make_vn(f, "det", "10.7.0.0", 24, NULL, vn);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(make_iip(f, vn, NULL, a, sizeof a, NULL), 0);
        assert_int_equal(create(f, "virtual-machine-interface", NULL,
                                "{\"name\":\"d%d\",\"virtual_network_refs\":[{\"uuid\":\"%s\"}]}",
                                i, vn),
                         0);
    }
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/strata-graph-XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct store_fsm *other;
    struct store_fsm_config c = {.no_sync = true, .map_size = 256u << 20};
    assert_int_equal(store_fsm_open(&other, dir, &c), 0);
    struct store_result res;
    buf_init(&res.reply, 0);
    for (size_t i = 0; i < f->kv.log_len; i++) {
        struct store_entry e = {.index = i + 1, .data = f->kv.log[i].data,
                                .size = f->kv.log[i].size};
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
    rmdir_env(dir);
}

static void test_store_errors(void **state)
{
    struct fx *f = *state;
    f->kv.inject = STORE_EMAPFULL;
    expect_err(f, create(f, "network-ipam", NULL, "{\"name\":\"full\"}"), GRAPH_ESTORAGE, 507,
               NULL, "map is full");
    f->kv.inject = STORE_ENOQUORUM;
    json_t *o = NULL;
    expect_err(f, graph_obj_read(&f->g, "project", f->proj, NULL, true, &o, NULL, &f->err),
               GRAPH_EUNAVAIL, 503, NULL, "quorum");
    f->kv.inject = STORE_ETIMEOUT;
    expect_err(f, graph_obj_delete(&f->g, "project", f->proj, 0, "t", NULL, &f->err),
               GRAPH_EUNAVAIL, 503, NULL, NULL);
    /* a project's fq_name has two elements: a schema error with its path */
    expect_err(f, create(f, "project", NULL, "{\"fq_name\":[\"default-domain\",\"a\",\"b\"]}"),
               GRAPH_EINVALID, 422, "fq_name", NULL);
    /* an object larger than the store takes in one value (the fixture's
     * 256 KiB): 413. (The transaction caps, 4096 compares and ops, are
     * beyond what one object's refs can reach: at most 1024 per list.) */
    size_t vsize = 4096;
    char *val = malloc(vsize + 1);
    assert_non_null(val);
    memset(val, 'x', vsize);
    val[vsize] = '\0';
    json_t *pairs = json_array();
    for (int i = 0; i < 128; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        json_array_append_new(pairs, json_pack("{s:s,s:s}", "key", key, "value", val));
    }
    free(val);
    json_t *wide = json_pack("{s:s,s:{s:o}}", "name", "wide", "annotations", "key_value_pair", pairs);
    assert_non_null(wide);
    expect_err(f, graph_obj_create(&f->g, "network-ipam", wide, "t", NULL, NULL, &f->err),
               GRAPH_ETOOLARGE, 413, NULL, NULL);
    json_decref(wide);
    /* after the injected failures everything works */
    assert_int_equal(create(f, "network-ipam", NULL, "{\"name\":\"full\"}"), 0);
    /* unknown type on every entry point */
    expect_err(f, graph_obj_read(&f->g, "nope", f->proj, NULL, true, &o, NULL, &f->err),
               GRAPH_EBADREQ, 400, NULL, NULL);
}

/* Throughput on one core: virtual-networks and ports (VMI + instance-ip)
 * through graph_kv_fsm. Prints the figure; asserts only correctness. */
static void test_throughput(void **state)
{
    struct fx *f = *state;
    int nvn = getenv("STRATA_UNDER_VALGRIND") ? 4 : 100, nport = getenv("STRATA_UNDER_VALGRIND")
                                                                     ? 3
                                                                     : 20;
    struct timespec t0, t1;
    char ipam[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, "network-ipam", ipam, "{\"name\":\"bench\"}"), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int creates = 0;
    for (int v = 0; v < nvn; v++) {
        char vn[GRAPH_UUID_SIZE], a[64];
        assert_int_equal(create(f, "virtual-network", vn,
                                "{\"name\":\"bench-%d\",\"network_ipam_refs\":[{\"uuid\":\"%s\","
                                "\"attr\":{\"ipam_subnets\":[{\"subnet\":{\"ip_prefix\":"
                                "\"10.%d.%d.0\",\"ip_prefix_len\":24}}]}}]}",
                                v, ipam, 100 + v / 256, v % 256),
                         0);
        creates++;
        for (int p = 0; p < nport; p++) {
            char vmi[GRAPH_UUID_SIZE];
            assert_int_equal(create(f, "virtual-machine-interface", vmi,
                                    "{\"name\":\"bench-%d-%d\",\"virtual_network_refs\":"
                                    "[{\"uuid\":\"%s\"}]}",
                                    v, p, vn),
                             0);
            json_t *body = J("{\"virtual_network_refs\":[{\"uuid\":\"%s\"}],"
                             "\"virtual_machine_interface_refs\":[{\"uuid\":\"%s\"}]}",
                             vn, vmi);
            assert_int_equal(graph_obj_create(&f->g, "instance-ip", body, "b", NULL, NULL,
                                              &f->err),
                             0);
            json_decref(body);
            creates += 2;
        }
        assert_int_equal(make_iip(f, vn, NULL, a, sizeof a, NULL), 0);
        char want[32];
        snprintf(want, sizeof want, "10.%d.%d.%d", 100 + v / 256, v % 256, 3 + nport);
        assert_string_equal(a, want);
        creates++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("RESULT graph-fsm creates=%d seconds=%.3f creates_per_s=%.0f (vn=%d ports/vn=%d, "
           "port = vmi + instance-ip)\n",
           creates, s, creates / s, nvn, nport);
}

/* ---- races: a competing request runs between A's reads and its txn ---- */

static char g_uuid[GRAPH_UUID_SIZE];

static void hook_delete_project(struct tkv *k)
{
    (void)k;
    assert_int_equal(graph_obj_delete(&g_fx->g, "project", g_uuid, 0, "b", NULL, &g_fx->err), 0);
}

static void test_race_parent_deleted(void **state)
{
    struct fx *f = *state;
    assert_int_equal(create(f, "project", g_uuid, "{\"fq_name\":[\"default-domain\",\"gone\"]}"), 0);
    uint64_t conflicts = f->g.txn_conflicts;
    f->kv.before_write = hook_delete_project;
    expect_err(f, create(f, "virtual-network", NULL,
                         "{\"fq_name\":[\"default-domain\",\"gone\",\"v\"]}"),
               GRAPH_ENOTFOUND, 404, "fq_name", "parent project default-domain:gone");
    assert_int_equal(f->g.txn_conflicts, conflicts + 1);
}

static void hook_delete_ipam(struct tkv *k)
{
    (void)k;
    assert_int_equal(graph_obj_delete(&g_fx->g, "network-ipam", g_uuid, 0, "b", NULL, &g_fx->err),
                     0);
}

static void test_race_ref_target_deleted(void **state)
{
    struct fx *f = *state;
    assert_int_equal(create(f, "network-ipam", g_uuid, "{\"name\":\"gone\"}"), 0);
    uint64_t conflicts = f->g.txn_conflicts;
    f->kv.before_write = hook_delete_ipam;
    expect_err(f, create(f, "virtual-network", NULL,
                         "{\"name\":\"v\",\"network_ipam_refs\":[{\"uuid\":\"%s\"}]}", g_uuid),
               GRAPH_ENOTFOUND, 404, "network_ipam_refs[0]", g_uuid);
    assert_int_equal(f->g.txn_conflicts, conflicts + 1);
    /* nothing half-made: the name is free */
    assert_int_equal(create(f, "virtual-network", NULL, "{\"name\":\"v\"}"), 0);
}

static void hook_create_child(struct tkv *k)
{
    (void)k;
    assert_int_equal(create(g_fx, "virtual-network", NULL,
                            "{\"fq_name\":[\"default-domain\",\"busy\",\"late\"]}"),
                     0);
}

static void test_race_delete_vs_new_child(void **state)
{
    struct fx *f = *state;
    char p[GRAPH_UUID_SIZE];
    assert_int_equal(create(f, "project", p, "{\"fq_name\":[\"default-domain\",\"busy\"]}"), 0);
    uint64_t conflicts = f->g.txn_conflicts;
    f->kv.before_write = hook_create_child;
    /* A saw no children; the COUNT compare sees the new one */
    expect_err(f, graph_obj_delete(&f->g, "project", p, 0, "a", NULL, &f->err), GRAPH_ECONFLICT,
               409, NULL, "default-domain:busy:late");
    assert_int_equal(f->g.txn_conflicts, conflicts + 1);
    json_decref(read_obj(f, "project", p, NULL));
}

static void hook_update_other(struct tkv *k)
{
    (void)k;
    json_t *body = J("{\"router_external\":true}");
    assert_int_equal(graph_obj_update(&g_fx->g, "virtual-network", g_uuid, body, 0, "b", NULL,
                                      NULL, &g_fx->err),
                     0);
    json_decref(body);
}

static void test_race_concurrent_updates(void **state)
{
    struct fx *f = *state;
    assert_int_equal(create(f, "virtual-network", g_uuid, "{\"name\":\"u\"}"), 0);
    /* without If-Match A re-reads and merges over B's change */
    f->kv.before_write = hook_update_other;
    json_t *body = J("{\"display_name\":\"A\"}");
    assert_int_equal(graph_obj_update(&f->g, "virtual-network", g_uuid, body, 0, "a", NULL, NULL,
                                      &f->err),
                     0);
    json_t *o = read_obj(f, "virtual-network", g_uuid, NULL);
    assert_string_equal(str_at(o, "display_name"), "A");
    assert_true(json_is_true(json_object_get(o, "router_external")));
    json_decref(o);
    /* with If-Match B's change makes A's revision stale: 412 */
    uint64_t rev;
    json_decref(read_obj(f, "virtual-network", g_uuid, &rev));
    f->kv.before_write = hook_update_other;
    expect_err(f, graph_obj_update(&f->g, "virtual-network", g_uuid, body, rev, "a", NULL, NULL,
                                   &f->err),
               GRAPH_EPRECOND, 412, NULL, NULL);
    json_decref(body);
    /* uuids are case-insensitive on the way in */
    char upper[GRAPH_UUID_SIZE];
    for (int i = 0; i < GRAPH_UUID_SIZE; i++) {
        upper[i] = (char)(g_uuid[i] >= 'a' && g_uuid[i] <= 'f' ? g_uuid[i] - 'a' + 'A' : g_uuid[i]);
    }
    o = read_obj(f, "virtual-network", upper, NULL);
    assert_string_equal(str_at(o, "uuid"), g_uuid);
    json_decref(o);
}

int main(void)
{
    struct schema_error se;
    if (schema_load_builtin(&g_schema, &se) != 0) {
        fprintf(stderr, "schema: %s\n", se.message);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bootstrap_idempotent, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_create_read_refs_children, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fq_name_with_colons, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_same_fq_name, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_children_and_backrefs, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_weak_refs_dangle, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ref_update, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_update_if_match, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ipam_allocation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ipam_concurrent, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_mac, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_list, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_determinism, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_race_parent_deleted, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_race_ref_target_deleted, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_race_delete_vs_new_child, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_race_concurrent_updates, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_throughput, fx_setup, fx_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    schema_free(g_schema);
    return rc;
}

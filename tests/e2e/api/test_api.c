/* Unit tests of the config role's REST operations (appliance/api_exec.c,
 * api_auth.c) without HTTP: requests go straight to api_handle() over a
 * graph on an in-process store state machine (graph_kv_fsm). Covers token
 * shape and lookup (401 for missing/malformed/unknown/expired/revoked),
 * roles and project scope (403), CRUD with ETag/If-Match (412), the
 * bad-input matrix with exact statuses and no store write, duplicate
 * fq_name (409), delete with live refs (409), the fixed routes, the
 * non-atomic batch, and the audit actor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "appliance/api_int.h"
#include "store/fsm.h"

static struct schema *g_schema;

struct fx {
    char dir[64];
    struct store_fsm *fsm;
    struct graph_kv_fsm fk;
    struct graph g;
    struct api_shared sh;
    struct graph_error err;
    char admin[API_TOKEN_SIZE], member1[API_TOKEN_SIZE], reader1[API_TOKEN_SIZE],
        member2[API_TOKEN_SIZE];
    char p1[GRAPH_UUID_SIZE], p2[GRAPH_UUID_SIZE];
    char member1_uuid[GRAPH_UUID_SIZE];
};

struct resp {
    int status;
    json_t *doc;
    uint64_t etag;
    char location[128];
};

static void resp_clear(struct resp *r)
{
    json_decref(r->doc);
    memset(r, 0, sizeof *r);
}

/* Runs one request; 'path' is "/<plural>", "/<type>/<uuid>" or a fixed
 * route, with an optional "?query". Routing reuses the batch router. */
static int req(struct fx *f, const char *token, const char *method, const char *path,
               const char *body, const char *if_match, struct resp *r)
{
    resp_clear(r);
    char text[8192];
    json_t *op = json_pack("{s:s,s:s}", "method", method, "path", path);
    if (if_match) {
        json_object_set_new(op, "if_match", json_string(if_match));
    }
    if (body) {
        json_t *b = json_loads(body, 0, NULL);
        assert_non_null(b);
        json_object_set_new(op, "body", b);
    }
    json_t *batch = json_pack("{s:[o]}", "operations", op);
    char *bt = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    snprintf(text, sizeof text, "%s", bt);
    free(bt);
    struct api_call call = {.route = API_R_BATCH,
                            .body = (const uint8_t *)text,
                            .body_size = strlen(text),
                            .host = "test"};
    struct api_result res;
    api_handle(&f->sh, &f->g, token, &call, &res);
    json_t *doc = json_loadb(res.text, res.size, 0, NULL);
    assert_non_null(doc);
    if (res.status != 200) {
        r->status = res.status;
        r->doc = doc;
    } else {
        json_t *item = json_array_get(json_object_get(doc, "results"), 0);
        r->status = (int)json_integer_value(json_object_get(item, "status"));
        r->doc = json_incref(json_object_get(item, "body"));
        r->etag = (uint64_t)json_integer_value(json_object_get(item, "etag"));
        json_decref(doc);
    }
    api_result_destroy(&res);
    return r->status;
}

/* A raw request (body bytes as given) for the parser cases. */
static int raw(struct fx *f, const char *token, enum api_route route, const char *type,
               const void *body, size_t size, struct resp *r)
{
    resp_clear(r);
    struct api_call call = {.route = route,
                            .type = type ? schema_type_find(g_schema, type) : NULL,
                            .body = body,
                            .body_size = size,
                            .host = "test"};
    struct api_result res;
    api_handle(&f->sh, &f->g, token, &call, &res);
    r->status = res.status;
    r->doc = json_loadb(res.text, res.size, 0, NULL);
    r->etag = res.etag;
    snprintf(r->location, sizeof r->location, "%s", res.location);
    api_result_destroy(&res);
    return r->status;
}

static const char *sget(const json_t *doc, const char *a, const char *b)
{
    const json_t *v = json_object_get(doc, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

static uint64_t store_rev(struct fx *f)
{
    struct store_fsm_status st;
    assert_int_equal(store_fsm_status(f->fsm, &st), 0);
    return st.revision;
}

static void token_for(struct fx *f, enum api_role role, const char *project, time_t expires,
                      char out[API_TOKEN_SIZE], char *uuid)
{
    json_t *obj = NULL;
    assert_int_equal(api_token_create(&f->g, role, project, expires, "test", "test", out, &obj,
                                      &f->err),
                     0);
    if (uuid) {
        snprintf(uuid, GRAPH_UUID_SIZE, "%s", json_string_value(json_object_get(obj, "uuid")));
    }
    json_decref(obj);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct resp r = {0};
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/strata-api-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct store_fsm_config c = {.no_sync = true, .map_size = 256u << 20};
    assert_int_equal(store_fsm_open(&f->fsm, f->dir, &c), 0);
    graph_kv_fsm_init(&f->fk, f->fsm, 0);
    graph_init(&f->g, g_schema, graph_kv_fsm(&f->fk));
    assert_int_equal(graph_bootstrap(&f->g, "test", &f->err), 0);
    assert_int_equal(api_shared_init(&f->sh, g_schema), 0);
    token_for(f, API_ROLE_ADMIN, NULL, 0, f->admin, NULL);
    assert_int_equal(req(f, f->admin, "POST", "/projects",
                         "{\"project\": {\"fq_name\": [\"default-domain\", \"p1\"]}}", NULL, &r),
                     201);
    snprintf(f->p1, sizeof f->p1, "%s", sget(r.doc, "project", "uuid"));
    assert_int_equal(req(f, f->admin, "POST", "/projects",
                         "{\"project\": {\"fq_name\": [\"default-domain\", \"p2\"]}}", NULL, &r),
                     201);
    snprintf(f->p2, sizeof f->p2, "%s", sget(r.doc, "project", "uuid"));
    token_for(f, API_ROLE_MEMBER, f->p1, 0, f->member1, f->member1_uuid);
    token_for(f, API_ROLE_READER, f->p1, 0, f->reader1, NULL);
    token_for(f, API_ROLE_MEMBER, f->p2, 0, f->member2, NULL);
    resp_clear(&r);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    char p[128];
    api_shared_destroy(&f->sh);
    store_fsm_close(f->fsm);
    snprintf(p, sizeof p, "%s/data.mdb", f->dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", f->dir);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void test_token_shape(void **state)
{
    (void)state;
    char a[API_TOKEN_SIZE], b[API_TOKEN_SIZE], h[API_HASH_HEX];
    assert_int_equal(api_token_generate(a), 0);
    assert_int_equal(api_token_generate(b), 0);
    assert_int_equal(strlen(a), 3 + 43);
    assert_string_not_equal(a, b);
    assert_true(api_token_wellformed(a));
    assert_false(api_token_wellformed("st_short"));
    char bad[API_TOKEN_SIZE];
    snprintf(bad, sizeof bad, "%s", a);
    bad[10] = '/';
    assert_false(api_token_wellformed(bad));
    assert_int_equal(api_token_hash("abc", h), 0);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    time_t t;
    assert_int_equal(api_time_parse("2026-11-21T10:00:00Z", &t), 0);
    assert_int_equal((long long)t, 1795255200LL);
    assert_int_equal(api_time_parse("2026-11-21T12:00:00.5+02:00", &t), 0);
    assert_int_equal((long long)t, 1795255200LL);
    assert_int_not_equal(api_time_parse("2026-11-21 10:00", &t), 0);
}

static void test_authentication(void **state)
{
    struct fx *f = *state;
    struct resp r = {0};
    char unknown[API_TOKEN_SIZE], expired[API_TOKEN_SIZE], revoked[API_TOKEN_SIZE],
        ru[GRAPH_UUID_SIZE];
    assert_int_equal(api_token_generate(unknown), 0);
    token_for(f, API_ROLE_ADMIN, NULL, time(NULL) - 10, expired, NULL);
    token_for(f, API_ROLE_MEMBER, f->p1, time(NULL) + 3600, revoked, ru);
    assert_int_equal(req(f, NULL, "GET", "/", NULL, NULL, &r), 401);
    assert_int_equal(req(f, "", "GET", "/", NULL, NULL, &r), 401);
    assert_int_equal(req(f, "Basic abc", "GET", "/", NULL, NULL, &r), 401);
    assert_int_equal(req(f, unknown, "GET", "/", NULL, NULL, &r), 401);
    assert_int_equal(req(f, expired, "GET", "/", NULL, NULL, &r), 401);
    assert_string_equal(sget(r.doc, "error", "message"), "token expired");
    assert_int_equal(req(f, revoked, "GET", "/virtual-networks", NULL, NULL, &r), 200);
    char path[96];
    snprintf(path, sizeof path, "/tokens/%s", ru);
    assert_int_equal(req(f, f->reader1, "DELETE", path, NULL, NULL, &r), 403);
    assert_int_equal(req(f, f->member2, "DELETE", path, NULL, NULL, &r), 403);
    assert_int_equal(req(f, f->member1, "DELETE", path, NULL, NULL, &r), 200);
    assert_int_equal(req(f, revoked, "GET", "/virtual-networks", NULL, NULL, &r), 401);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.doc, "error"), "code")),
                     401);
    assert_int_equal(req(f, f->admin, "GET", "/", NULL, NULL, &r), 200);
    assert_true(json_array_size(json_object_get(r.doc, "links")) > 40);
    assert_int_equal(req(f, f->reader1, "GET", "/openapi.json", NULL, NULL, &r), 200);
    assert_non_null(json_object_get(r.doc, "paths"));
    resp_clear(&r);
}

static void test_crud_etag(void **state)
{
    struct fx *f = *state;
    struct resp r = {0};
    char body[512], path[128], etag[32], stale[32];
    snprintf(body, sizeof body,
             "{\"virtual-network\": {\"parent_uuid\": \"%s\", \"name\": \"vn1\"}}", f->p1);
    assert_int_equal(raw(f, f->member1, API_R_CREATE, "virtual-network", body, strlen(body), &r),
                     201);
    const char *uuid = sget(r.doc, "virtual-network", "uuid");
    char u[GRAPH_UUID_SIZE];
    snprintf(u, sizeof u, "%s", uuid);
    assert_true(r.etag > 0);
    snprintf(path, sizeof path, "/virtual-network/%s", u);
    assert_string_equal(r.location, path);
    char href[128];
    snprintf(href, sizeof href, "https://test/virtual-network/%s", u);
    assert_string_equal(sget(r.doc, "virtual-network", "href"), href);
    uint64_t created = r.etag;

    assert_int_equal(req(f, f->reader1, "GET", path, NULL, NULL, &r), 200);
    assert_int_equal(r.etag, created);
    /* PUT back what was GOT (href, child lists, back-refs stripped). */
    json_t *got = json_incref(r.doc);
    char *gt = json_dumps(got, JSON_COMPACT);
    json_decref(got);
    snprintf(etag, sizeof etag, "\"%llu\"", (unsigned long long)created);
    assert_int_equal(req(f, f->member1, "PUT", path, gt, etag, &r), 200);
    free(gt);
    assert_true(r.etag > created);
    snprintf(stale, sizeof stale, "%llu", (unsigned long long)created);
    assert_int_equal(req(f, f->member1, "PUT", path,
                         "{\"virtual-network\": {\"display_name\": \"x\"}}", stale, &r),
                     412);
    assert_int_equal(req(f, f->member1, "PUT", path,
                         "{\"virtual-network\": {\"display_name\": \"x\"}}", "W/abc", &r),
                     400);
    assert_int_equal(req(f, f->member1, "DELETE", path, NULL, stale, &r), 412);
    assert_int_equal(req(f, f->reader1, "DELETE", path, NULL, NULL, &r), 403);
    assert_int_equal(req(f, f->member1, "DELETE", path, NULL, NULL, &r), 200);
    assert_int_equal(req(f, f->member1, "GET", path, NULL, NULL, &r), 404);
    assert_int_equal(req(f, f->member1, "DELETE", path, NULL, NULL, &r), 404);
    resp_clear(&r);
}

static void test_bad_input_no_change(void **state)
{
    struct fx *f = *state;
    struct resp r = {0};
    uint64_t rev = store_rev(f);
    static const struct {
        const char *body;
        int status;
    } cases[] = {
        {"{\"virtual-network\": {\"name\": \"a\"", 400},                      /* malformed */
        {"[1,2]", 400},                                                       /* not an object */
        {"{\"virtual-network\": {\"name\": 5}}", 400},                        /* wrong type */
        {"{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"a\"], "
         "\"bogus\": 1}}", 400},                                              /* unknown field */
        {"{\"network-ipam\": {\"name\": \"a\"}}", 400},                        /* wrong wrapper */
        {"{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"a\"]}, \"x\": 1}", 400},
        {"{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"a\"], "
         "\"virtual_network_properties\": {\"vxlan_network_identifier\": 99999999}}}", 422},
        {"", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = raw(f, f->admin, API_R_CREATE, "virtual-network", cases[i].body,
                     strlen(cases[i].body), &r);
        if (st != cases[i].status) {
            fprintf(stderr, "case %zu: %d %s\n", i, st, json_dumps(r.doc, 0));
        }
        assert_int_equal(st, cases[i].status);
        assert_non_null(json_object_get(r.doc, "error"));
    }
    /* 10,000-deep nesting */
    size_t n = 10000;
    char *deep = malloc(2 * n + 64);
    size_t o = (size_t)sprintf(deep, "{\"virtual-network\": ");
    for (size_t i = 0; i < n; i++) {
        deep[o++] = '[';
    }
    for (size_t i = 0; i < n; i++) {
        deep[o++] = ']';
    }
    deep[o++] = '}';
    assert_int_equal(raw(f, f->admin, API_R_CREATE, "virtual-network", deep, o, &r), 400);
    free(deep);
    /* invalid UTF-8 */
    const char bad_utf8[] = "{\"virtual-network\": {\"name\": \"a\xff\xfe\"}}";
    assert_int_equal(raw(f, f->admin, API_R_CREATE, "virtual-network", bad_utf8,
                         sizeof bad_utf8 - 1, &r),
                     400);
    /* larger than the body cap */
    size_t big = API_BODY_MAX + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    assert_int_equal(raw(f, f->admin, API_R_CREATE, "virtual-network", huge, big, &r), 413);
    free(huge);
    assert_int_equal(store_rev(f), rev);
    resp_clear(&r);
}

static void test_rbac_scope(void **state)
{
    struct fx *f = *state;
    struct resp r = {0};
    uint64_t rev = store_rev(f);
    char body[512], path[128];
    /* no write happens in any refused case */
    assert_int_equal(req(f, f->reader1, "POST", "/virtual-networks",
                         "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"r\"]}}",
                         NULL, &r),
                     403);
    assert_int_equal(req(f, f->member1, "POST", "/virtual-networks",
                         "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p2\", \"x\"]}}",
                         NULL, &r),
                     403);
    snprintf(body, sizeof body, "{\"virtual-network\": {\"parent_uuid\": \"%s\", \"name\": \"x\"}}",
             f->p2);
    assert_int_equal(req(f, f->member1, "POST", "/virtual-networks", body, NULL, &r), 403);
    assert_int_equal(req(f, f->member1, "POST", "/virtual-networks",
                         "{\"virtual-network\": {\"name\": \"x\"}}", NULL, &r),
                     403);
    assert_int_equal(req(f, f->member1, "POST", "/domains",
                         "{\"domain\": {\"fq_name\": [\"d2\"]}}", NULL, &r),
                     403);
    assert_int_equal(req(f, f->member1, "POST", "/routing-instances",
                         "{\"routing-instance\": {\"fq_name\": [\"default-domain\", \"p1\", \"v\", "
                         "\"v\"]}}",
                         NULL, &r),
                     403);
    assert_int_equal(req(f, f->member1, "GET", "/api-tokens", NULL, NULL, &r), 403);
    assert_int_equal(req(f, f->member1, "POST", "/tokens", "{\"role\": \"admin\"}", NULL, &r), 403);
    snprintf(body, sizeof body, "{\"role\": \"reader\", \"project_uuid\": \"%s\"}", f->p2);
    assert_int_equal(req(f, f->member1, "POST", "/tokens", body, NULL, &r), 403);
    assert_int_equal(req(f, f->reader1, "POST", "/tokens", "{\"role\": \"reader\"}", NULL, &r), 403);
    assert_int_equal(store_rev(f), rev);

    /* p2's network: invisible and untouchable for p1's tokens */
    assert_int_equal(req(f, f->member2, "POST", "/virtual-networks",
                         "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p2\", \"n2\"]}}",
                         NULL, &r),
                     201);
    snprintf(path, sizeof path, "/virtual-network/%s", sget(r.doc, "virtual-network", "uuid"));
    assert_int_equal(req(f, f->member1, "POST", "/virtual-networks",
                         "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"n1\"]}}",
                         NULL, &r),
                     201);
    rev = store_rev(f);
    assert_int_equal(req(f, f->member1, "GET", path, NULL, NULL, &r), 403);
    assert_int_equal(req(f, f->reader1, "GET", path, NULL, NULL, &r), 403);
    assert_int_equal(req(f, f->member1, "DELETE", path, NULL, NULL, &r), 403);
    assert_int_equal(req(f, f->member1, "PUT", path, "{\"virtual-network\": {\"display_name\": \"x\"}}",
                         NULL, &r),
                     403);
    assert_int_equal(store_rev(f), rev);
    assert_int_equal(req(f, f->member1, "GET", "/virtual-networks", NULL, NULL, &r), 200);
    json_t *list = json_object_get(r.doc, "virtual-networks");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_array_get(list, 0), "fq_name"), 2)),
                        "n1");
    assert_int_equal(req(f, f->admin, "GET", "/virtual-networks?detail=True", NULL, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.doc, "virtual-networks")), 2);
    assert_non_null(json_object_get(json_array_get(json_object_get(r.doc, "virtual-networks"), 0),
                                    "virtual-network"));
    /* global objects: readable, not writable, by members */
    assert_int_equal(req(f, f->member1, "GET", "/domains", NULL, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.doc, "domains")), 1);

    /* a member makes a reader token for its project; it works and is listed */
    assert_int_equal(req(f, f->member1, "POST", "/tokens", "{\"role\": \"reader\", \"ttl\": 600}",
                         NULL, &r),
                     201);
    const char *tok = sget(r.doc, "token", NULL);
    assert_true(api_token_wellformed(tok));
    assert_null(json_object_get(json_object_get(r.doc, "api-token"), "token_hash"));
    char t2[API_TOKEN_SIZE];
    snprintf(t2, sizeof t2, "%s", tok);
    assert_int_equal(req(f, t2, "GET", "/virtual-networks", NULL, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.doc, "virtual-networks")), 1);
    assert_int_equal(req(f, t2, "POST", "/virtual-networks",
                         "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"r\"]}}",
                         NULL, &r),
                     403);
    assert_int_equal(req(f, f->member1, "GET", "/tokens", NULL, NULL, &r), 200);
    json_t *toks = json_object_get(r.doc, "tokens");
    assert_int_equal(json_array_size(toks), 3); /* member1, reader1, the new one */
    for (size_t i = 0; i < json_array_size(toks); i++) {
        assert_null(json_object_get(json_array_get(toks, i), "token_hash"));
    }
    assert_int_equal(req(f, f->admin, "GET", "/tokens", NULL, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.doc, "tokens")), 5);
    resp_clear(&r);
}

static void test_conflicts(void **state)
{
    struct fx *f = *state;
    struct resp r = {0};
    char body[1024], path[128];
    const char *vn = "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"dup\"]}}";
    assert_int_equal(req(f, f->member1, "POST", "/virtual-networks", vn, NULL, &r), 201);
    uint64_t rev = store_rev(f);
    assert_int_equal(req(f, f->member1, "POST", "/virtual-networks", vn, NULL, &r), 409);
    assert_int_equal(store_rev(f), rev);
    assert_int_equal(req(f, f->member1, "POST", "/network-ipams",
                         "{\"network-ipam\": {\"fq_name\": [\"default-domain\", \"p1\", \"ipam\"]}}",
                         NULL, &r),
                     201);
    snprintf(path, sizeof path, "/network-ipam/%s", sget(r.doc, "network-ipam", "uuid"));
    snprintf(body, sizeof body,
             "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"withref\"], "
             "\"network_ipam_refs\": [{\"to\": [\"default-domain\", \"p1\", \"ipam\"], \"attr\": "
             "{\"ipam_subnets\": [{\"subnet\": {\"ip_prefix\": \"10.1.0.0\", \"ip_prefix_len\": "
             "24}}]}}]}}");
    assert_int_equal(req(f, f->member1, "POST", "/virtual-networks", body, NULL, &r), 201);
    rev = store_rev(f);
    assert_int_equal(req(f, f->member1, "DELETE", path, NULL, NULL, &r), 409);
    assert_non_null(strstr(sget(r.doc, "error", "message"), "withref"));
    assert_int_equal(store_rev(f), rev);
    assert_int_equal(req(f, f->member1, "GET", path, NULL, NULL, &r), 200);
    json_t *br = json_object_get(json_object_get(r.doc, "network-ipam"), "virtual_network_back_refs");
    assert_int_equal(json_array_size(br), 1);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(br, 0), "href")),
                           "https://test/virtual-network/"));
    resp_clear(&r);
}

static void test_fixed_routes_and_batch(void **state)
{
    struct fx *f = *state;
    struct resp r = {0};
    char body[1024], vn[GRAPH_UUID_SIZE], ipam[GRAPH_UUID_SIZE];
    assert_int_equal(req(f, f->member1, "POST", "/virtual-networks",
                         "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"b\"]}}",
                         NULL, &r),
                     201);
    snprintf(vn, sizeof vn, "%s", sget(r.doc, "virtual-network", "uuid"));
    assert_int_equal(req(f, f->member1, "POST", "/network-ipams",
                         "{\"network-ipam\": {\"fq_name\": [\"default-domain\", \"p1\", \"i\"]}}",
                         NULL, &r),
                     201);
    snprintf(ipam, sizeof ipam, "%s", sget(r.doc, "network-ipam", "uuid"));
    assert_int_equal(req(f, f->reader1, "POST", "/fqname-to-id",
                         "{\"type\": \"virtual-network\", \"fq_name\": [\"default-domain\", \"p1\", "
                         "\"b\"]}",
                         NULL, &r),
                     200);
    assert_string_equal(sget(r.doc, "uuid", NULL), vn);
    assert_int_equal(req(f, f->member2, "POST", "/fqname-to-id",
                         "{\"type\": \"virtual-network\", \"fq_name\": [\"default-domain\", \"p1\", "
                         "\"b\"]}",
                         NULL, &r),
                     403);
    snprintf(body, sizeof body, "{\"uuid\": \"%s\"}", vn);
    assert_int_equal(req(f, f->reader1, "POST", "/id-to-fqname", body, NULL, &r), 200);
    assert_string_equal(sget(r.doc, "type", NULL), "virtual-network");
    snprintf(body, sizeof body,
             "{\"operation\": \"ADD\", \"type\": \"virtual-network\", \"uuid\": \"%s\", "
             "\"ref-type\": \"network-ipam\", \"ref-uuid\": \"%s\", \"attr\": {\"ipam_subnets\": "
             "[]}}",
             vn, ipam);
    assert_int_equal(req(f, f->reader1, "POST", "/ref-update", body, NULL, &r), 403);
    assert_int_equal(req(f, f->member1, "POST", "/ref-update", body, NULL, &r), 200);
    snprintf(body, sizeof body,
             "{\"type\": \"virtual-networks\", \"back_ref_id\": [\"%s\"], \"detail\": true}", ipam);
    assert_int_equal(req(f, f->reader1, "POST", "/list-bulk-collection", body, NULL, &r), 200);
    json_t *l = json_object_get(r.doc, "virtual-networks");
    assert_int_equal(json_array_size(l), 1);
    snprintf(body, sizeof body, "{\"type\": \"virtual-network\", \"obj_uuids\": [\"%s\", \"%s\"]}",
             vn, ipam);
    assert_int_equal(req(f, f->reader1, "POST", "/list-bulk-collection", body, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.doc, "virtual-networks")), 1);

    /* batch: in order, per-operation results, not atomic */
    const char *batch =
        "{\"operations\": ["
        "{\"method\": \"POST\", \"path\": \"/virtual-networks\", \"body\": {\"virtual-network\": "
        "{\"fq_name\": [\"default-domain\", \"p1\", \"x1\"]}}},"
        "{\"method\": \"POST\", \"path\": \"/virtual-networks\", \"body\": {\"virtual-network\": "
        "{\"fq_name\": [\"default-domain\", \"p1\", \"x1\"]}}},"
        "{\"method\": \"GET\", \"path\": \"/virtual-networks?fields=display_name&page_limit=100\"},"
        "{\"method\": \"POST\", \"path\": \"/batch\", \"body\": {\"operations\": []}},"
        "{\"method\": \"GET\", \"path\": \"/nope\"}]}";
    assert_int_equal(raw(f, f->member1, API_R_BATCH, NULL, batch, strlen(batch), &r), 200);
    json_t *res = json_object_get(r.doc, "results");
    assert_int_equal(json_array_size(res), 5);
    static const int want[] = {201, 409, 200, 400, 404};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(json_integer_value(json_object_get(json_array_get(res, i), "status")),
                         want[i]);
    }
    assert_true(json_is_false(json_object_get(r.doc, "atomic")));
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(json_array_get(res, 2), "body"), "virtual-networks")),
                     2); /* b and x1 */
    const char *stop = "{\"stop_on_error\": true, \"operations\": ["
                       "{\"method\": \"DELETE\", \"path\": \"/virtual-network/nonexistent\"},"
                       "{\"method\": \"GET\", \"path\": \"/\"}]}";
    assert_int_equal(raw(f, f->member1, API_R_BATCH, NULL, stop, strlen(stop), &r), 200);
    res = json_object_get(r.doc, "results");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 0), "status")), 404);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 1), "status")), 0);
    resp_clear(&r);
}

/* The audit record of a member's create names the member token's uuid. */
static void test_audit_actor(void **state)
{
    struct fx *f = *state;
    struct resp r = {0};
    assert_int_equal(req(f, f->member1, "POST", "/virtual-networks",
                         "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"au\"]}}",
                         NULL, &r),
                     201);
    const char *uuid = sget(r.doc, "virtual-network", "uuid");
    struct store_op op = {.kind = STORE_OP_RANGE, .sel = store_sel_prefix("/c/a/", 5)};
    struct buf out;
    struct store_reply rep;
    buf_init(&out, 0);
    assert_int_equal(store_fsm_range(f->fsm, &op, &out), 0);
    assert_int_equal(store_reply_decode(&rep, out.data, out.size), 0);
    int found = 0;
    for (uint32_t i = 0; i < rep.results[0].kvs_len; i++) {
        json_t *a = json_loadb((const char *)rep.results[0].kvs[i].value,
                               rep.results[0].kvs[i].value_size, 0, NULL);
        if (a && strcmp(json_string_value(json_object_get(a, "uuid")) ?: "", uuid) == 0) {
            assert_string_equal(json_string_value(json_object_get(a, "actor")), f->member1_uuid);
            found++;
        }
        json_decref(a);
    }
    assert_int_equal(found, 1);
    store_reply_destroy(&rep);
    buf_destroy(&out);
    resp_clear(&r);
}

int main(void)
{
    struct schema_error se;
    if (schema_load_builtin(&g_schema, &se) != 0) {
        fprintf(stderr, "schema: %s\n", se.message);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_shape),
        cmocka_unit_test_setup_teardown(test_authentication, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_crud_etag, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_no_change, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rbac_scope, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_conflicts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fixed_routes_and_batch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_audit_actor, fx_setup, fx_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    schema_free(g_schema);
    return rc;
}

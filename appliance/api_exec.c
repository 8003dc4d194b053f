/* The config role's REST operations, run on a worker thread against that
 * worker's struct graph: authenticate, authorize, parse the body (bounded:
 * size, nesting, UTF-8, duplicate keys), call the graph, and shape the
 * answer as the VNC API does ({"<type>": {..., "href"}}, lists of {href,
 * fq_name, uuid}, JSON errors {"error": {code, message, field}}). Routes
 * are generic over the schema tables: no code knows a particular type
 * except api-token (the /tokens endpoints) and project (token scope).
 *
 * POST /batch runs a list of operations in order, each as its own graph
 * transaction: it is NOT atomic. A failed operation does not undo the ones
 * before it; the answer carries one {status, body} per operation, and with
 * "stop_on_error": true the operations after the first failure are not
 * run (status 0, "skipped"). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/api_int.h"
#include "compiler/derive.h"
#include "routing/control/ctl_sock.h"

/* An answer under construction: a JSON document or borrowed raw text. */
struct res {
    int status;
    json_t *doc;
    const char *raw;
    size_t raw_size;
    uint64_t etag;
    char location[128];
};

struct ctx {
    const struct api_shared *sh;
    struct graph *g;
    const struct api_auth *auth;
    const char *host;
    int depth; /* 1 inside a batch */
};

static void res_error(struct res *r, int status, const char *message, const char *field)
{
    json_decref(r->doc);
    r->status = status;
    r->doc = json_pack("{s:{s:i,s:s,s:o}}", "error", "code", status, "message",
                       message ? message : "", "field", field && *field ? json_string(field) : json_null());
}

static void res_graph(struct res *r, int rc, const struct graph_error *err)
{
    int status = err->status ? err->status : graph_http_status(rc);
    res_error(r, status, err->message[0] ? err->message : graph_strerror(rc), err->field);
}

static void res_ok(struct res *r, int status, json_t *doc)
{
    json_decref(r->doc);
    r->status = doc ? status : 500;
    r->doc = doc ? doc : json_pack("{s:{s:i,s:s,s:n}}", "error", "code", 500, "message",
                                   "out of memory", "field");
}

void api_result_destroy(struct api_result *r)
{
    if (r) {
        free(r->text);
        r->text = NULL;
        r->size = 0;
    }
}

void api_result_error(struct api_result *res, int status, const char *message, const char *field)
{
    char doc[1024];
    size_t n = http_error_json(doc, sizeof doc, status, message, field);
    api_result_destroy(res);
    memset(res, 0, sizeof *res);
    res->status = status;
    res->text = malloc(n + 1);
    if (res->text) {
        memcpy(res->text, doc, n + 1);
        res->size = n;
    }
}

/* ---- shared state ---- */

/* The /cluster-version entries of the OpenAPI document. */
static void cluster_version_openapi(json_t *paths)
{
    if (!json_is_object(paths)) {
        return;
    }
    json_t *body = json_pack("{s:b,s:{s:{s:{s:s,s:[s],s:b,s:{s:{s:s,s:i}}}}}}", "required", 1, "content",
                             "application/json", "schema", "type", "object", "required", "version",
                             "additionalProperties", 0, "properties", "version", "type", "integer", "minimum", 1);
    json_object_set_new(
        paths, "/cluster-version",
        json_pack("{s:{s:s,s:[s],s:{s:{s:s}}},s:{s:s,s:[s],s:o,s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s}}}}", "get",
                  "summary", "The compiler rules version the cluster compiles with, and this node's range", "tags",
                  "cluster", "responses", "200", "description", "OK", "post", "summary",
                  "Raise the cluster version (admin): recorded, audited, every source recompiled", "tags",
                  "cluster", "requestBody", body, "responses", "200", "description", "raised", "400",
                  "description", "bad body", "403", "description", "not an admin token", "409", "description",
                  "a node lacks the version, no node reported, or a lower version"));
}

int api_shared_init(struct api_shared *sh, const struct schema *schema)
{
    memset(sh, 0, sizeof *sh);
    sh->schema = schema;
    sh->project = schema_type_find(schema, "project");
    sh->token = schema_type_find(schema, "api-token");
    size_t n = schema_type_count(schema);
    sh->scoped = calloc(n ? n : 1, sizeof *sh->scoped);
    json_t *doc = NULL;
    if (!sh->scoped || !sh->project || !sh->token || schema_openapi(schema, &doc) != 0) {
        json_decref(doc);
        api_shared_destroy(sh);
        return LIB_ENOMEM;
    }
    api_bgp_openapi(json_object_get(doc, "paths"));
    api_join_openapi(json_object_get(doc, "paths"));
    cluster_version_openapi(json_object_get(doc, "paths"));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text) {
        api_shared_destroy(sh);
        return LIB_ENOMEM;
    }
    sh->openapi = text;
    sh->openapi_size = strlen(text);
    /* Types inside a project: project and, to a fixed point, every type one
     * of whose parents is inside a project. */
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            const struct schema_type *t = schema_type_at(schema, i);
            bool s = t == sh->project;
            for (size_t p = 0; p < t->parents_len && !s; p++) {
                for (size_t j = 0; j < n; j++) {
                    if (schema_type_at(schema, j) == t->parents[p] && sh->scoped[j]) {
                        s = true;
                    }
                }
            }
            if (s && !sh->scoped[i]) {
                sh->scoped[i] = true;
                changed = true;
            }
        }
    }
    return 0;
}

void api_shared_destroy(struct api_shared *sh)
{
    free((char *)sh->openapi);
    free(sh->scoped);
    memset(sh, 0, sizeof *sh);
}

/* ---- helpers ---- */

const char *api_query_get(const struct api_call *call, const char *name)
{
    for (size_t i = 0; i < call->query_len; i++) {
        if (strcmp(call->query[i].name, name) == 0) {
            return call->query[i].value;
        }
    }
    return NULL;
}

static bool truthy(const char *v)
{
    return v && (strcmp(v, "True") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
                 strcmp(v, "") == 0);
}

static json_t *href(const struct ctx *c, const char *type, const char *uuid)
{
    char buf[API_HOST_MAX + 128];
    snprintf(buf, sizeof buf, "https://%s/%s/%s", c->host, type, uuid);
    return json_string(buf);
}

static void href_items(const struct ctx *c, json_t *list, const char *type)
{
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        const char *u = json_string_value(json_object_get(it, "uuid"));
        if (u && json_is_object(it)) {
            json_object_set_new(it, "href", href(c, type, u));
        }
    }
}

/* Adds hrefs to 'obj' of 't', its refs, back-refs and children. */
static void decorate(const struct ctx *c, const struct schema_type *t, json_t *obj)
{
    const char *u = json_string_value(json_object_get(obj, "uuid"));
    if (u) {
        json_object_set_new(obj, "href", href(c, t->name, u));
    }
    for (size_t r = 0; r < t->refs_len; r++) {
        href_items(c, json_object_get(obj, t->refs[r].key), t->refs[r].to->name);
    }
    for (size_t r = 0; r < t->back_refs_len; r++) {
        const struct schema_type *from = t->back_refs[r]->from;
        href_items(c, json_object_get(obj, from->back_refs_key), from->name);
    }
    for (size_t k = 0; k < t->children_len; k++) {
        href_items(c, json_object_get(obj, t->children[k]->children_key), t->children[k]->name);
    }
}

/* Removes what a GET returns but a PUT may not carry: href (also inside
 * refs), back-ref lists and child lists. */
static void strip_readonly(const struct schema_type *t, json_t *obj)
{
    json_object_del(obj, "href");
    for (size_t r = 0; r < t->refs_len; r++) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(obj, t->refs[r].key), i, it)
        {
            json_object_del(it, "href");
        }
    }
    for (size_t r = 0; r < t->back_refs_len; r++) {
        json_object_del(obj, t->back_refs[r]->from->back_refs_key);
    }
    for (size_t k = 0; k < t->children_len; k++) {
        json_object_del(obj, t->children[k]->children_key);
    }
}

/* The request body as JSON in '*out' (a new reference). */
static int body_json(const struct api_call *call, json_t **out, struct res *r)
{
    *out = NULL;
    if (call->json) {
        *out = json_incref((json_t *)call->json);
        return 0;
    }
    if (call->body_size == 0) {
        res_error(r, 400, "request body required", NULL);
        return -1;
    }
    struct schema_error se;
    int rc = schema_json_parse_bounded((const char *)call->body, call->body_size, API_BODY_MAX,
                                       API_JSON_DEPTH, out, &se);
    if (rc) {
        res_error(r, se.status ? se.status : 400, se.message, se.path);
        return -1;
    }
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        res_error(r, 400, "request body must be a JSON object", NULL);
        return -1;
    }
    return 0;
}

/* The inner object of {"<type>": {...}} (borrowed from 'body'). */
static json_t *unwrap(const struct schema_type *t, json_t *body, struct res *r)
{
    json_t *inner = json_object_get(body, t->name);
    if (json_object_size(body) != 1 || !json_is_object(inner)) {
        char msg[160];
        snprintf(msg, sizeof msg, "body must be {\"%s\": {...}}", t->name);
        res_error(r, 400, msg, NULL);
        return NULL;
    }
    return inner;
}

/* Parses If-Match: "*" or absent → 0; "N", "\"N\"" → N; else -1. */
static int if_match_parse(const char *v, uint64_t *out)
{
    *out = 0;
    if (!v) {
        return 0;
    }
    while (*v == ' ') {
        v++;
    }
    if (strcmp(v, "*") == 0) {
        return 0;
    }
    bool quoted = *v == '"';
    v += quoted;
    if (!isdigit((unsigned char)*v)) {
        return -1;
    }
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (quoted && *end++ != '"') {
        return -1;
    }
    while (*end == ' ') {
        end++;
    }
    if (*end || n == 0) {
        return -1;
    }
    *out = n;
    return 0;
}

static int authz(const struct ctx *c, const struct schema_type *t, const json_t *fq, bool write,
                 struct res *r)
{
    char msg[256];
    int st = api_authorize(c->sh, c->auth, t, fq, write, msg, sizeof msg);
    if (st) {
        res_error(r, st, msg, NULL);
        return -1;
    }
    return 0;
}

/* For a change to object 'uuid' of 't' by a non-admin: checks the caller may
 * write it (its fq_name is in scope). -1 with the answer set otherwise. */
static int authz_existing(const struct ctx *c, const struct schema_type *t, const char *uuid,
                          struct res *r)
{
    if (authz(c, t, NULL, true, r)) {
        return -1;
    }
    if (c->auth->role == API_ROLE_ADMIN || !c->auth->project_fq) {
        return 0;
    }
    char type[64];
    json_t *fq = NULL;
    struct graph_error err;
    int rc = graph_id_to_fqname(c->g, uuid, false, type, sizeof type, &fq, &err);
    if (rc == GRAPH_ENOTFOUND) {
        rc = graph_id_to_fqname(c->g, uuid, true, type, sizeof type, &fq, &err);
    }
    if (rc == 0 && strcmp(type, t->name) != 0) {
        json_decref(fq);
        char msg[128];
        snprintf(msg, sizeof msg, "%s %s not found", t->name, uuid);
        res_error(r, 404, msg, NULL);
        return -1;
    }
    if (rc) {
        res_graph(r, rc, &err);
        return -1;
    }
    rc = authz(c, t, fq, true, r);
    json_decref(fq);
    return rc;
}

/* ---- per-type routes ---- */

static void op_create(const struct ctx *c, const struct api_call *call, struct res *r)
{
    const struct schema_type *t = call->type;
    json_t *body = NULL, *out = NULL;
    struct graph_error err;
    uint64_t rev = 0;
    if (authz(c, t, NULL, true, r) || body_json(call, &body, r)) {
        return;
    }
    json_t *inner = unwrap(t, body, r);
    if (!inner) {
        json_decref(body);
        return;
    }
    if (c->auth->role != API_ROLE_ADMIN && c->auth->project_fq) {
        /* Where will it live? Its fq_name, or its parent's. */
        const json_t *fq = json_object_get(inner, "fq_name");
        const char *pu = json_string_value(json_object_get(inner, "parent_uuid"));
        if (!json_is_array(fq) && !pu) {
            res_error(r, 403, "a project-scoped token must give fq_name or parent_uuid", NULL);
            json_decref(body);
            return;
        }
        if (json_is_array(fq) && authz(c, t, fq, true, r)) {
            json_decref(body);
            return;
        }
        if (pu) {
            char ptype[64];
            json_t *pfq = NULL;
            int rc = graph_id_to_fqname(c->g, pu, false, ptype, sizeof ptype, &pfq, &err);
            if (rc == GRAPH_ENOTFOUND) {
                rc = graph_id_to_fqname(c->g, pu, true, ptype, sizeof ptype, &pfq, &err);
            }
            if (rc) {
                res_graph(r, rc, &err);
                json_decref(body);
                return;
            }
            bool ok = api_in_scope(c->auth, pfq);
            json_decref(pfq);
            if (!ok) {
                res_error(r, 403, "the parent belongs to another project", "parent_uuid");
                json_decref(body);
                return;
            }
        }
    }
    int rc = graph_obj_create(c->g, t->name, inner, c->auth->uuid, &out, &rev, &err);
    json_decref(body);
    if (rc) {
        res_graph(r, rc, &err);
        return;
    }
    decorate(c, t, out);
    r->etag = rev;
    snprintf(r->location, sizeof r->location, "/%s/%s",
             t->name, json_string_value(json_object_get(out, "uuid")) ?: "");
    res_ok(r, 201, json_pack("{s:o}", t->name, out));
}

static void op_read(const struct ctx *c, const struct api_call *call, struct res *r)
{
    const struct schema_type *t = call->type;
    json_t *out = NULL;
    struct graph_error err;
    uint64_t rev = 0;
    if (authz(c, t, NULL, false, r)) {
        return;
    }
    int rc = graph_obj_read(c->g, t->name, call->uuid, api_query_get(call, "fields"), true, &out, &rev, &err);
    if (rc) {
        res_graph(r, rc, &err);
        return;
    }
    if (authz(c, t, json_object_get(out, "fq_name"), false, r)) {
        json_decref(out);
        return;
    }
    decorate(c, t, out);
    r->etag = rev;
    res_ok(r, 200, json_pack("{s:o}", t->name, out));
}

static void op_update(const struct ctx *c, const struct api_call *call, struct res *r)
{
    const struct schema_type *t = call->type;
    json_t *body = NULL, *out = NULL;
    struct graph_error err;
    uint64_t rev = 0, if_match;
    if (authz_existing(c, t, call->uuid, r)) {
        return;
    }
    if (if_match_parse(call->if_match, &if_match) != 0) {
        res_error(r, 400, "If-Match must be an ETag this API returned", NULL);
        return;
    }
    if (body_json(call, &body, r)) {
        return;
    }
    json_t *inner = unwrap(t, body, r);
    if (!inner) {
        json_decref(body);
        return;
    }
    strip_readonly(t, inner);
    int rc = graph_obj_update(c->g, t->name, call->uuid, inner, if_match, c->auth->uuid, &out, &rev,
                              &err);
    json_decref(body);
    if (rc) {
        res_graph(r, rc, &err);
        return;
    }
    decorate(c, t, out);
    r->etag = rev;
    res_ok(r, 200, json_pack("{s:o}", t->name, out));
}

static void op_delete(const struct ctx *c, const struct api_call *call, struct res *r)
{
    const struct schema_type *t = call->type;
    struct graph_error err;
    uint64_t if_match;
    if (authz_existing(c, t, call->uuid, r)) {
        return;
    }
    if (if_match_parse(call->if_match, &if_match) != 0) {
        res_error(r, 400, "If-Match must be an ETag this API returned", NULL);
        return;
    }
    int rc = graph_obj_delete(c->g, t->name, call->uuid, if_match, c->auth->uuid, NULL, &err);
    if (rc) {
        res_graph(r, rc, &err);
        return;
    }
    res_ok(r, 200, json_object());
}

/* Lists 't' per 'req' into {"<plural>": [...]}, keeping only entries the
 * caller may read. */
static void list_common(const struct ctx *c, const struct schema_type *t,
                        const struct graph_list_req *req, struct res *r)
{
    json_t *items = NULL;
    char next[GRAPH_UUID_SIZE];
    struct graph_error err;
    if (authz(c, t, NULL, false, r)) {
        return;
    }
    int rc = graph_obj_list(c->g, t->name, req, &items, next, &err);
    if (rc) {
        res_graph(r, rc, &err);
        return;
    }
    json_t *list = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (c->auth->role != API_ROLE_ADMIN &&
            api_authorize(c->sh, c->auth, t, json_object_get(it, "fq_name"), false, NULL, 0)) {
            continue;
        }
        decorate(c, t, it);
        json_array_append_new(list, req->detail ? json_pack("{s:O}", t->name, it) : json_incref(it));
    }
    json_decref(items);
    json_t *doc = json_pack("{s:o}", t->plural, list);
    if (doc && next[0]) {
        json_object_set_new(doc, "next_page_marker", json_string(next));
    }
    res_ok(r, 200, doc);
}

static int limit_parse(const char *v, uint32_t *out, struct res *r)
{
    *out = 0;
    if (!v) {
        return 0;
    }
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || !isdigit((unsigned char)*v) || n > GRAPH_LIST_MAX) {
        res_error(r, 400, "page_limit must be an integer from 0 to 10000", "page_limit");
        return -1;
    }
    *out = (uint32_t)n;
    return 0;
}

static void op_list(const struct ctx *c, const struct api_call *call, struct res *r)
{
    struct graph_list_req req = {
        .parent_ids = api_query_get(call, "parent_id"),
        .back_ref_ids = api_query_get(call, "back_ref_id"),
        .fields = api_query_get(call, "fields"),
        .filters = api_query_get(call, "filters"),
        .marker = api_query_get(call, "page_marker"),
        .detail = truthy(api_query_get(call, "detail")),
        .linearizable = true,
    };
    if (limit_parse(api_query_get(call, "page_limit"), &req.limit, r)) {
        return;
    }
    list_common(c, call->type, &req, r);
}

/* ---- fixed routes ---- */

static const struct schema_type *type_arg(const struct ctx *c, const json_t *v, struct res *r,
                                          const char *field)
{
    const char *name = json_string_value(v);
    const struct schema_type *t = name ? schema_type_find(c->sh->schema, name) : NULL;
    if (!t && name) {
        t = schema_type_find_plural(c->sh->schema, name);
    }
    if (!t) {
        res_error(r, 400, name ? "unknown type" : "type required", field);
    }
    return t;
}

static void op_fq2id(const struct ctx *c, const struct api_call *call, struct res *r)
{
    json_t *body = NULL;
    char uuid[GRAPH_UUID_SIZE];
    struct graph_error err;
    if (body_json(call, &body, r)) {
        return;
    }
    const struct schema_type *t = type_arg(c, json_object_get(body, "type"), r, "type");
    const json_t *fq = json_object_get(body, "fq_name");
    if (t && !json_is_array(fq)) {
        res_error(r, 400, "fq_name must be a list of strings", "fq_name");
        t = NULL;
    }
    if (t && authz(c, t, fq, false, r) == 0) {
        int rc = graph_fqname_to_id(c->g, t->name, fq, true, uuid, &err);
        if (rc) {
            res_graph(r, rc, &err);
        } else {
            res_ok(r, 200, json_pack("{s:s}", "uuid", uuid));
        }
    }
    json_decref(body);
}

static void op_id2fq(const struct ctx *c, const struct api_call *call, struct res *r)
{
    json_t *body = NULL, *fq = NULL;
    char type[64];
    struct graph_error err;
    if (body_json(call, &body, r)) {
        return;
    }
    const char *uuid = json_string_value(json_object_get(body, "uuid"));
    if (!uuid) {
        res_error(r, 400, "uuid must be a string", "uuid");
        json_decref(body);
        return;
    }
    int rc = graph_id_to_fqname(c->g, uuid, true, type, sizeof type, &fq, &err);
    if (rc) {
        res_graph(r, rc, &err);
    } else {
        const struct schema_type *t = schema_type_find(c->sh->schema, type);
        if (t && authz(c, t, fq, false, r) == 0) {
            res_ok(r, 200, json_pack("{s:s,s:O}", "type", type, "fq_name", fq));
        } else if (!t) {
            res_error(r, 500, "stored object of an unknown type", NULL);
        }
    }
    json_decref(fq);
    json_decref(body);
}

static void op_refupdate(const struct ctx *c, const struct api_call *call, struct res *r)
{
    json_t *body = NULL;
    struct graph_error err;
    uint64_t rev = 0;
    if (body_json(call, &body, r)) {
        return;
    }
    const char *op = json_string_value(json_object_get(body, "operation"));
    const char *uuid = json_string_value(json_object_get(body, "uuid"));
    const char *ref_uuid = json_string_value(json_object_get(body, "ref-uuid"));
    const json_t *ref_fq = json_object_get(body, "ref-fq-name");
    const json_t *attr = json_object_get(body, "attr");
    if (json_is_null(attr)) {
        attr = NULL;
    }
    const struct schema_type *t = type_arg(c, json_object_get(body, "type"), r, "type");
    const struct schema_type *rt = t ? type_arg(c, json_object_get(body, "ref-type"), r, "ref-type")
                                     : NULL;
    enum graph_ref_op gop = op && strcmp(op, "ADD") == 0      ? GRAPH_REF_ADD
                            : op && strcmp(op, "DELETE") == 0 ? GRAPH_REF_DELETE
                                                              : 0;
    if (!rt) {
        /* answered by type_arg */
    } else if (!gop) {
        res_error(r, 400, "operation must be ADD or DELETE", "operation");
    } else if (!uuid) {
        res_error(r, 400, "uuid must be a string", "uuid");
    } else if (!ref_uuid && !json_is_array(ref_fq)) {
        res_error(r, 400, "ref-uuid or ref-fq-name required", "ref-uuid");
    } else if (authz_existing(c, t, uuid, r) == 0) {
        int rc = graph_ref_update(c->g, gop, t->name, uuid, rt->name, ref_uuid,
                                  ref_uuid ? NULL : ref_fq, attr, c->auth->uuid, &rev, &err);
        if (rc) {
            res_graph(r, rc, &err);
        } else {
            r->etag = rev;
            res_ok(r, 200, json_pack("{s:s}", "uuid", uuid));
        }
    }
    json_decref(body);
}

/* A JSON list of strings or one string as a comma-separated list in 'out'
 * ('size' bytes). -1 when neither or too long. */
static int csv_of(const json_t *v, char *out, size_t size)
{
    out[0] = '\0';
    if (json_is_string(v)) {
        return (size_t)snprintf(out, size, "%s", json_string_value(v)) < size ? 0 : -1;
    }
    if (!json_is_array(v)) {
        return -1;
    }
    size_t i, o = 0;
    json_t *it;
    json_array_foreach(v, i, it)
    {
        const char *s = json_string_value(it);
        if (!s || strchr(s, ',')) {
            return -1;
        }
        int n = snprintf(out + o, size - o, "%s%s", i ? "," : "", s);
        if (n < 0 || (size_t)n >= size - o) {
            return -1;
        }
        o += (size_t)n;
    }
    return 0;
}

/* {"prop": value or [values]} as "prop==v,prop==w". */
static int filters_of(const json_t *v, char *out, size_t size)
{
    out[0] = '\0';
    if (json_is_string(v)) {
        return (size_t)snprintf(out, size, "%s", json_string_value(v)) < size ? 0 : -1;
    }
    if (!json_is_object(v)) {
        return -1;
    }
    size_t o = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        json_t *one = json_is_array(val) ? NULL : val;
        size_t n = json_is_array(val) ? json_array_size(val) : 1;
        for (size_t i = 0; i < n; i++) {
            json_t *it = one ? one : json_array_get(val, i);
            char *text = json_is_string(it) ? strdup(json_string_value(it))
                                            : json_dumps(it, JSON_COMPACT | JSON_ENCODE_ANY);
            int w = text && !strchr(text, ',')
                        ? snprintf(out + o, size - o, "%s%s==%s", o ? "," : "", key, text)
                        : -1;
            free(text);
            if (w < 0 || (size_t)w >= size - o) {
                return -1;
            }
            o += (size_t)w;
        }
    }
    return 0;
}

static void op_bulk(const struct ctx *c, const struct api_call *call, struct res *r)
{
    json_t *body = NULL;
    if (body_json(call, &body, r)) {
        return;
    }
    char *pbuf = malloc(3 * 65536 + 4096);
    if (!pbuf) {
        res_error(r, 500, "out of memory", NULL);
        json_decref(body);
        return;
    }
    char *bbuf = pbuf + 65536, *fbuf = bbuf + 65536, *filt = fbuf + 65536;
    const struct schema_type *t = type_arg(c, json_object_get(body, "type"), r, "type");
    const json_t *v;
    struct graph_list_req req = {.linearizable = true};
    const json_t *uuids = json_object_get(body, "obj_uuids");
    if (!t) {
        goto out;
    }
    if ((v = json_object_get(body, "parent_id")) && !json_is_null(v)) {
        if (csv_of(v, pbuf, 65536)) {
            res_error(r, 400, "parent_id must be a uuid or a list of uuids", "parent_id");
            goto out;
        }
        req.parent_ids = pbuf;
    }
    if ((v = json_object_get(body, "back_ref_id")) && !json_is_null(v)) {
        if (csv_of(v, bbuf, 65536)) {
            res_error(r, 400, "back_ref_id must be a uuid or a list of uuids", "back_ref_id");
            goto out;
        }
        req.back_ref_ids = bbuf;
    }
    if ((v = json_object_get(body, "fields")) && !json_is_null(v)) {
        if (csv_of(v, fbuf, 65536)) {
            res_error(r, 400, "fields must be a list of property names", "fields");
            goto out;
        }
        req.fields = fbuf;
    }
    if ((v = json_object_get(body, "filters")) && !json_is_null(v)) {
        if (filters_of(v, filt, 4096)) {
            res_error(r, 400, "filters must be {property: value or [values]}", "filters");
            goto out;
        }
        req.filters = filt;
    }
    req.detail = json_is_true(json_object_get(body, "detail"));
    req.marker = json_string_value(json_object_get(body, "page_marker"));
    v = json_object_get(body, "page_limit");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
              json_integer_value(v) > GRAPH_LIST_MAX)) {
        res_error(r, 400, "page_limit must be an integer from 0 to 10000", "page_limit");
        goto out;
    }
    req.limit = v ? (uint32_t)json_integer_value(v) : 0;
    if (uuids && !json_is_null(uuids)) {
        /* Explicit objects: read each (missing ones are left out). */
        if (!json_is_array(uuids) || json_array_size(uuids) > API_BULK_UUIDS_MAX) {
            res_error(r, 400, "obj_uuids must be a list of at most 1000 uuids", "obj_uuids");
            goto out;
        }
        if (authz(c, t, NULL, false, r)) {
            goto out;
        }
        json_t *list = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(uuids, i, it)
        {
            json_t *obj = NULL;
            struct graph_error err;
            const char *u = json_string_value(it);
            int rc = u ? graph_obj_read(c->g, t->name, u, req.fields, true, &obj, NULL, &err)
                       : GRAPH_ENOTFOUND;
            if (rc == GRAPH_ENOTFOUND) {
                continue;
            }
            if (rc) {
                json_decref(list);
                res_graph(r, rc, &err);
                goto out;
            }
            if (c->auth->role == API_ROLE_ADMIN ||
                api_authorize(c->sh, c->auth, t, json_object_get(obj, "fq_name"), false, NULL, 0) == 0) {
                decorate(c, t, obj);
                json_array_append_new(list, req.detail ? json_pack("{s:O}", t->name, obj)
                                                       : json_pack("{s:O,s:O,s:O}", "uuid",
                                                                   json_object_get(obj, "uuid"),
                                                                   "fq_name",
                                                                   json_object_get(obj, "fq_name"),
                                                                   "href",
                                                                   json_object_get(obj, "href")));
            }
            json_decref(obj);
        }
        res_ok(r, 200, json_pack("{s:o}", t->plural, list));
        goto out;
    }
    list_common(c, t, &req, r);
out:
    free(pbuf);
    json_decref(body);
}

static void op_root(const struct ctx *c, struct res *r)
{
    json_t *links = json_array();
    char buf[API_HOST_MAX + 128];
    size_t n = schema_type_count(c->sh->schema);
    for (size_t i = 0; i < n; i++) {
        const struct schema_type *t = schema_type_at(c->sh->schema, i);
        snprintf(buf, sizeof buf, "https://%s/%s", c->host, t->plural);
        json_array_append_new(links, json_pack("{s:{s:s,s:s,s:s}}", "link", "href", buf, "name",
                                               t->name, "rel", "collection"));
        snprintf(buf, sizeof buf, "https://%s/%s", c->host, t->name);
        json_array_append_new(links, json_pack("{s:{s:s,s:s,s:s}}", "link", "href", buf, "name",
                                               t->name, "rel", "resource-base"));
    }
    static const char *const actions[] = {"fqname-to-id", "id-to-fqname", "ref-update",
                                          "list-bulk-collection", "batch", "tokens", "join-tokens", "enroll", "openapi.json",
                                          "bgp/neighbors", "bgp/routes", "bgp/summary"};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        snprintf(buf, sizeof buf, "https://%s/%s", c->host, actions[i]);
        json_array_append_new(links, json_pack("{s:{s:s,s:s,s:s}}", "link", "href", buf, "name",
                                               actions[i], "rel", "action"));
    }
    snprintf(buf, sizeof buf, "https://%s/", c->host);
    res_ok(r, 200, json_pack("{s:s,s:o}", "href", buf, "links", links));
}

/* ---- tokens ---- */

/* A token object as shown to clients: no hash, no name. */
static json_t *token_view(const struct ctx *c, json_t *obj)
{
    json_t *v = json_deep_copy(obj);
    if (v) {
        static const char *const drop[] = {"token_hash", "name", "fq_name", "parent_type",
                                           "parent_uuid"};
        for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) {
            json_object_del(v, drop[i]);
        }
        decorate(c, c->sh->token, v);
        json_object_del(v, "href");
    }
    return v;
}

static const char *token_project(const json_t *obj)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(obj, "project_refs"), 0),
                                             "uuid"));
}

/* May the non-admin caller see or revoke token 'obj'? */
static bool token_manageable(const struct ctx *c, const json_t *obj)
{
    const struct api_auth *a = c->auth;
    if (a->role == API_ROLE_ADMIN) {
        return true;
    }
    if (a->role < API_ROLE_MEMBER ||
        api_role_parse(json_string_value(json_object_get(obj, "token_role"))) > API_ROLE_MEMBER) {
        return false;
    }
    const char *p = token_project(obj);
    return !a->project_fq || (p && strcmp(p, a->project_uuid) == 0);
}

static void op_token_create(const struct ctx *c, const struct api_call *call, struct res *r)
{
    const struct api_auth *a = c->auth;
    json_t *body = NULL, *out = NULL;
    struct graph_error err;
    char token[API_TOKEN_SIZE], pu[GRAPH_UUID_SIZE] = "";
    if (a->role < API_ROLE_MEMBER) {
        res_error(r, 403, "a reader token cannot create tokens", NULL);
        return;
    }
    if (body_json(call, &body, r)) {
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        static const char *const known[] = {"role", "project_uuid", "project", "expires", "ttl",
                                            "description"};
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
            ok = ok || strcmp(key, known[i]) == 0;
        }
        if (!ok) {
            res_error(r, 400, "unknown field", key);
            goto out;
        }
    }
    enum api_role role = api_role_parse(json_string_value(json_object_get(body, "role")));
    const char *desc = json_string_value(json_object_get(body, "description"));
    const json_t *ttl = json_object_get(body, "ttl");
    const char *exp_text = json_string_value(json_object_get(body, "expires"));
    const char *puuid = json_string_value(json_object_get(body, "project_uuid"));
    const json_t *pfq = json_object_get(body, "project");
    time_t now = time(NULL), expires = 0;
    if (role == API_ROLE_NONE) {
        res_error(r, 400, "role must be admin, member or reader", "role");
        goto out;
    }
    if (json_object_get(body, "description") && !desc) {
        res_error(r, 400, "description must be a string", "description");
        goto out;
    }
    if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) <= 0 ||
                json_integer_value(ttl) > 10LL * 365 * 86400)) {
        res_error(r, 400, "ttl must be a positive number of seconds (at most ten years)", "ttl");
        goto out;
    }
    if (json_object_get(body, "expires") && (!exp_text || api_time_parse(exp_text, &expires))) {
        res_error(r, 400, "expires must be an RFC 3339 time", "expires");
        goto out;
    }
    if (ttl) {
        expires = now + (time_t)json_integer_value(ttl);
    }
    if (expires && expires <= now) {
        res_error(r, 422, "expires is in the past", "expires");
        goto out;
    }
    if (puuid) {
        snprintf(pu, sizeof pu, "%s", puuid);
    } else if (pfq) {
        if (!json_is_array(pfq)) {
            res_error(r, 400, "project must be an fq_name", "project");
            goto out;
        }
        int rc = graph_fqname_to_id(c->g, "project", pfq, true, pu, &err);
        if (rc) {
            res_graph(r, rc, &err);
            goto out;
        }
    } else if (json_object_get(body, "project_uuid")) {
        res_error(r, 400, "project_uuid must be a string", "project_uuid");
        goto out;
    }
    if (a->role != API_ROLE_ADMIN) {
        if (role > API_ROLE_MEMBER) {
            res_error(r, 403, "a member token cannot create admin tokens", "role");
            goto out;
        }
        if (a->project_fq) {
            if (!pu[0]) {
                snprintf(pu, sizeof pu, "%s", a->project_uuid);
            } else if (strcmp(pu, a->project_uuid) != 0) {
                res_error(r, 403, "a member token can create tokens only for its own project",
                          "project_uuid");
                goto out;
            }
        }
        if (a->expires && (!expires || expires > a->expires)) {
            expires = a->expires; /* never outlive the creator */
        }
    }
    int rc = api_token_create(c->g, role, pu, expires, desc, a->uuid, token, &out, &err);
    if (rc) {
        res_graph(r, rc, &err);
        goto out;
    }
    json_t *view = token_view(c, out);
    json_decref(out);
    snprintf(r->location, sizeof r->location, "/tokens/%s",
             json_string_value(json_object_get(view, "uuid")) ?: "");
    res_ok(r, 201, view ? json_pack("{s:s,s:o}", "token", token, "api-token", view) : NULL);
out:
    json_decref(body);
}

static void op_token_list(const struct ctx *c, const struct api_call *call, struct res *r)
{
    json_t *items = NULL;
    char next[GRAPH_UUID_SIZE];
    struct graph_error err;
    if (c->auth->role < API_ROLE_MEMBER) {
        res_error(r, 403, "a reader token cannot list tokens", NULL);
        return;
    }
    struct graph_list_req req = {.detail = true,
                                 .linearizable = true,
                                 .marker = api_query_get(call, "page_marker")};
    if (limit_parse(api_query_get(call, "page_limit"), &req.limit, r)) {
        return;
    }
    int rc = graph_obj_list(c->g, c->sh->token->name, &req, &items, next, &err);
    if (rc) {
        res_graph(r, rc, &err);
        return;
    }
    json_t *list = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (token_manageable(c, it)) {
            json_array_append_new(list, token_view(c, it));
        }
    }
    json_decref(items);
    json_t *doc = json_pack("{s:o}", "tokens", list);
    if (doc && next[0]) {
        json_object_set_new(doc, "next_page_marker", json_string(next));
    }
    res_ok(r, 200, doc);
}

static void op_token_delete(const struct ctx *c, const struct api_call *call, struct res *r)
{
    json_t *obj = NULL;
    struct graph_error err;
    if (c->auth->role < API_ROLE_MEMBER) {
        res_error(r, 403, "a reader token cannot revoke tokens", NULL);
        return;
    }
    int rc = graph_obj_read(c->g, c->sh->token->name, call->uuid, NULL, true, &obj, NULL, &err);
    if (rc) {
        res_graph(r, rc, &err);
        return;
    }
    bool ok = token_manageable(c, obj);
    json_decref(obj);
    if (!ok) {
        res_error(r, 403, "this token may not revoke that token", NULL);
        return;
    }
    rc = graph_obj_delete(c->g, c->sh->token->name, call->uuid, 0, c->auth->uuid, NULL, &err);
    if (rc) {
        res_graph(r, rc, &err);
        return;
    }
    res_ok(r, 200, json_object());
}

/* ---- batch ---- */

static void dispatch(const struct ctx *c, const struct api_call *call, struct res *r);

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

/* Percent-decodes 'in' ('n' bytes) into 'out' (at least n + 1 bytes); '+'
 * is a space in queries. -1 on a bad escape or a NUL. */
static int pct_decode(const char *in, size_t n, char *out, bool query)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = in[i];
        if (ch == '%') {
            if (n - i < 3) {
                return -1;
            }
            int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return -1;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '\0') {
            return -1;
        } else {
            out[o++] = query && ch == '+' ? ' ' : ch;
        }
    }
    out[o] = '\0';
    return 0;
}

/* One batch operation's path: "/<plural>", "/<type>/<uuid>", a fixed route,
 * with an optional query. Fills 'call' (pointing into 'scratch', which
 * holds the decoded pieces). -1 when not a route. */
struct batch_scratch {
    char path[1024];
    char uuid[GRAPH_UUID_SIZE + 64];
    char qbuf[2048];
    struct http_param q[HTTP_QUERY_MAX];
};

static int batch_route(const struct ctx *c, const char *method, const char *target,
                       struct api_call *call, struct batch_scratch *s)
{
    const char *qs = strchr(target, '?');
    size_t plen = qs ? (size_t)(qs - target) : strlen(target);
    if (plen == 0 || plen >= sizeof s->path || target[0] != '/' ||
        pct_decode(target, plen, s->path, false)) {
        return -1;
    }
    call->query = s->q;
    call->query_len = 0;
    if (qs) {
        size_t ql = strlen(qs + 1);
        if (ql >= sizeof s->qbuf) {
            return -1;
        }
        char *w = s->qbuf;
        const char *p = qs + 1;
        while (*p && call->query_len < HTTP_QUERY_MAX) {
            size_t n = strcspn(p, "&");
            const char *eq = memchr(p, '=', n);
            size_t kn = eq ? (size_t)(eq - p) : n;
            char *k = w;
            if (pct_decode(p, kn, k, true)) {
                return -1;
            }
            w += strlen(k) + 1;
            char *v = w;
            if (pct_decode(eq ? eq + 1 : p + n, eq ? n - kn - 1 : 0, v, true)) {
                return -1;
            }
            w += strlen(v) + 1;
            s->q[call->query_len].name = k;
            s->q[call->query_len].value = v;
            call->query_len++;
            p += n + (p[n] == '&');
        }
    }
    const char *seg = s->path + 1;
    const char *slash = strchr(seg, '/');
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0,
         put = strcmp(method, "PUT") == 0, del = strcmp(method, "DELETE") == 0;
    if (!slash) {
        static const struct {
            const char *path;
            bool post;
            enum api_route route;
        } fixed[] = {{"fqname-to-id", true, API_R_FQ2ID},
                     {"id-to-fqname", true, API_R_ID2FQ},
                     {"ref-update", true, API_R_REFUPDATE},
                     {"list-bulk-collection", true, API_R_BULK},
                     {"batch", true, API_R_BATCH},
                     {"tokens", true, API_R_TOKEN_CREATE},
                     {"tokens", false, API_R_TOKEN_LIST},
                     {"openapi.json", false, API_R_OPENAPI},
                     {"", false, API_R_ROOT}};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
            if (strcmp(seg, fixed[i].path) == 0 && (fixed[i].post ? post : get)) {
                call->route = fixed[i].route;
                return 0;
            }
        }
        const struct schema_type *t = schema_type_find_plural(c->sh->schema, seg);
        if (t && (get || post)) {
            call->type = t;
            call->route = get ? API_R_LIST : API_R_CREATE;
            return 0;
        }
        return -1;
    }
    if (slash[1] == '\0' || strchr(slash + 1, '/') || (size_t)(slash - seg) >= 64 ||
        strlen(slash + 1) >= sizeof s->uuid) {
        return -1;
    }
    char tname[64];
    snprintf(tname, sizeof tname, "%.*s", (int)(slash - seg), seg);
    snprintf(s->uuid, sizeof s->uuid, "%s", slash + 1);
    call->uuid = s->uuid;
    if (strcmp(tname, "tokens") == 0 && del) {
        call->route = API_R_TOKEN_DELETE;
        return 0;
    }
    const struct schema_type *t = schema_type_find(c->sh->schema, tname);
    if (!t || !(get || put || del)) {
        return -1;
    }
    call->type = t;
    call->route = get ? API_R_READ : put ? API_R_UPDATE : API_R_DELETE;
    return 0;
}

static void op_batch(const struct ctx *c, const struct api_call *call, struct res *r)
{
    json_t *body = NULL;
    if (c->depth > 0) {
        res_error(r, 400, "batches do not nest", NULL);
        return;
    }
    if (body_json(call, &body, r)) {
        return;
    }
    const json_t *ops = json_object_get(body, "operations");
    bool stop = json_is_true(json_object_get(body, "stop_on_error"));
    if (!json_is_array(ops) || json_array_size(ops) > API_BATCH_MAX) {
        res_error(r, 400, "operations must be a list of at most 1000 operations", "operations");
        json_decref(body);
        return;
    }
    struct batch_scratch *s = malloc(sizeof *s);
    json_t *results = json_array();
    struct ctx sub = *c;
    sub.depth = 1;
    bool stopped = false;
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        struct res sr = {0};
        const char *method = json_string_value(json_object_get(op, "method"));
        const char *path = json_string_value(json_object_get(op, "path"));
        const json_t *ob = json_object_get(op, "body");
        struct api_call sc = {.host = c->host,
                              .if_match = json_string_value(json_object_get(op, "if_match")),
                              .json = ob};
        char field[64];
        snprintf(field, sizeof field, "operations[%zu]", i);
        if (stopped) {
            res_error(&sr, 0, "skipped after an earlier failure", NULL);
        } else if (!s || !results) {
            res_error(&sr, 500, "out of memory", NULL);
        } else if (!json_is_object(op) || !method || !path) {
            res_error(&sr, 400, "an operation is {method, path[, body][, if_match]}", field);
        } else if (batch_route(c, method, path, &sc, s) != 0) {
            res_error(&sr, 404, "no such route in a batch", field);
        } else if (ob && !json_is_object(ob)) {
            res_error(&sr, 400, "body must be a JSON object", field);
        } else {
            dispatch(&sub, &sc, &sr);
        }
        if (sr.raw && !sr.doc) {
            sr.doc = json_loadb(sr.raw, sr.raw_size, 0, NULL);
        }
        json_t *item = json_pack("{s:i,s:o}", "status", sr.status, "body",
                                 sr.doc ? sr.doc : json_null());
        sr.doc = NULL;
        if (item && sr.etag) {
            json_object_set_new(item, "etag", json_integer((json_int_t)sr.etag));
        }
        json_array_append_new(results, item);
        if (stop && (sr.status < 200 || sr.status >= 300)) {
            stopped = true;
        }
    }
    free(s);
    json_decref(body);
    res_ok(r, 200, results ? json_pack("{s:b,s:o}", "atomic", 0, "results", results) : NULL);
}

/* ---- dispatch ---- */

/* GET /bgp/...: asks the local control role (api_bgp.c). BGP state is the
 * cluster's, not a project's: a project-scoped token is refused. */
static void op_bgp(const struct ctx *c, const struct api_call *call, struct res *r)
{
    char line[API_BGP_TABLE_MAX + 32], msg[256];
    if (c->auth->role < API_ROLE_READER ||
        (c->auth->project_fq && c->auth->role != API_ROLE_ADMIN)) {
        res_error(r, 403, "BGP state needs a token without project scope", NULL);
        return;
    }
    int st = api_bgp_command(call, line, sizeof line, msg, sizeof msg);
    if (st) {
        res_error(r, st, msg, st == 400 ? "table" : NULL);
        return;
    }
    if (!c->sh->control_sock) {
        res_error(r, 503, "the control role is not running on this node", NULL);
        return;
    }
    char *answer = NULL;
    int rc = ctl_sock_request(c->sh->control_sock, line, API_BGP_TIMEOUT_MS, API_BGP_ANSWER_MAX, &answer);
    json_t *doc;
    st = api_bgp_answer(call, rc, answer, &doc, msg, sizeof msg);
    free(answer);
    if (st != 200) {
        res_error(r, st, msg, NULL);
        return;
    }
    res_ok(r, 200, doc);
}

/* Moves a join/enrol answer into 'r'. */
static void res_join(struct res *r, struct api_join_answer *a)
{
    if (a->doc && a->status < 300) {
        res_ok(r, a->status, a->doc);
        a->doc = NULL;
        snprintf(r->location, sizeof r->location, "%s", a->location);
    } else {
        res_error(r, a->status ? a->status : 500, a->msg, a->field);
    }
    api_join_answer_destroy(a);
}

/* The /join-tokens endpoints: admin only (a join token makes a node). */
static void op_join(const struct ctx *c, const struct api_call *call, struct res *r)
{
    struct api_join_answer a;
    if (c->auth->role != API_ROLE_ADMIN) {
        res_error(r, 403, "join tokens need an admin token", NULL);
        return;
    }
    if (call->route == API_R_JOIN_CREATE) {
        api_join_token_create(c->sh, c->g, c->auth, call, time(NULL), &a);
    } else if (call->route == API_R_JOIN_LIST) {
        api_join_token_list(c->sh, c->g, time(NULL), &a);
    } else {
        api_join_token_revoke(c->sh, c->g, c->auth, call, &a);
    }
    res_join(r, &a);
}

/* GET /cluster-version: the compiler rules version the cluster compiles
 * with (0 until the first compile, or while this node's image is loading)
 * and the range this node implements. POST /cluster-version
 * {"version": N} (admin): raises it (graph_cluster_version_raise(): refused
 * with 409 while a node that reported lacks N or before any node reported;
 * one transaction records it, audits it and recompiles every source under
 * the new rules). */
static void op_cluster_version(const struct ctx *c, const struct api_call *call, struct res *r)
{
    if (c->depth) {
        res_error(r, 400, "the cluster version is not an operation of a batch", NULL);
        return;
    }
    if (call->route == API_R_CLUSTER_VERSION) {
        int cv = c->g->derive ? derive_cluster_version(c->g->derive) : 0;
        res_ok(r, 200, json_pack("{s:i,s:{s:i,s:i}}", "version", cv, "node", "min", DERIVE_VERSION_MIN, "max",
                                 DERIVE_VERSION));
        return;
    }
    if (c->auth->role != API_ROLE_ADMIN) {
        res_error(r, 403, "raising the cluster version needs an admin token", NULL);
        return;
    }
    json_t *body = NULL;
    if (body_json(call, &body, r)) {
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        if (strcmp(key, "version") != 0) {
            res_error(r, 400, "unknown field", key);
            json_decref(body);
            return;
        }
    }
    json_t *v = json_object_get(body, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000) {
        res_error(r, 400, "version must be a positive integer", "version");
        json_decref(body);
        return;
    }
    int version = (int)json_integer_value(v);
    json_decref(body);
    struct graph_error err;
    uint64_t revision = 0;
    int rc = graph_cluster_version_raise(c->g, version, c->auth->uuid, &revision, &err);
    if (rc) {
        res_graph(r, rc, &err);
        return;
    }
    res_ok(r, 200, json_pack("{s:i,s:I}", "version", version, "revision", (json_int_t)revision));
}

static void dispatch(const struct ctx *c, const struct api_call *call, struct res *r)
{
    switch (call->route) {
    case API_R_ROOT:
        op_root(c, r);
        return;
    case API_R_OPENAPI:
        r->status = 200;
        r->raw = c->sh->openapi;
        r->raw_size = c->sh->openapi_size;
        return;
    case API_R_LIST:
        op_list(c, call, r);
        return;
    case API_R_CREATE:
        op_create(c, call, r);
        return;
    case API_R_READ:
        op_read(c, call, r);
        return;
    case API_R_UPDATE:
        op_update(c, call, r);
        return;
    case API_R_DELETE:
        op_delete(c, call, r);
        return;
    case API_R_FQ2ID:
        op_fq2id(c, call, r);
        return;
    case API_R_ID2FQ:
        op_id2fq(c, call, r);
        return;
    case API_R_REFUPDATE:
        op_refupdate(c, call, r);
        return;
    case API_R_BULK:
        op_bulk(c, call, r);
        return;
    case API_R_BATCH:
        op_batch(c, call, r);
        return;
    case API_R_TOKEN_CREATE:
        op_token_create(c, call, r);
        return;
    case API_R_TOKEN_LIST:
        op_token_list(c, call, r);
        return;
    case API_R_TOKEN_DELETE:
        op_token_delete(c, call, r);
        return;
    case API_R_BGP_NEIGHBORS:
    case API_R_BGP_ROUTES:
    case API_R_BGP_SUMMARY:
        op_bgp(c, call, r);
        return;
    case API_R_CLUSTER_VERSION:
    case API_R_CLUSTER_VERSION_RAISE:
        op_cluster_version(c, call, r);
        return;
    case API_R_JOIN_CREATE:
    case API_R_JOIN_LIST:
    case API_R_JOIN_DELETE:
        if (c->depth) {
            res_error(r, 400, "join tokens cannot be managed inside a batch", NULL);
            return;
        }
        op_join(c, call, r);
        return;
    case API_R_ENROLL:
    case API_R_ENROLL_CA:
        res_error(r, 400, "enrolment is not an operation of a batch", NULL);
        return;
    }
    res_error(r, 404, "no such route", NULL);
}

/* A Host header usable in hrefs: host name or address characters only. */
static bool host_ok(const char *h)
{
    size_t n = h ? strlen(h) : 0;
    if (n == 0 || n >= API_HOST_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)h[i]) && !strchr(".-:[]_", h[i])) {
            return false;
        }
    }
    return true;
}

void api_handle(const struct api_shared *sh, struct graph *g, const char *bearer,
                const struct api_call *call, struct api_result *res)
{
    struct api_auth auth;
    struct res r = {0};
    char msg[256];
    memset(res, 0, sizeof *res);
    if (call->route == API_R_ENROLL || call->route == API_R_ENROLL_CA) {
        struct api_join_answer a;
        if (call->route == API_R_ENROLL) {
            api_enroll(sh, g, bearer, call, time(NULL), &a);
        } else {
            api_enroll_ca(sh, &a);
        }
        res_join(&r, &a);
        goto answer;
    }
    int st = api_authenticate(sh, g, bearer, time(NULL), &auth, msg, sizeof msg);
    if (st) {
        api_auth_destroy(&auth);
        api_result_error(res, st, msg, NULL);
        return;
    }
    struct ctx c = {.sh = sh, .g = g, .auth = &auth, .host = host_ok(call->host) ? call->host : "localhost"};
    dispatch(&c, call, &r);
    api_auth_destroy(&auth);
answer:
    res->status = r.status;
    res->etag = r.etag;
    snprintf(res->location, sizeof res->location, "%s", r.location);
    if (r.raw) {
        res->text = malloc(r.raw_size + 1);
        if (res->text) {
            memcpy(res->text, r.raw, r.raw_size);
            res->text[r.raw_size] = '\0';
            res->size = r.raw_size;
        }
    } else if (r.doc) {
        res->text = json_dumps(r.doc, JSON_COMPACT);
        res->size = res->text ? strlen(res->text) : 0;
        json_decref(r.doc);
    }
    if (!res->text) {
        api_result_error(res, 500, "out of memory", NULL);
    }
}

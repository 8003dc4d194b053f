/* The config role's join-token and enrolment endpoints (api_int.h), on the
 * worker's graph kv:
 *   POST /join-tokens {"kind", "name", "ttl", "address"}   admin: mint a token
 *   GET /join-tokens                                        admin: list (state)
 *   DELETE /join-tokens/{uuid}                              admin: revoke
 *   GET /enroll/ca                                          anyone: the CA (PEM)
 *   POST /enroll {"public_key", "address"}                  Bearer <join token>
 * Records live at JOIN_KEY_PREFIX + hash (join.h); every change writes an
 * audit record (/c/a/<uuid>: actor, op, type "join-token", uuid) in the same
 * transaction. Enrolment reads the record, checks it, signs the leaf in
 * memory and only then marks the token used with a transaction that
 * compares the record's revision: a lost race, a revocation or a second use
 * leaves nothing issued and nothing changed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/api_int.h"
#include "appliance/join.h"
#include "store/cmd.h"
#include "store/fsm.h"

#define JOIN_LIST_MAX 10000

static void answer_error(struct api_join_answer *a, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void answer_error(struct api_join_answer *a, int status, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
    a->status = status;
    snprintf(a->field, sizeof a->field, "%s", field ? field : "");
    json_decref(a->doc);
    a->doc = NULL;
}

/* The HTTP status for a store or transport error. */
static int kv_status(int rc)
{
    return rc == STORE_EMAPFULL || rc == STORE_ENOSPC ? 507 : 503;
}

/* Runs the store command 'cmd' on 'g''s kv; on success '*reply' (destroy
 * it) and 'raw' (which it points into) hold the answer. */
static int kv_do(struct graph *g, const struct store_cmd *cmd, bool serializable, struct buf *raw,
                 struct store_reply *reply)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = store_cmd_encode(cmd, &b);
    if (rc == 0) {
        rc = g->kv.cmd(g->kv.arg, &b, serializable, raw);
    }
    buf_destroy(&b);
    if (rc == 0) {
        rc = store_reply_decode(reply, raw->data, raw->size);
        if (rc == 0 && reply->status) {
            rc = reply->status;
            store_reply_destroy(reply);
        }
    }
    return rc;
}

/* Reads the record at 'key' (linearizable). '*found' false when absent;
 * else 'r' and '*mod' (its mod revision). JOIN_EINVAL for a record that
 * does not parse. */
static int record_get(struct graph *g, const char *key, bool *found, struct join_record *r, uint64_t *mod)
{
    struct store_cmd cmd = {.kind = STORE_CMD_RANGE,
                            .op = {.kind = STORE_OP_RANGE, .sel = store_sel_key(key, (uint32_t)strlen(key))}};
    struct buf raw;
    struct store_reply reply;
    buf_init(&raw, 0);
    int rc = kv_do(g, &cmd, false, &raw, &reply);
    *found = false;
    if (rc == 0) {
        if (reply.results_len == 1 && reply.results[0].kvs_len == 1) {
            const struct store_kv *kv = &reply.results[0].kvs[0];
            json_t *doc = json_loadb((const char *)kv->value, kv->value_size, 0, NULL);
            rc = join_record_from_json(doc, r);
            json_decref(doc);
            *mod = kv->mod_revision;
            *found = true;
        }
        store_reply_destroy(&reply);
    }
    buf_destroy(&raw);
    return rc;
}

/* The audit record of 'op' on join token 'r' by 'actor' into 'value'. */
static char *audit_text(const struct join_record *r, const char *actor, const char *op)
{
    json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:n,s:s,s:s}", "actor", actor, "op", op, "type", "join-token",
                          "uuid", r->uuid, "fq_name", "name", r->name, "kind", join_kind_name(r->kind));
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}

/* One transaction: if 'key' has mod revision 'mod' (0: does not exist),
 * put 'value' there (NULL: delete it), and put the audit record. '*won'
 * tells whether the compare held. */
static int record_write(struct graph *g, const char *key, uint64_t mod, const char *value, const char *audit,
                        bool *won)
{
    char akey[64], auuid[GRAPH_UUID_SIZE];
    int rc = graph_uuid_generate(auuid);
    if (rc) {
        return LIB_EIO;
    }
    snprintf(akey, sizeof akey, "/c/a/%s", auuid);
    struct store_compare cmp = {.target = mod ? STORE_CMP_MOD : STORE_CMP_CREATE, .op = STORE_CMP_EQ,
                                .key = (const uint8_t *)key, .key_size = (uint32_t)strlen(key), .number = mod};
    struct store_op ops[2] = {
        {.kind = value ? STORE_OP_PUT : STORE_OP_DELETE,
         .sel = store_sel_key(key, (uint32_t)strlen(key)),
         .value = (const uint8_t *)value,
         .value_size = value ? (uint32_t)strlen(value) : 0},
        {.kind = STORE_OP_PUT,
         .sel = store_sel_key(akey, (uint32_t)strlen(akey)),
         .value = (const uint8_t *)audit,
         .value_size = (uint32_t)strlen(audit)},
    };
    struct store_cmd cmd = {.kind = STORE_CMD_TXN, .compares = &cmp, .compares_len = 1, .success = ops,
                            .success_len = 2};
    struct buf raw;
    struct store_reply reply;
    buf_init(&raw, 0);
    rc = kv_do(g, &cmd, false, &raw, &reply);
    if (rc == 0) {
        *won = reply.succeeded != 0;
        store_reply_destroy(&reply);
    }
    buf_destroy(&raw);
    return rc;
}

static json_t *record_view(const struct join_record *r, time_t now)
{
    json_t *v = join_record_to_json(r);
    if (v) {
        json_object_set_new(v, "state", json_string(join_record_state(r, now)));
    }
    return v;
}

/* Rejects keys of 'body' outside 'known' (NULL-terminated). */
static bool known_fields(const json_t *body, const char *const *known, struct api_join_answer *a)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v) {
        bool ok = false;
        for (size_t i = 0; known[i]; i++) {
            ok = ok || strcmp(key, known[i]) == 0;
        }
        if (!ok) {
            answer_error(a, 400, key, "unknown field");
            return false;
        }
    }
    return true;
}

static json_t *body_parse(const struct api_call *call, struct api_join_answer *a)
{
    json_error_t jerr;
    if (call->json) {
        if (!json_is_object(call->json)) {
            answer_error(a, 400, NULL, "the body must be a JSON object");
            return NULL;
        }
        return json_deep_copy(call->json);
    }
    if (!call->body || call->body_size == 0) {
        answer_error(a, 400, NULL, "a JSON object body is required");
        return NULL;
    }
    json_t *body = json_loadb((const char *)call->body, call->body_size, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        answer_error(a, 400, NULL, "the body must be a JSON object");
        return NULL;
    }
    return body;
}

void api_join_answer_destroy(struct api_join_answer *a)
{
    json_decref(a->doc);
    a->doc = NULL;
}

void api_join_token_create(const struct api_shared *sh, struct graph *g, const struct api_auth *auth,
                           const struct api_call *call, time_t now, struct api_join_answer *a)
{
    static const char *const known[] = {"kind", "name", "ttl", "address", NULL};
    (void)sh;
    memset(a, 0, sizeof *a);
    json_t *body = body_parse(call, a);
    if (!body || !known_fields(body, known, a)) {
        json_decref(body);
        return;
    }
    struct join_record r = {0};
    const json_t *ttl = json_object_get(body, "ttl"), *addr = json_object_get(body, "address");
    const char *name = json_string_value(json_object_get(body, "name"));
    char token[JOIN_TOKEN_SIZE], hex[JOIN_HASH_HEX], key[128];
    if (join_kind_parse(json_string_value(json_object_get(body, "kind")), &r.kind) != 0) {
        answer_error(a, 400, "kind", "kind must be \"controller\" or \"vrouter\"");
    } else if (!join_name_valid(name)) {
        answer_error(a, 400, "name", "name must be 1..63 letters, digits, '-', '_' or '.'");
    } else if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) <= 0 ||
                       json_integer_value(ttl) > JOIN_TTL_MAX)) {
        answer_error(a, 400, "ttl", "ttl must be 1..%d seconds", JOIN_TTL_MAX);
    } else if (addr && (r.kind != JOIN_KIND_CONTROLLER || !json_is_string(addr) ||
                        json_string_length(addr) >= sizeof r.address)) {
        answer_error(a, 400, "address", "address binds a controller's IP address (a string)");
    }
    if (a->status) {
        json_decref(body);
        return;
    }
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.address, sizeof r.address, "%s", addr ? json_string_value(addr) : "");
    snprintf(r.created_by, sizeof r.created_by, "%s", auth->uuid);
    time_t lifetime = ttl ? (time_t)json_integer_value(ttl) : JOIN_TTL_DEFAULT;
    json_decref(body);
    struct join_leaf leaf;
    if (r.address[0] && join_leaf_params(&r, NULL, &leaf) != 0) {
        answer_error(a, 400, "address", "address must be an IPv4 or IPv6 literal");
        return;
    }
    r.created = now;
    r.expires = now + lifetime;
    if (graph_uuid_generate(r.uuid) != 0 || join_token_generate(token) != 0 || join_token_hash(token, hex) != 0) {
        answer_error(a, 500, NULL, "random number generator failed");
        return;
    }
    snprintf(key, sizeof key, "%s%s", JOIN_KEY_PREFIX, hex);
    json_t *doc = join_record_to_json(&r);
    char *value = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    char *audit = audit_text(&r, auth->uuid, "create");
    json_decref(doc);
    bool won = false;
    int rc = value && audit ? record_write(g, key, 0, value, audit, &won) : LIB_ENOMEM;
    free(value);
    free(audit);
    if (rc || !won) {
        explicit_bzero(token, sizeof token);
        answer_error(a, rc == LIB_ENOMEM ? 500 : rc ? kv_status(rc) : 409, NULL, "cannot store the join token: %s",
                     rc ? strata_strerror(rc) : "a token with this hash exists");
        return;
    }
    a->status = 201;
    a->doc = json_pack("{s:s,s:o}", "token", token, "join-token", record_view(&r, now));
    explicit_bzero(token, sizeof token);
    snprintf(a->location, sizeof a->location, "/join-tokens/%s", r.uuid);
}

/* Every record under JOIN_KEY_PREFIX with its key and mod revision, as
 * a JSON array of {"key", "mod", "record"}. */
static int records_list(struct graph *g, json_t **out)
{
    const char *prefix = JOIN_KEY_PREFIX;
    struct store_cmd cmd = {.kind = STORE_CMD_RANGE,
                            .op = {.kind = STORE_OP_RANGE,
                                   .sel = store_sel_prefix(prefix, (uint32_t)strlen(prefix)),
                                   .limit = JOIN_LIST_MAX}};
    struct buf raw;
    struct store_reply reply;
    buf_init(&raw, 0);
    int rc = kv_do(g, &cmd, false, &raw, &reply);
    *out = NULL;
    if (rc == 0) {
        json_t *list = json_array();
        for (uint32_t i = 0; reply.results_len == 1 && i < reply.results[0].kvs_len; i++) {
            const struct store_kv *kv = &reply.results[0].kvs[i];
            json_t *doc = json_loadb((const char *)kv->value, kv->value_size, 0, NULL);
            json_array_append_new(list, json_pack("{s:s%,s:I,s:o}", "key", (const char *)kv->key,
                                                  (size_t)kv->key_size, "mod", (json_int_t)kv->mod_revision,
                                                  "record", doc ? doc : json_null()));
        }
        store_reply_destroy(&reply);
        *out = list;
    }
    buf_destroy(&raw);
    return rc;
}

void api_join_token_list(const struct api_shared *sh, struct graph *g, time_t now, struct api_join_answer *a)
{
    (void)sh;
    memset(a, 0, sizeof *a);
    json_t *all;
    int rc = records_list(g, &all);
    if (rc) {
        answer_error(a, kv_status(rc), NULL, "store: %s", strata_strerror(rc));
        return;
    }
    json_t *list = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(all, i, it) {
        struct join_record r;
        if (join_record_from_json(json_object_get(it, "record"), &r) == 0) {
            json_array_append_new(list, record_view(&r, now));
        }
    }
    json_decref(all);
    a->status = 200;
    a->doc = json_pack("{s:o}", "join-tokens", list);
}

void api_join_token_revoke(const struct api_shared *sh, struct graph *g, const struct api_auth *auth,
                           const struct api_call *call, struct api_join_answer *a)
{
    (void)sh;
    memset(a, 0, sizeof *a);
    for (int attempt = 0; attempt < 4; attempt++) {
        json_t *all;
        int rc = records_list(g, &all);
        if (rc) {
            answer_error(a, kv_status(rc), NULL, "store: %s", strata_strerror(rc));
            return;
        }
        size_t i;
        json_t *it;
        struct join_record r;
        const char *key = NULL;
        uint64_t mod = 0;
        json_array_foreach(all, i, it) {
            if (join_record_from_json(json_object_get(it, "record"), &r) == 0 && call->uuid &&
                strcmp(r.uuid, call->uuid) == 0) {
                key = json_string_value(json_object_get(it, "key"));
                mod = (uint64_t)json_integer_value(json_object_get(it, "mod"));
                break;
            }
        }
        if (!key) {
            json_decref(all);
            answer_error(a, 404, NULL, "no join token %s", call->uuid ? call->uuid : "");
            return;
        }
        char *audit = audit_text(&r, auth->uuid, "delete");
        bool won = false;
        rc = audit ? record_write(g, key, mod, NULL, audit, &won) : LIB_ENOMEM;
        free(audit);
        json_decref(all);
        if (rc) {
            answer_error(a, rc == LIB_ENOMEM ? 500 : kv_status(rc), NULL, "store: %s", strata_strerror(rc));
            return;
        }
        if (won) {
            a->status = 200;
            a->doc = json_object();
            return;
        }
    }
    answer_error(a, 409, NULL, "the join token kept changing; retry");
}

void api_enroll_ca(const struct api_shared *sh, struct api_join_answer *a)
{
    char *pem = NULL;
    size_t size = 0;
    char fp[PKI_FINGERPRINT_HEX];
    memset(a, 0, sizeof *a);
    if (!sh->ca || pki_cert_to_pem(sh->ca, &pem, &size) != 0 || pki_cert_fingerprint(sh->ca, fp) != 0) {
        free(pem);
        answer_error(a, 503, NULL, "this node has no CA certificate");
        return;
    }
    a->status = 200;
    a->doc = json_pack("{s:s%,s:s}", "ca", pem, size, "ca_fingerprint", fp);
    free(pem);
}

void api_enroll(const struct api_shared *sh, struct graph *g, const char *bearer, const struct api_call *call,
                time_t now, struct api_join_answer *a)
{
    static const char *const known[] = {"public_key", "address", "kind", NULL};
    char hex[JOIN_HASH_HEX], key[128];
    memset(a, 0, sizeof *a);
    if (!bearer || !join_token_wellformed(bearer) || join_token_hash(bearer, hex) != 0) {
        answer_error(a, 401, NULL, "a join token is required (Authorization: Bearer sj_...)");
        return;
    }
    snprintf(key, sizeof key, "%s%s", JOIN_KEY_PREFIX, hex);
    struct join_record r;
    bool found;
    uint64_t mod = 0;
    int rc = record_get(g, key, &found, &r, &mod);
    if (rc == JOIN_EINVAL) {
        answer_error(a, 500, NULL, "the stored join token does not parse");
        return;
    }
    if (rc) {
        answer_error(a, kv_status(rc), NULL, "store: %s", strata_strerror(rc));
        return;
    }
    if (!found) {
        answer_error(a, 401, NULL, "invalid or revoked join token");
        return;
    }
    rc = join_record_check(&r, now);
    if (rc) {
        answer_error(a, rc == JOIN_EUSED ? 409 : 401, NULL, "%s", join_strerror(rc));
        return;
    }
    json_t *body = body_parse(call, a);
    if (!body || !known_fields(body, known, a)) {
        json_decref(body);
        return;
    }
    const char *pub = json_string_value(json_object_get(body, "public_key"));
    const json_t *addr = json_object_get(body, "address");
    struct join_leaf leaf;
    struct pki_cert *cert = NULL;
    json_t *members = NULL;
    char *cert_pem = NULL, *ca_pem = NULL, *value = NULL, *audit = NULL;
    size_t cert_size = 0, ca_size = 0;
    if (!pub) {
        answer_error(a, 400, "public_key", "public_key (a PEM \"PUBLIC KEY\") is required");
        goto out;
    }
    const json_t *want = json_object_get(body, "kind");
    enum join_kind wk;
    if (want && join_kind_parse(json_string_value(want), &wk) != 0) {
        answer_error(a, 400, "kind", "kind must be \"controller\" or \"vrouter\"");
        goto out;
    }
    if (want && wk != r.kind) {
        answer_error(a, 403, "kind", "this join token is for a %s, not a %s", join_kind_name(r.kind),
                     join_kind_name(wk));
        goto out;
    }
    if (addr && !json_is_string(addr)) {
        answer_error(a, 400, "address", "address must be a string");
        goto out;
    }
    if (join_leaf_params(&r, json_string_value(addr), &leaf) != 0) {
        answer_error(a, 400, "address", "a controller must give its IPv4 or IPv6 address");
        goto out;
    }
    if (!sh->ca || !sh->ca_key) {
        answer_error(a, 503, NULL, "this node cannot issue certificates (no CA key given to its config role)");
        goto out;
    }
    rc = pki_leaf_issue_for_public(sh->ca, sh->ca_key, &leaf.params, pub, strlen(pub), &cert);
    if (rc) {
        answer_error(a, rc == PKI_EFORMAT || rc == PKI_EINVAL ? 400 : 500, "public_key", "cannot issue: %s",
                     strata_strerror(rc));
        goto out;
    }
    if (r.kind == JOIN_KIND_CONTROLLER) {
        rc = sh->members ? sh->members(g, &members) : LIB_EINVAL;
        if (rc) {
            answer_error(a, 503, NULL, "cannot read the store's members: %s", strata_strerror(rc));
            goto out;
        }
    }
    if (pki_cert_to_pem(cert, &cert_pem, &cert_size) != 0 || pki_cert_to_pem(sh->ca, &ca_pem, &ca_size) != 0) {
        answer_error(a, 500, NULL, "out of memory");
        goto out;
    }
    /* Mark it used, if nobody did since we read it. */
    r.used_at = now;
    snprintf(r.used_from, sizeof r.used_from, "%s", leaf.address[0] ? leaf.address : r.name);
    json_t *doc = join_record_to_json(&r);
    value = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    char actor[80];
    snprintf(actor, sizeof actor, "join-token:%s", r.uuid);
    audit = audit_text(&r, actor, "enroll");
    bool won = false;
    rc = value && audit ? record_write(g, key, mod, value, audit, &won) : LIB_ENOMEM;
    if (rc) {
        answer_error(a, rc == LIB_ENOMEM ? 500 : kv_status(rc), NULL, "store: %s", strata_strerror(rc));
        goto out;
    }
    if (!won) {
        /* Used, or revoked, meanwhile: tell which. */
        rc = record_get(g, key, &found, &r, &mod);
        if (rc == 0 && found) {
            answer_error(a, 409, NULL, "%s", join_strerror(JOIN_EUSED));
        } else {
            answer_error(a, rc && rc != JOIN_EINVAL ? kv_status(rc) : 401, NULL, "invalid or revoked join token");
        }
        goto out;
    }
    char fp[PKI_FINGERPRINT_HEX];
    if (pki_cert_fingerprint(sh->ca, fp) != 0) {
        fp[0] = '\0';
    }
    a->status = 200;
    a->doc = json_pack("{s:s,s:s,s:s%,s:s%,s:s}", "kind", join_kind_name(r.kind), "name", r.name, "certificate",
                       cert_pem, cert_size, "ca", ca_pem, ca_size, "ca_fingerprint", fp);
    if (a->doc && leaf.address[0]) {
        json_object_set_new(a->doc, "address", json_string(leaf.address));
    }
    if (a->doc && members) {
        json_object_set(a->doc, "members", members);
    }
out:
    free(value);
    free(audit);
    free(cert_pem);
    free(ca_pem);
    json_decref(members);
    pki_cert_free(cert);
    json_decref(body);
}

void api_join_openapi(json_t *paths)
{
    if (!json_is_object(paths)) {
        return;
    }
    json_t *create_body = json_pack(
        "{s:b,s:{s:{s:{s:s,s:[s,s],s:b,s:{s:{s:s,s:[s,s]},s:{s:s,s:i},s:{s:s,s:i,s:i},s:{s:s}}}}}}", "required", 1,
        "content", "application/json", "schema", "type", "object", "required", "kind", "name",
        "additionalProperties", 0, "properties", "kind", "type", "string", "enum", "controller", "vrouter", "name",
        "type", "string", "maxLength", JOIN_NAME_MAX, "ttl", "type", "integer", "minimum", 1, "maximum",
        JOIN_TTL_MAX, "address", "type", "string");
    json_object_set_new(
        paths, "/join-tokens",
        json_pack("{s:{s:s,s:[s],s:o,s:{s:{s:s},s:{s:s},s:{s:s}}},s:{s:s,s:[s],s:{s:{s:s},s:{s:s}}}}", "post",
                  "summary", "Mint a single-use join token (admin); the secret is answered once", "tags",
                  "enrolment", "requestBody", create_body, "responses", "201", "description", "created", "400",
                  "description", "bad field", "403", "description", "not an admin token", "get", "summary",
                  "Join tokens and their state (unused, used, expired)", "tags", "enrolment", "responses", "200",
                  "description", "OK", "403", "description", "not an admin token"));
    json_object_set_new(
        paths, "/join-tokens/{uuid}",
        json_pack("{s:{s:s,s:[s],s:[{s:s,s:s,s:b,s:{s:s}}],s:{s:{s:s},s:{s:s}}}}", "delete", "summary",
                  "Revoke a join token (admin)", "tags", "enrolment", "parameters", "name", "uuid", "in", "path",
                  "required", 1, "schema", "type", "string", "responses", "200", "description", "revoked", "404",
                  "description", "no such join token"));
    json_object_set_new(paths, "/enroll/ca",
                        json_pack("{s:{s:s,s:[s],s:[],s:{s:{s:s}}}}", "get", "summary",
                                  "The cluster CA certificate and its SHA-256 fingerprint (no token)", "tags",
                                  "enrolment", "security", "responses", "200", "description", "OK"));
    json_object_set_new(
        paths, "/enroll",
        json_pack("{s:{s:s,s:[s],s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s}}}}", "post", "summary",
                  "A certificate for the caller's public key, named by the join token (Bearer sj_...)", "tags",
                  "enrolment", "responses", "200", "description", "the certificate, the CA and the members",
                  "400", "description", "bad body or public key", "401", "description",
                  "no, unknown, revoked or expired join token", "403", "description", "a token of another kind",
                  "409", "description", "the join token was already used", "503", "description",
                  "this node has no CA key or no store"));
}

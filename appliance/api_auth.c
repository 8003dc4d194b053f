/* Bearer tokens and role-based access for the config role's REST API.
 *
 * A token is "st_" + base64url(256 random bits from wolfCrypt's RNG). The
 * store never sees it: an api-token object holds its SHA-256 (hex) as
 * token_hash, and also as its name, so its fq_name is [hash] and the graph's
 * own fq_name index /c/f/api-token/<hash> — written in the same transaction
 * as the object by graph_obj_create — is the lookup-by-hash index. No second
 * key to keep consistent, and revocation (graph_obj_delete, or
 * token_revoked=true) removes or changes both atomically.
 *
 * Every request reads its token object again (a serializable, local read,
 * microseconds on the node's own replica), so a revocation is honoured on a
 * node as soon as its replica has applied it (normally within milliseconds of the commit; a
 * replica cut off from the leader keeps answering from its last state until
 * it rejoins, the tradeoff of serving reads locally). A token not found
 * locally is looked up again with a linearizable read before the request is
 * refused, so a token created through another node works at once. Only
 * the hash -> uuid step (the index key) is remembered, per worker thread:
 * that mapping never changes while the object exists (token_hash is fixed
 * at create and 256-bit random tokens do not repeat), and a remembered
 * uuid whose object is gone or holds another hash is forgotten and the
 * token looked up from the index again, so the answer is always the one
 * the uncached lookup gives; it saves one of the two reads per request.
 *
 * Roles: reader reads; member creates, changes and deletes objects inside a
 * project (types whose ancestry includes project, except project itself),
 * and only inside its project when the token is scoped to one (fq_name
 * prefix); admin does everything. Derived types (written by the compiler)
 * and api-token objects are read-only for everyone but admin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "appliance/api_int.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void api_auth_destroy(struct api_auth *a)
{
    if (a) {
        json_decref(a->project_fq);
        a->project_fq = NULL;
    }
}

const char *api_role_name(enum api_role role)
{
    switch (role) {
    case API_ROLE_ADMIN:
        return "admin";
    case API_ROLE_MEMBER:
        return "member";
    case API_ROLE_READER:
        return "reader";
    case API_ROLE_NONE:
        break;
    }
    return "none";
}

enum api_role api_role_parse(const char *name)
{
    if (!name) {
        return API_ROLE_NONE;
    }
    if (strcmp(name, "admin") == 0) {
        return API_ROLE_ADMIN;
    }
    if (strcmp(name, "member") == 0) {
        return API_ROLE_MEMBER;
    }
    if (strcmp(name, "reader") == 0) {
        return API_ROLE_READER;
    }
    return API_ROLE_NONE;
}

int api_token_generate(char token[API_TOKEN_SIZE])
{
    WC_RNG rng;
    uint8_t raw[API_TOKEN_RAW + 1]; /* one spare zero byte for the last group */
    if (wc_InitRng(&rng) != 0) {
        return LIB_EIO;
    }
    int rc = wc_RNG_GenerateBlock(&rng, raw, API_TOKEN_RAW);
    wc_FreeRng(&rng);
    if (rc != 0) {
        return LIB_EIO;
    }
    raw[API_TOKEN_RAW] = 0;
    size_t o = sizeof API_TOKEN_PREFIX - 1;
    memcpy(token, API_TOKEN_PREFIX, o);
    for (size_t i = 0; i < API_TOKEN_RAW; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
                     (i + 2 < API_TOKEN_RAW ? raw[i + 2] : 0);
        size_t chars = i + 3 <= API_TOKEN_RAW ? 4 : (API_TOKEN_RAW - i) + 1;
        for (size_t k = 0; k < chars; k++) {
            token[o++] = b64url[(v >> (18 - 6 * k)) & 0x3f];
        }
    }
    token[o] = '\0';
    explicit_bzero(raw, sizeof raw);
    return 0;
}

bool api_token_wellformed(const char *token)
{
    size_t pl = sizeof API_TOKEN_PREFIX - 1;
    if (!token || strncmp(token, API_TOKEN_PREFIX, pl) != 0 ||
        strlen(token) != pl + API_TOKEN_B64) {
        return false;
    }
    for (size_t i = pl; token[i]; i++) {
        if (!strchr(b64url, token[i])) {
            return false;
        }
    }
    return true;
}

int api_token_hash(const char *token, char hex[API_HASH_HEX])
{
    uint8_t h[WC_SHA256_DIGEST_SIZE];
    if (wc_Sha256Hash((const byte *)token, (word32)strlen(token), h) != 0) {
        return LIB_EIO;
    }
    for (size_t i = 0; i < sizeof h; i++) {
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
    return 0;
}

/* ---- time ---- */

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9') {
            return -1;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int api_time_parse(const char *text, time_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, s;
    const char *p = text;
    memset(&tm, 0, sizeof tm);
    if (!p || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' ')) {
        return -1;
    }
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &s)) {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
        return -1;
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') {
            return -1;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59) {
            return -1;
        }
        offset = sign * (oh * 3600L + om * 60L);
    } else {
        return -1;
    }
    if (*p) {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    *out = timegm(&tm) - offset;
    return 0;
}

void api_time_format(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- authentication ---- */

/* Remembered token uuids of this worker thread, direct-mapped by the first
 * hash digits. Not tied to a graph (the role's graphs move between worker
 * threads): whatever store a uuid came from, its object is read from the
 * caller's graph and must hold the hash. */
#define TOKEN_SLOTS 64
struct token_slot {
    char hex[API_HASH_HEX];
    char uuid[GRAPH_UUID_SIZE];
};
static _Thread_local struct token_slot token_slots[TOKEN_SLOTS];

static struct token_slot *token_slot(const char hex[API_HASH_HEX])
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = hex[i];
        v = v * 16 + (unsigned)(c >= 'a' ? c - 'a' + 10 : c - '0');
    }
    return &token_slots[v % TOKEN_SLOTS];
}

/* Reads token object 'uuid' (linearizable or a local, serializable read)
 * into '*obj' when it still holds hash 'hex'; GRAPH_ENOTFOUND when it is
 * gone or holds another hash. */
static int token_object(const struct api_shared *sh, struct graph *g, const char *uuid,
                        const char *hex, bool linearizable, json_t **obj, struct graph_error *err)
{
    int rc = graph_obj_read(g, sh->token->name, uuid, NULL, linearizable, obj, NULL, err);
    if (rc == 0) {
        const char *h = json_string_value(json_object_get(*obj, "token_hash"));
        if (!h || strcmp(h, hex) != 0) {
            json_decref(*obj);
            *obj = NULL;
            rc = GRAPH_ENOTFOUND;
        }
    }
    return rc;
}

int api_authenticate(const struct api_shared *sh, struct graph *g, const char *bearer, time_t now,
                     struct api_auth *auth, char *msg, size_t msg_size)
{
    struct graph_error err;
    char hex[API_HASH_HEX], uuid[GRAPH_UUID_SIZE];
    memset(auth, 0, sizeof *auth);
    if (!bearer || !*bearer) {
        snprintf(msg, msg_size, "missing bearer token (Authorization: Bearer <token>)");
        return 401;
    }
    if (!api_token_wellformed(bearer) || api_token_hash(bearer, hex) != 0) {
        snprintf(msg, msg_size, "invalid token");
        return 401;
    }
    json_t *obj = NULL;
    int rc = GRAPH_ENOTFOUND;
    struct token_slot *slot = token_slot(hex);
    if (strcmp(slot->hex, hex) == 0) {
        snprintf(uuid, sizeof uuid, "%s", slot->uuid);
        rc = token_object(sh, g, uuid, hex, false, &obj, &err);
        if (rc == GRAPH_ENOTFOUND) {
            slot->hex[0] = '\0'; /* forgotten: look it up from the index below */
        }
    }
    if (rc == GRAPH_ENOTFOUND) {
        json_t *fq = json_pack("[s]", hex);
        if (!fq) {
            snprintf(msg, msg_size, "out of memory");
            return 500;
        }
        bool linearizable = false;
        rc = graph_fqname_to_id(g, sh->token->name, fq, false, uuid, &err);
        if (rc == GRAPH_ENOTFOUND) {
            /* A token created through another node a moment ago may not
             * be applied here yet: ask the leader, and read the object the
             * same way (this replica may still lack it). */
            linearizable = true;
            rc = graph_fqname_to_id(g, sh->token->name, fq, true, uuid, &err);
        }
        json_decref(fq);
        if (rc == 0) {
            rc = token_object(sh, g, uuid, hex, linearizable, &obj, &err);
        }
        if (rc == 0) {
            snprintf(slot->hex, sizeof slot->hex, "%s", hex);
            snprintf(slot->uuid, sizeof slot->uuid, "%s", uuid);
        }
    }
    if (rc == GRAPH_ENOTFOUND) {
        snprintf(msg, msg_size, "invalid or revoked token");
        return 401;
    }
    if (rc) {
        snprintf(msg, msg_size, "token lookup: %s", err.message);
        return graph_http_status(rc);
    }
    int status = 401;
    const char *h = json_string_value(json_object_get(obj, "token_hash"));
    const char *exp = json_string_value(json_object_get(obj, "token_expires"));
    time_t expires = 0;
    auth->role = api_role_parse(json_string_value(json_object_get(obj, "token_role")));
    if (!h || strcmp(h, hex) != 0 || auth->role == API_ROLE_NONE) {
        snprintf(msg, msg_size, "invalid token");
    } else if (json_is_true(json_object_get(obj, "token_revoked"))) {
        snprintf(msg, msg_size, "token revoked");
    } else if (exp && (api_time_parse(exp, &expires) != 0 || now >= expires)) {
        snprintf(msg, msg_size, "token expired");
    } else {
        status = 0;
        snprintf(auth->uuid, sizeof auth->uuid, "%s", uuid);
        auth->expires = expires;
        json_t *ref = json_array_get(json_object_get(obj, "project_refs"), 0);
        if (ref) {
            const char *pu = json_string_value(json_object_get(ref, "uuid"));
            json_t *pfq = json_object_get(ref, "to");
            if (!pu || !json_is_array(pfq)) {
                snprintf(msg, msg_size, "token scope unreadable");
                status = 401;
            } else {
                snprintf(auth->project_uuid, sizeof auth->project_uuid, "%s", pu);
                auth->project_fq = json_incref(pfq);
            }
        }
    }
    if (status) {
        auth->role = API_ROLE_NONE;
    }
    json_decref(obj);
    return status;
}

/* ---- authorization ---- */

static bool type_scoped(const struct api_shared *sh, const struct schema_type *t)
{
    size_t n = schema_type_count(sh->schema);
    for (size_t i = 0; i < n; i++) {
        if (schema_type_at(sh->schema, i) == t) {
            return sh->scoped[i];
        }
    }
    return false;
}

bool api_in_scope(const struct api_auth *auth, const json_t *fq)
{
    if (!auth->project_fq) {
        return true;
    }
    size_t pl = json_array_size(auth->project_fq);
    if (!json_is_array(fq) || json_array_size(fq) < pl) {
        return false;
    }
    for (size_t i = 0; i < pl; i++) {
        if (!json_equal(json_array_get(fq, i), json_array_get(auth->project_fq, i))) {
            return false;
        }
    }
    return true;
}

int api_authorize(const struct api_shared *sh, const struct api_auth *auth,
                  const struct schema_type *t, const json_t *fq, bool write, char *msg,
                  size_t msg_size)
{
    if (write && t->derived) {
        /* the compiler owns them, admins included: a hand edit would be
         * undone, or left stale, by the next compile of its source */
        snprintf(msg, msg_size, "%s objects are derived by the compiler: read-only", t->name);
        return 403;
    }
    if (auth->role == API_ROLE_ADMIN) {
        return 0;
    }
    if (t == sh->token) {
        snprintf(msg, msg_size, "api-token objects are managed through /tokens");
        return 403;
    }
    bool scoped = type_scoped(sh, t);
    if (write) {
        if (auth->role < API_ROLE_MEMBER) {
            snprintf(msg, msg_size, "a %s token may only read", api_role_name(auth->role));
            return 403;
        }
        if (!scoped || t == sh->project) {
            snprintf(msg, msg_size, "a member token may change only objects inside a project");
            return 403;
        }
    }
    if (scoped && fq && !api_in_scope(auth, fq)) {
        snprintf(msg, msg_size, "the object belongs to another project");
        return 403;
    }
    return 0;
}

/* ---- token objects ---- */

int api_token_create(struct graph *g, enum api_role role, const char *project_uuid, time_t expires,
                     const char *description, const char *actor, char token[API_TOKEN_SIZE],
                     json_t **out, struct graph_error *err)
{
    char hex[API_HASH_HEX], when[32];
    if (out) {
        *out = NULL;
    }
    if (api_token_generate(token) != 0 || api_token_hash(token, hex) != 0) {
        snprintf(err->message, sizeof err->message, "random number generator failed");
        err->field[0] = '\0';
        err->status = 500;
        return GRAPH_EINTERNAL;
    }
    json_t *body = json_pack("{s:s,s:s,s:[s],s:s,s:s,s:s}", "parent_type", "config-root", "name", hex,
                             "fq_name", hex, "token_role", api_role_name(role), "token_hash", hex,
                             "token_created_by", actor ? actor : "");
    int rc = body ? 0 : GRAPH_EINTERNAL;
    if (rc == 0 && expires) {
        api_time_format(expires, when);
        rc = json_object_set_new(body, "token_expires", json_string(when)) ? GRAPH_EINTERNAL : 0;
    }
    if (rc == 0 && description) {
        rc = json_object_set_new(body, "token_description", json_string(description))
                 ? GRAPH_EINTERNAL
                 : 0;
    }
    if (rc == 0 && project_uuid && *project_uuid) {
        rc = json_object_set_new(body, "project_refs", json_pack("[{s:s}]", "uuid", project_uuid))
                 ? GRAPH_EINTERNAL
                 : 0;
    }
    if (rc) {
        json_decref(body);
        snprintf(err->message, sizeof err->message, "out of memory");
        err->field[0] = '\0';
        err->status = 500;
        return rc;
    }
    rc = graph_obj_create(g, "api-token", body, actor, out, NULL, err);
    json_decref(body);
    if (rc) {
        explicit_bzero(token, API_TOKEN_SIZE);
        token[0] = '\0';
    }
    return rc;
}

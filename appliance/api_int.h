/* Internals of the config role's REST API, shared by config_role.c (the
 * libuv/HTTP glue), api_exec.c (the operations, run on worker threads) and
 * api_auth.c (bearer tokens and role-based access), and used directly by the
 * unit tests, which run the operations over an in-process store state
 * machine without HTTP. Nothing here touches a socket or a loop: a request
 * is a struct api_call, its answer a struct api_result, and the store is
 * the struct graph of the calling worker. */
#ifndef STRATA_APPLIANCE_API_INT_H
#define STRATA_APPLIANCE_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "appliance/http.h"
#include "compiler/graph.h"
#include "compiler/schema/schema.h"
#include "lib/pki.h"

#define API_BODY_MAX (8u * 1024 * 1024) /* request body bytes (the HTTP layer's cap) */
#define API_JSON_DEPTH 64               /* nesting of request bodies */
#define API_BATCH_MAX 1000              /* operations per POST /batch */
#define API_BULK_UUIDS_MAX 1000         /* obj_uuids per list-bulk-collection */
#define API_HOST_MAX 256                /* bytes of the Host used in hrefs */
#define API_TOKEN_PREFIX "st_"
#define API_TOKEN_RAW 32                /* random bytes: 256 bits */
#define API_TOKEN_B64 43                /* base64url of 32 bytes, no padding */
#define API_TOKEN_SIZE (sizeof API_TOKEN_PREFIX - 1 + API_TOKEN_B64 + 1) /* with NUL */
#define API_HASH_HEX 65                 /* SHA-256 in hex with NUL */

/* What a token may do; ordered: a higher role can do what a lower can. */
enum api_role {
    API_ROLE_NONE = 0,
    API_ROLE_READER = 1,
    API_ROLE_MEMBER = 2,
    API_ROLE_ADMIN = 3,
};

/* The authenticated caller. 'project_fq' (owned) is the scope's fq_name or
 * NULL for an unscoped token; 'expires' 0 when the token never expires. */
struct api_auth {
    char uuid[GRAPH_UUID_SIZE]; /* the token's uuid: the actor of the audit trail */
    enum api_role role;
    char project_uuid[GRAPH_UUID_SIZE]; /* "" when unscoped */
    json_t *project_fq;
    time_t expires;
};

void api_auth_destroy(struct api_auth *a);

/* Routes. Per type (from the schema tables): LIST, CREATE, READ, UPDATE,
 * DELETE. The rest are fixed. */
enum api_route {
    API_R_ROOT,
    API_R_OPENAPI,
    API_R_LIST,
    API_R_CREATE,
    API_R_READ,
    API_R_UPDATE,
    API_R_DELETE,
    API_R_FQ2ID,
    API_R_ID2FQ,
    API_R_REFUPDATE,
    API_R_BULK,
    API_R_BATCH,
    API_R_TOKEN_CREATE,
    API_R_TOKEN_LIST,
    API_R_TOKEN_DELETE,
    API_R_BGP_NEIGHBORS,
    API_R_BGP_ROUTES,
    API_R_BGP_SUMMARY,
    API_R_JOIN_CREATE,
    API_R_JOIN_LIST,
    API_R_JOIN_DELETE,
    API_R_ENROLL,    /* authenticated by a join token, not an API token */
    API_R_ENROLL_CA, /* unauthenticated: the CA certificate is public */
    API_R_CLUSTER_VERSION,       /* GET: the compiler rules version in force and this node's range */
    API_R_CLUSTER_VERSION_RAISE, /* POST {"version": N}, admin */
};

/* One request as the operations see it. Pointers are views valid for the
 * call. 'body' is the raw body (parsed by the operation) unless 'json' is
 * set (a batch sub-operation, already parsed). */
struct api_call {
    enum api_route route;
    const struct schema_type *type; /* per-type routes */
    const char *uuid;               /* READ/UPDATE/DELETE/TOKEN_DELETE */
    const char *table;              /* BGP_ROUTES: /bgp/routes/{table}, else NULL */
    const struct http_param *query;
    size_t query_len;
    const uint8_t *body;
    size_t body_size;
    const json_t *json;
    const char *if_match; /* the If-Match header or NULL */
    const char *host;     /* for hrefs: "https://<host>/..." */
};

/* The answer: 'status', the JSON document 'text' (malloc'd, 'size' bytes,
 * owned; NULL for none), the ETag revision (0: no ETag) and a Location
 * path ("" for none). */
struct api_result {
    int status;
    char *text;
    size_t size;
    uint64_t etag;
    char location[128];
};

void api_result_destroy(struct api_result *r);

/* Shared, read-only state of one role instance. 'openapi' is the cached
 * OpenAPI document text; 'scoped' marks, per schema type index, the types
 * that live inside a project (project itself and its descendants). */
struct api_shared {
    const struct schema *schema;
    const char *openapi;
    size_t openapi_size;
    bool *scoped; /* schema_type_count() entries */
    const struct schema_type *project;
    const struct schema_type *token;
    const char *control_sock; /* the local control role's socket; NULL: /bgp answers 503 */
    const struct pki_cert *ca;  /* the cluster CA (GET /enroll/ca), or NULL */
    const struct pki_key *ca_key; /* its key: POST /enroll signs with it; NULL: 503 */
    /* The store's members as a new JSON array of "ID=NAME@HOST:PORT"
     * (controllers enrol with it), asked through 'g''s store connection;
     * NULL: controllers cannot enrol (503). */
    int (*members)(struct graph *g, json_t **members);
};

/* Builds 'sh' for 'schema' (which must outlive it): the OpenAPI text and
 * the project-scope table. 0 or LIB_ENOMEM. */
int api_shared_init(struct api_shared *sh, const struct schema *schema) STRATA_WARN_UNUSED;
void api_shared_destroy(struct api_shared *sh);

/* Runs 'call' for the caller holding bearer token 'bearer' (NULL: none) on
 * 'g' and fills 'res' (always: status and document). Authenticates first
 * (401), then authorizes (403), then parses and executes. */
void api_handle(const struct api_shared *sh, struct graph *g, const char *bearer,
                const struct api_call *call, struct api_result *res);

/* The first query parameter 'name' of 'call', or NULL. */
const char *api_query_get(const struct api_call *call, const char *name);

/* Sets 'res' to the JSON error {"error": {"code", "message", "field"}}. */
void api_result_error(struct api_result *res, int status, const char *message, const char *field);

/* ---- the /bgp endpoints (api_bgp.c) ----
 * GET /bgp/neighbors, GET /bgp/summary, GET /bgp/routes (the tables and
 * their counts), GET /bgp/routes?table=T and GET /bgp/routes/T, answered by
 * the local control role over its control socket (one command line, one
 * JSON answer). A table T without a '.' names a routing instance: its
 * "T.inet.0". */

#define API_BGP_TABLE_MAX 255
#define API_BGP_TIMEOUT_MS 5000
#define API_BGP_ANSWER_MAX ((size_t)256 << 20)

/* The control socket's command line for 'call' into 'line'. 0, or 400 with
 * 'msg' (a table name with characters other than letters, digits and
 * "._:-", or too long; table given twice). */
int api_bgp_command(const struct api_call *call, char *line, size_t size, char *msg,
                    size_t msg_size) STRATA_WARN_UNUSED;
/* The REST answer for 'call' from the control socket's result: 'rc' (0 or
 * ctl_sock_request()'s error) and its 'answer' text. Returns 200 with the
 * document in '*doc' ({"neighbors": [...]}, {"table": T, "routes": [...]},
 * {"tables": {...}}, or the summary object), or an error status with
 * 'msg': 503 when nothing listens on the socket, it does not answer in
 * time, or the role has not started BGP yet; 404 for an unknown table;
 * 502 for an answer that is not JSON. */
int api_bgp_answer(const struct api_call *call, int rc, const char *answer, json_t **doc, char *msg,
                   size_t msg_size) STRATA_WARN_UNUSED;

/* Adds the /bgp operations to the OpenAPI document's "paths" object
 * (nothing when it is not an object). */
void api_bgp_openapi(json_t *paths);

/* ---- join tokens and enrolment (api_join.c) ----
 * The answer of one of these operations: 'status', on success 'doc' (owned),
 * else 'msg' and 'field' ("" for none) for the JSON error. */
struct api_join_answer {
    int status;
    json_t *doc;
    char msg[256];
    char field[64];
    char location[128];
};

void api_join_answer_destroy(struct api_join_answer *a);
/* POST /join-tokens by admin 'auth': {"kind": "controller"|"vrouter", "name",
 * "ttl" (seconds, default JOIN_TTL_DEFAULT, at most JOIN_TTL_MAX), "address"
 * (controllers: binds the certificate's IP)} -> 201 {"token",
 * "join-token": {uuid, kind, name, expires, state, ...}}; 400 for bad
 * fields; 503/507 when the store cannot answer. Audited. */
void api_join_token_create(const struct api_shared *sh, struct graph *g, const struct api_auth *auth,
                           const struct api_call *call, time_t now, struct api_join_answer *a);
/* GET /join-tokens -> 200 {"join-tokens": [...]} (state unused|used|expired). */
void api_join_token_list(const struct api_shared *sh, struct graph *g, time_t now, struct api_join_answer *a);
/* DELETE /join-tokens/{uuid} -> 200 {}; 404 unknown. Audited. */
void api_join_token_revoke(const struct api_shared *sh, struct graph *g, const struct api_auth *auth,
                           const struct api_call *call, struct api_join_answer *a);
/* Adds the join-token and enrolment operations to the OpenAPI document's
 * "paths" object (nothing when it is not an object). */
void api_join_openapi(json_t *paths);
/* GET /enroll/ca -> 200 {"ca": PEM, "ca_fingerprint": hex}. */
void api_enroll_ca(const struct api_shared *sh, struct api_join_answer *a);
/* POST /enroll with join token 'bearer' and {"public_key": PEM, "address",
 * "kind" (optional: what the joiner expects to become; another -> 403)}
 * -> 200 {"kind", "name", "certificate", "ca", "ca_fingerprint",
 * "address", "members" (controllers)}. 401: no, unknown, revoked or
 * expired token; 409: already used (also when a concurrent use won);
 * 400: bad body or key; 503: no CA key on this node or no store. The
 * token is marked used only when the certificate is answered. */
void api_enroll(const struct api_shared *sh, struct graph *g, const char *bearer, const struct api_call *call,
                time_t now, struct api_join_answer *a);

/* ---- tokens and access (api_auth.c) ---- */

/* A new random token (API_TOKEN_PREFIX + base64url of 256 random bits from
 * wolfCrypt's RNG) in 'token'. 0 or LIB_EIO. */
int api_token_generate(char token[API_TOKEN_SIZE]) STRATA_WARN_UNUSED;
/* True when 'token' has the shape of a token (prefix, length, alphabet). */
bool api_token_wellformed(const char *token);
/* The lower-case hex SHA-256 of the token text. 0 or LIB_EIO. */
int api_token_hash(const char *token, char hex[API_HASH_HEX]) STRATA_WARN_UNUSED;

/* Looks up 'bearer' and fills 'auth' (destroy it afterwards, also on
 * error). Returns 0, or the HTTP status to answer (401 missing, malformed,
 * unknown, expired or revoked; 503/507 when the store cannot answer) with a
 * message in 'msg'. A token found in no local replica is confirmed with a
 * linearizable read, so a token just created on another node works here. */
int api_authenticate(const struct api_shared *sh, struct graph *g, const char *bearer, time_t now,
                     struct api_auth *auth, char *msg, size_t msg_size) STRATA_WARN_UNUSED;

/* Whether 'auth' may read ('write' false) or create/change/delete ('write'
 * true) an object of 't' named 'fq' (a JSON array; may be NULL when unknown,
 * then only type-level rules apply). 0, or 403 with a message. */
int api_authorize(const struct api_shared *sh, const struct api_auth *auth,
                  const struct schema_type *t, const json_t *fq, bool write, char *msg,
                  size_t msg_size) STRATA_WARN_UNUSED;

/* True when 'fq' lies in 'auth''s project (or 'auth' is unscoped). */
bool api_in_scope(const struct api_auth *auth, const json_t *fq);

/* Creates a token object (name and fq_name = the hash) with 'role',
 * optional project scope 'project_uuid' (NULL/"" for none), 'expires' (0:
 * never), 'description' (may be NULL), created by 'actor'. Writes the
 * secret into 'token' and the stored object into '*out' (may be NULL).
 * Graph error codes. */
int api_token_create(struct graph *g, enum api_role role, const char *project_uuid, time_t expires,
                     const char *description, const char *actor, char token[API_TOKEN_SIZE],
                     json_t **out, struct graph_error *err) STRATA_WARN_UNUSED;

/* Role names ("admin", "member", "reader") both ways. */
const char *api_role_name(enum api_role role);
enum api_role api_role_parse(const char *name);

/* RFC 3339 text ("2026-11-21T10:00:00Z", optional fraction and offset)
 * to a time_t, and back in UTC with a 'Z'. Parse returns 0 or -1. */
int api_time_parse(const char *text, time_t *out) STRATA_WARN_UNUSED;
void api_time_format(time_t t, char out[32]);

#endif

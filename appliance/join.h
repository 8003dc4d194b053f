/* Join tokens and enrolment: the pure pieces shared by the config role (which
 * mints join tokens and answers POST /enroll), `stratad join` and
 * `strata-agent enroll`.
 *
 * A join token is "sj_" + base64url(256 random bits). The store holds only
 * its SHA-256: the record lives at JOIN_KEY_PREFIX + hex(hash) as JSON
 * (struct join_record). The token binds what the joiner becomes: its kind
 * (a controller node or a vRouter agent) and its name (the node's name or
 * the virtual-router's name); the joiner cannot choose another. A token is
 * single-use: enrolment marks it used in the same store transaction that
 * compares its revision, so two concurrent uses cannot both succeed. */
#ifndef STRATA_APPLIANCE_JOIN_H
#define STRATA_APPLIANCE_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/pki.h"

#define JOIN_ERRORS(X)                                                                   \
    X(JOIN_EINVAL, -12701, "invalid join token or enrolment request")                   \
    X(JOIN_EEXPIRED, -12702, "join token expired")                                      \
    X(JOIN_EUSED, -12703, "join token already used")                                    \
    X(JOIN_EFINGERPRINT, -12704, "the server's CA does not match the pinned fingerprint") \
    X(JOIN_EPROTO, -12705, "malformed answer from the enrolment server")                \
    X(JOIN_ECONNECT, -12706, "cannot reach the enrolment server")                       \
    X(JOIN_EREFUSED, -12707, "the server refused the enrolment")                        \
    X(JOIN_EIO, -12708, "cannot write the enrolled credentials")

enum join_err { JOIN_ERRORS(STRATA_ERR_ENUM) };

const char *join_strerror(int code);

#define JOIN_TOKEN_PREFIX "sj_"
#define JOIN_TOKEN_RAW 32
#define JOIN_TOKEN_B64 43
#define JOIN_TOKEN_SIZE (sizeof JOIN_TOKEN_PREFIX - 1 + JOIN_TOKEN_B64 + 1) /* with NUL */
#define JOIN_HASH_HEX 65
#define JOIN_KEY_PREFIX "/c/join/"
#define JOIN_TTL_DEFAULT 3600           /* seconds */
#define JOIN_TTL_MAX (7 * 86400)        /* a join token is short-lived */
#define JOIN_NAME_MAX 63
#define JOIN_DAYS_VALID 825             /* issued leaves, as stratad init's */

enum join_kind {
    JOIN_KIND_CONTROLLER = 1, /* a controller node: PKI_ROLE_NODE, DNS SAN name, IP SAN address */
    JOIN_KIND_VROUTER = 2,    /* a vRouter agent: PKI_ROLE_AGENT, DNS SAN = virtual-router name */
};

const char *join_kind_name(enum join_kind kind);
/* "controller" or "vrouter" into '*kind'; JOIN_EINVAL otherwise. */
int join_kind_parse(const char *text, enum join_kind *kind) STRATA_WARN_UNUSED;
/* True for 1..JOIN_NAME_MAX letters, digits, '-', '_' and '.', not starting
 * with '.' or '-' (usable as a file name and a DNS SAN). */
bool join_name_valid(const char *name);

/* A new random token into 'token'. 0 or JOIN_EINVAL (RNG failure). */
int join_token_generate(char token[JOIN_TOKEN_SIZE]) STRATA_WARN_UNUSED;
/* True when 'token' has the shape of a join token. */
bool join_token_wellformed(const char *token);
/* Lower-case hex SHA-256 of the token text. 0 or JOIN_EINVAL. */
int join_token_hash(const char *token, char hex[JOIN_HASH_HEX]) STRATA_WARN_UNUSED;

/* A stored join token. Invariants: uuid, name non-empty; kind valid;
 * expires > created; used_at 0 while unused. */
struct join_record {
    char uuid[37];
    enum join_kind kind;
    char name[JOIN_NAME_MAX + 1];
    char address[64];    /* controllers: the IP the certificate names; "" = the joiner says */
    char created_by[64]; /* the admin token's uuid */
    time_t created;
    time_t expires;
    time_t used_at;      /* 0: unused */
    char used_from[64];  /* what enrolled with it (the address it gave), "" */
};

/* The record as stored (also what GET /join-tokens shows, plus "state"). */
json_t *join_record_to_json(const struct join_record *r);
/* Parses a stored record; JOIN_EINVAL when a field is missing or wrong. */
int join_record_from_json(const json_t *doc, struct join_record *r) STRATA_WARN_UNUSED;
/* 0 when the token may be used at 'now'; JOIN_EUSED, JOIN_EEXPIRED. */
int join_record_check(const struct join_record *r, time_t now) STRATA_WARN_UNUSED;
/* "unused", "used" or "expired" at 'now'. */
const char *join_record_state(const struct join_record *r, time_t now);

/* What the certificate of an enrolment says. The name, kind and (when the
 * token binds one) address come from the token; 'address' is the joiner's
 * (controllers only, an IP literal; ignored when the token binds one).
 * Fills '*p' with pointers into 'r' and 'addr_out' (64 bytes). JOIN_EINVAL
 * when a controller has no usable address. */
struct join_leaf {
    struct pki_leaf_params params;
    const char *dns[1];
    const char *ips[1];
    char address[64];
};
int join_leaf_params(const struct join_record *r, const char *address, struct join_leaf *leaf) STRATA_WARN_UNUSED;

/* The joiner's side: builds a controller's node config (the JSON that
 * `stratad run --config` reads, appliance/supervisor.h) from the enrolment
 * answer's "members" (["ID=NAME@HOST:PORT", ...], the running cluster) and
 * the node's own settings. 'id' 0: one more than the highest member id.
 * The node itself is appended to the members. JOIN_EINVAL when a member
 * string is malformed, the id or name is taken by another member. */
struct join_node_opts {
    uint64_t id;
    const char *name;
    const char *address;
    uint16_t raft_port;
    uint16_t api_port;
    const char *data_dir;
    const char *pki_dir;
    const char *const *roles; /* NULL-terminated; NULL: store and config */
};
int join_node_config(const json_t *members, const struct join_node_opts *o, json_t **cfg, char *errmsg,
                     size_t errmsg_size) STRATA_WARN_UNUSED;

#endif

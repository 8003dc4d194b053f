/* The config object graph on the store: the VNC-API semantics (fq_name
 * unique per type, exactly one parent, refs must exist unless weak,
 * back-refs and child lists maintained, no delete with children or live
 * back-refs, IPAM, MACs) implemented as optimistic store transactions, as
 * docs/design-config.md describes. Each operation reads what it depends on,
 * decides, and proposes one transaction whose compares state every
 * assumption; when a compare fails it re-reads and decides again, a bounded
 * number of times. The store is reached through a small synchronous
 * key-value interface (struct graph_kv) so the same code runs in-process on
 * a state machine (tests, benchmarks) and in the config role on a blocking
 * store client per worker thread. A struct graph is used by one thread at a
 * time; the schema it points to is shared read-only. */
#ifndef STRATA_COMPILER_GRAPH_H
#define STRATA_COMPILER_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "compiler/schema/schema.h"
#include "lib/buf.h"
#include "lib/err.h"

/* Codes and the HTTP status each maps to (graph_http_status()). */
#define GRAPH_ERRORS(X)                                                          \
    X(GRAPH_ENOTFOUND, -13501, "object not found")                  /* 404 */   \
    X(GRAPH_ECONFLICT, -13502, "conflict with the object graph")     /* 409 */   \
    X(GRAPH_EPRECOND, -13503, "revision does not match If-Match")    /* 412 */   \
    X(GRAPH_EBADREQ, -13504, "malformed request")                    /* 400 */   \
    X(GRAPH_EINVALID, -13505, "object violates the schema")          /* 422 */   \
    X(GRAPH_ETOOLARGE, -13506, "request or object too large")        /* 413 */   \
    X(GRAPH_EUNAVAIL, -13507, "store unavailable")                   /* 503 */   \
    X(GRAPH_ESTORAGE, -13508, "store has no space left")             /* 507 */   \
    X(GRAPH_EEXHAUSTED, -13509, "no free address in the subnets")    /* 409 */   \
    X(GRAPH_EBUSY, -13510, "too many concurrent changes, retry")     /* 503 */   \
    X(GRAPH_EINTERNAL, -13511, "internal error")                     /* 500 */

enum graph_err { GRAPH_ERRORS(STRATA_ERR_ENUM) };

const char *graph_strerror(int code);

/* The HTTP status for a graph code (0: 200; unknown codes: 500). */
int graph_http_status(int code);

#define GRAPH_MSG_MAX 512
#define GRAPH_UUID_SIZE 37          /* text form with NUL */
#define GRAPH_ROOT_NAME "default-config-root"
#define GRAPH_DEFAULT_RETRIES 16    /* optimistic attempts per request */
#define GRAPH_CONFLICT_NAMES 8      /* children/back-refs named in a 409 */
#define GRAPH_LIST_MAX 10000        /* most entries one list answers */
#define GRAPH_SCAN_MAX 100000       /* most index keys one list scans */

/* Why an operation failed: the HTTP status, the field path for schema
 * errors ("network_ipam_refs[0].attr.ipam_subnets[0].subnet.ip_prefix",
 * "" when not about one field) and a message naming what conflicts. */
struct graph_error {
    int status;
    char field[SCHEMA_PATH_MAX];
    char message[GRAPH_MSG_MAX];
};

/* The store as the graph sees it: 'cmd' runs one encoded store command
 * (store/cmd.h) and returns 0 with the encoded store_reply in 'reply'
 * (reset first), or a STORE_E* / transport error. 'serializable': a read
 * may be answered from local state (only RANGE commands set it). */
struct graph_kv {
    int (*cmd)(void *arg, const struct buf *cmd, bool serializable, struct buf *reply);
    void *arg;
    /* Optional (both or neither): a pipelined path for compiling
     * transactions. 'send' queues a write behind every earlier 'send' of
     * this process and returns at once ('*pending' for 'wait'; the order
     * of sends is the order the store proposes them); 'wait' returns its
     * answer as 'cmd' would. With them a compiling transaction is sent
     * under derive_lock() and waited for after releasing it, so the next
     * plan of this node starts while it is in flight (derive.h). */
    int (*send)(void *arg, const struct buf *cmd, void **pending);
    int (*wait)(void *arg, void *pending, struct buf *reply);
};

struct store_fsm;
struct store_client;
struct derive;

/* In-process kv on a state machine: writes go through
 * store_fsm_apply_batch() as entries with increasing raft indexes starting
 * after 'last_index', reads through store_fsm_range(). For tests and
 * benchmarks; 'fsm' must outlive it. */
struct graph_kv_fsm {
    struct store_fsm *fsm;
    uint64_t index; /* last index applied */
};

void graph_kv_fsm_init(struct graph_kv_fsm *k, struct store_fsm *fsm, uint64_t last_index);
struct graph_kv graph_kv_fsm(struct graph_kv_fsm *k);

/* Kv on a blocking store client (store/client.h); one per thread. */
struct graph_kv graph_kv_client(struct store_client *c);

struct graph {
    const struct schema *schema;
    struct graph_kv kv;
    unsigned retries;        /* attempts per request; GRAPH_DEFAULT_RETRIES */
    unsigned conflict_names; /* GRAPH_CONFLICT_NAMES */
    /* counters, for tests and metrics */
    uint64_t txn_count;      /* transactions proposed */
    uint64_t txn_conflicts;  /* of which the compares failed */
    uint64_t derived_writes; /* derived objects written or deleted by compiles */
    /* where compiling writes spend their time (ns, summed over attempts):
     * waiting for derive_lock() and a ready image, planning, committing
     * (the store round trip), and waiting for the image to show what
     * refused a plan; attempts and refusals count compiling attempts */
    uint64_t compile_attempts;
    uint64_t compile_refused;
    uint64_t compile_lock_ns;
    uint64_t compile_plan_ns;
    uint64_t compile_commit_ns;
    uint64_t compile_catchup_ns;
    uint64_t compile_pipelined; /* compiling transactions sent through kv.send */
    bool fresh_reads;        /* internal: decision reads go through the leader */
    uint64_t seen_revision;  /* internal: store revision of the last transaction */
    struct derive *derive;   /* the compiler's image, or NULL: no compiling */
    uint64_t derive_token;   /* internal: the identifiers the plan in flight reserved */
    bool in_pending;         /* internal: running graph_compile_pending() */
    bool in_compile;         /* internal: between compile_begin() and compile_end() */
};

/* Sets up 'g' on 'schema' and 'kv' (both must outlive it). */
void graph_init(struct graph *g, const struct schema *schema, struct graph_kv kv);

/* Attaches the compiler (compiler/derive.h; NULL detaches): from now on
 * every create, update, ref-update and delete of a type the compiler reads
 * carries, in the same transaction, the derived objects and identifiers
 * it compiles to, with the compares derive_plan_change() states. 'd' may be
 * shared by many graphs (threads); it must outlive them. When 'd' is not
 * watched, the graph reloads it through its own kv whenever it must catch
 * up (after each compiling transaction): fine for tests, O(store) each. */
void graph_set_derive(struct graph *g, struct derive *d);

/* Reloads 'd' from the store through 'g''s kv with linearizable reads:
 * derive_reset(), every key under derive_prefixes() in pages, then
 * derive_caught_up() at the highest revision seen. A watcher that starts
 * at the first page's revision + 1 brings it up to date. '*first_revision'
 * (may be NULL) gets that revision. */
int graph_derive_load(struct graph *g, struct derive *d, uint64_t *first_revision,
                      struct graph_error *err) STRATA_WARN_UNUSED;

/* Creates config-root (fq_name [GRAPH_ROOT_NAME]), default-domain,
 * default-project under it and default-global-system-config when absent;
 * idempotent. 'actor' names the caller in the audit trail. */
int graph_bootstrap(struct graph *g, const char *actor, struct graph_error *err) STRATA_WARN_UNUSED;

/* Creates an object of type 'type' from 'body' (the inner object, not
 * wrapped in {"<type>": ...}; not modified). Assigns a random v4 uuid
 * unless 'body' has one; derives fq_name from the parent (parent_uuid, or
 * the default parent when it exists) and 'name' (the uuid when absent) when
 * fq_name is missing; validates with schema_validate(SCHEMA_CREATE);
 * resolves the parent (parent_uuid, or parent_type + fq_name prefix) and
 * every ref ("to" fq_name or "uuid") to uuids; for instance-ip allocates an
 * address from its virtual-network's subnets; for
 * virtual-machine-interface assigns a MAC when none is given. On success
 * '*out' (may be NULL) gets the stored object (a new reference) and
 * '*revision' (may be NULL) its mod revision, the ETag. Errors:
 * GRAPH_EBADREQ/EINVALID (schema errors, field path in 'err'),
 * GRAPH_ECONFLICT (fq_name or uuid taken, address taken, MAC taken),
 * GRAPH_ENOTFOUND (parent or ref target missing), GRAPH_EEXHAUSTED,
 * GRAPH_ETOOLARGE, GRAPH_EUNAVAIL, GRAPH_ESTORAGE, GRAPH_EBUSY. 'actor'
 * is recorded in the audit record. */
int graph_obj_create(struct graph *g, const char *type, const json_t *body, const char *actor,
                     json_t **out, uint64_t *revision, struct graph_error *err) STRATA_WARN_UNUSED;

/* Reads object 'uuid' of 'type'. 'fields' (NULL: all) is a comma-separated
 * list of keys to return besides uuid, fq_name, parent_type, parent_uuid
 * and name; child lists ("virtual_networks") and back-ref lists
 * ("virtual_machine_interface_back_refs", each {to, uuid, attr}) are
 * included when 'fields' is NULL or names them. 'linearizable': read
 * through the leader (the default for users). '*out' is a new reference;
 * '*revision' the object's mod revision. GRAPH_ENOTFOUND. */
int graph_obj_read(struct graph *g, const char *type, const char *uuid, const char *fields,
                   bool linearizable, json_t **out, uint64_t *revision,
                   struct graph_error *err) STRATA_WARN_UNUSED;

/* Updates object 'uuid' of 'type' with the partial 'body' (VNC PUT: every
 * key given replaces the stored one, null removes it; a refs key replaces
 * the whole ref list; uuid, fq_name, name, parent_* may be given only with
 * their current values). 'if_match' (0: none) is the revision the caller
 * last saw: GRAPH_EPRECOND when the object has changed since. Other errors
 * as graph_obj_create(). '*out' / '*revision' as there. */
int graph_obj_update(struct graph *g, const char *type, const char *uuid, const json_t *body,
                     uint64_t if_match, const char *actor, json_t **out, uint64_t *revision,
                     struct graph_error *err) STRATA_WARN_UNUSED;

/* Deletes object 'uuid' of 'type'. GRAPH_ECONFLICT when it has children or
 * strong back-references (the message names up to conflict_names of them
 * by type, fq_name and uuid); weak back-references are dropped and dangle.
 * Frees its allocated addresses and MACs. GRAPH_EPRECOND for a stale
 * 'if_match' (0: none). '*revision' (may be NULL) gets the revision of the
 * deletion. */
int graph_obj_delete(struct graph *g, const char *type, const char *uuid, uint64_t if_match,
                     const char *actor, uint64_t *revision, struct graph_error *err) STRATA_WARN_UNUSED;

/* A list request (GET /<types>). All strings may be NULL. 'parent_ids',
 * 'back_ref_ids': comma-separated uuids (objects that are children of any
 * of them / refer to any of them; both: both hold). 'filters':
 * comma-separated "prop==value" on top-level scalar properties (a value is
 * compared with a string property as is, with others as JSON text; several
 * values for one prop: any matches). 'marker': the uuid to list after;
 * 'limit': most entries (0: GRAPH_LIST_MAX). */
struct graph_list_req {
    const char *parent_ids;
    const char *back_ref_ids;
    const char *fields;
    const char *filters;
    const char *marker;
    uint32_t limit;
    bool detail;
    bool linearizable;
};

/* Lists objects of 'type' in uuid order. '*out' gets a new JSON array of
 * {uuid, fq_name[, fields]} or, with 'detail', of the objects (fields as
 * graph_obj_read(), without child and back-ref lists). 'next_marker' gets
 * the uuid to pass as the next marker, "" when the listing is complete. */
int graph_obj_list(struct graph *g, const char *type, const struct graph_list_req *req,
                   json_t **out, char next_marker[GRAPH_UUID_SIZE],
                   struct graph_error *err) STRATA_WARN_UNUSED;

/* The uuid of the 'type' object named 'fq_name' (a JSON array of strings).
 * GRAPH_ENOTFOUND, GRAPH_EBADREQ. */
int graph_fqname_to_id(struct graph *g, const char *type, const json_t *fq_name, bool linearizable,
                       char uuid[GRAPH_UUID_SIZE], struct graph_error *err) STRATA_WARN_UNUSED;

/* The type name (copied into 'type', 'type_size' bytes) and fq_name ('*fq_name',
 * a new reference) of object 'uuid'. GRAPH_ENOTFOUND. */
int graph_id_to_fqname(struct graph *g, const char *uuid, bool linearizable, char *type,
                       size_t type_size, json_t **fq_name, struct graph_error *err) STRATA_WARN_UNUSED;

enum graph_ref_op {
    GRAPH_REF_ADD = 1,    /* adds the ref, or replaces its attr when present */
    GRAPH_REF_DELETE = 2, /* removes the ref; absent is not an error */
};

/* POST /ref-update: on object 'uuid' of 'type', adds or removes its ref to
 * the 'ref_type' object given by 'ref_uuid' or 'ref_fq_name' (one of them
 * non-NULL) with link attribute 'attr' (may be NULL). Errors as
 * graph_obj_update(); GRAPH_EINVALID when 'type' has no ref to 'ref_type'
 * or 'attr' does not validate. '*revision' (may be NULL) gets the new
 * revision. */
int graph_ref_update(struct graph *g, enum graph_ref_op op, const char *type, const char *uuid,
                     const char *ref_type, const char *ref_uuid, const json_t *ref_fq_name,
                     const json_t *attr, const char *actor, uint64_t *revision,
                     struct graph_error *err) STRATA_WARN_UNUSED;

/* Finishes every deferred compile (derive.h, DERIVE_KEY_PEND): follow-up
 * transactions, each compiling as many pending sources as one holds,
 * until none is pending. Every compiling request runs it after it commits
 * when something is pending; a config role also calls it at start (a
 * node that died mid-split left the key). 0 when nothing is left. */
int graph_compile_pending(struct graph *g, struct graph_error *err) STRATA_WARN_UNUSED;

/* Records that node 'node' implements compiler rules versions 'min' to
 * 'max' (DERIVE_KEY_NV + node = "<min> <max>", derive.h); a config role
 * reports at start. GRAPH_EBADREQ for a bad name or range. */
int graph_node_versions_report(struct graph *g, const char *node, int min, int max,
                               struct graph_error *err) STRATA_WARN_UNUSED;

/* Raises the cluster version (the compiler rules every node compiles
 * with) to 'version', an admin operation: refused (GRAPH_ECONFLICT, 409)
 * while no node has reported or a reported node does not implement
 * 'version', or when it would lower the version; GRAPH_EINVALID (422)
 * when this node does not implement it. One transaction records the new
 * version and an audit record {actor, op: "cluster-version", from, to},
 * compares every node report (and their count), and recompiles every
 * source under the new rules (derive_plan_version()), so the derived state
 * stays a full compile of the intent. Raising to the current version
 * recompiles nothing and changes only the audit trail. GRAPH_ETOOLARGE
 * when the recompile exceeds one transaction. Needs the compiler attached
 * (GRAPH_EUNAVAIL otherwise). */
int graph_cluster_version_raise(struct graph *g, int version, const char *actor, uint64_t *revision,
                                struct graph_error *err) STRATA_WARN_UNUSED;

/* Writes a random (version 4) uuid in text form into 'out'. 0 or an errno
 * code from getrandom(2). */
int graph_uuid_generate(char out[GRAPH_UUID_SIZE]) STRATA_WARN_UNUSED;

#endif

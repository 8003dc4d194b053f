/* The compiler wired into the object graph: one process-wide, in-memory
 * image of what the compiler reads (the intent objects, the derived objects
 * with their mod revisions, the identifier pools, the cluster version),
 * kept current by whoever feeds it store key states (the config role's
 * watch on /c/, or a full reload), and the planner that turns one intent
 * change into the compares and writes to add to that change's store
 * transaction (docs/design-config.md, "The compiler in the transaction").
 *
 * Planning a change: apply it to the model, compile_affected() ->
 * compile_sources() with the lookups recorded, revert the model, diff
 * against what those sources own. The plan's compares restate every
 * assumption: MOD == m on each input object the compile read, CREATE == 0
 * on each name or uuid it looked up and did not find, MOD == m on each
 * derived object it rewrites or deletes, COUNT(/c/d/<source>/) == n on the
 * owner index of each compiled source, CREATE == 0 on each new identifier
 * key, and VALUE(/c/cv) == DERIVE_VERSION. A plan made on a stale image
 * therefore cannot commit; the graph waits for the image to catch up and
 * plans again.
 *
 * Threads: every function may be called from any thread; the image is
 * guarded by an internal mutex. Plans in flight in one process reserve the
 * identifiers they allocate until their transaction is decided
 * (derive_unreserve()), so concurrent workers of one node never take the
 * same numbers. Transactions that take or release identifiers are planned
 * one per process at a time (derive_lock()). On an ordered pipelined store
 * connection (graph_kv.send, the config role's store_mux) each is sent
 * under the lock and waited for after it, so the next plan starts while
 * earlier ones are in flight: a plan then compares CREATE != 0 on every
 * number reserved by a plan in flight below the highest it takes, so a
 * refused predecessor makes it fail and plan again (never a hole below a
 * committed number: the result is a serial compile's). Without one the
 * lock is held through the commit and the image update. The
 * others (an interface, instance-ip, floating IP or virtual router whose
 * compile rewrites only indexes and mappings, guarded by compares) run
 * without it, concurrently (derive_type_serial(), derive_plan.serial). */
#ifndef STRATA_COMPILER_DERIVE_H
#define STRATA_COMPILER_DERIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "compiler/compile.h"
#include "lib/err.h"

#define DERIVE_ERRORS(X)                                                              \
    X(DERIVE_ENOTREADY, -13801, "the compiler has not loaded the store yet")          \
    X(DERIVE_EVERSION, -13802, "the cluster compiles with a version this node lacks") \
    X(DERIVE_ENOMEM, -13803, "out of memory in the compiler")                         \
    X(DERIVE_EDEFAULT, -13804, "a project's default security group goes with it")

enum derive_err { DERIVE_ERRORS(STRATA_ERR_ENUM) };

const char *derive_strerror(int code);

/* The compiler rules versions this build implements (compile.h,
 * COMPILE_VERSION_*): DERIVE_KEY_CV holds the one the cluster compiles
 * with (decimal text), written by the first compiling transaction (the
 * newest the node implements) and raised by graph_cluster_version_raise().
 * Nodes report the versions they implement under DERIVE_KEY_NV
 * ("/c/nv/<node>" = "<min> <max>"); raising is refused while a reported
 * node lacks the new version. */
#define DERIVE_VERSION_MIN COMPILE_VERSION_MIN
#define DERIVE_VERSION COMPILE_VERSION_MAX
#define DERIVE_KEY_CV "/c/cv"
#define DERIVE_KEY_NV "/c/nv/"
/* Deferred compiles: "/c/pend/<uuid of the change>" (or
 * "/c/pend/cluster-version") = JSON array of source uuids still to
 * compile, written by a transaction whose compile did not fit and
 * consumed by follow-ups (derive_plan_pending()) on any node. */
#define DERIVE_KEY_PEND "/c/pend/"
#define DERIVE_TXN_MARGIN 32u                /* compares/ops left to the graph's own */
#define DERIVE_TXN_BYTES (12u * 1024u * 1024u) /* most bytes one plan adds */
#define DERIVE_WAIT_MS 5000 /* most a writer waits for the image to catch up */

/* Identifier keys: /c/id/rt/<n> and /c/id/vni/<n> (n as 10 decimal digits,
 * so key order is number order) hold the owner (a source uuid, or
 * "<network uuid>/<service-instance uuid>" for a service target). Owner
 * index: /c/d/<source uuid>/<type>/<uuid> (empty value) for each derived
 * object the source owns. Release markers: /c/id/rel/rt and /c/id/rel/vni,
 * rewritten by every transaction that frees a number of that pool and
 * compared (MOD) by every one that allocates, so allocation stays lowest
 * free. */
#define DERIVE_ID_FMT "/c/id/%s/%010lu"

struct derive;

int derive_create(struct derive **out) STRATA_WARN_UNUSED;
void derive_free(struct derive *d);

/* Limits the rules versions this process compiles to 'min'..'max' (within
 * DERIVE_VERSION_MIN..DERIVE_VERSION; otherwise DERIVE_EVERSION): what a
 * node of an older release implements, for tests of mixed-version
 * clusters. A plan under a recorded version outside the range is refused
 * with DERIVE_EVERSION. */
int derive_set_versions(struct derive *d, int min, int max) STRATA_WARN_UNUSED;
void derive_versions(const struct derive *d, int *min, int *max);

/* The version the image shows the cluster compiling with (0: none yet). */
int derive_cluster_version(const struct derive *d);

/* True when the compiler reads objects of 'type' (a change to one is
 * compiled); true for the derived types in derive_type_derived(). */
bool derive_type_input(const char *type);
bool derive_type_derived(const char *type);

/* True when a change of input 'type' plans under derive_lock() from the
 * start: its compile usually takes identifiers (networks, logical routers)
 * or may recompile many networks. False for virtual-machine-interface,
 * instance-ip, floating-ip and virtual-router: their compiles recompile
 * floating IPs, virtual routers and (through port tuples) service chains
 * of existing networks, which take no identifiers except in corner cases
 * (a chain whose network's compile was deferred); such a change plans
 * without the lock and, should its plan touch identifiers anyway
 * (derive_plan.serial), plans again under it. Only a watched image is
 * planned on without the lock (an unwatched one is reloaded by the graph
 * in between, which needs it). */
bool derive_type_serial(const char *type);

/* The key prefixes a feeder loads and follows ('*len' of them). */
const char *const *derive_prefixes(size_t *len);

/* Feeding. derive_reset() forgets everything (not ready). derive_apply()
 * takes the state of one key at revision 'mod' (a put's mod revision, a
 * delete's revision; 'deleted', or 'value' of 'size' bytes); a state older
 * than the one the image has for that key is ignored, so the feeder and
 * the process's own commits may race; keys outside derive_prefixes() are
 * ignored; a value that does not parse marks the image broken
 * (derive_broken()) until the next reset.
 * derive_caught_up() says the image reflects the store up to 'revision'
 * (events applied in order up to it, or a reload finished) and wakes
 * waiters; the first call makes it ready. 'watched': the feeder follows
 * the store on its own (derive_wait() blocks); otherwise the graph reloads
 * it itself when it needs to catch up. */
void derive_reset(struct derive *d);
int derive_apply(struct derive *d, const uint8_t *key, size_t key_size, const uint8_t *value,
                 size_t size, uint64_t mod, bool deleted) STRATA_WARN_UNUSED;
void derive_caught_up(struct derive *d, uint64_t revision);
void derive_set_watched(struct derive *d, bool watched);
bool derive_watched(const struct derive *d);
bool derive_broken(const struct derive *d);
bool derive_ready(const struct derive *d);
uint64_t derive_revision(const struct derive *d);

/* Waits until the image has caught up to 'revision' or 'timeout_ms' pass;
 * true when it has. Returns at once when not watched. */
bool derive_wait(struct derive *d, uint64_t revision, unsigned timeout_ms);

/* A plan: compares and writes to add to a transaction. Strings are owned. */
struct derive_cmp {
    uint8_t target; /* enum store_cmp_target */
    uint8_t op;     /* enum store_cmp_op */
    char *key;
    char *value;    /* VALUE compares */
    uint64_t number;
};

struct derive_op {
    bool del;
    char *key;
    char *value; /* puts */
};

struct derive_plan {
    struct derive_cmp *cmps;
    size_t ncmps, capcmps;
    struct derive_op *ops;
    size_t nops, capops;
    size_t budget_cmps, budget_ops; /* set by the caller: the most compares / ops the
                                     * plan may add (0: the store's caps less
                                     * DERIVE_TXN_MARGIN); kept across plans */
    size_t sources;   /* sources compiled */
    size_t deferred;  /* sources left to follow-up transactions */
    size_t puts;      /* derived objects written */
    size_t deletes;   /* derived objects deleted */
    uint64_t token;   /* the plan's identifier reservation (derive_unreserve()) */
    bool serial;      /* the plan writes identifier keys, release markers, the
                       * cluster version or a pending list: commit it only
                       * under derive_lock() */
};

void derive_plan_init(struct derive_plan *p);
void derive_plan_destroy(struct derive_plan *p);

/* Plans the compile of the change of object 'uuid' of 'type' from 'old' to
 * 'now' (either NULL for a create / delete; both as the graph stores them,
 * refs resolved) into 'p' (reset first). The image is left as it was.
 * Deleting a project also deletes its default security-group (and the
 * group's ACLs) when no one refers to it. Errors: DERIVE_ENOTREADY,
 * DERIVE_EVERSION (the cluster version names rules this build lacks),
 * DERIVE_EDEFAULT (the default group deleted on its own), DERIVE_ENOMEM,
 * COMPILE_* from the compiler; 'msg' says more. */
int derive_plan_change(struct derive *d, const char *type, const char *uuid, const json_t *old,
                       const json_t *now, struct derive_plan *p, char *msg,
                       size_t msg_size) STRATA_WARN_UNUSED;

/* Plans raising the cluster version to 'version' into 'p' (reset first):
 * compares the recorded version (or its absence), writes the new one, and
 * recompiles every source (networks, security groups, projects, logical
 * routers, floating IPs, virtual routers, and every owner of a derived
 * object or identifier) under the new rules, with the compares of
 * derive_plan_change(). Errors: DERIVE_ENOTREADY, DERIVE_EVERSION (this
 * node does not implement 'version'), DERIVE_ENOMEM, COMPILE_*. */
int derive_plan_version(struct derive *d, int version, struct derive_plan *p, char *msg,
                        size_t msg_size) STRATA_WARN_UNUSED;

/* Follow-ups of deferred compiles. derive_pending(): the image shows a
 * pending key. derive_plan_pending() plans the next chunk of the first
 * pending key into 'p': the compile of as many of its sources as fit, the
 * key rewritten with the rest (MOD compare) or deleted, under the cluster
 * version's rules. Errors as derive_plan_change(); DERIVE_ENOTREADY also
 * when nothing is pending. While a key is pending, the sources it lists
 * may hold output compiled from an older state of the intent (any change
 * recompiling one of them brings it current earlier). */
bool derive_pending(const struct derive *d);
int derive_plan_pending(struct derive *d, struct derive_plan *p, char *msg,
                        size_t msg_size) STRATA_WARN_UNUSED;

/* Test knob: caps what one plan may add (0: no extra cap), so that splits
 * happen with small inputs. */
void derive_set_budget(struct derive *d, size_t cmps, size_t ops);

/* Serializes the compiling transactions of this process that take or
 * release identifiers (plan, commit, image update). Not recursive.
 * derive_held(): the calling thread holds 'd''s lock. */
void derive_lock(struct derive *d);
void derive_unlock(struct derive *d);
bool derive_held(const struct derive *d);

/* Drops the identifiers plan 'token' reserved: call once its transaction
 * committed (the image then holds them) or was refused. Reservations keep
 * plans in flight in one process from taking the same numbers; 0 is
 * ignored. */
void derive_unreserve(struct derive *d, uint64_t token);

/* The identifier key of number 'n' in pool 'pool' ("rt" or "vni") into
 * 'out'; parses one back: 0 and '*pool'/'*n' set, or -1. Pure helpers. */
void derive_id_key(const char *pool, unsigned long n, char *out, size_t size);
int derive_id_parse(const char *key, size_t key_size, const char **pool, unsigned long *n);

#endif

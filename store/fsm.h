/* The store's replicated state machine on LMDB: an etcd-v3-style MVCC
 * key-value space (keys with create/mod revision and version, one global
 * revision, compare-and-swap transactions, a bounded change history for
 * watches, compaction) that every raft replica applies identically. raft
 * (store/node.c) hands it committed entries in batches; it applies a whole
 * batch in one LMDB write transaction together with the last applied raft
 * index, so re-applying is a no-op and a failed commit can be retried.
 * Role processes open the same environment read-only and read through LMDB
 * read transactions while the store role writes.
 *
 * On-disk layout (one LMDB environment, a directory, four named databases):
 *   "meta": key "state" -> u8 format(1) u64 applied_index u64 revision
 *           u64 compacted_revision u8[32] hash            (one record)
 *   "kv":   key bytes -> u64 create_revision u64 mod_revision u64 version
 *           value bytes                                   (live keys only)
 *   "hist": u64 revision u32 sub -> event record          (big-endian key,
 *           so LMDB order is revision order; 'sub' numbers the changes made
 *           by one revision: the ops of a txn, the keys of a delete-range)
 *           event = u8 type(1 put, 2 delete) u8 flags(1: has prev)
 *                   u32 size key u32 size value u64 create u64 version
 *                   [u32 size prev_value u64 prev_create u64 prev_mod
 *                    u64 prev_version]                    (prev optional)
 *   All integers big-endian. Revisions <= compacted_revision are gone from
 *   "hist". hash = SHA-256 chain over every change:
 *   hash_n = SHA-256(hash_{n-1} || u64 revision u32 sub || event without
 *   prev), starting from 32 zero bytes.
 *
 * A handle is used by one thread at a time. Every replica must open with
 * the same replicated settings (caps, retention, history_prev_kv): they
 * decide results and history, and a mismatch shows up in store_fsm_hash()
 * or the history, never silently in the data. */
#ifndef STRATA_STORE_FSM_H
#define STRATA_STORE_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "store/cmd.h"

#define STORE_ERRORS(X)                                                             \
    X(STORE_ENOTFOUND, -11001, "key not found")                                     \
    X(STORE_ECOMPACTED, -11002, "revision has been compacted")                      \
    X(STORE_EFUTUREREV, -11003, "revision is in the future")                        \
    X(STORE_EMAPFULL, -11004, "store map is full (grow the map size)")              \
    X(STORE_ENOSPC, -11005, "no space left on the store's disk")                    \
    X(STORE_ETOOLARGE, -11006, "key, value or command exceeds the configured limit") \
    X(STORE_EFORMAT, -11007, "malformed command, reply or snapshot")                \
    X(STORE_EIO, -11008, "store input/output error")                                \
    X(STORE_EPANIC, -11009, "store refuses writes after a storage error")           \
    X(STORE_ENOQUORUM, -11010, "no raft quorum")                                    \
    X(STORE_ETIMEOUT, -11011, "store request timed out")                            \
    X(STORE_ENOTLEADER, -11012, "this node is not the raft leader")                 \
    X(STORE_EAPPLIED, -11013, "entry was already applied")                          \
    X(STORE_ERDONLY, -11014, "store handle is read-only")                           \
    X(STORE_EVERSION, -11015, "unsupported store format version")                   \
    X(STORE_ECORRUPT, -11016, "stored data fails validation")                       \
    X(STORE_ESHUTDOWN, -11017, "store is shutting down")                            \
    X(STORE_EBUSY, -11018, "store is busy")

enum store_err { STORE_ERRORS(STRATA_ERR_ENUM) };

const char *store_strerror(int code);

#define STORE_HASH_SIZE 32
#define STORE_DEFAULT_MAP_SIZE ((size_t)1 << 30)
#define STORE_DEFAULT_RETENTION 100000u

struct store_fsm;

/* An event: one change in the history. PUT: 'kv' is the key-value after the
 * change. DELETE: 'kv' has the key, an empty value, mod_revision = the
 * deleting revision, create_revision and version 0. 'prev' is set (has_prev)
 * when the store keeps previous values and the key existed before. Views are
 * valid only during the callback. */
enum store_event_type {
    STORE_EVENT_PUT = 1,
    STORE_EVENT_DELETE = 2,
};

struct store_event {
    uint64_t revision;
    uint32_t sub;
    uint8_t type; /* enum store_event_type */
    bool has_prev;
    struct store_kv kv;
    struct store_kv prev;
};

/* Live-event callback: after a batch commits, once per new event in order. */
typedef void store_event_fn(void *arg, const struct store_event *ev);
/* History / scan callbacks: return 0 to continue, non-zero to stop (the
 * value is not an error; the walk returns 0). */
typedef int store_history_fn(void *arg, const struct store_event *ev);
typedef int store_kv_fn(void *arg, const struct store_kv *kv);

struct store_fsm_config {
    size_t map_size;         /* LMDB map size in bytes; 0: STORE_DEFAULT_MAP_SIZE */
    bool read_only;          /* MDB_RDONLY: reads only, the env must exist */
    bool durable;            /* fsync every batch commit (default: no, see fsm.c) */
    /* Replicated settings: identical on every replica. */
    uint32_t key_max;        /* 0: STORE_KEY_MAX; at most STORE_KEY_MAX */
    uint32_t value_max;      /* 0: STORE_VALUE_MAX; at most STORE_VALUE_MAX */
    uint64_t retention;      /* revisions of history kept; 0: STORE_DEFAULT_RETENTION */
    uint64_t retention_slack; /* compaction runs when revision - compacted >
                                 retention + slack; 0: retention / 8 + 1 */
    bool history_prev_kv;    /* keep previous values in history events */
    uint64_t checkpoint_interval; /* see store_fsm_checkpoint(); 0: 1024 */
    /* Local settings. */
    store_event_fn *on_event; /* may be NULL */
    void *event_arg;
    bool no_sync;             /* MDB_NOSYNC: only for a caller that rebuilds the
                                 environment after a machine crash (see fsm.c) */
};

/* One committed raft entry: its index and command bytes (not owned). */
struct store_entry {
    uint64_t index;
    const void *data;
    size_t size;
    /* The command's position in its raft entry (store/entry.h: a batch
     * entry carries several commands, which share its index and must all
     * be in the same store_fsm_apply_batch call); 0 for the first. */
    uint32_t part;
};

/* The outcome of one entry of a batch. 'status': 0 when applied (a txn whose
 * compares failed is applied: see the reply), STORE_EAPPLIED when skipped
 * because its index was already applied, or the per-entry rejection
 * (STORE_EFORMAT, STORE_ETOOLARGE, ...; also in the reply), which changes
 * nothing but the applied index. 'revision' is the store revision after the
 * entry. 'reply' receives the encoded store_reply (store/cmd.h) for the
 * client: the caller buf_init()s it once, the FSM buf_reset()s and fills it
 * (clearing its limit: a reply is never cut short), the caller
 * buf_destroy()s it; reusing the array across batches avoids
 * allocation. */
struct store_result {
    int status;
    uint64_t revision;
    struct buf reply;
};

struct store_fsm_status {
    uint64_t applied_index;
    uint64_t revision;
    uint64_t compacted_revision;
    uint8_t hash[STORE_HASH_SIZE];
    size_t map_size;
    size_t map_used; /* bytes up to the highest page in use */
};

/* Opens (creating unless read-only) the environment in directory 'path',
 * which must exist, with 'config' (NULL for defaults; copied). Stores the
 * handle in '*out'. STORE_EVERSION for an unknown on-disk format,
 * STORE_ECORRUPT for an unreadable meta record, STORE_EIO / errno codes from
 * LMDB, LIB_ENOMEM. */
int store_fsm_open(struct store_fsm **out, const char *path,
                   const struct store_fsm_config *config) STRATA_WARN_UNUSED;

/* Closes the environment and frees 'fsm' (may be NULL). Committed batches
 * stay; with the default no-sync mode the last ones may be lost on a machine
 * crash and are re-applied from the raft log (see fsm.c). */
void store_fsm_close(struct store_fsm *fsm);

/* Applies 'n' entries in one write transaction and commits it, then calls
 * the live-event callback for each new event. Fills 'results[0..n)'.
 * Returns 0 when committed; otherwise nothing is applied, the results are
 * unspecified and the same batch can be retried after store_fsm_recover():
 * STORE_EMAPFULL (grow with store_fsm_set_map_size()), STORE_ENOSPC,
 * STORE_EIO, LIB_ENOMEM, or — while the handle is in the sticky failed
 * state — STORE_EPANIC. STORE_ERDONLY on a read-only handle. */
int store_fsm_apply_batch(struct store_fsm *fsm, const struct store_entry *entries, size_t n,
                          struct store_result *results) STRATA_WARN_UNUSED;

/* Leaves the sticky failed state: reopens the environment and reloads the
 * state from the last commit. 0 (also when not failed) or the open error. */
int store_fsm_recover(struct store_fsm *fsm) STRATA_WARN_UNUSED;

/* The last storage error (0 when the handle accepts writes). */
int store_fsm_failed(const struct store_fsm *fsm);

/* Space gate for a leader before proposing a write of about 'bytes':
 * STORE_EMAPFULL when the map cannot take it with headroom, STORE_ENOSPC
 * when the disk holding the environment cannot, 0 otherwise. */
int store_fsm_space_check(struct store_fsm *fsm, size_t bytes) STRATA_WARN_UNUSED;

/* Sets the map size to 'size' bytes (must not shrink below the data; 0 adopts
 * a size another process set). No transaction may be open in this process. */
int store_fsm_set_map_size(struct store_fsm *fsm, size_t size) STRATA_WARN_UNUSED;

/* Forces committed data to disk (snapshot points, clean shutdown). */
int store_fsm_sync(struct store_fsm *fsm) STRATA_WARN_UNUSED;

/* State of the last commit (read through a read transaction, so a read-only
 * handle sees the writer's progress). */
int store_fsm_status(struct store_fsm *fsm, struct store_fsm_status *st) STRATA_WARN_UNUSED;

/* Copies the consistency hash into 'out' and the revision it covers into
 * '*revision'. Replicas that applied the same entries report equal pairs. */
int store_fsm_hash(struct store_fsm *fsm, uint64_t *revision,
                   uint8_t out[STORE_HASH_SIZE]) STRATA_WARN_UNUSED;

/* The consistency checkpoint: the hash as it stood right after the last
 * revision that is a multiple of the checkpoint interval, applied since this
 * handle was opened. Every replica passes the same checkpoints whatever its
 * batching, so replicas compare (revision, hash) pairs to detect divergence.
 * STORE_ENOTFOUND before the first checkpoint. */
int store_fsm_checkpoint(struct store_fsm *fsm, uint64_t *revision,
                         uint8_t out[STORE_HASH_SIZE]) STRATA_WARN_UNUSED;

/* Serializable local read: executes the RANGE 'op' on the current state
 * and appends the encoded store_reply (kind RANGE) to 'reply'. STORE_EFORMAT
 * when 'op' is not a valid RANGE. */
int store_fsm_range(struct store_fsm *fsm, const struct store_op *op,
                    struct buf *reply) STRATA_WARN_UNUSED;

/* Calls 'cb' for each live key selected by 'sel' in key order, at most
 * 'limit' (0: all), inside one read transaction; the views are valid only
 * during the callback. '*revision' (may be NULL) gets the revision read. */
int store_fsm_scan(struct store_fsm *fsm, const struct store_keysel *sel, uint32_t limit,
                   store_kv_fn *cb, void *arg, uint64_t *revision) STRATA_WARN_UNUSED;

/* Reads one key: copies its value into 'value' (reset first; may be NULL)
 * and its metadata into '*kv' (views NULL). STORE_ENOTFOUND when absent. */
int store_fsm_get(struct store_fsm *fsm, const void *key, uint32_t key_size,
                  struct store_kv *kv, struct buf *value) STRATA_WARN_UNUSED;

/* Watch support: calls 'cb' for the history events with revision >=
 * 'from_rev' whose key 'sel' selects (NULL: all), in revision then sub
 * order. With 'limit' (0: none) it stops at the first revision boundary
 * after 'limit' events, so a revision is never split across calls.
 * '*next_rev' (may be NULL) gets the revision to resume from: one past the
 * last revision fully delivered, or the revision at which 'cb' stopped. STORE_ECOMPACTED when from_rev <= the compacted revision
 * (events are gone); a from_rev past the current revision delivers nothing
 * and returns 0 (the watcher waits for live events). */
int store_fsm_history(struct store_fsm *fsm, uint64_t from_rev, const struct store_keysel *sel,
                      uint32_t limit, store_history_fn *cb, void *arg,
                      uint64_t *next_rev) STRATA_WARN_UNUSED;

/* Appends to 'out' a snapshot of the whole state (kv, history, meta) taken
 * from one read transaction: a versioned, checksummed, deterministic format
 * (replicas with equal state produce equal bytes). */
int store_fsm_snapshot(struct store_fsm *fsm, struct buf *out) STRATA_WARN_UNUSED;

/* A consistent read-only view of the state for a snapshot written on
 * another thread while this handle keeps applying batches: begin and end
 * on the handle's thread, store_fsm_view_snapshot() on any one thread in
 * between. While a view is open, store_fsm_recover() and
 * store_fsm_set_map_size() return STORE_EBUSY, and the handle must not be
 * closed. */
struct store_fsm_view;
int store_fsm_view_begin(struct store_fsm *fsm, struct store_fsm_view **out) STRATA_WARN_UNUSED;
uint64_t store_fsm_view_applied(const struct store_fsm_view *view); /* raft index it holds */
int store_fsm_view_snapshot(struct store_fsm_view *view, struct buf *out) STRATA_WARN_UNUSED;
void store_fsm_view_end(struct store_fsm_view *view);
/* store_fsm_sync() for the environment of an open view, from any one
 * thread: every commit made before the view began is on disk when it
 * returns 0 (the view keeps the environment open, as store_fsm_recover()
 * waits for views to end). The node syncs on its snapshot worker thread,
 * so the loop thread does not wait for the flush of the dirty pages of
 * unsynced commits. */
int store_fsm_view_sync(struct store_fsm_view *view) STRATA_WARN_UNUSED;

/* Replaces the whole state with the snapshot of 'size' bytes at 'data' in
 * one write transaction. STORE_EFORMAT (or STORE_EVERSION) for a malformed
 * snapshot, STORE_ETOOLARGE for one with keys/values past this handle's caps,
 * storage errors as store_fsm_apply_batch(); on any error the old state is
 * intact. No events are delivered for a restore. */
int store_fsm_restore(struct store_fsm *fsm, const void *data, size_t size) STRATA_WARN_UNUSED;

/* Reads the raft index a snapshot was taken at from its header into
 * '*applied' without checking the rest (store_fsm_restore() does):
 * STORE_EFORMAT or STORE_EVERSION when the header is not one of ours. */
int store_fsm_snapshot_applied(const void *data, size_t size, uint64_t *applied) STRATA_WARN_UNUSED;

/* Checks the stored invariants (every record parses; keys in order and
 * within caps; 1 <= create <= mod <= revision, version >= 1; history keys
 * increasing within (compacted, revision]) from one read transaction.
 * 0 or STORE_ECORRUPT (or a storage error). Costs a full snapshot: for tests
 * and operator checks, not the hot path. */
int store_fsm_audit(struct store_fsm *fsm) STRATA_WARN_UNUSED;

#ifdef STRATA_TEST_HOOKS
/* Test builds: when not UINT64_MAX, store_fsm_space_check() takes this as the
 * free disk space instead of asking statvfs(). */
extern uint64_t store_fsm_test_disk_avail;
#endif

#endif

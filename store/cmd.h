/* The store's replicated command and reply formats: what a client asks of the
 * key-value state machine (put, delete, range read, transaction with
 * compares, compaction) and what each applied command answers. Commands are
 * the bytes of raft log entries, replies travel back to the proposing client,
 * so both are versioned, length-checked binary encodings; decoding reads only
 * through lib/buf's cursor and checks every count against a cap before
 * allocating. decode(encode(x)) == x and encode(decode(b)) == b for every b
 * that decodes (the fuzz target asserts it). Error codes (STORE_EFORMAT, ...)
 * are in store/fsm.h.
 *
 * Wire format, version 1 (all integers big-endian):
 *   cmd     = u8 version(1) u8 kind body
 *   body    = op                                   (PUT, DELETE, RANGE)
 *           | u16 n cmp*n  u16 n op*n  u16 n op*n  (TXN: compares, then, else)
 *           | u64 revision                         (COMPACT)
 *   op      = u8 kind u8 flags keysel [u32 size value (PUT)] [u32 limit (RANGE)]
 *   keysel  = u8 kind u32 size key [u32 size end (INTERVAL)]
 *   cmp     = u8 target u8 op u32 size key (u32 size value | u64 number)
 *   reply   = u8 version(1) u8 kind u32 status u64 revision u8 succeeded
 *             u64 compact_revision u16 n op_result*n
 *   op_result = u8 kind u8 flags u64 count u32 n kv*n
 *   kv      = u32 size key u32 size value u64 create u64 mod u64 version
 * Trailing bytes, unknown kinds or flags, and sizes past the caps below are
 * malformed. */
#ifndef STRATA_STORE_CMD_H
#define STRATA_STORE_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

#define STORE_CMD_VERSION 1
/* Codec caps: the hard limits of the format. The FSM may be configured with
 * tighter key/value caps (struct store_fsm_config). */
#define STORE_KEY_MAX 4096u
#define STORE_VALUE_MAX (1024u * 1024u)
#define STORE_TXN_COMPARES_MAX 4096u /* compares per txn */
#define STORE_TXN_OPS_MAX 4096u     /* ops per branch of a txn */
#define STORE_REPLY_RESULTS_MAX STORE_TXN_OPS_MAX
/* Largest command the codec accepts: a full txn of maximal puts would be far
 * bigger, so this bounds the total instead (16 MiB). */
#define STORE_CMD_SIZE_MAX (16u * 1024u * 1024u)

enum store_cmd_kind {
    STORE_CMD_PUT = 1,
    STORE_CMD_DELETE = 2,
    STORE_CMD_RANGE = 3,
    STORE_CMD_TXN = 4,
    STORE_CMD_COMPACT = 5,
};

/* Which keys an operation addresses. KEY: exactly 'key' (non-empty).
 * INTERVAL: keys k with key <= k < end, byte-wise; an empty 'end' means no
 * upper bound. PREFIX: keys starting with 'key' (empty: every key). */
enum store_sel_kind {
    STORE_SEL_KEY = 1,
    STORE_SEL_INTERVAL = 2,
    STORE_SEL_PREFIX = 3,
};

/* Pointers are views: into the decoded input, or the caller's memory when
 * encoding. Never owned. */
struct store_keysel {
    uint8_t kind; /* enum store_sel_kind */
    const uint8_t *key;
    uint32_t key_size;
    const uint8_t *end; /* INTERVAL only */
    uint32_t end_size;
};

enum store_op_kind {
    STORE_OP_PUT = 1,    /* sel must be KEY */
    STORE_OP_DELETE = 2, /* any selector: delete, delete-range, delete-prefix */
    STORE_OP_RANGE = 3,  /* any selector */
};

/* Op flags. PREV_KV: PUT, DELETE (return the previous key-values).
 * KEYS_ONLY, COUNT_ONLY: RANGE. Other combinations are malformed. */
#define STORE_F_PREV_KV 0x01u
#define STORE_F_KEYS_ONLY 0x02u
#define STORE_F_COUNT_ONLY 0x04u

struct store_op {
    uint8_t kind;  /* enum store_op_kind */
    uint8_t flags; /* STORE_F_* */
    struct store_keysel sel;
    const uint8_t *value; /* PUT */
    uint32_t value_size;
    uint32_t limit; /* RANGE: most key-values returned, 0 for no limit */
};

/* Compare targets. A missing key has version, create and mod revision 0, so
 * "exists" is CREATE != 0; a VALUE compare on a missing key is false.
 * COUNT treats 'key' as a prefix and compares how many live keys start with
 * it: "no children" is COUNT(prefix) == 0, atomically with the rest of the
 * transaction, without making concurrent creators conflict on one key. */
enum store_cmp_target {
    STORE_CMP_VALUE = 1,
    STORE_CMP_VERSION = 2,
    STORE_CMP_CREATE = 3,
    STORE_CMP_MOD = 4,
    STORE_CMP_COUNT = 5, /* live keys starting with 'key' (a prefix), vs 'number' */
};

enum store_cmp_op {
    STORE_CMP_EQ = 1,
    STORE_CMP_NE = 2,
    STORE_CMP_LT = 3,
    STORE_CMP_GT = 4,
};

struct store_compare {
    uint8_t target; /* enum store_cmp_target */
    uint8_t op;     /* enum store_cmp_op */
    const uint8_t *key;
    uint32_t key_size;    /* non-empty */
    const uint8_t *value; /* VALUE: byte-wise compare (memcmp, then length) */
    uint32_t value_size;
    uint64_t number; /* VERSION, CREATE, MOD */
};

/* A decoded command. For PUT/DELETE/RANGE only 'op' is used; TXN uses the
 * arrays (all compares true: 'success' ops, else 'failure' ops, in order, as
 * one revision); COMPACT uses 'compact_revision'. Arrays are allocated by
 * store_cmd_decode() and freed by store_cmd_destroy(); when encoding they are
 * the caller's. Ops inside a txn are PUT, DELETE or RANGE. */
struct store_cmd {
    uint8_t kind; /* enum store_cmd_kind */
    struct store_op op;
    struct store_compare *compares;
    uint32_t compares_len;
    struct store_op *success;
    uint32_t success_len;
    struct store_op *failure;
    uint32_t failure_len;
    uint64_t compact_revision;
    void *alloc_; /* decoder's allocation, internal */
};

/* One key-value as returned by reads and in replies: views, never owned. */
struct store_kv {
    const uint8_t *key;
    uint32_t key_size;
    const uint8_t *value;
    uint32_t value_size;
    uint64_t create_revision;
    uint64_t mod_revision;
    uint64_t version;
};

/* The result of one op. PUT: kvs[0] is the previous key-value when PREV_KV
 * was asked and the key existed; count 0. DELETE: count = keys deleted, kvs
 * the deleted key-values when PREV_KV. RANGE: count = all matching keys,
 * kvs the first 'limit' of them in key order (values empty with KEYS_ONLY,
 * none with COUNT_ONLY), flags has STORE_R_MORE when kvs were cut short. */
#define STORE_R_MORE 0x01u

struct store_op_result {
    uint8_t kind; /* enum store_op_kind */
    uint8_t flags;
    uint64_t count;
    struct store_kv *kvs;
    uint32_t kvs_len;
};

/* The answer to one applied command. 'status' is 0 or a negative STORE_E*
 * code for a rejected entry (then nothing else is set). 'revision' is the
 * store revision after the command. TXN: 'succeeded' tells which branch ran,
 * 'results' has one entry per op of that branch. PUT/DELETE/RANGE: one
 * result. COMPACT: 'compact_revision' is the compacted revision now. */
struct store_reply {
    uint8_t kind; /* enum store_cmd_kind, 0 when status says the command was malformed */
    int32_t status;
    uint64_t revision;
    uint8_t succeeded;
    uint64_t compact_revision;
    struct store_op_result *results;
    uint32_t results_len;
    void *alloc_; /* decoder's allocation, internal */
};

/* Appends the encoding of 'cmd' to 'out'. Validates as the decoder does:
 * STORE_EFORMAT for a command the decoder would reject (bad kind, flags,
 * empty key, count past a cap), LIB_ETOOBIG/LIB_ENOMEM from the buffer. On
 * error 'out' keeps its previous size. */
int store_cmd_encode(const struct store_cmd *cmd, struct buf *out) STRATA_WARN_UNUSED;

/* Decodes 'size' bytes at 'data' into '*cmd' (whose views then point into
 * 'data', which must outlive it). 0, STORE_EFORMAT or LIB_ENOMEM. On error
 * '*cmd' holds nothing to free; on success free with store_cmd_destroy().
 * Allocates only for TXN. */
int store_cmd_decode(struct store_cmd *cmd, const void *data, size_t size) STRATA_WARN_UNUSED;

/* Frees what store_cmd_decode() allocated; 'cmd' may be NULL. */
void store_cmd_destroy(struct store_cmd *cmd);

/* Appends the encoding of 'reply' to 'out'; errors as store_cmd_encode(). */
int store_reply_encode(const struct store_reply *reply, struct buf *out) STRATA_WARN_UNUSED;

/* Decodes a reply; views point into 'data'. 0, STORE_EFORMAT or LIB_ENOMEM;
 * free with store_reply_destroy() after success. */
int store_reply_decode(struct store_reply *reply, const void *data, size_t size) STRATA_WARN_UNUSED;

/* Frees what store_reply_decode() allocated; 'reply' may be NULL. */
void store_reply_destroy(struct store_reply *reply);

/* Convenience encoders for the single-op commands (they build a store_cmd and
 * call store_cmd_encode()). 'flags' are STORE_F_*. */
int store_cmd_encode_put(struct buf *out, const void *key, uint32_t key_size, const void *value,
                         uint32_t value_size, uint8_t flags) STRATA_WARN_UNUSED;
int store_cmd_encode_delete(struct buf *out, const struct store_keysel *sel,
                            uint8_t flags) STRATA_WARN_UNUSED;
int store_cmd_encode_range(struct buf *out, const struct store_keysel *sel, uint32_t limit,
                           uint8_t flags) STRATA_WARN_UNUSED;
int store_cmd_encode_compact(struct buf *out, uint64_t revision) STRATA_WARN_UNUSED;

/* Selector constructors (views of the arguments). */
struct store_keysel store_sel_key(const void *key, uint32_t key_size);
struct store_keysel store_sel_interval(const void *start, uint32_t start_size, const void *end,
                                       uint32_t end_size);
struct store_keysel store_sel_prefix(const void *prefix, uint32_t prefix_size);

/* True when 'key' is selected by 'sel'. */
int store_sel_match(const struct store_keysel *sel, const uint8_t *key, uint32_t key_size);

#endif

/* Encoders and decoders for the store's commands and replies (format in
 * cmd.h). Decoders make two passes over the input with the checked cursor:
 * the first validates everything and counts the array elements, the second
 * fills one allocation sized from those counts, so no count read off the
 * wire ever sizes an allocation before the bytes behind it were checked. */
#include "store/cmd.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store/fsm.h"

/* The store's error table lives here: every user of store/ links this file. */
STRATA_ERR_DEFINE(store, STORE_ERRORS)

/* Smallest encodings, to bound counts by the bytes that remain. */
#define CMD_MIN_OP 7      /* kind flags selkind u32 */
#define CMD_MIN_CMP 14    /* target op u32 key(>=1) u64 */
#define CMD_MIN_RESULT 14 /* kind flags u64 u32 */
#define CMD_MIN_KV 32     /* u32 u32 u64*3 */

/* ---- validation shared by encoders and decoders ---- */

static int cmd_sel_check(const struct store_keysel *sel)
{
    switch (sel->kind) {
    case STORE_SEL_KEY:
        return sel->key_size >= 1 && sel->key_size <= STORE_KEY_MAX ? 0 : STORE_EFORMAT;
    case STORE_SEL_INTERVAL:
        return sel->key_size <= STORE_KEY_MAX && sel->end_size <= STORE_KEY_MAX ? 0 : STORE_EFORMAT;
    case STORE_SEL_PREFIX:
        return sel->key_size <= STORE_KEY_MAX ? 0 : STORE_EFORMAT;
    default:
        return STORE_EFORMAT;
    }
}

static int cmd_op_check(const struct store_op *op)
{
    switch (op->kind) {
    case STORE_OP_PUT:
        if ((op->flags & ~STORE_F_PREV_KV) || op->sel.kind != STORE_SEL_KEY ||
            op->value_size > STORE_VALUE_MAX) {
            return STORE_EFORMAT;
        }
        break;
    case STORE_OP_DELETE:
        if (op->flags & ~STORE_F_PREV_KV) {
            return STORE_EFORMAT;
        }
        break;
    case STORE_OP_RANGE:
        if (op->flags & ~(STORE_F_KEYS_ONLY | STORE_F_COUNT_ONLY)) {
            return STORE_EFORMAT;
        }
        break;
    default:
        return STORE_EFORMAT;
    }
    return cmd_sel_check(&op->sel);
}

static int cmd_cmp_check(const struct store_compare *c)
{
    if (c->target < STORE_CMP_VALUE || c->target > STORE_CMP_COUNT || c->op < STORE_CMP_EQ ||
        c->op > STORE_CMP_GT || c->key_size < 1 || c->key_size > STORE_KEY_MAX ||
        (c->target == STORE_CMP_VALUE && c->value_size > STORE_VALUE_MAX)) {
        return STORE_EFORMAT;
    }
    return 0;
}

static int cmd_kv_check(const struct store_kv *kv)
{
    return kv->key_size <= STORE_KEY_MAX && kv->value_size <= STORE_VALUE_MAX ? 0 : STORE_EFORMAT;
}

/* ---- encoding ---- */

static int cmd_put_blob(struct buf *out, const uint8_t *p, uint32_t size)
{
    int rc = buf_put_u32(out, size);
    if (rc == 0 && size) {
        rc = buf_put(out, p, size);
    }
    return rc;
}

static int cmd_put_op(struct buf *out, const struct store_op *op)
{
    int rc = buf_put_u8(out, op->kind);
    rc = rc ? rc : buf_put_u8(out, op->flags);
    rc = rc ? rc : buf_put_u8(out, op->sel.kind);
    rc = rc ? rc : cmd_put_blob(out, op->sel.key, op->sel.key_size);
    if (rc == 0 && op->sel.kind == STORE_SEL_INTERVAL) {
        rc = cmd_put_blob(out, op->sel.end, op->sel.end_size);
    }
    if (rc == 0 && op->kind == STORE_OP_PUT) {
        rc = cmd_put_blob(out, op->value, op->value_size);
    }
    if (rc == 0 && op->kind == STORE_OP_RANGE) {
        rc = buf_put_u32(out, op->limit);
    }
    return rc;
}

static int cmd_put_ops(struct buf *out, const struct store_op *ops, uint32_t len)
{
    if (len > STORE_TXN_OPS_MAX || (len && !ops)) {
        return STORE_EFORMAT;
    }
    int rc = buf_put_u16(out, (uint16_t)len);
    for (uint32_t i = 0; rc == 0 && i < len; i++) {
        rc = cmd_op_check(&ops[i]);
        rc = rc ? rc : cmd_put_op(out, &ops[i]);
    }
    return rc;
}

static int cmd_encode_body(const struct store_cmd *cmd, struct buf *out)
{
    int rc = buf_put_u8(out, STORE_CMD_VERSION);
    rc = rc ? rc : buf_put_u8(out, cmd->kind);
    if (rc) {
        return rc;
    }
    switch (cmd->kind) {
    case STORE_CMD_PUT:
    case STORE_CMD_DELETE:
    case STORE_CMD_RANGE:
        if (cmd->op.kind != (cmd->kind == STORE_CMD_PUT      ? STORE_OP_PUT
                             : cmd->kind == STORE_CMD_DELETE ? STORE_OP_DELETE
                                                             : STORE_OP_RANGE)) {
            return STORE_EFORMAT;
        }
        rc = cmd_op_check(&cmd->op);
        return rc ? rc : cmd_put_op(out, &cmd->op);
    case STORE_CMD_TXN:
        if (cmd->compares_len > STORE_TXN_COMPARES_MAX || (cmd->compares_len && !cmd->compares)) {
            return STORE_EFORMAT;
        }
        rc = buf_put_u16(out, (uint16_t)cmd->compares_len);
        for (uint32_t i = 0; rc == 0 && i < cmd->compares_len; i++) {
            const struct store_compare *c = &cmd->compares[i];
            rc = cmd_cmp_check(c);
            rc = rc ? rc : buf_put_u8(out, c->target);
            rc = rc ? rc : buf_put_u8(out, c->op);
            rc = rc ? rc : cmd_put_blob(out, c->key, c->key_size);
            if (rc == 0) {
                rc = c->target == STORE_CMP_VALUE ? cmd_put_blob(out, c->value, c->value_size)
                                                  : buf_put_u64(out, c->number);
            }
        }
        rc = rc ? rc : cmd_put_ops(out, cmd->success, cmd->success_len);
        return rc ? rc : cmd_put_ops(out, cmd->failure, cmd->failure_len);
    case STORE_CMD_COMPACT:
        return buf_put_u64(out, cmd->compact_revision);
    default:
        return STORE_EFORMAT;
    }
}

int store_cmd_encode(const struct store_cmd *cmd, struct buf *out)
{
    size_t mark = out->size;
    int rc = cmd_encode_body(cmd, out);
    if (rc == 0 && out->size - mark > STORE_CMD_SIZE_MAX) {
        rc = STORE_ETOOLARGE;
    }
    if (rc) {
        out->size = mark;
    }
    return rc;
}

int store_cmd_encode_put(struct buf *out, const void *key, uint32_t key_size, const void *value,
                         uint32_t value_size, uint8_t flags)
{
    struct store_cmd cmd = {.kind = STORE_CMD_PUT};
    cmd.op.kind = STORE_OP_PUT;
    cmd.op.flags = flags;
    cmd.op.sel = store_sel_key(key, key_size);
    cmd.op.value = value;
    cmd.op.value_size = value_size;
    return store_cmd_encode(&cmd, out);
}

int store_cmd_encode_delete(struct buf *out, const struct store_keysel *sel, uint8_t flags)
{
    struct store_cmd cmd = {.kind = STORE_CMD_DELETE};
    cmd.op.kind = STORE_OP_DELETE;
    cmd.op.flags = flags;
    cmd.op.sel = *sel;
    return store_cmd_encode(&cmd, out);
}

int store_cmd_encode_range(struct buf *out, const struct store_keysel *sel, uint32_t limit,
                           uint8_t flags)
{
    struct store_cmd cmd = {.kind = STORE_CMD_RANGE};
    cmd.op.kind = STORE_OP_RANGE;
    cmd.op.flags = flags;
    cmd.op.sel = *sel;
    cmd.op.limit = limit;
    return store_cmd_encode(&cmd, out);
}

int store_cmd_encode_compact(struct buf *out, uint64_t revision)
{
    struct store_cmd cmd = {.kind = STORE_CMD_COMPACT, .compact_revision = revision};
    return store_cmd_encode(&cmd, out);
}

/* ---- decoding ---- */

/* Reads a u32 size then a view of that many bytes, at most 'max'. */
static int cmd_get_blob(struct cursor *c, uint32_t max, const uint8_t **p, uint32_t *size)
{
    uint32_t n;
    if (buf_get_u32(c, &n) != 0 || n > max || buf_get_view(c, n, p) != 0) {
        return STORE_EFORMAT;
    }
    *size = n;
    if (n == 0) {
        *p = NULL;
    }
    return 0;
}

static int cmd_get_op(struct cursor *c, struct store_op *op)
{
    memset(op, 0, sizeof *op);
    if (buf_get_u8(c, &op->kind) || buf_get_u8(c, &op->flags) || buf_get_u8(c, &op->sel.kind) ||
        cmd_get_blob(c, STORE_KEY_MAX, &op->sel.key, &op->sel.key_size)) {
        return STORE_EFORMAT;
    }
    if (op->sel.kind == STORE_SEL_INTERVAL &&
        cmd_get_blob(c, STORE_KEY_MAX, &op->sel.end, &op->sel.end_size)) {
        return STORE_EFORMAT;
    }
    if (op->kind == STORE_OP_PUT && cmd_get_blob(c, STORE_VALUE_MAX, &op->value, &op->value_size)) {
        return STORE_EFORMAT;
    }
    if (op->kind == STORE_OP_RANGE && buf_get_u32(c, &op->limit)) {
        return STORE_EFORMAT;
    }
    return cmd_op_check(op);
}

static int cmd_get_cmp(struct cursor *c, struct store_compare *cmp)
{
    memset(cmp, 0, sizeof *cmp);
    if (buf_get_u8(c, &cmp->target) || buf_get_u8(c, &cmp->op) ||
        cmd_get_blob(c, STORE_KEY_MAX, &cmp->key, &cmp->key_size)) {
        return STORE_EFORMAT;
    }
    if (cmp->target == STORE_CMP_VALUE) {
        if (cmd_get_blob(c, STORE_VALUE_MAX, &cmp->value, &cmp->value_size)) {
            return STORE_EFORMAT;
        }
    } else if (buf_get_u64(c, &cmp->number)) {
        return STORE_EFORMAT;
    }
    return cmd_cmp_check(cmp);
}

/* Reads a u16 count of at most 'max' elements of at least 'min' bytes. */
static int cmd_get_count(struct cursor *c, uint32_t max, size_t min, uint32_t *n)
{
    uint16_t v;
    if (buf_get_u16(c, &v) || v > max || (size_t)v * min > cursor_remaining(c)) {
        return STORE_EFORMAT;
    }
    *n = v;
    return 0;
}

/* One pass over a TXN body; with 'fill' false only counts into 'cmd'. */
static int cmd_get_txn(struct cursor *c, struct store_cmd *cmd, bool fill)
{
    struct store_compare cmp;
    struct store_op op;
    uint32_t n;
    if (cmd_get_count(c, STORE_TXN_COMPARES_MAX, CMD_MIN_CMP, &n)) {
        return STORE_EFORMAT;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (cmd_get_cmp(c, fill ? &cmd->compares[i] : &cmp)) {
            return STORE_EFORMAT;
        }
    }
    cmd->compares_len = n;
    for (int branch = 0; branch < 2; branch++) {
        struct store_op *ops = branch == 0 ? cmd->success : cmd->failure;
        if (cmd_get_count(c, STORE_TXN_OPS_MAX, CMD_MIN_OP, &n)) {
            return STORE_EFORMAT;
        }
        for (uint32_t i = 0; i < n; i++) {
            if (cmd_get_op(c, fill ? &ops[i] : &op)) {
                return STORE_EFORMAT;
            }
        }
        *(branch == 0 ? &cmd->success_len : &cmd->failure_len) = n;
    }
    return 0;
}

int store_cmd_decode(struct store_cmd *cmd, const void *data, size_t size)
{
    struct cursor c;
    uint8_t version;
    memset(cmd, 0, sizeof *cmd);
    if (size > STORE_CMD_SIZE_MAX) {
        return STORE_EFORMAT;
    }
    cursor_init(&c, data, size);
    if (buf_get_u8(&c, &version) || version != STORE_CMD_VERSION || buf_get_u8(&c, &cmd->kind)) {
        return STORE_EFORMAT;
    }
    int rc = 0;
    switch (cmd->kind) {
    case STORE_CMD_PUT:
    case STORE_CMD_DELETE:
    case STORE_CMD_RANGE:
        rc = cmd_get_op(&c, &cmd->op);
        if (rc == 0 && cmd->op.kind != (cmd->kind == STORE_CMD_PUT      ? STORE_OP_PUT
                                        : cmd->kind == STORE_CMD_DELETE ? STORE_OP_DELETE
                                                                        : STORE_OP_RANGE)) {
            rc = STORE_EFORMAT;
        }
        break;
    case STORE_CMD_TXN: {
        struct cursor again = c;
        rc = cmd_get_txn(&c, cmd, false);
        if (rc) {
            break;
        }
        size_t total = cmd->compares_len + cmd->success_len + cmd->failure_len;
        if (total == 0) {
            break; /* an empty txn needs no arrays */
        }
        void *mem = calloc(1, cmd->compares_len * sizeof(struct store_compare) +
                                  (cmd->success_len + cmd->failure_len) * sizeof(struct store_op));
        if (!mem) {
            memset(cmd, 0, sizeof *cmd);
            return LIB_ENOMEM;
        }
        cmd->alloc_ = mem;
        cmd->compares = cmd->compares_len ? mem : NULL;
        struct store_op *ops = (struct store_op *)((struct store_compare *)mem + cmd->compares_len);
        cmd->success = cmd->success_len ? ops : NULL;
        cmd->failure = cmd->failure_len ? ops + cmd->success_len : NULL;
        c = again;
        rc = cmd_get_txn(&c, cmd, true);
        break;
    }
    case STORE_CMD_COMPACT:
        rc = buf_get_u64(&c, &cmd->compact_revision) ? STORE_EFORMAT : 0;
        break;
    default:
        rc = STORE_EFORMAT;
        break;
    }
    if (rc == 0 && cursor_remaining(&c) != 0) {
        rc = STORE_EFORMAT;
    }
    if (rc) {
        store_cmd_destroy(cmd);
    }
    return rc;
}

void store_cmd_destroy(struct store_cmd *cmd)
{
    if (!cmd) {
        return;
    }
    free(cmd->alloc_);
    memset(cmd, 0, sizeof *cmd);
}

/* ---- replies ---- */

static int cmd_put_kv(struct buf *out, const struct store_kv *kv)
{
    int rc = cmd_kv_check(kv);
    rc = rc ? rc : cmd_put_blob(out, kv->key, kv->key_size);
    rc = rc ? rc : cmd_put_blob(out, kv->value, kv->value_size);
    rc = rc ? rc : buf_put_u64(out, kv->create_revision);
    rc = rc ? rc : buf_put_u64(out, kv->mod_revision);
    return rc ? rc : buf_put_u64(out, kv->version);
}

static int cmd_reply_check(const struct store_reply *r)
{
    if (r->kind > STORE_CMD_COMPACT || (r->kind == 0 && r->status == 0) || r->status > 0 ||
        r->succeeded > 1 || r->results_len > STORE_REPLY_RESULTS_MAX ||
        (r->results_len && !r->results)) {
        return STORE_EFORMAT;
    }
    return 0;
}

static int cmd_result_check(const struct store_op_result *res)
{
    if (res->kind < STORE_OP_PUT || res->kind > STORE_OP_RANGE || (res->flags & ~STORE_R_MORE) ||
        (res->kvs_len && !res->kvs)) {
        return STORE_EFORMAT;
    }
    return 0;
}

int store_reply_encode(const struct store_reply *reply, struct buf *out)
{
    size_t mark = out->size;
    int rc = cmd_reply_check(reply);
    rc = rc ? rc : buf_put_u8(out, STORE_CMD_VERSION);
    rc = rc ? rc : buf_put_u8(out, reply->kind);
    rc = rc ? rc : buf_put_u32(out, (uint32_t)reply->status);
    rc = rc ? rc : buf_put_u64(out, reply->revision);
    rc = rc ? rc : buf_put_u8(out, reply->succeeded);
    rc = rc ? rc : buf_put_u64(out, reply->compact_revision);
    rc = rc ? rc : buf_put_u16(out, (uint16_t)reply->results_len);
    for (uint32_t i = 0; rc == 0 && i < reply->results_len; i++) {
        const struct store_op_result *res = &reply->results[i];
        rc = cmd_result_check(res);
        rc = rc ? rc : buf_put_u8(out, res->kind);
        rc = rc ? rc : buf_put_u8(out, res->flags);
        rc = rc ? rc : buf_put_u64(out, res->count);
        rc = rc ? rc : buf_put_u32(out, res->kvs_len);
        for (uint32_t k = 0; rc == 0 && k < res->kvs_len; k++) {
            rc = cmd_put_kv(out, &res->kvs[k]);
        }
    }
    if (rc) {
        out->size = mark;
    }
    return rc;
}

static int cmd_get_kv(struct cursor *c, struct store_kv *kv)
{
    if (cmd_get_blob(c, STORE_KEY_MAX, &kv->key, &kv->key_size) ||
        cmd_get_blob(c, STORE_VALUE_MAX, &kv->value, &kv->value_size) ||
        buf_get_u64(c, &kv->create_revision) || buf_get_u64(c, &kv->mod_revision) ||
        buf_get_u64(c, &kv->version)) {
        return STORE_EFORMAT;
    }
    return 0;
}

/* One pass over the results; with 'fill' false only validates and counts
 * the key-values into '*total', with 'fill' true stores them from 'kvs'. */
static int cmd_get_results(struct cursor *c, struct store_reply *r, bool fill,
                           struct store_kv *kvs, size_t *total)
{
    struct store_op_result tmp;
    struct store_kv kv;
    size_t used = 0;
    for (uint32_t i = 0; i < r->results_len; i++) {
        struct store_op_result *res = fill ? &r->results[i] : &tmp;
        uint32_t n;
        memset(res, 0, sizeof *res);
        if (buf_get_u8(c, &res->kind) || buf_get_u8(c, &res->flags) || buf_get_u64(c, &res->count) ||
            buf_get_u32(c, &n) || (size_t)n * CMD_MIN_KV > cursor_remaining(c)) {
            return STORE_EFORMAT;
        }
        res->kvs_len = n;
        res->kvs = fill && n ? kvs + used : NULL;
        for (uint32_t k = 0; k < n; k++) {
            if (cmd_get_kv(c, fill ? &kvs[used + k] : &kv)) {
                return STORE_EFORMAT;
            }
        }
        used += n;
        if (res->kind < STORE_OP_PUT || res->kind > STORE_OP_RANGE || (res->flags & ~STORE_R_MORE)) {
            return STORE_EFORMAT;
        }
    }
    *total = used;
    return 0;
}

int store_reply_decode(struct store_reply *reply, const void *data, size_t size)
{
    struct cursor c;
    uint8_t version;
    uint32_t status;
    uint16_t n;
    memset(reply, 0, sizeof *reply);
    cursor_init(&c, data, size);
    if (buf_get_u8(&c, &version) || version != STORE_CMD_VERSION || buf_get_u8(&c, &reply->kind) ||
        buf_get_u32(&c, &status) || buf_get_u64(&c, &reply->revision) ||
        buf_get_u8(&c, &reply->succeeded) || buf_get_u64(&c, &reply->compact_revision) ||
        buf_get_u16(&c, &n) || n > STORE_REPLY_RESULTS_MAX ||
        (size_t)n * CMD_MIN_RESULT > cursor_remaining(&c)) {
        memset(reply, 0, sizeof *reply);
        return STORE_EFORMAT;
    }
    reply->status = (int32_t)status;
    reply->results_len = n;
    struct cursor again = c;
    size_t total = 0;
    if (cmd_reply_check(&(struct store_reply){.kind = reply->kind,
                                              .status = reply->status,
                                              .succeeded = reply->succeeded}) ||
        cmd_get_results(&c, reply, false, NULL, &total) || cursor_remaining(&c) != 0) {
        memset(reply, 0, sizeof *reply);
        return STORE_EFORMAT;
    }
    if (n == 0) {
        return 0;
    }
    void *mem = calloc(1, n * sizeof(struct store_op_result) + total * sizeof(struct store_kv));
    if (!mem) {
        memset(reply, 0, sizeof *reply);
        return LIB_ENOMEM;
    }
    reply->alloc_ = mem;
    reply->results = mem;
    struct store_kv *kvs = (struct store_kv *)(reply->results + n);
    c = again;
    size_t again_total;
    /* The first pass validated every byte, so this one cannot fail. */
    if (cmd_get_results(&c, reply, true, kvs, &again_total)) {
        store_reply_destroy(reply);
        return STORE_EFORMAT;
    }
    return 0;
}

void store_reply_destroy(struct store_reply *reply)
{
    if (!reply) {
        return;
    }
    free(reply->alloc_);
    memset(reply, 0, sizeof *reply);
}

/* ---- selectors ---- */

struct store_keysel store_sel_key(const void *key, uint32_t key_size)
{
    return (struct store_keysel){.kind = STORE_SEL_KEY, .key = key, .key_size = key_size};
}

struct store_keysel store_sel_interval(const void *start, uint32_t start_size, const void *end,
                                       uint32_t end_size)
{
    return (struct store_keysel){.kind = STORE_SEL_INTERVAL,
                                 .key = start,
                                 .key_size = start_size,
                                 .end = end,
                                 .end_size = end_size};
}

struct store_keysel store_sel_prefix(const void *prefix, uint32_t prefix_size)
{
    return (struct store_keysel){.kind = STORE_SEL_PREFIX, .key = prefix, .key_size = prefix_size};
}

/* Byte-wise order of two strings, shorter first on a common prefix. */
static int cmd_bytes_cmp(const uint8_t *a, uint32_t an, const uint8_t *b, uint32_t bn)
{
    uint32_t n = an < bn ? an : bn;
    int r = n ? memcmp(a, b, n) : 0;
    if (r) {
        return r;
    }
    return an < bn ? -1 : an > bn ? 1 : 0;
}

int store_sel_match(const struct store_keysel *sel, const uint8_t *key, uint32_t key_size)
{
    switch (sel->kind) {
    case STORE_SEL_KEY:
        return cmd_bytes_cmp(key, key_size, sel->key, sel->key_size) == 0;
    case STORE_SEL_INTERVAL:
        return cmd_bytes_cmp(key, key_size, sel->key, sel->key_size) >= 0 &&
               (sel->end_size == 0 || cmd_bytes_cmp(key, key_size, sel->end, sel->end_size) < 0);
    case STORE_SEL_PREFIX:
        return key_size >= sel->key_size &&
               (sel->key_size == 0 || memcmp(key, sel->key, sel->key_size) == 0);
    default:
        return 0;
    }
}

/* The config object graph as optimistic store transactions (see graph.h and
 * docs/design-config.md for the key layout). Every write operation is a loop:
 * read what the decision depends on (serializable reads are enough: the
 * compares catch anything they missed), decide, build one transaction whose
 * compares restate each assumption, propose it; if a compare failed, go round
 * again, where the fresh reads either find the reason to refuse (fq_name
 * taken, parent gone, If-Match stale, children appeared) or a new plan. */
#include "compiler/graph.h"
#include "compiler/compile.h"
#include "compiler/derive.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/vec.h"
#include "store/client.h"
#include "store/cmd.h"
#include "store/fsm.h"
#include "store/proto.h"

STRATA_ERR_DEFINE(graph, GRAPH_ERRORS)

#define SEP "\x1f" /* fq_name element separator in /c/f/ keys */

int graph_http_status(int code)
{
    switch (code) {
    case 0:
        return 200;
    case GRAPH_ENOTFOUND:
        return 404;
    case GRAPH_ECONFLICT:
    case GRAPH_EEXHAUSTED:
        return 409;
    case GRAPH_EPRECOND:
        return 412;
    case GRAPH_EBADREQ:
        return 400;
    case GRAPH_EINVALID:
        return 422;
    case GRAPH_ETOOLARGE:
        return 413;
    case GRAPH_EUNAVAIL:
    case GRAPH_EBUSY:
        return 503;
    case GRAPH_ESTORAGE:
        return 507;
    default:
        return 500;
    }
}

static int fail(struct graph_error *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct graph_error *err, int code, const char *field, const char *fmt, ...)
{
    if (err) {
        err->status = graph_http_status(code);
        snprintf(err->field, sizeof err->field, "%s", field ? field : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* A store or transport error as the graph's code: space → 507, size → 413,
 * our own bugs → 500, anything else (no quorum, timeout, connection) → 503. */
static int store_fail(struct graph_error *err, int rc)
{
    int code;
    switch (rc) {
    case STORE_EMAPFULL:
    case STORE_ENOSPC:
        code = GRAPH_ESTORAGE;
        break;
    case STORE_ETOOLARGE:
    case LIB_ETOOBIG:
        code = GRAPH_ETOOLARGE;
        break;
    case STORE_EFORMAT:
    case STORE_ECORRUPT:
    case LIB_ENOMEM:
        code = GRAPH_EINTERNAL;
        break;
    default:
        code = GRAPH_EUNAVAIL;
        break;
    }
    return fail(err, code, NULL, "store: %s", strata_strerror(rc));
}

static int nomem(struct graph_error *err)
{
    return fail(err, GRAPH_EINTERNAL, NULL, "out of memory");
}

int graph_uuid_generate(char out[GRAPH_UUID_SIZE])
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        got += (size_t)n;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, GRAPH_UUID_SIZE,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Kv implementations. */

static int kv_fsm_cmd(void *arg, const struct buf *cmd, bool serializable, struct buf *reply)
{
    struct graph_kv_fsm *k = arg;
    struct store_cmd c;
    (void)serializable;
    int rc = store_cmd_decode(&c, cmd->data, cmd->size);
    if (rc) {
        return rc;
    }
    buf_reset(reply);
    if (c.kind == STORE_CMD_RANGE) {
        rc = store_fsm_range(k->fsm, &c.op, reply);
        store_cmd_destroy(&c);
        return rc;
    }
    store_cmd_destroy(&c);
    struct store_entry e = {.index = k->index + 1, .data = cmd->data, .size = cmd->size};
    struct store_result r = {.reply = *reply};
    rc = store_fsm_apply_batch(k->fsm, &e, 1, &r);
    *reply = r.reply;
    if (rc == 0) {
        k->index++;
    }
    return rc;
}

void graph_kv_fsm_init(struct graph_kv_fsm *k, struct store_fsm *fsm, uint64_t last_index)
{
    k->fsm = fsm;
    k->index = last_index;
}

struct graph_kv graph_kv_fsm(struct graph_kv_fsm *k)
{
    return (struct graph_kv){.cmd = kv_fsm_cmd, .arg = k};
}

static int kv_client_cmd(void *arg, const struct buf *cmd, bool serializable, struct buf *reply)
{
    int status = 0;
    int rc = store_client_call(arg, STORE_MSG_CMD, serializable ? STORE_MSG_F_SERIALIZABLE : 0,
                               cmd->data, cmd->size, &status, reply);
    return rc ? rc : status;
}

struct graph_kv graph_kv_client(struct store_client *c)
{
    return (struct graph_kv){.cmd = kv_client_cmd, .arg = c};
}

void graph_init(struct graph *g, const struct schema *schema, struct graph_kv kv)
{
    memset(g, 0, sizeof *g);
    g->schema = schema;
    g->kv = kv;
    g->retries = GRAPH_DEFAULT_RETRIES;
    g->conflict_names = GRAPH_CONFLICT_NAMES;
}

/* ------------------------------------------------------------------ */
/* Reads. A struct rd holds one decoded reply and the bytes it points into. */

struct rd {
    struct buf raw;
    struct store_reply r;
    bool decoded;
};

static void rd_init(struct rd *rd)
{
    memset(rd, 0, sizeof *rd);
    buf_init(&rd->raw, 0);
}

static void rd_destroy(struct rd *rd)
{
    if (rd->decoded) {
        store_reply_destroy(&rd->r);
        rd->decoded = false;
    }
    buf_destroy(&rd->raw);
}

/* Decodes the reply in rd->raw into rd->r; the store's refusal (the reply's
 * status) or a malformed reply as a graph error. */
static int rd_decode(struct rd *rd, struct graph_error *err)
{
    int rc = store_reply_decode(&rd->r, rd->raw.data, rd->raw.size);
    if (rc) {
        return store_fail(err, rc);
    }
    rd->decoded = true;
    return rd->r.status ? store_fail(err, rd->r.status) : 0;
}

/* Runs the encoded 'cmd'; on success 'rd' holds the decoded reply. */
static int kv_run(struct graph *g, const struct buf *cmd, bool serializable, struct rd *rd,
                  struct graph_error *err)
{
    if (rd->decoded) {
        store_reply_destroy(&rd->r);
        rd->decoded = false;
    }
    int rc = g->kv.cmd(g->kv.arg, cmd, serializable, &rd->raw);
    if (rc) {
        return store_fail(err, rc);
    }
    rc = rd_decode(rd, err);
    if (rc) {
        return rc;
    }
    if (rd->r.results_len < 1 && rd->r.kind == STORE_CMD_RANGE) {
        return fail(err, GRAPH_EINTERNAL, NULL, "store: range reply without a result");
    }
    return 0;
}

/* A compiling transaction through the pipelined path (graph_kv.send):
 * queued while derive_lock() is held, so it reaches the store behind
 * every transaction this process planned before it; the lock is released
 * before waiting, so the next plan is made (on the image and this one's
 * reservations, derive.h) while this one is in flight. compile_end() puts
 * its writes into the image when it commits. */
static int kv_run_pipelined(struct graph *g, const struct buf *cmd, struct rd *rd,
                            struct graph_error *err)
{
    void *pending = NULL;
    int rc = g->kv.send(g->kv.arg, cmd, &pending);
    derive_unlock(g->derive);
    if (rc) {
        return store_fail(err, rc);
    }
    g->compile_pipelined++;
    rc = g->kv.wait(g->kv.arg, pending, &rd->raw);
    if (rc) {
        return store_fail(err, rc);
    }
    return rd_decode(rd, err);
}

static int kv_range(struct graph *g, struct store_keysel sel, uint32_t limit, uint8_t flags,
                    bool serializable, struct rd *rd, struct graph_error *err)
{
    struct buf cmd;
    buf_init(&cmd, 0);
    int rc = store_cmd_encode_range(&cmd, &sel, limit, flags);
    if (rc) {
        buf_destroy(&cmd);
        return store_fail(err, rc);
    }
    rc = kv_run(g, &cmd, serializable && !g->fresh_reads, rd, err);
    buf_destroy(&cmd);
    return rc;
}

/* A decision made on serializable reads that refuses the request (the
 * object or a parent missing, a name taken) is confirmed with fresh reads
 * before it is answered: a follower's local state may not yet have applied
 * the caller's own previous write. */
static bool retry_fresh(const struct graph *g, int rc)
{
    return !g->fresh_reads && (rc == GRAPH_ENOTFOUND || rc == GRAPH_ECONFLICT ||
                               rc == GRAPH_EPRECOND || rc == GRAPH_EINVALID ||
                               rc == GRAPH_EEXHAUSTED);
}

/* Reads one key: '*kv' points into 'rd' (NULL when the key is absent). */
static int kv_get(struct graph *g, const char *key, bool serializable, struct rd *rd,
                  const struct store_kv **kv, struct graph_error *err)
{
    *kv = NULL;
    int rc = kv_range(g, store_sel_key(key, (uint32_t)strlen(key)), 1, 0, serializable, rd, err);
    if (rc) {
        return rc;
    }
    if (rd->r.results[0].kvs_len > 0) {
        *kv = &rd->r.results[0].kvs[0];
    }
    return 0;
}

/* The end of a prefix range: 'prefix' with its last byte incremented. */
static char *prefix_end(const char *prefix)
{
    char *e = strdup(prefix);
    if (e) {
        size_t n = strlen(e);
        e[n - 1]++;
    }
    return e;
}

static char *str_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *str_fmt(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* ------------------------------------------------------------------ */
/* Transactions under construction. Keys and values are strings owned by
 * the txn; the arrays have the codec's caps, overflow is GRAPH_ETOOLARGE. */

/* Compares and writes grow on demand up to the store's caps (a request
 * has a handful; a fixed array of each cap was ~400 KiB zeroed per request). */
struct txn {
    struct store_compare *cmp;
    uint32_t ncmp;
    size_t capcmp;
    struct store_op *ops;
    uint32_t nops;
    size_t capops;
    char **owned;
    size_t nowned, capowned;
    int err; /* sticky: GRAPH_ETOOLARGE or GRAPH_EINTERNAL (memory) */
};

static struct txn *txn_new(void)
{
    return calloc(1, sizeof(struct txn));
}

static void txn_reset(struct txn *t)
{
    for (size_t i = 0; i < t->nowned; i++) {
        free(t->owned[i]);
    }
    t->nowned = 0;
    t->ncmp = 0;
    t->nops = 0;
    t->err = 0;
}

static void txn_free(struct txn *t)
{
    if (t) {
        txn_reset(t);
        free(t->owned);
        free(t->cmp);
        free(t->ops);
        free(t);
    }
}

/* Takes ownership of 's' (may be NULL: marks the txn out of memory). */
static char *txn_own(struct txn *t, char *s)
{
    if (!s) {
        t->err = t->err ? t->err : GRAPH_EINTERNAL;
        return NULL;
    }
    if (t->nowned == t->capowned) {
        size_t cap = t->capowned ? t->capowned * 2 : 32;
        char **o = realloc(t->owned, cap * sizeof *o);
        if (!o) {
            free(s);
            t->err = t->err ? t->err : GRAPH_EINTERNAL;
            return NULL;
        }
        t->owned = o;
        t->capowned = cap;
    }
    t->owned[t->nowned++] = s;
    return s;
}

static void txn_cmp(struct txn *t, uint8_t target, uint8_t op, const char *key, uint64_t number)
{
    if (!key) {
        return;
    }
    if (t->ncmp == STORE_TXN_COMPARES_MAX) {
        t->err = t->err ? t->err : GRAPH_ETOOLARGE;
        return;
    }
    struct store_compare *c = vec_grow(t->cmp, &t->capcmp, t->ncmp, sizeof *c, 32);
    if (!c) {
        t->err = t->err ? t->err : GRAPH_EINTERNAL;
        return;
    }
    t->cmp = c;
    t->cmp[t->ncmp++] = (struct store_compare){.target = target, .op = op,
        .key = (const uint8_t *)key, .key_size = (uint32_t)strlen(key), .number = number};
}

static struct store_op *txn_op(struct txn *t)
{
    if (t->nops == STORE_TXN_OPS_MAX) {
        t->err = t->err ? t->err : GRAPH_ETOOLARGE;
        return NULL;
    }
    struct store_op *o = vec_grow(t->ops, &t->capops, t->nops, sizeof *o, 32);
    if (!o) {
        t->err = t->err ? t->err : GRAPH_EINTERNAL;
        return NULL;
    }
    t->ops = o;
    struct store_op *op = &t->ops[t->nops++];
    memset(op, 0, sizeof *op);
    return op;
}

/* Puts 'key' = 'value' (both owned by the txn or static). */
static void txn_put(struct txn *t, const char *key, const char *value)
{
    if (!key || !value) {
        return;
    }
    struct store_op *op = txn_op(t);
    if (op) {
        op->kind = STORE_OP_PUT;
        op->sel = store_sel_key(key, (uint32_t)strlen(key));
        op->value = (const uint8_t *)value;
        op->value_size = (uint32_t)strlen(value);
    }
}

static void txn_cmp_value(struct txn *t, const char *key, const char *value)
{
    txn_cmp(t, STORE_CMP_VALUE, STORE_CMP_EQ, key, 0);
    if (key && value && t->ncmp > 0 && t->cmp[t->ncmp - 1].key == (const uint8_t *)key) {
        t->cmp[t->ncmp - 1].value = (const uint8_t *)value;
        t->cmp[t->ncmp - 1].value_size = (uint32_t)strlen(value);
    }
}

static void txn_del(struct txn *t, const char *key, bool prefix)
{
    if (!key) {
        return;
    }
    struct store_op *op = txn_op(t);
    if (op) {
        op->kind = STORE_OP_DELETE;
        op->sel = prefix ? store_sel_prefix(key, (uint32_t)strlen(key))
                         : store_sel_key(key, (uint32_t)strlen(key));
    }
}

static const char *txn_fmt(struct txn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *txn_fmt(struct txn *t, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return txn_own(t, n < 0 ? NULL : s);
}

static const char *txn_json(struct txn *t, const json_t *j)
{
    return txn_own(t, json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY));
}

/* Proposes 't'. '*ok': the compares held and the writes are applied at
 * '*revision'. */
static int txn_apply(struct graph *g, struct txn *t, bool *ok, uint64_t *revision,
                     struct graph_error *err)
{
    *ok = false;
    if (t->err == GRAPH_ETOOLARGE) {
        return fail(err, GRAPH_ETOOLARGE, NULL,
                    "the request needs more than %u compares or writes in one transaction",
                    STORE_TXN_OPS_MAX);
    }
    if (t->err) {
        return nomem(err);
    }
    struct store_cmd c = {.kind = STORE_CMD_TXN, .compares = t->cmp, .compares_len = t->ncmp,
                          .success = t->ops, .success_len = t->nops};
    struct buf cmd;
    buf_init(&cmd, 0);
    int rc = store_cmd_encode(&c, &cmd);
    if (rc) {
        buf_destroy(&cmd);
        return store_fail(err, rc);
    }
    struct rd rd;
    rd_init(&rd);
    uint64_t t0 = g->in_compile ? clock_mono_ns() : 0;
    if (g->in_compile && g->kv.send && g->kv.wait && derive_held(g->derive) &&
        derive_watched(g->derive)) {
        rc = kv_run_pipelined(g, &cmd, &rd, err);
    } else {
        rc = kv_run(g, &cmd, false, &rd, err);
    }
    if (g->in_compile) {
        g->compile_commit_ns += clock_mono_ns() - t0;
    }
    buf_destroy(&cmd);
    if (rc == 0) {
        g->txn_count++;
        g->seen_revision = rd.r.revision;
        *ok = rd.r.succeeded != 0;
        g->txn_conflicts += !*ok;
        if (revision) {
            *revision = rd.r.revision;
        }
    }
    rd_destroy(&rd);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Names and keys. */

/* fq_name elements joined by 'sep' (malloc'd), NULL when out of memory. */
static char *fq_join(const json_t *fq, const char *sep)
{
    size_t n = json_array_size(fq), size = 1;
    for (size_t i = 0; i < n; i++) {
        size += strlen(json_string_value(json_array_get(fq, i)) ?: "") + strlen(sep);
    }
    char *s = malloc(size), *p = s;
    if (!s) {
        return NULL;
    }
    *p = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = json_string_value(json_array_get(fq, i)) ?: "";
        size_t el = strlen(e);
        if (i) {
            memcpy(p, sep, strlen(sep));
            p += strlen(sep);
        }
        memcpy(p, e, el);
        p += el;
    }
    *p = 0;
    return s;
}

/* fq_name as "a:b:c" for messages, truncated to fit 'size'. */
static const char *fq_text(const json_t *fq, char *out, size_t size)
{
    char *s = fq_join(fq, ":");
    snprintf(out, size, "%s", s ? s : "?");
    free(s);
    return out;
}

static char *key_fq(const char *type, const json_t *fq)
{
    char *j = fq_join(fq, SEP);
    char *k = j ? str_fmt("/c/f/%s/%s", type, j) : NULL;
    free(j);
    return k;
}

static bool fq_valid(const json_t *fq)
{
    if (!json_is_array(fq) || json_array_size(fq) == 0 || json_array_size(fq) > 16) {
        return false;
    }
    for (size_t i = 0; i < json_array_size(fq); i++) {
        const char *e = json_string_value(json_array_get(fq, i));
        if (!e || !*e) {
            return false;
        }
        for (const char *c = e; *c; c++) {
            if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                return false;
            }
        }
    }
    return true;
}

static bool uuid_syntax(const char *u)
{
    if (!u || strlen(u) != 36) {
        return false;
    }
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? u[i] != '-' : !strchr("0123456789abcdefABCDEF", u[i])) {
            return false;
        }
    }
    return true;
}

/* 'in' lower-cased into 'out' when it is a uuid (keys use lower case);
 * otherwise copied as is, for the lookup to miss. Returns 'out'. */
static const char *uuid_norm(const char *in, char out[GRAPH_UUID_SIZE])
{
    snprintf(out, GRAPH_UUID_SIZE, "%s", in ? in : "");
    if (uuid_syntax(out)) {
        for (char *c = out; *c; c++) {
            *c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
        }
    }
    return out;
}

static json_t *json_parse_value(const uint8_t *v, uint32_t size)
{
    return json_loadb((const char *)v, size, JSON_DECODE_ANY, NULL);
}

/* Reads the object 'uuid' of 'type': '*obj' (new reference) and its mod
 * revision. GRAPH_ENOTFOUND (with a message) when absent. */
static int obj_get(struct graph *g, const char *type, const char *uuid, bool serializable,
                   json_t **obj, uint64_t *mod, struct graph_error *err)
{
    *obj = NULL;
    if (!uuid_syntax(uuid)) {
        return fail(err, GRAPH_ENOTFOUND, NULL, "%s %.40s not found", type, uuid ? uuid : "");
    }
    char *key = str_fmt("/c/o/%s/%s", type, uuid);
    if (!key) {
        return nomem(err);
    }
    struct rd rd;
    rd_init(&rd);
    const struct store_kv *kv;
    int rc = kv_get(g, key, serializable, &rd, &kv, err);
    free(key);
    if (rc == 0 && !kv) {
        rc = fail(err, GRAPH_ENOTFOUND, NULL, "%s %s not found", type, uuid);
    }
    if (rc == 0) {
        *obj = json_parse_value(kv->value, kv->value_size);
        if (mod) {
            *mod = kv->mod_revision;
        }
        if (!json_is_object(*obj)) {
            json_decref(*obj);
            *obj = NULL;
            rc = fail(err, GRAPH_EINTERNAL, NULL, "stored %s %s is unreadable", type, uuid);
        }
    }
    rd_destroy(&rd);
    return rc;
}

/* The uuid stored under the fq key of ('type', 'fq'), copied to 'uuid';
 * '*found' false when absent. */
static int fq_lookup(struct graph *g, const char *type, const json_t *fq, bool serializable,
                     char uuid[GRAPH_UUID_SIZE], bool *found, struct graph_error *err)
{
    *found = false;
    char *key = key_fq(type, fq);
    if (!key) {
        return nomem(err);
    }
    struct rd rd;
    rd_init(&rd);
    const struct store_kv *kv;
    int rc = kv_get(g, key, serializable, &rd, &kv, err);
    free(key);
    if (rc == 0 && kv) {
        if (kv->value_size != GRAPH_UUID_SIZE - 1) {
            rc = fail(err, GRAPH_EINTERNAL, NULL, "fq_name index entry is malformed");
        } else {
            memcpy(uuid, kv->value, GRAPH_UUID_SIZE - 1);
            uuid[GRAPH_UUID_SIZE - 1] = 0;
            *found = true;
        }
    }
    rd_destroy(&rd);
    return rc;
}

/* The type of object 'uuid' into 'type' ('size' bytes); '*found'. */
static int uuid_type(struct graph *g, const char *uuid, bool serializable, char *type, size_t size,
                     bool *found, struct graph_error *err)
{
    *found = false;
    if (!uuid_syntax(uuid)) {
        return 0;
    }
    char *key = str_fmt("/c/u/%s", uuid);
    if (!key) {
        return nomem(err);
    }
    struct rd rd;
    rd_init(&rd);
    const struct store_kv *kv;
    int rc = kv_get(g, key, serializable, &rd, &kv, err);
    free(key);
    if (rc == 0 && kv) {
        snprintf(type, size, "%.*s", (int)kv->value_size, (const char *)kv->value);
        *found = true;
    }
    rd_destroy(&rd);
    return rc;
}

/* A schema failure as a graph error with its field path. */
static int schema_fail(struct graph_error *err, int rc, const struct schema_error *se)
{
    int code = se->status == 413 ? GRAPH_ETOOLARGE
               : se->status == 422 ? GRAPH_EINVALID
               : rc == LIB_ENOMEM ? GRAPH_EINTERNAL
                                  : GRAPH_EBADREQ;
    return fail(err, code, se->path, "%s", se->message[0] ? se->message : strata_strerror(rc));
}

static int audit_put(struct txn *t, const char *actor, const char *op, const char *type,
                     const char *uuid, const json_t *fq)
{
    char req[GRAPH_UUID_SIZE];
    int rc = graph_uuid_generate(req);
    if (rc) {
        return rc;
    }
    json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:O}", "actor", actor ? actor : "", "op", op,
                          "type", type, "uuid", uuid, "fq_name", fq ? fq : json_null());
    if (!a) {
        t->err = t->err ? t->err : GRAPH_EINTERNAL;
        return 0;
    }
    txn_put(t, txn_fmt(t, "/c/a/%s", req), txn_json(t, a));
    json_decref(a);
    return 0;
}

/* ------------------------------------------------------------------ */
/* References. */

static const json_t *ref_find_uuid(const json_t *list, const char *uuid)
{
    size_t i;
    const json_t *it;
    json_array_foreach(list, i, it)
    {
        const char *u = json_string_value(json_object_get(it, "uuid"));
        if (u && strcmp(u, uuid) == 0) {
            return it;
        }
    }
    return NULL;
}

static const json_t *ref_find_to(const json_t *list, const json_t *to)
{
    size_t i;
    const json_t *it;
    json_array_foreach(list, i, it)
    {
        if (json_equal(json_object_get(it, "to"), to)) {
            return it;
        }
    }
    return NULL;
}

static const json_t *present(const json_t *obj, const char *key)
{
    const json_t *x = json_object_get(obj, key);
    return x && !json_is_null(x) ? x : NULL;
}

/* The back-reference entry's value: the referrer's fq_name and the link
 * attribute, so reads of back-refs need no second lookup. */
static const char *br_value(struct txn *tx, const json_t *fq, const json_t *attr)
{
    json_t *v = json_pack("{s:O}", "to", fq);
    if (v && attr && json_object_set(v, "attr", (json_t *)attr)) {
        json_decref(v);
        v = NULL;
    }
    const char *s = v ? txn_json(tx, v) : txn_own(tx, NULL);
    json_decref(v);
    return s;
}

/* Resolves every ref list of 'obj' (type 't', 'uuid', 'fq') in place to
 * [{to, uuid[, attr]}], and adds to 'tx' the compares (new strong targets
 * exist) and the back-reference writes: puts for new refs or changed attrs,
 * deletes for refs no longer in 'obj'. 'old': the stored object on update
 * (its refs need no re-reading), NULL on create. */
static int refs_resolve(struct graph *g, struct txn *tx, const struct schema_type *t,
                        const char *uuid, const json_t *fq, json_t *obj, const json_t *old,
                        struct graph_error *err)
{
    char path[SCHEMA_PATH_MAX], name[256];
    int rc = 0;
    for (size_t r = 0; r < t->refs_len && rc == 0; r++) {
        const struct schema_ref *ref = &t->refs[r];
        const json_t *in = present(obj, ref->key);
        const json_t *oldl = old ? present(old, ref->key) : NULL;
        const char *bk = ref->weak ? "wbr" : "br";
        json_t *out = json_array();
        if (!out) {
            return nomem(err);
        }
        size_t i;
        const json_t *it;
        json_array_foreach(in, i, it)
        {
            snprintf(path, sizeof path, "%s[%zu]", ref->key, i);
            char un[GRAPH_UUID_SIZE];
            const char *u = json_string_value(json_object_get(it, "uuid"));
            u = u ? uuid_norm(u, un) : NULL;
            const json_t *to = present(it, "to");
            const json_t *attr = present(it, "attr");
            const json_t *prev = NULL;
            char tu[GRAPH_UUID_SIZE];
            json_t *tfq = NULL;
            if (u) {
                prev = ref_find_uuid(oldl, u);
                if (prev) {
                    tfq = json_incref(json_object_get(prev, "to"));
                } else {
                    json_t *target = NULL;
                    rc = obj_get(g, ref->to->name, u, true, &target, NULL, err);
                    if (rc == GRAPH_ENOTFOUND) {
                        rc = fail(err, GRAPH_ENOTFOUND, path, "%s %s not found", ref->to->name, u);
                    }
                    if (rc) {
                        break;
                    }
                    tfq = json_incref(json_object_get(target, "fq_name"));
                    json_decref(target);
                }
                if (to && !json_equal(to, tfq)) {
                    json_decref(tfq);
                    rc = fail(err, GRAPH_EINVALID, path,
                              "'uuid' and 'to' name different %s objects", ref->to->name);
                    break;
                }
                snprintf(tu, sizeof tu, "%s", u);
            } else {
                prev = ref_find_to(oldl, to);
                if (prev) {
                    snprintf(tu, sizeof tu, "%s",
                             json_string_value(json_object_get(prev, "uuid")) ?: "");
                } else {
                    bool found;
                    rc = fq_lookup(g, ref->to->name, to, true, tu, &found, err);
                    if (rc == 0 && !found) {
                        rc = fail(err, GRAPH_ENOTFOUND, path, "%s %s not found", ref->to->name,
                                  fq_text(to, name, sizeof name));
                    }
                    if (rc) {
                        break;
                    }
                }
                tfq = json_incref((json_t *)to);
            }
            if (ref_find_uuid(out, tu)) {
                json_decref(tfq);
                rc = fail(err, GRAPH_EINVALID, path, "duplicate reference to %s %s",
                          ref->to->name, tu);
                break;
            }
            json_t *item = json_pack("{s:o,s:s}", "to", tfq, "uuid", tu);
            if (!item || (attr && json_object_set(item, "attr", (json_t *)attr)) ||
                json_array_append_new(out, item)) {
                rc = nomem(err);
                break;
            }
            if (!prev && !ref->weak) {
                txn_cmp(tx, STORE_CMP_CREATE, STORE_CMP_NE,
                        txn_fmt(tx, "/c/o/%s/%s", ref->to->name, tu), 0);
            }
            const json_t *pattr = prev ? present(prev, "attr") : NULL;
            bool same_attr = pattr && attr ? json_equal(pattr, attr) : pattr == attr;
            if (!prev || !same_attr) {
                txn_put(tx, txn_fmt(tx, "/c/%s/%s/%s/%s", bk, tu, t->name, uuid),
                        br_value(tx, fq, attr));
            }
        }
        if (rc == 0) {
            json_array_foreach(oldl, i, it)
            {
                const char *ou = json_string_value(json_object_get(it, "uuid"));
                if (ou && !ref_find_uuid(out, ou)) {
                    txn_del(tx, txn_fmt(tx, "/c/%s/%s/%s/%s", bk, ou, t->name, uuid), false);
                }
            }
            if (json_array_size(out) > 0) {
                rc = json_object_set(obj, ref->key, out) ? nomem(err) : 0;
            } else {
                json_object_del(obj, ref->key);
            }
        }
        json_decref(out);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* IPAM: instance-ip addresses from the subnets on its virtual-network's
 * network_ipam_refs. Allocation keys /c/ip/<vn>/<4|6>/<address as 8 or 32
 * hex digits> hold the instance-ip's uuid; fixed-width hex makes key order
 * address order, so "next free" is a forward scan for the first gap. */

typedef unsigned __int128 u128;

#define IPNET_RSV_MAX 2

struct ipnet {
    int fam; /* 4 or 6 */
    int len;
    u128 net, bcast;   /* first and last address of the prefix */
    u128 first, last;  /* allocatable bounds */
    u128 rsv[IPNET_RSV_MAX];
    int nrsv;
    const json_t *spec; /* the IpamSubnetType, borrowed */
};

static bool ip_parse(const char *s, int *fam, u128 *out)
{
    uint8_t b[16];
    if (!s) {
        return false;
    }
    if (inet_pton(AF_INET, s, b) == 1) {
        *fam = 4;
        *out = ((u128)b[0] << 24) | ((u128)b[1] << 16) | ((u128)b[2] << 8) | b[3];
        return true;
    }
    if (inet_pton(AF_INET6, s, b) == 1) {
        *fam = 6;
        u128 v = 0;
        for (int i = 0; i < 16; i++) {
            v = (v << 8) | b[i];
        }
        *out = v;
        return true;
    }
    return false;
}

static void ip_text(int fam, u128 a, char *out, size_t size)
{
    uint8_t b[16];
    int n = fam == 4 ? 4 : 16;
    for (int i = n - 1; i >= 0; i--) {
        b[i] = (uint8_t)a;
        a >>= 8;
    }
    if (!inet_ntop(fam == 4 ? AF_INET : AF_INET6, b, out, (socklen_t)size)) {
        snprintf(out, size, "?");
    }
}

static void ip_hex(int fam, u128 a, char *out, size_t size)
{
    if (fam == 4) {
        snprintf(out, size, "%08x", (unsigned)a);
    } else {
        snprintf(out, size, "%016llx%016llx", (unsigned long long)(a >> 64),
                 (unsigned long long)a);
    }
}

static bool ip_unhex(const uint8_t *p, size_t n, u128 *out)
{
    u128 v = 0;
    if (n != 8 && n != 32) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        int d = p[i] >= '0' && p[i] <= '9'   ? p[i] - '0'
                : p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
                                             : -1;
        if (d < 0) {
            return false;
        }
        v = (v << 4) | (u128)d;
    }
    *out = v;
    return true;
}

static void ipnet_reserve(struct ipnet *n, const char *text, bool dflt_ok, u128 dflt)
{
    int fam;
    u128 a;
    if (text) {
        if (ip_parse(text, &fam, &a) && fam == n->fam && a != 0 && n->nrsv < IPNET_RSV_MAX) {
            n->rsv[n->nrsv++] = a;
        }
    } else if (dflt_ok && n->nrsv < IPNET_RSV_MAX) {
        n->rsv[n->nrsv++] = dflt;
    }
}

/* Parses one IpamSubnetType: prefix, allocatable bounds (network and, for
 * IPv4, broadcast excluded unless the prefix is /31 or longer), reserved
 * service addresses (default_gateway, else the first address; and
 * dns_server_address, else the second; "0.0.0.0"/"::" means none). */
static bool ipnet_parse(const json_t *spec, struct ipnet *n)
{
    memset(n, 0, sizeof *n);
    const json_t *sub = json_object_get(spec, "subnet");
    const char *pfx = json_string_value(json_object_get(sub, "ip_prefix"));
    json_int_t len = json_integer_value(json_object_get(sub, "ip_prefix_len"));
    u128 a;
    if (!ip_parse(pfx, &n->fam, &a)) {
        return false;
    }
    int bits = n->fam == 4 ? 32 : 128;
    if (len < 0 || len > bits) {
        return false;
    }
    u128 host = len == bits ? 0 : (((u128)1 << (bits - len - 1)) << 1) - 1;
    if (bits == 128 && len == 0) {
        host = ~(u128)0;
    }
    n->len = (int)len;
    n->spec = spec;
    n->net = a & ~host;
    n->bcast = n->net | host;
    if (n->fam == 4) {
        n->net &= 0xffffffffu;
        n->bcast &= 0xffffffffu;
    }
    bool big = len <= bits - 2;
    n->first = big ? n->net + 1 : n->net;
    n->last = big && n->fam == 4 ? n->bcast - 1 : n->bcast;
    ipnet_reserve(n, json_string_value(present(spec, "default_gateway")), big, n->net + 1);
    ipnet_reserve(n, json_string_value(present(spec, "dns_server_address")), len <= bits - 3,
                  n->net + 2);
    return true;
}

static bool ipnet_reserved(const struct ipnet *n, u128 a)
{
    for (int i = 0; i < n->nrsv; i++) {
        if (n->rsv[i] == a) {
            return true;
        }
    }
    return false;
}

/* The first free, unreserved address of 'n' within [lo, hi]; '*found'. */
static int ipnet_scan(struct graph *g, const char *vn, const struct ipnet *n, u128 lo, u128 hi,
                      u128 *out, bool *found, struct graph_error *err)
{
    char hex[40];
    *found = false;
    u128 cand = lo;
    char *start = NULL, *end = NULL;
    ip_hex(n->fam, hi, hex, sizeof hex);
    end = str_fmt("/c/ip/%s/%d/%s", vn, n->fam, hex);
    if (!end) {
        return nomem(err);
    }
    int rc = 0;
    bool more = true, done = false;
    struct rd rd;
    rd_init(&rd);
    while (more && !done) {
        free(start);
        ip_hex(n->fam, cand, hex, sizeof hex);
        start = str_fmt("/c/ip/%s/%d/%s", vn, n->fam, hex);
        if (!start) {
            rc = nomem(err);
            break;
        }
        /* end key + NUL: every key of the same width up to and with hi */
        rc = kv_range(g,
                      store_sel_interval(start, (uint32_t)strlen(start), end,
                                         (uint32_t)strlen(end) + 1),
                      1024, STORE_F_KEYS_ONLY, true, &rd, err);
        if (rc) {
            break;
        }
        const struct store_op_result *res = &rd.r.results[0];
        more = (res->flags & STORE_R_MORE) != 0;
        size_t plen = strlen(start) - strlen(hex);
        for (uint32_t i = 0; i < res->kvs_len && !done; i++) {
            u128 a;
            const struct store_kv *kv = &res->kvs[i];
            if (kv->key_size <= plen || !ip_unhex(kv->key + plen, kv->key_size - plen, &a)) {
                continue;
            }
            for (; cand < a; cand++) {
                if (!ipnet_reserved(n, cand)) {
                    *out = cand;
                    *found = true;
                    done = true;
                    break;
                }
            }
            if (!done && a >= cand) {
                if (a >= hi) {
                    done = true; /* range full */
                } else {
                    cand = a + 1;
                }
            }
        }
    }
    if (rc == 0 && !*found && !done) {
        for (;; cand++) {
            if (!ipnet_reserved(n, cand)) {
                *out = cand;
                *found = true;
                break;
            }
            if (cand >= hi) {
                break;
            }
        }
    }
    rd_destroy(&rd);
    free(start);
    free(end);
    return rc;
}

static bool ipnet_in_pools(const struct ipnet *n, u128 lo_hi[][2], size_t *count, size_t max)
{
    const json_t *pools = present(n->spec, "allocation_pools");
    *count = 0;
    if (json_array_size(pools) == 0) {
        lo_hi[0][0] = n->first;
        lo_hi[0][1] = n->last;
        *count = n->first <= n->last;
        return true;
    }
    size_t i;
    const json_t *p;
    json_array_foreach(pools, i, p)
    {
        int f1, f2;
        u128 s, e;
        if (*count == max || !ip_parse(json_string_value(json_object_get(p, "start")), &f1, &s) ||
            !ip_parse(json_string_value(json_object_get(p, "end")), &f2, &e) || f1 != n->fam ||
            f2 != n->fam) {
            continue;
        }
        s = s < n->first ? n->first : s;
        e = e > n->last ? n->last : e;
        if (s <= e) {
            lo_hi[*count][0] = s;
            lo_hi[*count][1] = e;
            (*count)++;
        }
    }
    return true;
}

/* Allocates the address of instance-ip 'obj' ('uuid') in virtual-network
 * 'vn_uuid': the requested instance_ip_address, or the lowest free one of
 * the family (instance_ip_family, default v4) in the subnets (restricted to
 * subnet_uuid when given) and their allocation pools. Adds the allocation
 * key with CREATE == 0 to 'tx' and sets instance_ip_address,
 * instance_ip_family and subnet_uuid in 'obj'. */
static int ipam_alloc(struct graph *g, struct txn *tx, json_t *obj, const char *uuid,
                      const char *vn_uuid, struct graph_error *err)
{
    json_t *vn = NULL;
    char name[256], text[64], hex[40];
    uint64_t vn_mod = 0;
    int rc = obj_get(g, "virtual-network", vn_uuid, true, &vn, &vn_mod, err);
    if (rc) {
        return rc;
    }
    /* the subnets used are the ones read: a concurrent change of the
     * network (which does not happen on allocations) fails the txn */
    txn_cmp(tx, STORE_CMP_MOD, STORE_CMP_EQ, txn_fmt(tx, "/c/o/virtual-network/%s", vn_uuid),
            vn_mod);
    fq_text(json_object_get(vn, "fq_name"), name, sizeof name);
    const char *want_subnet = json_string_value(present(obj, "subnet_uuid"));
    const char *req = json_string_value(present(obj, "instance_ip_address"));
    const char *famtxt = json_string_value(present(obj, "instance_ip_family"));
    int want_fam = famtxt && strcmp(famtxt, "v6") == 0 ? 6 : 4;
    u128 req_addr = 0;
    if (req && !ip_parse(req, &want_fam, &req_addr)) {
        json_decref(vn);
        return fail(err, GRAPH_EINVALID, "instance_ip_address", "not an address");
    }
    const struct ipnet *hit = NULL;
    struct ipnet n;
    u128 addr = 0;
    bool any_subnet = false;
    size_t i, j;
    const json_t *ref, *spec;
    json_array_foreach(present(vn, "network_ipam_refs"), i, ref)
    {
        json_array_foreach(present(present(ref, "attr"), "ipam_subnets"), j, spec)
        {
            if (!ipnet_parse(spec, &n) || n.fam != want_fam) {
                continue;
            }
            const char *su = json_string_value(present(spec, "subnet_uuid"));
            if (want_subnet && (!su || strcmp(su, want_subnet) != 0)) {
                continue;
            }
            any_subnet = true;
            if (req) {
                if (req_addr >= n.net && req_addr <= n.bcast) {
                    hit = &n;
                    addr = req_addr;
                }
            } else {
                u128 ranges[64][2];
                size_t nr;
                bool found = false;
                ipnet_in_pools(&n, ranges, &nr, 64);
                for (size_t k = 0; k < nr && !found && rc == 0; k++) {
                    rc = ipnet_scan(g, vn_uuid, &n, ranges[k][0], ranges[k][1], &addr, &found,
                                    err);
                }
                hit = found ? &n : NULL;
            }
            if (hit || rc) {
                break;
            }
        }
        if (hit || rc) {
            break;
        }
    }
    if (rc == 0 && !hit) {
        if (req) {
            rc = fail(err, GRAPH_EINVALID, "instance_ip_address",
                      "%s is not in a subnet of virtual-network %s", req, name);
        } else if (!any_subnet) {
            rc = fail(err, GRAPH_EEXHAUSTED, NULL, "virtual-network %s has no IPv%d subnet%s",
                      name, want_fam, want_subnet ? " with that subnet_uuid" : "");
        } else {
            rc = fail(err, GRAPH_EEXHAUSTED, NULL,
                      "virtual-network %s has no free IPv%d address in its subnets", name,
                      want_fam);
        }
    }
    if (rc == 0 && req) {
        bool v4edge = n.fam == 4 && n.len <= 30 && (addr == n.net || addr == n.bcast);
        if (ipnet_reserved(&n, addr) || v4edge) {
            rc = fail(err, GRAPH_ECONFLICT, "instance_ip_address",
                      "%s is reserved in virtual-network %s (gateway, service or network "
                      "address)",
                      req, name);
        }
    }
    const char *key = NULL;
    if (rc == 0) {
        ip_hex(n.fam, addr, hex, sizeof hex);
        key = txn_fmt(tx, "/c/ip/%s/%d/%s", vn_uuid, n.fam, hex);
        ip_text(n.fam, addr, text, sizeof text);
    }
    if (rc == 0 && req && key) {
        struct rd rd;
        const struct store_kv *kv;
        rd_init(&rd);
        rc = kv_get(g, key, true, &rd, &kv, err);
        if (rc == 0 && kv) {
            rc = fail(err, GRAPH_ECONFLICT, "instance_ip_address",
                      "%s is already allocated in virtual-network %s (instance-ip %.*s)", text,
                      name, (int)kv->value_size, (const char *)kv->value);
        }
        rd_destroy(&rd);
    }
    if (rc == 0) {
        txn_cmp(tx, STORE_CMP_CREATE, STORE_CMP_EQ, key, 0);
        txn_put(tx, key, txn_fmt(tx, "%s", uuid));
        const char *su = json_string_value(present(n.spec, "subnet_uuid"));
        if (json_object_set_new(obj, "instance_ip_address", json_string(text)) ||
            json_object_set_new(obj, "instance_ip_family", json_string(n.fam == 4 ? "v4" : "v6")) ||
            (su && json_object_set_new(obj, "subnet_uuid", json_string(su)))) {
            rc = nomem(err);
        }
    }
    json_decref(vn);
    return rc;
}

/* The allocation key of a stored instance-ip, or NULL. */
static const char *ipam_key(struct txn *tx, const json_t *obj)
{
    int fam;
    u128 a;
    char hex[40];
    const json_t *vnr = json_array_get(present(obj, "virtual_network_refs"), 0);
    const char *vn = json_string_value(json_object_get(vnr, "uuid"));
    if (!vn || !ip_parse(json_string_value(present(obj, "instance_ip_address")), &fam, &a)) {
        return NULL;
    }
    ip_hex(fam, a, hex, sizeof hex);
    return txn_fmt(tx, "/c/ip/%s/%d/%s", vn, fam, hex);
}

/* ------------------------------------------------------------------ */
/* MAC addresses of virtual-machine-interfaces, unique through /c/mac/<mac>. */

#define MAC_PROP "virtual_machine_interface_mac_addresses"

static int mac_take(struct graph *g, struct txn *tx, const char *mac, const char *uuid,
                    bool *taken, char holder[GRAPH_UUID_SIZE], struct graph_error *err)
{
    const char *key = txn_fmt(tx, "/c/mac/%s", mac);
    *taken = false;
    if (!key) {
        return nomem(err);
    }
    struct rd rd;
    const struct store_kv *kv = NULL;
    int rc = 0;
    rd_init(&rd);
    /* first attempt: trust the CREATE == 0 compare; a retry reads */
    if (g->fresh_reads) {
        rc = kv_get(g, key, true, &rd, &kv, err);
    }
    if (rc == 0 && kv) {
        *taken = true;
        snprintf(holder, GRAPH_UUID_SIZE, "%.*s", (int)kv->value_size, (const char *)kv->value);
    }
    rd_destroy(&rd);
    if (rc == 0 && !*taken) {
        txn_cmp(tx, STORE_CMP_CREATE, STORE_CMP_EQ, key, 0);
        txn_put(tx, key, txn_fmt(tx, "%s", uuid));
    }
    return rc;
}

/* Registers the MACs given in 'obj', or assigns one derived from 'uuid'
 * (02:xx:xx:xx:xx:xx, locally administered, from five of its bytes; the
 * next five on a collision). */
static int mac_assign(struct graph *g, struct txn *tx, json_t *obj, const char *uuid,
                      struct graph_error *err)
{
    char holder[GRAPH_UUID_SIZE], path[96], mac[24];
    bool taken;
    int rc = 0;
    json_t *list = (json_t *)present(present(obj, MAC_PROP), "mac_address");
    if (json_array_size(list) > 0) {
        size_t i;
        json_t *m;
        json_array_foreach(list, i, m)
        {
            snprintf(mac, sizeof mac, "%s", json_string_value(m) ?: "");
            for (char *c = mac; *c; c++) {
                *c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
            }
            snprintf(path, sizeof path, MAC_PROP ".mac_address[%zu]", i);
            if (json_string_set(m, mac)) {
                return nomem(err);
            }
            rc = mac_take(g, tx, mac, uuid, &taken, holder, err);
            if (rc == 0 && taken) {
                rc = fail(err, GRAPH_ECONFLICT, path,
                          "MAC %s is in use by virtual-machine-interface %s", mac, holder);
            }
            if (rc) {
                return rc;
            }
        }
        return 0;
    }
    uint8_t b[16];
    for (int i = 0, k = 0; i < 16; i++, k += 2) {
        k += uuid[k] == '-';
        unsigned v;
        if (sscanf(uuid + k, "%2x", &v) != 1) {
            return fail(err, GRAPH_EINTERNAL, NULL, "uuid %s is malformed", uuid);
        }
        b[i] = (uint8_t)v;
    }
    for (int off = 0; off + 5 <= 16; off++) {
        snprintf(mac, sizeof mac, "02:%02x:%02x:%02x:%02x:%02x", b[off], b[off + 1], b[off + 2],
                 b[off + 3], b[off + 4]);
        rc = mac_take(g, tx, mac, uuid, &taken, holder, err);
        if (rc || !taken) {
            break;
        }
    }
    if (rc == 0 && taken) {
        return fail(err, GRAPH_ECONFLICT, MAC_PROP, "no free MAC address derived from %s", uuid);
    }
    if (rc == 0 && json_object_set_new(obj, MAC_PROP, json_pack("{s:[s]}", "mac_address", mac))) {
        rc = nomem(err);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Create. */

/* The fq_name of the default parent of type 'pt' (VNC's defaults), or NULL. */
static json_t *default_parent_fq(const struct schema_type *pt)
{
    if (pt->parents_len == 0) {
        return json_array();
    }
    if (strcmp(pt->name, "domain") == 0) {
        return json_pack("[s]", "default-domain");
    }
    if (strcmp(pt->name, "project") == 0) {
        return json_pack("[s,s]", "default-domain", "default-project");
    }
    if (strcmp(pt->name, "global-system-config") == 0) {
        return json_pack("[s]", "default-global-system-config");
    }
    return NULL;
}

/* When 'obj' has no fq_name: name (default: its uuid) under the parent
 * given by parent_uuid, or the default parent of its parent type. */
static int fq_derive(struct graph *g, const struct schema_type *t, json_t *obj,
                     struct graph_error *err)
{
    if (present(obj, "fq_name")) {
        return 0;
    }
    const char *name = json_string_value(present(obj, "name"));
    if (!name) {
        name = json_string_value(json_object_get(obj, "uuid"));
        if (!name || json_object_set_new(obj, "name", json_string(name))) {
            return nomem(err);
        }
        name = json_string_value(json_object_get(obj, "name"));
    }
    json_t *pfq = NULL;
    char pun[GRAPH_UUID_SIZE];
    const char *pu = json_string_value(present(obj, "parent_uuid"));
    pu = pu ? uuid_norm(pu, pun) : NULL;
    const char *ptn = json_string_value(present(obj, "parent_type"));
    const struct schema_type *pt = ptn ? schema_type_find(g->schema, ptn)
                                       : t->parents_len ? t->parents[0] : NULL;
    if (t->parents_len == 0) {
        pfq = json_array();
    } else if (pu) {
        char ptype[64];
        bool found;
        json_t *p = NULL;
        int rc = uuid_type(g, pu, true, ptype, sizeof ptype, &found, err);
        if (rc == 0 && !found) {
            rc = fail(err, GRAPH_ENOTFOUND, "parent_uuid", "parent %s not found", pu);
        }
        const struct schema_type *ft = rc == 0 ? schema_type_find(g->schema, ptype) : NULL;
        if (rc == 0 && (!ft || !schema_type_has_parent(t, ft))) {
            rc = fail(err, GRAPH_EINVALID, "parent_uuid", "%s %s cannot be the parent of a %s",
                      ptype, pu, t->name);
        }
        if (rc == 0) {
            rc = obj_get(g, ptype, pu, true, &p, NULL, err);
        }
        if (rc) {
            return rc;
        }
        pfq = json_deep_copy(json_object_get(p, "fq_name"));
        json_decref(p);
    } else if (pt) {
        pfq = default_parent_fq(pt);
        if (pfq && !ptn && json_object_set_new(obj, "parent_type", json_string(pt->name))) {
            json_decref(pfq);
            return nomem(err);
        }
    }
    if (!pfq) {
        return 0; /* validation reports the missing fq_name */
    }
    if (json_array_append_new(pfq, json_string(name)) ||
        json_object_set_new(obj, "fq_name", pfq)) {
        return nomem(err);
    }
    return 0;
}

/* Resolves the parent of 'obj' (type 't'): sets parent_type and
 * parent_uuid, checks fq_name extends the parent's, and adds the compare
 * that the parent still exists plus the child index entry. */
static int parent_resolve(struct graph *g, struct txn *tx, const struct schema_type *t,
                          const char *uuid, json_t *obj, struct graph_error *err)
{
    if (t->parents_len == 0) {
        return 0;
    }
    const json_t *fq = json_object_get(obj, "fq_name");
    size_t n = json_array_size(fq);
    char pun[GRAPH_UUID_SIZE];
    const char *pu = json_string_value(present(obj, "parent_uuid"));
    pu = pu ? uuid_norm(pu, pun) : NULL;
    const char *ptn = json_string_value(present(obj, "parent_type"));
    const struct schema_type *pt = ptn ? schema_type_find(g->schema, ptn) : NULL;
    char puuid[GRAPH_UUID_SIZE], ptype[64], name[256];
    json_t *pfq = NULL;
    int rc = 0;
    if (pu) {
        json_t *p = NULL;
        bool found;
        rc = uuid_type(g, pu, true, ptype, sizeof ptype, &found, err);
        if (rc == 0 && !found) {
            rc = fail(err, GRAPH_ENOTFOUND, "parent_uuid", "parent %s not found", pu);
        }
        if (rc) {
            return rc;
        }
        const struct schema_type *ft = schema_type_find(g->schema, ptype);
        if (!ft || !schema_type_has_parent(t, ft) || (pt && pt != ft)) {
            return fail(err, GRAPH_EINVALID, "parent_uuid", "%s %s cannot be the parent of a %s",
                        ptype, pu, t->name);
        }
        pt = ft;
        rc = obj_get(g, pt->name, pu, true, &p, NULL, err);
        if (rc == GRAPH_ENOTFOUND) {
            rc = fail(err, GRAPH_ENOTFOUND, "parent_uuid", "parent %s %s not found", pt->name, pu);
        }
        if (rc) {
            return rc;
        }
        pfq = json_incref(json_object_get(p, "fq_name"));
        json_decref(p);
        snprintf(puuid, sizeof puuid, "%s", pu);
        bool prefix = pt->parents_len == 0 ? n == 1 : json_array_size(pfq) + 1 == n;
        for (size_t i = 0; prefix && pt->parents_len && i + 1 < n; i++) {
            prefix = json_equal(json_array_get(pfq, i), json_array_get(fq, i));
        }
        if (!prefix) {
            rc = fail(err, GRAPH_EINVALID, "fq_name",
                      "fq_name must be the parent's fq_name %s plus the name",
                      fq_text(pfq, name, sizeof name));
        }
    } else {
        if (!pt) {
            pt = t->parents[0]; /* validation required parent_type when several */
        }
        pfq = pt->parents_len == 0 ? json_pack("[s]", GRAPH_ROOT_NAME) : json_array();
        for (size_t i = 0; pfq && pt->parents_len && i + 1 < n; i++) {
            json_array_append(pfq, json_array_get(fq, i));
        }
        if (!pfq) {
            return nomem(err);
        }
        bool found;
        rc = fq_lookup(g, pt->name, pfq, true, puuid, &found, err);
        if (rc == 0 && !found) {
            rc = fail(err, GRAPH_ENOTFOUND, "fq_name", "parent %s %s not found", pt->name,
                      fq_text(pfq, name, sizeof name));
        }
    }
    json_decref(pfq);
    if (rc) {
        return rc;
    }
    if (json_object_set_new(obj, "parent_type", json_string(pt->name)) ||
        json_object_set_new(obj, "parent_uuid", json_string(puuid))) {
        return nomem(err);
    }
    txn_cmp(tx, STORE_CMP_CREATE, STORE_CMP_NE, txn_fmt(tx, "/c/o/%s/%s", pt->name, puuid), 0);
    txn_put(tx, txn_fmt(tx, "/c/ch/%s/%s/%s", puuid, t->name, uuid), txn_json(tx, fq));
    return 0;
}

static bool is_type(const struct schema_type *t, const char *name)
{
    return strcmp(t->name, name) == 0;
}

/* One attempt of a create: fresh reads, the decision, the transaction. */
static int create_attempt(struct graph *g, struct txn *tx, const struct schema_type *t,
                          const char *uuid, json_t *obj, const char *actor,
                          struct graph_error *err)
{
    char name[256], other[GRAPH_UUID_SIZE];
    const json_t *fq = json_object_get(obj, "fq_name");
    bool found = false;
    int rc = 0;
    /* The first attempt trusts the compares (CREATE == 0 on the fq and uuid
     * keys) instead of reading both keys first; a failed compare sends the
     * request round again with fresh reads, which name the conflict. */
    if (g->fresh_reads) {
        rc = fq_lookup(g, t->name, fq, true, other, &found, err);
    }
    if (rc == 0 && found) {
        rc = fail(err, GRAPH_ECONFLICT, "fq_name", "%s %s already exists (uuid %s)", t->name,
                  fq_text(fq, name, sizeof name), other);
    }
    char otype[64];
    if (rc == 0 && g->fresh_reads) {
        rc = uuid_type(g, uuid, true, otype, sizeof otype, &found, err);
        if (rc == 0 && found) {
            rc = fail(err, GRAPH_ECONFLICT, "uuid", "uuid %s is already used by a %s", uuid,
                      otype);
        }
    }
    if (rc == 0) {
        rc = parent_resolve(g, tx, t, uuid, obj, err);
    }
    if (rc == 0) {
        rc = refs_resolve(g, tx, t, uuid, fq, obj, NULL, err);
    }
    if (rc == 0 && is_type(t, "instance-ip")) {
        const json_t *vnr = json_array_get(present(obj, "virtual_network_refs"), 0);
        const char *vn = json_string_value(json_object_get(vnr, "uuid"));
        rc = vn ? ipam_alloc(g, tx, obj, uuid, vn, err)
                : fail(err, GRAPH_EINVALID, "virtual_network_refs",
                       "an instance-ip needs a virtual-network");
    }
    if (rc == 0 && is_type(t, "virtual-machine-interface")) {
        rc = mac_assign(g, tx, obj, uuid, err);
    }
    if (rc) {
        return rc;
    }
    const char *fkey = txn_own(tx, key_fq(t->name, fq));
    txn_cmp(tx, STORE_CMP_CREATE, STORE_CMP_EQ, fkey, 0);
    const char *ukey = txn_fmt(tx, "/c/u/%s", uuid);
    txn_cmp(tx, STORE_CMP_CREATE, STORE_CMP_EQ, ukey, 0);
    txn_put(tx, txn_fmt(tx, "/c/o/%s/%s", t->name, uuid), txn_json(tx, obj));
    txn_put(tx, ukey, t->name);
    txn_put(tx, fkey, txn_fmt(tx, "%s", uuid));
    rc = audit_put(tx, actor, "create", t->name, uuid, fq);
    return rc ? fail(err, GRAPH_EINTERNAL, NULL, "no random bytes: %s", strata_strerror(rc)) : 0;
}

/* Strips read-only decorations a client may echo back (href in refs). */
static void strip_hrefs(const struct schema_type *t, json_t *obj)
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
}

/* Applies 'tx'; when it committed, hands '*obj' to '*out' (if wanted) and
 * stores the revision in '*revision' (if wanted). '*ok' says whether the
 * compares held. */
static int txn_commit_obj(struct graph *g, struct txn *tx, json_t **obj, bool *ok, uint64_t *revision,
                          json_t **out, struct graph_error *err)
{
    uint64_t rev = 0;
    int rc = txn_apply(g, tx, ok, &rev, err);
    if (rc == 0 && *ok) {
        if (revision) {
            *revision = rev;
        }
        if (out) {
            *out = *obj;
            *obj = NULL;
        }
    }
    return rc;
}


/* ------------------------------------------------------------------ */
/* Compiling: the derived objects of a change ride in its transaction
 * (compiler/derive.h, docs/design-config.md). */

void graph_set_derive(struct graph *g, struct derive *d)
{
    g->derive = d;
}

static bool compiling(const struct graph *g, const struct schema_type *t)
{
    return g->derive && derive_type_input(t->name);
}

static int derive_fail(struct graph_error *err, int rc, const char *msg)
{
    int code;
    switch (rc) {
    case DERIVE_ENOTREADY:
    case DERIVE_EVERSION:
        code = GRAPH_EUNAVAIL;
        break;
    case DERIVE_EDEFAULT:
    case COMPILE_ECONFLICT:
        code = GRAPH_ECONFLICT;
        break;
    case COMPILE_EEXHAUSTED:
        code = GRAPH_EEXHAUSTED;
        break;
    case COMPILE_ETOOLARGE:
        code = GRAPH_ETOOLARGE;
        break;
    case COMPILE_EINVAL:
        code = GRAPH_EINVALID;
        break;
    default:
        code = GRAPH_EINTERNAL;
        break;
    }
    return fail(err, code, NULL, "%s", msg[0] ? msg : strata_strerror(rc));
}

static void plan_into_txn(struct graph *g, struct txn *tx, struct derive_plan *pp);
int graph_compile_pending(struct graph *g, struct graph_error *err);

/* Adds to 'tx' what compiling the change of 'uuid' from 'old' to 'now'
 * writes and assumes (nothing when 't' is not compiled). */
static int derive_add(struct graph *g, struct txn *tx, const struct schema_type *t,
                      const char *uuid, const json_t *old, const json_t *now,
                      struct graph_error *err)
{
    if (!compiling(g, t)) {
        return 0;
    }
    struct derive_plan p;
    char msg[GRAPH_MSG_MAX];
    derive_plan_init(&p);
    /* what the graph's own part left of the transaction */
    p.budget_cmps = STORE_TXN_COMPARES_MAX - tx->ncmp > DERIVE_TXN_MARGIN
                        ? STORE_TXN_COMPARES_MAX - tx->ncmp - DERIVE_TXN_MARGIN : 1;
    p.budget_ops = STORE_TXN_OPS_MAX - tx->nops > DERIVE_TXN_MARGIN
                       ? STORE_TXN_OPS_MAX - tx->nops - DERIVE_TXN_MARGIN : 1;
    uint64_t t0 = clock_mono_ns();
    if (!derive_held(g->derive) && derive_type_serial(t->name)) {
        /* taken here rather than in compile_begin(): the graph's own reads
         * (parent, refs, fq_name) need no lock, only plan, commit and
         * image update do (compile_end() releases it) */
        derive_lock(g->derive);
        g->compile_lock_ns += clock_mono_ns() - t0;
        t0 = clock_mono_ns();
    }
    int rc = derive_plan_change(g->derive, t->name, uuid, old, now, &p, msg, sizeof msg);
    if (rc == 0 && p.serial && !derive_held(g->derive)) {
        /* planned without the lock but it takes identifiers after all:
         * plan again under it (compile_end() releases it) */
        derive_unreserve(g->derive, p.token);
        uint64_t t1 = clock_mono_ns();
        derive_lock(g->derive);
        g->compile_lock_ns += clock_mono_ns() - t1;
        t0 += clock_mono_ns() - t1;
        rc = derive_plan_change(g->derive, t->name, uuid, old, now, &p, msg, sizeof msg);
    }
    g->compile_plan_ns += clock_mono_ns() - t0;
    if (rc) {
        derive_plan_destroy(&p);
        return derive_fail(err, rc, msg);
    }
    plan_into_txn(g, tx, &p);
    return 0;
}

/* Moves the compares and writes of plan 'p' into 'tx' and destroys 'p'. */
static void plan_into_txn(struct graph *g, struct txn *tx, struct derive_plan *pp)
{
    struct derive_plan p = *pp;
    derive_plan_init(pp);
    for (size_t i = 0; i < p.ncmps; i++) {
        struct derive_cmp *c = &p.cmps[i];
        const char *key = txn_own(tx, c->key);
        c->key = NULL;
        if (c->target == STORE_CMP_VALUE) {
            const char *value = txn_own(tx, c->value);
            c->value = NULL;
            txn_cmp_value(tx, key, value);
        } else {
            txn_cmp(tx, c->target, c->op, key, c->number);
        }
    }
    for (size_t i = 0; i < p.nops; i++) {
        struct derive_op *o = &p.ops[i];
        const char *key = txn_own(tx, o->key);
        o->key = NULL;
        if (o->del) {
            txn_del(tx, key, key && key[strlen(key) - 1] == '/');
        } else {
            const char *value = txn_own(tx, o->value);
            o->value = NULL;
            txn_put(tx, key, value);
        }
    }
    g->derived_writes += p.puts + p.deletes;
    g->derive_token = p.token;
    derive_plan_destroy(&p);
}

int graph_derive_load(struct graph *g, struct derive *d, uint64_t *first_revision,
                      struct graph_error *err)
{
    size_t np;
    const char *const *pre = derive_prefixes(&np);
    uint64_t first = 0, last = 0;
    int rc = 0;
    derive_reset(d);
    for (size_t i = 0; i < np && rc == 0; i++) {
        char *start = strdup(pre[i]), *end = prefix_end(pre[i]);
        size_t start_size = start ? strlen(start) : 0;
        rc = start && end ? 0 : nomem(err);
        for (bool more = rc == 0; more && rc == 0;) {
            struct rd rd;
            rd_init(&rd);
            rc = kv_range(g, store_sel_interval(start, (uint32_t)start_size, end,
                                                (uint32_t)strlen(end)),
                          1000, 0, false, &rd, err);
            if (rc == 0) {
                const struct store_op_result *res = &rd.r.results[0];
                first = first ? first : rd.r.revision;
                last = rd.r.revision > last ? rd.r.revision : last;
                for (uint32_t k = 0; k < res->kvs_len && rc == 0; k++) {
                    const struct store_kv *kv = &res->kvs[k];
                    rc = derive_apply(d, kv->key, kv->key_size, kv->value, kv->value_size,
                                      kv->mod_revision, false);
                    rc = rc ? fail(err, GRAPH_EINTERNAL, NULL, "stored %.*s is unreadable",
                                   (int)kv->key_size, (const char *)kv->key)
                            : 0;
                }
                more = res->count > res->kvs_len && res->kvs_len > 0;
                if (more && rc == 0) {
                    const struct store_kv *lk = &res->kvs[res->kvs_len - 1];
                    char *next = malloc(lk->key_size + 1);
                    if (!next) {
                        rc = nomem(err);
                    } else {
                        memcpy(next, lk->key, lk->key_size);
                        next[lk->key_size] = '\0';
                        free(start);
                        start = next;
                        start_size = lk->key_size + 1; /* just past the last key */
                    }
                }
            }
            rd_destroy(&rd);
        }
        free(start);
        free(end);
    }
    if (rc == 0) {
        derive_caught_up(d, last);
        if (first_revision) {
            *first_revision = first;
        }
    }
    return rc;
}

/* Attempts per request: a compiling write races the other nodes for the
 * lowest free identifiers, and with N nodes busy it may lose many rounds
 * (measured: 1 create in 1,600 lost 64 in a row with 16 clients on 3
 * nodes), so it gets 16 times a plain write's (each round waits for the
 * image to show what beat it, so none is wasted on the same stale state). */
static unsigned attempts_for(const struct graph *g, const struct schema_type *t)
{
    return compiling(g, t) ? 16 * g->retries : g->retries;
}

/* Before an attempt on a compiled type 't' (NULL: an operation that
 * always serializes): one transaction taking identifiers per process at a
 * time (derive.h says why). 't' NULL and anything on an unwatched image
 * (reloaded under the lock) take derive_lock() here; on a watched image
 * derive_add() takes it just before planning a type of
 * derive_type_serial() (or a plan that turned out to need it), so the
 * graph's own reads run outside it; the lock is held through the commit
 * and the image update and released by compile_end(), or, on a kv with
 * the pipelined path (graph_kv.send), once the transaction is queued
 * (kv_run_pipelined()). An image
 * that is not ready (starting, or reloading after a lost watch) is waited
 * for, or loaded here when unwatched; still not ready, the plan answers
 * 503. */
static void compile_begin(struct graph *g, bool on, const struct schema_type *t)
{
    g->derive_token = 0;
    if (!on) {
        return;
    }
    uint64_t t0 = clock_mono_ns();
    g->in_compile = true;
    g->compile_attempts++;
    if (!t || !derive_watched(g->derive)) {
        derive_lock(g->derive);
    }
    g->compile_lock_ns += clock_mono_ns() - t0;
    if (derive_ready(g->derive)) {
        return;
    }
    if (derive_watched(g->derive)) {
        (void)derive_wait(g->derive, 0, DERIVE_WAIT_MS);
    } else {
        struct graph_error e;
        if (graph_derive_load(g, g->derive, NULL, &e) != 0) {
            derive_reset(g->derive);
        }
    }
}

/* After an attempt that proposed transaction 'tx' ('proposed'). Committed
 * ('ok'): its writes go into the image at once, so this node's next plan
 * starts from them without waiting for the watch (which re-applies the
 * same values). Refused: wait until the image shows the store at the
 * revision the refusal reported (it holds whatever made a compare fail);
 * an unwatched image is reloaded instead. */
static void compile_end(struct graph *g, bool on, bool proposed, const struct txn *tx, bool ok)
{
    if (!on) {
        return;
    }
    g->in_compile = false;
    if (proposed && ok) {
        for (uint32_t i = 0; i < tx->nops; i++) {
            const struct store_op *op = &tx->ops[i];
            if (op->sel.kind != STORE_SEL_KEY) {
                continue; /* prefix deletes: back-reference keys, not in the image */
            }
            if (derive_apply(g->derive, op->sel.key, op->sel.key_size, op->value, op->value_size,
                             g->seen_revision, op->kind == STORE_OP_DELETE) != 0) {
                break; /* the image is marked broken and reloads */
            }
        }
    }
    derive_unreserve(g->derive, g->derive_token);
    g->derive_token = 0;
    bool follow = proposed && ok && !g->in_pending;
    if (proposed && !ok) {
        g->compile_refused++;
        uint64_t t0 = clock_mono_ns();
        if (derive_watched(g->derive)) {
            /* a lagging image only makes the next plan's compares fail */
            (void)derive_wait(g->derive, g->seen_revision, DERIVE_WAIT_MS);
            g->compile_catchup_ns += clock_mono_ns() - t0;
        } else {
            struct graph_error e;
            if (graph_derive_load(g, g->derive, NULL, &e) != 0) {
                derive_reset(g->derive); /* not ready: the next plan answers 503 */
            }
        }
    }
    if (derive_held(g->derive)) {
        derive_unlock(g->derive);
    }
    /* a compile split over several transactions is finished by the
     * request that committed its first part (or, if that one fails, by
     * any later compiling request on any node); the request itself has
     * succeeded either way */
    if (follow && derive_pending(g->derive)) {
        struct graph_error e;
        if (graph_compile_pending(g, &e) != 0) {
            char q[GRAPH_MSG_MAX + 8];
            log_warn("graph", "deferred compile left for later", "err=%s",
                     log_quote(q, sizeof q, e.message));
        }
    }
}

int graph_obj_create(struct graph *g, const char *type, const json_t *body, const char *actor,
                     json_t **out, uint64_t *revision, struct graph_error *err)
{
    struct schema_error se;
    if (out) {
        *out = NULL;
    }
    const struct schema_type *t = schema_type_find(g->schema, type ? type : "");
    if (!t) {
        return fail(err, GRAPH_EBADREQ, NULL, "unknown object type '%.64s'", type ? type : "");
    }
    if (!json_is_object(body)) {
        return fail(err, GRAPH_EBADREQ, NULL, "expected a %s object", t->name);
    }
    /* syntax of what was given, before it is used to derive fq_name */
    int rc = present(body, "fq_name") ? 0 : schema_validate(g->schema, t, body, SCHEMA_UPDATE, &se);
    if (rc) {
        return schema_fail(err, rc, &se);
    }
    json_t *base = json_deep_copy(body);
    struct txn *tx = txn_new();
    if (!base || !tx) {
        rc = nomem(err);
        goto out_free;
    }
    strip_hrefs(t, base);
    char uuid[GRAPH_UUID_SIZE];
    const char *given = json_string_value(present(base, "uuid"));
    if (given) {
        snprintf(uuid, sizeof uuid, "%s", given);
        for (char *c = uuid; *c; c++) {
            *c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
        }
    } else if ((rc = graph_uuid_generate(uuid)) != 0) {
        rc = fail(err, GRAPH_EINTERNAL, NULL, "no random bytes: %s", strata_strerror(rc));
        goto out_free;
    }
    if (json_object_set_new(base, "uuid", json_string(uuid))) {
        rc = nomem(err);
        goto out_free;
    }
    rc = fq_derive(g, t, base, err);
    if (rc) {
        goto out_free;
    }
    rc = schema_validate(g->schema, t, base, SCHEMA_CREATE, &se);
    if (rc) {
        rc = schema_fail(err, rc, &se);
        goto out_free;
    }
    const json_t *fq = json_object_get(base, "fq_name");
    if (!present(base, "name") &&
        json_object_set(base, "name", json_array_get(fq, json_array_size(fq) - 1))) {
        rc = nomem(err);
        goto out_free;
    }
    rc = GRAPH_EBUSY;
    g->fresh_reads = false;
    for (unsigned attempt = 0; attempt < attempts_for(g, t); attempt++) {
        json_t *obj = json_deep_copy(base);
        if (!obj) {
            rc = nomem(err);
            break;
        }
        txn_reset(tx);
        bool ok = false, on = compiling(g, t);
        uint64_t proposed = g->txn_count;
        compile_begin(g, on, t);
        rc = create_attempt(g, tx, t, uuid, obj, actor, err);
        if (rc == 0) {
            rc = derive_add(g, tx, t, uuid, NULL, obj, err);
        }
        if (rc == 0) {
            rc = txn_commit_obj(g, tx, &obj, &ok, revision, out, err);
        }
        compile_end(g, on, proposed != g->txn_count, tx, ok);
        json_decref(obj);
        if (ok || (rc && !retry_fresh(g, rc))) {
            break;
        }
        g->fresh_reads = true;
        rc = GRAPH_EBUSY;
    }
    g->fresh_reads = false;
    if (rc == GRAPH_EBUSY) {
        rc = fail(err, GRAPH_EBUSY, NULL, "%s: too many concurrent changes, gave up after %u "
                  "attempts", t->name, g->retries);
    }
out_free:
    txn_free(tx);
    json_decref(base);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Read. */

/* True when 'fields' (comma-separated, NULL: all) names 'key'. */
static bool field_wanted(const char *fields, const char *key)
{
    if (!fields) {
        return true;
    }
    size_t kl = strlen(key);
    for (const char *p = fields; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == kl && memcmp(p, key, n) == 0) {
            return true;
        }
        p += n + (c != NULL);
    }
    return false;
}

static bool field_basic(const char *key)
{
    static const char *const basic[] = {"uuid", "fq_name", "parent_type", "parent_uuid", "name"};
    for (size_t i = 0; i < sizeof basic / sizeof basic[0]; i++) {
        if (strcmp(key, basic[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Removes from 'obj' the keys 'fields' does not ask for. */
static void fields_apply(json_t *obj, const char *fields)
{
    if (!fields) {
        return;
    }
    const char *key;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(obj, tmp, key, val)
    {
        if (!field_basic(key) && !field_wanted(fields, key)) {
            json_object_del(obj, key);
        }
    }
}

/* Adds the index entries under 'prefix' (/c/ch/<uuid>/ or /c/br/<uuid>/):
 * key suffix "<type>/<uuid>", value the fq_name (children) or {to, attr}
 * (back-refs), grouped into lists keyed by the type's children_key or
 * back_refs_key, when 'fields' asks for them. */
static int index_lists(struct graph *g, const char *prefix, bool children, const char *fields,
                       bool serializable, json_t *obj, struct graph_error *err)
{
    struct rd rd;
    rd_init(&rd);
    int rc = kv_range(g, store_sel_prefix(prefix, (uint32_t)strlen(prefix)), GRAPH_SCAN_MAX, 0,
                      serializable, &rd, err);
    size_t plen = strlen(prefix);
    for (uint32_t i = 0; rc == 0 && i < rd.r.results[0].kvs_len; i++) {
        const struct store_kv *kv = &rd.r.results[0].kvs[i];
        char type[64];
        const uint8_t *slash = kv->key_size > plen
                                   ? memchr(kv->key + plen, '/', kv->key_size - plen)
                                   : NULL;
        if (!slash || (size_t)(slash - kv->key - plen) >= sizeof type) {
            continue;
        }
        snprintf(type, sizeof type, "%.*s", (int)(slash - kv->key - plen),
                 (const char *)kv->key + plen);
        const struct schema_type *ct = schema_type_find(g->schema, type);
        if (!ct) {
            continue;
        }
        const char *lkey = children ? ct->children_key : ct->back_refs_key;
        if (!field_wanted(fields, lkey)) {
            continue;
        }
        json_t *v = json_parse_value(kv->value, kv->value_size);
        json_t *item = children ? json_pack("{s:O}", "to", v) : json_deep_copy(v);
        json_decref(v);
        const char *cu = (const char *)slash + 1;
        int culen = (int)(kv->key + kv->key_size - (const uint8_t *)cu);
        json_t *list = json_object_get(obj, lkey);
        if (!list) {
            list = json_array();
            if (!list || json_object_set_new(obj, lkey, list)) {
                list = NULL;
            }
        }
        if (!item || !list || json_object_set_new(item, "uuid", json_stringn(cu, (size_t)culen)) ||
            json_array_append_new(list, item)) {
            json_decref(item);
            rc = nomem(err);
        }
    }
    rd_destroy(&rd);
    return rc;
}

int graph_obj_read(struct graph *g, const char *type, const char *uuid, const char *fields,
                   bool linearizable, json_t **out, uint64_t *revision, struct graph_error *err)
{
    *out = NULL;
    const struct schema_type *t = schema_type_find(g->schema, type ? type : "");
    if (!t) {
        return fail(err, GRAPH_EBADREQ, NULL, "unknown object type '%.64s'", type ? type : "");
    }
    json_t *obj = NULL;
    char nu[GRAPH_UUID_SIZE];
    uuid = uuid_norm(uuid, nu);
    int rc = obj_get(g, t->name, uuid, !linearizable, &obj, revision, err);
    if (rc) {
        return rc;
    }
    fields_apply(obj, fields);
    char *p = NULL;
    static const char *const kinds[] = {"ch", "br", "wbr"};
    for (size_t k = 0; k < 3 && rc == 0; k++) {
        if ((k == 0 && t->children_len == 0) || (k > 0 && t->back_refs_len == 0)) {
            continue;
        }
        p = str_fmt("/c/%s/%s/", kinds[k], uuid);
        rc = p ? index_lists(g, p, k == 0, fields, !linearizable, obj, err) : nomem(err);
        free(p);
    }
    if (rc) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Update and ref-update: read, mutate a copy, resolve refs against the
 * stored ones, compare MOD == the revision read (or If-Match). */

typedef int mutate_fn(struct graph *g, const struct schema_type *t, json_t *obj, void *arg,
                      struct graph_error *err);

struct merge_arg {
    const json_t *body;
};

static int merge_body(struct graph *g, const struct schema_type *t, json_t *obj, void *arg,
                      struct graph_error *err)
{
    static const char *const fixed[] = {"uuid", "fq_name", "name", "parent_type", "parent_uuid"};
    const struct merge_arg *m = arg;
    const char *key;
    json_t *val;
    (void)g;
    json_object_foreach((json_t *)m->body, key, val)
    {
        bool is_fixed = false;
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
            is_fixed |= strcmp(key, fixed[i]) == 0;
        }
        if (is_fixed) {
            if (!json_is_null(val) && !json_equal(val, json_object_get(obj, key))) {
                return fail(err, GRAPH_EINVALID, key, "cannot be changed");
            }
            continue;
        }
        if (strcmp(key, "href") == 0) {
            continue;
        }
        int rc = json_is_null(val) ? (json_object_del(obj, key), 0)
                                   : json_object_set_new(obj, key, json_deep_copy(val));
        if (rc) {
            return nomem(err);
        }
    }
    strip_hrefs(t, obj);
    return 0;
}

struct refop_arg {
    enum graph_ref_op op;
    const struct schema_ref *ref;
    const char *ref_uuid;
    const json_t *attr;
};

static int mutate_ref(struct graph *g, const struct schema_type *t, json_t *obj, void *arg,
                      struct graph_error *err)
{
    const struct refop_arg *a = arg;
    (void)g;
    (void)t;
    json_t *list = json_object_get(obj, a->ref->key);
    if (!json_is_array(list)) {
        list = json_array();
        if (!list || json_object_set_new(obj, a->ref->key, list)) {
            return nomem(err);
        }
    }
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        const char *u = json_string_value(json_object_get(it, "uuid"));
        if (u && strcmp(u, a->ref_uuid) == 0) {
            if (a->op == GRAPH_REF_DELETE) {
                json_array_remove(list, i);
                return 0;
            }
            if (!a->attr) {
                json_object_del(it, "attr");
                return 0;
            }
            return json_object_set(it, "attr", (json_t *)a->attr) ? nomem(err) : 0;
        }
    }
    if (a->op == GRAPH_REF_DELETE) {
        return 0;
    }
    json_t *item = json_pack("{s:s}", "uuid", a->ref_uuid);
    if (!item || (a->attr && json_object_set(item, "attr", (json_t *)a->attr)) ||
        json_array_append_new(list, item)) {
        return nomem(err);
    }
    return 0;
}

/* A virtual-network update may not drop a subnet that still has allocated
 * addresses (GRAPH_ECONFLICT naming the subnet and the count). */
static int subnets_in_use(struct graph *g, const char *vn_uuid, const json_t *old,
                          const json_t *obj, struct graph_error *err)
{
    struct ipnet *keep = calloc(256, sizeof *keep), n;
    size_t nkeep = 0, i, j;
    const json_t *ref, *spec;
    if (!keep) {
        return nomem(err);
    }
    json_array_foreach(present(obj, "network_ipam_refs"), i, ref)
    {
        json_array_foreach(present(present(ref, "attr"), "ipam_subnets"), j, spec)
        {
            if (nkeep < 256 && ipnet_parse(spec, &keep[nkeep])) {
                nkeep++;
            }
        }
    }
    int rc = 0;
    json_array_foreach(present(old, "network_ipam_refs"), i, ref)
    {
        json_array_foreach(present(present(ref, "attr"), "ipam_subnets"), j, spec)
        {
            if (!ipnet_parse(spec, &n)) {
                continue;
            }
            bool kept = false;
            for (size_t k = 0; k < nkeep && !kept; k++) {
                kept = keep[k].fam == n.fam && keep[k].net == n.net && keep[k].len == n.len;
            }
            if (kept) {
                continue;
            }
            char lo[40], hi[40], text[64];
            ip_hex(n.fam, n.net, lo, sizeof lo);
            ip_hex(n.fam, n.bcast, hi, sizeof hi);
            char *start = str_fmt("/c/ip/%s/%d/%s", vn_uuid, n.fam, lo);
            char *end = str_fmt("/c/ip/%s/%d/%s", vn_uuid, n.fam, hi);
            struct rd rd;
            rd_init(&rd);
            rc = start && end ? kv_range(g,
                                         store_sel_interval(start, (uint32_t)strlen(start), end,
                                                            (uint32_t)strlen(end) + 1),
                                         1, STORE_F_COUNT_ONLY, true, &rd, err)
                              : nomem(err);
            if (rc == 0 && rd.r.results[0].count > 0) {
                ip_text(n.fam, n.net, text, sizeof text);
                rc = fail(err, GRAPH_ECONFLICT, "network_ipam_refs",
                          "subnet %s/%d still has %llu allocated addresses", text, n.len,
                          (unsigned long long)rd.r.results[0].count);
            }
            rd_destroy(&rd);
            free(start);
            free(end);
            if (rc) {
                free(keep);
                return rc;
            }
        }
    }
    free(keep);
    return 0;
}

/* Allocation invariants of an update: an instance-ip's address, family,
 * subnet and network and a port's MACs may be restated, not changed; a
 * network keeps every subnet that has allocated addresses. */
static int allocated_unchanged(struct graph *g, const struct schema_type *t, const json_t *old,
                               const json_t *obj, struct graph_error *err)
{
    static const char *const iip[] = {"instance_ip_address", "instance_ip_family", "subnet_uuid"};
    if (is_type(t, "instance-ip")) {
        for (size_t i = 0; i < sizeof iip / sizeof iip[0]; i++) {
            if (!json_equal(json_object_get(old, iip[i]) ?: json_null(),
                            json_object_get(obj, iip[i]) ?: json_null())) {
                return fail(err, GRAPH_EINVALID, iip[i], "cannot be changed after create");
            }
        }
        const json_t *o = json_array_get(present(old, "virtual_network_refs"), 0);
        const json_t *n = json_array_get(present(obj, "virtual_network_refs"), 0);
        if (!json_equal(json_object_get(o, "uuid"), json_object_get(n, "uuid"))) {
            return fail(err, GRAPH_EINVALID, "virtual_network_refs",
                        "an instance-ip cannot move to another virtual-network");
        }
    }
    if (is_type(t, "virtual-network") &&
        !json_equal(present(old, "network_ipam_refs") ?: json_null(),
                    present(obj, "network_ipam_refs") ?: json_null())) {
        int rc = subnets_in_use(g, json_string_value(json_object_get(old, "uuid")), old, obj, err);
        if (rc) {
            return rc;
        }
    }
    if (is_type(t, "virtual-machine-interface")) {
        const json_t *o = present(old, MAC_PROP), *n = present(obj, MAC_PROP);
        if (!(o && n ? json_equal(o, n) : o == n)) {
            return fail(err, GRAPH_EINVALID, MAC_PROP, "cannot be changed after create");
        }
    }
    return 0;
}

static int modify(struct graph *g, const struct schema_type *t, const char *uuid,
                  uint64_t if_match, const char *actor, const char *opname, mutate_fn *mutate,
                  void *arg, json_t **out, uint64_t *revision, struct graph_error *err)
{
    struct schema_error se;
    struct txn *tx = txn_new();
    if (!tx) {
        return nomem(err);
    }
    int rc = GRAPH_EBUSY;
    g->fresh_reads = false;
    for (unsigned attempt = 0; attempt < attempts_for(g, t); attempt++) {
        json_t *old = NULL, *obj = NULL;
        uint64_t mod = 0;
        bool ok = false;
        txn_reset(tx);
        bool on = compiling(g, t);
        uint64_t proposed = g->txn_count;
        compile_begin(g, on, t);
        rc = obj_get(g, t->name, uuid, true, &old, &mod, err);
        if (rc == 0 && if_match && mod != if_match) {
            rc = fail(err, GRAPH_EPRECOND, NULL,
                      "%s %s is at revision %llu, not the If-Match revision %llu", t->name, uuid,
                      (unsigned long long)mod, (unsigned long long)if_match);
        }
        if (rc == 0) {
            obj = json_deep_copy(old);
            rc = obj ? mutate(g, t, obj, arg, err) : nomem(err);
        }
        if (rc == 0) {
            rc = schema_validate(g->schema, t, obj, SCHEMA_CREATE, &se);
            rc = rc ? schema_fail(err, rc, &se) : 0;
        }
        if (rc == 0) {
            rc = refs_resolve(g, tx, t, uuid, json_object_get(obj, "fq_name"), obj, old, err);
        }
        if (rc == 0) {
            rc = allocated_unchanged(g, t, old, obj, err);
        }
        if (rc == 0) {
            const char *okey = txn_fmt(tx, "/c/o/%s/%s", t->name, uuid);
            txn_cmp(tx, STORE_CMP_MOD, STORE_CMP_EQ, okey, mod);
            txn_put(tx, okey, txn_json(tx, obj));
            rc = audit_put(tx, actor, opname, t->name, uuid, json_object_get(obj, "fq_name"));
            rc = rc ? fail(err, GRAPH_EINTERNAL, NULL, "no random bytes") : 0;
        }
        if (rc == 0) {
            rc = derive_add(g, tx, t, uuid, old, obj, err);
        }
        if (rc == 0) {
            rc = txn_commit_obj(g, tx, &obj, &ok, revision, out, err);
        }
        compile_end(g, on, proposed != g->txn_count, tx, ok);
        json_decref(old);
        json_decref(obj);
        if (ok || (rc && !retry_fresh(g, rc))) {
            break;
        }
        g->fresh_reads = true;
        rc = GRAPH_EBUSY;
    }
    g->fresh_reads = false;
    if (rc == GRAPH_EBUSY) {
        rc = fail(err, GRAPH_EBUSY, NULL, "%s %s: too many concurrent changes, gave up after %u "
                  "attempts", t->name, uuid, g->retries);
    }
    txn_free(tx);
    return rc;
}

int graph_obj_update(struct graph *g, const char *type, const char *uuid, const json_t *body,
                     uint64_t if_match, const char *actor, json_t **out, uint64_t *revision,
                     struct graph_error *err)
{
    struct schema_error se;
    if (out) {
        *out = NULL;
    }
    const struct schema_type *t = schema_type_find(g->schema, type ? type : "");
    if (!t) {
        return fail(err, GRAPH_EBADREQ, NULL, "unknown object type '%.64s'", type ? type : "");
    }
    int rc = schema_validate(g->schema, t, body, SCHEMA_UPDATE, &se);
    if (rc) {
        return schema_fail(err, rc, &se);
    }
    struct merge_arg m = {.body = body};
    char nu[GRAPH_UUID_SIZE];
    uuid = uuid_norm(uuid, nu);
    return modify(g, t, uuid, if_match, actor, "update", merge_body, &m, out, revision, err);
}

int graph_ref_update(struct graph *g, enum graph_ref_op op, const char *type, const char *uuid,
                     const char *ref_type, const char *ref_uuid, const json_t *ref_fq_name,
                     const json_t *attr, const char *actor, uint64_t *revision,
                     struct graph_error *err)
{
    const struct schema_type *t = schema_type_find(g->schema, type ? type : "");
    if (!t) {
        return fail(err, GRAPH_EBADREQ, "type", "unknown object type '%.64s'", type ? type : "");
    }
    if (op != GRAPH_REF_ADD && op != GRAPH_REF_DELETE) {
        return fail(err, GRAPH_EBADREQ, "operation", "operation must be ADD or DELETE");
    }
    const struct schema_ref *ref = schema_type_ref_to(t, ref_type ? ref_type : "");
    if (!ref) {
        return fail(err, GRAPH_EINVALID, "ref-type", "a %s has no reference to '%.64s'", t->name,
                    ref_type ? ref_type : "");
    }
    char ru[GRAPH_UUID_SIZE], name[256];
    if (ref_uuid) {
        if (!uuid_syntax(ref_uuid)) {
            return fail(err, GRAPH_EBADREQ, "ref-uuid", "not a uuid");
        }
        uuid_norm(ref_uuid, ru);
    } else {
        if (!fq_valid(ref_fq_name)) {
            return fail(err, GRAPH_EBADREQ, "ref-fq-name", "ref-uuid or ref-fq-name is required");
        }
        bool found;
        int rc = fq_lookup(g, ref->to->name, ref_fq_name, true, ru, &found, err);
        if (rc == 0 && !found) {
            rc = op == GRAPH_REF_DELETE ? 0
                                        : fail(err, GRAPH_ENOTFOUND, "ref-fq-name",
                                               "%s %s not found", ref->to->name,
                                               fq_text(ref_fq_name, name, sizeof name));
            if (rc == 0) {
                return 0; /* deleting a ref to nothing */
            }
        }
        if (rc) {
            return rc;
        }
    }
    char nu[GRAPH_UUID_SIZE];
    uuid = uuid_norm(uuid, nu);
    struct refop_arg a = {.op = op, .ref = ref, .ref_uuid = ru, .attr = json_is_null(attr) ? NULL : attr};
    return modify(g, t, uuid, 0, actor, op == GRAPH_REF_ADD ? "ref-add" : "ref-delete", mutate_ref,
                  &a, NULL, revision, err);
}

/* ------------------------------------------------------------------ */
/* Delete. */

/* Appends to 'msg' up to 'max' entries of the index range 'prefix'
 * ("<type> <fq_name> (<uuid>)"); '*count' gets how many there are. */
static int name_entries(struct graph *g, const char *prefix, bool children, unsigned max,
                        char *msg, size_t size, uint64_t *count, struct graph_error *err)
{
    struct rd rd;
    rd_init(&rd);
    int rc = kv_range(g, store_sel_prefix(prefix, (uint32_t)strlen(prefix)), max, 0, true, &rd,
                      err);
    *count = 0;
    if (rc == 0) {
        const struct store_op_result *res = &rd.r.results[0];
        *count = res->count;
        size_t plen = strlen(prefix);
        for (uint32_t i = 0; i < res->kvs_len; i++) {
            const struct store_kv *kv = &res->kvs[i];
            const uint8_t *slash = kv->key_size > plen
                                       ? memchr(kv->key + plen, '/', kv->key_size - plen)
                                       : NULL;
            if (!slash) {
                continue;
            }
            json_t *v = json_parse_value(kv->value, kv->value_size);
            char fqt[256];
            fq_text(children ? v : json_object_get(v, "to"), fqt, sizeof fqt);
            json_decref(v);
            size_t used = strlen(msg);
            snprintf(msg + used, size - used, "%s%.*s %s (%.*s)", used ? ", " : "",
                     (int)(slash - kv->key - plen), (const char *)kv->key + plen, fqt,
                     (int)(kv->key + kv->key_size - slash - 1), (const char *)slash + 1);
        }
        if (res->count > res->kvs_len) {
            size_t used = strlen(msg);
            snprintf(msg + used, size - used, " and %llu more",
                     (unsigned long long)(res->count - res->kvs_len));
        }
    }
    rd_destroy(&rd);
    return rc;
}

static int delete_attempt(struct graph *g, struct txn *tx, const struct schema_type *t,
                          const char *uuid, uint64_t if_match, const char *actor, bool *ok,
                          uint64_t *rev, struct graph_error *err)
{
    json_t *old = NULL;
    uint64_t mod = 0;
    char name[256];
    int rc = obj_get(g, t->name, uuid, true, &old, &mod, err);
    if (rc) {
        return rc;
    }
    const json_t *fq = json_object_get(old, "fq_name");
    if (if_match && mod != if_match) {
        rc = fail(err, GRAPH_EPRECOND, NULL,
                  "%s %s is at revision %llu, not the If-Match revision %llu", t->name, uuid,
                  (unsigned long long)mod, (unsigned long long)if_match);
        goto out;
    }
    const char *chp = txn_fmt(tx, "/c/ch/%s/", uuid);
    const char *brp = txn_fmt(tx, "/c/br/%s/", uuid);
    if (!chp || !brp) {
        rc = nomem(err);
        goto out;
    }
    char kids[GRAPH_MSG_MAX / 2] = "", refs[GRAPH_MSG_MAX / 2] = "";
    uint64_t nkids = 0, nrefs = 0;
    rc = name_entries(g, chp, true, g->conflict_names, kids, sizeof kids, &nkids, err);
    if (rc == 0) {
        rc = name_entries(g, brp, false, g->conflict_names, refs, sizeof refs, &nrefs, err);
    }
    if (rc == 0 && (nkids || nrefs)) {
        rc = fail(err, GRAPH_ECONFLICT, NULL, "%s %s cannot be deleted: %s%s%s%s%s", t->name,
                  fq_text(fq, name, sizeof name), nkids ? "it has children " : "", kids,
                  nkids && nrefs ? "; " : "", nrefs ? "it is referred to by " : "", refs);
    }
    if (rc == 0 && compiling(g, t) && is_type(t, "project")) {
        /* its default security-group goes with it, unless referred to */
        char sg[GRAPH_UUID_SIZE];
        json_t *sgfq = json_copy((json_t *)fq);
        if (!sgfq || json_array_append_new(sgfq, json_string("default")) ||
            compile_uuid("security-group", sgfq, sg) != 0) {
            rc = nomem(err);
        }
        json_decref(sgfq);
        const char *sgp = rc == 0 ? txn_fmt(tx, "/c/br/%s/", sg) : NULL;
        rc = rc == 0 && !sgp ? nomem(err) : rc;
        if (rc == 0) {
            refs[0] = '\0';
            rc = name_entries(g, sgp, false, g->conflict_names, refs, sizeof refs, &nrefs, err);
        }
        if (rc == 0 && nrefs) {
            rc = fail(err, GRAPH_ECONFLICT, NULL, "%s %s cannot be deleted: its default "
                      "security-group is referred to by %s", t->name,
                      fq_text(fq, name, sizeof name), refs);
        }
    }
    if (rc) {
        goto out;
    }
    const char *okey = txn_fmt(tx, "/c/o/%s/%s", t->name, uuid);
    txn_cmp(tx, STORE_CMP_MOD, STORE_CMP_EQ, okey, mod);
    txn_cmp(tx, STORE_CMP_COUNT, STORE_CMP_EQ, chp, 0);
    txn_cmp(tx, STORE_CMP_COUNT, STORE_CMP_EQ, brp, 0);
    txn_del(tx, okey, false);
    txn_del(tx, txn_fmt(tx, "/c/u/%s", uuid), false);
    txn_del(tx, txn_own(tx, key_fq(t->name, fq)), false);
    const char *pu = json_string_value(present(old, "parent_uuid"));
    if (pu) {
        txn_del(tx, txn_fmt(tx, "/c/ch/%s/%s/%s", pu, t->name, uuid), false);
    }
    for (size_t r = 0; r < t->refs_len; r++) {
        size_t i;
        const json_t *it;
        json_array_foreach(present(old, t->refs[r].key), i, it)
        {
            const char *tu = json_string_value(json_object_get(it, "uuid"));
            if (tu) {
                txn_del(tx, txn_fmt(tx, "/c/%s/%s/%s/%s", t->refs[r].weak ? "wbr" : "br", tu,
                                    t->name, uuid),
                        false);
            }
        }
    }
    txn_del(tx, txn_fmt(tx, "/c/wbr/%s/", uuid), true);
    if (is_type(t, "instance-ip")) {
        txn_del(tx, ipam_key(tx, old), false);
    }
    if (is_type(t, "virtual-machine-interface")) {
        size_t i;
        const json_t *m;
        json_array_foreach(present(present(old, MAC_PROP), "mac_address"), i, m)
        {
            txn_del(tx, txn_fmt(tx, "/c/mac/%s", json_string_value(m) ?: ""), false);
        }
    }
    rc = audit_put(tx, actor, "delete", t->name, uuid, fq);
    rc = rc ? fail(err, GRAPH_EINTERNAL, NULL, "no random bytes") : 0;
    if (rc == 0) {
        rc = derive_add(g, tx, t, uuid, old, NULL, err);
    }
    if (rc == 0) {
        rc = txn_apply(g, tx, ok, rev, err);
    }
out:
    json_decref(old);
    return rc;
}

int graph_obj_delete(struct graph *g, const char *type, const char *uuid, uint64_t if_match,
                     const char *actor, uint64_t *revision, struct graph_error *err)
{
    const struct schema_type *t = schema_type_find(g->schema, type ? type : "");
    if (!t) {
        return fail(err, GRAPH_EBADREQ, NULL, "unknown object type '%.64s'", type ? type : "");
    }
    char nu[GRAPH_UUID_SIZE];
    uuid = uuid_norm(uuid, nu);
    struct txn *tx = txn_new();
    if (!tx) {
        return nomem(err);
    }
    int rc = GRAPH_EBUSY;
    g->fresh_reads = false;
    for (unsigned attempt = 0; attempt < attempts_for(g, t); attempt++) {
        bool ok = false;
        uint64_t rev = 0;
        txn_reset(tx);
        bool on = compiling(g, t);
        uint64_t proposed = g->txn_count;
        compile_begin(g, on, t);
        rc = delete_attempt(g, tx, t, uuid, if_match, actor, &ok, &rev, err);
        compile_end(g, on, proposed != g->txn_count, tx, ok);
        if (rc == 0 && ok && revision) {
            *revision = rev;
        }
        if (ok || (rc && !retry_fresh(g, rc))) {
            break;
        }
        g->fresh_reads = true;
        rc = GRAPH_EBUSY;
    }
    g->fresh_reads = false;
    if (rc == GRAPH_EBUSY) {
        rc = fail(err, GRAPH_EBUSY, NULL, "%s %s: too many concurrent changes", t->name, uuid);
    }
    txn_free(tx);
    return rc;
}

/* ------------------------------------------------------------------ */
/* List. */

#define LIST_IDS_MAX 1024 /* uuids in parent_ids / back_ref_ids */
#define LIST_FILTERS_MAX 32

struct filter {
    char prop[128];
    char value[256];
};

/* Splits 'csv' into uuids (validated) in '*out' ('*n' of them). */
static int ids_parse(const char *csv, const char *field, char (**out)[GRAPH_UUID_SIZE], size_t *n,
                     struct graph_error *err)
{
    *out = NULL;
    *n = 0;
    if (!csv || !*csv) {
        return 0;
    }
    size_t cap = 1;
    for (const char *p = csv; *p; p++) {
        cap += *p == ',';
    }
    if (cap > LIST_IDS_MAX) {
        return fail(err, GRAPH_ETOOLARGE, field, "at most %d ids", LIST_IDS_MAX);
    }
    *out = calloc(cap, GRAPH_UUID_SIZE);
    if (!*out) {
        return nomem(err);
    }
    for (const char *p = csv; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len != 36) {
            return fail(err, GRAPH_EBADREQ, field, "'%.*s' is not a uuid", (int)(len > 40 ? 40 : len), p);
        }
        memcpy((*out)[*n], p, 36);
        (*out)[*n][36] = 0;
        for (char *q = (*out)[*n]; *q; q++) {
            *q = (char)(*q >= 'A' && *q <= 'F' ? *q - 'A' + 'a' : *q);
        }
        if (!uuid_syntax((*out)[*n])) {
            return fail(err, GRAPH_EBADREQ, field, "'%.36s' is not a uuid", p);
        }
        (*n)++;
        p += len + (c != NULL);
    }
    return 0;
}

static int filters_parse(const struct schema *s, const struct schema_type *t, const char *csv,
                         struct filter *f, size_t *n, struct graph_error *err)
{
    *n = 0;
    for (const char *p = csv; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        const char *eq = memmem(p, len, "==", 2);
        if (!eq || eq == p || *n == LIST_FILTERS_MAX || (size_t)(eq - p) >= sizeof f->prop ||
            len - (size_t)(eq - p) - 2 >= sizeof f->value) {
            return fail(err, GRAPH_EBADREQ, "filters", "filters are prop==value[,prop==value]");
        }
        snprintf(f[*n].prop, sizeof f->prop, "%.*s", (int)(eq - p), p);
        snprintf(f[*n].value, sizeof f->value, "%.*s", (int)(len - (size_t)(eq - p) - 2), eq + 2);
        const struct schema_field *fld = schema_prop_find(s, t, f[*n].prop);
        if (!fld || fld->kind == SCHEMA_KIND_COMPLEX || fld->list) {
            return fail(err, GRAPH_EBADREQ, "filters", "%s is not a scalar property of %s",
                        f[*n].prop, t->name);
        }
        (*n)++;
        p += len + (c != NULL);
    }
    return 0;
}

/* Filters on different props must all hold; several on one prop: any. */
static bool filters_match(const json_t *obj, const struct filter *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool seen = false, hit = false;
        for (size_t j = 0; j < n; j++) {
            if (strcmp(f[j].prop, f[i].prop) != 0) {
                continue;
            }
            if (j < i) {
                seen = true; /* prop already decided */
                break;
            }
            const json_t *v = json_object_get(obj, f[j].prop);
            if (json_is_string(v)) {
                hit |= strcmp(json_string_value(v), f[j].value) == 0;
            } else if (v) {
                char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                hit |= txt && strcmp(txt, f[j].value) == 0;
                free(txt);
            }
        }
        if (!seen && !hit) {
            return false;
        }
    }
    return true;
}

static int cmp_uuid(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Collects the uuids under '/c/<kind>/<id>/<type>/' after 'marker' for each
 * id, sorted and unique, into '*out'. */
static int index_uuids(struct graph *g, const char *kind, char (*ids)[GRAPH_UUID_SIZE], size_t nids,
                       const char *type, const char *marker, bool serializable,
                       char (**out)[GRAPH_UUID_SIZE], size_t *n, struct graph_error *err)
{
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < nids && rc == 0; i++) {
        char *prefix = str_fmt("/c/%s/%s/%s/", kind, ids[i], type);
        char *start = prefix ? str_fmt("%s%s", prefix, marker ? marker : "") : NULL;
        char *end = prefix ? prefix_end(prefix) : NULL;
        struct rd rd;
        rd_init(&rd);
        if (!start || !end) {
            rc = nomem(err);
        } else {
            /* after the marker: start at marker + NUL */
            rc = kv_range(g,
                          store_sel_interval(start, (uint32_t)strlen(start) + (marker ? 1 : 0), end,
                                             (uint32_t)strlen(end)),
                          GRAPH_SCAN_MAX, STORE_F_KEYS_ONLY, serializable, &rd, err);
        }
        for (uint32_t k = 0; rc == 0 && k < rd.r.results[0].kvs_len; k++) {
            const struct store_kv *kv = &rd.r.results[0].kvs[k];
            size_t plen = strlen(prefix);
            if (kv->key_size != plen + GRAPH_UUID_SIZE - 1) {
                continue;
            }
            if (*n == cap) {
                size_t nc = cap ? cap * 2 : 64;
                void *p = nc > GRAPH_SCAN_MAX ? NULL : realloc(*out, nc * GRAPH_UUID_SIZE);
                if (!p) {
                    rc = nc > GRAPH_SCAN_MAX ? fail(err, GRAPH_ETOOLARGE, NULL,
                                                    "the listing scans more than %d entries",
                                                    GRAPH_SCAN_MAX)
                                             : nomem(err);
                    break;
                }
                *out = p;
                cap = nc;
            }
            memcpy((*out)[*n], kv->key + plen, GRAPH_UUID_SIZE - 1);
            (*out)[(*n)++][GRAPH_UUID_SIZE - 1] = 0;
        }
        rd_destroy(&rd);
        free(prefix);
        free(start);
        free(end);
    }
    if (rc == 0 && *n > 1) {
        qsort(*out, *n, GRAPH_UUID_SIZE, cmp_uuid);
        size_t w = 1;
        for (size_t r = 1; r < *n; r++) {
            if (strcmp((*out)[r], (*out)[w - 1]) != 0) {
                memmove((*out)[w++], (*out)[r], GRAPH_UUID_SIZE);
            }
        }
        *n = w;
    }
    return rc;
}

struct lister {
    const struct graph_list_req *req;
    const struct filter *filters;
    size_t nfilters;
    json_t *out;
    uint32_t limit;
    char last[GRAPH_UUID_SIZE];
};

/* Offers one object to the listing; '*full' once the limit is reached. */
static int list_offer(struct lister *l, json_t *obj, bool *full, struct graph_error *err)
{
    *full = false;
    if (!filters_match(obj, l->filters, l->nfilters)) {
        return 0;
    }
    json_t *e;
    if (l->req->detail) {
        e = json_incref(obj);
        fields_apply(e, l->req->fields);
    } else {
        e = json_pack("{s:O,s:O}", "uuid", json_object_get(obj, "uuid"), "fq_name",
                      json_object_get(obj, "fq_name"));
        if (e && l->req->fields) {
            const char *key;
            json_t *val;
            json_object_foreach(obj, key, val)
            {
                if (field_wanted(l->req->fields, key) && json_object_set(e, key, val)) {
                    json_decref(e);
                    return nomem(err);
                }
            }
        }
    }
    if (!e || json_array_append_new(l->out, e)) {
        return nomem(err);
    }
    snprintf(l->last, sizeof l->last, "%s", json_string_value(json_object_get(obj, "uuid")) ?: "");
    *full = json_array_size(l->out) >= l->limit;
    return 0;
}

int graph_obj_list(struct graph *g, const char *type, const struct graph_list_req *req,
                   json_t **out, char next_marker[GRAPH_UUID_SIZE], struct graph_error *err)
{
    static const struct graph_list_req none;
    struct filter filters[LIST_FILTERS_MAX];
    char (*pids)[GRAPH_UUID_SIZE] = NULL, (*bids)[GRAPH_UUID_SIZE] = NULL;
    char (*cand)[GRAPH_UUID_SIZE] = NULL, (*other)[GRAPH_UUID_SIZE] = NULL;
    size_t npids = 0, nbids = 0, ncand = 0, nother = 0;
    struct lister l = {.req = req ? req : &none, .filters = filters};
    bool ser;
    int rc;
    *out = NULL;
    next_marker[0] = 0;
    req = l.req;
    ser = !req->linearizable;
    const struct schema_type *t = schema_type_find(g->schema, type ? type : "");
    if (!t) {
        return fail(err, GRAPH_EBADREQ, NULL, "unknown object type '%.64s'", type ? type : "");
    }
    if (req->marker && *req->marker && !uuid_syntax(req->marker)) {
        return fail(err, GRAPH_EBADREQ, "marker", "not a uuid");
    }
    const char *marker = req->marker && *req->marker ? req->marker : NULL;
    l.limit = req->limit && req->limit < GRAPH_LIST_MAX ? req->limit : GRAPH_LIST_MAX;
    rc = filters_parse(g->schema, t, req->filters, filters, &l.nfilters, err);
    if (rc == 0) {
        rc = ids_parse(req->parent_ids, "parent_id", &pids, &npids, err);
    }
    if (rc == 0) {
        rc = ids_parse(req->back_ref_ids, "back_ref_id", &bids, &nbids, err);
    }
    if (rc == 0) {
        l.out = json_array();
        rc = l.out ? 0 : nomem(err);
    }
    bool full = false, more = false;
    if (rc == 0 && !npids && !nbids) {
        /* everything of the type, in pages straight from /c/o/<type>/ */
        char *prefix = str_fmt("/c/o/%s/", t->name);
        char *end = prefix ? prefix_end(prefix) : NULL;
        char *start = prefix ? str_fmt("%s%s", prefix, marker ? marker : "") : NULL;
        uint32_t startlen = start ? (uint32_t)strlen(start) + (marker ? 1 : 0) : 0;
        struct rd rd;
        rd_init(&rd);
        rc = prefix && end && start ? 0 : nomem(err);
        while (rc == 0 && !full) {
            rc = kv_range(g, store_sel_interval(start, startlen, end, (uint32_t)strlen(end)), 256,
                          0, ser, &rd, err);
            if (rc) {
                break;
            }
            const struct store_op_result *res = &rd.r.results[0];
            uint32_t i;
            for (i = 0; i < res->kvs_len && rc == 0 && !full; i++) {
                json_t *obj = json_parse_value(res->kvs[i].value, res->kvs[i].value_size);
                rc = json_is_object(obj) ? list_offer(&l, obj, &full, err) : 0;
                json_decref(obj);
            }
            more = i < res->kvs_len || (res->flags & STORE_R_MORE);
            if (!more || full || res->kvs_len == 0) {
                break;
            }
            const struct store_kv *lastkv = &res->kvs[res->kvs_len - 1];
            char *ns = malloc(lastkv->key_size + 1);
            if (!ns) {
                rc = nomem(err);
                break;
            }
            memcpy(ns, lastkv->key, lastkv->key_size);
            ns[lastkv->key_size] = 0;
            free(start);
            start = ns;
            startlen = lastkv->key_size + 1;
        }
        rd_destroy(&rd);
        free(prefix);
        free(end);
        free(start);
    } else if (rc == 0) {
        rc = npids ? index_uuids(g, "ch", pids, npids, t->name, marker, ser, &cand, &ncand, err)
                   : 0;
        if (rc == 0 && nbids) {
            char (**dst)[GRAPH_UUID_SIZE] = npids ? &other : &cand;
            size_t *dn = npids ? &nother : &ncand;
            rc = index_uuids(g, "br", bids, nbids, t->name, marker, ser, dst, dn, err);
            if (rc == 0) {
                rc = index_uuids(g, "wbr", bids, nbids, t->name, marker, ser, dst, dn, err);
            }
            if (rc == 0 && npids) { /* both: children of a parent that refer to a target */
                size_t w = 0;
                for (size_t i = 0; i < ncand; i++) {
                    if (bsearch(cand[i], other, nother, GRAPH_UUID_SIZE, cmp_uuid)) {
                        memmove(cand[w++], cand[i], GRAPH_UUID_SIZE);
                    }
                }
                ncand = w;
            }
        }
        size_t i;
        for (i = 0; i < ncand && rc == 0 && !full; i++) {
            json_t *obj = NULL;
            rc = obj_get(g, t->name, cand[i], ser, &obj, NULL, err);
            if (rc == GRAPH_ENOTFOUND) {
                rc = 0; /* deleted between the index read and now */
                continue;
            }
            if (rc == 0) {
                rc = list_offer(&l, obj, &full, err);
            }
            json_decref(obj);
        }
        more = i < ncand;
    }
    if (rc == 0 && full && more) {
        snprintf(next_marker, GRAPH_UUID_SIZE, "%s", l.last);
    }
    free(pids);
    free(bids);
    free(cand);
    free(other);
    if (rc) {
        json_decref(l.out);
        return rc;
    }
    *out = l.out;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Names. */

int graph_fqname_to_id(struct graph *g, const char *type, const json_t *fq_name, bool linearizable,
                       char uuid[GRAPH_UUID_SIZE], struct graph_error *err)
{
    char name[256];
    const struct schema_type *t = schema_type_find(g->schema, type ? type : "");
    if (!t) {
        return fail(err, GRAPH_EBADREQ, "type", "unknown object type '%.64s'", type ? type : "");
    }
    if (!fq_valid(fq_name)) {
        return fail(err, GRAPH_EBADREQ, "fq_name", "fq_name must be a list of 1-16 names");
    }
    bool found;
    int rc = fq_lookup(g, t->name, fq_name, !linearizable, uuid, &found, err);
    if (rc == 0 && !found) {
        rc = fail(err, GRAPH_ENOTFOUND, NULL, "%s %s not found", t->name,
                  fq_text(fq_name, name, sizeof name));
    }
    return rc;
}

int graph_id_to_fqname(struct graph *g, const char *uuid, bool linearizable, char *type,
                       size_t type_size, json_t **fq_name, struct graph_error *err)
{
    *fq_name = NULL;
    bool found;
    char nu[GRAPH_UUID_SIZE];
    uuid = uuid_norm(uuid, nu);
    int rc = uuid_type(g, uuid, !linearizable, type, type_size, &found, err);
    if (rc == 0 && !found) {
        rc = fail(err, GRAPH_ENOTFOUND, NULL, "uuid %.40s not found", uuid ? uuid : "");
    }
    json_t *obj = NULL;
    if (rc == 0) {
        rc = obj_get(g, type, uuid, !linearizable, &obj, NULL, err);
    }
    if (rc == 0) {
        *fq_name = json_incref(json_object_get(obj, "fq_name"));
        json_decref(obj);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Bootstrap. */

int graph_bootstrap(struct graph *g, const char *actor, struct graph_error *err)
{
    static const struct {
        const char *type, *body;
    } objs[] = {
        {"config-root", "{\"fq_name\":[\"" GRAPH_ROOT_NAME "\"]}"},
        {"global-system-config",
         "{\"fq_name\":[\"default-global-system-config\"],\"parent_type\":\"config-root\"}"},
        {"domain", "{\"fq_name\":[\"default-domain\"],\"parent_type\":\"config-root\"}"},
        {"project",
         "{\"fq_name\":[\"default-domain\",\"default-project\"],\"parent_type\":\"domain\"}"},
    };
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        json_t *body = json_loads(objs[i].body, 0, NULL);
        if (!body) {
            return nomem(err);
        }
        char uuid[GRAPH_UUID_SIZE];
        int rc = graph_fqname_to_id(g, objs[i].type, json_object_get(body, "fq_name"), true,
                                    uuid, err);
        if (rc == GRAPH_ENOTFOUND) {
            rc = graph_obj_create(g, objs[i].type, body, actor, NULL, NULL, err);
            if (rc == GRAPH_ECONFLICT) {
                rc = 0; /* another node bootstrapped it concurrently */
            }
        }
        json_decref(body);
        if (rc) {
            return rc;
        }
    }
    if (err) {
        memset(err, 0, sizeof *err);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The cluster version (compiler/derive.h). */

int graph_node_versions_report(struct graph *g, const char *node, int min, int max,
                               struct graph_error *err)
{
    size_t n = node ? strlen(node) : 0;
    if (n == 0 || n > 64 || strchr(node, '/') || min < 1 || max < min) {
        return fail(err, GRAPH_EBADREQ, NULL, "a node name (1 to 64 bytes, no '/') and 1 <= min <= max");
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)node[i] < 0x20) {
            return fail(err, GRAPH_EBADREQ, NULL, "a node name without control characters");
        }
    }
    struct txn *tx = txn_new();
    if (!tx) {
        return nomem(err);
    }
    bool ok = false;
    txn_put(tx, txn_fmt(tx, "%s%s", DERIVE_KEY_NV, node), txn_fmt(tx, "%d %d", min, max));
    int rc = txn_apply(g, tx, &ok, NULL, err);
    txn_free(tx);
    return rc;
}

/* One attempt of graph_cluster_version_raise(). */
static int raise_attempt(struct graph *g, struct txn *tx, int version, const char *actor, bool *ok,
                         uint64_t *revision, struct graph_error *err)
{
    struct rd rd;
    rd_init(&rd);
    *ok = false;
    char *end = prefix_end(DERIVE_KEY_NV);
    if (!end) {
        return nomem(err);
    }
    int rc = kv_range(g, store_sel_interval(DERIVE_KEY_NV, (uint32_t)strlen(DERIVE_KEY_NV), end,
                                            (uint32_t)strlen(end)),
                      0, 0, false, &rd, err);
    free(end);
    const struct store_op_result *res = rc == 0 ? &rd.r.results[0] : NULL;
    if (rc == 0 && res->kvs_len == 0) {
        rc = fail(err, GRAPH_ECONFLICT, NULL,
                  "no node has reported the compiler versions it implements (%s<node>)", DERIVE_KEY_NV);
    }
    /* every node that reported must implement the new version; a node
     * reporting meanwhile (or again) fails the compares */
    for (uint32_t i = 0; rc == 0 && i < res->kvs_len; i++) {
        const struct store_kv *kv = &res->kvs[i];
        char text[64];
        int lo = 0, hi = 0;
        snprintf(text, sizeof text, "%.*s", (int)(kv->value_size < 63 ? kv->value_size : 63),
                 (const char *)kv->value);
        size_t pl = strlen(DERIVE_KEY_NV);
        int nl = (int)(kv->key_size - pl);
        if (sscanf(text, "%d %d", &lo, &hi) != 2 || version < lo || version > hi) {
            rc = fail(err, GRAPH_ECONFLICT, NULL,
                      "node %.*s implements compiler versions %s, not %d: upgrade it first", nl,
                      (const char *)kv->key + pl, text, version);
            break;
        }
        txn_cmp(tx, STORE_CMP_MOD, STORE_CMP_EQ,
                txn_own(tx, strndup((const char *)kv->key, kv->key_size)), kv->mod_revision);
    }
    if (rc == 0) {
        txn_cmp(tx, STORE_CMP_COUNT, STORE_CMP_EQ, DERIVE_KEY_NV, res->kvs_len);
    }
    rd_destroy(&rd);
    if (rc) {
        return rc;
    }
    int current = derive_cluster_version(g->derive);
    if (current > version) {
        return fail(err, GRAPH_ECONFLICT, NULL,
                    "the cluster compiles with version %d; a version is never lowered", current);
    }
    struct derive_plan p;
    char msg[GRAPH_MSG_MAX];
    derive_plan_init(&p);
    rc = derive_plan_version(g->derive, version, &p, msg, sizeof msg);
    if (rc) {
        derive_plan_destroy(&p);
        return rc == DERIVE_EVERSION ? fail(err, GRAPH_EINVALID, NULL, "%s", msg)
                                     : derive_fail(err, rc, msg);
    }
    plan_into_txn(g, tx, &p);
    char req[GRAPH_UUID_SIZE];
    if ((rc = graph_uuid_generate(req)) != 0) {
        return fail(err, GRAPH_EINTERNAL, NULL, "no random uuid: %s", strerror(-rc));
    }
    json_t *a = json_pack("{s:s,s:s,s:i,s:i}", "actor", actor ? actor : "", "op", "cluster-version",
                          "from", current, "to", version);
    txn_put(tx, txn_fmt(tx, "/c/a/%s", req), a ? txn_json(tx, a) : NULL);
    json_decref(a);
    return txn_apply(g, tx, ok, revision, err);
}

int graph_cluster_version_raise(struct graph *g, int version, const char *actor, uint64_t *revision,
                                struct graph_error *err)
{
    if (!g->derive) {
        return fail(err, GRAPH_EUNAVAIL, NULL, "this node does not compile");
    }
    struct txn *tx = txn_new();
    if (!tx) {
        return nomem(err);
    }
    int rc = GRAPH_EBUSY;
    for (unsigned attempt = 0; attempt < g->retries * 16; attempt++) {
        bool ok = false;
        txn_reset(tx);
        uint64_t proposed = g->txn_count;
        compile_begin(g, true, NULL);
        rc = raise_attempt(g, tx, version, actor, &ok, revision, err);
        compile_end(g, true, proposed != g->txn_count, tx, ok);
        if (ok || rc) {
            break;
        }
        rc = GRAPH_EBUSY;
    }
    if (rc == GRAPH_EBUSY) {
        rc = fail(err, GRAPH_EBUSY, NULL, "cluster version: too many concurrent changes");
    }
    txn_free(tx);
    return rc;
}

int graph_compile_pending(struct graph *g, struct graph_error *err)
{
    if (!g->derive) {
        return 0;
    }
    struct txn *tx = txn_new();
    if (!tx) {
        return nomem(err);
    }
    int rc = 0;
    unsigned lost = 0;
    g->in_pending = true;
    while (rc == 0) {
        bool ok = false;
        txn_reset(tx);
        uint64_t proposed = g->txn_count;
        compile_begin(g, true, NULL);
        struct derive_plan p;
        char msg[GRAPH_MSG_MAX];
        derive_plan_init(&p);
        int prc = derive_plan_pending(g->derive, &p, msg, sizeof msg);
        if (prc == DERIVE_ENOTREADY && derive_ready(g->derive)) {
            derive_plan_destroy(&p);
            compile_end(g, true, false, tx, false);
            break; /* nothing pending */
        }
        if (prc) {
            derive_plan_destroy(&p);
            rc = derive_fail(err, prc, msg);
        } else {
            plan_into_txn(g, tx, &p);
            rc = txn_apply(g, tx, &ok, NULL, err);
        }
        compile_end(g, true, proposed != g->txn_count, tx, ok);
        if (rc == 0 && !ok && ++lost >= g->retries * 16) {
            rc = fail(err, GRAPH_EBUSY, NULL, "deferred compile: too many concurrent changes");
        }
    }
    g->in_pending = false;
    txn_free(tx);
    return rc;
}

/* Recording state machine for the raft simulation tests (see sim_fsm.h).
 * Commands and snapshots use lib/buf's big-endian encoding and are decoded
 * only through the checked cursor. Snapshot layout: u64 count, then count
 * u64 values. */
#include "tests/sim/raft/sim_fsm.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

static int seq_push(struct sim_fsm *f, uint64_t value)
{
    if (f->len == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        uint64_t *seq = realloc(f->seq, cap * sizeof *seq);
        if (seq == NULL)
            return RAFT_NOMEM;
        f->seq = seq;
        f->cap = cap;
    }
    f->seq[f->len++] = value;
    return 0;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct sim_fsm *f = fsm->data;
    struct cursor c;
    uint64_t value;

    cursor_init(&c, buf->base, buf->len);
    if (buf_get_u64(&c, &value) != 0 || c.size != 0)
        return RAFT_MALFORMED;
    *result = NULL;
    return seq_push(f, value);
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct sim_fsm *f = fsm->data;
    struct raft_buffer *b;
    uint8_t *p;

    b = raft_malloc(sizeof *b);
    if (b == NULL)
        return RAFT_NOMEM;
    b->len = 8 * (f->len + 1);
    b->base = raft_malloc(b->len);
    if (b->base == NULL) {
        raft_free(b);
        return RAFT_NOMEM;
    }
    p = b->base;
    put_be64(p, f->len);
    for (size_t i = 0; i < f->len; i++)
        put_be64(p + 8 * (i + 1), f->seq[i]);
    *bufs = b;
    *n_bufs = 1;
    f->n_snapshots++;
    return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    (void)fsm;
    if (*bufs != NULL) {
        for (unsigned i = 0; i < *n_bufs; i++)
            raft_free((*bufs)[i].base);
        raft_free(*bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

/* On success takes ownership of 'buf->base' (raft's restore contract). */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct sim_fsm *f = fsm->data;
    struct cursor c;
    uint64_t count;
    uint64_t *seq;

    cursor_init(&c, buf->base, buf->len);
    if (buf_get_u64(&c, &count) != 0 || count != c.size / 8 || c.size % 8 != 0)
        return RAFT_MALFORMED;
    seq = malloc((count ? count : 1) * sizeof *seq);
    if (seq == NULL)
        return RAFT_NOMEM;
    for (uint64_t i = 0; i < count; i++) {
        if (buf_get_u64(&c, &seq[i]) != 0) {
            free(seq);
            return RAFT_MALFORMED;
        }
    }
    free(f->seq);
    f->seq = seq;
    f->len = count;
    f->cap = count ? count : 1;
    f->n_restores++;
    raft_free(buf->base);
    return 0;
}

void sim_fsm_init(struct sim_fsm *f)
{
    memset(f, 0, sizeof *f);
    f->fsm.version = 2;
    f->fsm.data = f;
    f->fsm.apply = fsm_apply;
    f->fsm.snapshot = fsm_snapshot;
    f->fsm.restore = fsm_restore;
    f->fsm.snapshot_finalize = fsm_snapshot_finalize;
}

void sim_fsm_destroy(struct sim_fsm *f)
{
    if (f == NULL)
        return;
    free(f->seq);
    f->seq = NULL;
    f->len = f->cap = 0;
}

struct raft_buffer sim_fsm_command(uint64_t value)
{
    struct raft_buffer b;
    b.len = 8;
    b.base = raft_malloc(b.len);
    if (b.base != NULL)
        put_be64(b.base, value);
    return b;
}

size_t sim_fsm_count(const struct sim_fsm *f, uint64_t value)
{
    size_t n = 0;
    for (size_t i = 0; i < f->len; i++)
        n += f->seq[i] == value;
    return n;
}

size_t sim_fsm_common_prefix(const struct sim_fsm *a, const struct sim_fsm *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    size_t i = 0;
    while (i < n && a->seq[i] == b->seq[i])
        i++;
    return i;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x;
    uint64_t b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

bool sim_fsm_unique(const struct sim_fsm *f)
{
    uint64_t *copy;
    bool unique = true;

    if (f->len < 2)
        return true;
    copy = malloc(f->len * sizeof *copy);
    if (copy == NULL)
        abort(); /* Test harness: no way to answer without memory. */
    memcpy(copy, f->seq, f->len * sizeof *copy);
    qsort(copy, f->len, sizeof *copy, cmp_u64);
    for (size_t i = 1; i < f->len && unique; i++)
        unique = copy[i] != copy[i - 1];
    free(copy);
    return unique;
}

/* The register linearizability checker of lin_check.h.
 *
 * The history becomes a doubly linked list of call and return entries in
 * time order (at equal times calls come first: touching intervals count as
 * concurrent, the lenient reading). The search walks the list: at a call it
 * tries to take that op's effect now; if the model accepts and the
 * resulting (linearized set, value) was never seen, it "lifts" the op's call
 * and return out of the list, pushes it on a stack and restarts from the
 * head. Reaching a return means the op it closes was not linearized before
 * its completion, so the last choice is undone (pop, unlift) and the walk
 * continues after it. An empty list is a linearization; a return with an
 * empty stack means none exists. Indeterminate ops return after everything,
 * so they may take effect anywhere after their invoke; "never" is the same
 * as taking effect last. The memo makes every configuration cost once; the
 * linearized set is hashed incrementally (Zobrist: XOR of a random word per
 * op). */
#include "tests/e2e/store/lin_check.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

STRATA_ERR_DEFINE(lin, LIN_ERRORS)

#define LIN_BUDGET_BYTES ((size_t)256 << 20)

struct entry {
    struct entry *prev, *next;
    struct entry *match; /* call: its return; return: NULL */
    uint64_t time;
    uint32_t op;         /* index into the working set */
    bool is_call;
};

struct memo {
    uint64_t *arena;     /* per entry: state, then 'words' bitset words */
    size_t used, cap;    /* entries */
    uint32_t *slots;     /* entry index + 1, 0 empty */
    size_t slots_len;    /* power of two */
    size_t words;
};

struct search {
    const struct lin_op *ops; /* the caller's */
    const uint32_t *map;      /* working index -> caller's index */
    uint32_t n;
    uint64_t *zobrist;
    uint64_t *bits;
    size_t words;
    struct memo memo;
    size_t budget;
};

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->time != y->time) {
        return x->time < y->time ? -1 : 1;
    }
    if (x->is_call != y->is_call) {
        return x->is_call ? -1 : 1;
    }
    return x->op < y->op ? -1 : x->op > y->op;
}

/* The register model: can 'op' take effect on 'state', and what follows. */
static bool model_step(const struct lin_op *op, int64_t state, int64_t *out)
{
    switch (op->kind) {
    case LIN_READ:
        *out = state;
        return state == op->value;
    case LIN_WRITE:
        *out = op->value;
        return true;
    case LIN_CAS:
        if (op->complete == LIN_PENDING) {
            *out = state == op->expected ? op->value : state;
            return true;
        }
        *out = op->ok ? op->value : state;
        return op->ok == (state == op->expected);
    default:
        return false;
    }
}

static void memo_free(struct memo *m)
{
    free(m->arena);
    free(m->slots);
}

static uint64_t *memo_at(const struct memo *m, size_t i)
{
    return m->arena + i * (1 + m->words);
}

static bool memo_equal(const struct memo *m, size_t i, int64_t state, const uint64_t *bits)
{
    const uint64_t *e = memo_at(m, i);
    return e[0] == (uint64_t)state && memcmp(e + 1, bits, m->words * sizeof *bits) == 0;
}

static int memo_grow_slots(struct memo *m, const uint64_t *hashes)
{
    size_t len = m->slots_len ? m->slots_len * 2 : 1024;
    uint32_t *slots = calloc(len, sizeof *slots);
    if (!slots) {
        return LIB_ENOMEM;
    }
    for (size_t i = 0; i < m->used; i++) {
        size_t s = hashes[i] & (len - 1);
        while (slots[s]) {
            s = (s + 1) & (len - 1);
        }
        slots[s] = (uint32_t)i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->slots_len = len;
    return 0;
}

/* Adds (state, bits) with 'hash' unless present. Returns 1 when added, 0
 * when it was there, LIN_EBUDGET or LIB_ENOMEM. 'hashes' keeps each entry's
 * hash for rehashing. */
static int memo_add(struct memo *m, uint64_t **hashes, size_t budget, int64_t state,
                    const uint64_t *bits, uint64_t hash)
{
    if (m->slots_len) {
        size_t s = hash & (m->slots_len - 1);
        while (m->slots[s]) {
            if ((*hashes)[m->slots[s] - 1] == hash && memo_equal(m, m->slots[s] - 1, state, bits)) {
                return 0;
            }
            s = (s + 1) & (m->slots_len - 1);
        }
    }
    if (m->used >= budget) {
        return LIN_EBUDGET;
    }
    if (m->used == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        if (cap > budget) {
            cap = budget;
        }
        uint64_t *a = realloc(m->arena, cap * (1 + m->words) * sizeof *a);
        if (!a) {
            return LIB_ENOMEM;
        }
        m->arena = a;
        uint64_t *h = realloc(*hashes, cap * sizeof *h);
        if (!h) {
            return LIB_ENOMEM;
        }
        *hashes = h;
        m->cap = cap;
    }
    uint64_t *e = memo_at(m, m->used);
    e[0] = (uint64_t)state;
    memcpy(e + 1, bits, m->words * sizeof *bits);
    (*hashes)[m->used] = hash;
    m->used++;
    if (m->used * 2 > m->slots_len) {
        return memo_grow_slots(m, *hashes) == 0 ? 1 : LIB_ENOMEM;
    }
    size_t s = hash & (m->slots_len - 1);
    while (m->slots[s]) {
        s = (s + 1) & (m->slots_len - 1);
    }
    m->slots[s] = (uint32_t)m->used;
    return 1;
}

static void lift(struct entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev; /* a call always has its return after it */
    struct entry *r = e->match;
    r->prev->next = r->next;
    if (r->next) {
        r->next->prev = r->prev;
    }
}

static void unlift(struct entry *e)
{
    struct entry *r = e->match;
    r->prev->next = r;
    if (r->next) {
        r->next->prev = r;
    }
    e->prev->next = e;
    e->next->prev = e;
}

/* One search over the working set. */
static int search_run(struct search *s, int64_t initial, struct lin_result *res)
{
    uint32_t n = s->n;
    size_t depth = 0, longest = 0;
    int rc;
    struct entry *ent = calloc(2 * (size_t)n + 1, sizeof *ent);
    struct entry **stack = calloc((size_t)n + 1, sizeof *stack);
    int64_t *saved = calloc((size_t)n + 1, sizeof *saved);
    uint64_t *hashes = NULL;
    if (!ent || !stack || !saved) {
        rc = LIB_ENOMEM;
        goto out;
    }
    struct entry *list = ent + 1;
    for (uint32_t i = 0; i < n; i++) {
        const struct lin_op *op = &s->ops[s->map[i]];
        list[2 * i] = (struct entry){.time = op->invoke, .op = i, .is_call = true};
        list[2 * i + 1] = (struct entry){.time = op->complete, .op = i, .is_call = false};
    }
    qsort(list, 2 * (size_t)n, sizeof *list, entry_cmp);
    {
        /* Matching after sorting: remember each op's call position. */
        uint32_t *call_at = malloc(((size_t)n + 1) * sizeof *call_at);
        if (!call_at) {
            rc = LIB_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < 2 * (size_t)n; i++) {
            if (list[i].is_call) {
                call_at[list[i].op] = (uint32_t)i;
            } else {
                list[call_at[list[i].op]].match = &list[i];
            }
        }
        free(call_at);
    }
    struct entry *head = ent; /* sentinel */
    head->next = n ? &list[0] : NULL;
    for (size_t i = 0; i < 2 * (size_t)n; i++) {
        list[i].prev = i ? &list[i - 1] : head;
        list[i].next = i + 1 < 2 * (size_t)n ? &list[i + 1] : NULL;
    }

    memset(s->bits, 0, s->words * sizeof *s->bits);
    uint64_t hash = 0;
    int64_t state = initial;
    bool stuck_set = false;
    struct entry *e = head->next;
    rc = 0;
    while (head->next) {
        if (e->is_call) {
            int64_t next;
            const struct lin_op *op = &s->ops[s->map[e->op]];
            if (model_step(op, state, &next)) {
                s->bits[e->op / 64] |= (uint64_t)1 << (e->op % 64);
                uint64_t h = hash ^ s->zobrist[e->op];
                int added = memo_add(&s->memo, &hashes, s->budget, next, s->bits, h ^ mix64((uint64_t)next));
                if (added < 0) {
                    rc = added;
                    goto out;
                }
                if (added) {
                    stack[depth] = e;
                    saved[depth] = state;
                    depth++;
                    if (depth > longest) {
                        longest = depth;
                        stuck_set = false;
                    }
                    state = next;
                    hash = h;
                    lift(e);
                    e = head->next;
                    continue;
                }
                s->bits[e->op / 64] &= ~((uint64_t)1 << (e->op % 64));
            }
            e = e->next;
        } else {
            if (depth == longest && !stuck_set && res) {
                res->stuck_op = s->map[e->op];
                stuck_set = true;
            }
            if (depth == 0) {
                rc = LIN_EVIOLATION;
                goto out;
            }
            depth--;
            struct entry *c = stack[depth];
            state = saved[depth];
            s->bits[c->op / 64] &= ~((uint64_t)1 << (c->op % 64));
            hash ^= s->zobrist[c->op];
            unlift(c);
            e = c->next;
        }
    }
out:
    if (res) {
        res->states += s->memo.used;
        if (longest > res->longest) {
            res->longest = longest;
        }
    }
    free(hashes);
    free(ent);
    free(stack);
    free(saved);
    return rc;
}

static int i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs the search over the ops selected by 'keep'. */
static int check_subset(const struct lin_op *ops, size_t len, const bool *keep, int64_t initial,
                        size_t budget, struct lin_result *res)
{
    struct search s = {.ops = ops};
    int rc = LIB_ENOMEM;
    uint32_t *map = malloc((len + 1) * sizeof *map);
    s.zobrist = malloc((len + 1) * sizeof *s.zobrist);
    if (!map || !s.zobrist) {
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        if (keep[i]) {
            map[s.n] = (uint32_t)i;
            s.zobrist[s.n] = mix64(i * 0x2545f4914f6cdd1dull + 1);
            s.n++;
        }
    }
    s.map = map;
    s.words = (s.n + 63) / 64 + 1;
    s.bits = calloc(s.words, sizeof *s.bits);
    if (!s.bits) {
        goto out;
    }
    s.memo.words = s.words;
    s.budget = budget ? budget : LIN_BUDGET_BYTES / ((1 + s.words) * 8 + 12);
    rc = search_run(&s, initial, res);
out:
    memo_free(&s.memo);
    free(s.bits);
    free(s.zobrist);
    free(map);
    return rc;
}

int lin_check(const struct lin_op *ops, size_t len, int64_t initial, size_t budget,
              struct lin_result *res)
{
    if (res) {
        memset(res, 0, sizeof *res);
        res->stuck_op = SIZE_MAX;
    }
    if (len >= UINT32_MAX / 2) {
        return LIN_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        const struct lin_op *op = &ops[i];
        if (op->kind < LIN_READ || op->kind > LIN_CAS || op->complete < op->invoke ||
            (op->kind == LIN_READ && op->complete == LIN_PENDING)) {
            return LIN_EINVAL;
        }
    }
    bool *keep = calloc(len + 1, sizeof *keep);
    int64_t *seen = malloc((2 * len + 1) * sizeof *seen);
    size_t nseen = 0, dropped = 0;
    int rc = LIB_ENOMEM;
    if (!keep || !seen) {
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        if (ops[i].kind == LIN_READ) {
            seen[nseen++] = ops[i].value;
        } else if (ops[i].kind == LIN_CAS) {
            seen[nseen++] = ops[i].expected;
        }
    }
    qsort(seen, nseen, sizeof *seen, i64_cmp);
    for (size_t i = 0; i < len; i++) {
        keep[i] = true;
        if (ops[i].kind != LIN_READ && ops[i].complete == LIN_PENDING &&
            !bsearch(&ops[i].value, seen, nseen, sizeof *seen, i64_cmp)) {
            keep[i] = false;
            dropped++;
        }
    }
    if (res) {
        res->dropped = dropped;
    }
    rc = check_subset(ops, len, keep, initial, budget, res);
    if (rc == LIN_EVIOLATION && dropped > 0) {
        for (size_t i = 0; i < len; i++) {
            keep[i] = true;
        }
        if (res) {
            res->dropped = 0;
            res->longest = 0;
            res->stuck_op = SIZE_MAX;
        }
        rc = check_subset(ops, len, keep, initial, budget, res);
    }
out:
    free(keep);
    free(seen);
    return rc;
}

static const struct lin_op *sort_base;

static int op_idx_cmp(const void *a, const void *b)
{
    const struct lin_op *x = &sort_base[*(const size_t *)a], *y = &sort_base[*(const size_t *)b];
    if (x->invoke != y->invoke) {
        return x->invoke < y->invoke ? -1 : 1;
    }
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static void value_str(char *out, size_t size, int64_t v)
{
    if (v == LIN_ABSENT) {
        snprintf(out, size, "absent");
    } else {
        snprintf(out, size, "%" PRId64, v);
    }
}

void lin_print(FILE *out, const struct lin_op *ops, size_t len, size_t mark)
{
    size_t *idx = malloc((len + 1) * sizeof *idx);
    if (!idx) {
        return;
    }
    for (size_t i = 0; i < len; i++) {
        idx[i] = i;
    }
    sort_base = ops;
    qsort(idx, len, sizeof *idx, op_idx_cmp);
    uint64_t t0 = len ? ops[idx[0]].invoke : 0;
    for (size_t k = 0; k < len; k++) {
        const struct lin_op *op = &ops[idx[k]];
        char v[32], x[32], done[32];
        value_str(v, sizeof v, op->value);
        value_str(x, sizeof x, op->expected);
        if (op->complete == LIN_PENDING) {
            snprintf(done, sizeof done, "?");
        } else {
            snprintf(done, sizeof done, "%.3f", (double)(op->complete - t0) / 1e6);
        }
        fprintf(out, "%s op %zu p%d [%.3f ms, %s ms] ", idx[k] == mark ? "=>" : "  ", idx[k],
                op->process, (double)(op->invoke - t0) / 1e6, done);
        switch (op->kind) {
        case LIN_READ:
            fprintf(out, "read -> %s\n", v);
            break;
        case LIN_WRITE:
            fprintf(out, "write %s%s\n", v, op->complete == LIN_PENDING ? " (indeterminate)" : "");
            break;
        default:
            fprintf(out, "cas %s -> %s: %s\n", x, v,
                    op->complete == LIN_PENDING ? "indeterminate" : op->ok ? "ok" : "failed");
            break;
        }
    }
    free(idx);
}

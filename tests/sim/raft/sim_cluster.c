/* raft_fixture cluster with recording FSMs and a ledger of submitted values
 * (see sim_cluster.h). All stepping is on the fixture's virtual clock. */
#include "tests/sim/raft/sim_cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sim_apply {
    struct raft_apply req;
    struct sim_cluster *c;
    uint64_t value;
    unsigned server;
};

struct sim_barrier {
    struct raft_barrier req;
    struct sim_cluster *c;
};

int sim_cluster_init(struct sim_cluster *c, unsigned n)
{
    struct raft_configuration conf;
    int rv;

    memset(c, 0, sizeof *c);
    if (n == 0 || n > SIM_MAX_SERVERS)
        return RAFT_INVALID;
    c->n = n;
    c->next_value = 1;
    c->window = 4;
    c->watchdog = true;
    rv = raft_fixture_initialize(&c->f);
    if (rv != 0)
        return rv;
    for (unsigned i = 0; i < n; i++) {
        sim_fsm_init(&c->fsms[i]);
        rv = raft_fixture_grow(&c->f, &c->fsms[i].fsm);
        if (rv != 0)
            goto err_fixture;
    }
    rv = raft_fixture_configuration(&c->f, n, &conf);
    if (rv != 0)
        goto err_fixture;
    rv = raft_fixture_bootstrap(&c->f, &conf);
    raft_configuration_close(&conf);
    if (rv != 0)
        goto err_fixture;
    rv = raft_fixture_start(&c->f);
    if (rv != 0)
        goto err_fixture;
    return 0;

err_fixture:
    raft_fixture_close(&c->f);
    for (unsigned i = 0; i < n; i++)
        sim_fsm_destroy(&c->fsms[i]);
    return rv;
}

static void leader_fence_hook(struct raft_fixture *f, struct raft_fixture_event *event)
{
    struct sim_cluster *c = (struct sim_cluster *)((char *)f - offsetof(struct sim_cluster, f));
    (void)event;
    for (unsigned i = 0; i < c->n; i++) {
        struct raft *r = raft_fixture_get(f, i);
        if (!raft_fixture_alive(f, i) || raft_state(r) != RAFT_LEADER ||
            c->fenced_term[i] == r->current_term)
            continue;
        if (c->seen_term[i] != r->current_term) {
            c->seen_term[i] = r->current_term;
            c->seen_at[i] = raft_fixture_time(f);
        }
        if (raft_fixture_time(f) - c->seen_at[i] < c->fence_delay_ms)
            continue;
        c->fenced_term[i] = r->current_term;
        if (sim_cluster_barrier(c, i, NULL) == 0)
            c->n_fences++;
    }
}

void sim_cluster_set_leader_fence(struct sim_cluster *c, bool on)
{
    c->leader_fence = on;
    raft_fixture_hook(&c->f, on ? leader_fence_hook : NULL);
    /* A server already leading is fenced at the next event. */
}

void sim_cluster_set_fence_delay(struct sim_cluster *c, unsigned ms)
{
    c->fence_delay_ms = ms;
}

void sim_cluster_destroy(struct sim_cluster *c)
{
    if (c == NULL || c->n == 0)
        return;
    raft_fixture_close(&c->f);
    for (unsigned i = 0; i < c->n; i++)
        sim_fsm_destroy(&c->fsms[i]);
    free(c->outcome);
    c->outcome = NULL;
    c->n = 0;
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct sim_apply *a = req->data;
    (void)result;
    a->c->outcome[a->value] = status == 0 ? SIM_ACKED : SIM_FAILED;
    a->c->inflight[a->server]--;
    if (status == 0) {
        a->c->n_acked++;
    } else {
        a->c->n_failed++;
        a->c->last_failure = status;
    }
    free(a);
}

static int ledger_reserve(struct sim_cluster *c, uint64_t value)
{
    if (value < c->outcome_cap)
        return 0;
    size_t cap = c->outcome_cap ? c->outcome_cap * 2 : 256;
    while (cap <= value)
        cap *= 2;
    uint8_t *o = realloc(c->outcome, cap);
    if (o == NULL)
        return RAFT_NOMEM;
    memset(o + c->outcome_cap, 0, cap - c->outcome_cap);
    c->outcome = o;
    c->outcome_cap = cap;
    return 0;
}

int sim_cluster_submit(struct sim_cluster *c, unsigned i, uint64_t *value)
{
    struct sim_apply *a;
    struct raft_buffer buf;
    uint64_t v = c->next_value;
    int rv;

    rv = ledger_reserve(c, v);
    if (rv != 0)
        return rv;
    a = malloc(sizeof *a);
    if (a == NULL)
        return RAFT_NOMEM;
    buf = sim_fsm_command(v);
    if (buf.base == NULL) {
        free(a);
        return RAFT_NOMEM;
    }
    a->c = c;
    a->value = v;
    a->server = i;
    a->req.data = a;
    rv = raft_apply(raft_fixture_get(&c->f, i), &a->req, &buf, 1, apply_cb);
    if (rv != 0) {
        raft_free(buf.base);
        free(a);
        return rv;
    }
    c->next_value++;
    c->outcome[v] = SIM_PENDING;
    c->inflight[i]++;
    if (value != NULL)
        *value = v;
    return 0;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct sim_barrier *b = req->data;
    if (status == 0)
        b->c->n_barriers_done++;
    free(b);
}

int sim_cluster_barrier(struct sim_cluster *c, unsigned i, raft_index *index)
{
    struct sim_barrier *b = malloc(sizeof *b);
    int rv;

    if (b == NULL)
        return RAFT_NOMEM;
    b->c = c;
    b->req.data = b;
    rv = raft_barrier(raft_fixture_get(&c->f, i), &b->req, barrier_cb);
    if (rv != 0) {
        free(b);
        return rv;
    }
    if (index != NULL)
        *index = b->req.index;
    return 0;
}

unsigned sim_cluster_leader(struct sim_cluster *c)
{
    unsigned best = c->n;
    raft_term term = 0;
    for (unsigned i = 0; i < c->n; i++) {
        struct raft *r = raft_fixture_get(&c->f, i);
        if (!raft_fixture_alive(&c->f, i) || raft_state(r) != RAFT_LEADER)
            continue;
        if (best == c->n || r->current_term > term) {
            best = i;
            term = r->current_term;
        }
    }
    return best;
}

unsigned sim_cluster_load(struct sim_cluster *c, unsigned ms, unsigned every_ms)
{
    raft_time start = raft_fixture_time(&c->f);
    raft_time next = start;
    unsigned n = 0;

    while (raft_fixture_time(&c->f) - start < ms) {
        if (raft_fixture_time(&c->f) >= next) {
            unsigned l = sim_cluster_leader(c);
            next = raft_fixture_time(&c->f) + every_ms;
            if (l < c->n && (c->window == 0 || c->inflight[l] < c->window)) {
                if (sim_cluster_submit(c, l, NULL) == 0)
                    n++;
                else
                    c->n_refused++;
            }
        }
        raft_fixture_step(&c->f);
    }
    return n;
}

unsigned sim_cluster_wait_leader(struct sim_cluster *c, unsigned max_ms)
{
    raft_time start = raft_fixture_time(&c->f);
    unsigned l;
    while ((l = sim_cluster_leader(c)) == c->n && raft_fixture_time(&c->f) - start < max_ms)
        raft_fixture_step(&c->f);
    return l;
}

bool sim_cluster_wait_state(struct sim_cluster *c, unsigned i, int state, unsigned max_ms)
{
    raft_time start = raft_fixture_time(&c->f);
    struct raft *r = raft_fixture_get(&c->f, i);
    while (raft_state(r) != state && raft_fixture_time(&c->f) - start < max_ms)
        raft_fixture_step(&c->f);
    return raft_state(r) == state;
}

bool sim_cluster_elect(struct sim_cluster *c, unsigned i, unsigned max_ms)
{
    raft_time now = raft_fixture_time(&c->f);
    for (unsigned j = 0; j < c->n; j++) {
        struct raft *r = raft_fixture_get(&c->f, j);
        if (raft_state(r) != RAFT_FOLLOWER)
            continue;
        if (j == i) {
            unsigned elapsed = (unsigned)(now - r->election_timer_start);
            r->follower_state.randomized_election_timeout =
                elapsed > r->election_timeout ? elapsed : r->election_timeout;
        } else {
            r->follower_state.randomized_election_timeout = r->election_timeout * 2;
        }
        raft_fixture_set_randomized_election_timeout(&c->f, j,
                                                     j == i ? r->election_timeout
                                                            : r->election_timeout * 2);
    }
    return sim_cluster_wait_state(c, i, RAFT_LEADER, max_ms);
}

void sim_cluster_cut(struct sim_cluster *c, unsigned i, unsigned j)
{
    raft_fixture_saturate(&c->f, i, j);
    raft_fixture_saturate(&c->f, j, i);
}

void sim_cluster_mend(struct sim_cluster *c, unsigned i, unsigned j)
{
    raft_fixture_desaturate(&c->f, i, j);
    raft_fixture_desaturate(&c->f, j, i);
}

void sim_cluster_isolate(struct sim_cluster *c, unsigned i)
{
    for (unsigned j = 0; j < c->n; j++)
        if (j != i)
            sim_cluster_cut(c, i, j);
}

void sim_cluster_heal(struct sim_cluster *c)
{
    for (unsigned i = 0; i < c->n; i++)
        for (unsigned j = 0; j < c->n; j++)
            if (i != j)
                raft_fixture_desaturate(&c->f, i, j);
}

static bool all_applied(struct sim_cluster *c, raft_index index)
{
    for (unsigned i = 0; i < c->n; i++)
        if (raft_fixture_alive(&c->f, i) &&
            raft_last_applied(raft_fixture_get(&c->f, i)) < index)
            return false;
    return true;
}

static void transfer_cb(struct raft_transfer *req)
{
    free(req);
}

/* The store's stuck-follower watchdog (docs/raft-0.15-findings.md, finding
 * 3): hand leadership to the most advanced other follower, which resets
 * every follower's replication progress. */
static bool watchdog_transfer(struct sim_cluster *c, unsigned l)
{
    struct raft_transfer *req;
    unsigned best = c->n;

    for (unsigned i = 0; i < c->n; i++) {
        if (i == l || !raft_fixture_alive(&c->f, i))
            continue;
        if (best == c->n || raft_last_applied(raft_fixture_get(&c->f, i)) >
                                raft_last_applied(raft_fixture_get(&c->f, best)))
            best = i;
    }
    if (best == c->n)
        return false;
    req = malloc(sizeof *req);
    if (req == NULL)
        return false;
    if (raft_transfer(raft_fixture_get(&c->f, l), req, raft_fixture_get(&c->f, best)->id,
                      transfer_cb) != 0) {
        free(req);
        return false;
    }
    c->n_watchdog_transfers++;
    return true;
}

bool sim_cluster_converge(struct sim_cluster *c, unsigned max_ms)
{
    raft_time start = raft_fixture_time(&c->f);
    while (raft_fixture_time(&c->f) - start < max_ms) {
        unsigned l = sim_cluster_wait_leader(c, max_ms);
        raft_time applied_start;
        raft_index index;
        unsigned done;

        if (l == c->n)
            return false;
        done = c->n_barriers_done;
        if (sim_cluster_barrier(c, l, &index) != 0) {
            raft_fixture_step(&c->f);
            continue;
        }
        while (raft_fixture_time(&c->f) - start < max_ms && c->n_barriers_done == done &&
               raft_state(raft_fixture_get(&c->f, l)) == RAFT_LEADER)
            raft_fixture_step(&c->f);
        if (c->n_barriers_done == done)
            continue;
        applied_start = raft_fixture_time(&c->f);
        while (raft_fixture_time(&c->f) - start < max_ms && !all_applied(c, index) &&
               raft_fixture_time(&c->f) - applied_start < SIM_WATCHDOG_MS)
            raft_fixture_step(&c->f);
        if (all_applied(c, index))
            return true;
        if (c->watchdog && raft_state(raft_fixture_get(&c->f, l)) == RAFT_LEADER)
            watchdog_transfer(c, l);
    }
    return false;
}

static bool fail(struct sim_cluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct sim_cluster *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return false;
}

bool sim_cluster_check(struct sim_cluster *c, bool converged)
{
    unsigned ref = c->n;

    c->errmsg[0] = '\0';
    for (unsigned i = 0; i < c->n; i++) {
        const struct sim_fsm *f = &c->fsms[i];
        if (!sim_fsm_unique(f))
            return fail(c, "server %u applied a value twice", i);
        for (size_t k = 0; k < f->len; k++)
            if (f->seq[k] == 0 || f->seq[k] >= c->next_value)
                return fail(c, "server %u applied value %llu that was never submitted", i,
                            (unsigned long long)f->seq[k]);
        for (unsigned j = 0; j < i; j++) {
            const struct sim_fsm *g = &c->fsms[j];
            size_t p = sim_fsm_common_prefix(f, g);
            size_t m = f->len < g->len ? f->len : g->len;
            if (p != m)
                return fail(c, "servers %u and %u diverge at position %zu: %llu vs %llu", j, i,
                            p, (unsigned long long)g->seq[p], (unsigned long long)f->seq[p]);
        }
    }
    if (!converged)
        return true;
    for (unsigned i = 0; i < c->n; i++) {
        if (!raft_fixture_alive(&c->f, i))
            continue;
        if (ref == c->n) {
            ref = i;
            continue;
        }
        if (c->fsms[i].len != c->fsms[ref].len)
            return fail(c, "server %u applied %zu values, server %u %zu", ref,
                        c->fsms[ref].len, i, c->fsms[i].len);
    }
    if (ref == c->n)
        return fail(c, "no alive server");
    /* Values in the sequence are unique and < next_value (checked above), so
     * marking them present gives each value's count (0 or 1). */
    uint8_t *present = calloc(c->next_value, 1);
    if (present == NULL)
        return fail(c, "out of memory");
    for (size_t k = 0; k < c->fsms[ref].len; k++)
        present[c->fsms[ref].seq[k]] = 1;
    for (uint64_t v = 1; v < c->next_value; v++) {
        if (c->outcome[v] == SIM_ACKED && !present[v]) {
            free(present);
            return fail(c, "acknowledged value %llu missing on server %u",
                        (unsigned long long)v, ref);
        }
    }
    free(present);
    return true;
}

raft_term sim_log_term(const struct raft *r, raft_index index)
{
    const struct raft_log *l = &r->log;
    size_t n;

    if (l->size == 0)
        return 0;
    n = (l->back + l->size - l->front) % l->size;
    if (index <= l->offset || index > l->offset + n)
        return 0;
    return l->entries[(l->front + (index - l->offset - 1)) % l->size].term;
}

bool sim_under_valgrind(void)
{
    const char *v = getenv("STRATA_UNDER_VALGRIND");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

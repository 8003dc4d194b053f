/* A libraft 0.15.0 raft_fixture cluster (virtual time, in-memory I/O) with
 * one recording FSM per server and a ledger of every value submitted and how
 * its apply request ended. The ledger and the FSMs together let a test check
 * the store's promises: acknowledged entries applied exactly once, nothing
 * applied twice, every replica's sequence a prefix of the others'. */
#ifndef STRATA_TESTS_SIM_RAFT_SIM_CLUSTER_H
#define STRATA_TESTS_SIM_RAFT_SIM_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <raft.h>
#include <raft/fixture.h>

#include "lib/err.h"
#include "tests/sim/raft/sim_fsm.h"

#define SIM_MAX_SERVERS 5

/* How long sim_cluster_converge waits for a connected follower to apply a
 * committed barrier before the watchdog moves leadership. */
#define SIM_WATCHDOG_MS 3000

/* Outcome of a submitted value's apply request. */
enum sim_outcome {
    SIM_UNSUBMITTED = 0,
    SIM_PENDING,  /* raft_apply returned 0, callback not fired yet */
    SIM_ACKED,    /* callback fired with status 0: applied on the leader */
    SIM_FAILED,   /* callback fired with an error: may or may not commit */
};

/* Invariants: values are submitted in increasing order starting at 1;
 * 'outcome[v]' for v < 'next_value' is never SIM_UNSUBMITTED unless raft_apply
 * itself refused v; 'n' servers are grown, bootstrapped and started. */
struct sim_cluster {
    struct raft_fixture f;
    struct sim_fsm fsms[SIM_MAX_SERVERS];
    unsigned n;
    uint64_t next_value;
    uint8_t *outcome;   /* Indexed by value, 'outcome_cap' entries. */
    size_t outcome_cap;
    unsigned n_acked;
    unsigned n_failed;
    unsigned n_refused;
    unsigned inflight[SIM_MAX_SERVERS]; /* Apply requests pending per server. */
    unsigned window;           /* sim_cluster_load's cap on 'inflight' (see
                                * docs/raft-0.15-findings.md: 0.15.0 stalls
                                * its commit index under an unbounded steady
                                * stream). 0 means unbounded; default 4. */
    int last_failure;          /* Status of the last failed apply callback. */        /* raft_apply calls that returned an error. */
    unsigned n_barriers_done;  /* Barriers whose callback fired with 0. */
    char errmsg[256];          /* Why the last check failed. */
    /* Leader fence (the store's mitigation for 0.15.0's missing no-op on
     * election): when on, a barrier is submitted by every server the first
     * time it is seen as leader in a term. */
    bool leader_fence;
    unsigned fence_delay_ms;   /* Fence only after leading this long. */
    raft_term seen_term[SIM_MAX_SERVERS];
    raft_time seen_at[SIM_MAX_SERVERS];
    raft_term fenced_term[SIM_MAX_SERVERS];
    unsigned n_fences;
    /* Stuck-follower watchdog used by sim_cluster_converge (default on). */
    bool watchdog;
    unsigned n_watchdog_transfers;
};

/* Builds an 'n'-voter cluster, bootstraps it and starts every server.
 * Returns 0 or a raft error code. */
int sim_cluster_init(struct sim_cluster *c, unsigned n) STRATA_WARN_UNUSED;

/* Turns the leader fence on or off (see struct sim_cluster). It runs from
 * the fixture's event hook, i.e. after every simulated event, the way the
 * store runs it from a libuv prepare handle after every loop iteration. */
void sim_cluster_set_leader_fence(struct sim_cluster *c, bool on);

/* Delays the fence until a server has been leader for 'ms' virtual ms: a
 * model of a store that notices leadership late. */
void sim_cluster_set_fence_delay(struct sim_cluster *c, unsigned ms);

/* Closes the fixture (which fails pending requests) and frees everything. */
void sim_cluster_destroy(struct sim_cluster *c);

/* Submits the next value to server 'i' through raft_apply. On success stores
 * the value in '*value' (if not NULL) and returns 0; otherwise returns the
 * raft error (RAFT_NOTLEADER when 'i' is not leader). */
int sim_cluster_submit(struct sim_cluster *c, unsigned i, uint64_t *value) STRATA_WARN_UNUSED;

/* Submits a barrier to server 'i'; on success '*index' (if not NULL) is the
 * barrier's log index. Returns 0 or a raft error. */
int sim_cluster_barrier(struct sim_cluster *c, unsigned i, raft_index *index) STRATA_WARN_UNUSED;

/* Steps for 'ms' virtual milliseconds, submitting one value to the current
 * leader (sim_cluster_leader) every 'every_ms' while fewer than c->window
 * of its apply requests are pending. Returns how many raft_apply calls were
 * accepted. */
unsigned sim_cluster_load(struct sim_cluster *c, unsigned ms, unsigned every_ms);

/* Returns the index of the alive server in leader state with the highest
 * term, or c->n when there is none. Unlike the fixture's own notion this
 * does not wait for the leader to be acknowledged by a majority. */
unsigned sim_cluster_leader(struct sim_cluster *c);

/* Steps until sim_cluster_leader() finds a leader, at most 'max_ms' virtual
 * milliseconds. Returns the leader's index or c->n. */
unsigned sim_cluster_wait_leader(struct sim_cluster *c, unsigned max_ms);

/* Steps until server 'i' is leader, at most 'max_ms'. Returns true if so. */
bool sim_cluster_wait_state(struct sim_cluster *c, unsigned i, int state, unsigned max_ms);

/* Makes server 'i' the next to campaign: its randomized election timeout is
 * set to the minimum and every other alive follower's to twice the election
 * timeout, then steps until 'i' is leader. Unlike raft_fixture_elect this
 * tolerates dead servers that were leaders when killed. Returns true when
 * 'i' won within 'max_ms'. */
bool sim_cluster_elect(struct sim_cluster *c, unsigned i, unsigned max_ms);

/* Drops every message between 'i' and 'j' in both directions (or lets them
 * through again). */
void sim_cluster_cut(struct sim_cluster *c, unsigned i, unsigned j);
void sim_cluster_mend(struct sim_cluster *c, unsigned i, unsigned j);

/* Cuts 'i' from every other server. */
void sim_cluster_isolate(struct sim_cluster *c, unsigned i);

/* Mends every link. */
void sim_cluster_heal(struct sim_cluster *c);

/* Steps until a leader exists, a barrier submitted on it has been applied,
 * and every alive server has applied up to that barrier; at most 'max_ms'.
 * With c->watchdog, a follower that has not applied the committed barrier
 * SIM_WATCHDOG_MS later makes the leader transfer leadership to the most
 * advanced other follower, and the wait starts over. Returns true on
 * convergence. */
bool sim_cluster_converge(struct sim_cluster *c, unsigned max_ms);

/* Checks the safety properties on every server's FSM: no duplicates, no
 * value that was never submitted, and pairwise prefix consistency. With
 * 'converged', also that all alive servers hold the same sequence and that
 * every acknowledged value is present exactly once. Returns true when all
 * hold; otherwise false with c->errmsg describing the first violation. */
bool sim_cluster_check(struct sim_cluster *c, bool converged);

/* Returns the term of the entry at 'index' in 'r's in-memory log, or 0 when
 * that index is not in memory (compacted into a snapshot, or beyond the end). */
raft_term sim_log_term(const struct raft *r, raft_index index);

/* Returns true when the environment asks for short runs (valgrind). */
bool sim_under_valgrind(void);

#endif

/* Recording state machine for the raft simulation tests: every applied
 * command is a 64-bit value that is appended to an in-memory sequence, and
 * snapshots serialize that sequence. The tests compare the sequences of all
 * replicas to prove that nothing acknowledged is lost, nothing is applied
 * twice, and every replica applies the same values in the same order. */
#ifndef STRATA_TESTS_SIM_RAFT_SIM_FSM_H
#define STRATA_TESTS_SIM_RAFT_SIM_FSM_H

#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#include "lib/err.h"

/* Invariants: 'seq[0..len)' are the applied values in apply order; 'cap' >=
 * 'len'. 'n_restores' counts successful restore calls (snapshot installs and
 * restarts from a snapshot); 'n_snapshots' counts snapshot calls. */
struct sim_fsm {
    struct raft_fsm fsm;  /* Handed to raft; fsm.data points back here. */
    uint64_t *seq;
    size_t len;
    size_t cap;
    unsigned n_restores;
    unsigned n_snapshots;
};

/* Initializes 'f' with an empty sequence and fills in its raft_fsm
 * (version 2: raft never frees the snapshot buffers, snapshot_finalize does). */
void sim_fsm_init(struct sim_fsm *f);

/* Releases the sequence. Accepts a zeroed 'f'. */
void sim_fsm_destroy(struct sim_fsm *f);

/* Returns a raft_buffer (allocated with raft_malloc, ownership to the caller
 * and then to raft_apply) encoding 'value' as a command, or a buffer with a
 * NULL base on allocation failure. */
struct raft_buffer sim_fsm_command(uint64_t value);

/* Returns how many times 'value' occurs in 'f'. */
size_t sim_fsm_count(const struct sim_fsm *f, uint64_t value);

/* Returns the position of the first element that differs between 'a' and
 * 'b' within their common length, or the shorter length if one is a prefix
 * of the other. */
size_t sim_fsm_common_prefix(const struct sim_fsm *a, const struct sim_fsm *b);

/* Returns true when no value occurs twice in 'f'. */
bool sim_fsm_unique(const struct sim_fsm *f);

#endif

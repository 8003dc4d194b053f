/* A store node: one raft member (libraft 0.15 on libuv, our TLS transport)
 * driving the LMDB state machine of fsm.h. It is the only writer of the
 * node's LMDB environment. Requests come from the client protocol server
 * (server.c) or in-process callers through store_node_submit().
 *
 * Batching: libraft applies committed entries one at a time; the node
 * gathers every entry applied in one loop iteration and commits them to LMDB
 * in one write transaction at the end of the iteration (a uv_check handle),
 * then answers the clients whose entries those were. Apply is idempotent by
 * raft index, so a crash between libraft's apply and our commit only means
 * the entries are applied again from the log on restart.
 *
 * Reads: linearizable by default. Reads that arrive while no barrier is in
 * flight start one; reads arriving during it wait for the next, so any
 * number of concurrent reads share one raft barrier. Serializable reads are
 * served from local state at once.
 *
 * libraft 0.15 lacks the Raft §5.4.2 fix (a new leader must commit an entry
 * of its own term before earlier-term entries count as committed); the node
 * submits a barrier as soon as it becomes leader, and serves no read before
 * that barrier has applied (docs/raft-0.15-findings.md). */
#ifndef STRATA_STORE_NODE_H
#define STRATA_STORE_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>
#include <uv.h>

#include "lib/tls.h"
#include "store/fsm.h"
#include "store/transport.h"

#define STORE_MEMBERS_MAX 16

struct store_member {
    uint64_t id;
    char address[STORE_ADDRESS_MAX]; /* NAME@HOST:RAFTPORT */
};

struct store_node_config {
    uint64_t id;
    const char *address;  /* this node's NAME@HOST:RAFTPORT */
    const char *dir;      /* data directory: raft/ and db/ live below it */
    /* Initial voters, used to bootstrap a new cluster (ignored on restart
     * and when 'join' is set). */
    struct store_member members[STORE_MEMBERS_MAX];
    unsigned members_len;
    bool join;            /* start empty; a leader adds this node */
    struct tls_ctx *server_ctx; /* ALPN STORE_TRANSPORT_ALPN */
    struct tls_ctx *client_ctx;
    int raft_listen_fd;   /* -1: listen on the address's HOST:PORT */
    struct store_fsm_config fsm;
    /* raft tuning; 0 picks the defaults in node.c */
    unsigned election_timeout_ms;
    unsigned heartbeat_timeout_ms;
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    unsigned request_timeout_ms;
};

struct store_node;

/* Completion of a request: 'status' 0 with the encoded store_reply in
 * 'reply' ('size' bytes, valid during the call), or a STORE_E* code. */
typedef void store_node_done_fn(void *arg, int status, const uint8_t *reply, size_t size);

int store_node_create(uv_loop_t *loop, const struct store_node_config *config,
                      struct store_node **out) STRATA_WARN_UNUSED;
int store_node_start(struct store_node *node) STRATA_WARN_UNUSED;
/* Stops raft, answers pending requests with STORE_ESHUTDOWN, closes the
 * handles and frees the node, then calls 'cb' (may be NULL). */
void store_node_close(struct store_node *node, void (*cb)(void *arg), void *arg);

/* Submits an encoded store command (store/cmd.h). RANGE commands are reads
 * (linearizable unless 'serializable'); everything else goes through raft.
 * On a follower the caller gets STORE_ENOTLEADER (the server forwards).
 * 'done' is called exactly once, never from inside this call. Returns 0 or
 * an immediate error (then 'done' is not called). */
int store_node_submit(struct store_node *node, const uint8_t *cmd, size_t size, bool serializable,
                      store_node_done_fn *done, void *arg) STRATA_WARN_UNUSED;

struct store_node_status {
    uint64_t id;
    int state;          /* RAFT_FOLLOWER, RAFT_CANDIDATE, RAFT_LEADER, ... */
    uint64_t leader_id;
    char leader_address[STORE_ADDRESS_MAX];
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index; /* raft's */
    uint64_t last_index;
    uint64_t last_stored;   /* raft's: the last log entry persisted here */
    struct store_fsm_status fsm;
    unsigned members_len;
    struct {
        uint64_t id;
        char address[STORE_ADDRESS_MAX];
        int role;           /* RAFT_VOTER, RAFT_STANDBY, RAFT_SPARE */
        uint64_t match_index; /* leader only: replicated up to; lag = last - match */
    } members[STORE_MEMBERS_MAX];
    int storage_error;  /* sticky FSM error, 0 when healthy */
    uint64_t watchdog_transfers; /* leadership handed over for a stuck follower */
};

int store_node_status(struct store_node *node, struct store_node_status *st) STRATA_WARN_UNUSED;
struct store_fsm *store_node_fsm(struct store_node *node);
bool store_node_is_leader(struct store_node *node);

/* Membership (leader only). 'done' gets 0 or an error code. */
typedef void store_node_change_fn(void *arg, int status);
int store_node_add_member(struct store_node *node, uint64_t id, const char *address,
                          store_node_change_fn *done, void *arg) STRATA_WARN_UNUSED;
int store_node_remove_member(struct store_node *node, uint64_t id, store_node_change_fn *done,
                             void *arg) STRATA_WARN_UNUSED;
/* Transfers leadership to 'id' (0: the most up-to-date follower). */
int store_node_transfer(struct store_node *node, uint64_t id, store_node_change_fn *done,
                        void *arg) STRATA_WARN_UNUSED;
/* Appends a backup of the applied state (a store_fsm_snapshot() taken after
 * committing pending entries) to 'out'; restore it with store_fsm_restore(). */
int store_node_backup(struct store_node *node, struct buf *out) STRATA_WARN_UNUSED;

/* Live events after each commit, in order (for watches); replaces any
 * previous hook. */
void store_node_set_event_hook(struct store_node *node, store_event_fn *fn, void *arg);

#endif

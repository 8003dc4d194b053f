/* The leader's deferred log appends (docs/store-perf.md, "The 1-client
 * tail"). libraft 0.15 starts a leader's local append before it sends the
 * AppendEntries for the same entries, and raft_uv's append is an io_submit
 * of an O_DIRECT|O_DSYNC write that, on a fast device, completes inside the
 * call: the loop thread then waits for the data write, the inode write and
 * the cache flush before the messages it was about to send leave through
 * the TLS bridge (two more loop passes). The followers' appends then start
 * only after the leader's has finished, and a slow flush on the leader
 * (milliseconds when the disk is shared) is added to every such write
 * instead of overlapping the followers' round trip.
 *
 * The node wraps raft_io's append: on the leader, each append is queued
 * here with the loop pass it arrived in (a counter the node advances in
 * its prepare handle) and started, in order, once two more passes have
 * begun, by which time the bridge has read libraft's messages and TLS has
 * written them out. Every other log operation (an append while not leader,
 * truncate, snapshot install, close) first starts everything queued, so
 * raft_uv sees the operations in the order libraft issued them. Nothing is
 * acknowledged earlier: libraft counts an entry as stored on this node only
 * from the append's callback, which raft_uv calls once the write is on
 * disk, as before. */
#ifndef STRATA_STORE_APPEND_QUEUE_H
#define STRATA_STORE_APPEND_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#include "lib/err.h"

/* Starts one append (raft_io's append signature); returns 0 or a RAFT_*
 * code, as raft_io's append does. */
typedef int store_append_start_fn(struct raft_io *io, struct raft_io_append *req,
                                  const struct raft_entry entries[], unsigned n, raft_io_append_cb cb);

struct store_append_item;

struct store_append_queue {
    struct store_append_item *head, *tail;
    size_t len;
    uint64_t pass; /* the loop pass counter */
};

void store_append_queue_init(struct store_append_queue *q);

/* Queues an append for a later start, stamped with the current pass. The
 * request, the entries array and their buffers belong to the caller
 * (libraft keeps them until 'cb' runs). Returns 0 or LIB_ENOMEM. */
STRATA_WARN_UNUSED int store_append_queue_push(struct store_append_queue *q, struct raft_io_append *req,
                                               const struct raft_entry entries[], unsigned n,
                                               raft_io_append_cb cb);

/* Advances the pass counter (the node calls it once per loop pass). */
void store_append_queue_pass(struct store_append_queue *q);

/* Starts, oldest first, the queued appends stamped at least 'min_age'
 * passes ago (0: all of them) through 'start'. An append 'start' refuses
 * gets its callback with that code, as if raft_uv had failed it, and the
 * ones after it are still started in order. Returns how many were taken
 * from the queue. */
size_t store_append_queue_run(struct store_append_queue *q, struct raft_io *io, store_append_start_fn *start,
                              unsigned min_age);

bool store_append_queue_empty(const struct store_append_queue *q);

#endif

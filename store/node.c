/* The store node of node.h: libraft + TLS transport + the LMDB state machine,
 * with batched commits, shared read barriers and the election barrier.
 *
 * Tuning (see docs/ARCHITECTURE.md, "Store"): heartbeat 100 ms and election
 * timeout 1000 ms: on loopback and a LAN a round trip is well under 1 ms, so
 * ten heartbeats fit in an election timeout and a failed leader is replaced
 * in 1-2 s without spurious elections when a 2-core machine is busy.
 * Snapshot threshold 65536 entries with 16384 trailing: libraft's default of
 * 1024 snapshots the whole LMDB state every ~1k writes, which costs 3-10x
 * throughput at high rates; 64k entries of typical 100-300 byte commands is
 * ~20 MB of log, and the trailing 16k lets a follower that briefly fell
 * behind catch up from the log instead of a full snapshot. */
#include "store/node.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <raft/uv.h>

#include "lib/log.h"
#include "store/append_queue.h"
#include "store/entry.h"

#define NODE_ELECTION_MS 1000
#define NODE_HEARTBEAT_MS 100
#define NODE_SNAPSHOT_THRESHOLD 65536
#define NODE_SNAPSHOT_TRAILING 16384
#define NODE_REQUEST_TIMEOUT_MS 10000
#define NODE_RETRY_MS 1000
#define NODE_SLOW_COMMIT_MS 500 /* LMDB commits longer than this are logged */
#define NODE_SLOW_WRITE_DEBUG_MS 5 /* at debug level: writes and loop passes this slow */
#define NODE_EXIT_UNAVAILABLE 75 /* EX_TEMPFAIL: restart me */
/* A leader's append starts this many loop passes after libraft asked for
 * it: one for the TLS bridge to read libraft's AppendEntries off the
 * socketpair, one for TLS to encrypt and write them (store/append_queue.h). */
#define NODE_APPEND_DEFER_PASSES 2

/* A client request waiting for raft and the LMDB commit. */
struct request {
    struct store_node *node;
    struct request *next;
    store_node_done_fn *done;
    void *arg;
    uint8_t *cmd; /* a copy of the command */
    size_t cmd_size;
    bool serializable;
    /* Timing of a write, for the slow-write debug log (uv_hrtime ns):
     * accepted, proposed as part of a raft entry, applied (committed by
     * raft). */
    uint64_t t_submit, t_propose, t_apply;
};

/* The writes proposed together as one raft entry (store/entry.h), in
 * order; they complete together. */
struct proposal {
    struct raft_apply apply;
    struct request *reqs;
};

/* One command applied by libraft and not yet committed to LMDB. The
 * commands of one batch entry share its index. */
struct pending {
    uint64_t index;
    uint32_t part;
    uint8_t *data;
    size_t size;
    struct request *req; /* the leader's client waiting for it, if any */
    struct pending *next;
};

struct store_node {
    uv_loop_t *loop;
    struct store_node_config cfg;
    char address[STORE_ADDRESS_MAX];
    char raft_dir[4096];
    char db_dir[4096];
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm raft_fsm;
    struct raft raft;
    struct store_fsm *fsm;
    bool started;
    bool closing;
    void (*close_cb)(void *);
    void *close_arg;

    uv_check_t check;    /* commits the pending batch each iteration */
    uv_prepare_t pass;   /* counts loop passes, starts deferred appends */
    uint64_t pass_cpu_ns; /* the loop thread's CPU time at that start */
    uv_idle_t kick;      /* keeps the loop from blocking while reads are ready */
    uv_timer_t retry;    /* retries a batch after a storage error */

    /* Writes accepted in this loop iteration, not yet proposed: the check
     * handle proposes them as one raft entry (store/entry.h). */
    struct request *wb_head, *wb_tail;
    size_t wb_len, wb_bytes;

    /* Entries applied by raft, awaiting commit, in index order. */
    struct pending *pend_head, *pend_tail;
    size_t pend_len;
    struct store_entry *entries;
    struct store_result *results;
    size_t batch_cap;

    /* Linearizable reads: 'reads_next' wait for a barrier not yet started;
     * 'reads_barrier' wait for the one in flight. */
    struct request *reads_next;
    struct request *reads_barrier;
    bool barrier_inflight;
    struct raft_barrier barrier;
    /* Reads ready to run after the next commit. */
    struct request *reads_ready;

    int last_state;
    bool leader_ready; /* the election barrier has applied */

    /* Stuck-follower watchdog (docs/raft-0.15-findings.md, finding 3): the
     * leader's view of each follower's match index and since when it is
     * unchanged while the follower is alive and behind. */
    uv_timer_t watchdog;
    struct {
        uint64_t id;
        uint64_t match;
        uint64_t since_ms;
    } watch[STORE_MEMBERS_MAX];
    bool transferring;
    struct raft_transfer transfer;
    uint64_t watchdog_transfers;
    /* Follower side: the commit index and since when it is unchanged while
     * a leader is known and entries past it are persisted here. */
    uint64_t fw_commit;
    uint64_t fw_since_ms;

    store_event_fn *event_hook;
    void *event_arg;
    int handles_open;

    /* Asynchronous snapshots (raft_fsm version 3). fsm_snapshot() commits
     * the pending batch and opens a read-only view on the loop thread;
     * fsm_snapshot_async() serializes it on a libuv worker thread while the
     * loop keeps applying; node_work_done() closes the view. Debian's
     * raft_uv is raft_io version 1 without async_work, so the node supplies
     * it (node_io_async_work) and holds back raft_uv's close until the work
     * has finished. */
    struct store_fsm_view *snap_view;
    uv_work_t work;
    struct raft_io_async_work *work_req;
    raft_io_async_work_cb work_cb;
    int work_status;
    bool work_busy;
    void (*io_close)(struct raft_io *io, raft_io_close_cb cb); /* raft_uv's */
    /* The leader's appends wait here until its messages are out
     * (store/append_queue.h); raft_uv's own log operations. */
    struct store_append_queue appends;
    store_append_start_fn *io_append;
    int (*io_truncate)(struct raft_io *io, raft_index index);
    int (*io_snapshot_put)(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb);
    raft_io_close_cb io_close_cb; /* a close waiting for the work to end */
};

static void node_event(void *arg, const struct store_event *ev)
{
    struct store_node *n = arg;
    if (n->event_hook) {
        n->event_hook(n->event_arg, ev);
    }
}

/* ---- request completion ---- */

/* At debug level, a write slower than NODE_SLOW_WRITE_DEBUG_MS is logged
 * with where it waited: queued (accepted -> proposed), raft (proposed ->
 * applied: log append here and on a follower, and the round trip), and
 * local (applied -> answered: the LMDB commit and what ran before it). */
static void request_log_slow(const struct request *r, int status)
{
    if (!r->t_submit || log_get_level() > LOG_LEVEL_DEBUG) {
        return;
    }
    uint64_t now = uv_hrtime();
    if (now - r->t_submit < (uint64_t)NODE_SLOW_WRITE_DEBUG_MS * 1000000u) {
        return;
    }
    uint64_t prop = r->t_propose ? r->t_propose : now;
    uint64_t appl = r->t_apply ? r->t_apply : now;
    log_debug("store", "slow write", "status=%d total_us=%llu queued_us=%llu raft_us=%llu local_us=%llu", status,
              (unsigned long long)((now - r->t_submit) / 1000), (unsigned long long)((prop - r->t_submit) / 1000),
              (unsigned long long)((appl - prop) / 1000), (unsigned long long)((now - appl) / 1000));
}

static void request_finish(struct request *r, int status, const uint8_t *reply, size_t size)
{
    request_log_slow(r, status);
    r->done(r->arg, status, reply, size);
    free(r->cmd);
    free(r);
}

/* Runs a RANGE read on the local state and completes 'r'. */
static void request_read(struct store_node *n, struct request *r)
{
    struct store_cmd cmd;
    struct buf reply;
    int rc = store_cmd_decode(&cmd, r->cmd, r->cmd_size);
    if (rc != 0) {
        request_finish(r, rc, NULL, 0);
        return;
    }
    buf_init(&reply, 0);
    rc = store_fsm_range(n->fsm, &cmd.op, &reply);
    store_cmd_destroy(&cmd);
    request_finish(r, rc, reply.data, reply.size);
    buf_destroy(&reply);
}

static void fail_list(struct request **list, int status)
{
    while (*list) {
        struct request *r = *list;
        *list = r->next;
        request_finish(r, status, NULL, 0);
    }
}

/* ---- batching ---- */

static void retry_cb(uv_timer_t *t);

/* Commits the pending entries in one LMDB transaction and answers their
 * clients. On a storage error keeps them for a retry. */
static int node_flush(struct store_node *n)
{
    if (n->pend_len == 0) {
        return 0;
    }
    if (n->pend_len > n->batch_cap) {
        size_t cap = n->batch_cap ? n->batch_cap : 64;
        while (cap < n->pend_len) {
            cap *= 2;
        }
        struct store_entry *e = realloc(n->entries, cap * sizeof *e);
        if (!e) {
            return LIB_ENOMEM;
        }
        n->entries = e;
        struct store_result *res = realloc(n->results, cap * sizeof *res);
        if (!res) {
            return LIB_ENOMEM;
        }
        for (size_t i = n->batch_cap; i < cap; i++) {
            buf_init(&res[i].reply, 0);
        }
        n->results = res;
        n->batch_cap = cap;
    }
    size_t i = 0;
    for (struct pending *p = n->pend_head; p; p = p->next, i++) {
        n->entries[i] =
            (struct store_entry){.index = p->index, .data = p->data, .size = p->size, .part = p->part};
    }
    int rc = store_fsm_apply_batch(n->fsm, n->entries, n->pend_len, n->results);
    if (rc != 0) {
        log_error("store", "commit failed; entries kept for retry", "entries=%zu err=\"%s\"",
                  n->pend_len, strata_strerror(rc));
        if (!uv_is_active((uv_handle_t *)&n->retry)) {
            uv_timer_start(&n->retry, retry_cb, NODE_RETRY_MS, 0);
        }
        return rc;
    }
    i = 0;
    while (n->pend_head) {
        struct pending *p = n->pend_head;
        n->pend_head = p->next;
        if (p->req) {
            struct store_result *res = &n->results[i];
            int status = res->status == STORE_EAPPLIED ? 0 : res->status;
            request_finish(p->req, status, res->reply.data, res->reply.size);
        }
        free(p->data);
        free(p);
        i++;
    }
    n->pend_tail = NULL;
    n->pend_len = 0;
    /* Keep reply buffers from growing without bound after a huge read. */
    for (i = 0; i < n->batch_cap; i++) {
        if (n->results[i].reply.cap > (1u << 20)) {
            buf_destroy(&n->results[i].reply);
        }
    }
    return 0;
}

static void node_run_ready_reads(struct store_node *n)
{
    if (n->pend_len > 0) {
        return; /* they must see the batch first */
    }
    struct request *list = n->reads_ready;
    n->reads_ready = NULL;
    while (list) {
        struct request *r = list;
        list = r->next;
        request_read(n, r);
    }
}

static void node_start_barrier(struct store_node *n);

static void retry_cb(uv_timer_t *t)
{
    struct store_node *n = t->data;
    if (store_fsm_failed(n->fsm) != 0) {
        int rc = store_fsm_recover(n->fsm);
        if (rc != 0) {
            uv_timer_start(&n->retry, retry_cb, NODE_RETRY_MS, 0);
            return;
        }
    }
    if (node_flush(n) == 0) {
        log_info("store", "storage recovered; pending entries committed", NULL);
        node_run_ready_reads(n);
    }
}

/* Commits what was applied and exits 75 (EX_TEMPFAIL) so the supervisor
 * restarts the role: the way out of libraft 0.15 states it never leaves by
 * itself. The data on disk is intact; a restart reloads it. */
static void node_exit_for_restart(struct store_node *n)
{
    if (store_fsm_failed(n->fsm) == 0) {
        (void)node_flush(n);
    }
    _exit(NODE_EXIT_UNAVAILABLE);
}

static void node_check_leadership(struct store_node *n)
{
    int state = raft_state(&n->raft);
    if (state == RAFT_UNAVAILABLE && n->last_state != RAFT_UNAVAILABLE && n->started && !n->closing) {
        /* libraft 0.15 never leaves this state (seen after InstallSnapshot
         * races it has upstream fixes for). The data is intact and a
         * restart recovers, so the role exits and its supervisor restarts
         * it; EX_TEMPFAIL says so. */
        log_error("store", "libraft became unavailable; exiting so the role is restarted",
                  "term=%llu applied=%llu", (unsigned long long)n->raft.current_term,
                  (unsigned long long)n->raft.last_applied);
        node_exit_for_restart(n);
    }
    if (state != n->last_state) {
        log_info("store", "raft state changed", "from=%d to=%d term=%llu", n->last_state, state,
                 (unsigned long long)n->raft.current_term);
        if (state == RAFT_LEADER) {
            /* §5.4.2 mitigation: commit an entry of our own term first. */
            n->leader_ready = false;
            node_start_barrier(n);
        } else {
            n->leader_ready = false;
        }
        if (n->last_state == RAFT_LEADER) {
            /* Reads waiting on this node cannot be served linearizably now. */
            fail_list(&n->reads_next, STORE_ENOTLEADER);
        }
        n->last_state = state;
    }
}

static void node_propose(struct store_node *n);

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Before each poll: counts the pass and starts the leader's appends that
 * have waited NODE_APPEND_DEFER_PASSES passes (store/append_queue.h). At
 * debug level also notes the loop thread's CPU time, so check_cb can tell
 * a long pass that computed (cpu close to wall) from one that was
 * preempted or blocked in the kernel. */
static void pass_cb(uv_prepare_t *h)
{
    struct store_node *n = h->data;
    store_append_queue_pass(&n->appends);
    store_append_queue_run(&n->appends, &n->io, n->io_append, NODE_APPEND_DEFER_PASSES);
    n->pass_cpu_ns = log_get_level() <= LOG_LEVEL_DEBUG ? thread_cpu_ns() : 0;
}

/* Debug level: logs a loop pass whose callbacks (from the poll's return,
 * uv_now, to the end of check_cb) took NODE_SLOW_WRITE_DEBUG_MS or more,
 * with the CPU the thread used and the LMDB commit's share. */
static void pass_log_slow(struct store_node *n, uint64_t commit_ns)
{
    if (!n->pass_cpu_ns || log_get_level() > LOG_LEVEL_DEBUG) {
        return;
    }
    uint64_t now_ms = uv_hrtime() / 1000000;
    uint64_t polled_ms = uv_now(n->loop);
    if (now_ms < polled_ms + NODE_SLOW_WRITE_DEBUG_MS) {
        return;
    }
    uint64_t cpu = thread_cpu_ns();
    log_debug("store", "slow loop pass", "wall_ms=%llu cpu_us=%llu commit_us=%llu",
              (unsigned long long)(now_ms - polled_ms),
              (unsigned long long)(cpu > n->pass_cpu_ns ? (cpu - n->pass_cpu_ns) / 1000 : 0),
              (unsigned long long)(commit_ns / 1000));
}

static void check_cb(uv_check_t *h)
{
    struct store_node *n = h->data;
    if (!n->started || n->closing) {
        return;
    }
    /* Proposing first starts the log append and the replication, which
     * then overlap the LMDB commit below. */
    node_propose(n);
    uint64_t commit_ns = 0;
    if (store_fsm_failed(n->fsm) == 0 && n->pend_len > 0) {
        size_t entries = n->pend_len;
        uint64_t t0 = uv_hrtime();
        node_flush(n);
        commit_ns = uv_hrtime() - t0;
        uint64_t ms = commit_ns / 1000000;
        if (ms >= NODE_SLOW_COMMIT_MS) {
            log_warn("store", "slow LMDB commit", "entries=%zu ms=%llu", entries, (unsigned long long)ms);
        } else if (ms >= NODE_SLOW_WRITE_DEBUG_MS) {
            log_debug("store", "slow LMDB commit", "entries=%zu ms=%llu", entries, (unsigned long long)ms);
        }
    }
    node_run_ready_reads(n);
    node_check_leadership(n);
    pass_log_slow(n, commit_ns);
}

/* ---- the raft_fsm ---- */

static void pending_free_list(struct pending *p)
{
    while (p) {
        struct pending *next = p->next;
        free(p->data);
        free(p);
        p = next;
    }
}

/* Queues the commands of one entry (store/entry.h) for the next commit;
 * '*result' is the first one's pending, for apply_cb. */
static int fsm_apply(struct raft_fsm *f, const struct raft_buffer *buf, void **result)
{
    struct store_node *n = f->data;
    /* libraft sets last_applied after this returns; entries apply in order.
     * A malformed entry reads as one command, which the FSM rejects the
     * same way on every replica. */
    uint64_t index = n->raft.last_applied + 1;
    struct store_entry_reader rd;
    struct pending *head = NULL, *tail = NULL;
    const uint8_t *data;
    size_t size, count = 0;
    store_entry_read_init(&rd, buf->base, buf->len);
    while (store_entry_read_next(&rd, &data, &size)) {
        struct pending *p = calloc(1, sizeof *p);
        if (!p || !(p->data = malloc(size ? size : 1))) {
            free(p);
            pending_free_list(head);
            return RAFT_NOMEM;
        }
        p->index = index;
        p->part = (uint32_t)count++;
        p->size = size;
        memcpy(p->data, data, size);
        if (tail) {
            tail->next = p;
        } else {
            head = p;
        }
        tail = p;
    }
    if (n->pend_tail) {
        n->pend_tail->next = head;
    } else {
        n->pend_head = head;
    }
    n->pend_tail = tail;
    n->pend_len += count;
    *result = head;
    return 0;
}

/* Runs on the loop thread: the state at raft's last applied index is
 * committed and a view of it is opened. fsm_snapshot_async() syncs LMDB
 * (raft drops log entries once the snapshot is stored, and LMDB must then
 * hold them across a machine crash) and produces the bytes, on a worker
 * thread: the sync of unsynced commits can take tens of milliseconds,
 * which every client would wait for on the loop. */
static int fsm_snapshot(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct store_node *n = f->data;
    if (n->snap_view) {
        return RAFT_BUSY;
    }
    int rc = node_flush(n);
    if (rc != 0) {
        return RAFT_IOERR;
    }
    struct raft_buffer *rb = calloc(1, sizeof *rb);
    if (!rb) {
        return RAFT_NOMEM;
    }
    rc = store_fsm_view_begin(n->fsm, &n->snap_view);
    if (rc != 0) {
        free(rb);
        return RAFT_IOERR;
    }
    *bufs = rb;
    *n_bufs = 1;
    return 0;
}

/* Runs on a worker thread: syncs LMDB and serializes the view into the
 * buffer. Touches only the view and the buffer. */
static int fsm_snapshot_async(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct store_node *n = f->data;
    if (!n->snap_view || *n_bufs != 1) {
        return RAFT_IOERR;
    }
    /* LMDB's unsynced commits up to the view reach the disk before raft
     * stores the snapshot and may drop the log they came from. */
    if (store_fsm_view_sync(n->snap_view) != 0) {
        return RAFT_IOERR;
    }
    struct buf out;
    buf_init(&out, 0);
    int rc = store_fsm_view_snapshot(n->snap_view, &out);
    if (rc != 0) {
        buf_destroy(&out);
        return RAFT_IOERR;
    }
    (*bufs)[0].base = out.data; /* freed in fsm_snapshot_finalize */
    (*bufs)[0].len = out.size;
    return 0;
}

static void node_snap_view_end(struct store_node *n)
{
    if (n->snap_view) {
        store_fsm_view_end(n->snap_view);
        n->snap_view = NULL;
    }
}

static int fsm_snapshot_finalize(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct store_node *n = f->data;
    node_snap_view_end(n); /* when the work never ran */
    if (*bufs) {
        log_info("store", "snapshot taken", "index=%llu size=%zu",
                 (unsigned long long)n->raft.last_applied, (*bufs)[0].len);
    }
    for (unsigned i = 0; i < *n_bufs; i++) {
        free((*bufs)[i].base);
    }
    free(*bufs);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

/* ---- raft_io async work (libuv thread pool) ---- */

static struct store_node *node_of_io(struct raft_io *io)
{
    return (struct store_node *)((char *)io - offsetof(struct store_node, io));
}

static void node_work_run(uv_work_t *w)
{
    struct store_node *n = w->data;
    n->work_status = n->work_req->work(n->work_req);
}

static void node_work_done(uv_work_t *w, int status)
{
    struct store_node *n = w->data;
    struct raft_io_async_work *req = n->work_req;
    raft_io_async_work_cb cb = n->work_cb;
    n->work_req = NULL;
    n->work_cb = NULL;
    n->work_busy = false;
    node_snap_view_end(n);
    cb(req, status == 0 ? n->work_status : RAFT_CANCELED);
    if (n->io_close_cb) {
        raft_io_close_cb close_cb = n->io_close_cb;
        n->io_close_cb = NULL;
        n->io_close(&n->io, close_cb);
    }
}

static int node_io_async_work(struct raft_io *io, struct raft_io_async_work *req, raft_io_async_work_cb cb)
{
    struct store_node *n = node_of_io(io);
    if (n->work_busy || n->io_close_cb) {
        return RAFT_BUSY;
    }
    n->work.data = n;
    n->work_req = req;
    n->work_cb = cb;
    int rc = uv_queue_work(n->loop, &n->work, node_work_run, node_work_done);
    if (rc != 0) {
        n->work_req = NULL;
        n->work_cb = NULL;
        return RAFT_IOERR;
    }
    n->work_busy = true;
    return 0;
}

/* raft_uv's close, held back while a work item runs (its callback must
 * reach a raft whose io is still open). */
static void node_io_close(struct raft_io *io, raft_io_close_cb cb)
{
    struct store_node *n = node_of_io(io);
    store_append_queue_run(&n->appends, io, n->io_append, 0);
    if (n->work_busy) {
        log_info("store", "closing after the snapshot being written", NULL);
        n->io_close_cb = cb;
        return;
    }
    n->io_close(io, cb);
}

static void kick_cb(uv_idle_t *h);

/* raft_io's append: a leader's waits for its messages to leave
 * (store/append_queue.h); any other starts after those queued. */
static int node_io_append(struct raft_io *io, struct raft_io_append *req, const struct raft_entry entries[],
                          unsigned count, raft_io_append_cb cb)
{
    struct store_node *n = node_of_io(io);
    if (n->started && !n->closing && raft_state(&n->raft) == RAFT_LEADER) {
        if (store_append_queue_push(&n->appends, req, entries, count, cb) != 0) {
            return RAFT_NOMEM;
        }
        uv_idle_start(&n->kick, kick_cb); /* the passes must not block in poll */
        return 0;
    }
    store_append_queue_run(&n->appends, io, n->io_append, 0);
    return n->io_append(io, req, entries, count, cb);
}

static int node_io_truncate(struct raft_io *io, raft_index index)
{
    struct store_node *n = node_of_io(io);
    store_append_queue_run(&n->appends, io, n->io_append, 0);
    return n->io_truncate(io, index);
}

static int node_io_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                                const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    struct store_node *n = node_of_io(io);
    store_append_queue_run(&n->appends, io, n->io_append, 0);
    return n->io_snapshot_put(io, trailing, req, snapshot, cb);
}

/* libraft restores its last snapshot at every start, and a leader sends one
 * to a follower that fell behind its log. LMDB is durable (fsm.c) and holds
 * the state after some prefix of the committed log, so when it is already at
 * or past the snapshot's index the restore is skipped: libraft replays the
 * entries after the snapshot and the FSM skips those it has. Restoring
 * anyway would roll a restarted node back to its last snapshot, and its
 * serializable reads would miss keys it served before the restart until
 * replay caught up. */
static int fsm_restore(struct raft_fsm *f, struct raft_buffer *buf)
{
    struct store_node *n = f->data;
    int rc = node_flush(n);
    uint64_t snap_applied = 0;
    struct store_fsm_status fst;
    if (rc == 0 && store_fsm_snapshot_applied(buf->base, buf->len, &snap_applied) == 0 &&
        store_fsm_status(n->fsm, &fst) == 0 && fst.applied_index >= snap_applied) {
        log_info("store", "snapshot not restored: local state is already past it",
                 "snapshot_index=%llu applied=%llu", (unsigned long long)snap_applied,
                 (unsigned long long)fst.applied_index);
        raft_free(buf->base);
        return 0;
    }
    if (rc == 0) {
        rc = store_fsm_restore(n->fsm, buf->base, buf->len);
    }
    if (rc == 0) {
        rc = store_fsm_sync(n->fsm);
    }
    if (rc != 0) {
        log_error("store", "snapshot restore failed", "err=\"%s\"", strata_strerror(rc));
        return RAFT_IOERR;
    }
    log_info("store", "snapshot restored", "size=%zu", buf->len);
    raft_free(buf->base);
    return 0;
}

/* ---- stuck-follower watchdog ---- */

#define NODE_WATCHDOG_MS 1000
#define NODE_STUCK_ELECTIONS 3
#define NODE_FOLLOWER_STUCK_MS 10000

static void watchdog_transfer_cb(struct raft_transfer *req)
{
    struct store_node *n = req->data;
    n->transferring = false;
}

/* libraft 0.15 can count a follower's stale log tail as a match (finding 3)
 * and then never send it the entries it lacks: the follower answers every
 * heartbeat (recent_recv) but its match index never moves. A new leader
 * starts with fresh progress, so the leader hands over leadership to the
 * most advanced other voter. A follower that is down is not "stuck". */
/* A follower of a live leader whose commit index stays below entries it
 * has persisted (seen once in the kill test after every node restarted: the
 * leader's match index for it at the end of the log, its own commit index
 * at 1 for 30 s of heartbeats). libraft 0.15 advances a follower's commit
 * index only inside its AppendEntries handling, so from outside the node
 * can only restart: it exits 75 and its supervisor starts it again, which
 * reloads the log. */
static void follower_watchdog(struct store_node *n, uint64_t now)
{
    raft_id lid = 0;
    const char *laddr = NULL;
    raft_leader(&n->raft, &lid, &laddr);
    uint64_t commit = n->raft.commit_index;
    if (raft_state(&n->raft) != RAFT_FOLLOWER || lid == 0 || n->raft.last_stored <= commit ||
        commit != n->fw_commit) {
        n->fw_commit = commit;
        n->fw_since_ms = now;
        return;
    }
    if (now - n->fw_since_ms >= NODE_FOLLOWER_STUCK_MS && !n->closing) {
        log_error("store", "commit index stuck below the persisted log under a live leader; exiting so the role "
                  "is restarted", "commit=%llu last_stored=%llu leader=%llu term=%llu",
                  (unsigned long long)commit, (unsigned long long)n->raft.last_stored, (unsigned long long)lid,
                  (unsigned long long)n->raft.current_term);
        node_exit_for_restart(n);
    }
}

static void watchdog_cb(uv_timer_t *t)
{
    struct store_node *n = t->data;
    follower_watchdog(n, uv_now(n->loop));
    if (raft_state(&n->raft) != RAFT_LEADER || !n->raft.leader_state.progress || n->transferring) {
        memset(n->watch, 0, sizeof n->watch);
        return;
    }
    uint64_t now = uv_now(n->loop);
    uint64_t last = raft_last_index(&n->raft);
    uint64_t limit = (uint64_t)NODE_STUCK_ELECTIONS * n->raft.election_timeout;
    unsigned count = n->raft.configuration.n < STORE_MEMBERS_MAX ? n->raft.configuration.n : STORE_MEMBERS_MAX;
    bool stuck = false;
    for (unsigned i = 0; i < count; i++) {
        const struct raft_server *srv = &n->raft.configuration.servers[i];
        const struct raft_progress *pr = &n->raft.leader_state.progress[i];
        if (srv->id == n->cfg.id) {
            continue;
        }
        if (n->watch[i].id != srv->id || pr->match_index != n->watch[i].match || pr->match_index >= last ||
            !pr->recent_recv) {
            n->watch[i].id = srv->id;
            n->watch[i].match = pr->match_index;
            n->watch[i].since_ms = now;
            continue;
        }
        if (now - n->watch[i].since_ms >= limit) {
            log_warn("store", "follower stuck behind a live connection; handing over leadership",
                     "follower=%llu match=%llu last=%llu", (unsigned long long)srv->id,
                     (unsigned long long)pr->match_index, (unsigned long long)last);
            stuck = true;
        }
    }
    if (stuck) {
        n->transfer.data = n;
        if (raft_transfer(&n->raft, &n->transfer, 0, watchdog_transfer_cb) == 0) {
            n->transferring = true;
            n->watchdog_transfers++;
        }
        memset(n->watch, 0, sizeof n->watch);
    }
}

/* ---- requests ---- */

static void kick_cb(uv_idle_t *h)
{
    struct store_node *n = h->data;
    if (!n->wb_head && store_append_queue_empty(&n->appends)) {
        uv_idle_stop(h); /* else the loop must not block before proposing */
    }
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct proposal *pr = req->data;
    if (status != 0) {
        /* Leadership lost or shutdown: the entry may still commit later,
         * so the outcome is unknown to the clients. */
        fail_list(&pr->reqs, status == RAFT_SHUTDOWN ? STORE_ESHUTDOWN : STORE_ENOTLEADER);
        free(pr);
        return;
    }
    /* Each is answered after the LMDB commit of its batch; the entry's
     * commands are the pendings from 'result' on, in proposal order. */
    struct pending *p = result;
    while (pr->reqs) {
        struct request *r = pr->reqs;
        pr->reqs = r->next;
        r->next = NULL;
        if (p && p->part == 0 && p != result) {
            p = NULL; /* the entry had fewer commands: cannot happen */
        }
        if (p) {
            r->t_apply = uv_hrtime();
            p->req = r;
            p = p->next;
        } else {
            request_finish(r, STORE_EFORMAT, NULL, 0);
        }
    }
    free(pr);
}

/* Proposes the writes gathered since the last proposal as one raft entry;
 * on failure their clients get the error. */
static void node_propose(struct store_node *n)
{
    if (!n->wb_head) {
        return;
    }
    struct request *reqs = n->wb_head;
    size_t count = n->wb_len, total = n->wb_bytes;
    n->wb_head = n->wb_tail = NULL;
    n->wb_len = n->wb_bytes = 0;
    const uint8_t *cmds_small[16];
    size_t sizes_small[16];
    const uint8_t **cmds = cmds_small;
    size_t *sizes = sizes_small;
    if (count > 16) {
        cmds = malloc(count * sizeof *cmds);
        sizes = malloc(count * sizeof *sizes);
    }
    struct proposal *pr = malloc(sizeof *pr);
    size_t len = store_entry_size(count, total);
    struct raft_buffer rb = {.base = raft_malloc(len), .len = len};
    if (!cmds || !sizes || !pr || !rb.base) {
        fail_list(&reqs, LIB_ENOMEM);
        goto out;
    }
    size_t i = 0;
    uint64_t now = uv_hrtime();
    for (struct request *r = reqs; r; r = r->next, i++) {
        cmds[i] = r->cmd;
        sizes[i] = r->cmd_size;
        r->t_propose = now;
    }
    store_entry_encode(rb.base, cmds, sizes, count);
    pr->apply.data = pr;
    pr->reqs = reqs;
    int rc = raft_apply(&n->raft, &pr->apply, &rb, 1, apply_cb);
    if (rc != 0) {
        fail_list(&reqs, rc == RAFT_NOTLEADER ? STORE_ENOTLEADER : STORE_ENOQUORUM);
        goto out;
    }
    rb.base = NULL;
    pr = NULL;
out:
    raft_free(rb.base);
    free(pr);
    if (cmds != cmds_small) {
        free(cmds);
        free(sizes);
    }
}

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct store_node *n = req->data;
    n->barrier_inflight = false;
    struct request *list = n->reads_barrier;
    n->reads_barrier = NULL;
    if (status != 0) {
        fail_list(&list, STORE_ENOTLEADER);
        fail_list(&n->reads_next, STORE_ENOTLEADER);
        return;
    }
    n->leader_ready = true;
    uv_idle_start(&n->kick, kick_cb);
    /* Serve after the commit that includes everything up to the barrier. */
    while (list) {
        struct request *r = list;
        list = r->next;
        r->next = n->reads_ready;
        n->reads_ready = r;
    }
    if (n->reads_next) {
        node_start_barrier(n);
    }
}

static void node_start_barrier(struct store_node *n)
{
    if (n->barrier_inflight) {
        return;
    }
    n->barrier.data = n;
    int rc = raft_barrier(&n->raft, &n->barrier, barrier_cb);
    if (rc != 0) {
        fail_list(&n->reads_next, rc == RAFT_NOTLEADER ? STORE_ENOTLEADER : STORE_ENOQUORUM);
        return;
    }
    n->barrier_inflight = true;
    n->reads_barrier = n->reads_next;
    n->reads_next = NULL;
}

/* Refuses, before it enters the log, a write every replica would reject:
 * a malformed command (STORE_EFORMAT) or a key or value past this store's
 * caps (STORE_ETOOLARGE). */
static int node_check_write(struct store_node *n, const uint8_t *data, size_t size)
{
    struct store_cmd cmd;
    int rc = store_cmd_decode(&cmd, data, size);
    if (rc != 0) {
        return rc == LIB_ENOMEM ? rc : STORE_EFORMAT;
    }
    uint32_t key_max = n->cfg.fsm.key_max ? n->cfg.fsm.key_max : STORE_KEY_MAX;
    uint32_t value_max = n->cfg.fsm.value_max ? n->cfg.fsm.value_max : STORE_VALUE_MAX;
    const struct store_op *ops[2] = {cmd.kind == STORE_CMD_TXN ? cmd.success : &cmd.op,
                                     cmd.kind == STORE_CMD_TXN ? cmd.failure : NULL};
    uint32_t lens[2] = {cmd.kind == STORE_CMD_TXN ? cmd.success_len : 1, cmd.kind == STORE_CMD_TXN ? cmd.failure_len : 0};
    if (cmd.kind == STORE_CMD_COMPACT) {
        lens[0] = 0;
    }
    for (int b = 0; b < 2 && rc == 0; b++) {
        for (uint32_t i = 0; i < lens[b] && rc == 0; i++) {
            const struct store_op *op = &ops[b][i];
            if (op->sel.key_size > key_max || op->sel.end_size > key_max ||
                (op->kind == STORE_OP_PUT && op->value_size > value_max)) {
                rc = STORE_ETOOLARGE;
            }
        }
    }
    store_cmd_destroy(&cmd);
    return rc;
}

int store_node_submit(struct store_node *n, const uint8_t *cmd, size_t size, bool serializable,
                      store_node_done_fn *done, void *arg)
{
    if (n->closing) {
        return STORE_ESHUTDOWN;
    }
    if (size < 2 || size > STORE_CMD_SIZE_MAX) {
        return size < 2 ? STORE_EFORMAT : STORE_ETOOLARGE;
    }
    bool read = cmd[1] == STORE_CMD_RANGE;
    if (!read && raft_state(&n->raft) != RAFT_LEADER) {
        return STORE_ENOTLEADER;
    }
    if (read && !serializable && raft_state(&n->raft) != RAFT_LEADER) {
        return STORE_ENOTLEADER;
    }
    if (!read) {
        int rc = node_check_write(n, cmd, size);
        if (rc == 0) {
            rc = store_fsm_failed(n->fsm);
        }
        if (rc == 0) {
            rc = store_fsm_space_check(n->fsm, size * 4 + 65536);
        }
        if (rc != 0) {
            return rc;
        }
    }
    struct request *r = calloc(1, sizeof *r);
    if (!r) {
        return LIB_ENOMEM;
    }
    r->node = n;
    r->done = done;
    r->arg = arg;
    r->serializable = serializable;
    r->cmd = malloc(size);
    if (!r->cmd) {
        free(r);
        return LIB_ENOMEM;
    }
    memcpy(r->cmd, cmd, size);
    r->cmd_size = size;
    if (!read) {
        r->t_submit = uv_hrtime();
    }
    if (read) {
        if (serializable) {
            r->next = n->reads_ready;
            n->reads_ready = r;
            uv_idle_start(&n->kick, kick_cb); /* run the check phase now */
            return 0;
        }
        r->next = n->reads_next;
        n->reads_next = r;
        node_start_barrier(n);
        return 0;
    }
    /* Writes of one loop iteration become one raft entry, proposed from
     * the check handle (or now, when this one would overflow the batch):
     * one log append, one message per follower and one commit for all. */
    if (n->wb_head && (n->wb_len >= STORE_ENTRY_BATCH_CMDS || n->wb_bytes + size > STORE_ENTRY_BATCH_BYTES)) {
        node_propose(n);
    }
    if (n->wb_tail) {
        n->wb_tail->next = r;
    } else {
        n->wb_head = r;
    }
    n->wb_tail = r;
    n->wb_len++;
    n->wb_bytes += size;
    uv_idle_start(&n->kick, kick_cb); /* reach the check phase without blocking */
    return 0;
}

/* ---- lifecycle ---- */

static int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

static bool node_is_member(void *arg, const char *name)
{
    struct store_node *n = arg;
    char mname[STORE_ADDRESS_MAX], host[STORE_ADDRESS_MAX];
    uint16_t port;
    /* The raft configuration is the authority; the configured seed members
     * admit peers before this node has learned it (bootstrap, join). */
    for (unsigned i = 0; i < n->raft.configuration.n; i++) {
        if (store_address_parse(n->raft.configuration.servers[i].address, mname, sizeof mname, host,
                                sizeof host, &port) == 0 &&
            strcmp(mname, name) == 0) {
            return true;
        }
    }
    for (unsigned i = 0; i < n->cfg.members_len; i++) {
        if (store_address_parse(n->cfg.members[i].address, mname, sizeof mname, host, sizeof host,
                                &port) == 0 &&
            strcmp(mname, name) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- LMDB and machine crashes ----
 *
 * LMDB commits skip fdatasync (MDB_NOSYNC): raft's log is the durability
 * point, so the state machine's copy needs to be intact, not on disk. A
 * killed process loses nothing (its commits are in the kernel's page cache,
 * and a commit is atomic with respect to a crash of the process), so after
 * a process crash the node restarts on its LMDB state as it was. Only a
 * crash of the machine can leave an unsynced LMDB file torn; the node
 * detects one by the kernel's boot id, recorded at every start: a database
 * that was not closed cleanly (clean close: LMDB synced, then the marker
 * NODE_CLEAN_MARK) under another boot is wiped, and libraft rebuilds it
 * from its snapshot and log. Raft drops log entries only after a snapshot,
 * and fsm_snapshot() syncs LMDB first. With config.fsm.durable, or when the
 * boot id cannot be read, LMDB syncs at every commit as before. */
#define NODE_CLEAN_MARK "clean"
#define NODE_BOOT_FILE "boot_id"
#define NODE_BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

/* Reads one line (at most size-1 bytes, newline stripped) of 'path' into
 * 'out'; "" when the file is missing or unreadable. */
static void node_read_line(const char *path, char *out, size_t size)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        return;
    }
    if (!fgets(out, (int)size, f)) {
        out[0] = 0;
    }
    fclose(f);
    out[strcspn(out, "\n")] = 0;
}

static int node_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return STORE_EIO;
    }
    int rc = fsync(fd) == 0 ? 0 : STORE_EIO;
    close(fd);
    return rc;
}

/* Decides, before LMDB opens, whether the database may be trusted as it is
 * and records this boot's id. Sets n->cfg.fsm.no_sync when commits may skip
 * fdatasync. */
static int node_db_prepare(struct store_node *n)
{
    char mark[4200], bootf[4200], tmp[4200], data[4200], lock[4200];
    char now[64], was[64];
    snprintf(mark, sizeof mark, "%s/%s", n->db_dir, NODE_CLEAN_MARK);
    snprintf(bootf, sizeof bootf, "%s/%s", n->db_dir, NODE_BOOT_FILE);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", n->db_dir, NODE_BOOT_FILE);
    snprintf(data, sizeof data, "%s/data.mdb", n->db_dir);
    snprintf(lock, sizeof lock, "%s/lock.mdb", n->db_dir);
    node_read_line(NODE_BOOT_ID_PATH, now, sizeof now);
    node_read_line(bootf, was, sizeof was);
    bool clean = unlink(mark) == 0;
    if (!clean && was[0] && strcmp(was, now) != 0 && access(data, F_OK) == 0) {
        log_warn("store", "the machine restarted without a clean store shutdown: "
                 "rebuilding the state from raft's snapshot and log", "dir=%s", n->db_dir);
        if (unlink(data) != 0 || (unlink(lock) != 0 && errno != ENOENT)) {
            return STORE_EIO;
        }
    }
    if (!now[0] || n->cfg.fsm.durable) {
        n->cfg.fsm.no_sync = false; /* no way to tell a machine crash */
        return node_sync_dir(n->db_dir);
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        return STORE_EIO;
    }
    bool ok = fprintf(f, "%s\n", now) > 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, bootf) != 0) {
        return STORE_EIO;
    }
    /* The marker's removal and the boot id reach the disk before any
     * unsynced commit can. */
    int rc = node_sync_dir(n->db_dir);
    if (rc == 0) {
        n->cfg.fsm.no_sync = true;
    }
    return rc;
}

/* After a clean close: LMDB synced, then the marker that lets the next start
 * trust the database even under another boot. */
static void node_db_mark_clean(struct store_node *n)
{
    char mark[4200];
    if (!n->cfg.fsm.no_sync || store_fsm_failed(n->fsm) != 0 || store_fsm_sync(n->fsm) != 0) {
        return;
    }
    snprintf(mark, sizeof mark, "%s/%s", n->db_dir, NODE_CLEAN_MARK);
    int fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_warn("store", "cannot write the clean-shutdown marker", "path=%s", mark);
        return;
    }
    if (fsync(fd) != 0) {
        log_warn("store", "cannot sync the clean-shutdown marker", "path=%s", mark);
    }
    close(fd);
    if (node_sync_dir(n->db_dir) != 0) {
        log_warn("store", "cannot sync the data directory", "dir=%s", n->db_dir);
    }
}

int store_node_create(uv_loop_t *loop, const struct store_node_config *config,
                      struct store_node **out)
{
    int rc;
    struct store_node *n = calloc(1, sizeof *n);
    if (!n) {
        return LIB_ENOMEM;
    }
    n->loop = loop;
    n->cfg = *config;
    snprintf(n->address, sizeof n->address, "%s", config->address);
    n->cfg.address = n->address;
    n->last_state = RAFT_UNAVAILABLE;
    snprintf(n->raft_dir, sizeof n->raft_dir, "%s/raft", config->dir);
    snprintf(n->db_dir, sizeof n->db_dir, "%s/db", config->dir);
    if ((rc = mkdir_p(n->raft_dir)) != 0 || (rc = mkdir_p(n->db_dir)) != 0) {
        goto err_free;
    }
    n->cfg.fsm.on_event = node_event;
    n->cfg.fsm.event_arg = n;
    if ((rc = node_db_prepare(n)) != 0) {
        log_error("store", "cannot prepare the data directory", "dir=%s", n->db_dir);
        goto err_free;
    }
    rc = store_fsm_open(&n->fsm, n->db_dir, &n->cfg.fsm);
    if (rc != 0) {
        goto err_free;
    }
    struct store_transport_config tc = {
        .loop = loop,
        .server_ctx = config->server_ctx,
        .client_ctx = config->client_ctx,
        .listen_fd = config->raft_listen_fd,
        .is_member = node_is_member,
        .arg = n,
    };
    rc = store_transport_init(&n->transport, &tc);
    if (rc != 0) {
        goto err_fsm;
    }
    rc = raft_uv_init(&n->io, loop, n->raft_dir, &n->transport);
    if (rc != 0) {
        log_error("store", "raft io init failed", "err=\"%s\"", n->io.errmsg);
        rc = STORE_EIO;
        goto err_transport;
    }
    if (n->io.version < 2) {
        n->io.version = 2;
        n->io.async_work = node_io_async_work;
    }
    n->io_close = n->io.close;
    n->io.close = node_io_close;
    store_append_queue_init(&n->appends);
    n->io_append = n->io.append;
    n->io.append = node_io_append;
    n->io_truncate = n->io.truncate;
    n->io.truncate = node_io_truncate;
    n->io_snapshot_put = n->io.snapshot_put;
    n->io.snapshot_put = node_io_snapshot_put;
    n->raft_fsm.version = 3;
    n->raft_fsm.data = n;
    n->raft_fsm.apply = fsm_apply;
    n->raft_fsm.snapshot = fsm_snapshot;
    n->raft_fsm.restore = fsm_restore;
    n->raft_fsm.snapshot_finalize = fsm_snapshot_finalize;
    n->raft_fsm.snapshot_async = fsm_snapshot_async;
    rc = raft_init(&n->raft, &n->io, &n->raft_fsm, config->id, n->address);
    if (rc != 0) {
        log_error("store", "raft init failed", "err=\"%s\"", raft_errmsg(&n->raft));
        rc = STORE_EIO;
        goto err_io;
    }
    raft_set_election_timeout(&n->raft, config->election_timeout_ms ? config->election_timeout_ms : NODE_ELECTION_MS);
    raft_set_heartbeat_timeout(&n->raft, config->heartbeat_timeout_ms ? config->heartbeat_timeout_ms : NODE_HEARTBEAT_MS);
    raft_set_snapshot_threshold(&n->raft, config->snapshot_threshold ? config->snapshot_threshold : NODE_SNAPSHOT_THRESHOLD);
    raft_set_snapshot_trailing(&n->raft, config->snapshot_trailing ? config->snapshot_trailing : NODE_SNAPSHOT_TRAILING);
    raft_set_pre_vote(&n->raft, true);
    uv_check_init(loop, &n->check);
    n->check.data = n;
    uv_prepare_init(loop, &n->pass);
    n->pass.data = n;
    uv_idle_init(loop, &n->kick);
    n->kick.data = n;
    uv_timer_init(loop, &n->retry);
    n->retry.data = n;
    uv_timer_init(loop, &n->watchdog);
    n->watchdog.data = n;
    *out = n;
    return 0;

err_io:
    raft_uv_close(&n->io);
err_transport:
    store_transport_destroy(&n->transport);
err_fsm:
    store_fsm_close(n->fsm);
err_free:
    free(n);
    return rc;
}

int store_node_start(struct store_node *n)
{
    int rc;
    if (!n->cfg.join && n->cfg.members_len > 0) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        for (unsigned i = 0; i < n->cfg.members_len; i++) {
            rc = raft_configuration_add(&conf, n->cfg.members[i].id, n->cfg.members[i].address, RAFT_VOTER);
            if (rc != 0) {
                raft_configuration_close(&conf);
                return STORE_EFORMAT;
            }
        }
        rc = raft_bootstrap(&n->raft, &conf);
        raft_configuration_close(&conf);
        if (rc != 0 && rc != RAFT_CANTBOOTSTRAP) {
            log_error("store", "raft bootstrap failed", "err=\"%s\"", raft_errmsg(&n->raft));
            return STORE_EIO;
        }
    }
    rc = raft_start(&n->raft);
    if (rc != 0) {
        log_error("store", "raft start failed", "err=\"%s\"", raft_errmsg(&n->raft));
        return STORE_EIO;
    }
    uv_check_start(&n->check, check_cb);
    uv_prepare_start(&n->pass, pass_cb);
    uv_timer_start(&n->watchdog, watchdog_cb, NODE_WATCHDOG_MS, NODE_WATCHDOG_MS);
    n->started = true;
    log_info("store", "node started", "id=%llu address=%s", (unsigned long long)n->cfg.id, n->address);
    return 0;
}

static void node_free(struct store_node *n)
{
    void (*cb)(void *) = n->close_cb;
    void *arg = n->close_arg;
    store_fsm_close(n->fsm);
    store_transport_destroy(&n->transport);
    for (size_t i = 0; i < n->batch_cap; i++) {
        buf_destroy(&n->results[i].reply);
    }
    free(n->results);
    free(n->entries);
    free(n);
    if (cb) {
        cb(arg);
    }
}

static void node_handle_closed(uv_handle_t *h)
{
    struct store_node *n = h->data;
    if (--n->handles_open == 0) {
        node_free(n);
    }
}

static void raft_closed_cb(struct raft *r)
{
    struct store_node *n = r->data;
    /* Entries libraft applied are committed before the files close. */
    if (store_fsm_failed(n->fsm) == 0 && node_flush(n) == 0 && !n->pend_head) {
        node_db_mark_clean(n);
    }
    while (n->pend_head) {
        struct pending *p = n->pend_head;
        n->pend_head = p->next;
        if (p->req) {
            request_finish(p->req, STORE_ESHUTDOWN, NULL, 0);
        }
        free(p->data);
        free(p);
    }
    n->pend_tail = NULL;
    n->pend_len = 0;
    fail_list(&n->reads_ready, STORE_ESHUTDOWN);
    raft_uv_close(&n->io);
    n->handles_open = 5;
    uv_close((uv_handle_t *)&n->pass, node_handle_closed);
    uv_close((uv_handle_t *)&n->watchdog, node_handle_closed);
    uv_close((uv_handle_t *)&n->check, node_handle_closed);
    uv_close((uv_handle_t *)&n->kick, node_handle_closed);
    uv_close((uv_handle_t *)&n->retry, node_handle_closed);
}

void store_node_close(struct store_node *n, void (*cb)(void *arg), void *arg)
{
    if (!n || n->closing) {
        return;
    }
    n->closing = true;
    n->close_cb = cb;
    n->close_arg = arg;
    fail_list(&n->reads_next, STORE_ESHUTDOWN);
    fail_list(&n->wb_head, STORE_ESHUTDOWN);
    n->wb_tail = NULL;
    n->wb_len = n->wb_bytes = 0;
    uv_timer_stop(&n->retry);
    uv_timer_stop(&n->watchdog);
    n->raft.data = n;
    raft_close(&n->raft, raft_closed_cb);
}

/* ---- queries and membership ---- */

struct store_fsm *store_node_fsm(struct store_node *n)
{
    return n->fsm;
}

bool store_node_is_leader(struct store_node *n)
{
    return raft_state(&n->raft) == RAFT_LEADER;
}

void store_node_set_event_hook(struct store_node *n, store_event_fn *fn, void *arg)
{
    n->event_hook = fn;
    n->event_arg = arg;
}

int store_node_status(struct store_node *n, struct store_node_status *st)
{
    raft_id lid = 0;
    const char *laddr = NULL;
    memset(st, 0, sizeof *st);
    st->id = n->cfg.id;
    st->state = raft_state(&n->raft);
    raft_leader(&n->raft, &lid, &laddr);
    st->leader_id = lid;
    if (laddr) {
        snprintf(st->leader_address, sizeof st->leader_address, "%s", laddr);
    }
    st->term = n->raft.current_term;
    st->commit_index = n->raft.commit_index;
    st->applied_index = n->raft.last_applied;
    st->last_index = raft_last_index(&n->raft);
    st->last_stored = n->raft.last_stored;
    st->storage_error = store_fsm_failed(n->fsm);
    st->watchdog_transfers = n->watchdog_transfers;
    unsigned count = n->raft.configuration.n;
    if (count > STORE_MEMBERS_MAX) {
        count = STORE_MEMBERS_MAX;
    }
    st->members_len = count;
    for (unsigned i = 0; i < count; i++) {
        const struct raft_server *s = &n->raft.configuration.servers[i];
        st->members[i].id = s->id;
        snprintf(st->members[i].address, sizeof st->members[i].address, "%s", s->address);
        st->members[i].role = s->role;
        if (st->state == RAFT_LEADER && n->raft.leader_state.progress) {
            st->members[i].match_index = n->raft.leader_state.progress[i].match_index;
        }
    }
    return store_fsm_status(n->fsm, &st->fsm);
}

struct change {
    struct raft_change req;
    struct raft_transfer transfer;
    struct store_node *node;
    store_node_change_fn *done;
    void *arg;
    uint64_t promote_id; /* add: promote to voter after catch-up */
};

static int raft_to_store(int rc);

static struct change *change_new(struct store_node *n, store_node_change_fn *done, void *arg)
{
    struct change *c = calloc(1, sizeof *c);
    if (c) {
        c->node = n;
        c->done = done;
        c->arg = arg;
        c->req.data = c;
        c->transfer.data = c;
    }
    return c;
}

/* Frees 'c' when the raft call that should own it failed. */
static int change_fail(struct change *c, int rc)
{
    free(c);
    return raft_to_store(rc);
}

static int raft_to_store(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
        return STORE_ENOTLEADER;
    case RAFT_SHUTDOWN:
        return STORE_ESHUTDOWN;
    case RAFT_CANTCHANGE:
        return STORE_EBUSY;
    case RAFT_NOMEM:
        return LIB_ENOMEM;
    default:
        return LIB_EINVAL;
    }
}

static void change_cb(struct raft_change *req, int status)
{
    struct change *c = req->data;
    if (status == 0 && c->promote_id) {
        /* The new member has the log: make it a voter. */
        uint64_t id = c->promote_id;
        c->promote_id = 0;
        int rc = raft_assign(&c->node->raft, &c->req, id, RAFT_VOTER, change_cb);
        if (rc == 0) {
            return;
        }
        status = rc;
    }
    c->done(c->arg, raft_to_store(status));
    free(c);
}

int store_node_add_member(struct store_node *n, uint64_t id, const char *address,
                          store_node_change_fn *done, void *arg)
{
    char name[STORE_ADDRESS_MAX], host[STORE_ADDRESS_MAX];
    uint16_t port;
    if (id == 0 || store_address_parse(address, name, sizeof name, host, sizeof host, &port) != 0) {
        return LIB_EINVAL;
    }
    struct change *c = change_new(n, done, arg);
    if (!c) {
        return LIB_ENOMEM;
    }
    c->promote_id = id;
    int rc = raft_add(&n->raft, &c->req, id, address, change_cb);
    return rc ? change_fail(c, rc) : 0;
}

int store_node_remove_member(struct store_node *n, uint64_t id, store_node_change_fn *done, void *arg)
{
    struct change *c = change_new(n, done, arg);
    if (!c) {
        return LIB_ENOMEM;
    }
    int rc = raft_remove(&n->raft, &c->req, id, change_cb);
    return rc ? change_fail(c, rc) : 0;
}

static void transfer_cb(struct raft_transfer *req)
{
    struct change *c = req->data;
    raft_id lid = 0;
    const char *laddr = NULL;
    raft_leader(&c->node->raft, &lid, &laddr);
    c->done(c->arg, lid != c->node->cfg.id && lid != 0 ? 0 : STORE_EBUSY);
    free(c);
}

int store_node_transfer(struct store_node *n, uint64_t id, store_node_change_fn *done, void *arg)
{
    struct change *c = change_new(n, done, arg);
    if (!c) {
        return LIB_ENOMEM;
    }
    int rc = raft_transfer(&n->raft, &c->transfer, id, transfer_cb);
    return rc ? change_fail(c, rc) : 0;
}

int store_node_backup(struct store_node *n, struct buf *out)
{
    int rc = node_flush(n);
    if (rc != 0) {
        return rc;
    }
    return store_fsm_snapshot(n->fsm, out);
}

/* A blocking client of the store's protocol (proto.h) for tools and tests:
 * stratactl, the e2e checkers and benchmarks. Each call runs a private libuv
 * loop until its answer arrives or the timeout passes. Not for use inside
 * another loop (role processes use store_pconn directly). */
#ifndef STRATA_STORE_CLIENT_H
#define STRATA_STORE_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/tls.h"
#include "store/cmd.h"
#include "store/fsm.h"

struct store_client;

/* Connects to 'target' ("unix:PATH" or NAME@HOST:PORT with 'tls' a client
 * context using ALPN STORE_PROTO_ALPN). 'timeout_ms' bounds every call. */
int store_client_open(const char *target, struct tls_ctx *tls, unsigned timeout_ms,
                      struct store_client **out) STRATA_WARN_UNUSED;
void store_client_close(struct store_client *c);

/* Sends one request and waits for its response: '*status' gets the server's
 * status, 'body' (reset first) the response body. Returns 0 when a response
 * arrived, STORE_ETIMEOUT, or the connection error (then the outcome of a
 * write is unknown). */
int store_client_call(struct store_client *c, uint8_t type, uint8_t flags, const void *body,
                      size_t size, int *status, struct buf *reply) STRATA_WARN_UNUSED;

/* Convenience: runs an encoded command; decodes the reply into '*reply'
 * (free with store_reply_destroy(); views point into 'raw'). Returns the
 * transport error, else the server's status, else 0. */
int store_client_cmd(struct store_client *c, const struct buf *cmd, bool serializable,
                     struct buf *raw, struct store_reply *reply) STRATA_WARN_UNUSED;

/* Watches: starts a watch from 'from_rev' (0: from now) on 'sel', then
 * calls 'cb' for each event until 'cb' returns non-zero, the timeout passes
 * with no event ('idle_ms', 0: forever), or an error. Returns 0 when 'cb'
 * stopped it or it went idle, STORE_ECOMPACTED (with '*compacted' set) when
 * the revision is gone, or an error. */
typedef int store_client_event_fn(void *arg, const struct store_event *ev);
int store_client_watch(struct store_client *c, uint64_t from_rev, const struct store_keysel *sel,
                       unsigned idle_ms, store_client_event_fn *cb, void *arg,
                       uint64_t *compacted) STRATA_WARN_UNUSED;

/* ---- an ordered, pipelined connection shared by threads ----
 *
 * A store_mux owns one connection and a thread running it. Any thread may
 * queue a request (store_mux_send(), which returns at once) and later wait
 * for its answer (store_mux_wait()); many requests are in flight at once.
 * Requests leave on the connection in the order store_mux_send() was
 * called, so callers that serialize their sends (e.g. under a lock) fix
 * the order in which the store receives them: the store proposes writes
 * of one connection in arrival order (a follower forwards them in that
 * order over its one leader connection). Answers may arrive in any order;
 * each goes to its own request. When the connection ends, every request
 * queued or sent and not yet answered fails with the connection's error
 * (the outcome of such a write is unknown), and the next send connects
 * again. Requests are CMD, STATUS and the like; not WATCH. */
struct store_mux;
struct store_mux_req;

/* Starts the mux's thread and connects to 'target' (as store_client_open();
 * 'tls' must outlive the mux). 'timeout_ms' (0: 10 s) bounds connecting and
 * each store_mux_wait(). Returns once connected, or the error. */
int store_mux_open(const char *target, struct tls_ctx *tls, unsigned timeout_ms,
                   struct store_mux **out) STRATA_WARN_UNUSED;
/* Closes the connection (requests in flight fail with TLS_ECLOSED) and
 * joins the thread. No store_mux_send() or store_mux_wait() may run. */
void store_mux_close(struct store_mux *m);

/* Queues one request (the body is copied) behind every earlier one and
 * returns its handle in '*req', to be passed to store_mux_wait() exactly
 * once. LIB_ENOMEM, STORE_ETOOLARGE; connection errors come from the
 * wait. */
int store_mux_send(struct store_mux *m, uint8_t type, uint8_t flags, const void *body, size_t size,
                   struct store_mux_req **req) STRATA_WARN_UNUSED;
/* Waits for the answer of 'req' and releases it: 0 with '*status' the
 * server's status and 'reply' (may be NULL; reset first) the body, or the
 * connection error that failed it, or STORE_ETIMEOUT (the request stays in
 * flight and its answer is dropped). */
int store_mux_wait(struct store_mux *m, struct store_mux_req *req, int *status,
                   struct buf *reply) STRATA_WARN_UNUSED;

/* Counters: connections made, requests sent, requests failed by a
 * connection's end. */
struct store_mux_stats {
    uint64_t connects;
    uint64_t sent;
    uint64_t failed;
};
void store_mux_stats(struct store_mux *m, struct store_mux_stats *out);

#endif

/* The store's client protocol: length-prefixed binary frames over mutual TLS
 * (ALPN STORE_PROTO_ALPN) or a unix socket for role processes on the node.
 *
 *   frame    = u32 size (bytes that follow, <= STORE_PROTO_FRAME_MAX)
 *              u8 type  u8 flags  u16 zero  u64 id  [i32 status] body
 *   status is present in responses (type with STORE_MSG_RESPONSE set).
 *   All integers big-endian.
 *
 * Requests and their response bodies:
 *   CMD      body: a store command (store/cmd.h); flag SERIALIZABLE for a
 *            local read.                     -> an encoded store_reply
 *   STATUS   empty                           -> a JSON object (node, raft,
 *            members, store revision and hash)
 *   WATCH    u64 from_revision, keysel (u8 kind, u32 size key [, u32 size
 *            end])                           -> EVENTS frames with the same
 *            id until WATCH_CANCEL or the connection ends; a watcher behind
 *            the compacted history gets status STORE_ECOMPACTED and the
 *            compacted revision (u64) so it can resync
 *   WATCH_CANCEL u64 watch id                -> empty
 *   MEMBER_ADD u64 id, u16 size address     -> empty
 *   MEMBER_REMOVE u64 id                     -> empty
 *   TRANSFER u64 id (0: any)                 -> empty
 *   BACKUP   empty                           -> a state snapshot
 *   EVENTS   (server to client) u32 n, n x { u64 revision, u32 sub, u8 type,
 *            kv } with kv as in store/cmd.h; events arrive in revision order
 *            with no gaps or duplicates.
 * Requests are answered in any order; ids match them up. Writes and
 * linearizable reads sent to a follower are forwarded to the leader. */
#ifndef STRATA_STORE_PROTO_H
#define STRATA_STORE_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "lib/buf.h"
#include "lib/tls.h"
#include "store/fsm.h"

#define STORE_PROTO_ALPN "strata-store/1"
#define STORE_PROTO_FRAME_MAX (STORE_CMD_SIZE_MAX + 4096u)
#define STORE_PROTO_HEADER 12 /* after the u32 size: type flags zero id */

enum store_msg_type {
    STORE_MSG_CMD = 1,
    STORE_MSG_STATUS = 2,
    STORE_MSG_WATCH = 3,
    STORE_MSG_WATCH_CANCEL = 4,
    STORE_MSG_MEMBER_ADD = 5,
    STORE_MSG_MEMBER_REMOVE = 6,
    STORE_MSG_TRANSFER = 7,
    STORE_MSG_BACKUP = 8,
    STORE_MSG_EVENTS = 9,
    STORE_MSG_RESPONSE = 0x80,
};
#define STORE_MSG_F_SERIALIZABLE 0x01u

/* A decoded frame; 'body' is a view into the receive buffer. */
struct store_frame {
    uint8_t type;
    uint8_t flags;
    uint64_t id;
    int32_t status; /* responses */
    const uint8_t *body;
    size_t body_size;
};

/* Appends a request or (with STORE_MSG_RESPONSE in 'type') a response. */
int store_frame_encode(struct buf *out, uint8_t type, uint8_t flags, uint64_t id, int32_t status,
                       const void *body, size_t size) STRATA_WARN_UNUSED;

/* Decodes the body of an EVENTS frame (u32 count, then per event: u64
 * revision, u32 sub, u8 type, key, value, u64 create, mod revision,
 * version) and calls 'fn' for each, in order, until it returns non-zero
 * (then that value is returned). Views point into 'body'. STORE_EFORMAT
 * for a malformed body (events before the bad one were delivered). */
int store_events_foreach(const uint8_t *body, size_t size, int (*fn)(void *arg, const struct store_event *ev),
                         void *arg) STRATA_WARN_UNUSED;

/* ---- a framed connection over TLS or a unix socket ---- */

struct store_pconn;
struct store_pconn_callbacks {
    void (*on_frame)(struct store_pconn *c, const struct store_frame *f);
    void (*on_ready)(struct store_pconn *c);   /* client: connected and verified */
    void (*on_drain)(struct store_pconn *c);   /* write queue below the low mark */
    void (*on_close)(struct store_pconn *c, int status); /* exactly once */
};

/* Wraps an accepted TLS connection (takes ownership). */
int store_pconn_from_tls(struct tls_conn *conn, const struct store_pconn_callbacks *cbs,
                         void *data, struct store_pconn **out) STRATA_WARN_UNUSED;
/* Wraps an accepted or connected unix stream (takes ownership; the pipe
 * must have been allocated with malloc and is freed on close). */
int store_pconn_from_pipe(uv_pipe_t *pipe, const struct store_pconn_callbacks *cbs, void *data,
                          struct store_pconn **out) STRATA_WARN_UNUSED;
/* Client connections. 'target' is "unix:PATH" or "NAME@HOST:PORT". */
int store_pconn_connect(uv_loop_t *loop, struct tls_ctx *client_ctx, const char *target,
                        const struct store_pconn_callbacks *cbs, void *data,
                        struct store_pconn **out) STRATA_WARN_UNUSED;

void *store_pconn_data(const struct store_pconn *c);
/* Queues one frame. TLS_EAGAIN when the queue is over its high mark (retry
 * after on_drain), TLS_ECLOSED after close. */
int store_pconn_send(struct store_pconn *c, uint8_t type, uint8_t flags, uint64_t id,
                     int32_t status, const void *body, size_t size) STRATA_WARN_UNUSED;
/* Bytes queued and not yet written. */
size_t store_pconn_queued(const struct store_pconn *c);
/* Peer identity (TLS) or "local" (unix). */
const char *store_pconn_identity(const struct store_pconn *c);
/* Graceful close; on_close follows; the pconn frees itself after it. */
void store_pconn_close(struct store_pconn *c);

#endif

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

#endif

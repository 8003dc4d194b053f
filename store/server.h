/* The store role's client-protocol server (proto.h): accepts mutual-TLS
 * clients and local role processes on a unix socket, runs their requests on
 * the local store_node, forwards what only the leader can do (writes,
 * linearizable reads, membership) to the leader's server, and serves
 * watches from the local history and live events. */
#ifndef STRATA_STORE_SERVER_H
#define STRATA_STORE_SERVER_H

#include <stdint.h>

#include <uv.h>

#include "lib/tls.h"
#include "store/node.h"

struct store_server_config {
    uv_loop_t *loop;
    struct store_node *node;
    struct tls_ctx *server_ctx; /* ALPN STORE_PROTO_ALPN; NULL: no TLS listener */
    struct tls_ctx *client_ctx; /* for forwarding to the leader */
    const char *host;           /* TLS listener address and port */
    uint16_t port;
    int listen_fd;              /* or an inherited listening socket (>= 0) */
    const char *unix_path;      /* local socket (mode 0600), NULL for none */
};

struct store_server;

int store_server_create(const struct store_server_config *config,
                        struct store_server **out) STRATA_WARN_UNUSED;
/* Closes listeners and connections, then frees the server and calls 'cb'. */
void store_server_close(struct store_server *s, void (*cb)(void *arg), void *arg);

/* The client-protocol address of a member whose raft address is
 * NAME@HOST:PORT: NAME@HOST:PORT+1 (the store listens one port above raft). */
int store_client_address(const char *raft_address, char *out, size_t size) STRATA_WARN_UNUSED;

#endif

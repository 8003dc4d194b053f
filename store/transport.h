/* The store's raft transport: a struct raft_uv_transport whose connections
 * are lib/tls mutual TLS 1.3 streams (TCP_NODELAY on) instead of libraft's
 * plaintext TCP. libraft reads and writes a uv_stream_t, so each connection
 * is bridged through a socketpair: libraft gets one end as a uv_pipe_t, the
 * transport pumps bytes between the other end and the TLS connection.
 *
 * Addresses are "NAME@HOST:PORT": NAME is the member's certificate identity
 * (its DNS SAN), HOST an IP literal. A connecting member sends a hello (its
 * raft id and address) inside TLS; the accepting side admits it only if the
 * TLS-verified identity equals the NAME of the claimed address, the
 * certificate carries the node role (PKI_ROLE_NODE) and the is_member
 * callback says that NAME is a configured member. Every byte
 * received after the hello goes through a raft_frame_check before libraft
 * sees it; a frame past a cap ends the connection.
 *
 * libraft's connections are one-way: on a connection we opened we only
 * send, on one we accepted we only receive. */
#ifndef STRATA_STORE_TRANSPORT_H
#define STRATA_STORE_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>

#include "lib/tls.h"
#include "store/raft_frame.h"

#define STORE_TRANSPORT_ALPN "strata-raft/1"
#define STORE_ADDRESS_MAX 320

struct store_transport_config {
    uv_loop_t *loop;
    struct tls_ctx *server_ctx; /* TLS_ROLE_SERVER, ALPN STORE_TRANSPORT_ALPN */
    struct tls_ctx *client_ctx; /* TLS_ROLE_CLIENT, same ALPN */
    /* Where to listen: an already listening socket (taken over, becomes -1),
     * or, when 'listen_fd' < 0, the HOST:PORT of the address raft_init got. */
    int listen_fd;
    /* Admission: true when 'name' is a configured member. Required. */
    bool (*is_member)(void *arg, const char *name);
    void *arg;
    struct raft_frame_limits limits; /* zero: raft_frame_limits_default() */
};

/* Splits "NAME@HOST:PORT" ('address') into its parts. 0 or LIB_EINVAL. */
int store_address_parse(const char *address, char *name, size_t name_size, char *host,
                        size_t host_size, uint16_t *port) STRATA_WARN_UNUSED;

/* Initialises 't' (caller-allocated) as a TLS transport; the contexts must
 * outlive it. libraft drives it from then on (init, listen, connect,
 * close). Release with store_transport_destroy() after libraft's close
 * callback for the transport has run. */
int store_transport_init(struct raft_uv_transport *t,
                         const struct store_transport_config *config) STRATA_WARN_UNUSED;
void store_transport_destroy(struct raft_uv_transport *t);

struct store_transport_stats {
    uint64_t accepted;      /* connections admitted and handed to libraft */
    uint64_t refused;       /* TLS or member check failed, or bad hello */
    uint64_t frame_errors;  /* connections ended by the frame checker */
    uint64_t connected;     /* outgoing connections handed to libraft */
};
void store_transport_stats(const struct raft_uv_transport *t, struct store_transport_stats *st);

#endif

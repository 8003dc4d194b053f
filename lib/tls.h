/* Mutual TLS 1.3 byte streams on libuv, the transport under every internal
 * channel (raft, store clients, XMPP, analytics) and the REST API. wolfSSL
 * runs over our own I/O callbacks on a uv_tcp_t: ciphertext read from the
 * socket is buffered (bounded) and fed to wolfSSL, ciphertext wolfSSL
 * produces is handed to uv_write. Everything runs on one uv loop, no threads.
 *
 * Trust: both ends present a certificate from the cluster CA. A client checks
 * that the server's certificate names the host it meant to reach (DNS or IP
 * SAN); a server requires a client certificate and hands the verified
 * identity (first DNS SAN, else CN) to an optional authorize callback before
 * the application ever sees the connection. Every refusal closes that one
 * connection with a typed error; a peer can never abort() the process.
 *
 * Lifecycle of a tls_conn: created by tls_conn_connect() (client) or handed
 * over by on_accept (server); exactly one on_close(conn, status) ends it,
 * after which (or inside which) tls_conn_free() releases it; freeing a live
 * connection resets it and suppresses every further callback. No callback
 * runs from inside a tls_* call made by the application: callbacks come from
 * the loop only. The tls_ctx must outlive its servers and connections.
 *
 * Write side: tls_conn_write() copies its bytes into a per-connection queue.
 * While the queued bytes (plaintext not yet encrypted plus ciphertext not yet
 * written to the socket) are at or above the high watermark, writes are
 * refused with TLS_EAGAIN and nothing is queued; on_drain fires once the
 * queue falls to the low watermark. So memory per connection stays below
 * high watermark + the largest single write, whatever the peer does.
 *
 * Read side: plaintext arrives through on_read in chunks of at most
 * 'read_chunk_size' bytes; tls_conn_read_stop()/tls_conn_read_start() give the
 * application its own receive backpressure (a stopped connection stops
 * reading the socket, so the peer's writes back up to the peer). */
#ifndef STRATA_TLS_H
#define STRATA_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "lib/err.h"
#include "lib/pki.h"

#define TLS_ERRORS(X)                                                                      \
    X(TLS_EINVAL, -10101, "invalid TLS argument")                                          \
    X(TLS_ENOMEM, -10102, "out of memory in TLS")                                          \
    X(TLS_ECONFIG, -10103, "TLS configuration rejected (CA, certificate, key or ALPN)")    \
    X(TLS_EHANDSHAKE, -10104, "TLS handshake failed")                                      \
    X(TLS_EVERIFY, -10105, "peer certificate not issued by the cluster CA or not valid")   \
    X(TLS_ENOPEERCERT, -10106, "peer presented no certificate")                            \
    X(TLS_EPEERNAME, -10107, "peer certificate does not match the expected name")          \
    X(TLS_EDENIED, -10108, "peer identity not authorized")                                 \
    X(TLS_EALPN, -10109, "no common application protocol (ALPN)")                         \
    X(TLS_EHANDSHAKE_TIMEOUT, -10110, "TLS handshake timed out")                           \
    X(TLS_EIDLE_TIMEOUT, -10111, "connection idle for too long")                           \
    X(TLS_ECLOSE_TIMEOUT, -10112, "pending data not flushed before the close timeout")     \
    X(TLS_EAGAIN, -10113, "write queue at its high watermark; wait for on_drain")          \
    X(TLS_ECLOSED, -10114, "connection is closing or closed")                              \
    X(TLS_EEOF, -10115, "peer closed the connection without a TLS close_notify")           \
    X(TLS_EPROTO, -10116, "TLS protocol error or fatal alert from the peer")

enum tls_err { TLS_ERRORS(STRATA_ERR_ENUM) };

const char *tls_strerror(int code);

enum tls_role {
    TLS_ROLE_CLIENT,
    TLS_ROLE_SERVER,
};

/* Whether a server asks for client certificates. Internal channels require
 * them; the REST API serves clients that authenticate with bearer tokens. */
enum tls_client_auth {
    TLS_CLIENT_AUTH_REQUIRED, /* default: verified against the CA */
    TLS_CLIENT_AUTH_NONE,     /* not requested; no peer identity */
};

/* Defaults used for zero fields of struct tls_config. */
#define TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
#define TLS_DEFAULT_CLOSE_TIMEOUT_MS 5000
#define TLS_DEFAULT_HIGH_WATERMARK (1024 * 1024)
#define TLS_DEFAULT_CHUNK_SIZE 16384
#define TLS_ALPN_MAX 255 /* bytes in the comma-separated ALPN list */
/* Handshakes a server runs at once by default: twice the CPUs, within
 * these bounds (tls_config.max_handshakes). */
#define TLS_MIN_DEFAULT_HANDSHAKES 8
#define TLS_MAX_DEFAULT_HANDSHAKES 64
/* A handshake in progress longer than this while connections wait for a
 * slot is ended (tls_config.contended_handshake_ms). */
#define TLS_DEFAULT_CONTENDED_HANDSHAKE_MS 2000
/* Listen backlog (the kernel caps it at net.core.somaxconn): connections
 * beyond the handshake cap wait here, so it must hold a reconnect burst. */
#define TLS_BACKLOG 4096

/* Everything a context needs. The PKI objects are copied (as DER) into the
 * context; the caller keeps ownership of them. */
struct tls_config {
    enum tls_role role;
    enum tls_client_auth client_auth; /* servers only */
    const struct pki_cert *ca;   /* trust anchor: the peer must chain to it */
    const struct pki_cert *cert; /* own certificate, issued by 'ca'; clients may
                                  * leave cert and key NULL (no client auth) */
    const struct pki_key *key;   /* its private key */
    /* Comma-separated ALPN protocols in preference order ("strata-raft/1"),
     * or NULL. When set, the peer must agree on one of them or the handshake
     * fails with TLS_EALPN; both ends should set it. */
    const char *alpn;
    uint64_t handshake_timeout_ms; /* TCP accept/connect to verified; 0: default */
    uint64_t idle_timeout_ms;      /* no bytes either way for this long closes; 0: none */
    uint64_t close_timeout_ms;     /* bound on flushing at tls_conn_close(); 0: default */
    size_t write_high_watermark;   /* 0: TLS_DEFAULT_HIGH_WATERMARK */
    size_t write_low_watermark;    /* on_drain threshold; 0: high / 4; must be < high */
    size_t read_chunk_size;        /* max bytes per on_read; 0: TLS_DEFAULT_CHUNK_SIZE */
    size_t record_size;            /* max plaintext per TLS record sent; 0: 16384 */
    /* Servers: handshakes in progress at once (accepted, not yet verified
     * and handed to on_accept). At the cap the server stops accepting and
     * further connections wait in the kernel's listen backlog until a
     * handshake ends, so a burst of N connections costs N handshakes done
     * a few at a time, each well inside its timeout, instead of N at once
     * all slowed down past it. 0: 2 x CPUs, at least
     * TLS_MIN_DEFAULT_HANDSHAKES, at most TLS_MAX_DEFAULT_HANDSHAKES. */
    unsigned max_handshakes;
    /* Servers: while connections wait for a slot, a handshake that has been
     * in progress this long is ended (TLS_EHANDSHAKE_TIMEOUT), so clients
     * that connect and stall cannot hold the slots for the whole handshake
     * timeout; without waiters the full timeout applies. A real handshake
     * takes milliseconds. 0: TLS_DEFAULT_CONTENDED_HANDSHAKE_MS (at most
     * the handshake timeout). */
    uint64_t contended_handshake_ms;
};

/* A configured wolfSSL context for one role. Shared by any number of
 * connections and servers; free it only after all of them are freed. */
struct tls_ctx;
/* A listening TCP socket producing verified, authorized connections. */
struct tls_server;
/* One TLS connection. */
struct tls_conn;

/* Per-connection callbacks. Only on_close is required. */
struct tls_conn_callbacks {
    /* Client connections: the handshake completed, the server's certificate
     * chains to the CA, names the expected host and ALPN agreed. (TLS 1.3
     * lets the client finish first: a server refusal of our certificate or
     * identity shows up afterwards as on_close with an error.) */
    void (*on_established)(struct tls_conn *conn);
    /* 'size' > 0 bytes of plaintext, valid during the call only. */
    void (*on_read)(struct tls_conn *conn, const uint8_t *data, size_t size);
    /* The write queue fell to the low watermark after it had reached the
     * high one. */
    void (*on_drain)(struct tls_conn *conn);
    /* The connection is over: 0 after a clean shutdown (close_notify), else
     * why (TLS_*, or a negative libuv/errno code for socket errors such as
     * UV_ECONNREFUSED). Called exactly once; no callback follows it. */
    void (*on_close)(struct tls_conn *conn, int status);
};

/* Server callbacks. on_accept is required. */
struct tls_server_callbacks {
    /* A verified and authorized connection; the callee takes ownership and
     * must install its callbacks with tls_conn_set_callbacks() before
     * returning (data that arrived with the handshake is delivered after). */
    void (*on_accept)(struct tls_server *server, struct tls_conn *conn);
    /* Optional: decides on 'identity' (see tls_conn_peer_identity()) as
     * soon as the client certificate is verified, before the handshake
     * completes, so a refusal fails the handshake with an alert; 0 admits,
     * anything else refuses with TLS_EDENIED. 'conn' may be queried (peer
     * certificate, address) but not written. Not called with
     * TLS_CLIENT_AUTH_NONE. */
    int (*authorize)(struct tls_server *server, struct tls_conn *conn, const char *identity);
    /* Optional: a connection failed before on_accept ('identity' is NULL when
     * the peer was not verified). The server frees it. For logs and tests. */
    void (*on_reject)(struct tls_server *server, int status, const char *identity);
};

/* ---- contexts ---- */

/* Builds a TLS 1.3-only context from 'config' into '*ctx'. 'errmsg'
 * ('errmsg_size' bytes, may be 0) says what was wrong: key not matching the
 * certificate, certificate not issued by the CA, bad ALPN list... */
int tls_ctx_create(const struct tls_config *config, struct tls_ctx **ctx, char *errmsg,
                   size_t errmsg_size) STRATA_WARN_UNUSED;
void tls_ctx_free(struct tls_ctx *ctx);

/* Call at the end of a thread that did TLS: releases what wolfSSL keeps
 * per thread (its fixed-point ECC cache, when built with FP_ECC, as
 * Debian's is). A thread that uses TLS afterwards simply builds it again. */
void tls_thread_done(void);

/* ---- servers ---- */

/* Creates a server for a TLS_ROLE_SERVER 'ctx' on 'loop'; 'data' is the
 * caller's (tls_server_data()). It does not listen yet. */
int tls_server_create(struct tls_ctx *ctx, uv_loop_t *loop, const struct tls_server_callbacks *cbs,
                      void *data, struct tls_server **server) STRATA_WARN_UNUSED;
/* Binds and listens on 'address' (IPv4 or IPv6 literal) and 'port' (0: an
 * ephemeral port, see tls_server_port()). */
int tls_server_listen(struct tls_server *server, const char *address, uint16_t port) STRATA_WARN_UNUSED;
/* Accepts on '*fd', an already bound and listening TCP socket (handed over
 * by the supervisor). Takes ownership: '*fd' becomes -1, also on error
 * (the socket is then closed). */
int tls_server_listen_fd(struct tls_server *server, int *fd) STRATA_WARN_UNUSED;
/* Handshakes in progress (at most the context's max_handshakes). */
unsigned tls_server_handshakes(const struct tls_server *server);
/* The local port the server listens on, 0 when not listening. */
uint16_t tls_server_port(const struct tls_server *server);
void *tls_server_data(const struct tls_server *server);
/* Stops listening, drops connections still in their handshake (no
 * on_reject for them) and frees the server once libuv has closed its
 * handles; then calls 'on_closed' (may be NULL). Connections already handed
 * to on_accept are unaffected. */
void tls_server_close(struct tls_server *server, void (*on_closed)(void *data));

/* ---- connections ---- */

/* Connects to 'address' (IPv4/IPv6 literal) port 'port' with a
 * TLS_ROLE_CLIENT 'ctx', expecting the server certificate to carry
 * 'peer_name' as a DNS or IP SAN. Outcome through 'cbs': on_established,
 * or on_close with the reason. Returns an error (and no connection) only
 * for bad arguments or memory. */
int tls_conn_connect(struct tls_ctx *ctx, uv_loop_t *loop, const char *address, uint16_t port,
                     const char *peer_name, const struct tls_conn_callbacks *cbs, void *data,
                     struct tls_conn **conn) STRATA_WARN_UNUSED;
/* Installs the application's callbacks and data on an accepted connection. */
void tls_conn_set_callbacks(struct tls_conn *conn, const struct tls_conn_callbacks *cbs, void *data);
void *tls_conn_data(const struct tls_conn *conn);

/* Queues a copy of 'size' bytes. Allowed before on_established (sent once
 * the handshake is done). Returns 0, TLS_EAGAIN when the queue is at the
 * high watermark (nothing queued; on_drain will follow), TLS_ECLOSED after
 * close or failure. */
int tls_conn_write(struct tls_conn *conn, const void *data, size_t size) STRATA_WARN_UNUSED;
/* Bytes queued and not yet written to the socket (plaintext + ciphertext). */
size_t tls_conn_queued_size(const struct tls_conn *conn);
/* Stops on_read and socket reads until tls_conn_read_start(). */
void tls_conn_read_stop(struct tls_conn *conn);
/* Resumes on_read (buffered plaintext first, on a later loop iteration). */
void tls_conn_read_start(struct tls_conn *conn);
/* Graceful close: no more writes or on_read; queued data is flushed, then
 * close_notify and a TCP FIN, and the peer's EOF is awaited; on_close(0)
 * follows, or on_close(TLS_ECLOSE_TIMEOUT) when the peer does not take the
 * data within the close timeout. Before the handshake completed it aborts
 * instead: on_close(TLS_ECLOSED). A close_notify from the peer starts the
 * same sequence (unsent data is then dropped: the peer reads no more).
 * Idempotent. */
void tls_conn_close(struct tls_conn *conn);
/* Releases 'conn'. After (or inside) on_close this only frees memory; on a
 * live connection it resets it at once, without any callback. NULL is fine. */
void tls_conn_free(struct tls_conn *conn);

/* 1 once the handshake is complete and the peer verified. */
int tls_conn_is_established(const struct tls_conn *conn);
/* The verified peer identity (first DNS SAN, else CN), or NULL before. */
const char *tls_conn_peer_identity(const struct tls_conn *conn);
/* The verified peer certificate (owned by 'conn'), or NULL before. */
const struct pki_cert *tls_conn_peer_cert(const struct tls_conn *conn);
/* The negotiated cipher suite (wolfSSL's name, e.g.
 * "TLS13-CHACHA20-POLY1305-SHA256"), or NULL before the handshake. */
const char *tls_conn_cipher(const struct tls_conn *conn);
/* The key exchange group of the handshake ("X25519", "SECP256R1"), or NULL
 * before it. Both roles offer X25519 first and accept P-256 (the only group
 * of peers built before X25519 was preferred). */
const char *tls_conn_group(const struct tls_conn *conn);
/* The negotiated ALPN protocol, or NULL when none was negotiated. */
const char *tls_conn_alpn(const struct tls_conn *conn);
/* The peer's address ('addr' of 'size' bytes, e.g. sockaddr_storage). */
int tls_conn_peer_addr(const struct tls_conn *conn, struct sockaddr *addr, int *size) STRATA_WARN_UNUSED;

#ifdef STRATA_TEST_HOOKS
/* Test builds only. Caps every socket read of every connection at 'size'
 * bytes (0 restores the default), so tests can make each underlying read
 * return a single byte. */
void tls_test_set_read_size_max(size_t size);
/* Ciphertext libuv still holds for 'conn' because the kernel would not take
 * it yet (the socket send buffer is full). */
size_t tls_test_socket_queued_size(const struct tls_conn *conn);
/* With 'on', contexts created afterwards leave wolfSSL's key exchange
 * groups at its defaults, as lib/tls did before it preferred X25519 (a
 * peer of an older build, for interoperability tests). */
void tls_test_set_legacy_groups(int on);
#endif

#endif

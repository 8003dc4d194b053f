/* TLS 1.3 streams on libuv: wolfSSL with custom I/O callbacks over a
 * uv_tcp_t, a bounded write queue with watermarks, application read
 * backpressure, timeouts and a graceful close (see lib/tls.h for the
 * contract).
 *
 * Data paths. Socket reads land in conn->in (ciphertext, bounded); io_recv
 * hands them to wolfSSL, or WANT_READ when empty. Plaintext written by the
 * application waits in conn->plain; the pump encrypts it record by record
 * with wolfSSL_write while the ciphertext not yet on the wire stays under a
 * window, and io_send appends wolfSSL's output to conn->cipher, which is
 * handed to uv_write as one request per flush. io_send never refuses, so
 * wolfSSL_write never sees WANT_WRITE and never needs a retry.
 *
 * Control. Everything that can call back into the application runs in
 * conn_pump(), entered from libuv callbacks only (tls_conn_write() and
 * friends schedule it through an idle handle), and guarded against
 * re-entrance. A connection ends in conn_finish(), which closes its three
 * libuv handles; the last close callback reports on_close (or, for a server
 * connection never handed out, on_reject) and then the memory can go. */
#include "lib/tls.h"

#include "lib/buf.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/ecc.h>

STRATA_ERR_DEFINE(tls, TLS_ERRORS)

#define TLS_IN_SIZE (64 * 1024)     /* ciphertext receive buffer */
#define TLS_IN_MIN_ROOM 2048        /* compact or stop reading below this */
#define TLS_CIPHER_WINDOW_MAX (256 * 1024)
#define TLS_CIPHERS \
    "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384"

/* Key exchange groups in preference order; a client's key share is the
 * first. X25519 costs 78 + 76 us (key generation + shared secret) against
 * P-256's 186 + 243 us with Debian's wolfSSL here; P-256 stays for peers
 * built before (they offer only it, and get it without a retry). */
static int tls_groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1};

#ifdef STRATA_TEST_HOOKS
static bool tls_legacy_groups;
#endif

struct tls_ctx {
    WOLFSSL_CTX *wctx;
    enum tls_role role;
    enum tls_client_auth client_auth;
    char alpn[TLS_ALPN_MAX + 1]; /* "" for none */
    uint64_t handshake_timeout_ms;
    uint64_t idle_timeout_ms;
    uint64_t close_timeout_ms;
    size_t high;
    size_t low;
    size_t chunk_size;
    size_t record_size;
    size_t cipher_window;
    unsigned max_handshakes; /* servers */
    uint64_t contended_ms;   /* servers: see tls_config.contended_handshake_ms */
};

enum conn_state {
    CONN_CONNECTING, /* client: TCP connect in flight */
    CONN_HANDSHAKE,
    CONN_OPEN,
    CONN_CLOSING, /* graceful: flush, close_notify, FIN, wait for EOF */
    CONN_CLOSED,  /* handles closing or closed */
};

struct write_req {
    uv_write_t req;
    struct tls_conn *conn;
    uint8_t *data;
    size_t size;
};

/* Invariants: in_start <= in_end <= TLS_IN_SIZE; plain.size + cipher.size +
 * cipher_inflight is what tls_conn_queued_size() reports; 'server' is set
 * exactly while the server owns the connection (before on_accept);
 * handles_open counts tcp/timer/defer handles not yet closed. */
struct tls_conn {
    struct tls_ctx *ctx;
    uv_loop_t *loop;
    struct tls_server *server;
    struct tls_conn *next, *prev; /* server's pending list */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_idle_t defer;
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    WOLFSSL *ssl;
    enum conn_state state;
    int status;        /* reason reported by on_close */
    int verify_status; /* our own refusal from the verify callback */
    int handles_open;
    char peer_name[256];
    struct pki_cert *peer_cert;
    char alpn[TLS_ALPN_MAX + 1];
    struct tls_conn_callbacks cbs;
    void *data;

    uint8_t *in;
    size_t in_start, in_end;
    uint8_t *chunk;
    struct buf plain;
    struct buf cipher;
    size_t cipher_inflight;
    uint64_t last_activity;
    uint64_t hs_started; /* server side: loop time the handshake began */

    bool app_reading;   /* on_read wanted */
    bool sock_reading;  /* uv_read_start active */
    bool eof;           /* TCP EOF or read error seen */
    bool need_drain;
    bool close_notify_sent;
    bool fin_sent;
    bool fin_done;
    bool in_pump;
    bool pump_again;
    bool in_close_cb;
    bool free_requested;
    bool silent;        /* no callbacks at all (freed live, or server closing) */
    bool handed_over;   /* tcp handle initialised (accept/connect started) */
};

struct tls_server {
    struct tls_ctx *ctx;
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listener_init;
    bool closing;
    struct tls_server_callbacks cbs;
    void *data;
    struct tls_conn *pending; /* accepted, handshake in progress */
    unsigned handshakes;      /* length of 'pending', <= ctx->max_handshakes */
    bool accept_waiting;      /* libuv holds an accepted socket we left for later */
    void (*on_closed)(void *data);
    uint16_t port;
};

static void conn_pump(struct tls_conn *c);
static void conn_finish(struct tls_conn *c, int status);
static void conn_update_reading(struct tls_conn *c);
static void server_maybe_free(struct tls_server *s);
static void server_admit(struct tls_server *s);
static void server_contend(struct tls_server *s);

static void errmsg_put(char *errmsg, size_t errmsg_size, const char *msg, const char *detail)
{
    if (errmsg && errmsg_size) {
        snprintf(errmsg, errmsg_size, "%s%s%s", msg, detail && *detail ? ": " : "",
                 detail ? detail : "");
    }
}

/* ---- contexts ---- */

/* Checks a comma-separated ALPN list: non-empty names of at most 255
 * bytes, printable, no empty entries. */
static int alpn_valid(const char *list)
{
    size_t len = strlen(list);
    if (len == 0 || len > TLS_ALPN_MAX || list[0] == ',' || list[len - 1] == ',' ||
        strstr(list, ",,")) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (list[i] <= ' ' || list[i] > '~') {
            return 0;
        }
    }
    return 1;
}

static int verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store);

int tls_ctx_create(const struct tls_config *config, struct tls_ctx **out, char *errmsg,
                   size_t errmsg_size)
{
    if (!config || !out || !config->ca ||
        (config->role != TLS_ROLE_CLIENT && config->role != TLS_ROLE_SERVER) ||
        (config->client_auth != TLS_CLIENT_AUTH_REQUIRED &&
         config->client_auth != TLS_CLIENT_AUTH_NONE)) {
        errmsg_put(errmsg, errmsg_size, "CA and a valid role are required", NULL);
        return TLS_EINVAL;
    }
    bool anonymous = !config->cert && !config->key;
    if ((anonymous && config->role == TLS_ROLE_SERVER) ||
        (!anonymous && (!config->cert || !config->key))) {
        errmsg_put(errmsg, errmsg_size, "certificate and key are required together (servers: always)", NULL);
        return TLS_EINVAL;
    }
    if (config->alpn && !alpn_valid(config->alpn)) {
        errmsg_put(errmsg, errmsg_size, "malformed ALPN list", config->alpn);
        return TLS_ECONFIG;
    }
    if (!anonymous && pki_key_matches_cert(config->key, config->cert) != 0) {
        errmsg_put(errmsg, errmsg_size, "private key does not match certificate",
                   pki_cert_identity(config->cert));
        return TLS_ECONFIG;
    }
    /* Our own certificate is not checked against 'ca': during a CA rollover
     * a node may trust the new CA while still presenting an old leaf. */
    unsigned usage = config->role == TLS_ROLE_SERVER ? PKI_USAGE_SERVER : PKI_USAGE_CLIENT;
    if (!anonymous && (pki_cert_usage(config->cert) & usage) == 0) {
        errmsg_put(errmsg, errmsg_size, "own certificate lacks the extended key usage",
                   usage == PKI_USAGE_SERVER ? "serverAuth" : "clientAuth");
        return TLS_ECONFIG;
    }
    struct tls_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        return TLS_ENOMEM;
    }
    ctx->role = config->role;
    ctx->client_auth = config->role == TLS_ROLE_SERVER ? config->client_auth
                                                       : TLS_CLIENT_AUTH_REQUIRED;
    if (config->alpn) {
        snprintf(ctx->alpn, sizeof ctx->alpn, "%s", config->alpn);
    }
    ctx->handshake_timeout_ms = config->handshake_timeout_ms ? config->handshake_timeout_ms
                                                             : TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    ctx->idle_timeout_ms = config->idle_timeout_ms;
    ctx->close_timeout_ms = config->close_timeout_ms ? config->close_timeout_ms
                                                     : TLS_DEFAULT_CLOSE_TIMEOUT_MS;
    ctx->high = config->write_high_watermark ? config->write_high_watermark
                                             : TLS_DEFAULT_HIGH_WATERMARK;
    ctx->low = config->write_low_watermark ? config->write_low_watermark : ctx->high / 4;
    ctx->chunk_size = config->read_chunk_size ? config->read_chunk_size : TLS_DEFAULT_CHUNK_SIZE;
    ctx->record_size = config->record_size ? config->record_size : 16384;
    ctx->contended_ms = config->contended_handshake_ms ? config->contended_handshake_ms
                                                       : TLS_DEFAULT_CONTENDED_HANDSHAKE_MS;
    if (ctx->contended_ms > ctx->handshake_timeout_ms) {
        ctx->contended_ms = ctx->handshake_timeout_ms;
    }
    ctx->max_handshakes = config->max_handshakes;
    if (ctx->max_handshakes == 0) {
        unsigned cpus = uv_available_parallelism();
        ctx->max_handshakes = 2 * cpus;
        if (ctx->max_handshakes < TLS_MIN_DEFAULT_HANDSHAKES) {
            ctx->max_handshakes = TLS_MIN_DEFAULT_HANDSHAKES;
        } else if (ctx->max_handshakes > TLS_MAX_DEFAULT_HANDSHAKES) {
            ctx->max_handshakes = TLS_MAX_DEFAULT_HANDSHAKES;
        }
    }
    int rv = TLS_EINVAL;
    if (ctx->low >= ctx->high || ctx->record_size > 16384 || ctx->chunk_size > (1u << 24)) {
        errmsg_put(errmsg, errmsg_size,
                   "need low watermark < high watermark, record size <= 16384", NULL);
        goto err_ctx;
    }
    /* Enough ciphertext in flight to keep the socket busy, never more than
     * the high watermark allows for. */
    ctx->cipher_window = ctx->high / 2;
    if (ctx->cipher_window > TLS_CIPHER_WINDOW_MAX) {
        ctx->cipher_window = TLS_CIPHER_WINDOW_MAX;
    }
    if (ctx->cipher_window < ctx->record_size + 64) {
        ctx->cipher_window = ctx->record_size + 64;
    }

    rv = TLS_ECONFIG;
    if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
        errmsg_put(errmsg, errmsg_size, "wolfSSL_Init failed", NULL);
        goto err_ctx;
    }
    ctx->wctx = wolfSSL_CTX_new(config->role == TLS_ROLE_SERVER ? wolfTLSv1_3_server_method()
                                                                : wolfTLSv1_3_client_method());
    if (!ctx->wctx) {
        rv = TLS_ENOMEM;
        goto err_init;
    }
    size_t size;
    const uint8_t *der = pki_cert_der(config->ca, &size);
    if (wolfSSL_CTX_load_verify_buffer(ctx->wctx, der, (long)size, WOLFSSL_FILETYPE_ASN1) !=
        WOLFSSL_SUCCESS) {
        errmsg_put(errmsg, errmsg_size, "CA certificate rejected by wolfSSL", NULL);
        goto err_wctx;
    }
    if (!anonymous) {
        der = pki_cert_der(config->cert, &size);
        if (wolfSSL_CTX_use_certificate_buffer(ctx->wctx, der, (long)size,
                                               WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
            errmsg_put(errmsg, errmsg_size, "certificate rejected by wolfSSL", NULL);
            goto err_wctx;
        }
        der = pki_key_der(config->key, &size);
        if (wolfSSL_CTX_use_PrivateKey_buffer(ctx->wctx, der, (long)size,
                                              WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
            errmsg_put(errmsg, errmsg_size, "private key rejected by wolfSSL", NULL);
            goto err_wctx;
        }
    }
    /* Debian's wolfSSL has no AES-NI: its C AES-GCM ran at a third of
     * ChaCha20-Poly1305's speed here (44 vs 139 MB/s, both ends in one
     * process), so ChaCha20 comes first; AES-GCM stays for other peers. */
    if (wolfSSL_CTX_set_cipher_list(ctx->wctx, TLS_CIPHERS) != WOLFSSL_SUCCESS) {
        errmsg_put(errmsg, errmsg_size, "cipher suites rejected by wolfSSL", TLS_CIPHERS);
        goto err_wctx;
    }
    bool set_groups = true;
#ifdef STRATA_TEST_HOOKS
    set_groups = !tls_legacy_groups;
#endif
    if (set_groups && wolfSSL_CTX_set_groups(ctx->wctx, tls_groups,
                                             (int)(sizeof tls_groups / sizeof tls_groups[0])) !=
                          WOLFSSL_SUCCESS) {
        errmsg_put(errmsg, errmsg_size, "key exchange groups rejected by wolfSSL", NULL);
        goto err_wctx;
    }
    if (config->role == TLS_ROLE_SERVER) {
        /* Internal peers reconnect rarely; no resumption state to keep. */
        (void)wolfSSL_CTX_no_ticket_TLSv13(ctx->wctx);
    }
    if (ctx->client_auth == TLS_CLIENT_AUTH_NONE) {
        wolfSSL_CTX_set_verify(ctx->wctx, WOLFSSL_VERIFY_NONE, NULL);
    } else {
        int mode = WOLFSSL_VERIFY_PEER;
        if (config->role == TLS_ROLE_SERVER) {
            mode |= WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        }
        wolfSSL_CTX_set_verify(ctx->wctx, mode, verify_cb);
    }
    *out = ctx;
    return 0;

err_wctx:
    wolfSSL_CTX_free(ctx->wctx);
err_init:
    wolfSSL_Cleanup();
err_ctx:
    free(ctx);
    return rv;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
    if (!ctx) {
        return;
    }
    wolfSSL_CTX_free(ctx->wctx);
    wolfSSL_Cleanup();
    free(ctx);
}

/* ---- wolfSSL glue ---- */

static int io_recv(WOLFSSL *ssl, char *buf, int size, void *arg)
{
    struct tls_conn *c = arg;
    size_t avail = c->in_end - c->in_start;
    if (avail == 0) {
        return c->eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
    }
    size_t n = (size_t)size < avail ? (size_t)size : avail;
    memcpy(buf, c->in + c->in_start, n);
    c->in_start += n;
    if (c->in_start == c->in_end) {
        c->in_start = c->in_end = 0;
    }
    return (int)n;
}

static int io_send(WOLFSSL *ssl, char *buf, int size, void *arg)
{
    struct tls_conn *c = arg;
    if (c->state == CONN_CLOSED || buf_put(&c->cipher, buf, (size_t)size) != 0) {
        return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    }
    return size;
}

/* Runs once per peer certificate after wolfSSL's own checks ('preverify').
 * For the peer's leaf we add Strata's: EKU for the role, the expected name
 * (client), the authorize callback (server). A refusal fails the handshake
 * with an alert; the reason is kept in verify_status. */
static int verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
    struct tls_conn *c = store->userCtx;
    if (!preverify || !c) {
        return 0;
    }
    if (store->error_depth != 0) {
        return 1;
    }
    if (store->totalCerts < 1 || !store->certs || !store->certs[0].buffer) {
        c->verify_status = TLS_ENOPEERCERT;
        return 0;
    }
    struct pki_cert *peer;
    if (pki_cert_from_der(store->certs[0].buffer, store->certs[0].length, &peer) != 0) {
        c->verify_status = TLS_EVERIFY;
        return 0;
    }
    pki_cert_free(c->peer_cert);
    c->peer_cert = peer;
    unsigned need = c->ctx->role == TLS_ROLE_CLIENT ? PKI_USAGE_SERVER : PKI_USAGE_CLIENT;
    if ((pki_cert_usage(peer) & need) == 0) {
        c->verify_status = TLS_EVERIFY;
        return 0;
    }
    if (c->ctx->role == TLS_ROLE_CLIENT && !pki_cert_matches_name(peer, c->peer_name)) {
        c->verify_status = TLS_EPEERNAME;
        return 0;
    }
    if (c->ctx->role == TLS_ROLE_SERVER && c->server && c->server->cbs.authorize &&
        c->server->cbs.authorize(c->server, c, pki_cert_identity(peer)) != 0) {
        c->verify_status = TLS_EDENIED;
        return 0;
    }
    return 1;
}

/* Maps a wolfSSL failure during the handshake to a TLS_* code. */
static int handshake_error(struct tls_conn *c, int err)
{
    if (c->verify_status) {
        return c->verify_status;
    }
    switch (err) {
    case NO_PEER_CERT:
        return TLS_ENOPEERCERT;
    case ASN_NO_SIGNER_E:
    case ASN_SIG_CONFIRM_E:
    case ASN_AFTER_DATE_E:
    case ASN_BEFORE_DATE_E:
    case VERIFY_CERT_ERROR:
    case EXTKEYUSE_AUTH_E:
        return TLS_EVERIFY;
    case UNKNOWN_ALPN_PROTOCOL_NAME_E:
        return TLS_EALPN;
    case SOCKET_PEER_CLOSED_E:
    case WOLFSSL_CBIO_ERR_CONN_CLOSE:
        return TLS_EEOF;
    default:
        break;
    }
    WOLFSSL_ALERT_HISTORY h;
    if (err == FATAL_ERROR && wolfSSL_get_alert_history(c->ssl, &h) == WOLFSSL_SUCCESS) {
        if (h.last_rx.code == no_application_protocol) {
            return TLS_EALPN;
        }
        return TLS_EPROTO;
    }
    return TLS_EHANDSHAKE;
}

/* ---- connection plumbing ---- */

static struct tls_conn *conn_new(struct tls_ctx *ctx, uv_loop_t *loop)
{
    struct tls_conn *c = calloc(1, sizeof *c);
    if (!c) {
        return NULL;
    }
    c->ctx = ctx;
    c->loop = loop;
    c->app_reading = true;
    buf_init(&c->plain, 0);
    buf_init(&c->cipher, 0);
    c->in = malloc(TLS_IN_SIZE);
    c->chunk = malloc(ctx->chunk_size);
    c->ssl = wolfSSL_new(ctx->wctx);
    if (!c->in || !c->chunk || !c->ssl) {
        goto err;
    }
    wolfSSL_SSLSetIORecv(c->ssl, io_recv);
    wolfSSL_SSLSetIOSend(c->ssl, io_send);
    wolfSSL_SetIOReadCtx(c->ssl, c);
    wolfSSL_SetIOWriteCtx(c->ssl, c);
    wolfSSL_SetCertCbCtx(c->ssl, c);
    if (ctx->alpn[0]) {
        char list[TLS_ALPN_MAX + 1];
        memcpy(list, ctx->alpn, sizeof list);
        if (wolfSSL_UseALPN(c->ssl, list, (unsigned)strlen(list),
                            WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS) {
            goto err;
        }
    }
    if (uv_timer_init(loop, &c->timer) != 0) {
        goto err;
    }
    c->handles_open++;
    c->timer.data = c;
    if (uv_idle_init(loop, &c->defer) != 0) {
        uv_close((uv_handle_t *)&c->timer, NULL);
        goto err;
    }
    c->handles_open++;
    c->defer.data = c;
    c->last_activity = uv_now(loop);
    return c;

err:
    wolfSSL_free(c->ssl);
    free(c->in);
    free(c->chunk);
    free(c);
    return NULL;
}

static void conn_destroy(struct tls_conn *c)
{
    wolfSSL_free(c->ssl);
    pki_cert_free(c->peer_cert);
    buf_destroy(&c->plain);
    buf_destroy(&c->cipher);
    free(c->in);
    free(c->chunk);
    free(c);
}

static void server_unlink(struct tls_conn *c)
{
    struct tls_server *s = c->server;
    if (!s) {
        return;
    }
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        s->pending = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->next = c->prev = NULL;
    c->server = NULL;
    s->handshakes--;
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct tls_conn *c = h->data;
    if (--c->handles_open > 0) {
        return;
    }
    struct tls_server *s = c->server;
    if (s) {
        const char *who = c->peer_cert && c->status != TLS_EVERIFY ? pki_cert_identity(c->peer_cert)
                                                                   : NULL;
        server_unlink(c);
        if (!c->silent && s->cbs.on_reject) {
            s->cbs.on_reject(s, c->status, who);
        }
        conn_destroy(c);
        server_admit(s);
        server_maybe_free(s);
        return;
    }
    if (!c->silent && c->cbs.on_close) {
        c->in_close_cb = true;
        c->cbs.on_close(c, c->status);
        c->in_close_cb = false;
    }
    if (c->free_requested || c->silent) {
        conn_destroy(c);
    }
}

/* Ends the connection with 'status': closes the handles (pending writes are
 * cancelled), and reports from the last close callback. */
static void conn_finish(struct tls_conn *c, int status)
{
    if (c->state == CONN_CLOSED) {
        return;
    }
    c->state = CONN_CLOSED;
    c->status = status;
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    uv_close((uv_handle_t *)&c->defer, conn_handle_closed);
    if (c->handed_over) {
        c->handles_open++;
        uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    }
}

static void on_defer(uv_idle_t *h)
{
    struct tls_conn *c = h->data;
    uv_idle_stop(h);
    conn_pump(c);
}

/* Makes the pump run soon: again before it returns when called from inside
 * it (a write from on_drain must not wait for the next socket event), else
 * on the next loop iteration. */
static void conn_schedule(struct tls_conn *c)
{
    if (c->state == CONN_CLOSED) {
        return;
    }
    if (c->in_pump) {
        c->pump_again = true;
    } else {
        (void)uv_idle_start(&c->defer, on_defer);
    }
}

static void on_timer(uv_timer_t *t);

static void timer_arm(struct tls_conn *c, uint64_t ms)
{
    /* A blocking client runs its loop only inside calls, so the loop's
     * cached time can be old: a timer armed from it would fire at once. */
    uv_update_time(c->timer.loop);
    (void)uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct tls_conn *c = t->data;
    switch (c->state) {
    case CONN_CONNECTING:
        conn_finish(c, TLS_EHANDSHAKE_TIMEOUT);
        break;
    case CONN_HANDSHAKE: {
        /* A server's handshake may be woken early by contention
         * (server_contend()): ended if connections still wait for its slot,
         * else it gets the rest of its full timeout. */
        uint64_t age = uv_now(c->loop) - c->hs_started;
        uint64_t full = c->ctx->handshake_timeout_ms;
        if (c->server && !c->server->accept_waiting && age < full) {
            timer_arm(c, full - age);
        } else {
            conn_finish(c, TLS_EHANDSHAKE_TIMEOUT);
        }
        break;
    }
    case CONN_OPEN: {
        uint64_t now = uv_now(c->loop);
        uint64_t idle = c->ctx->idle_timeout_ms;
        if (now - c->last_activity >= idle) {
            conn_finish(c, TLS_EIDLE_TIMEOUT);
        } else {
            timer_arm(c, idle - (now - c->last_activity));
        }
        break;
    }
    case CONN_CLOSING:
        conn_finish(c, TLS_ECLOSE_TIMEOUT);
        break;
    case CONN_CLOSED:
        break;
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct tls_conn *c = w->conn;
    c->cipher_inflight -= w->size;
    free(w->data);
    free(w);
    if (c->state == CONN_CLOSED) {
        return;
    }
    if (status < 0) {
        conn_finish(c, status);
        return;
    }
    c->last_activity = uv_now(c->loop);
    conn_pump(c);
}

/* Hands the accumulated ciphertext to libuv. */
static int conn_flush(struct tls_conn *c)
{
    if (c->cipher.size == 0) {
        return 0;
    }
    struct write_req *w = malloc(sizeof *w);
    if (!w) {
        return TLS_ENOMEM;
    }
    w->conn = c;
    w->data = buf_steal(&c->cipher, &w->size);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->size);
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r != 0) {
        free(w->data);
        free(w);
        return r;
    }
    c->cipher_inflight += w->size;
    return 0;
}

#ifdef STRATA_TEST_HOOKS
static size_t tls_read_size_max;

void tls_test_set_legacy_groups(int on)
{
    tls_legacy_groups = on != 0;
}

void tls_test_set_read_size_max(size_t size)
{
    tls_read_size_max = size;
}

size_t tls_test_socket_queued_size(const struct tls_conn *c)
{
    return c->handed_over && c->state != CONN_CLOSED
               ? uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp)
               : 0;
}
#endif

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct tls_conn *c = h->data;
    if (c->in_start == c->in_end) {
        c->in_start = c->in_end = 0;
    } else if (TLS_IN_SIZE - c->in_end < TLS_IN_MIN_ROOM && c->in_start > 0) {
        memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
        c->in_end -= c->in_start;
        c->in_start = 0;
    }
    size_t room = TLS_IN_SIZE - c->in_end;
#ifdef STRATA_TEST_HOOKS
    if (tls_read_size_max && room > tls_read_size_max) {
        room = tls_read_size_max;
    }
#endif
    *b = uv_buf_init((char *)c->in + c->in_end, (unsigned)room);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct tls_conn *c = stream->data;
    if (nread == 0 || c->state == CONN_CLOSED) {
        return;
    }
    if (nread < 0) {
        c->eof = true;
        if (c->sock_reading) {
            uv_read_stop(stream);
            c->sock_reading = false;
        }
        if (nread != UV_EOF && c->state != CONN_CLOSING) {
            conn_finish(c, (int)nread);
            return;
        }
    } else {
        c->last_activity = uv_now(c->loop);
        if (c->state == CONN_CLOSING && !c->app_reading) {
            /* Closing by our choice: the peer's data is no longer wanted. */
            c->in_start = c->in_end = 0;
        } else {
            c->in_end += (size_t)nread;
        }
    }
    conn_pump(c);
}

/* Keeps the socket read state in line with what the connection needs: the
 * handshake and closing always read; an open connection reads while the
 * application wants data and the buffer has room. */
static void conn_update_reading(struct tls_conn *c)
{
    if (c->state == CONN_CLOSED || c->state == CONN_CONNECTING || !c->handed_over) {
        return;
    }
    bool room = TLS_IN_SIZE - (c->in_end - c->in_start) >= TLS_IN_MIN_ROOM;
    bool want = !c->eof && room &&
                (c->state != CONN_OPEN || c->app_reading);
    if (want && !c->sock_reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) {
            c->sock_reading = true;
        }
    } else if (!want && c->sock_reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->sock_reading = false;
    }
}

static void conn_established(struct tls_conn *c)
{
    if (!c->peer_cert && c->ctx->client_auth == TLS_CLIENT_AUTH_REQUIRED) {
        conn_finish(c, TLS_ENOPEERCERT);
        return;
    }
    if (c->ctx->alpn[0]) {
        char *name = NULL;
        unsigned short size = 0;
        if (wolfSSL_ALPN_GetProtocol(c->ssl, &name, &size) != WOLFSSL_SUCCESS || !name ||
            size == 0 || size > TLS_ALPN_MAX) {
            conn_finish(c, TLS_EALPN);
            return;
        }
        memcpy(c->alpn, name, size);
        c->alpn[size] = '\0';
    }
    c->state = CONN_OPEN;
    c->last_activity = uv_now(c->loop);
    uv_timer_stop(&c->timer);
    if (c->ctx->idle_timeout_ms) {
        timer_arm(c, c->ctx->idle_timeout_ms);
    }
    struct tls_server *s = c->server;
    if (s) {
        server_unlink(c);
        s->cbs.on_accept(s, c);
        server_admit(s);
    } else if (c->cbs.on_established) {
        c->cbs.on_established(c);
    }
}

static void conn_step_handshake(struct tls_conn *c)
{
    int r = c->ctx->role == TLS_ROLE_CLIENT ? wolfSSL_connect(c->ssl) : wolfSSL_accept(c->ssl);
    if (r == WOLFSSL_SUCCESS) {
        conn_established(c);
        return;
    }
    int err = wolfSSL_get_error(c->ssl, r);
    if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
        if (c->eof && c->in_start == c->in_end) {
            conn_finish(c, TLS_EEOF);
        }
        return;
    }
    int status = handshake_error(c, err);
    /* Let the alert wolfSSL produced reach the peer if the socket takes it
     * at once; uv_write tries synchronously. */
    (void)conn_flush(c);
    conn_finish(c, status);
}

/* Delivers decrypted data while the application reads. */
static void conn_step_read(struct tls_conn *c)
{
    while (c->state == CONN_OPEN && c->app_reading) {
        int n = wolfSSL_read(c->ssl, c->chunk, (int)c->ctx->chunk_size);
        if (n > 0) {
            if (c->cbs.on_read && !c->silent) {
                c->cbs.on_read(c, c->chunk, (size_t)n);
            }
            continue;
        }
        int err = wolfSSL_get_error(c->ssl, n);
        if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
            if (c->eof && c->in_start == c->in_end) {
                conn_finish(c, TLS_EEOF);
            }
            return;
        }
        if (err == WOLFSSL_ERROR_ZERO_RETURN) {
            /* close_notify: the peer reads no more (wolfSSL refuses to
             * write after it anyway); answer in kind and finish. */
            buf_reset(&c->plain);
            c->state = CONN_CLOSING;
            c->app_reading = false;
            timer_arm(c, c->ctx->close_timeout_ms);
            return;
        }
        conn_finish(c, err == SOCKET_PEER_CLOSED_E ? TLS_EEOF : TLS_EPROTO);
        return;
    }
}

/* Encrypts queued plaintext while the ciphertext window has room. */
static void conn_step_write(struct tls_conn *c)
{
    size_t done = 0;
    while (done < c->plain.size && c->cipher.size + c->cipher_inflight < c->ctx->cipher_window) {
        size_t n = c->plain.size - done;
        if (n > c->ctx->record_size) {
            n = c->ctx->record_size;
        }
        int r = wolfSSL_write(c->ssl, c->plain.data + done, (int)n);
        if (r <= 0) {
            int err = wolfSSL_get_error(c->ssl, r);
            if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
                break;
            }
            buf_consume(&c->plain, done);
            conn_finish(c, TLS_EPROTO);
            return;
        }
        done += (size_t)r;
    }
    buf_consume(&c->plain, done);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct tls_conn *c = req->data;
    if (c->state == CONN_CLOSED) {
        return;
    }
    c->fin_done = true;
    conn_pump(c);
}

/* Graceful close: plaintext, then close_notify, then FIN once all is
 * written, then wait for the peer's EOF. */
static void conn_step_closing(struct tls_conn *c)
{
    if (c->plain.size == 0 && !c->close_notify_sent) {
        (void)wolfSSL_shutdown(c->ssl);
        c->close_notify_sent = true;
    }
    if (c->close_notify_sent && c->cipher.size == 0 && c->cipher_inflight == 0 && !c->fin_sent) {
        c->fin_sent = true;
        c->shutdown_req.data = c;
        if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
            conn_finish(c, 0);
            return;
        }
    }
    if (c->fin_done && c->eof) {
        conn_finish(c, 0);
    }
}

static void conn_pump(struct tls_conn *c)
{
    if (c->in_pump) {
        c->pump_again = true;
        return;
    }
    c->in_pump = true;
    do {
        c->pump_again = false;
        switch (c->state) {
        case CONN_HANDSHAKE:
            conn_step_handshake(c);
            if (c->state != CONN_OPEN) {
                break;
            }
            __attribute__((fallthrough));
        case CONN_OPEN:
            conn_step_read(c);
            if (c->state == CONN_OPEN) {
                conn_step_write(c);
            }
            if (c->state != CONN_CLOSING) {
                break;
            }
            __attribute__((fallthrough));
        case CONN_CLOSING:
            conn_step_write(c);
            if (c->state == CONN_CLOSING) {
                conn_step_closing(c);
            }
            break;
        case CONN_CONNECTING:
        case CONN_CLOSED:
            break;
        }
        if (c->state != CONN_CLOSED && c->state != CONN_CONNECTING) {
            int r = conn_flush(c);
            if (r != 0) {
                conn_finish(c, r);
            }
        }
        if (c->state == CONN_OPEN && c->need_drain &&
            tls_conn_queued_size(c) <= c->ctx->low) {
            c->need_drain = false;
            if (c->cbs.on_drain && !c->silent) {
                c->cbs.on_drain(c);
            }
        }
        conn_update_reading(c);
    } while (c->pump_again && c->state != CONN_CLOSED);
    c->in_pump = false;
}

/* Starts the handshake on a connected socket. */
static void conn_start(struct tls_conn *c)
{
    c->state = CONN_HANDSHAKE;
    (void)uv_tcp_nodelay(&c->tcp, 1);
    conn_pump(c);
}

/* ---- servers ---- */

/* Takes the socket libuv accepted and starts its handshake. */
static void server_accept(struct tls_server *s)
{
    uv_stream_t *listener = (uv_stream_t *)&s->listener;
    struct tls_conn *c = conn_new(s->ctx, s->loop);
    if (!c) {
        /* Take the socket off the queue so we do not spin on it. */
        uv_tcp_t *drop = malloc(sizeof *drop);
        if (drop && uv_tcp_init(s->loop, drop) == 0) {
            (void)uv_accept(listener, (uv_stream_t *)drop);
            uv_close((uv_handle_t *)drop, (uv_close_cb)free);
        } else {
            free(drop);
            s->accept_waiting = true; /* still libuv's: retry at the next admission */
        }
        if (s->cbs.on_reject) {
            s->cbs.on_reject(s, TLS_ENOMEM, NULL);
        }
        return;
    }
    c->server = s;
    c->next = s->pending;
    if (s->pending) {
        s->pending->prev = c;
    }
    s->pending = c;
    s->handshakes++;
    timer_arm(c, c->ctx->handshake_timeout_ms);
    c->hs_started = uv_now(s->loop);
    if (uv_tcp_init(s->loop, &c->tcp) != 0) {
        s->accept_waiting = true; /* the socket is still libuv's */
        conn_finish(c, TLS_ENOMEM);
        return;
    }
    c->tcp.data = c;
    c->handed_over = true;
    int r = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (r != 0) {
        conn_finish(c, r);
        return;
    }
    conn_start(c);
}

/* Admission: below the cap the connection libuv accepted starts its
 * handshake at once; at the cap it is left with libuv, which then stops
 * accepting (its listener watcher is off until uv_accept takes the socket),
 * so the rest of a burst stays in the kernel's backlog. server_admit()
 * takes it when a handshake ends. */
static void on_connection(uv_stream_t *listener, int status)
{
    struct tls_server *s = listener->data;
    if (status < 0 || s->closing) {
        return;
    }
    if (s->handshakes >= s->ctx->max_handshakes) {
        s->accept_waiting = true;
        server_contend(s);
        return;
    }
    server_accept(s);
}

/* Connections wait for a slot: every handshake in progress is due to end
 * once it is contended_ms old (on_timer checks that the wait goes on). A
 * client that connects and stalls then holds a slot for contended_ms,
 * not the whole handshake timeout. */
static void server_contend(struct tls_server *s)
{
    uv_update_time(s->loop);
    uint64_t now = uv_now(s->loop);
    for (struct tls_conn *c = s->pending; c; c = c->next) {
        if (c->state != CONN_HANDSHAKE) {
            continue;
        }
        uint64_t age = now - c->hs_started;
        uint64_t due = age >= c->ctx->contended_ms ? 0 : c->ctx->contended_ms - age;
        if (due < uv_timer_get_due_in(&c->timer)) {
            (void)uv_timer_start(&c->timer, on_timer, due, 0);
        }
    }
}

/* A handshake ended: start the one waiting, if any (libuv then watches the
 * listener again and reports the next connection of the backlog). */
static void server_admit(struct tls_server *s)
{
    if (!s->accept_waiting || s->closing || !s->listener_init ||
        s->handshakes >= s->ctx->max_handshakes) {
        return;
    }
    s->accept_waiting = false;
    server_accept(s);
}

unsigned tls_server_handshakes(const struct tls_server *s)
{
    return s->handshakes;
}

int tls_server_create(struct tls_ctx *ctx, uv_loop_t *loop, const struct tls_server_callbacks *cbs,
                      void *data, struct tls_server **out)
{
    if (!ctx || !loop || !cbs || !cbs->on_accept || !out || ctx->role != TLS_ROLE_SERVER) {
        return TLS_EINVAL;
    }
    struct tls_server *s = calloc(1, sizeof *s);
    if (!s) {
        return TLS_ENOMEM;
    }
    s->ctx = ctx;
    s->loop = loop;
    s->cbs = *cbs;
    s->data = data;
    *out = s;
    return 0;
}

static int server_open_listener(struct tls_server *s)
{
    if (s->listener_init || s->closing) {
        return TLS_EINVAL;
    }
    int r = uv_tcp_init(s->loop, &s->listener);
    if (r != 0) {
        return r;
    }
    s->listener.data = s;
    s->listener_init = true;
    return 0;
}

static int server_start(struct tls_server *s)
{
    int r = uv_listen((uv_stream_t *)&s->listener, TLS_BACKLOG, on_connection);
    if (r != 0) {
        return r;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) == 0) {
        s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct tls_server *s = h->data;
    s->listener_init = false;
    server_maybe_free(s);
}

int tls_server_listen(struct tls_server *s, const char *address, uint16_t port)
{
    if (!s || !address) {
        return TLS_EINVAL;
    }
    struct sockaddr_storage ss;
    if (uv_ip4_addr(address, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(address, port, (struct sockaddr_in6 *)&ss) != 0) {
        return TLS_EINVAL;
    }
    int r = server_open_listener(s);
    if (r != 0) {
        return r;
    }
    r = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (r == 0) {
        r = server_start(s);
    }
    if (r != 0) {
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        s->listener_init = true; /* until the close callback runs */
    }
    return r;
}

int tls_server_listen_fd(struct tls_server *s, int *fd)
{
    if (!s || !fd || *fd < 0) {
        return TLS_EINVAL;
    }
    int sock = *fd;
    *fd = -1;
    int r = server_open_listener(s);
    if (r != 0) {
        close(sock);
        return r;
    }
    r = uv_tcp_open(&s->listener, sock);
    if (r != 0) {
        close(sock);
    } else {
        r = server_start(s);
    }
    if (r != 0) {
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    }
    return r;
}

uint16_t tls_server_port(const struct tls_server *s)
{
    return s->listener_init ? s->port : 0;
}

void *tls_server_data(const struct tls_server *s)
{
    return s->data;
}

static void server_maybe_free(struct tls_server *s)
{
    if (!s->closing || s->listener_init || s->pending) {
        return;
    }
    void (*cb)(void *) = s->on_closed;
    void *data = s->data;
    free(s);
    if (cb) {
        cb(data);
    }
}

void tls_server_close(struct tls_server *s, void (*on_closed)(void *data))
{
    if (!s || s->closing) {
        return;
    }
    s->closing = true;
    s->on_closed = on_closed;
    for (struct tls_conn *c = s->pending; c; c = c->next) {
        c->silent = true;
        conn_finish(c, TLS_ECLOSED);
    }
    if (s->listener_init && !uv_is_closing((uv_handle_t *)&s->listener)) {
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    }
    if (!s->listener_init && !s->pending) {
        /* Nothing to wait for; still report from the loop, not from here. */
        s->listener_init = true;
        uv_tcp_init(s->loop, &s->listener);
        s->listener.data = s;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    }
}

/* ---- client connections ---- */

static void on_connect(uv_connect_t *req, int status)
{
    struct tls_conn *c = req->data;
    if (c->state == CONN_CLOSED) {
        return;
    }
    if (status < 0) {
        conn_finish(c, status);
        return;
    }
    conn_start(c);
}

int tls_conn_connect(struct tls_ctx *ctx, uv_loop_t *loop, const char *address, uint16_t port,
                     const char *peer_name, const struct tls_conn_callbacks *cbs, void *data,
                     struct tls_conn **out)
{
    if (!ctx || !loop || !address || !peer_name || !cbs || !cbs->on_close || !out ||
        ctx->role != TLS_ROLE_CLIENT || strlen(peer_name) >= sizeof(((struct tls_conn *)0)->peer_name) ||
        !*peer_name) {
        return TLS_EINVAL;
    }
    struct sockaddr_storage ss;
    if (uv_ip4_addr(address, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(address, port, (struct sockaddr_in6 *)&ss) != 0) {
        return TLS_EINVAL;
    }
    struct tls_conn *c = conn_new(ctx, loop);
    if (!c) {
        return TLS_ENOMEM;
    }
    snprintf(c->peer_name, sizeof c->peer_name, "%s", peer_name);
    c->cbs = *cbs;
    c->data = data;
    c->state = CONN_CONNECTING;
    int r = uv_tcp_init(loop, &c->tcp);
    if (r != 0) {
        goto err;
    }
    c->tcp.data = c;
    c->handed_over = true;
    c->connect_req.data = c;
    r = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&ss, on_connect);
    if (r != 0) {
        /* Report through on_close like any other failure to connect. */
        conn_finish(c, r);
        *out = c;
        return 0;
    }
    timer_arm(c, ctx->handshake_timeout_ms);
    *out = c;
    return 0;

err:
    c->silent = true;
    c->handed_over = false;
    conn_finish(c, r);
    return TLS_ENOMEM;
}

void tls_conn_set_callbacks(struct tls_conn *c, const struct tls_conn_callbacks *cbs, void *data)
{
    c->cbs = *cbs;
    c->data = data;
}

void *tls_conn_data(const struct tls_conn *c)
{
    return c->data;
}

int tls_conn_write(struct tls_conn *c, const void *data, size_t size)
{
    if (!c || (!data && size)) {
        return TLS_EINVAL;
    }
    if (c->state == CONN_CLOSING || c->state == CONN_CLOSED) {
        return TLS_ECLOSED;
    }
    if (tls_conn_queued_size(c) >= c->ctx->high) {
        c->need_drain = true;
        return TLS_EAGAIN;
    }
    if (size == 0) {
        return 0;
    }
    if (buf_put(&c->plain, data, size) != 0) {
        return TLS_ENOMEM;
    }
    if (tls_conn_queued_size(c) >= c->ctx->high) {
        c->need_drain = true;
    }
    c->last_activity = uv_now(c->loop);
    conn_schedule(c);
    return 0;
}

size_t tls_conn_queued_size(const struct tls_conn *c)
{
    return c->plain.size + c->cipher.size + c->cipher_inflight;
}

void tls_conn_read_stop(struct tls_conn *c)
{
    if (!c || !c->app_reading || c->state == CONN_CLOSED) {
        return;
    }
    c->app_reading = false;
    if (!c->in_pump) {
        conn_update_reading(c);
    }
}

void tls_conn_read_start(struct tls_conn *c)
{
    if (!c || c->app_reading || c->state == CONN_CLOSED || c->state == CONN_CLOSING) {
        return;
    }
    c->app_reading = true;
    conn_schedule(c);
}

void tls_conn_close(struct tls_conn *c)
{
    if (!c || c->state == CONN_CLOSING || c->state == CONN_CLOSED) {
        return;
    }
    if (c->state != CONN_OPEN) {
        /* Nothing was established: no close_notify to send. */
        conn_finish(c, TLS_ECLOSED);
        return;
    }
    c->state = CONN_CLOSING;
    c->app_reading = false;
    timer_arm(c, c->ctx->close_timeout_ms);
    conn_schedule(c);
}

void tls_conn_free(struct tls_conn *c)
{
    if (!c) {
        return;
    }
    if (c->in_close_cb) {
        c->free_requested = true;
        return;
    }
    if (c->state == CONN_CLOSED && c->handles_open == 0) {
        conn_destroy(c);
        return;
    }
    c->silent = true;
    c->free_requested = true;
    conn_finish(c, TLS_ECLOSED);
}

int tls_conn_is_established(const struct tls_conn *c)
{
    return c->state == CONN_OPEN || (c->state == CONN_CLOSING && c->peer_cert);
}

const char *tls_conn_peer_identity(const struct tls_conn *c)
{
    return c->peer_cert ? pki_cert_identity(c->peer_cert) : NULL;
}

const struct pki_cert *tls_conn_peer_cert(const struct tls_conn *c)
{
    return c->peer_cert;
}

const char *tls_conn_cipher(const struct tls_conn *c)
{
    if (c->state != CONN_OPEN && c->state != CONN_CLOSING) {
        return NULL;
    }
    return wolfSSL_get_cipher_name(c->ssl);
}

const char *tls_conn_group(const struct tls_conn *c)
{
    if (c->state != CONN_OPEN && c->state != CONN_CLOSING) {
        return NULL;
    }
    return wolfSSL_get_curve_name(c->ssl);
}

const char *tls_conn_alpn(const struct tls_conn *c)
{
    return c->alpn[0] ? c->alpn : NULL;
}

int tls_conn_peer_addr(const struct tls_conn *c, struct sockaddr *addr, int *size)
{
    if (!c->handed_over || c->state == CONN_CLOSED) {
        return TLS_ECLOSED;
    }
    return uv_tcp_getpeername(&c->tcp, addr, size);
}

void tls_thread_done(void)
{
#ifdef FP_ECC
    wc_ecc_fp_free();
#endif
}

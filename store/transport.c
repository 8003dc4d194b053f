/* The TLS raft transport of transport.h. One 'struct bridge' per connection
 * pumps bytes between a lib/tls connection and our end of a socketpair whose
 * other end libraft owns. Outgoing bridges carry libraft's writes to TLS
 * (with TLS backpressure stopping our socketpair reads); incoming bridges
 * read the hello, then pass TLS plaintext through the frame checker to the
 * socketpair (with socketpair backpressure stopping TLS reads). */
#include "store/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"

#define HELLO_MAGIC "SRAF"
#define HELLO_VERSION 1
#define HELLO_FIXED 16 /* magic(4) version(1) pad(1) u16 addrlen u64 id */
#define SIDE_HIGH (4u << 20) /* bytes written to libraft, not yet taken */
#define SIDE_LOW (1u << 20)

struct transport {
    struct store_transport_config cfg;
    struct raft_uv_transport *t;
    raft_id id;
    char address[STORE_ADDRESS_MAX];
    struct tls_server *server;
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
    struct bridge *bridges; /* every live bridge, for close */
    bool closing;
    struct store_transport_stats stats;
};

struct bridge {
    struct transport *tr; /* NULL once the transport has closed */
    struct bridge *next, *prev;
    struct tls_conn *conn;
    uv_loop_t *loop;
    bool outgoing;
    bool tls_done;   /* on_close ran (or conn reset by us) */
    bool side_open;  /* 'side' initialised */
    bool side_done;  /* 'side' closed */
    uv_pipe_t side;  /* our end of the socketpair */
    /* outgoing: libraft's pending connect request */
    struct raft_uv_connect *req;
    raft_uv_connect_cb connect_cb;
    raft_id peer_id;
    char peer_address[STORE_ADDRESS_MAX];
    struct buf pending; /* outgoing: bytes libraft wrote that TLS refused */
    /* incoming */
    struct buf hello;
    bool hello_done;
    struct raft_frame_check check;
    size_t side_queued; /* bytes in uv_write to libraft not completed */
    bool tls_reading_stopped;
};

struct side_write {
    uv_write_t req;
    struct bridge *b;
    size_t size;
    uint8_t data[];
};

int store_address_parse(const char *address, char *name, size_t name_size, char *host,
                        size_t host_size, uint16_t *port)
{
    const char *at = strchr(address, '@');
    const char *colon = strrchr(address, ':');
    if (!at || !colon || colon < at || at == address) {
        return LIB_EINVAL;
    }
    size_t nlen = (size_t)(at - address);
    const char *h = at + 1;
    size_t hlen = (size_t)(colon - h);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (nlen >= name_size || hlen == 0 || hlen >= host_size) {
        return LIB_EINVAL;
    }
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || p == 0 || p > 65535) {
        return LIB_EINVAL;
    }
    memcpy(name, address, nlen);
    name[nlen] = '\0';
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

/* ---- bridge lifetime ---- */

static void bridge_link(struct transport *tr, struct bridge *b)
{
    b->tr = tr;
    b->next = tr->bridges;
    if (tr->bridges) {
        tr->bridges->prev = b;
    }
    tr->bridges = b;
}

static void bridge_unlink(struct bridge *b)
{
    if (!b->tr) {
        return;
    }
    if (b->prev) {
        b->prev->next = b->next;
    } else {
        b->tr->bridges = b->next;
    }
    if (b->next) {
        b->next->prev = b->prev;
    }
    b->tr = NULL;
}

static void bridge_maybe_free(struct bridge *b)
{
    if (!b->tls_done || (b->side_open && !b->side_done)) {
        return;
    }
    bridge_unlink(b);
    tls_conn_free(b->conn);
    buf_destroy(&b->pending);
    buf_destroy(&b->hello);
    raft_frame_check_destroy(&b->check);
    free(b);
}

static void side_close_cb(uv_handle_t *h)
{
    struct bridge *b = h->data;
    b->side_done = true;
    bridge_maybe_free(b);
}

static void bridge_close_side(struct bridge *b)
{
    if (b->side_open && !uv_is_closing((uv_handle_t *)&b->side)) {
        uv_close((uv_handle_t *)&b->side, side_close_cb);
    }
}

/* Ends the bridge now: resets TLS (no callback follows) and closes our end
 * of the socketpair, so libraft sees EOF on its end. */
static void bridge_abort(struct bridge *b)
{
    if (!b->tls_done) {
        b->tls_done = true;
        tls_conn_free(b->conn);
        b->conn = NULL;
    }
    bridge_close_side(b);
    bridge_maybe_free(b);
}

static void raft_stream_free_cb(uv_handle_t *h)
{
    raft_free(h);
}

/* Creates the socketpair: our end becomes b->side, libraft's end a new
 * uv_pipe_t in '*stream' (allocated with raft_malloc: libraft frees it). */
static int bridge_make_pair(struct bridge *b, uv_loop_t *loop, uv_stream_t **stream)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        return LIB_EIO;
    }
    uv_pipe_t *theirs = raft_malloc(sizeof *theirs);
    if (!theirs) {
        close(fds[0]);
        close(fds[1]);
        return LIB_ENOMEM;
    }
    uv_pipe_init(loop, theirs, 0);
    uv_pipe_init(loop, &b->side, 0);
    b->side.data = b;
    b->side_open = true;
    if (uv_pipe_open(theirs, fds[0]) != 0 || uv_pipe_open(&b->side, fds[1]) != 0) {
        uv_close((uv_handle_t *)theirs, raft_stream_free_cb);
        close(fds[0]);
        bridge_close_side(b);
        close(fds[1]);
        return LIB_EIO;
    }
    *stream = (uv_stream_t *)theirs;
    return 0;
}

static void side_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)h;
    (void)suggested;
    out->base = malloc(65536);
    out->len = out->base ? 65536 : 0;
}

/* ---- outgoing: libraft -> TLS ---- */

static void out_side_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *data)
{
    struct bridge *b = s->data;
    if (nread < 0) {
        /* libraft closed its end: flush and close TLS gracefully. */
        free(data->base);
        uv_read_stop(s);
        if (!b->tls_done) {
            tls_conn_close(b->conn);
        }
        bridge_close_side(b);
        return;
    }
    if (nread > 0 && !b->tls_done) {
        int rc = b->pending.size ? TLS_EAGAIN : tls_conn_write(b->conn, data->base, (size_t)nread);
        if (rc == TLS_EAGAIN) {
            if (buf_put(&b->pending, data->base, (size_t)nread) != 0) {
                free(data->base);
                bridge_abort(b);
                return;
            }
            uv_read_stop(s);
        } else if (rc != 0) {
            free(data->base);
            bridge_abort(b);
            return;
        }
    }
    free(data->base);
}

static void out_on_drain(struct tls_conn *conn)
{
    struct bridge *b = tls_conn_data(conn);
    if (b->pending.size == 0) {
        return;
    }
    int rc = tls_conn_write(conn, b->pending.data, b->pending.size);
    if (rc == TLS_EAGAIN) {
        return;
    }
    buf_reset(&b->pending);
    if (rc != 0) {
        bridge_abort(b);
        return;
    }
    if (b->side_open && !uv_is_closing((uv_handle_t *)&b->side)) {
        uv_read_start((uv_stream_t *)&b->side, side_alloc_cb, out_side_read_cb);
    }
}

static void out_on_established(struct tls_conn *conn)
{
    struct bridge *b = tls_conn_data(conn);
    struct transport *tr = b->tr;
    struct raft_uv_connect *req = b->req;
    raft_uv_connect_cb cb = b->connect_cb;
    uv_stream_t *stream = NULL;
    uint8_t fixed[HELLO_FIXED];
    size_t alen = strlen(tr->address);
    int rc;

    b->req = NULL;
    memcpy(fixed, HELLO_MAGIC, 4);
    fixed[4] = HELLO_VERSION;
    fixed[5] = 0;
    be16_store(fixed + 6, (uint16_t)alen);
    be64_store(fixed + 8, tr->id);
    rc = tls_conn_write(conn, fixed, sizeof fixed);
    if (rc == 0) {
        rc = tls_conn_write(conn, tr->address, alen);
    }
    if (rc == 0) {
        rc = bridge_make_pair(b, b->loop, &stream);
    }
    if (rc != 0) {
        log_warn("raft-transport", "outgoing connection failed", "peer=%s err=%d", b->peer_address, rc);
        bridge_abort(b);
        cb(req, NULL, RAFT_NOCONNECTION);
        return;
    }
    uv_read_start((uv_stream_t *)&b->side, side_alloc_cb, out_side_read_cb);
    tr->stats.connected++;
    cb(req, stream, 0);
}

static void out_on_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    /* libraft never answers on a connection it opened: a peer that sends
     * here breaks the protocol. */
    struct bridge *b = tls_conn_data(conn);
    (void)data;
    (void)size;
    log_warn("raft-transport", "unexpected bytes on outgoing connection", "peer=%s", b->peer_address);
    bridge_abort(b);
}

static void out_on_close(struct tls_conn *conn, int status)
{
    struct bridge *b = tls_conn_data(conn);
    b->tls_done = true;
    if (b->req) {
        struct raft_uv_connect *req = b->req;
        b->req = NULL;
        log_debug("raft-transport", "connect failed", "peer=%s err=\"%s\"", b->peer_address,
                  strata_strerror(status));
        req->cb = b->connect_cb;
        bridge_maybe_free(b);
        req->cb(req, NULL, RAFT_NOCONNECTION);
        return;
    }
    bridge_close_side(b);
    bridge_maybe_free(b);
}

static const struct tls_conn_callbacks out_callbacks = {
    .on_established = out_on_established,
    .on_read = out_on_read,
    .on_drain = out_on_drain,
    .on_close = out_on_close,
};

/* ---- incoming: TLS -> libraft ---- */

static void in_side_write_cb(uv_write_t *req, int status)
{
    struct side_write *w = (struct side_write *)req;
    struct bridge *b = w->b;
    b->side_queued -= w->size;
    free(w);
    if (status != 0) {
        bridge_abort(b);
        return;
    }
    if (b->tls_reading_stopped && b->side_queued <= SIDE_LOW && !b->tls_done) {
        b->tls_reading_stopped = false;
        tls_conn_read_start(b->conn);
    }
}

static int in_forward(struct bridge *b, const uint8_t *data, size_t size)
{
    int rc = raft_frame_check_feed(&b->check, data, size);
    if (rc != 0) {
        if (b->tr) {
            b->tr->stats.frame_errors++;
        }
        log_warn("raft-transport", "peer sent a bad raft frame", "peer=%s err=\"%s\"",
                 b->peer_address, strata_strerror(rc));
        return rc;
    }
    struct side_write *w = malloc(sizeof *w + size);
    if (!w) {
        return LIB_ENOMEM;
    }
    w->b = b;
    w->size = size;
    memcpy(w->data, data, size);
    uv_buf_t ub = uv_buf_init((char *)w->data, (unsigned)size);
    rc = uv_write(&w->req, (uv_stream_t *)&b->side, &ub, 1, in_side_write_cb);
    if (rc != 0) {
        free(w);
        return rc;
    }
    b->side_queued += size;
    if (b->side_queued > SIDE_HIGH && !b->tls_reading_stopped) {
        b->tls_reading_stopped = true;
        tls_conn_read_stop(b->conn);
    }
    return 0;
}

static void in_side_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *data)
{
    struct bridge *b = s->data;
    free(data->base);
    if (nread < 0 || nread > 0) {
        /* EOF: libraft dropped the connection; bytes: it never writes here. */
        bridge_abort(b);
    }
}

/* Parses the hello once complete; hands libraft its stream. Returns the
 * number of bytes of 'data' consumed, or a negative code. */
static int in_hello(struct bridge *b, const uint8_t *data, size_t size, size_t *used)
{
    struct transport *tr = b->tr;
    size_t need = HELLO_FIXED;
    *used = 0;
    if (b->hello.size >= HELLO_FIXED) {
        need += be16_load(b->hello.data + 6);
    }
    while (*used < size && b->hello.size < need) {
        size_t take = need - b->hello.size;
        take = take < size - *used ? take : size - *used;
        if (buf_put(&b->hello, data + *used, take) != 0) {
            return LIB_ETOOBIG;
        }
        *used += take;
        if (b->hello.size == HELLO_FIXED) {
            if (memcmp(b->hello.data, HELLO_MAGIC, 4) != 0 || b->hello.data[4] != HELLO_VERSION) {
                return LIB_EFORMAT;
            }
            uint16_t alen = be16_load(b->hello.data + 6);
            if (alen == 0 || alen >= STORE_ADDRESS_MAX) {
                return LIB_EFORMAT;
            }
            need += alen;
        }
    }
    if (b->hello.size < need) {
        return 0;
    }

    struct cursor c;
    const uint8_t *addr;
    uint64_t id;
    char name[STORE_ADDRESS_MAX], host[STORE_ADDRESS_MAX];
    uint16_t port;
    cursor_init(&c, b->hello.data + 8, b->hello.size - 8);
    if (buf_get_u64(&c, &id) != 0 || id == 0 ||
        buf_get_view(&c, cursor_remaining(&c), &addr) != 0) {
        return LIB_EFORMAT;
    }
    size_t alen = b->hello.size - HELLO_FIXED;
    if (memchr(addr, '\0', alen)) {
        return LIB_EFORMAT;
    }
    memcpy(b->peer_address, addr, alen);
    b->peer_address[alen] = '\0';
    if (store_address_parse(b->peer_address, name, sizeof name, host, sizeof host, &port) != 0) {
        return LIB_EFORMAT;
    }
    const char *identity = tls_conn_peer_identity(b->conn);
    if (!identity || strcmp(identity, name) != 0) {
        log_warn("raft-transport", "peer claims another member's address", "identity=%s address=%s",
                 identity ? identity : "-", b->peer_address);
        return TLS_EDENIED;
    }
    b->peer_id = id;
    b->hello_done = true;

    uv_stream_t *stream = NULL;
    int rc = bridge_make_pair(b, b->loop, &stream);
    if (rc != 0) {
        return rc;
    }
    uv_read_start((uv_stream_t *)&b->side, side_alloc_cb, in_side_read_cb);
    tr->stats.accepted++;
    tr->accept_cb(tr->t, id, b->peer_address, stream);
    return 0;
}

static void in_on_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct bridge *b = tls_conn_data(conn);
    int rc;
    if (!b->hello_done) {
        size_t used;
        if (!b->tr || b->tr->closing) {
            bridge_abort(b);
            return;
        }
        rc = in_hello(b, data, size, &used);
        if (rc != 0) {
            if (b->tr) {
                b->tr->stats.refused++;
            }
            log_warn("raft-transport", "refused raft peer", "identity=%s err=\"%s\"",
                     tls_conn_peer_identity(conn) ? tls_conn_peer_identity(conn) : "-",
                     strata_strerror(rc));
            bridge_abort(b);
            return;
        }
        data += used;
        size -= used;
    }
    if (size > 0 && b->hello_done) {
        rc = in_forward(b, data, size);
        if (rc != 0) {
            bridge_abort(b);
        }
    }
}

static void in_on_close(struct tls_conn *conn, int status)
{
    struct bridge *b = tls_conn_data(conn);
    (void)status;
    b->tls_done = true;
    bridge_close_side(b);
    bridge_maybe_free(b);
}

static const struct tls_conn_callbacks in_callbacks = {
    .on_read = in_on_read,
    .on_close = in_on_close,
};

static int server_authorize(struct tls_server *server, struct tls_conn *conn, const char *identity)
{
    struct transport *tr = tls_server_data(server);
    return identity && pki_cert_has_role(tls_conn_peer_cert(conn), PKI_ROLE_NODE) &&
                   tr->cfg.is_member(tr->cfg.arg, identity)
               ? 0
               : TLS_EDENIED;
}

static void server_on_reject(struct tls_server *server, int status, const char *identity)
{
    struct transport *tr = tls_server_data(server);
    tr->stats.refused++;
    log_warn("raft-transport", "refused raft connection", "identity=%s err=\"%s\"",
             identity ? identity : "-", strata_strerror(status));
}

static void server_on_accept(struct tls_server *server, struct tls_conn *conn)
{
    struct transport *tr = tls_server_data(server);
    struct bridge *b = calloc(1, sizeof *b);
    if (!b || tr->closing) {
        free(b);
        tls_conn_free(conn);
        return;
    }
    b->conn = conn;
    b->loop = tr->cfg.loop;
    buf_init(&b->pending, 0);
    buf_init(&b->hello, HELLO_FIXED + STORE_ADDRESS_MAX);
    raft_frame_check_init(&b->check, &tr->cfg.limits);
    bridge_link(tr, b);
    tls_conn_set_callbacks(conn, &in_callbacks, b);
}

static const struct tls_server_callbacks server_callbacks = {
    .on_accept = server_on_accept,
    .authorize = server_authorize,
    .on_reject = server_on_reject,
};

/* ---- the raft_uv_transport methods ---- */

static int tr_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct transport *tr = t->impl;
    if (strlen(address) >= sizeof tr->address) {
        snprintf(t->errmsg, sizeof t->errmsg, "address too long");
        return RAFT_INVALID;
    }
    tr->id = id;
    snprintf(tr->address, sizeof tr->address, "%s", address);
    return 0;
}

static int tr_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct transport *tr = t->impl;
    char name[STORE_ADDRESS_MAX], host[STORE_ADDRESS_MAX];
    uint16_t port;
    int rc = tls_server_create(tr->cfg.server_ctx, tr->cfg.loop, &server_callbacks, tr, &tr->server);
    if (rc != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "tls server: %s", strata_strerror(rc));
        return RAFT_IOERR;
    }
    if (tr->cfg.listen_fd >= 0) {
        rc = tls_server_listen_fd(tr->server, &tr->cfg.listen_fd);
    } else if ((rc = store_address_parse(tr->address, name, sizeof name, host, sizeof host, &port)) == 0) {
        rc = tls_server_listen(tr->server, host, port);
    }
    if (rc != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "listen on %.200s: %s", tr->address, strata_strerror(rc));
        tls_server_close(tr->server, NULL);
        tr->server = NULL;
        return RAFT_IOERR;
    }
    tr->accept_cb = cb;
    return 0;
}

static int tr_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    struct transport *tr = t->impl;
    char name[STORE_ADDRESS_MAX], host[STORE_ADDRESS_MAX];
    uint16_t port;
    if (store_address_parse(address, name, sizeof name, host, sizeof host, &port) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "bad member address %.200s", address);
        return RAFT_INVALID;
    }
    struct bridge *b = calloc(1, sizeof *b);
    if (!b) {
        return RAFT_NOMEM;
    }
    b->outgoing = true;
    b->loop = tr->cfg.loop;
    b->req = req;
    b->connect_cb = cb;
    b->peer_id = id;
    snprintf(b->peer_address, sizeof b->peer_address, "%s", address);
    buf_init(&b->pending, 0);
    buf_init(&b->hello, 0);
    raft_frame_check_init(&b->check, &tr->cfg.limits);
    int rc = tls_conn_connect(tr->cfg.client_ctx, tr->cfg.loop, host, port, name, &out_callbacks, b,
                              &b->conn);
    if (rc != 0) {
        buf_destroy(&b->pending);
        buf_destroy(&b->hello);
        raft_frame_check_destroy(&b->check);
        free(b);
        snprintf(t->errmsg, sizeof t->errmsg, "connect %.200s: %s", address, strata_strerror(rc));
        return RAFT_NOCONNECTION;
    }
    bridge_link(tr, b);
    return 0;
}

static void tr_server_closed(void *data)
{
    struct transport *tr = data;
    if (tr->close_cb) {
        raft_uv_transport_close_cb cb = tr->close_cb;
        tr->close_cb = NULL;
        cb(tr->t);
    }
}

static void tr_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct transport *tr = t->impl;
    tr->closing = true;
    tr->close_cb = cb;
    /* Cancel pending connects; detach established bridges, which wind down
     * when libraft closes its ends. */
    while (tr->bridges) {
        struct bridge *b = tr->bridges;
        bridge_unlink(b);
        if (b->req) {
            struct raft_uv_connect *req = b->req;
            raft_uv_connect_cb ccb = b->connect_cb;
            b->req = NULL;
            bridge_abort(b);
            ccb(req, NULL, RAFT_CANCELED);
        }
    }
    if (tr->server) {
        struct tls_server *server = tr->server;
        tr->server = NULL;
        tls_server_close(server, tr_server_closed);
    } else {
        tr_server_closed(tr);
    }
}

int store_transport_init(struct raft_uv_transport *t, const struct store_transport_config *config)
{
    if (!config || !config->loop || !config->server_ctx || !config->client_ctx || !config->is_member) {
        return LIB_EINVAL;
    }
    struct transport *tr = calloc(1, sizeof *tr);
    if (!tr) {
        return LIB_ENOMEM;
    }
    tr->cfg = *config;
    if (tr->cfg.limits.max_header == 0) {
        raft_frame_limits_default(&tr->cfg.limits);
    }
    tr->t = t;
    memset(t, 0, sizeof *t);
    t->impl = tr;
    t->init = tr_init;
    t->listen = tr_listen;
    t->connect = tr_connect;
    t->close = tr_close;
    return 0;
}

void store_transport_destroy(struct raft_uv_transport *t)
{
    if (t && t->impl) {
        free(t->impl);
        t->impl = NULL;
    }
}

void store_transport_stats(const struct raft_uv_transport *t, struct store_transport_stats *st)
{
    const struct transport *tr = t->impl;
    *st = tr->stats;
}

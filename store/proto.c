/* Frames and framed connections of proto.h. A store_pconn reads a stream
 * (TLS plaintext or a unix socket), cuts it into frames with the size
 * checked against STORE_PROTO_FRAME_MAX before buffering, and hands each
 * frame to on_frame. Writes go through TLS's bounded queue, or through
 * uv_write with the same accounting for unix sockets. */
#include "store/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/transport.h"

#define PIPE_HIGH (4u << 20)
#define PIPE_LOW (1u << 20)

struct store_pconn {
    struct store_pconn_callbacks cbs;
    void *data;
    struct tls_conn *tls; /* or: */
    uv_pipe_t *pipe;
    bool pipe_closing;
    size_t pipe_queued;
    bool pipe_full;
    struct buf in;
    bool closed; /* on_close delivered */
    bool in_frame_cb;
    bool free_after_cb;
    char identity[PKI_DNS_MAX + 1];
};

struct pipe_write {
    uv_write_t req;
    struct store_pconn *c;
    size_t size;
    uint8_t data[];
};

int store_events_foreach(const uint8_t *body, size_t size, int (*fn)(void *arg, const struct store_event *ev),
                         void *arg)
{
    struct cursor cur;
    uint32_t n;
    cursor_init(&cur, body, size);
    if (buf_get_u32(&cur, &n) != 0) {
        return STORE_EFORMAT;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct store_event ev;
        memset(&ev, 0, sizeof ev);
        if (buf_get_u64(&cur, &ev.revision) != 0 || buf_get_u32(&cur, &ev.sub) != 0 ||
            buf_get_u8(&cur, &ev.type) != 0 || buf_get_u32(&cur, &ev.kv.key_size) != 0 ||
            buf_get_view(&cur, ev.kv.key_size, &ev.kv.key) != 0 || buf_get_u32(&cur, &ev.kv.value_size) != 0 ||
            buf_get_view(&cur, ev.kv.value_size, &ev.kv.value) != 0 ||
            buf_get_u64(&cur, &ev.kv.create_revision) != 0 || buf_get_u64(&cur, &ev.kv.mod_revision) != 0 ||
            buf_get_u64(&cur, &ev.kv.version) != 0) {
            return STORE_EFORMAT;
        }
        int rc = fn(arg, &ev);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int store_frame_encode(struct buf *out, uint8_t type, uint8_t flags, uint64_t id, int32_t status,
                       const void *body, size_t size)
{
    bool response = (type & STORE_MSG_RESPONSE) != 0;
    size_t total = STORE_PROTO_HEADER + (response ? 4 : 0) + size;
    if (total > STORE_PROTO_FRAME_MAX) {
        return STORE_ETOOLARGE;
    }
    size_t before = out->size;
    int rc = buf_put_u32(out, (uint32_t)total);
    if (rc == 0) rc = buf_put_u8(out, type);
    if (rc == 0) rc = buf_put_u8(out, flags);
    if (rc == 0) rc = buf_put_u16(out, 0);
    if (rc == 0) rc = buf_put_u64(out, id);
    if (rc == 0 && response) rc = buf_put_u32(out, (uint32_t)status);
    if (rc == 0) rc = buf_put(out, body, size);
    if (rc != 0) {
        out->size = before;
    }
    return rc;
}

/* Cuts complete frames off the input buffer. Returns 0 or a protocol error
 * that ends the connection. */
static int pconn_parse(struct store_pconn *c)
{
    size_t off = 0;
    int rc = 0;
    while (!c->closed && c->in.size - off >= 4) {
        uint32_t size = be32_load(c->in.data + off);
        if (size < STORE_PROTO_HEADER || size > STORE_PROTO_FRAME_MAX) {
            rc = STORE_EFORMAT;
            break;
        }
        if (c->in.size - off - 4 < size) {
            break;
        }
        struct cursor cur;
        struct store_frame f;
        uint16_t zero;
        cursor_init(&cur, c->in.data + off + 4, size);
        if (buf_get_u8(&cur, &f.type) != 0 || buf_get_u8(&cur, &f.flags) != 0 ||
            buf_get_u16(&cur, &zero) != 0 || buf_get_u64(&cur, &f.id) != 0 || zero != 0) {
            rc = STORE_EFORMAT;
            break;
        }
        f.status = 0;
        if (f.type & STORE_MSG_RESPONSE) {
            uint32_t st;
            if (buf_get_u32(&cur, &st) != 0) {
                rc = STORE_EFORMAT;
                break;
            }
            f.status = (int32_t)st;
        }
        f.body_size = cursor_remaining(&cur);
        if (buf_get_view(&cur, f.body_size, &f.body) != 0) {
            rc = STORE_EFORMAT;
            break;
        }
        off += 4 + size;
        c->in_frame_cb = true;
        c->cbs.on_frame(c, &f);
        c->in_frame_cb = false;
    }
    if (!c->closed) {
        buf_consume(&c->in, off);
    }
    return rc;
}

static void pconn_free(struct store_pconn *c)
{
    buf_destroy(&c->in);
    free(c);
}

static void pconn_deliver_close(struct store_pconn *c, int status)
{
    if (c->closed) {
        return;
    }
    c->closed = true;
    if (c->cbs.on_close) {
        c->cbs.on_close(c, status);
    }
}

/* ---- over TLS ---- */

static void tls_on_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct store_pconn *c = tls_conn_data(conn);
    if (buf_put(&c->in, data, size) != 0 || pconn_parse(c) != 0) {
        tls_conn_close(conn);
        tls_conn_read_stop(conn);
    }
}

static void tls_on_established(struct tls_conn *conn)
{
    struct store_pconn *c = tls_conn_data(conn);
    const char *id = tls_conn_peer_identity(conn);
    snprintf(c->identity, sizeof c->identity, "%s", id ? id : "-");
    if (c->cbs.on_ready) {
        c->cbs.on_ready(c);
    }
}

static void tls_on_drain(struct tls_conn *conn)
{
    struct store_pconn *c = tls_conn_data(conn);
    if (c->cbs.on_drain && !c->closed) {
        c->cbs.on_drain(c);
    }
}

static void tls_on_close(struct tls_conn *conn, int status)
{
    struct store_pconn *c = tls_conn_data(conn);
    pconn_deliver_close(c, status);
    tls_conn_free(conn);
    pconn_free(c);
}

static const struct tls_conn_callbacks pconn_tls_cbs = {
    .on_established = tls_on_established,
    .on_read = tls_on_read,
    .on_drain = tls_on_drain,
    .on_close = tls_on_close,
};

static struct store_pconn *pconn_new(const struct store_pconn_callbacks *cbs, void *data)
{
    struct store_pconn *c = calloc(1, sizeof *c);
    if (c) {
        c->cbs = *cbs;
        c->data = data;
        buf_init(&c->in, STORE_PROTO_FRAME_MAX + 65536);
    }
    return c;
}

int store_pconn_from_tls(struct tls_conn *conn, const struct store_pconn_callbacks *cbs, void *data,
                         struct store_pconn **out)
{
    struct store_pconn *c = pconn_new(cbs, data);
    if (!c) {
        tls_conn_free(conn);
        return LIB_ENOMEM;
    }
    c->tls = conn;
    const char *id = tls_conn_peer_identity(conn);
    snprintf(c->identity, sizeof c->identity, "%s", id ? id : "-");
    tls_conn_set_callbacks(conn, &pconn_tls_cbs, c);
    *out = c;
    return 0;
}

/* ---- over a unix socket ---- */

static void pipe_closed_cb(uv_handle_t *h)
{
    struct store_pconn *c = h->data;
    free(h);
    pconn_free(c);
}

static void pipe_close(struct store_pconn *c, int status)
{
    if (c->pipe_closing) {
        return;
    }
    c->pipe_closing = true;
    pconn_deliver_close(c, status);
    uv_close((uv_handle_t *)c->pipe, pipe_closed_cb);
}

static void pipe_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    struct store_pconn *c = h->data;
    (void)suggested;
    if (buf_reserve(&c->in, 65536) != 0) {
        out->base = NULL;
        out->len = 0;
        return;
    }
    out->base = (char *)c->in.data + c->in.size;
    out->len = c->in.cap - c->in.size;
}

static void pipe_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *data)
{
    struct store_pconn *c = s->data;
    (void)data;
    if (nread < 0) {
        pipe_close(c, nread == UV_EOF ? 0 : (int)nread);
        return;
    }
    c->in.size += (size_t)nread;
    if (pconn_parse(c) != 0) {
        pipe_close(c, STORE_EFORMAT);
    }
}

static void pipe_write_cb(uv_write_t *req, int status)
{
    struct pipe_write *w = (struct pipe_write *)req;
    struct store_pconn *c = w->c;
    c->pipe_queued -= w->size;
    free(w);
    if (status != 0) {
        pipe_close(c, status);
        return;
    }
    if (c->pipe_full && c->pipe_queued <= PIPE_LOW && !c->closed) {
        c->pipe_full = false;
        if (c->cbs.on_drain) {
            c->cbs.on_drain(c);
        }
    }
}

int store_pconn_from_pipe(uv_pipe_t *pipe, const struct store_pconn_callbacks *cbs, void *data,
                          struct store_pconn **out)
{
    struct store_pconn *c = pconn_new(cbs, data);
    if (!c) {
        uv_close((uv_handle_t *)pipe, (uv_close_cb)free);
        return LIB_ENOMEM;
    }
    c->pipe = pipe;
    pipe->data = c;
    snprintf(c->identity, sizeof c->identity, "local");
    int rc = uv_read_start((uv_stream_t *)pipe, pipe_alloc_cb, pipe_read_cb);
    if (rc != 0) {
        c->closed = true;
        c->pipe_closing = true;
        uv_close((uv_handle_t *)pipe, pipe_closed_cb);
        return rc;
    }
    *out = c;
    return 0;
}

struct pipe_connect {
    uv_connect_t req;
    struct store_pconn *c;
};

static void pipe_connect_cb(uv_connect_t *req, int status)
{
    struct pipe_connect *pc = (struct pipe_connect *)req;
    struct store_pconn *c = pc->c;
    free(pc);
    if (status != 0) {
        pipe_close(c, status);
        return;
    }
    int rc = uv_read_start((uv_stream_t *)c->pipe, pipe_alloc_cb, pipe_read_cb);
    if (rc != 0) {
        pipe_close(c, rc);
        return;
    }
    if (c->cbs.on_ready) {
        c->cbs.on_ready(c);
    }
}

int store_pconn_connect(uv_loop_t *loop, struct tls_ctx *client_ctx, const char *target,
                        const struct store_pconn_callbacks *cbs, void *data,
                        struct store_pconn **out)
{
    struct store_pconn *c = pconn_new(cbs, data);
    if (!c) {
        return LIB_ENOMEM;
    }
    if (strncmp(target, "unix:", 5) == 0) {
        struct pipe_connect *pc = calloc(1, sizeof *pc);
        c->pipe = calloc(1, sizeof *c->pipe);
        if (!pc || !c->pipe) {
            free(pc);
            free(c->pipe);
            pconn_free(c);
            return LIB_ENOMEM;
        }
        uv_pipe_init(loop, c->pipe, 0);
        c->pipe->data = c;
        snprintf(c->identity, sizeof c->identity, "local");
        pc->c = c;
        uv_pipe_connect(&pc->req, c->pipe, target + 5, pipe_connect_cb);
        *out = c;
        return 0;
    }
    char name[STORE_ADDRESS_MAX], host[STORE_ADDRESS_MAX];
    uint16_t port;
    if (!client_ctx || store_address_parse(target, name, sizeof name, host, sizeof host, &port) != 0) {
        pconn_free(c);
        return LIB_EINVAL;
    }
    int rc = tls_conn_connect(client_ctx, loop, host, port, name, &pconn_tls_cbs, c, &c->tls);
    if (rc != 0) {
        pconn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void *store_pconn_data(const struct store_pconn *c)
{
    return c->data;
}

const char *store_pconn_identity(const struct store_pconn *c)
{
    return c->identity;
}

size_t store_pconn_queued(const struct store_pconn *c)
{
    return c->tls ? tls_conn_queued_size(c->tls) : c->pipe_queued;
}

int store_pconn_send(struct store_pconn *c, uint8_t type, uint8_t flags, uint64_t id,
                     int32_t status, const void *body, size_t size)
{
    if (c->closed) {
        return TLS_ECLOSED;
    }
    struct buf b;
    buf_init(&b, 0);
    int rc = store_frame_encode(&b, type, flags, id, status, body, size);
    if (rc != 0) {
        buf_destroy(&b);
        return rc;
    }
    if (c->tls) {
        rc = tls_conn_write(c->tls, b.data, b.size);
        buf_destroy(&b);
        return rc;
    }
    if (c->pipe_queued >= PIPE_HIGH) {
        c->pipe_full = true;
        buf_destroy(&b);
        return TLS_EAGAIN;
    }
    struct pipe_write *w = malloc(sizeof *w + b.size);
    if (!w) {
        buf_destroy(&b);
        return LIB_ENOMEM;
    }
    w->c = c;
    w->size = b.size;
    memcpy(w->data, b.data, b.size);
    buf_destroy(&b);
    uv_buf_t ub = uv_buf_init((char *)w->data, (unsigned)w->size);
    rc = uv_write(&w->req, (uv_stream_t *)c->pipe, &ub, 1, pipe_write_cb);
    if (rc != 0) {
        free(w);
        return rc;
    }
    c->pipe_queued += w->size;
    return 0;
}

static void pipe_shutdown_cb(uv_shutdown_t *req, int status)
{
    struct store_pconn *c = req->data;
    (void)status;
    free(req);
    pipe_close(c, 0);
}

void store_pconn_close(struct store_pconn *c)
{
    if (c->tls) {
        tls_conn_close(c->tls);
        return;
    }
    if (c->pipe_closing) {
        return;
    }
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req && uv_is_writable((uv_stream_t *)c->pipe)) {
        req->data = c;
        if (uv_shutdown(req, (uv_stream_t *)c->pipe, pipe_shutdown_cb) == 0) {
            uv_read_stop((uv_stream_t *)c->pipe);
            return;
        }
    }
    free(req);
    pipe_close(c, 0);
}

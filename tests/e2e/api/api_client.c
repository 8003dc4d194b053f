/* A blocking HTTPS/1.1 test client over lib/tls (see api_client.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "tests/e2e/api/api_client.h"

struct api_client {
    uv_loop_t loop;
    uv_timer_t timer;
    struct tls_ctx *tls;
    char ip[64], peer[64];
    uint16_t port;
    unsigned timeout_ms;
    struct tls_conn *conn;
    bool established, closed, timed_out, reused;
    int close_status;
    struct buf in;
};

void api_resp_clear(struct api_resp *r)
{
    free(r->body);
    json_decref(r->doc);
    memset(r, 0, sizeof *r);
}

static void on_established(struct tls_conn *conn)
{
    struct api_client *c = tls_conn_data(conn);
    c->established = true;
}

static void on_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct api_client *c = tls_conn_data(conn);
    if (buf_put(&c->in, data, size) != 0) {
        tls_conn_close(conn);
    }
}

static void on_close(struct tls_conn *conn, int status)
{
    struct api_client *c = tls_conn_data(conn);
    c->closed = true;
    c->close_status = status ? status : -1;
}

static const struct tls_conn_callbacks cbs = {
    .on_established = on_established,
    .on_read = on_read,
    .on_close = on_close,
};

static void on_timer(uv_timer_t *t)
{
    struct api_client *c = t->data;
    c->timed_out = true;
}

int api_client_create(struct tls_ctx *tls, const char *ip, uint16_t port, const char *peer,
                      unsigned timeout_ms, struct api_client **out)
{
    struct api_client *c = calloc(1, sizeof *c);
    if (!c || uv_loop_init(&c->loop) != 0) {
        free(c);
        return -1;
    }
    uv_timer_init(&c->loop, &c->timer);
    c->timer.data = c;
    c->tls = tls;
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->port = port;
    c->timeout_ms = timeout_ms;
    buf_init(&c->in, 0);
    *out = c;
    return 0;
}

static void drop(struct api_client *c)
{
    if (c->conn) {
        if (!c->closed) {
            tls_conn_close(c->conn);
            uv_update_time(&c->loop);
            uv_timer_start(&c->timer, on_timer, 2000, 0);
            c->timed_out = false;
            while (!c->closed && !c->timed_out) {
                uv_run(&c->loop, UV_RUN_ONCE);
            }
            uv_timer_stop(&c->timer);
        }
        tls_conn_free(c->conn);
        c->conn = NULL;
    }
    c->established = c->closed = c->reused = false;
    buf_reset(&c->in);
}

void api_client_free(struct api_client *c)
{
    if (!c) {
        return;
    }
    drop(c);
    uv_close((uv_handle_t *)&c->timer, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    buf_destroy(&c->in);
    free(c);
    /* the tests' client threads free their client last, then exit */
    tls_thread_done();
}

static int connect_now(struct api_client *c)
{
    int rc = tls_conn_connect(c->tls, &c->loop, c->ip, c->port, c->peer, &cbs, c, &c->conn);
    if (rc) {
        c->conn = NULL;
        return rc;
    }
    uv_update_time(&c->loop);
    uv_timer_start(&c->timer, on_timer, c->timeout_ms, 0);
    c->timed_out = false;
    while (!c->established && !c->closed && !c->timed_out) {
        uv_run(&c->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&c->timer);
    if (!c->established) {
        rc = c->closed ? c->close_status : -1;
        drop(c);
        return rc;
    }
    return 0;
}

static const char *header(const char *head, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    const char *p = strstr(head, "\r\n");
    while (p && p[2] != '\r' && p[2] != '\0') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') {
                v++;
            }
            size_t vl = strcspn(v, "\r");
            vl = vl < size ? vl : size - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/* 1 when a response was taken off 'in', 0 when incomplete, -1 malformed. */
static int take(struct api_client *c, struct api_resp *r, bool *close_after)
{
    const char *data = (const char *)c->in.data;
    size_t size = c->in.size, end = 0;
    for (size_t i = 0; i + 3 < size; i++) {
        if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
            end = i + 4;
            break;
        }
    }
    if (end == 0) {
        return size > 65536 ? -1 : 0;
    }
    char head[8192], v[64];
    if (end >= sizeof head || size < 12 || memcmp(data, "HTTP/1.1 ", 9) != 0) {
        return -1;
    }
    memcpy(head, data, end);
    head[end] = '\0';
    size_t body = header(head, "Content-Length", v, sizeof v) ? strtoul(v, NULL, 10) : 0;
    if (size - end < body) {
        return 0;
    }
    r->status = atoi(head + 9);
    if (header(head, "ETag", v, sizeof v)) {
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
            memmove(v, v + 1, n - 2);
            v[n - 2] = '\0';
        }
        snprintf(r->etag, sizeof r->etag, "%s", v);
    }
    header(head, "Location", r->location, sizeof r->location);
    *close_after = header(head, "Connection", v, sizeof v) && strcasecmp(v, "close") == 0;
    r->body = malloc(body + 1);
    if (!r->body) {
        return -1;
    }
    memcpy(r->body, data + end, body);
    r->body[body] = '\0';
    r->body_size = body;
    r->doc = json_loadb(r->body, body, 0, NULL);
    buf_consume(&c->in, end + body);
    return 1;
}

static int exchange(struct api_client *c, const void *bytes, size_t size, struct api_resp *r)
{
    api_resp_clear(r);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!c->conn) {
            int rc = connect_now(c);
            if (rc) {
                return rc;
            }
        }
        bool reused = c->reused;
        buf_reset(&c->in);
        int rc = tls_conn_write(c->conn, bytes, size);
        if (rc == TLS_EAGAIN) {
            rc = 0; /* queued past the watermark is refused: wait and retry below */
            uv_update_time(&c->loop);
            uv_timer_start(&c->timer, on_timer, c->timeout_ms, 0);
            c->timed_out = false;
            while ((rc = tls_conn_write(c->conn, bytes, size)) == TLS_EAGAIN && !c->closed &&
                   !c->timed_out) {
                uv_run(&c->loop, UV_RUN_ONCE);
            }
            uv_timer_stop(&c->timer);
        }
        if (rc) {
            drop(c);
            if (reused) {
                continue;
            }
            return rc;
        }
        uv_update_time(&c->loop);
        uv_timer_start(&c->timer, on_timer, c->timeout_ms, 0);
        c->timed_out = false;
        int got = 0;
        bool close_after = false;
        while ((got = take(c, r, &close_after)) == 0 && !c->closed && !c->timed_out) {
            uv_run(&c->loop, UV_RUN_ONCE);
        }
        uv_timer_stop(&c->timer);
        if (got == 1) {
            c->reused = true;
            if (close_after || c->closed) {
                drop(c);
            }
            return 0;
        }
        bool nothing = c->in.size == 0 && c->closed;
        int status = c->closed ? c->close_status : -1;
        drop(c);
        if (!(reused && nothing)) {
            return got < 0 ? -1 : status;
        }
        /* the server closed an idle kept-alive connection: once more */
    }
    return -1;
}

int api_client_request(struct api_client *c, const char *method, const char *path,
                       const char *token, const char *if_match, const void *body, size_t size,
                       struct api_resp *r)
{
    struct buf req;
    char line[1024];
    buf_init(&req, 0);
    int n = snprintf(line, sizeof line, "%s %s HTTP/1.1\r\nHost: %s:%u\r\n", method, path, c->peer,
                     c->port);
    int rc = buf_put(&req, line, (size_t)n);
    if (token) {
        n = snprintf(line, sizeof line, "Authorization: Bearer %s\r\n", token);
        rc = rc ? rc : buf_put(&req, line, (size_t)n);
    }
    if (if_match) {
        n = snprintf(line, sizeof line, "If-Match: \"%s\"\r\n", if_match);
        rc = rc ? rc : buf_put(&req, line, (size_t)n);
    }
    if (body) {
        n = snprintf(line, sizeof line, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                     size);
        rc = rc ? rc : buf_put(&req, line, (size_t)n);
    }
    rc = rc ? rc : buf_put(&req, "\r\n", 2);
    if (body && size) {
        rc = rc ? rc : buf_put(&req, body, size);
    }
    if (rc == 0) {
        rc = exchange(c, req.data, req.size, r);
    }
    buf_destroy(&req);
    return rc;
}

int api_client_raw(struct api_client *c, const void *bytes, size_t size, struct api_resp *r)
{
    return exchange(c, bytes, size, r);
}

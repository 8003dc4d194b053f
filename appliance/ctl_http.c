/* stratactl's blocking HTTPS client (ctl_http.h): lib/tls on a private
 * loop, http-parser for the response. */
#include "appliance/ctl_http.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>
#include <uv.h>

#include "lib/pki.h"
#include "lib/tls.h"

STRATA_ERR_DEFINE(ctl_http, CTL_HTTP_ERRORS)

struct endpoint {
    char url[256];
    char host[64];
    uint16_t port;
};

struct ctl_http {
    uv_loop_t loop;
    uv_timer_t timer;
    struct tls_ctx *ctx;
    struct endpoint urls[CTL_HTTP_URLS_MAX];
    size_t urls_len;
    size_t current;
    unsigned timeout_ms;
    struct tls_conn *conn;
    bool established;
    int closed; /* 0 while open; the on_close status (or TLS_ECLOSED) after */
    bool conn_closed;
    bool timed_out;
    /* the response in progress */
    http_parser parser;
    http_parser_settings settings;
    struct buf *resp;
    bool complete;
    bool keep_alive;
    size_t received;
    int error;
};

static void h_on_established(struct tls_conn *conn)
{
    struct ctl_http *h = tls_conn_data(conn);
    h->established = true;
}

static int p_on_body(http_parser *p, const char *at, size_t len)
{
    struct ctl_http *h = p->data;
    if (h->resp->size + len > CTL_HTTP_BODY_MAX) {
        h->error = CTL_HTTP_ETOOBIG;
        return 1;
    }
    if (buf_put(h->resp, at, len) != 0) {
        h->error = LIB_ENOMEM;
        return 1;
    }
    return 0;
}

static int p_on_complete(http_parser *p)
{
    struct ctl_http *h = p->data;
    h->complete = true;
    h->keep_alive = http_should_keep_alive(p) != 0;
    return 1; /* stop: nothing after one response is expected */
}

static void h_on_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct ctl_http *h = tls_conn_data(conn);
    if (h->complete || h->error || !h->resp) {
        return;
    }
    h->received += size;
    size_t n = http_parser_execute(&h->parser, &h->settings, (const char *)data, size);
    if (!h->complete && !h->error && (n != size || HTTP_PARSER_ERRNO(&h->parser) != HPE_OK)) {
        h->error = CTL_HTTP_EPROTO;
    }
}

static void h_on_close(struct tls_conn *conn, int status)
{
    struct ctl_http *h = tls_conn_data(conn);
    h->conn_closed = true;
    h->closed = status ? status : TLS_ECLOSED;
    if (h->resp && !h->complete && !h->error && h->received > 0) {
        /* A response delimited by the end of the connection. */
        http_parser_execute(&h->parser, &h->settings, NULL, 0);
    }
}

static const struct tls_conn_callbacks h_cbs = {
    .on_established = h_on_established,
    .on_read = h_on_read,
    .on_close = h_on_close,
};

static void h_timer(uv_timer_t *t)
{
    struct ctl_http *h = t->data;
    h->timed_out = true;
}

/* Runs the loop until 'done(h)' or the connection ends or the timeout. */
static void h_run(struct ctl_http *h, bool (*done)(const struct ctl_http *))
{
    h->timed_out = false;
    uv_update_time(&h->loop); /* the loop runs only inside calls: its time may be stale */
    uv_timer_start(&h->timer, h_timer, h->timeout_ms, 0);
    while (!done(h) && !h->conn_closed && !h->timed_out && !h->error) {
        uv_run(&h->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&h->timer);
}

static bool h_is_established(const struct ctl_http *h)
{
    return h->established;
}

static bool h_is_complete(const struct ctl_http *h)
{
    return h->complete;
}

static void h_drop(struct ctl_http *h)
{
    if (h->conn) {
        tls_conn_free(h->conn);
        h->conn = NULL;
        /* let libuv finish closing the handles */
        uv_run(&h->loop, UV_RUN_NOWAIT);
    }
    h->established = false;
    h->conn_closed = false;
    h->closed = 0;
}

static int parse_url(const char *url, struct endpoint *e)
{
    char host[64];
    unsigned port;
    size_t len = strlen(url);
    if (len >= sizeof e->url || strncmp(url, "https://", 8) != 0) {
        return CTL_HTTP_EURL;
    }
    snprintf(e->url, sizeof e->url, "%s", url);
    while (len > 8 && e->url[len - 1] == '/') {
        e->url[--len] = '\0';
    }
    const char *hp = e->url + 8;
    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');
        if (!end || (size_t)(end - hp - 1) >= sizeof host || end[1] != ':') {
            return CTL_HTTP_EURL;
        }
        memcpy(host, hp + 1, (size_t)(end - hp - 1));
        host[end - hp - 1] = '\0';
        hp = end + 1;
    } else {
        const char *colon = strrchr(hp, ':');
        if (!colon || (size_t)(colon - hp) >= sizeof host) {
            return CTL_HTTP_EURL;
        }
        memcpy(host, hp, (size_t)(colon - hp));
        host[colon - hp] = '\0';
        hp = colon;
    }
    char *end = NULL;
    port = (unsigned)strtoul(hp + 1, &end, 10);
    struct in6_addr a;
    if (*end || port == 0 || port > 65535 ||
        (inet_pton(AF_INET, host, &a) != 1 && inet_pton(AF_INET6, host, &a) != 1)) {
        return CTL_HTTP_EURL;
    }
    snprintf(e->host, sizeof e->host, "%s", host);
    e->port = (uint16_t)port;
    return 0;
}

int ctl_http_create(const char *urls, const char *ca_path, unsigned timeout_ms, struct ctl_http **out,
                    char *errmsg, size_t errmsg_size)
{
    struct ctl_http *h = calloc(1, sizeof *h);
    struct pki_cert *ca = NULL;
    char list[2048];
    int rc;
    if (!h) {
        return LIB_ENOMEM;
    }
    h->timeout_ms = timeout_ms ? timeout_ms : 30000;
    snprintf(list, sizeof list, "%s", urls);
    for (char *save = NULL, *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        if (h->urls_len >= CTL_HTTP_URLS_MAX || parse_url(u, &h->urls[h->urls_len]) != 0) {
            snprintf(errmsg, errmsg_size, "bad API URL '%s' (want https://IP:PORT)", u);
            free(h);
            return CTL_HTTP_EURL;
        }
        h->urls_len++;
    }
    if (h->urls_len == 0) {
        snprintf(errmsg, errmsg_size, "no API URL");
        free(h);
        return CTL_HTTP_EURL;
    }
    rc = pki_cert_load(ca_path, &ca);
    if (rc != 0) {
        snprintf(errmsg, errmsg_size, "cluster CA %s: %s", ca_path, strata_strerror(rc));
        free(h);
        return CTL_HTTP_ECA;
    }
    struct tls_config cfg = {
        .role = TLS_ROLE_CLIENT,
        .ca = ca,
        .alpn = "http/1.1",
        .write_high_watermark = 4u << 20,
        .read_chunk_size = 65536,
    };
    rc = tls_ctx_create(&cfg, &h->ctx, errmsg, errmsg_size);
    pki_cert_free(ca);
    if (rc != 0) {
        free(h);
        return rc;
    }
    uv_loop_init(&h->loop);
    uv_timer_init(&h->loop, &h->timer);
    h->timer.data = h;
    *out = h;
    return 0;
}

void ctl_http_free(struct ctl_http *h)
{
    if (!h) {
        return;
    }
    h_drop(h);
    uv_close((uv_handle_t *)&h->timer, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    uv_loop_close(&h->loop);
    tls_ctx_free(h->ctx);
    free(h);
}

const char *ctl_http_current_url(const struct ctl_http *h)
{
    return h->urls[h->current].url;
}

/* Connects to the current URL or, failing that, each next one in turn. */
static int h_connect(struct ctl_http *h)
{
    int rc = CTL_HTTP_ECONNECT;
    for (size_t tried = 0; tried < h->urls_len; tried++) {
        const struct endpoint *e = &h->urls[h->current];
        h_drop(h);
        rc = tls_conn_connect(h->ctx, &h->loop, e->host, e->port, e->host, &h_cbs, h, &h->conn);
        if (rc == 0) {
            h_run(h, h_is_established);
            if (h->established && !h->conn_closed) {
                return 0;
            }
            rc = h->timed_out ? CTL_HTTP_ETIMEOUT : h->closed ? h->closed : CTL_HTTP_ECONNECT;
        }
        h->current = (h->current + 1) % h->urls_len;
    }
    h_drop(h);
    return rc;
}

int ctl_http_request(struct ctl_http *h, const char *method, const char *path, const char *token,
                     const char *body, size_t body_size, int *status, struct buf *resp)
{
    struct buf req;
    int rc;
    buf_init(&req, 0);
    const struct endpoint *e;
    for (int attempt = 0;; attempt++) {
        bool reused = h->conn && h->established && !h->conn_closed;
        if (!reused && (rc = h_connect(h)) != 0) {
            break;
        }
        e = &h->urls[h->current];
        buf_reset(&req);
        char head[1024];
        int n = snprintf(head, sizeof head,
                         "%s %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: stratactl\r\nAccept: application/json\r\n",
                         method, path, e->host, e->port);
        rc = n > 0 && (size_t)n < sizeof head ? buf_put(&req, head, (size_t)n) : LIB_ETOOBIG;
        if (rc == 0 && token && token[0]) {
            if (strpbrk(token, "\r\n")) {
                rc = LIB_EINVAL;
            } else {
                rc = buf_put(&req, "Authorization: Bearer ", 22);
                if (rc == 0) rc = buf_put(&req, token, strlen(token));
                if (rc == 0) rc = buf_put(&req, "\r\n", 2);
            }
        }
        if (rc == 0 && body) {
            n = snprintf(head, sizeof head, "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_size);
            rc = buf_put(&req, head, (size_t)n);
        } else if (rc == 0 && strcmp(method, "POST") == 0) {
            rc = buf_put(&req, "Content-Length: 0\r\n", 19);
        }
        if (rc == 0) rc = buf_put(&req, "\r\n", 2);
        if (rc == 0 && body) rc = buf_put(&req, body, body_size);
        if (rc != 0) {
            break;
        }
        buf_reset(resp);
        http_parser_init(&h->parser, HTTP_RESPONSE);
        http_parser_settings_init(&h->settings);
        h->settings.on_body = p_on_body;
        h->settings.on_message_complete = p_on_complete;
        h->parser.data = h;
        h->resp = resp;
        h->complete = false;
        h->error = 0;
        h->received = 0;
        rc = tls_conn_write(h->conn, req.data, req.size);
        if (rc == 0) {
            h_run(h, h_is_complete);
            rc = h->complete ? 0 : h->error ? h->error : h->timed_out ? CTL_HTTP_ETIMEOUT : CTL_HTTP_ECLOSED;
        }
        h->resp = NULL;
        if (rc == 0) {
            *status = (int)h->parser.status_code;
            if (!h->keep_alive) {
                h_drop(h);
            }
            break;
        }
        bool idle_close = reused && h->received == 0 && h->conn_closed && attempt == 0;
        h_drop(h);
        if (!idle_close) {
            break;
        }
        /* The server closed the kept-alive connection before reading the
         * request: send it once more on a new connection. */
    }
    buf_destroy(&req);
    return rc;
}

/* libFuzzer target for appliance/http: the input is a client's byte stream,
 * fed in pieces to an http_session over an in-memory transport. The first
 * byte picks the piece size and whether the transport pushes back
 * (HTTP_EAGAIN on some writes); an async route is answered between pieces,
 * and the session's timer is fired at the end. Checks: nothing is written
 * after close, the session releases its transport exactly once, and the
 * sanitizers see no memory error or leak. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fio {
    struct http_session *s;
    struct http_request *pending; /* held by the async handler */
    size_t writes;
    size_t bytes;
    bool pushback;
    bool blocked;
    bool closed;
    int released;
    int timer_armed;
};

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static int fio_write(void *io, const void *data, size_t size)
{
    struct fio *f = io;
    check(!f->closed && f->released == 0 && size > 0);
    f->writes++;
    if (f->pushback && f->writes % 3 == 0) {
        f->blocked = true;
        return HTTP_EAGAIN;
    }
    f->bytes += size;
    return 0;
}

static void fio_pause(void *io, int paused)
{
    (void)io;
    (void)paused;
}

static void fio_timer(void *io, uint64_t ms)
{
    struct fio *f = io;
    f->timer_armed = ms != 0;
}

static void fio_close(void *io)
{
    struct fio *f = io;
    check(!f->closed);
    f->closed = true;
}

static void fio_release(void *io)
{
    struct fio *f = io;
    f->released++;
}

static const struct http_session_io fio_ops = {
    .write = fio_write,
    .pause_reads = fio_pause,
    .timer = fio_timer,
    .close = fio_close,
    .release = fio_release,
};

static void h_echo(struct http_request *req, void *data)
{
    (void)data;
    const char *id = http_request_param(req, "id");
    const char *q = http_request_query(req, "q");
    (void)http_request_bearer(req);
    /* Decoded parameters may hold CR/LF: the header is then refused. */
    int rv = http_response_header(req, "ETag", id ? id : "none");
    check(rv == 0 || rv == HTTP_EHEADER);
    rv = http_response_header(req, "X-Q", q ? q : "");
    check(rv == 0 || rv == HTTP_EHEADER || rv == HTTP_ETOOMANY);
    http_respond(req, 200, "application/json", req->body, req->body_size);
}

static void h_big(struct http_request *req, void *data)
{
    (void)data;
    size_t n = 200000;
    char *body = malloc(n);
    if (!body) {
        http_respond_error(req, 503, "no memory", NULL);
        return;
    }
    memset(body, 'x', n);
    http_respond_owned(req, 200, "text/plain", body, n);
}

static void h_async(struct http_request *req, void *data)
{
    struct fio *f = data;
    check(f->pending == NULL);
    f->pending = req;
}

static void answer_pending(struct fio *f)
{
    if (f->pending) {
        struct http_request *req = f->pending;
        f->pending = NULL;
        http_respond_error(req, 409, "conflict", http_request_param(req, "x"));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct http_router *router;
    static struct fio *route_fio; /* the async route's data, set per input */
    static struct fio *slot;
    if (!router) {
        slot = calloc(1, sizeof *slot);
        check(slot && http_router_create(&router) == 0);
        route_fio = slot;
        check(http_router_add(router, HTTP_METHOD_GET, "/", h_echo, NULL) == 0);
        check(http_router_add(router, HTTP_METHOD_GET, "/obj/{id}", h_echo, NULL) == 0);
        check(http_router_add(router, HTTP_METHOD_PUT, "/obj/{id}", h_echo, NULL) == 0);
        check(http_router_add(router, HTTP_METHOD_POST, "/objs", h_echo, NULL) == 0);
        check(http_router_add(router, HTTP_METHOD_GET, "/big", h_big, NULL) == 0);
        check(http_router_add(router, HTTP_METHOD_GET, "/async/{x}", h_async, route_fio) == 0);
        check(http_router_add(router, HTTP_METHOD_DELETE, "/a/{b}/c/{d}", h_echo, NULL) == 0);
    }
    if (size < 1) {
        return 0;
    }
    struct fio *f = slot;
    memset(f, 0, sizeof *f);
    f->pushback = data[0] & 1;
    size_t piece = (size_t)(data[0] >> 1) + 1;
    data++;
    size--;

    struct http_limits limits = {
        .max_header_size = 2048,
        .max_body_size = 4096,
        .max_requests = 8,
    };
    check(http_session_create(router, &limits, &fio_ops, f, &f->s) == 0);
    while (size > 0 && !f->closed) {
        size_t n = size < piece ? size : piece;
        http_session_feed(f->s, data, n);
        data += n;
        size -= n;
        answer_pending(f);
        while (f->blocked && !f->closed) {
            f->blocked = false;
            http_session_drained(f->s);
            answer_pending(f);
        }
    }
    if (f->timer_armed && !f->closed) {
        http_session_timeout(f->s);
        while (f->blocked && !f->closed) {
            f->blocked = false;
            http_session_drained(f->s);
        }
    }
    /* The transport goes away, possibly while the async handler holds a
     * request: answering it then frees the session. */
    http_session_closed(f->s);
    answer_pending(f);
    check(f->released == 1);
    return 0;
}

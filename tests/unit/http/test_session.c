/* Unit tests for the socketless http_session: requests are fed as bytes, the
 * transport is memory (it can push back with HTTP_EAGAIN), the timer fires
 * when a test says so. Covers routing, parameters, pipelining, limits,
 * timeouts, backpressure and handler/connection lifetimes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "appliance/http.h"
#include "lib/buf.h"
#include "tests/unit/http/http_test.h"

/* The memory transport. */
struct mio {
    struct http_session *s;
    struct buf out;
    int paused;
    uint64_t timer_ms; /* 0: disarmed */
    int closed;
    int released;
    long writes_left; /* < 0: unlimited; else writes before HTTP_EAGAIN */
    int blocked;
    struct http_request *pending[4];
    size_t pending_len;
    char seen[1024]; /* what the echo handler saw */
};

static int mio_write(void *io, const void *data, size_t size)
{
    struct mio *m = io;
    assert_false(m->closed);
    assert_int_equal(m->released, 0);
    if (m->writes_left == 0) {
        m->blocked = 1;
        return HTTP_EAGAIN;
    }
    if (m->writes_left > 0) {
        m->writes_left--;
    }
    assert_int_equal(buf_put(&m->out, data, size), 0);
    return 0;
}

static void mio_pause(void *io, int paused)
{
    struct mio *m = io;
    m->paused = paused;
}

static void mio_timer(void *io, uint64_t ms)
{
    struct mio *m = io;
    m->timer_ms = ms;
}

static void mio_close(void *io)
{
    struct mio *m = io;
    assert_int_equal(m->closed, 0);
    m->closed = 1;
}

static void mio_release(void *io)
{
    struct mio *m = io;
    m->released++;
}

static const struct http_session_io mio_ops = {
    .write = mio_write,
    .pause_reads = mio_pause,
    .timer = mio_timer,
    .close = mio_close,
    .release = mio_release,
};

/* ---- handlers ---- */

static void h_echo(struct http_request *req, void *data)
{
    struct mio *m = data;
    char body[2048];
    const char *id = http_request_param(req, "id");
    const char *sub = http_request_param(req, "sub");
    snprintf(m->seen, sizeof m->seen, "id=%s sub=%s q=%zu", id ? id : "-", sub ? sub : "-",
             req->query_len);
    for (size_t i = 0; i < req->query_len; i++) {
        size_t l = strlen(m->seen);
        snprintf(m->seen + l, sizeof m->seen - l, " [%s]=[%s]", req->query[i].name,
                 req->query[i].value);
    }
    int n = snprintf(body, sizeof body, "{\"path\":\"%s\",\"seq\":%llu,\"body\":%zu}", req->path,
                     (unsigned long long)req->seq, req->body_size);
    assert_int_equal(http_response_header(req, "ETag", "\"7\""), 0);
    http_respond(req, 200, "application/json", body, (size_t)n);
}

static void h_body(struct http_request *req, void *data)
{
    struct mio *m = data;
    const char *empty = http_request_header(req, "X-Empty");
    const char *tok = http_request_bearer(req);
    snprintf(m->seen, sizeof m->seen, "empty=[%s] tok=[%s] host=[%s] nul=%d",
             empty ? empty : "(none)", tok ? tok : "(none)",
             http_request_header(req, "host") ? http_request_header(req, "host") : "(none)",
             req->body[req->body_size] == '\0');
    http_respond(req, 201, "application/json", req->body, req->body_size);
}

static void h_async(struct http_request *req, void *data)
{
    struct mio *m = data;
    assert_true(m->pending_len < 4);
    m->pending[m->pending_len++] = req;
}

static void h_big(struct http_request *req, void *data)
{
    size_t n = 300000;
    char *body = malloc(n);
    assert_non_null(body);
    for (size_t i = 0; i < n; i++) {
        body[i] = (char)('a' + i % 26);
    }
    http_respond_owned(req, 200, "text/plain", body, n);
}

struct fixture {
    struct http_router *router;
    struct http_limits limits;
    struct mio m;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(http_router_create(&f->router), 0);
    struct mio *m = &f->m;
    assert_int_equal(http_router_add(f->router, HTTP_METHOD_GET, "/echo/{id}", h_echo, m), 0);
    assert_int_equal(http_router_add(f->router, HTTP_METHOD_GET, "/vn/{id}/ports/{sub}", h_echo, m), 0);
    assert_int_equal(http_router_add(f->router, HTTP_METHOD_PUT, "/echo/{id}", h_echo, m), 0);
    assert_int_equal(http_router_add(f->router, HTTP_METHOD_POST, "/body", h_body, m), 0);
    assert_int_equal(http_router_add(f->router, HTTP_METHOD_GET, "/async/{id}", h_async, m), 0);
    assert_int_equal(http_router_add(f->router, HTTP_METHOD_GET, "/big", h_big, m), 0);
    assert_int_equal(http_router_add(f->router, HTTP_METHOD_GET, "/", h_echo, m), 0);
    f->limits.max_header_size = 1024;
    f->limits.max_body_size = 4096;
    f->limits.request_timeout_ms = 300;
    f->limits.idle_timeout_ms = 5000;
    buf_init(&m->out, 0);
    m->writes_left = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (!f->m.released) {
        http_session_closed(f->m.s);
    }
    assert_int_equal(f->m.released, 1);
    buf_destroy(&f->m.out);
    http_router_free(f->router);
    free(f);
    return 0;
}

static void start(struct fixture *f)
{
    assert_int_equal(http_session_create(f->router, &f->limits, &mio_ops, &f->m, &f->m.s), 0);
    assert_int_equal(f->m.timer_ms, 5000); /* idle timer armed */
}

static void feed(struct fixture *f, const char *s)
{
    http_session_feed(f->m.s, (const uint8_t *)s, strlen(s));
}

/* Takes the next response; fails unless one is complete. */
static void take(struct fixture *f, struct test_resp *r, bool head)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(test_resp_take(&f->m.out, r, head), 1);
}

static void test_route_params_query(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    char v[128];
    start(f);
    feed(f, "GET /vn/abc%20d/ports/p%2F1?x=1&y=a%2Bb&x=2&flag&p=a+b HTTP/1.1\r\nHost: h\r\n\r\n");
    take(f, &r, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(test_resp_header(&r, "ETag", v, sizeof v), "\"7\"");
    assert_string_equal(test_resp_header(&r, "Content-Type", v, sizeof v), "application/json");
    assert_null(test_resp_header(&r, "Connection", v, sizeof v));
    assert_non_null(test_resp_header(&r, "Date", v, sizeof v));
    assert_string_equal(r.body, "{\"path\":\"/vn/abc%20d/ports/p%2F1\",\"seq\":1,\"body\":0}");
    assert_string_equal(f->m.seen,
                        "id=abc d sub=p/1 q=5 [x]=[1] [y]=[a+b] [x]=[2] [flag]=[] [p]=[a b]");
    test_resp_free(&r);
    /* The root route and an absolute-form target. */
    feed(f, "GET http://h/echo/8?z=%41 HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    take(f, &r, false);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"path\":\"/echo/8\""));
    test_resp_free(&r);
    take(f, &r, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(f->m.seen, "id=- sub=- q=0");
    test_resp_free(&r);
    assert_int_equal(f->m.out.size, 0);
    feed(f, "GET /echo/9?z=%41 HTTP/1.1\r\n\r\n");
    take(f, &r, false);
    assert_string_equal(f->m.seen, "id=9 sub=- q=1 [z]=[A]");
    test_resp_free(&r);
    /* Bad escapes: 400, and the connection stays usable. */
    feed(f, "GET /echo/%zz HTTP/1.1\r\n\r\nGET /echo/1?a=%0 HTTP/1.1\r\n\r\n");
    take(f, &r, false);
    assert_int_equal(r.status, 400);
    test_resp_free(&r);
    take(f, &r, false);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"code\":400"));
    test_resp_free(&r);
    assert_false(f->m.closed);
}

static void test_pipelined_in_order(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    feed(f, "GET /echo/1 HTTP/1.1\r\n\r\nPUT /echo/2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
            "GET /echo/3 HTTP/1.1\r\n\r\nGET /echo/4 HTTP/1.1\r\n");
    for (int i = 1; i <= 3; i++) {
        char want[64];
        take(f, &r, false);
        snprintf(want, sizeof want, "{\"path\":\"/echo/%d\",\"seq\":%d,\"body\":%d}", i, i,
                 i == 2 ? 3 : 0);
        assert_string_equal(r.body, want);
        test_resp_free(&r);
    }
    assert_int_equal(f->m.out.size, 0);
    assert_int_equal(f->m.timer_ms, 300); /* the 4th request has begun */
    feed(f, "\r\n");
    take(f, &r, false);
    assert_non_null(strstr(r.body, "/echo/4"));
    test_resp_free(&r);
    assert_int_equal(f->m.timer_ms, 5000);
}

static void test_pipelined_async(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    feed(f, "GET /async/1 HTTP/1.1\r\n\r\nGET /echo/2 HTTP/1.1\r\n\r\n");
    assert_int_equal(f->m.pending_len, 1);
    assert_int_equal(f->m.out.size, 0);
    assert_int_equal(f->m.paused, 1); /* the second request waits */
    assert_int_equal(f->m.timer_ms, 0);
    feed(f, "GET /echo/3 HTTP/1.1\r\n\r\n"); /* arrives anyway: kept */
    assert_string_equal(f->m.pending[0]->path, "/async/1");
    assert_true(http_request_connected(f->m.pending[0]));
    http_respond_error(f->m.pending[0], 409, "taken", "fq_name");
    take(f, &r, false);
    assert_int_equal(r.status, 409);
    assert_string_equal(r.body,
                        "{\"error\":{\"code\":409,\"message\":\"taken\",\"field\":\"fq_name\"}}");
    test_resp_free(&r);
    take(f, &r, false);
    assert_non_null(strstr(r.body, "/echo/2"));
    test_resp_free(&r);
    take(f, &r, false);
    assert_non_null(strstr(r.body, "/echo/3"));
    test_resp_free(&r);
    assert_int_equal(f->m.paused, 0);
}

static void test_byte_at_a_time(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    const char *req = "POST /body HTTP/1.1\r\nHost: example\r\nX-Empty:\r\n"
                      "Authorization: Bearer tok123\r\nContent-Length: 11\r\n\r\n{\"a\":\"b c\"}";
    start(f);
    for (size_t i = 0; req[i]; i++) {
        http_session_feed(f->m.s, (const uint8_t *)req + i, 1);
    }
    take(f, &r, false);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "{\"a\":\"b c\"}");
    assert_string_equal(f->m.seen, "empty=[] tok=[tok123] host=[example] nul=1");
    test_resp_free(&r);
}

static void test_chunked_body(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    feed(f, "POST /body HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n");
    take(f, &r, false);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "abcdefg");
    test_resp_free(&r);
    assert_false(f->m.closed);
}

static void test_header_too_large(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    char big[1200];
    start(f);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    feed(f, "GET /echo/1 HTTP/1.1\r\nX-Big: ");
    feed(f, big);
    take(f, &r, false);
    assert_int_equal(r.status, 431);
    assert_non_null(strstr(r.head, "Connection: close"));
    assert_non_null(strstr(r.body, "\"code\":431"));
    test_resp_free(&r);
    assert_true(f->m.closed);
    feed(f, "\r\n\r\n"); /* ignored after close */
    assert_int_equal(f->m.out.size, 0);
}

static void test_too_many_headers(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    f->limits.max_header_size = 16384;
    start(f);
    feed(f, "GET /echo/1 HTTP/1.1\r\n");
    for (int i = 0; i <= HTTP_HEADERS_MAX; i++) {
        feed(f, "A: b\r\n");
    }
    take(f, &r, false);
    assert_int_equal(r.status, 431);
    test_resp_free(&r);
    assert_true(f->m.closed);
}

static void test_body_too_large(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    feed(f, "POST /body HTTP/1.1\r\nContent-Length: 4097\r\n\r\n");
    take(f, &r, false);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.body, "{\"error\":{\"code\":413,\"message\":\"request body too large\","
                                "\"field\":null}}");
    test_resp_free(&r);
    assert_true(f->m.closed);
}

static void test_chunked_too_large(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    char chunk[1100];
    start(f);
    feed(f, "POST /body HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    memset(chunk, 'z', 1024);
    chunk[1024] = '\0';
    for (int i = 0; i < 5 && !f->m.closed; i++) {
        feed(f, "400\r\n");
        feed(f, chunk);
        feed(f, "\r\n");
    }
    take(f, &r, false);
    assert_int_equal(r.status, 413);
    test_resp_free(&r);
    assert_true(f->m.closed);
}

static void test_malformed(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    feed(f, "GET /echo/1 HTTP/1.1\r\n\r\nGARBAGE LINE\r\n\r\n");
    take(f, &r, false);
    assert_int_equal(r.status, 200);
    test_resp_free(&r);
    take(f, &r, false);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.head, "Connection: close"));
    test_resp_free(&r);
    assert_true(f->m.closed);
}

static void test_malformed_header(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    feed(f, "GET /echo/1 HTTP/1.1\r\nBad Header\r\n\r\n");
    take(f, &r, false);
    assert_int_equal(r.status, 400);
    test_resp_free(&r);
    assert_true(f->m.closed);
}

static void test_404_405_options_head(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    char v[128];
    start(f);
    feed(f, "GET /nope HTTP/1.1\r\n\r\n"
            "DELETE /echo/1 HTTP/1.1\r\n\r\n"
            "OPTIONS /echo/1 HTTP/1.1\r\n\r\n"
            "HEAD /echo/1 HTTP/1.1\r\n\r\n"
            "GET /echo/1/ HTTP/1.1\r\n\r\n"
            "OPTIONS * HTTP/1.1\r\n\r\n"
            "TRACE /echo/1 HTTP/1.1\r\n\r\n");
    take(f, &r, false);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"error\":{\"code\":404,\"message\":\"no such resource\","
                                "\"field\":null}}");
    test_resp_free(&r);
    take(f, &r, false);
    assert_int_equal(r.status, 405);
    assert_string_equal(test_resp_header(&r, "Allow", v, sizeof v), "GET, HEAD, PUT, OPTIONS");
    test_resp_free(&r);
    take(f, &r, false);
    assert_int_equal(r.status, 204);
    assert_string_equal(test_resp_header(&r, "Allow", v, sizeof v), "GET, HEAD, PUT, OPTIONS");
    assert_null(test_resp_header(&r, "Content-Length", v, sizeof v));
    test_resp_free(&r);
    take(f, &r, true);
    assert_int_equal(r.status, 200);
    assert_string_equal(test_resp_header(&r, "Content-Length", v, sizeof v), "35");
    test_resp_free(&r);
    take(f, &r, false);
    assert_int_equal(r.status, 404); /* trailing slash: an empty segment */
    test_resp_free(&r);
    take(f, &r, false);
    assert_int_equal(r.status, 204);
    test_resp_free(&r);
    take(f, &r, false);
    assert_int_equal(r.status, 501);
    test_resp_free(&r);
    assert_int_equal(f->m.out.size, 0);
}

static void test_expect(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    feed(f, "POST /body HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    assert_int_equal(f->m.out.size, 25);
    assert_memory_equal(f->m.out.data, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    buf_reset(&f->m.out);
    feed(f, "ok");
    take(f, &r, false);
    assert_int_equal(r.status, 201);
    test_resp_free(&r);
    feed(f, "POST /body HTTP/1.1\r\nContent-Length: 9999\r\nExpect: 100-continue\r\n\r\n");
    take(f, &r, false);
    assert_int_equal(r.status, 413); /* refused before the body is sent */
    test_resp_free(&r);
    assert_true(f->m.closed);
}

static void test_expect_unknown(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    feed(f, "POST /body HTTP/1.1\r\nContent-Length: 2\r\nExpect: magic\r\n\r\nok");
    take(f, &r, false);
    assert_int_equal(r.status, 417);
    test_resp_free(&r);
    assert_true(f->m.closed);
}

static void test_backpressure(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    f->m.writes_left = 1;
    feed(f, "GET /big HTTP/1.1\r\n\r\nGET /echo/2 HTTP/1.1\r\n\r\n");
    assert_true(f->m.blocked);
    assert_int_equal(f->m.timer_ms, HTTP_DEFAULT_WRITE_TIMEOUT_MS);
    assert_int_equal(f->m.paused, 1);
    int rounds = 0;
    while (f->m.blocked) {
        f->m.blocked = 0;
        f->m.writes_left = 1;
        http_session_drained(f->m.s);
        rounds++;
        assert_true(rounds < 100);
    }
    assert_true(rounds >= 4); /* 300 kB in 64 kB writes */
    take(f, &r, false);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_size, 300000);
    for (size_t i = 0; i < r.body_size; i++) {
        if (r.body[i] != (char)('a' + i % 26)) {
            fail_msg("body byte %zu wrong", i);
        }
    }
    test_resp_free(&r);
    take(f, &r, false);
    assert_non_null(strstr(r.body, "/echo/2"));
    test_resp_free(&r);
    assert_int_equal(f->m.paused, 0);
}

static void test_write_stall_closes(void **state)
{
    struct fixture *f = *state;
    start(f);
    f->m.writes_left = 1;
    feed(f, "GET /big HTTP/1.1\r\n\r\n");
    assert_true(f->m.blocked);
    http_session_timeout(f->m.s);
    assert_true(f->m.closed);
}

static void test_request_timeout(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    feed(f, "GET /echo/1 HTTP/1.1\r\nHo");
    assert_int_equal(f->m.timer_ms, 300);
    feed(f, "st: x\r\n"); /* more bytes do not extend the deadline */
    assert_int_equal(f->m.timer_ms, 300);
    http_session_timeout(f->m.s);
    take(f, &r, false);
    assert_int_equal(r.status, 408);
    assert_non_null(strstr(r.head, "Connection: close"));
    test_resp_free(&r);
    assert_true(f->m.closed);
}

static void test_idle_timeout(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    feed(f, "GET /echo/1 HTTP/1.1\r\n\r\n");
    take(f, &r, false);
    test_resp_free(&r);
    assert_int_equal(f->m.timer_ms, 5000);
    http_session_timeout(f->m.s);
    assert_true(f->m.closed);
    assert_int_equal(f->m.out.size, 0); /* no answer to a request never sent */
}

static void test_max_requests(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    f->limits.max_requests = 2;
    start(f);
    feed(f, "GET /echo/1 HTTP/1.1\r\n\r\nGET /echo/2 HTTP/1.1\r\n\r\nGET /echo/3 HTTP/1.1\r\n\r\n");
    take(f, &r, false);
    assert_null(strstr(r.head, "Connection:"));
    test_resp_free(&r);
    take(f, &r, false);
    assert_non_null(strstr(r.head, "Connection: close"));
    test_resp_free(&r);
    assert_true(f->m.closed);
    assert_int_equal(f->m.out.size, 0);
}

static void test_http10(void **state)
{
    struct fixture *f = *state;
    struct test_resp r;
    start(f);
    feed(f, "GET /echo/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    take(f, &r, false);
    assert_non_null(strstr(r.head, "Connection: keep-alive"));
    test_resp_free(&r);
    assert_false(f->m.closed);
    feed(f, "GET /echo/1 HTTP/1.0\r\n\r\n");
    take(f, &r, false);
    assert_non_null(strstr(r.head, "Connection: close"));
    test_resp_free(&r);
    assert_true(f->m.closed);
}

static void test_client_gone_while_handling(void **state)
{
    struct fixture *f = *state;
    start(f);
    feed(f, "GET /async/1 HTTP/1.1\r\n\r\n");
    assert_int_equal(f->m.pending_len, 1);
    http_session_closed(f->m.s);
    assert_int_equal(f->m.released, 0); /* the handler still holds the request */
    assert_false(http_request_connected(f->m.pending[0]));
    http_respond(f->m.pending[0], 200, "text/plain", "late", 4);
    assert_int_equal(f->m.released, 1);
    assert_int_equal(f->m.out.size, 0);
}

static void test_response_header_checks(void **state)
{
    struct fixture *f = *state;
    start(f);
    feed(f, "GET /async/1 HTTP/1.1\r\n\r\n");
    struct http_request *req = f->m.pending[0];
    assert_int_equal(http_response_header(req, "X-Ok", "a b"), 0);
    assert_int_equal(http_response_header(req, "Bad Name", "x"), HTTP_EHEADER);
    assert_int_equal(http_response_header(req, "X-Inject", "a\r\nSet-Cookie: x"), HTTP_EHEADER);
    assert_int_equal(http_response_header(req, "content-length", "5"), HTTP_EHEADER);
    char big[HTTP_RESP_HEADERS_MAX];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(http_response_header(req, "X-Big", big), HTTP_ETOOMANY);
    http_respond(req, 200, NULL, NULL, 0);
    struct test_resp r;
    char v[64];
    take(f, &r, false);
    assert_string_equal(test_resp_header(&r, "X-Ok", v, sizeof v), "a b");
    assert_null(test_resp_header(&r, "X-Inject", v, sizeof v));
    assert_string_equal(test_resp_header(&r, "Content-Length", v, sizeof v), "0");
    test_resp_free(&r);
}

static void test_error_json(void **state)
{
    (void)state;
    char out[256];
    size_t n = http_error_json(out, sizeof out, 422, "bad \"x\"\n\\", "a.b[0]");
    assert_string_equal(out, "{\"error\":{\"code\":422,\"message\":\"bad \\\"x\\\"\\u000a\\\\\","
                             "\"field\":\"a.b[0]\"}}");
    assert_int_equal(n, strlen(out));
    http_error_json(out, sizeof out, 400, "caf\xc3\xa9 \xff\xc0\xaf", NULL);
    assert_string_equal(out, "{\"error\":{\"code\":400,\"message\":\"caf\xc3\xa9 "
                             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\",\"field\":null}}");
    char tiny[50];
    http_error_json(tiny, sizeof tiny, 400, "a very long message that does not fit", NULL);
    assert_string_equal(tiny, "{\"error\":{\"code\":400,\"message\":\"\",\"field\":null}}");
}

static void test_router_patterns(void **state)
{
    struct fixture *f = *state;
    struct http_router *r = f->router;
    struct mio *m = &f->m;
    assert_int_equal(http_router_add(r, HTTP_METHOD_GET, "/echo/{id}", h_echo, m), HTTP_EEXIST);
    assert_int_equal(http_router_add(r, HTTP_METHOD_GET, "echo", h_echo, m), HTTP_EPATTERN);
    assert_int_equal(http_router_add(r, HTTP_METHOD_GET, "/a//b", h_echo, m), HTTP_EPATTERN);
    assert_int_equal(http_router_add(r, HTTP_METHOD_GET, "/a/{}", h_echo, m), HTTP_EPATTERN);
    assert_int_equal(http_router_add(r, HTTP_METHOD_GET, "/a/{x", h_echo, m), HTTP_EPATTERN);
    assert_int_equal(http_router_add(r, HTTP_METHOD_GET, "/a/{x y}", h_echo, m), HTTP_EPATTERN);
    assert_int_equal(http_router_add(r, HTTP_METHOD_GET, "/a/b{x}", h_echo, m), HTTP_EPATTERN);
    assert_int_equal(http_router_add(r, HTTP_METHOD_GET, "/a/b/", h_echo, m), HTTP_EPATTERN);
    assert_int_equal(http_router_add(r, HTTP_METHOD_COUNT_, "/a", h_echo, m), HTTP_EINVAL);
    assert_int_equal(http_router_add(r, HTTP_METHOD_GET, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}",
                                     h_echo, m),
                     HTTP_ETOOMANY);
    start(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_route_params_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_byte_at_a_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_404_405_options_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_stall_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http10, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_while_handling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_header_checks, setup, teardown),
        cmocka_unit_test(test_error_json),
        cmocka_unit_test_setup_teardown(test_router_patterns, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

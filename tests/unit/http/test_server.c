/* Unit tests for the HTTPS server of appliance/http: a real server on
 * loopback, clients over lib/tls (no client certificate: the server asks
 * for none), everything on one uv loop driven until the awaited event. A
 * guard timer fails a test that hangs. Covers routing over TLS, keep-alive,
 * pipelining, limits (431, 413, 408 for a slowloris, 503 past the
 * connection limit), 400/404/405, asynchronous handlers and a client that
 * stops reading large responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "appliance/http.h"
#include "lib/buf.h"
#include "lib/pki.h"
#include "lib/tls.h"
#include "tests/unit/http/http_test.h"

#define SERVER_NAME "api.strata"
#define BIG_SIZE (1024 * 1024)
#define CLIENTS_MAX 4
#define RESPS_MAX 64

static struct pki_cert *ca, *server_cert;
static struct pki_key *ca_key, *server_key;

static int under_valgrind(void)
{
    return getenv("STRATA_UNDER_VALGRIND") != NULL;
}

struct harness;

struct client {
    struct harness *h;
    struct tls_conn *conn;
    struct buf rx;
    int established;
    int closed;
    int close_status;
    int malformed;
    struct test_resp resps[RESPS_MAX];
    size_t resps_len;
    /* slowloris: one byte of 'drip' per tick */
    uv_timer_t drip_timer;
    const char *drip;
    size_t drip_pos;
    size_t drip_len;
};

struct harness {
    uv_loop_t loop;
    uv_timer_t guard;
    int guard_fired;
    struct http_router *router;
    struct http_server *server;
    struct tls_ctx *cctx;
    struct client clients[CLIENTS_MAX];
    int server_closed;
    /* the async route: requests held, answered from a timer */
    struct http_request *held[RESPS_MAX];
    size_t held_len;
    int hold; /* keep async requests until the test answers them */
    uv_timer_t async_timer;
    int observe_done;
    uv_timer_t observe_timer;
};

/* ---- handlers ---- */

static void h_vn(struct http_request *req, void *data)
{
    char body[512];
    const char *detail = http_request_query(req, "detail");
    const char *tok = http_request_bearer(req);
    int n = snprintf(body, sizeof body, "{\"uuid\":\"%s\",\"detail\":\"%s\",\"token\":\"%s\",\"seq\":%llu}",
                     http_request_param(req, "uuid"), detail ? detail : "",
                     tok ? tok : "", (unsigned long long)req->seq);
    assert_int_equal(http_response_header(req, "ETag", "\"42\""), 0);
    http_respond(req, 200, "application/json", body, (size_t)n);
}

static void h_echo(struct http_request *req, void *data)
{
    http_respond(req, 201, "application/json", req->body, req->body_size);
}

static void h_big(struct http_request *req, void *data)
{
    char *body = malloc(BIG_SIZE);
    assert_non_null(body);
    for (size_t i = 0; i < BIG_SIZE; i++) {
        body[i] = (char)('A' + (i + req->seq) % 26);
    }
    http_respond_owned(req, 200, "application/octet-stream", body, BIG_SIZE);
}

static void on_async_timer(uv_timer_t *t)
{
    struct harness *h = t->data;
    for (size_t i = 0; i < h->held_len; i++) {
        struct http_request *req = h->held[i];
        char body[64];
        int n = snprintf(body, sizeof body, "{\"async\":\"%s\"}", http_request_param(req, "id"));
        http_respond(req, 202, "application/json", body, (size_t)n);
    }
    h->held_len = 0;
}

static void h_async(struct http_request *req, void *data)
{
    struct harness *h = data;
    assert_true(h->held_len < RESPS_MAX);
    h->held[h->held_len++] = req;
    if (!h->hold) {
        uv_timer_start(&h->async_timer, on_async_timer, 5, 0);
    }
}

/* ---- client ---- */

static void cli_on_established(struct tls_conn *conn)
{
    struct client *c = tls_conn_data(conn);
    c->established = 1;
}

static void cli_on_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct client *c = tls_conn_data(conn);
    assert_int_equal(buf_put(&c->rx, data, size), 0);
    for (;;) {
        assert_true(c->resps_len < RESPS_MAX);
        struct test_resp *r = &c->resps[c->resps_len];
        memset(r, 0, sizeof *r);
        int rv = test_resp_take(&c->rx, r, false);
        if (rv < 0) {
            c->malformed = 1;
            return;
        }
        if (rv == 0) {
            return;
        }
        c->resps_len++;
    }
}

static void cli_on_close(struct tls_conn *conn, int status)
{
    struct client *c = tls_conn_data(conn);
    c->closed = 1;
    c->close_status = status;
    if (c->drip) {
        uv_timer_stop(&c->drip_timer);
    }
}

static const struct tls_conn_callbacks cli_cbs = {
    .on_established = cli_on_established,
    .on_read = cli_on_read,
    .on_close = cli_on_close,
};

static void on_guard(uv_timer_t *t)
{
    struct harness *h = t->data;
    h->guard_fired = 1;
}

static void run_until(struct harness *h, const int *flag)
{
    while (!*flag) {
        assert_false(h->guard_fired);
        uv_run(&h->loop, UV_RUN_ONCE);
    }
}

static void run_until_responses(struct harness *h, struct client *c, size_t n)
{
    while (c->resps_len < n) {
        assert_false(h->guard_fired);
        assert_false(c->malformed);
        assert_false(c->closed);
        uv_run(&h->loop, UV_RUN_ONCE);
    }
    assert_false(c->malformed);
}

static void harness_init_ex(struct harness *h, const struct http_limits *limits,
                            bool alpn_optional)
{
    memset(h, 0, sizeof *h);
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(uv_timer_init(&h->loop, &h->guard), 0);
    h->guard.data = h;
    uv_timer_start(&h->guard, on_guard, under_valgrind() ? 400000 : 60000, 0);
    uv_unref((uv_handle_t *)&h->guard);
    assert_int_equal(uv_timer_init(&h->loop, &h->async_timer), 0);
    h->async_timer.data = h;
    assert_int_equal(uv_timer_init(&h->loop, &h->observe_timer), 0);
    h->observe_timer.data = h;

    assert_int_equal(http_router_create(&h->router), 0);
    assert_int_equal(http_router_add(h->router, HTTP_METHOD_GET, "/virtual-network/{uuid}", h_vn, h), 0);
    assert_int_equal(http_router_add(h->router, HTTP_METHOD_DELETE, "/virtual-network/{uuid}", h_vn, h), 0);
    assert_int_equal(http_router_add(h->router, HTTP_METHOD_POST, "/virtual-networks", h_echo, h), 0);
    assert_int_equal(http_router_add(h->router, HTTP_METHOD_GET, "/async/{id}", h_async, h), 0);
    assert_int_equal(http_router_add(h->router, HTTP_METHOD_GET, "/big", h_big, h), 0);

    struct http_server_config cfg = {
        .ca = ca,
        .cert = server_cert,
        .key = server_key,
        .router = h->router,
        .alpn_optional = alpn_optional,
    };
    if (limits) {
        cfg.limits = *limits;
    }
    char err[256] = "";
    int rv = http_server_create(&h->loop, &cfg, &h->server, err, sizeof err);
    if (rv != 0) {
        fail_msg("server: %s (%s)", strata_strerror(rv), err);
    }
    assert_int_equal(http_server_listen(h->server, "127.0.0.1", 0), 0);
    assert_true(http_server_port(h->server) > 0);

    struct tls_config cc = {
        .role = TLS_ROLE_CLIENT,
        .ca = ca, /* no certificate: the API authenticates with tokens */
        .alpn = "http/1.1",
    };
    rv = tls_ctx_create(&cc, &h->cctx, err, sizeof err);
    if (rv != 0) {
        fail_msg("client ctx: %s (%s)", strata_strerror(rv), err);
    }
}

static void harness_init(struct harness *h, const struct http_limits *limits)
{
    harness_init_ex(h, limits, false);
}

static struct client *client_connect(struct harness *h, int i)
{
    struct client *c = &h->clients[i];
    c->h = h;
    buf_init(&c->rx, 0);
    assert_int_equal(tls_conn_connect(h->cctx, &h->loop, "127.0.0.1", http_server_port(h->server),
                                      SERVER_NAME, &cli_cbs, c, &c->conn),
                     0);
    run_until(h, &c->established);
    assert_string_equal(tls_conn_alpn(c->conn), "http/1.1");
    return c;
}

static void client_send(struct client *c, const char *s)
{
    assert_int_equal(tls_conn_write(c->conn, s, strlen(s)), 0);
}

static void on_server_closed(void *data)
{
    struct harness *h = data;
    h->server_closed = 1;
}

static void harness_done(struct harness *h)
{
    for (int i = 0; i < CLIENTS_MAX; i++) {
        struct client *c = &h->clients[i];
        if (!c->h) {
            continue;
        }
        tls_conn_free(c->conn);
        c->conn = NULL;
        if (c->drip) {
            uv_close((uv_handle_t *)&c->drip_timer, NULL);
        }
        for (size_t k = 0; k < c->resps_len; k++) {
            test_resp_free(&c->resps[k]);
        }
        buf_destroy(&c->rx);
    }
    http_server_close(h->server, on_server_closed, h);
    run_until(h, &h->server_closed);
    http_router_free(h->router);
    uv_close((uv_handle_t *)&h->guard, NULL);
    uv_close((uv_handle_t *)&h->async_timer, NULL);
    uv_close((uv_handle_t *)&h->observe_timer, NULL);
    while (uv_run(&h->loop, UV_RUN_DEFAULT) != 0) {
    }
    assert_int_equal(uv_loop_close(&h->loop), 0);
    tls_ctx_free(h->cctx);
}

/* ---- tests ---- */

static void test_routing_and_keepalive(void **state)
{
    struct harness h;
    char v[64];
    harness_init(&h, NULL);
    struct client *c = client_connect(&h, 0);
    for (int i = 1; i <= 5; i++) {
        char req[256];
        snprintf(req, sizeof req,
                 "GET /virtual-network/0a1b-%d?detail=tr%%75e&x=1 HTTP/1.1\r\nHost: api\r\n"
                 "Authorization: Bearer t0k3n\r\n\r\n",
                 i);
        client_send(c, req);
        run_until_responses(&h, c, (size_t)i);
        struct test_resp *r = &c->resps[i - 1];
        assert_int_equal(r->status, 200);
        char want[128];
        snprintf(want, sizeof want,
                 "{\"uuid\":\"0a1b-%d\",\"detail\":\"true\",\"token\":\"t0k3n\",\"seq\":%d}", i, i);
        assert_string_equal(r->body, want);
        assert_string_equal(test_resp_header(r, "ETag", v, sizeof v), "\"42\"");
        assert_string_equal(test_resp_header(r, "Content-Type", v, sizeof v), "application/json");
    }
    client_send(c, "POST /virtual-networks HTTP/1.1\r\nContent-Length: 12\r\n\r\n{\"name\":\"a\"}");
    run_until_responses(&h, c, 6);
    assert_int_equal(c->resps[5].status, 201);
    assert_string_equal(c->resps[5].body, "{\"name\":\"a\"}");
    struct http_server_stats st;
    http_server_stats(h.server, &st);
    assert_int_equal(st.accepted, 1); /* all on one kept-alive connection */
    assert_int_equal(st.requests, 6);
    assert_false(c->closed);
    harness_done(&h);
}

static void test_pipelined_in_order(void **state)
{
    struct harness h;
    harness_init(&h, NULL);
    struct client *c = client_connect(&h, 0);
    /* Sync and async handlers interleaved, all in one write. */
    char reqs[4096] = "";
    for (int i = 0; i < 12; i++) {
        char one[128];
        snprintf(one, sizeof one, i % 3 == 0 ? "GET /async/%d HTTP/1.1\r\n\r\n"
                                              : "GET /virtual-network/u%d HTTP/1.1\r\n\r\n",
                 i);
        strcat(reqs, one);
    }
    client_send(c, reqs);
    run_until_responses(&h, c, 12);
    for (int i = 0; i < 12; i++) {
        char want[64];
        if (i % 3 == 0) {
            assert_int_equal(c->resps[i].status, 202);
            snprintf(want, sizeof want, "{\"async\":\"%d\"}", i);
            assert_string_equal(c->resps[i].body, want);
        } else {
            assert_int_equal(c->resps[i].status, 200);
            snprintf(want, sizeof want, "\"uuid\":\"u%d\"", i);
            assert_non_null(strstr(c->resps[i].body, want));
        }
    }
    harness_done(&h);
}

static void test_async_handler(void **state)
{
    struct harness h;
    harness_init(&h, NULL);
    struct client *c = client_connect(&h, 0);
    client_send(c, "GET /async/late HTTP/1.1\r\n\r\n");
    run_until_responses(&h, c, 1);
    assert_int_equal(c->resps[0].status, 202);
    assert_string_equal(c->resps[0].body, "{\"async\":\"late\"}");
    /* The client leaves while a handler holds its request: the late answer
     * is dropped and nothing leaks (valgrind/ASAN). */
    h.hold = 1;
    client_send(c, "GET /async/gone HTTP/1.1\r\n\r\n");
    while (h.held_len == 0) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    assert_true(http_request_connected(h.held[0]));
    tls_conn_free(c->conn);
    c->conn = NULL;
    struct http_server_stats st;
    do {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
        http_server_stats(h.server, &st);
    } while (st.connections > 0);
    assert_false(http_request_connected(h.held[0]));
    on_async_timer(&h.async_timer);
    harness_done(&h);
}

static void test_header_too_large(void **state)
{
    struct harness h;
    harness_init(&h, NULL); /* default: 16 KiB */
    struct client *c = client_connect(&h, 0);
    char *big = malloc(20000);
    assert_non_null(big);
    memset(big, 'h', 19999);
    big[19999] = '\0';
    client_send(c, "GET /virtual-network/x HTTP/1.1\r\nX-Big: ");
    client_send(c, big);
    client_send(c, "\r\n\r\n");
    free(big);
    run_until_responses(&h, c, 1);
    assert_int_equal(c->resps[0].status, 431);
    assert_non_null(strstr(c->resps[0].body, "\"code\":431"));
    run_until(&h, &c->closed);
    harness_done(&h);
}

static void test_body_too_large(void **state)
{
    struct harness h;
    struct http_limits l = {.max_body_size = 65536};
    harness_init(&h, &l);
    struct client *c = client_connect(&h, 0);
    client_send(c, "POST /virtual-networks HTTP/1.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: 65537\r\n\r\n{\"a\":");
    run_until_responses(&h, c, 1);
    assert_int_equal(c->resps[0].status, 413);
    assert_string_equal(c->resps[0].body, "{\"error\":{\"code\":413,\"message\":"
                                          "\"request body too large\",\"field\":null}}");
    run_until(&h, &c->closed);
    harness_done(&h);
}

static void on_drip(uv_timer_t *t)
{
    struct client *c = t->data;
    if (c->closed || c->drip_pos == c->drip_len) {
        uv_timer_stop(t);
        return;
    }
    int rv = tls_conn_write(c->conn, c->drip + c->drip_pos, 1);
    if (rv == TLS_ECLOSED) { /* the server's close is on its way */
        uv_timer_stop(t);
        return;
    }
    assert_int_equal(rv, 0);
    c->drip_pos++;
}

static void test_slowloris(void **state)
{
    struct harness h;
    struct http_limits l = {.request_timeout_ms = 300};
    harness_init(&h, &l);
    struct client *c = client_connect(&h, 0);
    /* 100 bytes at one per 100 ms would take 10 s: the deadline counts
     * from the first byte, so the server cuts it off long before. */
    c->drip = "GET /virtual-network/slow HTTP/1.1\r\nHost: api\r\nX-1: aaaaaaaaaaaaaaaaaaaa\r\n"
              "X-2: bbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n";
    c->drip_len = strlen(c->drip);
    assert_int_equal(uv_timer_init(&h.loop, &c->drip_timer), 0);
    c->drip_timer.data = c;
    uv_timer_start(&c->drip_timer, on_drip, 0, 100);
    run_until(&h, &c->closed);
    assert_int_equal(c->resps_len, 1);
    assert_int_equal(c->resps[0].status, 408);
    assert_non_null(strstr(c->resps[0].head, "Connection: close"));
    assert_true(c->drip_pos < c->drip_len);
    harness_done(&h);
}

static void test_malformed_request_line(void **state)
{
    struct harness h;
    harness_init(&h, NULL);
    struct client *c = client_connect(&h, 0);
    client_send(c, "GET /virtual-network/a HTTP/1.1\r\n\r\nG\x01T / HTTP/1.1\r\n\r\n");
    run_until_responses(&h, c, 2);
    assert_int_equal(c->resps[0].status, 200);
    assert_int_equal(c->resps[1].status, 400);
    assert_non_null(strstr(c->resps[1].body, "\"code\":400"));
    run_until(&h, &c->closed);
    harness_done(&h);
}

static void test_not_found_and_method(void **state)
{
    struct harness h;
    char v[64];
    harness_init(&h, NULL);
    struct client *c = client_connect(&h, 0);
    client_send(c, "GET /nope HTTP/1.1\r\n\r\nPUT /virtual-network/a HTTP/1.1\r\n"
                   "Content-Length: 2\r\n\r\n{}GET /virtual-network/a HTTP/1.1\r\n\r\n");
    run_until_responses(&h, c, 3);
    assert_int_equal(c->resps[0].status, 404);
    assert_int_equal(c->resps[1].status, 405);
    assert_string_equal(test_resp_header(&c->resps[1], "Allow", v, sizeof v),
                        "GET, HEAD, DELETE, OPTIONS");
    assert_string_equal(c->resps[1].body, "{\"error\":{\"code\":405,\"message\":"
                                          "\"method not allowed\",\"field\":null}}");
    assert_int_equal(c->resps[2].status, 200); /* still kept alive */
    harness_done(&h);
}

static void test_too_many_connections(void **state)
{
    struct harness h;
    struct http_limits l = {.max_connections = 2};
    harness_init(&h, &l);
    struct client *a = client_connect(&h, 0);
    struct client *b = client_connect(&h, 1);
    /* A round trip on each makes sure the server has accepted both. */
    client_send(a, "GET /virtual-network/a HTTP/1.1\r\n\r\n");
    client_send(b, "GET /virtual-network/b HTTP/1.1\r\n\r\n");
    run_until_responses(&h, a, 1);
    run_until_responses(&h, b, 1);
    struct client *c = client_connect(&h, 2);
    run_until(&h, &c->closed);
    assert_int_equal(c->resps_len, 1);
    assert_int_equal(c->resps[0].status, 503);
    assert_string_equal(c->resps[0].body, "{\"error\":{\"code\":503,\"message\":"
                                          "\"too many connections\",\"field\":null}}");
    struct http_server_stats st;
    http_server_stats(h.server, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.accepted, 2);
    /* The served connections are unaffected. */
    client_send(a, "GET /virtual-network/a2 HTTP/1.1\r\n\r\n");
    run_until_responses(&h, a, 2);
    assert_int_equal(a->resps[1].status, 200);
    harness_done(&h);
}

static void test_idle_timeout(void **state)
{
    struct harness h;
    struct http_limits l = {.idle_timeout_ms = 200};
    harness_init(&h, &l);
    struct client *c = client_connect(&h, 0);
    client_send(c, "GET /virtual-network/a HTTP/1.1\r\n\r\n");
    run_until_responses(&h, c, 1);
    run_until(&h, &c->closed);
    assert_int_equal(c->close_status, 0); /* a clean TLS close */
    assert_int_equal(c->resps_len, 1);
    harness_done(&h);
}

static void on_observe(uv_timer_t *t)
{
    struct harness *h = t->data;
    h->observe_done = 1;
}

static void test_slow_reader_bounded(void **state)
{
    struct harness h;
    const size_t n = 24;
    harness_init(&h, NULL);
    struct client *c = client_connect(&h, 0);
    tls_conn_read_stop(c->conn);
    char reqs[2048] = "";
    for (size_t i = 0; i < n; i++) {
        strcat(reqs, "GET /big HTTP/1.1\r\n\r\n");
    }
    client_send(c, reqs);
    /* Wait until the server's writes hit the TLS high watermark... */
    struct http_server_stats st;
    do {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
        http_server_stats(h.server, &st);
    } while (st.write_waits == 0);
    /* ...then watch it hold still: no further request is taken while the
     * response waits, and the memory held stays within the TLS watermark,
     * one write chunk and the response body itself. */
    uv_timer_start(&h.observe_timer, on_observe, 300, 0);
    run_until(&h, &h.observe_done);
    http_server_stats(h.server, &st);
    size_t bound = TLS_DEFAULT_HIGH_WATERMARK + BIG_SIZE + 512 * 1024;
    assert_true(st.requests < n);
    if (st.buffered_max > bound) {
        fail_msg("server held %zu bytes (bound %zu)", st.buffered_max, bound);
    }
    uint64_t stalled_at = st.requests;
    /* Reading again gets every response, complete and in order. */
    tls_conn_read_start(c->conn);
    while (c->resps_len < n) {
        assert_false(h.guard_fired);
        assert_false(c->malformed);
        uv_run(&h.loop, UV_RUN_ONCE);
        /* Responses are consumed as they arrive, so the client stays small. */
        for (size_t i = 0; i < c->resps_len; i++) {
            if (c->resps[i].body) {
                assert_int_equal(c->resps[i].body_size, BIG_SIZE);
                assert_int_equal(c->resps[i].body[0], (char)('A' + (i + 1) % 26));
                test_resp_free(&c->resps[i]);
            }
        }
    }
    http_server_stats(h.server, &st);
    assert_int_equal(st.requests, n);
    assert_true(st.requests > stalled_at);
    assert_true(st.buffered_max <= bound);
    harness_done(&h);
}

/* A client that offers no ALPN (wrk, openssl s_client) against the
 * default server, which requires "http/1.1", then against one configured
 * with alpn_optional. */
static void test_alpn(void **state)
{
    struct tls_config cc = {.role = TLS_ROLE_CLIENT, .ca = ca};
    struct tls_ctx *plain;
    char err[128];
    for (int optional = 0; optional <= 1; optional++) {
        struct harness h;
        harness_init_ex(&h, NULL, optional);
        assert_int_equal(tls_ctx_create(&cc, &plain, err, sizeof err), 0);
        struct client *c = &h.clients[0];
        c->h = &h;
        buf_init(&c->rx, 0);
        assert_int_equal(tls_conn_connect(plain, &h.loop, "127.0.0.1", http_server_port(h.server),
                                          SERVER_NAME, &cli_cbs, c, &c->conn),
                         0);
        client_send(c, "GET /virtual-network/n HTTP/1.1\r\n\r\n");
        if (optional) {
            run_until_responses(&h, c, 1);
            assert_int_equal(c->resps[0].status, 200);
            assert_null(tls_conn_alpn(c->conn));
        } else {
            run_until(&h, &c->closed);
            assert_int_not_equal(c->close_status, 0);
            assert_int_equal(c->resps_len, 0);
        }
        struct http_server_stats st;
        http_server_stats(h.server, &st);
        assert_int_equal(st.accepted, optional ? 1 : 0);
        harness_done(&h);
        tls_ctx_free(plain);
    }
}

static int issue(const char *cn, const char *dns, const char *ip, struct pki_cert **cert,
                 struct pki_key **key)
{
    const char *dns_list[] = {dns};
    const char *ip_list[] = {ip};
    struct pki_leaf_params p = {
        .common_name = cn,
        .dns_names = dns_list,
        .dns_count = 1,
        .ip_addrs = ip_list,
        .ip_count = 1,
        .usage = PKI_USAGE_SERVER,
        .days_valid = 2,
    };
    return pki_leaf_issue(ca, ca_key, &p, cert, key);
}

static int group_setup(void **state)
{
    wolfSSL_Init();
    if (pki_ca_create("HTTP test CA", 2, &ca, &ca_key) != 0 ||
        issue("api", SERVER_NAME, "127.0.0.1", &server_cert, &server_key) != 0) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    pki_cert_free(ca);
    pki_cert_free(server_cert);
    pki_key_free(ca_key);
    pki_key_free(server_key);
    wolfSSL_Cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_and_keepalive),
        cmocka_unit_test(test_pipelined_in_order),
        cmocka_unit_test(test_async_handler),
        cmocka_unit_test(test_header_too_large),
        cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_malformed_request_line),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_too_many_connections),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_slow_reader_bounded),
        cmocka_unit_test(test_alpn),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

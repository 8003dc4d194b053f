/* Unit tests for lib/tls: mutual TLS 1.3 over real loopback sockets, driven
 * by uv_run until the awaited event. A guard timer fails a test that hangs;
 * no test waits for time to pass except the timeout tests, whose subject is
 * the timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <uv.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "lib/buf.h"
#include "lib/pki.h"
#include "lib/tls.h"

#define ALPN "strata-test/1"
#define SERVER_NAME "server.strata"
#define CLIENT_NAME "client.strata"

/* Certificates shared by every test (issuing is the slow part). */
static struct pki_cert *ca, *other_ca, *server_cert, *client_cert, *stranger_cert, *server_only;
static struct pki_key *ca_key, *other_ca_key, *server_key, *client_key, *stranger_key,
    *server_only_key;

static int under_valgrind(void)
{
    return getenv("STRATA_UNDER_VALGRIND") != NULL;
}

struct writer;
static void writer_pump(struct writer *w);

/* One end of a connection as the tests see it. */
struct end {
    struct writer *writer; /* refilled from on_drain when set */
    struct tls_conn *conn;
    struct buf rx;
    int established;
    int closed;
    int close_status;
    int drains;
    size_t rx_total;     /* bytes seen, also when not kept */
    int check_pattern;   /* verify rx against pattern() instead of keeping */
    int pattern_bad;
    int stop_on_accept;  /* server: read_stop right away */
};

struct harness {
    uv_loop_t loop;
    uv_timer_t guard;
    int guard_fired;
    struct tls_ctx *sctx, *cctx;
    struct tls_server *server;
    struct end srv, cli;
    int accepted;
    int rejects;
    int reject_status;
    char reject_identity[128];
    const char *deny; /* identity the authorize callback refuses */
    int authorized;
    int server_closed;
};

static uint8_t pattern(size_t offset)
{
    uint64_t x = offset * 0x9e3779b97f4a7c15ull;
    return (uint8_t)(x >> 56) ^ (uint8_t)offset;
}

static void end_on_established(struct tls_conn *conn)
{
    struct end *e = tls_conn_data(conn);
    e->established++;
}

static void end_on_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct end *e = tls_conn_data(conn);
    assert_true(size > 0);
    if (e->check_pattern) {
        for (size_t i = 0; i < size; i++) {
            if (data[i] != pattern(e->rx_total + i)) {
                e->pattern_bad++;
            }
        }
    } else {
        assert_int_equal(buf_put(&e->rx, data, size), 0);
    }
    e->rx_total += size;
}

static void end_on_drain(struct tls_conn *conn)
{
    struct end *e = tls_conn_data(conn);
    e->drains++;
    if (e->writer) {
        writer_pump(e->writer);
    }
}

static void end_on_close(struct tls_conn *conn, int status)
{
    struct end *e = tls_conn_data(conn);
    assert_int_equal(e->closed, 0);
    e->closed = 1;
    e->close_status = status;
}

/* Frees the connection from inside its own on_close. */
static void end_on_close_free(struct tls_conn *conn, int status)
{
    struct end *e = tls_conn_data(conn);
    end_on_close(conn, status);
    tls_conn_free(conn);
    e->conn = NULL;
}

static const struct tls_conn_callbacks end_cbs_free_on_close = {
    .on_established = end_on_established,
    .on_read = end_on_read,
    .on_close = end_on_close_free,
};

static const struct tls_conn_callbacks end_cbs = {
    .on_established = end_on_established,
    .on_read = end_on_read,
    .on_drain = end_on_drain,
    .on_close = end_on_close,
};

static void srv_on_accept(struct tls_server *s, struct tls_conn *conn)
{
    struct harness *h = tls_server_data(s);
    h->accepted++;
    h->srv.conn = conn;
    tls_conn_set_callbacks(conn, &end_cbs, &h->srv);
    if (h->srv.stop_on_accept) {
        tls_conn_read_stop(conn);
    }
}

static int srv_authorize(struct tls_server *s, struct tls_conn *conn, const char *identity)
{
    struct harness *h = tls_server_data(s);
    h->authorized++;
    assert_non_null(tls_conn_peer_cert(conn));
    return h->deny && strcmp(identity, h->deny) == 0 ? -1 : 0;
}

static void srv_on_reject(struct tls_server *s, int status, const char *identity)
{
    struct harness *h = tls_server_data(s);
    h->rejects++;
    h->reject_status = status;
    snprintf(h->reject_identity, sizeof h->reject_identity, "%s", identity ? identity : "");
}

static const struct tls_server_callbacks srv_cbs = {
    .on_accept = srv_on_accept,
    .authorize = srv_authorize,
    .on_reject = srv_on_reject,
};

static void on_guard(uv_timer_t *t)
{
    struct harness *h = t->data;
    h->guard_fired = 1;
}

/* Runs the loop until '*flag' becomes nonzero; fails if the guard fires. */
static void run_until(struct harness *h, const int *flag)
{
    while (!*flag) {
        assert_false(h->guard_fired);
        uv_run(&h->loop, UV_RUN_ONCE);
    }
}

static struct tls_config server_config(void)
{
    struct tls_config c = {
        .role = TLS_ROLE_SERVER,
        .ca = ca,
        .cert = server_cert,
        .key = server_key,
        .alpn = ALPN,
    };
    return c;
}

static struct tls_config client_config(void)
{
    struct tls_config c = {
        .role = TLS_ROLE_CLIENT,
        .ca = ca,
        .cert = client_cert,
        .key = client_key,
        .alpn = ALPN,
    };
    return c;
}

static void harness_init(struct harness *h, const struct tls_config *sc, const struct tls_config *cc)
{
    memset(h, 0, sizeof *h);
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(uv_timer_init(&h->loop, &h->guard), 0);
    h->guard.data = h;
    uv_timer_start(&h->guard, on_guard, under_valgrind() ? 240000 : 60000, 0);
    uv_unref((uv_handle_t *)&h->guard);
    char err[256] = "";
    int rv = tls_ctx_create(sc, &h->sctx, err, sizeof err);
    if (rv != 0) {
        fail_msg("server ctx: %s (%s)", strata_strerror(rv), err);
    }
    rv = tls_ctx_create(cc, &h->cctx, err, sizeof err);
    if (rv != 0) {
        fail_msg("client ctx: %s (%s)", strata_strerror(rv), err);
    }
    assert_int_equal(tls_server_create(h->sctx, &h->loop, &srv_cbs, h, &h->server), 0);
    buf_init(&h->srv.rx, 0);
    buf_init(&h->cli.rx, 0);
}

static void harness_listen(struct harness *h)
{
    assert_int_equal(tls_server_listen(h->server, "127.0.0.1", 0), 0);
    assert_true(tls_server_port(h->server) > 0);
}

static void harness_connect(struct harness *h, const char *peer_name)
{
    assert_int_equal(tls_conn_connect(h->cctx, &h->loop, "127.0.0.1", tls_server_port(h->server),
                                      peer_name, &end_cbs, &h->cli, &h->cli.conn),
                     0);
}

static void on_server_closed(void *data)
{
    struct harness *h = data;
    h->server_closed = 1;
}

static void harness_done(struct harness *h)
{
    /* Connections still open are reset; everything is freed. */
    tls_conn_free(h->cli.conn);
    tls_conn_free(h->srv.conn);
    tls_server_close(h->server, on_server_closed);
    run_until(h, &h->server_closed);
    uv_close((uv_handle_t *)&h->guard, NULL);
    while (uv_run(&h->loop, UV_RUN_DEFAULT) != 0) {
    }
    assert_int_equal(uv_loop_close(&h->loop), 0);
    tls_ctx_free(h->sctx);
    tls_ctx_free(h->cctx);
    buf_destroy(&h->srv.rx);
    buf_destroy(&h->cli.rx);
}

/* ---- fixtures ---- */

static int issue(const struct pki_cert *issuer, const struct pki_key *issuer_key, const char *cn,
                 const char *dns, const char *ip, unsigned usage, struct pki_cert **cert,
                 struct pki_key **key)
{
    const char *dns_list[] = {dns};
    const char *ip_list[] = {ip};
    struct pki_leaf_params p = {
        .common_name = cn,
        .dns_names = dns_list,
        .dns_count = dns ? 1 : 0,
        .ip_addrs = ip_list,
        .ip_count = ip ? 1 : 0,
        .usage = usage,
        .days_valid = 2,
    };
    return pki_leaf_issue(issuer, issuer_key, &p, cert, key);
}

static int group_setup(void **state)
{
    wolfSSL_Init();
    if (pki_ca_create("TLS test CA", 2, &ca, &ca_key) != 0 ||
        pki_ca_create("Other CA", 2, &other_ca, &other_ca_key) != 0 ||
        issue(ca, ca_key, "server", SERVER_NAME, "127.0.0.1", PKI_USAGE_SERVER, &server_cert,
              &server_key) != 0 ||
        issue(ca, ca_key, "client", CLIENT_NAME, NULL, PKI_USAGE_CLIENT, &client_cert,
              &client_key) != 0 ||
        issue(other_ca, other_ca_key, "stranger", CLIENT_NAME, NULL, PKI_USAGE_BOTH,
              &stranger_cert, &stranger_key) != 0 ||
        issue(ca, ca_key, "server-only", "server-only.strata", NULL, PKI_USAGE_SERVER,
              &server_only, &server_only_key) != 0) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    pki_cert_free(ca);
    pki_cert_free(other_ca);
    pki_cert_free(server_cert);
    pki_cert_free(client_cert);
    pki_cert_free(stranger_cert);
    pki_cert_free(server_only);
    pki_key_free(ca_key);
    pki_key_free(other_ca_key);
    pki_key_free(server_key);
    pki_key_free(client_key);
    pki_key_free(stranger_key);
    pki_key_free(server_only_key);
    wolfSSL_Cleanup();
    return 0;
}

/* ---- tests ---- */

static void test_mutual_handshake_and_data(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    /* Written before the handshake completes: queued, then sent. */
    assert_int_equal(tls_conn_write(h.cli.conn, "ping", 4), 0);
    run_until(&h, &h.cli.established);
    assert_string_equal(tls_conn_peer_identity(h.cli.conn), SERVER_NAME);
    assert_string_equal(tls_conn_alpn(h.cli.conn), ALPN);
    assert_string_equal(tls_conn_cipher(h.cli.conn), "TLS13-CHACHA20-POLY1305-SHA256");
    run_until(&h, &h.accepted);
    while (h.srv.rx.size < 4) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    assert_int_equal(h.authorized, 1);
    assert_true(tls_conn_is_established(h.srv.conn));
    assert_string_equal(tls_conn_peer_identity(h.srv.conn), CLIENT_NAME);
    assert_string_equal(tls_conn_alpn(h.srv.conn), ALPN);
    assert_memory_equal(h.srv.rx.data, "ping", 4);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    assert_int_equal(tls_conn_peer_addr(h.srv.conn, (struct sockaddr *)&ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET);

    assert_int_equal(tls_conn_write(h.srv.conn, "pong!", 5), 0);
    while (h.cli.rx.size < 5) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    assert_memory_equal(h.cli.rx.data, "pong!", 5);

    /* The client closes: both ends see a clean close. */
    tls_conn_close(h.cli.conn);
    assert_int_equal(tls_conn_write(h.cli.conn, "x", 1), TLS_ECLOSED);
    run_until(&h, &h.cli.closed);
    run_until(&h, &h.srv.closed);
    assert_int_equal(h.cli.close_status, 0);
    assert_int_equal(h.srv.close_status, 0);
    assert_int_equal(h.rejects, 0);
    harness_done(&h);
}

/* Waits for both outcomes of a refused connection. */
static void expect_refused(struct harness *h, int server_status)
{
    run_until(h, &h->rejects);
    run_until(h, &h->cli.closed);
    assert_int_equal(h->accepted, 0);
    assert_int_equal(h->reject_status, server_status);
    assert_int_not_equal(h->cli.close_status, 0);
    assert_int_equal(h->srv.rx_total, 0);
}

static void test_client_from_other_ca_refused(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    cc.cert = stranger_cert; /* issued by "Other CA", trusts ours */
    cc.key = stranger_key;
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    assert_int_equal(tls_conn_write(h.cli.conn, "hello", 5), 0);

    /* A well-behaved client connects at the same time and is unaffected. */
    struct tls_config good = client_config();
    struct tls_ctx *good_ctx;
    char err[256];
    assert_int_equal(tls_ctx_create(&good, &good_ctx, err, sizeof err), 0);
    struct end good_end = {0};
    buf_init(&good_end.rx, 0);
    assert_int_equal(tls_conn_connect(good_ctx, &h.loop, "127.0.0.1", tls_server_port(h.server),
                                      SERVER_NAME, &end_cbs, &good_end, &good_end.conn),
                     0);

    run_until(&h, &h.rejects);
    assert_int_equal(h.reject_status, TLS_EVERIFY);
    run_until(&h, &h.cli.closed);
    assert_int_not_equal(h.cli.close_status, 0);
    run_until(&h, &good_end.established);
    run_until(&h, &h.accepted);
    assert_int_equal(h.accepted, 1);
    assert_int_equal(h.rejects, 1);
    assert_int_equal(h.srv.rx_total, 0);
    assert_string_equal(tls_conn_peer_identity(h.srv.conn), CLIENT_NAME);
    tls_conn_close(good_end.conn);
    run_until(&h, &good_end.closed);
    assert_int_equal(good_end.close_status, 0);
    run_until(&h, &h.srv.closed);
    assert_int_equal(h.srv.close_status, 0);
    tls_conn_free(good_end.conn);
    tls_ctx_free(good_ctx);
    buf_destroy(&good_end.rx);
    harness_done(&h);
}

static void test_server_from_other_ca_refused(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    cc.ca = other_ca; /* the client trusts only "Other CA" */
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    run_until(&h, &h.cli.closed);
    assert_int_equal(h.cli.close_status, TLS_EVERIFY);
    assert_int_equal(h.cli.established, 0);
    run_until(&h, &h.rejects);
    assert_int_equal(h.accepted, 0);
    harness_done(&h);
}

static void test_wrong_san_refused(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, "other.strata");
    run_until(&h, &h.cli.closed);
    assert_int_equal(h.cli.close_status, TLS_EPEERNAME);
    assert_int_equal(h.cli.established, 0);
    run_until(&h, &h.rejects);
    assert_int_equal(h.accepted, 0);
    tls_conn_free(h.cli.conn);
    h.cli.conn = NULL;

    /* The IP SAN is a valid name too. */
    memset(&h.cli, 0, sizeof h.cli);
    buf_init(&h.cli.rx, 0);
    harness_connect(&h, "127.0.0.1");
    run_until(&h, &h.cli.established);
    run_until(&h, &h.accepted);
    harness_done(&h);
}

static void test_client_without_cert_refused(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    cc.cert = NULL;
    cc.key = NULL;
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    assert_int_equal(tls_conn_write(h.cli.conn, "secret", 6), 0);
    expect_refused(&h, TLS_ENOPEERCERT);
    assert_string_equal(h.reject_identity, "");
    harness_done(&h);
}

static void test_server_without_client_auth(void **state)
{
    /* The REST API's shape: anonymous clients, server verified. */
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    sc.client_auth = TLS_CLIENT_AUTH_NONE;
    cc.cert = NULL;
    cc.key = NULL;
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    assert_int_equal(tls_conn_write(h.cli.conn, "GET /", 5), 0);
    run_until(&h, &h.accepted);
    while (h.srv.rx.size < 5) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    assert_null(tls_conn_peer_identity(h.srv.conn));
    assert_int_equal(h.authorized, 0);
    assert_string_equal(tls_conn_peer_identity(h.cli.conn), SERVER_NAME);
    harness_done(&h);
}

static void test_authorize_denies(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    harness_init(&h, &sc, &cc);
    h.deny = CLIENT_NAME;
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    assert_int_equal(tls_conn_write(h.cli.conn, "let me in", 9), 0);
    expect_refused(&h, TLS_EDENIED);
    assert_int_equal(h.authorized, 1);
    assert_string_equal(h.reject_identity, CLIENT_NAME);
    harness_done(&h);
}

static void test_alpn_mismatch_refused(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    cc.alpn = "other/1,another/2";
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    expect_refused(&h, TLS_EALPN);
    assert_int_equal(h.cli.close_status, TLS_EALPN);
    harness_done(&h);

    /* A client that offers no ALPN at all is refused too. */
    cc.alpn = NULL;
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    expect_refused(&h, TLS_EALPN);
    harness_done(&h);

    /* A list with a common protocol negotiates it. */
    cc.alpn = "other/1," ALPN;
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    run_until(&h, &h.cli.established);
    assert_string_equal(tls_conn_alpn(h.cli.conn), ALPN);
    harness_done(&h);
}

#ifdef STRATA_TEST_HOOKS /* socket read cap */
static void test_one_byte_reads(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    /* Every socket read, handshake included, returns one byte. */
    tls_test_set_read_size_max(1);
    harness_connect(&h, SERVER_NAME);
    h.srv.check_pattern = 1;
    const size_t total = under_valgrind() ? 8192 : 65536;
    uint8_t *data = malloc(total);
    for (size_t i = 0; i < total; i++) {
        data[i] = pattern(i);
    }
    assert_int_equal(tls_conn_write(h.cli.conn, data, total), 0);
    run_until(&h, &h.accepted);
    while (h.srv.rx_total < total) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    assert_int_equal(h.srv.rx_total, total);
    assert_int_equal(h.srv.pattern_bad, 0);
    /* And the other way. */
    assert_int_equal(tls_conn_write(h.srv.conn, "fragmented reply", 16), 0);
    while (h.cli.rx.size < 16) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    assert_memory_equal(h.cli.rx.data, "fragmented reply", 16);
    tls_test_set_read_size_max(0);
    free(data);
    harness_done(&h);
}

#endif

/* Writes the pattern from 'e''s offset until 'total' or backpressure,
 * checking the queue bound after every write. */
struct writer {
    struct tls_conn *conn;
    size_t written;
    size_t total;
    size_t chunk;
    size_t high;
    size_t max_queued;
    int refusals;
    int blocked; /* refused, waiting for on_drain */
    uint8_t *buf;
};

static void writer_pump(struct writer *w)
{
    w->blocked = 0;
    while (w->written < w->total) {
        size_t n = w->total - w->written < w->chunk ? w->total - w->written : w->chunk;
        for (size_t i = 0; i < n; i++) {
            w->buf[i] = pattern(w->written + i);
        }
        int rv = tls_conn_write(w->conn, w->buf, n);
        size_t q = tls_conn_queued_size(w->conn);
        if (q > w->max_queued) {
            w->max_queued = q;
        }
        assert_true(q <= w->high + w->chunk);
        if (rv == TLS_EAGAIN) {
            w->refusals++;
            w->blocked = 1;
            return;
        }
        assert_int_equal(rv, 0);
        w->written += n;
    }
}

static void test_ten_megabytes(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    cc.write_high_watermark = 512 * 1024;
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    h.srv.check_pattern = 1;
    struct writer w = {
        .conn = h.cli.conn,
        .total = under_valgrind() ? 1 << 20 : 10 << 20,
        .chunk = 64 * 1024,
        .high = cc.write_high_watermark,
        .buf = malloc(64 * 1024),
    };
    /* The writer refills from on_drain, inside the library's callback. */
    h.cli.writer = &w;
    writer_pump(&w);
    while (h.srv.rx_total < w.total) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    assert_int_equal(w.written, w.total);
    assert_int_equal(h.srv.rx_total, w.total);
    assert_int_equal(h.srv.pattern_bad, 0);
    assert_true(w.refusals > 0); /* the writer outran the socket */
    assert_true(h.cli.drains > 0);
    assert_true(w.max_queued <= w.high + w.chunk);
    free(w.buf);
    harness_done(&h);
}

#ifdef STRATA_TEST_HOOKS /* kernel-side queue probe */
static void test_backpressure(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    cc.write_high_watermark = 256 * 1024;
    cc.write_low_watermark = 64 * 1024;
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    h.srv.stop_on_accept = 1;
    h.srv.check_pattern = 1;
    harness_connect(&h, SERVER_NAME);
    run_until(&h, &h.cli.established);
    run_until(&h, &h.accepted);
    struct writer w = {
        .conn = h.cli.conn,
        .total = 64 << 20, /* far more than the socket buffers hold */
        .chunk = 16 * 1024,
        .high = cc.write_high_watermark,
        .buf = malloc(16 * 1024),
    };
    /* Phase 1: the server reads nothing. Write whenever allowed until the
     * writer is refused (queue at the high watermark, waiting for on_drain)
     * while the kernel refuses more ciphertext: backpressure all the way. */
    writer_pump(&w);
    int drains_seen = 0;
    for (;;) {
        assert_false(h.guard_fired);
        if (h.cli.drains != drains_seen) {
            drains_seen = h.cli.drains;
            writer_pump(&w);
        }
        if (w.blocked && tls_test_socket_queued_size(h.cli.conn) > 0) {
            break;
        }
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    assert_int_equal(h.srv.rx_total, 0);
    assert_true(w.max_queued >= w.high);
    assert_true(w.max_queued <= w.high + w.chunk);
    assert_true(tls_conn_queued_size(h.cli.conn) > cc.write_low_watermark);
    assert_true(w.written < w.total);
    size_t stalled_at = w.written;
    int drains_before = h.cli.drains;

    /* Phase 2: the server reads again; the queue drains, on_drain fires,
     * and everything written so far arrives intact. */
    tls_conn_read_start(h.srv.conn);
    while (h.cli.drains == drains_before) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    assert_true(tls_conn_queued_size(h.cli.conn) <= cc.write_low_watermark);
    while (h.srv.rx_total < stalled_at) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    assert_int_equal(h.srv.pattern_bad, 0);
    assert_true(w.max_queued <= w.high + w.chunk);
    free(w.buf);
    harness_done(&h);
}

#endif

/* A raw TCP client that connects and then says nothing. */
struct raw_client {
    uv_tcp_t tcp;
    uv_connect_t req;
    int connected;
    int eof;
    char rbuf[256];
};

static void raw_alloc(uv_handle_t *hd, size_t s, uv_buf_t *b)
{
    struct raw_client *r = hd->data;
    *b = uv_buf_init(r->rbuf, sizeof r->rbuf);
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct raw_client *r = s->data;
    if (n < 0) {
        r->eof = 1;
        uv_read_stop(s);
    }
}

static void raw_connected(uv_connect_t *req, int status)
{
    struct raw_client *r = req->data;
    assert_int_equal(status, 0);
    r->connected = 1;
    assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read), 0);
}

static void test_handshake_timeout(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    sc.handshake_timeout_ms = 200;
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    struct raw_client r = {0};
    uv_tcp_init(&h.loop, &r.tcp);
    r.tcp.data = &r;
    r.req.data = &r;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", tls_server_port(h.server), &sa);
    assert_int_equal(uv_tcp_connect(&r.req, &r.tcp, (struct sockaddr *)&sa, raw_connected), 0);
    run_until(&h, &r.connected);
    run_until(&h, &h.rejects);
    assert_int_equal(h.reject_status, TLS_EHANDSHAKE_TIMEOUT);
    run_until(&h, &r.eof);
    uv_close((uv_handle_t *)&r.tcp, NULL);
    harness_done(&h);
}

static void raw_written(uv_write_t *req, int status)
{
    assert_int_equal(status, 0);
}

static void test_garbage_refused(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    struct raw_client r = {0};
    uv_tcp_init(&h.loop, &r.tcp);
    r.tcp.data = &r;
    r.req.data = &r;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", tls_server_port(h.server), &sa);
    assert_int_equal(uv_tcp_connect(&r.req, &r.tcp, (struct sockaddr *)&sa, raw_connected), 0);
    run_until(&h, &r.connected);
    static char req[] = "GET / HTTP/1.0\r\n\r\n";
    uv_buf_t b = uv_buf_init(req, sizeof req - 1);
    uv_write_t wr;
    assert_int_equal(uv_write(&wr, (uv_stream_t *)&r.tcp, &b, 1, raw_written), 0);
    run_until(&h, &h.rejects);
    assert_int_equal(h.reject_status, TLS_EHANDSHAKE);
    run_until(&h, &r.eof);
    uv_close((uv_handle_t *)&r.tcp, NULL);
    harness_done(&h);
}

static void test_idle_timeout(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    sc.idle_timeout_ms = 300;
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    run_until(&h, &h.cli.established);
    run_until(&h, &h.accepted);
    /* Traffic keeps it alive; silence ends it. */
    assert_int_equal(tls_conn_write(h.cli.conn, "hello", 5), 0);
    while (h.srv.rx_total < 5) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    run_until(&h, &h.srv.closed);
    assert_int_equal(h.srv.close_status, TLS_EIDLE_TIMEOUT);
    run_until(&h, &h.cli.closed);
    assert_int_not_equal(h.cli.close_status, 0);
    harness_done(&h);
}

static void test_clean_close_delivers_everything(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    harness_connect(&h, SERVER_NAME);
    h.srv.check_pattern = 1;
    const size_t total = 768 * 1024; /* below the default high watermark */
    uint8_t *data = malloc(total);
    for (size_t i = 0; i < total; i++) {
        data[i] = pattern(i);
    }
    run_until(&h, &h.cli.established);
    assert_int_equal(tls_conn_write(h.cli.conn, data, total), 0);
    tls_conn_close(h.cli.conn);
    run_until(&h, &h.srv.closed);
    assert_int_equal(h.srv.close_status, 0);
    assert_int_equal(h.srv.rx_total, total);
    assert_int_equal(h.srv.pattern_bad, 0);
    run_until(&h, &h.cli.closed);
    assert_int_equal(h.cli.close_status, 0);
    free(data);
    harness_done(&h);
}

static void test_listen_fd_and_free_inside_close(void **state)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    harness_init(&h, &sc, &cc);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    assert_int_equal(tls_server_listen_fd(h.server, &fd), 0);
    assert_int_equal(fd, -1);
    assert_int_equal(tls_server_port(h.server), ntohs(sa.sin_port));
    assert_int_equal(tls_conn_connect(h.cctx, &h.loop, "127.0.0.1", ntohs(sa.sin_port), SERVER_NAME,
                                      &end_cbs_free_on_close, &h.cli, &h.cli.conn),
                     0);
    run_until(&h, &h.accepted);
    /* The server resets its side without ceremony; the client sees EOF. */
    tls_conn_free(h.srv.conn);
    h.srv.conn = NULL;
    run_until(&h, &h.cli.closed);
    assert_int_equal(h.cli.close_status, TLS_EEOF);
    assert_null(h.cli.conn); /* freed inside on_close */
    assert_int_equal(h.srv.closed, 0); /* freed live: no callbacks */
    harness_done(&h);
}

static void test_config_errors(void **state)
{
    char err[256];
    struct tls_ctx *ctx;
    struct tls_config c = server_config();
    c.key = client_key;
    assert_int_equal(tls_ctx_create(&c, &ctx, err, sizeof err), TLS_ECONFIG);
    assert_non_null(strstr(err, "does not match"));
    c = server_config();
    c.cert = client_cert; /* clientAuth only */
    c.key = client_key;
    assert_int_equal(tls_ctx_create(&c, &ctx, err, sizeof err), TLS_ECONFIG);
    assert_non_null(strstr(err, "serverAuth"));
    c = server_config();
    c.alpn = "a,,b";
    assert_int_equal(tls_ctx_create(&c, &ctx, err, sizeof err), TLS_ECONFIG);
    c = server_config();
    c.cert = NULL;
    c.key = NULL;
    assert_int_equal(tls_ctx_create(&c, &ctx, err, sizeof err), TLS_EINVAL);
    c = server_config();
    c.write_high_watermark = 1000;
    c.write_low_watermark = 1000;
    assert_int_equal(tls_ctx_create(&c, &ctx, err, sizeof err), TLS_EINVAL);
    assert_string_equal(strata_strerror(TLS_EAGAIN),
                        "write queue at its high watermark; wait for on_drain");
    /* Connecting to a closed port reports through on_close. */
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    harness_init(&h, &sc, &cc);
    harness_listen(&h);
    uint16_t port = tls_server_port(h.server);
    tls_server_close(h.server, on_server_closed);
    run_until(&h, &h.server_closed);
    assert_int_equal(tls_server_create(h.sctx, &h.loop, &srv_cbs, &h, &h.server), 0);
    h.server_closed = 0;
    assert_int_equal(tls_conn_connect(h.cctx, &h.loop, "127.0.0.1", port, SERVER_NAME, &end_cbs,
                                      &h.cli, &h.cli.conn),
                     0);
    run_until(&h, &h.cli.closed);
    assert_int_equal(h.cli.close_status, UV_ECONNREFUSED);
    struct tls_conn *none = NULL;
    assert_int_equal(tls_conn_connect(h.cctx, &h.loop, "not-an-ip", port, SERVER_NAME, &end_cbs,
                                      &h.cli, &none),
                     TLS_EINVAL);
    assert_null(none);
    harness_done(&h);
}

/* ---- admission control: handshakes in progress per server ---- */

#define BURST_MAX 64

/* A server with many clients at once. Every server-side connection echoes
 * what it reads; each client writes its index once established. */
struct burst {
    struct harness *h;
    unsigned cap;
    unsigned max_seen;      /* most handshakes in progress seen by a callback */
    int over_cap;           /* a callback saw more than 'cap' */
    int accepted;
    int rejects;
    int reject_status;
    int accepted_at_reject; /* 'accepted' when the first reject came */
    struct tls_conn *srv[BURST_MAX];
    struct end cli[BURST_MAX];
    size_t n;
    int echoed;             /* clients that got their echo back */
    int client_failures;    /* clients closed before the test closed them */
};

/* Connects 'r' (a TCP client that never sends) to the harness's server. */
static void raw_connect(struct harness *h, struct raw_client *r)
{
    uv_tcp_init(&h->loop, &r->tcp);
    r->tcp.data = r;
    r->req.data = r;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", tls_server_port(h->server), &sa);
    assert_int_equal(uv_tcp_connect(&r->req, &r->tcp, (struct sockaddr *)&sa, raw_connected), 0);
}

/* Connects 'r' and runs until the server counts its handshake in progress
 * (it holds a slot). */
static void raw_hold_slot(struct harness *h, struct raw_client *r)
{
    raw_connect(h, r);
    run_until(h, &r->connected);
    while (tls_server_handshakes(h->server) == 0) {
        assert_false(h->guard_fired);
        uv_run(&h->loop, UV_RUN_ONCE);
    }
}

static struct burst *the_burst;

static void burst_note(struct burst *b)
{
    unsigned now = tls_server_handshakes(b->h->server);
    if (now > b->max_seen) {
        b->max_seen = now;
    }
    if (now > b->cap) {
        b->over_cap = 1;
    }
}

static void burst_srv_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    assert_int_equal(tls_conn_write(conn, data, size), 0);
}

static void burst_srv_close(struct tls_conn *conn, int status)
{
}

static const struct tls_conn_callbacks burst_srv_cbs = {
    .on_read = burst_srv_read,
    .on_close = burst_srv_close,
};

static void burst_on_accept(struct tls_server *s, struct tls_conn *conn)
{
    struct burst *b = the_burst;
    burst_note(b);
    assert_true(b->accepted < BURST_MAX);
    b->srv[b->accepted++] = conn;
    tls_conn_set_callbacks(conn, &burst_srv_cbs, b);
}

/* Runs in the middle of each handshake: the connection counts. */
static int burst_authorize(struct tls_server *s, struct tls_conn *conn, const char *identity)
{
    struct burst *b = the_burst;
    burst_note(b);
    assert_true(tls_server_handshakes(s) >= 1);
    return 0;
}

static void burst_on_reject(struct tls_server *s, int status, const char *identity)
{
    struct burst *b = the_burst;
    if (b->rejects++ == 0) {
        b->accepted_at_reject = b->accepted;
        b->reject_status = status;
    }
}

static const struct tls_server_callbacks burst_srv_callbacks = {
    .on_accept = burst_on_accept,
    .authorize = burst_authorize,
    .on_reject = burst_on_reject,
};

static void burst_cli_established(struct tls_conn *conn)
{
    struct end *e = tls_conn_data(conn);
    e->established = 1;
    uint8_t idx = (uint8_t)(e - the_burst->cli);
    assert_int_equal(tls_conn_write(conn, &idx, 1), 0);
}

static void burst_cli_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct end *e = tls_conn_data(conn);
    assert_int_equal(size, 1);
    assert_int_equal(data[0], (uint8_t)(e - the_burst->cli));
    e->rx_total += size;
    the_burst->echoed++;
}

static void burst_cli_close(struct tls_conn *conn, int status)
{
    struct end *e = tls_conn_data(conn);
    e->closed = 1;
    e->close_status = status;
    the_burst->client_failures++;
}

static const struct tls_conn_callbacks burst_cli_cbs = {
    .on_established = burst_cli_established,
    .on_read = burst_cli_read,
    .on_close = burst_cli_close,
};

/* Sets up 'h' with a server whose cap is 'cap' and whose handshake timeout
 * is 'timeout_ms' (0: default), listening. */
static void burst_init(struct burst *b, struct harness *h, unsigned cap, uint64_t timeout_ms,
                       uint64_t contended_ms)
{
    memset(b, 0, sizeof *b);
    b->h = h;
    b->cap = cap;
    the_burst = b;
    struct tls_config sc = server_config(), cc = client_config();
    sc.max_handshakes = cap;
    sc.handshake_timeout_ms = timeout_ms;
    sc.contended_handshake_ms = contended_ms;
    harness_init(h, &sc, &cc);
    tls_server_close(h->server, NULL); /* replaced by one with the burst callbacks */
    uv_run(&h->loop, UV_RUN_NOWAIT);
    assert_int_equal(tls_server_create(h->sctx, &h->loop, &burst_srv_callbacks, h, &h->server), 0);
    harness_listen(h);
}

static void burst_connect(struct burst *b, size_t n)
{
    assert_true(b->n + n <= BURST_MAX);
    for (size_t i = b->n; i < b->n + n; i++) {
        assert_int_equal(tls_conn_connect(b->h->cctx, &b->h->loop, "127.0.0.1",
                                          tls_server_port(b->h->server), SERVER_NAME,
                                          &burst_cli_cbs, &b->cli[i], &b->cli[i].conn),
                         0);
    }
    b->n += n;
}

static void burst_done(struct burst *b)
{
    struct harness *h = b->h;
    for (size_t i = 0; i < b->n; i++) {
        tls_conn_free(b->cli[i].conn);
    }
    for (int i = 0; i < b->accepted; i++) {
        tls_conn_free(b->srv[i]);
    }
    harness_done(h);
}

/* 40 clients connect at once to a server admitting 3 handshakes at a
 * time: never more than 3 are in progress (checked in the middle of every
 * handshake and at every accept), the cap is reached, and every client is
 * served: 40 accepted, none refused, each echo comes back, no client
 * connection fails. */
static void test_admission_cap(void **state)
{
    struct harness h;
    struct burst b;
    burst_init(&b, &h, 3, 0, 0);
    burst_connect(&b, 40);
    while (b.echoed < 40) {
        assert_false(h.guard_fired);
        assert_int_equal(b.client_failures, 0);
        uv_run(&h.loop, UV_RUN_ONCE);
        burst_note(&b);
    }
    assert_int_equal(b.over_cap, 0);
    assert_int_equal(b.max_seen, 3);
    assert_int_equal(b.accepted, 40);
    assert_int_equal(b.rejects, 0);
    assert_int_equal(b.client_failures, 0);
    assert_int_equal(tls_server_handshakes(h.server), 0);
    for (size_t i = 0; i < b.n; i++) {
        assert_int_equal(b.cli[i].established, 1);
        assert_int_equal(b.cli[i].rx_total, 1);
    }
    burst_done(&b);
}

/* Cap 1: a TCP client that never starts its handshake holds the only
 * slot; five TLS clients that connect meanwhile wait in the listen backlog
 * (none is accepted before the silent one times out), and are all served
 * once the slot frees. */
static void test_admission_backlog(void **state)
{
    struct harness h;
    struct burst b;
    burst_init(&b, &h, 1, 300, 0);
    struct raw_client r = {0};
    raw_hold_slot(&h, &r);
    burst_connect(&b, 5);
    while (b.echoed < 5) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
        burst_note(&b);
    }
    assert_int_equal(b.rejects, 1);
    assert_int_equal(b.reject_status, TLS_EHANDSHAKE_TIMEOUT);
    assert_int_equal(b.accepted_at_reject, 0);
    assert_int_equal(b.accepted, 5);
    assert_int_equal(b.over_cap, 0);
    assert_int_equal(b.client_failures, 0);
    run_until(&h, &r.eof);
    uv_close((uv_handle_t *)&r.tcp, NULL);
    burst_done(&b);
}

/* A client that connects and sends nothing, holding the only slot while
 * 5 others wait: it is ended once contended (200 ms), long before its
 * handshake timeout (120 s, past the test's guard), and the 5 are served.
 * Without waiters (the second part) a stalled handshake keeps its slot
 * past the contended time, until its own timeout. */
static void test_admission_evicts_stalled(void **state)
{
    struct harness h;
    struct burst b;
    burst_init(&b, &h, 1, 120000, 200);
    struct raw_client r = {0};
    raw_hold_slot(&h, &r);
    uv_update_time(&h.loop);
    uint64_t t0 = uv_now(&h.loop);
    burst_connect(&b, 5);
    while (b.echoed < 5) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
        burst_note(&b);
    }
    assert_int_equal(b.rejects, 1);
    assert_int_equal(b.reject_status, TLS_EHANDSHAKE_TIMEOUT);
    assert_int_equal(b.accepted_at_reject, 0);
    assert_int_equal(b.accepted, 5);
    assert_int_equal(b.over_cap, 0);
    assert_int_equal(b.client_failures, 0);
    uv_update_time(&h.loop);
    assert_true(uv_now(&h.loop) - t0 < 30000);
    run_until(&h, &r.eof);
    uv_close((uv_handle_t *)&r.tcp, NULL);
    burst_done(&b);
}

static void test_admission_uncontended_keeps_slot(void **state)
{
    struct harness h;
    struct burst b;
    burst_init(&b, &h, 1, 700, 100);
    struct raw_client r = {0};
    uv_update_time(&h.loop);
    uint64_t t0 = uv_now(&h.loop);
    raw_connect(&h, &r);
    while (b.rejects == 0) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    uv_update_time(&h.loop);
    assert_int_equal(b.rejects, 1);
    assert_int_equal(b.reject_status, TLS_EHANDSHAKE_TIMEOUT);
    assert_true(uv_now(&h.loop) - t0 >= 700); /* its own timeout, not the 100 ms */
    run_until(&h, &r.eof);
    uv_close((uv_handle_t *)&r.tcp, NULL);
    burst_done(&b);
}

/* ---- key exchange groups and key types (test hooks: an older peer) ---- */

#ifdef STRATA_TEST_HOOKS

/* Connects a client to a server on 'h' with contexts made from 'sc' and
 * 'cc', each with wolfSSL's default key exchange groups (an older build)
 * when its 'legacy_' flag is set; runs until both ends are verified. */
static void legacy_handshake(struct harness *h, const struct tls_config *sc, const struct tls_config *cc,
                             int legacy_server, int legacy_client)
{
    tls_test_set_legacy_groups(legacy_server);
    struct tls_ctx *sctx;
    char err[256] = "";
    assert_int_equal(tls_ctx_create(sc, &sctx, err, sizeof err), 0);
    tls_test_set_legacy_groups(legacy_client);
    struct tls_ctx *cctx;
    assert_int_equal(tls_ctx_create(cc, &cctx, err, sizeof err), 0);
    tls_test_set_legacy_groups(0);
    /* harness_init makes its own contexts; swap ours in. */
    harness_init(h, sc, cc);
    tls_server_close(h->server, NULL);
    uv_run(&h->loop, UV_RUN_NOWAIT);
    tls_ctx_free(h->sctx);
    tls_ctx_free(h->cctx);
    h->sctx = sctx;
    h->cctx = cctx;
    assert_int_equal(tls_server_create(h->sctx, &h->loop, &srv_cbs, h, &h->server), 0);
    harness_listen(h);
    harness_connect(h, SERVER_NAME);
    run_until(h, &h->cli.established);
    run_until(h, &h->accepted);
}

/* Runs one handshake between 'sc' and 'cc' contexts; returns the group
 * both ends report (they must agree). */
static void expect_group(int legacy_server, int legacy_client, const char *want)
{
    struct harness h;
    struct tls_config sc = server_config(), cc = client_config();
    memset(&h, 0, sizeof h);
    legacy_handshake(&h, &sc, &cc, legacy_server, legacy_client);
    assert_non_null(tls_conn_group(h.cli.conn));
    assert_non_null(tls_conn_group(h.srv.conn));
    assert_string_equal(tls_conn_group(h.cli.conn), tls_conn_group(h.srv.conn));
    if (want) {
        assert_string_equal(tls_conn_group(h.srv.conn), want);
    }
    assert_string_equal(tls_conn_peer_identity(h.srv.conn), CLIENT_NAME);
    assert_string_equal(tls_conn_peer_identity(h.cli.conn), SERVER_NAME);
    assert_int_equal(h.rejects, 0);
    harness_done(&h);
}

/* Current builds agree on X25519; a peer of an older build (wolfSSL's
 * default groups, P-256 key share) still completes a handshake in both
 * directions, and with an older client the group is P-256. */
static void test_key_exchange_groups(void **state)
{
    expect_group(0, 0, "X25519");
    expect_group(0, 1, "SECP256R1");
    expect_group(1, 0, NULL);
    expect_group(1, 1, NULL);
}

/* One handshake between a server and a client, each "old" (a P-256 leaf
 * and wolfSSL's default groups, as builds before Ed25519 and X25519) or
 * "new" (an Ed25519 leaf, current groups), all issued by 'ca_' (a cluster
 * keeps its CA across the upgrade). Both ends must verify each other. */
static void upgrade_pair(const struct pki_cert *ca_, const struct pki_key *ca_key_, int old_server,
                         int old_client)
{
    struct pki_cert *scert, *ccert;
    struct pki_key *skey, *ckey;
    const char *sdns[] = {SERVER_NAME}, *sip[] = {"127.0.0.1"}, *cdns[] = {CLIENT_NAME};
    struct pki_leaf_params sp = {.common_name = "server", .dns_names = sdns, .dns_count = 1,
                                 .ip_addrs = sip, .ip_count = 1, .usage = PKI_USAGE_SERVER,
                                 .days_valid = 2,
                                 .key_type = old_server ? PKI_KEY_P256 : PKI_KEY_DEFAULT};
    struct pki_leaf_params cp = {.common_name = "client", .dns_names = cdns, .dns_count = 1,
                                 .usage = PKI_USAGE_CLIENT, .days_valid = 2,
                                 .key_type = old_client ? PKI_KEY_P256 : PKI_KEY_DEFAULT};
    assert_int_equal(pki_leaf_issue(ca_, ca_key_, &sp, &scert, &skey), 0);
    assert_int_equal(pki_leaf_issue(ca_, ca_key_, &cp, &ccert, &ckey), 0);
    assert_int_equal(pki_key_type(skey), old_server ? PKI_KEY_P256 : PKI_KEY_ED25519);
    struct tls_config sc = server_config(), cc = client_config();
    sc.ca = cc.ca = ca_;
    sc.cert = scert;
    sc.key = skey;
    cc.cert = ccert;
    cc.key = ckey;
    struct harness h;
    legacy_handshake(&h, &sc, &cc, old_server, old_client);
    assert_string_equal(tls_conn_peer_identity(h.srv.conn), CLIENT_NAME);
    assert_string_equal(tls_conn_peer_identity(h.cli.conn), SERVER_NAME);
    assert_string_equal(tls_conn_group(h.srv.conn), old_client ? "SECP256R1" : "X25519");
    assert_int_equal(tls_conn_write(h.cli.conn, "up", 2), 0);
    while (h.srv.rx.size < 2) {
        assert_false(h.guard_fired);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    assert_int_equal(h.rejects, 0);
    harness_done(&h);
    pki_cert_free(scert);
    pki_cert_free(ccert);
    pki_key_free(skey);
    pki_key_free(ckey);
}

/* Rolling upgrade: a cluster's P-256 CA; old and new nodes in every pairing
 * complete mutual TLS in both directions. A new cluster (Ed25519 CA) works
 * with both leaf types too. */
static void test_rolling_upgrade(void **state)
{
    struct pki_cert *old_ca;
    struct pki_key *old_ca_key;
    assert_int_equal(pki_ca_create_type("Old cluster CA", 2, PKI_KEY_P256, &old_ca, &old_ca_key), 0);
    upgrade_pair(old_ca, old_ca_key, 1, 1);
    upgrade_pair(old_ca, old_ca_key, 1, 0);
    upgrade_pair(old_ca, old_ca_key, 0, 1);
    upgrade_pair(old_ca, old_ca_key, 0, 0);
    pki_cert_free(old_ca);
    pki_key_free(old_ca_key);
    assert_int_equal(pki_key_type(ca_key), PKI_KEY_ED25519);
    upgrade_pair(ca, ca_key, 0, 0);
    upgrade_pair(ca, ca_key, 0, 1);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutual_handshake_and_data),
        cmocka_unit_test(test_client_from_other_ca_refused),
        cmocka_unit_test(test_server_from_other_ca_refused),
        cmocka_unit_test(test_wrong_san_refused),
        cmocka_unit_test(test_client_without_cert_refused),
        cmocka_unit_test(test_server_without_client_auth),
        cmocka_unit_test(test_authorize_denies),
        cmocka_unit_test(test_alpn_mismatch_refused),
#ifdef STRATA_TEST_HOOKS
        cmocka_unit_test(test_one_byte_reads),
#endif
        cmocka_unit_test(test_ten_megabytes),
#ifdef STRATA_TEST_HOOKS
        cmocka_unit_test(test_backpressure),
#endif
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_garbage_refused),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_clean_close_delivers_everything),
        cmocka_unit_test(test_listen_fd_and_free_inside_close),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_admission_cap),
        cmocka_unit_test(test_admission_backlog),
        cmocka_unit_test(test_admission_evicts_stalled),
        cmocka_unit_test(test_admission_uncontended_keeps_slot),
#ifdef STRATA_TEST_HOOKS
        cmocka_unit_test(test_key_exchange_groups),
        cmocka_unit_test(test_rolling_upgrade),
#endif
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

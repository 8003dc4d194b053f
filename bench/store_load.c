/* bench/store_load: the load driver of bench/store-vs-etcd. It drives either
 * a Strata store (the binary client protocol of store/proto.h over mutual
 * TLS, one store_pconn per client) or an etcd v3 cluster (native gRPC:
 * HTTP/2 via nghttp2 over the same lib/tls mutual TLS, one HTTP/2
 * connection per client), so both systems see the same client: the same
 * TLS library and cipher preference, one connection and one outstanding
 * request per client, the same keys and values. Clients are spread over
 * the targets round-robin and over 'threads' uv loops (one per thread).
 *
 * One run: connect every client; write distinct keys for 'seconds'
 * (closed loop: each client sends its next put when the previous one is
 * answered); let the writes in flight finish; then linearizable reads of
 * keys the same client wrote, for 'seconds'. For each phase it prints
 *   PHASE ops=N errors=E secs=S ops_per_s=R p50_us=A p99_us=B
 * counting only requests answered inside the window. Benchmarks are not
 * tests: nothing here asserts a speed. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <nghttp2/nghttp2.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include "appliance/pkiset.h"
#include "store/proto.h"

#define TARGETS_MAX 8
#define THREADS_MAX 16
#define KEY_MAX 64
#define VALUE_MAX 65536

enum system { SYS_STRATA, SYS_ETCD };
enum phase { PH_CONNECT, PH_PUT, PH_GET, PH_DRAIN };

struct opts {
    enum system sys;
    const char *targets[TARGETS_MAX]; /* strata: NAME@HOST:PORT; etcd: HOST:PORT */
    int targets_len;
    const char *pki;
    const char *cert;
    int clients;
    int threads;
    double seconds;
    size_t value_size;
    const char *tag;
    const char *slow_log; /* writes at or over slow_us go here, with their wall-clock times */
    uint64_t slow_us;
};

static struct opts opt = {.clients = 1, .threads = 1, .seconds = 5, .value_size = 256, .tag = "run", .slow_us = 5000};
static uint8_t value[VALUE_MAX];
static pthread_barrier_t barrier;
static FILE *slow_file;

/* Latencies in microseconds, growable. */
struct lat {
    uint32_t *v;
    size_t len, cap;
};

static void lat_add(struct lat *l, uint64_t us)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 65536;
        uint32_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            return; /* the sample is lost; the count is not */
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

struct worker;
struct h2conn;

struct client {
    struct worker *w;
    int idx;    /* global client number */
    int target; /* index into opt.targets */
    bool ready;
    bool inflight;
    bool is_get;
    uint64_t seq;     /* next key to write */
    uint64_t written; /* keys acknowledged */
    uint64_t rseq;    /* next key to read */
    uint64_t sent_ns;
    struct store_pconn *pc; /* strata */
    struct h2conn *h2;      /* etcd */
    struct buf req;
};

struct phase_stats {
    uint64_t ops, errors, bad_reply;
    struct lat lat;
};

struct worker {
    int idx;
    pthread_t thread;
    uv_loop_t loop;
    struct tls_ctx *tls;
    struct client *clients;
    int clients_len;
    int ready, closed, inflight;
    enum phase phase;
    uint64_t window_end_ns;
    uv_timer_t timer;
    struct phase_stats put, get;
    uint64_t put_ns, get_ns; /* measured window lengths */
    int failed;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int key_of(const struct client *c, uint64_t seq, char *out)
{
    return snprintf(out, KEY_MAX, "bench/%s/%d/%llu", opt.tag, c->idx, (unsigned long long)seq);
}

static void client_send(struct client *c);

/* ---- completion, common to both systems ---- */

static void client_done(struct client *c, bool ok, bool good_reply)
{
    struct worker *w = c->w;
    uint64_t t = now_ns();
    c->inflight = false;
    w->inflight--;
    struct phase_stats *ps = c->is_get ? &w->get : &w->put;
    if (t <= w->window_end_ns && (w->phase == PH_PUT || w->phase == PH_GET)) {
        if (!ok) {
            ps->errors++;
        } else if (!good_reply) {
            ps->bad_reply++;
        } else {
            ps->ops++;
            uint64_t us = (t - c->sent_ns) / 1000;
            lat_add(&ps->lat, us);
            if (slow_file && us >= opt.slow_us) {
                /* The wall-clock send time, to line up with a trace of the
                 * servers (strace -ttt, perf). */
                struct timespec rt;
                clock_gettime(CLOCK_REALTIME, &rt);
                double sent = (double)rt.tv_sec + (double)rt.tv_nsec / 1e9 - (double)us / 1e6;
                fprintf(slow_file, "%s %s client=%d target=%s sent=%.6f us=%llu\n", opt.tag,
                        c->is_get ? "get" : "put", c->idx, opt.targets[c->target], sent,
                        (unsigned long long)us);
            }
        }
    }
    if (ok && !c->is_get) {
        c->written = c->seq;
    }
    if (w->phase == PH_DRAIN && w->inflight == 0) {
        uv_stop(&w->loop);
        return;
    }
    client_send(c);
}

/* ---- Strata: store_pconn ---- */

static void s_on_frame(struct store_pconn *pc, const struct store_frame *f)
{
    struct client *c = store_pconn_data(pc);
    if (!c->inflight || f->id != c->seq + c->rseq) {
        return;
    }
    bool good = f->status == 0;
    if (good && c->is_get) {
        struct store_reply r;
        good = store_reply_decode(&r, f->body, f->body_size) == 0;
        if (good) {
            good = r.results_len == 1 && r.results[0].kvs_len == 1 &&
                   r.results[0].kvs[0].value_size == opt.value_size;
            store_reply_destroy(&r);
        }
    }
    client_done(c, f->status == 0, good);
}

static void s_on_ready(struct store_pconn *pc)
{
    struct client *c = store_pconn_data(pc);
    c->ready = true;
    if (++c->w->ready == c->w->clients_len) {
        uv_stop(&c->w->loop);
    }
}

static void s_on_close(struct store_pconn *pc, int status)
{
    struct client *c = store_pconn_data(pc);
    c->pc = NULL;
    c->w->closed++;
    if (c->w->phase != PH_DRAIN || c->inflight) {
        fprintf(stderr, "store_load: client %d lost its connection: %s\n", c->idx,
                strata_strerror(status));
        c->w->failed = 1;
        uv_stop(&c->w->loop);
    }
}

static const struct store_pconn_callbacks s_cbs = {
    .on_frame = s_on_frame,
    .on_ready = s_on_ready,
    .on_close = s_on_close,
};

static int s_send(struct client *c, const char *key, size_t key_size)
{
    int rc;
    buf_reset(&c->req);
    if (c->is_get) {
        struct store_keysel sel = store_sel_key(key, (uint32_t)key_size);
        rc = store_cmd_encode_range(&c->req, &sel, 0, 0);
    } else {
        rc = store_cmd_encode_put(&c->req, key, (uint32_t)key_size, value, (uint32_t)opt.value_size, 0);
    }
    if (rc == 0) {
        rc = store_pconn_send(c->pc, STORE_MSG_CMD, 0, c->seq + c->rseq, 0, c->req.data, c->req.size);
    }
    return rc;
}

/* ---- etcd: gRPC over HTTP/2 over TLS ---- */

struct h2conn {
    struct client *c;
    struct tls_conn *tls;
    nghttp2_session *s;
    char authority[64];
    size_t body_off;
    int http_status;
    int grpc_status;
    size_t resp_size;
    bool closing;
    bool in_recv; /* inside nghttp2_session_mem_recv: h2_on_read flushes */
};

static int h2_flush(struct h2conn *h)
{
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->s, &data);
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            return 0;
        }
        if (tls_conn_write(h->tls, data, (size_t)n) != 0) {
            return -1;
        }
    }
}

static void h2_fail(struct h2conn *h, const char *why)
{
    struct client *c = h->c;
    fprintf(stderr, "store_load: client %d: %s\n", c->idx, why);
    c->w->failed = 1;
    uv_stop(&c->w->loop);
    if (!h->closing) {
        h->closing = true;
        tls_conn_close(h->tls);
    }
}

static ssize_t h2_body_read(nghttp2_session *s, int32_t stream, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
    struct h2conn *h = user;
    struct buf *b = &h->c->req;
    size_t n = b->size - h->body_off;
    if (n > length) {
        n = length;
    }
    memcpy(buf, b->data + h->body_off, n);
    h->body_off += n;
    if (h->body_off == b->size) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)n;
}

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                        size_t namelen, const uint8_t *val, size_t valuelen, uint8_t flags, void *user)
{
    struct h2conn *h = user;
    char v[16];
    if (valuelen >= sizeof v) {
        return 0;
    }
    memcpy(v, val, valuelen);
    v[valuelen] = '\0';
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        h->http_status = atoi(v);
    } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        h->grpc_status = atoi(v);
    }
    return 0;
}

static int h2_on_data(nghttp2_session *s, uint8_t flags, int32_t stream, const uint8_t *data,
                      size_t len, void *user)
{
    struct h2conn *h = user;
    h->resp_size += len;
    return 0;
}

static int h2_on_stream_close(nghttp2_session *s, int32_t stream, uint32_t error_code, void *user)
{
    struct h2conn *h = user;
    struct client *c = h->c;
    if (!c->inflight) {
        return 0;
    }
    bool ok = error_code == 0 && h->http_status == 200 && h->grpc_status == 0;
    /* 5-byte gRPC prefix, then a response header; a RangeResponse carries
     * the key-value, so it is longer than the value. */
    bool good = ok && h->resp_size > 5 && (!c->is_get || h->resp_size > opt.value_size);
    client_done(c, ok, good);
    return 0;
}

static void h2_on_established(struct tls_conn *conn)
{
    struct h2conn *h = tls_conn_data(conn);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, 2) != 0 || h2_flush(h) != 0) {
        h2_fail(h, "HTTP/2 settings");
        return;
    }
    struct client *c = h->c;
    c->ready = true;
    if (c->idx == 0) {
        printf("tls cipher=%s alpn=%s\n", tls_conn_cipher(conn) ?: "?", tls_conn_alpn(conn) ?: "-");
    }
    if (++c->w->ready == c->w->clients_len) {
        uv_stop(&c->w->loop);
    }
}

static void h2_on_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct h2conn *h = tls_conn_data(conn);
    h->in_recv = true;
    ssize_t n = nghttp2_session_mem_recv(h->s, data, size);
    h->in_recv = false;
    if (n < 0 || (size_t)n != size) {
        h2_fail(h, "HTTP/2 protocol error from the server");
        return;
    }
    if (!h->closing && h2_flush(h) != 0) {
        h2_fail(h, "HTTP/2 write");
    }
}

static void h2_on_close(struct tls_conn *conn, int status)
{
    struct h2conn *h = tls_conn_data(conn);
    struct client *c = h->c;
    c->w->closed++;
    if (c->w->phase != PH_DRAIN || c->inflight) {
        fprintf(stderr, "store_load: client %d lost its connection: %s\n", c->idx,
                strata_strerror(status));
        c->w->failed = 1;
        uv_stop(&c->w->loop);
    }
    nghttp2_session_del(h->s);
    tls_conn_free(conn);
    c->h2 = NULL;
    free(h);
}

static const struct tls_conn_callbacks h2_cbs = {
    .on_established = h2_on_established,
    .on_read = h2_on_read,
    .on_close = h2_on_close,
};

static int h2_connect(struct client *c, const char *target)
{
    char host[64];
    const char *colon = strrchr(target, ':');
    if (!colon || (size_t)(colon - target) >= sizeof host) {
        return -1;
    }
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    struct h2conn *h = calloc(1, sizeof *h);
    if (!h) {
        return -1;
    }
    h->c = c;
    snprintf(h->authority, sizeof h->authority, "%s", target);
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        free(h);
        return -1;
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_on_stream_close);
    int rc = nghttp2_session_client_new(&h->s, cbs, h);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
        free(h);
        return -1;
    }
    rc = tls_conn_connect(c->w->tls, &c->w->loop, host, (uint16_t)atoi(colon + 1), host, &h2_cbs,
                          h, &h->tls);
    if (rc != 0) {
        nghttp2_session_del(h->s);
        free(h);
        return -1;
    }
    c->h2 = h;
    return 0;
}

static int pb_put_varint(struct buf *b, uint64_t v)
{
    int rc = 0;
    while (v >= 0x80 && rc == 0) {
        rc = buf_put_u8(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    return rc ? rc : buf_put_u8(b, (uint8_t)v);
}

/* Appends protobuf field 'field' of wire type 2 (bytes). */
static int pb_put_bytes(struct buf *b, unsigned field, const void *data, size_t size)
{
    int rc = pb_put_varint(b, (uint64_t)field << 3 | 2);
    if (rc == 0) rc = pb_put_varint(b, size);
    if (rc == 0) rc = buf_put(b, data, size);
    return rc;
}

/* etcdserverpb.PutRequest{key=1, value=2} or RangeRequest{key=1} (linearizable:
 * serializable=7 left false), framed as one uncompressed gRPC message. */
static int h2_send(struct client *c, const char *key, size_t key_size)
{
    struct h2conn *h = c->h2;
    struct buf *b = &c->req;
    buf_reset(b);
    int rc = buf_put_u8(b, 0);
    if (rc == 0) rc = buf_put_u32(b, 0); /* length, filled below */
    if (rc == 0) rc = pb_put_bytes(b, 1, key, key_size);
    if (rc == 0 && !c->is_get) rc = pb_put_bytes(b, 2, value, opt.value_size);
    if (rc != 0) {
        return rc;
    }
    be32_store(b->data + 1, (uint32_t)(b->size - 5));
    const char *path = c->is_get ? "/etcdserverpb.KV/Range" : "/etcdserverpb.KV/Put";
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NO_COPY_NAME}
    nghttp2_nv hdrs[] = {
        NV(":method", "POST"),
        NV(":scheme", "https"),
        NV(":path", path),
        NV(":authority", h->authority),
        NV("content-type", "application/grpc"),
        NV("te", "trailers"),
    };
#undef NV
    nghttp2_data_provider dp = {.read_callback = h2_body_read};
    h->body_off = 0;
    h->http_status = 0;
    h->grpc_status = -1;
    h->resp_size = 0;
    if (nghttp2_submit_request(h->s, NULL, hdrs, sizeof hdrs / sizeof hdrs[0], &dp, h) < 0) {
        return -1;
    }
    return h->in_recv ? 0 : h2_flush(h); /* nghttp2 forbids sending from its callbacks */
}

/* ---- the closed loop ---- */

static void client_send(struct client *c)
{
    struct worker *w = c->w;
    if (w->phase != PH_PUT && w->phase != PH_GET) {
        return;
    }
    char key[KEY_MAX];
    int size;
    c->is_get = w->phase == PH_GET;
    if (c->is_get) {
        if (c->written == 0) {
            return; /* this client wrote nothing to read back */
        }
        size = key_of(c, c->rseq % c->written, key);
        c->rseq++;
    } else {
        size = key_of(c, c->seq, key);
        c->seq++;
    }
    c->inflight = true;
    w->inflight++;
    c->sent_ns = now_ns();
    int rc = opt.sys == SYS_STRATA ? s_send(c, key, (size_t)size) : h2_send(c, key, (size_t)size);
    if (rc != 0) {
        fprintf(stderr, "store_load: client %d: send failed (%d)\n", c->idx, rc);
        c->inflight = false;
        w->inflight--;
        w->failed = 1;
        uv_stop(&w->loop);
    }
}

static void window_cb(uv_timer_t *t)
{
    struct worker *w = t->data;
    w->phase = PH_DRAIN;
    if (w->inflight == 0) {
        uv_stop(&w->loop);
    }
}

/* Runs one phase on this worker: all clients start, the window closes after
 * opt.seconds, the loop returns once nothing is in flight. */
static void worker_phase(struct worker *w, enum phase ph)
{
    pthread_barrier_wait(&barrier);
    uint64_t start = now_ns();
    w->window_end_ns = start + (uint64_t)(opt.seconds * 1e9);
    w->phase = ph;
    for (int i = 0; i < w->clients_len; i++) {
        client_send(&w->clients[i]);
    }
    uv_update_time(&w->loop); /* the loop's clock is stale after the barrier */
    uv_timer_start(&w->timer, window_cb, (uint64_t)(opt.seconds * 1000), 0);
    if (!w->failed) {
        uv_run(&w->loop, UV_RUN_DEFAULT);
    }
    uint64_t len = (now_ns() < w->window_end_ns ? now_ns() : w->window_end_ns) - start;
    if (ph == PH_PUT) {
        w->put_ns = len;
    } else {
        w->get_ns = len;
    }
    w->phase = PH_DRAIN;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->clients_len; i++) {
        struct client *c = &w->clients[i];
        const char *target = opt.targets[c->target];
        int rc = opt.sys == SYS_STRATA
                     ? store_pconn_connect(&w->loop, w->tls, target, &s_cbs, c, &c->pc)
                     : h2_connect(c, target);
        if (rc != 0) {
            fprintf(stderr, "store_load: cannot connect to %s\n", target);
            w->failed = 1;
        }
    }
    if (!w->failed) {
        uv_run(&w->loop, UV_RUN_DEFAULT);
    }
    if (w->ready != w->clients_len) {
        w->failed = 1;
    }
    worker_phase(w, PH_PUT);
    worker_phase(w, PH_GET);
    pthread_barrier_wait(&barrier);
    w->phase = PH_DRAIN;
    for (int i = 0; i < w->clients_len; i++) {
        struct client *c = &w->clients[i];
        if (c->pc) {
            store_pconn_close(c->pc);
        }
        if (c->h2 && !c->h2->closing) {
            c->h2->closing = true;
            tls_conn_close(c->h2->tls);
        }
    }
    uv_close((uv_handle_t *)&w->timer, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
#ifdef FP_ECC
    wc_ecc_fp_free(); /* wolfSSL's per-thread ECC point cache */
#endif
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, struct worker *ws, bool get)
{
    struct lat all = {0};
    uint64_t ops = 0, errors = 0, bad = 0, ns = 0;
    for (int t = 0; t < opt.threads; t++) {
        struct phase_stats *ps = get ? &ws[t].get : &ws[t].put;
        ops += ps->ops;
        errors += ps->errors;
        bad += ps->bad_reply;
        uint64_t len = get ? ws[t].get_ns : ws[t].put_ns;
        ns = len > ns ? len : ns;
        for (size_t i = 0; i < ps->lat.len; i++) {
            lat_add(&all, ps->lat.v[i]);
        }
    }
    qsort(all.v, all.len, sizeof *all.v, cmp_u32);
    double secs = (double)ns / 1e9;
    uint32_t p50 = all.len ? all.v[all.len / 2] : 0;
    uint32_t p99 = all.len ? all.v[(all.len * 99) / 100] : 0;
    uint32_t p999 = all.len ? all.v[(all.len * 999) / 1000] : 0;
    uint32_t max = all.len ? all.v[all.len - 1] : 0;
    printf("%s ops=%llu errors=%llu bad_replies=%llu secs=%.2f ops_per_s=%.0f p50_us=%u p99_us=%u"
           " p999_us=%u max_us=%u\n",
           name, (unsigned long long)ops, (unsigned long long)errors, (unsigned long long)bad, secs,
           secs > 0 ? (double)ops / secs : 0.0, p50, p99, p999, max);
    /* The latency histogram: how many requests took under each bound (ms),
     * so a tail is seen as a count of slow requests, not one percentile. */
    static const uint32_t bounds_us[] = {500, 1000, 2000, 3000, 5000, 10000, 20000, 50000, 100000};
    size_t nb = sizeof bounds_us / sizeof bounds_us[0];
    size_t counts[sizeof bounds_us / sizeof bounds_us[0] + 1] = {0};
    for (size_t i = 0, b = 0; i < all.len; i++) {
        while (b < nb && all.v[i] >= bounds_us[b]) {
            b++;
        }
        counts[b]++;
    }
    printf("%s-hist", name);
    for (size_t b = 0; b <= nb; b++) {
        if (b < nb) {
            printf(" lt%gms=%zu", bounds_us[b] / 1000.0, counts[b]);
        } else {
            printf(" ge%gms=%zu", bounds_us[nb - 1] / 1000.0, counts[b]);
        }
    }
    printf("\n");
    free(all.v);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: store_load --system strata|etcd --target T [--target T...] --pki DIR\n"
            "       --cert NAME [--clients N] [--threads N] [--seconds S] [--value-size B]\n"
            "       [--tag TAG] [--slow-log FILE --slow-us US]\n"
            "       store_load --issue NAME --ip IP [--ip IP...] --pki DIR\n"
            "  strata targets are NAME@HOST:PORT (the client port), etcd targets HOST:PORT;\n"
            "  --issue makes DIR/NAME.pem and .key (server and client use) with these IP SANs;\n"
            "  --slow-log appends each request of at least US microseconds (default 5000)\n"
            "  with its wall-clock send time to FILE\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"system", required_argument, NULL, 's'},  {"target", required_argument, NULL, 't'},
        {"pki", required_argument, NULL, 'p'},     {"cert", required_argument, NULL, 'c'},
        {"clients", required_argument, NULL, 'n'}, {"threads", required_argument, NULL, 'T'},
        {"seconds", required_argument, NULL, 'd'}, {"value-size", required_argument, NULL, 'v'},
        {"tag", required_argument, NULL, 'g'},     {"issue", required_argument, NULL, 'I'},
        {"ip", required_argument, NULL, 'P'},      {"slow-log", required_argument, NULL, 'L'},
        {"slow-us", required_argument, NULL, 'U'}, {NULL, 0, NULL, 0},
    };
    const char *issue = NULL, *ips[TARGETS_MAX];
    size_t ips_len = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 's':
            if (strcmp(optarg, "strata") == 0) {
                opt.sys = SYS_STRATA;
            } else if (strcmp(optarg, "etcd") == 0) {
                opt.sys = SYS_ETCD;
            } else {
                return usage();
            }
            break;
        case 't':
            if (opt.targets_len == TARGETS_MAX) {
                return usage();
            }
            opt.targets[opt.targets_len++] = optarg;
            break;
        case 'p':
            opt.pki = optarg;
            break;
        case 'c':
            opt.cert = optarg;
            break;
        case 'n':
            opt.clients = atoi(optarg);
            break;
        case 'T':
            opt.threads = atoi(optarg);
            break;
        case 'd':
            opt.seconds = atof(optarg);
            break;
        case 'v':
            opt.value_size = (size_t)atol(optarg);
            break;
        case 'g':
            opt.tag = optarg;
            break;
        case 'L':
            opt.slow_log = optarg;
            break;
        case 'U':
            opt.slow_us = strtoull(optarg, NULL, 10);
            break;
        case 'I':
            issue = optarg;
            break;
        case 'P':
            if (ips_len == TARGETS_MAX) {
                return usage();
            }
            ips[ips_len++] = optarg;
            break;
        default:
            return usage();
        }
    }
    if (issue) {
        /* etcd checks a peer's client certificate IP SANs against the
         * connection's source address, which is 127.0.0.1 for every member
         * on loopback: its members get certificates naming all three. */
        char msg[512];
        if (!opt.pki || ips_len == 0) {
            return usage();
        }
        wolfSSL_Init();
        int rc = pkiset_issue(opt.pki, issue, PKI_ROLE_NODE, ips, ips_len, msg, sizeof msg);
        wolfSSL_Cleanup();
        if (rc != 0) {
            fprintf(stderr, "store_load: issue %s: %s\n", issue, msg);
            return 1;
        }
        return 0;
    }
    if (!opt.targets_len || !opt.pki || !opt.cert || opt.clients < 1 || opt.threads < 1 ||
        opt.threads > THREADS_MAX || opt.threads > opt.clients || opt.seconds <= 0 ||
        opt.value_size > VALUE_MAX) {
        return usage();
    }
    signal(SIGPIPE, SIG_IGN);
    if (opt.slow_log && !(slow_file = fopen(opt.slow_log, "a"))) {
        fprintf(stderr, "store_load: cannot open %s\n", opt.slow_log);
        return 1;
    }
    wolfSSL_Init();
    for (size_t i = 0; i < opt.value_size; i++) {
        value[i] = (uint8_t)('a' + (i * 7) % 26);
    }
    struct pkiset set;
    char err[512];
    if (pkiset_load(&set, opt.pki, opt.cert, err, sizeof err) != 0) {
        fprintf(stderr, "store_load: %s\n", err);
        return 1;
    }
    struct worker *ws = calloc((size_t)opt.threads, sizeof *ws);
    struct client *cs = calloc((size_t)opt.clients, sizeof *cs);
    if (!ws || !cs) {
        return 1;
    }
    pthread_barrier_init(&barrier, NULL, (unsigned)opt.threads);
    int rc = 0;
    for (int t = 0; t < opt.threads; t++) {
        struct worker *w = &ws[t];
        w->idx = t;
        uv_loop_init(&w->loop);
        uv_timer_init(&w->loop, &w->timer);
        w->timer.data = w;
        if (pkiset_tls(&set, TLS_ROLE_CLIENT, opt.sys == SYS_STRATA ? STORE_PROTO_ALPN : "h2",
                       &w->tls, err, sizeof err) != 0) {
            fprintf(stderr, "store_load: %s\n", err);
            return 1;
        }
        /* clients t, t + threads, ... */
        w->clients = &cs[t];
        w->clients_len = 0;
    }
    /* Give each worker a contiguous slice so its clients are one array. */
    int per = opt.clients / opt.threads, extra = opt.clients % opt.threads, at = 0;
    for (int t = 0; t < opt.threads; t++) {
        ws[t].clients = &cs[at];
        ws[t].clients_len = per + (t < extra);
        for (int i = 0; i < ws[t].clients_len; i++) {
            struct client *c = &cs[at + i];
            c->w = &ws[t];
            c->idx = at + i;
            c->target = (at + i) % opt.targets_len;
            buf_init(&c->req, 0);
        }
        at += ws[t].clients_len;
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    for (int t = 0; t < opt.threads; t++) {
        pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]);
    }
    for (int t = 0; t < opt.threads; t++) {
        pthread_join(ws[t].thread, NULL);
        rc |= ws[t].failed;
    }
    getrusage(RUSAGE_SELF, &ru1);
    report("put", ws, false);
    report("get", ws, true);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                          ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                          ru0.ru_stime.tv_usec) / 1e6;
    printf("client cpu_s=%.2f threads=%d clients=%d\n", cpu, opt.threads, opt.clients);
    for (int t = 0; t < opt.threads; t++) {
        uv_loop_close(&ws[t].loop);
        tls_ctx_free(ws[t].tls);
        free(ws[t].put.lat.v);
        free(ws[t].get.lat.v);
    }
    for (int i = 0; i < opt.clients; i++) {
        buf_destroy(&cs[i].req);
    }
    free(cs);
    free(ws);
    pthread_barrier_destroy(&barrier);
    pkiset_destroy(&set);
    wolfSSL_Cleanup();
    if (slow_file && fclose(slow_file) != 0) {
        rc = 1;
    }
    return rc ? 1 : 0;
}

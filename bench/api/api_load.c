/* bench/api/api_load: the load driver of bench/api-vs-ovn. It creates N
 * networks with M ports each, either through Strata's REST API (HTTPS on
 * lib/tls, bearer token, HTTP/1.1 keep-alive, responses parsed by
 * http-parser) or in OVN's northbound database (OVSDB JSON-RPC "transact"
 * over TCP, the same insert + mutate transaction ovn-nbctl ls-add/lsp-add
 * commits), so both systems see the same client: K connections spread
 * round-robin over the targets on one libuv loop, one request outstanding
 * per connection (a closed loop: a connection sends its next create when
 * the previous one is answered), one create per request/transaction.
 *
 * Phase 1 creates the N networks (virtual-network / Logical_Switch), phase
 * 2 the N*M ports (virtual-machine-interface referring to its network /
 * Logical_Switch_Port inserted into its switch's ports), network-major.
 * It prints one line per phase and a total:
 *   PHASE creates=C errors=E secs=S creates_per_s=R p50_us=A p99_us=B
 * A 503 (Strata: no quorum, lost races) is retried on the same connection
 * up to RETRY_MAX times and then counted as an error, as is every other
 * non-201 answer or OVSDB error. Benchmarks are not tests: nothing here
 * asserts a speed. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>
#include <jansson.h>
#include <uv.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "lib/pki.h"
#include "lib/tls.h"

#define TARGETS_MAX 8
#define CONNS_MAX 1024
#define RETRY_MAX 20
#define UUID_MAX 40
#define REQ_MAX 1024

enum mode { MODE_HTTP, MODE_OVSDB };
enum phase { PH_NETS, PH_PORTS, PH_DONE };

struct target {
    char host[64];
    uint16_t port;
};

struct opts {
    enum mode mode;
    struct target targets[TARGETS_MAX];
    int targets_len;
    const char *ca;
    char token[128];
    const char *project_uuid; /* http: parent of everything */
    const char *project_name;
    int conns;
    long nets;
    long ports;
    const char *tag;
    double timeout_s;
};

static struct opts opt = {.conns = 32, .nets = 10, .ports = 10, .tag = "run", .timeout_s = 300};

/* Latencies in microseconds, growable. */
struct lat {
    uint32_t *v;
    size_t len, cap;
};

static void lat_add(struct lat *l, uint64_t us)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        uint32_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Run state shared by every connection. */
static struct {
    uv_loop_t loop;
    uv_timer_t deadline;
    struct tls_ctx *tls;
    enum phase phase;
    long next;      /* next item of the phase to hand out */
    long total;     /* items in the phase */
    long done;      /* items answered (created or failed) */
    long errors;
    char (*net_uuid)[UUID_MAX]; /* per network, from phase 1 */
    uint64_t phase_start;
    struct lat lat;
    long sum_creates, sum_errors;
    double sum_secs;
    int failed; /* fatal: stop */
} run;

struct conn {
    int idx;
    const struct target *t;
    /* http */
    struct tls_conn *tls;
    http_parser parser;
    http_parser_settings settings;
    int status;
    bool complete;
    bool closing;
    /* ovsdb */
    uv_tcp_t tcp;
    uv_connect_t connect;
    char *rbuf;
    size_t rlen, rcap;
    /* both */
    long item; /* in flight, -1 none */
    int tries;
    uint64_t sent_ns;
    char body[4096];
    size_t body_len;
    char req[REQ_MAX + 4096];
    size_t req_len;
    uint64_t rpc_id;
};

static struct conn conns[CONNS_MAX];

static void fatal(const char *what)
{
    fprintf(stderr, "api_load: %s\n", what);
    run.failed = 1;
    uv_stop(&run.loop);
}

static void phase_begin(enum phase ph);
static void conn_next(struct conn *c);

/* ---- the work ---- */

/* Writes the request for 'item' of the current phase into c->req. */
static void build_request(struct conn *c, long item)
{
    char name[128];
    const char *body;
    char buf[1024];
    if (run.phase == PH_NETS) {
        snprintf(name, sizeof name, "%s-vn-%ld", opt.tag, item);
    } else {
        snprintf(name, sizeof name, "%s-vn-%ld-p-%ld", opt.tag, item / opt.ports, item % opt.ports);
    }
    if (opt.mode == MODE_HTTP) {
        const char *path;
        if (run.phase == PH_NETS) {
            path = "/virtual-networks";
            snprintf(buf, sizeof buf,
                     "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"%s\", \"%s\"], "
                     "\"parent_type\": \"project\"}}",
                     opt.project_name, name);
        } else {
            path = "/virtual-machine-interfaces";
            snprintf(buf, sizeof buf,
                     "{\"virtual-machine-interface\": {\"fq_name\": [\"default-domain\", \"%s\", \"%s\"], "
                     "\"parent_type\": \"project\", \"virtual_network_refs\": [{\"uuid\": \"%s\"}]}}",
                     opt.project_name, name, run.net_uuid[item / opt.ports]);
        }
        body = buf;
        c->req_len = (size_t)snprintf(c->req, sizeof c->req,
                                      "POST %s HTTP/1.1\r\nHost: %s:%u\r\nAuthorization: Bearer %s\r\n"
                                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                      path, c->t->host, c->t->port, opt.token, strlen(body), body);
    } else {
        c->rpc_id++;
        if (run.phase == PH_NETS) {
            c->req_len = (size_t)snprintf(
                c->req, sizeof c->req,
                "{\"method\":\"transact\",\"id\":%llu,\"params\":[\"OVN_Northbound\","
                "{\"op\":\"insert\",\"table\":\"Logical_Switch\",\"row\":{\"name\":\"%s\"}}]}",
                (unsigned long long)c->rpc_id, name);
        } else {
            c->req_len = (size_t)snprintf(
                c->req, sizeof c->req,
                "{\"method\":\"transact\",\"id\":%llu,\"params\":[\"OVN_Northbound\","
                "{\"op\":\"insert\",\"table\":\"Logical_Switch_Port\",\"row\":{\"name\":\"%s\"},"
                "\"uuid-name\":\"np\"},"
                "{\"op\":\"mutate\",\"table\":\"Logical_Switch\",\"where\":[[\"_uuid\",\"==\",[\"uuid\",\"%s\"]]],"
                "\"mutations\":[[\"ports\",\"insert\",[\"set\",[[\"named-uuid\",\"np\"]]]]]}]}",
                (unsigned long long)c->rpc_id, name, run.net_uuid[item / opt.ports]);
        }
    }
}

/* The answer to c->item: 'ok', and the new object's uuid when known. */
static void item_done(struct conn *c, bool ok, const char *uuid)
{
    uint64_t now = uv_hrtime();
    if (ok) {
        lat_add(&run.lat, (now - c->sent_ns) / 1000);
        if (run.phase == PH_NETS && uuid) {
            snprintf(run.net_uuid[c->item], UUID_MAX, "%s", uuid);
        }
    } else {
        run.errors++;
        if (run.phase == PH_NETS) {
            fprintf(stderr, "api_load: network %ld not created; its ports will fail\n", c->item);
        }
    }
    c->item = -1;
    c->tries = 0;
    run.done++;
    if (run.done == run.total) {
        phase_begin(run.phase + 1);
    }
}

static void phase_end(void)
{
    uint64_t now = uv_hrtime();
    double secs = (double)(now - run.phase_start) / 1e9;
    long ok = run.total - run.errors;
    qsort(run.lat.v, run.lat.len, sizeof *run.lat.v, cmp_u32);
    uint32_t p50 = run.lat.len ? run.lat.v[run.lat.len / 2] : 0;
    uint32_t p99 = run.lat.len ? run.lat.v[run.lat.len * 99 / 100] : 0;
    printf("%s creates=%ld errors=%ld secs=%.3f creates_per_s=%.0f p50_us=%u p99_us=%u\n",
           run.phase == PH_NETS ? "networks" : "ports", ok, run.errors, secs,
           secs > 0 ? (double)ok / secs : 0, p50, p99);
    run.sum_creates += ok;
    run.sum_errors += run.errors;
    run.sum_secs += secs;
    run.lat.len = 0;
}

static void phase_begin(enum phase ph)
{
    if (run.phase != ph) {
        phase_end();
    }
    run.phase = ph;
    run.next = 0;
    run.done = 0;
    run.errors = 0;
    run.total = ph == PH_NETS ? opt.nets : ph == PH_PORTS ? opt.nets * opt.ports : 0;
    run.phase_start = uv_hrtime();
    if (ph == PH_DONE || run.total == 0) {
        if (ph != PH_DONE) {
            phase_begin(ph + 1);
            return;
        }
        printf("total creates=%ld errors=%ld secs=%.3f creates_per_s=%.0f\n", run.sum_creates,
               run.sum_errors, run.sum_secs,
               run.sum_secs > 0 ? (double)run.sum_creates / run.sum_secs : 0);
        uv_stop(&run.loop);
        return;
    }
    for (int i = 0; i < opt.conns; i++) {
        if (conns[i].item < 0) {
            conn_next(&conns[i]);
        }
    }
}

/* ---- HTTPS ---- */

static int on_status(http_parser *p, const char *at, size_t len)
{
    (void)at;
    (void)len;
    struct conn *c = p->data;
    c->status = p->status_code;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (c->body_len + len < sizeof c->body) {
        memcpy(c->body + c->body_len, at, len);
        c->body_len += len;
    }
    return 0;
}

static int on_complete(http_parser *p)
{
    struct conn *c = p->data;
    c->status = p->status_code;
    c->complete = true;
    c->closing = !http_should_keep_alive(p);
    return 0;
}

static void http_connect(struct conn *c);

static void http_send(struct conn *c)
{
    c->body_len = 0;
    c->complete = false;
    c->sent_ns = uv_hrtime();
    if (tls_conn_write(c->tls, c->req, c->req_len) != 0) {
        fatal("TLS write refused");
    }
}

static void http_answer(struct conn *c)
{
    int st = c->status;
    if (st == 503 && ++c->tries < RETRY_MAX) {
        http_send(c);
        return;
    }
    if (st == 201) {
        c->body[c->body_len] = '\0';
        const char *uuid = NULL;
        json_t *doc = NULL;
        if (run.phase == PH_NETS) {
            doc = json_loads(c->body, 0, NULL);
            uuid = json_string_value(json_object_get(json_object_get(doc, "virtual-network"), "uuid"));
        }
        item_done(c, true, uuid);
        json_decref(doc);
    } else {
        c->body[c->body_len] = '\0';
        if (run.errors < 5) {
            fprintf(stderr, "api_load: HTTP %d: %.300s\n", st, c->body);
        }
        item_done(c, false, NULL);
    }
}

static void http_on_read(struct tls_conn *tc, const uint8_t *data, size_t size)
{
    struct conn *c = tls_conn_data(tc);
    size_t n = http_parser_execute(&c->parser, &c->settings, (const char *)data, size);
    if (c->parser.http_errno != HPE_OK || n != size) {
        fatal("malformed HTTP response");
        return;
    }
    if (!c->complete) {
        return;
    }
    bool closing = c->closing;
    http_answer(c);
    if (closing) {
        /* max requests per connection reached: a fresh connection */
        tls_conn_close(tc);
        return;
    }
    if (c->item < 0) {
        conn_next(c);
    }
}

static void http_on_close(struct tls_conn *tc, int status)
{
    struct conn *c = tls_conn_data(tc);
    tls_conn_free(tc);
    c->tls = NULL;
    if (run.phase == PH_DONE) {
        return;
    }
    if (status != 0 && status != TLS_EEOF && c->item >= 0 && ++c->tries >= RETRY_MAX) {
        fprintf(stderr, "api_load: connection %d: %s\n", c->idx, strata_strerror(status));
        item_done(c, false, NULL);
    }
    http_connect(c); /* resends c->item when one is in flight */
}

static const struct tls_conn_callbacks http_cbs = {
    .on_read = http_on_read,
    .on_close = http_on_close,
};

static void http_connect(struct conn *c)
{
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->complete = false;
    c->closing = false;
    if (tls_conn_connect(run.tls, &run.loop, c->t->host, c->t->port, c->t->host, &http_cbs, c, &c->tls) !=
        0) {
        fatal("tls_conn_connect failed");
        return;
    }
    if (c->item >= 0) {
        http_send(c);
    } else {
        conn_next(c);
    }
}

/* ---- OVSDB JSON-RPC ---- */

static void ovs_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct conn *c = h->data;
    if (c->rcap - c->rlen < 65536) {
        size_t cap = c->rcap ? c->rcap * 2 : 131072;
        char *b = realloc(c->rbuf, cap);
        if (!b) {
            buf->base = NULL;
            buf->len = 0;
            return;
        }
        c->rbuf = b;
        c->rcap = cap;
    }
    buf->base = c->rbuf + c->rlen;
    buf->len = c->rcap - c->rlen;
}

struct wreq {
    uv_write_t w;
    char data[];
};

static void ovs_written(uv_write_t *w, int status)
{
    if (status < 0) {
        fatal("OVSDB write failed");
    }
    free(w);
}

static void ovs_write(struct conn *c, const char *data, size_t len)
{
    struct wreq *r = malloc(sizeof *r + len);
    if (!r) {
        fatal("out of memory");
        return;
    }
    memcpy(r->data, data, len);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
    if (uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, ovs_written) != 0) {
        free(r);
        fatal("OVSDB write failed");
    }
}

static void ovs_send(struct conn *c)
{
    c->sent_ns = uv_hrtime();
    ovs_write(c, c->req, c->req_len);
}

/* One complete JSON-RPC message from the server. */
static void ovs_message(struct conn *c, json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (method) {
        if (strcmp(method, "echo") == 0) {
            json_t *reply = json_pack("{s:O,s:O,s:n}", "id", json_object_get(msg, "id"), "result",
                                      json_object_get(msg, "params"), "error");
            char *text = json_dumps(reply, JSON_COMPACT);
            if (text) {
                ovs_write(c, text, strlen(text));
            }
            free(text);
            json_decref(reply);
        }
        return;
    }
    if (c->item < 0 || json_integer_value(json_object_get(msg, "id")) != (json_int_t)c->rpc_id) {
        return;
    }
    json_t *result = json_object_get(msg, "result");
    bool ok = json_is_array(result) && json_is_null(json_object_get(msg, "error"));
    size_t i;
    json_t *it;
    json_array_foreach(result, i, it)
    {
        if (json_object_get(it, "error")) {
            ok = false;
        }
    }
    if (!ok) {
        char *text = json_dumps(msg, JSON_COMPACT);
        if (run.errors < 5) {
            fprintf(stderr, "api_load: OVSDB error: %.300s\n", text ? text : "?");
        }
        free(text);
        item_done(c, false, NULL);
    } else {
        const char *uuid = json_string_value(json_array_get(json_object_get(json_array_get(result, 0), "uuid"), 1));
        item_done(c, true, uuid);
    }
    if (c->item < 0) {
        conn_next(c);
    }
}

static void ovs_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct conn *c = s->data;
    if (n < 0) {
        if (run.phase != PH_DONE) {
            fatal("OVSDB connection lost");
        }
        return;
    }
    c->rlen += (size_t)n;
    size_t off = 0;
    while (off < c->rlen) {
        json_error_t e;
        json_t *msg = json_loadb(c->rbuf + off, c->rlen - off, JSON_DISABLE_EOF_CHECK, &e);
        if (!msg) {
            if (json_error_code(&e) == json_error_premature_end_of_input) {
                break;
            }
            fatal("malformed OVSDB message");
            return;
        }
        off += e.position;
        ovs_message(c, msg);
        json_decref(msg);
        while (off < c->rlen && (c->rbuf[off] == ' ' || c->rbuf[off] == '\n' || c->rbuf[off] == '\r')) {
            off++;
        }
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
}

static void ovs_connected(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0) {
        fatal("OVSDB connect failed");
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, ovs_alloc, ovs_on_read);
    conn_next(c);
}

static void ovs_connect(struct conn *c)
{
    struct sockaddr_in sa;
    uv_ip4_addr(c->t->host, c->t->port, &sa);
    uv_tcp_init(&run.loop, &c->tcp);
    uv_tcp_nodelay(&c->tcp, 1);
    c->tcp.data = c;
    c->connect.data = c;
    if (uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&sa, ovs_connected) != 0) {
        fatal("OVSDB connect failed");
    }
}

/* ---- driving ---- */

static void conn_next(struct conn *c)
{
    if (run.phase == PH_DONE || run.next >= run.total) {
        return;
    }
    if (opt.mode == MODE_HTTP && (!c->tls || c->closing)) {
        return;
    }
    if (opt.mode == MODE_OVSDB && !uv_is_readable((uv_stream_t *)&c->tcp)) {
        return;
    }
    c->item = run.next++;
    c->tries = 0;
    if (run.phase == PH_PORTS && run.net_uuid[c->item / opt.ports][0] == '\0') {
        item_done(c, false, NULL);
        conn_next(c);
        return;
    }
    build_request(c, c->item);
    if (opt.mode == MODE_HTTP) {
        http_send(c);
    } else {
        ovs_send(c);
    }
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "api_load: run exceeded %.0f s (phase %d, %ld of %ld answered)\n", opt.timeout_s,
            run.phase, run.done, run.total);
    run.failed = 1;
    uv_stop(&run.loop);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static int add_target(const char *spec)
{
    if (opt.targets_len >= TARGETS_MAX) {
        return -1;
    }
    struct target *t = &opt.targets[opt.targets_len];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof t->host) {
        return -1;
    }
    memcpy(t->host, spec, (size_t)(colon - spec));
    t->host[colon - spec] = '\0';
    long p = strtol(colon + 1, NULL, 10);
    if (p <= 0 || p > 65535) {
        return -1;
    }
    t->port = (uint16_t)p;
    opt.targets_len++;
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: api_load http --target HOST:PORT... --ca CA.pem --token-file F --project NAME\n"
            "       api_load ovsdb --target HOST:PORT...\n"
            "       [--conns K] [--nets N] [--ports M] [--tag T] [--timeout S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
    }
    if (strcmp(argv[1], "http") == 0) {
        opt.mode = MODE_HTTP;
    } else if (strcmp(argv[1], "ovsdb") == 0) {
        opt.mode = MODE_OVSDB;
    } else {
        usage();
    }
    static const struct option lo[] = {
        {"target", required_argument, NULL, 't'}, {"ca", required_argument, NULL, 'a'},
        {"token-file", required_argument, NULL, 'k'}, {"project", required_argument, NULL, 'p'},
        {"conns", required_argument, NULL, 'c'}, {"nets", required_argument, NULL, 'n'},
        {"ports", required_argument, NULL, 'm'}, {"tag", required_argument, NULL, 'g'},
        {"timeout", required_argument, NULL, 'T'}, {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 't':
            if (add_target(optarg) != 0) {
                usage();
            }
            break;
        case 'a':
            opt.ca = optarg;
            break;
        case 'k': {
            FILE *f = fopen(optarg, "r");
            if (!f || !fgets(opt.token, sizeof opt.token, f)) {
                fprintf(stderr, "api_load: cannot read %s\n", optarg);
                return 1;
            }
            fclose(f);
            opt.token[strcspn(opt.token, "\r\n")] = '\0';
            break;
        }
        case 'p':
            opt.project_name = optarg;
            break;
        case 'c':
            opt.conns = atoi(optarg);
            break;
        case 'n':
            opt.nets = atol(optarg);
            break;
        case 'm':
            opt.ports = atol(optarg);
            break;
        case 'g':
            opt.tag = optarg;
            break;
        case 'T':
            opt.timeout_s = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (opt.targets_len == 0 || opt.conns < 1 || opt.conns > CONNS_MAX || opt.nets < 1 || opt.ports < 0 ||
        (opt.mode == MODE_HTTP && (!opt.ca || !opt.token[0] || !opt.project_name))) {
        usage();
    }
    run.net_uuid = calloc((size_t)opt.nets, UUID_MAX);
    if (!run.net_uuid) {
        return 1;
    }
    uv_loop_init(&run.loop);
    if (opt.mode == MODE_HTTP) {
        struct pki_cert *ca = NULL;
        char errmsg[256];
        if (pki_cert_load(opt.ca, &ca) != 0) {
            fprintf(stderr, "api_load: cannot load %s\n", opt.ca);
            return 1;
        }
        struct tls_config cfg = {.role = TLS_ROLE_CLIENT, .ca = ca, .alpn = "http/1.1", .read_chunk_size = 65536};
        int rc = tls_ctx_create(&cfg, &run.tls, errmsg, sizeof errmsg);
        pki_cert_free(ca);
        if (rc != 0) {
            fprintf(stderr, "api_load: TLS: %s\n", errmsg);
            return 1;
        }
    }
    uv_timer_init(&run.loop, &run.deadline);
    uv_timer_start(&run.deadline, on_deadline, (uint64_t)(opt.timeout_s * 1000), 0);
    run.phase = PH_NETS;
    run.total = opt.nets;
    for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &conns[i];
        c->idx = i;
        c->item = -1;
        c->t = &opt.targets[i % opt.targets_len];
        http_parser_settings_init(&c->settings);
        c->settings.on_status = on_status;
        c->settings.on_body = on_body;
        c->settings.on_message_complete = on_complete;
    }
    /* The clock starts once every connection is up: connection setup (TLS
     * handshakes) is not part of the create rate. */
    run.next = run.total; /* nothing handed out while connecting */
    for (int i = 0; i < opt.conns; i++) {
        if (opt.mode == MODE_HTTP) {
            http_connect(&conns[i]);
        } else {
            ovs_connect(&conns[i]);
        }
    }
    for (int i = 0; i < 200; i++) { /* up to 2 s for every handshake */
        uv_run(&run.loop, UV_RUN_NOWAIT);
        int up = 0;
        for (int j = 0; j < opt.conns; j++) {
            up += opt.mode == MODE_HTTP ? (conns[j].tls && tls_conn_is_established(conns[j].tls))
                                        : uv_is_readable((uv_stream_t *)&conns[j].tcp);
        }
        if (up == opt.conns || run.failed) {
            break;
        }
        uv_sleep(10);
    }
    if (!run.failed) {
        run.phase = PH_DONE; /* so phase_begin does not close a phase */
        run.phase = PH_NETS;
        run.next = 0;
        run.done = 0;
        run.errors = 0;
        run.phase_start = uv_hrtime();
        for (int i = 0; i < opt.conns; i++) {
            conn_next(&conns[i]);
        }
        uv_run(&run.loop, UV_RUN_DEFAULT);
    }
    int failed = run.failed;
    run.phase = PH_DONE;
    for (int i = 0; i < opt.conns; i++) {
        if (conns[i].tls) {
            tls_conn_free(conns[i].tls);
            conns[i].tls = NULL;
        }
        free(conns[i].rbuf);
    }
    uv_walk(&run.loop, close_walk, NULL);
    uv_run(&run.loop, UV_RUN_DEFAULT);
    uv_loop_close(&run.loop);
    tls_ctx_free(run.tls);
    free(run.lat.v);
    free(run.net_uuid);
    return failed || run.sum_errors ? 1 : 0;
}

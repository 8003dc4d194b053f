/* e2e: who gets into the store. Against three real nodes:
 *   - an operator certificate reaches the client port (control);
 *   - an agent certificate from the same CA is refused on the client port
 *     and on the raft port;
 *   - a node certificate whose name is not a member is refused on the raft
 *     port;
 *   - garbage after a valid hello is cut off by the frame checker and the
 *     cluster keeps working.
 * Usage: test_store_auth STRATAD WORKDIR */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "store/proto.h"
#include "store/transport.h"
#include "tests/e2e/store/cluster.h"

struct probe {
    bool established;
    bool closed;
    int status;
};

static void p_established(struct tls_conn *c)
{
    struct probe *p = tls_conn_data(c);
    p->established = true;
}

static void p_close(struct tls_conn *c, int status)
{
    struct probe *p = tls_conn_data(c);
    p->closed = true;
    p->status = status;
}

static void probe_timeout(uv_timer_t *t)
{
    uv_timer_stop(t);
}

/* Connects to 127.0.0.1:'port' with credentials NAME from the cluster's
 * PKI and ALPN 'alpn', sends 'data', and waits for the server to end the
 * connection (or 3 s). Returns the close status, or 1 if it stayed open. */
static int probe(struct cluster *cl, const char *name, const char *alpn, uint16_t port,
                 const void *data, size_t size)
{
    char pki[1100], err[256];
    struct pkiset set;
    struct tls_ctx *ctx;
    snprintf(pki, sizeof pki, "%s/pki", cl->dir);
    if (pkiset_load(&set, pki, name, err, sizeof err) != 0 ||
        pkiset_tls(&set, TLS_ROLE_CLIENT, alpn, &ctx, err, sizeof err) != 0) {
        fprintf(stderr, "probe %s: %s\n", name, err);
        return -999;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct probe p = {0};
    struct tls_conn *conn;
    static const struct tls_conn_callbacks cbs = {.on_established = p_established, .on_close = p_close};
    int rc = tls_conn_connect(ctx, &loop, "127.0.0.1", port, "n1", &cbs, &p, &conn);
    if (rc == 0) {
        if (size) {
            rc = tls_conn_write(conn, data, size);
        }
        uv_timer_t t;
        uv_timer_init(&loop, &t);
        uv_timer_start(&t, probe_timeout, 3000, 0);
        while (!p.closed && uv_is_active((uv_handle_t *)&t)) {
            uv_run(&loop, UV_RUN_ONCE);
        }
        uv_close((uv_handle_t *)&t, NULL);
        if (!p.closed) {
            tls_conn_free(conn);
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        if (p.closed) {
            tls_conn_free(conn);
        }
    }
    uv_loop_close(&loop);
    tls_ctx_free(ctx);
    pkiset_destroy(&set);
    return p.closed ? p.status : 1;
}

int main(int argc, char **argv)
{
    struct cluster cl;
    int errors = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: test_store_auth STRATAD WORKDIR\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    wolfSSL_Init();
    uint16_t port = (uint16_t)(7900 + (getpid() % 50) * 4);
    if (cluster_init(&cl, argv[1], argv[2], port) != 0) {
        return 1;
    }
    char pki[1100];
    snprintf(pki, sizeof pki, "%s/pki", argv[2]);
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "%s init --pki %s --agent agent1 --node n9=127.0.0.1 >/dev/null", argv[1], pki);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot issue extra certificates\n");
        cluster_destroy(&cl);
        return 1;
    }
    for (int i = 0; i < CLUSTER_NODES; i++) {
        cluster_start(&cl, i);
    }
    if (cluster_converge(&cl, 20000, NULL) != 0) {
        fprintf(stderr, "cluster did not form\n");
        cluster_destroy(&cl);
        return 1;
    }
    int rc = probe(&cl, "admin", STORE_PROTO_ALPN, (uint16_t)(port + 1), NULL, 0);
    printf("operator on client port: %s\n", rc == 1 ? "admitted" : strata_strerror(rc));
    errors += rc != 1;
    rc = probe(&cl, "agent1", STORE_PROTO_ALPN, (uint16_t)(port + 1), NULL, 0);
    printf("agent on client port: %s\n", rc == 1 ? "admitted" : strata_strerror(rc));
    errors += rc == 1;
    rc = probe(&cl, "agent1", STORE_TRANSPORT_ALPN, port, NULL, 0);
    printf("agent on raft port: %s\n", rc == 1 ? "admitted" : strata_strerror(rc));
    errors += rc == 1;
    rc = probe(&cl, "n9", STORE_TRANSPORT_ALPN, port, NULL, 0);
    printf("non-member node on raft port: %s\n", rc == 1 ? "admitted" : strata_strerror(rc));
    errors += rc == 1;
    /* A member's certificate, a valid hello, then a frame with a huge
     * header size: the frame checker ends the connection. */
    uint8_t bad[16 + 16 + 64];
    size_t n = 0;
    char address[64];
    snprintf(address, sizeof address, "n2@127.0.0.2:%u", port);
    memcpy(bad, "SRAF", 4);
    bad[4] = 1;
    bad[5] = 0;
    be16_store(bad + 6, (uint16_t)strlen(address));
    be64_store(bad + 8, 2);
    n = 16;
    memcpy(bad + n, address, strlen(address));
    n += strlen(address);
    uint8_t preamble[16] = {1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    memcpy(bad + n, preamble, sizeof preamble);
    n += sizeof preamble;
    rc = probe(&cl, "n2", STORE_TRANSPORT_ALPN, port, bad, n);
    printf("member sending an oversized raft frame: %s\n", rc == 1 ? "kept" : "cut off");
    errors += rc == 1;
    /* The cluster is unaffected. */
    struct store_client *c;
    struct buf b, raw;
    struct store_reply reply;
    buf_init(&b, 0);
    buf_init(&raw, 0);
    if (cluster_client(&cl, 0, 5000, &c) != 0 || store_cmd_encode_put(&b, "auth/ok", 7, "1", 1, 0) != 0 ||
        store_client_cmd(c, &b, false, &raw, &reply) != 0) {
        fprintf(stderr, "the cluster stopped working\n");
        errors++;
    } else {
        store_reply_destroy(&reply);
        store_client_close(c);
    }
    buf_destroy(&b);
    buf_destroy(&raw);
    if (cluster_converge(&cl, 10000, NULL) != 0) {
        errors++;
    }
    errors += cluster_check_logs(&cl);
    cluster_destroy(&cl);
    wolfSSL_Cleanup();
    printf("%s: %d errors\n", errors ? "FAIL" : "PASS", errors);
    return errors ? 1 : 0;
}

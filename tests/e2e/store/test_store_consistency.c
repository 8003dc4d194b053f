/* e2e: the cross-replica consistency check. Three real nodes with a
 * checkpoint every 8 revisions; node 3 runs with the test hook
 * STRATA_TEST_DIVERGE, so its checkpoints carry a corrupted hash. After 40
 * writes, nodes 1 and 2 must report matching checkpoints with each other
 * (checks_ok > 0) and raise the alarm against node 3 (mismatches > 0,
 * mismatch_peer 3), and node 3 must see both peers as divergent.
 * Usage: test_store_consistency STRATAD WORKDIR */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "store/proto.h"
#include "tests/e2e/store/cluster.h"

static int consistency(struct cluster *cl, int node, json_int_t *ok, json_int_t *bad, json_int_t *peer)
{
    struct store_client *c;
    struct buf raw;
    int status = 0, rc = cluster_client(cl, node, 5000, &c);
    if (rc != 0) {
        return rc;
    }
    buf_init(&raw, 0);
    rc = store_client_call(c, STORE_MSG_STATUS, 0, NULL, 0, &status, &raw);
    if (rc == 0 && status == 0) {
        json_t *doc = json_loadb((const char *)raw.data, raw.size, 0, NULL);
        json_t *cons = json_object_get(doc, "consistency");
        *ok = json_integer_value(json_object_get(cons, "checks_ok"));
        *bad = json_integer_value(json_object_get(cons, "mismatches"));
        *peer = json_integer_value(json_object_get(cons, "mismatch_peer"));
        json_decref(doc);
    }
    buf_destroy(&raw);
    store_client_close(c);
    return rc ? rc : status;
}

int main(int argc, char **argv)
{
    struct cluster cl;
    int errors = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: test_store_consistency STRATAD WORKDIR\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    wolfSSL_Init();
    if (cluster_init(&cl, argv[1], argv[2], (uint16_t)(7700 + (getpid() % 50) * 4)) != 0) {
        return 1;
    }
    cl.extra[cl.extra_len++] = "--checkpoint-interval";
    cl.extra[cl.extra_len++] = "8";
    cl.env[2] = "STRATA_TEST_DIVERGE=1";
    for (int i = 0; i < CLUSTER_NODES; i++) {
        cluster_start(&cl, i);
    }
    if (cluster_converge(&cl, 20000, NULL) != 0) {
        fprintf(stderr, "cluster did not form\n");
        cluster_destroy(&cl);
        return 1;
    }
    struct store_client *c;
    if (cluster_client(&cl, 0, 5000, &c) != 0) {
        cluster_destroy(&cl);
        return 1;
    }
    for (int i = 0; i < 40; i++) {
        char key[32];
        struct buf cmd, raw;
        struct store_reply reply;
        snprintf(key, sizeof key, "ck/%02d", i);
        buf_init(&cmd, 0);
        buf_init(&raw, 0);
        if (store_cmd_encode_put(&cmd, key, (uint32_t)strlen(key), "v", 1, 0) != 0 ||
            store_client_cmd(c, &cmd, false, &raw, &reply) != 0) {
            fprintf(stderr, "write %d failed\n", i);
            errors++;
        } else {
            store_reply_destroy(&reply);
        }
        buf_destroy(&cmd);
        buf_destroy(&raw);
    }
    store_client_close(c);
    /* The check runs every 2 s; wait up to 20 s for both verdicts. */
    json_int_t ok[3] = {0}, bad[3] = {0}, peer[3] = {0};
    for (int tries = 0; tries < 100; tries++) {
        for (int i = 0; i < CLUSTER_NODES; i++) {
            if (consistency(&cl, i, &ok[i], &bad[i], &peer[i]) != 0) {
                ok[i] = bad[i] = 0;
            }
        }
        if (ok[0] > 0 && ok[1] > 0 && bad[0] > 0 && bad[1] > 0 && bad[2] > 0) {
            break;
        }
        usleep(200 * 1000);
    }
    for (int i = 0; i < CLUSTER_NODES; i++) {
        printf("n%d: checks_ok=%lld mismatches=%lld mismatch_peer=%lld\n", i + 1, (long long)ok[i],
               (long long)bad[i], (long long)peer[i]);
    }
    if (!(ok[0] > 0 && ok[1] > 0)) {
        fprintf(stderr, "healthy replicas never confirmed each other's checkpoints\n");
        errors++;
    }
    if (!(bad[0] > 0 && peer[0] == 3 && bad[1] > 0 && peer[1] == 3)) {
        fprintf(stderr, "healthy replicas did not raise the alarm against node 3\n");
        errors++;
    }
    if (!(bad[2] > 0 && ok[2] == 0)) {
        fprintf(stderr, "the divergent node did not see its peers as divergent\n");
        errors++;
    }
    errors += cluster_check_logs(&cl);
    cluster_destroy(&cl);
    wolfSSL_Cleanup();
    printf("%s: %d errors\n", errors ? "FAIL" : "PASS", errors);
    return errors ? 1 : 0;
}

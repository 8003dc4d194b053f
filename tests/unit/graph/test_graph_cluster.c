/* e2e for compiler/graph over graph_kv_client: a real three-node store
 * cluster (tests/e2e/store/cluster.h). Bootstraps through node 1 and again
 * through node 3 (idempotent), creates a network on node 1 and reads it
 * linearizably on node 3, allocates addresses alternately through both
 * nodes (all distinct, in order), refuses a duplicate fq_name and a delete
 * with children across nodes, and prints the creates/s of one sequential
 * client through the leader and through a follower (writes forwarded).
 * Usage: test_graph_cluster STRATAD WORKDIR */
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "compiler/graph.h"
#include "tests/e2e/store/cluster.h"

static int errors;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fprintf(stderr, "\n");                         \
            errors++;                                      \
        }                                                  \
    } while (0)

static int create(struct graph *g, const char *type, const char *text, char uuid[GRAPH_UUID_SIZE],
                  json_t **outp, struct graph_error *err)
{
    json_t *body = json_loads(text, 0, NULL), *out = NULL;
    if (!body) {
        fprintf(stderr, "bad JSON %s\n", text);
        return -1;
    }
    int rc = graph_obj_create(g, type, body, "e2e", &out, NULL, err);
    if (rc == 0 && uuid) {
        snprintf(uuid, GRAPH_UUID_SIZE, "%s", json_string_value(json_object_get(out, "uuid")));
    }
    if (outp) {
        *outp = out;
    } else {
        json_decref(out);
    }
    json_decref(body);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A client to node 'i' with a 10 s call timeout (sanitizer builds are slow). */
static int client(struct cluster *cl, int i, struct store_client **out)
{
    char target[64];
    cluster_target(cl, i, target, sizeof target);
    int rc = -1;
    for (int tries = 0; tries < 100 && rc != 0; tries++) {
        rc = store_client_open(target, cl->tls, 10000, out);
        if (rc) {
            usleep(50 * 1000);
        }
    }
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double bench(struct graph *g, const char *tag, int n, struct graph_error *err)
{
    char text[256];
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(text, sizeof text, "{\"name\":\"bench-%s-%d\"}", tag, i);
        int rc = create(g, "virtual-network", text, NULL, NULL, err);
        CHECK(rc == 0, "bench create %d: %s", i, err->message);
        if (rc) {
            break;
        }
    }
    return n / (now_s() - t0);
}

int main(int argc, char **argv)
{
    struct cluster cl;
    struct store_client *c1 = NULL, *c3 = NULL;
    struct schema *schema = NULL;
    struct schema_error se;
    struct graph_error err;
    if (argc < 3) {
        fprintf(stderr, "usage: test_graph_cluster STRATAD WORKDIR\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    wolfSSL_Init();
    if (schema_load_builtin(&schema, &se) != 0) {
        fprintf(stderr, "schema: %s\n", se.message);
        return 1;
    }
    nftw(argv[2], rm_entry, 16, FTW_DEPTH | FTW_PHYS); /* a fresh cluster every run */
    if (cluster_init(&cl, argv[1], argv[2], (uint16_t)(7900 + (getpid() % 50) * 4)) != 0) {
        schema_free(schema);
        return 1;
    }
    for (int i = 0; i < CLUSTER_NODES; i++) {
        cluster_start(&cl, i);
    }
    if (cluster_converge(&cl, 20000, NULL) != 0 || client(&cl, 0, &c1) != 0 ||
        client(&cl, 2, &c3) != 0) {
        fprintf(stderr, "cluster did not form\n");
        errors++;
        goto out;
    }
    struct graph g1, g3;
    graph_init(&g1, schema, graph_kv_client(c1));
    graph_init(&g3, schema, graph_kv_client(c3));

    CHECK(graph_bootstrap(&g1, "e2e", &err) == 0, "bootstrap n1: %s", err.message);
    CHECK(graph_bootstrap(&g3, "e2e", &err) == 0, "bootstrap n3: %s", err.message);
    CHECK(g3.txn_count == 0, "second bootstrap proposed %llu txns",
          (unsigned long long)g3.txn_count);

    char ipam[GRAPH_UUID_SIZE], vn[GRAPH_UUID_SIZE], text[1024];
    int rc = create(&g1, "network-ipam", "{\"name\":\"ipam\"}", ipam, NULL, &err);
    CHECK(rc == 0, "ipam: %s", err.message);
    snprintf(text, sizeof text,
             "{\"name\":\"vn\",\"network_ipam_refs\":[{\"uuid\":\"%s\",\"attr\":{\"ipam_subnets\":"
             "[{\"subnet\":{\"ip_prefix\":\"10.8.0.0\",\"ip_prefix_len\":24}}]}}]}",
             ipam);
    rc = create(&g1, "virtual-network", text, vn, NULL, &err);
    CHECK(rc == 0, "vn: %s", err.message);
    json_t *o = NULL;
    uint64_t rev = 0;
    rc = graph_obj_read(&g3, "virtual-network", vn, NULL, true, &o, &rev, &err);
    CHECK(rc == 0 && rev > 0, "read on n3: %s", err.message);
    json_t *want_fq = json_pack("[s,s,s]", "default-domain", "default-project", "vn");
    CHECK(o && json_equal(json_object_get(o, "fq_name"), want_fq) == 1, "fq_name read on n3");
    json_decref(want_fq);
    json_decref(o);

    for (int i = 0; i < 10; i++) {
        json_t *out = NULL;
        char want[32];
        snprintf(text, sizeof text, "{\"virtual_network_refs\":[{\"uuid\":\"%s\"}]}", vn);
        rc = create(i % 2 ? &g3 : &g1, "instance-ip", text, NULL, &out, &err);
        snprintf(want, sizeof want, "10.8.0.%d", 3 + i);
        CHECK(rc == 0, "iip %d: %s", i, err.message);
        CHECK(rc || strcmp(json_string_value(json_object_get(out, "instance_ip_address")) ?: "",
                           want) == 0,
              "iip %d got %s, want %s", i,
              json_string_value(json_object_get(out, "instance_ip_address")), want);
        json_decref(out);
    }
    rc = create(&g3, "virtual-network", "{\"name\":\"vn\"}", NULL, NULL, &err);
    CHECK(rc == GRAPH_ECONFLICT && err.status == 409, "duplicate on n3: %d %s", rc, err.message);
    char proj[GRAPH_UUID_SIZE];
    json_t *fq = json_pack("[s,s]", "default-domain", "default-project");
    rc = graph_fqname_to_id(&g3, "project", fq, true, proj, &err);
    json_decref(fq);
    CHECK(rc == 0, "project id: %s", err.message);
    rc = graph_obj_delete(&g3, "project", proj, 0, "e2e", NULL, &err);
    CHECK(rc == GRAPH_ECONFLICT && strstr(err.message, "default-domain:default-project:vn"),
          "delete with children: %d %s", rc, err.message);

    int n = 300;
    double lead = bench(&g1, "n1", n, &err);
    double follow = bench(&g3, "n3", n, &err);
    printf("RESULT graph-client creates_per_s=%.0f via=n1 creates_per_s=%.0f via=n3 "
           "(one sequential client, virtual-networks, 3 nodes)\n",
           lead, follow);
    errors += cluster_check_logs(&cl);
out:
    store_client_close(c1);
    store_client_close(c3);
    cluster_destroy(&cl);
    schema_free(schema);
    wolfSSL_Cleanup();
    printf("%s: %d errors\n", errors ? "FAIL" : "PASS", errors);
    return errors ? 1 : 0;
}

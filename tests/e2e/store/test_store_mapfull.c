/* e2e: a store whose LMDB map fills up. Three real nodes start with a 4 MiB
 * --map-size; one client writes 4 KB values until a write is refused. The
 * refusal must be STORE_EMAPFULL (or STORE_ENOSPC), promptly, on every
 * node's client port, never a hang or a crash; every acknowledged write
 * must still read back exactly on every replica; the nodes stay up and
 * agree. Then the nodes restart with a 64 MiB map: the data is intact,
 * writes resume, the replicas converge with equal consistency hashes.
 * Last, the value cap: a value of exactly STORE_VALUE_MAX is stored, one
 * byte more is refused (the client's encoder says STORE_EFORMAT; a
 * hand-made frame gets a typed error from the server) and the cluster
 * carries on.
 * Usage: test_store_mapfull STRATAD WORKDIR */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "store/proto.h"
#include "tests/e2e/store/cluster.h"
#include "tests/e2e/store/lin_cluster.h"

#define SMALL_MAP "4194304"
#define LARGE_MAP "67108864"
#define VALUE_SIZE 4000
#define MAX_WRITES 4000

static struct cluster cl;
static uint8_t acked[MAX_WRITES];
static int errors;

#define FAIL(...)                         \
    do {                                  \
        fprintf(stderr, "FAIL: " __VA_ARGS__); \
        fputc('\n', stderr);              \
        errors++;                         \
    } while (0)

static const int members[] = {1, 2, 3};

/* The cluster's value cap (a replicated setting, below the codec's). */
#define VALUE_CAP 65536u
#define VALUE_CAP_TEXT "65536"

static void start_all(const char *map_size)
{
    const char *extra[] = {"--map-size", map_size, "--value-max", VALUE_CAP_TEXT};
    for (int i = 0; i < CLUSTER_NODES; i++) {
        struct lin_node_opts o = {.id = i + 1, .members = members, .members_len = 3,
                                  .extra = extra, .extra_len = 4};
        cl.pid[i] = lin_spawn(&cl, &o);
    }
}

static void value_for(int i, char *v, size_t size)
{
    for (size_t k = 0; k + 1 < size; k++) {
        v[k] = (char)('a' + (i * 7 + (int)k) % 26);
    }
    v[size - 1] = '\0';
}

static int put(struct store_client *c, int i)
{
    char key[32], val[VALUE_SIZE + 1];
    struct buf cmd, raw;
    struct store_reply reply;
    snprintf(key, sizeof key, "fill/%05d", i);
    value_for(i, val, sizeof val);
    buf_init(&cmd, 0);
    buf_init(&raw, 0);
    int rc = store_cmd_encode_put(&cmd, key, (uint32_t)strlen(key), val, VALUE_SIZE, 0);
    if (rc == 0) {
        rc = store_client_cmd(c, &cmd, false, &raw, &reply);
        if (rc == 0) {
            store_reply_destroy(&reply);
        }
    }
    buf_destroy(&cmd);
    buf_destroy(&raw);
    return rc;
}

static bool nodes_alive(void)
{
    for (int i = 0; i < CLUSTER_NODES; i++) {
        if (cl.pid[i] <= 0 || waitpid(cl.pid[i], NULL, WNOHANG) != 0) {
            FAIL("node n%d is gone", i + 1);
            cl.pid[i] = 0;
            return false;
        }
    }
    return true;
}

/* Every acknowledged key reads back with its value from node 'node'
 * (serializable: that replica's own state). */
static void verify_node(int node, unsigned long *found)
{
    struct store_client *c;
    if (cluster_client(&cl, node, 5000, &c) != 0) {
        FAIL("cannot reach n%d", node + 1);
        return;
    }
    *found = 0;
    for (int i = 0; i < MAX_WRITES; i++) {
        if (!acked[i]) {
            continue;
        }
        char key[32], val[VALUE_SIZE + 1];
        struct buf cmd, raw;
        struct store_reply reply;
        snprintf(key, sizeof key, "fill/%05d", i);
        value_for(i, val, sizeof val);
        struct store_keysel sel = store_sel_key(key, (uint32_t)strlen(key));
        buf_init(&cmd, 0);
        buf_init(&raw, 0);
        int rc = store_cmd_encode_range(&cmd, &sel, 0, 0);
        if (rc == 0) {
            rc = store_client_cmd(c, &cmd, true, &raw, &reply);
        }
        if (rc != 0) {
            FAIL("n%d: reading %s: %s", node + 1, key, strata_strerror(rc));
        } else {
            const struct store_op_result *r = &reply.results[0];
            if (r->kvs_len != 1 || r->kvs[0].value_size != VALUE_SIZE ||
                memcmp(r->kvs[0].value, val, VALUE_SIZE) != 0) {
                FAIL("n%d: acknowledged key %s is missing or wrong", node + 1, key);
            } else {
                (*found)++;
            }
            store_reply_destroy(&reply);
        }
        buf_destroy(&cmd);
        buf_destroy(&raw);
    }
    store_client_close(c);
}

static void verify_all(const char *when)
{
    uint64_t rev = 0;
    int rc = cluster_converge(&cl, 30000, &rev);
    if (rc != 0) {
        FAIL("%s: replicas did not converge (%s)", when, rc == -2 ? "hash mismatch" : rc == -3 ? "a node exited" : "timeout");
        return;
    }
    for (int i = 0; i < CLUSTER_NODES; i++) {
        unsigned long found = 0;
        verify_node(i, &found);
        printf("%s: n%d has all %lu acknowledged keys at revision %llu\n", when, i + 1, found,
               (unsigned long long)rev);
    }
}

/* A PUT of 'value_size' bytes encoded by hand (the codec refuses values
 * past STORE_VALUE_MAX): what the server answers. */
static int raw_put(struct store_client *c, uint32_t value_size, int *status)
{
    struct buf b, reply;
    buf_init(&b, 0);
    buf_init(&reply, 0);
    int rc = buf_put_u8(&b, STORE_CMD_VERSION);
    rc = rc ? rc : buf_put_u8(&b, STORE_CMD_PUT);
    rc = rc ? rc : buf_put_u8(&b, STORE_OP_PUT);
    rc = rc ? rc : buf_put_u8(&b, 0);
    rc = rc ? rc : buf_put_u8(&b, STORE_SEL_KEY);
    rc = rc ? rc : buf_put_u32(&b, 3);
    rc = rc ? rc : buf_put(&b, "big", 3);
    rc = rc ? rc : buf_put_u32(&b, value_size);
    for (uint32_t k = 0; rc == 0 && k < value_size; k += 4096) {
        static const uint8_t page[4096];
        rc = buf_put(&b, page, value_size - k < 4096 ? value_size - k : 4096);
    }
    if (rc == 0) {
        rc = store_client_call(c, STORE_MSG_CMD, 0, b.data, b.size, status, &reply);
    }
    if (rc == 0 && *status == 0) {
        struct store_reply r;
        if (store_reply_decode(&r, reply.data, reply.size) == 0) {
            *status = r.status;
            store_reply_destroy(&r);
        }
    }
    buf_destroy(&b);
    buf_destroy(&reply);
    return rc;
}

static void check_value_cap(void)
{
    struct store_client *c;
    if (cluster_client(&cl, 1, 5000, &c) != 0) {
        FAIL("cannot reach n2");
        return;
    }
    struct buf cmd;
    buf_init(&cmd, 0);
    char *big = calloc(1, STORE_VALUE_MAX + 1);
    int rc = store_cmd_encode_put(&cmd, "big", 3, big, STORE_VALUE_MAX + 1, 0);
    if (rc != STORE_EFORMAT) {
        FAIL("encoding a value of STORE_VALUE_MAX + 1 bytes gave %s", strata_strerror(rc));
    }
    printf("value cap: client encoder refuses %u bytes: %s\n", STORE_VALUE_MAX + 1, strata_strerror(rc));
    int status = 0;
    rc = raw_put(c, VALUE_CAP + 1, &status);
    if (rc != 0 || status != STORE_ETOOLARGE) {
        FAIL("a put of %u bytes over a %u-byte cap: transport %s, status %s", VALUE_CAP + 1, VALUE_CAP,
             strata_strerror(rc), strata_strerror(status));
    }
    printf("value cap: the store answers a %u-byte value (cap %u) with: %s\n", VALUE_CAP + 1, VALUE_CAP,
           strata_strerror(status));
    rc = raw_put(c, VALUE_CAP, &status);
    if (rc != 0 || status != 0) {
        FAIL("a value of exactly the cap: transport %s, status %s", strata_strerror(rc),
             strata_strerror(status));
    }
    printf("value cap: %u bytes stored\n", VALUE_CAP);
    free(big);
    buf_destroy(&cmd);
    store_client_close(c);
}

int main(int argc, char **argv)
{
    char why[512];
    if (argc < 3 || argv[2][0] == '\0' || strcmp(argv[2], "/") == 0) {
        fprintf(stderr, "usage: test_store_mapfull STRATAD WORKDIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    uint16_t port = 7800;
    /* A private namespace keeps the ports to ourselves when we can have one. */
    if (lin_netns_enter(why, sizeof why) != 0) {
        printf("(no private network namespace: %s; using the host's loopback)\n", why);
        port = (uint16_t)(7800 + (getpid() % 50) * 4);
    }
    pid_t rm = fork();
    if (rm == 0) {
        execlp("rm", "rm", "-rf", argv[2], (char *)NULL);
        _exit(127);
    }
    waitpid(rm, NULL, 0);
    signal(SIGPIPE, SIG_IGN);
    wolfSSL_Init();
    if (cluster_init(&cl, argv[1], argv[2], port) != 0) {
        return 1;
    }
    start_all(SMALL_MAP);
    if (cluster_converge(&cl, 20000, NULL) != 0) {
        FAIL("cluster did not form");
        goto out;
    }
    struct store_client *c;
    if (cluster_client(&cl, 0, 5000, &c) != 0) {
        FAIL("cannot reach n1");
        goto out;
    }
    int first_full = -1, full_rc = 0, written = 0;
    uint64_t t0 = lin_now_ms();
    for (int i = 0; i < MAX_WRITES; i++) {
        int rc = put(c, i);
        if (rc == 0) {
            acked[i] = 1;
            written++;
            continue;
        }
        if (rc == STORE_EMAPFULL || rc == STORE_ENOSPC) {
            first_full = i;
            full_rc = rc;
            break;
        }
        FAIL("write %d: unexpected %s", i, strata_strerror(rc));
        break;
    }
    store_client_close(c);
    if (first_full < 0) {
        FAIL("%d writes of %d bytes never filled a %s-byte map", written, VALUE_SIZE, SMALL_MAP);
        goto out;
    }
    printf("map full after %d acknowledged writes (%.1f MB of values) in %llu ms: %s\n", written,
           written * (double)VALUE_SIZE / 1e6, (unsigned long long)(lin_now_ms() - t0),
           strata_strerror(full_rc));
    /* Every node's client port refuses further writes the same way, at once. */
    for (int n = 0; n < CLUSTER_NODES; n++) {
        if (cluster_client(&cl, n, 5000, &c) != 0) {
            FAIL("cannot reach n%d after the map filled", n + 1);
            continue;
        }
        for (int k = 0; k < 3; k++) {
            int i = first_full + 1 + n * 3 + k;
            int rc = put(c, i);
            if (rc == 0) {
                acked[i] = 1; /* freed pages let one more in: fine, it must persist */
            } else if (rc != STORE_EMAPFULL && rc != STORE_ENOSPC) {
                FAIL("n%d: write after full: %s", n + 1, strata_strerror(rc));
            }
        }
        store_client_close(c);
    }
    if (!nodes_alive()) {
        goto out;
    }
    for (int n = 1; n <= CLUSTER_NODES; n++) {
        json_t *st = NULL;
        if (lin_status(&cl, n, 5000, &st) != 0) {
            FAIL("n%d: no status while full", n);
            continue;
        }
        json_t *s = json_object_get(st, "store");
        printf("n%d while full: map_used %lld of %lld, storage_error %lld\n", n,
               (long long)json_integer_value(json_object_get(s, "map_used")),
               (long long)json_integer_value(json_object_get(s, "map_size")),
               (long long)json_integer_value(json_object_get(s, "storage_error")));
        json_decref(st);
    }
    verify_all("while full");

    /* Grow the map: a clean stop, a restart with 64 MiB. */
    for (int i = 0; i < CLUSTER_NODES; i++) {
        cluster_kill(&cl, i, SIGTERM);
    }
    start_all(LARGE_MAP);
    verify_all("after restart with a larger map");
    if (cluster_client(&cl, 2, 10000, &c) != 0) {
        FAIL("cannot reach n3 after the restart");
        goto out;
    }
    int resumed = 0;
    for (int i = first_full + 20; i < first_full + 220 && i < MAX_WRITES; i++) {
        int rc = put(c, i);
        if (rc != 0) {
            FAIL("write %d after growing the map: %s", i, strata_strerror(rc));
            break;
        }
        acked[i] = 1;
        resumed++;
    }
    store_client_close(c);
    printf("writes resumed: %d more acknowledged\n", resumed);
    verify_all("after resuming");
    check_value_cap();
    if (nodes_alive()) {
        uint64_t rev = 0;
        int rc = cluster_converge(&cl, 30000, &rev);
        if (rc != 0) {
            FAIL("final convergence: %s", rc == -2 ? "hash mismatch" : rc == -3 ? "a node exited" : "timeout");
        } else {
            printf("final: replicas agree at revision %llu\n", (unsigned long long)rev);
        }
    }
out:
    cluster_destroy(&cl);
    wolfSSL_Cleanup();
    printf("%s: %d errors\n", errors ? "FAIL" : "PASS", errors);
    return errors ? 1 : 0;
}

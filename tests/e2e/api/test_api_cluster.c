/* e2e for the config role's HTTPS API: a real three-node store cluster
 * (tests/e2e/store/cluster.h, stratad processes on 127.0.0.1-3) and three
 * config roles in this process, one per node, each on its own loop thread
 * and talking to its node's store over the unix socket. Checks:
 *  - the bootstrap admin token (0600 file, created once);
 *  - create on node 1's API, read on node 3's; a token made on node 1 works
 *    on node 3 at once; a token revoked on node 2 stops working on node 3;
 *  - the bad-input matrix over HTTPS with exact statuses and no store write
 *    (the store revision is unchanged);
 *  - two concurrent creators of one fq_name on two nodes: one 201, one 409;
 *  - delete with live refs: 409;
 *  - creates/s with N concurrent keep-alive clients (printed, not asserted),
 *    all landing, every network with exactly one VNI and route target, the
 *    VNIs 1..n without a gap (concurrent compiles through three nodes);
 *  - the store leader killed mid-run: clients retry 503s and transport
 *    errors, every create lands exactly once.
 * Usage: test_api_cluster STRATAD WORKDIR [CLIENTS [CREATES_PER_CLIENT [NODES]]]
 * (NODES: how many of the three nodes the creates/s load goes through). */
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "appliance/config_role.h"
#include "appliance/pkiset.h"
#include "store/proto.h"
#include "tests/e2e/api/api_harness.h"

/* One request; returns the status (or a negative transport error). */
static int call(struct api_client *c, const char *token, const char *method, const char *path,
                const char *body, struct api_resp *r)
{
    int rc = api_client_request(c, method, path, token, NULL, body, body ? strlen(body) : 0, r);
    return rc ? rc : r->status;
}

static const char *jstr(const json_t *doc, const char *a, const char *b)
{
    const json_t *v = json_object_get(doc, a);
    return json_string_value(b ? json_object_get(v, b) : v) ?: "";
}

/* The store's revision through the leader (a linearizable read). */
static uint64_t store_revision(void)
{
    struct store_client *sc = NULL;
    uint64_t rev = 0;
    for (int i = 0; i < CLUSTER_NODES && rev == 0; i++) {
        if (cluster_client(&cl, i, 2000, &sc) != 0) {
            continue;
        }
        struct buf cmd, raw;
        struct store_reply rep;
        buf_init(&cmd, 0);
        buf_init(&raw, 0);
        struct store_keysel sel = store_sel_key("/c/none", 7);
        if (store_cmd_encode_range(&cmd, &sel, 1, 0) == 0 &&
            store_client_cmd(sc, &cmd, false, &raw, &rep) == 0) {
            rev = rep.revision;
            store_reply_destroy(&rep);
        }
        buf_destroy(&cmd);
        buf_destroy(&raw);
        store_client_close(sc);
    }
    return rev;
}

/* The keys under 'prefix' (up to 'limit'), read through the leader, as
 * key -> value text; NULL when no node answered. */
static json_t *store_scan(const char *prefix, uint32_t limit)
{
    json_t *out = NULL;
    for (int i = 0; i < CLUSTER_NODES && !out; i++) {
        struct store_client *sc = NULL;
        if (cluster_client(&cl, i, 5000, &sc) != 0) {
            continue;
        }
        struct buf cmd, raw;
        struct store_reply rep;
        buf_init(&cmd, 0);
        buf_init(&raw, 0);
        struct store_keysel sel = store_sel_prefix(prefix, (uint32_t)strlen(prefix));
        if (store_cmd_encode_range(&cmd, &sel, limit, 0) == 0 &&
            store_client_cmd(sc, &cmd, false, &raw, &rep) == 0) {
            out = json_object();
            for (uint32_t k = 0; rep.results_len && k < rep.results[0].kvs_len; k++) {
                const struct store_kv *kv = &rep.results[0].kvs[k];
                char *key = strndup((const char *)kv->key, kv->key_size);
                json_object_set_new(out, key, json_stringn((const char *)kv->value, kv->value_size));
                free(key);
            }
            store_reply_destroy(&rep);
        }
        buf_destroy(&cmd);
        buf_destroy(&raw);
        store_client_close(sc);
    }
    return out;
}

/* Identifiers after concurrent network creates through three nodes: every
 * virtual network holds exactly one VNI and one route target of its own
 * (numbers are keys, so a number is never held twice; an owner holding two
 * would be a leak), and the VNIs in use are 1..n without a gap, as serial
 * lowest-free allocation gives when nothing was deleted. */
static void check_identifiers(void)
{
    json_t *vns = store_scan("/c/o/virtual-network/", 1000000);
    json_t *vni = store_scan("/c/id/vni/", 1000000);
    json_t *rt = store_scan("/c/id/rt/", 1000000);
    CHECK(vns && vni && rt, "identifier scan failed");
    if (vns && vni && rt) {
        json_t *pools[2] = {vni, rt};
        for (int p = 0; p < 2; p++) {
            json_t *owners = json_object();
            const char *key;
            json_t *v;
            int dup = 0;
            json_object_foreach(pools[p], key, v) {
                const char *o = json_string_value(v);
                dup += json_object_get(owners, o) != NULL;
                json_object_set_new(owners, o, json_true());
            }
            int missing = 0;
            json_object_foreach(vns, key, v) {
                missing += !json_object_get(owners, key + strlen("/c/o/virtual-network/"));
            }
            CHECK(dup == 0 && missing == 0, "%s: %d owners hold two numbers, %d networks none",
                  p ? "route targets" : "VNIs", dup, missing);
            json_decref(owners);
        }
        size_t n = json_object_size(vni);
        char last[64];
        snprintf(last, sizeof last, "/c/id/vni/%010zu", n);
        CHECK(json_object_get(vni, last) != NULL, "VNIs are not 1..%zu", n);
        printf("identifiers: %zu networks, %zu VNIs, %zu route targets, all distinct\n",
               json_object_size(vns), n, json_object_size(rt));
    }
    json_decref(vns);
    json_decref(vni);
    json_decref(rt);
}

static int leader_index(void)
{
    for (int i = 0; i < CLUSTER_NODES; i++) {
        struct store_client *sc = NULL;
        if (cluster_client(&cl, i, 1000, &sc) != 0) {
            continue;
        }
        struct buf raw;
        int status = 0;
        buf_init(&raw, 0);
        int rc = store_client_call(sc, STORE_MSG_STATUS, 0, NULL, 0, &status, &raw);
        json_t *doc = rc == 0 && status == 0 ? json_loadb((const char *)raw.data, raw.size, 0, NULL)
                                             : NULL;
        bool leader = strcmp(jstr(doc, "state", NULL), "leader") == 0;
        json_decref(doc);
        buf_destroy(&raw);
        store_client_close(sc);
        if (leader) {
            return i;
        }
    }
    return -1;
}

/* ---- scenarios ---- */

static void test_bootstrap_token(void)
{
    char path[1100], path2[1100], target[1100];
    bool created = false;
    char err[256];
    snprintf(path, sizeof path, "%s/admin.token", cl.dir);
    snprintf(path2, sizeof path2, "%s/admin2.token", cl.dir);
    snprintf(target, sizeof target, "unix:%s/n1.sock", cl.dir);
    int rc = -1;
    for (int i = 0; i < 100 && rc != 0; i++) {
        rc = config_role_bootstrap_token(target, NULL, path, &created, err, sizeof err);
        if (rc) {
            usleep(100 * 1000);
        }
    }
    CHECK(rc == 0 && created, "bootstrap token: %d %s", rc, err);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "token file mode %o",
          (unsigned)(st.st_mode & 0777));
    FILE *fp = fopen(path, "r");
    CHECK(fp && fgets(admin_token, sizeof admin_token, fp), "token file unreadable");
    if (fp) {
        fclose(fp);
    }
    admin_token[strcspn(admin_token, "\n")] = '\0';
    snprintf(target, sizeof target, "unix:%s/n3.sock", cl.dir);
    rc = config_role_bootstrap_token(target, NULL, path2, &created, err, sizeof err);
    CHECK(rc == 0 && !created && access(path2, F_OK) != 0, "second bootstrap made a token");
}

static void test_cross_node(char p1[64], char p2[64], char member1[128], char member2[128],
                            char reader1[128])
{
    struct api_client *c1 = client(0), *c2 = client(1), *c3 = client(2);
    struct api_resp r = {0};
    char path[256], body[512];
    CHECK(call(c1, admin_token, "POST", "/projects",
               "{\"project\": {\"fq_name\": [\"default-domain\", \"p1\"]}}", &r) == 201,
          "create p1: %d %s", r.status, r.body);
    snprintf(p1, 64, "%s", jstr(r.doc, "project", "uuid"));
    char etag[64];
    snprintf(etag, sizeof etag, "%s", r.etag);
    snprintf(path, sizeof path, "/project/%s", p1);
    CHECK(call(c3, admin_token, "GET", path, NULL, &r) == 200, "read p1 on n3: %d %s", r.status,
          r.body);
    CHECK(strcmp(r.etag, etag) == 0, "etag %s vs %s", r.etag, etag);
    CHECK(strstr(jstr(r.doc, "project", "href"), path) != NULL, "href %s",
          jstr(r.doc, "project", "href"));
    CHECK(call(c2, admin_token, "POST", "/projects",
               "{\"project\": {\"fq_name\": [\"default-domain\", \"p2\"]}}", &r) == 201,
          "create p2: %d", r.status);
    snprintf(p2, 64, "%s", jstr(r.doc, "project", "uuid"));
    /* tokens made on node 1, used at once on node 3 */
    snprintf(body, sizeof body, "{\"role\": \"member\", \"project_uuid\": \"%s\"}", p1);
    CHECK(call(c1, admin_token, "POST", "/tokens", body, &r) == 201, "member token: %d %s",
          r.status, r.body);
    snprintf(member1, 128, "%s", jstr(r.doc, "token", NULL));
    CHECK(call(c3, member1, "GET", "/virtual-networks", NULL, &r) == 200,
          "fresh token on n3: %d %s", r.status, r.body);
    snprintf(body, sizeof body, "{\"role\": \"member\", \"project_uuid\": \"%s\"}", p2);
    CHECK(call(c1, admin_token, "POST", "/tokens", body, &r) == 201, "member2 token");
    snprintf(member2, 128, "%s", jstr(r.doc, "token", NULL));
    CHECK(call(c1, member1, "POST", "/tokens", "{\"role\": \"reader\"}", &r) == 201,
          "reader token by member: %d %s", r.status, r.body);
    snprintf(reader1, 128, "%s", jstr(r.doc, "token", NULL));
    CHECK(call(c2, admin_token, "GET", "/openapi.json", NULL, &r) == 200 &&
              json_object_get(r.doc, "paths"),
          "openapi");
    CHECK(call(c2, admin_token, "GET", "/", NULL, &r) == 200, "root");
    api_resp_clear(&r);
    api_client_free(c1);
    api_client_free(c2);
    api_client_free(c3);
}

static void test_bad_input(const char *p1, const char *member1, const char *member2,
                           const char *reader1)
{
    struct api_client *c = client(1), *c3 = client(2);
    struct api_resp r = {0};
    char body[512], p2vn[256], expired[128], revoked[128], path[256];
    /* setup (writes): a p2 network, an expiring token, a revoked token */
    CHECK(call(c, member2, "POST", "/virtual-networks",
               "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p2\", \"secret\"]}}",
               &r) == 201,
          "p2 vn: %d %s", r.status, r.body);
    snprintf(p2vn, sizeof p2vn, "/virtual-network/%s", jstr(r.doc, "virtual-network", "uuid"));
    CHECK(call(c, admin_token, "POST", "/tokens", "{\"role\": \"admin\", \"ttl\": 1}", &r) == 201,
          "ttl token");
    snprintf(expired, sizeof expired, "%s", jstr(r.doc, "token", NULL));
    CHECK(call(c, admin_token, "POST", "/tokens", "{\"role\": \"admin\"}", &r) == 201, "token");
    snprintf(revoked, sizeof revoked, "%s", jstr(r.doc, "token", NULL));
    snprintf(path, sizeof path, "/tokens/%s", jstr(json_object_get(r.doc, "api-token"), "uuid", NULL));
    CHECK(call(c3, revoked, "GET", "/projects", NULL, &r) == 200, "revocable token works on n3");
    CHECK(call(c, admin_token, "DELETE", path, NULL, &r) == 200, "revoke on n2: %d", r.status);
    /* revocation is a store write: node 3 honours it once its replica applied it */
    double end = now_s() + 5;
    while (call(c3, revoked, "GET", "/projects", NULL, &r) == 200 && now_s() < end) {
        usleep(1000);
    }
    CHECK(r.status == 401, "revoked token on n3: %d", r.status);
    /* wait out the 1 s token */
    time_t exp_at = time(NULL) + 2;
    while (time(NULL) <= exp_at) {
        usleep(100 * 1000);
    }

    uint64_t rev = store_revision();
    CHECK(rev > 0, "store revision");
    static const struct {
        const char *body;
        int status;
    } cases[] = {
        {"{\"virtual-network\": {\"name\": \"a\"", 400},
        {"{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"a\"], \"name\": 5}}", 400},
        {"{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"a\"], \"nope\": 1}}", 400},
        {"{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"a\"], "
         "\"virtual_network_properties\": {\"vxlan_network_identifier\": 0}}}", 422},
        {"{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"a\"], "
         "\"network_ipam_refs\": [{\"to\": [\"default-domain\", \"p1\", \"missing\"]}]}}", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = call(c, member1, "POST", "/virtual-networks", cases[i].body, &r);
        CHECK(st == cases[i].status && json_object_get(r.doc, "error"), "case %zu: %d %s", i, st,
              r.body);
    }
    size_t n = 10000;
    char *deep = malloc(2 * n + 64);
    size_t o = (size_t)sprintf(deep, "{\"virtual-network\": ");
    memset(deep + o, '[', n);
    memset(deep + o + n, ']', n);
    o += 2 * n;
    deep[o++] = '}';
    CHECK(api_client_request(c, "POST", "/virtual-networks", member1, NULL, deep, o, &r) == 0 &&
              r.status == 400,
          "deep: %d", r.status);
    free(deep);
    const char utf8[] = "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"\xc3\x28\"]}}";
    CHECK(api_client_request(c, "POST", "/virtual-networks", member1, NULL, utf8, sizeof utf8 - 1,
                             &r) == 0 &&
              r.status == 400,
          "utf8: %d %s", r.status, r.body);
    char head[512];
    snprintf(head, sizeof head,
             "POST /virtual-networks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Length: %u\r\n\r\n",
             member1, 9u << 20);
    CHECK(api_client_raw(c, head, strlen(head), &r) == 0 && r.status == 413, "oversized: %d",
          r.status);
    const char *vn = "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"z\"]}}";
    CHECK(call(c, NULL, "POST", "/virtual-networks", vn, &r) == 401, "no token: %d", r.status);
    CHECK(call(c, "st_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "POST", "/virtual-networks", vn,
               &r) == 401,
          "unknown token: %d", r.status);
    CHECK(call(c, "garbage", "GET", "/projects", NULL, &r) == 401, "malformed token");
    CHECK(call(c, expired, "GET", "/projects", NULL, &r) == 401 &&
              strcmp(jstr(json_object_get(r.doc, "error"), "message", NULL), "token expired") == 0,
          "expired: %d %s", r.status, r.body);
    CHECK(call(c, revoked, "POST", "/virtual-networks", vn, &r) == 401, "revoked: %d", r.status);
    CHECK(call(c, reader1, "POST", "/virtual-networks", vn, &r) == 403, "reader create: %d",
          r.status);
    CHECK(call(c, member1, "GET", p2vn, NULL, &r) == 403, "other project's read: %d", r.status);
    CHECK(call(c, member1, "DELETE", p2vn, NULL, &r) == 403, "other project's delete: %d",
          r.status);
    snprintf(body, sizeof body, "{\"virtual-network\": {\"parent_uuid\": \"%s\", \"name\": \"q\"}}",
             p1);
    CHECK(call(c, member2, "POST", "/virtual-networks", body, &r) == 403, "create in p1 by p2: %d",
          r.status);
    CHECK(call(c, member1, "POST", "/tokens", "{\"role\": \"admin\"}", &r) == 403,
          "member makes admin");
    CHECK(call(c, member1, "POST", "/domains", "{\"domain\": {\"fq_name\": [\"d9\"]}}", &r) == 403,
          "member creates domain");
    CHECK(call(c, admin_token, "PUT", "/virtual-network/0d5a0a56-8d6e-4a3c-9d7e-000000000000",
               "{\"virtual-network\": {}}", &r) == 404,
          "put missing: %d", r.status);
    uint64_t after = store_revision();
    CHECK(after == rev, "refused requests changed the store: %llu -> %llu",
          (unsigned long long)rev, (unsigned long long)after);
    api_resp_clear(&r);
    api_client_free(c);
    api_client_free(c3);
}

struct racer {
    int node;
    const char *token;
    const char *body;
    pthread_barrier_t *barrier;
    int status;
};

static void *race_thread(void *arg)
{
    struct racer *rc = arg;
    struct api_client *c = client(rc->node);
    struct api_resp r = {0};
    call(c, rc->token, "GET", "/", NULL, &r); /* connected and warm */
    pthread_barrier_wait(rc->barrier);
    rc->status = call(c, rc->token, "POST", "/virtual-networks", rc->body, &r);
    api_resp_clear(&r);
    api_client_free(c);
    return NULL;
}

static void test_duplicate_race(const char *member1)
{
    int both_ok = 0;
    for (int round = 0; round < 20; round++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"race%d\"]}}",
                 round);
        pthread_barrier_t b;
        pthread_barrier_init(&b, NULL, 2);
        struct racer rs[2] = {{0, member1, body, &b, 0}, {2, member1, body, &b, 0}};
        pthread_t t[2];
        for (int i = 0; i < 2; i++) {
            pthread_create(&t[i], NULL, race_thread, &rs[i]);
        }
        for (int i = 0; i < 2; i++) {
            pthread_join(t[i], NULL);
        }
        pthread_barrier_destroy(&b);
        bool ok = (rs[0].status == 201 && rs[1].status == 409) ||
                  (rs[0].status == 409 && rs[1].status == 201);
        CHECK(ok, "race %d: %d and %d", round, rs[0].status, rs[1].status);
        both_ok += ok;
    }
    printf("duplicate fq_name race: %d/20 rounds one 201 + one 409\n", both_ok);
}

static void test_delete_with_refs(const char *member1)
{
    struct api_client *c = client(0);
    struct api_resp r = {0};
    char path[256];
    CHECK(call(c, member1, "POST", "/network-ipams",
               "{\"network-ipam\": {\"fq_name\": [\"default-domain\", \"p1\", \"ipam1\"]}}",
               &r) == 201,
          "ipam");
    snprintf(path, sizeof path, "/network-ipam/%s", jstr(r.doc, "network-ipam", "uuid"));
    CHECK(call(c, member1, "POST", "/virtual-networks",
               "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"refvn\"], "
               "\"network_ipam_refs\": [{\"to\": [\"default-domain\", \"p1\", \"ipam1\"], "
               "\"attr\": {\"ipam_subnets\": [{\"subnet\": {\"ip_prefix\": \"10.9.0.0\", "
               "\"ip_prefix_len\": 24}}]}}]}}",
               &r) == 201,
          "vn with ref: %d %s", r.status, r.body);
    uint64_t rev = store_revision();
    CHECK(call(c, member1, "DELETE", path, NULL, &r) == 409 && strstr(r.body, "refvn"),
          "delete with refs: %d %s", r.status, r.body);
    CHECK(store_revision() == rev, "refused delete wrote");
    api_resp_clear(&r);
    api_client_free(c);
}

struct loader {
    int node, id, count;
    const char *token, *prefix;
    bool retry;
    int created, conflicts_after_retry, failures, retries;
    double first_ok;
};

static atomic_int total_ok;
static int load_nodes = CLUSTER_NODES; /* nodes the load goes through (argv[5]) */

static void *load_thread(void *arg)
{
    struct loader *l = arg;
    struct api_client *c = client(l->node);
    struct api_resp r = {0};
    char body[256];
    for (int i = 0; i < l->count; i++) {
        snprintf(body, sizeof body,
                 "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"p1\", \"%s-%d-%d\"]}}",
                 l->prefix, l->id, i);
        bool retried = false;
        double deadline = now_s() + 60;
        for (;;) {
            int st = call(c, l->token, "POST", "/virtual-networks", body, &r);
            if (st == 201) {
                l->created++;
                break;
            }
            if (st == 409 && retried) {
                l->conflicts_after_retry++; /* an earlier attempt landed */
                break;
            }
            if (l->retry && (st == 503 || st < 0) && now_s() < deadline) {
                l->retries++;
                retried = true;
                usleep(50 * 1000);
                continue;
            }
            l->failures++;
            fprintf(stderr, "create %s-%d-%d: %d %s\n", l->prefix, l->id, i, st, r.body ?: "");
            break;
        }
        atomic_fetch_add(&total_ok, 1);
    }
    api_resp_clear(&r);
    api_client_free(c);
    return NULL;
}

static int run_load(const char *prefix, int clients, int per, bool retry, const char *token,
                    bool kill_leader, double *rate, int *retries)
{
    struct loader *ls = calloc((size_t)clients, sizeof *ls);
    pthread_t *ts = calloc((size_t)clients, sizeof *ts);
    atomic_store(&total_ok, 0);
    double t0 = now_s();
    for (int i = 0; i < clients; i++) {
        ls[i] = (struct loader){.node = i % load_nodes, .id = i, .count = per, .token = token,
                                .prefix = prefix, .retry = retry};
        pthread_create(&ts[i], NULL, load_thread, &ls[i]);
    }
    if (kill_leader) {
        while (atomic_load(&total_ok) < clients * per / 4) {
            usleep(1000);
        }
        int leader = leader_index();
        CHECK(leader >= 0, "no leader to kill");
        if (leader >= 0) {
            printf("killing store leader n%d after %d creates\n", leader + 1,
                   atomic_load(&total_ok));
            cluster_kill(&cl, leader, SIGKILL);
            usleep(1000 * 1000);
            CHECK(cluster_start(&cl, leader) == 0, "restart n%d", leader + 1);
        }
    }
    int failures = 0, landed = 0;
    *retries = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(ts[i], NULL);
        failures += ls[i].failures;
        landed += ls[i].created + ls[i].conflicts_after_retry;
        *retries += ls[i].retries;
    }
    double dt = now_s() - t0;
    *rate = landed / dt;
    CHECK(failures == 0, "%s: %d creates failed", prefix, failures);
    CHECK(landed == clients * per, "%s: %d of %d creates landed", prefix, landed, clients * per);
    free(ls);
    free(ts);
    return failures;
}

/* Counts the networks of p1 whose name starts with 'prefix'. */
static int count_prefix(const char *p1, const char *prefix)
{
    struct api_client *c = client(0);
    struct api_resp r = {0};
    char path[256];
    int n = 0;
    char marker[64] = "";
    for (;;) {
        snprintf(path, sizeof path, "/virtual-networks?parent_id=%s&page_limit=5000%s%s", p1,
                 marker[0] ? "&page_marker=" : "", marker);
        if (call(c, admin_token, "GET", path, NULL, &r) != 200) {
            CHECK(0, "list: %d %s", r.status, r.body);
            break;
        }
        json_t *l = json_object_get(r.doc, "virtual-networks");
        size_t i;
        json_t *it;
        json_array_foreach(l, i, it)
        {
            const char *name = json_string_value(json_array_get(json_object_get(it, "fq_name"), 2));
            n += name && strncmp(name, prefix, strlen(prefix)) == 0 &&
                 name[strlen(prefix)] == '-';
        }
        const char *next = jstr(r.doc, "next_page_marker", NULL);
        if (!*next) {
            break;
        }
        snprintf(marker, sizeof marker, "%s", next);
    }
    api_resp_clear(&r);
    api_client_free(c);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_api_cluster STRATAD WORKDIR [CLIENTS [CREATES]]\n");
        return 2;
    }
    int clients = argc > 3 ? atoi(argv[3]) : 16;
    int per = argc > 4 ? atoi(argv[4]) : 100;
    load_nodes = argc > 5 && atoi(argv[5]) >= 1 && atoi(argv[5]) <= CLUSTER_NODES ? atoi(argv[5])
                                                                                 : CLUSTER_NODES;
    if (getenv("STRATA_UNDER_SANITIZER")) {
        per = per / 4 ? per / 4 : 1;
    }
    if (cluster_up(argv[1], argv[2], (uint16_t)(8100 + (getpid() % 50) * 4)) != 0) {
        return 1;
    }
    test_bootstrap_token();
    roles_start();
    if (atomic_load(&errors) == 0) {
        char p1[64], p2[64], member1[128], member2[128], reader1[128];
        test_cross_node(p1, p2, member1, member2, reader1);
        test_bad_input(p1, member1, member2, reader1);
        test_duplicate_race(member1);
        test_delete_with_refs(member1);

        double rate;
        int retries;
        struct config_role_stats before[CLUSTER_NODES];
        for (int i = 0; i < CLUSTER_NODES; i++) {
            config_role_stats(api[i].role, &before[i]);
        }
        run_load("bench", clients, per, false, member1, false, &rate, &retries);
        printf("RESULT api creates_per_s=%.0f clients=%d creates=%d (HTTPS, token, keep-alive, "
               "through %d of 3 nodes)\n",
               rate, clients, clients * per, load_nodes);
        for (int i = 0; i < CLUSTER_NODES; i++) {
            struct config_role_stats st;
            config_role_stats(api[i].role, &st);
            printf("n%d bench compile: attempts=%llu refused=%llu lock_ms=%llu plan_ms=%llu "
                   "commit_ms=%llu catchup_ms=%llu pipelined=%llu\n",
                   i + 1, (unsigned long long)(st.compile_attempts - before[i].compile_attempts),
                   (unsigned long long)(st.compile_refused - before[i].compile_refused),
                   (unsigned long long)(st.compile_lock_ms - before[i].compile_lock_ms),
                   (unsigned long long)(st.compile_plan_ms - before[i].compile_plan_ms),
                   (unsigned long long)(st.compile_commit_ms - before[i].compile_commit_ms),
                   (unsigned long long)(st.compile_catchup_ms - before[i].compile_catchup_ms),
                   (unsigned long long)(st.compile_pipelined - before[i].compile_pipelined));
        }
        CHECK(count_prefix(p1, "bench") == clients * per, "bench networks listed");
        check_identifiers();

        run_load("kill", 6, per, true, member1, true, &rate, &retries);
        printf("leader kill: %d creates landed, %d retries after 503/transport errors, %.0f/s\n",
               6 * per, retries, rate);
        CHECK(retries > 0, "the leader kill caused no retry");
        CHECK(count_prefix(p1, "kill") == 6 * per, "every create landed exactly once");
        for (int i = 0; i < CLUSTER_NODES; i++) {
            struct config_role_stats st;
            config_role_stats(api[i].role, &st);
            printf("n%d: %llu store clients opened\n", i + 1, (unsigned long long)st.store_clients);
        }
    }
    for (int i = 0; i < CLUSTER_NODES; i++) {
        api_stop(i);
    }
    CHECK(cluster_converge(&cl, 30000, NULL) == 0, "replicas converge");
    CHECK(cluster_check_logs(&cl) == 0, "store logs show crashes");
    tls_ctx_free(client_tls);
    cluster_destroy(&cl);
    wolfSSL_Cleanup();
    int e = atomic_load(&errors);
    printf("%s (%d errors)\n", e ? "FAILED" : "OK", e);
    return e ? 1 : 0;
}

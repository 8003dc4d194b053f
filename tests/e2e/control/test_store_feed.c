/* routing/control/store_feed.c against a real three-node store: bgp-router
 * objects written to the store reach the control role's callback, are
 * turned into the right session plan (bgp_peers_plan), follow every later
 * put and delete, and survive the loss of the node the feed is connected
 * to (it reconnects, reloads, and sees what changed meanwhile). The
 * object feed for agents' configuration (store_feed_set_objects) into an
 * agent_config image: an index and a network reach the agent as exactly
 * the objects they change, also across the reconnect. Loads are read in
 * pages of one object here; networks changed between two pages reach the
 * object callback exactly once each (a change a later page already showed
 * is not delivered again by the watch).
 * Usage: test_store_feed STRATAD WORKDIR */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "routing/control/agent_config.h"
#include "routing/control/bgp_peers.h"
#include "routing/control/store_feed.h"
#include "tests/e2e/store/cluster.h"

static struct cluster cl;
static uv_loop_t loop;
static struct bgp_peers_plan plan;
static unsigned calls;
static size_t routers_seen;

static void on_config(void *arg, json_t *routers, uint32_t cluster_as, json_t *instances)
{
    (void)arg;
    (void)instances;
    char err[160];
    calls++;
    routers_seen = json_array_size(routers);
    if (bgp_peers_plan(routers, "ctl1", cluster_as, &plan, err, sizeof err) != 0) {
        plan.count = (size_t)-1;
        fprintf(stderr, "plan: %s\n", err);
    }
}

static void tick(uv_timer_t *t)
{
    (void)t;
}

/* Agents' configuration: the image the feed fills, objects "sent". */
static struct acfg *cfg;
static long objs_sent;

/* Object callbacks for the networks x1..x3, by key: puts and deletes. */
static int x_puts[4], x_dels[4];
static char x2_value[64];

static void on_object(void *arg, const char *type, const char *key, json_t *obj)
{
    (void)arg;
    if (key && strncmp(key, "/c/o/virtual-network/x", 22) == 0 && key[22] >= '1' && key[22] <= '3') {
        int i = key[22] - '0';
        if (obj) {
            x_puts[i]++;
            const char *v = json_string_value(json_object_get(obj, "display_name"));
            if (i == 2 && v) {
                snprintf(x2_value, sizeof x2_value, "%s", v);
            }
        } else {
            x_dels[i]++;
        }
    }
    (void)acfg_object(cfg, type, key, obj);
}

static int count_send(void *arg, void *user, const struct xmpp_config_obj *objs, size_t count)
{
    (void)arg;
    (void)user;
    (void)objs;
    objs_sent += (long)count;
    return 0;
}

/* Runs the loop, flushing the image, until 'want' objects more were sent
 * and then 300 ms without more (or 15 s); returns how many were sent. */
static long wait_sent(long want)
{
    long start = objs_sent;
    uint64_t end = uv_now(&loop) + 15000, quiet_until = 0;
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    while (uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
        if (acfg_pending(cfg)) {
            (void)acfg_flush(cfg, count_send, NULL);
        }
        if (objs_sent - start >= want && !quiet_until) {
            quiet_until = uv_now(&loop) + 300;
        }
        if (quiet_until && uv_now(&loop) >= quiet_until) {
            break;
        }
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return objs_sent - start;
}

/* Runs the encoded 'cmd' through node 'node', retrying while there is no
 * leader yet (up to 5 s); '*count' (may be NULL) gets the first result's
 * count. */
static int node_cmd(int node, const struct buf *cmd, long *count)
{
    struct store_client *c;
    if (cluster_client(&cl, node, 5000, &c) != 0) {
        return -1;
    }
    struct buf raw;
    buf_init(&raw, 0);
    struct store_reply reply;
    int rc = 0;
    for (int attempt = 0; attempt < 50; attempt++) {
        rc = store_client_cmd(c, cmd, false, &raw, &reply);
        if (rc == 0) {
            if (count) {
                *count = reply.results_len ? (long)reply.results[0].count : -1;
            }
            store_reply_destroy(&reply);
            break;
        }
        if (attempt < 49) {
            usleep(100 * 1000); /* no leader yet: retry */
        }
    }
    buf_destroy(&raw);
    store_client_close(c);
    return rc;
}

/* Writes (value != NULL) or deletes 'key' through node 'node'. */
static int store_op(int node, const char *key, const char *value)
{
    struct buf cmd;
    buf_init(&cmd, 0);
    int rc;
    if (value) {
        rc = store_cmd_encode_put(&cmd, key, (uint32_t)strlen(key), value, (uint32_t)strlen(value), 0);
    } else {
        struct store_keysel sel = store_sel_key(key, (uint32_t)strlen(key));
        rc = store_cmd_encode_delete(&cmd, &sel, 0);
    }
    if (rc == 0) {
        rc = node_cmd(node, &cmd, NULL);
    }
    buf_destroy(&cmd);
    return rc;
}

/* After the first page of the first load of networks (x1 read): x2
 * changed, x3 created, x1 deleted; the later pages show the first two, the
 * watch (from after the first page) all three. */
static int page_errors;
static bool paged;

static void on_page(void *arg, const char *type, unsigned pages)
{
    (void)arg;
    if (paged || strcmp(type, "virtual-network") != 0 || pages != 1) {
        return;
    }
    paged = true;
    if (store_op(1, "/c/o/virtual-network/x2", "{\"uuid\": \"x2\", \"fq_name\": [\"d\", \"p\", \"x2\"],"
                 " \"display_name\": \"second\"}") != 0 ||
        store_op(1, "/c/o/virtual-network/x3", "{\"uuid\": \"x3\", \"fq_name\": [\"d\", \"p\", \"x3\"]}") != 0 ||
        store_op(1, "/c/o/virtual-network/x1", NULL) != 0) {
        page_errors++;
    }
}

/* A linearizable read of 'prefix' through node 'node': once it answers,
 * that node has applied every write acknowledged before (so its
 * serializable reads, the feed's, see them). Returns the keys counted. */
static long count_applied(int node, const char *prefix)
{
    struct buf cmd;
    buf_init(&cmd, 0);
    long n = -1;
    struct store_keysel sel = store_sel_prefix(prefix, (uint32_t)strlen(prefix));
    if (store_cmd_encode_range(&cmd, &sel, 0, STORE_F_COUNT_ONLY) != 0 || node_cmd(node, &cmd, &n) != 0) {
        n = -1;
    }
    buf_destroy(&cmd);
    return n;
}

/* Runs the loop until the feed has delivered a set of 'n' routers (15 s). */
static int wait_routers(size_t n)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    uint64_t end = uv_now(&loop) + 15000;
    while (!(calls > 0 && routers_seen == n) && uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    if (routers_seen != n) {
        fprintf(stderr, "feed: %zu routers seen, %zu expected (after %u callbacks)\n", routers_seen, n, calls);
        return -1;
    }
    return 0;
}

static bool has_peer(const char *name)
{
    for (size_t i = 0; i < plan.count && plan.count != (size_t)-1; i++) {
        if (strcmp(plan.peers[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

#define ROUTER(uuid, name, addr, type, extra)                                                               \
    "{\"uuid\": \"" uuid "\", \"fq_name\": [\"default-global-system-config\", \"" name "\"],"               \
    " \"bgp_router_parameters\": {\"router_type\": \"" type "\", \"address\": \"" addr "\"" extra "}}"

#define CHECK(cond, what)                                                                                   \
    do {                                                                                                    \
        if (!(cond)) {                                                                                      \
            fprintf(stderr, "FAIL: %s\n", what);                                                            \
            errors++;                                                                                       \
        } else {                                                                                            \
            printf("ok: %s\n", what);                                                                       \
        }                                                                                                   \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_store_feed STRATAD WORKDIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    wolfSSL_Init();
    if (cluster_init(&cl, argv[1], argv[2], (uint16_t)(9300 + (getpid() % 100) * 4)) != 0) {
        return 1;
    }
    for (int i = 0; i < CLUSTER_NODES; i++) {
        cluster_start(&cl, i);
    }
    int errors = 0;
    if (cluster_converge(&cl, 20000, NULL) != 0) {
        fprintf(stderr, "cluster did not form\n");
        cluster_destroy(&cl);
        return 1;
    }
    CHECK(store_op(1, "/c/o/global-system-config/g0", "{\"uuid\": \"g0\", \"autonomous_system\": 64512}") == 0,
          "global-system-config written");
    CHECK(store_op(1, "/c/o/bgp-router/u1", ROUTER("u1", "ctl1", "10.0.0.11", "control-node", "")) == 0,
          "ctl1 written");
    CHECK(store_op(1, "/c/o/bgp-router/u2", ROUTER("u2", "ctl2", "10.0.0.12", "control-node", "")) == 0,
          "ctl2 written");

    if (uv_loop_init(&loop) != 0) {
        return 1;
    }
    char target[128];
    cluster_target(&cl, 0, target, sizeof target);
    struct store_feed *feed;
    CHECK(store_op(1, "/c/o/virtual-router-index/i9",
                   "{\"uuid\": \"i9\", \"fq_name\": [\"default-global-system-config\", \"vr9\", \"index\"],"
                   " \"virtual_router_index\": {\"interfaces\": [{\"fq_name\": [\"d\", \"p\", \"port9\"],"
                   " \"uuid\": \"v9\", \"virtual_network\": \"d:p:n\", \"routing_instance\": \"d:p:n:n\"}],"
                   " \"virtual_networks\": [\"d:p:n\"], \"routing_instances\": [\"d:p:n:n\"]}}") == 0,
          "vr9's index written");
    CHECK(store_op(1, "/c/o/virtual-network/x1", "{\"uuid\": \"x1\", \"fq_name\": [\"d\", \"p\", \"x1\"]}") == 0 &&
              store_op(1, "/c/o/virtual-network/x2", "{\"uuid\": \"x2\", \"fq_name\": [\"d\", \"p\", \"x2\"],"
                       " \"display_name\": \"first\"}") == 0,
          "networks x1 and x2 written");
    CHECK(count_applied(0, "/c/o/virtual-network/") == 2, "the feed's node has applied both");
    if (acfg_create(&cfg) != 0 || acfg_agent_up(cfg, "vr9", NULL) != 0 || acfg_agent_up(cfg, "vr8", NULL) != 0) {
        return 1;
    }
    if (store_feed_start(&loop, cl.tls, target, on_config, NULL, &feed) != 0) {
        fprintf(stderr, "feed did not start\n");
        return 1;
    }
    store_feed_set_objects(feed, on_object, NULL);
    store_feed_set_page_limit(feed, 1, on_page, NULL);
    CHECK(wait_routers(2) == 0 && plan.count == 1 && has_peer("ctl2") && plan.local.local_as == 64512,
          "initial load: ctl1 peers with ctl2 in AS 64512");
    long n = wait_sent(7);
    size_t o8 = 1, s8 = 1;
    CHECK(n == 7 && acfg_agent_stats(cfg, "vr8", &o8, &s8) == 0 && o8 == 0,
          "initial load: vr9 gets its 4 nodes and 3 links, vr8 (no index) nothing");
    /* until x1's delete came through the watch, then 300 ms more for repeats */
    uint64_t until = uv_now(&loop) + 15000, quiet = 0;
    uv_timer_t qt;
    uv_timer_init(&loop, &qt);
    uv_timer_start(&qt, tick, 50, 50);
    while (uv_now(&loop) < until && !(quiet && uv_now(&loop) >= quiet)) {
        uv_run(&loop, UV_RUN_ONCE);
        if (!quiet && x_dels[1] > 0) {
            quiet = uv_now(&loop) + 300;
        }
    }
    uv_close((uv_handle_t *)&qt, NULL);
    CHECK(paged && page_errors == 0, "networks changed between the first and the second page of their load");
    CHECK(x_puts[1] == 1 && x_dels[1] == 1, "x1: read on the first page, its later delete delivered once");
    CHECK(x_puts[2] == 1 && strcmp(x2_value, "second") == 0 && x_dels[2] == 0,
          "x2: read changed on a later page, the watch's repeat of that change dropped");
    CHECK(x_puts[3] == 1 && x_dels[3] == 0, "x3: created between pages, delivered once");
    CHECK(store_op(2, "/c/o/virtual-network/n1", "{\"uuid\": \"n1\", \"fq_name\": [\"d\", \"p\", \"n\"],"
                   " \"virtual_network_network_id\": 5}") == 0, "network d:p:n written");
    CHECK((n = wait_sent(1)) == 1, "the network's properties: one update to vr9");
    /* a gateway linked from ctl1 */
    CHECK(store_op(2, "/c/o/bgp-router/w1",
                   "{\"uuid\": \"w1\", \"fq_name\": [\"default-global-system-config\", \"gw1\"],"
                   " \"bgp_router_parameters\": {\"router_type\": \"router\", \"address\": \"192.0.2.1\","
                   " \"autonomous_system\": 65001},"
                   " \"bgp_router_refs\": [{\"to\": [\"default-global-system-config\", \"ctl1\"], \"uuid\": \"u1\"}]}") ==
              0,
          "gw1 written (linked to ctl1)");
    CHECK(wait_routers(3) == 0 && plan.count == 2 && has_peer("gw1"), "put followed: gw1 joins the plan");
    CHECK(store_op(2, "/c/o/bgp-router/u2", NULL) == 0, "ctl2 deleted");
    CHECK(wait_routers(2) == 0 && plan.count == 1 && has_peer("gw1") && !has_peer("ctl2"),
          "delete followed: ctl2 leaves the plan");
    /* the node the feed is connected to dies; a change is made meanwhile */
    unsigned before = calls;
    cluster_kill(&cl, 0, SIGKILL);
    CHECK(store_op(1, "/c/o/bgp-router/u3", ROUTER("u3", "ctl3", "10.0.0.13", "control-node", "")) == 0,
          "ctl3 written while the feed's node is down");
    CHECK(store_op(1, "/c/o/virtual-network/n1", NULL) == 0, "network d:p:n deleted while the feed's node is down");
    cluster_start(&cl, 0);
    CHECK(wait_routers(3) == 0 && calls > before && has_peer("ctl3"),
          "after reconnecting the feed reloads and sees ctl3");
    CHECK((n = wait_sent(1)) == 1, "after the reload vr9 gets exactly the one change (the network's properties gone)");
    store_feed_stop(feed);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0, "every handle closed");
    acfg_free(cfg);
    errors += cluster_check_logs(&cl);
    cluster_destroy(&cl);
    printf("%s\n", errors ? "FAILED" : "all checks passed");
    return errors ? 1 : 0;
}

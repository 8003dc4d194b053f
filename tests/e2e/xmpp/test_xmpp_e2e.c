/* e2e: the control node's XMPP server as a real strata-control process on
 * 127.0.0.1, with simulated agents over real TLS (certificates issued here):
 *   converge  20 agents (agent_swarm) in 4 instances: every agent holds
 *             exactly the routes of the other agents of its instance;
 *   refuse    a certificate whose name differs from the stream 'from'
 *             (invalid-from), one from another CA, one without the agent
 *             role are refused; malformed XML gets a stream error while
 *             the other agents keep being served; a second connection of a
 *             connected agent replaces the first;
 *   restart   an agent process killed with SIGKILL leaves its routes, stale,
 *             at the others; when it reconnects and sends End-of-RIB only
 *             what it re-published remains; an agent that does not come
 *             back has its routes removed after the stale time;
 *   slow      an agent that stops reading is dropped (routes kept stale)
 *             rather than buffered without bound; the others are served;
 *   dual      agents attached to two control nodes (127.0.0.1, 127.0.0.2)
 *             get the same routes from both; killing one loses none at the
 *             other.
 * Usage: test_xmpp_e2e STRATA-CONTROL AGENT-SWARM WORKDIR SCENARIO
 *        test_xmpp_e2e pki-setup DIR   (CA + node certificate for 127.0.0.1) */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "tests/sim/agent-swarm/swarm.h"

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

#define WAIT_MS 20000u
#define SLOW_ROUTES 40000u

static const char *g_control, *g_swarm, *g_dir;
static struct pki_cert *g_ca;
static struct pki_key *g_ca_key;
static uv_loop_t g_loop;

struct server {
    const char *address;
    pid_t pid;
    uint16_t port;
    char ctl[1200];
};

static void pki_setup(const char *dir)
{
    char err[256], ca[1100], cak[1100], cert[1100], key[1100];
    mkdir(dir, 0700);
    CHECK(pki_ca_create_files(dir, "strata-test-ca", 2, err, sizeof err) == 0);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(cak, sizeof cak, "%s/ca.key", dir);
    snprintf(cert, sizeof cert, "%s/node.pem", dir);
    snprintf(key, sizeof key, "%s/node.key", dir);
    const char *ips[] = {"127.0.0.1", "127.0.0.2"};
    const char *dns[] = {"control-1"};
    struct pki_leaf_params p = {.common_name = "control-1", .dns_names = dns, .dns_count = 1, .ip_addrs = ips,
                                .ip_count = 2, .uri = PKI_ROLE_NODE, .usage = PKI_USAGE_BOTH, .days_valid = 2};
    CHECK(pki_leaf_issue_files(ca, cak, &p, cert, key, err, sizeof err) == 0);
}

static uint16_t pick_port(unsigned salt)
{
    return (uint16_t)(20000 + ((unsigned)getpid() * 7 + salt * 101) % 40000);
}

static unsigned g_high_watermark; /* 0: the server's default */
static unsigned g_eor_hold_ms = 1000; /* End-of-RIB hold after the server starts */

static void server_start_at(struct server *s, const char *address, const char *name, unsigned stale_s,
                            unsigned salt)
{
    s->address = address;
    char cfg[1200], log[1200], pki[1100];
    snprintf(pki, sizeof pki, "%s/pki", g_dir);
    snprintf(cfg, sizeof cfg, "%s/%s.json", g_dir, name);
    snprintf(log, sizeof log, "%s/%s.log", g_dir, name);
    snprintf(s->ctl, sizeof s->ctl, "%s/%s.sock", g_dir, name);
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = pick_port(salt + (unsigned)attempt * 13);
        unlink(s->ctl);
        FILE *f = fopen(cfg, "w");
        CHECK(f);
        fprintf(f,
                "{\"xmpp\": {\"listen\": \"%s\", \"port\": %u, \"pki_dir\": \"%s\", \"stale_time\": %u, "
                "\"write_high_watermark\": %u, \"max_queued_bytes\": %u, \"eor_hold_ms\": %u}}\n",
                address, s->port, pki, stale_s, g_high_watermark, g_high_watermark * 16, g_eor_hold_ms);
        fclose(f);
        s->pid = fork();
        CHECK(s->pid >= 0);
        if (s->pid == 0) {
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl(g_control, g_control, "--config", cfg, "--ctl", s->ctl, (char *)NULL);
            _exit(127);
        }
        uv_update_time(&g_loop);
        uint64_t deadline = uv_now(&g_loop) + WAIT_MS;
        while (uv_now(&g_loop) < deadline) {
            int st;
            if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
                s->pid = 0; /* exited (port taken?): next port */
                break;
            }
            if (access(s->ctl, F_OK) == 0) { /* bound after the XMPP listener */
                return;
            }
            usleep(20000);
            uv_update_time(&g_loop);
        }
        if (s->pid > 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
    }
    fprintf(stderr, "strata-control did not start; see %s\n", log);
    exit(1);
}

static void server_start(struct server *s, const char *name, unsigned stale_s, unsigned salt)
{
    server_start_at(s, "127.0.0.1", name, stale_s, salt);
}

static void server_stop(struct server *s)
{
    int st;
    kill(s->pid, SIGTERM);
    CHECK(waitpid(s->pid, &st, 0) == s->pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Runs "strata-control query CTL ARGS" and parses its JSON answer. */
static json_t *query(const struct server *s, const char *args)
{
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "'%s' query '%s' %s", g_control, s->ctl, args);
    FILE *p = popen(cmd, "r");
    CHECK(p);
    json_error_t je;
    json_t *doc = json_loadf(p, 0, &je);
    pclose(p);
    CHECK(doc);
    return doc;
}

/* The agent 'name' in "agents": 1 connected, 0 known but disconnected, -1
 * unknown. */
static int agent_state(const struct server *s, const char *name)
{
    json_t *doc = query(s, "agents");
    int ret = -1;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "agents"), i, v) {
        if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0) {
            ret = json_is_true(json_object_get(v, "connected"));
        }
    }
    json_decref(doc);
    return ret;
}

/* Number of paths in 'table' whose stale flag is 'stale'. */
static int count_paths(const struct server *s, const char *table, bool stale)
{
    char args[256];
    snprintf(args, sizeof args, "routes %s", table);
    json_t *doc = query(s, args);
    int n = 0;
    size_t i, j;
    json_t *r, *p;
    json_array_foreach(json_object_get(doc, "routes"), i, r) {
        json_array_foreach(json_object_get(r, "paths"), j, p) {
            n += json_is_true(json_object_get(p, "stale")) == stale;
        }
    }
    json_decref(doc);
    return n;
}

static struct sa_agent *agent_new(const struct server *s, uint32_t index, const char *name, const char *jid,
                                  const char *role, const struct pki_cert *issuer, const struct pki_key *issuer_key)
{
    struct pki_cert *cert;
    struct pki_key *key;
    struct sa_agent *a;
    CHECK(sa_issue(issuer, issuer_key, name, role, &cert, &key) == 0);
    CHECK(sa_agent_create(&g_loop, index, g_ca, cert, key, jid, s->address, s->port, SLOW_ROUTES + 1, &a) == 0);
    pki_cert_free(cert);
    pki_key_free(key);
    return a;
}

static bool is_established(void *arg)
{
    struct sa_agent *a = arg;
    return a->established || a->closed || a->conn_done;
}

static bool is_over(void *arg)
{
    struct sa_agent *a = arg;
    return a->conn_done;
}

static bool is_complete(void *arg)
{
    struct sa_agent *a = arg;
    return a->have_count == a->expect && a->eors > 0;
}

static struct sa_agent *agent_up(const struct server *s, uint32_t index, const char *name)
{
    struct sa_agent *a = agent_new(s, index, name, NULL, PKI_ROLE_AGENT, g_ca, g_ca_key);
    CHECK(sa_run_until(&g_loop, is_established, a, WAIT_MS));
    CHECK(a->established && !a->closed);
    return a;
}

static void agent_gone(struct sa_agent *a)
{
    if (a->established && !a->closed) {
        sa_agent_close(a);
    }
    (void)sa_run_until(&g_loop, is_over, a, WAIT_MS);
    sa_agent_free(a);
}

/* ---- scenarios ---- */

static void scenario_converge(void)
{
    struct server s;
    server_start(&s, "converge", 300, 1);
    char port[16], pki[1100];
    snprintf(port, sizeof port, "%u", s.port);
    snprintf(pki, sizeof pki, "%s/pki", g_dir);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl(g_swarm, g_swarm, "--ca-dir", pki, "--server", "127.0.0.1", "--port", port, "--agents", "20",
              "--routes", "5", "--instances", "4", "--timeout", "60", (char *)NULL);
        _exit(127);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* The swarm closed its streams in order: its routes are gone. */
    CHECK(count_paths(&s, "vn0.inet.0", false) + count_paths(&s, "vn0.inet.0", true) == 0);
    server_stop(&s);
}

static void scenario_refuse(void)
{
    struct server s;
    server_start(&s, "refuse", 300, 2);
    /* two good agents in "blue" to check service continues */
    struct sa_agent *pub = agent_up(&s, 1, "compute-1");
    struct sa_agent *sub = agent_up(&s, 2, "compute-2");
    CHECK(sa_subscribe(sub, "blue") == 0);
    CHECK(sa_subscribe(pub, "blue") == 0);
    CHECK(sa_publish(pub, "blue", 10) == 0);
    sub->expect = 1;
    CHECK(sa_run_until(&g_loop, is_complete, sub, WAIT_MS));

    /* certificate name differs from the stream 'from' */
    struct sa_agent *a = agent_new(&s, 3, "compute-3", "compute-1", PKI_ROLE_AGENT, g_ca, g_ca_key);
    CHECK(sa_run_until(&g_loop, is_over, a, WAIT_MS));
    CHECK(a->closed && a->close_by_peer && a->close_cond == XMPP_SC_INVALID_FROM);
    sa_agent_free(a);

    /* a certificate from another CA */
    struct pki_cert *other_ca;
    struct pki_key *other_key;
    CHECK(pki_ca_create("other-ca", 2, &other_ca, &other_key) == 0);
    a = agent_new(&s, 4, "compute-4", NULL, PKI_ROLE_AGENT, other_ca, other_key);
    CHECK(sa_run_until(&g_loop, is_over, a, WAIT_MS));
    CHECK(!a->established && a->conn_status != 0);
    sa_agent_free(a);
    pki_cert_free(other_ca);
    pki_key_free(other_key);

    /* a node certificate (not the agent role), and no role at all */
    const char *roles[] = {PKI_ROLE_NODE, NULL};
    for (int i = 0; i < 2; i++) {
        a = agent_new(&s, 5, "compute-5", NULL, roles[i], g_ca, g_ca_key);
        CHECK(sa_run_until(&g_loop, is_over, a, WAIT_MS));
        CHECK(!a->established && a->conn_status != 0);
        sa_agent_free(a);
    }
    CHECK(agent_state(&s, "compute-5") == -1 && agent_state(&s, "compute-4") == -1);

    /* malformed XML after the stream is up */
    a = agent_up(&s, 6, "compute-6");
    static const char bad[] = "<iq type='set'><pubsub></iq>";
    CHECK(sa_send_raw(a, bad, sizeof bad - 1) == 0);
    CHECK(sa_run_until(&g_loop, is_over, a, WAIT_MS));
    CHECK(a->closed && a->close_by_peer && a->close_cond == XMPP_SC_NOT_WELL_FORMED);
    sa_agent_free(a);

    /* the good agents are still served */
    CHECK(sa_publish(pub, "blue", 11) == 0);
    sub->expect = 2;
    CHECK(sa_run_until(&g_loop, is_complete, sub, WAIT_MS));
    CHECK(sa_has(sub, 10) && sa_has(sub, 11) && sub->wrong == 0);
    CHECK(agent_state(&s, "compute-1") == 1 && agent_state(&s, "compute-2") == 1);

    /* a second connection of compute-2 (restarted) replaces the first; the
     * route it publishes after its End-of-RIB sweep reaches compute-1 */
    struct sa_agent *sub2 = agent_up(&s, 2, "compute-2");
    CHECK(sa_run_until(&g_loop, is_over, sub, WAIT_MS));
    CHECK(sub->conn_status != 0);
    CHECK(sa_subscribe(sub2, "blue") == 0);
    CHECK(sa_publish(sub2, "blue", 2 * 1000 + 1) == 0);
    CHECK(sa_eor(sub2) == 0);
    pub->expect = 1;
    CHECK(sa_run_until(&g_loop, is_complete, pub, WAIT_MS));
    CHECK(sa_has(pub, 2001) && pub->wrong == 0);
    CHECK(agent_state(&s, "compute-2") == 1);
    sa_agent_free(sub);
    agent_gone(pub);
    agent_gone(sub2);
    server_stop(&s);
}

/* Child process: agent 'name' publishes routes [first, first + count) into
 * "green" and stays connected until killed. */
static void child_agent(const struct server *s, const char *name, uint32_t index, uint32_t first, uint32_t count)
{
    uv_loop_init(&g_loop);
    struct sa_agent *a = agent_up(s, index, name);
    CHECK(sa_subscribe(a, "green") == 0);
    for (uint32_t r = first; r < first + count; r++) {
        CHECK(sa_publish(a, "green", r) == 0);
    }
    CHECK(sa_eor(a) == 0);
    for (;;) {
        uv_run(&g_loop, UV_RUN_DEFAULT);
        pause();
    }
}

static bool has_exactly(struct sa_agent *a, uint32_t first, uint32_t count, uint32_t total)
{
    for (uint32_t r = first; r < first + total; r++) {
        if (sa_has(a, r) != (r < first + count)) {
            return false;
        }
    }
    return a->have_count == count;
}

struct exact_arg {
    struct sa_agent *a;
    uint32_t first, count, total;
};

static bool exact_done(void *arg)
{
    struct exact_arg *e = arg;
    return has_exactly(e->a, e->first, e->count, e->total);
}

static void wait_agent_state(const struct server *s, const char *name, int state)
{
    uv_update_time(&g_loop);
    uint64_t deadline = uv_now(&g_loop) + WAIT_MS;
    while (agent_state(s, name) != state) {
        CHECK(uv_now(&g_loop) < deadline);
        uv_run(&g_loop, UV_RUN_NOWAIT);
        usleep(20000);
        uv_update_time(&g_loop);
    }
}

static void scenario_restart(void)
{
    struct server s;
    server_start(&s, "restart", 300, 3);
    struct sa_agent *watcher = agent_up(&s, 50, "compute-watch");
    CHECK(sa_subscribe(watcher, "green") == 0);

    /* agent process: 4 routes, then SIGKILL */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        child_agent(&s, "compute-gr", 7, 100, 4);
        _exit(0);
    }
    struct exact_arg four = {watcher, 100, 4, 8};
    CHECK(sa_run_until(&g_loop, exact_done, &four, WAIT_MS));
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(waitpid(pid, NULL, 0) == pid);
    wait_agent_state(&s, "compute-gr", 0);
    /* routes kept, stale, at the server and at the watcher */
    CHECK(count_paths(&s, "green.inet.0", true) == 4);
    uv_run(&g_loop, UV_RUN_NOWAIT);
    CHECK(has_exactly(watcher, 100, 4, 8));

    /* it comes back and re-publishes only two routes, then End-of-RIB */
    struct sa_agent *gr = agent_up(&s, 7, "compute-gr");
    CHECK(sa_subscribe(gr, "green") == 0);
    CHECK(sa_publish(gr, "green", 100) == 0);
    CHECK(sa_publish(gr, "green", 101) == 0);
    CHECK(sa_eor(gr) == 0);
    struct exact_arg two = {watcher, 100, 2, 8};
    CHECK(sa_run_until(&g_loop, exact_done, &two, WAIT_MS));
    CHECK(count_paths(&s, "green.inet.0", true) == 0 && count_paths(&s, "green.inet.0", false) == 2);
    CHECK(watcher->wrong == 0);
    agent_gone(gr);
    /* an orderly close withdraws at once */
    struct exact_arg none = {watcher, 100, 0, 8};
    CHECK(sa_run_until(&g_loop, exact_done, &none, WAIT_MS));
    agent_gone(watcher);
    server_stop(&s);

    /* stale time 1 s: a killed agent that does not return loses its routes */
    server_start(&s, "expire", 1, 4);
    watcher = agent_up(&s, 50, "compute-watch");
    CHECK(sa_subscribe(watcher, "green") == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        child_agent(&s, "compute-gone", 8, 200, 3);
        _exit(0);
    }
    struct exact_arg three = {watcher, 200, 3, 6};
    CHECK(sa_run_until(&g_loop, exact_done, &three, WAIT_MS));
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(waitpid(pid, NULL, 0) == pid);
    struct exact_arg zero = {watcher, 200, 0, 6};
    CHECK(sa_run_until(&g_loop, exact_done, &zero, WAIT_MS));
    CHECK(agent_state(&s, "compute-gone") == -1);
    agent_gone(watcher);
    server_stop(&s);
}

/* An agent that stops reading while 40,000 routes are published: with a
 * 64 KiB TLS queue and 1 MiB queued at most per agent the server drops it
 * (routes kept stale) instead of buffering, and keeps serving a reading
 * agent every route. The publisher goes in steps of 1,000 routes that the
 * reading agent receives before the next (its queue stays under the cap). */
static void scenario_slow(void)
{
    struct server s;
    g_high_watermark = 65536;
    server_start(&s, "slow", 300, 7);
    struct sa_agent *pub = agent_up(&s, 1, "compute-pub");
    struct sa_agent *fast = agent_up(&s, 2, "compute-fast");
    struct sa_agent *stuck = agent_up(&s, 3, "compute-stuck");
    CHECK(sa_subscribe(fast, "blue") == 0);
    CHECK(sa_subscribe(stuck, "blue") == 0);
    CHECK(sa_publish(stuck, "blue", SLOW_ROUTES) == 0);
    fast->expect = 1;
    CHECK(sa_run_until(&g_loop, is_complete, fast, WAIT_MS));
    sa_read_stop(stuck);
    for (uint32_t r = 0; r < SLOW_ROUTES; r++) {
        CHECK(sa_publish(pub, "blue", r) == 0);
        if ((r + 1) % 1000 == 0) {
            fast->expect = r + 2;
            CHECK(sa_run_until(&g_loop, is_complete, fast, 6 * WAIT_MS));
        }
    }
    CHECK(fast->wrong == 0);
    wait_agent_state(&s, "compute-stuck", 0);
    /* its route stays (stale) at the others */
    CHECK(sa_has(fast, SLOW_ROUTES) && fast->have_count == SLOW_ROUTES + 1);
    sa_agent_free(stuck);
    agent_gone(pub);
    agent_gone(fast);
    server_stop(&s);
}

#define DUAL_AGENTS 6
#define DUAL_ROUTES 3

struct dual {
    struct sa_agent *conn[DUAL_AGENTS][2];
    int nodes; /* connections per agent still checked */
};

static bool dual_done(void *arg)
{
    struct dual *d = arg;
    for (int i = 0; i < DUAL_AGENTS; i++) {
        for (int n = 0; n < d->nodes; n++) {
            if (!is_complete(d->conn[i][n])) {
                return false;
            }
        }
    }
    return true;
}

/* Every agent attached to two control nodes (127.0.0.1 and 127.0.0.2),
 * publishing to both as Contrail agents do: both give it the same routes,
 * exactly the other agents'; after one node is killed, the other still
 * serves them all. */
static void scenario_dual(void)
{
    struct server s[2];
    server_start_at(&s[0], "127.0.0.1", "node1", 300, 5);
    server_start_at(&s[1], "127.0.0.2", "node2", 300, 6);
    struct dual d = {.nodes = 2};
    for (int i = 0; i < DUAL_AGENTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "compute-d%d", i);
        for (int n = 0; n < 2; n++) {
            struct sa_agent *a = agent_up(&s[n], (uint32_t)i, name);
            CHECK(sa_subscribe(a, "red") == 0);
            for (uint32_t j = 0; j < DUAL_ROUTES; j++) {
                CHECK(sa_publish(a, "red", (uint32_t)i * DUAL_ROUTES + j) == 0);
            }
            CHECK(sa_eor(a) == 0);
            a->expect = (DUAL_AGENTS - 1) * DUAL_ROUTES;
            d.conn[i][n] = a;
        }
    }
    CHECK(sa_run_until(&g_loop, dual_done, &d, WAIT_MS));
    for (int i = 0; i < DUAL_AGENTS; i++) {
        for (uint32_t r = 0; r < DUAL_AGENTS * DUAL_ROUTES; r++) {
            bool want = r / DUAL_ROUTES != (uint32_t)i;
            CHECK(sa_has(d.conn[i][0], r) == want && sa_has(d.conn[i][1], r) == want);
        }
        CHECK(d.conn[i][0]->wrong == 0 && d.conn[i][1]->wrong == 0);
    }
    /* kill node 2: the connections to node 1 keep every route */
    CHECK(kill(s[1].pid, SIGKILL) == 0);
    CHECK(waitpid(s[1].pid, NULL, 0) == s[1].pid);
    for (int i = 0; i < DUAL_AGENTS; i++) {
        CHECK(sa_run_until(&g_loop, is_over, d.conn[i][1], WAIT_MS));
    }
    d.nodes = 1;
    CHECK(sa_run_until(&g_loop, dual_done, &d, WAIT_MS));
    CHECK(agent_state(&s[0], "compute-d0") == 1);
    for (int i = 0; i < DUAL_AGENTS; i++) {
        sa_agent_free(d.conn[i][1]);
        agent_gone(d.conn[i][0]);
    }
    server_stop(&s[0]);
}

/* A (re)started control node holds End-of-RIB: routes flow to the agents
 * at once, but End-of-RIB (which makes an agent sweep what it kept from
 * this node) comes only once every connected agent has re-published and
 * sent its own End-of-RIB (the hold timer, 60 s here, never fires). */
static bool b_has_route0(void *arg)
{
    struct sa_agent *b = arg;
    return sa_has(b, 0) || b->closed;
}

static bool both_eor(void *arg)
{
    struct sa_agent **ab = arg;
    return (ab[0]->eors > 0 && ab[1]->eors > 0) || ab[0]->closed || ab[1]->closed;
}

static bool never_done(void *arg)
{
    (void)arg;
    return false;
}

static void scenario_eorhold(void)
{
    g_eor_hold_ms = 60000;
    struct server s;
    server_start(&s, "eorhold", 300, 7);
    struct sa_agent *a = agent_up(&s, 1, "agent-a"), *b = agent_up(&s, 2, "agent-b");
    CHECK(sa_subscribe(a, "vn0") == 0 && sa_subscribe(b, "vn0") == 0);
    CHECK(sa_publish(a, "vn0", 0) == 0 && sa_publish(b, "vn0", 1) == 0);
    CHECK(sa_run_until(&g_loop, b_has_route0, b, WAIT_MS) && sa_has(b, 0));
    CHECK(a->eors == 0 && b->eors == 0); /* routes flow, End-of-RIB held */
    CHECK(sa_eor(a) == 0);
    (void)sa_run_until(&g_loop, never_done, NULL, 600);
    CHECK(a->eors == 0 && b->eors == 0); /* agent-b has not re-published yet */
    CHECK(sa_eor(b) == 0);
    struct sa_agent *ab[2] = {a, b};
    CHECK(sa_run_until(&g_loop, both_eor, ab, 5000) && a->eors == 1 && b->eors == 1);
    CHECK(sa_has(a, 1) && sa_has(b, 0)); /* everything was there before End-of-RIB */
    agent_gone(a);
    agent_gone(b);
    server_stop(&s);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "pki-setup") == 0) {
        pki_setup(argv[2]);
        return 0;
    }
    if (argc != 5) {
        fprintf(stderr, "usage: test_xmpp_e2e STRATA-CONTROL AGENT-SWARM WORKDIR converge|refuse|restart|dual|slow|eorhold\n"
                        "       test_xmpp_e2e pki-setup DIR\n");
        return 2;
    }
    g_control = argv[1];
    g_swarm = argv[2];
    g_dir = argv[3];
    mkdir(g_dir, 0700);
    char pki[1100], path[1200];
    snprintf(pki, sizeof pki, "%s/pki", g_dir);
    pki_setup(pki);
    snprintf(path, sizeof path, "%s/ca.pem", pki);
    CHECK(pki_cert_load(path, &g_ca) == 0);
    snprintf(path, sizeof path, "%s/ca.key", pki);
    CHECK(pki_key_load(path, &g_ca_key) == 0);
    uv_loop_init(&g_loop);
    if (strcmp(argv[4], "converge") == 0) {
        scenario_converge();
    } else if (strcmp(argv[4], "refuse") == 0) {
        scenario_refuse();
    } else if (strcmp(argv[4], "slow") == 0) {
        scenario_slow();
    } else if (strcmp(argv[4], "dual") == 0) {
        scenario_dual();
    } else if (strcmp(argv[4], "restart") == 0) {
        scenario_restart();
    } else if (strcmp(argv[4], "eorhold") == 0) {
        scenario_eorhold();
    } else {
        fprintf(stderr, "unknown scenario %s\n", argv[4]);
        return 2;
    }
    uv_run(&g_loop, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(&g_loop) == 0);
    pki_cert_free(g_ca);
    pki_key_free(g_ca_key);
    printf("%s: ok\n", argv[4]);
    return 0;
}

/* conv_bench: convergence of ports created through the REST API at
 * simulated agents (bench/convergence/run drives it against a running
 * `stratad run` node with the store, config and control roles).
 *
 * Set-up through the API: a project, K networks (net<k>, subnet
 * 10.(128+k).0.0/16), N virtual routers vr<i> each hosting machine vm<i>,
 * (the run script creates the cluster AS and this node's bgp-router, which
 * the control role starts with). N agents
 * (certificate identity vr<i>, real TLS + XMPP, sa_follow_config) connect;
 * agent i subscribes to net<i % K>'s instance.
 *
 * (a) P ports, created by C client threads: port p is an interface of
 * machine vm<p % N> on net<p % K> plus its instance-ip
 * 10.(128+k).x.y (x.y = p / K + 16). Its owner agent gets the interface's
 * config and publishes the route; it is converged when every other agent
 * subscribed to net<p % K> holds it. Two modes, run one after the other
 * when --rate R > 0: "paced", the first P/2 ports started at R ports/s (an
 * orchestrator adding ports; port i of the phase is due at start + i/R and
 * its clock starts then, so a schedule that falls behind counts against
 * the latency), then "saturation", the other P/2 as fast as the C clients
 * can (the old figure: mostly queueing behind other creates). --rate 0:
 * saturation for all P. Per mode, p50/p99/max of each stage: schedule ->
 * interface POST sent, interface POST (sent -> answered), instance-ip POST,
 * instance-ip answered -> owner agent publishes (its config with the
 * address arrived), publish -> route at the first subscriber, first -> last
 * subscriber, and the total from the interface POST (paced: from the due
 * time) to the route at the last subscriber. CPU seconds of the swarm's
 * loop thread and of the node's role processes (--sup-pid) per mode.
 * (b) resync: runs KILL_CMD (kills the control role; the supervisor starts
 * it again); agents reconnect on vrouter/agent's schedule
 * (xmpp_reconnect_delay_ms: 100 ms doubling to 2 s, jittered); resync
 * time is from the kill until every agent is connected again, has received
 * End-of-RIB on its new session and holds exactly its routes.
 *
 *   conv_bench --pki DIR --token T --api IP:PORT --xmpp IP:PORT --node NAME
 *              --agents N --ports P --nets K [--clients C] [--rate R]
 *              [--sup-pid PID] [--kill-cmd CMD] [--trace FILE]
 *              [--check yes --stop-cmd CMD [--plain-agent I]]
 * --trace FILE writes one line per port: its number and the CLOCK_MONOTONIC
 * time in ms of each stage (ST_DUE..ST_DONE, 0: not reached), to line the
 * ports' tails up with what the machine did then (bench/convergence/run
 * samples the disk and the roles' CPU on the same clock).
 * Prints progress, the resync figure against OVN's 11.4 s full sync, and
 * last "RESULT convergence p99_ms=.. ratio=.. vs=ovn mode=paced|saturation
 * rate=R" with ratio = p99 / 30 ms (OVN's published port-add latency at
 * 500 nodes) of the first mode run. */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "routing/control/agent_config.h"
#include "tests/e2e/api/api_client.h"
#include "tests/sim/agent-swarm/swarm.h"

#define OVN_PORT_ADD_MS 30.0
#define OVN_FULL_SYNC_S 11.4
#define ADDR_BASE 16 /* the subnet's first addresses are reserved (gateway, DNS) */

/* The stages of a port, in order (ts[]). */
enum {
    ST_DUE,      /* when the schedule wanted it started (paced; saturation: = VMI_SENT) */
    ST_VMI_SENT, /* interface POST sent */
    ST_VMI_ANS,  /* interface POST answered */
    ST_IIP_SENT, /* instance-ip POST sent */
    ST_IIP_ANS,  /* instance-ip POST answered */
    ST_CFG,      /* the owner agent's config first lists the interface */
    ST_PUB,      /* the owner agent publishes its address (config with the instance-ip) */
    ST_FIRST,    /* the route at the first subscribed agent */
    ST_DONE,     /* the route at every subscribed agent */
    ST_N
};

struct ag {
    struct sa_agent *a;
    uint8_t *got; /* bit per port */
    uint32_t count;
    bool subscribed;
    uint64_t generation; /* sessions opened */
    uint64_t gen_at_kill; /* 'generation' when the control role was killed */
    uint64_t retry_at;    /* uv_now before which a lost agent is not reconnected */
    uint32_t attempts;    /* connections tried since last up (xmpp_reconnect_delay_ms, as vrouter/agent) */
    bool was_up;          /* the current connection reached ESTABLISHED */
    uint64_t items_at_kill, cfg_at_kill, syncs_at_kill; /* the agent's counters then */
};


static struct {
    const char *pki, *token, *node, *kill_cmd;
    const char *trace; /* --trace FILE: every port's stage times */
    char api_ip[64], xmpp_ip[64];
    uint16_t api_port, xmpp_port;
    uint32_t n, p, k, clients;
    struct pki_cert *ca;
    struct pki_key *ca_key;
    struct pki_cert **certs;
    struct pki_key **keys;
    struct tls_ctx *api_tls;
    uv_loop_t loop;
    struct ag *ags;
    uint64_t *ts[ST_N]; /* per port, uv_hrtime of each stage (0: not reached) */
    uint32_t *recv;
    atomic_uint next_port;
    uint32_t phase_first, phase_end; /* the ports of the running mode: [first, end) */
    double rate;                     /* ports/s of the running mode, 0: saturation */
    uint64_t phase_start;            /* uv_hrtime the running mode started */
    int sup_pid;                     /* the node's supervisor: its children's CPU is reported */
    atomic_uint created;
    atomic_uint failures;
    atomic_uint retries;
    atomic_uint failed_ports; /* not created: never converge */
    uint32_t converged;
    bool resync; /* phase (b): the control role was killed */
    bool no_resume; /* agents reconnect without announcing what they hold */
    bool fast_retry; /* reconnect every 50 ms instead of the agent's back-off */
    /* --check (tests/e2e/control/control_resume_e2e.sh): STOP_CMD freezes the
     * control role, one port is added (port P: net 0, agent 0) and one
     * deleted (port K: net 0, agent K) through the API, then KILL_CMD; the
     * resync must end exact and the traffic after the kill be checked */
    bool check;
    const char *stop_cmd;
    int32_t plain_agent; /* this agent reconnects announcing nothing (-1: none) */
    bool added, deleted;
} B;

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static int split(const char *s, char *ip, size_t size, uint16_t *port)
{
    const char *c = strrchr(s, ':');
    if (!c || (size_t)(c - s) >= size) {
        return -1;
    }
    memcpy(ip, s, (size_t)(c - s));
    ip[c - s] = '\0';
    *port = (uint16_t)strtoul(c + 1, NULL, 10);
    return *port ? 0 : -1;
}

static char ri_name[64][128];

static uint32_t expected_per_port(void)
{
    return B.n / B.k - 1;
}

static uint32_t expected_per_agent(void)
{
    return B.p / B.k - B.p / B.n;
}

/* ---- routes at agents ---- */

static void on_item(void *arg, struct sa_agent *a, const char *instance, const struct xmpp_route_item *it)
{
    (void)arg;
    (void)instance;
    const struct xmpp_route_entry *e = &it->entry;
    if (e->family != XMPP_FAMILY_INET || e->key.prefix.version != 4 || e->key.plen != 32) {
        return;
    }
    const uint8_t *b = e->key.prefix.addr;
    if (b[0] != 10 || b[1] < 128 || (uint32_t)(b[1] - 128) >= B.k) {
        return;
    }
    uint32_t x = (uint32_t)b[2] << 8 | b[3];
    if (x < ADDR_BASE) {
        return;
    }
    uint32_t p = (x - ADDR_BASE) * B.k + (uint32_t)(b[1] - 128);
    if (p > B.p) {
        return;
    }
    struct ag *g = &B.ags[a->index];
    bool had = (g->got[p / 8] >> (p % 8)) & 1;
    if (it->retract) {
        if (had) {
            g->got[p / 8] &= (uint8_t) ~(1u << (p % 8));
            g->count--;
        }
        return;
    }
    if (had) {
        return;
    }
    g->got[p / 8] |= (uint8_t)(1u << (p % 8));
    g->count++;
    if (B.resync || p >= B.p) {
        return;
    }
    if (++B.recv[p] == 1) {
        B.ts[ST_FIRST][p] = now_ns();
    }
    if (B.recv[p] == expected_per_port()) {
        B.ts[ST_DONE][p] = now_ns();
        B.converged++;
    }
}
/* The owner agent's config lists interface 'ifname' ("...:port<p>"). */
static void on_port(void *arg, struct sa_agent *a, const char *ifname, bool published)
{
    (void)arg;
    (void)a;
    const char *c = strrchr(ifname, ':');
    char *end;
    if (!c || strncmp(c + 1, "port", 4) != 0) {
        return;
    }
    unsigned long p = strtoul(c + 5, &end, 10);
    if (*end || p >= B.p || B.resync) {
        return;
    }
    if (!B.ts[ST_CFG][p]) {
        B.ts[ST_CFG][p] = now_ns();
    }
    if (published && !B.ts[ST_PUB][p]) {
        B.ts[ST_PUB][p] = now_ns();
    }
}


static int agent_open(uint32_t i)
{
    struct ag *g = &B.ags[i];
    int rc = sa_agent_create(&B.loop, i, B.ca, B.certs[i], B.keys[i], NULL, B.xmpp_ip, B.xmpp_port, 1, &g->a);
    if (rc == 0) {
        rc = sa_follow_config(g->a);
    }
    if (rc != 0) {
        sa_agent_free(g->a);
        g->a = NULL;
        return rc;
    }
    g->a->on_item = on_item;
    g->a->on_port = on_port;
    g->a->resume = !B.no_resume;
    g->subscribed = false;
    g->generation++;
    return 0;
}

/* xorshift32: the agents' reconnect jitter. */
static uint32_t next_rand(void)
{
    static uint32_t x = 2463534242u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

/* Subscribes agents once up; re-opens lost ones. */
static void maintain(uv_timer_t *t)
{
    (void)t;
    for (uint32_t i = 0; i < B.n; i++) {
        struct ag *g = &B.ags[i];
        uint64_t now = uv_now(&B.loop);
        if (g->a && g->a->established && !g->was_up) {
            g->was_up = true;
            g->attempts = 0;
        }
        if (g->a && (g->a->closed || g->a->conn_done) && !g->retry_at) {
            /* lost: the next attempt after the agent's back-off */
            g->retry_at = now + (B.fast_retry ? 50 : xmpp_reconnect_delay_ms(g->attempts++, next_rand()));
        }
        if (g->retry_at && now < g->retry_at) {
            continue;
        }
        if (g->a && g->retry_at && g->a->cfg && !g->a->conn_done) {
            continue; /* the TLS close is still under way */
        }
        if (g->a && g->retry_at && g->a->cfg) {
            /* the agent keeps what it holds and reconnects (resuming
             * unless --no-resume) */
            g->retry_at = 0;
            g->was_up = false;
            if (sa_agent_reopen(g->a) == 0) {
                g->generation++;
                g->subscribed = true; /* the reopened session re-subscribes itself */
            }
            continue;
        }
        if (g->a && g->retry_at) {
            sa_agent_free(g->a);
            g->a = NULL;
        }
        if (!g->a) {
            g->retry_at = 0;
            g->was_up = false;
            (void)agent_open(i);
            continue;
        }
        if (g->a->established && !g->subscribed) {
            g->subscribed = true;
            if (sa_subscribe(g->a, ri_name[i % B.k]) != 0) {
                g->a->write_fails++;
            }
        }
    }
}

static bool all_up(void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < B.n; i++) {
        if (!B.ags[i].a || !B.ags[i].a->established || !B.ags[i].subscribed) {
            return false;
        }
    }
    return true;
}

static bool all_converged(void *arg)
{
    (void)arg;
    return B.converged + atomic_load(&B.failed_ports) >= B.phase_end && atomic_load(&B.created) == B.phase_end;
}

/* --check: whether port q exists now (0..P-1 created, K deleted, P added). */
static bool port_exists(uint32_t q)
{
    return q < B.p ? !(B.deleted && q == B.k) : q == B.p && B.added;
}

/* --check: the routes agent i must hold (ports of its network owned by
 * others) and how many of them it holds; 'exact' when nothing else. */
static uint32_t routes_wanted(uint32_t i, bool *exact)
{
    uint32_t want = 0, extra = 0;
    for (uint32_t q = 0; q <= B.p; q++) {
        bool w = port_exists(q) && q % B.k == i % B.k && q % B.n != i;
        bool h = (B.ags[i].got[q / 8] >> (q % 8)) & 1;
        want += w;
        extra += w != h;
    }
    *exact = extra == 0;
    return want;
}

/* --check: agent i holds exactly the interfaces of its machine's ports. */
static bool config_exact(uint32_t i)
{
    const struct sa_agent *a = B.ags[i].a;
    json_t *names = a && a->cfg ? acfg_mirror_names(a->cfg, "virtual-machine-interface") : NULL;
    size_t want = 0;
    bool ok = names != NULL;
    for (uint32_t q = 0; ok && q <= B.p; q++) {
        if (port_exists(q) && q % B.n == i) {
            char name[96];
            snprintf(name, sizeof name, "default-domain:bench:port%u", q);
            bool found = false;
            size_t j;
            json_t *v;
            json_array_foreach(names, j, v) {
                found = found || strcmp(json_string_value(v), name) == 0;
            }
            ok = found;
            want++;
        }
    }
    ok = ok && json_array_size(names) == want;
    json_decref(names);
    return ok;
}

/* --check: true once no agent has received anything for 500 ms (what was
 * in flight at convergence, e.g. a route's later update, is not counted as
 * traffic after the kill). */
static bool quiet(void *arg)
{
    static uint64_t last_sum = UINT64_MAX, since;
    (void)arg;
    uint64_t sum = 0, now = uv_now(&B.loop);
    for (uint32_t i = 0; i < B.n; i++) {
        sum += B.ags[i].a ? B.ags[i].a->items + B.ags[i].a->config_stanzas + B.ags[i].a->in_syncs : 0;
    }
    if (sum != last_sum) {
        last_sum = sum;
        since = now;
    }
    return now - since >= 500;
}

static bool resynced(void *arg)
{
    (void)arg;
    uint32_t want = expected_per_agent();
    for (uint32_t i = 0; i < B.n; i++) {
        struct ag *g = &B.ags[i];
        bool exact = true;
        if (B.check && g->a) {
            want = routes_wanted(i, &exact);
            exact = exact && config_exact(i);
        }
        if (!g->a || g->generation <= g->gen_at_kill || !g->a->established || g->a->eors == 0 || g->count != want ||
            !exact) {
            return false;
        }
    }
    return true;
}

/* ---- REST ---- */

static struct api_client *client(void)
{
    struct api_client *c;
    return api_client_create(B.api_tls, B.api_ip, B.api_port, B.api_ip, 60000, &c) == 0 ? c : NULL;
}

static int post_ok(struct api_client *c, const char *path, const char *body, bool conflict_ok)
{
    struct api_resp r = {0};
    int st = 0;
    /* a 5xx or a lost connection is retried (at most 5 times): the port
     * must exist for its convergence to be measured */
    for (int attempt = 0; attempt < 5; attempt++) {
        int rc = api_client_request(c, "POST", path, B.token, NULL, body, strlen(body), &r);
        st = rc == 0 ? r.status : rc;
        if (st > 0 && st < 500) {
            break;
        }
        atomic_fetch_add(&B.retries, 1);
        usleep(100000);
    }
    bool ok = st == 201 || st == 200 || (conflict_ok && st == 409);
    if (!ok) {
        fprintf(stderr, "conv_bench: POST %s: %d %s\n", path, st, r.body ? r.body : "");
        atomic_fetch_add(&B.failures, 1);
    }
    api_resp_clear(&r);
    return ok ? 0 : -1;
}

static int post(struct api_client *c, const char *path, const char *body)
{
    return post_ok(c, path, body, true);
}

static int setup(void)
{
    struct api_client *c = client();
    char body[1024];
    if (!c) {
        return -1;
    }
    int rc = 0;
    rc |= post(c, "/projects", "{\"project\": {\"fq_name\": [\"default-domain\", \"bench\"], \"parent_type\": \"domain\"}}");
    rc |= post(c, "/network-ipams",
               "{\"network-ipam\": {\"fq_name\": [\"default-domain\", \"bench\", \"ipam\"], \"parent_type\": \"project\"}}");
    for (uint32_t k = 0; k < B.k && rc == 0; k++) {
        snprintf(body, sizeof body,
                 "{\"virtual-network\": {\"fq_name\": [\"default-domain\", \"bench\", \"net%u\"], \"parent_type\": "
                 "\"project\", \"network_ipam_refs\": [{\"to\": [\"default-domain\", \"bench\", \"ipam\"], \"attr\": "
                 "{\"ipam_subnets\": [{\"subnet\": {\"ip_prefix\": \"10.%u.0.0\", \"ip_prefix_len\": 16}}]}}]}}",
                 k, 128 + k);
        rc |= post(c, "/virtual-networks", body);
    }
    for (uint32_t i = 0; i < B.n && rc == 0; i++) {
        snprintf(body, sizeof body, "{\"virtual-machine\": {\"fq_name\": [\"vm%u\"]}}", i);
        rc |= post(c, "/virtual-machines", body);
        snprintf(body, sizeof body,
                 "{\"virtual-router\": {\"fq_name\": [\"default-global-system-config\", \"vr%u\"], "
                 "\"virtual_router_ip_address\": \"172.16.%u.%u\", \"virtual_machine_refs\": [{\"to\": [\"vm%u\"]}]}}",
                 i, i / 250, i % 250 + 1, i);
        rc |= post(c, "/virtual-routers", body);
    }
    api_client_free(c);
    return rc;
}

/* Creates port p (its interface, then its instance-ip); 'timed': p < P,
 * its latency is measured. 0, or -1 when a request failed. */
static int port_create(struct api_client *c, uint32_t p, bool timed)
{
    char body[1024];
    uint32_t k = p % B.k, owner = p % B.n, x = p / B.k + ADDR_BASE;
    if (timed) {
        B.ts[ST_VMI_SENT][p] = now_ns();
        if (B.rate <= 0) {
            B.ts[ST_DUE][p] = B.ts[ST_VMI_SENT][p];
        }
    }
    snprintf(body, sizeof body,
                 "{\"virtual-machine-interface\": {\"fq_name\": [\"default-domain\", \"bench\", \"port%u\"], "
                 "\"parent_type\": \"project\", \"virtual_network_refs\": [{\"to\": [\"default-domain\", \"bench\", "
                 "\"net%u\"]}], \"virtual_machine_refs\": [{\"to\": [\"vm%u\"]}]}}",
                 p, k, owner);
    if (post_ok(c, "/virtual-machine-interfaces", body, false) != 0) {
        return -1;
    }
    if (timed) {
        B.ts[ST_VMI_ANS][p] = now_ns();
    }
    snprintf(body, sizeof body,
                 "{\"instance-ip\": {\"fq_name\": [\"ip%u\"], \"instance_ip_address\": \"10.%u.%u.%u\", "
                 "\"virtual_network_refs\": [{\"to\": [\"default-domain\", \"bench\", \"net%u\"]}], "
                 "\"virtual_machine_interface_refs\": [{\"to\": [\"default-domain\", \"bench\", \"port%u\"]}]}}",
                 p, 128 + k, x >> 8, x & 255, k, p);
    if (timed) {
        B.ts[ST_IIP_SENT][p] = now_ns();
    }
    int rc = post_ok(c, "/instance-ips", body, false);
    if (timed) {
        B.ts[ST_IIP_ANS][p] = now_ns();
    }
    return rc;
}

/* Sleeps until uv_hrtime() reaches 'at'. */
static void sleep_until(uint64_t at)
{
    uint64_t now = now_ns();
    if (at > now) {
        struct timespec d = {.tv_sec = (time_t)((at - now) / 1000000000u), .tv_nsec = (long)((at - now) % 1000000000u)};
        while (nanosleep(&d, &d) != 0) {
        }
    }
}

static void *port_worker(void *arg)
{
    (void)arg;
    struct api_client *c = client();
    for (;;) {
        uint32_t p = atomic_fetch_add(&B.next_port, 1);
        if (p >= B.phase_end || !c) {
            break;
        }
        if (B.rate > 0) {
            uint64_t due = B.phase_start + (uint64_t)((double)(p - B.phase_first) * 1e9 / B.rate);
            sleep_until(due);
            B.ts[ST_DUE][p] = due;
        }
        if (port_create(c, p, true) != 0) {
            atomic_fetch_add(&B.failed_ports, 1);
        }
        atomic_fetch_add(&B.created, 1);
    }
    api_client_free(c);
    return NULL;
}

/* DELETE of the 'type' object named 'fq' (a JSON array), found through
 * /fqname-to-id. 0 or -1. */
static int delete_named(struct api_client *c, const char *type, const char *fq)
{
    char body[512], path[256];
    struct api_resp r = {0};
    snprintf(body, sizeof body, "{\"type\": \"%s\", \"fq_name\": %s}", type, fq);
    int rc = api_client_request(c, "POST", "/fqname-to-id", B.token, NULL, body, strlen(body), &r);
    const char *uuid = rc == 0 && r.status == 200 ? json_string_value(json_object_get(r.doc, "uuid")) : NULL;
    if (!uuid) {
        fprintf(stderr, "conv_bench: %s %s not found (%d)\n", type, fq, rc ? rc : r.status);
        api_resp_clear(&r);
        return -1;
    }
    snprintf(path, sizeof path, "/%s/%s", type, uuid);
    api_resp_clear(&r);
    rc = api_client_request(c, "DELETE", path, B.token, NULL, NULL, 0, &r);
    int st = rc == 0 ? r.status : rc;
    api_resp_clear(&r);
    if (st != 200 && st != 204) {
        fprintf(stderr, "conv_bench: DELETE %s: %d\n", path, st);
        return -1;
    }
    return 0;
}

/* --check, while the control role is frozen: port P added (net 0, agent
 * 0), port K deleted (net 0, agent K). 0 or -1. */
static int change_while_down(void)
{
    struct api_client *c = client();
    char fq[128];
    int rc = c ? port_create(c, B.p, false) : -1;
    B.added = rc == 0;
    snprintf(fq, sizeof fq, "[\"ip%u\"]", B.k);
    rc = rc ? rc : delete_named(c, "instance-ip", fq);
    snprintf(fq, sizeof fq, "[\"default-domain\", \"bench\", \"port%u\"]", B.k);
    rc = rc ? rc : delete_named(c, "virtual-machine-interface", fq);
    B.deleted = rc == 0;
    api_client_free(c);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Wall-clock time (UTC, ms) with 'what', to line up with the node's log. */
static void print_wall(const char *what)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    printf("%s at %02d:%02d:%02d.%03ldZ\n", what, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    fflush(stdout);
}

/* The resync's phases at the agents, in s after the kill (uv_now 'kill_ms'):
 * sessions established (first, median, last), End-of-RIB received (first,
 * last), connection attempts per agent. */
static void phases(uint64_t kill_ms)
{
    uint64_t *up = calloc(B.n, sizeof *up), *eor = calloc(B.n, sizeof *eor), attempts = 0, most = 0;
    if (!up || !eor) {
        free(up);
        free(eor);
        return;
    }
    for (uint32_t i = 0; i < B.n; i++) {
        const struct ag *g = &B.ags[i];
        up[i] = g->a->established_at_ms - kill_ms;
        eor[i] = g->a->eor_at_ms - kill_ms;
        uint64_t n = g->generation - g->gen_at_kill;
        attempts += n;
        most = n > most ? n : most;
    }
    qsort(up, B.n, sizeof *up, cmp_u64);
    qsort(eor, B.n, sizeof *eor, cmp_u64);
    printf("resync phases (s after the kill): agents up first %.3f p50 %.3f last %.3f; End-of-RIB first %.3f "
           "last %.3f; connection attempts %llu (at most %llu per agent)\n",
           (double)up[0] / 1e3, (double)up[B.n / 2] / 1e3, (double)up[B.n - 1] / 1e3, (double)eor[0] / 1e3,
           (double)eor[B.n - 1] / 1e3, (unsigned long long)attempts, (unsigned long long)most);
    free(up);
    free(eor);
}

/* --check, after the resync: what each agent received after the kill.
 * Resuming agents of network 1.. (unchanged): no route item, no config
 * stanza, IN_SYNC; of network 0 (a port added and one deleted), config
 * only at the two owners and either its table again (digests are per
 * instance) or, when the node compared digests before the owners had
 * applied their config changes (End-of-RIB goes as soon as every agent is
 * back in sync), IN_SYNC and then only the changes (fewer items than the
 * table, at least one); the plain agent: its whole config and table. 0 or
 * -1 (printed). */
static int check_traffic(void)
{
    int bad = 0;
    uint64_t total = 0, replay = 0;
    for (uint32_t i = 0; i < B.n; i++) {
        const struct ag *g = &B.ags[i];
        bool exact;
        uint32_t want = routes_wanted(i, &exact);
        uint64_t items = g->a->items - g->items_at_kill, cfg = g->a->config_stanzas - g->cfg_at_kill,
                 syncs = g->a->in_syncs - g->syncs_at_kill;
        bool owner = i == B.p % B.n || i == B.k % B.n, plain = (int32_t)i == B.plain_agent;
        bool ok = exact && config_exact(i);
        if (plain) {
            ok = ok && cfg >= 1 && items >= want && syncs == 0;
        } else if (i % B.k != 0) {
            ok = ok && items == 0 && cfg == 0 && syncs == 1;
        } else {
            bool table = items >= want && syncs == 0, changes = syncs == 1 && items >= 1 && items < want;
            ok = ok && (table || changes) && (cfg >= 1) == owner;
        }
        printf("agent vr%u (net%u%s%s): %u routes (%s), config %s; after the kill %llu route items, %llu config "
               "stanzas, %llu in-sync: %s\n",
               i, i % B.k, owner ? ", owner of a changed port" : "", plain ? ", announces nothing" : "", want,
               exact ? "exact" : "NOT exact", config_exact(i) ? "exact" : "NOT exact", (unsigned long long)items,
               (unsigned long long)cfg, (unsigned long long)syncs, ok ? "ok" : "WRONG");
        bad += !ok;
        total += items;
        replay += want;
    }
    printf("route items after the kill: %llu (a full replay: at least %llu)\n", (unsigned long long)total,
           (unsigned long long)replay);
    printf("CHECK %s\n", bad ? "FAILED" : "ok");
    return bad ? -1 : 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

struct pct {
    uint32_t n;
    double p50, p99, max; /* ms */
};

/* p50/p99/max of ts[to] - ts[from] over the ports [first, end) that
 * reached both stages (negative when 'to' came first). */
static struct pct stage_pct(int from, int to, uint32_t first, uint32_t end)
{
    struct pct r = {0};
    int64_t *v = calloc(end - first, sizeof *v);
    for (uint32_t p = first; v && p < end; p++) {
        if (B.ts[from][p] && B.ts[to][p]) {
            v[r.n++] = (int64_t)(B.ts[to][p] - B.ts[from][p]);
        }
    }
    if (r.n) {
        qsort(v, r.n, sizeof *v, cmp_i64);
        r.p50 = (double)v[r.n / 2] / 1e6;
        r.p99 = (double)v[((uint64_t)r.n * 99) / 100] / 1e6;
        r.max = (double)v[r.n - 1] / 1e6;
    }
    free(v);
    return r;
}

/* CPU seconds (user + system) of the supervisor's child whose argv[1] is
 * 'role' (the node's role processes), -1 when not found. */
static double role_cpu(const char *role)
{
    DIR *d = B.sup_pid > 0 ? opendir("/proc") : NULL;
    struct dirent *e;
    double total = -1;
    while (d && (e = readdir(d)) != NULL) {
        char path[300], buf[1024];
        if (e->d_name[0] < '1' || e->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) {
            fclose(f);
        }
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')'); /* after the command name */
        int ppid = 0;
        unsigned long ut = 0, st = 0;
        if (!rp || sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ppid, &ut, &st) != 3 ||
            ppid != B.sup_pid) {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        f = fopen(path, "r");
        n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) {
            fclose(f);
        }
        buf[n] = '\0';
        size_t a0 = strlen(buf);
        if (a0 + 1 < n && strcmp(buf + a0 + 1, role) == 0) {
            total = (total < 0 ? 0 : total) + (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        }
    }
    if (d) {
        closedir(d);
    }
    return total;
}

static double thread_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static const char *const roles[] = {"store", "config", "control"};

/* Creates ports [first, end) at 'rate' ports/s (0: as fast as the clients
 * can) and prints the stages; returns the p99 (ms) of the total, -1 when
 * not every port converged. */
static double run_mode(uint32_t first, uint32_t end, double rate)
{
    const char *mode = rate > 0 ? "paced" : "saturation";
    double cpu0[3], swarm0 = thread_cpu();
    for (int i = 0; i < 3; i++) {
        cpu0[i] = role_cpu(roles[i]);
    }
    char load0[64] = "";
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (!fgets(load0, sizeof load0, lf)) {
            load0[0] = '\0';
        }
        fclose(lf);
        load0[strcspn(load0, "\n")] = '\0';
    }
    B.phase_first = first;
    B.phase_end = end;
    B.rate = rate;
    atomic_store(&B.next_port, first);
    pthread_t th[64];
    uint32_t nth = B.clients > 64 ? 64 : B.clients;
    uint64_t t = now_ns();
    B.phase_start = t + 10000000; /* the first port due 10 ms from now */
    for (uint32_t i = 0; i < nth; i++) {
        pthread_create(&th[i], NULL, port_worker, NULL);
    }
    bool ok = sa_run_until(&B.loop, all_converged, NULL, 1800000);
    for (uint32_t i = 0; i < nth; i++) {
        pthread_join(th[i], NULL);
    }
    double total_s = (double)(now_ns() - t) / 1e9;
    uint32_t n = end - first, converged = 0;
    for (uint32_t p = first; p < end; p++) {
        converged += B.ts[ST_DONE][p] != 0;
    }
    printf("== mode %s%s: %u ports (%u..%u), %u clients, load at start %s\n", mode,
           rate > 0 ? "" : " (as fast as the clients can)", n, first, end - 1, nth, load0);
    if (rate > 0) {
        printf("offered %.1f ports/s\n", rate);
    }
    printf("ports: created in %.1f s (%.1f ports/s), converged %u/%u; receivers per port %u\n", total_s,
           n / total_s, converged, n, expected_per_port());
    static const struct {
        int from, to;
        const char *what;
    } stages[] = {
        {ST_DUE, ST_VMI_SENT, "due -> interface POST sent (schedule lag)"},
        {ST_VMI_SENT, ST_VMI_ANS, "interface POST (sent -> answered)"},
        {ST_VMI_ANS, ST_CFG, "interface answered -> its config at the owner"},
        {ST_IIP_SENT, ST_IIP_ANS, "instance-ip POST (sent -> answered)"},
        {ST_IIP_ANS, ST_PUB, "instance-ip answered -> owner publishes"},
        {ST_PUB, ST_FIRST, "owner publishes -> route at the first subscriber"},
        {ST_FIRST, ST_DONE, "first -> last subscriber"},
        {ST_IIP_ANS, ST_DONE, "instance-ip answered -> route at every subscriber"},
        {ST_VMI_SENT, ST_DONE, "interface POST sent -> route at every subscriber"},
        {ST_DUE, ST_DONE, "TOTAL due -> route at every subscriber"},
    };
    printf("%-52s %8s %9s %9s %9s\n", "stage (ms)", "ports", "p50", "p99", "max");
    double p99 = -1;
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
        struct pct r = stage_pct(stages[i].from, stages[i].to, first, end);
        printf("%-52s %8u %9.2f %9.2f %9.2f\n", stages[i].what, r.n, r.p50, r.p99, r.max);
        if (stages[i].from == ST_DUE && stages[i].to == ST_DONE && r.n == n) {
            p99 = r.p99;
        }
    }
    printf("CPU s during the mode: swarm loop thread %.2f", thread_cpu() - swarm0);
    for (int i = 0; i < 3; i++) {
        double c = role_cpu(roles[i]);
        if (c >= 0 && cpu0[i] >= 0) {
            printf(", %s %.2f", roles[i], c - cpu0[i]);
        }
    }
    printf(" (wall %.1f s, 2 CPUs = %.1f CPU s)\n", total_s, 2 * total_s);
    printf("RESULT-%s p50_ms=%.1f p99_ms=%.1f\n", mode, stage_pct(ST_DUE, ST_DONE, first, end).p50, p99);
    fflush(stdout);
    return ok ? p99 : -1;
}

/* --trace: one line per port, "p t_due t_vmi_sent ... t_done" in ms. */
static void write_trace(void)
{
    FILE *f = fopen(B.trace, "w");
    if (!f) {
        fprintf(stderr, "conv_bench: %s: cannot write the trace\n", B.trace);
        return;
    }
    for (uint32_t p = 0; p < B.p; p++) {
        fprintf(f, "%u", p);
        for (int s = 0; s < ST_N; s++) {
            fprintf(f, " %.3f", (double)B.ts[s][p] / 1e6);
        }
        fputc('\n', f);
    }
    fclose(f);
}

static void usage(void)
{
    fprintf(stderr, "usage: conv_bench --pki DIR --token T --api IP:PORT --xmpp IP:PORT --node NAME --agents N "
                    "--ports P --nets K [--clients C] [--rate R] [--sup-pid PID] [--kill-cmd CMD] [--resume yes|no] "
                    "[--retry agent|fast] [--trace FILE]\n"
                    "       [--check yes --stop-cmd CMD [--plain-agent I]]\n");
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    B.clients = 4;
    B.plain_agent = -1;
    const char *api = NULL, *xmpp = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "--pki")) B.pki = v;
        else if (!strcmp(o, "--token")) B.token = v;
        else if (!strcmp(o, "--api")) api = v;
        else if (!strcmp(o, "--xmpp")) xmpp = v;
        else if (!strcmp(o, "--node")) B.node = v;
        else if (!strcmp(o, "--agents")) B.n = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(o, "--ports")) B.p = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(o, "--nets")) B.k = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(o, "--clients")) B.clients = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(o, "--kill-cmd")) B.kill_cmd = v;
        else if (!strcmp(o, "--rate")) B.rate = strtod(v, NULL);
        else if (!strcmp(o, "--sup-pid")) B.sup_pid = (int)strtol(v, NULL, 10);
        else if (!strcmp(o, "--resume")) B.no_resume = strcmp(v, "no") == 0;
        else if (!strcmp(o, "--retry")) B.fast_retry = strcmp(v, "fast") == 0;
        else if (!strcmp(o, "--check")) B.check = strcmp(v, "yes") == 0;
        else if (!strcmp(o, "--stop-cmd")) B.stop_cmd = v;
        else if (!strcmp(o, "--trace")) B.trace = v;
        else if (!strcmp(o, "--plain-agent")) B.plain_agent = (int32_t)strtol(v, NULL, 10);
        else {
            usage();
            return 2;
        }
    }
    if (!B.pki || !B.token || !api || !xmpp || !B.node || !B.n || !B.p || !B.k || B.k > 64 || B.n % B.k ||
        B.p % B.n || B.n / B.k < 2 || (B.check && (!B.stop_cmd || !B.kill_cmd || B.k < 2)) ||
        B.plain_agent >= (int32_t)B.n || B.p / B.k + ADDR_BASE > 65534 || split(api, B.api_ip, sizeof B.api_ip, &B.api_port) ||
        split(xmpp, B.xmpp_ip, sizeof B.xmpp_ip, &B.xmpp_port) || !B.clients || B.rate < 0) {
        usage();
        fprintf(stderr, "(N a multiple of K with N/K >= 2, P a multiple of N, K <= 64)\n");
        return 2;
    }
    for (uint32_t k = 0; k < B.k; k++) {
        snprintf(ri_name[k], sizeof ri_name[k], "default-domain:bench:net%u:net%u", k, k);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/ca.pem", B.pki);
    int rc = pki_cert_load(path, &B.ca);
    snprintf(path, sizeof path, "%s/ca.key", B.pki);
    rc = rc ? rc : pki_key_load(path, &B.ca_key);
    struct tls_config tc = {.role = TLS_ROLE_CLIENT, .ca = B.ca, .alpn = "http/1.1"};
    char err[256];
    rc = rc ? rc : tls_ctx_create(&tc, &B.api_tls, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "conv_bench: CA or TLS: %s\n", strata_strerror(rc));
        return 1;
    }
    B.ags = calloc(B.n, sizeof *B.ags);
    B.certs = calloc(B.n, sizeof *B.certs);
    B.keys = calloc(B.n, sizeof *B.keys);
    for (int i = 0; i < ST_N; i++) {
        B.ts[i] = calloc(B.p, sizeof *B.ts[i]);
    }
    B.recv = calloc(B.p, sizeof *B.recv);
    uint64_t t = now_ns();
    for (uint32_t i = 0; i < B.n; i++) {
        char name[32];
        snprintf(name, sizeof name, "vr%u", i);
        B.ags[i].got = calloc((B.p + 1) / 8 + 1, 1);
        if (sa_issue(B.ca, B.ca_key, name, PKI_ROLE_AGENT, &B.certs[i], &B.keys[i]) != 0) {
            fprintf(stderr, "conv_bench: certificate %s\n", name);
            return 1;
        }
    }
    printf("certificates: %u in %.1f s\n", B.n, (double)(now_ns() - t) / 1e9);
    t = now_ns();
    if (setup() != 0) {
        fprintf(stderr, "conv_bench: set-up through the API failed\n");
        return 1;
    }
    printf("set-up: %u networks, %u virtual routers in %.1f s\n", B.k, B.n, (double)(now_ns() - t) / 1e9);
    fflush(stdout);

    uv_loop_init(&B.loop);
    uv_timer_t tm;
    uv_timer_init(&B.loop, &tm);
    uv_timer_start(&tm, maintain, 0, 50);
    t = now_ns();
    if (!sa_run_until(&B.loop, all_up, NULL, 300000)) {
        fprintf(stderr, "conv_bench: agents not all connected\n");
        return 1;
    }
    printf("agents: %u connected and subscribed in %.1f s\n", B.n, (double)(now_ns() - t) / 1e9);
    fflush(stdout);

    /* (a) ports: paced (the first half) then saturation, or saturation only */
    double p99 = -1, sat_p99 = -1;
    bool ok;
    if (B.rate > 0) {
        double rate = B.rate;
        p99 = run_mode(0, B.p / 2, rate);
        sat_p99 = run_mode(B.p / 2, B.p, 0);
        B.rate = rate;
        ok = p99 >= 0 && sat_p99 >= 0;
    } else {
        p99 = sat_p99 = run_mode(0, B.p, 0);
        ok = p99 >= 0;
    }
    if (B.trace) {
        write_trace();
    }
    uint32_t reopened = 0;
    for (uint32_t i = 0; i < B.n; i++) {
        reopened += B.ags[i].generation > 1;
    }
    printf("agents whose session was lost and re-opened meanwhile: %u\n", reopened);
    printf("REST: %u requests retried, %u failed, %u ports not created\n", atomic_load(&B.retries),
           atomic_load(&B.failures), atomic_load(&B.failed_ports));
    fflush(stdout);

    /* (b) resync after a control-role restart */
    double resync_s = -1;
    if (ok && B.kill_cmd) {
        B.resync = true;
        if (B.check && !sa_run_until(&B.loop, quiet, NULL, 30000)) {
            fprintf(stderr, "conv_bench: agents still receiving 30 s after convergence\n");
            return 1;
        }
        for (uint32_t i = 0; i < B.n; i++) {
            struct ag *g = &B.ags[i];
            g->gen_at_kill = g->generation;
            g->items_at_kill = g->a->items;
            g->cfg_at_kill = g->a->config_stanzas;
            g->syncs_at_kill = g->a->in_syncs;
            if ((int32_t)i == B.plain_agent) {
                g->a->resume = false; /* its next session announces nothing */
            }
        }
        if (B.check) {
            /* frozen: neither its image nor any agent sees the changes */
            if (system(B.stop_cmd) != 0 || change_while_down() != 0) {
                fprintf(stderr, "conv_bench: stop command or changes while down failed\n");
                return 1;
            }
            printf("while the control role was down: port%u added, port%u deleted\n", B.p, B.k);
        }
        uint64_t items0 = 0, cfg0 = 0;
        for (uint32_t i = 0; i < B.n; i++) {
            items0 += B.ags[i].a ? B.ags[i].a->items : 0;
            cfg0 += B.ags[i].a ? B.ags[i].a->config_stanzas : 0;
        }
        uv_update_time(&B.loop);
        uint64_t kill_ms = uv_now(&B.loop);
        print_wall("control role killed");
        double swarm_cpu0 = thread_cpu();
        t = now_ns();
        if (system(B.kill_cmd) != 0) {
            fprintf(stderr, "conv_bench: kill command failed\n");
        }
        if (sa_run_until(&B.loop, resynced, NULL, B.check ? 120000 : 600000)) {
            resync_s = (double)(now_ns() - t) / 1e9;
            printf("resync after a control-role restart: %.2f s (%u agents, %u routes each; %s, %s reconnect)\n",
                   resync_s, B.n, expected_per_agent(), B.no_resume ? "full replay" : "resume",
                   B.fast_retry ? "50 ms" : "agent back-off");
            uint64_t items = 0, cfgs = 0, syncs = 0, swept = 0, last_up = 0;
            for (uint32_t i = 0; i < B.n; i++) {
                const struct sa_agent *a = B.ags[i].a;
                items += a->items;
                cfgs += a->config_stanzas;
                syncs += a->in_syncs;
                swept += a->swept;
                last_up = a->established_at_ms > last_up ? a->established_at_ms : last_up;
            }
            phases(kill_ms);
            /* the restarted role's CPU since it started: the resync's, with
             * its start and image load (read right after, so a little more) */
            printf("resync CPU s: control role %.2f, swarm loop thread %.2f\n", role_cpu("control"),
                   thread_cpu() - swarm_cpu0);
            if (B.check && check_traffic() != 0) {
                ok = false;
            }
            printf("resync traffic: %llu route items, %llu config stanzas, %llu in-sync, %llu stale swept; "
                   "last agent up %.2f s after the kill\n",
                   (unsigned long long)(items - items0), (unsigned long long)(cfgs - cfg0), (unsigned long long)syncs,
                   (unsigned long long)swept, ((double)last_up - (double)(t / 1000000)) / 1000.0);
        } else {
            uint32_t short_agents = 0;
            for (uint32_t i = 0; i < B.n; i++) {
                short_agents += !B.ags[i].a || B.ags[i].count != expected_per_agent() || !B.ags[i].a->eors;
            }
            printf("resync: not complete after %u s (%u agents short)\n", B.check ? 120 : 600, short_agents);
            if (B.check) {
                (void)check_traffic(); /* says who is wrong */
                ok = false;
            }
        }
    }
    printf("resync_s=%.2f resync_ratio=%.2f (vs OVN full sync %.1f s at 1,000 hypervisors / 10,000 ports)\n",
           resync_s, resync_s / OVN_FULL_SYNC_S, OVN_FULL_SYNC_S);
    if (B.rate > 0) {
        printf("saturation p99_ms=%.1f ratio=%.2f\n", sat_p99, sat_p99 / OVN_PORT_ADD_MS);
        printf("RESULT convergence p99_ms=%.1f ratio=%.2f vs=ovn mode=paced rate=%g\n", p99, p99 / OVN_PORT_ADD_MS,
               B.rate);
    } else {
        printf("RESULT convergence p99_ms=%.1f ratio=%.2f vs=ovn mode=saturation clients=%u\n", p99,
               p99 / OVN_PORT_ADD_MS, B.clients);
    }
    uv_timer_stop(&tm);
    for (uint32_t i = 0; i < B.n; i++) {
        sa_agent_free(B.ags[i].a);
        free(B.ags[i].got);
        pki_cert_free(B.certs[i]);
        pki_key_free(B.keys[i]);
    }
    uv_close((uv_handle_t *)&tm, NULL);
    uv_run(&B.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < ST_N; i++) {
        free(B.ts[i]);
    }
    free(B.recv);
    return ok ? 0 : 1;
}

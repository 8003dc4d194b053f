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
 * it again); agents reconnect 100 ms after losing their session; resync
 * time is from the kill until every agent is connected again, has received
 * End-of-RIB on its new session and holds exactly its routes.
 *
 *   conv_bench --pki DIR --token T --api IP:PORT --xmpp IP:PORT --node NAME
 *              --agents N --ports P --nets K [--clients C] [--rate R]
 *              [--sup-pid PID] [--kill-cmd CMD]
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

#include "tests/e2e/api/api_client.h"
#include "tests/sim/agent-swarm/swarm.h"

#define OVN_PORT_ADD_MS 30.0
#define OVN_FULL_SYNC_S 11.4
#define ADDR_BASE 16 /* the subnet's first addresses are reserved (gateway, DNS) */

struct ag {
    struct sa_agent *a;
    uint8_t *got; /* bit per port */
    uint32_t count;
    bool subscribed;
    uint64_t generation; /* sessions opened */
    uint64_t gen_at_kill; /* 'generation' when the control role was killed */
    uint64_t retry_at;    /* uv_now before which a lost agent is not reconnected */
    uint64_t backoff_ms;  /* vrouter/agent's: 250 ms doubling to 8 s, reset when up */
    bool was_up;          /* the current connection reached ESTABLISHED */
};

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

#define BACKOFF_MIN_MS 250 /* vrouter/agent/agent_main.c */
#define BACKOFF_MAX_MS 8000

static struct {
    const char *pki, *token, *node, *kill_cmd;
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
    if (p >= B.p) {
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
    if (B.resync) {
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

/* Subscribes agents once up; re-opens lost ones. */
static void maintain(uv_timer_t *t)
{
    (void)t;
    for (uint32_t i = 0; i < B.n; i++) {
        struct ag *g = &B.ags[i];
        uint64_t now = uv_now(&B.loop);
        if (g->a && g->a->established && !g->was_up) {
            g->was_up = true;
            g->backoff_ms = BACKOFF_MIN_MS;
        }
        if (g->a && (g->a->closed || g->a->conn_done) && !g->retry_at) {
            /* lost: the next attempt after the agent's back-off */
            g->backoff_ms = g->backoff_ms ? g->backoff_ms : BACKOFF_MIN_MS;
            g->retry_at = now + (B.fast_retry ? 50 : g->backoff_ms);
            if (!g->was_up) {
                g->backoff_ms = g->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : g->backoff_ms * 2;
            }
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

static bool resynced(void *arg)
{
    (void)arg;
    uint32_t want = expected_per_agent();
    for (uint32_t i = 0; i < B.n; i++) {
        struct ag *g = &B.ags[i];
        if (!g->a || g->generation <= g->gen_at_kill || !g->a->established || g->a->eors == 0 || g->count != want) {
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
    char body[1024];
    for (;;) {
        uint32_t p = atomic_fetch_add(&B.next_port, 1);
        if (p >= B.phase_end || !c) {
            break;
        }
        uint32_t k = p % B.k, owner = p % B.n, x = p / B.k + ADDR_BASE;
        if (B.rate > 0) {
            uint64_t due = B.phase_start + (uint64_t)((double)(p - B.phase_first) * 1e9 / B.rate);
            sleep_until(due);
            B.ts[ST_DUE][p] = due;
        }
        B.ts[ST_VMI_SENT][p] = now_ns();
        if (B.rate <= 0) {
            B.ts[ST_DUE][p] = B.ts[ST_VMI_SENT][p];
        }
        snprintf(body, sizeof body,
                 "{\"virtual-machine-interface\": {\"fq_name\": [\"default-domain\", \"bench\", \"port%u\"], "
                 "\"parent_type\": \"project\", \"virtual_network_refs\": [{\"to\": [\"default-domain\", \"bench\", "
                 "\"net%u\"]}], \"virtual_machine_refs\": [{\"to\": [\"vm%u\"]}]}}",
                 p, k, owner);
        if (post_ok(c, "/virtual-machine-interfaces", body, false) != 0) {
            atomic_fetch_add(&B.failed_ports, 1);
            atomic_fetch_add(&B.created, 1);
            continue;
        }
        B.ts[ST_VMI_ANS][p] = now_ns();
        snprintf(body, sizeof body,
                 "{\"instance-ip\": {\"fq_name\": [\"ip%u\"], \"instance_ip_address\": \"10.%u.%u.%u\", "
                 "\"virtual_network_refs\": [{\"to\": [\"default-domain\", \"bench\", \"net%u\"]}], "
                 "\"virtual_machine_interface_refs\": [{\"to\": [\"default-domain\", \"bench\", \"port%u\"]}]}}",
                 p, 128 + k, x >> 8, x & 255, k, p);
        B.ts[ST_IIP_SENT][p] = now_ns();
        if (post_ok(c, "/instance-ips", body, false) != 0) {
            atomic_fetch_add(&B.failed_ports, 1);
        }
        B.ts[ST_IIP_ANS][p] = now_ns();
        atomic_fetch_add(&B.created, 1);
    }
    api_client_free(c);
    return NULL;
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

static void usage(void)
{
    fprintf(stderr, "usage: conv_bench --pki DIR --token T --api IP:PORT --xmpp IP:PORT --node NAME --agents N "
                    "--ports P --nets K [--clients C] [--rate R] [--sup-pid PID] [--kill-cmd CMD] [--resume yes|no] "
                    "[--retry agent|fast]\n");
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    B.clients = 4;
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
        else {
            usage();
            return 2;
        }
    }
    if (!B.pki || !B.token || !api || !xmpp || !B.node || !B.n || !B.p || !B.k || B.k > 64 || B.n % B.k ||
        B.p % B.n || B.n / B.k < 2 || B.p / B.k + ADDR_BASE > 65534 || split(api, B.api_ip, sizeof B.api_ip, &B.api_port) ||
        split(xmpp, B.xmpp_ip, sizeof B.xmpp_ip, &B.xmpp_port) || !B.clients || B.rate < 0) {
        usage();
        fprintf(stderr, "(N a multiple of K with N/K >= 2, P a multiple of N, K <= 64, R >= 0)\n");
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
        B.ags[i].got = calloc(B.p / 8 + 1, 1);
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
        for (uint32_t i = 0; i < B.n; i++) {
            B.ags[i].gen_at_kill = B.ags[i].generation;
        }
        uint64_t items0 = 0, cfg0 = 0;
        for (uint32_t i = 0; i < B.n; i++) {
            items0 += B.ags[i].a ? B.ags[i].a->items : 0;
            cfg0 += B.ags[i].a ? B.ags[i].a->config_stanzas : 0;
        }
        t = now_ns();
        if (system(B.kill_cmd) != 0) {
            fprintf(stderr, "conv_bench: kill command failed\n");
        }
        if (sa_run_until(&B.loop, resynced, NULL, 600000)) {
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
            printf("resync traffic: %llu route items, %llu config stanzas, %llu in-sync, %llu stale swept; "
                   "last agent up %.2f s after the kill\n",
                   (unsigned long long)(items - items0), (unsigned long long)(cfgs - cfg0), (unsigned long long)syncs,
                   (unsigned long long)swept, ((double)last_up - (double)(t / 1000000)) / 1000.0);
        } else {
            uint32_t short_agents = 0;
            for (uint32_t i = 0; i < B.n; i++) {
                short_agents += !B.ags[i].a || B.ags[i].count != expected_per_agent() || !B.ags[i].a->eors;
            }
            printf("resync: not complete after 600 s (%u agents short)\n", short_agents);
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

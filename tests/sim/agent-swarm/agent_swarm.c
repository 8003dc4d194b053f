/* agent_swarm: a load tool for the control node's XMPP server. It issues N
 * agent certificates from the cluster CA given on the command line, connects
 * N simulated agents over real TLS + XMPP (swarm.h), has agent i subscribe
 * to instance "vn<i % K>" and publish M routes into it plus End-of-RIB, and
 * measures the time until every agent holds exactly the routes of every
 * other agent of its instance. Prints figures; exits 0 when every agent
 * converged exactly, 1 otherwise (wrong or missing routes, timeout), 2 on
 * usage errors.
 *
 *   agent_swarm --ca-dir DIR --server ADDR --port P [--agents N]
 *               [--routes M] [--instances K] [--timeout SECONDS]
 *               [--name-prefix PREFIX] */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "tests/sim/agent-swarm/swarm.h"

#define CONNECT_BATCH 100u

struct swarm {
    struct sa_agent **agents;
    uint32_t n;
    uint32_t m;
    uint32_t k;
};

/* Agents [0, sw->n) are established or have failed (reported later). */
static bool all_established(void *arg)
{
    struct swarm *sw = arg;
    for (uint32_t i = 0; i < sw->n; i++) {
        struct sa_agent *a = sw->agents[i];
        if (!a->established && !a->closed && !a->conn_done) {
            return false;
        }
    }
    return true;
}

static bool all_converged(void *arg)
{
    struct swarm *sw = arg;
    for (uint32_t i = 0; i < sw->n; i++) {
        struct sa_agent *a = sw->agents[i];
        if (a->closed || a->conn_done) {
            return true;
        }
        if (a->have_count != a->expect || a->eors == 0) {
            return false;
        }
    }
    return true;
}

static bool all_done(void *arg)
{
    struct swarm *sw = arg;
    for (uint32_t i = 0; sw->agents && i < sw->n; i++) {
        if (sw->agents[i] && !sw->agents[i]->conn_done) {
            return false;
        }
    }
    return true;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static double now_ms(void)
{
    return (double)uv_hrtime() / 1e6;
}

int main(int argc, char **argv)
{
    const char *ca_dir = NULL, *server = NULL, *prefix = "swarm-agent-";
    long port = 0, n = 20, m = 10, k = 4, timeout = 60;
    static const struct option opts[] = {{"ca-dir", required_argument, NULL, 'c'},
                                         {"server", required_argument, NULL, 's'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"agents", required_argument, NULL, 'n'},
                                         {"routes", required_argument, NULL, 'm'},
                                         {"instances", required_argument, NULL, 'k'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"name-prefix", required_argument, NULL, 'x'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'c': ca_dir = optarg; break;
        case 's': server = optarg; break;
        case 'p': port = strtol(optarg, NULL, 10); break;
        case 'n': n = strtol(optarg, NULL, 10); break;
        case 'm': m = strtol(optarg, NULL, 10); break;
        case 'k': k = strtol(optarg, NULL, 10); break;
        case 't': timeout = strtol(optarg, NULL, 10); break;
        case 'x': prefix = optarg; break;
        default: ca_dir = NULL; break;
        }
    }
    if (!ca_dir || !server || port <= 0 || port > 65535 || n < 1 || n > 100000 || m < 0 || m > 100000 || k < 1 ||
        k > n || timeout < 1 || (uint64_t)n * (uint64_t)m > 16000000u) {
        fprintf(stderr, "usage: agent_swarm --ca-dir DIR --server ADDR --port P [--agents N] [--routes M]\n"
                        "                   [--instances K] [--timeout SECONDS] [--name-prefix PREFIX]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char path[4096];
    struct pki_cert *ca = NULL;
    struct pki_key *ca_key = NULL;
    snprintf(path, sizeof path, "%s/ca.pem", ca_dir);
    int rc = pki_cert_load(path, &ca);
    snprintf(path, sizeof path, "%s/ca.key", ca_dir);
    if (rc == 0) {
        rc = pki_key_load(path, &ca_key);
    }
    if (rc != 0) {
        fprintf(stderr, "agent_swarm: CA in %s: %s\n", ca_dir, strata_strerror(rc));
        pki_cert_free(ca);
        return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct swarm sw = {.n = (uint32_t)n, .m = (uint32_t)m, .k = (uint32_t)k};
    sw.agents = calloc(sw.n, sizeof *sw.agents);
    uint32_t routes_max = sw.n * sw.m;
    double t_issue = now_ms();
    double t_connect = 0;
    int ret = 1;
    /* Connect in batches of CONNECT_BATCH handshakes in flight, as agents
     * of a real cluster do not all start in the same millisecond. */
    uint32_t total = sw.n;
    for (uint32_t i = 0; sw.agents && i < total; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%u", prefix, i);
        struct pki_cert *cert;
        struct pki_key *key;
        rc = sa_issue(ca, ca_key, name, PKI_ROLE_AGENT, &cert, &key);
        if (rc == 0) {
            rc = sa_agent_create(&loop, i, ca, cert, key, NULL, server, (uint16_t)port, routes_max, &sw.agents[i]);
            pki_cert_free(cert);
            pki_key_free(key);
        }
        if (rc != 0) {
            fprintf(stderr, "agent_swarm: agent %u: %s\n", i, strata_strerror(rc));
            sw.n = i;
            goto out;
        }
        if ((i + 1) % CONNECT_BATCH == 0 || i + 1 == total) {
            double t0 = now_ms();
            sw.n = i + 1;
            if (!sa_run_until(&loop, all_established, &sw, (uint64_t)timeout * 1000)) {
                fprintf(stderr, "agent_swarm: not every agent established within %lds\n", timeout);
                goto out;
            }
            t_connect += now_ms() - t0;
        }
    }
    t_issue = now_ms() - t_issue - t_connect;
    double t_pub = now_ms();
    uint64_t pub_start = uv_now(&loop);
    uint32_t *members = calloc(sw.k, sizeof *members);
    for (uint32_t i = 0; members && i < sw.n; i++) {
        members[i % sw.k]++;
    }
    for (uint32_t i = 0; members && i < sw.n; i++) {
        struct sa_agent *a = sw.agents[i];
        if (a->closed || a->conn_done) {
            fprintf(stderr, "agent_swarm: agent %s refused (stream %s, TLS %s)\n", a->name,
                    xmpp_stream_cond_name(a->close_cond), strata_strerror(a->conn_status));
            free(members);
            goto out;
        }
        char inst[32];
        snprintf(inst, sizeof inst, "vn%u", i % sw.k);
        a->expect = (members[i % sw.k] - 1) * sw.m;
        rc = sa_subscribe(a, inst);
        for (uint32_t j = 0; rc == 0 && j < sw.m; j++) {
            rc = sa_publish(a, inst, i * sw.m + j);
        }
        if (rc == 0) {
            rc = sa_eor(a);
        }
        if (rc != 0) {
            fprintf(stderr, "agent_swarm: agent %s: %s\n", a->name, strata_strerror(rc));
            free(members);
            goto out;
        }
    }
    free(members);
    bool conv = sa_run_until(&loop, all_converged, &sw, (uint64_t)timeout * 1000);
    double t_end = now_ms();
    /* exactness: each agent holds exactly the other members' routes */
    uint64_t missing = 0, extra = 0, wrong = 0, items = 0, retracts = 0, fails = 0;
    uint64_t *lat = calloc(sw.n, sizeof *lat);
    for (uint32_t i = 0; i < sw.n; i++) {
        struct sa_agent *a = sw.agents[i];
        wrong += a->wrong;
        items += a->items;
        retracts += a->retracts;
        fails += a->write_fails + (a->closed || a->conn_done);
        for (uint32_t r = 0; r < routes_max; r++) {
            uint32_t owner = r / sw.m;
            bool want = owner != i && owner % sw.k == i % sw.k;
            bool has = sa_has(a, r);
            missing += want && !has;
            extra += has && !want;
        }
        if (lat) {
            lat[i] = a->complete_at_ms >= pub_start ? a->complete_at_ms - pub_start : 0;
        }
    }
    uint64_t p50 = 0, p99 = 0, pmax = 0;
    if (lat) {
        qsort(lat, sw.n, sizeof *lat, cmp_u64);
        p50 = lat[sw.n / 2];
        p99 = lat[(sw.n * 99) / 100 < sw.n ? (sw.n * 99) / 100 : sw.n - 1];
        pmax = lat[sw.n - 1];
        free(lat);
    }
    printf("agents=%u instances=%u routes_per_agent=%u routes_total=%u\n", sw.n, sw.k, sw.m, routes_max);
    printf("cert_issue_ms=%.1f connect_ms=%.1f convergence_ms=%.1f\n", t_issue, t_connect, t_end - t_pub);
    printf("per_agent_complete_ms p50=%llu p99=%llu max=%llu\n", (unsigned long long)p50, (unsigned long long)p99,
           (unsigned long long)pmax);
    printf("items_received=%llu retracts=%llu missing=%llu extra=%llu wrong=%llu failures=%llu converged=%s\n",
           (unsigned long long)items, (unsigned long long)retracts, (unsigned long long)missing, (unsigned long long)extra,
           (unsigned long long)wrong, (unsigned long long)fails, conv ? "yes" : "no");
    ret = conv && missing == 0 && extra == 0 && wrong == 0 && fails == 0 ? 0 : 1;
out:
    for (uint32_t i = 0; sw.agents && i < sw.n; i++) {
        if (sw.agents[i] && sw.agents[i]->established && !sw.agents[i]->closed) {
            sa_agent_close(sw.agents[i]);
        }
    }
    /* Let the orderly closes go out, then release everything. */
    (void)sa_run_until(&loop, all_done, &sw, 3000);
    for (uint32_t i = 0; sw.agents && i < sw.n; i++) {
        sa_agent_free(sw.agents[i]);
    }
    free(sw.agents);
    uv_run(&loop, UV_RUN_NOWAIT);
    (void)uv_loop_close(&loop);
    pki_cert_free(ca);
    pki_key_free(ca_key);
    return ret;
}

/* agent_cfg_probe: one simulated vRouter agent (tests/sim/agent-swarm) that
 * follows its configuration, for the control role's e2e tests. Its
 * certificate (issued from the CA in CA_DIR) names virtual-router NAME; it
 * attaches to every control node given (one XMPP session each, as Contrail
 * agents attach to two), publishes its ports' routes when their config
 * arrives (sa_follow_config; inet and EVPN MAC/IP) and keeps the routes
 * each node sends.
 *
 * A session that is lost is re-opened, after 0.5 s, to the first listed
 * node no other session uses (another node if one is free, else the same
 * one): meanwhile the routes of the lost session are kept, stale, and
 * they are swept (replaced by what the new session holds) at the new
 * session's first End-of-RIB, as an agent does.
 *
 *   agent_cfg_probe CA_DIR NAME INDEX STATE_FILE SESSIONS ADDR:PORT...
 * SESSIONS sessions are kept open (the first SESSIONS nodes at start).
 * Every 100 ms STATE_FILE is rewritten (atomically) with
 *   {"name", "sessions": [{"server", "established", "eors", "stale",
 *     "config_stanzas", "interfaces": [NAME...], "ports": {...},
 *     "global": the global-vrouter-config node's properties or null,
 *     "routes": {"INSTANCE PREFIX": "NEXTHOP LABEL"}}]}
 * where routes include the stale ones. Runs until SIGTERM (orderly close,
 * exit 0). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "routing/control/agent_config.h"
#include "tests/sim/agent-swarm/swarm.h"

#define MAX_SERVERS 8

struct server {
    char host[64];
    uint16_t port;
};

struct slot {
    struct sa_agent *a;
    int server;
    json_t *stale;  /* routes of the lost session until the new one's End-of-RIB */
    uint64_t retry_at;
};

struct probe {
    uv_loop_t loop;
    const char *state_file;
    uint32_t index;
    struct pki_cert *ca, *cert;
    struct pki_key *key;
    struct server servers[MAX_SERVERS];
    int nservers;
    struct slot slots[MAX_SERVERS];
    int nslots;
    uv_timer_t tick;
    uv_signal_t term;
    bool stopping;
};

static int slot_open(struct probe *p, struct slot *s, int server)
{
    s->server = server;
    int rc = sa_agent_create(&p->loop, p->index, p->ca, p->cert, p->key, NULL, p->servers[server].host,
                             p->servers[server].port, 16, &s->a);
    if (rc == 0) {
        rc = sa_follow_config(s->a);
        s->a->publish_evpn = true;
    }
    if (rc != 0) {
        fprintf(stderr, "agent_cfg_probe: %s\n", strata_strerror(rc));
        sa_agent_free(s->a);
        s->a = NULL;
    }
    return rc;
}

static bool server_used(const struct probe *p, int server, const struct slot *except)
{
    for (int i = 0; i < p->nslots; i++) {
        if (&p->slots[i] != except && p->slots[i].a && p->slots[i].server == server) {
            return true;
        }
    }
    return false;
}

static json_t *slot_json(const struct slot *s, const struct server *srv)
{
    json_t *routes = json_object();
    if (s->stale) {
        json_object_update(routes, s->stale);
    }
    json_t *ifs = NULL;
    if (s->a && s->a->routes) {
        json_object_update(routes, s->a->routes);
        ifs = acfg_mirror_names(s->a->cfg, "virtual-machine-interface");
    }
    /* the global settings node (agent_config.h), null while absent */
    const json_t *global = s->a && s->a->cfg ? acfg_mirror_node(s->a->cfg, "global-vrouter-config",
                                                                "default-global-system-config:"
                                                                "default-global-vrouter-config")
                                             : NULL;
    char server[96];
    snprintf(server, sizeof server, "%s:%u", srv->host, (unsigned)srv->port);
    return json_pack("{s:s,s:b,s:I,s:I,s:I,s:o,s:O,s:o,s:O}", "server", server, "established",
                     s->a && s->a->established && !s->a->closed && !s->a->conn_done, "eors",
                     (json_int_t)(s->a ? s->a->eors : 0), "stale", (json_int_t)json_object_size(s->stale),
                     "config_stanzas", (json_int_t)(s->a ? s->a->config_stanzas : 0), "interfaces",
                     ifs ? ifs : json_array(), "ports", s->a && s->a->ports ? s->a->ports : json_null(), "routes",
                     routes, "global", global ? global : json_null());
}

static void write_state(struct probe *p, const char *name)
{
    json_t *arr = json_array();
    for (int i = 0; i < p->nslots; i++) {
        json_array_append_new(arr, slot_json(&p->slots[i], &p->servers[p->slots[i].server]));
    }
    json_t *doc = json_pack("{s:s,s:o}", "name", name, "sessions", arr);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", p->state_file);
    if (json_dump_file(doc, tmp, JSON_SORT_KEYS) == 0) {
        (void)rename(tmp, p->state_file);
    }
    json_decref(doc);
}

static const char *probe_name;

static void on_tick(uv_timer_t *t)
{
    struct probe *p = t->data;
    uint64_t now = uv_now(&p->loop);
    for (int i = 0; i < p->nslots && !p->stopping; i++) {
        struct slot *s = &p->slots[i];
        if (s->a && (s->a->closed || s->a->conn_done)) {
            /* lost: keep its routes stale, re-open soon */
            json_t *old = s->a->routes ? json_deep_copy(s->a->routes) : json_object();
            if (s->stale) {
                json_object_update_missing(old, s->stale);
                json_decref(s->stale);
            }
            s->stale = old;
            sa_agent_free(s->a);
            s->a = NULL;
            s->retry_at = now + 500;
        }
        if (!s->a && now >= s->retry_at) {
            int next = s->server;
            for (int k = 0; k < p->nservers; k++) {
                if (!server_used(p, k, s) && k != s->server) {
                    next = k;
                    break;
                }
            }
            if (slot_open(p, s, next) != 0) {
                s->retry_at = now + 500;
            }
        }
        if (s->a && s->stale && s->a->eors > 0) {
            json_decref(s->stale); /* swept: the new session's table replaces it */
            s->stale = NULL;
        }
    }
    write_state(p, probe_name);
}

static void on_term(uv_signal_t *h, int sig)
{
    (void)sig;
    struct probe *p = h->data;
    p->stopping = true;
    uv_stop(&p->loop);
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: agent_cfg_probe CA_DIR NAME INDEX STATE_FILE SESSIONS ADDR:PORT...\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static struct probe p;
    probe_name = argv[2];
    p.index = (uint32_t)strtoul(argv[3], NULL, 10);
    p.state_file = argv[4];
    p.nslots = atoi(argv[5]);
    for (int i = 6; i < argc && p.nservers < MAX_SERVERS; i++) {
        struct server *s = &p.servers[p.nservers];
        const char *colon = strrchr(argv[i], ':');
        long port = colon ? strtol(colon + 1, NULL, 10) : 0;
        if (!colon || (size_t)(colon - argv[i]) >= sizeof s->host || port <= 0 || port > 65535) {
            fprintf(stderr, "agent_cfg_probe: bad ADDR:PORT %s\n", argv[i]);
            return 2;
        }
        memcpy(s->host, argv[i], (size_t)(colon - argv[i]));
        s->host[colon - argv[i]] = '\0';
        s->port = (uint16_t)port;
        p.nservers++;
    }
    if (p.nslots < 1 || p.nslots > p.nservers) {
        fprintf(stderr, "agent_cfg_probe: SESSIONS must be 1..%d\n", p.nservers);
        return 2;
    }
    char path[4096];
    struct pki_key *ca_key = NULL;
    snprintf(path, sizeof path, "%s/ca.pem", argv[1]);
    int rc = pki_cert_load(path, &p.ca);
    snprintf(path, sizeof path, "%s/ca.key", argv[1]);
    rc = rc ? rc : pki_key_load(path, &ca_key);
    rc = rc ? rc : sa_issue(p.ca, ca_key, argv[2], PKI_ROLE_AGENT, &p.cert, &p.key);
    pki_key_free(ca_key);
    if (rc != 0) {
        fprintf(stderr, "agent_cfg_probe: certificate: %s\n", strata_strerror(rc));
        return 1;
    }
    uv_loop_init(&p.loop);
    for (int i = 0; i < p.nslots; i++) {
        (void)slot_open(&p, &p.slots[i], i);
    }
    uv_timer_init(&p.loop, &p.tick);
    p.tick.data = &p;
    uv_timer_start(&p.tick, on_tick, 100, 100);
    uv_signal_init(&p.loop, &p.term);
    p.term.data = &p;
    uv_signal_start(&p.term, on_term, SIGTERM);
    uv_run(&p.loop, UV_RUN_DEFAULT);
    /* orderly close of every session */
    uv_timer_stop(&p.tick);
    uv_close((uv_handle_t *)&p.tick, NULL);
    uv_close((uv_handle_t *)&p.term, NULL);
    for (int i = 0; i < p.nslots; i++) {
        if (p.slots[i].a && p.slots[i].a->established && !p.slots[i].a->closed) {
            sa_agent_close(p.slots[i].a);
        }
    }
    uv_run(&p.loop, UV_RUN_NOWAIT);
    for (int i = 0; i < p.nslots; i++) {
        sa_agent_free(p.slots[i].a);
        json_decref(p.slots[i].stale);
    }
    uv_run(&p.loop, UV_RUN_DEFAULT);
    uv_loop_close(&p.loop);
    pki_cert_free(p.ca);
    pki_cert_free(p.cert);
    pki_key_free(p.key);
    return 0;
}

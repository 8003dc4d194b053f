/* agent_probe: one simulated vRouter agent (tests/sim/agent-swarm) for the
 * control role's e2e. It takes an agent certificate issued from the CA in
 * CA_DIR, connects to a control node's XMPP port, subscribes to INSTANCE,
 * publishes route 0 of the swarm's scheme (10.0.0.0/32, next hop
 * 100.64.0.<INDEX>, label 16) with End-of-RIB, and waits until it has
 * received at least MIN_ITEMS items of that instance that are not its own
 * (routes learned over BGP fall outside the scheme and count as such).
 * Then it stays connected for HOLD seconds (its route stays published) and
 * closes in order.
 *
 *   agent_probe CA_DIR ADDRESS PORT INSTANCE INDEX MIN_ITEMS HOLD
 * Prints "received N" once MIN_ITEMS arrived; exits 0, or 1 when the
 * session did not come up or the items did not arrive within 20 s. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "tests/sim/agent-swarm/swarm.h"

struct probe {
    struct sa_agent *a;
    uint64_t min_items;
};

static bool up(void *arg)
{
    struct probe *p = arg;
    return p->a->established || p->a->closed || p->a->conn_done;
}

static bool received(void *arg)
{
    struct probe *p = arg;
    return p->a->items >= p->min_items || p->a->closed || p->a->conn_done;
}

static bool never(void *arg)
{
    struct probe *p = arg;
    return p->a->closed || p->a->conn_done;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: agent_probe CA_DIR ADDRESS PORT INSTANCE INDEX MIN_ITEMS HOLD\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *dir = argv[1], *address = argv[2], *instance = argv[4];
    uint16_t port = (uint16_t)strtoul(argv[3], NULL, 10);
    uint32_t index = (uint32_t)strtoul(argv[5], NULL, 10);
    struct probe p = {.min_items = strtoull(argv[6], NULL, 10)};
    uint64_t hold_ms = strtoull(argv[7], NULL, 10) * 1000;
    char path[4096], name[64];
    struct pki_cert *ca = NULL, *cert = NULL;
    struct pki_key *ca_key = NULL, *key = NULL;
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    int rc = pki_cert_load(path, &ca);
    snprintf(path, sizeof path, "%s/ca.key", dir);
    rc = rc ? rc : pki_key_load(path, &ca_key);
    snprintf(name, sizeof name, "probe-agent-%u", index);
    rc = rc ? rc : sa_issue(ca, ca_key, name, PKI_ROLE_AGENT, &cert, &key);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rc = rc ? rc : sa_agent_create(&loop, index, ca, cert, key, NULL, address, port, 16, &p.a);
    int status = 1;
    if (rc != 0) {
        fprintf(stderr, "agent_probe: %s\n", strata_strerror(rc));
    } else if (!sa_run_until(&loop, up, &p, 20000) || !p.a->established) {
        fprintf(stderr, "agent_probe: no XMPP session with %s:%u\n", address, (unsigned)port);
    } else if (sa_subscribe(p.a, instance) != 0 || sa_publish(p.a, instance, 0) != 0 || sa_eor(p.a) != 0) {
        fprintf(stderr, "agent_probe: cannot send\n");
    } else if (!sa_run_until(&loop, received, &p, 20000) || p.a->items < p.min_items) {
        fprintf(stderr, "agent_probe: %llu items of %s, wanted %llu\n", (unsigned long long)p.a->items, instance,
                (unsigned long long)p.min_items);
    } else {
        printf("received %llu\n", (unsigned long long)p.a->items);
        fflush(stdout);
        (void)sa_run_until(&loop, never, &p, hold_ms);
        status = p.a->closed || p.a->conn_done ? 1 : 0;
        if (status) {
            fprintf(stderr, "agent_probe: the control node closed the session\n");
        }
    }
    if (p.a) {
        sa_agent_close(p.a);
        (void)sa_run_until(&loop, never, &p, 2000);
        sa_agent_free(p.a);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    pki_cert_free(ca);
    pki_cert_free(cert);
    pki_key_free(ca_key);
    pki_key_free(key);
    return status;
}

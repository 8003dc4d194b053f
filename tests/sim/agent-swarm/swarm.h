/* Simulated vRouter agents for load tools and e2e tests: each one is a real
 * mutual-TLS connection (lib/tls) carrying an agent-side xmpp_session
 * (routing/xmpp) to a control node, on one libuv loop. Routes follow one
 * numbering so that what an agent receives can be checked exactly: route
 * 'r' is 10.0.0.0 + r /32 published by agent 'owner' with next hop
 * 100.64.0.0 + owner and label 16 + r % 1000000; an agent records the
 * routes it holds in a bitmap indexed by 'r', and counts every item that
 * does not fit the scheme as 'wrong'. */
#ifndef STRATA_TESTS_SWARM_H
#define STRATA_TESTS_SWARM_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "lib/pki.h"
#include "lib/tls.h"
#include "routing/xmpp/xmpp_session.h"

struct sa_agent {
    uv_loop_t *loop;
    uint32_t index;             /* owner number in the route scheme */
    char name[64];              /* certificate identity */
    char jid[64];               /* stream 'from' (normally == name) */
    struct tls_ctx *ctx;
    struct tls_conn *conn;
    struct xmpp_session s;
    bool session_init;
    uv_timer_t *timer;          /* ticks the session each second (keepalive pings) */
    /* outcome */
    bool tls_up;                /* TLS handshake completed (client side) */
    bool established;           /* XMPP headers exchanged */
    bool closed;                /* XMPP session over */
    enum xmpp_stream_cond close_cond;
    bool close_by_peer;
    bool conn_done;             /* TLS on_close seen */
    int conn_status;
    uint64_t eors;              /* End-of-RIB events received */
    uint64_t eor_at_ms;         /* uv_now of the last End-of-RIB */
    uint64_t established_at_ms; /* uv_now when established */
    uint64_t complete_at_ms;    /* uv_now when 'have_count' first reached 'expect' */
    /* received routes */
    uint8_t *have;              /* bitmap over route numbers < 'routes_max' */
    uint32_t routes_max;
    uint32_t have_count;
    uint32_t expect;            /* routes the test expects; see complete_at_ms */
    uint64_t items, retracts, wrong, write_fails;
    /* following configuration (sa_follow_config) */
    struct acfg_mirror *cfg;    /* the config the control node sent */
    json_t *ports;              /* interface name -> {"ri", "ips": [...]} published */
    json_t *routes;             /* "INSTANCE ID" -> "NEXTHOP LABEL[ vni VNI]", every item held */
    json_t *subs;               /* instances subscribed to for ports */
    bool config_eor_sent;       /* End-of-RIB after the first ports were published */
    bool publish_evpn;          /* ports also as EVPN MAC/IP routes (MAC 02:00 + the IPv4
                                 * address, VXLAN, VNI 5000 + label) */
    uint64_t config_stanzas;
    /* optional: every routes item as it arrives (load tools) */
    void (*on_item)(void *arg, struct sa_agent *a, const char *instance, const struct xmpp_route_item *it);
    void *on_item_arg;
    /* optional, with sa_follow_config (load tools): every interface the
     * agent's config lists, each time a config stanza is applied;
     * 'published' is true when its (non-empty) address list has just
     * been published (arg: on_item_arg) */
    void (*on_port)(void *arg, struct sa_agent *a, const char *ifname, bool published);
    uint64_t config_at_ms;      /* uv_now of the last config stanza */
    /* resume (sa_agent_reopen; docs/xmpp.md "Resume after a control-node
     * restart"), in sa_follow_config mode */
    bool resume;                /* reopen announces what it holds */
    bool reopened;              /* the current session is a reopened one */
    char address[64];
    uint16_t port;
    json_t *hashes;             /* "INSTANCE ID" -> xmpp_route_item_hash of the item held */
    json_t *inst_count;         /* INSTANCE -> items held (keys of 'hashes' in it), absent at 0 */
    json_t *inst_sum;           /* INSTANCE -> the sum of their hashes (its digest) */
    /* stale: what a->routes held at the reopen, of an instance in
     * 'stale_insts' (not confirmed by IN_SYNC yet), without an item
     * since ('fresh'); kept this way so that a reopen costs no insert
     * per route held */
    json_t *stale_insts;        /* INSTANCE -> true */
    json_t *fresh;              /* "INSTANCE ID" -> true: an item on this session, of a stale instance */
    uint64_t in_syncs;          /* IN_SYNC received (instances confirmed without items) */
    uint64_t swept;             /* stale items removed at End-of-RIB */
};

/* Issues an agent certificate named 'name' (CN and DNS SAN) carrying the
 * role URI 'role' (NULL: none) from 'ca'/'ca_key'. */
int sa_issue(const struct pki_cert *ca, const struct pki_key *ca_key, const char *name, const char *role,
             struct pki_cert **cert, struct pki_key **key) STRATA_WARN_UNUSED;

/* Connects a new agent to 'address':'port' (server certificate must name
 * 'address'), trusting 'ca', with 'cert'/'key' (copied). 'jid' is its
 * stream 'from' (NULL: the certificate's identity). Its route bitmap holds
 * 'routes_max' route numbers. The session starts once TLS is up. */
int sa_agent_create(uv_loop_t *loop, uint32_t index, const struct pki_cert *ca, const struct pki_cert *cert,
                    const struct pki_key *key, const char *jid, const char *address, uint16_t port,
                    uint32_t routes_max, struct sa_agent **out) STRATA_WARN_UNUSED;
/* Resets the connection if still live (no stream close: the server sees a
 * lost connection) and frees everything (its timer once the loop runs).
 * NULL accepted. */
void sa_agent_free(struct sa_agent *a);
/* Orderly close: </stream:stream>, then TLS close. */
void sa_agent_close(struct sa_agent *a);

int sa_subscribe(struct sa_agent *a, const char *instance) STRATA_WARN_UNUSED;
/* Publishes route number 'r' into 'instance' with the agent's next hop. */
int sa_publish(struct sa_agent *a, const char *instance, uint32_t r) STRATA_WARN_UNUSED;
int sa_withdraw(struct sa_agent *a, const char *instance, uint32_t r) STRATA_WARN_UNUSED;
int sa_eor(struct sa_agent *a) STRATA_WARN_UNUSED;
/* Writes 'size' raw bytes on the TLS connection, bypassing the session. */
int sa_send_raw(struct sa_agent *a, const void *data, size_t size) STRATA_WARN_UNUSED;
/* Stops reading from the connection (a stuck agent). */
void sa_read_stop(struct sa_agent *a);
/* The agent follows its configuration like a vRouter agent: it keeps what
 * config stanzas say (a->cfg), and for every virtual-machine-interface it
 * is given it subscribes to the interface's routing_instance and publishes
 * each of its instance_ip_addresses (IPv4, /32; next hop 100.64.0.0 +
 * index, label 16 + the interface's position) ; an interface deleted is
 * withdrawn. Every routes item is then also kept in a->routes, whatever
 * its shape. LIB_ENOMEM. */
int sa_follow_config(struct sa_agent *a) STRATA_WARN_UNUSED;
/* Opens a new connection for an agent whose session is over (closed or
 * its TLS connection gone) and keeps what it holds: config, ports,
 * subscriptions, routes (marked stale). On the new session it re-subscribes
 * and re-publishes its ports and sends End-of-RIB; with 'a->resume' it
 * announces resume in its stream header, sends CONFIG_HELD first and a
 * digest with each subscribe, so an unchanged control node sends IN_SYNC
 * instead of the routes; without, its config mirror starts empty (the node
 * sends the whole set; what was deleted meanwhile is then gone). A routes item refreshes a stale one, IN_SYNC
 * refreshes an instance, the control node's End-of-RIB sweeps the rest
 * (reported to on_item as retracts). sa_follow_config mode only
 * (LIB_EINVAL otherwise); LIB_ENOMEM, connect errors. */
int sa_agent_reopen(struct sa_agent *a) STRATA_WARN_UNUSED;
/* Whether route 'r' is held. */
bool sa_has(const struct sa_agent *a, uint32_t r);

/* Runs 'loop' until 'done(arg)' is true or 'timeout_ms' passes; returns
 * whether it became true. */
bool sa_run_until(uv_loop_t *loop, bool (*done)(void *arg), void *arg, uint64_t timeout_ms);

#endif

/* The control node's XMPP server: vRouter agents connect over mutual TLS
 * (lib/tls, default TCP 5269), one control-side xmpp_session (routing/xmpp)
 * per connection, its callbacks forwarded to the route glue (xmpp_glue.h)
 * on a shared RIB. Admission: the client certificate must chain to the
 * cluster CA and carry the agent role (PKI_ROLE_AGENT); its identity is the
 * session's peer_identity, so a stream 'from' naming another agent is
 * refused by the session (invalid-from). RIB changes are delivered once per
 * loop iteration after the reads that caused them (xglue_flush() in a
 * uv_idle). Timers: each session's hold/keepalive deadline; an agent lost
 * without an orderly stream close keeps its routes stale until it
 * reconnects and sends End-of-RIB, or until 'stale_ms' passes
 * (xglue_agent_expire()). Caps: connections, bytes queued per connection
 * (bytes the TLS queue refuses wait in an overflow buffer; an agent whose
 * queue passes max_queued is dropped, never buffered without bound). */
#ifndef STRATA_ROUTING_XMPP_SERVER_H
#define STRATA_ROUTING_XMPP_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "lib/pki.h"
#include "lib/tls.h"
#include "routing/rib/rib.h"

#define XSRV_DEFAULT_PORT 5269
#define XSRV_DEFAULT_STALE_MS 300000u
#define XSRV_DEFAULT_MAX_CONNS 4096u
#define XSRV_DEFAULT_HIGH_WATERMARK ((size_t)1 << 20)
#define XSRV_DEFAULT_MAX_QUEUED ((size_t)64 << 20)
#define XSRV_DEFAULT_EOR_HOLD_MS 10000u
#define XSRV_EOR_QUIET_MS 250u
/* The quiet time while routers of the agents' configuration have no agent
 * connected: longer than an agent's longest reconnect wait
 * (xmpp_reconnect_delay_ms: 2 s + 50%), so a burst of reconnects that
 * stalls the loop, or agents still in their back-off, do not see End-of-RIB
 * released early (the digests would then be compared against a RIB still
 * missing their peers' routes: full dumps). */
#define XSRV_EOR_QUIET_MISSING_MS 3500u

struct xsrv_config {
    char listen[64];          /* IPv4/IPv6 literal; "" = 0.0.0.0 */
    uint16_t port;            /* 0 with 'ephemeral' false: XSRV_DEFAULT_PORT */
    bool ephemeral;           /* listen on a kernel-chosen port (tests) */
    int listen_fd;            /* > 0: an already bound, listening socket to accept on
                               * (stratad's supervisor binds it), taken over by the server;
                               * 'listen', 'port' and 'ephemeral' are then unused */
    const struct pki_cert *ca;   /* cluster CA (copied into the TLS context) */
    const struct pki_cert *cert; /* this control node's certificate */
    const struct pki_key *key;
    uint64_t hold_ms;         /* 0: XMPP_DEFAULT_HOLD_MS */
    uint64_t stale_ms;        /* 0: XSRV_DEFAULT_STALE_MS */
    uint32_t max_conns;       /* 0: XSRV_DEFAULT_MAX_CONNS */
    size_t write_high_watermark; /* TLS queue; 0: XSRV_DEFAULT_HIGH_WATERMARK */
    size_t max_queued;        /* bytes queued per agent before it is dropped;
                               * 0: XSRV_DEFAULT_MAX_QUEUED */
    /* Graceful restart of this node: after the server starts, End-of-RIB
     * to agents is held until every connected agent has sent its own
     * End-of-RIB and, with the agents' configuration set
     * (xsrv_set_agent_config()), every router of it has its agent
     * connected (released at once: nobody else is expected); without
     * configuration, once none connected for XSRV_EOR_QUIET_MS (for
     * XSRV_EOR_QUIET_MISSING_MS while a router of the agents'
     * configuration has no agent connected), or until
     * eor_hold_ms passed (0: XSRV_DEFAULT_EOR_HOLD_MS; 'no_eor_hold':
     * not held). */
    uint64_t eor_hold_ms;
    bool no_eor_hold;
};

struct xsrv;

/* Creates the server on 'loop' for 'rib' (not owned; it must outlive the
 * server) and starts listening. 'errmsg' says why on failure. Errors:
 * LIB_EINVAL, LIB_ENOMEM, TLS_* (context), negative libuv codes (bind). */
int xsrv_create(uv_loop_t *loop, struct rib *rib, const struct xsrv_config *cfg, struct xsrv **out, char *errmsg,
                size_t errmsg_size) STRATA_WARN_UNUSED;
/* The port listened on. */
uint16_t xsrv_port(const struct xsrv *srv);
/* Stops listening, drops every connection (agents' routes withdrawn), and
 * frees the server once libuv has closed its handles (run the loop). */
void xsrv_close(struct xsrv *srv);
/* xsrv_close(), then 'on_closed(arg)' once the server is freed (it no longer
 * touches the RIB then, so the RIB may go). */
void xsrv_close_cb(struct xsrv *srv, void (*on_closed)(void *arg), void *arg);
/* Asks for a delivery of RIB changes made outside the server on the next
 * loop iteration. Not needed for changes another user of the RIB flushes
 * (a BGP speaker): the server's table listeners schedule that delivery. */
void xsrv_kick(struct xsrv *srv);

/* How long an agent lost from now on keeps its routes stale (xsrv_config
 * stale_ms; 0: XSRV_DEFAULT_STALE_MS). Agents already stale keep their
 * timers. */
void xsrv_set_stale_ms(struct xsrv *srv, uint64_t stale_ms);

struct acfg;
/* Agents' configuration (routing/control/agent_config.h): from now on each
 * agent that connects gets its config subgraph from 'cfg' and the changes
 * after it (delivered with the routes, once per loop iteration; call
 * xsrv_kick() after feeding 'cfg'). 'cfg' is not owned and must outlive the
 * server. NULL: no configuration is sent (the default). */
void xsrv_set_agent_config(struct xsrv *srv, struct acfg *cfg);

/* Operators' view: one object per agent known (connected, or disconnected
 * with stale routes): name, connected, subscriptions, published,
 * withdrawn, items_sent, messages_sent, queued bytes, config_objects and
 * config_acks (answers to config stanzas: ok / refused). NULL on ENOMEM. */
json_t *xsrv_agents_json(struct xsrv *srv);
/* Routes of the table named 'table' ("vn1.inet.0", "bgp.l3vpn.0"), each
 * with its paths (source name, next hop, label, stale, best). NULL for an
 * unknown table or on ENOMEM. */
json_t *xsrv_routes_json(struct xsrv *srv, const char *table);

#endif

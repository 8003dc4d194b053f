/* From the store's bgp-router objects to one control node's BGP sessions.
 * Pure: JSON in (the objects as compiler/graph.c stores them), speaker
 * configuration out; the control role re-runs it on every change it sees
 * in the store and hands the result to speaker_sync(), which touches only
 * the sessions whose configuration changed.
 *
 * Which routers this node peers with (the anchor's rules):
 *  - the local router is the bgp-router whose fq_name ends in the node's
 *    name (or whose address is the node's address);
 *  - every other router of type control-node, implicitly (the full iBGP
 *    mesh between controllers);
 *  - every router the local one refers to, or that refers to it (a
 *    bgp_router_refs link in either direction), e.g. gateways;
 *  - a router or a link marked admin_down is left out.
 * Per session: the peer's address and port; AS: the router's
 * autonomous_system, else the cluster's (global-system-config); families:
 * those both routers list (default inet-vpn, inet6-vpn, e-vpn,
 * route-target), mapped to vpnv4, vpnv6, evpn, rtc (inet, inet6 to the
 * unicast families); hold time, passive and the TCP-MD5 key from the link's
 * session attributes, else from the routers' parameters (the peer's key,
 * else the local one's). */
#ifndef STRATA_ROUTING_BGP_PEERS_H
#define STRATA_ROUTING_BGP_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "routing/control/speaker.h"

#define BGP_PEERS_MAX 256

struct bgp_peers_plan {
    struct speaker_config local;   /* local_as, router_id, listen, port */
    struct speaker_peer_config peers[BGP_PEERS_MAX];
    size_t count;
};

/* Computes node 'node_name''s plan from 'routers' (a JSON array of
 * bgp-router objects) and the cluster AS 'cluster_as' (0: none). Returns 0,
 * or LIB_EINVAL with a reason in 'err' when there is no local router, it
 * has no usable address or identifier, an AS is missing, or there are more
 * than BGP_PEERS_MAX peers. */
int bgp_peers_plan(json_t *routers, const char *node_name, uint32_t cluster_as, struct bgp_peers_plan *plan,
                   char *err, size_t err_size) STRATA_WARN_UNUSED;

/* Graceful restart of the control role, from the compiler's
 * effective-global-config (compiler rules version 3, docs/compiler.md
 * "Global settings"; its graceful_restart_parameters, every field filled):
 *  - gr: advertise graceful restart (RFC 4724) = enable && restart_time > 0;
 *    restart_time: the restart time advertised;
 *  - llgr: advertise long-lived GR (RFC 9494) = gr && long_lived_restart_time
 *    > 0, with that stale time;
 *  - bgp_helper = enable && bgp_helper_enable (keep a restarting BGP peer's
 *    paths stale); xmpp_helper = enable && xmpp_helper_enable: keep a lost
 *    agent's routes stale for xmpp_stale_ms = (restart_time + the
 *    long-lived time when llgr) x 1000, else drop them at once;
 *  - eor_timeout_ms = end_of_rib_timeout x 1000: the most the role holds
 *    End-of-RIB to agents after it starts (0: not held).
 * Without the object (rules < 3) the role behaves as it always did:
 * bgp_peers_gr_defaults(). */
struct bgp_peers_gr {
    bool gr;
    uint16_t restart_time;    /* s */
    bool llgr;
    uint32_t llgr_stale_time; /* s */
    bool bgp_helper;
    bool xmpp_helper;
    uint64_t xmpp_stale_ms;
    uint64_t eor_timeout_ms;
};

#define BGP_PEERS_GR_DEFAULT_RESTART 300u     /* the speaker's default */
#define BGP_PEERS_GR_DEFAULT_STALE_MS 300000u /* xmpp_server.h XSRV_DEFAULT_STALE_MS */
#define BGP_PEERS_GR_DEFAULT_EOR_MS 10000u    /* xmpp_server.h XSRV_DEFAULT_EOR_HOLD_MS */

/* The role without an effective-global-config: GR advertised with a 300 s
 * restart time, no LLGR, both helper modes, agents' routes kept 300 s,
 * End-of-RIB to agents held at most 10 s. */
void bgp_peers_gr_defaults(struct bgp_peers_gr *gr);

/* Fills 'gr' from effective-global-config 'egc' (NULL: the defaults above;
 * a missing or mistyped field of its graceful_restart_parameters takes the
 * compiler's default: enable and helpers true, times 300 s). Pure. */
void bgp_peers_gr_from(const json_t *egc, struct bgp_peers_gr *gr);

/* Whether 'a' and 'b' differ. */
bool bgp_peers_gr_differ(const struct bgp_peers_gr *a, const struct bgp_peers_gr *b);

#endif

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

#include <stddef.h>

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

#endif

/* Internals of the agent core shared by agent_core.c and agent_flow.c. */
#ifndef STRATA_AGENT_INT_H
#define STRATA_AGENT_INT_H

#include "vrouter/agent/agent.h"

/* One path of a route copy: a remote agent (tunnel endpoint, host order)
 * with its label, VNI and encapsulations; or, with 'local_ifindex', this
 * agent's own port whose routed label the path carries: a route the
 * control node re-originated with this agent's address and the port's
 * label (a service chain's next-hop-self towards a service VM here). */
struct agent_path {
    bool has_vni;
    uint32_t dip;
    uint32_t label;
    uint32_t vni;
    unsigned encaps; /* XMPP_ENCAP_* */
    uint32_t local_ifindex; /* != 0: the local port, no tunnel */
};

/* One control node's copy of a route: its IPv4 next hops that are not this
 * agent (the first AGENT_ECMP_PATHS of them, distinct endpoints, in the
 * item's order; two or more make an ECMP route) or this agent with a local
 * port's label, with what the best-path choice compares. */
struct agent_copy {
    bool present;
    bool stale; /* the node was lost since it sent this copy */
    uint8_t path_count; /* 1..AGENT_ECMP_PATHS when present */
    struct agent_path path[AGENT_ECMP_PATHS];
    uint32_t local_pref;
    uint32_t seq;
    char vn[AGENT_RI_MAX]; /* the route's virtual network ("" unknown or too long) */
};

/* Copies per route: one per control node, and AGENT_COPY_DP for a route
 * adopted from the datapath's previous generation (agent_route_adopt):
 * always stale, removed by the generation sweep. */
#define AGENT_COPY_DP AGENT_MAX_NODES
#define AGENT_COPIES (AGENT_MAX_NODES + 1)

/* A remote route of an instance: inet (IPv4), inet6 or EVPN (a MAC entry
 * of the VRF). Invariants: 'tunnels[0..tunnel_count)' are distinct tunnel
 * next hops holding one reference each for this route; 'nh' is 0 (nothing
 * programmed, tunnel_count 0), the single tunnel (tunnel_count 1, ecmp 0)
 * or 'ecmp' (tunnel_count >= 2), the composite whose AGENT_ECMP_SLOTS
 * members 'slots' are those tunnels; the datapath has the route (or MAC
 * entry) -> 'nh' exactly when 'nh' != 0. Slots keep their member when the
 * member set changes (only the slots of a member that left, or the excess
 * of over-represented members when one joins, are reassigned), so flows
 * hashed to a member that stays keep it. With 'local_ifindex' != 0 the
 * route goes to that local port instead: 'nh' is the port's next hop,
 * tunnel_count and ecmp 0 (a copy with a local path uses it alone). */
struct agent_route {
    enum xmpp_family family;
    struct xmpp_route_key key;
    struct agent_copy copy[AGENT_COPIES];
    int best; /* node index of the chosen copy, -1 for none */
    uint32_t nh;
    uint32_t ecmp;
    uint8_t tunnel_count;
    uint32_t tunnels[AGENT_ECMP_PATHS];
    uint32_t slots[AGENT_ECMP_SLOTS];
    uint32_t programmed_gen;
    uint32_t local_ifindex;
};

struct agent_ri {
    char name[AGENT_RI_MAX];
    uint32_t vrf;
    size_t ports;
    struct agent_route *routes;
    size_t route_count, route_cap;
};

/* A tunnel next hop shared by every route with the same endpoint,
 * encapsulation and label/VNI. id 0: free slot. */
struct agent_tunnel {
    uint32_t id;
    uint32_t dip;
    uint8_t encap;
    uint32_t label;
    uint32_t refs;
};

/* Drop flows installed for destinations without a route: withdrawn from
 * the datapath as soon as a route (or a local port) covers the
 * destination, so a flow decided before a remote port existed does not
 * stay dropped. A bounded ring: the oldest is forgotten (and stays a drop
 * flow until it ages out) when it is full. */
#define AGENT_DROP_FLOWS_MAX 4096

/* The flows the agent installed, for aging and the flow limit: an open
 * addressing table (linear probing, backward-shift deletion) of datapath
 * flow entries, each direction its own entry. The other direction's key
 * is this key reversed, in VRF 'other_vrf', with (NAT flows of floating
 * IPs) its source ('nat' AGENT_NAT_SRC) or destination (AGENT_NAT_DST)
 * replaced by 'other_ip'. Grows by doubling up to twice the limit's size;
 * one allocation per growth, none per flow. 'used' is 0 for a free slot. */
enum { AGENT_NAT_NONE, AGENT_NAT_SRC, AGENT_NAT_DST };

struct agent_flow_ent {
    struct dp_flow_key key;
    uint32_t hash;
    uint32_t other_vrf;
    uint32_t other_ip; /* host order */
    uint64_t packets;
    uint64_t last_ms;
    uint8_t used;
    uint8_t nat;
};

struct agent_flows {
    struct agent_flow_ent *slots;
    uint32_t cap; /* power of two, or 0 */
    uint32_t count;
};

/* An ECMP composite id in use (id 0: free). */
struct agent_core {
    struct agent_config cfg;
    struct agent_ops ops;
    void *arg;
    bool flow_pairs; /* agent_flow_pairs_set */
    struct agent_port *ports; /* sorted by ifindex */
    size_t port_count;
    struct agent_ri **ris;
    size_t ri_count;
    struct agent_tunnel tunnels[AGENT_NH_TUNNEL_SPAN];
    bool ecmp_used[AGENT_NH_ECMP_SPAN];
    bool node_up[AGENT_MAX_NODES];
    bool node_eor[AGENT_MAX_NODES];
    bool swept;
    uint64_t flows_forward, flows_drop, punts_bad, alloc_failures, drops_lifted;
    struct dp_flow_key drop_flows[AGENT_DROP_FLOWS_MAX];
    size_t drop_head, drop_count; /* ring: oldest at drop_head */
    struct xmpp_route_entry scratch;
    struct agent_flows flows;
    uint64_t now_ms;
    uint64_t flows_over_limit, flows_aged, flows_denied, flows_nat;
    struct agent_vn_subnet *vn_subnets;
    size_t vn_subnet_count;
    size_t fips; /* floating IPs over all ports (0: flow misses skip their lookup) */
};

struct agent_ri *agent_ri_find(const struct agent_core *c, const char *name);
struct agent_ri *agent_ri_by_vrf(const struct agent_core *c, uint32_t vrf);
const struct agent_port *agent_port_by_ip(const struct agent_core *c, uint32_t vrf, uint32_t ip4);
/* The port whose routed MPLS label is 'label', or NULL. */
const struct agent_port *agent_port_by_label(const struct agent_core *c, uint32_t label);
/* The longest programmed inet route of 'vrf' covering 'ip4', or NULL. */
const struct agent_route *agent_route_lookup(const struct agent_core *c, uint32_t vrf, uint32_t ip4);
const struct agent_tunnel *agent_tunnel_get(const struct agent_core *c, uint32_t id);
/* The virtual network of the best copy of 'rt' ("" when unknown). */
const char *agent_route_vn(const struct agent_route *rt);
/* The tunnel route 'rt' sends flow 'k' through: its single tunnel, or the
 * ECMP member the datapath's hash of 'k' picks; NULL when not programmed. */
const struct agent_tunnel *agent_route_tunnel_for(const struct agent_core *c, const struct agent_route *rt,
                                                  const struct dp_flow_key *k);
/* Frees the flow table (agent_flow.c). */
void agent_flows_destroy(struct agent_core *c);
/* Forgets flow 'k' (and its other direction) in the flow table; the
 * datapath is not told (agent_flow.c). */
void agent_flow_forget(struct agent_core *c, const struct dp_flow_key *k);
/* Remembers drop flow 'k' (agent_flow.c). */
void agent_drop_flow_note(struct agent_core *c, const struct dp_flow_key *k);
/* Deletes the remembered drop flows of 'vrf' whose destination is inside
 * 'prefix'/'plen' (host order). */
void agent_drop_flows_lift(struct agent_core *c, uint32_t vrf, uint32_t prefix, uint8_t plen);

#endif

/* The pure core of strata-agent, the vRouter agent: what it knows and what
 * it decides, with no sockets, no clock and no files. It owns the ports
 * (VM interfaces) and their routing instances, allocates every datapath
 * identifier (interface, VRF, next hop, MPLS label), keeps one copy of each
 * route per control node and chooses the best one locally, turns the chosen
 * routes into tunnel next hops with the first encapsulation of the agent's
 * preference order that the route also lists, tracks stale copies (a lost
 * control node) and the datapath generation (an agent restart), and decides
 * the flows of punted first packets. Everything it wants done leaves through
 * 'struct agent_ops': datapath requests (vrouter/msg frames), XMPP
 * subscriptions and route publications for one control node. The daemon
 * (agent_main.c) is the glue between these calls and libuv, TLS, XMPP and
 * the datapath's control socket; tests/unit/agent drives the core directly.
 *
 * Identifiers (deterministic, so a restarted agent that re-adds the same
 * ports re-installs identical entries under its new generation):
 *   interfaces: AGENT_IF_AGENT (the punt interface), AGENT_IF_FABRIC, then
 *     ports from AGENT_IF_FIRST_PORT, lowest free (or the one restored);
 *   the port's next hop is AGENT_NH_PORT_BASE + ifindex, its label
 *     AGENT_LABEL_BASE + ifindex;
 *   VRFs: lowest free from 1, one per routing instance (or the one restored);
 *   tunnel next hops: from AGENT_NH_TUNNEL_BASE, in a span chosen by the
 *     generation's parity, so a new generation never rewrites a tunnel next
 *     hop that the previous generation's routes still point at. */
#ifndef STRATA_AGENT_H
#define STRATA_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "routing/xmpp/xmpp_stanza.h"
#include "vrouter/msg/msg.h"

#define AGENT_ERRORS(X)                                                    \
    X(AGENT_EINVAL, -17001, "invalid agent argument")                      \
    X(AGENT_ENOMEM, -17002, "agent out of memory")                         \
    X(AGENT_EEXIST, -17003, "port already exists")                         \
    X(AGENT_ENOENT, -17004, "no such port or routing instance")            \
    X(AGENT_EFULL, -17005, "agent identifier space exhausted")             \
    X(AGENT_ESYNTAX, -17006, "malformed port specification")               \
    X(AGENT_EPUNT, -17007, "malformed punted frame")                       \
    X(AGENT_EUNSUPPORTED, -17008, "punted frame of an unsupported kind")   \
    X(AGENT_ECONFLICT, -17009, "address or identifier already in use")

enum agent_err { AGENT_ERRORS(STRATA_ERR_ENUM) };

const char *agent_strerror(int code);

#define AGENT_MAX_NODES 2
#define AGENT_IF_AGENT 0
#define AGENT_IF_FABRIC 1
#define AGENT_IF_FIRST_PORT 2
#define AGENT_PORTS_MAX 1000 /* ifindex < AGENT_IF_FIRST_PORT + AGENT_PORTS_MAX */
#define AGENT_VRFS_MAX 1000  /* VRF ids 1..AGENT_VRFS_MAX */
#define AGENT_NH_PORT_BASE 16
#define AGENT_LABEL_BASE 16
#define AGENT_NH_TUNNEL_BASE 1024
#define AGENT_NH_TUNNEL_SPAN 1024 /* per generation parity */
#define AGENT_NH_L2_BASE 3072     /* a port's bridging next hop: base + ifindex */
#define AGENT_LABEL_L2_BASE 2048  /* a port's bridging (EVPN) label: base + ifindex */
#define AGENT_NH_ECMP_BASE 4096   /* ECMP composites: base + parity * span + slot */
#define AGENT_NH_ECMP_SPAN 512
#define AGENT_ECMP_PATHS 8        /* next hops kept per route copy */
#define AGENT_ECMP_SLOTS 16       /* members of an ECMP composite (DP_NH_MAX_MEMBERS) */
#define AGENT_FLOW_LIMIT_DEFAULT 200000u   /* datapath flow entries the agent may hold */
#define AGENT_FLOW_IDLE_MS_DEFAULT 180000u /* idle time after which a flow is deleted */
#define AGENT_DEFAULT_LOCAL_PREF 100
#define AGENT_NAME_MAX 64
#define AGENT_RI_MAX 128

/* A port as the hypervisor hook describes it. Addresses in host order. */
struct agent_port_spec {
    char name[AGENT_NAME_MAX];
    char tap[VR_MSG_NAME_MAX]; /* OS device the datapath attaches */
    char ri[AGENT_RI_MAX];     /* routing instance (virtual network) */
    uint8_t mac[6];
    uint32_t ip4;
    uint8_t plen;
    uint32_t gw4;
    uint32_t dns4; /* 0: the gateway */
    uint32_t vni;  /* 0: none (no VXLAN for this port) */
    char hostname[64];
    uint32_t ifindex; /* 0: allocate; else restore this one */
    uint32_t vrf;     /* 0: allocate (or the RI's); else restore this one */
};

/* A port as installed. 'nh'/'label' route to it (IF next hop, routed:
 * Ethernet rewritten); 'l2_nh'/'l2_label' bridge to it (IF next hop with
 * DP_NH_L2, the label published with its EVPN MAC/IP route). */
struct agent_port {
    struct agent_port_spec spec; /* ifindex and vrf filled in */
    uint32_t label;
    uint32_t nh;
    uint32_t l2_label;
    uint32_t l2_nh;
};

/* What the core asks of its host. 'node' is a control node index. */
struct agent_ops {
    /* A datapath request, to be sent in call order. */
    void (*dp_send)(void *arg, const struct vr_msg *m);
    void (*subscribe)(void *arg, int node, const char *ri, uint32_t instance_id);
    void (*unsubscribe)(void *arg, int node, const char *ri);
    void (*publish)(void *arg, int node, const char *ri, const struct xmpp_route_entry *e);
    void (*withdraw)(void *arg, int node, const char *ri, enum xmpp_family family,
                     const struct xmpp_route_key *key);
    /* Our End-of-RIB to 'node' (after subscriptions and publications). */
    void (*eor)(void *arg, int node);
};

struct agent_config {
    uint32_t fabric_ip;       /* host order */
    uint8_t encaps[3];        /* DP_ENCAP_* in preference order */
    size_t encap_count;       /* 1..3 */
    size_t node_count;        /* 1..AGENT_MAX_NODES */
    uint8_t router_mac[6];    /* the vRouter's MAC (00:00:5e:00:01:00) */
    uint32_t generation;      /* this run's datapath generation (>= 1) */
    char agent_if_name[VR_MSG_NAME_MAX]; /* the punt interface's OS device */
    uint32_t flow_limit;      /* datapath flow entries (a forward flow takes 2); 0: default */
    uint64_t flow_idle_ms;    /* 0: AGENT_FLOW_IDLE_MS_DEFAULT */
};

struct agent_core;

/* Creates the core. Nothing is sent until agent_core_start(). */
int agent_core_create(const struct agent_config *cfg, const struct agent_ops *ops, void *arg,
                      struct agent_core **out) STRATA_WARN_UNUSED;
void agent_core_free(struct agent_core *c);

/* Begins the generation and installs the agent and fabric interfaces. */
void agent_core_start(struct agent_core *c);

/* Adds port 'spec': VRF (first port of its instance), interface (with
 * DP_IF_POLICY), next hop, label, VNI, local /32 route; subscribes the
 * instance and publishes the port's inet and EVPN routes to every node
 * that is up. AGENT_EEXIST (name), AGENT_ECONFLICT (tap or ifindex or
 * address in the instance taken, restored VRF used by another instance),
 * AGENT_EINVAL, AGENT_EFULL, AGENT_ENOMEM. On error nothing changed. */
int agent_port_add(struct agent_core *c, const struct agent_port_spec *spec) STRATA_WARN_UNUSED;
/* Removes port 'name' and everything agent_port_add() installed for it;
 * the instance goes with its last port. AGENT_ENOENT. */
int agent_port_del(struct agent_core *c, const char *name) STRATA_WARN_UNUSED;
size_t agent_port_count(const struct agent_core *c);
/* The 'i'-th port (0 <= i < count), in ifindex order. */
const struct agent_port *agent_port_at(const struct agent_core *c, size_t i);
const struct agent_port *agent_port_find(const struct agent_core *c, const char *name);
const struct agent_port *agent_port_by_ifindex(const struct agent_core *c, uint32_t ifindex);

/* ---- control nodes ---- */

/* Node 'node' is up (XMPP session established): subscribes every instance,
 * publishes every port's routes, sends End-of-RIB. */
void agent_node_up(struct agent_core *c, int node);
/* Node 'node' is gone: its copies become stale and stay programmed. */
void agent_node_down(struct agent_core *c, int node);
/* A route item (add or retract) from 'node' for instance 'ri'. Ignored:
 * unknown instances, routes whose next hop is this agent. */
void agent_route_item(struct agent_core *c, int node, const char *ri, enum xmpp_family family,
                      const struct xmpp_route_item *item);
/* Adopts route 'r' of an earlier generation found in the datapath (a
 * dump at start), with its tunnel next hop 'nh', as a stale copy of its
 * instance's route: a restarted agent answers ARP for it, forwards new
 * flows over it and keeps it programmed (re-installed under the new
 * generation, in the next hop span of the new parity) until the sweep,
 * which removes adopted copies that no control node confirmed. Only
 * remote (tunnel) IPv4 routes of instances that have a port; returns
 * whether it was adopted. Ignored after the sweep. */
bool agent_route_adopt(struct agent_core *c, const struct dp_route *r, const struct dp_nh *nh);
/* 'node' sent End-of-RIB: its copies still stale are removed. When every
 * node that is up has sent one since start, the datapath is swept of the
 * previous generations (once). */
void agent_node_eor(struct agent_core *c, int node);
/* The stale timer ran out (both nodes gone long enough): every stale copy
 * is removed. Returns how many. */
size_t agent_stale_expire(struct agent_core *c);
/* Sweeps the previous generations now (the daemon's bound on waiting for
 * End-of-RIB). Harmless when already swept. */
void agent_generation_sweep(struct agent_core *c);
bool agent_generation_swept(const struct agent_core *c);

struct agent_status {
    uint32_t generation;
    bool swept;
    size_t ports, instances, routes, programmed, stale_copies, tunnel_nhs;
    bool node_up[AGENT_MAX_NODES];
    bool node_eor[AGENT_MAX_NODES];
    uint64_t flows_forward, flows_drop, punts_bad;
    uint64_t drops_lifted; /* drop flows deleted because a route appeared */
    size_t adopted;        /* routes holding a copy adopted from the datapath */
    uint64_t alloc_failures; /* routes dropped because their table could not grow */
    size_t ecmp_nhs;         /* ECMP composites programmed */
    size_t macs;             /* remote MAC entries programmed (EVPN) */
    size_t flow_entries;     /* datapath flow entries the agent holds (<= flow_limit) */
    uint64_t flows_over_limit, flows_aged;
};
void agent_status_get(const struct agent_core *c, struct agent_status *st);

/* Appends one line per route of instance 'ri' to 'out' ("PREFIX/PLEN node0=.. node1=.. best=N nh=ID",
 * local routes "PREFIX/PLEN local port=NAME"). AGENT_ENOENT, LIB_ENOMEM. */
int agent_routes_format(const struct agent_core *c, const char *ri, struct buf *out) STRATA_WARN_UNUSED;

/* ---- lookups (for the proxy) ---- */

/* The VRF of instance 'ri', or 0. And the instance of a VRF, or NULL. */
uint32_t agent_ri_vrf(const struct agent_core *c, const char *ri);
const char *agent_vrf_ri(const struct agent_core *c, uint32_t vrf);
/* Whether IPv4 'ip4' (host order) is a local port's address or covered by
 * a programmed route in 'vrf'. */
bool agent_ip4_known(const struct agent_core *c, uint32_t vrf, uint32_t ip4);

/* ---- punts and flows (agent_flow.c) ---- */

/* The core's clock: monotonic milliseconds, set by the host before it
 * hands the core punts (flows remember when they were installed). */
void agent_time_set(struct agent_core *c, uint64_t now_ms);
/* Reports that datapath flow 'k' (either direction of a flow the agent
 * installed) has counted 'packets' so far: when that differs from the last
 * report, the flow was active now (agent_time_set). Unknown keys are
 * ignored. */
void agent_flow_seen(struct agent_core *c, const struct dp_flow_key *k, uint64_t packets);
/* Deletes every flow (both directions) not active for more than
 * 'flow_idle_ms' at 'now_ms' (which also becomes the core's clock) and
 * returns how many flows went. */
size_t agent_flow_age(struct agent_core *c, uint64_t now_ms);
/* Deletes every flow the agent holds (datapath and table). */
void agent_flow_flush(struct agent_core *c);

/* A parsed punt header (dp.h). */
struct agent_punt {
    uint8_t reason; /* enum dp_punt_reason */
    uint32_t ifindex;
    uint32_t vrf;
    uint32_t flow;
    const uint8_t *frame; /* the Ethernet frame after the header */
    size_t frame_size;
};
/* Parses the punt header of 'len' bytes at 'p'. AGENT_EPUNT. */
int agent_punt_parse(const uint8_t *p, size_t len, struct agent_punt *out) STRATA_WARN_UNUSED;
/* Appends the DP_AGENT_TX header for 'ifindex' then 'frame' to 'out'. */
int agent_inject_build(uint32_t ifindex, const uint8_t *frame, size_t size, struct buf *out) STRATA_WARN_UNUSED;

/* The decision for a flow miss. */
struct agent_flow_decision {
    bool forward;                 /* else drop */
    struct dp_flow_key key;       /* the missed flow */
    struct dp_flow_key reverse;   /* installed with 'forward' only */
};
/* Handles a DP_PUNT_FLOW_MISS: parses the IPv4 packet, decides (forward
 * when the destination is a local port or a programmed route of the VRF,
 * else drop), sends the flow request(s) and, when forwarding, appends the
 * re-injection frame (agent_inject_build() form: to the local port with
 * its Ethernet rewritten, or to the fabric encapsulated as the route's
 * tunnel next hop) to 'reinject'. A drop flow is deleted again as soon as
 * a route or local port covers its destination. With the flow table at
 * 'flow_limit' (agent_config) nothing is installed or injected: the
 * packet is dropped and counted (flows_over_limit; the datapath's hold
 * entry drops the flow's next packets until it ages) and AGENT_EFULL is
 * returned. A route with ECMP paths re-injects through the member the
 * datapath's hash picks for this flow. AGENT_EPUNT, AGENT_EUNSUPPORTED
 * (not IPv4), LIB_ENOMEM. */
int agent_flow_miss(struct agent_core *c, const struct agent_punt *p, struct agent_flow_decision *d,
                    struct buf *reinject) STRATA_WARN_UNUSED;

/* ---- port specs as text (agent_spec.c): the ctl protocol and the state file ---- */

/* Parses "NAME tap=IF ri=RI mac=MAC ip=A/PLEN gw=G [dns=D] [hostname=H]
 * [vni=N] [ifindex=N] [vrf=N]" (space separated, any order after NAME).
 * AGENT_ESYNTAX with a reason in 'err'. */
int agent_spec_parse(const char *line, struct agent_port_spec *spec, char *err, size_t err_size) STRATA_WARN_UNUSED;
/* Appends the canonical form of 'spec' (with ifindex and vrf), no newline. */
int agent_spec_format(const struct agent_port_spec *spec, struct buf *out) STRATA_WARN_UNUSED;

#endif

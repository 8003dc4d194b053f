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
    X(AGENT_ECONFLICT, -17009, "address or identifier already in use")    \
    X(AGENT_EHELD, -17010, "bound, waiting for the interface's configuration")

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
    char vn[AGENT_RI_MAX]; /* virtual network published with the routes ("": 'ri') */
    uint32_t ifindex; /* 0: allocate; else restore this one */
    uint32_t vrf;     /* 0: allocate (or the RI's); else restore this one */
};

/* A port as installed. 'nh'/'label' route to it (IF next hop, routed:
 * Ethernet rewritten); 'l2_nh'/'l2_label' bridge to it (IF next hop with
 * DP_NH_L2, the label published with its EVPN MAC/IP route). */
struct agent_policy;

#define AGENT_FIP_MAX 4 /* floating IPs per port */

/* A floating IP of a port (issue #9, Contrail's floating-ip): an address
 * of a pool network's routing instance 'ri' (network 'vn') that reaches
 * the port. The agent installs a route for it in that instance's VRF
 * towards the port and publishes it there with the port's label; a first
 * packet to the floating address becomes a NAT flow pair (destination
 * rewritten to the port's fixed address, the answers' source back to the
 * floating one), and the port's own traffic to a destination its network
 * does not reach but the pool's instance does leaves with the floating
 * address as its source. 'policy' decides those flows (the port's end is
 * then in 'vn'; NULL: allowed, the floating IP implies reachability). */
struct agent_fip {
    uint32_t ip4; /* host order */
    char ri[AGENT_RI_MAX];
    char vn[AGENT_RI_MAX];
    struct agent_policy *policy;
    uint32_t vrf; /* the pool instance's VRF, set by the core; given, the VRF a new
                     instance takes when free (a restart restores it) */
};

struct agent_port {
    struct agent_port_spec spec; /* ifindex and vrf filled in */
    struct agent_policy *policy; /* NULL: reachability only (agent_port_policy_set) */
    struct agent_fip fips[AGENT_FIP_MAX];
    size_t fip_count;
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
/* 'node' confirmed, after its restart, that the routes of instance 'ri'
 * held from it are current (XMPP IN_SYNC, docs/xmpp.md "Resume after a
 * control-node restart"): its stale copies there become fresh again. */
void agent_node_in_sync(struct agent_core *c, int node, const char *ri);
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
    uint64_t flows_denied;   /* drop flows decided by policy (ACL or security group) */
    uint64_t flows_nat;      /* forward flows decided with a floating IP (NAT pair) */
    size_t fips;             /* floating IPs installed */
};
void agent_status_get(const struct agent_core *c, struct agent_status *st);

/* Appends one line per route of instance 'ri' to 'out' ("PREFIX/PLEN node0=.. node1=.. best=N nh=ID",
 * local routes "PREFIX/PLEN local port=NAME", floating IPs of the
 * instance "ADDR/32 local fip port=NAME fixed=F"). AGENT_ENOENT, LIB_ENOMEM. */
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
/* Whether a forward flow and its reverse go to the datapath as one
 * VR_MSG_FLOW_PAIR request (on: a datapath that has it, as one that granted
 * a ring does) or as two VR_MSG_FLOW requests (off, the default). */
void agent_flow_pairs_set(struct agent_core *c, bool on);
/* Appends one line per flow the agent holds ("vrf=V PROTO SRC:SPORT >
 * DST:DPORT forward|reverse|drop"), at most 'max' lines. LIB_ENOMEM. */
int agent_flows_format(const struct agent_core *c, size_t max, struct buf *out) STRATA_WARN_UNUSED;
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
    struct dp_flow_action action;         /* what 'key' was installed with */
    struct dp_flow_action reverse_action; /* and 'reverse' */
};
/* Handles a DP_PUNT_FLOW_MISS: parses the IPv4 packet, decides (forward
 * when the destination is a local port or a programmed route of the VRF,
 * a NAT pair for floating IPs as below, else drop), sends the flow request(s) and, when forwarding, appends the
 * re-injection frame (agent_inject_build() form: to the local port with
 * its Ethernet rewritten, or to the fabric encapsulated as the route's
 * tunnel next hop) to 'reinject', unless 'reinject' is NULL (the datapath
 * holds the packet and forwards it once the flow is installed). A drop flow is deleted again as soon as
 * a route or local port covers its destination. With the flow table at
 * 'flow_limit' (agent_config) nothing is installed or injected: the
 * packet is dropped and counted (flows_over_limit; the datapath's hold
 * entry drops the flow's next packets until it ages) and AGENT_EFULL is
 * returned. A route with ECMP paths re-injects through the member the
 * datapath's hash picks for this flow. AGENT_EPUNT, AGENT_EUNSUPPORTED
 * (not IPv4), LIB_ENOMEM.
 * Floating IPs (agent_port_fips_set), 'P' a port with fixed address F and
 * floating address A of pool VRF Vr, P's VRF Vp:
 *  - to A (punted in Vr by a local VM of the pool network, or in Vp on
 *    delivery from the fabric under P's label): forward NAT DNAT to F
 *    (routed in Vp), reverse (Vp, F -> source) NAT SNAT to A routed in Vr;
 *    the packet is re-injected to P with its destination rewritten;
 *  - from P to a destination Vp does not reach and Vr does: forward NAT
 *    SNAT to A routed in Vr, reverse (the source seen as A: in Vr when the
 *    destination is a local port, else in Vp where P's label delivers it)
 *    NAT DNAT to F routed in Vp; re-injected with its source rewritten.
 * Both are decided by the floating IP's policy (P's end in the pool
 * network). */
int agent_flow_miss(struct agent_core *c, const struct agent_punt *p, struct agent_flow_decision *d,
                    struct buf *reinject) STRATA_WARN_UNUSED;
/* Starts loading the flow-table slots agent_flow_miss will probe first
 * for flow miss 'p' (its key and the swapped one): a host holding a batch
 * of punts calls it for each before deciding the first. Only a hint:
 * anything but an IPv4 flow miss is ignored. */
void agent_flow_prefetch(const struct agent_core *c, const struct agent_punt *p);

/* ---- policy (agent_policy.c): ACLs compiled for the flow decision ---- */

/* An ACL address (docs/compiler.md's address forms): any, a virtual
 * network by fq_name, an IPv4 subnet, a security group by fq_name, or one
 * that matches nothing (a form this agent does not evaluate: IPv6 subnets,
 * network-policy addresses). */
enum agent_addr_kind { AGENT_ADDR_ANY, AGENT_ADDR_VN, AGENT_ADDR_SUBNET, AGENT_ADDR_SG, AGENT_ADDR_NONE };

struct agent_acl_addr {
    uint8_t kind;  /* enum agent_addr_kind */
    uint8_t plen;  /* SUBNET */
    uint32_t ip4;  /* SUBNET, host order, masked */
    char name[AGENT_RI_MAX]; /* VN, SG */
};

/* One ACL entry: protocol (-1 any) and port ranges (inclusive; 0..65535
 * for any) matched against the packet's ports (0 for other than TCP/UDP),
 * 'pass' or deny. */
struct agent_acl_rule {
    struct agent_acl_addr src, dst;
    int16_t proto;
    uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
    bool pass;
};

struct agent_acl {
    struct agent_acl_rule *rules;
    size_t count;
};

#define AGENT_SG_MAX 16

/* What decides the flows of one port: its virtual network and that
 * network's ACL (network policies: first matching entry decides; no match:
 * allowed within the network, dropped across networks), and its security
 * groups (stateful allow lists: with 'sg_count' > 0 a flow leaving the port
 * needs a match in 'sg_egress', one entering it a match in 'sg_ingress'). */
struct agent_policy {
    char vn[AGENT_RI_MAX];
    bool has_vn_acl;
    struct agent_acl vn_acl;
    size_t sg_count;
    char sgs[AGENT_SG_MAX][AGENT_RI_MAX];
    struct agent_acl sg_ingress, sg_egress;
};

/* Frees 'p' and its rule arrays. NULL accepted. */
void agent_policy_free(struct agent_policy *p);
/* Whether the two policies decide alike (same network, rules, groups). */
bool agent_policy_equal(const struct agent_policy *a, const struct agent_policy *b);

/* One end of a flow as the decision sees it: a local port's policy (NULL
 * for a remote end or a port without one), the end's virtual network (""
 * when unknown), its address and port. */
struct agent_flow_end {
    const struct agent_policy *policy;
    const char *vn;
    uint32_t ip4;
    uint16_t port;
};

enum agent_verdict { AGENT_ALLOW, AGENT_DENY_ACL, AGENT_DENY_DEFAULT, AGENT_DENY_SG };

/* The decision for a first packet 'src' -> 'dst' of IP protocol 'proto'
 * (pure). With no policy at either end: allowed (reachability only). Else
 * every end with a policy checks its network's ACL (first match decides;
 * none: allowed when both networks are known and equal or the other's is
 * unknown, denied across networks) and its security groups (egress of the
 * source, ingress of the destination). */
enum agent_verdict agent_policy_decide(const struct agent_flow_end *src, const struct agent_flow_end *dst,
                                       uint8_t proto);

/* Replaces the floating IPs of port 'name' with 'fips' ('count' <=
 * AGENT_FIP_MAX; takes ownership of their policies, also on error). A
 * floating IP that goes: its publication withdrawn from every node that
 * is up, its route deleted, its pool instance released (the VRF and the
 * subscription go with the instance's last port or floating IP). One that
 * comes: the pool instance (VRF, subscription) made if the agent has none,
 * the route ADDR/32 -> the port's next hop in that VRF, and the inet route
 * published in the pool instance to every node that is up with the port's
 * label and the network 'vn' (MPLS encapsulations only: the port's VNI
 * names the port's own VRF). Any change deletes every flow (decided again
 * with the new set); an identical set changes nothing. AGENT_ENOENT,
 * AGENT_EINVAL (count, a zero address, an empty instance, an address
 * twice), AGENT_ECONFLICT (a local port's address or another port's
 * floating IP in that instance), AGENT_EFULL (VRFs), AGENT_ENOMEM; on
 * error nothing changed. */
int agent_port_fips_set(struct agent_core *c, const char *name, const struct agent_fip *fips, size_t count)
    STRATA_WARN_UNUSED;
/* The port owning floating IP 'ip4' in 'vrf' (its pool instance's VRF),
 * or NULL; '*fip' (may be NULL) receives its index in the port's list. */
const struct agent_port *agent_fip_find(const struct agent_core *c, uint32_t vrf, uint32_t ip4, size_t *fip);

/* Sets the policy of port 'name' (takes ownership of 'policy'; NULL
 * removes it). An actual change deletes every flow the agent installed, so
 * each is decided again on its next packet. AGENT_ENOENT (policy freed). */
int agent_port_policy_set(struct agent_core *c, const char *name, struct agent_policy *policy) STRATA_WARN_UNUSED;

/* The IPv4 subnets of virtual networks (from their IPAM): a remote end of
 * a flow whose route names no network is taken to be in the network with
 * the longest subnet covering its address. */
struct agent_vn_subnet {
    uint32_t ip4; /* host order, masked */
    uint8_t plen;
    char vn[AGENT_RI_MAX];
};
/* Replaces the table (copied). AGENT_ENOMEM (the old one stays). */
int agent_vn_subnets_set(struct agent_core *c, const struct agent_vn_subnet *subnets, size_t count)
    STRATA_WARN_UNUSED;

/* Replaces the encapsulation preference order ('count' 1..3 DP_ENCAP_*,
 * distinct): when it differs, every port's routes are published again
 * with the new list to every node that is up and every remote route's
 * tunnel next hop is chosen again. AGENT_EINVAL. */
int agent_encap_set(struct agent_core *c, const uint8_t *encaps, size_t count) STRATA_WARN_UNUSED;

/* ---- port specs as text (agent_spec.c): the ctl protocol and the state file ---- */

/* Parses "NAME tap=IF ri=RI mac=MAC ip=A/PLEN gw=G [dns=D] [hostname=H]
 * [vni=N] [vn=VN] [ifindex=N] [vrf=N]" (space separated, any order after NAME).
 * AGENT_ESYNTAX with a reason in 'err'. */
int agent_spec_parse(const char *line, struct agent_port_spec *spec, char *err, size_t err_size) STRATA_WARN_UNUSED;
/* Parses dotted IPv4 text 's' (NULL accepted: refused) into host order.
 * 0, or -1 when it is not an address. */
int agent_ip4_parse(const char *s, uint32_t *out) STRATA_WARN_UNUSED;
/* The IPv4 netmask of prefix length 'plen' (0..32), host order. */
static inline uint32_t agent_ip4_mask(unsigned plen)
{
    return plen == 0 ? 0 : 0xffffffffu << (32 - plen);
}
/* Appends the canonical form of 'spec' (with ifindex and vrf), no newline. */
int agent_spec_format(const struct agent_port_spec *spec, struct buf *out) STRATA_WARN_UNUSED;

#endif

/* The portable forwarding core of the vRouter: its tables (interfaces, VRFs,
 * IPv4/IPv6 routes, bridge MACs, MPLS labels, VNIs, next hops, flows), the
 * per-packet pipeline (dp_rx: VM-side lookup, flow check, MPLSoGRE /
 * MPLSoUDP / VXLAN encapsulation; fabric-side decapsulation and delivery;
 * punts to the agent) and agent generations (dp_generation_begin, dp_sweep).
 * The core does no I/O: a host (kernel module, user-space process, tests)
 * hands it one received packet at a time and performs the transmit decisions
 * it returns. Control calls are serialized by the core's lock; dp_rx reads
 * the tables without locks and allocates nothing, so it may run on several
 * threads concurrently with control, provided the environment's
 * dp_env_synchronize() waits for in-flight dp_rx calls (the user-space env
 * in env_user.c is for single-threaded hosts and does not).
 *
 * Threading contract of the fast path. Per-packet counters (interface,
 * flow, drop counters) are atomic adds only when the core is built with
 * DP_ENV_COUNTERS_SHARED, which the kernel build always is (dp_rx on every
 * CPU). Otherwise, as in the user-space build, each dp must see dp_rx /
 * dp_rx_batch from one thread at a time (control may still run on others):
 * counters are then plain relaxed read-modify-writes, and the exact-match
 * cache, which only dp_rx writes, is read without its entries' sequence
 * counters. Interface and transmit counters are added once per dp_rx /
 * dp_rx_batch call, and an interface's configuration is read once per
 * call, so a batch is forwarded as if it arrived at once. Established flows (FORWARD and NAT) remember
 * their forwarding decision; it is revalidated per packet against version
 * counters of the routing VRF and of the next hops it used, so every table
 * change is seen by the next packet, exactly as without the cache.
 *
 * Identifiers are chosen by the agent: interfaces by ifindex in [0, ifs),
 * VRFs in [0, vrfs), next hops in [1, nhs) (0 means "none"), labels in
 * [0, labels). Every installed entry carries the generation current when it
 * was last installed (see dp_generation_begin). */
#ifndef STRATA_DP_H
#define STRATA_DP_H

#include "lib/err.h"
#include "vrouter/dp/dp_env.h"

#define VR_ERRORS(X)                                                   \
    X(VR_EINVAL, -16001, "invalid datapath argument")                  \
    X(VR_ENOMEM, -16002, "datapath table allocation failed")           \
    X(VR_EFULL, -16003, "datapath table full")                         \
    X(VR_ENOENT, -16004, "no such datapath entry")                     \
    X(VR_ERANGE, -16005, "datapath identifier out of range")           \
    X(VR_ENOVRF, -16006, "VRF not configured")                         \
    X(VR_ENONH, -16007, "next hop not configured or of the wrong type") \
    X(VR_EEND, -16008, "end of table dump")

enum vr_err { VR_ERRORS(STRATA_ERR_ENUM) };

const char *vr_strerror(int code);

/* ---- drop reasons ---- */
#define DP_DROPS(X)                                              \
    X(DP_DROP_NONE, "none")                                      \
    X(DP_DROP_BAD_IF, "unknown-interface")                       \
    X(DP_DROP_TRUNCATED, "truncated")                            \
    X(DP_DROP_BAD_IP, "malformed-ip")                            \
    X(DP_DROP_TTL, "ttl-expired")                                \
    X(DP_DROP_NO_VRF, "no-vrf")                                  \
    X(DP_DROP_UNKNOWN_UNICAST, "unknown-unicast")                \
    X(DP_DROP_NO_BUM, "no-bum-next-hop")                         \
    X(DP_DROP_NO_NH, "invalid-next-hop")                         \
    X(DP_DROP_DISCARD, "discard")                                \
    X(DP_DROP_FLOW_HOLD, "flow-hold")                            \
    X(DP_DROP_FLOW_FULL, "flow-table-full")                      \
    X(DP_DROP_FLOW_ACTION, "flow-action-drop")                   \
    X(DP_DROP_NO_HEADROOM, "no-headroom")                        \
    X(DP_DROP_NOT_TUNNEL, "fabric-not-tunnel")                   \
    X(DP_DROP_BAD_TUNNEL, "malformed-tunnel-header")             \
    X(DP_DROP_OUTER_FRAG, "fragmented-tunnel")                   \
    X(DP_DROP_NOT_FOR_US, "tunnel-not-for-us")                   \
    X(DP_DROP_BAD_LABEL, "unknown-label")                        \
    X(DP_DROP_LABEL_STACK, "label-stack")                        \
    X(DP_DROP_BAD_VNI, "unknown-vni")                            \
    X(DP_DROP_NO_AGENT, "no-agent-interface")                    \
    X(DP_DROP_BAD_AGENT_MSG, "malformed-agent-frame")            \
    X(DP_DROP_REPLICA_LIMIT, "replica-limit")                    \
    X(DP_DROP_NO_REPLICA, "no-replica")                          \
    X(DP_DROP_LOOP, "fabric-loop")

#define DP_DROP_ENUM(name, str) name,
enum dp_drop { DP_DROPS(DP_DROP_ENUM) DP_DROP_COUNT };

/* Returns the stable name of 'reason' ("unknown" when out of range). */
const char *dp_drop_name(unsigned reason);

/* ---- configuration ---- */
struct dp_config {
    uint32_t ifs;           /* interface slots; default 4096 */
    uint32_t vrfs;          /* default 4096 */
    uint32_t nhs;           /* next hops; default 512K */
    uint32_t composites;    /* ECMP/BUM member lists; default 4096 */
    uint32_t labels;        /* MPLS label space; default 512K */
    uint32_t vnis;          /* VNI entries; default 16K */
    uint32_t bridge;        /* MAC entries over all VRFs; default 256K */
    uint32_t routes;        /* IPv4+IPv6 prefixes over all VRFs; default 512K */
    uint32_t lpm_nodes;     /* 256-way trie nodes (1280 bytes); default 16K */
    uint32_t flows;         /* flow slots (rounded up to 2^n); default 512K */
    uint32_t flow_overflow; /* overflow slots; default 8K */
    uint8_t router_mac[6];  /* source MAC of routed (L3) frames; default 00:00:5e:00:01:00 */
};

/* Fills 'cfg' with the defaults above (the anchor's forwarding-plane sizes). */
void dp_config_default(struct dp_config *cfg);

struct dp;

/* Creates a datapath with every table preallocated per 'cfg' (zero fields
 * take defaults). Returns 0 and '*out', VR_EINVAL or VR_ENOMEM. */
int dp_create(const struct dp_config *cfg, struct dp **out) STRATA_WARN_UNUSED;
/* Frees 'dp' and every table; NULL is fine. No dp_rx may be running. */
void dp_free(struct dp *dp);

/* ---- packets and transmit decisions ---- */

/* A packet buffer: 'len' bytes of frame at buf[off], inside 'size' bytes.
 * Headroom is 'off', tailroom 'size - off - len'. Encapsulation prepends in
 * the headroom; hosts should reserve DP_HEADROOM bytes. */
struct dp_pkt {
    uint8_t *buf;
    uint32_t size;
    uint32_t off;
    uint32_t len;
};
#define DP_HEADROOM 64

/* One transmission: the bytes hdr[0..hdr_size) followed by
 * pkt->buf[off..off+len) (the packet as dp_rx left it) go out of 'ifindex'.
 * hdr_size is 0 for the ordinary unicast case, where the packet was
 * rewritten in place; replicas (BUM, mirror) carry their own headers and
 * share the payload. */
#define DP_TX_HDR_MAX 64
struct dp_tx {
    uint32_t ifindex;
    uint32_t off;
    uint32_t len;
    uint16_t hdr_size;
    uint8_t hdr[DP_TX_HDR_MAX];
};

enum dp_verdict {
    DP_VERDICT_DROP, /* 'drop' says why; no transmission */
    DP_VERDICT_TX,   /* tx[0..count) */
    DP_VERDICT_PUNT, /* tx[0] is the punt header + frame to the agent interface */
};

#define DP_OUT_MAX 32
struct dp_out {
    uint8_t verdict; /* enum dp_verdict */
    uint8_t drop;    /* enum dp_drop when verdict is DROP */
    uint16_t count;
    struct dp_tx tx[DP_OUT_MAX];
};

/* Copies transmission 'tx' of 'pkt' into 'dst' ('cap' bytes). Returns the
 * frame size, or 0 when it does not fit. For tests and copying hosts. */
uint32_t dp_tx_copy(const struct dp_pkt *pkt, const struct dp_tx *tx, uint8_t *dst, uint32_t cap);

/* Processes one frame received on 'ifindex' at monotonic time 'now_ms' and
 * fills 'out' with its fate. May rewrite the frame in place and move
 * pkt->off/len (encapsulation uses the headroom). Never allocates, never
 * blocks except on the flow-setup lock of a flow-table miss. */
void dp_rx(struct dp *dp, uint32_t ifindex, struct dp_pkt *pkt, uint64_t now_ms, struct dp_out *out);
/* dp_rx over 'count' frames received on the same interface. */
void dp_rx_batch(struct dp *dp, uint32_t ifindex, struct dp_pkt *pkts, uint32_t count,
                 uint64_t now_ms, struct dp_out *outs);

/* Counts 'more' further packets, 'bytes' bytes in all as frames, received
 * on 'ifindex' with the IP headers at 'ip' ('ip_len' bytes: IPv4 or IPv6,
 * then at least the first 4 bytes of TCP or UDP; for packets from the
 * fabric, the decapsulated inner packet's) as forwarded the way dp_rx
 * just forwarded a packet with those headers ('out'; its one transmission
 * 'grow' bytes longer than the packet received, negative when shorter):
 * the receiving and the sending interface's packet and byte counters and
 * the flow's packets, bytes and last-seen time ('now_ms'), as if each had
 * gone through dp_rx. For hosts that run only the first of many packets
 * through the core: the segments of a VM's GSO super-frame, or the
 * datagrams of one fabric flow the kernel glued (UDP_GRO). They share
 * every byte the decision rests on (VRF, addresses, ports, protocol, TTL,
 * fragment field, the tunnel's label or VNI and outer addresses) and
 * differ only in lengths, identification, sequence, flags and checksums,
 * so the host applies the first one's rewrite to them. Returns 0 when
 * counted (nothing for 'more' 0), or VR_EINVAL, with nothing counted,
 * unless 'out' is one transmission without header of an unfragmented
 * TCP/UDP packet from a VM port to a fabric interface, or from a fabric
 * interface to a VM port, whose flow (looked up in the VM port's VRF) is
 * ACTIVE when that port has DP_IF_POLICY; the host then runs the other
 * packets through dp_rx_batch instead. */
int dp_rx_account(struct dp *dp, uint32_t ifindex, const uint8_t *ip, uint32_t ip_len, const struct dp_out *out,
                  int32_t grow, uint32_t more, uint64_t bytes, uint64_t now_ms) STRATA_WARN_UNUSED;

/* The header the core prepends to frames punted to the agent interface, and
 * that the agent prepends to frames it injects (reason DP_AGENT_TX: the
 * frame goes out of 'ifindex' unchanged). Big-endian on the wire:
 *   u16 magic 0x5354, u8 version 1, u8 reason, u32 ifindex, u32 vrf,
 *   u32 flow index (DP_FLOW_NONE when none). */
#define DP_PUNT_MAGIC 0x5354
#define DP_PUNT_VERSION 1
#define DP_PUNT_HDR_SIZE 16
#define DP_FLOW_NONE 0xffffffffu
enum dp_punt_reason {
    DP_PUNT_ARP = 1,
    DP_PUNT_DHCP = 2,
    DP_PUNT_DNS = 3,
    DP_PUNT_ND = 4,
    DP_PUNT_FLOW_MISS = 5,
    DP_PUNT_NH = 6, /* a route's next hop is "punt" */
    DP_AGENT_TX = 0x80,
};

/* ---- generations ---- */

/* Makes 'gen' the generation stamped on every entry installed from now on
 * (the agent announces itself). Nothing is removed or reset. */
void dp_generation_begin(struct dp *dp, uint32_t gen);
uint32_t dp_generation(const struct dp *dp);
/* Removes every entry (flows, routes, MACs, labels, VNIs, next hops,
 * interfaces, VRFs) whose generation is older than 'gen'. Returns how many
 * were removed. Entries re-installed since dp_generation_begin are kept
 * and forward without interruption. */
uint32_t dp_sweep(struct dp *dp, uint32_t gen);

/* ---- interfaces ---- */
enum dp_if_type {
    DP_IF_NONE,
    DP_IF_VM,     /* a VM port (tap/veth/vif) */
    DP_IF_FABRIC, /* the underlay; tunnels start and end here */
    DP_IF_AGENT,  /* the punt interface to the agent */
};
#define DP_IF_POLICY 0x1 /* flow check on packets from and to this port */

struct dp_if_stats {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, drops;
};

struct dp_if {
    uint32_t ifindex;
    uint8_t type;  /* enum dp_if_type */
    uint8_t flags; /* DP_IF_* */
    uint32_t vrf;  /* VM ports */
    uint8_t mac[6];
    uint32_t ip4;        /* fabric: tunnel endpoint (0: accept any) */
    uint32_t gw_ip4;     /* VM: gateway address (DNS to it is punted) */
    uint32_t dns_ip4;    /* VM: DNS service address */
    uint8_t gw_mac[6];   /* fabric: underlay next-hop MAC */
    uint32_t gen;        /* read only */
    struct dp_if_stats stats; /* read only */
};

/* Adds or replaces interface 'i->ifindex' (stats kept on replace). VM ports
 * need their VRF configured. Returns 0, VR_ERANGE, VR_EINVAL or VR_ENOVRF. */
int dp_if_add(struct dp *dp, const struct dp_if *i) STRATA_WARN_UNUSED;
int dp_if_del(struct dp *dp, uint32_t ifindex) STRATA_WARN_UNUSED;
int dp_if_get(struct dp *dp, uint32_t ifindex, struct dp_if *out) STRATA_WARN_UNUSED;
/* Dump: start with '*pos' = 0; each call yields the next entry and advances
 * '*pos'. Returns 0 or VR_EEND. (All *_next functions behave this way.) */
int dp_if_next(struct dp *dp, uint32_t *pos, struct dp_if *out) STRATA_WARN_UNUSED;

/* ---- VRFs ---- */
struct dp_vrf {
    uint32_t vrf;
    uint32_t bum_nh; /* BUM composite for broadcast/multicast, 0 for none */
    uint32_t gen;    /* read only */
};
int dp_vrf_add(struct dp *dp, const struct dp_vrf *v) STRATA_WARN_UNUSED;
/* Removes the VRF together with its routes and MAC entries. */
int dp_vrf_del(struct dp *dp, uint32_t vrf) STRATA_WARN_UNUSED;
int dp_vrf_get(struct dp *dp, uint32_t vrf, struct dp_vrf *out) STRATA_WARN_UNUSED;
int dp_vrf_next(struct dp *dp, uint32_t *pos, struct dp_vrf *out) STRATA_WARN_UNUSED;

/* ---- next hops ---- */
enum dp_nh_type {
    DP_NH_NONE,
    DP_NH_DISCARD,
    DP_NH_PUNT,   /* to the agent */
    DP_NH_IF,     /* local delivery on 'ifindex' */
    DP_NH_TUNNEL, /* encapsulate and send on fabric 'ifindex' */
    DP_NH_VRF,    /* decapsulated traffic: look up again in 'vrf' */
    DP_NH_ECMP,   /* one member chosen by the inner flow hash */
    DP_NH_BUM,    /* every member (ingress replication) */
};
enum dp_encap {
    DP_ENCAP_NONE,
    DP_ENCAP_MPLS_GRE,
    DP_ENCAP_MPLS_UDP,
    DP_ENCAP_VXLAN,
};
#define DP_NH_MAX_MEMBERS 16
#define DP_NH_L2 0x1 /* IF/VRF next hops reached by label: payload is Ethernet */

struct dp_nh {
    uint32_t id;
    uint8_t type;  /* enum dp_nh_type */
    uint8_t encap; /* enum dp_encap (TUNNEL) */
    uint8_t flags; /* DP_NH_* */
    uint8_t member_count;
    uint32_t ifindex;    /* IF, TUNNEL (the fabric interface) */
    uint32_t vrf;        /* VRF */
    uint32_t label;      /* TUNNEL: MPLS label (20 bits) or VNI (24 bits) */
    uint32_t sip, dip;   /* TUNNEL: outer IPv4, host order */
    uint8_t dmac[6];     /* IF: destination MAC for routed frames;
                            TUNNEL: inner destination MAC for routed VXLAN */
    uint8_t outer_dmac[6]; /* TUNNEL: underlay next-hop MAC (zero: the
                              fabric interface's gw_mac) */
    uint32_t members[DP_NH_MAX_MEMBERS]; /* ECMP, BUM: next hop ids */
    uint32_t gen;        /* read only */
};
/* Adds or replaces next hop 'n->id'. TUNNEL needs a fabric interface; ECMP
 * members must be IF or TUNNEL, BUM members IF or TUNNEL; VR_EFULL when the
 * composite pool is exhausted. */
int dp_nh_add(struct dp *dp, const struct dp_nh *n) STRATA_WARN_UNUSED;
int dp_nh_del(struct dp *dp, uint32_t id) STRATA_WARN_UNUSED;
int dp_nh_get(struct dp *dp, uint32_t id, struct dp_nh *out) STRATA_WARN_UNUSED;
int dp_nh_next(struct dp *dp, uint32_t *pos, struct dp_nh *out) STRATA_WARN_UNUSED;

/* ---- routes (longest-prefix match per VRF) ---- */
struct dp_route {
    uint32_t vrf;
    uint8_t family; /* 4 or 6 */
    uint8_t plen;
    uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
    uint32_t nh;
    uint32_t gen; /* read only */
};
/* Adds or replaces a prefix (host bits are ignored). VR_ENOVRF, VR_EINVAL,
 * VR_EFULL (routes or trie nodes). */
int dp_route_add(struct dp *dp, const struct dp_route *r) STRATA_WARN_UNUSED;
int dp_route_del(struct dp *dp, const struct dp_route *r) STRATA_WARN_UNUSED;
/* Exact-prefix get ('r' gives vrf, family, plen, addr). */
int dp_route_get(struct dp *dp, const struct dp_route *r, struct dp_route *out) STRATA_WARN_UNUSED;
/* Longest-prefix match of 'addr' in 'vrf': the next hop id, 0 for none. */
uint32_t dp_route_lookup(struct dp *dp, uint32_t vrf, uint8_t family, const uint8_t *addr);
int dp_route_next(struct dp *dp, uint32_t *pos, struct dp_route *out) STRATA_WARN_UNUSED;

/* ---- bridge (MAC per VRF) ---- */
struct dp_mac {
    uint32_t vrf;
    uint8_t mac[6];
    uint32_t nh;
    uint32_t gen; /* read only */
};
int dp_mac_add(struct dp *dp, const struct dp_mac *m) STRATA_WARN_UNUSED;
int dp_mac_del(struct dp *dp, uint32_t vrf, const uint8_t mac[6]) STRATA_WARN_UNUSED;
int dp_mac_get(struct dp *dp, uint32_t vrf, const uint8_t mac[6], struct dp_mac *out) STRATA_WARN_UNUSED;
int dp_mac_next(struct dp *dp, uint32_t *pos, struct dp_mac *out) STRATA_WARN_UNUSED;

/* ---- MPLS labels ---- */
struct dp_label {
    uint32_t label;
    uint32_t nh;
    uint32_t gen; /* read only */
};
int dp_label_add(struct dp *dp, const struct dp_label *l) STRATA_WARN_UNUSED;
int dp_label_del(struct dp *dp, uint32_t label) STRATA_WARN_UNUSED;
int dp_label_get(struct dp *dp, uint32_t label, struct dp_label *out) STRATA_WARN_UNUSED;
int dp_label_next(struct dp *dp, uint32_t *pos, struct dp_label *out) STRATA_WARN_UNUSED;

/* ---- VNIs ---- */
struct dp_vni {
    uint32_t vni;
    uint32_t vrf;
    uint32_t nh; /* 0: bridge/route lookup in 'vrf'; else deliver via 'nh' */
    uint32_t gen; /* read only */
};
int dp_vni_add(struct dp *dp, const struct dp_vni *v) STRATA_WARN_UNUSED;
int dp_vni_del(struct dp *dp, uint32_t vni) STRATA_WARN_UNUSED;
int dp_vni_get(struct dp *dp, uint32_t vni, struct dp_vni *out) STRATA_WARN_UNUSED;
int dp_vni_next(struct dp *dp, uint32_t *pos, struct dp_vni *out) STRATA_WARN_UNUSED;

/* ---- flows ----
 * Flows are checked for IP packets from ports with DP_IF_POLICY and for
 * decapsulated IP packets delivered to such ports. A miss creates a HOLD
 * entry and punts that first packet (DP_PUNT_FLOW_MISS, with the flow
 * index); later packets of a held flow are dropped and counted
 * (DP_DROP_FLOW_HOLD), not queued, until the agent installs the flow with
 * dp_flow_set or the hold ages out (dp_flow_age). */
struct dp_flow_key {
    uint32_t vrf;
    uint8_t src[16]; /* network order; IPv4 in the first 4 bytes, rest zero */
    uint8_t dst[16];
    uint16_t sport, dport; /* host order; 0 for non-TCP/UDP and fragments */
    uint8_t proto;
    uint8_t family; /* 4 or 6 */
    uint8_t pad[2]; /* zero */
};

enum dp_flow_action_type {
    DP_FLOW_FORWARD,
    DP_FLOW_DROP,
    DP_FLOW_NAT,    /* floating IP: rewrite (IPv4) then forward */
    DP_FLOW_MIRROR, /* forward, and a copy to 'mirror_nh' */
};
#define DP_FA_SNAT 0x1 /* NAT: rewrite the source to nat_ip (and nat_port if nonzero) */
#define DP_FA_DNAT 0x2 /* NAT: rewrite the destination likewise */
#define DP_FA_VRF 0x4  /* route the packet in 'vrf' instead of the port's VRF */

/* What a flow does. NAT (IPv4 only) fixes the IPv4 and TCP/UDP checksums
 * incrementally; a flow installed on a VM port applies 'vrf' (floating IP
 * networks); flows checked on delivery to a port only rewrite. */
struct dp_flow_action {
    uint8_t type;  /* enum dp_flow_action_type */
    uint8_t flags; /* DP_FA_* */
    uint16_t nat_port;
    uint32_t nat_ip;  /* IPv4, host order */
    uint32_t vrf;
    uint32_t mirror_nh;
};

enum dp_flow_state { DP_FLOW_FREE, DP_FLOW_HOLD, DP_FLOW_ACTIVE };

struct dp_flow {
    uint32_t index;
    uint8_t state; /* enum dp_flow_state */
    struct dp_flow_key key;
    struct dp_flow_action action;
    uint32_t reverse; /* index of the reverse flow or DP_FLOW_NONE */
    uint64_t packets, bytes, last_seen_ms;
    uint32_t gen;
};

/* Installs or updates the flow 'key' (a held flow becomes active) with
 * 'act'; '*index' (may be NULL) receives its slot. VR_EFULL when the bucket
 * and the overflow are full. */
int dp_flow_set(struct dp *dp, const struct dp_flow_key *key, const struct dp_flow_action *act,
                uint64_t now_ms, uint32_t *index) STRATA_WARN_UNUSED;
/* Installs a flow and its reverse and links them to each other. */
int dp_flow_set_pair(struct dp *dp, const struct dp_flow_key *fwd, const struct dp_flow_action *fwd_act,
                     const struct dp_flow_key *rev, const struct dp_flow_action *rev_act,
                     uint64_t now_ms, uint32_t *fwd_index, uint32_t *rev_index) STRATA_WARN_UNUSED;
int dp_flow_del(struct dp *dp, const struct dp_flow_key *key) STRATA_WARN_UNUSED;
int dp_flow_get(struct dp *dp, const struct dp_flow_key *key, struct dp_flow *out) STRATA_WARN_UNUSED;
int dp_flow_get_index(struct dp *dp, uint32_t index, struct dp_flow *out) STRATA_WARN_UNUSED;
int dp_flow_next(struct dp *dp, uint32_t *pos, struct dp_flow *out) STRATA_WARN_UNUSED;
/* Removes flows (held or active) idle for more than 'idle_ms' at 'now_ms';
 * a flow with a reverse goes only when both are idle. Returns the count. */
uint32_t dp_flow_age(struct dp *dp, uint64_t now_ms, uint64_t idle_ms);
/* One past the largest flow slot (struct dp_flow 'index') this datapath
 * can hand out: hosts size per-slot side tables with it. */
uint32_t dp_flow_index_limit(const struct dp *dp);
/* Starts loading the cache lines a dp_flow_set of 'key' reads first (its
 * bucket's tags, occupancy and first entry): hosts applying a batch of
 * installs call it for every key of the batch before the first install. */
void dp_flow_prefetch(const struct dp *dp, const struct dp_flow_key *key);
/* Writes every page of the flow table once, so that no flow installed
 * later pays the page's first-touch fault (the table becomes resident:
 * about 128 bytes per flow slot plus its tag). */
void dp_flow_prefault(struct dp *dp);
/* The flow table's storage, for hosts that tune its memory (huge pages):
 * region 'i' (0: the entries, 1: their tags) at '*p', '*size' bytes.
 * Returns 0, or -1 for 'i' past the last. */
int dp_flow_table_region(const struct dp *dp, unsigned i, void **p, size_t *size) STRATA_WARN_UNUSED;

/* ---- statistics ---- */
struct dp_stats {
    uint64_t drops[DP_DROP_COUNT];
    uint64_t punts;
    uint64_t flows_active, flows_held; /* current */
};
void dp_stats_get(struct dp *dp, struct dp_stats *out);

/* The hash of an inner flow key the core uses for ECMP and the MPLSoUDP /
 * VXLAN source port: the key as received, with the ingress port's VRF
 * (exposed for tests and for hosts spreading queues). */
uint32_t dp_flow_hash(const struct dp_flow_key *key);
/* The outer UDP source port for 'hash': in [49152, 65535]. */
static inline uint16_t dp_udp_sport(uint32_t hash)
{
    return (uint16_t)(0xc000u | (hash & 0x3fffu));
}

#endif

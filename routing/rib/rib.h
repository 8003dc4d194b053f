/* The control role's routing information bases: one table per (routing
 * instance, address family) plus the global VPN tables bgp.l3vpn.0,
 * bgp.l3vpn-inet6.0, bgp.evpn.0 and bgp.rtarget.0; interned path attribute
 * sets; the BGP decision process with ECMP; route-target import/export and
 * leaking between instances; graceful-restart stale marking per source.
 * Pure C11: no I/O, no clock, no threads. The BGP and XMPP glue feed it
 * paths (rib_path_add / rib_path_del) and learn best-path changes from table
 * listeners, delivered once per changed prefix when the owner calls
 * rib_flush().
 *
 * How the glue maps its input:
 *  - A BGP UPDATE: rib_attr_intern() its path attributes once (origin, AS
 *    path with 4-octet ASNs, MED, LOCAL_PREF, next hop from MP_REACH or
 *    NEXT_HOP, communities, extended communities incl. route targets and
 *    encapsulation, label(s) from the NLRI, ORIGINATOR_ID, CLUSTER_LIST, MAC
 *    mobility sequence number), then rib_path_add() each NLRI into the table
 *    of its family (VPNv4 → bgp.l3vpn.0 with the RD in the prefix, EVPN →
 *    bgp.evpn.0, RT constraint → bgp.rtarget.0, plain inet → an instance
 *    table), path_id 0 (or the ADD-PATH identifier); withdrawn NLRI →
 *    rib_path_del().
 *  - An XMPP item from an agent: source of type RIB_SRC_XMPP; one path per
 *    next-hop (path_id = index or the next hop's IPv4 address), attributes
 *    from the entry (label/vni, tunnel-encapsulation-list as encapsulation
 *    extended communities, sequence-number, security-group-list,
 *    virtual-network, local-preference, med, load-balance), into the
 *    instance's inet/inet6/evpn table; retract → rib_path_del().
 *  - Session loss with graceful restart: rib_source_mark_stale(); End-of-RIB
 *    → rib_source_sweep(); GR timer expiry with LLGR → rib_source_mark_llgr();
 *    LLGR timer expiry → rib_source_sweep(). Without GR:
 *    rib_source_withdraw_all().
 *
 * Replicated paths. A path is primary (added by the glue) or replicated: a
 * copy made by the RIB (export VRF → VPN table with the instance's RD and
 * export route targets, import VPN table → every VRF whose import targets
 * intersect the path's, or a leak rule A → B with optional next-hop and
 * label rewrite). A replicated path keeps its primary's source (so the
 * decision process treats it like the original) and records the route it was
 * made from; it follows its primary (changes, stale flags, removal) and is
 * never added or deleted by the glue. Loop rules: an imported path is never
 * exported; a leaked path is never leaked again (but is exported: service
 * chains); a path is never imported or leaked into a table its chain of
 * replications already passes through; a chain is at most
 * RIB_REPL_DEPTH_MAX hops long.
 *
 * Not thread safe: one owner thread calls everything. Listener callbacks run
 * inside rib_flush() and must not modify the RIB. */
#ifndef STRATA_RIB_H
#define STRATA_RIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define RIB_ERRORS(X)                                                     \
    X(RIB_ERR_NOENT, -14501, "no such route, path, instance or rule")     \
    X(RIB_ERR_FAMILY, -14502, "address family not valid for this table")  \
    X(RIB_ERR_PREFIX, -14503, "malformed prefix")                         \
    X(RIB_ERR_ATTR, -14504, "attribute set invalid or not interned")      \
    X(RIB_ERR_NOMEM, -14505, "out of memory")                             \
    X(RIB_ERR_SOURCE, -14506, "unknown path source")                      \
    X(RIB_ERR_EXISTS, -14507, "already exists")                           \
    X(RIB_ERR_INVAL, -14508, "invalid argument")                          \
    X(RIB_ERR_LIMIT, -14509, "too many paths or elements")

enum rib_err { RIB_ERRORS(STRATA_ERR_ENUM) };

const char *rib_strerror(int code);

/* ---- address families, addresses, RDs, route targets ---- */

enum rib_family {
    RIB_AF_INET = 0,   /* IPv4 unicast in a routing instance */
    RIB_AF_INET6,      /* IPv6 unicast in a routing instance */
    RIB_AF_EVPN,       /* EVPN in a routing instance (no RD in the key) */
    RIB_AF_L3VPN,      /* RD + IPv4 prefix, bgp.l3vpn.0 */
    RIB_AF_L3VPN6,     /* RD + IPv6 prefix, bgp.l3vpn-inet6.0 */
    RIB_AF_EVPN_VPN,   /* RD + EVPN route, bgp.evpn.0 */
    RIB_AF_RTARGET,    /* origin AS + route target (RFC 4684), bgp.rtarget.0 */
    RIB_AF_COUNT
};

/* Returns "inet", "inet6", "evpn", "l3vpn", "l3vpn-inet6", "evpn-vpn",
 * "rtarget" or "?". */
const char *rib_family_name(enum rib_family af);

/* An IPv4 or IPv6 address: 'af' 4 or 6 (0: none); IPv4 in b[0..3]. */
struct rib_addr {
    uint8_t af;
    uint8_t b[16];
};

/* Route distinguisher in its 8-byte wire form (RFC 4364 §4.2): u16 type
 * (0: 2-byte AS + 4-byte number, 1: IPv4 + 2-byte number, 2: 4-byte AS +
 * 2-byte number) then 6 bytes of value, big-endian. */
struct rib_rd {
    uint8_t b[8];
};

/* Route target: the 8-byte extended community (RFC 4360): type 0x00, 0x01
 * or 0x02 (2-byte AS, IPv4, 4-byte AS), subtype 0x02, 6 bytes of value. Any
 * other extended community uses the same struct (struct rib_ext). */
struct rib_rt {
    uint8_t b[8];
};
struct rib_ext {
    uint8_t b[8];
};

/* Tunnel encapsulation extended community (RFC 9012 §4.1: type 0x03,
 * subtype 0x0c, tunnel type in the last two bytes). */
enum rib_encap {
    RIB_ENCAP_GRE = 2,        /* MPLS over GRE */
    RIB_ENCAP_VXLAN = 8,
    RIB_ENCAP_MPLS_UDP = 13,  /* Contrail "udp" */
};

struct rib_rd rib_rd_make(uint32_t asn, uint32_t n);   /* type 0 if asn < 65536 (n 32-bit), else type 2 (n 16-bit) */
struct rib_rd rib_rd_make_ip(uint32_t ipv4, uint16_t n); /* type 1 */
struct rib_rt rib_rt_make(uint32_t asn, uint32_t n);   /* type 0x00 if asn < 65536, else 0x02 */
struct rib_rt rib_rt_make_ip(uint32_t ipv4, uint16_t n);
struct rib_ext rib_ext_encap(enum rib_encap type);
struct rib_ext rib_rt_ext(struct rib_rt rt); /* the same 8 bytes as an extended community */
/* True when 'e' is a route target (types 0x00/0x01/0x02, subtype 0x02). */
bool rib_ext_is_rt(const struct rib_ext *e);
/* Parses "target:ASN:N" or "target:A.B.C.D:N" (the "target:" prefix is
 * optional). RIB_ERR_INVAL on malformed text. */
int rib_rt_parse(const char *text, struct rib_rt *rt) STRATA_WARN_UNUSED;
/* Formats a route target as "target:ASN:N" / "target:A.B.C.D:N" and an RD
 * as "ASN:N" / "A.B.C.D:N" into 'out' (at least 32 bytes). */
void rib_rt_format(const struct rib_rt *rt, char *out, size_t size);
void rib_rd_format(const struct rib_rd *rd, char *out, size_t size);

/* ---- prefixes ---- */

struct rib_evpn {
    uint8_t type;     /* 2 MAC/IP advertisement, 3 inclusive multicast, 5 IP prefix */
    uint32_t eth_tag; /* Ethernet tag id */
    uint8_t mac[6];   /* type 2 only */
};

/* A prefix of any family. Fields not used by 'family' must be zero.
 *  inet/inet6, l3vpn/l3vpn6: 'addr' + 'plen' (host bits are cleared);
 *      l3vpn/l3vpn6 also 'rd'.
 *  evpn/evpn-vpn: 'evpn'; type 2: 'evpn.mac' + optional IP in 'addr' (af 0
 *      for none, plen ignored); type 3: originator IP in 'addr'; type 5: IP
 *      prefix 'addr'/'plen'. evpn-vpn also 'rd'. ESI, gateway and labels are
 *      attributes, not key (RFC 7432 §7.2, RFC 9136).
 *  rtarget: 'rt_origin_as' + 'rt' with 'plen' 0 (default), 32 (origin AS
 *      only) or 96 (full); other lengths up to 96 are prefix matches. */
struct rib_prefix {
    enum rib_family family;
    uint8_t plen;
    struct rib_rd rd;
    struct rib_addr addr;
    struct rib_evpn evpn;
    uint32_t rt_origin_as;
    struct rib_rt rt;
};

/* Writes "10.1.0.0/16", "64512:1:10.1.0.0/16", "2-00:11:22:33:44:55,10.0.0.1",
 * "3-0-10.1.1.1", "5-0-10.0.0.0/8", "64512:target:64512:1/96", ... into
 * 'out' (at least 96 bytes). */
void rib_prefix_format(const struct rib_prefix *p, char *out, size_t size);

/* ---- interned path attribute sets ---- */

enum rib_origin { RIB_ORIGIN_IGP = 0, RIB_ORIGIN_EGP = 1, RIB_ORIGIN_INCOMPLETE = 2 };

enum rib_as_seg_type {
    RIB_AS_SET = 1,
    RIB_AS_SEQUENCE = 2,
    RIB_AS_CONFED_SEQUENCE = 3,
    RIB_AS_CONFED_SET = 4,
};

struct rib_as_seg {
    uint8_t type;        /* enum rib_as_seg_type */
    uint8_t len;         /* ASNs in 'asns', 1..255 */
    const uint32_t *asns;
};

#define RIB_COMM_LLGR_STALE 0xFFFF0006u /* RFC 9494 */
#define RIB_COMM_NO_LLGR 0xFFFF0007u

#define RIB_ATTR_HAS_MED 0x0001u
#define RIB_ATTR_HAS_LOCAL_PREF 0x0002u
#define RIB_ATTR_HAS_LABEL 0x0004u
#define RIB_ATTR_HAS_VNI 0x0008u
#define RIB_ATTR_HAS_L3_LABEL 0x0010u
#define RIB_ATTR_HAS_ORIGINATOR 0x0020u
#define RIB_ATTR_SINGLE_PATH 0x0040u /* load-balance off: never part of an ECMP set */

/* A path attribute set. The caller fills one on the stack (arrays point at
 * its own memory) and hands it to rib_attr_intern(), which returns the
 * shared, immutable, reference-counted copy: identical sets (after
 * communities, extended communities and security-group ids are sorted and
 * deduplicated) share one copy. Only interned sets may be given to
 * rib_path_add(). */
struct rib_attr {
    uint16_t flags;          /* RIB_ATTR_HAS_* / RIB_ATTR_SINGLE_PATH */
    uint8_t origin;          /* enum rib_origin */
    uint32_t med;            /* valid with RIB_ATTR_HAS_MED; absent compares as 0 */
    uint32_t local_pref;     /* valid with RIB_ATTR_HAS_LOCAL_PREF; absent compares as 100 */
    struct rib_addr nexthop;
    const struct rib_as_seg *as_path;
    size_t as_path_len;      /* segments */
    const uint32_t *comms;   /* RFC 1997 communities */
    size_t comms_len;
    const struct rib_ext *exts; /* extended communities: route targets, encapsulations, ... */
    size_t exts_len;
    uint32_t label;          /* MPLS label (20 bits) or EVPN label1 */
    uint32_t vni;            /* VXLAN network identifier (24 bits) */
    uint32_t l3_label;       /* EVPN type-2 label2 / l3 VNI */
    uint32_t originator_id;  /* valid with RIB_ATTR_HAS_ORIGINATOR */
    const uint32_t *cluster_list;
    size_t cluster_len;
    uint32_t seq;            /* MAC mobility / VM move sequence number (0: none) */
    const uint32_t *sgids;   /* security-group ids */
    size_t sgids_len;
    const char *vn;          /* virtual-network name or NULL (at most 255 bytes) */
    const struct rib *owner; /* set in interned sets; NULL in sets the caller builds */
};

struct rib;

/* Interns 'a' and stores the shared copy in '*out' with one reference owned
 * by the caller. RIB_ERR_ATTR for invalid content (segment length 0, origin
 * > 2, vn longer than 255 bytes, more than 4096 elements in any list),
 * RIB_ERR_NOMEM. */
int rib_attr_intern(struct rib *r, const struct rib_attr *a, const struct rib_attr **out) STRATA_WARN_UNUSED;
/* Adds / drops one reference on an interned set; unref of NULL is a no-op;
 * the last reference frees it. */
const struct rib_attr *rib_attr_ref(const struct rib_attr *a);
void rib_attr_unref(struct rib *r, const struct rib_attr *a);
/* References currently held on the interned set 'a' (for tests). */
uint32_t rib_attr_refcount(const struct rib_attr *a);
/* Number of AS hops for the decision process: AS_SEQUENCE counts its ASNs,
 * AS_SET counts 1, confederation segments count 0 (RFC 5065). */
uint32_t rib_attr_as_path_count(const struct rib_attr *a);
/* The neighbouring AS: the first ASN of the leftmost AS_SEQUENCE, 0 when the
 * path has none (locally originated / internal). */
uint32_t rib_attr_neighbor_as(const struct rib_attr *a);
bool rib_attr_has_comm(const struct rib_attr *a, uint32_t comm);
/* True when the interned set 'a' carries route target 'rt'. */
bool rib_attr_has_rt(const struct rib_attr *a, const struct rib_rt *rt);

/* ---- the RIB, its sources ---- */

struct rib_config {
    bool always_compare_med; /* compare MED between paths from different neighbour ASes */
};

int rib_create(const struct rib_config *cfg, struct rib **out) STRATA_WARN_UNUSED;
/* Frees every table, path, instance and interned set the RIB holds. Sets
 * still referenced by the caller are freed too (their pointers die). */
void rib_free(struct rib *r);

enum rib_source_type {
    RIB_SRC_LOCAL = 0, /* static / locally configured / service chain */
    RIB_SRC_XMPP,      /* a vRouter agent */
    RIB_SRC_EBGP,
    RIB_SRC_IBGP,
};

struct rib_source_info {
    enum rib_source_type type;
    struct rib_addr address; /* peer address (decision tie-break) */
    uint32_t router_id;      /* BGP identifier (decision tie-break) */
    uint32_t peer_as;
    const char *name;        /* copied; may be NULL */
};

/* Registers a path source; '*id' (>= 1) names it in every path call. */
int rib_source_add(struct rib *r, const struct rib_source_info *info, uint32_t *id) STRATA_WARN_UNUSED;
/* Withdraws all of the source's paths and forgets it. RIB_ERR_SOURCE. */
int rib_source_del(struct rib *r, uint32_t id) STRATA_WARN_UNUSED;
/* The registered description, or NULL. */
const struct rib_source_info *rib_source_get(const struct rib *r, uint32_t id);

/* ---- tables, paths ---- */

/* The decision process (best.c has the full order): feasible before
 * infeasible; non-LLGR-stale first; higher sequence number (MAC mobility /
 * VM move; 0 when absent, applied to every path so the order stays
 * transitive); higher LOCAL_PREF (absent: 100); LOCAL and XMPP sources
 * before BGP; shorter AS path; lower ORIGIN; lower MED within one
 * neighbouring AS (deterministic-MED; always with always_compare_med); eBGP
 * before iBGP; lower router id / ORIGINATOR_ID; shorter CLUSTER_LIST; lower
 * peer address; then source id, path id. The ECMP set is the best path and
 * every path equal to it through the eBGP/iBGP step, unless either says
 * RIB_ATTR_SINGLE_PATH. Same paths in any insertion order, same result. */

struct rib_table;
struct rib_route;

#define RIB_PATH_STALE 0x01       /* graceful restart: kept, usable, swept later */
#define RIB_PATH_LLGR_STALE 0x02  /* long-lived stale: loses to any other path */
#define RIB_PATH_INFEASIBLE 0x04  /* e.g. next hop unresolvable: never best */
#define RIB_PATH_REPLICATED 0x10  /* read-only: made by import/export */
#define RIB_PATH_LEAKED 0x20      /* read-only: made by a leak rule */
/* read-only: a leak rule on the path's replication chain rewrote its next
 * hop or label (a service chain's next-hop-self), so it is no longer its
 * source's own route: an agent gets it back, the original it would not.
 * Kept through later exports and imports. */
#define RIB_PATH_REWRITTEN 0x40

/* One path of a route, as listeners and lookups see it. Invariant: a primary
 * path has primary == NULL and primary_table == 0; a replicated path has
 * both, and depth >= 1 hops from origin_table, where the chain's primary
 * path lives. */
struct rib_path {
    const struct rib_attr *attr;
    struct rib_route *primary;  /* route this path was replicated from */
    /* The path's labels: MPLS label (EVPN label 1), EVPN label 2 / L3 VNI,
     * VNI; valid as the attribute set's RIB_ATTR_HAS_LABEL /
     * _HAS_L3_LABEL / _HAS_VNI flags say. Kept in the path, not only in
     * the set, so that routes differing only in label (one label per
     * prefix is the norm) share one interned set: see rib_path_add_labels().
     * Replicas copy them; a leak rule's label rewrite sets 'label'. */
    uint32_t label;
    uint32_t l3_label;
    uint32_t vni;
    uint32_t source;            /* source id */
    uint32_t path_id;           /* distinguishes paths of one source (ADD-PATH, next hops) */
    uint32_t primary_table;     /* table id of 'primary' */
    uint32_t origin_table;      /* table id of the chain's primary path (own table if primary) */
    uint8_t flags;              /* RIB_PATH_* */
    uint8_t depth;              /* replication hops */
};

/* A service chain of n services is 2 + 3n hops (export, import, then per
 * service a leak, an export and an import): 64 covers the compiler's 16
 * services with room to spare. */
#define RIB_REPL_DEPTH_MAX 64

/* The table of 'family' in the global VPN space (RIB_AF_L3VPN, _L3VPN6,
 * _EVPN_VPN, _RTARGET), NULL for other families. */
struct rib_table *rib_vpn_table(struct rib *r, enum rib_family family);
const char *rib_table_name(const struct rib_table *t);
enum rib_family rib_table_family(const struct rib_table *t);
uint32_t rib_table_id(const struct rib_table *t);
/* The table named 'name' ("bgp.l3vpn.0", "<instance>.inet.0", ...), or NULL. */
struct rib_table *rib_table_find(struct rib *r, const char *name);
/* The live table with id 'id', or NULL. */
struct rib_table *rib_table_by_id(struct rib *r, uint32_t id);
/* Routes with at least one path. */
size_t rib_table_count(const struct rib_table *t);

/* Adds or replaces the path of ('source', 'path_id') at prefix 'p' in 't'
 * with attributes 'attr' (interned; the RIB takes its own reference) and
 * 'flags' (RIB_PATH_STALE / _LLGR_STALE / _INFEASIBLE; replacing a path
 * clears stale marks not in 'flags', which is how a re-advertisement
 * refreshes it). Errors: RIB_ERR_FAMILY ('p' not of the table's family),
 * RIB_ERR_PREFIX, RIB_ERR_SOURCE, RIB_ERR_ATTR, RIB_ERR_INVAL (read-only
 * flags), RIB_ERR_LIMIT (65535 paths), RIB_ERR_NOMEM. Listeners learn of a
 * changed best path set at the next rib_flush(). */
int rib_path_add(struct rib_table *t, const struct rib_prefix *p, uint32_t source, uint32_t path_id,
                 const struct rib_attr *attr, unsigned flags) STRATA_WARN_UNUSED;
/* Like rib_path_add(), but the labels come from 'labels' instead of
 * 'attr''s label/l3_label/vni fields (whose values are ignored; its
 * RIB_ATTR_HAS_* flags still say which labels exist). Lets a caller intern
 * one attribute set for every route of an UPDATE that differ only in their
 * label: memory per route is then the path, not a set. */
struct rib_labels {
    uint32_t label;
    uint32_t l3_label;
    uint32_t vni;
};
int rib_path_add_labels(struct rib_table *t, const struct rib_prefix *p, uint32_t source, uint32_t path_id,
                        const struct rib_attr *attr, unsigned flags, const struct rib_labels *labels) STRATA_WARN_UNUSED;

/* A hint that 'p' is about to be added to, deleted from or looked up in
 * 't': starts loading the index slot that operation reads first, so that a
 * caller working through a batch (the NLRI of an UPDATE, a few entries
 * ahead) overlaps the cache misses. Changes nothing; a prefix that is
 * malformed or of another family is ignored. */
void rib_table_prefetch(const struct rib_table *t, const struct rib_prefix *p);

/* Withdraws the primary path of ('source', 'path_id') at 'p'. RIB_ERR_NOENT
 * when there is none. */
int rib_path_del(struct rib_table *t, const struct rib_prefix *p, uint32_t source, uint32_t path_id) STRATA_WARN_UNUSED;

/* Points '*paths' at the route's paths (valid until the next change of the
 * RIB), best first: the first '*nbest' are the ECMP set (0 when no path is
 * feasible), then the rest in decision order. RIB_ERR_NOENT when the prefix
 * has no path. */
int rib_table_lookup(struct rib_table *t, const struct rib_prefix *p, const struct rib_path **paths, size_t *count,
                     size_t *nbest) STRATA_WARN_UNUSED;

/* Calls 'fn' for every route of 't' with at least one path, in ascending
 * order of the prefix's key bytes (stable across calls). 'fn' must not
 * modify the RIB; a non-zero return stops the walk and is returned.
 * RIB_ERR_NOMEM. */
typedef int (*rib_walk_fn)(void *ctx, const struct rib_prefix *p, const struct rib_path *paths, size_t count,
                           size_t nbest);
int rib_table_walk(struct rib_table *t, rib_walk_fn fn, void *ctx) STRATA_WARN_UNUSED;

/* A table listener: called from rib_flush() once per prefix whose best path
 * set (the ECMP paths, their attributes or flags) changed since the last
 * flush, however many updates it took, with the new set ('nbest' > 0) or
 * nbest == 0 when the prefix has no usable path any more ("gone"; also for a
 * prefix added and withdrawn again between two flushes). 'best' points into
 * the route and is valid during the call only. */
typedef void (*rib_listener_fn)(void *ctx, struct rib_table *t, const struct rib_prefix *p,
                                const struct rib_path *best, size_t nbest);
int rib_listener_add(struct rib_table *t, rib_listener_fn fn, void *ctx, uint32_t *id) STRATA_WARN_UNUSED;
int rib_listener_del(struct rib_table *t, uint32_t id) STRATA_WARN_UNUSED;
/* Marks: 16 bits per route that belong to the table's users, not to the
 * RIB (a BGP speaker keeps "advertised to peer k" there, so that its
 * Adj-RIB-Out costs no memory of its own). A new route's marks are zero;
 * they survive path changes and are gone with the route, which is freed
 * only by rib_flush() after its "gone" notification (nbest == 0), so a
 * listener always sees the marks it set before the prefix disappears.
 * Users share the 16 bits: each owns the bits it was given.
 *
 * A listener (as above) that also gets the route's marks, which it may
 * change during the call. */
typedef void (*rib_mark_listener_fn)(void *ctx, struct rib_table *t, const struct rib_prefix *p,
                                     const struct rib_path *best, size_t nbest, uint16_t *marks);
int rib_listener_add_marks(struct rib_table *t, rib_mark_listener_fn fn, void *ctx, uint32_t *id) STRATA_WARN_UNUSED;
/* rib_table_walk() with the marks of each route ('fn' may change them). */
typedef int (*rib_mark_walk_fn)(void *ctx, const struct rib_prefix *p, const struct rib_path *paths, size_t count,
                                size_t nbest, uint16_t *marks);
int rib_table_walk_marks(struct rib_table *t, rib_mark_walk_fn fn, void *ctx) STRATA_WARN_UNUSED;
/* Clears the bits of 'mask' in every route of 't' (in no particular order,
 * without sorting). Returns the number of routes that had any of them. */
size_t rib_table_marks_clear(struct rib_table *t, uint16_t mask);

/* Delivers the pending notifications of every table and frees routes left
 * without paths. Returns the number of notifications made (per prefix, not
 * per listener). */
size_t rib_flush(struct rib *r);

/* ---- routing instances, route targets, leaking ---- */

struct rib_instance;

struct rib_instance_config {
    struct rib_rd rd;                /* RD for exported paths */
    const struct rib_rt *import_rts;
    size_t import_len;
    const struct rib_rt *export_rts;
    size_t export_len;
    bool vpn;                        /* participates in VPN import/export */
};

/* Creates the instance 'name' with its inet, inet6 and evpn tables (named
 * "<name>.inet.0", "<name>.inet6.0", "<name>.evpn.0"), not yet in the VPN
 * (vpn false, no targets). RIB_ERR_EXISTS, RIB_ERR_INVAL (empty name or a
 * name starting with "bgp."), RIB_ERR_NOMEM. */
int rib_instance_create(struct rib *r, const char *name, struct rib_instance **out) STRATA_WARN_UNUSED;
/* Removes the instance: its leak rules, every path in its tables (and what
 * was replicated from them), the tables and their listeners (no "gone"
 * notifications are made for them). NULL is a no-op. */
void rib_instance_destroy(struct rib_instance *inst);
struct rib_instance *rib_instance_find(struct rib *r, const char *name);
const char *rib_instance_name(const struct rib_instance *inst);
/* The instance's table of RIB_AF_INET, _INET6 or _EVPN, else NULL. */
struct rib_table *rib_instance_table(struct rib_instance *inst, enum rib_family family);
/* Sets RD, targets and the vpn flag (copied; duplicates ignored) and
 * re-evaluates incrementally: prefixes importing a removed target are
 * un-imported, paths carrying an added target are imported, exports are
 * redone only when RD, export targets or the flag changed. RIB_ERR_LIMIT
 * (more than 4096 targets), RIB_ERR_NOMEM. */
int rib_instance_configure(struct rib_instance *inst, const struct rib_instance_config *cfg) STRATA_WARN_UNUSED;

/* A leak rule from 'from' to 'to' (service chains, policies): the best
 * (ECMP) paths of every prefix of 'from' appear in the same-family table of
 * 'to', with the next hop replaced by 'nexthop' (when its af != 0) and the
 * MPLS label by 'label' (when has_label) — "next-hop-self" for a service
 * VM's address and label; a rewritten label drops the path's VNI (which
 * names the destination's network, not the service VM's port, and would
 * let a VXLAN-first agent bypass the service). 'families' limits the rule
 * to the tables whose
 * bit (1u << enum rib_family) is set (0: inet, inet6 and evpn): a service
 * VM's routed label means nothing to an EVPN MAC route. Leaked paths vanish
 * when their source path goes. */
struct rib_leak_config {
    struct rib_addr nexthop;
    bool has_label;
    uint32_t label;
    unsigned families;
};
#define RIB_LEAK_FAMILY(af) (1u << (unsigned)(af))
/* Adds or replaces the rule from 'from' to 'to'. RIB_ERR_INVAL when from ==
 * to, the next hop's af is not 0, 4 or 6, or 'families' names another
 * family; RIB_ERR_NOMEM. */
int rib_leak_set(struct rib_instance *from, struct rib_instance *to, const struct rib_leak_config *cfg) STRATA_WARN_UNUSED;
/* Removes it and its leaked paths. RIB_ERR_NOENT. */
int rib_leak_clear(struct rib_instance *from, struct rib_instance *to) STRATA_WARN_UNUSED;

/* ---- graceful restart and LLGR per source ---- */

/* Marks every primary path of 'source' RIB_PATH_STALE (RFC 4724). Returns
 * the number of paths marked, or RIB_ERR_SOURCE. */
int rib_source_mark_stale(struct rib *r, uint32_t source) STRATA_WARN_UNUSED;
/* LLGR transition (RFC 9494): stale paths of 'source' become LLGR-stale,
 * their attributes gain the LLGR_STALE community; stale paths carrying
 * NO_LLGR are removed. Returns the number of paths made LLGR-stale. */
int rib_source_mark_llgr(struct rib *r, uint32_t source) STRATA_WARN_UNUSED;
/* Removes every path of 'source' still marked stale or LLGR-stale (End-of-RIB
 * or timer). Returns the number removed. */
int rib_source_sweep(struct rib *r, uint32_t source) STRATA_WARN_UNUSED;
/* Removes every primary path of 'source'. Returns the number removed. */
int rib_source_withdraw_all(struct rib *r, uint32_t source) STRATA_WARN_UNUSED;

/* ---- accounting, consistency ---- */

struct rib_stats {
    size_t routes;      /* routes with paths, all tables */
    size_t paths;       /* primary + replicated */
    size_t replicated;
    size_t attrs;       /* distinct interned sets */
    size_t bytes;       /* bytes the RIB requested from malloc (excluding malloc's own overhead),
                           route slab blocks counted whole */
    size_t repl_failures; /* replications skipped for lack of memory */
};
void rib_stats_get(const struct rib *r, struct rib_stats *st);

/* Checks the invariants of every table (hash index, path order, replication
 * links, counters, attribute refcounts). Returns 0 or RIB_ERR_INVAL and
 * describes the first violation in 'why' (may be NULL). */
int rib_audit(struct rib *r, char *why, size_t size) STRATA_WARN_UNUSED;

#endif

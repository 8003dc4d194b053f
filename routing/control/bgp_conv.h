/* Conversions between the BGP codec's view of a route (routing/bgp:
 * struct bgp_nlri + struct bgp_attrs + the MP next hop) and the RIB's
 * (routing/rib: struct rib_prefix + interned struct rib_attr). Pure: no I/O,
 * no allocation beyond what the RIB interns. The speaker (speaker.c) uses
 * them on every received and every advertised route.
 *
 * Mapping. VPNv4/VPNv6 NLRI become l3vpn/l3vpn-inet6 prefixes (RD + prefix)
 * with the first label in rib_attr.label; EVPN NLRI become evpn-vpn prefixes
 * (RD + type 2/3/5 key) with label 1 in 'label', label 2 in 'l3_label' and
 * the MAC mobility sequence number in 'seq'; RT-constraint NLRI become
 * rtarget prefixes; IPv4 unicast becomes an inet prefix. The label is an
 * attribute in the RIB, so NLRI of one UPDATE with different labels intern
 * different attribute sets (identical ones share). The next hop comes from
 * MP_REACH_NLRI (a VPN next hop's zero RD is dropped; an IPv4-mapped IPv6
 * next hop stays IPv6) or, for IPv4 unicast, from NEXT_HOP. */
#ifndef STRATA_ROUTING_BGP_CONV_H
#define STRATA_ROUTING_BGP_CONV_H

#include <stdbool.h>
#include <stdint.h>

#include "routing/bgp/bgp_msg.h"
#include "routing/rib/rib.h"

/* The RIB family that holds BGP family 'f', or -1 when none does. */
int bgp_conv_rib_family(enum bgp_family f);
/* The BGP family of RIB family 'af', or -1. */
int bgp_conv_bgp_family(enum rib_family af);

/* Fills '*p' (zeroed first) with the RIB key of 'n'. RIB_ERR_FAMILY for a
 * family or EVPN route type the RIB does not hold (e.g. EVPN types 1 and 4),
 * RIB_ERR_PREFIX for an address size that does not fit. */
int bgp_conv_prefix(const struct bgp_nlri *n, struct rib_prefix *p) STRATA_WARN_UNUSED;

/* Fills '*n' (zeroed first) with the NLRI of RIB prefix 'p'; the label
 * stack comes from 'labels' (the path's), or from 'attr''s fields when
 * 'labels' is NULL, with 'attr''s RIB_ATTR_HAS_* flags saying which exist
 * ('attr' NULL for a withdrawal: VPN withdrawals carry the RFC 8277
 * withdraw label). RIB_ERR_FAMILY when 'p' has no BGP form. */
int bgp_conv_nlri(const struct rib_prefix *p, const struct rib_attr *attr, const struct rib_labels *labels,
                  struct bgp_nlri *n) STRATA_WARN_UNUSED;

/* Scratch storage for one attribute set being built from an UPDATE: the
 * rib_attr points into it until rib_attr_intern() copies it. */
#define BGP_CONV_AS_SEGS 64
#define BGP_CONV_EXTS 256
struct bgp_conv_attr {
    struct rib_attr a;
    struct rib_as_seg segs[BGP_CONV_AS_SEGS];
    struct rib_ext exts[BGP_CONV_EXTS];
};

/* Builds the family-independent part of the attribute set of an UPDATE:
 * origin, AS path, MED, LOCAL_PREF (iBGP only: 'ebgp' ignores it),
 * communities, extended communities, ORIGINATOR_ID, CLUSTER_LIST, MAC
 * mobility sequence number, and the next hop from 'mp' (may be NULL) or
 * NEXT_HOP. 'out' refers to 'u' (which must outlive it). RIB_ERR_LIMIT when
 * the AS path or extended communities exceed the scratch space,
 * RIB_ERR_ATTR when there is no next hop. */
int bgp_conv_attr(const struct bgp_update *u, const struct bgp_mp *mp, bool ebgp,
                  struct bgp_conv_attr *out) STRATA_WARN_UNUSED;

/* Sets the per-NLRI parts from 'n': which labels exist (RIB_ATTR_HAS_*
 * flags in 'c', label values there zero, so that routes differing only in
 * label intern one set) and their values in '*labels'. */
void bgp_conv_attr_labels(struct bgp_conv_attr *c, const struct bgp_nlri *n, struct rib_labels *labels);

/* Storage for the path attributes of one UPDATE being sent (struct
 * bgp_attrs points into it). */
#define BGP_CONV_OUT_ASNS 256
struct bgp_conv_out {
    struct bgp_attrs attrs;
    struct bgp_as_seg segs[BGP_CONV_AS_SEGS + 1];
    uint32_t asns[BGP_CONV_OUT_ASNS];
    uint32_t comms[512];
    uint64_t exts[BGP_CONV_EXTS];
    uint32_t clusters[64];
};

/* How an attribute set is rewritten for one peer. */
struct bgp_conv_export {
    bool ebgp;              /* prepend 'local_as', drop LOCAL_PREF and MED */
    uint32_t local_as;
    bool reflect;           /* iBGP route reflection: set ORIGINATOR_ID, prepend cluster id */
    uint32_t originator_id; /* the router id of the path's source, when reflecting */
    uint32_t cluster_id;
    bool next_hop_self;     /* use 'self' instead of the path's next hop */
    struct rib_addr self;
};

/* Fills 'o' with the path attributes to send for 'a' under 'x', and the MP
 * next hop of family 'f' in '*mp' (its nlri list left empty). RIB_ERR_LIMIT
 * when a list does not fit, RIB_ERR_ATTR when no next hop can be encoded. */
int bgp_conv_export_attr(const struct rib_attr *a, enum bgp_family f, const struct bgp_conv_export *x,
                         struct bgp_conv_out *o, struct bgp_mp *mp) STRATA_WARN_UNUSED;

#endif

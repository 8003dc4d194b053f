/* BGP <-> RIB route conversions: see bgp_conv.h for the mapping. */
#include "routing/control/bgp_conv.h"

#include <string.h>

int bgp_conv_rib_family(enum bgp_family f)
{
    switch (f) {
    case BGP_FAM_IPV4_UNICAST: return RIB_AF_INET;
    case BGP_FAM_IPV6_UNICAST: return RIB_AF_INET6;
    case BGP_FAM_VPNV4: return RIB_AF_L3VPN;
    case BGP_FAM_VPNV6: return RIB_AF_L3VPN6;
    case BGP_FAM_EVPN: return RIB_AF_EVPN_VPN;
    case BGP_FAM_RTC: return RIB_AF_RTARGET;
    case BGP_FAM_COUNT: break;
    }
    return -1;
}

int bgp_conv_bgp_family(enum rib_family af)
{
    switch (af) {
    case RIB_AF_INET: return BGP_FAM_IPV4_UNICAST;
    case RIB_AF_INET6: return BGP_FAM_IPV6_UNICAST;
    case RIB_AF_L3VPN: return BGP_FAM_VPNV4;
    case RIB_AF_L3VPN6: return BGP_FAM_VPNV6;
    case RIB_AF_EVPN_VPN: return BGP_FAM_EVPN;
    case RIB_AF_RTARGET: return BGP_FAM_RTC;
    case RIB_AF_EVPN:
    case RIB_AF_COUNT: break;
    }
    return -1;
}

static int set_ip(struct rib_addr *a, const uint8_t *b, unsigned size)
{
    if (size == 4) {
        a->af = 4;
    } else if (size == 16) {
        a->af = 6;
    } else if (size == 0) {
        a->af = 0;
        return 0;
    } else {
        return RIB_ERR_PREFIX;
    }
    memcpy(a->b, b, size);
    return 0;
}

int bgp_conv_prefix(const struct bgp_nlri *n, struct rib_prefix *p)
{
    memset(p, 0, sizeof *p);
    int af = bgp_conv_rib_family((enum bgp_family)n->family);
    if (af < 0) {
        return RIB_ERR_FAMILY;
    }
    p->family = (enum rib_family)af;
    switch ((enum bgp_family)n->family) {
    case BGP_FAM_IPV4_UNICAST:
    case BGP_FAM_VPNV4:
        p->plen = n->plen;
        p->addr.af = 4;
        memcpy(p->addr.b, n->addr, 4);
        break;
    case BGP_FAM_IPV6_UNICAST:
    case BGP_FAM_VPNV6:
        p->plen = n->plen;
        p->addr.af = 6;
        memcpy(p->addr.b, n->addr, 16);
        break;
    case BGP_FAM_EVPN:
        p->evpn.type = n->evpn_type;
        p->evpn.eth_tag = n->eth_tag;
        if (n->evpn_type == BGP_EVPN_MAC_IP) {
            memcpy(p->evpn.mac, n->mac, 6);
            if (set_ip(&p->addr, n->addr, n->ip_size) != 0) {
                return RIB_ERR_PREFIX;
            }
            p->plen = n->ip_size == 4 ? 32 : n->ip_size == 16 ? 128 : 0;
        } else if (n->evpn_type == BGP_EVPN_IMET) {
            if (n->ip_size == 0 || set_ip(&p->addr, n->addr, n->ip_size) != 0) {
                return RIB_ERR_PREFIX;
            }
            p->plen = n->ip_size == 4 ? 32 : 128;
        } else if (n->evpn_type == BGP_EVPN_IP_PREFIX) {
            if (n->ip_size == 0 || set_ip(&p->addr, n->addr, n->ip_size) != 0) {
                return RIB_ERR_PREFIX;
            }
            p->plen = n->plen;
        } else {
            return RIB_ERR_FAMILY;
        }
        break;
    case BGP_FAM_RTC:
        p->plen = n->plen;
        p->rt_origin_as = n->origin_as;
        memcpy(p->rt.b, n->rt, 8);
        return 0;
    case BGP_FAM_COUNT:
        return RIB_ERR_FAMILY;
    }
    if (n->family == BGP_FAM_VPNV4 || n->family == BGP_FAM_VPNV6 || n->family == BGP_FAM_EVPN) {
        memcpy(p->rd.b, n->rd, 8);
    }
    return 0;
}

int bgp_conv_nlri(const struct rib_prefix *p, const struct rib_attr *attr, const struct rib_labels *labels,
                  struct bgp_nlri *n)
{
    struct rib_labels own = {0};
    if (!labels) {
        if (attr) {
            own.label = attr->label;
            own.l3_label = attr->l3_label;
            own.vni = attr->vni;
        }
        labels = &own;
    }
    memset(n, 0, sizeof *n);
    int f = bgp_conv_bgp_family(p->family);
    if (f < 0) {
        return RIB_ERR_FAMILY;
    }
    n->family = (uint8_t)f;
    uint32_t label = labels->label;
    /* EVPN over VXLAN carries the VNI itself in the label field (RFC 8365),
     * which BGP_LABEL() would shift: pre-shift it back. */
    bool vni = attr && (attr->flags & RIB_ATTR_HAS_VNI) && !(attr->flags & RIB_ATTR_HAS_LABEL);
    switch ((enum bgp_family)f) {
    case BGP_FAM_VPNV4:
    case BGP_FAM_VPNV6:
        n->label_count = 1;
        n->labels[0] = attr ? BGP_LABEL(label, true) : BGP_LABEL_WITHDRAW;
        /* fall through */
    case BGP_FAM_IPV4_UNICAST:
    case BGP_FAM_IPV6_UNICAST:
        n->plen = p->plen;
        memcpy(n->addr, p->addr.b, p->addr.af == 6 ? 16 : 4);
        break;
    case BGP_FAM_EVPN:
        n->evpn_type = p->evpn.type;
        n->eth_tag = p->evpn.eth_tag;
        n->ip_size = p->addr.af == 4 ? 4 : p->addr.af == 6 ? 16 : 0;
        memcpy(n->addr, p->addr.b, n->ip_size);
        if (p->evpn.type == BGP_EVPN_MAC_IP) {
            memcpy(n->mac, p->evpn.mac, 6);
            n->label_count = 1;
            n->labels[0] = vni ? labels->vni & 0xFFFFFFu : BGP_LABEL(label, true);
            if (attr && (attr->flags & RIB_ATTR_HAS_L3_LABEL)) {
                n->labels[0] = vni ? labels->vni & 0xFFFFFFu : BGP_LABEL(label, false);
                n->labels[1] = BGP_LABEL(labels->l3_label, true);
                n->label_count = 2;
            }
        } else if (p->evpn.type == BGP_EVPN_IP_PREFIX) {
            n->plen = p->plen;
            n->label_count = 1;
            n->labels[0] = vni ? labels->vni & 0xFFFFFFu : BGP_LABEL(label, true);
        } else if (p->evpn.type != BGP_EVPN_IMET) {
            return RIB_ERR_FAMILY;
        }
        break;
    case BGP_FAM_RTC:
        n->plen = p->plen;
        n->origin_as = p->rt_origin_as;
        memcpy(n->rt, p->rt.b, 8);
        return 0;
    case BGP_FAM_COUNT:
        return RIB_ERR_FAMILY;
    }
    if (f == BGP_FAM_VPNV4 || f == BGP_FAM_VPNV6 || f == BGP_FAM_EVPN) {
        memcpy(n->rd, p->rd.b, 8);
    }
    return 0;
}

/* The next hop of an MP_REACH_NLRI: VPN forms start with an 8-byte zero RD;
 * a 32/48-byte form carries a link-local second address, ignored here. */
static int mp_next_hop(const struct bgp_mp *mp, struct rib_addr *a)
{
    const uint8_t *nh = mp->nh;
    size_t size = mp->nh_size;
    if (mp->family == BGP_FAM_VPNV4 || mp->family == BGP_FAM_VPNV6) {
        if (size < 8) {
            return RIB_ERR_ATTR;
        }
        nh += 8;
        size -= 8;
        if (size == 40) {
            size = 16;
        }
    }
    if (size == 32) {
        size = 16;
    }
    return set_ip(a, nh, (unsigned)size) == 0 && size != 0 ? 0 : RIB_ERR_ATTR;
}

int bgp_conv_attr(const struct bgp_update *u, const struct bgp_mp *mp, bool ebgp, struct bgp_conv_attr *out)
{
    const struct bgp_attrs *b = &u->attrs;
    struct rib_attr *a = &out->a;
    memset(a, 0, sizeof *a);
    a->origin = b->origin;
    if (b->as_path.seg_count > BGP_CONV_AS_SEGS) {
        return RIB_ERR_LIMIT;
    }
    size_t at = 0;
    for (size_t i = 0; i < b->as_path.seg_count; i++) {
        out->segs[i].type = b->as_path.segs[i].type;
        out->segs[i].len = b->as_path.segs[i].len;
        out->segs[i].asns = b->as_path.asns + at;
        at += b->as_path.segs[i].len;
    }
    if (at > b->as_path.as_count) {
        return RIB_ERR_ATTR;
    }
    a->as_path = out->segs;
    a->as_path_len = b->as_path.seg_count;
    if (b->present & BGP_ATTR_BIT(BGP_ATTR_MED)) {
        a->flags |= RIB_ATTR_HAS_MED;
        a->med = b->med;
    }
    if (!ebgp && (b->present & BGP_ATTR_BIT(BGP_ATTR_LOCAL_PREF))) {
        a->flags |= RIB_ATTR_HAS_LOCAL_PREF;
        a->local_pref = b->local_pref;
    }
    a->comms = b->communities;
    a->comms_len = b->community_count;
    if (b->ext_community_count > BGP_CONV_EXTS) {
        return RIB_ERR_LIMIT;
    }
    for (size_t i = 0; i < b->ext_community_count; i++) {
        uint64_t ec = b->ext_communities[i];
        for (int k = 0; k < 8; k++) {
            out->exts[i].b[k] = (uint8_t)(ec >> (56 - 8 * k));
        }
        if (bgp_ext_type(ec) == BGP_EXT_MAC_MOBILITY) {
            a->seq = (uint32_t)ec;
        }
    }
    a->exts = out->exts;
    a->exts_len = b->ext_community_count;
    if (b->present & BGP_ATTR_BIT(BGP_ATTR_ORIGINATOR_ID)) {
        a->flags |= RIB_ATTR_HAS_ORIGINATOR;
        a->originator_id = b->originator_id;
    }
    a->cluster_list = b->cluster_list;
    a->cluster_len = b->cluster_count;
    if (mp) {
        return mp_next_hop(mp, &a->nexthop);
    }
    if (!(b->present & BGP_ATTR_BIT(BGP_ATTR_NEXT_HOP))) {
        return RIB_ERR_ATTR;
    }
    a->nexthop.af = 4;
    a->nexthop.b[0] = (uint8_t)(b->next_hop >> 24);
    a->nexthop.b[1] = (uint8_t)(b->next_hop >> 16);
    a->nexthop.b[2] = (uint8_t)(b->next_hop >> 8);
    a->nexthop.b[3] = (uint8_t)b->next_hop;
    return 0;
}

/* True when the set carries the VXLAN encapsulation extended community. */
static bool has_vxlan(const struct rib_attr *a)
{
    for (size_t i = 0; i < a->exts_len; i++) {
        const uint8_t *e = a->exts[i].b;
        if (e[0] == 0x03 && e[1] == 0x0c && e[6] == 0 && e[7] == BGP_TUNNEL_VXLAN) {
            return true;
        }
    }
    return false;
}

void bgp_conv_attr_labels(struct bgp_conv_attr *c, const struct bgp_nlri *n, struct rib_labels *labels)
{
    struct rib_attr *a = &c->a;
    a->flags &= (uint16_t)~(RIB_ATTR_HAS_LABEL | RIB_ATTR_HAS_L3_LABEL | RIB_ATTR_HAS_VNI);
    a->label = 0;
    a->l3_label = 0;
    a->vni = 0;
    memset(labels, 0, sizeof *labels);
    if (n->label_count >= 1) {
        if (n->family == BGP_FAM_EVPN && has_vxlan(a)) {
            /* RFC 8365 §5.1.3: with VXLAN the 24-bit field is the VNI. */
            a->flags |= RIB_ATTR_HAS_VNI;
            labels->vni = n->labels[0] & 0xFFFFFFu;
        } else {
            a->flags |= RIB_ATTR_HAS_LABEL;
            labels->label = BGP_LABEL_VALUE(n->labels[0]);
        }
    }
    if (n->label_count >= 2) {
        a->flags |= RIB_ATTR_HAS_L3_LABEL;
        labels->l3_label = BGP_LABEL_VALUE(n->labels[1]);
    }
}

int bgp_conv_export_attr(const struct rib_attr *a, enum bgp_family f, const struct bgp_conv_export *x,
                         struct bgp_conv_out *o, struct bgp_mp *mp)
{
    struct bgp_attrs *b = &o->attrs;
    memset(b, 0, sizeof *b);
    b->present = BGP_ATTR_BIT(BGP_ATTR_ORIGIN) | BGP_ATTR_BIT(BGP_ATTR_AS_PATH);
    b->origin = a->origin;
    /* AS path, with our AS prepended towards an external peer. */
    size_t segs = 0, asns = 0;
    if (x->ebgp) {
        bool merge = a->as_path_len > 0 && a->as_path[0].type == RIB_AS_SEQUENCE && a->as_path[0].len < 255;
        o->segs[0].type = BGP_AS_SEQUENCE;
        o->segs[0].len = 1;
        o->asns[asns++] = x->local_as;
        segs = 1;
        for (size_t i = 0; i < a->as_path_len; i++) {
            if (asns + a->as_path[i].len > BGP_CONV_OUT_ASNS || segs >= BGP_CONV_AS_SEGS + 1) {
                return RIB_ERR_LIMIT;
            }
            memcpy(o->asns + asns, a->as_path[i].asns, a->as_path[i].len * sizeof(uint32_t));
            asns += a->as_path[i].len;
            if (i == 0 && merge) {
                o->segs[0].len = (uint8_t)(1 + a->as_path[0].len);
            } else {
                o->segs[segs].type = a->as_path[i].type;
                o->segs[segs].len = a->as_path[i].len;
                segs++;
            }
        }
    } else {
        for (size_t i = 0; i < a->as_path_len; i++) {
            if (asns + a->as_path[i].len > BGP_CONV_OUT_ASNS || segs >= BGP_CONV_AS_SEGS + 1) {
                return RIB_ERR_LIMIT;
            }
            memcpy(o->asns + asns, a->as_path[i].asns, a->as_path[i].len * sizeof(uint32_t));
            asns += a->as_path[i].len;
            o->segs[segs].type = a->as_path[i].type;
            o->segs[segs].len = a->as_path[i].len;
            segs++;
        }
    }
    b->as_path.segs = o->segs;
    b->as_path.seg_count = segs;
    b->as_path.asns = o->asns;
    b->as_path.as_count = asns;
    if (!x->ebgp) {
        b->present |= BGP_ATTR_BIT(BGP_ATTR_LOCAL_PREF);
        b->local_pref = (a->flags & RIB_ATTR_HAS_LOCAL_PREF) ? a->local_pref : 100;
        if (a->flags & RIB_ATTR_HAS_MED) {
            b->present |= BGP_ATTR_BIT(BGP_ATTR_MED);
            b->med = a->med;
        }
    }
    if (a->comms_len > 0) {
        if (a->comms_len > sizeof o->comms / sizeof o->comms[0]) {
            return RIB_ERR_LIMIT;
        }
        memcpy(o->comms, a->comms, a->comms_len * sizeof(uint32_t));
        b->present |= BGP_ATTR_BIT(BGP_ATTR_COMMUNITIES);
        b->communities = o->comms;
        b->community_count = a->comms_len;
    }
    if (a->exts_len > 0) {
        if (a->exts_len > BGP_CONV_EXTS) {
            return RIB_ERR_LIMIT;
        }
        for (size_t i = 0; i < a->exts_len; i++) {
            uint64_t ec = 0;
            for (int k = 0; k < 8; k++) {
                ec = (ec << 8) | a->exts[i].b[k];
            }
            o->exts[i] = ec;
        }
        b->present |= BGP_ATTR_BIT(BGP_ATTR_EXT_COMMUNITIES);
        b->ext_communities = o->exts;
        b->ext_community_count = a->exts_len;
    }
    if (!x->ebgp && x->reflect) {
        b->present |= BGP_ATTR_BIT(BGP_ATTR_ORIGINATOR_ID) | BGP_ATTR_BIT(BGP_ATTR_CLUSTER_LIST);
        b->originator_id = (a->flags & RIB_ATTR_HAS_ORIGINATOR) ? a->originator_id : x->originator_id;
        if (a->cluster_len + 1 > sizeof o->clusters / sizeof o->clusters[0]) {
            return RIB_ERR_LIMIT;
        }
        o->clusters[0] = x->cluster_id;
        if (a->cluster_len > 0) {
            memcpy(o->clusters + 1, a->cluster_list, a->cluster_len * sizeof(uint32_t));
        }
        b->cluster_list = o->clusters;
        b->cluster_count = a->cluster_len + 1;
    } else if (!x->ebgp && a->cluster_len > 0) {
        /* iBGP towards a non-client keeps what reflection added upstream. */
        if (a->cluster_len > sizeof o->clusters / sizeof o->clusters[0]) {
            return RIB_ERR_LIMIT;
        }
        memcpy(o->clusters, a->cluster_list, a->cluster_len * sizeof(uint32_t));
        b->present |= BGP_ATTR_BIT(BGP_ATTR_CLUSTER_LIST);
        b->cluster_list = o->clusters;
        b->cluster_count = a->cluster_len;
        if (a->flags & RIB_ATTR_HAS_ORIGINATOR) {
            b->present |= BGP_ATTR_BIT(BGP_ATTR_ORIGINATOR_ID);
            b->originator_id = a->originator_id;
        }
    }
    /* Next hop. */
    const struct rib_addr *nh = x->next_hop_self || a->nexthop.af == 0 ? &x->self : &a->nexthop;
    if (nh->af != 4 && nh->af != 6) {
        return RIB_ERR_ATTR;
    }
    memset(mp, 0, sizeof *mp);
    mp->family = (uint8_t)f;
    mp->afi = bgp_family_afi(f);
    mp->safi = bgp_family_safi(f);
    switch (f) {
    case BGP_FAM_IPV4_UNICAST:
        if (nh->af != 4) {
            return RIB_ERR_ATTR;
        }
        b->present |= BGP_ATTR_BIT(BGP_ATTR_NEXT_HOP);
        b->next_hop = (uint32_t)nh->b[0] << 24 | (uint32_t)nh->b[1] << 16 | (uint32_t)nh->b[2] << 8 | nh->b[3];
        break;
    case BGP_FAM_VPNV4:
        mp->nh_size = nh->af == 4 ? 12 : 24;
        memcpy(mp->nh + 8, nh->b, nh->af == 4 ? 4 : 16);
        break;
    case BGP_FAM_VPNV6:
        mp->nh_size = 24;
        if (nh->af == 4) { /* IPv4-mapped IPv6 (RFC 4659 §3.2.1.2) */
            mp->nh[8 + 10] = 0xff;
            mp->nh[8 + 11] = 0xff;
            memcpy(mp->nh + 8 + 12, nh->b, 4);
        } else {
            memcpy(mp->nh + 8, nh->b, 16);
        }
        break;
    case BGP_FAM_IPV6_UNICAST:
        if (nh->af != 6) {
            return RIB_ERR_ATTR;
        }
        mp->nh_size = 16;
        memcpy(mp->nh, nh->b, 16);
        break;
    case BGP_FAM_EVPN:
    case BGP_FAM_RTC:
        mp->nh_size = nh->af == 4 ? 4 : 16;
        memcpy(mp->nh, nh->b, mp->nh_size);
        break;
    case BGP_FAM_COUNT:
        return RIB_ERR_FAMILY;
    }
    return 0;
}

/* BGP-4 message codec (see bgp_msg.h): framing, the decoders that turn peer
 * bytes into struct bgp_msg through lib/buf.h's checked cursor and classify
 * UPDATE errors per RFC 7606, and the encoders that write the canonical form
 * of each message (what the decoder reads back to the same structure). */
#include "routing/bgp/bgp_msg.h"

#include <stdlib.h>
#include <string.h>

STRATA_ERR_DEFINE(bgp, BGP_ERRORS)

/* ------------------------------------------------------------------ */
/* families                                                            */

static const struct {
    uint16_t afi;
    uint8_t safi;
    const char *name;
} bgp_families[BGP_FAM_COUNT] = {
    [BGP_FAM_IPV4_UNICAST] = {BGP_AFI_IPV4, BGP_SAFI_UNICAST, "ipv4-unicast"},
    [BGP_FAM_IPV6_UNICAST] = {BGP_AFI_IPV6, BGP_SAFI_UNICAST, "ipv6-unicast"},
    [BGP_FAM_VPNV4] = {BGP_AFI_IPV4, BGP_SAFI_MPLS_VPN, "vpnv4"},
    [BGP_FAM_VPNV6] = {BGP_AFI_IPV6, BGP_SAFI_MPLS_VPN, "vpnv6"},
    [BGP_FAM_EVPN] = {BGP_AFI_L2VPN, BGP_SAFI_EVPN, "evpn"},
    [BGP_FAM_RTC] = {BGP_AFI_IPV4, BGP_SAFI_RT_CONSTRAINT, "rtc"},
};

int bgp_family_from_afi_safi(uint16_t afi, uint8_t safi)
{
    for (int f = 0; f < BGP_FAM_COUNT; f++) {
        if (bgp_families[f].afi == afi && bgp_families[f].safi == safi) {
            return f;
        }
    }
    return -1;
}

uint16_t bgp_family_afi(enum bgp_family f)
{
    return bgp_families[f].afi;
}

uint8_t bgp_family_safi(enum bgp_family f)
{
    return bgp_families[f].safi;
}

const char *bgp_family_name(int f)
{
    return f >= 0 && f < BGP_FAM_COUNT ? bgp_families[f].name : "unknown";
}

const char *bgp_msg_type_name(unsigned type)
{
    switch (type) {
    case BGP_MSG_OPEN:
        return "OPEN";
    case BGP_MSG_UPDATE:
        return "UPDATE";
    case BGP_MSG_NOTIFICATION:
        return "NOTIFICATION";
    case BGP_MSG_KEEPALIVE:
        return "KEEPALIVE";
    case BGP_MSG_ROUTE_REFRESH:
        return "ROUTE-REFRESH";
    default:
        return "unknown";
    }
}

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static void notify_set(struct bgp_notification *n, uint8_t code, uint8_t subcode, const uint8_t *data,
                       size_t size)
{
    if (!n) {
        return;
    }
    n->code = code;
    n->subcode = subcode;
    if (size > sizeof n->data) {
        size = sizeof n->data;
    }
    if (size > 0 && data) {
        memcpy(n->data, data, size);
    } else {
        size = 0;
    }
    n->data_size = (uint16_t)size;
}

static void notify_set_u16(struct bgp_notification *n, uint8_t code, uint8_t subcode, uint16_t v)
{
    uint8_t d[2];
    be16_store(d, v);
    notify_set(n, code, subcode, d, 2);
}

static int get_u24(struct cursor *c, uint32_t *v)
{
    uint8_t b[3];
    int rc = buf_get_bytes(c, b, 3);
    if (rc == 0) {
        *v = ((uint32_t)b[0] << 16) | ((uint32_t)b[1] << 8) | b[2];
    }
    return rc;
}

static int put_u24(struct buf *b, uint32_t v)
{
    uint8_t d[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return buf_put(b, d, 3);
}

/* Clears the bits of 'addr' ('size' bytes) past the first 'plen'. */
static void prefix_mask(uint8_t *addr, size_t size, unsigned plen)
{
    for (size_t i = 0; i < size; i++) {
        unsigned lo = (unsigned)i * 8;
        if (plen <= lo) {
            addr[i] = 0;
        } else if (plen < lo + 8) {
            addr[i] &= (uint8_t)(0xFF << (lo + 8 - plen));
        }
    }
}

/* Writes the 19-byte header with a zero length; '*start' marks it. */
static int hdr_begin(struct buf *out, uint8_t type, size_t *start)
{
    static const uint8_t marker[BGP_MARKER_SIZE] = {
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    };
    *start = out->size;
    int rc = buf_put(out, marker, sizeof marker);
    if (rc == 0) {
        rc = buf_put_u16(out, 0);
    }
    if (rc == 0) {
        rc = buf_put_u8(out, type);
    }
    return rc;
}

/* Patches the header's length; BGP_ERR_TOO_BIG above the cap. */
static int hdr_end(struct buf *out, size_t start)
{
    size_t size = out->size - start;
    if (size > BGP_MAX_MSG_SIZE) {
        return BGP_ERR_TOO_BIG;
    }
    be16_store(out->data + start + BGP_MARKER_SIZE, (uint16_t)size);
    return 0;
}

int bgp_rd_make(uint8_t rd[8], uint16_t type, uint32_t admin, uint32_t assigned)
{
    be16_store(rd, type);
    switch (type) {
    case BGP_RD_AS2:
        if (admin > 0xFFFF) {
            return BGP_ERR_INVALID;
        }
        be16_store(rd + 2, (uint16_t)admin);
        be32_store(rd + 4, assigned);
        return 0;
    case BGP_RD_IP4:
    case BGP_RD_AS4:
        if (assigned > 0xFFFF) {
            return BGP_ERR_INVALID;
        }
        be32_store(rd + 2, admin);
        be16_store(rd + 6, (uint16_t)assigned);
        return 0;
    default:
        return BGP_ERR_INVALID;
    }
}

/* ------------------------------------------------------------------ */
/* extended communities                                                */

int bgp_ext_rt_as2(uint16_t as, uint32_t assigned, uint64_t *ec)
{
    *ec = ((uint64_t)BGP_EXT_RT_AS2 << 48) | ((uint64_t)as << 32) | assigned;
    return 0;
}

int bgp_ext_rt_ip4(uint32_t ip, uint16_t assigned, uint64_t *ec)
{
    *ec = ((uint64_t)BGP_EXT_RT_IP4 << 48) | ((uint64_t)ip << 16) | assigned;
    return 0;
}

int bgp_ext_rt_as4(uint32_t as, uint16_t assigned, uint64_t *ec)
{
    *ec = ((uint64_t)BGP_EXT_RT_AS4 << 48) | ((uint64_t)as << 16) | assigned;
    return 0;
}

bool bgp_ext_rt_get(uint64_t ec, uint32_t *admin, uint32_t *assigned)
{
    switch (bgp_ext_type(ec)) {
    case BGP_EXT_RT_AS2:
        *admin = (uint32_t)(ec >> 32) & 0xFFFF;
        *assigned = (uint32_t)ec;
        return true;
    case BGP_EXT_RT_IP4:
    case BGP_EXT_RT_AS4:
        *admin = (uint32_t)(ec >> 16);
        *assigned = (uint32_t)ec & 0xFFFF;
        return true;
    default:
        return false;
    }
}

uint64_t bgp_ext_encap(uint16_t tunnel_type)
{
    return ((uint64_t)BGP_EXT_ENCAP << 48) | tunnel_type;
}

uint64_t bgp_ext_mac_mobility(uint32_t seq, uint8_t flags)
{
    return ((uint64_t)BGP_EXT_MAC_MOBILITY << 48) | ((uint64_t)flags << 40) | seq;
}

uint64_t bgp_ext_router_mac(const uint8_t mac[6])
{
    uint64_t ec = (uint64_t)BGP_EXT_ROUTER_MAC << 48;
    for (int i = 0; i < 6; i++) {
        ec |= (uint64_t)mac[i] << (40 - 8 * i);
    }
    return ec;
}

/* ------------------------------------------------------------------ */
/* framing                                                             */

int bgp_msg_frame(const uint8_t *data, size_t size, size_t *msg_size, struct bgp_notification *err)
{
    struct cursor c;
    cursor_init(&c, data, size);
    if (size < BGP_HDR_SIZE) {
        return BGP_ERR_AGAIN;
    }
    const uint8_t *marker;
    uint16_t len;
    uint8_t type;
    if (buf_get_view(&c, BGP_MARKER_SIZE, &marker) != 0 || buf_get_u16(&c, &len) != 0 ||
        buf_get_u8(&c, &type) != 0) {
        return BGP_ERR_AGAIN;
    }
    for (int i = 0; i < BGP_MARKER_SIZE; i++) {
        if (marker[i] != 0xFF) {
            notify_set(err, BGP_NOTIFY_HEADER, BGP_HEADER_NOT_SYNC, NULL, 0);
            return BGP_ERR_HEADER;
        }
    }
    bool ok;
    switch (type) {
    case BGP_MSG_OPEN:
        ok = len >= 29;
        break;
    case BGP_MSG_UPDATE:
        ok = len >= 23;
        break;
    case BGP_MSG_NOTIFICATION:
        ok = len >= 21;
        break;
    case BGP_MSG_KEEPALIVE:
        ok = len == BGP_HDR_SIZE;
        break;
    case BGP_MSG_ROUTE_REFRESH:
        ok = len >= 23;
        break;
    default:
        notify_set(err, BGP_NOTIFY_HEADER, BGP_HEADER_BAD_TYPE, &type, 1);
        return BGP_ERR_HEADER;
    }
    if (!ok || len > BGP_MAX_MSG_SIZE) {
        notify_set_u16(err, BGP_NOTIFY_HEADER, BGP_HEADER_BAD_LENGTH, len);
        return BGP_ERR_HEADER;
    }
    *msg_size = len;
    return 0;
}

/* ------------------------------------------------------------------ */
/* OPEN                                                                */

static int open_fail(struct bgp_notification *err, uint8_t subcode)
{
    notify_set(err, BGP_NOTIFY_OPEN, subcode, NULL, 0);
    return BGP_ERR_OPEN;
}

static int open_caps_decode(struct cursor *c, struct bgp_open *o, uint32_t *as4)
{
    while (cursor_remaining(c) > 0) {
        uint8_t code, len;
        struct cursor v;
        if (buf_get_u8(c, &code) != 0 || buf_get_u8(c, &len) != 0 || buf_get_sub(c, len, &v) != 0) {
            return -1;
        }
        switch (code) {
        case BGP_CAP_MP: {
            uint16_t afi;
            uint8_t res, safi;
            if (len != 4 || o->mp_count == BGP_OPEN_MAX_AF || buf_get_u16(&v, &afi) != 0 ||
                buf_get_u8(&v, &res) != 0 || buf_get_u8(&v, &safi) != 0) {
                return -1;
            }
            o->mp[o->mp_count++] = (struct bgp_afi_safi){afi, safi};
            break;
        }
        case BGP_CAP_ROUTE_REFRESH:
            if (len != 0) {
                return -1;
            }
            o->has_route_refresh = true;
            break;
        case BGP_CAP_AS4: {
            uint32_t as;
            if (len != 4 || buf_get_u32(&v, &as) != 0) {
                return -1;
            }
            if (!o->has_as4) {
                o->has_as4 = true;
                *as4 = as;
            }
            break;
        }
        case BGP_CAP_GR: {
            uint16_t ft;
            if (len < 2 || (len - 2) % 4 != 0 || (len - 2) / 4 > BGP_OPEN_MAX_AF ||
                buf_get_u16(&v, &ft) != 0) {
                return -1;
            }
            if (o->has_gr) {
                break;
            }
            o->has_gr = true;
            o->gr_flags = (uint8_t)(ft >> 12);
            o->gr_restart_time = ft & 0x0FFF;
            while (cursor_remaining(&v) > 0) {
                struct bgp_gr_af *a = &o->gr_af[o->gr_af_count++];
                if (buf_get_u16(&v, &a->afi) != 0 || buf_get_u8(&v, &a->safi) != 0 ||
                    buf_get_u8(&v, &a->flags) != 0) {
                    return -1;
                }
            }
            break;
        }
        case BGP_CAP_LLGR:
            if (len % 7 != 0 || len / 7 > BGP_OPEN_MAX_AF) {
                return -1;
            }
            if (o->has_llgr) {
                break;
            }
            o->has_llgr = true;
            while (cursor_remaining(&v) > 0) {
                struct bgp_gr_af *a = &o->llgr_af[o->llgr_af_count++];
                if (buf_get_u16(&v, &a->afi) != 0 || buf_get_u8(&v, &a->safi) != 0 ||
                    buf_get_u8(&v, &a->flags) != 0 || get_u24(&v, &a->stale_time) != 0) {
                    return -1;
                }
            }
            break;
        default: {
            const uint8_t *p;
            if (o->raw_count == BGP_OPEN_MAX_RAW || buf_get_view(&v, len, &p) != 0) {
                return -1;
            }
            o->raw[o->raw_count++] = (struct bgp_cap_raw){code, len, p};
            break;
        }
        }
    }
    return 0;
}

static int open_decode(struct cursor *c, struct bgp_open *o, struct bgp_notification *err)
{
    uint16_t my_as;
    uint8_t optlen;
    struct cursor params;
    uint32_t as4 = 0;
    memset(o, 0, sizeof *o);
    if (buf_get_u8(c, &o->version) != 0 || buf_get_u16(c, &my_as) != 0 || buf_get_u16(c, &o->hold_time) != 0 ||
        buf_get_u32(c, &o->bgp_id) != 0 || buf_get_u8(c, &optlen) != 0) {
        notify_set_u16(err, BGP_NOTIFY_HEADER, BGP_HEADER_BAD_LENGTH, 0);
        return BGP_ERR_OPEN;
    }
    if (o->version != BGP_VERSION) {
        notify_set_u16(err, BGP_NOTIFY_OPEN, BGP_OPEN_BAD_VERSION, BGP_VERSION);
        return BGP_ERR_OPEN;
    }
    if (buf_get_sub(c, optlen, &params) != 0 || cursor_remaining(c) != 0) {
        return open_fail(err, BGP_OPEN_UNSPECIFIC);
    }
    while (cursor_remaining(&params) > 0) {
        uint8_t type, len;
        struct cursor v;
        if (buf_get_u8(&params, &type) != 0 || buf_get_u8(&params, &len) != 0 ||
            buf_get_sub(&params, len, &v) != 0) {
            return open_fail(err, BGP_OPEN_UNSPECIFIC);
        }
        if (type != 2) {
            return open_fail(err, BGP_OPEN_UNSUPPORTED_PARAM);
        }
        if (open_caps_decode(&v, o, &as4) != 0) {
            return open_fail(err, BGP_OPEN_UNSPECIFIC);
        }
    }
    o->as = o->has_as4 ? as4 : my_as;
    if (my_as == 0 || o->as == 0) {
        return open_fail(err, BGP_OPEN_BAD_PEER_AS);
    }
    if (o->hold_time == 1 || o->hold_time == 2) {
        return open_fail(err, BGP_OPEN_BAD_HOLD_TIME);
    }
    if (o->bgp_id == 0) {
        return open_fail(err, BGP_OPEN_BAD_BGP_ID);
    }
    return 0;
}

static int cap_put(struct buf *b, uint8_t code, const uint8_t *v, size_t size)
{
    if (size > 255) {
        return BGP_ERR_INVALID;
    }
    int rc = buf_put_u8(b, code);
    if (rc == 0) {
        rc = buf_put_u8(b, (uint8_t)size);
    }
    if (rc == 0 && size > 0) {
        rc = buf_put(b, v, size);
    }
    return rc;
}

/* Appends each capability of 'o' to 'caps' and records where each ends. */
static int open_caps_encode(const struct bgp_open *o, struct buf *caps, size_t *ends, size_t *count)
{
    uint8_t v[BGP_OPEN_MAX_AF * 7 + 2];
    int rc = 0;
    size_t n = 0;
    if (o->mp_count > BGP_OPEN_MAX_AF || o->gr_af_count > BGP_OPEN_MAX_AF ||
        o->llgr_af_count > BGP_OPEN_MAX_AF || o->raw_count > BGP_OPEN_MAX_RAW) {
        return BGP_ERR_INVALID;
    }
    for (size_t i = 0; rc == 0 && i < o->mp_count; i++) {
        be16_store(v, o->mp[i].afi);
        v[2] = 0;
        v[3] = o->mp[i].safi;
        rc = cap_put(caps, BGP_CAP_MP, v, 4);
        ends[n++] = caps->size;
    }
    if (rc == 0 && o->has_route_refresh) {
        rc = cap_put(caps, BGP_CAP_ROUTE_REFRESH, NULL, 0);
        ends[n++] = caps->size;
    }
    if (rc == 0 && o->has_as4) {
        be32_store(v, o->as);
        rc = cap_put(caps, BGP_CAP_AS4, v, 4);
        ends[n++] = caps->size;
    }
    if (rc == 0 && o->has_gr) {
        if (o->gr_restart_time > BGP_GR_MAX_RESTART_TIME || o->gr_flags > 0xF) {
            return BGP_ERR_INVALID;
        }
        be16_store(v, (uint16_t)((o->gr_flags << 12) | o->gr_restart_time));
        for (size_t i = 0; i < o->gr_af_count; i++) {
            be16_store(v + 2 + 4 * i, o->gr_af[i].afi);
            v[4 + 4 * i] = o->gr_af[i].safi;
            v[5 + 4 * i] = o->gr_af[i].flags;
        }
        rc = cap_put(caps, BGP_CAP_GR, v, 2 + 4 * o->gr_af_count);
        ends[n++] = caps->size;
    }
    if (rc == 0 && o->has_llgr) {
        for (size_t i = 0; i < o->llgr_af_count; i++) {
            const struct bgp_gr_af *a = &o->llgr_af[i];
            if (a->stale_time > 0xFFFFFF) {
                return BGP_ERR_INVALID;
            }
            be16_store(v + 7 * i, a->afi);
            v[7 * i + 2] = a->safi;
            v[7 * i + 3] = a->flags;
            v[7 * i + 4] = (uint8_t)(a->stale_time >> 16);
            be16_store(v + 7 * i + 5, (uint16_t)a->stale_time);
        }
        rc = cap_put(caps, BGP_CAP_LLGR, v, 7 * o->llgr_af_count);
        ends[n++] = caps->size;
    }
    for (size_t i = 0; rc == 0 && i < o->raw_count; i++) {
        rc = cap_put(caps, o->raw[i].code, o->raw[i].data, o->raw[i].size);
        ends[n++] = caps->size;
    }
    *count = n;
    return rc;
}

static int open_encode(const struct bgp_open *o, struct buf *out)
{
    struct buf caps;
    size_t ends[3 * BGP_OPEN_MAX_AF + BGP_OPEN_MAX_RAW + 4];
    size_t count = 0;
    if (o->as == 0 || (o->as > 0xFFFF && !o->has_as4) || o->hold_time == 1 || o->hold_time == 2) {
        return BGP_ERR_INVALID;
    }
    buf_init(&caps, 0);
    int rc = open_caps_encode(o, &caps, ends, &count);
    /* Greedy packing of whole capabilities into parameters of <= 255 bytes. */
    uint8_t params[255];
    size_t psize = 0, from = 0;
    for (size_t i = 0; rc == 0 && i < count;) {
        size_t to = i;
        while (to < count && ends[to] - from <= 255) {
            to++;
        }
        size_t vsize = ends[to - 1] - from;
        if (to == i || psize + 2 + vsize > sizeof params) {
            rc = BGP_ERR_TOO_BIG;
            break;
        }
        params[psize++] = 2;
        params[psize++] = (uint8_t)vsize;
        memcpy(params + psize, caps.data + from, vsize);
        psize += vsize;
        from = ends[to - 1];
        i = to;
    }
    buf_destroy(&caps);
    if (rc == 0) {
        rc = buf_put_u8(out, o->version);
    }
    if (rc == 0) {
        rc = buf_put_u16(out, o->as > 0xFFFF ? (uint16_t)BGP_AS_TRANS : (uint16_t)o->as);
    }
    if (rc == 0) {
        rc = buf_put_u16(out, o->hold_time);
    }
    if (rc == 0) {
        rc = buf_put_u32(out, o->bgp_id);
    }
    if (rc == 0) {
        rc = buf_put_u8(out, (uint8_t)psize);
    }
    if (rc == 0 && psize > 0) {
        rc = buf_put(out, params, psize);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* NLRI                                                                */

/* Decodes one NLRI of 'family' into 'n'; 'withdraw' selects the RFC 8277
 * single-label form for labelled withdrawals. Returns 0 or -1 (malformed). */
static int nlri_decode_one(struct cursor *c, int family, bool withdraw, struct bgp_nlri *n)
{
    memset(n, 0, sizeof *n);
    n->family = (uint8_t)family;
    switch ((enum bgp_family)family) {
    case BGP_FAM_IPV4_UNICAST:
    case BGP_FAM_IPV6_UNICAST: {
        size_t max = family == BGP_FAM_IPV4_UNICAST ? 32 : 128;
        if (buf_get_u8(c, &n->plen) != 0 || n->plen > max ||
            buf_get_bytes(c, n->addr, (n->plen + 7u) / 8) != 0) {
            return -1;
        }
        prefix_mask(n->addr, 16, n->plen);
        return 0;
    }
    case BGP_FAM_VPNV4:
    case BGP_FAM_VPNV6: {
        size_t max = family == BGP_FAM_VPNV4 ? 32 : 128;
        uint8_t bits;
        if (buf_get_u8(c, &bits) != 0) {
            return -1;
        }
        size_t avail = bits;
        for (;;) {
            uint32_t l;
            if (avail < 24 || n->label_count == BGP_MAX_LABELS || get_u24(c, &l) != 0) {
                return -1;
            }
            avail -= 24;
            n->labels[n->label_count++] = l;
            if ((l & BGP_LABEL_BOS) || (withdraw && (l == BGP_LABEL_WITHDRAW || l == 0))) {
                break;
            }
        }
        if (avail < 64 || avail - 64 > max || buf_get_bytes(c, n->rd, 8) != 0) {
            return -1;
        }
        n->plen = (uint8_t)(avail - 64);
        if (buf_get_bytes(c, n->addr, (n->plen + 7u) / 8) != 0) {
            return -1;
        }
        prefix_mask(n->addr, 16, n->plen);
        return 0;
    }
    case BGP_FAM_EVPN: {
        uint8_t len;
        struct cursor r;
        if (buf_get_u8(c, &n->evpn_type) != 0 || buf_get_u8(c, &len) != 0 || buf_get_sub(c, len, &r) != 0) {
            return -1;
        }
        switch (n->evpn_type) {
        case BGP_EVPN_MAC_IP: {
            uint8_t maclen, iplen;
            if (buf_get_bytes(&r, n->rd, 8) != 0 || buf_get_bytes(&r, n->esi, 10) != 0 ||
                buf_get_u32(&r, &n->eth_tag) != 0 || buf_get_u8(&r, &maclen) != 0 || maclen != 48 ||
                buf_get_bytes(&r, n->mac, 6) != 0 || buf_get_u8(&r, &iplen) != 0 ||
                (iplen != 0 && iplen != 32 && iplen != 128)) {
                return -1;
            }
            n->ip_size = iplen / 8;
            if (buf_get_bytes(&r, n->addr, n->ip_size) != 0 ||
                (cursor_remaining(&r) != 3 && cursor_remaining(&r) != 6)) {
                return -1;
            }
            while (cursor_remaining(&r) > 0) {
                if (get_u24(&r, &n->labels[n->label_count++]) != 0) {
                    return -1;
                }
            }
            return 0;
        }
        case BGP_EVPN_IMET: {
            uint8_t iplen;
            if (buf_get_bytes(&r, n->rd, 8) != 0 || buf_get_u32(&r, &n->eth_tag) != 0 ||
                buf_get_u8(&r, &iplen) != 0 || (iplen != 32 && iplen != 128)) {
                return -1;
            }
            n->ip_size = iplen / 8;
            if (buf_get_bytes(&r, n->addr, n->ip_size) != 0 || cursor_remaining(&r) != 0) {
                return -1;
            }
            return 0;
        }
        case BGP_EVPN_IP_PREFIX: {
            if (len != 34 && len != 58) {
                return -1;
            }
            n->ip_size = len == 34 ? 4 : 16;
            n->label_count = 1;
            if (buf_get_bytes(&r, n->rd, 8) != 0 || buf_get_bytes(&r, n->esi, 10) != 0 ||
                buf_get_u32(&r, &n->eth_tag) != 0 || buf_get_u8(&r, &n->plen) != 0 ||
                n->plen > n->ip_size * 8 || buf_get_bytes(&r, n->addr, n->ip_size) != 0 ||
                buf_get_bytes(&r, n->gw, n->ip_size) != 0 || get_u24(&r, &n->labels[0]) != 0) {
                return -1;
            }
            prefix_mask(n->addr, 16, n->plen);
            return 0;
        }
        default:
            /* Route types we do not interpret travel opaque (type + value). */
            n->raw_size = len;
            return buf_get_view(&r, len, &n->raw) == 0 ? 0 : -1;
        }
    }
    case BGP_FAM_RTC:
        if (buf_get_u8(c, &n->plen) != 0 || (n->plen > 0 && n->plen < 32) || n->plen > 96) {
            return -1;
        }
        if (n->plen == 0) {
            return 0;
        }
        if (buf_get_u32(c, &n->origin_as) != 0 || buf_get_bytes(c, n->rt, (n->plen - 32u + 7) / 8) != 0) {
            return -1;
        }
        prefix_mask(n->rt, 8, n->plen - 32u);
        return 0;
    case BGP_FAM_COUNT:
        break;
    }
    return -1;
}

/* Decodes every NLRI of 'family' in 'c' into a new array in 'list' (two
 * passes: validate and count, then fill). Returns 0, -1 when malformed, or
 * BGP_ERR_NOMEM. */
static int nlri_decode_list(struct cursor c, int family, bool withdraw, struct bgp_nlri_list *list)
{
    struct cursor scan = c;
    struct bgp_nlri tmp;
    size_t count = 0;
    list->v = NULL;
    list->count = 0;
    while (cursor_remaining(&scan) > 0) {
        if (nlri_decode_one(&scan, family, withdraw, &tmp) != 0) {
            return -1;
        }
        count++;
    }
    if (count == 0) {
        return 0;
    }
    list->v = calloc(count, sizeof *list->v);
    if (!list->v) {
        return BGP_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        if (nlri_decode_one(&c, family, withdraw, &list->v[i]) != 0) {
            abort(); /* the first pass accepted these bytes */
        }
    }
    list->count = count;
    return 0;
}

static int put_prefix(struct buf *out, const uint8_t *addr, unsigned plen)
{
    uint8_t tmp[16];
    memcpy(tmp, addr, 16);
    prefix_mask(tmp, 16, plen);
    return buf_put(out, tmp, (plen + 7) / 8);
}

static int nlri_encode_one(const struct bgp_nlri *n, struct buf *out)
{
    int rc;
    switch ((enum bgp_family)n->family) {
    case BGP_FAM_IPV4_UNICAST:
    case BGP_FAM_IPV6_UNICAST:
        if (n->plen > (n->family == BGP_FAM_IPV4_UNICAST ? 32 : 128)) {
            return BGP_ERR_INVALID;
        }
        rc = buf_put_u8(out, n->plen);
        return rc ? rc : put_prefix(out, n->addr, n->plen);
    case BGP_FAM_VPNV4:
    case BGP_FAM_VPNV6: {
        if (n->plen > (n->family == BGP_FAM_VPNV4 ? 32 : 128) || n->label_count == 0 ||
            n->label_count > BGP_MAX_LABELS) {
            return BGP_ERR_INVALID;
        }
        rc = buf_put_u8(out, (uint8_t)(24 * n->label_count + 64 + n->plen));
        for (size_t i = 0; rc == 0 && i < n->label_count; i++) {
            if (n->labels[i] > 0xFFFFFF || ((n->labels[i] & BGP_LABEL_BOS) && i + 1 < n->label_count)) {
                return BGP_ERR_INVALID;
            }
            rc = put_u24(out, n->labels[i]);
        }
        if (rc == 0) {
            rc = buf_put(out, n->rd, 8);
        }
        return rc ? rc : put_prefix(out, n->addr, n->plen);
    }
    case BGP_FAM_EVPN: {
        size_t start = out->size;
        rc = buf_put_u8(out, n->evpn_type);
        if (rc == 0) {
            rc = buf_put_u8(out, 0);
        }
        switch (n->evpn_type) {
        case BGP_EVPN_MAC_IP:
            if ((n->ip_size != 0 && n->ip_size != 4 && n->ip_size != 16) || n->label_count < 1 ||
                n->label_count > 2) {
                return BGP_ERR_INVALID;
            }
            if (rc == 0) {
                rc = buf_put(out, n->rd, 8);
            }
            if (rc == 0) {
                rc = buf_put(out, n->esi, 10);
            }
            if (rc == 0) {
                rc = buf_put_u32(out, n->eth_tag);
            }
            if (rc == 0) {
                rc = buf_put_u8(out, 48);
            }
            if (rc == 0) {
                rc = buf_put(out, n->mac, 6);
            }
            if (rc == 0) {
                rc = buf_put_u8(out, (uint8_t)(n->ip_size * 8));
            }
            if (rc == 0) {
                rc = buf_put(out, n->addr, n->ip_size);
            }
            for (size_t i = 0; rc == 0 && i < n->label_count; i++) {
                rc = n->labels[i] > 0xFFFFFF ? BGP_ERR_INVALID : put_u24(out, n->labels[i]);
            }
            break;
        case BGP_EVPN_IMET:
            if (n->ip_size != 4 && n->ip_size != 16) {
                return BGP_ERR_INVALID;
            }
            if (rc == 0) {
                rc = buf_put(out, n->rd, 8);
            }
            if (rc == 0) {
                rc = buf_put_u32(out, n->eth_tag);
            }
            if (rc == 0) {
                rc = buf_put_u8(out, (uint8_t)(n->ip_size * 8));
            }
            if (rc == 0) {
                rc = buf_put(out, n->addr, n->ip_size);
            }
            break;
        case BGP_EVPN_IP_PREFIX:
            if ((n->ip_size != 4 && n->ip_size != 16) || n->plen > n->ip_size * 8 || n->label_count != 1 ||
                n->labels[0] > 0xFFFFFF) {
                return BGP_ERR_INVALID;
            }
            if (rc == 0) {
                rc = buf_put(out, n->rd, 8);
            }
            if (rc == 0) {
                rc = buf_put(out, n->esi, 10);
            }
            if (rc == 0) {
                rc = buf_put_u32(out, n->eth_tag);
            }
            if (rc == 0) {
                rc = buf_put_u8(out, n->plen);
            }
            if (rc == 0) {
                uint8_t tmp[16];
                memcpy(tmp, n->addr, 16);
                prefix_mask(tmp, 16, n->plen);
                rc = buf_put(out, tmp, n->ip_size);
            }
            if (rc == 0) {
                rc = buf_put(out, n->gw, n->ip_size);
            }
            if (rc == 0) {
                rc = put_u24(out, n->labels[0]);
            }
            break;
        default:
            if (n->raw_size > 0 && rc == 0) {
                rc = buf_put(out, n->raw, n->raw_size);
            }
            break;
        }
        if (rc == 0) {
            out->data[start + 1] = (uint8_t)(out->size - start - 2);
        }
        return rc;
    }
    case BGP_FAM_RTC:
        if ((n->plen > 0 && n->plen < 32) || n->plen > 96) {
            return BGP_ERR_INVALID;
        }
        rc = buf_put_u8(out, n->plen);
        if (rc == 0 && n->plen > 0) {
            uint8_t rt[8];
            memcpy(rt, n->rt, 8);
            prefix_mask(rt, 8, n->plen - 32u);
            rc = buf_put_u32(out, n->origin_as);
            if (rc == 0) {
                rc = buf_put(out, rt, (n->plen - 32u + 7) / 8);
            }
        }
        return rc;
    case BGP_FAM_COUNT:
        break;
    }
    return BGP_ERR_INVALID;
}

static int nlri_encode_list(const struct bgp_nlri_list *l, int family, struct buf *out)
{
    for (size_t i = 0; i < l->count; i++) {
        if (l->v[i].family != family) {
            return BGP_ERR_INVALID;
        }
        int rc = nlri_encode_one(&l->v[i], out);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

bool bgp_nlri_equal(const struct bgp_nlri *a, const struct bgp_nlri *b)
{
    if (a->family != b->family || a->plen != b->plen || memcmp(a->addr, b->addr, 16) != 0 ||
        a->label_count != b->label_count || memcmp(a->rd, b->rd, 8) != 0 || a->evpn_type != b->evpn_type ||
        a->ip_size != b->ip_size || memcmp(a->esi, b->esi, 10) != 0 || a->eth_tag != b->eth_tag ||
        memcmp(a->mac, b->mac, 6) != 0 || memcmp(a->gw, b->gw, 16) != 0 || a->origin_as != b->origin_as ||
        memcmp(a->rt, b->rt, 8) != 0 || a->raw_size != b->raw_size) {
        return false;
    }
    for (size_t i = 0; i < a->label_count && i < BGP_MAX_LABELS; i++) {
        if (a->labels[i] != b->labels[i]) {
            return false;
        }
    }
    return a->raw_size == 0 || memcmp(a->raw, b->raw, a->raw_size) == 0;
}

/* ------------------------------------------------------------------ */
/* UPDATE decoding                                                     */

struct upd {
    const struct bgp_codec_opts *o;
    struct bgp_update *u;
    uint8_t seen[32]; /* attribute codes met so far */
    bool has_as4_path, has_as4_aggr;
    struct bgp_as_path as4_path;
    uint32_t as4_aggr_as, as4_aggr_id;
};

static void upd_verdict(struct bgp_update *u, enum bgp_update_action a, uint8_t subcode, const uint8_t *data,
                        size_t size)
{
    if (a > u->action) {
        u->action = a;
        notify_set(&u->error, BGP_NOTIFY_UPDATE, subcode, data, size);
    }
}

static void as_path_free(struct bgp_as_path *p)
{
    free(p->segs);
    free(p->asns);
    memset(p, 0, sizeof *p);
}

/* Parses an AS path of 'asn_size'-octet ASNs. Returns 0, -1 malformed,
 * BGP_ERR_NOMEM. Empty paths are valid. */
static int as_path_decode(struct cursor c, size_t asn_size, bool allow_confed, struct bgp_as_path *p)
{
    struct cursor scan = c;
    size_t segs = 0, asns = 0;
    memset(p, 0, sizeof *p);
    while (cursor_remaining(&scan) > 0) {
        uint8_t type, len;
        if (buf_get_u8(&scan, &type) != 0 || buf_get_u8(&scan, &len) != 0 || type < BGP_AS_SET ||
            type > BGP_AS_CONFED_SET || len == 0 || buf_skip(&scan, len * asn_size) != 0) {
            return -1;
        }
        if (!allow_confed && (type == BGP_AS_CONFED_SEQUENCE || type == BGP_AS_CONFED_SET)) {
            return -1;
        }
        segs++;
        asns += len;
    }
    if (segs == 0) {
        return 0;
    }
    p->segs = calloc(segs, sizeof *p->segs);
    p->asns = calloc(asns, sizeof *p->asns);
    if (!p->segs || !p->asns) {
        as_path_free(p);
        return BGP_ERR_NOMEM;
    }
    while (cursor_remaining(&c) > 0) {
        struct bgp_as_seg *s = &p->segs[p->seg_count++];
        if (buf_get_u8(&c, &s->type) != 0 || buf_get_u8(&c, &s->len) != 0) {
            abort();
        }
        for (size_t i = 0; i < s->len; i++) {
            uint32_t v = 0;
            uint16_t v16;
            if (asn_size == 4 ? buf_get_u32(&c, &v) != 0 : buf_get_u16(&c, &v16) != 0) {
                abort();
            }
            p->asns[p->as_count++] = asn_size == 4 ? v : v16;
        }
    }
    return 0;
}

static bool seg_is_confed(uint8_t type)
{
    return type == BGP_AS_CONFED_SEQUENCE || type == BGP_AS_CONFED_SET;
}

/* RFC 6793 §4.2.3 path length: a set counts 1, confederation segments 0. */
static size_t as_path_count(const struct bgp_as_path *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->seg_count; i++) {
        if (p->segs[i].type == BGP_AS_SEQUENCE) {
            n += p->segs[i].len;
        } else if (p->segs[i].type == BGP_AS_SET) {
            n += 1;
        }
    }
    return n;
}

/* Replaces 'p' by the leading part of 'p' needed to complete 'p4' followed
 * by 'p4' (RFC 6793 §4.2.3). Only leading confederation segments of 'p' are
 * kept, which makes the result stable under encode (split) and decode. */
static int as_path_merge(struct bgp_as_path *p, const struct bgp_as_path *p4)
{
    size_t n = as_path_count(p), n4 = as_path_count(p4);
    if (n < n4) {
        return 0;
    }
    size_t need = n - n4;
    struct bgp_as_path m = {0};
    m.segs = calloc(p->seg_count + p4->seg_count + 1, sizeof *m.segs);
    m.asns = calloc(p->as_count + p4->as_count + 1, sizeof *m.asns);
    if (!m.segs || !m.asns) {
        as_path_free(&m);
        return BGP_ERR_NOMEM;
    }
    size_t at = 0;
    bool leading = true;
    for (size_t i = 0; i < p->seg_count; i++) {
        const struct bgp_as_seg *s = &p->segs[i];
        size_t take = 0;
        if (seg_is_confed(s->type)) {
            take = leading ? s->len : 0;
        } else {
            leading = false;
            if (need == 0) {
                at += s->len;
                continue;
            }
            take = s->type == BGP_AS_SET ? s->len : (s->len < need ? s->len : need);
            need -= s->type == BGP_AS_SET ? 1 : take;
        }
        if (take > 0) {
            m.segs[m.seg_count++] = (struct bgp_as_seg){s->type, (uint8_t)take};
            memcpy(m.asns + m.as_count, p->asns + at, take * sizeof *m.asns);
            m.as_count += take;
        }
        at += s->len;
    }
    at = 0;
    for (size_t i = 0; i < p4->seg_count; i++) {
        m.segs[m.seg_count++] = p4->segs[i];
        memcpy(m.asns + m.as_count, p4->asns + at, p4->segs[i].len * sizeof *m.asns);
        m.as_count += p4->segs[i].len;
        at += p4->segs[i].len;
    }
    as_path_free(p);
    *p = m;
    return 0;
}

static int u32_array_decode(struct cursor c, size_t count, uint32_t **out)
{
    *out = calloc(count, sizeof **out);
    if (!*out) {
        return BGP_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        if (buf_get_u32(&c, &(*out)[i]) != 0) {
            abort();
        }
    }
    return 0;
}

enum attr_class { ATTR_WK, ATTR_OPT_NT, ATTR_OPT_T };

static int attr_class(uint8_t code, enum attr_class *cls, enum bgp_update_action *on_error)
{
    *on_error = BGP_UPDATE_TREAT_AS_WITHDRAW;
    switch (code) {
    case BGP_ATTR_ORIGIN:
    case BGP_ATTR_AS_PATH:
    case BGP_ATTR_NEXT_HOP:
    case BGP_ATTR_LOCAL_PREF:
        *cls = ATTR_WK;
        return 0;
    case BGP_ATTR_ATOMIC_AGGREGATE:
        *cls = ATTR_WK;
        *on_error = BGP_UPDATE_ATTR_DISCARD;
        return 0;
    case BGP_ATTR_MED:
    case BGP_ATTR_ORIGINATOR_ID:
    case BGP_ATTR_CLUSTER_LIST:
        *cls = ATTR_OPT_NT;
        return 0;
    case BGP_ATTR_MP_REACH:
    case BGP_ATTR_MP_UNREACH:
        *cls = ATTR_OPT_NT;
        *on_error = BGP_UPDATE_SESSION_RESET;
        return 0;
    case BGP_ATTR_COMMUNITIES:
    case BGP_ATTR_EXT_COMMUNITIES:
    case BGP_ATTR_PMSI_TUNNEL:
        *cls = ATTR_OPT_T;
        return 0;
    case BGP_ATTR_AGGREGATOR:
    case BGP_ATTR_AS4_PATH:
    case BGP_ATTR_AS4_AGGREGATOR:
        *cls = ATTR_OPT_T;
        *on_error = BGP_UPDATE_ATTR_DISCARD;
        return 0;
    default:
        return -1;
    }
}

/* Valid next-hop lengths of MP_REACH_NLRI per family. */
static bool mp_nh_size_ok(int family, size_t size)
{
    switch ((enum bgp_family)family) {
    case BGP_FAM_IPV4_UNICAST:
    case BGP_FAM_EVPN:
        return size == 4 || size == 16 || size == 32;
    case BGP_FAM_IPV6_UNICAST:
        return size == 16 || size == 32;
    case BGP_FAM_VPNV4:
        return size == 12 || size == 24 || size == 48;
    case BGP_FAM_VPNV6:
        return size == 24 || size == 48;
    case BGP_FAM_RTC:
        return size == 4 || size == 16;
    case BGP_FAM_COUNT:
        break;
    }
    return false;
}

/* MP_REACH_NLRI / MP_UNREACH_NLRI. Returns 0 (verdict recorded) or NOMEM. */
static int attr_mp(struct upd *d, uint8_t code, struct cursor v, const uint8_t *attr, size_t attr_size)
{
    struct bgp_update *u = d->u;
    bool reach = code == BGP_ATTR_MP_REACH;
    struct bgp_mp *mp = reach ? &u->mp_reach : &u->mp_unreach;
    uint16_t afi;
    uint8_t safi;
    if (buf_get_u16(&v, &afi) != 0 || buf_get_u8(&v, &safi) != 0) {
        upd_verdict(u, BGP_UPDATE_SESSION_RESET, BGP_UPDATE_OPTIONAL_ATTR, attr, attr_size);
        return 0;
    }
    int family = bgp_family_from_afi_safi(afi, safi);
    uint32_t accepted = d->o ? d->o->families : BGP_FAM_ALL;
    bool ok = family >= 0 && (accepted & BGP_FAM_BIT(family));
    memset(mp, 0, sizeof *mp);
    mp->afi = afi;
    mp->safi = safi;
    mp->family = (uint8_t)(ok ? family : 0);
    if (ok && reach) {
        uint8_t res;
        ok = buf_get_u8(&v, &mp->nh_size) == 0 && mp_nh_size_ok(family, mp->nh_size) &&
             buf_get_bytes(&v, mp->nh, mp->nh_size) == 0 && buf_get_u8(&v, &res) == 0;
    }
    if (ok) {
        int rc = nlri_decode_list(v, family, !reach, &mp->nlri);
        if (rc == BGP_ERR_NOMEM) {
            return rc;
        }
        ok = rc == 0;
    }
    if (!ok) {
        if (u->action < BGP_UPDATE_AFI_SAFI_DISABLE) {
            u->disable_afi = afi;
            u->disable_safi = safi;
        }
        upd_verdict(u, BGP_UPDATE_AFI_SAFI_DISABLE, BGP_UPDATE_OPTIONAL_ATTR, attr, attr_size);
        return 0;
    }
    if (reach) {
        u->has_mp_reach = true;
    } else {
        u->has_mp_unreach = true;
    }
    return 0;
}

/* One recognised attribute with correct flags. Returns 0 when parsed, 1 when
 * malformed (caller applies the attribute's error action with 'subcode'),
 * or BGP_ERR_NOMEM. */
static int attr_known(struct upd *d, uint8_t code, struct cursor v, uint8_t *subcode)
{
    struct bgp_attrs *a = &d->u->attrs;
    bool as4 = d->o && d->o->as4;
    size_t len = cursor_remaining(&v);
    int rc;
    *subcode = BGP_UPDATE_ATTR_LENGTH;
    switch (code) {
    case BGP_ATTR_ORIGIN:
        if (len != 1 || buf_get_u8(&v, &a->origin) != 0) {
            return 1;
        }
        if (a->origin > BGP_ORIGIN_INCOMPLETE) {
            *subcode = BGP_UPDATE_INVALID_ORIGIN;
            return 1;
        }
        break;
    case BGP_ATTR_AS_PATH:
        rc = as_path_decode(v, as4 ? 4 : 2, true, &a->as_path);
        if (rc != 0) {
            *subcode = BGP_UPDATE_MALFORMED_AS_PATH;
            return rc == -1 ? 1 : rc;
        }
        break;
    case BGP_ATTR_NEXT_HOP:
        if (len != 4 || buf_get_u32(&v, &a->next_hop) != 0) {
            return 1;
        }
        break;
    case BGP_ATTR_MED:
        if (len != 4 || buf_get_u32(&v, &a->med) != 0) {
            return 1;
        }
        break;
    case BGP_ATTR_LOCAL_PREF:
        if (len != 4 || buf_get_u32(&v, &a->local_pref) != 0) {
            return 1;
        }
        break;
    case BGP_ATTR_ATOMIC_AGGREGATE:
        if (len != 0) {
            return 1;
        }
        break;
    case BGP_ATTR_AGGREGATOR: {
        uint16_t as16;
        if (len != (as4 ? 8u : 6u)) {
            return 1;
        }
        if (as4 ? buf_get_u32(&v, &a->aggregator_as) != 0 : buf_get_u16(&v, &as16) != 0) {
            return 1;
        }
        if (!as4) {
            a->aggregator_as = as16;
        }
        if (buf_get_u32(&v, &a->aggregator_id) != 0) {
            return 1;
        }
        break;
    }
    case BGP_ATTR_COMMUNITIES:
        if (len == 0 || len % 4 != 0) {
            return 1;
        }
        rc = u32_array_decode(v, len / 4, &a->communities);
        if (rc != 0) {
            return rc;
        }
        a->community_count = len / 4;
        break;
    case BGP_ATTR_ORIGINATOR_ID:
        if (len != 4 || buf_get_u32(&v, &a->originator_id) != 0) {
            return 1;
        }
        break;
    case BGP_ATTR_CLUSTER_LIST:
        if (len == 0 || len % 4 != 0) {
            return 1;
        }
        rc = u32_array_decode(v, len / 4, &a->cluster_list);
        if (rc != 0) {
            return rc;
        }
        a->cluster_count = len / 4;
        break;
    case BGP_ATTR_EXT_COMMUNITIES:
        if (len == 0 || len % 8 != 0) {
            return 1;
        }
        a->ext_communities = calloc(len / 8, sizeof *a->ext_communities);
        if (!a->ext_communities) {
            return BGP_ERR_NOMEM;
        }
        for (size_t i = 0; i < len / 8; i++) {
            if (buf_get_u64(&v, &a->ext_communities[i]) != 0) {
                abort();
            }
        }
        a->ext_community_count = len / 8;
        break;
    case BGP_ATTR_AS4_PATH:
        if (as4) {
            return 2; /* RFC 6793: ignored between 4-octet speakers */
        }
        rc = as_path_decode(v, 4, false, &d->as4_path);
        if (rc != 0) {
            *subcode = BGP_UPDATE_MALFORMED_AS_PATH;
            return rc == -1 ? 1 : rc;
        }
        d->has_as4_path = true;
        return 2;
    case BGP_ATTR_AS4_AGGREGATOR:
        if (as4) {
            return 2;
        }
        if (len != 8 || buf_get_u32(&v, &d->as4_aggr_as) != 0 || buf_get_u32(&v, &d->as4_aggr_id) != 0) {
            return 1;
        }
        d->has_as4_aggr = true;
        return 2;
    case BGP_ATTR_PMSI_TUNNEL:
        if (buf_get_u8(&v, &a->pmsi.flags) != 0 || buf_get_u8(&v, &a->pmsi.tunnel_type) != 0 ||
            get_u24(&v, &a->pmsi.label) != 0) {
            return 1;
        }
        a->pmsi.id_size = (uint16_t)cursor_remaining(&v);
        if (buf_get_view(&v, a->pmsi.id_size, &a->pmsi.id) != 0) {
            return 1;
        }
        break;
    default:
        return 1;
    }
    a->present |= BGP_ATTR_BIT(code);
    return 0;
}

static void attr_drop(struct bgp_attrs *a, uint8_t code)
{
    switch (code) {
    case BGP_ATTR_AS_PATH:
        as_path_free(&a->as_path);
        break;
    case BGP_ATTR_COMMUNITIES:
        free(a->communities);
        a->communities = NULL;
        a->community_count = 0;
        break;
    case BGP_ATTR_CLUSTER_LIST:
        free(a->cluster_list);
        a->cluster_list = NULL;
        a->cluster_count = 0;
        break;
    case BGP_ATTR_EXT_COMMUNITIES:
        free(a->ext_communities);
        a->ext_communities = NULL;
        a->ext_community_count = 0;
        break;
    default:
        break;
    }
    if (code < 32) {
        a->present &= ~BGP_ATTR_BIT(code);
    }
}

static int attrs_decode(struct upd *d, struct cursor c)
{
    struct bgp_update *u = d->u;
    struct bgp_attrs *a = &u->attrs;
    size_t unknown_cap = 0;
    while (cursor_remaining(&c) > 0) {
        const uint8_t *start = c.p;
        uint8_t flags, code;
        uint16_t len;
        uint8_t len8;
        struct cursor v;
        if (buf_get_u8(&c, &flags) != 0 || buf_get_u8(&c, &code) != 0 ||
            ((flags & BGP_ATTR_F_EXTENDED) ? buf_get_u16(&c, &len) != 0 : buf_get_u8(&c, &len8) != 0)) {
            /* RFC 7606 §4: too few octets left for an attribute header. */
            upd_verdict(u, BGP_UPDATE_TREAT_AS_WITHDRAW, BGP_UPDATE_ATTR_LENGTH, NULL, 0);
            return 0;
        }
        if (!(flags & BGP_ATTR_F_EXTENDED)) {
            len = len8;
        }
        size_t hsize = (flags & BGP_ATTR_F_EXTENDED) ? 4 : 3;
        if (buf_get_sub(&c, len, &v) != 0) {
            /* RFC 7606 §4: attribute overruns the path attributes. */
            upd_verdict(u, BGP_UPDATE_TREAT_AS_WITHDRAW, BGP_UPDATE_ATTR_LENGTH, start,
                        hsize + cursor_remaining(&c));
            return 0;
        }
        size_t asize = hsize + len;
        bool dup = d->seen[code / 8] & (1u << (code % 8));
        d->seen[code / 8] |= (uint8_t)(1u << (code % 8));
        if (dup) {
            if (code == BGP_ATTR_MP_REACH || code == BGP_ATTR_MP_UNREACH) {
                upd_verdict(u, BGP_UPDATE_SESSION_RESET, BGP_UPDATE_MALFORMED_ATTR_LIST, NULL, 0);
                return 0;
            }
            /* RFC 7606 §3(g): keep the first, discard the others. */
            if (code < 32) {
                u->discarded |= BGP_ATTR_BIT(code);
            }
            upd_verdict(u, BGP_UPDATE_ATTR_DISCARD, BGP_UPDATE_MALFORMED_ATTR_LIST, start, asize);
            continue;
        }
        enum attr_class cls;
        enum bgp_update_action on_error;
        if (attr_class(code, &cls, &on_error) != 0) {
            if (!(flags & BGP_ATTR_F_OPTIONAL)) {
                upd_verdict(u, BGP_UPDATE_SESSION_RESET, BGP_UPDATE_UNRECOGNIZED_WELLKNOWN, start, asize);
                return 0;
            }
            if (!(flags & BGP_ATTR_F_TRANSITIVE)) {
                continue; /* unrecognised optional non-transitive: ignored */
            }
            if (u->attrs.unknown_count == unknown_cap) {
                size_t ncap = unknown_cap ? unknown_cap * 2 : 4;
                struct bgp_attr_raw *nv = realloc(a->unknown, ncap * sizeof *nv);
                if (!nv) {
                    return BGP_ERR_NOMEM;
                }
                a->unknown = nv;
                unknown_cap = ncap;
            }
            const uint8_t *p;
            if (buf_get_view(&v, len, &p) != 0) {
                abort();
            }
            a->unknown[a->unknown_count++] = (struct bgp_attr_raw){
                (uint8_t)((flags | BGP_ATTR_F_PARTIAL) & ~BGP_ATTR_F_EXTENDED), code, len, p};
            continue;
        }
        uint8_t want = cls == ATTR_WK ? BGP_ATTR_F_TRANSITIVE
                       : cls == ATTR_OPT_NT ? BGP_ATTR_F_OPTIONAL
                                            : BGP_ATTR_F_OPTIONAL | BGP_ATTR_F_TRANSITIVE;
        bool flags_ok = (flags & (BGP_ATTR_F_OPTIONAL | BGP_ATTR_F_TRANSITIVE)) == want &&
                        (cls == ATTR_OPT_T || !(flags & BGP_ATTR_F_PARTIAL));
        if (code == BGP_ATTR_LOCAL_PREF && d->o && d->o->ebgp) {
            /* RFC 7606 §7.5: LOCAL_PREF from an external peer is discarded. */
            u->discarded |= BGP_ATTR_BIT(code);
            upd_verdict(u, BGP_UPDATE_ATTR_DISCARD, BGP_UPDATE_OPTIONAL_ATTR, start, asize);
            continue;
        }
        if (!flags_ok) {
            if (on_error == BGP_UPDATE_ATTR_DISCARD) {
                u->discarded |= BGP_ATTR_BIT(code);
            }
            upd_verdict(u, on_error, BGP_UPDATE_ATTR_FLAGS, start, asize);
            continue;
        }
        if (code == BGP_ATTR_MP_REACH || code == BGP_ATTR_MP_UNREACH) {
            int rc = attr_mp(d, code, v, start, asize);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        uint8_t subcode;
        int rc = attr_known(d, code, v, &subcode);
        if (rc < 0) {
            return rc;
        }
        if (rc == 1) {
            attr_drop(a, code);
            if (on_error == BGP_UPDATE_ATTR_DISCARD) {
                u->discarded |= BGP_ATTR_BIT(code);
            }
            upd_verdict(u, on_error, subcode, start, asize);
        }
    }
    return 0;
}

/* RFC 6793 §4.2.3: fold AS4_PATH and AS4_AGGREGATOR into the 4-octet view. */
static int attrs_as4_merge(struct upd *d)
{
    struct bgp_attrs *a = &d->u->attrs;
    if ((a->present & BGP_ATTR_BIT(BGP_ATTR_AGGREGATOR)) && a->aggregator_as != BGP_AS_TRANS) {
        return 0;
    }
    if (d->has_as4_aggr && (a->present & BGP_ATTR_BIT(BGP_ATTR_AGGREGATOR))) {
        a->aggregator_as = d->as4_aggr_as;
        a->aggregator_id = d->as4_aggr_id;
    }
    if (d->has_as4_path && (a->present & BGP_ATTR_BIT(BGP_ATTR_AS_PATH))) {
        return as_path_merge(&a->as_path, &d->as4_path);
    }
    return 0;
}

static int update_decode(struct cursor *c, const struct bgp_codec_opts *o, struct bgp_update *u,
                         struct bgp_notification *err)
{
    struct upd d = {.o = o, .u = u};
    uint16_t wlen, alen;
    struct cursor w, attrs;
    int rc = 0;
    memset(u, 0, sizeof *u);
    if (buf_get_u16(c, &wlen) != 0 || buf_get_sub(c, wlen, &w) != 0 || buf_get_u16(c, &alen) != 0 ||
        buf_get_sub(c, alen, &attrs) != 0) {
        notify_set(err, BGP_NOTIFY_UPDATE, BGP_UPDATE_MALFORMED_ATTR_LIST, NULL, 0);
        return BGP_ERR_UPDATE;
    }
    rc = nlri_decode_list(w, BGP_FAM_IPV4_UNICAST, true, &u->withdrawn);
    if (rc == 0) {
        rc = nlri_decode_list(*c, BGP_FAM_IPV4_UNICAST, false, &u->nlri);
    }
    if (rc == -1) {
        /* RFC 7606 §5.3: the NLRI fields cannot be parsed: session reset. */
        notify_set(err, BGP_NOTIFY_UPDATE, BGP_UPDATE_INVALID_NETWORK, NULL, 0);
        rc = BGP_ERR_UPDATE;
        goto fail;
    }
    if (rc == 0) {
        rc = attrs_decode(&d, attrs);
    }
    if (rc == 0 && !o->as4) {
        rc = attrs_as4_merge(&d);
    }
    as_path_free(&d.as4_path);
    if (rc != 0) {
        goto fail;
    }
    bool reach = u->nlri.count > 0 || (u->has_mp_reach && u->mp_reach.nlri.count > 0);
    if (reach) {
        static const uint8_t mandatory[] = {BGP_ATTR_ORIGIN, BGP_ATTR_AS_PATH, BGP_ATTR_NEXT_HOP};
        for (size_t i = 0; i < sizeof mandatory; i++) {
            uint8_t code = mandatory[i];
            if (code == BGP_ATTR_NEXT_HOP && u->nlri.count == 0) {
                continue;
            }
            if (!(u->attrs.present & BGP_ATTR_BIT(code))) {
                upd_verdict(u, BGP_UPDATE_TREAT_AS_WITHDRAW, BGP_UPDATE_MISSING_WELLKNOWN, &code, 1);
            }
        }
    }
    if (u->action == BGP_UPDATE_SESSION_RESET) {
        *err = u->error;
        rc = BGP_ERR_UPDATE;
        goto fail;
    }
    return 0;
fail:
    if (rc == BGP_ERR_NOMEM) {
        notify_set(err, BGP_NOTIFY_CEASE, 8, NULL, 0);
    }
    return rc;
}

static void update_free(struct bgp_update *u)
{
    free(u->withdrawn.v);
    free(u->nlri.v);
    free(u->mp_reach.nlri.v);
    free(u->mp_unreach.nlri.v);
    as_path_free(&u->attrs.as_path);
    free(u->attrs.communities);
    free(u->attrs.cluster_list);
    free(u->attrs.ext_communities);
    free(u->attrs.unknown);
    memset(u, 0, sizeof *u);
}

/* ------------------------------------------------------------------ */
/* UPDATE encoding                                                     */

static int attr_put(struct buf *out, uint8_t flags, uint8_t code, const struct buf *value)
{
    size_t size = value->size;
    int rc;
    if (size > 0xFFFF) {
        return BGP_ERR_TOO_BIG;
    }
    flags &= (uint8_t)~BGP_ATTR_F_EXTENDED;
    if (size > 255) {
        flags |= BGP_ATTR_F_EXTENDED;
    }
    rc = buf_put_u8(out, flags);
    if (rc == 0) {
        rc = buf_put_u8(out, code);
    }
    if (rc == 0) {
        rc = size > 255 ? buf_put_u16(out, (uint16_t)size) : buf_put_u8(out, (uint8_t)size);
    }
    if (rc == 0 && size > 0) {
        rc = buf_put(out, value->data, size);
    }
    return rc;
}

/* Encodes 'p' with 'asn_size'-octet ASNs (AS_TRANS for those that do not fit);
 * 'skip_confed' leaves confederation segments out (AS4_PATH). */
static int as_path_encode(const struct bgp_as_path *p, size_t asn_size, bool skip_confed, struct buf *v)
{
    size_t at = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->seg_count; i++) {
        const struct bgp_as_seg *s = &p->segs[i];
        if (s->type < BGP_AS_SET || s->type > BGP_AS_CONFED_SET || s->len == 0 || at + s->len > p->as_count) {
            return BGP_ERR_INVALID;
        }
        if (!(skip_confed && seg_is_confed(s->type))) {
            rc = buf_put_u8(v, s->type);
            if (rc == 0) {
                rc = buf_put_u8(v, s->len);
            }
            for (size_t j = 0; rc == 0 && j < s->len; j++) {
                uint32_t as = p->asns[at + j];
                rc = asn_size == 4 ? buf_put_u32(v, as)
                                   : buf_put_u16(v, as > 0xFFFF ? (uint16_t)BGP_AS_TRANS : (uint16_t)as);
            }
        }
        at += s->len;
    }
    return rc;
}

static bool as_path_needs_as4(const struct bgp_as_path *p)
{
    for (size_t i = 0; i < p->as_count; i++) {
        if (p->asns[i] > 0xFFFF) {
            return true;
        }
    }
    return false;
}

static int mp_encode(const struct bgp_mp *mp, bool reach, struct buf *v)
{
    int family = bgp_family_from_afi_safi(mp->afi, mp->safi);
    if (family < 0) {
        return BGP_ERR_INVALID;
    }
    int rc = buf_put_u16(v, mp->afi);
    if (rc == 0) {
        rc = buf_put_u8(v, mp->safi);
    }
    if (rc == 0 && reach) {
        if (!mp_nh_size_ok(family, mp->nh_size)) {
            return BGP_ERR_INVALID;
        }
        rc = buf_put_u8(v, mp->nh_size);
        if (rc == 0) {
            rc = buf_put(v, mp->nh, mp->nh_size);
        }
        if (rc == 0) {
            rc = buf_put_u8(v, 0);
        }
    }
    return rc ? rc : nlri_encode_list(&mp->nlri, family, v);
}

static int aggregator_encode(struct buf *v, uint32_t as, bool as4, uint32_t id)
{
    int rc = as4 ? buf_put_u32(v, as) : buf_put_u16(v, (uint16_t)as);
    return rc ? rc : buf_put_u32(v, id);
}

static int u32_list_encode(struct buf *v, const uint32_t *list, size_t count)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        rc = buf_put_u32(v, list[i]);
    }
    return rc;
}

static int u64_list_encode(struct buf *v, const uint64_t *list, size_t count)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        rc = buf_put_u64(v, list[i]);
    }
    return rc;
}

static int pmsi_encode(struct buf *v, const struct bgp_pmsi *p)
{
    int rc = buf_put_u8(v, p->flags);
    if (rc == 0) {
        rc = buf_put_u8(v, p->tunnel_type);
    }
    if (rc == 0) {
        rc = put_u24(v, p->label);
    }
    if (rc == 0 && p->id_size > 0) {
        rc = buf_put(v, p->id, p->id_size);
    }
    return rc;
}

static int attrs_encode(const struct bgp_update *u, bool as4, struct buf *out, struct buf *v)
{
    const struct bgp_attrs *a = &u->attrs;
    const uint8_t WK = BGP_ATTR_F_TRANSITIVE, ONT = BGP_ATTR_F_OPTIONAL,
                  OT = BGP_ATTR_F_OPTIONAL | BGP_ATTR_F_TRANSITIVE;
    bool need_as4_path = !as4 && (a->present & BGP_ATTR_BIT(BGP_ATTR_AS_PATH)) && as_path_needs_as4(&a->as_path);
    bool has_aggr = a->present & BGP_ATTR_BIT(BGP_ATTR_AGGREGATOR);
    /* 2-octet session: AS_TRANS in AGGREGATOR whenever AS4 attributes are
     * needed, so that the receiver uses them (RFC 6793 §4.2.3). */
    bool need_as4_aggr = !as4 && has_aggr && (a->aggregator_as > 0xFFFF || need_as4_path);
    int rc = 0;
#define PUT(flags, code, expr)                         \
    do {                                               \
        buf_reset(v);                                  \
        rc = (expr);                                   \
        if (rc == 0) {                                 \
            rc = attr_put(out, (flags), (code), v);    \
        }                                              \
        if (rc != 0) {                                 \
            return rc;                                 \
        }                                              \
    } while (0)
    if (u->has_mp_reach) {
        PUT(ONT, BGP_ATTR_MP_REACH, mp_encode(&u->mp_reach, true, v));
    }
    if (u->has_mp_unreach) {
        PUT(ONT, BGP_ATTR_MP_UNREACH, mp_encode(&u->mp_unreach, false, v));
    }
    if (a->present & BGP_ATTR_BIT(BGP_ATTR_ORIGIN)) {
        PUT(WK, BGP_ATTR_ORIGIN, a->origin > 2 ? BGP_ERR_INVALID : buf_put_u8(v, a->origin));
    }
    if (a->present & BGP_ATTR_BIT(BGP_ATTR_AS_PATH)) {
        PUT(WK, BGP_ATTR_AS_PATH, as_path_encode(&a->as_path, as4 ? 4 : 2, false, v));
    }
    if (a->present & BGP_ATTR_BIT(BGP_ATTR_NEXT_HOP)) {
        PUT(WK, BGP_ATTR_NEXT_HOP, buf_put_u32(v, a->next_hop));
    }
    if (a->present & BGP_ATTR_BIT(BGP_ATTR_MED)) {
        PUT(ONT, BGP_ATTR_MED, buf_put_u32(v, a->med));
    }
    if (a->present & BGP_ATTR_BIT(BGP_ATTR_LOCAL_PREF)) {
        PUT(WK, BGP_ATTR_LOCAL_PREF, buf_put_u32(v, a->local_pref));
    }
    if (a->present & BGP_ATTR_BIT(BGP_ATTR_ATOMIC_AGGREGATE)) {
        PUT(WK, BGP_ATTR_ATOMIC_AGGREGATE, 0);
    }
    if (has_aggr) {
        uint16_t as16 = need_as4_aggr ? (uint16_t)BGP_AS_TRANS : (uint16_t)a->aggregator_as;
        PUT(OT, BGP_ATTR_AGGREGATOR, aggregator_encode(v, as4 ? a->aggregator_as : as16, as4, a->aggregator_id));
    }
    if (a->present & BGP_ATTR_BIT(BGP_ATTR_COMMUNITIES)) {
        if (a->community_count == 0) {
            return BGP_ERR_INVALID;
        }
        PUT(OT, BGP_ATTR_COMMUNITIES, u32_list_encode(v, a->communities, a->community_count));
    }
    if (a->present & BGP_ATTR_BIT(BGP_ATTR_ORIGINATOR_ID)) {
        PUT(ONT, BGP_ATTR_ORIGINATOR_ID, buf_put_u32(v, a->originator_id));
    }
    if (a->present & BGP_ATTR_BIT(BGP_ATTR_CLUSTER_LIST)) {
        if (a->cluster_count == 0) {
            return BGP_ERR_INVALID;
        }
        PUT(ONT, BGP_ATTR_CLUSTER_LIST, u32_list_encode(v, a->cluster_list, a->cluster_count));
    }
    if (a->present & BGP_ATTR_BIT(BGP_ATTR_EXT_COMMUNITIES)) {
        if (a->ext_community_count == 0) {
            return BGP_ERR_INVALID;
        }
        PUT(OT, BGP_ATTR_EXT_COMMUNITIES, u64_list_encode(v, a->ext_communities, a->ext_community_count));
    }
    if (need_as4_path) {
        PUT(OT, BGP_ATTR_AS4_PATH, as_path_encode(&a->as_path, 4, true, v));
    }
    if (need_as4_aggr) {
        PUT(OT, BGP_ATTR_AS4_AGGREGATOR, aggregator_encode(v, a->aggregator_as, true, a->aggregator_id));
    }
    if (a->present & BGP_ATTR_BIT(BGP_ATTR_PMSI_TUNNEL)) {
        if (a->pmsi.label > 0xFFFFFF) {
            return BGP_ERR_INVALID;
        }
        PUT(OT, BGP_ATTR_PMSI_TUNNEL, pmsi_encode(v, &a->pmsi));
    }
    for (size_t i = 0; i < a->unknown_count; i++) {
        const struct bgp_attr_raw *r = &a->unknown[i];
        enum attr_class cls;
        enum bgp_update_action act;
        if (attr_class(r->code, &cls, &act) == 0 || !(r->flags & BGP_ATTR_F_OPTIONAL)) {
            return BGP_ERR_INVALID;
        }
        PUT(r->flags, r->code, r->size ? buf_put(v, r->data, r->size) : 0);
    }
#undef PUT
    return 0;
}

static int update_encode(const struct bgp_update *u, bool as4, struct buf *out)
{
    struct buf v;
    size_t mark = out->size;
    int rc = buf_put_u16(out, 0);
    if (rc == 0) {
        rc = nlri_encode_list(&u->withdrawn, BGP_FAM_IPV4_UNICAST, out);
    }
    if (rc != 0) {
        return rc;
    }
    size_t wsize = out->size - mark - 2;
    if (wsize > 0xFFFF) {
        return BGP_ERR_TOO_BIG;
    }
    be16_store(out->data + mark, (uint16_t)wsize);
    mark = out->size;
    rc = buf_put_u16(out, 0);
    if (rc != 0) {
        return rc;
    }
    buf_init(&v, 0);
    rc = attrs_encode(u, as4, out, &v);
    buf_destroy(&v);
    if (rc != 0) {
        return rc;
    }
    size_t asize = out->size - mark - 2;
    if (asize > 0xFFFF) {
        return BGP_ERR_TOO_BIG;
    }
    be16_store(out->data + mark, (uint16_t)asize);
    return nlri_encode_list(&u->nlri, BGP_FAM_IPV4_UNICAST, out);
}

void bgp_update_init_eor(struct bgp_update *u, uint16_t afi, uint8_t safi)
{
    memset(u, 0, sizeof *u);
    if (afi == BGP_AFI_IPV4 && safi == BGP_SAFI_UNICAST) {
        return;
    }
    u->has_mp_unreach = true;
    u->mp_unreach.afi = afi;
    u->mp_unreach.safi = safi;
    int f = bgp_family_from_afi_safi(afi, safi);
    u->mp_unreach.family = (uint8_t)(f < 0 ? 0 : f);
}

bool bgp_update_is_eor(const struct bgp_update *u, uint16_t *afi, uint8_t *safi)
{
    if (u->withdrawn.count || u->nlri.count || u->attrs.present || u->attrs.unknown_count || u->has_mp_reach ||
        u->action != BGP_UPDATE_OK) {
        return false;
    }
    if (!u->has_mp_unreach) {
        *afi = BGP_AFI_IPV4;
        *safi = BGP_SAFI_UNICAST;
        return true;
    }
    if (u->mp_unreach.nlri.count) {
        return false;
    }
    *afi = u->mp_unreach.afi;
    *safi = u->mp_unreach.safi;
    return true;
}

/* ------------------------------------------------------------------ */
/* messages                                                            */

int bgp_msg_decode(const uint8_t *data, size_t size, const struct bgp_codec_opts *opts, struct bgp_msg *m,
                   struct bgp_notification *err)
{
    static const struct bgp_codec_opts defaults = {.as4 = false, .ebgp = false, .families = BGP_FAM_ALL};
    struct bgp_notification scratch;
    size_t msize = 0;
    int rc;
    if (!opts) {
        opts = &defaults;
    }
    if (!err) {
        err = &scratch;
    }
    memset(m, 0, sizeof *m);
    rc = bgp_msg_frame(data, size, &msize, err);
    if (rc == BGP_ERR_AGAIN || (rc == 0 && msize != size)) {
        notify_set_u16(err, BGP_NOTIFY_HEADER, BGP_HEADER_BAD_LENGTH, (uint16_t)(rc == 0 ? msize : size));
        return BGP_ERR_HEADER;
    }
    if (rc != 0) {
        return rc;
    }
    m->owned = malloc(size);
    if (!m->owned) {
        notify_set(err, BGP_NOTIFY_CEASE, 8, NULL, 0);
        return BGP_ERR_NOMEM;
    }
    memcpy(m->owned, data, size);
    struct cursor c;
    cursor_init(&c, m->owned, size);
    if (buf_skip(&c, BGP_MARKER_SIZE + 2) != 0 || buf_get_u8(&c, &m->type) != 0) {
        abort(); /* framed above */
    }
    switch (m->type) {
    case BGP_MSG_OPEN:
        rc = open_decode(&c, &m->u.open, err);
        break;
    case BGP_MSG_UPDATE:
        rc = update_decode(&c, opts, &m->u.update, err);
        if (rc != 0) {
            update_free(&m->u.update);
        }
        break;
    case BGP_MSG_NOTIFICATION: {
        struct bgp_notification *n = &m->u.notification;
        n->data_size = (uint16_t)(cursor_remaining(&c) - 2);
        if (buf_get_u8(&c, &n->code) != 0 || buf_get_u8(&c, &n->subcode) != 0 ||
            buf_get_bytes(&c, n->data, n->data_size) != 0) {
            abort(); /* framed: at least 21 bytes, at most the cap */
        }
        break;
    }
    case BGP_MSG_KEEPALIVE:
        break;
    case BGP_MSG_ROUTE_REFRESH: {
        struct bgp_route_refresh *r = &m->u.route_refresh;
        if (buf_get_u16(&c, &r->afi) != 0 || buf_get_u8(&c, &r->subtype) != 0 || buf_get_u8(&c, &r->safi) != 0) {
            abort();
        }
        /* RFC 7313 §5: BoRR/EoRR must be exactly 4 octets; a plain request
         * may carry ORF entries (RFC 5291), which we do not use. */
        if ((r->subtype == 1 || r->subtype == 2) && cursor_remaining(&c) != 0) {
            notify_set(err, BGP_NOTIFY_ROUTE_REFRESH, BGP_RR_INVALID_LENGTH, m->owned, size);
            rc = BGP_ERR_ROUTE_REFRESH;
        }
        break;
    }
    default:
        abort();
    }
    if (rc != 0) {
        free(m->owned);
        memset(m, 0, sizeof *m);
    }
    return rc;
}

void bgp_msg_destroy(struct bgp_msg *m)
{
    if (!m) {
        return;
    }
    if (m->type == BGP_MSG_UPDATE && m->owned) {
        update_free(&m->u.update);
    }
    free(m->owned);
    m->owned = NULL;
}

int bgp_msg_encode(const struct bgp_msg *m, const struct bgp_codec_opts *opts, struct buf *out)
{
    size_t start = out->size;
    int rc = hdr_begin(out, m->type, &start);
    if (rc == 0) {
        switch (m->type) {
        case BGP_MSG_OPEN:
            rc = open_encode(&m->u.open, out);
            break;
        case BGP_MSG_UPDATE:
            rc = update_encode(&m->u.update, opts && opts->as4, out);
            break;
        case BGP_MSG_NOTIFICATION: {
            const struct bgp_notification *n = &m->u.notification;
            if (n->data_size > sizeof n->data) {
                rc = BGP_ERR_INVALID;
                break;
            }
            rc = buf_put_u8(out, n->code);
            if (rc == 0) {
                rc = buf_put_u8(out, n->subcode);
            }
            if (rc == 0 && n->data_size > 0) {
                rc = buf_put(out, n->data, n->data_size);
            }
            break;
        }
        case BGP_MSG_KEEPALIVE:
            break;
        case BGP_MSG_ROUTE_REFRESH:
            rc = buf_put_u16(out, m->u.route_refresh.afi);
            if (rc == 0) {
                rc = buf_put_u8(out, m->u.route_refresh.subtype);
            }
            if (rc == 0) {
                rc = buf_put_u8(out, m->u.route_refresh.safi);
            }
            break;
        default:
            rc = BGP_ERR_INVALID;
            break;
        }
    }
    if (rc == 0) {
        rc = hdr_end(out, start);
    }
    if (rc != 0) {
        out->size = start;
    }
    return rc;
}

int bgp_encode_keepalive(struct buf *out)
{
    struct bgp_msg m = {.type = BGP_MSG_KEEPALIVE};
    return bgp_msg_encode(&m, NULL, out);
}

int bgp_encode_notification(uint8_t code, uint8_t subcode, const uint8_t *data, size_t size, struct buf *out)
{
    size_t start = out->size;
    if (size > BGP_MAX_MSG_SIZE - BGP_HDR_SIZE - 2) {
        return BGP_ERR_TOO_BIG;
    }
    int rc = hdr_begin(out, BGP_MSG_NOTIFICATION, &start);
    if (rc == 0) {
        rc = buf_put_u8(out, code);
    }
    if (rc == 0) {
        rc = buf_put_u8(out, subcode);
    }
    if (rc == 0 && size > 0) {
        rc = buf_put(out, data, size);
    }
    if (rc == 0) {
        rc = hdr_end(out, start);
    }
    if (rc != 0) {
        out->size = start;
    }
    return rc;
}

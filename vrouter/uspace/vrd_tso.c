/* Super-frames from a VM straight to the fabric (vrd_io.c uses it): the
 * byte work of turning a VM's TCP or UDP super-frame, of which the core
 * forwarded only the first segment (the lead), into the segments of
 * UDP_SEGMENT sends, kept free of sockets so unit tests and the fuzzer
 * drive it directly.
 *
 * The core encapsulated the lead as a complete MPLSoUDP or VXLAN frame:
 * the outer Ethernet, IPv4 and UDP header (VRD_USO_HDR bytes), then a
 * prefix (MPLS label, or VXLAN header and inner Ethernet; the inner IP and
 * transport headers, TTL decremented, NAT applied) and the payload. Every
 * other segment takes the same decision (dp_rx_account), so its datagram
 * is the lead's prefix with the inner lengths, IPv4 identification, TCP
 * sequence and flags (or UDP length) of that segment and its checksums,
 * followed by its slice of the super-frame's payload. A UDP_SEGMENT send
 * takes the prefixes and the payload slices as alternating iovec entries:
 * the payload is read once here (for the transport checksum) and copied
 * once, by the kernel; it is never cut into slots and glued again. */
#include <string.h>

#include "vrouter/uspace/vrd.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

/* Payload bytes of segment 'i' of 'g'. */
static uint32_t seg_bytes(const struct vrd_gso *g, uint32_t i)
{
    uint32_t done = i * g->mss;
    return g->payload - done < g->mss ? g->payload - done : g->mss;
}

int vrd_tso_prepare(struct vrd_tso *t, const struct vrd_gso *g, uint32_t sip, const uint8_t *lead, uint32_t len)
{
    memset(t, 0, sizeof *t);
    if (g->count < 2 || !vrd_uso_candidate(sip, lead, len)) {
        return -1;
    }
    uint32_t n0 = seg_bytes(g, 0), inner = g->hdr - 14; /* IP + transport headers */
    if (len - VRD_USO_HDR < inner + n0) {
        return -1;
    }
    uint32_t pre = len - VRD_USO_HDR - n0;
    const uint8_t *ip = lead + VRD_USO_HDR + pre - inner;
    uint8_t proto = g->tcp ? 6 : 17;
    if (g->v6) {
        if ((ip[0] >> 4) != 6 || ip[6] != proto || be16_load(ip + 4) != inner - 40 + n0) {
            return -1;
        }
    } else if (ip[0] >> 4 != 4 || (uint32_t)(ip[0] & 15) * 4 != g->l4 - 14 || ip[9] != proto ||
               be16_load(ip + 2) != inner + n0) {
        return -1;
    }
    uint32_t seg = pre + g->mss;
    uint32_t per = VRD_USO_PAYLOAD / seg;
    if (per > VRD_USO_SEGS) {
        per = VRD_USO_SEGS;
    }
    if (per < 2 || pre > VRD_TSO_PRE_MAX) {
        return -1;
    }
    *t = (struct vrd_tso){.pre = pre, .ip = pre - inner, .l4 = pre - inner + (g->l4 - 14), .seg = seg,
                          .per_send = per};
    return 0;
}

uint32_t vrd_tso_prefix(const struct vrd_tso *t, const struct vrd_gso *g, const uint8_t *lead, const uint8_t *f,
                        uint32_t i, uint8_t *out)
{
    uint32_t n = seg_bytes(g, i), l4 = t->l4;
    memcpy(out, lead + VRD_USO_HDR, t->pre);
    uint8_t *ip = out + t->ip;
    uint32_t l4len = t->pre - l4 + n; /* transport header and payload */
    if (g->v6) {
        be16_store(ip + 4, (uint16_t)l4len);
    } else {
        be16_store(ip + 2, (uint16_t)(l4 - t->ip + l4len));
        be16_store(ip + 4, (uint16_t)(be16_load(lead + VRD_USO_HDR + t->ip + 4) + i));
        ip[10] = ip[11] = 0;
        uint16_t c = (uint16_t)~vrd_csum_fold(vrd_csum_add(0, ip, l4 - t->ip));
        memcpy(ip + 10, &c, 2);
    }
    uint32_t off = 6;
    uint8_t proto = 17;
    if (g->tcp) {
        /* sequence and flags from the super-frame as the VM sent it (NAT
         * moves neither) */
        be32_store(out + l4 + 4, be32_load(f + g->l4 + 4) + i * g->mss);
        uint8_t fl = f[g->l4 + 13];
        if (i + 1 != g->count) {
            fl &= (uint8_t) ~(TCP_FIN | TCP_PSH); /* only on the last segment */
        }
        if (i != 0) {
            fl &= (uint8_t)~TCP_CWR; /* only on the first */
        }
        out[l4 + 13] = fl;
        off = 16;
        proto = 6;
    } else {
        be16_store(out + l4 + 4, (uint16_t)l4len);
    }
    out[l4 + off] = out[l4 + off + 1] = 0;
    uint8_t ph[8] = {0};
    be32_store(ph, l4len);
    ph[7] = proto;
    uint64_t sum = g->v6 ? vrd_csum_add(0, ip + 8, 32) : vrd_csum_add(0, ip + 12, 8);
    sum = vrd_csum_add(sum, ph, 8);
    sum = vrd_csum_add(sum, out + l4, t->pre - l4);
    sum = vrd_csum_add(sum, f + g->hdr + i * g->mss, n);
    uint16_t c = (uint16_t)~vrd_csum_fold(sum);
    if (c == 0 && proto == 17) {
        c = 0xffff;
    }
    memcpy(out + l4 + off, &c, 2);
    return n;
}

uint32_t vrd_tso_frame(const struct vrd_tso *t, const struct vrd_gso *g, const uint8_t *lead, const uint8_t *f,
                       uint32_t i, uint8_t *out)
{
    uint32_t n = vrd_tso_prefix(t, g, lead, f, i, out + VRD_USO_HDR);
    uint32_t len = VRD_USO_HDR + t->pre + n;
    memcpy(out, lead, VRD_USO_HDR);
    memcpy(out + VRD_USO_HDR + t->pre, f + g->hdr + i * g->mss, n);
    uint8_t *ip = out + 14;
    be16_store(ip + 2, (uint16_t)(len - 14));
    ip[10] = ip[11] = 0;
    uint16_t c = (uint16_t)~vrd_csum_fold(vrd_csum_add(0, ip, 20));
    memcpy(ip + 10, &c, 2);
    be16_store(out + 34 + 4, (uint16_t)(len - 34));
    out[34 + 6] = out[34 + 7] = 0;
    return len;
}

/* ---- from the fabric: glued datagrams merged for a VM ---- */

int vrd_rxm_prepare(struct vrd_rxm *m, const uint8_t *piece, uint32_t len, const uint8_t *out, uint32_t out_len)
{
    memset(m, 0, sizeof *m);
    uint32_t hdr = 0, plen = 0;
    if (!vrd_gro_candidate(out, out_len, &hdr, &plen) || len < out_len - 14) {
        return -1;
    }
    uint32_t ip = len - (out_len - 14), tcp = ip + 20;
    const uint8_t *q = piece + ip;
    if (q[0] != 0x45 || q[9] != 6 || be16_load(q + 2) != out_len - 14 || (piece[tcp + 12] >> 4) != (out[34 + 12] >> 4) ||
        len - plen > VRD_TSO_PRE_MAX) {
        return -1;
    }
    *m = (struct vrd_rxm){.pre = len - plen, .ip = ip, .tcp = tcp, .hdr = hdr, .mss = plen};
    return 0;
}

/* Whether piece 'p' ('len' bytes) has piece 0's ('p0') prefix but for
 * the fields each segment has its own. */
static int rxm_same(const struct vrd_rxm *m, const uint8_t *p0, const uint8_t *p)
{
    uint32_t ip = m->ip, tcp = m->tcp;
    return memcmp(p, p0, ip + 2) == 0 &&                       /* encapsulation, IPv4 version/TOS */
           memcmp(p + ip + 6, p0 + ip + 6, 4) == 0 &&          /* fragment field, TTL, protocol */
           memcmp(p + ip + 12, p0 + ip + 12, 12) == 0 &&       /* addresses, ports */
           memcmp(p + tcp + 8, p0 + tcp + 8, 5) == 0 &&        /* acknowledgment, header size */
           memcmp(p + tcp + 14, p0 + tcp + 14, 2) == 0 &&      /* window */
           memcmp(p + tcp + 18, p0 + tcp + 18, m->pre - tcp - 18) == 0; /* urgent pointer, options */
}

void vrd_rxm_start(const struct vrd_rxm *m, const uint8_t *p0, uint32_t max, struct vrd_rxm_run *r)
{
    *r = (struct vrd_rxm_run){.next = be32_load(p0 + m->tcp + 4), .room = 65535 - (m->hdr - 14), .left = max};
}

uint32_t vrd_rxm_take(const struct vrd_rxm *m, const uint8_t *p0, const uint8_t *buf, uint32_t size, uint32_t gso,
                      struct vrd_rxm_run *r)
{
    uint32_t n = vrd_gro_count(size, gso), c = 0;
    for (uint32_t i = 0; i < n && !r->end; i++) {
        uint32_t off, len = vrd_gro_piece(size, gso, i, &off);
        const uint8_t *p = buf + off;
        if (!r->left || len <= m->pre) {
            break;
        }
        uint32_t plen = len - m->pre;
        uint8_t fl = p[m->tcp + 13];
        if (plen > m->mss || plen > r->room || be16_load(p + m->ip + 2) != len - m->ip ||
            (fl & (uint8_t)~0x18u) != 0 || !(fl & 0x10) || be32_load(p + m->tcp + 4) != r->next || !rxm_same(m, p0, p)) {
            break;
        }
        r->next += plen;
        r->room -= plen;
        r->left--;
        r->payload += plen;
        c++;
        if (fl & 0x08) {
            r->psh = 1;
        }
        /* a PSH or shorter piece ends the merge, as one without room would */
        r->end = (fl & 0x08) || plen < m->mss || r->room < m->mss || !r->left;
    }
    return c;
}

void vrd_rxm_finish(const struct vrd_rxm *m, const uint8_t *out, uint32_t payload, uint8_t psh, uint8_t *hdr,
                    struct virtio_net_hdr *vh)
{
    memcpy(hdr, out, m->hdr);
    uint32_t tot = m->hdr - 14 + payload;
    be16_store(hdr + 16, (uint16_t)tot);
    hdr[24] = hdr[25] = 0;
    uint16_t c = (uint16_t)~vrd_csum_fold(vrd_csum_add(0, hdr + 14, 20));
    memcpy(hdr + 24, &c, 2);
    if (psh) {
        hdr[34 + 13] |= 0x08;
    }
    uint8_t ph[8] = {0};
    be32_store(ph, tot - 20);
    ph[7] = 6;
    uint16_t p = vrd_csum_fold(vrd_csum_add(vrd_csum_add(0, hdr + 14 + 12, 8), ph, 8));
    memcpy(hdr + 34 + 16, &p, 2);
    *vh = (struct virtio_net_hdr){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                  .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                                  .hdr_len = (uint16_t)m->hdr,
                                  .gso_size = (uint16_t)m->mss,
                                  .csum_start = 34,
                                  .csum_offset = 16};
}

/* GSO passthrough for strata-vrouter's VM ports (vrd_io.c uses it): the
 * byte work of taking and giving frames with a virtio_net_hdr, kept free of
 * sockets so unit tests drive it directly.
 *
 * From a VM: a port's socket hands over what the VM's stack sent before any
 * segmentation, a TCP (or UDP) super-frame of up to 64 KiB with the segment
 * size in its virtio_net_hdr, and frames whose transport checksum the
 * sender left to the device (VIRTIO_NET_HDR_F_NEEDS_CSUM: the field holds
 * the pseudo-header sum). The fabric carries complete packets, so a
 * super-frame is cut into complete segments (headers copied; IPv4 length,
 * identification and checksum, TCP sequence and flags or UDP length set;
 * transport checksum computed) and a partial checksum is completed before
 * the core sees them: the core stays GSO-unaware, its per-packet path and
 * the kernel module unchanged, and one super-frame costs one pass through
 * the VM port's socket instead of one per segment.
 *
 * To a VM: consecutive full-size segments of one TCP/IPv4 stream going to
 * the same port are merged (GRO) into one super-frame: the first segment's
 * headers, the payloads in order, IPv4 length and checksum set, the TCP
 * checksum left partial, described by a TCPV4 virtio_net_hdr with the
 * segment size. The VM's stack takes it as one packet, as from a NIC's GRO.
 *
 * Checksums are ones' complement sums over native-order words (RFC 1071:
 * byte-order independent when the folded result is stored as is). */
#include <string.h>

#include "vrouter/uspace/vrd.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

uint64_t vrd_csum_add(uint64_t sum, const uint8_t *p, uint32_t size)
{
    /* 32-bit words into a 64-bit sum (no carry is lost below 2^32 words;
     * the compiler vectorizes the loop), folded to 32 bits and added with
     * the carry back (end-around): the same ones' complement sum as 16-bit
     * words, since 2^16 - 1 divides 2^32 - 1 and 2^64 - 1 */
    uint64_t acc = 0;
    uint32_t words = size / 4;
    for (uint32_t i = 0; i < words; i++) {
        uint32_t w;
        memcpy(&w, p + 4 * (size_t)i, 4);
        acc += w;
    }
    p += 4 * (size_t)words;
    size -= 4 * words;
    if (size >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        acc += w;
        p += 2;
        size -= 2;
    }
    if (size) {
        uint8_t last[2] = {p[0], 0};
        uint16_t w;
        memcpy(&w, last, 2);
        acc += w;
    }
    acc = (acc & 0xffffffffu) + (acc >> 32);
    sum += acc;
    sum += sum < acc;
    return sum;
}

uint16_t vrd_csum_fold(uint64_t sum)
{
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)sum;
}

int vrd_csum_complete(uint8_t *f, uint32_t len, uint32_t start, uint32_t off)
{
    if (off < 6 || start > len || off + 2 > len - start) {
        return -1;
    }
    uint16_t c = (uint16_t)~vrd_csum_fold(vrd_csum_add(0, f + start, len - start));
    if (c == 0 && off == 6) {
        c = 0xffff; /* UDP: zero would mean "no checksum" */
    }
    memcpy(f + start + off, &c, 2);
    return 0;
}

/* The pseudo-header sum of the packet in 's' (network header at 14, 'v6'),
 * transport 'proto' of 'l4len' bytes. */
static uint64_t pseudo_sum(const uint8_t *s, int v6, uint8_t proto, uint32_t l4len)
{
    uint8_t ph[8] = {0};
    be32_store(ph, l4len);
    ph[7] = proto;
    uint64_t sum = v6 ? vrd_csum_add(0, s + 14 + 8, 32) : vrd_csum_add(0, s + 14 + 12, 8);
    return vrd_csum_add(sum, ph, 8);
}

int vrd_gso_parse(const uint8_t *f, uint32_t len, const struct virtio_net_hdr *vh, struct vrd_gso *g)
{
    uint8_t type = vh->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    memset(g, 0, sizeof *g);
    g->mss = vh->gso_size;
    if (len < 14 + 20 || g->mss == 0 || len > VRD_GSO_MAX) {
        return -1;
    }
    uint16_t ethertype = be16_load(f + 12);
    uint8_t proto;
    if (ethertype == 0x0800 && (f[14] >> 4) == 4 && (f[14] & 15) >= 5) {
        g->l4 = 14 + (uint32_t)(f[14] & 15) * 4;
        proto = f[23];
        if ((be16_load(f + 20) & 0x3fff) != 0) {
            return -1; /* a fragment */
        }
    } else if (ethertype == 0x86dd && len >= 14 + 40 && (f[14] >> 4) == 6) {
        g->v6 = 1;
        g->l4 = 14 + 40; /* extension headers are not taken: proto below */
        proto = f[20];
    } else {
        return -1;
    }
    g->tcp = (type == VIRTIO_NET_HDR_GSO_TCPV4 && !g->v6) || (type == VIRTIO_NET_HDR_GSO_TCPV6 && g->v6);
    int udp = type == VIRTIO_NET_HDR_GSO_UDP_L4;
    if ((g->tcp && proto != 6) || (udp && proto != 17) || (!g->tcp && !udp) || g->l4 + 20 > len) {
        return -1;
    }
    g->hdr = g->l4 + (g->tcp ? (uint32_t)(f[g->l4 + 12] >> 4) * 4 : 8);
    if ((g->tcp && g->hdr < g->l4 + 20) || g->hdr >= len || g->hdr + g->mss > VRD_FRAME_MAX) {
        return -1;
    }
    g->payload = len - g->hdr;
    g->count = (g->payload + g->mss - 1) / g->mss;
    return 0;
}

uint32_t vrd_gso_segment(const struct vrd_gso *g, const uint8_t *f, uint32_t i, uint8_t *out)
{
    uint32_t done = i * g->mss;
    uint32_t n = g->payload - done < g->mss ? g->payload - done : g->mss;
    uint32_t len = g->hdr + n, l4 = g->l4;
    int first = i == 0, last = i + 1 == g->count;
    memcpy(out, f, g->hdr);
    memcpy(out + g->hdr, f + g->hdr + done, n);
    if (g->v6) {
        be16_store(out + 14 + 4, (uint16_t)(len - 14 - 40));
    } else {
        be16_store(out + 14 + 2, (uint16_t)(len - 14));
        be16_store(out + 14 + 4, (uint16_t)(be16_load(f + 14 + 4) + i));
        out[14 + 10] = out[14 + 11] = 0;
        uint16_t c = (uint16_t)~vrd_csum_fold(vrd_csum_add(0, out + 14, l4 - 14));
        memcpy(out + 14 + 10, &c, 2);
    }
    uint32_t off = 6;
    uint8_t proto = 17;
    if (g->tcp) {
        be32_store(out + l4 + 4, be32_load(f + l4 + 4) + done);
        uint8_t fl = f[l4 + 13];
        if (!last) {
            fl &= (uint8_t) ~(TCP_FIN | TCP_PSH); /* only on the last segment */
        }
        if (!first) {
            fl &= (uint8_t)~TCP_CWR; /* only on the first */
        }
        out[l4 + 13] = fl;
        off = 16;
        proto = 6;
    } else {
        be16_store(out + l4 + 4, (uint16_t)(len - l4));
    }
    out[l4 + off] = out[l4 + off + 1] = 0;
    uint16_t c = (uint16_t)~vrd_csum_fold(vrd_csum_add(pseudo_sum(out, g->v6, proto, len - l4), out + l4, len - l4));
    if (c == 0 && proto == 17) {
        c = 0xffff;
    }
    memcpy(out + l4 + off, &c, 2);
    return len;
}

int vrd_gro_candidate(const uint8_t *f, uint32_t len, uint32_t *hdr, uint32_t *plen)
{
    if (len < 14 + 20 + 20 || be16_load(f + 12) != 0x0800 || f[14] != 0x45 || f[23] != 6 ||
        (be16_load(f + 20) & 0x3fff) != 0 || be16_load(f + 16) != len - 14) {
        return 0;
    }
    uint32_t h = 34 + (uint32_t)(f[34 + 12] >> 4) * 4;
    uint8_t fl = f[34 + 13];
    if (h < 54 || h >= len || (fl & (uint8_t) ~(TCP_ACK | TCP_PSH)) != 0 || !(fl & TCP_ACK)) {
        return 0;
    }
    *hdr = h;
    *plen = len - h;
    return 1;
}

int vrd_gro_fits(const struct vrd_gro *g, uint32_t key, const uint8_t *f, uint32_t len)
{
    uint32_t hdr = 0, plen = 0;
    if (!vrd_gro_candidate(f, len, &hdr, &plen)) {
        return -1;
    }
    const uint8_t *m = g->buf;
    if (!g->count || g->key != key || hdr != g->hdr || be32_load(f + 34 + 4) != g->next || plen > g->mss ||
        g->len + plen > 14 + 65535 || f[15] != m[15] || f[22] != m[22] || memcmp(f + 26, m + 26, 12) != 0 ||
        memcmp(f + 42, m + 42, 5) != 0 || memcmp(f + 48, m + 48, 2) != 0 || memcmp(f + 54, m + 54, hdr - 54) != 0) {
        return 0;
    }
    return 1;
}

int vrd_gro_add(struct vrd_gro *g, uint32_t key, const uint8_t *f, uint32_t len)
{
    uint32_t hdr = 0, plen = 0;
    (void)vrd_gro_candidate(f, len, &hdr, &plen);
    if (!g->count) {
        memcpy(g->buf, f, len);
        g->key = key;
        g->count = 1;
        g->len = len;
        g->hdr = hdr;
        g->mss = plen;
        g->next = be32_load(f + 34 + 4) + plen;
    } else {
        memcpy(g->buf + g->len, f + hdr, plen);
        g->len += plen;
        g->next += plen;
        g->count++;
        g->buf[34 + 13] |= f[34 + 13] & TCP_PSH;
    }
    return plen < g->mss || (f[34 + 13] & TCP_PSH);
}

void vrd_gro_finish(struct vrd_gro *g, struct virtio_net_hdr *vh)
{
    if (g->count <= 1) {
        *vh = (struct virtio_net_hdr){0}; /* the segment as it came, checksum complete */
        return;
    }
    uint8_t *f = g->buf;
    be16_store(f + 16, (uint16_t)(g->len - 14));
    f[24] = f[25] = 0;
    uint16_t c = (uint16_t)~vrd_csum_fold(vrd_csum_add(0, f + 14, 20));
    memcpy(f + 24, &c, 2);
    /* partial TCP checksum: the pseudo-header sum, as a NIC expects it */
    uint16_t p = vrd_csum_fold(pseudo_sum(f, 0, 6, g->len - 34));
    memcpy(f + 34 + 16, &p, 2);
    *vh = (struct virtio_net_hdr){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                  .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                                  .hdr_len = (uint16_t)g->hdr,
                                  .gso_size = (uint16_t)g->mss,
                                  .csum_start = 34,
                                  .csum_offset = 16};
}

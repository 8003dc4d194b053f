/* UDP segmentation offload on strata-vrouter's fabric (vrd_io.c uses it):
 * the byte work of gluing encapsulated datagrams for one UDP_SEGMENT send
 * and of cutting what a UDP_GRO socket returns, kept free of sockets so
 * unit tests and the fuzzer drive it directly.
 *
 * Sending: the core encapsulates every segment of a VM's super-frame as a
 * complete MPLSoUDP or VXLAN frame. Consecutive frames of one tunnel flow
 * (same outer Ethernet, IPv4 and UDP header but for lengths and checksums,
 * so the same per-flow source port) with equal UDP payload sizes, the last
 * one possibly shorter, are glued: the first frame's 42 header bytes are
 * kept, the payloads follow each other. One sendmsg with the UDP_SEGMENT
 * size then carries them all; the kernel rebuilds one outer header per
 * segment. When that send is refused, every frame is rebuilt as the core
 * wrote it (vrd_uso_frame) and sent on the usual path.
 *
 * Receiving: a fabric socket with UDP_GRO may return many datagrams of one
 * flow glued, with the segment size in a control message; they are cut
 * back at that size (the last may be shorter). */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "vrouter/uspace/vrd.h"

#define ETH_IP4 14
#define IP4_UDP (14 + 20)

int vrd_uso_candidate(uint32_t sip, const uint8_t *f, uint32_t len)
{
    if (len <= VRD_USO_HDR || len - VRD_USO_HDR > VRD_USO_PAYLOAD) {
        return 0;
    }
    return be16_load(f + 12) == 0x0800 && f[ETH_IP4] == 0x45 && be16_load(f + ETH_IP4 + 2) == len - ETH_IP4 &&
           (be16_load(f + ETH_IP4 + 6) & 0xbfffu) == 0 && f[ETH_IP4 + 9] == 17 &&
           be32_load(f + ETH_IP4 + 12) == sip && be16_load(f + IP4_UDP + 4) == len - IP4_UDP;
}

int vrd_uso_fits(const struct vrd_uso *u, uint32_t sip, const uint8_t *f, uint32_t len)
{
    if (!vrd_uso_candidate(sip, f, len)) {
        return -1;
    }
    if (u->count == 0) {
        return 0;
    }
    uint32_t payload = len - VRD_USO_HDR;
    const uint8_t *h = u->hdr;
    /* Ethernet addresses, version/TOS, identification (the core writes 0),
     * fragment field/TTL/protocol, the addresses and the ports: all but
     * lengths and checksums */
    if (payload > u->seg || u->count >= VRD_USO_SEGS || u->size + payload > VRD_USO_PAYLOAD ||
        memcmp(f, h, 12) != 0 || memcmp(f + ETH_IP4, h + ETH_IP4, 2) != 0 ||
        memcmp(f + ETH_IP4 + 4, h + ETH_IP4 + 4, 6) != 0 || memcmp(f + ETH_IP4 + 12, h + ETH_IP4 + 12, 12) != 0) {
        return 0;
    }
    return 1;
}

int vrd_uso_add(struct vrd_uso *u, const uint8_t *f, uint32_t len)
{
    uint32_t payload = len - VRD_USO_HDR;
    if (u->count == 0) {
        memcpy(u->hdr, f, VRD_USO_HDR);
        u->seg = payload;
        u->size = 0;
    }
    memcpy(u->buf + u->size, f + VRD_USO_HDR, payload);
    u->size += payload;
    u->count++;
    return payload < u->seg || u->count == VRD_USO_SEGS || u->size + u->seg > VRD_USO_PAYLOAD;
}

uint32_t vrd_uso_frame(const struct vrd_uso *u, uint32_t i, uint8_t *out)
{
    uint32_t at = i * u->seg;
    uint32_t payload = i + 1 < u->count ? u->seg : u->size - at;
    memcpy(out, u->hdr, VRD_USO_HDR);
    uint8_t *ip = out + ETH_IP4;
    be16_store(ip + 2, (uint16_t)(20 + 8 + payload));
    ip[10] = ip[11] = 0;
    uint32_t sum = 0;
    for (uint32_t w = 0; w < 20; w += 2) {
        sum += be16_load(ip + w);
    }
    sum = (sum & 0xffffu) + (sum >> 16);
    sum += sum >> 16;
    be16_store(ip + 10, (uint16_t)~sum);
    be16_store(out + IP4_UDP + 4, (uint16_t)(8 + payload));
    out[IP4_UDP + 6] = out[IP4_UDP + 7] = 0;
    memcpy(out + VRD_USO_HDR, u->buf + at, payload);
    return VRD_USO_HDR + payload;
}

int vrd_udp_gro_size(const struct msghdr *h, uint32_t *gso)
{
    *gso = 0;
    if (!h->msg_control || h->msg_controllen < sizeof(struct cmsghdr)) {
        return 0;
    }
    /* CMSG_NXTHDR stops at a header whose length runs past the buffer */
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)h); c; c = CMSG_NXTHDR((struct msghdr *)h, c)) {
        if (c->cmsg_level != IPPROTO_UDP || c->cmsg_type != VRD_UDP_GRO) {
            continue;
        }
        int v;
        if (c->cmsg_len < CMSG_LEN(sizeof v) ||
            (const uint8_t *)CMSG_DATA(c) + sizeof v > (const uint8_t *)h->msg_control + h->msg_controllen) {
            *gso = 0;
            return -1;
        }
        memcpy(&v, CMSG_DATA(c), sizeof v);
        if (v <= 0 || v > 65535) {
            *gso = 0;
            return -1;
        }
        *gso = (uint32_t)v;
    }
    return 0;
}

uint32_t vrd_gro_count(uint32_t size, uint32_t gso)
{
    if (gso == 0 || size <= gso) {
        return 1;
    }
    return (size + gso - 1) / gso;
}

uint32_t vrd_gro_piece(uint32_t size, uint32_t gso, uint32_t i, uint32_t *off)
{
    if (gso == 0 || size <= gso) {
        *off = 0;
        return i == 0 ? size : 0;
    }
    uint32_t at = i * gso;
    *off = at;
    return at >= size ? 0 : (size - at < gso ? size - at : gso);
}

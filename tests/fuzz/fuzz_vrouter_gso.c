/* Fuzzes strata-vrouter's GSO passthrough (vrouter/uspace/vrd_gso.c), the
 * code that takes what a VM hands its port: the input is a virtio_net_hdr
 * (10 bytes) followed by the frame. A partial checksum is completed on a
 * copy as the header says; a super-frame the parser accepts is cut into
 * every segment, whose payloads must concatenate to the super-frame's and
 * whose sizes must respect the segment size, and the segments are offered
 * to a merge, whose result must never exceed the largest IPv4 packet.
 * The direct path to the fabric (vrd_tso.c) gets segment 0 wrapped in an
 * MPLSoUDP header as its lead: every segment it rebuilds from that lead
 * must carry exactly the bytes the cut segment has after its Ethernet
 * header; and the input itself, taken for a lead, must be refused or
 * rebuilt within the sizes vrd_tso_prepare announced. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vrouter/uspace/vrd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t frame[VRD_GSO_MAX], seg[VRD_FRAME_MAX], joined[VRD_GSO_MAX];
static uint8_t lead[VRD_USO_HDR + 4 + VRD_FRAME_MAX], rebuilt[VRD_USO_HDR + 65536];

#define SIP 0x0a610001u

/* Segment 0 of 'g' as the core would encapsulate it in MPLSoUDP from SIP
 * (the inner Ethernet header replaced by a label); returns its length. */
static uint32_t make_lead(const struct vrd_gso *g)
{
    uint32_t n = vrd_gso_segment(g, frame, 0, seg);
    uint32_t len = VRD_USO_HDR + 4 + n - 14;
    memset(lead, 0, VRD_USO_HDR + 4);
    be16_store(lead + 12, 0x0800);
    lead[14] = 0x45;
    be16_store(lead + 16, (uint16_t)(len - 14));
    lead[20] = 0x40;
    lead[22] = 64;
    lead[23] = 17;
    be32_store(lead + 26, SIP);
    be32_store(lead + 30, 0x0a610002u);
    be16_store(lead + 34, 49153);
    be16_store(lead + 36, 6635);
    be16_store(lead + 38, (uint16_t)(len - 34));
    be32_store(lead + VRD_USO_HDR, 200u << 12 | 0x100 | 64);
    memcpy(lead + VRD_USO_HDR + 4, seg + 14, n - 14);
    return len;
}

/* The direct path's checks for super-frame 'g' in 'frame' ('len' bytes). */
static void check_tso(const struct vrd_gso *g, uint32_t len)
{
    struct vrd_tso t;
    if (vrd_tso_prepare(&t, g, be32_load(frame + 26), frame, len) == 0) {
        for (uint32_t i = 0; i < g->count; i++) {
            if (vrd_tso_frame(&t, g, frame, frame, i, rebuilt) > VRD_USO_HDR + t.seg) {
                abort();
            }
        }
    }
    if (g->count < 2) {
        return;
    }
    uint32_t ll = make_lead(g);
    if (ll > VRD_USO_HDR + VRD_USO_PAYLOAD) {
        return;
    }
    if (vrd_tso_prepare(&t, g, SIP, lead, ll) != 0) {
        /* refused only when a send could not carry two segments */
        if ((g->hdr - 14 + 4 + g->mss) * 2 <= VRD_USO_PAYLOAD) {
            abort();
        }
        return;
    }
    if (t.pre != 4 + g->hdr - 14 || t.seg != t.pre + g->mss) {
        abort();
    }
    for (uint32_t i = 0; i < g->count; i++) {
        uint32_t n = vrd_gso_segment(g, frame, i, seg);
        uint32_t m = vrd_tso_frame(&t, g, lead, frame, i, rebuilt);
        if (m != VRD_USO_HDR + 4 + n - 14 || memcmp(rebuilt + VRD_USO_HDR + 4, seg + 14, n - 14) != 0) {
            abort();
        }
    }
}
static struct vrd_gro gro;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct virtio_net_hdr vh;
    if (size < sizeof vh || size - sizeof vh > VRD_GSO_MAX) {
        return 0;
    }
    memcpy(&vh, data, sizeof vh);
    uint32_t len = (uint32_t)(size - sizeof vh);
    memcpy(frame, data + sizeof vh, len);
    if (vrd_csum_complete(frame, len, vh.csum_start, vh.csum_offset) == 0 &&
        (uint32_t)vh.csum_start + vh.csum_offset + 2 > len) {
        abort(); /* wrote outside the frame */
    }
    memcpy(frame, data + sizeof vh, len);
    struct vrd_gso g;
    if (vrd_gso_parse(frame, len, &vh, &g) != 0) {
        return 0;
    }
    if (g.count == 0 || g.hdr + g.payload != len || g.hdr + g.mss > VRD_FRAME_MAX) {
        abort();
    }
    memset(&gro, 0, sizeof gro);
    uint32_t at = 0;
    for (uint32_t i = 0; i < g.count; i++) {
        uint32_t n = vrd_gso_segment(&g, frame, i, seg);
        if (n <= g.hdr || n > g.hdr + g.mss || at + (n - g.hdr) > g.payload) {
            abort();
        }
        memcpy(joined + at, seg + g.hdr, n - g.hdr);
        at += n - g.hdr;
        int fit = vrd_gro_fits(&gro, 1, seg, n);
        if (fit == 0) {
            gro.count = 0; /* "sent" */
        }
        if (fit >= 0 && vrd_gro_add(&gro, 1, seg, n)) {
            struct virtio_net_hdr out;
            vrd_gro_finish(&gro, &out);
            gro.count = 0;
        }
        if (gro.len > 14 + 65535) {
            abort();
        }
    }
    if (at != g.payload || memcmp(joined, frame + g.hdr, g.payload) != 0) {
        abort();
    }
    check_tso(&g, len);
    return 0;
}

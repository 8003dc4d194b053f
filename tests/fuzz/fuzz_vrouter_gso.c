/* Fuzzes strata-vrouter's GSO passthrough (vrouter/uspace/vrd_gso.c), the
 * code that takes what a VM hands its port: the input is a virtio_net_hdr
 * (10 bytes) followed by the frame. A partial checksum is completed on a
 * copy as the header says; a super-frame the parser accepts is cut into
 * every segment, whose payloads must concatenate to the super-frame's and
 * whose sizes must respect the segment size, and the segments are offered
 * to a merge, whose result must never exceed the largest IPv4 packet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vrouter/uspace/vrd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t frame[VRD_GSO_MAX], seg[VRD_FRAME_MAX], joined[VRD_GSO_MAX];
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
    return 0;
}

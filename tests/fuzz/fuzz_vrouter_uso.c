/* Fuzzes strata-vrouter's fabric UDP segmentation offload
 * (vrouter/uspace/vrd_uso.c). The input is: a 16-bit control length and
 * that many bytes of control messages, as a UDP_GRO socket's recvmsg
 * would return them, then the rest, used twice. First as a received
 * buffer: the segment size read from the control messages must cut it
 * into pieces that cover it exactly in order, each of the segment size
 * but the last, which is no larger. Then as a sequence of fabric frames
 * (16-bit length, bytes) offered to a glued run as the datapath does:
 * every run, when it ends, must rebuild each of its frames with the
 * original's bytes but for the two checksums, and its payload must never
 * exceed the largest UDP payload or 64 segments. The received buffer's
 * first piece, taken for the core's delivery of itself, then goes to the
 * direct merge for a VM (vrd_tso.c): when it is taken, the merge must
 * count pieces of the buffer only, at least the first, payload within
 * the pieces and the IPv4 limit, and its headers stay in their bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vrouter/uspace/vrd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SIP 0x0a610001u

static struct vrd_uso uso;
static uint8_t out[VRD_USO_HDR + VRD_USO_PAYLOAD];
static const uint8_t *added[VRD_USO_SEGS];
static uint32_t added_len[VRD_USO_SEGS];

/* Ends the run: every frame rebuilt must be the one added. */
static void run_end(void)
{
    if (uso.count > VRD_USO_SEGS || uso.size > VRD_USO_PAYLOAD) {
        abort();
    }
    for (uint32_t i = 0; i < uso.count; i++) {
        uint32_t n = vrd_uso_frame(&uso, i, out);
        if (n != added_len[i] || memcmp(out, added[i], 24) != 0 || memcmp(out + 26, added[i] + 26, 14) != 0 ||
            memcmp(out + 42, added[i] + 42, n - 42) != 0) {
            abort();
        }
    }
    uso.count = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    size_t clen = (size_t)(data[0] << 8 | data[1]) % 512;
    if (size - 2 < clen) {
        return 0;
    }
    union {
        char buf[512];
        struct cmsghdr align;
    } ctl;
    memcpy(ctl.buf, data + 2, clen);
    const uint8_t *rest = data + 2 + clen;
    uint32_t rest_size = (uint32_t)(size - 2 - clen);
    struct msghdr m = {.msg_control = clen ? ctl.buf : NULL, .msg_controllen = clen};
    uint32_t gso = 1;
    if (vrd_udp_gro_size(&m, &gso) != 0 && gso != 0) {
        abort();
    }
    uint32_t count = vrd_gro_count(rest_size, gso), at = 0, off;
    if (count == 0 || (gso && count > rest_size / gso + 1)) {
        abort();
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t n = vrd_gro_piece(rest_size, gso, i, &off);
        if (off != at || (gso && n > gso) || (i + 1 < count && gso && n != gso)) {
            abort();
        }
        at += n;
    }
    if (at != rest_size || vrd_gro_piece(rest_size, gso, count, &off) != 0) {
        abort();
    }
    uint32_t len0 = vrd_gro_piece(rest_size, gso, 0, &off);
    struct vrd_rxm rm;
    if (vrd_rxm_prepare(&rm, rest, len0, rest, len0) == 0) {
        uint8_t hdr[14 + 60 + 60];
        struct vrd_rxm_run run;
        vrd_rxm_start(&rm, rest, VRD_USO_SEGS, &run);
        uint32_t c = vrd_rxm_take(&rm, rest, rest, rest_size, gso, &run);
        /* the same buffer again: its first piece's sequence cannot follow
         * unless the merge took nothing more than an empty payload */
        c += vrd_rxm_take(&rm, rest, rest, rest_size, gso, &run);
        if (c < 1 || c > 2 * count || c > VRD_USO_SEGS || run.payload > 2 * rest_size || rm.hdr > sizeof hdr ||
            rm.pre > VRD_TSO_PRE_MAX || rm.hdr - 14 + run.payload > 65535) {
            abort();
        }
        struct virtio_net_hdr vh;
        vrd_rxm_finish(&rm, rest, run.payload, run.psh, hdr, &vh);
        if (vh.gso_size != rm.mss || vh.hdr_len != rm.hdr) {
            abort();
        }
    }

    memset(&uso, 0, sizeof uso);
    uint32_t pos = 0;
    while (rest_size - pos >= 2) {
        uint32_t n = (uint32_t)(rest[pos] << 8 | rest[pos + 1]);
        pos += 2;
        if (n > rest_size - pos) {
            n = rest_size - pos;
        }
        const uint8_t *f = rest + pos;
        pos += n;
        int fit = vrd_uso_fits(&uso, SIP, f, n);
        if (fit < 1) {
            run_end();
        }
        if (fit < 0) {
            continue;
        }
        added[uso.count] = f;
        added_len[uso.count] = n;
        if (vrd_uso_add(&uso, f, n)) {
            run_end();
        }
    }
    run_end();
    return 0;
}

/* Unit tests of strata-vrouter's GSO passthrough (vrouter/uspace/vrd_gso.c):
 * cutting a VM's super-frames into complete segments, completing partial
 * checksums, and merging segments towards a VM (GRO). Checksums are
 * verified by an independent byte-wise RFC 1071 sum. They prove that a TCP
 * super-frame (IPv4 and IPv6, with options) becomes segments whose
 * payloads concatenate to the original, with consecutive sequence numbers
 * and IPv4 identifications, lengths and valid IPv4 and TCP checksums, FIN
 * and PSH only on the last segment and CWR only on the first; that a UDP
 * super-frame becomes datagrams with valid lengths and checksums; that
 * malformed or unsupported super-frames are refused; that a partial
 * checksum is completed (UDP's 0 as 0xffff) and bad offsets refused; and
 * that merging the segments back gives the original super-frame's bytes
 * (partial checksum, TCPV4 header with the segment size), that a gap,
 * another stream, another port or a different ACK does not continue a
 * merge, and that a short or PSH segment ends it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/vrouter_msg/csum_ref.h"
#include "vrouter/uspace/vrd.h"

/* Whether the transport checksum of packet 'f' ('len', network header at
 * 14) verifies. */
static int l4_ok(const uint8_t *f, size_t len, int v6, uint8_t proto)
{
    size_t l4 = v6 ? 54 : 14 + (size_t)(f[14] & 15) * 4;
    uint32_t s = v6 ? sum16(f + 22, 32, 0) : sum16(f + 26, 8, 0);
    s += proto + (uint32_t)(len - l4);
    return fold(sum16(f + l4, len - l4, s)) == 0xffff;
}

static int ip4_ok(const uint8_t *f)
{
    return fold(sum16(f + 14, (size_t)(f[14] & 15) * 4, 0)) == 0xffff;
}

/* A TCP super-frame: Ethernet, IPv4 (or IPv6), TCP with 12 bytes of
 * options, 'payload' bytes of pattern, flags 'fl'. Returns its length. */
static uint32_t make_tcp(uint8_t *f, int v6, uint32_t payload, uint8_t fl)
{
    uint32_t l4 = v6 ? 54 : 34, hdr = l4 + 32, len = hdr + payload;
    memset(f, 0, hdr);
    memcpy(f, (uint8_t[]){2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}, 12);
    if (v6) {
        be16_store(f + 12, 0x86dd);
        f[14] = 0x60;
        be16_store(f + 18, (uint16_t)(len - 54));
        f[20] = 6;
        f[21] = 64;
        f[22 + 15] = 1;
        f[38 + 15] = 2;
    } else {
        be16_store(f + 12, 0x0800);
        f[14] = 0x45;
        be16_store(f + 16, (uint16_t)(len - 14));
        be16_store(f + 18, 0x1234);
        f[20] = 0x40; /* DF */
        f[22] = 64;
        f[23] = 6;
        memcpy(f + 26, (uint8_t[]){192, 168, 1, 1, 192, 168, 1, 2}, 8);
    }
    be16_store(f + l4, 40001);
    be16_store(f + l4 + 2, 5002);
    be32_store(f + l4 + 4, 0xfffff000); /* wraps inside the frame */
    be32_store(f + l4 + 8, 0x01020304);
    f[l4 + 12] = 8 << 4;
    f[l4 + 13] = fl;
    be16_store(f + l4 + 14, 501);
    memcpy(f + l4 + 20, (uint8_t[]){1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9}, 12); /* NOP NOP timestamps */
    for (uint32_t i = 0; i < payload; i++) {
        f[hdr + i] = (uint8_t)(i * 7 + (i >> 8));
    }
    return len;
}

static void check_tcp_cut(int v6)
{
    static uint8_t f[VRD_GSO_MAX], seg[VRD_FRAME_MAX], joined[VRD_GSO_MAX];
    uint32_t payload = 10000, len = make_tcp(f, v6, payload, 0x10 | 0x08 | 0x01 | 0x80); /* ACK PSH FIN CWR */
    struct virtio_net_hdr vh = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                .gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
                                .gso_size = 1448};
    struct vrd_gso g;
    assert_int_equal(vrd_gso_parse(f, len, &vh, &g), 0);
    uint32_t l4 = v6 ? 54 : 34;
    assert_int_equal(g.hdr, l4 + 32);
    assert_int_equal(g.count, 7); /* 6 x 1448 + 1312 */
    uint32_t at = 0;
    for (uint32_t i = 0; i < g.count; i++) {
        uint32_t n = vrd_gso_segment(&g, f, i, seg);
        uint32_t plen = i + 1 < g.count ? 1448 : payload - 6 * 1448;
        assert_int_equal(n, g.hdr + plen);
        if (v6) {
            assert_int_equal(be16_load(seg + 18), n - 54);
        } else {
            assert_int_equal(be16_load(seg + 16), n - 14);
            assert_int_equal(be16_load(seg + 18), 0x1234 + i);
            assert_true(ip4_ok(seg));
        }
        assert_true(l4_ok(seg, n, v6, 6));
        assert_int_equal(be32_load(seg + l4 + 4), (uint32_t)(0xfffff000u + at));
        uint8_t fl = seg[l4 + 13];
        assert_int_equal(!!(fl & 0x01), i + 1 == g.count);
        assert_int_equal(!!(fl & 0x08), i + 1 == g.count);
        assert_int_equal(!!(fl & 0x80), i == 0);
        assert_true(fl & 0x10);
        assert_memory_equal(seg + l4 + 20, f + l4 + 20, 12); /* options copied */
        memcpy(joined + at, seg + g.hdr, plen);
        at += plen;
    }
    assert_int_equal(at, payload);
    assert_memory_equal(joined, f + g.hdr, payload);
}

static void test_gso_tcp4(void **state)
{
    (void)state;
    check_tcp_cut(0);
}

static void test_gso_tcp6(void **state)
{
    (void)state;
    check_tcp_cut(1);
}

static void test_gso_udp(void **state)
{
    (void)state;
    static uint8_t f[VRD_GSO_MAX], seg[VRD_FRAME_MAX];
    uint32_t len = make_tcp(f, 0, 0, 0); /* then turned into UDP, 3000 bytes of payload */
    f[23] = 17;
    len = 42 + 3000;
    be16_store(f + 16, (uint16_t)(len - 14));
    be16_store(f + 38, (uint16_t)(len - 34));
    memset(f + 42, 0xa5, 3000);
    struct virtio_net_hdr vh = {.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4, .gso_size = 1000};
    struct vrd_gso g;
    assert_int_equal(vrd_gso_parse(f, len, &vh, &g), 0);
    assert_int_equal(g.count, 3);
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t n = vrd_gso_segment(&g, f, i, seg);
        assert_int_equal(n, 42 + 1000);
        assert_int_equal(be16_load(seg + 38), 1008);
        assert_true(ip4_ok(seg));
        assert_true(l4_ok(seg, n, 0, 17));
    }
}

static void test_gso_refused(void **state)
{
    (void)state;
    static uint8_t f[VRD_GSO_MAX];
    uint32_t len = make_tcp(f, 0, 3000, 0x10);
    struct vrd_gso g;
    struct virtio_net_hdr vh = {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448};
    assert_int_equal(vrd_gso_parse(f, len, &vh, &g), 0);
    vh.gso_size = 0;
    assert_int_equal(vrd_gso_parse(f, len, &vh, &g), -1);
    vh.gso_size = VRD_FRAME_MAX; /* a segment would not fit a slot */
    assert_int_equal(vrd_gso_parse(f, len, &vh, &g), -1);
    vh.gso_size = 1448;
    vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; /* says IPv6, is IPv4 */
    assert_int_equal(vrd_gso_parse(f, len, &vh, &g), -1);
    vh.gso_type = VIRTIO_NET_HDR_GSO_UDP; /* UFO: not taken */
    assert_int_equal(vrd_gso_parse(f, len, &vh, &g), -1);
    vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    assert_int_equal(vrd_gso_parse(f, 34 + 32, &vh, &g), -1); /* no payload */
    assert_int_equal(vrd_gso_parse(f, 40, &vh, &g), -1);      /* truncated TCP header */
    f[23] = 17;                                               /* TCPV4 over UDP */
    assert_int_equal(vrd_gso_parse(f, len, &vh, &g), -1);
    f[23] = 6;
    f[20] = 0x20; /* a fragment (MF) */
    assert_int_equal(vrd_gso_parse(f, len, &vh, &g), -1);
    f[20] = 0x40;
    be16_store(f + 12, 0x8100); /* VLAN: not taken */
    assert_int_equal(vrd_gso_parse(f, len, &vh, &g), -1);
}

static void test_csum_complete(void **state)
{
    (void)state;
    static uint8_t f[2000];
    uint32_t len = make_tcp(f, 0, 1001, 0x18); /* odd payload */
    /* what a sender leaves: the pseudo-header sum in the field */
    uint32_t s = sum16(f + 26, 8, 0) + 6 + (len - 34);
    be16_store(f + 34 + 16, fold(s));
    assert_int_equal(vrd_csum_complete(f, len, 34, 16), 0);
    assert_true(l4_ok(f, len, 0, 6));
    assert_int_equal(vrd_csum_complete(f, len, 34, 4), -1);        /* inside the ports */
    assert_int_equal(vrd_csum_complete(f, len, len - 1, 16), -1);  /* beyond the frame */
    assert_int_equal(vrd_csum_complete(f, len, len + 10, 16), -1);
    /* UDP whose sum comes out 0 is sent as 0xffff */
    uint8_t u[8] = {0, 0, 0, 0, 0, 8, 0xff, 0xf7};
    assert_int_equal(vrd_csum_complete(u, 8, 0, 6), 0);
    assert_int_equal(be16_load(u + 6), 0xffff);
}

static void test_gro_rebuilds_superframe(void **state)
{
    (void)state;
    static uint8_t f[VRD_GSO_MAX], segs[8][VRD_FRAME_MAX];
    static struct vrd_gro gro;
    uint32_t lens[8];
    uint32_t len = make_tcp(f, 0, 5 * 1448, 0x18); /* ACK PSH */
    struct virtio_net_hdr vh = {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448};
    struct vrd_gso g;
    assert_int_equal(vrd_gso_parse(f, len, &vh, &g), 0);
    for (uint32_t i = 0; i < g.count; i++) {
        lens[i] = vrd_gso_segment(&g, f, i, segs[i]);
    }
    memset(&gro, 0, sizeof gro);
    for (uint32_t i = 0; i < g.count; i++) {
        int fit = vrd_gro_fits(&gro, 3, segs[i], lens[i]);
        assert_int_equal(fit, i == 0 ? 0 : 1);
        /* another port, a gap, another ACK: none continues the merge */
        if (i > 0) {
            assert_int_equal(vrd_gro_fits(&gro, 4, segs[i], lens[i]), 0);
            uint8_t alt[VRD_FRAME_MAX];
            memcpy(alt, segs[i], lens[i]);
            be32_store(alt + 38, be32_load(alt + 38) + 1);
            assert_int_equal(vrd_gro_fits(&gro, 3, alt, lens[i]), 0);
            memcpy(alt, segs[i], lens[i]);
            be32_store(alt + 42, 0x01020305);
            assert_int_equal(vrd_gro_fits(&gro, 3, alt, lens[i]), 0);
        }
        /* the last segment carries PSH: the merge ends with it */
        assert_int_equal(vrd_gro_add(&gro, 3, segs[i], lens[i]), i + 1 == g.count);
    }
    assert_int_equal(gro.count, 5);
    struct virtio_net_hdr out;
    vrd_gro_finish(&gro, &out);
    assert_int_equal(out.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    assert_int_equal(out.gso_size, 1448);
    assert_int_equal(out.hdr_len, 66);
    assert_int_equal(out.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    assert_int_equal(out.csum_start, 34);
    assert_int_equal(out.csum_offset, 16);
    assert_int_equal(gro.len, len);
    assert_true(ip4_ok(gro.buf));
    /* the bytes of the original with its partial checksum (the pseudo-header sum) */
    uint32_t s = sum16(f + 26, 8, 0) + 6 + (len - 34);
    be16_store(f + 34 + 16, fold(s));
    be16_store(f + 24, be16_load(gro.buf + 24));
    assert_memory_equal(gro.buf, f, len);
}

static void test_gro_not_taken(void **state)
{
    (void)state;
    static uint8_t f[4000];
    static struct vrd_gro gro;
    memset(&gro, 0, sizeof gro);
    uint32_t len = make_tcp(f, 0, 1000, 0x10);
    be16_store(f + 24, 0);
    assert_int_equal(vrd_gro_fits(&gro, 1, f, len), 0);
    /* a short first segment ends the merge at once; one segment goes as it came */
    assert_int_equal(vrd_gro_add(&gro, 1, f, len), 0);
    assert_int_equal(gro.count, 1);
    struct virtio_net_hdr out;
    vrd_gro_finish(&gro, &out);
    assert_int_equal(out.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    assert_memory_equal(gro.buf, f, len);
    /* a following shorter segment is taken and ends the merge */
    uint8_t g2[4000];
    memcpy(g2, f, len);
    be32_store(g2 + 38, be32_load(f + 38) + 1000);
    be16_store(g2 + 16, (uint16_t)(len - 14 - 500));
    assert_int_equal(vrd_gro_fits(&gro, 1, g2, len - 500), 1);
    assert_int_equal(vrd_gro_add(&gro, 1, g2, len - 500), 1);
    /* not candidates: pure ACK, SYN, IPv6, IP options, padding after the packet */
    uint32_t ack = make_tcp(f, 0, 0, 0x10);
    assert_int_equal(vrd_gro_fits(&gro, 1, f, ack), -1);
    len = make_tcp(f, 0, 100, 0x12);
    assert_int_equal(vrd_gro_fits(&gro, 1, f, len), -1);
    len = make_tcp(f, 1, 100, 0x10);
    assert_int_equal(vrd_gro_fits(&gro, 1, f, len), -1);
    len = make_tcp(f, 0, 100, 0x10);
    f[14] = 0x46;
    assert_int_equal(vrd_gro_fits(&gro, 1, f, len), -1);
    f[14] = 0x45;
    assert_int_equal(vrd_gro_fits(&gro, 1, f, len + 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gso_tcp4),
        cmocka_unit_test(test_gso_tcp6),
        cmocka_unit_test(test_gso_udp),
        cmocka_unit_test(test_gso_refused),
        cmocka_unit_test(test_csum_complete),
        cmocka_unit_test(test_gro_rebuilds_superframe),
        cmocka_unit_test(test_gro_not_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of strata-vrouter's UDP segmentation offload on the fabric
 * (vrouter/uspace/vrd_uso.c). They prove that consecutive MPLSoUDP and
 * VXLAN frames of one tunnel flow are glued into one run of equal-size
 * payloads with a shorter tail that ends it, that every frame is rebuilt
 * from the run byte for byte as it was (lengths and an IPv4 checksum
 * verified by an independent sum), that another flow, source port,
 * address, TTL or a larger payload does not continue a run, that
 * non-candidates (not IPv4/UDP, options, fragments, foreign source,
 * inconsistent lengths) are refused, that a run ends at 64 segments and
 * at the largest UDP payload; that a UDP_GRO buffer of N datagrams is cut
 * back into N pieces with the right bytes; that the segment size is read
 * from the control messages (among others) and malformed ones refused;
 * and, through real loopback sockets, that a UDP_SEGMENT send of a run
 * arrives at a UDP_GRO socket as datagrams whose bytes are the frames'
 * payloads. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vrouter/uspace/vrd.h"

#define SIP 0x0a610001u /* 10.97.0.1 */

static uint16_t ip_csum(const uint8_t *ip)
{
    uint32_t s = 0;
    for (int i = 0; i < 20; i += 2) {
        s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return (uint16_t)~s;
}

/* An encapsulated fabric frame as the core writes it: outer Ethernet,
 * IPv4 (DF, TTL 64, identification 0, checksum set), UDP from 'sport' to
 * 'dport' with checksum 0, then 'payload' bytes of pattern 'seed' (the
 * MPLS label or VXLAN header and the inner packet). Returns its length. */
static uint32_t make_frame(uint8_t *f, uint16_t sport, uint16_t dport, uint32_t payload, uint32_t seed)
{
    uint32_t len = VRD_USO_HDR + payload;
    memset(f, 0, VRD_USO_HDR);
    memcpy(f, (uint8_t[]){2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}, 12);
    be16_store(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    be16_store(ip + 2, (uint16_t)(len - 14));
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 17;
    be32_store(ip + 12, SIP);
    be32_store(ip + 16, 0x0a610002u);
    be16_store(ip + 10, ip_csum(ip));
    be16_store(f + 34, sport);
    be16_store(f + 36, dport);
    be16_store(f + 38, (uint16_t)(len - 34));
    for (uint32_t i = 0; i < payload; i++) {
        f[VRD_USO_HDR + i] = (uint8_t)(i * 13 + seed + (i >> 8));
    }
    return len;
}

static struct vrd_uso uso;
static uint8_t frames[8][VRD_USO_HDR + 2000], out[VRD_USO_HDR + VRD_USO_PAYLOAD];

static void check_glue(uint16_t dport)
{
    static const uint32_t sizes[6] = {1460, 1460, 1460, 1460, 1460, 377};
    uint32_t lens[6];
    memset(&uso, 0, sizeof uso);
    for (uint32_t i = 0; i < 6; i++) {
        lens[i] = make_frame(frames[i], 0xc123, dport, sizes[i], i);
        assert_int_equal(vrd_uso_fits(&uso, SIP, frames[i], lens[i]), i == 0 ? 0 : 1);
        assert_int_equal(vrd_uso_add(&uso, frames[i], lens[i]), i == 5); /* the shorter tail ends it */
    }
    assert_int_equal(uso.count, 6);
    assert_int_equal(uso.seg, 1460);
    assert_int_equal(uso.size, 5 * 1460 + 377);
    for (uint32_t i = 0; i < 6; i++) {
        /* the glued payloads in order ... */
        assert_memory_equal(uso.buf + i * 1460, frames[i] + VRD_USO_HDR, sizes[i]);
        /* ... and every frame rebuilt as the core wrote it */
        memset(out, 0xee, VRD_USO_HDR + 1460);
        assert_int_equal(vrd_uso_frame(&uso, i, out), lens[i]);
        assert_memory_equal(out, frames[i], lens[i]);
        assert_int_equal(ip_csum(out + 14), 0); /* a valid header sums to 0xffff */
    }
}

static void test_uso_glue_mpls_udp(void **state)
{
    (void)state;
    check_glue(6635);
}

static void test_uso_glue_vxlan(void **state)
{
    (void)state;
    check_glue(4789);
}

static void test_uso_not_continued(void **state)
{
    (void)state;
    memset(&uso, 0, sizeof uso);
    uint32_t len = make_frame(frames[0], 0xc001, 6635, 1000, 0);
    assert_int_equal(vrd_uso_add(&uso, frames[0], len), 0);
    /* another flow (source port), another destination, another TTL, a
     * larger payload: candidates that do not continue the run */
    len = make_frame(frames[1], 0xc002, 6635, 1000, 1);
    assert_int_equal(vrd_uso_fits(&uso, SIP, frames[1], len), 0);
    len = make_frame(frames[1], 0xc001, 4789, 1000, 1);
    assert_int_equal(vrd_uso_fits(&uso, SIP, frames[1], len), 0);
    len = make_frame(frames[1], 0xc001, 6635, 1000, 1);
    frames[1][30 + 3] = 9;
    assert_int_equal(vrd_uso_fits(&uso, SIP, frames[1], len), 0);
    len = make_frame(frames[1], 0xc001, 6635, 1000, 1);
    frames[1][22] = 63;
    assert_int_equal(vrd_uso_fits(&uso, SIP, frames[1], len), 0);
    len = make_frame(frames[1], 0xc001, 6635, 1001, 1);
    assert_int_equal(vrd_uso_fits(&uso, SIP, frames[1], len), 0);
    len = make_frame(frames[1], 0xc001, 6635, 1000, 1);
    assert_int_equal(vrd_uso_fits(&uso, SIP, frames[1], len), 1);
}

static void test_uso_refused(void **state)
{
    (void)state;
    memset(&uso, 0, sizeof uso);
    uint8_t *f = frames[0];
    uint32_t len = make_frame(f, 0xc001, 6635, 200, 0);
    assert_int_equal(vrd_uso_fits(&uso, SIP, f, len), 0);
    assert_int_equal(vrd_uso_fits(&uso, SIP + 1, f, len), -1); /* another source address */
    assert_int_equal(vrd_uso_fits(&uso, SIP, f, len + 1), -1); /* lengths disagree */
    assert_int_equal(vrd_uso_fits(&uso, SIP, f, VRD_USO_HDR), -1); /* no payload */
    f[23] = 47;                                                    /* GRE */
    assert_int_equal(vrd_uso_fits(&uso, SIP, f, len), -1);
    f[23] = 17;
    f[14] = 0x46; /* options */
    assert_int_equal(vrd_uso_fits(&uso, SIP, f, len), -1);
    f[14] = 0x45;
    f[20] = 0x20; /* MF */
    assert_int_equal(vrd_uso_fits(&uso, SIP, f, len), -1);
    f[20] = 0x40;
    f[12] = 0x86; /* not IPv4 */
    assert_int_equal(vrd_uso_fits(&uso, SIP, f, len), -1);
}

static void test_uso_limits(void **state)
{
    (void)state;
    /* 64 segments at most */
    memset(&uso, 0, sizeof uso);
    uint32_t len = make_frame(frames[0], 0xc001, 6635, 100, 0);
    for (uint32_t i = 0; i < VRD_USO_SEGS; i++) {
        assert_int_equal(vrd_uso_fits(&uso, SIP, frames[0], len), i == 0 ? 0 : 1);
        assert_int_equal(vrd_uso_add(&uso, frames[0], len), i + 1 == VRD_USO_SEGS);
    }
    assert_int_equal(vrd_uso_fits(&uso, SIP, frames[0], len), 0);
    /* the largest UDP payload: 44 x 1480 = 65120, a 45th would not fit */
    memset(&uso, 0, sizeof uso);
    len = make_frame(frames[0], 0xc001, 6635, 1480, 0);
    for (uint32_t i = 0; i < 44; i++) {
        assert_int_equal(vrd_uso_add(&uso, frames[0], len), i == 43);
    }
    assert_true(uso.size <= VRD_USO_PAYLOAD);
    assert_int_equal(vrd_uso_fits(&uso, SIP, frames[0], len), 0);
}

static void test_gro_split(void **state)
{
    (void)state;
    static uint8_t glued[5 * 1400 + 99];
    uint32_t size = sizeof glued;
    for (uint32_t i = 0; i < size; i++) {
        glued[i] = (uint8_t)(i * 31 + (i >> 7));
    }
    assert_int_equal(vrd_gro_count(size, 1400), 6);
    uint32_t at = 0, off;
    for (uint32_t i = 0; i < 6; i++) {
        uint32_t n = vrd_gro_piece(size, 1400, i, &off);
        assert_int_equal(off, at);
        assert_int_equal(n, i < 5 ? 1400 : 99);
        assert_memory_equal(glued + off, glued + i * 1400, n);
        at += n;
    }
    assert_int_equal(at, size);
    assert_int_equal(vrd_gro_piece(size, 1400, 6, &off), 0);
    /* an exact multiple: no empty tail */
    assert_int_equal(vrd_gro_count(2800, 1400), 2);
    assert_int_equal(vrd_gro_piece(2800, 1400, 1, &off), 1400);
    assert_int_equal(off, 1400);
    /* not glued: one piece, the whole buffer */
    assert_int_equal(vrd_gro_count(900, 0), 1);
    assert_int_equal(vrd_gro_piece(900, 0, 0, &off), 900);
    assert_int_equal(off, 0);
    assert_int_equal(vrd_gro_count(900, 1400), 1);
    assert_int_equal(vrd_gro_piece(900, 1400, 0, &off), 900);
    assert_int_equal(vrd_gro_piece(900, 1400, 1, &off), 0);
    assert_int_equal(vrd_gro_count(0, 1400), 1);
}

/* Appends a control message (level, type, int value) at 'at' of 'm''s buffer. */
static struct cmsghdr *put_cmsg(struct msghdr *m, struct cmsghdr *at, int level, int type, int v)
{
    *at = (struct cmsghdr){.cmsg_level = level, .cmsg_type = type, .cmsg_len = CMSG_LEN(sizeof v)};
    memcpy(CMSG_DATA(at), &v, sizeof v);
    return CMSG_NXTHDR(m, at);
}

static void test_gro_cmsg(void **state)
{
    (void)state;
    union {
        char buf[3 * CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr m = {.msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    uint32_t gso = 77;
    /* another message first, then the segment size */
    struct cmsghdr *c = put_cmsg(&m, CMSG_FIRSTHDR(&m), IPPROTO_IP, IP_TOS, 4);
    put_cmsg(&m, c, IPPROTO_UDP, VRD_UDP_GRO, 1400);
    m.msg_controllen = 2 * CMSG_SPACE(sizeof(int));
    assert_int_equal(vrd_udp_gro_size(&m, &gso), 0);
    assert_int_equal(gso, 1400);
    /* none */
    m.msg_controllen = CMSG_SPACE(sizeof(int));
    assert_int_equal(vrd_udp_gro_size(&m, &gso), 0);
    assert_int_equal(gso, 0);
    m.msg_controllen = 0;
    assert_int_equal(vrd_udp_gro_size(&m, &gso), 0);
    assert_int_equal(gso, 0);
    /* a size of 0 or beyond 65535, a value shorter than an int: refused */
    m.msg_controllen = CMSG_SPACE(sizeof(int));
    put_cmsg(&m, CMSG_FIRSTHDR(&m), IPPROTO_UDP, VRD_UDP_GRO, 0);
    assert_int_equal(vrd_udp_gro_size(&m, &gso), -1);
    assert_int_equal(gso, 0);
    put_cmsg(&m, CMSG_FIRSTHDR(&m), IPPROTO_UDP, VRD_UDP_GRO, 65536);
    assert_int_equal(vrd_udp_gro_size(&m, &gso), -1);
    put_cmsg(&m, CMSG_FIRSTHDR(&m), IPPROTO_UDP, VRD_UDP_GRO, 1400);
    CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(2);
    assert_int_equal(vrd_udp_gro_size(&m, &gso), -1);
    /* a valid size followed by a malformed one: refused, no size kept */
    m.msg_controllen = 2 * CMSG_SPACE(sizeof(int));
    c = put_cmsg(&m, CMSG_FIRSTHDR(&m), IPPROTO_UDP, VRD_UDP_GRO, 1400);
    put_cmsg(&m, c, IPPROTO_UDP, VRD_UDP_GRO, -5);
    assert_int_equal(vrd_udp_gro_size(&m, &gso), -1);
    assert_int_equal(gso, 0);
}

/* A run glued here, sent with UDP_SEGMENT over loopback to a socket with
 * UDP_GRO: what arrives, cut at the reported size, is the frames'
 * payloads in order. Skipped where the kernel has neither (Linux < 5.0). */
static void test_uso_kernel_roundtrip(void **state)
{
    (void)state;
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
    assert_true(rx >= 0 && tx >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t alen = sizeof a;
    assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(rx, (struct sockaddr *)&a, &alen), 0);
    if (setsockopt(rx, IPPROTO_UDP, VRD_UDP_GRO, &one, sizeof one) != 0) {
        close(rx);
        close(tx);
        skip();
    }
    memset(&uso, 0, sizeof uso);
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t len = make_frame(frames[i], 0xc001, 6635, i < 3 ? 1200 : 500, i + 40);
        assert_int_equal(vrd_uso_add(&uso, frames[i], len), i == 3);
    }
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = uso.buf, .iov_len = uso.size};
    struct msghdr m = {.msg_name = &a, .msg_namelen = sizeof a, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    uint16_t seg = (uint16_t)uso.seg;
    *c = (struct cmsghdr){.cmsg_level = IPPROTO_UDP, .cmsg_type = VRD_UDP_SEGMENT, .cmsg_len = CMSG_LEN(sizeof seg)};
    memcpy(CMSG_DATA(c), &seg, sizeof seg);
    assert_int_equal(sendmsg(tx, &m, 0), (ssize_t)uso.size);
    /* read until all bytes came (one glued message, or several) */
    static uint8_t got[VRD_FAB_RX];
    uint32_t seen = 0, datagrams = 0;
    while (seen < uso.size) {
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } rctl;
        struct iovec riov = {.iov_base = got, .iov_len = sizeof got};
        struct msghdr r = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = rctl.buf, .msg_controllen = sizeof rctl.buf};
        ssize_t n = recvmsg(rx, &r, 0);
        assert_true(n > 0);
        uint32_t gso;
        assert_int_equal(vrd_udp_gro_size(&r, &gso), 0);
        uint32_t count = vrd_gro_count((uint32_t)n, gso);
        for (uint32_t i = 0; i < count; i++) {
            uint32_t off, len = vrd_gro_piece((uint32_t)n, gso, i, &off);
            assert_true(datagrams < 4);
            assert_int_equal(len, datagrams < 3 ? 1200 : 500);
            assert_memory_equal(got + off, frames[datagrams] + VRD_USO_HDR, len);
            datagrams++;
            seen += len;
        }
    }
    assert_int_equal(datagrams, 4);
    close(rx);
    close(tx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uso_glue_mpls_udp),
        cmocka_unit_test(test_uso_glue_vxlan),
        cmocka_unit_test(test_uso_not_continued),
        cmocka_unit_test(test_uso_refused),
        cmocka_unit_test(test_uso_limits),
        cmocka_unit_test(test_gro_split),
        cmocka_unit_test(test_gro_cmsg),
        cmocka_unit_test(test_uso_kernel_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

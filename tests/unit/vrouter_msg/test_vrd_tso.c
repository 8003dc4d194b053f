/* Unit tests of strata-vrouter's direct path for a VM's super-frames to
 * the fabric (vrouter/uspace/vrd_tso.c) and of the core's accounting of
 * the segments it did not see (dp_rx_account), against the real core.
 * Two datapaths are programmed alike (a policy VM port, a fabric, a tunnel
 * next hop, an established flow): one gets every segment of a super-frame
 * cut and run through dp_rx one by one (the old path), the other only the
 * first, then dp_rx_account for the rest. They prove that, for MPLSoUDP
 * and VXLAN, TCP (with options, FIN/PSH/CWR, a shorter last segment or
 * equal ones, a NAT flow) and UDP super-frames: every segment rebuilt from
 * the lead's decision (vrd_tso_frame) is byte for byte the frame the core
 * writes for that segment; the UDP_SEGMENT buffer (prefix + payload per
 * segment) is exactly those frames' UDP payloads one after the other, with
 * every datagram but the last 'seg' bytes; inner IPv4 and TCP/UDP
 * checksums verify by an independent byte-wise sum; and both datapaths end
 * with the same interface and flow counters. They also prove what is
 * refused: a lead dropped, punted (flow miss) or delivered to a local
 * port, an MPLSoGRE lead (not UDP), a lead whose inner lengths do not
 * match segment 0; and that vrd_csum_add equals a byte-wise sum for every
 * length and alignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/vrouter_msg/csum_ref.h"
#include "vrouter/uspace/vrd.h"

#define SIP 0x0a610001u /* 10.97.0.1, the fabric address */
#define DIP 0x0a610002u
#define VM_A 0xc0a80101u /* 192.168.1.1 */
#define VM_B 0xc0a80102u
#define VM_LOCAL 0xc0a80103u
#define MSS 1448

static const uint8_t MAC_VM[6] = {2, 0, 0, 0, 1, 1};
static const uint8_t MAC_GW[6] = {2, 0, 0, 0, 0, 0xfe};
static const uint8_t MAC_ROUTER[6] = {0, 0, 0x5e, 0, 1, 0};

/* Whether the IPv4 packet at 'ip' has valid header and TCP/UDP checksums. */
static int inner_ok(const uint8_t *ip)
{
    uint32_t hl = (uint32_t)(ip[0] & 15) * 4, tot = be16_load(ip + 2);
    if (fold(sum16(ip, hl, 0)) != 0xffff) {
        return 0;
    }
    uint8_t ph[12];
    memcpy(ph, ip + 12, 8);
    ph[8] = 0;
    ph[9] = ip[9];
    be16_store(ph + 10, (uint16_t)(tot - hl));
    return fold(sum16(ip + hl, tot - hl, sum16(ph, 12, 0))) == 0xffff;
}

struct fix {
    struct dp *dp;
};

/* A datapath: VRF 1, fabric interface 1 (SIP), policy VM port 2, local VM
 * port 3, agent interface 4, next hop 20 a tunnel to DIP with 'encap', next hop 10 port 3,
 * next hop 11 port 2 (label 100, VNI 100 into VRF 1);
 * VM_B routed to 20, VM_LOCAL to 10, VM_A to 11; flows: TCP 40001 -> 5002 (FORWARD or
 * source NAT to 10.1.1.1), UDP 40000 -> 5001, TCP 40003 -> 5002 to
 * VM_LOCAL, TCP 40004 -> 5002 DROP; from VM_B, TCP 5002 -> 40001. */
static struct dp *make_dp(uint8_t encap, int nat)
{
    struct dp_config cfg;
    dp_config_default(&cfg);
    cfg.ifs = 8;
    cfg.vrfs = 4;
    cfg.nhs = 64;
    cfg.labels = 1024;
    cfg.routes = 64;
    cfg.flows = 1024;
    cfg.composites = 4;
    cfg.vnis = 16;
    cfg.bridge = 16;
    cfg.lpm_nodes = 64;
    cfg.flow_overflow = 64;
    struct dp *dp = NULL;
    assert_int_equal(dp_create(&cfg, &dp), 0);
    assert_int_equal(dp_vrf_add(dp, &(struct dp_vrf){.vrf = 1}), 0);
    struct dp_if fab = {.ifindex = 1, .type = DP_IF_FABRIC, .ip4 = SIP};
    memcpy(fab.gw_mac, MAC_GW, 6);
    assert_int_equal(dp_if_add(dp, &fab), 0);
    struct dp_if vm = {.ifindex = 2, .type = DP_IF_VM, .flags = DP_IF_POLICY, .vrf = 1};
    memcpy(vm.mac, MAC_VM, 6);
    assert_int_equal(dp_if_add(dp, &vm), 0);
    struct dp_if vm3 = {.ifindex = 3, .type = DP_IF_VM, .vrf = 1};
    assert_int_equal(dp_if_add(dp, &vm3), 0);
    assert_int_equal(dp_if_add(dp, &(struct dp_if){.ifindex = 4, .type = DP_IF_AGENT}), 0);
    struct dp_nh nh = {.id = 20, .type = DP_NH_TUNNEL, .encap = encap, .ifindex = 1, .label = 200, .sip = SIP,
                       .dip = DIP};
    memcpy(nh.dmac, MAC_VM, 6);
    assert_int_equal(dp_nh_add(dp, &nh), 0);
    assert_int_equal(dp_nh_add(dp, &(struct dp_nh){.id = 10, .type = DP_NH_IF, .ifindex = 3}), 0);
    struct dp_nh back = {.id = 11, .type = DP_NH_IF, .ifindex = 2};
    memcpy(back.dmac, MAC_VM, 6);
    assert_int_equal(dp_nh_add(dp, &back), 0);
    assert_int_equal(dp_label_add(dp, &(struct dp_label){.label = 100, .nh = 11}), 0);
    assert_int_equal(dp_vni_add(dp, &(struct dp_vni){.vni = 100, .vrf = 1}), 0);
    struct dp_route r = {.vrf = 1, .family = 4, .plen = 32, .nh = 11};
    be32_store(r.addr, VM_A);
    assert_int_equal(dp_route_add(dp, &r), 0);
    r.nh = 20;
    be32_store(r.addr, VM_B);
    assert_int_equal(dp_route_add(dp, &r), 0);
    r.nh = 10;
    be32_store(r.addr, VM_LOCAL);
    assert_int_equal(dp_route_add(dp, &r), 0);
    struct {
        uint32_t dst;
        uint8_t proto;
        uint16_t sport, dport;
        struct dp_flow_action act;
    } flows[] = {
        {VM_B, 6, 40001, 5002,
         nat ? (struct dp_flow_action){.type = DP_FLOW_NAT, .flags = DP_FA_SNAT, .nat_ip = 0x0a010101u}
             : (struct dp_flow_action){.type = DP_FLOW_FORWARD}},
        {VM_B, 17, 40000, 5001, {.type = DP_FLOW_FORWARD}},
        {VM_LOCAL, 6, 40003, 5002, {.type = DP_FLOW_FORWARD}},
        {VM_B, 6, 40004, 5002, {.type = DP_FLOW_DROP}},
        {VM_A, 6, 5002, 40001, {.type = DP_FLOW_FORWARD}}, /* from VM_B, delivered on port 2 */
    };
    for (size_t i = 0; i < sizeof flows / sizeof flows[0]; i++) {
        struct dp_flow_key k = {.vrf = 1, .proto = flows[i].proto, .family = 4, .sport = flows[i].sport,
                                .dport = flows[i].dport};
        be32_store(k.src, flows[i].dst == VM_A ? VM_B : VM_A);
        be32_store(k.dst, flows[i].dst);
        assert_int_equal(dp_flow_set(dp, &k, &flows[i].act, 1, NULL), 0);
    }
    return dp;
}

/* A super-frame from VM_A: TCP (12 option bytes, flags 'fl') or UDP from
 * 'sport' to 'dst', 'payload' bytes. Returns its length. */
static uint32_t make_super(uint8_t *f, int tcp, uint32_t dst, uint16_t sport, uint32_t payload, uint8_t fl)
{
    memcpy(f, MAC_ROUTER, 6);
    memcpy(f + 6, MAC_VM, 6);
    be16_store(f + 12, 0x0800);
    uint32_t l4 = 34, hdr = l4 + (tcp ? 32 : 8), len = hdr + payload;
    memset(f + 14, 0, 20);
    f[14] = 0x45;
    be16_store(f + 16, (uint16_t)(len - 14 > 0xffff ? 0 : len - 14));
    be16_store(f + 18, 0x1234);
    f[20] = 0x40;
    f[22] = 64;
    f[23] = tcp ? 6 : 17;
    be32_store(f + 26, VM_A);
    be32_store(f + 30, dst);
    be16_store(f + l4, sport);
    be16_store(f + l4 + 2, tcp ? 5002 : 5001);
    if (tcp) {
        memset(f + l4 + 4, 0, 28);
        be32_store(f + l4 + 4, 0xfffff000u);
        be32_store(f + l4 + 8, 0x01020304);
        f[l4 + 12] = 8 << 4;
        f[l4 + 13] = fl;
        be16_store(f + l4 + 14, 501);
        memcpy(f + l4 + 20, (uint8_t[]){1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9}, 12);
    } else {
        memset(f + l4 + 4, 0, 4);
    }
    for (uint32_t i = 0; i < payload; i++) {
        f[hdr + i] = (uint8_t)(i * 7 + (i >> 8) + 3);
    }
    return len;
}

static uint8_t sf[VRD_GSO_MAX];
static uint8_t expect[64][VRD_HEADROOM + VRD_FRAME_MAX];
static uint32_t expect_len[64];
static uint8_t slot[VRD_HEADROOM + VRD_FRAME_MAX], frame[VRD_USO_HDR + 65536], ubuf[VRD_USO_PAYLOAD + 4096];
static uint8_t prefix[VRD_TSO_PRE_MAX];

/* Runs the lead (segment 0 of 'g' in 'f') through 'dp' from port 2;
 * returns the lead's input length, its output in '*out' and the output
 * frame's start in '*lead'. */
static uint32_t run_lead(struct dp *dp, const struct vrd_gso *g, const uint8_t *f, struct dp_out *out,
                         const uint8_t **lead)
{
    struct dp_pkt p = {.buf = slot, .size = sizeof slot, .off = VRD_HEADROOM};
    p.len = vrd_gso_segment(g, f, 0, slot + VRD_HEADROOM);
    uint32_t in = p.len;
    dp_rx(dp, 2, &p, 5, out);
    *lead = slot + out->tx[0].off;
    return in;
}

static void check_counters(struct dp *a, struct dp *b, uint16_t sport, uint8_t proto)
{
    for (uint32_t i = 1; i <= 3; i++) {
        struct dp_if x, y;
        assert_int_equal(dp_if_get(a, i, &x), 0);
        assert_int_equal(dp_if_get(b, i, &y), 0);
        assert_memory_equal(&x.stats, &y.stats, sizeof x.stats);
    }
    struct dp_flow_key k = {.vrf = 1, .proto = proto, .family = 4, .sport = sport, .dport = proto == 6 ? 5002 : 5001};
    be32_store(k.src, VM_A);
    be32_store(k.dst, VM_B);
    struct dp_flow x, y;
    assert_int_equal(dp_flow_get(a, &k, &x), 0);
    assert_int_equal(dp_flow_get(b, &k, &y), 0);
    assert_true(x.packets > 0);
    assert_int_equal(x.packets, y.packets);
    assert_int_equal(x.bytes, y.bytes);
    assert_int_equal(x.last_seen_ms, y.last_seen_ms);
}

/* The differential check for one super-frame of 'payload' bytes. */
static void check_direct(uint8_t encap, int nat, int tcp, uint32_t payload, uint16_t mss)
{
    struct dp *a = make_dp(encap, nat), *b = make_dp(encap, nat);
    uint16_t sport = tcp ? 40001 : 40000;
    uint32_t len = make_super(sf, tcp, VM_B, sport, payload, 0x10 | 0x08 | 0x01 | 0x80); /* ACK PSH FIN CWR */
    struct virtio_net_hdr vh = {.gso_type = tcp ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_UDP_L4,
                                .gso_size = mss};
    struct vrd_gso g;
    assert_int_equal(vrd_gso_parse(sf, len, &vh, &g), 0);
    assert_true(g.count >= 2 && g.count <= 64);
    /* the old path: every segment through the core */
    static struct dp_out out;
    for (uint32_t i = 0; i < g.count; i++) {
        struct dp_pkt p = {.buf = slot, .size = sizeof slot, .off = VRD_HEADROOM};
        p.len = vrd_gso_segment(&g, sf, i, slot + VRD_HEADROOM);
        dp_rx(a, 2, &p, 5, &out);
        assert_int_equal(out.verdict, DP_VERDICT_TX);
        assert_int_equal(out.count, 1);
        expect_len[i] = dp_tx_copy(&p, &out.tx[0], expect[i], sizeof expect[i]);
        assert_true(expect_len[i] > VRD_USO_HDR);
        assert_true(inner_ok(expect[i] + VRD_USO_HDR + (expect_len[i] - VRD_USO_HDR) -
                             (g.hdr - 14 + (i + 1 < g.count ? mss : payload - i * mss))));
    }
    /* the direct path: the lead, then the others from its decision */
    const uint8_t *lead;
    uint32_t in = run_lead(b, &g, sf, &out, &lead);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    struct vrd_tso t;
    assert_int_equal(vrd_tso_prepare(&t, &g, SIP, lead, out.tx[0].len), 0);
    assert_int_equal(t.seg, expect_len[0] - VRD_USO_HDR);
    assert_int_equal(t.pre, expect_len[0] - VRD_USO_HDR - mss);
    uint64_t more = (uint64_t)(g.count - 1) * g.hdr + (payload - mss);
    assert_int_equal(dp_rx_account(b, 2, sf + 14, g.hdr - 14, &out, (int32_t)out.tx[0].len - (int32_t)in, g.count - 1, more, 5),
                     0);
    check_counters(a, b, sport, tcp ? 6 : 17);
    for (uint32_t i = 0; i < g.count; i++) {
        uint32_t n = vrd_tso_frame(&t, &g, lead, sf, i, frame);
        assert_int_equal(n, expect_len[i]);
        assert_memory_equal(frame, expect[i], n);
    }
    /* the UDP_SEGMENT buffers: the datagrams' payloads in order, every one
     * but a send's last 'seg' bytes */
    for (uint32_t s0 = 0; s0 < g.count; s0 += t.per_send) {
        uint32_t cnt = g.count - s0 < t.per_send ? g.count - s0 : t.per_send, size = 0;
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t pay = vrd_tso_prefix(&t, &g, lead, sf, s0 + j, prefix);
            memcpy(ubuf + size, prefix, t.pre);
            memcpy(ubuf + size + t.pre, sf + g.hdr + (s0 + j) * mss, pay);
            size += t.pre + pay;
        }
        assert_true(size <= VRD_USO_PAYLOAD);
        for (uint32_t j = 0, at = 0; j < cnt; j++) {
            uint32_t dl = expect_len[s0 + j] - VRD_USO_HDR;
            if (j + 1 < cnt) {
                assert_int_equal(dl, t.seg);
            }
            assert_memory_equal(ubuf + at, expect[s0 + j] + VRD_USO_HDR, dl);
            at += dl;
            if (j + 1 == cnt) {
                assert_int_equal(at, size);
            }
        }
    }
    dp_free(a);
    dp_free(b);
}

static void test_tcp_mpls_udp(void **state)
{
    (void)state;
    check_direct(DP_ENCAP_MPLS_UDP, 0, 1, 5 * MSS + 100, MSS); /* a shorter last segment */
    check_direct(DP_ENCAP_MPLS_UDP, 0, 1, 4 * MSS, MSS);       /* all equal */
    check_direct(DP_ENCAP_MPLS_UDP, 0, 1, 65535 - 20 - 32, MSS); /* the largest: two sends */
}

static void test_tcp_vxlan(void **state)
{
    (void)state;
    check_direct(DP_ENCAP_VXLAN, 0, 1, 7 * MSS + 1, MSS);
    check_direct(DP_ENCAP_VXLAN, 0, 1, 65535 - 20 - 32, MSS);
}

static void test_tcp_nat(void **state)
{
    (void)state;
    check_direct(DP_ENCAP_MPLS_UDP, 1, 1, 3 * MSS + 17, MSS);
    check_direct(DP_ENCAP_VXLAN, 1, 1, 2 * MSS, MSS);
}

static void test_udp(void **state)
{
    (void)state;
    check_direct(DP_ENCAP_MPLS_UDP, 0, 0, 9 * 1000 + 3, 1000);
    check_direct(DP_ENCAP_VXLAN, 0, 0, 2 * 1472, 1472);
}

/* What the direct path refuses leaves every segment to the core. */
static void test_refused(void **state)
{
    (void)state;
    struct dp *dp = make_dp(DP_ENCAP_MPLS_UDP, 0);
    static struct dp_out out;
    struct virtio_net_hdr vh = {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = MSS};
    struct vrd_gso g;
    const uint8_t *lead;
    struct dp_if before, after;
    /* dropped by its flow */
    uint32_t len = make_super(sf, 1, VM_B, 40004, 3 * MSS, 0x10);
    assert_int_equal(vrd_gso_parse(sf, len, &vh, &g), 0);
    (void)run_lead(dp, &g, sf, &out, &lead);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(dp_rx_account(dp, 2, sf + 14, g.hdr - 14, &out, 32, 2, 100, 5), VR_EINVAL);
    /* a flow miss: punted */
    len = make_super(sf, 1, VM_B, 40009, 3 * MSS, 0x10);
    assert_int_equal(vrd_gso_parse(sf, len, &vh, &g), 0);
    (void)run_lead(dp, &g, sf, &out, &lead);
    assert_int_equal(out.verdict, DP_VERDICT_PUNT);
    assert_int_equal(dp_rx_account(dp, 2, sf + 14, g.hdr - 14, &out, 32, 2, 100, 5), VR_EINVAL);
    /* delivered to a local port, not the fabric */
    len = make_super(sf, 1, VM_LOCAL, 40003, 3 * MSS, 0x10);
    assert_int_equal(vrd_gso_parse(sf, len, &vh, &g), 0);
    (void)run_lead(dp, &g, sf, &out, &lead);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, 3);
    assert_int_equal(dp_if_get(dp, 2, &before), 0);
    assert_int_equal(dp_rx_account(dp, 2, sf + 14, g.hdr - 14, &out, 0, 2, 100, 5), VR_EINVAL);
    assert_int_equal(dp_if_get(dp, 2, &after), 0);
    assert_memory_equal(&before.stats, &after.stats, sizeof before.stats); /* nothing counted */
    /* forwarded, but the flow is gone since: nothing counted */
    len = make_super(sf, 1, VM_B, 40001, 3 * MSS, 0x10);
    assert_int_equal(vrd_gso_parse(sf, len, &vh, &g), 0);
    (void)run_lead(dp, &g, sf, &out, &lead);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    struct dp_flow_key k = {.vrf = 1, .proto = 6, .family = 4, .sport = 40001, .dport = 5002};
    be32_store(k.src, VM_A);
    be32_store(k.dst, VM_B);
    assert_int_equal(dp_flow_del(dp, &k), 0);
    assert_int_equal(dp_rx_account(dp, 2, sf + 14, g.hdr - 14, &out, 32, 2, 100, 5), VR_EINVAL);
    /* from the fabric, not a VM port */
    assert_int_equal(dp_rx_account(dp, 1, sf + 14, g.hdr - 14, &out, 32, 2, 100, 5), VR_EINVAL);
    /* the lead's inner lengths do not match segment 0 */
    struct vrd_tso t;
    assert_int_equal(vrd_tso_prepare(&t, &g, SIP, lead, out.tx[0].len), 0);
    memcpy(frame, lead, out.tx[0].len);
    assert_int_equal(vrd_tso_prepare(&t, &g, SIP + 1, frame, out.tx[0].len), -1); /* foreign source */
    assert_int_equal(vrd_tso_prepare(&t, &g, SIP, frame, out.tx[0].len - 1), -1);
    struct vrd_gso one = g;
    one.count = 1;
    assert_int_equal(vrd_tso_prepare(&t, &one, SIP, frame, out.tx[0].len), -1);
    uint32_t ip = VRD_USO_HDR + 4; /* behind the MPLS label */
    frame[ip + 9] = 17;
    assert_int_equal(vrd_tso_prepare(&t, &g, SIP, frame, out.tx[0].len), -1);
    frame[ip + 9] = 6;
    be16_store(frame + ip + 2, (uint16_t)(be16_load(frame + ip + 2) + 1));
    assert_int_equal(vrd_tso_prepare(&t, &g, SIP, frame, out.tx[0].len), -1);
    dp_free(dp);
    /* MPLSoGRE: no UDP outer header */
    dp = make_dp(DP_ENCAP_MPLS_GRE, 0);
    assert_int_equal(vrd_gso_parse(sf, len, &vh, &g), 0);
    (void)run_lead(dp, &g, sf, &out, &lead);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(vrd_tso_prepare(&t, &g, SIP, lead, out.tx[0].len), -1);
    dp_free(dp);
}


/* ---- from the fabric: glued datagrams merged for a VM ---- */

static uint8_t glued[2 * 65536], merged[14 + 65536], merged_old[14 + 65536];
static struct vrd_gro gro;

/* Synthesizes the outer Ethernet, IPv4 (DIP -> SIP) and UDP header in
 * front of piece 'p' ('len' bytes) into 'f'; returns the frame length. */
static uint32_t outer(uint8_t *f, const uint8_t *p, uint32_t len, uint16_t dport)
{
    memset(f, 0, VRD_USO_HDR);
    be16_store(f + 12, 0x0800);
    f[14] = 0x45;
    be16_store(f + 16, (uint16_t)(len + 28));
    f[22] = 64;
    f[23] = 17;
    be32_store(f + 26, DIP);
    be32_store(f + 30, SIP);
    be16_store(f + 34, 50000);
    be16_store(f + 36, dport);
    be16_store(f + 38, (uint16_t)(len + 8));
    memcpy(f + VRD_USO_HDR, p, len);
    return VRD_USO_HDR + len;
}

/* Glues the segments of a TCP super-frame from VM_B to VM_A ('payload'
 * bytes, flags 'fl') as MPLSoUDP (label 100) or VXLAN (VNI 100) pieces
 * into 'glued'; returns its size, the segment size in '*gso'. */
static uint32_t make_glued(int vxlan, uint32_t payload, uint8_t fl, uint32_t *gso, uint32_t *count)
{
    uint32_t len = make_super(sf, 1, VM_A, 5002, payload, fl);
    /* from VM_B: swap the addresses and ports */
    be32_store(sf + 26, VM_B);
    be32_store(sf + 30, VM_A);
    be16_store(sf + 34, 5002);
    be16_store(sf + 36, 40001);
    struct virtio_net_hdr vh = {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = MSS};
    struct vrd_gso g;
    assert_int_equal(vrd_gso_parse(sf, len, &vh, &g), 0);
    uint32_t at = 0;
    for (uint32_t i = 0; i < g.count; i++) {
        uint32_t n = vrd_gso_segment(&g, sf, i, slot);
        uint8_t *p = glued + at;
        uint32_t pre;
        if (vxlan) {
            memset(p, 0, 8);
            p[0] = 0x08;
            be32_store(p + 4, 100u << 8);
            memcpy(p + 8, MAC_ROUTER, 6);
            memcpy(p + 14, MAC_GW, 6);
            be16_store(p + 20, 0x0800);
            pre = 22;
        } else {
            be32_store(p, 100u << 12 | 0x100 | 64);
            pre = 4;
        }
        memcpy(p + pre, slot + 14, n - 14);
        if (i == 0) {
            *gso = pre + n - 14;
        }
        at += pre + n - 14;
    }
    *count = g.count;
    return at;
}

/* The differential check: every piece through the core and the old merge
 * against the first piece's decision and the direct merge. */
static void check_merge(int vxlan, uint32_t payload, uint8_t fl, uint32_t split, uint32_t expect_count)
{
    struct dp *a = make_dp(DP_ENCAP_MPLS_UDP, 0), *b = make_dp(DP_ENCAP_MPLS_UDP, 0);
    uint16_t dport = vxlan ? 4789 : 6635;
    uint32_t gso, n;
    uint32_t size = make_glued(vxlan, payload, fl, &gso, &n);
    assert_int_equal(vrd_gro_count(size, gso), n);
    /* the old path: each piece through the core, then the merge, until
     * the merge ends */
    static struct dp_out out;
    memset(&gro, 0, sizeof gro);
    struct virtio_net_hdr old_vh = {0};
    for (uint32_t i = 0; i < n; i++) {
        uint32_t off, len = vrd_gro_piece(size, gso, i, &off);
        struct dp_pkt p = {.buf = slot, .size = sizeof slot, .off = VRD_HEADROOM};
        p.len = outer(slot + VRD_HEADROOM, glued + off, len, dport);
        dp_rx(a, 1, &p, 5, &out);
        assert_int_equal(out.verdict, DP_VERDICT_TX);
        assert_int_equal(out.tx[0].ifindex, 2);
        const uint8_t *f = slot + out.tx[0].off;
        assert_int_equal(vrd_gro_fits(&gro, 2, f, out.tx[0].len), i ? 1 : 0);
        if (vrd_gro_add(&gro, 2, f, out.tx[0].len)) {
            break;
        }
    }
    uint32_t merges = gro.count;
    vrd_gro_finish(&gro, &old_vh);
    memcpy(merged_old, gro.buf, gro.len);
    uint32_t old_len = gro.len;
    /* the direct path */
    uint32_t off0, len0 = vrd_gro_piece(size, gso, 0, &off0);
    struct dp_pkt p = {.buf = slot, .size = sizeof slot, .off = VRD_HEADROOM};
    p.len = outer(slot + VRD_HEADROOM, glued + off0, len0, dport);
    uint32_t in_len = p.len;
    dp_rx(b, 1, &p, 5, &out);
    const uint8_t *o = slot + out.tx[0].off;
    struct vrd_rxm m;
    assert_int_equal(vrd_rxm_prepare(&m, glued + off0, len0, o, out.tx[0].len), 0);
    /* taken in two parts, as from two glued datagrams of one receive
     * call: the first 'split' pieces, then the rest */
    struct vrd_rxm_run run;
    vrd_rxm_start(&m, glued + off0, 64, &run);
    uint32_t cut = split < n ? split * gso : size;
    uint32_t c = vrd_rxm_take(&m, glued + off0, glued, cut, gso, &run);
    for (uint32_t at = cut; at < size && !run.end; at += cut) {
        uint32_t part = size - at < cut ? size - at : cut;
        c += vrd_rxm_take(&m, glued + off0, glued + at, part, gso, &run);
    }
    uint32_t total = run.payload;
    uint8_t psh = run.psh;
    assert_true(run.end || c == n);
    assert_int_equal(c, expect_count);
    assert_int_equal(c, merges);
    uint64_t bytes = (uint64_t)(c - 1) * (VRD_USO_HDR + m.pre) + (total - m.mss);
    assert_int_equal(dp_rx_account(b, 1, glued + off0 + m.ip, len0 - m.ip, &out, (int32_t)out.tx[0].len - (int32_t)in_len,
                                   c - 1, bytes, 5),
                     0);
    struct virtio_net_hdr vh;
    vrd_rxm_finish(&m, o, total, psh, merged, &vh);
    uint32_t at = m.hdr;
    memcpy(merged + at, o + m.hdr, m.mss);
    at += m.mss;
    for (uint32_t i = 1; i < c; i++) {
        uint32_t off, len = vrd_gro_piece(size, gso, i, &off);
        memcpy(merged + at, glued + off + m.pre, len - m.pre);
        at += len - m.pre;
    }
    assert_int_equal(at, old_len);
    assert_memory_equal(merged, merged_old, at);
    assert_memory_equal(&vh, &old_vh, sizeof vh);
    /* the counters of the pieces merged */
    struct dp_if x, y;
    for (uint32_t i = 1; i <= 2; i++) {
        assert_int_equal(dp_if_get(a, i, &x), 0);
        assert_int_equal(dp_if_get(b, i, &y), 0);
        assert_memory_equal(&x.stats, &y.stats, sizeof x.stats);
    }
    struct dp_flow_key k = {.vrf = 1, .proto = 6, .family = 4, .sport = 5002, .dport = 40001};
    be32_store(k.src, VM_B);
    be32_store(k.dst, VM_A);
    struct dp_flow fx, fy;
    assert_int_equal(dp_flow_get(a, &k, &fx), 0);
    assert_int_equal(dp_flow_get(b, &k, &fy), 0);
    assert_int_equal(fx.packets, c);
    assert_int_equal(fx.packets, fy.packets);
    assert_int_equal(fx.bytes, fy.bytes);
    dp_free(a);
    dp_free(b);
}

static void test_merge_mpls_udp(void **state)
{
    (void)state;
    check_merge(0, 20 * MSS + 300, 0x10, 64, 21);  /* a shorter last piece */
    check_merge(0, 40 * MSS, 0x10, 64, 40);        /* all equal */
    check_merge(0, 6 * MSS, 0x10 | 0x08, 64, 6);   /* PSH on the last */
    check_merge(0, 44 * MSS + 900, 0x10, 43, 45);  /* two datagrams: 43 + 2 pieces, 65,052 bytes */
    check_merge(0, 45 * MSS - 1, 0x10, 20, 45);    /* three datagrams: 20 + 20 + 5 pieces */
}

static void test_merge_vxlan(void **state)
{
    (void)state;
    check_merge(1, 30 * MSS + 1, 0x10, 64, 31);
    check_merge(1, 30 * MSS + 1, 0x10, 7, 31);
}

/* Pieces that do not continue the first end the merge before them. */
static void test_merge_stops(void **state)
{
    (void)state;
    struct dp *dp = make_dp(DP_ENCAP_MPLS_UDP, 0);
    uint32_t gso, n;
    uint32_t size = make_glued(0, 8 * MSS, 0x10, &gso, &n);
    static struct dp_out out;
    struct dp_pkt p = {.buf = slot, .size = sizeof slot, .off = VRD_HEADROOM};
    p.len = outer(slot + VRD_HEADROOM, glued, gso, 6635);
    dp_rx(dp, 1, &p, 5, &out);
    const uint8_t *o = slot + out.tx[0].off;
    struct vrd_rxm m;
    assert_int_equal(vrd_rxm_prepare(&m, glued, gso, o, out.tx[0].len), 0);
    assert_int_equal(m.pre, 4 + 20 + 32);
    assert_int_equal(m.mss, MSS);
    struct vrd_rxm_run run;
    vrd_rxm_start(&m, glued, 64, &run);
    assert_int_equal(vrd_rxm_take(&m, glued, glued, size, gso, &run), 8);
    assert_int_equal(run.payload, 8 * MSS);
    assert_false(run.end); /* room for more */
    assert_int_equal(vrd_rxm_take(&m, glued, glued, size, gso, &run), 0); /* the sequence does not follow */
    vrd_rxm_start(&m, glued, 5, &run);
    assert_int_equal(vrd_rxm_take(&m, glued, glued, size, gso, &run), 5); /* the limit */
    assert_true(run.end);
    struct {
        uint32_t at; /* offset in piece 3 */
        uint8_t xor;
    } changes[] = {
        {1, 0x10},           /* another label */
        {4 + 1, 4},          /* TOS */
        {4 + 8, 1},          /* TTL */
        {4 + 15, 1},         /* source address */
        {4 + 20 + 1, 1},     /* port */
        {4 + 20 + 7, 1},     /* a gap in the sequence */
        {4 + 20 + 11, 1},    /* another acknowledgment */
        {4 + 20 + 13, 0x01}, /* FIN */
        {4 + 20 + 15, 1},    /* window */
        {4 + 20 + 27, 1},    /* timestamp option */
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        uint8_t *b = glued + 3 * gso + changes[i].at;
        *b ^= changes[i].xor;
        vrd_rxm_start(&m, glued, 64, &run);
        assert_int_equal(vrd_rxm_take(&m, glued, glued, size, gso, &run), 3);
        *b ^= changes[i].xor;
    }
    /* the IPv4 length disagrees with the piece */
    uint8_t *len3 = glued + 3 * gso + 4 + 2;
    be16_store(len3, (uint16_t)(be16_load(len3) - 1));
    vrd_rxm_start(&m, glued, 64, &run);
    assert_int_equal(vrd_rxm_take(&m, glued, glued, size, gso, &run), 3);
    be16_store(len3, (uint16_t)(be16_load(len3) + 1));
    /* PSH in the middle ends the merge with that piece */
    glued[3 * gso + 4 + 20 + 13] |= 0x08;
    vrd_rxm_start(&m, glued, 64, &run);
    assert_int_equal(vrd_rxm_take(&m, glued, glued, size, gso, &run), 4);
    assert_true(run.psh && run.end);
    assert_int_equal(vrd_rxm_take(&m, glued, glued + 4 * gso, size - 4 * gso, gso, &run), 0); /* ended */
    glued[3 * gso + 4 + 20 + 13] &= (uint8_t)~0x08;
    /* what the core delivered is not a segment a merge takes */
    memcpy(frame, o, out.tx[0].len);
    frame[34 + 13] |= 0x02; /* SYN */
    assert_int_equal(vrd_rxm_prepare(&m, glued, gso, frame, out.tx[0].len), -1);
    assert_int_equal(vrd_rxm_prepare(&m, glued, 20, o, out.tx[0].len), -1); /* shorter than the packet */
    dp_free(dp);
}

static void test_csum_add(void **state)
{
    (void)state;
    static uint8_t buf[4096 + 16];
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)(i * 131 + (i >> 3) * 7 + 0xf0);
    }
    for (uint32_t off = 0; off < 8; off++) {
        for (uint32_t n = 0; n <= 4096; n += (n < 80 ? 1 : 61)) {
            uint16_t ref = fold(sum16(buf + off, n, 0));
            uint16_t got = vrd_csum_fold(vrd_csum_add(0, buf + off, n));
            uint8_t be[2];
            memcpy(be, &got, 2); /* native-order sum, stored as is: network order */
            assert_int_equal((uint16_t)(be[0] << 8 | be[1]), ref);
        }
    }
    /* all ones: the end-around carries */
    memset(buf, 0xff, sizeof buf);
    uint16_t got = vrd_csum_fold(vrd_csum_add(~0ull, buf, 4096));
    assert_int_equal(got, 0xffff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_mpls_udp), cmocka_unit_test(test_tcp_vxlan), cmocka_unit_test(test_tcp_nat),
        cmocka_unit_test(test_udp),          cmocka_unit_test(test_refused),   cmocka_unit_test(test_merge_mpls_udp),
        cmocka_unit_test(test_merge_vxlan),  cmocka_unit_test(test_merge_stops), cmocka_unit_test(test_csum_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the vRouter core's forwarding: each encapsulation and
 * decapsulation against frames built byte by byte here, local routing and
 * bridging, punts (ARP, DHCP, DNS), unknown unicast, BUM replication, VRF
 * isolation, TTL, agent injection, and malformed or truncated input. */
#include "dp_test.h"

#define LBL_UDP 100
#define LBL_GRE 200
#define VNI_RED 5000
#define NH_B 1     /* routed to B */
#define NH_UDP 2   /* MPLSoUDP to the peer */
#define NH_GRE 3   /* MPLSoGRE */
#define NH_VXLAN 4 /* VXLAN, inner MAC_REMOTE */
#define NH_B_L2 5  /* bridged to B */
#define NH_A_L2 6
#define NH_BUM 7
#define NH_UDP_BLUE 8

static struct dp *setup(void)
{
    struct dp *dp = t_dp_new();
    t_nh_if(dp, NH_B, IF_B, MAC_B, 0);
    t_nh_tun(dp, NH_UDP, DP_ENCAP_MPLS_UDP, LBL_UDP, 0);
    t_nh_tun(dp, NH_GRE, DP_ENCAP_MPLS_GRE, LBL_GRE, 0);
    t_nh_tun(dp, NH_VXLAN, DP_ENCAP_VXLAN, VNI_RED, MAC_REMOTE);
    t_nh_if(dp, NH_B_L2, IF_B, MAC_B, DP_NH_L2);
    t_nh_if(dp, NH_A_L2, IF_A, MAC_A, DP_NH_L2);
    t_nh_tun(dp, NH_UDP_BLUE, DP_ENCAP_MPLS_UDP, 500, 0);
    struct dp_nh bum = {.id = NH_BUM, .type = DP_NH_BUM, .member_count = 3, .members = {NH_A_L2, NH_B_L2, NH_VXLAN}};
    assert_int_equal(dp_nh_add(dp, &bum), 0);
    struct dp_vrf v = {.vrf = VRF_RED, .bum_nh = NH_BUM};
    assert_int_equal(dp_vrf_add(dp, &v), 0);
    t_route4(dp, VRF_RED, IP4(192, 168, 1, 20), 32, NH_B);
    t_route4(dp, VRF_RED, IP4(172, 16, 0, 0), 16, NH_UDP);
    t_route4(dp, VRF_RED, IP4(172, 17, 0, 0), 16, NH_GRE);
    t_route4(dp, VRF_RED, IP4(172, 18, 0, 0), 16, NH_VXLAN);
    t_route4(dp, VRF_BLUE, IP4(172, 16, 0, 0), 16, NH_UDP_BLUE);
    struct dp_mac m = {.vrf = VRF_RED, .nh = NH_B_L2};
    memcpy(m.mac, MAC_B, 6);
    assert_int_equal(dp_mac_add(dp, &m), 0);
    memcpy(m.mac, MAC_REMOTE, 6);
    m.nh = NH_VXLAN;
    assert_int_equal(dp_mac_add(dp, &m), 0);
    struct dp_vni vni = {.vni = VNI_RED, .vrf = VRF_RED};
    assert_int_equal(dp_vni_add(dp, &vni), 0);
    return dp;
}

/* Expected outer Ethernet + IPv4 (TTL 64, DF, id 0) for 'after_ip' bytes
 * after the IPv4 header; the checksum is computed here from scratch. */
static size_t outer(uint8_t *e, uint8_t proto, size_t after_ip)
{
    size_t o = t_eth(e, MAC_GW, MAC_FAB, 0x0800);
    uint8_t *ip = e + o;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    t_put16(ip + 2, (uint16_t)(20 + after_ip));
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = proto;
    t_put32(ip + 12, FAB_IP);
    t_put32(ip + 16, PEER_IP);
    t_put16(ip + 10, t_fold(t_sum(0, ip, 20)));
    return o + 20;
}

/* The inner IPv4 packet of 'frame' after routing: TTL - 1, checksum redone. */
static size_t routed_ip(uint8_t *dst, const uint8_t *frame, size_t len)
{
    memcpy(dst, frame + 14, len - 14);
    dst[8]--;
    t_put16(dst + 10, 0);
    t_put16(dst + 10, t_fold(t_sum(0, dst, 20)));
    return len - 14;
}

static uint16_t expected_sport(uint32_t vrf, uint32_t src, uint32_t dst, uint8_t proto, uint16_t sp, uint16_t dp)
{
    struct dp_flow_key k;
    t_key4(&k, vrf, src, dst, proto, sp, dp);
    return dp_udp_sport(dp_flow_hash(&k));
}

static void test_encap_mpls_udp_exact(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128], e[256], got[256];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 64);
    struct t_buf b;
    struct dp_out out;
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.count, 1);
    assert_int_equal(out.tx[0].ifindex, IF_FAB);

    size_t inner = n - 14;
    size_t o = outer(e, 17, 8 + 4 + inner);
    uint16_t sport = expected_sport(VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    assert_true(sport >= 49152);
    t_put16(e + o, sport);
    t_put16(e + o + 2, 6635);
    t_put16(e + o + 4, (uint16_t)(8 + 4 + inner));
    t_put16(e + o + 6, 0);
    o += 8;
    e[o++] = 0x00; /* label 100, TC 0, S 1, TTL 64 */
    e[o++] = 0x06;
    e[o++] = 0x41;
    e[o++] = 0x40;
    o += routed_ip(e + o, f, n);
    size_t gn = t_tx(&b.pkt, &out, 0, got);
    assert_int_equal(gn, o);
    assert_memory_equal(got, e, o);
    assert_true(t_ip4_csum_ok(got + 14));
    assert_true(t_ip4_csum_ok(got + 14 + 20 + 8 + 4));

    /* Stable per flow: the same flow again gets the same port. */
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 2, &out);
    t_tx(&b.pkt, &out, 0, got);
    assert_int_equal(t_get16(got + 34), sport);
    /* Another flow gets another port (the hash covers the ports). */
    int differ = 0;
    for (uint16_t sp = 1001; sp < 1009; sp++) {
        n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), sp, 2000, 10, 64);
        dp_rx(dp, IF_A, t_pkt(&b, f, n), 2, &out);
        t_tx(&b.pkt, &out, 0, got);
        uint16_t p = t_get16(got + 34);
        assert_int_equal(p, expected_sport(VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, sp, 2000));
        assert_true(p >= 49152);
        differ += p != sport;
    }
    assert_true(differ >= 7);
    dp_free(dp);
}

static void test_encap_mpls_gre_exact(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128], e[256], got[256];
    size_t n = t_tcp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 17, 0, 9), 40000, 80, 5);
    struct t_buf b;
    struct dp_out out;
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_FAB);
    size_t inner = n - 14;
    size_t o = outer(e, 47, 4 + 4 + inner);
    e[o++] = 0x00; /* GRE: no flags, version 0 */
    e[o++] = 0x00;
    e[o++] = 0x88; /* MPLS unicast */
    e[o++] = 0x47;
    e[o++] = 0x00; /* label 200 = 0x000c8, S, TTL 64 */
    e[o++] = 0x0c;
    e[o++] = 0x81;
    e[o++] = 0x40;
    o += routed_ip(e + o, f, n);
    size_t gn = t_tx(&b.pkt, &out, 0, got);
    assert_int_equal(gn, o);
    assert_memory_equal(got, e, o);
    assert_true(t_l4_csum_ok(got + 14 + 20 + 8)); /* TCP untouched by routing */
    dp_free(dp);
}

static void test_encap_vxlan_exact(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128], e[256], got[256];
    struct t_buf b;
    struct dp_out out;

    /* Routed into VXLAN: the inner frame's MACs are rewritten. */
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 18, 1, 1), 5353, 7, 3, 64);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    size_t o = outer(e, 17, 8 + 8 + n);
    t_put16(e + o, expected_sport(VRF_RED, IP4(192, 168, 1, 10), IP4(172, 18, 1, 1), 17, 5353, 7));
    t_put16(e + o + 2, 4789);
    t_put16(e + o + 4, (uint16_t)(8 + 8 + n));
    t_put16(e + o + 6, 0);
    o += 8;
    const uint8_t vx[8] = {0x08, 0, 0, 0, 0x00, 0x13, 0x88, 0x00}; /* I flag, VNI 5000 */
    memcpy(e + o, vx, 8);
    o += 8;
    o += t_eth(e + o, MAC_REMOTE, MAC_ROUTER, 0x0800);
    o += routed_ip(e + o, f, n);
    size_t gn = t_tx(&b.pkt, &out, 0, got);
    assert_int_equal(gn, o);
    assert_memory_equal(got, e, o);

    /* Bridged into VXLAN (no route, MAC known): the frame is carried as is. */
    uint8_t l2[60];
    memset(l2, 0x5a, sizeof l2);
    t_eth(l2, MAC_REMOTE, MAC_A, 0x88b5);
    dp_rx(dp, IF_A, t_pkt(&b, l2, sizeof l2), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    o = outer(e, 17, 8 + 8 + sizeof l2);
    gn = t_tx(&b.pkt, &out, 0, got);
    assert_int_equal(gn, o + 16 + sizeof l2);
    assert_memory_equal(got, e, 34);
    assert_int_equal(t_get16(got + 36), 4789);
    assert_memory_equal(got + 42, vx, 8);
    assert_memory_equal(got + 50, l2, sizeof l2);
    dp_free(dp);
}

static void test_local_routing_and_bridging(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128], got[256];
    struct t_buf b;
    struct dp_out out;
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(192, 168, 1, 20), 1, 2, 4, 64);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    assert_int_equal(t_tx(&b.pkt, &out, 0, got), n);
    assert_memory_equal(got, MAC_B, 6);
    assert_memory_equal(got + 6, MAC_ROUTER, 6);
    assert_int_equal(got[14 + 8], 63);
    assert_true(t_ip4_csum_ok(got + 14));
    assert_memory_equal(got + 34, f + 34, n - 34);

    /* TTL 1 cannot be routed. */
    n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(192, 168, 1, 20), 1, 2, 4, 1);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(out.drop, DP_DROP_TTL);

    /* Non-IP to B's MAC: bridged unchanged. */
    uint8_t l2[64];
    memset(l2, 0x33, sizeof l2);
    t_eth(l2, MAC_B, MAC_A, 0x88b5);
    dp_rx(dp, IF_A, t_pkt(&b, l2, sizeof l2), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    assert_int_equal(t_tx(&b.pkt, &out, 0, got), sizeof l2);
    assert_memory_equal(got, l2, sizeof l2);

    struct dp_if st;
    assert_int_equal(dp_if_get(dp, IF_B, &st), 0);
    assert_int_equal(st.stats.tx_packets, 2);
    assert_int_equal(dp_if_get(dp, IF_A, &st), 0);
    assert_int_equal(st.stats.rx_packets, 3);
    assert_int_equal(st.stats.drops, 1);
    dp_free(dp);
}

/* Wraps 'inner' (from 'at' on) in outer headers for the fabric port. */
static size_t fabric_frame(uint8_t *f, int kind, uint32_t label_or_vni, const uint8_t *inner, size_t len)
{
    size_t o = t_eth(f, MAC_FAB, MAC_GW, 0x0800);
    size_t tun = kind == 0 ? 8 + 4 : kind == 1 ? 4 + 4 : 8 + 8;
    t_ip4(f + o, PEER_IP, FAB_IP, kind == 1 ? 47 : 17, 64, tun + len);
    o += 20;
    if (kind == 1) {
        t_put16(f + o, 0);
        t_put16(f + o + 2, 0x8847);
        o += 4;
    } else {
        t_put16(f + o, 50000);
        t_put16(f + o + 2, kind == 0 ? 6635 : 4789);
        t_put16(f + o + 4, (uint16_t)(tun + len));
        t_put16(f + o + 6, 0);
        o += 8;
    }
    if (kind == 2) {
        const uint8_t vx[4] = {0x08, 0, 0, 0};
        memcpy(f + o, vx, 4);
        t_put32(f + o + 4, label_or_vni << 8);
        o += 8;
    } else {
        t_put32(f + o, label_or_vni << 12 | 0x100 | 64);
        o += 4;
    }
    memcpy(f + o, inner, len);
    return o + len;
}

static void test_decap_exact(void **state)
{
    struct dp *dp = setup();
    struct dp_label l = {.label = 300, .nh = NH_B};
    assert_int_equal(dp_label_add(dp, &l), 0);
    l.label = 301;
    l.nh = NH_B_L2;
    assert_int_equal(dp_label_add(dp, &l), 0);
    uint8_t inner[128], f[256], e[256], got[256];
    struct t_buf b;
    struct dp_out out;
    size_t in = t_udp4(inner, MAC_ROUTER, MAC_REMOTE, IP4(172, 16, 5, 5), IP4(192, 168, 1, 20), 7, 8, 6, 63);

    /* MPLSoUDP, L3 label: the IP packet gets B's Ethernet header. */
    size_t n = fabric_frame(f, 0, 300, inner + 14, in - 14);
    dp_rx(dp, IF_FAB, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    size_t o = t_eth(e, MAC_B, MAC_ROUTER, 0x0800);
    memcpy(e + o, inner + 14, in - 14);
    o += in - 14;
    assert_int_equal(t_tx(&b.pkt, &out, 0, got), o);
    assert_memory_equal(got, e, o);

    /* MPLSoGRE, L2 label: the inner frame exactly. */
    n = fabric_frame(f, 1, 301, inner, in);
    dp_rx(dp, IF_FAB, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    assert_int_equal(t_tx(&b.pkt, &out, 0, got), in);
    assert_memory_equal(got, inner, in);

    /* VXLAN: VNI -> VRF, bridged on the inner destination MAC. */
    uint8_t l2[80];
    size_t l2n = t_udp4(l2, MAC_B, MAC_REMOTE, IP4(192, 168, 1, 99), IP4(192, 168, 1, 20), 7, 8, 6, 64);
    n = fabric_frame(f, 2, VNI_RED, l2, l2n);
    /* Ethernet padding after the outer IP packet is not payload. */
    memset(f + n, 0, 6);
    dp_rx(dp, IF_FAB, t_pkt(&b, f, n + 6), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    assert_int_equal(t_tx(&b.pkt, &out, 0, got), l2n);
    assert_memory_equal(got, l2, l2n);

    /* VXLAN to the router MAC: routed in the VRF, MACs rewritten, no TTL change. */
    n = fabric_frame(f, 2, VNI_RED, inner, in);
    dp_rx(dp, IF_FAB, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    assert_int_equal(t_tx(&b.pkt, &out, 0, got), in);
    assert_memory_equal(got, MAC_B, 6);
    assert_memory_equal(got + 6, MAC_ROUTER, 6);
    assert_memory_equal(got + 12, inner + 12, in - 12);

    /* A label leading back to a tunnel is refused (no fabric hairpin). */
    l.label = 302;
    l.nh = NH_UDP;
    assert_int_equal(dp_label_add(dp, &l), 0);
    n = fabric_frame(f, 0, 302, inner + 14, in - 14);
    dp_rx(dp, IF_FAB, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(out.drop, DP_DROP_LOOP);
    dp_free(dp);
}

static void test_roundtrip_between_two_datapaths(void **state)
{
    /* Host 1 encapsulates A -> 172.16.5.5; host 2 (the peer) decapsulates
     * label 100 to its port B: the VM sees the original packet, TTL - 1. */
    struct dp *h1 = setup();
    struct dp *h2 = setup();
    struct dp_if fab;
    assert_int_equal(dp_if_get(h2, IF_FAB, &fab), 0);
    fab.ip4 = PEER_IP;
    assert_int_equal(dp_if_add(h2, &fab), 0);
    struct dp_label l = {.label = LBL_UDP, .nh = NH_B};
    assert_int_equal(dp_label_add(h2, &l), 0);
    uint8_t f[128], mid[256], got[256];
    struct t_buf b1, b2;
    struct dp_out out;
    size_t n = t_tcp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1234, 22, 9);
    dp_rx(h1, IF_A, t_pkt(&b1, f, n), 1, &out);
    size_t mn = t_tx(&b1.pkt, &out, 0, mid);
    dp_rx(h2, IF_FAB, t_pkt(&b2, mid, mn), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    assert_int_equal(t_tx(&b2.pkt, &out, 0, got), n);
    assert_memory_equal(got, MAC_B, 6);
    assert_int_equal(got[22], 63);
    assert_true(t_ip4_csum_ok(got + 14));
    assert_true(t_l4_csum_ok(got + 14));
    assert_memory_equal(got + 34, f + 34, n - 34);
    dp_free(h1);
    dp_free(h2);
}

static void check_punt(struct dp *dp, const uint8_t *f, size_t n, uint8_t reason)
{
    struct t_buf b;
    struct dp_out out;
    uint8_t got[256];
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_PUNT);
    assert_int_equal(out.count, 1);
    assert_int_equal(out.tx[0].ifindex, IF_AGENT);
    assert_int_equal(t_tx(&b.pkt, &out, 0, got), DP_PUNT_HDR_SIZE + n);
    const uint8_t hdr[16] = {0x53, 0x54, 1, reason, 0, 0, 0, IF_A, 0, 0, 0, VRF_RED, 0xff, 0xff, 0xff, 0xff};
    assert_memory_equal(got, hdr, 16);
    assert_memory_equal(got + 16, f, n);
}

static void test_punts(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128];
    size_t n = t_eth(f, MAC_BCAST, MAC_A, 0x0806);
    memset(f + n, 0x01, 28);
    check_punt(dp, f, n + 28, DP_PUNT_ARP);
    n = t_udp4(f, MAC_BCAST, MAC_A, 0, 0xffffffffu, 68, 67, 20, 64);
    check_punt(dp, f, n, DP_PUNT_DHCP);
    n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(192, 168, 1, 2), 33000, 53, 20, 64);
    check_punt(dp, f, n, DP_PUNT_DNS);
    n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(192, 168, 1, 1), 33000, 53, 20, 64);
    check_punt(dp, f, n, DP_PUNT_DNS);
    struct dp_stats s;
    dp_stats_get(dp, &s);
    assert_int_equal(s.punts, 4);

    /* DNS to an outside server is ordinary traffic (routed if a route exists). */
    struct t_buf b;
    struct dp_out out;
    n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 8, 8), 33000, 53, 20, 64);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_FAB);

    /* IPv6 neighbour solicitation goes to the agent too. */
    uint8_t v6[14 + 40 + 24];
    memset(v6, 0, sizeof v6);
    t_eth(v6, MAC_BCAST, MAC_A, 0x86dd);
    v6[14] = 0x60;
    t_put16(v6 + 18, 24);
    v6[20] = 58;
    v6[21] = 255;
    v6[54] = 135;
    check_punt(dp, v6, sizeof v6, DP_PUNT_ND);

    /* Without an agent interface punts are dropped, forwarding goes on. */
    assert_int_equal(dp_if_del(dp, IF_AGENT), 0);
    n = t_eth(f, MAC_BCAST, MAC_A, 0x0806);
    dp_rx(dp, IF_A, t_pkt(&b, f, n + 28), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(out.drop, DP_DROP_NO_AGENT);
    dp_free(dp);
}

static void test_unknown_unicast_not_flooded(void **state)
{
    struct dp *dp = setup();
    uint8_t f[64];
    memset(f, 0x11, sizeof f);
    const uint8_t stranger[6] = {0x02, 0x99, 0x99, 0x99, 0x99, 0x99};
    t_eth(f, stranger, MAC_A, 0x88b5);
    struct t_buf b;
    struct dp_out out;
    dp_rx(dp, IF_A, t_pkt(&b, f, sizeof f), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(out.drop, DP_DROP_UNKNOWN_UNICAST);
    assert_int_equal(out.count, 0);
    /* IP with no route and an unknown MAC: also dropped, not flooded. */
    uint8_t g[128];
    size_t n = t_udp4(g, stranger, MAC_A, IP4(192, 168, 1, 10), IP4(8, 8, 4, 4), 1, 2, 3, 64);
    dp_rx(dp, IF_A, t_pkt(&b, g, n), 1, &out);
    assert_int_equal(out.drop, DP_DROP_UNKNOWN_UNICAST);
    assert_int_equal(t_drops(dp, DP_DROP_UNKNOWN_UNICAST), 2);
    dp_free(dp);
}

static void test_bum_replication(void **state)
{
    struct dp *dp = setup();
    uint8_t f[64], got[256], e[256];
    memset(f, 0x22, sizeof f);
    t_eth(f, MAC_BCAST, MAC_A, 0x88b5);
    struct t_buf b;
    struct dp_out out;
    dp_rx(dp, IF_A, t_pkt(&b, f, sizeof f), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.count, 2); /* B and the VXLAN peer; never back to A */
    assert_int_equal(out.tx[0].ifindex, IF_B);
    assert_int_equal(t_tx(&b.pkt, &out, 0, got), sizeof f);
    assert_memory_equal(got, f, sizeof f);
    assert_int_equal(out.tx[1].ifindex, IF_FAB);
    size_t o = outer(e, 17, 16 + sizeof f);
    assert_int_equal(t_tx(&b.pkt, &out, 1, got), o + 16 + sizeof f);
    assert_memory_equal(got, e, o);
    const uint8_t vx[8] = {0x08, 0, 0, 0, 0x00, 0x13, 0x88, 0x00};
    assert_int_equal(t_get16(got + o + 2), 4789);
    assert_int_equal(t_get16(got + o + 4), 16 + sizeof f);
    assert_true(t_get16(got + o) >= 49152);
    assert_memory_equal(got + o + 8, vx, 8);
    assert_memory_equal(got + o + 16, f, sizeof f);

    /* From the fabric: local ports only (split horizon). */
    uint8_t fab[256];
    size_t n = fabric_frame(fab, 2, VNI_RED, f, sizeof f);
    dp_rx(dp, IF_FAB, t_pkt(&b, fab, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.count, 2);
    assert_int_equal(out.tx[0].ifindex, IF_A);
    assert_int_equal(out.tx[1].ifindex, IF_B);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(t_tx(&b.pkt, &out, i, got), sizeof f);
        assert_memory_equal(got, f, sizeof f);
    }

    /* A VRF without a BUM next hop drops broadcasts. */
    struct dp_if c;
    assert_int_equal(dp_if_get(dp, IF_C, &c), 0);
    t_eth(f, MAC_BCAST, MAC_C, 0x88b5);
    dp_rx(dp, IF_C, t_pkt(&b, f, sizeof f), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(out.drop, DP_DROP_NO_BUM);
    dp_free(dp);
}

static void test_vrf_isolation(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128], got[256];
    struct t_buf b;
    struct dp_out out;
    /* The same destination from RED and from BLUE: different next hops. */
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 1, 1), 5, 6, 0, 64);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    t_tx(&b.pkt, &out, 0, got);
    assert_int_equal(t_get32(got + 42) >> 12, LBL_UDP);
    n = t_udp4(f, MAC_ROUTER, MAC_C, IP4(192, 168, 1, 10), IP4(172, 16, 1, 1), 5, 6, 0, 64);
    dp_rx(dp, IF_C, t_pkt(&b, f, n), 1, &out);
    t_tx(&b.pkt, &out, 0, got);
    assert_int_equal(t_get32(got + 42) >> 12, 500);
    /* BLUE has no route to B's address and does not know B's MAC. */
    n = t_udp4(f, MAC_B, MAC_C, IP4(192, 168, 1, 10), IP4(192, 168, 1, 20), 5, 6, 0, 64);
    dp_rx(dp, IF_C, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(out.drop, DP_DROP_UNKNOWN_UNICAST);
    /* A VNI of RED never delivers into BLUE's port. */
    struct dp_vni v = {.vni = 6000, .vrf = VRF_BLUE};
    assert_int_equal(dp_vni_add(dp, &v), 0);
    uint8_t fab[256];
    size_t fn = fabric_frame(fab, 2, 6000, f, n);
    dp_rx(dp, IF_FAB, t_pkt(&b, fab, fn), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(out.drop, DP_DROP_UNKNOWN_UNICAST);
    dp_free(dp);
}

static void test_agent_injects(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128], got[256];
    const uint8_t hdr[16] = {0x53, 0x54, 1, DP_AGENT_TX, 0, 0, 0, IF_B, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    memcpy(f, hdr, 16);
    size_t n = t_eth(f + 16, MAC_B, MAC_ROUTER, 0x0806);
    memset(f + 16 + n, 2, 28);
    struct t_buf b;
    struct dp_out out;
    dp_rx(dp, IF_AGENT, t_pkt(&b, f, 16 + n + 28), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    assert_int_equal(t_tx(&b.pkt, &out, 0, got), n + 28);
    assert_memory_equal(got, f + 16, n + 28);
    f[0] = 0x99;
    dp_rx(dp, IF_AGENT, t_pkt(&b, f, 16 + n + 28), 1, &out);
    assert_int_equal(out.drop, DP_DROP_BAD_AGENT_MSG);
    f[0] = 0x53;
    f[7] = 15; /* no such port */
    dp_rx(dp, IF_AGENT, t_pkt(&b, f, 16 + n + 28), 1, &out);
    assert_int_equal(out.drop, DP_DROP_BAD_AGENT_MSG);
    dp_rx(dp, IF_AGENT, t_pkt(&b, f, 10), 1, &out);
    assert_int_equal(out.drop, DP_DROP_TRUNCATED);
    dp_free(dp);
}

static void expect_drop(struct dp *dp, uint32_t ifindex, const uint8_t *f, size_t n, enum dp_drop why)
{
    struct t_buf b;
    struct dp_out out;
    dp_rx(dp, ifindex, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(out.count, 0);
    if (out.drop != why) {
        fail_msg("dropped as %s, expected %s", dp_drop_name(out.drop), dp_drop_name(why));
    }
}

static void test_malformed_vm_side(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128], g[128];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 64);
    expect_drop(dp, IF_A, f, 10, DP_DROP_TRUNCATED);
    memcpy(g, f, n);
    g[14] = 0x44; /* IHL 4 */
    expect_drop(dp, IF_A, g, n, DP_DROP_BAD_IP);
    memcpy(g, f, n);
    g[14] = 0x55; /* version 5 */
    expect_drop(dp, IF_A, g, n, DP_DROP_BAD_IP);
    memcpy(g, f, n);
    t_put16(g + 16, (uint16_t)(n - 14 + 1)); /* longer than the frame */
    expect_drop(dp, IF_A, g, n, DP_DROP_TRUNCATED);
    memcpy(g, f, n);
    t_put16(g + 16, 24); /* UDP header cut by the IP length */
    expect_drop(dp, IF_A, g, n, DP_DROP_TRUNCATED);
    memcpy(g, f, n);
    t_put16(g + 16, 10); /* total length below the header */
    expect_drop(dp, IF_A, g, n, DP_DROP_BAD_IP);
    t_eth(g, MAC_ROUTER, MAC_A, 0x86dd);
    expect_drop(dp, IF_A, g, 14 + 39, DP_DROP_TRUNCATED);
    /* Every prefix of a valid frame: dropped cleanly, never crashes. */
    for (size_t len = 0; len < n; len++) {
        struct t_buf b;
        struct dp_out out;
        dp_rx(dp, IF_A, t_pkt(&b, f, len), 1, &out);
        assert_int_equal(out.verdict, DP_VERDICT_DROP);
    }
    /* A packet descriptor that lies about its buffer. */
    struct t_buf b;
    struct dp_out out;
    struct dp_pkt *p = t_pkt(&b, f, n);
    p->len = p->size;
    dp_rx(dp, IF_A, p, 1, &out);
    assert_int_equal(out.drop, DP_DROP_TRUNCATED);
    dp_rx(dp, 99, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.drop, DP_DROP_BAD_IF);
    dp_rx(dp, IF_D, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.drop, DP_DROP_BAD_IF);
    /* Not enough headroom to encapsulate. */
    p = t_pkt(&b, f, n);
    memmove(b.mem, b.mem + DP_HEADROOM, n);
    p->off = 0;
    dp_rx(dp, IF_A, p, 1, &out);
    assert_int_equal(out.drop, DP_DROP_NO_HEADROOM);
    dp_free(dp);
}

static void test_malformed_fabric_side(void **state)
{
    struct dp *dp = setup();
    struct dp_label l = {.label = 300, .nh = NH_B};
    assert_int_equal(dp_label_add(dp, &l), 0);
    uint8_t inner[128], f[256], g[256];
    size_t in = t_udp4(inner, MAC_ROUTER, MAC_REMOTE, IP4(172, 16, 5, 5), IP4(192, 168, 1, 20), 7, 8, 6, 63);
    size_t n = fabric_frame(f, 0, 300, inner + 14, in - 14);

    memcpy(g, f, n);
    t_put16(g + 12, 0x86dd);
    expect_drop(dp, IF_FAB, g, n, DP_DROP_NOT_TUNNEL);
    memcpy(g, f, n);
    t_put16(g + 36, 9999);
    expect_drop(dp, IF_FAB, g, n, DP_DROP_NOT_TUNNEL);
    memcpy(g, f, n);
    g[44] &= (uint8_t)~0x01; /* clear S: a label stack */
    expect_drop(dp, IF_FAB, g, n, DP_DROP_LABEL_STACK);
    memcpy(g, f, n);
    t_put32(g + 42, 999u << 12 | 0x100 | 64);
    expect_drop(dp, IF_FAB, g, n, DP_DROP_BAD_LABEL);
    memcpy(g, f, n);
    t_put32(g + 42, 0xfffffu << 12 | 0x100 | 64); /* beyond the label table */
    expect_drop(dp, IF_FAB, g, n, DP_DROP_BAD_LABEL);
    memcpy(g, f, n);
    g[20] = 0x20; /* MF */
    expect_drop(dp, IF_FAB, g, n, DP_DROP_OUTER_FRAG);
    memcpy(g, f, n);
    t_put32(g + 30, IP4(10, 0, 0, 9));
    expect_drop(dp, IF_FAB, g, n, DP_DROP_NOT_FOR_US);
    memcpy(g, f, n);
    t_put16(g + 38, 4); /* UDP length below its header */
    expect_drop(dp, IF_FAB, g, n, DP_DROP_BAD_TUNNEL);
    memcpy(g, f, n);
    g[46] = 0x75; /* inner version 7 */
    expect_drop(dp, IF_FAB, g, n, DP_DROP_BAD_IP);

    size_t gn = fabric_frame(g, 1, 300, inner + 14, in - 14);
    g[34] = 0x80; /* GRE checksum flag */
    expect_drop(dp, IF_FAB, g, gn, DP_DROP_BAD_TUNNEL);
    gn = fabric_frame(g, 2, VNI_RED, inner, in);
    g[42] = 0;
    expect_drop(dp, IF_FAB, g, gn, DP_DROP_BAD_TUNNEL);
    gn = fabric_frame(g, 2, 4242, inner, in);
    expect_drop(dp, IF_FAB, g, gn, DP_DROP_BAD_VNI);
    gn = fabric_frame(g, 2, VNI_RED, inner, 10); /* inner frame too short */
    expect_drop(dp, IF_FAB, g, gn, DP_DROP_TRUNCATED);

    for (size_t len = 0; len < n; len++) {
        struct t_buf b;
        struct dp_out out;
        dp_rx(dp, IF_FAB, t_pkt(&b, f, len), 1, &out);
        assert_int_equal(out.verdict, DP_VERDICT_DROP);
    }
    /* The whole frame still goes through. */
    struct t_buf b;
    struct dp_out out;
    dp_rx(dp, IF_FAB, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    dp_free(dp);
}

static void test_batch(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 64);
    static struct t_buf bufs[4];
    struct dp_pkt pkts[4];
    static struct dp_out outs[4];
    for (int i = 0; i < 4; i++) {
        pkts[i] = *t_pkt(&bufs[i], f, i == 2 ? 5 : n);
    }
    dp_rx_batch(dp, IF_A, pkts, 4, 1, outs);
    assert_int_equal(outs[0].verdict, DP_VERDICT_TX);
    assert_int_equal(outs[1].verdict, DP_VERDICT_TX);
    assert_int_equal(outs[2].verdict, DP_VERDICT_DROP);
    assert_int_equal(outs[3].verdict, DP_VERDICT_TX);
    assert_int_equal(pkts[0].len, n - 14 + 46);
    dp_free(dp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encap_mpls_udp_exact),
        cmocka_unit_test(test_encap_mpls_gre_exact),
        cmocka_unit_test(test_encap_vxlan_exact),
        cmocka_unit_test(test_local_routing_and_bridging),
        cmocka_unit_test(test_decap_exact),
        cmocka_unit_test(test_roundtrip_between_two_datapaths),
        cmocka_unit_test(test_punts),
        cmocka_unit_test(test_unknown_unicast_not_flooded),
        cmocka_unit_test(test_bum_replication),
        cmocka_unit_test(test_vrf_isolation),
        cmocka_unit_test(test_agent_injects),
        cmocka_unit_test(test_malformed_vm_side),
        cmocka_unit_test(test_malformed_fabric_side),
        cmocka_unit_test(test_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

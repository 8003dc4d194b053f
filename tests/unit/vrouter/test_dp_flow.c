/* Unit tests for the vRouter core's flow handling and generations: a miss
 * punts and holds, an install forwards, reverse pairs, NAT with checksums
 * verified by recomputation, mirror, aging on a passed-in clock, a full
 * table, ECMP spread and stickiness, IPv6 inner traffic, and the generation
 * sweep with forwarding never interrupted for re-installed state. */
#include "dp_test.h"

#define NH_B 1
#define NH_UDP 2
#define NH_GRE 3
#define NH_VXLAN 4
#define NH_UDP_BLUE 8
#define NH_ECMP 40

static void set_policy(struct dp *dp, uint32_t ifindex)
{
    struct dp_if i;
    assert_int_equal(dp_if_get(dp, ifindex, &i), 0);
    i.flags |= DP_IF_POLICY;
    assert_int_equal(dp_if_add(dp, &i), 0);
}

static struct dp *setup(void)
{
    struct dp *dp = t_dp_new();
    t_nh_if(dp, NH_B, IF_B, MAC_B, 0);
    t_nh_tun(dp, NH_UDP, DP_ENCAP_MPLS_UDP, 100, 0);
    t_nh_tun(dp, NH_GRE, DP_ENCAP_MPLS_GRE, 200, 0);
    t_nh_tun(dp, NH_VXLAN, DP_ENCAP_VXLAN, 5000, MAC_REMOTE);
    t_nh_tun(dp, NH_UDP_BLUE, DP_ENCAP_MPLS_UDP, 500, 0);
    t_route4(dp, VRF_RED, IP4(192, 168, 1, 20), 32, NH_B);
    t_route4(dp, VRF_RED, IP4(172, 16, 0, 0), 16, NH_UDP);
    t_route4(dp, VRF_RED, IP4(172, 17, 0, 0), 16, NH_GRE);
    t_route4(dp, VRF_BLUE, IP4(172, 16, 0, 0), 16, NH_UDP_BLUE);
    struct dp_label l = {.label = 300, .nh = NH_B};
    assert_int_equal(dp_label_add(dp, &l), 0);
    set_policy(dp, IF_A);
    return dp;
}

static const struct dp_flow_action FWD = {.type = DP_FLOW_FORWARD};

static void test_miss_hold_install(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128], got[256];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 64);
    struct t_buf b;
    struct dp_out out;
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 100, &out);
    assert_int_equal(out.verdict, DP_VERDICT_PUNT);
    assert_int_equal(t_tx(&b.pkt, &out, 0, got), 16 + n);
    assert_int_equal(got[3], DP_PUNT_FLOW_MISS);
    uint32_t idx = t_get32(got + 12);
    assert_memory_equal(got + 16, f, n);

    struct dp_flow_key k;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    struct dp_flow fl;
    assert_int_equal(dp_flow_get(dp, &k, &fl), 0);
    assert_int_equal(fl.state, DP_FLOW_HOLD);
    assert_int_equal(fl.index, idx);
    assert_int_equal(fl.last_seen_ms, 100);

    /* Held: later packets are dropped and counted until the agent decides. */
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 101, &out);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(out.drop, DP_DROP_FLOW_HOLD);
    struct dp_stats s;
    dp_stats_get(dp, &s);
    assert_int_equal(s.flows_held, 1);
    assert_int_equal(s.drops[DP_DROP_FLOW_HOLD], 1);

    uint32_t set_idx;
    assert_int_equal(dp_flow_set(dp, &k, &FWD, 102, &set_idx), 0);
    assert_int_equal(set_idx, idx);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 103, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_FAB);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 104, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(dp_flow_get_index(dp, idx, &fl), 0);
    assert_int_equal(fl.state, DP_FLOW_ACTIVE);
    assert_int_equal(fl.packets, 2);
    assert_int_equal(fl.bytes, 2 * n);
    assert_int_equal(fl.last_seen_ms, 104);
    dp_stats_get(dp, &s);
    assert_int_equal(s.flows_active, 1);
    assert_int_equal(s.flows_held, 0);

    /* Another flow (other port) is a miss of its own. */
    n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1001, 2000, 10, 64);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 105, &out);
    assert_int_equal(out.verdict, DP_VERDICT_PUNT);

    uint32_t pos = 0, count = 0;
    while (dp_flow_next(dp, &pos, &fl) == 0) {
        count++;
    }
    assert_int_equal(count, 2);
    assert_int_equal(dp_flow_del(dp, &k), 0);
    assert_int_equal(dp_flow_get(dp, &k, &fl), VR_ENOENT);
    assert_int_equal(dp_flow_del(dp, &k), VR_ENOENT);
    k.pad[0] = 1;
    assert_int_equal(dp_flow_set(dp, &k, &FWD, 1, NULL), VR_EINVAL);
    dp_free(dp);
}

static void test_action_drop_and_mirror(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128], got[256];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 64);
    struct dp_flow_key k;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    struct dp_flow_action a = {.type = DP_FLOW_DROP};
    assert_int_equal(dp_flow_set(dp, &k, &a, 1, NULL), 0);
    struct t_buf b;
    struct dp_out out;
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(out.drop, DP_DROP_FLOW_ACTION);

    a.type = DP_FLOW_MIRROR;
    a.mirror_nh = NH_VXLAN;
    assert_int_equal(dp_flow_set(dp, &k, &a, 1, NULL), 0);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.count, 2);
    assert_int_equal(out.tx[0].ifindex, IF_FAB);
    assert_int_equal(out.tx[1].ifindex, IF_FAB);
    uint8_t fwd[256];
    size_t fn = t_tx(&b.pkt, &out, 0, fwd);
    assert_int_equal(fn, 46 + n - 14);
    /* The copy: VXLAN to the analyzer, the original Ethernet header, and
     * the IP packet as forwarded (TTL already decremented). */
    size_t mn = t_tx(&b.pkt, &out, 1, got);
    assert_int_equal(mn, 50 + n);
    assert_int_equal(t_get16(got + 36), 4789);
    assert_memory_equal(got + 50, f, 14);
    assert_memory_equal(got + 64, fwd + 46, n - 14);
    assert_int_equal(got[64 + 8], 63);

    a.mirror_nh = 0;
    assert_int_equal(dp_flow_set(dp, &k, &a, 1, NULL), VR_EINVAL);
    a.type = DP_FLOW_NAT;
    a.flags = 0;
    assert_int_equal(dp_flow_set(dp, &k, &a, 1, NULL), VR_EINVAL);
    dp_free(dp);
}

static void test_reverse_pair(void **state)
{
    struct dp *dp = setup();
    set_policy(dp, IF_B);
    struct dp_flow_key fk, rk;
    t_key4(&fk, VRF_RED, IP4(192, 168, 1, 20), IP4(172, 16, 5, 5), 17, 7000, 53);
    t_key4(&rk, VRF_RED, IP4(172, 16, 5, 5), IP4(192, 168, 1, 20), 17, 53, 7000);
    uint32_t fi, ri;
    assert_int_equal(dp_flow_set_pair(dp, &fk, &FWD, &rk, &FWD, 10, &fi, &ri), 0);
    assert_int_not_equal(fi, ri);
    struct dp_flow fl;
    assert_int_equal(dp_flow_get_index(dp, fi, &fl), 0);
    assert_int_equal(fl.reverse, ri);
    assert_int_equal(dp_flow_get_index(dp, ri, &fl), 0);
    assert_int_equal(fl.reverse, fi);
    assert_int_equal(dp_flow_set_pair(dp, &fk, &FWD, &fk, &FWD, 10, &fi, &ri), VR_EINVAL);

    /* The reply arrives from the fabric for B (a policy port): the reverse
     * flow lets it through; an unrelated one is a miss. */
    uint8_t inner[128], f[256];
    size_t in = t_udp4(inner, MAC_ROUTER, MAC_REMOTE, IP4(172, 16, 5, 5), IP4(192, 168, 1, 20), 53, 7000, 6, 63);
    size_t o = t_eth(f, MAC_FAB, MAC_GW, 0x0800);
    t_ip4(f + o, PEER_IP, FAB_IP, 17, 64, 8 + 4 + in - 14);
    o += 20;
    t_put16(f + o, 50000);
    t_put16(f + o + 2, 6635);
    t_put16(f + o + 4, (uint16_t)(8 + 4 + in - 14));
    t_put16(f + o + 6, 0);
    t_put32(f + o + 8, 300u << 12 | 0x100 | 64);
    memcpy(f + o + 12, inner + 14, in - 14);
    size_t n = o + 12 + in - 14;
    struct t_buf b;
    struct dp_out out;
    dp_rx(dp, IF_FAB, t_pkt(&b, f, n), 11, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    assert_int_equal(dp_flow_get_index(dp, ri, &fl), 0);
    assert_int_equal(fl.packets, 1);
    t_put16(f + o + 12 + 20, 54); /* another source port (UDP checksum unchecked here) */
    dp_rx(dp, IF_FAB, t_pkt(&b, f, n), 12, &out);
    assert_int_equal(out.verdict, DP_VERDICT_PUNT);

    /* Deleting one side unlinks the other. */
    assert_int_equal(dp_flow_del(dp, &fk), 0);
    assert_int_equal(dp_flow_get_index(dp, ri, &fl), 0);
    assert_int_equal(fl.reverse, DP_FLOW_NONE);
    dp_free(dp);
}

static void test_nat_checksums(void **state)
{
    struct dp *dp = setup();
    set_policy(dp, IF_B);
    uint8_t f[128], got[256];
    struct t_buf b;
    struct dp_out out;
    /* SNAT to a floating IP, routed in the floating network's VRF (BLUE). */
    size_t n = t_tcp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 40000, 80, 7);
    struct dp_flow_key k;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 6, 40000, 80);
    struct dp_flow_action a = {
        .type = DP_FLOW_NAT, .flags = DP_FA_SNAT | DP_FA_VRF, .nat_ip = IP4(203, 0, 113, 7), .vrf = VRF_BLUE};
    assert_int_equal(dp_flow_set(dp, &k, &a, 1, NULL), 0);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    size_t gn = t_tx(&b.pkt, &out, 0, got);
    assert_int_equal(gn, 46 + n - 14);
    assert_int_equal(t_get32(got + 42) >> 12, 500); /* BLUE's tunnel */
    const uint8_t *ip = got + 46;
    assert_int_equal(t_get32(ip + 12), IP4(203, 0, 113, 7));
    assert_int_equal(t_get32(ip + 16), IP4(172, 16, 5, 5));
    assert_int_equal(ip[8], 63);
    assert_true(t_ip4_csum_ok(ip));
    assert_true(t_l4_csum_ok(ip));
    assert_memory_equal(ip + 20 + 4, f + 34 + 4, 12); /* seq/ack/flags untouched */

    /* DNAT with a port change on delivery to B (UDP with a checksum). */
    uint8_t inner[128], fab[256];
    size_t in = t_udp4(inner, MAC_ROUTER, MAC_REMOTE, IP4(172, 16, 5, 5), IP4(203, 0, 113, 8), 53, 5353, 9, 63);
    t_key4(&k, VRF_RED, IP4(172, 16, 5, 5), IP4(203, 0, 113, 8), 17, 53, 5353);
    a.flags = DP_FA_DNAT;
    a.nat_ip = IP4(192, 168, 1, 20);
    a.nat_port = 6000;
    assert_int_equal(dp_flow_set(dp, &k, &a, 1, NULL), 0);
    size_t o = t_eth(fab, MAC_FAB, MAC_GW, 0x0800);
    t_ip4(fab + o, PEER_IP, FAB_IP, 17, 64, 8 + 4 + in - 14);
    o += 20;
    t_put16(fab + o, 50000);
    t_put16(fab + o + 2, 6635);
    t_put16(fab + o + 4, (uint16_t)(8 + 4 + in - 14));
    t_put16(fab + o + 6, 0);
    t_put32(fab + o + 8, 300u << 12 | 0x100 | 64);
    memcpy(fab + o + 12, inner + 14, in - 14);
    dp_rx(dp, IF_FAB, t_pkt(&b, fab, o + 12 + in - 14), 2, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    gn = t_tx(&b.pkt, &out, 0, got);
    assert_int_equal(gn, in);
    ip = got + 14;
    assert_int_equal(t_get32(ip + 16), IP4(192, 168, 1, 20));
    assert_int_equal(t_get16(ip + 22), 6000);
    assert_int_equal(t_get16(ip + 20), 53);
    assert_true(t_ip4_csum_ok(ip));
    assert_true(t_l4_csum_ok(ip));
    dp_free(dp);
}

static void test_aging(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128];
    struct t_buf b;
    struct dp_out out;
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 64);
    struct dp_flow_key k, rk, other;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    t_key4(&rk, VRF_RED, IP4(172, 16, 5, 5), IP4(192, 168, 1, 10), 17, 2000, 1000);
    t_key4(&other, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 9, 9), 17, 1, 1);
    assert_int_equal(dp_flow_set_pair(dp, &k, &FWD, &rk, &FWD, 1000, NULL, NULL), 0);
    assert_int_equal(dp_flow_set(dp, &other, &FWD, 1000, NULL), 0);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 5000, &out); /* refreshes k only */
    assert_int_equal(out.verdict, DP_VERDICT_TX);

    /* At 12000 with 10 s idle: 'other' (seen at 1000) goes; the pair stays
     * because k was seen at 5000, even though rk is idle. */
    assert_int_equal(dp_flow_age(dp, 12000, 10000), 1);
    struct dp_flow fl;
    assert_int_equal(dp_flow_get(dp, &other, &fl), VR_ENOENT);
    assert_int_equal(dp_flow_get(dp, &k, &fl), 0);
    assert_int_equal(dp_flow_get(dp, &rk, &fl), 0);
    assert_int_equal(dp_flow_age(dp, 15000, 10000), 0);
    assert_int_equal(dp_flow_age(dp, 15001, 10000), 2);
    assert_int_equal(dp_flow_get(dp, &k, &fl), VR_ENOENT);

    /* Held entries age too, so a lost agent answer is retried. */
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 20000, &out);
    assert_int_equal(out.verdict, DP_VERDICT_PUNT);
    assert_int_equal(dp_flow_age(dp, 20500, 1000), 0);
    assert_int_equal(dp_flow_age(dp, 21001, 1000), 1);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 21002, &out);
    assert_int_equal(out.verdict, DP_VERDICT_PUNT);
    dp_free(dp);
}

static void test_table_full(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128];
    struct t_buf b;
    struct dp_out out;
    uint32_t punts = 0, full = 0;
    for (uint16_t i = 0; i < 100; i++) {
        size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 0, (uint8_t)i), (uint16_t)(10000 + i), 2000, 1, 64);
        dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
        if (out.verdict == DP_VERDICT_PUNT) {
            punts++;
        } else {
            assert_int_equal(out.drop, DP_DROP_FLOW_FULL);
            full++;
        }
    }
    /* 16 main slots + 4 overflow slots; at least the overflow fills up. */
    assert_true(punts >= 4 && punts <= 20);
    assert_int_equal(punts + full, 100);
    assert_int_equal(t_drops(dp, DP_DROP_FLOW_FULL), full);
    struct dp_stats s;
    dp_stats_get(dp, &s);
    assert_int_equal(s.flows_held, punts);
    /* Installing into the full table from control fails cleanly. */
    int efull = 0;
    for (uint16_t i = 0; i < 100; i++) {
        struct dp_flow_key k;
        t_key4(&k, VRF_RED, IP4(1, 1, 1, 1), IP4(2, 2, 2, 2), 6, i, 80);
        int rc = dp_flow_set(dp, &k, &FWD, 1, NULL);
        assert_true(rc == 0 || rc == VR_EFULL);
        efull += rc == VR_EFULL;
    }
    assert_true(efull > 0);
    /* Aging empties it; overflow slots are recycled. */
    assert_true(dp_flow_age(dp, 100000, 1000) >= punts);
    dp_stats_get(dp, &s);
    assert_int_equal(s.flows_held + s.flows_active, 0);
    punts = 0;
    for (uint16_t i = 0; i < 100; i++) {
        size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 0, (uint8_t)i), (uint16_t)(10000 + i), 2000, 1, 64);
        dp_rx(dp, IF_A, t_pkt(&b, f, n), 100001, &out);
        punts += out.verdict == DP_VERDICT_PUNT;
    }
    assert_true(punts >= 4 && punts <= 20);
    dp_free(dp);
}

/* Control installs until the table refuses, then every slot freed is found
 * again: a deleted flow's slot is the one the next install of a key of
 * its bucket takes, and the same keys fill the table to the same count. */
static void test_slot_reuse(void **state)
{
    (void)state;
    struct dp *dp = t_dp_new();
    struct dp_flow_key k[100];
    uint32_t idx[100];
    int installed = 0;
    for (uint16_t i = 0; i < 100; i++) {
        t_key4(&k[i], VRF_RED, IP4(1, 1, 1, 1), IP4(2, 2, 2, 2), 6, i, 80);
        int rc = dp_flow_set(dp, &k[i], &FWD, 1, &idx[i]);
        assert_true(rc == 0 || rc == VR_EFULL);
        installed += rc == 0;
        if (rc != 0) {
            idx[i] = DP_FLOW_NONE;
        }
    }
    assert_true(installed >= 16 && installed <= 20);
    /* a main slot freed is taken again by a key of its bucket */
    for (uint16_t i = 0; i < 100; i++) {
        if (idx[i] == DP_FLOW_NONE || idx[i] >= 16) {
            continue;
        }
        assert_int_equal(dp_flow_del(dp, &k[i]), 0);
        uint32_t again = DP_FLOW_NONE;
        assert_int_equal(dp_flow_set(dp, &k[i], &FWD, 1, &again), 0);
        assert_int_equal(again, idx[i]);
    }
    /* everything freed, the same keys fit again */
    for (uint16_t i = 0; i < 100; i++) {
        if (idx[i] != DP_FLOW_NONE) {
            assert_int_equal(dp_flow_del(dp, &k[i]), 0);
        }
    }
    struct dp_stats st;
    dp_stats_get(dp, &st);
    assert_int_equal(st.flows_active, 0);
    int again = 0;
    for (uint16_t i = 0; i < 100; i++) {
        again += dp_flow_set(dp, &k[i], &FWD, 1, NULL) == 0;
    }
    assert_int_equal(again, installed);
    dp_free(dp);
}

static void test_ecmp_spread(void **state)
{
    struct dp *dp = setup();
    struct dp_nh e = {.id = NH_ECMP, .type = DP_NH_ECMP, .member_count = 4};
    for (uint32_t m = 0; m < 4; m++) {
        t_nh_tun(dp, 41 + m, DP_ENCAP_MPLS_UDP, 1 + m, 0);
        e.members[m] = 41 + m;
    }
    assert_int_equal(dp_nh_add(dp, &e), 0);
    t_route4(dp, VRF_BLUE, IP4(172, 20, 0, 0), 16, NH_ECMP);
    uint32_t hits[5] = {0};
    uint8_t f[128], got[256];
    struct t_buf b;
    struct dp_out out;
    const int flows = 4000;
    for (int i = 0; i < flows; i++) {
        size_t n = t_udp4(f, MAC_ROUTER, MAC_C, IP4(192, 168, 2, (uint8_t)(i % 50)), IP4(172, 20, 0, (uint8_t)(i / 50)),
                          (uint16_t)(10000 + i), 443, 0, 64);
        dp_rx(dp, IF_C, t_pkt(&b, f, n), 1, &out);
        assert_int_equal(out.verdict, DP_VERDICT_TX);
        t_tx(&b.pkt, &out, 0, got);
        uint32_t label = t_get32(got + 42) >> 12;
        assert_true(label >= 1 && label <= 4);
        hits[label]++;
        if (i % 97 == 0) { /* the same flow again: the same member */
            dp_rx(dp, IF_C, t_pkt(&b, f, n), 1, &out);
            t_tx(&b.pkt, &out, 0, got);
            assert_int_equal(t_get32(got + 42) >> 12, label);
        }
    }
    for (int m = 1; m <= 4; m++) {
        /* a fair share: 1000 each, within 15% */
        assert_true(hits[m] >= 850 && hits[m] <= 1150);
    }
    dp_free(dp);
}

static void test_ipv6_flow_and_encap(void **state)
{
    struct dp *dp = setup();
    struct dp_route r = {.vrf = VRF_RED, .family = 6, .plen = 32, .addr = {0x20, 0x01, 0x0d, 0xb8}, .nh = NH_UDP};
    assert_int_equal(dp_route_add(dp, &r), 0);
    uint8_t f[128], got[256];
    size_t o = t_eth(f, MAC_ROUTER, MAC_A, 0x86dd);
    uint8_t *ip = f + o;
    memset(ip, 0, 40);
    ip[0] = 0x60;
    t_put16(ip + 4, 8 + 4);
    ip[6] = 17;
    ip[7] = 64;
    ip[8] = 0xfd;
    ip[23] = 1;
    memcpy(ip + 24, r.addr, 4);
    ip[39] = 9;
    uint8_t *u = ip + 40;
    t_put16(u, 3333);
    t_put16(u + 2, 4444);
    t_put16(u + 4, 12);
    t_put16(u + 6, 0x1234);
    memcpy(u + 8, "ping", 4);
    size_t n = o + 40 + 12;
    struct t_buf b;
    struct dp_out out;
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_PUNT);

    struct dp_flow_key k;
    memset(&k, 0, sizeof k);
    k.vrf = VRF_RED;
    k.family = 6;
    memcpy(k.src, ip + 8, 16);
    memcpy(k.dst, ip + 24, 16);
    k.proto = 17;
    k.sport = 3333;
    k.dport = 4444;
    assert_int_equal(dp_flow_set(dp, &k, &FWD, 1, NULL), 0);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 2, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    size_t gn = t_tx(&b.pkt, &out, 0, got);
    assert_int_equal(gn, 46 + 40 + 12);
    assert_int_equal(t_get16(got + 34), dp_udp_sport(dp_flow_hash(&k)));
    assert_int_equal(t_get32(got + 42) >> 12, 100);
    assert_int_equal(got[46] >> 4, 6);
    assert_int_equal(got[46 + 7], 63); /* hop limit */
    assert_memory_equal(got + 46 + 8, ip + 8, 32);
    assert_memory_equal(got + 46 + 40, u, 12);
    assert_true(t_ip4_csum_ok(got + 14));
    dp_free(dp);
}

static uint8_t fwd_verdict(struct dp *dp, uint32_t dst, uint64_t now)
{
    uint8_t f[128];
    struct t_buf b;
    struct dp_out out;
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), dst, 1000, 2000, 10, 64);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), now, &out);
    return out.verdict;
}

static void test_generation_sweep_uninterrupted(void **state)
{
    struct dp *dp = t_dp_new();
    dp_generation_begin(dp, 1);
    set_policy(dp, IF_A);
    t_nh_tun(dp, NH_UDP, DP_ENCAP_MPLS_UDP, 100, 0);
    t_nh_tun(dp, NH_GRE, DP_ENCAP_MPLS_GRE, 200, 0);
    t_route4(dp, VRF_RED, IP4(172, 16, 0, 0), 16, NH_UDP);
    t_route4(dp, VRF_RED, IP4(172, 17, 0, 0), 16, NH_GRE);
    struct dp_flow_key k1, k2;
    t_key4(&k1, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    t_key4(&k2, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 17, 5, 5), 17, 1000, 2000);
    assert_int_equal(dp_flow_set(dp, &k1, &FWD, 1, NULL), 0);
    assert_int_equal(dp_flow_set(dp, &k2, &FWD, 1, NULL), 0);
    assert_int_equal(fwd_verdict(dp, IP4(172, 16, 5, 5), 2), DP_VERDICT_TX);
    assert_int_equal(fwd_verdict(dp, IP4(172, 17, 5, 5), 2), DP_VERDICT_TX);

    /* The agent restarts: generation 2. Forwarding continues headless. */
    dp_generation_begin(dp, 2);
    assert_int_equal(fwd_verdict(dp, IP4(172, 16, 5, 5), 3), DP_VERDICT_TX);
    /* It re-installs what it still wants, step by step; every packet in
     * between is still forwarded. */
    struct dp_vrf v = {.vrf = VRF_RED};
    assert_int_equal(dp_vrf_add(dp, &v), 0);
    assert_int_equal(fwd_verdict(dp, IP4(172, 16, 5, 5), 4), DP_VERDICT_TX);
    const uint32_t ifs[] = {IF_FAB, IF_A};
    for (int i = 0; i < 2; i++) {
        struct dp_if in;
        assert_int_equal(dp_if_get(dp, ifs[i], &in), 0);
        assert_int_equal(dp_if_add(dp, &in), 0);
        assert_int_equal(fwd_verdict(dp, IP4(172, 16, 5, 5), 5), DP_VERDICT_TX);
    }
    t_nh_tun(dp, NH_UDP, DP_ENCAP_MPLS_UDP, 100, 0);
    assert_int_equal(fwd_verdict(dp, IP4(172, 16, 5, 5), 6), DP_VERDICT_TX);
    t_route4(dp, VRF_RED, IP4(172, 16, 0, 0), 16, NH_UDP);
    assert_int_equal(fwd_verdict(dp, IP4(172, 16, 5, 5), 7), DP_VERDICT_TX);
    assert_int_equal(dp_flow_set(dp, &k1, &FWD, 8, NULL), 0);
    assert_int_equal(fwd_verdict(dp, IP4(172, 16, 5, 5), 8), DP_VERDICT_TX);
    struct dp_flow fl;
    assert_int_equal(dp_flow_get(dp, &k1, &fl), 0);
    assert_int_equal(fl.gen, 2);
    assert_int_equal(fl.packets, 8); /* counters survive re-installation */

    uint32_t removed = dp_sweep(dp, 2);
    /* flow k2, route 172.17/16, next hop GRE, ports B and C, agent, VRF BLUE */
    assert_int_equal(removed, 7);
    assert_int_equal(fwd_verdict(dp, IP4(172, 16, 5, 5), 9), DP_VERDICT_TX);
    assert_int_equal(dp_flow_get(dp, &k2, &fl), VR_ENOENT);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(172, 17, 5, 5)), 0);
    /* The swept destination no longer forwards (a miss with no agent). */
    assert_int_equal(fwd_verdict(dp, IP4(172, 17, 5, 5), 10), DP_VERDICT_DROP);
    dp_free(dp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_miss_hold_install),
        cmocka_unit_test(test_action_drop_and_mirror),
        cmocka_unit_test(test_reverse_pair),
        cmocka_unit_test(test_nat_checksums),
        cmocka_unit_test(test_aging),
        cmocka_unit_test(test_table_full),
        cmocka_unit_test(test_slot_reuse),
        cmocka_unit_test(test_ecmp_spread),
        cmocka_unit_test(test_ipv6_flow_and_encap),
        cmocka_unit_test(test_generation_sweep_uninterrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the forwarding decision cached in flow entries: a flow hit
 * with a valid cache sends exactly what the full lookup sends, and every
 * change the decision depends on (a route in the routing VRF, the next hop,
 * an ECMP member, the fabric interface the tunnel template comes from, the
 * flow's own action, the VRF itself) is seen by the very next packet, with
 * no global flush. Also the cache fill's refusal to overwrite an entry that
 * changed since it was read, and the counters kept per batch. The IPv4
 * fast path (vm_fast4) is checked differentially: every frame gets the same
 * verdict and the same bytes from a policy port with installed flows
 * (first packet: full pipeline; later ones: fast path) as from a port
 * without flows, including the cases the fast path must leave alone; its
 * TTL checksum update against a full recomputation for every checksum
 * value; and the punts it relies on never being cached. */
#include "dp_test.h"
#include "vrouter/dp/dp_int.h"

#define NH_B 1
#define NH_UDP 2
#define NH_GRE 3
#define NH_UDP_BLUE 8
#define NH_UDP2 9
#define NH_ECMP 40

static const struct dp_flow_action FWD = {.type = DP_FLOW_FORWARD};

static void set_policy(struct dp *dp, uint32_t ifindex, int on)
{
    struct dp_if i;
    assert_int_equal(dp_if_get(dp, ifindex, &i), 0);
    i.flags = on ? DP_IF_POLICY : 0;
    assert_int_equal(dp_if_add(dp, &i), 0);
}

static struct dp *setup(void)
{
    struct dp *dp = t_dp_new();
    t_nh_if(dp, NH_B, IF_B, MAC_B, 0);
    t_nh_tun(dp, NH_UDP, DP_ENCAP_MPLS_UDP, 100, 0);
    t_nh_tun(dp, NH_GRE, DP_ENCAP_MPLS_GRE, 200, 0);
    t_nh_tun(dp, NH_UDP_BLUE, DP_ENCAP_MPLS_UDP, 500, 0);
    t_nh_tun(dp, NH_UDP2, DP_ENCAP_MPLS_UDP, 900, 0);
    t_route4(dp, VRF_RED, IP4(172, 16, 0, 0), 16, NH_UDP);
    t_route4(dp, VRF_BLUE, IP4(172, 16, 0, 0), 16, NH_UDP_BLUE);
    set_policy(dp, IF_A, 1);
    struct dp_flow_key k;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    assert_int_equal(dp_flow_set(dp, &k, &FWD, 1, NULL), 0);
    return dp;
}

/* Sends the test flow's packet from A; returns the transmitted frame's size
 * in 'got' (0 when not transmitted) and leaves the verdict in 'out'. */
static size_t send(struct dp *dp, struct dp_out *out, uint8_t *got)
{
    uint8_t f[128];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 64);
    struct t_buf b;
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 5, out);
    if (out->verdict != DP_VERDICT_TX) {
        return 0;
    }
    assert_int_equal(out->count, 1);
    return t_tx(&b.pkt, out, 0, got);
}

/* The MPLS label of an MPLSoUDP frame, or of an MPLSoGRE frame. */
static uint32_t udp_label(const uint8_t *fr)
{
    return t_get32(fr + 42) >> 12;
}
static uint32_t gre_label(const uint8_t *fr)
{
    return t_get32(fr + 38) >> 12;
}

static struct dp_flow_view view(struct dp *dp)
{
    struct dp_flow_key k;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    struct dp_flow_view v;
    memset(&v, 0, sizeof v);
    assert_int_not_equal(dp_flow_lookup(dp, &k, dp_flow_hash(&k), &v), DP_FLOW_NONE);
    return v;
}

static void test_cached_equals_lookup(void **state)
{
    struct dp *dp = setup();
    struct dp_out out;
    uint8_t first[256], second[256], plain[256];
    assert_int_equal(view(dp).cache.nh, DP_NONE);
    size_t n1 = send(dp, &out, first);
    assert_int_equal(out.tx[0].ifindex, IF_FAB);
    struct dp_flow_view v = view(dp);
    assert_int_equal(v.cache.nh, NH_UDP);
    assert_int_equal(v.cache.leaf, NH_UDP);
    size_t n2 = send(dp, &out, second);
    assert_int_equal(n1, n2);
    assert_memory_equal(first, second, n1);
    /* The same packet through a port without flows (no cache at all). */
    set_policy(dp, IF_A, 0);
    size_t n3 = send(dp, &out, plain);
    assert_int_equal(n1, n3);
    assert_memory_equal(first, plain, n1);
    assert_int_equal(udp_label(first), 100);

    struct dp_flow_key k;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    struct dp_flow fl;
    assert_int_equal(dp_flow_get(dp, &k, &fl), 0);
    assert_int_equal(fl.packets, 2);
    assert_int_equal(fl.last_seen_ms, 5);
    dp_free(dp);
}

static void test_route_changes_seen(void **state)
{
    struct dp *dp = setup();
    struct dp_out out;
    uint8_t got[256];
    send(dp, &out, got);
    send(dp, &out, got);
    assert_int_equal(udp_label(got), 100);
    /* The same prefix to another next hop. */
    t_route4(dp, VRF_RED, IP4(172, 16, 0, 0), 16, NH_GRE);
    assert_true(send(dp, &out, got) > 0);
    assert_int_equal(got[23], 47);
    assert_int_equal(gre_label(got), 200);
    /* A more specific prefix appears: local delivery to B. */
    t_route4(dp, VRF_RED, IP4(172, 16, 5, 0), 24, NH_B);
    assert_true(send(dp, &out, got) > 0);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    assert_memory_equal(got, MAC_B, 6);
    send(dp, &out, got);
    assert_int_equal(out.tx[0].ifindex, IF_B);
    /* It goes away again: back to the cover. */
    struct dp_route r;
    memset(&r, 0, sizeof r);
    r.vrf = VRF_RED;
    r.family = 4;
    r.plen = 24;
    t_put32(r.addr, IP4(172, 16, 5, 0));
    assert_int_equal(dp_route_del(dp, &r), 0);
    send(dp, &out, got);
    assert_int_equal(out.tx[0].ifindex, IF_FAB);
    assert_int_equal(gre_label(got), 200);
    /* A route in another VRF leaves this flow's cache alone. */
    uint32_t ver = view(dp).cache.rt_ver;
    t_route4(dp, VRF_BLUE, IP4(10, 9, 0, 0), 16, NH_UDP_BLUE);
    send(dp, &out, got);
    assert_int_equal(view(dp).cache.rt_ver, ver);
    /* The whole route withdrawn: no route, no MAC: unknown unicast. */
    r.plen = 16;
    t_put32(r.addr, IP4(172, 16, 0, 0));
    assert_int_equal(dp_route_del(dp, &r), 0);
    assert_int_equal(send(dp, &out, got), 0);
    assert_int_equal(out.drop, DP_DROP_UNKNOWN_UNICAST);
    dp_free(dp);
}

static void test_next_hop_changes_seen(void **state)
{
    struct dp *dp = setup();
    struct dp_out out;
    uint8_t got[256];
    send(dp, &out, got);
    send(dp, &out, got);
    assert_int_equal(udp_label(got), 100);
    t_nh_tun(dp, NH_UDP, DP_ENCAP_MPLS_UDP, 777, 0);
    send(dp, &out, got);
    assert_int_equal(udp_label(got), 777);
    /* The fabric's underlay gateway MAC changes: the template is rebuilt. */
    static const uint8_t gw2[6] = {0x02, 0, 0, 0, 0, 0x77};
    struct dp_if i;
    assert_int_equal(dp_if_get(dp, IF_FAB, &i), 0);
    memcpy(i.gw_mac, gw2, 6);
    assert_int_equal(dp_if_add(dp, &i), 0);
    send(dp, &out, got);
    assert_memory_equal(got, gw2, 6);
    /* Next hop becomes a discard, then goes away. */
    struct dp_nh d = {.id = NH_UDP, .type = DP_NH_DISCARD};
    assert_int_equal(dp_nh_add(dp, &d), 0);
    assert_int_equal(send(dp, &out, got), 0);
    assert_int_equal(out.drop, DP_DROP_DISCARD);
    t_nh_tun(dp, NH_UDP, DP_ENCAP_MPLS_UDP, 100, 0);
    send(dp, &out, got);
    send(dp, &out, got);
    assert_int_equal(udp_label(got), 100);
    assert_int_equal(dp_nh_del(dp, NH_UDP), 0);
    assert_int_equal(send(dp, &out, got), 0);
    assert_int_equal(out.drop, DP_DROP_NO_NH);
    dp_free(dp);
}

static void test_ecmp_member_changes_seen(void **state)
{
    struct dp *dp = setup();
    struct dp_nh e = {.id = NH_ECMP, .type = DP_NH_ECMP, .member_count = 2, .members = {NH_UDP, NH_UDP2}};
    assert_int_equal(dp_nh_add(dp, &e), 0);
    t_route4(dp, VRF_RED, IP4(172, 16, 0, 0), 16, NH_ECMP);
    struct dp_out out;
    uint8_t got[256];
    send(dp, &out, got);
    uint32_t label = udp_label(got);
    assert_true(label == 100 || label == 900);
    struct dp_flow_view v = view(dp);
    assert_int_equal(v.cache.nh, NH_ECMP);
    uint32_t member = v.cache.leaf;
    assert_int_equal(member, label == 100 ? NH_UDP : NH_UDP2);
    send(dp, &out, got);
    assert_int_equal(udp_label(got), label);
    /* The chosen member is re-pointed: the flow follows at once. */
    t_nh_tun(dp, member, DP_ENCAP_MPLS_UDP, 4242, 0);
    send(dp, &out, got);
    assert_int_equal(udp_label(got), 4242);
    /* The composite itself changes to one member, the other one. */
    uint32_t other = member == NH_UDP ? NH_UDP2 : NH_UDP;
    struct dp_nh one = {.id = NH_ECMP, .type = DP_NH_ECMP, .member_count = 1, .members = {other}};
    assert_int_equal(dp_nh_add(dp, &one), 0);
    send(dp, &out, got);
    assert_int_equal(udp_label(got), other == NH_UDP ? 100 : 900);
    assert_int_equal(view(dp).cache.leaf, other);
    dp_free(dp);
}

static void test_flow_action_changes_seen(void **state)
{
    struct dp *dp = setup();
    struct dp_out out;
    uint8_t got[256];
    send(dp, &out, got);
    send(dp, &out, got);
    struct dp_flow_key k;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    /* Route in BLUE instead (floating IP network). */
    struct dp_flow_action blue = {.type = DP_FLOW_FORWARD, .flags = DP_FA_VRF, .vrf = VRF_BLUE};
    assert_int_equal(dp_flow_set(dp, &k, &blue, 6, NULL), 0);
    assert_int_equal(view(dp).cache.nh, DP_NONE);
    send(dp, &out, got);
    assert_int_equal(udp_label(got), 500);
    send(dp, &out, got);
    assert_int_equal(udp_label(got), 500);
    /* BLUE goes away with its routes: the cached decision must not survive. */
    assert_int_equal(dp_vrf_del(dp, VRF_BLUE), 0);
    assert_int_equal(send(dp, &out, got), 0);
    /* Drop action. */
    struct dp_flow_action drop = {.type = DP_FLOW_DROP};
    assert_int_equal(dp_flow_set(dp, &k, &drop, 7, NULL), 0);
    assert_int_equal(send(dp, &out, got), 0);
    assert_int_equal(out.drop, DP_DROP_FLOW_ACTION);
    /* Deleted and re-created (same slot): a fresh decision. */
    assert_int_equal(dp_flow_del(dp, &k), 0);
    assert_int_equal(send(dp, &out, got), 0);
    assert_int_equal(out.verdict, DP_VERDICT_PUNT);
    assert_int_equal(dp_flow_set(dp, &k, &FWD, 8, NULL), 0);
    send(dp, &out, got);
    send(dp, &out, got);
    assert_int_equal(udp_label(got), 100);
    dp_free(dp);
}

static void test_mirror_not_cached_and_ttl_checked(void **state)
{
    struct dp *dp = setup();
    struct dp_flow_key k;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    struct dp_flow_action m = {.type = DP_FLOW_MIRROR, .mirror_nh = NH_UDP2};
    assert_int_equal(dp_flow_set(dp, &k, &m, 1, NULL), 0);
    struct dp_out out;
    uint8_t got[256];
    uint8_t f[128];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 64);
    struct t_buf b;
    for (int i = 0; i < 2; i++) {
        dp_rx(dp, IF_A, t_pkt(&b, f, n), 5, &out);
        assert_int_equal(out.verdict, DP_VERDICT_TX);
        assert_int_equal(out.count, 2);
        assert_int_equal(out.tx[1].ifindex, IF_FAB);
        assert_int_equal(out.tx[1].hdr_size, 46 + 14);
    }
    assert_int_equal(view(dp).cache.nh, DP_NONE);
    /* A cached flow still checks every packet's TTL. */
    assert_int_equal(dp_flow_set(dp, &k, &FWD, 1, NULL), 0);
    send(dp, &out, got);
    assert_int_equal(view(dp).cache.nh, NH_UDP);
    n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 1);
    dp_rx(dp, IF_A, t_pkt(&b, f, n), 5, &out);
    assert_int_equal(out.verdict, DP_VERDICT_DROP);
    assert_int_equal(out.drop, DP_DROP_TTL);
    dp_free(dp);
}

static void test_fill_refused_after_change(void **state)
{
    struct dp *dp = setup();
    struct dp_flow_key k;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    struct dp_flow_view v;
    uint32_t idx = dp_flow_lookup(dp, &k, dp_flow_hash(&k), &v);
    assert_int_not_equal(idx, DP_FLOW_NONE);
    assert_int_equal(dp_flow_set(dp, &k, &FWD, 2, NULL), 0);
    struct dp_flow_cache fc = {.rt_ver = 1, .nh = NH_GRE, .nh_seq = 2, .leaf = NH_GRE, .leaf_seq = 2};
    dp_flow_cache_fill(dp, idx, v.seq, &fc);
    assert_int_equal(view(dp).cache.nh, DP_NONE);
    /* An odd (write in progress) sequence is refused too. */
    dp_flow_cache_fill(dp, idx, view(dp).seq + 1, &fc);
    assert_int_equal(view(dp).cache.nh, DP_NONE);
    v = view(dp);
    dp_flow_cache_fill(dp, idx, v.seq, &fc);
    struct dp_flow_view w = view(dp);
    assert_int_equal(w.cache.nh, NH_GRE);
    assert_int_equal(w.seq, v.seq + 2);
    dp_free(dp);
}

static void test_batch_counters(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 64);
    uint8_t g[128];
    size_t gn = t_udp4(g, MAC_B, MAC_A, IP4(192, 168, 1, 10), IP4(192, 168, 1, 20), 1, 2, 10, 64);
    struct dp_mac mac = {.vrf = VRF_RED, .nh = NH_B};
    memcpy(mac.mac, MAC_B, 6);
    t_nh_if(dp, 20, IF_B, MAC_B, DP_NH_L2);
    mac.nh = 20;
    assert_int_equal(dp_mac_add(dp, &mac), 0);
    struct dp_flow_key k;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(192, 168, 1, 20), 17, 1, 2);
    assert_int_equal(dp_flow_set(dp, &k, &FWD, 1, NULL), 0);
    /* fabric, fabric, B, fabric, and one truncated frame. */
    struct t_buf b[5];
    struct dp_pkt pk[5];
    pk[0] = *t_pkt(&b[0], f, n);
    pk[1] = *t_pkt(&b[1], f, n);
    pk[2] = *t_pkt(&b[2], g, gn);
    pk[3] = *t_pkt(&b[3], f, n);
    pk[4] = *t_pkt(&b[4], f, n);
    pk[4].len = (uint32_t)pk[4].size;
    struct dp_out outs[5];
    dp_rx_batch(dp, IF_A, pk, 5, 9, outs);
    assert_int_equal(outs[0].tx[0].ifindex, IF_FAB);
    assert_int_equal(outs[2].tx[0].ifindex, IF_B);
    assert_int_equal(outs[4].drop, DP_DROP_TRUNCATED);
    struct dp_if a, fab, bb;
    assert_int_equal(dp_if_get(dp, IF_A, &a), 0);
    assert_int_equal(dp_if_get(dp, IF_FAB, &fab), 0);
    assert_int_equal(dp_if_get(dp, IF_B, &bb), 0);
    assert_int_equal(a.stats.rx_packets, 4);
    assert_int_equal(a.stats.rx_bytes, 3 * n + gn);
    assert_int_equal(a.stats.drops, 1);
    assert_int_equal(fab.stats.tx_packets, 3);
    assert_int_equal(fab.stats.tx_bytes, pk[0].len + pk[1].len + pk[3].len);
    assert_int_equal(bb.stats.tx_packets, 1);
    assert_int_equal(bb.stats.tx_bytes, gn);
    dp_free(dp);
}

/* Sends 'f' on 'ifindex' of 'dp' with 'headroom' bytes before it; the
 * verdict in 'out', the first transmission (if any) in 'got', its size
 * returned. */
static size_t run(struct dp *dp, uint32_t ifindex, const uint8_t *f, size_t n, uint32_t headroom,
                  struct dp_out *out, uint8_t *got)
{
    struct t_buf b;
    struct dp_pkt *p = t_pkt(&b, f, n);
    memmove(b.mem + headroom, b.mem + DP_HEADROOM, n);
    p->off = headroom;
    dp_rx(dp, ifindex, p, 7, out);
    if (out->verdict == DP_VERDICT_DROP) {
        return 0;
    }
    return t_tx(p, out, 0, got);
}

static struct dp *diff_setup(int policy)
{
    struct dp *dp = setup();
    t_nh_tun(dp, 10, DP_ENCAP_VXLAN, 5000, MAC_REMOTE);
    t_route4(dp, VRF_RED, IP4(172, 17, 0, 0), 16, NH_GRE);
    t_route4(dp, VRF_RED, IP4(172, 18, 0, 0), 16, 10);
    t_route4(dp, VRF_RED, IP4(192, 168, 1, 20), 32, NH_B);
    struct dp_nh e = {.id = NH_ECMP, .type = DP_NH_ECMP, .member_count = 2, .members = {NH_UDP, NH_UDP2}};
    assert_int_equal(dp_nh_add(dp, &e), 0);
    t_route4(dp, VRF_RED, IP4(172, 19, 0, 0), 16, NH_ECMP);
    set_policy(dp, IF_A, policy);
    return dp;
}

/* The flow key of the IPv4 frame 'f' (ports zero unless TCP/UDP and not a
 * later fragment), as the core builds it for VRF_RED. */
static void frame_key(const uint8_t *f, struct dp_flow_key *k)
{
    const uint8_t *ip = f + 14;
    size_t hl = (size_t)(ip[0] & 0xf) * 4;
    int ports = (ip[9] == 6 || ip[9] == 17) && (t_get16(ip + 6) & 0x1fff) == 0;
    t_key4(k, VRF_RED, t_get32(ip + 12), t_get32(ip + 16), ip[9], ports ? t_get16(ip + hl) : 0,
           ports ? t_get16(ip + hl + 2) : 0);
}

static void test_fast_path_differential(void **state)
{
    struct dp *fast = diff_setup(1);
    struct dp *slow = diff_setup(0);
    uint8_t f[16][160];
    size_t n[16];
    uint32_t room[16];
    int count = 0;
    const uint32_t src = IP4(192, 168, 1, 10);
#define FRAME(expr, hr)             \
    do {                            \
        n[count] = (expr);          \
        room[count] = (hr);         \
        count++;                    \
    } while (0)
    FRAME(t_udp4(f[count], MAC_ROUTER, MAC_A, src, IP4(172, 16, 5, 5), 1000, 2000, 10, 64), DP_HEADROOM);
    FRAME(t_tcp4(f[count], MAC_ROUTER, MAC_A, src, IP4(172, 17, 1, 1), 3333, 80, 30), DP_HEADROOM);
    FRAME(t_udp4(f[count], MAC_ROUTER, MAC_A, src, IP4(172, 18, 0, 9), 5, 6, 0, 64), DP_HEADROOM);
    FRAME(t_tcp4(f[count], MAC_ROUTER, MAC_A, src, IP4(192, 168, 1, 20), 22, 4000, 1), DP_HEADROOM);
    FRAME(t_udp4(f[count], MAC_ROUTER, MAC_A, src, IP4(172, 19, 7, 7), 1, 2, 3, 64), DP_HEADROOM);
    /* Ethernet padding after a short UDP packet. */
    FRAME(t_udp4(f[count], MAC_ROUTER, MAC_A, src, IP4(172, 16, 9, 9), 7, 8, 0, 64) + 18, DP_HEADROOM);
    /* TTL 1: dropped, whichever path. */
    FRAME(t_udp4(f[count], MAC_ROUTER, MAC_A, src, IP4(172, 16, 5, 6), 1000, 2000, 10, 1), DP_HEADROOM);
    /* DNS to the gateway on a port with a flow: still punted. */
    FRAME(t_udp4(f[count], MAC_ROUTER, MAC_A, src, IP4(192, 168, 1, 1), 5353, 53, 12, 64), DP_HEADROOM);
    /* Not enough headroom for the MPLSoUDP header. */
    FRAME(t_udp4(f[count], MAC_ROUTER, MAC_A, src, IP4(172, 16, 5, 7), 1000, 2000, 10, 64), 20);
    /* A later fragment (no ports in its key). */
    FRAME(t_udp4(f[count], MAC_ROUTER, MAC_A, src, IP4(172, 16, 5, 8), 1000, 2000, 10, 64), DP_HEADROOM);
    t_put16(f[count - 1] + 14 + 6, 0x0010);
    t_put16(f[count - 1] + 14 + 10, 0);
    t_put16(f[count - 1] + 14 + 10, t_fold(t_sum(0, f[count - 1] + 14, 20)));
    /* IPv4 options (IHL 6). */
    {
        uint8_t *g = f[count];
        size_t m = t_udp4(g, MAC_ROUTER, MAC_A, src, IP4(172, 16, 5, 9), 1000, 2000, 10, 64);
        memmove(g + 38, g + 34, m - 34);
        memset(g + 34, 0, 4);
        g[14] = 0x46;
        t_put16(g + 16, (uint16_t)(t_get16(g + 16) + 4));
        t_put16(g + 24, 0);
        t_put16(g + 24, t_fold(t_sum(0, g + 14, 24)));
        FRAME(m + 4, DP_HEADROOM);
    }
    /* Multicast destination MAC: to the BUM path (none here: dropped). */
    FRAME(t_udp4(f[count], MAC_BCAST, MAC_A, src, IP4(172, 16, 5, 10), 1000, 2000, 10, 64), DP_HEADROOM);
#undef FRAME
    for (int i = 0; i < count; i++) {
        struct dp_flow_key k;
        frame_key(f[i], &k);
        assert_int_equal(dp_flow_set(fast, &k, &FWD, 1, NULL), 0);
    }
#ifdef STRATA_TEST_HOOKS
    uint64_t hits0 = fast->fast_hits;
#endif
#ifdef STRATA_TEST_HOOKS
    uint64_t emc0 = fast->emc_hits;
#endif
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < count; i++) {
            struct dp_out a, b;
            uint8_t ga[512], gb[512];
            size_t na = run(fast, IF_A, f[i], n[i], room[i], &a, ga);
            size_t nb = run(slow, IF_A, f[i], n[i], room[i], &b, gb);
            assert_int_equal(a.verdict, b.verdict);
            assert_int_equal(a.drop, b.drop);
            assert_int_equal(a.count, b.count);
            assert_int_equal(na, nb);
            assert_memory_equal(ga, gb, na);
            if (a.count) {
                assert_int_equal(a.tx[0].ifindex, b.tx[0].ifindex);
            }
        }
    }
#ifdef STRATA_TEST_HOOKS
    /* Rounds 2 to 4 of the first six frames (tunnels, local, ECMP,
     * padding) took the fast path; nothing else did. Rounds 3 and 4 of
     * those but the ECMP one (never entered) hit the exact-match cache. */
    assert_int_equal(fast->fast_hits - hits0, 18);
    assert_int_equal(fast->emc_hits - emc0, 10);
    assert_int_equal(slow->fast_hits, 0);
#endif
    /* Every flow counted every packet it saw (4 rounds). */
    for (int i = 0; i < count; i++) {
        struct dp_flow_key k;
        frame_key(f[i], &k);
        struct dp_flow fl;
        assert_int_equal(dp_flow_get(fast, &k, &fl), 0);
        int counted = i != 7 && i != 11; /* punted and BUM packets never reach the flow stage */
        assert_int_equal(fl.packets, counted ? 4 : 0);
    }
    struct dp_if x, y;
    assert_int_equal(dp_if_get(fast, IF_FAB, &x), 0);
    assert_int_equal(dp_if_get(slow, IF_FAB, &y), 0);
    assert_int_equal(x.stats.tx_packets, y.stats.tx_packets);
    assert_int_equal(x.stats.tx_bytes, y.stats.tx_bytes);
    assert_int_equal(dp_if_get(fast, IF_A, &x), 0);
    assert_int_equal(dp_if_get(slow, IF_A, &y), 0);
    assert_int_equal(x.stats.rx_packets, y.stats.rx_packets);
    assert_int_equal(x.stats.rx_bytes, y.stats.rx_bytes);
    assert_int_equal(x.stats.drops, y.stats.drops);
    dp_free(fast);
    dp_free(slow);
}

/* Flows that live in the overflow area are found by the fast path too. */
static void test_fast_path_overflow_flows(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128], first[256], got[256];
    int found = 0;
    for (uint16_t sp = 3000; sp < 3040 && !found; sp++) {
        struct dp_flow_key k;
        t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 1, 1), 17, sp, 53000);
        uint32_t idx;
        if (dp_flow_set(dp, &k, &FWD, 1, &idx) != 0) {
            break;
        }
        if (idx < 16) {
            continue;
        }
        found = 1;
        size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 1, 1), sp, 53000, 4, 64);
        struct dp_out out;
        size_t n1 = run(dp, IF_A, f, n, DP_HEADROOM, &out, first);
        assert_int_equal(out.verdict, DP_VERDICT_TX);
        for (int i = 0; i < 2; i++) {
            size_t n2 = run(dp, IF_A, f, n, DP_HEADROOM, &out, got);
            assert_int_equal(n1, n2);
            assert_memory_equal(first, got, n1);
        }
#ifdef STRATA_TEST_HOOKS
        assert_int_equal(dp->fast_hits, 2);
#endif
        struct dp_flow fl;
        assert_int_equal(dp_flow_get(dp, &k, &fl), 0);
        assert_int_equal(fl.index, idx);
        assert_int_equal(fl.packets, 3);
    }
    assert_true(found);
    dp_free(dp);
}

/* The TTL decrement's incremental checksum update in both paths equals a
 * full recomputation for every checksum value the header can carry (the
 * IPv4 identification sweeps them all), including where ones' complement
 * has two zeros. */
static void test_ttl_checksum_every_value(void **state)
{
    struct dp *fast = diff_setup(1);
    struct dp *slow = diff_setup(0);
    uint8_t f[128], want[128], got[256];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(192, 168, 1, 20), 4000, 5000, 8, 64);
    struct dp_flow_key k;
    frame_key(f, &k);
    assert_int_equal(dp_flow_set(fast, &k, &FWD, 1, NULL), 0);
    int seen_feff = 0;
    for (uint32_t id = 0; id <= 0xffff; id++) {
        t_put16(f + 14 + 4, (uint16_t)id);
        t_put16(f + 14 + 10, 0);
        t_put16(f + 14 + 10, t_fold(t_sum(0, f + 14, 20)));
        seen_feff |= t_get16(f + 14 + 10) == 0xfeff;
        memcpy(want, f, n);
        want[14 + 8]--;
        t_put16(want + 14 + 10, 0);
        t_put16(want + 14 + 10, t_fold(t_sum(0, want + 14, 20)));
        struct dp *dps[2] = {fast, slow};
        for (int i = 0; i < 2; i++) {
            struct dp_out out;
            size_t m = run(dps[i], IF_A, f, n, DP_HEADROOM, &out, got);
            assert_int_equal(out.verdict, DP_VERDICT_TX);
            assert_int_equal(m, n);
            assert_memory_equal(got + 14, want + 14, n - 14);
        }
    }
    assert_true(seen_feff);
#ifdef STRATA_TEST_HOOKS
    assert_int_equal(fast->fast_hits, 0xffff); /* every packet after the first */
#endif
    dp_free(fast);
    dp_free(slow);
}

/* Packets punted whatever the port (DHCP) never reach the flow stage, so
 * their flows never get a cached decision and the fast path, which does
 * not look for them, never sees a hit; DNS to the port's gateway is punted
 * even when the same flow's cache was filled. */
static void test_fast_path_leaves_punts(void **state)
{
    struct dp *dp = diff_setup(1);
    uint8_t f[128], got[256];
    const uint16_t ports[][2] = {{68, 67}, {5000, 67}, {68, 9000}, {5000, 68}};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), ports[i][0],
                          ports[i][1], 8, 64);
        struct dp_flow_key k;
        frame_key(f, &k);
        assert_int_equal(dp_flow_set(dp, &k, &FWD, 1, NULL), 0);
        for (int round = 0; round < 3; round++) {
            struct dp_out out;
            run(dp, IF_A, f, n, DP_HEADROOM, &out, got);
            assert_int_equal(out.verdict, DP_VERDICT_PUNT);
        }
        struct dp_flow_view v;
        memset(&v, 0, sizeof v);
        assert_int_not_equal(dp_flow_lookup(dp, &k, dp_flow_hash(&k), &v), DP_FLOW_NONE);
        assert_int_equal(v.cache.nh, DP_NONE);
    }
    /* DNS: to another server it is forwarded (and cached), to the gateway
     * punted, every time. */
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 5353, 53, 8, 64);
    struct dp_flow_key k;
    frame_key(f, &k);
    assert_int_equal(dp_flow_set(dp, &k, &FWD, 1, NULL), 0);
    for (int round = 0; round < 3; round++) {
        struct dp_out out;
        run(dp, IF_A, f, n, DP_HEADROOM, &out, got);
        assert_int_equal(out.verdict, DP_VERDICT_TX);
    }
    n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(192, 168, 1, 1), 5353, 53, 8, 64);
    frame_key(f, &k);
    assert_int_equal(dp_flow_set(dp, &k, &FWD, 1, NULL), 0);
    for (int round = 0; round < 3; round++) {
        struct dp_out out;
        run(dp, IF_A, f, n, DP_HEADROOM, &out, got);
        assert_int_equal(out.verdict, DP_VERDICT_PUNT);
    }
#ifdef STRATA_TEST_HOOKS
    assert_int_equal(dp->fast_hits, 0); /* DNS is never taken by the fast path */
#endif
    dp_free(dp);
}

#ifdef STRATA_TEST_HOOKS
/* Sends the test flow's packet with TTL 'ttl' and fragment field 'frag'
 * from A to 'fast' and 'slow'; both must give the same verdict and bytes.
 * Returns 1 when 'fast' decided it from its exact-match cache. */
static int emc_send(struct dp *fast, struct dp *slow, uint8_t ttl, uint16_t frag, struct dp_out *out, uint8_t *got)
{
    uint8_t f[128], other[256];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, ttl);
    t_put16(f + 14 + 6, frag);
    t_put16(f + 14 + 10, 0);
    t_put16(f + 14 + 10, t_fold(t_sum(0, f + 14, 20)));
    uint64_t hits = fast->emc_hits;
    struct dp_out o2;
    size_t na = run(fast, IF_A, f, n, DP_HEADROOM, out, got);
    size_t nb = run(slow, IF_A, f, n, DP_HEADROOM, &o2, other);
    assert_int_equal(out->verdict, o2.verdict);
    assert_int_equal(out->drop, o2.drop);
    assert_int_equal(na, nb);
    assert_memory_equal(got, other, na);
    return fast->emc_hits != hits;
}

/* The exact-match cache: filled by the second packet of a flow, used from
 * the third, always giving what the full pipeline gives, and not used
 * after a route, next-hop or flow change (the next packet is decided
 * afresh, later ones hit again), nor for TTL expiry or a header that
 * differs in a byte the decision rests on (here the DF bit). */
static void test_emc_invalidation(void **state)
{
    struct dp *fast = setup();
    struct dp *slow = setup();
    set_policy(slow, IF_A, 0);
    struct dp_out out;
    uint8_t got[256];
    assert_false(emc_send(fast, slow, 64, 0, &out, got));
    assert_false(emc_send(fast, slow, 64, 0, &out, got));
    assert_true(emc_send(fast, slow, 64, 0, &out, got));
    assert_int_equal(udp_label(got), 100);
    /* TTL 1 on a cached flow: expired, as in the full pipeline. */
    assert_false(emc_send(fast, slow, 1, 0, &out, got));
    assert_int_equal(out.drop, DP_DROP_TTL);
    assert_true(emc_send(fast, slow, 2, 0, &out, got));
    /* DF set: another header, not this entry's. */
    assert_false(emc_send(fast, slow, 64, 0x4000, &out, got));
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    /* A first fragment (MF) is another header too. */
    assert_false(emc_send(fast, slow, 64, 0x2000, &out, got));
    /* Each took the slot (same addresses and ports): the next packet
     * without DF refills it. */
    assert_false(emc_send(fast, slow, 64, 0, &out, got));
    /* Route change in the VRF. */
    assert_true(emc_send(fast, slow, 64, 0, &out, got));
    t_route4(fast, VRF_RED, IP4(172, 16, 5, 0), 24, NH_GRE);
    t_route4(slow, VRF_RED, IP4(172, 16, 5, 0), 24, NH_GRE);
    assert_false(emc_send(fast, slow, 64, 0, &out, got));
    assert_int_equal(gre_label(got), 200);
    assert_false(emc_send(fast, slow, 64, 0, &out, got));
    assert_true(emc_send(fast, slow, 64, 0, &out, got));
    assert_int_equal(gre_label(got), 200);
    /* Next-hop change. */
    t_nh_tun(fast, NH_GRE, DP_ENCAP_MPLS_GRE, 201, 0);
    t_nh_tun(slow, NH_GRE, DP_ENCAP_MPLS_GRE, 201, 0);
    assert_false(emc_send(fast, slow, 64, 0, &out, got));
    assert_int_equal(gre_label(got), 201);
    assert_false(emc_send(fast, slow, 64, 0, &out, got));
    assert_true(emc_send(fast, slow, 64, 0, &out, got));
    assert_int_equal(gre_label(got), 201);
    /* Flow change: the flow now drops (the slow datapath has no flows:
     * compare with the expected drop instead). */
    struct dp_flow_key k;
    t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000);
    const struct dp_flow_action drop_act = {.type = DP_FLOW_DROP};
    assert_int_equal(dp_flow_set(fast, &k, &drop_act, 1, NULL), 0);
    uint8_t f[128];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 64);
    uint64_t hits = fast->emc_hits;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run(fast, IF_A, f, n, DP_HEADROOM, &out, got), 0);
        assert_int_equal(out.drop, DP_DROP_FLOW_ACTION);
    }
    assert_int_equal(fast->emc_hits, hits);
    /* Forwarding again: decided afresh, then cached again. */
    assert_int_equal(dp_flow_set(fast, &k, &FWD, 1, NULL), 0);
    assert_false(emc_send(fast, slow, 64, 0, &out, got));
    assert_false(emc_send(fast, slow, 64, 0, &out, got));
    assert_true(emc_send(fast, slow, 64, 0, &out, got));
    /* The flow deleted: held and punted, never the cache. */
    assert_int_equal(dp_flow_del(fast, &k), 0);
    run(fast, IF_A, f, n, DP_HEADROOM, &out, got);
    assert_int_not_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(fast->emc_hits, hits + 1);
    dp_free(fast);
    dp_free(slow);
}
#endif

/* The exact-match cache's tunnel and local rewrites for every IPv4 total
 * length from the smallest UDP packet to 1,828 bytes (the outer length and
 * checksum come from the inner length as loaded, so every byte value of it
 * matters): the same bytes as the full pipeline, outer checksums valid. */
static void test_emc_every_length(void **state)
{
    struct dp *fast = diff_setup(1);
    struct dp *slow = diff_setup(0);
    const uint32_t dsts[] = {IP4(172, 16, 5, 5), IP4(172, 17, 1, 1), IP4(172, 18, 0, 9), IP4(192, 168, 1, 20)};
    static uint8_t f[2048], got[4096], want[4096];
    for (size_t d = 0; d < sizeof dsts / sizeof dsts[0]; d++) {
        size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), dsts[d], 4000, 5000, 0, 64);
        struct dp_flow_key k;
        frame_key(f, &k);
        assert_int_equal(dp_flow_set(fast, &k, &FWD, 1, NULL), 0);
#ifdef STRATA_TEST_HOOKS
        uint64_t hits = fast->emc_hits;
#endif
        const size_t last = 1800;
        for (size_t payload = 0; payload <= last; payload++) {
            n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), dsts[d], 4000, 5000, payload, 64);
            struct dp_out a, b;
            size_t na = run(fast, IF_A, f, n, DP_HEADROOM, &a, got);
            size_t nb = run(slow, IF_A, f, n, DP_HEADROOM, &b, want);
            assert_int_equal(a.verdict, DP_VERDICT_TX);
            assert_int_equal(b.verdict, DP_VERDICT_TX);
            assert_int_equal(a.tx[0].ifindex, b.tx[0].ifindex);
            assert_int_equal(na, nb);
            assert_memory_equal(got, want, na);
            if (a.tx[0].ifindex == IF_FAB) {
                assert_true(t_ip4_csum_ok(got + 14));
            }
        }
#ifdef STRATA_TEST_HOOKS
        assert_int_equal(fast->emc_hits - hits, last + 1 - 2); /* all but the first two */
#endif
    }
    dp_free(fast);
    dp_free(slow);
}

/* A batch of 100 packets (two runs of the cache-hit pass) mixing cache
 * hits with packets the pass leaves (TTL expiry, a broadcast, DNS to the
 * gateway, a truncated frame, a later fragment): every packet gets the
 * verdict and bytes it gets alone through the full pipeline, and the
 * interface counters are those of the packets sent one by one. */
static void test_emc_batch_mixed(void **state)
{
    struct dp *fast = diff_setup(1);
    struct dp *slow = diff_setup(0);
    const uint32_t src = IP4(192, 168, 1, 10);
    const uint32_t dsts[] = {IP4(172, 16, 5, 5), IP4(172, 17, 1, 1), IP4(172, 18, 0, 9), IP4(192, 168, 1, 20)};
    enum { N = 100 };
    static uint8_t f[N][160];
    size_t n[N];
    for (int i = 0; i < N; i++) {
        uint32_t dst = dsts[i % 4];
        switch (i % 7) {
        case 3:
            n[i] = t_udp4(f[i], MAC_ROUTER, MAC_A, src, dst, 1000, 2000, 10, 1); /* TTL expires */
            break;
        case 5:
            n[i] = t_udp4(f[i], i % 2 ? MAC_BCAST : MAC_ROUTER, MAC_A, src, i % 2 ? dst : IP4(192, 168, 1, 1),
                          5353, i % 2 ? 2000 : 53, 10, 64);
            break;
        default:
            n[i] = t_udp4(f[i], MAC_ROUTER, MAC_A, src, dst, 1000, 2000, (size_t)i, 64);
            break;
        }
        if (i == 61) { /* a later fragment */
            t_put16(f[i] + 14 + 6, 0x0010);
            t_put16(f[i] + 14 + 10, 0);
            t_put16(f[i] + 14 + 10, t_fold(t_sum(0, f[i] + 14, 20)));
        }
        struct dp_flow_key k;
        frame_key(f[i], &k);
        assert_int_equal(dp_flow_set(fast, &k, &FWD, 1, NULL), 0);
    }
    /* Warm the caches: each flow twice, on both datapaths. */
    uint8_t got[4096], want[4096];
    for (int w = 0; w < 2; w++) {
        for (int i = 0; i < 4; i++) {
            struct dp_out o;
            run(fast, IF_A, f[i], n[i], DP_HEADROOM, &o, got);
            run(slow, IF_A, f[i], n[i], DP_HEADROOM, &o, got);
        }
    }
    static struct t_buf bufs[N];
    struct dp_pkt pk[N];
    static struct dp_out outs[N];
    for (int i = 0; i < N; i++) {
        pk[i] = *t_pkt(&bufs[i], f[i], n[i]);
    }
    pk[77].len = pk[77].size; /* truncated: beyond its buffer */
#ifdef STRATA_TEST_HOOKS
    uint64_t hits = fast->emc_hits;
#endif
    dp_rx_batch(fast, IF_A, pk, N, 7, outs);
#ifdef STRATA_TEST_HOOKS
    assert_true(fast->emc_hits - hits >= N / 2);
#endif
    for (int i = 0; i < N; i++) {
        struct dp_out o;
        if (i == 77) {
            assert_int_equal(outs[i].verdict, DP_VERDICT_DROP);
            assert_int_equal(outs[i].drop, DP_DROP_TRUNCATED);
            struct t_buf b;
            struct dp_pkt *p = t_pkt(&b, f[i], n[i]);
            p->len = p->size;
            dp_rx(slow, IF_A, p, 7, &o);
            continue;
        }
        size_t nb = run(slow, IF_A, f[i], n[i], DP_HEADROOM, &o, want);
        assert_int_equal(outs[i].verdict, o.verdict);
        assert_int_equal(outs[i].drop, o.drop);
        assert_int_equal(outs[i].count, o.count);
        if (o.verdict != DP_VERDICT_DROP) {
            size_t na = t_tx(&pk[i], &outs[i], 0, got);
            assert_int_equal(na, nb);
            assert_memory_equal(got, want, na);
            assert_int_equal(outs[i].tx[0].ifindex, o.tx[0].ifindex);
        }
    }
    const uint32_t ifs[] = {IF_A, IF_B, IF_FAB, IF_AGENT};
    for (size_t i = 0; i < sizeof ifs / sizeof ifs[0]; i++) {
        struct dp_if x, y;
        assert_int_equal(dp_if_get(fast, ifs[i], &x), 0);
        assert_int_equal(dp_if_get(slow, ifs[i], &y), 0);
        assert_memory_equal(&x.stats, &y.stats, sizeof x.stats);
    }
    dp_free(fast);
    dp_free(slow);
}

#ifdef STRATA_TEST_HOOKS
/* Sends UDP 192.168.1.10:'sport' -> 172.16.5.5:2000 from A at time 'now';
 * returns 1 when the exact-match cache decided it. */
static int emc_hit_at(struct dp *dp, uint16_t sport, uint64_t now)
{
    uint8_t f[128];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), sport, 2000, 10, 64);
    struct t_buf b;
    struct dp_out out;
    uint64_t hits = dp->emc_hits;
    dp_rx(dp, IF_A, t_pkt(&b, f, n), now, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, IF_FAB);
    return dp->emc_hits != hits;
}

/* Two flows whose packets share a cache slot: the one in it keeps it while
 * it was seen at the current time (the other is forwarded by the flow fast
 * path, and does not evict it), and loses it once it was not. */
static void test_emc_collision_keeps_active(void **state)
{
    struct dp *dp = setup();
    uint8_t f[128];
    uint16_t sp[2] = {0, 0};
    uint32_t first = 0;
    for (uint32_t port = 1024; port < 65535 && !sp[1]; port++) {
        t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), (uint16_t)port, 2000, 10, 64);
        uint64_t kc, kd;
        uint32_t ports;
        memcpy(&kc, f + 26, 8);
        memcpy(&ports, f + 34, 4);
        kd = (uint64_t)ports | (uint64_t)VRF_RED << 32;
        uint32_t slot = dp_emc_index(kc, kd);
        if (port == 1024) {
            first = slot;
            sp[0] = (uint16_t)port;
        } else if (slot == first) {
            sp[1] = (uint16_t)port;
        }
    }
    assert_int_not_equal(sp[1], 0);
    for (int i = 0; i < 2; i++) {
        struct dp_flow_key k;
        t_key4(&k, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, sp[i], 2000);
        assert_int_equal(dp_flow_set(dp, &k, &FWD, 1, NULL), 0);
    }
    assert_false(emc_hit_at(dp, sp[0], 10)); /* full pipeline: fills the flow's cache */
    assert_false(emc_hit_at(dp, sp[0], 10)); /* flow fast path: fills the slot */
    assert_true(emc_hit_at(dp, sp[0], 10));
    for (int i = 0; i < 3; i++) {
        assert_false(emc_hit_at(dp, sp[1], 10)); /* the slot stays with the first */
        assert_true(emc_hit_at(dp, sp[0], 10));
    }
    /* A later millisecond: the first was not seen yet, the second takes
     * the slot; now the first is the one left out. */
    assert_false(emc_hit_at(dp, sp[1], 11));
    assert_true(emc_hit_at(dp, sp[1], 11));
    assert_false(emc_hit_at(dp, sp[0], 11));
    assert_true(emc_hit_at(dp, sp[1], 11));
    dp_free(dp);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached_equals_lookup),
        cmocka_unit_test(test_route_changes_seen),
        cmocka_unit_test(test_next_hop_changes_seen),
        cmocka_unit_test(test_ecmp_member_changes_seen),
        cmocka_unit_test(test_flow_action_changes_seen),
        cmocka_unit_test(test_mirror_not_cached_and_ttl_checked),
        cmocka_unit_test(test_fill_refused_after_change),
        cmocka_unit_test(test_batch_counters),
        cmocka_unit_test(test_fast_path_differential),
        cmocka_unit_test(test_fast_path_overflow_flows),
        cmocka_unit_test(test_ttl_checksum_every_value),
        cmocka_unit_test(test_fast_path_leaves_punts),
        cmocka_unit_test(test_emc_every_length),
        cmocka_unit_test(test_emc_batch_mixed),
#ifdef STRATA_TEST_HOOKS
        cmocka_unit_test(test_emc_invalidation),
        cmocka_unit_test(test_emc_collision_keeps_active),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

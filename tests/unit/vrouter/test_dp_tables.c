/* Unit tests for the vRouter core's tables: add/get/del/dump and capacity of
 * interfaces, VRFs, next hops, labels, VNIs, MACs and routes; longest-prefix
 * match edge cases (/0, /32, /128, overlaps, fallback on delete) and a
 * randomized cross-check of the trie against a linear scan; and the
 * generation sweep of every table. */
#include "dp_test.h"

static void test_interfaces(void **state)
{
    struct dp *dp = t_dp_new();
    struct dp_if i;
    assert_int_equal(dp_if_get(dp, IF_A, &i), 0);
    assert_int_equal(i.type, DP_IF_VM);
    assert_int_equal(i.vrf, VRF_RED);
    assert_memory_equal(i.mac, MAC_A, 6);

    memset(&i, 0, sizeof i);
    i.ifindex = 9;
    i.type = DP_IF_VM;
    i.vrf = 5; /* not configured */
    assert_int_equal(dp_if_add(dp, &i), VR_ENOVRF);
    i.ifindex = 16;
    assert_int_equal(dp_if_add(dp, &i), VR_ERANGE);
    i.ifindex = 9;
    i.type = 77;
    assert_int_equal(dp_if_add(dp, &i), VR_EINVAL);
    i.type = DP_IF_AGENT; /* a second agent interface */
    assert_int_equal(dp_if_add(dp, &i), VR_EINVAL);

    uint32_t pos = 0, n = 0;
    while (dp_if_next(dp, &pos, &i) == 0) {
        n++;
    }
    assert_int_equal(n, 5);
    assert_int_equal(dp_if_del(dp, IF_C), 0);
    assert_int_equal(dp_if_del(dp, IF_C), VR_ENOENT);
    assert_int_equal(dp_if_get(dp, IF_C, &i), VR_ENOENT);
    assert_string_equal(strata_strerror(VR_ENOENT), "no such datapath entry");
    dp_free(dp);
}

static void test_vrfs(void **state)
{
    struct dp *dp = t_dp_new();
    struct dp_vrf v = {.vrf = 7, .bum_nh = 0};
    assert_int_equal(dp_vrf_add(dp, &v), 0);
    v.vrf = 8;
    assert_int_equal(dp_vrf_add(dp, &v), VR_ERANGE);
    struct dp_vrf got;
    assert_int_equal(dp_vrf_get(dp, 7, &got), 0);
    assert_int_equal(got.vrf, 7);
    uint32_t pos = 0, n = 0;
    while (dp_vrf_next(dp, &pos, &got) == 0) {
        n++;
    }
    assert_int_equal(n, 3);
    /* Deleting a VRF takes its routes with it. */
    t_nh_if(dp, 1, IF_A, MAC_A, 0);
    t_route4(dp, 7, IP4(1, 2, 3, 0), 24, 1);
    assert_int_equal(t_lookup4(dp, 7, IP4(1, 2, 3, 4)), 1);
    assert_int_equal(dp_vrf_del(dp, 7), 0);
    assert_int_equal(t_lookup4(dp, 7, IP4(1, 2, 3, 4)), 0);
    assert_int_equal(dp_vrf_get(dp, 7, &got), VR_ENOENT);
    struct dp_route r = {.vrf = 7, .family = 4, .plen = 24, .addr = {1, 2, 3, 0}};
    assert_int_equal(dp_route_get(dp, &r, &r), VR_ENOENT);
    dp_free(dp);
}

static void test_next_hops(void **state)
{
    struct dp *dp = t_dp_new();
    t_nh_if(dp, 1, IF_A, MAC_A, 0);
    t_nh_tun(dp, 2, DP_ENCAP_MPLS_UDP, 100, 0);
    struct dp_nh n;
    memset(&n, 0, sizeof n);
    n.id = 3;
    n.type = DP_NH_TUNNEL;
    n.encap = DP_ENCAP_MPLS_GRE;
    n.ifindex = IF_A; /* not a fabric port */
    assert_int_equal(dp_nh_add(dp, &n), VR_EINVAL);
    n.ifindex = IF_FAB;
    n.label = 1u << 20; /* beyond 20 bits */
    assert_int_equal(dp_nh_add(dp, &n), VR_EINVAL);
    n.id = 64;
    assert_int_equal(dp_nh_add(dp, &n), VR_ERANGE);

    memset(&n, 0, sizeof n);
    n.id = 10;
    n.type = DP_NH_ECMP;
    n.member_count = 2;
    n.members[0] = 1;
    n.members[1] = 2;
    assert_int_equal(dp_nh_add(dp, &n), 0);
    struct dp_nh got;
    assert_int_equal(dp_nh_get(dp, 10, &got), 0);
    assert_int_equal(got.member_count, 2);
    assert_int_equal(got.members[1], 2);
    n.id = 11;
    n.members[1] = 10; /* a composite cannot be a member */
    assert_int_equal(dp_nh_add(dp, &n), VR_ENONH);

    /* Eight composites fit; the ninth does not. */
    n.members[1] = 2;
    for (uint32_t id = 11; id < 18; id++) {
        n.id = id;
        assert_int_equal(dp_nh_add(dp, &n), 0);
    }
    n.id = 18;
    assert_int_equal(dp_nh_add(dp, &n), VR_EFULL);
    /* Replacing one frees its old member list (after the grace period). */
    assert_int_equal(dp_nh_del(dp, 17), 0);
    assert_int_equal(dp_nh_add(dp, &n), 0);

    uint32_t pos = 0, count = 0;
    while (dp_nh_next(dp, &pos, &got) == 0) {
        count++;
    }
    assert_int_equal(count, 10);
    assert_int_equal(dp_nh_del(dp, 1), 0);
    assert_int_equal(dp_nh_get(dp, 1, &got), VR_ENOENT);
    assert_int_equal(dp_nh_del(dp, 1), VR_ENOENT);
    dp_free(dp);
}

static void test_labels_vnis_macs(void **state)
{
    struct dp *dp = t_dp_new();
    t_nh_if(dp, 1, IF_A, MAC_A, 0);
    struct dp_label l = {.label = 100, .nh = 1};
    assert_int_equal(dp_label_add(dp, &l), 0);
    l.label = 1024;
    assert_int_equal(dp_label_add(dp, &l), VR_ERANGE);
    struct dp_label lg;
    assert_int_equal(dp_label_get(dp, 100, &lg), 0);
    assert_int_equal(lg.nh, 1);
    assert_int_equal(dp_label_del(dp, 100), 0);
    assert_int_equal(dp_label_get(dp, 100, &lg), VR_ENOENT);

    for (uint32_t k = 0; k < 8; k++) {
        struct dp_vni v = {.vni = 5000 + k, .vrf = VRF_RED};
        assert_int_equal(dp_vni_add(dp, &v), 0);
    }
    struct dp_vni v = {.vni = 6000, .vrf = VRF_RED};
    assert_int_equal(dp_vni_add(dp, &v), VR_EFULL);
    v.vrf = 6;
    assert_int_equal(dp_vni_add(dp, &v), VR_ENOVRF);
    v.vni = 1u << 24;
    assert_int_equal(dp_vni_add(dp, &v), VR_ERANGE);
    struct dp_vni vg;
    assert_int_equal(dp_vni_get(dp, 5003, &vg), 0);
    assert_int_equal(vg.vrf, VRF_RED);
    assert_int_equal(dp_vni_del(dp, 5003), 0);
    assert_int_equal(dp_vni_get(dp, 5003, &vg), VR_ENOENT);
    v.vni = 6000;
    v.vrf = VRF_BLUE;
    assert_int_equal(dp_vni_add(dp, &v), 0); /* the freed slot is reused */
    uint32_t pos = 0, n = 0;
    while (dp_vni_next(dp, &pos, &vg) == 0) {
        n++;
    }
    assert_int_equal(n, 8);

    struct dp_mac m = {.vrf = VRF_RED, .nh = 1};
    for (uint32_t k = 0; k < 16; k++) {
        m.mac[5] = (uint8_t)k;
        assert_int_equal(dp_mac_add(dp, &m), 0);
    }
    m.mac[5] = 99;
    assert_int_equal(dp_mac_add(dp, &m), VR_EFULL);
    /* Same MAC in another VRF is another entry; same key updates in place. */
    m.mac[5] = 3;
    m.nh = 1;
    assert_int_equal(dp_mac_add(dp, &m), 0);
    struct dp_mac mg;
    assert_int_equal(dp_mac_get(dp, VRF_RED, m.mac, &mg), 0);
    assert_int_equal(dp_mac_get(dp, VRF_BLUE, m.mac, &mg), VR_ENOENT);
    assert_int_equal(dp_mac_del(dp, VRF_RED, m.mac), 0);
    assert_int_equal(dp_mac_get(dp, VRF_RED, m.mac, &mg), VR_ENOENT);
    m.vrf = VRF_BLUE;
    assert_int_equal(dp_mac_add(dp, &m), 0);
    pos = 0;
    n = 0;
    while (dp_mac_next(dp, &pos, &mg) == 0) {
        n++;
    }
    assert_int_equal(n, 16);
    dp_free(dp);
}

static void test_lpm_ipv4_edges(void **state)
{
    struct dp *dp = t_dp_new();
    for (uint32_t id = 1; id <= 6; id++) {
        t_nh_if(dp, id, IF_A, MAC_A, 0);
    }
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(8, 8, 8, 8)), 0); /* empty */
    t_route4(dp, VRF_RED, 0, 0, 1);                                /* default */
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(8, 8, 8, 8)), 1);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(255, 255, 255, 255)), 1);
    t_route4(dp, VRF_RED, IP4(10, 0, 0, 0), 8, 2);
    t_route4(dp, VRF_RED, IP4(10, 1, 0, 0), 16, 3);
    t_route4(dp, VRF_RED, IP4(10, 1, 2, 0), 23, 4);
    t_route4(dp, VRF_RED, IP4(10, 1, 2, 3), 32, 5);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 9, 9, 9)), 2);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 9, 9)), 3);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 3, 200)), 4); /* /23 covers .2 and .3 */
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 4, 0)), 3);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 2, 3)), 5);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 2, 4)), 4);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(11, 0, 0, 0)), 1);
    assert_int_equal(t_lookup4(dp, VRF_BLUE, IP4(10, 1, 2, 3)), 0); /* other VRF */

    /* A shorter prefix added later does not hide longer ones. */
    t_route4(dp, VRF_RED, IP4(10, 0, 0, 0), 7, 6);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 2, 3)), 5);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(11, 0, 0, 1)), 6);

    /* Deleting the more specific falls back to the next covering prefix. */
    struct dp_route r = {.vrf = VRF_RED, .family = 4, .plen = 32, .addr = {10, 1, 2, 3}};
    assert_int_equal(dp_route_del(dp, &r), 0);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 2, 3)), 4);
    r.plen = 23;
    r.addr[3] = 77; /* host bits are ignored */
    assert_int_equal(dp_route_del(dp, &r), 0);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 2, 3)), 3);
    r.plen = 16;
    assert_int_equal(dp_route_del(dp, &r), 0);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 2, 3)), 2);
    r.plen = 8;
    assert_int_equal(dp_route_del(dp, &r), 0);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 2, 3)), 6);
    r.plen = 7;
    assert_int_equal(dp_route_del(dp, &r), 0);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 2, 3)), 1);
    assert_int_equal(dp_route_del(dp, &r), VR_ENOENT);
    r.plen = 0;
    memset(r.addr, 0, sizeof r.addr);
    assert_int_equal(dp_route_del(dp, &r), 0);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 2, 3)), 0);

    /* Replacing a prefix's next hop; /33 and family 5 are refused. */
    t_route4(dp, VRF_RED, IP4(1, 1, 1, 1), 32, 2);
    t_route4(dp, VRF_RED, IP4(1, 1, 1, 1), 32, 3);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(1, 1, 1, 1)), 3);
    r.plen = 33;
    r.nh = 1;
    assert_int_equal(dp_route_add(dp, &r), VR_EINVAL);
    r.plen = 8;
    r.family = 5;
    assert_int_equal(dp_route_add(dp, &r), VR_EINVAL);
    r.family = 4;
    r.vrf = 6;
    assert_int_equal(dp_route_add(dp, &r), VR_ENOVRF);
    dp_free(dp);
}

static void addr6(uint8_t *a, uint16_t w0, uint16_t w1, uint16_t w7)
{
    memset(a, 0, 16);
    t_put16(a, w0);
    t_put16(a + 2, w1);
    t_put16(a + 14, w7);
}

static void route6(struct dp *dp, uint32_t vrf, const uint8_t *a, uint8_t plen, uint32_t nh)
{
    struct dp_route r = {.vrf = vrf, .family = 6, .plen = plen, .nh = nh};
    memcpy(r.addr, a, 16);
    assert_int_equal(dp_route_add(dp, &r), 0);
}

static void test_lpm_ipv6_edges(void **state)
{
    struct dp *dp = t_dp_new();
    for (uint32_t id = 1; id <= 4; id++) {
        t_nh_if(dp, id, IF_A, MAC_A, 0);
    }
    uint8_t a[16], q[16];
    addr6(a, 0, 0, 0);
    route6(dp, VRF_RED, a, 0, 1);
    addr6(a, 0x2001, 0x0db8, 0);
    route6(dp, VRF_RED, a, 32, 2);
    addr6(a, 0x2001, 0x0db8, 0x0005);
    route6(dp, VRF_RED, a, 128, 3);
    route6(dp, VRF_RED, a, 127, 4);

    addr6(q, 0x2001, 0x0db8, 0x0005);
    assert_int_equal(dp_route_lookup(dp, VRF_RED, 6, q), 3);
    addr6(q, 0x2001, 0x0db8, 0x0004); /* the /127 pair */
    assert_int_equal(dp_route_lookup(dp, VRF_RED, 6, q), 4);
    addr6(q, 0x2001, 0x0db8, 0x0006);
    assert_int_equal(dp_route_lookup(dp, VRF_RED, 6, q), 2);
    addr6(q, 0x2001, 0x0db9, 0x0005);
    assert_int_equal(dp_route_lookup(dp, VRF_RED, 6, q), 1);
    /* IPv4 and IPv6 tables are separate. */
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(32, 1, 13, 184)), 0);

    struct dp_route r = {.vrf = VRF_RED, .family = 6, .plen = 128};
    addr6(r.addr, 0x2001, 0x0db8, 0x0005);
    assert_int_equal(dp_route_del(dp, &r), 0);
    addr6(q, 0x2001, 0x0db8, 0x0005);
    assert_int_equal(dp_route_lookup(dp, VRF_RED, 6, q), 4);
    r.plen = 127;
    assert_int_equal(dp_route_del(dp, &r), 0);
    assert_int_equal(dp_route_lookup(dp, VRF_RED, 6, q), 2);
    r.plen = 129;
    assert_int_equal(dp_route_add(dp, &r), VR_EINVAL);
    dp_free(dp);
}

static uint32_t rnd(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

/* Random prefixes added and deleted; every lookup must equal a linear
 * longest-match scan over the prefixes currently installed. Also proves
 * deleted subtrees give their trie nodes back (the pool never runs dry). */
static void test_lpm_random_crosscheck(void **state)
{
    struct dp *dp = t_dp_new();
    for (uint32_t id = 1; id < 64; id++) {
        t_nh_if(dp, id, IF_A, MAC_A, 0);
    }
    struct {
        uint32_t addr;
        uint8_t plen;
        uint32_t nh;
        int live;
    } set[40];
    memset(set, 0, sizeof set);
    uint32_t seed = 12345;
    for (int round = 0; round < 400; round++) {
        int k = (int)(rnd(&seed) % 40);
        struct dp_route r = {.vrf = VRF_RED, .family = 4};
        if (set[k].live) {
            r.plen = set[k].plen;
            t_put32(r.addr, set[k].addr);
            assert_int_equal(dp_route_del(dp, &r), 0);
            set[k].live = 0;
        } else {
            uint8_t plen = (uint8_t)(rnd(&seed) % 33);
            uint32_t addr = (uint32_t)(rnd(&seed) & 0x0f0f0fffu) << 4; /* collide often */
            addr = plen ? addr & (0xffffffffu << (32 - plen)) : 0;
            int dup = 0;
            for (int j = 0; j < 40; j++) {
                dup |= set[j].live && set[j].plen == plen && set[j].addr == addr;
            }
            if (dup) {
                continue;
            }
            set[k].addr = addr;
            set[k].plen = plen;
            set[k].nh = 1 + rnd(&seed) % 63;
            set[k].live = 1;
            t_route4(dp, VRF_RED, addr, plen, set[k].nh);
        }
        for (int probe = 0; probe < 20; probe++) {
            uint32_t q = probe < 10 ? (uint32_t)(rnd(&seed) & 0x0f0f0fffu) << 4 : set[rnd(&seed) % 40].addr | (rnd(&seed) & 0xff);
            int best = -1;
            for (int j = 0; j < 40; j++) {
                uint32_t mask = set[j].plen ? 0xffffffffu << (32 - set[j].plen) : 0;
                if (set[j].live && (q & mask) == set[j].addr && (best < 0 || set[j].plen > set[best].plen)) {
                    best = j;
                }
            }
            assert_int_equal(t_lookup4(dp, VRF_RED, q), best < 0 ? 0 : set[best].nh);
        }
    }
    dp_free(dp);
}

static void test_route_capacity_and_dump(void **state)
{
    struct dp *dp = t_dp_new();
    t_nh_if(dp, 1, IF_A, MAC_A, 0);
    for (uint32_t k = 0; k < 64; k++) {
        t_route4(dp, VRF_RED, IP4(10, 0, k, 0), 24, 1);
    }
    struct dp_route r = {.vrf = VRF_RED, .family = 4, .plen = 24, .addr = {11, 0, 0, 0}, .nh = 1};
    assert_int_equal(dp_route_add(dp, &r), VR_EFULL);
    uint32_t pos = 0, n = 0;
    struct dp_route got;
    while (dp_route_next(dp, &pos, &got) == 0) {
        assert_int_equal(got.plen, 24);
        n++;
    }
    assert_int_equal(n, 64);
    dp_free(dp);

    /* Trie nodes run out before route entries: a clean VR_EFULL. */
    struct dp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.ifs = 4;
    cfg.vrfs = 2;
    cfg.nhs = 4;
    cfg.composites = 1;
    cfg.labels = 16;
    cfg.vnis = 1;
    cfg.bridge = 1;
    cfg.routes = 16;
    cfg.lpm_nodes = 3;
    cfg.flows = 4;
    cfg.flow_overflow = 1;
    assert_int_equal(dp_create(&cfg, &dp), 0);
    struct dp_vrf v = {.vrf = 1};
    assert_int_equal(dp_vrf_add(dp, &v), 0);
    struct dp_nh nh = {.id = 1, .type = DP_NH_DISCARD};
    assert_int_equal(dp_nh_add(dp, &nh), 0);
    r.vrf = 1;
    r.plen = 16;
    assert_int_equal(dp_route_add(dp, &r), 0); /* root + one child */
    r.plen = 24;
    r.addr[1] = 1;
    assert_int_equal(dp_route_add(dp, &r), 0); /* one more child */
    r.addr[1] = 2;
    assert_int_equal(dp_route_add(dp, &r), VR_EFULL);
    assert_int_equal(dp_route_get(dp, &r, &got), VR_ENOENT);
    r.addr[1] = 1;
    assert_int_equal(dp_route_del(dp, &r), 0); /* its node is folded back */
    r.addr[1] = 2;
    assert_int_equal(dp_route_add(dp, &r), 0);
    assert_int_equal(t_lookup4(dp, 1, IP4(11, 2, 0, 9)), 1);
    dp_free(dp);

    cfg.labels = 1u << 21;
    assert_int_equal(dp_create(&cfg, &dp), VR_EINVAL);
}

static void test_generation_sweep_tables(void **state)
{
    struct dp *dp = t_dp_new();
    dp_generation_begin(dp, 1);
    t_nh_if(dp, 1, IF_A, MAC_A, 0);
    t_nh_if(dp, 2, IF_B, MAC_B, 0);
    t_route4(dp, VRF_RED, IP4(10, 0, 0, 0), 8, 1);
    t_route4(dp, VRF_RED, IP4(10, 1, 0, 0), 16, 2);
    struct dp_label l = {.label = 17, .nh = 1};
    assert_int_equal(dp_label_add(dp, &l), 0);
    l.label = 18;
    assert_int_equal(dp_label_add(dp, &l), 0);
    struct dp_mac m = {.vrf = VRF_RED, .nh = 2};
    memcpy(m.mac, MAC_B, 6);
    assert_int_equal(dp_mac_add(dp, &m), 0);
    struct dp_vni v = {.vni = 77, .vrf = VRF_RED};
    assert_int_equal(dp_vni_add(dp, &v), 0);

    dp_generation_begin(dp, 2);
    assert_int_equal(dp_generation(dp), 2);
    /* Nothing is reset by a new generation. */
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 1, 1)), 2);
    /* The new agent re-installs part of the state, identically. */
    struct dp_vrf vr = {.vrf = VRF_RED};
    assert_int_equal(dp_vrf_add(dp, &vr), 0);
    struct dp_if i;
    assert_int_equal(dp_if_get(dp, IF_A, &i), 0);
    assert_int_equal(dp_if_add(dp, &i), 0);
    assert_int_equal(dp_if_get(dp, IF_FAB, &i), 0);
    assert_int_equal(dp_if_add(dp, &i), 0);
    t_nh_if(dp, 1, IF_A, MAC_A, 0);
    t_route4(dp, VRF_RED, IP4(10, 0, 0, 0), 8, 1);
    l.label = 17;
    assert_int_equal(dp_label_add(dp, &l), 0);
    struct dp_nh nh;
    assert_int_equal(dp_nh_get(dp, 1, &nh), 0);
    assert_int_equal(nh.gen, 2);
    assert_int_equal(dp_nh_get(dp, 2, &nh), 0);
    assert_int_equal(nh.gen, 1);

    uint32_t removed = dp_sweep(dp, 2);
    /* route /16, nh 2, label 18, mac, vni, ifs B, C and agent, VRF_BLUE */
    assert_int_equal(removed, 9);
    assert_int_equal(t_lookup4(dp, VRF_RED, IP4(10, 1, 1, 1)), 1);
    assert_int_equal(dp_nh_get(dp, 2, &nh), VR_ENOENT);
    struct dp_label lg;
    assert_int_equal(dp_label_get(dp, 17, &lg), 0);
    assert_int_equal(dp_label_get(dp, 18, &lg), VR_ENOENT);
    assert_int_equal(dp_mac_get(dp, VRF_RED, MAC_B, &m), VR_ENOENT);
    assert_int_equal(dp_vni_get(dp, 77, &v), VR_ENOENT);
    assert_int_equal(dp_if_get(dp, IF_A, &i), 0);
    assert_int_equal(dp_if_get(dp, IF_B, &i), VR_ENOENT);
    struct dp_vrf vg;
    assert_int_equal(dp_vrf_get(dp, VRF_BLUE, &vg), VR_ENOENT);
    assert_int_equal(dp_vrf_get(dp, VRF_RED, &vg), 0);
    assert_int_equal(dp_sweep(dp, 2), 0);
    dp_free(dp);
}

static void test_drop_names(void **state)
{
    assert_string_equal(dp_drop_name(DP_DROP_UNKNOWN_UNICAST), "unknown-unicast");
    assert_string_equal(dp_drop_name(DP_DROP_FLOW_FULL), "flow-table-full");
    assert_string_equal(dp_drop_name(DP_DROP_COUNT), "unknown");
    for (unsigned r = 0; r < DP_DROP_COUNT; r++) {
        for (unsigned s = r + 1; s < DP_DROP_COUNT; s++) {
            assert_true(strcmp(dp_drop_name(r), dp_drop_name(s)) != 0);
        }
    }
    struct dp_config cfg;
    dp_config_default(&cfg);
    assert_int_equal(cfg.flows, 512 * 1024);
    assert_int_equal(cfg.flow_overflow, 8 * 1024);
    assert_int_equal(cfg.bridge, 256 * 1024);
    assert_int_equal(cfg.vrfs, 4096);
    assert_int_equal(cfg.nhs, 512 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interfaces),
        cmocka_unit_test(test_vrfs),
        cmocka_unit_test(test_next_hops),
        cmocka_unit_test(test_labels_vnis_macs),
        cmocka_unit_test(test_lpm_ipv4_edges),
        cmocka_unit_test(test_lpm_ipv6_edges),
        cmocka_unit_test(test_lpm_random_crosscheck),
        cmocka_unit_test(test_route_capacity_and_dump),
        cmocka_unit_test(test_generation_sweep_tables),
        cmocka_unit_test(test_drop_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

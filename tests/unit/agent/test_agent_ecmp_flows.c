/* Unit tests of the agent core's route programming beyond single IPv4
 * paths and of its flow table (vrouter/agent): every datapath request is
 * applied to a real forwarding core (vr_msg_apply), and first packets come
 * from that core's own punts, so the checks are on forwarding state and
 * forwarded bytes. ECMP: a prefix from two or more compute nodes becomes a
 * composite of AGENT_ECMP_SLOTS members, the re-injected first packet
 * leaves through the member the datapath picks for the flow's later
 * packets, and flows keep their member when another member leaves or
 * joins. inet6 routes and EVPN MAC routes (a MAC entry bridging a non-IP
 * frame from one agent's datapath to the other's port, over the port's
 * bridging label). Flow limit (over it: nothing installed, counted) and
 * idle aging with time as an input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/agent/agent_fixture.h"

#define FABRIC_A 0x0a630001u /* 10.99.0.1 */
#define FABRIC_B 0x0a630002u
#define PEER1 0x0a630011u
#define PEER2 0x0a630012u
#define PEER3 0x0a630013u
#define PEER4 0x0a630014u

/* A fixture with one control node (up), MPLSoUDP, fabric address 'fabric',
 * the flow limit and idle time given (0: the defaults) and ports vm1 and
 * vm2 in red; the datapath's time starts at 0. */
static uint32_t fx_dp_flows = 4096; /* the datapath's flow slots in fx_new */

static struct agent_fx *fx_new(uint32_t fabric, uint32_t flow_limit, uint64_t idle_ms)
{
    struct dp_config dc;
    agent_fx_dp_config(&dc);
    dc.nhs = 8192;
    dc.flows = fx_dp_flows;
    struct agent_fx *f = agent_fx_new(&dc);
    f->now = 0;
    struct agent_config cfg = {.fabric_ip = fabric, .node_count = 1, .generation = 1, .encap_count = 1,
                               .flow_limit = flow_limit, .flow_idle_ms = idle_ms};
    cfg.encaps[0] = DP_ENCAP_MPLS_UDP;
    agent_fx_core(f, &cfg);
    agent_node_up(f->core, 0);
    agent_fx_port_add(f, "vm1 tap=tap1 ri=red mac=02:00:00:00:01:01 ip=192.168.1.1/24 gw=192.168.1.254");
    agent_fx_port_add(f, "vm2 tap=tap2 ri=red mac=02:00:00:00:01:02 ip=192.168.1.2/24 gw=192.168.1.254");
    return f;
}

/* An inet item for 'prefix'/'plen' with one MPLSoUDP next hop per 'dips'
 * entry (label: 100 + the address's last byte). */
static struct xmpp_route_item item(uint32_t prefix, uint8_t plen, const uint32_t *dips, size_t count)
{
    struct xmpp_route_item it;
    memset(&it, 0, sizeof it);
    it.entry.family = XMPP_FAMILY_INET;
    it.entry.key.prefix.version = 4;
    be32_store(it.entry.key.prefix.addr, prefix);
    it.entry.key.plen = plen;
    it.entry.next_hop_count = count;
    for (size_t i = 0; i < count; i++) {
        struct xmpp_nexthop *nh = &it.entry.next_hops[i];
        nh->address.version = 4;
        be32_store(nh->address.addr, dips[i]);
        nh->label = 100 + (dips[i] & 0xff);
        nh->encaps = XMPP_ENCAP_UDP;
    }
    return it;
}

/* A UDP packet from vm1 (192.168.1.1) to 'dst' with source port 'sport'. */
static size_t udp_frame(uint8_t *b, uint32_t dst, uint16_t sport)
{
    static const uint8_t vm1[6] = {0x02, 0, 0, 0, 0x01, 0x01};
    memset(b, 0, 14 + 28 + 4);
    memcpy(b, agent_fx_router_mac, 6);
    memcpy(b + 6, vm1, 6);
    be16_store(b + 12, 0x0800);
    uint8_t *ip = b + 14;
    ip[0] = 0x45;
    be16_store(ip + 2, 32);
    ip[8] = 64;
    ip[9] = 17;
    be32_store(ip + 12, 0xc0a80101u);
    be32_store(ip + 16, dst);
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) {
        sum += (uint32_t)ip[i] << 8 | ip[i + 1];
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    be16_store(ip + 10, (uint16_t)~sum);
    be16_store(ip + 20, sport);
    be16_store(ip + 22, 7000);
    be16_store(ip + 24, 12);
    memcpy(ip + 28, "data", 4);
    return 14 + 32;
}

/* Runs 'frame' from vm1 (ifindex 2) through the datapath into 'dst';
 * returns the verdict and sets '*size' and '*ifindex' of the first tx. */
static int run(struct agent_fx *f, const uint8_t *frame, size_t len, uint8_t *dst, size_t *size, uint32_t *ifindex)
{
    static uint8_t buf[2048];
    static struct dp_out out;
    memcpy(buf + DP_HEADROOM, frame, len);
    struct dp_pkt pkt = {.buf = buf, .size = sizeof buf, .off = DP_HEADROOM, .len = (uint32_t)len};
    dp_rx(f->dp, AGENT_IF_FIRST_PORT, &pkt, f->now, &out);
    *size = 0;
    if (out.verdict != DP_VERDICT_DROP && out.count) {
        *size = dp_tx_copy(&pkt, &out.tx[0], dst, 2048);
        *ifindex = out.tx[0].ifindex;
    }
    return out.verdict;
}

/* The outer destination of a tunnelled frame (outer Ethernet + IPv4). */
static uint32_t outer_dst(const uint8_t *frame)
{
    return be32_load(frame + 14 + 16);
}

/* Sends a new flow's first packet: the datapath punts it, the agent
 * decides; returns the re-injection's outer destination (a local port:
 * its ifindex; 0 when nothing is injected) and checks that the next
 * packet of the flow leaves the same way. */
static uint32_t first_packet(struct agent_fx *f, uint32_t dst, uint16_t sport, int *rc_out)
{
    uint8_t frame[128], tx[2048];
    size_t len = udp_frame(frame, dst, sport), size;
    uint32_t ifindex = 0;
    assert_int_equal(run(f, frame, len, tx, &size, &ifindex), DP_VERDICT_PUNT);
    struct agent_punt p;
    assert_int_equal(agent_punt_parse(tx, size, &p), 0);
    assert_int_equal(p.reason, DP_PUNT_FLOW_MISS);
    struct agent_flow_decision d;
    struct buf re;
    buf_init(&re, 4096);
    int rc = agent_flow_miss(f->core, &p, &d, &re);
    if (rc_out) {
        *rc_out = rc;
    }
    uint32_t via = 0;
    if (rc == 0 && re.size) {
        assert_true(re.size > DP_PUNT_HDR_SIZE + 34);
        uint32_t to = be32_load(re.data + 4);
        via = to == AGENT_IF_FABRIC ? be32_load(re.data + DP_PUNT_HDR_SIZE + 14 + 16) : to;
        /* the flow's next packet leaves the same way (the same member) */
        assert_int_equal(run(f, frame, len, tx, &size, &ifindex), DP_VERDICT_TX);
        assert_int_equal(ifindex, to);
        if (to == AGENT_IF_FABRIC) {
            assert_int_equal(outer_dst(tx), via);
        }
    }
    buf_destroy(&re);
    return via;
}

static void member_counts(struct agent_fx *f, uint32_t prefix, uint8_t plen, uint32_t *dips, size_t *counts, size_t n)
{
    struct dp_route q = {.vrf = 1, .family = 4, .plen = plen}, r;
    be32_store(q.addr, prefix);
    assert_int_equal(dp_route_get(f->dp, &q, &r), 0);
    struct dp_nh e;
    assert_int_equal(dp_nh_get(f->dp, r.nh, &e), 0);
    assert_int_equal(e.type, DP_NH_ECMP);
    assert_int_equal(e.member_count, AGENT_ECMP_SLOTS);
    memset(counts, 0, n * sizeof *counts);
    for (size_t s = 0; s < e.member_count; s++) {
        struct dp_nh t;
        assert_int_equal(dp_nh_get(f->dp, e.members[s], &t), 0);
        assert_int_equal(t.type, DP_NH_TUNNEL);
        assert_int_equal(t.encap, DP_ENCAP_MPLS_UDP);
        size_t i = 0;
        while (i < n && dips[i] != t.dip) {
            i++;
        }
        assert_true(i < n);
        counts[i]++;
    }
}

#define NFLOWS 256

static void test_ecmp_composite_and_sticky_members(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(FABRIC_A, 0, 0);
    uint32_t dips[4] = {PEER1, PEER2, PEER3, PEER4};
    struct xmpp_route_item it = item(0x0a010000u, 24, dips, 2);
    agent_route_item(f->core, 0, "red", XMPP_FAMILY_INET, &it);
    assert_int_equal(f->dp_errors, 0);
    size_t counts[4];
    member_counts(f, 0x0a010000u, 24, dips, counts, 2);
    assert_int_equal(counts[0], 8);
    assert_int_equal(counts[1], 8);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.ecmp_nhs, 1);
    assert_int_equal(st.tunnel_nhs, 2);
    /* flows spread over both members; each re-injection matches the datapath */
    static uint32_t via[NFLOWS];
    size_t per[4] = {0};
    for (int i = 0; i < NFLOWS; i++) {
        via[i] = first_packet(f, 0x0a010005u, (uint16_t)(1000 + i), NULL);
        per[via[i] == PEER2]++;
    }
    assert_true(per[0] > NFLOWS / 4 && per[1] > NFLOWS / 4);
    /* a third node joins: only flows moving to it change member */
    it = item(0x0a010000u, 24, dips, 3);
    agent_route_item(f->core, 0, "red", XMPP_FAMILY_INET, &it);
    member_counts(f, 0x0a010000u, 24, dips, counts, 3);
    assert_int_equal(counts[0] + counts[1] + counts[2], 16);
    assert_true(counts[2] == 5 || counts[2] == 6);
    size_t moved = 0;
    uint8_t frame[128], tx[2048];
    size_t size;
    uint32_t ifindex;
    for (int i = 0; i < NFLOWS; i++) {
        size_t len = udp_frame(frame, 0x0a010005u, (uint16_t)(1000 + i));
        assert_int_equal(run(f, frame, len, tx, &size, &ifindex), DP_VERDICT_TX);
        uint32_t now = outer_dst(tx);
        if (now != via[i]) {
            assert_int_equal(now, PEER3);
            moved++;
        }
        via[i] = now;
    }
    assert_true(moved > 0 && moved < NFLOWS / 2);
    /* PEER1 leaves: flows on PEER2 and PEER3 keep their member */
    uint32_t left[3] = {PEER2, PEER3};
    it = item(0x0a010000u, 24, left, 2);
    agent_route_item(f->core, 0, "red", XMPP_FAMILY_INET, &it);
    member_counts(f, 0x0a010000u, 24, left, counts, 2);
    assert_int_equal(counts[0], 8);
    assert_int_equal(counts[1], 8);
    for (int i = 0; i < NFLOWS; i++) {
        size_t len = udp_frame(frame, 0x0a010005u, (uint16_t)(1000 + i));
        assert_int_equal(run(f, frame, len, tx, &size, &ifindex), DP_VERDICT_TX);
        uint32_t now = outer_dst(tx);
        if (via[i] != PEER1) {
            assert_int_equal(now, via[i]);
        } else {
            assert_true(now == PEER2 || now == PEER3);
        }
    }
    /* one path left: a plain tunnel route, the composite and PEER3's tunnel gone */
    it = item(0x0a010000u, 24, left, 1);
    agent_route_item(f->core, 0, "red", XMPP_FAMILY_INET, &it);
    agent_status_get(f->core, &st);
    assert_int_equal(st.ecmp_nhs, 0);
    assert_int_equal(st.tunnel_nhs, 1);
    uint8_t a[16] = {0};
    be32_store(a, 0x0a010005u);
    struct dp_nh nh;
    assert_int_equal(dp_nh_get(f->dp, dp_route_lookup(f->dp, 1, 4, a), &nh), 0);
    assert_int_equal(nh.type, DP_NH_TUNNEL);
    assert_int_equal(nh.dip, PEER2);
    assert_int_equal(dp_nh_get(f->dp, AGENT_NH_ECMP_BASE + AGENT_NH_ECMP_SPAN, &nh), VR_ENOENT);
    /* retracted: nothing left */
    it.retract = true;
    agent_route_item(f->core, 0, "red", XMPP_FAMILY_INET, &it);
    assert_int_equal(dp_route_lookup(f->dp, 1, 4, a), 0);
    agent_status_get(f->core, &st);
    assert_int_equal(st.tunnel_nhs, 0);
    assert_int_equal(st.routes, 0);
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

static void test_inet6_route_programmed(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(FABRIC_A, 0, 0);
    uint32_t dips[2] = {PEER1, FABRIC_A};
    struct xmpp_route_item it = item(0, 64, dips, 2); /* our own next hop is skipped */
    it.entry.family = XMPP_FAMILY_INET6;
    it.entry.key.prefix.version = 6;
    static const uint8_t pfx[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
    memcpy(it.entry.key.prefix.addr, pfx, 16);
    agent_route_item(f->core, 0, "red", XMPP_FAMILY_INET6, &it);
    assert_int_equal(f->dp_errors, 0);
    struct dp_route q = {.vrf = 1, .family = 6, .plen = 64}, r;
    memcpy(q.addr, pfx, 16);
    assert_int_equal(dp_route_get(f->dp, &q, &r), 0);
    uint8_t host[16];
    memcpy(host, pfx, 16);
    host[15] = 9;
    assert_int_equal(dp_route_lookup(f->dp, 1, 6, host), r.nh);
    struct dp_nh nh;
    assert_int_equal(dp_nh_get(f->dp, r.nh, &nh), 0);
    assert_int_equal(nh.type, DP_NH_TUNNEL);
    assert_int_equal(nh.dip, PEER1);
    assert_int_equal(nh.label, 100 + (PEER1 & 0xff));
    /* not an IPv4 route: IPv4 lookups and the proxy do not see it */
    assert_false(agent_ip4_known(f->core, 1, 0x20010db8u));
    it.retract = true;
    agent_route_item(f->core, 0, "red", XMPP_FAMILY_INET6, &it);
    assert_int_equal(dp_route_get(f->dp, &q, &r), VR_ENOENT);
    assert_int_equal(dp_nh_get(f->dp, nh.id, &nh), VR_ENOENT);
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

static void test_evpn_mac_bridges_between_agents(void **state)
{
    (void)state;
    struct agent_fx *a = fx_new(FABRIC_A, 0, 0);
    struct agent_fx *b = fx_new(FABRIC_B, 0, 0);
    const struct agent_port *p1 = agent_port_find(a->core, "vm1");
    /* A's own MAC entry bridges to the port's L2 next hop */
    struct dp_mac m;
    assert_int_equal(dp_mac_get(a->dp, 1, p1->spec.mac, &m), 0);
    assert_int_equal(m.nh, p1->l2_nh);
    struct dp_nh nh;
    assert_int_equal(dp_nh_get(a->dp, p1->l2_nh, &nh), 0);
    assert_int_equal(nh.type, DP_NH_IF);
    assert_true(nh.flags & DP_NH_L2);
    struct dp_label l;
    assert_int_equal(dp_label_get(a->dp, p1->l2_label, &l), 0);
    assert_int_equal(l.nh, p1->l2_nh);
    /* A's EVPN publication for vm1 (the bridging label), as B receives it */
    const struct xmpp_route_entry *evpn = NULL;
    for (size_t i = 0; i < a->pub_count; i++) {
        if (a->pubs[i].family == XMPP_FAMILY_EVPN && memcmp(a->pubs[i].key.mac, p1->spec.mac, 6) == 0) {
            evpn = &a->pubs[i].entry;
        }
    }
    assert_non_null(evpn);
    assert_int_equal(evpn->next_hops[0].label, p1->l2_label);
    struct xmpp_route_item it;
    memset(&it, 0, sizeof it);
    it.entry = *evpn;
    /* B's vm1 has the MAC of A's vm1 (same fixture): B learns the route
     * under another MAC, and the inner destination is set back to vm1's
     * on the way to A */
    static const uint8_t remote_mac[6] = {0x02, 0, 0, 0, 0x09, 0x09};
    memcpy(it.entry.key.mac, remote_mac, 6);
    agent_route_item(b->core, 0, "red", XMPP_FAMILY_EVPN, &it);
    /* and one for a MAC B owns itself: never programmed over the fabric */
    struct xmpp_route_item own = it;
    memcpy(own.entry.key.mac, agent_port_find(b->core, "vm2")->spec.mac, 6);
    agent_route_item(b->core, 0, "red", XMPP_FAMILY_EVPN, &own);
    assert_int_equal(b->dp_errors, 0);
    assert_int_equal(dp_mac_get(b->dp, 1, remote_mac, &m), 0);
    assert_int_equal(dp_nh_get(b->dp, m.nh, &nh), 0);
    assert_int_equal(nh.type, DP_NH_TUNNEL);
    assert_int_equal(nh.dip, FABRIC_A);
    assert_int_equal(nh.label, p1->l2_label);
    assert_int_equal(dp_mac_get(b->dp, 1, agent_port_find(b->core, "vm2")->spec.mac, &m), 0);
    assert_int_equal(m.nh, agent_port_find(b->core, "vm2")->l2_nh);
    struct agent_status st;
    agent_status_get(b->core, &st);
    assert_int_equal(st.macs, 1);
    /* a non-IP frame from B's vm1 to that MAC crosses the fabric to A's vm1 */
    uint8_t frame[64], tx[2048];
    memset(frame, 0xab, sizeof frame);
    memcpy(frame, remote_mac, 6);
    memcpy(frame + 6, agent_port_find(b->core, "vm1")->spec.mac, 6);
    be16_store(frame + 12, 0x88b5);
    size_t size;
    uint32_t ifindex;
    assert_int_equal(run(b, frame, sizeof frame, tx, &size, &ifindex), DP_VERDICT_TX);
    assert_int_equal(ifindex, AGENT_IF_FABRIC);
    assert_int_equal(outer_dst(tx), FABRIC_A);
    memcpy(tx + size - sizeof frame, p1->spec.mac, 6);
    static uint8_t buf[4096];
    static struct dp_out out;
    memcpy(buf + DP_HEADROOM, tx, size);
    struct dp_pkt pkt = {.buf = buf, .size = sizeof buf, .off = DP_HEADROOM, .len = (uint32_t)size};
    dp_rx(a->dp, AGENT_IF_FABRIC, &pkt, 1, &out);
    assert_int_equal(out.verdict, DP_VERDICT_TX);
    assert_int_equal(out.tx[0].ifindex, p1->spec.ifindex);
    uint8_t got[2048];
    uint32_t n = dp_tx_copy(&pkt, &out.tx[0], got, sizeof got);
    assert_int_equal(n, sizeof frame);
    assert_memory_equal(got + 6, frame + 6, sizeof frame - 6);
    /* withdrawn: the MAC entry and its tunnel go */
    it.retract = true;
    agent_route_item(b->core, 0, "red", XMPP_FAMILY_EVPN, &it);
    assert_int_equal(dp_mac_get(b->dp, 1, remote_mac, &m), VR_ENOENT);
    agent_status_get(b->core, &st);
    assert_int_equal(st.tunnel_nhs, 0);
    /* port removal takes its MAC entry, L2 next hop and label */
    assert_int_equal(agent_port_del(a->core, "vm1"), 0);
    assert_int_equal(dp_mac_get(a->dp, 1, frame + 6, &m), VR_ENOENT);
    assert_int_equal(dp_nh_get(a->dp, AGENT_NH_L2_BASE + AGENT_IF_FIRST_PORT, &nh), VR_ENOENT);
    assert_int_equal(dp_label_get(a->dp, AGENT_LABEL_L2_BASE + AGENT_IF_FIRST_PORT, &l), VR_ENOENT);
    assert_int_equal(a->dp_errors + b->dp_errors, 0);
    agent_fx_free(a);
    agent_fx_free(b);
}

static bool dp_has_flow(struct agent_fx *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
    struct dp_flow_key k;
    memset(&k, 0, sizeof k);
    k.vrf = 1;
    be32_store(k.src, src);
    be32_store(k.dst, dst);
    k.sport = sport;
    k.dport = dport;
    k.proto = 17;
    k.family = 4;
    struct dp_flow fl;
    return dp_flow_get(f->dp, &k, &fl) == 0 && fl.state == DP_FLOW_ACTIVE;
}

static void test_flow_limit_drops_and_counts(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(FABRIC_A, 5, 0);
    int rc;
    first_packet(f, 0xc0a80102u, 1, &rc); /* to vm2: forward + reverse */
    assert_int_equal(rc, 0);
    first_packet(f, 0xc0a80102u, 2, &rc);
    assert_int_equal(rc, 0);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 4);
    /* a third forward flow needs two entries: over the limit */
    first_packet(f, 0xc0a80102u, 3, &rc);
    assert_int_equal(rc, AGENT_EFULL);
    assert_false(dp_has_flow(f, 0xc0a80101u, 0xc0a80102u, 3, 7000));
    assert_false(dp_has_flow(f, 0xc0a80102u, 0xc0a80101u, 7000, 3));
    /* a drop flow (no route) takes one: it fits */
    first_packet(f, 0x0a0a0a0au, 4, &rc);
    assert_int_equal(rc, 0);
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 5);
    assert_int_equal(st.flows_over_limit, 1);
    assert_int_equal(st.flows_forward, 2);
    assert_int_equal(st.flows_drop, 1);
    /* the same held flow punted again while full: still refused, no crash */
    for (int i = 0; i < 100; i++) {
        agent_status_get(f->core, &st);
        struct dp_flow_key k;
        memset(&k, 0, sizeof k);
        k.vrf = 1;
        be32_store(k.src, 0xc0a80101u);
        be32_store(k.dst, 0xc0a80102u);
        k.sport = 3;
        k.dport = 7000;
        k.proto = 17;
        k.family = 4;
        assert_int_equal(dp_flow_del(f->dp, &k), 0); /* the hold, so the datapath punts again */
        first_packet(f, 0xc0a80102u, 3, &rc);
        assert_int_equal(rc, AGENT_EFULL);
    }
    agent_status_get(f->core, &st);
    assert_int_equal(st.flows_over_limit, 101);
    assert_int_equal(st.flow_entries, 5);
    /* a route for the dropped destination lifts the drop flow: one entry freed */
    uint32_t peer = PEER1;
    struct xmpp_route_item it = item(0x0a0a0a00u, 24, &peer, 1);
    agent_route_item(f->core, 0, "red", XMPP_FAMILY_INET, &it);
    agent_status_get(f->core, &st);
    assert_int_equal(st.drops_lifted, 1);
    assert_int_equal(st.flow_entries, 4);
    /* everything flushed: room again */
    agent_flow_flush(f->core);
    struct dp_flow_key hk;
    memset(&hk, 0, sizeof hk);
    hk.vrf = 1;
    be32_store(hk.src, 0xc0a80101u);
    be32_store(hk.dst, 0xc0a80102u);
    hk.sport = 3;
    hk.dport = 7000;
    hk.proto = 17;
    hk.family = 4;
    assert_int_equal(dp_flow_del(f->dp, &hk), 0); /* the last hold */
    first_packet(f, 0xc0a80102u, 3, &rc);
    assert_int_equal(rc, 0);
    assert_true(dp_has_flow(f, 0xc0a80101u, 0xc0a80102u, 3, 7000));
    assert_false(dp_has_flow(f, 0xc0a80101u, 0xc0a80102u, 1, 7000));
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

/* Aging on virtual time; 'pairs': forward flows go to the datapath as one
 * FLOW_PAIR request each (a datapath with rings), linked there. */
static void flow_aging_idle(bool pairs)
{
    struct agent_fx *f = fx_new(FABRIC_A, 0, 1000);
    int rc;
    agent_flow_pairs_set(f->core, pairs);
    f->now = 10000;
    agent_time_set(f->core, f->now);
    first_packet(f, 0xc0a80102u, 1, &rc); /* F1 */
    first_packet(f, 0xc0a80102u, 2, &rc); /* F2 */
    first_packet(f, 0x0a0a0a0au, 3, &rc); /* D: a drop flow */
    assert_int_equal(f->msgs[VR_MSG_FLOW_PAIR], pairs ? 2 : 0);
    assert_int_equal(f->msgs[VR_MSG_FLOW], pairs ? 1 : 5);
    struct dp_flow_key fk = {.vrf = 1, .sport = 1, .dport = 7000, .proto = 17, .family = 4};
    be32_store(fk.src, 0xc0a80101u);
    be32_store(fk.dst, 0xc0a80102u);
    struct dp_flow_key rk = {.vrf = 1, .sport = 7000, .dport = 1, .proto = 17, .family = 4};
    be32_store(rk.src, 0xc0a80102u);
    be32_store(rk.dst, 0xc0a80101u);
    struct dp_flow fw, rv;
    assert_int_equal(dp_flow_get(f->dp, &fk, &fw), 0);
    assert_int_equal(dp_flow_get(f->dp, &rk, &rv), 0);
    assert_int_equal(fw.action.type, DP_FLOW_FORWARD);
    assert_int_equal(rv.action.type, DP_FLOW_FORWARD);
    assert_int_equal(fw.reverse, pairs ? rv.index : DP_FLOW_NONE); /* linked only as a pair */
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 5);
    /* F2 gone from the datapath and punted again: its record is replaced, not doubled */
    struct dp_flow_key f2;
    memset(&f2, 0, sizeof f2);
    f2.vrf = 1;
    be32_store(f2.src, 0xc0a80101u);
    be32_store(f2.dst, 0xc0a80102u);
    f2.sport = 2;
    f2.dport = 7000;
    f2.proto = 17;
    f2.family = 4;
    assert_int_equal(dp_flow_del(f->dp, &f2), 0);
    first_packet(f, 0xc0a80102u, 2, &rc);
    assert_int_equal(rc, 0);
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 5);
    assert_int_equal(agent_flow_age(f->core, 10900), 0);
    /* F1's reverse direction counted packets: active at 10600 */
    f->now = 10600;
    agent_time_set(f->core, f->now);
    struct dp_flow_key k;
    memset(&k, 0, sizeof k);
    k.vrf = 1;
    be32_store(k.src, 0xc0a80102u);
    be32_store(k.dst, 0xc0a80101u);
    k.sport = 7000;
    k.dport = 1;
    k.proto = 17;
    k.family = 4;
    agent_flow_seen(f->core, &k, 3);
    k.dport = 2;
    agent_flow_seen(f->core, &k, 0); /* F2 reported with no new packets */
    assert_int_equal(agent_flow_age(f->core, 11500), 2); /* F2 and D */
    assert_true(dp_has_flow(f, 0xc0a80101u, 0xc0a80102u, 1, 7000));
    assert_true(dp_has_flow(f, 0xc0a80102u, 0xc0a80101u, 7000, 1));
    assert_false(dp_has_flow(f, 0xc0a80101u, 0xc0a80102u, 2, 7000));
    assert_false(dp_has_flow(f, 0xc0a80102u, 0xc0a80101u, 7000, 2));
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 2);
    /* the same count again is no activity */
    f->now = 11000;
    agent_time_set(f->core, f->now);
    k.dport = 1;
    agent_flow_seen(f->core, &k, 3);
    assert_int_equal(agent_flow_age(f->core, 11600), 0);
    assert_int_equal(agent_flow_age(f->core, 11601), 1);
    assert_false(dp_has_flow(f, 0xc0a80101u, 0xc0a80102u, 1, 7000));
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 0);
    assert_int_equal(st.flows_aged, 3);
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

static void test_flow_aging_idle(void **state)
{
    (void)state;
    flow_aging_idle(false);
}

static void test_flow_aging_idle_pairs(void **state)
{
    (void)state;
    flow_aging_idle(true);
}

/* Many flows through the table: growth, deletion with backward shifts and
 * re-use keep every recorded flow findable (aging removes exactly those). */
static void test_flow_table_churn(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(FABRIC_A, 0, 100);
    int rc;
    agent_time_set(f->core, 0);
    for (int i = 0; i < 1500; i++) {
        first_packet(f, 0xc0a80102u, (uint16_t)(10000 + i), &rc);
        assert_int_equal(rc, 0);
    }
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 3000);
    /* odd flows active later */
    agent_time_set(f->core, 90);
    for (int i = 1; i < 1500; i += 2) {
        struct dp_flow_key k;
        memset(&k, 0, sizeof k);
        k.vrf = 1;
        be32_store(k.src, 0xc0a80101u);
        be32_store(k.dst, 0xc0a80102u);
        k.sport = (uint16_t)(10000 + i);
        k.dport = 7000;
        k.proto = 17;
        k.family = 4;
        agent_flow_seen(f->core, &k, 1);
    }
    size_t aged = agent_flow_age(f->core, 150);
    aged += agent_flow_age(f->core, 150); /* a pass may miss entries shifted behind it */
    assert_int_equal(aged, 750);
    for (int i = 0; i < 1500; i++) {
        assert_int_equal(dp_has_flow(f, 0xc0a80101u, 0xc0a80102u, (uint16_t)(10000 + i), 7000), i % 2 == 1);
    }
    assert_int_equal(agent_flow_age(f->core, 191), 750);
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 0);
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

/* A table past 4 MiB (its storage mapped and populated on its own, grown
 * by doubling through two such mappings): 17,000 flow pairs recorded and
 * installed, every one findable, all aged at once. */
static void test_flow_table_large(void **state)
{
    (void)state;
    fx_dp_flows = 65536;
    struct agent_fx *f = fx_new(FABRIC_A, 0, 100);
    fx_dp_flows = 4096;
    agent_flow_pairs_set(f->core, true);
    int rc;
    agent_time_set(f->core, 0);
    const int n = 17000;
    for (int i = 0; i < n; i++) {
        first_packet(f, 0xc0a80102u, (uint16_t)(20000 + i), &rc);
        assert_int_equal(rc, 0);
    }
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 2 * n);
    assert_int_equal(f->msgs[VR_MSG_FLOW_PAIR], n);
    for (int i = 0; i < n; i += 97) {
        assert_true(dp_has_flow(f, 0xc0a80101u, 0xc0a80102u, (uint16_t)(20000 + i), 7000));
        assert_true(dp_has_flow(f, 0xc0a80102u, 0xc0a80101u, 7000, (uint16_t)(20000 + i)));
    }
    size_t aged = 0;
    for (int pass = 0; pass < 4 && aged < (size_t)n; pass++) {
        aged += agent_flow_age(f->core, 1000); /* a pass may miss entries shifted behind it */
    }
    assert_int_equal(aged, n);
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 0);
    assert_false(dp_has_flow(f, 0xc0a80101u, 0xc0a80102u, 20000, 7000));
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ecmp_composite_and_sticky_members),
        cmocka_unit_test(test_inet6_route_programmed),
        cmocka_unit_test(test_evpn_mac_bridges_between_agents),
        cmocka_unit_test(test_flow_limit_drops_and_counts),
        cmocka_unit_test(test_flow_aging_idle),
        cmocka_unit_test(test_flow_aging_idle_pairs),
        cmocka_unit_test(test_flow_table_churn),
        cmocka_unit_test(test_flow_table_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the agent core (vrouter/agent): every datapath request the
 * core makes is applied to a real forwarding core (vrouter/dp), so the
 * tests check forwarding, not message lists: a port's packets reach a
 * remote agent's tunnel with the chosen encapsulation and label; both
 * control nodes' copies give one route, the better copy wins and losing
 * one copy keeps forwarding; a lost node's copies stay programmed (stale)
 * until its End-of-RIB or the stale expiry; a new generation re-installs
 * and sweeps only what it did not re-install; flow misses install the
 * forward and reverse flows or a drop, and the re-injected frame, run
 * through the datapath's agent interface, leaves on the right port with
 * the right bytes. Also the port text form (ctl and state file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/agent/agent_fixture.h"

#define FABRIC_IP 0x0a630001u /* 10.99.0.1 */
#define REMOTE_IP 0x0a630002u /* 10.99.0.2 */
#define REMOTE2_IP 0x0a630003u

static void fx_core(struct agent_fx *f, uint32_t gen, const char *encaps)
{
    struct agent_config cfg = {.fabric_ip = FABRIC_IP, .node_count = 2, .generation = gen};
    for (const char *e = encaps; *e; e++) {
        cfg.encaps[cfg.encap_count++] = *e == 'u' ? DP_ENCAP_MPLS_UDP : *e == 'g' ? DP_ENCAP_MPLS_GRE : DP_ENCAP_VXLAN;
    }
    agent_fx_core(f, &cfg);
}

/* A fixture with two control nodes, generation 'gen' and the encapsulations
 * 'encaps' in order ('u' MPLSoUDP, 'g' MPLSoGRE, else VXLAN). */
static struct agent_fx *fx_new(uint32_t gen, const char *encaps)
{
    struct dp_config dc;
    agent_fx_dp_config(&dc);
    struct agent_fx *f = agent_fx_new(&dc);
    fx_core(f, gen, encaps);
    return f;
}

/* A route item for 'ri' from a remote agent at 'dip'. */
static struct xmpp_route_item item(uint32_t prefix, uint8_t plen, uint32_t dip, uint32_t label, unsigned encaps,
                                   uint32_t vni)
{
    struct xmpp_route_item it;
    memset(&it, 0, sizeof it);
    it.entry.family = XMPP_FAMILY_INET;
    it.entry.key.prefix.version = 4;
    be32_store(it.entry.key.prefix.addr, prefix);
    it.entry.key.plen = plen;
    it.entry.next_hop_count = 1;
    struct xmpp_nexthop *nh = &it.entry.next_hops[0];
    nh->address.version = 4;
    be32_store(nh->address.addr, dip);
    nh->label = label;
    nh->encaps = encaps;
    nh->has_vni = vni != 0;
    nh->vni = vni;
    return it;
}

static void route_in(struct agent_fx *f, int node, const char *ri, struct xmpp_route_item it)
{
    agent_route_item(f->core, node, ri, XMPP_FAMILY_INET, &it);
}

static void retract(struct agent_fx *f, int node, const char *ri, uint32_t prefix, uint8_t plen)
{
    struct xmpp_route_item it = item(prefix, plen, 0, 0, 0, 0);
    it.retract = true;
    agent_route_item(f->core, node, ri, XMPP_FAMILY_INET, &it);
}

/* The datapath's next hop for 'ip' in 'vrf' (zeroed when none). */
static struct dp_nh lookup(struct agent_fx *f, uint32_t vrf, uint32_t ip)
{
    uint8_t a[16] = {0};
    be32_store(a, ip);
    struct dp_nh nh;
    memset(&nh, 0, sizeof nh);
    uint32_t id = dp_route_lookup(f->dp, vrf, 4, a);
    if (id) {
        assert_int_equal(dp_nh_get(f->dp, id, &nh), 0);
    }
    return nh;
}

#define VM1 "vm1 tap=tap1 ri=red mac=02:00:00:00:01:01 ip=192.168.1.1/24 gw=192.168.1.254 vni=5001"
#define VM3 "vm3 tap=tap3 ri=blue mac=02:00:00:00:02:03 ip=192.168.2.3/24 gw=192.168.2.254"

/* ---- ports ---- */

static void test_port_add_installs_and_publishes(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "ugv");
    agent_node_up(f->core, 0);
    assert_int_equal(f->eors[0], 1);
    agent_fx_port_add(f, VM1);
    assert_int_equal(f->dp_errors, 0);
    const struct agent_port *p = agent_port_find(f->core, "vm1");
    assert_non_null(p);
    assert_int_equal(p->spec.ifindex, AGENT_IF_FIRST_PORT);
    assert_int_equal(p->spec.vrf, 1);
    struct dp_if dif;
    assert_int_equal(dp_if_get(f->dp, p->spec.ifindex, &dif), 0);
    assert_int_equal(dif.type, DP_IF_VM);
    assert_true(dif.flags & DP_IF_POLICY);
    assert_int_equal(dif.vrf, 1);
    assert_int_equal(dif.gw_ip4, 0xc0a801feu);
    assert_int_equal(dp_if_get(f->dp, AGENT_IF_AGENT, &dif), 0);
    assert_int_equal(dif.type, DP_IF_AGENT);
    assert_int_equal(dp_if_get(f->dp, AGENT_IF_FABRIC, &dif), 0);
    assert_int_equal(dif.ip4, FABRIC_IP);
    /* local /32 -> the port, label -> the port, VNI -> the VRF */
    struct dp_nh nh = lookup(f, 1, 0xc0a80101u);
    assert_int_equal(nh.type, DP_NH_IF);
    assert_int_equal(nh.ifindex, p->spec.ifindex);
    struct dp_label l;
    assert_int_equal(dp_label_get(f->dp, p->label, &l), 0);
    assert_int_equal(l.nh, p->nh);
    struct dp_vni v;
    assert_int_equal(dp_vni_get(f->dp, 5001, &v), 0);
    assert_int_equal(v.vrf, 1);
    /* subscribed once, inet + EVPN published to the node that is up only */
    assert_int_equal(f->subs[0], 1);
    assert_int_equal(f->subs[1], 0);
    assert_int_equal(f->pub_count, 2);
    assert_int_equal(f->pubs[0].family, XMPP_FAMILY_INET);
    assert_int_equal(f->pubs[1].family, XMPP_FAMILY_EVPN);
    assert_memory_equal(f->pubs[1].key.mac, p->spec.mac, 6);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f->pubs[i].key.plen, 32);
        assert_int_equal(be32_load(f->pubs[i].key.prefix.addr), 0xc0a80101u);
        assert_int_equal(be32_load(f->pubs[i].nh.address.addr), FABRIC_IP);
        assert_int_equal(f->pubs[i].nh.label, i == 0 ? p->label : p->l2_label); /* EVPN: the bridging label */
        assert_int_equal(f->pubs[i].nh.vni, 5001);
        assert_int_equal(f->pubs[i].nh.encaps, XMPP_ENCAP_UDP | XMPP_ENCAP_GRE | XMPP_ENCAP_VXLAN);
    }
    /* node 1 comes up later: it gets the subscription, both routes, EoR */
    agent_node_up(f->core, 1);
    assert_int_equal(f->subs[1], 1);
    assert_int_equal(f->pub_count, 4);
    assert_int_equal(f->pubs[3].node, 1);
    assert_int_equal(f->eors[1], 1);
    /* conflicts change nothing */
    struct agent_port_spec s = agent_fx_spec(VM1);
    assert_int_equal(agent_port_add(f->core, &s), AGENT_EEXIST);
    s = agent_fx_spec("vm9 tap=tap1 ri=red mac=02:00:00:00:01:09 ip=192.168.1.9/24 gw=192.168.1.254");
    assert_int_equal(agent_port_add(f->core, &s), AGENT_ECONFLICT);
    s = agent_fx_spec("vm9 tap=tap9 ri=red mac=02:00:00:00:01:09 ip=192.168.1.1/24 gw=192.168.1.254");
    assert_int_equal(agent_port_add(f->core, &s), AGENT_ECONFLICT);
    s = agent_fx_spec("vm9 tap=tap9 ri=green mac=02:00:00:00:01:09 ip=192.168.1.9/24 gw=192.168.1.254 vrf=1");
    assert_int_equal(agent_port_add(f->core, &s), AGENT_ECONFLICT);
    assert_int_equal(agent_port_count(f->core), 1);
    agent_fx_free(f);
}

static void test_port_del_removes_everything(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "g");
    agent_node_up(f->core, 0);
    agent_fx_port_add(f, VM1);
    agent_fx_port_add(f, VM3);
    route_in(f, 0, "blue", item(0xc0a80207u, 32, REMOTE_IP, 77, XMPP_ENCAP_GRE, 0));
    assert_int_equal(lookup(f, 2, 0xc0a80207u).type, DP_NH_TUNNEL);
    f->pub_count = 0;
    assert_int_equal(agent_port_del(f->core, "vm3"), 0);
    assert_int_equal(agent_port_del(f->core, "vm3"), AGENT_ENOENT);
    assert_int_equal(f->dp_errors, 0);
    /* withdrawn (inet, EVPN), unsubscribed, VRF gone with its routes and the tunnel */
    assert_int_equal(f->pub_count, 2);
    assert_true(f->pubs[0].withdraw && f->pubs[1].withdraw);
    assert_int_equal(f->unsubs[0], 1);
    struct dp_vrf vrf;
    assert_int_equal(dp_vrf_get(f->dp, 2, &vrf), VR_ENOENT);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.tunnel_nhs, 0);
    assert_int_equal(st.instances, 1);
    uint32_t pos = 0, n = 0;
    struct dp_if dif;
    while (dp_if_next(f->dp, &pos, &dif) == 0) {
        n++;
    }
    assert_int_equal(n, 3); /* agent, fabric, vm1 */
    /* the freed ifindex and VRF are reused */
    agent_fx_port_add(f, VM3);
    assert_int_equal(agent_port_find(f->core, "vm3")->spec.ifindex, AGENT_IF_FIRST_PORT + 1);
    assert_int_equal(agent_port_find(f->core, "vm3")->spec.vrf, 2);
    agent_fx_free(f);
}

/* ---- routes from the control nodes ---- */

static void test_best_path_and_encap(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "ugv");
    agent_node_up(f->core, 0);
    agent_node_up(f->core, 1);
    agent_fx_port_add(f, VM1);
    /* both nodes send the same route: one tunnel, MPLSoUDP first in our order */
    struct xmpp_route_item it = item(0xc0a80102u, 32, REMOTE_IP, 200, XMPP_ENCAP_GRE | XMPP_ENCAP_UDP, 0);
    route_in(f, 0, "red", it);
    route_in(f, 1, "red", it);
    struct dp_nh nh = lookup(f, 1, 0xc0a80102u);
    assert_int_equal(nh.type, DP_NH_TUNNEL);
    assert_int_equal(nh.encap, DP_ENCAP_MPLS_UDP);
    assert_int_equal(nh.label, 200);
    assert_int_equal(nh.dip, REMOTE_IP);
    assert_int_equal(nh.sip, FABRIC_IP);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.routes, 1);
    assert_int_equal(st.tunnel_nhs, 1);
    /* node 1's copy prefers another endpoint with a higher local-pref */
    struct xmpp_route_item better = item(0xc0a80102u, 32, REMOTE2_IP, 300, XMPP_ENCAP_GRE, 0);
    better.entry.has_local_preference = true;
    better.entry.local_preference = 200;
    route_in(f, 1, "red", better);
    nh = lookup(f, 1, 0xc0a80102u);
    assert_int_equal(nh.dip, REMOTE2_IP);
    assert_int_equal(nh.encap, DP_ENCAP_MPLS_GRE);
    assert_int_equal(nh.label, 300);
    agent_status_get(f->core, &st);
    assert_int_equal(st.tunnel_nhs, 1); /* the unused tunnel was released */
    /* equal local-pref: the higher sequence number wins, then node 0 */
    better.entry.local_preference = 100;
    better.entry.sequence_number = 5;
    route_in(f, 1, "red", better);
    assert_int_equal(lookup(f, 1, 0xc0a80102u).dip, REMOTE2_IP);
    better.entry.sequence_number = 0;
    route_in(f, 1, "red", better);
    assert_int_equal(lookup(f, 1, 0xc0a80102u).dip, REMOTE_IP);
    /* node 0 withdraws: node 1's copy takes over; node 1 withdraws: gone */
    retract(f, 0, "red", 0xc0a80102u, 32);
    assert_int_equal(lookup(f, 1, 0xc0a80102u).dip, REMOTE2_IP);
    retract(f, 1, "red", 0xc0a80102u, 32);
    assert_int_equal(lookup(f, 1, 0xc0a80102u).type, DP_NH_NONE);
    agent_status_get(f->core, &st);
    assert_int_equal(st.routes, 0);
    assert_int_equal(st.tunnel_nhs, 0);
    /* VXLAN needs a VNI; a route offering only VXLAN without one is not programmed */
    route_in(f, 0, "red", item(0xc0a80103u, 32, REMOTE_IP, 201, XMPP_ENCAP_VXLAN, 0));
    assert_int_equal(lookup(f, 1, 0xc0a80103u).type, DP_NH_NONE);
    route_in(f, 0, "red", item(0xc0a80103u, 32, REMOTE_IP, 201, XMPP_ENCAP_VXLAN, 5001));
    nh = lookup(f, 1, 0xc0a80103u);
    assert_int_equal(nh.encap, DP_ENCAP_VXLAN);
    assert_int_equal(nh.label, 5001);
    assert_memory_equal(nh.dmac, agent_fx_router_mac, 6);
    /* our own routes reflected back, unknown instances: ignored */
    route_in(f, 0, "red", item(0xc0a80104u, 32, FABRIC_IP, 17, XMPP_ENCAP_GRE, 0));
    route_in(f, 0, "green", item(0xc0a80105u, 32, REMOTE_IP, 17, XMPP_ENCAP_GRE, 0));
    assert_int_equal(lookup(f, 1, 0xc0a80104u).type, DP_NH_NONE);
    /* a remote copy of a local port's address never overrides the port */
    route_in(f, 0, "red", item(0xc0a80101u, 32, REMOTE_IP, 18, XMPP_ENCAP_GRE, 0));
    assert_int_equal(lookup(f, 1, 0xc0a80101u).type, DP_NH_IF);
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(agent_routes_format(f->core, "red", &out), 0);
    assert_int_equal(buf_put_u8(&out, 0), 0);
    assert_non_null(strstr((char *)out.data, "inet 192.168.1.1/32 local port=vm1"));
    assert_non_null(strstr((char *)out.data, "inet 192.168.1.3/32 node0=10.99.0.2,label=201,vni=5001"));
    assert_int_equal(agent_routes_format(f->core, "nope", &out), AGENT_ENOENT);
    buf_destroy(&out);
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

static void test_headless_stale_and_eor(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "g");
    agent_node_up(f->core, 0);
    agent_node_up(f->core, 1);
    agent_fx_port_add(f, VM1);
    for (int n = 0; n < 2; n++) {
        route_in(f, n, "red", item(0xc0a80102u, 32, REMOTE_IP, 200, XMPP_ENCAP_GRE, 0));
        route_in(f, n, "red", item(0xc0a80103u, 32, REMOTE_IP, 201, XMPP_ENCAP_GRE, 0));
    }
    size_t dels = f->msgs[VR_MSG_ROUTE_DEL];
    /* both nodes lost: everything stays programmed, stale */
    agent_node_down(f->core, 0);
    agent_node_down(f->core, 1);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.stale_copies, 4);
    assert_int_equal(st.programmed, 2);
    assert_int_equal(f->msgs[VR_MSG_ROUTE_DEL], dels);
    assert_int_equal(lookup(f, 1, 0xc0a80103u).type, DP_NH_TUNNEL);
    /* node 0 returns with only .2: after its End-of-RIB, .3 loses node 0's
     * copy but node 1's stale copy still holds it */
    agent_node_up(f->core, 0);
    route_in(f, 0, "red", item(0xc0a80102u, 32, REMOTE_IP, 200, XMPP_ENCAP_GRE, 0));
    agent_node_eor(f->core, 0);
    assert_int_equal(lookup(f, 1, 0xc0a80103u).type, DP_NH_TUNNEL);
    agent_status_get(f->core, &st);
    assert_int_equal(st.stale_copies, 2);
    /* the stale timer: node 1's stale copies go, .3 with them */
    assert_int_equal(agent_stale_expire(f->core), 2);
    assert_int_equal(lookup(f, 1, 0xc0a80103u).type, DP_NH_NONE);
    assert_int_equal(lookup(f, 1, 0xc0a80102u).type, DP_NH_TUNNEL);
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

/* A control node restarts and resumes (docs/xmpp.md "Resume after a
 * control-node restart"): its copies went stale when it was lost; its
 * IN_SYNC for an instance makes exactly that instance's copies from that
 * node fresh again (nothing is reprogrammed away, the other instance and
 * the other node's copies stay as they are), so its End-of-RIB sweeps
 * nothing there; an unknown instance or node is ignored. */
static void test_node_in_sync_unstales(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "g");
    agent_node_up(f->core, 0);
    agent_node_up(f->core, 1);
    agent_fx_port_add(f, VM1);
    agent_fx_port_add(f, VM3);
    route_in(f, 0, "red", item(0xc0a80102u, 32, REMOTE_IP, 200, XMPP_ENCAP_GRE, 0));
    route_in(f, 0, "red", item(0xc0a80103u, 32, REMOTE_IP, 201, XMPP_ENCAP_GRE, 0));
    route_in(f, 0, "blue", item(0xc0a80207u, 32, REMOTE_IP, 77, XMPP_ENCAP_GRE, 0));
    route_in(f, 1, "red", item(0xc0a80102u, 32, REMOTE_IP, 200, XMPP_ENCAP_GRE, 0));
    agent_node_down(f->core, 0);
    agent_node_down(f->core, 1);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.stale_copies, 4);
    size_t dels = f->msgs[VR_MSG_ROUTE_DEL];
    agent_node_up(f->core, 0);
    agent_node_in_sync(f->core, 0, "red");
    agent_status_get(f->core, &st);
    assert_int_equal(st.stale_copies, 2); /* node 0's blue copy, node 1's red copy */
    agent_node_in_sync(f->core, 0, "nope");
    agent_node_in_sync(f->core, 7, "red");
    agent_node_in_sync(f->core, -1, "red");
    agent_status_get(f->core, &st);
    assert_int_equal(st.stale_copies, 2);
    /* node 0's End-of-RIB: red stays (fresh), its blue copy goes (never confirmed) */
    agent_node_eor(f->core, 0);
    assert_int_equal(lookup(f, 1, 0xc0a80102u).type, DP_NH_TUNNEL);
    assert_int_equal(lookup(f, 1, 0xc0a80103u).type, DP_NH_TUNNEL);
    agent_status_get(f->core, &st);
    assert_int_equal(st.stale_copies, 1); /* node 1's red copy, until node 1 returns */
    assert_int_equal(f->msgs[VR_MSG_ROUTE_DEL], dels + 1); /* blue's .7 only */
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

/* An agent restart: the datapath keeps the old generation's entries; the
 * new core re-adds the port and re-learns one of two routes; nothing is
 * swept before every node that is up sent End-of-RIB; then exactly the
 * unrefreshed route and its tunnel go, and all that remains is the new
 * generation's. */
static void test_restart_generation_sweep(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "g");
    agent_node_up(f->core, 0);
    agent_fx_port_add(f, VM1);
    route_in(f, 0, "red", item(0xc0a80102u, 32, REMOTE_IP, 200, XMPP_ENCAP_GRE, 0));
    route_in(f, 0, "red", item(0xc0a80103u, 32, REMOTE2_IP, 201, XMPP_ENCAP_GRE, 0));
    uint32_t old_nh = lookup(f, 1, 0xc0a80102u).id;
    agent_core_free(f->core);
    f->core = NULL;
    fx_core(f, 2, "g");
    struct agent_port_spec s = agent_fx_spec(VM1 " ifindex=2 vrf=1");
    assert_int_equal(agent_port_add(f->core, &s), 0);
    agent_node_up(f->core, 0);
    agent_node_up(f->core, 1);
    route_in(f, 0, "red", item(0xc0a80102u, 32, REMOTE_IP, 200, XMPP_ENCAP_GRE, 0));
    /* the new generation's tunnel ids do not overwrite the old ones */
    struct dp_nh nh = lookup(f, 1, 0xc0a80102u);
    assert_int_not_equal(nh.id, old_nh);
    assert_int_not_equal((nh.id - AGENT_NH_TUNNEL_BASE) / AGENT_NH_TUNNEL_SPAN,
                         (old_nh - AGENT_NH_TUNNEL_BASE) / AGENT_NH_TUNNEL_SPAN);
    assert_int_equal(lookup(f, 1, 0xc0a80103u).type, DP_NH_TUNNEL); /* old, still forwarding */
    agent_node_eor(f->core, 0);
    assert_false(agent_generation_swept(f->core)); /* node 1 is up and has not sent it */
    assert_int_equal(f->msgs[VR_MSG_SWEEP], 0);
    agent_node_eor(f->core, 1);
    assert_true(agent_generation_swept(f->core));
    assert_int_equal(f->swept, 3); /* the stale route and both old tunnels */
    assert_int_equal(lookup(f, 1, 0xc0a80103u).type, DP_NH_NONE);
    assert_int_equal(lookup(f, 1, 0xc0a80102u).type, DP_NH_TUNNEL);
    assert_int_equal(lookup(f, 1, 0xc0a80101u).type, DP_NH_IF);
    /* every remaining entry is of generation 2 */
    uint32_t pos = 0;
    struct dp_route r;
    while (dp_route_next(f->dp, &pos, &r) == 0) {
        assert_int_equal(r.gen, 2);
    }
    pos = 0;
    struct dp_nh n;
    while (dp_nh_next(f->dp, &pos, &n) == 0) {
        assert_int_equal(n.gen, 2);
    }
    agent_generation_sweep(f->core); /* once only */
    assert_int_equal(f->msgs[VR_MSG_SWEEP], 1);
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

/* ---- punts and flows ---- */

/* A punted ICMP echo from 'src' to 'dst' received on 'ifindex'. */
static size_t punted(uint8_t *b, uint8_t reason, uint32_t ifindex, uint32_t vrf, uint32_t src, uint32_t dst)
{
    memset(b, 0, 16 + 14 + 28);
    be16_store(b, DP_PUNT_MAGIC);
    b[2] = DP_PUNT_VERSION;
    b[3] = reason;
    be32_store(b + 4, ifindex);
    be32_store(b + 8, vrf);
    be32_store(b + 12, 7);
    uint8_t *e = b + 16;
    memcpy(e, agent_fx_router_mac, 6);
    e[6] = 0x02;
    e[11] = 0x01;
    be16_store(e + 12, 0x0800);
    uint8_t *ip = e + 14;
    ip[0] = 0x45;
    be16_store(ip + 2, 28);
    ip[8] = 64;
    ip[9] = 1;
    be32_store(ip + 12, src);
    be32_store(ip + 16, dst);
    ip[20] = 8; /* echo request */
    return 16 + 14 + 28;
}

/* Runs the re-injection frame through the datapath's agent interface. */
/* A flow miss of 'src' -> 'dst' punted from 'ifindex' in 'vrf' and decided
 * by the core into 'd' (the re-injection appended to 're'); fails the test
 * when the punt does not parse or the core refuses it. */
static void flow_miss(struct agent_fx *f, uint32_t ifindex, uint32_t vrf, uint32_t src, uint32_t dst,
                      struct agent_flow_decision *d, struct buf *re)
{
    uint8_t b[128];
    struct agent_punt p;
    size_t n = punted(b, DP_PUNT_FLOW_MISS, ifindex, vrf, src, dst);
    assert_int_equal(agent_punt_parse(b, n, &p), 0);
    assert_int_equal(agent_flow_miss(f->core, &p, d, re), 0);
}

static void inject(struct agent_fx *f, const struct buf *b, struct dp_out *out, uint8_t *copy, uint32_t *copy_size)
{
    static uint8_t mem[2048];
    assert_true(b->size + DP_HEADROOM <= sizeof mem);
    memcpy(mem + DP_HEADROOM, b->data, b->size);
    struct dp_pkt pkt = {.buf = mem, .size = sizeof mem, .off = DP_HEADROOM, .len = (uint32_t)b->size};
    dp_rx(f->dp, AGENT_IF_AGENT, &pkt, 2, out);
    assert_int_equal(out->verdict, DP_VERDICT_TX);
    assert_int_equal(out->count, 1);
    *copy_size = dp_tx_copy(&pkt, &out->tx[0], copy, 2048);
    assert_true(*copy_size > 0);
}

/* A restart while no control node answers: the new core adopts the old
 * generation's remote routes from the datapath (ARP answers, new flows,
 * re-installed under the new generation); the sweep after End-of-RIB keeps
 * what a control node confirmed and removes the rest. */
static void test_restart_adopts_datapath_routes(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "u");
    agent_node_up(f->core, 0);
    agent_fx_port_add(f, VM1);
    route_in(f, 0, "red", item(0xc0a80102u, 32, REMOTE_IP, 200, XMPP_ENCAP_UDP, 0));
    route_in(f, 0, "red", item(0xc0a80103u, 32, REMOTE2_IP, 201, XMPP_ENCAP_UDP, 0));
    agent_core_free(f->core);
    fx_core(f, 2, "u");
    struct agent_port_spec s = agent_fx_spec(VM1 " ifindex=2 vrf=1");
    assert_int_equal(agent_port_add(f->core, &s), 0);
    assert_false(agent_ip4_known(f->core, 1, 0xc0a80103u));
    uint32_t pos = 0;
    struct dp_route r;
    size_t adopted = 0;
    struct dp_route routes[16];
    size_t n = 0;
    while (dp_route_next(f->dp, &pos, &r) == 0 && n < 16) {
        routes[n++] = r;
    }
    for (size_t i = 0; i < n; i++) {
        struct dp_nh nh;
        assert_int_equal(dp_nh_get(f->dp, routes[i].nh, &nh), 0);
        adopted += agent_route_adopt(f->core, &routes[i], &nh);
    }
    assert_int_equal(adopted, 2); /* not the local /32 */
    assert_true(agent_ip4_known(f->core, 1, 0xc0a80103u));
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.adopted, 2);
    /* re-installed under generation 2 with the same encapsulation and label */
    struct dp_nh nh = lookup(f, 1, 0xc0a80103u);
    assert_int_equal(nh.gen, 2);
    assert_int_equal(nh.encap, DP_ENCAP_MPLS_UDP);
    assert_int_equal(nh.label, 201);
    assert_int_equal(nh.dip, REMOTE2_IP);
    /* a new flow toward an adopted route is forwarded */
    uint8_t b[128];
    size_t len = punted(b, DP_PUNT_FLOW_MISS, 2, 1, 0xc0a80101u, 0xc0a80103u);
    struct agent_punt p;
    struct agent_flow_decision d;
    struct buf re;
    buf_init(&re, 0);
    assert_int_equal(agent_punt_parse(b, len, &p), 0);
    assert_int_equal(agent_flow_miss(f->core, &p, &d, &re), 0);
    assert_true(d.forward);
    assert_true(re.size > 0);
    buf_destroy(&re);
    /* a node confirms .2 only; its End-of-RIB sweeps: .3 goes */
    agent_node_up(f->core, 0);
    route_in(f, 0, "red", item(0xc0a80102u, 32, REMOTE_IP, 200, XMPP_ENCAP_UDP, 0));
    agent_node_eor(f->core, 0);
    assert_true(agent_generation_swept(f->core));
    assert_int_equal(lookup(f, 1, 0xc0a80103u).type, DP_NH_NONE);
    assert_int_equal(lookup(f, 1, 0xc0a80102u).label, 200);
    agent_status_get(f->core, &st);
    assert_int_equal(st.adopted, 0);
    assert_int_equal(st.routes, 1);
    /* nothing adopted after the sweep */
    assert_false(agent_route_adopt(f->core, &routes[0], &nh));
    pos = 0;
    while (dp_route_next(f->dp, &pos, &r) == 0) {
        assert_int_equal(r.gen, 2);
    }
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

/* A flow miss the datapath holds (punted on its connection: no
 * re-injection buffer): the same decision and flows, nothing built. */
static void test_flow_miss_held_by_datapath(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "gv");
    agent_node_up(f->core, 0);
    agent_fx_port_add(f, VM1);
    agent_fx_port_add(f, "vm2 tap=tap2 ri=red mac=02:00:00:00:01:02 ip=192.168.1.2/24 gw=192.168.1.254");
    route_in(f, 0, "red", item(0xc0a80105u, 32, REMOTE_IP, 200, XMPP_ENCAP_GRE, 0));
    uint8_t b[128];
    struct agent_punt p;
    struct agent_flow_decision d;
    struct dp_flow fl;
    const uint32_t dsts[] = {0xc0a80102u, 0xc0a80105u}; /* a local port, a remote route */
    for (int k = 0; k < 2; k++) {
        size_t n = punted(b, DP_PUNT_FLOW_MISS, 2, 1, 0xc0a80101u, dsts[k]);
        assert_int_equal(agent_punt_parse(b, n, &p), 0);
        assert_int_equal(agent_flow_miss(f->core, &p, &d, NULL), 0);
        assert_true(d.forward);
        assert_int_equal(dp_flow_get(f->dp, &d.key, &fl), 0);
        assert_int_equal(fl.action.type, DP_FLOW_FORWARD);
        assert_int_equal(dp_flow_get(f->dp, &d.reverse, &fl), 0);
    }
    /* an unknown destination: a drop flow, as from the punt interface */
    size_t n = punted(b, DP_PUNT_FLOW_MISS, 2, 1, 0xc0a80101u, 0x0a0a0a0au);
    assert_int_equal(agent_punt_parse(b, n, &p), 0);
    assert_int_equal(agent_flow_miss(f->core, &p, &d, NULL), 0);
    assert_false(d.forward);
    assert_int_equal(dp_flow_get(f->dp, &d.key, &fl), 0);
    assert_int_equal(fl.action.type, DP_FLOW_DROP);
    agent_fx_free(f);
}

static void test_flow_miss_local_remote_drop(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "gv");
    agent_node_up(f->core, 0);
    agent_fx_port_add(f, VM1);
    agent_fx_port_add(f, "vm2 tap=tap2 ri=red mac=02:00:00:00:01:02 ip=192.168.1.2/24 gw=192.168.1.254");
    route_in(f, 0, "red", item(0xc0a80105u, 32, REMOTE_IP, 200, XMPP_ENCAP_GRE, 0));
    uint8_t b[128], tx[2048];
    uint32_t tx_size;
    struct agent_punt p;
    struct agent_flow_decision d;
    struct buf re;
    struct dp_out out;
    buf_init(&re, 0);
    /* local destination: forward + reverse; re-injected to vm2, routed */
    size_t n = punted(b, DP_PUNT_FLOW_MISS, 2, 1, 0xc0a80101u, 0xc0a80102u);
    assert_int_equal(agent_punt_parse(b, n, &p), 0);
    assert_int_equal(p.reason, DP_PUNT_FLOW_MISS);
    assert_int_equal(p.flow, 7);
    assert_int_equal(agent_flow_miss(f->core, &p, &d, &re), 0);
    assert_true(d.forward);
    struct dp_flow fl;
    assert_int_equal(dp_flow_get(f->dp, &d.key, &fl), 0);
    assert_int_equal(fl.action.type, DP_FLOW_FORWARD);
    assert_int_equal(dp_flow_get(f->dp, &d.reverse, &fl), 0);
    assert_int_equal(be32_load(fl.key.src), 0xc0a80102u);
    inject(f, &re, &out, tx, &tx_size);
    assert_int_equal(out.tx[0].ifindex, agent_port_find(f->core, "vm2")->spec.ifindex);
    assert_int_equal(tx_size, 14 + 28);
    const uint8_t vm2_mac[6] = {2, 0, 0, 0, 1, 2};
    assert_memory_equal(tx, vm2_mac, 6);
    assert_memory_equal(tx + 6, agent_fx_router_mac, 6);
    assert_int_equal(tx[14 + 8], 63); /* TTL decremented */
    /* remote destination: MPLSoGRE to 10.99.0.2 with label 200 */
    buf_reset(&re);
    flow_miss(f, 2, 1, 0xc0a80101u, 0xc0a80105u, &d, &re);
    assert_true(d.forward);
    inject(f, &re, &out, tx, &tx_size);
    assert_int_equal(out.tx[0].ifindex, AGENT_IF_FABRIC);
    assert_int_equal(tx_size, 14 + 20 + 4 + 4 + 28);
    const uint8_t *o = tx + 14;
    assert_int_equal(o[9], 47);
    assert_int_equal(be32_load(o + 12), FABRIC_IP);
    assert_int_equal(be32_load(o + 16), REMOTE_IP);
    assert_int_equal(be16_load(o + 2), 20 + 8 + 28);
    assert_int_equal(be16_load(o + 22), 0x8847);
    assert_int_equal(be32_load(o + 24) >> 12, 200);
    assert_int_equal(be32_load(o + 40), 0xc0a80101u); /* inner source */
    /* the same with VXLAN first in the order and a VNI on the route */
    route_in(f, 0, "red", item(0xc0a80106u, 32, REMOTE_IP, 200, XMPP_ENCAP_GRE | XMPP_ENCAP_VXLAN, 5001));
    buf_reset(&re);
    agent_fx_free(f);
    f = fx_new(1, "vg");
    agent_node_up(f->core, 0);
    agent_fx_port_add(f, VM1);
    route_in(f, 0, "red", item(0xc0a80106u, 32, REMOTE_IP, 200, XMPP_ENCAP_GRE | XMPP_ENCAP_VXLAN, 5001));
    flow_miss(f, 2, 1, 0xc0a80101u, 0xc0a80106u, &d, &re);
    inject(f, &re, &out, tx, &tx_size);
    assert_int_equal(tx_size, 14 + 20 + 8 + 8 + 14 + 28);
    o = tx + 14;
    assert_int_equal(o[9], 17);
    assert_int_equal(be16_load(o + 22), 4789);
    assert_int_equal(be32_load(o + 32) >> 8, 5001);
    assert_memory_equal(o + 36, agent_fx_router_mac, 6);
    /* unknown destination: a drop flow, nothing re-injected */
    buf_reset(&re);
    flow_miss(f, 2, 1, 0xc0a80101u, 0x08080808u, &d, &re);
    assert_false(d.forward);
    assert_int_equal(re.size, 0);
    assert_int_equal(dp_flow_get(f->dp, &d.key, &fl), 0);
    assert_int_equal(fl.action.type, DP_FLOW_DROP);
    assert_int_equal(dp_flow_get(f->dp, &d.reverse, &fl), VR_ENOENT);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.flows_forward, 1);
    assert_int_equal(st.flows_drop, 1);
    /* a route to that destination appears: the drop flow goes, the next
     * packet is punted again and forwarded */
    route_in(f, 0, "red", item(0x08080800u, 24, REMOTE_IP, 300, XMPP_ENCAP_GRE, 0));
    assert_int_equal(dp_flow_get(f->dp, &d.key, &fl), VR_ENOENT);
    agent_status_get(f->core, &st);
    assert_int_equal(st.drops_lifted, 1);
    flow_miss(f, 2, 1, 0xc0a80101u, 0x08080808u, &d, &re);
    assert_true(d.forward);
    assert_int_equal(dp_flow_get(f->dp, &d.key, &fl), 0);
    assert_int_equal(fl.action.type, DP_FLOW_FORWARD);
    /* a drop flow toward an address that a local port later takes */
    buf_reset(&re);
    flow_miss(f, 2, 1, 0xc0a80101u, 0xc0a80109u, &d, &re);
    assert_false(d.forward);
    agent_fx_port_add(f, "vm9 tap=tap9 ri=red mac=02:00:00:00:01:09 ip=192.168.1.9/24 gw=192.168.1.254");
    assert_int_equal(dp_flow_get(f->dp, &d.key, &fl), VR_ENOENT);
    agent_status_get(f->core, &st);
    assert_int_equal(st.drops_lifted, 2);
    buf_destroy(&re);
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

/* A service chain's next-hop-self towards a service VM on this node: the
 * control node sends a route with this agent's own address and the routed
 * label of one of its ports; it is programmed to that port (not ignored
 * as our own route reflected), a flow miss to it delivers to the port,
 * and it goes with the retract or with the port. Our address with a
 * label that is no port's stays ignored. */
static void test_service_chain_local_next_hop(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "g");
    agent_node_up(f->core, 0);
    agent_fx_port_add(f, VM1);
    agent_fx_port_add(f, "fw-left tap=tap5 ri=red-svc mac=02:00:00:00:05:01 ip=192.168.1.5/24 gw=192.168.1.254");
    const struct agent_port *fw = agent_port_find(f->core, "fw-left");
    assert_non_null(fw);
    uint32_t vrf = fw->spec.vrf, nh = fw->nh, label = fw->label, ifindex = fw->spec.ifindex;
    uint8_t a[16] = {0};
    be32_store(a, 0xc0a80203u); /* 192.168.2.3: behind the service */
    route_in(f, 0, "red-svc", item(0xc0a80203u, 32, FABRIC_IP, label, XMPP_ENCAP_GRE, 0));
    assert_int_equal(dp_route_lookup(f->dp, vrf, 4, a), nh);
    route_in(f, 0, "red-svc", item(0xc0a80204u, 32, FABRIC_IP, 999, XMPP_ENCAP_GRE, 0));
    uint8_t a4[16] = {0};
    be32_store(a4, 0xc0a80204u);
    assert_int_equal(dp_route_lookup(f->dp, vrf, 4, a4), 0);
    /* a packet for it (from the fabric, in the port's VRF): to the port */
    uint8_t tx[2048];
    uint32_t tx_size;
    struct agent_flow_decision d;
    struct buf re;
    struct dp_out out;
    buf_init(&re, 0);
    flow_miss(f, AGENT_IF_FABRIC, vrf, 0xc0a80101u, 0xc0a80203u, &d, &re);
    assert_true(d.forward);
    inject(f, &re, &out, tx, &tx_size);
    assert_int_equal(out.tx[0].ifindex, ifindex);
    assert_memory_equal(tx, fw->spec.mac, 6);
    buf_destroy(&re);
    /* the same route from a remote agent instead: a tunnel again */
    route_in(f, 0, "red-svc", item(0xc0a80203u, 32, REMOTE_IP, 300, XMPP_ENCAP_GRE, 0));
    assert_int_equal(lookup(f, vrf, 0xc0a80203u).dip, REMOTE_IP);
    route_in(f, 0, "red-svc", item(0xc0a80203u, 32, FABRIC_IP, label, XMPP_ENCAP_GRE, 0));
    assert_int_equal(dp_route_lookup(f->dp, vrf, 4, a), nh);
    /* retracted: gone */
    retract(f, 0, "red-svc", 0xc0a80203u, 32);
    assert_int_equal(dp_route_lookup(f->dp, vrf, 4, a), 0);
    /* the port goes first: the route goes with it, the datapath refuses nothing */
    agent_fx_port_add(f, "fw-right tap=tap6 ri=red-svc mac=02:00:00:00:05:02 ip=192.168.1.6/24 gw=192.168.1.254");
    route_in(f, 0, "red-svc", item(0xc0a80203u, 32, FABRIC_IP, label, XMPP_ENCAP_GRE, 0));
    assert_int_equal(dp_route_lookup(f->dp, vrf, 4, a), nh);
    assert_int_equal(agent_port_del(f->core, "fw-left"), 0);
    assert_int_equal(dp_route_lookup(f->dp, vrf, 4, a), 0);
    assert_int_equal(f->dp_errors, 0);
    agent_fx_free(f);
}

static void test_punt_malformed(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "g");
    agent_fx_port_add(f, VM1);
    uint8_t b[128];
    struct agent_punt p;
    struct agent_flow_decision d;
    struct buf re;
    buf_init(&re, 0);
    size_t n = punted(b, DP_PUNT_FLOW_MISS, 2, 1, 0xc0a80101u, 0xc0a80102u);
    /* every truncation of the header and of the Ethernet frame is refused */
    for (size_t cut = 0; cut < 16 + 14; cut++) {
        assert_int_equal(agent_punt_parse(b, cut, &p), AGENT_EPUNT);
    }
    b[0] ^= 1;
    assert_int_equal(agent_punt_parse(b, n, &p), AGENT_EPUNT);
    b[0] ^= 1;
    b[3] = DP_AGENT_TX;
    assert_int_equal(agent_punt_parse(b, n, &p), AGENT_EPUNT);
    b[3] = DP_PUNT_FLOW_MISS;
    /* truncated IPv4 packets, bad versions and lengths */
    for (size_t cut = 16 + 14; cut < n; cut++) {
        assert_int_equal(agent_punt_parse(b, cut, &p), 0);
        assert_int_equal(agent_flow_miss(f->core, &p, &d, &re), AGENT_EPUNT);
    }
    b[16 + 14] = 0x65;
    assert_int_equal(agent_punt_parse(b, n, &p), 0);
    assert_int_equal(agent_flow_miss(f->core, &p, &d, &re), AGENT_EPUNT);
    b[16 + 14] = 0x45;
    be16_store(b + 16 + 14 + 2, 200);
    assert_int_equal(agent_flow_miss(f->core, &p, &d, &re), AGENT_EPUNT);
    be16_store(b + 16 + 12, 0x86dd);
    assert_int_equal(agent_flow_miss(f->core, &p, &d, &re), AGENT_EUNSUPPORTED);
    assert_int_equal(re.size, 0);
    assert_int_equal(f->msgs[VR_MSG_FLOW], 0);
    /* the injection header */
    assert_int_equal(agent_inject_build(5, b + 16, 14, &re), 0);
    assert_int_equal(re.size, 16 + 14);
    assert_int_equal(re.data[3], DP_AGENT_TX);
    assert_int_equal(be32_load(re.data + 4), 5);
    buf_destroy(&re);
    agent_fx_free(f);
}

/* Hostile punts: 20,000 seeded mutations (random bytes overwritten,
 * lengths cut) of valid flow-miss frames. Every result is a typed answer;
 * a forward always comes with a re-injection frame the datapath accepts
 * (parsed again here), and the datapath never refuses a request. Run
 * under valgrind and ASAN+UBSAN, this is the parser's memory-safety net
 * until it has a fuzz target. */
static void test_punt_mutations(void **state)
{
    (void)state;
    struct agent_fx *f = fx_new(1, "gv");
    agent_fx_port_add(f, VM1);
    agent_fx_port_add(f, "vm2 tap=tap2 ri=red mac=02:00:00:00:01:02 ip=192.168.1.2/24 gw=192.168.1.254");
    route_in(f, 0, "red", item(0xc0a80100u, 24, REMOTE_IP, 200, XMPP_ENCAP_GRE | XMPP_ENCAP_VXLAN, 7));
    uint32_t seed = 12345;
    struct buf re;
    buf_init(&re, 0);
    size_t forwards = 0, errors = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t b[128];
        size_t n = punted(b, DP_PUNT_FLOW_MISS, 2, 1, 0xc0a80101u, i & 1 ? 0xc0a80102u : 0xc0a80109u);
        b[16 + 14 + 9] = (uint8_t)(i % 3 == 0 ? 6 : i % 3 == 1 ? 17 : 1);
        int flips = 1 + (int)((seed >> 8) % 4);
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            b[16 + (seed >> 16) % (n - 16)] = (uint8_t)(seed >> 3);
        }
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % 4 == 0 ? 16 + (seed >> 8) % (n - 15) : n;
        struct agent_punt p;
        if (agent_punt_parse(b, len, &p) != 0) {
            errors++;
            continue;
        }
        struct agent_flow_decision d;
        buf_reset(&re);
        int rc = agent_flow_miss(f->core, &p, &d, &re);
        assert_true(rc == 0 || rc == AGENT_EPUNT || rc == AGENT_EUNSUPPORTED);
        if (rc != 0) {
            assert_int_equal(re.size, 0);
            errors++;
            continue;
        }
        if (re.size) {
            assert_true(d.forward);
            struct agent_punt back;
            assert_int_equal(agent_punt_parse(re.data, re.size, &back), AGENT_EPUNT); /* a TX, not a punt */
            assert_int_equal(re.data[3], DP_AGENT_TX);
            forwards++;
        }
    }
    assert_true(forwards > 100);
    assert_true(errors > 100);
    assert_int_equal(f->dp_errors, 0);
    buf_destroy(&re);
    agent_fx_free(f);
}

/* ---- text form ---- */

static void test_spec_text(void **state)
{
    (void)state;
    struct agent_port_spec s = agent_fx_spec("p1 tap=veth1 ri=default-domain:p:vn1 mac=02:aa:bb:cc:dd:ee ip=10.1.2.3/24 "
                                    "gw=10.1.2.1 dns=10.1.2.2 hostname=web-1 vni=77 ifindex=9 vrf=4");
    assert_string_equal(s.name, "p1");
    assert_string_equal(s.tap, "veth1");
    assert_string_equal(s.ri, "default-domain:p:vn1");
    assert_int_equal(s.ip4, 0x0a010203u);
    assert_int_equal(s.plen, 24);
    assert_int_equal(s.gw4, 0x0a010201u);
    assert_int_equal(s.dns4, 0x0a010202u);
    assert_int_equal(s.vni, 77);
    assert_int_equal(s.ifindex, 9);
    assert_int_equal(s.vrf, 4);
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(agent_spec_format(&s, &out), 0);
    assert_int_equal(buf_put_u8(&out, 0), 0);
    struct agent_port_spec t = agent_fx_spec((const char *)out.data);
    assert_memory_equal(&s, &t, sizeof s);
    buf_destroy(&out);
    static const char *bad[] = {
        "",
        "p1",
        "p1 tap=t ri=r mac=02:00:00:00:00:01 ip=10.0.0.1/24",                 /* no gw */
        "p1 tap=t ri=r mac=03:00:00:00:00:01 ip=10.0.0.1/24 gw=10.0.0.254",  /* multicast MAC */
        "p1 tap=t ri=r mac=02:00:00:00:00:01 ip=10.0.0.1/33 gw=10.0.0.254",
        "p1 tap=t ri=r mac=02:00:00:00:00:01 ip=10.0.0.1 gw=10.0.0.254",
        "p1 tap=t ri=r mac=02:00:00:00:00:01 ip=10.0.0.1/24 gw=10.0.0.254 vni=16777216",
        "p1 tap=t ri=r mac=02:00:00:00:00:01 ip=10.0.0.1/24 gw=10.0.0.254 tap=u",
        "p1 tap=t ri=r mac=02:00:00:00:00:01 ip=10.0.0.1/24 gw=10.0.0.254 color=red",
        "p1 tap=averyveryverylongname ri=r mac=02:00:00:00:00:01 ip=10.0.0.1/24 gw=10.0.0.254",
        "p1 tap=t ri=r mac=02:00:00:00:00:01 ip=10.0.0.1/24 gw=10.0.0.254 ifindex=1",
        "p1 tap=t ri=r mac=02:00:00:00:00:01 ip=10.0.0.1/24 gw=10.0.0.254 vrf=-1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[128] = "";
        assert_int_equal(agent_spec_parse(bad[i], &s, err, sizeof err), AGENT_ESYNTAX);
        assert_true(err[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_add_installs_and_publishes),
        cmocka_unit_test(test_port_del_removes_everything),
        cmocka_unit_test(test_best_path_and_encap),
        cmocka_unit_test(test_headless_stale_and_eor),
        cmocka_unit_test(test_node_in_sync_unstales),
        cmocka_unit_test(test_restart_generation_sweep),
        cmocka_unit_test(test_restart_adopts_datapath_routes),
        cmocka_unit_test(test_flow_miss_local_remote_drop),
        cmocka_unit_test(test_flow_miss_held_by_datapath),
        cmocka_unit_test(test_service_chain_local_next_hop),
        cmocka_unit_test(test_punt_malformed),
        cmocka_unit_test(test_punt_mutations),
        cmocka_unit_test(test_spec_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of floating IPs in the agent core (vrouter/agent, issue #9
 * item 3): every datapath request is applied to a real forwarding core
 * (vr_msg_apply) and every packet runs through it (dp_rx), so the checks
 * are on forwarded bytes. A port's floating IP makes the pool network's
 * instance (VRF, subscription), the route ADDR/32 -> the port there and a
 * publication with the port's label; removing it undoes all of that and
 * deletes the NAT flows. Traffic to the floating address (from the fabric
 * under the port's label, or from a local VM of the pool network) is
 * DNAT'ed to the port's fixed address, the answers leave with the floating
 * source; the port's own traffic to a destination only the pool reaches
 * leaves SNAT'ed and its answers come back DNAT'ed. The re-injected first
 * packet carries the rewritten addresses with valid IPv4 and UDP
 * checksums. Policy: the floating IP's policy (the port's end in the pool
 * network) decides, not the port's own network's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/agent/agent_fixture.h"

#define FABRIC_IP 0x0a630001u /* 10.99.0.1 */
#define REMOTE_IP 0x0a630002u /* 10.99.0.2: the compute node of the external VM */
#define FIXED 0xc0a80101u     /* 192.168.1.1: vm1 in red */
#define FIP 0x0a090005u       /* 10.9.0.5: vm1's floating IP in ext */
#define EXT_VM 0x0a090007u    /* 10.9.0.7: a VM of ext */
#define EXT_LABEL 300u        /* its label on the remote compute node */
#define POOL_RI "d:p:ext:ext"
#define POOL_VN "d:p:ext"
#define VM1 "vm1 tap=tap1 ri=d:p:red:red vn=d:p:red mac=02:00:00:00:01:01 ip=192.168.1.1/24 gw=192.168.1.254"

static const uint8_t VM1_MAC[6] = {0x02, 0, 0, 0, 0x01, 0x01};

/* A fixture with one control node (up), encapsulations MPLSoUDP, MPLSoGRE,
 * VXLAN, fabric address FABRIC_IP. */
static struct agent_fx *fx_new(void)
{
    struct dp_config dc;
    agent_fx_dp_config(&dc);
    struct agent_fx *f = agent_fx_new(&dc);
    struct agent_config cfg = {.fabric_ip = FABRIC_IP, .node_count = 1, .generation = 1, .encap_count = 3};
    cfg.encaps[0] = DP_ENCAP_MPLS_UDP;
    cfg.encaps[1] = DP_ENCAP_MPLS_GRE;
    cfg.encaps[2] = DP_ENCAP_VXLAN;
    agent_fx_core(f, &cfg);
    agent_node_up(f->core, 0);
    return f;
}

/* cmocka set-up: the fixture (fx_new) with port vm1 (VM1) in *state. */
static int vm1_setup(void **state)
{
    struct agent_fx *f = fx_new();
    agent_fx_port_add(f, VM1);
    *state = f;
    return 0;
}

/* cmocka tear-down: fails the test when the datapath refused a request. */
static int fx_teardown(void **state)
{
    struct agent_fx *f = *state;
    int errors = f->dp_errors;
    agent_fx_free(f);
    if (errors != 0) {
        fprintf(stderr, "the datapath refused %d requests\n", errors);
        return -1;
    }
    return 0;
}

static struct agent_policy *policy(const char *vn, bool acl)
{
    struct agent_policy *p = calloc(1, sizeof *p);
    assert_non_null(p);
    snprintf(p->vn, sizeof p->vn, "%s", vn);
    p->has_vn_acl = acl;
    return p;
}

/* An ACL of one rule: IP protocol 'proto' (-1 any), pass or deny. */
static void acl_rule(struct agent_acl *acl, int16_t proto, bool pass)
{
    acl->rules = calloc(1, sizeof *acl->rules);
    assert_non_null(acl->rules);
    acl->count = 1;
    struct agent_acl_rule *r = &acl->rules[0];
    r->src.kind = r->dst.kind = AGENT_ADDR_ANY;
    r->proto = proto;
    r->sport_hi = r->dport_hi = 65535;
    r->pass = pass;
}

static struct agent_fip fip(uint32_t ip4, const char *ri, const char *vn, struct agent_policy *pol)
{
    struct agent_fip x;
    memset(&x, 0, sizeof x);
    x.ip4 = ip4;
    snprintf(x.ri, sizeof x.ri, "%s", ri);
    snprintf(x.vn, sizeof x.vn, "%s", vn);
    x.policy = pol;
    return x;
}

static int set_fip(struct agent_fx *f, const char *port, uint32_t ip4, struct agent_policy *pol)
{
    struct agent_fip x = fip(ip4, POOL_RI, POOL_VN, pol);
    return agent_port_fips_set(f->core, port, &x, 1);
}

/* A route to 'prefix'/32 in instance 'ri' (network 'vn') behind REMOTE_IP
 * with EXT_LABEL over MPLSoGRE, as the control node reflects it. */
static void remote_route(struct agent_fx *f, const char *ri, const char *vn, uint32_t prefix)
{
    struct xmpp_route_item it;
    memset(&it, 0, sizeof it);
    it.entry.family = XMPP_FAMILY_INET;
    it.entry.key.prefix.version = 4;
    be32_store(it.entry.key.prefix.addr, prefix);
    it.entry.key.plen = 32;
    it.entry.next_hop_count = 1;
    it.entry.next_hops[0].address.version = 4;
    be32_store(it.entry.next_hops[0].address.addr, REMOTE_IP);
    it.entry.next_hops[0].label = EXT_LABEL;
    it.entry.next_hops[0].encaps = XMPP_ENCAP_GRE;
    snprintf(it.entry.virtual_network, sizeof it.entry.virtual_network, "%s", vn);
    agent_route_item(f->core, 0, ri, XMPP_FAMILY_INET, &it);
}

/* An address of the pool network ext held on REMOTE_IP (the ext VM's). */
static void ext_route(struct agent_fx *f, uint32_t prefix)
{
    remote_route(f, POOL_RI, POOL_VN, prefix);
}

/* The datapath's next hop id for 'ip' in 'vrf' (0: none). */
static uint32_t route_nh(struct agent_fx *f, uint32_t vrf, uint32_t ip)
{
    uint8_t a[16] = {0};
    be32_store(a, ip);
    return dp_route_lookup(f->dp, vrf, 4, a);
}

static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (n & 1) {
        sum += (uint32_t)p[n - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

/* Whether the IPv4 header checksum and (UDP) the UDP checksum of the
 * packet at 'ip' hold. */
static bool sums_ok(const uint8_t *ip)
{
    if (csum(ip, 20, 0) != 0) {
        return false;
    }
    if (ip[9] != 17) {
        return true;
    }
    size_t ulen = be16_load(ip + 24);
    uint32_t pseudo = be16_load(ip + 12) + be16_load(ip + 14) + be16_load(ip + 16) + be16_load(ip + 18) + 17 +
                      (uint32_t)ulen;
    return csum(ip + 20, ulen, pseudo) == 0;
}

/* Checks the IPv4 packet at 'ip': source 'src' and destination 'dst' (0:
 * either), header and UDP checksums valid. */
static void ip_check(const uint8_t *ip, uint32_t src, uint32_t dst)
{
    if (src != 0) {
        assert_int_equal(be32_load(ip + 12), src);
    }
    if (dst != 0) {
        assert_int_equal(be32_load(ip + 16), dst);
    }
    assert_true(sums_ok(ip));
}

/* An IPv4 packet src -> dst at 'ip': ICMP echo (proto 1) or UDP with 4
 * bytes of payload (proto 17), checksums set. Returns its size. */
static size_t ip_packet(uint8_t *ip, uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
    size_t l4 = proto == 17 ? 12 : 8;
    memset(ip, 0, 20 + l4);
    ip[0] = 0x45;
    be16_store(ip + 2, (uint16_t)(20 + l4));
    ip[8] = 64;
    ip[9] = proto;
    be32_store(ip + 12, src);
    be32_store(ip + 16, dst);
    be16_store(ip + 10, csum(ip, 20, 0));
    uint8_t *t = ip + 20;
    if (proto == 17) {
        be16_store(t, sport);
        be16_store(t + 2, dport);
        be16_store(t + 4, 12);
        memcpy(t + 8, "fip!", 4);
        uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 17 + 12;
        be16_store(t + 6, csum(t, 12, pseudo));
    } else {
        t[0] = sport == 0 ? 8 : 0; /* echo request, or reply */
        be16_store(t + 4, 0x1234);
        be16_store(t + 2, csum(t, 8, 0));
    }
    return 20 + l4;
}

/* A frame from a VM (MAC 'mac') to the vRouter. */
static size_t vm_frame(uint8_t *b, const uint8_t mac[6], uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport,
                       uint16_t dport)
{
    memcpy(b, agent_fx_router_mac, 6);
    memcpy(b + 6, mac, 6);
    be16_store(b + 12, 0x0800);
    return 14 + ip_packet(b + 14, proto, src, dst, sport, dport);
}

/* An MPLSoGRE frame from REMOTE_IP to this node with 'label'. */
static size_t fabric_frame(uint8_t *b, uint32_t label, uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport,
                           uint16_t dport)
{
    memset(b, 0, 14 + 20 + 8);
    b[0] = 0x02;
    b[6] = 0x02;
    b[11] = 0x09;
    be16_store(b + 12, 0x0800);
    uint8_t *o = b + 14;
    size_t inner = ip_packet(o + 28, proto, src, dst, sport, dport);
    o[0] = 0x45;
    be16_store(o + 2, (uint16_t)(28 + inner));
    o[8] = 64;
    o[9] = 47;
    be32_store(o + 12, REMOTE_IP);
    be32_store(o + 16, FABRIC_IP);
    be16_store(o + 10, csum(o, 20, 0));
    be16_store(o + 22, 0x8847);
    be32_store(o + 24, label << 12 | 1u << 8 | 64);
    return 14 + 28 + inner;
}

struct sent {
    uint8_t verdict;
    uint32_t ifindex;
    uint8_t frame[2048];
    uint32_t size;
};

/* Runs 'frame' through the datapath as received on 'ifindex'. */
static struct sent run(struct agent_fx *f, uint32_t ifindex, const uint8_t *frame, size_t len)
{
    static uint8_t mem[2048];
    static struct dp_out out;
    struct sent s;
    memset(&s, 0, sizeof s);
    memcpy(mem + DP_HEADROOM, frame, len);
    struct dp_pkt pkt = {.buf = mem, .size = sizeof mem, .off = DP_HEADROOM, .len = (uint32_t)len};
    dp_rx(f->dp, ifindex, &pkt, 2, &out);
    s.verdict = out.verdict;
    if (out.verdict != DP_VERDICT_DROP) {
        assert_int_equal(out.count, 1);
        s.ifindex = out.tx[0].ifindex;
        s.size = dp_tx_copy(&pkt, &out.tx[0], s.frame, sizeof s.frame);
        assert_true(s.size > 0);
    }
    return s;
}

/* A frame that must be punted as a flow miss: the agent decides it; the
 * re-injection (when forwarding) is run through the agent interface and
 * returned. */
static struct sent first_packet(struct agent_fx *f, uint32_t ifindex, const uint8_t *frame, size_t len,
                                struct agent_flow_decision *d)
{
    struct sent p = run(f, ifindex, frame, len);
    assert_int_equal(p.verdict, DP_VERDICT_PUNT);
    struct agent_punt pu;
    assert_int_equal(agent_punt_parse(p.frame, p.size, &pu), 0);
    assert_int_equal(pu.reason, DP_PUNT_FLOW_MISS);
    struct buf re;
    buf_init(&re, 0);
    assert_int_equal(agent_flow_miss(f->core, &pu, d, &re), 0);
    struct sent s;
    memset(&s, 0, sizeof s);
    if (re.size > 0) {
        s = run(f, AGENT_IF_AGENT, re.data, re.size);
        assert_int_equal(s.verdict, DP_VERDICT_TX);
    }
    buf_destroy(&re);
    return s;
}

static const struct agent_port *vm1(struct agent_fx *f)
{
    const struct agent_port *p = agent_port_find(f->core, "vm1");
    assert_non_null(p);
    return p;
}

/* The inner IPv4 packet of MPLSoGRE frame 's' sent to REMOTE_IP with
 * EXT_LABEL. */
static const uint8_t *gre_inner(const struct sent *s)
{
    assert_int_equal(s->ifindex, AGENT_IF_FABRIC);
    const uint8_t *o = s->frame + 14;
    assert_int_equal(o[9], 47);
    assert_int_equal(be32_load(o + 12), FABRIC_IP);
    assert_int_equal(be32_load(o + 16), REMOTE_IP);
    assert_int_equal(be32_load(o + 24) >> 12, EXT_LABEL);
    return o + 28;
}

/* The IPv4 packet of frame 's' delivered to port 'p' (routed: its MAC). */
static const uint8_t *to_port(const struct sent *s, const struct agent_port *p)
{
    assert_int_equal(s->verdict, DP_VERDICT_TX);
    assert_int_equal(s->ifindex, p->spec.ifindex);
    assert_memory_equal(s->frame, p->spec.mac, 6);
    return s->frame + 14;
}

/* ---- install and remove ---- */

static void test_fip_install_publish_remove(void **state)
{
    struct agent_fx *f = *state;
    int subs = f->subs[0];
    size_t pubs = f->pub_count;
    assert_int_equal(set_fip(f, "vm1", FIP, NULL), 0);
    assert_int_equal(f->dp_errors, 0);
    /* the pool instance: a VRF and a subscription */
    uint32_t vr = agent_ri_vrf(f->core, POOL_RI);
    assert_true(vr != 0 && vr != vm1(f)->spec.vrf);
    struct dp_vrf dv;
    assert_int_equal(dp_vrf_get(f->dp, vr, &dv), 0);
    assert_int_equal(f->subs[0], subs + 1);
    /* ADDR/32 -> the port's next hop in the pool VRF */
    assert_int_equal(route_nh(f, vr, FIP), vm1(f)->nh);
    assert_true(agent_ip4_known(f->core, vr, FIP));
    assert_false(agent_ip4_known(f->core, vm1(f)->spec.vrf, FIP));
    size_t at = 0;
    assert_ptr_equal(agent_fip_find(f->core, vr, FIP, &at), vm1(f));
    assert_int_equal(at, 0);
    /* published in the pool instance with the port's label, MPLS only */
    assert_int_equal(f->pub_count, pubs + 1);
    struct agent_fx_pub *p = &f->pubs[pubs];
    assert_string_equal(p->ri, POOL_RI);
    assert_false(p->withdraw);
    assert_int_equal(p->key.plen, 32);
    assert_int_equal(be32_load(p->key.prefix.addr), FIP);
    assert_int_equal(p->nh.label, vm1(f)->label);
    assert_int_equal(be32_load(p->nh.address.addr), FABRIC_IP);
    assert_int_equal(p->nh.encaps, XMPP_ENCAP_UDP | XMPP_ENCAP_GRE);
    assert_false(p->nh.has_vni);
    assert_string_equal(p->vn, POOL_VN);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.fips, 1);
    struct buf txt;
    buf_init(&txt, 0);
    assert_int_equal(agent_routes_format(f->core, POOL_RI, &txt), 0);
    assert_int_equal(buf_put_u8(&txt, 0), 0);
    char want[128];
    snprintf(want, sizeof want, "inet 10.9.0.5/32 local fip port=vm1 fixed=192.168.1.1 nh=%u label=%u\n",
             vm1(f)->nh, vm1(f)->label);
    assert_string_equal((const char *)txt.data, want);
    buf_destroy(&txt);
    /* the same set again changes nothing */
    size_t msgs = f->msgs[VR_MSG_ROUTE];
    assert_int_equal(set_fip(f, "vm1", FIP, NULL), 0);
    assert_int_equal(f->pub_count, pubs + 1);
    assert_int_equal(f->msgs[VR_MSG_ROUTE], msgs);
    /* a node reconnecting gets it published again */
    agent_node_down(f->core, 0);
    agent_node_up(f->core, 0);
    bool again = false;
    for (size_t i = pubs + 1; i < f->pub_count; i++) {
        again |= strcmp(f->pubs[i].ri, POOL_RI) == 0 && be32_load(f->pubs[i].key.prefix.addr) == FIP;
    }
    assert_true(again);
    /* the reflected route of our own floating IP is never programmed over the fabric */
    ext_route(f, FIP);
    assert_int_equal(route_nh(f, vr, FIP), vm1(f)->nh);
    /* removal: withdrawn, route gone, instance released */
    pubs = f->pub_count;
    int unsubs = f->unsubs[0];
    assert_int_equal(agent_port_fips_set(f->core, "vm1", NULL, 0), 0);
    assert_int_equal(f->pub_count, pubs + 1);
    assert_true(f->pubs[pubs].withdraw);
    assert_string_equal(f->pubs[pubs].ri, POOL_RI);
    assert_int_equal(be32_load(f->pubs[pubs].key.prefix.addr), FIP);
    assert_int_equal(f->unsubs[0], unsubs + 1);
    assert_int_equal(dp_vrf_get(f->dp, vr, &dv), VR_ENOENT);
    assert_int_equal(agent_ri_vrf(f->core, POOL_RI), 0);
    agent_status_get(f->core, &st);
    assert_int_equal(st.fips, 0);
    assert_int_equal(st.instances, 1);
}

static void test_fip_refusals(void **state)
{
    struct agent_fx *f = *state;
    agent_fx_port_add(f, "vm2 tap=tap2 ri=d:p:red:red mac=02:00:00:00:01:02 ip=192.168.1.2/24 gw=192.168.1.254");
    agent_fx_port_add(f, "vm7 tap=tap7 ri=" POOL_RI " mac=02:00:00:00:07:07 ip=10.9.0.7/24 gw=10.9.0.1");
    assert_int_equal(set_fip(f, "nope", FIP, policy(POOL_VN, false)), AGENT_ENOENT);
    assert_int_equal(set_fip(f, "vm1", 0, policy(POOL_VN, false)), AGENT_EINVAL);
    /* a local port's address in the pool instance */
    assert_int_equal(set_fip(f, "vm1", EXT_VM, policy(POOL_VN, false)), AGENT_ECONFLICT);
    struct agent_fip two[2] = {fip(FIP, POOL_RI, POOL_VN, NULL), fip(FIP, POOL_RI, POOL_VN, policy(POOL_VN, false))};
    assert_int_equal(agent_port_fips_set(f->core, "vm1", two, 2), AGENT_EINVAL);
    struct agent_fip many[AGENT_FIP_MAX + 1];
    for (size_t i = 0; i <= AGENT_FIP_MAX; i++) {
        many[i] = fip(FIP + (uint32_t)i, POOL_RI, POOL_VN, NULL);
    }
    assert_int_equal(agent_port_fips_set(f->core, "vm1", many, AGENT_FIP_MAX + 1), AGENT_EINVAL);
    assert_int_equal(set_fip(f, "vm1", FIP, policy(POOL_VN, false)), 0);
    /* another port's floating IP */
    assert_int_equal(set_fip(f, "vm2", FIP, policy(POOL_VN, false)), AGENT_ECONFLICT);
    /* several floating IPs in two pools; then one of them goes */
    struct agent_fip set[3] = {fip(FIP, POOL_RI, POOL_VN, NULL), fip(FIP + 1, POOL_RI, POOL_VN, NULL),
                               fip(0x0a0a0001u, "d:p:ext2:ext2", "d:p:ext2", NULL)};
    assert_int_equal(agent_port_fips_set(f->core, "vm1", set, 3), 0);
    uint32_t v2 = agent_ri_vrf(f->core, "d:p:ext2:ext2");
    assert_true(v2 != 0);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.fips, 3);
    assert_int_equal(st.instances, 3);
    struct agent_fip keep[1] = {fip(FIP + 1, POOL_RI, POOL_VN, NULL)};
    assert_int_equal(agent_port_fips_set(f->core, "vm1", keep, 1), 0);
    uint32_t vr = agent_ri_vrf(f->core, POOL_RI);
    assert_int_equal(route_nh(f, vr, FIP), 0);
    assert_int_equal(route_nh(f, vr, FIP + 1), vm1(f)->nh);
    assert_int_equal(agent_ri_vrf(f->core, "d:p:ext2:ext2"), 0);
    /* the pool instance of the local port vm7 stays when the floating IPs go */
    assert_int_equal(agent_port_del(f->core, "vm1"), 0);
    assert_int_equal(agent_ri_vrf(f->core, POOL_RI), vr);
    assert_int_equal(route_nh(f, vr, FIP + 1), 0);
}

/* ---- flows ---- */

/* The external VM on another compute node pings the floating address:
 * DNAT to the fixed address on delivery, the reply SNAT'ed back out. */
static void test_fip_dnat_from_fabric(void **state)
{
    struct agent_fx *f = *state;
    /* vm1's own network denies what crosses it: the floating IP's policy decides */
    assert_int_equal(agent_port_policy_set(f->core, "vm1", policy("d:p:red", true)), 0);
    assert_int_equal(set_fip(f, "vm1", FIP, policy(POOL_VN, false)), 0);
    ext_route(f, EXT_VM);
    uint32_t vr = agent_ri_vrf(f->core, POOL_RI), vp = vm1(f)->spec.vrf;
    uint8_t b[256];
    size_t n = fabric_frame(b, vm1(f)->label, 1, EXT_VM, FIP, 0, 0);
    struct agent_flow_decision d;
    struct sent s = first_packet(f, AGENT_IF_FABRIC, b, n, &d);
    assert_true(d.forward);
    assert_int_equal(d.key.vrf, vp);
    assert_int_equal(d.action.type, DP_FLOW_NAT);
    assert_int_equal(d.action.flags, DP_FA_DNAT | DP_FA_VRF);
    assert_int_equal(d.action.nat_ip, FIXED);
    struct dp_flow fl;
    assert_int_equal(dp_flow_get(f->dp, &d.reverse, &fl), 0);
    assert_int_equal(fl.key.vrf, vp);
    assert_int_equal(be32_load(fl.key.src), FIXED);
    assert_int_equal(be32_load(fl.key.dst), EXT_VM);
    assert_int_equal(fl.action.type, DP_FLOW_NAT);
    assert_int_equal(fl.action.flags, DP_FA_SNAT | DP_FA_VRF);
    assert_int_equal(fl.action.nat_ip, FIP);
    assert_int_equal(fl.action.vrf, vr);
    /* the first packet re-injected to vm1 with the fixed destination */
    const uint8_t *ip = to_port(&s, vm1(f));
    ip_check(ip, EXT_VM, FIXED);
    /* the next packet: the datapath's DNAT */
    s = run(f, AGENT_IF_FABRIC, b, n);
    ip = to_port(&s, vm1(f));
    ip_check(ip, 0, FIXED);
    /* vm1's reply leaves from the floating address, over the pool's route */
    n = vm_frame(b, VM1_MAC, 1, FIXED, EXT_VM, 1, 0);
    s = run(f, vm1(f)->spec.ifindex, b, n);
    assert_int_equal(s.verdict, DP_VERDICT_TX);
    ip = gre_inner(&s);
    ip_check(ip, FIP, EXT_VM);
    /* a UDP flow: ports kept, checksums right in the re-injection and after */
    n = fabric_frame(b, vm1(f)->label, 17, EXT_VM, FIP, 4000, 53000);
    s = first_packet(f, AGENT_IF_FABRIC, b, n, &d);
    ip = to_port(&s, vm1(f));
    ip_check(ip, 0, FIXED);
    assert_int_equal(be16_load(ip + 20), 4000);
    assert_int_equal(be16_load(ip + 22), 53000);
    n = vm_frame(b, VM1_MAC, 17, FIXED, EXT_VM, 53000, 4000);
    s = run(f, vm1(f)->spec.ifindex, b, n);
    ip = gre_inner(&s);
    ip_check(ip, FIP, 0);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.flows_nat, 2);
    assert_int_equal(st.flows_denied, 0);
}

/* vm1 reaches the external VM, which only the pool instance routes: SNAT
 * to the floating address; the answer (under vm1's label, to the floating
 * address) is DNAT'ed back. A destination vm1's own VRF reaches is not
 * NAT'ed. */
static void test_fip_snat_to_pool(void **state)
{
    struct agent_fx *f = *state;
    assert_int_equal(set_fip(f, "vm1", FIP, NULL), 0);
    ext_route(f, EXT_VM);
    uint32_t vr = agent_ri_vrf(f->core, POOL_RI), vp = vm1(f)->spec.vrf;
    uint8_t b[256];
    size_t n = vm_frame(b, VM1_MAC, 17, FIXED, EXT_VM, 41000, 7000);
    struct agent_flow_decision d;
    struct sent s = first_packet(f, vm1(f)->spec.ifindex, b, n, &d);
    assert_true(d.forward);
    assert_int_equal(d.action.type, DP_FLOW_NAT);
    assert_int_equal(d.action.flags, DP_FA_SNAT | DP_FA_VRF);
    assert_int_equal(d.action.nat_ip, FIP);
    assert_int_equal(d.action.vrf, vr);
    assert_int_equal(d.reverse.vrf, vp); /* answers arrive under vm1's label */
    assert_int_equal(be32_load(d.reverse.src), EXT_VM);
    assert_int_equal(be32_load(d.reverse.dst), FIP);
    assert_int_equal(d.reverse_action.flags, DP_FA_DNAT | DP_FA_VRF);
    assert_int_equal(d.reverse_action.nat_ip, FIXED);
    const uint8_t *ip = gre_inner(&s);
    ip_check(ip, FIP, EXT_VM);
    assert_int_equal(ip[8], 63);
    s = run(f, vm1(f)->spec.ifindex, b, n);
    ip = gre_inner(&s);
    ip_check(ip, FIP, 0);
    /* the answer */
    n = fabric_frame(b, vm1(f)->label, 17, EXT_VM, FIP, 7000, 41000);
    s = run(f, AGENT_IF_FABRIC, b, n);
    ip = to_port(&s, vm1(f));
    ip_check(ip, EXT_VM, FIXED);
    /* a destination of vm1's own VRF: plain forwarding */
    remote_route(f, "d:p:red:red", "d:p:red", 0xc0a80109u);
    n = vm_frame(b, VM1_MAC, 1, FIXED, 0xc0a80109u, 0, 0);
    s = first_packet(f, vm1(f)->spec.ifindex, b, n, &d);
    assert_int_equal(d.action.type, DP_FLOW_FORWARD);
    ip = gre_inner(&s);
    assert_int_equal(be32_load(ip + 12), FIXED);
    /* a destination neither reaches: dropped */
    n = vm_frame(b, VM1_MAC, 1, FIXED, 0x08080808u, 0, 0);
    s = first_packet(f, vm1(f)->spec.ifindex, b, n, &d);
    assert_false(d.forward);
}

/* The external VM on this compute node: its traffic to the floating
 * address is punted in the pool VRF, DNAT'ed and routed in vm1's VRF;
 * vm1's traffic to it is SNAT'ed and its answers come back in the pool
 * VRF. */
static void test_fip_local_external_vm(void **state)
{
    struct agent_fx *f = *state;
    agent_fx_port_add(f, "vm7 tap=tap7 ri=" POOL_RI " vn=" POOL_VN " mac=02:00:00:00:07:07 ip=10.9.0.7/24 gw=10.9.0.1");
    const struct agent_port *p7 = agent_port_find(f->core, "vm7");
    assert_int_equal(agent_port_policy_set(f->core, "vm7", policy(POOL_VN, true)), 0);
    assert_int_equal(set_fip(f, "vm1", FIP, NULL), 0);
    p7 = agent_port_find(f->core, "vm7");
    uint32_t vr = p7->spec.vrf;
    assert_int_equal(agent_ri_vrf(f->core, POOL_RI), vr);
    assert_true(agent_ip4_known(f->core, vr, FIP)); /* the proxy answers ARP for it */
    uint8_t b[256];
    size_t n = vm_frame(b, p7->spec.mac, 1, EXT_VM, FIP, 0, 0);
    struct agent_flow_decision d;
    struct sent s = first_packet(f, p7->spec.ifindex, b, n, &d);
    assert_true(d.forward);
    assert_int_equal(d.key.vrf, vr);
    assert_int_equal(d.action.vrf, vm1(f)->spec.vrf);
    const uint8_t *ip = to_port(&s, vm1(f));
    assert_int_equal(be32_load(ip + 16), FIXED);
    s = run(f, p7->spec.ifindex, b, n);
    ip = to_port(&s, vm1(f));
    ip_check(ip, 0, FIXED);
    n = vm_frame(b, VM1_MAC, 1, FIXED, EXT_VM, 1, 0);
    s = run(f, vm1(f)->spec.ifindex, b, n);
    ip = to_port(&s, p7);
    ip_check(ip, FIP, 0);
    /* vm1 -> vm7 (UDP): SNAT; the answer from vm7 (in the pool VRF) DNAT'ed */
    n = vm_frame(b, VM1_MAC, 17, FIXED, EXT_VM, 5000, 6000);
    s = first_packet(f, vm1(f)->spec.ifindex, b, n, &d);
    assert_int_equal(d.reverse.vrf, vr);
    ip = to_port(&s, p7);
    ip_check(ip, FIP, 0);
    n = vm_frame(b, p7->spec.mac, 17, EXT_VM, FIP, 6000, 5000);
    s = run(f, p7->spec.ifindex, b, n);
    ip = to_port(&s, vm1(f));
    ip_check(ip, 0, FIXED);
}

/* The floating IP's policy decides: its network's ACL denying ICMP makes
 * a drop flow (counted as denied), UDP passes. */
static void test_fip_policy(void **state)
{
    struct agent_fx *f = *state;
    struct agent_policy *pol = policy(POOL_VN, true);
    acl_rule(&pol->vn_acl, 1, false);
    assert_int_equal(set_fip(f, "vm1", FIP, pol), 0);
    ext_route(f, EXT_VM);
    uint8_t b[256];
    size_t n = fabric_frame(b, vm1(f)->label, 1, EXT_VM, FIP, 0, 0);
    struct agent_flow_decision d;
    struct sent s = first_packet(f, AGENT_IF_FABRIC, b, n, &d);
    assert_false(d.forward);
    assert_int_equal(s.size, 0);
    struct dp_flow fl;
    assert_int_equal(dp_flow_get(f->dp, &d.key, &fl), 0);
    assert_int_equal(fl.action.type, DP_FLOW_DROP);
    assert_int_equal(run(f, AGENT_IF_FABRIC, b, n).verdict, DP_VERDICT_DROP);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.flows_denied, 1);
    n = fabric_frame(b, vm1(f)->label, 17, EXT_VM, FIP, 1, 2);
    s = first_packet(f, AGENT_IF_FABRIC, b, n, &d);
    assert_true(d.forward);
    assert_int_equal(s.verdict, DP_VERDICT_TX);
}

/* Removing the floating IP (or its port) deletes the NAT flows of both
 * directions; idle NAT pairs age as a pair. */
static void test_fip_removal_and_aging(void **state)
{
    struct agent_fx *f = *state;
    assert_int_equal(set_fip(f, "vm1", FIP, NULL), 0);
    ext_route(f, EXT_VM);
    uint8_t b[256];
    size_t n = fabric_frame(b, vm1(f)->label, 1, EXT_VM, FIP, 0, 0);
    struct agent_flow_decision d1, d2;
    (void)first_packet(f, AGENT_IF_FABRIC, b, n, &d1);
    n = vm_frame(b, VM1_MAC, 17, FIXED, EXT_VM, 41000, 7000);
    (void)first_packet(f, vm1(f)->spec.ifindex, b, n, &d2);
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 4);
    struct dp_flow fl;
    /* aging on virtual time: the pair goes together */
    agent_time_set(f->core, 1000);
    agent_flow_seen(f->core, &d1.reverse, 5); /* the DNAT pair's reverse was active */
    assert_int_equal(agent_flow_age(f->core, 1000 + AGENT_FLOW_IDLE_MS_DEFAULT), 1);
    assert_int_equal(dp_flow_get(f->dp, &d2.key, &fl), VR_ENOENT);
    assert_int_equal(dp_flow_get(f->dp, &d2.reverse, &fl), VR_ENOENT);
    assert_int_equal(dp_flow_get(f->dp, &d1.key, &fl), 0);
    assert_int_equal(dp_flow_get(f->dp, &d1.reverse, &fl), 0);
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 2);
    /* the floating IP goes: both directions deleted */
    assert_int_equal(agent_port_fips_set(f->core, "vm1", NULL, 0), 0);
    assert_int_equal(dp_flow_get(f->dp, &d1.key, &fl), VR_ENOENT);
    assert_int_equal(dp_flow_get(f->dp, &d1.reverse, &fl), VR_ENOENT);
    agent_status_get(f->core, &st);
    assert_int_equal(st.flow_entries, 0);
    /* back, a flow, then the port goes: nothing of it is left */
    assert_int_equal(set_fip(f, "vm1", FIP, NULL), 0);
    ext_route(f, EXT_VM);
    n = fabric_frame(b, vm1(f)->label, 1, EXT_VM, FIP, 0, 0);
    (void)first_packet(f, AGENT_IF_FABRIC, b, n, &d1);
    uint32_t vr = agent_ri_vrf(f->core, POOL_RI);
    assert_int_equal(agent_port_del(f->core, "vm1"), 0);
    assert_int_equal(dp_flow_get(f->dp, &d1.key, &fl), VR_ENOENT);
    assert_int_equal(dp_flow_get(f->dp, &d1.reverse, &fl), VR_ENOENT);
    struct dp_vrf dv;
    assert_int_equal(dp_vrf_get(f->dp, vr, &dv), VR_ENOENT);
    uint32_t pos = 0;
    struct dp_route r;
    assert_int_equal(dp_route_next(f->dp, &pos, &r), VR_EEND);
    agent_status_get(f->core, &st);
    assert_int_equal(st.instances, 0);
    assert_int_equal(st.fips, 0);
}

/* A restart restores a floating IP with its pool VRF (the state file's
 * vrf=): a new instance takes the given VRF when free, else the lowest
 * free one; an existing instance keeps its own. */
static void test_fip_restore_vrf(void **state)
{
    struct agent_fx *f = *state;
    struct agent_fip x = fip(FIP, POOL_RI, POOL_VN, NULL);
    x.vrf = 9;
    assert_int_equal(agent_port_fips_set(f->core, "vm1", &x, 1), 0);
    assert_int_equal(agent_ri_vrf(f->core, POOL_RI), 9);
    assert_int_equal(vm1(f)->fips[0].vrf, 9);
    assert_int_equal(route_nh(f, 9, FIP), vm1(f)->nh);
    /* a VRF in use by another instance is not taken */
    struct agent_fip y[2] = {fip(FIP, POOL_RI, POOL_VN, NULL), fip(0x0a0a0001u, "d:p:ext2:ext2", "d:p:ext2", NULL)};
    y[0].vrf = 3; /* ignored: the instance exists with 9 */
    y[1].vrf = vm1(f)->spec.vrf;
    assert_int_equal(agent_port_fips_set(f->core, "vm1", y, 2), 0);
    assert_int_equal(agent_ri_vrf(f->core, POOL_RI), 9);
    uint32_t v2 = agent_ri_vrf(f->core, "d:p:ext2:ext2");
    assert_true(v2 != 0 && v2 != 9 && v2 != vm1(f)->spec.vrf);
}

/* An address first reached over the fabric becomes local: the floating IP
 * moves to this node (the other node's route for it still programmed), or
 * a port takes an address a remote route covered. The local route wins in
 * the datapath, and the remote one comes back when the local one goes. */
static void test_remote_copy_then_local(void **state)
{
    struct agent_fx *f = *state;
    agent_fx_port_add(f, "vm7 tap=tap7 ri=" POOL_RI " vn=" POOL_VN " mac=02:00:00:00:07:07 ip=10.9.0.7/24 gw=10.9.0.1");
    uint32_t vr = agent_ri_vrf(f->core, POOL_RI);
    ext_route(f, FIP); /* the floating IP held on REMOTE_IP */
    struct dp_nh nh;
    assert_int_equal(dp_nh_get(f->dp, route_nh(f, vr, FIP), &nh), 0);
    assert_int_equal(nh.type, DP_NH_TUNNEL);
    assert_int_equal(set_fip(f, "vm1", FIP, NULL), 0);
    assert_int_equal(route_nh(f, vr, FIP), vm1(f)->nh);
    assert_int_equal(agent_port_fips_set(f->core, "vm1", NULL, 0), 0);
    assert_int_equal(dp_nh_get(f->dp, route_nh(f, vr, FIP), &nh), 0);
    assert_int_equal(nh.type, DP_NH_TUNNEL);
    /* the same for a port's own address */
    ext_route(f, 0x0a090009u);
    assert_int_equal(dp_nh_get(f->dp, route_nh(f, vr, 0x0a090009u), &nh), 0);
    assert_int_equal(nh.type, DP_NH_TUNNEL);
    agent_fx_port_add(f, "vm9 tap=tap9 ri=" POOL_RI " mac=02:00:00:00:09:09 ip=10.9.0.9/24 gw=10.9.0.1");
    assert_int_equal(route_nh(f, vr, 0x0a090009u), agent_port_find(f->core, "vm9")->nh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fip_install_publish_remove, vm1_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fip_refusals, vm1_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fip_dnat_from_fabric, vm1_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fip_snat_to_pool, vm1_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fip_local_external_vm, vm1_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fip_policy, vm1_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fip_removal_and_aging, vm1_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fip_restore_vrf, vm1_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_remote_copy_then_local, vm1_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

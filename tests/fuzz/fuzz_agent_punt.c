/* Fuzzes the agent's handling of frames punted by the datapath
 * (vrouter/agent): agent_punt_parse on the raw bytes, then, for flow
 * misses, agent_flow_miss on a core with two local ports, a single-path
 * route and an ECMP route, and a floating IP of vm1 (10.9.0.5 in pool
 * instance "ext" with a route 10.9.0.0/24 there: NAT pairs both ways)
 * (every datapath request is encoded and decoded
 * with the wire codec, which must accept it). A refused frame must get a
 * typed error; an accepted flow miss must produce either nothing or one
 * well-formed injection (DP_AGENT_TX header, to a port or the fabric,
 * carrying at least an Ethernet and an IPv4 header). A small flow limit
 * keeps the flow table's full path exercised. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vrouter/agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void dp_send(void *arg, const struct vr_msg *m)
{
    uint8_t frame[VR_MSG_MAX];
    size_t n;
    struct vr_msg back;
    (void)arg;
    must(vr_msg_encode(m, frame, sizeof frame, &n) == 0);
    must(vr_msg_decode(frame, n, &back) == 0);
}

static struct agent_core *core_get(void)
{
    static struct agent_core *c;
    if (c) {
        return c;
    }
    static const struct agent_ops ops = {.dp_send = dp_send};
    struct agent_config cfg = {.fabric_ip = 0x0a630001u, .node_count = 1, .generation = 1, .encap_count = 3,
                               .encaps = {DP_ENCAP_MPLS_UDP, DP_ENCAP_MPLS_GRE, DP_ENCAP_VXLAN},
                               .router_mac = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x00}, .flow_limit = 64};
    must(agent_core_create(&cfg, &ops, NULL, &c) == 0);
    agent_core_start(c);
    static const char *ports[] = {
        "vm1 tap=tap1 ri=red mac=02:00:00:00:01:01 ip=192.168.1.1/24 gw=192.168.1.254 vni=5001",
        "vm2 tap=tap2 ri=red mac=02:00:00:00:01:02 ip=192.168.1.2/24 gw=192.168.1.254",
    };
    for (size_t i = 0; i < 2; i++) {
        struct agent_port_spec s;
        char err[64];
        must(agent_spec_parse(ports[i], &s, err, sizeof err) == 0);
        must(agent_port_add(c, &s) == 0);
    }
    for (uint32_t r = 0; r < 2; r++) {
        struct xmpp_route_item it;
        memset(&it, 0, sizeof it);
        it.entry.family = XMPP_FAMILY_INET;
        it.entry.key.prefix.version = 4;
        be32_store(it.entry.key.prefix.addr, r == 0 ? 0xc0a80100u : 0x0a010000u);
        it.entry.key.plen = r == 0 ? 24 : 16;
        it.entry.next_hop_count = r == 0 ? 1 : 3;
        for (size_t i = 0; i < it.entry.next_hop_count; i++) {
            struct xmpp_nexthop *nh = &it.entry.next_hops[i];
            nh->address.version = 4;
            be32_store(nh->address.addr, 0x0a630010u + (uint32_t)i + r * 8);
            nh->label = 100 + (uint32_t)i;
            nh->encaps = i == 1 ? XMPP_ENCAP_GRE : XMPP_ENCAP_UDP | XMPP_ENCAP_VXLAN;
            nh->has_vni = true;
            nh->vni = 5001;
        }
        agent_route_item(c, 0, "red", XMPP_FAMILY_INET, &it);
    }
    struct agent_fip f = {.ip4 = 0x0a090005u, .ri = "ext", .vn = "ext"};
    must(agent_port_fips_set(c, "vm1", &f, 1) == 0);
    must(agent_ri_vrf(c, "ext") == 2);
    struct xmpp_route_item it;
    memset(&it, 0, sizeof it);
    it.entry.family = XMPP_FAMILY_INET;
    it.entry.key.prefix.version = 4;
    be32_store(it.entry.key.prefix.addr, 0x0a090000u);
    it.entry.key.plen = 24;
    it.entry.next_hop_count = 1;
    it.entry.next_hops[0].address.version = 4;
    be32_store(it.entry.next_hops[0].address.addr, 0x0a630020u);
    it.entry.next_hops[0].label = 300;
    it.entry.next_hops[0].encaps = XMPP_ENCAP_GRE;
    agent_route_item(c, 0, "ext", XMPP_FAMILY_INET, &it);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_core *c = core_get();
    struct agent_punt p;
    int rc = agent_punt_parse(data, size, &p);
    if (rc != 0) {
        must(rc == AGENT_EPUNT);
        return 0;
    }
    must(p.frame_size + DP_PUNT_HDR_SIZE == size && p.frame_size >= 14);
    if (p.reason != DP_PUNT_FLOW_MISS) {
        return 0;
    }
    static uint64_t now;
    agent_time_set(c, now += 10);
    struct agent_flow_decision d;
    struct buf re;
    buf_init(&re, 0);
    rc = agent_flow_miss(c, &p, &d, &re);
    must(rc == 0 || rc == AGENT_EPUNT || rc == AGENT_EUNSUPPORTED || rc == AGENT_EFULL);
    if (rc == 0 && re.size) {
        struct agent_punt inj;
        must(d.forward);
        must(re.size >= DP_PUNT_HDR_SIZE + 14 + 20);
        must(re.data[3] == DP_AGENT_TX);
        uint32_t to = be32_load(re.data + 4);
        must(to == AGENT_IF_FABRIC || agent_port_by_ifindex(c, to) != NULL);
        must(agent_punt_parse(re.data, re.size, &inj) == AGENT_EPUNT); /* DP_AGENT_TX is not a punt reason */
    } else if (rc != 0) {
        must(re.size == 0);
    }
    buf_destroy(&re);
    if (now % 5000 == 0) {
        (void)agent_flow_age(c, now + 200000); /* everything idle: the table empties */
    }
    return 0;
}

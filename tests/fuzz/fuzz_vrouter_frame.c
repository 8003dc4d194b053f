/* Fuzzes dp_rx, the vRouter core's per-packet entry, with arbitrary frames
 * on a small pre-populated datapath (every next-hop kind, all three
 * encapsulations, L2 and L3 labels, a VNI, BUM and ECMP composites, flows
 * with NAT and mirror actions). The first input byte chooses the ingress
 * (bits 0-1: VM port with policy, VM port without, fabric, agent) and the
 * headroom (bits 2-7); the rest is the frame. Every transmission the core
 * returns must lie inside the packet buffer, and a drop must name a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vrouter/dp/dp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int rc)
{
    if (rc != 0) {
        abort();
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void route4(struct dp *dp, uint32_t vrf, uint32_t addr, uint8_t plen, uint32_t nh)
{
    struct dp_route r = {.vrf = vrf, .family = 4, .plen = plen, .nh = nh};
    put32(r.addr, addr);
    must(dp_route_add(dp, &r));
}

static struct dp *fuzz_dp(void)
{
    struct dp_config cfg = {.ifs = 8, .vrfs = 4, .nhs = 32, .composites = 4, .labels = 512, .vnis = 4,
                            .bridge = 8, .routes = 16, .lpm_nodes = 64, .flows = 8, .flow_overflow = 2};
    struct dp *dp;
    must(dp_create(&cfg, &dp));
    struct dp_vrf v = {.vrf = 1, .bum_nh = 0};
    must(dp_vrf_add(dp, &v));
    v.vrf = 2;
    must(dp_vrf_add(dp, &v));
    struct dp_if i = {.ifindex = 0, .type = DP_IF_AGENT};
    must(dp_if_add(dp, &i));
    i = (struct dp_if){.ifindex = 1, .type = DP_IF_FABRIC, .ip4 = 0x0a000001,
                       .mac = {2, 0, 0, 0, 0, 1}, .gw_mac = {2, 0, 0, 0, 0, 0xfe}};
    must(dp_if_add(dp, &i));
    i = (struct dp_if){.ifindex = 2, .type = DP_IF_VM, .vrf = 1, .flags = DP_IF_POLICY,
                       .mac = {2, 0xaa, 0, 0, 0, 0x0a}, .gw_ip4 = 0xc0a80101, .dns_ip4 = 0xc0a80102};
    must(dp_if_add(dp, &i));
    i = (struct dp_if){.ifindex = 3, .type = DP_IF_VM, .vrf = 1, .mac = {2, 0xbb, 0, 0, 0, 0x0b}};
    must(dp_if_add(dp, &i));
    struct dp_nh n = {.id = 1, .type = DP_NH_IF, .ifindex = 3, .dmac = {2, 0xbb, 0, 0, 0, 0x0b}};
    must(dp_nh_add(dp, &n));
    n = (struct dp_nh){.id = 2, .type = DP_NH_IF, .ifindex = 3, .flags = DP_NH_L2};
    must(dp_nh_add(dp, &n));
    n = (struct dp_nh){.id = 3, .type = DP_NH_IF, .ifindex = 2, .flags = DP_NH_L2};
    must(dp_nh_add(dp, &n));
    const uint8_t encaps[3] = {DP_ENCAP_MPLS_UDP, DP_ENCAP_MPLS_GRE, DP_ENCAP_VXLAN};
    for (uint32_t k = 0; k < 3; k++) {
        n = (struct dp_nh){.id = 4 + k, .type = DP_NH_TUNNEL, .encap = encaps[k], .ifindex = 1,
                           .sip = 0x0a000001, .dip = 0x0a000002, .label = 100 + k, .dmac = {2, 0xdd, 0, 0, 0, 0x0d}};
        must(dp_nh_add(dp, &n));
    }
    n = (struct dp_nh){.id = 7, .type = DP_NH_ECMP, .member_count = 3, .members = {1, 4, 5}};
    must(dp_nh_add(dp, &n));
    n = (struct dp_nh){.id = 8, .type = DP_NH_BUM, .member_count = 3, .members = {2, 3, 6}};
    must(dp_nh_add(dp, &n));
    n = (struct dp_nh){.id = 9, .type = DP_NH_VRF, .vrf = 1};
    must(dp_nh_add(dp, &n));
    n = (struct dp_nh){.id = 10, .type = DP_NH_DISCARD};
    must(dp_nh_add(dp, &n));
    n = (struct dp_nh){.id = 11, .type = DP_NH_PUNT};
    must(dp_nh_add(dp, &n));
    v = (struct dp_vrf){.vrf = 1, .bum_nh = 8};
    must(dp_vrf_add(dp, &v));
    route4(dp, 1, 0xc0a80114, 32, 1);  /* 192.168.1.20 -> B */
    route4(dp, 1, 0xac100000, 16, 4);  /* 172.16/16 MPLSoUDP */
    route4(dp, 1, 0xac110000, 16, 5);  /* 172.17/16 MPLSoGRE */
    route4(dp, 1, 0xac120000, 16, 6);  /* 172.18/16 VXLAN */
    route4(dp, 1, 0xac130000, 16, 7);  /* ECMP */
    route4(dp, 1, 0x0a630000, 16, 10); /* discard */
    route4(dp, 1, 0x0a640000, 16, 11); /* punt */
    route4(dp, 1, 0, 0, 4);
    struct dp_route r6 = {.vrf = 1, .family = 6, .plen = 16, .addr = {0x20, 0x01}, .nh = 4};
    must(dp_route_add(dp, &r6));
    struct dp_mac m = {.vrf = 1, .mac = {2, 0xbb, 0, 0, 0, 0x0b}, .nh = 2};
    must(dp_mac_add(dp, &m));
    m = (struct dp_mac){.vrf = 1, .mac = {2, 0xdd, 0, 0, 0, 0x0d}, .nh = 6};
    must(dp_mac_add(dp, &m));
    struct dp_label l = {.label = 300, .nh = 1};
    must(dp_label_add(dp, &l));
    l = (struct dp_label){.label = 301, .nh = 2};
    must(dp_label_add(dp, &l));
    l = (struct dp_label){.label = 302, .nh = 8};
    must(dp_label_add(dp, &l));
    l = (struct dp_label){.label = 303, .nh = 9};
    must(dp_label_add(dp, &l));
    l = (struct dp_label){.label = 304, .nh = 7};
    must(dp_label_add(dp, &l));
    struct dp_vni x = {.vni = 5000, .vrf = 1};
    must(dp_vni_add(dp, &x));
    /* Flows for the seed flows: forward, NAT and mirror. */
    struct dp_flow_key k = {.vrf = 1, .proto = 17, .sport = 1000, .dport = 2000, .family = 4};
    put32(k.src, 0xc0a8010a);
    put32(k.dst, 0xac100505);
    struct dp_flow_action a = {.type = DP_FLOW_FORWARD};
    must(dp_flow_set(dp, &k, &a, 0, NULL));
    k.dport = 2001;
    a = (struct dp_flow_action){.type = DP_FLOW_NAT, .flags = DP_FA_SNAT | DP_FA_VRF, .nat_ip = 0xcb007107,
                                .nat_port = 4000, .vrf = 1};
    must(dp_flow_set(dp, &k, &a, 0, NULL));
    k.dport = 2002;
    a = (struct dp_flow_action){.type = DP_FLOW_MIRROR, .mirror_nh = 6};
    must(dp_flow_set(dp, &k, &a, 0, NULL));
    return dp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t ingress[4] = {2, 3, 1, 0};
    static uint8_t mem[2048];
    if (size < 1 || size - 1 > sizeof mem - 64) {
        return 0;
    }
    struct dp *dp = fuzz_dp();
    uint32_t headroom = (uint32_t)(data[0] >> 2);
    memset(mem, 0xa5, sizeof mem);
    memcpy(mem + headroom, data + 1, size - 1);
    struct dp_pkt p = {.buf = mem, .size = (uint32_t)(headroom + size - 1 + (data[0] & 0x80 ? 7 : 0)),
                       .off = headroom, .len = (uint32_t)(size - 1)};
    struct dp_out out;
    dp_rx(dp, ingress[data[0] & 3], &p, 1000, &out);

    if (p.off > p.size || p.len > p.size - p.off) {
        abort();
    }
    if (out.verdict == DP_VERDICT_DROP) {
        if (out.count != 0 || out.drop == DP_DROP_NONE || out.drop >= DP_DROP_COUNT) {
            abort();
        }
    } else if (out.count == 0 || out.count > DP_OUT_MAX) {
        abort();
    }
    static uint8_t frame[4096];
    for (uint32_t t = 0; t < out.count; t++) {
        const struct dp_tx *tx = &out.tx[t];
        if (tx->off > p.size || tx->len > p.size - tx->off || tx->hdr_size > DP_TX_HDR_MAX) {
            abort();
        }
        if (dp_tx_copy(&p, tx, frame, sizeof frame) != tx->hdr_size + tx->len) {
            abort();
        }
    }
    dp_free(dp);
    return 0;
}

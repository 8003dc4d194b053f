/* Sample control messages, one or more per frame type, with every field
 * set to a distinct nonzero value where the encoding allows: the unit tests
 * round-trip them and the fuzz corpus is generated from them. */
#ifndef STRATA_TEST_VR_MSG_SAMPLES_H
#define STRATA_TEST_VR_MSG_SAMPLES_H

#include <string.h>

#include "vrouter/msg/msg.h"

#define SAMPLE_COUNT 33

/* Fills 'm' with sample 'i' (0 <= i < SAMPLE_COUNT). */
static inline void sample_msg(unsigned i, struct vr_msg *m)
{
    static const uint8_t mac1[6] = {2, 0x11, 0x22, 0x33, 0x44, 0x55};
    static const uint8_t mac2[6] = {2, 0x66, 0x77, 0x88, 0x99, 0xaa};
    uint32_t seq = 0x01020300u + i;
    switch (i) {
    case 0:
        vr_msg_init(m, VR_MSG_IF, 0, seq);
        m->u.ifc.dpif = (struct dp_if){.ifindex = 7, .type = DP_IF_VM, .flags = DP_IF_POLICY, .vrf = 3,
                                       .ip4 = 0x0a000001, .gw_ip4 = 0xc0a80101, .dns_ip4 = 0xc0a80102, .gen = 9,
                                       .stats = {1, 2, 3, 4, 5}};
        memcpy(m->u.ifc.dpif.mac, mac1, 6);
        memcpy(m->u.ifc.dpif.gw_mac, mac2, 6);
        strcpy(m->u.ifc.name, "tap-vm1");
        return;
    case 1:
        vr_msg_init(m, VR_MSG_IF, VR_MSG_F_DUMP, seq);
        m->u.ifc.dpif = (struct dp_if){.ifindex = 1, .type = DP_IF_FABRIC, .ip4 = 0x0a000002};
        strcpy(m->u.ifc.name, "abcdefghijklmno"); /* the longest name */
        return;
    case 2:
        vr_msg_init(m, VR_MSG_IF_DEL, 0, seq);
        m->u.id = 7;
        return;
    case 3:
        vr_msg_init(m, VR_MSG_VRF, 0, seq);
        m->u.vrf = (struct dp_vrf){.vrf = 4095, .bum_nh = 17, .gen = 3};
        return;
    case 4:
        vr_msg_init(m, VR_MSG_VRF_DEL, 0, seq);
        m->u.id = 4095;
        return;
    case 5:
        vr_msg_init(m, VR_MSG_NH, 0, seq);
        m->u.nh = (struct dp_nh){.id = 11, .type = DP_NH_TUNNEL, .encap = DP_ENCAP_MPLS_UDP, .ifindex = 1,
                                 .label = 100, .sip = 0x0a000001, .dip = 0x0a000002, .gen = 2};
        memcpy(m->u.nh.dmac, mac1, 6);
        memcpy(m->u.nh.outer_dmac, mac2, 6);
        return;
    case 6:
        vr_msg_init(m, VR_MSG_NH, 0, seq);
        m->u.nh = (struct dp_nh){.id = 12, .type = DP_NH_ECMP, .member_count = 3, .members = {5, 6, 7}};
        return;
    case 7:
        vr_msg_init(m, VR_MSG_NH, VR_MSG_F_DUMP, seq);
        m->u.nh = (struct dp_nh){.id = 13, .type = DP_NH_BUM, .member_count = DP_NH_MAX_MEMBERS, .flags = DP_NH_L2};
        for (unsigned k = 0; k < DP_NH_MAX_MEMBERS; k++) {
            m->u.nh.members[k] = 100 + k;
        }
        return;
    case 8:
        vr_msg_init(m, VR_MSG_NH_DEL, 0, seq);
        m->u.id = 13;
        return;
    case 9:
        vr_msg_init(m, VR_MSG_ROUTE, 0, seq);
        m->u.route = (struct dp_route){.vrf = 1, .family = 4, .plen = 24, .addr = {192, 168, 1, 0}, .nh = 11};
        return;
    case 10:
        vr_msg_init(m, VR_MSG_ROUTE, 0, seq);
        m->u.route = (struct dp_route){.vrf = 2, .family = 6, .plen = 128, .nh = 12, .gen = 5,
                                       .addr = {0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}};
        return;
    case 11:
        vr_msg_init(m, VR_MSG_ROUTE_DEL, 0, seq);
        m->u.route = (struct dp_route){.vrf = 1, .family = 4, .plen = 0};
        return;
    case 12:
        vr_msg_init(m, VR_MSG_MAC, 0, seq);
        m->u.mac = (struct dp_mac){.vrf = 1, .nh = 11, .gen = 4};
        memcpy(m->u.mac.mac, mac2, 6);
        return;
    case 13:
        vr_msg_init(m, VR_MSG_MAC_DEL, 0, seq);
        m->u.mac = (struct dp_mac){.vrf = 1};
        memcpy(m->u.mac.mac, mac1, 6);
        return;
    case 14:
        vr_msg_init(m, VR_MSG_LABEL, 0, seq);
        m->u.label = (struct dp_label){.label = (1u << 20) - 1, .nh = 11, .gen = 6};
        return;
    case 15:
        vr_msg_init(m, VR_MSG_LABEL_DEL, 0, seq);
        m->u.id = 100;
        return;
    case 16:
        vr_msg_init(m, VR_MSG_VNI, 0, seq);
        m->u.vni = (struct dp_vni){.vni = (1u << 24) - 1, .vrf = 1, .nh = 3, .gen = 8};
        return;
    case 17:
        vr_msg_init(m, VR_MSG_VNI_DEL, 0, seq);
        m->u.id = 5001;
        return;
    case 18:
        vr_msg_init(m, VR_MSG_FLOW, 0, seq);
        m->u.flow.key = (struct dp_flow_key){.vrf = 1, .family = 4, .proto = 6, .sport = 1000, .dport = 80,
                                             .src = {192, 168, 1, 1}, .dst = {192, 168, 1, 2}};
        m->u.flow.action = (struct dp_flow_action){.type = DP_FLOW_NAT, .flags = DP_FA_SNAT | DP_FA_VRF,
                                                   .nat_port = 4000, .nat_ip = 0x0a0a0a0a, .vrf = 2};
        return;
    case 19:
        vr_msg_init(m, VR_MSG_FLOW, VR_MSG_F_DUMP, seq);
        m->u.flow = (struct dp_flow){.index = 77, .state = DP_FLOW_ACTIVE, .reverse = DP_FLOW_NONE,
                                     .packets = 1ull << 40, .bytes = 1ull << 50, .last_seen_ms = 123456789, .gen = 3};
        m->u.flow.key = (struct dp_flow_key){.vrf = 2, .family = 6, .proto = 17, .sport = 53, .dport = 5353,
                                             .src = {0xfe, 0x80, [15] = 1}, .dst = {0xfe, 0x80, [15] = 2}};
        m->u.flow.action = (struct dp_flow_action){.type = DP_FLOW_MIRROR, .mirror_nh = 12};
        return;
    case 20:
        vr_msg_init(m, VR_MSG_FLOW_DEL, 0, seq);
        m->u.flow.key = (struct dp_flow_key){.vrf = 1, .family = 4, .proto = 1, .src = {10, 0, 0, 1}, .dst = {10, 0, 0, 2}};
        return;
    case 21:
        vr_msg_init(m, VR_MSG_GEN_BEGIN, 0, seq);
        m->u.id = 2;
        return;
    case 22:
        vr_msg_init(m, VR_MSG_SWEEP, 0, seq);
        m->u.id = 2;
        return;
    case 23:
        vr_msg_init(m, VR_MSG_STATS_REQ, 0, seq);
        return;
    case 24:
        vr_msg_init(m, VR_MSG_STATS, 0, seq);
        m->u.stats.drop_count = DP_DROP_COUNT;
        for (unsigned k = 0; k < DP_DROP_COUNT; k++) {
            m->u.stats.stats.drops[k] = 1000 + k;
        }
        m->u.stats.stats.punts = 5;
        m->u.stats.stats.flows_active = 6;
        m->u.stats.stats.flows_held = 7;
        return;
    case 25:
        vr_msg_init(m, VR_MSG_DUMP_REQ, 0, seq);
        m->u.table = VR_TABLE_FLOW;
        return;
    case 27:
        vr_msg_init(m, VR_MSG_PUNT_SUB, 0, seq);
        m->u.id = VR_PUNT_SUB_ALL;
        return;
    case 28:
        vr_msg_init(m, VR_MSG_PUNT, 0, 0);
        m->u.punt = (struct vr_msg_punt){.reason = DP_PUNT_FLOW_MISS, .ifindex = 3, .vrf = 4, .flow = 77,
                                         .frame_size = 60};
        for (unsigned k = 0; k < 60; k++) {
            m->u.punt.frame[k] = (uint8_t)(k + 1);
        }
        return;
    case 29:
        vr_msg_init(m, VR_MSG_PUNT, 0, 0);
        m->u.punt = (struct vr_msg_punt){.reason = DP_PUNT_NH, .ifindex = 1, .vrf = 2, .flow = DP_FLOW_NONE,
                                         .frame_size = VR_MSG_PUNT_FRAME_MAX}; /* the largest */
        memset(m->u.punt.frame, 0xa5, VR_MSG_PUNT_FRAME_MAX);
        return;
    case 30:
        vr_msg_init(m, VR_MSG_FLOW, VR_MSG_F_QUIET, seq);
        m->u.flow.key = (struct dp_flow_key){.vrf = 5, .src = {10, 0, 0, 1}, .dst = {10, 0, 0, 2}, .sport = 1000,
                                             .dport = 2000, .proto = 17, .family = 4};
        m->u.flow.action.type = DP_FLOW_FORWARD;
        return;
    case 31:
        vr_msg_init(m, VR_MSG_FLOW_PAIR, VR_MSG_F_QUIET, seq);
        m->u.pair.fwd.key = (struct dp_flow_key){.vrf = 5, .src = {10, 0, 0, 1}, .dst = {10, 0, 0, 2}, .sport = 1000,
                                                 .dport = 2000, .proto = 17, .family = 4};
        m->u.pair.fwd.action = (struct dp_flow_action){.type = DP_FLOW_NAT, .flags = DP_FA_DNAT, .nat_ip = 0x0a000009};
        m->u.pair.rev.key = (struct dp_flow_key){.vrf = 6, .src = {10, 0, 0, 9}, .dst = {10, 0, 0, 1}, .sport = 2000,
                                                 .dport = 1000, .proto = 17, .family = 4};
        m->u.pair.rev.action = (struct dp_flow_action){.type = DP_FLOW_NAT, .flags = DP_FA_SNAT | DP_FA_VRF,
                                                       .nat_ip = 0x0a000002, .vrf = 5};
        return;
    case 32:
        vr_msg_init(m, VR_MSG_RING, 0, seq);
        m->u.ring.slots = VR_RING_SLOTS_MIN * 64;
        return;
    default:
        vr_msg_init(m, VR_MSG_REPLY, 0, seq);
        m->u.reply = (struct vr_msg_reply){.code = VR_ENOVRF, .value = 42};
        return;
    }
}

#endif

/* The one place a decoded control request becomes a change of the
 * forwarding core's tables: vr_msg_apply maps each table-writing frame type
 * (IF .. SWEEP) to its dp_* call. Every host of the core (strata-vrouter's
 * unix socket, the kernel module's generic netlink family, tests standing in
 * for either) calls it, then does its own host work (attaching OS devices,
 * answering stats and dumps). It lives beside the codec rather than in
 * vrouter/dp because the core knows nothing of the message set (msg.h
 * depends on dp.h, never the reverse). Portable like msg.c: no libc, no
 * allocation; the kernel module compiles it as is. */
#include "vrouter/msg/msg.h"

int vr_msg_apply(struct dp *dp, const struct vr_msg *m, uint64_t now_ms, uint32_t *value)
{
    uint32_t scratch = 0;
    if (!value) {
        value = &scratch;
    }
    *value = 0;
    switch ((enum vr_msg_type)m->type) {
    case VR_MSG_IF:
        return dp_if_add(dp, &m->u.ifc.dpif);
    case VR_MSG_IF_DEL:
        return dp_if_del(dp, m->u.id);
    case VR_MSG_VRF:
        return dp_vrf_add(dp, &m->u.vrf);
    case VR_MSG_VRF_DEL:
        return dp_vrf_del(dp, m->u.id);
    case VR_MSG_NH:
        return dp_nh_add(dp, &m->u.nh);
    case VR_MSG_NH_DEL:
        return dp_nh_del(dp, m->u.id);
    case VR_MSG_ROUTE:
        return dp_route_add(dp, &m->u.route);
    case VR_MSG_ROUTE_DEL:
        return dp_route_del(dp, &m->u.route);
    case VR_MSG_MAC:
        return dp_mac_add(dp, &m->u.mac);
    case VR_MSG_MAC_DEL:
        return dp_mac_del(dp, m->u.mac.vrf, m->u.mac.mac);
    case VR_MSG_LABEL:
        return dp_label_add(dp, &m->u.label);
    case VR_MSG_LABEL_DEL:
        return dp_label_del(dp, m->u.id);
    case VR_MSG_VNI:
        return dp_vni_add(dp, &m->u.vni);
    case VR_MSG_VNI_DEL:
        return dp_vni_del(dp, m->u.id);
    case VR_MSG_FLOW:
        return dp_flow_set(dp, &m->u.flow.key, &m->u.flow.action, now_ms, value);
    case VR_MSG_FLOW_DEL:
        return dp_flow_del(dp, &m->u.flow.key);
    case VR_MSG_FLOW_PAIR:
        return dp_flow_set_pair(dp, &m->u.pair.fwd.key, &m->u.pair.fwd.action, &m->u.pair.rev.key,
                                &m->u.pair.rev.action, now_ms, value, NULL);
    case VR_MSG_GEN_BEGIN:
        dp_generation_begin(dp, m->u.id);
        return 0;
    case VR_MSG_SWEEP:
        *value = dp_sweep(dp, m->u.id);
        return 0;
    case VR_MSG_STATS_REQ:
    case VR_MSG_DUMP_REQ:
    case VR_MSG_STATS:
    case VR_MSG_REPLY:
    case VR_MSG_PUNT_SUB:
    case VR_MSG_PUNT:
    case VR_MSG_RING:
        break;
    }
    return VR_MSG_ETYPE;
}

/* Unit tests of vr_msg_apply (vrouter/msg/msg_apply.c), the one mapping of
 * control requests onto the forwarding core shared by strata-vrouter, the
 * kernel module and the agent's tests. Every request goes through the wire
 * codec first (as a host receives it) and is then applied to a real core.
 * They prove that each table-writing type reaches its table (read back
 * with dp_*_get, stamped with the generation announced by GEN_BEGIN), that
 * each *_DEL removes its entry, that FLOW reports the flow's slot and SWEEP
 * the number of entries swept, that the core's refusals come back unchanged
 * and the non-applicable types (STATS_REQ, DUMP_REQ, STATS, REPLY) are
 * VR_MSG_ETYPE without touching any table, and that a NULL value is fine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vrouter/msg/msg.h"

static struct dp *new_dp(void)
{
    struct dp_config cfg = {.ifs = 16, .vrfs = 16, .nhs = 64, .composites = 8, .labels = 1024, .vnis = 64,
                            .bridge = 64, .routes = 64, .lpm_nodes = 64, .flows = 64, .flow_overflow = 8};
    struct dp *dp = NULL;
    assert_int_equal(dp_create(&cfg, &dp), 0);
    return dp;
}

/* Encodes 'm', decodes it back and applies the decoded copy. */
static int wire_apply(struct dp *dp, const struct vr_msg *m, uint32_t *value)
{
    uint8_t frame[VR_MSG_MAX];
    size_t size = 0;
    struct vr_msg back;
    assert_int_equal(vr_msg_encode(m, frame, sizeof frame, &size), 0);
    assert_int_equal(vr_msg_decode(frame, size, &back), 0);
    return vr_msg_apply(dp, &back, 1000, value);
}

static int apply_id(struct dp *dp, uint8_t type, uint32_t id, uint32_t *value)
{
    struct vr_msg m;
    vr_msg_init(&m, type, 0, 7);
    m.u.id = id;
    return wire_apply(dp, &m, value);
}

static struct vr_msg flow_msg(uint8_t type)
{
    struct vr_msg m;
    vr_msg_init(&m, type, 0, 9);
    m.u.flow.key.vrf = 1;
    m.u.flow.key.family = 4;
    m.u.flow.key.proto = 17;
    memcpy(m.u.flow.key.src, (uint8_t[]){10, 0, 0, 1}, 4);
    memcpy(m.u.flow.key.dst, (uint8_t[]){10, 0, 0, 2}, 4);
    m.u.flow.key.sport = 1000;
    m.u.flow.key.dport = 2000;
    m.u.flow.action.type = DP_FLOW_FORWARD;
    return m;
}

/* Installs one entry of every table through the message set. */
static void install_all(struct dp *dp)
{
    struct vr_msg m;
    uint32_t value = 99;

    vr_msg_init(&m, VR_MSG_VRF, 0, 1);
    m.u.vrf.vrf = 1;
    assert_int_equal(wire_apply(dp, &m, &value), 0);
    assert_int_equal(value, 0);

    vr_msg_init(&m, VR_MSG_IF, 0, 2);
    m.u.ifc.dpif = (struct dp_if){.ifindex = 3, .type = DP_IF_VM, .vrf = 1, .mac = {2, 0, 0, 0, 0, 3}};
    memcpy(m.u.ifc.name, "tap3", 5); /* a host's business: the core ignores it */
    assert_int_equal(wire_apply(dp, &m, NULL), 0);
    vr_msg_init(&m, VR_MSG_IF, 0, 3);
    m.u.ifc.dpif = (struct dp_if){.ifindex = 1, .type = DP_IF_FABRIC, .ip4 = 0x0a000001};
    assert_int_equal(wire_apply(dp, &m, NULL), 0);

    vr_msg_init(&m, VR_MSG_NH, 0, 4);
    m.u.nh = (struct dp_nh){.id = 10, .type = DP_NH_IF, .ifindex = 3, .dmac = {2, 0, 0, 0, 0, 3}};
    assert_int_equal(wire_apply(dp, &m, NULL), 0);
    vr_msg_init(&m, VR_MSG_NH, 0, 5);
    m.u.nh = (struct dp_nh){.id = 20, .type = DP_NH_TUNNEL, .encap = DP_ENCAP_MPLS_UDP, .ifindex = 1,
                            .label = 200, .sip = 0x0a000001, .dip = 0x0a000002};
    assert_int_equal(wire_apply(dp, &m, NULL), 0);

    vr_msg_init(&m, VR_MSG_ROUTE, 0, 6);
    m.u.route = (struct dp_route){.vrf = 1, .family = 4, .plen = 24, .addr = {10, 0, 0, 0}, .nh = 20};
    assert_int_equal(wire_apply(dp, &m, NULL), 0);

    vr_msg_init(&m, VR_MSG_MAC, 0, 7);
    m.u.mac = (struct dp_mac){.vrf = 1, .mac = {2, 0, 0, 0, 0, 3}, .nh = 10};
    assert_int_equal(wire_apply(dp, &m, NULL), 0);

    vr_msg_init(&m, VR_MSG_LABEL, 0, 8);
    m.u.label = (struct dp_label){.label = 100, .nh = 10};
    assert_int_equal(wire_apply(dp, &m, NULL), 0);

    vr_msg_init(&m, VR_MSG_VNI, 0, 9);
    m.u.vni = (struct dp_vni){.vni = 5000, .vrf = 1};
    assert_int_equal(wire_apply(dp, &m, NULL), 0);

    m = flow_msg(VR_MSG_FLOW);
    value = 0xdeadbeef;
    assert_int_equal(wire_apply(dp, &m, &value), 0);
    struct dp_flow f;
    assert_int_equal(dp_flow_get(dp, &m.u.flow.key, &f), 0);
    assert_int_equal(value, f.index); /* FLOW answers with the slot */
    assert_int_equal(f.state, DP_FLOW_ACTIVE);
    assert_int_equal(f.last_seen_ms, 1000); /* the clock given */
}

static void test_apply_every_table(void **state)
{
    (void)state;
    struct dp *dp = new_dp();
    assert_int_equal(apply_id(dp, VR_MSG_GEN_BEGIN, 5, NULL), 0);
    assert_int_equal(dp_generation(dp), 5);
    install_all(dp);

    struct dp_if i;
    assert_int_equal(dp_if_get(dp, 3, &i), 0);
    assert_int_equal(i.type, DP_IF_VM);
    assert_int_equal(i.vrf, 1);
    assert_int_equal(i.gen, 5);
    assert_int_equal(dp_if_get(dp, 1, &i), 0);
    assert_int_equal(i.type, DP_IF_FABRIC);
    struct dp_vrf v;
    assert_int_equal(dp_vrf_get(dp, 1, &v), 0);
    assert_int_equal(v.gen, 5);
    struct dp_nh n;
    assert_int_equal(dp_nh_get(dp, 20, &n), 0);
    assert_int_equal(n.type, DP_NH_TUNNEL);
    assert_int_equal(n.label, 200);
    assert_int_equal(dp_route_lookup(dp, 1, 4, (const uint8_t[]){10, 0, 0, 77}), 20);
    struct dp_mac mac;
    assert_int_equal(dp_mac_get(dp, 1, (const uint8_t[]){2, 0, 0, 0, 0, 3}, &mac), 0);
    assert_int_equal(mac.nh, 10);
    struct dp_label l;
    assert_int_equal(dp_label_get(dp, 100, &l), 0);
    assert_int_equal(l.nh, 10);
    struct dp_vni x;
    assert_int_equal(dp_vni_get(dp, 5000, &x), 0);
    assert_int_equal(x.vrf, 1);
    dp_free(dp);
}

static void test_apply_deletes(void **state)
{
    (void)state;
    struct dp *dp = new_dp();
    install_all(dp);
    struct vr_msg m = flow_msg(VR_MSG_FLOW_DEL);
    struct dp_flow f;
    assert_int_equal(wire_apply(dp, &m, NULL), 0);
    assert_int_equal(dp_flow_get(dp, &m.u.flow.key, &f), VR_ENOENT);

    assert_int_equal(apply_id(dp, VR_MSG_VNI_DEL, 5000, NULL), 0);
    struct dp_vni x;
    assert_int_equal(dp_vni_get(dp, 5000, &x), VR_ENOENT);
    assert_int_equal(apply_id(dp, VR_MSG_LABEL_DEL, 100, NULL), 0);
    struct dp_label l;
    assert_int_equal(dp_label_get(dp, 100, &l), VR_ENOENT);

    vr_msg_init(&m, VR_MSG_MAC_DEL, 0, 1);
    m.u.mac = (struct dp_mac){.vrf = 1, .mac = {2, 0, 0, 0, 0, 3}};
    assert_int_equal(wire_apply(dp, &m, NULL), 0);
    struct dp_mac mac;
    assert_int_equal(dp_mac_get(dp, 1, m.u.mac.mac, &mac), VR_ENOENT);

    vr_msg_init(&m, VR_MSG_ROUTE_DEL, 0, 1);
    m.u.route = (struct dp_route){.vrf = 1, .family = 4, .plen = 24, .addr = {10, 0, 0, 0}};
    assert_int_equal(wire_apply(dp, &m, NULL), 0);
    assert_int_equal(dp_route_lookup(dp, 1, 4, (const uint8_t[]){10, 0, 0, 77}), 0);

    assert_int_equal(apply_id(dp, VR_MSG_NH_DEL, 20, NULL), 0);
    struct dp_nh n;
    assert_int_equal(dp_nh_get(dp, 20, &n), VR_ENOENT);
    assert_int_equal(apply_id(dp, VR_MSG_IF_DEL, 3, NULL), 0);
    struct dp_if i;
    assert_int_equal(dp_if_get(dp, 3, &i), VR_ENOENT);
    assert_int_equal(apply_id(dp, VR_MSG_VRF_DEL, 1, NULL), 0);
    struct dp_vrf v;
    assert_int_equal(dp_vrf_get(dp, 1, &v), VR_ENOENT);
    dp_free(dp);
}

static void test_apply_sweep_counts(void **state)
{
    (void)state;
    struct dp *dp = new_dp();
    assert_int_equal(apply_id(dp, VR_MSG_GEN_BEGIN, 1, NULL), 0);
    install_all(dp);
    /* generation 2 re-installs only the VRF: everything else is swept */
    assert_int_equal(apply_id(dp, VR_MSG_GEN_BEGIN, 2, NULL), 0);
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_VRF, 0, 1);
    m.u.vrf.vrf = 1;
    assert_int_equal(wire_apply(dp, &m, NULL), 0);
    uint32_t value = 0;
    assert_int_equal(apply_id(dp, VR_MSG_SWEEP, 2, &value), 0);
    assert_int_equal(value, 9); /* 2 interfaces, 2 next hops, route, MAC, label, VNI, flow */
    struct dp_vrf v;
    assert_int_equal(dp_vrf_get(dp, 1, &v), 0);
    struct dp_nh n;
    assert_int_equal(dp_nh_get(dp, 10, &n), VR_ENOENT);
    struct dp_if i;
    assert_int_equal(dp_if_get(dp, 3, &i), VR_ENOENT);
    /* nothing older is left: a second sweep removes nothing (NULL value is fine) */
    value = 77;
    assert_int_equal(apply_id(dp, VR_MSG_SWEEP, 2, &value), 0);
    assert_int_equal(value, 0);
    assert_int_equal(apply_id(dp, VR_MSG_SWEEP, 2, NULL), 0);
    dp_free(dp);
}

static void test_apply_refusals(void **state)
{
    (void)state;
    struct dp *dp = new_dp();
    struct vr_msg m;
    /* a VM port in a VRF that does not exist: the core's code, unchanged */
    vr_msg_init(&m, VR_MSG_IF, 0, 1);
    m.u.ifc.dpif = (struct dp_if){.ifindex = 2, .type = DP_IF_VM, .vrf = 9};
    assert_int_equal(wire_apply(dp, &m, NULL), VR_ENOVRF);
    struct dp_if i;
    assert_int_equal(dp_if_get(dp, 2, &i), VR_ENOENT);
    vr_msg_init(&m, VR_MSG_ROUTE, 0, 2);
    m.u.route = (struct dp_route){.vrf = 9, .family = 4, .plen = 8, .addr = {10}, .nh = 1};
    assert_int_equal(wire_apply(dp, &m, NULL), VR_ENOVRF);
    assert_int_equal(apply_id(dp, VR_MSG_NH_DEL, 33, NULL), VR_ENOENT);

    /* the types a host answers itself are refused and change nothing */
    install_all(dp);
    static const uint8_t others[] = {VR_MSG_STATS_REQ, VR_MSG_DUMP_REQ, VR_MSG_STATS,
                                     VR_MSG_REPLY,     VR_MSG_PUNT_SUB, VR_MSG_PUNT};
    for (size_t k = 0; k < sizeof others; k++) {
        vr_msg_init(&m, others[k], 0, 3);
        if (others[k] == VR_MSG_DUMP_REQ) {
            m.u.table = VR_TABLE_IF;
        }
        uint32_t value = 5;
        assert_int_equal(vr_msg_apply(dp, &m, 1, &value), VR_MSG_ETYPE);
        assert_int_equal(value, 0);
    }
    uint32_t pos = 0, count = 0;
    struct dp_nh n;
    while (dp_nh_next(dp, &pos, &n) == 0) {
        count++;
    }
    assert_int_equal(count, 2);
    dp_free(dp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_every_table),
        cmocka_unit_test(test_apply_deletes),
        cmocka_unit_test(test_apply_sweep_counts),
        cmocka_unit_test(test_apply_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

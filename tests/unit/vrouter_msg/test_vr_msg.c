/* Unit tests of the control message codec (vrouter/msg): every sample of
 * every frame type survives encode -> decode field for field and re-encodes
 * to the same bytes; every truncation is rejected, both as a short read of
 * the frame and with the header's size patched to the truncated length (so
 * the body's checked cursor itself must refuse); header, flag and field
 * range errors are reported with their own codes; the encoder refuses what
 * the decoder would refuse and what does not fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/vrouter_msg/msg_samples.h"

static void if_equal(const struct vr_msg_if *a, const struct vr_msg_if *b)
{
    const struct dp_if *x = &a->dpif, *y = &b->dpif;
    assert_int_equal(x->ifindex, y->ifindex);
    assert_int_equal(x->type, y->type);
    assert_int_equal(x->flags, y->flags);
    assert_int_equal(x->vrf, y->vrf);
    assert_memory_equal(x->mac, y->mac, 6);
    assert_int_equal(x->ip4, y->ip4);
    assert_int_equal(x->gw_ip4, y->gw_ip4);
    assert_int_equal(x->dns_ip4, y->dns_ip4);
    assert_memory_equal(x->gw_mac, y->gw_mac, 6);
    assert_int_equal(x->gen, y->gen);
    assert_memory_equal(&x->stats, &y->stats, sizeof x->stats);
    assert_string_equal(a->name, b->name);
}

static void nh_equal(const struct dp_nh *x, const struct dp_nh *y)
{
    assert_int_equal(x->id, y->id);
    assert_int_equal(x->type, y->type);
    assert_int_equal(x->encap, y->encap);
    assert_int_equal(x->flags, y->flags);
    assert_int_equal(x->member_count, y->member_count);
    assert_int_equal(x->ifindex, y->ifindex);
    assert_int_equal(x->vrf, y->vrf);
    assert_int_equal(x->label, y->label);
    assert_int_equal(x->sip, y->sip);
    assert_int_equal(x->dip, y->dip);
    assert_memory_equal(x->dmac, y->dmac, 6);
    assert_memory_equal(x->outer_dmac, y->outer_dmac, 6);
    assert_memory_equal(x->members, y->members, sizeof x->members);
    assert_int_equal(x->gen, y->gen);
}

static void key_equal(const struct dp_flow_key *x, const struct dp_flow_key *y)
{
    assert_int_equal(x->vrf, y->vrf);
    assert_int_equal(x->family, y->family);
    assert_int_equal(x->proto, y->proto);
    assert_memory_equal(x->src, y->src, 16);
    assert_memory_equal(x->dst, y->dst, 16);
    assert_int_equal(x->sport, y->sport);
    assert_int_equal(x->dport, y->dport);
}

static void flow_equal(const struct dp_flow *x, const struct dp_flow *y)
{
    key_equal(&x->key, &y->key);
    assert_int_equal(x->action.type, y->action.type);
    assert_int_equal(x->action.flags, y->action.flags);
    assert_int_equal(x->action.nat_port, y->action.nat_port);
    assert_int_equal(x->action.nat_ip, y->action.nat_ip);
    assert_int_equal(x->action.vrf, y->action.vrf);
    assert_int_equal(x->action.mirror_nh, y->action.mirror_nh);
    assert_int_equal(x->index, y->index);
    assert_int_equal(x->state, y->state);
    assert_int_equal(x->reverse, y->reverse);
    assert_int_equal(x->packets, y->packets);
    assert_int_equal(x->bytes, y->bytes);
    assert_int_equal(x->last_seen_ms, y->last_seen_ms);
    assert_int_equal(x->gen, y->gen);
}

/* Asserts that 'a' and 'b' carry the same type, header and body fields. */
static void msg_equal(const struct vr_msg *a, const struct vr_msg *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->seq, b->seq);
    switch ((enum vr_msg_type)a->type) {
    case VR_MSG_IF:
        if_equal(&a->u.ifc, &b->u.ifc);
        return;
    case VR_MSG_VRF:
        assert_int_equal(a->u.vrf.vrf, b->u.vrf.vrf);
        assert_int_equal(a->u.vrf.bum_nh, b->u.vrf.bum_nh);
        assert_int_equal(a->u.vrf.gen, b->u.vrf.gen);
        return;
    case VR_MSG_NH:
        nh_equal(&a->u.nh, &b->u.nh);
        return;
    case VR_MSG_ROUTE:
    case VR_MSG_ROUTE_DEL:
        assert_int_equal(a->u.route.vrf, b->u.route.vrf);
        assert_int_equal(a->u.route.family, b->u.route.family);
        assert_int_equal(a->u.route.plen, b->u.route.plen);
        assert_memory_equal(a->u.route.addr, b->u.route.addr, 16);
        assert_int_equal(a->u.route.nh, b->u.route.nh);
        assert_int_equal(a->u.route.gen, b->u.route.gen);
        return;
    case VR_MSG_MAC:
    case VR_MSG_MAC_DEL:
        assert_int_equal(a->u.mac.vrf, b->u.mac.vrf);
        assert_memory_equal(a->u.mac.mac, b->u.mac.mac, 6);
        assert_int_equal(a->u.mac.nh, b->u.mac.nh);
        assert_int_equal(a->u.mac.gen, b->u.mac.gen);
        return;
    case VR_MSG_LABEL:
        assert_int_equal(a->u.label.label, b->u.label.label);
        assert_int_equal(a->u.label.nh, b->u.label.nh);
        assert_int_equal(a->u.label.gen, b->u.label.gen);
        return;
    case VR_MSG_VNI:
        assert_int_equal(a->u.vni.vni, b->u.vni.vni);
        assert_int_equal(a->u.vni.vrf, b->u.vni.vrf);
        assert_int_equal(a->u.vni.nh, b->u.vni.nh);
        assert_int_equal(a->u.vni.gen, b->u.vni.gen);
        return;
    case VR_MSG_FLOW:
        flow_equal(&a->u.flow, &b->u.flow);
        return;
    case VR_MSG_FLOW_DEL:
        key_equal(&a->u.flow.key, &b->u.flow.key);
        return;
    case VR_MSG_IF_DEL:
    case VR_MSG_VRF_DEL:
    case VR_MSG_NH_DEL:
    case VR_MSG_LABEL_DEL:
    case VR_MSG_VNI_DEL:
    case VR_MSG_GEN_BEGIN:
    case VR_MSG_SWEEP:
        assert_int_equal(a->u.id, b->u.id);
        return;
    case VR_MSG_STATS_REQ:
        return;
    case VR_MSG_STATS:
        assert_int_equal(a->u.stats.drop_count, b->u.stats.drop_count);
        assert_memory_equal(&a->u.stats.stats, &b->u.stats.stats, sizeof a->u.stats.stats);
        return;
    case VR_MSG_DUMP_REQ:
        assert_int_equal(a->u.table, b->u.table);
        return;
    case VR_MSG_REPLY:
        assert_int_equal(a->u.reply.code, b->u.reply.code);
        assert_int_equal(a->u.reply.value, b->u.reply.value);
        return;
    case VR_MSG_PUNT_SUB:
        assert_int_equal(a->u.id, b->u.id);
        return;
    case VR_MSG_FLOW_PAIR:
        flow_equal(&a->u.pair.fwd, &b->u.pair.fwd);
        flow_equal(&a->u.pair.rev, &b->u.pair.rev);
        return;
    case VR_MSG_RING:
        assert_int_equal(a->u.ring.slots, b->u.ring.slots);
        return;
    case VR_MSG_PUNT:
        assert_int_equal(a->u.punt.reason, b->u.punt.reason);
        assert_int_equal(a->u.punt.ifindex, b->u.punt.ifindex);
        assert_int_equal(a->u.punt.vrf, b->u.punt.vrf);
        assert_int_equal(a->u.punt.flow, b->u.punt.flow);
        assert_int_equal(a->u.punt.frame_size, b->u.punt.frame_size);
        assert_memory_equal(a->u.punt.frame, b->u.punt.frame, VR_MSG_PUNT_FRAME_MAX);
        return;
    }
    fail_msg("unexpected type %u", a->type);
}

static size_t encode_sample(unsigned i, struct vr_msg *m, uint8_t *buf)
{
    size_t size = 0;
    sample_msg(i, m);
    assert_int_equal(vr_msg_encode(m, buf, VR_MSG_MAX, &size), 0);
    assert_true(size >= VR_MSG_HDR_SIZE && size <= VR_MSG_MAX);
    return size;
}

static void test_round_trip_every_sample(void **state)
{
    (void)state;
    unsigned seen[VR_MSG_TYPE_MAX + 1] = {0};
    for (unsigned i = 0; i < SAMPLE_COUNT; i++) {
        struct vr_msg m, d;
        uint8_t a[VR_MSG_MAX], b[VR_MSG_MAX];
        size_t sa = encode_sample(i, &m, a), sb = 0;
        size_t peek = 0;
        assert_int_equal(vr_msg_peek(a, sa, &peek), 0);
        assert_int_equal(peek, sa);
        assert_int_equal(vr_msg_decode(a, sa, &d), 0);
        msg_equal(&m, &d);
        assert_int_equal(vr_msg_encode(&d, b, sizeof b, &sb), 0);
        assert_int_equal(sa, sb);
        assert_memory_equal(a, b, sa);
        seen[m.type]++;
    }
    for (unsigned t = VR_MSG_IF; t <= VR_MSG_TYPE_MAX; t++) {
        assert_true(seen[t] > 0); /* every frame type has a sample */
    }
}

static void test_header_layout(void **state)
{
    (void)state;
    struct vr_msg m;
    uint8_t a[VR_MSG_MAX];
    size_t size = encode_sample(22, &m, a); /* SWEEP 2 */
    static const uint8_t want[] = {0x56, 0x52, 1, VR_MSG_SWEEP, 0, 0, 0, 16, 1, 2, 3, 22, 0, 0, 0, 2};
    assert_int_equal(size, sizeof want);
    assert_memory_equal(a, want, sizeof want);
    assert_string_equal(vr_msg_type_name(VR_MSG_SWEEP), "SWEEP");
    assert_string_equal(vr_msg_type_name(0), "unknown");
    assert_string_equal(vr_msg_type_name(99), "unknown");
}

static void test_every_truncation_rejected(void **state)
{
    (void)state;
    for (unsigned i = 0; i < SAMPLE_COUNT; i++) {
        struct vr_msg m, d;
        uint8_t a[VR_MSG_MAX], t[VR_MSG_MAX];
        size_t size = encode_sample(i, &m, a);
        for (size_t n = 0; n < size; n++) {
            /* the stream as read so far */
            assert_int_not_equal(vr_msg_decode(a, n, &d), 0);
            /* a frame whose header claims the shorter size */
            if (n >= VR_MSG_HDR_SIZE) {
                memcpy(t, a, n);
                t[6] = (uint8_t)(n >> 8);
                t[7] = (uint8_t)n;
                int rc = vr_msg_decode(t, n, &d);
                assert_int_equal(rc, VR_MSG_ESHORT);
            }
        }
        if (size > VR_MSG_HDR_SIZE) {
            /* the same frame with one byte too many */
            memcpy(t, a, size);
            t[size] = 0;
            t[6] = (uint8_t)((size + 1) >> 8);
            t[7] = (uint8_t)(size + 1);
            assert_int_equal(vr_msg_decode(t, size + 1, &d), VR_MSG_ETRAILING);
            assert_int_equal(vr_msg_decode(a, size + 1, &d), VR_MSG_ETRAILING);
        }
    }
}

static void test_header_errors(void **state)
{
    (void)state;
    struct vr_msg m, d;
    uint8_t a[VR_MSG_MAX], t[VR_MSG_MAX];
    size_t size = encode_sample(3, &m, a), peek = 0;
    assert_int_equal(vr_msg_peek(a, VR_MSG_HDR_SIZE - 1, &peek), VR_MSG_ESHORT);
    memcpy(t, a, size);
    t[0] ^= 1;
    assert_int_equal(vr_msg_peek(t, size, &peek), VR_MSG_EMAGIC);
    assert_int_equal(vr_msg_decode(t, size, &d), VR_MSG_EMAGIC);
    memcpy(t, a, size);
    t[2] = 2;
    assert_int_equal(vr_msg_decode(t, size, &d), VR_MSG_EVERSION);
    memcpy(t, a, size);
    t[3] = 0;
    assert_int_equal(vr_msg_decode(t, size, &d), VR_MSG_ETYPE);
    t[3] = VR_MSG_TYPE_MAX + 1;
    assert_int_equal(vr_msg_decode(t, size, &d), VR_MSG_ETYPE);
    memcpy(t, a, size);
    t[5] = 0x4; /* an unknown flag */
    assert_int_equal(vr_msg_decode(t, size, &d), VR_MSG_EFIELD);
    memcpy(t, a, size);
    t[6] = 0;
    t[7] = VR_MSG_HDR_SIZE - 1;
    assert_int_equal(vr_msg_peek(t, size, &peek), VR_MSG_ESIZE);
    t[6] = (VR_MSG_MAX + 1) >> 8;
    t[7] = (VR_MSG_MAX + 1) & 0xff;
    assert_int_equal(vr_msg_peek(t, size, &peek), VR_MSG_ESIZE);
    assert_int_equal(vr_msg_decode(t, size, &d), VR_MSG_ESIZE);
}

/* Decodes sample 'i' with byte 'at' (from the frame start) set to 'v'. */
static int decode_patched(unsigned i, size_t at, uint8_t v)
{
    struct vr_msg m, d;
    uint8_t a[VR_MSG_MAX];
    size_t size = encode_sample(i, &m, a);
    assert_true(at < size);
    a[at] = v;
    return vr_msg_decode(a, size, &d);
}

static void test_field_ranges(void **state)
{
    (void)state;
    const size_t h = VR_MSG_HDR_SIZE;
    assert_int_equal(decode_patched(0, h + 4, DP_IF_AGENT + 1), VR_MSG_EFIELD); /* if type */
    assert_int_equal(decode_patched(0, h + 5, 0x2), VR_MSG_EFIELD);             /* if flags */
    assert_int_equal(decode_patched(0, h + 79, 0x01), VR_MSG_EFIELD);     /* non-printable name */
    assert_int_equal(decode_patched(0, h + 79, ' '), VR_MSG_EFIELD);
    assert_int_equal(decode_patched(5, h + 4, DP_NH_BUM + 1), VR_MSG_EFIELD);   /* nh type */
    assert_int_equal(decode_patched(5, h + 5, DP_ENCAP_VXLAN + 1), VR_MSG_EFIELD);
    assert_int_equal(decode_patched(5, h + 6, 0x2), VR_MSG_EFIELD);
    assert_int_equal(decode_patched(5, h + 7, DP_NH_MAX_MEMBERS + 1), VR_MSG_EFIELD);
    assert_int_equal(decode_patched(9, h + 4, 5), VR_MSG_EFIELD);               /* family */
    assert_int_equal(decode_patched(9, h + 5, 33), VR_MSG_EFIELD);              /* v4 plen */
    assert_int_equal(decode_patched(10, h + 5, 129), VR_MSG_EFIELD);            /* v6 plen */
    assert_int_equal(decode_patched(14, h + 0, 0x01), VR_MSG_EFIELD);           /* label >= 2^20 */
    assert_int_equal(decode_patched(16, h + 0, 0x01), VR_MSG_EFIELD);           /* vni >= 2^24 */
    assert_int_equal(decode_patched(18, h + 4, 0), VR_MSG_EFIELD);              /* flow family */
    assert_int_equal(decode_patched(18, h + 18, DP_FLOW_MIRROR + 1), VR_MSG_EFIELD);
    assert_int_equal(decode_patched(18, h + 19, 0x8), VR_MSG_EFIELD);
    assert_int_equal(decode_patched(24, h + 0, DP_DROP_COUNT + 1), VR_MSG_EFIELD);
    assert_int_equal(decode_patched(25, h + 0, 0), VR_MSG_EFIELD);              /* dump table */
    assert_int_equal(decode_patched(25, h + 0, VR_TABLE_MAX + 1), VR_MSG_EFIELD);
    assert_int_equal(decode_patched(26, h + 0, 0x7f), VR_MSG_EFIELD);           /* positive code */
    assert_int_equal(decode_patched(27, h + 0, 0x80), VR_MSG_EFIELD);           /* unknown punt reason bit */
    assert_int_equal(decode_patched(28, h + 0, 0), VR_MSG_EFIELD);              /* punt reason */
    assert_int_equal(decode_patched(28, h + 0, DP_PUNT_NH + 1), VR_MSG_EFIELD);
    assert_int_equal(decode_patched(28, h + 13, 0x03), VR_MSG_EFIELD);          /* frame > VR_MSG_PUNT_FRAME_MAX */
    assert_int_equal(decode_patched(28, h + 14, 13), VR_MSG_EFIELD);            /* frame < an Ethernet header */
}

static void test_encoder_refuses(void **state)
{
    (void)state;
    struct vr_msg m;
    uint8_t a[VR_MSG_MAX];
    size_t size = 0;
    sample_msg(0, &m);
    memset(m.u.ifc.name, 'x', sizeof m.u.ifc.name); /* no terminator */
    assert_int_equal(vr_msg_encode(&m, a, sizeof a, &size), VR_MSG_EFIELD);
    sample_msg(6, &m);
    m.u.nh.members[5] = 9; /* beyond member_count: would be lost */
    assert_int_equal(vr_msg_encode(&m, a, sizeof a, &size), VR_MSG_EFIELD);
    sample_msg(9, &m);
    m.u.route.addr[7] = 1; /* beyond an IPv4 address */
    assert_int_equal(vr_msg_encode(&m, a, sizeof a, &size), VR_MSG_EFIELD);
    sample_msg(28, &m);
    m.u.punt.frame[60] = 1; /* beyond the frame: would be lost */
    assert_int_equal(vr_msg_encode(&m, a, sizeof a, &size), VR_MSG_EFIELD);
    sample_msg(9, &m);
    m.type = 0;
    assert_int_equal(vr_msg_encode(&m, a, sizeof a, &size), VR_MSG_ETYPE);
    sample_msg(9, &m);
    m.flags = 0x80;
    assert_int_equal(vr_msg_encode(&m, a, sizeof a, &size), VR_MSG_EFIELD);
    sample_msg(24, &m);
    size_t full = 0;
    assert_int_equal(vr_msg_encode(&m, a, sizeof a, &full), 0);
    for (size_t cap = 0; cap < full; cap++) {
        assert_int_equal(vr_msg_encode(&m, a, cap, &size), VR_MSG_ENOSPC);
    }
    assert_string_equal(strata_strerror(VR_MSG_ETRAILING), "control message has trailing bytes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_sample),
        cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_every_truncation_rejected),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_field_ranges),
        cmocka_unit_test(test_encoder_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* routing/control/bgp_conv.c: BGP NLRI and attributes <-> RIB prefixes and
 * interned attribute sets, both ways, per family; export rewriting (eBGP
 * prepend and next-hop-self, iBGP LOCAL_PREF, route reflection). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "routing/control/bgp_conv.h"

static void test_vpnv4_round_trip(void **state)
{
    (void)state;
    struct bgp_nlri n = {.family = BGP_FAM_VPNV4, .plen = 24, .label_count = 1};
    n.labels[0] = BGP_LABEL(200, true);
    assert_int_equal(bgp_rd_make(n.rd, BGP_RD_AS2, 64512, 2), 0);
    uint8_t a[4] = {10, 2, 0, 0};
    memcpy(n.addr, a, 4);
    struct rib_prefix p;
    assert_int_equal(bgp_conv_prefix(&n, &p), 0);
    assert_int_equal(p.family, RIB_AF_L3VPN);
    assert_int_equal(p.plen, 24);
    assert_int_equal(p.addr.af, 4);
    assert_memory_equal(p.addr.b, a, 4);
    assert_memory_equal(p.rd.b, n.rd, 8);
    struct rib_attr attr = {.flags = RIB_ATTR_HAS_LABEL, .label = 200};
    struct bgp_nlri back;
    assert_int_equal(bgp_conv_nlri(&p, &attr, NULL, &back), 0);
    assert_true(bgp_nlri_equal(&n, &back));
    /* a withdrawal carries the RFC 8277 withdraw label */
    assert_int_equal(bgp_conv_nlri(&p, NULL, NULL, &back), 0);
    assert_int_equal(back.labels[0], BGP_LABEL_WITHDRAW);
}

static void test_evpn_vxlan_vni(void **state)
{
    (void)state;
    /* an UPDATE with the VXLAN encapsulation: the label field is the VNI */
    uint64_t ext[2];
    assert_int_equal(bgp_ext_rt_as2(64512, 2, &ext[0]), 0);
    ext[1] = bgp_ext_encap(BGP_TUNNEL_VXLAN);
    struct bgp_update u;
    memset(&u, 0, sizeof u);
    u.attrs.present = BGP_ATTR_BIT(BGP_ATTR_ORIGIN) | BGP_ATTR_BIT(BGP_ATTR_AS_PATH) |
                      BGP_ATTR_BIT(BGP_ATTR_LOCAL_PREF) | BGP_ATTR_BIT(BGP_ATTR_EXT_COMMUNITIES);
    u.attrs.local_pref = 150;
    u.attrs.ext_communities = ext;
    u.attrs.ext_community_count = 2;
    struct bgp_mp mp = {.family = BGP_FAM_EVPN, .nh_size = 4, .nh = {10, 99, 0, 2}};
    struct bgp_nlri n = {.family = BGP_FAM_EVPN, .evpn_type = BGP_EVPN_MAC_IP, .ip_size = 4, .label_count = 1,
                         .mac = {2, 0, 0, 0, 0, 2}, .addr = {10, 2, 0, 5}};
    n.labels[0] = 300; /* raw 24 bits: VNI 300 */
    assert_int_equal(bgp_rd_make(n.rd, BGP_RD_AS2, 64512, 2), 0);
    static struct bgp_conv_attr ca;
    struct rib_labels lb;
    assert_int_equal(bgp_conv_attr(&u, &mp, false, &ca), 0);
    bgp_conv_attr_labels(&ca, &n, &lb);
    assert_true(ca.a.flags & RIB_ATTR_HAS_VNI);
    assert_false(ca.a.flags & RIB_ATTR_HAS_LABEL);
    /* the value goes to the path, the set keeps only which labels exist */
    assert_int_equal(lb.vni, 300);
    assert_int_equal(ca.a.vni, 0);
    assert_int_equal(ca.a.local_pref, 150);
    assert_int_equal(ca.a.nexthop.af, 4);
    assert_int_equal(ca.a.nexthop.b[3], 2);
    struct rib_prefix p;
    assert_int_equal(bgp_conv_prefix(&n, &p), 0);
    assert_int_equal(p.family, RIB_AF_EVPN_VPN);
    assert_int_equal(p.evpn.type, 2);
    assert_int_equal(p.plen, 32);
    struct bgp_nlri back;
    assert_int_equal(bgp_conv_nlri(&p, &ca.a, &lb, &back), 0);
    assert_true(bgp_nlri_equal(&n, &back));
    /* from an eBGP peer LOCAL_PREF is ignored */
    assert_int_equal(bgp_conv_attr(&u, &mp, true, &ca), 0);
    assert_false(ca.a.flags & RIB_ATTR_HAS_LOCAL_PREF);
    /* without VXLAN the field is an MPLS label */
    u.attrs.ext_community_count = 1;
    n.labels[0] = BGP_LABEL(77, true);
    assert_int_equal(bgp_conv_attr(&u, &mp, false, &ca), 0);
    bgp_conv_attr_labels(&ca, &n, &lb);
    assert_true(ca.a.flags & RIB_ATTR_HAS_LABEL);
    assert_int_equal(lb.label, 77);
    assert_int_equal(lb.vni, 0);
}

static void test_other_families(void **state)
{
    (void)state;
    struct bgp_nlri rtc = {.family = BGP_FAM_RTC, .plen = 96, .origin_as = 64512};
    uint64_t rt;
    assert_int_equal(bgp_ext_rt_as2(64512, 7, &rt), 0);
    for (int k = 0; k < 8; k++) {
        rtc.rt[k] = (uint8_t)(rt >> (56 - 8 * k));
    }
    struct rib_prefix p;
    struct bgp_nlri back;
    assert_int_equal(bgp_conv_prefix(&rtc, &p), 0);
    assert_int_equal(p.family, RIB_AF_RTARGET);
    assert_int_equal(p.rt_origin_as, 64512);
    assert_int_equal(bgp_conv_nlri(&p, NULL, NULL, &back), 0);
    assert_true(bgp_nlri_equal(&rtc, &back));
    struct bgp_nlri imet = {.family = BGP_FAM_EVPN, .evpn_type = BGP_EVPN_IMET, .ip_size = 4, .addr = {10, 99, 0, 2}};
    assert_int_equal(bgp_conv_prefix(&imet, &p), 0);
    assert_int_equal(bgp_conv_nlri(&p, NULL, NULL, &back), 0);
    assert_true(bgp_nlri_equal(&imet, &back));
    /* EVPN types the RIB does not hold, and a type 3 without an address */
    struct bgp_nlri ad = {.family = BGP_FAM_EVPN, .evpn_type = BGP_EVPN_AD};
    assert_int_equal(bgp_conv_prefix(&ad, &p), RIB_ERR_FAMILY);
    imet.ip_size = 0;
    assert_int_equal(bgp_conv_prefix(&imet, &p), RIB_ERR_PREFIX);
    assert_int_equal(bgp_conv_rib_family(BGP_FAM_VPNV6), RIB_AF_L3VPN6);
    assert_int_equal(bgp_conv_bgp_family(RIB_AF_EVPN), -1);
}

static void test_export_rewrite(void **state)
{
    (void)state;
    uint32_t asns[] = {65001, 65002};
    struct rib_as_seg seg = {.type = RIB_AS_SEQUENCE, .len = 2, .asns = asns};
    struct rib_attr a = {.flags = RIB_ATTR_HAS_MED | RIB_ATTR_HAS_LOCAL_PREF, .med = 5, .local_pref = 200,
                         .as_path = &seg, .as_path_len = 1};
    a.nexthop.af = 4;
    memcpy(a.nexthop.b, (uint8_t[]){192, 0, 2, 1}, 4);
    static struct bgp_conv_out o;
    struct bgp_mp mp;
    struct bgp_conv_export x = {.ebgp = true, .local_as = 64512, .next_hop_self = true};
    x.self.af = 4;
    memcpy(x.self.b, (uint8_t[]){10, 99, 0, 1}, 4);
    assert_int_equal(bgp_conv_export_attr(&a, BGP_FAM_VPNV4, &x, &o, &mp), 0);
    /* eBGP: our AS prepended into the leading sequence, no LOCAL_PREF/MED */
    assert_int_equal(o.attrs.as_path.seg_count, 1);
    assert_int_equal(o.attrs.as_path.segs[0].len, 3);
    assert_int_equal(o.attrs.as_path.asns[0], 64512);
    assert_int_equal(o.attrs.as_path.asns[2], 65002);
    assert_false(o.attrs.present & BGP_ATTR_BIT(BGP_ATTR_LOCAL_PREF));
    assert_false(o.attrs.present & BGP_ATTR_BIT(BGP_ATTR_MED));
    /* VPNv4 next hop: zero RD + our address */
    assert_int_equal(mp.nh_size, 12);
    assert_memory_equal(mp.nh, (uint8_t[8]){0}, 8);
    assert_memory_equal(mp.nh + 8, x.self.b, 4);
    /* iBGP reflection: path unchanged, LOCAL_PREF and MED kept, ORIGINATOR_ID
     * and CLUSTER_LIST added, the path's next hop kept */
    struct bgp_conv_export r = {.reflect = true, .originator_id = 0x0a000001, .cluster_id = 0x0a000009};
    assert_int_equal(bgp_conv_export_attr(&a, BGP_FAM_VPNV6, &r, &o, &mp), 0);
    assert_int_equal(o.attrs.as_path.segs[0].len, 2);
    assert_int_equal(o.attrs.local_pref, 200);
    assert_int_equal(o.attrs.med, 5);
    assert_int_equal(o.attrs.originator_id, 0x0a000001);
    assert_int_equal(o.attrs.cluster_count, 1);
    assert_int_equal(o.attrs.cluster_list[0], 0x0a000009);
    /* VPNv6 with an IPv4 next hop: IPv4-mapped IPv6 after the zero RD */
    assert_int_equal(mp.nh_size, 24);
    assert_int_equal(mp.nh[8 + 10], 0xff);
    assert_memory_equal(mp.nh + 20, a.nexthop.b, 4);
    /* no next hop at all cannot be encoded */
    struct rib_attr none = {0};
    struct bgp_conv_export plain = {0};
    assert_int_equal(bgp_conv_export_attr(&none, BGP_FAM_VPNV4, &plain, &o, &mp), RIB_ERR_ATTR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vpnv4_round_trip),
        cmocka_unit_test(test_evpn_vxlan_vni),
        cmocka_unit_test(test_other_families),
        cmocka_unit_test(test_export_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

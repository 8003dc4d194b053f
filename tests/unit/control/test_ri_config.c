/* routing/control/ri_config.c: routing-instance objects as the compiler
 * writes them -> RIB instances (RD, import/export targets) and RT
 * membership routes; on a real RIB, an agent's route in an instance becomes
 * a VPN route with the instance's RD and target, a VPN route carrying an
 * import target lands in the instance, and an instance gone from the store
 * leaves the VPN with its membership routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <jansson.h>

#include "routing/control/ri_config.h"

#define VN1                                                                                                            \
    "{\"fq_name\": [\"default-domain\", \"p\", \"vn1\", \"vn1\"],"                                                  \
    " \"route_target_refs\": [{\"to\": [\"target:64512:8000001\"], \"attr\": {}},"                                  \
    "   {\"to\": [\"target:64512:8000002\"], \"attr\": {\"import_export\": \"import\"}},"                          \
    "   {\"to\": [\"target:64512:8000003\"], \"attr\": {\"import_export\": \"export\"}}]}"

static void test_parse(void **state)
{
    (void)state;
    static struct ri_config c;
    char err[128];
    json_t *o = json_loads(VN1, 0, NULL);
    assert_non_null(o);
    assert_int_equal(ri_config_parse(o, &c, err, sizeof err), 0);
    assert_string_equal(c.name, "default-domain:p:vn1:vn1");
    assert_true(c.vpn);
    assert_int_equal(c.rd_number, 8000001u % 65535u + 1u);
    assert_int_equal(c.imports_len, 2); /* own + import-only */
    assert_int_equal(c.exports_len, 2); /* own + export-only */
    struct rib_rt rt;
    assert_int_equal(rib_rt_parse("target:64512:8000002", &rt), 0);
    assert_memory_equal(c.imports[1].b, rt.b, 8);
    json_decref(o);

    /* no target for both directions: out of the VPN */
    o = json_loads("{\"fq_name\": [\"d\", \"p\", \"vn2\", \"vn2\"], \"route_target_refs\": [{\"to\": "
                   "[\"target:64512:9\"], \"attr\": {\"import_export\": \"import\"}}]}",
                   0, NULL);
    assert_int_equal(ri_config_parse(o, &c, err, sizeof err), 0);
    assert_false(c.vpn);
    json_decref(o);
    /* malformed */
    o = json_loads("{\"fq_name\": [\"d\", \"vn3\"], \"route_target_refs\": [{\"to\": [\"target:x:y\"]}]}", 0, NULL);
    assert_int_equal(ri_config_parse(o, &c, err, sizeof err), LIB_EINVAL);
    assert_non_null(strstr(err, "route target"));
    json_decref(o);
    o = json_loads("{\"route_target_refs\": []}", 0, NULL);
    assert_int_equal(ri_config_parse(o, &c, err, sizeof err), LIB_EINVAL);
    json_decref(o);
    o = json_loads("{\"fq_name\": [\"d\", \"\"]}", 0, NULL);
    assert_int_equal(ri_config_parse(o, &c, err, sizeof err), LIB_EINVAL);
    json_decref(o);
}

static struct rib_prefix v4(enum rib_family f, const char *rd_text_unused, uint8_t a, uint8_t b, uint8_t c2,
                            uint8_t plen)
{
    (void)rd_text_unused;
    struct rib_prefix p;
    memset(&p, 0, sizeof p);
    p.family = f;
    p.addr.af = 4;
    p.addr.b[0] = a;
    p.addr.b[1] = b;
    p.addr.b[2] = c2;
    p.plen = plen;
    return p;
}

static size_t paths_at(struct rib_table *t, const struct rib_prefix *p)
{
    const struct rib_path *paths = NULL;
    size_t count = 0, nbest = 0;
    if (rib_table_lookup(t, p, &paths, &count, &nbest) != 0) {
        return 0;
    }
    return count;
}

static void test_sync_on_rib(void **state)
{
    (void)state;
    struct rib *rib;
    struct rib_config rc = {0};
    assert_int_equal(rib_create(&rc, &rib), 0);
    uint32_t local, agent, peer;
    struct rib_source_info li = {.type = RIB_SRC_LOCAL, .router_id = 0x0a000001, .name = "local"};
    struct rib_source_info ai = {.type = RIB_SRC_XMPP, .name = "agent1"};
    struct rib_source_info pi = {.type = RIB_SRC_EBGP, .router_id = 0x7f000004, .peer_as = 65001, .name = "gw"};
    assert_int_equal(rib_source_add(rib, &li, &local), 0);
    assert_int_equal(rib_source_add(rib, &ai, &agent), 0);
    assert_int_equal(rib_source_add(rib, &pi, &peer), 0);

    struct ri_sync *s;
    assert_int_equal(ri_sync_create(rib, local, 0x0a000001, 64512, &s), 0);
    json_t *list = json_loads("[" VN1 ", {\"fq_name\": [\"bad\"], \"route_target_refs\": [{\"to\": [\"x\"]}]}]", 0,
                              NULL);
    assert_non_null(list);
    size_t skipped = 0;
    assert_int_equal(ri_sync_apply(s, list, &skipped), 0);
    assert_int_equal(skipped, 1);
    assert_int_equal(ri_sync_instances(s), 1);
    assert_int_equal(ri_sync_memberships(s), 2);
    struct rib_instance *inst = rib_instance_find(rib, "default-domain:p:vn1:vn1");
    assert_non_null(inst);
    struct rib_table *rtc = rib_vpn_table(rib, RIB_AF_RTARGET);
    (void)rib_flush(rib);
    assert_int_equal(rib_table_count(rtc), 2);
    /* applying the same list again changes nothing */
    assert_int_equal(ri_sync_apply(s, list, NULL), 0);
    assert_int_equal(rib_table_count(rtc), 2);

    /* an agent's route in the instance -> a VPN route, RD 10.0.0.1:N */
    struct rib_attr a = {.origin = RIB_ORIGIN_IGP, .nexthop = {.af = 4, .b = {192, 0, 2, 10}},
                         .flags = RIB_ATTR_HAS_LABEL, .label = 17};
    const struct rib_attr *ia;
    assert_int_equal(rib_attr_intern(rib, &a, &ia), 0);
    struct rib_prefix vm = v4(RIB_AF_INET, NULL, 10, 1, 1, 24);
    assert_int_equal(rib_path_add(rib_instance_table(inst, RIB_AF_INET), &vm, agent, 0, ia, 0), 0);
    rib_attr_unref(rib, ia);
    (void)rib_flush(rib);
    struct rib_table *l3 = rib_vpn_table(rib, RIB_AF_L3VPN);
    struct rib_prefix vpn = v4(RIB_AF_L3VPN, NULL, 10, 1, 1, 24);
    vpn.rd = rib_rd_make_ip(0x0a000001, (uint16_t)(8000001u % 65535u + 1u));
    assert_int_equal(paths_at(l3, &vpn), 1);
    const struct rib_path *paths;
    size_t count, nbest;
    assert_int_equal(rib_table_lookup(l3, &vpn, &paths, &count, &nbest), 0);
    struct rib_rt own, exp_only, imp_only;
    assert_int_equal(rib_rt_parse("target:64512:8000001", &own), 0);
    assert_int_equal(rib_rt_parse("target:64512:8000003", &exp_only), 0);
    assert_int_equal(rib_rt_parse("target:64512:8000002", &imp_only), 0);
    assert_true(rib_attr_has_rt(paths[0].attr, &own));
    assert_true(rib_attr_has_rt(paths[0].attr, &exp_only));
    assert_false(rib_attr_has_rt(paths[0].attr, &imp_only));

    /* a VPN route with an import target -> into the instance */
    struct rib_ext ext = rib_rt_ext(imp_only);
    struct rib_attr b = {.origin = RIB_ORIGIN_IGP, .nexthop = {.af = 4, .b = {127, 0, 0, 4}},
                         .flags = RIB_ATTR_HAS_LABEL, .label = 2000, .exts = &ext, .exts_len = 1};
    assert_int_equal(rib_attr_intern(rib, &b, &ia), 0);
    struct rib_prefix gw = v4(RIB_AF_L3VPN, NULL, 10, 20, 0, 24);
    gw.rd = rib_rd_make(65001, 7);
    assert_int_equal(rib_path_add(l3, &gw, peer, 0, ia, 0), 0);
    rib_attr_unref(rib, ia);
    (void)rib_flush(rib);
    struct rib_prefix gw_in = v4(RIB_AF_INET, NULL, 10, 20, 0, 24);
    assert_int_equal(paths_at(rib_instance_table(inst, RIB_AF_INET), &gw_in), 1);

    /* the instance leaves the store: out of the VPN both ways, no memberships */
    json_t *empty = json_array();
    assert_int_equal(ri_sync_apply(s, empty, NULL), 0);
    (void)rib_flush(rib);
    assert_int_equal(ri_sync_instances(s), 0);
    assert_int_equal(ri_sync_memberships(s), 0);
    assert_int_equal(rib_table_count(rtc), 0);
    assert_int_equal(paths_at(l3, &vpn), 0);
    assert_int_equal(paths_at(rib_instance_table(inst, RIB_AF_INET), &gw_in), 0);
    assert_int_equal(paths_at(rib_instance_table(inst, RIB_AF_INET), &vm), 1); /* the agent's own stays */

    /* back again, then freed: memberships withdrawn */
    assert_int_equal(ri_sync_apply(s, list, NULL), 0);
    (void)rib_flush(rib);
    assert_int_equal(rib_table_count(rtc), 2);
    ri_sync_free(s);
    (void)rib_flush(rib);
    assert_int_equal(rib_table_count(rtc), 0);
    json_decref(empty);
    json_decref(list);
    rib_free(rib);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_sync_on_rib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

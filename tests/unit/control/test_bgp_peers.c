/* routing/control/bgp_peers.c: which BGP sessions a control node runs, from
 * the store's bgp-router objects (implicit control-node mesh, links in
 * either direction, admin_down, families, AS, hold time, passive, MD5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "routing/control/bgp_peers.h"

static const char *routers_json =
    "["
    "{\"uuid\": \"u1\", \"fq_name\": [\"default-global-system-config\", \"ctl1\"],"
    " \"bgp_router_parameters\": {\"router_type\": \"control-node\", \"address\": \"10.0.0.11\","
    "   \"identifier\": \"10.0.0.11\", \"hold_time\": 60,"
    "   \"address_families\": {\"family\": [\"inet-vpn\", \"e-vpn\", \"route-target\"]}},"
    " \"bgp_router_refs\": [{\"to\": [\"default-global-system-config\", \"gw1\"], \"uuid\": \"g1\","
    "   \"attr\": {\"session\": [{\"attributes\": [{\"hold_time\": 30, \"passive\": true,"
    "     \"auth_data\": {\"key_type\": \"md5\", \"key_items\": [{\"key_id\": 0, \"key\": \"s3cret\"}]}}]}]}}]},"
    "{\"uuid\": \"u2\", \"fq_name\": [\"default-global-system-config\", \"ctl2\"],"
    " \"bgp_router_parameters\": {\"router_type\": \"control-node\", \"address\": \"10.0.0.12\","
    "   \"identifier\": \"10.0.0.12\"}},"
    "{\"uuid\": \"u3\", \"fq_name\": [\"default-global-system-config\", \"ctl3\"],"
    " \"bgp_router_parameters\": {\"router_type\": \"control-node\", \"address\": \"10.0.0.13\","
    "   \"admin_down\": true}},"
    "{\"uuid\": \"g1\", \"fq_name\": [\"default-global-system-config\", \"gw1\"],"
    " \"bgp_router_parameters\": {\"router_type\": \"router\", \"address\": \"192.0.2.1\","
    "   \"autonomous_system\": 65001, \"address_families\": {\"family\": [\"inet-vpn\"]}}},"
    "{\"uuid\": \"g2\", \"fq_name\": [\"default-global-system-config\", \"gw2\"],"
    " \"bgp_router_parameters\": {\"router_type\": \"router\", \"address\": \"192.0.2.2\","
    "   \"autonomous_system\": 65002},"
    " \"bgp_router_refs\": [{\"to\": [\"default-global-system-config\", \"ctl2\"], \"uuid\": \"u2\"}]},"
    "{\"uuid\": \"g3\", \"fq_name\": [\"default-global-system-config\", \"gw3\"],"
    " \"bgp_router_parameters\": {\"router_type\": \"router\", \"address\": \"192.0.2.3\"}}"
    "]";

static const struct speaker_peer_config *find(const struct bgp_peers_plan *p, const char *name)
{
    for (size_t i = 0; i < p->count; i++) {
        if (strcmp(p->peers[i].name, name) == 0) {
            return &p->peers[i];
        }
    }
    return NULL;
}

static void test_plan_ctl1(void **state)
{
    (void)state;
    json_t *routers = json_loads(routers_json, 0, NULL);
    assert_non_null(routers);
    static struct bgp_peers_plan plan;
    char err[128];
    assert_int_equal(bgp_peers_plan(routers, "ctl1", 64512, &plan, err, sizeof err), 0);
    assert_int_equal(plan.local.local_as, 64512);
    assert_int_equal(plan.local.router_id, 0x0a00000b);
    assert_string_equal(plan.local.listen, "10.0.0.11");
    /* ctl2 by the mesh, gw1 by ctl1's link; not ctl3 (admin_down), not gw2
     * (linked to ctl2 only), not gw3 (no link, not a control node) */
    assert_int_equal(plan.count, 2);
    const struct speaker_peer_config *c2 = find(&plan, "ctl2");
    assert_non_null(c2);
    assert_string_equal(c2->address, "10.0.0.12");
    assert_int_equal(c2->peer_as, 64512);
    assert_int_equal(c2->hold_time, 60); /* the local router's */
    assert_false(c2->passive);
    assert_int_equal(c2->families, BGP_FAM_BIT(BGP_FAM_VPNV4) | BGP_FAM_BIT(BGP_FAM_EVPN) | BGP_FAM_BIT(BGP_FAM_RTC));
    const struct speaker_peer_config *g = find(&plan, "gw1");
    assert_non_null(g);
    assert_int_equal(g->peer_as, 65001);
    assert_int_equal(g->hold_time, 30); /* the link's */
    assert_true(g->passive);
    assert_string_equal(g->password, "s3cret");
    assert_int_equal(g->families, BGP_FAM_BIT(BGP_FAM_VPNV4)); /* both routers' families */
    assert_null(find(&plan, "ctl3"));
    assert_null(find(&plan, "gw2"));
    json_decref(routers);
}

static void test_plan_ctl2_and_errors(void **state)
{
    (void)state;
    json_t *routers = json_loads(routers_json, 0, NULL);
    static struct bgp_peers_plan plan;
    char err[128];
    /* ctl2: mesh to ctl1; gw2 links to it (the reverse direction counts) */
    assert_int_equal(bgp_peers_plan(routers, "ctl2", 64512, &plan, err, sizeof err), 0);
    assert_int_equal(plan.count, 2);
    assert_non_null(find(&plan, "ctl1"));
    assert_int_equal(find(&plan, "gw2")->peer_as, 65002);
    /* found by address too */
    assert_int_equal(bgp_peers_plan(routers, "10.0.0.12", 64512, &plan, err, sizeof err), 0);
    /* no such node; no AS anywhere */
    assert_int_equal(bgp_peers_plan(routers, "ctl9", 64512, &plan, err, sizeof err), LIB_EINVAL);
    assert_non_null(strstr(err, "ctl9"));
    assert_int_equal(bgp_peers_plan(routers, "ctl2", 0, &plan, err, sizeof err), LIB_EINVAL);
    json_decref(routers);
}

/* Graceful restart from the compiler's effective-global-config: without
 * it, the role's historic behaviour; with the compiler's defaults, GR and
 * LLGR for 300 s each, agents' routes kept 600 s, End-of-RIB held 300 s;
 * enable false turns every part off; restart time 0 turns GR and LLGR off
 * but helpers stay; a mistyped field takes the default. */
static void test_gr_from_settings(void **state)
{
    (void)state;
    struct bgp_peers_gr gr, dflt;
    bgp_peers_gr_from(NULL, &gr);
    bgp_peers_gr_defaults(&dflt);
    assert_false(bgp_peers_gr_differ(&gr, &dflt));
    assert_true(gr.gr);
    assert_int_equal(gr.restart_time, 300);
    assert_false(gr.llgr);
    assert_int_equal(gr.xmpp_stale_ms, 300000);
    assert_int_equal(gr.eor_timeout_ms, 10000);

    json_t *egc = json_loads("{\"graceful_restart_parameters\":{\"bgp_helper_enable\":true,\"enable\":true,"
                             "\"end_of_rib_timeout\":300,\"long_lived_restart_time\":300,\"restart_time\":300,"
                             "\"xmpp_helper_enable\":true}}", 0, NULL);
    assert_non_null(egc);
    bgp_peers_gr_from(egc, &gr);
    assert_true(gr.gr && gr.llgr && gr.bgp_helper && gr.xmpp_helper);
    assert_int_equal(gr.restart_time, 300);
    assert_int_equal(gr.llgr_stale_time, 300);
    assert_int_equal(gr.xmpp_stale_ms, 600000);
    assert_int_equal(gr.eor_timeout_ms, 300000);
    assert_true(bgp_peers_gr_differ(&gr, &dflt));

    json_t *p = json_object_get(egc, "graceful_restart_parameters");
    json_object_set_new(p, "restart_time", json_integer(0));
    bgp_peers_gr_from(egc, &gr);
    assert_false(gr.gr);
    assert_false(gr.llgr);
    assert_true(gr.xmpp_helper);
    assert_int_equal(gr.xmpp_stale_ms, 0);
    json_object_set_new(p, "restart_time", json_integer(90));
    json_object_set_new(p, "long_lived_restart_time", json_integer(0));
    json_object_set_new(p, "xmpp_helper_enable", json_false());
    json_object_set_new(p, "end_of_rib_timeout", json_string("soon"));
    bgp_peers_gr_from(egc, &gr);
    assert_true(gr.gr);
    assert_int_equal(gr.restart_time, 90);
    assert_false(gr.llgr);
    assert_false(gr.xmpp_helper);
    assert_int_equal(gr.xmpp_stale_ms, 0);
    assert_int_equal(gr.eor_timeout_ms, 300000);
    json_object_set_new(p, "enable", json_false());
    bgp_peers_gr_from(egc, &gr);
    assert_false(gr.gr || gr.llgr || gr.bgp_helper || gr.xmpp_helper);
    json_decref(egc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_ctl1),
        cmocka_unit_test(test_plan_ctl2_and_errors),
        cmocka_unit_test(test_gr_from_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

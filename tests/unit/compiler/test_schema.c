/* Unit tests for compiler/schema: loading the real strata.xml (embedded and
 * from the file), the tables (types, plurals, parents, fq_name lengths,
 * refs, back-refs), validation of every property kind with good and bad
 * values and the error path/status it reports, refs and their attrs,
 * parent_type, malformed and hostile schema XML, bounded JSON parsing and
 * the OpenAPI document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "compiler/schema/schema.h"

static struct schema *g_schema;

static int setup(void **state)
{
    struct schema_error err;
    int rc = schema_load_builtin(&g_schema, &err);
    if (rc != 0) {
        fprintf(stderr, "load: %s: %s\n", strata_strerror(rc), err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    schema_free(g_schema);
    g_schema = NULL;
    return 0;
}

static const struct schema_type *type(const char *name)
{
    const struct schema_type *t = schema_type_find(g_schema, name);
    if (!t) {
        fail_msg("type %s missing", name);
    }
    return t;
}

/* Validates JSON text 'js' as 'tname' in 'mode'; returns the code and fills
 * 'err'. */
static int check(const char *tname, const char *js, enum schema_mode mode,
                 struct schema_error *err)
{
    json_error_t je;
    json_t *j = json_loads(js, JSON_ALLOW_NUL, &je);
    if (!j) {
        fail_msg("bad test JSON: %s: %s", js, je.text);
    }
    int rc = schema_validate(g_schema, type(tname), j, mode, err);
    json_decref(j);
    return rc;
}

static void expect_ok(const char *tname, const char *js, enum schema_mode mode)
{
    struct schema_error err;
    int rc = check(tname, js, mode, &err);
    if (rc != 0) {
        fail_msg("%s rejected: %s: %s (path %s)", js, strata_strerror(rc), err.message, err.path);
    }
}

static void expect_err(const char *tname, const char *js, enum schema_mode mode, int status,
                       const char *path)
{
    struct schema_error err;
    int rc = check(tname, js, mode, &err);
    if (rc == 0) {
        fail_msg("%s accepted, expected %d at %s", js, status, path);
    }
    if (err.status != status || strcmp(err.path, path) != 0) {
        fail_msg("%s: got %d at '%s' (%s), expected %d at '%s'", js, err.status, err.path,
                 err.message, status, path);
    }
    assert_int_equal(rc, status == 400 ? SCHEMA_EINVALID : SCHEMA_ECONSTRAINT);
    assert_true(err.message[0] != '\0');
}

/* A virtual-network update carrying one ipam subnet field set to 'frag'. */
static void vn_subnet(const char *frag, int status, const char *path)
{
    char js[1024];
    snprintf(js, sizeof js,
             "{\"network_ipam_refs\": [{\"to\": [\"d\", \"p\", \"ipam\"], \"attr\": "
             "{\"ipam_subnets\": [{\"subnet\": {\"ip_prefix\": \"10.0.0.0\", "
             "\"ip_prefix_len\": 24}}, {%s}]}}]}",
             frag);
    if (status == 0) {
        expect_ok("virtual-network", js, SCHEMA_UPDATE);
    } else {
        expect_err("virtual-network", js, SCHEMA_UPDATE, status, path);
    }
}

/* ---- tables ---- */

static void test_types_present(void **state)
{
    static const struct {
        const char *name, *plural, *parents;
    } want[] = {
        {"config-root", "config-roots", ""},
        {"global-system-config", "global-system-configs", "config-root"},
        {"domain", "domains", "config-root"},
        {"project", "projects", "domain"},
        {"virtual-network", "virtual-networks", "project"},
        {"network-ipam", "network-ipams", "project"},
        {"virtual-machine", "virtual-machines", "config-root"},
        {"virtual-machine-interface", "virtual-machine-interfaces", "project virtual-machine"},
        {"instance-ip", "instance-ips", "config-root"},
        {"floating-ip-pool", "floating-ip-pools", "virtual-network"},
        {"floating-ip", "floating-ips", "floating-ip-pool"},
        {"network-policy", "network-policys", "project"},
        {"security-group", "security-groups", "project"},
        {"service-template", "service-templates", "domain"},
        {"service-instance", "service-instances", "project"},
        {"port-tuple", "port-tuples", "service-instance"},
        {"logical-router", "logical-routers", "project"},
        {"routing-instance", "routing-instances", "virtual-network"},
        {"route-target", "route-targets", "config-root"},
        {"access-control-list", "access-control-lists", "virtual-network security-group"},
        {"virtual-router", "virtual-routers", "global-system-config"},
        {"bgp-router", "bgp-routers", "global-system-config routing-instance"},
        {"api-token", "api-tokens", "config-root"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const struct schema_type *t = type(want[i].name);
        assert_string_equal(t->plural, want[i].plural);
        assert_ptr_equal(schema_type_find_plural(g_schema, want[i].plural), t);
        char parents[200] = "";
        for (size_t p = 0; p < t->parents_len; p++) {
            strcat(parents, p ? " " : "");
            strcat(parents, t->parents[p]->name);
        }
        assert_string_equal(parents, want[i].parents);
    }
    assert_null(schema_type_find(g_schema, "virtual-networks"));
    assert_null(schema_type_find_plural(g_schema, "virtual-network"));
    assert_null(schema_type_find(g_schema, "no-such-type"));

    /* Iteration visits every type once, in name order. */
    size_t n = schema_type_count(g_schema);
    assert_true(n >= sizeof want / sizeof *want);
    for (size_t i = 1; i < n; i++) {
        assert_true(strcmp(schema_type_at(g_schema, i - 1)->name,
                           schema_type_at(g_schema, i)->name) < 0);
    }
    assert_null(schema_type_at(g_schema, n));

    assert_true(type("routing-instance")->derived);
    assert_true(type("route-target")->derived);
    assert_true(type("access-control-list")->derived);
    assert_false(type("virtual-network")->derived);
}

static void test_graph(void **state)
{
    assert_int_equal(type("config-root")->fq_name_len, 1);
    assert_int_equal(type("domain")->fq_name_len, 1);
    assert_int_equal(type("project")->fq_name_len, 2);
    assert_int_equal(type("virtual-network")->fq_name_len, 3);
    assert_int_equal(type("routing-instance")->fq_name_len, 4);
    assert_int_equal(type("floating-ip")->fq_name_len, 5);
    assert_int_equal(type("virtual-router")->fq_name_len, 2);
    assert_int_equal(type("virtual-machine-interface")->fq_name_len, -1);
    assert_int_equal(schema_fq_name_len(type("virtual-machine-interface"), type("project")), 3);
    assert_int_equal(
        schema_fq_name_len(type("virtual-machine-interface"), type("virtual-machine")), 2);
    assert_int_equal(schema_fq_name_len(type("bgp-router"), type("routing-instance")), 5);
    assert_int_equal(schema_fq_name_len(type("bgp-router"), type("domain")), -1);

    const struct schema_type *vn = type("virtual-network");
    assert_string_equal(vn->children_key, "virtual_networks");
    assert_string_equal(vn->back_refs_key, "virtual_network_back_refs");
    const struct schema_ref *r = schema_type_ref(vn, "network_ipam_refs");
    assert_non_null(r);
    assert_ptr_equal(r->to, type("network-ipam"));
    assert_ptr_equal(r->from, vn);
    assert_string_equal(r->attr->name, "VnSubnetsType");
    assert_ptr_equal(schema_type_ref_to(vn, "network-policy"),
                     schema_type_ref(vn, "network_policy_refs"));
    assert_string_equal(schema_type_ref(vn, "network_policy_refs")->attr->name,
                        "VirtualNetworkPolicyType");
    assert_string_equal(
        schema_type_ref(type("routing-instance"), "route_target_refs")->attr->name,
        "InstanceTargetType");
    assert_string_equal(schema_type_ref(type("bgp-router"), "bgp_router_refs")->attr->name,
                        "BgpPeeringAttributes");
    assert_true(schema_type_ref(type("api-token"), "project_refs")->weak);
    assert_false(schema_type_ref(vn, "network_ipam_refs")->weak);

    /* Children and back-refs are the inverse of parents and refs. */
    bool found = false;
    for (size_t i = 0; i < vn->children_len; i++) {
        found |= vn->children[i] == type("routing-instance");
    }
    assert_true(found);
    const struct schema_type *ipam = type("network-ipam");
    assert_int_equal(ipam->back_refs_len, 1);
    assert_ptr_equal(ipam->back_refs[0], r);
    size_t nvn_back = 0;
    for (size_t i = 0; i < vn->back_refs_len; i++) {
        nvn_back += vn->back_refs[i]->to == vn;
    }
    assert_int_equal(nvn_back, vn->back_refs_len);
    assert_true(vn->back_refs_len >= 3); /* vmi, instance-ip, logical-router */

    /* Properties and complex types are reachable by name. */
    const struct schema_field *f = schema_prop_find(g_schema, vn, "virtual_network_properties");
    assert_non_null(f);
    assert_int_equal(f->kind, SCHEMA_KIND_COMPLEX);
    assert_non_null(schema_complex_field(f->complex, "vxlan_network_identifier"));
    assert_non_null(schema_prop_find(g_schema, vn, "display_name"));
    assert_null(schema_type_prop(vn, "display_name"));
    assert_non_null(schema_complex_find(g_schema, "PolicyRuleType"));
    assert_true(schema_complex_find(g_schema, "AddressType")->one_of);
    size_t nc;
    assert_non_null(schema_common_props(g_schema, &nc));
    assert_true(nc >= 5);
    assert_int_equal(schema_audit(g_schema), 0);
}

static void test_builtin_matches_file(void **state)
{
    size_t size;
    const char *xml = schema_builtin_xml(&size);
    FILE *f = fopen(STRATA_SCHEMA_FILE, "rb");
    assert_non_null(f);
    char *buf = malloc(size + 1);
    assert_int_equal(fread(buf, 1, size + 1, f), size);
    fclose(f);
    assert_memory_equal(buf, xml, size);
    free(buf);

    struct schema *s;
    struct schema_error err;
    assert_int_equal(schema_load_file(STRATA_SCHEMA_FILE, &s, &err), 0);
    assert_int_equal(schema_type_count(s), schema_type_count(g_schema));
    schema_free(s);
    assert_int_equal(schema_load_file("/nonexistent/strata.xml", &s, &err), LIB_ENOENT);
    assert_null(s);
}

/* ---- validation ---- */

static void test_create_minimal(void **state)
{
    expect_ok("virtual-network",
              "{\"parent_type\": \"project\", \"fq_name\": [\"default-domain\", \"admin\", "
              "\"vn1\"], \"name\": \"vn1\", \"display_name\": \"VN 1\"}",
              SCHEMA_CREATE);
    expect_ok("domain", "{\"fq_name\": [\"default-domain\"]}", SCHEMA_CREATE);
    expect_ok("config-root", "{\"fq_name\": [\"config-root\"]}", SCHEMA_CREATE);
    /* required on create, not on update */
    expect_err("virtual-network", "{\"display_name\": \"x\"}", SCHEMA_CREATE, 422, "fq_name");
    expect_ok("virtual-network", "{\"display_name\": \"x\"}", SCHEMA_UPDATE);
    expect_err("service-template", "{\"fq_name\": [\"d\", \"st\"]}", SCHEMA_CREATE, 422,
               "service_template_properties");
    expect_ok("service-template",
              "{\"fq_name\": [\"d\", \"st\"], \"service_template_properties\": "
              "{\"service_mode\": \"in-network-nat\", \"interface_type\": "
              "[{\"service_interface_type\": \"left\"}, {\"service_interface_type\": "
              "\"right\"}]}}",
              SCHEMA_CREATE);
    expect_err("virtual-machine-interface",
               "{\"fq_name\": [\"d\", \"p\", \"port\"], \"parent_type\": \"project\"}",
               SCHEMA_CREATE, 422, "virtual_network_refs");
    expect_ok("virtual-machine-interface",
              "{\"fq_name\": [\"d\", \"p\", \"port\"], \"parent_type\": \"project\", "
              "\"virtual_network_refs\": [{\"to\": [\"d\", \"p\", \"vn\"]}], "
              "\"virtual_machine_interface_mac_addresses\": {\"mac_address\": "
              "[\"02:aB:00:00:00:01\"]}}",
              SCHEMA_CREATE);
    /* not an object at all */
    expect_err("virtual-network", "[1, 2]", SCHEMA_UPDATE, 400, "");
}

static void test_unknown_and_wrong_types(void **state)
{
    expect_err("virtual-network", "{\"bogus\": 1}", SCHEMA_UPDATE, 400, "bogus");
    expect_err("virtual-network", "{\"virtual_network_properties\": {\"bogus\": 1}}",
               SCHEMA_UPDATE, 400, "virtual_network_properties.bogus");
    expect_err("virtual-network", "{\"display_name\": 5}", SCHEMA_UPDATE, 400, "display_name");
    expect_err("virtual-network", "{\"is_shared\": \"true\"}", SCHEMA_UPDATE, 400, "is_shared");
    expect_err("virtual-network", "{\"virtual_network_properties\": []}", SCHEMA_UPDATE, 400,
               "virtual_network_properties");
    expect_err("virtual-network",
               "{\"virtual_network_properties\": {\"vxlan_network_identifier\": 5.0}}",
               SCHEMA_UPDATE, 400, "virtual_network_properties.vxlan_network_identifier");
    expect_err("virtual-network", "{\"route_target_list\": {\"route_target\": \"x\"}}",
               SCHEMA_UPDATE, 400, "route_target_list.route_target");
    expect_err("virtual-network", "{\"route_target_list\": {\"route_target\": [null]}}",
               SCHEMA_UPDATE, 400, "route_target_list.route_target[0]");
    expect_err("virtual-network", "{\"virtual_network_back_refs\": []}", SCHEMA_UPDATE, 400,
               "virtual_network_back_refs");
    /* null means absent for optional keys */
    expect_ok("virtual-network", "{\"display_name\": null, \"virtual_network_properties\": null}",
              SCHEMA_UPDATE);
}

static void test_integers_strings_enums(void **state)
{
    char js[512];
    static const struct {
        const char *v;
        int status;
    } ints[] = {{"1", 0}, {"16777215", 0}, {"0", 422}, {"16777216", 422}, {"-1", 422},
                {"9223372036854775807", 422}, {"-9223372036854775808", 422}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        snprintf(js, sizeof js,
                 "{\"virtual_network_properties\": {\"vxlan_network_identifier\": %s}}",
                 ints[i].v);
        if (ints[i].status == 0) {
            expect_ok("virtual-network", js, SCHEMA_UPDATE);
        } else {
            expect_err("virtual-network", js, SCHEMA_UPDATE, ints[i].status,
                       "virtual_network_properties.vxlan_network_identifier");
        }
    }
    /* max-length 255 on display_name, counted in bytes */
    char name[300];
    memset(name, 'a', 255);
    name[255] = '\0';
    snprintf(js, sizeof js, "{\"display_name\": \"%s\"}", name);
    expect_ok("virtual-network", js, SCHEMA_UPDATE);
    name[255] = 'a';
    name[256] = '\0';
    snprintf(js, sizeof js, "{\"display_name\": \"%s\"}", name);
    expect_err("virtual-network", js, SCHEMA_UPDATE, 422, "display_name");
    /* embedded NUL */
    expect_err("virtual-network", "{\"display_name\": \"a\\u0000b\"}", SCHEMA_UPDATE, 400,
               "display_name");
    /* enums */
    expect_ok("virtual-network",
              "{\"virtual_network_properties\": {\"forwarding_mode\": \"l2_l3\"}}", SCHEMA_UPDATE);
    expect_err("virtual-network",
               "{\"virtual_network_properties\": {\"forwarding_mode\": \"L2\"}}", SCHEMA_UPDATE,
               422, "virtual_network_properties.forwarding_mode");
    expect_ok("api-token",
              "{\"token_role\": \"reader\", \"token_hash\": "
              "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
              SCHEMA_UPDATE);
    expect_err("api-token", "{\"token_role\": \"root\"}", SCHEMA_UPDATE, 422, "token_role");
    /* patterns */
    expect_err("api-token",
               "{\"token_hash\": "
               "\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"}",
               SCHEMA_UPDATE, 422, "token_hash");
    expect_ok("virtual-network",
              "{\"route_target_list\": {\"route_target\": [\"target:64512:8000001\", "
              "\"target:10.1.1.1:5\"]}}",
              SCHEMA_UPDATE);
    expect_err("virtual-network",
               "{\"route_target_list\": {\"route_target\": [\"target:64512:1\", "
               "\"target:64512\"]}}",
               SCHEMA_UPDATE, 422, "route_target_list.route_target[1]");
    /* list length */
    expect_err("global-vrouter-config",
               "{\"encapsulation_priorities\": {\"encapsulation\": [\"VXLAN\", \"MPLSoUDP\", "
               "\"MPLSoGRE\", \"VXLAN\"]}}",
               SCHEMA_UPDATE, 422, "encapsulation_priorities.encapsulation");
    expect_ok("global-vrouter-config",
              "{\"encapsulation_priorities\": {\"encapsulation\": [\"VXLAN\", \"MPLSoUDP\", "
              "\"MPLSoGRE\"]}}",
              SCHEMA_UPDATE);
    /* unique="true": a repeated item is refused, naming its index */
    expect_err("global-vrouter-config",
               "{\"encapsulation_priorities\": {\"encapsulation\": [\"VXLAN\", \"VXLAN\"]}}",
               SCHEMA_UPDATE, 422, "encapsulation_priorities.encapsulation[1]");
    expect_ok("global-vrouter-config", "{\"encapsulation_priorities\": {\"encapsulation\": []}}",
              SCHEMA_UPDATE);
    /* datetime */
    expect_ok("api-token", "{\"token_expires\": \"2026-12-31T23:59:60Z\"}", SCHEMA_UPDATE);
    expect_ok("api-token", "{\"token_expires\": \"2024-02-29T00:00:00.123+05:30\"}",
              SCHEMA_UPDATE);
    expect_err("api-token", "{\"token_expires\": \"2025-02-29T00:00:00Z\"}", SCHEMA_UPDATE, 422,
               "token_expires");
    expect_err("api-token", "{\"token_expires\": \"2025-01-01 00:00:00Z\"}", SCHEMA_UPDATE, 422,
               "token_expires");
    expect_err("api-token", "{\"token_expires\": \"2025-01-01T00:00:00\"}", SCHEMA_UPDATE, 422,
               "token_expires");
}

static void test_addresses(void **state)
{
    static const struct {
        const char *frag;
        int status;
        const char *path;
    } cases[] = {
        {"\"subnet\": {\"ip_prefix\": \"192.168.1.0\", \"ip_prefix_len\": 24}", 0, ""},
        {"\"subnet\": {\"ip_prefix\": \"2001:db8::\", \"ip_prefix_len\": 64}", 0, ""},
        {"\"subnet\": {\"ip_prefix\": \"::ffff:10.0.0.0\", \"ip_prefix_len\": 120}", 0, ""},
        {"\"subnet\": {\"ip_prefix\": \"256.0.0.0\", \"ip_prefix_len\": 24}", 422,
         "network_ipam_refs[0].attr.ipam_subnets[1].subnet.ip_prefix"},
        {"\"subnet\": {\"ip_prefix\": \"010.0.0.0\", \"ip_prefix_len\": 24}", 422,
         "network_ipam_refs[0].attr.ipam_subnets[1].subnet.ip_prefix"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0\", \"ip_prefix_len\": 24}", 422,
         "network_ipam_refs[0].attr.ipam_subnets[1].subnet.ip_prefix"},
        {"\"subnet\": {\"ip_prefix\": \"fe80::1%eth0\", \"ip_prefix_len\": 64}", 422,
         "network_ipam_refs[0].attr.ipam_subnets[1].subnet.ip_prefix"},
        {"\"subnet\": {\"ip_prefix\": \"1::2::3\", \"ip_prefix_len\": 64}", 422,
         "network_ipam_refs[0].attr.ipam_subnets[1].subnet.ip_prefix"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 129}", 422,
         "network_ipam_refs[0].attr.ipam_subnets[1].subnet.ip_prefix_len"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\"}", 422,
         "network_ipam_refs[0].attr.ipam_subnets[1].subnet.ip_prefix_len"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"default_gateway\": \"10.0.0.1\", \"dns_server_address\": \"2001:db8::53\", "
         "\"allocation_pools\": [{\"start\": \"10.0.0.10\", \"end\": \"10.0.0.20\"}], "
         "\"subnet_uuid\": \"0f8fad5b-d9cb-469f-a165-70867728950e\"",
         0, ""},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"allocation_pools\": [{\"start\": \"10.0.0.10\", \"end\": \"10.0.0.x\"}]",
         422, "network_ipam_refs[0].attr.ipam_subnets[1].allocation_pools[0].end"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"subnet_uuid\": \"0f8fad5b-d9cb-469f-a165-70867728950\"",
         422, "network_ipam_refs[0].attr.ipam_subnets[1].subnet_uuid"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"subnet_uuid\": \"0f8fad5b-d9cb-469f-a165x70867728950e\"",
         422, "network_ipam_refs[0].attr.ipam_subnets[1].subnet_uuid"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"subnet_uuid\": \"0f8fad5b-d9cb-469f-a165-70867728950g\"",
         422, "network_ipam_refs[0].attr.ipam_subnets[1].subnet_uuid"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"host_routes\": {\"route\": [{\"prefix\": \"0.0.0.0/0\", \"next_hop\": \"10.0.0.1\"},"
         " {\"prefix\": \"2001:db8::/32\"}, {\"prefix\": \"10.1.2.3/32\"}]}",
         0, ""},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"host_routes\": {\"route\": [{\"prefix\": \"10.1.2.3/24\"}]}",
         422, "network_ipam_refs[0].attr.ipam_subnets[1].host_routes.route[0].prefix"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"host_routes\": {\"route\": [{\"prefix\": \"10.0.0.0/33\"}]}",
         422, "network_ipam_refs[0].attr.ipam_subnets[1].host_routes.route[0].prefix"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"host_routes\": {\"route\": [{\"prefix\": \"10.0.0.0/08\"}]}",
         422, "network_ipam_refs[0].attr.ipam_subnets[1].host_routes.route[0].prefix"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"host_routes\": {\"route\": [{\"prefix\": \"10.0.0.0\"}]}",
         422, "network_ipam_refs[0].attr.ipam_subnets[1].host_routes.route[0].prefix"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"host_routes\": {\"route\": [{\"prefix\": \"2001:db8::1/127\"}]}",
         422, "network_ipam_refs[0].attr.ipam_subnets[1].host_routes.route[0].prefix"},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"host_routes\": {\"route\": [{\"prefix\": \"::/0\"}, {\"prefix\": \"::1/128\"}]}",
         0, ""},
        {"\"subnet\": {\"ip_prefix\": \"10.0.0.0\", \"ip_prefix_len\": 8}, "
         "\"host_routes\": {\"route\": [{\"prefix\": \"10.0.0.0/8/8\"}]}",
         422, "network_ipam_refs[0].attr.ipam_subnets[1].host_routes.route[0].prefix"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vn_subnet(cases[i].frag, cases[i].status, cases[i].path);
    }

    /* MACs */
    static const struct {
        const char *mac;
        bool ok;
    } macs[] = {{"02:00:00:00:00:01", true},  {"FF:ff:Ff:00:aa:0B", true},
                {"02:00:00:00:00", false},    {"02-00-00-00-00-01", false},
                {"02:00:00:00:00:0g", false}, {"02:00:00:00:00:001", false},
                {"2:00:00:00:00:01", false}};
    for (size_t i = 0; i < sizeof macs / sizeof *macs; i++) {
        char js[256];
        snprintf(js, sizeof js,
                 "{\"virtual_machine_interface_mac_addresses\": {\"mac_address\": [\"%s\"]}}",
                 macs[i].mac);
        if (macs[i].ok) {
            expect_ok("virtual-machine-interface", js, SCHEMA_UPDATE);
        } else {
            expect_err("virtual-machine-interface", js, SCHEMA_UPDATE, 422,
                       "virtual_machine_interface_mac_addresses.mac_address[0]");
        }
    }
    /* ipv4-only and ipv6-only kinds */
    expect_ok("bgp-router", "{\"bgp_router_parameters\": {\"identifier\": \"10.0.0.1\"}}",
              SCHEMA_UPDATE);
    expect_err("bgp-router", "{\"bgp_router_parameters\": {\"identifier\": \"::1\"}}",
               SCHEMA_UPDATE, 422, "bgp_router_parameters.identifier");
    expect_err("virtual-router", "{\"virtual_router_ip_address\": \"10.0.0.1 \"}", SCHEMA_UPDATE,
               422, "virtual_router_ip_address");
    expect_ok("virtual-router", "{\"virtual_router_ip_address\": \"fd00::1\"}", SCHEMA_UPDATE);
    expect_err("virtual-machine-interface",
               "{\"routing_instance_refs\": [{\"to\": [\"d\", \"p\", \"v\", \"r\"], \"attr\": "
               "{\"ipv6_service_chain_address\": \"10.0.0.1\"}}]}",
               SCHEMA_UPDATE, 422, "routing_instance_refs[0].attr.ipv6_service_chain_address");
    expect_ok("virtual-machine-interface",
              "{\"routing_instance_refs\": [{\"to\": [\"d\", \"p\", \"v\", \"r\"], \"attr\": "
              "{\"ipv6_service_chain_address\": \"fd00::2\", \"direction\": \"both\"}}]}",
              SCHEMA_UPDATE);
}

static void test_policy_nested(void **state)
{
    const char *good =
        "{\"network_policy_entries\": {\"policy_rule\": [{\"direction\": \"<>\", "
        "\"protocol\": \"tcp\", \"src_addresses\": [{\"virtual_network\": \"d:p:red\"}], "
        "\"dst_addresses\": [{\"subnet\": {\"ip_prefix\": \"10.1.0.0\", \"ip_prefix_len\": "
        "16}}], \"src_ports\": [{\"start_port\": -1, \"end_port\": -1}], \"dst_ports\": "
        "[{\"start_port\": 80, \"end_port\": 443}], \"action_list\": {\"simple_action\": "
        "\"pass\", \"apply_service\": [\"d:p:svc-1\", \"d:p:svc-2\"]}}, {\"direction\": \">\", "
        "\"protocol\": \"17\", \"action_list\": {\"simple_action\": \"deny\"}}]}}";
    expect_ok("network-policy", good, SCHEMA_UPDATE);
    expect_err("network-policy",
               "{\"network_policy_entries\": {\"policy_rule\": [{\"direction\": \"<\", "
               "\"protocol\": \"tcp\"}]}}",
               SCHEMA_UPDATE, 422, "network_policy_entries.policy_rule[0].direction");
    expect_err("network-policy",
               "{\"network_policy_entries\": {\"policy_rule\": [{\"protocol\": \"tcp\"}]}}",
               SCHEMA_UPDATE, 422, "network_policy_entries.policy_rule[0].direction");
    expect_err("network-policy",
               "{\"network_policy_entries\": {\"policy_rule\": [{\"direction\": \">\", "
               "\"protocol\": \"sctpx\"}]}}",
               SCHEMA_UPDATE, 422, "network_policy_entries.policy_rule[0].protocol");
    expect_err("network-policy",
               "{\"network_policy_entries\": {\"policy_rule\": [{\"direction\": \">\", "
               "\"protocol\": \"any\", \"dst_ports\": [{\"start_port\": 1, \"end_port\": "
               "65536}]}]}}",
               SCHEMA_UPDATE, 422, "network_policy_entries.policy_rule[0].dst_ports[0].end_port");
    /* AddressType is one-of */
    expect_err("network-policy",
               "{\"network_policy_entries\": {\"policy_rule\": [{\"direction\": \">\", "
               "\"protocol\": \"any\", \"src_addresses\": [{\"virtual_network\": \"any\", "
               "\"security_group\": \"d:p:sg\"}]}]}}",
               SCHEMA_UPDATE, 422,
               "network_policy_entries.policy_rule[0].src_addresses[0].security_group");
    expect_err("security-group",
               "{\"security_group_entries\": {\"policy_rule\": [{\"direction\": \">\", "
               "\"protocol\": \"any\", \"action_list\": {\"simple_action\": \"allow\"}}]}}",
               SCHEMA_UPDATE, 422,
               "security_group_entries.policy_rule[0].action_list.simple_action");
    expect_ok("service-instance",
              "{\"service_instance_properties\": {\"left_virtual_network\": \"d:p:l\", "
              "\"right_virtual_network\": \"d:p:r\", \"scale_out\": {\"max_instances\": 2}, "
              "\"ha_mode\": \"active-standby\"}}",
              SCHEMA_UPDATE);
    expect_err("service-instance",
               "{\"service_instance_properties\": {\"scale_out\": {\"max_instances\": 0}}}",
               SCHEMA_UPDATE, 422, "service_instance_properties.scale_out.max_instances");
    expect_ok("global-system-config",
              "{\"autonomous_system\": 4200000000, \"graceful_restart_parameters\": "
              "{\"enable\": true, \"restart_time\": 300, \"long_lived_restart_time\": 300, "
              "\"end_of_rib_timeout\": 300}}",
              SCHEMA_UPDATE);
    expect_err("global-system-config", "{\"autonomous_system\": 4294967296}", SCHEMA_UPDATE,
               422, "autonomous_system");
    expect_ok("bgp-router",
              "{\"bgp_router_parameters\": {\"address\": \"10.0.0.1\", \"autonomous_system\": "
              "64512, \"router_type\": \"control-node\", \"hold_time\": 90, "
              "\"address_families\": {\"family\": [\"inet-vpn\", \"e-vpn\"]}, \"auth_data\": "
              "{\"key_type\": \"md5\", \"key_items\": [{\"key_id\": 0, \"key\": \"s3cret\"}]}}, "
              "\"bgp_router_refs\": [{\"to\": [\"gsc\", \"peer\"], \"attr\": {\"session\": "
              "[{\"attributes\": [{\"hold_time\": 30}]}]}}]}",
              SCHEMA_UPDATE);
    expect_err("bgp-router",
               "{\"bgp_router_parameters\": {\"address_families\": {\"family\": [\"ipx\"]}}}",
               SCHEMA_UPDATE, 422, "bgp_router_parameters.address_families.family[0]");
}

static void test_refs(void **state)
{
    /* shape */
    expect_err("virtual-network", "{\"network_ipam_refs\": {}}", SCHEMA_UPDATE, 400,
               "network_ipam_refs");
    expect_err("virtual-network", "{\"network_ipam_refs\": [\"d:p:i\"]}", SCHEMA_UPDATE, 400,
               "network_ipam_refs[0]");
    expect_err("virtual-network", "{\"network_ipam_refs\": [{}]}", SCHEMA_UPDATE, 422,
               "network_ipam_refs[0]");
    expect_ok("virtual-network",
              "{\"network_ipam_refs\": [{\"uuid\": \"0f8fad5b-d9cb-469f-a165-70867728950e\"}]}",
              SCHEMA_UPDATE);
    expect_err("virtual-network", "{\"network_ipam_refs\": [{\"uuid\": \"nope\"}]}",
               SCHEMA_UPDATE, 422, "network_ipam_refs[0].uuid");
    expect_err("virtual-network", "{\"network_ipam_refs\": [{\"to\": [\"d\", \"p\"]}]}",
               SCHEMA_UPDATE, 422, "network_ipam_refs[0].to");
    expect_err("virtual-network", "{\"network_ipam_refs\": [{\"to\": [\"d\", \"\", \"i\"]}]}",
               SCHEMA_UPDATE, 422, "network_ipam_refs[0].to[1]");
    expect_err("virtual-network", "{\"network_ipam_refs\": [{\"to\": [\"d\", \"p\\tq\", \"i\"]}]}",
               SCHEMA_UPDATE, 422, "network_ipam_refs[0].to[1]");
    expect_err("virtual-network", "{\"network_ipam_refs\": [{\"to\": [\"d\", 7, \"i\"]}]}",
               SCHEMA_UPDATE, 400, "network_ipam_refs[0].to[1]");
    expect_err("virtual-network",
               "{\"network_ipam_refs\": [{\"to\": [\"d\", \"p\", \"i\"], \"extra\": 1}]}",
               SCHEMA_UPDATE, 400, "network_ipam_refs[0].extra");
    /* attr typed by the ref */
    expect_ok("virtual-network",
              "{\"network_policy_refs\": [{\"to\": [\"d\", \"p\", \"pol\"], \"attr\": "
              "{\"sequence\": {\"major\": 0, \"minor\": 0}, \"timer\": null}}]}",
              SCHEMA_UPDATE);
    expect_err("virtual-network",
               "{\"network_policy_refs\": [{\"to\": [\"d\", \"p\", \"pol\"], \"attr\": "
               "{\"sequence\": {\"major\": 0}}}]}",
               SCHEMA_UPDATE, 422, "network_policy_refs[0].attr.sequence.minor");
    expect_err("virtual-network",
               "{\"network_policy_refs\": [{\"to\": [\"d\", \"p\", \"pol\"], \"attr\": "
               "{\"ipam_subnets\": []}}]}",
               SCHEMA_UPDATE, 400, "network_policy_refs[0].attr.ipam_subnets");
    expect_err("instance-ip",
               "{\"virtual_network_refs\": [{\"to\": [\"d\", \"p\", \"v\"], \"attr\": {}}]}",
               SCHEMA_UPDATE, 400, "virtual_network_refs[0].attr");
    expect_ok("routing-instance",
              "{\"route_target_refs\": [{\"to\": [\"target:64512:8000000\"], \"attr\": "
              "{\"import_export\": \"import\"}}, {\"to\": [\"target:64512:8000001\"]}]}",
              SCHEMA_UPDATE);
    expect_err("routing-instance",
               "{\"route_target_refs\": [{\"to\": [\"target:64512:8000000\"], \"attr\": "
               "{\"import_export\": \"both\"}}]}",
               SCHEMA_UPDATE, 422, "route_target_refs[0].attr.import_export");
    /* refs of the wrong type are unknown fields */
    expect_err("network-ipam", "{\"network_ipam_refs\": []}", SCHEMA_UPDATE, 400,
               "network_ipam_refs");
    /* max-items */
    expect_err("service-instance",
               "{\"service_template_refs\": [{\"to\": [\"d\", \"a\"]}, {\"to\": [\"d\", "
               "\"b\"]}]}",
               SCHEMA_UPDATE, 422, "service_template_refs");
    /* weak refs validate like any other; a dangling target is the store's business */
    expect_ok("api-token",
              "{\"fq_name\": [\"tok\"], \"token_role\": \"member\", \"token_hash\": "
              "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", "
              "\"project_refs\": [{\"to\": [\"d\", \"gone\"]}]}",
              SCHEMA_CREATE);
    expect_ok("virtual-machine",
              "{\"service_instance_refs\": [{\"to\": [\"d\", \"p\", \"si\"]}]}", SCHEMA_UPDATE);
}

static void test_parents_and_fq_name(void **state)
{
    expect_err("virtual-network",
               "{\"parent_type\": \"domain\", \"fq_name\": [\"d\", \"vn\"]}", SCHEMA_CREATE, 422,
               "parent_type");
    expect_err("virtual-network",
               "{\"parent_type\": \"nonsense\", \"fq_name\": [\"d\", \"p\", \"vn\"]}",
               SCHEMA_CREATE, 422, "parent_type");
    expect_err("virtual-network", "{\"fq_name\": [\"d\", \"vn\"]}", SCHEMA_CREATE, 422,
               "fq_name");
    expect_err("virtual-network", "{\"fq_name\": []}", SCHEMA_CREATE, 422, "fq_name");
    expect_err("virtual-network", "{\"fq_name\": \"d:p:vn\"}", SCHEMA_CREATE, 400, "fq_name");
    expect_err("virtual-network", "{\"fq_name\": [\"d\", \"p\", \"vn\"], \"name\": \"other\"}",
               SCHEMA_CREATE, 422, "name");
    expect_err("config-root", "{\"fq_name\": [\"c\"], \"parent_type\": \"domain\"}",
               SCHEMA_CREATE, 422, "parent_type");
    /* several parents: parent_type picks the fq_name length */
    expect_err("virtual-machine-interface",
               "{\"fq_name\": [\"d\", \"p\", \"port\"], \"virtual_network_refs\": "
               "[{\"to\": [\"d\", \"p\", \"vn\"]}]}",
               SCHEMA_CREATE, 422, "parent_type");
    expect_ok("virtual-machine-interface",
              "{\"fq_name\": [\"vm\", \"port\"], \"parent_type\": \"virtual-machine\", "
              "\"virtual_network_refs\": [{\"to\": [\"d\", \"p\", \"vn\"]}]}",
              SCHEMA_CREATE);
    expect_err("virtual-machine-interface",
               "{\"fq_name\": [\"d\", \"p\", \"port\"], \"parent_type\": \"virtual-machine\", "
               "\"virtual_network_refs\": [{\"to\": [\"d\", \"p\", \"vn\"]}]}",
               SCHEMA_CREATE, 422, "fq_name");
    expect_ok("bgp-router",
              "{\"fq_name\": [\"default-global-system-config\", \"cn1\"], \"parent_type\": "
              "\"global-system-config\"}",
              SCHEMA_CREATE);
    /* fq_name elements are bounded non-empty strings without control characters
     * (':' is allowed: route targets are named "target:ASN:N") */
    char js[600];
    char big[300];
    memset(big, 'x', 256);
    big[256] = '\0';
    snprintf(js, sizeof js, "{\"fq_name\": [\"d\", \"%s\"]}", big);
    expect_err("project", js, SCHEMA_CREATE, 422, "fq_name[1]");
    expect_err("project", "{\"fq_name\": [\"d\", \"a\\nb\"]}", SCHEMA_CREATE, 422, "fq_name[1]");
    expect_ok("project", "{\"fq_name\": [\"d\", \"caf\\u00e9\"]}", SCHEMA_CREATE);
}

static void test_body_and_errors(void **state)
{
    json_t *body = json_pack("{s:{s:[sss]}}", "virtual-network", "fq_name", "d", "p", "vn");
    const json_t *inner;
    struct schema_error err;
    assert_int_equal(schema_validate_body(g_schema, "virtual-network", body, SCHEMA_CREATE,
                                          &inner, &err),
                     0);
    assert_ptr_equal(inner, json_object_get(body, "virtual-network"));
    assert_int_equal(schema_validate_body(g_schema, "network-ipam", body, SCHEMA_CREATE, &inner,
                                          &err),
                     SCHEMA_ENOTYPE);
    assert_null(inner);
    assert_int_equal(err.status, 400);
    assert_int_equal(schema_validate_body(g_schema, "nope", body, SCHEMA_CREATE, NULL, &err),
                     SCHEMA_ENOTYPE);
    json_decref(body);
    assert_int_equal(schema_validate(g_schema, NULL, NULL, SCHEMA_CREATE, NULL), SCHEMA_ENOTYPE);
    assert_string_equal(strata_strerror(SCHEMA_ECONSTRAINT),
                        "object violates a schema constraint");

    /* An over-long error path is truncated, not overflowed. */
    char key[600];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    json_t *o = json_object();
    json_object_set_new(o, key, json_true());
    assert_int_equal(schema_validate(g_schema, type("virtual-network"), o, SCHEMA_UPDATE, &err),
                     SCHEMA_EINVALID);
    assert_int_equal(strlen(err.path), SCHEMA_PATH_MAX - 1);
    assert_string_equal(err.path + SCHEMA_PATH_MAX - 4, "...");
    json_decref(o);
}

/* ---- loading bad schemas ---- */

#define MINIMAL_COMMON                                                                   \
    "<common><property name='uuid' type='uuid'/>"                                       \
    "<property name='fq_name' type='string' list='true' required='true'/>"              \
    "<property name='parent_type' type='string'/><property name='parent_uuid' type='uuid'/>" \
    "<property name='name' type='string'/></common>"

static void expect_load_fail(const char *xml, int code, const char *needle)
{
    struct schema *s = (struct schema *)1;
    struct schema_error err;
    int rc = schema_load_buffer(xml, strlen(xml), &s, &err);
    if (rc != code || !strstr(err.message, needle)) {
        fail_msg("load of <%.60s…>: got %d '%s', expected %d containing '%s'", xml, rc,
                 err.message, code, needle);
    }
    assert_null(s);
}

static void test_load_minimal_and_bad(void **state)
{
    const char *ok = "<schema version='1'>" MINIMAL_COMMON
                     "<complex-type name='T'><field name='x' type='integer' min='1'/>"
                     "</complex-type>"
                     "<type name='root' plural='roots' parents=''/>"
                     "<type name='leaf' plural='leaves' parents='root'>"
                     "<property name='p' type='T'/><ref to='leaf' attr='T' weak='true'/></type>"
                     "</schema>";
    struct schema *s;
    struct schema_error err;
    assert_int_equal(schema_load_buffer(ok, strlen(ok), &s, &err), 0);
    const struct schema_type *leaf = schema_type_find(s, "leaf");
    assert_non_null(leaf);
    assert_int_equal(leaf->fq_name_len, 1);
    assert_true(leaf->refs[0].weak);
    assert_ptr_equal(leaf->back_refs[0], &leaf->refs[0]);
    schema_free(s);
    schema_free(NULL);

    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents=''/><bogus/></schema>",
                     SCHEMA_EDEFINE, "unknown element <bogus>");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents=''/>"
                     "<type name='a' plural='bs' parents=''/></schema>",
                     SCHEMA_EDEFINE, "duplicate type 'a'");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents=''><property name='p' type='Nope'/>"
                     "</type></schema>",
                     SCHEMA_EDEFINE, "unknown type 'Nope'");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents='b'/></schema>",
                     SCHEMA_EDEFINE, "unknown parent 'b'");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents=''><ref to='zz'/></type></schema>",
                     SCHEMA_EDEFINE, "unknown type 'zz'");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents='' colour='red'/></schema>",
                     SCHEMA_EDEFINE, "unknown attribute 'colour'");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents='b'/>"
                     "<type name='b' plural='bs' parents='a'/></schema>",
                     SCHEMA_EDEFINE, "loops");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='xs' parents=''/>"
                     "<type name='b' plural='xs' parents=''/></schema>",
                     SCHEMA_EDEFINE, "plural 'xs' is used twice");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents=''><property name='p' type='string' "
                     "min='1'/></type></schema>",
                     SCHEMA_EDEFINE, "not an integer");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents=''><property name='p' type='string' "
                     "pattern='(['/></type></schema>",
                     SCHEMA_EDEFINE, "does not compile");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents=''><property name='p' type='enum'/>"
                     "</type></schema>",
                     SCHEMA_EDEFINE, "values=");
    expect_load_fail("<schema version='1'><type name='a' plural='as' parents=''/></schema>",
                     SCHEMA_EDEFINE, "no <common>");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents=''><property name='uuid' "
                     "type='string'/></type></schema>",
                     SCHEMA_EDEFINE, "clashes");
    expect_load_fail("<schema version='1'>" MINIMAL_COMMON
                     "<type name='a' plural='as' parents=''>text</type></schema>",
                     SCHEMA_EDEFINE, "unexpected text");
    expect_load_fail("<schema version='1'><common/><type name='a' plural='as' parents=''/>",
                     SCHEMA_EXML, "line");
    expect_load_fail("<other/>", SCHEMA_EDEFINE, "root element");
    expect_load_fail("", SCHEMA_EXML, "");
}

static void test_load_hostile(void **state)
{
    /* Billion laughs: refused before libxml2 sees it, so nothing expands. */
    const char *laughs =
        "<?xml version='1.0'?><!DOCTYPE schema [<!ENTITY a 'lol'>"
        "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>"
        "<!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'><!ENTITY e '&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;'>"
        "<!ENTITY f '&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;'><!ENTITY g '&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;'>"
        "<!ENTITY h '&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;'><!ENTITY i '&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;'>"
        "]><schema version='1'><type name='a' plural='as' parents='' description='&i;'/></schema>";
    expect_load_fail(laughs, SCHEMA_EXML, "DOCTYPE");
    /* External entity (XXE), from a file on disk. */
    char path[] = "/tmp/strata-schema-xxe-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *xxe = "<?xml version='1.0'?><!DOCTYPE schema [<!ENTITY x SYSTEM "
                      "'file:///etc/passwd'>]><schema version='1'><common>&x;</common></schema>";
    assert_int_equal(write(fd, xxe, strlen(xxe)), (ssize_t)strlen(xxe));
    close(fd);
    struct schema *s;
    struct schema_error err;
    assert_int_equal(schema_load_file(path, &s, &err), SCHEMA_EXML);
    assert_null(s);
    assert_null(strstr(err.message, "root:"));
    unlink(path);
    /* An undeclared entity reference is a parse error, never a lookup. */
    expect_load_fail("<schema version='1'><common>&x;</common></schema>", SCHEMA_EXML, "line");
    /* A DOCTYPE hidden after the root still fails (as XML), and a lone
     * ENTITY-like string inside a comment is refused by the pre-scan. */
    expect_load_fail("<schema version='1'/><!DOCTYPE x>", SCHEMA_EXML, "DOCTYPE");
    expect_load_fail("<schema version='1'><!-- <!ENTITY --></schema>", SCHEMA_EXML, "ENTITY");
    /* UTF-16 would hide "<!DOCTYPE" from the byte scan: refused outright. */
    const char *u8 = "<?xml version='1.0' encoding='UTF-16'?><!DOCTYPE s [<!ENTITY a 'x'>]>"
                     "<schema version='1'/>";
    size_t n8 = strlen(u8);
    char *u16 = calloc(2, n8);
    for (size_t i = 0; i < n8; i++) {
        u16[2 * i] = u8[i];
    }
    assert_int_equal(schema_load_buffer(u16, 2 * n8, &s, &err), SCHEMA_EXML);
    assert_non_null(strstr(err.message, "UTF-8"));
    free(u16);
    /* A declared non-UTF-8 encoding is ignored: the bytes are read as UTF-8. */
    const char *latin = "<?xml version='1.0' encoding='ISO-8859-1'?><schema version='7'>"
                        "<common><property name='uuid' type='uuid'/>"
                        "<property name='fq_name' type='string' list='true'/>"
                        "<property name='parent_type' type='string'/>"
                        "<property name='parent_uuid' type='uuid'/>"
                        "<property name='name' type='string' description='caf\xc3\xa9'/>"
                        "</common><type name='a' plural='as' parents=''/></schema>";
    assert_int_equal(schema_load_buffer(latin, strlen(latin), &s, &err), 0);
    assert_int_equal(schema_version(s), 7);
    size_t nc;
    const struct schema_field *common = schema_common_props(s, &nc);
    for (size_t i = 0; i < nc; i++) {
        if (strcmp(common[i].name, "name") == 0) {
            assert_string_equal(common[i].description, "caf\xc3\xa9");
        }
    }
    schema_free(s);
}

/* ---- bounded JSON ---- */

static void test_json_bounded(void **state)
{
    json_t *j;
    struct schema_error err;
    const char *ok = "{\"a\": [1, {\"b\": \"[[[[\"}]}";
    assert_int_equal(schema_json_parse_bounded(ok, strlen(ok), 1024, 3, &j, &err), 0);
    json_decref(j);
    assert_int_equal(schema_json_parse_bounded(ok, strlen(ok), 1024, 2, &j, &err),
                     SCHEMA_ETOODEEP);
    assert_null(j);
    assert_int_equal(err.status, 400);
    assert_int_equal(schema_json_parse_bounded(ok, strlen(ok), 10, 0, &j, &err), SCHEMA_ETOOBIG);
    assert_int_equal(err.status, 413);
    /* escaped quotes inside strings do not confuse the scan */
    const char *esc = "{\"a\\\"[[[[\": \"\\\\\", \"b\": [[]]}";
    assert_int_equal(schema_json_parse_bounded(esc, strlen(esc), 1024, 3, &j, &err), 0);
    json_decref(j);

    /* 10,000-deep nesting is refused by the pre-scan with no allocation. */
    size_t n = 10000;
    char *deep = malloc(2 * n);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    assert_int_equal(schema_json_parse_bounded(deep, 2 * n, 1 << 20, 0, &j, &err),
                     SCHEMA_ETOODEEP);
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    assert_int_equal(schema_json_parse_bounded(deep, 128, 1 << 20, 0, &j, &err), 0);
    json_decref(j);
    free(deep);

    static const char *const bad[] = {"{\"a\": 1, \"a\": 2}", "{\"a\": \"\xff\"}", "{\"a\":}",
                                      "\"scalar\"", "{} x", "{\"a\": \"\\u0000\"}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(schema_json_parse_bounded(bad[i], strlen(bad[i]), 1024, 0, &j, &err),
                         SCHEMA_EJSON);
        assert_int_equal(err.status, 400);
        assert_true(err.message[0] != '\0');
    }
}

/* ---- OpenAPI ---- */

/* Counts "$ref"s under 'j' and fails on any that does not resolve in 'doc'. */
static size_t refs_resolve(const json_t *doc, const json_t *j)
{
    size_t n = 0;
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            n += refs_resolve(doc, json_array_get(j, i));
        }
        return n;
    }
    if (!json_is_object(j)) {
        return 0;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)j, key, val)
    {
        if (strcmp(key, "$ref") != 0) {
            n += refs_resolve(doc, val);
            continue;
        }
        const char *ref = json_string_value(val);
        assert_non_null(ref);
        assert_memory_equal(ref, "#/components/", 13);
        char section[64], name[128];
        assert_int_equal(sscanf(ref + 13, "%63[^/]/%127s", section, name), 2);
        if (!json_object_get(json_object_get(json_object_get(doc, "components"), section), name)) {
            fail_msg("dangling $ref %s", ref);
        }
        n++;
    }
    return n;
}

static void test_openapi(void **state)
{
    json_t *doc;
    assert_int_equal(schema_openapi(g_schema, &doc), 0);
    char *text = json_dumps(doc, JSON_COMPACT);
    assert_non_null(text);
    json_error_t je;
    json_t *back = json_loads(text, 0, &je);
    assert_non_null(back);
    assert_true(json_equal(doc, back));
    json_decref(back);
    free(text);

    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.0.3");
    assert_non_null(json_object_get(json_object_get(doc, "info"), "title"));
    assert_true(refs_resolve(doc, doc) > 1000);
    json_t *paths = json_object_get(doc, "paths");
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    assert_int_equal(json_object_size(paths), 2 * schema_type_count(g_schema));
    for (size_t i = 0; i < schema_type_count(g_schema); i++) {
        const struct schema_type *t = schema_type_at(g_schema, i);
        char p[200];
        snprintf(p, sizeof p, "/%s", t->plural);
        json_t *coll = json_object_get(paths, p);
        assert_non_null(coll);
        assert_non_null(json_object_get(coll, "get"));
        assert_non_null(json_object_get(coll, "post"));
        snprintf(p, sizeof p, "/%s/{id}", t->name);
        json_t *item = json_object_get(paths, p);
        assert_non_null(item);
        assert_non_null(json_object_get(item, "get"));
        assert_non_null(json_object_get(item, "put"));
        assert_non_null(json_object_get(item, "delete"));
        assert_non_null(json_object_get(schemas, t->name));
    }
    for (size_t i = 0; i < schema_complex_count(g_schema); i++) {
        assert_non_null(json_object_get(schemas, schema_complex_at(g_schema, i)->name));
    }
    /* spot-check derived content */
    json_t *vn = json_object_get(schemas, "virtual-network");
    json_t *vnp = json_object_get(vn, "properties");
    assert_non_null(json_object_get(vnp, "network_ipam_refs"));
    assert_non_null(json_object_get(vnp, "routing_instances"));
    assert_non_null(json_object_get(vnp, "virtual_machine_interface_back_refs"));
    json_t *link = json_object_get(schemas, "virtual-network.network_ipam_refs");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(link, "properties"), "attr"), "$ref")),
        "#/components/schemas/VnSubnetsType");
    json_t *len = json_object_get(
        json_object_get(json_object_get(json_object_get(schemas, "PortType"), "properties"),
                        "end_port"),
        "maximum");
    assert_int_equal(json_integer_value(len), 65535);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_present),
        cmocka_unit_test(test_graph),
        cmocka_unit_test(test_builtin_matches_file),
        cmocka_unit_test(test_create_minimal),
        cmocka_unit_test(test_unknown_and_wrong_types),
        cmocka_unit_test(test_integers_strings_enums),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_policy_nested),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_parents_and_fq_name),
        cmocka_unit_test(test_body_and_errors),
        cmocka_unit_test(test_load_minimal_and_bad),
        cmocka_unit_test(test_load_hostile),
        cmocka_unit_test(test_json_bounded),
        cmocka_unit_test(test_openapi),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

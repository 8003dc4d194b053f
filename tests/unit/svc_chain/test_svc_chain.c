/* routing/control/svc_chain.c on a real RIB configured by ri_config.c from
 * the routing instances the compiler writes for a two-service chain
 * (tests/unit/compiler_golden/cases/service_chain_two: left <> right
 * through fw-1 then fw-2): the leaks put each destination prefix behind
 * the right service interface in every instance of both directions; a
 * service VM route appearing, changing and going moves the leaks with it;
 * an interface's address from the virtual-router-index; a chain removed
 * takes every leaked route with it; freeing the sync leaves a clean RIB;
 * chains and indexes collected before the RIB exists apply on attach; the
 * index agents get moves the service ports into their service instances,
 * where the leaks find their routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "routing/control/ri_config.h"
#include "routing/control/svc_chain.h"

#define LEFT "default-domain:proj:left:left"
#define RIGHT "default-domain:proj:right:right"
#define L1 "default-domain:proj:left:service-default-domain_proj_fw-1"
#define L2 "default-domain:proj:left:service-default-domain_proj_fw-2"
#define R1 "default-domain:proj:right:service-default-domain_proj_fw-1"
#define R2 "default-domain:proj:right:service-default-domain_proj_fw-2"

/* interfaces: the VMs and the service VMs' left and right ports */
#define VM_LEFT "00000000-0000-0000-0000-0000000000f0"
#define VM_RIGHT "00000000-0000-0000-0000-0000000000f1"
#define FW1_L "00000000-0000-0000-0000-0000000000f2"
#define FW1_R "00000000-0000-0000-0000-0000000000f3"
#define FW2_L "00000000-0000-0000-0000-0000000000f4"
#define FW2_R "00000000-0000-0000-0000-0000000000f5"

struct fx {
    struct rib *rib;
    struct ri_sync *ri;
    struct svc_sync *svc;
    uint32_t local, c1, c2; /* compute node 1 (10.0.0.1), 2 (10.0.0.2) */
    int dirty_calls;
};

static struct rib_addr ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct rib_addr x = {.af = 4, .b = {a, b, c, d}};
    return x;
}

static struct rib_prefix host(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct rib_prefix p;
    memset(&p, 0, sizeof p);
    p.family = RIB_AF_INET;
    p.plen = 32;
    p.addr = ip4(a, b, c, d);
    return p;
}

static struct rib_table *inet(struct fx *f, const char *ri)
{
    struct rib_instance *inst = rib_instance_find(f->rib, ri);
    assert_non_null(inst);
    return rib_instance_table(inst, RIB_AF_INET);
}

/* One routing instance object: own target 'own', import-only 'imp' (0:
 * none), service_chain_information when 'peer' is not NULL. */
static json_t *ri_obj(const char *name, unsigned own, unsigned imp, const char *peer, const char *source,
                      const char *si, const char *lif, const char *rif)
{
    json_t *fq = json_array();
    char buf[RI_CONFIG_NAME_MAX], *save = NULL;
    snprintf(buf, sizeof buf, "%s", name);
    for (char *t = strtok_r(buf, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
        json_array_append_new(fq, json_string(t));
    }
    char own_t[48], imp_t[48];
    snprintf(own_t, sizeof own_t, "target:64512:%u", own);
    snprintf(imp_t, sizeof imp_t, "target:64512:%u", imp);
    json_t *o = json_pack("{s:o,s:[{s:[s],s:{}}]}", "fq_name", fq, "route_target_refs", "to", own_t, "attr");
    if (imp) {
        json_array_append_new(json_object_get(o, "route_target_refs"),
                              json_pack("{s:[s],s:{s:s}}", "to", imp_t, "attr", "import_export", "import"));
    }
    if (peer) {
        json_object_set_new(o, "service_chain_information",
                            json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s,s:s},{s:s,s:s,s:s}]}", "routing_instance", peer,
                                      "source_routing_instance", source, "service_instance", si, "service_mode",
                                      "in-network", "service_interfaces", "interface_type", "left", "port_tuple",
                                      "pt-1", "virtual_machine_interface", lif, "interface_type", "right",
                                      "port_tuple", "pt-1", "virtual_machine_interface", rif));
    }
    assert_non_null(o);
    return o;
}

/* The compiler's instances for left <> right through [fw-1, fw-2]
 * (route targets as in the golden case: left 0, L1 1, L2 2, right 3, R1
 * 4, R2 5, from 8,000,000); 'with_chain' false: the policy without
 * services (the chain removed, the networks no longer connected). */
static json_t *instances(bool with_chain)
{
    json_t *a = json_array();
    const unsigned b = 8000000;
    if (!with_chain) {
        json_array_append_new(a, ri_obj(LEFT, b + 0, 0, NULL, NULL, NULL, NULL, NULL));
        json_array_append_new(a, ri_obj(RIGHT, b + 3, 0, NULL, NULL, NULL, NULL, NULL));
        return a;
    }
    json_array_append_new(a, ri_obj(LEFT, b + 0, b + 1, NULL, NULL, NULL, NULL, NULL));
    json_array_append_new(a, ri_obj(RIGHT, b + 3, b + 5, NULL, NULL, NULL, NULL, NULL));
    json_array_append_new(a, ri_obj(L1, b + 1, b + 0, R1, LEFT, "default-domain:proj:fw-1", FW1_L, FW1_R));
    json_array_append_new(a, ri_obj(L2, b + 2, b + 4, R2, LEFT, "default-domain:proj:fw-2", FW2_L, FW2_R));
    json_array_append_new(a, ri_obj(R1, b + 4, b + 2, L1, RIGHT, "default-domain:proj:fw-1", FW1_L, FW1_R));
    json_array_append_new(a, ri_obj(R2, b + 5, b + 3, L2, RIGHT, "default-domain:proj:fw-2", FW2_L, FW2_R));
    return a;
}

static json_t *iface(const char *uuid, const char *ri, const char *addr)
{
    return json_pack("{s:s,s:s,s:[s]}", "uuid", uuid, "routing_instance", ri, "instance_ip_addresses", addr);
}

/* Compute 1 hosts the left VM and fw-2, compute 2 the right VM and fw-1. */
static void feed_indexes(struct fx *f)
{
    json_t *c1 = json_pack("{s:{s:[o,o,o]}}", "virtual_router_index", "interfaces", iface(VM_LEFT, LEFT, "10.1.0.3"),
                           iface(FW2_L, LEFT, "10.1.0.11"), iface(FW2_R, RIGHT, "10.2.0.11"));
    json_t *c2 = json_pack("{s:{s:[o,o,o]}}", "virtual_router_index", "interfaces", iface(VM_RIGHT, RIGHT, "10.2.0.3"),
                           iface(FW1_L, LEFT, "10.1.0.10"), iface(FW1_R, RIGHT, "10.2.0.10"));
    assert_int_equal(svc_sync_index(f->svc, "/c/o/virtual-router-index/c1", c1), 0);
    assert_int_equal(svc_sync_index(f->svc, "/c/o/virtual-router-index/c2", c2), 0);
    assert_int_equal(svc_sync_index(f->svc, "", NULL), 0);
    json_decref(c1);
    json_decref(c2);
}

/* An agent's route for a port: ADDR/32 in 'ri' with 'label'. */
static void publish(struct fx *f, uint32_t src, const char *ri, struct rib_prefix p, uint32_t label)
{
    struct rib_attr a = {.flags = RIB_ATTR_HAS_LABEL, .label = label, .vn = "vn"};
    a.nexthop = src == f->c1 ? ip4(10, 0, 0, 1) : ip4(10, 0, 0, 2);
    const struct rib_attr *ia = NULL;
    assert_int_equal(rib_attr_intern(f->rib, &a, &ia), 0);
    assert_int_equal(rib_path_add(inet(f, ri), &p, src, 0, ia, 0), 0);
    rib_attr_unref(f->rib, ia);
}

static void on_dirty(void *arg)
{
    struct fx *f = arg;
    f->dirty_calls++;
}

static int setup(void **state)
{
    static struct fx f;
    memset(&f, 0, sizeof f);
    assert_int_equal(rib_create(&(struct rib_config){0}, &f.rib), 0);
    struct rib_source_info li = {.type = RIB_SRC_LOCAL, .name = "local"};
    struct rib_source_info a1 = {.type = RIB_SRC_XMPP, .address = ip4(10, 0, 0, 1), .name = "c1"};
    struct rib_source_info a2 = {.type = RIB_SRC_XMPP, .address = ip4(10, 0, 0, 2), .name = "c2"};
    assert_int_equal(rib_source_add(f.rib, &li, &f.local), 0);
    assert_int_equal(rib_source_add(f.rib, &a1, &f.c1), 0);
    assert_int_equal(rib_source_add(f.rib, &a2, &f.c2), 0);
    assert_int_equal(ri_sync_create(f.rib, f.local, 0x0a000064, 64512, &f.ri), 0);
    assert_int_equal(svc_sync_create(f.rib, on_dirty, &f, &f.svc), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    svc_sync_free(f->svc);
    ri_sync_free(f->ri);
    char why[256] = "";
    int rc = rib_audit(f->rib, why, sizeof why);
    if (rc != 0) {
        print_message("audit: %s\n", why);
    }
    rib_free(f->rib);
    return rc;
}

/* Applies 'with_chain' instances to both syncs, as the control role does. */
static void apply(struct fx *f, bool with_chain)
{
    json_t *a = instances(with_chain);
    size_t skipped = 99;
    assert_int_equal(ri_sync_apply(f->ri, a, &skipped), 0);
    assert_int_equal(skipped, 0);
    assert_int_equal(svc_sync_set_instances(f->svc, a, &skipped), 0);
    assert_int_equal(skipped, 0);
    json_decref(a);
    (void)rib_flush(f->rib);
}

/* The single best path at 'p' in 'ri': next hop's last byte and label;
 * asserts there is one path only. */
static void expect_via(struct fx *f, const char *ri, struct rib_prefix p, uint8_t nh_last, uint32_t label)
{
    const struct rib_path *paths;
    size_t count, nbest;
    assert_int_equal(rib_table_lookup(inet(f, ri), &p, &paths, &count, &nbest), 0);
    assert_int_equal(count, 1);
    assert_int_equal(nbest, 1);
    assert_int_equal(paths[0].attr->nexthop.af, 4);
    assert_int_equal(paths[0].attr->nexthop.b[3], nh_last);
    assert_int_equal(paths[0].label, label);
}

static bool has_route(struct fx *f, const char *ri, struct rib_prefix p)
{
    const struct rib_path *paths;
    size_t count, nbest;
    return rib_table_lookup(inet(f, ri), &p, &paths, &count, &nbest) == 0;
}

/* Every agent route of the scenario: VMs 20/21, fw-1 30/31, fw-2 40/41. */
static void publish_all(struct fx *f, bool fw1_left)
{
    publish(f, f->c1, LEFT, host(10, 1, 0, 3), 20);
    publish(f, f->c2, RIGHT, host(10, 2, 0, 3), 21);
    if (fw1_left) {
        publish(f, f->c2, LEFT, host(10, 1, 0, 10), 30);
    }
    publish(f, f->c2, RIGHT, host(10, 2, 0, 10), 31);
    publish(f, f->c1, LEFT, host(10, 1, 0, 11), 40);
    publish(f, f->c1, RIGHT, host(10, 2, 0, 11), 41);
}

/* What the control role's idle callback does: flush, and update while
 * dirty. A leak changes copies of watched prefixes in the service
 * instances, which re-checks once more; it must settle. */
static void settle(struct fx *f)
{
    int rounds = 0;
    (void)rib_flush(f->rib);
    while (svc_sync_dirty(f->svc)) {
        assert_true(++rounds <= 4);
        assert_int_equal(svc_sync_update(f->svc), 0);
        (void)rib_flush(f->rib);
    }
}

static void test_parse(void **state)
{
    (void)state;
    static struct svc_chain_ri c;
    char err[160];
    json_t *o = ri_obj(L1, 8000001, 8000000, R1, LEFT, "default-domain:proj:fw-1", FW1_L, FW1_R);
    assert_true(svc_chain_is_service(o));
    assert_int_equal(svc_chain_parse(o, &c, err, sizeof err), 0);
    assert_string_equal(c.name, L1);
    assert_string_equal(c.peer, R1);
    assert_string_equal(c.source, LEFT);
    assert_string_equal(c.service, "default-domain:proj:fw-1");
    assert_string_equal(c.mode, "in-network");
    assert_int_equal(c.ifaces_len, 2);
    assert_string_equal(c.ifaces[0].uuid, FW1_L);
    assert_string_equal(c.ifaces[1].type, "right");
    /* a peer that is the instance itself, or none */
    json_object_set_new(json_object_get(o, "service_chain_information"), "routing_instance", json_string(L1));
    assert_int_equal(svc_chain_parse(o, &c, err, sizeof err), LIB_EINVAL);
    assert_non_null(strstr(err, "routing instances"));
    json_object_del(json_object_get(o, "service_chain_information"), "routing_instance");
    assert_int_equal(svc_chain_parse(o, &c, err, sizeof err), LIB_EINVAL);
    json_decref(o);
    o = ri_obj(LEFT, 8000000, 0, NULL, NULL, NULL, NULL, NULL);
    assert_false(svc_chain_is_service(o));
    assert_int_equal(svc_chain_parse(o, &c, err, sizeof err), LIB_EINVAL);
    json_decref(o);
}

/* The pure function: chain info + RIB -> the leak into L1, taken from
 * fw-1's left interface's own route, never from a copy of it. */
static void test_compute(void **state)
{
    struct fx *f = *state;
    apply(f, true);
    static struct svc_chain_ri c;
    char err[160];
    json_t *o = ri_obj(L1, 8000001, 8000000, R1, LEFT, "default-domain:proj:fw-1", FW1_L, FW1_R);
    assert_int_equal(svc_chain_parse(o, &c, err, sizeof err), 0);
    json_decref(o);
    json_t *idx = json_pack("{s:{s:{s:[o,o]}}}", "k", "virtual_router_index", "interfaces",
                            iface(FW1_L, LEFT, "10.1.0.10"), iface(FW1_R, RIGHT, "10.2.0.10"));
    json_t *ifaces = svc_chain_ifaces(idx);
    assert_non_null(ifaces);
    struct svc_leak l;
    svc_leak_compute(f->rib, &c, ifaces, &l);
    assert_false(l.resolved); /* no route yet */
    assert_string_equal(l.from, R1);
    assert_string_equal(l.to, L1);
    publish(f, f->c2, LEFT, host(10, 1, 0, 10), 30);
    publish(f, f->c2, RIGHT, host(10, 2, 0, 10), 31);
    svc_leak_compute(f->rib, &c, ifaces, &l);
    assert_true(l.resolved);
    assert_string_equal(l.iface, FW1_L); /* the left one: its network is L1's */
    assert_string_equal(l.iface_ri, LEFT);
    assert_int_equal(l.cfg.nexthop.b[3], 2);
    assert_true(l.cfg.has_label);
    assert_int_equal(l.cfg.label, 30);
    assert_int_equal(l.cfg.families, RIB_LEAK_FAMILY(RIB_AF_INET) | RIB_LEAK_FAMILY(RIB_AF_INET6));
    /* a replicated copy of the address elsewhere is not the interface's route */
    json_object_set_new(json_object_get(ifaces, FW1_L), "routing_instance", json_string(L1));
    assert_true(has_route(f, L1, host(10, 1, 0, 10))); /* imported from left */
    svc_leak_compute(f->rib, &c, ifaces, &l);
    assert_false(l.resolved);
    json_decref(ifaces);
    json_decref(idx);
    (void)rib_flush(f->rib);
}

/* The two-service chain: dst prefixes reach the source through fw-2 then
 * fw-1, each instance sees the next service's interface, both ways. */
static void test_two_service_chain(void **state)
{
    struct fx *f = *state;
    feed_indexes(f);
    apply(f, true);
    publish_all(f, true);
    settle(f);
    assert_int_equal(svc_sync_chains(f->svc), 4);
    assert_int_equal(svc_sync_leaks(f->svc), 4);
    struct rib_prefix vl = host(10, 1, 0, 3), vr = host(10, 2, 0, 3);
    /* left -> right: the left VM sees the right VM behind fw-1's left port
     * (compute 2, label 30); fw-1's right side (R1) behind fw-2's left
     * port (compute 1, 40); fw-2's right side (R2) the VM itself. */
    expect_via(f, LEFT, vr, 2, 30);
    expect_via(f, R1, vr, 1, 40);
    expect_via(f, R2, vr, 2, 21);
    /* right -> left: behind fw-2's right port, then fw-1's right port */
    expect_via(f, RIGHT, vl, 1, 41);
    expect_via(f, L2, vl, 2, 31);
    expect_via(f, L1, vl, 1, 20);
    /* the VMs' own instances keep their own routes */
    expect_via(f, LEFT, vl, 1, 20);
    expect_via(f, RIGHT, vr, 2, 21);
    /* rewritten routes say so through exports and imports (an agent gets
     * them back even when the route began as its own), originals do not */
    const struct rib_path *paths;
    size_t count, nbest;
    assert_int_equal(rib_table_lookup(inet(f, L1), &vr, &paths, &count, &nbest), 0);
    assert_true(paths[0].flags & RIB_PATH_REWRITTEN);
    assert_int_equal(rib_table_lookup(inet(f, R1), &vr, &paths, &count, &nbest), 0);
    assert_true(paths[0].flags & RIB_PATH_REWRITTEN);
    assert_int_equal(paths[0].source, f->c2); /* still the right VM's agent's */
    assert_int_equal(rib_table_lookup(inet(f, R2), &vr, &paths, &count, &nbest), 0);
    assert_false(paths[0].flags & RIB_PATH_REWRITTEN);
    assert_int_equal(rib_table_lookup(inet(f, RIGHT), &vr, &paths, &count, &nbest), 0);
    assert_false(paths[0].flags & RIB_PATH_REWRITTEN);
    json_t *js = svc_sync_json(f->svc);
    assert_int_equal(json_array_size(js), 4);
    const json_t *e = json_array_get(js, 0);
    assert_string_equal(json_string_value(json_object_get(e, "instance")), L1);
    assert_string_equal(json_string_value(json_object_get(e, "nexthop")), "10.0.0.2");
    assert_int_equal(json_integer_value(json_object_get(e, "label")), 30);
    json_decref(js);
    char why[256] = "";
    assert_int_equal(rib_audit(f->rib, why, sizeof why), 0);
}

/* fw-1's left port comes up after the chain: the leak into L1 waits for
 * its route, follows a new label, and goes with the route. */
static void test_service_route_follows(void **state)
{
    struct fx *f = *state;
    feed_indexes(f);
    apply(f, true);
    publish_all(f, false);
    settle(f);
    struct rib_prefix vr = host(10, 2, 0, 3);
    assert_int_equal(svc_sync_leaks(f->svc), 3);
    assert_false(has_route(f, LEFT, vr)); /* the chain is down on that side */
    expect_via(f, R1, vr, 1, 40);

    int before = f->dirty_calls;
    publish(f, f->c2, LEFT, host(10, 1, 0, 10), 30);
    (void)rib_flush(f->rib);
    assert_true(svc_sync_dirty(f->svc));
    assert_int_equal(f->dirty_calls, before + 1);
    assert_int_equal(svc_sync_update(f->svc), 0);
    assert_false(svc_sync_dirty(f->svc));
    settle(f);
    assert_int_equal(svc_sync_leaks(f->svc), 4);
    expect_via(f, LEFT, vr, 2, 30);

    /* an unrelated route does not make it dirty */
    publish(f, f->c1, LEFT, host(10, 1, 0, 99), 50);
    (void)rib_flush(f->rib);
    assert_false(svc_sync_dirty(f->svc));

    /* the port re-published with a new label (agent restart) */
    publish(f, f->c2, LEFT, host(10, 1, 0, 10), 33);
    (void)rib_flush(f->rib);
    assert_true(svc_sync_dirty(f->svc));
    settle(f);
    expect_via(f, LEFT, vr, 2, 33);

    /* the service VM goes away */
    struct rib_prefix fw1l = host(10, 1, 0, 10);
    assert_int_equal(rib_path_del(inet(f, LEFT), &fw1l, f->c2, 0), 0);
    (void)rib_flush(f->rib);
    assert_true(svc_sync_dirty(f->svc));
    settle(f);
    assert_int_equal(svc_sync_leaks(f->svc), 3);
    assert_false(has_route(f, LEFT, vr));
    assert_false(has_route(f, L1, vr));
}

/* The interface's address comes from the virtual-router-index: moved to
 * another address, the leak takes that address's route. */
static void test_index_change(void **state)
{
    struct fx *f = *state;
    feed_indexes(f);
    apply(f, true);
    publish_all(f, true);
    publish(f, f->c2, LEFT, host(10, 1, 0, 12), 35);
    settle(f);
    struct rib_prefix vr = host(10, 2, 0, 3);
    expect_via(f, LEFT, vr, 2, 30);
    json_t *c2 = json_pack("{s:{s:[o,o,o]}}", "virtual_router_index", "interfaces", iface(VM_RIGHT, RIGHT, "10.2.0.3"),
                           iface(FW1_L, LEFT, "10.1.0.12"), iface(FW1_R, RIGHT, "10.2.0.10"));
    int before = f->dirty_calls;
    assert_int_equal(svc_sync_index(f->svc, "/c/o/virtual-router-index/c2", c2), 0);
    assert_int_equal(f->dirty_calls, before + 1);
    settle(f);
    expect_via(f, LEFT, vr, 2, 35);
    /* the same object again changes nothing */
    assert_int_equal(svc_sync_index(f->svc, "/c/o/virtual-router-index/c2", c2), 0);
    assert_false(svc_sync_dirty(f->svc));
    json_decref(c2);
    /* a reload forgets every index: no addresses, no leaks */
    assert_int_equal(svc_sync_index(f->svc, NULL, NULL), 0);
    settle(f);
    assert_int_equal(svc_sync_leaks(f->svc), 0);
    assert_false(has_route(f, LEFT, vr));
}

/* Without a service chain an index change concerns no leak: the sync is
 * not marked dirty (the control role used to rebuild the interfaces of
 * every index per port created). The indexes are still kept (by
 * reference, the test's own references dropped), and a chain configured
 * later resolves from them; afterwards index changes mark it again. */
static void test_index_without_chain(void **state)
{
    struct fx *f = *state;
    apply(f, false);
    settle(f);
    int before = f->dirty_calls;
    feed_indexes(f);
    assert_false(svc_sync_dirty(f->svc));
    assert_int_equal(f->dirty_calls, before);
    apply(f, true);
    publish_all(f, true);
    settle(f);
    struct rib_prefix vr = host(10, 2, 0, 3);
    expect_via(f, LEFT, vr, 2, 30);
    json_t *c2 = json_pack("{s:{s:[o,o,o]}}", "virtual_router_index", "interfaces", iface(VM_RIGHT, RIGHT, "10.2.0.3"),
                           iface(FW1_L, LEFT, "10.1.0.12"), iface(FW1_R, RIGHT, "10.2.0.10"));
    assert_int_equal(svc_sync_index(f->svc, "/c/o/virtual-router-index/c2", c2), 0);
    json_decref(c2);
    assert_true(svc_sync_dirty(f->svc));
    publish(f, f->c2, LEFT, host(10, 1, 0, 12), 35);
    settle(f);
    expect_via(f, LEFT, vr, 2, 35);
}

/* The policy loses its services: the service instances leave, every
 * leaked route goes, the networks keep their own routes. */
static void test_chain_removed(void **state)
{
    struct fx *f = *state;
    feed_indexes(f);
    apply(f, true);
    publish_all(f, true);
    settle(f);
    struct rib_prefix vl = host(10, 1, 0, 3), vr = host(10, 2, 0, 3);
    assert_true(has_route(f, LEFT, vr));
    struct rib_stats st;
    rib_stats_get(f->rib, &st);
    size_t with_chain = st.paths;
    apply(f, false);
    assert_int_equal(svc_sync_chains(f->svc), 0);
    assert_int_equal(svc_sync_leaks(f->svc), 0);
    assert_false(has_route(f, LEFT, vr));
    assert_false(has_route(f, RIGHT, vl));
    assert_false(has_route(f, R1, vr));
    assert_false(has_route(f, L2, vl));
    expect_via(f, LEFT, vl, 1, 20);
    expect_via(f, RIGHT, vr, 2, 21);
    rib_stats_get(f->rib, &st);
    assert_true(st.paths < with_chain);
    /* and back: the same routes again */
    apply(f, true);
    expect_via(f, LEFT, vr, 2, 30);
    expect_via(f, RIGHT, vl, 1, 41);
}

/* Freeing the sync clears its rules: no leaked path is left behind. */
static void test_free_clears(void **state)
{
    struct fx *f = *state;
    feed_indexes(f);
    apply(f, true);
    publish_all(f, true);
    (void)rib_flush(f->rib);
    if (svc_sync_dirty(f->svc)) {
        assert_int_equal(svc_sync_update(f->svc), 0);
    }
    struct rib_prefix vr = host(10, 2, 0, 3);
    assert_true(has_route(f, LEFT, vr));
    svc_sync_free(f->svc);
    f->svc = NULL;
    (void)rib_flush(f->rib);
    assert_false(has_route(f, LEFT, vr));
    assert_false(has_route(f, R1, vr));
}

/* The control role's order: indexes and chains arrive before the RIB
 * exists; attaching it makes the sync dirty and the update applies them. */
static void test_attach_later(void **state)
{
    struct fx *f = *state;
    svc_sync_free(f->svc);
    assert_int_equal(svc_sync_create(NULL, on_dirty, f, &f->svc), 0);
    feed_indexes(f);
    json_t *a = instances(true);
    size_t skipped = 99;
    assert_int_equal(svc_sync_set_instances(f->svc, a, &skipped), 0);
    assert_int_equal(skipped, 0);
    assert_int_equal(svc_sync_leaks(f->svc), 0);
    assert_int_equal(ri_sync_apply(f->ri, a, &skipped), 0);
    json_decref(a);
    publish_all(f, true);
    (void)rib_flush(f->rib);
    assert_false(has_route(f, LEFT, host(10, 2, 0, 3)));
    f->dirty_calls = 0;
    assert_int_equal(svc_sync_update(f->svc), 0);
    assert_int_equal(svc_sync_attach(f->svc, f->rib), 0);
    assert_int_equal(f->dirty_calls, 1);
    assert_int_equal(svc_sync_attach(f->svc, f->rib), 0);
    assert_int_equal(svc_sync_attach(f->svc, (struct rib *)f), RIB_ERR_INVAL);
    settle(f);
    assert_int_equal(svc_sync_leaks(f->svc), 4);
    expect_via(f, LEFT, host(10, 2, 0, 3), 2, 30);
    /* a malformed service instance is counted, the rest applied */
    a = instances(true);
    json_object_del(json_object_get(json_array_get(a, 2), "service_chain_information"), "routing_instance");
    assert_int_equal(svc_sync_set_instances(f->svc, a, &skipped), 0);
    assert_int_equal(skipped, 1);
    assert_int_equal(svc_sync_chains(f->svc), 3);
    json_decref(a);
    (void)rib_flush(f->rib);
    assert_false(has_route(f, LEFT, host(10, 2, 0, 3)));
}

/* The index as agents get it: fw-1's ports in fw-1's instances of their
 * sides, the right VM's port untouched; an index without service ports is
 * relayed as it is; a change of the chains says the views changed. */
static void test_index_view(void **state)
{
    struct fx *f = *state;
    apply(f, true);
    assert_true(svc_sync_views_changed(f->svc));
    assert_false(svc_sync_views_changed(f->svc));
    json_t *c2 = json_pack("{s:{s:[o,o,o],s:[s,s]}}", "virtual_router_index", "interfaces",
                           iface(VM_RIGHT, RIGHT, "10.2.0.3"), iface(FW1_L, LEFT, "10.1.0.10"),
                           iface(FW1_R, RIGHT, "10.2.0.10"), "routing_instances", RIGHT, LEFT);
    json_t *v = svc_sync_index_view(f->svc, c2);
    assert_non_null(v);
    assert_ptr_not_equal(v, c2);
    const json_t *ifs = json_object_get(json_object_get(v, "virtual_router_index"), "interfaces");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ifs, 0), "routing_instance")), RIGHT);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ifs, 1), "routing_instance")), L1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ifs, 2), "routing_instance")), R1);
    const json_t *ris = json_object_get(json_object_get(v, "virtual_router_index"), "routing_instances");
    assert_int_equal(json_array_size(ris), 4);
    assert_string_equal(json_string_value(json_array_get(ris, 0)), LEFT);
    assert_string_equal(json_string_value(json_array_get(ris, 1)), L1);
    assert_string_equal(json_string_value(json_array_get(ris, 2)), RIGHT);
    assert_string_equal(json_string_value(json_array_get(ris, 3)), R1);
    /* the store's object is unchanged */
    ifs = json_object_get(json_object_get(c2, "virtual_router_index"), "interfaces");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ifs, 1), "routing_instance")), LEFT);
    json_decref(v);
    json_t *plain = json_pack("{s:{s:[o]}}", "virtual_router_index", "interfaces", iface(VM_LEFT, LEFT, "10.1.0.3"));
    v = svc_sync_index_view(f->svc, plain);
    assert_ptr_equal(v, plain);
    json_decref(v);
    json_decref(plain);
    /* the chain goes: nothing moves any more */
    apply(f, true);
    assert_false(svc_sync_views_changed(f->svc));
    apply(f, false);
    assert_true(svc_sync_views_changed(f->svc));
    v = svc_sync_index_view(f->svc, c2);
    assert_ptr_equal(v, c2);
    json_decref(v);
    json_decref(c2);
}

/* The service ports in their service instances (the index view): their
 * agents publish them there, and the leaks take those routes. */
static void test_ports_in_service_instances(void **state)
{
    struct fx *f = *state;
    feed_indexes(f);
    apply(f, true);
    publish(f, f->c1, LEFT, host(10, 1, 0, 3), 20);
    publish(f, f->c2, RIGHT, host(10, 2, 0, 3), 21);
    publish(f, f->c2, L1, host(10, 1, 0, 10), 30);
    publish(f, f->c2, R1, host(10, 2, 0, 10), 31);
    publish(f, f->c1, L2, host(10, 1, 0, 11), 40);
    publish(f, f->c1, R2, host(10, 2, 0, 11), 41);
    settle(f);
    assert_int_equal(svc_sync_leaks(f->svc), 4);
    struct rib_prefix vl = host(10, 1, 0, 3), vr = host(10, 2, 0, 3);
    expect_via(f, LEFT, vr, 2, 30);
    expect_via(f, R1, vr, 1, 40);
    expect_via(f, R2, vr, 2, 21);
    expect_via(f, RIGHT, vl, 1, 41);
    expect_via(f, L2, vl, 2, 31);
    expect_via(f, L1, vl, 1, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test_setup_teardown(test_compute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_service_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_route_follows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_without_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_clears, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attach_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ports_in_service_instances, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

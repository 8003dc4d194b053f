/* Tests of the compiler core (compiler/compile.c): golden cases (input
 * intent objects -> expected derived objects and allocations, compared as
 * canonical JSON), determinism (twice, shuffled input), removal (policy
 * and network removal undo their output and release identifiers) and
 * incrementality (one policy change among 10,000 networks rewrites only
 * the networks attached to it). STRATA_GOLDEN_UPDATE=1 rewrites the
 * expected files instead of comparing (review the diff before committing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compiler/compile.h"

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) {
        fail_msg("%s:%d: %s", path, e.line, e.text);
    }
    return j;
}

/* Compiles 'input' ({"objects": [...], "allocations": {...}}) from scratch:
 * {"objects": derived set, "allocations": pools after}. */
static json_t *compile_input(const json_t *input)
{
    struct compile_model *m;
    struct compile_alloc *a;
    json_t *out = NULL;
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    assert_int_equal(compile_model_load(m, json_object_get(input, "objects")), 0);
    if (json_is_integer(json_object_get(input, "version"))) {
        compile_model_set_version(m, (int)json_integer_value(json_object_get(input, "version")));
    }
    assert_int_equal(compile_alloc_load(a, json_object_get(input, "allocations")), 0);
    assert_int_equal(compile_all(m, a, &out), 0);
    json_t *res = json_pack("{s:o,s:o}", "objects", out, "allocations", compile_alloc_dump(a));
    compile_model_free(m);
    compile_alloc_free(a);
    return res;
}

static char *canon(const json_t *j)
{
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1));
    assert_non_null(s);
    return s;
}

static void golden(const char *name)
{
    char in[1024], ex[1024];
    snprintf(in, sizeof in, "%s/%s/input.json", STRATA_GOLDEN_DIR, name);
    snprintf(ex, sizeof ex, "%s/%s/expected.json", STRATA_GOLDEN_DIR, name);
    json_t *input = load_json(in);
    json_t *got = compile_input(input);
    const char *update = getenv("STRATA_GOLDEN_UPDATE");
    if (update && strcmp(update, "1") == 0) {
        assert_int_equal(json_dump_file(got, ex, JSON_SORT_KEYS | JSON_INDENT(1)), 0);
    }
    json_t *want = load_json(ex);
    char *g = canon(got), *w = canon(want);
    if (strcmp(g, w) != 0) {
        fprintf(stderr, "case %s: got\n%s\n", name, g);
    }
    assert_string_equal(g, w);
    free(g);
    free(w);
    json_decref(want);
    json_decref(got);
    json_decref(input);
}

static void test_golden_vn_basic(void **state)
{
    golden("vn_basic");
}

static void test_golden_policy_three_vns(void **state)
{
    golden("policy_three_vns");
}

static void test_golden_security_groups(void **state)
{
    golden("security_groups");
}

static void test_golden_service_chain_two(void **state)
{
    golden("service_chain_two");
}

static void test_golden_logical_router(void **state)
{
    golden("logical_router");
}

static void test_golden_service_chain_two_v1(void **state)
{
    golden("service_chain_two_v1");
}

static void test_golden_floating_ip(void **state)
{
    golden("floating_ip");
}

static void test_golden_vrouter_index(void **state)
{
    golden("vrouter_index");
}

static void test_golden_vrouter_index_v3(void **state)
{
    (void)state;
    golden("vrouter_index_v3");
}

/* The version 3 case's input (vrouter_index's plus interface MACs)
 * compiled under version 2 is vrouter_index's expected output byte for
 * byte: the MACs and the routing instances' VNIs are version 3 only. */
static void test_vrouter_index_v3_under_v2(void **state)
{
    (void)state;
    char in[1024], ex[1024];
    snprintf(in, sizeof in, "%s/vrouter_index_v3/input.json", STRATA_GOLDEN_DIR);
    snprintf(ex, sizeof ex, "%s/vrouter_index/expected.json", STRATA_GOLDEN_DIR);
    json_t *input = load_json(in);
    json_object_set_new(input, "version", json_integer(2));
    json_t *got = compile_input(input), *want = load_json(ex);
    char *g = canon(got), *w = canon(want);
    assert_string_equal(g, w);
    assert_null(strstr(g, "mac_address"));
    assert_null(strstr(g, "vxlan_network_identifier"));
    free(g);
    free(w);
    json_decref(want);
    json_decref(got);
    json_decref(input);
}

static void test_golden_global_defaults(void **state)
{
    (void)state;
    golden("global_defaults");
}

static void test_golden_global_settings(void **state)
{
    (void)state;
    golden("global_settings");
}

static void test_golden_allocations_kept(void **state)
{
    golden("allocations_kept");
}

/* Same input twice, and in reversed and rotated object order: byte-identical. */
static void test_determinism(void **state)
{
    static const char *const cases[] = {"logical_router", "policy_three_vns", "security_groups",
                                        "service_chain_two", "vn_basic", "floating_ip",
                                        "vrouter_index", "service_chain_two_v1", "global_defaults",
                                        "global_settings", "vrouter_index_v3"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char in[1024];
        snprintf(in, sizeof in, "%s/%s/input.json", STRATA_GOLDEN_DIR, cases[c]);
        json_t *input = load_json(in);
        json_t *objs = json_object_get(input, "objects");
        json_t *r1 = compile_input(input), *r2 = compile_input(input);
        char *s1 = json_dumps(r1, JSON_SORT_KEYS | JSON_COMPACT);
        char *s2 = json_dumps(r2, JSON_SORT_KEYS | JSON_COMPACT);
        assert_string_equal(s1, s2);
        size_t n = json_array_size(objs);
        for (size_t shift = 0; shift < n; shift++) {
            json_t *shuffled = json_array();
            for (size_t i = 0; i < n; i++) {
                size_t k = (shift % 2) ? n - 1 - ((i + shift) % n) : (i + shift) % n;
                json_array_append(shuffled, json_array_get(objs, k));
            }
            json_t *in2 = json_pack("{s:o}", "objects", shuffled);
            if (json_object_get(input, "version")) {
                json_object_set(in2, "version", json_object_get(input, "version"));
            }
            json_t *r3 = compile_input(in2);
            char *s3 = json_dumps(r3, JSON_SORT_KEYS | JSON_COMPACT);
            assert_string_equal(s1, s3);
            free(s3);
            json_decref(r3);
            json_decref(in2);
        }
        free(s1);
        free(s2);
        json_decref(r1);
        json_decref(r2);
        json_decref(input);
    }
}

/* Applies a change of object 'uuid' ('now' NULL: delete) incrementally to
 * 'derived': affected sources, recompiled, diffed. Returns the number of
 * puts; '*dels' the number of deletes; '*naffected' the sources. */
static size_t apply_change(struct compile_model *m, struct compile_alloc *a, json_t *derived,
                           const char *type, const char *uuid, json_t *now, size_t *dels,
                           size_t *naffected, json_t **affected_out)
{
    const json_t *cur = compile_model_get(m, uuid, NULL);
    json_t *old = cur ? json_incref((json_t *)cur) : NULL;
    if (now) {
        assert_int_equal(compile_model_put(m, type, now), 0);
    } else {
        compile_model_remove(m, uuid);
    }
    json_t *sources = json_object();
    assert_int_equal(compile_affected(m, type, uuid, old, now, sources), 0);
    json_t *before = compile_owned_by(derived, sources);
    json_t *after = json_object();
    assert_int_equal(compile_sources(m, a, sources, after), 0);
    json_t *puts, *deletes;
    assert_int_equal(compile_diff(before, after, &puts, &deletes), 0);
    const char *k;
    json_t *v;
    size_t i;
    json_object_foreach(puts, k, v) {
        assert_int_equal(json_object_set(derived, k, v), 0);
    }
    json_array_foreach(deletes, i, v) {
        assert_int_equal(json_object_del(derived, json_string_value(v)), 0);
    }
    size_t np = json_object_size(puts);
    *dels = json_array_size(deletes);
    if (naffected) {
        *naffected = json_object_size(sources);
    }
    if (affected_out) {
        *affected_out = json_incref(sources);
    }
    json_decref(puts);
    json_decref(deletes);
    json_decref(before);
    json_decref(after);
    json_decref(sources);
    json_decref(old);
    return np;
}

static json_t *obj_of(json_t *input, const char *uuid)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(input, "objects"), i, o) {
        if (strcmp(json_string_value(json_object_get(o, "uuid")), uuid) == 0) {
            json_t *c = json_deep_copy(o);
            json_object_del(c, "type");
            return c;
        }
    }
    fail_msg("no object %s", uuid);
    return NULL;
}

static size_t count_type(const json_t *derived, const char *prefix)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)derived, k, v) {
        n += strncmp(k, prefix, strlen(prefix)) == 0;
    }
    return n;
}

/* Version 3 incrementality, counted in writes: on the global_settings
 * case, a global-vrouter-config change the effective settings do not show
 * writes nothing; reversing the encapsulation order writes exactly the
 * effective-global-config; graceful-restart parameters the same; the
 * other global-vrouter-config (not the default one) nothing; an ASN change
 * also the network's route target and instance. Each equals a full
 * compile. */
static void test_global_incremental(void **state)
{
    (void)state;
    char in[1024];
    snprintf(in, sizeof in, "%s/global_settings/input.json", STRATA_GOLDEN_DIR);
    json_t *input = load_json(in);
    struct compile_model *m;
    struct compile_alloc *a;
    json_t *derived = NULL;
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    assert_int_equal(compile_model_load(m, json_object_get(input, "objects")), 0);
    assert_int_equal(compile_all(m, a, &derived), 0);
    const char *gv = "00000000-0000-0000-0000-000000000003", *gsc = "00000000-0000-0000-0000-000000000002";
    size_t dels, naff;
    json_t *o = obj_of(input, gv), *o2;
    json_object_set_new(o, "flow_aging_timeout", json_integer(60));
    assert_int_equal(apply_change(m, a, derived, "global-vrouter-config", gv, o, &dels, &naff, NULL), 0);
    assert_int_equal(naff, 1);
    o2 = json_deep_copy(o);
    json_decref(o);
    o = o2;
    json_object_set_new(o, "encapsulation_priorities",
                        json_pack("{s:[s,s,s]}", "encapsulation", "MPLSoUDP", "MPLSoGRE", "VXLAN"));
    assert_int_equal(apply_change(m, a, derived, "global-vrouter-config", gv, o, &dels, NULL, NULL), 1);
    assert_int_equal(dels, 0);
    json_decref(o);
    o = obj_of(input, "00000000-0000-0000-0000-000000000004");
    json_object_set_new(o, "encapsulation_priorities", json_pack("{s:[s]}", "encapsulation", "VXLAN"));
    assert_int_equal(apply_change(m, a, derived, "global-vrouter-config", json_string_value(json_object_get(o, "uuid")),
                                  o, &dels, NULL, NULL), 0);
    json_decref(o);
    o = obj_of(input, gsc);
    json_object_set_new(o, "graceful_restart_parameters", json_pack("{s:b}", "enable", 1));
    assert_int_equal(apply_change(m, a, derived, "global-system-config", gsc, o, &dels, &naff, NULL), 1);
    assert_int_equal(naff, 1); /* the ASN did not change: no network recompiled */
    o2 = json_deep_copy(o); /* the model holds 'o' itself */
    json_decref(o);
    o = o2;
    json_object_set_new(o, "autonomous_system", json_integer(65200));
    assert_true(apply_change(m, a, derived, "global-system-config", gsc, o, &dels, &naff, NULL) >= 3);
    assert_int_equal(naff, 2);
    json_decref(o);
    json_t *full = NULL;
    assert_int_equal(compile_all(m, a, &full), 0);
    assert_true(json_equal(full, derived));
    json_decref(full);
    json_decref(derived);
    compile_model_free(m);
    compile_alloc_free(a);
    json_decref(input);
}

/* The number of objects of 'derived' that differ from 'before' (or are
 * new there) and whose key starts with 'prefix'; '*other' those that do not. */
static size_t changed_of(const json_t *before, const json_t *derived, const char *prefix, size_t *other)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    *other = 0;
    json_object_foreach((json_t *)derived, k, v) {
        if (!json_equal(v, json_object_get(before, k))) {
            if (strncmp(k, prefix, strlen(prefix)) == 0) {
                n++;
            } else {
                (*other)++;
            }
        }
    }
    return n;
}

/* The indexes of 'derived' listing interface 'vmi'. */
static size_t indexes_listing(const json_t *derived, const char *vmi)
{
    size_t n = 0, i;
    const char *k;
    json_t *v, *e;
    json_object_foreach((json_t *)derived, k, v) {
        json_array_foreach(json_object_get(json_object_get(v, "virtual_router_index"), "interfaces"), i, e) {
            n += strcmp(json_string_value(json_object_get(e, "uuid")), vmi) == 0;
        }
    }
    return n;
}

/* Version 3 incrementality of what agents read, in writes, on the
 * vrouter_index_v3 case: an interface's MAC change rewrites exactly the
 * indexes listing it (with the new MAC); a change the index does not
 * show nothing; configuring a network's VNI rewrites exactly its default
 * routing instance (carrying the new VNI) and no index; each equals a
 * full compile. */
static void test_v3_agent_fields_incremental(void **state)
{
    (void)state;
    char in[1024];
    snprintf(in, sizeof in, "%s/vrouter_index_v3/input.json", STRATA_GOLDEN_DIR);
    json_t *input = load_json(in);
    struct compile_model *m;
    struct compile_alloc *a;
    json_t *derived = NULL;
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    assert_int_equal(compile_model_load(m, json_object_get(input, "objects")), 0);
    assert_int_equal(compile_all(m, a, &derived), 0);
    const char *vmi = "00000000-0000-0000-0000-000000000130", *vn = "00000000-0000-0000-0000-000000000112";
    size_t hosts = indexes_listing(derived, vmi), dels, other;
    assert_true(hosts >= 1);

    json_t *before = json_deep_copy(derived);
    json_t *o = obj_of(input, vmi);
    json_object_set_new(o, "virtual_machine_interface_mac_addresses",
                        json_pack("{s:[s]}", "mac_address", "02:aa:bb:cc:dd:ee"));
    assert_int_equal(apply_change(m, a, derived, "virtual-machine-interface", vmi, o, &dels, NULL, NULL), hosts);
    assert_int_equal(dels, 0);
    assert_int_equal(changed_of(before, derived, "virtual-router-index/", &other), hosts);
    assert_int_equal(other, 0);
    char *text = json_dumps(derived, JSON_COMPACT);
    assert_non_null(strstr(text, "\"mac_address\":[\"02:aa:bb:cc:dd:ee\"]"));
    assert_null(strstr(text, "02:00:00:00:01:30"));
    free(text);
    json_t *o2 = json_deep_copy(o); /* the model holds 'o' itself */
    json_decref(o);
    o = o2;
    json_object_set_new(o, "display_name", json_string("renamed"));
    assert_int_equal(apply_change(m, a, derived, "virtual-machine-interface", vmi, o, &dels, NULL, NULL), 0);
    json_decref(o);

    json_decref(before);
    before = json_deep_copy(derived);
    o = obj_of(input, vn);
    json_object_set_new(o, "virtual_network_properties", json_pack("{s:i}", "vxlan_network_identifier", 4242));
    assert_int_equal(apply_change(m, a, derived, "virtual-network", vn, o, &dels, NULL, NULL), 1);
    assert_int_equal(dels, 0);
    assert_int_equal(changed_of(before, derived, "routing-instance/", &other), 1);
    assert_int_equal(other, 0);
    json_decref(o);
    const char *k;
    json_t *v;
    size_t found = 0;
    json_object_foreach(derived, k, v) {
        if (strncmp(k, "routing-instance/", 17) == 0 &&
            strcmp(json_string_value(json_object_get(v, "parent_uuid")), vn) == 0) {
            assert_int_equal(json_integer_value(json_object_get(v, "vxlan_network_identifier")), 4242);
            found++;
        }
    }
    assert_int_equal(found, 1);
    assert_int_equal(compile_alloc_vni(a, vn), 4242);

    json_t *full = NULL;
    assert_int_equal(compile_all(m, a, &full), 0);
    assert_true(json_equal(full, derived));
    json_decref(full);
    json_decref(before);
    json_decref(derived);
    compile_model_free(m);
    compile_alloc_free(a);
    json_decref(input);
}

/* Removing the policy between A and B (detaching it, then deleting it)
 * removes its ACL entries and the route-target imports; deleting a network
 * releases its route-target number and VNI, which the next network gets.
 * The incremental result equals a full compile of the final model. */
static void test_removal(void **state)
{
    char in[1024];
    snprintf(in, sizeof in, "%s/policy_three_vns/input.json", STRATA_GOLDEN_DIR);
    json_t *input = load_json(in);
    struct compile_model *m;
    struct compile_alloc *a;
    json_t *derived;
    size_t dels;
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    assert_int_equal(compile_model_load(m, json_object_get(input, "objects")), 0);
    assert_int_equal(compile_all(m, a, &derived), 0);

    const char *va = "00000000-0000-0000-0000-0000000000a1";
    const char *vb = "00000000-0000-0000-0000-0000000000a2";
    const char *pab = "00000000-0000-0000-0000-0000000000b1";
    uint32_t rt_b = compile_alloc_rt(a, vb), vni_b = compile_alloc_vni(a, vb);
    assert_true(rt_b >= COMPILE_RT_FIRST);

    /* detach policy A<>B from A and B */
    for (int i = 0; i < 2; i++) {
        const char *vu = i ? vb : va;
        json_t *vn = obj_of(input, vu);
        json_t *refs = json_object_get(vn, "network_policy_refs");
        json_t *keep = json_array();
        size_t j;
        json_t *r;
        json_array_foreach(refs, j, r) {
            if (strcmp(json_string_value(json_object_get(r, "uuid")), pab) != 0) {
                json_array_append(keep, r);
            }
        }
        json_object_set_new(vn, "network_policy_refs", keep);
        (void)apply_change(m, a, derived, "virtual-network", vu, vn, &dels, NULL, NULL);
        json_decref(vn);
    }
    assert_int_equal(apply_change(m, a, derived, "network-policy", pab, NULL, &dels, NULL, NULL), 0);
    char *text = json_dumps(derived, JSON_SORT_KEYS | JSON_COMPACT);
    assert_null(strstr(text, pab)); /* no ACL or RI derived from it */
    /* A's routing instance imports nothing any more */
    const char *k;
    json_t *v;
    json_object_foreach(derived, k, v) {
        if (strncmp(k, "routing-instance/", 17) == 0 &&
            strcmp(json_string_value(json_object_get(v, "parent_uuid")), va) == 0) {
            assert_int_equal(json_array_size(json_object_get(v, "route_target_refs")), 1);
        }
    }
    free(text);

    /* delete B: its RT, RI, ACL go; a new network takes B's numbers */
    size_t before = json_object_size(derived);
    /* C stops importing B's target: its routing instance is the one put */
    assert_int_equal(apply_change(m, a, derived, "virtual-network", vb, NULL, &dels, NULL, NULL), 1);
    assert_int_equal(dels, 3);
    assert_int_equal(json_object_size(derived), before - 3);
    assert_int_equal(compile_alloc_rt(a, vb), 0);
    assert_int_equal(compile_alloc_vni(a, vb), 0);
    json_t *vn = json_pack("{s:s,s:[s,s,s],s:s,s:s,s:s}", "uuid", "00000000-0000-0000-0000-0000000000ff",
                           "fq_name", "default-domain", "proj", "vnew", "name", "vnew", "parent_type",
                           "project", "parent_uuid", "00000000-0000-0000-0000-000000000010");
    (void)apply_change(m, a, derived, "virtual-network", "00000000-0000-0000-0000-0000000000ff", vn,
                       &dels, NULL, NULL);
    assert_int_equal(compile_alloc_rt(a, "00000000-0000-0000-0000-0000000000ff"), rt_b);
    assert_int_equal(compile_alloc_vni(a, "00000000-0000-0000-0000-0000000000ff"), vni_b);
    json_decref(vn);

    /* the incremental state equals a full compile */
    json_t *full;
    assert_int_equal(compile_all(m, a, &full), 0);
    char *s1 = json_dumps(full, JSON_SORT_KEYS | JSON_COMPACT);
    char *s2 = json_dumps(derived, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    json_decref(full);
    json_decref(derived);
    compile_model_free(m);
    compile_alloc_free(a);
    json_decref(input);
}

/* Deleting the second service instance of the two-service chain removes
 * the chain: the four service routing instances and their four
 * route-targets go, their numbers are released, the default instances stop
 * importing them; the incremental state equals a full compile. */
static void test_service_removal(void **state)
{
    char in[1024];
    snprintf(in, sizeof in, "%s/service_chain_two/input.json", STRATA_GOLDEN_DIR);
    json_t *input = load_json(in);
    struct compile_model *m;
    struct compile_alloc *a;
    json_t *derived;
    size_t dels;
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    assert_int_equal(compile_model_load(m, json_object_get(input, "objects")), 0);
    assert_int_equal(compile_all(m, a, &derived), 0);
    assert_int_equal(count_type(derived, "routing-instance/"), 6);
    assert_int_equal(count_type(derived, "route-target/"), 6);
    json_t *st = compile_alloc_dump(a);
    assert_int_equal(json_object_size(json_object_get(st, "route_target")), 6);
    /* a fresh compile from the persisted allocations keeps every number */
    {
        struct compile_alloc *a2;
        json_t *again, *st2;
        assert_int_equal(compile_alloc_create(&a2), 0);
        assert_int_equal(compile_alloc_load(a2, st), 0);
        assert_int_equal(compile_all(m, a2, &again), 0);
        assert_true(json_equal(again, derived));
        st2 = compile_alloc_dump(a2);
        assert_true(json_equal(st, st2));
        json_decref(st2);
        json_decref(again);
        compile_alloc_free(a2);
    }
    json_decref(st);

    size_t puts = apply_change(m, a, derived, "service-instance", "00000000-0000-0000-0000-0000000000c2",
                               NULL, &dels, NULL, NULL);
    assert_int_equal(dels, 8);
    assert_int_equal(puts, 2); /* the two default routing instances */
    assert_int_equal(count_type(derived, "routing-instance/"), 2);
    st = compile_alloc_dump(a);
    assert_int_equal(json_object_size(json_object_get(st, "route_target")), 2);
    json_decref(st);
    const char *k;
    json_t *v;
    json_object_foreach(derived, k, v) {
        if (strncmp(k, "routing-instance/", 17) == 0) {
            assert_int_equal(json_array_size(json_object_get(v, "route_target_refs")), 1);
        }
    }
    json_t *full;
    assert_int_equal(compile_all(m, a, &full), 0);
    assert_true(json_equal(full, derived));
    json_decref(full);
    json_decref(derived);
    compile_model_free(m);
    compile_alloc_free(a);
    json_decref(input);
}

/* Deleting the logical router removes its route-target, releases its
 * number and leaves web and db with their own targets only. */
static void test_logical_router_removal(void **state)
{
    char in[1024];
    snprintf(in, sizeof in, "%s/logical_router/input.json", STRATA_GOLDEN_DIR);
    json_t *input = load_json(in);
    struct compile_model *m;
    struct compile_alloc *a;
    json_t *derived;
    size_t dels;
    const char *lr = "00000000-0000-0000-0000-0000000000d1";
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    assert_int_equal(compile_model_load(m, json_object_get(input, "objects")), 0);
    assert_int_equal(compile_all(m, a, &derived), 0);
    assert_int_equal(compile_alloc_rt(a, lr), 8000003);
    size_t puts = apply_change(m, a, derived, "logical-router", lr, NULL, &dels, NULL, NULL);
    assert_int_equal(dels, 1);
    assert_int_equal(puts, 2);
    assert_int_equal(compile_alloc_rt(a, lr), 0);
    const char *k;
    json_t *v;
    json_object_foreach(derived, k, v) {
        if (strncmp(k, "routing-instance/", 17) == 0) {
            assert_int_equal(json_array_size(json_object_get(v, "route_target_refs")), 1);
        }
    }
    json_t *full;
    assert_int_equal(compile_all(m, a, &full), 0);
    assert_true(json_equal(full, derived));
    json_decref(full);
    json_decref(derived);
    compile_model_free(m);
    compile_alloc_free(a);
    json_decref(input);
}

/* A new project gets its default security group and the group's ACLs;
 * once the group is written back as an input the diff moves the ACLs to
 * it and never deletes the group; a user's edit of the group rewrites only
 * the ACL it changes. */
static void test_default_sg_lifecycle(void **state)
{
    struct compile_model *m;
    struct compile_alloc *a;
    json_t *derived = json_object();
    size_t dels;
    const char *pu = "00000000-0000-0000-0000-000000000010";
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    json_t *proj = json_pack("{s:s,s:[s,s],s:s}", "uuid", pu, "fq_name", "default-domain", "p", "name", "p");
    assert_int_equal(apply_change(m, a, derived, "project", pu, proj, &dels, NULL, NULL), 3);
    assert_int_equal(dels, 0);
    json_decref(proj);

    char sgu[37];
    json_t *fq = json_pack("[s,s,s]", "default-domain", "p", "default");
    assert_int_equal(compile_uuid("security-group", fq, sgu), 0);
    json_decref(fq);
    char key[128];
    snprintf(key, sizeof key, "security-group/%s", sgu);
    json_t *sg = json_deep_copy(json_object_get(derived, key));
    assert_non_null(sg);
    assert_null(compile_owner(sg));
    assert_int_equal(apply_change(m, a, derived, "security-group", sgu, sg, &dels, NULL, NULL), 2);
    assert_int_equal(dels, 0);
    assert_non_null(json_object_get(derived, key));
    json_t *rules = json_object_get(json_object_get(sg, "security_group_entries"), "policy_rule");
    json_t *edited = json_deep_copy(sg);
    json_t *erules = json_object_get(json_object_get(edited, "security_group_entries"), "policy_rule");
    json_t *extra = json_deep_copy(json_array_get(rules, 0));
    json_object_set_new(extra, "protocol", json_string("tcp"));
    json_array_append_new(erules, extra);
    assert_int_equal(apply_change(m, a, derived, "security-group", sgu, edited, &dels, NULL, NULL), 1);
    assert_int_equal(dels, 0);
    json_decref(edited);
    json_decref(sg);

    json_t *full;
    assert_int_equal(compile_all(m, a, &full), 0);
    json_object_del(derived, key); /* an input now, not compiled output */
    assert_true(json_equal(full, derived));
    json_decref(full);
    json_decref(derived);
    compile_model_free(m);
    compile_alloc_free(a);
}

#define NVN 10000
#define NPOL 1000
#define PER_POL (NVN / NPOL)

static void uuid_of(char out[37], unsigned kind, unsigned i)
{
    snprintf(out, 37, "%08x-0000-4000-8000-%012x", kind, i);
}

static json_t *scale_policy(unsigned p, int variant)
{
    char u[37], name[32];
    uuid_of(u, 2, p);
    snprintf(name, sizeof name, "pol%u", p);
    json_t *dst = json_array();
    for (unsigned j = 0; j < PER_POL; j++) {
        char vn[64];
        snprintf(vn, sizeof vn, "default-domain:proj:vn%u", p * PER_POL + j);
        json_array_append_new(dst, json_pack("{s:s}", "virtual_network", vn));
    }
    return json_pack("{s:s,s:[s,s,s],s:s,s:{s:[{s:s,s:s,s:[{s:s}],s:o,s:[{s:i,s:i}],s:{s:s}}]}}",
                     "uuid", u, "fq_name", "default-domain", "proj", name, "name", name,
                     "network_policy_entries", "policy_rule", "direction", ">", "protocol", "tcp",
                     "src_addresses", "virtual_network", "local", "dst_addresses", dst, "dst_ports",
                     "start_port", variant ? 443 : 80, "end_port", variant ? 443 : 80,
                     "action_list", "simple_action", "pass");
}

/* 10,000 networks, 1,000 policies each attached to 10 networks and
 * connecting them: changing one policy's port recompiles exactly its 10
 * networks and rewrites exactly their 10 ACLs; the incremental state
 * equals a full compile. */
static void test_incremental_scale(void **state)
{
    struct compile_model *m;
    struct compile_alloc *a;
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    for (unsigned p = 0; p < NPOL; p++) {
        json_t *pol = scale_policy(p, 0);
        assert_int_equal(compile_model_put(m, "network-policy", pol), 0);
        json_decref(pol);
    }
    for (unsigned i = 0; i < NVN; i++) {
        char u[37], pu[37], name[32];
        uuid_of(u, 1, i);
        uuid_of(pu, 2, i / PER_POL);
        snprintf(name, sizeof name, "vn%u", i);
        json_t *vn = json_pack("{s:s,s:[s,s,s],s:s,s:[{s:s,s:[s,s,s],s:{s:{s:i,s:i}}}]}", "uuid", u,
                               "fq_name", "default-domain", "proj", name, "name", name,
                               "network_policy_refs", "uuid", pu, "to", "default-domain", "proj",
                               "x", "attr", "sequence", "major", 0, "minor", 0);
        assert_int_equal(compile_model_put(m, "virtual-network", vn), 0);
        json_decref(vn);
    }
    json_t *derived;
    assert_int_equal(compile_all(m, a, &derived), 0);
    assert_int_equal(count_type(derived, "routing-instance/"), NVN);
    assert_int_equal(count_type(derived, "route-target/"), NVN);
    assert_int_equal(count_type(derived, "access-control-list/"), NVN);
    /* every RI imports the other 9 networks of its policy */
    const char *k;
    json_t *v;
    json_object_foreach(derived, k, v) {
        if (strncmp(k, "routing-instance/", 17) == 0) {
            assert_int_equal(json_array_size(json_object_get(v, "route_target_refs")), PER_POL);
        }
    }

    size_t dels, naff;
    json_t *aff;
    json_t *pol = scale_policy(437, 1);
    size_t puts = apply_change(m, a, derived, "network-policy", json_string_value(json_object_get(pol, "uuid")),
                               pol, &dels, &naff, &aff);
    json_decref(pol);
    assert_int_equal(naff, PER_POL);
    for (unsigned j = 0; j < PER_POL; j++) {
        char u[37];
        uuid_of(u, 1, 437 * PER_POL + j);
        assert_non_null(json_object_get(aff, u));
    }
    json_decref(aff);
    assert_int_equal(puts, PER_POL);
    assert_int_equal(dels, 0);

    json_t *full;
    assert_int_equal(compile_all(m, a, &full), 0);
    assert_true(json_equal(full, derived));
    json_decref(full);
    json_decref(derived);
    compile_model_free(m);
    compile_alloc_free(a);
}

/* Allocation errors: a configured VNI held by another network conflicts;
 * name-based uuids have the version 5 and variant bits. */
static void test_alloc_conflict_and_uuid(void **state)
{
    struct compile_model *m;
    struct compile_alloc *a;
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    json_t *st = json_pack("{s:{s:i},s:{s:i}}", "route_target", "x", 8000000, "vni", "x", 5);
    assert_int_equal(compile_alloc_load(a, st), 0);
    json_decref(st);
    json_t *vn = json_pack("{s:s,s:[s,s,s],s:{s:i}}", "uuid", "y", "fq_name", "d", "p", "n",
                           "virtual_network_properties", "vxlan_network_identifier", 5);
    assert_int_equal(compile_model_put(m, "virtual-network", vn), 0);
    json_decref(vn);
    json_t *out = json_object(), *src = json_pack("{s:b}", "y", 1);
    assert_int_equal(compile_sources(m, a, src, out), COMPILE_ECONFLICT);
    json_decref(out);
    json_decref(src);
    st = json_pack("{s:{s:i}}", "route_target", "z", 7);
    assert_int_equal(compile_alloc_load(a, st), COMPILE_EINVAL);
    json_decref(st);

    char u1[37], u2[37];
    json_t *fq = json_pack("[s,s]", "a", "b");
    assert_int_equal(compile_uuid("routing-instance", fq, u1), 0);
    assert_int_equal(compile_uuid("access-control-list", fq, u2), 0);
    assert_string_not_equal(u1, u2);
    assert_int_equal(u1[14], '5');
    assert_non_null(strchr("89ab", u1[19]));
    json_decref(fq);
    assert_string_equal(compile_strerror(COMPILE_ECONFLICT), "identifier already held by another object");
    compile_model_free(m);
    compile_alloc_free(a);
}

/* compile_sources() of 'src' (a set of uuids) on 'm' and 'a': the output
 * and the pools after, as canonical text (both malloc'd). */
static void compile_text(struct compile_model *m, struct compile_alloc *a, const json_t *src,
                         char **out_text, char **pools_text)
{
    json_t *out = json_object(), *set = json_deep_copy(src);
    assert_int_equal(compile_sources(m, a, set, out), 0);
    json_t *pools = compile_alloc_dump(a);
    *out_text = canon(out);
    *pools_text = canon(pools);
    json_decref(pools);
    json_decref(out);
    json_decref(set);
}

/* The journal of a long-lived allocator (compile_alloc_begin/changes/
 * rollback, what compiler/derive.c plans on): for every network and
 * service instance of the two-service chain, removing it and recompiling
 * every network under a journal reports exactly the owners whose numbers
 * changed (then/now), and the rollback restores the pools byte for byte,
 * including the lowest-free position and the service-target index: the
 * same compile afterwards gives the same output and pools as on a fresh
 * load of the state. Then compile_alloc_set/unset, fed the state key by
 * key with moves and deletions in between, end equal to a fresh load of
 * the final state, and the next allocation is the same on both. */
static void test_alloc_journal(void **state)
{
    (void)state;
    char in[1024];
    snprintf(in, sizeof in, "%s/service_chain_two/input.json", STRATA_GOLDEN_DIR);
    json_t *input = load_json(in);
    struct compile_model *m;
    struct compile_alloc *a;
    json_t *derived;
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    assert_int_equal(compile_model_load(m, json_object_get(input, "objects")), 0);
    assert_int_equal(compile_all(m, a, &derived), 0);
    json_decref(derived);
    json_t *live = compile_alloc_dump(a); /* shares the pools' objects: copy */
    json_t *st = json_deep_copy(live);
    json_decref(live);
    char *st_text = canon(st);
    json_t *nets = json_object();
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(input, "objects"), i, o) {
        if (strcmp(json_string_value(json_object_get(o, "type")), "virtual-network") == 0) {
            json_object_set_new(nets, json_string_value(json_object_get(o, "uuid")), json_true());
        }
    }
    assert_true(json_object_size(nets) >= 2);
    size_t checked = 0, changed = 0;
    json_array_foreach(json_object_get(input, "objects"), i, o) {
        const char *type = json_string_value(json_object_get(o, "type"));
        const char *uuid = json_string_value(json_object_get(o, "uuid"));
        if (strcmp(type, "virtual-network") != 0 && strcmp(type, "service-instance") != 0) {
            continue;
        }
        compile_model_remove(m, uuid);
        assert_int_equal(compile_alloc_begin(a), 0);
        json_t *out = json_object(), *set = json_deep_copy(nets);
        assert_int_equal(compile_sources(m, a, set, out), 0);
        json_t *then, *now;
        assert_int_equal(compile_alloc_changes(a, &then, &now), 0);
        /* what changed, and only that: the pools now vs the state */
        json_t *cur = compile_alloc_dump(a);
        static const char *const pools[2] = {"route_target", "vni"};
        for (int p = 0; p < 2; p++) {
            const json_t *sp = json_object_get(st, pools[p]), *cp = json_object_get(cur, pools[p]);
            const char *owner;
            json_t *v;
            json_object_foreach((json_t *)sp, owner, v) {
                json_t *c = json_object_get(cp, owner);
                bool diff = !c || json_integer_value(c) != json_integer_value(v);
                assert_int_equal(diff, json_object_get(json_object_get(then, pools[p]), owner) != NULL);
                changed += diff;
            }
            json_object_foreach((json_t *)cp, owner, v) {
                json_t *was = json_object_get(sp, owner);
                json_t *n = json_object_get(json_object_get(now, pools[p]), owner);
                if (!was || json_integer_value(was) != json_integer_value(v)) {
                    assert_non_null(n);
                    assert_int_equal(json_integer_value(n), json_integer_value(v));
                }
            }
        }
        json_decref(cur);
        json_decref(then);
        json_decref(now);
        json_decref(out);
        json_decref(set);
        assert_int_equal(compile_alloc_rollback(a), 0);
        json_t *back = compile_alloc_dump(a);
        char *back_text = canon(back);
        assert_string_equal(back_text, st_text);
        free(back_text);
        json_decref(back);
        /* the same compile on the rolled-back pools and on a fresh load */
        struct compile_alloc *f;
        assert_int_equal(compile_alloc_create(&f), 0);
        assert_int_equal(compile_alloc_load(f, st), 0);
        assert_int_equal(compile_alloc_begin(a), 0);
        char *o1, *p1, *o2, *p2;
        compile_text(m, a, nets, &o1, &p1);
        compile_text(m, f, nets, &o2, &p2);
        assert_string_equal(o1, o2);
        assert_string_equal(p1, p2);
        free(o1);
        free(p1);
        free(o2);
        free(p2);
        assert_int_equal(compile_alloc_rollback(a), 0);
        compile_alloc_free(f);
        json_t *obj = json_deep_copy(o);
        json_object_del(obj, "type");
        assert_int_equal(compile_model_put(m, type, obj), 0);
        json_decref(obj);
        checked++;
    }
    assert_true(checked >= 4);
    assert_true(changed > 0); /* removals did release numbers */

    /* set/unset: the state fed key by key, with moves and deletions */
    struct compile_alloc *b, *f;
    assert_int_equal(compile_alloc_create(&b), 0);
    json_t *want = json_deep_copy(st);
    static const char *const pools[2] = {"route_target", "vni"};
    for (int p = 0; p < 2; p++) {
        const char *owner;
        json_t *v;
        json_object_foreach(json_object_get(st, pools[p]), owner, v) {
            /* first somewhere else, then moved to its number */
            assert_int_equal(compile_alloc_set(b, p == 0, owner, (uint64_t)json_integer_value(v) + 100), 0);
            assert_int_equal(compile_alloc_set(b, p == 0, owner, (uint64_t)json_integer_value(v)), 0);
        }
    }
    /* a number given to another owner: the previous holder loses it */
    const char *victim = NULL;
    json_t *vv = NULL;
    json_object_foreach(json_object_get(st, "vni"), victim, vv) {
        break;
    }
    assert_non_null(victim);
    uint64_t vnum = (uint64_t)json_integer_value(vv);
    assert_int_equal(compile_alloc_set(b, false, "someone-else", vnum), 0);
    assert_int_equal(compile_alloc_vni(b, victim), 0);
    json_object_del(json_object_get(want, "vni"), victim);
    json_object_set_new(json_object_get(want, "vni"), "someone-else", json_integer((json_int_t)vnum));
    compile_alloc_unset(b, false, vnum);
    json_object_del(json_object_get(want, "vni"), "someone-else");
    compile_alloc_unset(b, false, 999999); /* free already: nothing */
    json_t *got = compile_alloc_dump(b);
    char *g = canon(got), *w = canon(want);
    assert_string_equal(g, w);
    free(g);
    free(w);
    json_decref(got);
    assert_int_equal(compile_alloc_create(&f), 0);
    assert_int_equal(compile_alloc_load(f, want), 0);
    char *o1, *p1, *o2, *p2;
    compile_text(m, b, nets, &o1, &p1);
    compile_text(m, f, nets, &o2, &p2);
    assert_string_equal(o1, o2);
    assert_string_equal(p1, p2);
    assert_int_equal(compile_alloc_vni(b, victim), vnum); /* the lowest free again */
    free(o1);
    free(p1);
    free(o2);
    free(p2);
    compile_alloc_free(f);
    compile_alloc_free(b);
    json_decref(want);
    free(st_text);
    json_decref(st);
    json_decref(nets);
    compile_model_free(m);
    compile_alloc_free(a);
    json_decref(input);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_vn_basic),
        cmocka_unit_test(test_golden_policy_three_vns),
        cmocka_unit_test(test_golden_security_groups),
        cmocka_unit_test(test_golden_service_chain_two),
        cmocka_unit_test(test_golden_service_chain_two_v1),
        cmocka_unit_test(test_golden_floating_ip),
        cmocka_unit_test(test_golden_vrouter_index),
        cmocka_unit_test(test_golden_vrouter_index_v3),
        cmocka_unit_test(test_vrouter_index_v3_under_v2),
        cmocka_unit_test(test_v3_agent_fields_incremental),
        cmocka_unit_test(test_golden_logical_router),
        cmocka_unit_test(test_golden_allocations_kept),
        cmocka_unit_test(test_golden_global_defaults),
        cmocka_unit_test(test_golden_global_settings),
        cmocka_unit_test(test_global_incremental),
        cmocka_unit_test(test_service_removal),
        cmocka_unit_test(test_logical_router_removal),
        cmocka_unit_test(test_default_sg_lifecycle),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_removal),
        cmocka_unit_test(test_alloc_conflict_and_uuid),
        cmocka_unit_test(test_alloc_journal),
        cmocka_unit_test(test_incremental_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

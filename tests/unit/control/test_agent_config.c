/* Unit tests for routing/control/agent_config.c: the config subgraph built
 * from a virtual-router-index, the diff between two subgraphs (order,
 * exactness), its stanzas round-tripping through the XMPP codec into the
 * receiving mirror, which agents a store change reaches, and (with the
 * compiler core's output for a golden case) the interface MACs and network
 * VNIs of rules version 3 in what an agent receives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compiler/compile.h"
#include "routing/control/agent_config.h"
#include "tests/unit/xmpp/xmpp_samples.h"

/* An interface entry of an index, as the compiler writes it. */
static json_t *iface(const char *name, const char *uuid, const char *net, const char *ip)
{
    char ri[256], acl[256];
    snprintf(ri, sizeof ri, "default-domain:p:%s:%s", net, net);
    snprintf(acl, sizeof acl, "default-domain:p:%s:%s", net, net);
    char vn[256];
    snprintf(vn, sizeof vn, "default-domain:p:%s", net);
    return json_pack("{s:[s,s,s],s:s,s:s,s:s,s:s,s:[s],s:[{s:s,s:s,s:s}],s:[]}", "fq_name", "default-domain", "p",
                     name, "uuid", uuid, "virtual_network", vn, "routing_instance", ri, "access_control_list", acl,
                     "instance_ip_addresses", ip, "security_groups", "security_group", "default-domain:p:default",
                     "ingress_access_control_list", "default-domain:p:default:ingress-access-control-list",
                     "egress_access_control_list", "default-domain:p:default:egress-access-control-list",
                     "floating_ips");
}

/* The index of router 'vr' listing 'ifs' (stolen) and the union of their
 * networks, instances, ACLs and the default group. */
static json_t *index_of(const char *vr, json_t *ifs)
{
    json_t *vns = json_array(), *ris = json_array(), *acls = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(ifs, i, e) {
        json_array_append(vns, json_object_get(e, "virtual_network"));
        json_array_append(ris, json_object_get(e, "routing_instance"));
        json_array_append(acls, json_object_get(e, "access_control_list"));
    }
    json_t *sgs = json_array();
    if (json_array_size(ifs)) {
        json_array_append_new(acls, json_string("default-domain:p:default:ingress-access-control-list"));
        json_array_append_new(sgs, json_string("default-domain:p:default"));
    }
    char uuid[64];
    snprintf(uuid, sizeof uuid, "idx-%s", vr);
    return json_pack("{s:[s,s,s],s:s,s:{s:o,s:o,s:o,s:o,s:o}}", "fq_name", "default-global-system-config", vr,
                     "index", "uuid", uuid, "virtual_router_index", "interfaces", ifs, "virtual_networks", vns,
                     "routing_instances", ris, "access_control_lists", acls, "security_groups", sgs);
}

static json_t *acl_obj(const char *net, const char *action)
{
    return json_pack("{s:[s,s,s,s],s:s,s:s,s:{s:[{s:{s:s}}]},s:[{s:s}]}", "fq_name", "default-domain", "p", net, net,
                     "name", net, "uuid", "acl-uuid", "access_control_list_entries", "acl_rule", "action_list",
                     "simple_action", action, "derived_from", "type", "virtual-network");
}

static size_t count_op(const struct xmpp_config_obj *o, size_t n, enum xmpp_config_op op, bool link)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        c += o[i].op == op && o[i].is_link == link;
    }
    return c;
}

static const struct xmpp_config_obj *find_node(const struct xmpp_config_obj *o, size_t n, const char *type,
                                               const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (!o[i].is_link && strcmp(o[i].node.type, type) == 0 && strcmp(o[i].node.name, name) == 0) {
            return &o[i];
        }
    }
    return NULL;
}

static const char *prop(const struct xmpp_config_obj *o, const char *name)
{
    for (size_t i = 0; o && i < o->node.prop_count; i++) {
        if (strcmp(o->node.props[i].name, name) == 0) {
            return o->node.props[i].value;
        }
    }
    return NULL;
}

/* Both diffs between 'a' and 'b' are empty: the same set. */
static void assert_same_set(const struct acfg_set *a, const struct acfg_set *b)
{
    struct xmpp_config_obj *o;
    size_t n;
    assert_int_equal(acfg_set_size(a), acfg_set_size(b));
    assert_int_equal(acfg_diff(a, b, &o, &n), 0);
    assert_int_equal(n, 0);
    acfg_objs_free(o, n);
    assert_int_equal(acfg_diff(b, a, &o, &n), 0);
    assert_int_equal(n, 0);
    acfg_objs_free(o, n);
}

/* A build reusing the previous set (what a flush does per marked agent)
 * gives exactly the set of a build from nothing: after an interface's
 * address changed, one was added and one removed, an ACL object was
 * replaced by one with another action, another kept (same object), and
 * again from that set with nothing changed; the diff from the previous
 * set is the same too (one interface updated and one new with its links,
 * one gone, the ACL updated). */
static void test_build_from_prev(void **state)
{
    (void)state;
    json_t *objs = json_object();
    json_object_set_new(objs, "access-control-list\ndefault-domain:p:red:red", acl_obj("red", "pass"));
    json_object_set_new(objs, "access-control-list\ndefault-domain:p:blue:blue", acl_obj("blue", "pass"));
    json_t *idx1 = index_of("vr1", json_pack("[o,o,o]", iface("port1", "u1", "red", "10.1.0.3"),
                                              iface("port2", "u2", "red", "10.1.0.4"),
                                              iface("port3", "u3", "blue", "10.2.0.3")));
    struct acfg_set *s1, *fresh, *cached, *again;
    assert_int_equal(acfg_set_build(idx1, "vr1", objs, &s1), 0);

    json_t *idx2 = index_of("vr1", json_pack("[o,o,o]", iface("port1", "u1", "red", "10.1.0.3"),
                                              iface("port2", "u2", "red", "10.1.0.9"),
                                              iface("port4", "u4", "blue", "10.2.0.4")));
    json_object_set_new(objs, "access-control-list\ndefault-domain:p:red:red", acl_obj("red", "deny"));
    assert_int_equal(acfg_set_build(idx2, "vr1", objs, &fresh), 0);
    assert_int_equal(acfg_set_build_from(idx2, "vr1", objs, s1, &cached), 0);
    assert_same_set(fresh, cached);
    struct xmpp_config_obj *a, *b;
    size_t na, nb;
    assert_int_equal(acfg_diff(s1, fresh, &a, &na), 0);
    assert_int_equal(acfg_diff(s1, cached, &b, &nb), 0);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(a[i].op, b[i].op);
        assert_int_equal(a[i].is_link, b[i].is_link);
        if (!a[i].is_link) {
            assert_string_equal(a[i].node.name, b[i].node.name);
            assert_int_equal(a[i].node.prop_count, b[i].node.prop_count);
        }
    }
    const struct xmpp_config_obj *acl = find_node(b, nb, "access-control-list", "default-domain:p:red:red");
    assert_non_null(acl);
    assert_non_null(strstr(prop(acl, "access_control_list_entries"), "deny"));
    const struct xmpp_config_obj *p2 = find_node(b, nb, "virtual-machine-interface", "default-domain:p:port2");
    assert_non_null(p2);
    assert_non_null(strstr(prop(p2, "instance_ip_addresses"), "10.1.0.9"));
    assert_null(find_node(b, nb, "virtual-machine-interface", "default-domain:p:port1"));
    assert_null(find_node(b, nb, "access-control-list", "default-domain:p:blue:blue"));
    assert_int_equal(count_op(b, nb, XMPP_CONFIG_DELETE, false), 1); /* port3 */
    acfg_objs_free(a, na);
    acfg_objs_free(b, nb);

    /* nothing changed: the same set again, and an empty diff */
    assert_int_equal(acfg_set_build_from(idx2, "vr1", objs, cached, &again), 0);
    assert_same_set(fresh, again);
    assert_int_equal(acfg_diff(cached, again, &a, &na), 0);
    assert_int_equal(na, 0);
    acfg_objs_free(a, na);
    acfg_set_free(s1);
    acfg_set_free(fresh);
    acfg_set_free(cached);
    acfg_set_free(again);
    json_decref(idx1);
    json_decref(idx2);
    json_decref(objs);
}

/* Builds, diffs from nothing: every node before any link, the interface's
 * properties from the index entry, the ACL's from its store object. */
static void test_build_and_full_diff(void **state)
{
    (void)state;
    json_t *objs = json_object();
    json_object_set_new(objs, "access-control-list\ndefault-domain:p:red:red", acl_obj("red", "pass"));
    json_t *idx = index_of("vr1", json_pack("[o]", iface("port1", "u1", "red", "10.1.0.3")));
    struct acfg_set *s;
    assert_int_equal(acfg_set_build(idx, "vr1", objs, &s), 0);
    /* vr, vmi, vn, ri, 2 acls, sg = 7 nodes; vr-vmi, vmi-vn, vmi-ri, vmi-sg = 4 links */
    assert_int_equal(acfg_set_size(s), 11);
    assert_true(acfg_set_has_node(s, "virtual-machine-interface", "default-domain:p:port1"));
    assert_true(acfg_set_has_node(s, "routing-instance", "default-domain:p:red:red"));
    assert_false(acfg_set_has_node(s, "routing-instance", "default-domain:p:blue:blue"));

    struct xmpp_config_obj *o;
    size_t n;
    assert_int_equal(acfg_diff(NULL, s, &o, &n), 0);
    assert_int_equal(n, 11);
    assert_int_equal(count_op(o, n, XMPP_CONFIG_UPDATE, false), 7);
    assert_int_equal(count_op(o, n, XMPP_CONFIG_UPDATE, true), 4);
    for (size_t i = 0; i < 7; i++) {
        assert_false(o[i].is_link); /* nodes first */
    }
    const struct xmpp_config_obj *vmi = find_node(o, n, "virtual-machine-interface", "default-domain:p:port1");
    assert_non_null(vmi);
    assert_string_equal(prop(vmi, "uuid"), "u1");
    assert_string_equal(prop(vmi, "routing_instance"), "default-domain:p:red:red");
    assert_string_equal(prop(vmi, "instance_ip_addresses"), "[\"10.1.0.3\"]");
    assert_null(prop(vmi, "fq_name"));
    const struct xmpp_config_obj *acl = find_node(o, n, "access-control-list", "default-domain:p:red:red");
    assert_string_equal(prop(acl, "access_control_list_entries"), "{\"acl_rule\":[{\"action_list\":{\"simple_action\":\"pass\"}}]}");
    assert_null(prop(acl, "derived_from"));
    assert_null(prop(acl, "name"));
    const struct xmpp_config_obj *sg = find_node(o, n, "security-group", "default-domain:p:default");
    assert_string_equal(prop(sg, "egress_access_control_list"), "default-domain:p:default:egress-access-control-list");
    /* an ACL not in the store yet is a node without properties */
    assert_int_equal(find_node(o, n, "access-control-list", "default-domain:p:default:ingress-access-control-list")->node.prop_count, 0);
    acfg_objs_free(o, n);

    /* the same set twice: nothing to send */
    struct acfg_set *s2;
    assert_int_equal(acfg_set_build(idx, "vr1", objs, &s2), 0);
    assert_int_equal(acfg_diff(s, s2, &o, &n), 0);
    assert_int_equal(n, 0);
    acfg_objs_free(o, n);
    acfg_set_free(s2);
    /* to nothing: links deleted before nodes */
    assert_int_equal(acfg_diff(s, NULL, &o, &n), 0);
    assert_int_equal(n, 11);
    for (size_t i = 0; i < 4; i++) {
        assert_true(o[i].is_link && o[i].op == XMPP_CONFIG_DELETE);
    }
    for (size_t i = 4; i < n; i++) {
        assert_true(!o[i].is_link && o[i].op == XMPP_CONFIG_DELETE && o[i].node.prop_count == 0);
    }
    acfg_objs_free(o, n);
    acfg_set_free(s);
    json_decref(idx);
    json_decref(objs);
}

/* A second port on another network: exactly its node, its network's three
 * nodes and its four links; the shared group and the first port are not
 * resent. Removing the first port: its links, its node and its network. */
static void test_incremental_diff(void **state)
{
    (void)state;
    json_t *one = index_of("vr1", json_pack("[o]", iface("port1", "u1", "red", "10.1.0.3")));
    json_t *two = index_of("vr1", json_pack("[o,o]", iface("port1", "u1", "red", "10.1.0.3"),
                                            iface("port2", "u2", "blue", "10.2.0.3")));
    json_t *only2 = index_of("vr1", json_pack("[o]", iface("port2", "u2", "blue", "10.2.0.3")));
    struct acfg_set *a, *b, *c;
    assert_int_equal(acfg_set_build(one, "vr1", NULL, &a), 0);
    assert_int_equal(acfg_set_build(two, "vr1", NULL, &b), 0);
    assert_int_equal(acfg_set_build(only2, "vr1", NULL, &c), 0);
    struct xmpp_config_obj *o;
    size_t n;
    assert_int_equal(acfg_diff(a, b, &o, &n), 0);
    assert_int_equal(count_op(o, n, XMPP_CONFIG_UPDATE, false), 4); /* vmi, vn, ri, acl */
    assert_int_equal(count_op(o, n, XMPP_CONFIG_UPDATE, true), 4);
    assert_int_equal(n, 8);
    assert_non_null(find_node(o, n, "virtual-machine-interface", "default-domain:p:port2"));
    assert_null(find_node(o, n, "virtual-machine-interface", "default-domain:p:port1"));
    acfg_objs_free(o, n);

    assert_int_equal(acfg_diff(b, c, &o, &n), 0);
    assert_int_equal(count_op(o, n, XMPP_CONFIG_DELETE, true), 4);
    assert_int_equal(count_op(o, n, XMPP_CONFIG_DELETE, false), 4);
    assert_int_equal(n, 8);
    assert_true(o[0].is_link && o[n - 1].op == XMPP_CONFIG_DELETE && !o[n - 1].is_link);
    assert_non_null(find_node(o, n, "virtual-network", "default-domain:p:red"));
    acfg_objs_free(o, n);

    /* a changed address: one update of the interface, nothing else */
    json_t *moved = index_of("vr1", json_pack("[o]", iface("port2", "u2", "blue", "10.2.0.9")));
    struct acfg_set *d;
    assert_int_equal(acfg_set_build(moved, "vr1", NULL, &d), 0);
    assert_int_equal(acfg_diff(c, d, &o, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(prop(&o[0], "instance_ip_addresses"), "[\"10.2.0.9\"]");
    acfg_objs_free(o, n);
    acfg_set_free(a);
    acfg_set_free(b);
    acfg_set_free(c);
    acfg_set_free(d);
    json_decref(one);
    json_decref(two);
    json_decref(only2);
    json_decref(moved);
}

/* Stanzas of a diff encode, decode back (through a stream, as an agent
 * reads them) and are applied to the agent's mirror. */
struct agent {
    struct acfg_mirror *m;
    size_t stanzas, objects;
};

static int rt_send(void *arg, void *user, const struct xmpp_config_obj *objs, size_t count)
{
    size_t *calls = arg;
    struct agent *ag = user;
    (*calls)++;
    assert_non_null(ag);
    assert_true(count >= 1 && count <= XMPP_MAX_CONFIG_OBJS);
    struct xmpp_stanza st = {.type = XMPP_STANZA_CONFIG, .objs = (struct xmpp_config_obj *)objs, .obj_count = count};
    snprintf(st.id, sizeof st.id, "c%zu", ag->stanzas);
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(xmpp_stanza_encode(&out, &st), 0);
    struct xmpp_elem *e = parse_stanza((const char *)out.data, out.size);
    assert_non_null(e);
    struct xmpp_stanza got;
    assert_int_equal(xmpp_stanza_decode(e, &got), 0);
    assert_true(xmpp_stanza_equal(&st, &got));
    assert_int_equal(acfg_mirror_apply(ag->m, got.objs, got.obj_count), 0);
    xmpp_stanza_clear(&got);
    xmpp_elem_free(e);
    buf_destroy(&out);
    ag->stanzas++;
    ag->objects += count;
    return 0;
}

static void reset_counts(struct agent *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        a[i].stanzas = a[i].objects = 0;
    }
}

/* Three agents: a store change reaches exactly the agents it concerns,
 * and each mirror ends equal to what its index says. */
static void test_agents_and_mirror(void **state)
{
    (void)state;
    struct acfg *c;
    assert_int_equal(acfg_create(&c), 0);
    struct agent ag[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(acfg_mirror_create(&ag[i].m), 0);
    }
    json_t *i1 = index_of("vr1", json_pack("[o]", iface("port1", "u1", "red", "10.1.0.3")));
    json_t *i2 = index_of("vr2", json_pack("[o]", iface("port2", "u2", "blue", "10.2.0.3")));
    assert_false(acfg_object(c, "virtual-router-index", "/c/o/virtual-router-index/1", i1)); /* nobody up */
    assert_false(acfg_object(c, "virtual-router-index", "/c/o/virtual-router-index/2", i2));
    assert_false(acfg_object(c, "bgp-router", "/c/o/bgp-router/x", i2)); /* not a config type */
    assert_int_equal(acfg_agents_missing(c), 2); /* vr1 and vr2 have an index, no agent */
    assert_int_equal(acfg_agent_up(c, "vr1", &ag[0]), 0);
    assert_int_equal(acfg_agents_missing(c), 1);
    assert_int_equal(acfg_agent_up(c, "vr2", &ag[1]), 0);
    assert_int_equal(acfg_agent_up(c, "vr3", &ag[2]), 0); /* no index: nothing to send */
    assert_int_equal(acfg_agents_missing(c), 0);
    assert_true(acfg_pending(c));
    size_t calls = 0;
    assert_int_equal(acfg_flush(c, rt_send, &calls), 22);
    assert_false(acfg_pending(c));
    assert_int_equal(ag[0].objects, 11);
    assert_int_equal(ag[1].objects, 11);
    assert_int_equal(ag[2].objects, 0);
    assert_non_null(acfg_mirror_node(ag[0].m, "virtual-machine-interface", "default-domain:p:port1"));
    assert_null(acfg_mirror_node(ag[0].m, "virtual-machine-interface", "default-domain:p:port2"));
    assert_true(acfg_mirror_has_link(ag[1].m, "virtual-router", "vr2", "virtual-machine-interface",
                                     "default-domain:p:port2"));
    assert_int_equal(acfg_mirror_nodes(ag[1].m), 7);
    assert_int_equal(acfg_mirror_links(ag[1].m), 4);

    /* the red network's ACL appears in the store: only vr1 gets it */
    reset_counts(ag, 3);
    json_t *acl = acl_obj("red", "deny");
    assert_true(acfg_object(c, "access-control-list", "/c/o/access-control-list/a", acl));
    assert_int_equal(acfg_flush(c, rt_send, &calls), 1);
    assert_int_equal(ag[0].objects, 1);
    assert_int_equal(ag[1].objects + ag[2].objects, 0);
    const json_t *p = acfg_mirror_node(ag[0].m, "access-control-list", "default-domain:p:red:red");
    assert_string_equal(json_string_value(json_object_get(p, "access_control_list_entries")),
                        "{\"acl_rule\":[{\"action_list\":{\"simple_action\":\"deny\"}}]}");
    /* an unrelated network object: nobody */
    json_t *green = json_pack("{s:[s,s,s],s:s}", "fq_name", "default-domain", "p", "green", "uuid", "g");
    assert_false(acfg_object(c, "virtual-network", "/c/o/virtual-network/g", green));

    /* port2 moves from vr2 to vr1: vr1 gets its additions, vr2 deletes */
    reset_counts(ag, 3);
    json_t *i1b = index_of("vr1", json_pack("[o,o]", iface("port1", "u1", "red", "10.1.0.3"),
                                            iface("port2", "u2", "blue", "10.2.0.3")));
    json_t *i2b = index_of("vr2", json_array());
    assert_true(acfg_object(c, "virtual-router-index", "/c/o/virtual-router-index/1", i1b));
    assert_true(acfg_object(c, "virtual-router-index", "/c/o/virtual-router-index/2", i2b));
    assert_int_equal(acfg_flush(c, rt_send, &calls), 8 + 10);
    assert_int_equal(ag[0].objects, 8);
    assert_int_equal(ag[1].objects, 10); /* all but its virtual-router node */
    assert_int_equal(acfg_mirror_nodes(ag[1].m), 1);
    assert_int_equal(acfg_mirror_links(ag[1].m), 0);
    json_t *names = acfg_mirror_names(ag[0].m, "virtual-machine-interface");
    assert_int_equal(json_array_size(names), 2);
    assert_string_equal(json_string_value(json_array_get(names, 1)), "default-domain:p:port2");
    json_decref(names);

    /* the index of vr2 deleted: its last node goes */
    reset_counts(ag, 3);
    assert_true(acfg_object(c, "virtual-router-index", "/c/o/virtual-router-index/2", NULL));
    assert_int_equal(acfg_flush(c, rt_send, &calls), 1);
    assert_int_equal(acfg_mirror_nodes(ag[1].m), 0);

    /* a reload of the same objects sends nothing */
    reset_counts(ag, 3);
    assert_true(acfg_object(c, "virtual-router-index", NULL, NULL));
    assert_false(acfg_object(c, "virtual-router-index", "", NULL));
    (void)acfg_object(c, "virtual-router-index", "/c/o/virtual-router-index/1", i1b);
    assert_int_equal(acfg_flush(c, rt_send, &calls), 0);

    /* an agent that reconnects gets everything again; one that is down
     * gets nothing */
    reset_counts(ag, 3);
    acfg_agent_down(c, "vr1");
    assert_int_equal(acfg_agents_missing(c), 1);
    assert_false(acfg_object(c, "access-control-list", "/c/o/access-control-list/a", NULL));
    assert_int_equal(acfg_flush(c, rt_send, &calls), 0);
    struct acfg_mirror *fresh;
    assert_int_equal(acfg_mirror_create(&fresh), 0);
    acfg_mirror_free(ag[0].m);
    ag[0].m = fresh;
    assert_int_equal(acfg_agent_up(c, "vr1", &ag[0]), 0);
    assert_int_equal(acfg_flush(c, rt_send, &calls), 19);
    assert_int_equal(acfg_mirror_nodes(ag[0].m), 11);
    size_t objects, stanzas;
    assert_int_equal(acfg_agent_stats(c, "vr1", &objects, &stanzas), 0);
    assert_int_equal(objects, 11 + 1 + 8 + 19);
    assert_int_equal(stanzas, 1 + 1 + 1 + 2);
    assert_int_equal(acfg_agent_stats(c, "nobody", &objects, &stanzas), LIB_EINVAL);

    acfg_free(c);
    for (int i = 0; i < 3; i++) {
        acfg_mirror_free(ag[i].m);
    }
    json_decref(i1);
    json_decref(i2);
    json_decref(i1b);
    json_decref(i2b);
    json_decref(acl);
    json_decref(green);
}

/* The compiler's effective-global-config (compiler version 3). */
static json_t *egc_obj(const char *e1, const char *e2, int restart)
{
    return json_pack("{s:[s,s],s:s,s:s,s:I,s:{s:[s,s]},s:{s:b,s:b,s:i,s:i,s:i,s:b},s:[{s:s}]}", "fq_name",
                     "default-global-system-config", "effective", "name", "effective", "uuid", "egc-uuid",
                     "autonomous_system", (json_int_t)64512, "encapsulation_priorities", "encapsulation", e1, e2,
                     "graceful_restart_parameters", "bgp_helper_enable", 1, "enable", 1, "end_of_rib_timeout", 300,
                     "long_lived_restart_time", 300, "restart_time", restart, "xmpp_helper_enable", 1,
                     "derived_from", "type", "global-system-config");
}

/* The global settings node: absent until the compiler's object exists
 * (rules < 3), then in every connected agent's set (also one whose router
 * has no index yet) with the contract's property texts; a change of it
 * reaches every agent as one update of one node; its deletion deletes the
 * node everywhere; a reconnecting agent gets it again. */
static void test_global_node(void **state)
{
    (void)state;
    struct acfg *c;
    assert_int_equal(acfg_create(&c), 0);
    struct agent ag[2] = {{0}};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(acfg_mirror_create(&ag[i].m), 0);
    }
    json_t *i1 = index_of("vr1", json_pack("[o]", iface("port1", "u1", "red", "10.1.0.3")));
    assert_false(acfg_object(c, "virtual-router-index", "/c/o/virtual-router-index/1", i1));
    assert_int_equal(acfg_agent_up(c, "vr1", &ag[0]), 0);
    assert_int_equal(acfg_agent_up(c, "vr2", &ag[1]), 0); /* no index */
    size_t calls = 0;
    assert_int_equal(acfg_flush(c, rt_send, &calls), 11); /* no global node under rules < 3 */
    assert_null(acfg_mirror_node(ag[0].m, "global-vrouter-config",
                                 "default-global-system-config:default-global-vrouter-config"));

    reset_counts(ag, 2);
    json_t *g1 = egc_obj("MPLSoUDP", "VXLAN", 300);
    assert_true(acfg_object(c, "effective-global-config", "/c/o/effective-global-config/egc-uuid", g1));
    assert_int_equal(acfg_flush(c, rt_send, &calls), 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ag[i].objects, 1);
        assert_int_equal(ag[i].stanzas, 1);
        const json_t *p = acfg_mirror_node(ag[i].m, "global-vrouter-config",
                                           "default-global-system-config:default-global-vrouter-config");
        assert_non_null(p);
        assert_int_equal(json_object_size(p), 3);
        assert_string_equal(json_string_value(json_object_get(p, "encapsulation_priorities")),
                            "{\"encapsulation\":[\"MPLSoUDP\",\"VXLAN\"]}");
        assert_string_equal(json_string_value(json_object_get(p, "graceful_restart_parameters")),
                            "{\"bgp_helper_enable\":true,\"enable\":true,\"end_of_rib_timeout\":300,"
                            "\"long_lived_restart_time\":300,\"restart_time\":300,\"xmpp_helper_enable\":true}");
        assert_string_equal(json_string_value(json_object_get(p, "autonomous_system")), "64512");
    }
    assert_int_equal(acfg_mirror_nodes(ag[1].m), 1);
    assert_int_equal(acfg_mirror_links(ag[1].m), 0);

    /* the order changes: one update of the one node per agent */
    reset_counts(ag, 2);
    json_t *g2 = egc_obj("VXLAN", "MPLSoUDP", 120);
    assert_true(acfg_object(c, "effective-global-config", "/c/o/effective-global-config/egc-uuid", g2));
    assert_int_equal(acfg_flush(c, rt_send, &calls), 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ag[i].objects, 1);
        const json_t *p = acfg_mirror_node(ag[i].m, "global-vrouter-config",
                                           "default-global-system-config:default-global-vrouter-config");
        assert_string_equal(json_string_value(json_object_get(p, "encapsulation_priorities")),
                            "{\"encapsulation\":[\"VXLAN\",\"MPLSoUDP\"]}");
        assert_non_null(strstr(json_string_value(json_object_get(p, "graceful_restart_parameters")),
                               "\"restart_time\":120"));
    }
    /* the same object again (a reload): nothing sent */
    reset_counts(ag, 2);
    assert_true(acfg_object(c, "effective-global-config", NULL, NULL));
    (void)acfg_object(c, "effective-global-config", "/c/o/effective-global-config/egc-uuid", g2);
    assert_int_equal(acfg_flush(c, rt_send, &calls), 0);
    /* another global-system-config's object is not the agents' node */
    json_t *other = json_pack("{s:[s,s],s:s}", "fq_name", "other-gsc", "effective", "uuid", "o");
    (void)acfg_object(c, "effective-global-config", "/c/o/effective-global-config/o", other);
    assert_int_equal(acfg_flush(c, rt_send, &calls), 0);
    /* a reconnecting agent gets the node with its set */
    struct acfg_mirror *fresh;
    assert_int_equal(acfg_mirror_create(&fresh), 0);
    acfg_mirror_free(ag[0].m);
    ag[0].m = fresh;
    assert_int_equal(acfg_agent_up(c, "vr1", &ag[0]), 0);
    assert_int_equal(acfg_flush(c, rt_send, &calls), 12);
    assert_non_null(acfg_mirror_node(ag[0].m, "global-vrouter-config",
                                     "default-global-system-config:default-global-vrouter-config"));
    /* deleted (a cluster without it): the node goes from every agent */
    reset_counts(ag, 2);
    assert_true(acfg_object(c, "effective-global-config", "/c/o/effective-global-config/egc-uuid", NULL));
    assert_int_equal(acfg_flush(c, rt_send, &calls), 2);
    assert_int_equal(acfg_mirror_nodes(ag[1].m), 0);
    assert_null(acfg_mirror_node(ag[0].m, "global-vrouter-config",
                                 "default-global-system-config:default-global-vrouter-config"));

    acfg_free(c);
    for (int i = 0; i < 2; i++) {
        acfg_mirror_free(ag[i].m);
    }
    json_decref(i1);
    json_decref(g1);
    json_decref(g2);
    json_decref(other);
}

/* ---- what the compiler writes reaches the agent ---- */

/* The compiler core's output for the golden case vrouter_index_v3 (routers
 * hosting interfaces with MACs) under rules 'version', with 'mac' (NULL:
 * as in the case) as the MAC of interface 'vmi': the derived objects
 * ("TYPE/uuid" -> object) into '*derived', the intent objects into
 * '*input'; returns the VNIs allocated (network uuid -> VNI, a new
 * reference). */
static json_t *compile_case(int version, const char *vmi, const char *mac, json_t **input, json_t **derived)
{
    json_error_t e;
    *input = json_load_file(STRATA_GOLDEN_DIR "/vrouter_index_v3/input.json", 0, &e);
    assert_non_null(*input);
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(*input, "objects"), i, o) {
        if (mac && strcmp(json_string_value(json_object_get(o, "uuid")), vmi) == 0) {
            json_object_set_new(o, "virtual_machine_interface_mac_addresses", json_pack("{s:[s]}", "mac_address", mac));
        }
    }
    struct compile_model *m;
    struct compile_alloc *a;
    assert_int_equal(compile_model_create(&m), 0);
    assert_int_equal(compile_alloc_create(&a), 0);
    assert_int_equal(compile_model_load(m, json_object_get(*input, "objects")), 0);
    compile_model_set_version(m, version);
    assert_int_equal(compile_all(m, a, derived), 0);
    json_t *pools = compile_alloc_dump(a);
    json_t *vnis = json_incref(json_object_get(pools, "vni"));
    assert_true(json_object_size(vnis) >= 1);
    json_decref(pools);
    compile_model_free(m);
    compile_alloc_free(a);
    return vnis;
}

/* Adds 'o' to 'objs' under "TYPE\nNAME" (its fq_name joined by ':'). */
static void obj_add(json_t *objs, const char *type, json_t *o)
{
    char key[1024];
    int n = snprintf(key, sizeof key, "%s\n", type);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "fq_name"), i, e) {
        n += snprintf(key + n, sizeof key - (size_t)n, "%s%s", i ? ":" : "", json_string_value(e));
    }
    assert_true(n < (int)sizeof key);
    assert_int_equal(json_object_set(objs, key, o), 0);
}

/* The set router 'vr''s agent gets from 'input' and 'derived' (as the
 * control role sees them in the store); '*index' is the router's index. */
static struct acfg_set *agent_set(const json_t *input, const json_t *derived, const char *vr, json_t **index)
{
    json_t *objs = json_object();
    size_t i;
    json_t *o;
    const char *k;
    *index = NULL;
    json_array_foreach(json_object_get(input, "objects"), i, o) {
        if (strcmp(json_string_value(json_object_get(o, "type")), "virtual-network") == 0) {
            obj_add(objs, "virtual-network", o);
        }
    }
    json_object_foreach((json_t *)derived, k, o) {
        const char *slash = strchr(k, '/');
        char type[64];
        snprintf(type, sizeof type, "%.*s", (int)(slash - k), k);
        if (strcmp(type, "virtual-router-index") == 0) {
            if (strcmp(json_string_value(json_array_get(json_object_get(o, "fq_name"), 1)), vr) == 0) {
                *index = o;
            }
        } else {
            obj_add(objs, type, o);
        }
    }
    assert_non_null(*index);
    struct acfg_set *s;
    assert_int_equal(acfg_set_build(*index, vr, objs, &s), 0);
    json_decref(objs);
    return s;
}

/* The mirror an agent holding nothing keeps after receiving set 's'. */
static struct acfg_mirror *mirror_of(const struct acfg_set *s)
{
    struct acfg_mirror *mr;
    struct xmpp_config_obj *o;
    size_t n;
    assert_int_equal(acfg_mirror_create(&mr), 0);
    assert_int_equal(acfg_diff(NULL, s, &o, &n), 0);
    assert_int_equal(acfg_mirror_apply(mr, o, n), 0);
    acfg_objs_free(o, n);
    return mr;
}

/* The interface entry's fq_name, joined by ':'. */
static void entry_name(const json_t *e, char *out, size_t size)
{
    size_t i, n = 0;
    json_t *x;
    out[0] = '\0';
    json_array_foreach(json_object_get(e, "fq_name"), i, x) {
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ":" : "", json_string_value(x));
    }
}

/* Under compiler rules 3 the agent's set carries, for each interface of
 * its router, the MAC the compiler put in the index entry (a property of
 * the interface node) and, for each network, the VNI the compiler
 * allocated (a property of its routing-instance node, the network's
 * default instance); under rules 2 neither. A MAC change of one interface
 * reaches the agent as exactly one update, of that interface's node. */
static void test_compiled_mac_and_vni(void **state)
{
    (void)state;
    const char *vmi = "00000000-0000-0000-0000-000000000130";
    json_t *input, *derived, *index;
    json_t *vnis = compile_case(3, vmi, NULL, &input, &derived);
    struct acfg_set *s = agent_set(input, derived, "compute-1", &index);
    struct acfg_mirror *mr = mirror_of(s);
    size_t i, macs = 0;
    json_t *e;
    char name[1024];
    json_array_foreach(json_object_get(json_object_get(index, "virtual_router_index"), "interfaces"), i, e) {
        entry_name(e, name, sizeof name);
        const json_t *node = acfg_mirror_node(mr, "virtual-machine-interface", name);
        assert_non_null(node);
        const json_t *mac = json_object_get(e, "virtual_machine_interface_mac_addresses");
        const char *got = json_string_value(json_object_get(node, "virtual_machine_interface_mac_addresses"));
        if (!mac) {
            assert_null(got);
            continue;
        }
        char *text = json_dumps(mac, JSON_COMPACT | JSON_SORT_KEYS);
        assert_non_null(got);
        assert_string_equal(got, text);
        free(text);
        macs++;
    }
    assert_true(macs >= 1);
    /* every routing-instance node of the set (a network's default
     * instance): the VNI the allocator gave its network (parent_uuid) */
    json_t *ris = acfg_mirror_names(mr, "routing-instance");
    assert_true(json_array_size(ris) >= 1);
    json_array_foreach(ris, i, e) {
        const json_t *node = acfg_mirror_node(mr, "routing-instance", json_string_value(e));
        const char *owner = json_string_value(json_object_get(node, "parent_uuid"));
        assert_non_null(owner);
        const json_t *n = json_object_get(vnis, owner);
        assert_true(json_is_integer(n));
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)json_integer_value(n));
        assert_string_equal(json_string_value(json_object_get(node, "vxlan_network_identifier")), want);
    }
    json_decref(ris);

    /* the interface's MAC changes: one update, of its node */
    json_t *input2, *derived2, *index2;
    json_t *vnis2 = compile_case(3, vmi, "02:aa:bb:cc:dd:ee", &input2, &derived2);
    assert_true(json_equal(vnis, vnis2));
    json_decref(vnis2);
    struct acfg_set *s2 = agent_set(input2, derived2, "compute-1", &index2);
    struct xmpp_config_obj *o;
    size_t n;
    assert_int_equal(acfg_diff(s, s2, &o, &n), 0);
    assert_int_equal(n, 1);
    assert_false(o[0].is_link);
    assert_int_equal(o[0].op, XMPP_CONFIG_UPDATE);
    assert_string_equal(o[0].node.type, "virtual-machine-interface");
    assert_string_equal(prop(&o[0], "uuid"), vmi);
    assert_string_equal(prop(&o[0], "virtual_machine_interface_mac_addresses"),
                        "{\"mac_address\":[\"02:aa:bb:cc:dd:ee\"]}");
    acfg_objs_free(o, n);

    /* rules 2: the same intent, neither property */
    json_t *input3, *derived3, *index3;
    json_decref(compile_case(2, vmi, NULL, &input3, &derived3));
    struct acfg_set *s3 = agent_set(input3, derived3, "compute-1", &index3);
    struct acfg_mirror *mr3 = mirror_of(s3);
    json_t *names = acfg_mirror_names(mr3, "virtual-machine-interface");
    assert_true(json_array_size(names) >= 1);
    json_array_foreach(names, i, e) {
        const json_t *node = acfg_mirror_node(mr3, "virtual-machine-interface", json_string_value(e));
        assert_non_null(json_object_get(node, "uuid"));
        assert_null(json_object_get(node, "virtual_machine_interface_mac_addresses"));
    }
    json_decref(names);
    names = acfg_mirror_names(mr3, "routing-instance");
    assert_true(json_array_size(names) >= 1);
    json_array_foreach(names, i, e) {
        const json_t *node = acfg_mirror_node(mr3, "routing-instance", json_string_value(e));
        assert_non_null(json_object_get(node, "uuid"));
        assert_null(json_object_get(node, "vxlan_network_identifier"));
    }
    json_decref(names);

    acfg_mirror_free(mr3);
    acfg_set_free(s3);
    json_decref(input3);
    json_decref(derived3);
    acfg_set_free(s2);
    json_decref(input2);
    json_decref(derived2);
    acfg_mirror_free(mr);
    acfg_set_free(s);
    json_decref(vnis);
    json_decref(input);
    json_decref(derived);
}

/* Feeds control node 'c' (a fresh image) the store: vr1 with port1 (red)
 * and port2 (blue, address 'ip2'), the global settings when 'global'. */
static void resume_feed(struct acfg *c, const char *ip2, bool global)
{
    json_t *i1 = index_of("vr1", json_pack("[o,o]", iface("port1", "u1", "red", "10.1.0.3"),
                                           iface("port2", "u2", "blue", ip2)));
    (void)acfg_object(c, "virtual-router-index", "/c/o/virtual-router-index/1", i1);
    json_decref(i1);
    if (global) {
        json_t *g1 = egc_obj("MPLSoUDP", "VXLAN", 300);
        (void)acfg_object(c, "effective-global-config", "/c/o/effective-global-config/egc-uuid", g1);
        json_decref(g1);
    }
}

/* The agent reconnects to 'c' announcing what its mirror holds (through
 * a CONFIG_HELD stanza encoded and decoded); returns the objects sent. */
static long resume_reconnect(struct acfg *c, struct agent *ag)
{
    struct xmpp_stanza st = {.type = XMPP_STANZA_CONFIG_HELD};
    snprintf(st.id, sizeof st.id, "held");
    assert_int_equal(acfg_mirror_held(ag->m, &st.held, &st.held_count), 0);
    assert_int_equal(st.held_count, acfg_mirror_nodes(ag->m) + acfg_mirror_links(ag->m));
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(xmpp_stanza_encode(&out, &st), 0);
    struct xmpp_elem *e = parse_stanza((const char *)out.data, out.size);
    assert_non_null(e);
    struct xmpp_stanza got;
    assert_int_equal(xmpp_stanza_decode(e, &got), 0);
    assert_int_equal(got.type, XMPP_STANZA_CONFIG_HELD);
    assert_true(xmpp_stanza_equal(&st, &got));
    assert_int_equal(acfg_agent_up(c, "vr1", ag), 0);
    assert_int_equal(acfg_agent_held(c, "vr1", got.held, got.held_count), 0);
    xmpp_stanza_clear(&got);
    xmpp_elem_free(e);
    buf_destroy(&out);
    free(st.held);
    size_t calls = 0;
    return acfg_flush(c, rt_send, &calls);
}

/* Resume after a control-node restart: an agent that announces what it
 * holds gets only the difference from a new image; one that announces
 * nothing gets everything. */
static void test_resume_held(void **state)
{
    (void)state;
    struct acfg *c1;
    assert_int_equal(acfg_create(&c1), 0);
    resume_feed(c1, "10.2.0.3", true);
    struct agent ag = {0};
    assert_int_equal(acfg_mirror_create(&ag.m), 0);
    assert_int_equal(acfg_agent_up(c1, "vr1", &ag), 0);
    size_t calls = 0;
    long full = acfg_flush(c1, rt_send, &calls);
    assert_true(full > 10);
    assert_int_equal((size_t)full, acfg_mirror_nodes(ag.m) + acfg_mirror_links(ag.m));
    acfg_free(c1);

    /* the same store: nothing is sent */
    struct acfg *c2;
    assert_int_equal(acfg_create(&c2), 0);
    resume_feed(c2, "10.2.0.3", true);
    assert_int_equal(resume_reconnect(c2, &ag), 0);
    /* later changes still flow */
    resume_feed(c2, "10.2.0.4", true);
    assert_int_equal(acfg_flush(c2, rt_send, &calls), 1);
    acfg_free(c2);

    /* port2's address changed while the agent was away: one update */
    struct acfg *c3;
    assert_int_equal(acfg_create(&c3), 0);
    resume_feed(c3, "10.2.0.5", true);
    ag.objects = 0;
    assert_int_equal(resume_reconnect(c3, &ag), 1);
    const json_t *p2 = acfg_mirror_node(ag.m, "virtual-machine-interface", "default-domain:p:port2");
    assert_string_equal(json_string_value(json_object_get(p2, "instance_ip_addresses")), "[\"10.2.0.5\"]");
    acfg_free(c3);

    /* the global settings gone: one delete */
    struct acfg *c4;
    assert_int_equal(acfg_create(&c4), 0);
    resume_feed(c4, "10.2.0.5", false);
    size_t nodes = acfg_mirror_nodes(ag.m);
    assert_int_equal(resume_reconnect(c4, &ag), 1);
    assert_int_equal(acfg_mirror_nodes(ag.m), nodes - 1);
    assert_null(acfg_mirror_node(ag.m, "global-vrouter-config",
                                 "default-global-system-config:default-global-vrouter-config"));
    /* an agent that announces nothing: the whole set again */
    acfg_agent_down(c4, "vr1");
    assert_int_equal(acfg_agent_up(c4, "vr1", &ag), 0);
    assert_int_equal(acfg_flush(c4, rt_send, &calls), (long)(acfg_mirror_nodes(ag.m) + acfg_mirror_links(ag.m)));
    /* an announcement with an extra object the set lacks: deleted */
    struct xmpp_config_obj o = {.op = XMPP_CONFIG_UPDATE, .is_link = true};
    snprintf(o.left.type, sizeof o.left.type, "virtual-router");
    snprintf(o.left.name, sizeof o.left.name, "vr1");
    snprintf(o.right.type, sizeof o.right.type, "virtual-machine-interface");
    snprintf(o.right.name, sizeof o.right.name, "default-domain:p:gone");
    snprintf(o.metadata.type, sizeof o.metadata.type, "virtual-router-virtual-machine-interface");
    assert_int_equal(acfg_mirror_apply(ag.m, &o, 1), 0);
    size_t links = acfg_mirror_links(ag.m);
    acfg_agent_down(c4, "vr1");
    assert_int_equal(resume_reconnect(c4, &ag), 1);
    assert_int_equal(acfg_mirror_links(ag.m), links - 1);
    assert_false(acfg_mirror_has_link(ag.m, "virtual-router", "vr1", "virtual-machine-interface",
                                      "default-domain:p:gone"));
    assert_int_equal(acfg_agent_held(c4, "nobody", NULL, 0), LIB_EINVAL);
    acfg_free(c4);
    acfg_mirror_free(ag.m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_and_full_diff),
        cmocka_unit_test(test_build_from_prev),
        cmocka_unit_test(test_incremental_diff),
        cmocka_unit_test(test_agents_and_mirror),
        cmocka_unit_test(test_global_node),
        cmocka_unit_test(test_compiled_mac_and_vni),
        cmocka_unit_test(test_resume_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

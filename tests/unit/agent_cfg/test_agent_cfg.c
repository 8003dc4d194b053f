/* Unit tests of the agent's config binding and policy (vrouter/agent/
 * agent_cfg.c, agent_policy.c): CONFIG objects as a control node sends
 * them (routing/control/agent_config.h's forms) drive a real agent core
 * whose datapath requests are recorded. Proves: a binding made before
 * the config is completed when the interface arrives, and one made after
 * it at once (MAC, address, prefix length, gateway, instance, network,
 * VNI from the config); the MAC and the allocated VNI of compiler rules 3
 * (interface and routing-instance nodes) are used when present, the
 * derived MAC and the network's configured VNI otherwise; an address
 * change re-creates the port with the
 * same ifindex; a config delete removes the port (only once the node's
 * view is complete: a reconnecting node's partial view never does); a
 * port restored from the state file stays bound headless and is not
 * re-created by an identical config;
 * network-policy ACLs (pass, deny, default within/across networks,
 * protocol and port ranges) and security groups (ingress/egress, group
 * addresses, stateful return by the reverse flow) decide the flow misses;
 * the global-vrouter-config node sets the encapsulation order and the
 * routes are published again with it; the interface's floating_ips become
 * the port's floating IPs, their flows decided by the pool network's ACL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vrouter/agent/agent.h"
#include "vrouter/agent/agent_cfg.h"
#include "vrouter/dp/dp.h"

#define FABRIC_IP 0x0a630001u /* 10.99.0.1 */
#define REMOTE_IP 0x0a630002u
#define U_A "aaaaaaaa-0000-4000-8000-000000000001"
#define U_B "bbbbbbbb-0000-4000-8000-000000000002"
#define U_S "cccccccc-0000-4000-8000-000000000003"
#define U_T "dddddddd-0000-4000-8000-000000000004"
#define RED "d:p:red"
#define RED_RI "d:p:red:red"
#define BLUE "d:p:blue"
#define SG1 "d:p:sg1"

struct flowrec {
    struct dp_flow_key key;
    uint8_t action;
};

struct fx {
    struct agent_core *core;
    struct agent_cfg *cfg;
    struct flowrec flows[64];
    size_t flow_count;
    size_t msgs[VR_MSG_TYPE_MAX + 1];
    unsigned last_encaps; /* of the last inet publication */
    uint8_t last_tunnel_encap; /* of the last tunnel next hop installed */
    size_t pubs;
};

static void rec_dp(void *arg, const struct vr_msg *m)
{
    struct fx *f = arg;
    f->msgs[m->type]++;
    if (m->type == VR_MSG_NH && m->u.nh.type == DP_NH_TUNNEL) {
        f->last_tunnel_encap = m->u.nh.encap;
    }
    if (m->type == VR_MSG_FLOW && f->flow_count < 64) {
        f->flows[f->flow_count].key = m->u.flow.key;
        f->flows[f->flow_count++].action = m->u.flow.action.type;
    }
}

static void rec_pub(void *arg, int node, const char *ri, const struct xmpp_route_entry *e)
{
    struct fx *f = arg;
    (void)node;
    (void)ri;
    if (e->family == XMPP_FAMILY_INET) {
        f->last_encaps = e->next_hops[0].encaps;
        f->pubs++;
    }
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    struct agent_config cfg = {.fabric_ip = FABRIC_IP,
                               .encaps = {DP_ENCAP_MPLS_UDP, DP_ENCAP_MPLS_GRE, DP_ENCAP_VXLAN},
                               .encap_count = 3,
                               .node_count = 2,
                               .router_mac = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x00},
                               .generation = 1};
    static const struct agent_ops ops = {.dp_send = rec_dp, .publish = rec_pub};
    assert_int_equal(agent_core_create(&cfg, &ops, f, &f->core), 0);
    agent_core_start(f->core);
    assert_int_equal(agent_cfg_create(f->core, 2, cfg.encaps, 3, &f->cfg), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    agent_cfg_free(f->cfg);
    agent_core_free(f->core);
    free(f);
    return 0;
}

/* ---- config objects ---- */

/* One node update/delete with 'n' properties given as name, value pairs. */
static void obj_node(struct xmpp_config_obj *o, enum xmpp_config_op op, const char *type, const char *name,
                     size_t n, const char *const *kv)
{
    memset(o, 0, sizeof *o);
    o->op = op;
    snprintf(o->node.type, sizeof o->node.type, "%s", type);
    snprintf(o->node.name, sizeof o->node.name, "%s", name);
    o->node.props = n ? calloc(n, sizeof *o->node.props) : NULL;
    for (size_t i = 0; i < n; i++) {
        o->node.props[i].name = strdup(kv[2 * i]);
        o->node.props[i].value = strdup(kv[2 * i + 1]);
    }
    o->node.prop_count = n;
}

static void obj_clear(struct xmpp_config_obj *o)
{
    for (size_t i = 0; i < o->node.prop_count; i++) {
        free(o->node.props[i].name);
        free(o->node.props[i].value);
    }
    free(o->node.props);
}

static int send1(struct fx *f, int node, enum xmpp_config_op op, const char *type, const char *name, size_t n,
                 const char *const *kv)
{
    struct xmpp_config_obj o;
    obj_node(&o, op, type, name, n, kv);
    int rc = agent_cfg_apply(f->cfg, node, &o, 1);
    obj_clear(&o);
    return rc;
}

static void send_vn(struct fx *f, int node, const char *vn, const char *subnet, const char *extra)
{
    char refs[512];
    snprintf(refs, sizeof refs, "[{\"attr\":{\"ipam_subnets\":[{\"subnet\":%s%s}]},\"to\":[\"d\",\"p\",\"ipam\"]}]",
             subnet, extra);
    const char *kv[] = {"network_ipam_refs", refs, "virtual_network_properties", "{\"vxlan_network_identifier\":5001}"};
    assert_int_equal(send1(f, node, XMPP_CONFIG_UPDATE, "virtual-network", vn, 2, kv), 0);
}

static void send_vmi(struct fx *f, int node, const char *name, const char *uuid, const char *vn, const char *ip,
                     const char *sgs)
{
    char ri[128], ips[64];
    snprintf(ri, sizeof ri, "%s:%s", vn, strrchr(vn, ':') + 1);
    snprintf(ips, sizeof ips, "[\"%s\"]", ip);
    const char *kv[] = {"uuid", uuid, "virtual_network", vn, "routing_instance", ri, "access_control_list", ri,
                        "instance_ip_addresses", ips, "security_groups", sgs, "floating_ips", "[]"};
    assert_int_equal(send1(f, node, XMPP_CONFIG_UPDATE, "virtual-machine-interface", name, 7, kv), 0);
}

static void send_acl(struct fx *f, int node, const char *name, const char *rules)
{
    char text[8192];
    snprintf(text, sizeof text, "{\"acl_rule\":[%s],\"dynamic\":false}", rules);
    const char *kv[] = {"access_control_list_entries", text};
    assert_int_equal(send1(f, node, XMPP_CONFIG_UPDATE, "access-control-list", name, 1, kv), 0);
}

/* An ACL entry in the compiler's form. */
static const char *rule(char *buf, size_t size, const char *proto, const char *src, const char *dst, int dlo,
                        int dhi, const char *action)
{
    snprintf(buf, size,
             "{\"action_list\":{\"simple_action\":\"%s\"},\"match_condition\":{\"dst_address\":%s,"
             "\"dst_port\":{\"end_port\":%d,\"start_port\":%d},\"ethertype\":\"IPv4\",\"protocol\":\"%s\","
             "\"src_address\":%s,\"src_port\":{\"end_port\":-1,\"start_port\":-1}},\"rule_uuid\":\"r\"}",
             action, dst, dhi, dlo, proto, src);
    return buf;
}

static uint32_t ip(const char *s)
{
    unsigned a, b, c, d;
    assert_int_equal(sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
    return a << 24 | b << 16 | c << 8 | d;
}

/* ---- binding ---- */

static void test_bind_before_config(void **state)
{
    struct fx *f = *state;
    assert_int_equal(agent_cfg_bind(f->cfg, U_A, "tapa"), AGENT_EHELD);
    assert_null(agent_port_find(f->core, U_A));
    assert_false(agent_cfg_binding_at(f->cfg, 0)->bound);
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.3", "[]");
    assert_null(agent_port_find(f->core, U_A)); /* its network is not there yet */
    assert_non_null(strstr(agent_cfg_binding_at(f->cfg, 0)->reason, RED));
    send_vn(f, 0, RED, "{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}", "");
    const struct agent_port *p = agent_port_find(f->core, U_A);
    assert_non_null(p);
    assert_true(agent_cfg_binding_at(f->cfg, 0)->bound);
    assert_string_equal(p->spec.tap, "tapa");
    assert_string_equal(p->spec.ri, RED_RI);
    assert_string_equal(p->spec.vn, RED);
    assert_int_equal(p->spec.ip4, ip("10.1.0.3"));
    assert_int_equal(p->spec.plen, 24);
    assert_int_equal(p->spec.gw4, ip("10.1.0.1")); /* no default_gateway: the first host */
    assert_int_equal(p->spec.vni, 5001);
    static const uint8_t mac[6] = {0x02, 0xaa, 0xaa, 0xaa, 0xaa, 0x00};
    assert_memory_equal(p->spec.mac, mac, 6);
    assert_non_null(p->policy);
    assert_string_equal(p->policy->vn, RED);
    struct agent_cfg_status st;
    agent_cfg_status_get(f->cfg, &st);
    assert_int_equal(st.bound, 1);
    assert_int_equal(st.port_adds, 1);
}

static void test_config_before_bind(void **state)
{
    struct fx *f = *state;
    assert_int_equal(agent_cfg_node_up(f->cfg, 1), 0);
    send_vn(f, 1, BLUE, "{\"ip_prefix\":\"10.2.0.0\",\"ip_prefix_len\":24}",
            ",\"default_gateway\":\"10.2.0.254\",\"dns_server_address\":\"10.2.0.253\"");
    const char *kv[] = {"uuid", U_B, "virtual_network", BLUE, "routing_instance", "d:p:blue:blue",
                        "instance_ip_addresses", "[\"fd00::5\",\"10.2.0.5\"]",
                        "virtual_machine_interface_mac_addresses", "{\"mac_address\":[\"02:12:34:56:78:9a\"]}"};
    assert_int_equal(send1(f, 1, XMPP_CONFIG_UPDATE, "virtual-machine-interface", "d:p:b", 5, kv), 0);
    assert_int_equal(agent_cfg_node_eor(f->cfg, 1), 0);
    assert_int_equal(agent_cfg_bind(f->cfg, U_B, "tapb"), 0);
    const struct agent_port *p = agent_port_find(f->core, U_B);
    assert_non_null(p);
    assert_int_equal(p->spec.ip4, ip("10.2.0.5")); /* the IPv4 one */
    assert_int_equal(p->spec.gw4, ip("10.2.0.254"));
    assert_int_equal(p->spec.dns4, ip("10.2.0.253"));
    static const uint8_t mac[6] = {0x02, 0x12, 0x34, 0x56, 0x78, 0x9a};
    assert_memory_equal(p->spec.mac, mac, 6);
    /* the same binding again is fine; the uuid to another device or the device to another uuid is not */
    assert_int_equal(agent_cfg_bind(f->cfg, U_B, "tapb"), 0);
    assert_int_equal(agent_cfg_bind(f->cfg, U_B, "tapx"), AGENT_EEXIST);
    assert_int_equal(agent_cfg_bind(f->cfg, U_A, "tapb"), AGENT_EEXIST);
    assert_int_equal(agent_cfg_bind(f->cfg, "bad uuid", "tapz"), AGENT_EINVAL);
    /* unbind removes the port */
    assert_int_equal(agent_cfg_unbind(f->cfg, U_B), 0);
    assert_null(agent_port_find(f->core, U_B));
    assert_int_equal(agent_cfg_unbind(f->cfg, U_B), AGENT_ENOENT);
}

static void test_update_address(void **state)
{
    struct fx *f = *state;
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    send_vn(f, 0, RED, "{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}", "");
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.3", "[]");
    assert_int_equal(agent_cfg_node_eor(f->cfg, 0), 0);
    assert_int_equal(agent_cfg_bind(f->cfg, U_A, "tapa"), 0);
    uint32_t ifindex = agent_port_find(f->core, U_A)->spec.ifindex;
    size_t routes = f->msgs[VR_MSG_ROUTE];
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.9", "[]");
    const struct agent_port *p = agent_port_find(f->core, U_A);
    assert_non_null(p);
    assert_int_equal(p->spec.ip4, ip("10.1.0.9"));
    assert_int_equal(p->spec.ifindex, ifindex);
    assert_int_equal(f->msgs[VR_MSG_ROUTE], routes + 1); /* the new /32 */
    assert_true(f->msgs[VR_MSG_ROUTE_DEL] >= 1);         /* the old one went */
    struct agent_cfg_status st;
    agent_cfg_status_get(f->cfg, &st);
    assert_int_equal(st.port_updates, 1);
    /* the same config again changes nothing */
    size_t changes = st.changes;
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.9", "[]");
    agent_cfg_status_get(f->cfg, &st);
    assert_int_equal(st.changes, changes);
}

/* The routing-instance node as the control node sends it under compiler
 * rules 3: the network's VNI ('vni' NULL: an instance without one). */
static void send_ri(struct fx *f, int node, const char *name, const char *vni)
{
    const char *kv[] = {"routing_instance_is_default", "true", "vxlan_network_identifier", vni};
    assert_int_equal(send1(f, node, XMPP_CONFIG_UPDATE, "routing-instance", name, vni ? 2 : 1, kv), 0);
}

/* What compiler rules 3 add to the config: the interface's MAC on its node
 * and the network's allocated VNI on its routing-instance node. The port
 * takes both; a VNI change re-creates it with the same ifindex; without a
 * (usable) VNI on the instance it falls back to the network's configured
 * one, and without any to none; without the MAC property to the one
 * derived from the uuid. */
static void test_mac_and_vni_from_compiler(void **state)
{
    struct fx *f = *state;
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    send_vn(f, 0, RED, "{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}", ""); /* configured 5001 */
    send_ri(f, 0, RED_RI, "7");
    const char *kv[] = {"uuid", U_A, "virtual_network", RED, "routing_instance", RED_RI,
                        "instance_ip_addresses", "[\"10.1.0.3\"]",
                        "virtual_machine_interface_mac_addresses", "{\"mac_address\":[\"52:54:00:ab:cd:ef\"]}"};
    assert_int_equal(send1(f, 0, XMPP_CONFIG_UPDATE, "virtual-machine-interface", "d:p:a", 5, kv), 0);
    assert_int_equal(agent_cfg_node_eor(f->cfg, 0), 0);
    assert_int_equal(agent_cfg_bind(f->cfg, U_A, "tapa"), 0);
    const struct agent_port *p = agent_port_find(f->core, U_A);
    assert_non_null(p);
    assert_int_equal(p->spec.vni, 7);
    static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
    assert_memory_equal(p->spec.mac, mac, 6);
    uint32_t ifindex = p->spec.ifindex;
    /* the network's VNI is configured to 9: the instance says so */
    send_ri(f, 0, RED_RI, "9");
    p = agent_port_find(f->core, U_A);
    assert_non_null(p);
    assert_int_equal(p->spec.vni, 9);
    assert_int_equal(p->spec.ifindex, ifindex);
    struct agent_cfg_status st;
    agent_cfg_status_get(f->cfg, &st);
    assert_int_equal(st.port_updates, 1);
    /* an instance without a usable VNI (a control node of rules 2, or out
     * of range): the network's configured one */
    send_ri(f, 0, RED_RI, NULL);
    assert_int_equal(agent_port_find(f->core, U_A)->spec.vni, 5001);
    send_ri(f, 0, RED_RI, "16777216");
    assert_int_equal(agent_port_find(f->core, U_A)->spec.vni, 5001);
    /* neither: no VNI */
    const char *vn_kv[] = {"network_ipam_refs",
                           "[{\"attr\":{\"ipam_subnets\":[{\"subnet\":{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}}]},"
                           "\"to\":[\"d\",\"p\",\"ipam\"]}]"};
    assert_int_equal(send1(f, 0, XMPP_CONFIG_UPDATE, "virtual-network", RED, 1, vn_kv), 0);
    assert_int_equal(agent_port_find(f->core, U_A)->spec.vni, 0);
    /* the instance's VNI again, and the interface without the MAC
     * property: 02 and the uuid's first five bytes */
    send_ri(f, 0, RED_RI, "7");
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.3", "[]");
    p = agent_port_find(f->core, U_A);
    assert_non_null(p);
    assert_int_equal(p->spec.vni, 7);
    static const uint8_t derived_mac[6] = {0x02, 0xaa, 0xaa, 0xaa, 0xaa, 0x00};
    assert_memory_equal(p->spec.mac, derived_mac, 6);
    assert_int_equal(p->spec.ifindex, ifindex);
}

/* The port's hostname is its virtual machine's name (the compiler's
 * virtual_machine, rules 3) in lower case when that is one DNS label;
 * none otherwise, and a rename updates the port. */
static void test_hostname_from_virtual_machine(void **state)
{
    struct fx *f = *state;
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    send_vn(f, 0, RED, "{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}", "");
    const char *kv[] = {"uuid", U_A, "virtual_network", RED, "routing_instance", RED_RI,
                        "instance_ip_addresses", "[\"10.1.0.3\"]", "virtual_machine", "Web-1"};
    assert_int_equal(send1(f, 0, XMPP_CONFIG_UPDATE, "virtual-machine-interface", "d:p:a", 5, kv), 0);
    assert_int_equal(agent_cfg_node_eor(f->cfg, 0), 0);
    assert_int_equal(agent_cfg_bind(f->cfg, U_A, "tapa"), 0);
    assert_string_equal(agent_port_find(f->core, U_A)->spec.hostname, "web-1");
    const char *bad[] = {"web.1", "", "a b", "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kv[9] = bad[i];
        assert_int_equal(send1(f, 0, XMPP_CONFIG_UPDATE, "virtual-machine-interface", "d:p:a", 5, kv), 0);
        assert_string_equal(agent_port_find(f->core, U_A)->spec.hostname, "");
    }
    kv[9] = "db";
    assert_int_equal(send1(f, 0, XMPP_CONFIG_UPDATE, "virtual-machine-interface", "d:p:a", 5, kv), 0);
    assert_string_equal(agent_port_find(f->core, U_A)->spec.hostname, "db");
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.3", "[]"); /* no virtual_machine (rules 2) */
    assert_string_equal(agent_port_find(f->core, U_A)->spec.hostname, "");
}

static void test_delete(void **state)
{
    struct fx *f = *state;
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    send_vn(f, 0, RED, "{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}", "");
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.3", "[]");
    assert_int_equal(agent_cfg_node_eor(f->cfg, 0), 0);
    assert_int_equal(agent_cfg_bind(f->cfg, U_A, "tapa"), 0);
    /* the node is lost and reconnects: while it reloads, nothing is removed */
    agent_cfg_node_down(f->cfg, 0);
    assert_int_equal(agent_cfg_reconcile(f->cfg), 0);
    assert_non_null(agent_port_find(f->core, U_A)); /* headless: kept */
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    send_vn(f, 0, RED, "{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}", "");
    assert_non_null(agent_port_find(f->core, U_A));
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.3", "[]");
    assert_int_equal(agent_cfg_node_eor(f->cfg, 0), 0);
    assert_non_null(agent_port_find(f->core, U_A));
    /* a delete of the interface node removes the port; the binding is held */
    assert_int_equal(send1(f, 0, XMPP_CONFIG_DELETE, "virtual-machine-interface", "d:p:a", 0, NULL), 0);
    assert_null(agent_port_find(f->core, U_A));
    assert_false(agent_cfg_binding_at(f->cfg, 0)->bound);
    assert_true(f->msgs[VR_MSG_IF_DEL] >= 1);
    /* it comes back: so does the port */
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.3", "[]");
    assert_non_null(agent_port_find(f->core, U_A));
    /* a complete view without it (reconnect, End-of-RIB, nothing sent) removes it too */
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    assert_non_null(agent_port_find(f->core, U_A));
    assert_int_equal(agent_cfg_node_eor(f->cfg, 0), 0);
    assert_null(agent_port_find(f->core, U_A));
}

/* A restarted agent: the port comes back from the state file, its binding
 * holds it with no config (headless), and the same config changes nothing. */
static void test_restore(void **state)
{
    struct fx *f = *state;
    struct agent_port_spec spec;
    char err[128];
    assert_int_equal(agent_spec_parse(U_A " tap=tapa ri=" RED_RI " mac=02:aa:aa:aa:aa:00 ip=10.1.0.3/24 gw=10.1.0.1 "
                                          "vni=5001 vn=" RED " ifindex=7 vrf=3",
                                      &spec, err, sizeof err),
                     0);
    assert_int_equal(agent_port_add(f->core, &spec), 0);
    assert_int_equal(agent_cfg_bind(f->cfg, U_A, "tapa"), 0); /* no node: kept as restored */
    assert_non_null(agent_port_find(f->core, U_A));
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    send_vn(f, 0, RED, "{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}", "");
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.3", "[]");
    assert_int_equal(agent_cfg_node_eor(f->cfg, 0), 0);
    struct agent_cfg_status st;
    agent_cfg_status_get(f->cfg, &st);
    assert_int_equal(st.changes, 0); /* identical: not re-created */
    const struct agent_port *p = agent_port_find(f->core, U_A);
    assert_int_equal(p->spec.ifindex, 7);
    assert_non_null(p->policy);
}

/* A node that comes back resumes (docs/xmpp.md "Resume after a
 * control-node restart"): the mirror kept from its lost session is
 * announced as held (every node with its update's hash), the port stays
 * while the node loads, and an End-of-RIB with nothing re-sent (the node
 * found nothing changed) leaves everything as it was. A node never heard
 * from has nothing to announce; a bad node number is refused. */
static void test_resume_announces_held(void **state)
{
    struct fx *f = *state;
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    send_vn(f, 0, RED, "{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}", "");
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.3", "[]");
    assert_int_equal(agent_cfg_node_eor(f->cfg, 0), 0);
    assert_int_equal(agent_cfg_bind(f->cfg, U_A, "tapa"), 0);
    struct agent_cfg_status before;
    agent_cfg_status_get(f->cfg, &before);
    agent_cfg_node_down(f->cfg, 0);

    struct xmpp_held_obj *held;
    size_t count;
    assert_int_equal(agent_cfg_node_resume(f->cfg, 0, &held, &count), 0);
    assert_true(count >= 2);
    bool vn = false, vmi = false;
    for (size_t i = 0; i < count; i++) {
        assert_int_not_equal(held[i].hash, 0);
        if (!held[i].is_link && strcmp(held[i].type, "virtual-network") == 0 && strcmp(held[i].name, RED) == 0) {
            vn = true;
        }
        if (!held[i].is_link && strcmp(held[i].type, "virtual-machine-interface") == 0 &&
            strcmp(held[i].name, "d:p:a") == 0) {
            vmi = true;
        }
    }
    assert_true(vn && vmi);
    free(held);
    assert_non_null(agent_port_find(f->core, U_A));
    assert_int_equal(agent_cfg_node_eor(f->cfg, 0), 0);
    struct agent_cfg_status after;
    agent_cfg_status_get(f->cfg, &after);
    assert_int_equal(after.changes, before.changes);
    assert_int_equal(after.bound, 1);
    assert_int_equal(agent_port_find(f->core, U_A)->spec.ip4, ip("10.1.0.3"));

    assert_int_equal(agent_cfg_node_resume(f->cfg, 1, &held, &count), 0);
    assert_int_equal(count, 0);
    free(held);
    assert_int_equal(agent_cfg_node_resume(f->cfg, 9, &held, &count), AGENT_EINVAL);
}

/* ---- policy ---- */

/* Punts the first packet of a flow from port 'ifindex' in 'vrf'; returns
 * whether it was forwarded. */
static bool miss(struct fx *f, uint32_t ifindex, uint32_t vrf, const char *src, const char *dst, uint8_t proto,
                 uint16_t sport, uint16_t dport, struct agent_flow_decision *d)
{
    uint8_t pkt[16 + 14 + 20 + 8];
    memset(pkt, 0, sizeof pkt);
    be16_store(pkt, DP_PUNT_MAGIC);
    pkt[2] = DP_PUNT_VERSION;
    pkt[3] = DP_PUNT_FLOW_MISS;
    be32_store(pkt + 4, ifindex);
    be32_store(pkt + 8, vrf);
    be32_store(pkt + 12, 1);
    uint8_t *e = pkt + 16, *h = e + 14, *l4 = h + 20;
    be16_store(e + 12, 0x0800);
    h[0] = 0x45;
    be16_store(h + 2, 28);
    h[8] = 64;
    h[9] = proto;
    be32_store(h + 12, ip(src));
    be32_store(h + 16, ip(dst));
    be16_store(l4, sport);
    be16_store(l4 + 2, dport);
    if (proto == 1) {
        l4[0] = 8;
        l4[1] = 0;
    }
    struct agent_punt p;
    assert_int_equal(agent_punt_parse(pkt, sizeof pkt, &p), 0);
    struct buf out;
    buf_init(&out, 0);
    struct agent_flow_decision dd;
    int rc = agent_flow_miss(f->core, &p, d ? d : &dd, &out);
    buf_destroy(&out);
    assert_int_equal(rc, 0);
    return (d ? d : &dd)->forward;
}

/* A remote route for 'prefix'/32 of network 'vn' in instance 'ri'. */
static void remote_route(struct fx *f, const char *ri, const char *prefix, const char *vn)
{
    struct xmpp_route_item it;
    memset(&it, 0, sizeof it);
    it.entry.family = XMPP_FAMILY_INET;
    it.entry.key.prefix.version = 4;
    be32_store(it.entry.key.prefix.addr, ip(prefix));
    it.entry.key.plen = 32;
    it.entry.next_hop_count = 1;
    it.entry.next_hops[0].address.version = 4;
    be32_store(it.entry.next_hops[0].address.addr, REMOTE_IP);
    it.entry.next_hops[0].label = 40;
    it.entry.next_hops[0].encaps = XMPP_ENCAP_UDP;
    snprintf(it.entry.virtual_network, sizeof it.entry.virtual_network, "%s", vn);
    agent_route_item(f->core, 0, ri, XMPP_FAMILY_INET, &it);
}

/* Red: ports A (10.1.0.3) and C (10.1.0.4); blue's 10.2.0.5 is remote. */
static void policy_setup(struct fx *f, const char *red_rules)
{
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    send_vn(f, 0, RED, "{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}", "");
    send_acl(f, 0, RED_RI, red_rules);
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.3", "[]");
    send_vmi(f, 0, "d:p:c", U_B, RED, "10.1.0.4", "[]");
    assert_int_equal(agent_cfg_node_eor(f->cfg, 0), 0);
    assert_int_equal(agent_cfg_bind(f->cfg, U_A, "tapa"), 0);
    assert_int_equal(agent_cfg_bind(f->cfg, U_B, "tapc"), 0);
    agent_node_up(f->core, 0);
    remote_route(f, RED_RI, "10.2.0.5", BLUE);
    remote_route(f, RED_RI, "10.2.0.6", ""); /* no network named: blue's subnet says */
}

static void test_policy_network_acl(void **state)
{
    struct fx *f = *state;
    char r1[1024], r2[1024], r3[1024], r4[1024], r5[1024], all[5300];
    snprintf(all, sizeof all, "%s,%s,%s,%s,%s",
             rule(r1, sizeof r1, "udp", "{\"virtual_network\":\"" RED "\"}", "{\"virtual_network\":\"" RED "\"}", 53,
                  53, "deny"),
             rule(r2, sizeof r2, "icmp", "{\"virtual_network\":\"" RED "\"}", "{\"virtual_network\":\"" BLUE "\"}",
                  -1, -1, "pass"),
             rule(r3, sizeof r3, "tcp", "{\"virtual_network\":\"" RED "\"}", "{\"virtual_network\":\"" BLUE "\"}", 80,
                  90, "pass"),
             rule(r4, sizeof r4, "17", "{\"virtual_network\":\"any\"}",
                  "{\"subnet\":{\"ip_prefix\":\"10.2.0.0\",\"ip_prefix_len\":24}}", 7000, 7000, "pass"),
             rule(r5, sizeof r5, "icmp", "{\"virtual_network\":\"" BLUE "\"}", "{\"virtual_network\":\"" RED "\"}",
                  -1, -1, "pass")); /* a bidirectional icmp rule gives both entries */
    policy_setup(f, all);
    /* blue's subnet, for the route that names no network */
    send_vn(f, 0, BLUE, "{\"ip_prefix\":\"10.2.0.0\",\"ip_prefix_len\":24}", "");
    const struct agent_port *a = agent_port_find(f->core, U_A);
    uint32_t ax = a->spec.ifindex, vrf = a->spec.vrf;
    struct agent_status st;
    /* within the network: allowed by default; the deny rule wins for udp/53 */
    assert_true(miss(f, ax, vrf, "10.1.0.3", "10.1.0.4", 6, 1000, 22, NULL));
    assert_false(miss(f, ax, vrf, "10.1.0.3", "10.1.0.4", 17, 1000, 53, NULL));
    assert_true(miss(f, ax, vrf, "10.1.0.3", "10.1.0.4", 17, 1000, 54, NULL));
    /* across networks: icmp passes, tcp only to 80..90, the rest is dropped */
    assert_true(miss(f, ax, vrf, "10.1.0.3", "10.2.0.5", 1, 0, 0, NULL));
    assert_true(miss(f, ax, vrf, "10.1.0.3", "10.2.0.5", 6, 1000, 80, NULL));
    assert_true(miss(f, ax, vrf, "10.1.0.3", "10.2.0.5", 6, 1001, 90, NULL));
    assert_false(miss(f, ax, vrf, "10.1.0.3", "10.2.0.5", 6, 1002, 91, NULL));
    assert_false(miss(f, ax, vrf, "10.1.0.3", "10.2.0.5", 6, 1003, 79, NULL));
    assert_false(miss(f, ax, vrf, "10.1.0.3", "10.2.0.5", 17, 1004, 53, NULL)); /* udp across, no rule */
    /* numeric protocol and a subnet address */
    assert_true(miss(f, ax, vrf, "10.1.0.3", "10.2.0.5", 17, 1005, 7000, NULL));
    /* the route without a network: blue by its subnet */
    assert_false(miss(f, ax, vrf, "10.1.0.3", "10.2.0.6", 6, 1006, 22, NULL));
    assert_true(miss(f, ax, vrf, "10.1.0.3", "10.2.0.6", 1, 0, 0, NULL));
    agent_status_get(f->core, &st);
    assert_int_equal(st.flows_denied, 5);
    /* a denied flow is a drop flow that a route does not lift */
    assert_int_equal(f->flows[f->flow_count - 1].action, DP_FLOW_FORWARD);
    /* coming from the fabric to A: A's network ACL decides (blue -> red: icmp only) */
    assert_true(miss(f, AGENT_IF_FABRIC, vrf, "10.2.0.5", "10.1.0.3", 1, 0, 0, NULL));
    assert_false(miss(f, AGENT_IF_FABRIC, vrf, "10.2.0.5", "10.1.0.3", 6, 1000, 22, NULL));
    /* a policy change re-decides: every flow is deleted */
    size_t dels = f->msgs[VR_MSG_FLOW_DEL];
    send_acl(f, 0, RED_RI, "");
    assert_true(f->msgs[VR_MSG_FLOW_DEL] > dels);
    assert_false(miss(f, ax, vrf, "10.1.0.3", "10.2.0.5", 1, 0, 0, NULL)); /* no policy: dropped across */
    assert_true(miss(f, ax, vrf, "10.1.0.3", "10.1.0.4", 17, 1000, 53, NULL));
}

static void test_policy_security_groups(void **state)
{
    struct fx *f = *state;
    char in1[1024], in2[1024], eg[1024], ins[2100];
    /* sg1: ingress tcp/22 from anywhere and anything from sg1 members; egress anything */
    snprintf(ins, sizeof ins, "%s,%s",
             rule(in1, sizeof in1, "tcp", "{\"subnet\":{\"ip_prefix\":\"0.0.0.0\",\"ip_prefix_len\":0}}",
                  "{\"security_group\":\"" SG1 "\"}", 22, 22, "pass"),
             rule(in2, sizeof in2, "any", "{\"security_group\":\"" SG1 "\"}", "{\"security_group\":\"" SG1 "\"}", -1,
                  -1, "pass"));
    policy_setup(f, "");
    send_acl(f, 0, SG1 ":ingress-access-control-list", ins);
    send_acl(f, 0, SG1 ":egress-access-control-list",
             rule(eg, sizeof eg, "any", "{\"security_group\":\"" SG1 "\"}",
                  "{\"subnet\":{\"ip_prefix\":\"0.0.0.0\",\"ip_prefix_len\":0}}", -1, -1, "pass"));
    const char *sgs = "[{\"egress_access_control_list\":\"" SG1 ":egress-access-control-list\","
                      "\"ingress_access_control_list\":\"" SG1 ":ingress-access-control-list\","
                      "\"security_group\":\"" SG1 "\"}]";
    send_vmi(f, 0, "d:p:s", U_S, RED, "10.1.0.7", sgs);
    send_vmi(f, 0, "d:p:t", U_T, RED, "10.1.0.8", sgs);
    assert_int_equal(agent_cfg_bind(f->cfg, U_S, "taps"), 0);
    assert_int_equal(agent_cfg_bind(f->cfg, U_T, "tapt"), 0);
    const struct agent_port *s = agent_port_find(f->core, U_S), *c = agent_port_find(f->core, U_B);
    assert_int_equal(s->policy->sg_count, 1);
    uint32_t sx = s->spec.ifindex, cx = c->spec.ifindex, tx = agent_port_find(f->core, U_T)->spec.ifindex;
    uint32_t vrf = s->spec.vrf;
    struct agent_flow_decision d;
    /* S opens tcp/80 to C (no group): egress passes; the reverse flow is installed with it */
    assert_true(miss(f, sx, vrf, "10.1.0.7", "10.1.0.4", 6, 4000, 80, &d));
    bool reverse_fwd = false;
    for (size_t i = 0; i < f->flow_count; i++) {
        reverse_fwd |= memcmp(&f->flows[i].key, &d.reverse, sizeof d.reverse) == 0 &&
                       f->flows[i].action == DP_FLOW_FORWARD;
    }
    assert_true(reverse_fwd); /* stateful: C's answers need no ingress rule */
    /* C opening tcp/80 to S: ingress has no such rule */
    assert_false(miss(f, cx, vrf, "10.1.0.4", "10.1.0.7", 6, 4001, 80, NULL));
    /* tcp/22 from anywhere passes */
    assert_true(miss(f, cx, vrf, "10.1.0.4", "10.1.0.7", 6, 4002, 22, NULL));
    /* from another sg1 member: anything */
    assert_true(miss(f, tx, vrf, "10.1.0.8", "10.1.0.7", 17, 4003, 5000, NULL));
    /* from the fabric (no group known for a remote end): only tcp/22 */
    remote_route(f, RED_RI, "10.1.0.20", RED);
    assert_false(miss(f, AGENT_IF_FABRIC, vrf, "10.1.0.20", "10.1.0.7", 17, 4004, 5000, NULL));
    assert_true(miss(f, AGENT_IF_FABRIC, vrf, "10.1.0.20", "10.1.0.7", 6, 4005, 22, NULL));
    struct agent_status st;
    agent_status_get(f->core, &st);
    assert_int_equal(st.flows_denied, 2);
}

/* The pure decision without a core: no policy at either end allows. */
static void test_policy_decide_pure(void **state)
{
    (void)state;
    struct agent_flow_end a = {.vn = RED, .ip4 = 1}, b = {.vn = BLUE, .ip4 = 2};
    assert_int_equal(agent_policy_decide(&a, &b, 6), AGENT_ALLOW);
    struct agent_policy p;
    memset(&p, 0, sizeof p);
    snprintf(p.vn, sizeof p.vn, RED);
    a.policy = &p;
    assert_int_equal(agent_policy_decide(&a, &b, 6), AGENT_DENY_DEFAULT);
    b.vn = RED;
    assert_int_equal(agent_policy_decide(&a, &b, 6), AGENT_ALLOW);
    b.vn = ""; /* unknown network: no default drop */
    assert_int_equal(agent_policy_decide(&a, &b, 6), AGENT_ALLOW);
    struct agent_acl_rule deny = {.src = {.kind = AGENT_ADDR_ANY}, .dst = {.kind = AGENT_ADDR_ANY}, .proto = 6,
                                  .sport_hi = 65535, .dport_hi = 65535, .pass = false};
    p.has_vn_acl = true;
    p.vn_acl.rules = &deny;
    p.vn_acl.count = 1;
    assert_int_equal(agent_policy_decide(&a, &b, 6), AGENT_DENY_ACL);
    assert_int_equal(agent_policy_decide(&a, &b, 17), AGENT_ALLOW);
    p.sg_count = 1; /* a group with no egress rule */
    assert_int_equal(agent_policy_decide(&a, &b, 17), AGENT_DENY_SG);
}

/* ---- encapsulation order ---- */

static void test_encap_from_config(void **state)
{
    struct fx *f = *state;
    agent_node_up(f->core, 0);
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    send_vn(f, 0, RED, "{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}", "");
    send_vmi(f, 0, "d:p:a", U_A, RED, "10.1.0.3", "[]");
    assert_int_equal(agent_cfg_bind(f->cfg, U_A, "tapa"), 0);
    remote_route(f, RED_RI, "10.1.0.30", RED);
    size_t nh_before = f->msgs[VR_MSG_NH];
    struct agent_cfg_status st;
    agent_cfg_status_get(f->cfg, &st);
    assert_false(st.encap_from_config);
    assert_int_equal(st.encaps[0], DP_ENCAP_MPLS_UDP);
    size_t pubs = f->pubs;
    const char *kv[] = {"encapsulation_priorities", "{\"encapsulation\":[\"MPLSoGRE\",\"MPLSoUDP\",\"VXLAN\"]}",
                        "autonomous_system", "64512"};
    assert_int_equal(send1(f, 0, XMPP_CONFIG_UPDATE, AGENT_CFG_GVC_TYPE, AGENT_CFG_GVC_NAME, 2, kv), 0);
    agent_cfg_status_get(f->cfg, &st);
    assert_true(st.encap_from_config);
    assert_int_equal(st.encaps[0], DP_ENCAP_MPLS_GRE);
    assert_int_equal(st.encaps[1], DP_ENCAP_MPLS_UDP);
    assert_true(f->pubs > pubs); /* routes published again, GRE listed */
    assert_true(f->last_encaps & XMPP_ENCAP_GRE);
    assert_int_equal(f->msgs[VR_MSG_NH], nh_before); /* 10.1.0.30 lists MPLSoUDP only: its tunnel stays */
    /* a remote path that lists GRE and UDP now goes over GRE */
    struct xmpp_route_item it;
    memset(&it, 0, sizeof it);
    it.entry.family = XMPP_FAMILY_INET;
    it.entry.key.prefix.version = 4;
    be32_store(it.entry.key.prefix.addr, ip("10.1.0.31"));
    it.entry.key.plen = 32;
    it.entry.next_hop_count = 1;
    it.entry.next_hops[0].address.version = 4;
    be32_store(it.entry.next_hops[0].address.addr, REMOTE_IP);
    it.entry.next_hops[0].label = 41;
    it.entry.next_hops[0].encaps = XMPP_ENCAP_UDP | XMPP_ENCAP_GRE;
    agent_route_item(f->core, 0, RED_RI, XMPP_FAMILY_INET, &it);
    assert_int_equal(f->last_tunnel_encap, DP_ENCAP_MPLS_GRE);
    /* the node goes: back to --encap, the tunnel re-chosen (MPLSoUDP) */
    assert_int_equal(send1(f, 0, XMPP_CONFIG_DELETE, AGENT_CFG_GVC_TYPE, AGENT_CFG_GVC_NAME, 0, NULL), 0);
    agent_cfg_status_get(f->cfg, &st);
    assert_false(st.encap_from_config);
    assert_int_equal(st.encaps[0], DP_ENCAP_MPLS_UDP);
    assert_int_equal(f->last_tunnel_encap, DP_ENCAP_MPLS_UDP);
}

/* ---- floating IPs ---- */

static void send_vmi_fips(struct fx *f, const char *fips)
{
    const char *kv[] = {"uuid", U_A, "virtual_network", RED, "routing_instance", RED_RI, "access_control_list", RED_RI,
                        "instance_ip_addresses", "[\"10.1.0.3\"]", "security_groups", "[]", "floating_ips", fips};
    assert_int_equal(send1(f, 0, XMPP_CONFIG_UPDATE, "virtual-machine-interface", "d:p:a", 7, kv), 0);
}

/* The interface's floating_ips (the index entry's form) become the port's
 * floating IPs, decided by the pool network's ACL (named like its
 * instance), not the port's network's; an update without them removes
 * them; malformed entries are skipped. */
static void test_floating_ips(void **state)
{
    struct fx *f = *state;
    char r1[1024];
    assert_int_equal(agent_cfg_node_up(f->cfg, 0), 0);
    send_vn(f, 0, RED, "{\"ip_prefix\":\"10.1.0.0\",\"ip_prefix_len\":24}", "");
    send_acl(f, 0, RED_RI, ""); /* red: nothing crosses it */
    send_vmi_fips(f, "[{\"floating_ip\":\"u1\",\"floating_ip_address\":\"10.9.0.5\","
                     "\"routing_instance\":\"d:p:ext:ext\"},"
                     "{\"floating_ip\":\"u2\",\"floating_ip_address\":\"not-an-address\",\"routing_instance\":\"d:p:ext:ext\"},"
                     "{\"floating_ip\":\"u3\",\"floating_ip_address\":\"10.9.0.6\",\"routing_instance\":\"nocolon\"}]");
    assert_int_equal(agent_cfg_node_eor(f->cfg, 0), 0);
    agent_node_up(f->core, 0);
    size_t pubs = f->pubs;
    assert_int_equal(agent_cfg_bind(f->cfg, U_A, "tapa"), 0);
    const struct agent_port *a = agent_port_find(f->core, U_A);
    assert_non_null(a);
    assert_int_equal(a->fip_count, 1);
    assert_int_equal(a->fips[0].ip4, ip("10.9.0.5"));
    assert_string_equal(a->fips[0].ri, "d:p:ext:ext");
    assert_string_equal(a->fips[0].vn, "d:p:ext");
    assert_non_null(a->fips[0].policy);
    assert_string_equal(a->fips[0].policy->vn, "d:p:ext");
    assert_false(a->fips[0].policy->has_vn_acl); /* ext's ACL is not in the config */
    assert_int_equal(f->pubs, pubs + 2);         /* the port's /32 and the floating IP */
    uint32_t pool = agent_ri_vrf(f->core, "d:p:ext:ext");
    assert_true(pool != 0);
    remote_route(f, "d:p:ext:ext", "10.9.0.7", "d:p:ext");
    /* the external VM reaches the floating address (red's ACL would drop it) */
    uint32_t vrf = a->spec.vrf, ax = a->spec.ifindex;
    struct agent_flow_decision d;
    assert_true(miss(f, AGENT_IF_FABRIC, vrf, "10.9.0.7", "10.9.0.5", 1, 0, 0, &d));
    assert_int_equal(d.action.type, DP_FLOW_NAT);
    assert_int_equal(d.action.nat_ip, ip("10.1.0.3"));
    assert_true(miss(f, ax, vrf, "10.1.0.3", "10.9.0.7", 17, 1000, 53, &d));
    assert_int_equal(d.action.flags, DP_FA_SNAT | DP_FA_VRF);
    assert_int_equal(d.action.vrf, pool);
    /* ext's ACL arrives and denies icmp: the floating IP's flows are decided again */
    send_acl(f, 0, "d:p:ext:ext",
             rule(r1, sizeof r1, "icmp", "{\"virtual_network\":\"any\"}", "{\"virtual_network\":\"any\"}", -1, -1,
                  "deny"));
    a = agent_port_find(f->core, U_A);
    assert_true(a->fips[0].policy->has_vn_acl);
    assert_false(miss(f, AGENT_IF_FABRIC, vrf, "10.9.0.7", "10.9.0.5", 1, 0, 0, NULL));
    assert_true(miss(f, AGENT_IF_FABRIC, vrf, "10.9.0.7", "10.9.0.5", 17, 1, 2, NULL));
    /* the floating IP is disassociated: gone, with its instance */
    send_vmi_fips(f, "[]");
    a = agent_port_find(f->core, U_A);
    assert_non_null(a);
    assert_int_equal(a->fip_count, 0);
    assert_int_equal(agent_ri_vrf(f->core, "d:p:ext:ext"), 0);
    assert_false(miss(f, AGENT_IF_FABRIC, vrf, "10.9.0.7", "10.9.0.5", 17, 1, 2, NULL));
    struct agent_cfg_status cs;
    agent_cfg_status_get(f->cfg, &cs);
    assert_int_equal(cs.fip_refusals, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bind_before_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_before_bind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mac_and_vni_from_compiler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostname_from_virtual_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_announces_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_network_acl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_security_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_decide_pure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encap_from_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_floating_ips, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

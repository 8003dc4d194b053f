/* The controller's config, as the control nodes send it, turned into the
 * core's ports, policies and encapsulation order (agent_cfg.h): one
 * acfg_mirror per control node, bindings (uuid -> device) from the
 * hypervisor hook, and a reconciliation after every change that makes the
 * core hold exactly the bound interfaces the chosen view describes. The
 * JSON property texts (compact JSON, routing/control/agent_config.h) are
 * parsed here; nothing of JSON reaches the flow path. */
#include "vrouter/agent/agent_cfg.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "routing/control/agent_config.h"

#define T_VMI "virtual-machine-interface"
#define T_VN "virtual-network"
#define T_RI "routing-instance"
#define T_ACL "access-control-list"

struct agent_cfg {
    struct agent_core *core;
    size_t node_count;
    struct acfg_mirror *mirror[AGENT_MAX_NODES];
    bool up[AGENT_MAX_NODES];
    bool complete[AGENT_MAX_NODES];
    uint8_t default_encaps[3];
    size_t default_encap_count;
    struct agent_cfg_binding *bindings;
    size_t binding_count;
    struct agent_cfg_status st;
};

int agent_cfg_create(struct agent_core *core, size_t node_count, const uint8_t *encaps, size_t encap_count,
                     struct agent_cfg **out)
{
    if (!core || node_count == 0 || node_count > AGENT_MAX_NODES || encap_count == 0 || encap_count > 3) {
        return AGENT_EINVAL;
    }
    struct agent_cfg *g = calloc(1, sizeof *g);
    if (!g) {
        return AGENT_ENOMEM;
    }
    g->core = core;
    g->node_count = node_count;
    memcpy(g->default_encaps, encaps, encap_count);
    g->default_encap_count = encap_count;
    memcpy(g->st.encaps, encaps, encap_count);
    g->st.encap_count = encap_count;
    for (size_t i = 0; i < node_count; i++) {
        if (acfg_mirror_create(&g->mirror[i]) != 0) {
            agent_cfg_free(g);
            return AGENT_ENOMEM;
        }
    }
    *out = g;
    return 0;
}

void agent_cfg_free(struct agent_cfg *g)
{
    if (!g) {
        return;
    }
    for (size_t i = 0; i < AGENT_MAX_NODES; i++) {
        acfg_mirror_free(g->mirror[i]);
    }
    free(g->bindings);
    free(g);
}

/* ---- reading the config ---- */

/* The JSON value of property 'prop' of 'props' (a new reference), NULL
 * when absent or not JSON. */
static json_t *prop_json(const json_t *props, const char *prop)
{
    const char *text = json_string_value(json_object_get(props, prop));
    return text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
}

/* The name of the interface node whose uuid is 'uuid' in 'm', or NULL
 * ('names' holds the array the result points into). */
static const char *vmi_name(const struct acfg_mirror *m, const char *uuid, json_t **names)
{
    *names = acfg_mirror_names(m, T_VMI);
    size_t i;
    json_t *n;
    json_array_foreach(*names, i, n) {
        const json_t *p = acfg_mirror_node(m, T_VMI, json_string_value(n));
        const char *u = json_string_value(json_object_get(p, "uuid"));
        if (u && strcmp(u, uuid) == 0) {
            return json_string_value(n);
        }
    }
    return NULL;
}

static bool vmi_present(const struct acfg_mirror *m, const char *uuid)
{
    json_t *names = NULL;
    bool found = vmi_name(m, uuid, &names) != NULL;
    json_decref(names);
    return found;
}

/* An ACL address (an AddressType object) into 'a'. */
static void addr_parse(const json_t *j, struct agent_acl_addr *a)
{
    memset(a, 0, sizeof *a);
    a->kind = AGENT_ADDR_ANY;
    const char *sg = json_string_value(json_object_get(j, "security_group"));
    const json_t *sub = json_object_get(j, "subnet");
    const char *vn = json_string_value(json_object_get(j, "virtual_network"));
    if (sg) {
        if (strcmp(sg, "any") != 0) {
            a->kind = strlen(sg) < sizeof a->name ? AGENT_ADDR_SG : AGENT_ADDR_NONE;
            snprintf(a->name, sizeof a->name, "%s", a->kind == AGENT_ADDR_SG ? sg : "");
        }
    } else if (json_is_object(sub)) {
        uint32_t ip;
        json_int_t plen = json_integer_value(json_object_get(sub, "ip_prefix_len"));
        if (agent_ip4_parse(json_string_value(json_object_get(sub, "ip_prefix")), &ip) != 0 || plen < 0 || plen > 32) {
            a->kind = AGENT_ADDR_NONE; /* IPv6 or malformed: never matches an IPv4 flow */
        } else {
            a->kind = AGENT_ADDR_SUBNET;
            a->plen = (uint8_t)plen;
            a->ip4 = ip & agent_ip4_mask((unsigned)plen);
        }
    } else if (vn) {
        if (strcmp(vn, "any") != 0) {
            a->kind = strlen(vn) < sizeof a->name ? AGENT_ADDR_VN : AGENT_ADDR_NONE;
            snprintf(a->name, sizeof a->name, "%s", a->kind == AGENT_ADDR_VN ? vn : "");
        }
    } else if (json_object_get(j, "network_policy") && !json_is_null(json_object_get(j, "network_policy"))) {
        a->kind = AGENT_ADDR_NONE;
    }
}

static bool range_parse(const json_t *j, uint16_t *lo, uint16_t *hi)
{
    json_int_t s = json_is_integer(json_object_get(j, "start_port")) ? json_integer_value(json_object_get(j, "start_port")) : -1;
    json_int_t e = json_is_integer(json_object_get(j, "end_port")) ? json_integer_value(json_object_get(j, "end_port")) : -1;
    if (s < 0 && e < 0) {
        *lo = 0;
        *hi = 65535;
        return true;
    }
    if (s < 0 || e < s || e > 65535) {
        return false;
    }
    *lo = (uint16_t)s;
    *hi = (uint16_t)e;
    return true;
}

static bool proto_parse(const char *p, int16_t *out)
{
    static const struct {
        const char *name;
        int16_t num;
    } names[] = {{"any", -1}, {"icmp", 1}, {"tcp", 6}, {"udp", 17}, {"icmp6", 58}};
    if (!p) {
        *out = -1;
        return true;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(p, names[i].name) == 0) {
            *out = names[i].num;
            return true;
        }
    }
    char *end;
    long v = strtol(p, &end, 10);
    if (!*p || *end || v < 0 || v > 255) {
        return false;
    }
    *out = (int16_t)v;
    return true;
}

/* Appends the entries of ACL node 'name' (IPv4 ones; malformed ones are
 * skipped) to 'acl'. Returns whether the node exists with entries, or
 * AGENT_ENOMEM. */
static int acl_append(const struct acfg_mirror *m, const char *name, struct agent_acl *acl)
{
    const json_t *props = name ? acfg_mirror_node(m, T_ACL, name) : NULL;
    json_t *entries = props ? prop_json(props, "access_control_list_entries") : NULL;
    const json_t *rules = json_object_get(entries, "acl_rule");
    if (!json_is_array(rules)) {
        json_decref(entries);
        return 0;
    }
    size_t n = json_array_size(rules);
    struct agent_acl_rule *grown = n ? realloc(acl->rules, (acl->count + n) * sizeof *grown) : acl->rules;
    if (n && !grown) {
        json_decref(entries);
        return AGENT_ENOMEM;
    }
    acl->rules = grown;
    size_t i;
    const json_t *e;
    json_array_foreach(rules, i, e) {
        const json_t *mc = json_object_get(e, "match_condition");
        const char *eth = json_string_value(json_object_get(mc, "ethertype"));
        const char *act = json_string_value(json_object_get(json_object_get(e, "action_list"), "simple_action"));
        struct agent_acl_rule r;
        memset(&r, 0, sizeof r);
        if ((eth && strcmp(eth, "IPv4") != 0) || !proto_parse(json_string_value(json_object_get(mc, "protocol")), &r.proto) ||
            !range_parse(json_object_get(mc, "src_port"), &r.sport_lo, &r.sport_hi) ||
            !range_parse(json_object_get(mc, "dst_port"), &r.dport_lo, &r.dport_hi)) {
            continue;
        }
        addr_parse(json_object_get(mc, "src_address"), &r.src);
        addr_parse(json_object_get(mc, "dst_address"), &r.dst);
        r.pass = act && strcmp(act, "pass") == 0;
        acl->rules[acl->count++] = r;
    }
    json_decref(entries);
    return 1;
}

/* The subnet of network node 'props' holding 'ip4': prefix length,
 * gateway (default_gateway, else the first host) and DNS server
 * (dns_server_address, else 0). Longest match. */
static bool subnet_find(const json_t *vn_props, uint32_t ip4, uint8_t *plen, uint32_t *gw, uint32_t *dns)
{
    json_t *refs = prop_json(vn_props, "network_ipam_refs");
    size_t i, j;
    const json_t *ref, *sn;
    int best = -1;
    json_array_foreach(refs, i, ref) {
        json_array_foreach(json_object_get(json_object_get(ref, "attr"), "ipam_subnets"), j, sn) {
            const json_t *sub = json_object_get(sn, "subnet");
            uint32_t net;
            json_int_t len = json_integer_value(json_object_get(sub, "ip_prefix_len"));
            if (agent_ip4_parse(json_string_value(json_object_get(sub, "ip_prefix")), &net) != 0 || len < 0 || len > 32 ||
                (ip4 & agent_ip4_mask((unsigned)len)) != (net & agent_ip4_mask((unsigned)len)) || len <= best) {
                continue;
            }
            best = (int)len;
            net &= agent_ip4_mask((unsigned)len);
            *plen = (uint8_t)len;
            uint32_t a;
            *gw = agent_ip4_parse(json_string_value(json_object_get(sn, "default_gateway")), &a) == 0 && a ? a
                  : len <= 30                                                                     ? net + 1
                                                                                                  : 0;
            *dns = agent_ip4_parse(json_string_value(json_object_get(sn, "dns_server_address")), &a) == 0 ? a : 0;
        }
    }
    json_decref(refs);
    return best >= 0;
}

/* The interface's MAC: configured (virtual_machine_interface_mac_addresses,
 * when the config carries it), else the one the API assigns by default,
 * 02 and the uuid's first five bytes (compiler/graph.c). */
static bool mac_of(const json_t *vmi, const char *uuid, uint8_t mac[6])
{
    json_t *macs = prop_json(vmi, "virtual_machine_interface_mac_addresses");
    const char *s = json_string_value(json_array_get(json_object_get(macs, "mac_address"), 0));
    unsigned b[6];
    bool ok = s && sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) == 6;
    json_decref(macs);
    if (ok) {
        for (int i = 0; i < 6; i++) {
            mac[i] = (uint8_t)b[i];
        }
        return true;
    }
    mac[0] = 0x02;
    for (int i = 0, k = 0; i < 5; i++, k += 2) {
        k += uuid[k] == '-';
        unsigned v;
        if (!uuid[k] || sscanf(uuid + k, "%2x", &v) != 1) {
            return false;
        }
        mac[1 + i] = (uint8_t)v;
    }
    return true;
}

/* The VNI of a port in routing instance 'ri' of network node 'vnp': the
 * compiler's (configured or allocated; its vxlan_network_identifier on the
 * instance's node, compiler rules 3), else the network's configured
 * virtual_network_properties.vxlan_network_identifier, else 0 (none). */
static uint32_t vni_of(const struct acfg_mirror *m, const char *ri, const json_t *vnp)
{
    const json_t *rip = acfg_mirror_node(m, T_RI, ri);
    json_t *v = rip ? prop_json(rip, "vxlan_network_identifier") : NULL;
    json_int_t vni = json_integer_value(v);
    json_decref(v);
    if (vni > 0 && vni <= XMPP_VNI_MAX) {
        return (uint32_t)vni;
    }
    json_t *props = prop_json(vnp, "virtual_network_properties");
    vni = json_integer_value(json_object_get(props, "vxlan_network_identifier"));
    json_decref(props);
    return vni > 0 && vni <= XMPP_VNI_MAX ? (uint32_t)vni : 0;
}

/* Appends the security groups of interface node 'vmi' (names and their
 * two ACLs) to 'pol'. AGENT_ENOMEM. */
static int sgs_append(const struct acfg_mirror *m, const json_t *vmi, struct agent_policy *pol)
{
    json_t *sgs = prop_json(vmi, "security_groups");
    const json_t *sg;
    size_t i;
    int rc = 0;
    json_array_foreach(sgs, i, sg) {
        const char *sn = json_string_value(json_object_get(sg, "security_group"));
        if (rc != 0 || !sn || strlen(sn) >= sizeof pol->sgs[0] || pol->sg_count == AGENT_SG_MAX) {
            continue;
        }
        snprintf(pol->sgs[pol->sg_count++], sizeof pol->sgs[0], "%s", sn);
        int r1 = acl_append(m, json_string_value(json_object_get(sg, "ingress_access_control_list")), &pol->sg_ingress);
        int r2 = acl_append(m, json_string_value(json_object_get(sg, "egress_access_control_list")), &pol->sg_egress);
        rc = r1 < 0 ? r1 : r2 < 0 ? r2 : 0;
    }
    json_decref(sgs);
    return rc;
}

int agent_cfg_fips_from(const struct acfg_mirror *m, const char *uuid, struct agent_fip *fips, size_t *count)
{
    json_t *names = NULL;
    const char *name = vmi_name(m, uuid, &names);
    const json_t *vmi = name ? acfg_mirror_node(m, T_VMI, name) : NULL;
    json_t *list = vmi ? prop_json(vmi, "floating_ips") : NULL;
    size_t i, n = 0;
    const json_t *e;
    int rc = 0;
    memset(fips, 0, AGENT_FIP_MAX * sizeof *fips);
    json_array_foreach(list, i, e) {
        const char *ri = json_string_value(json_object_get(e, "routing_instance"));
        const char *last = ri ? strrchr(ri, ':') : NULL;
        struct agent_fip *f = &fips[n];
        if (rc != 0 || n == AGENT_FIP_MAX || !last || last == ri || strlen(ri) >= sizeof f->ri ||
            agent_ip4_parse(json_string_value(json_object_get(e, "floating_ip_address")), &f->ip4) != 0 || f->ip4 == 0) {
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < n; j++) {
            dup |= fips[j].ip4 == f->ip4 && strcmp(fips[j].ri, ri) == 0;
        }
        if (dup) {
            continue;
        }
        snprintf(f->ri, sizeof f->ri, "%s", ri);
        snprintf(f->vn, sizeof f->vn, "%.*s", (int)(last - ri), ri);
        struct agent_policy *pol = calloc(1, sizeof *pol);
        if (!pol) {
            rc = AGENT_ENOMEM;
            continue;
        }
        snprintf(pol->vn, sizeof pol->vn, "%s", f->vn);
        /* the compiler names a network's ACL like its default instance */
        int r = acl_append(m, ri, &pol->vn_acl);
        pol->has_vn_acl = r == 1;
        rc = r < 0 ? r : sgs_append(m, vmi, pol);
        f->policy = pol;
        n++;
    }
    json_decref(list);
    json_decref(names);
    if (rc != 0) {
        for (size_t j = 0; j < n; j++) {
            agent_policy_free(fips[j].policy);
        }
        memset(fips, 0, AGENT_FIP_MAX * sizeof *fips);
        n = 0;
    }
    *count = n;
    return rc;
}

int agent_cfg_port_from(const struct acfg_mirror *m, const char *uuid, const char *tap,
                        struct agent_port_spec *spec, struct agent_policy **policy, char *reason,
                        size_t reason_size)
{
    json_t *names = NULL;
    const char *name = vmi_name(m, uuid, &names);
    int rc = 0;
    struct agent_policy *pol = NULL;
    json_t *ips = NULL;
    if (!name) {
        json_decref(names);
        snprintf(reason, reason_size, "no interface %s in the config", uuid);
        return AGENT_ENOENT;
    }
    const json_t *vmi = acfg_mirror_node(m, T_VMI, name);
    const char *vn = json_string_value(json_object_get(vmi, "virtual_network"));
    const char *ri = json_string_value(json_object_get(vmi, "routing_instance"));
    const json_t *vnp = vn ? acfg_mirror_node(m, T_VN, vn) : NULL;
    memset(spec, 0, sizeof *spec);
    snprintf(spec->name, sizeof spec->name, "%s", uuid);
    snprintf(spec->tap, sizeof spec->tap, "%s", tap);
    ips = prop_json(vmi, "instance_ip_addresses");
    size_t i;
    const json_t *a;
    json_array_foreach(ips, i, a) {
        if (spec->ip4 == 0 && agent_ip4_parse(json_string_value(a), &spec->ip4) == 0) {
            break;
        }
    }
    if (!vn || !ri || strlen(vn) >= sizeof spec->vn || strlen(ri) >= sizeof spec->ri) {
        snprintf(reason, reason_size, "interface %s has no (usable) network or routing instance", name);
        rc = AGENT_EHELD;
    } else if (spec->ip4 == 0) {
        snprintf(reason, reason_size, "interface %s has no IPv4 instance-ip", name);
        rc = AGENT_EHELD;
    } else if (!vnp) {
        snprintf(reason, reason_size, "network %s not in the config", vn);
        rc = AGENT_EHELD;
    } else if (!subnet_find(vnp, spec->ip4, &spec->plen, &spec->gw4, &spec->dns4)) {
        snprintf(reason, reason_size, "no subnet of %s holds the interface's address", vn);
        rc = AGENT_EHELD;
    } else if (!mac_of(vmi, uuid, spec->mac)) {
        snprintf(reason, reason_size, "malformed uuid %s", uuid);
        rc = AGENT_EHELD;
    }
    if (rc != 0) {
        goto out;
    }
    snprintf(spec->vn, sizeof spec->vn, "%s", vn);
    snprintf(spec->ri, sizeof spec->ri, "%s", ri);
    spec->vni = vni_of(m, ri, vnp);
    /* its virtual machine's name, when that is one DNS label */
    (void)xmpp_dns_instance_name(json_string_value(json_object_get(vmi, "virtual_machine")), spec->hostname,
                                 sizeof spec->hostname);

    pol = calloc(1, sizeof *pol);
    if (!pol) {
        rc = AGENT_ENOMEM;
        goto out;
    }
    snprintf(pol->vn, sizeof pol->vn, "%s", vn);
    const char *acl = json_string_value(json_object_get(vmi, "access_control_list"));
    rc = acl_append(m, acl, &pol->vn_acl);
    pol->has_vn_acl = rc == 1;
    rc = rc < 0 ? rc : 0;
    rc = rc ? rc : sgs_append(m, vmi, pol);
out:
    json_decref(ips);
    json_decref(names);
    if (rc != 0) {
        agent_policy_free(pol);
        return rc;
    }
    *policy = pol;
    return 0;
}

/* ---- which view ---- */

/* The mirror to read interface 'uuid' from (NULL: none has it) and
 * whether its absence is authoritative (some node is up and complete). */
static const struct acfg_mirror *view_for(const struct agent_cfg *g, const char *uuid, bool *authoritative)
{
    bool any_up = false;
    *authoritative = false;
    for (size_t pass = 0; pass < 3; pass++) {
        for (size_t n = 0; n < g->node_count; n++) {
            bool in_pass = pass == 0 ? g->up[n] && g->complete[n] : pass == 1 ? g->up[n] && !g->complete[n]
                                                                              : !g->up[n];
            if (!in_pass) {
                continue;
            }
            any_up |= g->up[n];
            *authoritative |= pass == 0;
            if (pass == 2 && any_up) {
                return NULL; /* lost nodes' mirrors only while headless */
            }
            if (!uuid || vmi_present(g->mirror[n], uuid)) {
                return g->mirror[n];
            }
        }
    }
    return NULL;
}

static bool spec_same(const struct agent_port_spec *a, const struct agent_port_spec *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(a->tap, b->tap) == 0 && strcmp(a->ri, b->ri) == 0 &&
           strcmp(a->vn, b->vn) == 0 && memcmp(a->mac, b->mac, 6) == 0 && a->ip4 == b->ip4 && a->plen == b->plen &&
           a->gw4 == b->gw4 && a->dns4 == b->dns4 && a->vni == b->vni && strcmp(a->hostname, b->hostname) == 0;
}

/* Gives port 'uuid' the floating IPs view 'm' lists for it; a refusal of
 * the core is counted (fip_refusals), the port stays. A change of the
 * addresses or their VRFs counts as a change (the host saves its state). */
static int fips_reconcile(struct agent_cfg *g, const struct acfg_mirror *m, const char *uuid)
{
    struct agent_fip fips[AGENT_FIP_MAX];
    size_t n = 0;
    const struct agent_port *p = agent_port_find(g->core, uuid);
    uint32_t before_ip[AGENT_FIP_MAX] = {0}, before_vrf[AGENT_FIP_MAX] = {0};
    size_t before_count = p ? p->fip_count : 0;
    for (size_t i = 0; i < before_count; i++) {
        before_ip[i] = p->fips[i].ip4;
        before_vrf[i] = p->fips[i].vrf;
    }
    int rc = agent_cfg_fips_from(m, uuid, fips, &n);
    rc = rc ? rc : agent_port_fips_set(g->core, uuid, fips, n);
    if (rc == AGENT_ENOMEM) {
        return rc;
    }
    g->st.fip_refusals += rc != 0;
    p = agent_port_find(g->core, uuid);
    bool changed = !p || p->fip_count != before_count;
    for (size_t i = 0; !changed && i < before_count; i++) {
        changed = before_ip[i] != p->fips[i].ip4 || before_vrf[i] != p->fips[i].vrf;
    }
    g->st.changes += changed; /* the host saves its state (floating IPs are in it) */
    return 0;
}

/* Brings binding 'b''s port in line with the view. */
static int reconcile_one(struct agent_cfg *g, struct agent_cfg_binding *b)
{
    bool auth;
    const struct acfg_mirror *m = view_for(g, b->uuid, &auth);
    const struct agent_port *have = agent_port_find(g->core, b->uuid);
    struct agent_port_spec spec;
    struct agent_policy *pol = NULL;
    int rc = m ? agent_cfg_port_from(m, b->uuid, b->tap, &spec, &pol, b->reason, sizeof b->reason) : AGENT_ENOENT;
    if (!m) {
        snprintf(b->reason, sizeof b->reason, "no interface %s in the config", b->uuid);
    }
    if (rc == AGENT_ENOMEM) {
        return rc;
    }
    if (rc != 0) {
        /* absent or incomplete: the port goes only on an authoritative view */
        if (have && (auth || m)) {
            if (agent_port_del(g->core, b->uuid) == 0) {
                g->st.port_dels++;
                g->st.changes++;
            }
            have = NULL;
        }
        b->bound = have != NULL;
        return 0;
    }
    if (have && !spec_same(&have->spec, &spec)) {
        spec.ifindex = have->spec.ifindex; /* the same interface keeps its index */
        if (agent_port_del(g->core, b->uuid) == 0) {
            g->st.port_updates++;
            g->st.changes++;
        }
        have = NULL;
    } else if (have) {
        b->bound = true;
        b->reason[0] = '\0';
        g->st.policy_sets++;
        rc = agent_port_policy_set(g->core, b->uuid, pol) == 0 ? 0 : AGENT_ENOENT;
        return rc ? rc : fips_reconcile(g, m, b->uuid);
    } else {
        g->st.port_adds++;
        g->st.changes++;
    }
    rc = agent_port_add(g->core, &spec);
    if (rc == AGENT_ECONFLICT && spec.ifindex) {
        spec.ifindex = 0;
        rc = agent_port_add(g->core, &spec);
    }
    if (rc != 0) {
        agent_policy_free(pol);
        snprintf(b->reason, sizeof b->reason, "port refused: %s", strata_strerror(rc));
        b->bound = false;
        return rc == AGENT_ENOMEM ? rc : 0;
    }
    b->bound = true;
    b->reason[0] = '\0';
    g->st.policy_sets++;
    rc = agent_port_policy_set(g->core, b->uuid, pol);
    return rc ? rc : fips_reconcile(g, m, b->uuid);
}

/* The encapsulation order of the global-vrouter-config node in 'm' into
 * 'out'; 0 when the node is absent or lists none this agent knows. */
static size_t encaps_from(const struct acfg_mirror *m, uint8_t out[3])
{
    const json_t *p = m ? acfg_mirror_node(m, AGENT_CFG_GVC_TYPE, AGENT_CFG_GVC_NAME) : NULL;
    json_t *prio = p ? prop_json(p, "encapsulation_priorities") : NULL;
    size_t i, n = 0;
    const json_t *e;
    json_array_foreach(json_object_get(prio, "encapsulation"), i, e) {
        const char *s = json_string_value(e);
        uint8_t v = !s ? 0
                    : strcmp(s, "MPLSoUDP") == 0 ? DP_ENCAP_MPLS_UDP
                    : strcmp(s, "MPLSoGRE") == 0 ? DP_ENCAP_MPLS_GRE
                    : strcmp(s, "VXLAN") == 0    ? DP_ENCAP_VXLAN
                                                 : 0;
        bool dup = false;
        for (size_t j = 0; j < n; j++) {
            dup |= out[j] == v;
        }
        if (v && !dup && n < 3) {
            out[n++] = v;
        }
    }
    json_decref(prio);
    return n;
}

/* The networks' IPv4 subnets of view 'm' for the core's remote-end lookup. */
static int subnets_from(struct agent_cfg *g, const struct acfg_mirror *m)
{
    json_t *vns = m ? acfg_mirror_names(m, T_VN) : json_array();
    struct agent_vn_subnet *tab = NULL;
    size_t count = 0, cap = 0, i, j, k;
    int rc = vns ? 0 : AGENT_ENOMEM;
    const json_t *v, *ref, *sn;
    json_array_foreach(vns, i, v) {
        const char *vn = json_string_value(v);
        json_t *refs = strlen(vn) < AGENT_RI_MAX ? prop_json(acfg_mirror_node(m, T_VN, vn), "network_ipam_refs") : NULL;
        json_array_foreach(refs, j, ref) {
            json_array_foreach(json_object_get(json_object_get(ref, "attr"), "ipam_subnets"), k, sn) {
                const json_t *sub = json_object_get(sn, "subnet");
                uint32_t net;
                json_int_t len = json_integer_value(json_object_get(sub, "ip_prefix_len"));
                if (rc != 0 || agent_ip4_parse(json_string_value(json_object_get(sub, "ip_prefix")), &net) != 0 || len < 0 ||
                    len > 32) {
                    continue;
                }
                if (count == cap) {
                    cap = cap ? cap * 2 : 8;
                    struct agent_vn_subnet *t = realloc(tab, cap * sizeof *t);
                    if (!t) {
                        rc = AGENT_ENOMEM;
                        continue;
                    }
                    tab = t;
                }
                tab[count].ip4 = net & agent_ip4_mask((unsigned)len);
                tab[count].plen = (uint8_t)len;
                snprintf(tab[count].vn, sizeof tab[count].vn, "%s", vn);
                count++;
            }
        }
        json_decref(refs);
    }
    json_decref(vns);
    rc = rc ? rc : agent_vn_subnets_set(g->core, tab, count);
    free(tab);
    return rc;
}

int agent_cfg_reconcile(struct agent_cfg *g)
{
    int rc = 0;
    for (size_t i = 0; i < g->binding_count && rc == 0; i++) {
        rc = reconcile_one(g, &g->bindings[i]);
    }
    bool auth;
    const struct acfg_mirror *m = view_for(g, NULL, &auth);
    uint8_t enc[3];
    size_t n = encaps_from(m, enc);
    g->st.encap_from_config = n > 0;
    if (n == 0) {
        n = g->default_encap_count;
        memcpy(enc, g->default_encaps, n);
    }
    memcpy(g->st.encaps, enc, n);
    g->st.encap_count = n;
    int rc2 = agent_encap_set(g->core, enc, n);
    int rc3 = subnets_from(g, m);
    return rc ? rc : rc2 ? rc2 : rc3;
}

/* ---- nodes ---- */

static bool node_ok(const struct agent_cfg *g, int node)
{
    return node >= 0 && (size_t)node < g->node_count;
}

int agent_cfg_node_up(struct agent_cfg *g, int node)
{
    if (!node_ok(g, node)) {
        return AGENT_EINVAL;
    }
    struct acfg_mirror *fresh;
    if (acfg_mirror_create(&fresh) != 0) {
        return AGENT_ENOMEM;
    }
    acfg_mirror_free(g->mirror[node]);
    g->mirror[node] = fresh;
    g->up[node] = true;
    g->complete[node] = false;
    return 0;
}

int agent_cfg_node_resume(struct agent_cfg *g, int node, struct xmpp_held_obj **held, size_t *count)
{
    *held = NULL;
    *count = 0;
    if (!node_ok(g, node)) {
        return AGENT_EINVAL;
    }
    if (!g->mirror[node]) {
        return agent_cfg_node_up(g, node);
    }
    if (acfg_mirror_held(g->mirror[node], held, count) != 0) {
        return AGENT_ENOMEM;
    }
    g->up[node] = true;
    g->complete[node] = false;
    return 0;
}

void agent_cfg_node_down(struct agent_cfg *g, int node)
{
    if (node_ok(g, node)) {
        g->up[node] = false;
        g->complete[node] = false;
    }
}

int agent_cfg_node_eor(struct agent_cfg *g, int node)
{
    if (!node_ok(g, node)) {
        return AGENT_EINVAL;
    }
    g->complete[node] = g->up[node];
    return agent_cfg_reconcile(g);
}

int agent_cfg_apply(struct agent_cfg *g, int node, const struct xmpp_config_obj *objs, size_t count)
{
    if (!node_ok(g, node)) {
        return AGENT_EINVAL;
    }
    if (acfg_mirror_apply(g->mirror[node], objs, count) != 0) {
        return AGENT_ENOMEM;
    }
    return agent_cfg_reconcile(g);
}

/* ---- bindings ---- */

int agent_cfg_bind(struct agent_cfg *g, const char *uuid, const char *tap)
{
    if (!uuid || !tap || !uuid[0] || !tap[0] || strlen(uuid) >= AGENT_NAME_MAX || strlen(tap) >= VR_MSG_NAME_MAX ||
        strchr(uuid, ' ') || strchr(tap, ' ')) {
        return AGENT_EINVAL;
    }
    for (size_t i = 0; i < g->binding_count; i++) {
        struct agent_cfg_binding *b = &g->bindings[i];
        bool same_uuid = strcmp(b->uuid, uuid) == 0, same_tap = strcmp(b->tap, tap) == 0;
        if (same_uuid && same_tap) {
            return b->bound ? 0 : AGENT_EHELD;
        }
        if (same_uuid || same_tap) {
            return AGENT_EEXIST;
        }
    }
    if (g->binding_count >= AGENT_PORTS_MAX) {
        return AGENT_EFULL;
    }
    struct agent_cfg_binding *nb = realloc(g->bindings, (g->binding_count + 1) * sizeof *nb);
    if (!nb) {
        return AGENT_ENOMEM;
    }
    g->bindings = nb;
    struct agent_cfg_binding *b = &nb[g->binding_count++];
    memset(b, 0, sizeof *b);
    snprintf(b->uuid, sizeof b->uuid, "%s", uuid);
    snprintf(b->tap, sizeof b->tap, "%s", tap);
    int rc = reconcile_one(g, b);
    if (rc != 0) {
        return rc;
    }
    return b->bound ? 0 : AGENT_EHELD;
}

int agent_cfg_unbind(struct agent_cfg *g, const char *uuid)
{
    for (size_t i = 0; i < g->binding_count; i++) {
        if (strcmp(g->bindings[i].uuid, uuid) == 0) {
            if (agent_port_find(g->core, uuid) && agent_port_del(g->core, uuid) == 0) {
                g->st.port_dels++;
                g->st.changes++;
            }
            g->bindings[i] = g->bindings[--g->binding_count];
            return 0;
        }
    }
    return AGENT_ENOENT;
}

size_t agent_cfg_binding_count(const struct agent_cfg *g)
{
    return g->binding_count;
}

const struct agent_cfg_binding *agent_cfg_binding_at(const struct agent_cfg *g, size_t i)
{
    return i < g->binding_count ? &g->bindings[i] : NULL;
}

void agent_cfg_status_get(const struct agent_cfg *g, struct agent_cfg_status *st)
{
    *st = g->st;
    st->bindings = g->binding_count;
    st->bound = 0;
    for (size_t i = 0; i < g->binding_count; i++) {
        st->bound += g->bindings[i].bound;
    }
    st->held = st->bindings - st->bound;
}

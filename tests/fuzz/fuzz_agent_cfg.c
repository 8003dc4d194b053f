/* Fuzzes the agent's use of the controller's config (vrouter/agent/
 * agent_cfg.c): CONFIG objects as a control node sends them — the JSON
 * texts of interface, network and ACL properties, the global-vrouter-config
 * node — parsed into ports, policies and the encapsulation order, then
 * flow misses decided with those policies. The input is text, one object
 * or event per line:
 *   U<TAB>TYPE<TAB>NAME[<TAB>PROP=VALUE]...   node update
 *   D<TAB>TYPE<TAB>NAME                      node delete
 *   N / E / L                                node 0 up / End-of-RIB / lost
 * Three interfaces (uuids 00..01, 00..02, 00..03) are bound first.
 * Invariants: every call returns a typed result; a binding said bound has
 * its port; a port's policy names the port's network; a port's floating
 * IPs (its interface's floating_ips) each have a policy naming the pool
 * network and the pool instance's VRF; flow misses from each port (also
 * to its floating addresses) succeed or refuse with a typed error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vrouter/agent/agent.h"
#include "vrouter/agent/agent_cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void dp_send(void *arg, const struct vr_msg *m)
{
    (void)arg;
    (void)m;
}

static const char *const UUIDS[3] = {"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
                                     "00000000-0000-4000-8000-000000000003"};

/* Applies one 'U'/'D' line (NUL-terminated, tabs split in place). */
static void line_obj(struct agent_cfg *g, char *line)
{
    char *fields[1 + 2 + XMPP_MAX_PROPS];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(line, "\t", &save); t && n < sizeof fields / sizeof fields[0];
         t = strtok_r(NULL, "\t", &save)) {
        fields[n++] = t;
    }
    if (n < 3 || strlen(fields[1]) >= XMPP_TYPE_MAX || strlen(fields[2]) >= XMPP_NAME_MAX) {
        return;
    }
    struct xmpp_config_obj o;
    memset(&o, 0, sizeof o);
    o.op = fields[0][0] == 'D' ? XMPP_CONFIG_DELETE : XMPP_CONFIG_UPDATE;
    snprintf(o.node.type, sizeof o.node.type, "%s", fields[1]);
    snprintf(o.node.name, sizeof o.node.name, "%s", fields[2]);
    struct xmpp_config_prop props[XMPP_MAX_PROPS];
    for (size_t i = 3; i < n; i++) {
        char *eq = strchr(fields[i], '=');
        if (!eq || eq == fields[i]) {
            continue;
        }
        *eq = '\0';
        props[o.node.prop_count].name = fields[i];
        props[o.node.prop_count++].value = eq + 1;
    }
    o.node.props = props;
    int rc = agent_cfg_apply(g, 0, &o, 1);
    must(rc == 0 || rc == AGENT_ENOMEM);
}

static void punt(struct agent_core *c, const struct agent_port *p, uint8_t proto, uint32_t dst)
{
    uint8_t pkt[16 + 14 + 20 + 8];
    memset(pkt, 0, sizeof pkt);
    be16_store(pkt, DP_PUNT_MAGIC);
    pkt[2] = DP_PUNT_VERSION;
    pkt[3] = DP_PUNT_FLOW_MISS;
    be32_store(pkt + 4, p->spec.ifindex);
    be32_store(pkt + 8, p->spec.vrf);
    uint8_t *h = pkt + 30;
    be16_store(pkt + 28, 0x0800);
    h[0] = 0x45;
    be16_store(h + 2, 28);
    h[8] = 64;
    h[9] = proto;
    be32_store(h + 12, p->spec.ip4);
    be32_store(h + 16, dst);
    be16_store(h + 20, 1234);
    be16_store(h + 22, 80);
    struct agent_punt ap;
    must(agent_punt_parse(pkt, sizeof pkt, &ap) == 0);
    struct agent_flow_decision d;
    struct buf out;
    buf_init(&out, 0);
    int rc = agent_flow_miss(c, &ap, &d, &out);
    must(rc == 0 || rc == AGENT_EFULL || rc == AGENT_ENOMEM);
    buf_destroy(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024) {
        return 0;
    }
    struct agent_config cfg = {.fabric_ip = 0x0a630001u,
                               .encaps = {DP_ENCAP_MPLS_UDP, DP_ENCAP_MPLS_GRE, DP_ENCAP_VXLAN},
                               .encap_count = 3,
                               .node_count = 1,
                               .generation = 1,
                               .flow_limit = 64};
    static const struct agent_ops ops = {.dp_send = dp_send};
    struct agent_core *c;
    struct agent_cfg *g;
    must(agent_core_create(&cfg, &ops, NULL, &c) == 0);
    agent_core_start(c);
    must(agent_cfg_create(c, 1, cfg.encaps, 3, &g) == 0);
    for (int i = 0; i < 3; i++) {
        char tap[8];
        snprintf(tap, sizeof tap, "tap%d", i);
        int rc = agent_cfg_bind(g, UUIDS[i], tap);
        must(rc == AGENT_EHELD);
    }
    char *text = malloc(size + 1);
    must(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int rc = 0;
        switch (line[0]) {
        case 'N':
            rc = agent_cfg_node_up(g, 0);
            break;
        case 'E':
            rc = agent_cfg_node_eor(g, 0);
            break;
        case 'L':
            agent_cfg_node_down(g, 0);
            break;
        case 'U':
        case 'D':
            line_obj(g, line);
            break;
        default:
            break;
        }
        must(rc == 0 || rc == AGENT_ENOMEM);
    }
    free(text);
    for (size_t i = 0; i < agent_cfg_binding_count(g); i++) {
        const struct agent_cfg_binding *b = agent_cfg_binding_at(g, i);
        const struct agent_port *p = agent_port_find(c, b->uuid);
        must(b->bound == (p != NULL));
        if (p) {
            must(p->policy && strcmp(p->policy->vn, p->spec.vn) == 0);
            punt(c, p, 1, 0x0a010004u);
            punt(c, p, 6, 0x0a020005u);
            punt(c, p, 17, p->spec.gw4);
            must(p->fip_count <= AGENT_FIP_MAX);
            for (size_t j = 0; j < p->fip_count; j++) {
                const struct agent_fip *f = &p->fips[j];
                must(f->policy && strcmp(f->policy->vn, f->vn) == 0 && agent_ri_vrf(c, f->ri) == f->vrf);
                punt(c, p, 1, f->ip4);
            }
        }
    }
    agent_cfg_free(g);
    agent_core_free(c);
    return 0;
}

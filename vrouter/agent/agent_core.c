/* The agent's state and decisions (agent.h): ports and routing instances,
 * identifier allocation, per-control-node route copies with the local
 * best-path choice, tunnel next hops shared by reference count, stale
 * copies and the generation sweep. Pure: every effect is a call through
 * 'struct agent_ops'. Tables are small arrays searched linearly (a compute
 * node has tens of ports and instances with hundreds of routes). */
#include "vrouter/agent/agent.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vrouter/agent/agent_int.h"

STRATA_ERR_DEFINE(agent, AGENT_ERRORS)

static void dp_send(struct agent_core *c, const struct vr_msg *m)
{
    c->ops.dp_send(c->arg, m);
}

static void msg_id(struct agent_core *c, uint8_t type, uint32_t id)
{
    struct vr_msg m;
    vr_msg_init(&m, type, 0, 0);
    m.u.id = id;
    dp_send(c, &m);
}

int agent_core_create(const struct agent_config *cfg, const struct agent_ops *ops, void *arg,
                      struct agent_core **out)
{
    if (!cfg || !ops || !ops->dp_send || cfg->encap_count == 0 || cfg->encap_count > 3 ||
        cfg->node_count == 0 || cfg->node_count > AGENT_MAX_NODES || cfg->generation == 0) {
        return AGENT_EINVAL;
    }
    for (size_t i = 0; i < cfg->encap_count; i++) {
        if (cfg->encaps[i] < DP_ENCAP_MPLS_GRE || cfg->encaps[i] > DP_ENCAP_VXLAN) {
            return AGENT_EINVAL;
        }
    }
    struct agent_core *c = calloc(1, sizeof *c);
    if (!c) {
        return AGENT_ENOMEM;
    }
    c->cfg = *cfg;
    c->ops = *ops;
    c->arg = arg;
    *out = c;
    return 0;
}

void agent_core_free(struct agent_core *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < c->ri_count; i++) {
        free(c->ris[i]->routes);
        free(c->ris[i]);
    }
    free(c->ris);
    for (size_t i = 0; i < c->port_count; i++) {
        agent_policy_free(c->ports[i].policy);
        for (size_t j = 0; j < c->ports[i].fip_count; j++) {
            agent_policy_free(c->ports[i].fips[j].policy);
        }
    }
    free(c->ports);
    free(c->vn_subnets);
    agent_flows_destroy(c);
    free(c);
}

void agent_core_start(struct agent_core *c)
{
    msg_id(c, VR_MSG_GEN_BEGIN, c->cfg.generation);
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_IF, 0, 0);
    m.u.ifc.dpif.ifindex = AGENT_IF_FABRIC;
    m.u.ifc.dpif.type = DP_IF_FABRIC;
    m.u.ifc.dpif.ip4 = c->cfg.fabric_ip;
    dp_send(c, &m);
    vr_msg_init(&m, VR_MSG_IF, 0, 0);
    m.u.ifc.dpif.ifindex = AGENT_IF_AGENT;
    m.u.ifc.dpif.type = DP_IF_AGENT;
    snprintf(m.u.ifc.name, sizeof m.u.ifc.name, "%s", c->cfg.agent_if_name);
    dp_send(c, &m);
}

/* ---- lookups ---- */

struct agent_ri *agent_ri_find(const struct agent_core *c, const char *name)
{
    for (size_t i = 0; i < c->ri_count; i++) {
        if (strcmp(c->ris[i]->name, name) == 0) {
            return c->ris[i];
        }
    }
    return NULL;
}

struct agent_ri *agent_ri_by_vrf(const struct agent_core *c, uint32_t vrf)
{
    for (size_t i = 0; i < c->ri_count; i++) {
        if (c->ris[i]->vrf == vrf) {
            return c->ris[i];
        }
    }
    return NULL;
}

uint32_t agent_ri_vrf(const struct agent_core *c, const char *ri)
{
    const struct agent_ri *r = agent_ri_find(c, ri);
    return r ? r->vrf : 0;
}

const char *agent_vrf_ri(const struct agent_core *c, uint32_t vrf)
{
    const struct agent_ri *r = agent_ri_by_vrf(c, vrf);
    return r ? r->name : NULL;
}

size_t agent_port_count(const struct agent_core *c)
{
    return c->port_count;
}

const struct agent_port *agent_port_at(const struct agent_core *c, size_t i)
{
    return i < c->port_count ? &c->ports[i] : NULL;
}

const struct agent_port *agent_port_find(const struct agent_core *c, const char *name)
{
    for (size_t i = 0; i < c->port_count; i++) {
        if (strcmp(c->ports[i].spec.name, name) == 0) {
            return &c->ports[i];
        }
    }
    return NULL;
}

const struct agent_port *agent_port_by_ifindex(const struct agent_core *c, uint32_t ifindex)
{
    for (size_t i = 0; i < c->port_count; i++) {
        if (c->ports[i].spec.ifindex == ifindex) {
            return &c->ports[i];
        }
    }
    return NULL;
}

const struct agent_port *agent_port_by_label(const struct agent_core *c, uint32_t label)
{
    for (size_t i = 0; i < c->port_count; i++) {
        if (c->ports[i].label == label) {
            return &c->ports[i];
        }
    }
    return NULL;
}

const struct agent_port *agent_port_by_ip(const struct agent_core *c, uint32_t vrf, uint32_t ip4)
{
    for (size_t i = 0; i < c->port_count; i++) {
        if (c->ports[i].spec.vrf == vrf && c->ports[i].spec.ip4 == ip4) {
            return &c->ports[i];
        }
    }
    return NULL;
}

static uint32_t key_ip4(const struct xmpp_route_key *k)
{
    return (uint32_t)k->prefix.addr[0] << 24 | (uint32_t)k->prefix.addr[1] << 16 |
           (uint32_t)k->prefix.addr[2] << 8 | k->prefix.addr[3];
}

const struct agent_route *agent_route_lookup(const struct agent_core *c, uint32_t vrf, uint32_t ip4)
{
    const struct agent_ri *r = agent_ri_by_vrf(c, vrf);
    const struct agent_route *best = NULL;
    if (!r) {
        return NULL;
    }
    for (size_t i = 0; i < r->route_count; i++) {
        const struct agent_route *rt = &r->routes[i];
        if (rt->family != XMPP_FAMILY_INET || rt->nh == 0 || rt->key.prefix.version != 4) {
            continue;
        }
        uint32_t m = agent_ip4_mask(rt->key.plen);
        if ((ip4 & m) == (key_ip4(&rt->key) & m) && (!best || rt->key.plen > best->key.plen)) {
            best = rt;
        }
    }
    return best;
}

const char *agent_route_vn(const struct agent_route *rt)
{
    return rt->best >= 0 && rt->best < AGENT_COPIES ? rt->copy[rt->best].vn : "";
}

const struct agent_port *agent_fip_find(const struct agent_core *c, uint32_t vrf, uint32_t ip4, size_t *fip)
{
    if (c->fips == 0) {
        return NULL;
    }
    for (size_t i = 0; i < c->port_count; i++) {
        const struct agent_port *p = &c->ports[i];
        for (size_t j = 0; j < p->fip_count; j++) {
            if (p->fips[j].vrf == vrf && p->fips[j].ip4 == ip4) {
                if (fip) {
                    *fip = j;
                }
                return p;
            }
        }
    }
    return NULL;
}

bool agent_ip4_known(const struct agent_core *c, uint32_t vrf, uint32_t ip4)
{
    return agent_port_by_ip(c, vrf, ip4) != NULL || agent_route_lookup(c, vrf, ip4) != NULL ||
           agent_fip_find(c, vrf, ip4, NULL) != NULL;
}

const struct agent_tunnel *agent_tunnel_get(const struct agent_core *c, uint32_t id)
{
    for (size_t i = 0; i < AGENT_NH_TUNNEL_SPAN; i++) {
        if (c->tunnels[i].id == id && id != 0) {
            return &c->tunnels[i];
        }
    }
    return NULL;
}

const struct agent_tunnel *agent_route_tunnel_for(const struct agent_core *c, const struct agent_route *rt,
                                                  const struct dp_flow_key *k)
{
    if (rt->nh == 0 || rt->local_ifindex) {
        return NULL;
    }
    if (!rt->ecmp) {
        return agent_tunnel_get(c, rt->nh);
    }
    /* the datapath's choice (dp_fwd.c ecmp_pick): hash scaled to the members */
    uint32_t m = (uint32_t)(((uint64_t)dp_flow_hash(k) * AGENT_ECMP_SLOTS) >> 32);
    return agent_tunnel_get(c, rt->slots[m]);
}

/* ---- tunnel next hops ---- */

static uint32_t tunnel_acquire(struct agent_core *c, uint32_t dip, uint8_t encap, uint32_t label)
{
    struct agent_tunnel *free_slot = NULL;
    for (size_t i = 0; i < AGENT_NH_TUNNEL_SPAN; i++) {
        struct agent_tunnel *t = &c->tunnels[i];
        if (t->id && t->dip == dip && t->encap == encap && t->label == label) {
            t->refs++;
            return t->id;
        }
        if (!t->id && !free_slot) {
            free_slot = t;
        }
    }
    if (!free_slot) {
        return 0;
    }
    size_t slot = (size_t)(free_slot - c->tunnels);
    *free_slot = (struct agent_tunnel){
        .id = AGENT_NH_TUNNEL_BASE + (c->cfg.generation & 1u) * AGENT_NH_TUNNEL_SPAN + (uint32_t)slot,
        .dip = dip,
        .encap = encap,
        .label = label,
        .refs = 1,
    };
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_NH, 0, 0);
    m.u.nh.id = free_slot->id;
    m.u.nh.type = DP_NH_TUNNEL;
    m.u.nh.encap = encap;
    m.u.nh.ifindex = AGENT_IF_FABRIC;
    m.u.nh.label = label;
    m.u.nh.sip = c->cfg.fabric_ip;
    m.u.nh.dip = dip;
    memcpy(m.u.nh.dmac, c->cfg.router_mac, 6);
    dp_send(c, &m);
    return free_slot->id;
}

static void tunnel_release(struct agent_core *c, uint32_t id)
{
    for (size_t i = 0; i < AGENT_NH_TUNNEL_SPAN; i++) {
        struct agent_tunnel *t = &c->tunnels[i];
        if (t->id == id && id != 0) {
            if (--t->refs == 0) {
                msg_id(c, VR_MSG_NH_DEL, id);
                memset(t, 0, sizeof *t);
            }
            return;
        }
    }
}

/* ---- ECMP composites ---- */

static uint32_t ecmp_alloc(struct agent_core *c)
{
    for (uint32_t i = 0; i < AGENT_NH_ECMP_SPAN; i++) {
        if (!c->ecmp_used[i]) {
            c->ecmp_used[i] = true;
            return AGENT_NH_ECMP_BASE + (c->cfg.generation & 1u) * AGENT_NH_ECMP_SPAN + i;
        }
    }
    return 0;
}

static void ecmp_free(struct agent_core *c, uint32_t id)
{
    uint32_t base = AGENT_NH_ECMP_BASE + (c->cfg.generation & 1u) * AGENT_NH_ECMP_SPAN;
    if (id >= base && id < base + AGENT_NH_ECMP_SPAN) {
        c->ecmp_used[id - base] = false;
        msg_id(c, VR_MSG_NH_DEL, id);
    }
}

/* ---- drop flows ---- */

void agent_drop_flow_note(struct agent_core *c, const struct dp_flow_key *k)
{
    size_t at = (c->drop_head + c->drop_count) % AGENT_DROP_FLOWS_MAX;
    if (c->drop_count == AGENT_DROP_FLOWS_MAX) {
        c->drop_head = (c->drop_head + 1) % AGENT_DROP_FLOWS_MAX; /* forget the oldest */
    } else {
        c->drop_count++;
    }
    c->drop_flows[at] = *k;
}

void agent_drop_flows_lift(struct agent_core *c, uint32_t vrf, uint32_t prefix, uint8_t plen)
{
    uint32_t m = agent_ip4_mask(plen);
    size_t kept = 0;
    for (size_t i = 0; i < c->drop_count; i++) {
        const struct dp_flow_key *k = &c->drop_flows[(c->drop_head + i) % AGENT_DROP_FLOWS_MAX];
        if (k->vrf == vrf && (be32_load(k->dst) & m) == (prefix & m)) {
            struct vr_msg msg;
            vr_msg_init(&msg, VR_MSG_FLOW_DEL, 0, 0);
            msg.u.flow.key = *k;
            dp_send(c, &msg);
            agent_flow_forget(c, k);
            c->drops_lifted++;
            continue;
        }
        c->drop_flows[(c->drop_head + kept) % AGENT_DROP_FLOWS_MAX] = *k;
        kept++;
    }
    c->drop_count = kept;
}

/* ---- best path and programming ---- */

/* Whether copy 'a' (of node 'ia') beats copy 'b' (of node 'ib'). */
static bool copy_better(const struct agent_copy *a, int ia, const struct agent_copy *b, int ib)
{
    if (a->stale != b->stale) {
        return !a->stale;
    }
    if (a->local_pref != b->local_pref) {
        return a->local_pref > b->local_pref;
    }
    if (a->seq != b->seq) {
        return a->seq > b->seq;
    }
    return ia < ib;
}

static int best_copy(const struct agent_route *rt)
{
    int best = -1;
    for (int n = 0; n < AGENT_COPIES; n++) {
        if (rt->copy[n].present && (best < 0 || copy_better(&rt->copy[n], n, &rt->copy[best], best))) {
            best = n;
        }
    }
    return best;
}

/* The encapsulation and label/VNI to use for 'cp', per the preference
 * order; false when none is common. */
static bool choose_encap(const struct agent_core *c, const struct agent_path *cp, uint8_t *encap, uint32_t *label)
{
    for (size_t i = 0; i < c->cfg.encap_count; i++) {
        switch (c->cfg.encaps[i]) {
        case DP_ENCAP_MPLS_UDP:
            if (cp->encaps & XMPP_ENCAP_UDP) {
                *encap = DP_ENCAP_MPLS_UDP;
                *label = cp->label;
                return true;
            }
            break;
        case DP_ENCAP_MPLS_GRE:
            if (cp->encaps & XMPP_ENCAP_GRE) {
                *encap = DP_ENCAP_MPLS_GRE;
                *label = cp->label;
                return true;
            }
            break;
        case DP_ENCAP_VXLAN:
            if ((cp->encaps & XMPP_ENCAP_VXLAN) && cp->has_vni) {
                *encap = DP_ENCAP_VXLAN;
                *label = cp->vni;
                return true;
            }
            break;
        default:
            break;
        }
    }
    return false;
}

static void route_msg(struct agent_core *c, uint8_t type, uint32_t vrf, const struct xmpp_route_key *k, uint32_t nh)
{
    struct vr_msg m;
    vr_msg_init(&m, type, 0, 0);
    m.u.route.vrf = vrf;
    m.u.route.family = k->prefix.version == 6 ? 6 : 4;
    m.u.route.plen = k->plen;
    memcpy(m.u.route.addr, k->prefix.addr, m.u.route.family == 6 ? 16 : 4);
    m.u.route.nh = type == VR_MSG_ROUTE ? nh : 0;
    dp_send(c, &m);
}

static void mac_msg(struct agent_core *c, uint8_t type, uint32_t vrf, const uint8_t mac[6], uint32_t nh)
{
    struct vr_msg m;
    vr_msg_init(&m, type, 0, 0);
    m.u.mac.vrf = vrf;
    memcpy(m.u.mac.mac, mac, 6);
    m.u.mac.nh = type == VR_MSG_MAC ? nh : 0;
    dp_send(c, &m);
}

/* Programs (nh != 0) or removes (nh == 0) 'rt' in the datapath: a route
 * for inet/inet6, a MAC entry for EVPN. */
static void route_set(struct agent_core *c, struct agent_ri *ri, const struct agent_route *rt, uint32_t nh)
{
    if (rt->family == XMPP_FAMILY_EVPN) {
        mac_msg(c, nh ? VR_MSG_MAC : VR_MSG_MAC_DEL, ri->vrf, rt->key.mac, nh);
    } else {
        route_msg(c, nh ? VR_MSG_ROUTE : VR_MSG_ROUTE_DEL, ri->vrf, &rt->key, nh);
    }
}

/* Whether 'rt' may be programmed at all: a remote route for a local
 * port's own /32 or MAC never is (the port owns it). */
static bool route_allowed(const struct agent_core *c, const struct agent_ri *ri, const struct agent_route *rt)
{
    if (rt->family == XMPP_FAMILY_EVPN) {
        for (size_t i = 0; i < c->port_count; i++) {
            if (c->ports[i].spec.vrf == ri->vrf && memcmp(c->ports[i].spec.mac, rt->key.mac, 6) == 0) {
                return false;
            }
        }
        return true;
    }
    if (rt->key.prefix.version == 6) {
        return rt->key.plen <= 128;
    }
    return !(rt->key.plen == 32 && (agent_port_by_ip(c, ri->vrf, key_ip4(&rt->key)) ||
                                    agent_fip_find(c, ri->vrf, key_ip4(&rt->key), NULL)));
}

/* Lays 'count' distinct 'ids' over the AGENT_ECMP_SLOTS composite slots,
 * starting from the previous layout 'slots': a slot keeps its member while
 * the member stays and is within its fair share (slots / count, the first
 * slots % count members in 'ids' order one more); the freed slots go to
 * members below their share. */
static void ecmp_layout(uint32_t slots[AGENT_ECMP_SLOTS], const uint32_t *ids, size_t count)
{
    size_t have[AGENT_ECMP_PATHS] = {0};
    bool keep[AGENT_ECMP_SLOTS];
    for (size_t s = 0; s < AGENT_ECMP_SLOTS; s++) {
        keep[s] = false;
        for (size_t i = 0; i < count; i++) {
            size_t share = AGENT_ECMP_SLOTS / count + (i < AGENT_ECMP_SLOTS % count);
            if (slots[s] == ids[i] && have[i] < share) {
                have[i]++;
                keep[s] = true;
                break;
            }
        }
    }
    size_t next = 0;
    for (size_t s = 0; s < AGENT_ECMP_SLOTS; s++) {
        if (keep[s]) {
            continue;
        }
        while (have[next] >= AGENT_ECMP_SLOTS / count + (next < AGENT_ECMP_SLOTS % count)) {
            next++;
        }
        slots[s] = ids[next];
        have[next]++;
    }
}

/* Brings the datapath in line with 'rt''s best copy: one tunnel next hop
 * per path (the first encapsulation of the preference order the path
 * lists), an ECMP composite over them for two or more, then the route or
 * MAC entry. New next hops are installed before the entry points at them,
 * old ones removed after, so forwarding never sees a missing next hop. */
/* The local port of the best copy's first local path, or NULL. */
static const struct agent_port *route_local_port(const struct agent_core *c, const struct agent_route *rt)
{
    const struct agent_copy *b = &rt->copy[rt->best];
    for (size_t i = 0; i < b->path_count; i++) {
        if (b->path[i].local_ifindex) {
            return agent_port_by_ifindex(c, b->path[i].local_ifindex);
        }
    }
    return NULL;
}

static void route_program(struct agent_core *c, struct agent_ri *ri, struct agent_route *rt)
{
    rt->best = best_copy(rt);
    uint32_t want[AGENT_ECMP_PATHS];
    size_t want_count = 0;
    const struct agent_port *lp = rt->best >= 0 && route_allowed(c, ri, rt) ? route_local_port(c, rt) : NULL;
    if (lp) { /* to a port of ours: its next hop, no tunnel */
        if (rt->programmed_gen && rt->local_ifindex == lp->spec.ifindex && rt->nh == lp->nh) {
            return;
        }
        route_set(c, ri, rt, lp->nh);
        if (!rt->nh && rt->family == XMPP_FAMILY_INET && rt->key.prefix.version == 4) {
            agent_drop_flows_lift(c, ri->vrf, key_ip4(&rt->key), rt->key.plen);
        }
        if (rt->ecmp) {
            ecmp_free(c, rt->ecmp);
        }
        for (size_t i = 0; i < rt->tunnel_count; i++) {
            tunnel_release(c, rt->tunnels[i]);
        }
        rt->ecmp = 0;
        rt->tunnel_count = 0;
        rt->nh = lp->nh;
        rt->local_ifindex = lp->spec.ifindex;
        rt->programmed_gen = c->cfg.generation;
        return;
    }
    if (rt->best >= 0 && route_allowed(c, ri, rt)) {
        const struct agent_copy *b = &rt->copy[rt->best];
        for (size_t i = 0; i < b->path_count; i++) {
            uint8_t encap;
            uint32_t label;
            if (b->path[i].local_ifindex || !choose_encap(c, &b->path[i], &encap, &label)) {
                continue; /* a local path whose port is gone: never a tunnel to ourselves */
            }
            uint32_t id = tunnel_acquire(c, b->path[i].dip, encap, label);
            if (id == 0) {
                continue;
            }
            bool dup = false;
            for (size_t j = 0; j < want_count; j++) {
                dup |= want[j] == id;
            }
            if (dup) {
                tunnel_release(c, id);
            } else {
                want[want_count++] = id;
            }
        }
    }
    bool same = rt->programmed_gen && !rt->local_ifindex && want_count == rt->tunnel_count;
    for (size_t i = 0; same && i < want_count; i++) {
        same = want[i] == rt->tunnels[i];
    }
    if (same) { /* nothing changes: give back the references just taken */
        for (size_t i = 0; i < want_count; i++) {
            tunnel_release(c, want[i]);
        }
        return;
    }
    uint32_t nh = want_count == 1 ? want[0] : 0;
    uint32_t old_ecmp = rt->ecmp;
    if (want_count >= 2) {
        uint32_t id = rt->ecmp ? rt->ecmp : ecmp_alloc(c);
        if (id != 0) {
            if (!rt->ecmp) {
                for (size_t s = 0; s < AGENT_ECMP_SLOTS; s++) {
                    rt->slots[s] = 0;
                }
            }
            ecmp_layout(rt->slots, want, want_count);
            struct vr_msg m;
            vr_msg_init(&m, VR_MSG_NH, 0, 0);
            m.u.nh.id = id;
            m.u.nh.type = DP_NH_ECMP;
            m.u.nh.member_count = AGENT_ECMP_SLOTS;
            memcpy(m.u.nh.members, rt->slots, sizeof rt->slots);
            dp_send(c, &m);
            nh = id;
            old_ecmp = 0;
            rt->ecmp = id;
        } else { /* no composite left: the first path alone */
            c->alloc_failures++;
            for (size_t i = 1; i < want_count; i++) {
                tunnel_release(c, want[i]);
            }
            want_count = 1;
            nh = want[0];
        }
    }
    if (nh == 0 || nh != rt->ecmp) {
        rt->ecmp = 0;
    }
    if (nh) {
        route_set(c, ri, rt, nh);
        if (!rt->nh && rt->family == XMPP_FAMILY_INET && rt->key.prefix.version == 4) {
            agent_drop_flows_lift(c, ri->vrf, key_ip4(&rt->key), rt->key.plen);
        }
    } else if (rt->nh) {
        route_set(c, ri, rt, 0);
    }
    if (old_ecmp) {
        ecmp_free(c, old_ecmp);
    }
    for (size_t i = 0; i < rt->tunnel_count; i++) {
        tunnel_release(c, rt->tunnels[i]);
    }
    memcpy(rt->tunnels, want, want_count * sizeof *want);
    rt->tunnel_count = (uint8_t)want_count;
    rt->nh = nh;
    rt->local_ifindex = 0;
    rt->programmed_gen = nh ? c->cfg.generation : 0;
}

static bool key_eq(enum xmpp_family fa, const struct xmpp_route_key *a, enum xmpp_family fb,
                   const struct xmpp_route_key *b)
{
    return fa == fb && a->plen == b->plen && a->ethernet_tag == b->ethernet_tag &&
           a->prefix.version == b->prefix.version && memcmp(a->prefix.addr, b->prefix.addr, 16) == 0 &&
           memcmp(a->mac, b->mac, 6) == 0;
}

static struct agent_route *route_find(struct agent_ri *ri, enum xmpp_family family, const struct xmpp_route_key *k)
{
    for (size_t i = 0; i < ri->route_count; i++) {
        if (key_eq(ri->routes[i].family, &ri->routes[i].key, family, k)) {
            return &ri->routes[i];
        }
    }
    return NULL;
}

static void route_remove_at(struct agent_ri *ri, size_t i)
{
    ri->routes[i] = ri->routes[--ri->route_count];
}

/* Drops routes without any copy (after unprogramming them). */
static void ri_compact(struct agent_core *c, struct agent_ri *ri)
{
    for (size_t i = 0; i < ri->route_count;) {
        struct agent_route *rt = &ri->routes[i];
        if (best_copy(rt) < 0) {
            route_program(c, ri, rt);
            route_remove_at(ri, i);
        } else {
            i++;
        }
    }
}

/* A new route without copies; NULL (counted) when the table cannot grow. */
static struct agent_route *route_add(struct agent_core *c, struct agent_ri *ri, enum xmpp_family family,
                                     const struct xmpp_route_key *k)
{
    if (ri->route_count == ri->route_cap) {
        size_t cap = ri->route_cap ? ri->route_cap * 2 : 16;
        struct agent_route *r = realloc(ri->routes, cap * sizeof *r);
        if (!r) {
            c->alloc_failures++;
            return NULL;
        }
        ri->routes = r;
        ri->route_cap = cap;
    }
    struct agent_route *rt = &ri->routes[ri->route_count++];
    memset(rt, 0, sizeof *rt);
    rt->family = family;
    rt->key = *k;
    rt->best = -1;
    return rt;
}

bool agent_route_adopt(struct agent_core *c, const struct dp_route *r, const struct dp_nh *nh)
{
    struct agent_ri *ri = agent_ri_by_vrf(c, r->vrf);
    if (c->swept || !ri || r->family != 4 || r->gen == c->cfg.generation || nh->type != DP_NH_TUNNEL ||
        nh->id != r->nh || nh->dip == c->cfg.fabric_ip) {
        return false;
    }
    struct xmpp_route_key k = {.plen = r->plen};
    k.prefix.version = 4;
    memcpy(k.prefix.addr, r->addr, 4);
    if (agent_port_by_ip(c, ri->vrf, key_ip4(&k)) && k.plen == 32) {
        return false;
    }
    struct agent_route *rt = route_find(ri, XMPP_FAMILY_INET, &k);
    rt = rt ? rt : route_add(c, ri, XMPP_FAMILY_INET, &k);
    if (!rt) {
        return false;
    }
    struct agent_copy *c0 = &rt->copy[AGENT_COPY_DP];
    *c0 = (struct agent_copy){.present = true, .stale = true, .path_count = 1,
                              .local_pref = AGENT_DEFAULT_LOCAL_PREF};
    struct agent_path *cp = &c0->path[0];
    cp->dip = nh->dip;
    switch (nh->encap) {
    case DP_ENCAP_MPLS_GRE:
        cp->encaps = XMPP_ENCAP_GRE;
        cp->label = nh->label;
        break;
    case DP_ENCAP_MPLS_UDP:
        cp->encaps = XMPP_ENCAP_UDP;
        cp->label = nh->label;
        break;
    default:
        cp->encaps = XMPP_ENCAP_VXLAN;
        cp->has_vni = true;
        cp->vni = nh->label;
        break;
    }
    route_program(c, ri, rt);
    return true;
}

void agent_route_item(struct agent_core *c, int node, const char *ri_name, enum xmpp_family family,
                      const struct xmpp_route_item *item)
{
    struct agent_ri *ri = agent_ri_find(c, ri_name);
    if (!ri || node < 0 || node >= AGENT_MAX_NODES) {
        return;
    }
    const struct xmpp_route_key *k = &item->entry.key;
    struct agent_route *rt = route_find(ri, family, k);
    if (item->retract) {
        if (rt && rt->copy[node].present) {
            rt->copy[node].present = false;
            route_program(c, ri, rt);
            ri_compact(c, ri);
        }
        return;
    }
    /* the IPv4 next hops that are not us, distinct endpoints; us with the
     * routed label of one of our ports: that port (next-hop-self of a
     * service chain); us otherwise: our own route reflected, ignored */
    struct agent_copy cp = {.present = true};
    for (size_t i = 0; i < item->entry.next_hop_count && cp.path_count < AGENT_ECMP_PATHS; i++) {
        const struct xmpp_nexthop *h = &item->entry.next_hops[i];
        uint32_t dip = key_ip4(&(struct xmpp_route_key){.prefix = h->address});
        const struct agent_port *lp = NULL;
        bool dup = false;
        for (size_t j = 0; j < cp.path_count; j++) {
            dup |= cp.path[j].dip == dip;
        }
        if (h->address.version == 4 && dip == c->cfg.fabric_ip && family == XMPP_FAMILY_INET && !dup) {
            lp = agent_port_by_label(c, h->label);
        }
        if (h->address.version != 4 || (dip == c->cfg.fabric_ip && !lp) || dip == 0 || dup) {
            continue;
        }
        cp.path[cp.path_count++] = (struct agent_path){.dip = dip, .label = h->label, .has_vni = h->has_vni,
                                                       .vni = h->vni, .encaps = h->encaps,
                                                       .local_ifindex = lp ? lp->spec.ifindex : 0};
    }
    if (cp.path_count == 0) {
        if (rt && rt->copy[node].present) { /* now only our own next hop: not a remote route */
            rt->copy[node].present = false;
            route_program(c, ri, rt);
            ri_compact(c, ri);
        }
        return;
    }
    rt = rt ? rt : route_add(c, ri, family, k);
    if (!rt) {
        return;
    }
    cp.local_pref = item->entry.has_local_preference ? item->entry.local_preference : AGENT_DEFAULT_LOCAL_PREF;
    cp.seq = item->entry.sequence_number;
    size_t vn_len = strnlen(item->entry.virtual_network, sizeof item->entry.virtual_network);
    if (vn_len < sizeof cp.vn) {
        memcpy(cp.vn, item->entry.virtual_network, vn_len);
        cp.vn[vn_len] = '\0';
    }
    rt->copy[node] = cp;
    route_program(c, ri, rt);
}

/* ---- ports ---- */

static void fip_publish(struct agent_core *c, int node, const struct agent_port *p, const struct agent_fip *f,
                        bool withdraw);

static void port_publish(struct agent_core *c, int node, const struct agent_port *p, bool withdraw)
{
    for (size_t i = 0; i < p->fip_count; i++) {
        fip_publish(c, node, p, &p->fips[i], withdraw);
    }
    struct xmpp_route_entry *e = &c->scratch;
    memset(e, 0, sizeof *e);
    e->key.prefix.version = 4;
    be32_store(e->key.prefix.addr, p->spec.ip4);
    e->key.plen = 32;
    struct xmpp_nexthop *nh = &e->next_hops[0];
    e->next_hop_count = 1;
    nh->address.version = 4;
    be32_store(nh->address.addr, c->cfg.fabric_ip);
    nh->label = p->label;
    nh->has_vni = p->spec.vni != 0;
    nh->vni = p->spec.vni;
    for (size_t i = 0; i < c->cfg.encap_count; i++) {
        switch (c->cfg.encaps[i]) {
        case DP_ENCAP_MPLS_GRE:
            nh->encaps |= XMPP_ENCAP_GRE;
            break;
        case DP_ENCAP_MPLS_UDP:
            nh->encaps |= XMPP_ENCAP_UDP;
            break;
        case DP_ENCAP_VXLAN:
            if (p->spec.vni) {
                nh->encaps |= XMPP_ENCAP_VXLAN;
            }
            break;
        default:
            break;
        }
    }
    if (nh->encaps == 0) {
        nh->encaps = XMPP_ENCAP_GRE; /* VXLAN only, port without VNI: MPLS still works */
    }
    snprintf(e->virtual_network, sizeof e->virtual_network, "%s", p->spec.vn[0] ? p->spec.vn : p->spec.ri);
    for (int pass = 0; pass < 2; pass++) {
        e->family = pass == 0 ? XMPP_FAMILY_INET : XMPP_FAMILY_EVPN;
        if (pass == 1) {
            memcpy(e->key.mac, p->spec.mac, 6);
            e->key.ethernet_tag = 0;
            nh->label = p->l2_label; /* bridged frames: Ethernet after the label */
        }
        if (withdraw) {
            if (c->ops.withdraw) {
                c->ops.withdraw(c->arg, node, p->spec.ri, e->family, &e->key);
            }
        } else if (c->ops.publish) {
            c->ops.publish(c->arg, node, p->spec.ri, e);
        }
    }
}

static uint32_t vrf_alloc(const struct agent_core *c)
{
    for (uint32_t v = 1; v <= AGENT_VRFS_MAX; v++) {
        if (!agent_ri_by_vrf(c, v)) {
            return v;
        }
    }
    return 0;
}

static uint32_t ifindex_alloc(const struct agent_core *c)
{
    for (uint32_t i = AGENT_IF_FIRST_PORT; i < AGENT_IF_FIRST_PORT + AGENT_PORTS_MAX; i++) {
        if (!agent_port_by_ifindex(c, i)) {
            return i;
        }
    }
    return 0;
}

static void port_install(struct agent_core *c, const struct agent_port *p)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_IF, 0, 0);
    struct dp_if *i = &m.u.ifc.dpif;
    i->ifindex = p->spec.ifindex;
    i->type = DP_IF_VM;
    i->flags = DP_IF_POLICY;
    i->vrf = p->spec.vrf;
    memcpy(i->mac, p->spec.mac, 6);
    i->gw_ip4 = p->spec.gw4;
    i->dns_ip4 = p->spec.dns4 ? p->spec.dns4 : p->spec.gw4;
    snprintf(m.u.ifc.name, sizeof m.u.ifc.name, "%s", p->spec.tap);
    dp_send(c, &m);
    vr_msg_init(&m, VR_MSG_NH, 0, 0);
    m.u.nh.id = p->nh;
    m.u.nh.type = DP_NH_IF;
    m.u.nh.ifindex = p->spec.ifindex;
    memcpy(m.u.nh.dmac, p->spec.mac, 6);
    dp_send(c, &m);
    vr_msg_init(&m, VR_MSG_LABEL, 0, 0);
    m.u.label.label = p->label;
    m.u.label.nh = p->nh;
    dp_send(c, &m);
    vr_msg_init(&m, VR_MSG_NH, 0, 0);
    m.u.nh.id = p->l2_nh;
    m.u.nh.type = DP_NH_IF;
    m.u.nh.flags = DP_NH_L2;
    m.u.nh.ifindex = p->spec.ifindex;
    memcpy(m.u.nh.dmac, p->spec.mac, 6);
    dp_send(c, &m);
    vr_msg_init(&m, VR_MSG_LABEL, 0, 0);
    m.u.label.label = p->l2_label;
    m.u.label.nh = p->l2_nh;
    dp_send(c, &m);
    mac_msg(c, VR_MSG_MAC, p->spec.vrf, p->spec.mac, p->l2_nh);
    if (p->spec.vni) {
        vr_msg_init(&m, VR_MSG_VNI, 0, 0);
        m.u.vni.vni = p->spec.vni;
        m.u.vni.vrf = p->spec.vrf;
        dp_send(c, &m);
    }
    struct xmpp_route_key k = {.plen = 32};
    k.prefix.version = 4;
    be32_store(k.prefix.addr, p->spec.ip4);
    route_msg(c, VR_MSG_ROUTE, p->spec.vrf, &k, p->nh);
}

static void ri_reprogram(struct agent_core *c, struct agent_ri *ri)
{
    for (size_t i = 0; i < ri->route_count; i++) {
        route_program(c, ri, &ri->routes[i]);
    }
}

int agent_port_add(struct agent_core *c, const struct agent_port_spec *spec)
{
    if (!spec->name[0] || !spec->tap[0] || !spec->ri[0] || spec->ip4 == 0 || spec->plen > 32 ||
        spec->vni > XMPP_VNI_MAX || (spec->ifindex && (spec->ifindex < AGENT_IF_FIRST_PORT ||
                                                       spec->ifindex >= AGENT_IF_FIRST_PORT + AGENT_PORTS_MAX)) ||
        spec->vrf > AGENT_VRFS_MAX) {
        return AGENT_EINVAL;
    }
    if (agent_port_find(c, spec->name)) {
        return AGENT_EEXIST;
    }
    for (size_t i = 0; i < c->port_count; i++) {
        if (strcmp(c->ports[i].spec.tap, spec->tap) == 0) {
            return AGENT_ECONFLICT;
        }
    }
    struct agent_ri *ri = agent_ri_find(c, spec->ri);
    uint32_t vrf;
    if (ri) {
        vrf = ri->vrf;
        if (spec->vrf && spec->vrf != vrf) {
            return AGENT_ECONFLICT;
        }
        if (agent_port_by_ip(c, vrf, spec->ip4)) {
            return AGENT_ECONFLICT;
        }
    } else {
        vrf = spec->vrf ? spec->vrf : vrf_alloc(c);
        if (vrf == 0) {
            return AGENT_EFULL;
        }
        if (agent_ri_by_vrf(c, vrf)) {
            return AGENT_ECONFLICT;
        }
    }
    uint32_t ifindex = spec->ifindex ? spec->ifindex : ifindex_alloc(c);
    if (ifindex == 0) {
        return AGENT_EFULL;
    }
    if (agent_port_by_ifindex(c, ifindex)) {
        return AGENT_ECONFLICT;
    }
    /* allocate everything before changing anything */
    struct agent_port *ports = realloc(c->ports, (c->port_count + 1) * sizeof *ports);
    if (!ports) {
        return AGENT_ENOMEM;
    }
    c->ports = ports;
    bool new_ri = ri == NULL;
    if (new_ri) {
        struct agent_ri **ris = realloc(c->ris, (c->ri_count + 1) * sizeof *ris);
        if (!ris) {
            return AGENT_ENOMEM;
        }
        c->ris = ris;
        ri = calloc(1, sizeof *ri);
        if (!ri) {
            return AGENT_ENOMEM;
        }
        snprintf(ri->name, sizeof ri->name, "%s", spec->ri);
        ri->vrf = vrf;
        c->ris[c->ri_count++] = ri;
    }
    size_t at = 0;
    while (at < c->port_count && c->ports[at].spec.ifindex < ifindex) {
        at++;
    }
    memmove(&c->ports[at + 1], &c->ports[at], (c->port_count - at) * sizeof *c->ports);
    struct agent_port *p = &c->ports[at];
    memset(p, 0, sizeof *p);
    p->spec = *spec;
    p->spec.ifindex = ifindex;
    p->spec.vrf = vrf;
    p->nh = AGENT_NH_PORT_BASE + ifindex;
    p->label = AGENT_LABEL_BASE + ifindex;
    p->l2_nh = AGENT_NH_L2_BASE + ifindex;
    p->l2_label = AGENT_LABEL_L2_BASE + ifindex;
    c->port_count++;
    ri->ports++;
    if (new_ri) {
        struct vr_msg m;
        vr_msg_init(&m, VR_MSG_VRF, 0, 0);
        m.u.vrf.vrf = vrf;
        dp_send(c, &m);
    }
    /* a remote /32 for this address stops being programmed (before the
     * local route goes in: unprogramming it deletes the prefix) */
    ri_reprogram(c, ri);
    port_install(c, p);
    agent_drop_flows_lift(c, vrf, p->spec.ip4, 32);
    for (int n = 0; n < (int)c->cfg.node_count; n++) {
        if (!c->node_up[n]) {
            continue;
        }
        if (new_ri && c->ops.subscribe) {
            c->ops.subscribe(c->arg, n, ri->name, ri->vrf);
        }
        port_publish(c, n, p, false);
    }
    return 0;
}

static void ri_remove(struct agent_core *c, struct agent_ri *ri)
{
    for (size_t i = 0; i < ri->route_count; i++) {
        struct agent_route *rt = &ri->routes[i];
        memset(rt->copy, 0, sizeof rt->copy);
        route_program(c, ri, rt);
    }
    for (int n = 0; n < (int)c->cfg.node_count; n++) {
        if (c->node_up[n] && c->ops.unsubscribe) {
            c->ops.unsubscribe(c->arg, n, ri->name);
        }
    }
    msg_id(c, VR_MSG_VRF_DEL, ri->vrf);
    for (size_t i = 0; i < c->ri_count; i++) {
        if (c->ris[i] == ri) {
            c->ris[i] = c->ris[--c->ri_count];
            break;
        }
    }
    free(ri->routes);
    free(ri);
}

static void fips_drop(struct agent_core *c, struct agent_port *p);

int agent_port_del(struct agent_core *c, const char *name)
{
    const struct agent_port *found = agent_port_find(c, name);
    if (!found) {
        return AGENT_ENOENT;
    }
    size_t at = (size_t)(found - c->ports);
    if (found->fip_count > 0) {
        fips_drop(c, &c->ports[at]);
        agent_flow_flush(c); /* NAT flows of its floating IPs */
    }
    struct agent_port p = *found;
    struct agent_ri *ri = agent_ri_find(c, p.spec.ri);
    for (int n = 0; n < (int)c->cfg.node_count; n++) {
        if (c->node_up[n]) {
            port_publish(c, n, &p, true);
        }
    }
    memmove(&c->ports[at], &c->ports[at + 1], (c->port_count - at - 1) * sizeof *c->ports);
    c->port_count--;
    struct xmpp_route_key k = {.plen = 32};
    k.prefix.version = 4;
    be32_store(k.prefix.addr, p.spec.ip4);
    route_msg(c, VR_MSG_ROUTE_DEL, p.spec.vrf, &k, 0);
    mac_msg(c, VR_MSG_MAC_DEL, p.spec.vrf, p.spec.mac, 0);
    msg_id(c, VR_MSG_LABEL_DEL, p.label);
    msg_id(c, VR_MSG_LABEL_DEL, p.l2_label);
    bool vni_used = false;
    for (size_t i = 0; i < c->port_count; i++) {
        vni_used |= p.spec.vni && c->ports[i].spec.vni == p.spec.vni;
    }
    if (p.spec.vni && !vni_used) {
        msg_id(c, VR_MSG_VNI_DEL, p.spec.vni);
    }
    /* routes to the port (service chains' next-hop-self) go before its next hop */
    for (size_t r = 0; r < c->ri_count; r++) {
        for (size_t i = 0; i < c->ris[r]->route_count; i++) {
            if (c->ris[r]->routes[i].local_ifindex == p.spec.ifindex) {
                route_program(c, c->ris[r], &c->ris[r]->routes[i]);
            }
        }
    }
    msg_id(c, VR_MSG_IF_DEL, p.spec.ifindex);
    msg_id(c, VR_MSG_NH_DEL, p.nh);
    msg_id(c, VR_MSG_NH_DEL, p.l2_nh);
    if (p.policy) {
        agent_policy_free(p.policy);
        agent_flow_flush(c); /* its flows were decided by its policy */
    }
    if (ri && --ri->ports == 0) {
        ri_remove(c, ri);
    } else if (ri) {
        ri_reprogram(c, ri); /* a remote copy of the address may apply now */
    }
    return 0;
}

int agent_port_policy_set(struct agent_core *c, const char *name, struct agent_policy *policy)
{
    const struct agent_port *found = agent_port_find(c, name);
    if (!found) {
        agent_policy_free(policy);
        return AGENT_ENOENT;
    }
    struct agent_port *p = &c->ports[found - c->ports];
    bool same = (!p->policy && !policy) || (p->policy && policy && agent_policy_equal(p->policy, policy));
    agent_policy_free(p->policy);
    p->policy = policy;
    if (!same) {
        agent_flow_flush(c);
    }
    return 0;
}

/* ---- floating IPs ---- */

static void fip_route_msg(struct agent_core *c, uint8_t type, uint32_t vrf, uint32_t ip4, uint32_t nh)
{
    struct xmpp_route_key k = {.plen = 32};
    k.prefix.version = 4;
    be32_store(k.prefix.addr, ip4);
    route_msg(c, type, vrf, &k, nh);
}

/* Publishes (or withdraws) floating IP 'f' of port 'p' in its pool
 * instance: ADDR/32, next hop this agent, the port's label, the pool
 * network, the MPLS encapsulations of the preference order. */
static void fip_publish(struct agent_core *c, int node, const struct agent_port *p, const struct agent_fip *f,
                        bool withdraw)
{
    struct xmpp_route_entry *e = &c->scratch;
    memset(e, 0, sizeof *e);
    e->family = XMPP_FAMILY_INET;
    e->key.prefix.version = 4;
    be32_store(e->key.prefix.addr, f->ip4);
    e->key.plen = 32;
    if (withdraw) {
        if (c->ops.withdraw) {
            c->ops.withdraw(c->arg, node, f->ri, e->family, &e->key);
        }
        return;
    }
    struct xmpp_nexthop *nh = &e->next_hops[0];
    e->next_hop_count = 1;
    nh->address.version = 4;
    be32_store(nh->address.addr, c->cfg.fabric_ip);
    nh->label = p->label;
    for (size_t i = 0; i < c->cfg.encap_count; i++) {
        nh->encaps |= c->cfg.encaps[i] == DP_ENCAP_MPLS_GRE   ? XMPP_ENCAP_GRE
                      : c->cfg.encaps[i] == DP_ENCAP_MPLS_UDP ? XMPP_ENCAP_UDP
                                                              : 0;
    }
    if (nh->encaps == 0) {
        nh->encaps = XMPP_ENCAP_GRE;
    }
    snprintf(e->virtual_network, sizeof e->virtual_network, "%s", f->vn[0] ? f->vn : f->ri);
    if (c->ops.publish) {
        c->ops.publish(c->arg, node, f->ri, e);
    }
}

static void fips_free(const struct agent_fip *fips, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        agent_policy_free(fips[i].policy);
    }
}

static bool fip_same(const struct agent_fip *a, const struct agent_fip *b)
{
    return a->ip4 == b->ip4 && strcmp(a->ri, b->ri) == 0 && strcmp(a->vn, b->vn) == 0 &&
           ((!a->policy && !b->policy) || (a->policy && b->policy && agent_policy_equal(a->policy, b->policy)));
}

/* Whether 'fips[0..count)' holds address 'ip4' of instance 'ri'. */
static bool fip_listed(const struct agent_fip *fips, size_t count, uint32_t ip4, const char *ri)
{
    for (size_t i = 0; i < count; i++) {
        if (fips[i].ip4 == ip4 && strcmp(fips[i].ri, ri) == 0) {
            return true;
        }
    }
    return false;
}

/* Releases the floating IPs of 'p' not in 'keep[0..keep_count)' (the
 * publication, the route) and every one's instance reference and policy;
 * the port's list is empty afterwards. */
static void fips_release(struct agent_core *c, struct agent_port *p, const struct agent_fip *keep, size_t keep_count)
{
    struct agent_fip old[AGENT_FIP_MAX];
    size_t count = p->fip_count;
    for (size_t i = 0; i < count; i++) {
        old[i] = p->fips[i];
        if (!fip_listed(keep, keep_count, old[i].ip4, old[i].ri)) {
            for (int n = 0; n < (int)c->cfg.node_count; n++) {
                if (c->node_up[n]) {
                    fip_publish(c, n, p, &old[i], true);
                }
            }
            fip_route_msg(c, VR_MSG_ROUTE_DEL, old[i].vrf, old[i].ip4, 0);
        }
    }
    c->fips -= count;
    memset(p->fips, 0, sizeof p->fips);
    p->fip_count = 0;
    /* the list is empty now: a remote copy of a released address may apply */
    for (size_t i = 0; i < count; i++) {
        struct agent_ri *ri = agent_ri_find(c, old[i].ri);
        if (ri && --ri->ports == 0) {
            ri_remove(c, ri);
        } else if (ri) {
            ri_reprogram(c, ri);
        }
        agent_policy_free(old[i].policy);
    }
}

static void fips_drop(struct agent_core *c, struct agent_port *p)
{
    fips_release(c, p, NULL, 0);
}

int agent_port_fips_set(struct agent_core *c, const char *name, const struct agent_fip *fips, size_t count)
{
    const struct agent_port *found = agent_port_find(c, name);
    int rc = !found ? AGENT_ENOENT : count > AGENT_FIP_MAX || (count > 0 && !fips) ? AGENT_EINVAL : 0;
    size_t new_ris = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const struct agent_fip *f = &fips[i];
        if (f->ip4 == 0 || !f->ri[0] || memchr(f->ri, 0, sizeof f->ri) == NULL ||
            memchr(f->vn, 0, sizeof f->vn) == NULL || fip_listed(fips, i, f->ip4, f->ri)) {
            rc = AGENT_EINVAL;
            break;
        }
        const struct agent_ri *ri = agent_ri_find(c, f->ri);
        if (ri && (agent_port_by_ip(c, ri->vrf, f->ip4) ||
                   (agent_fip_find(c, ri->vrf, f->ip4, NULL) && agent_fip_find(c, ri->vrf, f->ip4, NULL) != found))) {
            rc = AGENT_ECONFLICT;
        }
        bool seen = false;
        for (size_t j = 0; j < i; j++) {
            seen |= strcmp(fips[j].ri, f->ri) == 0;
        }
        new_ris += !ri && !seen;
    }
    if (rc == 0 && found->fip_count == count) {
        bool same = true;
        for (size_t i = 0; i < count; i++) {
            same &= fip_same(&found->fips[i], &fips[i]);
        }
        if (same) {
            fips_free(fips, count);
            return 0;
        }
    }
    /* allocate everything before changing anything */
    size_t free_vrfs = 0;
    for (uint32_t v = 1; rc == 0 && v <= AGENT_VRFS_MAX && free_vrfs < new_ris; v++) {
        free_vrfs += agent_ri_by_vrf(c, v) == NULL;
    }
    if (rc == 0 && free_vrfs < new_ris) {
        rc = AGENT_EFULL;
    }
    struct agent_ri *made[AGENT_FIP_MAX] = {0};
    if (rc == 0 && new_ris > 0) {
        struct agent_ri **ris = realloc(c->ris, (c->ri_count + new_ris) * sizeof *ris);
        rc = ris ? 0 : AGENT_ENOMEM;
        c->ris = ris ? ris : c->ris;
        for (size_t i = 0; rc == 0 && i < new_ris; i++) {
            made[i] = calloc(1, sizeof *made[i]);
            rc = made[i] ? 0 : AGENT_ENOMEM;
        }
    }
    if (rc != 0) {
        for (size_t i = 0; i < AGENT_FIP_MAX; i++) {
            free(made[i]);
        }
        fips_free(fips, count);
        return rc;
    }
    struct agent_port *p = &c->ports[found - c->ports];
    struct agent_fip next[AGENT_FIP_MAX];
    for (size_t i = 0; i < count; i++) {
        next[i] = fips[i];
    }
    /* the new set's instances first, so one shared with the old set stays */
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        struct agent_ri *ri = agent_ri_find(c, next[i].ri);
        if (!ri) {
            ri = made[used++];
            snprintf(ri->name, sizeof ri->name, "%s", next[i].ri);
            bool restore = next[i].vrf >= 1 && next[i].vrf <= AGENT_VRFS_MAX && !agent_ri_by_vrf(c, next[i].vrf);
            ri->vrf = restore ? next[i].vrf : vrf_alloc(c);
            c->ris[c->ri_count++] = ri;
            struct vr_msg m;
            vr_msg_init(&m, VR_MSG_VRF, 0, 0);
            m.u.vrf.vrf = ri->vrf;
            dp_send(c, &m);
            for (int n = 0; n < (int)c->cfg.node_count; n++) {
                if (c->node_up[n] && c->ops.subscribe) {
                    c->ops.subscribe(c->arg, n, ri->name, ri->vrf);
                }
            }
        }
        ri->ports++;
        next[i].vrf = ri->vrf;
    }
    fips_release(c, p, next, count);
    for (size_t i = 0; i < count; i++) {
        p->fips[i] = next[i];
    }
    p->fip_count = count;
    c->fips += count;
    for (size_t i = 0; i < count; i++) {
        struct agent_fip *f = &p->fips[i];
        /* a remote copy of the address stops being programmed, before the
         * local route goes in (unprogramming it deletes the prefix) */
        ri_reprogram(c, agent_ri_find(c, f->ri));
        fip_route_msg(c, VR_MSG_ROUTE, f->vrf, f->ip4, p->nh);
        agent_drop_flows_lift(c, f->vrf, f->ip4, 32);
        for (int n = 0; n < (int)c->cfg.node_count; n++) {
            if (c->node_up[n]) {
                fip_publish(c, n, p, f, false);
            }
        }
    }
    agent_flow_flush(c); /* decided again with the new set */
    return 0;
}

int agent_vn_subnets_set(struct agent_core *c, const struct agent_vn_subnet *subnets, size_t count)
{
    struct agent_vn_subnet *copy = NULL;
    if (count > 0) {
        copy = malloc(count * sizeof *copy);
        if (!copy) {
            return AGENT_ENOMEM;
        }
        memcpy(copy, subnets, count * sizeof *copy);
    }
    free(c->vn_subnets);
    c->vn_subnets = copy;
    c->vn_subnet_count = count;
    return 0;
}

int agent_encap_set(struct agent_core *c, const uint8_t *encaps, size_t count)
{
    if (count == 0 || count > 3) {
        return AGENT_EINVAL;
    }
    for (size_t i = 0; i < count; i++) {
        if (encaps[i] < DP_ENCAP_MPLS_GRE || encaps[i] > DP_ENCAP_VXLAN) {
            return AGENT_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (encaps[j] == encaps[i]) {
                return AGENT_EINVAL;
            }
        }
    }
    if (count == c->cfg.encap_count && memcmp(encaps, c->cfg.encaps, count) == 0) {
        return 0;
    }
    memcpy(c->cfg.encaps, encaps, count);
    c->cfg.encap_count = count;
    for (size_t i = 0; i < c->ri_count; i++) {
        ri_reprogram(c, c->ris[i]);
    }
    for (int n = 0; n < (int)c->cfg.node_count; n++) {
        for (size_t i = 0; c->node_up[n] && i < c->port_count; i++) {
            port_publish(c, n, &c->ports[i], false);
        }
    }
    return 0;
}

/* ---- control nodes ---- */

void agent_node_up(struct agent_core *c, int node)
{
    if (node < 0 || node >= (int)c->cfg.node_count) {
        return;
    }
    c->node_up[node] = true;
    c->node_eor[node] = false;
    for (size_t i = 0; i < c->ri_count; i++) {
        if (c->ops.subscribe) {
            c->ops.subscribe(c->arg, node, c->ris[i]->name, c->ris[i]->vrf);
        }
    }
    for (size_t i = 0; i < c->port_count; i++) {
        port_publish(c, node, &c->ports[i], false);
    }
    if (c->ops.eor) {
        c->ops.eor(c->arg, node);
    }
}

void agent_node_down(struct agent_core *c, int node)
{
    if (node < 0 || node >= (int)c->cfg.node_count) {
        return;
    }
    c->node_up[node] = false;
    c->node_eor[node] = false;
    for (size_t i = 0; i < c->ri_count; i++) {
        struct agent_ri *ri = c->ris[i];
        for (size_t j = 0; j < ri->route_count; j++) {
            struct agent_route *rt = &ri->routes[j];
            if (rt->copy[node].present && !rt->copy[node].stale) {
                rt->copy[node].stale = true;
                route_program(c, ri, rt);
            }
        }
    }
}

static size_t remove_stale(struct agent_core *c, int node)
{
    size_t removed = 0;
    for (size_t i = 0; i < c->ri_count; i++) {
        struct agent_ri *ri = c->ris[i];
        for (size_t j = 0; j < ri->route_count; j++) {
            struct agent_route *rt = &ri->routes[j];
            for (int n = 0; n < AGENT_COPIES; n++) {
                if ((node < 0 || n == node) && rt->copy[n].present && rt->copy[n].stale) {
                    rt->copy[n].present = false;
                    removed++;
                    route_program(c, ri, rt);
                }
            }
        }
        ri_compact(c, ri);
    }
    return removed;
}

void agent_generation_sweep(struct agent_core *c)
{
    if (c->swept) {
        return;
    }
    c->swept = true;
    remove_stale(c, AGENT_COPY_DP);
    msg_id(c, VR_MSG_SWEEP, c->cfg.generation);
}

bool agent_generation_swept(const struct agent_core *c)
{
    return c->swept;
}

void agent_node_eor(struct agent_core *c, int node)
{
    if (node < 0 || node >= (int)c->cfg.node_count || !c->node_up[node]) {
        return;
    }
    c->node_eor[node] = true;
    remove_stale(c, node);
    bool all = true;
    for (int n = 0; n < (int)c->cfg.node_count; n++) {
        all &= !c->node_up[n] || c->node_eor[n];
    }
    if (all) {
        agent_generation_sweep(c);
    }
}

void agent_node_in_sync(struct agent_core *c, int node, const char *ri_name)
{
    struct agent_ri *ri = agent_ri_find(c, ri_name);
    if (!ri || node < 0 || node >= (int)c->cfg.node_count) {
        return;
    }
    for (size_t j = 0; j < ri->route_count; j++) {
        struct agent_route *rt = &ri->routes[j];
        if (rt->copy[node].present && rt->copy[node].stale) {
            rt->copy[node].stale = false;
            route_program(c, ri, rt);
        }
    }
}

size_t agent_stale_expire(struct agent_core *c)
{
    return remove_stale(c, -1);
}

void agent_status_get(const struct agent_core *c, struct agent_status *st)
{
    memset(st, 0, sizeof *st);
    st->generation = c->cfg.generation;
    st->swept = c->swept;
    st->ports = c->port_count;
    st->instances = c->ri_count;
    for (size_t i = 0; i < c->ri_count; i++) {
        const struct agent_ri *ri = c->ris[i];
        st->routes += ri->route_count;
        for (size_t j = 0; j < ri->route_count; j++) {
            st->programmed += ri->routes[j].nh != 0;
            st->ecmp_nhs += ri->routes[j].ecmp != 0;
            st->macs += ri->routes[j].nh != 0 && ri->routes[j].family == XMPP_FAMILY_EVPN;
            st->adopted += ri->routes[j].copy[AGENT_COPY_DP].present;
            for (int n = 0; n < AGENT_COPIES; n++) {
                st->stale_copies += ri->routes[j].copy[n].present && ri->routes[j].copy[n].stale;
            }
        }
    }
    for (size_t i = 0; i < AGENT_NH_TUNNEL_SPAN; i++) {
        st->tunnel_nhs += c->tunnels[i].id != 0;
    }
    for (int n = 0; n < AGENT_MAX_NODES; n++) {
        st->node_up[n] = c->node_up[n];
        st->node_eor[n] = c->node_eor[n];
    }
    st->flows_forward = c->flows_forward;
    st->flows_drop = c->flows_drop;
    st->drops_lifted = c->drops_lifted;
    st->alloc_failures = c->alloc_failures;
    st->punts_bad = c->punts_bad;
    st->flow_entries = c->flows.count;
    st->flows_over_limit = c->flows_over_limit;
    st->flows_aged = c->flows_aged;
    st->flows_denied = c->flows_denied;
    st->flows_nat = c->flows_nat;
    st->fips = c->fips;
}

static int put_str(struct buf *out, const char *s)
{
    return buf_put(out, s, strlen(s));
}

int agent_routes_format(const struct agent_core *c, const char *name, struct buf *out)
{
    const struct agent_ri *ri = agent_ri_find(c, name);
    if (!ri) {
        return AGENT_ENOENT;
    }
    char line[256], a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
    int rc = 0;
    for (size_t i = 0; i < c->port_count && rc == 0; i++) {
        const struct agent_port *p = &c->ports[i];
        if (p->spec.vrf != ri->vrf) {
            continue;
        }
        uint32_t ip = htonl(p->spec.ip4);
        inet_ntop(AF_INET, &ip, a, sizeof a);
        snprintf(line, sizeof line, "inet %s/32 local port=%s nh=%u label=%u\n", a, p->spec.name, p->nh, p->label);
        rc = put_str(out, line);
    }
    for (size_t i = 0; i < c->port_count && rc == 0; i++) {
        const struct agent_port *p = &c->ports[i];
        for (size_t j = 0; j < p->fip_count && rc == 0; j++) {
            if (p->fips[j].vrf != ri->vrf) {
                continue;
            }
            uint32_t ip = htonl(p->fips[j].ip4), fixed = htonl(p->spec.ip4);
            inet_ntop(AF_INET, &ip, a, sizeof a);
            inet_ntop(AF_INET, &fixed, b, sizeof b);
            snprintf(line, sizeof line, "inet %s/32 local fip port=%s fixed=%s nh=%u label=%u\n", a, p->spec.name, b,
                     p->nh, p->label);
            rc = put_str(out, line);
        }
    }
    for (size_t i = 0; i < ri->route_count && rc == 0; i++) {
        const struct agent_route *rt = &ri->routes[i];
        char key[96];
        if (rt->family == XMPP_FAMILY_EVPN) {
            const uint8_t *m = rt->key.mac;
            snprintf(key, sizeof key, "evpn %u-%02x:%02x:%02x:%02x:%02x:%02x", rt->key.ethernet_tag, m[0], m[1], m[2],
                     m[3], m[4], m[5]);
        } else if (rt->key.prefix.version == 4) {
            inet_ntop(AF_INET, rt->key.prefix.addr, a, sizeof a);
            snprintf(key, sizeof key, "inet %s/%u", a, rt->key.plen);
        } else {
            inet_ntop(AF_INET6, rt->key.prefix.addr, b, sizeof b);
            snprintf(key, sizeof key, "inet6 %s/%u", b, rt->key.plen);
        }
        rc = put_str(out, key);
        for (int n = 0; n < AGENT_COPIES && rc == 0; n++) {
            const struct agent_copy *cp = &rt->copy[n];
            if (n == AGENT_COPY_DP && !cp->present) {
                continue;
            }
            if (n == AGENT_COPY_DP) {
                uint32_t ip = htonl(cp->path[0].dip);
                inet_ntop(AF_INET, &ip, a, sizeof a);
                snprintf(line, sizeof line, " dp=%s,label=%u,adopted", a, cp->path[0].label);
                rc = put_str(out, line);
                continue;
            }
            if (!cp->present) {
                snprintf(line, sizeof line, " node%d=-", n);
                rc = put_str(out, line);
                continue;
            }
            for (size_t pi = 0; pi < cp->path_count && rc == 0; pi++) {
                const struct agent_path *pa = &cp->path[pi];
                uint32_t ip = htonl(pa->dip);
                inet_ntop(AF_INET, &ip, a, sizeof a);
                if (pi == 0) {
                    snprintf(line, sizeof line, " node%d=%s,label=%u,vni=%u", n, a, pa->label,
                             pa->has_vni ? pa->vni : 0);
                } else {
                    snprintf(line, sizeof line, "|%s,label=%u,vni=%u", a, pa->label, pa->has_vni ? pa->vni : 0);
                }
                rc = put_str(out, line);
            }
            snprintf(line, sizeof line, ",lp=%u,seq=%u%s", cp->local_pref, cp->seq, cp->stale ? ",stale" : "");
            rc = rc ? rc : put_str(out, line);
        }
        if (rc == 0) {
            snprintf(line, sizeof line, " best=%d nh=%u%s\n", rt->best, rt->nh, rt->ecmp ? " ecmp" : "");
            rc = put_str(out, line);
        }
    }
    return rc == 0 ? 0 : LIB_ENOMEM;
}

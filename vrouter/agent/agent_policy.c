/* The policy decision of a flow's first packet (agent.h, "policy"): the
 * access-control lists the agent received, compiled into plain rules
 * (agent_cfg.c builds them from the controller's config), evaluated for
 * the two ends of a flow — the network ACL of each local end (network
 * policies: the first matching entry decides, no match allows traffic
 * within a network and drops it across networks) and the security groups
 * of each local end (egress of the source port, ingress of the destination
 * port; allow lists). Pure, no allocation: called on every flow miss. */
#include <stdlib.h>
#include <string.h>

#include "vrouter/agent/agent_int.h"

void agent_policy_free(struct agent_policy *p)
{
    if (!p) {
        return;
    }
    free(p->vn_acl.rules);
    free(p->sg_ingress.rules);
    free(p->sg_egress.rules);
    free(p);
}

static bool acl_equal(const struct agent_acl *a, const struct agent_acl *b)
{
    return a->count == b->count && (a->count == 0 || memcmp(a->rules, b->rules, a->count * sizeof *a->rules) == 0);
}

bool agent_policy_equal(const struct agent_policy *a, const struct agent_policy *b)
{
    return strcmp(a->vn, b->vn) == 0 && a->has_vn_acl == b->has_vn_acl && acl_equal(&a->vn_acl, &b->vn_acl) &&
           a->sg_count == b->sg_count && memcmp(a->sgs, b->sgs, sizeof a->sgs) == 0 &&
           acl_equal(&a->sg_ingress, &b->sg_ingress) && acl_equal(&a->sg_egress, &b->sg_egress);
}

static bool addr_match(const struct agent_acl_addr *a, const struct agent_flow_end *e)
{
    switch ((enum agent_addr_kind)a->kind) {
    case AGENT_ADDR_ANY:
        return true;
    case AGENT_ADDR_VN:
        return e->vn && e->vn[0] && strcmp(a->name, e->vn) == 0;
    case AGENT_ADDR_SUBNET:
        return (e->ip4 & agent_ip4_mask(a->plen)) == a->ip4;
    case AGENT_ADDR_SG:
        for (size_t i = 0; e->policy && i < e->policy->sg_count; i++) {
            if (strcmp(e->policy->sgs[i], a->name) == 0) {
                return true;
            }
        }
        return false;
    case AGENT_ADDR_NONE:
        return false;
    }
    return false;
}

/* The first rule of 'acl' matching the packet, or NULL. */
static const struct agent_acl_rule *acl_first(const struct agent_acl *acl, const struct agent_flow_end *src,
                                              const struct agent_flow_end *dst, uint8_t proto)
{
    for (size_t i = 0; i < acl->count; i++) {
        const struct agent_acl_rule *r = &acl->rules[i];
        if ((r->proto < 0 || r->proto == proto) && src->port >= r->sport_lo && src->port <= r->sport_hi &&
            dst->port >= r->dport_lo && dst->port <= r->dport_hi && addr_match(&r->src, src) &&
            addr_match(&r->dst, dst)) {
            return r;
        }
    }
    return NULL;
}

/* The network ACL of the end holding 'pol'. */
static enum agent_verdict vn_check(const struct agent_policy *pol, const struct agent_flow_end *src,
                                   const struct agent_flow_end *dst, uint8_t proto)
{
    const struct agent_acl_rule *r = pol->has_vn_acl ? acl_first(&pol->vn_acl, src, dst, proto) : NULL;
    if (r) {
        return r->pass ? AGENT_ALLOW : AGENT_DENY_ACL;
    }
    const char *a = src->vn ? src->vn : "", *b = dst->vn ? dst->vn : "";
    if (!a[0] || !b[0] || strcmp(a, b) == 0) {
        return AGENT_ALLOW;
    }
    return AGENT_DENY_DEFAULT;
}

static bool sg_pass(const struct agent_acl *acl, const struct agent_flow_end *src, const struct agent_flow_end *dst,
                    uint8_t proto)
{
    const struct agent_acl_rule *r = acl_first(acl, src, dst, proto);
    return r && r->pass;
}

enum agent_verdict agent_policy_decide(const struct agent_flow_end *src, const struct agent_flow_end *dst,
                                       uint8_t proto)
{
    const struct agent_policy *ends[2] = {src->policy, dst->policy};
    for (int i = 0; i < 2; i++) {
        if (ends[i]) {
            enum agent_verdict v = vn_check(ends[i], src, dst, proto);
            if (v != AGENT_ALLOW) {
                return v;
            }
        }
    }
    if (src->policy && src->policy->sg_count > 0 && !sg_pass(&src->policy->sg_egress, src, dst, proto)) {
        return AGENT_DENY_SG;
    }
    if (dst->policy && dst->policy->sg_count > 0 && !sg_pass(&dst->policy->sg_ingress, src, dst, proto)) {
        return AGENT_DENY_SG;
    }
    return AGENT_ALLOW;
}

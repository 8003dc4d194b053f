/* The control side of the vRouter core: creating the datapath with every
 * table preallocated, add/del/get/dump for interfaces, VRFs, next hops,
 * routes, MACs, labels and VNIs, generations and the sweep, statistics.
 * All of it runs under dp->lock and publishes to the lock-free fast path
 * (dp_fwd.c) with release stores and per-entry sequence counters. */
#include "vrouter/dp/dp_int.h"

#define DP_DEF_ROUTER_MAC {0x00, 0x00, 0x5e, 0x00, 0x01, 0x00}

static const char *const dp_drop_names[] = {
#define DP_DROP_NAME(name, str) str,
    DP_DROPS(DP_DROP_NAME)
#undef DP_DROP_NAME
};

const char *dp_drop_name(unsigned reason)
{
    return reason < DP_DROP_COUNT ? dp_drop_names[reason] : "unknown";
}

void dp_config_default(struct dp_config *cfg)
{
    static const uint8_t mac[6] = DP_DEF_ROUTER_MAC;
    dp_memset(cfg, 0, sizeof *cfg);
    cfg->ifs = 4096;
    cfg->vrfs = 4096;
    cfg->nhs = 512 * 1024;
    cfg->composites = 4096;
    cfg->labels = 512 * 1024;
    cfg->vnis = 16 * 1024;
    cfg->bridge = 256 * 1024;
    cfg->routes = 512 * 1024;
    cfg->lpm_nodes = 16 * 1024;
    cfg->flows = 512 * 1024;
    cfg->flow_overflow = 8 * 1024;
    dp_memcpy(cfg->router_mac, mac, 6);
}

/* ---- pools ---- */

int dp_pool_init(struct dp_pool *p, uint32_t count)
{
    p->next = dp_env_zalloc(((size_t)count + 1) * sizeof *p->next);
    if (!p->next) {
        return VR_ENOMEM;
    }
    p->count = count;
    p->used = 0;
    p->limbo_head = DP_NONE;
    p->free_head = count ? 1 : DP_NONE;
    for (uint32_t i = 1; i <= count; i++) {
        p->next[i] = i < count ? i + 1 : DP_NONE;
    }
    return 0;
}

void dp_pool_destroy(struct dp_pool *p)
{
    dp_env_free(p->next);
    p->next = 0;
}

uint32_t dp_pool_alloc(struct dp_pool *p)
{
    if (p->free_head == DP_NONE && p->limbo_head != DP_NONE) {
        dp_env_synchronize();
        p->free_head = p->limbo_head;
        p->limbo_head = DP_NONE;
    }
    uint32_t idx = p->free_head;
    if (idx != DP_NONE) {
        p->free_head = p->next[idx];
        p->next[idx] = DP_NONE;
        p->used++;
    }
    return idx;
}

void dp_pool_free(struct dp_pool *p, uint32_t idx)
{
    p->next[idx] = p->limbo_head;
    p->limbo_head = idx;
    p->used--;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n && p < 0x80000000u) {
        p <<= 1;
    }
    return p;
}

/* ---- create / free ---- */

static void cfg_fill(struct dp_config *c, const struct dp_config *in)
{
    struct dp_config def;
    dp_config_default(&def);
    *c = in ? *in : def;
#define DP_CFG_DEFAULT(f) \
    if (!c->f) {          \
        c->f = def.f;     \
    }
    DP_CFG_DEFAULT(ifs)
    DP_CFG_DEFAULT(vrfs)
    DP_CFG_DEFAULT(nhs)
    DP_CFG_DEFAULT(composites)
    DP_CFG_DEFAULT(labels)
    DP_CFG_DEFAULT(vnis)
    DP_CFG_DEFAULT(bridge)
    DP_CFG_DEFAULT(routes)
    DP_CFG_DEFAULT(lpm_nodes)
    DP_CFG_DEFAULT(flows)
    DP_CFG_DEFAULT(flow_overflow)
#undef DP_CFG_DEFAULT
    static const uint8_t zero[6];
    if (!dp_memcmp(c->router_mac, zero, 6)) {
        dp_memcpy(c->router_mac, def.router_mac, 6);
    }
}

#define DP_LIMIT (1u << 26) /* any table beyond 64M entries is a mistake */

int dp_create(const struct dp_config *cfg, struct dp **out)
{
    struct dp_config c;
    cfg_fill(&c, cfg);
    if (c.ifs > DP_LIMIT || c.vrfs > DP_LIMIT || c.nhs > DP_LIMIT || c.composites > DP_LIMIT ||
        c.labels > (1u << 20) || c.vnis > DP_LIMIT || c.bridge > DP_LIMIT || c.routes > DP_LIMIT ||
        c.lpm_nodes > DP_LIMIT || c.flows > DP_LIMIT || c.flow_overflow > DP_LIMIT) {
        return VR_EINVAL;
    }
    struct dp *dp = dp_env_zalloc(sizeof *dp);
    if (!dp) {
        return VR_ENOMEM;
    }
    dp->cfg = c;
    dp->lock = dp_env_lock_create();
    dp->flow_lock = dp_env_lock_create();
    dp->ifs = dp_env_zalloc((size_t)c.ifs * sizeof *dp->ifs);
    dp->vrfs = dp_env_zalloc((size_t)c.vrfs * sizeof *dp->vrfs);
    dp->nhs = dp_env_zalloc((size_t)c.nhs * sizeof *dp->nhs);
    dp->comps = dp_env_zalloc(((size_t)c.composites + 1) * sizeof *dp->comps);
    dp->labels = dp_env_zalloc((size_t)c.labels * sizeof *dp->labels);
    dp->mac_mask = pow2_at_least(c.bridge) - 1;
    dp->macs = dp_env_zalloc(((size_t)c.bridge + 1) * sizeof *dp->macs);
    dp->mac_bucket = dp_env_zalloc(((size_t)dp->mac_mask + 1) * sizeof *dp->mac_bucket);
    dp->vni_mask = pow2_at_least(c.vnis) - 1;
    dp->vnis = dp_env_zalloc(((size_t)c.vnis + 1) * sizeof *dp->vnis);
    dp->vni_bucket = dp_env_zalloc(((size_t)dp->vni_mask + 1) * sizeof *dp->vni_bucket);
    dp->route_mask = pow2_at_least(c.routes) - 1;
    dp->routes = dp_env_zalloc(((size_t)c.routes + 1) * sizeof *dp->routes);
    dp->route_bucket = dp_env_zalloc(((size_t)dp->route_mask + 1) * sizeof *dp->route_bucket);
    dp->lpm = dp_env_zalloc(((size_t)c.lpm_nodes + 1) * sizeof *dp->lpm);
    dp->emc_mem = dp_env_zalloc(((size_t)1 << DP_EMC_BITS) * sizeof *dp->emc + 63);
    dp->emc = (struct dp_emc_ent *)(((uintptr_t)dp->emc_mem + 63) & ~(uintptr_t)63);
    int rc = VR_ENOMEM;
    if (!dp->lock || !dp->flow_lock || !dp->ifs || !dp->vrfs || !dp->nhs || !dp->comps || !dp->labels ||
        !dp->macs || !dp->mac_bucket || !dp->vnis || !dp->vni_bucket || !dp->routes || !dp->route_bucket ||
        !dp->lpm || !dp->emc_mem) {
        goto fail;
    }
    if ((rc = dp_pool_init(&dp->comp_pool, c.composites)) != 0 ||
        (rc = dp_pool_init(&dp->mac_pool, c.bridge)) != 0 || (rc = dp_pool_init(&dp->vni_pool, c.vnis)) != 0 ||
        (rc = dp_pool_init(&dp->route_pool, c.routes)) != 0 ||
        (rc = dp_pool_init(&dp->lpm_pool, c.lpm_nodes)) != 0 || (rc = dp_flow_tables_init(dp)) != 0) {
        goto fail;
    }
    for (uint32_t i = 0; i < (1u << DP_EMC_BITS); i++) {
        dp->emc[i].kb = DP_EMC_EMPTY_B; /* no packet's key: empty */
    }
    for (uint32_t v = 0; v < c.vrfs; v++) {
        dp->vrfs[v].root[0] = dp->vrfs[v].root[1] = DP_NONE;
    }
    *out = dp;
    return 0;

fail:
    dp_free(dp);
    return rc;
}

void dp_free(struct dp *dp)
{
    if (!dp) {
        return;
    }
    dp_flow_tables_free(dp);
    dp_pool_destroy(&dp->lpm_pool);
    dp_pool_destroy(&dp->route_pool);
    dp_pool_destroy(&dp->vni_pool);
    dp_pool_destroy(&dp->mac_pool);
    dp_pool_destroy(&dp->comp_pool);
    dp_env_free(dp->emc_mem);
    dp_env_free(dp->lpm);
    dp_env_free(dp->route_bucket);
    dp_env_free(dp->routes);
    dp_env_free(dp->vni_bucket);
    dp_env_free(dp->vnis);
    dp_env_free(dp->mac_bucket);
    dp_env_free(dp->macs);
    dp_env_free(dp->labels);
    dp_env_free(dp->comps);
    dp_env_free(dp->nhs);
    dp_env_free(dp->vrfs);
    dp_env_free(dp->ifs);
    dp_env_lock_free(dp->flow_lock);
    dp_env_lock_free(dp->lock);
    dp_env_free(dp);
}

uint32_t dp_tx_copy(const struct dp_pkt *pkt, const struct dp_tx *tx, uint8_t *dst, uint32_t cap)
{
    uint32_t total = tx->hdr_size + tx->len;
    if (total > cap || tx->hdr_size > DP_TX_HDR_MAX || tx->off > pkt->size || tx->len > pkt->size - tx->off) {
        return 0;
    }
    dp_memcpy(dst, tx->hdr, tx->hdr_size);
    dp_memcpy(dst + tx->hdr_size, pkt->buf + tx->off, tx->len);
    return total;
}

/* ---- generations ---- */

void dp_generation_begin(struct dp *dp, uint32_t gen)
{
    dp_env_lock(dp->lock);
    dp->gen = gen;
    dp_env_unlock(dp->lock);
    dp_env_log(DP_ENV_LOG_INFO, "dp generation begins", gen);
}

uint32_t dp_generation(const struct dp *dp)
{
    return dp->gen;
}

/* ---- interfaces ---- */

static void nh_build_template(struct dp *dp, struct dp_nh_ent *n);

int dp_if_add(struct dp *dp, const struct dp_if *i)
{
    if (i->ifindex >= dp->cfg.ifs) {
        return VR_ERANGE;
    }
    if (i->type != DP_IF_VM && i->type != DP_IF_FABRIC && i->type != DP_IF_AGENT) {
        return VR_EINVAL;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    if (i->type == DP_IF_VM && (i->vrf >= dp->cfg.vrfs || !dp->vrfs[i->vrf].present)) {
        rc = VR_ENOVRF;
        goto out;
    }
    if (i->type == DP_IF_AGENT && dp->agent_if && dp->agent_if != i->ifindex + 1) {
        rc = VR_EINVAL; /* one agent interface */
        goto out;
    }
    struct dp_if_ent *e = &dp->ifs[i->ifindex];
    dp_seq_write_begin(&e->seq);
    e->type = i->type;
    e->flags = i->flags;
    e->vrf = i->vrf;
    dp_memcpy(e->mac, i->mac, 6);
    dp_memcpy(e->gw_mac, i->gw_mac, 6);
    e->ip4 = i->ip4;
    e->gw_ip4 = i->gw_ip4;
    e->dns_ip4 = i->dns_ip4;
    e->gen = dp->gen;
    dp_seq_write_end(&e->seq);
    if (i->type == DP_IF_AGENT) {
        dp_store_release(&dp->agent_if, i->ifindex + 1);
    } else if (dp->agent_if == i->ifindex + 1) {
        dp_store_release(&dp->agent_if, 0);
    }
    if (i->type == DP_IF_FABRIC) {
        for (uint32_t id = 1; id < dp->cfg.nhs; id++) {
            struct dp_nh_ent *n = &dp->nhs[id];
            if (n->type == DP_NH_TUNNEL && n->ifindex == i->ifindex) {
                dp_seq_write_begin(&n->seq);
                nh_build_template(dp, n);
                dp_seq_write_end(&n->seq);
            }
        }
    }
out:
    dp_env_unlock(dp->lock);
    return rc;
}

static void if_clear(struct dp *dp, uint32_t ifindex)
{
    struct dp_if_ent *e = &dp->ifs[ifindex];
    if (dp->agent_if == ifindex + 1) {
        dp_store_release(&dp->agent_if, 0);
    }
    dp_seq_write_begin(&e->seq);
    e->type = DP_IF_NONE;
    e->flags = 0;
    e->rx_packets = e->rx_bytes = e->tx_packets = e->tx_bytes = e->drops = 0;
    dp_seq_write_end(&e->seq);
}

int dp_if_del(struct dp *dp, uint32_t ifindex)
{
    if (ifindex >= dp->cfg.ifs) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    if (dp->ifs[ifindex].type == DP_IF_NONE) {
        rc = VR_ENOENT;
    } else {
        if_clear(dp, ifindex);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

static void if_export(const struct dp *dp, uint32_t ifindex, struct dp_if *o)
{
    const struct dp_if_ent *e = &dp->ifs[ifindex];
    dp_memset(o, 0, sizeof *o);
    o->ifindex = ifindex;
    o->type = e->type;
    o->flags = e->flags;
    o->vrf = e->vrf;
    dp_memcpy(o->mac, e->mac, 6);
    dp_memcpy(o->gw_mac, e->gw_mac, 6);
    o->ip4 = e->ip4;
    o->gw_ip4 = e->gw_ip4;
    o->dns_ip4 = e->dns_ip4;
    o->gen = e->gen;
    o->stats.rx_packets = dp_load_relaxed(&e->rx_packets);
    o->stats.rx_bytes = dp_load_relaxed(&e->rx_bytes);
    o->stats.tx_packets = dp_load_relaxed(&e->tx_packets);
    o->stats.tx_bytes = dp_load_relaxed(&e->tx_bytes);
    o->stats.drops = dp_load_relaxed(&e->drops);
}

int dp_if_get(struct dp *dp, uint32_t ifindex, struct dp_if *out)
{
    if (ifindex >= dp->cfg.ifs) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    if (dp->ifs[ifindex].type == DP_IF_NONE) {
        rc = VR_ENOENT;
    } else {
        if_export(dp, ifindex, out);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

int dp_if_next(struct dp *dp, uint32_t *pos, struct dp_if *out)
{
    int rc = VR_EEND;
    dp_env_lock(dp->lock);
    for (; *pos < dp->cfg.ifs; (*pos)++) {
        if (dp->ifs[*pos].type != DP_IF_NONE) {
            if_export(dp, *pos, out);
            (*pos)++;
            rc = 0;
            break;
        }
    }
    dp_env_unlock(dp->lock);
    return rc;
}

/* ---- VRFs ---- */

int dp_vrf_add(struct dp *dp, const struct dp_vrf *v)
{
    if (v->vrf >= dp->cfg.vrfs) {
        return VR_ERANGE;
    }
    if (v->bum_nh >= dp->cfg.nhs) {
        return VR_ERANGE;
    }
    dp_env_lock(dp->lock);
    struct dp_vrf_ent *e = &dp->vrfs[v->vrf];
    e->gen = dp->gen;
    dp_store_release(&e->bum_nh, v->bum_nh);
    dp_store_release(&e->present, 1);
    dp_env_unlock(dp->lock);
    return 0;
}

static void route_unlink_vrf(struct dp *dp, uint32_t vrf);
static void mac_unlink_vrf(struct dp *dp, uint32_t vrf);

/* Publishes that the tries of 'vrf' changed (after the change is complete):
 * forwarding decisions cached in flows from an earlier lookup stop being
 * used. Caller holds dp->lock. */
static void rt_changed(struct dp *dp, uint32_t vrf)
{
    struct dp_vrf_ent *e = &dp->vrfs[vrf];
    dp_store_release(&e->rt_ver, e->rt_ver + 2); /* stays even: see DP_RT_VER_NONE */
}

static void vrf_clear(struct dp *dp, uint32_t vrf)
{
    struct dp_vrf_ent *e = &dp->vrfs[vrf];
    dp_store_release(&e->present, 0);
    dp_store_release(&e->bum_nh, 0);
    route_unlink_vrf(dp, vrf);
    mac_unlink_vrf(dp, vrf);
    dp_lpm_clear(dp, &e->root[0]);
    dp_lpm_clear(dp, &e->root[1]);
    rt_changed(dp, vrf);
}

int dp_vrf_del(struct dp *dp, uint32_t vrf)
{
    if (vrf >= dp->cfg.vrfs) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    if (!dp->vrfs[vrf].present) {
        rc = VR_ENOENT;
    } else {
        vrf_clear(dp, vrf);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

static void vrf_export(const struct dp *dp, uint32_t vrf, struct dp_vrf *o)
{
    dp_memset(o, 0, sizeof *o);
    o->vrf = vrf;
    o->bum_nh = dp->vrfs[vrf].bum_nh;
    o->gen = dp->vrfs[vrf].gen;
}

int dp_vrf_get(struct dp *dp, uint32_t vrf, struct dp_vrf *out)
{
    if (vrf >= dp->cfg.vrfs) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    if (!dp->vrfs[vrf].present) {
        rc = VR_ENOENT;
    } else {
        vrf_export(dp, vrf, out);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

int dp_vrf_next(struct dp *dp, uint32_t *pos, struct dp_vrf *out)
{
    int rc = VR_EEND;
    dp_env_lock(dp->lock);
    for (; *pos < dp->cfg.vrfs; (*pos)++) {
        if (dp->vrfs[*pos].present) {
            vrf_export(dp, *pos, out);
            (*pos)++;
            rc = 0;
            break;
        }
    }
    dp_env_unlock(dp->lock);
    return rc;
}

/* ---- next hops ---- */

#define DP_MPLS_TTL 64
#define DP_OUTER_TTL 64
#define DP_PORT_MPLS_UDP 6635
#define DP_PORT_VXLAN 4789

/* Builds the outer header template of tunnel 'n' from its fabric interface. */
static void nh_build_template(struct dp *dp, struct dp_nh_ent *n)
{
    static const uint8_t zero[6];
    const struct dp_if_ent *fab = &dp->ifs[n->ifindex];
    uint8_t *t = n->tmpl;
    dp_memset(t, 0, DP_TMPL_MAX);
    dp_memcpy(t, dp_memcmp(n->outer_dmac, zero, 6) ? n->outer_dmac : fab->gw_mac, 6);
    dp_memcpy(t + 6, fab->mac, 6);
    dp_put16(t + 12, 0x0800);
    uint8_t *ip = t + 14;
    ip[0] = 0x45;
    ip[6] = 0x40; /* DF; identification 0 (RFC 6864) */
    ip[8] = DP_OUTER_TTL;
    ip[9] = n->encap == DP_ENCAP_MPLS_GRE ? 47 : 17;
    dp_put32(ip + 12, n->sip);
    dp_put32(ip + 16, n->dip);
    uint32_t sum = 0;
    for (int w = 0; w < 20; w += 2) {
        sum += dp_be16(ip + w);
    }
    n->csum_base = sum;
    uint8_t *l4 = ip + 20;
    switch ((enum dp_encap)n->encap) {
    case DP_ENCAP_MPLS_GRE:
        dp_put16(l4 + 2, 0x8847);
        dp_put32(l4 + 4, (n->label & 0xfffffu) << 12 | 0x100u | DP_MPLS_TTL);
        n->tmpl_size = 14 + 20 + 4 + 4;
        break;
    case DP_ENCAP_MPLS_UDP:
        dp_put16(l4 + 2, DP_PORT_MPLS_UDP);
        dp_put32(l4 + 8, (n->label & 0xfffffu) << 12 | 0x100u | DP_MPLS_TTL);
        n->tmpl_size = 14 + 20 + 8 + 4;
        break;
    case DP_ENCAP_VXLAN:
        dp_put16(l4 + 2, DP_PORT_VXLAN);
        l4[8] = 0x08;
        dp_put32(l4 + 12, (n->label & 0xffffffu) << 8);
        n->tmpl_size = 14 + 20 + 8 + 8;
        break;
    case DP_ENCAP_NONE:
        n->tmpl_size = 0;
        break;
    }
}

/* Builds the fast path's rewrite of next hop 'n' (see struct dp_nh_ent)
 * from its type and, for a tunnel, its template. */
static void nh_build_fast(const struct dp *dp, struct dp_nh_ent *n)
{
    dp_memset(n->fast, 0, DP_FAST_MAX);
    dp_store_relaxed(&n->fast_meta, DP_FAST_META(DP_FK_NONE, 0, 0));
    n->fast_csum = 0;
    if (n->type == DP_NH_IF) {
        dp_memcpy(n->fast, n->dmac, 6);
        dp_memcpy(n->fast + 6, dp->cfg.router_mac, 6);
        dp_store_relaxed(&n->fast_meta, DP_FAST_META(DP_FK_IF, 0, 12));
        return;
    }
    if (n->type != DP_NH_TUNNEL || n->tmpl_size == 0) {
        return;
    }
    dp_memcpy(n->fast, n->tmpl, n->tmpl_size);
    uint32_t kind = n->encap == DP_ENCAP_MPLS_GRE ? DP_FK_TUN : DP_FK_TUN_UDP;
    if (n->encap == DP_ENCAP_VXLAN) {
        dp_memcpy(n->fast + n->tmpl_size, n->dmac, 6);
        dp_memcpy(n->fast + n->tmpl_size + 6, dp->cfg.router_mac, 6);
        dp_store_relaxed(&n->fast_meta, DP_FAST_META(kind, n->tmpl_size, n->tmpl_size + 12));
    } else {
        dp_store_relaxed(&n->fast_meta, DP_FAST_META(kind, n->tmpl_size - 14, n->tmpl_size));
    }
    n->fast_csum = dp_bswap16_be(dp_csum_fold(n->csum_base));
}

static int nh_member_ok(const struct dp *dp, uint32_t id)
{
    if (id == DP_NONE || id >= dp->cfg.nhs) {
        return 0;
    }
    uint8_t t = dp->nhs[id].type;
    return t == DP_NH_IF || t == DP_NH_TUNNEL;
}

static int nh_check(const struct dp *dp, const struct dp_nh *n)
{
    if (n->id == DP_NONE || n->id >= dp->cfg.nhs) {
        return VR_ERANGE;
    }
    switch ((enum dp_nh_type)n->type) {
    case DP_NH_DISCARD:
    case DP_NH_PUNT:
        return 0;
    case DP_NH_IF:
        if (n->ifindex >= dp->cfg.ifs || dp->ifs[n->ifindex].type == DP_IF_NONE) {
            return VR_EINVAL;
        }
        return 0;
    case DP_NH_TUNNEL:
        if (n->ifindex >= dp->cfg.ifs || dp->ifs[n->ifindex].type != DP_IF_FABRIC) {
            return VR_EINVAL;
        }
        if (n->encap != DP_ENCAP_MPLS_GRE && n->encap != DP_ENCAP_MPLS_UDP && n->encap != DP_ENCAP_VXLAN) {
            return VR_EINVAL;
        }
        if (n->encap == DP_ENCAP_VXLAN ? n->label > 0xffffffu : n->label > 0xfffffu) {
            return VR_EINVAL;
        }
        return 0;
    case DP_NH_VRF:
        if (n->vrf >= dp->cfg.vrfs || !dp->vrfs[n->vrf].present) {
            return VR_ENOVRF;
        }
        return 0;
    case DP_NH_ECMP:
    case DP_NH_BUM:
        if (n->member_count == 0 || n->member_count > DP_NH_MAX_MEMBERS) {
            return VR_EINVAL;
        }
        for (uint32_t m = 0; m < n->member_count; m++) {
            if (!nh_member_ok(dp, n->members[m]) || n->members[m] == n->id) {
                return VR_ENONH;
            }
        }
        return 0;
    case DP_NH_NONE:
        break;
    }
    return VR_EINVAL;
}

static int nh_same(const struct dp *dp, const struct dp_nh_ent *e, const struct dp_nh *n)
{
    if (e->type != n->type || e->encap != n->encap || e->flags != n->flags || e->ifindex != n->ifindex ||
        e->vrf != n->vrf || e->label != n->label || e->sip != n->sip || e->dip != n->dip ||
        dp_memcmp(e->dmac, n->dmac, 6) || dp_memcmp(e->outer_dmac, n->outer_dmac, 6) ||
        e->member_count != n->member_count) {
        return 0;
    }
    if (e->member_count) {
        return !dp_memcmp(dp->comps[e->comp].members, n->members, n->member_count * sizeof(uint32_t));
    }
    return 1;
}

int dp_nh_add(struct dp *dp, const struct dp_nh *n)
{
    int rc;
    dp_env_lock(dp->lock);
    if ((rc = nh_check(dp, n)) != 0) {
        goto out;
    }
    struct dp_nh_ent *e = &dp->nhs[n->id];
    if (nh_same(dp, e, n)) {
        e->gen = dp->gen; /* re-installed: no change on the fast path */
        goto out;
    }
    uint8_t composite = n->type == DP_NH_ECMP || n->type == DP_NH_BUM;
    uint32_t comp = DP_NONE;
    if (composite) {
        comp = dp_pool_alloc(&dp->comp_pool);
        if (comp == DP_NONE) {
            rc = VR_EFULL;
            goto out;
        }
        dp_memset(dp->comps[comp].members, 0, sizeof dp->comps[comp].members);
        dp_memcpy(dp->comps[comp].members, n->members, n->member_count * sizeof(uint32_t));
    }
    uint32_t old_comp = e->member_count ? e->comp : DP_NONE;
    dp_seq_write_begin(&e->seq);
    e->type = n->type;
    e->encap = n->type == DP_NH_TUNNEL ? n->encap : DP_ENCAP_NONE;
    e->flags = n->flags;
    e->member_count = composite ? n->member_count : 0;
    e->ifindex = n->ifindex;
    e->vrf = n->vrf;
    e->label = n->label;
    e->sip = n->sip;
    e->dip = n->dip;
    dp_memcpy(e->dmac, n->dmac, 6);
    dp_memcpy(e->outer_dmac, n->outer_dmac, 6);
    e->comp = comp;
    e->gen = dp->gen;
    if (e->type == DP_NH_TUNNEL) {
        nh_build_template(dp, e);
    } else {
        e->tmpl_size = 0;
    }
    nh_build_fast(dp, e);
    dp_seq_write_end(&e->seq);
    if (old_comp != DP_NONE) {
        dp_pool_free(&dp->comp_pool, old_comp);
    }
out:
    dp_env_unlock(dp->lock);
    return rc;
}

static void nh_clear(struct dp *dp, uint32_t id)
{
    struct dp_nh_ent *e = &dp->nhs[id];
    uint32_t old_comp = e->member_count ? e->comp : DP_NONE;
    dp_seq_write_begin(&e->seq);
    e->type = DP_NH_NONE;
    e->member_count = 0;
    e->comp = DP_NONE;
    e->tmpl_size = 0;
    dp_store_relaxed(&e->fast_meta, DP_FAST_META(DP_FK_NONE, 0, 0));
    dp_seq_write_end(&e->seq);
    if (old_comp != DP_NONE) {
        dp_pool_free(&dp->comp_pool, old_comp);
    }
}

int dp_nh_del(struct dp *dp, uint32_t id)
{
    if (id == DP_NONE || id >= dp->cfg.nhs) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    if (dp->nhs[id].type == DP_NH_NONE) {
        rc = VR_ENOENT;
    } else {
        nh_clear(dp, id);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

static void nh_export(const struct dp *dp, uint32_t id, struct dp_nh *o)
{
    const struct dp_nh_ent *e = &dp->nhs[id];
    dp_memset(o, 0, sizeof *o);
    o->id = id;
    o->type = e->type;
    o->encap = e->encap;
    o->flags = e->flags;
    o->member_count = e->member_count;
    o->ifindex = e->ifindex;
    o->vrf = e->vrf;
    o->label = e->label;
    o->sip = e->sip;
    o->dip = e->dip;
    dp_memcpy(o->dmac, e->dmac, 6);
    dp_memcpy(o->outer_dmac, e->outer_dmac, 6);
    if (e->member_count) {
        dp_memcpy(o->members, dp->comps[e->comp].members, e->member_count * sizeof(uint32_t));
    }
    o->gen = e->gen;
}

int dp_nh_get(struct dp *dp, uint32_t id, struct dp_nh *out)
{
    if (id == DP_NONE || id >= dp->cfg.nhs) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    if (dp->nhs[id].type == DP_NH_NONE) {
        rc = VR_ENOENT;
    } else {
        nh_export(dp, id, out);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

int dp_nh_next(struct dp *dp, uint32_t *pos, struct dp_nh *out)
{
    int rc = VR_EEND;
    dp_env_lock(dp->lock);
    if (*pos == 0) {
        *pos = 1;
    }
    for (; *pos < dp->cfg.nhs; (*pos)++) {
        if (dp->nhs[*pos].type != DP_NH_NONE) {
            nh_export(dp, *pos, out);
            (*pos)++;
            rc = 0;
            break;
        }
    }
    dp_env_unlock(dp->lock);
    return rc;
}

/* ---- routes: exact-prefix table + the LPM tries ---- */

static int route_norm(const struct dp *dp, const struct dp_route *r, uint8_t *addr, uint8_t *maxlen)
{
    if (r->family != 4 && r->family != 6) {
        return VR_EINVAL;
    }
    *maxlen = r->family == 4 ? 32 : 128;
    if (r->plen > *maxlen) {
        return VR_EINVAL;
    }
    if (r->vrf >= dp->cfg.vrfs) {
        return VR_ERANGE;
    }
    dp_memset(addr, 0, 16);
    uint32_t full = r->plen / 8, rem = r->plen % 8;
    dp_memcpy(addr, r->addr, full);
    if (rem) {
        addr[full] = (uint8_t)(r->addr[full] & (0xffu << (8 - rem)));
    }
    return 0;
}

static uint32_t route_hash(uint32_t vrf, uint8_t family, uint8_t plen, const uint8_t *addr)
{
    uint64_t x = dp_ld64(addr) ^ (dp_ld64(addr + 8) * 0x9e3779b97f4a7c15ull);
    return dp_mix64(x ^ ((uint64_t)vrf << 16 | (uint64_t)family << 8 | plen) * 0xbf58476d1ce4e5b9ull);
}

static uint32_t route_find(const struct dp *dp, uint32_t vrf, uint8_t family, uint8_t plen, const uint8_t *addr,
                           uint32_t **link)
{
    uint32_t *l = &dp->route_bucket[route_hash(vrf, family, plen, addr) & dp->route_mask];
    for (uint32_t i = *l; i != DP_NONE; l = &dp->routes[i].next, i = *l) {
        const struct dp_route_ent *e = &dp->routes[i];
        if (e->vrf == vrf && e->family == family && e->plen == plen && !dp_memcmp(e->addr, addr, 16)) {
            if (link) {
                *link = l;
            }
            return i;
        }
    }
    return DP_NONE;
}

int dp_route_add(struct dp *dp, const struct dp_route *r)
{
    uint8_t addr[16], maxlen;
    int rc = route_norm(dp, r, addr, &maxlen);
    if (rc != 0) {
        return rc;
    }
    if (r->nh == DP_NONE || r->nh >= dp->cfg.nhs) {
        return VR_ERANGE;
    }
    dp_env_lock(dp->lock);
    struct dp_vrf_ent *v = &dp->vrfs[r->vrf];
    if (!v->present) {
        rc = VR_ENOVRF;
        goto out;
    }
    uint32_t idx = route_find(dp, r->vrf, r->family, r->plen, addr, 0);
    if (idx != DP_NONE) {
        struct dp_route_ent *e = &dp->routes[idx];
        e->gen = dp->gen;
        if (e->nh != r->nh) {
            rc = dp_lpm_insert(dp, &v->root[r->family == 6], addr, r->plen, maxlen, r->nh);
            if (rc == 0) {
                e->nh = r->nh;
            }
            rt_changed(dp, r->vrf);
        }
        goto out;
    }
    idx = dp_pool_alloc(&dp->route_pool);
    if (idx == DP_NONE) {
        rc = VR_EFULL;
        goto out;
    }
    rc = dp_lpm_insert(dp, &v->root[r->family == 6], addr, r->plen, maxlen, r->nh);
    rt_changed(dp, r->vrf);
    if (rc != 0) {
        dp->routes[idx].used = 0;
        dp_pool_free(&dp->route_pool, idx);
        goto out;
    }
    struct dp_route_ent *e = &dp->routes[idx];
    e->vrf = r->vrf;
    e->family = r->family;
    e->plen = r->plen;
    dp_memcpy(e->addr, addr, 16);
    e->nh = r->nh;
    e->gen = dp->gen;
    e->used = 1;
    uint32_t *b = &dp->route_bucket[route_hash(r->vrf, r->family, r->plen, addr) & dp->route_mask];
    e->next = *b;
    *b = idx;
out:
    dp_env_unlock(dp->lock);
    return rc;
}

/* Unlinks route 'idx' (linked at '*link') and restores its cover in the trie. */
static void route_remove(struct dp *dp, uint32_t idx, uint32_t *link)
{
    struct dp_route_ent *e = &dp->routes[idx];
    uint8_t maxlen = e->family == 4 ? 32 : 128;
    uint32_t cover_nh = DP_NONE;
    uint8_t cover_plen = 0;
    for (int len = (int)e->plen - 1; len >= 0; len--) {
        uint8_t a[16];
        dp_memset(a, 0, 16);
        uint32_t full = (uint32_t)len / 8, rem = (uint32_t)len % 8;
        dp_memcpy(a, e->addr, full);
        if (rem) {
            a[full] = (uint8_t)(e->addr[full] & (0xffu << (8 - rem)));
        }
        uint32_t c = route_find(dp, e->vrf, e->family, (uint8_t)len, a, 0);
        if (c != DP_NONE) {
            cover_nh = dp->routes[c].nh;
            cover_plen = (uint8_t)len;
            break;
        }
    }
    dp_lpm_remove(dp, &dp->vrfs[e->vrf].root[e->family == 6], e->addr, e->plen, maxlen, cover_nh, cover_plen);
    rt_changed(dp, e->vrf);
    *link = e->next;
    dp->routes[idx].used = 0;
        dp_pool_free(&dp->route_pool, idx);
}

int dp_route_del(struct dp *dp, const struct dp_route *r)
{
    uint8_t addr[16], maxlen;
    int rc = route_norm(dp, r, addr, &maxlen);
    if (rc != 0) {
        return rc;
    }
    dp_env_lock(dp->lock);
    uint32_t *link;
    uint32_t idx = route_find(dp, r->vrf, r->family, r->plen, addr, &link);
    if (idx == DP_NONE) {
        rc = VR_ENOENT;
    } else {
        route_remove(dp, idx, link);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

static void route_export(const struct dp_route_ent *e, struct dp_route *o)
{
    dp_memset(o, 0, sizeof *o);
    o->vrf = e->vrf;
    o->family = e->family;
    o->plen = e->plen;
    dp_memcpy(o->addr, e->addr, 16);
    o->nh = e->nh;
    o->gen = e->gen;
}

int dp_route_get(struct dp *dp, const struct dp_route *r, struct dp_route *out)
{
    uint8_t addr[16], maxlen;
    int rc = route_norm(dp, r, addr, &maxlen);
    if (rc != 0) {
        return rc;
    }
    dp_env_lock(dp->lock);
    uint32_t idx = route_find(dp, r->vrf, r->family, r->plen, addr, 0);
    if (idx == DP_NONE) {
        rc = VR_ENOENT;
    } else {
        route_export(&dp->routes[idx], out);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

uint32_t dp_route_lookup(struct dp *dp, uint32_t vrf, uint8_t family, const uint8_t *addr)
{
    if (vrf >= dp->cfg.vrfs || (family != 4 && family != 6)) {
        return DP_NONE;
    }
    uint32_t root = dp_load_acquire(&dp->vrfs[vrf].root[family == 6]);
    return dp_lpm_lookup(dp, root, addr, family == 4 ? 4 : 16);
}

/* Dumps of hash tables walk the entry pool, so each call is O(1) amortized
 * and positions stay valid while other entries come and go. */
int dp_route_next(struct dp *dp, uint32_t *pos, struct dp_route *out)
{
    int rc = VR_EEND;
    dp_env_lock(dp->lock);
    for (; *pos < dp->cfg.routes; (*pos)++) {
        if (dp->routes[*pos + 1].used) {
            route_export(&dp->routes[*pos + 1], out);
            (*pos)++;
            rc = 0;
            break;
        }
    }
    dp_env_unlock(dp->lock);
    return rc;
}

static void route_unlink_vrf(struct dp *dp, uint32_t vrf)
{
    for (uint32_t b = 0; b <= dp->route_mask; b++) {
        uint32_t *link = &dp->route_bucket[b];
        while (*link != DP_NONE) {
            struct dp_route_ent *e = &dp->routes[*link];
            if (e->vrf == vrf) {
                uint32_t idx = *link;
                *link = e->next;
                dp->routes[idx].used = 0;
        dp_pool_free(&dp->route_pool, idx);
            } else {
                link = &e->next;
            }
        }
    }
}

/* ---- bridge ---- */

static uint32_t mac_hash(uint32_t vrf, const uint8_t *mac)
{
    uint64_t k = (uint64_t)mac[0] << 40 | (uint64_t)mac[1] << 32 | (uint64_t)mac[2] << 24 | (uint64_t)mac[3] << 16 |
                 (uint64_t)mac[4] << 8 | mac[5];
    return dp_mix64(k ^ ((uint64_t)vrf << 48) ^ ((uint64_t)vrf * 0x9e3779b97f4a7c15ull));
}

static uint32_t mac_find(const struct dp *dp, uint32_t vrf, const uint8_t *mac, uint32_t **link)
{
    uint32_t *l = &dp->mac_bucket[mac_hash(vrf, mac) & dp->mac_mask];
    for (uint32_t i = dp_load_acquire(l); i != DP_NONE; l = &dp->macs[i].next, i = dp_load_acquire(l)) {
        const struct dp_mac_ent *e = &dp->macs[i];
        if (e->vrf == vrf && !dp_memcmp(e->mac, mac, 6)) {
            if (link) {
                *link = l;
            }
            return i;
        }
    }
    return DP_NONE;
}

uint32_t dp_mac_lookup(const struct dp *dp, uint32_t vrf, const uint8_t *mac)
{
    uint32_t i = mac_find(dp, vrf, mac, 0);
    return i == DP_NONE ? DP_NONE : dp_load_acquire(&dp->macs[i].nh);
}

int dp_mac_add(struct dp *dp, const struct dp_mac *m)
{
    if (m->vrf >= dp->cfg.vrfs) {
        return VR_ERANGE;
    }
    if (m->nh == DP_NONE || m->nh >= dp->cfg.nhs) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    if (!dp->vrfs[m->vrf].present) {
        rc = VR_ENOVRF;
        goto out;
    }
    uint32_t idx = mac_find(dp, m->vrf, m->mac, 0);
    if (idx != DP_NONE) {
        dp->macs[idx].gen = dp->gen;
        dp_store_release(&dp->macs[idx].nh, m->nh);
        goto out;
    }
    idx = dp_pool_alloc(&dp->mac_pool);
    if (idx == DP_NONE) {
        rc = VR_EFULL;
        goto out;
    }
    struct dp_mac_ent *e = &dp->macs[idx];
    e->vrf = m->vrf;
    dp_memcpy(e->mac, m->mac, 6);
    e->nh = m->nh;
    e->gen = dp->gen;
    e->used = 1;
    uint32_t *b = &dp->mac_bucket[mac_hash(m->vrf, m->mac) & dp->mac_mask];
    e->next = *b;
    dp_store_release(b, idx);
out:
    dp_env_unlock(dp->lock);
    return rc;
}

int dp_mac_del(struct dp *dp, uint32_t vrf, const uint8_t mac[6])
{
    if (vrf >= dp->cfg.vrfs) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    uint32_t *link;
    uint32_t idx = mac_find(dp, vrf, mac, &link);
    if (idx == DP_NONE) {
        rc = VR_ENOENT;
    } else {
        dp_store_release(link, dp->macs[idx].next);
        dp->macs[idx].used = 0;
        dp_pool_free(&dp->mac_pool, idx);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

static void mac_export(const struct dp_mac_ent *e, struct dp_mac *o)
{
    dp_memset(o, 0, sizeof *o);
    o->vrf = e->vrf;
    dp_memcpy(o->mac, e->mac, 6);
    o->nh = e->nh;
    o->gen = e->gen;
}

int dp_mac_get(struct dp *dp, uint32_t vrf, const uint8_t mac[6], struct dp_mac *out)
{
    if (vrf >= dp->cfg.vrfs) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    uint32_t idx = mac_find(dp, vrf, mac, 0);
    if (idx == DP_NONE) {
        rc = VR_ENOENT;
    } else {
        mac_export(&dp->macs[idx], out);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

int dp_mac_next(struct dp *dp, uint32_t *pos, struct dp_mac *out)
{
    int rc = VR_EEND;
    dp_env_lock(dp->lock);
    for (; *pos < dp->cfg.bridge; (*pos)++) {
        if (dp->macs[*pos + 1].used) {
            mac_export(&dp->macs[*pos + 1], out);
            (*pos)++;
            rc = 0;
            break;
        }
    }
    dp_env_unlock(dp->lock);
    return rc;
}

static void mac_unlink_vrf(struct dp *dp, uint32_t vrf)
{
    for (uint32_t b = 0; b <= dp->mac_mask; b++) {
        uint32_t *link = &dp->mac_bucket[b];
        while (*link != DP_NONE) {
            struct dp_mac_ent *e = &dp->macs[*link];
            if (e->vrf == vrf) {
                uint32_t idx = *link;
                dp_store_release(link, e->next);
                dp->macs[idx].used = 0;
        dp_pool_free(&dp->mac_pool, idx);
            } else {
                link = &e->next;
            }
        }
    }
}

/* ---- labels ---- */

int dp_label_add(struct dp *dp, const struct dp_label *l)
{
    if (l->label >= dp->cfg.labels || l->nh == DP_NONE || l->nh >= dp->cfg.nhs) {
        return VR_ERANGE;
    }
    dp_env_lock(dp->lock);
    dp->labels[l->label].gen = dp->gen;
    dp_store_release(&dp->labels[l->label].nh, l->nh);
    dp_env_unlock(dp->lock);
    return 0;
}

int dp_label_del(struct dp *dp, uint32_t label)
{
    if (label >= dp->cfg.labels) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    if (dp->labels[label].nh == DP_NONE) {
        rc = VR_ENOENT;
    } else {
        dp_store_release(&dp->labels[label].nh, DP_NONE);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

int dp_label_get(struct dp *dp, uint32_t label, struct dp_label *out)
{
    if (label >= dp->cfg.labels) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    if (dp->labels[label].nh == DP_NONE) {
        rc = VR_ENOENT;
    } else {
        out->label = label;
        out->nh = dp->labels[label].nh;
        out->gen = dp->labels[label].gen;
    }
    dp_env_unlock(dp->lock);
    return rc;
}

int dp_label_next(struct dp *dp, uint32_t *pos, struct dp_label *out)
{
    int rc = VR_EEND;
    dp_env_lock(dp->lock);
    for (; *pos < dp->cfg.labels; (*pos)++) {
        if (dp->labels[*pos].nh != DP_NONE) {
            out->label = *pos;
            out->nh = dp->labels[*pos].nh;
            out->gen = dp->labels[*pos].gen;
            (*pos)++;
            rc = 0;
            break;
        }
    }
    dp_env_unlock(dp->lock);
    return rc;
}

/* ---- VNIs ---- */

static uint32_t vni_find(const struct dp *dp, uint32_t vni, uint32_t **link)
{
    uint32_t *l = &dp->vni_bucket[dp_mix64(vni) & dp->vni_mask];
    for (uint32_t i = dp_load_acquire(l); i != DP_NONE; l = &dp->vnis[i].next, i = dp_load_acquire(l)) {
        if (dp->vnis[i].vni == vni) {
            if (link) {
                *link = l;
            }
            return i;
        }
    }
    return DP_NONE;
}

int dp_vni_lookup(const struct dp *dp, uint32_t vni, uint32_t *vrf, uint32_t *nh)
{
    uint32_t i = vni_find(dp, vni, 0);
    if (i == DP_NONE) {
        return 0;
    }
    uint64_t v = dp_load_acquire(&dp->vnis[i].val);
    *vrf = (uint32_t)(v >> 32);
    *nh = (uint32_t)v;
    return 1;
}

int dp_vni_add(struct dp *dp, const struct dp_vni *v)
{
    if (v->vni > 0xffffffu || v->vrf >= dp->cfg.vrfs || v->nh >= dp->cfg.nhs) {
        return VR_ERANGE;
    }
    int rc = 0;
    dp_env_lock(dp->lock);
    if (!dp->vrfs[v->vrf].present) {
        rc = VR_ENOVRF;
        goto out;
    }
    uint64_t val = (uint64_t)v->vrf << 32 | v->nh;
    uint32_t idx = vni_find(dp, v->vni, 0);
    if (idx != DP_NONE) {
        dp->vnis[idx].gen = dp->gen;
        dp_store_release(&dp->vnis[idx].val, val);
        goto out;
    }
    idx = dp_pool_alloc(&dp->vni_pool);
    if (idx == DP_NONE) {
        rc = VR_EFULL;
        goto out;
    }
    struct dp_vni_ent *e = &dp->vnis[idx];
    e->vni = v->vni;
    e->val = val;
    e->gen = dp->gen;
    e->used = 1;
    uint32_t *b = &dp->vni_bucket[dp_mix64(v->vni) & dp->vni_mask];
    e->next = *b;
    dp_store_release(b, idx);
out:
    dp_env_unlock(dp->lock);
    return rc;
}

static void vni_remove(struct dp *dp, uint32_t idx, uint32_t *link)
{
    dp_store_release(link, dp->vnis[idx].next);
    dp->vnis[idx].used = 0;
        dp_pool_free(&dp->vni_pool, idx);
}

int dp_vni_del(struct dp *dp, uint32_t vni)
{
    int rc = 0;
    dp_env_lock(dp->lock);
    uint32_t *link;
    uint32_t idx = vni_find(dp, vni, &link);
    if (idx == DP_NONE) {
        rc = VR_ENOENT;
    } else {
        vni_remove(dp, idx, link);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

static void vni_export(const struct dp_vni_ent *e, struct dp_vni *o)
{
    o->vni = e->vni;
    o->vrf = (uint32_t)(e->val >> 32);
    o->nh = (uint32_t)e->val;
    o->gen = e->gen;
}

int dp_vni_get(struct dp *dp, uint32_t vni, struct dp_vni *out)
{
    int rc = 0;
    dp_env_lock(dp->lock);
    uint32_t idx = vni_find(dp, vni, 0);
    if (idx == DP_NONE) {
        rc = VR_ENOENT;
    } else {
        vni_export(&dp->vnis[idx], out);
    }
    dp_env_unlock(dp->lock);
    return rc;
}

int dp_vni_next(struct dp *dp, uint32_t *pos, struct dp_vni *out)
{
    int rc = VR_EEND;
    dp_env_lock(dp->lock);
    for (; *pos < dp->cfg.vnis; (*pos)++) {
        if (dp->vnis[*pos + 1].used) {
            vni_export(&dp->vnis[*pos + 1], out);
            (*pos)++;
            rc = 0;
            break;
        }
    }
    dp_env_unlock(dp->lock);
    return rc;
}

/* ---- sweep ---- */

static int older(uint32_t gen, uint32_t than)
{
    return (int32_t)(gen - than) < 0;
}

uint32_t dp_sweep(struct dp *dp, uint32_t gen)
{
    uint32_t removed = 0;
    dp_env_lock(dp->lock);
    removed += dp_flow_sweep(dp, gen);
    for (uint32_t b = 0; b <= dp->route_mask; b++) {
        uint32_t *link = &dp->route_bucket[b];
        while (*link != DP_NONE) {
            struct dp_route_ent *e = &dp->routes[*link];
            if (older(e->gen, gen)) {
                route_remove(dp, *link, link);
                removed++;
            } else {
                link = &e->next;
            }
        }
    }
    for (uint32_t b = 0; b <= dp->mac_mask; b++) {
        uint32_t *link = &dp->mac_bucket[b];
        while (*link != DP_NONE) {
            struct dp_mac_ent *e = &dp->macs[*link];
            if (older(e->gen, gen)) {
                uint32_t idx = *link;
                dp_store_release(link, e->next);
                dp->macs[idx].used = 0;
        dp_pool_free(&dp->mac_pool, idx);
                removed++;
            } else {
                link = &e->next;
            }
        }
    }
    for (uint32_t l = 0; l < dp->cfg.labels; l++) {
        if (dp->labels[l].nh != DP_NONE && older(dp->labels[l].gen, gen)) {
            dp_store_release(&dp->labels[l].nh, DP_NONE);
            removed++;
        }
    }
    for (uint32_t b = 0; b <= dp->vni_mask; b++) {
        uint32_t *link = &dp->vni_bucket[b];
        while (*link != DP_NONE) {
            struct dp_vni_ent *e = &dp->vnis[*link];
            if (older(e->gen, gen)) {
                vni_remove(dp, *link, link);
                removed++;
            } else {
                link = &e->next;
            }
        }
    }
    for (uint32_t id = 1; id < dp->cfg.nhs; id++) {
        if (dp->nhs[id].type != DP_NH_NONE && older(dp->nhs[id].gen, gen)) {
            nh_clear(dp, id);
            removed++;
        }
    }
    for (uint32_t i = 0; i < dp->cfg.ifs; i++) {
        if (dp->ifs[i].type != DP_IF_NONE && older(dp->ifs[i].gen, gen)) {
            if_clear(dp, i);
            removed++;
        }
    }
    for (uint32_t v = 0; v < dp->cfg.vrfs; v++) {
        if (dp->vrfs[v].present && older(dp->vrfs[v].gen, gen)) {
            vrf_clear(dp, v);
            removed++;
        }
    }
    dp_env_unlock(dp->lock);
    dp_env_log(DP_ENV_LOG_INFO, "dp sweep removed entries", removed);
    return removed;
}

/* ---- statistics ---- */

void dp_stats_get(struct dp *dp, struct dp_stats *out)
{
    dp_memset(out, 0, sizeof *out);
    for (uint32_t r = 0; r < DP_DROP_COUNT; r++) {
        out->drops[r] = dp_load_relaxed(&dp->drops[r]);
    }
    out->punts = dp_load_relaxed(&dp->punts);
    dp_env_lock(dp->flow_lock);
    for (uint32_t i = 0; i < dp->flow_main + dp->cfg.flow_overflow; i++) {
        uint32_t s = dp->flows[i].state;
        out->flows_active += s == DP_FLOW_ACTIVE;
        out->flows_held += s == DP_FLOW_HOLD;
    }
    dp_env_unlock(dp->flow_lock);
}

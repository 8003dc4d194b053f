/* The per-packet pipeline of the vRouter core (dp_rx). From a VM port:
 * punt ARP, DHCP, DNS to the gateway and IPv6 ND to the agent; send
 * broadcast/multicast to the VRF's BUM composite; check the flow table on
 * policy ports (miss: hold and punt the first packet); route by longest
 * prefix in the port's VRF (routed traffic: TTL decrement, MAC rewrite, and
 * for MPLS the inner Ethernet header is dropped); with no route, bridge by
 * destination MAC (unknown unicast is dropped, never flooded); then deliver
 * locally or encapsulate in MPLSoGRE, MPLSoUDP or VXLAN. From the fabric:
 * check the outer headers, decapsulate by MPLS label or VNI, and deliver to
 * the local port. From the agent: transmit the frames it injects.
 *
 * Every read of packet bytes goes through dp_pkt_at(), which grants a
 * bounded window; offsets below are relative to the frame start (pkt->off).
 * Nothing here allocates; tables are read lock-free (see dp_int.h). */
#include "vrouter/dp/dp_int.h"

#define ETH_IP4 0x0800
#define ETH_IP6 0x86dd
#define ETH_ARP 0x0806
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_GRE_ 47
#define IPPROTO_ICMP6_ 58
#define ETH_MPLS 0x8847
#define PORT_MPLS_UDP 6635
#define PORT_VXLAN 4789

struct ifv {
    uint8_t type;
    uint8_t flags;
    uint32_t vrf;
    uint32_t ip4, gw_ip4, dns_ip4;
};

/* Transmit counters accumulated over a dp_rx call or a batch and added to
 * the interface when the output interface changes and at the end. */
struct acct {
    uint32_t tx_if;
    uint32_t tx_packets;
    uint64_t tx_bytes;
};

struct ctx {
    struct dp *dp;
    struct dp_pkt *pkt;
    struct dp_out *out;
    uint64_t now;
    uint32_t in_if;
    uint32_t vrf;
    uint8_t family;   /* 0 (not IP), 4 or 6 */
    uint8_t has_ports;
    uint8_t hash_ok;
    uint32_t l3;      /* IP header offset in the frame */
    uint32_t l3_len;  /* IP total length */
    uint32_t l4;      /* L4 header offset, when has_ports */
    uint32_t hash;
    uint32_t mirror_nh;
    uint8_t eth[14];  /* the Ethernet header as received (mirror copies) */
    struct dp_flow_key key;
    struct acct *acct;
    uint32_t flow_idx; /* the flow a VM-side packet hit, when its decision may be cached */
    struct dp_flow_view fv; /* that flow as read */
};

/* ---- small helpers ---- */

static void if_read(const struct dp *dp, uint32_t ifindex, struct ifv *v)
{
    const struct dp_if_ent *e = &dp->ifs[ifindex];
    uint32_t s;
    do {
        s = dp_seq_read_begin(&e->seq);
        v->type = e->type;
        v->flags = e->flags;
        v->vrf = e->vrf;
        v->ip4 = e->ip4;
        v->gw_ip4 = e->gw_ip4;
        v->dns_ip4 = e->dns_ip4;
    } while (dp_seq_read_retry(&e->seq, s));
}

/* The fields of a next hop the pipeline uses, copied under its sequence
 * counter. A tunnel's header template is copied later straight into the
 * packet from 'e' and checked against 'seq' (see encap). */
struct nhv {
    uint8_t type;
    uint8_t encap;
    uint8_t flags;
    uint8_t member_count;
    uint8_t tmpl_size;
    uint32_t id;
    uint32_t ifindex;
    uint32_t vrf;
    uint32_t comp;
    uint32_t csum_base;
    uint32_t seq;
    uint8_t dmac[6];
    const struct dp_nh_ent *e;
};

/* Reads next hop 'id' (type DP_NH_NONE when out of range or absent) and,
 * when 'members' is not NULL, its composite member list. */
static void nh_read(const struct dp *dp, uint32_t id, struct nhv *v, uint32_t *members)
{
    v->id = id;
    if (id == DP_NONE || id >= dp->cfg.nhs) {
        v->type = DP_NH_NONE;
        v->member_count = 0;
        return;
    }
    const struct dp_nh_ent *e = &dp->nhs[id];
    v->e = e;
    uint32_t s;
    do {
        s = dp_seq_read_begin(&e->seq);
        v->type = e->type;
        v->encap = e->encap;
        v->flags = e->flags;
        v->member_count = e->member_count;
        v->tmpl_size = e->tmpl_size;
        v->ifindex = e->ifindex;
        v->vrf = e->vrf;
        v->comp = e->comp;
        v->csum_base = e->csum_base;
        dp_memcpy(v->dmac, e->dmac, 6);
        if (members && v->member_count) {
            dp_memcpy(members, dp->comps[v->comp].members, DP_NH_MAX_MEMBERS * sizeof(uint32_t));
        }
    } while (dp_seq_read_retry(&e->seq, s));
    v->seq = s;
    if (v->member_count > DP_NH_MAX_MEMBERS) {
        v->type = DP_NH_NONE;
    }
}

/* Reads the fields of IF/TUNNEL next hop 'id' the send path uses, only if
 * it is still at sequence 'seq' (as a flow's cache recorded it). Returns 1
 * with 'v' filled, 0 when the next hop changed. */
static int nh_read_at(const struct dp *dp, uint32_t id, uint32_t seq, struct nhv *v)
{
    const struct dp_nh_ent *e = &dp->nhs[id];
    if (dp_load_acquire(&e->seq) != seq) {
        return 0;
    }
    v->id = id;
    v->e = e;
    v->seq = seq;
    v->type = e->type;
    v->encap = e->encap;
    v->flags = e->flags;
    v->member_count = 0;
    v->tmpl_size = e->tmpl_size;
    v->ifindex = e->ifindex;
    v->csum_base = e->csum_base;
    dp_memcpy(v->dmac, e->dmac, 6);
    return !dp_seq_read_retry(&e->seq, seq);
}

static void drop(struct ctx *c, enum dp_drop reason)
{
    c->out->verdict = DP_VERDICT_DROP;
    c->out->drop = (uint8_t)reason;
    c->out->count = 0;
    dp_counter_add(&c->dp->drops[reason], 1);
    if (c->in_if < c->dp->cfg.ifs) {
        dp_counter_add(&c->dp->ifs[c->in_if].drops, 1);
    }
}

static void acct_flush(struct dp *dp, struct acct *a)
{
    if (a->tx_packets) {
        struct dp_if_ent *e = &dp->ifs[a->tx_if];
        dp_counter_add(&e->tx_packets, a->tx_packets);
        dp_counter_add(&e->tx_bytes, a->tx_bytes);
        a->tx_packets = 0;
        a->tx_bytes = 0;
    }
}

static struct dp_tx *tx_add(struct ctx *c, uint32_t ifindex)
{
    struct dp_out *o = c->out;
    if (o->count >= DP_OUT_MAX) {
        dp_counter_add(&c->dp->drops[DP_DROP_REPLICA_LIMIT], 1);
        return 0;
    }
    struct dp_tx *t = &o->tx[o->count++];
    t->ifindex = ifindex;
    t->off = c->pkt->off;
    t->len = c->pkt->len;
    t->hdr_size = 0;
    o->verdict = DP_VERDICT_TX;
    struct acct *a = c->acct;
    if (a->tx_if != ifindex) {
        acct_flush(c->dp, a);
        a->tx_if = ifindex;
    }
    a->tx_packets++;
    a->tx_bytes += c->pkt->len;
    return t;
}

static void punt(struct ctx *c, enum dp_punt_reason reason, uint32_t flow)
{
    uint32_t agent = dp_load_acquire(&c->dp->agent_if);
    if (agent == 0) {
        drop(c, DP_DROP_NO_AGENT);
        return;
    }
    c->out->count = 0;
    struct dp_tx *t = tx_add(c, agent - 1);
    uint8_t *h = t->hdr;
    dp_put16(h, DP_PUNT_MAGIC);
    h[2] = DP_PUNT_VERSION;
    h[3] = (uint8_t)reason;
    dp_put32(h + 4, c->in_if);
    dp_put32(h + 8, c->vrf);
    dp_put32(h + 12, flow);
    t->hdr_size = DP_PUNT_HDR_SIZE;
    c->out->verdict = DP_VERDICT_PUNT;
    dp_counter_add(&c->dp->punts, 1);
}

static uint32_t ctx_hash(struct ctx *c)
{
    if (!c->hash_ok) {
        if (c->family) {
            c->hash = dp_flow_hash(&c->key);
        } else {
            uint64_t a = dp_ld64(c->eth) ^ ((uint64_t)dp_be32(c->eth + 8) << 16);
            c->hash = dp_mix64(a ^ c->vrf);
        }
        c->hash_ok = 1;
    }
    return c->hash;
}

/* ---- parsing ---- */

/* Parses the IPv4 or IPv6 header at 'off' (ethertype 'et') into 'c'.
 * Returns DP_DROP_NONE, or why the packet is malformed. */
static enum dp_drop parse_ip(struct ctx *c, uint32_t off, uint16_t et)
{
    const struct dp_pkt *p = c->pkt;
    struct dp_flow_key *k = &c->key;
    uint32_t l4;
    dp_memset(k, 0, sizeof *k);
    c->has_ports = 0;
    c->hash_ok = 0;
    if (et == ETH_IP4) {
        const uint8_t *h = dp_pkt_at(p, off, 20);
        if (!h) {
            return DP_DROP_TRUNCATED;
        }
        uint32_t hl = (h[0] & 0xfu) * 4u;
        uint32_t tot = dp_be16(h + 2);
        if ((h[0] >> 4) != 4 || hl < 20 || tot < hl) {
            return DP_DROP_BAD_IP;
        }
        if (!dp_pkt_at(p, off, tot)) {
            return DP_DROP_TRUNCATED;
        }
        c->family = 4;
        c->l3_len = tot;
        k->proto = h[9];
        dp_memcpy(k->src, h + 12, 4);
        dp_memcpy(k->dst, h + 16, 4);
        if ((dp_be16(h + 6) & 0x1fffu) != 0) {
            goto done; /* a later fragment: no ports */
        }
        l4 = off + hl;
    } else {
        const uint8_t *h = dp_pkt_at(p, off, 40);
        if (!h) {
            return DP_DROP_TRUNCATED;
        }
        if ((h[0] >> 4) != 6) {
            return DP_DROP_BAD_IP;
        }
        uint32_t tot = 40u + dp_be16(h + 4);
        if (!dp_pkt_at(p, off, tot)) {
            return DP_DROP_TRUNCATED;
        }
        c->family = 6;
        c->l3_len = tot;
        k->proto = h[6];
        dp_memcpy(k->src, h + 8, 16);
        dp_memcpy(k->dst, h + 24, 16);
        l4 = off + 40;
    }
    if (k->proto == IPPROTO_TCP_ || k->proto == IPPROTO_UDP_) {
        const uint8_t *ports = dp_pkt_at(p, l4, k->proto == IPPROTO_TCP_ ? 20 : 8);
        if (!ports || l4 - off + (k->proto == IPPROTO_TCP_ ? 20u : 8u) > c->l3_len) {
            return DP_DROP_TRUNCATED;
        }
        k->sport = dp_be16(ports);
        k->dport = dp_be16(ports + 2);
        c->has_ports = 1;
        c->l4 = l4;
    }
done:
    c->key.family = c->family;
    c->key.vrf = c->vrf;
    c->l3 = off;
    return DP_DROP_NONE;
}

/* ---- rewrites ---- */

/* The IPv4 checksum at 'ip' + 10 after the TTL at 'ip' + 8 went down by one:
 * RFC 1624 eqn. 3 with m' = m - 0x100 gives HC' = ~(~HC + 0xfeff), which is
 * HC + 0x0100 in ones' complement arithmetic (byte-order independent, so
 * done on the word as loaded), with zero as 0x0000 like eqn. 3 and a full
 * recomputation give it. */
static inline void csum_ttl_dec(uint8_t *ip)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* As loaded, + 0x0100 is + 1; the end-around carry adds one more when
     * that reaches 0xffff (0xffff becomes 0). */
    uint32_t x = dp_ld16(ip + 10);
    dp_st16(ip + 10, (uint16_t)(x + 2 - (x < 0xfffeu)));
#else
    uint32_t sum = (uint32_t)dp_ld16(ip + 10) + 0x0100;
    sum += sum >= 0xffffu;
    dp_st16(ip + 10, (uint16_t)sum);
#endif
}

/* Decrements the TTL / hop limit of the packet parsed in 'c'. */
static int ttl_dec(struct ctx *c)
{
    uint8_t *h = dp_pkt_at(c->pkt, c->l3, c->family == 4 ? 20 : 40);
    if (c->family == 4) {
        if (h[8] <= 1) {
            return -1;
        }
        h[8]--;
        csum_ttl_dec(h);
    } else {
        if (h[7] <= 1) {
            return -1;
        }
        h[7]--;
    }
    return 0;
}

/* Applies a NAT action to the IPv4 packet in 'c'. */
static void nat_apply(struct ctx *c, const struct dp_flow_action *a)
{
    if (c->family != 4) {
        return;
    }
    uint8_t *h = dp_pkt_at(c->pkt, c->l3, 20);
    uint8_t *l4csum = 0;
    uint8_t *l4 = 0;
    if (c->has_ports) {
        l4 = dp_pkt_at(c->pkt, c->l4, 8);
        if (c->key.proto == IPPROTO_TCP_) {
            l4csum = dp_pkt_at(c->pkt, c->l4 + 16, 2);
        } else if (dp_be16(l4 + 6) != 0) {
            l4csum = l4 + 6;
        }
    }
    for (int dir = 0; dir < 2; dir++) {
        if (!(a->flags & (dir ? DP_FA_DNAT : DP_FA_SNAT))) {
            continue;
        }
        uint8_t *ip = h + (dir ? 16 : 12);
        uint32_t old = dp_be32(ip);
        dp_put32(ip, a->nat_ip);
        dp_csum_replace32(h + 10, old, a->nat_ip);
        if (l4csum) {
            dp_csum_replace32(l4csum, old, a->nat_ip);
        }
        if (l4 && a->nat_port) {
            uint8_t *port = l4 + (dir ? 2 : 0);
            uint16_t op = dp_be16(port);
            dp_put16(port, a->nat_port);
            if (l4csum) {
                dp_csum_replace16(l4csum, op, a->nat_port);
            }
        }
        if (l4csum && c->key.proto == IPPROTO_UDP_ && dp_be16(l4csum) == 0) {
            dp_put16(l4csum, 0xffff);
        }
    }
}

static inline void copy8(uint8_t *dst, const uint8_t *src, uint32_t at)
{
    uint64_t w;
    dp_memcpy(&w, src + at, 8);
    dp_memcpy(dst + at, &w, 8);
}

/* Copies the header template 'src' of a tunnel with encapsulation 'encap'
 * (42, 46 or 50 bytes, as nh_build_template sizes it) to 'dst' in 8-byte
 * moves, the last one overlapping; never a byte beyond the template (the
 * payload follows it) and never a string instruction. */
static inline void tmpl_copy(uint8_t *dst, const uint8_t *src, uint8_t encap)
{
    copy8(dst, src, 0);
    copy8(dst, src, 8);
    copy8(dst, src, 16);
    copy8(dst, src, 24);
    copy8(dst, src, 32);
    switch (encap) {
    case DP_ENCAP_MPLS_GRE:
        copy8(dst, src, 42 - 8);
        break;
    case DP_ENCAP_MPLS_UDP:
        copy8(dst, src, 46 - 8);
        break;
    default:
        copy8(dst, src, 40);
        copy8(dst, src, 50 - 8);
        break;
    }
}

/* Writes the outer header of tunnel 'n' for a payload of 'payload_len'
 * bytes into 'dst' (n->tmpl_size bytes). Returns 0, or -1 when the next hop
 * changed meanwhile (the caller reads it again and retries). */
static int tunnel_hdr(const struct nhv *n, uint8_t *dst, uint32_t payload_len, uint32_t hash)
{
    tmpl_copy(dst, n->e->tmpl, n->encap);
    uint32_t iplen = n->tmpl_size - 14u + payload_len;
    dp_put16(dst + 16, (uint16_t)iplen);
    dp_put16(dst + 24, (uint16_t)~dp_csum_fold(n->csum_base + iplen));
    if (n->encap != DP_ENCAP_MPLS_GRE) {
        dp_put16(dst + 34, dp_udp_sport(hash));
        dp_put16(dst + 38, (uint16_t)(iplen - 20));
    }
    return dp_seq_read_retry(&n->e->seq, n->seq) ? -1 : 0;
}

/* Writes tunnel 'n''s header into 't', the replica just added last, plus
 * room for 'eth_extra' more header bytes. Returns 0, or -1 after taking the
 * replica back when the next hop stopped being a tunnel meanwhile. */
static int replica_hdr(struct ctx *c, struct nhv *n, struct dp_tx *t, uint32_t payload_len, uint32_t eth_extra)
{
    while (tunnel_hdr(n, t->hdr, payload_len, ctx_hash(c)) != 0) {
        nh_read(c->dp, n->id, n, 0);
        if (n->type != DP_NH_TUNNEL) {
            c->out->count--;
            return -1;
        }
    }
    t->hdr_size = (uint16_t)(n->tmpl_size + eth_extra);
    return 0;
}

/* Encapsulates in place: the payload is the frame from 'start' on. */
static void encap(struct ctx *c, struct nhv *n, uint32_t start)
{
    struct dp_pkt *p = c->pkt;
    uint32_t payload_len = p->len - start;
    uint32_t hash = ctx_hash(c);
    for (;;) {
        if (n->tmpl_size - 14u + payload_len > 0xffffu) {
            drop(c, DP_DROP_BAD_IP); /* the outer IPv4 length would overflow */
            return;
        }
        if (p->off + start < n->tmpl_size) {
            drop(c, DP_DROP_NO_HEADROOM);
            return;
        }
        if (tunnel_hdr(n, p->buf + p->off + start - n->tmpl_size, payload_len, hash) == 0) {
            break;
        }
        nh_read(c->dp, n->id, n, 0);
        if (n->type != DP_NH_TUNNEL) {
            drop(c, DP_DROP_NO_NH);
            return;
        }
    }
    p->off = p->off + start - n->tmpl_size;
    p->len = n->tmpl_size + payload_len;
    tx_add(c, n->ifindex);
}

/* Resolves ECMP next hop 'n' to the member chosen by the flow hash. */
static void ecmp_pick(struct ctx *c, struct nhv *n, uint32_t *members)
{
    uint32_t m = (uint32_t)(((uint64_t)ctx_hash(c) * n->member_count) >> 32);
    nh_read(c->dp, members[m], n, 0);
    if (n->type == DP_NH_ECMP || n->type == DP_NH_BUM) {
        n->type = DP_NH_NONE;
    }
}

/* A copy of the frame (Ethernet header as received + the IP packet now in
 * the buffer, or the whole frame when not IP) to next hop 'id'. */
static void mirror(struct ctx *c, uint32_t id, uint32_t abs_l3, uint32_t l3_len)
{
    struct nhv n;
    nh_read(c->dp, id, &n, 0);
    if (n.type != DP_NH_TUNNEL && n.type != DP_NH_IF) {
        return;
    }
    uint32_t payload = 14 + l3_len;
    if (c->out->verdict == DP_VERDICT_DROP) {
        return;
    }
    struct dp_tx *t = tx_add(c, n.ifindex);
    if (!t) {
        return;
    }
    t->off = abs_l3;
    t->len = l3_len;
    uint32_t eth_at = 0;
    t->hdr_size = 14;
    if (n.type == DP_NH_TUNNEL) {
        if (replica_hdr(c, &n, t, payload, 14) != 0) {
            return;
        }
        eth_at = n.tmpl_size;
    }
    dp_memcpy(t->hdr + eth_at, c->eth, 14);
}

/* Ingress replication of the frame to BUM composite 'id'; from the fabric
 * only local ports receive copies (split horizon), never the ingress port. */
static void bum(struct ctx *c, uint32_t id, int from_fabric)
{
    struct nhv n;
    uint32_t members[DP_NH_MAX_MEMBERS];
    nh_read(c->dp, id, &n, members);
    if (n.type != DP_NH_BUM) {
        drop(c, id == DP_NONE ? DP_DROP_NO_BUM : DP_DROP_NO_NH);
        return;
    }
    c->out->count = 0;
    for (uint32_t i = 0; i < n.member_count; i++) {
        struct nhv m;
        nh_read(c->dp, members[i], &m, 0);
        if (m.type == DP_NH_IF && m.ifindex != c->in_if) {
            tx_add(c, m.ifindex);
        } else if (m.type == DP_NH_TUNNEL && !from_fabric && c->pkt->len + m.tmpl_size - 14u <= 0xffffu) {
            struct dp_tx *t = tx_add(c, m.ifindex);
            if (t) {
                replica_hdr(c, &m, t, c->pkt->len, 0);
            }
        }
    }
    if (c->out->count == 0) {
        drop(c, DP_DROP_NO_REPLICA);
    }
}

/* ---- the flow stage ---- */

/* Checks the flow table for the packet parsed in 'c' (key VRF c->vrf).
 * Returns 1 to go on (after applying NAT; '*route_vrf' updated), 0 when the
 * packet was dropped or punted. */
static int flow_stage(struct ctx *c, uint32_t *route_vrf)
{
    struct dp *dp = c->dp;
    uint32_t hash = ctx_hash(c);
    struct dp_flow_view *v = &c->fv;
    uint32_t idx = dp_flow_lookup(dp, &c->key, hash, v);
    if (idx == DP_FLOW_NONE) {
        idx = dp_flow_hold(dp, &c->key, hash, c->now);
        if (idx == DP_FLOW_NONE) {
            drop(c, DP_DROP_FLOW_FULL);
        } else {
            punt(c, DP_PUNT_FLOW_MISS, idx);
        }
        return 0;
    }
    struct dp_flow_ent *e = &dp->flows[idx];
    const struct dp_flow_action a = v->act;
    if (v->state != DP_FLOW_ACTIVE) {
        drop(c, DP_DROP_FLOW_HOLD);
        return 0;
    }
    dp_counter_add(&e->packets, 1);
    dp_counter_add(&e->bytes, c->pkt->len);
    dp_store_relaxed(&e->last_seen, c->now);
    switch ((enum dp_flow_action_type)a.type) {
    case DP_FLOW_DROP:
        drop(c, DP_DROP_FLOW_ACTION);
        return 0;
    case DP_FLOW_NAT:
        nat_apply(c, &a);
        c->flow_idx = idx;
        break;
    case DP_FLOW_MIRROR:
        c->mirror_nh = a.mirror_nh;
        break;
    case DP_FLOW_FORWARD:
        c->flow_idx = idx;
        break;
    }
    if (a.flags & DP_FA_VRF) {
        *route_vrf = a.vrf;
    }
    return 1;
}

/* ---- VM side ---- */

static void set_eth(uint8_t *eth, const uint8_t *dst, const uint8_t *src)
{
    dp_memcpy(eth, dst, 6);
    dp_memcpy(eth + 6, src, 6);
}

/* Sends the routed packet in 'c' via resolved next hop 'n' (an ECMP
 * composite was already resolved to its member). */
static void route_send(struct ctx *c, struct nhv *n)
{
    uint32_t abs_l3 = c->pkt->off + c->l3;
    switch ((enum dp_nh_type)n->type) {
    case DP_NH_IF:
    case DP_NH_TUNNEL: {
        if (ttl_dec(c) != 0) {
            drop(c, DP_DROP_TTL);
            return;
        }
        c->pkt->len = c->l3 + c->l3_len; /* drop Ethernet padding */
        uint8_t *eth = dp_pkt_at(c->pkt, 0, 14);
        if (n->type == DP_NH_IF) {
            set_eth(eth, n->dmac, c->dp->cfg.router_mac);
            tx_add(c, n->ifindex);
        } else if (n->encap == DP_ENCAP_VXLAN) {
            set_eth(eth, n->dmac, c->dp->cfg.router_mac);
            encap(c, n, 0);
        } else {
            encap(c, n, c->l3);
        }
        break;
    }
    case DP_NH_DISCARD:
        drop(c, DP_DROP_DISCARD);
        return;
    case DP_NH_PUNT:
        punt(c, DP_PUNT_NH, DP_FLOW_NONE);
        return;
    case DP_NH_NONE:
    case DP_NH_VRF:
    case DP_NH_ECMP:
    case DP_NH_BUM:
        drop(c, DP_DROP_NO_NH);
        return;
    }
    if (c->mirror_nh) {
        mirror(c, c->mirror_nh, abs_l3, c->l3_len);
    }
}

/* Sends the routed packet in 'c' via next hop 'id', which a lookup made
 * while the routing VRF was at route version 'rt_ver' returned, and records
 * the decision in the packet's flow when it may be cached. */
static void route_out(struct ctx *c, uint32_t id, uint32_t rt_ver)
{
    struct nhv n;
    uint32_t members[DP_NH_MAX_MEMBERS];
    nh_read(c->dp, id, &n, members);
    uint32_t top_seq = n.seq;
    if (n.type == DP_NH_ECMP) {
        ecmp_pick(c, &n, members);
    }
    if (c->flow_idx != DP_FLOW_NONE && (n.type == DP_NH_IF || n.type == DP_NH_TUNNEL)) {
        struct dp_flow_cache fc = {.rt_ver = rt_ver, .nh = id, .nh_seq = top_seq, .leaf = n.id, .leaf_seq = n.seq};
        dp_flow_cache_fill(c->dp, c->flow_idx, c->fv.seq, &fc);
    }
    route_send(c, &n);
}

/* Sends the routed packet in 'c' by the decision cached in its flow, if
 * every next hop it recorded is unchanged. Returns 1 when sent (or
 * dropped), 0 when the cache is stale and the caller must look up. */
static int route_cached(struct ctx *c)
{
    const struct dp_flow_cache *fc = &c->fv.cache;
    if (fc->leaf != fc->nh && dp_load_acquire(&c->dp->nhs[fc->nh].seq) != fc->nh_seq) {
        return 0;
    }
    struct nhv n;
    if (!nh_read_at(c->dp, fc->leaf, fc->leaf_seq, &n)) {
        return 0;
    }
    route_send(c, &n);
    return 1;
}

/* Sends the bridged frame in 'c' (unchanged) via next hop 'id'. */
static void bridge_out(struct ctx *c, uint32_t id)
{
    struct nhv n;
    uint32_t members[DP_NH_MAX_MEMBERS];
    nh_read(c->dp, id, &n, members);
    if (n.type == DP_NH_ECMP) {
        ecmp_pick(c, &n, members);
    }
    uint32_t abs_l3 = c->pkt->off + c->l3;
    switch ((enum dp_nh_type)n.type) {
    case DP_NH_IF:
        tx_add(c, n.ifindex);
        break;
    case DP_NH_TUNNEL:
        encap(c, &n, 0);
        break;
    case DP_NH_BUM:
        bum(c, id, 0);
        return;
    case DP_NH_DISCARD:
        drop(c, DP_DROP_DISCARD);
        return;
    case DP_NH_PUNT:
        punt(c, DP_PUNT_NH, DP_FLOW_NONE);
        return;
    case DP_NH_NONE:
    case DP_NH_VRF:
    case DP_NH_ECMP:
        drop(c, DP_DROP_NO_NH);
        return;
    }
    if (c->mirror_nh && c->family) {
        mirror(c, c->mirror_nh, abs_l3, c->l3_len);
    }
}

/* Why a packet from VM port 'in' goes to the agent, or 0. Packets punted
 * here never reach the flow stage, so their flows never get a cached
 * decision; the established-flow fast path (vm_fast4) relies on that for
 * every reason that depends on the flow key alone (DHCP, ND) and checks the
 * port-dependent one (DNS to the gateway) itself. */
static int vm_punt_reason(const struct ctx *c, const struct ifv *in)
{
    if (!c->has_ports && !(c->family == 6 && c->key.proto == IPPROTO_ICMP6_)) {
        return 0;
    }
    if (c->key.proto == IPPROTO_UDP_) {
        uint16_t sp = c->key.sport, dp = c->key.dport;
        if (c->family == 4 && (dp == 67 || dp == 68 || sp == 68)) {
            return DP_PUNT_DHCP;
        }
        if (c->family == 6 && (dp == 547 || sp == 546)) {
            return DP_PUNT_DHCP;
        }
        if (dp == 53 && c->family == 4) {
            uint32_t dst = dp_be32(c->key.dst);
            if ((in->gw_ip4 && dst == in->gw_ip4) || (in->dns_ip4 && dst == in->dns_ip4)) {
                return DP_PUNT_DNS;
            }
        }
        return 0;
    }
    if (c->key.proto == IPPROTO_ICMP6_) {
        const uint8_t *t = dp_pkt_at(c->pkt, c->l3 + 40, 1);
        if (t && *t >= 133 && *t <= 137) {
            return DP_PUNT_ND;
        }
    }
    return 0;
}

static void rx_vm(struct ctx *c, const struct ifv *in)
{
    const uint8_t *eth = dp_pkt_at(c->pkt, 0, 14);
    if (!eth) {
        drop(c, DP_DROP_TRUNCATED);
        return;
    }
    dp_memcpy(c->eth, eth, 14);
    c->vrf = in->vrf;
    uint16_t et = dp_be16(eth + 12);
    if (et == ETH_ARP) {
        punt(c, DP_PUNT_ARP, DP_FLOW_NONE);
        return;
    }
    if (et == ETH_IP4 || et == ETH_IP6) {
        enum dp_drop bad = parse_ip(c, 14, et);
        if (bad != DP_DROP_NONE) {
            drop(c, bad);
            return;
        }
        int reason = vm_punt_reason(c, in);
        if (reason) {
            punt(c, (enum dp_punt_reason)reason, DP_FLOW_NONE);
            return;
        }
    }
    if (!dp_load_acquire(&c->dp->vrfs[c->vrf].present)) {
        drop(c, DP_DROP_NO_VRF);
        return;
    }
    if (eth[0] & 1) {
        bum(c, dp_load_acquire(&c->dp->vrfs[c->vrf].bum_nh), 0);
        return;
    }
    if (c->family) {
        uint32_t route_vrf = c->vrf;
        if ((in->flags & DP_IF_POLICY) && !flow_stage(c, &route_vrf)) {
            return;
        }
        if (route_vrf >= c->dp->cfg.vrfs) {
            drop(c, DP_DROP_NO_VRF);
            return;
        }
        const struct dp_vrf_ent *rv = &c->dp->vrfs[route_vrf];
        uint32_t rt_ver = dp_load_acquire(&rv->rt_ver);
        if (c->flow_idx != DP_FLOW_NONE && c->fv.cache.nh != DP_NONE && c->fv.cache.rt_ver == rt_ver &&
            route_cached(c)) {
            return;
        }
        const uint8_t *dst = dp_pkt_at(c->pkt, c->l3 + (c->family == 4 ? 16 : 24), c->family == 4 ? 4 : 16);
        uint32_t root = dp_load_acquire(&rv->root[c->family == 6]);
        uint32_t nh = dp_lpm_lookup(c->dp, root, dst, c->family == 4 ? 4 : 16);
        if (nh != DP_NONE) {
            route_out(c, nh, rt_ver);
            return;
        }
    }
    uint32_t nh = dp_mac_lookup(c->dp, c->vrf, eth);
    if (nh == DP_NONE) {
        drop(c, DP_DROP_UNKNOWN_UNICAST);
        return;
    }
    bridge_out(c, nh);
}

/* ---- fabric side ---- */

/* Parses the inner frame now at the packet start (Ethernet) for the flow
 * key and hash. Returns DP_DROP_NONE or why it is malformed. */
static enum dp_drop parse_inner(struct ctx *c)
{
    const uint8_t *eth = dp_pkt_at(c->pkt, 0, 14);
    if (!eth) {
        return DP_DROP_TRUNCATED;
    }
    dp_memcpy(c->eth, eth, 14);
    uint16_t et = dp_be16(eth + 12);
    c->family = 0;
    c->hash_ok = 0;
    if (et == ETH_IP4 || et == ETH_IP6) {
        return parse_ip(c, 14, et);
    }
    return DP_DROP_NONE;
}

/* Delivers the decapsulated frame in 'c' to a local port via next hop 'id';
 * 'routed' rewrites the Ethernet header for the port. */
static void fabric_deliver(struct ctx *c, uint32_t id, int routed)
{
    struct nhv n;
    uint32_t members[DP_NH_MAX_MEMBERS];
    nh_read(c->dp, id, &n, members);
    if (n.type == DP_NH_ECMP) {
        ecmp_pick(c, &n, members);
    }
    switch ((enum dp_nh_type)n.type) {
    case DP_NH_IF: {
        struct ifv to;
        if_read(c->dp, n.ifindex, &to);
        if (c->family && (to.flags & DP_IF_POLICY)) {
            uint32_t unused = 0;
            c->vrf = to.vrf;
            c->key.vrf = to.vrf;
            c->hash_ok = 0;
            if (!flow_stage(c, &unused)) {
                return;
            }
        }
        if (routed) {
            set_eth(dp_pkt_at(c->pkt, 0, 14), n.dmac, c->dp->cfg.router_mac);
        }
        tx_add(c, n.ifindex);
        if (c->mirror_nh && c->family) {
            mirror(c, c->mirror_nh, c->pkt->off + c->l3, c->l3_len);
        }
        return;
    }
    case DP_NH_BUM:
        bum(c, id, 1);
        return;
    case DP_NH_TUNNEL:
        drop(c, DP_DROP_LOOP);
        return;
    case DP_NH_DISCARD:
        drop(c, DP_DROP_DISCARD);
        return;
    case DP_NH_PUNT:
        punt(c, DP_PUNT_NH, DP_FLOW_NONE);
        return;
    case DP_NH_NONE:
    case DP_NH_VRF:
    case DP_NH_ECMP:
        drop(c, DP_DROP_NO_NH);
        return;
    }
}

/* Looks the decapsulated Ethernet frame up in 'vrf': BUM, routed to the
 * router MAC, or bridged. */
static void fabric_in_vrf(struct ctx *c, uint32_t vrf)
{
    if (vrf >= c->dp->cfg.vrfs || !dp_load_acquire(&c->dp->vrfs[vrf].present)) {
        drop(c, DP_DROP_NO_VRF);
        return;
    }
    c->vrf = vrf;
    c->key.vrf = vrf;
    c->hash_ok = 0;
    if (c->eth[0] & 1) {
        bum(c, dp_load_acquire(&c->dp->vrfs[vrf].bum_nh), 1);
        return;
    }
    if (c->family && !dp_memcmp(c->eth, c->dp->cfg.router_mac, 6)) {
        const uint8_t *dst = dp_pkt_at(c->pkt, c->l3 + (c->family == 4 ? 16 : 24), c->family == 4 ? 4 : 16);
        uint32_t root = dp_load_acquire(&c->dp->vrfs[vrf].root[c->family == 6]);
        uint32_t nh = dp_lpm_lookup(c->dp, root, dst, c->family == 4 ? 4 : 16);
        if (nh != DP_NONE) {
            fabric_deliver(c, nh, 1);
            return;
        }
    }
    uint32_t nh = dp_mac_lookup(c->dp, vrf, c->eth);
    if (nh == DP_NONE) {
        drop(c, DP_DROP_UNKNOWN_UNICAST);
        return;
    }
    fabric_deliver(c, nh, 0);
}

/* Moves the frame start to 'at' (the decapsulated payload). */
static void strip(struct ctx *c, uint32_t at)
{
    c->pkt->off += at;
    c->pkt->len -= at;
}

static void fabric_mpls(struct ctx *c, uint32_t p)
{
    const uint8_t *m = dp_pkt_at(c->pkt, p, 4);
    if (!m) {
        drop(c, DP_DROP_TRUNCATED);
        return;
    }
    uint32_t lse = dp_be32(m);
    if (!(lse & 0x100u)) {
        drop(c, DP_DROP_LABEL_STACK);
        return;
    }
    uint32_t label = lse >> 12;
    uint32_t id = label < c->dp->cfg.labels ? dp_load_acquire(&c->dp->labels[label].nh) : DP_NONE;
    if (id == DP_NONE) {
        drop(c, DP_DROP_BAD_LABEL);
        return;
    }
    p += 4;
    struct nhv n;
    nh_read(c->dp, id, &n, 0);
    int l2 = n.type == DP_NH_BUM || (n.flags & DP_NH_L2);
    if (l2) {
        strip(c, p);
    } else {
        /* An IP packet: give it an Ethernet header in the bytes the outer
         * headers used (p >= 14 + 20 + 4 + 4). */
        const uint8_t *v = dp_pkt_at(c->pkt, p, 1);
        if (!v) {
            drop(c, DP_DROP_TRUNCATED);
            return;
        }
        uint16_t et = (*v >> 4) == 4 ? ETH_IP4 : (*v >> 4) == 6 ? ETH_IP6 : 0;
        if (!et) {
            drop(c, DP_DROP_BAD_IP);
            return;
        }
        strip(c, p - 14);
        uint8_t *eth = dp_pkt_at(c->pkt, 0, 14);
        set_eth(eth, n.dmac, c->dp->cfg.router_mac);
        dp_put16(eth + 12, et);
    }
    enum dp_drop bad = parse_inner(c);
    if (bad != DP_DROP_NONE) {
        drop(c, bad);
        return;
    }
    if (n.type == DP_NH_VRF) {
        if (!l2) {
            dp_memcpy(c->eth, c->dp->cfg.router_mac, 6); /* route, not bridge */
        }
        fabric_in_vrf(c, n.vrf);
        return;
    }
    fabric_deliver(c, id, !l2);
}

static void fabric_vxlan(struct ctx *c, uint32_t p)
{
    const uint8_t *v = dp_pkt_at(c->pkt, p, 8);
    if (!v) {
        drop(c, DP_DROP_TRUNCATED);
        return;
    }
    if (!(v[0] & 0x08)) {
        drop(c, DP_DROP_BAD_TUNNEL);
        return;
    }
    uint32_t vni = dp_be32(v + 4) >> 8;
    uint32_t vrf, nh;
    if (!dp_vni_lookup(c->dp, vni, &vrf, &nh)) {
        drop(c, DP_DROP_BAD_VNI);
        return;
    }
    strip(c, p + 8);
    enum dp_drop bad = parse_inner(c);
    if (bad != DP_DROP_NONE) {
        drop(c, bad);
        return;
    }
    if (nh != DP_NONE) {
        c->vrf = vrf;
        c->key.vrf = vrf;
        fabric_deliver(c, nh, 0);
        return;
    }
    fabric_in_vrf(c, vrf);
}

static void rx_fabric(struct ctx *c, const struct ifv *in)
{
    const uint8_t *eth = dp_pkt_at(c->pkt, 0, 14);
    if (!eth) {
        drop(c, DP_DROP_TRUNCATED);
        return;
    }
    if (dp_be16(eth + 12) != ETH_IP4) {
        drop(c, DP_DROP_NOT_TUNNEL);
        return;
    }
    const uint8_t *ip = dp_pkt_at(c->pkt, 14, 20);
    if (!ip) {
        drop(c, DP_DROP_TRUNCATED);
        return;
    }
    uint32_t hl = (ip[0] & 0xfu) * 4u;
    uint32_t tot = dp_be16(ip + 2);
    if ((ip[0] >> 4) != 4 || hl < 20 || tot < hl) {
        drop(c, DP_DROP_BAD_IP);
        return;
    }
    if (!dp_pkt_at(c->pkt, 14, tot)) {
        drop(c, DP_DROP_TRUNCATED);
        return;
    }
    if (dp_be16(ip + 6) & 0x3fffu) {
        drop(c, DP_DROP_OUTER_FRAG);
        return;
    }
    if (in->ip4 && dp_be32(ip + 16) != in->ip4) {
        drop(c, DP_DROP_NOT_FOR_US);
        return;
    }
    c->pkt->len = 14 + tot; /* the outer frame's padding is not payload */
    uint32_t p = 14 + hl;
    if (ip[9] == IPPROTO_GRE_) {
        const uint8_t *g = dp_pkt_at(c->pkt, p, 4);
        if (!g) {
            drop(c, DP_DROP_TRUNCATED);
            return;
        }
        if (dp_be16(g) != 0 || dp_be16(g + 2) != ETH_MPLS) {
            drop(c, DP_DROP_BAD_TUNNEL);
            return;
        }
        fabric_mpls(c, p + 4);
        return;
    }
    if (ip[9] == IPPROTO_UDP_) {
        const uint8_t *u = dp_pkt_at(c->pkt, p, 8);
        if (!u) {
            drop(c, DP_DROP_TRUNCATED);
            return;
        }
        uint32_t ulen = dp_be16(u + 4);
        if (ulen < 8 || ulen > tot - hl) {
            drop(c, DP_DROP_BAD_TUNNEL);
            return;
        }
        uint16_t dport = dp_be16(u + 2);
        if (dport == PORT_MPLS_UDP) {
            fabric_mpls(c, p + 8);
            return;
        }
        if (dport == PORT_VXLAN) {
            fabric_vxlan(c, p + 8);
            return;
        }
    }
    drop(c, DP_DROP_NOT_TUNNEL);
}

/* ---- agent side ---- */

static void rx_agent(struct ctx *c)
{
    const uint8_t *h = dp_pkt_at(c->pkt, 0, DP_PUNT_HDR_SIZE);
    if (!h) {
        drop(c, DP_DROP_TRUNCATED);
        return;
    }
    uint32_t to = dp_be32(h + 4);
    if (dp_be16(h) != DP_PUNT_MAGIC || h[2] != DP_PUNT_VERSION || h[3] != DP_AGENT_TX || to >= c->dp->cfg.ifs) {
        drop(c, DP_DROP_BAD_AGENT_MSG);
        return;
    }
    struct ifv out;
    if_read(c->dp, to, &out);
    if ((out.type != DP_IF_VM && out.type != DP_IF_FABRIC) || !dp_pkt_at(c->pkt, DP_PUNT_HDR_SIZE, 14)) {
        drop(c, DP_DROP_BAD_AGENT_MSG);
        return;
    }
    strip(c, DP_PUNT_HDR_SIZE);
    tx_add(c, to);
}

/* ---- the established-flow fast path ---- */

/* Reads the key of flow entry 'e' (whose tag matched) and compares it
 * with the IPv4 key 'w0', 'w1', 'w2' (the three words dp_key4_eq compares:
 * bytes 0..7, 20..23 and 36..43 of struct dp_flow_key, in memory order).
 * Returns the entry's sequence (even) when it holds the key, for the
 * caller to finish the consistent read with, else 1. A torn read only
 * costs the slow path. */
static inline __attribute__((__always_inline__)) uint32_t slot_key4(const struct dp_flow_ent *e, uint64_t w0,
                                                                    uint32_t w1, uint64_t w2)
{
    const uint8_t *ek = (const uint8_t *)&e->key;
    uint32_t s = dp_seq_read_begin(&e->seq);
    if (((dp_ld64(ek) ^ w0) | (dp_ld64(ek + 36) ^ w2) | (dp_ld32(ek + 20) ^ w1)) != 0) {
        return 1;
    }
    return s;
}

/* The fast paths' commit of IPv4 packet 'p' (IPv4 header at 'ip', 'plen'
 * bytes received) of flow 'e', already rewritten into 'len' bytes at
 * 'off' for interface 'ifindex': flow counters, TTL and checksum, the
 * verdict and the one transmission. The caller counts the transmission. */
static inline __attribute__((__always_inline__)) void fast_commit(struct dp_flow_ent *e, uint8_t *ip, struct dp_pkt *p,
                                                              struct dp_out *o, uint64_t now, uint32_t plen,
                                                              uint32_t off, uint32_t len, uint32_t ifindex)
{
    dp_counter_add(&e->packets, 1);
    dp_counter_add(&e->bytes, plen);
    dp_store_relaxed(&e->last_seen, now);
    ip[8]--;
    csum_ttl_dec(ip);
    /* The packet's new offset and length, the verdict and the one
     * transmission in as few stores as the layouts allow: (off, len) of
     * the packet and of the transmission are the same adjacent pair;
     * (verdict, drop, count) and the interface make one word. */
    _Static_assert(__builtin_offsetof(struct dp_pkt, len) == __builtin_offsetof(struct dp_pkt, off) + 4 &&
                       __builtin_offsetof(struct dp_out, count) == 2 &&
                       __builtin_offsetof(struct dp_out, tx) == 4 && __builtin_offsetof(struct dp_tx, off) == 4 &&
                       __builtin_offsetof(struct dp_tx, len) == 8,
                   "dp_pkt, dp_out layout");
    struct dp_tx *t = &o->tx[0];
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t ol = (uint64_t)off | (uint64_t)len << 32;
    uint64_t vi = (DP_VERDICT_TX | DP_DROP_NONE << 8 | 1u << 16) | (uint64_t)ifindex << 32;
#else
    uint64_t ol = (uint64_t)off << 32 | len;
    uint64_t vi = ((uint64_t)DP_VERDICT_TX << 56 | (uint64_t)DP_DROP_NONE << 48 | 1ull << 32) | ifindex;
#endif
    dp_memcpy(&p->off, &ol, 8);
    dp_memcpy(o, &vi, 8);
    dp_memcpy(&t->off, &ol, 8);
    /* hdr_size 0 and, in the same store, the first two 'hdr' bytes,
     * which a transmission without header leaves unused. */
    _Static_assert(__builtin_offsetof(struct dp_tx, hdr) == __builtin_offsetof(struct dp_tx, hdr_size) + 2 &&
                       DP_TX_HDR_MAX >= 2,
                   "dp_tx layout");
    const uint32_t zero = 0;
    dp_memcpy(&t->hdr_size, &zero, 4);
}

/* Enters in the exact-match cache the decision vm_fast4 just applied at
 * time 'now' to the IPv4 packet at 'frame' (its bytes 20..37 are as
 * received, but for the TTL and checksum the key masks out), received in
 * VRF 'in_vrf' at route version 'rt_ver': 'v' holds everything but the key
 * and the slot's sequence. Leaves the slot to another flow's entry that
 * still holds (same route version, flow unchanged) when that flow was
 * seen at 'now': two active flows sharing a slot would otherwise evict
 * each other on every packet, and both miss; this way one of them hits.
 * Takes the slot only if no other writer holds it; never waits. */
static __attribute__((__noinline__)) void emc_fill(struct dp_emc_ent *emc, const uint8_t *frame, uint32_t in_vrf,
                                                   uint32_t rt_ver, uint64_t now, const struct dp_emc_ent *v)
{
    uint64_t kb = (dp_ld64(frame + 20) & DP_EMC_MASK_B) | dp_emc_rtb(rt_ver);
    uint64_t kc = dp_ld64(frame + 26);
    uint64_t kd = (uint64_t)dp_ld32(frame + 34) | (uint64_t)in_vrf << 32;
    struct dp_emc_ent *m = &emc[dp_emc_index(kc, kd)];
    uint32_t ms = dp_load_relaxed(&m->seq);
    uint64_t mb = dp_load_relaxed(&m->kb);
    if (mb != DP_EMC_EMPTY_B && ((mb ^ kb) & dp_emc_rtb(~0u)) == 0 && m->flow != v->flow) {
        /* Another CPU may be writing the slot (kernel): its flow pointer is
         * either NULL (never filled) or points into the flow table, and a
         * torn read only means a refill skipped. */
        const struct dp_flow_ent *o = dp_load_relaxed(&m->flow);
        if (o && dp_load_relaxed(&o->last_seen) == now &&
            dp_load_acquire(&o->seq) == dp_load_relaxed(&m->flow_seq)) {
            return;
        }
    }
    if (!dp_seq_trylock(&m->seq, ms)) {
        return;
    }
    m->flow = v->flow;
    m->kb = kb;
    m->kc = kc;
    m->kd = kd;
    m->flow_seq = v->flow_seq;
    m->leaf = v->leaf;
    m->leaf_seq = v->leaf_seq;
    m->sport = v->sport;
    m->ncsum = v->ncsum;
    m->tot_min = v->tot_min;
    m->kind = v->kind;
    m->grow = v->grow;
    m->size = v->size;
    dp_seq_write_end(&m->seq);
}

/* What the cache-hit pass (emc_pass) holds for a whole batch. */
struct emc_batch {
    struct dp *dp;
    const struct dp_emc_ent *emc;
    uint64_t vrf_hi; /* the receiving VRF shifted as in 'kd' */
    uint64_t rtb;    /* its route version placed as in 'kb' (dp_emc_rtb) */
    uint64_t now;
};

/* The cache-hit pass's tunnel rewrite of the IPv4 packet at 'frame' by
 * entry 'm' of next hop 'n': the next hop's outer header read, its
 * sequence checked against the entry's, and only then written at 'h'
 * (frame - grow), with the outer IPv4 length (of 'len' bytes sent) and
 * checksum: the complement of the entry's base plus the inner total
 * length as loaded (the rewrite ends before it). Returns 0, the packet untouched, when the next
 * hop changed. */
static inline __attribute__((__always_inline__)) int emc_tunnel(const struct dp_emc_ent *m, const struct dp_nh_ent *n,
                                                               uint8_t *h, const uint8_t *frame, uint32_t len)
{
    const uint8_t *tail = n->fast + m->size - 32;
    dp_v16 t0, t1, t2, t3;
    dp_memcpy(&t0, n->fast, 16);
    dp_memcpy(&t1, n->fast + 16, 16);
    dp_memcpy(&t2, tail, 16);
    dp_memcpy(&t3, tail + 16, 16);
    if (dp_seq_read_retry(&n->seq, m->leaf_seq)) {
        return 0;
    }
    uint8_t *htail = h + m->size - 32;
    dp_memcpy(h, &t0, 16);
    dp_memcpy(h + 16, &t1, 16);
    dp_memcpy(htail, &t2, 16);
    dp_memcpy(htail + 16, &t3, 16);
    /* ~(c + t) in ones' complement is ~c - t, less one on a borrow. */
    uint32_t nc = m->ncsum, t = dp_ld16(frame + 16);
    dp_st16(h + 16, dp_bswap16_be((uint16_t)(len - 14)));
    dp_st16(h + 24, (uint16_t)(nc - t - (nc < t)));
    return 1;
}

/* Packets per run of the cache-hit pass (emc_pass): its misses are a
 * 64-bit mask. */
#define DP_EMC_RUN 64

/* The cache-hit pass's accumulator: transmit bytes (bits 0..23), transmit
 * packets (24..31) of the current output interface and received bytes
 * (32..63). Within a run of at most DP_EMC_RUN packets of at most 65535
 * received bytes, each sent with at most 14 + 65535 + DP_FAST_MAX bytes,
 * no field overflows into the next. */
#define EMC_ACC_TXP (1ull << 24)
#define EMC_ACC_RX(bytes) ((uint64_t)(bytes) << 32)
/* The longest frame the cache-hit pass takes: any IPv4 total length it
 * holds plus the most a rewrite grows it still fits the outer length. */
#define EMC_PLEN_MAX (0xffffu + 14 - DP_FAST_MAX)
_Static_assert(DP_EMC_RUN <= 64 && DP_EMC_RUN * (14 + 65535 + DP_FAST_MAX) < (1 << 24) && DP_EMC_RUN < 256,
               "emc_pass accumulator");

/* The exact-match cache's fast path (struct dp_emc_ent) over packets
 * 'pkts'[0 .. count) from a policy VM port of batch 'eb', their fates in
 * 'outs': forwards each packet exactly as vm_fast4 would when the raw
 * header bytes its decision rests on equal those of the last packet of the
 * flow entered in the packet's slot, the TTL survives the decrement, the
 * total length fits the protocol and the frame, and the versions the
 * decision rested on (route, flow, next hop) still hold. No flow key, no
 * flow table read. Adds the transmit counters to 'a' and the received
 * bytes of the packets it forwarded to '*rx_bytes'. Returns the packets it
 * left untouched, as a mask of their indices. 'count' is at most
 * DP_EMC_RUN (64). A loop with no call in it, so that its invariants stay
 * in registers.
 *
 * Unless dp_rx runs on several threads at once (DP_ENV_COUNTERS_SHARED),
 * the thread running this is the only writer of the cache (emc_fill), so
 * entries are read without their sequence counter. */
static inline __attribute__((__always_inline__)) uint64_t emc_pass(const struct emc_batch *eb, struct dp_pkt *pkts,
                                                       struct dp_out *outs, uint32_t count, struct acct *a,
                                                       uint64_t *rx_bytes)
{
    const struct dp_emc_ent *emc = eb->emc;
    const uint64_t vrf_hi = eb->vrf_hi, rtb = eb->rtb, now = eb->now;
    uint64_t acc = 0, miss = 0;
    struct dp_out *o = outs;
    for (struct dp_pkt *p = pkts, *end = pkts + count; p != end; p++, o++) {
        uint32_t plen = p->len, off = p->off;
        if ((uint64_t)off + plen > p->size || plen - (14 + 20 + 8) > EMC_PLEN_MAX - (14 + 20 + 8)) {
            goto miss;
        }
        uint8_t *frame = p->buf + off;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if ((dp_ld32(frame + 12) & 0xffffffu) != 0x450008u || (frame[0] & 1)) {
            goto miss;
        }
#else
        if ((dp_ld32(frame + 12) >> 8) != 0x080045u || (frame[0] & 1)) {
            goto miss;
        }
#endif
        uint64_t kb = (dp_ld64(frame + 20) & DP_EMC_MASK_B) | rtb;
        uint64_t kc = dp_ld64(frame + 26);
        uint64_t kd = (uint64_t)dp_ld32(frame + 34) | vrf_hi;
        const struct dp_emc_ent *m = &emc[dp_emc_index(kc, kd)];
#ifdef DP_ENV_COUNTERS_SHARED
        /* Other threads may write the slot: one consistent copy. */
        struct dp_emc_ent snap;
        uint32_t ms = dp_load_acquire(&m->seq);
        dp_memcpy(&snap, m, sizeof snap);
        if ((ms & 1) || dp_seq_read_retry(&m->seq, ms)) {
            goto miss;
        }
        m = &snap;
#endif
        if (((m->kb ^ kb) | (m->kc ^ kc) | (m->kd ^ kd)) != 0) {
            goto miss;
        }
        /* The frame's length bounds its IPv4 total length (EMC_PLEN_MAX),
         * so the outer one cannot overflow. Fields of the entry are read
         * where they are used: re-reading one costs no more than keeping
         * it in a register across the rewrite. */
        uint32_t tot = dp_bswap16_be(dp_ld16(frame + 16));
        uint32_t grow = m->grow;
        const struct dp_flow_ent *fe = m->flow;
        if (__builtin_expect(frame[22] <= 1, 0) || __builtin_expect(tot < m->tot_min, 0) ||
            __builtin_expect(tot > plen - 14, 0) || __builtin_expect(off < grow, 0) ||
            __builtin_expect(dp_load_acquire(&fe->seq) != m->flow_seq, 0)) {
            goto miss;
        }
        const struct dp_nh_ent *n = m->leaf;
        uint32_t len = 14 + tot + grow;
        uint8_t *h = frame - grow;
        uint32_t kind = m->kind;
        if (__builtin_expect(kind == DP_FK_TUN_UDP, 1)) {
            if (!emc_tunnel(m, n, h, frame, len)) {
                goto miss;
            }
            dp_st16(h + 34, m->sport);
            dp_st16(h + 38, dp_bswap16_be((uint16_t)(len - 14 - 20)));
        } else if (kind == DP_FK_TUN) {
            if (!emc_tunnel(m, n, h, frame, len)) {
                goto miss;
            }
        } else {
            uint64_t m0 = dp_ld64(n->fast);
            uint32_t m1 = dp_ld32(n->fast + 8);
            if (dp_seq_read_retry(&n->seq, m->leaf_seq)) {
                goto miss;
            }
            dp_memcpy(h, &m0, 8);
            dp_memcpy(h + 8, &m1, 4);
        }
        struct dp_flow_ent *e = m->flow;
        uint32_t ifindex = n->ifindex;
        fast_commit(e, frame + 14, p, o, now, plen, off - grow, len, ifindex);
        if (__builtin_expect(a->tx_if != ifindex, 0)) {
            /* Flushed to the interface it counted for: 'a' keeps only
             * what it held before this pass. */
            if (acc & 0xffffffffu) {
                struct dp_if_ent *te = &eb->dp->ifs[a->tx_if];
                dp_counter_add(&te->tx_packets, (acc >> 24) & 0xff);
                dp_counter_add(&te->tx_bytes, acc & 0xffffff);
                acc &= ~0xffffffffull;
            }
            if (a->tx_packets) {
                struct dp_if_ent *te = &eb->dp->ifs[a->tx_if];
                dp_counter_add(&te->tx_packets, a->tx_packets);
                dp_counter_add(&te->tx_bytes, a->tx_bytes);
                a->tx_packets = 0;
                a->tx_bytes = 0;
            }
            a->tx_if = ifindex;
        }
        acc += EMC_ACC_RX(plen) + EMC_ACC_TXP + len;
#ifdef STRATA_TEST_HOOKS
        eb->dp->fast_hits++;
        eb->dp->emc_hits++;
#endif
        continue;
    miss:
        miss |= 1ull << (p - pkts);
    }
    a->tx_packets += (uint32_t)((acc >> 24) & 0xff);
    a->tx_bytes += acc & 0xffffff;
    *rx_bytes += acc >> 32;
    return miss;
}

/* Forwards IPv4 TCP/UDP packet 'p' (its fate in 'o', transmit counters in
 * 'a', time 'now') from a policy VM port in VRF 'in_vrf' (present, at
 * route version 'in_rt_ver') whose flow is installed (FORWARD) with a
 * valid cached decision to a local port or a tunnel: what rx_vm would do,
 * with one parse, one hash, one flow read, no route lookup and one copy of
 * the next hop's precomputed rewrite (struct dp_nh_ent 'fast'). The caller
 * checked that the frame lies inside its buffer. Returns 1 when it
 * forwarded the packet; 0, with the packet and every counter untouched,
 * for anything else (punts, options, fragments, misses, held flows, other
 * actions, stale caches, TTL expiry, no headroom), which the full pipeline
 * then handles from the start. Inlined into the receive loop: it is the
 * per-packet path the core is tuned for. */
static inline __attribute__((__always_inline__)) int vm_fast4(struct dp *dp, struct dp_emc_ent *emc,
                                                          struct dp_pkt *p, struct dp_out *o, struct acct *a,
                                                          uint64_t now, uint32_t in_vrf, uint32_t in_rt_ver)
{
    uint32_t plen = p->len;
    if (plen < 14 + 20 + 8) {
        return 0;
    }
    uint8_t *frame = p->buf + p->off;
    uint8_t *ip = frame + 14;
    /* Ethertype IPv4, version 4 with no options, unicast destination. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if ((dp_ld32(frame + 12) & 0xffffffu) != 0x450008u || (frame[0] & 1)) {
        return 0;
    }
#else
    if ((dp_ld32(frame + 12) >> 8) != 0x080045u || (frame[0] & 1)) {
        return 0;
    }
#endif
    /* Fragment field, TTL and protocol in one load: no later fragment, a
     * TTL that survives the decrement, UDP or TCP. */
    uint32_t fw = dp_ld32(ip + 6);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t proto = fw >> 24, frag = fw & 0xff1fu, ttl = (fw >> 16) & 0xff;
#else
    uint32_t proto = fw & 0xff, frag = fw & 0x1fff0000u, ttl = (fw >> 8) & 0xff;
#endif
    uint32_t tot_min = 20 + 8;
    if (proto == IPPROTO_TCP_) {
        tot_min = 20 + 20;
    } else if (proto != IPPROTO_UDP_) {
        return 0;
    }
    uint32_t tot = dp_bswap16_be(dp_ld16(ip + 2));
    if (__builtin_expect(frag != 0, 0) || __builtin_expect(ttl <= 1, 0) || __builtin_expect(tot < tot_min, 0) ||
        __builtin_expect(tot > plen - 14, 0)) {
        return 0; /* a later fragment, TTL expiry, truncation */
    }
    /* The ports in host order, source in the low half: the key's layout. */
    uint32_t ports = dp_bswap32_be(dp_ld32(ip + 20));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    ports = ports >> 16 | ports << 16;
    uint32_t dport = ports >> 16;
#else
    uint32_t dport = ports & 0xffff;
#endif
    /* DNS may be for the port's gateway: the full pipeline decides. DHCP
     * needs no check: it is punted whatever the port, before the flow
     * stage, so its flows never get a cached decision (vm_punt_reason). */
    if (proto == IPPROTO_UDP_ && dport == 53) {
        return 0;
    }
    uint64_t sd = dp_ld64(ip + 12);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w0 = (uint64_t)in_vrf | sd << 32;
    uint32_t w1 = (uint32_t)(sd >> 32);
    uint64_t w2 = (uint64_t)ports | (uint64_t)(proto | 4u << 8) << 32;
#else
    uint64_t w0 = (uint64_t)in_vrf << 32 | sd >> 32;
    uint32_t w1 = (uint32_t)sd;
    uint64_t w2 = (uint64_t)ports << 32 | (uint64_t)proto << 24 | (uint64_t)4 << 16;
#endif
    uint32_t hash = dp_flow_hash4(w0, w1, w2);

    /* The flow: the bucket's ways by tag, then its overflow chain; the
     * first entry holding the key decides. */
    uint32_t b = hash & dp->flow_bmask;
    const uint32_t *tag = &dp->flow_tag[b * DP_FLOW_WAYS];
    const struct dp_flow_ent *fe = &dp->flows[b * DP_FLOW_WAYS];
    uint32_t fseq;
#pragma GCC unroll 4
    for (uint32_t w = 0; w < DP_FLOW_WAYS; w++, fe++) {
        if (dp_load_relaxed(&tag[w]) == hash && (fseq = slot_key4(fe, w0, w1, w2)) != 1) {
            goto found;
        }
    }
    for (uint32_t i = dp_load_acquire(&dp->flow_ovf_head[b]); i != DP_FLOW_NONE;
         i = dp_load_acquire(&dp->flows[i].next)) {
        fe = &dp->flows[i];
        if (dp_load_relaxed(&fe->hash) == hash && (fseq = slot_key4(fe, w0, w1, w2)) != 1) {
            goto found;
        }
    }
    return 0;
found:;
    /* The cached decision, read in the same consistent read as the key.
     * A cache is only ever filled in an ACTIVE entry and a cleared one
     * never matches a route version (struct dp_flow_cache), so neither
     * needs its own check. Action type (FORWARD is 0) and flags come in
     * one load: anything but a plain FORWARD, or a FORWARD into another
     * VRF, leaves the common case. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint16_t other = 0xff | DP_FA_VRF << 8;
#else
    const uint16_t other = 0xff00 | DP_FA_VRF;
#endif
    _Static_assert(DP_FLOW_FORWARD == 0 && __builtin_offsetof(struct dp_flow_action, flags) == 1, "action");
    uint32_t rt_ver = in_rt_ver;
    uint32_t top = fe->cache.nh;
    if (__builtin_expect(dp_ld16(&fe->act.type) & other, 0)) {
        uint32_t rv = fe->act.vrf;
        if (fe->act.type != DP_FLOW_FORWARD || rv >= dp->cfg.vrfs) {
            return 0;
        }
        rt_ver = dp_load_acquire(&dp->vrfs[rv].rt_ver);
        top = DP_NONE; /* not for the exact-match cache */
    }
    const struct dp_flow_cache *fc = &fe->cache;
    uint32_t leaf = fc->leaf, leaf_seq = fc->leaf_seq;
    if (__builtin_expect(fc->rt_ver != rt_ver, 0)) {
        return 0;
    }
    if (__builtin_expect(leaf != fc->nh, 0) && dp_load_acquire(&dp->nhs[fc->nh].seq) != fc->nh_seq) {
        return 0;
    }
    if (__builtin_expect(dp_seq_read_retry(&fe->seq, fseq), 0)) {
        return 0;
    }

    /* The next hop's rewrite, read into registers and then checked: the
     * sequence is checked once, after the reads; it only moves forward,
     * so finding it at the value the cache recorded means no write began
     * since and what was read is what the next hop held then, when it was
     * an interface or a tunnel (route_out caches nothing else), so its
     * kind needs no check for DP_FK_NONE. Only then is the frame written.
     * A torn read is only ever used to read (inside the next-hop table)
     * before the check fails. */
    const struct dp_nh_ent *n = &dp->nhs[leaf];
    uint32_t meta = dp_load_relaxed(&n->fast_meta);
    uint32_t grow = (meta >> 8) & 0xff;
    uint32_t len = 14 + tot + grow; /* the frame sent: no Ethernet padding */
    uint32_t off = p->off;
    if (__builtin_expect(off < grow, 0) || __builtin_expect(len - 14 > 0xffffu, 0)) {
        return 0;
    }
    uint32_t ifindex = n->ifindex;
    uint8_t *h = frame - grow;
    uint32_t csum = 0; /* the next hop's fast_csum, for tunnels */
    if ((meta & 0xff) == DP_FK_IF) {
        uint64_t m0 = dp_ld64(n->fast);
        uint32_t m1 = dp_ld32(n->fast + 8);
        if (dp_seq_read_retry(&n->seq, leaf_seq)) {
            return 0;
        }
        dp_memcpy(h, &m0, 8);
        dp_memcpy(h + 8, &m1, 4);
    } else {
        const uint8_t *tail = n->fast + (meta >> 16) - 32;
        dp_v16 t0, t1, t2, t3;
        dp_memcpy(&t0, n->fast, 16);
        dp_memcpy(&t1, n->fast + 16, 16);
        dp_memcpy(&t2, tail, 16);
        dp_memcpy(&t3, tail + 16, 16);
        uint32_t iplen = dp_bswap16_be((uint16_t)(len - 14));
        csum = n->fast_csum;
        uint32_t sum = csum + iplen;
        if (dp_seq_read_retry(&n->seq, leaf_seq)) {
            return 0;
        }
        uint8_t *htail = h + (meta >> 16) - 32;
        dp_memcpy(h, &t0, 16);
        dp_memcpy(h + 16, &t1, 16);
        dp_memcpy(htail, &t2, 16);
        dp_memcpy(htail + 16, &t3, 16);
        dp_st16(h + 16, (uint16_t)iplen);
        dp_st16(h + 24, (uint16_t)~((sum & 0xffff) + (sum >> 16)));
        if ((meta & 0xff) == DP_FK_TUN_UDP) {
            dp_st16(h + 34, dp_bswap16_be(dp_udp_sport(hash)));
            dp_st16(h + 38, dp_bswap16_be((uint16_t)(len - 14 - 20)));
        }
    }

    /* Committed: nothing below can fail. */
    fast_commit((struct dp_flow_ent *)fe, ip, p, o, now, plen, off - grow, len, ifindex);
    if (a->tx_if != ifindex) {
        acct_flush(dp, a);
        a->tx_if = ifindex;
    }
    a->tx_packets++;
    a->tx_bytes += len;
#ifdef STRATA_TEST_HOOKS
    dp->fast_hits++;
#endif
    if (top == leaf) { /* a plain FORWARD in the receiving VRF, no ECMP */
        struct dp_emc_ent v = {.flow = (struct dp_flow_ent *)fe,
                               .flow_seq = fseq,
                               .leaf = n,
                               .leaf_seq = leaf_seq,
                               .sport = dp_bswap16_be(dp_udp_sport(hash)),
                               .ncsum = (uint16_t)~dp_csum_fold(csum + dp_bswap16_be((uint16_t)grow)),
                               .tot_min = (uint8_t)tot_min,
                               .kind = (uint8_t)(meta & 0xff),
                               .grow = (uint8_t)grow,
                               .size = (uint8_t)(meta >> 16)};
        emc_fill(emc, frame, in_vrf, in_rt_ver, now, &v);
    }
    return 1;
}

/* ---- entry points ---- */

/* The full pipeline for the packet in 'c' from interface 'in' (c->in_if).
 * Returns 1 when the packet counts as received on the interface. Kept out
 * of line so that the receive loop around the fast path stays small. */
static __attribute__((__noinline__)) int rx_one(struct ctx *c, const struct ifv *in)
{
    struct dp_pkt *pkt = c->pkt;
    struct dp_out *out = c->out;
    out->verdict = DP_VERDICT_DROP;
    out->drop = DP_DROP_NONE;
    out->count = 0;
    c->vrf = 0;
    c->family = 0;
    c->has_ports = 0;
    c->hash_ok = 0;
    c->l3 = 0;
    c->l3_len = 0;
    c->mirror_nh = 0;
    c->flow_idx = DP_FLOW_NONE;
    if (c->in_if >= c->dp->cfg.ifs) {
        drop(c, DP_DROP_BAD_IF);
        return 0;
    }
    if (pkt->off > pkt->size || pkt->len > pkt->size - pkt->off) {
        drop(c, DP_DROP_TRUNCATED);
        return 0;
    }
    switch ((enum dp_if_type)in->type) {
    case DP_IF_VM:
        rx_vm(c, in);
        return 1;
    case DP_IF_FABRIC:
        rx_fabric(c, in);
        return 1;
    case DP_IF_AGENT:
        rx_agent(c);
        return 1;
    case DP_IF_NONE:
        break;
    }
    drop(c, DP_DROP_BAD_IF);
    return 1;
}

/* What the out-of-line parts of rx_run share: the batch's interface, as
 * read once, its counters so far and the pipeline's context. */
struct rx_batch {
    struct ctx c;
    struct ifv in;
    struct acct acct;
    uint64_t rx_bytes;  /* bytes of the packets received on the interface */
    uint32_t uncounted; /* packets not received on the interface (bad frames) */
};

/* The full pipeline for packet 'pkt' (fate in 'out') of batch 'rb'. */
static void rx_full(struct rx_batch *rb, struct dp_pkt *pkt, struct dp_out *out)
{
    uint32_t len = pkt->len;
    rb->c.pkt = pkt;
    rb->c.out = out;
    if (rx_one(&rb->c, &rb->in)) {
        rb->rx_bytes += len;
    } else {
        rb->uncounted++;
    }
}

/* Starts loading the flow-table lines vm_fast4 (and, for a new flow, the
 * hold entry's write) will need for 'p', an IPv4 TCP/UDP frame from a port
 * of VRF 'in_vrf': its bucket's tags, occupancy byte and first entry. Only
 * a hint: frames vm_fast4 would refuse are skipped or prefetched in vain. */
static inline void miss_prefetch4(const struct dp *dp, const struct dp_pkt *p, uint32_t in_vrf)
{
    if (p->len < 14 + 20 + 8 || (uint64_t)p->off + p->len > p->size) {
        return;
    }
    const uint8_t *frame = p->buf + p->off, *ip = frame + 14;
    uint32_t proto = ip[9];
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if ((dp_ld32(frame + 12) & 0xffffffu) != 0x450008u || (proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_)) {
        return;
    }
    uint32_t ports = dp_bswap32_be(dp_ld32(ip + 20));
    ports = ports >> 16 | ports << 16;
    uint64_t sd = dp_ld64(ip + 12);
    uint64_t w0 = (uint64_t)in_vrf | sd << 32;
    uint32_t w1 = (uint32_t)(sd >> 32);
    uint64_t w2 = (uint64_t)ports | (uint64_t)(proto | 4u << 8) << 32;
#else
    if ((dp_ld32(frame + 12) >> 8) != 0x080045u || (proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_)) {
        return;
    }
    uint32_t ports = dp_bswap32_be(dp_ld32(ip + 20));
    uint64_t sd = dp_ld64(ip + 12);
    uint64_t w0 = (uint64_t)in_vrf << 32 | sd >> 32;
    uint32_t w1 = (uint32_t)sd;
    uint64_t w2 = (uint64_t)ports << 32 | (uint64_t)proto << 24 | (uint64_t)4 << 16;
#endif
    uint32_t b = dp_flow_hash4(w0, w1, w2) & dp->flow_bmask;
    __builtin_prefetch(&dp->flow_tag[b * DP_FLOW_WAYS], 0, 3);
    __builtin_prefetch(&dp->flow_used[b], 1, 3);
    __builtin_prefetch(&dp->flows[b * DP_FLOW_WAYS], 1, 3);
}

/* The packets of 'pkts' that the cache-hit pass left ('miss', a mask of
 * indices), in order: the flow fast path, else the full pipeline. With
 * several, their flow buckets are prefetched first, so that the table's
 * cache misses (new flows, flows evicted from the cache) overlap. */
static __attribute__((__noinline__)) void rx_misses(struct rx_batch *rb, struct dp_pkt *pkts, struct dp_out *outs,
                                                    uint64_t miss, uint32_t in_rt_ver)
{
    struct dp *dp = rb->c.dp;
    if (miss & (miss - 1)) {
        for (uint64_t m = miss; m; m &= m - 1) {
            miss_prefetch4(dp, &pkts[__builtin_ctzll(m)], rb->in.vrf);
        }
    }
    for (; miss; miss &= miss - 1) {
        uint32_t j = (uint32_t)__builtin_ctzll(miss);
        struct dp_pkt *pkt = &pkts[j];
        uint32_t len = pkt->len;
        if ((uint64_t)pkt->off + len <= pkt->size &&
            vm_fast4(dp, dp->emc, pkt, &outs[j], &rb->acct, rb->c.now, rb->in.vrf, in_rt_ver)) {
            rb->rx_bytes += len;
            continue;
        }
        rx_full(rb, pkt, &outs[j]);
    }
}

/* dp_rx over 'count' frames from 'ifindex': the interface is read once, and
 * its receive counters and the transmit counters are added once per run of
 * packets rather than per packet. For a policy VM port of a present VRF,
 * runs of up to DP_EMC_RUN packets go first through the cache-hit pass,
 * then the packets it left, in their order, through the flow fast path or
 * the full pipeline. Taking a later packet's hit before an earlier
 * packet's miss gives the same outcome: a path writes only its own packet
 * and verdict, counters, and caches of decisions that hold (a valid cache
 * entry's flow has a valid flow cache, so nothing refills it with another
 * decision), and none moves a route version or a next hop. */
static void rx_run(struct dp *dp, uint32_t ifindex, struct dp_pkt *pkts, uint32_t count, uint64_t now_ms,
                   struct dp_out *outs)
{
    struct rx_batch rb;
    rb.c.dp = dp;
    rb.c.now = now_ms;
    rb.c.in_if = ifindex;
    rb.c.acct = &rb.acct;
    rb.acct.tx_if = 0;
    rb.acct.tx_packets = 0;
    rb.acct.tx_bytes = 0;
    rb.rx_bytes = 0;
    rb.uncounted = 0;
    rb.in.type = DP_IF_NONE;
    if (ifindex < dp->cfg.ifs) {
        if_read(dp, ifindex, &rb.in);
    }
    /* The fast paths are for policy VM ports of a present VRF; the answer
     * holds for the batch (hosts run control between batches, and the
     * kernel module passes one packet at a time). */
    if (rb.in.type == DP_IF_VM && (rb.in.flags & DP_IF_POLICY) && rb.in.vrf < dp->cfg.vrfs &&
        dp_load_acquire(&dp->vrfs[rb.in.vrf].present)) {
        uint32_t in_rt_ver = dp_load_acquire(&dp->vrfs[rb.in.vrf].rt_ver);
        const struct emc_batch eb = {.dp = dp,
                                     .emc = dp->emc,
                                     .vrf_hi = (uint64_t)rb.in.vrf << 32,
                                     .rtb = dp_emc_rtb(in_rt_ver),
                                     .now = now_ms};
        for (uint32_t i = 0; i < count;) {
            uint32_t run = count - i < DP_EMC_RUN ? count - i : DP_EMC_RUN;
            uint64_t miss = emc_pass(&eb, pkts + i, outs + i, run, &rb.acct, &rb.rx_bytes);
            if (miss) {
                rx_misses(&rb, pkts + i, outs + i, miss, in_rt_ver);
            }
            i += run;
        }
    } else {
        for (uint32_t i = 0; i < count; i++) {
            rx_full(&rb, &pkts[i], &outs[i]);
        }
    }
    uint32_t rx_packets = count - rb.uncounted;
    if (rx_packets) {
        struct dp_if_ent *e = &dp->ifs[ifindex];
        dp_counter_add(&e->rx_packets, rx_packets);
        dp_counter_add(&e->rx_bytes, rb.rx_bytes);
    }
    acct_flush(dp, &rb.acct);
}

void dp_rx(struct dp *dp, uint32_t ifindex, struct dp_pkt *pkt, uint64_t now_ms, struct dp_out *out)
{
    rx_run(dp, ifindex, pkt, 1, now_ms, out);
}

void dp_rx_batch(struct dp *dp, uint32_t ifindex, struct dp_pkt *pkts, uint32_t count, uint64_t now_ms,
                 struct dp_out *outs)
{
    rx_run(dp, ifindex, pkts, count, now_ms, outs);
}

int dp_rx_account(struct dp *dp, uint32_t ifindex, const uint8_t *ip, uint32_t ip_len, const struct dp_out *out,
                  int32_t grow, uint32_t more, uint64_t bytes, uint64_t now_ms)
{
    if (ifindex >= dp->cfg.ifs || out->verdict != DP_VERDICT_TX || out->count != 1 || out->tx[0].hdr_size != 0 ||
        out->tx[0].ifindex >= dp->cfg.ifs || ip_len < 20) {
        return VR_EINVAL;
    }
    struct ifv in, eg;
    if_read(dp, ifindex, &in);
    if_read(dp, out->tx[0].ifindex, &eg);
    /* the flow the packet was checked against: the receiving port's on
     * the way to the fabric, the delivering port's on the way from it */
    const struct ifv *port;
    if (in.type == DP_IF_VM && eg.type == DP_IF_FABRIC) {
        port = &in;
    } else if (in.type == DP_IF_FABRIC && eg.type == DP_IF_VM) {
        port = &eg;
    } else {
        return VR_EINVAL;
    }
    /* the flow key as parse_ip builds it, from the headers as received */
    struct dp_flow_key k;
    dp_memset(&k, 0, sizeof k);
    uint32_t l4;
    if ((ip[0] >> 4) == 4 && (ip[0] & 0xfu) >= 5) {
        l4 = (ip[0] & 0xfu) * 4u;
        k.family = 4;
        k.proto = ip[9];
        dp_memcpy(k.src, ip + 12, 4);
        dp_memcpy(k.dst, ip + 16, 4);
        if ((dp_be16(ip + 6) & 0x3fffu) != 0) {
            return VR_EINVAL; /* a fragment */
        }
    } else if ((ip[0] >> 4) == 6 && ip_len >= 40) {
        l4 = 40;
        k.family = 6;
        k.proto = ip[6];
        dp_memcpy(k.src, ip + 8, 16);
        dp_memcpy(k.dst, ip + 24, 16);
    } else {
        return VR_EINVAL;
    }
    if ((k.proto != IPPROTO_TCP_ && k.proto != IPPROTO_UDP_) || l4 + 4 > ip_len) {
        return VR_EINVAL;
    }
    k.sport = dp_be16(ip + l4);
    k.dport = dp_be16(ip + l4 + 2);
    k.vrf = port->vrf;
    struct dp_flow_ent *fe = 0;
    if (port->flags & DP_IF_POLICY) {
        uint32_t idx = dp_flow_find(dp, &k, dp_flow_hash(&k));
        if (idx == DP_FLOW_NONE || dp_load_relaxed(&dp->flows[idx].state) != DP_FLOW_ACTIVE) {
            return VR_EINVAL;
        }
        fe = &dp->flows[idx];
    }
    if (more == 0) {
        return 0;
    }
    uint64_t out_bytes = (uint64_t)((int64_t)bytes + (int64_t)grow * (int64_t)more);
    if (fe) {
        /* the flow stage counts the frame as it is then: as received on
         * the way to the fabric, decapsulated on the way from it */
        dp_counter_add(&fe->packets, more);
        dp_counter_add(&fe->bytes, port == &in ? bytes : out_bytes);
        dp_store_relaxed(&fe->last_seen, now_ms);
    }
    struct dp_if_ent *ie = &dp->ifs[ifindex], *ee = &dp->ifs[out->tx[0].ifindex];
    dp_counter_add(&ie->rx_packets, more);
    dp_counter_add(&ie->rx_bytes, bytes);
    dp_counter_add(&ee->tx_packets, more);
    dp_counter_add(&ee->tx_bytes, out_bytes);
    return 0;
}

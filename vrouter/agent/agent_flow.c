/* Punted frames and flow decisions (agent.h): the punt header, the
 * injection header, and the flow-miss path — parse the first packet's IPv4
 * header through the checked cursor, decide forward (the destination is a
 * local port or a programmed route of the VRF) or drop, install the flow
 * and its reverse, and build the frame that re-injects the packet exactly
 * as the datapath would have forwarded it (Ethernet rewritten for a local
 * port; MPLSoGRE, MPLSoUDP or VXLAN encapsulation for a tunnel, through
 * the ECMP member the datapath's hash picks). The flows installed are kept
 * in a table for the flow limit and idle aging, with time as an input
 * (agent_time_set, agent_flow_age). A reachable destination is then
 * checked against the policy of the local ends (agent_policy_decide): a
 * denied flow becomes a drop flow. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>

#include "vrouter/agent/agent_int.h"

#define ETH_IP4 0x0800
#define ETH_MPLS 0x8847
#define UDP_MPLS_PORT 6635
#define UDP_VXLAN_PORT 4789
#define OUTER_TTL 64

int agent_punt_parse(const uint8_t *p, size_t len, struct agent_punt *out)
{
    struct cursor cur;
    cursor_init(&cur, p, len);
    uint16_t magic;
    uint8_t version, reason;
    memset(out, 0, sizeof *out);
    if (buf_get_u16(&cur, &magic) != 0 || buf_get_u8(&cur, &version) != 0 || buf_get_u8(&cur, &reason) != 0 ||
        buf_get_u32(&cur, &out->ifindex) != 0 || buf_get_u32(&cur, &out->vrf) != 0 ||
        buf_get_u32(&cur, &out->flow) != 0) {
        return AGENT_EPUNT;
    }
    if (magic != DP_PUNT_MAGIC || version != DP_PUNT_VERSION || reason == 0 || reason > DP_PUNT_NH) {
        return AGENT_EPUNT;
    }
    out->reason = reason;
    out->frame_size = cursor_remaining(&cur);
    if (buf_get_view(&cur, out->frame_size, &out->frame) != 0 || out->frame_size < 14) {
        return AGENT_EPUNT;
    }
    return 0;
}

int agent_inject_build(uint32_t ifindex, const uint8_t *frame, size_t size, struct buf *out)
{
    int rc = buf_put_u16(out, DP_PUNT_MAGIC);
    rc = rc ? rc : buf_put_u8(out, DP_PUNT_VERSION);
    rc = rc ? rc : buf_put_u8(out, DP_AGENT_TX);
    rc = rc ? rc : buf_put_u32(out, ifindex);
    rc = rc ? rc : buf_put_u32(out, 0);
    rc = rc ? rc : buf_put_u32(out, DP_FLOW_NONE);
    rc = rc ? rc : buf_put(out, frame, size);
    return rc;
}

/* The IPv4 packet of a punted frame. */
struct ip4_view {
    const uint8_t *ip; /* the header (and payload after it) */
    size_t size;       /* total length per the header, <= bytes present */
    uint8_t proto;
    uint32_t src, dst; /* host order */
    uint16_t sport, dport;
};

static int parse_ip4(const uint8_t *frame, size_t frame_size, struct ip4_view *v)
{
    struct cursor cur;
    cursor_init(&cur, frame, frame_size);
    uint16_t et;
    if (buf_skip(&cur, 12) != 0 || buf_get_u16(&cur, &et) != 0) {
        return AGENT_EPUNT;
    }
    if (et != ETH_IP4) {
        return AGENT_EUNSUPPORTED;
    }
    uint8_t vihl, tos, ttl;
    uint16_t total, id, frag, csum;
    if (buf_get_u8(&cur, &vihl) != 0 || buf_get_u8(&cur, &tos) != 0 || buf_get_u16(&cur, &total) != 0 ||
        buf_get_u16(&cur, &id) != 0 || buf_get_u16(&cur, &frag) != 0 || buf_get_u8(&cur, &ttl) != 0 ||
        buf_get_u8(&cur, &v->proto) != 0 || buf_get_u16(&cur, &csum) != 0 || buf_get_u32(&cur, &v->src) != 0 ||
        buf_get_u32(&cur, &v->dst) != 0) {
        return AGENT_EPUNT;
    }
    size_t ihl = (size_t)(vihl & 0xf) * 4;
    if ((vihl >> 4) != 4 || ihl < 20 || total < ihl || total > frame_size - 14) {
        return AGENT_EPUNT;
    }
    struct cursor whole;
    cursor_init(&whole, frame, frame_size);
    if (buf_skip(&cur, ihl - 20) != 0 || buf_skip(&whole, 14) != 0 || buf_get_view(&whole, total, &v->ip) != 0) {
        return AGENT_EPUNT;
    }
    v->size = total;
    v->sport = v->dport = 0;
    bool first_fragment_only = (frag & 0x3fff) == 0; /* not a fragment */
    if ((v->proto == 6 || v->proto == 17) && first_fragment_only) {
        if (buf_get_u16(&cur, &v->sport) != 0 || buf_get_u16(&cur, &v->dport) != 0) {
            return AGENT_EPUNT;
        }
    }
    return 0;
}

static void key_fill(struct dp_flow_key *k, uint32_t vrf, uint32_t src, uint32_t dst, uint16_t sport,
                     uint16_t dport, uint8_t proto)
{
    memset(k, 0, sizeof *k);
    k->vrf = vrf;
    be32_store(k->src, src);
    be32_store(k->dst, dst);
    k->sport = sport;
    k->dport = dport;
    k->proto = proto;
    k->family = 4;
}

/* ---- the flow table ---- */

enum { FLOW_DROP = 1, FLOW_FWD, FLOW_REV };

static bool fkey_eq(const struct dp_flow_key *a, const struct dp_flow_key *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

static void fkey_reverse(const struct dp_flow_key *k, struct dp_flow_key *r)
{
    *r = *k;
    memcpy(r->src, k->dst, sizeof r->src);
    memcpy(r->dst, k->src, sizeof r->dst);
    r->sport = k->dport;
    r->dport = k->sport;
}

static uint32_t flow_limit(const struct agent_core *c)
{
    return c->cfg.flow_limit ? c->cfg.flow_limit : AGENT_FLOW_LIMIT_DEFAULT;
}

/* Records in 'e' how the key of its other direction, 'other', differs
 * from its own key reversed (ent_other() gives it back). */
static void ent_link(struct agent_flow_ent *e, const struct dp_flow_key *other)
{
    struct dp_flow_key s;
    fkey_reverse(&e->key, &s);
    e->other_vrf = other->vrf;
    e->nat = AGENT_NAT_NONE;
    e->other_ip = 0;
    if (memcmp(s.src, other->src, sizeof s.src) != 0) {
        e->nat = AGENT_NAT_SRC;
        e->other_ip = be32_load(other->src);
    } else if (memcmp(s.dst, other->dst, sizeof s.dst) != 0) {
        e->nat = AGENT_NAT_DST;
        e->other_ip = be32_load(other->dst);
    }
}

/* The key of the other direction of 'e' (a forward or reverse entry). */
static void ent_other(const struct agent_flow_ent *e, struct dp_flow_key *r)
{
    fkey_reverse(&e->key, r);
    r->vrf = e->other_vrf;
    if (e->nat == AGENT_NAT_SRC) {
        be32_store(r->src, e->other_ip);
    } else if (e->nat == AGENT_NAT_DST) {
        be32_store(r->dst, e->other_ip);
    }
}

/* The slot of 'k' (hash 'h'), or UINT32_MAX. */
static uint32_t ft_find(const struct agent_flows *t, const struct dp_flow_key *k, uint32_t h)
{
    if (t->cap == 0) {
        return UINT32_MAX;
    }
    uint32_t mask = t->cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        const struct agent_flow_ent *e = &t->slots[i];
        if (!e->used) {
            return UINT32_MAX;
        }
        if (e->hash == h && fkey_eq(&e->key, k)) {
            return i;
        }
    }
}

static void ft_put(struct agent_flows *t, const struct agent_flow_ent *src)
{
    uint32_t mask = t->cap - 1;
    uint32_t i = src->hash & mask;
    while (t->slots[i].used) {
        i = (i + 1) & mask;
    }
    t->slots[i] = *src;
    t->count++;
}

/* Inserts 'src' unless its key is present: one probe run for both.
 * Returns false (nothing changed) when the key is there already. The
 * table must have room. */
static bool ft_insert_new(struct agent_flows *t, const struct agent_flow_ent *src)
{
    uint32_t mask = t->cap - 1;
    uint32_t i = src->hash & mask;
    for (; t->slots[i].used; i = (i + 1) & mask) {
        if (t->slots[i].hash == src->hash && fkey_eq(&t->slots[i].key, &src->key)) {
            return false;
        }
    }
    t->slots[i] = *src;
    t->count++;
    return true;
}

/* Removes slot 'i', shifting later entries of its probe run back. */
static void ft_remove_at(struct agent_flows *t, uint32_t i)
{
    uint32_t mask = t->cap - 1;
    t->slots[i].used = 0;
    t->count--;
    for (uint32_t j = (i + 1) & mask; t->slots[j].used; j = (j + 1) & mask) {
        uint32_t home = t->slots[j].hash & mask;
        /* move j to the hole at i when i lies cyclically in [home, j) */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            t->slots[j].used = 0;
            i = j;
        }
    }
}

/* The table's storage: zeroed; from 4 MiB on, mapped on its own and
 * populated at once (MAP_POPULATE): the re-insertion that follows touches
 * nearly every page anyway, and each page left to a first touch cost a
 * read fault (the zero page), then a write fault and a TLB flush, in the
 * middle of a batch of flow misses. */
#define FT_BIG ((size_t)4 << 20)

static size_t ft_bytes(uint32_t cap)
{
    return (size_t)cap * sizeof(struct agent_flow_ent);
}

static struct agent_flow_ent *ft_slots_alloc(uint32_t cap)
{
    if (ft_bytes(cap) < FT_BIG) {
        return calloc(cap, sizeof(struct agent_flow_ent));
    }
    void *p = mmap(NULL, ft_bytes(cap), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void ft_slots_free(struct agent_flow_ent *slots, uint32_t cap)
{
    if (!slots) {
        return;
    }
    if (ft_bytes(cap) < FT_BIG) {
        free(slots);
    } else {
        munmap(slots, ft_bytes(cap));
    }
}

/* Room for 'more' entries at a load of at most one half. */
static int ft_reserve(struct agent_flows *t, uint32_t more)
{
    if ((uint64_t)(t->count + more) * 2 <= t->cap) {
        return 0;
    }
    uint32_t cap = t->cap ? t->cap * 2 : 1024;
    while ((uint64_t)(t->count + more) * 2 > cap) {
        cap *= 2;
    }
    struct agent_flow_ent *slots = ft_slots_alloc(cap);
    if (!slots) {
        return LIB_ENOMEM;
    }
    struct agent_flows old = *t;
    t->slots = slots;
    t->cap = cap;
    t->count = 0;
    for (uint32_t i = 0; i < old.cap; i++) {
        if (old.slots[i].used) {
            ft_put(t, &old.slots[i]);
        }
    }
    ft_slots_free(old.slots, old.cap);
    return 0;
}

void agent_flows_destroy(struct agent_core *c)
{
    ft_slots_free(c->flows.slots, c->flows.cap);
    memset(&c->flows, 0, sizeof c->flows);
}

void agent_flow_pairs_set(struct agent_core *c, bool on)
{
    c->flow_pairs = on;
}

void agent_time_set(struct agent_core *c, uint64_t now_ms)
{
    c->now_ms = now_ms;
}

/* Forgets 'k' and, for a forward or reverse entry, its other direction. */
static void ft_forget(struct agent_flows *t, const struct dp_flow_key *k)
{
    uint32_t i = ft_find(t, k, dp_flow_hash(k));
    if (i == UINT32_MAX) {
        return;
    }
    uint8_t kind = t->slots[i].used;
    struct dp_flow_key r;
    ent_other(&t->slots[i], &r);
    ft_remove_at(t, i);
    if (kind != FLOW_DROP) {
        i = ft_find(t, &r, dp_flow_hash(&r));
        if (i != UINT32_MAX) {
            ft_remove_at(t, i);
        }
    }
}

void agent_flow_forget(struct agent_core *c, const struct dp_flow_key *k)
{
    ft_forget(&c->flows, k);
}

void agent_flow_seen(struct agent_core *c, const struct dp_flow_key *k, uint64_t packets)
{
    uint32_t i = ft_find(&c->flows, k, dp_flow_hash(k));
    if (i != UINT32_MAX && c->flows.slots[i].packets != packets) {
        c->flows.slots[i].packets = packets;
        c->flows.slots[i].last_ms = c->now_ms;
    }
}

static void flow_del_send(struct agent_core *c, const struct dp_flow_key *k)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_FLOW_DEL, 0, 0);
    m.u.flow.key = *k;
    c->ops.dp_send(c->arg, &m);
}

size_t agent_flow_age(struct agent_core *c, uint64_t now_ms)
{
    struct agent_flows *t = &c->flows;
    uint64_t idle = c->cfg.flow_idle_ms ? c->cfg.flow_idle_ms : AGENT_FLOW_IDLE_MS_DEFAULT;
    size_t aged = 0;
    c->now_ms = now_ms;
    for (uint32_t i = 0; i < t->cap;) {
        struct agent_flow_ent *e = &t->slots[i];
        if (!e->used || e->used == FLOW_REV || now_ms - e->last_ms <= idle || e->last_ms > now_ms) {
            i++;
            continue;
        }
        struct dp_flow_key k = e->key;
        if (e->used == FLOW_FWD) {
            struct dp_flow_key r;
            ent_other(e, &r);
            uint32_t ri = ft_find(t, &r, dp_flow_hash(&r));
            if (ri != UINT32_MAX && now_ms - t->slots[ri].last_ms <= idle) {
                i++;
                continue; /* the reverse direction is active */
            }
            if (ri != UINT32_MAX) {
                flow_del_send(c, &r);
            }
        }
        flow_del_send(c, &k);
        ft_forget(t, &k); /* slot i now holds a shifted entry (or none): look again */
        aged++;
    }
    c->flows_aged += aged;
    return aged;
}

int agent_flows_format(const struct agent_core *c, size_t max, struct buf *out)
{
    static const char *const kinds[] = {[FLOW_DROP] = "drop", [FLOW_FWD] = "forward", [FLOW_REV] = "reverse"};
    const struct agent_flows *t = &c->flows;
    size_t n = 0;
    for (uint32_t i = 0; i < t->cap && n < max; i++) {
        const struct agent_flow_ent *e = &t->slots[i];
        if (!e->used) {
            continue;
        }
        char line[160];
        const uint8_t *s = e->key.src, *d = e->key.dst;
        int len = snprintf(line, sizeof line, "vrf=%u proto=%u %u.%u.%u.%u:%u > %u.%u.%u.%u:%u %s\n", e->key.vrf,
                           e->key.proto, s[0], s[1], s[2], s[3], e->key.sport, d[0], d[1], d[2], d[3], e->key.dport,
                           kinds[e->used]);
        int rc = buf_put(out, line, (size_t)len);
        if (rc != 0) {
            return rc;
        }
        n++;
    }
    return 0;
}

void agent_flow_flush(struct agent_core *c)
{
    struct agent_flows *t = &c->flows;
    for (uint32_t i = 0; i < t->cap; i++) {
        if (t->slots[i].used) {
            flow_del_send(c, &t->slots[i].key);
        }
    }
    c->flows_aged += t->count;
    if (t->cap) {
        memset(t->slots, 0, (size_t)t->cap * sizeof *t->slots);
    }
    t->count = 0;
}

/* Makes room for and records a flow: its forward entry (and reverse when
 * 'forward'). AGENT_EFULL at the limit, LIB_ENOMEM. */
static int ft_record(struct agent_core *c, const struct dp_flow_key *k, const struct dp_flow_key *r, bool forward)
{
    struct agent_flows *t = &c->flows;
    uint32_t need = forward ? 2 : 1;
    int rc = ft_reserve(t, need);
    if (rc != 0) {
        return rc;
    }
    struct agent_flow_ent e = {.key = *k, .hash = dp_flow_hash(k), .last_ms = c->now_ms,
                               .used = forward ? FLOW_FWD : FLOW_DROP};
    struct agent_flow_ent re = {.key = forward ? *r : *k, .hash = forward ? dp_flow_hash(r) : 0,
                                .last_ms = c->now_ms, .used = FLOW_REV};
    ent_link(&e, r);
    ent_link(&re, k);
    /* the common case, a new flow, probes each run once: insert both
     * directions when neither is known (and the limit allows) */
    if (t->count + need <= flow_limit(c) && ft_insert_new(t, &e)) {
        if (!forward || ft_insert_new(t, &re)) {
            return 0;
        }
        ft_forget(t, k); /* the reverse is known (a pair punted the other way): start over */
    }
    /* a re-punted flow replaces its old record (both directions) */
    ft_forget(t, k);
    if (forward) {
        ft_forget(t, r);
    }
    if (t->count + need > flow_limit(c)) {
        return AGENT_EFULL;
    }
    ft_put(t, &e);
    if (forward) {
        ft_put(t, &re);
    }
    return 0;
}

static void flow_send(struct agent_core *c, const struct dp_flow_key *k, const struct dp_flow_action *a)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_FLOW, 0, 0);
    m.u.flow.key = *k;
    m.u.flow.action = *a;
    m.u.flow.reverse = DP_FLOW_NONE;
    c->ops.dp_send(c->arg, &m);
}

static uint16_t csum16(const uint8_t *p, size_t size)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < size; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (size & 1) {
        sum += (uint32_t)p[size - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

/* Replaces the 32-bit value 'from' by 'to' in the one's complement
 * checksum at 'sum' (RFC 1624). */
static void csum_replace32(uint8_t *sum, uint32_t from, uint32_t to)
{
    uint32_t x = (uint16_t)~be16_load(sum);
    x += (uint16_t)~(from >> 16) + (uint16_t)~(from & 0xffff);
    x += (to >> 16) + (to & 0xffff);
    while (x >> 16) {
        x = (x & 0xffff) + (x >> 16);
    }
    be16_store(sum, (uint16_t)~x);
}

/* Appends the inner IPv4 packet with its TTL decremented (header checksum
 * recomputed), as the datapath's routing would, its source replaced by
 * 'nat_src' and its destination by 'nat_dst' when nonzero (a floating
 * IP's NAT: the TCP or UDP checksum adjusted as the datapath does). */
static int put_inner(struct buf *out, const struct ip4_view *v, uint32_t nat_src, uint32_t nat_dst)
{
    uint8_t *at;
    int rc = buf_put_space(out, v->size, &at);
    if (rc != 0) {
        return rc;
    }
    memcpy(at, v->ip, v->size);
    size_t ihl = (size_t)(at[0] & 0xf) * 4;
    bool ports = (v->proto == 6 || v->proto == 17) && (be16_load(at + 6) & 0x3fff) == 0;
    uint8_t *l4sum = NULL;
    if (ports && v->proto == 6 && v->size >= ihl + 18) {
        l4sum = at + ihl + 16;
    } else if (ports && v->proto == 17 && v->size >= ihl + 8 && be16_load(at + ihl + 6) != 0) {
        l4sum = at + ihl + 6;
    }
    for (int dir = 0; dir < 2; dir++) {
        uint32_t to = dir ? nat_dst : nat_src;
        uint8_t *addr = at + (dir ? 16 : 12);
        if (to == 0) {
            continue;
        }
        if (l4sum) {
            csum_replace32(l4sum, be32_load(addr), to);
            if (v->proto == 17 && be16_load(l4sum) == 0) {
                be16_store(l4sum, 0xffff);
            }
        }
        be32_store(addr, to);
    }
    at[8]--;
    at[10] = at[11] = 0;
    be16_store(at + 10, csum16(at, ihl));
    return 0;
}

static int put_eth(struct buf *out, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
    int rc = buf_put(out, dst, 6);
    rc = rc ? rc : buf_put(out, src, 6);
    return rc ? rc : buf_put_u16(out, type);
}

/* Appends the frame that the tunnel next hop 't' would send for 'v'. */
static int put_tunnel(struct agent_core *c, const struct agent_tunnel *t, const struct ip4_view *v,
                      const struct dp_flow_key *k, uint32_t nat_src, uint32_t nat_dst, struct buf *out)
{
    static const uint8_t zero[6];
    size_t inner = v->size + (t->encap == DP_ENCAP_VXLAN ? 14 : 0);
    size_t shim = t->encap == DP_ENCAP_MPLS_GRE ? 4 + 4 : t->encap == DP_ENCAP_MPLS_UDP ? 8 + 4 : 8 + 8;
    size_t total = 20 + shim + inner;
    uint8_t hdr[20 + 16];
    memset(hdr, 0, sizeof hdr);
    hdr[0] = 0x45;
    be16_store(hdr + 2, (uint16_t)total);
    hdr[8] = OUTER_TTL;
    hdr[9] = t->encap == DP_ENCAP_MPLS_GRE ? 47 : 17;
    be32_store(hdr + 12, c->cfg.fabric_ip);
    be32_store(hdr + 16, t->dip);
    be16_store(hdr + 10, csum16(hdr, 20));
    uint8_t *s = hdr + 20;
    uint32_t mpls = (t->label & 0xfffffu) << 12 | 1u << 8 | OUTER_TTL;
    if (t->encap == DP_ENCAP_MPLS_GRE) {
        be16_store(s + 2, ETH_MPLS);
        be32_store(s + 4, mpls);
    } else {
        be16_store(s, dp_udp_sport(dp_flow_hash(k)));
        be16_store(s + 2, t->encap == DP_ENCAP_VXLAN ? UDP_VXLAN_PORT : UDP_MPLS_PORT);
        be16_store(s + 4, (uint16_t)(shim + inner));
        if (t->encap == DP_ENCAP_VXLAN) {
            s[8] = 0x08;
            be32_store(s + 12, (t->label & 0xffffffu) << 8);
        } else {
            be32_store(s + 8, mpls);
        }
    }
    int rc = put_eth(out, zero, zero, ETH_IP4); /* the raw fabric sender skips it */
    rc = rc ? rc : buf_put(out, hdr, 20 + shim);
    if (rc == 0 && t->encap == DP_ENCAP_VXLAN) {
        rc = put_eth(out, c->cfg.router_mac, c->cfg.router_mac, ETH_IP4);
    }
    return rc ? rc : put_inner(out, v, nat_src, nat_dst);
}

/* The virtual network of remote address 'ip4' in 'vrf': its route's, else
 * the one whose subnet covers it (longest), else "". */
static const char *remote_vn(const struct agent_core *c, const struct agent_route *rt, uint32_t ip4)
{
    const char *vn = rt ? agent_route_vn(rt) : "";
    int best = -1;
    for (size_t i = 0; !vn[0] && i < c->vn_subnet_count; i++) {
        const struct agent_vn_subnet *s = &c->vn_subnets[i];
        uint32_t mask = agent_ip4_mask(s->plen);
        if ((ip4 & mask) == s->ip4 && (int)s->plen > best) {
            best = s->plen;
            vn = s->vn;
        }
    }
    return vn;
}

static void end_local(struct agent_flow_end *e, const struct agent_port *p)
{
    e->policy = p->policy;
    e->vn = p->policy ? p->policy->vn : p->spec.vn;
}

/* The port's end of a flow of its floating IP 'f': in the pool network. */
static void end_fip(struct agent_flow_end *e, const struct agent_fip *f)
{
    e->policy = f->policy;
    e->vn = f->policy ? f->policy->vn : f->vn;
}

/* The end of address 'ip4' in 'vrf' not given by a port: a local port of
 * that VRF (its policy), else a remote one. */
static void end_other(const struct agent_core *c, struct agent_flow_end *e, uint32_t vrf,
                      const struct agent_port *local, const struct agent_route *rt)
{
    if (local) {
        end_local(e, local);
    } else {
        e->vn = remote_vn(c, rt ? rt : agent_route_lookup(c, vrf, e->ip4), e->ip4);
    }
}

static bool ends_allow(const struct agent_flow_end *s, const struct agent_flow_end *t, uint8_t proto)
{
    return (!s->policy && !t->policy) || agent_policy_decide(s, t, proto) == AGENT_ALLOW;
}

/* Whether the policy of the flow's local ends lets 'v' (in 'vrf', punted
 * from 'ifindex', to local port 'local' or over route 'rt') through. */
static bool policy_allows(const struct agent_core *c, uint32_t ifindex, uint32_t vrf, const struct ip4_view *v,
                          const struct agent_port *local, const struct agent_route *rt)
{
    struct agent_flow_end s = {.ip4 = v->src, .port = v->sport}, t = {.ip4 = v->dst, .port = v->dport};
    const struct agent_port *sp = ifindex >= AGENT_IF_FIRST_PORT ? agent_port_by_ifindex(c, ifindex) : NULL;
    if (!sp) {
        sp = agent_port_by_ip(c, vrf, v->src);
    }
    end_other(c, &s, vrf, sp, NULL);
    end_other(c, &t, vrf, local, rt);
    return ends_allow(&s, &t, v->proto);
}

/* A flow of a floating IP: the port owning it, which one, and where the
 * packet goes (a local port or a route of the pool VRF). */
struct fip_flow {
    const struct agent_port *port;
    const struct agent_fip *fip;
    bool snat; /* the port's traffic out; else traffic to the floating address */
    const struct agent_port *local;
    const struct agent_route *rt;
};

/* The floating IP flow of 'v' punted in 'vrf' from 'ifindex', if any:
 * to a floating address (punted in its pool VRF, or in its port's VRF on
 * delivery from the fabric), or from a port whose VRF does not reach the
 * destination while one of its floating IPs' pool VRFs does. */
static bool fip_flow_find(const struct agent_core *c, uint32_t ifindex, uint32_t vrf, const struct ip4_view *v,
                          struct fip_flow *ff)
{
    memset(ff, 0, sizeof *ff);
    for (size_t i = 0; i < c->port_count; i++) {
        const struct agent_port *p = &c->ports[i];
        for (size_t j = 0; j < p->fip_count; j++) {
            const struct agent_fip *f = &p->fips[j];
            if (f->ip4 == v->dst && (f->vrf == vrf || p->spec.vrf == vrf)) {
                ff->port = ff->local = p;
                ff->fip = f;
                return true;
            }
        }
    }
    const struct agent_port *sp = ifindex >= AGENT_IF_FIRST_PORT ? agent_port_by_ifindex(c, ifindex) : NULL;
    if (!sp || sp->spec.vrf != vrf || sp->spec.ip4 != v->src) {
        return false;
    }
    for (size_t j = 0; j < sp->fip_count; j++) {
        const struct agent_fip *f = &sp->fips[j];
        const struct agent_port *dl = agent_port_by_ip(c, f->vrf, v->dst);
        const struct agent_route *rt = dl ? NULL : agent_route_lookup(c, f->vrf, v->dst);
        if (dl || rt) {
            *ff = (struct fip_flow){.port = sp, .fip = f, .snat = true, .local = dl, .rt = rt};
            return true;
        }
    }
    return false;
}

/* Fills the NAT pair of floating IP flow 'ff' into 'd' (keys and actions)
 * and returns whether its policy allows it. */
static bool fip_flow_decide(const struct agent_core *c, const struct agent_punt *p, const struct ip4_view *v,
                            const struct fip_flow *ff, struct agent_flow_decision *d)
{
    const struct agent_port *port = ff->port;
    const struct agent_fip *f = ff->fip;
    uint32_t vp = port->spec.vrf, fixed = port->spec.ip4;
    struct agent_flow_end s = {.ip4 = v->src, .port = v->sport}, t = {.ip4 = v->dst, .port = v->dport};
    if (!ff->snat) {
        /* to the floating address: destination -> fixed, routed in the port's VRF */
        d->action = (struct dp_flow_action){.type = DP_FLOW_NAT, .flags = DP_FA_DNAT | DP_FA_VRF, .nat_ip = fixed,
                                            .vrf = vp};
        key_fill(&d->reverse, vp, fixed, v->src, v->dport, v->sport, v->proto);
        d->reverse_action = (struct dp_flow_action){.type = DP_FLOW_NAT, .flags = DP_FA_SNAT | DP_FA_VRF,
                                                    .nat_ip = f->ip4, .vrf = f->vrf};
        const struct agent_port *sp = p->ifindex >= AGENT_IF_FIRST_PORT ? agent_port_by_ifindex(c, p->ifindex) : NULL;
        end_other(c, &s, f->vrf, sp, NULL);
        end_fip(&t, f);
    } else {
        /* the port's traffic: source -> floating, routed in the pool VRF; the
         * answers come to the floating address in the pool VRF (a local
         * port) or in the port's VRF (under the port's label) */
        d->action = (struct dp_flow_action){.type = DP_FLOW_NAT, .flags = DP_FA_SNAT | DP_FA_VRF, .nat_ip = f->ip4,
                                            .vrf = f->vrf};
        key_fill(&d->reverse, ff->local ? f->vrf : vp, v->dst, f->ip4, v->dport, v->sport, v->proto);
        d->reverse_action = (struct dp_flow_action){.type = DP_FLOW_NAT, .flags = DP_FA_DNAT | DP_FA_VRF,
                                                    .nat_ip = fixed, .vrf = vp};
        end_fip(&s, f);
        end_other(c, &t, f->vrf, ff->local, ff->rt);
    }
    return ends_allow(&s, &t, v->proto);
}

/* Appends the DP_AGENT_TX header of a re-injection out of 'to'. */
static int inject_hdr_put(struct buf *out, uint32_t to)
{
    uint8_t hdr[DP_PUNT_HDR_SIZE];
    be16_store(hdr, DP_PUNT_MAGIC);
    hdr[2] = DP_PUNT_VERSION;
    hdr[3] = DP_AGENT_TX;
    be32_store(hdr + 4, to);
    be32_store(hdr + 8, 0);
    be32_store(hdr + 12, DP_FLOW_NONE);
    return buf_put(out, hdr, sizeof hdr);
}

void agent_flow_prefetch(const struct agent_core *c, const struct agent_punt *p)
{
    const struct agent_flows *t = &c->flows;
    struct ip4_view v;
    if (t->cap == 0 || p->reason != DP_PUNT_FLOW_MISS || parse_ip4(p->frame, p->frame_size, &v) != 0) {
        return;
    }
    struct dp_flow_key k, r;
    key_fill(&k, p->vrf, v.src, v.dst, v.sport, v.dport, v.proto);
    key_fill(&r, p->vrf, v.dst, v.src, v.dport, v.sport, v.proto);
    __builtin_prefetch(&t->slots[dp_flow_hash(&k) & (t->cap - 1)], 1, 3);
    __builtin_prefetch(&t->slots[dp_flow_hash(&r) & (t->cap - 1)], 1, 3);
}

int agent_flow_miss(struct agent_core *c, const struct agent_punt *p, struct agent_flow_decision *d,
                    struct buf *reinject)
{
    struct ip4_view v;
    memset(d, 0, sizeof *d);
    int rc = parse_ip4(p->frame, p->frame_size, &v);
    if (rc != 0) {
        c->punts_bad += rc == AGENT_EPUNT;
        return rc;
    }
    key_fill(&d->key, p->vrf, v.src, v.dst, v.sport, v.dport, v.proto);
    key_fill(&d->reverse, p->vrf, v.dst, v.src, v.dport, v.sport, v.proto);
    d->action.type = DP_FLOW_FORWARD;
    d->reverse_action.type = DP_FLOW_FORWARD;
    const struct agent_port *local = agent_port_by_ip(c, p->vrf, v.dst);
    struct fip_flow ff = {0};
    bool nat = !local && c->fips > 0 && fip_flow_find(c, p->ifindex, p->vrf, &v, &ff) && !ff.snat;
    const struct agent_route *rt = local || nat ? NULL : agent_route_lookup(c, p->vrf, v.dst);
    if (rt && rt->local_ifindex) { /* to a port of ours (a service VM's): delivered there */
        local = agent_port_by_ifindex(c, rt->local_ifindex);
        rt = local ? NULL : rt;
    }
    nat = nat || (!local && !rt && ff.snat);
    uint32_t nat_src = 0, nat_dst = 0;
    if (nat) {
        local = ff.local;
        rt = ff.rt;
        nat_src = ff.snat ? ff.fip->ip4 : 0;
        nat_dst = ff.snat ? 0 : ff.port->spec.ip4;
    }
    const struct agent_tunnel *t = rt ? agent_route_tunnel_for(c, rt, &d->key) : NULL;
    bool ttl_ok = v.size > 8 && v.ip[8] > 1;
    d->forward = (local || t) && agent_ri_by_vrf(c, p->vrf) != NULL;
    bool allowed = !d->forward ? false
                   : nat       ? fip_flow_decide(c, p, &v, &ff, d)
                               : policy_allows(c, p->ifindex, p->vrf, &v, local, rt);
    bool denied = d->forward && !allowed;
    d->forward = d->forward && !denied;
    if (!d->forward) {
        d->action = (struct dp_flow_action){.type = DP_FLOW_DROP};
        d->reverse_action = (struct dp_flow_action){.type = DP_FLOW_FORWARD};
        key_fill(&d->reverse, p->vrf, v.dst, v.src, v.dport, v.sport, v.proto);
    }
    rc = ft_record(c, &d->key, &d->reverse, d->forward);
    if (rc != 0) {
        c->flows_over_limit += rc == AGENT_EFULL;
        c->alloc_failures += rc == LIB_ENOMEM;
        d->forward = false;
        return rc == LIB_ENOMEM ? AGENT_ENOMEM : rc;
    }
    if (d->forward && c->flow_pairs && memcmp(&d->key, &d->reverse, sizeof d->key) != 0) {
        struct vr_msg m; /* both directions in one request */
        vr_msg_init(&m, VR_MSG_FLOW_PAIR, 0, 0);
        m.u.pair.fwd.key = d->key;
        m.u.pair.fwd.action = d->action;
        m.u.pair.rev.key = d->reverse;
        m.u.pair.rev.action = d->reverse_action;
        c->ops.dp_send(c->arg, &m);
    } else {
        flow_send(c, &d->key, &d->action);
        if (d->forward) {
            flow_send(c, &d->reverse, &d->reverse_action);
        }
    }
    if (!d->forward) {
        c->flows_drop++;
        if (denied) {
            c->flows_denied++; /* a route appearing does not lift it */
        } else {
            agent_drop_flow_note(c, &d->key);
        }
        return 0;
    }
    c->flows_forward++;
    c->flows_nat += nat;
    if (!ttl_ok || !reinject) {
        return 0; /* the flow is right; this packet would expire anyway, or the datapath holds it */
    }
    size_t start = reinject->size;
    rc = inject_hdr_put(reinject, local ? local->spec.ifindex : AGENT_IF_FABRIC);
    if (rc == 0 && local) {
        rc = put_eth(reinject, local->spec.mac, c->cfg.router_mac, ETH_IP4);
        rc = rc ? rc : put_inner(reinject, &v, nat_src, nat_dst);
    } else if (rc == 0) {
        rc = put_tunnel(c, t, &v, &d->key, nat_src, nat_dst, reinject);
    }
    if (rc != 0) {
        reinject->size = start;
    }
    return rc;
}

/* The codec of the agent <-> forwarding-plane message set (msg.h). Each body
 * is described once, by a walker over its fields that either writes them
 * (encoding) or reads them through a checked cursor (decoding): the two
 * directions cannot drift apart, and every decoded read is bounded by the
 * bytes that remain (a short read fails with VR_MSG_ESHORT and reads
 * nothing). Range checks run on the field values in both directions, so
 * the encoder refuses to write what the decoder would refuse to read.
 * Portable: only the core's environment header is used (no libc, no
 * allocation), so the kernel module can compile this file as is; the one
 * user-space line registers the error strings with lib/err. */
#include "vrouter/msg/msg.h"

#include "vrouter/dp/dp_env.h"

#ifndef __KERNEL__
STRATA_ERR_DEFINE(vr_msg, VR_MSG_ERRORS)
#endif

/* The walker's state. Decoding: 'in' / 'in_size' is the checked cursor
 * over the bytes not yet read. Encoding: 'out' has 'cap' bytes, 'pos' used.
 * 'err' is sticky: after the first failure every step is a no-op. */
struct io {
    int dec;
    const uint8_t *in;
    size_t in_size;
    uint8_t *out;
    size_t cap;
    size_t pos;
    int err;
};

static void f_bytes(struct io *io, void *v, size_t n)
{
    if (io->err) {
        return;
    }
    if (io->dec) {
        if (io->in_size < n) {
            io->err = VR_MSG_ESHORT;
            return;
        }
        dp_memcpy(v, io->in, n);
        io->in += n;
        io->in_size -= n;
    } else {
        if (io->cap - io->pos < n) {
            io->err = VR_MSG_ENOSPC;
            return;
        }
        dp_memcpy(io->out + io->pos, v, n);
        io->pos += n;
    }
}

static void f_u8(struct io *io, uint8_t *v)
{
    f_bytes(io, v, 1);
}

static void f_u16(struct io *io, uint16_t *v)
{
    uint8_t b[2] = {(uint8_t)(*v >> 8), (uint8_t)*v};
    f_bytes(io, b, 2);
    if (io->dec && !io->err) {
        *v = (uint16_t)((b[0] << 8) | b[1]);
    }
}

static void f_u32(struct io *io, uint32_t *v)
{
    uint8_t b[4] = {(uint8_t)(*v >> 24), (uint8_t)(*v >> 16), (uint8_t)(*v >> 8), (uint8_t)*v};
    f_bytes(io, b, 4);
    if (io->dec && !io->err) {
        *v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
    }
}

static void f_u64(struct io *io, uint64_t *v)
{
    uint32_t hi = (uint32_t)(*v >> 32), lo = (uint32_t)*v;
    f_u32(io, &hi);
    f_u32(io, &lo);
    if (io->dec && !io->err) {
        *v = ((uint64_t)hi << 32) | lo;
    }
}

/* Fails the walk with VR_MSG_EFIELD unless 'ok'. */
static void f_check(struct io *io, int ok)
{
    if (!io->err && !ok) {
        io->err = VR_MSG_EFIELD;
    }
}

/* An IPv4 or IPv6 address: 4 or 16 bytes by 'family' (already checked). */
static void f_addr(struct io *io, uint8_t family, uint8_t *addr)
{
    f_bytes(io, addr, family == 6 ? 16 : 4);
}

static void f_family(struct io *io, uint8_t *family)
{
    f_u8(io, family);
    f_check(io, *family == 4 || *family == 6);
}

/* ---- bodies ---- */

static void body_if(struct io *io, struct vr_msg_if *m)
{
    struct dp_if *i = &m->dpif;
    f_u32(io, &i->ifindex);
    f_u8(io, &i->type);
    f_check(io, i->type <= DP_IF_AGENT);
    f_u8(io, &i->flags);
    f_check(io, (i->flags & ~DP_IF_POLICY) == 0);
    f_u32(io, &i->vrf);
    f_bytes(io, i->mac, 6);
    f_u32(io, &i->ip4);
    f_u32(io, &i->gw_ip4);
    f_u32(io, &i->dns_ip4);
    f_bytes(io, i->gw_mac, 6);
    f_u32(io, &i->gen);
    f_u64(io, &i->stats.rx_packets);
    f_u64(io, &i->stats.rx_bytes);
    f_u64(io, &i->stats.tx_packets);
    f_u64(io, &i->stats.tx_bytes);
    f_u64(io, &i->stats.drops);
    /* name: u8 length, then that many printable non-space ASCII bytes */
    uint8_t len = 0;
    if (!io->dec) {
        while (len < VR_MSG_NAME_MAX && m->name[len]) {
            len++;
        }
    }
    f_u8(io, &len);
    f_check(io, len < VR_MSG_NAME_MAX);
    if (io->err) {
        return;
    }
    f_bytes(io, m->name, len);
    for (uint8_t k = 0; k < len; k++) {
        f_check(io, m->name[k] > 0x20 && m->name[k] < 0x7f);
    }
}

static void body_vrf(struct io *io, struct dp_vrf *v)
{
    f_u32(io, &v->vrf);
    f_u32(io, &v->bum_nh);
    f_u32(io, &v->gen);
}

static void body_nh(struct io *io, struct dp_nh *n)
{
    f_u32(io, &n->id);
    f_u8(io, &n->type);
    f_check(io, n->type <= DP_NH_BUM);
    f_u8(io, &n->encap);
    f_check(io, n->encap <= DP_ENCAP_VXLAN);
    f_u8(io, &n->flags);
    f_check(io, (n->flags & ~DP_NH_L2) == 0);
    f_u8(io, &n->member_count);
    f_check(io, n->member_count <= DP_NH_MAX_MEMBERS);
    if (!io->dec) {
        for (unsigned k = n->member_count; k < DP_NH_MAX_MEMBERS; k++) {
            f_check(io, n->members[k] == 0); /* unsent, so must be zero */
        }
    }
    f_u32(io, &n->ifindex);
    f_u32(io, &n->vrf);
    f_u32(io, &n->label);
    f_u32(io, &n->sip);
    f_u32(io, &n->dip);
    f_bytes(io, n->dmac, 6);
    f_bytes(io, n->outer_dmac, 6);
    for (unsigned k = 0; k < n->member_count && !io->err; k++) {
        f_u32(io, &n->members[k]);
    }
    f_u32(io, &n->gen);
}

static void body_route(struct io *io, struct dp_route *r)
{
    f_u32(io, &r->vrf);
    f_family(io, &r->family);
    f_u8(io, &r->plen);
    f_check(io, r->plen <= (r->family == 6 ? 128 : 32));
    if (io->err) {
        return;
    }
    if (!io->dec && r->family == 4) {
        for (unsigned k = 4; k < 16; k++) {
            f_check(io, r->addr[k] == 0);
        }
    }
    f_addr(io, r->family, r->addr);
    f_u32(io, &r->nh);
    f_u32(io, &r->gen);
}

static void body_mac(struct io *io, struct dp_mac *m)
{
    f_u32(io, &m->vrf);
    f_bytes(io, m->mac, 6);
    f_u32(io, &m->nh);
    f_u32(io, &m->gen);
}

static void body_label(struct io *io, struct dp_label *l)
{
    f_u32(io, &l->label);
    f_check(io, l->label < (1u << 20));
    f_u32(io, &l->nh);
    f_u32(io, &l->gen);
}

static void body_vni(struct io *io, struct dp_vni *v)
{
    f_u32(io, &v->vni);
    f_check(io, v->vni < (1u << 24));
    f_u32(io, &v->vrf);
    f_u32(io, &v->nh);
    f_u32(io, &v->gen);
}

static void body_flow_key(struct io *io, struct dp_flow_key *k)
{
    f_u32(io, &k->vrf);
    f_family(io, &k->family);
    f_u8(io, &k->proto);
    if (io->err) {
        return;
    }
    if (!io->dec) {
        for (unsigned b = k->family == 4 ? 4 : 16; b < 16; b++) {
            f_check(io, k->src[b] == 0 && k->dst[b] == 0);
        }
        f_check(io, k->pad[0] == 0 && k->pad[1] == 0);
    }
    f_addr(io, k->family, k->src);
    f_addr(io, k->family, k->dst);
    f_u16(io, &k->sport);
    f_u16(io, &k->dport);
}

static void body_flow_action(struct io *io, struct dp_flow_action *a)
{
    f_u8(io, &a->type);
    f_check(io, a->type <= DP_FLOW_MIRROR);
    f_u8(io, &a->flags);
    f_check(io, (a->flags & ~(DP_FA_SNAT | DP_FA_DNAT | DP_FA_VRF)) == 0);
    f_u16(io, &a->nat_port);
    f_u32(io, &a->nat_ip);
    f_u32(io, &a->vrf);
    f_u32(io, &a->mirror_nh);
}

static void body_flow(struct io *io, struct dp_flow *f, int key_only)
{
    body_flow_key(io, &f->key);
    if (key_only) {
        return;
    }
    body_flow_action(io, &f->action);
    f_u32(io, &f->index);
    f_u8(io, &f->state);
    f_check(io, f->state <= DP_FLOW_ACTIVE);
    f_u32(io, &f->reverse);
    f_u64(io, &f->packets);
    f_u64(io, &f->bytes);
    f_u64(io, &f->last_seen_ms);
    f_u32(io, &f->gen);
}

/* A pair carries keys and actions only (the read-only fields stay zero). */
static void body_flow_pair(struct io *io, struct vr_msg_flow_pair *p)
{
    body_flow_key(io, &p->fwd.key);
    body_flow_action(io, &p->fwd.action);
    body_flow_key(io, &p->rev.key);
    body_flow_action(io, &p->rev.action);
}

static void body_stats(struct io *io, struct vr_msg_stats *s)
{
    f_u8(io, &s->drop_count);
    f_check(io, s->drop_count <= DP_DROP_COUNT);
    if (!io->dec) {
        for (unsigned k = s->drop_count; k < DP_DROP_COUNT; k++) {
            f_check(io, s->stats.drops[k] == 0);
        }
    }
    for (unsigned k = 0; k < s->drop_count && !io->err; k++) {
        f_u64(io, &s->stats.drops[k]);
    }
    f_u64(io, &s->stats.punts);
    f_u64(io, &s->stats.flows_active);
    f_u64(io, &s->stats.flows_held);
}

static void body_reply(struct io *io, struct vr_msg_reply *r)
{
    uint32_t code = (uint32_t)r->code;
    f_u32(io, &code);
    r->code = (int32_t)code;
    f_check(io, r->code <= 0);
    f_u32(io, &r->value);
}

static void body_punt(struct io *io, struct vr_msg_punt *p)
{
    f_u8(io, &p->reason);
    f_check(io, p->reason >= DP_PUNT_ARP && p->reason <= DP_PUNT_NH);
    f_u32(io, &p->ifindex);
    f_u32(io, &p->vrf);
    f_u32(io, &p->flow);
    f_u16(io, &p->frame_size);
    f_check(io, p->frame_size >= 14 && p->frame_size <= VR_MSG_PUNT_FRAME_MAX);
    if (io->err) {
        return;
    }
    if (!io->dec) {
        uint8_t rest = 0; /* bytes past the frame would be lost */
        for (unsigned b = p->frame_size; b < VR_MSG_PUNT_FRAME_MAX; b++) {
            rest |= p->frame[b];
        }
        f_check(io, rest == 0);
    }
    f_bytes(io, p->frame, p->frame_size);
}

/* Walks the body of 'm' (type already known valid). */
static void body(struct io *io, struct vr_msg *m)
{
    switch ((enum vr_msg_type)m->type) {
    case VR_MSG_IF:
        body_if(io, &m->u.ifc);
        return;
    case VR_MSG_VRF:
        body_vrf(io, &m->u.vrf);
        return;
    case VR_MSG_NH:
        body_nh(io, &m->u.nh);
        return;
    case VR_MSG_ROUTE:
    case VR_MSG_ROUTE_DEL:
        body_route(io, &m->u.route);
        return;
    case VR_MSG_MAC:
    case VR_MSG_MAC_DEL:
        body_mac(io, &m->u.mac);
        return;
    case VR_MSG_LABEL:
        body_label(io, &m->u.label);
        return;
    case VR_MSG_VNI:
        body_vni(io, &m->u.vni);
        return;
    case VR_MSG_FLOW:
        body_flow(io, &m->u.flow, 0);
        return;
    case VR_MSG_FLOW_DEL:
        body_flow(io, &m->u.flow, 1);
        return;
    case VR_MSG_IF_DEL:
    case VR_MSG_VRF_DEL:
    case VR_MSG_NH_DEL:
    case VR_MSG_LABEL_DEL:
    case VR_MSG_VNI_DEL:
    case VR_MSG_GEN_BEGIN:
    case VR_MSG_SWEEP:
        f_u32(io, &m->u.id);
        return;
    case VR_MSG_STATS_REQ:
        return;
    case VR_MSG_STATS:
        body_stats(io, &m->u.stats);
        return;
    case VR_MSG_DUMP_REQ:
        f_u8(io, &m->u.table);
        f_check(io, m->u.table >= VR_TABLE_IF && m->u.table <= VR_TABLE_MAX);
        return;
    case VR_MSG_REPLY:
        body_reply(io, &m->u.reply);
        return;
    case VR_MSG_PUNT_SUB:
        f_u32(io, &m->u.id);
        f_check(io, (m->u.id & ~VR_PUNT_SUB_ALL) == 0);
        return;
    case VR_MSG_PUNT:
        body_punt(io, &m->u.punt);
        return;
    case VR_MSG_FLOW_PAIR:
        body_flow_pair(io, &m->u.pair);
        return;
    case VR_MSG_RING:
        f_u32(io, &m->u.ring.slots);
        f_check(io, m->u.ring.slots >= VR_RING_SLOTS_MIN && m->u.ring.slots <= VR_RING_SLOTS_MAX &&
                        (m->u.ring.slots & (m->u.ring.slots - 1)) == 0);
        return;
    }
    io->err = VR_MSG_ETYPE;
}

static int type_known(unsigned type)
{
    return type >= VR_MSG_IF && type <= VR_MSG_TYPE_MAX;
}

/* ---- public API ---- */

#define VR_MSG_NAME(name, val) [val] = #name,
static const char *const type_names[] = {VR_MSG_TYPES(VR_MSG_NAME)};

const char *vr_msg_type_name(unsigned type)
{
    return type_known(type) ? type_names[type] + 7 : "unknown"; /* skip "VR_MSG_" */
}

void vr_msg_init(struct vr_msg *m, uint8_t type, uint16_t flags, uint32_t seq)
{
    dp_memset(m, 0, sizeof *m);
    m->type = type;
    m->flags = flags;
    m->seq = seq;
}

int vr_msg_encode(const struct vr_msg *m, uint8_t *dst, size_t cap, size_t *size)
{
    if (!type_known(m->type)) {
        return VR_MSG_ETYPE;
    }
    if (m->flags & ~VR_MSG_F_ALL) {
        return VR_MSG_EFIELD;
    }
    struct vr_msg copy = *m; /* the walker takes mutable fields */
    struct io io = {.dec = 0, .out = dst, .cap = cap};
    uint16_t magic = VR_MSG_MAGIC, flags = m->flags, fsize = 0;
    uint8_t version = VR_MSG_VERSION, type = m->type;
    uint32_t seq = m->seq;
    f_u16(&io, &magic);
    f_u8(&io, &version);
    f_u8(&io, &type);
    f_u16(&io, &flags);
    f_u16(&io, &fsize);
    f_u32(&io, &seq);
    body(&io, &copy);
    if (io.err) {
        return io.err;
    }
    if (io.pos > VR_MSG_MAX) {
        return VR_MSG_ESIZE;
    }
    dst[6] = (uint8_t)(io.pos >> 8);
    dst[7] = (uint8_t)io.pos;
    *size = io.pos;
    return 0;
}

int vr_msg_peek(const uint8_t *p, size_t avail, size_t *size)
{
    if (avail < VR_MSG_HDR_SIZE) {
        return VR_MSG_ESHORT;
    }
    if (((p[0] << 8) | p[1]) != VR_MSG_MAGIC) {
        return VR_MSG_EMAGIC;
    }
    if (p[2] != VR_MSG_VERSION) {
        return VR_MSG_EVERSION;
    }
    size_t s = (size_t)((p[6] << 8) | p[7]);
    if (s < VR_MSG_HDR_SIZE || s > VR_MSG_MAX) {
        return VR_MSG_ESIZE;
    }
    *size = s;
    return 0;
}

int vr_msg_decode(const uint8_t *p, size_t size, struct vr_msg *m)
{
    size_t fsize;
    int rc = vr_msg_peek(p, size, &fsize);
    if (rc != 0) {
        return rc;
    }
    if (fsize != size) {
        return fsize > size ? VR_MSG_ESHORT : VR_MSG_ETRAILING;
    }
    struct io io = {.dec = 1, .in = p, .in_size = size};
    uint16_t magic = 0, flags = 0, hsize = 0;
    uint8_t version = 0, type = 0;
    uint32_t seq = 0;
    f_u16(&io, &magic);
    f_u8(&io, &version);
    f_u8(&io, &type);
    f_u16(&io, &flags);
    f_u16(&io, &hsize);
    f_u32(&io, &seq);
    if (!type_known(type)) {
        return VR_MSG_ETYPE;
    }
    if (flags & ~VR_MSG_F_ALL) {
        return VR_MSG_EFIELD;
    }
    vr_msg_init(m, type, flags, seq);
    body(&io, m);
    if (io.err) {
        return io.err;
    }
    return io.in_size ? VR_MSG_ETRAILING : 0;
}

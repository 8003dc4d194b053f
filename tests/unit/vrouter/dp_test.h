/* Shared fixture for the vRouter core tests: a small datapath with one
 * agent port, one fabric port and VM ports in two VRFs, plus frame builders
 * that compute every checksum independently of the code under test. */
#ifndef STRATA_TEST_DP_TEST_H
#define STRATA_TEST_DP_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vrouter/dp/dp.h"

enum { IF_AGENT = 0, IF_FAB = 1, IF_A = 2, IF_B = 3, IF_C = 4, IF_D = 5 };
enum { VRF_RED = 1, VRF_BLUE = 2 };

static const uint8_t MAC_FAB[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t MAC_GW[6] = {0x02, 0, 0, 0, 0, 0xfe};
static const uint8_t MAC_A[6] = {0x02, 0xaa, 0, 0, 0, 0x0a};
static const uint8_t MAC_B[6] = {0x02, 0xbb, 0, 0, 0, 0x0b};
static const uint8_t MAC_C[6] = {0x02, 0xcc, 0, 0, 0, 0x0c};
static const uint8_t MAC_REMOTE[6] = {0x02, 0xdd, 0, 0, 0, 0x0d};
static const uint8_t MAC_ROUTER[6] = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x00};
static const uint8_t MAC_BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define FAB_IP IP4(10, 0, 0, 1)
#define PEER_IP IP4(10, 0, 0, 2)

static inline void t_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void t_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint16_t t_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t t_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* RFC 1071 sum of 'n' bytes, not complemented, added to 'sum'. */
static inline uint32_t t_sum(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    }
    if (n & 1) {
        sum += (uint32_t)p[n - 1] << 8;
    }
    return sum;
}
static inline uint16_t t_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}
/* 1 when the IPv4 header at 'ip' has a correct checksum. */
static inline int t_ip4_csum_ok(const uint8_t *ip)
{
    return t_fold(t_sum(0, ip, (size_t)(ip[0] & 0xf) * 4)) == 0;
}
/* 1 when the TCP/UDP segment after IPv4 header 'ip' has a correct checksum. */
static inline int t_l4_csum_ok(const uint8_t *ip)
{
    size_t hl = (size_t)(ip[0] & 0xf) * 4, len = t_get16(ip + 2) - hl;
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = ip[9];
    t_put16(pseudo + 10, (uint16_t)len);
    return t_fold(t_sum(t_sum(0, pseudo, 12), ip + hl, len)) == 0;
}

static inline size_t t_eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    t_put16(f + 12, type);
    return 14;
}

/* IPv4 header (20 bytes, DF clear, id 0x1234) with a valid checksum. */
static inline size_t t_ip4(uint8_t *ip, uint32_t src, uint32_t dst, uint8_t proto, uint8_t ttl, size_t payload)
{
    memset(ip, 0, 20);
    ip[0] = 0x45;
    t_put16(ip + 2, (uint16_t)(20 + payload));
    t_put16(ip + 4, 0x1234);
    ip[8] = ttl;
    ip[9] = proto;
    t_put32(ip + 12, src);
    t_put32(ip + 16, dst);
    t_put16(ip + 10, t_fold(t_sum(0, ip, 20)));
    return 20;
}

/* A full Ethernet/IPv4/UDP frame with valid checksums; returns its size. */
static inline size_t t_udp4(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, uint32_t src, uint32_t dst,
                            uint16_t sp, uint16_t dp, size_t payload, uint8_t ttl)
{
    size_t o = t_eth(f, dmac, smac, 0x0800);
    uint8_t *ip = f + o;
    o += t_ip4(ip, src, dst, 17, ttl, 8 + payload);
    uint8_t *u = f + o;
    t_put16(u, sp);
    t_put16(u + 2, dp);
    t_put16(u + 4, (uint16_t)(8 + payload));
    t_put16(u + 6, 0);
    for (size_t i = 0; i < payload; i++) {
        u[8 + i] = (uint8_t)(0x40 + i);
    }
    o += 8 + payload;
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 17;
    t_put16(pseudo + 10, (uint16_t)(8 + payload));
    uint16_t cs = t_fold(t_sum(t_sum(0, pseudo, 12), u, 8 + payload));
    t_put16(u + 6, cs ? cs : 0xffff);
    return o;
}

/* Ethernet/IPv4/TCP (20-byte header, ACK) with valid checksums. */
static inline size_t t_tcp4(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, uint32_t src, uint32_t dst,
                            uint16_t sp, uint16_t dp, size_t payload)
{
    size_t o = t_eth(f, dmac, smac, 0x0800);
    uint8_t *ip = f + o;
    o += t_ip4(ip, src, dst, 6, 64, 20 + payload);
    uint8_t *t = f + o;
    memset(t, 0, 20);
    t_put16(t, sp);
    t_put16(t + 2, dp);
    t_put32(t + 4, 1000);
    t_put32(t + 8, 2000);
    t[12] = 0x50;
    t[13] = 0x10;
    t_put16(t + 14, 8192);
    for (size_t i = 0; i < payload; i++) {
        t[20 + i] = (uint8_t)(0x61 + i);
    }
    o += 20 + payload;
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 6;
    t_put16(pseudo + 10, (uint16_t)(20 + payload));
    t_put16(t + 16, t_fold(t_sum(t_sum(0, pseudo, 12), t, 20 + payload)));
    return o;
}

/* A packet buffer holding 'frame' after DP_HEADROOM bytes of headroom. */
struct t_buf {
    uint8_t mem[2048];
    struct dp_pkt pkt;
};
static inline struct dp_pkt *t_pkt(struct t_buf *b, const uint8_t *frame, size_t len)
{
    memset(b->mem, 0xee, sizeof b->mem);
    memcpy(b->mem + DP_HEADROOM, frame, len);
    b->pkt.buf = b->mem;
    b->pkt.size = sizeof b->mem;
    b->pkt.off = DP_HEADROOM;
    b->pkt.len = (uint32_t)len;
    return &b->pkt;
}

/* The bytes of transmission 'i' of 'o' (asserts there is one). */
static inline size_t t_tx(const struct dp_pkt *p, const struct dp_out *o, int i, uint8_t *dst)
{
    assert_true(i < o->count);
    uint32_t n = dp_tx_copy(p, &o->tx[i], dst, 4096);
    assert_true(n > 0);
    return n;
}

static inline void t_key4(struct dp_flow_key *k, uint32_t vrf, uint32_t src, uint32_t dst, uint8_t proto,
                          uint16_t sp, uint16_t dp)
{
    memset(k, 0, sizeof *k);
    k->vrf = vrf;
    t_put32(k->src, src);
    t_put32(k->dst, dst);
    k->proto = proto;
    k->sport = sp;
    k->dport = dp;
    k->family = 4;
}

/* The fixture: agent 0, fabric 1 (10.0.0.1), VM ports A and B in VRF_RED,
 * C in VRF_BLUE. */
static inline struct dp *t_dp_new(void)
{
    struct dp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.ifs = 16;
    cfg.vrfs = 8;
    cfg.nhs = 64;
    cfg.composites = 8;
    cfg.labels = 1024;
    cfg.vnis = 8;
    cfg.bridge = 16;
    cfg.routes = 64;
    cfg.lpm_nodes = 128;
    cfg.flows = 16;
    cfg.flow_overflow = 4;
    struct dp *dp;
    assert_int_equal(dp_create(&cfg, &dp), 0);
    struct dp_vrf v = {.vrf = VRF_RED};
    assert_int_equal(dp_vrf_add(dp, &v), 0);
    v.vrf = VRF_BLUE;
    assert_int_equal(dp_vrf_add(dp, &v), 0);
    struct dp_if i;
    memset(&i, 0, sizeof i);
    i.ifindex = IF_AGENT;
    i.type = DP_IF_AGENT;
    assert_int_equal(dp_if_add(dp, &i), 0);
    memset(&i, 0, sizeof i);
    i.ifindex = IF_FAB;
    i.type = DP_IF_FABRIC;
    memcpy(i.mac, MAC_FAB, 6);
    memcpy(i.gw_mac, MAC_GW, 6);
    i.ip4 = FAB_IP;
    assert_int_equal(dp_if_add(dp, &i), 0);
    const uint8_t *macs[] = {MAC_A, MAC_B, MAC_C};
    for (int k = 0; k < 3; k++) {
        memset(&i, 0, sizeof i);
        i.ifindex = (uint32_t)(IF_A + k);
        i.type = DP_IF_VM;
        i.vrf = k == 2 ? VRF_BLUE : VRF_RED;
        memcpy(i.mac, macs[k], 6);
        i.gw_ip4 = IP4(192, 168, 1, 1);
        i.dns_ip4 = IP4(192, 168, 1, 2);
        assert_int_equal(dp_if_add(dp, &i), 0);
    }
    return dp;
}

static inline void t_nh_if(struct dp *dp, uint32_t id, uint32_t ifindex, const uint8_t *dmac, uint8_t flags)
{
    struct dp_nh n;
    memset(&n, 0, sizeof n);
    n.id = id;
    n.type = DP_NH_IF;
    n.ifindex = ifindex;
    n.flags = flags;
    memcpy(n.dmac, dmac, 6);
    assert_int_equal(dp_nh_add(dp, &n), 0);
}

static inline void t_nh_tun(struct dp *dp, uint32_t id, uint8_t encap, uint32_t label, const uint8_t *inner_dmac)
{
    struct dp_nh n;
    memset(&n, 0, sizeof n);
    n.id = id;
    n.type = DP_NH_TUNNEL;
    n.encap = encap;
    n.ifindex = IF_FAB;
    n.sip = FAB_IP;
    n.dip = PEER_IP;
    n.label = label;
    if (inner_dmac) {
        memcpy(n.dmac, inner_dmac, 6);
    }
    assert_int_equal(dp_nh_add(dp, &n), 0);
}

static inline void t_route4(struct dp *dp, uint32_t vrf, uint32_t addr, uint8_t plen, uint32_t nh)
{
    struct dp_route r;
    memset(&r, 0, sizeof r);
    r.vrf = vrf;
    r.family = 4;
    r.plen = plen;
    t_put32(r.addr, addr);
    r.nh = nh;
    assert_int_equal(dp_route_add(dp, &r), 0);
}

static inline uint32_t t_lookup4(struct dp *dp, uint32_t vrf, uint32_t addr)
{
    uint8_t a[4];
    t_put32(a, addr);
    return dp_route_lookup(dp, vrf, 4, a);
}

static inline uint64_t t_drops(struct dp *dp, enum dp_drop r)
{
    struct dp_stats s;
    dp_stats_get(dp, &s);
    return s.drops[r];
}

#endif

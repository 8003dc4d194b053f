/* Internals shared by the proxy's files: the parsed frame context handed
 * from the Ethernet/IPv4/UDP dispatcher (proxy.c) to the ARP, DHCP and DNS
 * handlers, and the reply-frame builders. Not part of the public API. */
#ifndef STRATA_AGENT_PROXY_INT_H
#define STRATA_AGENT_PROXY_INT_H

#include "vrouter/agent/proxy/proxy.h"

#define PROXY_ETH_HDR 14
#define PROXY_IP4_HDR 20
#define PROXY_UDP_HDR 8
#define PROXY_ETH_MIN 60 /* minimum Ethernet frame without FCS */
#define PROXY_ETHERTYPE_IP4 0x0800
#define PROXY_ETHERTYPE_ARP 0x0806

/* One punted frame: the port, the agent's lookups and the Ethernet source. */
struct proxy_ctx {
    const struct proxy_port *port;
    const struct proxy_lookup *lk;
    uint32_t vrf;
    uint8_t eth_src[6];
};

/* A UDP datagram addressed to the proxy: addresses in network order as
 * uint32_t holding the wire bytes; 'payload' bounds the UDP payload. */
struct proxy_udp {
    uint32_t src, dst;
    uint16_t sport, dport;
    struct cursor payload;
};

/* Maps a cursor failure (LIB_ESHORT) to PROXY_ETRUNCATED; passes others. */
int proxy_cursor_err(int rc) STRATA_WARN_UNUSED;

/* The Internet checksum (RFC 1071) of 'size' bytes at 'p', continuing
 * from the partial 32-bit sum 'sum'; returns the unfolded sum. */
uint32_t proxy_csum_add(uint32_t sum, const uint8_t *p, size_t size);
/* Folds and complements a partial sum. */
uint16_t proxy_csum_fold(uint32_t sum);

/* Appends room for Ethernet + IPv4 + UDP headers to the empty 'reply'; the
 * caller appends the UDP payload and then calls proxy_udp_finish(). */
int proxy_udp_begin(struct buf *reply) STRATA_WARN_UNUSED;
/* Fills in the headers proxy_udp_begin() reserved, with both checksums,
 * around the payload appended since. Addresses in network order. */
int proxy_udp_finish(struct buf *reply, const uint8_t dmac[6], const uint8_t smac[6], uint32_t sip,
                     uint32_t dip, uint16_t sport, uint16_t dport) STRATA_WARN_UNUSED;

/* Handlers: 'c' is positioned after the Ethernet header (ARP) or bounds the
 * UDP payload. Same returns as proxy_handle(); 'reply' is empty on entry. */
int proxy_arp(const struct proxy_ctx *ctx, struct cursor *c, struct buf *reply) STRATA_WARN_UNUSED;
int proxy_dhcp(const struct proxy_ctx *ctx, const struct proxy_udp *u, struct buf *reply) STRATA_WARN_UNUSED;
int proxy_dns(const struct proxy_ctx *ctx, const struct proxy_udp *u, struct buf *reply) STRATA_WARN_UNUSED;

#endif

/* The proxy's front door: proxy_handle() parses the Ethernet header and,
 * for IPv4, the IP and UDP headers of a punted frame (every length checked
 * through the cursor, the IPv4 header checksum verified), then hands ARP to
 * proxy_arp.c, UDP to port 67 to proxy_dhcp.c and UDP to port 53 on the
 * gateway to proxy_dns.c. Also the Internet checksum and the builder of
 * Ethernet/IPv4/UDP reply frames the DHCP and DNS handlers share. */
#include <string.h>

#include "vrouter/agent/proxy/proxy_int.h"

STRATA_ERR_DEFINE(proxy, PROXY_ERRORS)

int proxy_cursor_err(int rc)
{
    return rc == LIB_ESHORT ? PROXY_ETRUNCATED : rc;
}

uint32_t proxy_csum_add(uint32_t sum, const uint8_t *p, size_t size)
{
    size_t i = 0;
    for (; i + 1 < size; i += 2) {
        sum += (uint32_t)((p[i] << 8) | p[i + 1]);
        sum = (sum & 0xffffu) + (sum >> 16);
    }
    if (i < size) {
        sum += (uint32_t)(p[i] << 8);
        sum = (sum & 0xffffu) + (sum >> 16);
    }
    return sum;
}

uint16_t proxy_csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffffu) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

int proxy_udp_begin(struct buf *reply)
{
    uint8_t *at;
    if (buf_put_space(reply, PROXY_ETH_HDR + PROXY_IP4_HDR + PROXY_UDP_HDR, &at) != 0) {
        return PROXY_ENOMEM;
    }
    return 0;
}

int proxy_udp_finish(struct buf *reply, const uint8_t dmac[6], const uint8_t smac[6], uint32_t sip,
                     uint32_t dip, uint16_t sport, uint16_t dport)
{
    size_t hdrs = PROXY_ETH_HDR + PROXY_IP4_HDR + PROXY_UDP_HDR;
    if (reply->size < hdrs || reply->size - PROXY_ETH_HDR > 0xffffu) {
        return PROXY_EINVAL;
    }
    uint8_t *f = reply->data;
    size_t udp_size = reply->size - PROXY_ETH_HDR - PROXY_IP4_HDR;

    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    be16_store(f + 12, PROXY_ETHERTYPE_IP4);

    uint8_t *ip = f + PROXY_ETH_HDR;
    ip[0] = 0x45;
    ip[1] = 0;
    be16_store(ip + 2, (uint16_t)(PROXY_IP4_HDR + udp_size));
    be16_store(ip + 4, 0);      /* identification: not fragmented */
    be16_store(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = 17;
    be16_store(ip + 10, 0);
    memcpy(ip + 12, &sip, 4);
    memcpy(ip + 16, &dip, 4);
    be16_store(ip + 10, proxy_csum_fold(proxy_csum_add(0, ip, PROXY_IP4_HDR)));

    uint8_t *udp = ip + PROXY_IP4_HDR;
    be16_store(udp, sport);
    be16_store(udp + 2, dport);
    be16_store(udp + 4, (uint16_t)udp_size);
    be16_store(udp + 6, 0);
    uint8_t pseudo[12];
    memcpy(pseudo, &sip, 4);
    memcpy(pseudo + 4, &dip, 4);
    pseudo[8] = 0;
    pseudo[9] = 17;
    be16_store(pseudo + 10, (uint16_t)udp_size);
    uint16_t sum = proxy_csum_fold(proxy_csum_add(proxy_csum_add(0, pseudo, sizeof pseudo), udp, udp_size));
    be16_store(udp + 6, sum == 0 ? 0xffff : sum); /* RFC 768: 0 means "none" */
    return 0;
}

/* Parses the IPv4 and UDP headers at 'c' into 'u'. */
static int parse_ip4_udp(struct cursor *c, struct proxy_udp *u)
{
    const uint8_t *hdr;
    uint8_t vihl;
    int rc;
    struct cursor peek = *c;
    if ((rc = buf_get_u8(&peek, &vihl)) != 0) {
        return proxy_cursor_err(rc);
    }
    if ((vihl >> 4) != 4) {
        return PROXY_EMALFORMED;
    }
    size_t ihl = (size_t)(vihl & 0x0f) * 4;
    if (ihl < PROXY_IP4_HDR) {
        return PROXY_EBADLEN;
    }
    size_t avail = cursor_remaining(c);
    if ((rc = buf_get_view(c, ihl, &hdr)) != 0) {
        return proxy_cursor_err(rc);
    }
    if (proxy_csum_fold(proxy_csum_add(0, hdr, ihl)) != 0) {
        return PROXY_ECHECKSUM;
    }
    struct cursor h;
    cursor_init(&h, hdr, ihl);
    uint8_t tos, ttl, proto;
    uint16_t total, id, frag, csum;
    if (buf_get_u8(&h, &vihl) != 0 || buf_get_u8(&h, &tos) != 0 || buf_get_u16(&h, &total) != 0 ||
        buf_get_u16(&h, &id) != 0 || buf_get_u16(&h, &frag) != 0 || buf_get_u8(&h, &ttl) != 0 ||
        buf_get_u8(&h, &proto) != 0 || buf_get_u16(&h, &csum) != 0 ||
        buf_get_bytes(&h, &u->src, 4) != 0 || buf_get_bytes(&h, &u->dst, 4) != 0) {
        return PROXY_ETRUNCATED; /* cannot happen: ihl >= 20 bytes were viewed */
    }
    if (total < ihl || total > avail) {
        return PROXY_EBADLEN;
    }
    if ((frag & 0x3fffu) != 0) {
        return PROXY_EUNSUPPORTED; /* a fragment: DHCP and DNS queries never are */
    }
    if (proto != 17) {
        return PROXY_EUNSUPPORTED;
    }
    struct cursor ipp; /* the IP payload, without Ethernet padding */
    if ((rc = buf_get_sub(c, total - ihl, &ipp)) != 0) {
        return proxy_cursor_err(rc);
    }
    uint16_t ulen, ucsum;
    if ((rc = buf_get_u16(&ipp, &u->sport)) != 0 || (rc = buf_get_u16(&ipp, &u->dport)) != 0 ||
        (rc = buf_get_u16(&ipp, &ulen)) != 0 || (rc = buf_get_u16(&ipp, &ucsum)) != 0) {
        return proxy_cursor_err(rc);
    }
    /* The UDP checksum is not verified: frames from a local VM may carry a
     * partial (offloaded) checksum, and a bad one changes no answer. */
    if (ulen < PROXY_UDP_HDR || (size_t)(ulen - PROXY_UDP_HDR) > cursor_remaining(&ipp)) {
        return PROXY_EBADLEN;
    }
    if ((rc = buf_get_sub(&ipp, (size_t)(ulen - PROXY_UDP_HDR), &u->payload)) != 0) {
        return proxy_cursor_err(rc);
    }
    return 0;
}

static int handle(struct proxy_ctx *ctx, struct cursor *c, struct buf *reply)
{
    uint8_t dst[6];
    uint16_t type;
    int rc;
    if ((rc = buf_get_bytes(c, dst, 6)) != 0 || (rc = buf_get_bytes(c, ctx->eth_src, 6)) != 0 ||
        (rc = buf_get_u16(c, &type)) != 0) {
        return proxy_cursor_err(rc);
    }
    if (type == PROXY_ETHERTYPE_ARP) {
        return proxy_arp(ctx, c, reply);
    }
    if (type != PROXY_ETHERTYPE_IP4) {
        return PROXY_EUNSUPPORTED;
    }
    struct proxy_udp u;
    if ((rc = parse_ip4_udp(c, &u)) != 0) {
        return rc;
    }
    if (u.dport == PROXY_DHCP_SERVER_PORT) {
        return proxy_dhcp(ctx, &u, reply);
    }
    if (u.dport == PROXY_DNS_PORT) {
        return proxy_dns(ctx, &u, reply);
    }
    return PROXY_EUNSUPPORTED;
}

int proxy_handle(const struct proxy_port *port, const struct proxy_lookup *lk, uint32_t vrf,
                 const uint8_t *frame, size_t len, struct buf *reply)
{
    if (port == NULL || reply == NULL || (frame == NULL && len != 0)) {
        return PROXY_EINVAL;
    }
    static const struct proxy_lookup none = {0};
    struct proxy_ctx ctx = {.port = port, .lk = lk != NULL ? lk : &none, .vrf = vrf};
    struct cursor c;
    cursor_init(&c, frame, len);
    buf_reset(reply);
    int rc = handle(&ctx, &c, reply);
    if (rc != 0) {
        buf_reset(reply);
    }
    return rc;
}

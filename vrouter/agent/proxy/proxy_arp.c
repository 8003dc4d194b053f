/* The ARP proxy (RFC 826): answers a VM's requests for its gateway and for
 * any address the agent has a route for in the port's VRF with the
 * vRouter's MAC, so every IPv4 packet from the VM reaches the vRouter for
 * an L3 lookup and no request is ever flooded. Replies, gratuitous ARP and
 * requests for the VM's own address (duplicate address detection) get no
 * answer. */
#include <string.h>

#include "vrouter/agent/proxy/proxy_int.h"

#define ARP_HTYPE_ETHER 1
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2
#define ARP_SIZE 28

int proxy_arp(const struct proxy_ctx *ctx, struct cursor *c, struct buf *reply)
{
    const struct proxy_port *port = ctx->port;
    uint16_t htype, ptype, op;
    uint8_t hlen, plen;
    uint8_t sha[6], tha[6];
    uint32_t spa, tpa;
    int rc;
    if ((rc = buf_get_u16(c, &htype)) != 0 || (rc = buf_get_u16(c, &ptype)) != 0 ||
        (rc = buf_get_u8(c, &hlen)) != 0 || (rc = buf_get_u8(c, &plen)) != 0) {
        return proxy_cursor_err(rc);
    }
    if (htype != ARP_HTYPE_ETHER || ptype != PROXY_ETHERTYPE_IP4 || hlen != 6 || plen != 4) {
        return PROXY_EUNSUPPORTED;
    }
    if ((rc = buf_get_u16(c, &op)) != 0 || (rc = buf_get_bytes(c, sha, 6)) != 0 ||
        (rc = buf_get_bytes(c, &spa, 4)) != 0 || (rc = buf_get_bytes(c, tha, 6)) != 0 ||
        (rc = buf_get_bytes(c, &tpa, 4)) != 0) {
        return proxy_cursor_err(rc);
    }
    if (op != ARP_OP_REQUEST) {
        return op == ARP_OP_REPLY ? PROXY_ENOREPLY : PROXY_EUNSUPPORTED;
    }
    if (spa == tpa || tpa == 0) {
        return PROXY_ENOREPLY; /* gratuitous ARP (announcement) */
    }
    if (port->ip4 != 0 && tpa == port->ip4) {
        return PROXY_ENOREPLY; /* duplicate address detection: the address is the VM's */
    }
    int known = port->gw4 != 0 && tpa == port->gw4;
    if (!known && ctx->lk->ip4_known != NULL) {
        known = ctx->lk->ip4_known(ctx->lk->arg, ctx->vrf, tpa) == 0;
    }
    if (!known) {
        return PROXY_ENOREPLY;
    }

    uint8_t *f;
    if (buf_put_space(reply, PROXY_ETH_MIN, &f) != 0) {
        return PROXY_ENOMEM;
    }
    /* to the requester's hardware address, which is where the answer goes
     * on the VM port whatever the Ethernet source said */
    memcpy(f, sha, 6);
    memcpy(f + 6, port->vrouter_mac, 6);
    be16_store(f + 12, PROXY_ETHERTYPE_ARP);
    uint8_t *a = f + PROXY_ETH_HDR;
    be16_store(a, ARP_HTYPE_ETHER);
    be16_store(a + 2, PROXY_ETHERTYPE_IP4);
    a[4] = 6;
    a[5] = 4;
    be16_store(a + 6, ARP_OP_REPLY);
    memcpy(a + 8, port->vrouter_mac, 6);
    memcpy(a + 14, &tpa, 4);
    memcpy(a + 18, sha, 6);
    memcpy(a + 24, &spa, 4);
    /* bytes 42..59 stay zero: Ethernet minimum-size padding */
    return 0;
}

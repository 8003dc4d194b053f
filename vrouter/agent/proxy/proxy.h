/* The vRouter agent's ARP, DHCP and DNS proxies: a pure library that turns
 * one frame the forwarding plane punted from a VM port (DP_PUNT_ARP,
 * DP_PUNT_DHCP, DP_PUNT_DNS; the Ethernet frame after the punt header) into
 * at most one answer frame for that same port. It does no I/O, keeps no
 * state and reads no clock: what it knows about the port comes in a
 * 'struct proxy_port', what it knows about the network through the agent's
 * lookups in 'struct proxy_lookup'. Every byte of the frame is read through
 * lib/buf.h's checked cursor. docs/agent-proxy.md lists what is answered. */
#ifndef STRATA_AGENT_PROXY_H
#define STRATA_AGENT_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

#define PROXY_ERRORS(X)                                                         \
    X(PROXY_ENOREPLY, -16600, "frame needs no answer from the proxy")          \
    X(PROXY_EMALFORMED, -16601, "malformed frame")                             \
    X(PROXY_ENOTFOUND, -16602, "no such name or address")                      \
    X(PROXY_ETRUNCATED, -16603, "frame shorter than its headers")              \
    X(PROXY_EBADLEN, -16604, "length field disagrees with the frame")          \
    X(PROXY_EOPTION, -16605, "DHCP option runs past the end of its field")     \
    X(PROXY_ELOOP, -16606, "DNS name compression pointer loop")                \
    X(PROXY_ENAME, -16607, "DNS name too long or with a bad label")            \
    X(PROXY_EUNSUPPORTED, -16608, "frame is not ARP, DHCP or DNS for the proxy") \
    X(PROXY_ECHECKSUM, -16609, "IPv4 header checksum mismatch")                \
    X(PROXY_ENOMEM, -16610, "reply buffer could not grow")                     \
    X(PROXY_EINVAL, -16611, "invalid proxy argument")                         \
    X(PROXY_EPENDING, -16612, "answer awaits a control node")                  \
    X(PROXY_EFAIL, -16613, "name lookup failed")                               \
    X(PROXY_EFULL, -16614, "pending name table full")

enum proxy_err { PROXY_ERRORS(STRATA_ERR_ENUM) };

const char *proxy_strerror(int code);

/* UDP ports and the DNS TTL used when the port gives none. */
#define PROXY_DHCP_SERVER_PORT 67
#define PROXY_DHCP_CLIENT_PORT 68
#define PROXY_DNS_PORT 53
#define PROXY_DNS_TTL_DEFAULT 60

/* What the agent knows about the VM port a punted frame came from.
 * Addresses in network order (as on the wire: the uint32_t holds the four
 * bytes a.b.c.d in memory order). Strings are NUL-terminated; an empty
 * string is not sent. */
struct proxy_port {
    uint8_t mac[6];         /* the VM's MAC: DHCP answers only this chaddr */
    uint32_t ip4;           /* the VM's address (0: none, DHCP stays silent) */
    uint8_t plen4;          /* its subnet prefix length (0..32) */
    uint32_t gw4;           /* the subnet's gateway (answered by ARP with vrouter_mac);
                               DHCP server id and DNS server address */
    uint32_t dns4;          /* the DNS server handed out by DHCP (normally == gw4; 0: none) */
    uint16_t mtu;           /* DHCP option 26 (0: not sent) */
    uint32_t lease_s;       /* DHCP lease time (0xffffffff: infinite) */
    char hostname[64];      /* DHCP option 12, DNS instance name */
    char domain[64];        /* DHCP option 15, DNS suffix */
    uint8_t vrouter_mac[6]; /* the MAC the vRouter answers with (Contrail: 00:00:5e:00:01:00) */
    uint32_t dns_ttl_s;     /* TTL of DNS answers (0: PROXY_DNS_TTL_DEFAULT) */
};

/* Lookups the agent answers from its routing state (return 0 when found,
 * else PROXY_ENOTFOUND; the DNS lookups may also return PROXY_EPENDING when
 * the answer must come from a control node, then proxy_handle() returns
 * PROXY_EPENDING without a reply, and any other code for a failure, then
 * the query gets SERVFAIL). Addresses in network order as above. 'fqdn' is
 * lower case, without the trailing dot. ip4_to_name writes a NUL-terminated
 * name (without trailing dot) of at most 'out_size' bytes. Any member may
 * be NULL: the lookup then finds nothing. */
struct proxy_lookup {
    int (*ip4_known)(void *arg, uint32_t vrf, uint32_t ip4); /* an address with a route in this VRF */
    int (*name_to_ip4)(void *arg, uint32_t vrf, const char *fqdn, uint32_t *ip4); /* DNS A */
    int (*ip4_to_name)(void *arg, uint32_t vrf, uint32_t ip4, char *out, size_t out_size); /* PTR */
    void *arg;
};

/* Handles one frame punted for ARP, DHCP or DNS (the Ethernet frame after
 * the punt header) that arrived on 'port' in VRF 'vrf'. 'lk' may be NULL
 * (nothing is known). 'reply' is emptied first; on 0 it holds one Ethernet
 * frame to send back out of the VM port; PROXY_ENOREPLY when the frame
 * needs no answer (e.g. ARP for an unknown address, a DHCP message not
 * addressed to us, a gratuitous ARP); PROXY_EPENDING when a DNS lookup
 * awaits a control node (the caller holds the frame and hands it in again
 * once the answer is there, vrouter/agent/proxy/dns_remote.h);
 * PROXY_EUNSUPPORTED for a well-formed
 * frame of another kind; PROXY_ETRUNCATED, PROXY_EBADLEN, PROXY_EOPTION,
 * PROXY_ELOOP, PROXY_ENAME, PROXY_ECHECKSUM or PROXY_EMALFORMED for a frame
 * that cannot be parsed; PROXY_ENOMEM when 'reply' cannot grow. On any
 * error 'reply' is left empty. Never reads past 'len'. */
int proxy_handle(const struct proxy_port *port, const struct proxy_lookup *lk, uint32_t vrf,
                 const uint8_t *frame, size_t len, struct buf *reply) STRATA_WARN_UNUSED;

#endif

/* The BGP speaker of the control role: BGP sessions over TCP on libuv (with
 * TCP-MD5 where configured), each driven by the pure session state machine
 * of routing/bgp, feeding the global VPN tables of a routing/rib RIB and
 * advertising their best paths to the other peers.
 *
 * Per peer: one FSM and at most one transport. The speaker connects out
 * (unless the peer is passive) and accepts connections on its listen
 * address; an inbound connection from a configured peer is adopted while the
 * FSM has no open transport, and a collision (§6.8) is resolved by BGP
 * identifiers once the peer's OPEN is known: the connection opened by the
 * higher identifier survives.
 *
 * Received routes go into bgp.l3vpn.0, bgp.l3vpn-inet6.0, bgp.evpn.0,
 * bgp.rtarget.0, or the inet table of the "master" instance (IPv4 unicast),
 * as paths of the peer's RIB source (RFC 7606 verdicts honoured: treat as
 * withdraw, attribute discard, AFI/SAFI disable). Best-path changes are sent
 * to every established peer that negotiated the family, except: back to the
 * path's own source; iBGP-learned paths to iBGP peers unless one side is a
 * route-reflector client (then ORIGINATOR_ID and CLUSTER_LIST are set,
 * RFC 4456); LLGR-stale paths to peers without LLGR (RFC 9494); VPN routes
 * whose route targets the peer did not ask for, when the peer negotiated
 * route-target constraint (RFC 4684; its RT membership is re-evaluated when
 * it changes). Towards eBGP peers the local AS is prepended and the next hop
 * is the session's local address. Each peer keeps an Adj-RIB-Out (the set of
 * prefixes advertised) so withdrawals go only where routes went. UPDATEs
 * pack as many NLRI sharing one attribute set as fit in 4096 bytes.
 *
 * Graceful restart (RFC 4724, helper side, and RFC 9494): a GR-capable peer
 * whose session drops without a NOTIFICATION keeps its paths, marked stale,
 * for its restart time; on the next session they are swept once End-of-RIB
 * arrived for every family negotiated; if the restart time passes first,
 * LLGR-capable families go LLGR-stale for the peer's stale time, the rest
 * are swept. The speaker itself sends End-of-RIB after its initial dump. */
#ifndef STRATA_ROUTING_SPEAKER_H
#define STRATA_ROUTING_SPEAKER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "lib/err.h"
#include "routing/bgp/bgp_msg.h"
#include "routing/rib/rib.h"

#define SPEAKER_NAME_MAX 64
#define SPEAKER_PASSWORD_MAX 80 /* TCP_MD5SIG_MAXKEYLEN */

struct speaker_peer_config {
    char name[SPEAKER_NAME_MAX];
    char address[64];          /* the peer's IPv4 or IPv6 address */
    uint16_t port;             /* 0: 179 */
    uint32_t peer_as;
    uint32_t families;         /* BGP_FAM_BIT set; 0: VPNv4, VPNv6, EVPN, RTC */
    bool passive;              /* never connect out */
    bool rr_client;            /* route-reflector client (iBGP) */
    char password[SPEAKER_PASSWORD_MAX + 1]; /* TCP-MD5 key, "" for none */
    uint16_t hold_time;        /* 0: 90 */
    uint16_t connect_retry;    /* seconds; 0: 30 */
};

struct speaker_config {
    uint32_t local_as;
    uint32_t router_id;        /* host order, non-zero */
    char listen[64];           /* local address to listen on and connect from */
    uint16_t port;             /* 0: 179 */
    bool no_listen;            /* only connect out */
    bool gr;                   /* advertise graceful restart (and keep forwarding) */
    bool gr_restarting;        /* R bit: this start follows a restart */
    uint16_t gr_restart_time;  /* 0: 300 */
    bool llgr;
    uint32_t llgr_stale_time;  /* 0: 300 */
    uint32_t cluster_id;       /* route reflection; 0: router_id */
    uint16_t marks_reserved;   /* route mark bits (rib.h) the speaker leaves to other users of its RIB;
                                  the rest hold Adj-RIB-Outs, and peers beyond them use their own sets */
    int listen_fd;             /* > 0: an already bound, listening socket to accept on (stratad's
                                  supervisor binds the BGP port); the speaker takes it over and
                                  'port' is then only what peers are told; 0: bind listen:port */
};

struct speaker;

/* Creates the speaker on 'loop' with its own RIB and starts listening.
 * Errors: negative libuv codes (bind), RIB_ERR_NOMEM, LIB_EINVAL. */
int speaker_create(uv_loop_t *loop, const struct speaker_config *cfg, struct speaker **out) STRATA_WARN_UNUSED;
/* Stops every session (Cease), closes handles; the speaker is freed once
 * libuv has closed them (run the loop). */
void speaker_close(struct speaker *sp);

/* Adds a peer and starts its session. LIB_EINVAL for a bad address or a
 * duplicate, negative libuv codes when TCP-MD5 cannot be set. */
int speaker_peer_add(struct speaker *sp, const struct speaker_peer_config *pc) STRATA_WARN_UNUSED;
/* Stops and removes the peer with 'address' (its routes are withdrawn).
 * RIB_ERR_NOENT when there is none. */
int speaker_peer_del(struct speaker *sp, const char *address) STRATA_WARN_UNUSED;

/* Brings the configured peers to exactly 'peers' ('count' entries, keyed by
 * address): peers not listed are removed, new ones added, and only those
 * whose session parameters changed (AS, port, families, passive, route
 * reflection client, password, hold time, connect retry) are restarted; a changed name is
 * applied in place. Unrelated sessions are not touched. Returns the number
 * of sessions added, removed or restarted, or the first error (the peers
 * handled before it keep their new state). */
int speaker_sync(struct speaker *sp, const struct speaker_peer_config *peers, size_t count) STRATA_WARN_UNUSED;

/* Changes the graceful-restart values the speaker advertises ('gr',
 * 'gr_restart_time', 'llgr', 'llgr_stale_time' of speaker_config; 0
 * times: 300) for every peer's next OPEN and for peers added later. No
 * session is touched: one that is up keeps what it negotiated.
 * LIB_EINVAL for out-of-range times. */
int speaker_set_gr(struct speaker *sp, bool gr, uint16_t gr_restart_time, bool llgr,
                   uint32_t llgr_stale_time) STRATA_WARN_UNUSED;

/* The RIB (for the XMPP side, static routes, instance configuration). Call
 * speaker_kick() after changing it so changes are flushed and advertised.
 * Changes that another user of the RIB flushes itself (rib_flush()) reach
 * the speaker through its table listeners, which schedule its own flush:
 * no kick is needed then. */
struct rib *speaker_rib(struct speaker *sp);
void speaker_kick(struct speaker *sp);
/* The RIB source id of locally originated routes. */
uint32_t speaker_local_source(const struct speaker *sp);

/* JSON views for operators: neighbors (state, AS, uptime, prefixes in and
 * out, messages, last error) and the routes of one table by name
 * ("bgp.l3vpn.0", "master.inet.0", "<instance>.inet.0", ...; NULL for a
 * list of tables with counts). NULL on allocation failure / unknown table. */
json_t *speaker_neighbors_json(struct speaker *sp);
json_t *speaker_routes_json(struct speaker *sp, const char *table);
/* One object: local AS, router id (dotted), peers configured and
 * established, and "tables": the route count of each VPN table and of the
 * master instance's inet table (speaker_routes_json(sp, NULL)). NULL on
 * allocation failure. */
json_t *speaker_summary_json(struct speaker *sp);

#endif

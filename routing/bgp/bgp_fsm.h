/* The BGP-4 session state machine of RFC 4271 §8 as a pure core: no sockets,
 * no clock, no allocation after creation beyond the codec's. The caller (the
 * control daemon on libuv, or tests/sim on virtual time) feeds it events
 * (start/stop, transport connected/failed/closed, received bytes, the current
 * time) and carries out what it asks through struct bgp_fsm_io: send bytes,
 * open or close the transport, and the session's news for the RIB (up, down,
 * UPDATE, End-of-RIB, route refresh). Timers are deadlines: the caller asks
 * bgp_fsm_next_deadline() and calls bgp_fsm_tick() when it passes.
 *
 * States and transitions (simplified from §8.2.2, documented deviations):
 *   Idle --start--> Connect (io.connect) or Active (passive)
 *   Connect/Active --tcp_connected--> OpenSent (OPEN sent, hold = open_hold)
 *   Connect --tcp_failed--> Active; Connect/Active --connect-retry expiry-->
 *     Connect (io.connect again; a passive FSM stays in Active)
 *   OpenSent --valid OPEN--> OpenConfirm (KEEPALIVE sent, hold negotiated)
 *   OpenConfirm --KEEPALIVE--> Established (io.established)
 *   any --error--> NOTIFICATION sent when the transport is up, io.close,
 *     io.down, then Idle; while started, Idle moves to Connect/Active again
 *     after idle_hold (no automatic-start damping).
 * Connection collision detection (§6.8) is the caller's: a daemon holding two
 * transports for one peer keeps one FSM per transport, compares BGP
 * identifiers once both OPENs are seen (bgp_fsm_peer_open()) and stops the
 * loser with bgp_fsm_stop_with(..., BGP_CEASE_COLLISION).
 *
 * Graceful restart, receiving-speaker (helper) side (RFC 4724 §4.2, RFC
 * 9494): when an Established session whose peer advertised GR ends without a
 * NOTIFICATION either way (transport closed or failed), io.down reports
 * gr_stale with the peer's restart time and families, and the routes are to
 * be kept stale, not flushed. On the next Established the caller compares
 * the new bgp_fsm_caps (families whose F bit is clear are flushed) and sweeps
 * each family's stale routes on its End-of-RIB (io.eor). The restart timer
 * and the LLGR phase run in the RIB, which owns the routes. */
#ifndef STRATA_BGP_FSM_H
#define STRATA_BGP_FSM_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "routing/bgp/bgp_msg.h"

enum bgp_fsm_state {
    BGP_IDLE,
    BGP_CONNECT,
    BGP_ACTIVE,
    BGP_OPENSENT,
    BGP_OPENCONFIRM,
    BGP_ESTABLISHED,
};

/* Stable name of a state ("Idle", ...). */
const char *bgp_fsm_state_name(enum bgp_fsm_state s);

/* Session configuration. Times are in seconds; 0 for the defaults marked. */
struct bgp_fsm_config {
    uint32_t local_as;
    uint32_t local_id;        /* BGP identifier, host order, non-zero */
    uint32_t peer_as;         /* expected peer AS; 0 accepts any */
    uint16_t hold_time;       /* proposed; default 90, 0 disables keepalives */
    bool hold_time_zero;      /* propose 0 explicitly (hold_time ignored) */
    uint16_t open_hold;       /* OpenSent hold; default 15 */
    uint16_t connect_retry;   /* default 30 */
    uint16_t idle_hold;       /* Idle -> Connect delay when started; default 1 */
    bool passive;             /* wait in Active for an inbound transport */
    uint32_t families;        /* BGP_FAM_BIT set advertised (MP capability) */
    bool gr;                  /* advertise the GR capability */
    bool gr_restarting;       /* set the R bit (we are restarting) */
    uint16_t gr_restart_time; /* default 300 (max 4095) */
    uint32_t gr_forwarding;   /* BGP_FAM_BIT set whose forwarding survived */
    bool llgr;                /* advertise LLGR for the GR families */
    uint32_t llgr_stale_time; /* default 300 */
};

/* What both sides negotiated, valid from OpenConfirm on. */
struct bgp_fsm_caps {
    uint32_t families;       /* advertised by both */
    bool as4;                /* both sent the 4-octet AS capability */
    bool route_refresh;      /* peer supports ROUTE-REFRESH */
    uint16_t hold_time;      /* negotiated: min of both, 0 = none */
    uint16_t keepalive;      /* hold_time / 3 */
    uint32_t peer_as;
    uint32_t peer_id;
    bool peer_gr;            /* peer sent the GR capability */
    bool peer_gr_restarting; /* its R bit */
    uint16_t peer_restart_time;
    uint32_t peer_gr_families; /* families listed in the peer's GR capability */
    uint32_t peer_gr_forwarding; /* ... with the F bit set */
    bool peer_llgr;
    uint32_t peer_llgr_families;
    uint32_t peer_llgr_stale[BGP_FAM_COUNT]; /* seconds, per family */
};

enum bgp_down_reason {
    BGP_DOWN_STOPPED,       /* bgp_fsm_stop() */
    BGP_DOWN_TCP_CLOSED,    /* transport closed or failed */
    BGP_DOWN_HOLD_EXPIRED,  /* hold timer (NOTIFICATION 4/0 sent) */
    BGP_DOWN_NOTIFICATION_RECEIVED,
    BGP_DOWN_PROTOCOL_ERROR, /* we sent a NOTIFICATION (see 'notification') */
    BGP_DOWN_OPEN_TIMEOUT,   /* OpenSent hold (NOTIFICATION 4/0 sent) */
};

/* Why a session (one that reached at least OpenSent) went down. */
struct bgp_fsm_down {
    enum bgp_down_reason reason;
    bool was_established;
    const struct bgp_notification *notification; /* sent or received, or NULL */
    /* GR helper: keep the peer's routes stale instead of flushing. */
    bool gr_stale;
    uint16_t restart_time;   /* seconds to wait for the peer */
    uint32_t stale_families; /* families to keep (the peer's GR list) */
    uint32_t llgr_families;  /* subset that may go on to LLGR-stale */
    uint32_t llgr_stale[BGP_FAM_COUNT];
};

/* The caller's side. Every callback may be NULL except send, connect and
 * close. Callbacks must not call back into the FSM except bgp_fsm_send_*
 * from 'established' and 'eor'. */
struct bgp_fsm_io {
    void *ctx;
    /* Queue 'size' bytes on the transport; non-zero means the transport is
     * broken (treated like tcp_closed). */
    int (*send)(void *ctx, const uint8_t *data, size_t size);
    void (*connect)(void *ctx); /* open a transport (answer with tcp_*) */
    void (*close)(void *ctx);   /* drop the transport */
    void (*established)(void *ctx, const struct bgp_fsm_caps *caps);
    void (*down)(void *ctx, const struct bgp_fsm_down *down);
    /* A decoded UPDATE that is not End-of-RIB; u->action says how to apply
     * it (RFC 7606). Valid only during the call. */
    void (*update)(void *ctx, const struct bgp_update *u);
    void (*eor)(void *ctx, enum bgp_family family);
    void (*route_refresh)(void *ctx, enum bgp_family family);
};

struct bgp_fsm;

/* Creates an FSM in Idle. BGP_ERR_INVALID for a bad 'cfg', BGP_ERR_NOMEM. */
int bgp_fsm_create(const struct bgp_fsm_config *cfg, const struct bgp_fsm_io *io,
                   struct bgp_fsm **out) STRATA_WARN_UNUSED;
/* Frees 'fsm' (NULL allowed) without calling back. */
void bgp_fsm_free(struct bgp_fsm *fsm);

/* Changes the graceful-restart values 'fsm' advertises (the fields of
 * struct bgp_fsm_config of the same names; 0 times: 300) from its next
 * OPEN on: a session up keeps what it negotiated (RFC 4724 and RFC 9494
 * exchange them only in OPEN). BGP_ERR_INVALID for out-of-range times. */
int bgp_fsm_set_gr(struct bgp_fsm *fsm, bool gr, uint16_t gr_restart_time, uint32_t gr_forwarding, bool llgr,
                   uint32_t llgr_stale_time) STRATA_WARN_UNUSED;

enum bgp_fsm_state bgp_fsm_state(const struct bgp_fsm *fsm);
/* Negotiated capabilities (OpenConfirm and Established), else NULL. */
const struct bgp_fsm_caps *bgp_fsm_caps(const struct bgp_fsm *fsm);
/* The peer's OPEN once received in this connection, else NULL. */
const struct bgp_open *bgp_fsm_peer_open(const struct bgp_fsm *fsm);

/* ManualStart: Idle -> Connect (or Active when passive). */
void bgp_fsm_start(struct bgp_fsm *fsm, uint64_t now_ms);
/* ManualStop: Cease/admin shutdown, close, down; stays Idle. */
void bgp_fsm_stop(struct bgp_fsm *fsm, uint64_t now_ms);
/* Like stop but with Cease subcode 'subcode' (e.g. collision) and the FSM
 * restarts on its own as after an error. */
void bgp_fsm_stop_with(struct bgp_fsm *fsm, uint64_t now_ms, uint8_t subcode);

void bgp_fsm_tcp_connected(struct bgp_fsm *fsm, uint64_t now_ms);
void bgp_fsm_tcp_failed(struct bgp_fsm *fsm, uint64_t now_ms);
void bgp_fsm_tcp_closed(struct bgp_fsm *fsm, uint64_t now_ms);

/* Feeds received transport bytes (any split). Messages are framed with the
 * 4096-byte cap and marker check; complete ones are processed in order. */
void bgp_fsm_recv(struct bgp_fsm *fsm, uint64_t now_ms, const uint8_t *data, size_t size);

/* Earliest timer deadline (ms), UINT64_MAX when none is armed. */
uint64_t bgp_fsm_next_deadline(const struct bgp_fsm *fsm);
/* Fires every timer whose deadline is <= 'now_ms'. */
void bgp_fsm_tick(struct bgp_fsm *fsm, uint64_t now_ms);

/* Encodes 'u' with the session's negotiation and sends it. BGP_ERR_STATE
 * unless Established, BGP_ERR_FAMILY when 'u' uses a family not negotiated,
 * codec errors otherwise. */
int bgp_fsm_send_update(struct bgp_fsm *fsm, uint64_t now_ms, const struct bgp_update *u) STRATA_WARN_UNUSED;
/* Sends the End-of-RIB marker of 'family'. */
int bgp_fsm_send_eor(struct bgp_fsm *fsm, uint64_t now_ms, enum bgp_family family) STRATA_WARN_UNUSED;
/* Asks the peer to re-advertise 'family' (needs its route-refresh cap). */
int bgp_fsm_send_route_refresh(struct bgp_fsm *fsm, uint64_t now_ms, enum bgp_family family) STRATA_WARN_UNUSED;

/* Human-readable reason of the last session error ("" if none). */
const char *bgp_fsm_errmsg(const struct bgp_fsm *fsm);

#endif

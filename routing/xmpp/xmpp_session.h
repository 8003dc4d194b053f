/* The per-connection XMPP session between a vRouter agent and a control
 * node, as a pure state machine: bytes in (xmpp_session_input), bytes out
 * (the 'send' callback), time in (every call takes 'now'; the caller arms
 * one timer at xmpp_session_next_deadline() and calls xmpp_session_tick()
 * when it fires). It runs the stream open exchange (the agent's 'from' must
 * equal the identity of its TLS certificate, which the caller passes in),
 * decodes stanzas and dispatches them to typed callbacks, answers pings,
 * iq's it does not serve and config pushes, sends keepalive pings and
 * closes the session when the hold timer expires. One role per session:
 * the control node side or the agent side (simulated agents, tests). */
#ifndef STRATA_XMPP_SESSION_H
#define STRATA_XMPP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "routing/xmpp/xmpp_stanza.h"
#include "routing/xmpp/xmpp_stream.h"

#define XMPP_CONTROL_JID "network-control@contrailsystems.com"
#define XMPP_DEFAULT_HOLD_MS 90000u /* anchor's XMPP hold time */

enum xmpp_role {
    XMPP_ROLE_CONTROL, /* accepts an agent's stream */
    XMPP_ROLE_AGENT,   /* opens the stream to a control node */
};

enum xmpp_session_state {
    XMPP_SESSION_IDLE,        /* initialised, not started */
    XMPP_SESSION_WAIT_OPEN,   /* waiting for the peer's stream header */
    XMPP_SESSION_ESTABLISHED, /* headers exchanged; stanzas flow */
    XMPP_SESSION_CLOSED,      /* closed (orderly, error, or hold expiry) */
};

/* Session parameters; strings are copied by xmpp_session_init(). */
struct xmpp_session_config {
    enum xmpp_role role;
    /* Our JID: the control node's (default XMPP_CONTROL_JID) or the
     * agent's name. */
    const char *local_jid;
    /* CONTROL: the identity the agent's TLS certificate proved (required);
     * the agent's stream 'from' must equal it. AGENT: the control node's
     * expected 'from' (NULL: not checked). */
    const char *peer_identity;
    /* CONTROL: the id of our stream header (the caller makes it unique);
     * NULL: none sent. */
    const char *stream_id;
    uint64_t hold_ms;      /* 0: XMPP_DEFAULT_HOLD_MS */
    uint64_t keepalive_ms; /* 0: hold_ms / 3 */
    /* AGENT: announce resume in the stream header (xmpp_stream_header
     * 'resume'); the agent then sends CONFIG_HELD as its first stanza. */
    bool resume;
    struct xmpp_stream_limits limits;
};

/* Callbacks, all optional except 'send'. They run inside
 * xmpp_session_input()/tick()/start() and may call xmpp_session_send() and
 * xmpp_session_close(), but never feed input to the same session.
 * Pointers they receive are valid during the call only. */
struct xmpp_session_ops {
    /* Bytes to write to the connection, in order. */
    void (*send)(void *arg, const uint8_t *data, size_t size);
    /* Headers exchanged; 'peer' is the peer's stream 'from'. */
    void (*established)(void *arg, const char *peer);
    /* The session ended: XMPP_SC_NONE for an orderly close, else the stream
     * error condition and text; 'by_peer' tells who ended it. Fires once. */
    void (*closed)(void *arg, enum xmpp_stream_cond cond, const char *text, bool by_peer);
    /* CONTROL: what the agent asked for. */
    void (*subscribe)(void *arg, const char *instance, uint32_t instance_id);
    void (*unsubscribe)(void *arg, const char *instance);
    void (*route_publish)(void *arg, const char *instance, const struct xmpp_route_entry *entry);
    void (*route_withdraw)(void *arg, const char *instance, enum xmpp_family family,
                           const struct xmpp_route_key *key);
    /* Both: the peer's End-of-RIB. */
    void (*eor)(void *arg);
    /* CONTROL: a subscribe that carries a digest (has_digest). When NULL,
     * 'subscribe' gets it (the digest is dropped). */
    void (*subscribe_digest)(void *arg, const char *instance, uint32_t instance_id, uint64_t digest);
    /* CONTROL: the configuration a resuming agent holds (answered iq
     * result). */
    void (*config_held)(void *arg, const struct xmpp_held_obj *held, size_t count);
    /* AGENT: the routes of 'instance' the agent holds match the control
     * node's (the digest of its subscribe was equal): they are current. */
    void (*in_sync)(void *arg, const char *instance);
    /* CONTROL: the agent's answer to a config iq we sent with 'id'. */
    void (*config_ack)(void *arg, const char *id, bool ok);
    /* AGENT: a routes message (type XMPP_STANZA_ROUTES). */
    void (*routes)(void *arg, const struct xmpp_stanza *st);
    /* AGENT: a config push; 0 answers iq result, nonzero iq error. */
    int (*config)(void *arg, const struct xmpp_stanza *st);
    /* CONTROL: an agent's instance-name question (XMPP_STANZA_DNS_QUERY);
     * the callback answers it with xmpp_session_send() of a DNS_ANSWER
     * whose id is the question's. Without it the session answers iq error
     * service-unavailable. */
    void (*dns_query)(void *arg, const struct xmpp_stanza *st);
    /* AGENT: a control node's answer to our question (DNS_ANSWER). */
    void (*dns_answer)(void *arg, const struct xmpp_stanza *st);
};

struct xmpp_session {
    struct xmpp_session_config cfg; /* strings point into the copies below */
    char local_jid[XMPP_JID_MAX];
    char peer_identity[XMPP_JID_MAX];
    char stream_id[XMPP_ID_MAX];
    char peer[XMPP_JID_MAX]; /* peer's stream 'from' once established */
    struct xmpp_session_ops ops;
    void *arg;
    enum xmpp_session_state state;
    struct xmpp_stream in;
    struct buf out;
    uint64_t now;                /* time of the call being served */
    uint64_t hold_deadline;      /* close when reached without input */
    uint64_t keepalive_deadline; /* ping when reached without output */
    uint64_t pings_sent;
    uint64_t pongs_received;
    enum xmpp_stream_cond close_cond;
    bool sent_header;
    bool closed_reported;
    bool peer_resume; /* CONTROL: the agent's header announced resume */
};

/* Initialises 's' with 'cfg' (copied), 'ops' (copied; 'send' required)
 * and 'arg'. LIB_EINVAL for a missing send callback, control role without
 * peer_identity or over-long strings; LIB_ENOMEM. */
int xmpp_session_init(struct xmpp_session *s, const struct xmpp_session_config *cfg,
                      const struct xmpp_session_ops *ops, void *arg) STRATA_WARN_UNUSED;
/* Frees what 's' holds; NULL accepted. Sends nothing. */
void xmpp_session_destroy(struct xmpp_session *s);
/* Starts the session at 'now': the agent sends its stream header; both
 * wait for the peer's header within the hold time. XMPP_ERR_STATE unless
 * IDLE. */
int xmpp_session_start(struct xmpp_session *s, uint64_t now) STRATA_WARN_UNUSED;
/* Feeds 'size' received bytes at 'now'. 0 when the session is still up or
 * the peer closed it in order; XMPP_ERR_STREAM when these bytes ended it
 * with a stream error (sent to the peer, reported through 'closed');
 * XMPP_ERR_STATE when it was not started or already closed. */
int xmpp_session_input(struct xmpp_session *s, uint64_t now, const void *data, size_t size) STRATA_WARN_UNUSED;
/* Runs the timers at 'now': hold expiry closes with connection-timeout, the
 * keepalive deadline sends a ping. Harmless at any time. */
void xmpp_session_tick(struct xmpp_session *s, uint64_t now);
/* The earliest time xmpp_session_tick() has work, UINT64_MAX when closed
 * or not started. */
uint64_t xmpp_session_next_deadline(const struct xmpp_session *s);
/* Encodes and sends 'st' at 'now'. XMPP_ERR_STATE unless ESTABLISHED,
 * codec errors (nothing sent). */
int xmpp_session_send(struct xmpp_session *s, uint64_t now, const struct xmpp_stanza *st) STRATA_WARN_UNUSED;
/* xmpp_session_send() of ROUTES stanza 'st' with its items part already
 * encoded ('items'/'size' from xmpp_routes_items_encode(); one encoding
 * shared by every agent the same items go to). */
int xmpp_session_send_routes(struct xmpp_session *s, uint64_t now, const struct xmpp_stanza *st, const uint8_t *items,
                             size_t size) STRATA_WARN_UNUSED;
/* Ends the session: XMPP_SC_NONE sends </stream:stream>, another condition
 * sends that stream error (with 'text', may be NULL) first. Reports
 * 'closed' (by_peer false). Nothing happens when already closed. */
void xmpp_session_close(struct xmpp_session *s, enum xmpp_stream_cond cond, const char *text);

/* Reconnect schedule of an agent that lost (or never reached) a control
 * node, shared by vrouter/agent and the simulated agents: before attempt
 * 'attempt' (0: the first after the loss) wait min(XMPP_RECONNECT_FIRST_MS
 * * 2^attempt, XMPP_RECONNECT_MAX_MS) scaled by a factor in [0.5, 1.5)
 * taken from 'rnd' (a uniform 32-bit random value), so agents that lost the
 * same node come back spread out instead of in one burst, and a node that
 * is back finds them within about 2 s. */
#define XMPP_RECONNECT_FIRST_MS 100u
#define XMPP_RECONNECT_MAX_MS 2000u
uint64_t xmpp_reconnect_delay_ms(uint32_t attempt, uint32_t rnd);

#endif

/* The control node's route exchange with vRouter agents: XMPP sessions
 * (routing/xmpp, control side) on one side, the RIB (routing/rib) on the
 * other. Pure: no sockets, no clock; the caller owns the sessions and their
 * transports, forwards the session callbacks here, and calls
 * xglue_flush() after each batch of input.
 *
 * Agent -> RIB. Each agent (by name: its certificate identity) is one RIB
 * source of type RIB_SRC_XMPP. A published entry becomes one path per next
 * hop (path id = next-hop index, so one agent's next hops form an ECMP set)
 * in the table of its family (inet, inet6, evpn) of the routing instance
 * it names; the instance is created on first use until the store's
 * routing-instance objects configure it (RD, targets). Labels go into the
 * paths, so entries differing only in label share one attribute set; the
 * encapsulation list becomes encapsulation extended communities; sequence
 * number, security groups, virtual network, local preference and MED are
 * kept. A withdraw (dissociate) removes the entry's paths.
 *
 * RIB -> agents. An agent subscribed to an instance receives its best paths
 * (all ECMP paths as next hops of one item, at most XMPP_MAX_NEXTHOPS) as
 * routes messages, many items per message, and a retract when a prefix has
 * no path left or its best paths are all the agent's own (an agent is not
 * sent its own routes). Subscribing sends the instance's current table;
 * the first End-of-RIB goes out after the first flush that follows the
 * agent's first subscription.
 *
 * Graceful restart. When an agent's session ends without an orderly close
 * (xglue_agent_down(..., true)), its paths are kept, marked stale, and the
 * agent's record stays; a reconnecting agent with the same name takes the
 * record back, re-publishes, and its End-of-RIB sweeps what it did not
 * re-publish. If it does not come back, the caller's timer calls
 * xglue_agent_expire(), which removes its paths. */
#ifndef STRATA_ROUTING_XMPP_GLUE_H
#define STRATA_ROUTING_XMPP_GLUE_H

#include <stdbool.h>
#include <stdint.h>

#include "routing/rib/rib.h"
#include "routing/xmpp/xmpp_session.h"

#define XGLUE_ITEMS_PER_MESSAGE 64

struct xglue;
struct xglue_agent;

int xglue_create(struct rib *rib, struct xglue **out) STRATA_WARN_UNUSED;
/* Frees every agent record (the RIB keeps its paths until its sources are
 * deleted by the caller or the RIB is freed). */
void xglue_free(struct xglue *g);

/* An agent's session reached ESTABLISHED ('name': its identity). A record
 * left by a graceful disconnect is taken back (its paths stay stale until
 * its End-of-RIB). RIB_ERR_EXISTS when an agent of that name is connected. */
int xglue_agent_up(struct xglue *g, const char *name, struct xmpp_session *session,
                   struct xglue_agent **out) STRATA_WARN_UNUSED;
/* The session ended. 'graceful': keep the paths, stale, and the record;
 * otherwise withdraw them and forget the agent. */
void xglue_agent_down(struct xglue *g, struct xglue_agent *a, bool graceful);
/* The agent 'name', disconnected gracefully, did not come back in time:
 * its paths are removed. RIB_ERR_NOENT when there is no such record or the
 * agent is connected. */
int xglue_agent_expire(struct xglue *g, const char *name) STRATA_WARN_UNUSED;

/* The session of the connected agent 'name', or NULL. */
struct xmpp_session *xglue_agent_session(const struct xglue *g, const char *name);

/* Session callbacks, forwarded (control side). */
int xglue_subscribe(struct xglue *g, struct xglue_agent *a, const char *instance) STRATA_WARN_UNUSED;
/* Resume (docs/xmpp.md "Resume after a control-node restart"): a
 * subscribe carrying the digest of the instance's routes the agent holds
 * from this node (sum of xmpp_route_item_hash()). Its dump, and the
 * changes of the instance, wait while End-of-RIB is held
 * (xglue_hold_eor()); at the first flush after, the digest of what this
 * node would send the agent is compared: equal, the agent gets IN_SYNC
 * (its routes there are current) and no item; different, the whole table
 * as after xglue_subscribe(). Changes after that flow as usual. */
int xglue_subscribe_digest(struct xglue *g, struct xglue_agent *a, const char *instance, uint64_t digest)
    STRATA_WARN_UNUSED;
/* The digest of what 'a' would be sent of 'instance' now (0 when the
 * instance is unknown). */
uint64_t xglue_instance_digest(struct xglue *g, struct xglue_agent *a, const char *instance);
void xglue_unsubscribe(struct xglue *g, struct xglue_agent *a, const char *instance);
int xglue_publish(struct xglue *g, struct xglue_agent *a, const char *instance,
                  const struct xmpp_route_entry *e) STRATA_WARN_UNUSED;
void xglue_withdraw(struct xglue *g, struct xglue_agent *a, const char *instance, enum xmpp_family family,
                    const struct xmpp_route_key *key);
/* The agent's End-of-RIB: sweeps its paths still stale. Returns how many. */
int xglue_eor(struct xglue *g, struct xglue_agent *a);

/* 'fn(arg)' is called whenever a RIB notification queued something for an
 * agent, also one delivered by another user of the RIB flushing it (a BGP
 * speaker sharing the RIB): the caller then schedules an xglue_flush().
 * NULL 'fn' turns it off. */
void xglue_set_notify(struct xglue *g, void (*fn)(void *arg), void *arg);

/* Delivers RIB changes: rib_flush(), then routes messages to every agent
 * with something queued, End-of-RIB where due. Returns the number of items
 * sent. The items part of a message is encoded once per flush and shared
 * by every agent that gets the same prefixes of the same table, unless
 * the agent is a source of their best paths (the bytes are those of an
 * encoding per agent). */
size_t xglue_flush(struct xglue *g, uint64_t now);
/* Routes messages since the start whose items part came from another
 * agent's encoding in the same flush ('hits') or was built ('misses'). */
void xglue_shared_stats(const struct xglue *g, uint64_t *hits, uint64_t *misses);

/* Graceful restart of the control node: while 'hold' is set, no
 * End-of-RIB goes to any agent (they are kept due); clearing it sends the
 * due ones at the next flush. A control node that (re)starts holds them
 * until the agents that reconnected have re-published (their End-of-RIB)
 * or a bounded time passed, so that an agent does not sweep the routes it
 * kept from this node against a table still being refilled. */
void xglue_hold_eor(struct xglue *g, bool hold);
/* Connected agents whose End-of-RIB has not arrived on their current
 * session; '*connected' (may be NULL) gets the number connected. */
size_t xglue_agents_pending_eor(const struct xglue *g, size_t *connected);

/* Counters for operators and tests. */
struct xglue_agent_stats {
    uint64_t published, withdrawn, items_sent, messages_sent;
    uint64_t in_sync, resume_dumps; /* deferred subscriptions: found current / dumped */
    uint32_t subscriptions;
    bool connected;
};
int xglue_agent_stats(struct xglue *g, const char *name, struct xglue_agent_stats *st) STRATA_WARN_UNUSED;

#endif

/* Service chains in the control role: the route leaking that makes traffic
 * between two networks cross the chain's service VMs in order (white
 * paper, "Service Chaining"; compiler/compile.c explains the instances and
 * targets). The compiler writes, per (network, service instance) of a
 * chain, a service routing instance X whose service_chain_information
 * names its peer instance Y (the same service's instance on the other
 * network), the service instance, its mode and its port tuples' interfaces
 * (uuid, left/right). X re-originates Y's routes with next-hop-self: every
 * best path of Y is leaked into X with the next hop and the MPLS label of
 * the service VM's interface on X's side, as that interface's agent
 * publishes its own route. Route targets then carry the re-originated
 * routes to the previous service or the source network, so a destination
 * prefix reaches the source side through each service in reverse order
 * (dst -> svc-n -> ... -> svc-1 -> src); the other direction is symmetric.
 *
 * The interface on X's side is the one whose network's default instance
 * (virtual-router-index: the interface's routing_instance) is X's
 * source_routing_instance, or X itself; its address is its lowest
 * instance-ip (the index lists them in address order) that has a route;
 * its route is the best primary path an agent (RIB_SRC_XMPP) published at
 * ADDR/32 (ADDR/128) in X (where the agent has the port: see
 * svc_sync_index_view()), else in the interface's own instance: never a
 * replicated or leaked copy, which carry other services' next hops. Several port tuples: the first
 * interface (in the compiler's port-tuple order) with a route wins; no
 * ECMP across port tuples. No interface with a route: no leak (the chain is
 * down and its routes are withdrawn on that side).
 *
 * svc_leak_compute() is the pure function (chain info + RIB state -> one
 * leak configuration). struct svc_sync keeps the RIB's leak rules equal to
 * what it computes for the current chains, follows the service
 * interfaces' routes with table listeners (a route appearing, changing or
 * going makes it dirty; the owner calls svc_sync_update() outside
 * rib_flush()) and the virtual-router-index objects for the interfaces'
 * addresses. Not thread safe; no I/O. */
#ifndef STRATA_ROUTING_SVC_CHAIN_H
#define STRATA_ROUTING_SVC_CHAIN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"
#include "routing/control/ri_config.h"
#include "routing/rib/rib.h"

#define SVC_CHAIN_IFACES_MAX 32
#define SVC_CHAIN_UUID_MAX 48

/* One interface of the service instance's port tuples. */
struct svc_chain_iface {
    char uuid[SVC_CHAIN_UUID_MAX];
    char type[16]; /* service_interface_type: "left", "right", ... ("" when absent) */
};

/* One service routing instance, parsed from its routing-instance object. */
struct svc_chain_ri {
    char name[RI_CONFIG_NAME_MAX];    /* X: fq_name joined by ':' */
    char peer[RI_CONFIG_NAME_MAX];    /* Y: service_chain_information.routing_instance */
    char source[RI_CONFIG_NAME_MAX];  /* X's network's default instance */
    char service[RI_CONFIG_NAME_MAX]; /* the service instance's fq_name joined by ':' */
    char mode[32];                    /* service_mode ("" under compiler rules version 1) */
    struct svc_chain_iface ifaces[SVC_CHAIN_IFACES_MAX];
    size_t ifaces_len;
};

/* True when routing-instance 'obj' carries service_chain_information. */
bool svc_chain_is_service(const json_t *obj);

/* Parses service routing instance 'obj' into 'out'. LIB_EINVAL with a
 * reason in 'err' when it has no usable fq_name, no
 * service_chain_information with routing_instance and
 * source_routing_instance, a name too long, or more than
 * SVC_CHAIN_IFACES_MAX interfaces. */
int svc_chain_parse(const json_t *obj, struct svc_chain_ri *out, char *err, size_t err_size) STRATA_WARN_UNUSED;

/* The service interfaces' addresses: from the virtual-router-index objects
 * 'indexes' (a JSON object, any keys -> index object), a new object
 * interface uuid -> {"routing_instance": NAME, "addresses": [TEXT...]}.
 * NULL when out of memory. */
json_t *svc_chain_ifaces(const json_t *indexes);

/* One leak rule: 'from' (the peer Y) into 'to' (the service instance X). */
struct svc_leak {
    char from[RI_CONFIG_NAME_MAX];
    char to[RI_CONFIG_NAME_MAX];
    bool resolved;                  /* a next hop was found: the rule exists */
    char iface[SVC_CHAIN_UUID_MAX]; /* the interface it came from */
    char iface_ri[RI_CONFIG_NAME_MAX]; /* the instance its route was found in */
    struct rib_prefix iface_prefix;    /* ... and its prefix */
    struct rib_leak_config cfg;     /* next hop, label; inet and inet6 only */
};

/* The leak of chain 'c' given the interfaces 'ifaces' (svc_chain_ifaces())
 * and the routes in 'rib' (read only). Always fills 'out' ('resolved' false
 * when no interface on X's side has a route). */
void svc_leak_compute(struct rib *rib, const struct svc_chain_ri *c, const json_t *ifaces, struct svc_leak *out);

/* Calls 'fn' for every table and prefix svc_leak_compute() would read for
 * 'c' (each candidate interface address in its instance's table): what a
 * change must be followed on. A non-zero return stops and is returned. */
typedef int svc_watch_fn(void *arg, const char *table, const struct rib_prefix *p);
int svc_chain_watch(const struct svc_chain_ri *c, const json_t *ifaces, svc_watch_fn *fn, void *arg) STRATA_WARN_UNUSED;

struct svc_sync;

/* Called once each time the sync becomes dirty (from inside rib_flush() or
 * svc_sync_index()): the owner arranges a svc_sync_update() call outside
 * rib_flush(). May be NULL. */
typedef void svc_sync_dirty_fn(void *arg);

/* 'rib' may be NULL: the sync then only collects chains and indexes until
 * svc_sync_attach() (the control role's RIB exists once its speaker
 * runs, the store feed's objects arrive before). RIB_ERR_NOMEM. */
int svc_sync_create(struct rib *rib, svc_sync_dirty_fn *fn, void *arg, struct svc_sync **out) STRATA_WARN_UNUSED;
/* Gives a sync created without a RIB its RIB and marks it dirty; the same
 * RIB again is a no-op. RIB_ERR_INVAL when it has another one. */
int svc_sync_attach(struct svc_sync *s, struct rib *rib) STRATA_WARN_UNUSED;
/* Clears every leak rule it made, removes its listeners, frees it. NULL is
 * a no-op. Not from inside rib_flush(). */
void svc_sync_free(struct svc_sync *s);

/* The chains: every routing-instance object of 'instances' (a JSON array,
 * as ri_sync_apply() takes it) that carries service_chain_information;
 * malformed ones are counted in '*skipped' (may be NULL). Then
 * svc_sync_update(). Call after ri_sync_apply() (which creates the
 * instances), not inside rib_flush(). RIB_ERR_NOMEM or a RIB error. */
int svc_sync_set_instances(struct svc_sync *s, const json_t *instances, size_t *skipped) STRATA_WARN_UNUSED;

/* A virtual-router-index object from the store feed: 'key' its store key,
 * 'obj' the object (NULL: deleted); key NULL forgets every index (a
 * reload), key "" (load complete) is ignored. 'obj' is kept by reference
 * (the caller must not modify it afterwards). Marks the sync dirty when
 * anything changed and some chain is configured (without chains an index
 * moves no leak; the interfaces are computed once a chain needs them).
 * RIB_ERR_NOMEM. */
int svc_sync_index(struct svc_sync *s, const char *key, const json_t *obj) STRATA_WARN_UNUSED;

/* Recomputes every chain's leak and brings the RIB's leak rules to it
 * (without a RIB: only clears the dirty mark):
 * rules gone or unresolved are cleared, new or changed ones set, unchanged
 * ones left alone; listeners follow the interfaces' routes. Clears the
 * dirty mark. Call rib_flush() (or kick the speaker) afterwards. Returns 0
 * or the first RIB error (the rest is still applied). */
int svc_sync_update(struct svc_sync *s) STRATA_WARN_UNUSED;

/* The service VMs' ports in their service instances. A port of a service
 * VM must forward in its chain's instance on its side (fw-1's right port
 * in right's instance for fw-1, which holds the destination behind fw-2),
 * not in its network's default instance (which holds the destination
 * itself), as in Contrail where the schema transformer gives the service
 * VM's interface that instance. The compiler's virtual-router-index names
 * the network's default instance; the agents read the index: so the
 * control role relays to agents this view of it. 'obj' with every
 * interface listed in a chain's service_interfaces whose routing_instance
 * is that chain's source_routing_instance moved to the chain's instance
 * (added to routing_instances, kept sorted): a new reference (to 'obj'
 * itself when nothing moves), NULL when out of memory. */
json_t *svc_sync_index_view(const struct svc_sync *s, const json_t *obj);

/* True, once, after svc_sync_set_instances() changed which interfaces
 * move where: every index's view must be relayed again
 * (svc_sync_index_foreach()). */
bool svc_sync_views_changed(struct svc_sync *s);

/* Calls 'fn' with the store key and the object of every index it holds
 * (as given to svc_sync_index()); a non-zero return stops and is
 * returned. */
typedef int svc_index_fn(void *arg, const char *key, const json_t *obj);
int svc_sync_index_foreach(const struct svc_sync *s, svc_index_fn *fn, void *arg) STRATA_WARN_UNUSED;

bool svc_sync_dirty(const struct svc_sync *s);
/* Service routing instances known, and leak rules in the RIB. */
size_t svc_sync_chains(const struct svc_sync *s);
size_t svc_sync_leaks(const struct svc_sync *s);
/* The chains and their leaks for the control socket: a new array of
 * {"instance", "from", "service", "mode", "resolved", "interface",
 * "nexthop", "label"}, NULL when out of memory. */
json_t *svc_sync_json(const struct svc_sync *s);

#endif

/* Configuration for vRouter agents over XMPP: each agent (its certificate
 * identity = the name of its virtual-router) receives exactly the config
 * subgraph of its virtual-router, as Contrail-style CONFIG update/delete
 * stanzas (routing/xmpp/xmpp_stanza.h), and afterwards only what changes.
 * Pure (no I/O, no clock): the control role feeds it the store's objects
 * (store_feed_set_objects()), the XMPP server tells it which agents are
 * connected and sends what acfg_flush() hands it.
 *
 * The subgraph comes from the compiler's virtual-router-index object of
 * the router (docs/compiler.md: fq_name [gsc, ROUTER, "index"]) and the
 * objects it names. What an agent receives (node names are fq_names joined
 * with ':'; property values are text: strings as they are, anything else
 * as compact JSON with sorted keys):
 *
 *   node virtual-router ROUTER             index_uuid
 *   node virtual-machine-interface FQ      every field of the index's
 *        interface entry except fq_name (uuid, virtual_network,
 *        routing_instance, access_control_list, instance_ip_addresses,
 *        security_groups, floating_ips, and under compiler rules 3
 *        virtual_machine_interface_mac_addresses, e.g.
 *        {"mac_address":["02:..."]}, when the interface has one)
 *   node virtual-network / routing-instance / access-control-list NAME
 *        for each name in the index's lists: every top-level field of the
 *        store object of that name except fq_name, name and derived_from
 *        (no properties while the object is not in the store); under
 *        compiler rules 3 a network's default routing-instance carries the
 *        network's VNI, configured or allocated, as vxlan_network_identifier
 *        (e.g. "5"; docs/compiler.md)
 *   node security-group NAME               ingress_access_control_list,
 *        egress_access_control_list
 *   node global-vrouter-config
 *        default-global-system-config:default-global-vrouter-config
 *        the global settings in effect, from the compiler's
 *        effective-global-config of default-global-system-config
 *        (compiler rules version 3, docs/compiler.md "Global settings";
 *        absent while that object is, i.e. under rules < 3): exactly
 *        autonomous_system (e.g. "64512"), encapsulation_priorities
 *        ({"encapsulation":["MPLSoUDP","MPLSoGRE","VXLAN"]} by default)
 *        and graceful_restart_parameters ({"bgp_helper_enable":true,
 *        "enable":true,"end_of_rib_timeout":300,"long_lived_restart_time":300,
 *        "restart_time":300,"xmpp_helper_enable":true} by default; every
 *        field always present). In every agent's set, also one whose
 *        router has no index; no links.
 *   link virtual-router -- virtual-machine-interface
 *        (metadata virtual-router-virtual-machine-interface)
 *   link virtual-machine-interface -- virtual-network / routing-instance /
 *        security-group (metadata virtual-machine-interface-<right type>)
 *
 * A diff sends, in this order: deletes of links, updates of nodes (new or
 * changed properties), updates of new links, deletes of nodes; at most
 * XMPP_MAX_CONFIG_OBJS objects per stanza. An agent that connects gets
 * the whole set; a change of an index concerns its router's agent only, a
 * change of a network, instance or ACL only the agents whose set lists it,
 * a change of the effective-global-config every connected agent (one
 * update of the one node each).
 * acfg_mirror is the receiving side (what an agent, simulated or real,
 * keeps), for tests and the agent. */
#ifndef STRATA_ROUTING_AGENT_CONFIG_H
#define STRATA_ROUTING_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"
#include "routing/xmpp/xmpp_stanza.h"

/* ---- the pure pieces: a set and the diff of two sets ---- */

/* A config subgraph: nodes and links keyed canonically. */
struct acfg_set;

/* Builds the set of router 'vrouter' from its index object 'index' (NULL:
 * no index) and 'objects' (a JSON object "TYPE\nNAME" -> store object, for
 * virtual-network, routing-instance, access-control-list and
 * effective-global-config; may be NULL): the global node when 'objects'
 * holds "effective-global-config\ndefault-global-system-config:effective",
 * the index's subgraph when there is one. LIB_ENOMEM. Malformed entries of
 * the index are skipped. */
int acfg_set_build(const json_t *index, const char *vrouter, const json_t *objects, struct acfg_set **out)
    STRATA_WARN_UNUSED;
/* acfg_set_build() reusing what 'prev' (a set built earlier, NULL: none)
 * built from the same sources: an interface whose index entry is equal to
 * the one 'prev' was built from, a named node whose store object is the
 * same object (the image replaces an object on change), and every link
 * share 'prev''s entries instead of formatting them again (one changed
 * interface of a router with many no longer costs the whole set). The
 * result is the set acfg_set_build() gives; 'prev' must outlive nothing
 * (the entries are shared by reference). LIB_ENOMEM. */
int acfg_set_build_from(const json_t *index, const char *vrouter, const json_t *objects, const struct acfg_set *prev,
                        struct acfg_set **out) STRATA_WARN_UNUSED;
void acfg_set_free(struct acfg_set *s);
size_t acfg_set_size(const struct acfg_set *s);
/* Whether the set holds the node TYPE NAME. */
bool acfg_set_has_node(const struct acfg_set *s, const char *type, const char *name);

/* The objects that take an agent holding 'from' (NULL: nothing) to 'to'
 * (NULL: nothing), in the order above. The objects' strings point into
 * the two sets: use them before freeing either; free the array with
 * acfg_objs_free(). LIB_ENOMEM. */
int acfg_diff(const struct acfg_set *from, const struct acfg_set *to, struct xmpp_config_obj **objs, size_t *count)
    STRATA_WARN_UNUSED;
void acfg_objs_free(struct xmpp_config_obj *objs, size_t count);

/* ---- the control node's image and its agents ---- */

struct acfg;

int acfg_create(struct acfg **out) STRATA_WARN_UNUSED;
/* Frees the image and every agent record. NULL accepted. */
void acfg_free(struct acfg *c);

/* A store object of 'type' under 'key' (store_feed_obj_fn's contract):
 * 'obj' NULL deletes it; 'key' NULL forgets every object of 'type' (a
 * reload follows); 'key' "" (loaded) is ignored. Types other than
 * virtual-router-index, virtual-network, routing-instance,
 * access-control-list and effective-global-config are ignored. Marks the agents concerned; returns
 * true when one was marked (an acfg_flush() is then due). */
bool acfg_object(struct acfg *c, const char *type, const char *key, const json_t *obj);

/* Agent 'name' connected (its set starts empty: everything is sent);
 * 'user' is handed to the send callback. LIB_ENOMEM. */
int acfg_agent_up(struct acfg *c, const char *name, void *user) STRATA_WARN_UNUSED;
/* Resume (docs/xmpp.md "Resume after a control-node restart"): agent
 * 'name', connected (acfg_agent_up), announced the objects it holds with
 * the hash of each (CONFIG_HELD). Its next flush sends only the objects
 * of its set it lacks or holds with another hash, and deletes of held
 * objects no longer in its set, instead of the whole set. LIB_EINVAL for
 * an agent not connected, LIB_ENOMEM. */
int acfg_agent_held(struct acfg *c, const char *name, const struct xmpp_held_obj *held, size_t count)
    STRATA_WARN_UNUSED;
/* Agent 'name' disconnected: nothing more goes to it. */
void acfg_agent_down(struct acfg *c, const char *name);

/* Sends 'count' (1..XMPP_MAX_CONFIG_OBJS) objects to the agent; nonzero
 * when they could not be sent: the rest of the diff is dropped (only for
 * a connection that is going away: its agent_down follows). */
typedef int acfg_send_fn(void *arg, void *user, const struct xmpp_config_obj *objs, size_t count);

/* For every connected agent marked since its last flush: builds its set,
 * sends the diff from what it holds, in stanzas of at most
 * XMPP_MAX_CONFIG_OBJS objects. Returns the number of objects sent, or
 * LIB_ENOMEM (agents not served stay marked). */
long acfg_flush(struct acfg *c, acfg_send_fn *send, void *arg);
/* Whether some connected agent is marked. */
bool acfg_pending(const struct acfg *c);
/* How many routers with an index in the image have no connected agent
 * (agents the node can expect back after its restart). */
size_t acfg_agents_missing(const struct acfg *c);

/* Counters of agent 'name': objects sent, stanzas sent. LIB_EINVAL for an
 * unknown agent. */
int acfg_agent_stats(const struct acfg *c, const char *name, size_t *objects, size_t *stanzas) STRATA_WARN_UNUSED;

/* The virtual-router-index objects as agents get them: a JSON object
 * router name -> index (borrowed; valid until the next acfg_object()).
 * The instance-name answers read them (routing/control/dns_names.h). */
const json_t *acfg_indexes(const struct acfg *c);

/* ---- the receiving side ---- */

struct acfg_mirror;

int acfg_mirror_create(struct acfg_mirror **out) STRATA_WARN_UNUSED;
void acfg_mirror_free(struct acfg_mirror *m);
/* Applies update/delete objects as received. An update of a node replaces
 * its properties; a delete of an unknown node or link is ignored.
 * LIB_ENOMEM. */
int acfg_mirror_apply(struct acfg_mirror *m, const struct xmpp_config_obj *objs, size_t count) STRATA_WARN_UNUSED;
/* The properties of node TYPE NAME (a JSON object of strings, borrowed),
 * NULL when absent. */
const json_t *acfg_mirror_node(const struct acfg_mirror *m, const char *type, const char *name);
bool acfg_mirror_has_link(const struct acfg_mirror *m, const char *ltype, const char *lname, const char *rtype,
                          const char *rname);
size_t acfg_mirror_nodes(const struct acfg_mirror *m);
size_t acfg_mirror_links(const struct acfg_mirror *m);
/* What the mirror holds as a CONFIG_HELD announcement: every node and link
 * with xmpp_config_obj_hash() of its update. '*out' is freed by the
 * caller. LIB_ENOMEM. */
int acfg_mirror_held(const struct acfg_mirror *m, struct xmpp_held_obj **out, size_t *count) STRATA_WARN_UNUSED;
/* Names of the nodes of 'type' (a new JSON array, sorted), NULL on ENOMEM. */
json_t *acfg_mirror_names(const struct acfg_mirror *m, const char *type);

#endif

/* The agent's view of the controller's intent: the CONFIG update/delete
 * stanzas each control node sends (routing/control/agent_config.h, kept
 * in one acfg_mirror per node) turned into ports, policies and the
 * encapsulation order of the pure core (agent.h). Pure: no I/O, no clock.
 *
 * Ports come from bindings: the hypervisor hook knows only an interface's
 * uuid and its OS device (`port bind UUID tap=IF`, Contrail's
 * vrouter-port-control); the port (named by the uuid) is made from the
 * virtual-machine-interface node of that uuid and the nodes it names
 * (docs/agent.md, "Ports from the controller"). A binding whose interface
 * is not (yet) in the config is held and completed when it arrives; a
 * config that drops the interface removes the port and holds the binding
 * again.
 *
 * Which node's mirror is used (one view, not a merge): a node's mirror is
 * emptied when its session comes up (the node then sends its whole set)
 * and counts as complete from its End-of-RIB on. The interface (and the
 * network, ACLs and groups it names) is read from the first node in index
 * order that is up and complete and has it, else from a node that is up
 * but still loading, else (no node up: headless) from the mirrors kept
 * from lost nodes. Only an up-and-complete node's absence removes a port:
 * a node still loading or lost never does. */
#ifndef STRATA_AGENT_CFG_H
#define STRATA_AGENT_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "routing/xmpp/xmpp_stanza.h"
#include "vrouter/agent/agent.h"

#define AGENT_CFG_GVC_TYPE "global-vrouter-config"
#define AGENT_CFG_GVC_NAME "default-global-system-config:default-global-vrouter-config"

struct agent_cfg;

/* A binding and its state: 'bound' when the core has its port; otherwise
 * 'reason' says what it waits for. */
struct agent_cfg_binding {
    char uuid[AGENT_NAME_MAX];
    char tap[VR_MSG_NAME_MAX];
    bool bound;
    char reason[128];
};

struct agent_cfg_status {
    size_t bindings, bound, held;
    uint64_t port_adds, port_updates, port_dels, policy_sets;
    uint64_t fip_refusals; /* floating IP sets the core refused (conflicts) */
    uint64_t changes; /* port adds + updates + deletions + floating IP set changes (the host saves
                         its state on a change) */
    bool encap_from_config; /* the global-vrouter-config node sets the order */
    uint8_t encaps[3];
    size_t encap_count;
};

/* Creates the binder of 'core' (borrowed; must outlive it) for
 * 'node_count' control nodes; 'encaps'/'encap_count' is the order used
 * while no global-vrouter-config node is present (--encap). AGENT_EINVAL,
 * AGENT_ENOMEM. */
int agent_cfg_create(struct agent_core *core, size_t node_count, const uint8_t *encaps, size_t encap_count,
                     struct agent_cfg **out) STRATA_WARN_UNUSED;
void agent_cfg_free(struct agent_cfg *g);

/* Node 'node''s session is up: its mirror starts empty (loading). */
int agent_cfg_node_up(struct agent_cfg *g, int node) STRATA_WARN_UNUSED;
/* Node 'node''s session is up and resumes (docs/xmpp.md "Resume after a
 * control-node restart"): the mirror kept from its previous session stays
 * (loading until End-of-RIB) and '*held' gets what it holds, for the
 * CONFIG_HELD announcement (free() it); the node then sends only the
 * difference. Without a kept mirror, as agent_cfg_node_up() with nothing
 * held. AGENT_EINVAL, AGENT_ENOMEM. */
int agent_cfg_node_resume(struct agent_cfg *g, int node, struct xmpp_held_obj **held, size_t *count)
    STRATA_WARN_UNUSED;
/* Node 'node' is lost: its mirror is kept for headless operation. */
void agent_cfg_node_down(struct agent_cfg *g, int node);
/* Node 'node' sent End-of-RIB: its mirror is complete; reconciles. */
int agent_cfg_node_eor(struct agent_cfg *g, int node) STRATA_WARN_UNUSED;
/* Applies a CONFIG stanza's objects from 'node' and reconciles ports,
 * policies and the encapsulation order. AGENT_EINVAL, AGENT_ENOMEM. */
int agent_cfg_apply(struct agent_cfg *g, int node, const struct xmpp_config_obj *objs, size_t count)
    STRATA_WARN_UNUSED;

/* Binds interface 'uuid' to device 'tap': 0 when its port exists now
 * (created, or already there, e.g. restored from the state file),
 * AGENT_EHELD when it waits for the config (kept; completed later),
 * AGENT_EEXIST (uuid bound already to another device, or the device to
 * another uuid), AGENT_EINVAL, AGENT_EFULL, AGENT_ENOMEM, or the core's
 * refusal of the port (AGENT_ECONFLICT...: the binding is kept, held). */
int agent_cfg_bind(struct agent_cfg *g, const char *uuid, const char *tap) STRATA_WARN_UNUSED;
/* Removes binding 'uuid' and its port. AGENT_ENOENT. */
int agent_cfg_unbind(struct agent_cfg *g, const char *uuid) STRATA_WARN_UNUSED;
/* Runs the reconciliation again (after the host changed ports). */
int agent_cfg_reconcile(struct agent_cfg *g) STRATA_WARN_UNUSED;

size_t agent_cfg_binding_count(const struct agent_cfg *g);
const struct agent_cfg_binding *agent_cfg_binding_at(const struct agent_cfg *g, size_t i);
void agent_cfg_status_get(const struct agent_cfg *g, struct agent_cfg_status *st);

/* Builds the spec and policy of interface 'uuid' to device 'tap' from the
 * mirror 'm' (exposed for tests). AGENT_ENOENT (no such interface),
 * AGENT_EHELD (incomplete: 'reason' says what is missing), AGENT_ENOMEM.
 * '*policy' is the caller's on success. */
struct acfg_mirror;
int agent_cfg_port_from(const struct acfg_mirror *m, const char *uuid, const char *tap,
                        struct agent_port_spec *spec, struct agent_policy **policy, char *reason,
                        size_t reason_size) STRATA_WARN_UNUSED;

/* The floating IPs of interface 'uuid' in mirror 'm' (its node's
 * floating_ips: address and the pool network's routing instance; at most
 * AGENT_FIP_MAX, malformed entries skipped) into 'fips', '*count' set;
 * each with the policy its flows are decided by: the pool network (the
 * instance's name less its last part), that network's ACL when the config
 * has it (the compiler names it like the network's default instance) and
 * the interface's security groups. The policies are the caller's (for
 * agent_port_fips_set). No interface: none. AGENT_ENOMEM (none kept). */
int agent_cfg_fips_from(const struct acfg_mirror *m, const char *uuid, struct agent_fip *fips, size_t *count)
    STRATA_WARN_UNUSED;

#endif

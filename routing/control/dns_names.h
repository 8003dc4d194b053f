/* The control role's answers to vRouter agents' instance-name questions
 * (docs/xmpp.md "Instance names", docs/agent-proxy.md): an agent's DNS
 * proxy asks for a name (A) or an address (PTR) it does not know locally,
 * naming the interface of the VM that asked; the answer comes from the
 * virtual-router-index objects the control role already holds for agents'
 * configuration (routing/control/agent_config.h, acfg_indexes()). Pure: no
 * I/O, no clock, no allocation.
 *
 * Names: an instance's DNS name is the name of its virtual machine (the
 * index entry's `virtual_machine`, compiler rules 3) in lower case, when
 * that is one DNS label (1..63 bytes of [a-z0-9_-]); its address the first
 * IPv4 of the interface's `instance_ip_addresses`. There is no DNS domain
 * (the schema has no virtual-DNS object): names are single labels.
 *
 * Scope: the asking interface must be in the asking agent's own index (an
 * agent cannot ask on behalf of another router's VM); the answer is looked
 * for only among interfaces of that interface's virtual network, in every
 * router's index, so a VM never learns names of networks it is not in. */
#ifndef STRATA_ROUTING_DNS_NAMES_H
#define STRATA_ROUTING_DNS_NAMES_H

#include <jansson.h>

#include "routing/xmpp/xmpp_stanza.h"

#define DNSN_TTL_FOUND 60  /* seconds an agent may keep a found answer */
#define DNSN_TTL_MISSING 5 /* ... and a negative one (a VM may be created soon) */

/* Answers the question 'q' of agent 'agent' from 'indexes' (router name ->
 * its virtual-router-index object, borrowed; NULL: nothing known) into
 * 'a': the question repeated, 'found' with both name and address and
 * DNSN_TTL_FOUND, else not found with DNSN_TTL_MISSING (also for an
 * interface not in the agent's index, a question with neither or both of
 * name and address, or a name of more than one label). When several
 * instances of the network share a name, the one with the lowest address
 * answers. Cost: one pass over every index's interfaces. */
void dnsn_resolve(const json_t *indexes, const char *agent, const struct xmpp_dns *q, struct xmpp_dns *a);

#endif

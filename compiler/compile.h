/* The compiler core: the pure, deterministic transformation from the
 * high-level intent objects (virtual networks, network policies, security
 * groups, projects, global-system-config) to the derived low-level objects
 * (routing-instance, route-target, access-control-list, and a project's
 * default security-group), with no I/O, time or randomness. The config role
 * feeds it the intent objects it read (JSON as compiler/graph.c stores
 * them), together with the identifier allocations made so far, and writes
 * what it returns in the same store transaction as the intent change, so
 * both commit at one revision and replicas never recompile
 * (docs/design-config.md). Two nodes compiling the same input produce
 * byte-identical output: derived uuids are name-based (SHA-256 of the
 * derived type and fq_name, truncated, version 5 bits), lists are sorted,
 * and numbers (route targets from 8,000,000, VNIs from 1) are the lowest
 * free in a pool the caller persists.
 *
 * Ownership: every derived object has exactly one owning source (the first
 * element of its derived_from list): a virtual-network owns its default
 * routing-instance, its route-target and its ACL (whose entries come from
 * the attached policies, also listed in derived_from); a security-group
 * owns its ingress/egress ACLs; a network also owns the service routing
 * instances (and their route-targets) on its side of every service chain
 * it is an end of; a floating-ip owns its floating-ip-mapping (version 2:
 * the floating address as a route in the pool network's default routing
 * instance towards its interface, with the NAT the agent applies); a
 * virtual-router owns its virtual-router-index (version 2: the interfaces
 * bound to it by host_id, with their networks, routing instances, ACLs,
 * security groups, addresses and floating IPs); a logical-router owns its
 * route-target, which the
 * default routing instance of every internal network it connects imports
 * and exports; a global-system-config owns its effective-global-config
 * (version 3: the global settings in effect, defaults filled); a project
 * owns its default security-group
 * and that group's ACLs while the group is not itself an input (the group
 * itself is created once and owned by nobody: once written it is an
 * input). Compiling a
 * source recomputes exactly the objects it owns, so incremental compilation
 * is: compile_affected() -> compile_sources() on that set -> compile_diff()
 * against what those sources owned before. */
#ifndef STRATA_COMPILER_COMPILE_H
#define STRATA_COMPILER_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/err.h"

#define COMPILE_ERRORS(X)                                                       \
    X(COMPILE_EINVAL, -13701, "malformed intent object")                        \
    X(COMPILE_ECONFLICT, -13702, "identifier already held by another object")   \
    X(COMPILE_EEXHAUSTED, -13703, "identifier pool exhausted")                  \
    X(COMPILE_ETOOLARGE, -13704, "compiled object too large")                   \
    X(COMPILE_ENOMEM, -13705, "out of memory")

enum compile_err { COMPILE_ERRORS(STRATA_ERR_ENUM) };

const char *compile_strerror(int code);

#define COMPILE_RT_FIRST 8000000u      /* first route-target number */
#define COMPILE_RT_LAST 4294967295u
#define COMPILE_VNI_FIRST 1u
#define COMPILE_VNI_LAST 16777215u
#define COMPILE_DEFAULT_ASN 64512
#define COMPILE_ACL_RULES_MAX 65536    /* AclEntriesType acl_rule max-items */

/* Compiler rules versions (docs/compiler.md, "Versions"). A model compiles
 * with one version, so that nodes of two releases produce the same output
 * while the cluster version (derive.h) names the older rules:
 *   1: networks, policies, security groups, projects' default groups,
 *      logical routers, service chains (instances and targets).
 *   2: 1, plus floating-ip mappings (floating-ip-mapping), the
 *      per-virtual-router index (virtual-router-index), and service chain
 *      information carrying the template's service mode and the port-tuple
 *      interfaces.
 *   3: 2, plus the effective global settings (effective-global-config):
 *      one object per global-system-config with its autonomous system,
 *      graceful-restart parameters and its global-vrouter-config's
 *      encapsulation priorities, defaults filled; a global-system-config
 *      change recompiles the networks only when its autonomous system
 *      changed (under 2 an ASN change did not reach them, see
 *      docs/compiler.md). */
#define COMPILE_VERSION_MIN 1
#define COMPILE_VERSION_MAX 3

/* Version 3: the effective global settings. COMPILE_GVRC_NAME is the one
 * global-vrouter-config (child of the global-system-config) read; the
 * derived object is named the global-system-config's fq_name plus
 * COMPILE_EGC_NAME. Defaults: encapsulation MPLSoUDP, MPLSoGRE, VXLAN;
 * graceful restart on, helper modes on, restart, long-lived restart and
 * End-of-RIB times 300 s (docs/compiler.md, "Global settings"). */
#define COMPILE_EGC_TYPE "effective-global-config"
#define COMPILE_EGC_NAME "effective"
#define COMPILE_GVRC_NAME "default-global-vrouter-config"
#define COMPILE_GR_RESTART_TIME 300
#define COMPILE_GR_LLGR_TIME 300
#define COMPILE_GR_EOR_TIMEOUT 300

/* The intent objects, indexed by uuid, fq_name and the relations the
 * compiler follows (policy -> attached networks, network name -> policies
 * naming it, project -> security groups). Holds references to the objects
 * it is given; never modifies them. */
struct compile_model;

/* Identifier pools: route-target numbers and VNIs, each owned by a source
 * uuid. The state the caller persists between compiles (compile_alloc_dump()
 * / compile_alloc_load()); allocation always takes the lowest free number. */
struct compile_alloc;

int compile_model_create(struct compile_model **out) STRATA_WARN_UNUSED;
void compile_model_free(struct compile_model *m);

/* Adds or replaces intent object 'obj' (uuid, fq_name required) of 'type'
 * in 'm', taking a new reference to it. Types the compiler does not read
 * are accepted and ignored. COMPILE_EINVAL when uuid/fq_name are missing. */
int compile_model_put(struct compile_model *m, const char *type, json_t *obj) STRATA_WARN_UNUSED;

/* The rules version 'm' compiles with (COMPILE_VERSION_MIN..MAX; a new
 * model has COMPILE_VERSION_MAX). Values outside the range are clamped. */
void compile_model_set_version(struct compile_model *m, int version);
int compile_model_version(const struct compile_model *m);

/* Removes object 'uuid' from 'm'; absent is not an error. */
void compile_model_remove(struct compile_model *m, const char *uuid);

/* The object 'uuid' in 'm' (borrowed) and its type in '*type' (may be
 * NULL), or NULL. */
const json_t *compile_model_get(const struct compile_model *m, const char *uuid, const char **type);

/* Starts (a JSON object 'reads') or stops (NULL) recording every lookup
 * the compiler makes in 'm' — compile_affected(), compile_sources() — into
 * 'reads' (borrowed, must outlive the recording): a present object as
 * uuid -> its type (string), an absent uuid as uuid -> false, a lookup of a
 * name that found nothing as "<type>\x1f<fq_name joined by ':'>" -> false.
 * The caller turns the set into store compares, so a compile made on a
 * stale model cannot commit. An enumeration of a relation (the networks
 * attached to a policy, the addresses of an interface, ...) is recorded
 * as COMPILE_READS_COUNT followed by the store's index prefix
 * ("/c/br/<target uuid>/<type>/", "/c/wbr/...", "/c/ch/<parent>/<type>/")
 * -> the number of members the model has (an integer): with the members'
 * own reads, it pins the exact set. When memory ran out while recording,
 * 'reads' holds the key COMPILE_READS_OOM and is incomplete. */
#define COMPILE_READS_OOM "\x1foom"
#define COMPILE_READS_COUNT "\x1e"
void compile_model_track(struct compile_model *m, json_t *reads);

/* The uuid (borrowed) of the object of 'type' named 'fq_name' in 'm', or
 * NULL. Not recorded in the read set. */
const char *compile_model_find(const struct compile_model *m, const char *type,
                               const json_t *fq_name);

/* Loads every object of 'input' (a JSON array of objects, each with a
 * "type" member naming its type) into 'm'. */
int compile_model_load(struct compile_model *m, const json_t *input) STRATA_WARN_UNUSED;

int compile_alloc_create(struct compile_alloc **out) STRATA_WARN_UNUSED;
void compile_alloc_free(struct compile_alloc *a);

/* Restores pools from 'state' ({"route_target": {owner: n}, "vni": {owner:
 * n}}, as compile_alloc_dump() writes; NULL or missing members: empty).
 * COMPILE_EINVAL for a number outside its pool, COMPILE_ECONFLICT when two
 * owners hold one number. */
int compile_alloc_load(struct compile_alloc *a, const json_t *state) STRATA_WARN_UNUSED;

/* Journaling, for a caller that keeps one long-lived allocator in step
 * with its store (compiler/derive.c) instead of loading a copy per
 * compile (O(numbers) each):
 * compile_alloc_begin() starts a journal (undoing one still running);
 * every later change notes the owner's number before it.
 * compile_alloc_changes() gives, for every owner changed since, the number
 * it held when the journal began ('*then') and holds now ('*now'), in
 * compile_alloc_dump()'s form (absent: none); owners not changed are left
 * out. compile_alloc_rollback() restores the state of compile_alloc_begin()
 * and ends the journal. COMPILE_ENOMEM when memory ran out while noting:
 * the allocator no longer reflects anything and must be rebuilt. */
int compile_alloc_begin(struct compile_alloc *a) STRATA_WARN_UNUSED;
int compile_alloc_changes(const struct compile_alloc *a, json_t **then, json_t **now) STRATA_WARN_UNUSED;
int compile_alloc_rollback(struct compile_alloc *a) STRATA_WARN_UNUSED;

/* Keeping an allocator in step with stored identifier keys:
 * compile_alloc_set() makes number 'n' of the route-target ('rt') or VNI
 * pool held by 'owner' (whoever held it, and whatever 'owner' held,
 * released); compile_alloc_unset() frees 'n'. Errors of set: COMPILE_EINVAL
 * (out of the pool's range, or an owner name too long), COMPILE_ENOMEM. */
int compile_alloc_set(struct compile_alloc *a, bool rt, const char *owner, uint64_t n) STRATA_WARN_UNUSED;
void compile_alloc_unset(struct compile_alloc *a, bool rt, uint64_t n);

/* Gives 'owner' number 'n' when it is free (journaled like a compile's
 * changes): COMPILE_ECONFLICT when another owner holds it, COMPILE_EINVAL
 * out of range. */
int compile_alloc_claim(struct compile_alloc *a, bool rt, const char *owner, uint64_t n) STRATA_WARN_UNUSED;

/* The pools as a new JSON object (see compile_alloc_load()). */
json_t *compile_alloc_dump(const struct compile_alloc *a);

/* The route-target number / VNI held by 'owner', or 0. */
uint32_t compile_alloc_rt(const struct compile_alloc *a, const char *owner);
uint32_t compile_alloc_vni(const struct compile_alloc *a, const char *owner);

/* Compiles the sources named in 'sources' (a JSON object whose keys are
 * source uuids; values ignored) and adds what they own to 'out' (a JSON
 * object keyed "<type>/<uuid>" -> derived object). A source absent from
 * 'm' owns nothing: its identifiers are released in 'a'. Allocates
 * identifiers for new networks in 'a' (processing sources in uuid order,
 * so the result does not depend on the order of 'sources'). Errors:
 * COMPILE_ECONFLICT (a configured VNI held by another network),
 * COMPILE_EEXHAUSTED, COMPILE_ETOOLARGE, COMPILE_ENOMEM; on error 'out'
 * may hold part of the result and 'a' may hold new allocations: the caller
 * discards both (or reloads 'a'). */
int compile_sources(const struct compile_model *m, struct compile_alloc *a, const json_t *sources,
                    json_t *out) STRATA_WARN_UNUSED;

/* Compiles every source in 'm': '*out' gets a new object as
 * compile_sources() fills. Allocations are made in uuid order. */
int compile_all(const struct compile_model *m, struct compile_alloc *a, json_t **out) STRATA_WARN_UNUSED;

/* The sources whose owned output may change when object 'uuid' of 'type'
 * changes from 'old' to 'now' (either NULL for a create / delete). 'm' is
 * the model after the change (the caller has applied it); 'old' is needed
 * to find relations the change removed. Adds source uuids as keys to
 * 'sources' (a JSON object). A virtual-network: itself and every network
 * attached to a policy that names it by fq_name; a network-policy: every
 * network attached to it and every network its old or new rules name; a
 * security-group: itself and its project; a project: itself; a
 * service-instance: every network attached to a policy applying it; a
 * global-system-config (the ASN): every network. From version 2 also: a
 * service-template: the networks of every chain through an instance of
 * it; a port-tuple: those of its service instance; a
 * virtual-machine-interface: the virtual-routers named by its old and new
 * binding host_id, the floating-ips referring to it, and the chains of the
 * port tuples it belongs to; a floating-ip: itself and the virtual-routers
 * hosting its old and new interface; an instance-ip: the virtual-routers
 * hosting its old and new interfaces and their floating-ips; a
 * virtual-router: itself. From version 3: a global-system-config: itself,
 * and every network only when its autonomous_system differs between 'old'
 * and 'now'; a global-vrouter-config: its parent global-system-config. */
int compile_affected(const struct compile_model *m, const char *type, const char *uuid,
                     const json_t *old, const json_t *now, json_t *sources) STRATA_WARN_UNUSED;

/* The derived objects in 'derived' (keyed as compile_sources() fills)
 * owned by a source listed in 'sources': a new object with the same keys. */
json_t *compile_owned_by(const json_t *derived, const json_t *sources);

/* Compares derived sets 'old' and 'now' (keyed "<type>/<uuid>"): '*puts'
 * gets a new object of the entries of 'now' that are absent from or differ
 * in 'old', '*deletes' a new array of the keys of 'old' absent from 'now',
 * sorted. */
int compile_diff(const json_t *old, const json_t *now, json_t **puts, json_t **deletes) STRATA_WARN_UNUSED;

/* The name-based uuid of derived object 'fq_name' of 'type': SHA-256 over
 * the type, a 0x1f byte and the fq_name elements separated by 0x1f, first
 * 16 bytes, version 5 and RFC 4122 variant bits set. 'out' gets the text
 * form (37 bytes with NUL). */
int compile_uuid(const char *type, const json_t *fq_name, char out[37]) STRATA_WARN_UNUSED;

/* The owning source uuid of derived object 'obj' (derived_from[0].uuid),
 * or NULL (a project's default security-group: created, never owned). */
const char *compile_owner(const json_t *obj);

#endif

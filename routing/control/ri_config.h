/* From the store's routing-instance objects to the RIB's instances: what
 * makes agents' routes VPN routes and VPN routes agents' routes. Pure (no
 * I/O): the control role hands it every routing-instance object it follows
 * in the store (the compiler's, compiler/compile.h) and it configures the
 * RIB, which replicates between the instance tables and the VPN tables
 * (routing/rib/repl.c).
 *
 * Per object: the instance name is its fq_name joined with ':' (the name
 * agents subscribe to, as in Contrail: "default-domain:p:vn1:vn1"); its
 * route_target_refs ("to": ["target:ASN:N"], attr.import_export "import",
 * "export" or absent for both) give the import and export targets; the
 * route distinguisher is this node's router id : N, N from the instance's
 * own target (its first one for both directions), (number mod 65535) + 1,
 * so distinct for up to 65,535 consecutive target numbers (the compiler
 * allocates them from 8,000,000 upwards). An instance without a target for
 * both directions is kept out of the VPN.
 *
 * Route-target constraint (RFC 4684): for each import target of a
 * configured instance the node originates an RT membership route (local
 * AS, the target, /96) so that peers negotiating RTC send the VPN routes
 * its instances import; removed when no instance imports it any more.
 *
 * Instances configured before and not listed any more are taken out of the
 * VPN (not destroyed: agents may still use them). */
#ifndef STRATA_ROUTING_RI_CONFIG_H
#define STRATA_ROUTING_RI_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/err.h"
#include "routing/rib/rib.h"

#define RI_CONFIG_NAME_MAX 512
#define RI_CONFIG_RT_MAX 256

/* One routing-instance object, parsed. */
struct ri_config {
    char name[RI_CONFIG_NAME_MAX];
    bool vpn;          /* has a target for both directions */
    uint16_t rd_number;
    struct rib_rt imports[RI_CONFIG_RT_MAX];
    size_t imports_len;
    struct rib_rt exports[RI_CONFIG_RT_MAX];
    size_t exports_len;
};

/* Parses 'obj' into 'out'. LIB_EINVAL with a reason in 'err' when it has
 * no usable fq_name, a malformed target, or more than RI_CONFIG_RT_MAX. */
int ri_config_parse(const json_t *obj, struct ri_config *out, char *err, size_t err_size) STRATA_WARN_UNUSED;

struct ri_sync;

/* Applies configurations to 'rib' for a node with BGP identifier
 * 'router_id' (host order) in 'local_as'; membership routes are paths of
 * RIB source 'source'. RIB_ERR_NOMEM. */
int ri_sync_create(struct rib *rib, uint32_t source, uint32_t router_id, uint32_t local_as,
                   struct ri_sync **out) STRATA_WARN_UNUSED;
/* Withdraws its membership routes and frees it (NULL is a no-op); the
 * instances keep their configuration. */
void ri_sync_free(struct ri_sync *s);

/* Brings the RIB to 'instances' (a JSON array of routing-instance
 * objects): creates and configures instances, updates membership routes,
 * takes instances no longer listed out of the VPN. Objects that do not
 * parse are skipped and counted in '*skipped' (may be NULL). Returns 0 or
 * the first RIB error (RIB_ERR_NOMEM, RIB_ERR_LIMIT); call rib_flush()
 * (or kick the speaker) afterwards. */
int ri_sync_apply(struct ri_sync *s, json_t *instances, size_t *skipped) STRATA_WARN_UNUSED;

/* How many instances it has configured into the VPN, and membership
 * routes it originates. */
size_t ri_sync_instances(const struct ri_sync *s);
size_t ri_sync_memberships(const struct ri_sync *s);

#endif

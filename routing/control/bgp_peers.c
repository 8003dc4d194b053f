/* bgp-router objects -> one node's BGP sessions: see bgp_peers.h. */
#include "routing/control/bgp_peers.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *params(json_t *router)
{
    return json_object_get(router, "bgp_router_parameters");
}

static bool admin_down(json_t *o)
{
    return json_is_true(json_object_get(o, "admin_down"));
}

/* The last element of the object's fq_name. */
static const char *leaf_name(json_t *router)
{
    json_t *fq = json_object_get(router, "fq_name");
    size_t n = json_array_size(fq);
    return n ? json_string_value(json_array_get(fq, n - 1)) : NULL;
}

/* BGP families of an AddressFamilies value (NULL: the default set). */
static uint32_t families_of(json_t *af)
{
    json_t *list = json_object_get(af, "family");
    if (!json_is_array(list) || json_array_size(list) == 0) {
        return BGP_FAM_BIT(BGP_FAM_VPNV4) | BGP_FAM_BIT(BGP_FAM_VPNV6) | BGP_FAM_BIT(BGP_FAM_EVPN) |
               BGP_FAM_BIT(BGP_FAM_RTC);
    }
    static const struct {
        const char *name;
        enum bgp_family f;
    } map[] = {{"inet", BGP_FAM_IPV4_UNICAST}, {"inet6", BGP_FAM_IPV6_UNICAST}, {"inet-vpn", BGP_FAM_VPNV4},
               {"inet6-vpn", BGP_FAM_VPNV6},   {"e-vpn", BGP_FAM_EVPN},         {"route-target", BGP_FAM_RTC}};
    uint32_t out = 0;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *name = json_string_value(v);
        for (size_t k = 0; name && k < sizeof map / sizeof map[0]; k++) {
            if (strcmp(name, map[k].name) == 0) {
                out |= BGP_FAM_BIT(map[k].f);
            }
        }
    }
    return out;
}

static const char *md5_key(json_t *auth)
{
    json_t *items = json_object_get(auth, "key_items");
    return json_array_size(items) ? str(json_array_get(items, 0), "key") : NULL;
}

/* The session attributes of the link between 'a' and 'b' (either way), or
 * NULL; '*linked' says whether there is a link at all. */
static json_t *link_attrs(json_t *a, json_t *b, bool *linked)
{
    const char *ub = str(b, "uuid"), *ua = str(a, "uuid");
    json_t *pairs[2][2] = {{a, b}, {b, a}};
    const char *targets[2] = {ub, ua};
    *linked = false;
    for (int d = 0; d < 2; d++) {
        size_t i;
        json_t *ref;
        json_array_foreach(json_object_get(pairs[d][0], "bgp_router_refs"), i, ref) {
            const char *u = str(ref, "uuid");
            if (!u || !targets[d] || strcmp(u, targets[d]) != 0) {
                continue;
            }
            *linked = true;
            json_t *sessions = json_object_get(json_object_get(ref, "attr"), "session");
            json_t *attrs = json_object_get(json_array_get(sessions, 0), "attributes");
            return json_array_get(attrs, 0);
        }
    }
    return NULL;
}

int bgp_peers_plan(json_t *routers, const char *node_name, uint32_t cluster_as, struct bgp_peers_plan *plan,
                   char *err, size_t err_size)
{
    memset(plan, 0, sizeof *plan);
    json_t *local = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(routers, i, r) {
        const char *name = leaf_name(r);
        const char *addr = str(params(r), "address");
        if ((name && strcmp(name, node_name) == 0) || (addr && strcmp(addr, node_name) == 0)) {
            local = r;
            break;
        }
    }
    if (!local) {
        snprintf(err, err_size, "no bgp-router object for this node (%s)", node_name);
        return LIB_EINVAL;
    }
    json_t *lp = params(local);
    const char *laddr = str(lp, "address");
    const char *lid = str(lp, "identifier");
    struct in_addr id;
    if (!laddr || strlen(laddr) >= sizeof plan->local.listen) {
        snprintf(err, err_size, "bgp-router %s has no address", node_name);
        return LIB_EINVAL;
    }
    if (inet_pton(AF_INET, lid ? lid : laddr, &id) != 1) {
        snprintf(err, err_size, "bgp-router %s needs an IPv4 identifier (or IPv4 address)", node_name);
        return LIB_EINVAL;
    }
    json_int_t las = json_integer_value(json_object_get(lp, "autonomous_system"));
    plan->local.local_as = las > 0 ? (uint32_t)las : cluster_as;
    plan->local.router_id = ntohl(id.s_addr);
    snprintf(plan->local.listen, sizeof plan->local.listen, "%s", laddr);
    plan->local.port = (uint16_t)json_integer_value(json_object_get(lp, "port"));
    if (plan->local.local_as == 0) {
        snprintf(err, err_size, "no autonomous system for %s (router or global-system-config)", node_name);
        return LIB_EINVAL;
    }
    bool local_ctl = !str(lp, "router_type") || strcmp(str(lp, "router_type"), "control-node") == 0;
    uint32_t lfam = families_of(json_object_get(lp, "address_families"));
    json_array_foreach(routers, i, r) {
        if (r == local) {
            continue;
        }
        json_t *rp = params(r);
        const char *rtype = str(rp, "router_type");
        bool linked;
        json_t *sa = link_attrs(local, r, &linked);
        bool mesh = local_ctl && (!rtype || strcmp(rtype, "control-node") == 0);
        if ((!linked && !mesh) || admin_down(rp) || admin_down(lp) || (sa && admin_down(sa))) {
            continue;
        }
        const char *raddr = str(rp, "address");
        if (!raddr || strlen(raddr) >= sizeof plan->peers[0].address) {
            continue; /* a router without an address cannot be reached */
        }
        if (plan->count == BGP_PEERS_MAX) {
            snprintf(err, err_size, "more than %d BGP peers", BGP_PEERS_MAX);
            return LIB_EINVAL;
        }
        struct speaker_peer_config *pc = &plan->peers[plan->count++];
        const char *rname = leaf_name(r);
        snprintf(pc->name, sizeof pc->name, "%s", rname ? rname : raddr);
        snprintf(pc->address, sizeof pc->address, "%s", raddr);
        pc->port = (uint16_t)json_integer_value(json_object_get(rp, "port"));
        json_int_t ras = json_integer_value(json_object_get(rp, "autonomous_system"));
        pc->peer_as = ras > 0 ? (uint32_t)ras : cluster_as;
        uint32_t rfam = families_of(json_object_get(rp, "address_families"));
        uint32_t sfam = sa && json_object_get(sa, "address_families") ? families_of(json_object_get(sa, "address_families"))
                                                                      : BGP_FAM_ALL;
        pc->families = lfam & rfam & sfam;
        json_int_t hold = sa ? json_integer_value(json_object_get(sa, "hold_time")) : 0;
        if (hold <= 0) {
            hold = json_integer_value(json_object_get(lp, "hold_time"));
        }
        pc->hold_time = (uint16_t)(hold > 0 && hold <= 65535 ? hold : 0);
        pc->passive = sa && json_is_true(json_object_get(sa, "passive"));
        const char *key = sa ? md5_key(json_object_get(sa, "auth_data")) : NULL;
        if (!key) {
            key = md5_key(json_object_get(rp, "auth_data"));
        }
        if (!key) {
            key = md5_key(json_object_get(lp, "auth_data"));
        }
        if (key && strlen(key) <= SPEAKER_PASSWORD_MAX) {
            snprintf(pc->password, sizeof pc->password, "%s", key);
        }
        if (pc->peer_as == 0) {
            snprintf(err, err_size, "no autonomous system for peer %s", pc->name);
            return LIB_EINVAL;
        }
    }
    return 0;
}

void bgp_peers_gr_defaults(struct bgp_peers_gr *gr)
{
    *gr = (struct bgp_peers_gr){.gr = true, .restart_time = BGP_PEERS_GR_DEFAULT_RESTART,
                                .bgp_helper = true, .xmpp_helper = true,
                                .xmpp_stale_ms = BGP_PEERS_GR_DEFAULT_STALE_MS,
                                .eor_timeout_ms = BGP_PEERS_GR_DEFAULT_EOR_MS};
}

static bool gr_flag(const json_t *p, const char *key)
{
    const json_t *v = json_object_get(p, key);
    return json_is_boolean(v) ? json_is_true(v) : true;
}

/* A time field in seconds within 0..'max' (else the compiler's 300). */
static uint32_t gr_secs(const json_t *p, const char *key, json_int_t max)
{
    const json_t *v = json_object_get(p, key);
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
    return n >= 0 && n <= max ? (uint32_t)n : 300u;
}

void bgp_peers_gr_from(const json_t *egc, struct bgp_peers_gr *gr)
{
    bgp_peers_gr_defaults(gr);
    if (!egc) {
        return;
    }
    const json_t *p = json_object_get(egc, "graceful_restart_parameters");
    bool enable = gr_flag(p, "enable");
    uint32_t restart = gr_secs(p, "restart_time", 4095);
    uint32_t llgr = gr_secs(p, "long_lived_restart_time", 16777215);
    uint32_t eor = gr_secs(p, "end_of_rib_timeout", 4095);
    gr->gr = enable && restart > 0;
    gr->restart_time = (uint16_t)(gr->gr ? restart : 0);
    gr->llgr = gr->gr && llgr > 0;
    gr->llgr_stale_time = gr->llgr ? llgr : 0;
    gr->bgp_helper = enable && gr_flag(p, "bgp_helper_enable");
    gr->xmpp_helper = enable && gr_flag(p, "xmpp_helper_enable");
    gr->xmpp_stale_ms = gr->xmpp_helper ? ((uint64_t)restart + (gr->llgr ? llgr : 0)) * 1000u : 0;
    gr->eor_timeout_ms = (uint64_t)eor * 1000u;
}

bool bgp_peers_gr_differ(const struct bgp_peers_gr *a, const struct bgp_peers_gr *b)
{
    return a->gr != b->gr || a->restart_time != b->restart_time || a->llgr != b->llgr ||
           a->llgr_stale_time != b->llgr_stale_time || a->bgp_helper != b->bgp_helper ||
           a->xmpp_helper != b->xmpp_helper || a->xmpp_stale_ms != b->xmpp_stale_ms ||
           a->eor_timeout_ms != b->eor_timeout_ms;
}

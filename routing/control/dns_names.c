/* Instance names for agents' DNS proxies, answered from the
 * virtual-router-index objects (dns_names.h has the rules). */
#include <arpa/inet.h>
#include <string.h>

#include "routing/control/dns_names.h"

/* The first IPv4 of an interface entry, in network order; false if none. */
static bool first_ip4(const json_t *ifc, uint32_t *ip4)
{
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(ifc, "instance_ip_addresses"), i, a) {
        const char *s = json_string_value(a);
        if (s && inet_pton(AF_INET, s, ip4) == 1) {
            return true;
        }
    }
    return false;
}

/* Whether an interface entry lists 'ip4' (network order) among its addresses. */
static bool has_ip4(const json_t *ifc, uint32_t ip4)
{
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(ifc, "instance_ip_addresses"), i, a) {
        uint32_t v;
        const char *s = json_string_value(a);
        if (s && inet_pton(AF_INET, s, &v) == 1 && v == ip4) {
            return true;
        }
    }
    return false;
}

/* The interface entries of an index object. */
static const json_t *interfaces(const json_t *index)
{
    return json_object_get(json_object_get(index, "virtual_router_index"), "interfaces");
}

/* The virtual network of interface 'uuid' in 'agent''s own index, or NULL. */
static const char *asking_network(const json_t *indexes, const char *agent, const char *uuid)
{
    size_t i;
    const json_t *ifc;
    json_array_foreach(interfaces(json_object_get(indexes, agent)), i, ifc) {
        const char *u = json_string_value(json_object_get(ifc, "uuid"));
        if (u && strcmp(u, uuid) == 0) {
            return json_string_value(json_object_get(ifc, "virtual_network"));
        }
    }
    return NULL;
}

void dnsn_resolve(const json_t *indexes, const char *agent, const struct xmpp_dns *q, struct xmpp_dns *a)
{
    *a = *q;
    a->found = false;
    a->ttl = DNSN_TTL_MISSING;
    bool by_name = q->name[0] != '\0', by_addr = q->address.version == 4;
    const char *vn = indexes && agent ? asking_network(indexes, agent, q->interface) : NULL;
    if (vn == NULL || by_name == by_addr || (by_name && strchr(q->name, '.') != NULL)) {
        return;
    }
    uint32_t want = 0, best = 0;
    memcpy(&want, q->address.addr, 4);
    char best_name[XMPP_DNS_NAME_MAX] = "";
    const char *router;
    const json_t *index;
    json_object_foreach((json_t *)indexes, router, index) {
        size_t i;
        const json_t *ifc;
        json_array_foreach(interfaces(index), i, ifc) {
            const char *ivn = json_string_value(json_object_get(ifc, "virtual_network"));
            char name[XMPP_DNS_NAME_MAX];
            uint32_t ip4;
            if (!ivn || strcmp(ivn, vn) != 0 ||
                !xmpp_dns_instance_name(json_string_value(json_object_get(ifc, "virtual_machine")), name, sizeof name) ||
                !first_ip4(ifc, &ip4)) {
                continue;
            }
            if (by_name ? strcmp(name, q->name) != 0 : !has_ip4(ifc, want)) {
                continue;
            }
            if (by_addr) {
                ip4 = want;
            }
            if (!a->found || ntohl(ip4) < ntohl(best) || (ip4 == best && strcmp(name, best_name) < 0)) {
                a->found = true;
                best = ip4;
                memcpy(best_name, name, sizeof name);
            }
        }
    }
    if (a->found) {
        a->ttl = DNSN_TTL_FOUND;
        memcpy(a->name, best_name, sizeof a->name);
        memset(&a->address, 0, sizeof a->address);
        a->address.version = 4;
        memcpy(a->address.addr, &best, 4);
    }
}

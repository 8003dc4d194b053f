/* The Contrail stanza codec (see xmpp_stanza.h). Decoding walks the element
 * tree the stream parser built, which libxml2 has already checked for
 * well-formedness and UTF-8; every value is then checked here (numbers are
 * strict decimal with range checks, addresses go through inet_pton, names
 * have length and character rules). Encoding writes XML text through
 * xmpp_xml_escape() and first runs the same checks the decoder applies, so
 * whatever it writes decodes back to the same stanza. */
#include "routing/xmpp/xmpp_stanza.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Small value parsers */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copies 's' without surrounding XML whitespace into 'out' (size 'size').
 * XMPP_ERR_NAME when it does not fit. */
static int trimmed(const char *s, char *out, size_t size)
{
    while (*s && is_space(*s)) {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1])) {
        n--;
    }
    if (n >= size) {
        return XMPP_ERR_NAME;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* Strict unsigned decimal (surrounding whitespace allowed) <= 'max'. */
static int parse_u32(const char *s, uint32_t max, uint32_t *v)
{
    char t[16];
    if (trimmed(s, t, sizeof t) != 0 || t[0] == '\0') {
        return XMPP_ERR_RANGE;
    }
    uint64_t acc = 0;
    for (const char *p = t; *p; p++) {
        if (*p < '0' || *p > '9') {
            return XMPP_ERR_RANGE;
        }
        acc = acc * 10 + (uint64_t)(*p - '0');
        if (acc > max) {
            return XMPP_ERR_RANGE;
        }
    }
    *v = (uint32_t)acc;
    return 0;
}

/* 1..16 hex digits (surrounding space allowed). */
static int parse_hex64(const char *s, uint64_t *v)
{
    char t[24];
    if (trimmed(s, t, sizeof t) != 0 || t[0] == '\0' || strlen(t) > 16) {
        return XMPP_ERR_RANGE;
    }
    uint64_t x = 0;
    for (const char *p = t; *p; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : -1;
        if (d < 0) {
            return XMPP_ERR_RANGE;
        }
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return 0;
}

static void format_hex64(char out[17], uint64_t v)
{
    snprintf(out, 17, "%016llx", (unsigned long long)v);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    char t[32];
    if (trimmed(s, t, sizeof t) != 0 || strlen(t) != 17) {
        return XMPP_ERR_ADDR;
    }
    for (int i = 0; i < 6; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = t[3 * i + k];
            unsigned d;
            if (c >= '0' && c <= '9') {
                d = (unsigned)(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                d = (unsigned)(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                d = (unsigned)(c - 'A' + 10);
            } else {
                return XMPP_ERR_ADDR;
            }
            v = v * 16 + d;
        }
        if (i < 5 && t[3 * i + 2] != ':') {
            return XMPP_ERR_ADDR;
        }
        mac[i] = (uint8_t)v;
    }
    return 0;
}

static void format_mac(char out[18], const uint8_t mac[6])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* 'want': 0 any, 4 or 6. */
static int parse_ip(const char *s, unsigned want, struct xmpp_ip *ip)
{
    char t[64];
    if (trimmed(s, t, sizeof t) != 0) {
        return XMPP_ERR_ADDR;
    }
    memset(ip, 0, sizeof *ip);
    if ((want == 0 || want == 4) && inet_pton(AF_INET, t, ip->addr) == 1) {
        ip->version = 4;
        return 0;
    }
    if ((want == 0 || want == 6) && strchr(t, ':') && inet_pton(AF_INET6, t, ip->addr) == 1) {
        ip->version = 6;
        return 0;
    }
    memset(ip, 0, sizeof *ip);
    return XMPP_ERR_ADDR;
}

static int format_ip(char *out, size_t size, const struct xmpp_ip *ip)
{
    int af = ip->version == 4 ? AF_INET : ip->version == 6 ? AF_INET6 : -1;
    if (af < 0 || inet_ntop(af, ip->addr, out, (socklen_t)size) == NULL) {
        return XMPP_ERR_ADDR;
    }
    return 0;
}

/* True when no bit beyond 'plen' is set and the unused bytes are zero. */
static bool prefix_clean(const struct xmpp_ip *ip, unsigned plen)
{
    unsigned bytes = ip->version == 4 ? 4 : 16;
    if (plen > bytes * 8) {
        return false;
    }
    for (unsigned i = 0; i < 16; i++) {
        unsigned bit0 = i * 8;
        uint8_t mask;
        if (i >= bytes || bit0 >= plen) {
            mask = 0xff;
        } else if (bit0 + 8 <= plen) {
            mask = 0;
        } else {
            mask = (uint8_t)(0xff >> (plen - bit0));
        }
        if (ip->addr[i] & mask) {
            return false;
        }
    }
    return true;
}

/* "ADDR/PLEN" with a version matching 'want' (0: any); host bits must be
 * clear. */
static int parse_prefix(const char *s, unsigned want, struct xmpp_ip *ip, uint8_t *plen)
{
    char t[80];
    if (trimmed(s, t, sizeof t) != 0) {
        return XMPP_ERR_ADDR;
    }
    char *slash = strchr(t, '/');
    if (slash == NULL) {
        return XMPP_ERR_ADDR;
    }
    *slash = '\0';
    uint32_t len;
    if (parse_ip(t, want, ip) != 0 || parse_u32(slash + 1, ip->version == 4 ? 32 : 128, &len) != 0 ||
        slash[1] == ' ' || !prefix_clean(ip, len)) {
        memset(ip, 0, sizeof *ip);
        return XMPP_ERR_ADDR;
    }
    *plen = (uint8_t)len;
    return 0;
}

static int format_prefix(char *out, size_t size, const struct xmpp_ip *ip, uint8_t plen)
{
    char a[INET6_ADDRSTRLEN];
    if (format_ip(a, sizeof a, ip) != 0 || !prefix_clean(ip, plen)) {
        return XMPP_ERR_ADDR;
    }
    if ((size_t)snprintf(out, size, "%s/%u", a, plen) >= size) {
        return XMPP_ERR_RANGE;
    }
    return 0;
}

/* Routing instance and network names: 1..XMPP_NAME_MAX-1 bytes, no '/',
 * no control characters (the stream parser guarantees UTF-8). */
static int check_instance(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= XMPP_NAME_MAX || strchr(s, '/')) {
        return XMPP_ERR_NAME;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return XMPP_ERR_NAME;
        }
    }
    return 0;
}

/* Object names: like instance names but '/' allowed. */
static int check_object_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= XMPP_NAME_MAX) {
        return XMPP_ERR_NAME;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return XMPP_ERR_NAME;
        }
    }
    return 0;
}

/* Config types, property names: [A-Za-z0-9_-], starting with a letter or
 * '_', 1..XMPP_TYPE_MAX-1 bytes (so they are element names too). */
static int check_type(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= XMPP_TYPE_MAX) {
        return XMPP_ERR_NAME;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool ok = alpha || (i > 0 && ((c >= '0' && c <= '9') || c == '-'));
        if (!ok) {
            return XMPP_ERR_NAME;
        }
    }
    return 0;
}

static int copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) {
        return XMPP_ERR_NAME;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Families, keys and nodes */

static const struct {
    enum xmpp_family family;
    unsigned afi, safi;
} families[] = {
    {XMPP_FAMILY_INET, 1, 1},
    {XMPP_FAMILY_INET6, 2, 1},
    {XMPP_FAMILY_EVPN, 25, 242},
};

void xmpp_family_afi_safi(enum xmpp_family family, unsigned *afi, unsigned *safi)
{
    *afi = 0;
    *safi = 0;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        if (families[i].family == family) {
            *afi = families[i].afi;
            *safi = families[i].safi;
        }
    }
}

static enum xmpp_family family_of(uint32_t afi, uint32_t safi)
{
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        if (families[i].afi == afi && families[i].safi == safi) {
            return families[i].family;
        }
    }
    return XMPP_FAMILY_NONE;
}

static unsigned family_ip_version(enum xmpp_family f)
{
    return f == XMPP_FAMILY_INET ? 4 : f == XMPP_FAMILY_INET6 ? 6 : 0;
}

int xmpp_route_key_format(char *out, size_t size, enum xmpp_family family, const struct xmpp_route_key *key)
{
    if (family == XMPP_FAMILY_INET || family == XMPP_FAMILY_INET6) {
        if (key->prefix.version != family_ip_version(family)) {
            return XMPP_ERR_ADDR;
        }
        return format_prefix(out, size, &key->prefix, key->plen);
    }
    if (family != XMPP_FAMILY_EVPN) {
        return XMPP_ERR_RANGE;
    }
    char mac[18];
    format_mac(mac, key->mac);
    int n = snprintf(out, size, "%u-%s", (unsigned)key->ethernet_tag, mac);
    if (n < 0 || (size_t)n >= size) {
        return XMPP_ERR_RANGE;
    }
    if (key->prefix.version == 0) {
        return key->plen == 0 ? 0 : XMPP_ERR_ADDR;
    }
    if (size - (size_t)n < 2) {
        return XMPP_ERR_RANGE;
    }
    out[n] = ',';
    return format_prefix(out + n + 1, size - (size_t)n - 1, &key->prefix, key->plen);
}

int xmpp_route_key_parse(const char *s, enum xmpp_family family, struct xmpp_route_key *key)
{
    memset(key, 0, sizeof *key);
    if (family == XMPP_FAMILY_INET || family == XMPP_FAMILY_INET6) {
        return parse_prefix(s, family_ip_version(family), &key->prefix, &key->plen);
    }
    if (family != XMPP_FAMILY_EVPN) {
        return XMPP_ERR_ADDR;
    }
    char t[128];
    if (copy_str(t, sizeof t, s) != 0) {
        return XMPP_ERR_ADDR;
    }
    char *dash = strchr(t, '-');
    if (dash == NULL) {
        return XMPP_ERR_ADDR;
    }
    *dash = '\0';
    char *comma = strchr(dash + 1, ',');
    if (comma) {
        *comma = '\0';
    }
    int rc;
    if (parse_u32(t, UINT32_MAX, &key->ethernet_tag) != 0 || t[0] == ' ' || parse_mac(dash + 1, key->mac) != 0 ||
        dash[1] == ' ') {
        rc = XMPP_ERR_ADDR;
    } else {
        rc = comma ? parse_prefix(comma + 1, 0, &key->prefix, &key->plen) : 0;
    }
    if (rc != 0) {
        memset(key, 0, sizeof *key);
        return XMPP_ERR_ADDR;
    }
    return 0;
}

/* Splits "AFI/SAFI/INSTANCE[/ID]". 'id' is NULL when the node must not
 * carry an item id. */
static int node_parse(const char *node, enum xmpp_family *family, char instance[XMPP_NAME_MAX],
                      struct xmpp_route_key *key)
{
    const char *s1 = strchr(node, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (s2 == NULL) {
        return XMPP_ERR_NAME;
    }
    char num[16];
    uint32_t afi, safi;
    size_t n1 = (size_t)(s1 - node), n2 = (size_t)(s2 - s1 - 1);
    if (n1 == 0 || n1 >= sizeof num || n2 == 0 || n2 >= sizeof num) {
        return XMPP_ERR_NAME;
    }
    memcpy(num, node, n1);
    num[n1] = '\0';
    if (parse_u32(num, 65535, &afi) != 0 || num[0] == ' ') {
        return XMPP_ERR_NAME;
    }
    memcpy(num, s1 + 1, n2);
    num[n2] = '\0';
    if (parse_u32(num, 255, &safi) != 0 || num[0] == ' ') {
        return XMPP_ERR_NAME;
    }
    *family = family_of(afi, safi);
    if (*family == XMPP_FAMILY_NONE) {
        return XMPP_ERR_RANGE;
    }
    const char *ri = s2 + 1;
    const char *s3 = strchr(ri, '/');
    size_t rlen = s3 ? (size_t)(s3 - ri) : strlen(ri);
    if ((key == NULL) != (s3 == NULL) || rlen == 0 || rlen >= XMPP_NAME_MAX) {
        return XMPP_ERR_NAME;
    }
    memcpy(instance, ri, rlen);
    instance[rlen] = '\0';
    int rc = check_instance(instance);
    if (rc == 0 && key) {
        rc = xmpp_route_key_parse(s3 + 1, *family, key);
    }
    return rc;
}

static int node_format(char *out, size_t size, enum xmpp_family family, const char *instance,
                       const struct xmpp_route_key *key)
{
    unsigned afi, safi;
    xmpp_family_afi_safi(family, &afi, &safi);
    if (afi == 0) {
        return XMPP_ERR_RANGE;
    }
    int rc = check_instance(instance);
    if (rc != 0) {
        return rc;
    }
    int n = snprintf(out, size, "%u/%u/%s", afi, safi, instance);
    if (n < 0 || (size_t)n >= size) {
        return XMPP_ERR_RANGE;
    }
    if (key == NULL) {
        return 0;
    }
    if (size - (size_t)n < 2) {
        return XMPP_ERR_RANGE;
    }
    out[n] = '/';
    return xmpp_route_key_format(out + n + 1, size - (size_t)n - 1, family, key);
}

/* ------------------------------------------------------------------ */
/* Decoding */

static const char *const encap_names[] = {"gre", "udp", "vxlan"};
static const char *const lb_names[] = {"l2-source-address", "l2-destination-address", "l3-source-address",
                                       "l3-destination-address", "l4-protocol", "l4-source-port",
                                       "l4-destination-port"};

static const struct xmpp_elem *child(const struct xmpp_elem *e, const char *name)
{
    return xmpp_elem_child(e, name, NULL);
}

static bool named(const struct xmpp_elem *e, const char *name)
{
    return strcmp(e->name, name) == 0;
}

/* The u32 text of child 'name' into '*v' when present ('*has' true). */
static int opt_u32(const struct xmpp_elem *e, const char *name, uint32_t max, bool *has, uint32_t *v)
{
    const struct xmpp_elem *c = child(e, name);
    *has = c != NULL;
    return c ? parse_u32(xmpp_elem_text(c), max, v) : 0;
}

static int decode_nexthop(const struct xmpp_elem *e, struct xmpp_nexthop *nh)
{
    memset(nh, 0, sizeof *nh);
    const struct xmpp_elem *af = child(e, "af");
    const struct xmpp_elem *addr = child(e, "address");
    uint32_t afv;
    if (af == NULL || addr == NULL) {
        return XMPP_ERR_DECODE;
    }
    int rc = parse_u32(xmpp_elem_text(af), 2, &afv);
    if (rc != 0 || afv == 0) {
        return XMPP_ERR_RANGE;
    }
    if ((rc = parse_ip(xmpp_elem_text(addr), afv == 1 ? 4 : 6, &nh->address)) != 0) {
        return rc;
    }
    const struct xmpp_elem *mac = child(e, "mac");
    if (mac) {
        nh->has_mac = true;
        if ((rc = parse_mac(xmpp_elem_text(mac), nh->mac)) != 0) {
            return rc;
        }
    }
    bool has_label;
    if ((rc = opt_u32(e, "label", XMPP_LABEL_MAX, &has_label, &nh->label)) != 0 ||
        (rc = opt_u32(e, "l3-label", XMPP_LABEL_MAX, &nh->has_l3_label, &nh->l3_label)) != 0 ||
        (rc = opt_u32(e, "vni", XMPP_VNI_MAX, &nh->has_vni, &nh->vni)) != 0) {
        return rc;
    }
    const struct xmpp_elem *tl = child(e, "tunnel-encapsulation-list");
    for (const struct xmpp_elem *t = tl ? tl->first_child : NULL; t; t = t->next) {
        if (!named(t, "tunnel-encapsulation")) {
            continue;
        }
        char v[16];
        if (trimmed(xmpp_elem_text(t), v, sizeof v) != 0) {
            return XMPP_ERR_RANGE;
        }
        unsigned bit = 0;
        for (unsigned i = 0; i < 3; i++) {
            if (strcmp(v, encap_names[i]) == 0) {
                bit = 1u << i;
            }
        }
        if (bit == 0) {
            return XMPP_ERR_RANGE;
        }
        nh->encaps |= bit;
    }
    if (nh->encaps == 0) {
        nh->encaps = XMPP_ENCAP_GRE;
    }
    return 0;
}

static int decode_entry(const struct xmpp_elem *e, enum xmpp_family family, struct xmpp_route_entry *r)
{
    memset(r, 0, sizeof *r);
    if (!named(e, "entry")) {
        return XMPP_ERR_DECODE;
    }
    const struct xmpp_elem *nlri = child(e, "nlri");
    if (nlri == NULL) {
        return XMPP_ERR_DECODE;
    }
    const struct xmpp_elem *af = child(nlri, "af");
    const struct xmpp_elem *safi = child(nlri, "safi");
    uint32_t afv, safiv = 0;
    int rc;
    if (af == NULL || parse_u32(xmpp_elem_text(af), 65535, &afv) != 0) {
        return XMPP_ERR_DECODE;
    }
    if (safi) {
        if ((rc = parse_u32(xmpp_elem_text(safi), 255, &safiv)) != 0) {
            return rc;
        }
    } else {
        safiv = afv == 25 ? 242 : 1;
    }
    r->family = family_of(afv, safiv);
    if (r->family == XMPP_FAMILY_NONE || r->family != family) {
        return XMPP_ERR_RANGE;
    }
    const struct xmpp_elem *addr = child(nlri, "address");
    if (family == XMPP_FAMILY_EVPN) {
        const struct xmpp_elem *mac = child(nlri, "mac");
        bool has_tag;
        if (mac == NULL) {
            return XMPP_ERR_DECODE;
        }
        if ((rc = parse_mac(xmpp_elem_text(mac), r->key.mac)) != 0 ||
            (rc = opt_u32(nlri, "ethernet-tag", UINT32_MAX, &has_tag, &r->key.ethernet_tag)) != 0) {
            return rc;
        }
        if (addr && (rc = parse_prefix(xmpp_elem_text(addr), 0, &r->key.prefix, &r->key.plen)) != 0) {
            return rc;
        }
    } else {
        if (addr == NULL) {
            return XMPP_ERR_DECODE;
        }
        if ((rc = parse_prefix(xmpp_elem_text(addr), family_ip_version(family), &r->key.prefix, &r->key.plen)) !=
            0) {
            return rc;
        }
    }
    const struct xmpp_elem *nhs = child(e, "next-hops");
    for (const struct xmpp_elem *n = nhs ? nhs->first_child : NULL; n; n = n->next) {
        if (!named(n, "next-hop")) {
            continue;
        }
        if (r->next_hop_count == XMPP_MAX_NEXTHOPS) {
            return XMPP_ERR_TOOMANY;
        }
        if ((rc = decode_nexthop(n, &r->next_hops[r->next_hop_count])) != 0) {
            return rc;
        }
        r->next_hop_count++;
    }
    if (r->next_hop_count == 0) {
        return XMPP_ERR_DECODE;
    }
    const struct xmpp_elem *vn = child(e, "virtual-network");
    if (vn) {
        if ((rc = trimmed(xmpp_elem_text(vn), r->virtual_network, sizeof r->virtual_network)) != 0) {
            return rc;
        }
        if (r->virtual_network[0] && (rc = check_object_name(r->virtual_network)) != 0) {
            return rc;
        }
    }
    bool has;
    if ((rc = opt_u32(e, "sequence-number", UINT32_MAX, &has, &r->sequence_number)) != 0 ||
        (rc = opt_u32(e, "local-preference", UINT32_MAX, &r->has_local_preference, &r->local_preference)) != 0 ||
        (rc = opt_u32(e, "med", UINT32_MAX, &r->has_med, &r->med)) != 0) {
        return rc;
    }
    const struct xmpp_elem *sgl = child(e, "security-group-list");
    for (const struct xmpp_elem *g = sgl ? sgl->first_child : NULL; g; g = g->next) {
        if (!named(g, "security-group")) {
            continue;
        }
        if (r->security_group_count == XMPP_MAX_SECURITY_GROUPS) {
            return XMPP_ERR_TOOMANY;
        }
        if ((rc = parse_u32(xmpp_elem_text(g), UINT32_MAX, &r->security_groups[r->security_group_count])) != 0) {
            return rc;
        }
        r->security_group_count++;
    }
    const struct xmpp_elem *lb = child(e, "load-balance");
    if (lb) {
        r->has_load_balance = true;
        const struct xmpp_elem *dec = child(lb, "load-balance-decision");
        char v[32];
        if (dec && (trimmed(xmpp_elem_text(dec), v, sizeof v) != 0 || strcmp(v, "field-hash") != 0)) {
            return XMPP_ERR_RANGE;
        }
        const struct xmpp_elem *fields = child(lb, "load-balance-fields");
        for (const struct xmpp_elem *f = fields ? fields->first_child : NULL; f; f = f->next) {
            if (!named(f, "load-balance-field-list")) {
                continue;
            }
            if (trimmed(xmpp_elem_text(f), v, sizeof v) != 0) {
                return XMPP_ERR_RANGE;
            }
            unsigned bit = 0;
            for (unsigned i = 0; i < sizeof lb_names / sizeof lb_names[0]; i++) {
                if (strcmp(v, lb_names[i]) == 0) {
                    bit = 1u << i;
                }
            }
            if (bit == 0) {
                return XMPP_ERR_RANGE;
            }
            r->load_balance |= bit;
        }
    }
    return 0;
}

static bool key_equal(enum xmpp_family f, const struct xmpp_route_key *a, const struct xmpp_route_key *b)
{
    return a->prefix.version == b->prefix.version && memcmp(a->prefix.addr, b->prefix.addr, 16) == 0 &&
           a->plen == b->plen && (f != XMPP_FAMILY_EVPN || (a->ethernet_tag == b->ethernet_tag &&
                                                             memcmp(a->mac, b->mac, 6) == 0));
}

/* <item> or <retract> of an <items node="AF/SAFI/RI"> list */
static int decode_items(const struct xmpp_elem *items, struct xmpp_stanza *st)
{
    const char *node = xmpp_elem_attr(items, "node");
    if (node == NULL) {
        return XMPP_ERR_DECODE;
    }
    if (strcmp(node, XMPP_EOR_NODE) == 0) {
        st->type = XMPP_STANZA_EOR_EVENT;
        return 0;
    }
    int rc = node_parse(node, &st->family, st->instance, NULL);
    if (rc != 0) {
        return rc;
    }
    st->type = XMPP_STANZA_ROUTES;
    size_t n = 0;
    for (const struct xmpp_elem *c = items->first_child; c; c = c->next) {
        n += named(c, "item") || named(c, "retract");
    }
    if (n > XMPP_MAX_ITEMS) {
        return XMPP_ERR_TOOMANY;
    }
    if (n == 0) {
        return 0;
    }
    st->items = calloc(n, sizeof *st->items);
    if (st->items == NULL) {
        return LIB_ENOMEM;
    }
    for (const struct xmpp_elem *c = items->first_child; c; c = c->next) {
        bool retract = named(c, "retract");
        if (!retract && !named(c, "item")) {
            continue;
        }
        struct xmpp_route_item *it = &st->items[st->item_count++];
        it->retract = retract;
        const char *id = xmpp_elem_attr(c, "id");
        struct xmpp_route_key key;
        if (id == NULL) {
            return XMPP_ERR_DECODE;
        }
        if ((rc = xmpp_route_key_parse(id, st->family, &key)) != 0) {
            return rc;
        }
        if (retract) {
            it->entry.family = st->family;
            it->entry.key = key;
            continue;
        }
        const struct xmpp_elem *entry = child(c, "entry");
        if (entry == NULL) {
            return XMPP_ERR_DECODE;
        }
        if ((rc = decode_entry(entry, st->family, &it->entry)) != 0) {
            return rc;
        }
        if (!key_equal(st->family, &key, &it->entry.key)) {
            return XMPP_ERR_DECODE;
        }
    }
    return 0;
}

static int decode_pubsub(const struct xmpp_elem *ps, struct xmpp_stanza *st)
{
    const struct xmpp_elem *op = ps->first_child;
    if (op == NULL) {
        return XMPP_ERR_DECODE;
    }
    const char *node = xmpp_elem_attr(op, "node");
    if (node == NULL) {
        return XMPP_ERR_DECODE;
    }
    int rc;
    if (named(op, "subscribe") || named(op, "unsubscribe")) {
        st->type = named(op, "subscribe") ? XMPP_STANZA_SUBSCRIBE : XMPP_STANZA_UNSUBSCRIBE;
        if ((rc = copy_str(st->instance, sizeof st->instance, node)) != 0 ||
            (rc = check_instance(st->instance)) != 0) {
            return rc;
        }
        if (st->type == XMPP_STANZA_SUBSCRIBE) {
            const struct xmpp_elem *opts = child(op, "options");
            const struct xmpp_elem *iid = child(opts, "instance-id");
            if (iid == NULL) {
                return XMPP_ERR_DECODE;
            }
            const struct xmpp_elem *dg = opts ? xmpp_elem_child(opts, "digest", XMPP_NS_RESUME) : NULL;
            if (dg && (rc = parse_hex64(xmpp_elem_text(dg), &st->digest)) != 0) {
                return rc;
            }
            st->has_digest = dg != NULL;
            return parse_u32(xmpp_elem_text(iid), UINT32_MAX, &st->instance_id);
        }
        return 0;
    }
    if (named(op, "publish")) {
        if (strcmp(node, XMPP_EOR_NODE) == 0) {
            st->type = XMPP_STANZA_EOR;
            return 0;
        }
        st->type = XMPP_STANZA_PUBLISH;
        struct xmpp_route_key key;
        if ((rc = node_parse(node, &st->family, st->instance, &key)) != 0) {
            return rc;
        }
        const struct xmpp_elem *entry = child(child(op, "item"), "entry");
        if (entry == NULL) {
            return XMPP_ERR_DECODE;
        }
        st->entry = calloc(1, sizeof *st->entry);
        if (st->entry == NULL) {
            return LIB_ENOMEM;
        }
        if ((rc = decode_entry(entry, st->family, st->entry)) != 0) {
            return rc;
        }
        if (!key_equal(st->family, &key, &st->entry->key)) {
            return XMPP_ERR_DECODE;
        }
        st->key = key;
        return 0;
    }
    if (named(op, "collection")) {
        const struct xmpp_elem *a = op->first_child;
        if (a == NULL || (!named(a, "associate") && !named(a, "dissociate"))) {
            return XMPP_ERR_DECODE;
        }
        st->type = named(a, "associate") ? XMPP_STANZA_ASSOCIATE : XMPP_STANZA_DISSOCIATE;
        const char *inner = xmpp_elem_attr(a, "node");
        if (inner == NULL) {
            return XMPP_ERR_DECODE;
        }
        if ((rc = node_parse(inner, &st->family, st->instance, &st->key)) != 0) {
            return rc;
        }
        return strcmp(node, st->instance) == 0 ? 0 : XMPP_ERR_DECODE;
    }
    return XMPP_ERR_UNSUPPORTED;
}

static int decode_config_node(const struct xmpp_elem *n, bool with_props, bool is_meta, struct xmpp_config_node *cn)
{
    const char *type = xmpp_elem_attr(n, "type");
    int rc;
    if (type == NULL) {
        return XMPP_ERR_DECODE;
    }
    if ((rc = copy_str(cn->type, sizeof cn->type, type)) != 0 || (rc = check_type(cn->type)) != 0) {
        return rc;
    }
    if (!is_meta) {
        const struct xmpp_elem *name = child(n, "name");
        if (name == NULL) {
            return XMPP_ERR_DECODE;
        }
        if ((rc = copy_str(cn->name, sizeof cn->name, xmpp_elem_text(name))) != 0 ||
            (rc = check_object_name(cn->name)) != 0) {
            return rc;
        }
    }
    size_t count = 0;
    for (const struct xmpp_elem *c = n->first_child; c; c = c->next) {
        count += is_meta || !named(c, "name");
    }
    if (count == 0) {
        return 0;
    }
    if (!with_props) {
        return XMPP_ERR_DECODE;
    }
    if (count > XMPP_MAX_PROPS) {
        return XMPP_ERR_TOOMANY;
    }
    cn->props = calloc(count, sizeof *cn->props);
    if (cn->props == NULL) {
        return LIB_ENOMEM;
    }
    for (const struct xmpp_elem *c = n->first_child; c; c = c->next) {
        if (!is_meta && named(c, "name")) {
            continue;
        }
        if (c->first_child) {
            return XMPP_ERR_DECODE; /* values are text */
        }
        if ((rc = check_type(c->name)) != 0) {
            return rc;
        }
        struct xmpp_config_prop *p = &cn->props[cn->prop_count++];
        p->name = strdup(c->name);
        p->value = strdup(xmpp_elem_text(c));
        if (p->name == NULL || p->value == NULL) {
            return LIB_ENOMEM;
        }
    }
    return 0;
}

static int decode_config(const struct xmpp_elem *cfg, struct xmpp_stanza *st)
{
    st->type = XMPP_STANZA_CONFIG;
    size_t count = 0;
    for (const struct xmpp_elem *op = cfg->first_child; op; op = op->next) {
        if (!named(op, "update") && !named(op, "delete")) {
            return XMPP_ERR_DECODE;
        }
        count += op->child_count;
    }
    if (count > XMPP_MAX_CONFIG_OBJS) {
        return XMPP_ERR_TOOMANY;
    }
    if (count == 0) {
        return 0;
    }
    st->objs = calloc(count, sizeof *st->objs);
    if (st->objs == NULL) {
        return LIB_ENOMEM;
    }
    int rc;
    for (const struct xmpp_elem *op = cfg->first_child; op; op = op->next) {
        for (const struct xmpp_elem *o = op->first_child; o; o = o->next) {
            struct xmpp_config_obj *obj = &st->objs[st->obj_count++];
            obj->op = named(op, "delete") ? XMPP_CONFIG_DELETE : XMPP_CONFIG_UPDATE;
            if (named(o, "node")) {
                if ((rc = decode_config_node(o, true, false, &obj->node)) != 0) {
                    return rc;
                }
                continue;
            }
            if (!named(o, "link")) {
                return XMPP_ERR_DECODE;
            }
            obj->is_link = true;
            const struct xmpp_elem *c = o->first_child;
            const struct xmpp_elem *l = c, *r = l ? l->next : NULL, *m = r ? r->next : NULL;
            if (m == NULL || m->next || !named(l, "node") || !named(r, "node") || !named(m, "metadata")) {
                return XMPP_ERR_DECODE;
            }
            if ((rc = decode_config_node(l, false, false, &obj->left)) != 0 ||
                (rc = decode_config_node(r, false, false, &obj->right)) != 0 ||
                (rc = decode_config_node(m, true, true, &obj->metadata)) != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int decode_dns(const struct xmpp_elem *dns, bool answer, struct xmpp_stanza *st);
static int held_attr(const struct xmpp_elem *e, const char *name, char *out, size_t size, bool is_type)
{
    const char *v = xmpp_elem_attr(e, name);
    int rc = v ? copy_str(out, size, v) : XMPP_ERR_DECODE;
    if (rc == 0) {
        rc = is_type ? check_type(out) : check_object_name(out);
    }
    return rc;
}

/* <held xmlns=RESUME><node type name hash/><link ltype lname rtype rname hash/>... */
static int decode_held(const struct xmpp_elem *h, struct xmpp_stanza *st)
{
    st->type = XMPP_STANZA_CONFIG_HELD;
    if (h->child_count > XMPP_MAX_HELD) {
        return XMPP_ERR_TOOMANY;
    }
    if (h->child_count == 0) {
        return 0;
    }
    st->held = calloc(h->child_count, sizeof *st->held);
    if (st->held == NULL) {
        return LIB_ENOMEM;
    }
    int rc = 0;
    for (const struct xmpp_elem *c = h->first_child; c && rc == 0; c = c->next) {
        struct xmpp_held_obj *o = &st->held[st->held_count++];
        const char *hash = xmpp_elem_attr(c, "hash");
        if (hash == NULL || c->first_child) {
            return XMPP_ERR_DECODE;
        }
        if (named(c, "node")) {
            if ((rc = held_attr(c, "type", o->type, sizeof o->type, true)) == 0) {
                rc = held_attr(c, "name", o->name, sizeof o->name, false);
            }
        } else if (named(c, "link")) {
            o->is_link = true;
            if ((rc = held_attr(c, "ltype", o->type, sizeof o->type, true)) == 0 &&
                (rc = held_attr(c, "lname", o->name, sizeof o->name, false)) == 0 &&
                (rc = held_attr(c, "rtype", o->rtype, sizeof o->rtype, true)) == 0) {
                rc = held_attr(c, "rname", o->rname, sizeof o->rname, false);
            }
        } else {
            return XMPP_ERR_DECODE;
        }
        if (rc == 0) {
            rc = parse_hex64(hash, &o->hash);
        }
    }
    return rc;
}

static int decode_iq(const struct xmpp_elem *e, struct xmpp_stanza *st)
{
    const char *type = xmpp_elem_attr(e, "type");
    if (type == NULL) {
        return XMPP_ERR_DECODE;
    }
    if (strcmp(type, "result") == 0) {
        const struct xmpp_elem *dns = xmpp_elem_child(e, "dns", XMPP_NS_DNS);
        if (dns) {
            return decode_dns(dns, true, st);
        }
        st->type = XMPP_STANZA_RESULT;
        return 0;
    }
    if (strcmp(type, "error") == 0) {
        st->type = XMPP_STANZA_ERROR;
        const struct xmpp_elem *err = child(e, "error");
        const char *etype = err ? xmpp_elem_attr(err, "type") : NULL;
        if (etype == NULL) {
            return XMPP_ERR_DECODE;
        }
        int rc = copy_str(st->error_type, sizeof st->error_type, etype);
        if (rc == 0) {
            rc = check_type(st->error_type);
        }
        const struct xmpp_elem *cond = NULL;
        for (const struct xmpp_elem *c = err->first_child; c && rc == 0; c = c->next) {
            if (c->ns && strcmp(c->ns, XMPP_NS_STANZAS) == 0 && strcmp(c->name, "text") != 0) {
                cond = c;
                break;
            }
        }
        if (rc == 0 && cond == NULL) {
            return XMPP_ERR_DECODE;
        }
        if (rc == 0 && (rc = copy_str(st->condition, sizeof st->condition, cond->name)) == 0) {
            rc = check_type(st->condition);
        }
        return rc;
    }
    const struct xmpp_elem *payload = e->first_child;
    if (strcmp(type, "get") == 0) {
        if (payload && named(payload, "ping") && payload->ns && strcmp(payload->ns, XMPP_NS_PING) == 0) {
            st->type = XMPP_STANZA_PING;
            return 0;
        }
        if (payload && named(payload, "dns") && payload->ns && strcmp(payload->ns, XMPP_NS_DNS) == 0) {
            return decode_dns(payload, false, st);
        }
        return XMPP_ERR_UNSUPPORTED;
    }
    if (strcmp(type, "set") != 0) {
        return XMPP_ERR_DECODE;
    }
    if (payload && named(payload, "pubsub") && payload->ns && strcmp(payload->ns, XMPP_NS_PUBSUB) == 0) {
        return decode_pubsub(payload, st);
    }
    if (payload && named(payload, "config")) {
        return decode_config(payload, st);
    }
    if (payload && named(payload, "held") && payload->ns && strcmp(payload->ns, XMPP_NS_RESUME) == 0) {
        return decode_held(payload, st);
    }
    return XMPP_ERR_UNSUPPORTED;
}

int xmpp_stanza_decode(const struct xmpp_elem *e, struct xmpp_stanza *st)
{
    memset(st, 0, sizeof *st);
    if (e->ns == NULL || (strcmp(e->ns, XMPP_NS_CLIENT) != 0 && strcmp(e->ns, XMPP_NS_SERVER) != 0)) {
        return XMPP_ERR_UNSUPPORTED;
    }
    const char *attrs[] = {"id", "from", "to"};
    char *dst[] = {st->id, st->from, st->to};
    size_t sizes[] = {sizeof st->id, sizeof st->from, sizeof st->to};
    for (size_t i = 0; i < 3; i++) {
        const char *v = xmpp_elem_attr(e, attrs[i]);
        int rc = v ? copy_str(dst[i], sizes[i], v) : 0;
        if (rc != 0) {
            return rc;
        }
    }
    if (named(e, "iq")) {
        return decode_iq(e, st);
    }
    if (named(e, "message")) {
        const struct xmpp_elem *sync = xmpp_elem_child(e, "in-sync", XMPP_NS_RESUME);
        if (sync) {
            const char *node = xmpp_elem_attr(sync, "node");
            int rc = node ? copy_str(st->instance, sizeof st->instance, node) : XMPP_ERR_DECODE;
            st->type = XMPP_STANZA_IN_SYNC;
            return rc ? rc : check_instance(st->instance);
        }
        const struct xmpp_elem *ev = xmpp_elem_child(e, "event", XMPP_NS_PUBSUB);
        const struct xmpp_elem *items = child(ev, "items");
        if (items == NULL) {
            return XMPP_ERR_UNSUPPORTED;
        }
        return decode_items(items, st);
    }
    return XMPP_ERR_UNSUPPORTED;
}

/* ------------------------------------------------------------------ */
/* Encoding */

static int put(struct buf *out, const char *s)
{
    return buf_put(out, s, strlen(s));
}

static int put_text(struct buf *out, const char *s)
{
    return xmpp_xml_escape(out, s, strlen(s), false);
}

static int put_attr(struct buf *out, const char *name, const char *value)
{
    int rc;
    if ((rc = buf_put_u8(out, ' ')) != 0 || (rc = put(out, name)) != 0 || (rc = put(out, "=\"")) != 0 ||
        (rc = xmpp_xml_escape(out, value, strlen(value), true)) != 0) {
        return rc;
    }
    return buf_put_u8(out, '"');
}

/* <name>text</name> */
static int put_elem(struct buf *out, const char *name, const char *text)
{
    int rc;
    if ((rc = buf_put_u8(out, '<')) != 0 || (rc = put(out, name)) != 0 || (rc = buf_put_u8(out, '>')) != 0 ||
        (rc = put_text(out, text)) != 0 || (rc = put(out, "</")) != 0 || (rc = put(out, name)) != 0) {
        return rc;
    }
    return buf_put_u8(out, '>');
}

static int put_u32_elem(struct buf *out, const char *name, uint32_t v)
{
    char t[16];
    snprintf(t, sizeof t, "%u", (unsigned)v);
    return put_elem(out, name, t);
}

static int encode_nexthop(struct buf *out, const struct xmpp_nexthop *nh)
{
    char a[INET6_ADDRSTRLEN];
    int rc;
    if (nh->label > XMPP_LABEL_MAX || (nh->has_l3_label && nh->l3_label > XMPP_LABEL_MAX) ||
        (nh->has_vni && nh->vni > XMPP_VNI_MAX) || nh->encaps == 0 ||
        (nh->encaps & ~(XMPP_ENCAP_GRE | XMPP_ENCAP_UDP | XMPP_ENCAP_VXLAN))) {
        return XMPP_ERR_RANGE;
    }
    if ((rc = format_ip(a, sizeof a, &nh->address)) != 0) {
        return rc;
    }
    if ((rc = put(out, "<next-hop>")) != 0 || (rc = put_u32_elem(out, "af", nh->address.version == 4 ? 1 : 2)) != 0 ||
        (rc = put_elem(out, "address", a)) != 0) {
        return rc;
    }
    if (nh->has_mac) {
        char m[18];
        format_mac(m, nh->mac);
        if ((rc = put_elem(out, "mac", m)) != 0) {
            return rc;
        }
    }
    if ((rc = put_u32_elem(out, "label", nh->label)) != 0 ||
        (nh->has_l3_label && (rc = put_u32_elem(out, "l3-label", nh->l3_label)) != 0) ||
        (nh->has_vni && (rc = put_u32_elem(out, "vni", nh->vni)) != 0) ||
        (rc = put(out, "<tunnel-encapsulation-list>")) != 0) {
        return rc;
    }
    for (unsigned i = 0; i < 3; i++) {
        if ((nh->encaps & (1u << i)) && (rc = put_elem(out, "tunnel-encapsulation", encap_names[i])) != 0) {
            return rc;
        }
    }
    return put(out, "</tunnel-encapsulation-list></next-hop>");
}

static int encode_entry(struct buf *out, const struct xmpp_route_entry *r, enum xmpp_family family)
{
    int rc;
    unsigned afi, safi;
    xmpp_family_afi_safi(family, &afi, &safi);
    if (r->family != family || afi == 0) {
        return XMPP_ERR_RANGE;
    }
    if (r->next_hop_count == 0 || r->next_hop_count > XMPP_MAX_NEXTHOPS ||
        r->security_group_count > XMPP_MAX_SECURITY_GROUPS) {
        return XMPP_ERR_TOOMANY;
    }
    if (r->virtual_network[0] && (rc = check_object_name(r->virtual_network)) != 0) {
        return rc;
    }
    char vn[XMPP_NAME_MAX];
    if (trimmed(r->virtual_network, vn, sizeof vn) != 0 || strcmp(vn, r->virtual_network) != 0) {
        return XMPP_ERR_NAME; /* surrounding whitespace would not survive */
    }
    if (r->has_load_balance && (r->load_balance & ~0x7fu)) {
        return XMPP_ERR_RANGE;
    }
    if ((rc = put(out, "<entry")) != 0 || (rc = put_attr(out, "xmlns", XMPP_NS_BGPVPN)) != 0 ||
        (rc = put(out, "><nlri>")) != 0 || (rc = put_u32_elem(out, "af", afi)) != 0 ||
        (rc = put_u32_elem(out, "safi", safi)) != 0) {
        return rc;
    }
    char p[80];
    if (family == XMPP_FAMILY_EVPN) {
        char m[18];
        format_mac(m, r->key.mac);
        if ((rc = put_u32_elem(out, "ethernet-tag", r->key.ethernet_tag)) != 0 || (rc = put_elem(out, "mac", m)) != 0) {
            return rc;
        }
        if (r->key.prefix.version != 0) {
            if ((rc = format_prefix(p, sizeof p, &r->key.prefix, r->key.plen)) != 0 ||
                (rc = put_elem(out, "address", p)) != 0) {
                return rc;
            }
        } else if (r->key.plen != 0) {
            return XMPP_ERR_ADDR;
        }
    } else {
        if (r->key.prefix.version != family_ip_version(family)) {
            return XMPP_ERR_ADDR;
        }
        if ((rc = format_prefix(p, sizeof p, &r->key.prefix, r->key.plen)) != 0 ||
            (rc = put_elem(out, "address", p)) != 0) {
            return rc;
        }
    }
    if ((rc = put(out, "</nlri><next-hops>")) != 0) {
        return rc;
    }
    for (size_t i = 0; i < r->next_hop_count; i++) {
        if ((rc = encode_nexthop(out, &r->next_hops[i])) != 0) {
            return rc;
        }
    }
    if ((rc = put(out, "</next-hops>")) != 0 ||
        (r->virtual_network[0] && (rc = put_elem(out, "virtual-network", r->virtual_network)) != 0) ||
        (rc = put_u32_elem(out, "sequence-number", r->sequence_number)) != 0) {
        return rc;
    }
    if (r->security_group_count > 0) {
        if ((rc = put(out, "<security-group-list>")) != 0) {
            return rc;
        }
        for (size_t i = 0; i < r->security_group_count; i++) {
            if ((rc = put_u32_elem(out, "security-group", r->security_groups[i])) != 0) {
                return rc;
            }
        }
        if ((rc = put(out, "</security-group-list>")) != 0) {
            return rc;
        }
    }
    if ((r->has_local_preference && (rc = put_u32_elem(out, "local-preference", r->local_preference)) != 0) ||
        (r->has_med && (rc = put_u32_elem(out, "med", r->med)) != 0)) {
        return rc;
    }
    if (r->has_load_balance) {
        if ((rc = put(out, "<load-balance><load-balance-fields>")) != 0) {
            return rc;
        }
        for (unsigned i = 0; i < sizeof lb_names / sizeof lb_names[0]; i++) {
            if ((r->load_balance & (1u << i)) && (rc = put_elem(out, "load-balance-field-list", lb_names[i])) != 0) {
                return rc;
            }
        }
        if ((rc = put(out, "</load-balance-fields><load-balance-decision>field-hash</load-balance-decision>"
                           "</load-balance>")) != 0) {
            return rc;
        }
    }
    return put(out, "</entry>");
}

/* <iq type="T" id from to> or <message id from to> */
static int encode_head(struct buf *out, const char *root, const char *type, const struct xmpp_stanza *st)
{
    int rc;
    if ((rc = buf_put_u8(out, '<')) != 0 || (rc = put(out, root)) != 0 ||
        (type && (rc = put_attr(out, "type", type)) != 0)) {
        return rc;
    }
    const char *names[] = {"id", "from", "to"};
    const char *vals[] = {st->id, st->from, st->to};
    size_t sizes[] = {sizeof st->id, sizeof st->from, sizeof st->to};
    for (size_t i = 0; i < 3; i++) {
        if (strnlen(vals[i], sizes[i]) == sizes[i]) {
            return XMPP_ERR_NAME;
        }
        if (vals[i][0] && (rc = put_attr(out, names[i], vals[i])) != 0) {
            return rc;
        }
    }
    return buf_put_u8(out, '>');
}

static int encode_config_node(struct buf *out, const char *elem, const struct xmpp_config_node *n, bool with_name,
                              bool with_props)
{
    int rc;
    if (strnlen(n->type, sizeof n->type) == sizeof n->type || (rc = check_type(n->type)) != 0) {
        return XMPP_ERR_NAME;
    }
    if (with_name && (strnlen(n->name, sizeof n->name) == sizeof n->name || check_object_name(n->name) != 0)) {
        return XMPP_ERR_NAME;
    }
    if (!with_props && n->prop_count > 0) {
        return XMPP_ERR_DECODE;
    }
    if (n->prop_count > XMPP_MAX_PROPS) {
        return XMPP_ERR_TOOMANY;
    }
    if ((rc = buf_put_u8(out, '<')) != 0 || (rc = put(out, elem)) != 0 || (rc = put_attr(out, "type", n->type)) != 0 ||
        (rc = buf_put_u8(out, '>')) != 0 || (with_name && (rc = put_elem(out, "name", n->name)) != 0)) {
        return rc;
    }
    for (size_t i = 0; i < n->prop_count; i++) {
        const struct xmpp_config_prop *p = &n->props[i];
        if (check_type(p->name) != 0 || (with_name && strcmp(p->name, "name") == 0)) {
            return XMPP_ERR_NAME;
        }
        if ((rc = put_elem(out, p->name, p->value)) != 0) {
            return rc;
        }
    }
    if ((rc = put(out, "</")) != 0 || (rc = put(out, elem)) != 0) {
        return rc;
    }
    return buf_put_u8(out, '>');
}

static int encode_config(struct buf *out, const struct xmpp_stanza *st)
{
    int rc;
    if (st->obj_count > XMPP_MAX_CONFIG_OBJS) {
        return XMPP_ERR_TOOMANY;
    }
    if ((rc = put(out, "<config>")) != 0) {
        return rc;
    }
    for (size_t i = 0; i < st->obj_count; i++) {
        const struct xmpp_config_obj *o = &st->objs[i];
        const char *opname = o->op == XMPP_CONFIG_DELETE ? "delete" : "update";
        if (o->op != XMPP_CONFIG_DELETE && o->op != XMPP_CONFIG_UPDATE) {
            return XMPP_ERR_RANGE;
        }
        /* consecutive objects of one operation share its element */
        if ((i == 0 || st->objs[i - 1].op != o->op) &&
            ((rc = buf_put_u8(out, '<')) != 0 || (rc = put(out, opname)) != 0 || (rc = buf_put_u8(out, '>')) != 0)) {
            return rc;
        }
        if (o->is_link) {
            if ((rc = put(out, "<link>")) != 0 || (rc = encode_config_node(out, "node", &o->left, true, false)) != 0 ||
                (rc = encode_config_node(out, "node", &o->right, true, false)) != 0 ||
                (rc = encode_config_node(out, "metadata", &o->metadata, false, true)) != 0 ||
                (rc = put(out, "</link>")) != 0) {
                return rc;
            }
            if (o->metadata.name[0]) {
                return XMPP_ERR_NAME;
            }
        } else if ((rc = encode_config_node(out, "node", &o->node, true, true)) != 0) {
            return rc;
        }
        if ((i + 1 == st->obj_count || st->objs[i + 1].op != o->op) &&
            ((rc = put(out, "</")) != 0 || (rc = put(out, opname)) != 0 || (rc = buf_put_u8(out, '>')) != 0)) {
            return rc;
        }
    }
    return put(out, "</config>");
}

static int encode_dns(struct buf *out, const struct xmpp_stanza *st);

/* The items of ROUTES stanza 'st' inside its <items> element. */
int xmpp_routes_items_encode(struct buf *out, const struct xmpp_stanza *st)
{
    size_t mark = out->size;
    int rc = 0;
    if (st->type != XMPP_STANZA_ROUTES || st->item_count > XMPP_MAX_ITEMS || (st->item_count > 0 && !st->items)) {
        return st->type != XMPP_STANZA_ROUTES ? XMPP_ERR_DECODE : XMPP_ERR_TOOMANY;
    }
    for (size_t i = 0; i < st->item_count && rc == 0; i++) {
        const struct xmpp_route_item *it = &st->items[i];
        char id[160];
        if (it->entry.family != st->family) {
            rc = XMPP_ERR_RANGE;
            break;
        }
        if ((rc = xmpp_route_key_format(id, sizeof id, st->family, &it->entry.key)) != 0) {
            break;
        }
        if ((rc = put(out, it->retract ? "<retract" : "<item")) != 0 || (rc = put_attr(out, "id", id)) != 0) {
            break;
        }
        if (it->retract) {
            rc = put(out, "/>");
        } else if ((rc = buf_put_u8(out, '>')) == 0 && (rc = encode_entry(out, &it->entry, st->family)) == 0) {
            rc = put(out, "</item>");
        }
    }
    if (rc != 0) {
        out->size = mark;
    }
    return rc;
}

/* 'pre_items' (ROUTES only, NULL: encode st->items): the items part,
 * already encoded. */
static int encode_body(struct buf *out, const struct xmpp_stanza *st, const uint8_t *pre_items, size_t pre_size)
{
    int rc;
    char node[XMPP_NAME_MAX + 128];
    switch (st->type) {
    case XMPP_STANZA_SUBSCRIBE:
    case XMPP_STANZA_UNSUBSCRIBE: {
        bool sub = st->type == XMPP_STANZA_SUBSCRIBE;
        if ((rc = check_instance(st->instance)) != 0) {
            return rc;
        }
        if ((rc = encode_head(out, "iq", "set", st)) != 0 || (rc = put(out, "<pubsub")) != 0 ||
            (rc = put_attr(out, "xmlns", XMPP_NS_PUBSUB)) != 0 || (rc = put(out, sub ? "><subscribe" : "><unsubscribe")) != 0 ||
            (rc = put_attr(out, "node", st->instance)) != 0) {
            return rc;
        }
        if (sub && ((rc = put(out, "><options>")) != 0 || (rc = put_u32_elem(out, "instance-id", st->instance_id)) != 0)) {
            return rc;
        }
        if (sub && st->has_digest) {
            char hex[17];
            format_hex64(hex, st->digest);
            if ((rc = put(out, "<digest")) != 0 || (rc = put_attr(out, "xmlns", XMPP_NS_RESUME)) != 0 ||
                (rc = buf_put_u8(out, '>')) != 0 || (rc = put(out, hex)) != 0 || (rc = put(out, "</digest>")) != 0) {
                return rc;
            }
        }
        if (sub && (rc = put(out, "</options></subscribe>")) != 0) {
            return rc;
        }
        if (!sub && (rc = put(out, "/>")) != 0) {
            return rc;
        }
        return put(out, "</pubsub></iq>");
    }
    case XMPP_STANZA_PUBLISH:
        if (st->entry == NULL) {
            return XMPP_ERR_DECODE;
        }
        if (!key_equal(st->entry->family, &st->key, &st->entry->key) || st->family != st->entry->family) {
            return XMPP_ERR_DECODE;
        }
        if ((rc = node_format(node, sizeof node, st->family, st->instance, &st->key)) != 0) {
            return rc;
        }
        if ((rc = encode_head(out, "iq", "set", st)) != 0 || (rc = put(out, "<pubsub")) != 0 ||
            (rc = put_attr(out, "xmlns", XMPP_NS_PUBSUB)) != 0 || (rc = put(out, "><publish")) != 0 ||
            (rc = put_attr(out, "node", node)) != 0 || (rc = put(out, "><item>")) != 0 ||
            (rc = encode_entry(out, st->entry, st->family)) != 0) {
            return rc;
        }
        return put(out, "</item></publish></pubsub></iq>");
    case XMPP_STANZA_ASSOCIATE:
    case XMPP_STANZA_DISSOCIATE:
        if ((rc = node_format(node, sizeof node, st->family, st->instance, &st->key)) != 0) {
            return rc;
        }
        if ((rc = encode_head(out, "iq", "set", st)) != 0 || (rc = put(out, "<pubsub")) != 0 ||
            (rc = put_attr(out, "xmlns", XMPP_NS_PUBSUB)) != 0 || (rc = put(out, "><collection")) != 0 ||
            (rc = put_attr(out, "node", st->instance)) != 0 ||
            (rc = put(out, st->type == XMPP_STANZA_ASSOCIATE ? "><associate" : "><dissociate")) != 0 ||
            (rc = put_attr(out, "node", node)) != 0) {
            return rc;
        }
        return put(out, "/></collection></pubsub></iq>");
    case XMPP_STANZA_EOR:
        if ((rc = encode_head(out, "iq", "set", st)) != 0 || (rc = put(out, "<pubsub")) != 0 ||
            (rc = put_attr(out, "xmlns", XMPP_NS_PUBSUB)) != 0 || (rc = put(out, "><publish")) != 0 ||
            (rc = put_attr(out, "node", XMPP_EOR_NODE)) != 0) {
            return rc;
        }
        return put(out, "/></pubsub></iq>");
    case XMPP_STANZA_ROUTES:
    case XMPP_STANZA_EOR_EVENT:
        if (st->type == XMPP_STANZA_ROUTES) {
            if (!pre_items && (st->item_count > XMPP_MAX_ITEMS || (st->item_count > 0 && st->items == NULL))) {
                return XMPP_ERR_TOOMANY;
            }
            if ((rc = node_format(node, sizeof node, st->family, st->instance, NULL)) != 0) {
                return rc;
            }
        } else {
            snprintf(node, sizeof node, "%s", XMPP_EOR_NODE);
        }
        if ((rc = encode_head(out, "message", NULL, st)) != 0 || (rc = put(out, "<event")) != 0 ||
            (rc = put_attr(out, "xmlns", XMPP_NS_PUBSUB)) != 0 || (rc = put(out, "><items")) != 0 ||
            (rc = put_attr(out, "node", node)) != 0 || (rc = buf_put_u8(out, '>')) != 0) {
            return rc;
        }
        if (st->type == XMPP_STANZA_ROUTES) {
            rc = pre_items ? buf_put(out, pre_items, pre_size) : xmpp_routes_items_encode(out, st);
            if (rc != 0) {
                return rc;
            }
        }
        return put(out, "</items></event></message>");
    case XMPP_STANZA_CONFIG:
        if ((rc = encode_head(out, "iq", "set", st)) != 0 || (rc = encode_config(out, st)) != 0) {
            return rc;
        }
        return put(out, "</iq>");
    case XMPP_STANZA_RESULT:
        if ((rc = encode_head(out, "iq", "result", st)) != 0) {
            return rc;
        }
        return put(out, "</iq>");
    case XMPP_STANZA_ERROR:
        if (strnlen(st->error_type, sizeof st->error_type) == sizeof st->error_type ||
            check_type(st->error_type) != 0 || strnlen(st->condition, sizeof st->condition) == sizeof st->condition ||
            check_type(st->condition) != 0 || strcmp(st->condition, "text") == 0) {
            return XMPP_ERR_NAME;
        }
        if ((rc = encode_head(out, "iq", "error", st)) != 0 || (rc = put(out, "<error")) != 0 ||
            (rc = put_attr(out, "type", st->error_type)) != 0 || (rc = put(out, "><")) != 0 ||
            (rc = put(out, st->condition)) != 0 || (rc = put_attr(out, "xmlns", XMPP_NS_STANZAS)) != 0) {
            return rc;
        }
        return put(out, "/></error></iq>");
    case XMPP_STANZA_PING:
        if ((rc = encode_head(out, "iq", "get", st)) != 0 || (rc = put(out, "<ping")) != 0 ||
            (rc = put_attr(out, "xmlns", XMPP_NS_PING)) != 0) {
            return rc;
        }
        return put(out, "/></iq>");
    case XMPP_STANZA_DNS_QUERY:
    case XMPP_STANZA_DNS_ANSWER:
        return encode_dns(out, st);
    case XMPP_STANZA_CONFIG_HELD:
        if (st->held_count > XMPP_MAX_HELD || (st->held_count > 0 && st->held == NULL)) {
            return XMPP_ERR_TOOMANY;
        }
        if ((rc = encode_head(out, "iq", "set", st)) != 0 || (rc = put(out, "<held")) != 0 ||
            (rc = put_attr(out, "xmlns", XMPP_NS_RESUME)) != 0 || (rc = buf_put_u8(out, '>')) != 0) {
            return rc;
        }
        for (size_t i = 0; i < st->held_count; i++) {
            const struct xmpp_held_obj *o = &st->held[i];
            char hex[17];
            format_hex64(hex, o->hash);
            if (check_type(o->type) != 0 || check_object_name(o->name) != 0 ||
                (o->is_link && (check_type(o->rtype) != 0 || check_object_name(o->rname) != 0))) {
                return XMPP_ERR_NAME;
            }
            if (o->is_link) {
                if ((rc = put(out, "<link")) != 0 || (rc = put_attr(out, "ltype", o->type)) != 0 ||
                    (rc = put_attr(out, "lname", o->name)) != 0 || (rc = put_attr(out, "rtype", o->rtype)) != 0 ||
                    (rc = put_attr(out, "rname", o->rname)) != 0) {
                    return rc;
                }
            } else if ((rc = put(out, "<node")) != 0 || (rc = put_attr(out, "type", o->type)) != 0 ||
                       (rc = put_attr(out, "name", o->name)) != 0) {
                return rc;
            }
            if ((rc = put_attr(out, "hash", hex)) != 0 || (rc = put(out, "/>")) != 0) {
                return rc;
            }
        }
        return put(out, "</held></iq>");
    case XMPP_STANZA_IN_SYNC:
        if ((rc = check_instance(st->instance)) != 0) {
            return rc;
        }
        if ((rc = encode_head(out, "message", NULL, st)) != 0 || (rc = put(out, "<in-sync")) != 0 ||
            (rc = put_attr(out, "xmlns", XMPP_NS_RESUME)) != 0 || (rc = put_attr(out, "node", st->instance)) != 0) {
            return rc;
        }
        return put(out, "/></message>");
    case XMPP_STANZA_NONE:
        break;
    }
    return XMPP_ERR_UNSUPPORTED;
}

int xmpp_stanza_encode(struct buf *out, const struct xmpp_stanza *st)
{
    size_t mark = out->size;
    int rc = encode_body(out, st, NULL, 0);
    if (rc != 0) {
        out->size = mark; /* nothing half-written */
    }
    return rc;
}

int xmpp_stanza_encode_routes(struct buf *out, const struct xmpp_stanza *st, const uint8_t *items, size_t size)
{
    if (st->type != XMPP_STANZA_ROUTES || (size > 0 && !items)) {
        return XMPP_ERR_DECODE;
    }
    size_t mark = out->size;
    int rc = encode_body(out, st, items ? items : (const uint8_t *)"", size);
    if (rc != 0) {
        out->size = mark;
    }
    return rc;
}

/* ---- instance names (urn:strata:dns) ---- */

/* A DNS name as the instance-name stanzas carry it: labels of 1..63 bytes
 * of [a-z0-9_-], at most 253 bytes, no trailing dot; "" passes. */
static int check_dns_name(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n > XMPP_DNS_NAME_MAX - 1 || (n > 0 && s[n - 1] == '.')) {
        return XMPP_ERR_NAME;
    }
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == '.') {
            if (label == 0) {
                return XMPP_ERR_NAME;
            }
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            if (++label > 63) {
                return XMPP_ERR_NAME;
            }
        } else {
            return XMPP_ERR_NAME;
        }
    }
    return 0;
}

bool xmpp_dns_instance_name(const char *vm, char *out, size_t size)
{
    size_t n = vm ? strlen(vm) : 0;
    if (size) {
        out[0] = '\0';
    }
    if (n == 0 || n > 63 || n >= size) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = vm[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            out[0] = '\0';
            return false;
        }
        out[i] = c;
    }
    out[n] = '\0';
    return true;
}

/* Checks what encode writes and decode leaves: a question has exactly one
 * of name and address, a found answer both, a negative answer one. */
static int check_dns(const struct xmpp_dns *d, bool answer)
{
    if (strnlen(d->interface, sizeof d->interface) == sizeof d->interface ||
        strnlen(d->name, sizeof d->name) == sizeof d->name || check_object_name(d->interface) != 0 ||
        check_dns_name(d->name) != 0) {
        return XMPP_ERR_NAME;
    }
    if (d->address.version != 0 && d->address.version != 4) {
        return XMPP_ERR_ADDR;
    }
    bool has_name = d->name[0] != '\0', has_addr = d->address.version == 4;
    if (answer && d->found ? !(has_name && has_addr) : has_name == has_addr) {
        return XMPP_ERR_DECODE;
    }
    if (!answer && (d->found || d->ttl != 0)) {
        return XMPP_ERR_DECODE;
    }
    return 0;
}

/* <dns xmlns="urn:strata:dns"><interface/><name/><address/><ttl/></dns> */
static int decode_dns(const struct xmpp_elem *dns, bool answer, struct xmpp_stanza *st)
{
    struct xmpp_dns *d = &st->dns;
    st->type = answer ? XMPP_STANZA_DNS_ANSWER : XMPP_STANZA_DNS_QUERY;
    const struct xmpp_elem *ifc = child(dns, "interface"), *name = child(dns, "name");
    const struct xmpp_elem *addr = child(dns, "address"), *ttl = child(dns, "ttl");
    int rc;
    if (ifc == NULL || (rc = trimmed(xmpp_elem_text(ifc), d->interface, sizeof d->interface)) != 0) {
        return XMPP_ERR_DECODE;
    }
    if (name && (rc = trimmed(xmpp_elem_text(name), d->name, sizeof d->name)) != 0) {
        return rc;
    }
    for (char *p = d->name; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    if (addr && (rc = parse_ip(xmpp_elem_text(addr), 4, &d->address)) != 0) {
        return rc;
    }
    if (answer) {
        if (ttl == NULL) {
            return XMPP_ERR_DECODE;
        }
        if ((rc = parse_u32(xmpp_elem_text(ttl), UINT32_MAX, &d->ttl)) != 0) {
            return rc;
        }
        d->found = d->name[0] != '\0' && d->address.version == 4;
    }
    return check_dns(d, answer);
}

static int encode_dns(struct buf *out, const struct xmpp_stanza *st)
{
    const struct xmpp_dns *d = &st->dns;
    bool answer = st->type == XMPP_STANZA_DNS_ANSWER;
    char a[64];
    int rc;
    if ((rc = check_dns(d, answer)) != 0) {
        return rc;
    }
    if ((rc = encode_head(out, "iq", answer ? "result" : "get", st)) != 0 || (rc = put(out, "<dns")) != 0 ||
        (rc = put_attr(out, "xmlns", XMPP_NS_DNS)) != 0 || (rc = buf_put_u8(out, '>')) != 0 ||
        (rc = put_elem(out, "interface", d->interface)) != 0 ||
        (d->name[0] && (rc = put_elem(out, "name", d->name)) != 0)) {
        return rc;
    }
    if (d->address.version == 4 &&
        ((rc = format_ip(a, sizeof a, &d->address)) != 0 || (rc = put_elem(out, "address", a)) != 0)) {
        return rc;
    }
    if (answer && (rc = put_u32_elem(out, "ttl", d->ttl)) != 0) {
        return rc;
    }
    return put(out, "</dns></iq>");
}

static bool dns_equal(const struct xmpp_dns *a, const struct xmpp_dns *b)
{
    return strcmp(a->interface, b->interface) == 0 && strcmp(a->name, b->name) == 0 &&
           a->address.version == b->address.version && memcmp(a->address.addr, b->address.addr, 16) == 0 &&
           a->found == b->found && a->ttl == b->ttl;
}

/* ------------------------------------------------------------------ */
/* Ownership and comparison */

static void config_node_clear(struct xmpp_config_node *n)
{
    for (size_t i = 0; i < n->prop_count; i++) {
        free(n->props[i].name);
        free(n->props[i].value);
    }
    free(n->props);
}

void xmpp_stanza_clear(struct xmpp_stanza *st)
{
    if (st == NULL) {
        return;
    }
    free(st->entry);
    free(st->items);
    for (size_t i = 0; st->objs && i < st->obj_count; i++) {
        config_node_clear(&st->objs[i].node);
        config_node_clear(&st->objs[i].left);
        config_node_clear(&st->objs[i].right);
        config_node_clear(&st->objs[i].metadata);
    }
    free(st->objs);
    free(st->held);
    memset(st, 0, sizeof *st);
}

static bool nexthop_equal(const struct xmpp_nexthop *a, const struct xmpp_nexthop *b)
{
    return a->address.version == b->address.version && memcmp(a->address.addr, b->address.addr, 16) == 0 &&
           a->has_mac == b->has_mac && (!a->has_mac || memcmp(a->mac, b->mac, 6) == 0) && a->label == b->label &&
           a->has_l3_label == b->has_l3_label && (!a->has_l3_label || a->l3_label == b->l3_label) &&
           a->has_vni == b->has_vni && (!a->has_vni || a->vni == b->vni) && a->encaps == b->encaps;
}

static bool entry_equal(const struct xmpp_route_entry *a, const struct xmpp_route_entry *b)
{
    if (a->family != b->family || !key_equal(a->family, &a->key, &b->key) || a->next_hop_count != b->next_hop_count ||
        strcmp(a->virtual_network, b->virtual_network) != 0 || a->sequence_number != b->sequence_number ||
        a->security_group_count != b->security_group_count || a->has_local_preference != b->has_local_preference ||
        (a->has_local_preference && a->local_preference != b->local_preference) || a->has_med != b->has_med ||
        (a->has_med && a->med != b->med) || a->has_load_balance != b->has_load_balance ||
        (a->has_load_balance && a->load_balance != b->load_balance)) {
        return false;
    }
    for (size_t i = 0; i < a->next_hop_count; i++) {
        if (!nexthop_equal(&a->next_hops[i], &b->next_hops[i])) {
            return false;
        }
    }
    return memcmp(a->security_groups, b->security_groups, a->security_group_count * sizeof a->security_groups[0]) == 0;
}

static bool config_node_equal(const struct xmpp_config_node *a, const struct xmpp_config_node *b)
{
    if (strcmp(a->type, b->type) != 0 || strcmp(a->name, b->name) != 0 || a->prop_count != b->prop_count) {
        return false;
    }
    for (size_t i = 0; i < a->prop_count; i++) {
        if (strcmp(a->props[i].name, b->props[i].name) != 0 || strcmp(a->props[i].value, b->props[i].value) != 0) {
            return false;
        }
    }
    return true;
}

bool xmpp_stanza_equal(const struct xmpp_stanza *a, const struct xmpp_stanza *b)
{
    if (a->type != b->type || strcmp(a->id, b->id) != 0 || strcmp(a->from, b->from) != 0 || strcmp(a->to, b->to) != 0) {
        return false;
    }
    switch (a->type) {
    case XMPP_STANZA_SUBSCRIBE:
        return strcmp(a->instance, b->instance) == 0 && a->instance_id == b->instance_id &&
               a->has_digest == b->has_digest && (!a->has_digest || a->digest == b->digest);
    case XMPP_STANZA_IN_SYNC:
        return strcmp(a->instance, b->instance) == 0;
    case XMPP_STANZA_CONFIG_HELD:
        if (a->held_count != b->held_count) {
            return false;
        }
        for (size_t i = 0; i < a->held_count; i++) {
            const struct xmpp_held_obj *x = &a->held[i], *y = &b->held[i];
            if (x->is_link != y->is_link || x->hash != y->hash || strcmp(x->type, y->type) != 0 ||
                strcmp(x->name, y->name) != 0 ||
                (x->is_link && (strcmp(x->rtype, y->rtype) != 0 || strcmp(x->rname, y->rname) != 0))) {
                return false;
            }
        }
        return true;
    case XMPP_STANZA_UNSUBSCRIBE:
        return strcmp(a->instance, b->instance) == 0;
    case XMPP_STANZA_PUBLISH:
        return strcmp(a->instance, b->instance) == 0 && a->family == b->family && a->entry && b->entry &&
               entry_equal(a->entry, b->entry);
    case XMPP_STANZA_ASSOCIATE:
    case XMPP_STANZA_DISSOCIATE:
        return strcmp(a->instance, b->instance) == 0 && a->family == b->family && key_equal(a->family, &a->key, &b->key);
    case XMPP_STANZA_ROUTES:
        if (strcmp(a->instance, b->instance) != 0 || a->family != b->family || a->item_count != b->item_count) {
            return false;
        }
        for (size_t i = 0; i < a->item_count; i++) {
            const struct xmpp_route_item *x = &a->items[i], *y = &b->items[i];
            if (x->retract != y->retract) {
                return false;
            }
            if (x->retract ? !key_equal(a->family, &x->entry.key, &y->entry.key) : !entry_equal(&x->entry, &y->entry)) {
                return false;
            }
        }
        return true;
    case XMPP_STANZA_CONFIG:
        if (a->obj_count != b->obj_count) {
            return false;
        }
        for (size_t i = 0; i < a->obj_count; i++) {
            const struct xmpp_config_obj *x = &a->objs[i], *y = &b->objs[i];
            if (x->op != y->op || x->is_link != y->is_link) {
                return false;
            }
            if (x->is_link ? !(config_node_equal(&x->left, &y->left) && config_node_equal(&x->right, &y->right) &&
                               config_node_equal(&x->metadata, &y->metadata))
                           : !config_node_equal(&x->node, &y->node)) {
                return false;
            }
        }
        return true;
    case XMPP_STANZA_ERROR:
        return strcmp(a->error_type, b->error_type) == 0 && strcmp(a->condition, b->condition) == 0;
    case XMPP_STANZA_DNS_QUERY:
    case XMPP_STANZA_DNS_ANSWER:
        return dns_equal(&a->dns, &b->dns);
    case XMPP_STANZA_EOR:
    case XMPP_STANZA_EOR_EVENT:
    case XMPP_STANZA_RESULT:
    case XMPP_STANZA_PING:
    case XMPP_STANZA_NONE:
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Resume digests: FNV-1a 64 over a canonical field sequence, finished
 * with the splitmix64 mixer; unordered parts (next hops, properties) are
 * summed so their order does not count. */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void h_bytes(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        *h = (*h ^ b[i]) * FNV_PRIME;
    }
}

static void h_u32(uint64_t *h, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    h_bytes(h, b, 4);
}

/* A string with its length, so that ("ab","c") and ("a","bc") differ. */
static void h_str(uint64_t *h, const char *s)
{
    size_t n = strlen(s);
    h_u32(h, (uint32_t)n);
    h_bytes(h, s, n);
}

static void h_ip(uint64_t *h, const struct xmpp_ip *ip)
{
    h_u32(h, ip->version);
    h_bytes(h, ip->addr, ip->version == 4 ? 4 : ip->version == 6 ? 16 : 0);
}

uint64_t xmpp_route_item_hash(const char *instance, const struct xmpp_route_entry *e)
{
    uint64_t h = FNV_OFFSET;
    h_str(&h, instance);
    h_u32(&h, (uint32_t)e->family);
    h_ip(&h, &e->key.prefix);
    h_u32(&h, e->key.plen);
    if (e->family == XMPP_FAMILY_EVPN) {
        h_u32(&h, e->key.ethernet_tag);
        h_bytes(&h, e->key.mac, 6);
    }
    h_str(&h, e->virtual_network);
    h_u32(&h, e->sequence_number);
    h_u32(&h, (uint32_t)e->security_group_count);
    for (size_t i = 0; i < e->security_group_count && i < XMPP_MAX_SECURITY_GROUPS; i++) {
        h_u32(&h, e->security_groups[i]);
    }
    h_u32(&h, e->has_local_preference ? 1u : 0u);
    h_u32(&h, e->has_local_preference ? e->local_preference : 0u);
    h_u32(&h, e->has_med ? 1u : 0u);
    h_u32(&h, e->has_med ? e->med : 0u);
    h_u32(&h, e->has_load_balance ? 1u : 0u);
    h_u32(&h, e->has_load_balance ? e->load_balance : 0u);
    h_u32(&h, (uint32_t)e->next_hop_count);
    uint64_t nhs = 0;
    for (size_t i = 0; i < e->next_hop_count && i < XMPP_MAX_NEXTHOPS; i++) {
        const struct xmpp_nexthop *nh = &e->next_hops[i];
        uint64_t x = FNV_OFFSET;
        h_ip(&x, &nh->address);
        h_u32(&x, nh->has_mac ? 1u : 0u);
        if (nh->has_mac) {
            h_bytes(&x, nh->mac, 6);
        }
        h_u32(&x, nh->label);
        h_u32(&x, nh->has_l3_label ? 1u : 0u);
        h_u32(&x, nh->has_l3_label ? nh->l3_label : 0u);
        h_u32(&x, nh->has_vni ? 1u : 0u);
        h_u32(&x, nh->has_vni ? nh->vni : 0u);
        h_u32(&x, nh->encaps);
        nhs += mix64(x);
    }
    h_u32(&h, (uint32_t)(nhs >> 32));
    h_u32(&h, (uint32_t)nhs);
    return mix64(h);
}

uint64_t xmpp_config_obj_hash(const struct xmpp_config_obj *o)
{
    uint64_t h = FNV_OFFSET;
    h_u32(&h, o->is_link ? 1u : 0u);
    if (o->is_link) {
        h_str(&h, o->left.type);
        h_str(&h, o->left.name);
        h_str(&h, o->right.type);
        h_str(&h, o->right.name);
        h_str(&h, o->metadata.type);
        return mix64(h);
    }
    h_str(&h, o->node.type);
    h_str(&h, o->node.name);
    uint64_t props = 0;
    for (size_t i = 0; i < o->node.prop_count; i++) {
        uint64_t x = FNV_OFFSET;
        h_str(&x, o->node.props[i].name);
        h_str(&x, o->node.props[i].value);
        props += mix64(x);
    }
    h_u32(&h, (uint32_t)o->node.prop_count);
    h_u32(&h, (uint32_t)(props >> 32));
    h_u32(&h, (uint32_t)props);
    return mix64(h);
}

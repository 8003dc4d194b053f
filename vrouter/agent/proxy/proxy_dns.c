/* The DNS proxy (RFC 1035): a VM's queries to its gateway (or DNS address)
 * for instance names are answered from the agent's state: A for
 * "hostname" or "hostname.domain" through name_to_ip4, PTR for
 * in-addr.arpa through ip4_to_name. Unknown names in the port's domain get
 * NXDOMAIN; anything outside it REFUSED (the proxy does not recurse).
 * A lookup may answer PROXY_EPENDING (the agent asks a control node: no
 * reply now, the frame comes back later) or fail (SERVFAIL).
 * Question names may be compressed; pointers must point strictly before
 * every byte of the name read so far, which rejects every loop. */
#include <string.h>

#include "vrouter/agent/proxy/proxy_int.h"

#define DNS_HDR 12
#define DNS_NAME_MAX 255 /* wire bytes */
#define DNS_QR 0x8000
#define DNS_AA 0x0400
#define DNS_RD 0x0100
#define DNS_OPCODE(f) (((f) >> 11) & 0xf)

enum dns_rcode {
    RCODE_NOERROR = 0,
    RCODE_FORMERR = 1,
    RCODE_SERVFAIL = 2,
    RCODE_NXDOMAIN = 3,
    RCODE_NOTIMP = 4,
    RCODE_REFUSED = 5,
};

enum dns_type { TYPE_A = 1, TYPE_PTR = 12, TYPE_ANY = 255 };
#define CLASS_IN 1

/* Reads the (possibly compressed) name at 'c' inside the message 'msg'
 * into 'out' as dotted text without the trailing dot ("" for the root),
 * case preserved. 'c' ends after the name's bytes in place (after its first
 * pointer if any). */
static int parse_name(const struct cursor *msg, struct cursor *c, char out[DNS_NAME_MAX + 1])
{
    struct cursor cur = *c;
    size_t limit = msg->size - cursor_remaining(&cur); /* pointers must go below this */
    size_t wire = 0, n = 0;
    int jumped = 0;
    for (;;) {
        uint8_t len;
        int rc;
        if ((rc = buf_get_u8(&cur, &len)) != 0) {
            return proxy_cursor_err(rc);
        }
        if ((len & 0xc0) == 0xc0) {
            uint8_t lo;
            if ((rc = buf_get_u8(&cur, &lo)) != 0) {
                return proxy_cursor_err(rc);
            }
            size_t target = ((size_t)(len & 0x3f) << 8) | lo;
            if (target >= limit) {
                return PROXY_ELOOP;
            }
            if (!jumped) {
                *c = cur;
                jumped = 1;
            }
            cur = *msg;
            if (buf_skip(&cur, target) != 0) {
                return PROXY_ELOOP; /* cannot happen: target < limit <= size */
            }
            limit = target;
            continue;
        }
        if (len & 0xc0) {
            return PROXY_ENAME; /* extended label types (RFC 6891 obsoleted) */
        }
        wire += 1u + len;
        if (wire > DNS_NAME_MAX) {
            return PROXY_ENAME;
        }
        if (len == 0) {
            break;
        }
        const uint8_t *label;
        if ((rc = buf_get_view(&cur, len, &label)) != 0) {
            return proxy_cursor_err(rc);
        }
        if (n > 0) {
            out[n++] = '.';
        }
        for (size_t i = 0; i < len; i++) {
            if (label[i] == '.' || label[i] == '\0') {
                return PROXY_ENAME;
            }
            out[n++] = (char)label[i];
        }
    }
    out[n] = '\0';
    if (!jumped) {
        *c = cur;
    }
    return 0;
}

static void lower(char *s)
{
    for (; *s != '\0'; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            *s = (char)(*s - 'A' + 'a');
        }
    }
}

/* Appends the dotted 'name' in wire form. PROXY_ENAME when it is not a
 * valid name (empty label, label over 63 bytes, over 255 bytes in all). */
static int put_name(struct buf *b, const char *name)
{
    size_t total = strlen(name);
    if (total > 253) {
        return PROXY_ENAME;
    }
    const char *p = name;
    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (len == 0 || len > 63) {
            return PROXY_ENAME;
        }
        if (buf_put_u8(b, (uint8_t)len) != 0 || buf_put(b, p, len) != 0) {
            return PROXY_ENOMEM;
        }
        p += len;
        if (*p == '.') {
            p++;
            if (*p == '\0') {
                return PROXY_ENAME;
            }
        }
    }
    return buf_put_u8(b, 0) != 0 ? PROXY_ENOMEM : 0;
}

/* Whether put_name() accepts 'name'. */
static int name_valid(const char *name)
{
    size_t total = strlen(name), run = 0;
    if (total > 253 || (total > 0 && name[total - 1] == '.')) {
        return 0;
    }
    for (const char *p = name; *p != '\0'; p++) {
        if (*p != '.') {
            if (++run > 63) {
                return 0;
            }
        } else if (run == 0) {
            return 0;
        } else {
            run = 0;
        }
    }
    return 1;
}

/* 'name' ends with ".suffix" (or is 'suffix'); both lower case. */
static int in_domain(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    if (s == 0 || n < s || strcmp(name + n - s, suffix) != 0) {
        return 0;
    }
    return n == s || name[n - s - 1] == '.';
}

/* Parses "d.c.b.a.in-addr.arpa" into the address a.b.c.d (network order). */
static int parse_reverse(const char *name, uint32_t *ip4)
{
    uint8_t oct[4];
    const char *p = name;
    for (int i = 3; i >= 0; i--) {
        unsigned v = 0;
        size_t digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 3) {
            v = v * 10 + (unsigned)(*p - '0');
            p++;
            digits++;
        }
        if (digits == 0 || v > 255 || *p != '.') {
            return PROXY_ENOTFOUND;
        }
        oct[i] = (uint8_t)v;
        p++;
    }
    if (strcmp(p, "in-addr.arpa") != 0) {
        return PROXY_ENOTFOUND;
    }
    memcpy(ip4, oct, 4);
    return 0;
}

/* An answer in the making. */
struct dns_answer {
    uint16_t rcode;
    int authoritative;
    uint16_t type; /* 0: no answer record */
    uint32_t a;
    char ptr[DNS_NAME_MAX + 1];
    int pending; /* a lookup awaits a control node: no answer now */
};

/* A lookup's result other than found / not found: pending, or failed
 * (SERVFAIL, not authoritative). Returns 1 when it was one of those. */
static int lookup_other(int rc, struct dns_answer *ans)
{
    if (rc == 0 || rc == PROXY_ENOTFOUND) {
        return 0;
    }
    if (rc == PROXY_EPENDING) {
        ans->pending = 1;
    } else {
        ans->authoritative = 0;
        ans->rcode = RCODE_SERVFAIL;
    }
    return 1;
}

static void resolve(const struct proxy_ctx *ctx, const char *qname, uint16_t qtype, struct dns_answer *ans)
{
    const struct proxy_port *port = ctx->port;
    const struct proxy_lookup *lk = ctx->lk;
    char q[DNS_NAME_MAX + 1];
    char domain[sizeof port->domain + 1];
    size_t dn = 0;
    while (dn + 1 < sizeof port->domain && port->domain[dn] != '\0') {
        domain[dn] = port->domain[dn];
        dn++;
    }
    while (dn > 0 && domain[dn - 1] == '.') {
        dn--;
    }
    domain[dn] = '\0';
    lower(domain);
    size_t qn = strlen(qname);
    memcpy(q, qname, qn + 1);
    lower(q);

    uint32_t ip4;
    if (qtype == TYPE_PTR && parse_reverse(q, &ip4) == 0) {
        int rc = lk->ip4_to_name != NULL ? lk->ip4_to_name(lk->arg, ctx->vrf, ip4, ans->ptr, sizeof ans->ptr)
                                         : PROXY_ENOTFOUND;
        if (lookup_other(rc, ans)) {
            return;
        }
        if (rc == 0) {
            ans->authoritative = 1;
            if (memchr(ans->ptr, '\0', sizeof ans->ptr) == NULL || !name_valid(ans->ptr)) {
                ans->rcode = RCODE_SERVFAIL; /* the agent's name cannot be sent */
                return;
            }
            ans->type = TYPE_PTR;
            return;
        }
        uint32_t m = 0;
        if (port->plen4 > 0) {
            uint8_t mb[4];
            be32_store(mb, port->plen4 >= 32 ? 0xffffffffu : ~((1u << (32 - port->plen4)) - 1));
            memcpy(&m, mb, 4);
        }
        if (port->ip4 != 0 && (ip4 & m) == (port->ip4 & m)) {
            ans->authoritative = 1;
            ans->rcode = RCODE_NXDOMAIN;
        } else {
            ans->rcode = RCODE_REFUSED;
        }
        return;
    }

    char fqdn[DNS_NAME_MAX + 1 + sizeof domain];
    if (qn > 0 && strchr(q, '.') == NULL) {
        /* a bare instance name: complete it with the port's domain */
        memcpy(fqdn, q, qn);
        if (dn > 0) {
            fqdn[qn] = '.';
            memcpy(fqdn + qn + 1, domain, dn + 1);
        } else {
            fqdn[qn] = '\0';
        }
    } else if (in_domain(q, domain)) {
        memcpy(fqdn, q, qn + 1);
    } else {
        ans->rcode = RCODE_REFUSED;
        return;
    }
    ans->authoritative = 1;
    if (strcmp(fqdn, domain) == 0) {
        return; /* the domain itself exists and has no address: NODATA */
    }
    int rc = lk->name_to_ip4 != NULL ? lk->name_to_ip4(lk->arg, ctx->vrf, fqdn, &ip4) : PROXY_ENOTFOUND;
    if (lookup_other(rc, ans)) {
        return;
    }
    if (rc != 0) {
        ans->rcode = RCODE_NXDOMAIN;
        return;
    }
    if (qtype == TYPE_A || qtype == TYPE_ANY) {
        ans->type = TYPE_A;
        ans->a = ip4;
    } /* other types of an existing name: NOERROR without records */
}

int proxy_dns(const struct proxy_ctx *ctx, const struct proxy_udp *u, struct buf *reply)
{
    const struct proxy_port *port = ctx->port;
    if (u->dst == 0 || (u->dst != port->gw4 && u->dst != port->dns4)) {
        return PROXY_ENOREPLY; /* a query for another server */
    }
    const struct cursor msg = u->payload;
    struct cursor c = msg;
    uint16_t id, flags, qdcount, ancount, nscount, arcount;
    int rc;
    if ((rc = buf_get_u16(&c, &id)) != 0 || (rc = buf_get_u16(&c, &flags)) != 0 ||
        (rc = buf_get_u16(&c, &qdcount)) != 0 || (rc = buf_get_u16(&c, &ancount)) != 0 ||
        (rc = buf_get_u16(&c, &nscount)) != 0 || (rc = buf_get_u16(&c, &arcount)) != 0) {
        return proxy_cursor_err(rc);
    }
    if (flags & DNS_QR) {
        return PROXY_ENOREPLY; /* a response: never answer one */
    }

    char qname[DNS_NAME_MAX + 1];
    uint16_t qtype = 0, qclass = 0;
    struct dns_answer ans = {0};
    int with_question = 0;
    if (DNS_OPCODE(flags) != 0) {
        ans.rcode = RCODE_NOTIMP;
    } else if (qdcount != 1) {
        ans.rcode = RCODE_FORMERR;
    } else {
        if ((rc = parse_name(&msg, &c, qname)) != 0) {
            return rc;
        }
        if ((rc = buf_get_u16(&c, &qtype)) != 0 || (rc = buf_get_u16(&c, &qclass)) != 0) {
            return proxy_cursor_err(rc);
        }
        with_question = 1;
        if (qclass != CLASS_IN && qclass != TYPE_ANY) {
            ans.rcode = RCODE_REFUSED;
        } else {
            resolve(ctx, qname, qtype, &ans);
        }
    }
    if (ans.pending) {
        return PROXY_EPENDING; /* the agent holds the frame and runs it again later */
    }

    if ((rc = proxy_udp_begin(reply)) != 0) {
        return rc;
    }
    uint16_t rflags = (uint16_t)(DNS_QR | (flags & (0xf << 11)) | (flags & DNS_RD) |
                                 (ans.authoritative ? DNS_AA : 0) | ans.rcode);
    if (buf_put_u16(reply, id) != 0 || buf_put_u16(reply, rflags) != 0 ||
        buf_put_u16(reply, (uint16_t)with_question) != 0 || buf_put_u16(reply, ans.type != 0) != 0 ||
        buf_put_u16(reply, 0) != 0 || buf_put_u16(reply, 0) != 0) {
        return PROXY_ENOMEM;
    }
    if (with_question) {
        if ((rc = put_name(reply, qname)) != 0 || buf_put_u16(reply, qtype) != 0 ||
            buf_put_u16(reply, qclass) != 0) {
            return rc != 0 ? rc : PROXY_ENOMEM;
        }
    }
    if (ans.type != 0) {
        uint32_t ttl = port->dns_ttl_s != 0 ? port->dns_ttl_s : PROXY_DNS_TTL_DEFAULT;
        /* the owner is the question's name, at offset 12: compressed */
        if (buf_put_u16(reply, 0xc000 | DNS_HDR) != 0 || buf_put_u16(reply, ans.type) != 0 ||
            buf_put_u16(reply, CLASS_IN) != 0 || buf_put_u32(reply, ttl) != 0) {
            return PROXY_ENOMEM;
        }
        if (ans.type == TYPE_A) {
            if (buf_put_u16(reply, 4) != 0 || buf_put(reply, &ans.a, 4) != 0) {
                return PROXY_ENOMEM;
            }
        } else {
            if (buf_put_u16(reply, 0) != 0) { /* rdlength, patched below */
                return PROXY_ENOMEM;
            }
            size_t at = reply->size;
            if ((rc = put_name(reply, ans.ptr)) != 0) {
                return rc;
            }
            be16_store(reply->data + at - 2, (uint16_t)(reply->size - at));
        }
    }
    return proxy_udp_finish(reply, ctx->eth_src, port->vrouter_mac, u->dst, u->src, PROXY_DNS_PORT,
                            u->sport);
}

/* The DHCP proxy (RFC 2131, options from RFC 2132, 3442, 6842): the
 * agent is the only DHCP server a VM sees, and it hands out exactly the
 * address the port was created with, so the server is stateless: DISCOVER
 * gets an OFFER, REQUEST an ACK for the port's address (NAK for any other
 * address or server id), INFORM an ACK without lease, RELEASE and DECLINE
 * nothing. Only requests whose chaddr is the port's MAC are answered. */
#include <string.h>

#include "vrouter/agent/proxy/proxy_int.h"

#define BOOTP_FIXED 236 /* op .. file */
#define BOOTP_MIN 300   /* RFC 1542: the smallest BOOTP message to send */
#define DHCP_MAGIC 0x63825363u
#define DHCP_MIN_MAX_SIZE 576 /* RFC 2131: every client accepts this IP datagram */
#define DHCP_FLAG_BROADCAST 0x8000

enum dhcp_type {
    DHCPDISCOVER = 1,
    DHCPOFFER = 2,
    DHCPREQUEST = 3,
    DHCPDECLINE = 4,
    DHCPACK = 5,
    DHCPNAK = 6,
    DHCPRELEASE = 7,
    DHCPINFORM = 8,
};

enum dhcp_opt {
    OPT_PAD = 0,
    OPT_SUBNET_MASK = 1,
    OPT_ROUTER = 3,
    OPT_DNS = 6,
    OPT_HOSTNAME = 12,
    OPT_DOMAIN = 15,
    OPT_MTU = 26,
    OPT_REQUESTED_IP = 50,
    OPT_LEASE = 51,
    OPT_OVERLOAD = 52,
    OPT_MSG_TYPE = 53,
    OPT_SERVER_ID = 54,
    OPT_PRL = 55,
    OPT_MAX_SIZE = 57,
    OPT_T1 = 58,
    OPT_T2 = 59,
    OPT_CLIENT_ID = 61,
    OPT_CLASSLESS_ROUTE = 121,
    OPT_END = 255,
};

/* The fields of a client message the answer depends on. */
struct dhcp_req {
    uint32_t xid;
    uint16_t flags;
    uint32_t ciaddr, giaddr;
    uint8_t chaddr[16];
    uint8_t type; /* 0: no option 53 (plain BOOTP) */
    uint8_t overload;
    int has_req_ip, has_server_id;
    uint32_t req_ip, server_id;
    uint16_t max_size; /* 0: not given */
    int has_prl;
    uint8_t prl[256]; /* parameter request list, duplicates removed */
    size_t prl_len;
    uint8_t prl_seen[32];
    uint8_t client_id[255];
    size_t client_id_len; /* 0: none */
};

/* Reads the options in 'c' (one of the options, file or sname fields) into
 * 'r'. 'main' is set for the options field, where option 52 may appear. */
static int parse_options(struct cursor *c, struct dhcp_req *r, int main)
{
    for (;;) {
        uint8_t code, len;
        const uint8_t *v;
        if (buf_get_u8(c, &code) != 0) {
            return 0; /* no END: the field simply ends */
        }
        if (code == OPT_PAD) {
            continue;
        }
        if (code == OPT_END) {
            return 0;
        }
        if (buf_get_u8(c, &len) != 0 || buf_get_view(c, len, &v) != 0) {
            return PROXY_EOPTION;
        }
        struct cursor o;
        cursor_init(&o, v, len);
        switch (code) {
        case OPT_MSG_TYPE:
            if (len != 1) {
                return PROXY_EMALFORMED;
            }
            r->type = v[0];
            break;
        case OPT_OVERLOAD:
            if (len != 1 || v[0] < 1 || v[0] > 3) {
                return PROXY_EMALFORMED;
            }
            if (main) {
                r->overload = v[0];
            }
            break;
        case OPT_REQUESTED_IP:
            if (len != 4 || buf_get_bytes(&o, &r->req_ip, 4) != 0) {
                return PROXY_EMALFORMED;
            }
            r->has_req_ip = 1;
            break;
        case OPT_SERVER_ID:
            if (len != 4 || buf_get_bytes(&o, &r->server_id, 4) != 0) {
                return PROXY_EMALFORMED;
            }
            r->has_server_id = 1;
            break;
        case OPT_MAX_SIZE:
            if (len != 2 || buf_get_u16(&o, &r->max_size) != 0) {
                return PROXY_EMALFORMED;
            }
            break;
        case OPT_PRL: /* may be split over several instances (RFC 3396) */
            r->has_prl = 1;
            for (uint8_t want; buf_get_u8(&o, &want) == 0;) {
                if (!(r->prl_seen[want / 8] & (1u << (want % 8)))) {
                    r->prl_seen[want / 8] |= (uint8_t)(1u << (want % 8));
                    r->prl[r->prl_len++] = want; /* at most 256 distinct codes */
                }
            }
            break;
        case OPT_CLIENT_ID:
            if (len == 0) {
                return PROXY_EMALFORMED;
            }
            memcpy(r->client_id, v, len);
            r->client_id_len = len;
            break;
        default:
            break;
        }
    }
}

static int parse_request(struct cursor *c, struct dhcp_req *r)
{
    uint8_t op, htype, hlen, hops;
    uint16_t secs;
    uint32_t yiaddr, siaddr, magic;
    struct cursor sname, file;
    int rc;
    memset(r, 0, sizeof *r);
    if ((rc = buf_get_u8(c, &op)) != 0 || (rc = buf_get_u8(c, &htype)) != 0 ||
        (rc = buf_get_u8(c, &hlen)) != 0 || (rc = buf_get_u8(c, &hops)) != 0 ||
        (rc = buf_get_u32(c, &r->xid)) != 0 || (rc = buf_get_u16(c, &secs)) != 0 ||
        (rc = buf_get_u16(c, &r->flags)) != 0 || (rc = buf_get_bytes(c, &r->ciaddr, 4)) != 0 ||
        (rc = buf_get_bytes(c, &yiaddr, 4)) != 0 || (rc = buf_get_bytes(c, &siaddr, 4)) != 0 ||
        (rc = buf_get_bytes(c, &r->giaddr, 4)) != 0 || (rc = buf_get_bytes(c, r->chaddr, 16)) != 0 ||
        (rc = buf_get_sub(c, 64, &sname)) != 0 || (rc = buf_get_sub(c, 128, &file)) != 0) {
        return proxy_cursor_err(rc);
    }
    if (op != 1) {
        return PROXY_ENOREPLY; /* a BOOTREPLY: another server's, not for us */
    }
    if (htype != 1 || hlen != 6) {
        return PROXY_EUNSUPPORTED;
    }
    if (buf_get_u32(c, &magic) != 0 || magic != DHCP_MAGIC) {
        return PROXY_EUNSUPPORTED; /* plain BOOTP: not served */
    }
    if ((rc = parse_options(c, r, 1)) != 0) {
        return rc;
    }
    if ((r->overload & 1) && (rc = parse_options(&file, r, 0)) != 0) {
        return rc;
    }
    if ((r->overload & 2) && (rc = parse_options(&sname, r, 0)) != 0) {
        return rc;
    }
    if (r->type == 0) {
        return PROXY_EUNSUPPORTED;
    }
    return 0;
}

/* A bounded writer over the caller's option array (our own bytes). */
struct opt_writer {
    uint8_t *p;
    size_t size, cap;
    int overflow;
};

static void opt_put(struct opt_writer *w, uint8_t code, const void *v, size_t len)
{
    if (len > 255 || w->size + 2 + len > w->cap) {
        w->overflow = 1;
        return;
    }
    w->p[w->size++] = code;
    w->p[w->size++] = (uint8_t)len;
    if (len > 0) {
        memcpy(w->p + w->size, v, len);
    }
    w->size += len;
}

static void opt_put_u32(struct opt_writer *w, uint8_t code, uint32_t host_value)
{
    uint8_t v[4];
    be32_store(v, host_value);
    opt_put(w, code, v, 4);
}

static uint32_t plen_mask(uint8_t plen)
{
    uint32_t m = plen == 0 ? 0 : plen >= 32 ? 0xffffffffu : ~((1u << (32 - plen)) - 1);
    uint8_t b[4];
    be32_store(b, m);
    uint32_t out;
    memcpy(&out, b, 4);
    return out; /* network order, like the addresses */
}

/* Whether the gateway lies outside the VM's subnet (e.g. a /32 address),
 * so that the VM needs a host route to reach it (option 121). */
static int gw_off_link(const struct proxy_port *port)
{
    uint32_t m = plen_mask(port->plen4);
    return (port->gw4 & m) != (port->ip4 & m) || port->plen4 >= 32;
}

static size_t str_size(const char *s, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap && s[n] != '\0') {
        n++;
    }
    return n;
}

/* Appends option 'code' if the port has a value for it. */
static void put_param(struct opt_writer *w, const struct proxy_port *port, uint8_t code, int requested)
{
    switch (code) {
    case OPT_SUBNET_MASK: {
        uint32_t m = plen_mask(port->plen4);
        opt_put(w, code, &m, 4);
        break;
    }
    case OPT_ROUTER:
        opt_put(w, code, &port->gw4, 4);
        break;
    case OPT_DNS:
        if (port->dns4 != 0) {
            opt_put(w, code, &port->dns4, 4);
        }
        break;
    case OPT_HOSTNAME: {
        size_t n = str_size(port->hostname, sizeof port->hostname);
        if (n > 0) {
            opt_put(w, code, port->hostname, n);
        }
        break;
    }
    case OPT_DOMAIN: {
        size_t n = str_size(port->domain, sizeof port->domain);
        if (n > 0) {
            opt_put(w, code, port->domain, n);
        }
        break;
    }
    case OPT_MTU:
        if (port->mtu >= 68) {
            uint8_t v[2];
            be16_store(v, port->mtu);
            opt_put(w, code, v, 2);
        }
        break;
    case OPT_CLASSLESS_ROUTE:
        /* RFC 3442: only when asked for; a client using it ignores option
         * 3, so the default route is repeated here. */
        if (requested && gw_off_link(port)) {
            uint8_t v[14];
            v[0] = 32;
            memcpy(v + 1, &port->gw4, 4);
            memset(v + 5, 0, 4); /* on link */
            v[9] = 0;
            memcpy(v + 10, &port->gw4, 4);
            opt_put(w, code, v, sizeof v);
        }
        break;
    default:
        break;
    }
}

/* Builds the options of an answer of 'type' into 'w'. */
static void build_options(struct opt_writer *w, const struct proxy_port *port, const struct dhcp_req *r,
                          uint8_t type, int with_client_id)
{
    opt_put(w, OPT_MSG_TYPE, &type, 1);
    opt_put(w, OPT_SERVER_ID, &port->gw4, 4);
    if (with_client_id && r->client_id_len > 0) {
        opt_put(w, OPT_CLIENT_ID, r->client_id, r->client_id_len);
    }
    if (type == DHCPNAK) {
        return;
    }
    if (r->type != DHCPINFORM) {
        uint32_t lease = port->lease_s;
        opt_put_u32(w, OPT_LEASE, lease);
        if (lease != 0xffffffffu) {
            opt_put_u32(w, OPT_T1, lease / 2);
            opt_put_u32(w, OPT_T2, (uint32_t)((uint64_t)lease * 7 / 8));
        }
    }
    static const uint8_t defaults[] = {OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME, OPT_DOMAIN, OPT_MTU};
    if (r->has_prl) {
        for (size_t i = 0; i < r->prl_len; i++) {
            put_param(w, port, r->prl[i], 1);
        }
    } else {
        for (size_t i = 0; i < sizeof defaults; i++) {
            put_param(w, port, defaults[i], 0);
        }
    }
}

int proxy_dhcp(const struct proxy_ctx *ctx, const struct proxy_udp *u, struct buf *reply)
{
    const struct proxy_port *port = ctx->port;
    struct cursor c = u->payload;
    struct dhcp_req r;
    int rc = parse_request(&c, &r);
    if (rc != 0) {
        return rc;
    }
    if (memcmp(r.chaddr, port->mac, 6) != 0 || r.giaddr != 0) {
        return PROXY_ENOREPLY; /* another client's (or a relayed) message */
    }
    if (u->dst != 0xffffffffu && (port->gw4 == 0 || u->dst != port->gw4)) {
        return PROXY_ENOREPLY; /* unicast to another server */
    }
    if (port->ip4 == 0 || port->gw4 == 0) {
        return PROXY_ENOREPLY; /* nothing to hand out, no server identity */
    }

    uint8_t type;
    switch (r.type) {
    case DHCPDISCOVER:
        type = DHCPOFFER;
        break;
    case DHCPREQUEST: {
        uint32_t want = r.has_req_ip ? r.req_ip : r.ciaddr;
        int ok = want == port->ip4 && (!r.has_server_id || r.server_id == port->gw4);
        type = ok ? DHCPACK : DHCPNAK;
        break;
    }
    case DHCPINFORM:
        type = DHCPACK;
        break;
    default: /* DECLINE, RELEASE, server messages, unknown types */
        return PROXY_ENOREPLY;
    }

    size_t limit = r.max_size > DHCP_MIN_MAX_SIZE ? r.max_size : DHCP_MIN_MAX_SIZE;
    limit -= PROXY_IP4_HDR + PROXY_UDP_HDR + BOOTP_FIXED + 4 + 1; /* room for options before END */
    uint8_t opts[1024];
    struct opt_writer w = {.p = opts, .cap = sizeof opts < limit ? sizeof opts : limit};
    build_options(&w, port, &r, type, 1);
    if (w.overflow) { /* drop the echoed client id first, then what does not fit */
        w = (struct opt_writer){.p = opts, .cap = w.cap};
        build_options(&w, port, &r, type, 0);
    }

    /* Where the answer goes (RFC 2131 4.1; giaddr is always 0 here). */
    static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t *dmac = r.chaddr;
    uint32_t dip;
    if (type == DHCPNAK) {
        dmac = bcast_mac;
        dip = 0xffffffffu;
    } else if (r.ciaddr != 0) {
        dip = r.ciaddr;
    } else if (r.flags & DHCP_FLAG_BROADCAST) {
        dmac = bcast_mac;
        dip = 0xffffffffu;
    } else {
        dip = port->ip4;
    }

    uint32_t yiaddr = (type == DHCPNAK || r.type == DHCPINFORM) ? 0 : port->ip4;
    uint32_t ciaddr = (type == DHCPNAK || r.type == DHCPDISCOVER) ? 0 : r.ciaddr;
    if ((rc = proxy_udp_begin(reply)) != 0) {
        return rc;
    }
    size_t start = reply->size;
    uint8_t *b;
    if (buf_put_space(reply, BOOTP_FIXED, &b) != 0) {
        return PROXY_ENOMEM;
    }
    b[0] = 2; /* BOOTREPLY */
    b[1] = 1;
    b[2] = 6;
    b[3] = 0;
    be32_store(b + 4, r.xid);
    be16_store(b + 8, 0);
    be16_store(b + 10, r.flags);
    memcpy(b + 12, &ciaddr, 4);
    memcpy(b + 16, &yiaddr, 4);
    /* siaddr, giaddr zero; chaddr echoed; sname and file empty */
    memcpy(b + 28, r.chaddr, 16);
    uint8_t end = OPT_END;
    if (buf_put_u32(reply, DHCP_MAGIC) != 0 || buf_put(reply, opts, w.size) != 0 ||
        buf_put(reply, &end, 1) != 0) {
        return PROXY_ENOMEM;
    }
    if (reply->size - start < BOOTP_MIN) {
        uint8_t *pad;
        if (buf_put_space(reply, BOOTP_MIN - (reply->size - start), &pad) != 0) {
            return PROXY_ENOMEM;
        }
    }
    return proxy_udp_finish(reply, dmac, port->vrouter_mac, port->gw4, dip, PROXY_DHCP_SERVER_PORT,
                            PROXY_DHCP_CLIENT_PORT);
}

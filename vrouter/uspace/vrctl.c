/* vrctl: programs a datapath over its control socket from a plain text
 * description, and reads it back; the stand-in for the agent in tests.
 *   vrctl -s SOCKET apply FILE|- [--linger]   one request per line
 *   vrctl -s SOCKET dump if|vrf|nh|route|mac|label|vni|flow
 *   vrctl -s SOCKET stats
 *   vrctl -s SOCKET gen N | sweep N
 * --linger keeps the session open after applying, until the process is
 * killed (to show that losing the agent changes nothing).
 * Lines ('#' starts a comment; addresses IPv4 dotted or IPv6, MACs hex):
 *   gen N                      sweep N
 *   vrf ID [bum NH]
 *   if IDX vm|fabric|agent [vrf V] [mac M] [ip A] [gw A] [dns A]
 *         [gwmac M] [name DEV] [policy]
 *   nh ID discard|punt|if|tunnel|vrf|ecmp|bum [if IDX] [vrf V]
 *         [encap gre|udp|vxlan] [label L] [sip A] [dip A] [dmac M]
 *         [outer-dmac M] [members a,b,..] [l2]
 *   route VRF PREFIX/LEN nh ID    mac VRF MAC nh ID    label L nh ID
 *   vni N vrf V [nh ID]
 *   flow vrf V proto P src A dst A [sport N] [dport N]
 *        action forward|drop|nat|mirror [nat-ip A] [nat-port N] [snat]
 *        [dnat] [to-vrf V] [mirror-nh ID]
 *   del if|vrf|nh|label|vni ID     del route VRF PREFIX/LEN
 *   del mac VRF MAC
 * Dumps print the same format, with 'gen G' (and counters) appended.
 * Exit status 0 when every request succeeded, 1 otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vrouter/msg/msg.h"

int main(int argc, char **argv);

static int sock = -1;
static uint32_t next_seq = 1;
static uint8_t rbuf[VR_MSG_MAX * 8];
static size_t rlen;

/* ---- transport ---- */

static int connect_to(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) {
        return -1;
    }
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int send_msg(const struct vr_msg *m)
{
    uint8_t frame[VR_MSG_MAX];
    size_t size = 0, at = 0;
    int rc = vr_msg_encode(m, frame, sizeof frame, &size);
    if (rc != 0) {
        fprintf(stderr, "vrctl: cannot encode: %s\n", strata_strerror(rc));
        return -1;
    }
    while (at < size) {
        ssize_t n = send(sock, frame + at, size - at, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            perror("vrctl: send");
            return -1;
        }
        at += (size_t)n;
    }
    return 0;
}

/* Reads the next frame from the datapath into 'm'. */
static int recv_msg(struct vr_msg *m)
{
    for (;;) {
        size_t size = 0;
        int rc = vr_msg_peek(rbuf, rlen, &size);
        if (rc == 0 && size <= rlen) {
            rc = vr_msg_decode(rbuf, size, m);
            memmove(rbuf, rbuf + size, rlen - size);
            rlen -= size;
            if (rc != 0) {
                fprintf(stderr, "vrctl: bad frame from datapath: %s\n", strata_strerror(rc));
                return -1;
            }
            return 0;
        }
        if (rc != 0 && rc != VR_MSG_ESHORT) {
            fprintf(stderr, "vrctl: bad frame from datapath: %s\n", strata_strerror(rc));
            return -1;
        }
        ssize_t n = read(sock, rbuf + rlen, sizeof rbuf - rlen);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fprintf(stderr, "vrctl: datapath closed the session\n");
            return -1;
        }
        rlen += (size_t)n;
    }
}

/* Sends 'm' and waits for its reply; frames before it go to 'entry' (dump
 * entries, statistics). Returns the reply code, or -1 on transport errors. */
static int call(struct vr_msg *m, void (*entry)(const struct vr_msg *), uint32_t *value)
{
    m->seq = next_seq++;
    if (send_msg(m) != 0) {
        return -1;
    }
    struct vr_msg r;
    for (;;) {
        if (recv_msg(&r) != 0) {
            return -1;
        }
        if (r.seq != m->seq) {
            fprintf(stderr, "vrctl: unexpected seq %u\n", r.seq);
            return -1;
        }
        if (r.type == VR_MSG_REPLY) {
            if (value) {
                *value = r.u.reply.value;
            }
            return r.u.reply.code;
        }
        if (entry) {
            entry(&r);
        }
    }
}

/* ---- parsing ---- */

static int p_u32(const char *s, uint32_t *v)
{
    char *end;
    errno = 0;
    unsigned long x = s ? strtoul(s, &end, 0) : 0;
    if (!s || !*s || *end || errno || x > 0xffffffffUL) {
        return -1;
    }
    *v = (uint32_t)x;
    return 0;
}

static int p_ip4(const char *s, uint32_t *v)
{
    struct in_addr a;
    if (!s || inet_pton(AF_INET, s, &a) != 1) {
        return -1;
    }
    *v = ntohl(a.s_addr);
    return 0;
}

/* An address of either family into 'addr' (16 bytes); '*family' 4 or 6. */
static int p_addr(const char *s, uint8_t *family, uint8_t *addr)
{
    memset(addr, 0, 16);
    if (!s) {
        return -1;
    }
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        *family = 6;
        return 0;
    }
    return -1;
}

static int p_prefix(const char *s, struct dp_route *r)
{
    char tmp[64];
    if (!s || strlen(s) >= sizeof tmp) {
        return -1;
    }
    strcpy(tmp, s);
    char *slash = strchr(tmp, '/');
    uint32_t plen;
    if (!slash) {
        return -1;
    }
    *slash = 0;
    if (p_addr(tmp, &r->family, r->addr) != 0 || p_u32(slash + 1, &plen) != 0 ||
        plen > (r->family == 4 ? 32u : 128u)) {
        return -1;
    }
    r->plen = (uint8_t)plen;
    return 0;
}

static int p_mac(const char *s, uint8_t *mac)
{
    unsigned b[6];
    char extra;
    if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &extra) != 6) {
        return -1;
    }
    for (int k = 0; k < 6; k++) {
        if (b[k] > 0xff) {
            return -1;
        }
        mac[k] = (uint8_t)b[k];
    }
    return 0;
}

static int p_enum(const char *s, const char *const *names, unsigned count, uint8_t *v)
{
    for (unsigned k = 0; s && k < count; k++) {
        if (names[k] && strcmp(s, names[k]) == 0) {
            *v = (uint8_t)k;
            return 0;
        }
    }
    return -1;
}

static const char *const if_types[] = {"none", "vm", "fabric", "agent"};
static const char *const nh_types[] = {"none", "discard", "punt", "if", "tunnel", "vrf", "ecmp", "bum"};
static const char *const encaps[] = {"none", "gre", "udp", "vxlan"};
static const char *const actions[] = {"forward", "drop", "nat", "mirror"};
static const char *const tables[] = {NULL, "if", "vrf", "nh", "route", "mac", "label", "vni", "flow"};

#define MAX_TOK 48

/* Parses the words of one line into request 'm'. Returns 0 or -1. */
static int parse_line(char **w, int n, struct vr_msg *m)
{
    const char *k = w[0];
    int i = 1;
#define NEXT (i < n ? w[i++] : NULL)
    if (!strcmp(k, "gen") || !strcmp(k, "sweep")) {
        vr_msg_init(m, !strcmp(k, "gen") ? VR_MSG_GEN_BEGIN : VR_MSG_SWEEP, 0, 0);
        return p_u32(NEXT, &m->u.id) == 0 && i == n ? 0 : -1;
    }
    if (!strcmp(k, "vrf")) {
        vr_msg_init(m, VR_MSG_VRF, 0, 0);
        if (p_u32(NEXT, &m->u.vrf.vrf) != 0) {
            return -1;
        }
        while (i < n) {
            const char *key = NEXT;
            if (strcmp(key, "bum") || p_u32(NEXT, &m->u.vrf.bum_nh) != 0) {
                return -1;
            }
        }
        return 0;
    }
    if (!strcmp(k, "if")) {
        vr_msg_init(m, VR_MSG_IF, 0, 0);
        struct dp_if *f = &m->u.ifc.dpif;
        if (p_u32(NEXT, &f->ifindex) != 0 || p_enum(NEXT, if_types, 4, &f->type) != 0) {
            return -1;
        }
        while (i < n) {
            const char *key = NEXT;
            int bad;
            if (!strcmp(key, "vrf")) {
                bad = p_u32(NEXT, &f->vrf);
            } else if (!strcmp(key, "mac")) {
                bad = p_mac(NEXT, f->mac);
            } else if (!strcmp(key, "ip")) {
                bad = p_ip4(NEXT, &f->ip4);
            } else if (!strcmp(key, "gw")) {
                bad = p_ip4(NEXT, &f->gw_ip4);
            } else if (!strcmp(key, "dns")) {
                bad = p_ip4(NEXT, &f->dns_ip4);
            } else if (!strcmp(key, "gwmac")) {
                bad = p_mac(NEXT, f->gw_mac);
            } else if (!strcmp(key, "name")) {
                const char *nm = NEXT;
                bad = !nm || strlen(nm) >= VR_MSG_NAME_MAX;
                if (!bad) {
                    strcpy(m->u.ifc.name, nm);
                }
            } else if (!strcmp(key, "policy")) {
                f->flags |= DP_IF_POLICY;
                bad = 0;
            } else {
                bad = -1;
            }
            if (bad) {
                return -1;
            }
        }
        return 0;
    }
    if (!strcmp(k, "nh")) {
        vr_msg_init(m, VR_MSG_NH, 0, 0);
        struct dp_nh *h = &m->u.nh;
        if (p_u32(NEXT, &h->id) != 0 || p_enum(NEXT, nh_types, 8, &h->type) != 0) {
            return -1;
        }
        while (i < n) {
            const char *key = NEXT;
            int bad;
            if (!strcmp(key, "if")) {
                bad = p_u32(NEXT, &h->ifindex);
            } else if (!strcmp(key, "vrf")) {
                bad = p_u32(NEXT, &h->vrf);
            } else if (!strcmp(key, "encap")) {
                bad = p_enum(NEXT, encaps, 4, &h->encap);
            } else if (!strcmp(key, "label")) {
                bad = p_u32(NEXT, &h->label);
            } else if (!strcmp(key, "sip")) {
                bad = p_ip4(NEXT, &h->sip);
            } else if (!strcmp(key, "dip")) {
                bad = p_ip4(NEXT, &h->dip);
            } else if (!strcmp(key, "dmac")) {
                bad = p_mac(NEXT, h->dmac);
            } else if (!strcmp(key, "outer-dmac")) {
                bad = p_mac(NEXT, h->outer_dmac);
            } else if (!strcmp(key, "l2")) {
                h->flags |= DP_NH_L2;
                bad = 0;
            } else if (!strcmp(key, "members")) {
                char *list = NEXT, *save = NULL;
                bad = !list;
                for (char *t = list ? strtok_r(list, ",", &save) : NULL; t && !bad; t = strtok_r(NULL, ",", &save)) {
                    bad = h->member_count >= DP_NH_MAX_MEMBERS || p_u32(t, &h->members[h->member_count]) != 0;
                    h->member_count++;
                }
            } else {
                bad = -1;
            }
            if (bad) {
                return -1;
            }
        }
        return 0;
    }
    if (!strcmp(k, "route")) {
        vr_msg_init(m, VR_MSG_ROUTE, 0, 0);
        const char *nh_kw;
        if (p_u32(NEXT, &m->u.route.vrf) != 0 || p_prefix(NEXT, &m->u.route) != 0 || !(nh_kw = NEXT) ||
            strcmp(nh_kw, "nh") || p_u32(NEXT, &m->u.route.nh) != 0 || i != n) {
            return -1;
        }
        return 0;
    }
    if (!strcmp(k, "mac")) {
        vr_msg_init(m, VR_MSG_MAC, 0, 0);
        const char *nh_kw;
        if (p_u32(NEXT, &m->u.mac.vrf) != 0 || p_mac(NEXT, m->u.mac.mac) != 0 || !(nh_kw = NEXT) ||
            strcmp(nh_kw, "nh") || p_u32(NEXT, &m->u.mac.nh) != 0 || i != n) {
            return -1;
        }
        return 0;
    }
    if (!strcmp(k, "label")) {
        vr_msg_init(m, VR_MSG_LABEL, 0, 0);
        const char *nh_kw;
        if (p_u32(NEXT, &m->u.label.label) != 0 || !(nh_kw = NEXT) || strcmp(nh_kw, "nh") ||
            p_u32(NEXT, &m->u.label.nh) != 0 || i != n) {
            return -1;
        }
        return 0;
    }
    if (!strcmp(k, "vni")) {
        vr_msg_init(m, VR_MSG_VNI, 0, 0);
        const char *kw;
        if (p_u32(NEXT, &m->u.vni.vni) != 0 || !(kw = NEXT) || strcmp(kw, "vrf") || p_u32(NEXT, &m->u.vni.vrf) != 0) {
            return -1;
        }
        if (i < n && (!(kw = NEXT) || strcmp(kw, "nh") || p_u32(NEXT, &m->u.vni.nh) != 0)) {
            return -1;
        }
        return i == n ? 0 : -1;
    }
    if (!strcmp(k, "flow")) {
        vr_msg_init(m, VR_MSG_FLOW, 0, 0);
        struct dp_flow_key *fk = &m->u.flow.key;
        struct dp_flow_action *a = &m->u.flow.action;
        uint8_t fam_src = 0, fam_dst = 0;
        while (i < n) {
            const char *key = NEXT;
            uint32_t v = 0;
            int bad = 0;
            if (!strcmp(key, "vrf")) {
                bad = p_u32(NEXT, &fk->vrf);
            } else if (!strcmp(key, "proto")) {
                bad = p_u32(NEXT, &v) || v > 255;
                fk->proto = (uint8_t)v;
            } else if (!strcmp(key, "src")) {
                bad = p_addr(NEXT, &fam_src, fk->src);
            } else if (!strcmp(key, "dst")) {
                bad = p_addr(NEXT, &fam_dst, fk->dst);
            } else if (!strcmp(key, "sport") || !strcmp(key, "dport")) {
                bad = p_u32(NEXT, &v) || v > 65535;
                *(key[0] == 's' ? &fk->sport : &fk->dport) = (uint16_t)v;
            } else if (!strcmp(key, "action")) {
                bad = p_enum(NEXT, actions, 4, &a->type);
            } else if (!strcmp(key, "nat-ip")) {
                bad = p_ip4(NEXT, &a->nat_ip);
            } else if (!strcmp(key, "nat-port")) {
                bad = p_u32(NEXT, &v) || v > 65535;
                a->nat_port = (uint16_t)v;
            } else if (!strcmp(key, "snat")) {
                a->flags |= DP_FA_SNAT;
            } else if (!strcmp(key, "dnat")) {
                a->flags |= DP_FA_DNAT;
            } else if (!strcmp(key, "to-vrf")) {
                a->flags |= DP_FA_VRF;
                bad = p_u32(NEXT, &a->vrf);
            } else if (!strcmp(key, "mirror-nh")) {
                bad = p_u32(NEXT, &a->mirror_nh);
            } else {
                bad = 1;
            }
            if (bad) {
                return -1;
            }
        }
        if (!fam_src || fam_src != fam_dst) {
            return -1;
        }
        fk->family = fam_src;
        return 0;
    }
    if (!strcmp(k, "del")) {
        const char *what = NEXT;
        if (!what) {
            return -1;
        }
        if (!strcmp(what, "route")) {
            vr_msg_init(m, VR_MSG_ROUTE_DEL, 0, 0);
            return p_u32(NEXT, &m->u.route.vrf) == 0 && p_prefix(NEXT, &m->u.route) == 0 && i == n ? 0 : -1;
        }
        if (!strcmp(what, "mac")) {
            vr_msg_init(m, VR_MSG_MAC_DEL, 0, 0);
            return p_u32(NEXT, &m->u.mac.vrf) == 0 && p_mac(NEXT, m->u.mac.mac) == 0 && i == n ? 0 : -1;
        }
        static const char *const del_names[] = {"if", "vrf", "nh", "label", "vni"};
        static const uint8_t del_types[] = {VR_MSG_IF_DEL, VR_MSG_VRF_DEL, VR_MSG_NH_DEL, VR_MSG_LABEL_DEL,
                                            VR_MSG_VNI_DEL};
        for (unsigned d = 0; d < 5; d++) {
            if (!strcmp(what, del_names[d])) {
                vr_msg_init(m, del_types[d], 0, 0);
                return p_u32(NEXT, &m->u.id) == 0 && i == n ? 0 : -1;
            }
        }
        return -1;
    }
#undef NEXT
    return -1;
}

/* ---- printing ---- */

static const char *ip4s(uint32_t v, char *buf)
{
    struct in_addr a = {.s_addr = htonl(v)};
    return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static const char *addrs(uint8_t family, const uint8_t *addr, char *buf)
{
    return inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, buf, INET6_ADDRSTRLEN);
}

static const char *macs(const uint8_t *m, char *buf)
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return buf;
}

static const char *name_of(const char *const *names, unsigned count, unsigned v)
{
    return v < count ? names[v] : "?";
}

static void print_entry(const struct vr_msg *m)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], c[INET6_ADDRSTRLEN], x[18], y[18];
    switch ((enum vr_msg_type)m->type) {
    case VR_MSG_IF: {
        const struct dp_if *f = &m->u.ifc.dpif;
        printf("if %u %s vrf %u mac %s ip %s gw %s dns %s gwmac %s%s%s%s gen %u rx %llu tx %llu drops %llu\n",
               f->ifindex, name_of(if_types, 4, f->type), f->vrf, macs(f->mac, x), ip4s(f->ip4, a),
               ip4s(f->gw_ip4, b), ip4s(f->dns_ip4, c), macs(f->gw_mac, y), m->u.ifc.name[0] ? " name " : "",
               m->u.ifc.name, (f->flags & DP_IF_POLICY) ? " policy" : "", f->gen,
               (unsigned long long)f->stats.rx_packets, (unsigned long long)f->stats.tx_packets,
               (unsigned long long)f->stats.drops);
        return;
    }
    case VR_MSG_VRF:
        printf("vrf %u bum %u gen %u\n", m->u.vrf.vrf, m->u.vrf.bum_nh, m->u.vrf.gen);
        return;
    case VR_MSG_NH: {
        const struct dp_nh *h = &m->u.nh;
        printf("nh %u %s if %u vrf %u encap %s label %u sip %s dip %s dmac %s outer-dmac %s%s", h->id,
               name_of(nh_types, 8, h->type), h->ifindex, h->vrf, name_of(encaps, 4, h->encap), h->label,
               ip4s(h->sip, a), ip4s(h->dip, b), macs(h->dmac, x), macs(h->outer_dmac, y),
               (h->flags & DP_NH_L2) ? " l2" : "");
        for (unsigned k = 0; k < h->member_count; k++) {
            printf("%s%u", k ? "," : " members ", h->members[k]);
        }
        printf(" gen %u\n", h->gen);
        return;
    }
    case VR_MSG_ROUTE:
        printf("route %u %s/%u nh %u gen %u\n", m->u.route.vrf, addrs(m->u.route.family, m->u.route.addr, a),
               m->u.route.plen, m->u.route.nh, m->u.route.gen);
        return;
    case VR_MSG_MAC:
        printf("mac %u %s nh %u gen %u\n", m->u.mac.vrf, macs(m->u.mac.mac, x), m->u.mac.nh, m->u.mac.gen);
        return;
    case VR_MSG_LABEL:
        printf("label %u nh %u gen %u\n", m->u.label.label, m->u.label.nh, m->u.label.gen);
        return;
    case VR_MSG_VNI:
        printf("vni %u vrf %u nh %u gen %u\n", m->u.vni.vni, m->u.vni.vrf, m->u.vni.nh, m->u.vni.gen);
        return;
    case VR_MSG_FLOW: {
        const struct dp_flow *f = &m->u.flow;
        printf("flow vrf %u proto %u src %s dst %s sport %u dport %u action %s index %u state %u packets %llu "
               "gen %u\n",
               f->key.vrf, f->key.proto, addrs(f->key.family, f->key.src, a), addrs(f->key.family, f->key.dst, b),
               f->key.sport, f->key.dport, name_of(actions, 4, f->action.type), f->index, f->state,
               (unsigned long long)f->packets, f->gen);
        return;
    }
    case VR_MSG_STATS: {
        const struct dp_stats *s = &m->u.stats.stats;
        printf("punts %llu flows_active %llu flows_held %llu\n", (unsigned long long)s->punts,
               (unsigned long long)s->flows_active, (unsigned long long)s->flows_held);
        for (unsigned k = 0; k < m->u.stats.drop_count; k++) {
            if (s->drops[k]) {
                printf("drop %s %llu\n", dp_drop_name(k), (unsigned long long)s->drops[k]);
            }
        }
        return;
    }
    case VR_MSG_IF_DEL:
    case VR_MSG_VRF_DEL:
    case VR_MSG_NH_DEL:
    case VR_MSG_ROUTE_DEL:
    case VR_MSG_MAC_DEL:
    case VR_MSG_LABEL_DEL:
    case VR_MSG_VNI_DEL:
    case VR_MSG_FLOW_DEL:
    case VR_MSG_GEN_BEGIN:
    case VR_MSG_SWEEP:
    case VR_MSG_STATS_REQ:
    case VR_MSG_DUMP_REQ:
    case VR_MSG_REPLY:
    case VR_MSG_PUNT_SUB:
    case VR_MSG_PUNT:
    case VR_MSG_FLOW_PAIR:
    case VR_MSG_RING:
        break;
    }
    printf("? %s\n", vr_msg_type_name(m->type));
}

/* ---- commands ---- */

static int cmd_apply(const char *path, int linger)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) {
        perror(path);
        return 1;
    }
    char line[1024];
    int lineno = 0, failed = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = 0;
        }
        char *w[MAX_TOK], *save = NULL;
        int n = 0;
        for (char *t = strtok_r(line, " \t\r\n", &save); t && n < MAX_TOK; t = strtok_r(NULL, " \t\r\n", &save)) {
            w[n++] = t;
        }
        if (n == 0) {
            continue;
        }
        struct vr_msg m;
        if (parse_line(w, n, &m) != 0) {
            fprintf(stderr, "vrctl: %s:%d: cannot parse\n", path, lineno);
            failed = 1;
            break;
        }
        uint32_t value = 0;
        int rc = call(&m, NULL, &value);
        if (rc != 0) {
            fprintf(stderr, "vrctl: %s:%d: %s: %s\n", path, lineno, vr_msg_type_name(m.type),
                    rc == -1 ? "transport error" : strata_strerror(rc));
            failed = 1;
            break;
        }
        if (m.type == VR_MSG_SWEEP) {
            printf("swept %u\n", value);
        }
    }
    if (f != stdin) {
        fclose(f);
    }
    fflush(stdout);
    if (linger && !failed) {
        printf("applied; lingering\n");
        fflush(stdout);
        char c;
        while (read(sock, &c, 1) > 0 || errno == EINTR) {
        }
    }
    return failed;
}

static void usage(void)
{
    fprintf(stderr, "usage: vrctl -s SOCKET apply FILE|- [--linger] | dump TABLE | stats | gen N | sweep N\n");
}

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[1], "-s") != 0) {
        usage();
        return 2;
    }
    sock = connect_to(argv[2]);
    if (sock < 0) {
        fprintf(stderr, "vrctl: cannot connect to %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    const char *cmd = argv[3];
    int rc = 1;
    struct vr_msg m;
    if (!strcmp(cmd, "apply") && argc >= 5) {
        rc = cmd_apply(argv[4], argc == 6 && !strcmp(argv[5], "--linger"));
    } else if (!strcmp(cmd, "dump") && argc == 5) {
        vr_msg_init(&m, VR_MSG_DUMP_REQ, 0, 0);
        if (p_enum(argv[4], tables, 9, &m.u.table) != 0) {
            usage();
        } else {
            uint32_t count = 0;
            rc = call(&m, print_entry, &count) != 0;
        }
    } else if (!strcmp(cmd, "stats") && argc == 4) {
        vr_msg_init(&m, VR_MSG_STATS_REQ, 0, 0);
        rc = call(&m, print_entry, NULL) != 0;
    } else if ((!strcmp(cmd, "gen") || !strcmp(cmd, "sweep")) && argc == 5) {
        char *w[2] = {argv[3], argv[4]};
        uint32_t value = 0;
        if (parse_line(w, 2, &m) == 0) {
            int r = call(&m, NULL, &value);
            rc = r != 0;
            if (r == 0 && m.type == VR_MSG_SWEEP) {
                printf("swept %u\n", value);
            } else if (r > 0 || r < -1) {
                fprintf(stderr, "vrctl: %s\n", strata_strerror(r));
            }
        } else {
            usage();
        }
    } else {
        usage();
    }
    close(sock);
    return rc;
}

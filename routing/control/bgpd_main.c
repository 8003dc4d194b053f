/* strata-bgpd: the control role's BGP speaker as a process (routing/control/
 * speaker.c on libuv) with a JSON configuration and a local control socket.
 *
 *   strata-bgpd --config FILE [--ctl SOCKET]    run the speaker
 *   strata-bgpd query SOCKET COMMAND...         ask a running one
 *
 * Configuration (JSON):
 *   {"local_as": 64512, "router_id": "10.0.0.1", "listen": "10.0.0.1",
 *    "port": 179,
 *    "graceful_restart": {"enabled": true, "restarting": false,
 *                         "restart_time": 300, "llgr_stale_time": 300},
 *    "peers": [{"name": "gw1", "address": "10.0.0.2", "peer_as": 65001,
 *               "families": ["vpnv4", "vpnv6", "evpn", "rtc", "ipv4-unicast"],
 *               "passive": false, "rr_client": false, "password": "",
 *               "hold_time": 90}],
 *    "routes": [ROUTE...]}
 * A ROUTE is originated locally: {"family": "vpnv4"|"vpnv6"|"evpn"|"rtc",
 *   "rd": "64512:1", "prefix": "10.1.1.0/24", "next_hop": "10.0.0.1",
 *   "label": 100, "vni": 0, "route_targets": ["target:64512:1"],
 *   "encapsulation": ["gre", "udp", "vxlan"],
 *   EVPN: "route_type": 2|3|5, "mac": "02:00:00:00:00:01", "ip": "...",
 *   "eth_tag": 0; RTC: "origin_as": 64512, "route_target": "target:..."}.
 *
 * Control socket commands (one line; the answer is one JSON document):
 *   neighbors | summary | routes [TABLE] | originate ROUTE-JSON | withdraw ROUTE-JSON
 * Inside stratad the control role (appliance/control_role.c) answers the
 * same neighbors, summary and routes on its own socket, which the REST API's
 * /bgp endpoints and `stratactl bgp` reach. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "lib/log.h"
#include "routing/control/ctl_sock.h"
#include "routing/control/speaker.h"

static struct speaker *g_sp;
static uv_loop_t *g_loop;
static struct ctl_sock *g_ctl;
static uv_signal_t g_sigterm, g_sigint;

/* ---- configuration ---- */

static int parse_families(json_t *arr, uint32_t *out, char *err, size_t esize)
{
    *out = 0;
    if (!arr) {
        return 0;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *name = json_string_value(v);
        int found = -1;
        for (int f = 0; name && f < BGP_FAM_COUNT; f++) {
            if (strcmp(bgp_family_name(f), name) == 0) {
                found = f;
            }
        }
        if (found < 0) {
            snprintf(err, esize, "unknown family \"%s\"", name ? name : "?");
            return -1;
        }
        *out |= BGP_FAM_BIT(found);
    }
    return 0;
}

static int parse_ipv4(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (!s || inet_pton(AF_INET, s, &a) != 1) {
        return -1;
    }
    *out = ntohl(a.s_addr);
    return 0;
}

static int parse_addr(const char *s, struct rib_addr *a)
{
    memset(a, 0, sizeof *a);
    if (!s) {
        return -1;
    }
    if (inet_pton(AF_INET, s, a->b) == 1) {
        a->af = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, a->b) == 1) {
        a->af = 6;
        return 0;
    }
    return -1;
}

/* "ASN:N" or "A.B.C.D:N" */
static int parse_rd(const char *s, struct rib_rd *rd)
{
    if (!s) {
        return -1;
    }
    const char *colon = strrchr(s, ':');
    if (!colon) {
        return -1;
    }
    char head[64];
    snprintf(head, sizeof head, "%.*s", (int)(colon - s), s);
    char *end;
    unsigned long n = strtoul(colon + 1, &end, 10);
    if (*end || colon[1] == '\0') {
        return -1;
    }
    uint32_t ip;
    if (parse_ipv4(head, &ip) == 0) {
        if (n > 65535) {
            return -1;
        }
        *rd = rib_rd_make_ip(ip, (uint16_t)n);
        return 0;
    }
    unsigned long asn = strtoul(head, &end, 10);
    if (*end || head[0] == '\0' || asn > 0xFFFFFFFFul || n > 0xFFFFFFFFul || (asn > 65535 && n > 65535)) {
        return -1;
    }
    *rd = rib_rd_make((uint32_t)asn, (uint32_t)n);
    return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
        return -1;
    }
    for (int i = 0; i < 6; i++) {
        if (v[i] > 255) {
            return -1;
        }
        mac[i] = (uint8_t)v[i];
    }
    return 0;
}

/* Parses a ROUTE object into its table, prefix and attribute set (exts and
 * segs point into the caller's arrays). */
static int parse_route(json_t *r, struct rib_prefix *p, struct rib_attr *a, struct rib_ext *exts, size_t exts_cap,
                       char *err, size_t esize)
{
    memset(p, 0, sizeof *p);
    memset(a, 0, sizeof *a);
    const char *family = json_string_value(json_object_get(r, "family"));
    if (!family) {
        snprintf(err, esize, "route without \"family\"");
        return -1;
    }
    size_t n_ext = 0;
    json_t *rts = json_object_get(r, "route_targets");
    size_t i;
    json_t *v;
    json_array_foreach(rts, i, v) {
        struct rib_rt rt;
        if (n_ext >= exts_cap || !json_string_value(v) || rib_rt_parse(json_string_value(v), &rt) != 0) {
            snprintf(err, esize, "bad route target");
            return -1;
        }
        exts[n_ext++] = rib_rt_ext(rt);
    }
    json_array_foreach(json_object_get(r, "encapsulation"), i, v) {
        const char *e = json_string_value(v);
        enum rib_encap t;
        if (e && strcmp(e, "gre") == 0) {
            t = RIB_ENCAP_GRE;
        } else if (e && strcmp(e, "udp") == 0) {
            t = RIB_ENCAP_MPLS_UDP;
        } else if (e && strcmp(e, "vxlan") == 0) {
            t = RIB_ENCAP_VXLAN;
        } else {
            snprintf(err, esize, "bad encapsulation");
            return -1;
        }
        if (n_ext >= exts_cap) {
            snprintf(err, esize, "too many extended communities");
            return -1;
        }
        exts[n_ext++] = rib_ext_encap(t);
    }
    a->exts = exts;
    a->exts_len = n_ext;
    a->origin = RIB_ORIGIN_IGP;
    const char *nh = json_string_value(json_object_get(r, "next_hop"));
    if (nh && parse_addr(nh, &a->nexthop) != 0) {
        snprintf(err, esize, "bad next_hop");
        return -1;
    }
    json_t *label = json_object_get(r, "label");
    if (label) {
        a->flags |= RIB_ATTR_HAS_LABEL;
        a->label = (uint32_t)json_integer_value(label) & 0xFFFFFu;
    }
    json_t *vni = json_object_get(r, "vni");
    if (vni) {
        a->flags |= RIB_ATTR_HAS_VNI;
        a->vni = (uint32_t)json_integer_value(vni) & 0xFFFFFFu;
    }
    json_t *lp = json_object_get(r, "local_pref");
    if (lp) {
        a->flags |= RIB_ATTR_HAS_LOCAL_PREF;
        a->local_pref = (uint32_t)json_integer_value(lp);
    }
    if (strcmp(family, "rtc") == 0) {
        p->family = RIB_AF_RTARGET;
        p->rt_origin_as = (uint32_t)json_integer_value(json_object_get(r, "origin_as"));
        const char *rt = json_string_value(json_object_get(r, "route_target"));
        if (rt) {
            if (rib_rt_parse(rt, &p->rt) != 0) {
                snprintf(err, esize, "bad route_target");
                return -1;
            }
            p->plen = 96;
        }
        return 0;
    }
    if (parse_rd(json_string_value(json_object_get(r, "rd")), &p->rd) != 0) {
        snprintf(err, esize, "bad or missing rd");
        return -1;
    }
    if (strcmp(family, "vpnv4") == 0 || strcmp(family, "vpnv6") == 0) {
        p->family = strcmp(family, "vpnv4") == 0 ? RIB_AF_L3VPN : RIB_AF_L3VPN6;
        const char *pfx = json_string_value(json_object_get(r, "prefix"));
        char buf[80];
        const char *slash = pfx ? strchr(pfx, '/') : NULL;
        if (!slash || (size_t)(slash - pfx) >= sizeof buf) {
            snprintf(err, esize, "bad prefix");
            return -1;
        }
        snprintf(buf, sizeof buf, "%.*s", (int)(slash - pfx), pfx);
        int plen = atoi(slash + 1);
        if (parse_addr(buf, &p->addr) != 0 || (p->addr.af == 4) != (p->family == RIB_AF_L3VPN) || plen < 0 ||
            plen > (p->addr.af == 4 ? 32 : 128)) {
            snprintf(err, esize, "bad prefix");
            return -1;
        }
        p->plen = (uint8_t)plen;
        return 0;
    }
    if (strcmp(family, "evpn") == 0) {
        p->family = RIB_AF_EVPN_VPN;
        p->evpn.type = (uint8_t)json_integer_value(json_object_get(r, "route_type"));
        p->evpn.eth_tag = (uint32_t)json_integer_value(json_object_get(r, "eth_tag"));
        const char *ip = json_string_value(json_object_get(r, "ip"));
        if (ip && parse_addr(ip, &p->addr) != 0) {
            snprintf(err, esize, "bad ip");
            return -1;
        }
        if (p->evpn.type == 2) {
            if (parse_mac(json_string_value(json_object_get(r, "mac")), p->evpn.mac) != 0) {
                snprintf(err, esize, "bad mac");
                return -1;
            }
            p->plen = p->addr.af == 4 ? 32 : p->addr.af == 6 ? 128 : 0;
        } else if (p->evpn.type == 3) {
            if (!ip) {
                snprintf(err, esize, "type 3 needs ip");
                return -1;
            }
            p->plen = p->addr.af == 4 ? 32 : 128;
        } else if (p->evpn.type == 5) {
            json_t *plen = json_object_get(r, "plen");
            if (!ip || !plen) {
                snprintf(err, esize, "type 5 needs ip and plen");
                return -1;
            }
            p->plen = (uint8_t)json_integer_value(plen);
        } else {
            snprintf(err, esize, "route_type must be 2, 3 or 5");
            return -1;
        }
        return 0;
    }
    snprintf(err, esize, "unknown family \"%s\"", family);
    return -1;
}

/* Originates (add) or withdraws one ROUTE. */
static int route_apply(json_t *r, bool add, char *err, size_t esize)
{
    struct rib_prefix p;
    struct rib_attr a;
    struct rib_ext exts[64];
    if (parse_route(r, &p, &a, exts, 64, err, esize) != 0) {
        return -1;
    }
    struct rib *rib = speaker_rib(g_sp);
    struct rib_table *t = rib_vpn_table(rib, p.family);
    if (!t) {
        snprintf(err, esize, "no table for this family");
        return -1;
    }
    int rc;
    if (add) {
        const struct rib_attr *ia;
        rc = rib_attr_intern(rib, &a, &ia);
        if (rc == 0) {
            rc = rib_path_add(t, &p, speaker_local_source(g_sp), 0, ia, 0);
            rib_attr_unref(rib, ia);
        }
    } else {
        rc = rib_path_del(t, &p, speaker_local_source(g_sp), 0);
    }
    if (rc != 0) {
        snprintf(err, esize, "%s", strata_strerror(rc));
        return -1;
    }
    speaker_kick(g_sp);
    return 0;
}

static int load_config(const char *path, char *err, size_t esize)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(err, esize, "%s:%d: %s", path, je.line, je.text);
        return -1;
    }
    struct speaker_config cfg = {0};
    cfg.local_as = (uint32_t)json_integer_value(json_object_get(doc, "local_as"));
    if (parse_ipv4(json_string_value(json_object_get(doc, "router_id")), &cfg.router_id) != 0 || !cfg.local_as) {
        snprintf(err, esize, "local_as and router_id (IPv4 form) are required");
        json_decref(doc);
        return -1;
    }
    const char *listen = json_string_value(json_object_get(doc, "listen"));
    snprintf(cfg.listen, sizeof cfg.listen, "%s", listen ? listen : "");
    cfg.port = (uint16_t)json_integer_value(json_object_get(doc, "port"));
    cfg.no_listen = json_is_false(json_object_get(doc, "listen_enabled"));
    json_t *gr = json_object_get(doc, "graceful_restart");
    if (gr) {
        cfg.gr = !json_is_false(json_object_get(gr, "enabled"));
        cfg.gr_restarting = json_is_true(json_object_get(gr, "restarting"));
        cfg.gr_restart_time = (uint16_t)json_integer_value(json_object_get(gr, "restart_time"));
        cfg.llgr = json_object_get(gr, "llgr_stale_time") != NULL;
        cfg.llgr_stale_time = (uint32_t)json_integer_value(json_object_get(gr, "llgr_stale_time"));
    }
    int rc = speaker_create(g_loop, &cfg, &g_sp);
    if (rc != 0) {
        snprintf(err, esize, "speaker: %s", strata_strerror(rc));
        json_decref(doc);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "peers"), i, v) {
        struct speaker_peer_config pc = {0};
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *addr = json_string_value(json_object_get(v, "address"));
        const char *pw = json_string_value(json_object_get(v, "password"));
        snprintf(pc.name, sizeof pc.name, "%s", name ? name : "");
        snprintf(pc.address, sizeof pc.address, "%s", addr ? addr : "");
        if (pw && strlen(pw) > SPEAKER_PASSWORD_MAX) {
            snprintf(err, esize, "peer %zu: password longer than %d bytes", i, SPEAKER_PASSWORD_MAX);
            json_decref(doc);
            return -1;
        }
        snprintf(pc.password, sizeof pc.password, "%s", pw ? pw : "");
        pc.port = (uint16_t)json_integer_value(json_object_get(v, "port"));
        pc.peer_as = (uint32_t)json_integer_value(json_object_get(v, "peer_as"));
        pc.passive = json_is_true(json_object_get(v, "passive"));
        pc.rr_client = json_is_true(json_object_get(v, "rr_client"));
        pc.hold_time = (uint16_t)json_integer_value(json_object_get(v, "hold_time"));
        if (parse_families(json_object_get(v, "families"), &pc.families, err, esize) != 0) {
            json_decref(doc);
            return -1;
        }
        rc = speaker_peer_add(g_sp, &pc);
        if (rc != 0) {
            snprintf(err, esize, "peer %s: %s", pc.address, strata_strerror(rc));
            json_decref(doc);
            return -1;
        }
    }
    json_array_foreach(json_object_get(doc, "routes"), i, v) {
        char rerr[128];
        if (route_apply(v, true, rerr, sizeof rerr) != 0) {
            snprintf(err, esize, "route %zu: %s", i, rerr);
            json_decref(doc);
            return -1;
        }
    }
    json_decref(doc);
    return 0;
}

/* ---- control socket ---- */

static json_t *error_doc(const char *msg)
{
    return json_pack("{s:s}", "error", msg);
}

static json_t *ctl_command(void *data, const char *cmd, const char *arg)
{
    (void)data;
    if (strcmp(cmd, "neighbors") == 0) {
        return speaker_neighbors_json(g_sp);
    }
    if (strcmp(cmd, "summary") == 0) {
        return speaker_summary_json(g_sp);
    }
    if (strcmp(cmd, "routes") == 0) {
        json_t *doc = speaker_routes_json(g_sp, arg && *arg ? arg : NULL);
        return doc ? doc : error_doc("no such table");
    }
    if ((strcmp(cmd, "originate") == 0 || strcmp(cmd, "withdraw") == 0) && arg) {
        json_error_t je;
        json_t *r = json_loads(arg, JSON_REJECT_DUPLICATES, &je);
        char err[128];
        json_t *answer;
        if (!r) {
            answer = error_doc(je.text);
        } else if (route_apply(r, cmd[0] == 'o', err, sizeof err) != 0) {
            answer = error_doc(err);
        } else {
            answer = json_pack("{s:b}", "ok", 1);
        }
        json_decref(r);
        return answer;
    }
    return error_doc("commands: neighbors | summary | routes [TABLE] | originate ROUTE | withdraw ROUTE");
}

static void on_signal(uv_signal_t *s, int sig)
{
    (void)s;
    log_info("bgp", "stopping", "signal=%d", sig);
    speaker_close(g_sp);
    ctl_sock_close(g_ctl);
    g_ctl = NULL;
    uv_close((uv_handle_t *)&g_sigterm, NULL);
    uv_close((uv_handle_t *)&g_sigint, NULL);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "query") == 0) {
        return ctl_sock_query("strata-bgpd", argv[2], argc - 3, argv + 3);
    }
    /* A fixed mmap threshold: glibc otherwise raises it each time a large
     * block (a pending queue, a RIB index being replaced) is freed, and the
     * next large blocks then come from the heap and stay resident after
     * they are freed (5-8 MiB of a million-route table's peak RSS). */
    (void)mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    const char *config = NULL, *ctl = NULL;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"ctl", required_argument, NULL, 's'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "c:s:", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 's': ctl = optarg; break;
        default:
            fprintf(stderr, "usage: strata-bgpd --config FILE [--ctl SOCKET]\n"
                            "       strata-bgpd query SOCKET neighbors|routes [TABLE]|originate JSON|withdraw JSON\n");
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "strata-bgpd: --config FILE is required\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g_loop = uv_default_loop();
    char err[256];
    if (load_config(config, err, sizeof err) != 0) {
        fprintf(stderr, "strata-bgpd: %s\n", err);
        return 1;
    }
    if (ctl) {
        int rc = ctl_sock_listen(g_loop, ctl, 65535, ctl_command, NULL, &g_ctl);
        if (rc != 0) {
            fprintf(stderr, "strata-bgpd: %s: %s\n", ctl, uv_strerror(rc));
            return 1;
        }
    }
    uv_signal_init(g_loop, &g_sigterm);
    uv_signal_init(g_loop, &g_sigint);
    uv_signal_start(&g_sigterm, on_signal, SIGTERM);
    uv_signal_start(&g_sigint, on_signal, SIGINT);
    log_info("bgp", "speaker running", "config=%s", config);
    uv_run(g_loop, UV_RUN_DEFAULT);
    uv_loop_close(g_loop);
    return 0;
}

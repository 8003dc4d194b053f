/* The control role's process (control_role.h): option parsing, the store
 * feed -> session plan -> speaker path, the XMPP server on the speaker's
 * RIB, the control socket, and an orderly stop (XMPP server first: it uses
 * the RIB the speaker owns and frees). */
#include "appliance/control_role.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "appliance/hostport.h"
#include "appliance/pkiset.h"
#include "lib/log.h"
#include "routing/control/agent_config.h"
#include "routing/control/bgp_peers.h"
#include "routing/control/ctl_sock.h"
#include "routing/control/ri_config.h"
#include "routing/control/speaker.h"
#include "routing/control/store_feed.h"
#include "routing/control/svc_chain.h"
#include "routing/control/xmpp_server.h"
#include "store/proto.h"

STRATA_ERR_DEFINE(control_role, CONTROL_ROLE_ERRORS)

#define MOD "control"
#define CTL_LINE_MAX 4095

/* ---- options ---- */

static int usage_fail(char *errmsg, size_t size, const char *why)
{
    snprintf(errmsg, size, "%s", why);
    return CONTROL_ROLE_EUSAGE;
}

/* An IP literal and a port 1..65535. */
static int endpoint_parse(const char *s, char *host, size_t host_size, uint16_t *port)
{
    unsigned char a[16];
    if (hostport_parse(s, host, host_size, port) != 0 || *port == 0) {
        return -1;
    }
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1 ? 0 : -1;
}

static int fd_parse(const char *s, int *fd)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || s[0] == '\0' || v < 3 || v > 65535) {
        return -1;
    }
    *fd = (int)v;
    return 0;
}

int control_role_options_parse(int argc, char **argv, struct control_role_options *o, char *errmsg,
                               size_t errmsg_size)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},    {"store-cert", required_argument, NULL, 'S'},
        {"pki", required_argument, NULL, 'p'},      {"cert", required_argument, NULL, 'c'},
        {"name", required_argument, NULL, 'n'},     {"ctl", required_argument, NULL, 'C'},
        {"bgp-fd", required_argument, NULL, 'b'},   {"bgp", required_argument, NULL, 'B'},
        {"xmpp-fd", required_argument, NULL, 'x'},  {"xmpp", required_argument, NULL, 'X'},
        {"log-level", required_argument, NULL, 'L'}, {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->bgp_fd = o->xmpp_fd = -1;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 's': o->store = optarg; break;
        case 'S': o->store_cert = optarg; break;
        case 'p': o->pki = optarg; break;
        case 'c': o->cert = optarg; break;
        case 'n': o->name = optarg; break;
        case 'C': o->ctl = optarg; break;
        case 'b':
            if (fd_parse(optarg, &o->bgp_fd) != 0) {
                return usage_fail(errmsg, errmsg_size, "--bgp-fd wants a descriptor number >= 3");
            }
            break;
        case 'x':
            if (fd_parse(optarg, &o->xmpp_fd) != 0) {
                return usage_fail(errmsg, errmsg_size, "--xmpp-fd wants a descriptor number >= 3");
            }
            break;
        case 'B':
            if (endpoint_parse(optarg, o->bgp_host, sizeof o->bgp_host, &o->bgp_port) != 0) {
                return usage_fail(errmsg, errmsg_size, "--bgp wants ADDRESS:PORT");
            }
            break;
        case 'X':
            if (endpoint_parse(optarg, o->xmpp_host, sizeof o->xmpp_host, &o->xmpp_port) != 0) {
                return usage_fail(errmsg, errmsg_size, "--xmpp wants ADDRESS:PORT");
            }
            break;
        case 'L': {
            enum log_level lv;
            if (log_level_parse(optarg, &lv) != 0) {
                return usage_fail(errmsg, errmsg_size, "--log-level wants debug, info, warn or error");
            }
            log_set_level(lv);
            break;
        }
        default:
            return usage_fail(errmsg, errmsg_size, "unknown option or missing argument");
        }
    }
    if (optind < argc) {
        return usage_fail(errmsg, errmsg_size, "unexpected argument");
    }
    if (!o->store || !o->pki || !o->cert || !o->ctl) {
        return usage_fail(errmsg, errmsg_size, "--store, --pki, --cert and --ctl are required");
    }
    if (strncmp(o->store, "unix:", 5) != 0 && !o->store_cert) {
        return usage_fail(errmsg, errmsg_size, "a TLS store target needs --store-cert");
    }
    if ((o->bgp_fd >= 0) == (o->bgp_port != 0)) {
        return usage_fail(errmsg, errmsg_size, "exactly one of --bgp-fd and --bgp is required");
    }
    if ((o->xmpp_fd >= 0) == (o->xmpp_port != 0)) {
        return usage_fail(errmsg, errmsg_size, "exactly one of --xmpp-fd and --xmpp is required");
    }
    if (!o->name) {
        o->name = o->cert;
    }
    return 0;
}

/* ---- the running role ---- */

struct role {
    uv_loop_t loop;
    struct control_role_options opts;
    struct pkiset node;          /* the XMPP server's credentials */
    struct tls_ctx *store_tls;   /* NULL for unix: */
    struct store_feed *feed;
    struct speaker *sp;
    struct ri_sync *ri;          /* routing instances into the speaker's RIB */
    struct svc_sync *svc;        /* service chains' leak rules in that RIB */
    uv_idle_t svc_idle;          /* runs svc_sync_update() outside rib_flush() */
    struct xsrv *xsrv;
    struct acfg *acfg;           /* agents' configuration, fed by the store feed */
    struct ctl_sock *ctl;
    uv_signal_t sigterm, sigint;
    struct speaker_config running; /* the identity the speaker started with */
    struct bgp_peers_plan plan;
    char plan_error[256];        /* why the last plan failed, "" when it did not */
    size_t routers;              /* bgp-router objects last seen */
    uint32_t cluster_as;
    struct bgp_peers_gr gr;      /* graceful restart from the effective-global-config */
    struct bgp_peers_gr gr_running; /* what the speaker and the XMPP server started with */
    bool objects_loaded;         /* the feed's object types were loaded once */
    json_t *held_routers, *held_instances; /* a first plan held until then */
    bool stopping;
    int status;
};

static void role_stop(struct role *r, int status);

/* How long a lost agent's routes stay (stale) under 'gr'. Not a helper: 1,
 * they go on the first expiry pass (the XMPP server has no "off"; 0 would
 * mean its default). */
static uint64_t agent_stale_ms(const struct bgp_peers_gr *gr)
{
    return gr->xmpp_helper && gr->xmpp_stale_ms ? gr->xmpp_stale_ms : 1;
}

static void speaker_start(struct role *r)
{
    struct speaker_config cfg = r->plan.local;
    cfg.gr = r->gr.gr;
    cfg.gr_restart_time = r->gr.restart_time;
    cfg.llgr = r->gr.llgr;
    cfg.llgr_stale_time = r->gr.llgr_stale_time;
    if (r->opts.bgp_fd >= 0) {
        cfg.listen_fd = r->opts.bgp_fd;
    } else {
        snprintf(cfg.listen, sizeof cfg.listen, "%s", r->opts.bgp_host);
        cfg.port = r->opts.bgp_port;
    }
    int rc = speaker_create(&r->loop, &cfg, &r->sp);
    if (rc != 0) {
        log_error(MOD, "BGP speaker did not start", "err=\"%s\"", strata_strerror(rc));
        role_stop(r, 1);
        return;
    }
    r->opts.bgp_fd = -1; /* the speaker has it */
    r->running = cfg;
    log_info(MOD, "BGP speaker running", "local_as=%u listen=%s port=%u", cfg.local_as, cfg.listen,
             (unsigned)cfg.port);

    struct xsrv_config xc = {
        .ca = r->node.ca,
        .cert = r->node.cert,
        .key = r->node.key,
        .listen_fd = r->opts.xmpp_fd >= 0 ? r->opts.xmpp_fd : 0,
        .port = r->opts.xmpp_port,
        .stale_ms = agent_stale_ms(&r->gr),
        .eor_hold_ms = r->gr.eor_timeout_ms,
        .no_eor_hold = r->gr.eor_timeout_ms == 0,
    };
    snprintf(xc.listen, sizeof xc.listen, "%s", r->opts.xmpp_host);
    char err[256] = "";
    rc = xsrv_create(&r->loop, speaker_rib(r->sp), &xc, &r->xsrv, err, sizeof err);
    r->opts.xmpp_fd = -1; /* taken over, also on failure */
    if (rc != 0) {
        log_error(MOD, "XMPP server did not start", "err=\"%s\"", err);
        role_stop(r, 1);
        return;
    }
    xsrv_set_agent_config(r->xsrv, r->acfg);
    r->gr_running = r->gr;
    log_info(MOD, "XMPP server running", "port=%u gr=%d restart_time=%u llgr=%d llgr_stale_time=%u "
             "xmpp_stale_ms=%llu eor_hold_ms=%llu", (unsigned)xsrv_port(r->xsrv), (int)r->gr.gr,
             (unsigned)r->gr.restart_time, (int)r->gr.llgr, (unsigned)r->gr.llgr_stale_time,
             (unsigned long long)xc.stale_ms, (unsigned long long)r->gr.eor_timeout_ms);
}

static bool identity_changed(const struct speaker_config *a, const struct speaker_config *b)
{
    return a->local_as != b->local_as || a->router_id != b->router_id || strcmp(a->listen, b->listen) != 0;
}

/* An index again as agents get it (svc_sync_index_view()): the service
 * ports moved with the chains. */
static int index_relay(void *arg, const char *key, const json_t *obj)
{
    struct role *r = arg;
    json_t *view = svc_sync_index_view(r->svc, obj);
    if (!view) {
        return LIB_ENOMEM;
    }
    if (acfg_object(r->acfg, "virtual-router-index", key, view) && r->xsrv) {
        xsrv_kick(r->xsrv);
    }
    json_decref(view);
    return 0;
}

/* Routing instances from the store into the RIB (their RD needs the
 * router id, so only once the speaker runs). */
static void instances_apply(struct role *r, json_t *instances)
{
    int rc = 0;
    if (!r->ri) {
        rc = ri_sync_create(speaker_rib(r->sp), speaker_local_source(r->sp), r->running.router_id,
                            r->running.local_as, &r->ri);
    }
    size_t skipped = 0;
    if (rc == 0) {
        rc = ri_sync_apply(r->ri, instances, &skipped);
    }
    if (rc != 0) {
        log_warn(MOD, "routing instances not all applied", "err=\"%s\"", strata_strerror(rc));
    }
    if (skipped) {
        log_warn(MOD, "routing instances skipped (malformed)", "count=%zu", skipped);
    }
    skipped = 0;
    rc = svc_sync_attach(r->svc, speaker_rib(r->sp));
    if (rc == 0) {
        rc = svc_sync_set_instances(r->svc, instances, &skipped);
    }
    if (rc != 0 || skipped) {
        log_warn(MOD, "service chains not all applied", "err=\"%s\" skipped=%zu", rc ? strata_strerror(rc) : "",
                 skipped);
    }
    if (svc_sync_views_changed(r->svc) && svc_sync_index_foreach(r->svc, index_relay, r) != 0) {
        log_warn(MOD, "service chains: interface index not relayed", NULL);
    }
    speaker_kick(r->sp);
}

/* A service interface's route or address changed: leaks follow. */
static void svc_idle_cb(uv_idle_t *h)
{
    struct role *r = h->data;
    uv_idle_stop(h);
    if (r->sp && r->svc && svc_sync_dirty(r->svc)) {
        int rc = svc_sync_update(r->svc);
        if (rc != 0) {
            log_warn(MOD, "service chains not all applied", "err=\"%s\"", strata_strerror(rc));
        }
        speaker_kick(r->sp);
    }
}

static void svc_dirty(void *arg)
{
    struct role *r = arg;
    if (!r->stopping) {
        uv_idle_start(&r->svc_idle, svc_idle_cb);
    }
}

static void on_feed(void *arg, json_t *routers, uint32_t cluster_as, json_t *instances)
{
    struct role *r = arg;
    if (r->stopping) {
        return;
    }
    if (!r->sp && !r->objects_loaded) {
        /* the speaker and the XMPP server start with the graceful-restart
         * settings of the effective-global-config, an object type the
         * feed loads after the BGP ones: hold the first plan until the
         * object types are loaded (access-control-list, the last) */
        json_decref(r->held_routers);
        json_decref(r->held_instances);
        r->held_routers = json_incref(routers);
        r->held_instances = json_incref(instances);
        r->cluster_as = cluster_as;
        return;
    }
    r->routers = json_array_size(routers);
    r->cluster_as = cluster_as;
    char err[256] = "";
    int rc = bgp_peers_plan(routers, r->opts.name, cluster_as, &r->plan, err, sizeof err);
    if (rc != 0) {
        if (strcmp(err, r->plan_error) != 0) {
            log_warn(MOD, "no BGP sessions for this node", "node=%s reason=\"%s\"", r->opts.name, err);
        }
        snprintf(r->plan_error, sizeof r->plan_error, "%s", err);
        if (r->sp && speaker_sync(r->sp, NULL, 0) < 0) {
            log_warn(MOD, "removing sessions failed", NULL);
        }
        return;
    }
    r->plan_error[0] = '\0';
    if (!r->sp) {
        speaker_start(r);
        if (!r->sp || r->stopping) {
            return;
        }
    } else if (identity_changed(&r->plan.local, &r->running)) {
        log_warn(MOD, "this node's BGP identity changed; restarting the role", "local_as=%u->%u",
                 r->running.local_as, r->plan.local.local_as);
        role_stop(r, CONTROL_ROLE_EXIT_RESTART);
        return;
    }
    rc = speaker_sync(r->sp, r->plan.peers, r->plan.count);
    if (rc < 0) {
        log_warn(MOD, "sessions not all applied", "err=\"%s\"", strata_strerror(rc));
    } else if (rc > 0) {
        log_info(MOD, "sessions applied", "peers=%zu changed=%d", r->plan.count, rc);
    }
    instances_apply(r, instances);
}

/* The effective-global-config of default-global-system-config (compiler
 * rules version 3; NULL: deleted) sets the graceful-restart behaviour.
 * Before the speaker starts it is what the speaker and the XMPP server
 * start with. Afterwards a change goes to them through speaker_set_gr()
 * and xsrv_set_stale_ms(): the values a BGP session advertises are fixed
 * for that session, so they apply from each session's next OPEN; no
 * session is dropped for it. */
static void global_settings(struct role *r, const json_t *egc)
{
    const json_t *fq = egc ? json_object_get(egc, "fq_name") : NULL;
    const char *gsc = json_string_value(json_array_get(fq, 0));
    if (egc && (json_array_size(fq) != 2 || !gsc || strcmp(gsc, "default-global-system-config") != 0)) {
        return; /* another global-system-config's */
    }
    struct bgp_peers_gr gr;
    bgp_peers_gr_from(egc, &gr);
    if (!bgp_peers_gr_differ(&gr, &r->gr)) {
        return;
    }
    r->gr = gr;
    if (!r->sp || !bgp_peers_gr_differ(&gr, &r->gr_running)) {
        return;
    }
    /* no session dropped: BGP peers advertise the new values from their
     * next OPEN, agents lost from now on get the new stale time; the
     * End-of-RIB hold only matters at a start */
    int rc = speaker_set_gr(r->sp, gr.gr, gr.restart_time, gr.llgr, gr.llgr_stale_time);
    if (r->xsrv) {
        xsrv_set_stale_ms(r->xsrv, agent_stale_ms(&gr));
    }
    r->gr_running = gr;
    log_info(MOD, "graceful-restart parameters changed; sessions use them from their next OPEN",
             "gr=%d restart_time=%u llgr=%d llgr_stale_time=%u xmpp_helper=%d rc=%d", (int)gr.gr,
             (unsigned)gr.restart_time, (int)gr.llgr, (unsigned)gr.llgr_stale_time, (int)gr.xmpp_helper, rc);
}

/* Store objects for the agents' configuration (virtual-router indexes and
 * what they name): the agents concerned get the change on the server's
 * next delivery. */
static void on_feed_object(void *arg, const char *type, const char *key, json_t *obj)
{
    struct role *r = arg;
    if (r->stopping) {
        return;
    }
    if (strcmp(type, "effective-global-config") == 0 && key && key[0]) {
        global_settings(r, obj);
    }
    json_t *view = NULL;
    if (strcmp(type, "virtual-router-index") == 0) {
        /* agents get the service VMs' ports in their service instances */
        if (svc_sync_index(r->svc, key, obj) != 0 || (obj && !(view = svc_sync_index_view(r->svc, obj)))) {
            log_warn(MOD, "service chains: interface index not kept", "key=%s", key ? key : "");
        }
        obj = view ? view : obj;
    }
    bool marked = acfg_object(r->acfg, type, key, obj);
    json_decref(view);
    if (marked && r->xsrv) {
        xsrv_kick(r->xsrv);
    }
    if (!r->objects_loaded && strcmp(type, "access-control-list") == 0 && key && !key[0]) {
        r->objects_loaded = true;
        log_info(MOD, "store image loaded", NULL);
        json_t *routers = r->held_routers, *instances = r->held_instances;
        r->held_routers = r->held_instances = NULL;
        if (routers) {
            on_feed(r, routers, r->cluster_as, instances);
        }
        json_decref(routers);
        json_decref(instances);
    }
}

/* ---- control socket ---- */

static json_t *summary_json(struct role *r)
{
    json_t *bgp = r->sp ? speaker_summary_json(r->sp) : json_null();
    json_t *agents = r->xsrv ? xsrv_agents_json(r->xsrv) : json_array();
    if (!bgp || !agents) {
        json_decref(bgp);
        json_decref(agents);
        return NULL;
    }
    size_t connected = 0, i;
    json_t *a;
    json_array_foreach(agents, i, a) {
        connected += json_is_true(json_object_get(a, "connected"));
    }
    json_t *doc = json_pack("{s:s, s:o, s:{s:I, s:I, s:I}, s:{s:I, s:I}}", "node", r->opts.name, "bgp", bgp,
                            "store", "bgp_routers", (json_int_t)r->routers, "cluster_as",
                            (json_int_t)r->cluster_as, "peers_planned", (json_int_t)(r->plan_error[0] ? 0 : r->plan.count),
                            "xmpp", "port", (json_int_t)(r->xsrv ? xsrv_port(r->xsrv) : 0), "agents_connected",
                            (json_int_t)connected);
    json_decref(agents);
    if (doc && r->ri) {
        json_object_set_new(doc, "vpn_instances", json_integer((json_int_t)ri_sync_instances(r->ri)));
        json_object_set_new(doc, "rt_memberships", json_integer((json_int_t)ri_sync_memberships(r->ri)));
        json_object_set_new(doc, "service_chains", json_integer((json_int_t)svc_sync_chains(r->svc)));
        json_object_set_new(doc, "service_leaks", json_integer((json_int_t)svc_sync_leaks(r->svc)));
    }
    if (doc && r->plan_error[0]) {
        json_object_set_new(doc, "plan_error", json_string(r->plan_error));
    }
    return doc;
}

static json_t *ctl_error(const char *msg)
{
    return json_pack("{s:s}", "error", msg);
}

static json_t *ctl_command(void *data, const char *cmd, const char *arg)
{
    struct role *r = data;
    if (strcmp(cmd, "summary") == 0) {
        return summary_json(r);
    }
    if (strcmp(cmd, "chains") == 0) {
        json_t *doc = svc_sync_json(r->svc);
        return doc ? doc : ctl_error("out of memory");
    }
    if (strcmp(cmd, "agents") == 0) {
        return r->xsrv ? xsrv_agents_json(r->xsrv) : json_array();
    }
    if (strcmp(cmd, "neighbors") == 0) {
        return r->sp ? speaker_neighbors_json(r->sp) : json_array();
    }
    if (strcmp(cmd, "routes") == 0) {
        if (!r->sp) {
            return ctl_error(r->plan_error[0] ? r->plan_error : "BGP not started");
        }
        json_t *doc = speaker_routes_json(r->sp, arg && *arg ? arg : NULL);
        return doc ? doc : ctl_error("no such table");
    }
    return ctl_error("commands: neighbors | routes [TABLE] | summary | agents | chains");
}

/* ---- stopping ---- */

/* The speaker, after what uses its RIB. */
static void speaker_stop(struct role *r)
{
    svc_sync_free(r->svc);
    r->svc = NULL;
    ri_sync_free(r->ri);
    r->ri = NULL;
    speaker_close(r->sp);
    r->sp = NULL;
}

static void xsrv_closed(void *arg)
{
    speaker_stop(arg);
}

static void role_stop(struct role *r, int status)
{
    if (r->stopping) {
        return;
    }
    r->stopping = true;
    r->status = status;
    store_feed_stop(r->feed);
    r->feed = NULL;
    json_decref(r->held_routers);
    json_decref(r->held_instances);
    r->held_routers = r->held_instances = NULL;
    ctl_sock_close(r->ctl);
    r->ctl = NULL;
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->svc_idle, NULL);
    if (r->xsrv) {
        struct xsrv *x = r->xsrv;
        r->xsrv = NULL;
        xsrv_close_cb(x, xsrv_closed, r); /* the speaker (and its RIB) after */
    } else if (r->sp) {
        speaker_stop(r);
    }
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct role *r = h->data;
    log_info(MOD, "stopping", "signal=%d", sig);
    role_stop(r, 0);
}

int control_role_main(int argc, char **argv)
{
    struct role *r = calloc(1, sizeof *r);
    char err[256] = "";
    if (!r) {
        return 1;
    }
    if (control_role_options_parse(argc, argv, &r->opts, err, sizeof err) != 0) {
        fprintf(stderr, "stratad control: %s\n"
                        "usage: stratad control --store unix:PATH|NAME@HOST:PORT [--store-cert NAME]\n"
                        "         --pki DIR --cert NAME [--name NODE] --ctl PATH\n"
                        "         --bgp-fd N|--bgp HOST:PORT --xmpp-fd N|--xmpp HOST:PORT [--log-level L]\n",
                err);
        free(r);
        return 2;
    }
    bgp_peers_gr_defaults(&r->gr);
    signal(SIGPIPE, SIG_IGN);
    wolfSSL_Init();
    int status = 1;
    if (uv_loop_init(&r->loop) != 0) {
        goto out_ssl;
    }
    if (pkiset_load(&r->node, r->opts.pki, r->opts.cert, err, sizeof err) != 0) {
        log_error(MOD, "node credentials", "dir=%s cert=%s err=\"%s\"", r->opts.pki, r->opts.cert, err);
        goto out_loop;
    }
    if (r->opts.store_cert) {
        struct pkiset client = {0};
        int rc = pkiset_load(&client, r->opts.pki, r->opts.store_cert, err, sizeof err);
        if (rc == 0) {
            rc = pkiset_tls(&client, TLS_ROLE_CLIENT, STORE_PROTO_ALPN, &r->store_tls, err, sizeof err);
        }
        pkiset_destroy(&client);
        if (rc != 0) {
            log_error(MOD, "store credentials", "err=\"%s\"", err);
            goto out_pki;
        }
    }
    int rc = ctl_sock_listen(&r->loop, r->opts.ctl, CTL_LINE_MAX, ctl_command, r, &r->ctl);
    if (rc != 0) {
        log_error(MOD, "control socket", "path=%s err=\"%s\"", r->opts.ctl, uv_strerror(rc));
        goto out_tls;
    }
    rc = acfg_create(&r->acfg);
    if (rc != 0) {
        log_error(MOD, "agents' configuration", "err=\"%s\"", strata_strerror(rc));
        ctl_sock_close(r->ctl);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        goto out_tls;
    }
    rc = svc_sync_create(NULL, svc_dirty, r, &r->svc);
    if (rc != 0) {
        log_error(MOD, "service chains", "err=\"%s\"", strata_strerror(rc));
        ctl_sock_close(r->ctl);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        goto out_tls;
    }
    uv_idle_init(&r->loop, &r->svc_idle);
    r->svc_idle.data = r;
    rc = store_feed_start(&r->loop, r->store_tls, r->opts.store, on_feed, r, &r->feed);
    if (rc == 0) {
        store_feed_set_objects(r->feed, on_feed_object, r);
    }
    if (rc != 0) {
        log_error(MOD, "store feed", "store=%s err=\"%s\"", r->opts.store, strata_strerror(rc));
        ctl_sock_close(r->ctl);
        uv_close((uv_handle_t *)&r->svc_idle, NULL);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        goto out_tls;
    }
    uv_signal_init(&r->loop, &r->sigterm);
    uv_signal_init(&r->loop, &r->sigint);
    r->sigterm.data = r->sigint.data = r;
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    log_info(MOD, "control role running", "node=%s store=%s ctl=%s", r->opts.name, r->opts.store, r->opts.ctl);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    status = r->status;
    unlink(r->opts.ctl);
out_tls:
    json_decref(r->held_routers);
    json_decref(r->held_instances);
    acfg_free(r->acfg); /* after the loop: the XMPP server, its user, is gone */
    svc_sync_free(r->svc); /* still here when the speaker never started */
    tls_ctx_free(r->store_tls);
out_pki:
    pkiset_destroy(&r->node);
out_loop:
    if (uv_loop_close(&r->loop) != 0) {
        log_warn(MOD, "handles left open at exit", NULL);
    }
out_ssl:
    for (int i = 0; i < 2; i++) {
        int fd = i ? r->opts.xmpp_fd : r->opts.bgp_fd;
        if (fd >= 0) {
            close(fd);
        }
    }
    wolfSSL_Cleanup();
    free(r);
    return status;
}

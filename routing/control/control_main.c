/* strata-control: the control node's agent-facing process. It runs the XMPP
 * server (routing/control/xmpp_server.c) on one RIB, with a JSON
 * configuration and a local control socket.
 *
 *   strata-control --config FILE [--ctl SOCKET]    run it
 *   strata-control query SOCKET COMMAND...         ask a running one
 *
 * Configuration (JSON):
 *   {"xmpp": {"listen": "127.0.0.1", "port": 5269, "pki_dir": "/etc/strata/pki",
 *             "cert": "node.pem", "key": "node.key", "ca": "ca.pem",
 *             "hold_time": 90, "stale_time": 300, "max_connections": 4096,
 *             "write_high_watermark": 1048576, "max_queued_bytes": 67108864,
 *             "eor_hold_ms": 10000}}
 * File names are relative to pki_dir (defaults shown); times in seconds
 * (hold_time 0: 90; stale_time 0: 300) except eor_hold_ms (End-of-RIB to
 * agents held after the start, xsrv_config; 0: 10 s, -1: not held).
 *
 * Control socket commands (one line; the answer is one JSON document):
 *   agents | routes TABLE    (TABLE as "INSTANCE.inet.0", "INSTANCE.inet6.0",
 *                             "INSTANCE.evpn.0")
 * This is the XMPP side alone (tests, benchmarks); stratad's control role
 * (appliance/control_role.c) runs it together with the BGP speaker on one
 * RIB, with both configured from the store. */
#include <errno.h>
#include <getopt.h>
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
#include "lib/pki.h"
#include "routing/control/ctl_sock.h"
#include "routing/control/xmpp_server.h"
#include "routing/rib/rib.h"

static uv_loop_t *g_loop;
static struct rib *g_rib;
static struct xsrv *g_xsrv;
static struct ctl_sock *g_ctl;
static uv_signal_t g_sigterm, g_sigint;

/* ---- configuration ---- */

static int pki_path(char *out, size_t size, const char *dir, json_t *x, const char *key, const char *def)
{
    const char *name = json_string_value(json_object_get(x, key));
    int n = snprintf(out, size, "%s/%s", dir, name ? name : def);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int load_config(const char *path, char *err, size_t esize)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(err, esize, "%s:%d: %s", path, je.line, je.text);
        return -1;
    }
    int ret = -1;
    struct pki_cert *ca = NULL, *cert = NULL;
    struct pki_key *key = NULL;
    json_t *x = json_object_get(doc, "xmpp");
    const char *dir = json_string_value(json_object_get(x, "pki_dir"));
    if (!json_is_object(x) || !dir) {
        snprintf(err, esize, "an \"xmpp\" section with \"pki_dir\" is required");
        goto out_doc;
    }
    char ca_path[4096], cert_path[4096], key_path[4096];
    if (pki_path(ca_path, sizeof ca_path, dir, x, "ca", "ca.pem") != 0 ||
        pki_path(cert_path, sizeof cert_path, dir, x, "cert", "node.pem") != 0 ||
        pki_path(key_path, sizeof key_path, dir, x, "key", "node.key") != 0) {
        snprintf(err, esize, "pki path too long");
        goto out_doc;
    }
    int rc;
    if ((rc = pki_cert_load(ca_path, &ca)) != 0 || (rc = pki_cert_load(cert_path, &cert)) != 0 ||
        (rc = pki_key_load(key_path, &key)) != 0) {
        snprintf(err, esize, "PKI files in %s: %s", dir, strata_strerror(rc));
        goto out_pki;
    }
    struct xsrv_config xc = {0};
    const char *listen = json_string_value(json_object_get(x, "listen"));
    snprintf(xc.listen, sizeof xc.listen, "%s", listen ? listen : "");
    json_int_t port = json_integer_value(json_object_get(x, "port"));
    json_int_t hold = json_integer_value(json_object_get(x, "hold_time"));
    json_int_t stale = json_integer_value(json_object_get(x, "stale_time"));
    json_int_t maxc = json_integer_value(json_object_get(x, "max_connections"));
    json_int_t hwm = json_integer_value(json_object_get(x, "write_high_watermark"));
    json_int_t maxq = json_integer_value(json_object_get(x, "max_queued_bytes"));
    json_int_t eor_hold = json_integer_value(json_object_get(x, "eor_hold_ms"));
    if (port < 0 || port > 65535 || hold < 0 || hold > 65535 || stale < 0 || stale > 86400 * 7 || maxc < 0 ||
        maxc > 1000000 || hwm < 0 || maxq < 0 || (maxq > 0 && maxq < hwm) || eor_hold < -1 ||
        eor_hold > 3600000) {
        snprintf(err, esize, "xmpp: port, hold_time, stale_time, max_connections, write_high_watermark, "
                            "max_queued_bytes or eor_hold_ms out of range");
        goto out_pki;
    }
    xc.port = (uint16_t)port;
    xc.hold_ms = (uint64_t)hold * 1000;
    xc.stale_ms = (uint64_t)stale * 1000;
    xc.max_conns = (uint32_t)maxc;
    xc.write_high_watermark = (size_t)hwm;
    xc.max_queued = (size_t)maxq;
    xc.no_eor_hold = eor_hold < 0;
    xc.eor_hold_ms = eor_hold > 0 ? (uint64_t)eor_hold : 0;
    xc.ca = ca;
    xc.cert = cert;
    xc.key = key;
    struct rib_config rcfg = {0};
    rc = rib_create(&rcfg, &g_rib);
    if (rc != 0) {
        snprintf(err, esize, "rib: %s", strata_strerror(rc));
        goto out_pki;
    }
    char xerr[256] = "";
    rc = xsrv_create(g_loop, g_rib, &xc, &g_xsrv, xerr, sizeof xerr);
    if (rc != 0) {
        snprintf(err, esize, "xmpp: %s", xerr);
        goto out_pki;
    }
    log_info("xmpp", "listening", "address=%s port=%u", xc.listen[0] ? xc.listen : "0.0.0.0",
             (unsigned)xsrv_port(g_xsrv));
    ret = 0;
out_pki:
    pki_cert_free(ca);
    pki_cert_free(cert);
    pki_key_free(key);
out_doc:
    json_decref(doc);
    return ret;
}

/* ---- control socket ---- */

static json_t *ctl_command(void *data, const char *cmd, const char *arg)
{
    (void)data;
    if (strcmp(cmd, "agents") == 0) {
        return xsrv_agents_json(g_xsrv);
    }
    if (strcmp(cmd, "routes") == 0 && arg && *arg) {
        json_t *doc = xsrv_routes_json(g_xsrv, arg);
        return doc ? doc : json_pack("{s:s}", "error", "no such table");
    }
    return json_pack("{s:s}", "error", "commands: agents | routes TABLE");
}

static void on_signal(uv_signal_t *s, int sig)
{
    (void)s;
    log_info("xmpp", "stopping", "signal=%d", sig);
    xsrv_close(g_xsrv);
    g_xsrv = NULL;
    ctl_sock_close(g_ctl);
    g_ctl = NULL;
    uv_close((uv_handle_t *)&g_sigterm, NULL);
    uv_close((uv_handle_t *)&g_sigint, NULL);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "query") == 0) {
        return ctl_sock_query("strata-control", argv[2], argc - 3, argv + 3);
    }
    const char *config = NULL, *ctl = NULL;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"ctl", required_argument, NULL, 's'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "c:s:", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 's': ctl = optarg; break;
        default:
            fprintf(stderr, "usage: strata-control --config FILE [--ctl SOCKET]\n"
                            "       strata-control query SOCKET agents|routes TABLE\n");
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "strata-control: --config FILE is required\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g_loop = uv_default_loop();
    char err[512];
    if (load_config(config, err, sizeof err) != 0) {
        fprintf(stderr, "strata-control: %s\n", err);
        uv_run(g_loop, UV_RUN_DEFAULT); /* lets a half-built server free itself */
        rib_free(g_rib);
        return 1;
    }
    if (ctl) {
        int rc = ctl_sock_listen(g_loop, ctl, 4095, ctl_command, NULL, &g_ctl);
        if (rc != 0) {
            fprintf(stderr, "strata-control: %s: %s\n", ctl, uv_strerror(rc));
            xsrv_close(g_xsrv);
            uv_run(g_loop, UV_RUN_DEFAULT);
            rib_free(g_rib);
            return 1;
        }
    }
    uv_signal_init(g_loop, &g_sigterm);
    uv_signal_init(g_loop, &g_sigint);
    uv_signal_start(&g_sigterm, on_signal, SIGTERM);
    uv_signal_start(&g_sigint, on_signal, SIGINT);
    log_info("xmpp", "control node running", "config=%s", config);
    uv_run(g_loop, UV_RUN_DEFAULT);
    uv_loop_close(g_loop);
    rib_free(g_rib);
    return 0;
}

/* stratad: the Strata node daemon, one binary for the supervisor and every
 * role it runs.
 *
 *   stratad init --pki DIR --node NAME=IP [--node ...] [--client NAME ...]
 *                [--agent NAME ...]
 * creates the cluster CA (once) and issues certificates; they carry their
 * role (node, operator, agent) as a URI SAN.
 *   stratad run --config FILE
 * runs a controller node: the supervisor (appliance/supervisor.h) binds the
 * node's sockets and runs one process per configured role, restarting any
 * that dies.
 *   stratad join --config FILE
 * the same for a node being added to a running cluster: its store starts
 * empty and a one-shot `stratad add-member` child asks the cluster (with the
 * node's own certificate, issued beforehand by `stratad init --node`) to add
 * it; later starts use `stratad run`.
 *   stratad join --url https://IP:PORT --token T --ca-fingerprint SHA256
 *                --dir DIR --name NAME --address IP --raft-port P [--api-port P]
 * enrols with an admin's join token first (POST /enroll: the cluster CA,
 * pinned by its fingerprint, signs this node's own key), writes DIR/pki and
 * DIR/node.json, then joins as above.
 *   stratad store --id N --name NAME --raft HOST:PORT --dir DIR --pki DIR
 *                 --member ID=NAME@HOST:PORT ... [--join] [--unix PATH]
 *                 [--raft-fd FD] [--client-fd FD]
 *                 [--map-size BYTES] [--retention REVS] [--checkpoint-interval REVS]
 *                 [--value-max BYTES] [--snapshot-threshold N] [--snapshot-trailing N]
 *                 [--durable]
 * the store role (the supervisor runs it; it also runs on its own). The
 * store's client protocol listens on the raft port + 1, or on an inherited
 * --client-fd; raft on --raft-fd when given. --retention,
 * --checkpoint-interval and --value-max are replicated settings: every member
 * must be started with the same values.
 *   stratad config --listen-fd N | --listen HOST:PORT --store unix:PATH ...
 * the config role (REST API), when this build has it.
 *   stratad control --bgp-fd N|--bgp HOST:PORT --xmpp-fd M|--xmpp HOST:PORT
 *                   --store unix:PATH --pki DIR --cert NAME --ctl PATH
 * the control role (BGP speaker and XMPP server on one RIB, peers from the
 * store's bgp-router objects; appliance/control_role.h).
 *   stratad add-member --pki DIR --cert NAME --id N --address NAME@HOST:PORT
 *                      --via NAME@HOST:RAFTPORT ...
 * adds member N to the cluster through the first reachable --via member (its
 * client port, raft port + 1); succeeds at once when N already votes.
 *   stratad roles
 * lists the roles this build can run. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "appliance/control_role.h"
#include "appliance/join_client.h"
#include "appliance/pkiset.h"
#include "appliance/supervisor.h"
#ifdef STRATA_HAVE_CONFIG_ROLE
#include "appliance/config_role.h"
#endif
#include "lib/log.h"
#include "store/client.h"
#include "store/node.h"
#include "store/proto.h"
#include "store/server.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: stratad init --pki DIR --node NAME=IP [--node ...] [--client NAME ...]\n"
            "                    [--agent NAME ...]\n"
            "       stratad run --config FILE\n"
            "       stratad join --config FILE\n"
            "       stratad join --url https://IP:PORT --token T|--token-file F --ca-fingerprint SHA256\n"
            "                    --dir DIR --name NAME --address IP --raft-port P [--api-port P]\n"
            "                    [--id N] [--role store|config|control ...]\n"
            "       stratad store --id N --name NAME --raft HOST:PORT --dir DIR --pki DIR\n"
            "                     --member ID=NAME@HOST:PORT ... [--join] [--unix PATH]\n"
            "                     [--raft-fd FD] [--client-fd FD]\n"
            "                     [--map-size BYTES] [--retention REVISIONS]\n"
            "                     [--checkpoint-interval REVISIONS] [--value-max BYTES]\n"
            "                     [--snapshot-threshold ENTRIES] [--snapshot-trailing ENTRIES]\n"
            "                     [--durable]  (sync LMDB at every commit: docs/store-perf.md)\n"
            "       stratad config --listen-fd N|--listen HOST:PORT --store unix:PATH --pki DIR --cert NAME\n"
            "                      [--workers N] [--bootstrap-token-file PATH] [--control-sock PATH]\n"
            "       stratad control --bgp-fd N|--bgp HOST:PORT --xmpp-fd N|--xmpp HOST:PORT\n"
            "                       --store unix:PATH --pki DIR --cert NAME --ctl PATH\n"
            "       stratad add-member --pki DIR --cert NAME --id N --address NAME@HOST:PORT\n"
            "                          --via NAME@HOST:RAFTPORT ...\n"
            "       stratad roles\n");
    return 2;
}

static int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pki", required_argument, NULL, 'p'},
        {"node", required_argument, NULL, 'n'},
        {"client", required_argument, NULL, 'c'},
        {"agent", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    char *nodes[64], *clients[64], *agents[64];
    int nodes_len = 0, clients_len = 0, agents_len = 0, o;
    char err[512] = "";
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == 'p') {
            dir = optarg;
        } else if (o == 'n' && nodes_len < 64) {
            nodes[nodes_len++] = optarg;
        } else if (o == 'c' && clients_len < 64) {
            clients[clients_len++] = optarg;
        } else if (o == 'a' && agents_len < 64) {
            agents[agents_len++] = optarg;
        } else {
            return usage();
        }
    }
    if (!dir || nodes_len + clients_len + agents_len == 0) {
        return usage();
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "stratad: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    if (access(path, F_OK) != 0) {
        if (pki_ca_create_files(dir, "strata-cluster-ca", 3650, err, sizeof err) != 0) {
            fprintf(stderr, "stratad: cluster CA: %s\n", err);
            return 1;
        }
        printf("created cluster CA %s/ca.pem\n", dir);
    }
    for (int i = 0; i < nodes_len; i++) {
        char *eq = strchr(nodes[i], '=');
        if (!eq) {
            fprintf(stderr, "stratad: --node wants NAME=IP, got %s\n", nodes[i]);
            return 2;
        }
        *eq = '\0';
        const char *ips[1] = {eq + 1};
        if (pkiset_issue(dir, nodes[i], PKI_ROLE_NODE, ips, 1, err, sizeof err) != 0) {
            fprintf(stderr, "stratad: certificate for %s: %s\n", nodes[i], err);
            return 1;
        }
        printf("issued node certificate %s/%s.pem (DNS %s, IP %s)\n", dir, nodes[i], nodes[i], eq + 1);
    }
    for (int i = 0; i < clients_len; i++) {
        if (pkiset_issue(dir, clients[i], PKI_ROLE_OPERATOR, NULL, 0, err, sizeof err) != 0) {
            fprintf(stderr, "stratad: certificate for %s: %s\n", clients[i], err);
            return 1;
        }
        printf("issued client certificate %s/%s.pem\n", dir, clients[i]);
    }
    for (int i = 0; i < agents_len; i++) {
        if (pkiset_issue(dir, agents[i], PKI_ROLE_AGENT, NULL, 0, err, sizeof err) != 0) {
            fprintf(stderr, "stratad: certificate for %s: %s\n", agents[i], err);
            return 1;
        }
        printf("issued agent certificate %s/%s.pem\n", dir, agents[i]);
    }
    struct pki_cert *ca = NULL;
    char fp[PKI_FINGERPRINT_HEX];
    if (pki_cert_load(path, &ca) != 0 || pki_cert_fingerprint(ca, fp) != 0) {
        pki_cert_free(ca);
        fprintf(stderr, "stratad: cannot read %s\n", path);
        return 1;
    }
    pki_cert_free(ca);
    printf("cluster CA fingerprint sha256:%s\n", fp);
    return 0;
}

/* ---- the store role ---- */

static uv_loop_t *store_loop;
static struct store_node *store_nd;
static struct store_server *store_srv;
static uv_signal_t sig_term, sig_int;

static void node_closed(void *arg)
{
    (void)arg;
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

static void server_closed(void *arg)
{
    (void)arg;
    store_node_close(store_nd, node_closed, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    log_info("stratad", "stopping", "signal=%d", signum);
    uv_signal_stop(&sig_term);
    uv_signal_stop(&sig_int);
    (void)h;
    store_server_close(store_srv, server_closed, NULL);
}

static int cmd_store(int argc, char **argv)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, 'i'},
        {"name", required_argument, NULL, 'n'},
        {"raft", required_argument, NULL, 'r'},
        {"dir", required_argument, NULL, 'd'},
        {"pki", required_argument, NULL, 'p'},
        {"member", required_argument, NULL, 'm'},
        {"join", no_argument, NULL, 'j'},
        {"unix", required_argument, NULL, 'u'},
        {"map-size", required_argument, NULL, 's'},
        {"retention", required_argument, NULL, 't'},
        {"checkpoint-interval", required_argument, NULL, 'c'},
        {"value-max", required_argument, NULL, 'v'},
        {"snapshot-threshold", required_argument, NULL, 'T'},
        {"snapshot-trailing", required_argument, NULL, 'L'},
        {"raft-fd", required_argument, NULL, 'R'},
        {"client-fd", required_argument, NULL, 'C'},
        {"durable", no_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    struct store_node_config cfg;
    int client_fd = -1;
    const char *name = NULL, *raft = NULL, *pki = NULL, *unix_path = NULL;
    char address[STORE_ADDRESS_MAX], err[512] = "";
    int o, rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.raft_listen_fd = -1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'i':
            cfg.id = strtoull(optarg, NULL, 10);
            break;
        case 'n':
            name = optarg;
            break;
        case 'r':
            raft = optarg;
            break;
        case 'd':
            cfg.dir = optarg;
            break;
        case 'p':
            pki = optarg;
            break;
        case 'm': {
            char *eq = strchr(optarg, '=');
            if (!eq || cfg.members_len >= STORE_MEMBERS_MAX) {
                return usage();
            }
            cfg.members[cfg.members_len].id = strtoull(optarg, NULL, 10);
            snprintf(cfg.members[cfg.members_len].address, STORE_ADDRESS_MAX, "%s", eq + 1);
            cfg.members_len++;
            break;
        }
        case 'j':
            cfg.join = true;
            break;
        case 'u':
            unix_path = optarg;
            break;
        case 's':
            cfg.fsm.map_size = strtoull(optarg, NULL, 10);
            break;
        case 't':
            cfg.fsm.retention = strtoull(optarg, NULL, 10);
            break;
        case 'c':
            cfg.fsm.checkpoint_interval = strtoull(optarg, NULL, 10);
            break;
        case 'v':
            cfg.fsm.value_max = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'T':
            cfg.snapshot_threshold = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'L':
            cfg.snapshot_trailing = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'D':
            cfg.fsm.durable = true;
            break;
        case 'R':
        case 'C': {
            char *end = NULL;
            long fd = strtol(optarg, &end, 10);
            if (*end || fd < 3 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) {
                fprintf(stderr, "stratad: --%s-fd %s is not an open descriptor\n", o == 'R' ? "raft" : "client",
                        optarg);
                return 2;
            }
            *(o == 'R' ? &cfg.raft_listen_fd : &client_fd) = (int)fd;
            break;
        }
        default:
            return usage();
        }
    }
    if (!cfg.id || !name || !raft || !cfg.dir || !pki) {
        return usage();
    }
    snprintf(address, sizeof address, "%s@%s", name, raft);
    cfg.address = address;
    char mname[STORE_ADDRESS_MAX], host[STORE_ADDRESS_MAX];
    uint16_t port;
    if (store_address_parse(address, mname, sizeof mname, host, sizeof host, &port) != 0 || port == 65535) {
        fprintf(stderr, "stratad: bad --raft %s\n", raft);
        return 2;
    }

    struct pkiset set;
    struct tls_ctx *raft_srv = NULL, *raft_cli = NULL, *api_srv = NULL, *api_cli = NULL;
    if (pkiset_load(&set, pki, name, err, sizeof err) != 0) {
        fprintf(stderr, "stratad: credentials: %s\n", err);
        return 1;
    }
    if (pkiset_tls(&set, TLS_ROLE_SERVER, STORE_TRANSPORT_ALPN, &raft_srv, err, sizeof err) != 0 ||
        pkiset_tls(&set, TLS_ROLE_CLIENT, STORE_TRANSPORT_ALPN, &raft_cli, err, sizeof err) != 0 ||
        pkiset_tls(&set, TLS_ROLE_SERVER, STORE_PROTO_ALPN, &api_srv, err, sizeof err) != 0 ||
        pkiset_tls(&set, TLS_ROLE_CLIENT, STORE_PROTO_ALPN, &api_cli, err, sizeof err) != 0) {
        fprintf(stderr, "stratad: TLS: %s\n", err);
        return 1;
    }
    cfg.server_ctx = raft_srv;
    cfg.client_ctx = raft_cli;

    signal(SIGPIPE, SIG_IGN);
    store_loop = uv_default_loop();
    rc = store_node_create(store_loop, &cfg, &store_nd);
    if (rc == 0) {
        rc = store_node_start(store_nd);
    }
    if (rc != 0) {
        fprintf(stderr, "stratad: store node: %s\n", strata_strerror(rc));
        return 1;
    }
    struct store_server_config scfg = {
        .loop = store_loop,
        .node = store_nd,
        .server_ctx = api_srv,
        .client_ctx = api_cli,
        .host = host,
        .port = (uint16_t)(port + 1),
        .listen_fd = client_fd,
        .unix_path = unix_path,
    };
    rc = store_server_create(&scfg, &store_srv);
    if (rc != 0) {
        fprintf(stderr, "stratad: store server: %s\n", strata_strerror(rc));
        return 1;
    }
    uv_signal_init(store_loop, &sig_term);
    uv_signal_init(store_loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    log_info("stratad", "store role running", "id=%llu raft=%s client_port=%u",
             (unsigned long long)cfg.id, address, port + 1);
    uv_run(store_loop, UV_RUN_DEFAULT);
    uv_loop_close(store_loop);
    tls_ctx_free(raft_srv);
    tls_ctx_free(raft_cli);
    tls_ctx_free(api_srv);
    tls_ctx_free(api_cli);
    pkiset_destroy(&set);
    log_info("stratad", "stopped", NULL);
    return 0;
}

/* ---- the supervisor ---- */

/* Runs the supervisor on the node config at 'path'. */
static int run_config(const char *path, bool join)
{
    struct sup_config cfg;
    char err[1024] = "";
    if (sup_config_load(path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "stratad: %s\n", err);
        return 2;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "stratad: cannot find its own binary: %s\n", strerror(errno));
        return 1;
    }
    self[n] = '\0';
    struct sup_options so = {
        .self_exe = self,
        .join = join,
#ifdef STRATA_HAVE_CONFIG_ROLE
        .have_config_role = true,
#endif
        .have_control_role = true,
    };
    const char *grace = getenv("STRATA_STOP_GRACE_MS");
    if (grace) {
        so.grace_ms = (unsigned)strtoul(grace, NULL, 10);
    }
    char ca_key[SUP_PATH_MAX + 16];
    snprintf(ca_key, sizeof ca_key, "%s/ca.key", cfg.pki_dir);
    so.ca_key = access(ca_key, F_OK) == 0;
    int rc = sup_run(&cfg, &so);
    if (rc != 0) {
        fprintf(stderr, "stratad: %s\n", strata_strerror(rc));
        return 1;
    }
    return 0;
}

static int cmd_run(int argc, char **argv, bool join)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o != 'c') {
            return usage();
        }
        path = optarg;
    }
    if (!path || optind != argc) {
        return usage();
    }
    return run_config(path, join);
}

static int port_arg(const char *s, uint16_t *out)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v < 1 || v > 65534) {
        return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

/* stratad join --url URL --token T --ca-fingerprint FP --dir DIR --name NAME
 *              --address IP --raft-port P [--api-port P] [--id N] [--role R ...]
 * Enrols with the join token (appliance/join_client.h), writes DIR/pki/
 * and DIR/node.json (data in DIR/data), then runs the node as `stratad
 * join --config DIR/node.json` does: its store starts empty and asks the
 * cluster to add it. With DIR/node.json already there (a restart), it
 * goes straight to running it. */
static int cmd_join_token(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},       {"token", required_argument, NULL, 't'},
        {"ca-fingerprint", required_argument, NULL, 'f'}, {"dir", required_argument, NULL, 'd'},
        {"name", required_argument, NULL, 'n'},      {"address", required_argument, NULL, 'a'},
        {"raft-port", required_argument, NULL, 'r'}, {"api-port", required_argument, NULL, 'p'},
        {"id", required_argument, NULL, 'i'},        {"role", required_argument, NULL, 'R'},
        {"token-file", required_argument, NULL, 'T'}, {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *token = NULL, *fp = NULL, *dir = NULL, *name = NULL, *address = NULL,
               *token_file = NULL, *roles[4] = {NULL};
    struct join_node_opts no = {0};
    int o, nroles = 0;
    char tokbuf[128] = "";
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'u': url = optarg; break;
        case 't': token = optarg; break;
        case 'T': token_file = optarg; break;
        case 'f': fp = optarg; break;
        case 'd': dir = optarg; break;
        case 'n': name = optarg; break;
        case 'a': address = optarg; break;
        case 'r':
            if (port_arg(optarg, &no.raft_port) != 0) {
                return usage();
            }
            break;
        case 'p':
            if (port_arg(optarg, &no.api_port) != 0) {
                return usage();
            }
            break;
        case 'i': no.id = strtoull(optarg, NULL, 10); break;
        case 'R':
            if (nroles >= 3) {
                return usage();
            }
            roles[nroles++] = optarg;
            break;
        default: return usage();
        }
    }
    if (!dir || optind != argc) {
        return usage();
    }
    char cfg_path[4096], pki[4096], data[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s/node.json", dir);
    if (access(cfg_path, F_OK) == 0) {
        log_info("stratad", "already enrolled; joining with the written config", "config=%s", cfg_path);
        return run_config(cfg_path, true);
    }
    if (token_file && !token) {
        FILE *f = fopen(token_file, "re");
        if (!f || !fgets(tokbuf, sizeof tokbuf, f)) {
            fprintf(stderr, "stratad: cannot read %s\n", token_file);
            if (f) {
                fclose(f);
            }
            return 2;
        }
        fclose(f);
        tokbuf[strcspn(tokbuf, "\r\n")] = '\0';
        token = tokbuf;
    }
    if (!url || !token || !fp || !name || !address || !no.raft_port) {
        return usage();
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "stratad: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    snprintf(pki, sizeof pki, "%s/pki", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    char err[1024] = "";
    json_t *answer = NULL, *cfg = NULL;
    int status = 0;
    struct join_request jr = {.url = url, .token = token, .fingerprint = fp, .pki_dir = pki, .address = address,
                              .kind = JOIN_KIND_CONTROLLER};
    int rc = join_client_enroll(&jr, &answer, &status, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "stratad: join: %s\n", err);
        /* stratactl's exit codes: 6 refused token, 4 token already used. */
        return rc != JOIN_EREFUSED ? 1 : status == 401 || status == 403 ? 6 : status == 409 ? 4 : 1;
    }
    const char *bound = json_string_value(json_object_get(answer, "name"));
    if (!bound || strcmp(bound, name) != 0) {
        fprintf(stderr, "stratad: join: the token is for node %s, not %s\n", bound ? bound : "?", name);
        json_decref(answer);
        return 1;
    }
    no.name = name;
    no.address = json_string_value(json_object_get(answer, "address")) ?: address;
    no.data_dir = data;
    no.pki_dir = pki;
    no.roles = nroles ? roles : NULL;
    bool need_api = nroles == 0;
    for (int i = 0; i < nroles; i++) {
        need_api = need_api || strcmp(roles[i], "config") == 0;
    }
    if (!no.api_port && need_api) {
        fprintf(stderr, "stratad: join: --api-port is needed for the config role\n");
        json_decref(answer);
        return 2;
    }
    rc = join_node_config(json_object_get(answer, "members"), &no, &cfg, err, sizeof err);
    json_decref(answer);
    if (rc != 0) {
        fprintf(stderr, "stratad: join: %s\n", err);
        return 1;
    }
    if (json_dump_file(cfg, cfg_path, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "stratad: cannot write %s\n", cfg_path);
        json_decref(cfg);
        return 1;
    }
    printf("enrolled as node %s (id %lld); node config %s\n", name,
           (long long)json_integer_value(json_object_get(cfg, "id")), cfg_path);
    fflush(stdout);
    json_decref(cfg);
    return run_config(cfg_path, true);
}

/* Whether member 'id' is a voter in the configuration 'client' reports. */
static int member_role(struct store_client *client, uint64_t id, char *role, size_t size)
{
    struct buf raw;
    int status = 0;
    buf_init(&raw, 0);
    int rc = store_client_call(client, STORE_MSG_STATUS, 0, NULL, 0, &status, &raw);
    if (rc == 0 && status != 0) {
        rc = status;
    }
    role[0] = '\0';
    if (rc == 0) {
        json_t *doc = json_loadb((const char *)raw.data, raw.size, 0, NULL);
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(doc, "members"), i, m) {
            if ((uint64_t)json_integer_value(json_object_get(m, "id")) == id) {
                const char *r = json_string_value(json_object_get(m, "role"));
                snprintf(role, size, "%s", r ? r : "?");
            }
        }
        rc = doc ? 0 : STORE_EFORMAT;
        json_decref(doc);
    }
    buf_destroy(&raw);
    return rc;
}

static int cmd_add_member(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pki", required_argument, NULL, 'p'},  {"cert", required_argument, NULL, 'c'},
        {"id", required_argument, NULL, 'i'},   {"address", required_argument, NULL, 'a'},
        {"via", required_argument, NULL, 'v'},  {NULL, 0, NULL, 0},
    };
    const char *pki = NULL, *cert = NULL, *address = NULL, *via[STORE_MEMBERS_MAX];
    uint64_t id = 0;
    int vias = 0, o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'p': pki = optarg; break;
        case 'c': cert = optarg; break;
        case 'i': id = strtoull(optarg, NULL, 10); break;
        case 'a': address = optarg; break;
        case 'v':
            if (vias >= STORE_MEMBERS_MAX) {
                return usage();
            }
            via[vias++] = optarg;
            break;
        default: return usage();
        }
    }
    if (!pki || !cert || !id || !address || vias == 0) {
        return usage();
    }
    struct pkiset set;
    struct tls_ctx *tls = NULL;
    char err[512] = "";
    if (pkiset_load(&set, pki, cert, err, sizeof err) != 0 ||
        pkiset_tls(&set, TLS_ROLE_CLIENT, STORE_PROTO_ALPN, &tls, err, sizeof err) != 0) {
        fprintf(stderr, "stratad: credentials: %s\n", err);
        pkiset_destroy(&set);
        return 1;
    }
    int rc = STORE_ENOQUORUM;
    for (int i = 0; i < vias; i++) {
        char target[STORE_ADDRESS_MAX], role[32];
        struct store_client *client = NULL;
        if (store_client_address(via[i], target, sizeof target) != 0) {
            fprintf(stderr, "stratad: bad --via %s\n", via[i]);
            rc = LIB_EINVAL;
            break;
        }
        if (strcmp(via[i], address) == 0) {
            continue; /* this node itself: it is empty */
        }
        rc = store_client_open(target, tls, 5000, &client);
        if (rc == 0) {
            rc = member_role(client, id, role, sizeof role);
        }
        if (rc == 0 && strcmp(role, "voter") == 0) {
            log_info("stratad", "already a voting member", "id=%llu via=%s", (unsigned long long)id, target);
        } else if (rc == 0) {
            struct buf b;
            int status = 0;
            buf_init(&b, 0);
            if (role[0]) {
                /* Half added by an earlier attempt: start over. */
                rc = buf_put_u64(&b, id);
                if (rc == 0) {
                    rc = store_client_call(client, STORE_MSG_MEMBER_REMOVE, 0, b.data, b.size, &status, NULL);
                }
                rc = rc ? rc : status;
                buf_reset(&b);
            }
            if (rc == 0) {
                size_t alen = strlen(address);
                rc = buf_put_u64(&b, id);
                if (rc == 0) {
                    rc = buf_put_u16(&b, (uint16_t)alen);
                }
                if (rc == 0) {
                    rc = buf_put(&b, address, alen);
                }
                if (rc == 0) {
                    rc = store_client_call(client, STORE_MSG_MEMBER_ADD, 0, b.data, b.size, &status, NULL);
                }
                rc = rc ? rc : status;
            }
            buf_destroy(&b);
            if (rc == 0) {
                log_info("stratad", "member added", "id=%llu address=%s via=%s", (unsigned long long)id,
                         address, target);
            }
        }
        store_client_close(client);
        if (rc == 0) {
            break;
        }
        log_warn("stratad", "add-member attempt failed", "via=%s err=\"%s\"", target, strata_strerror(rc));
    }
    tls_ctx_free(tls);
    pkiset_destroy(&set);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int rc;
    if (argc < 2) {
        return usage();
    }
    if (strcmp(argv[1], "config") == 0) {
#ifdef STRATA_HAVE_CONFIG_ROLE
        return config_role_main(argc - 1, argv + 1);
#else
        fprintf(stderr, "stratad: this build has no config role\n");
        return 2;
#endif
    }
    if (strcmp(argv[1], "control") == 0) {
        return control_role_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "roles") == 0) {
#ifdef STRATA_HAVE_CONFIG_ROLE
        puts("store\nconfig\ncontrol");
#else
        puts("store\ncontrol");
#endif
        return 0;
    }
    wolfSSL_Init();
    if (strcmp(argv[1], "init") == 0) {
        rc = cmd_init(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "store") == 0) {
        rc = cmd_store(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "join") == 0 && argc > 2 && strcmp(argv[2], "--config") != 0 &&
               strncmp(argv[2], "--config=", 9) != 0) {
        rc = cmd_join_token(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "run") == 0 || strcmp(argv[1], "join") == 0) {
        rc = cmd_run(argc - 1, argv + 1, argv[1][0] == 'j');
    } else if (strcmp(argv[1], "add-member") == 0) {
        rc = cmd_add_member(argc - 1, argv + 1);
    } else {
        rc = usage();
    }
    wolfSSL_Cleanup();
    return rc;
}

/* stratad: the Strata node daemon. This build runs the store role in the
 * foreground (the supervisor that forks one unprivileged process per role
 * arrives with the config role) and creates a cluster's credentials.
 *
 *   stratad init --pki DIR --node NAME=IP [--node ...] [--client NAME ...]
 *                [--agent NAME ...]
 * Certificates carry their role (node, operator, agent) as a URI SAN.
 *   stratad store --id N --name NAME --raft HOST:PORT --dir DIR --pki DIR
 *                 --member ID=NAME@HOST:PORT ... [--join] [--unix PATH]
 *                 [--map-size BYTES] [--retention REVS] [--checkpoint-interval REVS]
 *                 [--value-max BYTES] [--snapshot-threshold N] [--snapshot-trailing N]
 * --retention, --checkpoint-interval and --value-max are replicated
 * settings: every member must be started with the same values.
 * The store's client protocol listens on the raft port + 1. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "appliance/pkiset.h"
#include "lib/log.h"
#include "store/node.h"
#include "store/proto.h"
#include "store/server.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: stratad init --pki DIR --node NAME=IP [--node ...] [--client NAME ...]\n"
            "                    [--agent NAME ...]\n"
            "       stratad store --id N --name NAME --raft HOST:PORT --dir DIR --pki DIR\n"
            "                     --member ID=NAME@HOST:PORT ... [--join] [--unix PATH]\n"
            "                     [--map-size BYTES] [--retention REVISIONS]\n"
            "                     [--checkpoint-interval REVISIONS] [--value-max BYTES]\n"
            "                     [--snapshot-threshold ENTRIES] [--snapshot-trailing ENTRIES]\n");
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
        {NULL, 0, NULL, 0},
    };
    struct store_node_config cfg;
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
        .listen_fd = -1,
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

int main(int argc, char **argv)
{
    int rc;
    if (argc < 2) {
        return usage();
    }
    wolfSSL_Init();
    if (strcmp(argv[1], "init") == 0) {
        rc = cmd_init(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "store") == 0) {
        rc = cmd_store(argc - 1, argv + 1);
    } else {
        rc = usage();
    }
    wolfSSL_Cleanup();
    return rc;
}

/* The config role e2e harness (api_harness.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "tests/e2e/api/api_harness.h"

atomic_int errors;

struct cluster cl;
struct node_api api[CLUSTER_NODES];
struct tls_ctx *client_tls;
char admin_token[128];

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void on_role_closed(void *data)
{
    struct node_api *n = data;
    n->role = NULL;
}

static void on_stop(uv_async_t *a)
{
    struct node_api *n = a->data;
    config_role_close(n->role, on_role_closed, n);
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_thread(void *arg)
{
    struct node_api *n = arg;
    uv_run(&n->loop, UV_RUN_DEFAULT);
    tls_thread_done();
    return NULL;
}

int api_start(int i)
{
    struct node_api *n = &api[i];
    char pki[1100], err[256], target[1100];
    snprintf(n->ip, sizeof n->ip, "127.0.0.%d", i + 1);
    snprintf(n->name, sizeof n->name, "n%d", i + 1);
    snprintf(pki, sizeof pki, "%s/pki", cl.dir);
    snprintf(target, sizeof target, "unix:%s/n%d.sock", cl.dir, i + 1);
    if (pkiset_load(&n->set, pki, n->name, err, sizeof err) != 0) {
        fprintf(stderr, "pki %s: %s\n", n->name, err);
        return -1;
    }
    uv_loop_init(&n->loop);
    struct config_role_config cfg = {
        .store_target = target,
        .store_timeout_ms = 10000,
        .ca = n->set.ca,
        .cert = n->set.cert,
        .key = n->set.key,
    };
    if (config_role_create(&n->loop, &cfg, &n->role, err, sizeof err) != 0 ||
        config_role_listen(n->role, n->ip, 0) != 0) {
        fprintf(stderr, "config role %s: %s\n", n->name, err);
        return -1;
    }
    n->port = config_role_port(n->role);
    uv_async_init(&n->loop, &n->stop, on_stop);
    n->stop.data = n;
    return pthread_create(&n->thread, NULL, loop_thread, n);
}

void api_stop(int i)
{
    struct node_api *n = &api[i];
    if (!n->thread) {
        return;
    }
    uv_async_send(&n->stop);
    pthread_join(n->thread, NULL);
    uv_loop_close(&n->loop);
    pkiset_destroy(&n->set);
}

struct api_client *client(int node)
{
    struct api_client *c = NULL;
    if (api_client_create(client_tls, api[node].ip, api[node].port, api[node].ip, 60000, &c) != 0) {
        return NULL;
    }
    return c;
}

int cluster_up(const char *stratad, const char *dir, uint16_t base_port)
{
    setenv("UV_THREADPOOL_SIZE", "32", 1);
    signal(SIGPIPE, SIG_IGN);
    wolfSSL_Init();
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (cluster_init(&cl, stratad, dir, base_port) != 0) {
        return -1;
    }
    for (int i = 0; i < CLUSTER_NODES; i++) {
        cluster_start(&cl, i);
    }
    char err[256];
    struct tls_config tc = {.role = TLS_ROLE_CLIENT, .ca = cl.admin.ca, .alpn = "http/1.1"};
    if (cluster_converge(&cl, 30000, NULL) != 0 || tls_ctx_create(&tc, &client_tls, err, sizeof err)) {
        fprintf(stderr, "cluster did not form\n");
        cluster_destroy(&cl);
        return -1;
    }
    return 0;
}

void roles_start(void)
{
    for (int i = 0; i < CLUSTER_NODES; i++) {
        if (api_start(i) != 0) {
            atomic_fetch_add(&errors, 1);
        }
    }
}

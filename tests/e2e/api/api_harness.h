/* The shared harness of the config role's e2e tests (test_api_cluster,
 * test_api_compiler): a real three-node store cluster (tests/e2e/store/
 * cluster.h, stratad processes on 127.0.0.1-3) in 'cl', and three config
 * roles in the test process, one per node ('api'), each on its own loop
 * thread and talking to its node's store over the unix socket; HTTPS
 * clients to them with 'client_tls'. CHECK counts failures in 'errors'
 * and goes on; a test's main returns nonzero when any was counted. */
#ifndef STRATA_TESTS_E2E_API_HARNESS_H
#define STRATA_TESTS_E2E_API_HARNESS_H

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <uv.h>

#include "appliance/config_role.h"
#include "appliance/pkiset.h"
#include "tests/e2e/api/api_client.h"
#include "tests/e2e/store/cluster.h"

extern atomic_int errors;

#define CHECK(cond, ...)                                               \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);       \
            fprintf(stderr, __VA_ARGS__);                              \
            fprintf(stderr, "\n");                                     \
            atomic_fetch_add(&errors, 1);                              \
        }                                                              \
    } while (0)

struct node_api {
    uv_loop_t loop;
    uv_async_t stop;
    struct config_role *role;
    struct pkiset set;
    pthread_t thread;
    uint16_t port;
    char ip[32], name[16];
};

extern struct cluster cl;
extern struct node_api api[CLUSTER_NODES];
extern struct tls_ctx *client_tls;
extern char admin_token[128];

/* CLOCK_MONOTONIC in seconds. */
double now_s(void);
/* nftw() callback removing each entry (work directory cleanup). */
int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw);
/* Starts node i's config role (127.0.0.<i+1>, ephemeral port) on its own
 * loop thread, on node i's unix store socket in cl.dir. 0 or -1 (printed). */
int api_start(int i);
/* Closes node i's role and joins its thread; no-op when not started. */
void api_stop(int i);
/* Process set-up and the cluster: threadpool size, SIGPIPE ignored, wolfSSL,
 * 'dir' emptied, three stratad store nodes started from 'stratad' on ports
 * from 'base_port', converged, and 'client_tls' made. 0, or -1 (printed;
 * the cluster is destroyed). */
int cluster_up(const char *stratad, const char *dir, uint16_t base_port);
/* api_start() on every node; failures counted in 'errors'. */
void roles_start(void);
/* A keep-alive HTTPS client to node 'node''s API, or NULL. */
struct api_client *client(int node);

#endif

/* Test harness for e2e store tests: creates a cluster's credentials with
 * `stratad init`, starts and kills real `stratad store` processes on
 * 127.0.0.1-3, and opens clients to them. */
#ifndef STRATA_TEST_CLUSTER_H
#define STRATA_TEST_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "appliance/pkiset.h"
#include "store/client.h"

#define CLUSTER_NODES 3

struct cluster {
    const char *stratad;
    char dir[1024];
    uint16_t port; /* raft port; the store listens on port + 1 */
    pid_t pid[CLUSTER_NODES];
    const char *extra[8]; /* extra stratad store arguments */
    const char *env[CLUSTER_NODES]; /* "NAME=VALUE" set for one node, or NULL */
    int extra_len;
    struct pkiset admin;
    struct tls_ctx *tls;
};

/* Clears 'c' and creates the cluster's credentials; set 'extra' and 'env'
 * after this call. */
int cluster_init(struct cluster *c, const char *stratad, const char *dir, uint16_t port);
int cluster_start(struct cluster *c, int i);
/* Sends 'sig' to node i and waits for it; returns its wait status (-1 when
 * it was not running). */
int cluster_kill(struct cluster *c, int i, int sig);
void cluster_destroy(struct cluster *c);
/* "nI@127.0.0.I:PORT+1" */
void cluster_target(const struct cluster *c, int i, char *out, size_t size);
/* Opens a blocking client to node 'i', retrying for up to 'wait_ms'. */
int cluster_client(struct cluster *c, int i, unsigned wait_ms, struct store_client **out);
/* Waits until every node reports the same leader and applied revision as
 * the leader's linearizable view; fills 'revision' (may be NULL). A node
 * that exits 75 meanwhile is restarted (as stratad's supervisor would).
 * Returns 0, -1 on timeout (each node's status is printed to stderr), -2 on
 * replicas that disagree at one revision, -3 when a node exited otherwise. */
int cluster_converge(struct cluster *c, unsigned wait_ms, uint64_t *revision);

/* Scans the nodes' logs for sanitizer reports and crashes; returns how many
 * were found (each printed). A node that died by itself must fail a test
 * even when the cluster carried on. */
int cluster_check_logs(const struct cluster *c);
/* The number of lines of the nodes' logs containing 'text'. */
int cluster_count_log(const struct cluster *c, const char *text);

#endif

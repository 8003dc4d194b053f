/* More harness for the store's e2e tests, beside cluster.h: starting a
 * node with any id, member list, --join and extra arguments (membership
 * changes, a fourth node), optionally inside its own cgroup; reading a
 * node's status; and the nemesis' tools: a private network namespace with
 * loopback up, and nftables partitions between nodes.
 *
 * Partitions: every node's connections leave from 127.0.0.1 (the transport
 * does not bind a source address), so addresses cannot tell nodes apart.
 * Each node runs in its own cgroup v2 group instead, and a partition drops
 * the packets a node's sockets send to another node's raft and client ports
 * (`socket cgroupv2` in an output chain). The test's own clients are in no
 * node's group, so they still reach every node, as clients do in a real
 * network partition between servers. */
#ifndef STRATA_TESTS_LIN_CLUSTER_H
#define STRATA_TESTS_LIN_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "tests/e2e/store/cluster.h"

#define LIN_NODES_MAX 8

struct lin_node_opts {
    int id;                /* 1-based: name nID, raft 127.0.0.ID:port */
    const int *members;    /* ids of the --member list */
    int members_len;
    bool join;
    const char *cgroup;    /* cgroup v2 directory to run in, or NULL */
    const char *const *extra; /* more stratad store arguments */
    int extra_len;
};

/* Starts `stratad store` for 'o' with the data directory DIR/nID, log
 * DIR/nID.log and unix socket DIR/nID.sock of 'c'. Returns the pid or -1. */
pid_t lin_spawn(const struct cluster *c, const struct lin_node_opts *o);

/* Fetches node 'id''s status JSON (1-based id, client port of 'c'),
 * waiting up to 'wait_ms' for the node to answer. '*out' is a new
 * reference. 0 or an error code. */
int lin_status(struct cluster *c, int id, unsigned wait_ms, json_t **out) STRATA_WARN_UNUSED;

/* Milliseconds / nanoseconds of CLOCK_MONOTONIC. */
uint64_t lin_now_ms(void);
uint64_t lin_now_ns(void);

/* Enters a new network namespace and brings its loopback up. On failure
 * returns -1 with the reason in 'why'. */
int lin_netns_enter(char *why, size_t size);

/* Runs an nftables script (nft -f). 0 or -1. */
int lin_nft(const char *script);

/* The nemesis' partition tables. */
struct lin_net {
    int nodes;                       /* node ids 1..nodes */
    uint16_t port;                   /* raft port; client port is port + 1 */
    char cg_dir[LIN_NODES_MAX + 1][256];  /* cgroup directory per node id */
    char cg_name[LIN_NODES_MAX + 1][256]; /* the same, as nft names it */
};

/* Creates one cgroup per node and the nftables table; -1 with the reason
 * in 'why' when cgroup v2 or nft is unavailable. */
int lin_net_init(struct lin_net *n, int nodes, uint16_t port, char *why, size_t size);
/* Drops all traffic between node sets 'a' and 'b' (bitmasks of node ids). */
int lin_net_partition(struct lin_net *n, unsigned a, unsigned b);
/* Removes every partition. */
int lin_net_heal(struct lin_net *n);
/* Deletes the table and the cgroups (their processes must be gone). */
void lin_net_destroy(struct lin_net *n);

#endif

/* The extra e2e harness of lin_cluster.h: flexible node start, status,
 * network namespace and nftables/cgroup partitions. */
#include "tests/e2e/store/lin_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/proto.h"

#define CGROUP2_MAGIC 0x63677270
#define NFT_TABLE "strata_nemesis"
/* A cgroup's depth from the hierarchy's true root is unknown inside a
 * cgroup namespace, so each rule is repeated for these levels; only the
 * real one can match. */
#define NFT_LEVELS 4

uint64_t lin_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t lin_now_ms(void)
{
    return lin_now_ns() / 1000000u;
}

pid_t lin_spawn(const struct cluster *c, const struct lin_node_opts *o)
{
    char id[16], name[16], raft[64], ndir[1100], pki[1100], log[1100], unixp[1100], procs[300];
    char m[LIN_NODES_MAX][96];
    if (o->members_len > LIN_NODES_MAX || o->extra_len > 16) {
        return -1;
    }
    snprintf(id, sizeof id, "%d", o->id);
    snprintf(name, sizeof name, "n%d", o->id);
    snprintf(raft, sizeof raft, "127.0.0.%d:%u", o->id, c->port);
    snprintf(ndir, sizeof ndir, "%s/n%d", c->dir, o->id);
    snprintf(pki, sizeof pki, "%s/pki", c->dir);
    snprintf(log, sizeof log, "%s/n%d.log", c->dir, o->id);
    snprintf(unixp, sizeof unixp, "%s/n%d.sock", c->dir, o->id);
    const char *argv[64] = {c->stratad, "store", "--id", id, "--name", name, "--raft", raft,
                            "--dir", ndir, "--pki", pki, "--unix", unixp};
    int n = 14;
    for (int k = 0; k < o->members_len; k++) {
        int mid = o->members[k];
        snprintf(m[k], sizeof m[k], "%d=n%d@127.0.0.%d:%u", mid, mid, mid, c->port);
        argv[n++] = "--member";
        argv[n++] = m[k];
    }
    if (o->join) {
        argv[n++] = "--join";
    }
    for (int k = 0; k < c->extra_len; k++) {
        argv[n++] = c->extra[k];
    }
    for (int k = 0; k < o->extra_len; k++) {
        argv[n++] = o->extra[k];
    }
    argv[n] = NULL;
    if (o->cgroup) {
        snprintf(procs, sizeof procs, "%s/cgroup.procs", o->cgroup);
    }
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        if (o->cgroup) {
            /* Join before exec, so every socket the node opens is in it. */
            int cg = open(procs, O_WRONLY);
            if (cg < 0 || write(cg, "0\n", 2) != 2) {
                _exit(126);
            }
            close(cg);
        }
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int lin_status(struct cluster *c, int id, unsigned wait_ms, json_t **out)
{
    char target[64];
    struct store_client *cl = NULL;
    uint64_t end = lin_now_ms() + wait_ms;
    int rc;
    snprintf(target, sizeof target, "n%d@127.0.0.%d:%u", id, id, c->port + 1);
    for (;;) {
        rc = store_client_open(target, c->tls, 2000, &cl);
        if (rc == 0) {
            struct buf raw;
            int status = 0;
            buf_init(&raw, 0);
            rc = store_client_call(cl, STORE_MSG_STATUS, 0, NULL, 0, &status, &raw);
            if (rc == 0) {
                rc = status;
            }
            if (rc == 0) {
                *out = json_loadb((const char *)raw.data, raw.size, 0, NULL);
                rc = *out ? 0 : LIB_EFORMAT;
            }
            buf_destroy(&raw);
            store_client_close(cl);
            if (rc == 0) {
                return 0;
            }
        }
        if (lin_now_ms() >= end) {
            return rc;
        }
        usleep(50 * 1000);
    }
}

int lin_netns_enter(char *why, size_t size)
{
    if (unshare(CLONE_NEWNET) != 0) {
        snprintf(why, size, "unshare(CLONE_NEWNET): %s (needs root or CAP_SYS_ADMIN)", strerror(errno));
        return -1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
        snprintf(why, size, "reading lo's flags: %s", strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) {
        snprintf(why, size, "bringing lo up: %s", strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int lin_nft(const char *script)
{
    char path[] = "/tmp/strata-nft-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        return -1;
    }
    size_t len = strlen(script);
    bool ok = write(fd, script, len) == (ssize_t)len;
    close(fd);
    int st = -1;
    if (ok) {
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            execlp("nft", "nft", "-f", path, (char *)NULL);
            _exit(127);
        }
        if (pid > 0) {
            waitpid(pid, &st, 0);
        }
    }
    unlink(path);
    return ok && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static bool is_cgroup2(const char *path)
{
    struct statfs fs;
    return statfs(path, &fs) == 0 && (unsigned long)fs.f_type == CGROUP2_MAGIC;
}

int lin_net_init(struct lin_net *n, int nodes, uint16_t port, char *why, size_t size)
{
    const char *root, *prefix;
    memset(n, 0, sizeof *n);
    if (nodes > LIN_NODES_MAX) {
        snprintf(why, size, "too many nodes");
        return -1;
    }
    n->nodes = nodes;
    n->port = port;
    if (is_cgroup2("/sys/fs/cgroup/unified")) {
        root = "/sys/fs/cgroup/unified";
        prefix = "unified/";
    } else if (is_cgroup2("/sys/fs/cgroup")) {
        root = "/sys/fs/cgroup";
        prefix = "";
    } else {
        snprintf(why, size, "no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified");
        return -1;
    }
    for (int i = 1; i <= nodes; i++) {
        snprintf(n->cg_dir[i], sizeof n->cg_dir[i], "%s/strata-lin-%d-n%d", root, (int)getpid(), i);
        snprintf(n->cg_name[i], sizeof n->cg_name[i], "%sstrata-lin-%d-n%d", prefix, (int)getpid(), i);
        if (mkdir(n->cg_dir[i], 0755) != 0 && errno != EEXIST) {
            snprintf(why, size, "mkdir %s: %s", n->cg_dir[i], strerror(errno));
            lin_net_destroy(n);
            return -1;
        }
    }
    if (lin_nft("add table inet " NFT_TABLE "\n"
                "add chain inet " NFT_TABLE " out { type filter hook output priority 0; policy accept; }\n") != 0) {
        snprintf(why, size, "nft cannot create a table (is nftables installed? scripts/install-deps)");
        lin_net_destroy(n);
        return -1;
    }
    return 0;
}

int lin_net_partition(struct lin_net *n, unsigned a, unsigned b)
{
    size_t cap = 65536, len = 0;
    char *s = malloc(cap);
    if (!s) {
        return -1;
    }
    for (int x = 1; x <= n->nodes; x++) {
        for (int y = 1; y <= n->nodes; y++) {
            bool cut = ((a >> x & 1) && (b >> y & 1)) || ((b >> x & 1) && (a >> y & 1));
            if (!cut || x == y) {
                continue;
            }
            for (int level = 1; level <= NFT_LEVELS && len + 512 < cap; level++) {
                len += (size_t)snprintf(s + len, cap - len,
                                        "add rule inet " NFT_TABLE " out socket cgroupv2 level %d \"%s\" "
                                        "ip daddr 127.0.0.%d tcp dport { %u, %u } drop\n",
                                        level, n->cg_name[x], y, n->port, n->port + 1);
            }
        }
    }
    int rc = lin_nft(s);
    free(s);
    return rc;
}

int lin_net_heal(struct lin_net *n)
{
    (void)n;
    return lin_nft("flush chain inet " NFT_TABLE " out\n");
}

void lin_net_destroy(struct lin_net *n)
{
    (void)lin_nft("delete table inet " NFT_TABLE "\n");
    for (int i = 1; i <= n->nodes; i++) {
        if (n->cg_dir[i][0]) {
            rmdir(n->cg_dir[i]);
        }
    }
}

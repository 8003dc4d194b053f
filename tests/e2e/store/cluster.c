/* The e2e cluster harness of cluster.h. */
#include "tests/e2e/store/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "store/proto.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int run(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int cluster_init(struct cluster *c, const char *stratad, const char *dir, uint16_t port)
{
    char pki[1100], err[512];
    memset(c, 0, sizeof *c);
    c->stratad = stratad;
    c->port = port;
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    mkdir(dir, 0700);
    /* A rerun in the same build tree must not inherit an earlier run's raft
     * state (its members listen on other ports): start from nothing. */
    for (int i = 1; i <= CLUSTER_NODES + 1; i++) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s/n%d' '%s/n%d.log' '%s/n%d.sock'", dir, i, dir, i, dir, i);
        if (system(cmd) != 0) {
            fprintf(stderr, "cluster: cannot clear %s/n%d\n", dir, i);
            return -1;
        }
    }
    snprintf(pki, sizeof pki, "%s/pki", dir);
    char *argv[] = {(char *)stratad, "init", "--pki", pki, "--node", "n1=127.0.0.1", "--node",
                    "n2=127.0.0.2", "--node", "n3=127.0.0.3", "--client", "admin", NULL};
    if (run(argv) != 0) {
        fprintf(stderr, "cluster: stratad init failed\n");
        return -1;
    }
    if (pkiset_load(&c->admin, pki, "admin", err, sizeof err) != 0 ||
        pkiset_tls(&c->admin, TLS_ROLE_CLIENT, STORE_PROTO_ALPN, &c->tls, err, sizeof err) != 0) {
        fprintf(stderr, "cluster: %s\n", err);
        return -1;
    }
    return 0;
}

int cluster_start(struct cluster *c, int i)
{
    char id[16], name[16], raft[64], ndir[1100], pki[1100], log[1100], unixp[1100];
    char m[CLUSTER_NODES][96];
    snprintf(id, sizeof id, "%d", i + 1);
    snprintf(name, sizeof name, "n%d", i + 1);
    snprintf(raft, sizeof raft, "127.0.0.%d:%u", i + 1, c->port);
    snprintf(ndir, sizeof ndir, "%s/n%d", c->dir, i + 1);
    snprintf(pki, sizeof pki, "%s/pki", c->dir);
    snprintf(log, sizeof log, "%s/n%d.log", c->dir, i + 1);
    snprintf(unixp, sizeof unixp, "%s/n%d.sock", c->dir, i + 1);
    for (int k = 0; k < CLUSTER_NODES; k++) {
        snprintf(m[k], sizeof m[k], "%d=n%d@127.0.0.%d:%u", k + 1, k + 1, k + 1, c->port);
    }
    const char *argv[40] = {c->stratad, "store", "--id", id, "--name", name, "--raft", raft,
                            "--dir", ndir, "--pki", pki, "--unix", unixp};
    int n = 14;
    for (int k = 0; k < CLUSTER_NODES; k++) {
        argv[n++] = "--member";
        argv[n++] = m[k];
    }
    for (int k = 0; k < c->extra_len; k++) {
        argv[n++] = c->extra[k];
    }
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        if (c->env[i]) {
            putenv((char *)c->env[i]);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    c->pid[i] = pid;
    return 0;
}

int cluster_kill(struct cluster *c, int i, int sig)
{
    int status = -1;
    if (c->pid[i] > 0) {
        kill(c->pid[i], sig);
        if (waitpid(c->pid[i], &status, 0) < 0) {
            status = -1;
        }
        c->pid[i] = 0;
    }
    return status;
}

void cluster_destroy(struct cluster *c)
{
    for (int i = 0; i < CLUSTER_NODES; i++) {
        cluster_kill(c, i, SIGKILL);
    }
    tls_ctx_free(c->tls);
    pkiset_destroy(&c->admin);
}

void cluster_target(const struct cluster *c, int i, char *out, size_t size)
{
    snprintf(out, size, "n%d@127.0.0.%d:%u", i + 1, i + 1, c->port + 1);
}

int cluster_client(struct cluster *c, int i, unsigned wait_ms, struct store_client **out)
{
    char target[64];
    uint64_t end = now_ms() + wait_ms;
    int rc;
    cluster_target(c, i, target, sizeof target);
    do {
        rc = store_client_open(target, c->tls, 2000, out);
        if (rc == 0) {
            return 0;
        }
        usleep(50 * 1000);
    } while (now_ms() < end);
    return rc;
}

/* Reads a node's status JSON: state, applied store revision, hash. */
static int node_status(struct store_client *cl, char *state, size_t ssize, uint64_t *rev, char *hash,
                       size_t hsize, uint64_t *applied, uint64_t *last)
{
    struct buf raw;
    int status = 0;
    buf_init(&raw, 0);
    int rc = store_client_call(cl, STORE_MSG_STATUS, 0, NULL, 0, &status, &raw);
    if (rc == 0 && status != 0) {
        rc = status;
    }
    if (rc == 0) {
        json_t *doc = json_loadb((const char *)raw.data, raw.size, 0, NULL);
        json_t *st = json_object_get(doc, "store");
        snprintf(state, ssize, "%s", json_string_value(json_object_get(doc, "state")) ?: "?");
        *rev = (uint64_t)json_integer_value(json_object_get(st, "revision"));
        *applied = (uint64_t)json_integer_value(json_object_get(doc, "applied_index"));
        *last = (uint64_t)json_integer_value(json_object_get(doc, "last_index"));
        snprintf(hash, hsize, "%s", json_string_value(json_object_get(st, "hash")) ?: "");
        json_decref(doc);
    }
    buf_destroy(&raw);
    return rc;
}

/* Prints node i's status document (or why there is none) to stderr. */
static void print_status(struct cluster *c, int i)
{
    struct store_client *cl = NULL;
    struct buf raw;
    int status = 0;
    buf_init(&raw, 0);
    int rc = cluster_client(c, i, 500, &cl);
    if (rc == 0) {
        rc = store_client_call(cl, STORE_MSG_STATUS, 0, NULL, 0, &status, &raw);
    }
    if (rc == 0 && status == 0) {
        fprintf(stderr, "cluster: n%d status %.*s\n", i + 1, (int)raw.size, (const char *)raw.data);
    } else {
        fprintf(stderr, "cluster: n%d no status: %s\n", i + 1, strata_strerror(rc ? rc : status));
    }
    store_client_close(cl);
    buf_destroy(&raw);
}

int cluster_converge(struct cluster *c, unsigned wait_ms, uint64_t *revision)
{
    uint64_t end = now_ms() + wait_ms;
    while (now_ms() < end) {
        struct store_client *cl[CLUSTER_NODES] = {0};
        uint64_t rev[CLUSTER_NODES] = {0}, applied[CLUSTER_NODES] = {0}, last[CLUSTER_NODES] = {0};
        uint64_t leader_last = 0;
        char state[CLUSTER_NODES][32], hash[CLUSTER_NODES][80];
        int leaders = 0, ok = 0;
        for (int i = 0; i < CLUSTER_NODES; i++) {
            if (cluster_client(c, i, 500, &cl[i]) == 0 &&
                node_status(cl[i], state[i], sizeof state[i], &rev[i], hash[i], sizeof hash[i], &applied[i],
                            &last[i]) == 0) {
                ok++;
                if (strcmp(state[i], "leader") == 0) {
                    leaders++;
                    leader_last = last[i];
                }
            }
            store_client_close(cl[i]);
        }
        /* A node that exits 75 (libraft became unavailable: node.c) is
         * restarted, as stratad's supervisor does; any other exit is a
         * failure the caller must see. */
        for (int i = 0; i < CLUSTER_NODES; i++) {
            int st;
            if (c->pid[i] > 0 && waitpid(c->pid[i], &st, WNOHANG) == c->pid[i]) {
                c->pid[i] = 0;
                fprintf(stderr, "cluster: n%d exited (%s %d) while converging\n", i + 1,
                        WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 75) {
                    return -3;
                }
                if (cluster_start(c, i) != 0) {
                    return -3;
                }
            }
        }
        /* Converged: one leader, and every node has applied the leader's
         * whole log (a node that rebuilds its state holds revision 0 until
         * then, like the others of a cluster that has not elected yet). */
        bool applied_all = leaders == 1;
        for (int i = 0; applied_all && i < CLUSTER_NODES; i++) {
            applied_all = applied[i] == leader_last;
        }
        if (ok == CLUSTER_NODES && applied_all && rev[0] == rev[1] && rev[1] == rev[2]) {
            if (strcmp(hash[0], hash[1]) != 0 || strcmp(hash[1], hash[2]) != 0) {
                fprintf(stderr, "cluster: replicas at revision %llu disagree: %s %s %s\n",
                        (unsigned long long)rev[0], hash[0], hash[1], hash[2]);
                return -2;
            }
            if (revision) {
                *revision = rev[0];
            }
            return 0;
        }
        if (now_ms() + 100 >= end) {
            /* The last look, for the failure message: who was where. */
            for (int i = 0; i < CLUSTER_NODES; i++) {
                print_status(c, i);
            }
        }
        usleep(100 * 1000);
    }
    return -1;
}

/* The number of lines of the nodes' logs holding one of 'needles';
 * 'print' echoes each to stderr. */
static int scan_logs(const struct cluster *c, const char *const *needles, size_t count, bool print)
{
    int found = 0;
    for (int i = 0; i < CLUSTER_NODES; i++) {
        char path[1100], line[1024];
        snprintf(path, sizeof path, "%s/n%d.log", c->dir, i + 1);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            for (size_t k = 0; k < count; k++) {
                if (strstr(line, needles[k])) {
                    if (print) {
                        fprintf(stderr, "n%d.log: %s", i + 1, line);
                    }
                    found++;
                    break;
                }
            }
        }
        if (f) {
            fclose(f);
        }
    }
    return found;
}

int cluster_count_log(const struct cluster *c, const char *text)
{
    return scan_logs(c, &text, 1, false);
}

int cluster_check_logs(const struct cluster *c)
{
    static const char *const bad[] = {"AddressSanitizer", "runtime error:", "LeakSanitizer",
                                      "Assertion", "Segmentation fault"};
    return scan_logs(c, bad, sizeof bad / sizeof bad[0], true);
}

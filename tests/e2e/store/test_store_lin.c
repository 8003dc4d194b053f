/* e2e: linearizability of the store under a nemesis. Inside a private
 * network namespace, three real `stratad store` processes (127.0.0.1-3,
 * each in its own cgroup) serve CLIENTS concurrent clients on one libuv
 * loop, each connected to a random node, issuing linearizable reads, writes
 * of unique values and compare-and-swaps (a txn: value == expected, then
 * put) on KEYS keys, recording invoke and completion times. Alongside, a
 * nemesis kills -9 and restarts a node, pauses one (SIGSTOP / SIGCONT), or
 * cuts one node off from the others with nftables. Writes and CASes refused
 * before entering the raft log (STORE_ENOQUORUM, STORE_EBUSY) did not
 * happen; those answered with another error, a timeout or a lost
 * connection are indeterminate; reads without an answer are dropped. Afterwards the nemesis heals, the cluster must
 * converge (same revision and consistency hash on every replica), every key
 * is read once more, and each key's history must pass the linearizability
 * checker (lin_check.h); a violation prints the offending history.
 * Usage: test_store_lin STRATAD WORKDIR [SECONDS] [SEED]
 * Exit 77 (skip) when the namespace, cgroup v2 or nftables is unavailable. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "store/proto.h"
#include "tests/e2e/store/cluster.h"
#include "tests/e2e/store/lin_check.h"
#include "tests/e2e/store/lin_cluster.h"

#define KEYS 5
#define CLIENTS 10
#define OP_TIMEOUT_MS 1500
#define THINK_MS 15 /* up to this long between a client's ops */
#define SKIP 77

struct hop {
    uint8_t key;
    struct lin_op op;
};

struct client {
    int idx;
    int proc;             /* history process id: new per connection */
    struct store_pconn *pc;
    bool ready;
    long inflight;        /* history index + 1 of the op in flight, 0 idle */
    uint64_t req_id;
    uv_timer_t timer;     /* op timeout, think time, reconnect */
    int64_t known[KEYS];  /* last value this client saw per key */
};

static struct cluster cl;
static struct lin_net net;
static uv_loop_t *loop;
static struct client clients[CLIENTS];
static struct hop *hist;
static size_t hist_len, hist_cap;
static int64_t next_value = 1;
static int next_proc = 1;
static bool stopping;
/* STRATA_LIN_SERIALIZABLE_READS=1 makes the clients' reads serializable
 * (local, possibly stale): a check of the test itself, which must then
 * fail under partitions. */
static bool serializable_reads;
static unsigned long n_ok, n_indet, n_dropped_reads, n_cas_failed, n_refused;
static uv_timer_t nem_timer;
static int nem_fault;     /* 0 none, 1 kill, 2 pause, 3 partition */
static int nem_victim;
static unsigned nem_kills, nem_pauses, nem_partitions;

static const int all_members[] = {1, 2, 3};

static void start_node(int i)
{
    struct lin_node_opts o = {.id = i + 1, .members = all_members, .members_len = 3,
                              .cgroup = net.cg_dir[i + 1]};
    cl.pid[i] = lin_spawn(&cl, &o);
}

static size_t hist_add(void)
{
    if (hist_len == hist_cap) {
        hist_cap = hist_cap ? hist_cap * 2 : 4096;
        hist = realloc(hist, hist_cap * sizeof *hist);
        if (!hist) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    memset(&hist[hist_len], 0, sizeof hist[hist_len]);
    return hist_len++;
}

static void client_connect(struct client *c);
static void client_issue(struct client *c);

static void think_cb(uv_timer_t *t)
{
    client_issue(t->data);
}

static void reconnect_cb(uv_timer_t *t)
{
    client_connect(t->data);
}

/* The op in flight ends without an answer: a write or CAS becomes
 * indeterminate, a read is dropped. */
static void op_unknown(struct client *c)
{
    if (!c->inflight) {
        return;
    }
    struct hop *h = &hist[c->inflight - 1];
    c->inflight = 0;
    if (h->op.kind == LIN_READ) {
        h->key = 0xff; /* dropped */
        n_dropped_reads++;
    } else {
        h->op.complete = LIN_PENDING;
        n_indet++;
    }
}

static void timeout_cb(uv_timer_t *t)
{
    struct client *c = t->data;
    op_unknown(c);
    if (c->pc) {
        store_pconn_close(c->pc); /* on_close reconnects */
    }
}

static void client_issue(struct client *c)
{
    if (stopping || !c->ready || c->inflight) {
        return;
    }
    size_t i = hist_add();
    struct hop *h = &hist[i];
    int key = rand() % KEYS;
    char kname[16], val[32], exp[32];
    struct buf b;
    int rc, r = rand() % 100;
    snprintf(kname, sizeof kname, "lin/%d", key);
    buf_init(&b, 0);
    h->key = (uint8_t)key;
    h->op.process = c->proc;
    if (r < 40) {
        struct store_keysel sel = store_sel_key(kname, (uint32_t)strlen(kname));
        h->op.kind = LIN_READ;
        rc = store_cmd_encode_range(&b, &sel, 0, 0);
    } else if (r < 70 || c->known[key] == LIN_ABSENT) {
        h->op.kind = LIN_WRITE;
        h->op.value = next_value++;
        snprintf(val, sizeof val, "v%lld", (long long)h->op.value);
        rc = store_cmd_encode_put(&b, kname, (uint32_t)strlen(kname), val, (uint32_t)strlen(val), 0);
    } else {
        h->op.kind = LIN_CAS;
        h->op.expected = c->known[key];
        h->op.value = next_value++;
        snprintf(val, sizeof val, "v%lld", (long long)h->op.value);
        snprintf(exp, sizeof exp, "v%lld", (long long)h->op.expected);
        struct store_compare cmp = {.target = STORE_CMP_VALUE, .op = STORE_CMP_EQ,
                                    .key = (const uint8_t *)kname, .key_size = (uint32_t)strlen(kname),
                                    .value = (const uint8_t *)exp, .value_size = (uint32_t)strlen(exp)};
        struct store_op put = {.kind = STORE_OP_PUT,
                               .sel = store_sel_key(kname, (uint32_t)strlen(kname)),
                               .value = (const uint8_t *)val, .value_size = (uint32_t)strlen(val)};
        struct store_cmd cmd = {.kind = STORE_CMD_TXN, .compares = &cmp, .compares_len = 1,
                                .success = &put, .success_len = 1};
        rc = store_cmd_encode(&cmd, &b);
    }
    c->req_id++;
    h->op.invoke = lin_now_ns();
    if (rc == 0) {
        uint8_t flags = h->op.kind == LIN_READ && serializable_reads ? STORE_MSG_F_SERIALIZABLE : 0;
        rc = store_pconn_send(c->pc, STORE_MSG_CMD, flags, c->req_id, 0, b.data, b.size);
    }
    buf_destroy(&b);
    c->inflight = (long)i + 1;
    if (rc != 0) {
        op_unknown(c);
        store_pconn_close(c->pc);
        return;
    }
    uv_timer_start(&c->timer, timeout_cb, OP_TIMEOUT_MS, 0);
}

static int64_t parse_value(const struct store_kv *kv)
{
    char text[40];
    long long v;
    snprintf(text, sizeof text, "%.*s", (int)(kv->value_size < 39 ? kv->value_size : 39),
             (const char *)kv->value);
    return sscanf(text, "v%lld", &v) == 1 ? v : -2;
}

static void c_on_frame(struct store_pconn *pc, const struct store_frame *f)
{
    struct client *c = store_pconn_data(pc);
    if (!c->inflight || f->id != c->req_id) {
        return;
    }
    uint64_t now = lin_now_ns();
    uv_timer_stop(&c->timer);
    struct hop *h = &hist[c->inflight - 1];
    struct store_reply reply;
    bool decoded = false;
    if (f->status == 0 && store_reply_decode(&reply, f->body, f->body_size) == 0) {
        decoded = reply.status == 0;
        if (!decoded) {
            store_reply_destroy(&reply);
        }
    }
    if (!decoded && (f->status == STORE_ENOQUORUM || f->status == STORE_EBUSY)) {
        /* Refused before entering the log (no leader to forward to, raft
         * refused the entry, forwarding queue full): it did not happen, so
         * it leaves the history. Were that wrong, its unique value showing
         * up in a read would fail the check. */
        h->key = 0xff;
        c->inflight = 0;
        n_refused++;
    } else if (!decoded) {
        op_unknown(c);
    } else {
        c->inflight = 0;
        h->op.complete = now;
        if (h->op.kind == LIN_READ) {
            const struct store_op_result *r = reply.results_len ? &reply.results[0] : NULL;
            h->op.value = r && r->kvs_len ? parse_value(&r->kvs[0]) : LIN_ABSENT;
            c->known[h->key] = h->op.value;
        } else if (h->op.kind == LIN_WRITE) {
            c->known[h->key] = h->op.value;
        } else {
            h->op.ok = reply.succeeded != 0;
            if (h->op.ok) {
                c->known[h->key] = h->op.value;
            } else {
                n_cas_failed++;
            }
        }
        n_ok++;
        store_reply_destroy(&reply);
    }
    uv_timer_start(&c->timer, think_cb, (uint64_t)(rand() % (THINK_MS + 1)), 0);
}

static void c_on_ready(struct store_pconn *pc)
{
    struct client *c = store_pconn_data(pc);
    c->ready = true;
    client_issue(c);
}

static void c_on_close(struct store_pconn *pc, int status)
{
    struct client *c = store_pconn_data(pc);
    (void)status;
    c->pc = NULL;
    c->ready = false;
    uv_timer_stop(&c->timer);
    op_unknown(c);
    if (!stopping) {
        uv_timer_start(&c->timer, reconnect_cb, 20, 0);
    }
}

static const struct store_pconn_callbacks c_cbs = {
    .on_frame = c_on_frame,
    .on_ready = c_on_ready,
    .on_close = c_on_close,
};

static void client_connect(struct client *c)
{
    char target[64];
    if (stopping) {
        return;
    }
    c->proc = next_proc++;
    cluster_target(&cl, rand() % CLUSTER_NODES, target, sizeof target);
    if (store_pconn_connect(loop, cl.tls, target, &c_cbs, c, &c->pc) != 0) {
        c->pc = NULL;
        uv_timer_start(&c->timer, reconnect_cb, 50, 0);
    }
}

/* ---- nemesis ---- */

static void nemesis_heal(void)
{
    switch (nem_fault) {
    case 1:
        start_node(nem_victim);
        break;
    case 2:
        kill(cl.pid[nem_victim], SIGCONT);
        break;
    case 3:
        if (lin_net_heal(&net) != 0) {
            fprintf(stderr, "nemesis: nft heal failed\n");
        }
        break;
    default:
        break;
    }
    nem_fault = 0;
}

static void nemesis_cb(uv_timer_t *t)
{
    if (nem_fault) {
        nemesis_heal();
        printf("nemesis: healed\n");
        uv_timer_start(t, nemesis_cb, 700 + (uint64_t)(rand() % 800), 0);
        return;
    }
    nem_victim = rand() % CLUSTER_NODES;
    nem_fault = 1 + rand() % 3;
    const char *what = "";
    switch (nem_fault) {
    case 1:
        cluster_kill(&cl, nem_victim, SIGKILL);
        nem_kills++;
        what = "kill -9";
        break;
    case 2:
        kill(cl.pid[nem_victim], SIGSTOP);
        nem_pauses++;
        what = "SIGSTOP";
        break;
    default: {
        unsigned others = 0xe & ~(2u << nem_victim);
        if (lin_net_partition(&net, 2u << nem_victim, others) != 0) {
            fprintf(stderr, "nemesis: nft partition failed\n");
        }
        nem_partitions++;
        what = "partition";
        break;
    }
    }
    printf("nemesis: %s n%d (ops ok=%lu indeterminate=%lu)\n", what, nem_victim + 1, n_ok, n_indet);
    uv_timer_start(t, nemesis_cb, 1000 + (uint64_t)(rand() % 2000), 0);
}

static void stop_cb(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void run_for(unsigned ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, stop_cb, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* Waits until node 'id' is a follower of a leader other than itself. */
static int wait_leader_not(int id, unsigned wait_ms, int *leader)
{
    uint64_t end = lin_now_ms() + wait_ms;
    while (lin_now_ms() < end) {
        for (int k = 1; k <= CLUSTER_NODES; k++) {
            json_t *st = NULL;
            if (k == id || lin_status(&cl, k, 300, &st) != 0) {
                continue;
            }
            const char *state = json_string_value(json_object_get(st, "state"));
            bool lead = state && strcmp(state, "leader") == 0;
            json_decref(st);
            if (lead) {
                *leader = k;
                return 0;
            }
        }
        usleep(100 * 1000);
    }
    return -1;
}

/* Proves the partition mechanism works here: cut the leader off and wait
 * for the other two to elect a new one. */
static int partition_self_test(void)
{
    int leader = 0, next = 0;
    if (wait_leader_not(0, 10000, &leader) != 0) {
        fprintf(stderr, "self-test: no leader\n");
        return -1;
    }
    if (lin_net_partition(&net, 1u << leader, 0xe & ~(1u << leader)) != 0) {
        fprintf(stderr, "self-test: nft failed\n");
        return -1;
    }
    int rc = wait_leader_not(leader, 15000, &next);
    if (lin_net_heal(&net) != 0) {
        rc = -1;
    }
    if (rc != 0) {
        fprintf(stderr, "self-test: isolating leader n%d did not make the others elect a new one:"
                        " nftables cgroup partitions are not effective here\n", leader);
        return -1;
    }
    printf("self-test: isolated leader n%d; n%d took over\n", leader, next);
    return 0;
}

/* Reads every key once more after healing, as a final completed read. */
/* One linearizable read of every key after the run, so each history ends
 * with an observation. A read refused while leadership settles after the
 * last heal (ENOTLEADER, ENOQUORUM, ETIMEOUT) is dropped, as reads with no
 * answer are, and retried: reads have no effect, so a retry is always
 * correct. Bounded: 50 tries per key. */
static int final_reads(void)
{
    struct store_client *c;
    if (cluster_client(&cl, rand() % CLUSTER_NODES, 5000, &c) != 0) {
        return -1;
    }
    int rc = 0;
    for (int k = 0; k < KEYS && rc == 0; k++) {
        char kname[16];
        snprintf(kname, sizeof kname, "lin/%d", k);
        struct store_keysel sel = store_sel_key(kname, (uint32_t)strlen(kname));
        for (int attempt = 0; attempt < 50; attempt++) {
            struct buf cmd, raw;
            struct store_reply reply;
            buf_init(&cmd, 0);
            buf_init(&raw, 0);
            size_t i = hist_add();
            hist[i].key = (uint8_t)k;
            hist[i].op.kind = LIN_READ;
            hist[i].op.process = 0;
            hist[i].op.invoke = lin_now_ns();
            rc = store_cmd_encode_range(&cmd, &sel, 0, 0);
            if (rc == 0) {
                rc = store_client_cmd(c, &cmd, false, &raw, &reply);
            }
            if (rc == 0) {
                hist[i].op.complete = lin_now_ns();
                const struct store_op_result *r = reply.results_len ? &reply.results[0] : NULL;
                hist[i].op.value = r && r->kvs_len ? parse_value(&r->kvs[0]) : LIN_ABSENT;
                store_reply_destroy(&reply);
            } else {
                hist[i].key = 0xff; /* no answer: not part of the history */
            }
            buf_destroy(&cmd);
            buf_destroy(&raw);
            if (rc != STORE_ENOTLEADER && rc != STORE_ENOQUORUM && rc != STORE_ETIMEOUT) {
                break;
            }
            usleep(100 * 1000);
        }
        if (rc != 0) {
            fprintf(stderr, "final read of %s: %s\n", kname, strata_strerror(rc));
        }
    }
    store_client_close(c);
    return rc;
}

static int check_histories(const char *dir, unsigned long *checked)
{
    int errors = 0;
    struct lin_op *ops = malloc((hist_len + 1) * sizeof *ops);
    for (int k = 0; k < KEYS; k++) {
        size_t n = 0, pending = 0;
        for (size_t i = 0; i < hist_len; i++) {
            if (hist[i].key == k) {
                ops[n++] = hist[i].op;
                pending += hist[i].op.complete == LIN_PENDING;
            }
        }
        struct lin_result res;
        uint64_t t0 = lin_now_ms();
        int rc = lin_check(ops, n, LIN_ABSENT, 0, &res);
        *checked += n;
        printf("key lin/%d: %zu ops (%zu indeterminate, %zu of them unobserved), %zu states, %llu ms: %s\n",
               k, n, pending, res.dropped, res.states, (unsigned long long)(lin_now_ms() - t0),
               rc == 0 ? "linearizable" : strata_strerror(rc));
        if (rc != 0) {
            errors++;
            char path[1200];
            snprintf(path, sizeof path, "%s/history-lin-%d.txt", dir, k);
            FILE *f = fopen(path, "w");
            if (f) {
                lin_print(f, ops, n, res.stuck_op);
                fclose(f);
            }
            if (rc == LIN_EVIOLATION) {
                fprintf(stderr, "key lin/%d: longest linearizable prefix %zu ops; op %zu could not be"
                                " placed. Full history in %s; the ops around it:\n",
                        k, res.longest, res.stuck_op, path);
                /* the 60 ops invoked nearest the stuck one */
                uint64_t at = res.stuck_op < n ? ops[res.stuck_op].invoke : 0;
                size_t m = 0;
                struct lin_op *win = malloc(n * sizeof *win);
                size_t mark = SIZE_MAX;
                for (size_t i = 0; i < n; i++) {
                    uint64_t d = ops[i].invoke > at ? ops[i].invoke - at : at - ops[i].invoke;
                    if (d < 300000000u || ops[i].complete == LIN_PENDING) {
                        if (i == res.stuck_op) {
                            mark = m;
                        }
                        win[m++] = ops[i];
                    }
                }
                lin_print(stderr, win, m, mark);
                free(win);
            }
        }
    }
    free(ops);
    return errors;
}

int main(int argc, char **argv)
{
    char why[512];
    if (argc < 3) {
        fprintf(stderr, "usage: test_store_lin STRATAD WORKDIR [SECONDS] [SEED]\n");
        return 2;
    }
    unsigned seconds = argc > 3 ? (unsigned)atoi(argv[3]) : 30;
    unsigned seed = argc > 4 ? (unsigned)atoi(argv[4]) : (unsigned)time(NULL);
    srand(seed);
    serializable_reads = getenv("STRATA_LIN_SERIALIZABLE_READS") != NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("test_store_lin: seconds=%u seed=%u\n", seconds, seed);
    if (argv[2][0] == '\0' || strcmp(argv[2], "/") == 0) {
        return 2;
    }
    pid_t rm = fork();
    if (rm == 0) {
        execlp("rm", "rm", "-rf", argv[2], (char *)NULL); /* a fresh cluster each run */
        _exit(127);
    }
    waitpid(rm, NULL, 0);
    if (lin_netns_enter(why, sizeof why) != 0) {
        printf("SKIP: %s\n", why);
        return SKIP;
    }
    uint16_t port = 7600;
    if (lin_net_init(&net, CLUSTER_NODES, port, why, sizeof why) != 0) {
        printf("SKIP: %s\n", why);
        return SKIP;
    }
    signal(SIGPIPE, SIG_IGN);
    wolfSSL_Init();
    int errors = 0;
    if (cluster_init(&cl, argv[1], argv[2], port) != 0) {
        lin_net_destroy(&net);
        return 1;
    }
    for (int i = 0; i < CLUSTER_NODES; i++) {
        start_node(i);
    }
    if (cluster_converge(&cl, 20000, NULL) != 0) {
        fprintf(stderr, "cluster did not form\n");
        errors++;
        goto out;
    }
    if (partition_self_test() != 0) {
        errors++;
        goto out;
    }
    loop = uv_default_loop();
    for (int i = 0; i < CLIENTS; i++) {
        clients[i].idx = i;
        for (int k = 0; k < KEYS; k++) {
            clients[i].known[k] = LIN_ABSENT;
        }
        uv_timer_init(loop, &clients[i].timer);
        clients[i].timer.data = &clients[i];
        client_connect(&clients[i]);
    }
    uv_timer_init(loop, &nem_timer);
    uv_timer_start(&nem_timer, nemesis_cb, 1000, 0);
    run_for(seconds * 1000);
    uv_timer_stop(&nem_timer);
    uv_close((uv_handle_t *)&nem_timer, NULL);
    if (nem_fault) {
        nemesis_heal();
    }
    run_for(2000); /* the clients keep going against the healed cluster */
    stopping = true;
    for (int i = 0; i < CLIENTS; i++) {
        if (clients[i].pc) {
            store_pconn_close(clients[i].pc);
        }
        uv_timer_stop(&clients[i].timer);
        uv_close((uv_handle_t *)&clients[i].timer, NULL);
    }
    uv_run(loop, UV_RUN_DEFAULT);

    uint64_t rev = 0;
    int rc = cluster_converge(&cl, 30000, &rev);
    if (rc != 0) {
        fprintf(stderr, "replicas did not converge (%s)\n", rc == -2 ? "hash mismatch" : rc == -3 ? "a node exited" : "timeout");
        errors++;
    } else {
        printf("converged at revision %llu, consistency hashes agree\n", (unsigned long long)rev);
    }
    if (final_reads() != 0) {
        errors++;
    }
    unsigned long checked = 0;
    errors += check_histories(argv[2], &checked);
    printf("ops checked=%lu (completed %lu, indeterminate %lu, CAS failed %lu); refused %lu,"
           " reads dropped %lu; nemesis: kills=%u pauses=%u partitions=%u\n",
           checked, n_ok, n_indet, n_cas_failed, n_refused, n_dropped_reads, nem_kills, nem_pauses,
           nem_partitions);
    if (n_ok < 100 || nem_kills + nem_pauses + nem_partitions == 0) {
        fprintf(stderr, "too little happened for the check to mean anything\n");
        errors++;
    }
    uv_loop_close(loop);
out:
    for (int i = 0; i < CLUSTER_NODES; i++) {
        if (cl.pid[i] > 0) {
            kill(cl.pid[i], SIGCONT);
        }
    }
    cluster_destroy(&cl);
    lin_net_destroy(&net);
    free(hist);
    wolfSSL_Cleanup();
    printf("%s: %d errors (seed %u)\n", errors ? "FAIL" : "PASS", errors, seed);
    return errors ? 1 : 0;
}

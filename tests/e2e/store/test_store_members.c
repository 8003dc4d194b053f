/* e2e: membership, leadership and watches on three real nodes started with
 * a small --retention.
 *   1. A watch from revision R on the leader, while leadership moves to a
 *      chosen node (STORE_MSG_TRANSFER): the chosen node leads, and the
 *      watch delivers every revision after R exactly once, in order, across
 *      the change.
 *   2. Remove a follower, wipe its data, start it empty with --join and add
 *      it back: it catches up (the test reports whether by snapshot or
 *      through the log) and the replicas agree.
 *   3. Replace n3 by a new n4 on 127.0.0.4 with a certificate issued later
 *      by `stratad init` (which keeps the CA): n4 catches up, n3 leaves,
 *      status lists members {1, 2, 4} with their lag, replicas agree.
 *   4. A watch from a compacted revision gets STORE_ECOMPACTED and the
 *      compacted revision.
 * Every wait is a bounded poll for a condition.
 * Usage: test_store_members STRATAD WORKDIR */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "store/proto.h"
#include "tests/e2e/store/cluster.h"
#include "tests/e2e/store/lin_cluster.h"

#define RETENTION "100"
#define WAIT_MS 20000

static struct cluster cl;
static pid_t pid4;
static int errors;

#define FAIL(...)                              \
    do {                                       \
        fprintf(stderr, "FAIL: " __VA_ARGS__); \
        fputc('\n', stderr);                   \
        errors++;                              \
    } while (0)

/* Small raft snapshots (every 64 entries, 16 kept) so that a member
 * rejoining empty must be caught up by InstallSnapshot. */
static const char *const extra[] = {"--retention", RETENTION, "--snapshot-threshold", "64",
                                    "--snapshot-trailing", "16"};

static pid_t start(int id, const int *members, int members_len, bool join)
{
    struct lin_node_opts o = {.id = id, .members = members, .members_len = members_len,
                              .join = join, .extra = extra, .extra_len = 6};
    return lin_spawn(&cl, &o);
}

/* ---- status helpers ---- */

struct nstat {
    bool ok;
    char state[16];
    int leader_id;
    uint64_t revision;
    char hash[80];
};

static struct nstat nstat(int id, unsigned wait_ms)
{
    struct nstat s = {0};
    json_t *st = NULL;
    if (lin_status(&cl, id, wait_ms, &st) != 0) {
        return s;
    }
    json_t *store = json_object_get(st, "store");
    s.ok = true;
    snprintf(s.state, sizeof s.state, "%s", json_string_value(json_object_get(st, "state")) ?: "?");
    s.leader_id = (int)json_integer_value(json_object_get(st, "leader_id"));
    s.revision = (uint64_t)json_integer_value(json_object_get(store, "revision"));
    snprintf(s.hash, sizeof s.hash, "%s", json_string_value(json_object_get(store, "hash")) ?: "");
    json_decref(st);
    return s;
}

/* Waits for one leader among 'ids' that all of them follow, with equal
 * revisions and hashes. Returns the leader id or -1. */
static int converge(const int *ids, int len, unsigned wait_ms, uint64_t *rev)
{
    uint64_t end = lin_now_ms() + wait_ms;
    while (lin_now_ms() < end) {
        struct nstat s[LIN_NODES_MAX];
        int leader = -1, ok = 1;
        for (int i = 0; i < len; i++) {
            s[i] = nstat(ids[i], 500);
            if (!s[i].ok || s[i].leader_id != s[0].leader_id || s[i].revision != s[0].revision) {
                ok = 0;
            }
            if (s[i].ok && strcmp(s[i].state, "leader") == 0) {
                leader = ids[i];
            }
        }
        if (ok && leader > 0 && s[0].leader_id == leader) {
            for (int i = 1; i < len; i++) {
                if (strcmp(s[i].hash, s[0].hash) != 0) {
                    FAIL("replicas at revision %llu disagree: n%d %s, n%d %s",
                         (unsigned long long)s[0].revision, ids[0], s[0].hash, ids[i], s[i].hash);
                    return -1;
                }
            }
            if (rev) {
                *rev = s[0].revision;
            }
            return leader;
        }
        usleep(100 * 1000);
    }
    return -1;
}

static int call(int id, uint8_t type, const void *body, size_t size)
{
    struct store_client *c;
    char target[64];
    int status = 0;
    snprintf(target, sizeof target, "n%d@127.0.0.%d:%u", id, id, cl.port + 1);
    int rc = store_client_open(target, cl.tls, 10000, &c);
    if (rc != 0) {
        return rc;
    }
    struct buf reply;
    buf_init(&reply, 0);
    rc = store_client_call(c, type, 0, body, size, &status, &reply);
    buf_destroy(&reply);
    store_client_close(c);
    return rc ? rc : status;
}

static int put_key(int via, const char *key)
{
    struct store_client *c;
    char target[64];
    struct buf cmd, raw;
    struct store_reply reply;
    snprintf(target, sizeof target, "n%d@127.0.0.%d:%u", via, via, cl.port + 1);
    int rc = store_client_open(target, cl.tls, 5000, &c);
    if (rc != 0) {
        return rc;
    }
    buf_init(&cmd, 0);
    buf_init(&raw, 0);
    rc = store_cmd_encode_put(&cmd, key, (uint32_t)strlen(key), "x", 1, 0);
    if (rc == 0) {
        rc = store_client_cmd(c, &cmd, false, &raw, &reply);
        if (rc == 0) {
            store_reply_destroy(&reply);
        }
    }
    buf_destroy(&cmd);
    buf_destroy(&raw);
    store_client_close(c);
    return rc;
}

static int member_add(int via, int id)
{
    char addr[64];
    uint8_t body[80];
    int n = snprintf(addr, sizeof addr, "n%d@127.0.0.%d:%u", id, id, cl.port);
    be64_store(body, (uint64_t)id);
    be16_store(body + 8, (uint16_t)n);
    memcpy(body + 10, addr, (size_t)n);
    return call(via, STORE_MSG_MEMBER_ADD, body, 10 + (size_t)n);
}

static int member_remove(int via, int id)
{
    uint8_t body[8];
    be64_store(body, (uint64_t)id);
    return call(via, STORE_MSG_MEMBER_REMOVE, body, sizeof body);
}

static int transfer(int via, int id)
{
    uint8_t body[8];
    be64_store(body, (uint64_t)id);
    return call(via, STORE_MSG_TRANSFER, body, sizeof body);
}

/* Members in the leader's status: ids as a bitmask; prints them. */
static unsigned members_of(int leader, bool print)
{
    json_t *st = NULL;
    unsigned mask = 0;
    if (lin_status(&cl, leader, 5000, &st) != 0) {
        return 0;
    }
    json_t *ms = json_object_get(st, "members");
    for (size_t i = 0; i < json_array_size(ms); i++) {
        json_t *m = json_array_get(ms, i);
        int id = (int)json_integer_value(json_object_get(m, "id"));
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && strcmp(role, "voter") == 0 && id > 0 && id < 32) {
            mask |= 1u << id;
        }
        if (print) {
            printf("  member %d %s %s lag %lld\n", id,
                   json_string_value(json_object_get(m, "address")) ?: "?", role ?: "?",
                   json_object_get(m, "lag") ? (long long)json_integer_value(json_object_get(m, "lag")) : -1LL);
            if (!json_object_get(m, "lag")) {
                FAIL("leader's status has no lag for member %d", id);
            }
        }
    }
    json_decref(st);
    return mask;
}

static int wait_members(int *leader, const int *ids, int len, unsigned want)
{
    uint64_t end = lin_now_ms() + WAIT_MS;
    while (lin_now_ms() < end) {
        uint64_t rev;
        int l = converge(ids, len, 2000, &rev);
        if (l > 0 && members_of(l, false) == want) {
            *leader = l;
            return 0;
        }
        usleep(100 * 1000);
    }
    return -1;
}

/* ---- 1. a watch across a leadership transfer ---- */

struct watch_state {
    uint64_t from, next_rev;
    unsigned events, dups_or_gaps;
    int closed, status;
    bool compacted_seen;
};

static void w_on_frame(struct store_pconn *pc, const struct store_frame *f)
{
    struct watch_state *w = store_pconn_data(pc);
    if (f->type != STORE_MSG_EVENTS) {
        w->status = f->status ? f->status : -1; /* a watch only answers to end it */
        return;
    }
    struct cursor cur;
    uint32_t n;
    cursor_init(&cur, f->body, f->body_size);
    if (buf_get_u32(&cur, &n) != 0) {
        w->status = STORE_EFORMAT;
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t rev, create, mod, version;
        uint32_t sub, ks, vs;
        uint8_t type;
        const uint8_t *k, *v;
        if (buf_get_u64(&cur, &rev) || buf_get_u32(&cur, &sub) || buf_get_u8(&cur, &type) ||
            buf_get_u32(&cur, &ks) || buf_get_view(&cur, ks, &k) || buf_get_u32(&cur, &vs) ||
            buf_get_view(&cur, vs, &v) || buf_get_u64(&cur, &create) || buf_get_u64(&cur, &mod) ||
            buf_get_u64(&cur, &version)) {
            w->status = STORE_EFORMAT;
            return;
        }
        if (rev != w->next_rev || sub != 0) {
            fprintf(stderr, "watch: expected revision %llu, got %llu.%u\n",
                    (unsigned long long)w->next_rev, (unsigned long long)rev, sub);
            w->dups_or_gaps++;
        }
        w->next_rev = rev + 1;
        w->events++;
    }
}

static void w_on_ready(struct store_pconn *pc)
{
    struct watch_state *w = store_pconn_data(pc);
    uint8_t body[8 + 1 + 4 + 2];
    be64_store(body, w->from);
    body[8] = STORE_SEL_PREFIX;
    be32_store(body + 9, 2);
    memcpy(body + 13, "w/", 2);
    if (store_pconn_send(pc, STORE_MSG_WATCH, 0, 1, 0, body, sizeof body) != 0) {
        w->status = -1;
    }
}

static void w_on_close(struct store_pconn *pc, int status)
{
    struct watch_state *w = store_pconn_data(pc);
    w->closed = 1;
    (void)status;
}

static const struct store_pconn_callbacks w_cbs = {
    .on_frame = w_on_frame, .on_ready = w_on_ready, .on_close = w_on_close};

static void pump(uv_loop_t *loop, unsigned ms)
{
    uint64_t end = lin_now_ms() + ms;
    while (lin_now_ms() < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
}

static void test_transfer_and_watch(const int *ids)
{
    uint64_t rev;
    int leader = converge(ids, 3, WAIT_MS, &rev);
    if (leader < 0) {
        FAIL("no leader before the transfer");
        return;
    }
    int target = leader % 3 + 1;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct watch_state w = {.from = rev + 1, .next_rev = rev + 1};
    struct store_pconn *pc;
    char t[64];
    snprintf(t, sizeof t, "n%d@127.0.0.%d:%u", leader, leader, cl.port + 1);
    if (store_pconn_connect(&loop, cl.tls, t, &w_cbs, &w, &pc) != 0) {
        FAIL("watch connect");
        uv_loop_close(&loop);
        return;
    }
    pump(&loop, 300);
    int written = 0, unknown = 0;
    char key[32];
    for (int i = 0; i < 40; i++, written++) {
        snprintf(key, sizeof key, "w/%03d", i);
        if (put_key(target, key) != 0) {
            unknown++;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    int rc = transfer(target, target);
    uint64_t end = lin_now_ms() + WAIT_MS;
    struct nstat s = {0};
    while (lin_now_ms() < end) {
        s = nstat(target, 500);
        if (s.ok && strcmp(s.state, "leader") == 0) {
            break;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(50 * 1000);
    }
    if (rc != 0 || strcmp(s.state, "leader") != 0) {
        FAIL("transfer to n%d: %s, its state %s", target, strata_strerror(rc), s.state);
    } else {
        printf("transfer: leadership moved from n%d to n%d\n", leader, target);
    }
    for (int i = 40; i < 80; i++, written++) {
        snprintf(key, sizeof key, "w/%03d", i);
        if (put_key(leader, key) != 0) {
            unknown++;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    uint64_t final_rev;
    if (converge(ids, 3, WAIT_MS, &final_rev) < 0) {
        FAIL("no convergence after the transfer");
    }
    end = lin_now_ms() + WAIT_MS;
    while (lin_now_ms() < end && w.next_rev <= final_rev && !w.closed && !w.status) {
        pump(&loop, 50);
    }
    if (w.status || w.closed) {
        FAIL("watch ended: %s", strata_strerror(w.status));
    }
    if (w.dups_or_gaps || w.next_rev != final_rev + 1 || w.events != final_rev - rev) {
        FAIL("watch from %llu on n%d: %u events up to %llu, %u out of order; want revisions %llu..%llu",
             (unsigned long long)w.from, leader, w.events, (unsigned long long)w.next_rev - 1,
             w.dups_or_gaps, (unsigned long long)rev + 1, (unsigned long long)final_rev);
    } else {
        printf("watch on n%d from revision %llu: %u events, every revision once and in order across"
               " the leader change (%d writes, %d unanswered)\n",
               leader, (unsigned long long)w.from, w.events, written, unknown);
    }
    store_pconn_close(pc);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        FAIL("watch loop did not close");
    }
}

/* ---- 2. remove, wipe, re-add ---- */

static bool log_has(int id, const char *text)
{
    char path[1200], line[2048];
    bool found = false;
    snprintf(path, sizeof path, "%s/n%d.log", cl.dir, id);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        found = found || strstr(line, text) != NULL;
    }
    if (f) {
        fclose(f);
    }
    return found;
}

static void test_remove_readd(const int *ids)
{
    static const int all[] = {1, 2, 3};
    uint64_t rev;
    int leader = converge(ids, 3, WAIT_MS, &rev);
    if (leader < 0) {
        FAIL("no leader before removing");
        return;
    }
    int victim = leader % 3 + 1;
    int rc = member_remove(leader, victim);
    if (rc != 0) {
        FAIL("removing n%d: %s", victim, strata_strerror(rc));
        return;
    }
    int rest[2], k = 0;
    for (int i = 1; i <= 3; i++) {
        if (i != victim) {
            rest[k++] = i;
        }
    }
    if (wait_members(&leader, rest, 2, 0xe & ~(1u << victim)) != 0) {
        FAIL("n%d still a member after its removal", victim);
        return;
    }
    printf("removed n%d; members now:\n", victim);
    members_of(leader, true);
    cluster_kill(&cl, victim - 1, SIGKILL);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/n%d'", cl.dir, victim);
    if (system(cmd) != 0) {
        FAIL("wiping n%d", victim);
    }
    for (int i = 0; i < 50; i++) {
        char key[32];
        snprintf(key, sizeof key, "r/%03d", i);
        if (put_key(leader, key) != 0) {
            FAIL("write while n%d is out", victim);
            break;
        }
    }
    cl.pid[victim - 1] = start(victim, all, 3, true);
    rc = member_add(leader, victim);
    if (rc != 0) {
        FAIL("adding n%d back: %s", victim, strata_strerror(rc));
        return;
    }
    if (wait_members(&leader, ids, 3, 0xe) != 0) {
        FAIL("n%d did not rejoin and catch up", victim);
        return;
    }
    bool by_snapshot = log_has(victim, "snapshot restored");
    printf("n%d rejoined empty and caught up %s\n", victim,
           by_snapshot ? "by snapshot" : "through the log");
    if (!by_snapshot) {
        FAIL("n%d caught up without a snapshot although the log was compacted", victim);
    }
}

/* ---- 3. replace n3 by n4 ---- */

static void test_replace(void)
{
    static const int old_ids[] = {1, 2, 3}, new_ids[] = {1, 2, 4}, seeds[] = {1, 2, 3, 4};
    uint64_t rev;
    int leader = converge(old_ids, 3, WAIT_MS, &rev);
    if (leader == 3) {
        if (transfer(3, 1) != 0) {
            FAIL("moving leadership off n3");
        }
        leader = -1;
        uint64_t end = lin_now_ms() + WAIT_MS;
        while (leader != 1 && leader != 2 && lin_now_ms() < end) {
            leader = converge(old_ids, 3, 2000, &rev);
        }
    }
    if (leader < 0) {
        FAIL("no leader before the replacement");
        return;
    }
    char pki[1100];
    snprintf(pki, sizeof pki, "%s/pki", cl.dir);
    pid_t p = fork();
    if (p == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(cl.stratad, cl.stratad, "init", "--pki", pki, "--node", "n4=127.0.0.4", (char *)NULL);
        _exit(127);
    }
    int st = -1;
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        FAIL("stratad init could not issue n4's certificate");
        return;
    }
    pid4 = start(4, seeds, 4, true);
    int rc = member_add(leader, 4);
    if (rc != 0) {
        FAIL("adding n4: %s", strata_strerror(rc));
        return;
    }
    rc = member_remove(leader, 3);
    if (rc != 0) {
        FAIL("removing n3: %s", strata_strerror(rc));
        return;
    }
    cluster_kill(&cl, 2, SIGTERM);
    if (wait_members(&leader, new_ids, 3, (1u << 1) | (1u << 2) | (1u << 4)) != 0) {
        FAIL("n4 did not replace n3");
        return;
    }
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof key, "n4/%03d", i);
        if (put_key(4, key) != 0) {
            FAIL("write through n4");
            break;
        }
    }
    if (converge(new_ids, 3, WAIT_MS, &rev) < 0) {
        FAIL("n1, n2, n4 did not converge");
        return;
    }
    leader = converge(new_ids, 3, WAIT_MS, &rev);
    printf("replaced n3 by n4: n1, n2, n4 agree at revision %llu; leader n%d's status:\n",
           (unsigned long long)rev, leader);
    members_of(leader, true);
}

/* ---- 4. compacted watch ---- */

static int count_event(void *arg, const struct store_event *ev)
{
    (void)ev;
    (*(unsigned *)arg)++;
    return 0;
}

static void test_compacted_watch(int via)
{
    for (int i = 0; i < 300; i++) {
        char key[32];
        snprintf(key, sizeof key, "c/%03d", i);
        if (put_key(via, key) != 0) {
            FAIL("write for compaction");
            return;
        }
    }
    struct store_client *c;
    char target[64];
    snprintf(target, sizeof target, "n%d@127.0.0.%d:%u", via, via, cl.port + 1);
    if (store_client_open(target, cl.tls, 5000, &c) != 0) {
        FAIL("cannot reach n%d", via);
        return;
    }
    struct store_keysel sel = store_sel_prefix("", 0);
    uint64_t compacted = 0;
    unsigned events = 0;
    int rc = store_client_watch(c, 1, &sel, 2000, count_event, &events, &compacted);
    store_client_close(c);
    if (rc != STORE_ECOMPACTED || compacted < 2) {
        FAIL("watch from revision 1 after 300+ writes with retention %s: %s, compacted %llu, %u events",
             RETENTION, strata_strerror(rc), (unsigned long long)compacted, events);
    } else {
        printf("watch from revision 1: %s (history compacted up to %llu)\n", strata_strerror(rc),
               (unsigned long long)compacted);
    }
}

int main(int argc, char **argv)
{
    char why[512];
    if (argc < 3 || argv[2][0] == '\0' || strcmp(argv[2], "/") == 0) {
        fprintf(stderr, "usage: test_store_members STRATAD WORKDIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    uint16_t port = 7900;
    if (lin_netns_enter(why, sizeof why) != 0) {
        printf("(no private network namespace: %s; using the host's loopback)\n", why);
        port = (uint16_t)(7900 + (getpid() % 50) * 4);
    }
    pid_t rm = fork();
    if (rm == 0) {
        execlp("rm", "rm", "-rf", argv[2], (char *)NULL);
        _exit(127);
    }
    waitpid(rm, NULL, 0);
    signal(SIGPIPE, SIG_IGN);
    wolfSSL_Init();
    if (cluster_init(&cl, argv[1], argv[2], port) != 0) {
        return 1;
    }
    static const int ids[] = {1, 2, 3};
    for (int i = 0; i < CLUSTER_NODES; i++) {
        cl.pid[i] = start(i + 1, ids, 3, false);
    }
    if (converge(ids, 3, WAIT_MS, NULL) < 0) {
        FAIL("cluster did not form");
        goto out;
    }
    test_transfer_and_watch(ids);
    test_remove_readd(ids);
    test_replace();
    test_compacted_watch(4);
out:
    if (pid4 > 0) {
        kill(pid4, SIGKILL);
        waitpid(pid4, NULL, 0);
    }
    cluster_destroy(&cl);
    wolfSSL_Cleanup();
    printf("%s: %d errors\n", errors ? "FAIL" : "PASS", errors);
    return errors ? 1 : 0;
}

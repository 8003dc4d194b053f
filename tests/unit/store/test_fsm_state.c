/* Unit tests for the store FSM's whole-state behaviour: history across many
 * batches, compaction (retention and command), a full map and its recovery,
 * the space gate, snapshot/restore, hash determinism across replicas, and
 * a read-only handle in another process while the writer keeps writing. */
#include <lmdb.h>
#include <pthread.h>
#include <sys/wait.h>

#include "fsm_fixture.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

/* Rewrites a snapshot's trailing checksum after the test changed its body. */
static void reseal(struct buf *s)
{
    wc_Sha256 sha;
    assert_int_equal(wc_InitSha256(&sha), 0);
    assert_int_equal(wc_Sha256Update(&sha, s->data, (word32)(s->size - STORE_HASH_SIZE)), 0);
    assert_int_equal(wc_Sha256Final(&sha, s->data + s->size - STORE_HASH_SIZE), 0);
    wc_Sha256Free(&sha);
}

/* A deterministic pseudo-random command stream (xorshift, fixed seed). */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void gen_cmd(uint64_t *seed, struct buf *out)
{
    char key[16], val[32];
    uint64_t r = rng_next(seed);
    snprintf(key, sizeof key, "k%02u", (unsigned)(r % 40));
    snprintf(val, sizeof val, "v%llu", (unsigned long long)(r >> 20));
    buf_reset(out);
    if (r % 10 < 7) {
        assert_int_equal(store_cmd_encode_put(out, key, (uint32_t)strlen(key), val, (uint32_t)strlen(val), 0), 0);
    } else if (r % 10 < 9) {
        struct store_keysel sel = store_sel_key(key, (uint32_t)strlen(key));
        assert_int_equal(store_cmd_encode_delete(out, &sel, 0), 0);
    } else {
        struct store_keysel sel = store_sel_prefix(key, 2); /* "k0".."k3" */
        assert_int_equal(store_cmd_encode_delete(out, &sel, 0), 0);
    }
}

/* Applies 'n' generated commands from 'seed' in batches of 'batch'. */
static void feed(struct store_fsm *fsm, uint64_t seed, size_t n, size_t batch, uint64_t *index)
{
    struct buf cmds[16];
    struct store_entry e[16];
    struct store_result r[16];
    assert_true(batch <= 16);
    for (size_t i = 0; i < 16; i++) {
        buf_init(&cmds[i], 0);
        buf_init(&r[i].reply, 0);
    }
    for (size_t done = 0; done < n;) {
        size_t k = n - done < batch ? n - done : batch;
        for (size_t i = 0; i < k; i++) {
            gen_cmd(&seed, &cmds[i]);
            e[i] = (struct store_entry){.index = ++*index, .data = cmds[i].data, .size = cmds[i].size};
        }
        assert_int_equal(store_fsm_apply_batch(fsm, e, k, r), 0);
        for (size_t i = 0; i < k; i++) {
            assert_int_equal(r[i].status, 0);
        }
        done += k;
    }
    for (size_t i = 0; i < 16; i++) {
        buf_destroy(&cmds[i]);
        buf_destroy(&r[i].reply);
    }
}

struct hist_check {
    uint64_t last_rev;
    uint32_t last_sub;
    size_t events;
    size_t revisions;
};

static int hist_check_cb(void *arg, const struct store_event *ev)
{
    struct hist_check *h = arg;
    if (h->events == 0 || ev->revision != h->last_rev) {
        /* A new revision: exactly the next one, starting at sub 0. */
        if (h->events) {
            assert_true(ev->revision == h->last_rev + 1);
        }
        assert_int_equal(ev->sub, 0);
        h->revisions++;
    } else {
        assert_int_equal(ev->sub, h->last_sub + 1);
    }
    h->last_rev = ev->revision;
    h->last_sub = ev->sub;
    h->events++;
    return 0;
}

static void test_history_across_batches(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    feed(f.fsm, 42, 500, 7, &f.index);
    uint64_t rev = fx_revision(&f);
    assert_true(rev > 300);
    struct hist_check h = {0};
    uint64_t next;
    assert_int_equal(store_fsm_history(f.fsm, 1, NULL, 0, hist_check_cb, &h, &next), 0);
    assert_true(h.revisions == rev && h.last_rev == rev && next == rev + 1);
    /* Paging with a limit resumes without gaps or duplicates. */
    struct hist_check p = {0};
    uint64_t from = 1;
    int pages = 0;
    while (from <= rev) {
        size_t before = p.events;
        assert_int_equal(store_fsm_history(f.fsm, from, NULL, 10, hist_check_cb, &p, &next), 0);
        assert_true(p.events - before >= 10 || next == rev + 1);
        assert_true(next > from);
        from = next;
        pages++;
    }
    assert_true(pages > 10);
    assert_true(p.events == h.events && p.last_rev == rev);
    /* Past the head: nothing yet, resume where asked. */
    struct hist_check none = {0};
    assert_int_equal(store_fsm_history(f.fsm, rev + 5, NULL, 0, hist_check_cb, &none, &next), 0);
    assert_true(none.events == 0 && next == rev + 5);
    fx_destroy(&f);
}

static void test_compaction(void **state)
{
    struct store_fsm_config cfg = {.no_sync = true, .retention = 20, .retention_slack = 5};
    struct fx f;
    fx_init(&f, &cfg);
    for (int i = 0; i < 25; i++) {
        assert_int_equal(fx_put(&f, "a", "x"), 0);
    }
    struct store_fsm_status st;
    assert_int_equal(store_fsm_status(f.fsm, &st), 0);
    assert_true(st.revision == 25 && st.compacted_revision == 0); /* 25 - 0 <= 20 + 5 */
    assert_int_equal(fx_put(&f, "a", "x"), 0);                   /* 26 - 0 > 25 */
    assert_int_equal(store_fsm_status(f.fsm, &st), 0);
    assert_true(st.compacted_revision == 6);
    struct hist_check h = {0};
    assert_int_equal(store_fsm_history(f.fsm, 6, NULL, 0, hist_check_cb, &h, NULL), STORE_ECOMPACTED);
    assert_int_equal(store_fsm_history(f.fsm, 7, NULL, 0, hist_check_cb, &h, NULL), 0);
    assert_true(h.events == 20);

    /* The compact command: future, already compacted, then real. */
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(store_cmd_encode_compact(&b, 100), 0);
    assert_int_equal(fx_apply(&f, &b), STORE_EFUTUREREV);
    buf_reset(&b);
    assert_int_equal(store_cmd_encode_compact(&b, 6), 0);
    assert_int_equal(fx_apply(&f, &b), STORE_ECOMPACTED);
    buf_reset(&b);
    assert_int_equal(store_cmd_encode_compact(&b, 20), 0);
    assert_int_equal(fx_apply(&f, &b), 0);
    assert_true(f.reply.compact_revision == 20 && f.reply.revision == 26);
    h = (struct hist_check){0};
    assert_int_equal(store_fsm_history(f.fsm, 20, NULL, 0, hist_check_cb, &h, NULL), STORE_ECOMPACTED);
    assert_int_equal(store_fsm_history(f.fsm, 21, NULL, 0, hist_check_cb, &h, NULL), 0);
    assert_true(h.events == 6);
    struct store_kv kv;
    assert_int_equal(store_fsm_get(f.fsm, "a", 1, &kv, NULL), 0);
    assert_true(kv.version == 26); /* compaction never touches live keys */
    buf_destroy(&b);
    fx_destroy(&f);
}

static void test_map_full_then_grow(void **state)
{
    struct store_fsm_config cfg = {.no_sync = true, .map_size = 256 * 1024};
    struct fx f;
    fx_init(&f, &cfg);
    static char big[6000];
    memset(big, 'v', sizeof big - 1);
    char key[16];
    int i, rc = 0;
    struct buf b;
    buf_init(&b, 0);
    struct store_entry e;
    /* Fill until the map refuses; the space gate must say so first. */
    int gated = 0;
    for (i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "key%03d", i);
        buf_reset(&b);
        assert_int_equal(store_cmd_encode_put(&b, key, 6, big, sizeof big - 1, 0), 0);
        if (!gated && store_fsm_space_check(f.fsm, b.size) == STORE_EMAPFULL) {
            gated = i;
        }
        e = (struct store_entry){.index = ++f.index, .data = b.data, .size = b.size};
        rc = store_fsm_apply_batch(f.fsm, &e, 1, &f.res);
        if (rc) {
            break;
        }
    }
    assert_int_equal(rc, STORE_EMAPFULL);
    assert_true(gated > 0 && gated <= i);
    assert_int_equal(store_fsm_failed(f.fsm), STORE_EMAPFULL);
    /* Sticky: refuses until recovered; earlier data intact. */
    assert_int_equal(store_fsm_apply_batch(f.fsm, &e, 1, &f.res), STORE_EPANIC);
    fx_expect(&f, "key000", big);
    struct store_fsm_status st;
    assert_int_equal(store_fsm_status(f.fsm, &st), 0);
    assert_true(st.applied_index == f.index - 1 && st.revision == (uint64_t)i);
    /* Recovering without growing fails again the same way. */
    assert_int_equal(store_fsm_recover(f.fsm), 0);
    assert_int_equal(store_fsm_apply_batch(f.fsm, &e, 1, &f.res), STORE_EMAPFULL);
    /* Grow, recover, retry the same entry. */
    assert_int_equal(store_fsm_set_map_size(f.fsm, 4 * 1024 * 1024), 0);
    assert_int_equal(store_fsm_recover(f.fsm), 0);
    assert_int_equal(store_fsm_failed(f.fsm), 0);
    assert_int_equal(store_fsm_apply_batch(f.fsm, &e, 1, &f.res), 0);
    assert_int_equal(f.res.status, 0);
    assert_int_equal(store_fsm_space_check(f.fsm, b.size), 0);
    assert_int_equal(store_fsm_status(f.fsm, &st), 0);
    assert_true(st.revision == (uint64_t)i + 1 && st.map_size >= 4 * 1024 * 1024);
    snprintf(key, sizeof key, "key%03d", i);
    fx_expect(&f, key, big);
    assert_int_equal(store_fsm_sync(f.fsm), 0);
    buf_destroy(&b);
    fx_destroy(&f);
}

static void test_space_check_disk(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    assert_int_equal(store_fsm_space_check(f.fsm, 1000), 0);
#ifdef STRATA_TEST_HOOKS
    store_fsm_test_disk_avail = 1u << 20;
    assert_int_equal(store_fsm_space_check(f.fsm, 1000), STORE_ENOSPC);
    store_fsm_test_disk_avail = UINT64_MAX;
#endif
    /* More than the whole map can never fit. */
    assert_int_equal(store_fsm_space_check(f.fsm, STORE_DEFAULT_MAP_SIZE), STORE_EMAPFULL);
    fx_destroy(&f);
}

struct kv_list {
    struct buf b;
};

static int kv_append(void *arg, const struct store_kv *kv)
{
    struct buf *b = arg;
    assert_int_equal(buf_put(b, kv->key, kv->key_size), 0);
    assert_int_equal(buf_put(b, kv->value, kv->value_size), 0);
    assert_int_equal(buf_put_u64(b, kv->create_revision ^ kv->mod_revision << 20 ^ kv->version << 40), 0);
    return 0;
}

static void fx_dump(struct store_fsm *fsm, struct buf *out)
{
    struct store_keysel all = store_sel_prefix(NULL, 0);
    buf_reset(out);
    assert_int_equal(store_fsm_scan(fsm, &all, 0, kv_append, out, NULL), 0);
}

static void test_snapshot_restore(void **state)
{
    struct store_fsm_config cfg = {.no_sync = true, .retention = 50, .history_prev_kv = true};
    struct fx a, b;
    fx_init(&a, &cfg);
    fx_init(&b, &cfg);
    feed(a.fsm, 7, 300, 5, &a.index);
    feed(b.fsm, 99, 40, 3, &b.index); /* different state, to be replaced */
    struct buf snap, snap2, da, db;
    buf_init(&snap, 0);
    buf_init(&snap2, 0);
    buf_init(&da, 0);
    buf_init(&db, 0);
    assert_int_equal(store_fsm_snapshot(a.fsm, &snap), 0);
    assert_int_equal(store_fsm_restore(b.fsm, snap.data, snap.size), 0);
    uint8_t ha[STORE_HASH_SIZE], hb[STORE_HASH_SIZE];
    uint64_t ra, rb;
    assert_int_equal(store_fsm_hash(a.fsm, &ra, ha), 0);
    assert_int_equal(store_fsm_hash(b.fsm, &rb, hb), 0);
    assert_true(ra == rb);
    assert_memory_equal(ha, hb, sizeof ha);
    fx_dump(a.fsm, &da);
    fx_dump(b.fsm, &db);
    assert_int_equal(da.size, db.size);
    assert_memory_equal(da.data, db.data, da.size);
    assert_int_equal(store_fsm_snapshot(b.fsm, &snap2), 0);
    assert_int_equal(snap.size, snap2.size);
    assert_memory_equal(snap.data, snap2.data, snap.size);
    /* Both continue identically from there. */
    b.index = a.index;
    feed(a.fsm, 5, 30, 4, &a.index);
    feed(b.fsm, 5, 30, 9, &b.index);
    assert_int_equal(store_fsm_hash(a.fsm, &ra, ha), 0);
    assert_int_equal(store_fsm_hash(b.fsm, &rb, hb), 0);
    assert_true(ra == rb);
    assert_memory_equal(ha, hb, sizeof ha);

    /* Malformed snapshots: every truncation, a flipped byte in each region,
     * and a structurally bad one with a valid checksum. State unchanged. */
    struct store_fsm_status before, after;
    assert_int_equal(store_fsm_status(b.fsm, &before), 0);
    fx_dump(b.fsm, &da);
    for (size_t cut = 0; cut < snap.size; cut += 1 + cut / 3) {
        assert_int_not_equal(store_fsm_restore(b.fsm, snap.data, cut), 0);
    }
    for (size_t at = 0; at < snap.size; at += 97) {
        snap.data[at] ^= 0x40;
        assert_int_equal(store_fsm_restore(b.fsm, snap.data, snap.size), STORE_EFORMAT);
        snap.data[at] ^= 0x40;
    }
    /* Offsets: magic 0, version 8, applied 9, revision 17, compacted 25,
     * hash 33, key count 65, first key 73. */
    struct {
        size_t at;
        uint8_t val;
        int want;
    } bad[] = {
        {8, 2, STORE_EVERSION},     /* unknown version */
        {25, 0xff, STORE_EFORMAT},  /* compacted > revision */
        {65, 0x7f, STORE_EFORMAT},  /* absurd key count */
        {72, 0, STORE_EFORMAT},     /* key count off: caught after writing keys */
        {73 + 3, 0, STORE_EFORMAT}, /* first key size 0 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf_reset(&snap2);
        assert_int_equal(store_fsm_snapshot(a.fsm, &snap2), 0);
        snap2.data[bad[i].at] = i == 3 ? (uint8_t)(snap2.data[72] + 1) : bad[i].val;
        reseal(&snap2);
        assert_int_equal(store_fsm_restore(b.fsm, snap2.data, snap2.size), bad[i].want);
    }
    buf_destroy(&snap2);
    assert_int_equal(store_fsm_status(b.fsm, &after), 0);
    assert_true(after.revision == before.revision && after.applied_index == before.applied_index);
    assert_memory_equal(after.hash, before.hash, STORE_HASH_SIZE);
    fx_dump(b.fsm, &db);
    assert_int_equal(da.size, db.size);
    assert_memory_equal(da.data, db.data, da.size);

    buf_destroy(&snap);
    buf_destroy(&da);
    buf_destroy(&db);
    fx_destroy(&a);
    fx_destroy(&b);
}

static void test_hash_determinism(void **state)
{
    struct fx a, b, c;
    fx_init(&a, NULL);
    fx_init(&b, NULL);
    fx_init(&c, NULL);
    /* Same entries, different batching. */
    feed(a.fsm, 1234, 200, 1, &a.index);
    feed(b.fsm, 1234, 200, 16, &b.index);
    /* One entry differs: the 101st command comes from another stream. */
    feed(c.fsm, 1234, 100, 8, &c.index);
    assert_int_equal(fx_put(&c, "k99", "different"), 0);
    uint8_t ha[STORE_HASH_SIZE], hb[STORE_HASH_SIZE], hc[STORE_HASH_SIZE];
    uint64_t ra, rb, rc;
    assert_int_equal(store_fsm_hash(a.fsm, &ra, ha), 0);
    assert_int_equal(store_fsm_hash(b.fsm, &rb, hb), 0);
    assert_true(ra == rb && ra > 100);
    assert_memory_equal(ha, hb, sizeof ha);
    static const uint8_t zero[STORE_HASH_SIZE];
    assert_memory_not_equal(ha, zero, sizeof ha);
    assert_int_equal(store_fsm_hash(c.fsm, &rc, hc), 0);
    assert_memory_not_equal(ha, hc, sizeof ha);
    /* Identical replicas also write identical snapshots. */
    struct buf sa, sb;
    buf_init(&sa, 0);
    buf_init(&sb, 0);
    assert_int_equal(store_fsm_snapshot(a.fsm, &sa), 0);
    assert_int_equal(store_fsm_snapshot(b.fsm, &sb), 0);
    assert_int_equal(sa.size, sb.size);
    assert_memory_equal(sa.data, sb.data, sa.size);
    buf_destroy(&sa);
    buf_destroy(&sb);
    fx_destroy(&a);
    fx_destroy(&b);
    fx_destroy(&c);
}

/* Checkpoints fall on the same revisions with the same hash whatever the
 * batching, and a diverging replica's checkpoint differs. */
static void test_checkpoints(void **state)
{
    struct store_fsm_config cfg = {.no_sync = true, .checkpoint_interval = 10};
    struct fx a, b, c, d;
    fx_init(&a, &cfg);
    fx_init(&b, &cfg);
    fx_init(&c, &cfg);
    fx_init(&d, &cfg);
    uint64_t ra, rb, rc;
    uint8_t ha[STORE_HASH_SIZE], hb[STORE_HASH_SIZE], hc[STORE_HASH_SIZE];
    assert_int_equal(store_fsm_checkpoint(a.fsm, &ra, ha), STORE_ENOTFOUND);
    feed(a.fsm, 77, 120, 1, &a.index);
    feed(b.fsm, 77, 120, 13, &b.index);
    assert_int_equal(store_fsm_checkpoint(a.fsm, &ra, ha), 0);
    assert_int_equal(store_fsm_checkpoint(b.fsm, &rb, hb), 0);
    assert_true(ra == rb && ra % 10 == 0 && ra > 0);
    assert_memory_equal(ha, hb, sizeof ha);
    /* The checkpoint is the hash at that revision, not the latest hash. */
    uint64_t cur;
    uint8_t hcur[STORE_HASH_SIZE];
    assert_int_equal(store_fsm_hash(a.fsm, &cur, hcur), 0);
    assert_true(cur >= ra && cur < ra + 10);
    /* Two replicas whose 13th write differs disagree at checkpoint 20. */
    for (int i = 0; i < 25; i++) {
        char key[16];
        snprintf(key, sizeof key, "key%02d", i);
        assert_int_equal(fx_put(&c, key, "same"), 0);
        assert_int_equal(fx_put(&d, key, i == 12 ? "other" : "same"), 0);
    }
    assert_int_equal(store_fsm_checkpoint(c.fsm, &ra, ha), 0);
    assert_int_equal(store_fsm_checkpoint(d.fsm, &rc, hc), 0);
    assert_int_equal(ra, 20);
    assert_int_equal(rc, 20);
    assert_memory_not_equal(ha, hc, sizeof ha);
    fx_destroy(&a);
    fx_destroy(&b);
    fx_destroy(&c);
    fx_destroy(&d);
}

/* Child side of the fork test: opens the environment read-only and checks
 * key "k" against 'want' and the revision against 'rev'. Exit status 0 on
 * success, the failing step otherwise. */
static int ro_check(struct store_fsm *ro, const char *want, uint64_t rev)
{
    struct store_kv kv;
    struct buf v;
    struct store_fsm_status st;
    buf_init(&v, 0);
    int bad = 0;
    if (store_fsm_get(ro, "k", 1, &kv, &v) != 0 || v.size != strlen(want) ||
        memcmp(v.data, want, v.size) != 0) {
        bad = 1;
    } else if (store_fsm_status(ro, &st) != 0 || st.revision != rev) {
        bad = 2;
    }
    buf_destroy(&v);
    return bad;
}

/* A view keeps the state it was opened on while batches keep applying (a
 * snapshot of it is byte-equal to one taken at the moment it opened, even
 * when written on another thread), map resizes and recovery wait for it,
 * and the snapshot header says which raft index it holds. */
struct view_job {
    struct store_fsm_view *view;
    struct buf out;
    int rc;
};

static void *view_thread(void *arg)
{
    struct view_job *j = arg;
    j->rc = store_fsm_view_snapshot(j->view, &j->out);
    return NULL;
}

static void test_view_snapshot(void **state)
{
    (void)state;
    struct store_fsm_config cfg = {.no_sync = true, .retention = 50, .history_prev_kv = true};
    struct fx a;
    fx_init(&a, &cfg);
    feed(a.fsm, 11, 200, 7, &a.index);
    struct buf before;
    buf_init(&before, 0);
    assert_int_equal(store_fsm_snapshot(a.fsm, &before), 0);
    struct view_job j = {0};
    buf_init(&j.out, 0);
    assert_int_equal(store_fsm_view_begin(a.fsm, &j.view), 0);
    assert_int_equal(store_fsm_view_applied(j.view), a.index);
    feed(a.fsm, 12, 100, 5, &a.index); /* the state moves on */
    assert_int_equal(store_fsm_set_map_size(a.fsm, (size_t)64 << 20), STORE_EBUSY);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, view_thread, &j), 0);
    feed(a.fsm, 13, 100, 5, &a.index); /* concurrently with the writer thread */
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(j.rc, 0);
    assert_int_equal(j.out.size, before.size);
    assert_memory_equal(j.out.data, before.data, before.size);
    uint64_t idx = 0;
    assert_int_equal(store_fsm_snapshot_applied(j.out.data, j.out.size, &idx), 0);
    assert_int_equal(idx, store_fsm_view_applied(j.view));
    assert_int_equal(store_fsm_snapshot_applied(j.out.data, 8, &idx), STORE_EFORMAT);
    store_fsm_view_end(j.view);
    assert_int_equal(store_fsm_set_map_size(a.fsm, (size_t)64 << 20), 0);
    struct buf after;
    buf_init(&after, 0);
    assert_int_equal(store_fsm_snapshot(a.fsm, &after), 0);
    assert_int_equal(store_fsm_snapshot_applied(after.data, after.size, &idx), 0);
    assert_int_equal(idx, a.index);
    buf_destroy(&before);
    buf_destroy(&after);
    buf_destroy(&j.out);
    fx_destroy(&a);
}

static void test_read_only_in_child(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    assert_int_equal(fx_put(&f, "k", "one"), 0);
    int to_child[2], to_parent[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(to_parent), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        struct store_fsm *ro;
        struct store_fsm_config cfg = {.read_only = true};
        char step = 0;
        int bad = store_fsm_open(&ro, f.dir, &cfg) != 0 ? 10 : 0;
        if (!bad) {
            bad = ro_check(ro, "one", 1);
            struct store_entry e = {.index = 99, .data = "", .size = 0};
            if (!bad && store_fsm_apply_batch(ro, &e, 1, NULL) != STORE_ERDONLY) {
                bad = 11;
            }
        }
        /* Tell the parent to write, then read its new commit. */
        if (write(to_parent[1], "w", 1) != 1 || read(to_child[0], &step, 1) != 1) {
            bad = bad ? bad : 12;
        }
        if (!bad) {
            bad = ro_check(ro, "two", 2);
        }
        if (!bad || bad < 10) {
            store_fsm_close(ro);
        }
        _exit(bad);
    }
    close(to_child[0]);
    close(to_parent[1]);
    char c;
    assert_int_equal(read(to_parent[0], &c, 1), 1);
    assert_int_equal(fx_put(&f, "k", "two"), 0); /* written while the child holds its env */
    assert_int_equal(write(to_child[1], "r", 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(to_child[1]);
    close(to_parent[0]);
    fx_destroy(&f);
}

static void test_reopen_keeps_state(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    feed(f.fsm, 77, 50, 6, &f.index);
    struct store_fsm_status a, b;
    assert_int_equal(store_fsm_status(f.fsm, &a), 0);
    assert_int_equal(store_fsm_sync(f.fsm), 0);
    store_fsm_close(f.fsm);
    struct store_fsm_config cfg = {.no_sync = true};
    assert_int_equal(store_fsm_open(&f.fsm, f.dir, &cfg), 0);
    assert_int_equal(store_fsm_status(f.fsm, &b), 0);
    assert_true(a.revision == b.revision && a.applied_index == b.applied_index);
    assert_memory_equal(a.hash, b.hash, STORE_HASH_SIZE);
    fx_destroy(&f);
}

/* A record damaged behind the FSM's back: audit and reads report it. */
static void test_audit_detects_damage(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    assert_int_equal(fx_put(&f, "a", "1"), 0);
    assert_int_equal(store_fsm_audit(f.fsm), 0);
    store_fsm_close(f.fsm);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, f.dir, 0, 0640), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "kv", 0, &dbi), 0);
    MDB_val k = {.mv_size = 2, .mv_data = "zz"}, d = {.mv_size = 3, .mv_data = "bad"};
    assert_int_equal(mdb_put(txn, dbi, &k, &d, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    struct store_fsm_config cfg = {.no_sync = true};
    assert_int_equal(store_fsm_open(&f.fsm, f.dir, &cfg), 0);
    assert_int_equal(store_fsm_audit(f.fsm), STORE_ECORRUPT);
    struct store_kv kv;
    assert_int_equal(store_fsm_get(f.fsm, "zz", 2, &kv, NULL), STORE_ECORRUPT);
    fx_expect(&f, "a", "1");
    store_fsm_close(f.fsm);
    f.fsm = NULL;
    store_reply_destroy(&f.reply);
    buf_destroy(&f.res.reply);
    fx_rmdir(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_across_batches),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_map_full_then_grow),
        cmocka_unit_test(test_space_check_disk),
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_view_snapshot),
        cmocka_unit_test(test_hash_determinism),
        cmocka_unit_test(test_checkpoints),
        cmocka_unit_test(test_read_only_in_child),
        cmocka_unit_test(test_reopen_keeps_state),
        cmocka_unit_test(test_audit_detects_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the store FSM's operations on a real LMDB environment:
 * put/get/delete, revisions and versions, delete-range and prefix, range
 * options, the txn compare matrix and its atomicity, long keys, malformed
 * entries, idempotent re-apply and live events. */
#include "fsm_fixture.h"

static void test_put_versions_revisions(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    assert_int_equal(fx_put(&f, "a", "1"), 0);
    assert_true(f.reply.revision == 1);
    assert_int_equal(f.reply.results_len, 1);
    assert_int_equal(f.reply.results[0].kvs_len, 0); /* no previous value */
    assert_int_equal(fx_put(&f, "a", "2"), 0);
    assert_true(f.reply.revision == 2);
    assert_int_equal(f.reply.results[0].kvs_len, 1); /* prev_kv */
    assert_memory_equal(f.reply.results[0].kvs[0].value, "1", 1);
    assert_true(f.reply.results[0].kvs[0].version == 1);

    struct store_kv kv;
    assert_int_equal(store_fsm_get(f.fsm, "a", 1, &kv, NULL), 0);
    assert_true(kv.create_revision == 1 && kv.mod_revision == 2 && kv.version == 2);
    fx_expect(&f, "a", "2");

    assert_int_equal(fx_del(&f, SEL_KEY("a")), 0);
    assert_true(f.reply.revision == 3);
    assert_true(f.reply.results[0].count == 1);
    assert_int_equal(f.reply.results[0].kvs_len, 1);
    fx_expect(&f, "a", NULL);

    /* Deleting a missing key changes nothing: no new revision. */
    assert_int_equal(fx_del(&f, SEL_KEY("a")), 0);
    assert_true(f.reply.revision == 3);
    assert_true(f.reply.results[0].count == 0);

    /* Recreate: version restarts at 1, create revision is the new one. */
    assert_int_equal(fx_put(&f, "a", ""), 0);
    assert_int_equal(store_fsm_get(f.fsm, "a", 1, &kv, NULL), 0);
    assert_true(kv.create_revision == 4 && kv.mod_revision == 4 && kv.version == 1);
    fx_expect(&f, "a", "");
    assert_true(fx_revision(&f) == 4);
    fx_destroy(&f);
}

static void test_delete_range_and_prefix(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    const char *keys[] = {"a", "ab", "abc", "abd", "b", "ba", "c"};
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(fx_put(&f, keys[i], keys[i]), 0);
    }
    assert_true(fx_revision(&f) == 7);
    /* Prefix "ab": ab, abc, abd, in one revision. */
    assert_int_equal(fx_del(&f, SEL_PREFIX("ab")), 0);
    assert_true(f.reply.revision == 8);
    assert_true(f.reply.results[0].count == 3);
    assert_int_equal(f.reply.results[0].kvs_len, 3);
    assert_memory_equal(f.reply.results[0].kvs[0].key, "ab", 2);
    assert_memory_equal(f.reply.results[0].kvs[2].key, "abd", 3);
    fx_expect(&f, "a", "a");
    fx_expect(&f, "ab", NULL);
    fx_expect(&f, "abd", NULL);
    /* [b, c): b and ba, not c. */
    assert_int_equal(fx_del(&f, SEL_RANGE("b", "c")), 0);
    assert_true(f.reply.revision == 9 && f.reply.results[0].count == 2);
    fx_expect(&f, "b", NULL);
    fx_expect(&f, "ba", NULL);
    fx_expect(&f, "c", "c");
    /* An empty range deletes nothing and makes no revision. */
    assert_int_equal(fx_del(&f, SEL_RANGE("x", "z")), 0);
    assert_true(f.reply.revision == 9 && f.reply.results[0].count == 0);
    /* [a, <no end>) deletes the rest. */
    assert_int_equal(fx_del(&f, store_sel_interval("a", 1, NULL, 0)), 0);
    assert_true(f.reply.results[0].count == 2);
    assert_true(fx_revision(&f) == 10);
    fx_destroy(&f);
}

static int fx_range(struct fx *f, struct store_keysel sel, uint32_t limit, uint8_t flags)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(store_cmd_encode_range(&b, &sel, limit, flags), 0);
    int rc = fx_apply(f, &b);
    buf_destroy(&b);
    return rc;
}

static void test_range_options(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    const char *keys[] = {"k1", "k2", "k3", "k4", "l1"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(fx_put(&f, keys[i], "val"), 0);
    }
    uint64_t rev = fx_revision(&f);
    assert_int_equal(fx_range(&f, SEL_PREFIX("k"), 0, 0), 0);
    struct store_op_result *r = &f.reply.results[0];
    assert_true(r->count == 4 && r->kvs_len == 4 && r->flags == 0);
    assert_memory_equal(r->kvs[3].key, "k4", 2);
    assert_memory_equal(r->kvs[3].value, "val", 3);
    assert_true(f.reply.revision == rev); /* reads make no revision */

    assert_int_equal(fx_range(&f, SEL_PREFIX("k"), 2, 0), 0);
    r = &f.reply.results[0];
    assert_true(r->count == 4 && r->kvs_len == 2 && r->flags == STORE_R_MORE);
    assert_memory_equal(r->kvs[1].key, "k2", 2);

    assert_int_equal(fx_range(&f, SEL_RANGE("k2", "l1"), 0, STORE_F_KEYS_ONLY), 0);
    r = &f.reply.results[0];
    assert_true(r->count == 3 && r->kvs_len == 3);
    assert_int_equal(r->kvs[0].value_size, 0);
    assert_true(r->kvs[0].version == 1 && r->kvs[0].create_revision == 2);

    assert_int_equal(fx_range(&f, store_sel_prefix(NULL, 0), 0, STORE_F_COUNT_ONLY), 0);
    r = &f.reply.results[0];
    assert_true(r->count == 5 && r->kvs_len == 0 && r->flags == 0);

    assert_int_equal(fx_range(&f, SEL_KEY("k3"), 0, 0), 0);
    assert_true(f.reply.results[0].count == 1);
    assert_int_equal(fx_range(&f, SEL_KEY("zz"), 0, 0), 0);
    assert_true(f.reply.results[0].count == 0);
    assert_true(fx_revision(&f) == rev);

    /* The local read path answers the same. */
    struct store_op op = {.kind = STORE_OP_RANGE, .sel = SEL_PREFIX("k"), .limit = 3};
    struct buf out;
    struct store_reply rep;
    buf_init(&out, 0);
    assert_int_equal(store_fsm_range(f.fsm, &op, &out), 0);
    assert_int_equal(store_reply_decode(&rep, out.data, out.size), 0);
    assert_true(rep.revision == rev && rep.results[0].count == 4 && rep.results[0].kvs_len == 3);
    store_reply_destroy(&rep);
    buf_destroy(&out);
    fx_destroy(&f);
}

/* Builds and applies txn: if (cmp) put "out"="then" else put "out"="else". */
static int fx_txn1(struct fx *f, const struct store_compare *cmp)
{
    struct store_op then = {.kind = STORE_OP_PUT, .sel = SEL_KEY("out"), .value = (const uint8_t *)"then", .value_size = 4};
    struct store_op els = then;
    els.value = (const uint8_t *)"else";
    struct store_cmd cmd = {.kind = STORE_CMD_TXN,
                            .compares = (struct store_compare *)cmp,
                            .compares_len = 1,
                            .success = &then,
                            .success_len = 1,
                            .failure = &els,
                            .failure_len = 1};
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(store_cmd_encode(&cmd, &b), 0);
    int rc = fx_apply(f, &b);
    buf_destroy(&b);
    return rc;
}

static void test_txn_compare_matrix(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    assert_int_equal(fx_put(&f, "x", "m"), 0); /* rev 1 */
    assert_int_equal(fx_put(&f, "y", "q"), 0); /* rev 2 */
    assert_int_equal(fx_put(&f, "x", "m"), 0); /* rev 3: x create 1, mod 3, version 2 */
    /* Per target: a value equal to x's, one below, one above. */
    struct {
        uint8_t target;
        const char *lo, *eq, *hi;
        uint64_t nlo, neq, nhi;
    } t[] = {
        {STORE_CMP_VALUE, "l", "m", "n", 0, 0, 0},
        {STORE_CMP_VERSION, NULL, NULL, NULL, 1, 2, 3},
        {STORE_CMP_CREATE, NULL, NULL, NULL, 0, 1, 2},
        {STORE_CMP_MOD, NULL, NULL, NULL, 2, 3, 4},
    };
    for (size_t i = 0; i < 4; i++) {
        for (uint8_t op = STORE_CMP_EQ; op <= STORE_CMP_GT; op++) {
            for (int which = 0; which < 3; which++) { /* operand lo, eq, hi */
                struct store_compare c = {.target = t[i].target, .op = op, .key = (const uint8_t *)"x", .key_size = 1};
                const char *s = which == 0 ? t[i].lo : which == 1 ? t[i].eq : t[i].hi;
                if (s) {
                    c.value = (const uint8_t *)s;
                    c.value_size = (uint32_t)strlen(s);
                }
                c.number = which == 0 ? t[i].nlo : which == 1 ? t[i].neq : t[i].nhi;
                /* x compared with operand: x > lo, x == eq, x < hi */
                bool expect = op == STORE_CMP_EQ   ? which == 1
                              : op == STORE_CMP_NE ? which != 1
                              : op == STORE_CMP_LT ? which == 2
                                                   : which == 0;
                uint64_t before = fx_revision(&f);
                assert_int_equal(fx_txn1(&f, &c), 0);
                assert_int_equal(f.reply.succeeded, expect);
                assert_int_equal(f.reply.results_len, 1);
                fx_expect(&f, "out", expect ? "then" : "else");
                assert_true(fx_revision(&f) == before + 1); /* one revision per txn */
            }
        }
    }
    /* Missing key: create == 0 holds, value compares are false. */
    struct store_compare c = {.target = STORE_CMP_CREATE, .op = STORE_CMP_EQ, .key = (const uint8_t *)"nope", .key_size = 4};
    assert_int_equal(fx_txn1(&f, &c), 0);
    assert_int_equal(f.reply.succeeded, 1);
    c = (struct store_compare){.target = STORE_CMP_VALUE, .op = STORE_CMP_NE, .key = (const uint8_t *)"nope", .key_size = 4};
    assert_int_equal(fx_txn1(&f, &c), 0);
    assert_int_equal(f.reply.succeeded, 0);
    c = (struct store_compare){.target = STORE_CMP_CREATE, .op = STORE_CMP_NE, .number = 0, .key = (const uint8_t *)"y", .key_size = 1};
    assert_int_equal(fx_txn1(&f, &c), 0);
    assert_int_equal(f.reply.succeeded, 1);
    fx_destroy(&f);
}

/* COUNT compares the number of live keys under a prefix (children, back-
 * references), including long keys stored as hashes. */
static void test_txn_compare_count(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    char longkey[700];
    memset(longkey, 'z', sizeof longkey - 1);
    memcpy(longkey, "p/", 2);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(fx_put(&f, "p/a", "1"), 0);
    assert_int_equal(fx_put(&f, "p/b", "1"), 0);
    assert_int_equal(fx_put(&f, longkey, "1"), 0);
    assert_int_equal(fx_put(&f, "q/a", "1"), 0);
    struct {
        const char *prefix;
        uint8_t op;
        uint64_t n;
        bool expect;
    } t[] = {
        {"p/", STORE_CMP_EQ, 3, true},   {"p/", STORE_CMP_EQ, 2, false}, {"p/", STORE_CMP_GT, 2, true},
        {"p/", STORE_CMP_LT, 3, false},  {"p/", STORE_CMP_NE, 0, true},  {"r/", STORE_CMP_EQ, 0, true},
        {"p/a", STORE_CMP_EQ, 1, true},  {"q", STORE_CMP_LT, 2, true},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct store_compare c = {.target = STORE_CMP_COUNT, .op = t[i].op, .key = (const uint8_t *)t[i].prefix,
                                  .key_size = (uint32_t)strlen(t[i].prefix), .number = t[i].n};
        assert_int_equal(fx_txn1(&f, &c), 0);
        assert_int_equal(f.reply.succeeded, t[i].expect);
    }
    /* Deleting a child changes the count the next transaction sees. */
    struct store_keysel sel = SEL_KEY("p/a");
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(store_cmd_encode_delete(&b, &sel, 0), 0);
    assert_int_equal(fx_apply(&f, &b), 0);
    buf_destroy(&b);
    struct store_compare c = {.target = STORE_CMP_COUNT, .op = STORE_CMP_EQ, .key = (const uint8_t *)"p/",
                              .key_size = 2, .number = 2};
    assert_int_equal(fx_txn1(&f, &c), 0);
    assert_int_equal(f.reply.succeeded, 1);
    fx_destroy(&f);
}

static int hist_collect(void *arg, const struct store_event *ev)
{
    struct buf *b = arg;
    assert_int_equal(buf_put_u64(b, ev->revision), 0);
    assert_int_equal(buf_put_u32(b, ev->sub), 0);
    assert_int_equal(buf_put_u8(b, ev->type), 0);
    return 0;
}

static void test_txn_atomic_and_subrevisions(void **state)
{
    struct store_fsm_config cfg = {.no_sync = true, .value_max = 8};
    struct fx f;
    fx_init(&f, &cfg);
    assert_int_equal(fx_put(&f, "a", "1"), 0);
    assert_int_equal(fx_put(&f, "b", "2"), 0);
    uint8_t h0[STORE_HASH_SIZE], h1[STORE_HASH_SIZE];
    uint64_t r0, r1;
    assert_int_equal(store_fsm_hash(f.fsm, &r0, h0), 0);

    /* then: put c, delete a, put d with a value past value_max: rejected
     * whole, nothing applied, no revision. */
    struct store_op ops[4] = {
        {.kind = STORE_OP_PUT, .sel = SEL_KEY("c"), .value = (const uint8_t *)"3", .value_size = 1},
        {.kind = STORE_OP_DELETE, .sel = SEL_KEY("a")},
        {.kind = STORE_OP_PUT, .sel = SEL_KEY("d"), .value = (const uint8_t *)"0123456789", .value_size = 10},
        {.kind = STORE_OP_RANGE, .sel = SEL_PREFIX("")},
    };
    struct store_cmd cmd = {.kind = STORE_CMD_TXN, .success = ops, .success_len = 3};
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(store_cmd_encode(&cmd, &b), 0);
    assert_int_equal(fx_apply(&f, &b), STORE_ETOOLARGE);
    assert_int_equal(f.reply.status, STORE_ETOOLARGE);
    fx_expect(&f, "c", NULL);
    fx_expect(&f, "a", "1");
    assert_int_equal(store_fsm_hash(f.fsm, &r1, h1), 0);
    assert_true(r0 == r1 && r0 == 2);
    assert_memory_equal(h0, h1, sizeof h0);

    /* The same txn within the caps: one revision, three changes as subs
     * 0, 1, 2, and the range op sees the txn's own writes. */
    ops[2].value_size = 4;
    cmd.success = ops;
    cmd.success_len = 4;
    buf_reset(&b);
    assert_int_equal(store_cmd_encode(&cmd, &b), 0);
    assert_int_equal(fx_apply(&f, &b), 0);
    assert_int_equal(f.reply.succeeded, 1); /* no compares: true */
    assert_int_equal(f.reply.results_len, 4);
    assert_true(f.reply.revision == 3);
    assert_true(f.reply.results[3].count == 3); /* b, c, d */
    assert_true(f.reply.results[3].kvs[1].mod_revision == 3);

    struct buf h;
    buf_init(&h, 0);
    uint64_t next;
    assert_int_equal(store_fsm_history(f.fsm, 3, NULL, 0, hist_collect, &h, &next), 0);
    assert_int_equal(h.size, 3 * 13);
    for (uint32_t i = 0; i < 3; i++) {
        assert_true(be64_load(h.data + 13 * i) == 3);
        assert_int_equal(be32_load(h.data + 13 * i + 8), i);
    }
    assert_int_equal(h.data[13 + 12], STORE_EVENT_DELETE);
    assert_true(next == 4);
    buf_destroy(&h);
    buf_destroy(&b);
    fx_destroy(&f);
}

static void test_malformed_entry_and_reapply(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    assert_int_equal(fx_put(&f, "a", "1"), 0);
    static const uint8_t junk[] = {1, 9, 9, 9};
    struct buf b = {.data = (uint8_t *)junk, .size = sizeof junk};
    assert_int_equal(fx_apply(&f, &b), STORE_EFORMAT);
    assert_int_equal(f.reply.kind, 0);
    struct store_fsm_status st;
    assert_int_equal(store_fsm_status(f.fsm, &st), 0);
    assert_true(st.applied_index == 2 && st.revision == 1);

    /* A batch, then the same batch again: all skipped, nothing changes. */
    struct buf c[3];
    struct store_entry e[3];
    struct store_result r[3];
    for (int i = 0; i < 3; i++) {
        buf_init(&c[i], 0);
        buf_init(&r[i].reply, 0);
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(store_cmd_encode_put(&c[i], key, 2, "v", 1, 0), 0);
        e[i] = (struct store_entry){.index = 10 + (uint64_t)i, .data = c[i].data, .size = c[i].size};
    }
    assert_int_equal(store_fsm_apply_batch(f.fsm, e, 3, r), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].status, 0);
        assert_true(r[i].revision == 2 + (uint64_t)i);
    }
    uint8_t h1[STORE_HASH_SIZE], h2[STORE_HASH_SIZE];
    uint64_t r1, r2;
    assert_int_equal(store_fsm_hash(f.fsm, &r1, h1), 0);
    assert_int_equal(store_fsm_apply_batch(f.fsm, e, 3, r), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].status, STORE_EAPPLIED);
    }
    assert_int_equal(store_fsm_hash(f.fsm, &r2, h2), 0);
    assert_true(r1 == r2 && r1 == 4);
    assert_memory_equal(h1, h2, sizeof h1);
    assert_int_equal(store_fsm_status(f.fsm, &st), 0);
    assert_true(st.applied_index == 12);
    for (int i = 0; i < 3; i++) {
        buf_destroy(&c[i]);
        buf_destroy(&r[i].reply);
    }
    fx_destroy(&f);
}

static void test_long_keys(void **state)
{
    struct fx f;
    fx_init(&f, NULL);
    enum { N = 6, LEN = 700 };
    static char keys[N][LEN + 1];
    /* Same first 600 bytes, differing later: stored under hashed keys. */
    const int order[N] = {3, 0, 5, 1, 4, 2};
    for (int i = 0; i < N; i++) {
        memset(keys[i], 'p', LEN);
        keys[i][650] = (char)('a' + i);
        keys[i][LEN] = 0;
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(fx_put(&f, keys[order[i]], keys[order[i]] + 640), 0);
    }
    assert_int_equal(fx_put(&f, "pp", "short"), 0);
    assert_int_equal(fx_put(&f, "q", "after"), 0);
    for (int i = 0; i < N; i++) {
        fx_expect(&f, keys[i], keys[i] + 640);
    }
    assert_int_equal(fx_range(&f, SEL_PREFIX("p"), 0, 0), 0);
    struct store_op_result *r = &f.reply.results[0];
    assert_true(r->count == N + 1);
    assert_memory_equal(r->kvs[0].key, "pp", 2);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r->kvs[i + 1].key_size, LEN);
        assert_memory_equal(r->kvs[i + 1].key, keys[i], LEN); /* sorted */
    }
    /* A range ending inside the group, and a long prefix. */
    assert_int_equal(fx_range(&f, store_sel_interval(keys[1], LEN, keys[4], LEN), 0, 0), 0);
    assert_true(f.reply.results[0].count == 3);
    assert_memory_equal(f.reply.results[0].kvs[0].key, keys[1], LEN);
    assert_int_equal(fx_range(&f, store_sel_prefix(keys[2], 651), 0, 0), 0);
    assert_true(f.reply.results[0].count == 1);
    assert_int_equal(fx_del(&f, store_sel_prefix(keys[0], 620)), 0);
    assert_true(f.reply.results[0].count == N);
    fx_expect(&f, "pp", "short");
    fx_expect(&f, keys[3], NULL);
    fx_destroy(&f);
}

static int ev_record(void *arg, const struct store_event *ev)
{
    struct buf *b = arg;
    assert_int_equal(buf_put_u64(b, ev->revision), 0);
    assert_int_equal(buf_put_u32(b, ev->sub), 0);
    assert_int_equal(buf_put_u8(b, ev->type), 0);
    assert_int_equal(buf_put_u8(b, ev->has_prev), 0);
    assert_int_equal(buf_put(b, ev->kv.key, ev->kv.key_size), 0);
    return 0;
}

static void ev_live(void *arg, const struct store_event *ev)
{
    (void)ev_record(arg, ev);
}

static void test_live_events_match_history(void **state)
{
    struct buf live, hist;
    buf_init(&live, 0);
    buf_init(&hist, 0);
    struct store_fsm_config cfg = {.no_sync = true, .history_prev_kv = true, .on_event = ev_live, .event_arg = &live};
    struct fx f;
    fx_init(&f, &cfg);
    assert_int_equal(fx_put(&f, "a", "1"), 0);
    assert_int_equal(fx_put(&f, "b", "1"), 0);
    assert_int_equal(fx_put(&f, "a", "2"), 0);
    assert_int_equal(fx_del(&f, SEL_PREFIX("")), 0);
    assert_int_equal(store_fsm_history(f.fsm, 1, NULL, 0, ev_record, &hist, NULL), 0);
    assert_true(live.size > 0);
    assert_int_equal(live.size, hist.size);
    assert_memory_equal(live.data, hist.data, live.size);
    /* 5 events: a, b, a (prev), delete a (prev), delete b (prev). */
    assert_int_equal(hist.size, 5 * (8 + 4 + 1 + 1 + 1));
    assert_int_equal(hist.data[15 * 2 + 13], 1); /* has_prev on the second put of a */
    buf_destroy(&live);
    buf_destroy(&hist);
    fx_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_versions_revisions),
        cmocka_unit_test(test_delete_range_and_prefix),
        cmocka_unit_test(test_range_options),
        cmocka_unit_test(test_txn_compare_matrix),
        cmocka_unit_test(test_txn_compare_count),
        cmocka_unit_test(test_txn_atomic_and_subrevisions),
        cmocka_unit_test(test_malformed_entry_and_reapply),
        cmocka_unit_test(test_long_keys),
        cmocka_unit_test(test_live_events_match_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the store command/reply codec: exact round trips for every
 * command kind, rejection of malformed input (versions, kinds, flags, empty
 * keys, caps, truncation, trailing bytes), and reply round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/cmd.h"
#include "store/fsm.h"

/* encode(cmd) -> decode -> encode must give identical bytes; every proper
 * prefix must fail to decode. */
static void roundtrip(const struct store_cmd *cmd)
{
    struct buf a, b;
    struct store_cmd d;
    buf_init(&a, 0);
    buf_init(&b, 0);
    assert_int_equal(store_cmd_encode(cmd, &a), 0);
    assert_int_equal(store_cmd_decode(&d, a.data, a.size), 0);
    assert_int_equal(d.kind, cmd->kind);
    assert_int_equal(store_cmd_encode(&d, &b), 0);
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.data, b.data, a.size);
    store_cmd_destroy(&d);
    for (size_t cut = 0; cut < a.size; cut++) {
        assert_int_equal(store_cmd_decode(&d, a.data, cut), STORE_EFORMAT);
    }
    assert_int_equal(buf_put_u8(&a, 0), 0); /* trailing byte */
    assert_int_equal(store_cmd_decode(&d, a.data, a.size), STORE_EFORMAT);
    buf_destroy(&a);
    buf_destroy(&b);
}

static void test_cmd_roundtrips(void **state)
{
    struct store_cmd put = {.kind = STORE_CMD_PUT};
    put.op = (struct store_op){.kind = STORE_OP_PUT, .flags = STORE_F_PREV_KV, .sel = store_sel_key("key", 3),
                               .value = (const uint8_t *)"value", .value_size = 5};
    roundtrip(&put);
    struct store_cmd del = {.kind = STORE_CMD_DELETE};
    del.op = (struct store_op){.kind = STORE_OP_DELETE, .sel = store_sel_interval("a", 1, "b", 1)};
    roundtrip(&del);
    del.op.sel = store_sel_prefix(NULL, 0);
    roundtrip(&del);
    struct store_cmd rng = {.kind = STORE_CMD_RANGE};
    rng.op = (struct store_op){.kind = STORE_OP_RANGE, .flags = STORE_F_KEYS_ONLY | STORE_F_COUNT_ONLY,
                               .sel = store_sel_prefix("p/", 2), .limit = 77};
    roundtrip(&rng);
    struct store_cmd cpt = {.kind = STORE_CMD_COMPACT, .compact_revision = 0x0102030405060708ULL};
    roundtrip(&cpt);

    struct store_compare cmps[3] = {
        {.target = STORE_CMP_VALUE, .op = STORE_CMP_NE, .key = (const uint8_t *)"k", .key_size = 1,
         .value = (const uint8_t *)"v", .value_size = 1},
        {.target = STORE_CMP_MOD, .op = STORE_CMP_LT, .key = (const uint8_t *)"k", .key_size = 1, .number = 9},
        {.target = STORE_CMP_COUNT, .op = STORE_CMP_EQ, .key = (const uint8_t *)"p/", .key_size = 2, .number = 0},
    };
    struct store_op ops[3] = {put.op, del.op, rng.op};
    struct store_cmd txn = {.kind = STORE_CMD_TXN, .compares = cmps, .compares_len = 3, .success = ops,
                            .success_len = 3, .failure = ops + 2, .failure_len = 1};
    roundtrip(&txn);
    struct store_cmd empty = {.kind = STORE_CMD_TXN};
    roundtrip(&empty);
    /* A compare target past COUNT is malformed. */
    struct store_compare bad = {.target = STORE_CMP_COUNT + 1, .op = STORE_CMP_EQ, .key = (const uint8_t *)"k",
                                .key_size = 1};
    struct store_cmd badtxn = {.kind = STORE_CMD_TXN, .compares = &bad, .compares_len = 1};
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(store_cmd_encode(&badtxn, &b), STORE_EFORMAT);
    buf_destroy(&b);
}

static void test_cmd_rejects(void **state)
{
    struct buf b;
    struct store_cmd d;
    buf_init(&b, 0);
    /* Encoder refuses what the decoder would. */
    assert_int_equal(store_cmd_encode_put(&b, "", 0, "v", 1, 0), STORE_EFORMAT);
    assert_int_equal(store_cmd_encode_put(&b, "k", 1, "v", 1, STORE_F_KEYS_ONLY), STORE_EFORMAT);
    struct store_keysel bad = {.kind = 9};
    assert_int_equal(store_cmd_encode_delete(&b, &bad, 0), STORE_EFORMAT);
    static uint8_t bigkey[STORE_KEY_MAX + 1];
    assert_int_equal(store_cmd_encode_put(&b, bigkey, sizeof bigkey, "v", 1, 0), STORE_EFORMAT);
    struct store_op op = {.kind = STORE_OP_PUT, .sel = store_sel_key("k", 1)};
    struct store_cmd txn = {.kind = STORE_CMD_TXN, .success = &op, .success_len = STORE_TXN_OPS_MAX + 1};
    assert_int_equal(store_cmd_encode(&txn, &b), STORE_EFORMAT);
    struct store_cmd nested = {.kind = STORE_CMD_PUT, .op = {.kind = STORE_OP_RANGE, .sel = store_sel_key("k", 1)}};
    assert_int_equal(store_cmd_encode(&nested, &b), STORE_EFORMAT);
    assert_int_equal(b.size, 0);

    /* Hand-made bad inputs. */
    static const uint8_t version2[] = {2, STORE_CMD_COMPACT, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t kind9[] = {1, 9};
    static const uint8_t badflag[] = {1, 1, 1, 0x80, 1, 0, 0, 0, 1, 'k', 0, 0, 0, 0};
    static const uint8_t emptykey[] = {1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t hugecount[] = {1, 4, 0xff, 0xff};
    static const uint8_t longsize[] = {1, 1, 1, 0, 1, 0xff, 0xff, 0xff, 0xff};
    const struct {
        const uint8_t *p;
        size_t n;
    } in[] = {{version2, sizeof version2}, {kind9, sizeof kind9}, {badflag, sizeof badflag},
              {emptykey, sizeof emptykey}, {hugecount, sizeof hugecount}, {longsize, sizeof longsize},
              {NULL, 0}};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        assert_int_equal(store_cmd_decode(&d, in[i].p, in[i].n), STORE_EFORMAT);
    }
    /* The badflag input with flags 0 is valid: the test inputs are real. */
    uint8_t ok[sizeof badflag];
    memcpy(ok, badflag, sizeof ok);
    ok[3] = 0;
    assert_int_equal(store_cmd_decode(&d, ok, sizeof ok), 0);
    assert_int_equal(d.op.sel.key_size, 1);
    store_cmd_destroy(&d);
    buf_destroy(&b);
}

static void test_reply_roundtrip(void **state)
{
    struct store_kv kvs[2] = {
        {.key = (const uint8_t *)"a", .key_size = 1, .value = (const uint8_t *)"xy", .value_size = 2,
         .create_revision = 1, .mod_revision = 2, .version = 3},
        {.key = (const uint8_t *)"b", .key_size = 1, .create_revision = 4, .mod_revision = 5, .version = 6},
    };
    struct store_op_result res[2] = {
        {.kind = STORE_OP_RANGE, .flags = STORE_R_MORE, .count = 10, .kvs = kvs, .kvs_len = 2},
        {.kind = STORE_OP_DELETE, .count = 0},
    };
    struct store_reply r = {.kind = STORE_CMD_TXN, .revision = 9, .succeeded = 1, .compact_revision = 3,
                            .results = res, .results_len = 2};
    struct buf a, b;
    struct store_reply d;
    buf_init(&a, 0);
    buf_init(&b, 0);
    assert_int_equal(store_reply_encode(&r, &a), 0);
    assert_int_equal(store_reply_decode(&d, a.data, a.size), 0);
    assert_int_equal(d.results_len, 2);
    assert_int_equal(d.results[0].kvs_len, 2);
    assert_memory_equal(d.results[0].kvs[0].value, "xy", 2);
    assert_true(d.results[0].kvs[1].version == 6 && d.results[0].count == 10);
    assert_int_equal(store_reply_encode(&d, &b), 0);
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.data, b.data, a.size);
    store_reply_destroy(&d);
    for (size_t cut = 0; cut < a.size; cut++) {
        assert_int_equal(store_reply_decode(&d, a.data, cut), STORE_EFORMAT);
    }
    /* An error reply carries its status. */
    struct store_reply e = {.kind = 0, .status = STORE_EFORMAT, .revision = 4};
    buf_reset(&a);
    assert_int_equal(store_reply_encode(&e, &a), 0);
    assert_int_equal(store_reply_decode(&d, a.data, a.size), 0);
    assert_int_equal(d.status, STORE_EFORMAT);
    store_reply_destroy(&d);
    struct store_reply nokind = {.kind = 0, .status = 0};
    assert_int_equal(store_reply_encode(&nokind, &a), STORE_EFORMAT);
    assert_string_equal(strata_strerror(STORE_ECOMPACTED), "revision has been compacted");
    buf_destroy(&a);
    buf_destroy(&b);
}

static void test_sel_match(void **state)
{
    struct store_keysel k = store_sel_key("ab", 2);
    struct store_keysel iv = store_sel_interval("b", 1, "d", 1);
    struct store_keysel open = store_sel_interval("b", 1, NULL, 0);
    struct store_keysel px = store_sel_prefix("ab", 2);
    struct store_keysel all = store_sel_prefix(NULL, 0);
    assert_true(store_sel_match(&k, (const uint8_t *)"ab", 2));
    assert_false(store_sel_match(&k, (const uint8_t *)"abc", 3));
    assert_true(store_sel_match(&iv, (const uint8_t *)"b", 1));
    assert_true(store_sel_match(&iv, (const uint8_t *)"czz", 3));
    assert_false(store_sel_match(&iv, (const uint8_t *)"d", 1));
    assert_false(store_sel_match(&iv, (const uint8_t *)"a", 1));
    assert_true(store_sel_match(&open, (const uint8_t *)"zzz", 3));
    assert_true(store_sel_match(&px, (const uint8_t *)"abc", 3));
    assert_false(store_sel_match(&px, (const uint8_t *)"a", 1));
    assert_true(store_sel_match(&all, (const uint8_t *)"x", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_roundtrips),
        cmocka_unit_test(test_cmd_rejects),
        cmocka_unit_test(test_reply_roundtrip),
        cmocka_unit_test(test_sel_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

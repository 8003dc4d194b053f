/* Unit tests for the raft entry layouts (store/entry.h) and for applying
 * the commands of a batch entry, which share one raft index: the single
 * layout round-trips and reads like the layout earlier logs hold; batches
 * round-trip for every size; a malformed batch reads as one (bad) command;
 * a batch's commands applied with parts give the same state and hash as
 * the same commands in separate entries, and replaying the entry (alone,
 * or after a later one) changes nothing. */
#include "fsm_fixture.h"

#include "store/entry.h"

/* Encodes 'n' commands, checks the size and padding, reads them back. */
static void roundtrip(const uint8_t *const cmds[], const size_t sizes[], size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += sizes[i];
    }
    size_t len = store_entry_size(n, total);
    assert_int_equal(len % 8, 0);
    uint8_t *out = malloc(len);
    assert_non_null(out);
    assert_int_equal(store_entry_encode(out, cmds, sizes, n), len);
    assert_int_equal(be32_load(out), n == 1 ? (uint32_t)sizes[0] : STORE_ENTRY_BATCH);
    struct store_entry_reader rd;
    const uint8_t *cmd;
    size_t size;
    store_entry_read_init(&rd, out, len);
    for (size_t i = 0; i < n; i++) {
        assert_true(store_entry_read_next(&rd, &cmd, &size));
        assert_int_equal(size, sizes[i]);
        if (size) {
            assert_memory_equal(cmd, cmds[i], size);
        }
        assert_true(cmd >= out && cmd + size <= out + len);
    }
    assert_false(store_entry_read_next(&rd, &cmd, &size));
    free(out);
}

static void test_entry_roundtrips(void **state)
{
    (void)state;
    uint8_t bytes[64];
    for (size_t i = 0; i < sizeof bytes; i++) {
        bytes[i] = (uint8_t)(i * 7 + 1);
    }
    const uint8_t *cmds[6];
    size_t sizes[6];
    for (size_t n = 1; n <= 6; n++) {
        for (size_t base = 0; base < 20; base++) {
            for (size_t i = 0; i < n; i++) {
                cmds[i] = bytes + i;
                sizes[i] = (base + i * 3) % 21; /* includes empty commands */
            }
            roundtrip(cmds, sizes, n);
        }
    }
}

/* Entries written before batches existed: u32 size, command, padding. */
static void test_entry_single_layout(void **state)
{
    (void)state;
    uint8_t e[16] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    struct store_entry_reader rd;
    const uint8_t *cmd;
    size_t size;
    store_entry_read_init(&rd, e, sizeof e);
    assert_true(store_entry_read_next(&rd, &cmd, &size));
    assert_int_equal(size, 5);
    assert_memory_equal(cmd, "hello", 5);
    assert_false(store_entry_read_next(&rd, &cmd, &size));
    /* A size past the end, or fewer than 4 bytes: the whole entry. */
    e[3] = 13;
    store_entry_read_init(&rd, e, sizeof e);
    assert_true(store_entry_read_next(&rd, &cmd, &size));
    assert_true(cmd == e && size == sizeof e);
    assert_false(store_entry_read_next(&rd, &cmd, &size));
    store_entry_read_init(&rd, e, 3);
    assert_true(store_entry_read_next(&rd, &cmd, &size));
    assert_true(cmd == e && size == 3);
    assert_false(store_entry_read_next(&rd, &cmd, &size));
}

/* Every malformed batch reads as exactly one command: the whole entry. */
static void test_entry_malformed_batch(void **state)
{
    (void)state;
    const uint8_t *cmds[2] = {(const uint8_t *)"abc", (const uint8_t *)"defg"}; /* 23 bytes + 1 of padding */
    size_t sizes[2] = {3, 4};
    size_t len = store_entry_size(2, 7);
    uint8_t good[64], bad[64];
    assert_true(len + 8 <= sizeof good);
    assert_int_equal(store_entry_encode(good, cmds, sizes, 2), len);
    struct {
        size_t at;     /* byte to change, or SIZE_MAX */
        uint8_t value;
        size_t len;    /* entry length given to the reader */
    } cases[] = {
        {7, 0, len},       /* count 0 */
        {7, 3, len},       /* count past the commands */
        {7, 1, len},       /* count short of them: leftover bytes */
        {11, 200, len},    /* first size past the end */
        {len - 1, 1, len}, /* non-zero padding */
        {SIZE_MAX, 0, len + 8}, /* 8 or more bytes after the commands */
        {SIZE_MAX, 0, 6},  /* truncated count */
        {SIZE_MAX, 0, 14}, /* truncated command */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(bad, 0, sizeof bad);
        memcpy(bad, good, len);
        if (cases[i].at != SIZE_MAX) {
            bad[cases[i].at] = cases[i].value;
        }
        struct store_entry_reader rd;
        const uint8_t *cmd;
        size_t size;
        store_entry_read_init(&rd, bad, cases[i].len);
        assert_true(store_entry_read_next(&rd, &cmd, &size));
        assert_true(cmd == bad && size == cases[i].len);
        assert_false(store_entry_read_next(&rd, &cmd, &size));
    }
}

#define BATCH 5

/* Applies puts k0..k4 as the parts of raft entry 'index' (one call). */
static void apply_parts(struct fx *f, uint64_t index, struct buf c[BATCH], struct store_result r[BATCH])
{
    struct store_entry e[BATCH];
    for (uint32_t i = 0; i < BATCH; i++) {
        e[i] = (struct store_entry){.index = index, .data = c[i].data, .size = c[i].size, .part = i};
    }
    assert_int_equal(store_fsm_apply_batch(f->fsm, e, BATCH, r), 0);
}

static void test_entry_parts_apply(void **state)
{
    (void)state;
    struct fx a, b;
    fx_init(&a, NULL);
    fx_init(&b, NULL);
    struct buf c[BATCH];
    struct store_result r[BATCH];
    for (int i = 0; i < BATCH; i++) {
        char key[8];
        buf_init(&c[i], 0);
        buf_init(&r[i].reply, 0);
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(store_cmd_encode_put(&c[i], key, 2, "v", 1, 0), 0);
        /* b: one entry per command. */
        assert_int_equal(fx_apply(&b, &c[i]), 0);
    }
    /* a: the same commands as the parts of entry 1. */
    apply_parts(&a, 1, c, r);
    for (int i = 0; i < BATCH; i++) {
        assert_int_equal(r[i].status, 0);
        assert_true(r[i].revision == 1 + (uint64_t)i);
    }
    uint8_t ha[STORE_HASH_SIZE], hb[STORE_HASH_SIZE], h2[STORE_HASH_SIZE];
    uint64_t ra, rb, r2;
    assert_int_equal(store_fsm_hash(a.fsm, &ra, ha), 0);
    assert_int_equal(store_fsm_hash(b.fsm, &rb, hb), 0);
    assert_true(ra == BATCH && rb == BATCH);
    assert_memory_equal(ha, hb, sizeof ha);
    struct store_fsm_status st;
    assert_int_equal(store_fsm_status(a.fsm, &st), 0);
    assert_true(st.applied_index == 1);

    /* Replays of entry 1: alone, and in one batch before entry 2. */
    apply_parts(&a, 1, c, r);
    for (int i = 0; i < BATCH; i++) {
        assert_int_equal(r[i].status, STORE_EAPPLIED);
    }
    assert_int_equal(store_fsm_hash(a.fsm, &r2, h2), 0);
    assert_true(r2 == ra);
    assert_memory_equal(h2, ha, sizeof ha);
    struct store_entry e[2 * BATCH];
    struct store_result r10[2 * BATCH];
    for (uint32_t i = 0; i < 2 * BATCH; i++) {
        buf_init(&r10[i].reply, 0);
        e[i] = (struct store_entry){.index = 1 + i / BATCH, .data = c[i % BATCH].data,
                                    .size = c[i % BATCH].size, .part = i % BATCH};
    }
    assert_int_equal(store_fsm_apply_batch(a.fsm, e, 2 * BATCH, r10), 0);
    for (int i = 0; i < 2 * BATCH; i++) {
        assert_int_equal(r10[i].status, i < BATCH ? STORE_EAPPLIED : 0);
        if (i >= BATCH) {
            assert_true(r10[i].revision == (uint64_t)i + 1); /* overwrites: new revisions */
        }
        buf_destroy(&r10[i].reply);
    }
    assert_int_equal(store_fsm_status(a.fsm, &st), 0);
    assert_true(st.applied_index == 2 && st.revision == 2 * BATCH);
    for (int i = 0; i < BATCH; i++) {
        buf_destroy(&c[i]);
        buf_destroy(&r[i].reply);
    }
    fx_destroy(&a);
    fx_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_roundtrips),
        cmocka_unit_test(test_entry_single_layout),
        cmocka_unit_test(test_entry_malformed_batch),
        cmocka_unit_test(test_entry_parts_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

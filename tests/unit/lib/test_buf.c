/* Unit tests for lib/buf: growth and limits of buffers, and the cursor's
 * promise that every getter fails cleanly on short input without moving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/vec.h"

static void test_put_get_roundtrip(void **state)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_put_u8(&b, 0xab), 0);
    assert_int_equal(buf_put_u16(&b, 0x1234), 0);
    assert_int_equal(buf_put_u32(&b, 0xdeadbeef), 0);
    assert_int_equal(buf_put_u64(&b, 0x0102030405060708ULL), 0);
    assert_int_equal(buf_put(&b, "xyz", 3), 0);
    assert_int_equal(b.size, 1 + 2 + 4 + 8 + 3);

    static const uint8_t expect[] = {0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 'x', 'y', 'z'};
    assert_memory_equal(b.data, expect, sizeof expect);

    struct cursor c;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    char s[3];
    cursor_init(&c, b.data, b.size);
    assert_int_equal(buf_get_u8(&c, &u8), 0);
    assert_int_equal(buf_get_u16(&c, &u16), 0);
    assert_int_equal(buf_get_u32(&c, &u32), 0);
    assert_int_equal(buf_get_u64(&c, &u64), 0);
    assert_int_equal(buf_get_bytes(&c, s, 3), 0);
    assert_int_equal(u8, 0xab);
    assert_int_equal(u16, 0x1234);
    assert_int_equal(u32, 0xdeadbeef);
    assert_true(u64 == 0x0102030405060708ULL);
    assert_memory_equal(s, "xyz", 3);
    assert_int_equal(cursor_remaining(&c), 0);
    assert_int_equal(buf_get_u8(&c, &u8), LIB_ESHORT);
    buf_destroy(&b);
    buf_destroy(NULL);
}

/* For every getter and every input length shorter than it needs: the call
 * returns LIB_ESHORT, leaves the output untouched and the cursor unmoved. */
static void test_every_getter_fails_short(void **state)
{
    static const uint8_t data[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    for (size_t len = 0; len < 8; len++) {
        struct cursor c;
        cursor_init(&c, data, len);
        uint16_t u16 = 0x5555;
        uint32_t u32 = 0x55555555;
        uint64_t u64 = 0x5555555555555555ULL;
        uint8_t u8 = 0x55;
        uint8_t out[9];
        memset(out, 0x55, sizeof out);
        struct cursor sub = {NULL, 0};
        const uint8_t *view = NULL;

        if (len < 1) {
            assert_int_equal(buf_get_u8(&c, &u8), LIB_ESHORT);
            assert_int_equal(u8, 0x55);
        }
        if (len < 2) {
            assert_int_equal(buf_get_u16(&c, &u16), LIB_ESHORT);
            assert_int_equal(u16, 0x5555);
        }
        if (len < 4) {
            assert_int_equal(buf_get_u32(&c, &u32), LIB_ESHORT);
            assert_int_equal(u32, 0x55555555);
        }
        assert_int_equal(buf_get_u64(&c, &u64), LIB_ESHORT);
        assert_true(u64 == 0x5555555555555555ULL);
        assert_int_equal(buf_get_bytes(&c, out, len + 1), LIB_ESHORT);
        for (size_t i = 0; i < sizeof out; i++) {
            assert_int_equal(out[i], 0x55);
        }
        assert_int_equal(buf_get_sub(&c, len + 1, &sub), LIB_ESHORT);
        assert_null(sub.p);
        assert_int_equal(buf_get_view(&c, len + 1, &view), LIB_ESHORT);
        assert_null(view);
        assert_int_equal(buf_skip(&c, len + 1), LIB_ESHORT);
        assert_int_equal(buf_skip(&c, SIZE_MAX), LIB_ESHORT);
        assert_ptr_equal(c.p, data);
        assert_int_equal(cursor_remaining(&c), len);
    }
}

static void test_sub_cursor_is_bounded(void **state)
{
    static const uint8_t data[] = {0, 3, 'a', 'b', 'c', 0xff};
    struct cursor c, sub;
    uint16_t len;
    uint8_t tmp[4];
    cursor_init(&c, data, sizeof data);
    assert_int_equal(buf_get_u16(&c, &len), 0);
    assert_int_equal(buf_get_sub(&c, len, &sub), 0);
    assert_int_equal(cursor_remaining(&sub), 3);
    /* The sub-cursor cannot read into the parent's next byte. */
    assert_int_equal(buf_get_bytes(&sub, tmp, 4), LIB_ESHORT);
    assert_int_equal(buf_get_bytes(&sub, tmp, 3), 0);
    assert_memory_equal(tmp, "abc", 3);
    assert_int_equal(cursor_remaining(&c), 1);
}

static void test_null_cursor(void **state)
{
    struct cursor c;
    uint8_t v;
    cursor_init(&c, NULL, 100);
    assert_int_equal(cursor_remaining(&c), 0);
    assert_int_equal(buf_get_u8(&c, &v), LIB_ESHORT);
}

static void test_limit(void **state)
{
    struct buf b;
    uint8_t *at = NULL;
    buf_init(&b, 10);
    assert_int_equal(buf_put(&b, "0123456789", 10), 0);
    assert_int_equal(buf_put_u8(&b, 1), LIB_ETOOBIG);
    assert_int_equal(b.size, 10);
    assert_true(b.cap <= 10);
    buf_consume(&b, 4);
    assert_int_equal(b.size, 6);
    assert_memory_equal(b.data, "456789", 6);
    assert_int_equal(buf_put_space(&b, 4, &at), 0);
    assert_ptr_equal(at, b.data + 6);
    be32_store(at, 0x01020304);
    assert_int_equal(be32_load(b.data + 6), 0x01020304);
    assert_int_equal(buf_reserve(&b, SIZE_MAX), LIB_ETOOBIG);
    buf_consume(&b, 100);
    assert_int_equal(b.size, 0);
    buf_destroy(&b);
}

static void test_steal(void **state)
{
    struct buf b;
    size_t size = 99;
    buf_init(&b, 0);
    assert_null(buf_steal(&b, &size));
    assert_int_equal(size, 0);
    assert_int_equal(buf_put(&b, "hello", 5), 0);
    uint8_t *p = buf_steal(&b, &size);
    assert_non_null(p);
    assert_int_equal(size, 5);
    assert_memory_equal(p, "hello", 5);
    assert_null(b.data);
    assert_int_equal(b.size, 0);
    free(p);
    /* Growth across many doublings keeps contents. */
    for (uint32_t i = 0; i < 10000; i++) {
        assert_int_equal(buf_put_u32(&b, i), 0);
    }
    for (uint32_t i = 0; i < 10000; i++) {
        assert_int_equal(be32_load(b.data + 4 * i), i);
    }
    buf_destroy(&b);
}

static void test_be_helpers(void **state)
{
    uint8_t m[8];
    be16_store(m, 0xbeef);
    assert_int_equal(m[0], 0xbe);
    assert_int_equal(m[1], 0xef);
    be64_store(m, 0x1122334455667788ULL);
    assert_int_equal(m[0], 0x11);
    assert_int_equal(m[7], 0x88);
    assert_true(be64_load(m) == 0x1122334455667788ULL);
    assert_int_equal(be16_load(m), 0x1122);
}

/* vec_grow: the first growth gives 'first' slots, each later one doubles
 * and keeps the elements; a free slot returns the array as it is; a size
 * that would overflow is refused with the array and its slots unchanged. */
static void test_vec_grow(void **state)
{
    (void)state;
    int *v = NULL;
    size_t cap = 0, len = 0;
    for (int i = 0; i < 100; i++) {
        int *g = vec_grow(v, &cap, len, sizeof *v, 4);
        assert_non_null(g);
        v = g;
        v[len++] = i;
        size_t want = 4;
        while (want < len) {
            want *= 2;
        }
        assert_int_equal(cap, want);
    }
    for (int i = 0; i < 100; i++) {
        assert_int_equal(v[i], i);
    }
    assert_ptr_equal(vec_grow(v, &cap, 99, sizeof *v, 4), v); /* 128 slots, 99 used */
    size_t huge = SIZE_MAX / 2 + 1;
    assert_null(vec_grow(v, &huge, huge, 1, 4)); /* doubling wraps */
    assert_int_equal(huge, SIZE_MAX / 2 + 1);
    size_t big = SIZE_MAX / 16;
    assert_null(vec_grow(v, &big, big, 16, 4)); /* bytes overflow */
    assert_int_equal(big, SIZE_MAX / 16);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_roundtrip),
        cmocka_unit_test(test_every_getter_fails_short),
        cmocka_unit_test(test_sub_cursor_is_bounded),
        cmocka_unit_test(test_null_cursor),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_steal),
        cmocka_unit_test(test_be_helpers),
        cmocka_unit_test(test_vec_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

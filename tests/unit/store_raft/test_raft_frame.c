/* Unit tests for store/raft_frame: valid libraft frames pass in any
 * chunking; every cap and layout violation is caught before the frame's
 * payload, and the error is sticky. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "store/raft_frame.h"
#include "tests/unit/store_raft/frames.h"

static int feed_chunked(struct raft_frame_check *c, const struct buf *b, size_t chunk)
{
    for (size_t off = 0; off < b->size; off += chunk) {
        size_t n = b->size - off < chunk ? b->size - off : chunk;
        int rc = raft_frame_check_feed(c, b->data + off, n);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static void test_valid_stream_any_chunking(void **state)
{
    struct buf b;
    uint32_t sizes[3] = {8, 64, 4096};
    buf_init(&b, 0);
    frames_request_vote(&b);
    frames_append_entries(&b, 3, sizes);
    frames_append_entries(&b, 0, NULL); /* heartbeat */
    frames_install_snapshot(&b, 24, 1000);
    frames_request_vote(&b);

    static const size_t chunks[] = {1, 3, 16, 17, 4096, 1 << 20};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        struct raft_frame_check c;
        raft_frame_check_init(&c, NULL);
        assert_int_equal(feed_chunked(&c, &b, chunks[i]), 0);
        assert_int_equal(c.frames, 5);
        assert_int_equal(c.phase, RAFT_FRAME_PREAMBLE);
        assert_int_equal(c.preamble_have, 0);
        raft_frame_check_destroy(&c);
    }
    buf_destroy(&b);
}

static int check_one(struct buf *b, const struct raft_frame_limits *l)
{
    struct raft_frame_check c;
    raft_frame_check_init(&c, l);
    int rc = raft_frame_check_feed(&c, b->data, b->size);
    raft_frame_check_destroy(&c);
    buf_reset(b);
    return rc;
}

static void test_rejects(void **state)
{
    struct buf b;
    buf_init(&b, 0);

    /* Unknown types. */
    frames_le64(&b, 0);
    frames_le64(&b, 8);
    assert_int_equal(check_one(&b, NULL), RAFT_FRAME_ETYPE);
    frames_le64(&b, 7);
    frames_le64(&b, 8);
    assert_int_equal(check_one(&b, NULL), RAFT_FRAME_ETYPE);

    /* A header size libraft would malloc blindly. */
    frames_le64(&b, 1);
    frames_le64(&b, UINT64_MAX);
    assert_int_equal(check_one(&b, NULL), RAFT_FRAME_EHEADER);
    frames_le64(&b, 3);
    frames_le64(&b, 0);
    assert_int_equal(check_one(&b, NULL), RAFT_FRAME_EHEADER);
    /* A RequestVote header too short for libraft's unchecked decoder. */
    frames_le64(&b, 3);
    frames_le64(&b, 8);
    assert_int_equal(check_one(&b, NULL), RAFT_FRAME_EHEADER);
    frames_le64(&b, 4);
    frames_le64(&b, 4096);
    assert_int_equal(check_one(&b, NULL), RAFT_FRAME_EHEADER);

    /* AppendEntries whose count does not fit its header. */
    frames_le64(&b, 1);
    frames_le64(&b, 40);
    for (int i = 0; i < 4; i++) {
        frames_le64(&b, 0);
    }
    frames_le64(&b, 2);
    assert_int_equal(check_one(&b, NULL), RAFT_FRAME_ELAYOUT);

    /* Entry sizes must be multiples of 8: libraft slices in 8-byte steps. */
    uint32_t odd[1] = {13};
    frames_append_entries(&b, 1, odd);
    assert_int_equal(check_one(&b, NULL), RAFT_FRAME_ELAYOUT);

    /* Caps on entries and payload. */
    struct raft_frame_limits l;
    raft_frame_limits_default(&l);
    l.max_entries = 2;
    uint32_t three[3] = {8, 8, 8};
    frames_append_entries(&b, 3, three);
    assert_int_equal(check_one(&b, &l), RAFT_FRAME_EENTRIES);
    raft_frame_limits_default(&l);
    l.max_payload = 1024;
    uint32_t big[2] = {512, 1024};
    frames_append_entries(&b, 2, big);
    assert_int_equal(check_one(&b, &l), RAFT_FRAME_EPAYLOAD);

    /* InstallSnapshot: configuration larger than the header, data cap. */
    frames_le64(&b, 5);
    frames_le64(&b, 48);
    for (int i = 0; i < 4; i++) {
        frames_le64(&b, 0);
    }
    frames_le64(&b, 1000);
    frames_le64(&b, 0);
    assert_int_equal(check_one(&b, NULL), RAFT_FRAME_ELAYOUT);
    raft_frame_limits_default(&l);
    l.max_snapshot = 100;
    frames_install_snapshot(&b, 8, 101);
    assert_int_equal(check_one(&b, &l), RAFT_FRAME_EPAYLOAD);

    buf_destroy(&b);
}

static void test_error_is_sticky_and_early(void **state)
{
    struct buf b;
    struct raft_frame_check c;
    buf_init(&b, 0);
    raft_frame_check_init(&c, NULL);
    frames_le64(&b, 9);
    frames_le64(&b, 8);
    /* The bad preamble is caught at its 16th byte, before any header. */
    assert_int_equal(raft_frame_check_feed(&c, b.data, 15), 0);
    assert_int_equal(raft_frame_check_feed(&c, b.data + 15, 1), RAFT_FRAME_ETYPE);
    buf_reset(&b);
    frames_request_vote(&b);
    assert_int_equal(raft_frame_check_feed(&c, b.data, b.size), RAFT_FRAME_ETYPE);
    assert_int_equal(c.frames, 0);
    assert_string_equal(strata_strerror(RAFT_FRAME_ETYPE), "raft frame: unknown message type");
    raft_frame_check_destroy(&c);
    buf_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_stream_any_chunking),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_error_is_sticky_and_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

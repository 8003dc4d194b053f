/* Unit tests for the leader's deferred appends (store/append_queue.h),
 * against a recording stand-in for raft_uv's append: an append starts only
 * once it has waited the given number of passes; appends start in the
 * order they were queued, across passes and when everything is started at
 * once (as before a truncate or a follower's append); the request, entries
 * and callback reach the real append unchanged; an append the real one
 * refuses gets its callback with that code and the later ones still start;
 * nothing is lost when the queue empties and fills again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "store/append_queue.h"

#define REC_MAX 64

/* What the stand-in append saw, and the callbacks that ran. */
static struct {
    struct raft_io_append *req[REC_MAX];
    const struct raft_entry *entries[REC_MAX];
    unsigned n[REC_MAX];
    size_t len;
    int refuse_at; /* the call number that returns RAFT_IOERR, or -1 */
    struct raft_io_append *cb_req[REC_MAX];
    int cb_status[REC_MAX];
    size_t cb_len;
} rec;

static int fake_append(struct raft_io *io, struct raft_io_append *req, const struct raft_entry entries[],
                       unsigned n, raft_io_append_cb cb)
{
    (void)io;
    (void)cb;
    assert_true(rec.len < REC_MAX);
    size_t call = rec.len;
    rec.req[call] = req;
    rec.entries[call] = entries;
    rec.n[call] = n;
    rec.len++;
    return (int)call == rec.refuse_at ? RAFT_IOERR : 0;
}

static void append_cb(struct raft_io_append *req, int status)
{
    assert_true(rec.cb_len < REC_MAX);
    rec.cb_req[rec.cb_len] = req;
    rec.cb_status[rec.cb_len] = status;
    rec.cb_len++;
}

static int setup(void **state)
{
    (void)state;
    rec.len = 0;
    rec.cb_len = 0;
    rec.refuse_at = -1;
    return 0;
}

static void test_waits_the_passes(void **state)
{
    (void)state;
    struct store_append_queue q;
    struct raft_io io = {0};
    struct raft_io_append req = {0};
    struct raft_entry entries[2] = {{.term = 1}, {.term = 1}};
    store_append_queue_init(&q);
    assert_true(store_append_queue_empty(&q));
    assert_int_equal(store_append_queue_push(&q, &req, entries, 2, append_cb), 0);
    assert_false(store_append_queue_empty(&q));
    /* Same pass, then one pass later: not yet. */
    assert_int_equal(store_append_queue_run(&q, &io, fake_append, 2), 0);
    store_append_queue_pass(&q);
    assert_int_equal(store_append_queue_run(&q, &io, fake_append, 2), 0);
    assert_int_equal(rec.len, 0);
    store_append_queue_pass(&q);
    assert_int_equal(store_append_queue_run(&q, &io, fake_append, 2), 1);
    assert_int_equal(rec.len, 1);
    assert_ptr_equal(rec.req[0], &req);
    assert_ptr_equal(rec.entries[0], entries);
    assert_int_equal(rec.n[0], 2);
    assert_int_equal(rec.cb_len, 0); /* the real append calls back, not the queue */
    assert_true(store_append_queue_empty(&q));
}

static void test_order_across_passes(void **state)
{
    (void)state;
    struct store_append_queue q;
    struct raft_io io = {0};
    struct raft_io_append reqs[6];
    struct raft_entry entry = {.term = 3};
    store_append_queue_init(&q);
    /* Two per pass for three passes. */
    for (int i = 0; i < 6; i++) {
        assert_int_equal(store_append_queue_push(&q, &reqs[i], &entry, 1, append_cb), 0);
        if (i % 2 == 1) {
            store_append_queue_pass(&q);
        }
    }
    /* Now pass 3: those of passes 0 and 1 are at least 2 old. */
    assert_int_equal(store_append_queue_run(&q, &io, fake_append, 2), 4);
    assert_int_equal(rec.len, 4);
    for (int i = 0; i < 4; i++) {
        assert_ptr_equal(rec.req[i], &reqs[i]);
    }
    store_append_queue_pass(&q);
    assert_int_equal(store_append_queue_run(&q, &io, fake_append, 2), 2);
    assert_int_equal(rec.len, 6);
    assert_ptr_equal(rec.req[4], &reqs[4]);
    assert_ptr_equal(rec.req[5], &reqs[5]);
    assert_true(store_append_queue_empty(&q));
}

static void test_run_all_keeps_order(void **state)
{
    (void)state;
    struct store_append_queue q;
    struct raft_io io = {0};
    struct raft_io_append reqs[3];
    struct raft_entry entry = {.term = 2};
    store_append_queue_init(&q);
    assert_int_equal(store_append_queue_push(&q, &reqs[0], &entry, 1, append_cb), 0);
    store_append_queue_pass(&q);
    assert_int_equal(store_append_queue_push(&q, &reqs[1], &entry, 1, append_cb), 0);
    assert_int_equal(store_append_queue_push(&q, &reqs[2], &entry, 1, append_cb), 0);
    /* min_age 0: everything, at once, oldest first (before a truncate). */
    assert_int_equal(store_append_queue_run(&q, &io, fake_append, 0), 3);
    for (int i = 0; i < 3; i++) {
        assert_ptr_equal(rec.req[i], &reqs[i]);
    }
    assert_true(store_append_queue_empty(&q));
    assert_int_equal(store_append_queue_run(&q, &io, fake_append, 0), 0);
    /* The queue works again after emptying. */
    assert_int_equal(store_append_queue_push(&q, &reqs[0], &entry, 1, append_cb), 0);
    assert_int_equal(store_append_queue_run(&q, &io, fake_append, 0), 1);
    assert_int_equal(rec.len, 4);
    assert_ptr_equal(rec.req[3], &reqs[0]);
}

static void test_refused_append_calls_back(void **state)
{
    (void)state;
    struct store_append_queue q;
    struct raft_io io = {0};
    struct raft_io_append reqs[3];
    struct raft_entry entry = {.term = 4};
    store_append_queue_init(&q);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_append_queue_push(&q, &reqs[i], &entry, 1, append_cb), 0);
    }
    rec.refuse_at = 1;
    assert_int_equal(store_append_queue_run(&q, &io, fake_append, 0), 3);
    assert_int_equal(rec.len, 3); /* the third still started, after the refusal */
    assert_ptr_equal(rec.req[2], &reqs[2]);
    assert_int_equal(rec.cb_len, 1);
    assert_ptr_equal(rec.cb_req[0], &reqs[1]);
    assert_int_equal(rec.cb_status[0], RAFT_IOERR);
    assert_true(store_append_queue_empty(&q));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_waits_the_passes, setup),
        cmocka_unit_test_setup(test_order_across_passes, setup),
        cmocka_unit_test_setup(test_run_all_keeps_order, setup),
        cmocka_unit_test_setup(test_refused_append_calls_back, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Allocation-failure tests of routing/bgp: malloc, calloc and realloc are
 * wrapped at link time (-Wl,--wrap) so that the n-th allocation made by the
 * codec or the state machine fails. For every sample message and every n,
 * decoding either succeeds having met no failure, or fails cleanly with
 * BGP_ERR_NOMEM, the Cease/out-of-resources NOTIFICATION and nothing owned;
 * encoding fails with the buffer unchanged; a session whose UPDATE cannot
 * be decoded for lack of memory ends with Cease 6/8. valgrind and ASAN (the
 * test's other runs) prove that no path leaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "routing/bgp/bgp_fsm.h"
#include "routing/bgp/bgp_msg.h"
#include "tests/unit/bgp/bgp_samples.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static long fail_at = -1; /* index of the allocation to fail, -1: none */
static long calls;

static int alloc_fails(void)
{
    return fail_at >= 0 && calls++ == fail_at;
}

void *__wrap_malloc(size_t size)
{
    return alloc_fails() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return alloc_fails() ? NULL : __real_realloc(p, size);
}

static void arm(long n)
{
    fail_at = n;
    calls = 0;
}

static void test_decode_nomem(void **state)
{
    struct bgp_codec_opts opts[2] = {{.as4 = false, .families = BGP_FAM_ALL},
                                     {.as4 = true, .families = BGP_FAM_ALL}};
    long injected = 0;
    for (size_t s = 0; s < BGP_SAMPLE_COUNT; s++) {
        for (int o = 0; o < 2; o++) {
            for (long n = 0;; n++) {
                struct bgp_msg m;
                struct bgp_notification err;
                arm(n);
                int rc = bgp_msg_decode(bgp_samples[s].wire, bgp_samples[s].size, &opts[o], &m, &err);
                long made = calls;
                arm(-1);
                if (rc == 0) {
                    bgp_msg_destroy(&m);
                    assert_true(made <= n); /* succeeded only if nothing failed */
                    break;
                }
                if (rc != BGP_ERR_NOMEM) {
                    /* Samples decoded with the other session type may be
                     * refused on their merits: then no allocation failed. */
                    assert_true(made <= n);
                    break;
                }
                injected++;
                assert_int_equal(err.code, BGP_NOTIFY_CEASE);
                assert_int_equal(err.subcode, 8);
                assert_null(m.owned);
            }
        }
    }
    assert_true(injected > 40);
}

static void test_encode_nomem(void **state)
{
    for (size_t s = 0; s < BGP_SAMPLE_COUNT; s++) {
        struct bgp_msg m;
        assert_int_equal(bgp_msg_decode(bgp_samples[s].wire, bgp_samples[s].size, NULL, &m, NULL) == 0 ||
                             bgp_msg_decode(bgp_samples[s].wire, bgp_samples[s].size,
                                            &(struct bgp_codec_opts){.as4 = true, .families = BGP_FAM_ALL}, &m,
                                            NULL) == 0,
                         1);
        for (long n = 0;; n++) {
            struct buf b;
            buf_init(&b, 0);
            assert_int_equal(buf_put(&b, "x", 1), 0);
            arm(n);
            int rc = bgp_msg_encode(&m, NULL, &b);
            long made = calls;
            arm(-1);
            if (rc == 0) {
                assert_true(made <= n);
                buf_destroy(&b);
                break;
            }
            assert_int_equal(rc, LIB_ENOMEM);
            assert_int_equal(b.size, 1);
            buf_destroy(&b);
        }
        bgp_msg_destroy(&m);
    }
}

struct sink {
    uint8_t last[BGP_MAX_MSG_SIZE];
    size_t size;
    int downs;
};

static int sink_send(void *ctx, const uint8_t *data, size_t size)
{
    struct sink *k = ctx;
    memcpy(k->last, data, size);
    k->size = size;
    return 0;
}

static void sink_nop(void *ctx)
{
}

static void sink_down(void *ctx, const struct bgp_fsm_down *d)
{
    struct sink *k = ctx;
    k->downs++;
}

static void test_fsm_nomem(void **state)
{
    struct sink k = {0};
    struct bgp_fsm_io io = {.ctx = &k, .send = sink_send, .connect = sink_nop, .close = sink_nop,
                            .down = sink_down};
    struct bgp_fsm_config cfg = {.local_as = 65000, .local_id = 7, .families = BGP_FAM_ALL};
    struct bgp_fsm *f = NULL;
    arm(0);
    int rc = bgp_fsm_create(&cfg, &io, &f);
    arm(-1);
    assert_int_equal(rc, BGP_ERR_NOMEM);
    assert_null(f);
    assert_int_equal(bgp_fsm_create(&cfg, &io, &f), 0);
    bgp_fsm_start(f, 0);
    bgp_fsm_tcp_connected(f, 0);
    /* Peer OPEN (AS 65001, no capabilities) and KEEPALIVE. */
    static const uint8_t open[] = {MARKER, 0x00, 0x1D, 0x01, 0x04, 0xFD, 0xE9, 0x00, 0x5A, 0x0A, 0x00, 0x00, 0x02,
                                   0x00};
    bgp_fsm_recv(f, 1, open, sizeof open);
    bgp_fsm_recv(f, 1, w_keepalive, sizeof w_keepalive);
    assert_int_equal(bgp_fsm_state(f), BGP_ESTABLISHED);
    /* The UPDATE's decoding runs out of memory: Cease 6/8, session down. */
    arm(1);
    bgp_fsm_recv(f, 2, w_update_v4, sizeof w_update_v4);
    arm(-1);
    assert_int_equal(bgp_fsm_state(f), BGP_IDLE);
    assert_int_equal(k.downs, 1);
    assert_int_equal(k.last[18], BGP_MSG_NOTIFICATION);
    assert_int_equal(k.last[19], BGP_NOTIFY_CEASE);
    assert_int_equal(k.last[20], 8);
    bgp_fsm_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_nomem),
        cmocka_unit_test(test_encode_nomem),
        cmocka_unit_test(test_fsm_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

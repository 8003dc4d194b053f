/* Unit tests of the shared-memory rings between strata-vrouter and its agent
 * (vrouter/msg/ring.c), both ends in one process on two separate mappings
 * of the same memfd, as the two processes have them. They prove that
 * records cross in order with their sizes through many wrap-arounds of the
 * slots and of the 32-bit indexes; that a full ring refuses (counted, the
 * consumer then told the producer waits) and never overwrites; that
 * records of bad size are skipped and counted, and indexes a broken peer
 * moved out of range are reported as corruption, never followed; that the
 * sleep / wake handshake asks for a wake-up only when the consumer sleeps
 * and never lets it sleep on a record; that the agent's end refuses a
 * memfd that is not sealed against shrinking or is too small; that a
 * consumer that went away leaves the producer refusing, not blocked; and
 * that two channels never share memory. */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vrouter/msg/ring.h"

#define SLOTS VR_RING_SLOTS_MIN

/* The shared header's words, as ring.c lays them out (one per cache line). */
#define HDR_HEAD 0
#define HDR_TAIL 64
#define HDR_SLEEPING 128
#define HDR_WANT_SPACE 192

struct pair {
    struct vr_ring_chan dp;    /* the datapath's end */
    struct vr_ring_chan agent; /* the agent's end: its own mapping */
};

static void pair_open(struct pair *p)
{
    assert_int_equal(vr_ring_chan_create(SLOTS, &p->dp), 0);
    assert_int_equal(vr_ring_chan_open(dup(p->dp.memfd), dup(p->dp.efd_down), dup(p->dp.efd_up), SLOTS, &p->agent),
                     0);
    assert_ptr_not_equal(p->dp.map, p->agent.map);
}

static void pair_close(struct pair *p)
{
    vr_ring_chan_close(&p->agent);
    vr_ring_chan_close(&p->dp);
}

static uint32_t *hdr_word(struct vr_ring *r, size_t off)
{
    return (uint32_t *)((uint8_t *)r->hdr + off);
}

/* A record of 'size' bytes whose bytes are derived from 'n'. */
static void fill(uint8_t *b, size_t size, uint32_t n)
{
    for (size_t i = 0; i < size; i++) {
        b[i] = (uint8_t)(n * 31 + i);
    }
}

static size_t size_of(uint32_t n)
{
    return VR_MSG_HDR_SIZE + (n * 97) % (VR_MSG_MAX - VR_MSG_HDR_SIZE + 1);
}

static int readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void test_records_cross_in_order_through_wrap_around(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    uint8_t in[VR_MSG_MAX], out[VR_MSG_MAX];
    uint32_t sent = 0, got = 0;
    /* bursts of every length up to the ring's size: 2,000 records, 31 times round the slots */
    for (uint32_t burst = 1; sent < 2000; burst = burst % SLOTS + 1) {
        for (uint32_t i = 0; i < burst; i++, sent++) {
            fill(in, size_of(sent), sent);
            assert_int_equal(vr_ring_put(&p.agent.up, in, size_of(sent)), 0);
        }
        for (;;) {
            size_t size = 0;
            int rc = vr_ring_get(&p.dp.up, out, &size);
            if (rc == VR_RING_EEMPTY) {
                break;
            }
            assert_int_equal(rc, 0);
            assert_int_equal(size, size_of(got));
            fill(in, size, got);
            assert_memory_equal(out, in, size);
            got++;
        }
        assert_int_equal(got, sent);
    }
    /* the other direction, encoded in place (reserve / commit) */
    int err = 1;
    uint8_t *slot = vr_ring_reserve(&p.dp.down, &err);
    assert_non_null(slot);
    assert_int_equal(err, 0);
    fill(slot, 100, 7);
    vr_ring_commit(&p.dp.down, 100);
    size_t size = 0;
    assert_int_equal(vr_ring_get(&p.agent.down, out, &size), 0);
    assert_int_equal(size, 100);
    fill(in, 100, 7);
    assert_memory_equal(out, in, 100);
    assert_int_equal(vr_ring_get(&p.agent.down, out, &size), VR_RING_EEMPTY);
    pair_close(&p);
}

static void test_indexes_wrap_at_32_bits(void **state)
{
    (void)state;
    struct vr_ring_chan dp, agent;
    assert_int_equal(vr_ring_chan_create(SLOTS, &dp), 0);
    /* both ends start just below the 32-bit wrap (ends read the header's
     * indexes when they map it) */
    *hdr_word(&dp.up, HDR_HEAD) = UINT32_MAX - 5;
    *hdr_word(&dp.up, HDR_TAIL) = UINT32_MAX - 5;
    dp.up.pos = dp.up.peer = UINT32_MAX - 5;
    assert_int_equal(vr_ring_chan_open(dup(dp.memfd), dup(dp.efd_down), dup(dp.efd_up), SLOTS, &agent), 0);
    assert_int_equal(agent.up.pos, UINT32_MAX - 5);
    uint8_t in[64], out[VR_MSG_MAX];
    for (uint32_t n = 0; n < SLOTS; n++) { /* fills the ring across the wrap */
        fill(in, 20, n);
        assert_int_equal(vr_ring_put(&agent.up, in, 20), 0);
    }
    assert_int_equal(vr_ring_put(&agent.up, in, 20), VR_RING_EFULL);
    for (uint32_t n = 0; n < SLOTS; n++) {
        size_t size = 0;
        assert_int_equal(vr_ring_get(&dp.up, out, &size), 0);
        fill(in, 20, n);
        assert_memory_equal(out, in, 20);
    }
    assert_true(dp.up.pos < 100); /* wrapped */
    size_t size = 0;
    assert_int_equal(vr_ring_get(&dp.up, out, &size), VR_RING_EEMPTY);
    vr_ring_chan_close(&agent);
    vr_ring_chan_close(&dp);
}

static void test_full_ring_refuses_and_asks_for_room(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    uint8_t in[VR_MSG_MAX], out[VR_MSG_MAX];
    for (uint32_t n = 0; n < SLOTS; n++) {
        fill(in, 40, n);
        assert_int_equal(vr_ring_put(&p.agent.up, in, 40), 0);
    }
    assert_int_equal(vr_ring_producer_waits(&p.dp.up), 0);
    fill(in, 40, 999);
    assert_int_equal(vr_ring_put(&p.agent.up, in, 40), VR_RING_EFULL);
    assert_int_equal(vr_ring_put(&p.agent.up, in, 40), VR_RING_EFULL);
    assert_int_equal(p.agent.up.full, 2);
    int err = 0;
    assert_null(vr_ring_reserve(&p.agent.up, &err));
    assert_int_equal(err, VR_RING_EFULL);
    /* sizes out of bounds are refused before the ring is looked at */
    assert_int_equal(vr_ring_put(&p.agent.up, in, VR_MSG_HDR_SIZE - 1), VR_RING_EINVAL);
    assert_int_equal(vr_ring_put(&p.agent.up, in, VR_MSG_MAX + 1), VR_RING_EINVAL);
    /* the oldest record is intact: nothing was overwritten */
    size_t size = 0;
    assert_int_equal(vr_ring_get(&p.dp.up, out, &size), 0);
    fill(in, 40, 0);
    assert_memory_equal(out, in, 40);
    /* the consumer sees the producer waits (once), and room is there */
    assert_int_equal(vr_ring_producer_waits(&p.dp.up), 1);
    assert_int_equal(vr_ring_producer_waits(&p.dp.up), 0);
    fill(in, 40, 999);
    assert_int_equal(vr_ring_put(&p.agent.up, in, 40), 0);
    assert_int_equal(vr_ring_put(&p.agent.up, in, 40), VR_RING_EFULL);
    for (uint32_t n = 1; n <= SLOTS; n++) {
        assert_int_equal(vr_ring_get(&p.dp.up, out, &size), 0);
        fill(in, 40, n < SLOTS ? n : 999);
        assert_memory_equal(out, in, 40);
    }
    pair_close(&p);
}

static void test_malformed_records_are_skipped(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    uint8_t in[VR_MSG_MAX], out[VR_MSG_MAX];
    fill(in, 30, 1);
    assert_int_equal(vr_ring_put(&p.agent.up, in, 30), 0);
    assert_int_equal(vr_ring_put(&p.agent.up, in, 30), 0);
    assert_int_equal(vr_ring_put(&p.agent.up, in, 30), 0);
    assert_int_equal(vr_ring_put(&p.agent.up, in, 30), 0);
    /* a broken agent rewrites the sizes of published records */
    uint32_t bad[] = {0, VR_MSG_HDR_SIZE - 1, VR_MSG_MAX + 1};
    for (size_t i = 0; i < 3; i++) {
        memcpy(p.agent.up.slots + i * VR_RING_SLOT_SIZE, &bad[i], 4);
    }
    size_t size = 0;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(vr_ring_get(&p.dp.up, out, &size), VR_RING_EMALFORMED);
    }
    assert_int_equal(p.dp.up.malformed, 3);
    assert_int_equal(vr_ring_get(&p.dp.up, out, &size), 0);
    assert_int_equal(size, 30);
    assert_memory_equal(out, in, 30);
    assert_int_equal(vr_ring_get(&p.dp.up, out, &size), VR_RING_EEMPTY);
    pair_close(&p);
}

static void test_indexes_out_of_range_are_corruption(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    uint8_t in[64], out[VR_MSG_MAX];
    fill(in, 20, 0);
    size_t size = 0;
    /* a producer index more than the slots ahead of the consumer */
    *hdr_word(&p.agent.up, HDR_HEAD) = SLOTS + 1;
    assert_int_equal(vr_ring_get(&p.dp.up, out, &size), VR_RING_ECORRUPT);
    assert_int_equal(vr_ring_get(&p.dp.up, out, &size), VR_RING_ECORRUPT); /* and it stays so */
    assert_int_equal(p.dp.up.pos, 0);
    /* behind the consumer: as far out */
    *hdr_word(&p.agent.up, HDR_HEAD) = UINT32_MAX;
    assert_int_equal(vr_ring_get(&p.dp.up, out, &size), VR_RING_ECORRUPT);
    /* a consumer index past what the producer published (the agent's tail
     * of the punt ring): found when the producer next looks at it, once
     * its own view of the ring is full, and never taken for room */
    *hdr_word(&p.agent.down, HDR_TAIL) = SLOTS * 3;
    uint32_t n = 0;
    while (vr_ring_put(&p.dp.down, in, 20) == 0) {
        n++;
    }
    assert_int_equal(n, SLOTS);
    assert_int_equal(vr_ring_put(&p.dp.down, in, 20), VR_RING_ECORRUPT);
    int err = 0;
    assert_null(vr_ring_reserve(&p.dp.down, &err));
    assert_int_equal(err, VR_RING_ECORRUPT);
    pair_close(&p);
}

static void test_sleep_and_wake(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    uint8_t in[64], out[VR_MSG_MAX];
    fill(in, 20, 0);
    size_t size = 0;
    /* awake: no wake-up is asked for */
    assert_int_equal(vr_ring_consumer_sleeps(&p.dp.down), 0);
    /* the agent goes to sleep on an empty ring */
    assert_int_equal(vr_ring_prepare_sleep(&p.agent.down), 1);
    assert_int_equal(vr_ring_put(&p.dp.down, in, 20), 0);
    assert_int_equal(vr_ring_consumer_sleeps(&p.dp.down), 1);
    vr_ring_signal(p.dp.efd_down);
    assert_true(readable(p.agent.efd_down));
    vr_ring_drain(p.agent.efd_down);
    assert_false(readable(p.agent.efd_down));
    vr_ring_awake(&p.agent.down);
    assert_int_equal(vr_ring_consumer_sleeps(&p.dp.down), 0);
    /* a record that came before the consumer sleeps keeps it awake */
    assert_int_equal(vr_ring_prepare_sleep(&p.agent.down), 0);
    assert_int_equal(vr_ring_consumer_sleeps(&p.dp.down), 0);
    assert_int_equal(vr_ring_get(&p.agent.down, out, &size), 0);
    assert_int_equal(vr_ring_prepare_sleep(&p.agent.down), 1);
    /* the other direction has its own flag and eventfd */
    assert_int_equal(vr_ring_consumer_sleeps(&p.agent.up), 0);
    assert_int_equal(vr_ring_prepare_sleep(&p.dp.up), 1);
    assert_int_equal(vr_ring_consumer_sleeps(&p.agent.up), 1);
    vr_ring_signal(p.agent.efd_up);
    assert_true(readable(p.dp.efd_up));
    assert_false(readable(p.dp.efd_down));
    pair_close(&p);
}

static void test_agent_end_checks_the_memfd(void **state)
{
    (void)state;
    struct vr_ring_chan dp, agent;
    assert_int_equal(vr_ring_chan_create(SLOTS, &dp), 0);
    /* sealed: the agent cannot shrink or grow it */
    assert_int_not_equal(ftruncate(dp.memfd, 4096), 0);
    /* an unsealed memfd (one the agent itself could shrink) is refused */
    int un = memfd_create("unsealed", MFD_CLOEXEC);
    assert_true(un >= 0);
    assert_int_equal(ftruncate(un, (off_t)vr_ring_map_size(SLOTS)), 0);
    assert_int_equal(vr_ring_chan_open(un, dup(dp.efd_down), dup(dp.efd_up), SLOTS, &agent), VR_RING_EINVAL);
    assert_int_equal(agent.memfd, -1);
    /* sealed but smaller than the slot count says */
    assert_int_equal(vr_ring_chan_open(dup(dp.memfd), dup(dp.efd_down), dup(dp.efd_up), SLOTS * 2, &agent),
                     VR_RING_EINVAL);
    /* slot counts that are not a power of two in range */
    assert_int_equal(vr_ring_chan_create(100, &agent), VR_RING_EINVAL);
    assert_int_equal(vr_ring_chan_create(VR_RING_SLOTS_MAX * 2, &agent), VR_RING_EINVAL);
    assert_int_equal(vr_ring_chan_open(-1, -1, -1, SLOTS, &agent), VR_RING_EINVAL);
    vr_ring_chan_close(&agent); /* closed twice is fine */
    vr_ring_chan_close(&dp);
}

static void test_gone_consumer_leaves_producer_refusing(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    uint8_t in[64];
    fill(in, 20, 0);
    assert_int_equal(vr_ring_prepare_sleep(&p.agent.down), 1);
    vr_ring_chan_close(&p.agent); /* the agent died asleep */
    uint32_t n = 0;
    while (vr_ring_put(&p.dp.down, in, 20) == 0) {
        n++;
    }
    assert_int_equal(n, SLOTS);
    assert_int_equal(vr_ring_put(&p.dp.down, in, 20), VR_RING_EFULL);
    /* waking a gone agent costs an eventfd write, nothing more */
    assert_int_equal(vr_ring_consumer_sleeps(&p.dp.down), 1);
    vr_ring_signal(p.dp.efd_down);
    vr_ring_chan_close(&p.dp);
}

static void test_two_channels_never_share(void **state)
{
    (void)state;
    struct pair a, b;
    pair_open(&a);
    pair_open(&b);
    assert_int_not_equal(a.dp.memfd, b.dp.memfd);
    struct stat sa, sb;
    assert_int_equal(fstat(a.dp.memfd, &sa), 0);
    assert_int_equal(fstat(b.dp.memfd, &sb), 0);
    assert_true(sa.st_ino != sb.st_ino);
    uint8_t in[64], out[VR_MSG_MAX];
    fill(in, 20, 5);
    assert_int_equal(vr_ring_put(&a.agent.up, in, 20), 0);
    size_t size = 0;
    assert_int_equal(vr_ring_get(&b.dp.up, out, &size), VR_RING_EEMPTY);
    assert_int_equal(vr_ring_get(&a.dp.down, out, &size), VR_RING_EEMPTY); /* nor the other direction */
    assert_int_equal(vr_ring_get(&a.dp.up, out, &size), 0);
    assert_memory_equal(out, in, 20);
    assert_int_equal(vr_ring_prepare_sleep(&b.dp.up), 1);
    assert_int_equal(vr_ring_consumer_sleeps(&a.agent.up), 0);
    pair_close(&a);
    pair_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_cross_in_order_through_wrap_around),
        cmocka_unit_test(test_indexes_wrap_at_32_bits),
        cmocka_unit_test(test_full_ring_refuses_and_asks_for_room),
        cmocka_unit_test(test_malformed_records_are_skipped),
        cmocka_unit_test(test_indexes_out_of_range_are_corruption),
        cmocka_unit_test(test_sleep_and_wake),
        cmocka_unit_test(test_agent_end_checks_the_memfd),
        cmocka_unit_test(test_gone_consumer_leaves_producer_refusing),
        cmocka_unit_test(test_two_channels_never_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

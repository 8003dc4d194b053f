/* Unit tests of the agent's remote instance-name table
 * (vrouter/agent/proxy/dns_remote.c) on virtual time: a miss becomes one
 * question however many frames wait for it; an answer caches and releases
 * the frames in order; a wrong or late answer changes nothing; the deadline
 * releases frames as failed; the question, frame and cache caps hold; cache
 * entries (positive and negative) lapse at their clamped TTL and a full
 * cache evicts the entry expiring first. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vrouter/agent/proxy/dns_remote.h"

static uint32_t ip(const char *s)
{
    uint32_t v;
    assert_int_equal(inet_pton(AF_INET, s, &v), 1);
    return v;
}

static struct dnsr *make(size_t questions, size_t held, size_t cache)
{
    struct dnsr_config cfg = {.timeout_ms = 2000, .questions = questions, .held = held, .cache = cache};
    struct dnsr *r;
    assert_int_equal(dnsr_create(&cfg, &r), 0);
    return r;
}

/* A miss for 'name' in 'vrf' and the frame "F<tag>" held; returns the new question or NULL. */
static const struct dnsr_question *miss_hold(struct dnsr *r, uint32_t vrf, const char *name, uint32_t ifindex,
                                             char tag, uint64_t now)
{
    uint32_t a;
    assert_int_equal(dnsr_name_to_ip4(r, vrf, name, now, &a), PROXY_EPENDING);
    const uint8_t frame[3] = {'F', (uint8_t)tag, 0};
    const struct dnsr_question *q;
    assert_int_equal(dnsr_hold(r, ifindex, "port-uuid", frame, sizeof frame, now, &q), 0);
    return q;
}

static void expect_frame(struct dnsr *r, uint32_t ifindex, char tag, bool failed)
{
    struct dnsr_frame f;
    assert_int_equal(dnsr_next(r, &f), 0);
    assert_int_equal(f.ifindex, ifindex);
    assert_int_equal(f.size, 3);
    assert_int_equal(f.data[1], (uint8_t)tag);
    assert_int_equal(f.failed, failed);
    free(f.data);
}

static void test_answer_releases(void **state)
{
    (void)state;
    struct dnsr *r = make(0, 0, 0);
    const struct dnsr_question *q = miss_hold(r, 3, "slice-vm1", 11, 'a', 100);
    assert_non_null(q);
    uint32_t id = q->id;
    assert_int_not_equal(id, 0);
    assert_int_equal(q->vrf, 3);
    assert_string_equal(q->name, "slice-vm1");
    assert_int_equal(q->ip4, 0);
    assert_string_equal(q->iface, "port-uuid");
    assert_int_equal(q->node, -1);
    assert_int_equal(q->deadline, 2100);
    dnsr_sent(r, id, 1);
    assert_int_equal(dnsr_question_at(r, 0)->node, 1);
    assert_null(dnsr_question_at(r, 1));
    /* a second VM (and a retransmission) asking the same: joined, not asked again */
    assert_null(miss_hold(r, 3, "slice-vm1", 12, 'b', 150));
    assert_null(miss_hold(r, 3, "slice-vm1", 11, 'c', 160));
    /* the same name in another VRF is another question */
    const struct dnsr_question *q2 = miss_hold(r, 4, "slice-vm1", 13, 'd', 170);
    assert_non_null(q2);
    uint32_t id2 = q2->id;
    assert_int_not_equal(id2, id);
    struct dnsr_frame f;
    assert_int_equal(dnsr_next(r, &f), PROXY_ENOTFOUND);
    assert_int_equal(dnsr_answer(r, id, true, "slice-vm1", ip("10.10.1.3"), 60, 200), 0);
    expect_frame(r, 11, 'a', false);
    expect_frame(r, 12, 'b', false);
    expect_frame(r, 11, 'c', false);
    assert_int_equal(dnsr_next(r, &f), PROXY_ENOTFOUND);
    uint32_t a = 0;
    assert_int_equal(dnsr_name_to_ip4(r, 3, "slice-vm1", 200, &a), 0);
    assert_int_equal(a, ip("10.10.1.3"));
    /* VRF 4 still waits; a negative answer there is cached as such */
    assert_int_equal(dnsr_name_to_ip4(r, 4, "slice-vm1", 200, &a), PROXY_EPENDING);
    assert_int_equal(dnsr_answer(r, id2, false, "slice-vm1", 0, 5, 210), 0);
    expect_frame(r, 13, 'd', false);
    assert_int_equal(dnsr_name_to_ip4(r, 4, "slice-vm1", 210, &a), PROXY_ENOTFOUND);
    /* PTR: by address */
    assert_int_equal(dnsr_ip4_to_name(r, 3, ip("10.10.1.3"), 300, NULL, 0), PROXY_EPENDING);
    const uint8_t frame[1] = {'p'};
    const struct dnsr_question *pq;
    assert_int_equal(dnsr_hold(r, 11, "port-uuid", frame, 1, 300, &pq), 0);
    assert_non_null(pq);
    assert_string_equal(pq->name, "");
    assert_int_equal(pq->ip4, ip("10.10.1.3"));
    assert_int_equal(dnsr_answer(r, pq->id, true, "slice-vm1", ip("10.10.1.3"), 60, 310), 0);
    assert_int_equal(dnsr_next(r, &f), 0);
    free(f.data);
    char name[64];
    assert_int_equal(dnsr_ip4_to_name(r, 3, ip("10.10.1.3"), 310, name, sizeof name), 0);
    assert_string_equal(name, "slice-vm1");
    assert_int_equal(dnsr_ip4_to_name(r, 3, ip("10.10.1.3"), 310, name, 5), PROXY_EFAIL); /* does not fit */
    struct dnsr_stats st;
    dnsr_stats_get(r, &st);
    assert_int_equal(st.asked, 3);
    assert_int_equal(st.answered, 3);
    assert_int_equal(st.questions, 0);
    assert_int_equal(st.held, 0);
    assert_int_equal(st.cached, 3);
    dnsr_free(r);
}

static void test_wrong_answers(void **state)
{
    (void)state;
    struct dnsr *r = make(0, 0, 0);
    const struct dnsr_question *q = miss_hold(r, 3, "vm1", 11, 'a', 0);
    uint32_t id = q->id;
    assert_int_equal(dnsr_answer(r, id + 1, true, "vm1", ip("10.0.0.1"), 60, 10), PROXY_ENOTFOUND);
    assert_int_equal(dnsr_answer(r, id, true, "vm2", ip("10.0.0.1"), 60, 10), PROXY_EINVAL); /* not what was asked */
    assert_int_equal(dnsr_answer(r, id, true, NULL, ip("10.0.0.1"), 60, 10), PROXY_EINVAL);
    assert_int_equal(dnsr_answer(r, id, true, "vm1", 0, 60, 10), PROXY_EINVAL); /* found without an address */
    struct dnsr_frame f;
    assert_int_equal(dnsr_next(r, &f), PROXY_ENOTFOUND); /* still held */
    uint32_t a;
    assert_int_equal(dnsr_name_to_ip4(r, 3, "vm1", 10, &a), PROXY_EPENDING); /* nothing cached */
    /* hold without a miss, oversized and empty frames */
    static uint8_t big[DNSR_FRAME_MAX + 1];
    const struct dnsr_question *nq;
    assert_int_equal(dnsr_name_to_ip4(r, 3, "vm9", 10, &a), PROXY_EPENDING);
    assert_int_equal(dnsr_hold(r, 1, "p", big, sizeof big, 10, &nq), PROXY_EINVAL);
    assert_int_equal(dnsr_hold(r, 1, "p", big, 0, 10, &nq), PROXY_EINVAL);
    assert_int_equal(dnsr_hold(r, 1, "p", big, 10, 10, &nq), 0);
    assert_non_null(nq);
    uint32_t nid = nq->id;
    assert_int_equal(dnsr_hold(r, 1, "p", big, 10, 10, &nq), PROXY_EINVAL); /* the miss was used */
    assert_null(nq);
    /* a question that could not be sent fails its frames */
    dnsr_fail(r, nid);
    assert_int_equal(dnsr_next(r, &f), 0);
    assert_true(f.failed);
    free(f.data);
    dnsr_free(r); /* frees the frame still held */
}

static void test_timeout(void **state)
{
    (void)state;
    struct dnsr *r = make(0, 0, 0);
    assert_int_equal(dnsr_next_deadline(r), UINT64_MAX);
    uint32_t id = miss_hold(r, 3, "vm1", 11, 'a', 1000)->id;
    assert_null(miss_hold(r, 3, "vm1", 12, 'b', 2500));
    uint32_t id2 = miss_hold(r, 3, "vm2", 13, 'c', 2000)->id;
    assert_int_equal(dnsr_next_deadline(r), 3000); /* from the first frame, not the last */
    assert_int_equal(dnsr_expire(r, 2999), 0);
    struct dnsr_frame f;
    assert_int_equal(dnsr_next(r, &f), PROXY_ENOTFOUND);
    assert_int_equal(dnsr_expire(r, 3000), 1);
    expect_frame(r, 11, 'a', true);
    expect_frame(r, 12, 'b', true);
    assert_int_equal(dnsr_next(r, &f), PROXY_ENOTFOUND);
    assert_int_equal(dnsr_next_deadline(r), 4000);
    /* the late answer is refused and caches nothing */
    assert_int_equal(dnsr_answer(r, id, true, "vm1", ip("10.0.0.1"), 60, 3100), PROXY_ENOTFOUND);
    uint32_t a;
    assert_int_equal(dnsr_name_to_ip4(r, 3, "vm1", 3100, &a), PROXY_EPENDING);
    assert_int_equal(dnsr_answer(r, id2, true, "vm2", ip("10.0.0.2"), 60, 3200), 0);
    expect_frame(r, 13, 'c', false);
    struct dnsr_stats st;
    dnsr_stats_get(r, &st);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(dnsr_next_deadline(r), UINT64_MAX);
    dnsr_free(r);
}

static void test_caps(void **state)
{
    (void)state;
    struct dnsr *r = make(2, 3, 0);
    uint32_t a;
    uint32_t id1 = miss_hold(r, 1, "a", 1, '1', 0)->id;
    assert_non_null(miss_hold(r, 1, "b", 1, '2', 0));
    /* a third question: the table of questions is full */
    assert_int_equal(dnsr_name_to_ip4(r, 1, "c", 0, &a), PROXY_EPENDING);
    const struct dnsr_question *q;
    const uint8_t fr[1] = {0};
    assert_int_equal(dnsr_hold(r, 1, "p", fr, 1, 0, &q), PROXY_EFULL);
    assert_null(q);
    /* joining is still possible until the frames are at their cap */
    assert_null(miss_hold(r, 1, "a", 2, '3', 0));
    assert_int_equal(dnsr_name_to_ip4(r, 1, "a", 0, &a), PROXY_EPENDING);
    assert_int_equal(dnsr_hold(r, 1, "p", fr, 1, 0, &q), PROXY_EFULL);
    struct dnsr_stats st;
    dnsr_stats_get(r, &st);
    assert_int_equal(st.refused_full, 2);
    assert_int_equal(st.held, 3);
    assert_int_equal(st.questions, 2);
    /* an answer frees room */
    assert_int_equal(dnsr_answer(r, id1, false, "a", 0, 60, 1), 0);
    struct dnsr_frame f;
    while (dnsr_next(r, &f) == 0) {
        free(f.data);
    }
    assert_non_null(miss_hold(r, 1, "c", 1, '4', 2));
    dnsr_free(r);
}

static void test_cache_expiry(void **state)
{
    (void)state;
    struct dnsr *r = make(0, 0, 2);
    uint32_t a;
    struct dnsr_frame f;
    uint32_t id = miss_hold(r, 1, "vm1", 1, 'a', 0)->id;
    assert_int_equal(dnsr_answer(r, id, true, "vm1", ip("10.0.0.1"), 5, 0), 0);
    assert_int_equal(dnsr_next(r, &f), 0);
    free(f.data);
    assert_int_equal(dnsr_name_to_ip4(r, 1, "vm1", 4999, &a), 0);
    assert_int_equal(dnsr_name_to_ip4(r, 1, "vm1", 5000, &a), PROXY_EPENDING);
    /* a negative entry lapses too; TTL 0 is kept for DNSR_TTL_MIN_S */
    id = miss_hold(r, 1, "vm2", 1, 'b', 6000)->id;
    assert_int_equal(dnsr_answer(r, id, false, "vm2", 0, 0, 6000), 0);
    assert_int_equal(dnsr_next(r, &f), 0);
    free(f.data);
    assert_int_equal(dnsr_name_to_ip4(r, 1, "vm2", 6999, &a), PROXY_ENOTFOUND);
    assert_int_equal(dnsr_name_to_ip4(r, 1, "vm2", 7000, &a), PROXY_EPENDING);
    /* a huge TTL is clamped to DNSR_TTL_MAX_S */
    id = miss_hold(r, 1, "vm3", 1, 'c', 8000)->id;
    assert_int_equal(dnsr_answer(r, id, true, "vm3", ip("10.0.0.3"), 4000000000u, 8000), 0);
    assert_int_equal(dnsr_next(r, &f), 0);
    free(f.data);
    assert_int_equal(dnsr_name_to_ip4(r, 1, "vm3", 8000 + DNSR_TTL_MAX_S * 1000ull - 1, &a), 0);
    assert_int_equal(dnsr_name_to_ip4(r, 1, "vm3", 8000 + DNSR_TTL_MAX_S * 1000ull, &a), PROXY_EPENDING);
    dnsr_free(r);
}

static void test_cache_eviction(void **state)
{
    (void)state;
    struct dnsr *r = make(0, 0, 2);
    uint32_t a;
    struct dnsr_frame f;
    const char *names[] = {"long", "short", "third"};
    uint32_t ttls[] = {100, 10, 50};
    for (size_t i = 0; i < 3; i++) {
        uint32_t id = miss_hold(r, 1, names[i], 1, 'x', 0)->id;
        assert_int_equal(dnsr_answer(r, id, true, names[i], ip("10.0.0.9"), ttls[i], 0), 0);
        assert_int_equal(dnsr_next(r, &f), 0);
        free(f.data);
    }
    /* the cache holds two: "short" (expiring first) made room for "third" */
    assert_int_equal(dnsr_name_to_ip4(r, 1, "long", 1, &a), 0);
    assert_int_equal(dnsr_name_to_ip4(r, 1, "third", 1, &a), 0);
    assert_int_equal(dnsr_name_to_ip4(r, 1, "short", 1, &a), PROXY_EPENDING);
    struct dnsr_stats st;
    dnsr_stats_get(r, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.cached, 2);
    dnsr_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_releases), cmocka_unit_test(test_wrong_answers),
        cmocka_unit_test(test_timeout),         cmocka_unit_test(test_caps),
        cmocka_unit_test(test_cache_expiry),    cmocka_unit_test(test_cache_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

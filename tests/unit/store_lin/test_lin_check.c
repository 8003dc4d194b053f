/* Unit tests for the register linearizability checker the store's e2e tests
 * use (tests/e2e/store/lin_check.c): hand-made histories that are
 * linearizable pass; the classic violations (stale read after a completed
 * write, reads seeing two writes in contradictory orders, a CAS outcome that
 * contradicts the register) fail; indeterminate writes and CASes may take
 * effect or not but never before their invoke or twice; the state budget
 * gives "inconclusive", not a pass; randomized histories generated from a
 * known linearization pass, and corrupting one read makes them fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/e2e/store/lin_check.h"

#define P LIN_PENDING

static struct lin_op rd(int p, uint64_t a, uint64_t b, int64_t v)
{
    return (struct lin_op){.process = p, .invoke = a, .complete = b, .kind = LIN_READ, .value = v};
}

static struct lin_op wr(int p, uint64_t a, uint64_t b, int64_t v)
{
    return (struct lin_op){.process = p, .invoke = a, .complete = b, .kind = LIN_WRITE, .value = v};
}

static struct lin_op cas(int p, uint64_t a, uint64_t b, int64_t from, int64_t to, bool ok)
{
    return (struct lin_op){.process = p, .invoke = a, .complete = b, .kind = LIN_CAS,
                           .expected = from, .value = to, .ok = ok};
}

static int check(const struct lin_op *ops, size_t len)
{
    struct lin_result res;
    int rc = lin_check(ops, len, LIN_ABSENT, 0, &res);
    if (rc == LIN_EVIOLATION) {
        assert_true(res.stuck_op < len);
    }
    return rc;
}

#define CHECK(rc, ...)                                        \
    do {                                                      \
        struct lin_op h_[] = {__VA_ARGS__};                   \
        assert_int_equal(check(h_, sizeof h_ / sizeof h_[0]), rc); \
    } while (0)

static void test_trivial(void **state)
{
    (void)state;
    assert_int_equal(lin_check(NULL, 0, LIN_ABSENT, 0, NULL), 0);
    CHECK(0, rd(1, 0, 10, LIN_ABSENT));
    CHECK(LIN_EVIOLATION, rd(1, 0, 10, 7));
    CHECK(0, wr(1, 0, 10, 1), rd(1, 20, 30, 1));
    CHECK(0, wr(1, 0, 10, 1), wr(1, 20, 30, 2), rd(2, 40, 50, 2));
    /* initial value other than absent */
    struct lin_op h[] = {rd(1, 0, 10, 9)};
    assert_int_equal(lin_check(h, 1, 9, 0, NULL), 0);
    assert_int_equal(lin_check(h, 1, LIN_ABSENT, 0, NULL), LIN_EVIOLATION);
}

static void test_stale_read(void **state)
{
    (void)state;
    /* A read that starts after a write completed must not see older state. */
    CHECK(LIN_EVIOLATION, wr(1, 0, 10, 1), wr(1, 20, 30, 2), rd(2, 40, 50, 1));
    CHECK(LIN_EVIOLATION, wr(1, 0, 10, 1), rd(2, 20, 30, LIN_ABSENT));
    /* ... but a read concurrent with the write may see either. */
    CHECK(0, wr(1, 0, 10, 1), wr(1, 20, 40, 2), rd(2, 25, 30, 1));
    CHECK(0, wr(1, 0, 10, 1), wr(1, 20, 40, 2), rd(2, 25, 30, 2));
    /* Once a concurrent read saw the new value, a later read must too. */
    CHECK(LIN_EVIOLATION, wr(1, 0, 10, 1), wr(1, 20, 100, 2), rd(2, 25, 30, 2), rd(3, 40, 50, 1));
    /* Touching intervals count as concurrent. */
    CHECK(0, wr(1, 0, 10, 1), rd(2, 10, 20, LIN_ABSENT));
}

static void test_contradictory_orders(void **state)
{
    (void)state;
    /* Two concurrent writes; process 3 sees 1 then 2, process 4 sees 2 then
     * 1: no single order of the writes explains both. */
    CHECK(LIN_EVIOLATION, wr(1, 0, 100, 1), wr(2, 0, 100, 2), rd(3, 10, 20, 1), rd(3, 30, 40, 2),
          rd(4, 10, 20, 2), rd(4, 30, 40, 1));
    /* The same reads, both in one order, are fine. */
    CHECK(0, wr(1, 0, 100, 1), wr(2, 0, 100, 2), rd(3, 10, 20, 1), rd(3, 30, 40, 2),
          rd(4, 10, 20, 1), rd(4, 30, 40, 2));
}

static void test_cas(void **state)
{
    (void)state;
    CHECK(0, wr(1, 0, 10, 1), cas(2, 20, 30, 1, 2, true), rd(3, 40, 50, 2));
    CHECK(0, wr(1, 0, 10, 1), cas(2, 20, 30, 5, 2, false), rd(3, 40, 50, 1));
    /* CAS on an absent key fails. */
    CHECK(0, cas(2, 0, 10, 1, 2, false), rd(3, 20, 30, LIN_ABSENT));
    CHECK(LIN_EVIOLATION, cas(2, 0, 10, 1, 2, true));
    /* A successful CAS contradicting a later read. */
    CHECK(LIN_EVIOLATION, wr(1, 0, 10, 1), cas(2, 20, 30, 1, 2, true), rd(3, 40, 50, 1));
    /* A successful CAS whose expected value had been overwritten. */
    CHECK(LIN_EVIOLATION, wr(1, 0, 10, 1), wr(1, 12, 15, 3), cas(2, 20, 30, 1, 2, true));
    /* A CAS success contradicting a concurrent read's view: the read saw 3
     * after the CAS completed, but 3 was overwritten by the CAS's input. */
    CHECK(LIN_EVIOLATION, wr(1, 0, 10, 3), rd(4, 20, 30, 3), wr(1, 40, 50, 1),
          cas(2, 60, 70, 1, 2, true), rd(3, 80, 90, 3));
    /* A failed CAS while the register held the expected value. */
    CHECK(LIN_EVIOLATION, wr(1, 0, 10, 1), cas(2, 20, 30, 1, 2, false));
    /* Two successful CASes from the same expected value cannot both win. */
    CHECK(LIN_EVIOLATION, wr(1, 0, 10, 1), cas(2, 20, 30, 1, 2, true), cas(3, 20, 30, 1, 3, true));
    CHECK(0, wr(1, 0, 10, 1), cas(2, 20, 30, 1, 2, true), cas(3, 20, 30, 1, 3, false),
          rd(1, 40, 50, 2));
}

static void test_unknown_write(void **state)
{
    (void)state;
    /* Took effect: a later read sees it. */
    CHECK(0, wr(1, 0, 10, 1), wr(2, 20, P, 2), rd(3, 100, 110, 2));
    /* Never took effect. */
    CHECK(0, wr(1, 0, 10, 1), wr(2, 20, P, 2), rd(3, 100, 110, 1));
    /* Took effect late: seen after reads that did not see it. */
    CHECK(0, wr(1, 0, 10, 1), wr(2, 20, P, 2), rd(3, 100, 110, 1), rd(3, 200, 210, 2));
    /* Cannot be undone once seen. */
    CHECK(LIN_EVIOLATION, wr(1, 0, 10, 1), wr(2, 20, P, 2), rd(3, 100, 110, 2), rd(3, 200, 210, 1));
    /* Cannot take effect before its invoke. */
    CHECK(LIN_EVIOLATION, rd(3, 10, 20, 2), wr(2, 50, P, 2));
    /* An unobserved unknown write is needed to explain a failed CAS: the
     * first pass drops it, the exact pass keeps it. */
    struct lin_op h[] = {wr(1, 0, 10, 1), wr(2, 15, P, 5), cas(3, 20, 30, 1, 2, false)};
    struct lin_result res;
    assert_int_equal(lin_check(h, 3, LIN_ABSENT, 0, &res), 0);
    assert_int_equal(res.dropped, 0);
    /* Unobserved and unneeded: dropped in the (passing) first pass. */
    struct lin_op h2[] = {wr(1, 0, 10, 1), wr(2, 15, P, 5), rd(3, 20, 30, 1)};
    assert_int_equal(lin_check(h2, 3, LIN_ABSENT, 0, &res), 0);
    assert_int_equal(res.dropped, 1);
    /* Unknown ops before a completed write: overwritten either way. */
    CHECK(0, wr(1, 0, P, 1), wr(2, 5, P, 2), wr(3, 50, 60, 3), rd(4, 70, 80, 3));
    CHECK(LIN_EVIOLATION, wr(1, 0, P, 1), wr(2, 5, 40, 2), wr(3, 50, 60, 3), rd(4, 70, 80, 2));
}

static void test_unknown_cas(void **state)
{
    (void)state;
    CHECK(0, wr(1, 0, 10, 1), cas(2, 20, P, 1, 2, false), rd(3, 100, 110, 2));
    CHECK(0, wr(1, 0, 10, 1), cas(2, 20, P, 1, 2, false), rd(3, 100, 110, 1));
    CHECK(LIN_EVIOLATION, wr(1, 0, 10, 1), cas(2, 20, P, 1, 2, false), rd(3, 100, 110, 2),
          rd(3, 120, 130, 1));
    /* Its expected value was gone before it was invoked: it cannot apply. */
    CHECK(LIN_EVIOLATION, wr(1, 0, 10, 1), wr(1, 11, 15, 3), cas(2, 20, P, 1, 2, false),
          rd(3, 100, 110, 2));
}

static void test_invalid_and_budget(void **state)
{
    (void)state;
    struct lin_op bad[] = {wr(1, 10, 5, 1)};
    assert_int_equal(lin_check(bad, 1, LIN_ABSENT, 0, NULL), LIN_EINVAL);
    struct lin_op badread[] = {rd(1, 10, P, 1)};
    assert_int_equal(lin_check(badread, 1, LIN_ABSENT, 0, NULL), LIN_EINVAL);
    struct lin_op badkind[] = {{.kind = 9, .invoke = 1, .complete = 2}};
    assert_int_equal(lin_check(badkind, 1, LIN_ABSENT, 0, NULL), LIN_EINVAL);
    /* 16 concurrent writes and a read of a never-written value: the search
     * must try every subset; a small budget ends it inconclusive. */
    struct lin_op h[17];
    for (int i = 0; i < 16; i++) {
        h[i] = wr(i, 0, 100, i + 1);
    }
    h[16] = rd(99, 200, 210, 1000);
    struct lin_result res;
    assert_int_equal(lin_check(h, 17, LIN_ABSENT, 1000, &res), LIN_EBUDGET);
    assert_true(res.states <= 1000);
    h[16] = rd(99, 200, 210, 7);
    assert_int_equal(lin_check(h, 17, LIN_ABSENT, 0, &res), 0);
    assert_string_equal(strata_strerror(LIN_EBUDGET), lin_strerror(LIN_EBUDGET));
}

/* Builds a random history with a known linearization: each op takes effect
 * at a random instant inside its interval, applied in instant order to a
 * model register; some writes and CASes lose their completion (and some of
 * those never take effect at all). */
static size_t gen_history(struct lin_op *h, size_t len, unsigned seed, int procs)
{
    srand(seed);
    struct {
        uint64_t at;
        size_t i;
        bool apply;
    } *eff = calloc(len, sizeof *eff);
    uint64_t *busy = calloc((size_t)procs, sizeof *busy);
    int64_t next_value = 1;
    for (size_t i = 0; i < len; i++) {
        int p = rand() % procs;
        uint64_t a = busy[p] + (uint64_t)(rand() % 20);
        uint64_t b = a + 1 + (uint64_t)(rand() % 60);
        busy[p] = b + 1;
        int kind = rand() % 3;
        h[i] = (struct lin_op){.process = p, .invoke = a, .complete = b, .kind = (uint8_t)(kind + 1)};
        if (kind == 1) {
            h[i].value = next_value++;
        } else if (kind == 2) {
            h[i].value = next_value++;
            h[i].expected = rand() % 3 == 0 ? LIN_ABSENT : rand() % (int)next_value;
        }
        eff[i].at = a + (uint64_t)rand() % (b - a + 1);
        eff[i].i = i;
        eff[i].apply = true;
        if (kind != 0 && rand() % 8 == 0) {
            h[i].complete = P;
            eff[i].apply = rand() % 2;
            eff[i].at = a + (uint64_t)(rand() % 300);
        }
    }
    /* apply in effect order (insertion sort: small n) */
    for (size_t i = 1; i < len; i++) {
        for (size_t j = i; j > 0 && eff[j - 1].at > eff[j].at; j--) {
            __typeof__(*eff) t = eff[j];
            eff[j] = eff[j - 1];
            eff[j - 1] = t;
        }
    }
    int64_t reg = LIN_ABSENT;
    for (size_t k = 0; k < len; k++) {
        struct lin_op *op = &h[eff[k].i];
        if (!eff[k].apply) {
            continue;
        }
        if (op->kind == LIN_READ) {
            op->value = reg;
        } else if (op->kind == LIN_WRITE) {
            reg = op->value;
        } else {
            op->ok = reg == op->expected;
            if (op->ok) {
                reg = op->value;
            }
        }
    }
    free(eff);
    free(busy);
    return len;
}

static void test_random_linearizable(void **state)
{
    (void)state;
    struct lin_op h[400];
    for (unsigned seed = 1; seed <= 60; seed++) {
        size_t len = gen_history(h, 40 + seed * 5, seed, 2 + (int)(seed % 5));
        struct lin_result res;
        int rc = lin_check(h, len, LIN_ABSENT, 0, &res);
        if (rc != 0) {
            lin_print(stderr, h, len, res.stuck_op);
        }
        assert_int_equal(rc, 0);
        /* A read of a value never written can never be explained. */
        for (size_t i = 0; i < len; i++) {
            if (h[i].kind == LIN_READ) {
                h[i].value = 1000000;
                assert_int_equal(lin_check(h, len, LIN_ABSENT, 0, &res), LIN_EVIOLATION);
                break;
            }
        }
    }
}

static void test_print(void **state)
{
    (void)state;
    struct lin_op h[] = {wr(1, 1000000, 2000000, 1), cas(2, 3000000, P, 1, 2, false),
                         rd(3, 0, 500000, LIN_ABSENT)};
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    lin_print(f, h, 3, 1);
    fclose(f);
    assert_non_null(strstr(text, "   op 2 p3 [0.000 ms, 0.500 ms] read -> absent\n"));
    assert_non_null(strstr(text, "=> op 1 p2 [3.000 ms, ? ms] cas 1 -> 2: indeterminate\n"));
    assert_non_null(strstr(text, "write 1\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trivial),
        cmocka_unit_test(test_stale_read),
        cmocka_unit_test(test_contradictory_orders),
        cmocka_unit_test(test_cas),
        cmocka_unit_test(test_unknown_write),
        cmocka_unit_test(test_unknown_cas),
        cmocka_unit_test(test_invalid_and_budget),
        cmocka_unit_test(test_random_linearizable),
        cmocka_unit_test(test_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

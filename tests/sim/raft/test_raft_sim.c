/* Store replication evidence on libraft 0.15.0's raft_fixture (virtual time,
 * in-memory I/O): leader kill under load, an isolated leader with a
 * minority, follower catch-up by snapshot install, and a seeded nemesis. In
 * every run the leader fence the store uses is on. Each test ends with
 * sim_cluster_check(): acknowledged values applied exactly once, nothing
 * applied twice, all replicas holding the same sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/sim/raft/sim_cluster.h"

#define CHECK(c, converged)                     \
    do {                                        \
        if (!sim_cluster_check((c), (converged))) \
            fail_msg("%s", (c)->errmsg);        \
    } while (0)

static unsigned alive_count(struct sim_cluster *c)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->n; i++)
        n += raft_fixture_alive(&c->f, i);
    return n;
}

/* Kill the leader under load; a new leader takes over and keeps committing;
 * the old leader comes back and catches up. */
static void test_leader_kill_under_load(void **state)
{
    struct sim_cluster c;
    unsigned l;
    unsigned l2;
    unsigned acked_before;
    (void)state;

    assert_int_equal(sim_cluster_init(&c, 3), 0);
    sim_cluster_set_leader_fence(&c, true);
    l = sim_cluster_wait_leader(&c, 5000);
    assert_true(l < c.n);
    assert_true(sim_cluster_load(&c, 1000, 5) >= 40);
    acked_before = c.n_acked;
    assert_true(acked_before >= 40);

    raft_fixture_kill(&c.f, l);
    sim_cluster_load(&c, 4000, 5);
    l2 = sim_cluster_leader(&c);
    assert_true(l2 < c.n);
    assert_int_not_equal(l2, l);
    assert_true(c.n_acked >= acked_before + 30);
    CHECK(&c, false);

    raft_fixture_revive(&c.f, l);
    sim_cluster_load(&c, 1000, 5);
    assert_true(sim_cluster_converge(&c, 10000));
    CHECK(&c, true);
    assert_int_equal(c.fsms[l].len, c.fsms[l2].len);
    print_message("leader kill: %u acked, %u failed, %u refused, %zu applied everywhere\n",
                  c.n_acked, c.n_failed, c.n_refused, c.fsms[l2].len);
    sim_cluster_destroy(&c);
}

/* Isolate the leader together with one follower (a minority of five): the
 * majority elects a new leader and commits; whatever the old leader accepts
 * meanwhile never commits, and after healing it is discarded. */
static void test_partition_isolated_leader(void **state)
{
    struct sim_cluster c;
    unsigned l;
    unsigned m;
    unsigned l2 = 0;
    uint64_t old[64];
    unsigned n_old = 0;
    unsigned acked_before;
    raft_time start;
    (void)state;

    assert_int_equal(sim_cluster_init(&c, 5), 0);
    sim_cluster_set_leader_fence(&c, true);
    l = sim_cluster_wait_leader(&c, 5000);
    assert_true(l < c.n);
    sim_cluster_load(&c, 300, 10);
    m = (l + 1) % c.n;
    for (unsigned i = 0; i < c.n; i++) {
        if (i == l || i == m)
            continue;
        sim_cluster_cut(&c, l, i);
        sim_cluster_cut(&c, m, i);
    }
    acked_before = c.n_acked;

    /* Keep writing to the old leader for as long as it believes it leads,
     * and to the majority's leader once there is one. */
    start = raft_fixture_time(&c.f);
    while (raft_fixture_time(&c.f) - start < 4000) {
        uint64_t v;
        if (raft_state(raft_fixture_get(&c.f, l)) == RAFT_LEADER && n_old < 64 &&
            sim_cluster_submit(&c, l, &v) == 0)
            old[n_old++] = v;
        l2 = sim_cluster_leader(&c);
        if (l2 < c.n && l2 != l && l2 != m && c.inflight[l2] < c.window &&
            sim_cluster_submit(&c, l2, NULL) != 0)
            c.n_refused++;
        raft_fixture_step_until_elapsed(&c.f, 10);
    }
    l2 = sim_cluster_leader(&c);
    assert_true(l2 < c.n && l2 != l && l2 != m);
    assert_true(n_old > 0);
    assert_true(c.n_acked > acked_before + 50);
    /* 0.15.0 steps the isolated leader down by itself (no majority contact
     * within an election timeout), before the partition heals. */
    assert_int_not_equal(raft_state(raft_fixture_get(&c.f, l)), RAFT_LEADER);
    for (unsigned k = 0; k < n_old; k++) {
        assert_int_not_equal(c.outcome[old[k]], SIM_ACKED);
        for (unsigned i = 0; i < c.n; i++)
            assert_int_equal(sim_fsm_count(&c.fsms[i], old[k]), 0);
    }
    CHECK(&c, false);

    sim_cluster_heal(&c);
    sim_cluster_load(&c, 1000, 10);
    assert_true(sim_cluster_converge(&c, 10000));
    CHECK(&c, true);
    for (unsigned k = 0; k < n_old; k++) {
        assert_int_equal(c.outcome[old[k]], SIM_FAILED);
        for (unsigned i = 0; i < c.n; i++)
            assert_int_equal(sim_fsm_count(&c.fsms[i], old[k]), 0);
    }
    print_message("partition: %u writes to the isolated leader, none applied; %u acked "
                  "by the majority\n", n_old, c.n_acked);
    sim_cluster_destroy(&c);
}

/* A follower misses more than threshold + trailing entries and catches up
 * through InstallSnapshot: its FSM is restored, then it is consistent. */
static void test_snapshot_install(void **state)
{
    struct sim_cluster c;
    unsigned l;
    unsigned fo;
    (void)state;

    assert_int_equal(sim_cluster_init(&c, 3), 0);
    sim_cluster_set_leader_fence(&c, true);
    for (unsigned i = 0; i < c.n; i++) {
        raft_set_snapshot_threshold(raft_fixture_get(&c.f, i), 16);
        raft_set_snapshot_trailing(raft_fixture_get(&c.f, i), 8);
    }
    l = sim_cluster_wait_leader(&c, 5000);
    assert_true(l < c.n);
    fo = (l + 1) % c.n;
    sim_cluster_load(&c, 100, 5);
    raft_fixture_kill(&c.f, fo);
    assert_true(sim_cluster_load(&c, 1000, 5) > 16 + 8);
    assert_true(raft_fixture_step_until_applied(&c.f, l, raft_last_index(raft_fixture_get(&c.f, l)),
                                                2000));
    assert_true(c.fsms[l].n_snapshots > 0);
    assert_int_equal(c.fsms[fo].n_restores, 0);
    assert_true(c.fsms[fo].len < c.fsms[l].len);

    raft_fixture_revive(&c.f, fo);
    assert_true(sim_cluster_converge(&c, 10000));
    assert_true(c.fsms[fo].n_restores >= 1);
    assert_true(raft_fixture_n_recv(&c.f, fo, RAFT_IO_INSTALL_SNAPSHOT) >= 1);
    CHECK(&c, true);
    print_message("snapshot install: leader took %u snapshots; follower restored %u time(s), "
                  "%zu values\n", c.fsms[l].n_snapshots, c.fsms[fo].n_restores, c.fsms[fo].len);
    sim_cluster_destroy(&c);
}

/* xorshift64*: the nemesis' only source of randomness. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static unsigned rng_below(uint64_t *s, unsigned n)
{
    return (unsigned)(rng_next(s) % n);
}

/* Runs one seeded nemesis: 'rounds' random faults (kill, revive, cut a
 * link, isolate a server, heal, reshuffle election timeouts), each followed
 * by a random stretch of load; safety is checked after every round; at the
 * end everything is revived and healed and the cluster must converge. */
static void nemesis_run(uint64_t seed, unsigned rounds)
{
    struct sim_cluster c;
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    unsigned max_dead = 2;

    assert_int_equal(sim_cluster_init(&c, 5), 0);
    sim_cluster_set_leader_fence(&c, true);
    /* Snapshots stay at libraft's default threshold (1024 entries, more than
     * a run applies): with small thresholds the fixture's in-memory
     * snapshot_put corrupts its heap under this nemesis (finding 6 in
     * docs/raft-0.15-findings.md); test_snapshot_install covers installs. */
    for (unsigned round = 0; round < rounds; round++) {
        unsigned a = rng_below(&s, c.n);
        unsigned b = rng_below(&s, c.n);
        switch (rng_below(&s, 6)) {
        case 0:
            if (raft_fixture_alive(&c.f, a) && c.n - alive_count(&c) < max_dead)
                raft_fixture_kill(&c.f, a);
            break;
        case 1:
            for (unsigned k = 0; k < c.n; k++) {
                unsigned i = (a + k) % c.n;
                if (!raft_fixture_alive(&c.f, i)) {
                    raft_fixture_revive(&c.f, i);
                    break;
                }
            }
            break;
        case 2:
            if (a != b)
                sim_cluster_cut(&c, a, b);
            break;
        case 3:
            sim_cluster_isolate(&c, a);
            break;
        case 4:
            sim_cluster_heal(&c);
            break;
        case 5:
            for (unsigned i = 0; i < c.n; i++)
                raft_fixture_set_randomized_election_timeout(&c.f, i, 1000 + rng_below(&s, 1000));
            break;
        default:
            break;
        }
        sim_cluster_load(&c, 50 + rng_below(&s, 600), 2 + rng_below(&s, 20));
        if (!sim_cluster_check(&c, false))
            fail_msg("nemesis seed %llu round %u: %s", (unsigned long long)seed, round, c.errmsg);
    }
    for (unsigned i = 0; i < c.n; i++)
        if (!raft_fixture_alive(&c.f, i))
            raft_fixture_revive(&c.f, i);
    sim_cluster_heal(&c);
    if (!sim_cluster_converge(&c, 30000)) {
        for (unsigned i = 0; i < c.n; i++)
            for (unsigned j = 0; j < c.n; j++)
                if (i != j && raft_fixture_saturated(&c.f, i, j))
                    print_message("link S%u->S%u saturated\n", i + 1, j + 1);
        for (unsigned i = 0; i < c.n; i++) {
            struct raft *r = raft_fixture_get(&c.f, i);
            print_message("S%u alive %d recv AE %u sent AER %u\n", i + 1, raft_fixture_alive(&c.f, i),
                          raft_fixture_n_recv(&c.f, i, RAFT_IO_APPEND_ENTRIES),
                          raft_fixture_n_send(&c.f, i, RAFT_IO_APPEND_ENTRIES_RESULT));
            print_message("S%u state %d term %llu last %llu commit %llu applied %llu\n", i + 1,
                          raft_state(r), (unsigned long long)r->current_term,
                          (unsigned long long)raft_last_index(r),
                          (unsigned long long)r->commit_index,
                          (unsigned long long)raft_last_applied(r));
        }
        fail_msg("nemesis seed %llu: no convergence within 30 s of virtual time",
                 (unsigned long long)seed);
    }
    if (!sim_cluster_check(&c, true))
        fail_msg("nemesis seed %llu: %s", (unsigned long long)seed, c.errmsg);
    unsigned snaps = 0;
    unsigned restores = 0;
    for (unsigned i = 0; i < c.n; i++) {
        snaps += c.fsms[i].n_snapshots;
        restores += c.fsms[i].n_restores;
    }
    print_message("nemesis seed %llu: %u acked, %u failed, %u refused, %zu applied, "
                  "%u snapshots, %u restores, %u fences, %u watchdog transfers, virtual %llu ms\n",
                  (unsigned long long)seed, c.n_acked, c.n_failed, c.n_refused, c.fsms[0].len,
                  snaps, restores, c.n_fences, c.n_watchdog_transfers, (unsigned long long)raft_fixture_time(&c.f));
    assert_true(c.n_acked > 0);
    sim_cluster_destroy(&c);
}

static void test_nemesis(void **state)
{
    static const uint64_t seeds[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    bool vg = sim_under_valgrind();
    unsigned n_seeds = vg ? 4 : sizeof seeds / sizeof seeds[0];
    unsigned rounds = vg ? 40 : 60;
    const char *one = getenv("STRATA_SIM_SEED");
    (void)state;
    if (one != NULL) {
        nemesis_run(strtoull(one, NULL, 10), rounds);
        return;
    }
    for (unsigned k = 0; k < n_seeds; k++)
        nemesis_run(seeds[k], rounds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_kill_under_load),
        cmocka_unit_test(test_partition_isolated_leader),
        cmocka_unit_test(test_snapshot_install),
        cmocka_unit_test(test_nemesis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

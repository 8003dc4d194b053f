/* Raft §5.4.2 (Figure 8 of the Raft paper) driven through libraft 0.15.0's
 * raft_fixture, with and without the store's outside-the-library mitigation
 * (a barrier submitted the moment a server becomes leader). These are
 * characterization tests: they assert what 0.15.0 does today, so that a
 * libraft upgrade that changes the behaviour fails here and somebody re-reads
 * docs/raft-0.15-findings.md. Servers S1..S5 are fixture indices 0..4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/sim/raft/sim_cluster.h"

enum { S1 = 0, S2 = 1, S3 = 2, S4 = 3, S5 = 4 };

static bool verbose(void)
{
    const char *v = getenv("STRATA_SIM_VERBOSE");
    return v != NULL && v[0] == '1';
}

#define TRACE(...)                   \
    do {                             \
        if (verbose())               \
            print_message(__VA_ARGS__); \
    } while (0)

/* What one run of the Figure-8 script observed. */
struct fig8 {
    bool mitigate;                 /* Leader-barrier hook installed. */
    unsigned n_fences;             /* Barriers the fence submitted. */
    /* Phase (a): S1 leader in term 2, X replicated to S2 only. */
    raft_term s1_term_a;
    raft_index x_index;
    uint64_t x;
    /* Phase (b): S5 leader in term 3 appends Y locally. */
    raft_term s5_term_b;
    raft_index y_index;
    uint64_t y;
    /* Phase (c): S1 leader in term 4, X replicated to S3. */
    raft_term s1_term_c;
    bool s3_has_x;
    raft_index s1_commit_c;        /* S1's commit index once S3 holds X. */
    bool s1_counted_prior_term;    /* S1's commit index ever pointed at an
                                    * earlier-term entry while S1 led term c. */
    bool s1_log_has_term_c_entry;  /* S1's log held an entry of term 4 then. */
    bool s1_applied_x;             /* X is in S1's FSM. */
    /* Phase (d): S1 crashes, S5 campaigns again. */
    bool s5_elected_d;
    raft_term s5_term_d;
    bool s5_applied_y;             /* Y is in S5's FSM after it commits. */
    /* Phase (e): S1 back, all links healed, cluster settles. */
    bool converged_e;
    bool s1_applied_x_e;
    int s1_state_e;
    char s1_errmsg_e[RAFT_ERRMSG_BUF_SIZE];
    int x_outcome;                 /* enum sim_outcome of X's apply request. */
    bool consistent;               /* sim_cluster_check() over all FSMs. */
    char errmsg[256];
};

static bool fsm_has(const struct sim_cluster *c, unsigned i, uint64_t v)
{
    return sim_fsm_count(&c->fsms[i], v) > 0;
}

/* Terms never decrease along a log, so the last entry tells whether any
 * entry of 'term' is present. */
static bool log_has_term(struct raft *r, raft_term term)
{
    return sim_log_term(r, raft_last_index(r)) == term;
}

/* Steps until 'pred' holds or 'max_ms' pass; returns the predicate. */
static bool step_until(struct sim_cluster *c, bool (*pred)(struct sim_cluster *c, void *arg),
                       void *arg, unsigned max_ms)
{
    raft_time start = raft_fixture_time(&c->f);
    while (!pred(c, arg) && raft_fixture_time(&c->f) - start < max_ms)
        raft_fixture_step(&c->f);
    return pred(c, arg);
}

struct stored_arg {
    unsigned i;
    raft_index index;
};

static bool has_stored(struct sim_cluster *c, void *arg)
{
    struct stored_arg *a = arg;
    return raft_fixture_get(&c->f, a->i)->last_stored >= a->index;
}

static void fig8_run(struct fig8 *o, bool mitigate, unsigned fence_delay_ms)
{
    struct sim_cluster c;
    struct raft *s1;
    struct raft *s5;

    memset(o, 0, sizeof *o);
    o->mitigate = mitigate;
    assert_int_equal(sim_cluster_init(&c, 5), 0);
    s1 = raft_fixture_get(&c.f, S1);
    s5 = raft_fixture_get(&c.f, S5);
    sim_cluster_set_leader_fence(&c, mitigate);
    sim_cluster_set_fence_delay(&c, fence_delay_ms);

    /* (a) S1 wins term 2 (lowest election timeout); everybody learns it. */
    assert_true(sim_cluster_elect(&c, S1, 5000));
    o->s1_term_a = s1->current_term;
    raft_fixture_step_until_elapsed(&c.f, 200);
    assert_int_equal(raft_state(s1), RAFT_LEADER);
    /* Only S1->S2 carries messages from S1 now. */
    raft_fixture_saturate(&c.f, S1, S3);
    raft_fixture_saturate(&c.f, S1, S4);
    raft_fixture_saturate(&c.f, S1, S5);
    assert_int_equal(sim_cluster_submit(&c, S1, &o->x), 0);
    o->x_index = raft_last_index(s1);
    assert_true(step_until(&c, has_stored, &(struct stored_arg){S2, o->x_index}, 500));
    assert_true(s1->commit_index < o->x_index);
    TRACE("(a) S1 term %llu, X=%llu at index %llu on S1,S2; S1 commit %llu\n",
          (unsigned long long)o->s1_term_a, (unsigned long long)o->x,
          (unsigned long long)o->x_index, (unsigned long long)s1->commit_index);
    raft_fixture_kill(&c.f, S1);

    /* (b) S5 wins term 3 with S3, S4 (S2's log is more up to date than
     * S5's, so S2 refuses), then appends Y locally only. */
    assert_true(sim_cluster_elect(&c, S5, 5000));
    o->s5_term_b = s5->current_term;
    for (unsigned j = S1; j < S5; j++)
        raft_fixture_saturate(&c.f, S5, j);
    /* Let the mitigation barrier (if any) be appended first. */
    raft_fixture_step(&c.f);
    assert_int_equal(sim_cluster_submit(&c, S5, &o->y), 0);
    o->y_index = raft_last_index(s5);
    assert_true(step_until(&c, has_stored, &(struct stored_arg){S5, o->y_index}, 500));
    TRACE("(b) S5 term %llu, Y=%llu at index %llu on S5 only; S5 last index %llu\n",
          (unsigned long long)o->s5_term_b, (unsigned long long)o->y,
          (unsigned long long)o->y_index, (unsigned long long)raft_last_index(s5));
    raft_fixture_kill(&c.f, S5);

    /* (c) S1 restarts and wins term 4 (votes S1, S2, S3 or S4). Its links to
     * S3 open again; the link to S4 stays cut both ways so that X reaches
     * exactly S3 and S4 cannot disrupt the term. */
    raft_fixture_revive(&c.f, S1);
    raft_fixture_desaturate(&c.f, S1, S3);
    raft_fixture_desaturate(&c.f, S1, S4);
    assert_true(sim_cluster_wait_state(&c, S1, RAFT_FOLLOWER, 5000));
    assert_true(sim_cluster_elect(&c, S1, 5000));
    o->s1_term_c = s1->current_term;
    sim_cluster_cut(&c, S1, S4);
    raft_fixture_step(&c.f);
    /* Step until S3 holds X and S1 had the time to hear S3's acknowledgement
     * (one network latency plus margin), with nothing new submitted by a
     * client. After every event, note whether S1's commit index points at an
     * entry of an earlier term: that is commitment by counting. */
    {
        raft_time start = raft_fixture_time(&c.f);
        raft_time stored_at = 0;
        while (raft_fixture_time(&c.f) - start < 1000) {
            raft_fixture_step(&c.f);
            if (raft_state(s1) == RAFT_LEADER && s1->commit_index >= o->x_index &&
                sim_log_term(s1, s1->commit_index) < s1->current_term)
                o->s1_counted_prior_term = true;
            if (stored_at == 0 && raft_fixture_get(&c.f, S3)->last_stored >= o->x_index)
                stored_at = raft_fixture_time(&c.f);
            if (stored_at != 0 && raft_fixture_time(&c.f) - stored_at >= 60)
                break;
        }
        o->s3_has_x = stored_at != 0;
    }
    o->s1_commit_c = s1->commit_index;
    o->s1_log_has_term_c_entry = log_has_term(s1, o->s1_term_c);
    o->s1_applied_x = fsm_has(&c, S1, o->x);
    TRACE("(c) S1 term %llu; S3 has X: %d; S1 commit %llu (X at %llu); term-%llu entry in "
          "S1 log: %d; X applied on S1: %d; S1 last index %llu\n",
          (unsigned long long)o->s1_term_c, o->s3_has_x, (unsigned long long)o->s1_commit_c,
          (unsigned long long)o->x_index, (unsigned long long)o->s1_term_c,
          o->s1_log_has_term_c_entry, o->s1_applied_x, (unsigned long long)raft_last_index(s1));

    /* (d) S1 crashes; S5 restarts and campaigns. Its last log term (3) beats
     * S2/S3's (2) unless a term-4 entry reached them. */
    raft_fixture_kill(&c.f, S1);
    raft_fixture_revive(&c.f, S5);
    for (unsigned j = S1; j < S5; j++)
        raft_fixture_desaturate(&c.f, S5, j);
    raft_fixture_desaturate(&c.f, S4, S1);
    assert_true(sim_cluster_wait_state(&c, S5, RAFT_FOLLOWER, 5000));
    o->s5_elected_d = sim_cluster_elect(&c, S5, 3000);
    o->s5_term_d = s5->current_term;
    if (o->s5_elected_d) {
        uint64_t z;
        raft_index z_index;
        assert_int_equal(sim_cluster_submit(&c, S5, &z), 0);
        z_index = raft_last_index(s5);
        raft_fixture_step_until_applied(&c.f, S5, z_index, 2000);
        o->s5_applied_y = fsm_has(&c, S5, o->y);
    }
    TRACE("(d) S5 elected: %d term %llu; Y applied on S5: %d\n", o->s5_elected_d,
          (unsigned long long)o->s5_term_d, o->s5_applied_y);
    /* (e) Everybody back, every link healed: let the cluster settle. */
    raft_fixture_revive(&c.f, S1);
    sim_cluster_heal(&c);
    o->converged_e = sim_cluster_converge(&c, 20000);
    o->s1_applied_x_e = fsm_has(&c, S1, o->x);
    o->s1_state_e = raft_state(s1);
    snprintf(o->s1_errmsg_e, sizeof o->s1_errmsg_e, "%s", raft_errmsg(s1));
    o->x_outcome = c.outcome[o->x];
    TRACE("(e) X outcome %d; S1 errmsg '%s'\n", o->x_outcome, o->s1_errmsg_e);
    TRACE("(e) converged: %d; S1 state %d term %llu commit %llu applied %llu last %llu\n",
          o->converged_e, o->s1_state_e, (unsigned long long)s1->current_term,
          (unsigned long long)s1->commit_index, (unsigned long long)raft_last_applied(s1),
          (unsigned long long)raft_last_index(s1));
    o->consistent = sim_cluster_check(&c, false);
    memcpy(o->errmsg, c.errmsg, sizeof o->errmsg);
    for (unsigned i = 0; i < c.n; i++) {
        TRACE("  S%u fsm:", i + 1);
        for (size_t k = 0; k < c.fsms[i].len; k++)
            TRACE(" %llu", (unsigned long long)c.fsms[i].seq[k]);
        TRACE("\n");
    }
    TRACE("consistent: %d %s\n", o->consistent, o->errmsg);
    o->n_fences = c.n_fences;
    sim_cluster_destroy(&c);
}

/* Fails the test with the finding's name so a reader knows which paragraph
 * of docs/raft-0.15-findings.md to re-read. */
#define EXPECT(cond, what)                                                              \
    do {                                                                                \
        if (!(cond))                                                                    \
            fail_msg("libraft behaviour changed: %s (expected: %s). Re-read "            \
                     "docs/raft-0.15-findings.md before changing this test.", what, #cond); \
    } while (0)

/* Figure 8 without the fence: 0.15.0 commits X (term 2) in term 4 because it
 * sits on S1, S2, S3, applies it on S1, and later S5 overwrites index 2 with
 * Y on the majority: the replicas diverge and S1 ends unavailable. */
static void test_raft_0_15_commits_prior_term_by_counting(void **state)
{
    struct fig8 o;
    (void)state;
    fig8_run(&o, false, 0);
    print_message("figure 8, no fence: terms a=%llu b=%llu c=%llu d=%llu; X at %llu; "
                  "S1 commit in c=%llu with%s a term-c entry; X applied on S1: %d; "
                  "S5 re-elected: %d, applied Y: %d; consistent: %d (%s); "
                  "S1 state after heal: %d\n",
                  (unsigned long long)o.s1_term_a, (unsigned long long)o.s5_term_b,
                  (unsigned long long)o.s1_term_c, (unsigned long long)o.s5_term_d,
                  (unsigned long long)o.x_index, (unsigned long long)o.s1_commit_c,
                  o.s1_log_has_term_c_entry ? "" : "out", o.s1_applied_x, o.s5_elected_d,
                  o.s5_applied_y, o.consistent, o.errmsg, o.s1_state_e);
    /* The interleaving itself happened as scripted. */
    assert_true(o.s1_term_a < o.s5_term_b && o.s5_term_b < o.s1_term_c);
    assert_int_equal(o.y_index, o.x_index);
    assert_true(o.s3_has_x);
    /* The finding: commit by counting replicas of a previous-term entry. */
    EXPECT(o.s1_counted_prior_term && o.s1_commit_c >= o.x_index && !o.s1_log_has_term_c_entry,
           "0.15.0 commits an earlier-term entry by counting replicas");
    EXPECT(o.s1_applied_x, "the earlier-term entry is applied on the new leader");
    /* Its consequence: the committed, applied entry is overwritten. */
    EXPECT(o.s5_elected_d && o.s5_applied_y,
           "a server without the committed entry is elected and applies its own");
    EXPECT(!o.consistent, "replicas diverge at the overwritten index");
    EXPECT(o.x_outcome == SIM_FAILED, "the overwritten entry's client saw a failure");
    EXPECT(o.s1_state_e == RAFT_UNAVAILABLE,
           "the server that applied the lost entry shuts down when it meets the conflict");
    EXPECT(!o.converged_e || !o.consistent, "the divergence is not repaired");
}

/* Same script with the store's fence (a barrier the moment a server leads):
 * the term-4 barrier travels with X, so X commits only together with a
 * current-term entry; S5 can then never win, and all replicas agree. */
static void test_leader_fence_blocks_figure8(void **state)
{
    struct fig8 o;
    (void)state;
    fig8_run(&o, true, 0);
    print_message("figure 8, fenced: terms a=%llu b=%llu c=%llu; X at %llu; S1 commit in "
                  "c=%llu with%s a term-c entry; S5 re-elected: %d; consistent: %d (%s); "
                  "fences: %u\n",
                  (unsigned long long)o.s1_term_a, (unsigned long long)o.s5_term_b,
                  (unsigned long long)o.s1_term_c, (unsigned long long)o.x_index,
                  (unsigned long long)o.s1_commit_c, o.s1_log_has_term_c_entry ? "" : "out",
                  o.s5_elected_d, o.consistent, o.errmsg, o.n_fences);
    assert_true(o.s1_term_a < o.s5_term_b && o.s5_term_b < o.s1_term_c);
    assert_true(o.s3_has_x);
    assert_true(o.n_fences >= 3);
    /* Whenever X is committed in term c, a term-c entry is in the log and
     * committed with it (the barrier sits right after X). */
    assert_true(o.s1_log_has_term_c_entry);
    assert_false(o.s1_counted_prior_term);
    if (o.s1_commit_c >= o.x_index)
        assert_true(o.s1_commit_c > o.x_index);
    assert_false(o.s5_elected_d);
    assert_false(o.s5_applied_y);
    assert_true(o.converged_e);
    assert_true(o.consistent);
}

/* The fence only works if it is in the log before the new leader handles
 * the first AppendEntries result of its term. Here it is submitted only
 * after 250 virtual ms of leadership (more than a heartbeat plus a round
 * trip): X is committed by counting again and the replicas diverge. */
static void test_late_leader_fence_loses_figure8(void **state)
{
    struct fig8 o;
    (void)state;
    fig8_run(&o, true, 250);
    print_message("figure 8, fence after 250 ms: counted prior term: %d; S5 re-elected: %d; "
                  "consistent: %d (%s)\n",
                  o.s1_counted_prior_term, o.s5_elected_d, o.consistent, o.errmsg);
    EXPECT(o.s1_counted_prior_term, "a late fence leaves the counting window open");
    EXPECT(o.s5_elected_d && !o.consistent, "and the divergence follows");
}

/* A follower's stale tail is counted as a match. In 0.15.0 a follower that
 * accepts an empty AppendEntries (heartbeat) answers with its whole last
 * stored index, and the leader, which only clamps that to its own last
 * index, records a match up to there even though the follower's entries
 * past the heartbeat's prev index are leftovers of an older term. Script,
 * five servers, no fence:
 *   (1) S1 leads term 2; v1 committed everywhere (index 2).
 *   (2) v2, v3 reach S3 only (indices 3, 4, term 2; uncommitted).
 *   (3) S1 dies; S2 wins the next term with S4, S5; its log ends at 2.
 *   (4) S2's election heartbeat to S3 (prev 2, no entries) is answered with
 *       last index 4; meanwhile S2 appended v4, v5 at 3, 4 (its term; with
 *       the fence on: its barrier and v4) and
 *       cut S5 off. S2 counts S3 as holding 3..4, commits with S2, S4 and
 *       the phantom S3, and acknowledges v4, v5.
 *   (5) S2 and S4 die, S1 returns: S1, S3, S5 elect S3 (or S1), whose term-2
 *       entries 3..4 win. v4 and v5, acknowledged, are gone. */
static void stale_tail_run(bool fence)
{
    struct sim_cluster c;
    uint64_t v1, v2, v3, v4, v5 = 0, v6;
    struct raft *s2;
    struct raft *s3;
    unsigned l;
    raft_index o = fence ? 1 : 0; /* Each fenced election adds a barrier. */

    assert_int_equal(sim_cluster_init(&c, 5), 0);
    sim_cluster_set_leader_fence(&c, fence);
    s2 = raft_fixture_get(&c.f, S2);
    s3 = raft_fixture_get(&c.f, S3);
    /* (1) */
    assert_true(sim_cluster_elect(&c, S1, 5000));
    assert_int_equal(sim_cluster_submit(&c, S1, &v1), 0);
    assert_true(raft_fixture_step_until_applied(&c.f, c.n, 2 + o, 2000));
    /* (2) */
    raft_fixture_saturate(&c.f, S1, S2);
    raft_fixture_saturate(&c.f, S1, S4);
    raft_fixture_saturate(&c.f, S1, S5);
    assert_int_equal(sim_cluster_submit(&c, S1, &v2), 0);
    assert_int_equal(sim_cluster_submit(&c, S1, &v3), 0);
    assert_true(step_until(&c, has_stored, &(struct stored_arg){S3, 4 + o}, 500));
    assert_int_equal(raft_fixture_get(&c.f, S1)->commit_index, 2 + o);
    /* (3) */
    raft_fixture_kill(&c.f, S1);
    assert_true(sim_cluster_elect(&c, S2, 5000));
    raft_fixture_step(&c.f); /* Lets the fence (if on) append its barrier. */
    assert_int_equal(raft_last_index(s2), 2 + 2 * o);
    /* (4) */
    raft_fixture_saturate(&c.f, S2, S5);
    assert_int_equal(sim_cluster_submit(&c, S2, &v4), 0);
    /* With the fence, the barrier takes v5's place: the leader's new tail
     * must end where S3's stale tail ends for the phantom match to count
     * (0.15.0 evaluates the commit rule at the leader's last stored index). */
    if (!fence)
        assert_int_equal(sim_cluster_submit(&c, S2, &v5), 0);
    step_until(&c, has_stored, &(struct stored_arg){S4, 4 + o}, 500);
    raft_fixture_step_until_elapsed(&c.f, 100);
    print_message("stale tail (fence %s): S2 term %llu commit %llu; at %llu..%llu S3 holds "
                  "terms %llu,%llu, S2 %llu,%llu; v4 %s, v5 %s\n",
                  fence ? "on" : "off", (unsigned long long)s2->current_term,
                  (unsigned long long)s2->commit_index, (unsigned long long)(3 + o),
                  (unsigned long long)(4 + o), (unsigned long long)sim_log_term(s3, 3 + o),
                  (unsigned long long)sim_log_term(s3, 4 + o),
                  (unsigned long long)sim_log_term(s2, 3 + o),
                  (unsigned long long)sim_log_term(s2, 4 + o),
                  c.outcome[v4] == SIM_ACKED ? "acked" : "not acked",
                  v5 == 0 ? "not submitted" : c.outcome[v5] == SIM_ACKED ? "acked" : "not acked");
    EXPECT(sim_log_term(s3, 4 + o) < s2->current_term && s2->commit_index >= 4 + o,
           "the leader commits counting a follower whose entries there are stale");
    EXPECT(c.outcome[v4] == SIM_ACKED, "a write counted that way is acknowledged");
    /* (5) */
    raft_fixture_kill(&c.f, S2);
    raft_fixture_kill(&c.f, S4);
    raft_fixture_revive(&c.f, S1);
    sim_cluster_heal(&c);
    l = sim_cluster_wait_leader(&c, 10000);
    EXPECT(l == S1 || l == S3, "a server holding the stale tail is elected");
    assert_int_equal(sim_cluster_submit(&c, l, &v6), 0);
    raft_fixture_step_until_applied(&c.f, l, raft_last_index(raft_fixture_get(&c.f, l)), 3000);
    print_message("stale tail (fence %s): new leader S%u applied v2 %zu, v3 %zu, v4 %zu, v5 %zu times\n",
                  fence ? "on" : "off", l + 1, sim_fsm_count(&c.fsms[l], v2), sim_fsm_count(&c.fsms[l], v3),
                  sim_fsm_count(&c.fsms[l], v4), v5 ? sim_fsm_count(&c.fsms[l], v5) : 0);
    EXPECT(sim_fsm_count(&c.fsms[l], v4) == 0 && sim_fsm_count(&c.fsms[l], v2) == 1,
           "an acknowledged write is lost and the stale entries applied instead");
    EXPECT(!sim_cluster_check(&c, false), "the replicas diverge");
    print_message("stale tail: %s\n", c.errmsg);
    sim_cluster_destroy(&c);
}

static void test_raft_0_15_counts_stale_follower_tail(void **state)
{
    (void)state;
    stale_tail_run(false);
}

/* The leader fence does not help here: its barrier is itself an entry the
 * phantom match covers. */
static void test_raft_0_15_counts_stale_follower_tail_fenced(void **state)
{
    (void)state;
    stale_tail_run(true);
}

/* Steps 'ms' virtual ms submitting one value to 'l' every 'every_ms'
 * whenever fewer than 'window' of its requests are pending (0: no bound).
 * Returns the leader's commit index at the end. */
static raft_index stream(struct sim_cluster *c, unsigned l, unsigned ms, unsigned every_ms,
                         unsigned window)
{
    raft_time start = raft_fixture_time(&c->f);
    raft_time next = start;
    while (raft_fixture_time(&c->f) - start < ms) {
        if (raft_fixture_time(&c->f) >= next && (window == 0 || c->inflight[l] < window)) {
            next = raft_fixture_time(&c->f) + every_ms;
            if (sim_cluster_submit(c, l, NULL) != 0)
                c->n_refused++;
        }
        raft_fixture_step(&c->f);
    }
    return raft_fixture_get(&c->f, l)->commit_index;
}

/* 0.15.0 evaluates the commit rule only at the leader's own last stored
 * index. Under a steady, unbounded stream of one entry every 10 ms (fixture
 * latencies: 15 ms network, 10 ms disk) that index is always newer than
 * what the followers hold, so nothing commits for as long as the stream
 * lasts; bounding the requests in flight (the store's window) restores
 * progress at the same offered rate. */
static void test_raft_0_15_commit_stalls_under_steady_stream(void **state)
{
    struct sim_cluster c;
    unsigned l;
    raft_index before;
    raft_index after;
    raft_index windowed;
    unsigned acked;
    (void)state;

    assert_int_equal(sim_cluster_init(&c, 3), 0);
    l = sim_cluster_wait_leader(&c, 5000);
    assert_true(l < c.n);
    before = raft_fixture_get(&c.f, l)->commit_index;
    after = stream(&c, l, 1000, 10, 0);
    print_message("unbounded stream, 1 entry / 10 ms for 1 s: commit %llu -> %llu, last index "
                  "%llu, acked %u\n",
                  (unsigned long long)before, (unsigned long long)after,
                  (unsigned long long)raft_last_index(raft_fixture_get(&c.f, l)), c.n_acked);
    EXPECT(after == before && c.n_acked == 0, "commit stalls under an unbounded steady stream");
    /* Once the stream stops, everything commits. */
    assert_true(raft_fixture_step_until_applied(&c.f, l, raft_last_index(raft_fixture_get(&c.f, l)),
                                                1000));
    acked = c.n_acked;
    assert_int_equal(acked, c.next_value - 1);
    windowed = stream(&c, l, 1000, 10, 4);
    print_message("window of 4, same rate for 1 s: %u more acked, commit %llu\n",
                  c.n_acked - acked, (unsigned long long)windowed);
    assert_true(c.n_acked - acked >= 40);
    if (!sim_cluster_check(&c, false))
        fail_msg("%s", c.errmsg);
    sim_cluster_destroy(&c);
}

/* Disk failure on the leader. The 0.15.0 fixture can only make every I/O
 * call of a server fail synchronously from some point on (append, send,
 * term/vote writes alike); it cannot fail an append that was accepted. With
 * that model: writes are refused at once with RAFT_IOERR, the server keeps
 * claiming leadership until its followers depose it by election timeout
 * (it does not give up by itself), then it ends RAFT_UNAVAILABLE; a new
 * leader carries on and nothing acknowledged is lost. */
static void test_raft_0_15_leader_io_failure(void **state)
{
    struct sim_cluster c;
    unsigned l;
    unsigned l2;
    uint64_t v;
    raft_time fault_at;
    raft_time lost_at = 0;
    struct raft *r;
    (void)state;

    assert_int_equal(sim_cluster_init(&c, 3), 0);
    sim_cluster_set_leader_fence(&c, true);
    l = sim_cluster_wait_leader(&c, 5000);
    assert_true(l < c.n);
    r = raft_fixture_get(&c.f, l);
    for (int k = 0; k < 3; k++)
        assert_int_equal(sim_cluster_submit(&c, l, &v), 0);
    assert_true(raft_fixture_step_until_applied(&c.f, c.n, raft_last_index(r), 2000));

    raft_fixture_io_fault(&c.f, l, 0, -1);
    fault_at = raft_fixture_time(&c.f);
    EXPECT(sim_cluster_submit(&c, l, &v) == RAFT_IOERR, "a write on a failed disk is refused");
    EXPECT(raft_state(r) == RAFT_LEADER, "the failed-disk leader does not step down by itself");
    while (raft_fixture_time(&c.f) - fault_at < 10000) {
        raft_fixture_step(&c.f);
        if (lost_at == 0 && raft_state(r) != RAFT_LEADER)
            lost_at = raft_fixture_time(&c.f);
        l2 = sim_cluster_leader(&c);
        if (l2 != c.n && l2 != l)
            break;
    }
    l2 = sim_cluster_leader(&c);
    print_message("leader %u disk failed at %llu ms; still leader for %llu ms; new leader %u "
                  "at %llu ms; failed server state %d\n",
                  l, (unsigned long long)fault_at, (unsigned long long)(lost_at - fault_at), l2,
                  (unsigned long long)raft_fixture_time(&c.f), raft_state(r));
    assert_true(lost_at != 0);
    EXPECT(lost_at - fault_at >= r->election_timeout,
           "leadership is kept for at least an election timeout after the failure");
    assert_true(l2 < c.n && l2 != l);
    EXPECT(raft_state(r) == RAFT_UNAVAILABLE, "the failed server ends unavailable");
    for (int k = 0; k < 5; k++)
        assert_int_equal(sim_cluster_submit(&c, l2, &v), 0);
    raft_fixture_kill(&c.f, l);
    assert_true(sim_cluster_converge(&c, 10000));
    if (!sim_cluster_check(&c, true))
        fail_msg("%s", c.errmsg);
    assert_int_equal(c.n_acked, 8);
    sim_cluster_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raft_0_15_commits_prior_term_by_counting),
        cmocka_unit_test(test_leader_fence_blocks_figure8),
        cmocka_unit_test(test_late_leader_fence_loses_figure8),
        cmocka_unit_test(test_raft_0_15_counts_stale_follower_tail),
        cmocka_unit_test(test_raft_0_15_counts_stale_follower_tail_fenced),
        cmocka_unit_test(test_raft_0_15_commit_stalls_under_steady_stream),
        cmocka_unit_test(test_raft_0_15_leader_io_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for routing/rib's decision process: one case per step of the
 * order (each proving that step decides when all earlier ones tie), ECMP set
 * membership, and insertion-order independence over every permutation of a
 * path set whose pairwise MED comparison is cyclic. */
#include "tests/unit/rib/rib_test.h"

struct fx {
    struct rib *r;
    struct rib_instance *inst;
    struct rib_table *t;
    struct rib_prefix p;
};

static int setup_cfg(void **state, bool always_med)
{
    struct fx *f = calloc(1, sizeof *f);
    struct rib_config cfg = {.always_compare_med = always_med};
    assert_int_equal(rib_create(&cfg, &f->r), 0);
    assert_int_equal(rib_instance_create(f->r, "default-domain:p:vn1:vn1", &f->inst), 0);
    f->t = rib_instance_table(f->inst, RIB_AF_INET);
    f->p = pfx4(10, 1, 1, 0, 24);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_cfg(state, false);
}

static int setup_always_med(void **state)
{
    return setup_cfg(state, true);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char why[256];
    assert_int_equal(rib_audit(f->r, why, sizeof why), 0);
    rib_free(f->r);
    free(f);
    return 0;
}

static uint32_t best_source(struct fx *f, size_t *nbest)
{
    const struct rib_path *b = best_of(f->t, &f->p, nbest);
    return b ? b->source : 0;
}

static void test_local_pref(void **state)
{
    struct fx *f = *state;
    uint32_t a = add_source(f->r, RIB_SRC_IBGP, 1, 1), b = add_source(f->r, RIB_SRC_IBGP, 2, 2);
    struct rib_attr lo = {.flags = RIB_ATTR_HAS_LOCAL_PREF, .local_pref = 100};
    struct rib_attr hi = {.flags = RIB_ATTR_HAS_LOCAL_PREF, .local_pref = 200};
    add_path(f->t, f->r, &f->p, a, 0, &lo, 0);
    add_path(f->t, f->r, &f->p, b, 0, &hi, 0);
    assert_int_equal(best_source(f, NULL), b);
    /* Absent LOCAL_PREF compares as 100: it ties with 'lo', and the router id decides. */
    struct rib_attr none = {0};
    add_path(f->t, f->r, &f->p, b, 0, &none, 0);
    assert_int_equal(best_source(f, NULL), a);
}

static void test_llgr_stale_loses(void **state)
{
    struct fx *f = *state;
    uint32_t a = add_source(f->r, RIB_SRC_IBGP, 1, 1), b = add_source(f->r, RIB_SRC_IBGP, 2, 2);
    struct rib_attr hi = {.flags = RIB_ATTR_HAS_LOCAL_PREF, .local_pref = 500};
    struct rib_attr lo = {.flags = RIB_ATTR_HAS_LOCAL_PREF, .local_pref = 10};
    add_path(f->t, f->r, &f->p, a, 0, &hi, RIB_PATH_LLGR_STALE);
    add_path(f->t, f->r, &f->p, b, 0, &lo, 0);
    assert_int_equal(best_source(f, NULL), b);
    /* GR-stale (not LLGR) is still used normally. */
    add_path(f->t, f->r, &f->p, a, 0, &hi, RIB_PATH_STALE);
    assert_int_equal(best_source(f, NULL), a);
}

static void test_infeasible_never_best(void **state)
{
    struct fx *f = *state;
    uint32_t a = add_source(f->r, RIB_SRC_IBGP, 1, 1), b = add_source(f->r, RIB_SRC_IBGP, 2, 2);
    struct rib_attr hi = {.flags = RIB_ATTR_HAS_LOCAL_PREF, .local_pref = 500};
    struct rib_attr lo = {.flags = RIB_ATTR_HAS_LOCAL_PREF, .local_pref = 10};
    add_path(f->t, f->r, &f->p, a, 0, &hi, RIB_PATH_INFEASIBLE);
    size_t nb;
    assert_null(best_of(f->t, &f->p, &nb));
    assert_int_equal(path_count(f->t, &f->p), 1);
    add_path(f->t, f->r, &f->p, b, 0, &lo, 0);
    assert_int_equal(best_source(f, &nb), b);
    assert_int_equal(nb, 1);
}

static void test_sequence_before_local_pref(void **state)
{
    struct fx *f = *state;
    uint32_t a = add_source(f->r, RIB_SRC_XMPP, 1, 1), b = add_source(f->r, RIB_SRC_XMPP, 2, 2);
    struct rib_attr old = {.flags = RIB_ATTR_HAS_LOCAL_PREF, .local_pref = 200, .seq = 3};
    struct rib_attr moved = {.flags = RIB_ATTR_HAS_LOCAL_PREF, .local_pref = 100, .seq = 4};
    add_path(f->t, f->r, &f->p, a, 0, &old, 0);
    add_path(f->t, f->r, &f->p, b, 0, &moved, 0);
    assert_int_equal(best_source(f, NULL), b);
}

static void test_local_origin_preferred(void **state)
{
    struct fx *f = *state;
    uint32_t bgp = add_source(f->r, RIB_SRC_EBGP, 1, 1), agent = add_source(f->r, RIB_SRC_XMPP, 9, 9);
    struct rib_attr a = {0};
    add_path(f->t, f->r, &f->p, bgp, 0, &a, 0);
    add_path(f->t, f->r, &f->p, agent, 0, &a, 0);
    assert_int_equal(best_source(f, NULL), agent);
}

static void test_as_path_length(void **state)
{
    struct fx *f = *state;
    uint32_t a = add_source(f->r, RIB_SRC_EBGP, 1, 1), b = add_source(f->r, RIB_SRC_EBGP, 2, 2);
    uint32_t seq2[] = {65001, 65002}, set3[] = {7, 8, 9}, seq4[] = {65001, 65002, 65003, 65004}, conf[] = {1, 2, 3};
    /* 2 + AS_SET(1) + confederation(0) = 3 hops ... */
    struct rib_as_seg pa[] = {{RIB_AS_SEQUENCE, 2, seq2}, {RIB_AS_SET, 3, set3}, {RIB_AS_CONFED_SEQUENCE, 3, conf}};
    /* ... beats 4 hops, although its router id is higher. */
    struct rib_as_seg pb[] = {{RIB_AS_SEQUENCE, 4, seq4}};
    struct rib_attr aa = {.as_path = pa, .as_path_len = 3}, ab = {.as_path = pb, .as_path_len = 1};
    const struct rib_attr *ia = intern(f->r, &aa);
    assert_int_equal(rib_attr_as_path_count(ia), 3);
    rib_attr_unref(f->r, ia);
    add_path(f->t, f->r, &f->p, b, 0, &ab, 0);
    add_path(f->t, f->r, &f->p, a, 0, &aa, 0);
    assert_int_equal(best_source(f, NULL), a);
    /* Swap the lengths between the sources: the other one wins. */
    add_path(f->t, f->r, &f->p, a, 0, &ab, 0);
    add_path(f->t, f->r, &f->p, b, 0, &aa, 0);
    assert_int_equal(best_source(f, NULL), b);
}

static void test_origin(void **state)
{
    struct fx *f = *state;
    uint32_t a = add_source(f->r, RIB_SRC_IBGP, 1, 1), b = add_source(f->r, RIB_SRC_IBGP, 2, 2);
    struct rib_attr inc = {.origin = RIB_ORIGIN_INCOMPLETE}, igp = {.origin = RIB_ORIGIN_IGP};
    add_path(f->t, f->r, &f->p, a, 0, &inc, 0);
    add_path(f->t, f->r, &f->p, b, 0, &igp, 0);
    assert_int_equal(best_source(f, NULL), b);
}

static struct rib_attr med_attr(uint32_t *asn, struct rib_as_seg *seg, uint32_t med)
{
    seg->type = RIB_AS_SEQUENCE;
    seg->len = 1;
    seg->asns = asn;
    struct rib_attr a = {.flags = RIB_ATTR_HAS_MED, .med = med, .as_path = seg, .as_path_len = 1};
    return a;
}

static void test_med_same_neighbor_only(void **state)
{
    struct fx *f = *state;
    uint32_t a = add_source(f->r, RIB_SRC_EBGP, 1, 1), b = add_source(f->r, RIB_SRC_EBGP, 2, 2);
    uint32_t as100 = 100, as200 = 200;
    struct rib_as_seg s1, s2;
    /* Same neighbour AS: the lower MED wins despite the higher router id. */
    struct rib_attr x = med_attr(&as100, &s1, 50), y = med_attr(&as100, &s2, 10);
    add_path(f->t, f->r, &f->p, a, 0, &x, 0);
    add_path(f->t, f->r, &f->p, b, 0, &y, 0);
    assert_int_equal(best_source(f, NULL), b);
    /* Different neighbour AS: MED is not compared; router id decides. */
    y = med_attr(&as200, &s2, 10);
    add_path(f->t, f->r, &f->p, b, 0, &y, 0);
    assert_int_equal(best_source(f, NULL), a);
}

static void test_always_compare_med(void **state)
{
    struct fx *f = *state;
    uint32_t a = add_source(f->r, RIB_SRC_EBGP, 1, 1), b = add_source(f->r, RIB_SRC_EBGP, 2, 2);
    uint32_t as100 = 100, as200 = 200;
    struct rib_as_seg s1, s2;
    struct rib_attr x = med_attr(&as100, &s1, 50), y = med_attr(&as200, &s2, 10);
    add_path(f->t, f->r, &f->p, a, 0, &x, 0);
    add_path(f->t, f->r, &f->p, b, 0, &y, 0);
    assert_int_equal(best_source(f, NULL), b);
}

static void test_ebgp_over_ibgp(void **state)
{
    struct fx *f = *state;
    uint32_t i = add_source(f->r, RIB_SRC_IBGP, 1, 1), e = add_source(f->r, RIB_SRC_EBGP, 2, 2);
    struct rib_attr a = {0};
    add_path(f->t, f->r, &f->p, i, 0, &a, 0);
    add_path(f->t, f->r, &f->p, e, 0, &a, 0);
    size_t nb;
    assert_int_equal(best_source(f, &nb), e);
    assert_int_equal(nb, 1); /* eBGP and iBGP never share an ECMP set */
}

static void test_router_id_and_originator(void **state)
{
    struct fx *f = *state;
    uint32_t a = add_source(f->r, RIB_SRC_IBGP, 20, 1), b = add_source(f->r, RIB_SRC_IBGP, 10, 2);
    struct rib_attr plain = {0};
    add_path(f->t, f->r, &f->p, a, 0, &plain, 0);
    add_path(f->t, f->r, &f->p, b, 0, &plain, 0);
    assert_int_equal(best_source(f, NULL), b);
    /* A reflected path compares by its ORIGINATOR_ID instead. */
    struct rib_attr refl = {.flags = RIB_ATTR_HAS_ORIGINATOR, .originator_id = 5};
    add_path(f->t, f->r, &f->p, a, 0, &refl, 0);
    assert_int_equal(best_source(f, NULL), a);
}

static void test_cluster_list(void **state)
{
    struct fx *f = *state;
    uint32_t a = add_source(f->r, RIB_SRC_IBGP, 7, 1), b = add_source(f->r, RIB_SRC_IBGP, 8, 2);
    uint32_t c2[] = {1, 2}, c1[] = {1};
    struct rib_attr x = {.flags = RIB_ATTR_HAS_ORIGINATOR, .originator_id = 3, .cluster_list = c2, .cluster_len = 2};
    struct rib_attr y = {.flags = RIB_ATTR_HAS_ORIGINATOR, .originator_id = 3, .cluster_list = c1, .cluster_len = 1};
    add_path(f->t, f->r, &f->p, a, 0, &x, 0);
    add_path(f->t, f->r, &f->p, b, 0, &y, 0);
    assert_int_equal(best_source(f, NULL), b);
}

static void test_peer_address(void **state)
{
    struct fx *f = *state;
    struct rib_source_info sa = {.type = RIB_SRC_IBGP, .router_id = 5, .address = ip4(192, 0, 2, 9)};
    struct rib_source_info sb = {.type = RIB_SRC_IBGP, .router_id = 5, .address = ip4(192, 0, 2, 3)};
    uint32_t a, b;
    assert_int_equal(rib_source_add(f->r, &sa, &a), 0);
    assert_int_equal(rib_source_add(f->r, &sb, &b), 0);
    struct rib_attr plain = {0};
    add_path(f->t, f->r, &f->p, a, 0, &plain, 0);
    add_path(f->t, f->r, &f->p, b, 0, &plain, 0);
    assert_int_equal(best_source(f, NULL), b);
}

static void test_ecmp_sets(void **state)
{
    struct fx *f = *state;
    uint32_t s[4];
    for (int i = 0; i < 4; i++)
        s[i] = add_source(f->r, RIB_SRC_XMPP, (uint32_t)(10 - i), (uint8_t)(i + 1));
    struct rib_attr a = {.flags = RIB_ATTR_HAS_LABEL, .label = 16};
    for (int i = 0; i < 3; i++)
        add_path(f->t, f->r, &f->p, s[i], 0, &a, 0);
    size_t nb;
    const struct rib_path *b = best_of(f->t, &f->p, &nb);
    assert_int_equal(nb, 3);
    assert_int_equal(b->source, s[2]); /* lowest router id first */
    /* A path with load-balance off is never a member. */
    struct rib_attr single = a;
    single.flags |= RIB_ATTR_SINGLE_PATH;
    add_path(f->t, f->r, &f->p, s[3], 0, &single, 0);
    b = best_of(f->t, &f->p, &nb);
    assert_int_equal(b->source, s[3]); /* router id 7 is the lowest: it is best, alone */
    assert_int_equal(nb, 1);
    assert_int_equal(rib_path_del(f->t, &f->p, s[3], 0), 0);
    /* Different MED from the same neighbour (empty AS path): not equal. */
    struct rib_attr med = a;
    med.flags |= RIB_ATTR_HAS_MED;
    med.med = 5;
    add_path(f->t, f->r, &f->p, s[0], 0, &med, 0);
    best_of(f->t, &f->p, &nb);
    assert_int_equal(nb, 2);
    /* Two next hops from one agent (path ids) are two members. */
    add_path(f->t, f->r, &f->p, s[1], 1, &a, 0);
    best_of(f->t, &f->p, &nb);
    assert_int_equal(nb, 3);
}

struct perm_path {
    uint32_t src;
    struct rib_attr a;
};

static void check_order(struct fx *f, uint32_t *want_src, size_t *want_nb, bool first)
{
    const struct rib_path *paths;
    size_t count, nb;
    assert_int_equal(rib_table_lookup(f->t, &f->p, &paths, &count, &nb), 0);
    if (first) {
        for (size_t i = 0; i < count; i++)
            want_src[i] = paths[i].source * 100 + paths[i].path_id;
        *want_nb = nb;
        return;
    }
    assert_int_equal(nb, *want_nb);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(paths[i].source * 100 + paths[i].path_id, want_src[i]);
}

/* Inserts the paths in the order 'idx', checks the resulting order (or
 * records it when 'first'), then withdraws them all. */
static void run_perm(struct fx *f, const struct perm_path *pp, const int *idx, int n, uint32_t *want,
                     size_t *want_nb, bool first)
{
    for (int k = 0; k < n; k++)
        add_path(f->t, f->r, &f->p, pp[idx[k]].src, 0, &pp[idx[k]].a, 0);
    check_order(f, want, want_nb, first);
    for (int k = 0; k < n; k++)
        assert_int_equal(rib_path_del(f->t, &f->p, pp[k].src, 0), 0);
}

static void test_order_independent(void **state)
{
    struct fx *f = *state;
    /* p1 > p2 (router id), p2 > p3 (router id), p3 > p1 (MED, same AS 100):
     * pairwise comparison cycles; deterministic MED must give p2. */
    uint32_t as100 = 100, as200 = 200, as300 = 300;
    struct rib_as_seg g1 = {RIB_AS_SEQUENCE, 1, &as100}, g2 = {RIB_AS_SEQUENCE, 1, &as200},
                      g3 = {RIB_AS_SEQUENCE, 1, &as300};
    enum { N = 6 };
    struct perm_path pp[N];
    for (int i = 0; i < N; i++)
        pp[i].src = add_source(f->r, RIB_SRC_EBGP, (uint32_t)(i + 1), (uint8_t)(i + 1));
    pp[0].a = (struct rib_attr){.flags = RIB_ATTR_HAS_MED, .med = 20, .as_path = &g1, .as_path_len = 1};
    pp[1].a = (struct rib_attr){.flags = RIB_ATTR_HAS_MED, .med = 99, .as_path = &g2, .as_path_len = 1};
    pp[2].a = (struct rib_attr){.flags = RIB_ATTR_HAS_MED, .med = 10, .as_path = &g1, .as_path_len = 1};
    pp[3].a = (struct rib_attr){.flags = RIB_ATTR_HAS_MED, .med = 99, .as_path = &g3, .as_path_len = 1};
    pp[4].a = (struct rib_attr){.flags = RIB_ATTR_HAS_MED, .med = 1, .as_path = &g3, .as_path_len = 1};
    pp[5].a = (struct rib_attr){.flags = RIB_ATTR_HAS_MED | RIB_ATTR_HAS_LOCAL_PREF, .med = 1, .local_pref = 50,
                                .as_path = &g2, .as_path_len = 1};
    int idx[N], c[N] = {0};
    for (int i = 0; i < N; i++)
        idx[i] = i;
    uint32_t want[N];
    size_t want_nb = 0, runs = 0;
    run_perm(f, pp, idx, N, want, &want_nb, true);
    runs++;
    /* group AS100: p3 (med 10) > p1; AS200: p2 (p6 loses on local-pref);
     * AS300: p5 (med 1) > p4. Leaders by router id: p2 (2) < p3 (3) < p5. */
    assert_int_equal(want[0], pp[1].src * 100);
    int i = 1;
    while (i < N) {
        if (c[i] < i) {
            int j = (i % 2 == 0) ? 0 : c[i];
            int tmp = idx[j];
            idx[j] = idx[i];
            idx[i] = tmp;
            run_perm(f, pp, idx, N, want, &want_nb, false);
            runs++;
            c[i]++;
            i = 1;
        } else {
            c[i] = 0;
            i++;
        }
    }
    assert_int_equal(runs, 720);
    rib_flush(f->r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_local_pref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_llgr_stale_loses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infeasible_never_best, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_before_local_pref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_origin_preferred, setup, teardown),
        cmocka_unit_test_setup_teardown(test_as_path_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_med_same_neighbor_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_always_compare_med, setup_always_med, teardown),
        cmocka_unit_test_setup_teardown(test_ebgp_over_ibgp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_router_id_and_originator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ecmp_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_independent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

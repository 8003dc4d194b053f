/* Allocation-failure injection for routing/rib: a scenario touching every
 * part (instances, targets, export/import, leaks, ECMP sets wider than the
 * decision process's stack buffers, listeners, stale/LLGR/sweep, instance
 * removal) is run once per allocation it makes, with exactly that
 * allocation failing. Every run must leave a RIB that passes the audit and
 * frees without leaks (valgrind / ASAN builds check the latter). */
#include "routing/rib/rib_int.h"
#include "tests/unit/rib/rib_test.h"

#define TRY(x)      \
    do {            \
        if ((x)) {} \
    } while (0)

#ifdef STRATA_TEST_HOOKS /* the scenario runs only where allocations can be made to fail */
/* Listener target; outlives each scenario (the final flush runs after it). */
static size_t notes;

static void note_fn(void *ctx, struct rib_table *t, const struct rib_prefix *p, const struct rib_path *best,
                    size_t nbest)
{
    (void)t;
    (void)p;
    (void)best;
    *(size_t *)ctx += nbest + 1;
}

static const struct rib_attr *try_intern(struct rib *r, const struct rib_attr *a)
{
    const struct rib_attr *out = NULL;
    TRY(rib_attr_intern(r, a, &out));
    return out;
}

static void scenario(struct rib *r)
{
    struct rib_instance *in[3] = {NULL, NULL, NULL};
    const char *names[3] = {"a", "b", "c"};
    struct rib_rt rt[3] = {rib_rt_make(64512, 1), rib_rt_make(64512, 2), rib_rt_make(64512, 3)};
    uint32_t lid;
    for (int i = 0; i < 3; i++) {
        TRY(rib_instance_create(r, names[i], &in[i]));
        if (!in[i])
            continue;
        struct rib_instance_config cfg = {.rd = rib_rd_make(64512, (uint32_t)i + 1), .import_rts = rt,
                                          .import_len = 3, .export_rts = &rt[i], .export_len = 1, .vpn = true};
        TRY(rib_instance_configure(in[i], &cfg));
        TRY(rib_listener_add(rib_instance_table(in[i], RIB_AF_INET), note_fn, &notes, &lid));
    }
    if (in[0] && in[2]) {
        struct rib_leak_config lk = {.nexthop = ip4(10, 9, 9, 9), .has_label = true, .label = 99};
        TRY(rib_leak_set(in[0], in[2], &lk));
    }
    uint32_t src[12] = {0};
    for (int i = 0; i < 12; i++) {
        struct rib_source_info si = {.type = i < 10 ? RIB_SRC_XMPP : RIB_SRC_IBGP, .router_id = (uint32_t)i + 1,
                                     .address = ip4(192, 0, 2, (uint8_t)(i + 1)), .name = "s"};
        TRY(rib_source_add(r, &si, &src[i]));
    }
    struct rib_ext ex[] = {rib_rt_ext(rt[1]), rib_ext_encap(RIB_ENCAP_VXLAN)};
    struct rib_attr aa = {.flags = RIB_ATTR_HAS_LABEL, .label = 20, .nexthop = ip4(10, 0, 0, 1)};
    struct rib_attr va = {.flags = RIB_ATTR_HAS_LABEL, .label = 30, .exts = ex, .exts_len = 2, .vn = "vn"};
    const struct rib_attr *a = try_intern(r, &aa), *v = try_intern(r, &va);
    if (in[0] && a) {
        struct rib_table *t = rib_instance_table(in[0], RIB_AF_INET);
        for (uint8_t k = 0; k < 4 && src[1]; k++) {
            struct rib_prefix p = pfx4(10, 1, k, 0, 24);
            TRY(rib_path_add(t, &p, src[1], 0, a, 0));
        }
        /* An ECMP set of ten agents. */
        struct rib_prefix p = pfx4(10, 2, 0, 0, 16);
        for (int k = 0; k < 10; k++)
            if (src[k])
                TRY(rib_path_add(t, &p, src[k], 0, a, 0));
    }
    if (v && src[10]) {
        struct rib_prefix vp = pfx_vpn4(rib_rd_make(65000, 1), 172, 16, 0, 0, 12);
        TRY(rib_path_add(rib_vpn_table(r, RIB_AF_L3VPN), &vp, src[10], 0, v, 0));
    }
    rib_flush(r);
    if (src[1]) {
        TRY(rib_source_mark_stale(r, src[1]));
        TRY(rib_source_mark_llgr(r, src[1]));
    }
    if (in[1]) {
        struct rib_instance_config cfg = {.rd = rib_rd_make(64512, 7), .import_rts = &rt[1], .import_len = 1,
                                          .vpn = true};
        TRY(rib_instance_configure(in[1], &cfg));
    }
    if (src[1])
        TRY(rib_source_sweep(r, src[1]));
    rib_flush(r);
    rib_instance_destroy(in[1]);
    if (src[3])
        TRY(rib_source_del(r, src[3]));
    if (in[0] && in[2])
        TRY(rib_leak_clear(in[0], in[2]));
    rib_attr_unref(r, a);
    rib_attr_unref(r, v);
}

#endif

static void test_every_allocation_fails_once(void **state)
{
    (void)state;
#ifdef STRATA_TEST_HOOKS
    long n;
    for (n = 0;; n++) {
        struct rib *r = NULL;
        rib_test_fail_nth(n);
        int rc = rib_create(NULL, &r);
        if (rc == 0)
            scenario(r);
        long made = rib_test_fail_nth(-1);
        if (r) {
            rib_flush(r);
            audit_ok(r);
            rib_free(r);
        }
        if (made <= n)
            break; /* the scenario ran to its end without reaching the failure */
    }
    print_message("# %ld allocations, each failed once\n", n);
    assert_true(n > 100);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

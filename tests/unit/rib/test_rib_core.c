/* Unit tests for routing/rib's tables: attribute interning and reference
 * counts, prefix keys of every family, argument errors, listener
 * coalescing, sorted walks, graceful-restart stale / refresh / sweep / LLGR
 * per source, a 200,000-route insert/withdraw churn checked against a
 * shadow model with the audit, route marks (listeners, walks, clearing,
 * the "gone" notification) and the route slabs (reuse, blocks returned). */
#include <stdio.h>

#include "routing/rib/rib_int.h"
#include "tests/unit/rib/rib_test.h"

static void test_intern_shares_and_counts(void **state)
{
    (void)state;
    struct rib *r;
    assert_int_equal(rib_create(NULL, &r), 0);
    uint32_t c1[] = {300, 100, 200, 100}, c2[] = {200, 300, 100};
    struct rib_ext ex[] = {rib_rt_ext(rib_rt_make(64512, 1)), rib_ext_encap(RIB_ENCAP_MPLS_UDP)};
    struct rib_attr a = {.comms = c1, .comms_len = 4, .exts = ex, .exts_len = 2, .vn = "default-domain:p:vn1"};
    struct rib_attr b = a;
    b.comms = c2;
    b.comms_len = 3;
    const struct rib_attr *ia = intern(r, &a), *ib = intern(r, &b);
    assert_ptr_equal(ia, ib); /* communities are a set: order and duplicates do not matter */
    assert_int_equal(ia->comms_len, 3);
    assert_int_equal(ia->comms[0], 100);
    assert_string_equal(ia->vn, "default-domain:p:vn1");
    assert_int_equal(rib_attr_refcount(ia), 2);
    /* Absent optional values do not distinguish sets. */
    struct rib_attr m1 = {.med = 7}, m2 = {.med = 9};
    const struct rib_attr *im1 = intern(r, &m1), *im2 = intern(r, &m2);
    assert_ptr_equal(im1, im2);
    m2.flags = RIB_ATTR_HAS_MED;
    const struct rib_attr *im3 = intern(r, &m2);
    assert_ptr_not_equal(im1, im3);
    struct rib_stats st;
    rib_stats_get(r, &st);
    assert_int_equal(st.attrs, 3);

    /* Paths hold their own reference. */
    struct rib_instance *inst;
    assert_int_equal(rib_instance_create(r, "vn", &inst), 0);
    struct rib_table *t = rib_instance_table(inst, RIB_AF_INET);
    uint32_t s = add_source(r, RIB_SRC_XMPP, 1, 1);
    struct rib_prefix p = pfx4(10, 0, 0, 1, 32);
    assert_int_equal(rib_path_add(t, &p, s, 0, ia, 0), 0);
    assert_int_equal(rib_attr_refcount(ia), 3);
    assert_int_equal(rib_path_del(t, &p, s, 0), 0);
    assert_int_equal(rib_attr_refcount(ia), 2);
    rib_attr_unref(r, ia);
    rib_attr_unref(r, ib);
    rib_attr_unref(r, im1);
    rib_attr_unref(r, im2);
    rib_attr_unref(r, im3);
    rib_stats_get(r, &st);
    assert_int_equal(st.attrs, 0);
    /* A million routes sharing one set hold one copy: shown with 10,000. */
    const struct rib_attr *one = intern(r, &a);
    for (uint32_t i = 0; i < 10000; i++) {
        struct rib_prefix q = pfx4(10, (uint8_t)(i >> 8), (uint8_t)i, 0, 24);
        assert_int_equal(rib_path_add(t, &q, s, 0, one, 0), 0);
    }
    rib_stats_get(r, &st);
    assert_int_equal(st.attrs, 1);
    assert_int_equal(rib_attr_refcount(one), 10001);
    rib_attr_unref(r, one);
    audit_ok(r);
    rib_flush(r);
    rib_free(r);
}

static void test_attr_validation(void **state)
{
    (void)state;
    struct rib *r;
    assert_int_equal(rib_create(NULL, &r), 0);
    const struct rib_attr *out = NULL;
    struct rib_attr bad = {.origin = 3};
    assert_int_equal(rib_attr_intern(r, &bad, &out), RIB_ERR_ATTR);
    struct rib_as_seg seg = {RIB_AS_SEQUENCE, 0, NULL};
    struct rib_attr bad2 = {.as_path = &seg, .as_path_len = 1};
    assert_int_equal(rib_attr_intern(r, &bad2, &out), RIB_ERR_ATTR);
    char vn[300];
    memset(vn, 'x', sizeof vn - 1);
    vn[299] = 0;
    struct rib_attr bad3 = {.vn = vn};
    assert_int_equal(rib_attr_intern(r, &bad3, &out), RIB_ERR_ATTR);
    /* A stack set is refused by rib_path_add. */
    struct rib_instance *inst;
    assert_int_equal(rib_instance_create(r, "vn", &inst), 0);
    uint32_t s = add_source(r, RIB_SRC_XMPP, 1, 1);
    struct rib_prefix p = pfx4(10, 0, 0, 1, 32);
    struct rib_attr stack = {0};
    assert_int_equal(rib_path_add(rib_instance_table(inst, RIB_AF_INET), &p, s, 0, &stack, 0), RIB_ERR_ATTR);
    assert_string_equal(strata_strerror(RIB_ERR_ATTR), "attribute set invalid or not interned");
    rib_free(r);
}

static void test_rt_rd_helpers(void **state)
{
    (void)state;
    char buf[64];
    struct rib_rt rt;
    assert_int_equal(rib_rt_parse("target:64512:8000001", &rt), 0);
    assert_memory_equal(rt.b, rib_rt_make(64512, 8000001).b, 8);
    rib_rt_format(&rt, buf, sizeof buf);
    assert_string_equal(buf, "target:64512:8000001");
    assert_int_equal(rib_rt_parse("target:4200000000:7", &rt), 0);
    assert_int_equal(rt.b[0], 0x02);
    rib_rt_format(&rt, buf, sizeof buf);
    assert_string_equal(buf, "target:4200000000:7");
    assert_int_equal(rib_rt_parse("10.1.2.3:9", &rt), 0);
    rib_rt_format(&rt, buf, sizeof buf);
    assert_string_equal(buf, "target:10.1.2.3:9");
    assert_int_equal(rib_rt_parse("target:4200000000:70000", &rt), RIB_ERR_INVAL);
    assert_int_equal(rib_rt_parse("target:x:1", &rt), RIB_ERR_INVAL);
    assert_int_equal(rib_rt_parse("target:1.2.3:1", &rt), RIB_ERR_INVAL);
    struct rib_ext e = rib_rt_ext(rt);
    assert_true(rib_ext_is_rt(&e));
    struct rib_ext enc = rib_ext_encap(RIB_ENCAP_VXLAN);
    assert_false(rib_ext_is_rt(&enc));
    assert_int_equal(enc.b[7], 8);
    struct rib_rd rd = rib_rd_make_ip(0x0a000001, 3);
    rib_rd_format(&rd, buf, sizeof buf);
    assert_string_equal(buf, "10.0.0.1:3");
    rd = rib_rd_make(64512, 1);
    rib_rd_format(&rd, buf, sizeof buf);
    assert_string_equal(buf, "64512:1");
}

struct walk_ctx {
    char lines[16][96];
    size_t len;
};

static int walk_fn(void *ctx, const struct rib_prefix *p, const struct rib_path *paths, size_t count, size_t nbest)
{
    struct walk_ctx *w = ctx;
    (void)paths;
    (void)count;
    (void)nbest;
    if (w->len < 16)
        rib_prefix_format(p, w->lines[w->len++], 96);
    return 0;
}

static void test_prefix_keys(void **state)
{
    (void)state;
    struct rib *r;
    assert_int_equal(rib_create(NULL, &r), 0);
    struct rib_instance *inst;
    assert_int_equal(rib_instance_create(r, "vn", &inst), 0);
    struct rib_table *t4 = rib_instance_table(inst, RIB_AF_INET), *ev = rib_instance_table(inst, RIB_AF_EVPN);
    uint32_t s = add_source(r, RIB_SRC_XMPP, 1, 1);
    struct rib_attr a = {0};
    /* Host bits are cleared: 10.1.2.3/16 is 10.1.0.0/16. */
    struct rib_prefix p = pfx4(10, 1, 2, 3, 16), q = pfx4(10, 1, 0, 0, 16);
    add_path(t4, r, &p, s, 0, &a, 0);
    assert_int_equal(path_count(t4, &q), 1);
    struct rib_prefix bad = pfx4(10, 0, 0, 0, 33);
    const struct rib_attr *ia = intern(r, &a);
    assert_int_equal(rib_path_add(t4, &bad, s, 0, ia, 0), RIB_ERR_PREFIX);
    struct rib_prefix v6 = {.family = RIB_AF_INET6, .plen = 64, .addr = {.af = 6, .b = {0x20, 1, 0xd, 0xb8}}};
    assert_int_equal(rib_path_add(t4, &v6, s, 0, ia, 0), RIB_ERR_FAMILY);
    assert_int_equal(rib_path_add(rib_instance_table(inst, RIB_AF_INET6), &v6, s, 0, ia, 0), 0);
    assert_int_equal(rib_path_add(t4, &q, 999, 0, ia, 0), RIB_ERR_SOURCE);
    assert_int_equal(rib_path_add(t4, &q, s, 0, ia, RIB_PATH_REPLICATED), RIB_ERR_INVAL);
    assert_int_equal(rib_path_del(t4, &q, s, 7), RIB_ERR_NOENT);
    /* EVPN types 2 (with and without IP), 3 and 5. */
    struct rib_prefix e2 = {.family = RIB_AF_EVPN, .evpn = {.type = 2, .mac = {0, 0x11, 0x22, 0x33, 0x44, 0x55}},
                            .addr = ip4(10, 0, 0, 1)};
    struct rib_prefix e2m = e2;
    e2m.addr.af = 0;
    struct rib_prefix e3 = {.family = RIB_AF_EVPN, .evpn = {.type = 3}, .addr = ip4(10, 1, 1, 1)};
    struct rib_prefix e5 = {.family = RIB_AF_EVPN, .evpn = {.type = 5}, .addr = ip4(10, 9, 9, 9), .plen = 8};
    struct rib_prefix e9 = {.family = RIB_AF_EVPN, .evpn = {.type = 9}};
    assert_int_equal(rib_path_add(ev, &e2, s, 0, ia, 0), 0);
    assert_int_equal(rib_path_add(ev, &e2m, s, 0, ia, 0), 0);
    assert_int_equal(rib_path_add(ev, &e3, s, 0, ia, 0), 0);
    assert_int_equal(rib_path_add(ev, &e5, s, 0, ia, 0), 0);
    assert_int_equal(rib_path_add(ev, &e9, s, 0, ia, 0), RIB_ERR_PREFIX);
    assert_int_equal(rib_table_count(ev), 4);
    struct walk_ctx w = {0};
    assert_int_equal(rib_table_walk(ev, walk_fn, &w), 0);
    assert_int_equal(w.len, 4);
    assert_string_equal(w.lines[0], "2-00:11:22:33:44:55,-");
    assert_string_equal(w.lines[1], "2-00:11:22:33:44:55,10.0.0.1");
    assert_string_equal(w.lines[2], "3-0-10.1.1.1");
    assert_string_equal(w.lines[3], "5-0-10.0.0.0/8");
    /* Route-target constraint NLRI in bgp.rtarget.0. */
    struct rib_table *rtc = rib_vpn_table(r, RIB_AF_RTARGET);
    assert_string_equal(rib_table_name(rtc), "bgp.rtarget.0");
    struct rib_prefix rp = {.family = RIB_AF_RTARGET, .rt_origin_as = 64512, .rt = rib_rt_make(64512, 5), .plen = 96};
    assert_int_equal(rib_path_add(rtc, &rp, s, 0, ia, 0), 0);
    memset(&w, 0, sizeof w);
    assert_int_equal(rib_table_walk(rtc, walk_fn, &w), 0);
    assert_string_equal(w.lines[0], "64512:target:64512:5/96");
    rib_attr_unref(r, ia);
    assert_string_equal(rib_table_name(ev), "vn.evpn.0");
    assert_ptr_equal(rib_table_find(r, "vn.evpn.0"), ev);
    assert_ptr_equal(rib_table_find(r, "bgp.rtarget.0"), rtc);
    assert_null(rib_table_find(r, "vn.evpn.1"));
    audit_ok(r);
    rib_free(r);
}

static void test_listener_coalesces(void **state)
{
    (void)state;
    struct rib *r;
    assert_int_equal(rib_create(NULL, &r), 0);
    struct rib_instance *inst;
    assert_int_equal(rib_instance_create(r, "vn", &inst), 0);
    struct rib_table *t = rib_instance_table(inst, RIB_AF_INET);
    struct recorder rec = {0};
    uint32_t lid;
    assert_int_equal(rib_listener_add(t, record_fn, &rec, &lid), 0);
    uint32_t s = add_source(r, RIB_SRC_XMPP, 1, 1), s2 = add_source(r, RIB_SRC_XMPP, 2, 2);
    struct rib_prefix p = pfx4(10, 0, 0, 1, 32);
    for (uint32_t i = 0; i < 50; i++) {
        struct rib_attr a = {.flags = RIB_ATTR_HAS_LABEL, .label = 16 + i};
        add_path(t, r, &p, s, 0, &a, 0);
    }
    assert_int_equal(rec.len, 0); /* nothing before the flush */
    assert_int_equal(rib_flush(r), 1);
    assert_int_equal(rec.len, 1);
    assert_int_equal(rec.notes[0].nbest, 1);
    assert_int_equal(rec.notes[0].first_label, 16 + 49);
    /* A path that does not change the best set makes no notification. */
    struct rib_attr worse = {.flags = RIB_ATTR_HAS_LOCAL_PREF, .local_pref = 10};
    add_path(t, r, &p, s2, 0, &worse, 0);
    assert_int_equal(rib_flush(r), 0);
    /* Nor does re-adding the identical path. */
    struct rib_attr same = {.flags = RIB_ATTR_HAS_LABEL, .label = 16 + 49};
    add_path(t, r, &p, s, 0, &same, 0);
    assert_int_equal(rib_flush(r), 0);
    /* Withdrawing the best: the other path becomes best. */
    assert_int_equal(rib_path_del(t, &p, s, 0), 0);
    assert_int_equal(rib_flush(r), 1);
    assert_int_equal(rec.notes[1].first_source, s2);
    /* Gone. */
    assert_int_equal(rib_path_del(t, &p, s2, 0), 0);
    assert_int_equal(rib_flush(r), 1);
    assert_int_equal(rec.len, 3);
    assert_int_equal(rec.notes[2].nbest, 0);
    assert_int_equal(rib_table_count(t), 0);
    /* Add then withdraw between flushes: one notification, "gone". */
    struct rib_attr a = {0};
    add_path(t, r, &p, s, 0, &a, 0);
    assert_int_equal(rib_path_del(t, &p, s, 0), 0);
    assert_int_equal(rib_flush(r), 1);
    assert_int_equal(rec.notes[3].nbest, 0);
    assert_int_equal(rib_listener_del(t, lid), 0);
    assert_int_equal(rib_listener_del(t, lid), RIB_ERR_NOENT);
    struct rib_stats st;
    rib_stats_get(r, &st);
    assert_int_equal(st.routes, 0);
    assert_int_equal(st.paths, 0);
    audit_ok(r);
    rib_free(r);
}

static void test_walk_sorted(void **state)
{
    (void)state;
    struct rib *r;
    assert_int_equal(rib_create(NULL, &r), 0);
    struct rib_instance *inst;
    assert_int_equal(rib_instance_create(r, "vn", &inst), 0);
    struct rib_table *t = rib_instance_table(inst, RIB_AF_INET);
    uint32_t s = add_source(r, RIB_SRC_XMPP, 1, 1);
    struct rib_attr a = {0};
    uint8_t order[] = {9, 3, 7, 1, 5, 2, 8, 4, 6};
    for (size_t i = 0; i < sizeof order; i++) {
        struct rib_prefix p = pfx4(10, order[i], 0, 0, 16);
        add_path(t, r, &p, s, 0, &a, 0);
    }
    struct walk_ctx w = {0};
    assert_int_equal(rib_table_walk(t, walk_fn, &w), 0);
    assert_int_equal(w.len, 9);
    for (size_t i = 0; i < 9; i++) {
        char want[32];
        snprintf(want, sizeof want, "10.%zu.0.0/16", i + 1);
        assert_string_equal(w.lines[i], want);
    }
    rib_free(r);
}

static void test_stale_refresh_sweep(void **state)
{
    (void)state;
    struct rib *r;
    assert_int_equal(rib_create(NULL, &r), 0);
    struct rib_instance *inst;
    assert_int_equal(rib_instance_create(r, "vn", &inst), 0);
    struct rib_table *t = rib_instance_table(inst, RIB_AF_INET);
    uint32_t peer = add_source(r, RIB_SRC_IBGP, 1, 1), other = add_source(r, RIB_SRC_IBGP, 2, 2);
    struct rib_attr a = {0};
    struct rib_prefix p[3] = {pfx4(10, 0, 1, 0, 24), pfx4(10, 0, 2, 0, 24), pfx4(10, 0, 3, 0, 24)};
    for (int i = 0; i < 3; i++)
        add_path(t, r, &p[i], peer, 0, &a, 0);
    add_path(t, r, &p[0], other, 0, &a, 0);
    rib_flush(r);
    assert_int_equal(rib_source_mark_stale(r, peer), 3);
    assert_int_equal(rib_source_mark_stale(r, peer), 0); /* already stale */
    const struct rib_path *paths;
    size_t count, nb;
    assert_int_equal(rib_table_lookup(t, &p[1], &paths, &count, &nb), 0);
    assert_int_equal(paths[0].flags, RIB_PATH_STALE);
    assert_int_equal(nb, 1); /* stale paths stay usable */
    /* The peer comes back and re-advertises p[1]: the mark clears. */
    add_path(t, r, &p[1], peer, 0, &a, 0);
    assert_int_equal(rib_table_lookup(t, &p[1], &paths, &count, &nb), 0);
    assert_int_equal(paths[0].flags, 0);
    /* End-of-RIB: p[0] and p[2] were not refreshed. */
    assert_int_equal(rib_source_sweep(r, peer), 2);
    assert_int_equal(path_count(t, &p[0]), 1); /* 'other' remains */
    assert_int_equal(path_count(t, &p[2]), 0);
    assert_int_equal(path_count(t, &p[1]), 1);
    assert_int_equal(rib_source_sweep(r, 999), RIB_ERR_SOURCE);
    rib_flush(r);
    audit_ok(r);
    /* Deleting a source withdraws what it still has. */
    assert_int_equal(rib_source_del(r, peer), 0);
    assert_int_equal(path_count(t, &p[1]), 0);
    assert_null(rib_source_get(r, peer));
    rib_flush(r);
    audit_ok(r);
    rib_free(r);
}

static void test_llgr(void **state)
{
    (void)state;
    struct rib *r;
    assert_int_equal(rib_create(NULL, &r), 0);
    struct rib_instance *inst;
    assert_int_equal(rib_instance_create(r, "vn", &inst), 0);
    struct rib_table *t = rib_instance_table(inst, RIB_AF_INET);
    uint32_t peer = add_source(r, RIB_SRC_IBGP, 1, 1), backup = add_source(r, RIB_SRC_IBGP, 2, 2);
    struct rib_attr pref = {.flags = RIB_ATTR_HAS_LOCAL_PREF, .local_pref = 300};
    uint32_t nollgr = RIB_COMM_NO_LLGR;
    struct rib_attr no = {.comms = &nollgr, .comms_len = 1};
    struct rib_attr low = {.flags = RIB_ATTR_HAS_LOCAL_PREF, .local_pref = 50};
    struct rib_prefix p = pfx4(10, 0, 1, 0, 24), q = pfx4(10, 0, 2, 0, 24);
    add_path(t, r, &p, peer, 0, &pref, 0);
    add_path(t, r, &p, backup, 0, &low, 0);
    add_path(t, r, &q, peer, 0, &no, 0);
    assert_int_equal(best_of(t, &p, NULL)->source, peer);
    assert_int_equal(rib_source_mark_stale(r, peer), 2);
    assert_int_equal(best_of(t, &p, NULL)->source, peer); /* GR: still preferred */
    struct recorder rec = {0};
    uint32_t lid;
    rib_flush(r);
    assert_int_equal(rib_listener_add(t, record_fn, &rec, &lid), 0);
    assert_int_equal(rib_source_mark_llgr(r, peer), 1);
    assert_int_equal(path_count(t, &q), 0); /* NO_LLGR: removed at the transition */
    const struct rib_path *paths;
    size_t count, nb;
    assert_int_equal(rib_table_lookup(t, &p, &paths, &count, &nb), 0);
    assert_int_equal(paths[0].source, backup); /* demoted below local-pref 50 */
    assert_int_equal(paths[1].flags, RIB_PATH_STALE | RIB_PATH_LLGR_STALE);
    assert_true(rib_attr_has_comm(paths[1].attr, RIB_COMM_LLGR_STALE));
    assert_int_equal(rib_flush(r), 2);
    /* If the backup goes, the LLGR-stale path is used rather than nothing. */
    assert_int_equal(rib_path_del(t, &p, backup, 0), 0);
    assert_int_equal(best_of(t, &p, NULL)->source, peer);
    /* The LLGR timer expires. */
    assert_int_equal(rib_source_sweep(r, peer), 1);
    assert_int_equal(path_count(t, &p), 0);
    rib_flush(r);
    struct rib_stats st;
    rib_stats_get(r, &st);
    assert_int_equal(st.attrs, 0);
    audit_ok(r);
    rib_free(r);
}

/* 200,000 prefixes, two sources, 16 attribute sets; random adds and
 * withdraws mirrored in a shadow model; counts, lookups and the audit must
 * agree with it. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

static void test_churn_200k(void **state)
{
    (void)state;
    enum { N = 200000 };
    struct rib *r;
    assert_int_equal(rib_create(NULL, &r), 0);
    struct rib_instance *inst;
    assert_int_equal(rib_instance_create(r, "vn", &inst), 0);
    struct rib_table *t = rib_instance_table(inst, RIB_AF_INET);
    uint32_t src[2] = {add_source(r, RIB_SRC_XMPP, 1, 1), add_source(r, RIB_SRC_IBGP, 2, 2)};
    const struct rib_attr *attrs[16];
    for (uint32_t i = 0; i < 16; i++) {
        struct rib_attr a = {.flags = RIB_ATTR_HAS_LABEL | RIB_ATTR_HAS_LOCAL_PREF, .label = 100 + i,
                             .local_pref = 100 + (i % 3)};
        attrs[i] = intern(r, &a);
    }
    uint8_t *shadow = calloc(N, 2); /* per source: 0 absent, else attr index + 1 */
    assert_non_null(shadow);
    struct rib_prefix p;
    for (uint32_t i = 0; i < N; i++) {
        p = pfx4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 32);
        uint32_t k = rnd() % 16;
        assert_int_equal(rib_path_add(t, &p, src[0], 0, attrs[k], 0), 0);
        shadow[i * 2] = (uint8_t)(k + 1);
    }
    assert_int_equal(rib_table_count(t), N);
    struct rib_stats st;
    rib_stats_get(r, &st);
    printf("# 200000 inet routes, 1 path each: %zu bytes requested, %.1f bytes/route\n", st.bytes,
           (double)st.bytes / N);
    for (uint32_t round = 0; round < 3 * N; round++) {
        uint32_t i = rnd() % N, s = rnd() % 2;
        p = pfx4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 32);
        if (shadow[i * 2 + s] && rnd() % 2) {
            assert_int_equal(rib_path_del(t, &p, src[s], 0), 0);
            shadow[i * 2 + s] = 0;
        } else {
            uint32_t k = rnd() % 16;
            assert_int_equal(rib_path_add(t, &p, src[s], 0, attrs[k], 0), 0);
            shadow[i * 2 + s] = (uint8_t)(k + 1);
        }
        if (round % 100000 == 0)
            rib_flush(r);
    }
    rib_flush(r);
    audit_ok(r);
    size_t routes = 0, paths = 0;
    for (uint32_t i = 0; i < N; i++) {
        p = pfx4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 32);
        size_t n = (shadow[i * 2] != 0) + (shadow[i * 2 + 1] != 0);
        routes += n != 0;
        paths += n;
        assert_int_equal(path_count(t, &p), n);
        if (i % 97 == 0 && n) {
            /* The xmpp path wins (locally originated) unless local-pref says otherwise. */
            const struct rib_path *b = best_of(t, &p, NULL);
            uint32_t w = b->source == src[0] ? 0 : 1;
            assert_ptr_equal(b->attr, attrs[shadow[i * 2 + w] - 1]);
            if (n == 2) {
                uint32_t lp0 = attrs[shadow[i * 2] - 1]->local_pref, lp1 = attrs[shadow[i * 2 + 1] - 1]->local_pref;
                assert_int_equal(w, lp1 > lp0 ? 1 : 0);
            }
        }
    }
    rib_stats_get(r, &st);
    assert_int_equal(st.routes, routes);
    assert_int_equal(st.paths, paths);
    assert_int_equal(rib_table_count(t), routes);
    /* Withdraw everything. */
    for (uint32_t i = 0; i < N; i++) {
        p = pfx4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 32);
        for (uint32_t s = 0; s < 2; s++)
            if (shadow[i * 2 + s])
                assert_int_equal(rib_path_del(t, &p, src[s], 0), 0);
    }
    rib_flush(r);
    rib_stats_get(r, &st);
    assert_int_equal(st.routes, 0);
    assert_int_equal(st.paths, 0);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(rib_attr_refcount(attrs[i]), 1);
        rib_attr_unref(r, attrs[i]);
    }
    rib_stats_get(r, &st);
    assert_int_equal(st.attrs, 0);
    audit_ok(r);
    free(shadow);
    rib_free(r);
}

/* A route's paths move between the route itself (one path) and an array
 * (several) as paths come and go; the survivors keep their attributes and
 * labels, and the best path follows local-pref. rib_table_prefetch() is a
 * hint: any argument, no change. */
static void test_path_storage_and_prefetch(void **state)
{
    (void)state;
    struct rib *r;
    assert_int_equal(rib_create(NULL, &r), 0);
    struct rib_table *t = rib_vpn_table(r, RIB_AF_L3VPN);
    struct rib_prefix p = pfx_vpn4(rib_rd_make(64512, 7), 10, 1, 2, 0, 24);
    struct rib_prefix bad = p, other = pfx4(10, 1, 2, 0, 24);
    bad.plen = 33;
    rib_table_prefetch(t, &p); /* empty index */
    rib_table_prefetch(NULL, &p);
    uint32_t s[3];
    for (int i = 0; i < 3; i++)
        s[i] = add_source(r, RIB_SRC_EBGP, (uint32_t)i + 1, (uint8_t)(i + 1));
    const struct rib_attr *a[3];
    for (int i = 0; i < 3; i++) {
        struct rib_attr at = {.flags = RIB_ATTR_HAS_LOCAL_PREF | RIB_ATTR_HAS_LABEL, .local_pref = 100u + (uint32_t)i,
                              .nexthop = ip4(192, 0, 2, (uint8_t)(i + 1))};
        a[i] = intern(r, &at);
    }
    struct rib_labels lb[3] = {{.label = 16}, {.label = 17}, {.label = 18}};
    size_t nbest;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rib_path_add_labels(t, &p, s[i], 0, a[i], 0, &lb[i]), 0);
        assert_int_equal(path_count(t, &p), (size_t)i + 1);
        assert_ptr_equal(best_of(t, &p, &nbest)->attr, a[i]);
        audit_ok(r);
    }
    struct rib_stats before, after;
    rib_stats_get(r, &before);
    rib_table_prefetch(t, &p);
    rib_table_prefetch(t, &bad);
    rib_table_prefetch(t, &other);
    rib_stats_get(r, &after);
    assert_memory_equal(&before, &after, sizeof before);
    /* 3 -> 2 -> 1 (into the route) -> 2 (out again) -> 0. */
    assert_int_equal(rib_path_del(t, &p, s[2], 0), 0);
    assert_int_equal(best_of(t, &p, &nbest)->label, 17);
    audit_ok(r);
    assert_int_equal(rib_path_del(t, &p, s[1], 0), 0);
    const struct rib_path *b = best_of(t, &p, &nbest);
    assert_non_null(b);
    assert_ptr_equal(b->attr, a[0]);
    assert_int_equal(b->label, 16);
    assert_int_equal(b->source, s[0]);
    assert_int_equal(nbest, 1);
    audit_ok(r);
    assert_int_equal(rib_path_add_labels(t, &p, s[2], 0, a[2], 0, &lb[2]), 0);
    assert_int_equal(path_count(t, &p), 2);
    assert_int_equal(best_of(t, &p, &nbest)->label, 18);
    audit_ok(r);
    assert_int_equal(rib_path_del(t, &p, s[2], 0), 0);
    assert_int_equal(rib_path_del(t, &p, s[0], 0), 0);
    assert_int_equal(path_count(t, &p), 0);
    (void)rib_flush(r);
    audit_ok(r);
    rib_stats_get(r, &after);
    assert_int_equal(after.routes, 0);
    assert_int_equal(after.paths, 0);
    for (int i = 0; i < 3; i++)
        rib_attr_unref(r, a[i]);
    rib_free(r);
}

/* Marks listener: sets bit 0x1 on every prefix with a best path, records
 * what it saw before changing anything. */
struct mark_rec {
    size_t calls;
    uint16_t seen;   /* marks on entry of the last call */
    size_t last_nbest;
};

static void mark_fn(void *ctx, struct rib_table *t, const struct rib_prefix *p, const struct rib_path *best,
                    size_t nbest, uint16_t *marks)
{
    (void)t;
    (void)p;
    (void)best;
    struct mark_rec *m = ctx;
    m->calls++;
    m->seen = *marks;
    m->last_nbest = nbest;
    if (nbest)
        *marks |= 0x1;
}

static int mark_walk(void *ctx, const struct rib_prefix *p, const struct rib_path *paths, size_t count, size_t nbest,
                     uint16_t *marks)
{
    (void)p;
    (void)paths;
    (void)count;
    (void)nbest;
    size_t *n = ctx;
    *n += (*marks & 0x1) != 0;
    *marks |= 0x2;
    return 0;
}

static void test_marks(void **state)
{
    (void)state;
    struct rib *r;
    assert_int_equal(rib_create(NULL, &r), 0);
    struct rib_table *t = rib_vpn_table(r, RIB_AF_L3VPN);
    uint32_t s1 = add_source(r, RIB_SRC_EBGP, 1, 1), s2 = add_source(r, RIB_SRC_EBGP, 2, 2);
    struct mark_rec m = {0};
    uint32_t id;
    assert_int_equal(rib_listener_add_marks(NULL, mark_fn, &m, &id), RIB_ERR_INVAL);
    assert_int_equal(rib_listener_add_marks(t, mark_fn, &m, &id), 0);
    struct rib_attr at = {.flags = RIB_ATTR_HAS_LABEL, .nexthop = ip4(192, 0, 2, 1)};
    const struct rib_attr *a = intern(r, &at);
    struct rib_prefix p = pfx_vpn4(rib_rd_make(64512, 1), 10, 0, 0, 0, 24);
    struct rib_labels lb = {.label = 100};
    /* a new route starts with no marks; the listener's bit stays */
    assert_int_equal(rib_path_add_labels(t, &p, s1, 0, a, 0, &lb), 0);
    rib_flush(r);
    assert_int_equal(m.calls, 1);
    assert_int_equal(m.seen, 0);
    /* survives a second path and a change of best path */
    lb.label = 99;
    assert_int_equal(rib_path_add_labels(t, &p, s2, 0, a, 0, &lb), 0);
    assert_int_equal(rib_path_del(t, &p, s1, 0), 0);
    rib_flush(r);
    assert_int_equal(m.calls, 2);
    assert_int_equal(m.seen, 0x1);
    /* walks see and may change them */
    size_t marked = 0;
    assert_int_equal(rib_table_walk_marks(t, mark_walk, &marked), 0);
    assert_int_equal(marked, 1);
    assert_int_equal(rib_table_walk_marks(NULL, mark_walk, &marked), RIB_ERR_INVAL);
    /* cleared by mask, counted once per route */
    assert_int_equal(rib_table_marks_clear(t, 0x1), 1);
    assert_int_equal(rib_table_marks_clear(t, 0x1), 0);
    assert_int_equal(rib_table_marks_clear(t, 0x2 | 0x4), 1);
    assert_int_equal(rib_table_marks_clear(NULL, 0x2), 0);
    lb.label = 98;
    assert_int_equal(rib_path_add_labels(t, &p, s2, 0, a, 0, &lb), 0);
    rib_flush(r);
    assert_int_equal(m.seen, 0);
    /* the "gone" notification still carries the marks, then the route is freed */
    assert_int_equal(rib_path_del(t, &p, s2, 0), 0);
    rib_flush(r);
    assert_int_equal(m.last_nbest, 0);
    assert_int_equal(m.seen, 0x1);
    assert_int_equal(rib_path_add_labels(t, &p, s1, 0, a, 0, &lb), 0);
    rib_flush(r);
    assert_int_equal(m.seen, 0); /* a new route */
    audit_ok(r);
    rib_attr_unref(r, a);
    rib_free(r);
}

/* Routes of several key sizes fill and empty many slab blocks: the RIB's
 * byte count goes back to where it was, freed routes are reused, and
 * prefixes stay reachable throughout. */
static void test_route_slabs(void **state)
{
    (void)state;
    enum { N = 30000 };
    struct rib *r;
    assert_int_equal(rib_create(NULL, &r), 0);
    struct rib_table *vpn = rib_vpn_table(r, RIB_AF_L3VPN), *vpn6 = rib_vpn_table(r, RIB_AF_L3VPN6);
    uint32_t s = add_source(r, RIB_SRC_IBGP, 1, 1);
    struct rib_attr at = {.flags = RIB_ATTR_HAS_LABEL, .nexthop = ip4(192, 0, 2, 1)};
    const struct rib_attr *a = intern(r, &at);
    struct rib_stats st0, st;
    rib_flush(r);
    rib_stats_get(r, &st0);
    for (int round = 0; round < 2; round++) {
        for (uint32_t i = 0; i < N; i++) {
            struct rib_prefix p = pfx_vpn4(rib_rd_make(64512, i % 7), 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                                           (uint8_t)i, 32);
            struct rib_labels lb = {.label = i};
            assert_int_equal(rib_path_add_labels(vpn, &p, s, 0, a, 0, &lb), 0);
            struct rib_prefix q = {.family = RIB_AF_L3VPN6, .plen = 128, .rd = p.rd, .addr = {.af = 6}};
            memcpy(q.addr.b + 12, p.addr.b, 4);
            q.addr.b[0] = 0x20;
            assert_int_equal(rib_path_add_labels(vpn6, &q, s, 0, a, 0, &lb), 0);
        }
        rib_flush(r);
        rib_stats_get(r, &st);
        assert_int_equal(st.routes, 2 * N);
        /* every other route goes, then comes back: freed slots are reused */
        for (uint32_t i = 0; i < N; i += 2) {
            struct rib_prefix p = pfx_vpn4(rib_rd_make(64512, i % 7), 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                                           (uint8_t)i, 32);
            assert_int_equal(rib_path_del(vpn, &p, s, 0), 0);
        }
        rib_flush(r);
        struct rib_stats half;
        rib_stats_get(r, &half);
        assert_int_equal(half.routes, 2 * N - N / 2);
        for (uint32_t i = 0; i < N; i += 2) {
            struct rib_prefix p = pfx_vpn4(rib_rd_make(64512, i % 7), 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                                           (uint8_t)i, 32);
            struct rib_labels lb = {.label = i};
            assert_int_equal(rib_path_add_labels(vpn, &p, s, 0, a, 0, &lb), 0);
        }
        rib_flush(r);
        struct rib_stats again;
        rib_stats_get(r, &again);
        assert_true(again.bytes <= st.bytes); /* no new slab block was needed */
        audit_ok(r);
        for (uint32_t i = 0; i < N; i++) {
            struct rib_prefix p = pfx_vpn4(rib_rd_make(64512, i % 7), 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                                           (uint8_t)i, 32);
            const struct rib_path *paths;
            size_t count, nbest;
            assert_int_equal(rib_table_lookup(vpn, &p, &paths, &count, &nbest), 0);
            assert_int_equal(paths[0].label, i);
            assert_int_equal(rib_path_del(vpn, &p, s, 0), 0);
        }
        assert_true(rib_source_withdraw_all(r, s) == N);
        rib_flush(r);
        rib_stats_get(r, &st);
        assert_int_equal(st.routes, 0);
        /* every slab block went back (a block is RIB_SLAB_BLOCK bytes);
         * what remains is the two grown indexes and small queues */
        size_t index = (vpn->cap + vpn6->cap) * sizeof *vpn->slots;
        assert_true(st.bytes - index < st0.bytes + 4096);
    }
    rib_attr_unref(r, a);
    rib_flush(r);
    audit_ok(r);
    rib_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intern_shares_and_counts),
        cmocka_unit_test(test_attr_validation),
        cmocka_unit_test(test_rt_rd_helpers),
        cmocka_unit_test(test_prefix_keys),
        cmocka_unit_test(test_listener_coalesces),
        cmocka_unit_test(test_walk_sorted),
        cmocka_unit_test(test_stale_refresh_sweep),
        cmocka_unit_test(test_llgr),
        cmocka_unit_test(test_churn_200k),
        cmocka_unit_test(test_path_storage_and_prefetch),
        cmocka_unit_test(test_marks),
        cmocka_unit_test(test_route_slabs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Helpers shared by the RIB unit tests: a RIB with sources, prefix and
 * attribute builders, and a listener that records notifications. */
#ifndef STRATA_RIB_TEST_H
#define STRATA_RIB_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "routing/rib/rib.h"

static inline struct rib_addr ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct rib_addr x = {.af = 4, .b = {a, b, c, d}};
    return x;
}

static inline struct rib_prefix pfx4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len)
{
    struct rib_prefix p = {.family = RIB_AF_INET, .plen = len, .addr = ip4(a, b, c, d)};
    return p;
}

static inline struct rib_prefix pfx_vpn4(struct rib_rd rd, uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len)
{
    struct rib_prefix p = pfx4(a, b, c, d, len);
    p.family = RIB_AF_L3VPN;
    p.rd = rd;
    return p;
}

static inline uint32_t add_source(struct rib *r, enum rib_source_type type, uint32_t router_id, uint8_t last)
{
    struct rib_source_info si = {.type = type, .router_id = router_id, .address = ip4(192, 0, 2, last), .name = "peer"};
    uint32_t id = 0;
    assert_int_equal(rib_source_add(r, &si, &id), 0);
    return id;
}

/* Interns 'a' and returns it (the test owns one reference). */
static inline const struct rib_attr *intern(struct rib *r, const struct rib_attr *a)
{
    const struct rib_attr *out = NULL;
    assert_int_equal(rib_attr_intern(r, a, &out), 0);
    return out;
}

/* Adds a path with a fresh attribute set built from 'a'. */
static inline void add_path(struct rib_table *t, struct rib *r, const struct rib_prefix *p, uint32_t src,
                            uint32_t path_id, const struct rib_attr *a, unsigned flags)
{
    const struct rib_attr *ia = intern(r, a);
    assert_int_equal(rib_path_add(t, p, src, path_id, ia, flags), 0);
    rib_attr_unref(r, ia);
}

static inline void audit_ok(struct rib *r)
{
    char why[256] = "";
    int rc = rib_audit(r, why, sizeof why);
    if (rc != 0)
        fail_msg("audit: %s", why);
}

/* Notification recorder. */
struct note {
    struct rib_prefix p;
    size_t nbest;
    uint32_t first_source;
    uint32_t first_label;
    struct rib_addr first_nh;
};

struct recorder {
    struct note notes[64];
    size_t len;
};

static inline void record_fn(void *ctx, struct rib_table *t, const struct rib_prefix *p, const struct rib_path *best,
                             size_t nbest)
{
    (void)t;
    struct recorder *rec = ctx;
    if (rec->len == 64)
        return;
    struct note *n = &rec->notes[rec->len++];
    memset(n, 0, sizeof *n);
    n->p = *p;
    n->nbest = nbest;
    if (nbest) {
        n->first_source = best[0].source;
        n->first_label = best[0].attr->label;
        n->first_nh = best[0].attr->nexthop;
    }
}

/* The best path of 'p' in 't' (NULL when none), and the ECMP count. */
static inline const struct rib_path *best_of(struct rib_table *t, const struct rib_prefix *p, size_t *nbest)
{
    const struct rib_path *paths;
    size_t count, nb;
    if (rib_table_lookup(t, p, &paths, &count, &nb) != 0 || nb == 0) {
        if (nbest)
            *nbest = 0;
        return NULL;
    }
    if (nbest)
        *nbest = nb;
    return &paths[0];
}

static inline size_t path_count(struct rib_table *t, const struct rib_prefix *p)
{
    const struct rib_path *paths;
    size_t count = 0, nb;
    if (rib_table_lookup(t, p, &paths, &count, &nb) != 0)
        return 0;
    return count;
}

#endif

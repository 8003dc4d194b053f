/* bench/rib: routing/rib at scale. Inserts 1,000,000 VPNv4 routes (bgp.l3vpn.0,
 * one iBGP source, 64 distinct attribute sets) and prints routes/s and
 * bytes/route, both as the RIB's own accounting and as the growth of the
 * process's resident memory (malloc's overhead and the route slabs'
 * partly filled blocks included; the second run reuses what the first
 * freed, so its figure is a lower bound); then the same
 * with 1,000 VRFs each importing one of the routes' targets (every route
 * imported once: 2,000,000 routes), then withdraws everything. Usage:
 * rib_bench [routes]. A plain program: prints figures, asserts nothing about
 * speed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "routing/rib/rib.h"

static size_t heap(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "rib_bench: %s: %s\n", what, strata_strerror(rc));
    exit(1);
}

static struct rib_prefix vpn_prefix(uint32_t i)
{
    struct rib_prefix p = {.family = RIB_AF_L3VPN, .plen = 32};
    p.rd = rib_rd_make_ip(0x0a000000u | (i % 1000), (uint16_t)(i % 7));
    p.addr.af = 4;
    p.addr.b[0] = 10;
    p.addr.b[1] = (uint8_t)(i >> 16);
    p.addr.b[2] = (uint8_t)(i >> 8);
    p.addr.b[3] = (uint8_t)i;
    return p;
}

static void run(uint32_t n, uint32_t vrfs)
{
    struct rib *r;
    int rc;
    size_t h0 = heap();
    if ((rc = rib_create(NULL, &r)))
        die("rib_create", rc);
    struct rib_source_info si = {.type = RIB_SRC_IBGP, .router_id = 0x0a0000fe, .address = {.af = 4, .b = {10, 0, 0, 254}}};
    uint32_t src;
    if ((rc = rib_source_add(r, &si, &src)))
        die("rib_source_add", rc);
    for (uint32_t v = 0; v < vrfs; v++) {
        char name[64];
        snprintf(name, sizeof name, "default-domain:bench:vn%u:vn%u", v, v);
        struct rib_instance *inst;
        if ((rc = rib_instance_create(r, name, &inst)))
            die("rib_instance_create", rc);
        struct rib_rt rt = rib_rt_make(64512, 8000000 + v);
        struct rib_instance_config cfg = {.rd = rib_rd_make(64512, v + 1), .import_rts = &rt, .import_len = 1,
                                          .export_rts = &rt, .export_len = 1, .vpn = true};
        if ((rc = rib_instance_configure(inst, &cfg)))
            die("rib_instance_configure", rc);
    }
    enum { NATTR = 64 };
    const struct rib_attr *attrs[NATTR];
    for (uint32_t k = 0; k < NATTR; k++) {
        struct rib_ext ex[2] = {rib_rt_ext(rib_rt_make(64512, 8000000 + (vrfs ? k % vrfs : k))),
                                rib_ext_encap(RIB_ENCAP_MPLS_UDP)};
        uint32_t asn = 64512;
        struct rib_as_seg seg = {RIB_AS_SEQUENCE, 1, &asn};
        struct rib_attr a = {.flags = RIB_ATTR_HAS_LABEL | RIB_ATTR_HAS_LOCAL_PREF, .label = 16 + k,
                             .local_pref = 100, .exts = ex, .exts_len = 2, .as_path = &seg, .as_path_len = 1,
                             .nexthop = {.af = 4, .b = {192, 168, (uint8_t)(k >> 8), (uint8_t)k}}};
        if ((rc = rib_attr_intern(r, &a, &attrs[k])))
            die("rib_attr_intern", rc);
    }
    struct rib_table *vpn = rib_vpn_table(r, RIB_AF_L3VPN);
    size_t h1 = heap();
    double t0 = clock_mono_s();
    for (uint32_t i = 0; i < n; i++) {
        struct rib_prefix p = vpn_prefix(i);
        if ((rc = rib_path_add(vpn, &p, src, 0, attrs[(i * 2654435761u) % NATTR], 0)))
            die("rib_path_add", rc);
        if ((i & 0xffff) == 0xffff)
            rib_flush(r);
    }
    rib_flush(r);
    double t1 = clock_mono_s();
    size_t h2 = heap();
    struct rib_stats st;
    rib_stats_get(r, &st);
    printf("rib_bench: %u VPNv4 routes, %u VRFs importing: %zu routes in all tables, %zu paths, %zu attribute sets\n",
           n, vrfs, st.routes, st.paths, st.attrs);
    printf("  insert: %.0f routes/s (%.2f s)\n", n / (t1 - t0), t1 - t0);
    printf("  memory: %.1f bytes/route (RIB accounting), %.1f bytes/route (resident growth), "
           "per route in any table: %.1f\n",
           (double)st.bytes / st.routes, (double)(h2 - h1) / n, (double)(h2 - h1) / st.routes);
    if (vrfs) {
        /* A live import change: the last VRF starts importing the first
         * VRF's target too, then stops. */
        char name[64];
        snprintf(name, sizeof name, "default-domain:bench:vn%u:vn%u", vrfs - 1, vrfs - 1);
        struct rib_instance *inst = rib_instance_find(r, name);
        struct rib_rt rts[2] = {rib_rt_make(64512, 8000000 + vrfs - 1), rib_rt_make(64512, 8000000)};
        struct rib_instance_config cfg = {.rd = rib_rd_make(64512, vrfs), .import_rts = rts, .import_len = 2,
                                          .export_rts = rts, .export_len = 1, .vpn = true};
        size_t before = rib_table_count(rib_instance_table(inst, RIB_AF_INET));
        t0 = clock_mono_s();
        if ((rc = rib_instance_configure(inst, &cfg)))
            die("rib_instance_configure", rc);
        rib_flush(r);
        t1 = clock_mono_s();
        size_t after = rib_table_count(rib_instance_table(inst, RIB_AF_INET));
        cfg.import_len = 1;
        double t2 = clock_mono_s();
        if ((rc = rib_instance_configure(inst, &cfg)))
            die("rib_instance_configure", rc);
        rib_flush(r);
        double t3 = clock_mono_s();
        printf("  import target added to a live VRF: %zu -> %zu routes in %.1f ms; removed again in %.1f ms\n",
               before, after, (t1 - t0) * 1e3, (t3 - t2) * 1e3);
    }
    t0 = clock_mono_s();
    for (uint32_t i = 0; i < n; i++) {
        struct rib_prefix p = vpn_prefix(i);
        if ((rc = rib_path_del(vpn, &p, src, 0)))
            die("rib_path_del", rc);
        if ((i & 0xffff) == 0xffff)
            rib_flush(r);
    }
    rib_flush(r);
    t1 = clock_mono_s();
    rib_stats_get(r, &st);
    printf("  withdraw: %.0f routes/s (%.2f s); left: %zu routes\n", n / (t1 - t0), t1 - t0, st.routes);
    for (uint32_t k = 0; k < NATTR; k++)
        rib_attr_unref(r, attrs[k]);
    rib_free(r);
    (void)h0;
}

int main(int argc, char **argv)
{
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
    run(n, 0);
    run(n, 1000);
    return 0;
}

/* bench/compile: the compiler core on 10,000 virtual networks and 1,000
 * network policies (each attached to 10 networks and connecting them):
 * the time of a full compile, then of 1,000 incremental changes (one
 * policy's port each: affected sources, their recompile, the diff against
 * what they owned, applying it), reported as p50/p99 with the objects
 * written per change. The derived objects are indexed by owner, as the
 * store indexes them, so a change reads only what its sources owned.
 * Prints "RESULT compile full_ms=... p50_us=... p99_us=... writes=...".
 * Then the same with 100,000 ports (virtual-machine-interfaces, one
 * virtual machine and one instance-ip each) on 1,000 virtual routers (100
 * machines each) and 10,000 floating IPs: the full compile, and 1,000
 * port moves between routers (the interface's machine reference changes),
 * "RESULT compile_ports full_ms=... p50_us=... p99_us=...
 * writes_per_change=..." (2 expected: the two routers' indexes). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "compiler/compile.h"

#define NVN 10000
#define NPOL 1000
#define PER_POL (NVN / NPOL)
#define CHANGES 1000
#define NPORT 100000
#define NVR 1000
#define NFIP 10000

static void uuid_of(char out[37], unsigned kind, unsigned i)
{
    snprintf(out, 37, "%08x-0000-4000-8000-%012x", kind, i);
}

static json_t *policy(unsigned p, int port)
{
    char u[37], name[32];
    uuid_of(u, 2, p);
    snprintf(name, sizeof name, "pol%u", p);
    json_t *dst = json_array();
    for (unsigned j = 0; j < PER_POL; j++) {
        char vn[64];
        snprintf(vn, sizeof vn, "default-domain:proj:vn%u", p * PER_POL + j);
        json_array_append_new(dst, json_pack("{s:s}", "virtual_network", vn));
    }
    return json_pack("{s:s,s:[s,s,s],s:s,s:{s:[{s:s,s:s,s:[{s:s}],s:o,s:[{s:i,s:i}],s:{s:s}}]}}",
                     "uuid", u, "fq_name", "default-domain", "proj", name, "name", name,
                     "network_policy_entries", "policy_rule", "direction", ">", "protocol", "tcp",
                     "src_addresses", "virtual_network", "local", "dst_addresses", dst, "dst_ports",
                     "start_port", port, "end_port", port, "action_list", "simple_action", "pass");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* owner uuid -> {derived key: true} */
static void index_put(json_t *idx, const char *key, const json_t *obj)
{
    const char *owner = compile_owner(obj);
    json_t *s = json_object_get(idx, owner);
    if (!s) {
        s = json_object();
        json_object_set_new(idx, owner, s);
    }
    json_object_set_new(s, key, json_true());
}

/* Applies the change of 'obj' of 'type' (NULL: delete 'uuid') to the
 * model and the derived set, as the planner does; returns the writes. */
static size_t change(struct compile_model *m, struct compile_alloc *a, json_t *derived, json_t *idx,
                     const char *type, const char *uuid, json_t *obj)
{
    const char *k;
    json_t *v;
    json_t *old = json_incref((json_t *)compile_model_get(m, uuid, NULL));
    json_t *sources = json_object(), *before = json_object(), *after = json_object();
    json_t *puts, *dels;
    if ((obj && compile_model_put(m, type, obj) != 0) ||
        compile_affected(m, type, uuid, old, obj, sources) != 0) {
        exit(1);
    }
    json_object_foreach(sources, k, v) {
        const char *dk;
        json_t *dv;
        json_object_foreach(json_object_get(idx, k), dk, dv) {
            json_object_set(before, dk, json_object_get(derived, dk));
        }
    }
    if (compile_sources(m, a, sources, after) != 0 || compile_diff(before, after, &puts, &dels) != 0) {
        exit(1);
    }
    json_object_foreach(puts, k, v) {
        json_object_set(derived, k, v);
        index_put(idx, k, v);
    }
    size_t i;
    json_array_foreach(dels, i, v) {
        json_object_del(derived, json_string_value(v));
    }
    size_t n = json_object_size(puts) + json_array_size(dels);
    json_decref(puts);
    json_decref(dels);
    json_decref(sources);
    json_decref(before);
    json_decref(after);
    json_decref(old);
    return n;
}

static json_t *port(unsigned i, unsigned vm)
{
    char u[37], vnu[37], vmu[37], name[32], vn[32], vmn[32];
    uuid_of(u, 3, i);
    uuid_of(vnu, 1, i % NVN);
    uuid_of(vmu, 4, vm);
    snprintf(name, sizeof name, "port%u", i);
    snprintf(vn, sizeof vn, "vn%u", i % NVN);
    snprintf(vmn, sizeof vmn, "vm%u", vm);
    return json_pack("{s:s,s:[s,s,s],s:s,s:[{s:[s,s,s],s:s}],s:[{s:[s],s:s}]}", "uuid", u, "fq_name",
                     "default-domain", "proj", name, "name", name, "virtual_network_refs", "to",
                     "default-domain", "proj", vn, "uuid", vnu, "virtual_machine_refs", "to", vmn,
                     "uuid", vmu);
}

static void ports_bench(struct compile_model *m, struct compile_alloc *a)
{
    for (unsigned i = 0; i < NPORT; i++) {
        char u[37], iu[37], vmu[37], name[32], addr[32];
        uuid_of(vmu, 4, i);
        snprintf(name, sizeof name, "vm%u", i);
        json_t *vm = json_pack("{s:s,s:[s],s:s}", "uuid", vmu, "fq_name", name, "name", name);
        json_t *p = port(i, i);
        uuid_of(u, 3, i);
        uuid_of(iu, 5, i);
        snprintf(addr, sizeof addr, "10.%u.%u.%u", (i / NVN) % 250, (i % NVN) / 250, 2 + (i % 250));
        json_t *iip = json_pack("{s:s,s:[s],s:s,s:[{s:s}]}", "uuid", iu, "fq_name", iu,
                                "instance_ip_address", addr, "virtual_machine_interface_refs", "uuid", u);
        if (compile_model_put(m, "virtual-machine", vm) || compile_model_put(m, "virtual-machine-interface", p) ||
            compile_model_put(m, "instance-ip", iip)) {
            exit(1);
        }
        json_decref(vm);
        json_decref(p);
        json_decref(iip);
    }
    for (unsigned r = 0; r < NVR; r++) {
        char u[37], name[32];
        uuid_of(u, 6, r);
        snprintf(name, sizeof name, "compute-%u", r);
        json_t *refs = json_array();
        for (unsigned j = 0; j < NPORT / NVR; j++) {
            char vmu[37];
            uuid_of(vmu, 4, r * (NPORT / NVR) + j);
            json_array_append_new(refs, json_pack("{s:s}", "uuid", vmu));
        }
        json_t *vr = json_pack("{s:s,s:[s,s],s:s,s:o}", "uuid", u, "fq_name",
                               "default-global-system-config", name, "name", name,
                               "virtual_machine_refs", refs);
        if (compile_model_put(m, "virtual-router", vr)) {
            exit(1);
        }
        json_decref(vr);
    }
    for (unsigned f = 0; f < NFIP; f++) {
        char u[37], pu[37], name[32], addr[32];
        uuid_of(u, 7, f);
        uuid_of(pu, 3, f * (NPORT / NFIP));
        snprintf(name, sizeof name, "fip%u", f);
        snprintf(addr, sizeof addr, "198.%u.%u.%u", 18 + f / 65536, (f / 256) % 256, f % 256);
        json_t *fip = json_pack("{s:s,s:[s,s,s,s,s],s:s,s:s,s:[{s:s}]}", "uuid", u, "fq_name",
                                "default-domain", "proj", "vn0", "pool", name, "name", name,
                                "floating_ip_address", addr, "virtual_machine_interface_refs", "uuid", pu);
        if (compile_model_put(m, "floating-ip", fip)) {
            exit(1);
        }
        json_decref(fip);
    }
    json_t *derived;
    double t0 = ((double)clock_mono_ns() / 1e3);
    if (compile_all(m, a, &derived) != 0) {
        exit(1);
    }
    double full_ms = (((double)clock_mono_ns() / 1e3) - t0) / 1e3;
    json_t *idx = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(derived, k, v) {
        index_put(idx, k, v);
    }
    static double lat[CHANGES];
    size_t writes = 0;
    uint32_t seed = 777;
    for (unsigned c = 0; c < CHANGES; c++) {
        seed = seed * 1103515245u + 12345u;
        unsigned i = (seed >> 8) % NPORT;
        unsigned to = (i + NPORT / NVR * (1 + (seed >> 20) % 7)) % NPORT; /* a machine on another router */
        json_t *p = port(i, to);
        double s = ((double)clock_mono_ns() / 1e3);
        writes += change(m, a, derived, idx, "virtual-machine-interface",
                         json_string_value(json_object_get(p, "uuid")), p);
        lat[c] = ((double)clock_mono_ns() / 1e3) - s;
        json_decref(p);
    }
    qsort(lat, CHANGES, sizeof lat[0], cmp_double);
    printf("compile: + %d ports (one machine and address each) on %d routers, %d floating IPs: %zu "
           "derived objects\n", NPORT, NVR, NFIP, json_object_size(derived));
    printf("RESULT compile_ports full_ms=%.1f p50_us=%.0f p99_us=%.0f writes_per_change=%.1f\n",
           full_ms, lat[CHANGES / 2], lat[CHANGES * 99 / 100], (double)writes / CHANGES);
    json_decref(idx);
    json_decref(derived);
}

int main(void)
{
    struct compile_model *m;
    struct compile_alloc *a;
    if (compile_model_create(&m) != 0 || compile_alloc_create(&a) != 0) {
        return 1;
    }
    for (unsigned p = 0; p < NPOL; p++) {
        json_t *pol = policy(p, 80);
        if (compile_model_put(m, "network-policy", pol) != 0) {
            return 1;
        }
        json_decref(pol);
    }
    for (unsigned i = 0; i < NVN; i++) {
        char u[37], pu[37], name[32];
        uuid_of(u, 1, i);
        uuid_of(pu, 2, i / PER_POL);
        snprintf(name, sizeof name, "vn%u", i);
        json_t *vn = json_pack("{s:s,s:[s,s,s],s:s,s:[{s:s,s:{s:{s:i,s:i}}}]}", "uuid", u, "fq_name",
                               "default-domain", "proj", name, "name", name, "network_policy_refs",
                               "uuid", pu, "attr", "sequence", "major", 0, "minor", 0);
        if (compile_model_put(m, "virtual-network", vn) != 0) {
            return 1;
        }
        json_decref(vn);
    }
    json_t *derived;
    double t0 = ((double)clock_mono_ns() / 1e3);
    if (compile_all(m, a, &derived) != 0) {
        return 1;
    }
    double full_ms = (((double)clock_mono_ns() / 1e3) - t0) / 1e3;
    json_t *idx = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(derived, k, v) {
        index_put(idx, k, v);
    }

    static double lat[CHANGES];
    size_t writes = 0;
    uint32_t seed = 12345;
    for (unsigned c = 0; c < CHANGES; c++) {
        seed = seed * 1103515245u + 12345u;
        unsigned p = (seed >> 8) % NPOL;
        json_t *pol = policy(p, 1000 + (int)c);
        const char *pu = json_string_value(json_object_get(pol, "uuid"));
        double s = ((double)clock_mono_ns() / 1e3);
        json_t *old = json_incref((json_t *)compile_model_get(m, pu, NULL));
        json_t *sources = json_object(), *before = json_object(), *after = json_object();
        json_t *puts, *dels;
        if (compile_model_put(m, "network-policy", pol) != 0 ||
            compile_affected(m, "network-policy", pu, old, pol, sources) != 0) {
            return 1;
        }
        json_object_foreach(sources, k, v) {
            const char *dk;
            json_t *dv;
            json_object_foreach(json_object_get(idx, k), dk, dv) {
                json_object_set(before, dk, json_object_get(derived, dk));
            }
        }
        if (compile_sources(m, a, sources, after) != 0 || compile_diff(before, after, &puts, &dels) != 0) {
            return 1;
        }
        json_object_foreach(puts, k, v) {
            json_object_set(derived, k, v);
            index_put(idx, k, v);
        }
        size_t i;
        json_array_foreach(dels, i, v) {
            json_object_del(derived, json_string_value(v));
        }
        lat[c] = ((double)clock_mono_ns() / 1e3) - s;
        writes += json_object_size(puts) + json_array_size(dels);
        json_decref(puts);
        json_decref(dels);
        json_decref(sources);
        json_decref(before);
        json_decref(after);
        json_decref(old);
        json_decref(pol);
    }
    qsort(lat, CHANGES, sizeof lat[0], cmp_double);
    printf("compile: %d networks, %d policies (%d networks each), %zu derived objects\n", NVN, NPOL,
           PER_POL, json_object_size(derived));
    printf("RESULT compile full_ms=%.1f p50_us=%.0f p99_us=%.0f writes_per_change=%.1f\n", full_ms,
           lat[CHANGES / 2], lat[CHANGES * 99 / 100], (double)writes / CHANGES);
    json_decref(idx);
    json_decref(derived);
    ports_bench(m, a);
    compile_model_free(m);
    compile_alloc_free(a);
    return 0;
}

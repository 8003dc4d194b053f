/* bench/compile: the compiler core on 10,000 virtual networks and 1,000
 * network policies (each attached to 10 networks and connecting them):
 * the time of a full compile, then of 1,000 incremental changes (one
 * policy's port each: affected sources, their recompile, the diff against
 * what they owned, applying it), reported as p50/p99 with the objects
 * written per change. The derived objects are indexed by owner, as the
 * store indexes them, so a change reads only what its sources owned.
 * Prints "RESULT compile full_ms=... p50_us=... p99_us=... writes=...". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler/compile.h"

#define NVN 10000
#define NPOL 1000
#define PER_POL (NVN / NPOL)
#define CHANGES 1000

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

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
    double t0 = now_us();
    if (compile_all(m, a, &derived) != 0) {
        return 1;
    }
    double full_ms = (now_us() - t0) / 1e3;
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
        double s = now_us();
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
        lat[c] = now_us() - s;
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
    compile_model_free(m);
    compile_alloc_free(a);
    return 0;
}

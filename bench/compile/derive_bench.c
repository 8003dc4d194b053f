/* bench/compile/derive_bench: network creates through the object graph with
 * the compiler attached (compiler/graph.c + derive.c), in process, on a
 * store state machine in a temporary directory (no fsync), one thread: no
 * HTTP, TLS or raft, so it shows what the config role's own work costs per
 * create and how that grows with the number of networks (each create
 * allocates a VNI and a route target, lowest free). Every STEP creates it
 * prints the wall time per create of that step; the last line is
 *   RESULT derive_create nets=N us_per_create_first=... us_per_create_last=...
 * Usage: derive_bench [NETS [STEP]]   (defaults 2000, 500) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "compiler/derive.h"
#include "compiler/graph.h"
#include "compiler/schema/schema.h"
#include "store/fsm.h"

static void rm_dir(const char *dir)
{
    char p[128];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    int nets = argc > 1 ? atoi(argv[1]) : 2000;
    int step = argc > 2 ? atoi(argv[2]) : 500;
    if (nets < 1 || step < 1) {
        fprintf(stderr, "usage: derive_bench [NETS [STEP]]\n");
        return 2;
    }
    struct schema *schema = NULL;
    struct schema_error se;
    if (schema_load_builtin(&schema, &se) != 0) {
        fprintf(stderr, "schema: %s\n", se.message);
        return 1;
    }
    char dir[] = "/tmp/strata-derive-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct store_fsm *fsm = NULL;
    struct store_fsm_config c = {.no_sync = true, .map_size = 1u << 30};
    struct derive *d = NULL;
    struct graph_kv_fsm kv;
    struct graph g;
    struct graph_error err = {0};
    int rc = store_fsm_open(&fsm, dir, &c);
    if (rc == 0) {
        graph_kv_fsm_init(&kv, fsm, 0);
        graph_init(&g, schema, graph_kv_fsm(&kv));
        rc = derive_create(&d);
    }
    rc = rc ? rc : graph_derive_load(&g, d, NULL, &err);
    if (rc == 0) {
        graph_set_derive(&g, d);
        rc = graph_bootstrap(&g, "bench", &err);
    }
    char proj[GRAPH_UUID_SIZE] = "";
    json_t *fq = json_pack("[s,s]", "default-domain", "default-project");
    rc = rc ? rc : graph_fqname_to_id(&g, "project", fq, true, proj, &err);
    json_decref(fq);
    double first = 0, last = 0, t0 = ((double)clock_mono_ns() / 1e3);
    for (int i = 0; i < nets && rc == 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "net-%d", i);
        json_t *body = json_pack("{s:s,s:s,s:s}", "name", name, "parent_type", "project",
                                 "parent_uuid", proj);
        rc = graph_obj_create(&g, "virtual-network", body, "bench", NULL, NULL, &err);
        json_decref(body);
        if (rc == 0 && (i + 1) % step == 0) {
            double t1 = ((double)clock_mono_ns() / 1e3), per = (t1 - t0) / step;
            printf("nets=%d us_per_create=%.0f (last %d)\n", i + 1, per, step);
            first = first ? first : per;
            last = per;
            t0 = t1;
        }
    }
    if (rc) {
        fprintf(stderr, "derive_bench: %s\n", err.message[0] ? err.message : "setup failed");
    } else {
        printf("RESULT derive_create nets=%d us_per_create_first=%.0f us_per_create_last=%.0f\n", nets,
               first, last);
    }
    derive_free(d);
    if (fsm) {
        store_fsm_close(fsm);
    }
    rm_dir(dir);
    schema_free(schema);
    return rc ? 1 : 0;
}

/* bench/dp: the vRouter forwarding core (vrouter/dp) driven from memory on
 * one core, for the established-flow path of the issue: a VM port with flow
 * policy, every flow installed (DP_FLOW_FORWARD), an IPv4 route to a
 * MPLS-over-UDP tunnel next hop. Each pass feeds the same pool of frames
 * (one per flow, round-robin) to dp_rx_batch and restores what the core
 * rewrote (the inner Ethernet and IPv4 headers, the buffer offsets) outside of
 * it, so a profiler that counts only dp_rx_batch (callgrind
 * --toggle-collect=dp_rx_batch) sees the datapath alone. Prints the packet
 * count and Mpps on this core (by the thread's CPU time, and by the wall
 * clock); exits non-zero if any packet did not come
 * out as one MPLSoUDP transmission on the fabric port. Not a test: it
 * asserts nothing about speed. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vrouter/dp/dp.h"

enum { IF_AGENT = 0, IF_FAB = 1, IF_VM = 2 };
enum { VRF = 1, NH_TUN = 1 };
#define FRAME_SIZE 64u
#define SLOT_SIZE 256u
#define MAX_BATCH 256u

struct bench {
    struct dp *dp;
    uint32_t flows;
    uint32_t batch;
    uint8_t *mem;       /* flows * SLOT_SIZE */
    uint8_t (*hdr)[34]; /* the pristine Ethernet + IPv4 header of each frame */
    struct dp_pkt *pkts;
    struct dp_out *outs;
};

static const uint8_t mac_router[6] = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x00};
static const uint8_t mac_vm[6] = {0x02, 0xaa, 0, 0, 0, 0x0a};
static const uint8_t mac_fab[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t mac_gw[6] = {0x02, 0, 0, 0, 0, 0xfe};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "dp_bench: %s: %s\n", what, vr_strerror(rc));
    return -1;
}

/* Programs the datapath: VRF, agent/fabric/VM ports, the tunnel next hop,
 * 172.16.0.0/16 -> tunnel, and 'flows' forward flows from the VM. */
static int bench_program(struct bench *b)
{
    struct dp_config cfg;
    dp_config_default(&cfg);
    cfg.ifs = 16;
    cfg.vrfs = 16;
    cfg.nhs = 64;
    cfg.composites = 16;
    cfg.labels = 1024;
    cfg.vnis = 16;
    cfg.bridge = 64;
    cfg.routes = 64;
    cfg.lpm_nodes = 64;
    cfg.flows = b->flows * 2 < 1024 ? 1024 : b->flows * 2;
    cfg.flow_overflow = 1024;
    int rc = dp_create(&cfg, &b->dp);
    if (rc != 0) {
        return fail("dp_create", rc);
    }
    struct dp *dp = b->dp;
    dp_generation_begin(dp, 1);
    struct dp_vrf v = {.vrf = VRF};
    if ((rc = dp_vrf_add(dp, &v)) != 0) {
        return fail("dp_vrf_add", rc);
    }
    struct dp_if i;
    memset(&i, 0, sizeof i);
    i.ifindex = IF_AGENT;
    i.type = DP_IF_AGENT;
    if ((rc = dp_if_add(dp, &i)) != 0) {
        return fail("dp_if_add agent", rc);
    }
    memset(&i, 0, sizeof i);
    i.ifindex = IF_FAB;
    i.type = DP_IF_FABRIC;
    memcpy(i.mac, mac_fab, 6);
    memcpy(i.gw_mac, mac_gw, 6);
    i.ip4 = 0x0a000001;
    if ((rc = dp_if_add(dp, &i)) != 0) {
        return fail("dp_if_add fabric", rc);
    }
    memset(&i, 0, sizeof i);
    i.ifindex = IF_VM;
    i.type = DP_IF_VM;
    i.flags = DP_IF_POLICY;
    i.vrf = VRF;
    memcpy(i.mac, mac_vm, 6);
    i.gw_ip4 = 0xc0a80101;
    if ((rc = dp_if_add(dp, &i)) != 0) {
        return fail("dp_if_add vm", rc);
    }
    struct dp_nh n;
    memset(&n, 0, sizeof n);
    n.id = NH_TUN;
    n.type = DP_NH_TUNNEL;
    n.encap = DP_ENCAP_MPLS_UDP;
    n.ifindex = IF_FAB;
    n.sip = 0x0a000001;
    n.dip = 0x0a000002;
    n.label = 100;
    if ((rc = dp_nh_add(dp, &n)) != 0) {
        return fail("dp_nh_add", rc);
    }
    struct dp_route r;
    memset(&r, 0, sizeof r);
    r.vrf = VRF;
    r.family = 4;
    r.plen = 16;
    put32(r.addr, 0xac100000);
    r.nh = NH_TUN;
    if ((rc = dp_route_add(dp, &r)) != 0) {
        return fail("dp_route_add", rc);
    }
    struct dp_flow_action act;
    memset(&act, 0, sizeof act);
    act.type = DP_FLOW_FORWARD;
    for (uint32_t f = 0; f < b->flows; f++) {
        struct dp_flow_key k;
        memset(&k, 0, sizeof k);
        k.vrf = VRF;
        k.family = 4;
        k.proto = 17;
        put32(k.src, 0xc0a8010a);
        put32(k.dst, 0xac100000 | (f & 0xffff));
        k.sport = (uint16_t)(10000 + f);
        k.dport = 5001;
        if ((rc = dp_flow_set(dp, &k, &act, 0, NULL)) != 0) {
            return fail("dp_flow_set", rc);
        }
    }
    return 0;
}

/* Builds frame 'f': Ethernet/IPv4/UDP, 64 bytes, matching flow 'f'. */
static void bench_frame(struct bench *b, uint32_t f)
{
    uint8_t *fr = b->mem + (size_t)f * SLOT_SIZE + DP_HEADROOM;
    memset(fr, 0, FRAME_SIZE);
    memcpy(fr, mac_router, 6);
    memcpy(fr + 6, mac_vm, 6);
    put16(fr + 12, 0x0800);
    uint8_t *ip = fr + 14;
    ip[0] = 0x45;
    put16(ip + 2, FRAME_SIZE - 14);
    put16(ip + 4, (uint16_t)f);
    ip[8] = 64;
    ip[9] = 17;
    put32(ip + 12, 0xc0a8010a);
    put32(ip + 16, 0xac100000 | (f & 0xffff));
    uint32_t sum = 0;
    for (int w = 0; w < 20; w += 2) {
        sum += (uint32_t)(ip[w] << 8 | ip[w + 1]);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    put16(ip + 10, (uint16_t)~sum);
    uint8_t *u = ip + 20;
    put16(u, (uint16_t)(10000 + f));
    put16(u + 2, 5001);
    put16(u + 4, FRAME_SIZE - 34);
    memcpy(b->hdr[f], fr, 34);
}

/* Loads packets 'first'.. into the batch array, restoring each frame. */
static void bench_load(struct bench *b, uint32_t first, uint32_t count)
{
    for (uint32_t j = 0; j < count; j++) {
        uint32_t f = (first + j) % b->flows;
        struct dp_pkt *p = &b->pkts[j];
        p->buf = b->mem + (size_t)f * SLOT_SIZE;
        p->size = SLOT_SIZE;
        p->off = DP_HEADROOM;
        p->len = FRAME_SIZE;
        memcpy(p->buf + DP_HEADROOM, b->hdr[f], 34);
    }
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Runs 'packets' packets; returns the number that were not one MPLSoUDP
 * transmission on the fabric (0 when all went as expected). */
static uint64_t bench_run(struct bench *b, uint64_t packets, uint64_t *wall_ns, uint64_t *cpu_ns)
{
    uint64_t bad = 0, done = 0;
    uint32_t next = 0;
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    while (done < packets) {
        uint32_t n = packets - done < b->batch ? (uint32_t)(packets - done) : b->batch;
        bench_load(b, next, n);
        dp_rx_batch(b->dp, IF_VM, b->pkts, n, 1000, b->outs);
        for (uint32_t j = 0; j < n; j++) {
            const struct dp_out *o = &b->outs[j];
            bad += o->verdict != DP_VERDICT_TX || o->count != 1 || o->tx[0].ifindex != IF_FAB ||
                   b->pkts[j].len != FRAME_SIZE - 14 + 46;
        }
        next = (next + n) % b->flows;
        done += n;
    }
    *cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    *wall_ns = clock_ns(CLOCK_MONOTONIC) - t0;
    return bad;
}

static void usage(void)
{
    fprintf(stderr, "usage: dp_bench [--packets N] [--flows N] [--batch N]\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"packets", required_argument, 0, 'p'},
        {"flows", required_argument, 0, 'f'},
        {"batch", required_argument, 0, 'b'},
        {0, 0, 0, 0},
    };
    uint64_t packets = 10000000;
    struct bench b;
    memset(&b, 0, sizeof b);
    b.flows = 256;
    b.batch = 32;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            packets = strtoull(optarg, NULL, 10);
            break;
        case 'f':
            b.flows = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'b':
            b.batch = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        default:
            usage();
            return 2;
        }
    }
    if (b.flows == 0 || b.flows > 65536 || b.batch == 0 || b.batch > MAX_BATCH) {
        usage();
        return 2;
    }
    b.mem = calloc(b.flows, SLOT_SIZE);
    b.hdr = calloc(b.flows, sizeof *b.hdr);
    b.pkts = calloc(b.batch, sizeof *b.pkts);
    b.outs = calloc(b.batch, sizeof *b.outs);
    int rc = 1;
    if (!b.mem || !b.hdr || !b.pkts || !b.outs) {
        fprintf(stderr, "dp_bench: out of memory\n");
        goto out;
    }
    if (bench_program(&b) != 0) {
        goto out;
    }
    for (uint32_t f = 0; f < b.flows; f++) {
        bench_frame(&b, f);
    }
    uint64_t wall = 0, cpu = 0;
    uint64_t bad = bench_run(&b, packets, &wall, &cpu);
    if (bad) {
        fprintf(stderr, "dp_bench: %llu of %llu packets did not take the MPLSoUDP path\n",
                (unsigned long long)bad, (unsigned long long)packets);
        goto out;
    }
    /* Mpps per core from the thread's CPU time (time other processes took
     * from this core is not counted), and from the wall clock. */
    printf("dp_bench packets=%llu flows=%u batch=%u cpu_seconds=%.3f mpps=%.2f wall_mpps=%.2f\n",
           (unsigned long long)packets, b.flows, b.batch, (double)cpu / 1e9,
           cpu ? (double)packets * 1e3 / (double)cpu : 0.0, wall ? (double)packets * 1e3 / (double)wall : 0.0);
    rc = 0;
out:
    dp_free(b.dp);
    free(b.outs);
    free(b.pkts);
    free(b.hdr);
    free(b.mem);
    return rc;
}

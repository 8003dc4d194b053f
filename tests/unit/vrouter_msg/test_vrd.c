/* Unit tests of strata-vrouter's control side (vrouter/uspace): a real
 * daemon object on a unix socket in a temporary directory, driven one loop
 * turn at a time, and a client speaking the message set. They prove that
 * every entry type is programmed and dumped back with its generation, that
 * statistics are answered, that refused requests keep the session, that a
 * malformed frame ends only its session and never the forwarding state,
 * that frames split or coalesced by the stream are handled, that a client
 * going away changes nothing (headless) and a later generation sweeps what
 * was not re-installed, and that the fabric sockets follow the fabric
 * interface, and that flow misses punted on a subscribed connection hold
 * their first packet until a flow is installed for it, which forwards it
 * (or discards it for a drop flow), with quiet requests answered only on
 * failure; and that a client's ring channel (VR_MSG_RING) carries its
 * requests and its punts with the socket's rules: malformed records
 * dropped and counted, the session kept, answers on the socket, an index
 * out of range ending only that session, one ring per session and a new
 * one for every session. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/vrouter/dp_test.h"
#include "vrouter/uspace/vrd.h"

struct fix {
    char dir[64];
    char path[96];
    struct vrd *vrd;
};

struct cli {
    int fd;
    uint8_t buf[VR_MSG_MAX * 64];
    size_t len;
    uint32_t seq;
};

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/test_vrd.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/ctl.sock", f->dir);
    struct vrd_options opt = {.sock_path = f->path,
                              .cfg = {.ifs = 16, .vrfs = 16, .nhs = 64, .composites = 8, .labels = 1024,
                                      .vnis = 64, .bridge = 64, .routes = 64, .lpm_nodes = 64, .flows = 64,
                                      .flow_overflow = 8}};
    assert_int_equal(vrd_create(&opt, &f->vrd), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    vrd_free(f->vrd);
    assert_int_equal(access(f->path, F_OK), -1); /* the socket file is removed */
    rmdir(f->dir);
    free(f);
    return 0;
}

static struct cli *cli_open(struct fix *f)
{
    struct cli *c = calloc(1, sizeof *c);
    assert_non_null(c);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, f->path);
    c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sun, sizeof sun), 0);
    c->seq = 100;
    return c;
}

static void cli_close(struct fix *f, struct cli *c)
{
    close(c->fd);
    free(c);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(vrd_run_once(f->vrd, 5), 0);
    }
}

static void send_raw(struct cli *c, const uint8_t *p, size_t n)
{
    assert_int_equal(send(c->fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Sends 'm' with a fresh seq; returns the seq. */
static uint32_t cli_send(struct cli *c, struct vr_msg *m)
{
    uint8_t frame[VR_MSG_MAX];
    size_t size = 0;
    m->seq = ++c->seq;
    assert_int_equal(vr_msg_encode(m, frame, sizeof frame, &size), 0);
    send_raw(c, frame, size);
    return m->seq;
}

/* Receives the next frame, turning the daemon's loop meanwhile. Returns 0,
 * or -1 when the daemon closed the session. */
static int cli_recv(struct fix *f, struct cli *c, struct vr_msg *m)
{
    for (int turn = 0; turn < 400; turn++) {
        size_t size = 0;
        if (vr_msg_peek(c->buf, c->len, &size) == 0 && size <= c->len) {
            assert_int_equal(vr_msg_decode(c->buf, size, m), 0);
            memmove(c->buf, c->buf + size, c->len - size);
            c->len -= size;
            return 0;
        }
        assert_int_equal(vrd_run_once(f->vrd, 5), 0);
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
        if (n == 0) {
            return -1;
        }
        if (n > 0) {
            c->len += (size_t)n;
        }
    }
    fail_msg("no answer from the daemon");
    return -1;
}

/* Sends 'm' and returns its reply code (after 'entries' entry frames,
 * which are stored in 'out' when not NULL). */
static int call(struct fix *f, struct cli *c, struct vr_msg *m, struct vr_msg *out, unsigned max,
                unsigned *entries, uint32_t *value)
{
    uint32_t seq = cli_send(c, m);
    unsigned n = 0;
    struct vr_msg r;
    for (;;) {
        assert_int_equal(cli_recv(f, c, &r), 0);
        assert_int_equal(r.seq, seq);
        if (r.type == VR_MSG_REPLY) {
            break;
        }
        assert_true(n < max);
        out[n++] = r;
    }
    if (entries) {
        *entries = n;
    }
    if (value) {
        *value = r.u.reply.value;
    }
    return r.u.reply.code;
}

static int req(struct fix *f, struct cli *c, struct vr_msg *m)
{
    return call(f, c, m, NULL, 0, NULL, NULL);
}

static int vrf_add(struct fix *f, struct cli *c, uint32_t vrf)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_VRF, 0, 0);
    m.u.vrf.vrf = vrf;
    return req(f, c, &m);
}

static int route_add(struct fix *f, struct cli *c, uint32_t vrf, uint8_t a, uint8_t plen, uint32_t nh)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_ROUTE, 0, 0);
    m.u.route = (struct dp_route){.vrf = vrf, .family = 4, .plen = plen, .addr = {10, a, 0, 0}, .nh = nh};
    return req(f, c, &m);
}

static int gen_msg(struct fix *f, struct cli *c, uint8_t type, uint32_t gen, uint32_t *value)
{
    struct vr_msg m;
    vr_msg_init(&m, type, 0, 0);
    m.u.id = gen;
    return call(f, c, &m, NULL, 0, NULL, value);
}

/* VRF 1, VM port 2 in it (no OS device), next hop 10 to it. */
static void base(struct fix *f, struct cli *c)
{
    struct vr_msg m;
    assert_int_equal(vrf_add(f, c, 1), 0);
    vr_msg_init(&m, VR_MSG_IF, 0, 0);
    m.u.ifc.dpif = (struct dp_if){.ifindex = 2, .type = DP_IF_VM, .vrf = 1, .mac = {2, 0, 0, 0, 0, 2}};
    assert_int_equal(req(f, c, &m), 0);
    vr_msg_init(&m, VR_MSG_NH, 0, 0);
    m.u.nh = (struct dp_nh){.id = 10, .type = DP_NH_IF, .ifindex = 2, .dmac = {2, 0, 0, 0, 0, 2}};
    assert_int_equal(req(f, c, &m), 0);
}

static unsigned dump(struct fix *f, struct cli *c, uint8_t table, struct vr_msg *out, unsigned max)
{
    struct vr_msg m;
    unsigned n = 0;
    uint32_t value = 0;
    vr_msg_init(&m, VR_MSG_DUMP_REQ, 0, 0);
    m.u.table = table;
    assert_int_equal(call(f, c, &m, out, max, &n, &value), 0);
    assert_int_equal(value, n);
    for (unsigned k = 0; k < n; k++) {
        assert_int_equal(out[k].flags, VR_MSG_F_DUMP);
    }
    return n;
}

static void test_program_every_table_and_dump(void **state)
{
    struct fix *f = *state;
    struct cli *c = cli_open(f);
    struct vr_msg m, out[8];
    assert_int_equal(gen_msg(f, c, VR_MSG_GEN_BEGIN, 7, NULL), 0);
    base(f, c);
    assert_int_equal(route_add(f, c, 1, 1, 16, 10), 0);
    vr_msg_init(&m, VR_MSG_LABEL, 0, 0);
    m.u.label = (struct dp_label){.label = 100, .nh = 10};
    assert_int_equal(req(f, c, &m), 0);
    vr_msg_init(&m, VR_MSG_VNI, 0, 0);
    m.u.vni = (struct dp_vni){.vni = 5001, .vrf = 1};
    assert_int_equal(req(f, c, &m), 0);
    vr_msg_init(&m, VR_MSG_MAC, 0, 0);
    m.u.mac = (struct dp_mac){.vrf = 1, .mac = {2, 0, 0, 0, 0, 9}, .nh = 10};
    assert_int_equal(req(f, c, &m), 0);
    vr_msg_init(&m, VR_MSG_FLOW, 0, 0);
    m.u.flow.key = (struct dp_flow_key){.vrf = 1, .family = 4, .proto = 6, .src = {10, 1, 0, 1},
                                        .dst = {10, 1, 0, 2}, .sport = 1000, .dport = 80};
    m.u.flow.action.type = DP_FLOW_DROP;
    uint32_t flow_index = 0;
    assert_int_equal(call(f, c, &m, NULL, 0, NULL, &flow_index), 0);

    assert_int_equal(dump(f, c, VR_TABLE_VRF, out, 8), 1);
    assert_int_equal(out[0].u.vrf.vrf, 1);
    assert_int_equal(out[0].u.vrf.gen, 7);
    assert_int_equal(dump(f, c, VR_TABLE_IF, out, 8), 1);
    assert_int_equal(out[0].u.ifc.dpif.ifindex, 2);
    assert_int_equal(out[0].u.ifc.dpif.type, DP_IF_VM);
    assert_string_equal(out[0].u.ifc.name, "");
    assert_int_equal(dump(f, c, VR_TABLE_NH, out, 8), 1);
    assert_int_equal(out[0].u.nh.id, 10);
    assert_int_equal(dump(f, c, VR_TABLE_ROUTE, out, 8), 1);
    assert_int_equal(out[0].u.route.plen, 16);
    assert_int_equal(out[0].u.route.addr[1], 1);
    assert_int_equal(out[0].u.route.nh, 10);
    assert_int_equal(out[0].u.route.gen, 7);
    assert_int_equal(dump(f, c, VR_TABLE_LABEL, out, 8), 1);
    assert_int_equal(out[0].u.label.label, 100);
    assert_int_equal(dump(f, c, VR_TABLE_VNI, out, 8), 1);
    assert_int_equal(out[0].u.vni.vni, 5001);
    assert_int_equal(dump(f, c, VR_TABLE_MAC, out, 8), 1);
    assert_int_equal(out[0].u.mac.mac[5], 9);
    assert_int_equal(dump(f, c, VR_TABLE_FLOW, out, 8), 1);
    assert_int_equal(out[0].u.flow.index, flow_index);
    assert_int_equal(out[0].u.flow.state, DP_FLOW_ACTIVE);
    assert_int_equal(out[0].u.flow.action.type, DP_FLOW_DROP);

    vr_msg_init(&m, VR_MSG_STATS_REQ, 0, 0);
    unsigned n = 0;
    assert_int_equal(call(f, c, &m, out, 8, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].type, VR_MSG_STATS);
    assert_int_equal(out[0].u.stats.drop_count, DP_DROP_COUNT);
    assert_int_equal(out[0].u.stats.stats.flows_active, 1);

    /* deletes */
    vr_msg_init(&m, VR_MSG_ROUTE_DEL, 0, 0);
    m.u.route = (struct dp_route){.vrf = 1, .family = 4, .plen = 16, .addr = {10, 1, 0, 0}};
    assert_int_equal(req(f, c, &m), 0);
    vr_msg_init(&m, VR_MSG_FLOW_DEL, 0, 0);
    m.u.flow.key = (struct dp_flow_key){.vrf = 1, .family = 4, .proto = 6, .src = {10, 1, 0, 1},
                                        .dst = {10, 1, 0, 2}, .sport = 1000, .dport = 80};
    assert_int_equal(req(f, c, &m), 0);
    vr_msg_init(&m, VR_MSG_IF_DEL, 0, 0);
    m.u.id = 2;
    assert_int_equal(req(f, c, &m), 0);
    assert_int_equal(dump(f, c, VR_TABLE_ROUTE, out, 8), 0);
    assert_int_equal(dump(f, c, VR_TABLE_FLOW, out, 8), 0);
    assert_int_equal(dump(f, c, VR_TABLE_IF, out, 8), 0);
    cli_close(f, c);
}

static void test_refused_requests_keep_the_session(void **state)
{
    struct fix *f = *state;
    struct cli *c = cli_open(f);
    assert_int_equal(route_add(f, c, 7, 1, 16, 10), VR_ENOVRF);
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_REPLY, 0, 0);
    assert_int_equal(req(f, c, &m), VRD_EREQUEST);
    vr_msg_init(&m, VR_MSG_NH_DEL, 0, 0);
    m.u.id = 33;
    assert_int_equal(req(f, c, &m), VR_ENOENT);
    assert_int_equal(vrf_add(f, c, 3), 0); /* still served */
    cli_close(f, c);
}

static void test_bad_frame_ends_only_its_session(void **state)
{
    struct fix *f = *state;
    struct cli *c = cli_open(f);
    base(f, c);
    assert_int_equal(route_add(f, c, 1, 2, 16, 10), 0);
    uint8_t junk[VR_MSG_HDR_SIZE] = {0x56, 0x53, 1, VR_MSG_VRF, 0, 0, 0, 20, 0, 0, 0, 77};
    send_raw(c, junk, sizeof junk);
    struct vr_msg r;
    assert_int_equal(cli_recv(f, c, &r), 0);
    assert_int_equal(r.type, VR_MSG_REPLY);
    assert_int_equal(r.seq, 77);
    assert_int_equal(r.u.reply.code, VR_MSG_EMAGIC);
    assert_int_equal(cli_recv(f, c, &r), -1); /* session closed */
    cli_close(f, c);

    struct cli *d = cli_open(f);
    struct vr_msg out[4];
    assert_int_equal(dump(f, d, VR_TABLE_ROUTE, out, 4), 1); /* nothing reset */
    /* a frame announcing more than VR_MSG_MAX is refused before buffering */
    uint8_t big[VR_MSG_HDR_SIZE] = {0x56, 0x52, 1, VR_MSG_VRF, 0, 0, 0xff, 0xff, 0, 0, 0, 78};
    send_raw(d, big, sizeof big);
    assert_int_equal(cli_recv(f, d, &r), 0);
    assert_int_equal(r.u.reply.code, VR_MSG_ESIZE);
    assert_int_equal(cli_recv(f, d, &r), -1);
    cli_close(f, d);
}

static void test_split_and_coalesced_frames(void **state)
{
    struct fix *f = *state;
    struct cli *c = cli_open(f);
    uint8_t stream[3 * VR_MSG_MAX];
    size_t at = 0, size = 0;
    for (uint32_t v = 1; v <= 3; v++) {
        struct vr_msg m;
        vr_msg_init(&m, VR_MSG_VRF, 0, 500 + v);
        m.u.vrf.vrf = v;
        assert_int_equal(vr_msg_encode(&m, stream + at, sizeof stream - at, &size), 0);
        at += size;
    }
    send_raw(c, stream, 2 * size); /* two frames in one write */
    for (size_t k = 2 * size; k < at; k++) {
        send_raw(c, stream + k, 1); /* the third byte by byte */
        assert_int_equal(vrd_run_once(f->vrd, 1), 0);
    }
    for (uint32_t v = 1; v <= 3; v++) {
        struct vr_msg r;
        assert_int_equal(cli_recv(f, c, &r), 0);
        assert_int_equal(r.seq, 500 + v);
        assert_int_equal(r.u.reply.code, 0);
    }
    struct vr_msg out[4];
    assert_int_equal(dump(f, c, VR_TABLE_VRF, out, 4), 3);
    cli_close(f, c);
}

static void test_headless_then_sweep(void **state)
{
    struct fix *f = *state;
    struct cli *a = cli_open(f);
    assert_int_equal(gen_msg(f, a, VR_MSG_GEN_BEGIN, 1, NULL), 0);
    base(f, a);
    assert_int_equal(route_add(f, a, 1, 1, 16, 10), 0);
    assert_int_equal(route_add(f, a, 1, 2, 16, 10), 0);
    cli_close(f, a); /* the agent goes away */

    struct cli *b = cli_open(f);
    struct vr_msg out[4];
    assert_int_equal(dump(f, b, VR_TABLE_ROUTE, out, 4), 2);
    assert_int_equal(out[0].u.route.gen, 1);
    assert_int_equal(out[1].u.route.gen, 1);
    assert_int_equal(gen_msg(f, b, VR_MSG_GEN_BEGIN, 2, NULL), 0);
    base(f, b);
    assert_int_equal(route_add(f, b, 1, 1, 16, 10), 0);
    uint32_t swept = 0;
    assert_int_equal(gen_msg(f, b, VR_MSG_SWEEP, 2, &swept), 0);
    assert_int_equal(swept, 1);
    assert_int_equal(dump(f, b, VR_TABLE_ROUTE, out, 4), 1);
    assert_int_equal(out[0].u.route.addr[1], 1);
    assert_int_equal(out[0].u.route.gen, 2);
    cli_close(f, b);
}

static void test_fabric_sockets_follow_the_interface(void **state)
{
    struct fix *f = *state;
    struct cli *c = cli_open(f);
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_IF, 0, 0);
    m.u.ifc.dpif = (struct dp_if){.ifindex = 1, .type = DP_IF_FABRIC, .ip4 = 0x7f00003d}; /* 127.0.0.61 */
    int rc = req(f, c, &m);
    if (geteuid() != 0) {
        assert_int_equal(rc, VRD_EFABRIC); /* raw sockets need CAP_NET_RAW */
        cli_close(f, c);
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(f->vrd->fabric_if, 2);
    assert_true(f->vrd->udp[0].fd >= 0 && f->vrd->udp[1].fd >= 0 && f->vrd->gre.fd >= 0);
    assert_true(f->vrd->raw_tx >= 0);
    vr_msg_init(&m, VR_MSG_IF_DEL, 0, 0);
    m.u.id = 1;
    assert_int_equal(req(f, c, &m), 0);
    assert_int_equal(f->vrd->fabric_if, 0);
    assert_int_equal(f->vrd->udp[0].fd, -1);
    assert_int_equal(f->vrd->raw_tx, -1);
    cli_close(f, c);
}

static uint64_t if_tx(struct fix *f, uint32_t ifindex)
{
    struct dp_if i;
    assert_int_equal(dp_if_get(f->vrd->dp, ifindex, &i), 0);
    return i.stats.tx_packets;
}

static void turns(struct fix *f, int n)
{
    for (int k = 0; k < n; k++) {
        assert_int_equal(vrd_run_once(f->vrd, 2), 0);
    }
}

/* A UDP frame 10.1.0.1 -> 10.2.0.9 from port 3's VM with source port
 * 'sport'; its flow key in '*k'. */
static size_t miss_frame(uint8_t *frame, uint16_t sport, struct dp_flow_key *k)
{
    t_key4(k, 1, 0x0a010001, 0x0a020009, 17, sport, 2000);
    return t_udp4(frame, MAC_ROUTER, MAC_A, 0x0a010001, 0x0a020009, sport, 2000, 20, 64);
}

static void flow_msg(struct vr_msg *m, uint16_t flags, const struct dp_flow_key *k, uint8_t action)
{
    vr_msg_init(m, VR_MSG_FLOW, flags, 0);
    m->u.flow.key = *k;
    m->u.flow.action.type = action;
}

/* base() plus the agent interface (ifindex 0) and a policy VM port
 * (ifindex 3, VRF 1): what flow misses are punted between. */
static void punt_ports(struct fix *f, struct cli *c)
{
    base(f, c);
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_IF, 0, 0);
    m.u.ifc.dpif = (struct dp_if){.ifindex = 0, .type = DP_IF_AGENT};
    assert_int_equal(req(f, c, &m), 0);
    vr_msg_init(&m, VR_MSG_IF, 0, 0);
    m.u.ifc.dpif = (struct dp_if){.ifindex = 3, .type = DP_IF_VM, .flags = DP_IF_POLICY, .vrf = 1,
                                  .mac = {2, 0, 0, 0, 0, 3}};
    assert_int_equal(req(f, c, &m), 0);
}

static void test_punts_held_on_the_connection(void **state)
{
    struct fix *f = *state;
    struct cli *c = cli_open(f);
    punt_ports(f, c);
    struct vr_msg m, r;
    assert_int_equal(route_add(f, c, 1, 2, 16, 10), 0);
    vr_msg_init(&m, VR_MSG_PUNT_SUB, 0, 0);
    m.u.id = VR_PUNT_SUB_ALL;
    assert_int_equal(req(f, c, &m), 0);

    /* the miss comes on the connection, whole, and nothing is sent on the
     * agent interface (which has no device here: a transmission there
     * would count a transmission error; the core counts the punt as the
     * agent interface's either way) */
    uint8_t frame[128];
    struct dp_flow_key k1, k2, k3;
    size_t len = miss_frame(frame, 1000, &k1);
    vrd_rx_frame(f->vrd, 3, frame, (uint32_t)len);
    assert_int_equal(cli_recv(f, c, &r), 0);
    assert_int_equal(r.type, VR_MSG_PUNT);
    assert_int_equal(r.seq, 0);
    assert_int_equal(r.u.punt.reason, DP_PUNT_FLOW_MISS);
    assert_int_equal(r.u.punt.ifindex, 3);
    assert_int_equal(r.u.punt.vrf, 1);
    assert_int_equal(r.u.punt.frame_size, len);
    assert_memory_equal(r.u.punt.frame, frame, len);
    struct dp_flow fl;
    assert_int_equal(dp_flow_get_index(f->vrd->dp, r.u.punt.flow, &fl), 0);
    assert_int_equal(fl.state, DP_FLOW_HOLD);
    assert_memory_equal(&fl.key, &k1, sizeof k1);
    assert_int_equal(if_tx(f, 0), 1);
    assert_int_equal(f->vrd->tx_errors, 0);
    assert_int_equal(f->vrd->punts_sent, 1);

    /* a quiet install gets no reply (the next frame answers the stats
     * request) and forwards the held packet once */
    uint64_t tx = if_tx(f, 2);
    flow_msg(&m, VR_MSG_F_QUIET, &k1, DP_FLOW_FORWARD);
    (void)cli_send(c, &m);
    turns(f, 3);
    assert_int_equal(if_tx(f, 2), tx + 1);
    assert_int_equal(f->vrd->tx_errors, 1); /* to port 2, which has no device here */
    assert_int_equal(f->vrd->holds_released, 1);
    vr_msg_init(&m, VR_MSG_STATS_REQ, 0, 0);
    uint32_t seq = cli_send(c, &m);
    assert_int_equal(cli_recv(f, c, &r), 0);
    assert_int_equal(r.type, VR_MSG_STATS);
    assert_int_equal(r.seq, seq);
    assert_int_equal(cli_recv(f, c, &r), 0);
    assert_int_equal(r.type, VR_MSG_REPLY);
    flow_msg(&m, 0, &k1, DP_FLOW_FORWARD); /* installed again: nothing held any more */
    assert_int_equal(req(f, c, &m), 0);
    assert_int_equal(if_tx(f, 2), tx + 1);

    /* a drop flow discards the held packet */
    len = miss_frame(frame, 1001, &k2);
    vrd_rx_frame(f->vrd, 3, frame, (uint32_t)len);
    assert_int_equal(cli_recv(f, c, &r), 0);
    assert_int_equal(r.type, VR_MSG_PUNT);
    flow_msg(&m, 0, &k2, DP_FLOW_DROP);
    assert_int_equal(req(f, c, &m), 0);
    assert_int_equal(if_tx(f, 2), tx + 1);
    assert_int_equal(f->vrd->holds_dropped, 1);

    /* a quiet request that fails is answered */
    flow_msg(&m, VR_MSG_F_QUIET, &k2, DP_FLOW_FORWARD);
    m.u.flow.key.vrf = 99;
    assert_int_equal(req(f, c, &m), VR_EINVAL);

    /* unsubscribed: the next miss goes to the agent interface */
    vr_msg_init(&m, VR_MSG_PUNT_SUB, 0, 0);
    m.u.id = 0;
    assert_int_equal(req(f, c, &m), 0);
    assert_null(f->vrd->punt_conn);
    len = miss_frame(frame, 1002, &k3);
    vrd_rx_frame(f->vrd, 3, frame, (uint32_t)len);
    assert_int_equal(if_tx(f, 0), 3);
    assert_int_equal(f->vrd->tx_errors, 2);
    assert_int_equal(f->vrd->punts_sent, 2);

    /* a subscriber that goes away ends its subscription */
    vr_msg_init(&m, VR_MSG_PUNT_SUB, 0, 0);
    m.u.id = VR_PUNT_SUB_ALL;
    assert_int_equal(req(f, c, &m), 0);
    assert_non_null(f->vrd->punt_conn);
    cli_close(f, c);
    assert_null(f->vrd->punt_conn);
}

/* Asks for a ring on 'c' and maps the descriptors of the answer into
 * 'ch'. Returns the reply's code. */
static int cli_ring(struct fix *f, struct cli *c, struct vr_ring_chan *ch)
{
    struct vr_msg m, r;
    vr_msg_init(&m, VR_MSG_RING, 0, 0);
    m.u.ring.slots = VR_RING_SLOTS_MIN;
    uint32_t seq = cli_send(c, &m);
    assert_int_equal(c->len, 0);
    for (int turn = 0; turn < 100; turn++) {
        assert_int_equal(vrd_run_once(f->vrd, 2), 0);
        union {
            char buf[CMSG_SPACE(3 * sizeof(int))];
            struct cmsghdr align;
        } ctl;
        uint8_t reply[VR_MSG_HDR_SIZE + 8];
        struct iovec iov = {.iov_base = reply, .iov_len = sizeof reply};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                            .msg_controllen = sizeof ctl.buf};
        ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            continue;
        }
        assert_int_equal(n, sizeof reply);
        assert_int_equal(vr_msg_decode(reply, sizeof reply, &r), 0);
        assert_int_equal(r.seq, seq);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (r.u.reply.code != 0) {
            assert_null(cm);
            return r.u.reply.code;
        }
        assert_non_null(cm);
        assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
        assert_int_equal(cm->cmsg_len, CMSG_LEN(3 * sizeof(int)));
        int fds[3];
        memcpy(fds, CMSG_DATA(cm), sizeof fds);
        assert_int_equal(r.u.reply.value, VR_RING_SLOTS_MIN);
        assert_int_equal(vr_ring_chan_open(fds[0], fds[1], fds[2], VR_RING_SLOTS_MIN, ch), 0);
        return 0;
    }
    fail_msg("no answer to the ring request");
    return -1;
}

/* Puts 'm' (a fresh seq) into the ring; returns the seq. */
static uint32_t ring_send(struct cli *c, struct vr_ring_chan *ch, struct vr_msg *m)
{
    uint8_t frame[VR_MSG_MAX];
    size_t size = 0;
    m->seq = ++c->seq;
    assert_int_equal(vr_msg_encode(m, frame, sizeof frame, &size), 0);
    assert_int_equal(vr_ring_put(&ch->up, frame, size), 0);
    return m->seq;
}

/* Nothing waits on the socket. */
static void socket_quiet(struct cli *c)
{
    uint8_t b[16];
    assert_int_equal(c->len, 0);
    assert_int_equal(recv(c->fd, b, sizeof b, MSG_DONTWAIT), -1);
}

static void test_ring_channel(void **state)
{
    struct fix *f = *state;
    struct cli *c = cli_open(f);
    punt_ports(f, c);
    struct vr_msg m, r;
    struct vr_ring_chan ch;
    assert_int_equal(cli_ring(f, c, &ch), 0);
    struct vr_ring_chan again;
    assert_int_equal(cli_ring(f, c, &again), VRD_EREQUEST); /* one per session */

    /* requests through the ring, answers on the socket */
    assert_int_equal(vr_ring_prepare_sleep(&ch.down), 1); /* the agent waits for punts */
    assert_int_equal(route_add(f, c, 1, 2, 16, 10), 0);
    vr_msg_init(&m, VR_MSG_PUNT_SUB, 0, 0);
    m.u.id = VR_PUNT_SUB_ALL;
    uint32_t seq = ring_send(c, &ch, &m);
    vr_ring_signal(ch.efd_up);
    assert_int_equal(cli_recv(f, c, &r), 0);
    assert_int_equal(r.seq, seq);
    assert_int_equal(r.u.reply.code, 0);
    assert_non_null(f->vrd->punt_conn);

    /* a miss is punted into the ring, the sleeping agent woken, the socket quiet */
    uint8_t frame[128], rec[VR_MSG_MAX];
    struct dp_flow_key k1, k2;
    size_t len = miss_frame(frame, 1000, &k1), size = 0;
    vrd_rx_frame(f->vrd, 3, frame, (uint32_t)len);
    turns(f, 1);
    struct pollfd pf = {.fd = ch.efd_down, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 0), 1);
    assert_int_equal(vr_ring_get(&ch.down, rec, &size), 0);
    assert_int_equal(vr_msg_decode(rec, size, &r), 0);
    assert_int_equal(r.type, VR_MSG_PUNT);
    assert_int_equal(r.u.punt.ifindex, 3);
    assert_int_equal(r.u.punt.frame_size, len);
    assert_memory_equal(r.u.punt.frame, frame, len);
    socket_quiet(c);
    assert_int_equal(f->vrd->ring_punts, 1);
    assert_int_equal(if_tx(f, 0), 1);         /* the core counts the punt as the agent interface's ... */
    assert_int_equal(f->vrd->tx_errors, 0); /* ... but nothing was sent there (it has no device) */

    /* one quiet FLOW_PAIR installs both directions, linked, and forwards the held packet */
    uint64_t tx = if_tx(f, 2);
    vr_msg_init(&m, VR_MSG_FLOW_PAIR, VR_MSG_F_QUIET, 0);
    m.u.pair.fwd.key = k1;
    m.u.pair.fwd.action.type = DP_FLOW_FORWARD;
    t_key4(&k2, 1, 0x0a020009, 0x0a010001, 17, 2000, 1000);
    m.u.pair.rev.key = k2;
    m.u.pair.rev.action.type = DP_FLOW_FORWARD;
    (void)ring_send(c, &ch, &m);
    turns(f, 2);
    assert_int_equal(if_tx(f, 2), tx + 1);
    assert_int_equal(f->vrd->holds_released, 1);
    struct dp_flow fw, rv;
    assert_int_equal(dp_flow_get(f->vrd->dp, &k1, &fw), 0);
    assert_int_equal(dp_flow_get(f->vrd->dp, &k2, &rv), 0);
    assert_int_equal(fw.state, DP_FLOW_ACTIVE);
    assert_int_equal(fw.reverse, rv.index);
    assert_int_equal(rv.reverse, fw.index);
    socket_quiet(c);

    /* malformed records are dropped and counted; the session stays */
    uint8_t junk[40];
    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(vr_ring_put(&ch.up, junk, sizeof junk), 0);
    int err = 0;
    uint8_t *slot = vr_ring_reserve(&ch.up, &err);
    assert_non_null(slot);
    vr_ring_commit(&ch.up, 20);
    uint32_t huge = VR_MSG_MAX + 1;
    memcpy(slot - VR_RING_SLOT_DATA, &huge, 4); /* the size word rewritten after publication */
    /* a quiet request that fails is answered on the socket */
    flow_msg(&m, VR_MSG_F_QUIET, &k1, DP_FLOW_FORWARD);
    m.u.flow.key.vrf = 99;
    seq = ring_send(c, &ch, &m);
    assert_int_equal(cli_recv(f, c, &r), 0);
    assert_int_equal(r.seq, seq);
    assert_int_equal(r.u.reply.code, VR_EINVAL);
    assert_int_equal(f->vrd->ring_malformed, 2);
    vr_msg_init(&m, VR_MSG_STATS_REQ, 0, 0);
    seq = ring_send(c, &ch, &m);
    assert_int_equal(cli_recv(f, c, &r), 0);
    assert_int_equal(r.type, VR_MSG_STATS);
    assert_int_equal(r.seq, seq);
    assert_int_equal(cli_recv(f, c, &r), 0);
    assert_int_equal(r.type, VR_MSG_REPLY);

    /* a second session gets its own ring */
    struct cli *c2 = cli_open(f);
    struct vr_ring_chan ch2;
    assert_int_equal(cli_ring(f, c2, &ch2), 0);
    struct stat s1, s2;
    assert_int_equal(fstat(ch.memfd, &s1), 0);
    assert_int_equal(fstat(ch2.memfd, &s2), 0);
    assert_true(s1.st_ino != s2.st_ino);

    /* an index out of range ends that session only; forwarding state stays */
    *(uint32_t *)ch.up.hdr = ch.up.pos + VR_RING_SLOTS_MIN * 2;
    vr_ring_signal(ch.efd_up);
    assert_int_equal(cli_recv(f, c, &r), -1);
    assert_int_equal(f->vrd->ring_corrupt, 1);
    assert_null(f->vrd->punt_conn);
    assert_int_equal(dp_flow_get(f->vrd->dp, &k1, &fw), 0);
    assert_int_equal(fw.state, DP_FLOW_ACTIVE);
    vr_msg_init(&m, VR_MSG_STATS_REQ, 0, 0);
    seq = ring_send(c2, &ch2, &m);
    assert_int_equal(cli_recv(f, c2, &r), 0);
    assert_int_equal(r.type, VR_MSG_STATS);
    vr_ring_chan_close(&ch);
    cli_close(f, c);

    /* a client that goes away takes its ring with it (headless) */
    vr_ring_chan_close(&ch2);
    cli_close(f, c2);
    assert_null(f->vrd->conns);
    assert_int_equal(dp_flow_get(f->vrd->dp, &k2, &rv), 0);
}

/* PUNT frames and a subscription without a connection are not requests. */
static void test_punt_frames_are_not_requests(void **state)
{
    struct fix *f = *state;
    struct cli *c = cli_open(f);
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_PUNT, 0, 0);
    m.u.punt = (struct vr_msg_punt){.reason = DP_PUNT_FLOW_MISS, .frame_size = 14};
    assert_int_equal(req(f, c, &m), VRD_EREQUEST);
    struct buf out;
    buf_init(&out, VR_MSG_MAX);
    vr_msg_init(&m, VR_MSG_PUNT_SUB, 0, 7);
    m.u.id = VR_PUNT_SUB_ALL;
    assert_int_equal(vrd_ctl_handle(f->vrd, &m, &out), 0);
    struct vr_msg r;
    assert_int_equal(vr_msg_decode(out.data, out.size, &r), 0);
    assert_int_equal(r.u.reply.code, VRD_EREQUEST);
    assert_null(f->vrd->punt_conn);
    buf_destroy(&out);
    cli_close(f, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_program_every_table_and_dump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_requests_keep_the_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_frame_ends_only_its_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_and_coalesced_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headless_then_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fabric_sockets_follow_the_interface, setup, teardown),
        cmocka_unit_test_setup_teardown(test_punts_held_on_the_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_punt_frames_are_not_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_channel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

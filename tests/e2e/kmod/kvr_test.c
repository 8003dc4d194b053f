/* The in-guest driver of the kernel module test (run by the initramfs /init
 * under qemu): programs the strata_vr module over its generic netlink family
 * with the fixture of tests/unit/vrouter/test_dp_fwd.c (same ports, VRFs,
 * next hops, routes, labels and VNI), injects the unit tests' frames with
 * AF_PACKET sockets into vif devices living in network namespaces and into
 * the fabric underlay, and compares the bytes the module transmits with the
 * expected frames built independently here. Prints one PASS/FAIL line per
 * vector; exits 0 only when all pass.
 *
 * Usage: kvr_test NS_UNDERLAY NS_VM_A NS_VM_B (paths to netns files). The
 * fabric is veth fab0 (root namespace, attached to the module) whose peer
 * und0 lives in NS_UNDERLAY, where the test plays the remote compute node.
 * "kvr_test vxlan-peer" creates the kernel VXLAN device the VXLAN vectors
 * model (run in the underlay namespace), for the interop tests of /init;
 * "tcp-sink"/"tcp-source" move a byte pattern over TCP for them. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <unistd.h>

#include "dp_test.h"
#include "vrouter/kmod/strata_vr_genl.h"
#include "vrouter/msg/msg.h"

/* ---- assertion plumbing for dp_test.h (see shim/cmocka.h) ---- */
static jmp_buf test_jmp;

void kvr_fail(const char *file, int line, const char *what, long long a, long long b)
{
    printf("  %s:%d: %s (%lld vs %lld)\n", file, line, what, a, b);
    longjmp(test_jmp, 1);
}

static int failures;

#define RUN(fn)                                  \
    do {                                         \
        if (setjmp(test_jmp) == 0) {             \
            fn();                                \
            printf("PASS kmod_%s\n", #fn);       \
        } else {                                 \
            printf("FAIL kmod_%s\n", #fn);       \
            failures++;                          \
        }                                        \
        fflush(stdout);                          \
    } while (0)

/* ---- generic netlink client carrying vrouter/msg frames ---- */
struct nl {
    int fd;
    uint16_t family;
    uint32_t seq;
};

struct nlbuf {
    union {
        struct nlmsghdr h;
        uint8_t b[4096];
    } u;
};

static void nlb_attr(struct nlbuf *m, uint16_t type, const void *data, size_t size)
{
    struct nlattr *a = (struct nlattr *)(m->u.b + NLMSG_ALIGN(m->u.h.nlmsg_len));
    assert_true(NLMSG_ALIGN(m->u.h.nlmsg_len) + NLA_HDRLEN + NLA_ALIGN(size) <= sizeof m->u.b);
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + size);
    memcpy((uint8_t *)a + NLA_HDRLEN, data, size);
    m->u.h.nlmsg_len = NLMSG_ALIGN(m->u.h.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static void nlb_init(struct nlbuf *m, uint16_t family, uint8_t cmd, uint16_t flags)
{
    memset(m, 0, sizeof *m);
    m->u.h.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
    m->u.h.nlmsg_type = family;
    m->u.h.nlmsg_flags = flags;
    struct genlmsghdr *g = NLMSG_DATA(&m->u.h);
    g->cmd = cmd;
    g->version = STRATA_VR_GENL_VERSION;
}

/* The payload of attribute 'type' in generic netlink message 'h'. */
static const void *nlb_find(const struct nlmsghdr *h, uint16_t type, size_t *size)
{
    const uint8_t *p = (const uint8_t *)h + NLMSG_LENGTH(GENL_HDRLEN);
    const uint8_t *end = (const uint8_t *)h + h->nlmsg_len;
    while (p + NLA_HDRLEN <= end) {
        const struct nlattr *a = (const struct nlattr *)p;
        if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end) {
            return NULL;
        }
        if ((a->nla_type & NLA_TYPE_MASK) == type) {
            *size = a->nla_len - NLA_HDRLEN;
            return p + NLA_HDRLEN;
        }
        p += NLA_ALIGN(a->nla_len);
    }
    return NULL;
}

/* Sends 'm' and passes every answering message to 'each' (may be NULL)
 * until the ack or NLMSG_DONE. Returns the ack's error (0 or -errno). */
static int nl_xfer(struct nl *nl, struct nlbuf *m, void (*each)(const struct nlmsghdr *h, void *arg), void *arg)
{
    m->u.h.nlmsg_seq = ++nl->seq;
    assert_int_equal(send(nl->fd, m->u.b, m->u.h.nlmsg_len, 0), m->u.h.nlmsg_len);
    for (;;) {
        static uint8_t buf[65536];
        ssize_t n = recv(nl->fd, buf, sizeof buf, 0);
        assert_true(n > 0);
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != nl->seq) {
                continue;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
            }
            if (h->nlmsg_type == NLMSG_DONE) {
                return 0;
            }
            if (each) {
                each(h, arg);
            }
        }
    }
}

static void ctrl_family(const struct nlmsghdr *h, void *arg)
{
    size_t size;
    const uint16_t *id = nlb_find(h, CTRL_ATTR_FAMILY_ID, &size);
    if (id && size == 2) {
        *(uint16_t *)arg = *id;
    }
}

static void nl_open(struct nl *nl)
{
    nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    assert_true(nl->fd >= 0);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    assert_int_equal(bind(nl->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    nl->seq = 0;
    nl->family = 0;
    struct nlbuf m;
    nlb_init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_REQUEST | NLM_F_ACK);
    nlb_attr(&m, CTRL_ATTR_FAMILY_NAME, STRATA_VR_GENL_NAME, sizeof STRATA_VR_GENL_NAME);
    assert_int_equal(nl_xfer(nl, &m, ctrl_family, &nl->family), 0);
    assert_true(nl->family != 0);
}

/* Answers to one request: the frames decoded from its messages. */
struct answers {
    struct vr_msg reply;
    struct vr_msg stats;
    struct vr_msg entries[16];
    uint32_t entry_count; /* all entries seen, even beyond the array */
    int bad;              /* frames that did not decode or a second reply */
    int replies;
};

static void collect(const struct nlmsghdr *h, void *arg)
{
    struct answers *a = arg;
    size_t size;
    struct vr_msg m;
    const uint8_t *f = nlb_find(h, STRATA_VR_A_MSG, &size);
    if (!f || vr_msg_decode(f, size, &m) != 0) {
        a->bad++;
        return;
    }
    if (m.type == VR_MSG_REPLY) {
        a->reply = m;
        a->bad += a->replies++ > 0;
    } else if (m.type == VR_MSG_STATS) {
        a->stats = m;
    } else if (m.flags & VR_MSG_F_DUMP) {
        if (a->entry_count < 16) {
            a->entries[a->entry_count] = m;
        }
        a->entry_count++;
    } else {
        a->bad++;
    }
}

/* Sends frame 'req' (a dump when 'dump') and gathers the answers in 'a'.
 * Returns the netlink ack's error. */
static int vr_call(struct nl *nl, const struct vr_msg *req, int dump, struct answers *a)
{
    uint8_t frame[VR_MSG_MAX];
    size_t size;
    struct nlbuf m;
    assert_int_equal(vr_msg_encode(req, frame, sizeof frame, &size), 0);
    nlb_init(&m, nl->family, STRATA_VR_CMD_MSG, NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0));
    nlb_attr(&m, STRATA_VR_A_MSG, frame, size);
    memset(a, 0, sizeof *a);
    int err = nl_xfer(nl, &m, collect, a);
    assert_int_equal(a->bad, 0);
    return err;
}

/* Sends raw bytes as a frame; returns the ack's error. */
static int vr_call_raw(struct nl *nl, const uint8_t *frame, size_t size)
{
    struct nlbuf m;
    struct answers a;
    nlb_init(&m, nl->family, STRATA_VR_CMD_MSG, NLM_F_REQUEST | NLM_F_ACK);
    nlb_attr(&m, STRATA_VR_A_MSG, frame, size);
    memset(&a, 0, sizeof a);
    return nl_xfer(nl, &m, collect, &a);
}

static uint32_t seq_next;

/* Sends 'req'; returns the reply's code (asserting the transport worked
 * and the reply echoes the request's seq). '*value' gets its value. */
static int vr_req(struct nl *nl, struct vr_msg *req, uint32_t *value)
{
    struct answers a;
    req->seq = ++seq_next;
    assert_int_equal(vr_call(nl, req, 0, &a), 0);
    assert_int_equal(a.replies, 1);
    assert_int_equal(a.reply.seq, req->seq);
    if (value) {
        *value = a.reply.u.reply.value;
    }
    return a.reply.u.reply.code;
}

/* ---- namespaces, devices, packet sockets ---- */
static int ns_root, ns_und, ns_a, ns_b;

static void ns_enter(int fd)
{
    assert_int_equal(setns(fd, CLONE_NEWNET), 0);
}

static void if_up(int ns, const char *name)
{
    ns_enter(ns);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
    close(s);
    ns_enter(ns_root);
}

/* An AF_PACKET socket bound to 'name' in namespace 'ns'. */
static int pk_open(int ns, const char *name)
{
    ns_enter(ns);
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    assert_true(fd >= 0);
    struct sockaddr_ll sl = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
    sl.sll_ifindex = (int)if_nametoindex(name);
    assert_true(sl.sll_ifindex > 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sl, sizeof sl), 0);
    ns_enter(ns_root);
    return fd;
}

static void pk_send(int fd, const uint8_t *f, size_t n)
{
    assert_int_equal(send(fd, f, n, 0), (ssize_t)n);
}

/* The next frame received on 'fd' whose EtherType (or, for punts, first
 * two bytes) is 'type', within 'ms' milliseconds; 0 when none arrives.
 * Frames the socket's own host sent are skipped. */
static size_t pk_recv(int fd, uint16_t type, int type_at, uint8_t *buf, size_t cap, int ms)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, ms) <= 0) {
            return 0;
        }
        struct sockaddr_ll sl;
        socklen_t sl_size = sizeof sl;
        ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&sl, &sl_size);
        assert_true(n >= 0);
        if (sl.sll_pkttype == PACKET_OUTGOING || n < type_at + 2) {
            continue;
        }
        if (t_get16(buf + type_at) == type) {
            return (size_t)n;
        }
    }
}

static void pk_drain(int fd)
{
    uint8_t buf[2048];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
}

static void hexdump(const char *what, const uint8_t *p, size_t n)
{
    printf("  %s (%zu bytes):", what, n);
    for (size_t i = 0; i < n; i++) {
        printf("%s%02x", i % 16 ? " " : "\n   ", p[i]);
    }
    printf("\n");
}

/* Asserts 'got' ('gn' bytes) equals 'want' ('wn'), dumping both if not. */
static void expect_bytes(const uint8_t *got, size_t gn, const uint8_t *want, size_t wn)
{
    if (gn != wn || memcmp(got, want, wn) != 0) {
        hexdump("got", got, gn);
        hexdump("want", want, wn);
        kvr_fail(__FILE__, __LINE__, "frame bytes", (long long)gn, (long long)wn);
    }
}

/* ---- the fixture (tests/unit/vrouter/test_dp_fwd.c setup()) ---- */
#define LBL_UDP 100
#define LBL_GRE 200
#define VNI_RED 5000
#define NH_B 1
#define NH_UDP 2
#define NH_GRE 3
#define NH_VXLAN 4
#define NH_B_L2 5
#define NH_A_L2 6
#define NH_BUM 7
#define NH_UDP_BLUE 8
#define NH_A 9 /* routed to A, for the ping between the VM namespaces */

static struct nl nl_root, nl_a, nl_b;
static int pk_und, pk_a, pk_b, pk_agent;

static void k_req(struct nl *nl, struct vr_msg *m)
{
    int code = vr_req(nl, m, NULL);
    if (code) {
        printf("  %s: %s\n", vr_msg_type_name(m->type), strata_strerror(code));
    }
    assert_int_equal(code, 0);
}

static void k_if(struct nl *nl, uint32_t slot, uint8_t type, uint32_t vrf, const uint8_t *mac, const char *name)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_IF, 0, 0);
    struct dp_if *i = &m.u.ifc.dpif;
    i->ifindex = slot;
    i->type = type;
    i->vrf = vrf;
    if (mac) {
        memcpy(i->mac, mac, 6);
    }
    if (type == DP_IF_FABRIC) {
        memcpy(i->gw_mac, MAC_GW, 6);
        i->ip4 = FAB_IP;
    }
    if (type == DP_IF_VM) {
        i->gw_ip4 = IP4(192, 168, 1, 1);
        i->dns_ip4 = IP4(192, 168, 1, 2);
    }
    snprintf(m.u.ifc.name, sizeof m.u.ifc.name, "%s", name);
    k_req(nl, &m);
}

static void k_vrf(uint32_t vrf, uint32_t bum_nh)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_VRF, 0, 0);
    m.u.vrf.vrf = vrf;
    m.u.vrf.bum_nh = bum_nh;
    k_req(&nl_root, &m);
}

static void k_nh_if(uint32_t id, uint32_t slot, const uint8_t *dmac, uint8_t flags)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_NH, 0, 0);
    m.u.nh.id = id;
    m.u.nh.type = DP_NH_IF;
    m.u.nh.ifindex = slot;
    m.u.nh.flags = flags;
    memcpy(m.u.nh.dmac, dmac, 6);
    k_req(&nl_root, &m);
}

static void k_nh_tun(uint32_t id, uint8_t encap, uint32_t label, const uint8_t *inner_dmac)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_NH, 0, 0);
    m.u.nh.id = id;
    m.u.nh.type = DP_NH_TUNNEL;
    m.u.nh.encap = encap;
    m.u.nh.ifindex = IF_FAB;
    m.u.nh.sip = FAB_IP;
    m.u.nh.dip = PEER_IP;
    m.u.nh.label = label;
    if (inner_dmac) {
        memcpy(m.u.nh.dmac, inner_dmac, 6);
    }
    k_req(&nl_root, &m);
}

static void route4(struct vr_msg *m, uint32_t vrf, uint32_t addr, uint8_t plen, uint32_t nh)
{
    vr_msg_init(m, VR_MSG_ROUTE, 0, 0);
    m->u.route.vrf = vrf;
    m->u.route.family = 4;
    m->u.route.plen = plen;
    t_put32(m->u.route.addr, addr);
    m->u.route.nh = nh;
}

static void k_route4(uint32_t vrf, uint32_t addr, uint8_t plen, uint32_t nh)
{
    struct vr_msg m;
    route4(&m, vrf, addr, plen, nh);
    k_req(&nl_root, &m);
}

static void k_mac(uint32_t vrf, const uint8_t *mac, uint32_t nh)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_MAC, 0, 0);
    m.u.mac.vrf = vrf;
    memcpy(m.u.mac.mac, mac, 6);
    m.u.mac.nh = nh;
    k_req(&nl_root, &m);
}

static void k_label(uint32_t label, uint32_t nh)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_LABEL, 0, 0);
    m.u.label.label = label;
    m.u.label.nh = nh;
    k_req(&nl_root, &m);
}

static void k_vni(uint32_t vni, uint32_t vrf)
{
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_VNI, 0, 0);
    m.u.vni.vni = vni;
    m.u.vni.vrf = vrf;
    k_req(&nl_root, &m);
}

/* GEN_BEGIN or SWEEP of 'gen'; returns the reply's value. */
static uint32_t k_gen(uint8_t type, uint32_t gen)
{
    struct vr_msg m;
    uint32_t value = 0;
    vr_msg_init(&m, type, 0, 0);
    m.u.id = gen;
    assert_int_equal(vr_req(&nl_root, &m, &value), 0);
    return value;
}

static uint64_t k_drops(enum dp_drop reason)
{
    struct vr_msg m;
    struct answers a;
    vr_msg_init(&m, VR_MSG_STATS_REQ, 0, ++seq_next);
    assert_int_equal(vr_call(&nl_root, &m, 0, &a), 0);
    assert_int_equal(a.reply.u.reply.code, 0);
    assert_int_equal(a.stats.type, VR_MSG_STATS);
    assert_int_equal(a.stats.seq, m.seq);
    assert_int_equal(a.stats.u.stats.drop_count, DP_DROP_COUNT);
    return a.stats.u.stats.stats.drops[reason];
}

/* Installs the unit tests' tables through the control frames; interfaces
 * name their devices (created vifs, the attached fabric fab0). Run again by
 * a new agent generation, the same names keep the same devices. With
 * 'with_gre', the 172.17/16 route to the MPLSoGRE next hop is included. */
static void program(int with_gre)
{
    k_vrf(VRF_RED, 0);
    k_vrf(VRF_BLUE, 0);
    k_if(&nl_root, IF_AGENT, DP_IF_AGENT, 0, NULL, "vragent");
    k_if(&nl_root, IF_FAB, DP_IF_FABRIC, 0, MAC_FAB, "fab0");
    k_if(&nl_a, IF_A, DP_IF_VM, VRF_RED, MAC_A, "vifA");
    k_if(&nl_b, IF_B, DP_IF_VM, VRF_RED, MAC_B, "vifB");
    k_if(&nl_root, IF_C, DP_IF_VM, VRF_BLUE, MAC_C, "vifC");
    k_nh_if(NH_B, IF_B, MAC_B, 0);
    k_nh_tun(NH_UDP, DP_ENCAP_MPLS_UDP, LBL_UDP, NULL);
    k_nh_tun(NH_GRE, DP_ENCAP_MPLS_GRE, LBL_GRE, NULL);
    k_nh_tun(NH_VXLAN, DP_ENCAP_VXLAN, VNI_RED, MAC_REMOTE);
    k_nh_if(NH_B_L2, IF_B, MAC_B, DP_NH_L2);
    k_nh_if(NH_A_L2, IF_A, MAC_A, DP_NH_L2);
    k_nh_tun(NH_UDP_BLUE, DP_ENCAP_MPLS_UDP, 500, NULL);
    k_nh_if(NH_A, IF_A, MAC_A, 0);
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_NH, 0, 0);
    m.u.nh.id = NH_BUM;
    m.u.nh.type = DP_NH_BUM;
    m.u.nh.member_count = 3;
    m.u.nh.members[0] = NH_A_L2;
    m.u.nh.members[1] = NH_B_L2;
    m.u.nh.members[2] = NH_VXLAN;
    k_req(&nl_root, &m);
    k_vrf(VRF_RED, NH_BUM);
    k_route4(VRF_RED, IP4(192, 168, 1, 20), 32, NH_B);
    k_route4(VRF_RED, IP4(192, 168, 1, 10), 32, NH_A);
    k_route4(VRF_RED, IP4(172, 16, 0, 0), 16, NH_UDP);
    if (with_gre) {
        k_route4(VRF_RED, IP4(172, 17, 0, 0), 16, NH_GRE);
    }
    k_route4(VRF_RED, IP4(172, 18, 0, 0), 16, NH_VXLAN);
    k_route4(VRF_BLUE, IP4(172, 16, 0, 0), 16, NH_UDP_BLUE);
    k_mac(VRF_RED, MAC_B, NH_B_L2);
    k_mac(VRF_RED, MAC_REMOTE, NH_VXLAN);
    k_vni(VNI_RED, VRF_RED);
    k_label(300, NH_B);
    k_label(301, NH_B_L2);
}

/* ---- expected frames (as in test_dp_fwd.c) ---- */
static size_t outer(uint8_t *e, uint8_t proto, size_t after_ip)
{
    size_t o = t_eth(e, MAC_GW, MAC_FAB, 0x0800);
    uint8_t *ip = e + o;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    t_put16(ip + 2, (uint16_t)(20 + after_ip));
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = proto;
    t_put32(ip + 12, FAB_IP);
    t_put32(ip + 16, PEER_IP);
    t_put16(ip + 10, t_fold(t_sum(0, ip, 20)));
    return o + 20;
}

static size_t routed_ip(uint8_t *dst, const uint8_t *frame, size_t len)
{
    memcpy(dst, frame + 14, len - 14);
    dst[8]--;
    t_put16(dst + 10, 0);
    t_put16(dst + 10, t_fold(t_sum(0, dst, 20)));
    return len - 14;
}

static uint16_t expected_sport(uint32_t vrf, uint32_t src, uint32_t dst, uint8_t proto, uint16_t sp, uint16_t dp)
{
    struct dp_flow_key k;
    t_key4(&k, vrf, src, dst, proto, sp, dp);
    return dp_udp_sport(dp_flow_hash(&k));
}

static size_t fabric_frame(uint8_t *f, int kind, uint32_t label_or_vni, const uint8_t *inner, size_t len)
{
    size_t o = t_eth(f, MAC_FAB, MAC_GW, 0x0800);
    size_t tun = kind == 0 ? 8 + 4 : kind == 1 ? 4 + 4 : 8 + 8;
    t_ip4(f + o, PEER_IP, FAB_IP, kind == 1 ? 47 : 17, 64, tun + len);
    o += 20;
    if (kind == 1) {
        t_put16(f + o, 0);
        t_put16(f + o + 2, 0x8847);
        o += 4;
    } else {
        t_put16(f + o, 50000);
        t_put16(f + o + 2, kind == 0 ? 6635 : 4789);
        t_put16(f + o + 4, (uint16_t)(tun + len));
        t_put16(f + o + 6, 0);
        o += 8;
    }
    if (kind == 2) {
        const uint8_t vx[4] = {0x08, 0, 0, 0};
        memcpy(f + o, vx, 4);
        t_put32(f + o + 4, label_or_vni << 8);
        o += 8;
    } else {
        t_put32(f + o, label_or_vni << 12 | 0x100 | 64);
        o += 4;
    }
    memcpy(f + o, inner, len);
    return o + len;
}

/* ---- the vectors ---- */
static void encap_mpls_udp(void)
{
    uint8_t f[128], e[256], got[2048];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 1000, 2000, 10, 64);
    pk_drain(pk_und);
    pk_send(pk_a, f, n);
    size_t gn = pk_recv(pk_und, 0x0800, 12, got, sizeof got, 2000);
    size_t inner = n - 14;
    size_t o = outer(e, 17, 8 + 4 + inner);
    t_put16(e + o, expected_sport(VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 5, 5), 17, 1000, 2000));
    t_put16(e + o + 2, 6635);
    t_put16(e + o + 4, (uint16_t)(8 + 4 + inner));
    t_put16(e + o + 6, 0);
    o += 8;
    const uint8_t mpls[4] = {0x00, 0x06, 0x41, 0x40}; /* label 100, S, TTL 64 */
    memcpy(e + o, mpls, 4);
    o += 4;
    o += routed_ip(e + o, f, n);
    expect_bytes(got, gn, e, o);
}

static void encap_mpls_gre(void)
{
    uint8_t f[128], e[256], got[2048];
    size_t n = t_tcp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 17, 0, 9), 40000, 80, 5);
    pk_drain(pk_und);
    pk_send(pk_a, f, n);
    size_t gn = pk_recv(pk_und, 0x0800, 12, got, sizeof got, 2000);
    size_t o = outer(e, 47, 4 + 4 + n - 14);
    const uint8_t gre_mpls[8] = {0, 0, 0x88, 0x47, 0x00, 0x0c, 0x81, 0x40}; /* label 200 */
    memcpy(e + o, gre_mpls, 8);
    o += 8;
    o += routed_ip(e + o, f, n);
    expect_bytes(got, gn, e, o);
    assert_true(t_l4_csum_ok(got + 14 + 20 + 8));
}

static void encap_vxlan(void)
{
    uint8_t f[128], e[256], got[2048];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 18, 1, 1), 5353, 7, 3, 64);
    pk_drain(pk_und);
    pk_send(pk_a, f, n);
    size_t gn = pk_recv(pk_und, 0x0800, 12, got, sizeof got, 2000);
    size_t o = outer(e, 17, 8 + 8 + n);
    t_put16(e + o, expected_sport(VRF_RED, IP4(192, 168, 1, 10), IP4(172, 18, 1, 1), 17, 5353, 7));
    t_put16(e + o + 2, 4789);
    t_put16(e + o + 4, (uint16_t)(8 + 8 + n));
    t_put16(e + o + 6, 0);
    o += 8;
    const uint8_t vx[8] = {0x08, 0, 0, 0, 0x00, 0x13, 0x88, 0x00}; /* VNI 5000 */
    memcpy(e + o, vx, 8);
    o += 8;
    o += t_eth(e + o, MAC_REMOTE, MAC_ROUTER, 0x0800);
    o += routed_ip(e + o, f, n);
    expect_bytes(got, gn, e, o);
}

static void local_route_a_to_b(void)
{
    uint8_t f[128], e[256], got[2048];
    size_t n = t_udp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(192, 168, 1, 20), 1000, 2000, 10, 64);
    pk_drain(pk_b);
    pk_send(pk_a, f, n);
    size_t gn = pk_recv(pk_b, 0x0800, 12, got, sizeof got, 2000);
    size_t o = t_eth(e, MAC_B, MAC_ROUTER, 0x0800);
    o += routed_ip(e + o, f, n);
    expect_bytes(got, gn, e, o);
}

static void decap_mpls_udp_l3(void)
{
    uint8_t inner[128], f[256], e[256], got[2048];
    size_t in = t_udp4(inner, MAC_ROUTER, MAC_REMOTE, IP4(172, 16, 5, 5), IP4(192, 168, 1, 20), 7, 8, 6, 63);
    size_t n = fabric_frame(f, 0, 300, inner + 14, in - 14);
    pk_drain(pk_b);
    pk_send(pk_und, f, n);
    size_t gn = pk_recv(pk_b, 0x0800, 12, got, sizeof got, 2000);
    size_t o = t_eth(e, MAC_B, MAC_ROUTER, 0x0800);
    memcpy(e + o, inner + 14, in - 14);
    o += in - 14;
    expect_bytes(got, gn, e, o);
}

static void decap_mpls_gre_l2(void)
{
    uint8_t inner[128], f[256], got[2048];
    size_t in = t_udp4(inner, MAC_ROUTER, MAC_REMOTE, IP4(172, 16, 5, 5), IP4(192, 168, 1, 20), 7, 8, 6, 63);
    size_t n = fabric_frame(f, 1, 301, inner, in);
    pk_drain(pk_b);
    pk_send(pk_und, f, n);
    size_t gn = pk_recv(pk_b, 0x0800, 12, got, sizeof got, 2000);
    expect_bytes(got, gn, inner, in);
}

static void decap_vxlan_bridged(void)
{
    uint8_t l2[80], f[256], got[2048];
    size_t l2n = t_udp4(l2, MAC_B, MAC_REMOTE, IP4(192, 168, 1, 99), IP4(192, 168, 1, 20), 7, 8, 6, 64);
    size_t n = fabric_frame(f, 2, VNI_RED, l2, l2n);
    pk_drain(pk_b);
    pk_send(pk_und, f, n);
    size_t gn = pk_recv(pk_b, 0x0800, 12, got, sizeof got, 2000);
    expect_bytes(got, gn, l2, l2n);
}

static void roundtrip_fabric_hairpin_refused(void)
{
    /* A label leading back to a tunnel is dropped as a loop. */
    uint8_t inner[128], f[256], got[2048];
    k_label(302, NH_UDP);
    uint64_t before = k_drops(DP_DROP_LOOP);
    size_t in = t_udp4(inner, MAC_ROUTER, MAC_REMOTE, IP4(172, 16, 5, 5), IP4(192, 168, 1, 20), 7, 8, 6, 63);
    size_t n = fabric_frame(f, 0, 302, inner + 14, in - 14);
    pk_drain(pk_und);
    pk_send(pk_und, f, n);
    assert_int_equal(pk_recv(pk_und, 0x0800, 12, got, sizeof got, 300), 0);
    assert_int_equal(k_drops(DP_DROP_LOOP), before + 1);
}

static void vrf_isolation(void)
{
    uint8_t f[128], got[2048];
    int pk_c = pk_open(ns_root, "vifC");
    /* The same destination from BLUE takes BLUE's next hop (label 500). */
    size_t n = t_udp4(f, MAC_ROUTER, MAC_C, IP4(192, 168, 1, 10), IP4(172, 16, 1, 1), 5, 6, 0, 64);
    pk_drain(pk_und);
    pk_send(pk_c, f, n);
    assert_true(pk_recv(pk_und, 0x0800, 12, got, sizeof got, 2000) >= 46);
    assert_int_equal(t_get32(got + 42) >> 12, 500);
    /* BLUE has no route to B's address and does not know B's MAC. */
    n = t_udp4(f, MAC_B, MAC_C, IP4(192, 168, 1, 10), IP4(192, 168, 1, 20), 5, 6, 0, 64);
    uint64_t before = k_drops(DP_DROP_UNKNOWN_UNICAST);
    pk_drain(pk_b);
    pk_send(pk_c, f, n);
    assert_int_equal(pk_recv(pk_b, 0x0800, 12, got, sizeof got, 300), 0);
    assert_int_equal(k_drops(DP_DROP_UNKNOWN_UNICAST), before + 1);
    /* The same frame from A reaches B: RED routes B's address (IP first). */
    uint8_t e[128];
    memcpy(f + 6, MAC_A, 6);
    pk_send(pk_a, f, n);
    size_t gn = pk_recv(pk_b, 0x0800, 12, got, sizeof got, 2000);
    size_t o = t_eth(e, MAC_B, MAC_ROUTER, 0x0800);
    o += routed_ip(e + o, f, n);
    expect_bytes(got, gn, e, o);
    close(pk_c);
}

static void arp_punted_to_agent(void)
{
    uint8_t f[64], got[2048];
    size_t o = t_eth(f, MAC_BCAST, MAC_A, 0x0806);
    const uint8_t arp[8] = {0, 1, 8, 0, 6, 4, 0, 1};
    memcpy(f + o, arp, 8);
    memcpy(f + o + 8, MAC_A, 6);
    t_put32(f + o + 14, IP4(192, 168, 1, 10));
    memset(f + o + 18, 0, 6);
    t_put32(f + o + 24, IP4(192, 168, 1, 1));
    size_t n = o + 28;
    pk_drain(pk_agent);
    pk_send(pk_a, f, n);
    size_t gn = pk_recv(pk_agent, DP_PUNT_MAGIC, 0, got, sizeof got, 2000);
    uint8_t e[128] = {0x53, 0x54, 1, DP_PUNT_ARP, 0, 0, 0, IF_A, 0, 0, 0, VRF_RED, 0xff, 0xff, 0xff, 0xff};
    memcpy(e + 16, f, n);
    expect_bytes(got, gn, e, 16 + n);
}

/* Moves device 'name' from namespace 'from' into namespace 'to' (rtnetlink). */
static void if_move(int from, const char *name, int to)
{
    struct {
        struct nlmsghdr h;
        struct ifinfomsg i;
        uint8_t attrs[16];
    } req;
    ns_enter(from);
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    assert_true(fd >= 0);
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.i) + NLA_HDRLEN + 4;
    req.h.nlmsg_type = RTM_NEWLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.h.nlmsg_seq = 1;
    req.i.ifi_family = AF_UNSPEC;
    req.i.ifi_index = (int)if_nametoindex(name);
    struct nlattr *a = (struct nlattr *)req.attrs;
    a->nla_type = IFLA_NET_NS_FD;
    a->nla_len = NLA_HDRLEN + 4;
    memcpy(req.attrs + NLA_HDRLEN, &to, 4);
    assert_true(req.i.ifi_index > 0);
    assert_int_equal(send(fd, &req, req.h.nlmsg_len, 0), req.h.nlmsg_len);
    uint8_t buf[1024];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    assert_true(n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && h->nlmsg_type == NLMSG_ERROR);
    assert_int_equal(((struct nlmsgerr *)NLMSG_DATA(h))->error, 0);
    close(fd);
    ns_enter(ns_root);
}

static void vif_survives_netns_move(void)
{
    /* vifC moves from the root namespace into VM namespace A and keeps its
     * slot: BLUE's traffic still leaves with BLUE's label. */
    uint8_t f[128], got[2048];
    if_move(ns_root, "vifC", ns_a);
    if_up(ns_a, "vifC");
    int pk_c = pk_open(ns_a, "vifC");
    size_t n = t_udp4(f, MAC_ROUTER, MAC_C, IP4(192, 168, 1, 10), IP4(172, 16, 1, 1), 5, 6, 0, 64);
    pk_drain(pk_und);
    pk_send(pk_c, f, n);
    assert_true(pk_recv(pk_und, 0x0800, 12, got, sizeof got, 2000) >= 46);
    assert_int_equal(t_get32(got + 42) >> 12, 500);
    close(pk_c);
}

static void generation_sweep(void)
{
    /* A new agent generation re-installs everything but the MPLSoGRE route;
     * the sweep removes exactly the stale entries, the devices stay bound
     * and forwarding goes on. */
    uint8_t f[128], got[2048];
    assert_int_equal(k_gen(VR_MSG_GEN_BEGIN, 2), 0);
    program(0);
    uint32_t removed = k_gen(VR_MSG_SWEEP, 2);
    assert_int_equal(removed, 3); /* the 172.17/16 route, label 302, VRF 3 */
    encap_mpls_udp();
    decap_mpls_udp_l3();
    size_t n = t_tcp4(f, MAC_ROUTER, MAC_A, IP4(192, 168, 1, 10), IP4(172, 17, 0, 9), 40000, 80, 5);
    pk_drain(pk_und);
    pk_send(pk_a, f, n);
    assert_int_equal(pk_recv(pk_und, 0x0800, 12, got, sizeof got, 300), 0);
}

static void bad_requests_refused(void)
{
    struct vr_msg m;
    uint8_t frame[VR_MSG_MAX];
    size_t size;
    /* Core refusals come back as reply codes. */
    vr_msg_init(&m, VR_MSG_IF, 0, 0);
    m.u.ifc.dpif.ifindex = 100000;
    m.u.ifc.dpif.type = DP_IF_VM;
    assert_int_equal(vr_req(&nl_root, &m, NULL), VR_ERANGE);
    k_vrf(3, 0);
    route4(&m, 7, IP4(10, 0, 0, 0), 8, NH_B);
    assert_int_equal(vr_req(&nl_root, &m, NULL), VR_ENOVRF);
    vr_msg_init(&m, VR_MSG_DUMP_REQ, 0, 0);
    m.u.table = VR_TABLE_IF;
    assert_int_equal(vr_req(&nl_root, &m, NULL), VR_EINVAL); /* dumps need NLM_F_DUMP */
    vr_msg_init(&m, VR_MSG_REPLY, 0, 0);
    assert_int_equal(vr_req(&nl_root, &m, NULL), VR_EINVAL);
    /* A fabric needs an existing device; a VM port gets a vif instead. */
    vr_msg_init(&m, VR_MSG_IF, 0, 0);
    m.u.ifc.dpif.ifindex = 9;
    m.u.ifc.dpif.type = DP_IF_FABRIC;
    strcpy(m.u.ifc.name, "nosuchdev0");
    assert_int_equal(vr_req(&nl_root, &m, NULL), -ENODEV);
    vr_msg_init(&m, VR_MSG_IF_DEL, 0, 0);
    m.u.id = 9;
    assert_int_equal(vr_req(&nl_root, &m, NULL), 0);
    /* Frames that do not decode are refused by the transport. */
    vr_msg_init(&m, VR_MSG_VRF, 0, 1);
    m.u.vrf.vrf = 4;
    assert_int_equal(vr_msg_encode(&m, frame, sizeof frame, &size), 0);
    assert_int_equal(vr_call_raw(&nl_root, frame, size - 1), -EINVAL); /* truncated */
    frame[2] = 2;
    assert_int_equal(vr_call_raw(&nl_root, frame, size), -EINVAL); /* version 2 */
    frame[2] = 1;
    frame[0] = 0;
    assert_int_equal(vr_call_raw(&nl_root, frame, size), -EINVAL); /* magic */
    memset(frame, 0, sizeof frame);
    assert_true(vr_call_raw(&nl_root, frame, sizeof frame) < 0);
    struct nlbuf nb;
    nlb_init(&nb, nl_root.family, STRATA_VR_CMD_MSG, NLM_F_REQUEST | NLM_F_ACK);
    assert_int_equal(nl_xfer(&nl_root, &nb, NULL, NULL), -EINVAL); /* no frame */
}

static void dump_tables(void)
{
    /* Interfaces come back with their device names, routes all, and the
     * reply counts the entries; a flow installed by frame shows up too. */
    struct vr_msg m;
    struct answers a;
    vr_msg_init(&m, VR_MSG_DUMP_REQ, 0, ++seq_next);
    m.u.table = VR_TABLE_IF;
    assert_int_equal(vr_call(&nl_root, &m, 1, &a), 0);
    assert_int_equal(a.replies, 1);
    assert_int_equal(a.reply.u.reply.code, 0);
    assert_int_equal(a.reply.u.reply.value, 5);
    assert_int_equal(a.entry_count, 5);
    const char *names[5] = {"vragent", "fab0", "vifA", "vifB", "vifC"};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(a.entries[k].type, VR_MSG_IF);
        assert_int_equal(a.entries[k].u.ifc.dpif.ifindex, (uint32_t)k);
        assert_int_equal(strcmp(a.entries[k].u.ifc.name, names[k]), 0);
    }
    assert_true(a.entries[IF_A].u.ifc.dpif.stats.rx_packets > 0);
    m.u.table = VR_TABLE_ROUTE;
    assert_int_equal(vr_call(&nl_root, &m, 1, &a), 0);
    assert_int_equal(a.reply.u.reply.value, 5); /* 4 RED (no 172.17/16 since the sweep), 1 BLUE */
    assert_int_equal(a.entry_count, 5);

    vr_msg_init(&m, VR_MSG_FLOW, 0, 0);
    t_key4(&m.u.flow.key, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 9, 9), 17, 1, 2);
    m.u.flow.action.type = DP_FLOW_DROP;
    assert_int_equal(vr_req(&nl_root, &m, NULL), 0);
    vr_msg_init(&m, VR_MSG_DUMP_REQ, 0, ++seq_next);
    m.u.table = VR_TABLE_FLOW;
    assert_int_equal(vr_call(&nl_root, &m, 1, &a), 0);
    assert_int_equal(a.reply.u.reply.value, 1);
    assert_int_equal(a.entries[0].u.flow.action.type, DP_FLOW_DROP);
    assert_int_equal(a.entries[0].u.flow.key.sport, 1);
    vr_msg_init(&m, VR_MSG_FLOW_DEL, 0, 0);
    t_key4(&m.u.flow.key, VRF_RED, IP4(192, 168, 1, 10), IP4(172, 16, 9, 9), 17, 1, 2);
    assert_int_equal(vr_req(&nl_root, &m, NULL), 0);
}

static void if_del_releases_vif(void)
{
    /* Deleting C's interface unregisters its vif (now in namespace A). */
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_IF_DEL, 0, 0);
    m.u.id = IF_C;
    assert_int_equal(vr_req(&nl_root, &m, NULL), 0);
    ns_enter(ns_a);
    unsigned idx = if_nametoindex("vifC");
    ns_enter(ns_root);
    assert_int_equal(idx, 0);
    assert_int_equal(vr_req(&nl_root, &m, NULL), VR_ENOENT);
}

/* ---- the kernel's own VXLAN as the remote compute node ---- */
static size_t rt_attr(uint8_t *buf, size_t at, uint16_t type, const void *data, size_t size)
{
    struct nlattr *a = (struct nlattr *)(buf + at);
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + size);
    if (size) {
        memcpy(buf + at + NLA_HDRLEN, data, size);
    }
    return at + NLA_ALIGN(a->nla_len);
}

/* Creates VXLAN device vx0 (VNI 5000, port 4789, 10.0.0.2 -> 10.0.0.1, MAC
 * MAC_REMOTE) in the current namespace: the peer that the VXLAN vectors
 * model, so VMs behind the module can talk to the kernel's VXLAN. */
static int vxlan_peer(void)
{
    static uint8_t buf[512];
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    struct ifinfomsg *ifi = NLMSG_DATA(h);
    size_t at = NLMSG_ALIGN(NLMSG_LENGTH(sizeof *ifi));
    memset(buf, 0, sizeof buf);
    h->nlmsg_type = RTM_NEWLINK;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    h->nlmsg_seq = 1;
    ifi->ifi_family = AF_UNSPEC;
    at = rt_attr(buf, at, IFLA_IFNAME, "vx0", 4);
    at = rt_attr(buf, at, IFLA_ADDRESS, MAC_REMOTE, 6);
    size_t linkinfo = at;
    at = rt_attr(buf, at, IFLA_LINKINFO | NLA_F_NESTED, NULL, 0);
    at = rt_attr(buf, at, IFLA_INFO_KIND, "vxlan", 6);
    size_t data = at;
    at = rt_attr(buf, at, IFLA_INFO_DATA | NLA_F_NESTED, NULL, 0);
    uint32_t vni = VNI_RED, remote = htonl(FAB_IP), local = htonl(PEER_IP);
    uint16_t port = htons(4789);
    at = rt_attr(buf, at, IFLA_VXLAN_ID, &vni, 4);
    at = rt_attr(buf, at, IFLA_VXLAN_GROUP, &remote, 4);
    at = rt_attr(buf, at, IFLA_VXLAN_LOCAL, &local, 4);
    at = rt_attr(buf, at, IFLA_VXLAN_PORT, &port, 2);
    ((struct nlattr *)(buf + data))->nla_len = (uint16_t)(at - data);
    ((struct nlattr *)(buf + linkinfo))->nla_len = (uint16_t)(at - linkinfo);
    h->nlmsg_len = (uint32_t)at;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0 || send(fd, buf, at, 0) != (ssize_t)at) {
        perror("vxlan_peer");
        return 1;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    close(fd);
    if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR) {
        fprintf(stderr, "vxlan_peer: no ack\n");
        return 1;
    }
    int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    if (err) {
        fprintf(stderr, "vxlan_peer: %s\n", strerror(-err));
        return 1;
    }
    return 0;
}

/* ---- TCP through the module (run by /init inside the namespaces) ---- */
/* Accepts one connection on 'port' and reads until EOF; succeeds when
 * exactly 'bytes' bytes of the source's pattern arrived. */
static int tcp_sink(uint16_t port, size_t bytes)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {.tv_sec = 20};
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 1) != 0) {
        perror("tcp-sink");
        return 1;
    }
    setsockopt(ls, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int c = accept(ls, NULL, NULL);
    if (c < 0) {
        perror("tcp-sink accept");
        return 1;
    }
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static uint8_t buf[65536];
    size_t total = 0, wrong = 0;
    for (;;) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n < 0) {
            perror("tcp-sink recv");
            return 1;
        }
        if (n == 0) {
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            wrong += buf[i] != (uint8_t)((total + (size_t)i) % 251);
        }
        total += (size_t)n;
    }
    printf("tcp-sink: %zu bytes, %zu wrong\n", total, wrong);
    return total == bytes && wrong == 0 ? 0 : 1;
}

/* Connects to 'ip':'port' and sends 'bytes' bytes of a pattern. */
static int tcp_source(const char *ip, uint16_t port, size_t bytes)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {.tv_sec = 20};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (s < 0 || inet_pton(AF_INET, ip, &sa.sin_addr) != 1 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("tcp-source");
        return 1;
    }
    static uint8_t buf[65536];
    size_t sent = 0;
    while (sent < bytes) {
        size_t n = bytes - sent < sizeof buf ? bytes - sent : sizeof buf;
        for (size_t i = 0; i < n; i++) {
            buf[i] = (uint8_t)((sent + i) % 251);
        }
        ssize_t w = send(s, buf, n, 0);
        if (w <= 0) {
            perror("tcp-source send");
            return 1;
        }
        sent += (size_t)w;
    }
    close(s);
    return 0;
}

static int ns_open(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("FAIL kmod_setup: open %s: %s\n", path, strerror(errno));
    }
    return fd;
}

static void setup(void)
{
    nl_open(&nl_root);
    ns_enter(ns_a);
    nl_open(&nl_a);
    ns_enter(ns_b);
    nl_open(&nl_b);
    ns_enter(ns_root);
    program(1);
    if_up(ns_root, "vragent");
    if_up(ns_a, "vifA");
    if_up(ns_b, "vifB");
    if_up(ns_root, "vifC");
    pk_und = pk_open(ns_und, "und0");
    pk_a = pk_open(ns_a, "vifA");
    pk_b = pk_open(ns_b, "vifB");
    pk_agent = pk_open(ns_root, "vragent");
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "vxlan-peer")) {
        return vxlan_peer();
    }
    if (argc == 4 && !strcmp(argv[1], "tcp-sink")) {
        return tcp_sink((uint16_t)atoi(argv[2]), (size_t)atol(argv[3]));
    }
    if (argc == 5 && !strcmp(argv[1], "tcp-source")) {
        return tcp_source(argv[2], (uint16_t)atoi(argv[3]), (size_t)atol(argv[4]));
    }
    if (argc != 4) {
        fprintf(stderr, "usage: %s NS_UNDERLAY NS_VM_A NS_VM_B | vxlan-peer | tcp-sink PORT BYTES | tcp-source IP PORT BYTES\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    ns_root = ns_open("/proc/self/ns/net");
    ns_und = ns_open(argv[1]);
    ns_a = ns_open(argv[2]);
    ns_b = ns_open(argv[3]);
    if (ns_root < 0 || ns_und < 0 || ns_a < 0 || ns_b < 0) {
        return 1;
    }
    RUN(setup);
    if (failures) {
        return 1;
    }
    RUN(encap_mpls_udp);
    RUN(encap_mpls_gre);
    RUN(encap_vxlan);
    RUN(local_route_a_to_b);
    RUN(decap_mpls_udp_l3);
    RUN(decap_mpls_gre_l2);
    RUN(decap_vxlan_bridged);
    RUN(roundtrip_fabric_hairpin_refused);
    RUN(vrf_isolation);
    RUN(arp_punted_to_agent);
    RUN(bad_requests_refused);
    RUN(generation_sweep);
    RUN(dump_tables);
    RUN(vif_survives_netns_move);
    RUN(if_del_releases_vif);
    return failures ? 1 : 0;
}

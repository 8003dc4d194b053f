/* bench/flows: the packet source and the counter watcher of the flow-setup
 * benchmark (bench/flows/run builds it with cc; no project library).
 *   flowgen send IFNAME SRC DST DSTMAC COUNT [BASE [RATE [WINDOW NETNS PEER]]]
 *     sends COUNT UDP frames SRC -> DST, each one a new flow (source and
 *     destination ports walk a 2^32 space from BASE), through an AF_PACKET
 *     socket with sendmmsg in batches of 64, as fast as the socket takes
 *     them or, with RATE > 0, paced at RATE frames per second (a batch
 *     waits until its time); with WINDOW > 0, closed loop: a batch waits
 *     while more than WINDOW frames sent are not yet received on device
 *     PEER of network namespace NETNS (a /run/netns path; its rx_packets
 *     read over rtnetlink), and frames not received within 200 ms of no
 *     progress count as lost (the wait ends); prints "sent N start_ns T
 *     end_ns T lost_waits L".
 *   flowgen punt IFNAME SRC DST DSTMAC COUNT [BASE [RATE [WINDOW NETNS PEER]]]
 *     the same frames as the datapath punts them for a flow miss (the
 *     16-byte punt header of vrouter/dp/dp.h: reason 5, ingress ifindex 2,
 *     VRF 1), for an agent reading its punt interface on the other end;
 *   flowgen watch FILE QUIET_MS
 *     reads the decimal counter in FILE (a sysfs statistic) every 2 ms
 *     until it has not changed for QUIET_MS; prints "first F last L
 *     last_change_ns T" (CLOCK_MONOTONIC, comparable with send's). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define FRAME 60
#define PUNT_HDR 16

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint16_t csum(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        s += (uint32_t)p[i] << 8 | p[i + 1];
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return (uint16_t)~s;
}

/* A NETLINK_ROUTE socket in network namespace 'ns' (path) and the index
 * of device 'name' there; the caller's namespace is restored. */
static int peer_open(const char *ns, const char *name, int *ifindex)
{
    int self = open("/proc/self/ns/net", O_RDONLY), other = open(ns, O_RDONLY), fd = -1;
    if (self >= 0 && other >= 0 && setns(other, CLONE_NEWNET) == 0) {
        *ifindex = (int)if_nametoindex(name);
        fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
        if (setns(self, CLONE_NEWNET) != 0) {
            perror("flowgen: setns back");
            exit(1);
        }
    }
    if (self >= 0) {
        close(self);
    }
    if (other >= 0) {
        close(other);
    }
    return *ifindex > 0 ? fd : -1;
}

/* The rx_packets of device 'ifindex' over rtnetlink socket 'fd'. */
static uint64_t peer_rx(int fd, int ifindex)
{
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } req = {.nh = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST},
             .ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex}};
    static uint8_t buf[16384];
    if (send(fd, &req, sizeof req, 0) < 0) {
        return 0;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; n > 0 && NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type != RTM_NEWLINK) {
            continue;
        }
        struct ifinfomsg *ifi = NLMSG_DATA(h);
        int len = (int)IFLA_PAYLOAD(h);
        for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
            if (a->rta_type == IFLA_STATS64 && RTA_PAYLOAD(a) >= sizeof(struct rtnl_link_stats64)) {
                struct rtnl_link_stats64 st;
                memcpy(&st, RTA_DATA(a), sizeof st);
                return st.rx_packets;
            }
        }
    }
    return 0;
}

static int send_flows(int argc, char **argv, int punt)
{
    if (argc < 7) {
        return 2;
    }
    unsigned ifx = if_nametoindex(argv[2]);
    struct in_addr src, dst;
    unsigned m[6];
    if (!ifx || inet_pton(AF_INET, argv[3], &src) != 1 || inet_pton(AF_INET, argv[4], &dst) != 1 ||
        sscanf(argv[5], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) {
        fprintf(stderr, "flowgen: bad arguments\n");
        return 2;
    }
    uint64_t count = strtoull(argv[6], NULL, 10), base = argc > 7 ? strtoull(argv[7], NULL, 10) : 0;
    uint64_t rate = argc > 8 ? strtoull(argv[8], NULL, 10) : 0;
    uint64_t window = argc > 11 ? strtoull(argv[9], NULL, 10) : 0, lost_waits = 0, rx0 = 0, lost = 0;
    int nl = -1, peer = 0;
    if (window) {
        nl = peer_open(argv[10], argv[11], &peer);
        if (nl < 0) {
            fprintf(stderr, "flowgen: cannot read %s in %s\n", argv[11], argv[10]);
            return 1;
        }
        rx0 = peer_rx(nl, peer);
    }
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = (int)ifx, .sll_halen = 6};
    int qb = 1, sz = 8 << 20;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) {
        perror("flowgen: socket");
        return 1;
    }
    (void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &qb, sizeof qb);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    static uint8_t frames[BATCH][PUNT_HDR + FRAME];
    size_t hdr = punt ? PUNT_HDR : 0;
    struct iovec iov[BATCH];
    struct mmsghdr mm[BATCH];
    uint8_t smac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
    uint64_t sent = 0, t0 = now_ns();
    while (sent < count) {
        if (window) {
            uint64_t rx = peer_rx(nl, peer) - rx0, last = rx, since = now_ns();
            while (sent > rx + lost + window) {
                struct timespec d = {0, 20000};
                nanosleep(&d, NULL);
                rx = peer_rx(nl, peer) - rx0;
                if (rx != last) {
                    last = rx;
                    since = now_ns();
                } else if (now_ns() - since > 200000000u) {
                    lost = sent - rx; /* not coming: stop waiting for them */
                    lost_waits++;
                }
            }
        }
        if (rate) {
            uint64_t due = t0 + sent * 1000000000u / rate;
            for (uint64_t t = now_ns(); t < due; t = now_ns()) {
                struct timespec d = {0, (long)(due - t < 200000 ? due - t : 200000)};
                nanosleep(&d, NULL);
            }
        }
        unsigned n = 0;
        for (; n < BATCH && sent + n < count; n++) {
            uint8_t *f = frames[n] + hdr;
            uint64_t k = base + sent + n;
            memset(frames[n], 0, PUNT_HDR + FRAME);
            if (punt) { /* magic 0x5354, version 1, flow miss, ifindex 2, VRF 1, flow index */
                static const uint8_t h[12] = {0x53, 0x54, 1, 5, 0, 0, 0, 2, 0, 0, 0, 1};
                memcpy(frames[n], h, sizeof h);
                frames[n][12] = (uint8_t)(k >> 24);
                frames[n][13] = (uint8_t)(k >> 16);
                frames[n][14] = (uint8_t)(k >> 8);
                frames[n][15] = (uint8_t)k;
            }
            for (int i = 0; i < 6; i++) {
                f[i] = (uint8_t)m[i];
            }
            memcpy(f + 6, smac, 6);
            f[12] = 0x08;
            uint8_t *ip = f + 14;
            ip[0] = 0x45;
            ip[3] = 28 + 18;
            ip[8] = 64;
            ip[9] = 17;
            memcpy(ip + 12, &src, 4);
            memcpy(ip + 16, &dst, 4);
            uint16_t c = csum(ip, 20);
            ip[10] = (uint8_t)(c >> 8);
            ip[11] = (uint8_t)c;
            uint16_t sport = (uint16_t)(1024 + (k % 64000)), dport = (uint16_t)(1024 + (k / 64000) % 64000);
            ip[20] = (uint8_t)(sport >> 8);
            ip[21] = (uint8_t)sport;
            ip[22] = (uint8_t)(dport >> 8);
            ip[23] = (uint8_t)dport;
            ip[25] = 8 + 18;
            iov[n] = (struct iovec){.iov_base = frames[n], .iov_len = hdr + FRAME};
            mm[n] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[n], .msg_iovlen = 1}};
        }
        int r = sendmmsg(fd, mm, n, 0);
        if (r > 0) {
            sent += (uint64_t)r;
        }
    }
    printf("sent %llu start_ns %llu end_ns %llu lost_waits %llu\n", (unsigned long long)sent, (unsigned long long)t0,
           (unsigned long long)now_ns(), (unsigned long long)lost_waits);
    return 0;
}

static uint64_t read_counter(const char *path)
{
    FILE *f = fopen(path, "r");
    unsigned long long v = 0;
    if (!f || fscanf(f, "%llu", &v) != 1) {
        v = 0;
    }
    if (f) {
        fclose(f);
    }
    return v;
}

static int watch(int argc, char **argv)
{
    if (argc < 4) {
        return 2;
    }
    uint64_t quiet = strtoull(argv[3], NULL, 10) * 1000000u;
    uint64_t first = read_counter(argv[2]), last = first, changed = now_ns();
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        struct timespec d = {0, 2000000};
        nanosleep(&d, NULL);
        uint64_t v = read_counter(argv[2]), t = now_ns();
        if (v != last) {
            last = v;
            changed = t;
        } else if (t - changed > quiet && last != first) {
            break;
        } else if (t - changed > 20 * quiet) {
            break; /* nothing ever came */
        }
    }
    printf("first %llu last %llu last_change_ns %llu\n", (unsigned long long)first, (unsigned long long)last,
           (unsigned long long)changed);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "send") == 0) {
        return send_flows(argc, argv, 0);
    }
    if (argc > 1 && strcmp(argv[1], "punt") == 0) {
        return send_flows(argc, argv, 1);
    }
    if (argc > 1 && strcmp(argv[1], "watch") == 0) {
        return watch(argc, argv);
    }
    fprintf(stderr, "usage: flowgen send|punt IFNAME SRC DST DSTMAC COUNT [BASE] | flowgen watch FILE QUIET_MS\n");
    return 2;
}

/* dp_netperf: the traffic source and sink of bench/dp/run, run inside the
 * VM namespaces (no iperf3 needed). UDP: the sender blasts fixed-size
 * datagrams from a fixed source port with sendmmsg for a given time; the
 * receiver counts what arrives with recvmmsg and reports packets per second
 * between the first and the last datagram. TCP: one stream from a fixed
 * source port for a given time; the receiver reports bytes and Gbit/s
 * between accept and EOF.
 *   dp_netperf udp-recv PORT MAX_SECONDS
 *   dp_netperf udp-send ADDR PORT SECONDS PAYLOAD SPORT
 *   dp_netperf tcp-recv PORT
 *   dp_netperf tcp-send ADDR PORT SECONDS SPORT
 * Receivers print "ready" once bound, then one line of key=value results. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bound(int type, uint16_t port)
{
    int fd = socket(AF_INET, type, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int to(int fd, const char *addr, uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
        return -1;
    }
    return connect(fd, (struct sockaddr *)&sin, sizeof sin);
}

static int udp_recv(uint16_t port, double max_s)
{
    int fd = bound(SOCK_DGRAM, port);
    if (fd < 0) {
        perror("udp-recv: bind");
        return 1;
    }
    int big = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    printf("ready\n");
    fflush(stdout);
    static uint8_t bufs[BATCH][2048];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizeof bufs[i];
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t count = 0;
    double start = now_s(), first = 0, last = 0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, count ? 1000 : 200);
        double t = now_s();
        if (r == 0) {
            if (count || t - start > max_s) {
                break; /* one idle second after traffic: the sender is done */
            }
            continue;
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n > 0) {
            if (!count) {
                first = t;
            }
            count += (uint64_t)n;
            last = now_s();
        }
        if (t - start > max_s) {
            break;
        }
    }
    double span = last - first;
    printf("udp_recv packets=%llu seconds=%.3f pps=%.0f\n", (unsigned long long)count, span,
           span > 0 ? (double)count / span : 0.0);
    return 0;
}

static int udp_send(const char *addr, uint16_t port, double secs, size_t payload, uint16_t sport)
{
    int fd = bound(SOCK_DGRAM, sport);
    if (fd < 0 || to(fd, addr, port) != 0) {
        perror("udp-send");
        return 1;
    }
    static uint8_t buf[2048];
    if (payload > sizeof buf) {
        payload = sizeof buf;
    }
    struct mmsghdr msgs[BATCH];
    struct iovec iov = {.iov_base = buf, .iov_len = payload};
    for (int i = 0; i < BATCH; i++) {
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t sent = 0;
    double end = now_s() + secs;
    while (now_s() < end) {
        int n = sendmmsg(fd, msgs, BATCH, 0);
        if (n > 0) {
            sent += (uint64_t)n;
        } else if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
            perror("udp-send: sendmmsg");
            return 1;
        }
    }
    printf("udp_send packets=%llu seconds=%.3f\n", (unsigned long long)sent, secs);
    return 0;
}

static int tcp_recv(uint16_t port)
{
    int lfd = bound(SOCK_STREAM, port);
    if (lfd < 0 || listen(lfd, 1) != 0) {
        perror("tcp-recv");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
        perror("tcp-recv: accept");
        return 1;
    }
    double t0 = now_s();
    static uint8_t buf[1 << 16];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        total += (uint64_t)n;
    }
    double span = now_s() - t0;
    printf("tcp_recv bytes=%llu seconds=%.3f gbps=%.3f\n", (unsigned long long)total, span,
           span > 0 ? (double)total * 8 / span / 1e9 : 0.0);
    return 0;
}

static int tcp_send(const char *addr, uint16_t port, double secs, uint16_t sport)
{
    int fd = bound(SOCK_STREAM, sport);
    if (fd < 0 || to(fd, addr, port) != 0) {
        perror("tcp-send");
        return 1;
    }
    static uint8_t buf[1 << 16];
    memset(buf, 0x5a, sizeof buf);
    double end = now_s() + secs;
    uint64_t total = 0;
    while (now_s() < end) {
        ssize_t n = write(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            perror("tcp-send: write");
            return 1;
        }
        total += (uint64_t)n;
    }
    close(fd);
    printf("tcp_send bytes=%llu\n", (unsigned long long)total);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "udp-recv")) {
        return udp_recv((uint16_t)atoi(argv[2]), atof(argv[3]));
    }
    if (argc == 7 && !strcmp(argv[1], "udp-send")) {
        return udp_send(argv[2], (uint16_t)atoi(argv[3]), atof(argv[4]), (size_t)atoi(argv[5]),
                        (uint16_t)atoi(argv[6]));
    }
    if (argc == 3 && !strcmp(argv[1], "tcp-recv")) {
        return tcp_recv((uint16_t)atoi(argv[2]));
    }
    if (argc == 6 && !strcmp(argv[1], "tcp-send")) {
        return tcp_send(argv[2], (uint16_t)atoi(argv[3]), atof(argv[4]), (uint16_t)atoi(argv[5]));
    }
    fprintf(stderr, "usage: dp_netperf udp-recv PORT MAX_SECONDS | udp-send ADDR PORT SECONDS PAYLOAD SPORT |\n"
                    "       tcp-recv PORT | tcp-send ADDR PORT SECONDS SPORT\n");
    return 2;
}

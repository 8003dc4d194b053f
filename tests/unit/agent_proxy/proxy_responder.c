/* A stand-in for strata-agent's proxy path, for checking the proxies
 * against real clients (busybox udhcpc, nslookup, arping) in network
 * namespaces (realclient.sh): it reads every frame arriving on one
 * interface through an AF_PACKET socket, hands it to proxy_handle() as the
 * agent would a punted frame, and sends the answer back out. The port is
 * the unit tests' fixture (MAC 02:00:00:00:00:01, 10.1.1.5, gateway
 * 10.1.1.1, vm1/vm2 in tenant.example); the prefix length is an argument.
 * With DUMPDIR every request that got an answer is written there (the seed
 * corpus of fuzz_agent_proxy). Logs one line per frame; runs until killed.
 * Usage: agent_proxy_responder IFNAME PLEN [DUMPDIR] */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vrouter/agent/proxy/proxy.h"

static uint32_t addr(const char *s)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1) {
        abort();
    }
    return a.s_addr;
}

static int known(void *arg, uint32_t vrf, uint32_t ip4)
{
    return ip4 == addr("10.1.2.7") ? 0 : PROXY_ENOTFOUND;
}

static int name_to_ip4(void *arg, uint32_t vrf, const char *fqdn, uint32_t *ip4)
{
    if (strcmp(fqdn, "vm1.tenant.example") == 0) {
        *ip4 = addr("10.1.1.5");
        return 0;
    }
    if (strcmp(fqdn, "vm2.tenant.example") == 0) {
        *ip4 = addr("10.1.2.7");
        return 0;
    }
    return PROXY_ENOTFOUND;
}

static int ip4_to_name(void *arg, uint32_t vrf, uint32_t ip4, char *out, size_t out_size)
{
    const char *name = ip4 == addr("10.1.1.5") ? "vm1.tenant.example"
                       : ip4 == addr("10.1.2.7") ? "vm2.tenant.example"
                                                 : NULL;
    if (name == NULL) {
        return PROXY_ENOTFOUND;
    }
    snprintf(out, out_size, "%s", name);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s IFNAME PLEN [DUMPDIR]\n", argv[0]);
        return 2;
    }
    struct proxy_port port = {
        .mac = {0x02, 0, 0, 0, 0, 0x01},
        .ip4 = addr("10.1.1.5"),
        .plen4 = (uint8_t)atoi(argv[2]),
        .gw4 = addr("10.1.1.1"),
        .dns4 = addr("10.1.1.1"),
        .mtu = 1450,
        .lease_s = 86400,
        .hostname = "vm1",
        .domain = "tenant.example",
        .vrouter_mac = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x00},
    };
    struct proxy_lookup lk = {known, name_to_ip4, ip4_to_name, NULL};
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = (int)if_nametoindex(argv[1])};
    if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) {
        perror(argv[1]);
        return 1;
    }
    struct buf reply;
    buf_init(&reply, 65536);
    unsigned seq = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        uint8_t frame[9216];
        struct sockaddr_ll from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(fd, frame, sizeof frame, 0, (struct sockaddr *)&from, &fromlen);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("recvfrom");
            return 1;
        }
        if (from.sll_pkttype == PACKET_OUTGOING) {
            continue;
        }
        int rc = proxy_handle(&port, &lk, 1, frame, (size_t)n, &reply);
        printf("frame %zd bytes type %04x: %d %s\n", n, n >= 14 ? (frame[12] << 8) | frame[13] : 0, rc,
               rc == 0 ? "answered" : strata_strerror(rc));
        if (rc != 0) {
            continue;
        }
        if (argc > 3) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%02u", argv[3], seq++);
            FILE *f = fopen(path, "wb");
            if (f != NULL) {
                fwrite(frame, 1, (size_t)n, f);
                fclose(f);
            }
        }
        if (send(fd, reply.data, reply.size, 0) != (ssize_t)reply.size) {
            perror("send");
        }
    }
}

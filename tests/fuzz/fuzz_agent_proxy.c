/* Fuzzes the agent's ARP, DHCP and DNS proxies (vrouter/agent/proxy): the
 * input is one punted Ethernet frame, handed to proxy_handle() for two
 * ports (a /24 with every option set, a /32 without domain, DNS TTL or
 * MTU) with lookups that know a few names and addresses. Every answer must
 * be a whole frame: the 60-byte Ethernet minimum for ARP, and for IPv4 a
 * header and UDP datagram whose lengths match the frame and whose
 * checksums verify; fed back to the proxy, no answer gets an answer.
 * Every error must leave the reply empty and be one of the proxy's codes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vrouter/agent/proxy/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t a4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    uint8_t x[4] = {a, b, c, d};
    uint32_t v;
    memcpy(&v, x, 4);
    return v;
}

static int known(void *arg, uint32_t vrf, uint32_t ip4)
{
    return ip4 == a4(10, 1, 2, 7) ? 0 : PROXY_ENOTFOUND;
}

static int name_to_ip4(void *arg, uint32_t vrf, const char *fqdn, uint32_t *ip4)
{
    if (strcmp(fqdn, "vm2.tenant.example") == 0 || strcmp(fqdn, "vm2") == 0) {
        *ip4 = a4(10, 1, 2, 7);
        return 0;
    }
    return PROXY_ENOTFOUND;
}

static int ip4_to_name(void *arg, uint32_t vrf, uint32_t ip4, char *out, size_t out_size)
{
    if (ip4 == a4(10, 1, 1, 5)) {
        strncpy(out, "vm1.tenant.example", out_size - 1);
        out[out_size - 1] = '\0';
        return 0;
    }
    return PROXY_ENOTFOUND;
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s += (i % 2 == 0) ? (uint32_t)p[i] << 8 : p[i];
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return s;
}

static void check_reply(const uint8_t *f, size_t size)
{
    if (size < 14 + 20 + 8) {
        abort();
    }
    uint16_t type = (uint16_t)((f[12] << 8) | f[13]);
    if (type == 0x0806) {
        if (size != 60) {
            abort();
        }
        return;
    }
    if (type != 0x0800 || f[14] != 0x45 || sum16(0, f + 14, 20) != 0xffff) {
        abort();
    }
    size_t total = (size_t)((f[16] << 8) | f[17]);
    if (14 + total != size) {
        abort();
    }
    const uint8_t *udp = f + 34;
    size_t ulen = (size_t)((udp[4] << 8) | udp[5]);
    if (ulen + 20 != total) {
        abort();
    }
    uint8_t pseudo[12];
    memcpy(pseudo, f + 26, 8);
    pseudo[8] = 0;
    pseudo[9] = 17;
    pseudo[10] = (uint8_t)(ulen >> 8);
    pseudo[11] = (uint8_t)ulen;
    if (sum16(sum16(0, pseudo, 12), udp, ulen) != 0xffff) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_port ports[2] = {
        {
            .mac = {0x02, 0, 0, 0, 0, 0x01},
            .ip4 = a4(10, 1, 1, 5),
            .plen4 = 24,
            .gw4 = a4(10, 1, 1, 1),
            .dns4 = a4(10, 1, 1, 1),
            .mtu = 1450,
            .lease_s = 86400,
            .hostname = "vm1",
            .domain = "tenant.example",
            .vrouter_mac = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x00},
            .dns_ttl_s = 30,
        },
        {
            .mac = {0x02, 0, 0, 0, 0, 0x01},
            .ip4 = a4(10, 1, 1, 5),
            .plen4 = 32,
            .gw4 = a4(10, 1, 1, 1),
            .dns4 = a4(10, 1, 1, 53),
            .lease_s = 0xffffffffu,
            .hostname = "vm1",
            .vrouter_mac = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x00},
        },
    };
    struct proxy_lookup lk = {known, name_to_ip4, ip4_to_name, NULL};
    struct buf reply;
    buf_init(&reply, 0);
    for (size_t i = 0; i < 2; i++) {
        int rc = proxy_handle(&ports[i], &lk, 1, data, size, &reply);
        if (rc == 0) {
            check_reply(reply.data, reply.size);
            /* the proxy never answers its own answers (no ping-pong) */
            struct buf again;
            buf_init(&again, 0);
            if (proxy_handle(&ports[i], &lk, 1, reply.data, reply.size, &again) == 0) {
                abort();
            }
            buf_destroy(&again);
        } else if (reply.size != 0 || rc > PROXY_ENOREPLY || rc < PROXY_EINVAL) {
            abort();
        }
    }
    buf_destroy(&reply);
    return 0;
}

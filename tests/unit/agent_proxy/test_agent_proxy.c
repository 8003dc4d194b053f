/* Unit tests of the agent's ARP, DHCP and DNS proxies
 * (vrouter/agent/proxy): every answer is compared byte for byte with the
 * frame gen_frames.py built from the RFC layouts (frames.h), and its IPv4
 * and UDP checksums are recomputed here; frames that need no answer give
 * PROXY_ENOREPLY with an empty reply; every truncation, bad length, option
 * overflow, compression loop and bad name gives its typed error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/agent_proxy/frames.h"
#include "vrouter/agent/proxy/dns_remote.h"
#include "vrouter/agent/proxy/proxy.h"

#define VRF 7

static uint32_t a4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    uint8_t x[4] = {a, b, c, d};
    uint32_t v;
    memcpy(&v, x, 4);
    return v;
}

/* The agent's state the lookups answer from, and what they were asked. */
struct fake_agent {
    int known_calls;
    uint32_t last_vrf;
    char last_name[256];
    const char *ptr_name; /* what ip4_to_name gives for 10.1.1.5 */
};

static int fake_known(void *arg, uint32_t vrf, uint32_t ip4)
{
    struct fake_agent *f = arg;
    f->known_calls++;
    f->last_vrf = vrf;
    return vrf == VRF && ip4 == a4(10, 1, 2, 7) ? 0 : PROXY_ENOTFOUND;
}

static int fake_name(void *arg, uint32_t vrf, const char *fqdn, uint32_t *ip4)
{
    struct fake_agent *f = arg;
    f->last_vrf = vrf;
    snprintf(f->last_name, sizeof f->last_name, "%s", fqdn);
    if (strcmp(fqdn, "vm1.tenant.example") == 0) {
        *ip4 = a4(10, 1, 1, 5);
        return 0;
    }
    if (strcmp(fqdn, "vm2.tenant.example") == 0) {
        *ip4 = a4(10, 1, 2, 7);
        return 0;
    }
    return PROXY_ENOTFOUND;
}

static int fake_ptr(void *arg, uint32_t vrf, uint32_t ip4, char *out, size_t out_size)
{
    struct fake_agent *f = arg;
    f->last_vrf = vrf;
    if (ip4 == a4(10, 1, 1, 5)) {
        snprintf(out, out_size, "%s", f->ptr_name);
        return 0;
    }
    return PROXY_ENOTFOUND;
}

struct fixture {
    struct proxy_port port;
    struct fake_agent agent;
    struct proxy_lookup lk;
    struct buf reply;
    uint8_t frame[2048];
    size_t size;
};

static int setup(void **state)
{
    static struct fixture fx;
    memset(&fx, 0, sizeof fx);
    static const uint8_t vm_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
    static const uint8_t vr_mac[6] = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x00};
    memcpy(fx.port.mac, vm_mac, 6);
    memcpy(fx.port.vrouter_mac, vr_mac, 6);
    fx.port.ip4 = a4(10, 1, 1, 5);
    fx.port.plen4 = 24;
    fx.port.gw4 = a4(10, 1, 1, 1);
    fx.port.dns4 = a4(10, 1, 1, 1);
    fx.port.mtu = 1450;
    fx.port.lease_s = 86400;
    snprintf(fx.port.hostname, sizeof fx.port.hostname, "vm1");
    snprintf(fx.port.domain, sizeof fx.port.domain, "tenant.example");
    fx.agent.ptr_name = "vm1.tenant.example";
    fx.lk = (struct proxy_lookup){fake_known, fake_name, fake_ptr, &fx.agent};
    buf_init(&fx.reply, 4096);
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    buf_destroy(&fx->reply);
    return 0;
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s += (i % 2 == 0) ? (uint32_t)p[i] << 8 : p[i];
    }
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return (uint16_t)s;
}

/* Asserts that the IPv4 frame 'f' has valid IP and UDP checksums. */
static void assert_checksums(const uint8_t *f, size_t size)
{
    assert_true(size >= 42);
    assert_int_equal(be16_load(f + 12), 0x0800);
    const uint8_t *ip = f + 14;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4;
    assert_int_equal(fold(sum16(0, ip, ihl)), 0xffff);
    size_t total = be16_load(ip + 2);
    assert_true(14 + total <= size);
    const uint8_t *udp = ip + ihl;
    size_t ulen = be16_load(udp + 4);
    assert_int_equal(ulen, total - ihl);
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 17;
    be16_store(pseudo + 10, (uint16_t)ulen);
    assert_int_not_equal(be16_load(udp + 6), 0);
    assert_int_equal(fold(sum16(sum16(0, pseudo, 12), udp, ulen)), 0xffff);
}

static int run(struct fixture *fx, const uint8_t *frame, size_t size)
{
    return proxy_handle(&fx->port, &fx->lk, VRF, frame, size, &fx->reply);
}

static void expect_reply(struct fixture *fx, const uint8_t *req, size_t req_size, const uint8_t *want,
                         size_t want_size)
{
    assert_int_equal(run(fx, req, req_size), 0);
    assert_int_equal(fx->reply.size, want_size);
    assert_memory_equal(fx->reply.data, want, want_size);
    if (be16_load(want + 12) == 0x0800) {
        assert_checksums(fx->reply.data, fx->reply.size);
    }
}

static void expect_error(struct fixture *fx, const uint8_t *req, size_t req_size, int err)
{
    fx->reply.size = 0;
    int rc = run(fx, req, req_size);
    if (rc != err) {
        print_error("got %d (%s), want %d (%s)\n", rc, proxy_strerror(rc) ? proxy_strerror(rc) : "?", err,
                    proxy_strerror(err));
    }
    assert_int_equal(rc, err);
    assert_int_equal(fx->reply.size, 0);
}

/* Copies 'src' into the fixture's frame buffer for patching. */
static uint8_t *load(struct fixture *fx, const uint8_t *src, size_t size)
{
    assert_true(size <= sizeof fx->frame);
    memcpy(fx->frame, src, size);
    fx->size = size;
    return fx->frame;
}

/* Recomputes the IPv4 header checksum of the frame buffer after a patch. */
static void fix_ip_csum(struct fixture *fx)
{
    uint8_t *ip = fx->frame + 14;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4;
    be16_store(ip + 10, 0);
    be16_store(ip + 10, (uint16_t)~fold(sum16(0, ip, ihl)));
}

/* ---- general ---- */

static void test_arguments(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(proxy_handle(NULL, &fx->lk, VRF, arp_req_gw, sizeof arp_req_gw, &fx->reply), PROXY_EINVAL);
    assert_int_equal(proxy_handle(&fx->port, &fx->lk, VRF, arp_req_gw, sizeof arp_req_gw, NULL), PROXY_EINVAL);
    assert_int_equal(proxy_handle(&fx->port, &fx->lk, VRF, NULL, 5, &fx->reply), PROXY_EINVAL);
    expect_error(fx, NULL, 0, PROXY_ETRUNCATED);
    assert_string_equal(strata_strerror(PROXY_ELOOP), "DNS name compression pointer loop");
    /* a NULL lookup table knows nothing but still answers for the gateway */
    assert_int_equal(proxy_handle(&fx->port, NULL, VRF, arp_req_gw, sizeof arp_req_gw, &fx->reply), 0);
    assert_int_equal(proxy_handle(&fx->port, NULL, VRF, arp_req_other, sizeof arp_req_other, &fx->reply),
                     PROXY_ENOREPLY);
    /* an IPv6 frame, a VLAN-tagged frame */
    uint8_t *f = load(fx, arp_req_gw, sizeof arp_req_gw);
    be16_store(f + 12, 0x86dd);
    expect_error(fx, f, fx->size, PROXY_EUNSUPPORTED);
    be16_store(f + 12, 0x8100);
    expect_error(fx, f, fx->size, PROXY_EUNSUPPORTED);
}

/* ---- ARP ---- */

static void test_arp_gateway(void **state)
{
    struct fixture *fx = *state;
    expect_reply(fx, arp_req_gw, sizeof arp_req_gw, arp_rep_gw, sizeof arp_rep_gw);
    assert_int_equal(fx->agent.known_calls, 0); /* the gateway needs no lookup */
}

static void test_arp_known_address(void **state)
{
    struct fixture *fx = *state;
    expect_reply(fx, arp_req_other, sizeof arp_req_other, arp_rep_other, sizeof arp_rep_other);
    assert_int_equal(fx->agent.known_calls, 1);
    assert_int_equal(fx->agent.last_vrf, VRF);
    /* the same address in another VRF is unknown */
    assert_int_equal(proxy_handle(&fx->port, &fx->lk, VRF + 1, arp_req_other, sizeof arp_req_other, &fx->reply),
                     PROXY_ENOREPLY);
    assert_int_equal(fx->reply.size, 0);
}

static void test_arp_no_answer(void **state)
{
    struct fixture *fx = *state;
    uint8_t *f = load(fx, arp_req_gw, sizeof arp_req_gw);
    uint8_t *a = f + 14;
    /* unknown address: not flooded, not answered */
    memcpy(a + 24, (uint8_t[]){10, 1, 2, 99}, 4);
    expect_error(fx, f, fx->size, PROXY_ENOREPLY);
    /* gratuitous ARP request: sender == target */
    memcpy(a + 24, a + 14, 4);
    expect_error(fx, f, fx->size, PROXY_ENOREPLY);
    /* duplicate address detection probe for the VM's own address */
    memset(a + 14, 0, 4);
    memcpy(a + 24, (uint8_t[]){10, 1, 1, 5}, 4);
    expect_error(fx, f, fx->size, PROXY_ENOREPLY);
    /* an ARP reply, even one about the gateway */
    load(fx, arp_req_gw, sizeof arp_req_gw);
    be16_store(a + 6, 2);
    expect_error(fx, f, fx->size, PROXY_ENOREPLY);
    /* an unknown opcode (RARP) */
    be16_store(a + 6, 3);
    expect_error(fx, f, fx->size, PROXY_EUNSUPPORTED);
    /* wrong hardware or protocol sizes */
    load(fx, arp_req_gw, sizeof arp_req_gw);
    a[4] = 8;
    expect_error(fx, f, fx->size, PROXY_EUNSUPPORTED);
    load(fx, arp_req_gw, sizeof arp_req_gw);
    be16_store(a + 2, 0x86dd);
    expect_error(fx, f, fx->size, PROXY_EUNSUPPORTED);
}

static void test_arp_probe_for_gateway(void **state)
{
    struct fixture *fx = *state;
    uint8_t *f = load(fx, arp_req_gw, sizeof arp_req_gw);
    memset(f + 14 + 14, 0, 4); /* RFC 5227 probe: sender address 0 */
    assert_int_equal(run(fx, f, fx->size), 0);
    static const uint8_t zero[4] = {0, 0, 0, 0}, gw[4] = {10, 1, 1, 1};
    assert_memory_equal(fx->reply.data + 14 + 24, zero, 4);
    assert_memory_equal(fx->reply.data + 14 + 14, gw, 4);
}

static void test_arp_truncated(void **state)
{
    struct fixture *fx = *state;
    for (size_t n = 0; n < 42; n++) {
        int rc = run(fx, arp_req_gw, n);
        assert_int_equal(rc, PROXY_ETRUNCATED);
        assert_int_equal(fx->reply.size, 0);
    }
}

/* ---- DHCP ---- */

static void test_dhcp_discover_offer(void **state)
{
    struct fixture *fx = *state;
    expect_reply(fx, dhcp_discover, sizeof dhcp_discover, dhcp_offer, sizeof dhcp_offer);
}

static void test_dhcp_request_ack(void **state)
{
    struct fixture *fx = *state;
    expect_reply(fx, dhcp_request, sizeof dhcp_request, dhcp_ack, sizeof dhcp_ack);
}

static void test_dhcp_request_nak(void **state)
{
    struct fixture *fx = *state;
    expect_reply(fx, dhcp_request_bad_ip, sizeof dhcp_request_bad_ip, dhcp_nak, sizeof dhcp_nak);
    /* the right address but another server id: NAK as well */
    uint8_t *f = load(fx, dhcp_request, sizeof dhcp_request);
    size_t opts = 14 + 20 + 8 + 240;
    assert_int_equal(f[opts + 3], 50);
    assert_int_equal(f[opts + 9], 54);
    f[opts + 14] = 2; /* server id 10.1.1.2; the UDP checksum is not checked */
    expect_reply(fx, f, fx->size, dhcp_nak, sizeof dhcp_nak);
}

static void test_dhcp_renew_and_inform(void **state)
{
    struct fixture *fx = *state;
    expect_reply(fx, dhcp_renew, sizeof dhcp_renew, dhcp_renew_ack, sizeof dhcp_renew_ack);
    expect_reply(fx, dhcp_inform, sizeof dhcp_inform, dhcp_inform_ack, sizeof dhcp_inform_ack);
    /* a renewal for an address that is not the port's */
    uint8_t *f = load(fx, dhcp_renew, sizeof dhcp_renew);
    f[14 + 20 + 8 + 15] = 9; /* ciaddr 10.1.1.9 */
    assert_int_equal(run(fx, f, fx->size), 0);
    assert_int_equal(fx->reply.data[14 + 20 + 8 + 240 + 2], 6); /* DHCPNAK */
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_memory_equal(fx->reply.data, bcast, 6);
}

static void test_dhcp_broadcast_flag_and_client_id(void **state)
{
    struct fixture *fx = *state;
    expect_reply(fx, dhcp_discover_bcast, sizeof dhcp_discover_bcast, dhcp_offer_bcast, sizeof dhcp_offer_bcast);
}

static void test_dhcp_no_reply(void **state)
{
    struct fixture *fx = *state;
    size_t bootp = 14 + 20 + 8, opts = bootp + 240;
    uint8_t *f = load(fx, dhcp_discover, sizeof dhcp_discover);
    /* RELEASE, DECLINE and server-side types are not answered */
    static const uint8_t silent[] = {2, 4, 5, 6, 7, 9, 200};
    for (size_t i = 0; i < sizeof silent; i++) {
        f[opts + 2] = silent[i];
        expect_error(fx, f, fx->size, PROXY_ENOREPLY);
    }
    /* another client's hardware address */
    load(fx, dhcp_discover, sizeof dhcp_discover);
    f[bootp + 28 + 5] = 0x02;
    expect_error(fx, f, fx->size, PROXY_ENOREPLY);
    /* a BOOTREPLY */
    load(fx, dhcp_discover, sizeof dhcp_discover);
    f[bootp] = 2;
    expect_error(fx, f, fx->size, PROXY_ENOREPLY);
    /* relayed */
    load(fx, dhcp_discover, sizeof dhcp_discover);
    f[bootp + 24] = 10;
    expect_error(fx, f, fx->size, PROXY_ENOREPLY);
    /* unicast to another server */
    load(fx, dhcp_discover, sizeof dhcp_discover);
    memcpy(f + 14 + 16, (uint8_t[]){10, 1, 1, 2}, 4);
    fix_ip_csum(fx);
    expect_error(fx, f, fx->size, PROXY_ENOREPLY);
    /* a port without an address */
    fx->port.ip4 = 0;
    expect_error(fx, dhcp_discover, sizeof dhcp_discover, PROXY_ENOREPLY);
}

static void test_dhcp_not_dhcp(void **state)
{
    struct fixture *fx = *state;
    size_t bootp = 14 + 20 + 8, opts = bootp + 240;
    uint8_t *f = load(fx, dhcp_discover, sizeof dhcp_discover);
    f[opts - 1] = 0x64; /* no magic cookie: plain BOOTP */
    expect_error(fx, f, fx->size, PROXY_EUNSUPPORTED);
    load(fx, dhcp_discover, sizeof dhcp_discover);
    f[opts] = 0; /* option 53 padded away */
    f[opts + 1] = 0;
    f[opts + 2] = 0;
    expect_error(fx, f, fx->size, PROXY_EUNSUPPORTED);
    load(fx, dhcp_discover, sizeof dhcp_discover);
    f[bootp + 2] = 8; /* hlen */
    expect_error(fx, f, fx->size, PROXY_EUNSUPPORTED);
}

static void test_dhcp_malformed(void **state)
{
    struct fixture *fx = *state;
    size_t ip = 14, udp = 34, bootp = 42, opts = bootp + 240;
    /* every truncation inside the fixed part, with IP and UDP lengths
     * patched to match so the BOOTP parser itself must refuse */
    for (size_t n = bootp; n < opts; n++) {
        uint8_t *f = load(fx, dhcp_discover, n);
        be16_store(f + ip + 2, (uint16_t)(n - ip));
        be16_store(f + udp + 4, (uint16_t)(n - udp));
        fix_ip_csum(fx);
        int rc = run(fx, f, n);
        assert_true(rc == PROXY_ETRUNCATED || (n >= opts - 4 && rc == PROXY_EUNSUPPORTED));
    }
    /* an option whose length runs past the end of the message */
    uint8_t *f = load(fx, dhcp_discover, sizeof dhcp_discover);
    assert_int_equal(f[opts + 3], 55);
    f[opts + 4] = 200;
    expect_error(fx, f, fx->size, PROXY_EOPTION);
    /* an option code as the last byte, without its length */
    size_t end = sizeof dhcp_discover - 1;
    load(fx, dhcp_discover, sizeof dhcp_discover);
    f[end] = 12;
    expect_error(fx, f, fx->size, PROXY_EOPTION);
    /* a message type option of the wrong size */
    load(fx, dhcp_discover, sizeof dhcp_discover);
    f[opts + 1] = 2;
    expect_error(fx, f, fx->size, PROXY_EMALFORMED);
    /* a bad requested-address length */
    load(fx, dhcp_request, sizeof dhcp_request);
    f[opts + 4] = 3;
    expect_error(fx, f, fx->size, PROXY_EMALFORMED);
    /* IP total length beyond the frame; UDP length beyond the IP payload */
    load(fx, dhcp_discover, sizeof dhcp_discover);
    be16_store(f + ip + 2, (uint16_t)(sizeof dhcp_discover - ip + 1));
    fix_ip_csum(fx);
    expect_error(fx, f, fx->size, PROXY_EBADLEN);
    load(fx, dhcp_discover, sizeof dhcp_discover);
    be16_store(f + udp + 4, (uint16_t)(sizeof dhcp_discover - udp + 1));
    expect_error(fx, f, fx->size, PROXY_EBADLEN);
    be16_store(f + udp + 4, 7);
    expect_error(fx, f, fx->size, PROXY_EBADLEN);
    /* IHL below 5, IP version 6 in an IPv4 frame, a bad header checksum */
    load(fx, dhcp_discover, sizeof dhcp_discover);
    f[ip] = 0x44;
    expect_error(fx, f, fx->size, PROXY_EBADLEN);
    f[ip] = 0x65;
    expect_error(fx, f, fx->size, PROXY_EMALFORMED);
    load(fx, dhcp_discover, sizeof dhcp_discover);
    f[ip + 8] = 1; /* TTL changed, checksum not */
    expect_error(fx, f, fx->size, PROXY_ECHECKSUM);
    /* a fragment, TCP */
    load(fx, dhcp_discover, sizeof dhcp_discover);
    be16_store(f + ip + 6, 0x2000);
    fix_ip_csum(fx);
    expect_error(fx, f, fx->size, PROXY_EUNSUPPORTED);
    load(fx, dhcp_discover, sizeof dhcp_discover);
    f[ip + 9] = 6;
    fix_ip_csum(fx);
    expect_error(fx, f, fx->size, PROXY_EUNSUPPORTED);
}

static void test_dhcp_ip_options_and_padding(void **state)
{
    struct fixture *fx = *state;
    /* the DISCOVER with a 4-byte IP option (IHL 6) and Ethernet padding */
    uint8_t *f = fx->frame;
    memcpy(f, dhcp_discover, 34);
    memcpy(f + 34, (uint8_t[]){0x94, 0x04, 0x00, 0x00}, 4); /* router alert */
    memcpy(f + 38, dhcp_discover + 34, sizeof dhcp_discover - 34);
    f[14] = 0x46;
    be16_store(f + 16, (uint16_t)(be16_load(f + 16) + 4));
    fx->size = sizeof dhcp_discover + 4;
    fix_ip_csum(fx);
    memset(f + fx->size, 0xee, 10);
    expect_reply(fx, f, fx->size + 10, dhcp_offer, sizeof dhcp_offer);
}

static void test_dhcp_overload_and_split_prl(void **state)
{
    struct fixture *fx = *state;
    /* a DISCOVER whose options field holds only option 52 (file holds
     * options) and two instances of option 55 (RFC 3396) */
    uint8_t *f = load(fx, dhcp_discover, 14 + 20 + 8 + 240);
    size_t bootp = 42, file = bootp + 108, opts = bootp + 240;
    static const uint8_t o[] = {52, 1, 1, 255};
    memcpy(f + opts, o, sizeof o);
    static const uint8_t in_file[] = {53, 1, 1, 55, 3, 1, 3, 6, 55, 5, 12, 15, 26, 28, 121, 55, 1, 1, 255};
    memcpy(f + file, in_file, sizeof in_file);
    fx->size = opts + sizeof o;
    be16_store(f + 16, (uint16_t)(fx->size - 14));
    be16_store(f + 38, (uint16_t)(fx->size - 34));
    fix_ip_csum(fx);
    expect_reply(fx, f, fx->size, dhcp_offer, sizeof dhcp_offer);
    /* an option in 'file' that runs past the field */
    f[file + 4] = 124; /* 5 + 124 > 128 */
    expect_error(fx, f, fx->size, PROXY_EOPTION);
}

static void test_dhcp_classless_route(void **state)
{
    struct fixture *fx = *state;
    /* a /32 address: the gateway is off link, option 121 carries a host
     * route to it and the default route through it */
    fx->port.plen4 = 32;
    assert_int_equal(run(fx, dhcp_discover, sizeof dhcp_discover), 0);
    assert_checksums(fx->reply.data, fx->reply.size);
    const uint8_t *o = fx->reply.data + 42 + 240;
    size_t n = fx->reply.size - 42 - 240;
    static const uint8_t want121[] = {121, 14, 32, 10, 1, 1, 1, 0, 0, 0, 0, 0, 10, 1, 1, 1};
    static const uint8_t want1[] = {1, 4, 255, 255, 255, 255};
    int found121 = 0, found1 = 0;
    for (size_t i = 0; i + 1 < n && o[i] != 255; i += 2u + o[i + 1]) {
        if (o[i] == 121) {
            assert_memory_equal(o + i, want121, sizeof want121);
            found121 = 1;
        }
        if (o[i] == 1) {
            assert_memory_equal(o + i, want1, sizeof want1);
            found1 = 1;
        }
    }
    assert_true(found121 && found1);
    /* not requested: not sent (RFC 3442) */
    assert_int_equal(run(fx, dhcp_discover_bcast, sizeof dhcp_discover_bcast), 0);
    assert_null(memmem(fx->reply.data + 42 + 240, fx->reply.size - 42 - 240, want121, 2));
}

static void test_dhcp_small_max_size(void **state)
{
    struct fixture *fx = *state;
    /* a long client id that does not fit in a 576-byte answer is not echoed,
     * everything else still is */
    uint8_t *f = load(fx, dhcp_discover, sizeof dhcp_discover - 1);
    size_t at = fx->size;
    f[at++] = 61;
    f[at++] = 255;
    memset(f + at, 0x61, 255);
    at += 255;
    f[at++] = 255;
    fx->size = at;
    be16_store(f + 16, (uint16_t)(at - 14));
    be16_store(f + 38, (uint16_t)(at - 34));
    fix_ip_csum(fx);
    /* the client's max size (1500) allows the echo */
    assert_int_equal(run(fx, f, fx->size), 0);
    assert_true(fx->reply.size > 14 + 20 + 8 + 240 + 255);
    assert_checksums(fx->reply.data, fx->reply.size);
    /* 576 does not */
    size_t opts = 42 + 240;
    assert_int_equal(f[opts + 3 + 2 + 8], 57);
    be16_store(f + opts + 3 + 2 + 8 + 2, 576);
    assert_int_equal(run(fx, f, fx->size), 0);
    assert_true(fx->reply.size - 14 <= 576);
    assert_int_equal(fx->reply.size, sizeof dhcp_offer);
    assert_memory_equal(fx->reply.data, dhcp_offer, 14 + 20 + 2); /* headers up to UDP length */
    assert_memory_equal(fx->reply.data + 42, dhcp_offer + 42, sizeof dhcp_offer - 42);
}

/* ---- DNS ---- */

static void test_dns_a(void **state)
{
    struct fixture *fx = *state;
    expect_reply(fx, dns_q_bare, sizeof dns_q_bare, dns_a_bare, sizeof dns_a_bare);
    assert_string_equal(fx->agent.last_name, "vm2.tenant.example");
    assert_int_equal(fx->agent.last_vrf, VRF);
    expect_reply(fx, dns_q_fqdn, sizeof dns_q_fqdn, dns_a_fqdn, sizeof dns_a_fqdn);
    assert_string_equal(fx->agent.last_name, "vm2.tenant.example");
}

static void test_dns_ptr(void **state)
{
    struct fixture *fx = *state;
    expect_reply(fx, dns_q_ptr, sizeof dns_q_ptr, dns_a_ptr, sizeof dns_a_ptr);
    /* an address in the port's subnet without a name: NXDOMAIN, outside: REFUSED */
    uint8_t *f = load(fx, dns_q_ptr, sizeof dns_q_ptr);
    size_t q = 42 + 12;
    f[q + 1] = '6';
    assert_int_equal(run(fx, f, fx->size), 0);
    assert_int_equal(be16_load(fx->reply.data + 42 + 2), 0x8503);
    f[q + 5] = '2';
    assert_int_equal(run(fx, f, fx->size), 0);
    assert_int_equal(be16_load(fx->reply.data + 42 + 2), 0x8105);
    /* a name the agent gives that cannot be sent: SERVFAIL */
    fx->agent.ptr_name = "bad..name";
    assert_int_equal(run(fx, dns_q_ptr, sizeof dns_q_ptr), 0);
    assert_int_equal(be16_load(fx->reply.data + 42 + 2), 0x8502);
    assert_int_equal(be16_load(fx->reply.data + 42 + 6), 0);
}

static void test_dns_nxdomain_refused(void **state)
{
    struct fixture *fx = *state;
    expect_reply(fx, dns_q_nx, sizeof dns_q_nx, dns_a_nx, sizeof dns_a_nx);
    expect_reply(fx, dns_q_ext, sizeof dns_q_ext, dns_a_ext, sizeof dns_a_ext);
    /* an AAAA query for a known instance: NOERROR, no records */
    uint8_t *f = load(fx, dns_q_bare, sizeof dns_q_bare);
    be16_store(f + fx->size - 4, 28);
    assert_int_equal(run(fx, f, fx->size), 0);
    assert_checksums(fx->reply.data, fx->reply.size);
    assert_int_equal(be16_load(fx->reply.data + 42 + 2), 0x8500);
    assert_int_equal(be16_load(fx->reply.data + 42 + 6), 0);
    /* class CHAOS: REFUSED */
    be16_store(f + fx->size - 4, 1);
    be16_store(f + fx->size - 2, 3);
    assert_int_equal(run(fx, f, fx->size), 0);
    assert_int_equal(be16_load(fx->reply.data + 42 + 2), 0x8105);
}


/* Names from a control node (dns_remote.h behind the lookup, as the agent
 * wires it): the first query is held (PROXY_EPENDING, no reply), the same
 * frame run again after the answer gets exactly the locally answered bytes;
 * a question that timed out gets SERVFAIL (not authoritative, no record). */
struct remote_agent {
    struct dnsr *r;
    uint64_t now;
    int replaying;
};

static int remote_name(void *arg, uint32_t vrf, const char *fqdn, uint32_t *ip4)
{
    struct remote_agent *a = arg;
    int rc = dnsr_name_to_ip4(a->r, vrf, fqdn, a->now, ip4);
    return rc == PROXY_EPENDING && a->replaying ? PROXY_EFAIL : rc;
}

static void test_dns_remote(void **state)
{
    struct fixture *fx = *state;
    struct remote_agent ra = {0};
    assert_int_equal(dnsr_create(NULL, &ra.r), 0);
    fx->lk = (struct proxy_lookup){NULL, remote_name, NULL, &ra};
    expect_error(fx, dns_q_bare, sizeof dns_q_bare, PROXY_EPENDING);
    const struct dnsr_question *q;
    assert_int_equal(dnsr_hold(ra.r, 7, "port", dns_q_bare, sizeof dns_q_bare, 0, &q), 0);
    assert_non_null(q);
    assert_string_equal(q->name, "vm2.tenant.example");
    assert_int_equal(q->vrf, VRF);
    assert_int_equal(dnsr_answer(ra.r, q->id, true, "vm2.tenant.example", a4(10, 1, 2, 7), 60, 10), 0);
    struct dnsr_frame f;
    assert_int_equal(dnsr_next(ra.r, &f), 0);
    assert_false(f.failed);
    ra.now = 10;
    expect_reply(fx, f.data, f.size, dns_a_bare, sizeof dns_a_bare);
    free(f.data);
    /* the cache answers the next query at once */
    expect_reply(fx, dns_q_fqdn, sizeof dns_q_fqdn, dns_a_fqdn, sizeof dns_a_fqdn);
    /* timeout: SERVFAIL */
    expect_error(fx, dns_q_nx, sizeof dns_q_nx, PROXY_EPENDING);
    assert_int_equal(dnsr_hold(ra.r, 7, "port", dns_q_nx, sizeof dns_q_nx, 10, &q), 0);
    assert_non_null(q);
    assert_int_equal(dnsr_expire(ra.r, 10 + DNSR_DEFAULT_TIMEOUT_MS), 1);
    assert_int_equal(dnsr_next(ra.r, &f), 0);
    assert_true(f.failed);
    ra.replaying = 1;
    assert_int_equal(run(fx, f.data, f.size), 0);
    assert_checksums(fx->reply.data, fx->reply.size);
    uint16_t flags = be16_load(fx->reply.data + 42 + 2);
    assert_int_equal(flags & 0x000f, 2);  /* SERVFAIL */
    assert_int_equal(flags & 0x0400, 0);  /* not authoritative */
    assert_int_equal(be16_load(fx->reply.data + 42 + 6), 0);
    free(f.data);
    dnsr_free(ra.r);
}

static void test_dns_header_cases(void **state)
{
    struct fixture *fx = *state;
    size_t dns = 42;
    uint8_t *f = load(fx, dns_q_bare, sizeof dns_q_bare);
    /* a response is never answered */
    f[dns + 2] |= 0x80;
    expect_error(fx, f, fx->size, PROXY_ENOREPLY);
    /* opcode STATUS: NOTIMP, no question echoed */
    load(fx, dns_q_bare, sizeof dns_q_bare);
    f[dns + 2] = 0x10;
    assert_int_equal(run(fx, f, fx->size), 0);
    assert_int_equal(fx->reply.size, 42 + 12);
    assert_int_equal(be16_load(fx->reply.data + dns + 2), 0x9004);
    assert_int_equal(be16_load(fx->reply.data + dns + 4), 0);
    /* two questions: FORMERR */
    load(fx, dns_q_bare, sizeof dns_q_bare);
    f[dns + 5] = 2;
    assert_int_equal(run(fx, f, fx->size), 0);
    assert_int_equal(be16_load(fx->reply.data + dns + 2), 0x8101);
    /* a query to another server */
    load(fx, dns_q_bare, sizeof dns_q_bare);
    f[14 + 19] = 53;
    fix_ip_csum(fx);
    expect_error(fx, f, fx->size, PROXY_ENOREPLY);
    /* truncated header and question */
    for (size_t n = dns; n < sizeof dns_q_bare; n++) {
        load(fx, dns_q_bare, n);
        be16_store(f + 16, (uint16_t)(n - 14));
        be16_store(f + 38, (uint16_t)(n - 34));
        fix_ip_csum(fx);
        expect_error(fx, f, n, PROXY_ETRUNCATED);
    }
}

/* Builds a query whose question name is 'name' (wire bytes) after a header
 * whose last six bytes are 'tail' (ANCOUNT, NSCOUNT, ARCOUNT). */
static size_t dns_raw(struct fixture *fx, const uint8_t *tail, const uint8_t *name, size_t name_size)
{
    uint8_t *f = fx->frame;
    memcpy(f, dns_q_bare, 42 + 6);
    memcpy(f + 42 + 6, tail, 6);
    memcpy(f + 54, name, name_size);
    size_t n = 54 + name_size;
    be16_store(f + n, 1);
    be16_store(f + n + 2, 1);
    n += 4;
    be16_store(f + 16, (uint16_t)(n - 14));
    be16_store(f + 38, (uint16_t)(n - 34));
    fx->size = n;
    fix_ip_csum(fx);
    return n;
}

static void test_dns_compression(void **state)
{
    struct fixture *fx = *state;
    static const uint8_t zero[6] = {0};
    /* "vm2" then a pointer to offset 10, a zero byte of the header: the
     * name decompresses to "vm2" and is echoed uncompressed */
    static const uint8_t ptr_ok[] = {3, 'v', 'm', '2', 0xc0, 10};
    size_t n = dns_raw(fx, zero, ptr_ok, sizeof ptr_ok);
    assert_int_equal(run(fx, fx->frame, n), 0);
    assert_memory_equal(fx->reply.data + 42 + 12, dns_a_bare + 42 + 12, sizeof dns_a_bare - 42 - 12);
    assert_string_equal(fx->agent.last_name, "vm2.tenant.example");
    /* a pointer to itself, a forward pointer, a pointer past the end */
    static const uint8_t self[] = {0xc0, 12};
    dns_raw(fx, zero, self, sizeof self);
    expect_error(fx, fx->frame, fx->size, PROXY_ELOOP);
    static const uint8_t fwd[] = {0xc0, 14, 0, 0};
    dns_raw(fx, zero, fwd, sizeof fwd);
    expect_error(fx, fx->frame, fx->size, PROXY_ELOOP);
    static const uint8_t far[] = {0xff, 0xff};
    dns_raw(fx, zero, far, sizeof far);
    expect_error(fx, fx->frame, fx->size, PROXY_ELOOP);
    /* a loop through the header: ARCOUNT reads as label "a", which runs on
     * into the question, whose pointer goes back to the header: each pointer
     * must go below everything read so far, the second does not */
    static const uint8_t tail[6] = {0, 0, 0, 0, 1, 'a'};
    static const uint8_t loop[] = {3, 'v', 'm', '2', 0xc0, 10};
    dns_raw(fx, tail, loop, sizeof loop);
    expect_error(fx, fx->frame, fx->size, PROXY_ELOOP);
    /* a truncated pointer */
    static const uint8_t half[] = {3, 'v', 'm', '2', 0xc0};
    n = dns_raw(fx, zero, half, sizeof half);
    expect_error(fx, fx->frame, n - 4, PROXY_EBADLEN);
}

static void test_dns_bad_names(void **state)
{
    struct fixture *fx = *state;
    static const uint8_t zero[6] = {0};
    /* extended label type 0x40 */
    static const uint8_t ext[] = {0x41, 'x', 0};
    dns_raw(fx, zero, ext, sizeof ext);
    expect_error(fx, fx->frame, fx->size, PROXY_ENAME);
    /* a label holding a dot */
    static const uint8_t dot[] = {3, 'a', '.', 'b', 0};
    dns_raw(fx, zero, dot, sizeof dot);
    expect_error(fx, fx->frame, fx->size, PROXY_ENAME);
    /* 255 bytes of name (four labels of 50, one of 49, the root) is the
     * limit; one more byte is refused */
    uint8_t long_name[300];
    for (uint8_t last = 49; last <= 50; last++) {
        size_t n = 0;
        for (int i = 0; i < 5; i++) {
            uint8_t len = i < 4 ? 50 : last;
            long_name[n++] = len;
            memset(long_name + n, 'x', len);
            n += len;
        }
        long_name[n++] = 0;
        assert_int_equal(n, 206u + last);
        dns_raw(fx, zero, long_name, n);
        if (last == 49) {
            assert_int_equal(run(fx, fx->frame, fx->size), 0);
            assert_int_equal(be16_load(fx->reply.data + 42 + 2), 0x8105); /* not ours: REFUSED */
            assert_checksums(fx->reply.data, fx->reply.size);
        } else {
            expect_error(fx, fx->frame, fx->size, PROXY_ENAME);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arp_gateway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arp_known_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arp_no_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arp_probe_for_gateway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arp_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_discover_offer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_request_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_request_nak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_renew_and_inform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_broadcast_flag_and_client_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_no_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_not_dhcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_ip_options_and_padding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_overload_and_split_prl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_classless_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dhcp_small_max_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_a, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_ptr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_nxdomain_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_header_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_remote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_compression, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_bad_names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

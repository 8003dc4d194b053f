/* routing/control/speaker.c: speaker_sync() changes only the sessions whose
 * configuration changed; the Adj-RIB-Out and UPDATE packing. Real sessions: two speakers in this process on
 * 127.0.0.1 and 127.0.0.2 (a port picked from the pid), a libuv loop run
 * until each expected state is reached or a deadline passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include "routing/control/speaker.h"

static uv_loop_t loop;
static uint16_t port;

/* Field 'key' of peer 'address' in sp's neighbors view ("" if absent). */
static const char *peer_field(struct speaker *sp, const char *address, const char *key, char *out, size_t size)
{
    json_t *arr = speaker_neighbors_json(sp);
    size_t i;
    json_t *n;
    out[0] = '\0';
    json_array_foreach(arr, i, n) {
        if (strcmp(json_string_value(json_object_get(n, "address")), address) == 0) {
            json_t *v = json_object_get(n, key);
            if (json_is_string(v)) {
                snprintf(out, size, "%s", json_string_value(v));
            } else if (json_is_integer(v)) {
                snprintf(out, size, "%lld", (long long)json_integer_value(v));
            }
        }
    }
    json_decref(arr);
    return out;
}

static bool state_is(struct speaker *sp, const char *address, const char *state)
{
    char buf[64];
    return strcmp(peer_field(sp, address, "state", buf, sizeof buf), state) == 0;
}

/* Runs the loop until peer 'address' of 'sp' is in 'state' (10 s at most). */
static bool wait_state(struct speaker *sp, const char *address, const char *state)
{
    uint64_t end = uv_now(&loop) + 10000;
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    while (!state_is(sp, address, state) && uv_now(&loop) < end) {
        uv_timer_start(&tick, (uv_timer_cb)(void (*)(void))uv_timer_stop, 20, 0);
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    if (!state_is(sp, address, state)) {
        char buf[64], err[160];
        fprintf(stderr, "peer %s: state %s, last error \"%s\" (waited for %s)\n", address,
                peer_field(sp, address, "state", buf, sizeof buf), peer_field(sp, address, "last_error", err, sizeof err),
                state);
    }
    return state_is(sp, address, state);
}

static struct speaker *make(const char *addr)
{
    struct speaker_config cfg = {.local_as = 64512, .port = port};
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, addr, &a), 1);
    cfg.router_id = ntohl(a.s_addr);
    snprintf(cfg.listen, sizeof cfg.listen, "%s", addr);
    struct speaker *sp;
    assert_int_equal(speaker_create(&loop, &cfg, &sp), 0);
    return sp;
}

static struct speaker_peer_config peer(const char *addr, uint16_t hold)
{
    /* connect retry 1 s: a restarted session finds its peer back in Active
     * after the peer's one-second idle hold */
    struct speaker_peer_config pc = {.peer_as = 64512, .port = port, .hold_time = hold, .connect_retry = 1};
    snprintf(pc.address, sizeof pc.address, "%s", addr);
    snprintf(pc.name, sizeof pc.name, "p-%s", addr);
    return pc;
}

static void test_sync_touches_only_changed(void **state)
{
    (void)state;
    port = (uint16_t)(20000 + getpid() % 20000);
    assert_int_equal(uv_loop_init(&loop), 0);
    struct speaker *a = make("127.0.0.1");
    struct speaker *b = make("127.0.0.2");
    /* b waits for a; a connects */
    struct speaker_peer_config to_a = peer("127.0.0.1", 90);
    to_a.passive = true;
    assert_int_equal(speaker_sync(b, &to_a, 1), 1);
    struct speaker_peer_config want[2] = {peer("127.0.0.2", 90), peer("127.0.0.3", 90)};
    assert_int_equal(speaker_sync(a, want, 1), 1);
    assert_true(wait_state(a, "127.0.0.2", "Established"));
    assert_true(wait_state(b, "127.0.0.1", "Established"));

    /* adding an unrelated peer (nobody there) leaves the session alone */
    assert_int_equal(speaker_sync(a, want, 2), 1);
    assert_true(state_is(a, "127.0.0.2", "Established"));
    /* the same set again: nothing to do; a new name is applied in place */
    snprintf(want[0].name, sizeof want[0].name, "renamed");
    assert_int_equal(speaker_sync(a, want, 2), 0);
    char buf[64];
    assert_string_equal(peer_field(a, "127.0.0.2", "name", buf, sizeof buf), "renamed");
    /* changing the unrelated peer's hold time restarts that one only */
    want[1].hold_time = 30;
    assert_int_equal(speaker_sync(a, want, 2), 1);
    assert_true(state_is(a, "127.0.0.2", "Established"));
    assert_string_equal(peer_field(b, "127.0.0.1", "flaps", buf, sizeof buf), "0");

    /* changing the live peer's hold time restarts its session: b sees a flap */
    want[0].hold_time = 45;
    assert_int_equal(speaker_sync(a, want, 2), 1);
    bool a_up = wait_state(a, "127.0.0.2", "Established");
    if (!a_up) {
        (void)wait_state(b, "127.0.0.1", "Established");
    }
    assert_true(a_up);
    assert_true(wait_state(b, "127.0.0.1", "Established"));
    assert_string_equal(peer_field(b, "127.0.0.1", "flaps", buf, sizeof buf), "1");
    /* removing a peer */
    assert_int_equal(speaker_sync(a, &want[1], 1), 1);
    assert_string_equal(peer_field(a, "127.0.0.2", "state", buf, sizeof buf), "");

    speaker_close(a);
    speaker_close(b);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Routes in table 'name' of 'sp' (-1 when absent). */
static long table_count(struct speaker *sp, const char *name)
{
    json_t *o = speaker_routes_json(sp, NULL);
    json_t *v = json_object_get(o, name);
    long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    json_decref(o);
    return n;
}

static long peer_number(struct speaker *sp, const char *address, const char *key)
{
    char buf[64];
    return atol(peer_field(sp, address, key, buf, sizeof buf));
}

/* Runs the loop until table 'name' of 'sp' holds 'want' routes (10 s at most). */
static bool wait_count(struct speaker *sp, const char *name, long want)
{
    uint64_t end = uv_now(&loop) + 10000;
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    while (table_count(sp, name) != want && uv_now(&loop) < end) {
        uv_timer_start(&tick, (uv_timer_cb)(void (*)(void))uv_timer_stop, 20, 0);
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return table_count(sp, name) == want;
}

static struct rib_prefix vpn_route(uint32_t i)
{
    struct rib_prefix p = {.family = RIB_AF_L3VPN, .plen = 32, .rd = rib_rd_make(64512, i % 5)};
    p.addr.af = 4;
    p.addr.b[0] = 10;
    p.addr.b[1] = (uint8_t)(i >> 16);
    p.addr.b[2] = (uint8_t)(i >> 8);
    p.addr.b[3] = (uint8_t)i;
    return p;
}

/* The Adj-RIB-Out (kept in the RIB routes' marks) and UPDATE packing: a
 * originates N VPNv4 routes with one label each towards b over eBGP; b gets
 * them all in UPDATEs filled close to 4096 bytes; withdrawing a third of them
 * reaches b and a's count of advertised prefixes follows; b's session
 * restarting brings them back exactly once. Once with the Adj-RIB-Out in
 * the routes' marks, once (no mark bit left to the speaker) in its own
 * fingerprint set. */
static void adj_rib_out_and_packing(uint16_t marks_reserved)
{
    enum { N = 24000 }; /* 384 KB of NLRI: more than one READ_BUDGET for b */
    port = (uint16_t)(20000 + (getpid() + 7 + marks_reserved % 2) % 20000);
    assert_int_equal(uv_loop_init(&loop), 0);
    struct speaker_config ca = {.local_as = 64512, .port = port, .router_id = 0x7f000001,
                                .marks_reserved = marks_reserved};
    snprintf(ca.listen, sizeof ca.listen, "127.0.0.1");
    struct speaker *a, *b;
    assert_int_equal(speaker_create(&loop, &ca, &a), 0);
    struct speaker_config cb = {.local_as = 65002, .port = port, .router_id = 0x7f000002};
    snprintf(cb.listen, sizeof cb.listen, "127.0.0.2");
    assert_int_equal(speaker_create(&loop, &cb, &b), 0);
    struct speaker_peer_config to_a = peer("127.0.0.1", 90), to_b = peer("127.0.0.2", 90);
    to_a.passive = true;
    to_b.peer_as = 65002;
    to_a.families = to_b.families = BGP_FAM_BIT(BGP_FAM_VPNV4);
    assert_int_equal(speaker_sync(b, &to_a, 1), 1);
    assert_int_equal(speaker_sync(a, &to_b, 1), 1);
    assert_true(wait_state(a, "127.0.0.2", "Established"));
    assert_true(wait_state(b, "127.0.0.1", "Established"));

    struct rib *r = speaker_rib(a);
    struct rib_table *t = rib_vpn_table(r, RIB_AF_L3VPN);
    struct rib_ext ext = rib_rt_ext(rib_rt_make(64512, 1));
    struct rib_attr at = {.flags = RIB_ATTR_HAS_LABEL, .exts = &ext, .exts_len = 1,
                          .nexthop = {.af = 4, .b = {192, 0, 2, 1}}};
    const struct rib_attr *ia;
    assert_int_equal(rib_attr_intern(r, &at, &ia), 0);
    for (uint32_t i = 0; i < N; i++) {
        struct rib_prefix p = vpn_route(i);
        struct rib_labels lb = {.label = 16 + i};
        assert_int_equal(rib_path_add_labels(t, &p, speaker_local_source(a), 0, ia, 0, &lb), 0);
    }
    speaker_kick(a);
    assert_true(wait_count(b, "bgp.l3vpn.0", N));
    assert_int_equal(peer_number(a, "127.0.0.2", "prefixes_advertised"), N);
    /* /32 VPNv4 NLRI are 16 bytes: more than 200 fit an UPDATE */
    long updates = peer_number(b, "127.0.0.1", "updates_received");
    assert_true(updates > 0 && updates <= N / 200 + 1);

    for (uint32_t i = 0; i < N; i += 3) {
        struct rib_prefix p = vpn_route(i);
        assert_int_equal(rib_path_del(t, &p, speaker_local_source(a), 0), 0);
    }
    speaker_kick(a);
    assert_true(wait_count(b, "bgp.l3vpn.0", N - N / 3));
    assert_int_equal(peer_number(a, "127.0.0.2", "prefixes_advertised"), N - N / 3);

    /* b's session restarts (hold time change): a forgets what it sent and
     * sends it all again */
    to_a.hold_time = 60;
    assert_int_equal(speaker_sync(b, &to_a, 1), 1);
    assert_true(wait_state(b, "127.0.0.1", "Established"));
    assert_true(wait_state(a, "127.0.0.2", "Established"));
    assert_true(wait_count(b, "bgp.l3vpn.0", N - N / 3));
    assert_int_equal(peer_number(a, "127.0.0.2", "prefixes_advertised"), N - N / 3);

    rib_attr_unref(r, ia);
    speaker_close(a);
    speaker_close(b);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_adj_rib_out_and_packing(void **state)
{
    (void)state;
    adj_rib_out_and_packing(0);      /* in the RIB routes' marks */
    adj_rib_out_and_packing(0xFFFF); /* every mark bit taken: the fingerprint set */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_touches_only_changed),
        cmocka_unit_test(test_adj_rib_out_and_packing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

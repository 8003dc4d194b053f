/* routing/control/speaker.c: speaker_sync() changes only the sessions whose
 * configuration changed. Real sessions: two speakers in this process on
 * 127.0.0.1 and 127.0.0.2 (a port picked from the pid), a libuv loop run
 * until each expected state is reached or a deadline passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_touches_only_changed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the XMPP session state machine (routing/xmpp/
 * xmpp_session.c), a control-node session and an agent session wired back
 * to back through buffers on virtual time: the open exchange, every
 * dispatch path in both directions (subscribe, publish, withdraw, EoR,
 * routes, config and its ack, ping/pong), the certificate identity check
 * (invalid-from, not-authorized), hold expiry with a connection-timeout
 * stream error, keepalive scheduling through next_deadline, unknown iq's
 * answered with service-unavailable, malformed and misdirected stanzas and
 * the peer's stream error ending the session. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "routing/xmpp/xmpp_session.h"
#include "tests/unit/xmpp/xmpp_samples.h"

struct side {
    struct xmpp_session s;
    struct buf wire; /* bytes this side sent, not yet delivered */
    struct buf all;  /* every byte this side sent */
    char peer[128];
    bool established;
    bool closed;
    enum xmpp_stream_cond cond;
    char text[200];
    bool by_peer;
    unsigned subscribes, unsubscribes, publishes, withdraws, eors, acks_ok, acks_err, routes, configs;
    char last_instance[XMPP_NAME_MAX];
    uint32_t last_instance_id;
    struct xmpp_route_key last_key;
    char last_ack[XMPP_ID_MAX];
    int config_rc;
    unsigned helds, held_objs, digests, in_syncs;
    uint64_t last_digest;
};

static void cb_send(void *arg, const uint8_t *data, size_t size)
{
    struct side *d = arg;
    assert_int_equal(buf_put(&d->wire, data, size), 0);
    assert_int_equal(buf_put(&d->all, data, size), 0);
}
static void cb_established(void *arg, const char *peer)
{
    struct side *d = arg;
    d->established = true;
    snprintf(d->peer, sizeof d->peer, "%s", peer);
}
static void cb_closed(void *arg, enum xmpp_stream_cond cond, const char *text, bool by_peer)
{
    struct side *d = arg;
    assert_false(d->closed);
    d->closed = true;
    d->cond = cond;
    d->by_peer = by_peer;
    snprintf(d->text, sizeof d->text, "%s", text);
}
static void cb_subscribe(void *arg, const char *instance, uint32_t id)
{
    struct side *d = arg;
    d->subscribes++;
    snprintf(d->last_instance, sizeof d->last_instance, "%s", instance);
    d->last_instance_id = id;
}
static void cb_unsubscribe(void *arg, const char *instance)
{
    struct side *d = arg;
    d->unsubscribes++;
    snprintf(d->last_instance, sizeof d->last_instance, "%s", instance);
}
static void cb_publish(void *arg, const char *instance, const struct xmpp_route_entry *e)
{
    struct side *d = arg;
    d->publishes++;
    snprintf(d->last_instance, sizeof d->last_instance, "%s", instance);
    d->last_key = e->key;
}
static void cb_withdraw(void *arg, const char *instance, enum xmpp_family f, const struct xmpp_route_key *k)
{
    struct side *d = arg;
    d->withdraws++;
    d->last_key = *k;
}
static void cb_eor(void *arg)
{
    ((struct side *)arg)->eors++;
}
static void cb_ack(void *arg, const char *id, bool ok)
{
    struct side *d = arg;
    if (ok) {
        d->acks_ok++;
    } else {
        d->acks_err++;
    }
    snprintf(d->last_ack, sizeof d->last_ack, "%s", id);
}
static void cb_routes(void *arg, const struct xmpp_stanza *st)
{
    struct side *d = arg;
    d->routes += (unsigned)st->item_count;
}
static int cb_config(void *arg, const struct xmpp_stanza *st)
{
    struct side *d = arg;
    d->configs++;
    return d->config_rc;
}

static const struct xmpp_session_ops ops = {
    .send = cb_send,
    .established = cb_established,
    .closed = cb_closed,
    .subscribe = cb_subscribe,
    .unsubscribe = cb_unsubscribe,
    .route_publish = cb_publish,
    .route_withdraw = cb_withdraw,
    .eor = cb_eor,
    .config_ack = cb_ack,
    .routes = cb_routes,
    .config = cb_config,
};

static void side_init(struct side *d, enum xmpp_role role, const char *local, const char *peer)
{
    memset(d, 0, sizeof *d);
    buf_init(&d->wire, 0);
    buf_init(&d->all, 0);
    struct xmpp_session_config cfg = {.role = role, .local_jid = local, .peer_identity = peer,
                                      .stream_id = role == XMPP_ROLE_CONTROL ? "stream-1" : NULL};
    assert_int_equal(xmpp_session_init(&d->s, &cfg, &ops, d), 0);
}

static void side_destroy(struct side *d)
{
    xmpp_session_destroy(&d->s);
    buf_destroy(&d->wire);
    buf_destroy(&d->all);
}

/* Delivers what 'from' sent to 'to' at 'now'; returns input's result. */
static int deliver(struct side *from, struct side *to, uint64_t now)
{
    if (from->wire.size == 0) {
        return 0;
    }
    struct buf b = from->wire;
    buf_init(&from->wire, 0);
    int rc = to->s.state == XMPP_SESSION_CLOSED ? 0 : xmpp_session_input(&to->s, now, b.data, b.size);
    buf_destroy(&b);
    return rc;
}

static void pump(struct side *a, struct side *b, uint64_t now)
{
    while (a->wire.size || b->wire.size) {
        (void)deliver(a, b, now);
        (void)deliver(b, a, now);
    }
}

static bool sent_contains(const struct side *d, const char *needle)
{
    return memmem(d->all.data, d->all.size, needle, strlen(needle)) != NULL;
}

static void pair_open(struct side *ctl, struct side *agent, const char *agent_name, const char *cert)
{
    side_init(ctl, XMPP_ROLE_CONTROL, NULL, cert);
    side_init(agent, XMPP_ROLE_AGENT, agent_name, XMPP_CONTROL_JID);
    assert_int_equal(xmpp_session_start(&ctl->s, 0), 0);
    assert_int_equal(xmpp_session_start(&agent->s, 0), 0);
    assert_int_equal(xmpp_session_start(&agent->s, 0), XMPP_ERR_STATE);
    pump(ctl, agent, 0);
}

static void cb_subscribe_digest(void *arg, const char *instance, uint32_t id, uint64_t digest)
{
    struct side *d = arg;
    d->digests++;
    d->last_digest = digest;
    d->last_instance_id = id;
    snprintf(d->last_instance, sizeof d->last_instance, "%s", instance);
}
static void cb_config_held(void *arg, const struct xmpp_held_obj *held, size_t count)
{
    struct side *d = arg;
    d->helds++;
    d->held_objs += (unsigned)count;
    assert_true(count == 0 || held != NULL);
}
static void cb_in_sync(void *arg, const char *instance)
{
    struct side *d = arg;
    d->in_syncs++;
    snprintf(d->last_instance, sizeof d->last_instance, "%s", instance);
}

/* Resume: the agent's header says so, CONFIG_HELD is answered, a
 * subscribe's digest reaches subscribe_digest (or plain subscribe when a
 * control node has no such callback), IN_SYNC reaches the agent. */
static void test_resume(void **state)
{
    (void)state;
    struct xmpp_session_ops rops = ops;
    rops.subscribe_digest = cb_subscribe_digest;
    rops.config_held = cb_config_held;
    rops.in_sync = cb_in_sync;
    for (int with_cbs = 0; with_cbs < 2; with_cbs++) {
        struct side ctl, agent;
        side_init(&ctl, XMPP_ROLE_CONTROL, NULL, "agent-1");
        memset(&agent, 0, sizeof agent);
        buf_init(&agent.wire, 0);
        buf_init(&agent.all, 0);
        struct xmpp_session_config ac = {.role = XMPP_ROLE_AGENT, .local_jid = "agent-1", .resume = true};
        assert_int_equal(xmpp_session_init(&agent.s, &ac, with_cbs ? &rops : &ops, &agent), 0);
        if (with_cbs) {
            xmpp_session_destroy(&ctl.s);
            struct xmpp_session_config cc = {.role = XMPP_ROLE_CONTROL, .peer_identity = "agent-1"};
            assert_int_equal(xmpp_session_init(&ctl.s, &cc, &rops, &ctl), 0);
        }
        assert_int_equal(xmpp_session_start(&ctl.s, 0), 0);
        assert_int_equal(xmpp_session_start(&agent.s, 0), 0);
        pump(&ctl, &agent, 0);
        assert_true(ctl.s.peer_resume);
        assert_true(sent_contains(&agent, "resume=\"1\""));
        unsigned samples[] = {21, 20};
        for (size_t i = 0; i < 2; i++) {
            struct xmpp_stanza st;
            sample_stanza(&st, samples[i]);
            assert_int_equal(xmpp_session_send(&agent.s, 1, &st), 0);
            xmpp_stanza_clear(&st);
            pump(&ctl, &agent, 1);
        }
        assert_false(ctl.closed);
        assert_true(sent_contains(&ctl, "<iq type=\"result\" id=\"id-21\""));
        assert_int_equal(ctl.helds, with_cbs ? 1 : 0);
        assert_int_equal(ctl.held_objs, with_cbs ? 3 : 0);
        assert_int_equal(ctl.digests, with_cbs ? 1 : 0);
        assert_int_equal(ctl.subscribes, with_cbs ? 0 : 1); /* no digest callback: a plain subscribe */
        if (with_cbs) {
            assert_true(ctl.last_digest == 0xfedcba9876543210ull);
            assert_int_equal(ctl.last_instance_id, 7);
        }
        struct xmpp_stanza st;
        sample_stanza(&st, 22);
        assert_int_equal(xmpp_session_send(&ctl.s, 2, &st), 0);
        pump(&ctl, &agent, 2);
        assert_false(agent.closed);
        assert_int_equal(agent.in_syncs, with_cbs ? 1 : 0);
        /* IN_SYNC from an agent is not accepted */
        assert_int_equal(xmpp_session_send(&agent.s, 3, &st), 0);
        xmpp_stanza_clear(&st);
        pump(&ctl, &agent, 3);
        assert_true(ctl.closed);
        assert_int_equal(ctl.cond, XMPP_SC_UNSUPPORTED_STANZA_TYPE);
        side_destroy(&ctl);
        side_destroy(&agent);
    }
    /* an agent without resume: the header does not say it */
    struct side ctl, agent;
    pair_open(&ctl, &agent, "agent-1", "agent-1");
    assert_false(ctl.s.peer_resume);
    assert_false(sent_contains(&agent, "resume"));
    side_destroy(&ctl);
    side_destroy(&agent);
}

static void test_open_and_dispatch(void **state)
{
    struct side ctl, agent;
    pair_open(&ctl, &agent, "agent-1", "agent-1");
    assert_true(ctl.established);
    assert_true(agent.established);
    assert_string_equal(ctl.peer, "agent-1");
    assert_string_equal(agent.peer, XMPP_CONTROL_JID);
    assert_int_equal(ctl.s.state, XMPP_SESSION_ESTABLISHED);
    assert_true(sent_contains(&ctl, "id=\"stream-1\""));

    /* agent -> control: every sample the agent sends */
    unsigned agent_samples[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 19};
    for (size_t i = 0; i < sizeof agent_samples / sizeof agent_samples[0]; i++) {
        struct xmpp_stanza st;
        sample_stanza(&st, agent_samples[i]);
        assert_int_equal(xmpp_session_send(&agent.s, 10, &st), 0);
        xmpp_stanza_clear(&st);
        pump(&ctl, &agent, 10);
    }
    assert_false(ctl.closed);
    assert_int_equal(ctl.subscribes, 1);
    assert_int_equal(ctl.last_instance_id, 4294967295u); /* unchanged by unsubscribe */
    assert_int_equal(ctl.unsubscribes, 1);
    assert_int_equal(ctl.publishes, 5);
    assert_int_equal(ctl.withdraws, 1);
    assert_int_equal(ctl.eors, 1);
    assert_int_equal(ctl.last_key.ethernet_tag, 2);

    /* control -> agent: routes, EoR, config (ok, then refused) */
    unsigned ctl_samples[] = {10, 11, 12, 9, 13};
    for (size_t i = 0; i < sizeof ctl_samples / sizeof ctl_samples[0]; i++) {
        struct xmpp_stanza st;
        sample_stanza(&st, ctl_samples[i]);
        assert_int_equal(xmpp_session_send(&ctl.s, 20, &st), 0);
        xmpp_stanza_clear(&st);
        pump(&ctl, &agent, 20);
    }
    assert_int_equal(agent.routes, 10);
    assert_int_equal(agent.eors, 1);
    assert_int_equal(agent.configs, 1);
    assert_int_equal(ctl.acks_ok, 1);
    assert_string_equal(ctl.last_ack, "id-13");
    agent.config_rc = -1;
    struct xmpp_stanza st;
    sample_stanza(&st, 14);
    assert_int_equal(xmpp_session_send(&ctl.s, 21, &st), 0);
    xmpp_stanza_clear(&st);
    pump(&ctl, &agent, 21);
    assert_int_equal(ctl.acks_err, 1);
    assert_string_equal(ctl.last_ack, "id-14");

    /* orderly close by the agent */
    xmpp_session_close(&agent.s, XMPP_SC_NONE, NULL);
    assert_true(agent.closed);
    assert_false(agent.by_peer);
    pump(&ctl, &agent, 30);
    assert_true(ctl.closed);
    assert_true(ctl.by_peer);
    assert_int_equal(ctl.cond, XMPP_SC_NONE);
    assert_int_equal(ctl.s.state, XMPP_SESSION_CLOSED);
    assert_int_equal(xmpp_session_next_deadline(&ctl.s), UINT64_MAX);
    assert_int_equal(xmpp_session_input(&ctl.s, 31, "<iq/>", 5), XMPP_ERR_STATE);
    sample_stanza(&st, 0);
    assert_int_equal(xmpp_session_send(&ctl.s, 31, &st), XMPP_ERR_STATE);
    xmpp_stanza_clear(&st);
    side_destroy(&ctl);
    side_destroy(&agent);
}

static void test_from_mismatch(void **state)
{
    struct side ctl, agent;
    pair_open(&ctl, &agent, "agent-2", "agent-1");
    assert_false(ctl.established);
    assert_true(ctl.closed);
    assert_int_equal(ctl.cond, XMPP_SC_INVALID_FROM);
    /* the control node sent its header, then the error */
    assert_true(sent_contains(&ctl, "<stream:stream"));
    assert_true(sent_contains(&ctl, "<invalid-from xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/>"));
    assert_true(agent.closed);
    assert_true(agent.by_peer);
    assert_int_equal(agent.cond, XMPP_SC_INVALID_FROM);
    side_destroy(&ctl);
    side_destroy(&agent);

    /* no from at all */
    side_init(&ctl, XMPP_ROLE_CONTROL, NULL, "agent-1");
    assert_int_equal(xmpp_session_start(&ctl.s, 0), 0);
    const char *hdr = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                      "version='1.0'><iq type='set'/>";
    assert_int_equal(xmpp_session_input(&ctl.s, 1, hdr, strlen(hdr)), XMPP_ERR_STREAM);
    assert_int_equal(ctl.cond, XMPP_SC_NOT_AUTHORIZED);
    assert_true(sent_contains(&ctl, "</stream:stream>"));
    side_destroy(&ctl);

    /* the agent checks the control node's identity when told to */
    side_init(&ctl, XMPP_ROLE_CONTROL, "other-control@example", "agent-1");
    side_init(&agent, XMPP_ROLE_AGENT, "agent-1", XMPP_CONTROL_JID);
    assert_int_equal(xmpp_session_start(&ctl.s, 0), 0);
    assert_int_equal(xmpp_session_start(&agent.s, 0), 0);
    pump(&ctl, &agent, 0);
    assert_true(agent.closed);
    assert_int_equal(agent.cond, XMPP_SC_INVALID_FROM);
    assert_false(agent.by_peer);
    side_destroy(&ctl);
    side_destroy(&agent);

    /* init refuses a control session without the certificate identity */
    struct xmpp_session s;
    struct xmpp_session_config cfg = {.role = XMPP_ROLE_CONTROL};
    assert_int_equal(xmpp_session_init(&s, &cfg, &ops, NULL), LIB_EINVAL);
    struct xmpp_session_ops no_send = {0};
    cfg.peer_identity = "x";
    assert_int_equal(xmpp_session_init(&s, &cfg, &no_send, NULL), LIB_EINVAL);
}

static void test_hold_and_keepalive(void **state)
{
    struct side ctl, agent;
    pair_open(&ctl, &agent, "agent-1", "agent-1");
    /* defaults: hold 90 s, keepalive 30 s from the last output */
    assert_int_equal(xmpp_session_next_deadline(&ctl.s), 30000);
    xmpp_session_tick(&ctl.s, 29999);
    assert_int_equal(ctl.wire.size, 0);
    xmpp_session_tick(&ctl.s, 30000);
    assert_true(sent_contains(&ctl, "<ping xmlns=\"urn:xmpp:ping\"/>"));
    assert_int_equal(ctl.s.pings_sent, 1);
    assert_int_equal(xmpp_session_next_deadline(&ctl.s), 60000);
    /* the agent answers; the control node counts the pong and its hold
     * deadline moves to 90 s after that input */
    pump(&ctl, &agent, 30500);
    assert_int_equal(ctl.s.pongs_received, 1);
    assert_int_equal(ctl.s.hold_deadline, 30500 + 90000);
    assert_int_equal(agent.s.keepalive_deadline, 30500 + 30000);

    /* now the agent falls silent: the control node pings at 60 s and 90 s
     * and closes at 120.5 s */
    xmpp_session_tick(&ctl.s, 60000);
    xmpp_session_tick(&ctl.s, 90000);
    assert_int_equal(ctl.s.pings_sent, 3);
    assert_int_equal(xmpp_session_next_deadline(&ctl.s), 120000);
    xmpp_session_tick(&ctl.s, 120000);
    assert_false(ctl.closed);
    assert_int_equal(xmpp_session_next_deadline(&ctl.s), 120500);
    xmpp_session_tick(&ctl.s, 120500);
    assert_true(ctl.closed);
    assert_int_equal(ctl.cond, XMPP_SC_CONNECTION_TIMEOUT);
    assert_true(sent_contains(&ctl, "<connection-timeout"));
    assert_int_equal(xmpp_session_next_deadline(&ctl.s), UINT64_MAX);
    xmpp_session_tick(&ctl.s, 200000); /* harmless */
    side_destroy(&ctl);
    side_destroy(&agent);

    /* a peer that never sends its header expires too, with custom timers */
    struct side c2;
    memset(&c2, 0, sizeof c2);
    buf_init(&c2.wire, 0);
    buf_init(&c2.all, 0);
    struct xmpp_session_config cfg = {.role = XMPP_ROLE_CONTROL, .peer_identity = "a", .hold_ms = 9000,
                                      .keepalive_ms = 1000};
    assert_int_equal(xmpp_session_init(&c2.s, &cfg, &ops, &c2), 0);
    assert_int_equal(xmpp_session_next_deadline(&c2.s), UINT64_MAX);
    assert_int_equal(xmpp_session_start(&c2.s, 1000), 0);
    assert_int_equal(xmpp_session_next_deadline(&c2.s), 10000);
    xmpp_session_tick(&c2.s, 5000);
    assert_int_equal(c2.all.size, 0); /* no ping before the stream is open */
    assert_int_equal(xmpp_session_input(&c2.s, 6000, "<stream", 7), 0);
    assert_int_equal(xmpp_session_next_deadline(&c2.s), 15000);
    xmpp_session_tick(&c2.s, 15000);
    assert_true(c2.closed);
    assert_int_equal(c2.cond, XMPP_SC_CONNECTION_TIMEOUT);
    /* RFC 6120 4.9.1.2: our header precedes the error */
    assert_true(sent_contains(&c2, "<stream:stream"));
    side_destroy(&c2);
}

static void test_bad_peers(void **state)
{
    struct {
        const char *xml;
        enum xmpp_stream_cond cond; /* NONE: session survives */
        const char *reply;          /* expected in the control node's output */
    } cases[] = {
        {"<iq type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>", XMPP_SC_NONE,
         "<service-unavailable xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>"},
        {"<iq type='get' id='p9'><ping xmlns='urn:xmpp:ping'/></iq>", XMPP_SC_NONE,
         "<iq type=\"result\" id=\"p9\"></iq>"},
        {"<presence/><message><body>x</body></message>", XMPP_SC_NONE, NULL},
        {"<stream:features/>", XMPP_SC_NONE, NULL},
        {"<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='a/b'/></pubsub></iq>",
         XMPP_SC_BAD_FORMAT, "<bad-format"},
        {"<message><event xmlns='http://jabber.org/protocol/pubsub'><items node='0/0/EndOfRib'/></event></message>",
         XMPP_SC_UNSUPPORTED_STANZA_TYPE, "<unsupported-stanza-type"},
        {"<foo/>", XMPP_SC_UNSUPPORTED_STANZA_TYPE, "<unsupported-stanza-type"},
        {"<iq><!-- x --></iq>", XMPP_SC_RESTRICTED_XML, "<restricted-xml"},
        {"<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
         "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>bye</text></stream:error>",
         XMPP_SC_SYSTEM_SHUTDOWN, "</stream:stream>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct side ctl, agent;
        pair_open(&ctl, &agent, "agent-1", "agent-1");
        assert_true(ctl.established);
        int rc = xmpp_session_input(&ctl.s, 5, cases[i].xml, strlen(cases[i].xml));
        bool peer_error = cases[i].cond == XMPP_SC_SYSTEM_SHUTDOWN;
        if (cases[i].cond == XMPP_SC_NONE) {
            assert_int_equal(rc, 0);
            assert_false(ctl.closed);
        } else {
            assert_int_equal(rc, XMPP_ERR_STREAM);
            assert_true(ctl.closed);
            if (ctl.cond != cases[i].cond) {
                fail_msg("case %zu: %s (%s)", i, xmpp_stream_cond_name(ctl.cond), ctl.text);
            }
            assert_int_equal(ctl.by_peer, peer_error);
            if (peer_error) {
                assert_string_equal(ctl.text, "bye");
            }
        }
        if (cases[i].reply && !sent_contains(&ctl, cases[i].reply)) {
            fail_msg("case %zu: reply %s missing in %.*s", i, cases[i].reply, (int)ctl.all.size,
                     (const char *)ctl.all.data);
        }
        side_destroy(&ctl);
        side_destroy(&agent);
    }
}

/* The reconnect schedule: 100 ms doubling to a 2 s cap, each delay in
 * [base/2, 3*base/2) by the random value, the extremes reached. */
static void test_reconnect_delay(void **state)
{
    (void)state;
    static const uint64_t base[] = {100, 200, 400, 800, 1600, 2000, 2000, 2000};
    for (uint32_t a = 0; a < sizeof base / sizeof base[0]; a++) {
        assert_int_equal(xmpp_reconnect_delay_ms(a, 0), base[a] / 2);
        assert_int_equal(xmpp_reconnect_delay_ms(a, 1u << 31), base[a]);
        assert_int_equal(xmpp_reconnect_delay_ms(a, UINT32_MAX), base[a] / 2 + base[a] - 1);
    }
    assert_int_equal(xmpp_reconnect_delay_ms(40, UINT32_MAX), 2999);
    assert_int_equal(xmpp_reconnect_delay_ms(UINT32_MAX, 0), 1000);
    /* spread: 1,000 agents' first attempts (an LCG as the random source)
     * fall in 50..149 ms, no 10 ms slot holding more than a fifth */
    unsigned slots[10] = {0};
    uint32_t x = 12345;
    for (int i = 0; i < 1000; i++) {
        x = x * 1664525u + 1013904223u;
        uint64_t d = xmpp_reconnect_delay_ms(0, x);
        assert_true(d >= 50 && d < 150);
        slots[(d - 50) / 10]++;
    }
    for (int i = 0; i < 10; i++) {
        assert_true(slots[i] < 200);
    }
}

/* Instance names: a control node without a dns_query callback answers the
 * question with iq error service-unavailable (the session stays); with
 * one, the callback gets the question and its answer (same id) reaches the
 * agent's dns_answer; a question sent to an agent ends the session. */
static unsigned dns_questions, dns_answers;
static struct xmpp_session *dns_ctl;
static void cb_dns_query(void *arg, const struct xmpp_stanza *q)
{
    (void)arg;
    dns_questions++;
    struct xmpp_stanza a = {.type = XMPP_STANZA_DNS_ANSWER, .dns = q->dns};
    memcpy(a.id, q->id, sizeof a.id);
    a.dns.found = true;
    a.dns.ttl = 60;
    a.dns.address.version = 4;
    a.dns.address.addr[0] = 10;
    a.dns.address.addr[3] = 3;
    assert_int_equal(xmpp_session_send(dns_ctl, 5, &a), 0);
}
static void cb_dns_answer(void *arg, const struct xmpp_stanza *a)
{
    (void)arg;
    dns_answers++;
    assert_string_equal(a->id, "dns-9");
    assert_true(a->dns.found);
    assert_string_equal(a->dns.name, "vm1");
    assert_int_equal(a->dns.address.addr[3], 3);
}

static void test_dns(void **state)
{
    (void)state;
    struct xmpp_stanza q = {.type = XMPP_STANZA_DNS_QUERY};
    snprintf(q.id, sizeof q.id, "dns-9");
    snprintf(q.dns.interface, sizeof q.dns.interface, "port-1");
    snprintf(q.dns.name, sizeof q.dns.name, "vm1");
    /* no callback */
    struct side ctl, agent;
    pair_open(&ctl, &agent, "agent-1", "agent-1");
    assert_int_equal(xmpp_session_send(&agent.s, 1, &q), 0);
    pump(&ctl, &agent, 1);
    assert_false(ctl.closed);
    assert_false(agent.closed);
    assert_true(sent_contains(&ctl, "<iq type=\"error\" id=\"dns-9\""));
    assert_true(sent_contains(&ctl, "service-unavailable"));
    side_destroy(&ctl);
    side_destroy(&agent);
    /* with callbacks on both sides */
    struct xmpp_session_ops dops = ops;
    dops.dns_query = cb_dns_query;
    dops.dns_answer = cb_dns_answer;
    side_init(&ctl, XMPP_ROLE_CONTROL, NULL, "agent-1");
    side_init(&agent, XMPP_ROLE_AGENT, "agent-1", XMPP_CONTROL_JID);
    xmpp_session_destroy(&ctl.s);
    xmpp_session_destroy(&agent.s);
    struct xmpp_session_config cc = {.role = XMPP_ROLE_CONTROL, .peer_identity = "agent-1"};
    struct xmpp_session_config ac = {.role = XMPP_ROLE_AGENT, .local_jid = "agent-1"};
    assert_int_equal(xmpp_session_init(&ctl.s, &cc, &dops, &ctl), 0);
    assert_int_equal(xmpp_session_init(&agent.s, &ac, &dops, &agent), 0);
    dns_ctl = &ctl.s;
    dns_questions = dns_answers = 0;
    assert_int_equal(xmpp_session_start(&ctl.s, 0), 0);
    assert_int_equal(xmpp_session_start(&agent.s, 0), 0);
    pump(&ctl, &agent, 0);
    assert_int_equal(xmpp_session_send(&agent.s, 4, &q), 0);
    pump(&ctl, &agent, 4);
    assert_int_equal(dns_questions, 1);
    assert_int_equal(dns_answers, 1);
    assert_false(ctl.closed);
    assert_false(agent.closed);
    /* a question to an agent is not accepted */
    assert_int_equal(xmpp_session_send(&ctl.s, 6, &q), 0);
    pump(&ctl, &agent, 6);
    assert_true(agent.closed);
    assert_int_equal(agent.cond, XMPP_SC_UNSUPPORTED_STANZA_TYPE);
    side_destroy(&ctl);
    side_destroy(&agent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_dispatch),
        cmocka_unit_test(test_from_mismatch),
        cmocka_unit_test(test_hold_and_keepalive),
        cmocka_unit_test(test_bad_peers),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_reconnect_delay),
        cmocka_unit_test(test_dns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* routing/control/xmpp_glue.c: agents' XMPP sessions (real routing/xmpp
 * sessions, control and agent sides, wired back to back in memory) and the
 * RIB: a route published by one agent reaches the agents subscribed to its
 * instance, withdrawals become retracts, an agent is not sent its own
 * routes, several next hops form one ECMP item, and an agent lost without
 * an orderly close keeps its routes stale until its End-of-RIB after
 * reconnecting (or until its record expires). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "routing/control/xmpp_glue.h"

#define MAX_SEEN 64

struct seen {
    char key[640];
    bool retract;
    unsigned nexthops;
    uint32_t label;
    uint8_t nh_last; /* last byte of the first next hop */
    unsigned encaps;
    uint32_t vni;
};

struct side {
    struct xmpp_session s;
    struct buf wire;
    struct xglue *g;            /* control side */
    struct xglue_agent *agent;  /* control side: the glue's record */
    char name[64];
    /* agent side: what arrived */
    struct seen seen[MAX_SEEN];
    unsigned nseen;
    unsigned eors;
    /* agent side, resume: the hash of each item held, their sum, IN_SYNCs */
    struct {
        char key[640];
        uint64_t hash;
    } held[MAX_SEEN];
    unsigned nheld;
    uint64_t digest;
    unsigned in_syncs;
};

/* Keeps the agent side's digest as a resuming agent does. */
static void held_update(struct side *d, const char *key, const char *instance, const struct xmpp_route_item *it)
{
    for (unsigned i = 0; i < d->nheld; i++) {
        if (strcmp(d->held[i].key, key) == 0) {
            d->digest -= d->held[i].hash;
            d->held[i] = d->held[--d->nheld];
            break;
        }
    }
    if (!it->retract) {
        assert_true(d->nheld < MAX_SEEN);
        size_t n = strlen(key);
        assert_true(n < sizeof d->held[d->nheld].key);
        memcpy(d->held[d->nheld].key, key, n + 1);
        d->held[d->nheld].hash = xmpp_route_item_hash(instance, &it->entry);
        d->digest += d->held[d->nheld++].hash;
    }
}

static void cb_send(void *arg, const uint8_t *data, size_t size)
{
    struct side *d = arg;
    assert_int_equal(buf_put(&d->wire, data, size), 0);
}

static void cb_established(void *arg, const char *peer)
{
    struct side *d = arg;
    if (d->g) {
        assert_int_equal(xglue_agent_up(d->g, peer, &d->s, &d->agent), 0);
    }
}

static void cb_closed(void *arg, enum xmpp_stream_cond cond, const char *text, bool by_peer)
{
    (void)arg;
    (void)cond;
    (void)text;
    (void)by_peer;
}

static void cb_subscribe(void *arg, const char *instance, uint32_t id)
{
    (void)id;
    struct side *d = arg;
    assert_int_equal(xglue_subscribe(d->g, d->agent, instance), 0);
}

static void cb_unsubscribe(void *arg, const char *instance)
{
    struct side *d = arg;
    xglue_unsubscribe(d->g, d->agent, instance);
}

static void cb_publish(void *arg, const char *instance, const struct xmpp_route_entry *e)
{
    struct side *d = arg;
    assert_int_equal(xglue_publish(d->g, d->agent, instance, e), 0);
}

static void cb_withdraw(void *arg, const char *instance, enum xmpp_family family, const struct xmpp_route_key *key)
{
    struct side *d = arg;
    xglue_withdraw(d->g, d->agent, instance, family, key);
}

static void cb_eor(void *arg)
{
    struct side *d = arg;
    if (d->g) {
        (void)xglue_eor(d->g, d->agent);
    } else {
        d->eors++;
    }
}

static void cb_routes(void *arg, const struct xmpp_stanza *st)
{
    struct side *d = arg;
    for (size_t i = 0; i < st->item_count; i++) {
        const struct xmpp_route_item *it = &st->items[i];
        char key[80];
        assert_int_equal(xmpp_route_key_format(key, sizeof key, it->entry.family, &it->entry.key), 0);
        assert_true(d->nseen < MAX_SEEN);
        struct seen *s = &d->seen[d->nseen++];
        snprintf(s->key, sizeof s->key, "%s/%s", st->instance, key);
        held_update(d, s->key, st->instance, it);
        s->retract = it->retract;
        s->nexthops = (unsigned)it->entry.next_hop_count;
        if (!it->retract) {
            s->label = it->entry.next_hops[0].label;
            s->nh_last = it->entry.next_hops[0].address.addr[3];
            s->encaps = it->entry.next_hops[0].encaps;
            s->vni = it->entry.next_hops[0].has_vni ? it->entry.next_hops[0].vni : 0;
        }
    }
}

static void cb_subscribe_digest(void *arg, const char *instance, uint32_t id, uint64_t digest)
{
    (void)id;
    struct side *d = arg;
    assert_int_equal(xglue_subscribe_digest(d->g, d->agent, instance, digest), 0);
}

static void cb_in_sync(void *arg, const char *instance)
{
    (void)instance;
    struct side *d = arg;
    d->in_syncs++;
}

static int cb_config(void *arg, const struct xmpp_stanza *st)
{
    (void)arg;
    (void)st;
    return 0;
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
    .routes = cb_routes,
    .config = cb_config,
    .subscribe_digest = cb_subscribe_digest,
    .in_sync = cb_in_sync,
};

/* One agent: its session and the control node's session for it. */
struct pair {
    struct side ctl, agent;
};

static void deliver(struct side *from, struct side *to, uint64_t now)
{
    if (from->wire.size == 0) {
        return;
    }
    struct buf b = from->wire;
    buf_init(&from->wire, 0);
    if (to->s.state != XMPP_SESSION_CLOSED) {
        assert_int_equal(xmpp_session_input(&to->s, now, b.data, b.size), 0);
    }
    buf_destroy(&b);
}

static void pump(struct pair *p, uint64_t now)
{
    while (p->ctl.wire.size || p->agent.wire.size) {
        deliver(&p->agent, &p->ctl, now);
        deliver(&p->ctl, &p->agent, now);
    }
}

static void pair_open(struct pair *p, struct xglue *g, const char *name)
{
    memset(p, 0, sizeof *p);
    buf_init(&p->ctl.wire, 0);
    buf_init(&p->agent.wire, 0);
    p->ctl.g = g;
    snprintf(p->agent.name, sizeof p->agent.name, "%s", name);
    struct xmpp_session_config cc = {.role = XMPP_ROLE_CONTROL, .peer_identity = name, .stream_id = "s1"};
    struct xmpp_session_config ac = {.role = XMPP_ROLE_AGENT, .local_jid = name};
    assert_int_equal(xmpp_session_init(&p->ctl.s, &cc, &ops, &p->ctl), 0);
    assert_int_equal(xmpp_session_init(&p->agent.s, &ac, &ops, &p->agent), 0);
    assert_int_equal(xmpp_session_start(&p->ctl.s, 0), 0);
    assert_int_equal(xmpp_session_start(&p->agent.s, 0), 0);
    pump(p, 0);
    assert_int_equal(p->ctl.s.state, XMPP_SESSION_ESTABLISHED);
    assert_non_null(p->ctl.agent);
}

/* New sessions for 'p' to glue 'g' (a restarted control node); the agent
 * side keeps what it holds. */
static void pair_reopen(struct pair *p, struct xglue *g)
{
    xmpp_session_destroy(&p->ctl.s);
    xmpp_session_destroy(&p->agent.s);
    memset(&p->ctl, 0, sizeof p->ctl);
    buf_init(&p->ctl.wire, 0);
    buf_reset(&p->agent.wire);
    p->ctl.g = g;
    p->agent.eors = 0;
    struct xmpp_session_config cc = {.role = XMPP_ROLE_CONTROL, .peer_identity = p->agent.name, .stream_id = "s2"};
    struct xmpp_session_config ac = {.role = XMPP_ROLE_AGENT, .local_jid = p->agent.name, .resume = true};
    assert_int_equal(xmpp_session_init(&p->ctl.s, &cc, &ops, &p->ctl), 0);
    assert_int_equal(xmpp_session_init(&p->agent.s, &ac, &ops, &p->agent), 0);
    assert_int_equal(xmpp_session_start(&p->ctl.s, 0), 0);
    assert_int_equal(xmpp_session_start(&p->agent.s, 0), 0);
    pump(p, 0);
    assert_int_equal(p->ctl.s.state, XMPP_SESSION_ESTABLISHED);
    assert_true(p->ctl.s.peer_resume);
}

static void pair_close(struct pair *p)
{
    xmpp_session_destroy(&p->ctl.s);
    xmpp_session_destroy(&p->agent.s);
    buf_destroy(&p->ctl.wire);
    buf_destroy(&p->agent.wire);
}

static void agent_send(struct pair *p, const struct xmpp_stanza *st)
{
    assert_int_equal(xmpp_session_send(&p->agent.s, 0, st), 0);
    pump(p, 0);
}

static void subscribe(struct pair *p, const char *instance)
{
    struct xmpp_stanza st = {.type = XMPP_STANZA_SUBSCRIBE, .instance_id = 1};
    snprintf(st.id, sizeof st.id, "sub-%s", instance);
    snprintf(st.to, sizeof st.to, "%s", XMPP_CONTROL_JID "/bgp-peer");
    snprintf(st.instance, sizeof st.instance, "%s", instance);
    agent_send(p, &st);
}

static void publish(struct pair *p, const char *instance, const char *prefix, uint8_t nh_last, uint32_t label,
                    unsigned nexthops)
{
    struct xmpp_route_entry e;
    memset(&e, 0, sizeof e);
    e.family = XMPP_FAMILY_INET;
    assert_int_equal(xmpp_route_key_parse(prefix, XMPP_FAMILY_INET, &e.key), 0);
    for (unsigned i = 0; i < nexthops; i++) {
        struct xmpp_nexthop *nh = &e.next_hops[i];
        nh->address.version = 4;
        nh->address.addr[0] = 192;
        nh->address.addr[2] = 2;
        nh->address.addr[3] = (uint8_t)(nh_last + i);
        nh->label = label + i;
        nh->encaps = XMPP_ENCAP_UDP;
    }
    e.next_hop_count = nexthops;
    snprintf(e.virtual_network, sizeof e.virtual_network, "default-domain:admin:%s", instance);
    struct xmpp_stanza st = {.type = XMPP_STANZA_PUBLISH, .entry = &e, .family = e.family, .key = e.key};
    snprintf(st.id, sizeof st.id, "pub");
    snprintf(st.to, sizeof st.to, "%s", XMPP_CONTROL_JID "/bgp-peer");
    snprintf(st.instance, sizeof st.instance, "%s", instance);
    agent_send(p, &st);
}

static void subscribe_digest(struct pair *p, const char *instance, uint64_t digest)
{
    struct xmpp_stanza st = {.type = XMPP_STANZA_SUBSCRIBE, .instance_id = 1, .has_digest = true, .digest = digest};
    snprintf(st.id, sizeof st.id, "sub-%s", instance);
    snprintf(st.to, sizeof st.to, "%s", XMPP_CONTROL_JID "/bgp-peer");
    snprintf(st.instance, sizeof st.instance, "%s", instance);
    agent_send(p, &st);
}

static void withdraw(struct pair *p, const char *instance, const char *prefix)
{
    struct xmpp_stanza st = {.type = XMPP_STANZA_DISSOCIATE, .family = XMPP_FAMILY_INET};
    assert_int_equal(xmpp_route_key_parse(prefix, XMPP_FAMILY_INET, &st.key), 0);
    snprintf(st.id, sizeof st.id, "wd");
    snprintf(st.to, sizeof st.to, "%s", XMPP_CONTROL_JID "/bgp-peer");
    snprintf(st.instance, sizeof st.instance, "%s", instance);
    agent_send(p, &st);
}

static void eor(struct pair *p)
{
    struct xmpp_stanza st = {.type = XMPP_STANZA_EOR};
    snprintf(st.id, sizeof st.id, "eor");
    snprintf(st.to, sizeof st.to, "%s", XMPP_CONTROL_JID "/bgp-peer");
    agent_send(p, &st);
}

/* Flushes the glue and delivers to every agent. */
static void flush(struct xglue *g, struct pair **ps, size_t n)
{
    (void)xglue_flush(g, 0);
    for (size_t i = 0; i < n; i++) {
        pump(ps[i], 0);
    }
}

static const struct seen *last_seen(const struct side *d, const char *key)
{
    for (unsigned i = d->nseen; i-- > 0;) {
        if (strcmp(d->seen[i].key, key) == 0) {
            return &d->seen[i];
        }
    }
    return NULL;
}

static void test_routes_between_agents(void **state)
{
    (void)state;
    struct rib *rib;
    struct xglue *g;
    assert_int_equal(rib_create(&(struct rib_config){0}, &rib), 0);
    assert_int_equal(xglue_create(rib, &g), 0);
    struct pair a, b, c;
    pair_open(&a, g, "compute-a");
    pair_open(&b, g, "compute-b");
    pair_open(&c, g, "compute-c");
    struct pair *all[] = {&a, &b, &c};
    subscribe(&a, "blue");
    subscribe(&b, "blue");
    subscribe(&c, "red");
    flush(g, all, 3);
    /* End-of-RIB once after the first subscription's dump */
    assert_int_equal(a.agent.eors, 1);
    assert_int_equal(b.agent.eors, 1);

    publish(&a, "blue", "10.1.1.5/32", 11, 17, 1);
    flush(g, all, 3);
    const struct seen *s = last_seen(&b.agent, "blue/10.1.1.5/32");
    assert_non_null(s);
    assert_false(s->retract);
    assert_int_equal(s->label, 17);
    assert_int_equal(s->nh_last, 11);
    assert_int_equal(s->encaps, XMPP_ENCAP_UDP);
    /* not to the agent that published it, not to another instance's agent */
    s = last_seen(&a.agent, "blue/10.1.1.5/32");
    assert_true(s == NULL || s->retract);
    assert_null(last_seen(&c.agent, "blue/10.1.1.5/32"));

    /* two next hops from one agent: one item, ECMP */
    publish(&a, "blue", "10.1.1.6/32", 21, 30, 2);
    flush(g, all, 3);
    s = last_seen(&b.agent, "blue/10.1.1.6/32");
    assert_non_null(s);
    assert_int_equal(s->nexthops, 2);
    /* re-publish with one next hop: the second path goes */
    publish(&a, "blue", "10.1.1.6/32", 21, 30, 1);
    flush(g, all, 3);
    assert_int_equal(last_seen(&b.agent, "blue/10.1.1.6/32")->nexthops, 1);

    /* a late subscriber gets the table */
    subscribe(&c, "blue");
    flush(g, all, 3);
    assert_non_null(last_seen(&c.agent, "blue/10.1.1.5/32"));
    assert_false(last_seen(&c.agent, "blue/10.1.1.5/32")->retract);

    /* a subscription and a change of the same route in one flush: the
     * subscriber gets the route once, not twice */
    publish(&a, "green", "10.3.3.3/32", 61, 70, 1);
    flush(g, all, 3);
    unsigned mark = c.agent.nseen;
    subscribe(&c, "green");
    publish(&a, "green", "10.3.3.3/32", 61, 71, 1);
    flush(g, all, 3);
    unsigned copies = 0;
    for (unsigned i = mark; i < c.agent.nseen; i++) {
        copies += strcmp(c.agent.seen[i].key, "green/10.3.3.3/32") == 0;
    }
    assert_int_equal(copies, 1);
    assert_int_equal(last_seen(&c.agent, "green/10.3.3.3/32")->label, 71);

    /* withdraw -> retract */
    withdraw(&a, "blue", "10.1.1.5/32");
    flush(g, all, 3);
    assert_true(last_seen(&b.agent, "blue/10.1.1.5/32")->retract);
    assert_true(last_seen(&c.agent, "blue/10.1.1.5/32")->retract);

    /* agent a lost without an orderly close: its route stays (stale) */
    unsigned before = b.agent.nseen;
    xglue_agent_down(g, a.ctl.agent, true);
    pair_close(&a);
    flush(g, all + 1, 2);
    for (unsigned i = before; i < b.agent.nseen; i++) {
        assert_false(b.agent.seen[i].retract); /* no retract while stale */
    }
    struct xglue_agent_stats st;
    assert_int_equal(xglue_agent_stats(g, "compute-a", &st), 0);
    assert_false(st.connected);
    /* a comes back, re-publishes one route of two, End-of-RIB sweeps the other */
    pair_open(&a, g, "compute-a");
    all[0] = &a;
    subscribe(&a, "blue");
    publish(&a, "blue", "10.1.1.9/32", 41, 90, 1);
    flush(g, all, 3);
    assert_false(last_seen(&b.agent, "blue/10.1.1.6/32")->retract); /* still stale, still there */
    eor(&a);
    flush(g, all, 3);
    assert_true(last_seen(&b.agent, "blue/10.1.1.6/32")->retract);
    assert_false(last_seen(&b.agent, "blue/10.1.1.9/32")->retract);

    /* b lost and never back: expiry removes its routes */
    publish(&b, "blue", "10.2.2.2/32", 51, 60, 1);
    flush(g, all, 3);
    assert_false(last_seen(&a.agent, "blue/10.2.2.2/32")->retract);
    xglue_agent_down(g, b.ctl.agent, true);
    pair_close(&b);
    struct pair *ac[] = {&a, &c};
    assert_int_equal(xglue_agent_expire(g, "compute-a"), RIB_ERR_NOENT); /* connected */
    assert_int_equal(xglue_agent_expire(g, "compute-b"), 0);
    flush(g, ac, 2);
    assert_true(last_seen(&a.agent, "blue/10.2.2.2/32")->retract);
    assert_int_equal(xglue_agent_stats(g, "compute-b", &st), RIB_ERR_NOENT);

    /* an orderly leave withdraws at once */
    xglue_agent_down(g, a.ctl.agent, false);
    flush(g, &ac[1], 1);
    assert_true(last_seen(&c.agent, "blue/10.1.1.9/32")->retract);
    char why[128];
    assert_int_equal(rib_audit(rib, why, sizeof why), 0);
    pair_close(&a);
    pair_close(&c);
    xglue_free(g);
    rib_free(rib);
}

/* Publishes an EVPN route (item id "TAG-MAC" or "TAG-MAC,PREFIX") with one
 * VXLAN next hop. */
static void publish_evpn(struct pair *p, const char *instance, const char *id, uint8_t nh_last, uint32_t vni)
{
    struct xmpp_route_entry e;
    memset(&e, 0, sizeof e);
    e.family = XMPP_FAMILY_EVPN;
    assert_int_equal(xmpp_route_key_parse(id, XMPP_FAMILY_EVPN, &e.key), 0);
    struct xmpp_nexthop *nh = &e.next_hops[0];
    nh->address.version = 4;
    nh->address.addr[0] = 192;
    nh->address.addr[2] = 2;
    nh->address.addr[3] = nh_last;
    nh->label = vni;
    nh->has_vni = true;
    nh->vni = vni;
    nh->encaps = XMPP_ENCAP_VXLAN;
    e.next_hop_count = 1;
    struct xmpp_stanza st = {.type = XMPP_STANZA_PUBLISH, .entry = &e, .family = e.family, .key = e.key};
    snprintf(st.id, sizeof st.id, "pub");
    snprintf(st.to, sizeof st.to, "%s", XMPP_CONTROL_JID "/bgp-peer");
    snprintf(st.instance, sizeof st.instance, "%s", instance);
    agent_send(p, &st);
}

/* EVPN MAC and MAC/IP routes are reflected between agents like inet ones:
 * an agent subscribed to the instance gets them (VXLAN, its VNI), the
 * publisher does not; a withdraw is a retract. */
/* Fan-out: a change that goes to several agents is encoded once per
 * flush; what each receiver gets is byte for byte the encoding of the
 * stanza made for it alone (its own 'to'), and the publisher (a source of
 * the best path) gets its own message (a retract). */
static void test_fanout_shared_bytes(void **state)
{
    (void)state;
    struct rib *rib;
    struct xglue *g;
    assert_int_equal(rib_create(&(struct rib_config){0}, &rib), 0);
    assert_int_equal(xglue_create(rib, &g), 0);
    struct pair a, b, c, d;
    pair_open(&a, g, "compute-a");
    pair_open(&b, g, "compute-b");
    pair_open(&c, g, "compute-c");
    pair_open(&d, g, "compute-d");
    struct pair *all[] = {&a, &b, &c, &d};
    for (size_t i = 0; i < 4; i++) {
        subscribe(all[i], "blue");
    }
    flush(g, all, 4);
    uint64_t hits0, misses0, hits, misses;
    xglue_shared_stats(g, &hits0, &misses0);

    /* a publishes one route; the glue is flushed by hand to see the bytes */
    struct xmpp_route_entry e;
    memset(&e, 0, sizeof e);
    e.family = XMPP_FAMILY_INET;
    assert_int_equal(xmpp_route_key_parse("10.1.1.5/32", XMPP_FAMILY_INET, &e.key), 0);
    e.next_hops[0].address.version = 4;
    e.next_hops[0].address.addr[0] = 192;
    e.next_hops[0].address.addr[2] = 2;
    e.next_hops[0].address.addr[3] = 11;
    e.next_hops[0].label = 17;
    e.next_hops[0].encaps = XMPP_ENCAP_UDP;
    e.next_hop_count = 1;
    snprintf(e.virtual_network, sizeof e.virtual_network, "default-domain:admin:blue");
    struct xmpp_stanza pub = {.type = XMPP_STANZA_PUBLISH, .entry = &e, .family = e.family, .key = e.key};
    snprintf(pub.id, sizeof pub.id, "pub");
    snprintf(pub.instance, sizeof pub.instance, "blue");
    assert_int_equal(xmpp_session_send(&a.agent.s, 0, &pub), 0);
    deliver(&a.agent, &a.ctl, 0);
    assert_int_equal(xglue_flush(g, 0), 4);

    struct xmpp_route_item item;
    memset(&item, 0, sizeof item);
    item.entry = e;
    struct xmpp_stanza want = {.type = XMPP_STANZA_ROUTES, .family = XMPP_FAMILY_INET, .items = &item, .item_count = 1};
    snprintf(want.instance, sizeof want.instance, "blue");
    snprintf(want.from, sizeof want.from, "%s", XMPP_CONTROL_JID);
    struct buf ref;
    buf_init(&ref, 0);
    for (size_t i = 1; i < 4; i++) {
        buf_reset(&ref);
        snprintf(want.to, sizeof want.to, "%s", all[i]->agent.name);
        assert_int_equal(xmpp_stanza_encode(&ref, &want), 0);
        assert_int_equal(all[i]->ctl.wire.size, ref.size);
        assert_memory_equal(all[i]->ctl.wire.data, ref.data, ref.size);
    }
    /* the publisher: a retract of its own route, not the shared bytes */
    item.retract = true;
    memset(&item.entry, 0, sizeof item.entry);
    item.entry.family = XMPP_FAMILY_INET;
    item.entry.key = e.key;
    snprintf(want.to, sizeof want.to, "%s", a.agent.name);
    buf_reset(&ref);
    assert_int_equal(xmpp_stanza_encode(&ref, &want), 0);
    assert_int_equal(a.ctl.wire.size, ref.size);
    assert_memory_equal(a.ctl.wire.data, ref.data, ref.size);
    buf_destroy(&ref);
    /* built twice (the first receiver's, the publisher's), shared twice */
    xglue_shared_stats(g, &hits, &misses);
    assert_int_equal(hits - hits0, 2);
    assert_int_equal(misses - misses0, 2);
    for (size_t i = 0; i < 4; i++) {
        pump(all[i], 0);
    }
    for (size_t i = 1; i < 4; i++) {
        const struct seen *s = last_seen(&all[i]->agent, "blue/10.1.1.5/32");
        assert_non_null(s);
        assert_false(s->retract);
        assert_int_equal(s->label, 17);
    }

    /* b publishes a second route: built once for the first receiver,
     * shared by the other two; b gets its own retract */
    publish(&b, "blue", "10.1.1.6/32", 12, 18, 1);
    flush(g, all, 4);
    xglue_shared_stats(g, &hits0, &misses0);
    assert_int_equal(hits0 - hits, 2);
    assert_int_equal(misses0 - misses, 2);
    assert_non_null(last_seen(&a.agent, "blue/10.1.1.6/32"));
    assert_false(last_seen(&d.agent, "blue/10.1.1.6/32")->retract);
    assert_true(last_seen(&b.agent, "blue/10.1.1.6/32") == NULL ||
                last_seen(&b.agent, "blue/10.1.1.6/32")->retract);

    for (size_t i = 0; i < 4; i++) {
        pair_close(all[i]);
    }
    xglue_free(g);
    rib_free(rib);
}

static void test_evpn_between_agents(void **state)
{
    (void)state;
    struct rib *rib;
    struct xglue *g;
    assert_int_equal(rib_create(&(struct rib_config){0}, &rib), 0);
    assert_int_equal(xglue_create(rib, &g), 0);
    struct pair a, b;
    pair_open(&a, g, "compute-a");
    pair_open(&b, g, "compute-b");
    struct pair *all[] = {&a, &b};
    subscribe(&a, "blue");
    subscribe(&b, "blue");
    flush(g, all, 2);
    publish_evpn(&a, "blue", "0-02:00:00:00:00:0a,10.1.1.5/32", 11, 5001);
    publish_evpn(&a, "blue", "0-02:00:00:00:00:0b", 11, 5001);
    flush(g, all, 2);
    const struct seen *s = last_seen(&b.agent, "blue/0-02:00:00:00:00:0a,10.1.1.5/32");
    assert_non_null(s);
    assert_false(s->retract);
    assert_int_equal(s->nh_last, 11);
    assert_int_equal(s->encaps, XMPP_ENCAP_VXLAN);
    assert_int_equal(s->label, 0); /* VXLAN: the VNI, no MPLS label (as over BGP) */
    assert_int_equal(s->vni, 5001);
    s = last_seen(&b.agent, "blue/0-02:00:00:00:00:0b");
    assert_non_null(s);
    assert_false(s->retract);
    s = last_seen(&a.agent, "blue/0-02:00:00:00:00:0b");
    assert_true(s == NULL || s->retract);
    /* withdrawn: a retract */
    struct xmpp_stanza st = {.type = XMPP_STANZA_DISSOCIATE, .family = XMPP_FAMILY_EVPN};
    assert_int_equal(xmpp_route_key_parse("0-02:00:00:00:00:0b", XMPP_FAMILY_EVPN, &st.key), 0);
    snprintf(st.id, sizeof st.id, "wd");
    snprintf(st.to, sizeof st.to, "%s", XMPP_CONTROL_JID "/bgp-peer");
    snprintf(st.instance, sizeof st.instance, "blue");
    agent_send(&a, &st);
    flush(g, all, 2);
    s = last_seen(&b.agent, "blue/0-02:00:00:00:00:0b");
    assert_true(s && s->retract);
    pair_close(&a);
    pair_close(&b);
    xglue_free(g);
    rib_free(rib);
}

/* A (re)started control node holds End-of-RIB: agents that subscribe get
 * routes but no End-of-RIB until the hold is released; the count of agents
 * whose own End-of-RIB is pending drives the release. */
static void test_eor_held_after_restart(void **state)
{
    (void)state;
    struct rib *rib;
    struct xglue *g;
    assert_int_equal(rib_create(&(struct rib_config){0}, &rib), 0);
    assert_int_equal(xglue_create(rib, &g), 0);
    xglue_hold_eor(g, true);
    struct pair a, b;
    pair_open(&a, g, "compute-a");
    pair_open(&b, g, "compute-b");
    struct pair *all[] = {&a, &b};
    size_t connected = 0;
    assert_int_equal(xglue_agents_pending_eor(g, &connected), 2);
    assert_int_equal(connected, 2);
    subscribe(&a, "blue");
    subscribe(&b, "blue");
    flush(g, all, 2);
    assert_int_equal(a.agent.eors, 0);
    assert_int_equal(b.agent.eors, 0);
    publish(&a, "blue", "10.1.1.5/32", 11, 17, 1);
    eor(&a);
    flush(g, all, 2);
    assert_int_equal(xglue_agents_pending_eor(g, NULL), 1);
    assert_non_null(last_seen(&b.agent, "blue/10.1.1.5/32")); /* routes flow meanwhile */
    assert_int_equal(b.agent.eors, 0);
    eor(&b);
    flush(g, all, 2);
    assert_int_equal(xglue_agents_pending_eor(g, NULL), 0);
    assert_int_equal(b.agent.eors, 0);
    xglue_hold_eor(g, false);
    flush(g, all, 2);
    assert_int_equal(a.agent.eors, 1);
    assert_int_equal(b.agent.eors, 1);
    /* once released, a later subscription gets its End-of-RIB at once */
    subscribe(&b, "red");
    flush(g, all, 2);
    assert_int_equal(b.agent.eors, 1); /* only the first subscription's */
    pair_close(&a);
    pair_close(&b);
    xglue_free(g);
    rib_free(rib);
}

/* Resume after a control-node restart: three agents hold blue's routes
 * from node 1; node 2 (a new RIB and glue, End-of-RIB held) gets their
 * subscriptions with digests and their routes again. */
struct resume_fx {
    struct rib *rib;
    struct xglue *g;
    struct pair a, b, c;
    struct pair *all[3];
};

static void resume_publish_all(struct resume_fx *f, uint32_t b_label)
{
    publish(&f->a, "blue", "10.1.1.1/32", 11, 100, 1);
    publish(&f->b, "blue", "10.1.1.2/32", 12, b_label, 1);
    publish(&f->c, "blue", "10.1.1.3/32", 13, 300, 2);
    publish(&f->a, "blue", "10.1.1.4/32", 11, 400, 1);
}

static void resume_setup(struct resume_fx *f)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(rib_create(&(struct rib_config){0}, &f->rib), 0);
    assert_int_equal(xglue_create(f->rib, &f->g), 0);
    pair_open(&f->a, f->g, "compute-a");
    pair_open(&f->b, f->g, "compute-b");
    pair_open(&f->c, f->g, "compute-c");
    f->all[0] = &f->a;
    f->all[1] = &f->b;
    f->all[2] = &f->c;
    for (int i = 0; i < 3; i++) {
        subscribe(f->all[i], "blue");
    }
    resume_publish_all(f, 200);
    flush(f->g, f->all, 3);
    /* each holds the other agents' routes */
    assert_int_equal(f->a.agent.nheld, 2);
    assert_int_equal(f->b.agent.nheld, 3);
    assert_int_equal(f->c.agent.nheld, 3);
    /* node 1 dies; node 2 starts with End-of-RIB held */
    xglue_free(f->g);
    rib_free(f->rib);
    assert_int_equal(rib_create(&(struct rib_config){0}, &f->rib), 0);
    assert_int_equal(xglue_create(f->rib, &f->g), 0);
    xglue_hold_eor(f->g, true);
    for (int i = 0; i < 3; i++) {
        pair_reopen(f->all[i], f->g);
    }
}

static void resume_teardown(struct resume_fx *f)
{
    for (int i = 0; i < 3; i++) {
        pair_close(f->all[i]);
    }
    xglue_free(f->g);
    rib_free(f->rib);
}

/* Items (not retracts) 'd' received from position 'mark' on. */
static unsigned adds_since(const struct side *d, unsigned mark)
{
    unsigned n = 0;
    for (unsigned i = mark; i < d->nseen; i++) {
        n += !d->seen[i].retract;
    }
    return n;
}

static void test_resume_in_sync(void **state)
{
    (void)state;
    struct resume_fx f;
    resume_setup(&f);
    unsigned before[3];
    for (int i = 0; i < 3; i++) {
        subscribe_digest(f.all[i], "blue", f.all[i]->agent.digest);
        before[i] = f.all[i]->agent.nseen;
    }
    resume_publish_all(&f, 200);
    for (int i = 0; i < 3; i++) {
        eor(f.all[i]);
    }
    flush(f.g, f.all, 3);
    /* held: nothing yet, not even the changes the re-publishing made */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f.all[i]->agent.nseen, before[i]);
        assert_int_equal(f.all[i]->agent.eors, 0);
    }
    assert_int_equal(xglue_agents_pending_eor(f.g, NULL), 0);
    xglue_hold_eor(f.g, false);
    flush(f.g, f.all, 3);
    /* released: equal digests, so IN_SYNC and End-of-RIB and no item */
    struct xglue_agent_stats st;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f.all[i]->agent.nseen, before[i]);
        assert_int_equal(f.all[i]->agent.in_syncs, 1);
        assert_int_equal(f.all[i]->agent.eors, 1);
        assert_int_equal(xglue_agent_stats(f.g, f.all[i]->agent.name, &st), 0);
        assert_int_equal(st.items_sent, 0);
        assert_int_equal(st.in_sync, 1);
        assert_int_equal(st.resume_dumps, 0);
    }
    /* a change afterwards: only that route, to the others */
    publish(&f.b, "blue", "10.1.1.2/32", 12, 222, 1);
    flush(f.g, f.all, 3);
    assert_int_equal(f.a.agent.nseen, before[0] + 1);
    assert_int_equal(f.c.agent.nseen, before[2] + 1);
    assert_int_equal(adds_since(&f.b.agent, before[1]), 0); /* its own route: at most a retract */
    assert_int_equal(last_seen(&f.a.agent, "blue/10.1.1.2/32")->label, 222);
    resume_teardown(&f);
}

static void test_resume_changed_while_down(void **state)
{
    (void)state;
    struct resume_fx f;
    resume_setup(&f);
    unsigned before[3];
    for (int i = 0; i < 3; i++) {
        subscribe_digest(f.all[i], "blue", f.all[i]->agent.digest);
        before[i] = f.all[i]->agent.nseen;
    }
    /* b's route changed while the node was down: a's and c's digests no
     * longer match, b's does (it is not sent its own route) */
    resume_publish_all(&f, 201);
    for (int i = 0; i < 3; i++) {
        eor(f.all[i]);
    }
    xglue_hold_eor(f.g, false);
    flush(f.g, f.all, 3);
    /* a: the full table of blue (its own two routes are not sent) */
    assert_int_equal(adds_since(&f.a.agent, before[0]), 2);
    assert_int_equal(last_seen(&f.a.agent, "blue/10.1.1.2/32")->label, 201);
    assert_int_equal(adds_since(&f.c.agent, before[2]), 3);
    assert_int_equal(f.b.agent.nseen, before[1]);
    assert_int_equal(f.b.agent.in_syncs, 1);
    assert_int_equal(f.a.agent.in_syncs, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f.all[i]->agent.eors, 1);
    }
    /* after the dump a holds exactly what node 2 would send it */
    assert_true(f.a.agent.digest == xglue_instance_digest(f.g, f.a.ctl.agent, "blue"));
    assert_true(f.c.agent.digest == xglue_instance_digest(f.g, f.c.ctl.agent, "blue"));
    resume_teardown(&f);
}

static void test_resume_wrong_digest(void **state)
{
    (void)state;
    struct resume_fx f;
    resume_setup(&f);
    unsigned before = f.b.agent.nseen;
    subscribe_digest(&f.a, "blue", f.a.agent.digest);
    subscribe_digest(&f.b, "blue", f.b.agent.digest ^ 1); /* a digest that does not match */
    subscribe(&f.c, "blue");                              /* no digest: today's behaviour */
    resume_publish_all(&f, 200);
    unsigned c_mid = f.c.agent.nseen;
    assert_true(c_mid > 0); /* without a digest, items flow during the hold */
    for (int i = 0; i < 3; i++) {
        eor(f.all[i]);
    }
    xglue_hold_eor(f.g, false);
    flush(f.g, f.all, 3);
    assert_int_equal(adds_since(&f.b.agent, before), 3); /* the whole table */
    assert_int_equal(f.b.agent.in_syncs, 0);
    struct xglue_agent_stats st;
    assert_int_equal(xglue_agent_stats(f.g, "compute-b", &st), 0);
    assert_int_equal(st.resume_dumps, 1);
    assert_int_equal(f.a.agent.in_syncs, 1);
    assert_int_equal(f.c.agent.in_syncs, 0);
    /* an unknown instance's digest (nothing there, digest 0) matches an agent holding nothing */
    unsigned mark = f.a.agent.nseen;
    subscribe_digest(&f.a, "red", 0);
    flush(f.g, f.all, 3);
    assert_int_equal(f.a.agent.in_syncs, 2);
    assert_int_equal(f.a.agent.nseen, mark);
    resume_teardown(&f);
}

/* An agent lost twice before its End-of-RIB (the second loss marks
 * nothing new: its paths are stale already) still has them swept by the
 * End-of-RIB of the session after; an agent never lost sweeps nothing. */
static void test_stale_swept_after_two_losses(void **state)
{
    (void)state;
    struct rib *rib;
    struct xglue *g;
    assert_int_equal(rib_create(&(struct rib_config){0}, &rib), 0);
    assert_int_equal(xglue_create(rib, &g), 0);
    struct pair a, b;
    pair_open(&a, g, "compute-a");
    pair_open(&b, g, "compute-b");
    struct pair *all[] = {&a, &b};
    subscribe(&b, "blue");
    publish(&a, "blue", "10.1.1.1/32", 11, 100, 1);
    publish(&a, "blue", "10.1.1.2/32", 11, 101, 1);
    flush(g, all, 2);
    assert_false(last_seen(&b.agent, "blue/10.1.1.1/32")->retract);
    assert_int_equal(xglue_eor(g, b.ctl.agent), 0); /* never lost: nothing stale */
    for (int loss = 0; loss < 2; loss++) {
        xglue_agent_down(g, a.ctl.agent, true);
        pair_close(&a);
        pair_open(&a, g, "compute-a");
    }
    publish(&a, "blue", "10.1.1.2/32", 11, 101, 1);
    flush(g, all, 2);
    assert_false(last_seen(&b.agent, "blue/10.1.1.1/32")->retract); /* stale, kept */
    assert_int_equal(xglue_eor(g, a.ctl.agent), 1);
    flush(g, all, 2);
    assert_true(last_seen(&b.agent, "blue/10.1.1.1/32")->retract);
    assert_false(last_seen(&b.agent, "blue/10.1.1.2/32")->retract);
    assert_int_equal(xglue_eor(g, a.ctl.agent), 0); /* swept already */
    pair_close(&a);
    pair_close(&b);
    xglue_free(g);
    rib_free(rib);
}

/* The digest the node computes for an agent (one table walk per instance
 * and flush, minus the items whose best paths are all the agent's own)
 * equals the sum of what it sends that agent: its own routes are left out,
 * an ECMP route it shares with another agent is not; a digest computed in
 * one flush is not reused in a later one. */
static void test_digest_equals_sent(void **state)
{
    (void)state;
    struct rib *rib;
    struct xglue *g;
    assert_int_equal(rib_create(&(struct rib_config){0}, &rib), 0);
    assert_int_equal(xglue_create(rib, &g), 0);
    struct pair a, b, c;
    pair_open(&a, g, "compute-a");
    pair_open(&b, g, "compute-b");
    pair_open(&c, g, "compute-c");
    struct pair *all[] = {&a, &b, &c};
    for (int i = 0; i < 3; i++) {
        subscribe(all[i], "blue");
    }
    publish(&a, "blue", "10.1.1.1/32", 11, 100, 1);
    publish(&b, "blue", "10.1.1.2/32", 12, 200, 1);
    publish(&a, "blue", "10.1.1.9/32", 11, 900, 1); /* one prefix from a and b: ECMP */
    publish(&b, "blue", "10.1.1.9/32", 12, 900, 1);
    flush(g, all, 3);
    /* the harness keeps each agent's digest of the items it received */
    assert_non_null(last_seen(&a.agent, "blue/10.1.1.9/32"));
    assert_int_equal(last_seen(&a.agent, "blue/10.1.1.9/32")->nexthops, 2); /* shared: sent to a */
    const struct seen *own = last_seen(&a.agent, "blue/10.1.1.1/32");
    assert_true(!own || own->retract); /* its own: not sent (at most a retract) */
    uint64_t da = xglue_instance_digest(g, a.ctl.agent, "blue");
    uint64_t db = xglue_instance_digest(g, b.ctl.agent, "blue");
    uint64_t dc = xglue_instance_digest(g, c.ctl.agent, "blue");
    assert_true(da == a.agent.digest);
    assert_true(db == b.agent.digest);
    assert_true(dc == c.agent.digest);
    assert_true(da != db && da != dc && db != dc);
    /* a fourth agent resumes with each digest in turn, in later flushes:
     * only c's (it holds every route, being none of their sources) gives
     * IN_SYNC, after a change only the new one does */
    struct pair d;
    pair_open(&d, g, "compute-d");
    struct pair *all4[] = {&a, &b, &c, &d};
    subscribe_digest(&d, "blue", da);
    flush(g, all4, 4);
    assert_int_equal(d.agent.in_syncs, 0); /* a's own route 10.1.1.1 is in d's view */
    xglue_unsubscribe(g, d.ctl.agent, "blue");
    subscribe_digest(&d, "blue", dc);
    flush(g, all4, 4);
    assert_int_equal(d.agent.in_syncs, 1);
    publish(&b, "blue", "10.1.1.2/32", 12, 201, 1);
    flush(g, all4, 4);
    uint64_t dc2 = c.agent.digest; /* c holds every route of blue */
    assert_true(dc2 != dc);
    xglue_unsubscribe(g, d.ctl.agent, "blue");
    subscribe_digest(&d, "blue", dc);
    flush(g, all4, 4);
    assert_int_equal(d.agent.in_syncs, 1); /* the old digest no longer matches */
    xglue_unsubscribe(g, d.ctl.agent, "blue");
    subscribe_digest(&d, "blue", dc2);
    flush(g, all4, 4);
    assert_int_equal(d.agent.in_syncs, 2);
    for (int i = 0; i < 4; i++) {
        pair_close(all4[i]);
    }
    xglue_free(g);
    rib_free(rib);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_between_agents),
        cmocka_unit_test(test_fanout_shared_bytes),
        cmocka_unit_test(test_evpn_between_agents),
        cmocka_unit_test(test_eor_held_after_restart),
        cmocka_unit_test(test_resume_in_sync),
        cmocka_unit_test(test_resume_changed_while_down),
        cmocka_unit_test(test_resume_wrong_digest),
        cmocka_unit_test(test_stale_swept_after_two_losses),
        cmocka_unit_test(test_digest_equals_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

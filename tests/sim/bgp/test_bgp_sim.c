/* Simulations of the BGP session state machine (routing/bgp/bgp_fsm.c) on
 * virtual time. Two FSMs are wired back to back through a tiny scheduler: a
 * transport that delivers each send 1 ms later, connects only when the other
 * side listens, and can be cut (both sides see the close), blackholed (bytes
 * vanish, nobody is told) or healed. The scenarios prove that sessions reach
 * Established with the right negotiation, carry UPDATEs and End-of-RIB,
 * keep themselves alive with keepalives, end with NOTIFICATION 4/0 when the
 * hold timer runs out, refuse bad OPENs with the right NOTIFICATION, and
 * that a GR-capable peer's transport loss is reported as "keep stale for R
 * seconds" rather than a flush, followed by reconnect and End-of-RIB. A
 * single-FSM harness feeds hand-made bytes for the header and OPEN errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "routing/bgp/bgp_fsm.h"

#define SEC 1000ull
#define MAX_EVENTS 4096

enum ev_kind { EV_DELIVER, EV_CONNECTED, EV_CLOSED, EV_FAILED };

struct node;

struct event {
    uint64_t at;
    uint64_t seq;
    enum ev_kind kind;
    struct node *to;
    uint64_t link_gen; /* deliveries of an older link generation are dropped */
    uint8_t *data;
    size_t size;
};

struct sim {
    uint64_t now;
    uint64_t seq;
    struct event ev[MAX_EVENTS];
    size_t count;
    bool link_up;       /* a transport exists between the two */
    bool blackhole;     /* bytes are lost silently */
    uint64_t link_gen;
    struct node *n[2];
};

struct node {
    struct sim *sim;
    const char *name;
    struct bgp_fsm *fsm;
    struct node *peer;
    int established;
    struct bgp_fsm_caps caps;
    int downs;
    struct bgp_fsm_down down;
    struct bgp_notification down_notify;
    bool down_had_notify;
    int updates;
    size_t update_nlri;
    enum bgp_update_action update_action;
    uint32_t eor;
    int refreshes;
    uint8_t last_sent[BGP_MAX_MSG_SIZE];
    size_t last_sent_size;
    int sent_keepalives;
};

static void sim_push(struct sim *s, uint64_t at, enum ev_kind kind, struct node *to, const uint8_t *data,
                     size_t size)
{
    assert_true(s->count < MAX_EVENTS);
    struct event *e = &s->ev[s->count++];
    *e = (struct event){.at = at, .seq = s->seq++, .kind = kind, .to = to, .link_gen = s->link_gen};
    if (size) {
        e->data = malloc(size);
        assert_non_null(e->data);
        memcpy(e->data, data, size);
        e->size = size;
    }
}

/* ---- io callbacks ---- */

static int io_send(void *ctx, const uint8_t *data, size_t size)
{
    struct node *n = ctx;
    struct sim *s = n->sim;
    assert_true(size <= sizeof n->last_sent);
    memcpy(n->last_sent, data, size);
    n->last_sent_size = size;
    if (size >= BGP_HDR_SIZE && data[18] == BGP_MSG_KEEPALIVE) {
        n->sent_keepalives++;
    }
    if (!s->link_up) {
        return 0; /* the peer has closed: the bytes are lost, as in TCP */
    }
    if (!s->blackhole) {
        sim_push(s, s->now + 1, EV_DELIVER, n->peer, data, size);
    }
    return 0;
}

static void io_connect(void *ctx)
{
    struct node *n = ctx;
    struct sim *s = n->sim;
    enum bgp_fsm_state ps = bgp_fsm_state(n->peer->fsm);
    if (!s->link_up && (ps == BGP_ACTIVE || ps == BGP_CONNECT)) {
        s->link_up = true;
        s->blackhole = false;
        s->link_gen++;
        sim_push(s, s->now + 1, EV_CONNECTED, n, NULL, 0);
        sim_push(s, s->now + 1, EV_CONNECTED, n->peer, NULL, 0);
    } else {
        sim_push(s, s->now + 1, EV_FAILED, n, NULL, 0);
    }
}

static void io_close(void *ctx)
{
    struct node *n = ctx;
    struct sim *s = n->sim;
    if (s->link_up) {
        s->link_up = false;
        if (s->blackhole) {
            return; /* the FIN is lost like everything else */
        }
        /* An orderly close: what is in flight arrives, then the FIN. */
        sim_push(s, s->now + 2, EV_CLOSED, n->peer, NULL, 0);
    }
}

static void io_established(void *ctx, const struct bgp_fsm_caps *caps)
{
    struct node *n = ctx;
    n->established++;
    n->caps = *caps;
}

static void io_down(void *ctx, const struct bgp_fsm_down *d)
{
    struct node *n = ctx;
    n->downs++;
    n->down = *d;
    n->down_had_notify = d->notification != NULL;
    if (d->notification) {
        n->down_notify = *d->notification;
    }
    n->down.notification = NULL;
}

static void io_update(void *ctx, const struct bgp_update *u)
{
    struct node *n = ctx;
    n->updates++;
    n->update_nlri = u->nlri.count + u->withdrawn.count + (u->has_mp_reach ? u->mp_reach.nlri.count : 0) +
                     (u->has_mp_unreach ? u->mp_unreach.nlri.count : 0);
    n->update_action = u->action;
}

static void io_eor(void *ctx, enum bgp_family f)
{
    struct node *n = ctx;
    n->eor |= BGP_FAM_BIT(f);
}

static void io_refresh(void *ctx, enum bgp_family f)
{
    struct node *n = ctx;
    n->refreshes++;
}

static const struct bgp_fsm_io io_template = {
    .send = io_send,
    .connect = io_connect,
    .close = io_close,
    .established = io_established,
    .down = io_down,
    .update = io_update,
    .eor = io_eor,
    .route_refresh = io_refresh,
};

/* ---- the scheduler ---- */

static void node_create(struct node *n, struct sim *s, const char *name, const struct bgp_fsm_config *cfg)
{
    struct bgp_fsm_io io = io_template;
    bgp_fsm_free(n->fsm);
    memset(n, 0, sizeof *n);
    n->sim = s;
    n->name = name;
    io.ctx = n;
    assert_int_equal(bgp_fsm_create(cfg, &io, &n->fsm), 0);
}

static void sim_init(struct sim *s, struct node *a, struct node *b)
{
    memset(s, 0, sizeof *s);
    s->now = 1000 * SEC;
    s->n[0] = a;
    s->n[1] = b;
    a->peer = b;
    b->peer = a;
}

static void sim_free(struct sim *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->ev[i].data);
    }
    for (int i = 0; i < 2; i++) {
        bgp_fsm_free(s->n[i]->fsm);
        s->n[i]->fsm = NULL;
    }
}

/* Runs events and timers in time order up to 'until'. */
static void sim_run(struct sim *s, uint64_t until)
{
    for (;;) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < s->count; i++) {
            if (best == SIZE_MAX || s->ev[i].at < s->ev[best].at ||
                (s->ev[i].at == s->ev[best].at && s->ev[i].seq < s->ev[best].seq)) {
                best = i;
            }
        }
        uint64_t t_ev = best == SIZE_MAX ? UINT64_MAX : s->ev[best].at;
        uint64_t t_fsm = UINT64_MAX;
        struct node *due = NULL;
        for (int i = 0; i < 2; i++) {
            uint64_t d = bgp_fsm_next_deadline(s->n[i]->fsm);
            if (d < t_fsm) {
                t_fsm = d;
                due = s->n[i];
            }
        }
        if (t_ev > until && t_fsm > until) {
            s->now = until;
            return;
        }
        if (t_fsm < t_ev) {
            s->now = t_fsm;
            bgp_fsm_tick(due->fsm, s->now);
            continue;
        }
        struct event e = s->ev[best];
        s->ev[best] = s->ev[--s->count];
        s->now = e.at;
        switch (e.kind) {
        case EV_DELIVER:
            if (e.link_gen == s->link_gen) {
                bgp_fsm_recv(e.to->fsm, s->now, e.data, e.size);
            }
            break;
        case EV_CONNECTED:
            if (e.link_gen == s->link_gen && s->link_up) {
                bgp_fsm_tcp_connected(e.to->fsm, s->now);
            }
            break;
        case EV_CLOSED:
            bgp_fsm_tcp_closed(e.to->fsm, s->now);
            break;
        case EV_FAILED:
            bgp_fsm_tcp_failed(e.to->fsm, s->now);
            break;
        }
        free(e.data);
    }
}

/* Cuts the transport: both ends see it close (no NOTIFICATION). */
static void sim_cut(struct sim *s)
{
    assert_true(s->link_up);
    s->link_up = false;
    s->link_gen++;
    sim_push(s, s->now + 1, EV_CLOSED, s->n[0], NULL, 0);
    sim_push(s, s->now + 1, EV_CLOSED, s->n[1], NULL, 0);
}

static struct bgp_fsm_config cfg_base(uint32_t as, uint32_t id, bool passive)
{
    return (struct bgp_fsm_config){
        .local_as = as,
        .local_id = id,
        .passive = passive,
        .families = BGP_FAM_BIT(BGP_FAM_IPV4_UNICAST) | BGP_FAM_BIT(BGP_FAM_VPNV4) | BGP_FAM_BIT(BGP_FAM_EVPN),
    };
}

struct pair {
    struct sim s;
    struct node a, b;
};

static void pair_up(struct pair *p, const struct bgp_fsm_config *ca, const struct bgp_fsm_config *cb)
{
    memset(p, 0, sizeof *p);
    sim_init(&p->s, &p->a, &p->b);
    node_create(&p->a, &p->s, "A", ca);
    node_create(&p->b, &p->s, "B", cb);
    p->a.peer = &p->b;
    p->b.peer = &p->a;
    bgp_fsm_start(p->b.fsm, p->s.now);
    bgp_fsm_start(p->a.fsm, p->s.now);
}

/* ------------------------------------------------------------------ */

static void test_establish_and_keepalive(void **state)
{
    struct pair p;
    struct bgp_fsm_config ca = cfg_base(65000, 1, false), cb = cfg_base(65000, 2, true);
    cb.families = BGP_FAM_BIT(BGP_FAM_IPV4_UNICAST) | BGP_FAM_BIT(BGP_FAM_VPNV4);
    cb.hold_time = 30;
    pair_up(&p, &ca, &cb);
    sim_run(&p.s, p.s.now + 5 * SEC);
    assert_int_equal(bgp_fsm_state(p.a.fsm), BGP_ESTABLISHED);
    assert_int_equal(bgp_fsm_state(p.b.fsm), BGP_ESTABLISHED);
    assert_int_equal(p.a.established, 1);
    assert_int_equal(p.b.established, 1);
    /* families both support, the smaller hold time, keepalive at hold/3 */
    assert_int_equal(p.a.caps.families, cb.families);
    assert_int_equal(p.a.caps.hold_time, 30);
    assert_int_equal(p.a.caps.keepalive, 10);
    assert_int_equal(p.b.caps.hold_time, 30);
    assert_true(p.a.caps.as4);
    assert_true(p.a.caps.route_refresh);
    assert_int_equal(p.a.caps.peer_as, 65000);
    assert_int_equal(p.a.caps.peer_id, 2);
    assert_false(p.a.caps.peer_gr);
    assert_non_null(bgp_fsm_peer_open(p.a.fsm));

    /* Ten virtual minutes later: still up, kept alive by keepalives. */
    int ka = p.a.sent_keepalives;
    sim_run(&p.s, p.s.now + 600 * SEC);
    assert_int_equal(bgp_fsm_state(p.a.fsm), BGP_ESTABLISHED);
    assert_int_equal(bgp_fsm_state(p.b.fsm), BGP_ESTABLISHED);
    assert_int_equal(p.a.downs + p.b.downs, 0);
    assert_in_range(p.a.sent_keepalives - ka, 59, 61);

    /* Administrative stop: Cease 6/2 reaches the peer. */
    bgp_fsm_stop(p.a.fsm, p.s.now);
    sim_run(&p.s, p.s.now + 5 * SEC);
    assert_int_equal(p.a.downs, 1);
    assert_int_equal(p.a.down.reason, BGP_DOWN_STOPPED);
    assert_int_equal(p.b.downs, 1);
    assert_int_equal(p.b.down.reason, BGP_DOWN_NOTIFICATION_RECEIVED);
    assert_true(p.b.down_had_notify);
    assert_int_equal(p.b.down_notify.code, BGP_NOTIFY_CEASE);
    assert_int_equal(p.b.down_notify.subcode, BGP_CEASE_ADMIN_SHUTDOWN);
    assert_false(p.b.down.gr_stale);
    /* A stays down (stopped); nothing is scheduled for it. */
    sim_run(&p.s, p.s.now + 120 * SEC);
    assert_int_equal(bgp_fsm_state(p.a.fsm), BGP_IDLE);
    assert_int_equal(bgp_fsm_next_deadline(p.a.fsm), UINT64_MAX);
    sim_free(&p.s);
}

static void test_update_and_eor(void **state)
{
    struct pair p;
    struct bgp_fsm_config ca = cfg_base(65000, 1, false), cb = cfg_base(65001, 2, true);
    cb.families = BGP_FAM_BIT(BGP_FAM_IPV4_UNICAST) | BGP_FAM_BIT(BGP_FAM_VPNV4);
    pair_up(&p, &ca, &cb);
    sim_run(&p.s, p.s.now + 5 * SEC);
    assert_int_equal(bgp_fsm_state(p.a.fsm), BGP_ESTABLISHED);

    struct bgp_nlri n = {.family = BGP_FAM_VPNV4, .plen = 24, .label_count = 1};
    n.labels[0] = BGP_LABEL(100, true);
    assert_int_equal(bgp_rd_make(n.rd, BGP_RD_AS2, 65000, 1), 0);
    n.addr[0] = 10;
    struct bgp_as_seg seg = {BGP_AS_SEQUENCE, 1};
    uint32_t asn = 65000;
    struct bgp_update u = {0};
    u.has_mp_reach = true;
    u.mp_reach = (struct bgp_mp){.afi = 1, .safi = 128, .family = BGP_FAM_VPNV4, .nh_size = 12};
    u.mp_reach.nh[8] = 192;
    u.mp_reach.nh[11] = 1;
    u.mp_reach.nlri = (struct bgp_nlri_list){&n, 1};
    u.attrs.present = BGP_ATTR_BIT(BGP_ATTR_ORIGIN) | BGP_ATTR_BIT(BGP_ATTR_AS_PATH) |
                      BGP_ATTR_BIT(BGP_ATTR_LOCAL_PREF);
    u.attrs.as_path = (struct bgp_as_path){&seg, 1, &asn, 1};
    u.attrs.local_pref = 100;
    assert_int_equal(bgp_fsm_send_update(p.a.fsm, p.s.now, &u), 0);
    assert_int_equal(bgp_fsm_send_eor(p.a.fsm, p.s.now, BGP_FAM_VPNV4), 0);
    assert_int_equal(bgp_fsm_send_eor(p.a.fsm, p.s.now, BGP_FAM_IPV4_UNICAST), 0);
    /* EVPN was not negotiated (B lacks it). */
    assert_int_equal(bgp_fsm_send_eor(p.a.fsm, p.s.now, BGP_FAM_EVPN), BGP_ERR_FAMILY);
    sim_run(&p.s, p.s.now + 1 * SEC);
    assert_int_equal(p.b.updates, 1);
    assert_int_equal(p.b.update_nlri, 1);
    /* eBGP: LOCAL_PREF is discarded on receipt (RFC 7606 §7.5). */
    assert_int_equal(p.b.update_action, BGP_UPDATE_ATTR_DISCARD);
    assert_int_equal(p.b.eor, BGP_FAM_BIT(BGP_FAM_VPNV4) | BGP_FAM_BIT(BGP_FAM_IPV4_UNICAST));

    assert_int_equal(bgp_fsm_send_route_refresh(p.b.fsm, p.s.now, BGP_FAM_VPNV4), 0);
    assert_int_equal(bgp_fsm_send_route_refresh(p.b.fsm, p.s.now, BGP_FAM_EVPN), BGP_ERR_FAMILY);
    sim_run(&p.s, p.s.now + 1 * SEC);
    assert_int_equal(p.a.refreshes, 1);
    sim_free(&p.s);

    /* Nothing can be sent before Established. */
    pair_up(&p, &ca, &cb);
    assert_int_equal(bgp_fsm_send_update(p.a.fsm, p.s.now, &u), BGP_ERR_STATE);
    sim_free(&p.s);
}

static void test_hold_timer_expiry(void **state)
{
    struct pair p;
    struct bgp_fsm_config ca = cfg_base(65000, 1, false), cb = cfg_base(65000, 2, true);
    pair_up(&p, &ca, &cb);
    sim_run(&p.s, p.s.now + 5 * SEC);
    assert_int_equal(bgp_fsm_state(p.a.fsm), BGP_ESTABLISHED);
    assert_int_equal(p.a.caps.hold_time, 90);
    /* The path goes silent: nothing arrives, nobody is told. The last
     * keepalive got through at most 30 s (hold/3) before the cut. */
    p.s.blackhole = true;
    uint64_t cut = p.s.now;
    sim_run(&p.s, cut + 59 * SEC);
    assert_int_equal(bgp_fsm_state(p.a.fsm), BGP_ESTABLISHED);
    assert_int_equal(bgp_fsm_state(p.b.fsm), BGP_ESTABLISHED);
    sim_run(&p.s, cut + 91 * SEC);
    for (int i = 0; i < 2; i++) {
        struct node *n = i ? &p.b : &p.a;
        assert_int_equal(n->downs, 1);
        assert_int_equal(n->down.reason, BGP_DOWN_HOLD_EXPIRED);
        assert_true(n->down.was_established);
        assert_true(n->down_had_notify);
        assert_int_equal(n->down_notify.code, BGP_NOTIFY_HOLD_EXPIRED);
        assert_int_equal(n->down_notify.subcode, 0);
        assert_false(n->down.gr_stale);
        /* The NOTIFICATION 4/0 really went out on the transport. */
        static const uint8_t want[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                       0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x15, 0x03, 0x04, 0x00};
        assert_int_equal(n->last_sent_size, sizeof want);
        assert_memory_equal(n->last_sent, want, sizeof want);
    }
    /* Both come back on their own after the idle hold. */
    sim_run(&p.s, p.s.now + 60 * SEC);
    assert_int_equal(bgp_fsm_state(p.a.fsm), BGP_ESTABLISHED);
    assert_int_equal(p.a.established, 2);
    sim_free(&p.s);
}

static void test_open_mismatch(void **state)
{
    struct pair p;
    struct bgp_fsm_config ca = cfg_base(65000, 1, false), cb = cfg_base(65000, 2, true);
    cb.peer_as = 65009; /* B expects another AS */
    pair_up(&p, &ca, &cb);
    sim_run(&p.s, p.s.now + 5 * SEC);
    assert_int_equal(p.a.established + p.b.established, 0);
    assert_true(p.b.downs >= 1);
    assert_int_equal(p.b.down.reason, BGP_DOWN_PROTOCOL_ERROR);
    assert_int_equal(p.b.down_notify.code, BGP_NOTIFY_OPEN);
    assert_int_equal(p.b.down_notify.subcode, BGP_OPEN_BAD_PEER_AS);
    assert_int_equal(p.a.down.reason, BGP_DOWN_NOTIFICATION_RECEIVED);
    assert_int_equal(p.a.down_notify.code, BGP_NOTIFY_OPEN);
    assert_int_equal(p.a.down_notify.subcode, BGP_OPEN_BAD_PEER_AS);
    assert_false(p.a.down.was_established);
    sim_free(&p.s);

    /* Same BGP identifier on both sides: 2/3. */
    cb = cfg_base(65000, 1, true);
    pair_up(&p, &ca, &cb);
    sim_run(&p.s, p.s.now + 5 * SEC);
    assert_int_equal(p.a.established + p.b.established, 0);
    assert_int_equal(p.a.down_notify.code, BGP_NOTIFY_OPEN);
    assert_int_equal(p.a.down_notify.subcode, BGP_OPEN_BAD_BGP_ID);
    sim_free(&p.s);

    /* Hold time 0 on one side: no keepalives, no hold timer. */
    cb = cfg_base(65000, 2, true);
    cb.hold_time_zero = true;
    pair_up(&p, &ca, &cb);
    sim_run(&p.s, p.s.now + 5 * SEC);
    assert_int_equal(bgp_fsm_state(p.a.fsm), BGP_ESTABLISHED);
    assert_int_equal(p.a.caps.hold_time, 0);
    int ka = p.a.sent_keepalives;
    sim_run(&p.s, p.s.now + 3600 * SEC);
    assert_int_equal(p.a.sent_keepalives, ka);
    assert_int_equal(bgp_fsm_state(p.b.fsm), BGP_ESTABLISHED);
    assert_int_equal(bgp_fsm_next_deadline(p.a.fsm), UINT64_MAX);
    sim_free(&p.s);
}

static void test_graceful_restart(void **state)
{
    struct pair p;
    struct bgp_fsm_config ca = cfg_base(65000, 1, false), cb = cfg_base(65000, 2, true);
    ca.gr = true;
    ca.gr_restart_time = 120;
    ca.gr_forwarding = BGP_FAM_BIT(BGP_FAM_VPNV4) | BGP_FAM_BIT(BGP_FAM_EVPN);
    ca.llgr = true;
    ca.llgr_stale_time = 3600;
    pair_up(&p, &ca, &cb);
    sim_run(&p.s, p.s.now + 5 * SEC);
    assert_int_equal(bgp_fsm_state(p.b.fsm), BGP_ESTABLISHED);
    assert_true(p.b.caps.peer_gr);
    assert_false(p.b.caps.peer_gr_restarting);
    assert_int_equal(p.b.caps.peer_restart_time, 120);
    assert_int_equal(p.b.caps.peer_gr_families, ca.families);
    assert_int_equal(p.b.caps.peer_gr_forwarding, ca.gr_forwarding);
    assert_true(p.b.caps.peer_llgr);
    assert_int_equal(p.b.caps.peer_llgr_stale[BGP_FAM_EVPN], 3600);
    assert_false(p.a.caps.peer_gr); /* B did not offer GR */

    /* A's control plane dies: the transport drops without NOTIFICATION. */
    sim_cut(&p.s);
    sim_run(&p.s, p.s.now + 10);
    assert_int_equal(p.b.downs, 1);
    assert_int_equal(p.b.down.reason, BGP_DOWN_TCP_CLOSED);
    assert_true(p.b.down.gr_stale);
    assert_int_equal(p.b.down.restart_time, 120);
    assert_int_equal(p.b.down.stale_families, ca.families);
    assert_int_equal(p.b.down.llgr_families, ca.families);
    assert_int_equal(p.b.down.llgr_stale[BGP_FAM_VPNV4], 3600);
    assert_false(p.b.down_had_notify);
    /* A (whose peer B has no GR) is told to flush. */
    assert_false(p.a.down.gr_stale);

    /* A restarts (new FSM, R bit set), reconnects and sends End-of-RIB. */
    ca.gr_restarting = true;
    bgp_fsm_free(p.a.fsm);
    p.a.fsm = NULL;
    node_create(&p.a, &p.s, "A", &ca);
    p.a.peer = &p.b;
    bgp_fsm_start(p.a.fsm, p.s.now);
    sim_run(&p.s, p.s.now + 60 * SEC);
    assert_int_equal(bgp_fsm_state(p.b.fsm), BGP_ESTABLISHED);
    assert_int_equal(p.b.established, 2);
    assert_true(p.b.caps.peer_gr_restarting);
    assert_int_equal(p.b.caps.peer_gr_forwarding, ca.gr_forwarding);
    p.b.eor = 0;
    for (int f = 0; f < BGP_FAM_COUNT; f++) {
        if (ca.families & BGP_FAM_BIT(f)) {
            assert_int_equal(bgp_fsm_send_eor(p.a.fsm, p.s.now, (enum bgp_family)f), 0);
        }
    }
    sim_run(&p.s, p.s.now + 1 * SEC);
    assert_int_equal(p.b.eor, ca.families);

    /* A NOTIFICATION-ended session is never GR: stop -> flush. */
    bgp_fsm_stop(p.a.fsm, p.s.now);
    sim_run(&p.s, p.s.now + 1 * SEC);
    assert_int_equal(p.b.down.reason, BGP_DOWN_NOTIFICATION_RECEIVED);
    assert_false(p.b.down.gr_stale);
    sim_free(&p.s);
}

/* bgp_fsm_set_gr(): the session up keeps what it negotiated; the next
 * OPEN (after the transport dropped and came back) carries the new
 * values; out-of-range values are refused. */
static void test_set_gr_next_open(void **state)
{
    (void)state;
    struct pair p;
    struct bgp_fsm_config ca = cfg_base(65000, 1, false), cb = cfg_base(65000, 2, true);
    ca.gr = true;
    ca.gr_restart_time = 120;
    ca.llgr = true;
    ca.llgr_stale_time = 3600;
    pair_up(&p, &ca, &cb);
    sim_run(&p.s, p.s.now + 5 * SEC);
    assert_int_equal(bgp_fsm_state(p.b.fsm), BGP_ESTABLISHED);
    assert_int_equal(p.b.caps.peer_restart_time, 120);
    assert_int_equal(bgp_fsm_set_gr(p.a.fsm, true, 5000, 0, false, 0), BGP_ERR_INVALID);
    assert_int_equal(bgp_fsm_set_gr(p.a.fsm, true, 60, BGP_FAM_BIT(BGP_FAM_VPNV4), false, 0), 0);
    sim_run(&p.s, p.s.now + 5 * SEC);
    assert_int_equal(bgp_fsm_state(p.b.fsm), BGP_ESTABLISHED);
    assert_int_equal(p.b.established, 1); /* not dropped */
    assert_int_equal(p.b.caps.peer_restart_time, 120);
    assert_true(p.b.caps.peer_llgr);
    sim_cut(&p.s);
    sim_run(&p.s, p.s.now + 10);
    sim_run(&p.s, p.s.now + 120 * SEC);
    assert_int_equal(bgp_fsm_state(p.b.fsm), BGP_ESTABLISHED);
    assert_int_equal(p.b.established, 2);
    assert_int_equal(p.b.caps.peer_restart_time, 60);
    assert_int_equal(p.b.caps.peer_gr_forwarding, BGP_FAM_BIT(BGP_FAM_VPNV4));
    assert_false(p.b.caps.peer_llgr);
    sim_free(&p.s);
}

static void test_connect_retry(void **state)
{
    struct pair p;
    struct bgp_fsm_config ca = cfg_base(65000, 1, false), cb = cfg_base(65000, 2, true);
    memset(&p, 0, sizeof p);
    sim_init(&p.s, &p.a, &p.b);
    node_create(&p.a, &p.s, "A", &ca);
    node_create(&p.b, &p.s, "B", &cb);
    p.a.peer = &p.b;
    p.b.peer = &p.a;
    bgp_fsm_start(p.a.fsm, p.s.now); /* B not listening yet */
    sim_run(&p.s, p.s.now + 5 * SEC);
    assert_int_equal(bgp_fsm_state(p.a.fsm), BGP_ACTIVE);
    uint64_t t0 = p.s.now;
    bgp_fsm_start(p.b.fsm, p.s.now);
    /* The next attempt waits for the connect-retry timer (30 s). */
    sim_run(&p.s, t0 + 20 * SEC);
    assert_int_equal(bgp_fsm_state(p.a.fsm), BGP_ACTIVE);
    sim_run(&p.s, t0 + 30 * SEC);
    assert_int_equal(bgp_fsm_state(p.a.fsm), BGP_ESTABLISHED);
    sim_free(&p.s);
}

/* ------------------------------------------------------------------ */
/* single FSM fed by hand                                              */

struct solo {
    struct node n;
    struct node dummy;
    struct sim s;
};

static void solo_up(struct solo *x, const struct bgp_fsm_config *cfg)
{
    memset(x, 0, sizeof *x);
    sim_init(&x->s, &x->n, &x->dummy);
    node_create(&x->n, &x->s, "solo", cfg);
    node_create(&x->dummy, &x->s, "dummy", cfg);
    x->n.peer = &x->dummy;
    x->dummy.peer = &x->n;
    x->s.link_up = true;
    x->s.blackhole = true; /* nothing is delivered; we read last_sent */
    bgp_fsm_start(x->n.fsm, x->s.now);
    bgp_fsm_tcp_connected(x->n.fsm, x->s.now);
    assert_int_equal(bgp_fsm_state(x->n.fsm), BGP_OPENSENT);
    assert_int_equal(x->n.last_sent[18], BGP_MSG_OPEN);
}

/* Feeds 'wire' and expects NOTIFICATION code/subcode (and data). */
static void solo_expect(const uint8_t *wire, size_t size, uint8_t code, uint8_t subcode, const uint8_t *data,
                        size_t dsize, size_t chunk)
{
    struct solo x;
    struct bgp_fsm_config cfg = cfg_base(65000, 7, false);
    solo_up(&x, &cfg);
    for (size_t off = 0; off < size; off += chunk) {
        bgp_fsm_recv(x.n.fsm, x.s.now, wire + off, off + chunk <= size ? chunk : size - off);
    }
    assert_int_equal(bgp_fsm_state(x.n.fsm), BGP_IDLE);
    assert_int_equal(x.n.downs, 1);
    assert_int_equal(x.n.last_sent[18], BGP_MSG_NOTIFICATION);
    assert_int_equal(x.n.last_sent[19], code);
    assert_int_equal(x.n.last_sent[20], subcode);
    if (data) {
        assert_int_equal(x.n.last_sent_size, 21 + dsize);
        assert_memory_equal(x.n.last_sent + 21, data, dsize);
    }
    sim_free(&x.s);
}

#define M16 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF

static void test_bad_open(void **state)
{
    /* Valid OPEN from AS 65001, hold 90, id 10.0.0.2. */
    uint8_t open[] = {M16, 0x00, 0x1D, 0x01, 0x04, 0xFD, 0xE9, 0x00, 0x5A, 0x0A, 0x00, 0x00, 0x02, 0x00};
    uint8_t w[sizeof open];

    memcpy(w, open, sizeof w);
    w[19] = 3;
    solo_expect(w, sizeof w, BGP_NOTIFY_OPEN, BGP_OPEN_BAD_VERSION, (const uint8_t[]){0, 4}, 2, sizeof w);
    memcpy(w, open, sizeof w);
    w[23] = 1;
    solo_expect(w, sizeof w, BGP_NOTIFY_OPEN, BGP_OPEN_BAD_HOLD_TIME, NULL, 0, sizeof w);
    memcpy(w, open, sizeof w);
    w[27] = 7; /* our own identifier */
    w[24] = w[25] = w[26] = 0;
    solo_expect(w, sizeof w, BGP_NOTIFY_OPEN, BGP_OPEN_BAD_BGP_ID, NULL, 0, sizeof w);
    /* Header errors, fed one byte at a time. */
    memcpy(w, open, sizeof w);
    w[5] = 0;
    solo_expect(w, sizeof w, BGP_NOTIFY_HEADER, BGP_HEADER_NOT_SYNC, NULL, 0, 1);
    memcpy(w, open, sizeof w);
    w[16] = 0x13;
    w[17] = 0x88; /* 5000 */
    solo_expect(w, sizeof w, BGP_NOTIFY_HEADER, BGP_HEADER_BAD_LENGTH, (const uint8_t[]){0x13, 0x88}, 2, 1);
    memcpy(w, open, sizeof w);
    w[17] = 0x12; /* 18 */
    solo_expect(w, sizeof w, BGP_NOTIFY_HEADER, BGP_HEADER_BAD_LENGTH, (const uint8_t[]){0x00, 0x12}, 2, 1);
    /* An UPDATE in OpenSent is an FSM error (RFC 6608 5/1). */
    static const uint8_t eor[] = {M16, 0x00, 0x17, 0x02, 0x00, 0x00, 0x00, 0x00};
    solo_expect(eor, sizeof eor, BGP_NOTIFY_FSM, BGP_FSM_IN_OPENSENT, (const uint8_t[]){BGP_MSG_UPDATE}, 1,
                sizeof eor);

    /* The valid OPEN plus KEEPALIVE, split into single bytes, establishes. */
    struct solo x;
    struct bgp_fsm_config cfg = cfg_base(65000, 7, false);
    solo_up(&x, &cfg);
    uint8_t both[sizeof open + 19];
    memcpy(both, open, sizeof open);
    memcpy(both + sizeof open, (const uint8_t[]){M16, 0x00, 0x13, 0x04}, 19);
    for (size_t i = 0; i < sizeof both; i++) {
        bgp_fsm_recv(x.n.fsm, x.s.now, both + i, 1);
    }
    assert_int_equal(bgp_fsm_state(x.n.fsm), BGP_ESTABLISHED);
    /* No MP capability from the peer: IPv4 unicast only (RFC 4760). */
    assert_int_equal(x.n.caps.families, BGP_FAM_BIT(BGP_FAM_IPV4_UNICAST));
    assert_false(x.n.caps.as4);
    assert_int_equal(x.n.caps.peer_as, 65001);
    /* A second OPEN once established: FSM error 5/3. */
    bgp_fsm_recv(x.n.fsm, x.s.now, open, sizeof open);
    assert_int_equal(bgp_fsm_state(x.n.fsm), BGP_IDLE);
    assert_int_equal(x.n.last_sent[19], BGP_NOTIFY_FSM);
    assert_int_equal(x.n.last_sent[20], BGP_FSM_IN_ESTABLISHED);
    assert_true(x.n.down.was_established);
    sim_free(&x.s);
}

/* Frames an UPDATE with no withdrawn routes from 'attrs' and 'nlri'. */
static size_t update_make(uint8_t *out, const uint8_t *attrs, size_t asize, const uint8_t *nlri, size_t nsize)
{
    size_t size = BGP_HDR_SIZE + 4 + asize + nsize;
    memset(out, 0xFF, 16);
    be16_store(out + 16, (uint16_t)size);
    out[18] = BGP_MSG_UPDATE;
    be16_store(out + 19, 0);
    be16_store(out + 21, (uint16_t)asize);
    memcpy(out + 23, attrs, asize);
    if (nsize) {
        memcpy(out + 23 + asize, nlri, nsize);
    }
    return size;
}

static void test_afi_safi_disable(void **state)
{
    struct solo x;
    struct bgp_fsm_config cfg = cfg_base(65000, 7, false);
    cfg.families = BGP_FAM_BIT(BGP_FAM_IPV4_UNICAST) | BGP_FAM_BIT(BGP_FAM_VPNV4);
    solo_up(&x, &cfg);
    /* OPEN from AS 65001 with MP 1/1 and 1/128, then KEEPALIVE. */
    static const uint8_t open[] = {M16,  0x00, 0x2B, 0x01, 0x04, 0xFD, 0xE9, 0x00, 0x5A, 0x0A, 0x00,
                                   0x00, 0x02, 0x0E, 0x02, 0x0C, 0x01, 0x04, 0x00, 0x01, 0x00, 0x01,
                                   0x01, 0x04, 0x00, 0x01, 0x00, 0x80};
    static const uint8_t ka[] = {M16, 0x00, 0x13, 0x04};
    bgp_fsm_recv(x.n.fsm, x.s.now, open, sizeof open);
    bgp_fsm_recv(x.n.fsm, x.s.now, ka, sizeof ka);
    assert_int_equal(bgp_fsm_state(x.n.fsm), BGP_ESTABLISHED);
    assert_int_equal(x.n.caps.families, cfg.families);
    uint8_t w[256];
    size_t size;
    /* VPNv4 MP_REACH with a 5-octet next hop: AFI/SAFI disable, session up. */
    static const uint8_t bad[] = {0x80, 0x0E, 0x0A, 0x00, 0x01, 0x80, 0x05, 1,    2,    3,    4,   5,
                                  0x00, 0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00};
    size = update_make(w, bad, sizeof bad, NULL, 0);
    bgp_fsm_recv(x.n.fsm, x.s.now, w, size);
    assert_int_equal(bgp_fsm_state(x.n.fsm), BGP_ESTABLISHED);
    assert_int_equal(x.n.updates, 1);
    assert_int_equal(x.n.update_action, BGP_UPDATE_AFI_SAFI_DISABLE);
    /* Later VPNv4 routes are refused for the rest of the session ... */
    static const uint8_t vpn[] = {0x80, 0x0E, 0x20, 0x00, 0x01, 0x80, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0xC0, 0x00, 0x02, 0x01, 0x00, 0x70, 0x00, 0x06, 0x41,
                                  0x00, 0x00, 0xFD, 0xE8, 0x00, 0x00, 0x00, 0x01, 0x0A, 0x01, 0x01, 0x40,
                                  0x01, 0x01, 0x00, 0x40, 0x02, 0x00};
    size = update_make(w, vpn, sizeof vpn, NULL, 0);
    bgp_fsm_recv(x.n.fsm, x.s.now, w, size);
    assert_int_equal(x.n.updates, 2);
    assert_int_equal(x.n.update_action, BGP_UPDATE_AFI_SAFI_DISABLE);
    /* ... while IPv4 unicast still flows. */
    static const uint8_t v4[] = {0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00, 0x40, 0x03, 0x04, 0xC0, 0x00, 0x02, 0x01};
    size = update_make(w, v4, sizeof v4, (const uint8_t[]){0x18, 0x0A, 0x01, 0x02}, 4);
    bgp_fsm_recv(x.n.fsm, x.s.now, w, size);
    assert_int_equal(x.n.updates, 3);
    assert_int_equal(x.n.update_action, BGP_UPDATE_OK);
    assert_int_equal(x.n.update_nlri, 1);
    assert_int_equal(x.n.downs, 0);
    sim_free(&x.s);
}

static void test_open_timeout_and_config(void **state)
{
    struct solo x;
    struct bgp_fsm_config cfg = cfg_base(65000, 7, false);
    solo_up(&x, &cfg);
    /* No OPEN within 15 s: NOTIFICATION 4/0. */
    assert_int_equal(bgp_fsm_next_deadline(x.n.fsm), x.s.now + 15 * SEC);
    bgp_fsm_tick(x.n.fsm, x.s.now + 15 * SEC - 1);
    assert_int_equal(bgp_fsm_state(x.n.fsm), BGP_OPENSENT);
    bgp_fsm_tick(x.n.fsm, x.s.now + 15 * SEC);
    assert_int_equal(bgp_fsm_state(x.n.fsm), BGP_IDLE);
    assert_int_equal(x.n.down.reason, BGP_DOWN_OPEN_TIMEOUT);
    assert_int_equal(x.n.last_sent[19], BGP_NOTIFY_HOLD_EXPIRED);
    sim_free(&x.s);

    /* Configuration checks. */
    struct bgp_fsm *f;
    struct bgp_fsm_io io = io_template;
    cfg.hold_time = 2;
    assert_int_equal(bgp_fsm_create(&cfg, &io, &f), BGP_ERR_INVALID);
    cfg = cfg_base(0, 7, false);
    assert_int_equal(bgp_fsm_create(&cfg, &io, &f), BGP_ERR_INVALID);
    cfg = cfg_base(65000, 7, false);
    cfg.gr_restart_time = 5000;
    assert_int_equal(bgp_fsm_create(&cfg, &io, &f), BGP_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_establish_and_keepalive),
        cmocka_unit_test(test_update_and_eor),
        cmocka_unit_test(test_hold_timer_expiry),
        cmocka_unit_test(test_open_mismatch),
        cmocka_unit_test(test_graceful_restart),
        cmocka_unit_test(test_set_gr_next_open),
        cmocka_unit_test(test_connect_retry),
        cmocka_unit_test(test_bad_open),
        cmocka_unit_test(test_afi_safi_disable),
        cmocka_unit_test(test_open_timeout_and_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

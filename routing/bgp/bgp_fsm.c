/* The BGP-4 session state machine (see bgp_fsm.h): events in, actions out
 * through struct bgp_fsm_io, timers as deadlines on the caller's clock. It
 * frames the received byte stream, negotiates the OPEN (hold time,
 * families, 4-octet AS, GR/LLGR), runs the hold and keepalive timers and
 * reports session news; every peer error ends in a NOTIFICATION and Idle. */
#include "routing/bgp/bgp_fsm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEVER UINT64_MAX

struct bgp_fsm {
    struct bgp_fsm_config cfg;
    struct bgp_fsm_io io;
    enum bgp_fsm_state state;
    bool started;
    bool closing;       /* inside session_down: ignore send failures */
    uint64_t epoch;     /* bumped by every session end */
    uint64_t t_idle;    /* Idle -> Connect/Active (while started) */
    uint64_t t_connect; /* ConnectRetryTimer */
    uint64_t t_hold;    /* HoldTimer (open_hold in OpenSent) */
    uint64_t t_keepalive;
    struct bgp_codec_opts opts; /* for received UPDATEs */
    struct bgp_fsm_caps caps;
    bool have_peer_open;
    struct bgp_open peer_open;
    uint8_t peer_open_bytes[BGP_MAX_MSG_SIZE];
    struct bgp_notification notify; /* last sent or received */
    uint8_t rx[BGP_MAX_MSG_SIZE];
    size_t rx_size;
    struct buf tx;
    char errmsg[128];
};

const char *bgp_fsm_state_name(enum bgp_fsm_state s)
{
    switch (s) {
    case BGP_IDLE:
        return "Idle";
    case BGP_CONNECT:
        return "Connect";
    case BGP_ACTIVE:
        return "Active";
    case BGP_OPENSENT:
        return "OpenSent";
    case BGP_OPENCONFIRM:
        return "OpenConfirm";
    case BGP_ESTABLISHED:
        return "Established";
    }
    return "unknown";
}

static uint64_t after(uint64_t now, uint32_t seconds)
{
    return now + (uint64_t)seconds * 1000;
}

int bgp_fsm_set_gr(struct bgp_fsm *fsm, bool gr, uint16_t gr_restart_time, uint32_t gr_forwarding, bool llgr,
                   uint32_t llgr_stale_time)
{
    if (gr_restart_time > BGP_GR_MAX_RESTART_TIME || llgr_stale_time > 0xFFFFFF || (gr_forwarding & ~BGP_FAM_ALL)) {
        return BGP_ERR_INVALID;
    }
    fsm->cfg.gr = gr;
    fsm->cfg.gr_restart_time = gr_restart_time ? gr_restart_time : 300;
    fsm->cfg.gr_forwarding = gr_forwarding;
    fsm->cfg.llgr = llgr;
    fsm->cfg.llgr_stale_time = llgr_stale_time ? llgr_stale_time : 300;
    return 0;
}

int bgp_fsm_create(const struct bgp_fsm_config *cfg, const struct bgp_fsm_io *io, struct bgp_fsm **out)
{
    if (!cfg || !io || !out || !io->send || !io->connect || !io->close || cfg->local_as == 0 ||
        cfg->local_id == 0 || (cfg->hold_time > 0 && cfg->hold_time < 3) ||
        cfg->gr_restart_time > BGP_GR_MAX_RESTART_TIME || cfg->llgr_stale_time > 0xFFFFFF ||
        (cfg->families & ~BGP_FAM_ALL)) {
        return BGP_ERR_INVALID;
    }
    struct bgp_fsm *f = calloc(1, sizeof *f);
    if (!f) {
        return BGP_ERR_NOMEM;
    }
    f->cfg = *cfg;
    if (f->cfg.hold_time_zero) {
        f->cfg.hold_time = 0;
    } else if (f->cfg.hold_time == 0) {
        f->cfg.hold_time = 90;
    }
    if (f->cfg.open_hold == 0) {
        f->cfg.open_hold = 15;
    }
    if (f->cfg.connect_retry == 0) {
        f->cfg.connect_retry = 30;
    }
    if (f->cfg.idle_hold == 0) {
        f->cfg.idle_hold = 1;
    }
    if (f->cfg.gr_restart_time == 0) {
        f->cfg.gr_restart_time = 300;
    }
    if (f->cfg.llgr_stale_time == 0) {
        f->cfg.llgr_stale_time = 300;
    }
    if (f->cfg.families == 0) {
        f->cfg.families = BGP_FAM_BIT(BGP_FAM_IPV4_UNICAST);
    }
    f->io = *io;
    f->state = BGP_IDLE;
    f->t_idle = f->t_connect = f->t_hold = f->t_keepalive = NEVER;
    buf_init(&f->tx, BGP_MAX_MSG_SIZE * 2);
    *out = f;
    return 0;
}

void bgp_fsm_free(struct bgp_fsm *fsm)
{
    if (!fsm) {
        return;
    }
    buf_destroy(&fsm->tx);
    free(fsm);
}

enum bgp_fsm_state bgp_fsm_state(const struct bgp_fsm *fsm)
{
    return fsm->state;
}

const struct bgp_fsm_caps *bgp_fsm_caps(const struct bgp_fsm *fsm)
{
    return fsm->state >= BGP_OPENCONFIRM ? &fsm->caps : NULL;
}

const struct bgp_open *bgp_fsm_peer_open(const struct bgp_fsm *fsm)
{
    return fsm->have_peer_open ? &fsm->peer_open : NULL;
}

const char *bgp_fsm_errmsg(const struct bgp_fsm *fsm)
{
    return fsm->errmsg;
}

uint64_t bgp_fsm_next_deadline(const struct bgp_fsm *fsm)
{
    uint64_t t = fsm->t_idle;
    if (fsm->t_connect < t) {
        t = fsm->t_connect;
    }
    if (fsm->t_hold < t) {
        t = fsm->t_hold;
    }
    if (fsm->t_keepalive < t) {
        t = fsm->t_keepalive;
    }
    return t;
}

/* ---- ending a session ---- */

static void session_down(struct bgp_fsm *f, uint64_t now, enum bgp_down_reason reason,
                         const struct bgp_notification *send, const struct bgp_notification *received);

/* Sends the encoded bytes in f->tx; a transport failure ends the session. */
static int tx_flush(struct bgp_fsm *f, uint64_t now)
{
    int rc = f->io.send(f->io.ctx, f->tx.data, f->tx.size);
    buf_reset(&f->tx);
    if (rc != 0 && !f->closing) {
        snprintf(f->errmsg, sizeof f->errmsg, "transport send failed");
        session_down(f, now, BGP_DOWN_TCP_CLOSED, NULL, NULL);
        return BGP_ERR_FSM;
    }
    return rc != 0 ? BGP_ERR_FSM : 0;
}

static void session_down(struct bgp_fsm *f, uint64_t now, enum bgp_down_reason reason,
                         const struct bgp_notification *send, const struct bgp_notification *received)
{
    enum bgp_fsm_state was = f->state;
    struct bgp_fsm_down d = {.reason = reason, .was_established = was == BGP_ESTABLISHED};
    f->closing = true;
    if (send && was >= BGP_OPENSENT) {
        f->notify = *send;
        buf_reset(&f->tx);
        if (bgp_encode_notification(send->code, send->subcode, send->data, send->data_size, &f->tx) == 0) {
            (void)tx_flush(f, now);
        }
        d.notification = &f->notify;
    } else if (received) {
        f->notify = *received;
        d.notification = &f->notify;
    }
    if (was != BGP_IDLE) {
        f->io.close(f->io.ctx);
    }
    if (was == BGP_ESTABLISHED && reason == BGP_DOWN_TCP_CLOSED && f->caps.peer_gr &&
        f->caps.peer_gr_families) {
        d.gr_stale = true;
        d.restart_time = f->caps.peer_restart_time;
        d.stale_families = f->caps.peer_gr_families & f->caps.families;
        if (f->caps.peer_llgr) {
            d.llgr_families = f->caps.peer_llgr_families & f->caps.families;
            memcpy(d.llgr_stale, f->caps.peer_llgr_stale, sizeof d.llgr_stale);
        }
    }
    f->state = BGP_IDLE;
    f->epoch++;
    f->rx_size = 0;
    f->have_peer_open = false;
    f->t_connect = f->t_hold = f->t_keepalive = NEVER;
    f->t_idle = f->started ? after(now, f->cfg.idle_hold) : NEVER;
    f->closing = false;
    if (was >= BGP_OPENSENT && f->io.down) {
        f->io.down(f->io.ctx, &d);
    }
}

static void protocol_error(struct bgp_fsm *f, uint64_t now, uint8_t code, uint8_t subcode, const uint8_t *data,
                           size_t size)
{
    struct bgp_notification n = {.code = code, .subcode = subcode};
    if (size > sizeof n.data) {
        size = sizeof n.data;
    }
    if (size > 0) {
        memcpy(n.data, data, size);
    }
    n.data_size = (uint16_t)size;
    snprintf(f->errmsg, sizeof f->errmsg, "sent NOTIFICATION %u/%u in %s", code, subcode,
             bgp_fsm_state_name(f->state));
    session_down(f, now, code == BGP_NOTIFY_HOLD_EXPIRED
                             ? (f->state == BGP_OPENSENT ? BGP_DOWN_OPEN_TIMEOUT : BGP_DOWN_HOLD_EXPIRED)
                             : BGP_DOWN_PROTOCOL_ERROR,
                 &n, NULL);
}

/* ---- starting ---- */

static void connect_attempt(struct bgp_fsm *f, uint64_t now)
{
    f->t_idle = NEVER;
    f->t_connect = after(now, f->cfg.connect_retry);
    if (f->cfg.passive) {
        f->state = BGP_ACTIVE;
        return;
    }
    f->state = BGP_CONNECT;
    f->io.connect(f->io.ctx);
}

void bgp_fsm_start(struct bgp_fsm *fsm, uint64_t now_ms)
{
    if (fsm->state != BGP_IDLE) {
        return;
    }
    fsm->started = true;
    connect_attempt(fsm, now_ms);
}

void bgp_fsm_stop_with(struct bgp_fsm *fsm, uint64_t now_ms, uint8_t subcode)
{
    struct bgp_notification n = {.code = BGP_NOTIFY_CEASE, .subcode = subcode};
    snprintf(fsm->errmsg, sizeof fsm->errmsg, "stopped (cease %u)", subcode);
    session_down(fsm, now_ms, BGP_DOWN_STOPPED, &n, NULL);
}

void bgp_fsm_stop(struct bgp_fsm *fsm, uint64_t now_ms)
{
    fsm->started = false;
    bgp_fsm_stop_with(fsm, now_ms, BGP_CEASE_ADMIN_SHUTDOWN);
    fsm->t_idle = NEVER;
}

/* ---- OPEN ---- */

static void open_build(const struct bgp_fsm *f, struct bgp_open *o)
{
    memset(o, 0, sizeof *o);
    o->version = BGP_VERSION;
    o->as = f->cfg.local_as;
    o->hold_time = f->cfg.hold_time;
    o->bgp_id = f->cfg.local_id;
    o->has_as4 = true;
    o->has_route_refresh = true;
    for (int fam = 0; fam < BGP_FAM_COUNT; fam++) {
        if (!(f->cfg.families & BGP_FAM_BIT(fam))) {
            continue;
        }
        uint16_t afi = bgp_family_afi((enum bgp_family)fam);
        uint8_t safi = bgp_family_safi((enum bgp_family)fam);
        o->mp[o->mp_count++] = (struct bgp_afi_safi){afi, safi};
        if (f->cfg.gr) {
            uint8_t flags = (f->cfg.gr_forwarding & BGP_FAM_BIT(fam)) ? BGP_GR_AF_FORWARDING : 0;
            o->gr_af[o->gr_af_count++] = (struct bgp_gr_af){afi, safi, flags, 0};
            if (f->cfg.llgr) {
                o->llgr_af[o->llgr_af_count++] = (struct bgp_gr_af){afi, safi, flags, f->cfg.llgr_stale_time};
            }
        }
    }
    if (f->cfg.gr) {
        o->has_gr = true;
        o->gr_flags = f->cfg.gr_restarting ? BGP_GR_FLAG_RESTART : 0;
        o->gr_restart_time = f->cfg.gr_restart_time;
        o->has_llgr = f->cfg.llgr;
    }
}

void bgp_fsm_tcp_connected(struct bgp_fsm *fsm, uint64_t now_ms)
{
    if (fsm->state != BGP_CONNECT && fsm->state != BGP_ACTIVE) {
        fsm->io.close(fsm->io.ctx);
        return;
    }
    struct bgp_msg m = {.type = BGP_MSG_OPEN};
    open_build(fsm, &m.u.open);
    fsm->state = BGP_OPENSENT;
    fsm->t_connect = NEVER;
    fsm->t_hold = after(now_ms, fsm->cfg.open_hold);
    fsm->rx_size = 0;
    fsm->have_peer_open = false;
    buf_reset(&fsm->tx);
    if (bgp_msg_encode(&m, NULL, &fsm->tx) != 0) {
        abort(); /* our own OPEN always fits */
    }
    (void)tx_flush(fsm, now_ms);
}

static void tcp_lost(struct bgp_fsm *f, uint64_t now)
{
    switch (f->state) {
    case BGP_IDLE:
        return;
    case BGP_CONNECT:
    case BGP_ACTIVE:
        /* Wait for the ConnectRetryTimer, then try again. */
        f->state = BGP_ACTIVE;
        return;
    case BGP_OPENSENT:
    case BGP_OPENCONFIRM:
    case BGP_ESTABLISHED:
        snprintf(f->errmsg, sizeof f->errmsg, "transport closed in %s", bgp_fsm_state_name(f->state));
        session_down(f, now, BGP_DOWN_TCP_CLOSED, NULL, NULL);
        return;
    }
}

void bgp_fsm_tcp_failed(struct bgp_fsm *fsm, uint64_t now_ms)
{
    tcp_lost(fsm, now_ms);
}

void bgp_fsm_tcp_closed(struct bgp_fsm *fsm, uint64_t now_ms)
{
    tcp_lost(fsm, now_ms);
}

static int send_keepalive(struct bgp_fsm *f, uint64_t now)
{
    buf_reset(&f->tx);
    if (bgp_encode_keepalive(&f->tx) != 0) {
        abort();
    }
    if (f->caps.keepalive > 0) {
        f->t_keepalive = after(now, f->caps.keepalive);
    }
    return tx_flush(f, now);
}

static uint32_t families_of(const struct bgp_afi_safi *v, size_t count)
{
    uint32_t m = 0;
    for (size_t i = 0; i < count; i++) {
        int fam = bgp_family_from_afi_safi(v[i].afi, v[i].safi);
        if (fam >= 0) {
            m |= BGP_FAM_BIT(fam);
        }
    }
    return m;
}

static void rx_open(struct bgp_fsm *f, uint64_t now, struct bgp_msg *m, size_t size)
{
    const struct bgp_open *o = &m->u.open;
    struct bgp_fsm_caps *c = &f->caps;
    if (f->cfg.peer_as != 0 && o->as != f->cfg.peer_as) {
        protocol_error(f, now, BGP_NOTIFY_OPEN, BGP_OPEN_BAD_PEER_AS, NULL, 0);
        return;
    }
    if (o->bgp_id == f->cfg.local_id) {
        protocol_error(f, now, BGP_NOTIFY_OPEN, BGP_OPEN_BAD_BGP_ID, NULL, 0);
        return;
    }
    memset(c, 0, sizeof *c);
    uint32_t peer_fams = o->mp_count == 0 ? BGP_FAM_BIT(BGP_FAM_IPV4_UNICAST) : families_of(o->mp, o->mp_count);
    c->families = f->cfg.families & peer_fams;
    c->as4 = o->has_as4;
    c->route_refresh = o->has_route_refresh;
    c->hold_time = o->hold_time < f->cfg.hold_time ? o->hold_time : f->cfg.hold_time;
    c->keepalive = c->hold_time / 3;
    c->peer_as = o->as;
    c->peer_id = o->bgp_id;
    if (o->has_gr) {
        c->peer_gr = true;
        c->peer_gr_restarting = (o->gr_flags & BGP_GR_FLAG_RESTART) != 0;
        c->peer_restart_time = o->gr_restart_time;
        for (size_t i = 0; i < o->gr_af_count; i++) {
            int fam = bgp_family_from_afi_safi(o->gr_af[i].afi, o->gr_af[i].safi);
            if (fam >= 0) {
                c->peer_gr_families |= BGP_FAM_BIT(fam);
                if (o->gr_af[i].flags & BGP_GR_AF_FORWARDING) {
                    c->peer_gr_forwarding |= BGP_FAM_BIT(fam);
                }
            }
        }
    }
    if (o->has_llgr) {
        c->peer_llgr = true;
        for (size_t i = 0; i < o->llgr_af_count; i++) {
            int fam = bgp_family_from_afi_safi(o->llgr_af[i].afi, o->llgr_af[i].safi);
            if (fam >= 0) {
                c->peer_llgr_families |= BGP_FAM_BIT(fam);
                c->peer_llgr_stale[fam] = o->llgr_af[i].stale_time;
            }
        }
    }
    /* Keep the OPEN with its opaque capabilities pointing into our copy. */
    f->peer_open = *o;
    memcpy(f->peer_open_bytes, m->owned, size);
    for (size_t i = 0; i < o->raw_count; i++) {
        f->peer_open.raw[i].data = f->peer_open_bytes + (o->raw[i].data - m->owned);
    }
    f->have_peer_open = true;
    f->opts = (struct bgp_codec_opts){
        .as4 = c->as4, .ebgp = c->peer_as != f->cfg.local_as, .families = c->families};
    f->state = BGP_OPENCONFIRM;
    f->t_hold = c->hold_time ? after(now, c->hold_time) : NEVER;
    f->t_keepalive = NEVER;
    (void)send_keepalive(f, now);
}

static void rx_update(struct bgp_fsm *f, struct bgp_msg *m)
{
    struct bgp_update *u = &m->u.update;
    uint16_t afi;
    uint8_t safi;
    if (u->action == BGP_UPDATE_AFI_SAFI_DISABLE) {
        int fam = bgp_family_from_afi_safi(u->disable_afi, u->disable_safi);
        if (fam >= 0) {
            f->opts.families &= ~BGP_FAM_BIT(fam);
        }
    }
    if (bgp_update_is_eor(u, &afi, &safi)) {
        int fam = bgp_family_from_afi_safi(afi, safi);
        if (fam >= 0 && (f->caps.families & BGP_FAM_BIT(fam)) && f->io.eor) {
            f->io.eor(f->io.ctx, (enum bgp_family)fam);
        }
        return;
    }
    if (f->io.update) {
        f->io.update(f->io.ctx, u);
    }
}

/* Handles one framed message of 'size' bytes at f->rx. */
static void rx_message(struct bgp_fsm *f, uint64_t now, size_t size)
{
    struct bgp_msg m;
    struct bgp_notification err;
    static const uint8_t fsm_sub[] = {
        [BGP_OPENSENT] = BGP_FSM_IN_OPENSENT,
        [BGP_OPENCONFIRM] = BGP_FSM_IN_OPENCONFIRM,
        [BGP_ESTABLISHED] = BGP_FSM_IN_ESTABLISHED,
    };
    int rc = bgp_msg_decode(f->rx, size, &f->opts, &m, &err);
    if (rc != 0) {
        /* A framed NOTIFICATION always decodes: no error answers an error. */
        protocol_error(f, now, err.code, err.subcode, err.data, err.data_size);
        return;
    }
    enum bgp_fsm_state s = f->state;
    bool ok = true;
    switch (m.type) {
    case BGP_MSG_NOTIFICATION:
        snprintf(f->errmsg, sizeof f->errmsg, "received NOTIFICATION %u/%u", m.u.notification.code,
                 m.u.notification.subcode);
        session_down(f, now, BGP_DOWN_NOTIFICATION_RECEIVED, NULL, &m.u.notification);
        break;
    case BGP_MSG_OPEN:
        ok = s == BGP_OPENSENT;
        if (ok) {
            rx_open(f, now, &m, size);
        }
        break;
    case BGP_MSG_KEEPALIVE:
        ok = s == BGP_OPENCONFIRM || s == BGP_ESTABLISHED;
        if (ok) {
            f->t_hold = f->caps.hold_time ? after(now, f->caps.hold_time) : NEVER;
            if (s == BGP_OPENCONFIRM) {
                f->state = BGP_ESTABLISHED;
                f->errmsg[0] = 0;
                if (f->io.established) {
                    f->io.established(f->io.ctx, &f->caps);
                }
            }
        }
        break;
    case BGP_MSG_UPDATE:
        ok = s == BGP_ESTABLISHED;
        if (ok) {
            f->t_hold = f->caps.hold_time ? after(now, f->caps.hold_time) : NEVER;
            rx_update(f, &m);
        }
        break;
    case BGP_MSG_ROUTE_REFRESH: {
        ok = s == BGP_ESTABLISHED;
        int fam = bgp_family_from_afi_safi(m.u.route_refresh.afi, m.u.route_refresh.safi);
        /* RFC 2918 §4: a family not negotiated is ignored; so are RFC 7313
         * BoRR/EoRR markers, which we do not act on. */
        if (ok && fam >= 0 && (f->caps.families & BGP_FAM_BIT(fam)) && m.u.route_refresh.subtype == 0 &&
            f->io.route_refresh) {
            f->io.route_refresh(f->io.ctx, (enum bgp_family)fam);
        }
        break;
    }
    default:
        break;
    }
    bgp_msg_destroy(&m);
    if (!ok) {
        uint8_t type = m.type;
        protocol_error(f, now, BGP_NOTIFY_FSM, fsm_sub[s], &type, 1);
    }
}

void bgp_fsm_recv(struct bgp_fsm *fsm, uint64_t now_ms, const uint8_t *data, size_t size)
{
    uint64_t epoch = fsm->epoch;
    struct cursor in;
    cursor_init(&in, data, size);
    while (cursor_remaining(&in) > 0 && fsm->state >= BGP_OPENSENT && fsm->epoch == epoch) {
        size_t n = sizeof fsm->rx - fsm->rx_size;
        if (n > cursor_remaining(&in)) {
            n = cursor_remaining(&in);
        }
        if (buf_get_bytes(&in, fsm->rx + fsm->rx_size, n) != 0) {
            abort();
        }
        fsm->rx_size += n;
        while (fsm->state >= BGP_OPENSENT && fsm->epoch == epoch) {
            size_t msize;
            struct bgp_notification err;
            int rc = bgp_msg_frame(fsm->rx, fsm->rx_size, &msize, &err);
            if (rc == BGP_ERR_AGAIN) {
                break;
            }
            if (rc != 0) {
                protocol_error(fsm, now_ms, err.code, err.subcode, err.data, err.data_size);
                return;
            }
            if (msize > fsm->rx_size) {
                break;
            }
            rx_message(fsm, now_ms, msize);
            if (fsm->epoch != epoch) {
                return;
            }
            memmove(fsm->rx, fsm->rx + msize, fsm->rx_size - msize);
            fsm->rx_size -= msize;
        }
    }
}

void bgp_fsm_tick(struct bgp_fsm *fsm, uint64_t now_ms)
{
    if (fsm->t_idle <= now_ms && fsm->state == BGP_IDLE) {
        connect_attempt(fsm, now_ms);
    }
    if (fsm->t_connect <= now_ms && (fsm->state == BGP_CONNECT || fsm->state == BGP_ACTIVE)) {
        if (fsm->state == BGP_CONNECT) {
            fsm->io.close(fsm->io.ctx);
        }
        connect_attempt(fsm, now_ms);
    }
    if (fsm->t_hold <= now_ms && fsm->state >= BGP_OPENSENT) {
        protocol_error(fsm, now_ms, BGP_NOTIFY_HOLD_EXPIRED, 0, NULL, 0);
        return;
    }
    if (fsm->t_keepalive <= now_ms && fsm->state >= BGP_OPENCONFIRM) {
        (void)send_keepalive(fsm, now_ms);
    }
}

/* ---- sending routes ---- */

static bool update_families_ok(const struct bgp_fsm *f, const struct bgp_update *u)
{
    uint32_t fams = f->caps.families;
    if ((u->withdrawn.count || u->nlri.count || (!u->has_mp_reach && !u->has_mp_unreach)) &&
        !(fams & BGP_FAM_BIT(BGP_FAM_IPV4_UNICAST))) {
        return false;
    }
    const struct bgp_mp *mps[2] = {u->has_mp_reach ? &u->mp_reach : NULL, u->has_mp_unreach ? &u->mp_unreach : NULL};
    for (int i = 0; i < 2; i++) {
        if (!mps[i]) {
            continue;
        }
        int fam = bgp_family_from_afi_safi(mps[i]->afi, mps[i]->safi);
        if (fam < 0 || !(fams & BGP_FAM_BIT(fam))) {
            return false;
        }
    }
    return true;
}

int bgp_fsm_send_update(struct bgp_fsm *fsm, uint64_t now_ms, const struct bgp_update *u)
{
    if (fsm->state != BGP_ESTABLISHED) {
        return BGP_ERR_STATE;
    }
    if (!update_families_ok(fsm, u)) {
        return BGP_ERR_FAMILY;
    }
    struct bgp_msg m = {.type = BGP_MSG_UPDATE};
    m.u.update = *u;
    struct bgp_codec_opts o = {.as4 = fsm->caps.as4, .ebgp = fsm->opts.ebgp, .families = fsm->caps.families};
    buf_reset(&fsm->tx);
    int rc = bgp_msg_encode(&m, &o, &fsm->tx);
    if (rc != 0) {
        return rc;
    }
    if (fsm->caps.keepalive > 0) {
        fsm->t_keepalive = after(now_ms, fsm->caps.keepalive);
    }
    return tx_flush(fsm, now_ms);
}

int bgp_fsm_send_eor(struct bgp_fsm *fsm, uint64_t now_ms, enum bgp_family family)
{
    struct bgp_update u;
    if (family >= BGP_FAM_COUNT) {
        return BGP_ERR_FAMILY;
    }
    bgp_update_init_eor(&u, bgp_family_afi(family), bgp_family_safi(family));
    return bgp_fsm_send_update(fsm, now_ms, &u);
}

int bgp_fsm_send_route_refresh(struct bgp_fsm *fsm, uint64_t now_ms, enum bgp_family family)
{
    if (fsm->state != BGP_ESTABLISHED) {
        return BGP_ERR_STATE;
    }
    if (family >= BGP_FAM_COUNT || !(fsm->caps.families & BGP_FAM_BIT(family)) || !fsm->caps.route_refresh) {
        return BGP_ERR_FAMILY;
    }
    struct bgp_msg m = {.type = BGP_MSG_ROUTE_REFRESH};
    m.u.route_refresh = (struct bgp_route_refresh){bgp_family_afi(family), 0, bgp_family_safi(family)};
    buf_reset(&fsm->tx);
    int rc = bgp_msg_encode(&m, NULL, &fsm->tx);
    return rc ? rc : tx_flush(fsm, now_ms);
}

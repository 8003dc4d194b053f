/* routing/control/xmpp_server.c: the control node's XMPP listener. Each
 * accepted TLS connection (already verified and authorized by lib/tls) gets
 * a control-side xmpp_session whose callbacks go to the route glue; the
 * loop delivers RIB changes in a uv_idle after the reads of an iteration.
 * Handle lifetimes: every uv handle the server owns is counted in
 * 'handles'; xsrv_close() frees the server when the count and the TLS
 * server are gone. */
#include "routing/control/xmpp_server.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "routing/control/agent_config.h"
#include "routing/control/dns_names.h"
#include "routing/control/xmpp_glue.h"
#include "routing/xmpp/xmpp_session.h"

/* One agent connection. 'agent' is non-NULL while the glue holds a
 * connected record for it; 'doomed' connections (not reading, queue full)
 * are torn down in the next idle pass, outside of xglue_flush(). */
struct xconn {
    struct xsrv *srv;
    struct tls_conn *tls;
    struct xmpp_session s;
    struct xglue_agent *agent;
    uv_timer_t timer;
    /* Bytes the TLS queue refused (at its high watermark), in order; they
     * go out at on_drain. TLS queue + 'over' never exceed max_queued. */
    struct buf over;
    char name[XMPP_JID_MAX];
    bool doomed;
    bool config_up;   /* known to srv->cfg as connected */
    bool config_wait; /* a resuming agent: its config waits for its CONFIG_HELD */
    uint64_t config_seq, config_acks, config_nacks;
    struct xconn *prev, *next;
};

/* An agent lost without an orderly close: its stale routes expire when
 * 'timer' fires unless it comes back first. */
struct xstale {
    struct xsrv *srv;
    uv_timer_t timer;
    char name[XMPP_JID_MAX];
    struct xstale *prev, *next;
};

struct xsrv {
    uv_loop_t *loop;
    struct rib *rib;
    struct xglue *glue;
    struct acfg *cfg; /* agents' configuration, NULL: none sent */
    struct tls_ctx *ctx;
    struct tls_server *tls;
    uv_idle_t idle;
    bool idle_active;
    bool in_idle;     /* inside on_idle: its own flush needs no new delivery */
    bool any_doomed;  /* some connection is doomed: on_idle scans them */
    struct xconn *conns;
    uint32_t nconns;
    struct xstale *stale;
    uint64_t hold_ms, stale_ms;
    uint32_t max_conns;
    size_t max_queued;
    uint64_t next_stream_id;
    uv_timer_t eor_timer;  /* while End-of-RIB is held after the start */
    bool eor_holding;
    uint64_t eor_hold_until, last_agent_up, started;
    unsigned handles; /* uv handles not yet closed (+1 for the TLS server) */
    bool closing;
    void (*on_closed)(void *arg);
    void *on_closed_arg;
};

static void srv_maybe_free(struct xsrv *srv)
{
    if (!srv->closing || srv->handles != 0) {
        return;
    }
    void (*on_closed)(void *) = srv->on_closed;
    void *arg = srv->on_closed_arg;
    xglue_free(srv->glue);
    tls_ctx_free(srv->ctx);
    free(srv);
    if (on_closed) {
        on_closed(arg);
    }
}

static void request_flush(struct xsrv *srv);
static void eor_check_now(struct xsrv *srv);

/* ---- stale records ---- */

static void stale_closed(uv_handle_t *h)
{
    struct xstale *st = h->data;
    struct xsrv *srv = st->srv;
    free(st);
    srv->handles--;
    srv_maybe_free(srv);
}

static void stale_remove(struct xstale *st)
{
    struct xsrv *srv = st->srv;
    if (st->prev) {
        st->prev->next = st->next;
    } else {
        srv->stale = st->next;
    }
    if (st->next) {
        st->next->prev = st->prev;
    }
    uv_close((uv_handle_t *)&st->timer, stale_closed);
}

static struct xstale *stale_find(struct xsrv *srv, const char *name)
{
    for (struct xstale *st = srv->stale; st; st = st->next) {
        if (strcmp(st->name, name) == 0) {
            return st;
        }
    }
    return NULL;
}

static void stale_expired(uv_timer_t *t)
{
    struct xstale *st = t->data;
    struct xsrv *srv = st->srv;
    if (xglue_agent_expire(srv->glue, st->name) == 0) {
        request_flush(srv);
    }
    stale_remove(st);
}

/* Starts (or restarts) the stale timer of agent 'name'. Without memory the
 * routes stay stale until the agent returns; said in the log. */
static void stale_start(struct xsrv *srv, const char *name)
{
    struct xstale *st = stale_find(srv, name);
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st) {
            log_error("xmpp", "no memory for a stale timer; routes kept until the agent returns", "agent=%s", name);
            return;
        }
        st->srv = srv;
        snprintf(st->name, sizeof st->name, "%s", name);
        uv_timer_init(srv->loop, &st->timer);
        st->timer.data = st;
        srv->handles++;
        st->next = srv->stale;
        if (st->next) {
            st->next->prev = st;
        }
        srv->stale = st;
    }
    uv_timer_start(&st->timer, stale_expired, srv->stale_ms, 0);
}

/* ---- connections ---- */

static void conn_timer_closed(uv_handle_t *h)
{
    struct xconn *c = h->data;
    struct xsrv *srv = c->srv;
    free(c);
    srv->handles--;
    srv_maybe_free(srv);
}

/* Tells the glue the agent is gone: 'graceful' keeps its routes stale (and
 * starts its stale timer), otherwise they are withdrawn. */
static void conn_agent_down(struct xconn *c, bool graceful)
{
    if (c->config_up) {
        c->config_up = false;
        if (c->srv->cfg) {
            acfg_agent_down(c->srv->cfg, c->name);
        }
    }
    if (!c->agent) {
        return;
    }
    xglue_agent_down(c->srv->glue, c->agent, graceful);
    c->agent = NULL;
    if (graceful) {
        stale_start(c->srv, c->name);
    }
    request_flush(c->srv);
}

/* Releases 'c': session, TLS connection (reset if still live), timer. */
static void conn_free(struct xconn *c)
{
    struct xsrv *srv = c->srv;
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        srv->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    srv->nconns--;
    xmpp_session_destroy(&c->s);
    buf_destroy(&c->over);
    tls_conn_free(c->tls);
    c->tls = NULL;
    uv_close((uv_handle_t *)&c->timer, conn_timer_closed);
}

static void conn_timer_fired(uv_timer_t *t);

static void conn_arm(struct xconn *c)
{
    uint64_t d = xmpp_session_next_deadline(&c->s);
    if (d == UINT64_MAX) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = uv_now(c->srv->loop);
    uv_timer_start(&c->timer, conn_timer_fired, d > now ? d - now : 0, 0);
}

/* After input or a tick: a closed session ends the TLS connection (its
 * last bytes, a stream error or close, are flushed first). */
static void conn_after(struct xconn *c)
{
    if (c->s.state == XMPP_SESSION_CLOSED) {
        uv_timer_stop(&c->timer);
        tls_conn_close(c->tls);
        return;
    }
    conn_arm(c);
}

static void conn_timer_fired(uv_timer_t *t)
{
    struct xconn *c = t->data;
    xmpp_session_tick(&c->s, uv_now(c->srv->loop));
    conn_after(c);
}

/* Writes or queues 'data'; a connection whose queued bytes would pass
 * max_queued is doomed (dropped at the next idle pass, outside
 * xglue_flush()). */
static void ses_send(void *arg, const uint8_t *data, size_t size)
{
    struct xconn *c = arg;
    if (c->doomed) {
        return;
    }
    int rc = c->over.size ? TLS_EAGAIN : tls_conn_write(c->tls, data, size);
    if (rc != TLS_EAGAIN) {
        return; /* sent, or TLS_ECLOSED: on_close follows */
    }
    size_t queued = tls_conn_queued_size(c->tls);
    if (queued + c->over.size + size > c->srv->max_queued || buf_put(&c->over, data, size) != 0) {
        log_warn("xmpp", "agent does not read its routes fast enough; dropping its connection",
                 "agent=%s queued=%zu", c->name, queued + c->over.size);
        c->doomed = true;
        c->srv->any_doomed = true;
        request_flush(c->srv);
    }
}

static void ses_established(void *arg, const char *peer)
{
    struct xconn *c = arg;
    struct xsrv *srv = c->srv;
    snprintf(c->name, sizeof c->name, "%s", peer);
    /* The certificate proved who this is: a new connection of a connected
     * agent (restarted before its old connection timed out) replaces the
     * old one, which is reset as lost (its routes stay stale until the new
     * session's End-of-RIB). The glue's record of a connected agent holds
     * the session of its connection. */
    struct xmpp_session *old = xglue_agent_session(srv->glue, peer);
    if (old && old != &c->s) {
        struct xconn *o = (struct xconn *)(void *)((char *)old - offsetof(struct xconn, s));
        log_warn("xmpp", "agent reconnected; its previous connection is dropped", "agent=%s", peer);
        conn_agent_down(o, true);
        conn_free(o);
    }
    int rc = xglue_agent_up(srv->glue, peer, &c->s, &c->agent);
    if (rc != 0) {
        c->agent = NULL;
        log_warn("xmpp", "agent refused", "agent=%s err=\"%s\"", peer, strata_strerror(rc));
        xmpp_session_close(&c->s, rc == RIB_ERR_EXISTS ? XMPP_SC_CONFLICT : XMPP_SC_INTERNAL_SERVER_ERROR,
                           rc == RIB_ERR_EXISTS ? "agent already connected" : NULL);
        return;
    }
    struct xstale *st = stale_find(srv, peer);
    if (st) {
        stale_remove(st);
    }
    c->config_wait = c->s.peer_resume;
    if (srv->cfg && !c->config_wait) {
        if (acfg_agent_up(srv->cfg, peer, c) == 0) {
            c->config_up = true;
        } else {
            log_error("xmpp", "no memory for the agent's configuration state", "agent=%s", peer);
        }
    }
    srv->last_agent_up = uv_now(srv->loop);
    log_info("xmpp", "agent up", "agent=%s", peer);
}

static void ses_closed(void *arg, enum xmpp_stream_cond cond, const char *text, bool by_peer)
{
    struct xconn *c = arg;
    log_info("xmpp", "session closed", "agent=%s cond=%s by_peer=%d text=\"%s\"", c->name[0] ? c->name : "?",
             cond == XMPP_SC_NONE ? "none" : xmpp_stream_cond_name(cond), by_peer, text ? text : "");
    conn_agent_down(c, !(cond == XMPP_SC_NONE && by_peer));
}

static void ses_subscribe(void *arg, const char *instance, uint32_t instance_id)
{
    (void)instance_id;
    struct xconn *c = arg;
    if (!c->agent) {
        return;
    }
    int rc = xglue_subscribe(c->srv->glue, c->agent, instance);
    if (rc != 0) {
        log_warn("xmpp", "subscribe failed", "agent=%s instance=%s err=\"%s\"", c->name, instance,
                 strata_strerror(rc));
    }
}

static void ses_subscribe_digest(void *arg, const char *instance, uint32_t instance_id, uint64_t digest)
{
    (void)instance_id;
    struct xconn *c = arg;
    if (!c->agent) {
        return;
    }
    int rc = xglue_subscribe_digest(c->srv->glue, c->agent, instance, digest);
    if (rc != 0) {
        log_warn("xmpp", "subscribe failed", "agent=%s instance=%s err=\"%s\"", c->name, instance,
                 strata_strerror(rc));
    }
}

/* A resuming agent's announcement of the config it holds: from now on it
 * gets its config, starting with only what differs. */
static void ses_config_held(void *arg, const struct xmpp_held_obj *held, size_t count)
{
    struct xconn *c = arg;
    struct xsrv *srv = c->srv;
    if (!c->agent || !c->config_wait) {
        return; /* a second announcement changes nothing */
    }
    c->config_wait = false;
    if (!srv->cfg) {
        return;
    }
    int rc = c->config_up ? 0 : acfg_agent_up(srv->cfg, c->name, c);
    if (rc == 0) {
        c->config_up = true;
        rc = acfg_agent_held(srv->cfg, c->name, held, count);
    }
    if (rc != 0) {
        log_error("xmpp", "no memory for the agent's configuration state", "agent=%s", c->name);
    }
    log_info("xmpp", "agent resumes its configuration", "agent=%s held=%zu", c->name, count);
}

static void ses_unsubscribe(void *arg, const char *instance)
{
    struct xconn *c = arg;
    if (c->agent) {
        xglue_unsubscribe(c->srv->glue, c->agent, instance);
    }
}

static void ses_publish(void *arg, const char *instance, const struct xmpp_route_entry *e)
{
    struct xconn *c = arg;
    if (!c->agent) {
        return;
    }
    int rc = xglue_publish(c->srv->glue, c->agent, instance, e);
    if (rc != 0) {
        log_warn("xmpp", "publish refused", "agent=%s instance=%s err=\"%s\"", c->name, instance,
                 strata_strerror(rc));
    }
}

static void ses_withdraw(void *arg, const char *instance, enum xmpp_family family, const struct xmpp_route_key *key)
{
    struct xconn *c = arg;
    if (c->agent) {
        xglue_withdraw(c->srv->glue, c->agent, instance, family, key);
    }
}

static void ses_eor(void *arg)
{
    struct xconn *c = arg;
    if (c->agent) {
        int n = xglue_eor(c->srv->glue, c->agent);
        log_info("xmpp", "agent End-of-RIB", "agent=%s swept=%d", c->name, n);
        eor_check_now(c->srv);
    }
}

static void ses_config_ack(void *arg, const char *id, bool ok)
{
    struct xconn *c = arg;
    if (ok) {
        c->config_acks++;
    } else {
        c->config_nacks++;
        log_warn("xmpp", "agent refused a config stanza", "agent=%s id=%s", c->name, id);
    }
}

/* An agent's instance-name question, answered on its own session from the
 * indexes of the agents' configuration (routing/control/dns_names.h); not
 * found while no configuration is attached. */
static void ses_dns_query(void *arg, const struct xmpp_stanza *q)
{
    struct xconn *c = arg;
    struct xmpp_stanza a = {.type = XMPP_STANZA_DNS_ANSWER};
    memcpy(a.id, q->id, sizeof a.id);
    memcpy(a.to, q->from, sizeof a.to);
    dnsn_resolve(c->srv->cfg ? acfg_indexes(c->srv->cfg) : NULL, c->agent ? c->name : NULL, &q->dns, &a.dns);
    log_debug("xmpp", "instance-name question", "agent=%s interface=%s name=%s found=%d", c->name,
              q->dns.interface, q->dns.name, (int)a.dns.found);
    int rc = xmpp_session_send(&c->s, uv_now(c->srv->loop), &a);
    if (rc != 0) {
        log_warn("xmpp", "cannot answer an instance-name question", "agent=%s err=\"%s\"", c->name,
                 strata_strerror(rc));
    }
}

static const struct xmpp_session_ops session_ops = {
    .dns_query = ses_dns_query,
    .config_ack = ses_config_ack,
    .send = ses_send,
    .established = ses_established,
    .closed = ses_closed,
    .subscribe = ses_subscribe,
    .subscribe_digest = ses_subscribe_digest,
    .config_held = ses_config_held,
    .unsubscribe = ses_unsubscribe,
    .route_publish = ses_publish,
    .route_withdraw = ses_withdraw,
    .eor = ses_eor,
};

static void tls_on_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct xconn *c = tls_conn_data(conn);
    if (c->doomed || c->s.state == XMPP_SESSION_CLOSED) {
        return;
    }
    int rc = xmpp_session_input(&c->s, uv_now(c->srv->loop), data, size);
    if (rc != 0 && rc != XMPP_ERR_STREAM) {
        log_warn("xmpp", "input refused", "agent=%s err=\"%s\"", c->name[0] ? c->name : "?", strata_strerror(rc));
    }
    conn_after(c);
    request_flush(c->srv);
}

static void tls_on_close(struct tls_conn *conn, int status)
{
    struct xconn *c = tls_conn_data(conn);
    if (c->agent) {
        log_info("xmpp", "agent connection lost", "agent=%s status=\"%s\"", c->name,
                 status ? strata_strerror(status) : "closed");
    }
    conn_agent_down(c, true);
    conn_free(c);
}

static void tls_on_drain(struct tls_conn *conn)
{
    struct xconn *c = tls_conn_data(conn);
    if (c->over.size && !c->doomed && tls_conn_write(conn, c->over.data, c->over.size) == 0) {
        buf_destroy(&c->over); /* a burst's storage is not kept */
        buf_init(&c->over, 0);
    }
}

static const struct tls_conn_callbacks conn_cbs = {
    .on_read = tls_on_read,
    .on_drain = tls_on_drain,
    .on_close = tls_on_close,
};

static int srv_authorize(struct tls_server *server, struct tls_conn *conn, const char *identity)
{
    struct xsrv *srv = tls_server_data(server);
    if (!pki_cert_has_role(tls_conn_peer_cert(conn), PKI_ROLE_AGENT)) {
        log_warn("xmpp", "refused: certificate without the agent role", "identity=%s", identity);
        return -1;
    }
    if (srv->nconns >= srv->max_conns) {
        log_warn("xmpp", "refused: connection limit reached", "identity=%s max=%u", identity, srv->max_conns);
        return -1;
    }
    return 0;
}

static void srv_reject(struct tls_server *server, int status, const char *identity)
{
    (void)server;
    log_info("xmpp", "TLS connection refused", "identity=%s err=\"%s\"", identity ? identity : "-",
             strata_strerror(status));
}

static void srv_accept(struct tls_server *server, struct tls_conn *conn)
{
    struct xsrv *srv = tls_server_data(server);
    struct xconn *c = calloc(1, sizeof *c);
    if (!c) {
        log_error("xmpp", "no memory for a connection", "identity=%s", tls_conn_peer_identity(conn));
        tls_conn_free(conn);
        return;
    }
    c->srv = srv;
    c->tls = conn;
    buf_init(&c->over, 0);
    snprintf(c->name, sizeof c->name, "%s", tls_conn_peer_identity(conn));
    char sid[32];
    snprintf(sid, sizeof sid, "%llx", (unsigned long long)++srv->next_stream_id);
    struct xmpp_session_config sc = {
        .role = XMPP_ROLE_CONTROL,
        .peer_identity = tls_conn_peer_identity(conn),
        .stream_id = sid,
        .hold_ms = srv->hold_ms,
    };
    int rc = xmpp_session_init(&c->s, &sc, &session_ops, c);
    if (rc == 0) {
        rc = xmpp_session_start(&c->s, uv_now(srv->loop));
        if (rc != 0) {
            xmpp_session_destroy(&c->s);
        }
    }
    if (rc != 0) {
        log_error("xmpp", "session setup failed", "identity=%s err=\"%s\"", tls_conn_peer_identity(conn),
                  strata_strerror(rc));
        tls_conn_free(conn);
        buf_destroy(&c->over);
        free(c);
        return;
    }
    tls_conn_set_callbacks(conn, &conn_cbs, c);
    uv_timer_init(srv->loop, &c->timer);
    c->timer.data = c;
    srv->handles++;
    c->next = srv->conns;
    if (c->next) {
        c->next->prev = c;
    }
    srv->conns = c;
    srv->nconns++;
    conn_arm(c);
}

/* ---- delivery ---- */

/* acfg_send_fn: one config stanza to the agent's connection. */
static int send_config(void *arg, void *user, const struct xmpp_config_obj *objs, size_t count)
{
    struct xsrv *srv = arg;
    struct xconn *c = user;
    if (!c || c->doomed || c->s.state != XMPP_SESSION_ESTABLISHED) {
        return -1;
    }
    struct xmpp_stanza st = {.type = XMPP_STANZA_CONFIG, .objs = (struct xmpp_config_obj *)objs, .obj_count = count};
    snprintf(st.id, sizeof st.id, "config-%llu", (unsigned long long)++c->config_seq);
    snprintf(st.to, sizeof st.to, "%s", c->name);
    snprintf(st.from, sizeof st.from, "%s", XMPP_CONTROL_JID);
    int rc = xmpp_session_send(&c->s, uv_now(srv->loop), &st);
    if (rc != 0) {
        log_warn("xmpp", "config stanza not sent", "agent=%s err=\"%s\"", c->name, strata_strerror(rc));
    }
    return rc;
}

void xsrv_set_stale_ms(struct xsrv *srv, uint64_t stale_ms)
{
    srv->stale_ms = stale_ms ? stale_ms : XSRV_DEFAULT_STALE_MS;
}

void xsrv_set_agent_config(struct xsrv *srv, struct acfg *cfg)
{
    srv->cfg = cfg;
    for (struct xconn *c = srv->conns; cfg && c; c = c->next) {
        if (c->agent && !c->config_up && !c->config_wait && acfg_agent_up(cfg, c->name, c) == 0) {
            c->config_up = true;
        }
    }
    request_flush(srv);
}

static void on_idle(uv_idle_t *h)
{
    struct xsrv *srv = h->data;
    uv_idle_stop(&srv->idle);
    srv->idle_active = false;
    for (int round = 0; round < 2; round++) {
        struct xconn *next;
        /* the list is walked only when some connection is doomed: at 1,000
         * agents two walks per loop iteration were a visible share of the
         * role's CPU */
        for (struct xconn *c = srv->any_doomed ? srv->conns : NULL; c; c = next) {
            next = c->next;
            if (c->doomed) {
                conn_agent_down(c, true);
                conn_free(c);
            }
        }
        srv->any_doomed = false;
        if (round == 0) {
            srv->in_idle = true;
            (void)xglue_flush(srv->glue, uv_now(srv->loop));
            if (srv->cfg && acfg_pending(srv->cfg) && acfg_flush(srv->cfg, send_config, srv) < 0) {
                log_error("xmpp", "no memory for agents' configuration; retried on the next change", NULL);
            }
            srv->in_idle = false;
        }
    }
    /* Drops in the second round changed the RIB (stale marks): deliver them
     * on the next iteration. */
}

static void request_flush(struct xsrv *srv)
{
    if (srv->idle_active || srv->closing) {
        return;
    }
    srv->idle_active = true;
    uv_idle_start(&srv->idle, on_idle);
}

void xsrv_kick(struct xsrv *srv)
{
    request_flush(srv);
}

static void glue_notify(void *arg)
{
    struct xsrv *srv = arg;
    if (!srv->in_idle) {
        request_flush(srv);
    }
}

/* ---- graceful restart: End-of-RIB held after the start ---- */

static void eor_release(struct xsrv *srv, const char *why)
{
    if (!srv->eor_holding) {
        return;
    }
    srv->eor_holding = false;
    uv_timer_stop(&srv->eor_timer);
    xglue_hold_eor(srv->glue, false);
    size_t connected = 0;
    (void)xglue_agents_pending_eor(srv->glue, &connected);
    log_info("xmpp", "End-of-RIB to agents released", "reason=%s after_ms=%llu agents=%zu missing=%zu", why,
             (unsigned long long)(uv_now(srv->loop) - srv->started), connected,
             srv->cfg ? acfg_agents_missing(srv->cfg) : 0);
    request_flush(srv);
}

/* Whether the held End-of-RIB can go: every connected agent sent its own
 * and, with the agents' configuration, every router of it has its agent
 * connected ("all-agents-synced": nobody else is expected, no quiet
 * time); otherwise ("agents-synced") no agent connected for the quiet
 * time. '*why' gets the reason. */
static bool eor_synced(struct xsrv *srv, uint64_t now, const char **why)
{
    size_t connected = 0;
    size_t pending = xglue_agents_pending_eor(srv->glue, &connected);
    if (connected == 0 || pending > 0) {
        return false;
    }
    size_t missing = 0;
    if (srv->cfg) {
        size_t routers = json_object_size(acfg_indexes(srv->cfg));
        /* fewer agents than routers: some are missing (the count is cheap) */
        missing = connected < routers ? routers - connected : acfg_agents_missing(srv->cfg);
        if (routers > 0 && missing == 0) {
            *why = "all-agents-synced";
            return true;
        }
    }
    *why = "agents-synced";
    return now - srv->last_agent_up >= (missing ? XSRV_EOR_QUIET_MISSING_MS : XSRV_EOR_QUIET_MS);
}

/* Between timer ticks, at an agent's End-of-RIB: the last one releases. */
static void eor_check_now(struct xsrv *srv)
{
    const char *why;
    if (srv->eor_holding && eor_synced(srv, uv_now(srv->loop), &why)) {
        eor_release(srv, why);
    }
}

static void eor_check(uv_timer_t *t)
{
    struct xsrv *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    const char *why;
    if (now >= srv->eor_hold_until) {
        eor_release(srv, "timer");
    } else if (eor_synced(srv, now, &why)) {
        eor_release(srv, why);
    }
}

/* ---- life cycle ---- */

static void handle_closed(uv_handle_t *h)
{
    struct xsrv *srv = h->data;
    srv->handles--;
    srv_maybe_free(srv);
}

static void idle_closed(uv_handle_t *h)
{
    struct xsrv *srv = h->data;
    srv->handles--;
    srv_maybe_free(srv);
}

static void tls_server_closed(void *data)
{
    struct xsrv *srv = data;
    srv->handles--;
    srv_maybe_free(srv);
}

int xsrv_create(uv_loop_t *loop, struct rib *rib, const struct xsrv_config *cfg, struct xsrv **out, char *errmsg,
                size_t errmsg_size)
{
    if (!loop || !rib || !cfg || !cfg->ca || !cfg->cert || !cfg->key || !out) {
        snprintf(errmsg, errmsg_size, "CA, certificate and key are required");
        return LIB_EINVAL;
    }
    struct xsrv *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(errmsg, errmsg_size, "out of memory");
        return LIB_ENOMEM;
    }
    srv->loop = loop;
    srv->rib = rib;
    srv->hold_ms = cfg->hold_ms ? cfg->hold_ms : XMPP_DEFAULT_HOLD_MS;
    srv->stale_ms = cfg->stale_ms ? cfg->stale_ms : XSRV_DEFAULT_STALE_MS;
    srv->max_conns = cfg->max_conns ? cfg->max_conns : XSRV_DEFAULT_MAX_CONNS;
    srv->max_queued = cfg->max_queued ? cfg->max_queued : XSRV_DEFAULT_MAX_QUEUED;
    int rc = xglue_create(rib, &srv->glue);
    if (rc != 0) {
        snprintf(errmsg, errmsg_size, "glue: %s", strata_strerror(rc));
        goto fail_srv;
    }
    struct tls_config tc = {
        .role = TLS_ROLE_SERVER,
        .client_auth = TLS_CLIENT_AUTH_REQUIRED,
        .ca = cfg->ca,
        .cert = cfg->cert,
        .key = cfg->key,
        .write_high_watermark = cfg->write_high_watermark ? cfg->write_high_watermark : XSRV_DEFAULT_HIGH_WATERMARK,
    };
    rc = tls_ctx_create(&tc, &srv->ctx, errmsg, errmsg_size);
    if (rc != 0) {
        goto fail_glue;
    }
    static const struct tls_server_callbacks scbs = {
        .on_accept = srv_accept,
        .authorize = srv_authorize,
        .on_reject = srv_reject,
    };
    rc = tls_server_create(srv->ctx, loop, &scbs, srv, &srv->tls);
    if (rc != 0) {
        snprintf(errmsg, errmsg_size, "TLS server: %s", strata_strerror(rc));
        goto fail_ctx;
    }
    uint16_t port = cfg->ephemeral ? 0 : cfg->port ? cfg->port : XSRV_DEFAULT_PORT;
    if (cfg->listen_fd > 0) {
        int fd = cfg->listen_fd;
        rc = tls_server_listen_fd(srv->tls, &fd);
    } else {
        rc = tls_server_listen(srv->tls, cfg->listen[0] ? cfg->listen : "0.0.0.0", port);
    }
    if (rc != 0) {
        snprintf(errmsg, errmsg_size, "listen %s port %u: %s", cfg->listen[0] ? cfg->listen : "0.0.0.0", port,
                 strata_strerror(rc));
        goto fail_server;
    }
    uv_idle_init(loop, &srv->idle);
    srv->idle.data = srv;
    xglue_set_notify(srv->glue, glue_notify, srv);
    uv_timer_init(loop, &srv->eor_timer);
    srv->eor_timer.data = srv;
    srv->handles = 3; /* idle + EoR timer + TLS server */
    srv->started = srv->last_agent_up = uv_now(loop);
    if (!cfg->no_eor_hold) {
        srv->eor_holding = true;
        srv->eor_hold_until = srv->started + (cfg->eor_hold_ms ? cfg->eor_hold_ms : XSRV_DEFAULT_EOR_HOLD_MS);
        xglue_hold_eor(srv->glue, true);
        uv_timer_start(&srv->eor_timer, eor_check, 50, 50);
    }
    *out = srv;
    return 0;

fail_server:
    /* The TLS server frees itself asynchronously; the context must outlive
     * it, so it is released when the server is gone. */
    srv->closing = true;
    srv->handles = 1;
    tls_server_close(srv->tls, tls_server_closed);
    return rc;
fail_ctx:
    tls_ctx_free(srv->ctx);
fail_glue:
    xglue_free(srv->glue);
fail_srv:
    free(srv);
    return rc;
}

uint16_t xsrv_port(const struct xsrv *srv)
{
    return tls_server_port(srv->tls);
}

void xsrv_close(struct xsrv *srv)
{
    xsrv_close_cb(srv, NULL, NULL);
}

void xsrv_close_cb(struct xsrv *srv, void (*on_closed)(void *arg), void *arg)
{
    if (!srv || srv->closing) {
        return;
    }
    srv->on_closed = on_closed;
    srv->on_closed_arg = arg;
    while (srv->conns) {
        struct xconn *c = srv->conns;
        conn_agent_down(c, false);
        conn_free(c);
    }
    while (srv->stale) {
        stale_remove(srv->stale);
    }
    srv->closing = true;
    uv_idle_stop(&srv->idle);
    uv_close((uv_handle_t *)&srv->idle, idle_closed);
    uv_timer_stop(&srv->eor_timer);
    uv_close((uv_handle_t *)&srv->eor_timer, handle_closed);
    tls_server_close(srv->tls, tls_server_closed);
}

/* ---- operators' views ---- */

static json_t *agent_json(struct xsrv *srv, const char *name, size_t queued, const struct xconn *c)
{
    struct xglue_agent_stats st;
    if (xglue_agent_stats(srv->glue, name, &st) != 0) {
        return NULL;
    }
    size_t objects = 0, stanzas = 0;
    json_t *o = json_pack("{s:s,s:b,s:i,s:I,s:I,s:I,s:I,s:I}", "name", name, "connected", st.connected,
                     "subscriptions", (int)st.subscriptions, "published", (json_int_t)st.published, "withdrawn",
                     (json_int_t)st.withdrawn, "items_sent", (json_int_t)st.items_sent, "messages_sent",
                     (json_int_t)st.messages_sent, "queued_bytes", (json_int_t)queued);
    if (o) {
        json_object_set_new(o, "in_sync", json_integer((json_int_t)st.in_sync));
        json_object_set_new(o, "resume_dumps", json_integer((json_int_t)st.resume_dumps));
    }
    if (o && c && srv->cfg && acfg_agent_stats(srv->cfg, name, &objects, &stanzas) == 0) {
        json_object_set_new(o, "config_objects", json_integer((json_int_t)objects));
        json_object_set_new(o, "config_stanzas", json_integer((json_int_t)stanzas));
        json_object_set_new(o, "config_acks", json_integer((json_int_t)c->config_acks));
        json_object_set_new(o, "config_refused", json_integer((json_int_t)c->config_nacks));
    }
    return o;
}

json_t *xsrv_agents_json(struct xsrv *srv)
{
    json_t *arr = json_array();
    if (!arr) {
        return NULL;
    }
    for (struct xconn *c = srv->conns; c; c = c->next) {
        if (c->agent) {
            json_t *o = agent_json(srv, c->name, c->tls ? tls_conn_queued_size(c->tls) : 0, c);
            if (o && json_array_append_new(arr, o) != 0) {
                json_decref(arr);
                return NULL;
            }
        }
    }
    for (struct xstale *st = srv->stale; st; st = st->next) {
        json_t *o = agent_json(srv, st->name, 0, NULL);
        if (o && json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return json_pack("{s:o,s:i}", "agents", arr, "connections", (int)srv->nconns);
}

struct routes_ctx {
    struct xsrv *srv;
    json_t *arr;
};

static int route_json(void *ctx, const struct rib_prefix *p, const struct rib_path *paths, size_t count, size_t nbest)
{
    struct routes_ctx *rc = ctx;
    char pfx[128];
    rib_prefix_format(p, pfx, sizeof pfx);
    json_t *pa = json_array();
    json_t *r = json_pack("{s:s,s:o}", "prefix", pfx, "paths", pa);
    if (!r || json_array_append_new(rc->arr, r) != 0) {
        return LIB_ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        const struct rib_path *path = &paths[i];
        const struct rib_source_info *si = rib_source_get(rc->srv->rib, path->source);
        char nh[INET6_ADDRSTRLEN] = "";
        const struct rib_addr *a = &path->attr->nexthop;
        if (a->af == 4 || a->af == 6) {
            inet_ntop(a->af == 4 ? AF_INET : AF_INET6, a->b, nh, sizeof nh);
        }
        json_t *o = json_pack("{s:s,s:s,s:I,s:b,s:b}", "source", si && si->name ? si->name : "", "nexthop", nh,
                              "label", (json_int_t)path->label, "stale", (path->flags & RIB_PATH_STALE) != 0, "best",
                              i < nbest);
        if (!o || json_array_append_new(pa, o) != 0) {
            return LIB_ENOMEM;
        }
    }
    return 0;
}

json_t *xsrv_routes_json(struct xsrv *srv, const char *table)
{
    struct rib_table *t = table ? rib_table_find(srv->rib, table) : NULL;
    if (!t) {
        return NULL;
    }
    struct routes_ctx rc = {.srv = srv, .arr = json_array()};
    if (!rc.arr || rib_table_walk(t, route_json, &rc) != 0) {
        json_decref(rc.arr);
        return NULL;
    }
    return json_pack("{s:s,s:o}", "table", table, "routes", rc.arr);
}

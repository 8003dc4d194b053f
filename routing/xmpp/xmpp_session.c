/* The XMPP session state machine (see xmpp_session.h). Input goes through
 * the stream parser, whose callbacks drive the open exchange and the
 * stanza dispatch; every output is assembled in one buffer and handed to
 * the 'send' callback at once. The only clocks are the 'now' arguments:
 * any received byte pushes the hold deadline, any sent byte pushes the
 * keepalive deadline. */
#include "routing/xmpp/xmpp_session.h"

#include <stdio.h>
#include <string.h>

static void flush(struct xmpp_session *s)
{
    if (s->out.size > 0) {
        s->ops.send(s->arg, s->out.data, s->out.size);
        buf_reset(&s->out);
        s->keepalive_deadline = s->now + s->cfg.keepalive_ms;
    }
}

static void report_closed(struct xmpp_session *s, enum xmpp_stream_cond cond, const char *text, bool by_peer)
{
    s->state = XMPP_SESSION_CLOSED;
    s->close_cond = cond;
    if (!s->closed_reported) {
        s->closed_reported = true;
        if (s->ops.closed) {
            s->ops.closed(s->arg, cond, text ? text : "", by_peer);
        }
    }
}

/* Our stream header, once. */
static int send_header(struct xmpp_session *s, const char *to, const char *content_ns)
{
    if (s->sent_header) {
        return 0;
    }
    struct xmpp_stream_header h = {.from = s->local_jid, .to = to, .id = s->stream_id[0] ? s->stream_id : NULL,
                                   .version = "1.0", .content_ns = content_ns,
                                   .resume = s->cfg.role == XMPP_ROLE_AGENT && s->cfg.resume};
    int rc = xmpp_stream_write_header(&s->out, &h);
    if (rc == 0) {
        s->sent_header = true;
    }
    return rc;
}

/* Sends the close (and the error before it) and reports it. */
static void close_with(struct xmpp_session *s, enum xmpp_stream_cond cond, const char *text, bool by_peer)
{
    if (s->state == XMPP_SESSION_CLOSED) {
        return;
    }
    /* RFC 6120 §4.9.1.2: a stream error before our header follows one */
    if (!s->sent_header && send_header(s, s->peer[0] ? s->peer : NULL, NULL) != 0) {
        buf_reset(&s->out);
    }
    int rc = cond == XMPP_SC_NONE || by_peer ? xmpp_stream_write_close(&s->out)
                                             : xmpp_stream_write_error(&s->out, cond, text);
    if (rc != 0) {
        /* the text did not encode: send the condition alone */
        rc = xmpp_stream_write_error(&s->out, cond, NULL);
    }
    if (rc == 0) {
        flush(s);
    }
    buf_reset(&s->out);
    xmpp_stream_fail(&s->in, cond == XMPP_SC_NONE ? XMPP_SC_UNDEFINED_CONDITION : cond, text);
    report_closed(s, cond, text, by_peer);
}

void xmpp_session_close(struct xmpp_session *s, enum xmpp_stream_cond cond, const char *text)
{
    close_with(s, cond, text, false);
}

static int send_stanza(struct xmpp_session *s, const struct xmpp_stanza *st)
{
    int rc = xmpp_stanza_encode(&s->out, st);
    if (rc == 0) {
        flush(s);
    }
    return rc;
}

int xmpp_session_send(struct xmpp_session *s, uint64_t now, const struct xmpp_stanza *st)
{
    if (s->state != XMPP_SESSION_ESTABLISHED) {
        return XMPP_ERR_STATE;
    }
    if (now > s->now) {
        s->now = now;
    }
    return send_stanza(s, st);
}

int xmpp_session_send_routes(struct xmpp_session *s, uint64_t now, const struct xmpp_stanza *st, const uint8_t *items,
                             size_t size)
{
    if (s->state != XMPP_SESSION_ESTABLISHED) {
        return XMPP_ERR_STATE;
    }
    if (now > s->now) {
        s->now = now;
    }
    int rc = xmpp_stanza_encode_routes(&s->out, st, items, size);
    if (rc == 0) {
        flush(s);
    }
    return rc;
}

/* iq result or error answering 'req' */
static void answer(struct xmpp_session *s, const struct xmpp_stanza *req, const char *condition)
{
    struct xmpp_stanza a;
    memset(&a, 0, sizeof a);
    a.type = condition ? XMPP_STANZA_ERROR : XMPP_STANZA_RESULT;
    memcpy(a.id, req->id, sizeof a.id);
    memcpy(a.to, req->from, sizeof a.to);
    if (condition) {
        snprintf(a.error_type, sizeof a.error_type, "cancel");
        snprintf(a.condition, sizeof a.condition, "%s", condition);
    }
    if (send_stanza(s, &a) != 0) {
        close_with(s, XMPP_SC_INTERNAL_SERVER_ERROR, "cannot encode an answer", false);
    }
}

/* ---- stream callbacks ---- */

static void on_open(void *arg, const struct xmpp_stream_header *h)
{
    struct xmpp_session *s = arg;
    const char *from = h->from ? h->from : "";
    snprintf(s->peer, sizeof s->peer, "%s", from);
    s->peer_resume = h->resume;
    if (s->cfg.role == XMPP_ROLE_CONTROL) {
        if (send_header(s, from[0] ? from : NULL, h->content_ns) != 0) {
            close_with(s, XMPP_SC_INTERNAL_SERVER_ERROR, "cannot encode the stream header", false);
            return;
        }
        if (from[0] == '\0') {
            close_with(s, XMPP_SC_NOT_AUTHORIZED, "stream header without 'from'", false);
            return;
        }
        if (strcmp(from, s->peer_identity) != 0) {
            close_with(s, XMPP_SC_INVALID_FROM, "'from' does not match the TLS certificate", false);
            return;
        }
    } else if (s->peer_identity[0] && strcmp(from, s->peer_identity) != 0) {
        close_with(s, XMPP_SC_INVALID_FROM, "unexpected control node identity", false);
        return;
    }
    flush(s);
    s->state = XMPP_SESSION_ESTABLISHED;
    if (s->ops.established) {
        s->ops.established(s->arg, s->peer);
    }
}

static void on_close(void *arg)
{
    struct xmpp_session *s = arg;
    close_with(s, XMPP_SC_NONE, NULL, true);
}

static bool is_ping_id(const char *id)
{
    return strncmp(id, "ping-", 5) == 0;
}

static void dispatch_control(struct xmpp_session *s, const struct xmpp_stanza *st)
{
    switch (st->type) {
    case XMPP_STANZA_SUBSCRIBE:
        if (st->has_digest && s->ops.subscribe_digest) {
            s->ops.subscribe_digest(s->arg, st->instance, st->instance_id, st->digest);
        } else if (s->ops.subscribe) {
            s->ops.subscribe(s->arg, st->instance, st->instance_id);
        }
        return;
    case XMPP_STANZA_CONFIG_HELD:
        if (s->ops.config_held) {
            s->ops.config_held(s->arg, st->held, st->held_count);
        }
        answer(s, st, NULL);
        return;
    case XMPP_STANZA_UNSUBSCRIBE:
        if (s->ops.unsubscribe) {
            s->ops.unsubscribe(s->arg, st->instance);
        }
        return;
    case XMPP_STANZA_PUBLISH:
        if (s->ops.route_publish) {
            s->ops.route_publish(s->arg, st->instance, st->entry);
        }
        return;
    case XMPP_STANZA_ASSOCIATE:
        return; /* the publish before it carried the route (as the anchor) */
    case XMPP_STANZA_DISSOCIATE:
        if (s->ops.route_withdraw) {
            s->ops.route_withdraw(s->arg, st->instance, st->family, &st->key);
        }
        return;
    case XMPP_STANZA_EOR:
        if (s->ops.eor) {
            s->ops.eor(s->arg);
        }
        return;
    case XMPP_STANZA_RESULT:
    case XMPP_STANZA_ERROR:
        if (s->ops.config_ack) {
            s->ops.config_ack(s->arg, st->id, st->type == XMPP_STANZA_RESULT);
        }
        return;
    case XMPP_STANZA_DNS_QUERY:
        if (s->ops.dns_query) {
            s->ops.dns_query(s->arg, st);
        } else {
            answer(s, st, "service-unavailable");
        }
        return;
    case XMPP_STANZA_ROUTES:
    case XMPP_STANZA_EOR_EVENT:
    case XMPP_STANZA_CONFIG:
    case XMPP_STANZA_DNS_ANSWER:
    case XMPP_STANZA_PING:
    case XMPP_STANZA_IN_SYNC:
    case XMPP_STANZA_NONE:
        break;
    }
    close_with(s, XMPP_SC_UNSUPPORTED_STANZA_TYPE, "stanza not accepted from an agent", false);
}

static void dispatch_agent(struct xmpp_session *s, const struct xmpp_stanza *st)
{
    switch (st->type) {
    case XMPP_STANZA_ROUTES:
        if (s->ops.routes) {
            s->ops.routes(s->arg, st);
        }
        return;
    case XMPP_STANZA_EOR_EVENT:
        if (s->ops.eor) {
            s->ops.eor(s->arg);
        }
        return;
    case XMPP_STANZA_CONFIG: {
        int rc = s->ops.config ? s->ops.config(s->arg, st) : 0;
        answer(s, st, rc == 0 ? NULL : "bad-request");
        return;
    }
    case XMPP_STANZA_IN_SYNC:
        if (s->ops.in_sync) {
            s->ops.in_sync(s->arg, st->instance);
        }
        return;
    case XMPP_STANZA_RESULT:
    case XMPP_STANZA_ERROR:
        return; /* our sets' answers; pongs are counted earlier */
    case XMPP_STANZA_DNS_ANSWER:
        if (s->ops.dns_answer) {
            s->ops.dns_answer(s->arg, st);
        }
        return;
    case XMPP_STANZA_DNS_QUERY:
    case XMPP_STANZA_SUBSCRIBE:
    case XMPP_STANZA_UNSUBSCRIBE:
    case XMPP_STANZA_PUBLISH:
    case XMPP_STANZA_ASSOCIATE:
    case XMPP_STANZA_DISSOCIATE:
    case XMPP_STANZA_EOR:
    case XMPP_STANZA_PING:
    case XMPP_STANZA_CONFIG_HELD:
    case XMPP_STANZA_NONE:
        break;
    }
    close_with(s, XMPP_SC_UNSUPPORTED_STANZA_TYPE, "stanza not accepted from a control node", false);
}

/* A stanza the codec does not know: iq's get an error answer (RFC 6120
 * §8.2.3), messages and presence are dropped, the peer's stream error ends
 * the session, anything else is a stream error. */
static void unsupported(struct xmpp_session *s, const struct xmpp_elem *e)
{
    bool client_ns = e->ns && (strcmp(e->ns, XMPP_NS_CLIENT) == 0 || strcmp(e->ns, XMPP_NS_SERVER) == 0);
    bool stream_ns = e->ns && strcmp(e->ns, XMPP_NS_STREAMS) == 0;
    if (stream_ns && strcmp(e->name, "error") == 0) {
        enum xmpp_stream_cond cond = XMPP_SC_UNDEFINED_CONDITION;
        const char *text = "";
        for (const struct xmpp_elem *c = e->first_child; c; c = c->next) {
            if (c->ns && strcmp(c->ns, XMPP_NS_STREAM_ERRORS) == 0) {
                if (strcmp(c->name, "text") == 0) {
                    text = xmpp_elem_text(c);
                } else {
                    cond = xmpp_stream_cond_parse(c->name);
                }
            }
        }
        close_with(s, cond, text, true);
        return;
    }
    if (stream_ns && strcmp(e->name, "features") == 0) {
        return;
    }
    if (client_ns && strcmp(e->name, "iq") == 0) {
        const char *type = xmpp_elem_attr(e, "type");
        if (type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)) {
            struct xmpp_stanza req;
            memset(&req, 0, sizeof req);
            const char *id = xmpp_elem_attr(e, "id");
            const char *from = xmpp_elem_attr(e, "from");
            snprintf(req.id, sizeof req.id, "%s", id ? id : "");
            snprintf(req.from, sizeof req.from, "%s", from ? from : "");
            answer(s, &req, "service-unavailable");
        }
        return;
    }
    if (client_ns && (strcmp(e->name, "message") == 0 || strcmp(e->name, "presence") == 0)) {
        return;
    }
    close_with(s, XMPP_SC_UNSUPPORTED_STANZA_TYPE, e->name, false);
}

static void on_stanza(void *arg, struct xmpp_elem *e)
{
    struct xmpp_session *s = arg;
    struct xmpp_stanza st;
    memset(&st, 0, sizeof st);
    int rc = s->state == XMPP_SESSION_ESTABLISHED ? xmpp_stanza_decode(e, &st) : XMPP_ERR_STATE;
    if (rc == 0) {
        if (st.type == XMPP_STANZA_PING) {
            answer(s, &st, NULL);
        } else if (st.type == XMPP_STANZA_RESULT && is_ping_id(st.id)) {
            s->pongs_received++;
        } else if (s->cfg.role == XMPP_ROLE_CONTROL) {
            dispatch_control(s, &st);
        } else {
            dispatch_agent(s, &st);
        }
    } else if (rc == XMPP_ERR_UNSUPPORTED) {
        unsupported(s, e);
    } else if (rc != XMPP_ERR_STATE) {
        char text[96];
        snprintf(text, sizeof text, "<%s>: %s", e->name, strata_strerror(rc));
        close_with(s, rc == LIB_ENOMEM ? XMPP_SC_RESOURCE_CONSTRAINT : XMPP_SC_BAD_FORMAT, text, false);
    }
    xmpp_stanza_clear(&st);
    xmpp_elem_free(e);
}

/* ---- public ---- */

static int copy_cfg_str(char *dst, size_t size, const char *src)
{
    if (src == NULL) {
        dst[0] = '\0';
        return 0;
    }
    if (strlen(src) >= size) {
        return LIB_EINVAL;
    }
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

int xmpp_session_init(struct xmpp_session *s, const struct xmpp_session_config *cfg,
                      const struct xmpp_session_ops *ops, void *arg)
{
    memset(s, 0, sizeof *s);
    if (ops == NULL || ops->send == NULL || (cfg->role == XMPP_ROLE_CONTROL && (cfg->peer_identity == NULL ||
                                                                                  cfg->peer_identity[0] == '\0'))) {
        return LIB_EINVAL;
    }
    s->cfg = *cfg;
    if (copy_cfg_str(s->local_jid, sizeof s->local_jid,
                     cfg->local_jid ? cfg->local_jid : cfg->role == XMPP_ROLE_CONTROL ? XMPP_CONTROL_JID : NULL) != 0 ||
        copy_cfg_str(s->peer_identity, sizeof s->peer_identity, cfg->peer_identity) != 0 ||
        copy_cfg_str(s->stream_id, sizeof s->stream_id, cfg->stream_id) != 0) {
        return LIB_EINVAL;
    }
    s->cfg.local_jid = s->local_jid;
    s->cfg.peer_identity = s->peer_identity;
    s->cfg.stream_id = s->stream_id;
    if (s->cfg.hold_ms == 0) {
        s->cfg.hold_ms = XMPP_DEFAULT_HOLD_MS;
    }
    if (s->cfg.keepalive_ms == 0) {
        s->cfg.keepalive_ms = s->cfg.hold_ms / 3 ? s->cfg.hold_ms / 3 : 1;
    }
    s->ops = *ops;
    s->arg = arg;
    buf_init(&s->out, 0);
    struct xmpp_stream_ops sops = {.open = on_open, .stanza = on_stanza, .close = on_close};
    int rc = xmpp_stream_init(&s->in, &s->cfg.limits, &sops, s);
    if (rc != 0) {
        buf_destroy(&s->out);
        return rc;
    }
    s->state = XMPP_SESSION_IDLE;
    return 0;
}

void xmpp_session_destroy(struct xmpp_session *s)
{
    if (s == NULL) {
        return;
    }
    xmpp_stream_destroy(&s->in);
    buf_destroy(&s->out);
}

int xmpp_session_start(struct xmpp_session *s, uint64_t now)
{
    if (s->state != XMPP_SESSION_IDLE) {
        return XMPP_ERR_STATE;
    }
    s->now = now;
    s->state = XMPP_SESSION_WAIT_OPEN;
    s->hold_deadline = now + s->cfg.hold_ms;
    s->keepalive_deadline = now + s->cfg.keepalive_ms;
    if (s->cfg.role == XMPP_ROLE_AGENT) {
        int rc = send_header(s, s->peer_identity[0] ? s->peer_identity : NULL, XMPP_NS_CLIENT);
        if (rc != 0) {
            buf_reset(&s->out);
            report_closed(s, XMPP_SC_INTERNAL_SERVER_ERROR, "cannot encode the stream header", false);
            return rc;
        }
        flush(s);
    }
    return 0;
}

int xmpp_session_input(struct xmpp_session *s, uint64_t now, const void *data, size_t size)
{
    if (s->state != XMPP_SESSION_WAIT_OPEN && s->state != XMPP_SESSION_ESTABLISHED) {
        return XMPP_ERR_STATE;
    }
    if (now > s->now) {
        s->now = now;
    }
    s->hold_deadline = s->now + s->cfg.hold_ms;
    int rc = xmpp_stream_feed(&s->in, data, size);
    if (s->state == XMPP_SESSION_CLOSED) {
        return s->close_cond == XMPP_SC_NONE ? 0 : XMPP_ERR_STREAM;
    }
    if (rc != 0) {
        const char *text;
        enum xmpp_stream_cond cond = xmpp_stream_error(&s->in, &text);
        char copy[sizeof s->in.errtext];
        snprintf(copy, sizeof copy, "%s", text);
        close_with(s, cond == XMPP_SC_NONE ? XMPP_SC_UNDEFINED_CONDITION : cond, copy, false);
        return XMPP_ERR_STREAM;
    }
    return 0;
}

void xmpp_session_tick(struct xmpp_session *s, uint64_t now)
{
    if (s->state != XMPP_SESSION_WAIT_OPEN && s->state != XMPP_SESSION_ESTABLISHED) {
        return;
    }
    if (now > s->now) {
        s->now = now;
    }
    if (s->now >= s->hold_deadline) {
        close_with(s, XMPP_SC_CONNECTION_TIMEOUT, "hold timer expired", false);
        return;
    }
    if (s->state == XMPP_SESSION_ESTABLISHED && s->now >= s->keepalive_deadline) {
        struct xmpp_stanza ping;
        memset(&ping, 0, sizeof ping);
        ping.type = XMPP_STANZA_PING;
        snprintf(ping.id, sizeof ping.id, "ping-%llu", (unsigned long long)++s->pings_sent);
        if (send_stanza(s, &ping) != 0) {
            close_with(s, XMPP_SC_INTERNAL_SERVER_ERROR, "cannot encode a ping", false);
        }
    }
}

uint64_t xmpp_session_next_deadline(const struct xmpp_session *s)
{
    if (s->state == XMPP_SESSION_WAIT_OPEN) {
        return s->hold_deadline;
    }
    if (s->state != XMPP_SESSION_ESTABLISHED) {
        return UINT64_MAX;
    }
    return s->hold_deadline < s->keepalive_deadline ? s->hold_deadline : s->keepalive_deadline;
}

uint64_t xmpp_reconnect_delay_ms(uint32_t attempt, uint32_t rnd)
{
    uint64_t base = XMPP_RECONNECT_MAX_MS;
    if (attempt < 16 && ((uint64_t)XMPP_RECONNECT_FIRST_MS << attempt) < base) {
        base = (uint64_t)XMPP_RECONNECT_FIRST_MS << attempt;
    }
    return base / 2 + ((base * rnd) >> 32);
}

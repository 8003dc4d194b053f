/* strata-agent: the vRouter agent daemon, thin glue around the pure core
 * (agent.h) on one libuv loop:
 *   - one or two control nodes: mutual TLS (lib/tls) + an agent-role XMPP
 *     session (routing/xmpp) each, reconnected with exponential backoff;
 *   - strata-vrouter's control socket (vrouter/msg frames; replies are
 *     checked and refusals logged and counted). Requests are encoded into
 *     one pending buffer and written once per loop iteration (a uv_prepare
 *     handle), so a batch of punts costs one write for all its flows;
 *   - the punt interface: an AF_PACKET socket on the datapath's agent TAP;
 *     ARP/DHCP/DNS go to proxy_handle() (vrouter/agent/proxy), flow misses
 *     to the core, answers and re-injections go back the same way; punts
 *     are read with recvmmsg and injections sent with sendmmsg, a batch at
 *     a time, with no allocation per frame;
 *   - flow aging: every quarter of --flow-idle a dump of the datapath's
 *     flows reports their packet counts to the core, which then deletes
 *     the flows idle for longer (agent_flow_age);
 *   - the controller's config: CONFIG stanzas of each control node go to
 *     agent_cfg (agent_cfg.h), which makes the ports bound with
 *     `port bind UUID tap=IF`, their policies and the encapsulation order;
 *   - the local command socket (--ctl) and the state directory.
 *   strata-agent --name NAME --pki DIR --control HOST:PORT [--control HOST:PORT]
 *                --vrouter-sock PATH --fabric-ip ADDR --state-dir DIR --ctl PATH
 *                [--encap mplsudp,mplsgre,vxlan] [--stale-timeout S]
 *                [--sweep-timeout S] [--agent-if NAME] [--punt-if NAME]
 *   strata-agent ctl --ctl PATH COMMAND...
 *   strata-agent enroll --url https://IP:PORT --token T --ca-fingerprint SHA256
 *                       --pki-dir DIR
 * obtains the agent's certificate with a vrouter join token (appliance/
 * join_client.h): DIR/ca.pem, DIR/NAME.pem, DIR/NAME.key, NAME being the
 * virtual-router name the token binds (printed; pass it as --name).
 * The ctl protocol (docs/agent.md): one request line per connection, the
 * answer is zero or more lines then "ok" or "error: TEXT". */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#ifdef STRATA_HAVE_JOIN_CLIENT
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "appliance/join_client.h"
#endif
#include "lib/log.h"
#include "lib/pki.h"
#include "lib/tls.h"
#include "routing/xmpp/xmpp_session.h"
#include "vrouter/agent/agent.h"
#include "vrouter/agent/agent_cfg.h"
#include "vrouter/agent/proxy/dns_remote.h"
#include "vrouter/agent/proxy/proxy.h"
#include "vrouter/msg/ring.h"

int main(int argc, char **argv);

#define MOD "agent"
#define STATE_FILE "agent.state"
#define PUNT_FRAME_MAX 16384
#define PUNT_BATCH 64
#define PUNT_RCVBUF (32 << 20)
#define PUNT_RX_MAX 2048 /* punted frames are a header and one VM frame */
#define VR_FLUSH_AT (256 * 1024)
#define RING_BATCH 16 /* punts decoded and prefetched together */
#define CTL_LINE_MAX 1024
#define XMPP_TO XMPP_CONTROL_JID "/bgp-peer"

struct agentd;

struct node {
    struct agentd *d;
    int idx;
    char host[64];
    uint16_t port;
    struct tls_conn *conn;
    struct xmpp_session s;
    bool session_init;
    bool up;
    uint32_t attempts; /* connections tried since it was last up (xmpp_reconnect_delay_ms) */
    uv_timer_t timer; /* session ticks, and the reconnect delay */
    uint64_t connects, routes_in;
    /* resume: "INSTANCE ID" -> xmpp_route_item_hash of each item held from
     * this node, and those not yet confirmed on the current session */
    json_t *held, *stale;
};

struct ctl_client {
    uv_pipe_t pipe;
    struct agentd *d;
    char line[CTL_LINE_MAX];
    size_t len;
    bool answered;
};

struct agentd {
    uv_loop_t *loop;
    struct agent_core *core;
    struct agent_cfg *acfg;
    uint64_t acfg_changes; /* agent_cfg's change count at the last state save */
    uint64_t config_stanzas, config_refused;
    /* options */
    const char *name, *pki, *vr_sock, *state_dir, *ctl_path;
    char agent_if[VR_MSG_NAME_MAX];
    char punt_if[VR_MSG_NAME_MAX]; /* the device punts are read from: agent_if, or its veth peer */
    uint64_t stale_timeout_ms, sweep_timeout_ms;
    struct agent_config cfg;
    uint32_t rng; /* xorshift32 state: reconnect jitter */
    /* control nodes */
    struct tls_ctx *tls;
    struct node nodes[AGENT_MAX_NODES];
    size_t node_count;
    uv_timer_t stale_timer, sweep_timer;
    /* datapath */
    uv_pipe_t vr;
    uint8_t vr_rbuf[VR_MSG_MAX * 8];
    size_t vr_rlen;
    uint32_t vr_seq;
    uint64_t dp_sent, dp_errors, dp_enoent;
    struct buf vr_pending; /* encoded requests not yet written */
    uv_prepare_t vr_prepare;
    uint64_t vr_writes;
    /* the shared-memory channel (VR_MSG_RING), when the datapath granted
     * it: every request goes into ring.up (in order: what does not fit
     * waits in 'ring_spill' until the datapath makes room), flow misses
     * come from ring.down; answers stay on the socket */
    bool no_ring;  /* --no-ring */
    bool ring_on;
    struct vr_ring_chan ring;
    uv_poll_t ring_poll;   /* ring.efd_down: punts, or room in ring.up */
    uv_check_t ring_check; /* after each wait: the agent is awake */
    uv_idle_t ring_idle;   /* keeps the loop from waiting while ring.down has records */
    bool ring_dirty;       /* requests put since the datapath was last woken */
    struct buf ring_spill; /* encoded requests waiting for room, back to back */
    uint64_t ring_punts, ring_requests, ring_spilled, ring_malformed, ring_wakes;
    /* flow aging */
    uint64_t flow_idle_ms;
    uv_timer_t age_timer;
    uint32_t flow_dump_seq; /* 0 when no dump is under way */
    /* adoption of the previous generation's remote routes (a dump at start) */
    struct dp_nh *dump_nhs;
    size_t dump_nh_count;
    uint32_t dump_route_seq; /* 0 once done */
    size_t adopted;
    /* punts */
    int punt_fd;
    uv_poll_t punt_poll;
    uv_timer_t punt_timer; /* waits for the datapath to create the agent TAP */
    uint64_t punt_wait_ms;
    uint64_t punts[DP_PUNT_NH + 1], punts_bad, proxy_replies, proxy_silent, reinjects, tx_errors, over_limit;
    uint32_t punt_sub_seq; /* the VR_MSG_PUNT_SUB request while unanswered */
    bool punts_held;       /* the datapath punts flow misses on the connection, holding the packet */
    uint64_t held;         /* flow misses punted that way: decided, never re-injected */
    struct buf out;
    /* batched punt I/O */
    uint8_t (*rx_frames)[PUNT_RX_MAX];
    struct mmsghdr rx_mm[PUNT_BATCH];
    struct iovec rx_iov[PUNT_BATCH];
    struct sockaddr_ll rx_from[PUNT_BATCH];
    struct buf tx_frames; /* injections of the batch, back to back */
    size_t tx_ends[PUNT_BATCH];
    size_t tx_count;
    /* instance names asked from control nodes (dns_remote.h) */
    struct dnsr *dnsr;
    uv_timer_t dns_timer;
    bool dns_replaying; /* a lookup miss now fails (SERVFAIL) instead of asking */
    /* ctl */
    uv_pipe_t ctl;
    uv_signal_t sigterm, sigint;
    int exit_code;
};

/* ---- the datapath connection ---- */

struct vr_write {
    uv_write_t req;
    uint8_t data[];
};

static void vr_written(uv_write_t *req, int status)
{
    if (status != 0) {
        log_error(MOD, "datapath write failed", "err=\"%s\"", uv_strerror(status));
    }
    free(req);
}

/* Writes the pending requests: as much as the socket takes now, the rest
 * queued (in order) behind libuv's write queue. */
static void vr_flush(struct agentd *d)
{
    if (d->vr_pending.size == 0) {
        return;
    }
    size_t size = d->vr_pending.size, done = 0;
    uv_buf_t b = uv_buf_init((char *)d->vr_pending.data, (unsigned)size);
    int n = uv_try_write((uv_stream_t *)&d->vr, &b, 1);
    done = n > 0 ? (size_t)n : 0;
    d->vr_writes++;
    if (done < size) {
        struct vr_write *w = malloc(sizeof *w + size - done);
        if (!w) {
            log_error(MOD, "out of memory queueing datapath requests", "bytes=%zu", size - done);
            d->dp_errors++;
        } else {
            memcpy(w->data, d->vr_pending.data + done, size - done);
            b = uv_buf_init((char *)w->data, (unsigned)(size - done));
            int rc = uv_write(&w->req, (uv_stream_t *)&d->vr, &b, 1, vr_written);
            if (rc != 0) {
                log_error(MOD, "datapath write failed", "err=\"%s\"", uv_strerror(rc));
                free(w);
                d->dp_errors++;
            }
        }
    }
    buf_reset(&d->vr_pending);
}

static void ring_before_wait(struct agentd *d);

static void vr_prepare_cb(uv_prepare_t *h)
{
    struct agentd *d = h->data;
    if (d->ring_on) {
        ring_before_wait(d);
    }
    vr_flush(d);
}

/* The datapath moved an index of our ring out of range: it is broken, so
 * is this session. Exits like a malformed frame on the socket does. */
static void ring_broken(struct agentd *d)
{
    log_error(MOD, "datapath ring index out of range: exiting", NULL);
    d->exit_code = 1;
    d->ring_on = false;
    uv_stop(d->loop);
}

/* Moves what waits in ring_spill into ring.up as far as there is room. */
static void ring_spill_flush(struct agentd *d)
{
    size_t off = 0;
    while (off < d->ring_spill.size) {
        size_t size = 0;
        if (vr_msg_peek(d->ring_spill.data + off, d->ring_spill.size - off, &size) != 0) {
            break; /* cannot happen: our own encodings */
        }
        int rc = vr_ring_put(&d->ring.up, d->ring_spill.data + off, size);
        if (rc == VR_RING_ECORRUPT) {
            ring_broken(d);
            return;
        }
        if (rc != 0) {
            break; /* full: the datapath wakes us when it makes room */
        }
        d->ring_requests++;
        d->ring_dirty = true;
        off += size;
    }
    buf_consume(&d->ring_spill, off);
}

/* Wakes the datapath if it sleeps and requests were put since. */
static void ring_kick(struct agentd *d)
{
    if (d->ring_on && d->ring_dirty) {
        d->ring_dirty = false;
        if (vr_ring_consumer_sleeps(&d->ring.up)) {
            vr_ring_signal(d->ring.efd_up);
            d->ring_wakes++;
        }
    }
}

static void vr_punt(struct agentd *d, const struct vr_msg_punt *mp);

/* Takes up to 'budget' punts from ring.down, RING_BATCH at a time: a
 * batch is decoded and its flow-table slots prefetched before the first
 * is decided. Returns 1 when records are left. */
static int ring_punts_take(struct agentd *d, unsigned budget)
{
    static struct vr_msg batch[RING_BATCH];
    unsigned taken = 0;
    while (taken < budget && d->ring_on) {
        unsigned n = 0;
        int rc = 0;
        while (n < RING_BATCH && taken < budget) {
            uint8_t rec[VR_MSG_MAX];
            size_t size = 0;
            rc = vr_ring_get(&d->ring.down, rec, &size);
            if (rc == VR_RING_EEMPTY || rc == VR_RING_ECORRUPT) {
                break;
            }
            taken++;
            struct vr_msg *m = &batch[n];
            if (rc != 0 || vr_msg_decode(rec, size, m) != 0 || m->type != VR_MSG_PUNT) {
                d->ring_malformed++;
                continue;
            }
            struct agent_punt p = {.reason = m->u.punt.reason, .vrf = m->u.punt.vrf, .frame = m->u.punt.frame,
                                   .frame_size = m->u.punt.frame_size};
            agent_flow_prefetch(d->core, &p);
            n++;
        }
        for (unsigned i = 0; i < n && d->ring_on; i++) {
            d->ring_punts++;
            vr_punt(d, &batch[i].u.punt);
        }
        if (rc == VR_RING_ECORRUPT) {
            ring_broken(d);
            return 0;
        }
        if (rc == VR_RING_EEMPTY) {
            return 0;
        }
    }
    return d->ring_on;
}

/* One pass over the channel: punts in (their flows go out), waiting
 * requests out, the datapath woken. Returns 1 when punts are left. */
static int ring_service(struct agentd *d)
{
    int more = ring_punts_take(d, 1024);
    ring_spill_flush(d);
    ring_kick(d);
    return more;
}

static void ring_ready(uv_poll_t *h, int status, int events)
{
    struct agentd *d = h->data;
    (void)status;
    (void)events;
    vr_ring_drain(d->ring.efd_down);
    vr_ring_awake(&d->ring.down);
    (void)ring_service(d);
}

static void ring_checked(uv_check_t *h)
{
    struct agentd *d = h->data;
    if (d->ring_on) {
        vr_ring_awake(&d->ring.down);
    }
}

static void ring_idle_cb(uv_idle_t *h)
{
    (void)h; /* its presence makes the loop poll without waiting */
}

/* Before the loop waits: serve the channel until ring.down is empty and
 * the datapath may wake us; with punts still coming, the loop polls
 * without waiting (ring_idle) and comes back. */
static void ring_before_wait(struct agentd *d)
{
    for (int pass = 0; pass < 4 && d->ring_on; pass++) {
        int more = ring_service(d);
        if (!more && vr_ring_prepare_sleep(&d->ring.down)) {
            uv_idle_stop(&d->ring_idle);
            return;
        }
    }
    if (d->ring_on) {
        uv_idle_start(&d->ring_idle, ring_idle_cb);
    }
}

static void dp_send(void *arg, const struct vr_msg *m)
{
    struct agentd *d = arg;
    uint8_t frame[VR_MSG_MAX];
    size_t size;
    struct vr_msg copy = *m;
    copy.seq = ++d->vr_seq;
    if (copy.type == VR_MSG_FLOW || copy.type == VR_MSG_FLOW_DEL) {
        copy.flags |= VR_MSG_F_QUIET; /* the flow path: answered only when refused */
    }
    if (copy.type == VR_MSG_FLOW_PAIR) {
        copy.flags |= VR_MSG_F_QUIET;
    }
    if (d->ring_on && d->ring_spill.size == 0) {
        int err = 0;
        uint8_t *slot = vr_ring_reserve(&d->ring.up, &err);
        if (slot) { /* encoded straight into the ring */
            int rc = vr_msg_encode(&copy, slot, VR_MSG_MAX, &size);
            if (rc != 0) {
                log_error(MOD, "cannot encode datapath request", "type=%s err=\"%s\"", vr_msg_type_name(m->type),
                          strata_strerror(rc));
                d->dp_errors++;
                return;
            }
            vr_ring_commit(&d->ring.up, size);
            d->ring_requests++;
            d->ring_dirty = true;
            d->dp_sent++;
            return;
        }
        if (err == VR_RING_ECORRUPT) {
            ring_broken(d);
            return;
        }
    }
    int rc = vr_msg_encode(&copy, frame, sizeof frame, &size);
    if (rc != 0) {
        log_error(MOD, "cannot encode datapath request", "type=%s err=\"%s\"", vr_msg_type_name(m->type),
                  strata_strerror(rc));
        d->dp_errors++;
        return;
    }
    if (d->ring_on) { /* behind what already waits for room */
        if (buf_put(&d->ring_spill, frame, size) != 0) {
            log_error(MOD, "out of memory for a datapath request", "type=%s", vr_msg_type_name(m->type));
            d->dp_errors++;
            return;
        }
        d->ring_spilled++;
        d->dp_sent++;
        return;
    }
    if (buf_put(&d->vr_pending, frame, size) != 0) {
        log_error(MOD, "out of memory for a datapath request", "type=%s", vr_msg_type_name(m->type));
        d->dp_errors++;
        return;
    }
    d->dp_sent++;
    if (d->vr_pending.size >= VR_FLUSH_AT) {
        vr_flush(d);
    }
}

static void vr_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct agentd *d = h->data;
    (void)hint;
    *b = uv_buf_init((char *)d->vr_rbuf + d->vr_rlen, (unsigned)(sizeof d->vr_rbuf - d->vr_rlen));
}

static void flow_miss(struct agentd *d, const struct agent_punt *p, struct buf *reinject);

/* A flow miss the datapath punted on the connection (VR_MSG_PUNT): decided
 * and installed like one from the punt interface; the datapath forwards
 * the packet it holds once the flow is there, so nothing is re-injected. */
static void vr_punt(struct agentd *d, const struct vr_msg_punt *mp)
{
    struct agent_punt p = {.reason = mp->reason, .ifindex = mp->ifindex, .vrf = mp->vrf, .flow = mp->flow,
                           .frame = mp->frame, .frame_size = mp->frame_size};
    d->punts[p.reason]++;
    if (p.reason != DP_PUNT_FLOW_MISS) {
        d->punts_bad++; /* only flow misses are subscribed */
        return;
    }
    d->held++;
    flow_miss(d, &p, NULL);
}

static void vr_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct agentd *d = s->data;
    (void)b;
    if (n < 0) {
        log_error(MOD, "datapath connection lost: exiting (a restarted agent re-installs everything)",
                  "err=\"%s\"", uv_strerror((int)n));
        d->exit_code = 1;
        uv_stop(d->loop);
        return;
    }
    d->vr_rlen += (size_t)n;
    size_t off = 0;
    while (d->vr_rlen - off >= VR_MSG_HDR_SIZE) {
        size_t size;
        int rc = vr_msg_peek(d->vr_rbuf + off, d->vr_rlen - off, &size);
        struct vr_msg m;
        if (rc == 0 && size > d->vr_rlen - off) {
            break;
        }
        if (rc == 0) {
            rc = vr_msg_decode(d->vr_rbuf + off, size, &m);
        }
        if (rc != 0) {
            log_error(MOD, "datapath sent a malformed frame: exiting", "err=\"%s\"", strata_strerror(rc));
            d->exit_code = 1;
            uv_stop(d->loop);
            return;
        }
        if ((m.flags & VR_MSG_F_DUMP) && m.type == VR_MSG_NH && d->dump_route_seq) {
            struct dp_nh *nhs = realloc(d->dump_nhs, (d->dump_nh_count + 1) * sizeof *nhs);
            if (nhs) {
                d->dump_nhs = nhs;
                d->dump_nhs[d->dump_nh_count++] = m.u.nh;
            }
        } else if ((m.flags & VR_MSG_F_DUMP) && m.type == VR_MSG_ROUTE && d->dump_route_seq) {
            for (size_t i = 0; i < d->dump_nh_count; i++) {
                if (d->dump_nhs[i].id == m.u.route.nh) {
                    d->adopted += agent_route_adopt(d->core, &m.u.route, &d->dump_nhs[i]);
                    break;
                }
            }
        } else if ((m.flags & VR_MSG_F_DUMP) && m.type == VR_MSG_FLOW && d->flow_dump_seq) {
            if (m.u.flow.state == DP_FLOW_ACTIVE) {
                agent_flow_seen(d->core, &m.u.flow.key, m.u.flow.packets);
            }
        } else if (m.type == VR_MSG_REPLY && m.seq == d->flow_dump_seq && d->flow_dump_seq) {
            d->flow_dump_seq = 0;
            size_t aged = agent_flow_age(d->core, uv_now(d->loop));
            if (aged) {
                log_debug(MOD, "idle flows deleted", "flows=%zu", aged);
            }
        } else if (m.type == VR_MSG_REPLY && m.seq == d->dump_route_seq && d->dump_route_seq) {
            log_info(MOD, "previous generation's remote routes adopted until the sweep", "routes=%zu", d->adopted);
            d->dump_route_seq = 0;
            free(d->dump_nhs);
            d->dump_nhs = NULL;
            d->dump_nh_count = 0;
        }
        if (m.type == VR_MSG_PUNT) {
            vr_punt(d, &m.u.punt);
        } else if (m.type == VR_MSG_REPLY && m.seq == d->punt_sub_seq && d->punt_sub_seq) {
            d->punt_sub_seq = 0;
            d->punts_held = m.u.reply.code == 0;
            log_info(MOD, d->punts_held ? "flow misses come on the datapath connection, packets held there"
                                        : "flow misses come on the punt interface",
                     "err=\"%s\"", m.u.reply.code ? strata_strerror(m.u.reply.code) : "");
        } else if (m.type == VR_MSG_REPLY && m.u.reply.code == VR_ENOENT) {
            d->dp_enoent++; /* deleting what the datapath already aged */
        } else if (m.type == VR_MSG_REPLY && m.u.reply.code != 0) {
            d->dp_errors++;
            log_warn(MOD, "datapath refused a request", "seq=%u err=\"%s\"", m.seq, strata_strerror(m.u.reply.code));
        } else if (m.type == VR_MSG_REPLY && m.seq && m.u.reply.value) {
            log_debug(MOD, "datapath reply", "seq=%u value=%u", m.seq, m.u.reply.value);
        }
        off += size;
    }
    memmove(d->vr_rbuf, d->vr_rbuf + off, d->vr_rlen - off);
    d->vr_rlen -= off;
    vr_flush(d); /* the flows of the punts just read */
}

/* ---- control nodes ---- */

static void node_connect(struct node *n);

static void send_stanza(struct node *n, struct xmpp_stanza *st, const char *id)
{
    if (!n->up) {
        return;
    }
    snprintf(st->id, sizeof st->id, "%s", id);
    snprintf(st->to, sizeof st->to, "%s", XMPP_TO);
    int rc = xmpp_session_send(&n->s, uv_now(n->d->loop), st);
    if (rc != 0) {
        log_warn(MOD, "cannot send to control node", "node=%d err=\"%s\"", n->idx, strata_strerror(rc));
    }
}

/* The digest of the items of 'ri' held from 'n' (their hashes summed). */
static uint64_t held_digest(const struct node *n, const char *ri)
{
    uint64_t sum = 0;
    size_t len = strlen(ri);
    const char *k;
    json_t *v;
    json_object_foreach(n->held, k, v) {
        if (strncmp(k, ri, len) == 0 && k[len] == ' ') {
            sum += (uint64_t)json_integer_value(v);
        }
    }
    return sum;
}

static void op_subscribe(void *arg, int node, const char *ri, uint32_t id)
{
    struct agentd *d = arg;
    struct xmpp_stanza st = {.type = XMPP_STANZA_SUBSCRIBE, .instance_id = id, .has_digest = true};
    snprintf(st.instance, sizeof st.instance, "%s", ri);
    st.digest = held_digest(&d->nodes[node], ri);
    send_stanza(&d->nodes[node], &st, "sub");
}

static void op_unsubscribe(void *arg, int node, const char *ri)
{
    struct agentd *d = arg;
    struct xmpp_stanza st = {.type = XMPP_STANZA_UNSUBSCRIBE};
    snprintf(st.instance, sizeof st.instance, "%s", ri);
    send_stanza(&d->nodes[node], &st, "unsub");
}

static void op_publish(void *arg, int node, const char *ri, const struct xmpp_route_entry *e)
{
    struct agentd *d = arg;
    struct xmpp_stanza st = {.type = XMPP_STANZA_PUBLISH, .family = e->family, .key = e->key};
    st.entry = (struct xmpp_route_entry *)e;
    snprintf(st.instance, sizeof st.instance, "%s", ri);
    send_stanza(&d->nodes[node], &st, "pub");
}

static void op_withdraw(void *arg, int node, const char *ri, enum xmpp_family family, const struct xmpp_route_key *k)
{
    struct agentd *d = arg;
    struct xmpp_stanza st = {.type = XMPP_STANZA_DISSOCIATE, .family = family, .key = *k};
    snprintf(st.instance, sizeof st.instance, "%s", ri);
    send_stanza(&d->nodes[node], &st, "wd");
}

static void op_eor(void *arg, int node)
{
    struct agentd *d = arg;
    struct xmpp_stanza st = {.type = XMPP_STANZA_EOR};
    send_stanza(&d->nodes[node], &st, "eor");
}

static int state_save(struct agentd *d);

/* Saves the state when the config changed ports since the last save. */
static void acfg_settle(struct agentd *d)
{
    struct agent_cfg_status st;
    agent_cfg_status_get(d->acfg, &st);
    if (st.changes != d->acfg_changes) {
        d->acfg_changes = st.changes;
        (void)state_save(d);
    }
}

static bool any_node_up(const struct agentd *d)
{
    for (size_t i = 0; i < d->node_count; i++) {
        if (d->nodes[i].up) {
            return true;
        }
    }
    return false;
}

static void ses_send(void *arg, const uint8_t *data, size_t size)
{
    struct node *n = arg;
    if (n->conn && tls_conn_write(n->conn, data, size) != 0) {
        log_warn(MOD, "control node write refused", "node=%d bytes=%zu", n->idx, size);
    }
}

static void ses_established(void *arg, const char *peer)
{
    struct node *n = arg;
    struct agentd *d = n->d;
    n->up = true;
    n->attempts = 0;
    uv_timer_stop(&d->stale_timer);
    log_info(MOD, "control node up", "node=%d addr=%s:%u peer=%s", n->idx, n->host, n->port, peer);
    /* resume: first what we hold of its config (the node sends only the
     * difference), then the subscriptions with the digests of the routes
     * held from it (agent_node_up() subscribes) */
    struct xmpp_stanza held = {.type = XMPP_STANZA_CONFIG_HELD};
    if (agent_cfg_node_resume(d->acfg, n->idx, &held.held, &held.held_count) != 0) {
        log_error(MOD, "cannot reset the node's config view", "node=%d", n->idx);
    }
    send_stanza(n, &held, "held");
    free(held.held);
    const char *k;
    json_t *v;
    json_object_foreach(n->held, k, v) {
        (void)json_object_set_new(n->stale, k, json_true());
    }
    agent_node_up(d->core, n->idx);
}

static void ses_closed(void *arg, enum xmpp_stream_cond cond, const char *text, bool by_peer)
{
    struct node *n = arg;
    log_warn(MOD, "control node session closed", "node=%d cond=%d by_peer=%d text=\"%s\"", n->idx, (int)cond,
             by_peer, text ? text : "");
    if (n->conn) {
        tls_conn_close(n->conn);
    }
}

/* Keeps the hash of each item held from 'n' (resume digests). */
static void held_item(struct node *n, const char *ri, const struct xmpp_route_item *it)
{
    char id[256], key[XMPP_NAME_MAX + 260];
    if (xmpp_route_key_format(id, sizeof id, it->entry.family, &it->entry.key) != 0) {
        return;
    }
    snprintf(key, sizeof key, "%s %s", ri, id);
    json_object_del(n->stale, key);
    if (it->retract) {
        json_object_del(n->held, key);
    } else if (json_object_set_new(n->held, key, json_integer((json_int_t)xmpp_route_item_hash(ri, &it->entry))) !=
               0) {
        log_warn(MOD, "no memory for a route's resume hash", "node=%d", n->idx);
    }
}

static void ses_routes(void *arg, const struct xmpp_stanza *st)
{
    struct node *n = arg;
    for (size_t i = 0; i < st->item_count; i++) {
        held_item(n, st->instance, &st->items[i]);
        agent_route_item(n->d->core, n->idx, st->instance, st->family, &st->items[i]);
    }
    n->routes_in += st->item_count;
}

static void ses_in_sync(void *arg, const char *ri)
{
    struct node *n = arg;
    size_t len = strlen(ri);
    const char *k;
    json_t *v, *tmp;
    json_object_foreach_safe(n->stale, tmp, k, v) {
        if (strncmp(k, ri, len) == 0 && k[len] == ' ') {
            json_object_del(n->stale, k);
        }
    }
    agent_node_in_sync(n->d->core, n->idx, ri);
    log_info(MOD, "control node: routes of an instance current", "node=%d instance=%s", n->idx, ri);
}

static void ses_eor(void *arg)
{
    struct node *n = arg;
    const char *k;
    json_t *v;
    json_object_foreach(n->stale, k, v) {
        json_object_del(n->held, k); /* the core sweeps the same copies */
    }
    json_object_clear(n->stale);
    bool swept = agent_generation_swept(n->d->core);
    agent_node_eor(n->d->core, n->idx);
    log_info(MOD, "control node End-of-RIB", "node=%d", n->idx);
    int rc = agent_cfg_node_eor(n->d->acfg, n->idx);
    if (rc != 0) {
        log_error(MOD, "config reconciliation failed", "node=%d err=\"%s\"", n->idx, strata_strerror(rc));
    }
    acfg_settle(n->d);
    if (!swept && agent_generation_swept(n->d->core)) {
        log_info(MOD, "previous generations swept after End-of-RIB", "generation=%u", n->d->cfg.generation);
        uv_timer_stop(&n->d->sweep_timer);
    }
}

static int ses_config(void *arg, const struct xmpp_stanza *st)
{
    struct node *n = arg;
    struct agentd *d = n->d;
    d->config_stanzas++;
    int rc = agent_cfg_apply(d->acfg, n->idx, st->objs, st->obj_count);
    if (rc != 0) {
        d->config_refused++;
        log_error(MOD, "config stanza not applied", "node=%d objects=%zu err=\"%s\"", n->idx, st->obj_count,
                  strata_strerror(rc));
    }
    acfg_settle(d);
    return rc == AGENT_ENOMEM || rc == AGENT_EINVAL ? rc : 0;
}

static void ses_dns_answer(void *arg, const struct xmpp_stanza *st);
static void dns_node_lost(struct agentd *d, int node);

static const struct xmpp_session_ops SES_OPS = {
    .send = ses_send,
    .established = ses_established,
    .closed = ses_closed,
    .routes = ses_routes,
    .eor = ses_eor,
    .config = ses_config,
    .in_sync = ses_in_sync,
    .dns_answer = ses_dns_answer,
};

static void stale_fired(uv_timer_t *t)
{
    struct agentd *d = t->data;
    size_t n = agent_stale_expire(d->core);
    log_warn(MOD, "stale timer expired with every control node gone: stale routes removed", "copies=%zu", n);
}

static void node_tick(uv_timer_t *t)
{
    struct node *n = t->data;
    if (n->conn) {
        if (n->session_init) {
            xmpp_session_tick(&n->s, uv_now(n->d->loop));
        }
        return;
    }
    node_connect(n);
}

static void tls_on_established(struct tls_conn *conn)
{
    struct node *n = tls_conn_data(conn);
    if (xmpp_session_start(&n->s, uv_now(n->d->loop)) != 0) {
        tls_conn_close(conn);
    }
}

static void tls_on_read(struct tls_conn *conn, const uint8_t *data, size_t size)
{
    struct node *n = tls_conn_data(conn);
    if (n->s.state != XMPP_SESSION_CLOSED) {
        int rc = xmpp_session_input(&n->s, uv_now(n->d->loop), data, size);
        if (rc != 0) { /* the session is over; ses_closed closed the connection */
            log_debug(MOD, "control node stream ended", "node=%d err=\"%s\"", n->idx, strata_strerror(rc));
        }
    }
}

/* The wait before this node's next connection attempt (the shared
 * schedule: 100 ms doubling to 2 s, jittered). */
static uint64_t reconnect_delay(struct node *n)
{
    uint32_t x = n->d->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    n->d->rng = x;
    return xmpp_reconnect_delay_ms(n->attempts++, x);
}

static void tls_on_close(struct tls_conn *conn, int status)
{
    struct node *n = tls_conn_data(conn);
    struct agentd *d = n->d;
    bool was_up = n->up;
    n->up = false;
    if (n->session_init) {
        xmpp_session_destroy(&n->s);
        n->session_init = false;
    }
    tls_conn_free(conn);
    n->conn = NULL;
    if (was_up) {
        log_warn(MOD, "control node lost: its routes stay programmed, stale", "node=%d status=\"%s\"", n->idx,
                 status ? strata_strerror(status) : "closed");
        agent_node_down(d->core, n->idx);
        agent_cfg_node_down(d->acfg, n->idx);
        dns_node_lost(d, n->idx);
        if (!any_node_up(d)) {
            uv_timer_start(&d->stale_timer, stale_fired, d->stale_timeout_ms, 0);
        }
    }
    uint64_t delay = reconnect_delay(n);
    uv_timer_start(&n->timer, node_tick, delay, delay);
}

static const struct tls_conn_callbacks TLS_CBS = {
    .on_established = tls_on_established,
    .on_read = tls_on_read,
    .on_close = tls_on_close,
};

static void node_connect(struct node *n)
{
    struct agentd *d = n->d;
    struct xmpp_session_config sc = {.role = XMPP_ROLE_AGENT, .local_jid = d->name, .resume = true};
    int rc = xmpp_session_init(&n->s, &sc, &SES_OPS, n);
    if (rc != 0) {
        log_error(MOD, "cannot create XMPP session", "err=\"%s\"", strata_strerror(rc));
        return;
    }
    n->session_init = true;
    n->connects++;
    rc = tls_conn_connect(d->tls, d->loop, n->host, n->port, n->host, &TLS_CBS, n, &n->conn);
    if (rc != 0) {
        log_error(MOD, "cannot connect to control node", "node=%d err=\"%s\"", n->idx, strata_strerror(rc));
        xmpp_session_destroy(&n->s);
        n->session_init = false;
        n->conn = NULL;
        return; /* the tick timer retries */
    }
    uv_timer_start(&n->timer, node_tick, 1000, 1000);
}

/* ---- punts ---- */

static int lk_ip4_known(void *arg, uint32_t vrf, uint32_t ip4)
{
    struct agentd *d = arg;
    return agent_ip4_known(d->core, vrf, ntohl(ip4)) ? 0 : PROXY_ENOTFOUND;
}

static int lk_name_to_ip4(void *arg, uint32_t vrf, const char *fqdn, uint32_t *ip4)
{
    struct agentd *d = arg;
    for (size_t i = 0; i < agent_port_count(d->core); i++) {
        const struct agent_port *p = agent_port_at(d->core, i);
        size_t n = strlen(p->spec.hostname);
        if (p->spec.vrf == vrf && n && strncmp(fqdn, p->spec.hostname, n) == 0 &&
            (fqdn[n] == '\0' || fqdn[n] == '.')) {
            *ip4 = htonl(p->spec.ip4);
            return 0;
        }
    }
    int rc = dnsr_name_to_ip4(d->dnsr, vrf, fqdn, uv_now(d->loop), ip4);
    return rc == PROXY_EPENDING && d->dns_replaying ? PROXY_EFAIL : rc;
}

static int lk_ip4_to_name(void *arg, uint32_t vrf, uint32_t ip4, char *out, size_t out_size)
{
    struct agentd *d = arg;
    for (size_t i = 0; i < agent_port_count(d->core); i++) {
        const struct agent_port *p = agent_port_at(d->core, i);
        if (p->spec.vrf == vrf && p->spec.ip4 == ntohl(ip4) && p->spec.hostname[0]) {
            snprintf(out, out_size, "%s", p->spec.hostname);
            return 0;
        }
    }
    int rc = dnsr_ip4_to_name(d->dnsr, vrf, ip4, uv_now(d->loop), out, out_size);
    return rc == PROXY_EPENDING && d->dns_replaying ? PROXY_EFAIL : rc;
}

static void punt_send(struct agentd *d, const uint8_t *frame, size_t size)
{
    if (send(d->punt_fd, frame, size, MSG_DONTWAIT) < 0) {
        d->tx_errors++;
    }
}

/* Sends the batch's queued injections with one sendmmsg per call. */
static void punt_tx_flush(struct agentd *d)
{
    struct mmsghdr mm[PUNT_BATCH];
    struct iovec iov[PUNT_BATCH];
    size_t start = 0;
    for (size_t i = 0; i < d->tx_count; i++) {
        iov[i] = (struct iovec){.iov_base = d->tx_frames.data + start, .iov_len = d->tx_ends[i] - start};
        mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
        start = d->tx_ends[i];
    }
    for (size_t done = 0; done < d->tx_count;) {
        int n = sendmmsg(d->punt_fd, mm + done, (unsigned)(d->tx_count - done), MSG_DONTWAIT);
        if (n <= 0) {
            d->tx_errors += d->tx_count - done;
            break;
        }
        done += (size_t)n;
    }
    d->tx_count = 0;
    buf_reset(&d->tx_frames);
}

static void dns_hold(struct agentd *d, const struct agent_port *port, const struct agent_punt *p);

static void punt_proxy(struct agentd *d, const struct agent_punt *p)
{
    const struct agent_port *port = agent_port_by_ifindex(d->core, p->ifindex);
    if (!port) {
        d->proxy_silent++;
        return;
    }
    struct proxy_port pp;
    memset(&pp, 0, sizeof pp);
    memcpy(pp.mac, port->spec.mac, 6);
    pp.ip4 = htonl(port->spec.ip4);
    pp.plen4 = port->spec.plen;
    pp.gw4 = htonl(port->spec.gw4);
    pp.dns4 = htonl(port->spec.dns4 ? port->spec.dns4 : port->spec.gw4);
    pp.lease_s = 86400;
    snprintf(pp.hostname, sizeof pp.hostname, "%s", port->spec.hostname);
    memcpy(pp.vrouter_mac, d->cfg.router_mac, 6);
    struct proxy_lookup lk = {
        .ip4_known = lk_ip4_known, .name_to_ip4 = lk_name_to_ip4, .ip4_to_name = lk_ip4_to_name, .arg = d};
    struct buf reply;
    buf_init(&reply, PUNT_FRAME_MAX);
    int rc = proxy_handle(&pp, &lk, p->vrf, p->frame, p->frame_size, &reply);
    if (rc == 0) {
        buf_reset(&d->out);
        if (agent_inject_build(p->ifindex, reply.data, reply.size, &d->out) == 0) {
            punt_send(d, d->out.data, d->out.size);
            d->proxy_replies++;
        }
    } else if (rc == PROXY_ENOREPLY) {
        d->proxy_silent++;
    } else if (rc == PROXY_EPENDING) {
        dns_hold(d, port, p);
    } else {
        d->punts_bad++;
        log_debug(MOD, "proxy refused a punted frame", "reason=%u err=\"%s\"", p->reason, strata_strerror(rc));
    }
    buf_destroy(&reply);
}

/* ---- instance names asked from control nodes (docs/agent-proxy.md) ---- */

static void dns_fired(uv_timer_t *t);

/* The timer at the earliest question deadline, or stopped. */
static void dns_arm(struct agentd *d)
{
    uint64_t at = dnsr_next_deadline(d->dnsr), now = uv_now(d->loop);
    if (at == UINT64_MAX) {
        uv_timer_stop(&d->dns_timer);
    } else {
        uv_timer_start(&d->dns_timer, dns_fired, at > now ? at - now : 0, 0);
    }
}

/* Runs every released frame through the proxy again: answered ones hit the
 * cache now, failed ones (and any miss) get SERVFAIL. */
static void dns_drain(struct agentd *d)
{
    struct dnsr_frame f;
    while (dnsr_next(d->dnsr, &f) == 0) {
        const struct agent_port *port = agent_port_by_ifindex(d->core, f.ifindex);
        if (port) {
            struct agent_punt p = {.reason = DP_PUNT_DNS, .ifindex = f.ifindex, .vrf = port->spec.vrf,
                                   .frame = f.data, .frame_size = f.size};
            d->dns_replaying = true;
            punt_proxy(d, &p);
            d->dns_replaying = false;
        }
        free(f.data);
    }
}

/* Sends question 'id' to the first control node up other than 'avoid';
 * with none, its frames fail. */
static void dns_ask(struct agentd *d, const struct dnsr_question *q, int avoid)
{
    struct xmpp_stanza st = {.type = XMPP_STANZA_DNS_QUERY};
    snprintf(st.id, sizeof st.id, "dns-%u", q->id);
    snprintf(st.to, sizeof st.to, "%s", XMPP_TO);
    snprintf(st.dns.interface, sizeof st.dns.interface, "%s", q->iface);
    snprintf(st.dns.name, sizeof st.dns.name, "%s", q->name);
    if (q->ip4 != 0) {
        st.dns.address.version = 4;
        memcpy(st.dns.address.addr, &q->ip4, 4);
    }
    uint32_t id = q->id;
    for (size_t i = 0; i < d->node_count; i++) {
        struct node *n = &d->nodes[i];
        if (n->up && (int)i != avoid && xmpp_session_send(&n->s, uv_now(d->loop), &st) == 0) {
            dnsr_sent(d->dnsr, id, (int)i);
            return;
        }
    }
    dnsr_fail(d->dnsr, id);
    dns_drain(d);
}

/* A DNS query the proxy could not answer locally: the frame waits for the
 * control node's answer (a new question is sent); a full table answers
 * SERVFAIL at once. */
static void dns_hold(struct agentd *d, const struct agent_port *port, const struct agent_punt *p)
{
    const struct dnsr_question *q;
    if (dnsr_hold(d->dnsr, p->ifindex, port->spec.name, p->frame, p->frame_size, uv_now(d->loop), &q) != 0) {
        d->dns_replaying = true;
        punt_proxy(d, p);
        d->dns_replaying = false;
        return;
    }
    if (q) {
        dns_ask(d, q, -1);
    }
    dns_arm(d);
}

static void dns_fired(uv_timer_t *t)
{
    struct agentd *d = t->data;
    size_t n = dnsr_expire(d->dnsr, uv_now(d->loop));
    if (n) {
        log_debug(MOD, "instance-name questions timed out", "count=%zu", n);
    }
    dns_drain(d);
    dns_arm(d);
}

static void ses_dns_answer(void *arg, const struct xmpp_stanza *st)
{
    struct node *n = arg;
    struct agentd *d = n->d;
    char *end;
    unsigned long id = strncmp(st->id, "dns-", 4) == 0 ? strtoul(st->id + 4, &end, 10) : 0;
    if (id == 0 || id > UINT32_MAX || *end != '\0') {
        log_debug(MOD, "instance-name answer with a foreign id", "node=%d id=%s", n->idx, st->id);
        return;
    }
    uint32_t ip4 = 0;
    if (st->dns.address.version == 4) {
        memcpy(&ip4, st->dns.address.addr, 4);
    }
    int rc = dnsr_answer(d->dnsr, (uint32_t)id, st->dns.found, st->dns.name, ip4, st->dns.ttl, uv_now(d->loop));
    if (rc != 0) {
        log_debug(MOD, "instance-name answer not taken", "node=%d id=%s err=\"%s\"", n->idx, st->id,
                  strata_strerror(rc));
    }
    dns_drain(d);
    dns_arm(d);
}

/* Control node 'node' is lost: its unanswered questions go to another. */
static void dns_node_lost(struct agentd *d, int node)
{
    uint32_t ids[DNSR_DEFAULT_QUESTIONS];
    size_t count = 0;
    const struct dnsr_question *q;
    for (size_t i = 0; count < DNSR_DEFAULT_QUESTIONS && (q = dnsr_question_at(d->dnsr, i)) != NULL; i++) {
        if (q->node == node) {
            ids[count++] = q->id;
        }
    }
    for (size_t k = 0; k < count; k++) {
        for (size_t i = 0; (q = dnsr_question_at(d->dnsr, i)) != NULL; i++) {
            if (q->id == ids[k]) {
                dns_ask(d, q, node);
                break;
            }
        }
    }
    dns_arm(d);
}

/* Decides flow miss 'p' and sends its flow requests; its re-injection,
 * when 'reinject' is not NULL (the punt interface's batch), is queued. */
static void flow_miss(struct agentd *d, const struct agent_punt *p, struct buf *reinject)
{
    struct agent_flow_decision dec;
    size_t before = reinject ? reinject->size : 0;
    int rc = agent_flow_miss(d->core, p, &dec, reinject);
    if (rc == AGENT_EFULL) {
        d->over_limit++;
    } else if (rc != 0) {
        d->punts_bad++;
    } else if (reinject && reinject->size > before) {
        d->tx_ends[d->tx_count++] = reinject->size;
        d->reinjects++;
    }
}

static void punt_frame(struct agentd *d, const uint8_t *frame, size_t size)
{
    struct agent_punt p;
    if (agent_punt_parse(frame, size, &p) != 0) {
        d->punts_bad++;
        return;
    }
    d->punts[p.reason]++;
    switch (p.reason) {
    case DP_PUNT_ARP:
    case DP_PUNT_DHCP:
    case DP_PUNT_DNS:
        punt_proxy(d, &p);
        break;
    case DP_PUNT_FLOW_MISS:
        flow_miss(d, &p, &d->tx_frames);
        break;
    default:
        break; /* ND and punt next hops: nothing to answer yet */
    }
}

static void punt_ready(uv_poll_t *h, int status, int events)
{
    struct agentd *d = h->data;
    (void)events;
    if (status < 0) {
        return;
    }
    agent_time_set(d->core, uv_now(d->loop));
    for (int round = 0; round < 16; round++) {
        for (size_t i = 0; i < PUNT_BATCH; i++) {
            d->rx_iov[i] = (struct iovec){.iov_base = d->rx_frames[i], .iov_len = PUNT_RX_MAX};
            d->rx_mm[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &d->rx_from[i],
                                                       .msg_namelen = sizeof d->rx_from[i],
                                                       .msg_iov = &d->rx_iov[i],
                                                       .msg_iovlen = 1}};
        }
        int n = recvmmsg(d->punt_fd, d->rx_mm, PUNT_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            return;
        }
        for (int i = 0; i < n; i++) {
            if (d->rx_from[i].sll_pkttype == PACKET_OUTGOING) {
                continue; /* our own injections */
            }
            if (d->rx_mm[i].msg_hdr.msg_flags & MSG_TRUNC) {
                d->punts_bad++;
                continue;
            }
            punt_frame(d, d->rx_frames[i], d->rx_mm[i].msg_len);
        }
        vr_flush(d); /* the flows first: the injections' replies may follow at once */
        punt_tx_flush(d);
        if (n < PUNT_BATCH) {
            return;
        }
    }
}

static int punt_open(struct agentd *d)
{
    unsigned ifx = if_nametoindex(d->punt_if);
    if (!ifx) {
        return -ENODEV;
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", d->punt_if);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
        int e = -errno;
        if (s >= 0) {
            close(s);
        }
        return e;
    }
    ifr.ifr_flags |= IFF_UP;
    int rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    close(s);
    if (rc != 0) {
        return -errno;
    }
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) {
        return -errno;
    }
    /* room for bursts of punts while the loop is busy (FORCE needs
     * CAP_NET_ADMIN; otherwise the rmem_max-capped request) */
    int rcvbuf = PUNT_RCVBUF;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)ifx};
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    d->punt_fd = fd;
    uv_poll_init(d->loop, &d->punt_poll, fd);
    d->punt_poll.data = d;
    uv_poll_start(&d->punt_poll, UV_READABLE, punt_ready);
    log_info(MOD, "punt interface open", "device=%s", d->punt_if);
    return 0;
}

static void punt_wait(uv_timer_t *t)
{
    struct agentd *d = t->data;
    int rc = punt_open(d);
    if (rc == 0) {
        uv_timer_stop(t);
        return;
    }
    d->punt_wait_ms += 50;
    if (d->punt_wait_ms % 5000 == 0) {
        log_warn(MOD, "punt interface not available yet", "device=%s err=\"%s\"", d->punt_if, strerror(-rc));
    }
}

/* ---- state directory ---- */

static int state_path(const struct agentd *d, char *out, size_t size, const char *suffix)
{
    int n = snprintf(out, size, "%s/%s%s", d->state_dir, STATE_FILE, suffix);
    return n < 0 || (size_t)n >= size ? LIB_EINVAL : 0;
}

/* Writes the generation and every port, atomically (temporary file,
 * fsync, rename). */
static int state_save(struct agentd *d)
{
    char path[4096], tmp[4096];
    if (state_path(d, path, sizeof path, "") != 0 || state_path(d, tmp, sizeof tmp, ".tmp") != 0) {
        return LIB_EINVAL;
    }
    struct buf b;
    buf_init(&b, 0);
    char line[64];
    int n = snprintf(line, sizeof line, "generation %u\n", d->cfg.generation);
    int rc = buf_put(&b, line, (size_t)n);
    for (size_t i = 0; rc == 0 && i < agent_port_count(d->core); i++) {
        rc = buf_put(&b, "port ", 5);
        rc = rc ? rc : agent_spec_format(&agent_port_at(d->core, i)->spec, &b);
        rc = rc ? rc : buf_put_u8(&b, '\n');
    }
    for (size_t i = 0; rc == 0 && i < agent_port_count(d->core); i++) {
        const struct agent_port *p = agent_port_at(d->core, i);
        for (size_t j = 0; rc == 0 && j < p->fip_count; j++) {
            const struct agent_fip *f = &p->fips[j];
            char fl[AGENT_NAME_MAX + 2 * AGENT_RI_MAX + 64];
            int fn = snprintf(fl, sizeof fl, "fip %s %u.%u.%u.%u %s %s vrf=%u\n", p->spec.name, f->ip4 >> 24,
                              (f->ip4 >> 16) & 0xff, (f->ip4 >> 8) & 0xff, f->ip4 & 0xff, f->ri,
                              f->vn[0] ? f->vn : "-", f->vrf);
            rc = buf_put(&b, fl, (size_t)fn);
        }
    }
    for (size_t i = 0; rc == 0 && d->acfg && i < agent_cfg_binding_count(d->acfg); i++) {
        const struct agent_cfg_binding *bd = agent_cfg_binding_at(d->acfg, i);
        char bl[AGENT_NAME_MAX + VR_MSG_NAME_MAX + 16];
        int bn = snprintf(bl, sizeof bl, "bind %s tap=%s\n", bd->uuid, bd->tap);
        rc = buf_put(&b, bl, (size_t)bn);
    }
    int fd = rc == 0 ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (rc == 0 && fd < 0) {
        rc = LIB_EIO;
    }
    if (rc == 0 && (write(fd, b.data, b.size) != (ssize_t)b.size || fsync(fd) != 0)) {
        rc = LIB_EIO;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = LIB_EIO;
    }
    buf_destroy(&b);
    if (rc != 0) {
        log_error(MOD, "cannot write the state file", "path=%s err=\"%s\"", path, strata_strerror(rc));
    }
    return rc;
}

/* Reads the previous generation and the ports to re-create into 'specs'
 * (caller frees). A missing file is an empty state. */
/* A "bind UUID tap=IF" line of the state file. */
struct bind_line {
    char uuid[AGENT_NAME_MAX];
    char tap[VR_MSG_NAME_MAX];
};

/* Parses "UUID tap=IF" (the ctl command's and the state file's form). */
static int bind_parse(const char *s, struct bind_line *b)
{
    char uuid[CTL_LINE_MAX], tap[CTL_LINE_MAX];
    char extra;
    if (sscanf(s, "%1023s tap=%1023s %c", uuid, tap, &extra) != 2 || strlen(uuid) >= sizeof b->uuid ||
        strlen(tap) >= sizeof b->tap) {
        return AGENT_ESYNTAX;
    }
    memcpy(b->uuid, uuid, strlen(uuid) + 1);
    memcpy(b->tap, tap, strlen(tap) + 1);
    return 0;
}

static struct bind_line *load_binds;
static size_t load_bind_count;

/* A "fip PORT ADDR INSTANCE NETWORK vrf=N" line of the state file: a
 * port's floating IP as last installed (restored without its policy, like
 * the port, until the config says otherwise). */
struct fip_line {
    char port[AGENT_NAME_MAX];
    struct agent_fip fip;
};

static struct fip_line *load_fips;
static size_t load_fip_count;

static int fip_parse(const char *s, struct fip_line *l)
{
    char port[CTL_LINE_MAX], addr[64], ri[CTL_LINE_MAX], vn[CTL_LINE_MAX];
    unsigned vrf;
    char extra;
    struct in_addr a;
    memset(l, 0, sizeof *l);
    if (sscanf(s, "%1023s %63s %1023s %1023s vrf=%u %c", port, addr, ri, vn, &vrf, &extra) != 5 ||
        strlen(port) >= sizeof l->port || strlen(ri) >= sizeof l->fip.ri || strlen(vn) >= sizeof l->fip.vn ||
        inet_pton(AF_INET, addr, &a) != 1 || vrf > AGENT_VRFS_MAX) {
        return AGENT_ESYNTAX;
    }
    memcpy(l->port, port, strlen(port) + 1);
    l->fip.ip4 = ntohl(a.s_addr);
    memcpy(l->fip.ri, ri, strlen(ri) + 1);
    if (strcmp(vn, "-") != 0) {
        memcpy(l->fip.vn, vn, strlen(vn) + 1);
    }
    l->fip.vrf = vrf;
    return 0;
}

/* Gives every restored port the floating IPs the state file lists for it. */
static void fips_restore(struct agentd *d)
{
    for (size_t i = 0; i < agent_port_count(d->core); i++) {
        const struct agent_port *p = agent_port_at(d->core, i);
        struct agent_fip fips[AGENT_FIP_MAX];
        size_t n = 0;
        for (size_t j = 0; j < load_fip_count && n < AGENT_FIP_MAX; j++) {
            if (strcmp(load_fips[j].port, p->spec.name) == 0) {
                fips[n++] = load_fips[j].fip;
            }
        }
        int rc = n ? agent_port_fips_set(d->core, p->spec.name, fips, n) : 0;
        if (rc != 0) {
            log_error(MOD, "cannot restore floating IPs", "port=%s err=\"%s\"", p->spec.name, strata_strerror(rc));
        }
    }
}

/* Grows the array '*arr' of 'count' elements of 'size' bytes by one and
 * returns the new, last slot; NULL (the array unchanged) when out of
 * memory. */
static void *state_slot(void **arr, size_t count, size_t size)
{
    char *a = realloc(*arr, (count + 1) * size);
    if (!a) {
        return NULL;
    }
    *arr = a;
    return a + count * size;
}

static int state_load(struct agentd *d, uint32_t *gen, struct agent_port_spec **specs, size_t *count)
{
    char path[4096];
    *gen = 0;
    *specs = NULL;
    *count = 0;
    if (state_path(d, path, sizeof path, "") != 0) {
        return LIB_EINVAL;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        return errno == ENOENT ? 0 : LIB_EIO;
    }
    char line[CTL_LINE_MAX + 16];
    int rc = 0;
    unsigned lineno = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        unsigned g;
        char err[128];
        if (sscanf(line, "generation %u", &g) == 1) {
            *gen = g;
        } else if (strncmp(line, "port ", 5) == 0) {
            struct agent_port_spec *s = state_slot((void **)specs, *count, sizeof *s);
            if (!s) {
                rc = LIB_ENOMEM;
                break;
            }
            if (agent_spec_parse(line + 5, s, err, sizeof err) != 0) {
                log_error(MOD, "bad line in the state file", "path=%s line=%u err=\"%s\"", path, lineno, err);
                rc = AGENT_ESYNTAX;
            } else {
                (*count)++;
            }
        } else if (strncmp(line, "bind ", 5) == 0) {
            struct bind_line *bl = state_slot((void **)&load_binds, load_bind_count, sizeof *bl);
            if (!bl) {
                rc = LIB_ENOMEM;
                break;
            }
            if (bind_parse(line + 5, bl) != 0) {
                log_error(MOD, "bad line in the state file", "path=%s line=%u", path, lineno);
                rc = AGENT_ESYNTAX;
            } else {
                load_bind_count++;
            }
        } else if (strncmp(line, "fip ", 4) == 0) {
            struct fip_line *fl = state_slot((void **)&load_fips, load_fip_count, sizeof *fl);
            if (!fl) {
                rc = LIB_ENOMEM;
                break;
            }
            if (fip_parse(line + 4, fl) != 0) {
                log_error(MOD, "bad line in the state file", "path=%s line=%u", path, lineno);
                rc = AGENT_ESYNTAX;
            } else {
                load_fip_count++;
            }
        } else if (line[0]) {
            log_error(MOD, "bad line in the state file", "path=%s line=%u", path, lineno);
            rc = AGENT_ESYNTAX;
        }
    }
    fclose(f);
    return rc;
}

/* ---- the command socket ---- */

static int put_line(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int put_line(struct buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return LIB_EINVAL;
    }
    return buf_put(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void cmd_status(struct agentd *d, struct buf *b)
{
    struct agent_status st;
    agent_status_get(d->core, &st);
    int rc = put_line(b, "generation %u swept %s\n", st.generation, st.swept ? "yes" : "no");
    for (size_t i = 0; rc == 0 && i < d->node_count; i++) {
        const struct node *n = &d->nodes[i];
        rc = put_line(b, "node%zu %s:%u %s eor %s connects %llu routes_in %llu\n", i, n->host, n->port,
                      n->up ? "up" : "down", st.node_eor[i] ? "yes" : "no", (unsigned long long)n->connects,
                      (unsigned long long)n->routes_in);
    }
    rc = rc ? rc : put_line(b, "ports %zu instances %zu routes %zu programmed %zu stale %zu tunnels %zu adopted %zu\n",
                            st.ports, st.instances, st.routes, st.programmed, st.stale_copies, st.tunnel_nhs,
                            st.adopted);
    rc = rc ? rc : put_line(b, "flows forward %llu drop %llu drops_lifted %llu entries %zu over_limit %llu aged %llu\n",
                            (unsigned long long)st.flows_forward, (unsigned long long)st.flows_drop,
                            (unsigned long long)st.drops_lifted, st.flow_entries,
                            (unsigned long long)st.flows_over_limit, (unsigned long long)st.flows_aged);
    struct agent_cfg_status cs;
    agent_cfg_status_get(d->acfg, &cs);
    rc = rc ? rc : put_line(b, "ecmp %zu macs %zu denied %llu nat %llu fips %zu fip_refused %llu\n", st.ecmp_nhs,
                            st.macs, (unsigned long long)st.flows_denied, (unsigned long long)st.flows_nat, st.fips,
                            (unsigned long long)cs.fip_refusals);
    static const char *const encap_names[] = {[DP_ENCAP_MPLS_GRE] = "mplsgre", [DP_ENCAP_MPLS_UDP] = "mplsudp",
                                              [DP_ENCAP_VXLAN] = "vxlan"};
    char enc[64] = "";
    for (size_t i = 0; i < cs.encap_count; i++) {
        size_t at = strlen(enc);
        snprintf(enc + at, sizeof enc - at, "%s%s", i ? "," : "", encap_names[cs.encaps[i]]);
    }
    rc = rc ? rc : put_line(b, "config stanzas %llu refused %llu bindings %zu bound %zu held %zu encap %s (%s)\n",
                            (unsigned long long)d->config_stanzas, (unsigned long long)d->config_refused,
                            cs.bindings, cs.bound, cs.held, enc, cs.encap_from_config ? "config" : "default");
    rc = rc ? rc : put_line(b, "punts arp %llu dhcp %llu dns %llu nd %llu flow_miss %llu nh %llu bad %llu\n",
                            (unsigned long long)d->punts[DP_PUNT_ARP], (unsigned long long)d->punts[DP_PUNT_DHCP],
                            (unsigned long long)d->punts[DP_PUNT_DNS], (unsigned long long)d->punts[DP_PUNT_ND],
                            (unsigned long long)d->punts[DP_PUNT_FLOW_MISS], (unsigned long long)d->punts[DP_PUNT_NH],
                            (unsigned long long)(d->punts_bad + st.punts_bad));
    rc = rc ? rc : put_line(b, "proxy replies %llu silent %llu reinjects %llu tx_errors %llu held %llu\n",
                            (unsigned long long)d->proxy_replies, (unsigned long long)d->proxy_silent,
                            (unsigned long long)d->reinjects, (unsigned long long)d->tx_errors,
                            (unsigned long long)d->held);
    struct dnsr_stats ds;
    dnsr_stats_get(d->dnsr, &ds);
    rc = rc ? rc : put_line(b, "dns asked %llu answered %llu timeouts %llu full %llu hits %llu pending %zu cached %zu\n",
                            (unsigned long long)ds.asked, (unsigned long long)ds.answered,
                            (unsigned long long)ds.timeouts, (unsigned long long)ds.refused_full,
                            (unsigned long long)ds.cache_hits, ds.questions, ds.cached);
    rc = rc ? rc : put_line(b, "ring %s punts %llu requests %llu spilled %llu malformed %llu wakes %llu\n",
                            d->ring_on ? "on" : "off", (unsigned long long)d->ring_punts,
                            (unsigned long long)d->ring_requests, (unsigned long long)d->ring_spilled,
                            (unsigned long long)d->ring_malformed, (unsigned long long)d->ring_wakes);
    rc = rc ? rc : put_line(b, "datapath requests %llu writes %llu refused %llu gone %llu alloc_failures %llu\n",
                            (unsigned long long)d->dp_sent, (unsigned long long)d->vr_writes,
                            (unsigned long long)d->dp_errors, (unsigned long long)d->dp_enoent,
                            (unsigned long long)st.alloc_failures);
    (void)rc;
}

/* Runs one command line; appends the answer (ending "ok\n" or "error: ...\n"). */
static void ctl_execute(struct agentd *d, char *line, struct buf *b)
{
    char err[160] = "";
    int rc = 0;
    while (*line == ' ') {
        line++;
    }
    if (strncmp(line, "port add ", 9) == 0) {
        struct agent_port_spec s;
        rc = agent_spec_parse(line + 9, &s, err, sizeof err);
        if (rc == 0) {
            rc = agent_port_add(d->core, &s);
        }
        if (rc == 0) {
            rc = state_save(d);
            const struct agent_port *p = agent_port_find(d->core, s.name);
            log_info(MOD, "port added", "name=%s ifindex=%u vrf=%u label=%u", p->spec.name, p->spec.ifindex,
                     p->spec.vrf, p->label);
        }
    } else if (strncmp(line, "port bind ", 10) == 0) {
        struct bind_line bl;
        rc = bind_parse(line + 10, &bl);
        if (rc != 0) {
            snprintf(err, sizeof err, "usage: port bind UUID tap=IF");
        } else {
            rc = agent_cfg_bind(d->acfg, bl.uuid, bl.tap);
            if (rc == AGENT_EHELD) { /* kept: completed when the config arrives */
                const struct agent_cfg_binding *bd = NULL;
                for (size_t i = 0; i < agent_cfg_binding_count(d->acfg); i++) {
                    bd = agent_cfg_binding_at(d->acfg, i);
                    if (strcmp(bd->uuid, bl.uuid) == 0) {
                        break;
                    }
                }
                rc = put_line(b, "held %s\n", bd ? bd->reason : "");
            }
            if (rc == 0) {
                acfg_settle(d);
                rc = state_save(d);
                log_info(MOD, "port bound", "uuid=%s tap=%s port=%s", bl.uuid, bl.tap,
                         agent_port_find(d->core, bl.uuid) ? "created" : "held");
            }
        }
    } else if (strncmp(line, "port unbind ", 12) == 0) {
        rc = agent_cfg_unbind(d->acfg, line + 12);
        if (rc == 0) {
            acfg_settle(d);
            rc = state_save(d);
            log_info(MOD, "port unbound", "uuid=%s", line + 12);
        }
    } else if (strcmp(line, "flows") == 0) {
        rc = agent_flows_format(d->core, 10000, b);
    } else if (strcmp(line, "bindings") == 0) {
        for (size_t i = 0; rc == 0 && i < agent_cfg_binding_count(d->acfg); i++) {
            const struct agent_cfg_binding *bd = agent_cfg_binding_at(d->acfg, i);
            rc = put_line(b, "%s tap=%s %s%s%s\n", bd->uuid, bd->tap, bd->bound ? "bound" : "held",
                          bd->bound ? "" : " ", bd->bound ? "" : bd->reason);
        }
    } else if (strncmp(line, "port del ", 9) == 0) {
        rc = agent_port_del(d->core, line + 9);
        if (rc == 0) {
            rc = state_save(d);
            log_info(MOD, "port deleted", "name=%s", line + 9);
        }
    } else if (strcmp(line, "ports") == 0) {
        for (size_t i = 0; rc == 0 && i < agent_port_count(d->core); i++) {
            const struct agent_port *p = agent_port_at(d->core, i);
            rc = agent_spec_format(&p->spec, b);
            rc = rc ? rc : put_line(b, " label=%u nh=%u", p->label, p->nh);
            for (size_t j = 0; rc == 0 && j < p->fip_count; j++) {
                const struct agent_fip *f = &p->fips[j];
                rc = put_line(b, " fip=%u.%u.%u.%u@%s", f->ip4 >> 24, (f->ip4 >> 16) & 0xff, (f->ip4 >> 8) & 0xff,
                              f->ip4 & 0xff, f->ri);
            }
            rc = rc ? rc : put_line(b, "\n");
        }
    } else if (strncmp(line, "routes ", 7) == 0) {
        rc = agent_routes_format(d->core, line + 7, b);
    } else if (strcmp(line, "status") == 0) {
        cmd_status(d, b);
    } else {
        snprintf(err, sizeof err, "unknown command (port add SPEC, port bind UUID tap=IF, port unbind UUID, port del NAME, bindings, "
                 "ports, routes RI, flows, status)");
        rc = AGENT_EINVAL;
    }
    if (rc == 0) {
        (void)put_line(b, "ok\n");
    } else {
        (void)put_line(b, "error: %s\n", err[0] ? err : strata_strerror(rc));
    }
}

static void ctl_closed(uv_handle_t *h)
{
    free(h->data);
}

struct ctl_write {
    uv_write_t req;
    struct ctl_client *c;
    struct buf b;
};

static void ctl_written(uv_write_t *req, int status)
{
    struct ctl_write *w = (struct ctl_write *)req;
    (void)status;
    buf_destroy(&w->b);
    uv_close((uv_handle_t *)&w->c->pipe, ctl_closed);
    free(w);
}

static void ctl_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct ctl_client *c = h->data;
    (void)hint;
    *b = uv_buf_init(c->line + c->len, (unsigned)(sizeof c->line - 1 - c->len));
}

static void ctl_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct ctl_client *c = s->data;
    (void)buf;
    if (c->answered) {
        return;
    }
    if (n < 0) {
        uv_close((uv_handle_t *)&c->pipe, ctl_closed);
        c->answered = true;
        return;
    }
    c->len += (size_t)n;
    c->line[c->len] = '\0';
    char *nl = strchr(c->line, '\n');
    if (!nl && c->len < sizeof c->line - 1) {
        return;
    }
    if (nl) {
        *nl = '\0';
    }
    c->answered = true;
    uv_read_stop(s);
    struct ctl_write *w = calloc(1, sizeof *w);
    if (!w) {
        uv_close((uv_handle_t *)&c->pipe, ctl_closed);
        return;
    }
    w->c = c;
    buf_init(&w->b, 0);
    if (!nl) {
        (void)put_line(&w->b, "error: line too long\n");
    } else {
        ctl_execute(c->d, c->line, &w->b);
    }
    uv_buf_t b = uv_buf_init((char *)w->b.data, (unsigned)w->b.size);
    if (uv_write(&w->req, s, &b, 1, ctl_written) != 0) {
        buf_destroy(&w->b);
        free(w);
        uv_close((uv_handle_t *)&c->pipe, ctl_closed);
    }
}

static void ctl_accept(uv_stream_t *server, int status)
{
    struct agentd *d = server->data;
    if (status < 0) {
        return;
    }
    struct ctl_client *c = calloc(1, sizeof *c);
    if (!c) {
        return;
    }
    c->d = d;
    uv_pipe_init(d->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
        uv_read_start((uv_stream_t *)&c->pipe, ctl_alloc, ctl_read) != 0) {
        uv_close((uv_handle_t *)&c->pipe, ctl_closed);
    }
}

/* ---- the ctl client (strata-agent ctl) ---- */

static int ctl_client(int argc, char **argv)
{
    const char *path = NULL;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--ctl") == 0) {
        path = argv[i + 1];
        i += 2;
    }
    if (!path || i >= argc) {
        fprintf(stderr, "usage: strata-agent ctl --ctl PATH COMMAND...\n");
        return 2;
    }
    char line[CTL_LINE_MAX];
    size_t len = 0;
    for (; i < argc; i++) {
        int n = snprintf(line + len, sizeof line - len, "%s%s", len ? " " : "", argv[i]);
        if (n < 0 || (size_t)n >= sizeof line - len) {
            fprintf(stderr, "strata-agent ctl: command too long\n");
            return 2;
        }
        len += (size_t)n;
    }
    line[len++] = '\n';
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "strata-agent ctl: socket path too long\n");
        return 2;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "strata-agent ctl: cannot connect to %s: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return 1;
    }
    if (write(fd, line, len) != (ssize_t)len) {
        fprintf(stderr, "strata-agent ctl: write: %s\n", strerror(errno));
        close(fd);
        return 1;
    }
    struct buf ans;
    buf_init(&ans, 16u << 20);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        if (buf_put(&ans, chunk, (size_t)n) != 0) {
            break;
        }
    }
    close(fd);
    fwrite(ans.data, 1, ans.size, stdout);
    bool ok = ans.size >= 3 && memcmp(ans.data + ans.size - 3, "ok\n", 3) == 0 &&
              (ans.size == 3 || ans.data[ans.size - 4] == '\n');
    buf_destroy(&ans);
    return ok ? 0 : 1;
}

/* ---- startup ---- */

static int parse_encaps(const char *s, struct agent_config *cfg)
{
    char copy[128];
    snprintf(copy, sizeof copy, "%s", s);
    cfg->encap_count = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        uint8_t e;
        if (strcmp(t, "mplsudp") == 0) {
            e = DP_ENCAP_MPLS_UDP;
        } else if (strcmp(t, "mplsgre") == 0) {
            e = DP_ENCAP_MPLS_GRE;
        } else if (strcmp(t, "vxlan") == 0) {
            e = DP_ENCAP_VXLAN;
        } else {
            return -1;
        }
        for (size_t i = 0; i < cfg->encap_count; i++) {
            if (cfg->encaps[i] == e) {
                return -1;
            }
        }
        if (cfg->encap_count == 3) {
            return -1;
        }
        cfg->encaps[cfg->encap_count++] = e;
    }
    return cfg->encap_count ? 0 : -1;
}

static int parse_hostport(const char *s, struct node *n)
{
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof n->host || colon == s) {
        return -1;
    }
    memcpy(n->host, s, (size_t)(colon - s));
    n->host[colon - s] = '\0';
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end || p == 0 || p > 65535) {
        return -1;
    }
    n->port = (uint16_t)p;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: strata-agent --name NAME --pki DIR --control HOST:PORT [--control HOST:PORT]\n"
                    "         --vrouter-sock PATH --fabric-ip ADDR --state-dir DIR --ctl PATH\n"
                    "         [--encap mplsudp,mplsgre,vxlan] [--stale-timeout S] [--sweep-timeout S]\n"
                    "         [--agent-if NAME] [--punt-if NAME] [--flow-limit N] [--flow-idle S]\n"
                    "       strata-agent ctl --ctl PATH COMMAND...\n"
                    "       strata-agent enroll --url https://IP:PORT --token T --ca-fingerprint SHA256\n"
                    "                           --pki-dir DIR\n");
}

#ifdef STRATA_HAVE_JOIN_CLIENT
/* `strata-agent enroll`: the agent's certificate from a vrouter join token.
 * Exit 0 (prints the bound virtual-router name), 1 failed, 2 usage, 4 the
 * token was already used (409), 6 the server refused the token (401/403). */
static int enroll_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, 0, 'u'},     {"token", required_argument, 0, 't'},
        {"ca-fingerprint", required_argument, 0, 'f'}, {"pki-dir", required_argument, 0, 'p'},
        {0, 0, 0, 0},
    };
    struct join_request jr = {.kind = JOIN_KIND_VROUTER};
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'u': jr.url = optarg; break;
        case 't': jr.token = optarg; break;
        case 'f': jr.fingerprint = optarg; break;
        case 'p': jr.pki_dir = optarg; break;
        default: usage(); return 2;
        }
    }
    if (optind != argc || !jr.url || !jr.token || !jr.fingerprint || !jr.pki_dir) {
        usage();
        return 2;
    }
    char err[1024] = "";
    json_t *answer = NULL;
    int status = 0;
    wolfSSL_Init();
    int rc = join_client_enroll(&jr, &answer, &status, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "strata-agent: enroll: %s\n", err);
        wolfSSL_Cleanup();
        return rc != JOIN_EREFUSED ? 1 : status == 401 || status == 403 ? 6 : status == 409 ? 4 : 1;
    }
    const char *name = json_string_value(json_object_get(answer, "name"));
    printf("%s\n", name);
    fprintf(stderr, "strata-agent: enrolled as virtual-router %s: %s/%s.pem (run with --name %s --pki %s)\n",
            name, jr.pki_dir, name, name, jr.pki_dir);
    json_decref(answer);
    wolfSSL_Cleanup();
    return 0;
}
#endif

static int parse_args(struct agentd *d, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, 0, 'n'},          {"pki", required_argument, 0, 'p'},
        {"control", required_argument, 0, 'c'},       {"vrouter-sock", required_argument, 0, 'v'},
        {"fabric-ip", required_argument, 0, 'f'},     {"state-dir", required_argument, 0, 's'},
        {"ctl", required_argument, 0, 'C'},           {"encap", required_argument, 0, 'e'},
        {"stale-timeout", required_argument, 0, 'T'}, {"sweep-timeout", required_argument, 0, 'W'},
        {"agent-if", required_argument, 0, 'a'},      {"flow-limit", required_argument, 0, 'L'},
        {"flow-idle", required_argument, 0, 'I'},     {"punt-if", required_argument, 0, 'P'},
        {"no-ring", no_argument, 0, 'R'},             {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        struct in_addr a;
        char *end;
        unsigned long v;
        switch (o) {
        case 'n':
            d->name = optarg;
            break;
        case 'p':
            d->pki = optarg;
            break;
        case 'c':
            if (d->node_count == AGENT_MAX_NODES || parse_hostport(optarg, &d->nodes[d->node_count]) != 0) {
                return -1;
            }
            d->node_count++;
            break;
        case 'v':
            d->vr_sock = optarg;
            break;
        case 'f':
            if (inet_pton(AF_INET, optarg, &a) != 1) {
                return -1;
            }
            d->cfg.fabric_ip = ntohl(a.s_addr);
            break;
        case 's':
            d->state_dir = optarg;
            break;
        case 'C':
            d->ctl_path = optarg;
            break;
        case 'e':
            if (parse_encaps(optarg, &d->cfg) != 0) {
                return -1;
            }
            break;
        case 'T':
        case 'W':
            v = strtoul(optarg, &end, 10);
            if (*end || !*optarg || v == 0 || v > 86400UL * 365) {
                return -1;
            }
            *(o == 'T' ? &d->stale_timeout_ms : &d->sweep_timeout_ms) = (uint64_t)v * 1000;
            break;
        case 'L':
            v = strtoul(optarg, &end, 10);
            if (*end || !*optarg || v == 0 || v > 64UL * 1024 * 1024) {
                return -1;
            }
            d->cfg.flow_limit = (uint32_t)v;
            break;
        case 'I':
            v = strtoul(optarg, &end, 10);
            if (*end || !*optarg || v == 0 || v > 86400UL) {
                return -1;
            }
            d->flow_idle_ms = (uint64_t)v * 1000;
            break;
        case 'R':
            d->no_ring = true;
            break;
        case 'a':
        case 'P':
            if (strlen(optarg) >= sizeof d->agent_if) {
                return -1;
            }
            snprintf(o == 'a' ? d->agent_if : d->punt_if, sizeof d->agent_if, "%s", optarg);
            break;
        default:
            return -1;
        }
    }
    if (optind != argc || !d->name || !d->pki || !d->node_count || !d->vr_sock || !d->cfg.fabric_ip ||
        !d->state_dir || !d->ctl_path) {
        return -1;
    }
    return 0;
}

static int tls_setup(struct agentd *d)
{
    char path[4096];
    struct pki_cert *ca = NULL, *cert = NULL;
    struct pki_key *key = NULL;
    snprintf(path, sizeof path, "%s/ca.pem", d->pki);
    int rc = pki_cert_load(path, &ca);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/%s.pem", d->pki, d->name);
        rc = pki_cert_load(path, &cert);
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/%s.key", d->pki, d->name);
        rc = pki_key_load(path, &key);
    }
    if (rc != 0) {
        log_error(MOD, "cannot load the agent's PKI", "path=%s err=\"%s\"", path, strata_strerror(rc));
    }
    if (rc == 0 && strcmp(pki_cert_identity(cert), d->name) != 0) {
        log_error(MOD, "certificate identity differs from --name", "identity=%s name=%s", pki_cert_identity(cert),
                  d->name);
        rc = AGENT_EINVAL;
    }
    if (rc == 0) {
        struct tls_config tc = {.role = TLS_ROLE_CLIENT, .ca = ca, .cert = cert, .key = key,
                                .write_high_watermark = (size_t)64 << 20};
        char err[256];
        rc = tls_ctx_create(&tc, &d->tls, err, sizeof err);
        if (rc != 0) {
            log_error(MOD, "TLS context", "err=\"%s\"", err);
        }
    }
    pki_cert_free(ca);
    pki_cert_free(cert);
    pki_key_free(key);
    return rc;
}

/* Asks the datapath on the fresh, blocking connection 'fd' for the ring
 * channel (VR_MSG_RING) and maps it. Returns 1 when the channel is up, 0
 * when the datapath refused or could not be understood: an older
 * strata-vrouter closes the session on the unknown request, so the caller
 * reconnects and goes on over the socket alone. */
static int ring_negotiate(struct agentd *d, int fd)
{
    struct vr_msg m;
    uint8_t frame[VR_MSG_MAX];
    size_t size = 0;
    vr_msg_init(&m, VR_MSG_RING, 0, ++d->vr_seq);
    m.u.ring.slots = VR_RING_SLOTS_DEFAULT;
    if (vr_msg_encode(&m, frame, sizeof frame, &size) != 0 || send(fd, frame, size, MSG_NOSIGNAL) != (ssize_t)size) {
        return 0;
    }
    struct timeval tv = {.tv_sec = 5};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* the answer is one REPLY frame, the descriptors on its first byte */
    uint8_t reply[VR_MSG_HDR_SIZE + 8];
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = reply, .iov_len = sizeof reply};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    ssize_t n = recvmsg(fd, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC);
    int fds[3] = {-1, -1, -1};
    size_t nfds = 0;
    for (struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int one;
                memcpy(&one, CMSG_DATA(cm) + i * sizeof(int), sizeof one);
                if (nfds < 3) {
                    fds[nfds++] = one;
                } else {
                    close(one); /* more than asked for */
                }
            }
        }
    }
    tv.tv_sec = 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct vr_msg r;
    int ok = n == (ssize_t)sizeof reply && !(mh.msg_flags & MSG_CTRUNC) && vr_msg_decode(reply, sizeof reply, &r) == 0 &&
             r.type == VR_MSG_REPLY && r.seq == m.seq && r.u.reply.code == 0 && r.u.reply.value == m.u.ring.slots &&
             nfds == 3;
    if (!ok) {
        for (size_t i = 0; i < nfds; i++) {
            close(fds[i]);
        }
        log_info(MOD, "datapath has no ring channel: requests and punts go over its socket", "answer=%zd err=\"%s\"",
                 n, n == (ssize_t)sizeof reply && vr_msg_decode(reply, sizeof reply, &r) == 0 && r.u.reply.code
                        ? strata_strerror(r.u.reply.code) : "");
        return 0;
    }
    int rc = vr_ring_chan_open(fds[0], fds[1], fds[2], m.u.ring.slots, &d->ring);
    if (rc != 0) {
        log_warn(MOD, "cannot map the datapath's ring channel", "err=\"%s\"", strata_strerror(rc));
        return 0;
    }
    return 1;
}

static int vr_connect(struct agentd *d)
{
    /* blocking connect (the datapath must be there first), then libuv owns the fd */
    bool try_ring = !d->no_ring;
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (fd < 0 || strlen(d->vr_sock) >= sizeof sa.sun_path) {
            if (fd >= 0) {
                close(fd);
            }
            return LIB_EINVAL;
        }
        memcpy(sa.sun_path, d->vr_sock, strlen(d->vr_sock) + 1);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            if (try_ring) {
                try_ring = false;
                if (!ring_negotiate(d, fd)) {
                    close(fd); /* the datapath may have ended this session: a new one without */
                    attempt--;
                    continue;
                }
                d->ring_on = true;
                agent_flow_pairs_set(d->core, true); /* a datapath with rings has FLOW_PAIR */
                uv_poll_init(d->loop, &d->ring_poll, d->ring.efd_down);
                d->ring_poll.data = d;
                uv_poll_start(&d->ring_poll, UV_READABLE, ring_ready);
                uv_check_init(d->loop, &d->ring_check);
                d->ring_check.data = d;
                uv_check_start(&d->ring_check, ring_checked);
                uv_idle_init(d->loop, &d->ring_idle);
                d->ring_idle.data = d;
                log_info(MOD, "ring channel with the datapath", "slots=%u bytes=%zu", d->ring.up.count,
                         d->ring.map_size);
            }
            uv_pipe_init(d->loop, &d->vr, 0);
            d->vr.data = d;
            int rc = uv_pipe_open(&d->vr, fd);
            if (rc == 0) {
                rc = uv_read_start((uv_stream_t *)&d->vr, vr_alloc, vr_read);
            }
            return rc;
        }
        close(fd);
        usleep(100000);
    }
    log_error(MOD, "cannot connect to the datapath", "sock=%s err=\"%s\"", d->vr_sock, strerror(errno));
    return LIB_EIO;
}

static int ctl_listen(struct agentd *d)
{
    unlink(d->ctl_path);
    uv_pipe_init(d->loop, &d->ctl, 0);
    d->ctl.data = d;
    mode_t old = umask(0077);
    int rc = uv_pipe_bind(&d->ctl, d->ctl_path);
    umask(old);
    if (rc == 0) {
        rc = chmod(d->ctl_path, 0600) == 0 ? 0 : -errno;
    }
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&d->ctl, 16, ctl_accept);
    }
    if (rc != 0) {
        log_error(MOD, "cannot listen on the command socket", "path=%s err=\"%s\"", d->ctl_path, uv_strerror(rc));
    }
    return rc;
}

static void sweep_fired(uv_timer_t *t)
{
    struct agentd *d = t->data;
    if (agent_generation_swept(d->core)) {
        return;
    }
    if (!any_node_up(d)) {
        /* headless since the restart: what the previous generation
         * installed is all we have; keep it until a node is back */
        log_warn(MOD, "no control node reachable: previous generations kept until one is back", "generation=%u",
                 d->cfg.generation);
        uv_timer_start(t, sweep_fired, d->sweep_timeout_ms, 0);
        return;
    }
    log_warn(MOD, "no End-of-RIB from every control node in time: sweeping the previous generations",
             "generation=%u", d->cfg.generation);
    agent_generation_sweep(d->core);
}

/* Starts a flow dump; its reply runs the aging (vr_read). */
static void age_fired(uv_timer_t *t)
{
    struct agentd *d = t->data;
    if (d->flow_dump_seq) {
        return; /* the previous dump is still coming */
    }
    agent_time_set(d->core, uv_now(d->loop));
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_DUMP_REQ, 0, 0);
    m.u.table = VR_TABLE_FLOW;
    dp_send(d, &m);
    d->flow_dump_seq = d->vr_seq;
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct agentd *d = h->data;
    log_info(MOD, "stopping", "signal=%d", sig);
    uv_stop(d->loop);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ctl") == 0) {
        return ctl_client(argc - 1, argv + 1);
    }
#ifdef STRATA_HAVE_JOIN_CLIENT
    if (argc > 1 && strcmp(argv[1], "enroll") == 0) {
        return enroll_main(argc - 1, argv + 1);
    }
#endif
    static struct agentd dd;
    struct agentd *d = &dd;
    d->punt_fd = -1;
    d->stale_timeout_ms = 24ull * 3600 * 1000;
    d->sweep_timeout_ms = 120ull * 1000;
    snprintf(d->agent_if, sizeof d->agent_if, "pkt0");
    d->cfg.encaps[0] = DP_ENCAP_MPLS_UDP;
    d->cfg.encaps[1] = DP_ENCAP_MPLS_GRE;
    d->cfg.encaps[2] = DP_ENCAP_VXLAN;
    d->cfg.encap_count = 3;
    d->flow_idle_ms = AGENT_FLOW_IDLE_MS_DEFAULT;
    if (parse_args(d, argc, argv) != 0) {
        usage();
        return 2;
    }
    if (!d->punt_if[0]) {
        memcpy(d->punt_if, d->agent_if, sizeof d->punt_if);
    }
    signal(SIGPIPE, SIG_IGN);
    d->loop = uv_default_loop();
    buf_init(&d->out, PUNT_FRAME_MAX * 2);
    buf_init(&d->tx_frames, (size_t)PUNT_BATCH * 256);
    buf_init(&d->vr_pending, 64 * 1024);
    buf_init(&d->ring_spill, 64u << 20);
    d->cfg.flow_idle_ms = d->flow_idle_ms;
    d->rx_frames = malloc((size_t)PUNT_BATCH * PUNT_RX_MAX);
    if (!d->rx_frames) {
        log_error(MOD, "out of memory", "bytes=%zu", (size_t)PUNT_BATCH * PUNT_RX_MAX);
        return 1;
    }
    struct agent_port_spec *specs = NULL;
    size_t spec_count = 0;
    uint32_t prev_gen = 0;
    if (mkdir(d->state_dir, 0700) != 0 && errno != EEXIST) {
        log_error(MOD, "cannot create the state directory", "path=%s err=\"%s\"", d->state_dir, strerror(errno));
        return 1;
    }
    int rc = state_load(d, &prev_gen, &specs, &spec_count);
    if (rc != 0) {
        log_error(MOD, "cannot read the state file", "err=\"%s\"", strata_strerror(rc));
        free(specs);
        free(load_binds);
        free(load_fips);
        return 1;
    }
    d->cfg.generation = prev_gen + 1;
    d->cfg.node_count = d->node_count;
    static const uint8_t router_mac[6] = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x00};
    memcpy(d->cfg.router_mac, router_mac, 6);
    memcpy(d->cfg.agent_if_name, d->agent_if, sizeof d->cfg.agent_if_name);
    static const struct agent_ops ops = {
        .dp_send = dp_send,
        .subscribe = op_subscribe,
        .unsubscribe = op_unsubscribe,
        .publish = op_publish,
        .withdraw = op_withdraw,
        .eor = op_eor,
    };
    rc = tls_setup(d);
    rc = rc ? rc : agent_core_create(&d->cfg, &ops, d, &d->core);
    rc = rc ? rc : agent_cfg_create(d->core, d->node_count, d->cfg.encaps, d->cfg.encap_count, &d->acfg);
    rc = rc ? rc : dnsr_create(NULL, &d->dnsr);
    rc = rc ? rc : vr_connect(d);
    if (rc == 0) {
        uv_prepare_init(d->loop, &d->vr_prepare);
        d->vr_prepare.data = d;
        uv_prepare_start(&d->vr_prepare, vr_prepare_cb);
    }
    if (rc != 0) {
        log_error(MOD, "cannot start", "err=\"%s\"", strata_strerror(rc));
        free(specs);
        free(load_binds);
        free(load_fips);
        tls_ctx_free(d->tls);
        dnsr_free(d->dnsr);
        agent_cfg_free(d->acfg);
        agent_core_free(d->core);
        return 1;
    }
    /* the new generation: interfaces, then every port from the state dir */
    agent_core_start(d->core);
    /* flow misses on the connection, their packets held by the datapath
     * (a datapath without this refuses: misses then come on the punt
     * interface and are re-injected there) */
    struct vr_msg sub;
    vr_msg_init(&sub, VR_MSG_PUNT_SUB, 0, 0);
    sub.u.id = VR_PUNT_SUB_ALL;
    dp_send(d, &sub);
    d->punt_sub_seq = d->vr_seq;
    for (size_t i = 0; i < spec_count; i++) {
        rc = agent_port_add(d->core, &specs[i]);
        if (rc != 0) {
            log_error(MOD, "cannot re-create a port from the state file", "name=%s err=\"%s\"", specs[i].name,
                      strata_strerror(rc));
        }
    }
    free(specs);
    fips_restore(d);
    free(load_fips);
    load_fips = NULL;
    for (size_t i = 0; i < load_bind_count; i++) { /* their ports were restored above */
        rc = agent_cfg_bind(d->acfg, load_binds[i].uuid, load_binds[i].tap);
        if (rc != 0 && rc != AGENT_EHELD) {
            log_error(MOD, "cannot restore a binding", "uuid=%s err=\"%s\"", load_binds[i].uuid, strata_strerror(rc));
        }
    }
    free(load_binds);
    load_binds = NULL;
    if (prev_gen) { /* what the previous generation programmed, for agent_route_adopt() */
        struct vr_msg m;
        vr_msg_init(&m, VR_MSG_DUMP_REQ, 0, 0);
        m.u.table = VR_TABLE_NH;
        dp_send(d, &m);
        m.u.table = VR_TABLE_ROUTE;
        dp_send(d, &m);
        d->dump_route_seq = d->vr_seq;
    }
    rc = state_save(d);
    log_info(MOD, "started", "name=%s generation=%u ports=%zu control_nodes=%zu", d->name, d->cfg.generation,
             agent_port_count(d->core), d->node_count);
    rc = rc ? rc : ctl_listen(d);
    if (rc != 0) {
        return 1;
    }
    uv_timer_init(d->loop, &d->punt_timer);
    d->punt_timer.data = d;
    uv_timer_start(&d->punt_timer, punt_wait, 0, 50);
    uv_timer_init(d->loop, &d->stale_timer);
    d->stale_timer.data = d;
    uv_timer_init(d->loop, &d->sweep_timer);
    d->sweep_timer.data = d;
    uv_timer_start(&d->sweep_timer, sweep_fired, d->sweep_timeout_ms, 0);
    uv_timer_init(d->loop, &d->age_timer);
    d->age_timer.data = d;
    uv_timer_init(d->loop, &d->dns_timer);
    d->dns_timer.data = d;
    uint64_t age_every = d->flow_idle_ms / 4 > 1000 ? d->flow_idle_ms / 4 : 1000;
    uv_timer_start(&d->age_timer, age_fired, age_every, age_every);
    d->rng = (uint32_t)(uv_hrtime() ^ ((uint64_t)getpid() << 16)) | 1u; /* agents differ, never 0 */
    for (size_t i = 0; i < d->node_count; i++) {
        struct node *n = &d->nodes[i];
        n->d = d;
        n->idx = (int)i;
        n->held = json_object();
        n->stale = json_object();
        if (!n->held || !n->stale) {
            log_error(MOD, "out of memory", NULL);
            return 1;
        }
        uv_timer_init(d->loop, &n->timer);
        n->timer.data = n;
        node_connect(n);
        if (!n->conn) {
            uv_timer_start(&n->timer, node_tick, reconnect_delay(n), 1000);
        }
    }
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    d->sigterm.data = d->sigint.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_run(d->loop, UV_RUN_DEFAULT);
    /* shutdown: connections are reset (an orderly XMPP close would make the
     * control nodes withdraw our routes at once; a stop is not a removal) */
    for (size_t i = 0; i < d->node_count; i++) {
        struct node *n = &d->nodes[i];
        if (n->conn) {
            tls_conn_free(n->conn);
            n->conn = NULL;
        }
        if (n->session_init) {
            xmpp_session_destroy(&n->s);
        }
        json_decref(n->held);
        json_decref(n->stale);
    }
    if (d->punt_fd >= 0) {
        uv_poll_stop(&d->punt_poll);
    }
    uv_walk(d->loop, close_walk, NULL);
    uv_run(d->loop, UV_RUN_DEFAULT);
    if (d->ring.map) {
        vr_ring_chan_close(&d->ring);
    }
    if (d->punt_fd >= 0) {
        close(d->punt_fd);
    }
    (void)uv_loop_close(d->loop);
    unlink(d->ctl_path);
    tls_ctx_free(d->tls);
    dnsr_free(d->dnsr);
    agent_cfg_free(d->acfg);
    agent_core_free(d->core);
    buf_destroy(&d->out);
    buf_destroy(&d->tx_frames);
    buf_destroy(&d->vr_pending);
    buf_destroy(&d->ring_spill);
    free(d->rx_frames);
    free(d->dump_nhs);
    return d->exit_code;
}

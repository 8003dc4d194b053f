/* The control side of strata-vrouter: the unix socket clients, framing of
 * their byte streams with vr_msg_peek (a frame's size is checked against
 * VR_MSG_MAX before it is buffered), and the application of each request to
 * the core. A malformed frame costs its sender the session (an error reply,
 * then close); it never changes forwarding state. A closed session changes
 * nothing either: forwarding continues on what was installed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "vrouter/uspace/vrd.h"

#define WBUF_LIMIT (256u << 20) /* a client that never reads loses its session */
#define WBUF_PAUSE (4u << 20)   /* stop reading requests above this backlog */

static int put_msg(struct buf *out, const struct vr_msg *m)
{
    uint8_t frame[VR_MSG_MAX];
    size_t size = 0;
    int rc = vr_msg_encode(m, frame, sizeof frame, &size);
    if (rc == 0) {
        rc = buf_put(out, frame, size);
    }
    return rc;
}

int vrd_ctl_put(struct vrd_conn *c, const struct vr_msg *m)
{
    return put_msg(&c->wbuf, m);
}

static int put_reply(struct buf *out, uint32_t seq, int code, uint32_t value)
{
    struct vr_msg r;
    vr_msg_init(&r, VR_MSG_REPLY, 0, seq);
    r.u.reply.code = code;
    r.u.reply.value = value;
    return put_msg(out, &r);
}

/* Detaches OS devices whose core interface no longer exists. */
static void ports_reconcile(struct vrd *vrd)
{
    struct dp_if i;
    for (uint32_t k = 0; k < vrd->port_slots; k++) {
        if (vrd->ports[k] && dp_if_get(vrd->dp, k, &i) != 0) {
            vrd_port_detach(vrd, k);
        }
    }
    if (vrd->fabric_if && (dp_if_get(vrd->dp, vrd->fabric_if - 1, &i) != 0 || i.type != DP_IF_FABRIC)) {
        vrd_fabric_close(vrd);
    }
}

/* Attaches the OS device of interface 'm', just installed in the core. */
static int if_attach(struct vrd *vrd, const struct vr_msg_if *m)
{
    uint32_t ifindex = m->dpif.ifindex;
    if (m->dpif.type == DP_IF_FABRIC) {
        vrd_port_detach(vrd, ifindex);
        return vrd_fabric_open(vrd, ifindex, m->dpif.ip4);
    }
    if (vrd->fabric_if == ifindex + 1) {
        vrd_fabric_close(vrd);
    }
    if (m->name[0]) {
        return vrd_port_attach(vrd, ifindex, m->name);
    }
    vrd_port_detach(vrd, ifindex);
    return 0;
}

/* Emits every entry of 'table' as a dump frame; '*count' entries. */
static int dump(struct vrd *vrd, uint8_t table, uint32_t seq, struct buf *out, uint32_t *count)
{
    struct vr_msg m;
    uint32_t pos = 0;
    int rc = 0;
    *count = 0;
    for (;;) {
        vr_msg_init(&m, 0, VR_MSG_F_DUMP, seq);
        switch ((enum vr_msg_table)table) {
        case VR_TABLE_IF:
            m.type = VR_MSG_IF;
            rc = dp_if_next(vrd->dp, &pos, &m.u.ifc.dpif);
            if (rc == 0 && m.u.ifc.dpif.ifindex < vrd->port_slots && vrd->ports[m.u.ifc.dpif.ifindex]) {
                memcpy(m.u.ifc.name, vrd->ports[m.u.ifc.dpif.ifindex]->name, VR_MSG_NAME_MAX);
            }
            break;
        case VR_TABLE_VRF:
            m.type = VR_MSG_VRF;
            rc = dp_vrf_next(vrd->dp, &pos, &m.u.vrf);
            break;
        case VR_TABLE_NH:
            m.type = VR_MSG_NH;
            rc = dp_nh_next(vrd->dp, &pos, &m.u.nh);
            break;
        case VR_TABLE_ROUTE:
            m.type = VR_MSG_ROUTE;
            rc = dp_route_next(vrd->dp, &pos, &m.u.route);
            break;
        case VR_TABLE_MAC:
            m.type = VR_MSG_MAC;
            rc = dp_mac_next(vrd->dp, &pos, &m.u.mac);
            break;
        case VR_TABLE_LABEL:
            m.type = VR_MSG_LABEL;
            rc = dp_label_next(vrd->dp, &pos, &m.u.label);
            break;
        case VR_TABLE_VNI:
            m.type = VR_MSG_VNI;
            rc = dp_vni_next(vrd->dp, &pos, &m.u.vni);
            break;
        case VR_TABLE_FLOW:
            m.type = VR_MSG_FLOW;
            rc = dp_flow_next(vrd->dp, &pos, &m.u.flow);
            break;
        default:
            return VR_MSG_EFIELD;
        }
        if (rc == VR_EEND) {
            return 0;
        }
        if (rc != 0) {
            return rc;
        }
        rc = put_msg(out, &m);
        if (rc != 0) {
            return rc;
        }
        (*count)++;
    }
}

int vrd_ctl_handle(struct vrd *vrd, const struct vr_msg *m, struct buf *out)
{
    struct dp *dp = vrd->dp;
    int rc = 0;
    uint32_t value = 0;
    switch ((enum vr_msg_type)m->type) {
    case VR_MSG_STATS_REQ: {
        struct vr_msg s;
        vr_msg_init(&s, VR_MSG_STATS, 0, m->seq);
        s.u.stats.drop_count = DP_DROP_COUNT;
        dp_stats_get(dp, &s.u.stats.stats);
        rc = put_msg(out, &s);
        if (rc != 0) {
            return rc;
        }
        break;
    }
    case VR_MSG_DUMP_REQ:
        rc = dump(vrd, m->u.table, m->seq, out, &value);
        if (rc == LIB_ETOOBIG || rc == LIB_ENOMEM) {
            return rc;
        }
        break;
    case VR_MSG_STATS:
    case VR_MSG_REPLY:
    case VR_MSG_PUNT:
    case VR_MSG_PUNT_SUB: /* a connection's own request: conn_parse answers it */
        rc = VRD_EREQUEST;
        break;
    case VR_MSG_IF:
    case VR_MSG_IF_DEL:
    case VR_MSG_VRF:
    case VR_MSG_VRF_DEL:
    case VR_MSG_NH:
    case VR_MSG_NH_DEL:
    case VR_MSG_ROUTE:
    case VR_MSG_ROUTE_DEL:
    case VR_MSG_MAC:
    case VR_MSG_MAC_DEL:
    case VR_MSG_LABEL:
    case VR_MSG_LABEL_DEL:
    case VR_MSG_VNI:
    case VR_MSG_VNI_DEL:
    case VR_MSG_FLOW:
    case VR_MSG_FLOW_DEL:
    case VR_MSG_GEN_BEGIN:
    case VR_MSG_SWEEP:
        /* the core's tables, then the OS devices that follow them */
        rc = vr_msg_apply(dp, m, vrd_now_ms(), &value);
        if (rc == 0 && m->type == VR_MSG_IF) {
            rc = if_attach(vrd, &m->u.ifc);
        } else if (rc == 0 && (m->type == VR_MSG_IF_DEL || m->type == VR_MSG_SWEEP)) {
            ports_reconcile(vrd);
        } else if (rc == 0 && m->type == VR_MSG_FLOW) {
            vrd_hold_release(vrd, value, &m->u.flow);
        }
        if (rc == 0 && (m->flags & VR_MSG_F_QUIET)) {
            return 0; /* answered only when it fails */
        }
        break;
    }
    return put_reply(out, m->seq, rc, value);
}

/* ---- sessions ---- */

static void conn_events(struct vrd *vrd, struct vrd_conn *c)
{
    uint32_t ev = 0;
    if (!c->paused && !c->closing) {
        ev |= EPOLLIN;
    }
    if (c->wbuf.size) {
        ev |= EPOLLOUT;
    }
    struct epoll_event e = {.events = ev, .data.ptr = &c->src};
    (void)epoll_ctl(vrd->ep, EPOLL_CTL_MOD, c->src.fd, &e);
}

void vrd_ctl_flush(struct vrd *vrd, struct vrd_conn *c)
{
    while (c->wbuf.size && !c->closing) {
        ssize_t n = send(c->src.fd, c->wbuf.data, c->wbuf.size, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                c->closing = 1; /* closed on its next event */
                buf_reset(&c->wbuf);
            }
            break;
        }
        buf_consume(&c->wbuf, (size_t)n);
    }
    conn_events(vrd, c);
}

void vrd_ctl_close(struct vrd *vrd, struct vrd_conn *c)
{
    if (vrd->punt_conn == c) {
        vrd->punt_conn = NULL; /* held packets stay until a flow or a newer punt */
    }
    for (struct vrd_conn **l = &vrd->conns; *l; l = &(*l)->next) {
        if (*l == c) {
            *l = c->next;
            break;
        }
    }
    (void)epoll_ctl(vrd->ep, EPOLL_CTL_DEL, c->src.fd, NULL);
    close(c->src.fd);
    buf_destroy(&c->wbuf);
    log_info("vrouter", "control client gone; forwarding state kept", "fd=%d", c->src.fd);
    free(c);
}

void vrd_ctl_accept(struct vrd *vrd)
{
    for (;;) {
        int fd = accept4(vrd->listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        struct vrd_conn *c = calloc(1, sizeof *c);
        struct epoll_event e = {.events = EPOLLIN};
        if (!c) {
            close(fd);
            continue;
        }
        c->src = (struct vrd_src){.kind = VRD_SRC_CONN, .fd = fd};
        c->vrd = vrd;
        buf_init(&c->wbuf, WBUF_LIMIT);
        e.data.ptr = &c->src;
        if (epoll_ctl(vrd->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = vrd->conns;
        vrd->conns = c;
        log_info("vrouter", "control client connected", "fd=%d", fd);
    }
}

/* Frames and handles what 'c' has buffered. Returns 0, or -1 when the
 * session must end after its queued answers. */
static int conn_parse(struct vrd *vrd, struct vrd_conn *c)
{
    size_t at = 0;
    int rc = 0;
    while (c->rlen - at >= VR_MSG_HDR_SIZE) {
        size_t size = 0;
        struct vr_msg m;
        rc = vr_msg_peek(c->rbuf + at, c->rlen - at, &size);
        if (rc == 0 && size > c->rlen - at) {
            break; /* wait for the rest */
        }
        if (rc == 0) {
            rc = vr_msg_decode(c->rbuf + at, size, &m);
        }
        if (rc != 0) {
            uint32_t seq = be32_load(c->rbuf + at + 8);
            log_warn("vrouter", "bad control frame; closing session", "fd=%d err=\"%s\"", c->src.fd,
                     strata_strerror(rc));
            (void)put_reply(&c->wbuf, seq, rc, 0);
            rc = -1;
            break;
        }
        at += size;
        if (m.type == VR_MSG_PUNT_SUB) {
            int sub = vrd_hold_subscribe(vrd, m.u.id ? c : vrd->punt_conn == c ? NULL : vrd->punt_conn);
            if (sub == 0) {
                log_info("vrouter", m.u.id ? "flow misses punted on the control connection"
                                           : "flow misses punted on the agent interface", "fd=%d", c->src.fd);
            }
            if (put_reply(&c->wbuf, m.seq, sub, 0) != 0) {
                rc = -1;
                break;
            }
            continue;
        }
        if (vrd_ctl_handle(vrd, &m, &c->wbuf) != 0) {
            log_warn("vrouter", "control client backlog too large; closing session", "fd=%d", c->src.fd);
            rc = -1;
            break;
        }
        if (c->wbuf.size > WBUF_PAUSE) {
            c->paused = 1;
            break;
        }
    }
    memmove(c->rbuf, c->rbuf + at, c->rlen - at);
    c->rlen -= at;
    vrd_hold_replay(vrd); /* the held packets these installs released */
    return rc;
}

void vrd_ctl_ready(struct vrd *vrd, struct vrd_conn *c, uint32_t events)
{
    if ((events & EPOLLIN) && !c->paused && !c->closing) {
        /* a few reads while they fill the buffer: a batch of flow
         * requests is larger than one */
        for (int round = 0; round < 16 && !c->paused && !c->closing; round++) {
            size_t room = sizeof c->rbuf - c->rlen;
            ssize_t n = read(c->src.fd, c->rbuf + c->rlen, room);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                if (round == 0 || n == 0) {
                    vrd_ctl_close(vrd, c);
                    return;
                }
                break;
            }
            if (n < 0) {
                break;
            }
            c->rlen += (size_t)n;
            if (conn_parse(vrd, c) != 0) {
                c->closing = 1;
            }
            if ((size_t)n < room) {
                break;
            }
        }
    } else if (events & (EPOLLHUP | EPOLLERR)) {
        vrd_ctl_close(vrd, c);
        return;
    }
    while (c->wbuf.size) {
        ssize_t n = send(c->src.fd, c->wbuf.data, c->wbuf.size, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            vrd_ctl_close(vrd, c);
            return;
        }
        buf_consume(&c->wbuf, (size_t)n);
    }
    if (c->wbuf.size == 0 && c->closing) {
        vrd_ctl_close(vrd, c);
        return;
    }
    if (c->paused && c->wbuf.size < WBUF_PAUSE / 2) {
        c->paused = 0;
        if (conn_parse(vrd, c) != 0) {
            c->closing = 1;
        }
    }
    conn_events(vrd, c);
}

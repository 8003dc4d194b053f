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
#include <sys/uio.h>
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
    case VR_MSG_PUNT_SUB: /* a connection's own requests: conn_parse answers them */
    case VR_MSG_RING:
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
    case VR_MSG_FLOW_PAIR:
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
        } else if (rc == 0 && m->type == VR_MSG_FLOW_PAIR) {
            vrd_hold_release(vrd, value, &m->u.pair.fwd);
        }
        if (rc == 0 && (m->flags & VR_MSG_F_QUIET)) {
            return 0; /* answered only when it fails */
        }
        break;
    }
    return put_reply(out, m->seq, rc, value);
}

/* Answers VR_MSG_PUNT_SUB 'm' of client 'c' (from its socket or its
 * ring). Returns 0 or the buffer error. */
static int punt_sub(struct vrd *vrd, struct vrd_conn *c, const struct vr_msg *m)
{
    int sub = vrd_hold_subscribe(vrd, m->u.id ? c : vrd->punt_conn == c ? NULL : vrd->punt_conn);
    if (sub == 0) {
        log_info("vrouter", !m->u.id ? "flow misses punted on the agent interface"
                            : c->ring ? "flow misses punted into the client's ring"
                                      : "flow misses punted on the control connection", "fd=%d", c->src.fd);
    }
    return put_reply(&c->wbuf, m->seq, sub, 0);
}

/* ---- rings ---- */

/* Ends client 'c''s ring (the session goes on over the socket). */
static void ring_end(struct vrd *vrd, struct vrd_conn *c)
{
    if (!c->ring) {
        return;
    }
    (void)epoll_ctl(vrd->ep, EPOLL_CTL_DEL, c->ring->efd_up, NULL);
    vr_ring_chan_close(c->ring);
    free(c->ring);
    c->ring = NULL;
}

/* Answers VR_MSG_RING 'm' of client 'c': a new channel whose descriptors
 * ride on the reply (SCM_RIGHTS), or a refusal in 'wbuf'. Returns 0, or
 * -1 when the session must end. */
static int ring_setup(struct vrd *vrd, struct vrd_conn *c, const struct vr_msg *m)
{
    int code = 0;
    if (c->ring) {
        code = VRD_EREQUEST; /* one ring per session */
    } else {
        vrd_ctl_flush(vrd, c); /* the descriptors must ride on this reply's bytes */
        if (c->wbuf.size || c->closing) {
            code = VRD_EREQUEST;
        }
    }
    struct vr_ring_chan *ch = NULL;
    if (code == 0) {
        ch = calloc(1, sizeof *ch);
        code = !ch ? LIB_ENOMEM : vr_ring_chan_create(m->u.ring.slots, ch);
    }
    if (code == 0 && !vrd->ring_batch) {
        vrd->ring_batch = malloc(VRD_RING_BATCH * sizeof *vrd->ring_batch);
        code = vrd->ring_batch ? 0 : LIB_ENOMEM;
    }
    if (code == 0) {
        /* edge-triggered: every wake-up the agent writes is an event, and
         * the count is never read (the rings are drained before each wait) */
        struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.ptr = &vrd->ring_wake};
        code = epoll_ctl(vrd->ep, EPOLL_CTL_ADD, ch->efd_up, &e) == 0 ? 0 : VRD_ESYS;
    }
    if (code != 0) {
        if (ch && code != LIB_ENOMEM) {
            vr_ring_chan_close(ch);
        }
        free(ch);
        return put_reply(&c->wbuf, m->seq, code, 0) == 0 ? 0 : -1;
    }
    struct vr_msg r;
    uint8_t frame[VR_MSG_MAX];
    size_t size = 0;
    vr_msg_init(&r, VR_MSG_REPLY, 0, m->seq);
    r.u.reply.value = m->u.ring.slots;
    int rc = vr_msg_encode(&r, frame, sizeof frame, &size);
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = frame, .iov_len = size};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
    int fds[3] = {ch->memfd, ch->efd_down, ch->efd_up};
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    ssize_t n = rc == 0 ? sendmsg(c->src.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) : -1;
    c->ring = ch;
    if (n <= 0) {
        /* the descriptors did not leave: no ring; the session goes on */
        ring_end(vrd, c);
        return put_reply(&c->wbuf, m->seq, VRD_ESYS, 0) == 0 ? 0 : -1;
    }
    if ((size_t)n < size && buf_put(&c->wbuf, frame + n, size - (size_t)n) != 0) {
        return -1;
    }
    log_info("vrouter", "ring channel set up", "fd=%d slots=%u bytes=%zu", c->src.fd, m->u.ring.slots, ch->map_size);
    return 0;
}

int vrd_ring_drain(struct vrd *vrd, struct vrd_conn *c)
{
    uint32_t taken = 0;
    while (c->ring && !c->closing && taken < VRD_RING_BUDGET) {
        uint32_t n = 0;
        int rc = 0;
        while (n < VRD_RING_BATCH) {
            uint8_t rec[VR_MSG_MAX];
            size_t size = 0;
            rc = vr_ring_get(&c->ring->up, rec, &size);
            if (rc == VR_RING_EMALFORMED) {
                vrd->ring_malformed++;
                continue;
            }
            if (rc != 0) {
                break;
            }
            taken++;
            struct vr_msg *m = &vrd->ring_batch[n];
            if (vr_msg_decode(rec, size, m) != 0 || m->type == VR_MSG_RING) {
                vrd->ring_malformed++; /* dropped: the socket's rules, but the session stays */
                continue;
            }
            if (m->type == VR_MSG_FLOW) {
                dp_flow_prefetch(vrd->dp, &m->u.flow.key);
            } else if (m->type == VR_MSG_FLOW_PAIR) {
                dp_flow_prefetch(vrd->dp, &m->u.pair.fwd.key);
                dp_flow_prefetch(vrd->dp, &m->u.pair.rev.key);
            }
            n++;
        }
        for (uint32_t i = 0; i < n; i++) {
            vrd->ring_records++;
            const struct vr_msg *m = &vrd->ring_batch[i];
            if (m->type == VR_MSG_PUNT_SUB ? punt_sub(vrd, c, m) != 0 : vrd_ctl_handle(vrd, m, &c->wbuf) != 0) {
                log_warn("vrouter", "control client backlog too large; closing session", "fd=%d", c->src.fd);
                c->closing = 1;
                break;
            }
        }
        if (rc == VR_RING_ECORRUPT) {
            vrd->ring_corrupt++;
            log_warn("vrouter", "ring index out of range; closing session", "fd=%d", c->src.fd);
            c->closing = 1;
            ring_end(vrd, c); /* its memory is read no more */
        }
        if (rc != 0 && rc != VR_RING_EMALFORMED) {
            break;
        }
    }
    if (taken) {
        vrd_hold_replay(vrd); /* the held packets these installs released */
    }
    if (c->ring && vr_ring_producer_waits(&c->ring->up)) {
        vr_ring_signal(c->ring->efd_down);
    }
    if (c->wbuf.size || c->closing) {
        vrd_ctl_flush(vrd, c);
    }
    return taken >= VRD_RING_BUDGET;
}

int vrd_rings_idle(struct vrd *vrd)
{
    int busy = 0;
    for (struct vrd_conn *c = vrd->conns; c; c = c->next) {
        if (!c->ring || c->closing) {
            continue;
        }
        if (vrd_ring_drain(vrd, c) || (c->ring && !vr_ring_prepare_sleep(&c->ring->up))) {
            busy = 1;
        }
    }
    return busy;
}

void vrd_rings_awake(struct vrd *vrd)
{
    for (struct vrd_conn *c = vrd->conns; c; c = c->next) {
        if (c->ring) {
            vr_ring_awake(&c->ring->up);
        }
    }
}

void vrd_rings_kick(struct vrd *vrd)
{
    struct vrd_conn *c = vrd->punt_conn;
    if (c && c->ring && vr_ring_consumer_sleeps(&c->ring->down)) {
        vr_ring_signal(c->ring->efd_down);
        vrd->ring_wakes++;
    }
}

/* ---- sessions ---- */

static void conn_events(struct vrd *vrd, struct vrd_conn *c)
{
    uint32_t ev = 0;
    if (!c->paused && !c->closing) {
        ev |= EPOLLIN;
    }
    if (c->wbuf.size || c->closing) {
        ev |= EPOLLOUT; /* a closing session ends on its next (writable) event */
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
    if (c->ring) {
        log_info("vrouter", "ring channel ended with its session", "fd=%d malformed=%llu", c->src.fd,
                 (unsigned long long)c->ring->up.malformed);
    }
    ring_end(vrd, c);
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
        if (m.type == VR_MSG_RING) {
            if (ring_setup(vrd, c, &m) != 0) {
                rc = -1;
                break;
            }
            continue;
        }
        if (m.type == VR_MSG_PUNT_SUB) {
            if (punt_sub(vrd, c, &m) != 0) {
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

/* strata-vrouter's life cycle and loop: creation of the core and the
 * control socket, the epoll loop dispatching to the packet side (vrd_io.c)
 * and the control side (vrd_ctl.c), flow aging once a second, and
 * teardown. See vrd.h for the process as a whole. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "vrouter/uspace/vrd.h"

STRATA_ERR_DEFINE(vrd, VRD_ERRORS)

static int listen_unix(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    (void)unlink(path);
    /* whoever connects programs the datapath: owner only */
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 || chmod(path, 0600) != 0 || listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int vrd_create(const struct vrd_options *opt, struct vrd **out)
{
    struct vrd *vrd = calloc(1, sizeof *vrd);
    if (!vrd) {
        return LIB_ENOMEM;
    }
    vrd->ep = -1;
    vrd->listen = (struct vrd_src){.kind = VRD_SRC_LISTEN, .fd = -1};
    vrd->ring_wake = (struct vrd_src){.kind = VRD_SRC_RING, .fd = -1};
    vrd->flow_idle_ms = opt->flow_idle_ms ? opt->flow_idle_ms : 60000;
    vrd->no_uso = opt->no_fabric_uso;
    vrd->no_gro = opt->no_fabric_gro;
    vrd->no_tso = opt->no_tso_direct;
    vrd->prefault = opt->prefault_flows;
    int rc = vrd_io_init(vrd);
    if (rc != 0) {
        goto fail;
    }
    rc = dp_create(&opt->cfg, &vrd->dp);
    if (rc != 0) {
        goto fail;
    }
    if (vrd->prefault) {
        /* resident from now on anyway: in transparent huge pages where the
         * system gives them on request (a table touched at random costs a
         * page walk per access past the TLB's reach with 4 KiB pages) */
        void *p;
        size_t size;
        for (unsigned i = 0; dp_flow_table_region(vrd->dp, i, &p, &size) == 0; i++) {
            const uintptr_t huge = (uintptr_t)2 << 20;
            uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1), end = ((uintptr_t)p + size) & ~(huge - 1);
            if (end > start) {
                (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
            }
        }
        dp_flow_prefault(vrd->dp);
    }
    struct dp_config cfg = opt->cfg;
    if (!cfg.ifs) {
        dp_config_default(&cfg);
    }
    vrd->port_slots = cfg.ifs;
    vrd->ports = calloc(vrd->port_slots, sizeof *vrd->ports);
    vrd->sock_path = strdup(opt->sock_path);
    rc = VRD_ESYS;
    if (!vrd->ports || !vrd->sock_path) {
        rc = LIB_ENOMEM;
        goto fail;
    }
    vrd->ep = epoll_create1(EPOLL_CLOEXEC);
    if (vrd->ep < 0) {
        goto fail;
    }
    vrd->listen.fd = listen_unix(opt->sock_path);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &vrd->listen};
    if (vrd->listen.fd < 0 || epoll_ctl(vrd->ep, EPOLL_CTL_ADD, vrd->listen.fd, &ev) != 0) {
        log_error("vrouter", "cannot listen on the control socket", "path=%s errno=%d", opt->sock_path, errno);
        goto fail;
    }
    vrd->last_age_ms = vrd_now_ms();
    *out = vrd;
    return 0;
fail:
    vrd_free(vrd);
    return rc;
}

void vrd_free(struct vrd *vrd)
{
    if (!vrd) {
        return;
    }
    while (vrd->conns) {
        vrd_ctl_close(vrd, vrd->conns);
    }
    vrd_hold_free(vrd);
    free(vrd->ring_batch);
    if (vrd->ports) {
        vrd_io_destroy(vrd);
    } else {
        free(vrd->slots);
    }
    if (vrd->listen.fd >= 0) {
        close(vrd->listen.fd);
        (void)unlink(vrd->sock_path);
    }
    if (vrd->ep >= 0) {
        close(vrd->ep);
    }
    dp_free(vrd->dp);
    free(vrd->ports);
    free(vrd->sock_path);
    free(vrd);
}

int vrd_run_once(struct vrd *vrd, int timeout_ms)
{
    struct epoll_event evs[64];
    if (vrd_rings_idle(vrd)) {
        timeout_ms = 0; /* a ring has requests: look at the sockets, then come back */
    }
    int n = epoll_wait(vrd->ep, evs, 64, timeout_ms);
    vrd_rings_awake(vrd);
    if (n < 0) {
        return errno == EINTR ? 0 : VRD_ESYS;
    }
    for (int k = 0; k < n; k++) {
        struct vrd_src *src = evs[k].data.ptr;
        switch ((enum vrd_src_kind)src->kind) {
        case VRD_SRC_LISTEN:
            vrd_ctl_accept(vrd);
            break;
        case VRD_SRC_CONN:
            vrd_ctl_ready(vrd, (struct vrd_conn *)src, evs[k].events);
            break;
        case VRD_SRC_TAP:
        case VRD_SRC_PACKET:
        case VRD_SRC_FAB_UDP:
        case VRD_SRC_FAB_GRE:
            vrd_io_ready(vrd, src);
            break;
        case VRD_SRC_RING:
            break; /* the requests are taken before the next wait */
        }
    }
    if (vrd->punt_pending && vrd->punt_conn) {
        if (vrd->punt_conn->ring) {
            vrd_rings_kick(vrd); /* the turn's punts: one wake-up, only if the agent sleeps */
        } else {
            vrd_ctl_flush(vrd, vrd->punt_conn); /* the turn's punts in one send */
        }
    }
    vrd->punt_pending = 0;
    vrd_port_reap(vrd);
    uint64_t now = vrd_now_ms();
    /* Aging walks the whole flow table: every second at most, every
     * idle/16 at least (up to 10 s), so an entry goes at most that much
     * after its idle time and a long idle time does not cost a walk of a
     * large table every second. */
    uint64_t period = vrd->flow_idle_ms / 16;
    period = period < 1000 ? 1000 : period > 10000 ? 10000 : period;
    if (now - vrd->last_age_ms >= period) {
        vrd->last_age_ms = now;
        (void)dp_flow_age(vrd->dp, now, vrd->flow_idle_ms);
    }
    return 0;
}

int vrd_run(struct vrd *vrd)
{
    while (!vrd->stop) {
        int rc = vrd_run_once(vrd, 1000);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

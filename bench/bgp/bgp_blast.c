/* bgp_blast: the load generator and the receiving peer of bench/bgp-vs-bird.
 * A minimal BGP speaker on blocking sockets using routing/bgp's codec: it
 * opens a session (4-octet AS, VPNv4 only, hold time 0 so no keepalives are
 * needed), then either
 *   send: advertises N VPNv4 routes (distinct RD:prefix, one label each, one
 *         route target), packed into UPDATEs of up to PER_UPDATE NLRI that
 *         share one attribute set, then End-of-RIB; it keeps the session
 *         open until killed;
 *   recv: counts the distinct VPNv4 NLRI it receives until N have arrived
 *         and prints the wall-clock time of the last one.
 * Prints one line: "blast send routes=N start=T secs=S rate=R" (T: wall
 * clock of the first UPDATE) or "blast recv routes=N updates=U end=T".
 *
 * Usage: bgp_blast send|recv LOCAL_ADDR PEER_ADDR LOCAL_AS PEER_AS N */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "routing/bgp/bgp_msg.h"

#define PER_UPDATE 200

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* compared across the two processes */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one whole BGP message into 'msg' (BGP_MAX_MSG_SIZE bytes). */
static int read_msg(int fd, uint8_t *msg, size_t *size)
{
    size_t have = 0, need = BGP_HDR_SIZE;
    while (have < need) {
        ssize_t r = read(fd, msg + have, need - have);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        have += (size_t)r;
        if (have == BGP_HDR_SIZE) {
            size_t total;
            struct bgp_notification err;
            if (bgp_msg_frame(msg, have, &total, &err) != 0 && total == 0) {
                return -1;
            }
            need = ((size_t)msg[16] << 8) | msg[17];
            if (need < BGP_HDR_SIZE || need > BGP_MAX_MSG_SIZE) {
                return -1;
            }
        }
    }
    *size = need;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: bgp_blast send|recv LOCAL_ADDR PEER_ADDR LOCAL_AS PEER_AS N\n");
        return 2;
    }
    bool send_mode = strcmp(argv[1], "send") == 0;
    uint32_t local_as = (uint32_t)strtoul(argv[4], NULL, 10);
    uint32_t peer_as = (uint32_t)strtoul(argv[5], NULL, 10);
    unsigned long n = strtoul(argv[6], NULL, 10);
    struct sockaddr_in local = {.sin_family = AF_INET}, peer = {.sin_family = AF_INET, .sin_port = htons(179)};
    if (inet_pton(AF_INET, argv[2], &local.sin_addr) != 1 || inet_pton(AF_INET, argv[3], &peer.sin_addr) != 1) {
        fprintf(stderr, "bgp_blast: bad address\n");
        return 2;
    }
    int fd = -1;
    for (int attempt = 0; attempt < 300; attempt++) { /* the peer may still be starting */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&local, sizeof local) == 0 &&
            connect(fd, (struct sockaddr *)&peer, sizeof peer) == 0) {
            break;
        }
        close(fd);
        fd = -1;
        usleep(100 * 1000);
    }
    if (fd < 0) {
        fprintf(stderr, "bgp_blast: cannot connect to %s\n", argv[3]);
        return 1;
    }
    struct buf out;
    buf_init(&out, 1 << 16);
    struct bgp_msg m;
    memset(&m, 0, sizeof m);
    m.type = BGP_MSG_OPEN;
    m.u.open.version = 4;
    m.u.open.as = local_as;
    m.u.open.hold_time = 0;
    m.u.open.bgp_id = ntohl(local.sin_addr.s_addr);
    m.u.open.mp[0].afi = BGP_AFI_IPV4;
    m.u.open.mp[0].safi = BGP_SAFI_MPLS_VPN;
    m.u.open.mp_count = 1;
    m.u.open.has_as4 = true;
    m.u.open.has_route_refresh = true;
    struct bgp_codec_opts opts = {.as4 = true, .ebgp = local_as != peer_as, .families = BGP_FAM_BIT(BGP_FAM_VPNV4)};
    if (bgp_msg_encode(&m, NULL, &out) != 0 || bgp_encode_keepalive(&out) != 0 ||
        write_all(fd, out.data, out.size) != 0) {
        fprintf(stderr, "bgp_blast: cannot send OPEN\n");
        return 1;
    }
    static uint8_t msg[BGP_MAX_MSG_SIZE];
    size_t size;
    int keepalives = 0;
    while (keepalives == 0) { /* the peer's OPEN, then its KEEPALIVE */
        if (read_msg(fd, msg, &size) != 0) {
            fprintf(stderr, "bgp_blast: session closed during setup\n");
            return 1;
        }
        if (msg[18] == BGP_MSG_NOTIFICATION) {
            fprintf(stderr, "bgp_blast: NOTIFICATION %u/%u during setup\n", msg[19], msg[20]);
            return 1;
        }
        keepalives += msg[18] == BGP_MSG_KEEPALIVE;
    }
    double t0 = now_s();
    if (send_mode) {
        uint32_t asns[1] = {local_as};
        struct bgp_as_seg seg = {.type = BGP_AS_SEQUENCE, .len = 1};
        uint64_t rt;
        if (bgp_ext_rt_as2(64512, 1, &rt) != 0) {
            return 1;
        }
        struct bgp_nlri *nl = calloc(PER_UPDATE, sizeof *nl);
        unsigned long sent = 0;
        while (sent < n) {
            size_t k = 0;
            for (; k < PER_UPDATE && sent < n; k++, sent++) {
                struct bgp_nlri *x = &nl[k];
                memset(x, 0, sizeof *x);
                x->family = BGP_FAM_VPNV4;
                x->plen = 32;
                x->label_count = 1;
                x->labels[0] = BGP_LABEL(16 + (sent & 0xFFFF), true);
                if (bgp_rd_make(x->rd, BGP_RD_AS2, 64512, (uint32_t)(sent >> 16) + 1) != 0) {
                    return 1;
                }
                x->addr[0] = 10;
                x->addr[1] = (uint8_t)(sent >> 16);
                x->addr[2] = (uint8_t)(sent >> 8);
                x->addr[3] = (uint8_t)sent;
            }
            struct bgp_msg u;
            memset(&u, 0, sizeof u);
            u.type = BGP_MSG_UPDATE;
            struct bgp_update *up = &u.u.update;
            up->attrs.present = BGP_ATTR_BIT(BGP_ATTR_ORIGIN) | BGP_ATTR_BIT(BGP_ATTR_AS_PATH) |
                                BGP_ATTR_BIT(BGP_ATTR_EXT_COMMUNITIES);
            if (!opts.ebgp) {
                up->attrs.present |= BGP_ATTR_BIT(BGP_ATTR_LOCAL_PREF);
                up->attrs.local_pref = 100;
                up->attrs.as_path.seg_count = 0;
            } else {
                up->attrs.as_path.segs = &seg;
                up->attrs.as_path.seg_count = 1;
                up->attrs.as_path.asns = asns;
                up->attrs.as_path.as_count = 1;
            }
            up->attrs.ext_communities = &rt;
            up->attrs.ext_community_count = 1;
            up->has_mp_reach = true;
            up->mp_reach.afi = BGP_AFI_IPV4;
            up->mp_reach.safi = BGP_SAFI_MPLS_VPN;
            up->mp_reach.family = BGP_FAM_VPNV4;
            up->mp_reach.nh_size = 12;
            memcpy(up->mp_reach.nh + 8, &local.sin_addr, 4);
            up->mp_reach.nlri.v = nl;
            up->mp_reach.nlri.count = k;
            buf_reset(&out);
            if (bgp_msg_encode(&u, &opts, &out) != 0 || write_all(fd, out.data, out.size) != 0) {
                fprintf(stderr, "bgp_blast: send failed after %lu routes\n", sent);
                return 1;
            }
        }
        struct bgp_msg eor;
        memset(&eor, 0, sizeof eor);
        eor.type = BGP_MSG_UPDATE;
        bgp_update_init_eor(&eor.u.update, BGP_AFI_IPV4, BGP_SAFI_MPLS_VPN);
        buf_reset(&out);
        if (bgp_msg_encode(&eor, &opts, &out) != 0 || write_all(fd, out.data, out.size) != 0) {
            return 1;
        }
        double secs = now_s() - t0;
        printf("blast send routes=%lu start=%.6f secs=%.3f rate=%.0f\n", n, t0, secs, (double)n / secs);
        fflush(stdout);
        /* keep the session up: the routes stay as long as it does */
        while (read_msg(fd, msg, &size) == 0) {
        }
        return 0;
    }
    /* recv: count distinct NLRI (a route may be re-advertised) by index */
    uint8_t *seen = calloc(n, 1);
    unsigned long got = 0, updates = 0;
    while (got < n) {
        if (read_msg(fd, msg, &size) != 0) {
            fprintf(stderr, "bgp_blast: session closed after %lu routes\n", got);
            return 1;
        }
        if (msg[18] != BGP_MSG_UPDATE) {
            continue;
        }
        struct bgp_msg d;
        struct bgp_notification err;
        if (bgp_msg_decode(msg, size, &opts, &d, &err) != 0) {
            fprintf(stderr, "bgp_blast: undecodable UPDATE\n");
            return 1;
        }
        updates++;
        if (d.u.update.has_mp_reach) {
            const struct bgp_nlri_list *l = &d.u.update.mp_reach.nlri;
            for (size_t i = 0; i < l->count; i++) {
                const uint8_t *a = l->v[i].addr;
                unsigned long idx = ((unsigned long)a[1] << 16) | ((unsigned long)a[2] << 8) | a[3];
                if (a[0] == 10 && idx < n && !seen[idx]) {
                    seen[idx] = 1;
                    got++;
                }
            }
        }
        bgp_msg_destroy(&d);
    }
    double end = now_s();
    printf("blast recv routes=%lu updates=%lu end=%.6f\n", got, updates, end);
    return 0;
}

/* The packet side of strata-vrouter: attaching OS devices to core
 * interfaces (TAP or AF_PACKET), the fabric sockets, and the receive ->
 * dp_rx_batch -> transmit path. Frames are received in batches into slots
 * with VRD_HEADROOM bytes in front, where the core prepends tunnel headers.
 * Fabric datagrams arrive without their outer headers (UDP sockets) or
 * without Ethernet (raw GRE socket); the missing headers are synthesized in
 * the headroom from the socket addresses, so the core sees the frame the
 * wire carried. AF_PACKET ports receive through a TPACKET_V2 ring whose
 * frames are forwarded in place (the reserved bytes in front of each frame
 * are its headroom) and handed back after the batch's transmissions went
 * out; they transmit with PACKET_QDISC_BYPASS. Transmissions are queued
 * per batch and flushed with one sendmmsg per run of the same socket
 * (writev for TAP). Runs of one tunnel flow's fabric datagrams are glued
 * and sent with one UDP_SEGMENT sendmsg (vrd_uso.c); the fabric's UDP
 * sockets receive with UDP_GRO, and what arrives glued is cut back into
 * datagrams in the slots. */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if_arp.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "vrouter/uspace/vrd.h"

#define PORT_MPLS_UDP 6635
#define PORT_VXLAN 4789
#define IPPROTO_GRE_ 47
#define OUTER_UDP (14 + 20 + 8)
#define VNET_HDR ((uint32_t)sizeof(struct virtio_net_hdr))
#define USO_OUT_SIZE ((size_t)VRD_USO_SEGS * VRD_USO_HDR + VRD_USO_PAYLOAD)

static const struct virtio_net_hdr vnet_none; /* a plain frame: no GSO, checksum complete */

uint64_t vrd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int src_watch(struct vrd *vrd, struct vrd_src *src)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = src};
    return epoll_ctl(vrd->ep, EPOLL_CTL_ADD, src->fd, &ev) == 0 ? 0 : VRD_ESYS;
}

static void src_close(struct vrd *vrd, struct vrd_src *src)
{
    if (src->fd >= 0) {
        (void)epoll_ctl(vrd->ep, EPOLL_CTL_DEL, src->fd, NULL);
        close(src->fd);
        src->fd = -1;
    }
}

/* A larger socket receive buffer absorbs bursts between loop turns (the
 * loop may not be scheduled for milliseconds on a busy host). */
static void rcvbuf_grow(int fd)
{
    int size = 32 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
}

/* ---- ports ---- */

/* The bytes before a ring frame's data that belong to the kernel: the
 * frame header and the link-layer address after it. */
#define RING_HDR (TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) + sizeof(struct sockaddr_ll))

/* Sets up the receive ring of AF_PACKET socket 'fd' bound to device 'name'
 * (frames sized for its MTU, VRD_RING_BYTES in all). Returns 0 with 'r'
 * filled, or -1 (errno set; the socket then has no ring). */
static int ring_open(int fd, const char *name, int vnet, struct vrd_ring *r)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, SIOCGIFMTU, &ifr) != 0) {
        return -1;
    }
    uint32_t mtu = ifr.ifr_mtu > 0 && ifr.ifr_mtu < VRD_FRAME_MAX ? (uint32_t)ifr.ifr_mtu : VRD_FRAME_MAX;
    /* header, link-layer minimum, reserve, virtio header, Ethernet + VLAN header, MTU */
    uint32_t need = (uint32_t)TPACKET_ALIGN(RING_HDR + 16) + VRD_HEADROOM + (vnet ? VNET_HDR : 0) + 18 + mtu;
    uint32_t frame = 2048;
    while (frame < need) {
        frame <<= 1;
    }
    uint32_t block = frame > (64u << 10) ? frame : 64u << 10;
    int v2 = TPACKET_V2, reserve = VRD_HEADROOM, one = 1;
    struct tpacket_req req = {.tp_block_size = block, .tp_block_nr = VRD_RING_BYTES / block, .tp_frame_size = frame};
    if (req.tp_block_nr == 0) {
        req.tp_block_nr = 1;
    }
    req.tp_frame_nr = req.tp_block_nr * (block / frame);
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v2, sizeof v2) != 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_RESERVE, &reserve, sizeof reserve) != 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_COPY_THRESH, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) {
        return -1;
    }
    size_t size = (size_t)req.tp_block_size * req.tp_block_nr;
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        return -1;
    }
    *r = (struct vrd_ring){.map = map, .map_size = size, .frame_size = frame, .frame_nr = req.tp_frame_nr};
    return 0;
}

static void ring_close(struct vrd_ring *r)
{
    if (r->map) {
        munmap(r->map, r->map_size);
    }
    memset(r, 0, sizeof *r);
}

/* An AF_PACKET socket on device 'name' (OS index 'os_ifindex'), with a
 * receive ring in 'r' when one can be set up (else r->map stays NULL and
 * frames are read with recvmmsg). */
static int open_packet(unsigned os_ifindex, const char *name, struct vrd_ring *r, int *vnet)
{
    /* Protocol 0: nothing is received before bind, so no frame can wait on
     * the socket queue from before the ring existed. */
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    /* GSO passthrough: a virtio_net_hdr in front of every frame, both ways
     * (set before the ring, which fixes the frame layout). Only with a
     * ring: the recvmmsg fallback takes complete frames as before. */
    *vnet = setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) == 0;
    if (ring_open(fd, name, *vnet, r) != 0) {
        log_warn("vrouter", "no receive ring, reading frames one by one", "name=%s errno=%d", name, errno);
        memset(r, 0, sizeof *r);
        int zero = 0;
        if (*vnet && setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &zero, sizeof zero) != 0) {
            close(fd);
            return -1;
        }
        *vnet = 0;
    }
    /* Frames sent here go straight to the driver: no queueing discipline
     * (best effort; without it they take the usual path). */
    (void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = (int)os_ifindex};
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) {
        ring_close(r);
        close(fd);
        return -1;
    }
    rcvbuf_grow(fd);
    return fd;
}

/* A TAP device 'name', created with a virtio_net_hdr in front of every
 * frame both ways and checksum and TCP segmentation offloaded to this end
 * (GSO passthrough: '*vnet' set), or without when the kernel refuses. */
static int open_tap(const char *name, int *vnet)
{
    for (int with = 1; with >= 0; with--) {
        int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            return -1;
        }
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | (with ? IFF_VNET_HDR : 0));
        strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
        int hdr = (int)VNET_HDR;
        if (ioctl(fd, TUNSETIFF, &ifr) == 0 &&
            (!with || (ioctl(fd, TUNSETVNETHDRSZ, &hdr) == 0 &&
                       ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) == 0))) {
            *vnet = with;
            return fd;
        }
        close(fd);
    }
    return -1;
}

int vrd_port_attach(struct vrd *vrd, uint32_t ifindex, const char *name)
{
    if (ifindex >= vrd->port_slots) {
        return VR_ERANGE;
    }
    struct vrd_port *p = vrd->ports[ifindex];
    if (p && strcmp(p->name, name) == 0) {
        return 0; /* re-installed as it was: keep the device and its fd */
    }
    vrd_port_detach(vrd, ifindex);
    p = calloc(1, sizeof *p);
    if (!p) {
        return LIB_ENOMEM;
    }
    unsigned os = if_nametoindex(name);
    p->src.kind = os ? VRD_SRC_PACKET : VRD_SRC_TAP;
    p->src.fd = os ? open_packet(os, name, &p->ring, &p->vnet) : open_tap(name, &p->vnet);
    p->ifindex = ifindex;
    snprintf(p->name, sizeof p->name, "%s", name);
    if (p->src.fd < 0 || src_watch(vrd, &p->src) != 0) {
        log_error("vrouter", "cannot attach port", "ifindex=%u name=%s errno=%d", ifindex, name, errno);
        if (p->src.fd >= 0) {
            close(p->src.fd);
        }
        ring_close(&p->ring);
        free(p);
        return VRD_EPORT;
    }
    vrd->ports[ifindex] = p;
    log_info("vrouter", "port attached", "ifindex=%u name=%s kind=%s", ifindex, name,
             !os ? (p->vnet ? "tap gso" : "tap") : p->ring.map ? (p->vnet ? "af_packet ring gso" : "af_packet ring")
                                                    : "af_packet");
    return 0;
}

void vrd_port_detach(struct vrd *vrd, uint32_t ifindex)
{
    if (ifindex >= vrd->port_slots || !vrd->ports[ifindex]) {
        return;
    }
    struct vrd_port *p = vrd->ports[ifindex];
    /* the transmit queue is empty here: it is flushed after every batch,
     * and control runs between batches */
    src_close(vrd, &p->src);
    ring_close(&p->ring);
    log_info("vrouter", "port detached", "ifindex=%u name=%s", ifindex, p->name);
    p->dead_next = vrd->dead;
    vrd->dead = p;
    vrd->ports[ifindex] = NULL;
}

void vrd_port_reap(struct vrd *vrd)
{
    while (vrd->dead) {
        struct vrd_port *p = vrd->dead;
        vrd->dead = p->dead_next;
        free(p);
    }
}

/* ---- fabric ---- */

static void usock_close_all(struct vrd *vrd)
{
    for (uint32_t k = 0; k < VRD_USOCKS; k++) {
        if (vrd->usock[k].fd >= 0) {
            close(vrd->usock[k].fd);
        }
        vrd->usock[k] = (struct vrd_usock){.fd = -1};
    }
}

void vrd_fabric_close(struct vrd *vrd)
{
    usock_close_all(vrd);
    vrd->fab_gro = 0;
    vrd->fab_uso = 0;
    src_close(vrd, &vrd->udp[0]);
    src_close(vrd, &vrd->udp[1]);
    src_close(vrd, &vrd->gre);
    if (vrd->raw_tx >= 0) {
        close(vrd->raw_tx);
        vrd->raw_tx = -1;
    }
    if (vrd->pkt_tx >= 0) {
        close(vrd->pkt_tx);
        vrd->pkt_tx = -1;
    }
    memset(vrd->neigh, 0, sizeof vrd->neigh);
    vrd->fabric_if = 0;
}

static int bound_socket(int type, int proto, uint32_t ip, uint16_t port)
{
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip)};
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    rcvbuf_grow(fd);
    return fd;
}

/* Opens the AF_PACKET transmitter on the device that holds underlay
 * address 'ip' (host order); without one (no such device, not Ethernet,
 * no permission) fabric packets keep going through the raw IPv4 socket. */
static void pkt_tx_open(struct vrd *vrd, uint32_t ip)
{
    struct ifaddrs *ifa = NULL;
    char name[IFNAMSIZ] = "";
    if (ip == 0 || getifaddrs(&ifa) != 0) {
        return;
    }
    for (struct ifaddrs *a = ifa; a; a = a->ifa_next) {
        if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET &&
            ((struct sockaddr_in *)(void *)a->ifa_addr)->sin_addr.s_addr == htonl(ip)) {
            snprintf(name, sizeof name, "%s", a->ifa_name);
            break;
        }
    }
    freeifaddrs(ifa);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    unsigned os = name[0] ? if_nametoindex(name) : 0;
    if (!os || ioctl(vrd->raw_tx, SIOCGIFHWADDR, &ifr) != 0 || ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
        return;
    }
    /* protocol 0: it receives nothing. No PACKET_QDISC_BYPASS here: captures
     * on the underlay device must see the fabric's traffic. */
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return;
    }
    vrd->pkt_tx = fd;
    vrd->pkt_tx_addr = (struct sockaddr_ll){.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
                                            .sll_ifindex = (int)os, .sll_halen = 6};
    memcpy(vrd->underlay_mac, ifr.ifr_hwaddr.sa_data, 6);
    memset(vrd->neigh, 0, sizeof vrd->neigh);
    log_info("vrouter", "fabric transmits through AF_PACKET", "device=%s", name);
}

/* The Ethernet address of the underlay neighbour at 'be' (network byte
 * order), from the kernel's neighbour table. NULL when unknown: the packet then takes the raw socket, whose
 * route lookup makes the kernel resolve it. */
static const uint8_t *neigh_mac(struct vrd *vrd, const uint8_t be[4])
{
    uint32_t ip = be32_load(be);
    struct vrd_neigh *n = NULL, *oldest = &vrd->neigh[0];
    for (uint32_t k = 0; k < VRD_NEIGH; k++) {
        if (vrd->neigh[k].ip == ip) {
            n = &vrd->neigh[k];
            break;
        }
        if (vrd->neigh[k].read_ms < oldest->read_ms) {
            oldest = &vrd->neigh[k];
        }
    }
    /* a known address is re-read every second, an unknown one soon (the
     * raw socket's first packets make the kernel resolve it) */
    if (n && vrd->batch_ms - n->read_ms < (n->valid ? 1000u : 20u)) {
        return n->valid ? n->mac : NULL;
    }
    if (!n) {
        n = oldest;
        n->ip = ip;
    }
    n->read_ms = vrd->batch_ms;
    n->valid = 0;
    struct arpreq req;
    memset(&req, 0, sizeof req);
    struct sockaddr_in *pa = (struct sockaddr_in *)(void *)&req.arp_pa;
    pa->sin_family = AF_INET;
    memcpy(&pa->sin_addr, be, 4);
    if_indextoname((unsigned)vrd->pkt_tx_addr.sll_ifindex, req.arp_dev);
    if (ioctl(vrd->raw_tx, SIOCGARP, &req) == 0 && (req.arp_flags & ATF_COM)) {
        memcpy(n->mac, req.arp_ha.sa_data, 6);
        n->valid = 1;
    }
    return n->valid ? n->mac : NULL;
}

int vrd_fabric_open(struct vrd *vrd, uint32_t ifindex, uint32_t ip)
{
    if (vrd->fabric_if == ifindex + 1 && vrd->underlay_ip == ip && vrd->raw_tx >= 0) {
        return 0;
    }
    vrd_fabric_close(vrd);
    vrd->udp[0].fd = bound_socket(SOCK_DGRAM, 0, ip, PORT_MPLS_UDP);
    vrd->udp[1].fd = bound_socket(SOCK_DGRAM, 0, ip, PORT_VXLAN);
    vrd->gre.fd = bound_socket(SOCK_RAW, IPPROTO_GRE_, ip, 0);
    vrd->raw_tx = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
    if (vrd->udp[0].fd < 0 || vrd->udp[1].fd < 0 || vrd->gre.fd < 0 || vrd->raw_tx < 0 ||
        src_watch(vrd, &vrd->udp[0]) != 0 || src_watch(vrd, &vrd->udp[1]) != 0 ||
        src_watch(vrd, &vrd->gre) != 0) {
        log_error("vrouter", "cannot open fabric sockets", "ip=%08x errno=%d", ip, errno);
        vrd_fabric_close(vrd);
        return VRD_EFABRIC;
    }
    vrd->fabric_if = ifindex + 1;
    vrd->underlay_ip = ip;
    pkt_tx_open(vrd, ip);
    /* datagrams of one flow may come glued (Linux 5.0; without it they come
     * one by one) */
    int one = 1, zero = 0;
    /* UDP_SEGMENT exists (Linux 4.18; an older kernel would ignore the
     * control message and send one large datagram): setting 0 is a no-op */
    vrd->fab_uso = !vrd->no_uso && setsockopt(vrd->udp[0].fd, IPPROTO_UDP, VRD_UDP_SEGMENT, &zero, sizeof zero) == 0;
    vrd->fab_gro = !vrd->no_gro && setsockopt(vrd->udp[0].fd, IPPROTO_UDP, VRD_UDP_GRO, &one, sizeof one) == 0 &&
                   setsockopt(vrd->udp[1].fd, IPPROTO_UDP, VRD_UDP_GRO, &one, sizeof one) == 0;
    log_info("vrouter", "fabric open", "ifindex=%u ip=%u.%u.%u.%u", ifindex, ip >> 24, (ip >> 16) & 0xff,
             (ip >> 8) & 0xff, ip & 0xff);
    return 0;
}

/* ---- transmit ---- */

static void tx_flush(struct vrd *vrd)
{
    uint32_t i = 0;
    while (i < vrd->txq_len) {
        struct vrd_txe *e = &vrd->txq[i];
        if (e->kind == VRD_SRC_TAP) {
            struct msghdr *h = &vrd->tx_mm[i].msg_hdr;
            if (writev(e->fd, h->msg_iov, (int)h->msg_iovlen) < 0) {
                vrd->tx_errors++;
            }
            i++;
            continue;
        }
        uint32_t j = i + 1;
        while (j < vrd->txq_len && vrd->txq[j].fd == e->fd) {
            j++;
        }
        int sent = sendmmsg(e->fd, &vrd->tx_mm[i], j - i, MSG_DONTWAIT);
        if (sent < 0) {
            sent = 0;
        }
        vrd->tx_errors += (j - i) - (uint32_t)sent;
        i = j;
    }
    vrd->txq_len = 0;
}

/* Queues transmission 't' of 'pkt'. */
static void tx_queue(struct vrd *vrd, const struct dp_pkt *pkt, struct dp_tx *t)
{
    if (vrd->txq_len == VRD_TXQ) {
        tx_flush(vrd);
    }
    uint32_t i = vrd->txq_len;
    struct iovec *iov = vrd->tx_iov[i];
    struct msghdr *h = &vrd->tx_mm[i].msg_hdr;
    memset(h, 0, sizeof *h);
    h->msg_iov = iov;
    int n = 0;
    if (t->hdr_size) {
        iov[n++] = (struct iovec){.iov_base = t->hdr, .iov_len = t->hdr_size};
    }
    iov[n++] = (struct iovec){.iov_base = pkt->buf + t->off, .iov_len = t->len};
    h->msg_iovlen = (size_t)n;
    if (vrd->fabric_if && t->ifindex == vrd->fabric_if - 1) {
        /* The raw sender takes the IPv4 packet: skip the Ethernet header
         * (always inside the first piece) and aim at the outer destination. */
        if (iov[0].iov_len < 14 + 20) {
            vrd->tx_errors++;
            return;
        }
        uint8_t *eth = iov[0].iov_base;
        const uint8_t *mac = vrd->pkt_tx >= 0 ? neigh_mac(vrd, eth + 14 + 16) : NULL;
        if (mac) {
            /* whole, through the underlay device: the outer Ethernet
             * addresses are the device's and the neighbour's */
            memcpy(eth, mac, 6);
            memcpy(eth + 6, vrd->underlay_mac, 6);
            h->msg_name = &vrd->pkt_tx_addr;
            h->msg_namelen = sizeof vrd->pkt_tx_addr;
            vrd->txq[i] = (struct vrd_txe){.fd = vrd->pkt_tx, .kind = VRD_SRC_PACKET};
            vrd->txq_len++;
            vrd->fabric_pkt_tx++;
            return;
        }
        iov[0].iov_base = eth + 14;
        iov[0].iov_len -= 14;
        const uint8_t *ip = iov[0].iov_base;
        vrd->tx_addr[i] = (struct sockaddr_in){.sin_family = AF_INET};
        memcpy(&vrd->tx_addr[i].sin_addr, ip + 16, 4);
        h->msg_name = &vrd->tx_addr[i];
        h->msg_namelen = sizeof vrd->tx_addr[i];
        vrd->txq[i] = (struct vrd_txe){.fd = vrd->raw_tx, .kind = VRD_SRC_FAB_GRE};
        vrd->fabric_raw_tx++;
    } else {
        struct vrd_port *p = t->ifindex < vrd->port_slots ? vrd->ports[t->ifindex] : NULL;
        if (!p) {
            vrd->tx_errors++;
            return;
        }
        if (p->vnet) {
            /* the socket reads a virtio_net_hdr first: a complete frame */
            memmove(iov + 1, iov, (size_t)n * sizeof *iov);
            iov[0] = (struct iovec){.iov_base = (void *)&vnet_none, .iov_len = VNET_HDR};
            h->msg_iovlen = (size_t)n + 1;
        }
        vrd->txq[i] = (struct vrd_txe){.fd = p->src.fd, .kind = p->src.kind};
    }
    vrd->txq_len++;
}

/* Sends the merge in progress towards a VM port (everything queued before
 * it goes first). See vrd_gso.c. */
static void gro_flush(struct vrd *vrd)
{
    struct vrd_gro *g = vrd->gro;
    if (!g->count) {
        return;
    }
    struct vrd_port *p = vrd->ports[g->key]; /* ports change only between batches */
    vrd_gro_finish(g, &g->vh);
    if (g->count > 1) {
        vrd->gro_frames++;
        vrd->gro_segments += g->count;
    }
    if (vrd->txq_len == VRD_TXQ) {
        tx_flush(vrd);
    }
    uint32_t i = vrd->txq_len++;
    struct iovec *iov = vrd->tx_iov[i];
    struct msghdr *h = &vrd->tx_mm[i].msg_hdr;
    memset(h, 0, sizeof *h);
    iov[0] = (struct iovec){.iov_base = &g->vh, .iov_len = VNET_HDR};
    iov[1] = (struct iovec){.iov_base = g->buf, .iov_len = g->len};
    h->msg_iov = iov;
    h->msg_iovlen = 2;
    vrd->txq[i] = (struct vrd_txe){.fd = p->src.fd, .kind = p->src.kind};
    tx_flush(vrd); /* the buffer is reused by the next merge */
    g->count = 0;
}

/* Offers transmission 't' of 'pkt' to the merge towards VM ports with
 * virtio headers. Returns 1 when taken, 0 when the caller queues it as
 * usual (after the merge was sent). */
static int gro_offer(struct vrd *vrd, const struct dp_pkt *pkt, const struct dp_tx *t)
{
    struct vrd_port *p = t->ifindex < vrd->port_slots ? vrd->ports[t->ifindex] : NULL;
    const uint8_t *f = pkt->buf + t->off;
    int fit = -1;
    if (!t->hdr_size && p && p->vnet && !(vrd->fabric_if && t->ifindex == vrd->fabric_if - 1)) {
        fit = vrd_gro_fits(vrd->gro, t->ifindex, f, t->len);
    }
    if (fit < 1) {
        gro_flush(vrd);
    }
    if (fit < 0) {
        return 0;
    }
    if (vrd_gro_add(vrd->gro, t->ifindex, f, t->len)) {
        gro_flush(vrd);
    }
    return 1;
}

/* The UDP socket bound to the underlay address and source port 'port'
 * (network order in the header, host order here), opened on first use:
 * it receives nothing (a filter drops all), sets DF on what it sends
 * without the path MTU (as AF_PACKET on the device would) and has a send
 * buffer for several 64 KiB sends. Returns -1 when the port cannot be bound
 * (another socket holds it): that port's runs are then sent frame by frame. */
static int usock_get(struct vrd *vrd, uint16_t port)
{
    struct vrd_usock *s = &vrd->usock[port % VRD_USOCKS];
    if (s->port == port && s->fd != -1) {
        return s->fd; /* open, or known not to bind (-2) */
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    *s = (struct vrd_usock){.port = port, .fd = -2};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        s->fd = -1;
        return -1;
    }
    struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog prog = {.len = 1, .filter = &drop};
    int pmtu = IP_PMTUDISC_PROBE, sndbuf = 8 << 20;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(vrd->underlay_ip)};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) != 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    s->fd = fd;
    return fd;
}

/* Sends 'size' bytes of UDP payload ('iov', 'iovcnt' pieces), 'count'
 * datagrams of 'seg' bytes (the last may be shorter), with one
 * UDP_SEGMENT sendmsg from the source port's socket to the destination,
 * TTL and TOS of outer header 'hdr' (VRD_USO_HDR bytes, as the core wrote
 * it). Returns 0, or -1 when the kernel refused it (nothing was sent). */
static int usend(struct vrd *vrd, const uint8_t *hdr, const struct iovec *iov, size_t iovcnt, uint32_t size,
                 uint32_t seg, uint32_t count)
{
    int fd = usock_get(vrd, be16_load(hdr + 34));
    if (fd < 0) {
        return -1;
    }
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t)) + 2 * CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct sockaddr_in to = {.sin_family = AF_INET};
    memcpy(&to.sin_addr, hdr + 14 + 16, 4);
    memcpy(&to.sin_port, hdr + 34 + 2, 2);
    struct msghdr m = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = (struct iovec *)iov,
                       .msg_iovlen = iovcnt, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    uint16_t seg16 = (uint16_t)seg;
    *c = (struct cmsghdr){.cmsg_level = IPPROTO_UDP, .cmsg_type = VRD_UDP_SEGMENT, .cmsg_len = CMSG_LEN(sizeof seg16)};
    memcpy(CMSG_DATA(c), &seg16, sizeof seg16);
    int ttl = hdr[14 + 8], tos = hdr[14 + 1];
    c = CMSG_NXTHDR(&m, c);
    *c = (struct cmsghdr){.cmsg_level = IPPROTO_IP, .cmsg_type = IP_TTL, .cmsg_len = CMSG_LEN(sizeof ttl)};
    memcpy(CMSG_DATA(c), &ttl, sizeof ttl);
    c = CMSG_NXTHDR(&m, c);
    *c = (struct cmsghdr){.cmsg_level = IPPROTO_IP, .cmsg_type = IP_TOS, .cmsg_len = CMSG_LEN(sizeof tos)};
    memcpy(CMSG_DATA(c), &tos, sizeof tos);
    ssize_t sent = sendmsg(fd, &m, MSG_DONTWAIT);
    if (sent == (ssize_t)size) {
        return 0;
    }
    if (sent < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
        vrd->tx_errors += count; /* a full queue: lost as a sendmmsg would lose them */
        return 0;
    }
    if (!vrd->uso_refused++) {
        /* e.g. EIO: the underlay device has no checksum offload; EINVAL: a
         * segment larger than its MTU */
        log_warn("vrouter", "UDP_SEGMENT send refused, sending frame by frame", "errno=%d segments=%u size=%u",
                 sent < 0 ? errno : 0, count, seg);
    }
    return -1;
}

/* Sends glued run 'u' with one UDP_SEGMENT send. Returns 0, or -1 when the
 * kernel refused it (nothing was sent). */
static int uso_send(struct vrd *vrd, const struct vrd_uso *u)
{
    struct iovec iov = {.iov_base = (void *)u->buf, .iov_len = u->size};
    return usend(vrd, u->hdr, &iov, 1, u->size, u->seg, u->count);
}

/* Sends the fabric run being glued: several datagrams with one UDP_SEGMENT
 * send (everything queued before goes first), a single one, or a run the
 * kernel refused, frame by frame on the usual fabric path. */
static void uso_flush(struct vrd *vrd)
{
    struct vrd_uso *u = vrd->uso;
    if (!u->count) {
        return;
    }
    if (u->count > 1) {
        tx_flush(vrd);
        if (uso_send(vrd, u) == 0) {
            vrd->uso_sends++;
            vrd->uso_segments += u->count;
            u->count = 0;
            return;
        }
        vrd->uso_fallbacks++;
    }
    uint32_t at = 0;
    for (uint32_t i = 0; i < u->count; i++) {
        uint32_t len = vrd_uso_frame(u, i, vrd->uso_out + at);
        struct dp_pkt pkt = {.buf = vrd->uso_out, .size = USO_OUT_SIZE, .off = at, .len = len};
        struct dp_tx t = {.ifindex = vrd->fabric_if - 1, .off = at, .len = len};
        tx_queue(vrd, &pkt, &t);
        at += len;
    }
    tx_flush(vrd); /* the buffers are reused by the next run */
    u->count = 0;
}

/* Offers fabric transmission 't' of 'pkt' to the glued run. Returns 1 when
 * taken, 0 when the caller queues it as usual (after the run was sent). */
static int uso_offer(struct vrd *vrd, const struct dp_pkt *pkt, const struct dp_tx *t)
{
    int fit = t->hdr_size || !vrd->fab_uso ? -1 : vrd_uso_fits(vrd->uso, vrd->underlay_ip, pkt->buf + t->off, t->len);
    if (fit < 1) {
        uso_flush(vrd);
    }
    if (fit < 0) {
        return 0;
    }
    if (vrd_uso_add(vrd->uso, pkt->buf + t->off, t->len)) {
        uso_flush(vrd);
    }
    return 1;
}

/* ---- punts on the control connection, held first packets ---- */

int vrd_hold_subscribe(struct vrd *vrd, struct vrd_conn *c)
{
    if (c && !vrd->hold) {
        uint32_t limit = dp_flow_index_limit(vrd->dp);
        vrd->hold = malloc((size_t)VRD_HOLD * sizeof *vrd->hold);
        vrd->hold_of = calloc(limit, sizeof *vrd->hold_of);
        vrd->replay = malloc((size_t)VRD_HOLD * sizeof *vrd->replay);
        if (!vrd->hold || !vrd->hold_of || !vrd->replay) {
            vrd_hold_free(vrd);
            return LIB_ENOMEM;
        }
        for (uint32_t i = 0; i < VRD_HOLD; i++) {
            vrd->hold[i].flow = DP_FLOW_NONE;
            vrd->hold[i].queued = 0;
        }
        vrd->hold_limit = limit;
        vrd->hold_next = 0;
        vrd->replay_len = 0;
    }
    vrd->punt_conn = c;
    return 0;
}

void vrd_hold_free(struct vrd *vrd)
{
    free(vrd->hold);
    free(vrd->hold_of);
    free(vrd->replay);
    vrd->hold = NULL;
    vrd->hold_of = NULL;
    vrd->replay = NULL;
    vrd->hold_limit = 0;
    vrd->replay_len = 0;
    vrd->punt_conn = NULL;
}

/* Frees hold slot 'h' (its flow's map entry too, when it points here). */
static void hold_clear(struct vrd *vrd, uint32_t h)
{
    struct vrd_hold *e = &vrd->hold[h];
    if (e->flow != DP_FLOW_NONE && vrd->hold_of[e->flow] == h + 1) {
        vrd->hold_of[e->flow] = 0;
    }
    e->flow = DP_FLOW_NONE;
    e->queued = 0;
}

/* Punt 'pkt' (verdict PUNT, transmission 't': punt header + frame) of a
 * frame received on 'ifindex' on the control connection and holds its
 * frame, when it is a flow miss of a VM port's frame that fits. Returns 1
 * when it did (nothing goes to the agent interface), 0 otherwise. */
static int hold_punt(struct vrd *vrd, uint32_t ifindex, int *vm_in, const struct dp_pkt *pkt, const struct dp_tx *t)
{
    const uint8_t *h = t->hdr;
    uint32_t flow = be32_load(h + 12);
    if (t->hdr_size != DP_PUNT_HDR_SIZE || h[3] != DP_PUNT_FLOW_MISS || be32_load(h + 4) != ifindex ||
        flow >= vrd->hold_limit || t->len < 14 || t->len > VR_MSG_PUNT_FRAME_MAX) {
        return 0;
    }
    if (*vm_in < 0) {
        struct dp_if i;
        *vm_in = dp_if_get(vrd->dp, ifindex, &i) == 0 && i.type == DP_IF_VM;
    }
    struct dp_flow f;
    if (!*vm_in || dp_flow_get_index(vrd->dp, flow, &f) != 0 || f.state != DP_FLOW_HOLD) {
        return 0;
    }
    uint32_t slot = vrd->hold_next;
    struct vrd_hold *e = &vrd->hold[slot];
    if (e->queued) {
        return 0; /* the oldest is being forwarded (a replay that punts) */
    }
    struct vr_msg m;
    vr_msg_init(&m, VR_MSG_PUNT, 0, 0);
    m.u.punt = (struct vr_msg_punt){.reason = DP_PUNT_FLOW_MISS, .ifindex = ifindex, .vrf = be32_load(h + 8),
                                    .flow = flow, .frame_size = (uint16_t)t->len};
    memcpy(m.u.punt.frame, pkt->buf + t->off, t->len);
    struct vr_ring_chan *ring = vrd->punt_conn->ring;
    if (ring) {
        /* encoded straight into the agent's ring slot */
        int err = 0;
        size_t size = 0;
        uint8_t *dst = vr_ring_reserve(&ring->down, &err);
        if (!dst || vr_msg_encode(&m, dst, VR_MSG_MAX, &size) != 0) {
            vrd->ring_punt_full += dst == NULL;
            return 0; /* full (or the agent broke its index): the agent interface takes it */
        }
        vr_ring_commit(&ring->down, size);
        vrd->ring_punts++;
    } else if (vrd_ctl_put(vrd->punt_conn, &m) != 0) {
        return 0;
    }
    if (e->flow != DP_FLOW_NONE) {
        vrd->holds_evicted++;
        hold_clear(vrd, slot);
    }
    vrd->hold_next = (slot + 1) % VRD_HOLD;
    e->flow = flow;
    e->ifindex = ifindex;
    e->len = t->len;
    e->key = f.key;
    memcpy(e->frame, m.u.punt.frame, t->len);
    if (vrd->hold_of[flow]) {
        hold_clear(vrd, vrd->hold_of[flow] - 1); /* an older punt of the same slot */
    }
    vrd->hold_of[flow] = slot + 1;
    vrd->punts_sent++;
    vrd->punt_pending = 1;
    return 1;
}

void vrd_hold_release(struct vrd *vrd, uint32_t idx, const struct dp_flow *f)
{
    if (!vrd->hold || idx >= vrd->hold_limit || !vrd->hold_of[idx]) {
        return;
    }
    uint32_t slot = vrd->hold_of[idx] - 1;
    struct vrd_hold *e = &vrd->hold[slot];
    vrd->hold_of[idx] = 0;
    if (e->flow != idx || memcmp(&e->key, &f->key, sizeof e->key) != 0) {
        return; /* the slot was re-used for another flow since */
    }
    if (f->action.type == DP_FLOW_DROP) {
        vrd->holds_dropped++;
        e->flow = DP_FLOW_NONE;
        return;
    }
    if (!e->queued) {
        e->queued = 1;
        vrd->replay[vrd->replay_len++] = slot;
    }
}

static void batch_process(struct vrd *vrd, uint32_t ifindex, uint32_t count);

void vrd_hold_replay(struct vrd *vrd)
{
    uint32_t n = 0, ifindex = 0;
    for (uint32_t i = 0; i <= vrd->replay_len; i++) {
        const struct vrd_hold *e = i < vrd->replay_len ? &vrd->hold[vrd->replay[i]] : NULL;
        if (n && (!e || e->ifindex != ifindex || n == VRD_BATCH)) {
            batch_process(vrd, ifindex, n);
            n = 0;
        }
        if (!e) {
            break;
        }
        ifindex = e->ifindex;
        memcpy(vrd->slots[n].data + VRD_HEADROOM, e->frame, e->len);
        vrd->pkts[n] = (struct dp_pkt){.buf = vrd->slots[n].data, .size = sizeof vrd->slots[n].data,
                                       .off = VRD_HEADROOM, .len = e->len};
        n++;
    }
    for (uint32_t i = 0; i < vrd->replay_len; i++) {
        vrd->holds_released++;
        hold_clear(vrd, vrd->replay[i]);
    }
    vrd->replay_len = 0;
    gro_flush(vrd);
    uso_flush(vrd);
}

void vrd_rx_frame(struct vrd *vrd, uint32_t ifindex, const uint8_t *frame, uint32_t len)
{
    if (len > VRD_FRAME_MAX) {
        return;
    }
    memcpy(vrd->slots[0].data + VRD_HEADROOM, frame, len);
    vrd->pkts[0] = (struct dp_pkt){.buf = vrd->slots[0].data, .size = sizeof vrd->slots[0].data,
                                   .off = VRD_HEADROOM, .len = len};
    batch_process(vrd, ifindex, 1);
    gro_flush(vrd);
    uso_flush(vrd);
}

/* Runs 'count' received frames of core interface 'ifindex' through the core
 * and queues what it decides. */
static void batch_emit(struct vrd *vrd, uint32_t ifindex, uint32_t count);

static void batch_process(struct vrd *vrd, uint32_t ifindex, uint32_t count)
{
    vrd->batch_ms = vrd_now_ms();
    dp_rx_batch(vrd->dp, ifindex, vrd->pkts, count, vrd->batch_ms, vrd->outs);
    batch_emit(vrd, ifindex, count);
}

/* Queues (or punts, merges, glues) what the core decided for the first
 * 'count' packets of the batch, received on 'ifindex', and sends them. */
static void batch_emit(struct vrd *vrd, uint32_t ifindex, uint32_t count)
{
    int vm_in = -1; /* whether 'ifindex' is a VM port: read at the first punt */
    for (uint32_t k = 0; k < count; k++) {
        struct dp_out *o = &vrd->outs[k];
        if (o->verdict == DP_VERDICT_DROP) {
            continue;
        }
        if (o->verdict == DP_VERDICT_PUNT && vrd->punt_conn && o->count == 1 &&
            hold_punt(vrd, ifindex, &vm_in, &vrd->pkts[k], &o->tx[0])) {
            continue;
        }
        if (o->verdict == DP_VERDICT_TX && o->count == 1) {
            if (vrd->fabric_if && o->tx[0].ifindex == vrd->fabric_if - 1) {
                if (uso_offer(vrd, &vrd->pkts[k], &o->tx[0])) {
                    continue;
                }
            } else if (gro_offer(vrd, &vrd->pkts[k], &o->tx[0])) {
                continue;
            }
        } else {
            gro_flush(vrd); /* keep the order of what goes to the merge's port ... */
            uso_flush(vrd); /* ... and to the fabric */
        }
        for (uint32_t t = 0; t < o->count; t++) {
            tx_queue(vrd, &vrd->pkts[k], &o->tx[t]);
        }
    }
    /* a merge in progress stays open across the batches of one wake-up
     * (its bytes are copied): vrd_io_ready sends it before returning */
    tx_flush(vrd); /* punts queued on the control connection leave at the end of the loop turn */
}

static void pkt_set(struct vrd *vrd, uint32_t k, uint32_t len)
{
    vrd->pkts[k] = (struct dp_pkt){.buf = vrd->slots[k].data, .size = sizeof vrd->slots[k].data,
                                   .off = VRD_HEADROOM, .len = len};
}

/* recvmmsg into the slots at 'at' bytes past the headroom; returns the
 * count received (0 when nothing is waiting). */
static uint32_t rx_mmsg(struct vrd *vrd, int fd, uint32_t at, int want_addr)
{
    for (uint32_t k = 0; k < VRD_BATCH; k++) {
        vrd->rx_iov[k] = (struct iovec){.iov_base = vrd->slots[k].data + VRD_HEADROOM + at,
                                        .iov_len = VRD_FRAME_MAX - at};
        struct msghdr *h = &vrd->rx_mm[k].msg_hdr;
        memset(h, 0, sizeof *h);
        h->msg_iov = &vrd->rx_iov[k];
        h->msg_iovlen = 1;
        if (want_addr) {
            h->msg_name = &vrd->rx_addr[k];
            h->msg_namelen = sizeof vrd->rx_addr[k];
        }
    }
    int n = recvmmsg(fd, vrd->rx_mm, VRD_BATCH, MSG_DONTWAIT, NULL);
    return n > 0 ? (uint32_t)n : 0;
}

static void eth_ip4(uint8_t *eth)
{
    memset(eth, 0, 12);
    eth[12] = 0x08;
    eth[13] = 0x00;
}

/* Rebuilds Ethernet + IPv4 + UDP in front of datagram 'n' bytes in slot
 * 'k', received from 'from'. */
static uint32_t synth_udp(struct vrd *vrd, uint32_t k, const struct sockaddr_in *from, uint32_t n, uint16_t dport)
{
    uint8_t *b = vrd->slots[k].data + VRD_HEADROOM;
    eth_ip4(b);
    uint8_t *ip = b + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    be16_store(ip + 2, (uint16_t)(28 + n));
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, &from->sin_addr, 4);
    be32_store(ip + 16, vrd->underlay_ip);
    uint8_t *udp = ip + 20;
    memcpy(udp, &from->sin_port, 2);
    be16_store(udp + 2, dport);
    be16_store(udp + 4, (uint16_t)(8 + n));
    udp[6] = udp[7] = 0;
    return OUTER_UDP + n;
}

/* ---- GSO passthrough (VM ports with a virtio_net_hdr; vrd_gso.c) ---- */

/* Cuts super-frame 'f' ('len' bytes, described by 'vh') into complete
 * segments in the batch slots and forwards them from core interface
 * 'ifindex', a batch at a time. Malformed or unsupported super-frames are
 * counted in gso_errors and dropped. */
static uint32_t tso_forward(struct vrd *vrd, uint32_t ifindex, const struct vrd_gso *g, const uint8_t *f);

static void gso_forward(struct vrd *vrd, uint32_t ifindex, const uint8_t *f, uint32_t len,
                        const struct virtio_net_hdr *vh)
{
    struct vrd_gso g;
    if (vrd_gso_parse(f, len, vh, &g) != 0) {
        vrd->gso_errors++;
        return;
    }
    vrd->gso_frames++;
    vrd->gso_segments += g.count;
    uint32_t i = 0;
    if (g.count > 1 && vrd->fab_uso && !vrd->no_tso) {
        i = tso_forward(vrd, ifindex, &g, f);
        if (i == g.count) {
            return;
        }
    }
    uint32_t k = 0;
    for (; i < g.count; i++) {
        pkt_set(vrd, k, vrd_gso_segment(&g, f, i, vrd->slots[k].data + VRD_HEADROOM));
        if (++k == VRD_BATCH || i + 1 == g.count) {
            batch_process(vrd, ifindex, k);
            k = 0;
        }
    }
}

/* Sends the segments of super-frame 'f' ('g', from core interface
 * 'ifindex') straight to the fabric when its first segment, run through
 * the core alone, goes there encapsulated in UDP: every other segment's
 * datagram is that segment's prefix (vrd_tso_prefix) and its payload in
 * 'f', in UDP_SEGMENT sends of up to t.per_send segments, and the core
 * counts the others as forwarded the same way (dp_rx_account). The
 * fabric run left open by the super-frame before (vrd->uso), when this
 * one continues it (same tunnel flow and segment size), goes first in the
 * same send; a last chunk of full-size segments that does not fill a
 * send is left in that run for the next super-frame (the run is sent at
 * the end of the wake-up at the latest), so consecutive super-frames of
 * a stream fill sends as the glued path did. A send the kernel refuses
 * goes frame by frame as the core would have written them. Returns how
 * many segments were forwarded: g->count, or 1 when only the first was
 * (its fate handled as usual; the caller cuts and runs the others). */
static uint32_t tso_forward(struct vrd *vrd, uint32_t ifindex, const struct vrd_gso *g, const uint8_t *f)
{
    pkt_set(vrd, 0, vrd_gso_segment(g, f, 0, vrd->slots[0].data + VRD_HEADROOM));
    uint32_t lead_in = vrd->pkts[0].len;
    vrd->batch_ms = vrd_now_ms();
    dp_rx(vrd->dp, ifindex, &vrd->pkts[0], vrd->batch_ms, &vrd->outs[0]);
    const struct dp_out *o = &vrd->outs[0];
    const struct dp_tx *t0 = &o->tx[0];
    const uint8_t *lead = vrd->pkts[0].buf + t0->off;
    struct vrd_tso t;
    uint64_t more_bytes = (uint64_t)(g->count - 1) * g->hdr + (g->payload - (lead_in - g->hdr));
    if (o->verdict != DP_VERDICT_TX || o->count != 1 || t0->hdr_size || !vrd->fabric_if ||
        t0->ifindex != vrd->fabric_if - 1 || vrd_tso_prepare(&t, g, vrd->underlay_ip, lead, t0->len) != 0 ||
        dp_rx_account(vrd->dp, ifindex, f + 14, g->hdr - 14, o, (int32_t)t0->len - (int32_t)lead_in, g->count - 1,
                      more_bytes, vrd->batch_ms) != 0) {
        batch_emit(vrd, ifindex, 1); /* glues the lead to the open run, or sends the run first */
        return 1;
    }
    vrd->tso_frames++;
    struct vrd_uso *u = vrd->uso;
    uint32_t carry = 0; /* the open run's datagrams, sent ahead of this super-frame's */
    if (u->count) {
        if (vrd_uso_fits(u, vrd->underlay_ip, lead, t0->len) == 1 && u->seg == t.seg && u->count < t.per_send) {
            carry = u->count;
        } else {
            uso_flush(vrd);
        }
    }
    int full_tail = g->payload % g->mss == 0;
    for (uint32_t s0 = 0; s0 < g->count;) {
        uint32_t room = t.per_send - carry;
        uint32_t n = g->count - s0 < room ? g->count - s0 : room, size = 0, k = 0;
        if (s0 + n == g->count && n < room && full_tail) {
            /* a last chunk that does not fill a send: into the open run */
            for (uint32_t j = 0; j < n; j++) {
                uint32_t len = vrd_tso_frame(&t, g, lead, f, s0 + j, vrd->uso_out);
                if (vrd_uso_add(u, vrd->uso_out, len)) {
                    uso_flush(vrd);
                }
            }
            break;
        }
        if (carry) {
            vrd->tso_iov[k++] = (struct iovec){.iov_base = u->buf, .iov_len = u->size};
            size = u->size;
        }
        for (uint32_t j = 0; j < n; j++) {
            uint8_t *pre = vrd->tso_hdr + (size_t)j * VRD_TSO_PRE_MAX;
            uint32_t pay = vrd_tso_prefix(&t, g, lead, f, s0 + j, pre);
            vrd->tso_iov[k++] = (struct iovec){.iov_base = pre, .iov_len = t.pre};
            vrd->tso_iov[k++] =
                (struct iovec){.iov_base = (void *)(f + g->hdr + (size_t)(s0 + j) * g->mss), .iov_len = pay};
            size += t.pre + pay;
        }
        if (usend(vrd, lead, vrd->tso_iov, k, size, t.seg, carry + n) == 0) {
            vrd->tso_sends++;
            u->count = 0;
        } else {
            vrd->tso_fallbacks++;
            uso_flush(vrd); /* the run's datagrams, frame by frame if refused again */
            uint32_t at = 0;
            for (uint32_t j = 0; j < n; j++) {
                uint32_t len = vrd_tso_frame(&t, g, lead, f, s0 + j, vrd->uso_out + at);
                struct dp_pkt pkt = {.buf = vrd->uso_out, .size = USO_OUT_SIZE, .off = at, .len = len};
                struct dp_tx tx = {.ifindex = vrd->fabric_if - 1, .off = at, .len = len};
                tx_queue(vrd, &pkt, &tx);
                at += len;
            }
            tx_flush(vrd); /* the buffer is reused by the next send */
        }
        carry = 0;
        s0 += n;
    }
    return g->count;
}

/* Makes VM port frame 'f' ('len' bytes, its virtio_net_hdr 'vh') complete
 * in place. Returns 1 when it is a plain frame to forward, 0 when it is a
 * super-frame (for gso_forward), -1 to drop. */
static int vnet_prepare(uint8_t *f, uint32_t len, const struct virtio_net_hdr *vh)
{
    if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        return 0;
    }
    if ((vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && vrd_csum_complete(f, len, vh->csum_start, vh->csum_offset) != 0) {
        return -1;
    }
    return 1;
}

static struct tpacket2_hdr *ring_frame(const struct vrd_ring *r, uint32_t i)
{
    return (struct tpacket2_hdr *)(void *)(r->map + (size_t)i * r->frame_size);
}

/* Takes up to VRD_BATCH frames the kernel handed over in port 'p''s ring
 * into the batch: in place, or, for a frame larger than a ring slot, from
 * the socket queue into a slot. On a port with virtio headers, partial
 * checksums are completed, and a GSO super-frame ends the batch: taken
 * alone (after the frames before it were forwarded), it is cut and
 * forwarded here and '*gso' is set. '*held' receives how many ring frames
 * were taken (to hand back with ring_release once the batch is sent).
 * Returns the number of packets in the batch (frames truncated without a
 * full copy are dropped here). */
static uint32_t ring_collect(struct vrd *vrd, struct vrd_port *p, uint32_t *held, int *gso)
{
    struct vrd_ring *r = &p->ring;
    uint32_t count = 0, n = 0, vn = p->vnet ? VNET_HDR : 0;
    *gso = 0;
    while (n < VRD_BATCH) {
        struct tpacket2_hdr *h = ring_frame(r, (r->head + n) % r->frame_nr);
        uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
        if (!(status & TP_STATUS_USER)) {
            break;
        }
        struct virtio_net_hdr vh = vnet_none;
        if (vn && h->tp_mac >= RING_HDR + VNET_HDR && h->tp_mac <= r->frame_size) {
            memcpy(&vh, (uint8_t *)h + h->tp_mac - VNET_HDR, VNET_HDR);
        }
        if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
            if (count) {
                break; /* forward what came before it first */
            }
            n++;
            *gso = 1;
            if (status & TP_STATUS_COPY) {
                ssize_t got = recv(p->src.fd, vrd->gso_buf, VNET_HDR + VRD_GSO_MAX, MSG_DONTWAIT | MSG_TRUNC);
                if (got > (ssize_t)VNET_HDR && got <= (ssize_t)(VNET_HDR + VRD_GSO_MAX)) {
                    memcpy(&vh, vrd->gso_buf, VNET_HDR);
                    gso_forward(vrd, p->ifindex, vrd->gso_buf + VNET_HDR, (uint32_t)got - VNET_HDR, &vh);
                } else {
                    vrd->gso_errors++;
                }
            } else if (h->tp_snaplen == h->tp_len && h->tp_mac + h->tp_snaplen <= r->frame_size) {
                gso_forward(vrd, p->ifindex, (uint8_t *)h + h->tp_mac, h->tp_snaplen, &vh);
            } else {
                vrd->gso_errors++;
            }
            break;
        }
        n++;
        if (status & TP_STATUS_COPY) {
            /* too large for the slot: the whole frame waits on the socket
             * (behind its virtio header, which lands in the headroom) */
            uint8_t *at = vrd->slots[count].data + VRD_HEADROOM - vn;
            ssize_t got = recv(p->src.fd, at, VRD_FRAME_MAX + vn, MSG_DONTWAIT | MSG_TRUNC);
            if (got > (ssize_t)vn && got <= (ssize_t)(VRD_FRAME_MAX + vn)) {
                memcpy(&vh, vn ? at : (const uint8_t *)&vnet_none, VNET_HDR);
                if (vnet_prepare(at + vn, (uint32_t)got - vn, &vh) == 1) {
                    pkt_set(vrd, count++, (uint32_t)got - vn);
                } else {
                    vrd->gso_errors++;
                }
            }
            continue;
        }
        if (h->tp_snaplen != h->tp_len || h->tp_mac < RING_HDR + DP_HEADROOM + vn ||
            h->tp_mac + h->tp_snaplen > r->frame_size) {
            continue; /* truncated, and no copy was queued (socket full) */
        }
        if (vn && vnet_prepare((uint8_t *)h + h->tp_mac, h->tp_snaplen, &vh) != 1) {
            vrd->gso_errors++;
            continue;
        }
        uint32_t room = h->tp_mac - (uint32_t)RING_HDR;
        vrd->pkts[count++] = (struct dp_pkt){.buf = (uint8_t *)h + RING_HDR, .size = room + h->tp_snaplen,
                                             .off = room, .len = h->tp_snaplen};
    }
    *held = n;
    return count;
}

/* Hands the first 'n' frames from the ring's head back to the kernel. */
static void ring_release(struct vrd_ring *r, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        __atomic_store_n(&ring_frame(r, r->head)->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        r->head = (r->head + 1) % r->frame_nr;
    }
}

/* Forwards what port 'p''s ring holds, a batch at a time, up to 8 batches. */
static void ring_ready(struct vrd *vrd, struct vrd_port *p)
{
    for (int round = 0; round < 8; round++) {
        uint32_t held = 0;
        int gso = 0;
        uint32_t count = ring_collect(vrd, p, &held, &gso);
        if (held == 0) {
            /* Woken with nothing in the ring. The kernel queues a large
             * frame's copy on the socket before it hands over the frame's
             * ring slot, so a copy may be waiting for its slot: keep it
             * (reading it here would lose the frame). Only after many such
             * wake-ups in a row is what the queue holds taken for orphaned
             * (nothing should be) and read, so the socket stops polling
             * readable rather than spin. */
            if (round == 0 && ++p->ring_idle >= 64) {
                while (recv(p->src.fd, vrd->slots[0].data, VRD_FRAME_MAX, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
                }
                p->ring_idle = 0;
            }
            return;
        }
        p->ring_idle = 0;
        if (count) {
            batch_process(vrd, p->ifindex, count);
        }
        ring_release(&p->ring, held);
        if (held < VRD_BATCH && !gso) {
            return;
        }
    }
}

/* Forwards what TAP port 'p' holds, up to 8 batches of VRD_BATCH frames.
 * With virtio headers a frame is read behind its header into a slot, and a
 * super-frame's rest into the GSO buffer (which then takes the whole
 * super-frame); partial checksums are completed, super-frames cut
 * (after the frames read before them were forwarded). */
static void tap_ready(struct vrd *vrd, struct vrd_port *p)
{
    for (int round = 0; round < 8; round++) {
        uint32_t count = 0, taken = 0;
        int drained = 0;
        for (; taken < VRD_BATCH; taken++) {
            struct virtio_net_hdr vh = vnet_none;
            uint8_t *at = vrd->slots[count].data + VRD_HEADROOM;
            ssize_t got;
            if (p->vnet) {
                struct iovec iov[3] = {{.iov_base = &vh, .iov_len = VNET_HDR},
                                       {.iov_base = at, .iov_len = VRD_FRAME_MAX},
                                       {.iov_base = vrd->gso_buf + VRD_FRAME_MAX,
                                        .iov_len = VRD_GSO_MAX - VRD_FRAME_MAX}};
                got = readv(p->src.fd, iov, 3);
                got = got > (ssize_t)VNET_HDR ? got - (ssize_t)VNET_HDR : -1;
            } else {
                got = read(p->src.fd, at, VRD_FRAME_MAX);
            }
            if (got <= 0) {
                drained = 1;
                break;
            }
            uint32_t n = (uint32_t)got;
            if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
                if (count) {
                    batch_process(vrd, p->ifindex, count);
                    count = 0;
                }
                memmove(vrd->gso_buf, at, n < VRD_FRAME_MAX ? n : VRD_FRAME_MAX);
                gso_forward(vrd, p->ifindex, vrd->gso_buf, n, &vh);
                continue;
            }
            if (n > VRD_FRAME_MAX || (p->vnet && vnet_prepare(at, n, &vh) != 1)) {
                vrd->gso_errors++;
                continue;
            }
            pkt_set(vrd, count++, n);
        }
        if (count) {
            batch_process(vrd, p->ifindex, count);
        }
        if (drained) {
            return;
        }
    }
}

/* Sends the merge in progress towards a VM (vrd->rxp), if any: headers
 * from the first piece as the core delivered it, payloads from the
 * receive areas. */
static void rxp_flush(struct vrd *vrd)
{
    struct vrd_rxp *r = &vrd->rxp;
    if (!r->pieces) {
        return;
    }
    struct virtio_net_hdr vh;
    uint8_t hdr[sizeof r->hdr];
    vrd_rxm_finish(&r->m, r->hdr, r->run.payload, r->run.psh, hdr, &vh);
    r->iov[0] = (struct iovec){.iov_base = &vh, .iov_len = VNET_HDR};
    r->iov[1] = (struct iovec){.iov_base = hdr, .iov_len = r->m.hdr};
    ssize_t sent;
    struct vrd_port *p = r->port;
    if (p->src.kind == VRD_SRC_TAP) {
        sent = writev(p->src.fd, r->iov, (int)(r->niov + 2));
    } else {
        struct msghdr h = {.msg_iov = r->iov, .msg_iovlen = r->niov + 2};
        sent = sendmsg(p->src.fd, &h, MSG_DONTWAIT);
    }
    if (sent < 0) {
        vrd->tx_errors++;
    }
    vrd->gro_frames++;
    vrd->gro_segments += r->pieces;
    vrd->rxm_frames++;
    r->pieces = 0;
    r->niov = 0;
}

/* Keeps the merge in progress across a receive call: the payloads still
 * in the receive areas (which the call reuses) are copied behind those
 * kept before, in vrd->rxp_buf, as one iovec entry. */
static void rxp_park(struct vrd *vrd)
{
    struct vrd_rxp *r = &vrd->rxp;
    if (!r->pieces) {
        return;
    }
    uint32_t at = 0, first = 0;
    if (r->iov[2].iov_base == vrd->rxp_buf) {
        at = (uint32_t)r->iov[2].iov_len;
        first = 1;
    }
    for (uint32_t i = first; i < r->niov; i++) {
        memcpy(vrd->rxp_buf + at, r->iov[2 + i].iov_base, r->iov[2 + i].iov_len);
        at += (uint32_t)r->iov[2 + i].iov_len;
    }
    r->iov[2] = (struct iovec){.iov_base = vrd->rxp_buf, .iov_len = at};
    r->niov = 1;
}

/* Adds to the merge in progress the pieces of message 'k' of the fabric
 * batch ('size' bytes glued at 'gso', from rx_addr[k]) that continue it,
 * from its first, and has the core count them as delivered the same way
 * (dp_rx_account); sends the merge when it must end. Returns how many
 * pieces it took (0: the message does not continue it). */
static uint32_t rxp_take(struct vrd *vrd, uint32_t ifindex, uint32_t k, uint32_t size, uint32_t gso)
{
    struct vrd_rxp *r = &vrd->rxp;
    const uint8_t *buf = vrd->fab_rx + (size_t)k * VRD_FAB_RX;
    const struct sockaddr_in *from = &vrd->rx_addr[k];
    if (!r->pieces || r->run.end || from->sin_addr.s_addr != r->from.sin_addr.s_addr ||
        from->sin_port != r->from.sin_port) {
        return 0;
    }
    struct vrd_rxm_run run = r->run;
    uint32_t c = vrd_rxm_take(&r->m, r->p0, buf, size, gso, &run);
    if (c == 0) {
        return 0;
    }
    uint32_t payload = run.payload - r->run.payload;
    uint64_t bytes = (uint64_t)c * (OUTER_UDP + r->m.pre) + payload;
    /* the same decision: the pieces match the first one's prefix */
    if (dp_rx_account(vrd->dp, ifindex, buf + r->m.ip, r->m.pre - r->m.ip, &r->out, r->grow, c, bytes,
                      vrd_now_ms()) != 0) {
        return 0;
    }
    for (uint32_t i = 0; i < c; i++) {
        uint32_t off, len = vrd_gro_piece(size, gso, i, &off);
        r->iov[2 + r->niov + i] = (struct iovec){.iov_base = (void *)(buf + off + r->m.pre), .iov_len = len - r->m.pre};
    }
    r->pieces += c;
    r->niov += c;
    r->run = run;
    if (run.end) {
        rxp_flush(vrd);
    }
    return c;
}

/* Starts a merge towards a VM with message 'k' of the fabric batch ('size'
 * bytes glued at 'gso', from UDP port 'dport' of the sender in
 * rx_addr[k]) from its piece 'first' (< its count): that piece goes
 * through the core; when the core
 * delivers it to a VM port with virtio headers as a TCP segment a merge
 * takes, the pieces that continue it (vrd_rxm_take) become a merge in
 * progress (vrd->rxp, sent by rxp_flush), their payloads left in the
 * receive area, and the core counts them as delivered the same way
 * (dp_rx_account). Returns how many pieces were forwarded from 'first'
 * (at least that one). */
static uint32_t rxp_start(struct vrd *vrd, uint32_t ifindex, uint32_t k, uint32_t first, uint32_t size, uint32_t gso,
                          uint16_t dport)
{
    struct vrd_rxp *r = &vrd->rxp;
    /* the message from piece 'first' on: pieces of the same size */
    uint32_t skip = first * gso;
    const uint8_t *buf = vrd->fab_rx + (size_t)k * VRD_FAB_RX + skip;
    size -= skip;
    uint32_t off0, len0 = vrd_gro_piece(size, gso, 0, &off0);
    if (len0 > VRD_FRAME_MAX - OUTER_UDP) {
        len0 = 0; /* larger than a slot: dropped by the core as truncated */
    }
    memcpy(vrd->slots[0].data + VRD_HEADROOM + OUTER_UDP, buf + off0, len0);
    pkt_set(vrd, 0, len0 ? synth_udp(vrd, 0, &vrd->rx_addr[k], len0, dport) : 0);
    uint32_t in_len = vrd->pkts[0].len;
    vrd->batch_ms = vrd_now_ms();
    dp_rx(vrd->dp, ifindex, &vrd->pkts[0], vrd->batch_ms, &vrd->outs[0]);
    const struct dp_out *o = &vrd->outs[0];
    const struct dp_tx *t0 = &o->tx[0];
    const uint8_t *out = vrd->pkts[0].buf + t0->off;
    struct vrd_port *p = o->verdict == DP_VERDICT_TX && o->count == 1 && !t0->hdr_size &&
                                 t0->ifindex < vrd->port_slots && t0->ifindex != vrd->fabric_if - 1
                             ? vrd->ports[t0->ifindex]
                             : NULL;
    if (!p || !p->vnet || !len0 || vrd_rxm_prepare(&r->m, buf + off0, len0, out, t0->len) != 0) {
        batch_emit(vrd, ifindex, 1);
        return 1;
    }
    struct vrd_rxm_run run;
    vrd_rxm_start(&r->m, buf + off0, VRD_USO_SEGS, &run);
    uint32_t c = vrd_rxm_take(&r->m, buf + off0, buf, size, gso, &run);
    uint64_t bytes = (uint64_t)(c - 1) * (OUTER_UDP + r->m.pre) + (run.payload - r->m.mss);
    int32_t grow = (int32_t)t0->len - (int32_t)in_len;
    if (c < 2 || dp_rx_account(vrd->dp, ifindex, buf + off0 + r->m.ip, len0 - r->m.ip, o, grow, c - 1, bytes,
                               vrd->batch_ms) != 0) {
        batch_emit(vrd, ifindex, 1);
        return 1;
    }
    gro_flush(vrd); /* a merge of the usual path and everything queued go first */
    tx_flush(vrd);
    r->port = p;
    r->run = run;
    r->from = vrd->rx_addr[k];
    r->grow = grow;
    r->out.verdict = o->verdict;
    r->out.drop = o->drop;
    r->out.count = 1;
    r->out.tx[0] = *t0;
    memcpy(r->hdr, out, r->m.hdr);
    memcpy(r->p0, buf + off0, r->m.pre);
    for (uint32_t i = 0; i < c; i++) {
        uint32_t off, len = vrd_gro_piece(size, gso, i, &off);
        r->iov[2 + i] = (struct iovec){.iov_base = (void *)(buf + off + r->m.pre), .iov_len = len - r->m.pre};
    }
    r->pieces = c;
    r->niov = c;
    if (run.end) {
        rxp_flush(vrd);
    }
    return c;
}

/* Forwards what fabric UDP socket 'src' (with UDP_GRO) holds, up to 8
 * receive calls of VRD_BATCH messages: each message, a datagram or many
 * glued, is cut into datagrams copied behind synthesized outer headers
 * into the slots, forwarded a batch at a time. */
static void fab_udp_ready(struct vrd *vrd, struct vrd_src *src)
{
    uint32_t ifindex = vrd->fabric_if - 1;
    uint16_t dport = src == &vrd->udp[0] ? PORT_MPLS_UDP : PORT_VXLAN;
    for (int round = 0; round < 8; round++) {
        for (uint32_t k = 0; k < VRD_BATCH; k++) {
            vrd->rx_iov[k] = (struct iovec){.iov_base = vrd->fab_rx + (size_t)k * VRD_FAB_RX, .iov_len = VRD_FAB_RX};
            vrd->rx_mm[k].msg_hdr = (struct msghdr){.msg_name = &vrd->rx_addr[k],
                                                    .msg_namelen = sizeof vrd->rx_addr[k],
                                                    .msg_iov = &vrd->rx_iov[k],
                                                    .msg_iovlen = 1,
                                                    .msg_control = vrd->rx_cmsg[k].buf,
                                                    .msg_controllen = sizeof vrd->rx_cmsg[k].buf};
        }
        int got = recvmmsg(src->fd, vrd->rx_mm, VRD_BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0) {
            return;
        }
        uint32_t count = 0;
        for (uint32_t k = 0; k < (uint32_t)got; k++) {
            const struct msghdr *h = &vrd->rx_mm[k].msg_hdr;
            uint32_t size = vrd->rx_mm[k].msg_len, gso = 0;
            if (h->msg_flags & MSG_TRUNC) {
                size = 0; /* the core drops it as truncated */
            } else if (vrd_udp_gro_size(h, &gso) != 0) {
                size = 0;
            }
            uint32_t n = vrd_gro_count(size, gso);
            if (n > 1) {
                vrd->fab_gro_datagrams++;
                vrd->fab_gro_segments += n;
            }
            uint32_t i = 0;
            if (size && !vrd->no_tso) {
                /* a merge in progress towards a VM takes what continues
                 * it; from the first piece that does not, new merges
                 * start while at least two pieces are left and the core
                 * delivers the first of them to a VM as a merge needs */
                i = rxp_take(vrd, ifindex, k, size, gso);
                while (i < n) {
                    rxp_flush(vrd);
                    if (n - i < 2) {
                        break;
                    }
                    if (count) {
                        batch_process(vrd, ifindex, count); /* what came before goes first */
                        count = 0;
                    }
                    uint32_t c = rxp_start(vrd, ifindex, k, i, size, gso, dport);
                    i += c;
                    if (c == 1) {
                        break; /* not for a direct merge: the rest one by one */
                    }
                }
            }
            for (; i < n; i++) {
                uint32_t off, len = vrd_gro_piece(size, gso, i, &off);
                if (len > VRD_FRAME_MAX - OUTER_UDP) {
                    len = 0; /* larger than a slot: dropped by the core as truncated */
                }
                memcpy(vrd->slots[count].data + VRD_HEADROOM + OUTER_UDP, vrd->fab_rx + (size_t)k * VRD_FAB_RX + off,
                       len);
                pkt_set(vrd, count, len ? synth_udp(vrd, count, &vrd->rx_addr[k], len, dport) : 0);
                if (++count == VRD_BATCH) {
                    batch_process(vrd, ifindex, count);
                    count = 0;
                }
            }
        }
        if (count) {
            batch_process(vrd, ifindex, count);
        }
        rxp_park(vrd); /* its payloads are in the receive areas the next call reuses */
        if ((uint32_t)got < VRD_BATCH) {
            return;
        }
    }
}

static void io_ready(struct vrd *vrd, struct vrd_src *src);

void vrd_io_ready(struct vrd *vrd, struct vrd_src *src)
{
    io_ready(vrd, src);
    rxp_flush(vrd);
    gro_flush(vrd);
    uso_flush(vrd);
}

/* Receives and forwards up to a few batches from 'src'. */
static void io_ready(struct vrd *vrd, struct vrd_src *src)
{
    if (src->fd < 0) {
        return; /* closed earlier in this epoll round */
    }
    for (int round = 0; round < 8; round++) {
        uint32_t count = 0, ifindex;
        switch ((enum vrd_src_kind)src->kind) {
        case VRD_SRC_TAP:
            tap_ready(vrd, (struct vrd_port *)src);
            return;
        case VRD_SRC_PACKET: {
            struct vrd_port *p = (struct vrd_port *)src;
            if (p->ring.map) {
                ring_ready(vrd, p);
                return;
            }
            ifindex = p->ifindex;
            uint32_t got = rx_mmsg(vrd, src->fd, 0, 0);
            for (uint32_t k = 0; k < got; k++) {
                if (!(vrd->rx_mm[k].msg_hdr.msg_flags & MSG_TRUNC)) {
                    pkt_set(vrd, count, vrd->rx_mm[k].msg_len);
                    if (count != k) {
                        memcpy(vrd->slots[count].data + VRD_HEADROOM, vrd->slots[k].data + VRD_HEADROOM,
                               vrd->rx_mm[k].msg_len);
                    }
                    count++;
                }
            }
            if (got < VRD_BATCH) {
                round = 8; /* drained */
            }
            break;
        }
        case VRD_SRC_FAB_UDP: {
            if (!vrd->fabric_if) {
                return;
            }
            if (vrd->fab_gro) {
                fab_udp_ready(vrd, src);
                return;
            }
            ifindex = vrd->fabric_if - 1;
            uint16_t dport = src == &vrd->udp[0] ? PORT_MPLS_UDP : PORT_VXLAN;
            uint32_t got = rx_mmsg(vrd, src->fd, OUTER_UDP, 1);
            for (uint32_t k = 0; k < got; k++) {
                if (vrd->rx_mm[k].msg_hdr.msg_flags & MSG_TRUNC) {
                    pkt_set(vrd, k, 0); /* the core drops it as truncated */
                    continue;
                }
                pkt_set(vrd, k, synth_udp(vrd, k, &vrd->rx_addr[k], vrd->rx_mm[k].msg_len, dport));
            }
            count = got;
            if (got < VRD_BATCH) {
                round = 8;
            }
            break;
        }
        case VRD_SRC_FAB_GRE: {
            if (!vrd->fabric_if) {
                return;
            }
            ifindex = vrd->fabric_if - 1;
            uint32_t got = rx_mmsg(vrd, src->fd, 14, 0);
            for (uint32_t k = 0; k < got; k++) {
                eth_ip4(vrd->slots[k].data + VRD_HEADROOM);
                uint32_t n = vrd->rx_mm[k].msg_hdr.msg_flags & MSG_TRUNC ? 0 : 14 + vrd->rx_mm[k].msg_len;
                pkt_set(vrd, k, n);
            }
            count = got;
            if (got < VRD_BATCH) {
                round = 8;
            }
            break;
        }
        case VRD_SRC_LISTEN:
        case VRD_SRC_CONN:
        case VRD_SRC_RING:
            return;
        }
        if (count == 0) {
            return;
        }
        batch_process(vrd, ifindex, count);
        if (count < VRD_BATCH) {
            return;
        }
    }
}

static void io_free(struct vrd *vrd)
{
    free(vrd->slots);
    free(vrd->gso_buf);
    free(vrd->gro);
    free(vrd->uso);
    free(vrd->uso_out);
    free(vrd->fab_rx);
    free(vrd->tso_hdr);
    free(vrd->rxp_buf);
    vrd->tso_hdr = NULL;
    vrd->rxp_buf = NULL;
    vrd->slots = NULL;
    vrd->gso_buf = NULL;
    vrd->gro = NULL;
    vrd->uso = NULL;
    vrd->uso_out = NULL;
    vrd->fab_rx = NULL;
}

int vrd_io_init(struct vrd *vrd)
{
    vrd->slots = calloc(VRD_BATCH, sizeof *vrd->slots);
    vrd->gso_buf = malloc(VNET_HDR + VRD_GSO_MAX);
    vrd->gro = calloc(1, sizeof *vrd->gro);
    vrd->uso = calloc(1, sizeof *vrd->uso);
    vrd->uso_out = malloc(USO_OUT_SIZE);
    vrd->fab_rx = malloc((size_t)VRD_BATCH * VRD_FAB_RX);
    vrd->tso_hdr = malloc((size_t)VRD_USO_SEGS * VRD_TSO_PRE_MAX);
    vrd->rxp_buf = malloc(65536);
    if (!vrd->slots || !vrd->gso_buf || !vrd->gro || !vrd->uso || !vrd->uso_out || !vrd->fab_rx || !vrd->tso_hdr ||
        !vrd->rxp_buf) {
        io_free(vrd);
        return LIB_ENOMEM;
    }
    for (uint32_t k = 0; k < VRD_USOCKS; k++) {
        vrd->usock[k] = (struct vrd_usock){.fd = -1};
    }
    vrd->udp[0] = (struct vrd_src){.kind = VRD_SRC_FAB_UDP, .fd = -1};
    vrd->udp[1] = (struct vrd_src){.kind = VRD_SRC_FAB_UDP, .fd = -1};
    vrd->gre = (struct vrd_src){.kind = VRD_SRC_FAB_GRE, .fd = -1};
    vrd->raw_tx = -1;
    vrd->pkt_tx = -1;
    return 0;
}

void vrd_io_destroy(struct vrd *vrd)
{
    for (uint32_t i = 0; i < vrd->port_slots; i++) {
        vrd_port_detach(vrd, i);
    }
    vrd_fabric_close(vrd);
    vrd_port_reap(vrd);
    io_free(vrd);
}

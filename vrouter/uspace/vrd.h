/* strata-vrouter, the user-space datapath process: it hosts the portable
 * forwarding core (vrouter/dp) in one epoll loop. VM and agent ports are
 * TAP devices it creates (/dev/net/tun, IFF_TAP|IFF_NO_PI) or existing
 * devices (a veth end) it reads through AF_PACKET; the fabric is two UDP
 * sockets (MPLSoUDP 6635, VXLAN 4789) and a raw IP socket for GRE (47) on
 * the underlay address, plus a raw IPPROTO_RAW socket that sends the outer
 * headers the core built, byte for byte (or an AF_PACKET socket on the
 * underlay device, or, for runs of one tunnel flow's datagrams, a UDP
 * socket bound to the flow's source port with UDP_SEGMENT; the UDP
 * sockets receive with UDP_GRO). Packets move in batches:
 * AF_PACKET ports receive through a memory-mapped ring (struct vrd_ring),
 * other sockets with recvmmsg; transmissions go out with sendmmsg. A unix stream socket speaks the control message set
 * (vrouter/msg); any number of clients may connect, and a client going away
 * changes nothing (headless): state only changes by messages, generations
 * and sweeps. Single-threaded: control and forwarding share the loop, which
 * is the contract of the user-space environment (env_user.c). */
#ifndef STRATA_VRD_H
#define STRATA_VRD_H

#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "vrouter/dp/dp.h"
#include "vrouter/msg/msg.h"
#include "vrouter/msg/ring.h"

#define VRD_ERRORS(X)                                                    \
    X(VRD_ESYS, -16201, "datapath system call failed")                   \
    X(VRD_EPORT, -16202, "cannot attach the interface's OS device")      \
    X(VRD_EFABRIC, -16203, "cannot open the fabric sockets")            \
    X(VRD_EREQUEST, -16204, "message is not a request")

enum vrd_err { VRD_ERRORS(STRATA_ERR_ENUM) };

const char *vrd_strerror(int code);

#define VRD_BATCH 32
#define VRD_HEADROOM 128
#define VRD_FRAME_MAX 16384 /* largest frame or fabric datagram handled */
#define VRD_TXQ (VRD_BATCH * 4)
#define VRD_RING_BYTES (16u << 20) /* receive ring per AF_PACKET port */
#define VRD_GSO_MAX (65536 + 64)   /* largest GSO super-frame taken from a VM port */
#define VRD_NEIGH 16               /* underlay neighbours remembered for AF_PACKET transmission */
#define VRD_USO_HDR (14 + 20 + 8)  /* outer Ethernet + IPv4 + UDP of a glued fabric datagram */
#define VRD_USO_SEGS 64            /* segments per UDP_SEGMENT send (the kernel's UDP_MAX_SEGMENTS) */
#define VRD_USO_PAYLOAD 65507      /* UDP payload of one IPv4 datagram at most */
#define VRD_USOCKS 64              /* UDP sockets bound to fabric source ports, for UDP_SEGMENT sends */
#define VRD_FAB_RX 65536           /* a fabric datagram as UDP_GRO may glue it */
#define VRD_UDP_SEGMENT 103        /* <linux/udp.h>, Linux 4.18 */
#define VRD_UDP_GRO 104            /* <linux/udp.h>, Linux 5.0 */
#define VRD_TSO_PRE_MAX 256       /* a segment's prefix (encapsulation + inner headers) at most */
#define VRD_HOLD 32768             /* first packets held for punts on the control connection (~19 MiB) */
#define VRD_RING_BATCH 32          /* ring requests decoded, prefetched, then applied together */
#define VRD_RING_BUDGET 4096       /* ring requests taken per ring and loop turn at most */

struct vrd;

/* What an epoll registration refers to. */
enum vrd_src_kind {
    VRD_SRC_LISTEN,
    VRD_SRC_CONN,
    VRD_SRC_TAP,
    VRD_SRC_PACKET,
    VRD_SRC_FAB_UDP,
    VRD_SRC_FAB_GRE,
    VRD_SRC_RING, /* a control client's ring has requests (its eventfd fired) */
};

struct vrd_src {
    uint8_t kind; /* enum vrd_src_kind */
    int fd;
};

/* The receive ring of an AF_PACKET port (PACKET_RX_RING, TPACKET_V2):
 * 'frame_nr' frames of 'frame_size' bytes in 'map'; the kernel writes a
 * frame (after VRD_HEADROOM reserved bytes) and hands it over by its
 * status word; the loop forwards it from there (no copy, no receive call)
 * and hands it back once what it queued for transmission is sent. Frames
 * too large for a slot are also queued whole on the socket
 * (PACKET_COPY_THRESH) and read from there. 'map' is NULL when the socket
 * has no ring (then frames are read with recvmmsg). */
struct vrd_ring {
    uint8_t *map;
    size_t map_size;
    uint32_t frame_size;
    uint32_t frame_nr;
    uint32_t head; /* the next frame the kernel hands over */
};

/* An OS device attached to core interface 'ifindex'. */
struct vrd_port {
    struct vrd_src src; /* TAP or PACKET */
    uint32_t ifindex;
    char name[VR_MSG_NAME_MAX];
    struct vrd_ring ring;       /* PACKET only */
    uint32_t ring_idle;         /* wake-ups in a row that found the ring empty */
    int vnet;                   /* PACKET with a ring: frames carry a virtio_net_hdr
                                   (PACKET_VNET_HDR) both ways */
    struct vrd_port *dead_next; /* on vrd->dead once detached */
};

/* A control client. 'rbuf' holds a partial frame; replies queue in 'wbuf'.
 * 'ring' (NULL: none) is the shared-memory channel it negotiated
 * (VR_MSG_RING): its requests also come through ring->up (answered in
 * 'wbuf' like the socket's), its punts go into ring->down; the datapath's
 * eventfd (ring->efd_up) is in the epoll set, edge-triggered, with
 * vrd->ring_wake as its data (never the client: a client freed in an epoll
 * round may still have a ring event later in that round). */
struct vrd_conn {
    struct vrd_src src;
    struct vr_ring_chan *ring;
    struct vrd *vrd;
    struct vrd_conn *next;
    uint8_t rbuf[VR_MSG_MAX * 8];
    size_t rlen;
    struct buf wbuf;
    int closing; /* close once 'wbuf' is flushed (after a protocol error) */
    int paused;  /* reading stopped while 'wbuf' drains */
};

/* The first packet of a flow miss punted on the control connection
 * (VR_MSG_PUNT), kept until a flow is installed for 'key' (then forwarded
 * through the core from 'ifindex', or discarded for a DROP flow) or until
 * its slot is taken by a newer one. 'flow' is DP_FLOW_NONE when free. */
struct vrd_hold {
    uint32_t flow; /* the held flow's slot */
    uint32_t ifindex;
    uint32_t len;
    uint8_t queued; /* on vrd->replay */
    struct dp_flow_key key;
    uint8_t frame[VR_MSG_PUNT_FRAME_MAX];
};

/* One receive slot: headroom, then the frame. */
struct vrd_slot {
    uint8_t data[VRD_HEADROOM + VRD_FRAME_MAX];
};

/* A queued transmission (pointers into the current batch). */
struct vrd_txe {
    int fd;
    uint8_t kind; /* VRD_SRC_TAP, VRD_SRC_PACKET, or VRD_SRC_FAB_GRE for the raw sender */
};

/* The pieces of a fabric datagram the kernel glued (UDP_GRO) merged into
 * one super-frame for a VM on the first piece's decision: a piece is
 * 'pre' bytes (MPLS label, or VXLAN header and inner Ethernet; the inner
 * IPv4 header at 'ip', TCP at 'tcp') and its payload; the core delivered
 * piece 0 as a frame of 'hdr' header bytes (Ethernet, IPv4, TCP) and
 * 'mss' payload bytes. */
struct vrd_rxm {
    uint32_t pre, ip, tcp, hdr, mss;
};

/* Where a merge stands: the sequence number the next piece must carry,
 * the payload bytes and pieces it may still take, the payload taken,
 * whether a piece had PSH, and whether it must end (after a PSH or
 * shorter piece, or without room for another full one). */
struct vrd_rxm_run {
    uint32_t next, room, left, payload;
    uint8_t psh, end;
};

struct vrd {
    struct dp *dp;
    int ep;
    struct vrd_src listen;
    char *sock_path;
    struct vrd_port **ports; /* by core ifindex, NULL when unattached */
    struct vrd_port *dead;   /* detached ports, freed after the epoll round
                                (later events of the round may name them) */
    uint32_t port_slots;
    struct vrd_conn *conns;
    /* fabric */
    uint32_t fabric_if;   /* core ifindex + 1, 0 when none */
    uint32_t underlay_ip; /* host order, what the sockets are bound to */
    struct vrd_src udp[2]; /* [0] MPLSoUDP, [1] VXLAN; fd -1 when closed */
    struct vrd_src gre;
    int raw_tx;
    /* the underlay device, when the underlay address is on one: fabric
     * packets go out whole through an AF_PACKET socket on it (outer
     * Ethernet addresses from the device and the kernel's neighbour table,
     * VRD_NEIGH entries re-read every second); -1 / unresolved
     * destinations take raw_tx */
    int pkt_tx;
    struct sockaddr_ll pkt_tx_addr;
    uint8_t underlay_mac[6];
    struct vrd_neigh {
        uint32_t ip;     /* host order, 0: free */
        uint8_t mac[6];
        uint8_t valid;
        uint64_t read_ms; /* when the kernel's table was read for it */
    } neigh[VRD_NEIGH];
    uint64_t batch_ms;
    uint64_t fabric_pkt_tx; /* fabric packets queued on pkt_tx ... */
    uint64_t fabric_raw_tx; /* ... and on raw_tx */
    /* UDP segmentation offload towards the fabric (vrd_uso.c): sockets
     * bound to the underlay address and one source port each, by port
     * modulo VRD_USOCKS (fd -1: none, -2: the port could not be bound) */
    struct vrd_usock {
        uint16_t port;
        int fd;
    } usock[VRD_USOCKS];
    struct vrd_uso *uso;      /* frames being glued for one UDP_SEGMENT send */
    uint8_t *uso_out;         /* frames rebuilt when such a send is refused */
    uint64_t uso_sends;       /* UDP_SEGMENT sends ... */
    uint64_t uso_segments;    /* ... and the datagrams they carried */
    uint64_t uso_fallbacks;   /* glued runs sent frame by frame (send refused, no socket) */
    /* fabric reception with UDP_GRO: VRD_BATCH areas of VRD_FAB_RX bytes */
    uint8_t *fab_rx;
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } rx_cmsg[VRD_BATCH];
    int fab_gro;               /* the UDP sockets have UDP_GRO */
    int fab_uso;               /* UDP_SEGMENT sends (the kernel has them, not turned off) */
    int no_uso, no_gro;        /* struct vrd_options' no_fabric_uso, no_fabric_gro */
    uint32_t uso_refused;      /* UDP_SEGMENT sends refused (the first is logged) */
    uint64_t fab_gro_datagrams; /* received glued datagrams ... */
    uint64_t fab_gro_segments;  /* ... and the datagrams they held */
    uint64_t flow_idle_ms;
    uint64_t last_age_ms;
    /* the batch */
    struct vrd_slot *slots;
    struct dp_pkt pkts[VRD_BATCH];
    struct dp_out outs[VRD_BATCH];
    struct mmsghdr rx_mm[VRD_BATCH];
    struct iovec rx_iov[VRD_BATCH];
    struct sockaddr_in rx_addr[VRD_BATCH];
    uint32_t txq_len; /* queued transmissions, flushed after each batch */
    struct vrd_txe txq[VRD_TXQ];
    struct mmsghdr tx_mm[VRD_TXQ];
    struct iovec tx_iov[VRD_TXQ][3];
    struct sockaddr_in tx_addr[VRD_TXQ];
    uint64_t tx_errors; /* transmissions the kernel refused */
    uint8_t *gso_buf;   /* VRD_GSO_MAX + vnet header: a super-frame read from a socket */
    struct vrd_gro *gro; /* TCP segments being merged for a VM port (vrd_io.c) */
    uint64_t gro_frames;   /* super-frames handed to VM ports */
    uint64_t gro_segments; /* the segments merged into them */
    uint64_t gso_frames;  /* GSO super-frames received from VM ports */
    uint64_t gso_segments; /* the segments they were cut into */
    uint64_t gso_errors;  /* super-frames dropped (malformed, unsupported type) */
    /* super-frames sent to the fabric on their lead segment's decision
     * (vrd_tso.c): the segments' prefixes and the iovec of one send */
    int no_tso;               /* struct vrd_options' no_tso_direct */
    uint8_t *tso_hdr;         /* VRD_USO_SEGS prefixes of VRD_TSO_PRE_MAX bytes */
    struct iovec tso_iov[2 * VRD_USO_SEGS + 1];
    uint64_t tso_frames;      /* super-frames sent that way ... */
    uint64_t tso_sends;       /* ... in that many UDP_SEGMENT sends ... */
    uint64_t tso_fallbacks;   /* ... and sends refused, sent frame by frame */
    /* glued fabric datagrams merged for a VM on their first piece's
     * decision (vrd_tso.c), across the datagrams of one wake-up: the
     * merge in progress ('pieces' 0: none), sent at the end of the
     * wake-up at the latest. Its payloads stay in the receive areas
     * (fab_rx); before the next receive call reuses them, those are
     * copied to 'rxp_buf' (rxp_park). */
    struct vrd_rxp {
        uint32_t pieces;
        uint32_t niov;             /* payload entries in 'iov' after the two header entries */
        struct vrd_port *port;     /* where it goes */
        struct vrd_rxm m;
        struct vrd_rxm_run run;
        struct sockaddr_in from;   /* the sender of its datagrams */
        int32_t grow;              /* delivered frame minus received frame, per piece */
        struct dp_out out;         /* the first piece's decision (verdict, count, tx[0]) */
        uint8_t hdr[14 + 60 + 60]; /* the first piece as delivered: its headers */
        uint8_t p0[VRD_TSO_PRE_MAX]; /* the first piece's prefix, as received */
        struct iovec iov[2 + VRD_USO_SEGS];
    } rxp;
    uint8_t *rxp_buf;         /* 65,536 bytes: a merge's payloads kept across receive calls */
    uint64_t rxm_frames;      /* super-frames sent that way (also in gro_frames) */
    /* punts on the control connection (VR_MSG_PUNT_SUB): flow misses of
     * VM frames go to 'punt_conn' as VR_MSG_PUNT and their first packet
     * waits in 'hold' (a ring, the oldest replaced) for its flow; 'hold_of'
     * maps a flow slot to its hold slot + 1 (0: none); installs that
     * release a held packet queue it on 'replay', forwarded after the
     * control read that installed it. Allocated at the first subscription. */
    struct vrd_conn *punt_conn;
    struct vrd_hold *hold;
    uint32_t *hold_of;
    uint32_t hold_limit; /* dp_flow_index_limit */
    uint32_t hold_next;
    uint32_t *replay;
    uint32_t replay_len;
    int punt_pending;        /* PUNT frames queued on punt_conn this loop turn (sent at its end) */
    uint64_t punts_sent;     /* flow misses punted on the control connection ... */
    uint64_t holds_released; /* ... whose held packet was forwarded ... */
    uint64_t holds_dropped;  /* ... or discarded by a DROP flow ... */
    uint64_t holds_evicted;  /* ... or replaced before any flow came */
    /* rings (VR_MSG_RING) */
    int prefault;             /* struct vrd_options' prefault_flows */
    struct vrd_src ring_wake; /* VRD_SRC_RING, fd -1: what every ring eventfd's event names */
    struct vr_msg *ring_batch; /* VRD_RING_BATCH decoded ring requests */
    uint64_t ring_records;    /* requests taken from rings ... */
    uint64_t ring_malformed;  /* ... records dropped: bad size or frame ... */
    uint64_t ring_corrupt;    /* ... rings ended because an index was out of range */
    uint64_t ring_punts;      /* punts put into rings (also in punts_sent) */
    uint64_t ring_punt_full;  /* punts that found the ring full (sent to the agent interface) */
    uint64_t ring_wakes;      /* eventfd writes waking an agent */
    volatile int stop;
};

/* ---- GSO passthrough (vrd_gso.c) ---- */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5 /* UDP segmentation (Linux 4.18); older uapi headers lack it */
#endif

/* A super-frame's layout (vrd_gso_parse): transport header at 'l4', all
 * headers 'hdr' bytes, 'payload' bytes cut into 'count' segments of 'mss'
 * (the last may be shorter). */
struct vrd_gso {
    uint32_t l4, hdr, mss, payload, count;
    uint8_t v6, tcp;
};

/* A merge of TCP/IPv4 segments for one port ('key'); idle when 'count' is
 * 0. 'buf' holds the first segment's headers and every payload so far. */
struct vrd_gro {
    uint32_t key;
    uint32_t count;
    uint32_t len;  /* bytes in 'buf' */
    uint32_t hdr;  /* Ethernet + IPv4 + TCP header bytes */
    uint32_t mss;  /* the first segment's payload */
    uint32_t next; /* the sequence number that continues the merge */
    struct virtio_net_hdr vh; /* set by vrd_gro_finish */
    uint8_t buf[14 + 65535];
};

/* Adds the bytes p[0..size) to ones' complement sum 'sum' as native-order
 * 16-bit words (an odd last byte padded with zero) and returns the sum,
 * unfolded; vrd_csum_fold folds it to 16 bits (RFC 1071: the folded sum
 * stored as is is right in network order). */
uint64_t vrd_csum_add(uint64_t sum, const uint8_t *p, uint32_t size);
uint16_t vrd_csum_fold(uint64_t sum);
/* Completes the checksum a sender left partial in the 'len'-byte frame 'f':
 * the sum from 'start' to the end, stored at 'start + off' (UDP's 0 as
 * 0xffff). Returns 0, or -1 when the offsets lie outside the frame. */
int vrd_csum_complete(uint8_t *f, uint32_t len, uint32_t start, uint32_t off) STRATA_WARN_UNUSED;
/* Checks that super-frame 'f' ('len' bytes, Ethernet first) is a TCP/IPv4,
 * TCP/IPv6 or UDP super-frame as 'vh' says, with headers and segment size
 * that fit a VRD_FRAME_MAX slot, and fills 'g'. Returns 0 or -1. */
int vrd_gso_parse(const uint8_t *f, uint32_t len, const struct virtio_net_hdr *vh, struct vrd_gso *g)
    STRATA_WARN_UNUSED;
/* Writes segment 'i' (< g->count) of super-frame 'f' to 'out' (at least
 * g->hdr + g->mss bytes) as a complete packet; returns its length. */
uint32_t vrd_gso_segment(const struct vrd_gso *g, const uint8_t *f, uint32_t i, uint8_t *out);
/* Whether 'f' ('len' bytes) is a TCP/IPv4 data segment (no IPv4 options,
 * not a fragment, flags ACK with or without PSH) a merge can take:
 * '*hdr' and '*plen' receive its header and payload sizes. */
int vrd_gro_candidate(const uint8_t *f, uint32_t len, uint32_t *hdr, uint32_t *plen);
/* Whether frame 'f' ('len' bytes) for port 'key' can be merged: -1 not a
 * TCP/IPv4 data segment a merge takes (send it as is, after the merge), 0 a
 * candidate that does not continue 'g' (send 'g' first, then add it), 1 it
 * continues 'g'. */
int vrd_gro_fits(const struct vrd_gro *g, uint32_t key, const uint8_t *f, uint32_t len);
/* Adds 'f' to 'g' (vrd_gro_fits said 1, or 0 and 'g' was emptied since).
 * Returns 1 when the merge must end with it (short segment or PSH). */
int vrd_gro_add(struct vrd_gro *g, uint32_t key, const uint8_t *f, uint32_t len);
/* Completes 'g''s headers and sets 'vh' (and g->vh's use is the caller's):
 * one segment goes as it came, several as a TCPV4 super-frame with partial
 * checksum. The caller sends vh + buf[0..len) and sets count to 0. */
void vrd_gro_finish(struct vrd_gro *g, struct virtio_net_hdr *vh);

/* ---- UDP segmentation offload on the fabric (vrd_uso.c) ---- */

/* Encapsulated fabric frames being glued for one UDP_SEGMENT send; idle
 * when 'count' is 0. 'hdr' is the first frame's outer header; 'buf' holds
 * the UDP payloads, every one 'seg' bytes but the last, which may be
 * shorter. */
struct vrd_uso {
    uint32_t count;
    uint32_t seg;
    uint32_t size; /* bytes in 'buf' */
    uint8_t hdr[VRD_USO_HDR];
    uint8_t buf[VRD_USO_PAYLOAD];
};

/* Whether fabric frame 'f' ('len' bytes, Ethernet first) can be glued:
 * -1 it is not an IPv4 (no options, no fragment) UDP frame from underlay
 * address 'sip' (host order) with consistent lengths (send it as is), 0 a
 * candidate that does not continue 'u' (send 'u' first, then add it), 1
 * it continues 'u' (same outer header but for lengths and checksums, a
 * payload no larger than the first, room left). */
int vrd_uso_fits(const struct vrd_uso *u, uint32_t sip, const uint8_t *f, uint32_t len);
/* Whether 'f' ('len' bytes) is an Ethernet + IPv4 (no options, not a
 * fragment) + UDP frame from 'sip' (host order) whose lengths agree with
 * 'len' and whose UDP payload fits one datagram. */
int vrd_uso_candidate(uint32_t sip, const uint8_t *f, uint32_t len);
/* Adds 'f' to 'u' (vrd_uso_fits said 1, or 0 and 'u' was emptied since).
 * Returns 1 when the run must end with it (a shorter payload, or full). */
int vrd_uso_add(struct vrd_uso *u, const uint8_t *f, uint32_t len);
/* Writes frame 'i' (< u->count) of 'u' to 'out' (VRD_USO_HDR + u->seg
 * bytes at least) as the core wrote it (outer lengths and IPv4 checksum
 * set, UDP checksum 0); returns its length. */
uint32_t vrd_uso_frame(const struct vrd_uso *u, uint32_t i, uint8_t *out);
/* The segment size a UDP_GRO socket reported in the control messages of
 * received message 'h': '*gso' 0 when there is none (a plain datagram).
 * Returns 0, or -1 (with '*gso' 0) when the message is malformed. */
int vrd_udp_gro_size(const struct msghdr *h, uint32_t *gso) STRATA_WARN_UNUSED;
/* How many datagrams a received buffer of 'size' bytes with segment size
 * 'gso' (0: not glued) holds: at least 1. */
uint32_t vrd_gro_count(uint32_t size, uint32_t gso);
/* Datagram 'i' of that buffer: its offset in '*off', its length returned
 * (0 when 'i' is past the last). */
uint32_t vrd_gro_piece(uint32_t size, uint32_t gso, uint32_t i, uint32_t *off);

/* ---- super-frames from a VM straight to the fabric (vrd_tso.c) ---- */

/* How the lead segment's encapsulated frame (the core's output for
 * segment 0 of a super-frame) gives every segment's datagram: 'pre'
 * bytes of prefix after the outer headers (MPLS label, or VXLAN header
 * and inner Ethernet, then the inner IP and transport headers; the inner
 * IP header at 'ip', the transport header at 'l4'), then the segment's
 * payload; 'seg' = pre + mss is the UDP_SEGMENT size, 'per_send' how many
 * segments one send carries (64 at most, 65,507 bytes at most). */
struct vrd_tso {
    uint32_t pre, ip, l4, seg, per_send;
};

/* Checks that 'lead' ('len' bytes, Ethernet first) is a fabric frame
 * vrd_uso_candidate takes (from underlay address 'sip') that carries
 * segment 0 of super-frame 'g' (at least two segments): its inner IP
 * header of the right version, header size and protocol with the lengths
 * of segment 0, right before segment 0's payload; then fills 't'. Returns
 * 0, or -1 (send the segments through the core one by one). */
int vrd_tso_prepare(struct vrd_tso *t, const struct vrd_gso *g, uint32_t sip, const uint8_t *lead, uint32_t len)
    STRATA_WARN_UNUSED;
/* Writes the prefix of segment 'i' (< g->count) of super-frame 'f' to
 * 'out' (t->pre bytes): the lead's prefix with segment i's inner IP length
 * (IPv4: identification the lead's + i, header checksum), TCP sequence
 * and flags (FIN and PSH only on the last, CWR only on the first) or UDP
 * length, and the transport checksum over the prefix's transport header
 * and the segment's payload in 'f'. Returns the payload bytes of the
 * segment (they follow at f + g->hdr + i * g->mss). */
uint32_t vrd_tso_prefix(const struct vrd_tso *t, const struct vrd_gso *g, const uint8_t *lead, const uint8_t *f,
                        uint32_t i, uint8_t *out);
/* Writes segment 'i' to 'out' as the complete frame the core would have
 * written for it: the lead's outer header with this segment's lengths and
 * outer IPv4 checksum (UDP checksum 0), the prefix, the payload. Returns
 * its length (at most VRD_USO_HDR + t->seg). For sends the kernel refuses. */
uint32_t vrd_tso_frame(const struct vrd_tso *t, const struct vrd_gso *g, const uint8_t *lead, const uint8_t *f,
                       uint32_t i, uint8_t *out);

/* Checks that the core's delivery of piece 0 ('piece', 'len' bytes after
 * the outer UDP header) is frame 'out' ('out_len' bytes) that a merge
 * takes (vrd_gro_candidate) and that 'piece' ends with the same inner
 * IPv4 packet's headers and length; fills 'm'. Returns 0 or -1. */
int vrd_rxm_prepare(struct vrd_rxm *m, const uint8_t *piece, uint32_t len, const uint8_t *out, uint32_t out_len)
    STRATA_WARN_UNUSED;
/* Starts a merge whose pieces are compared with prefix 'p0' (a piece
 * vrd_rxm_prepare took), at most 'max' of them. */
void vrd_rxm_start(const struct vrd_rxm *m, const uint8_t *p0, uint32_t max, struct vrd_rxm_run *r);
/* Takes the pieces of the 'size'-byte buffer 'buf' glued at 'gso'
 * (vrd_gro_piece), from its first, that continue merge 'r': each has
 * prefix 'p0''s bytes but for the inner IPv4 length, identification and
 * checksum and the TCP sequence, flags and checksum, lengths that agree
 * with its size, the sequence 'r' expects, ACK with or without PSH, at
 * least one payload byte and no more than m->mss or the room left.
 * Returns how many (0 when the first does not continue it). */
uint32_t vrd_rxm_take(const struct vrd_rxm *m, const uint8_t *p0, const uint8_t *buf, uint32_t size, uint32_t gso,
                      struct vrd_rxm_run *r);
/* Writes the merged super-frame's headers (m->hdr bytes) to 'hdr' from
 * the core's delivered piece 0 'out': IPv4 total length for 'payload'
 * bytes and its checksum, PSH when 'psh', the TCP checksum partial (the
 * pseudo-header sum); and its virtio_net_hdr (TCPV4 with segment size
 * m->mss, checksum needed from the TCP header), as vrd_gro_finish does. */
void vrd_rxm_finish(const struct vrd_rxm *m, const uint8_t *out, uint32_t payload, uint8_t psh, uint8_t *hdr,
                    struct virtio_net_hdr *vh);

struct vrd_options {
    const char *sock_path;
    uint64_t flow_idle_ms;
    int no_fabric_uso; /* no UDP_SEGMENT sends towards the fabric */
    int no_fabric_gro; /* no UDP_GRO on the fabric's UDP sockets */
    int no_tso_direct; /* super-frames to the fabric cut into slots and run segment by segment */
    int prefault_flows; /* touch the flow table at start (resident memory for no first-touch faults) */
    struct dp_config cfg;
};

/* Creates the daemon: the core per 'opt->cfg', the epoll loop and the
 * control socket at 'opt->sock_path' (an old socket file there is
 * replaced). Returns 0 and '*out', or VRD_ESYS / a core code. */
int vrd_create(const struct vrd_options *opt, struct vrd **out) STRATA_WARN_UNUSED;
/* Closes every socket and device and frees the core; NULL is fine. */
void vrd_free(struct vrd *vrd);
/* Runs the loop until vrd->stop is set (by a signal handler). Returns 0 or
 * VRD_ESYS when epoll fails. */
int vrd_run(struct vrd *vrd) STRATA_WARN_UNUSED;
/* One turn of the loop: waits up to 'timeout_ms' for events, handles them,
 * ages flows when the aging period (idle/16, 1 to 10 s) has passed. Returns 0 or VRD_ESYS. */
int vrd_run_once(struct vrd *vrd, int timeout_ms) STRATA_WARN_UNUSED;

/* ---- internal: vrd_io.c ---- */
uint64_t vrd_now_ms(void);
/* Attaches the OS device 'name' to core interface 'ifindex' (TAP created
 * when no device of that name exists, AF_PACKET otherwise); a different
 * device already there is detached first. */
int vrd_port_attach(struct vrd *vrd, uint32_t ifindex, const char *name) STRATA_WARN_UNUSED;
void vrd_port_detach(struct vrd *vrd, uint32_t ifindex);
/* Frees the ports detached since the last call. */
void vrd_port_reap(struct vrd *vrd);
/* Opens (or re-binds) the fabric sockets on underlay address 'ip' for core
 * interface 'ifindex'. */
int vrd_fabric_open(struct vrd *vrd, uint32_t ifindex, uint32_t ip) STRATA_WARN_UNUSED;
void vrd_fabric_close(struct vrd *vrd);
/* Handles readiness of a packet source. */
void vrd_io_ready(struct vrd *vrd, struct vrd_src *src);
/* Runs frame 'frame' ('len' bytes, copied) received on core interface
 * 'ifindex' through the loop's batch path: the core, then transmission
 * (or a punt). The replay of held packets uses it; so do tests. */
void vrd_rx_frame(struct vrd *vrd, uint32_t ifindex, const uint8_t *frame, uint32_t len);
/* Makes 'c' (NULL: none) the connection flow misses are punted to
 * (VR_MSG_PUNT); allocates the hold ring the first time. Returns 0 or
 * LIB_ENOMEM. */
int vrd_hold_subscribe(struct vrd *vrd, struct vrd_conn *c) STRATA_WARN_UNUSED;
/* Flow 'f' (key and action) was just installed in slot 'idx': a packet
 * held for it is queued for forwarding (FORWARD, NAT, MIRROR) or discarded
 * (DROP). */
void vrd_hold_release(struct vrd *vrd, uint32_t idx, const struct dp_flow *f);
/* Forwards the packets vrd_hold_release queued. */
void vrd_hold_replay(struct vrd *vrd);
void vrd_hold_free(struct vrd *vrd);
int vrd_io_init(struct vrd *vrd) STRATA_WARN_UNUSED;
void vrd_io_destroy(struct vrd *vrd);

/* ---- internal: vrd_ctl.c ---- */
/* Appends 'm' to 'c''s answers (sent by vrd_ctl_flush or when writable).
 * Returns 0 or the buffer error. */
int vrd_ctl_put(struct vrd_conn *c, const struct vr_msg *m) STRATA_WARN_UNUSED;
/* Sends what 'c' has queued as far as the socket takes it; the rest waits
 * for writability. A failed socket is closed on its next event. */
void vrd_ctl_flush(struct vrd *vrd, struct vrd_conn *c);
void vrd_ctl_accept(struct vrd *vrd);
void vrd_ctl_ready(struct vrd *vrd, struct vrd_conn *c, uint32_t events);
void vrd_ctl_close(struct vrd *vrd, struct vrd_conn *c);
/* Applies request 'm' to the datapath; answers (dump entries, then the
 * reply) are appended to 'out'. Returns 0, or the buffer error when the
 * answer could not be queued. Exposed for unit tests. */
int vrd_ctl_handle(struct vrd *vrd, const struct vr_msg *m, struct buf *out) STRATA_WARN_UNUSED;
/* Handles the requests client 'c' put into its ring (at most
 * VRD_RING_BUDGET): malformed records are counted and dropped, an index
 * out of range ends the session. Returns 1 when the ring still holds
 * requests, 0 when it is empty (or gone). */
int vrd_ring_drain(struct vrd *vrd, struct vrd_conn *c);
/* Before the loop waits: drains every client's ring and tells each it may
 * be woken. Returns 0 when the loop may sleep, 1 when a ring has work. */
int vrd_rings_idle(struct vrd *vrd);
/* After the loop waited: the rings' consumers are awake again. */
void vrd_rings_awake(struct vrd *vrd);
/* Wakes the agents whose rings got punts this turn and that sleep. */
void vrd_rings_kick(struct vrd *vrd);

#endif

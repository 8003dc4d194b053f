/* The control message set between the vRouter agent (or a test driver) and
 * the forwarding plane: interfaces, VRFs, routes, next hops, MPLS labels,
 * VNIs, bridge MACs, flows, generation begin and sweep, statistics, dumps
 * and replies. One codec (msg.c) serves both sides and both hosts: it
 * includes only the core's environment (dp.h, dp_env.h), allocates nothing,
 * encodes into a caller's bounded buffer and decodes through a checked
 * cursor, so the kernel module's generic netlink family can carry the same
 * frames as the user-space datapath's unix socket. Only the registration of
 * the error strings with lib/err is user-space (compiled out for __KERNEL__).
 *
 * A frame is a 12-byte header followed by one body, big-endian:
 *   u16 magic 0x5652 ("VR"), u8 version (1), u8 type,
 *   u16 flags, u16 size (whole frame, header included, <= VR_MSG_MAX),
 *   u32 seq (chosen by the requester, echoed in every frame answering it).
 * Every request is answered by exactly one VR_MSG_REPLY (code 0 or a
 * negative error), but for a table-writing request flagged VR_MSG_F_QUIET,
 * which is answered only when it fails (a host that ignores the flag still
 * answers: requesters must accept both); a dump request is answered first
 * by its entries (frames of the table's entry type with VR_MSG_F_DUMP) and
 * then by the reply, whose value is the entry count. Entry bodies carry the
 * read-only fields too (generation, statistics): zero in requests, filled
 * in dumps.
 *
 * Punts on the control connection (user-space datapath): a client that
 * sends VR_MSG_PUNT_SUB for DP_PUNT_FLOW_MISS receives, unsolicited (seq
 * 0), a VR_MSG_PUNT for each flow miss of a frame from a VM port that the
 * datapath could hold (at most VR_MSG_PUNT_FRAME_MAX bytes): the datapath
 * keeps that first packet and forwards it itself once a FORWARD, NAT or
 * MIRROR flow is installed for its key (a DROP flow discards it), so the
 * client decides and installs but never re-injects it. Other punts (ARP,
 * DHCP, DNS, fabric-side misses, larger frames) still go to the agent
 * interface with the punt header, to be answered or re-injected there. A
 * host without this (the kernel module) refuses the subscription. */
#ifndef STRATA_VR_MSG_H
#define STRATA_VR_MSG_H

#include "lib/err.h"
#include "vrouter/dp/dp.h"

#define VR_MSG_ERRORS(X)                                                  \
    X(VR_MSG_ESHORT, -16101, "control message truncated")                 \
    X(VR_MSG_EMAGIC, -16102, "control message has a bad magic")           \
    X(VR_MSG_EVERSION, -16103, "control message version not supported")   \
    X(VR_MSG_ETYPE, -16104, "unknown control message type")               \
    X(VR_MSG_ESIZE, -16105, "control message size out of bounds")         \
    X(VR_MSG_EFIELD, -16106, "control message field out of range")        \
    X(VR_MSG_ETRAILING, -16107, "control message has trailing bytes")     \
    X(VR_MSG_ENOSPC, -16108, "control message does not fit the buffer")

enum vr_msg_err { VR_MSG_ERRORS(STRATA_ERR_ENUM) };

const char *vr_msg_strerror(int code);

#define VR_MSG_MAGIC 0x5652
#define VR_MSG_VERSION 1
#define VR_MSG_HDR_SIZE 12
#define VR_MSG_MAX 1024 /* the largest frame either side accepts */
#define VR_MSG_NAME_MAX 16 /* interface OS name, NUL included */

/* Frame types. Entry types (IF .. FLOW) are used for add/replace requests
 * and for dump entries; *_DEL carry the entry's key. */
#define VR_MSG_TYPES(X)      \
    X(VR_MSG_IF, 1)          \
    X(VR_MSG_IF_DEL, 2)      \
    X(VR_MSG_VRF, 3)         \
    X(VR_MSG_VRF_DEL, 4)     \
    X(VR_MSG_NH, 5)          \
    X(VR_MSG_NH_DEL, 6)      \
    X(VR_MSG_ROUTE, 7)       \
    X(VR_MSG_ROUTE_DEL, 8)   \
    X(VR_MSG_MAC, 9)         \
    X(VR_MSG_MAC_DEL, 10)    \
    X(VR_MSG_LABEL, 11)      \
    X(VR_MSG_LABEL_DEL, 12)  \
    X(VR_MSG_VNI, 13)        \
    X(VR_MSG_VNI_DEL, 14)    \
    X(VR_MSG_FLOW, 15)       \
    X(VR_MSG_FLOW_DEL, 16)   \
    X(VR_MSG_GEN_BEGIN, 17)  \
    X(VR_MSG_SWEEP, 18)      \
    X(VR_MSG_STATS_REQ, 19)  \
    X(VR_MSG_STATS, 20)      \
    X(VR_MSG_DUMP_REQ, 21)   \
    X(VR_MSG_REPLY, 22)      \
    X(VR_MSG_PUNT_SUB, 23)   \
    X(VR_MSG_PUNT, 24)       \
    X(VR_MSG_FLOW_PAIR, 25)  \
    X(VR_MSG_RING, 26)

#define VR_MSG_TYPE_ENUM(name, val) name = (val),
enum vr_msg_type { VR_MSG_TYPES(VR_MSG_TYPE_ENUM) };
#define VR_MSG_TYPE_MAX VR_MSG_RING

/* Returns the stable name of frame type 'type' ("unknown" otherwise). */
const char *vr_msg_type_name(unsigned type);

#define VR_MSG_F_DUMP 0x1  /* an entry answering a dump request */
#define VR_MSG_F_QUIET 0x2 /* a table-writing request answered only when it fails */
#define VR_MSG_F_ALL (VR_MSG_F_DUMP | VR_MSG_F_QUIET)

/* Tables a dump request names. */
enum vr_msg_table {
    VR_TABLE_IF = 1,
    VR_TABLE_VRF,
    VR_TABLE_NH,
    VR_TABLE_ROUTE,
    VR_TABLE_MAC,
    VR_TABLE_LABEL,
    VR_TABLE_VNI,
    VR_TABLE_FLOW,
    VR_TABLE_MAX = VR_TABLE_FLOW,
};

/* An interface and, for VM/agent ports, the OS device a user-space host
 * attaches it to ("" for none; NUL-terminated, printable ASCII). */
struct vr_msg_if {
    struct dp_if dpif;
    char name[VR_MSG_NAME_MAX];
};

struct vr_msg_stats {
    uint8_t drop_count; /* <= DP_DROP_COUNT: drops[0..drop_count) are sent */
    struct dp_stats stats;
};

/* PUNT_SUB: the punt reasons (bit 1 << reason) the client wants on its
 * connection; 0 ends the subscription. Only DP_PUNT_FLOW_MISS exists. */
#define VR_PUNT_SUB_ALL (1u << DP_PUNT_FLOW_MISS)

/* PUNT: a punted frame the datapath holds (see the top of this file): the
 * punt header's fields and the whole frame, 14..VR_MSG_PUNT_FRAME_MAX
 * bytes; frame bytes past 'frame_size' are zero. */
#define VR_MSG_PUNT_FRAME_MAX 512
struct vr_msg_punt {
    uint8_t reason; /* enum dp_punt_reason, DP_PUNT_ARP .. DP_PUNT_NH */
    uint32_t ifindex;
    uint32_t vrf;
    uint32_t flow; /* the held flow's slot */
    uint16_t frame_size;
    uint8_t frame[VR_MSG_PUNT_FRAME_MAX];
};

/* FLOW_PAIR: a flow and its reverse installed together and linked to each
 * other (dp_flow_set_pair): one request, one table lock, one answer when
 * it fails (the reply's value is the forward flow's slot). The keys must
 * differ. Sent by agents that negotiated a ring (a datapath new enough). */
struct vr_msg_flow_pair {
    struct dp_flow fwd;
    struct dp_flow rev;
};

/* RING: the client asks for the shared-memory channel of vrouter/msg/ring.h
 * with 'slots' slots per direction (a power of two, VR_RING_SLOTS_MIN ..
 * VR_RING_SLOTS_MAX). A user-space datapath answers with a REPLY of code 0
 * and value 'slots' carrying three descriptors (SCM_RIGHTS: the memfd, the
 * agent's eventfd, the datapath's eventfd), or refuses with a code; a host
 * without rings (the kernel module, an older strata-vrouter, which closes
 * the session on an unknown type) never grants it, so the client must be
 * ready to go on over the socket. From then on the client's requests may
 * come through the ring (answers still on the socket) and flow misses are
 * punted into it; the channel ends with the connection. */
#define VR_RING_SLOTS_MIN 64u
#define VR_RING_SLOTS_MAX 65536u
struct vr_msg_ring {
    uint32_t slots;
};

struct vr_msg_reply {
    int32_t code;   /* 0 or a negative Strata error code */
    uint32_t value; /* type-specific: swept entries, dump count, flow index */
};

/* A decoded frame. Invariant after vr_msg_decode: every byte not named by
 * the body of 'type' is zero (so decoded messages compare with memcmp). */
struct vr_msg {
    uint8_t type;  /* enum vr_msg_type */
    uint16_t flags; /* VR_MSG_F_* */
    uint32_t seq;
    union {
        struct vr_msg_if ifc;      /* IF */
        struct dp_vrf vrf;         /* VRF */
        struct dp_nh nh;           /* NH */
        struct dp_route route;     /* ROUTE, ROUTE_DEL (nh, gen ignored) */
        struct dp_mac mac;         /* MAC, MAC_DEL (nh, gen ignored) */
        struct dp_label label;     /* LABEL */
        struct dp_vni vni;         /* VNI */
        struct dp_flow flow;       /* FLOW, FLOW_DEL (key only) */
        struct vr_msg_flow_pair pair; /* FLOW_PAIR */
        struct vr_msg_ring ring;   /* RING */
        uint32_t id;               /* IF/VRF/NH/LABEL/VNI_DEL, GEN_BEGIN, SWEEP, PUNT_SUB (reason bits) */
        uint8_t table;             /* DUMP_REQ: enum vr_msg_table */
        struct vr_msg_stats stats; /* STATS */
        struct vr_msg_reply reply; /* REPLY */
        struct vr_msg_punt punt;   /* PUNT */
    } u;
};

/* Zeroes 'm' and sets its type, flags and seq: start every message here. */
void vr_msg_init(struct vr_msg *m, uint8_t type, uint16_t flags, uint32_t seq);

/* Encodes 'm' into 'dst' ('cap' bytes) and stores the frame size in
 * '*size'. Returns 0, VR_MSG_ETYPE, VR_MSG_EFIELD (a field the decoder
 * would reject: bad family, prefix length, member count, name) or
 * VR_MSG_ENOSPC. Nothing is promised about 'dst' on error. */
int vr_msg_encode(const struct vr_msg *m, uint8_t *dst, size_t cap, size_t *size) STRATA_WARN_UNUSED;

/* Checks the header at the front of a byte stream ('avail' bytes at 'p')
 * and stores the size of the frame it announces in '*size' (which may be
 * more than 'avail': read more). Returns 0, VR_MSG_ESHORT when fewer than
 * VR_MSG_HDR_SIZE bytes are available, VR_MSG_EMAGIC, VR_MSG_EVERSION or
 * VR_MSG_ESIZE (below the header or above VR_MSG_MAX). */
int vr_msg_peek(const uint8_t *p, size_t avail, size_t *size) STRATA_WARN_UNUSED;

/* Decodes exactly one frame of 'size' bytes at 'p' into 'm'. Returns 0 or
 * the first problem: VR_MSG_ESHORT, EMAGIC, EVERSION, ESIZE (the header's
 * size differs from 'size'), ETYPE, EFIELD (out-of-range field, unknown
 * flag, nonzero padding) or ETRAILING. 'm' is unspecified on error. */
int vr_msg_decode(const uint8_t *p, size_t size, struct vr_msg *m) STRATA_WARN_UNUSED;

/* Applies request 'm' to the forwarding core 'dp' (msg_apply.c): the one
 * mapping of the table-writing frame types IF .. SWEEP onto their dp_*
 * calls, shared by every host (strata-vrouter, the kernel module, tests).
 * 'now_ms' is the core's clock for FLOW (its last-seen time); '*value' (may
 * be NULL) receives the reply's value: the flow's slot for FLOW, the swept
 * entry count for SWEEP, 0 otherwise. Returns 0, the core's code (VR_*), or
 * VR_MSG_ETYPE for the types it does not apply (STATS_REQ, DUMP_REQ and
 * PUNT_SUB, which the host answers, and the answers STATS, REPLY, PUNT). Host
 * work follows a successful call: attaching the OS device an IF names,
 * releasing devices whose interface IF_DEL or SWEEP removed. */
int vr_msg_apply(struct dp *dp, const struct vr_msg *m, uint64_t now_ms, uint32_t *value) STRATA_WARN_UNUSED;

#endif

/* The shared-memory channel between strata-vrouter and its agent: two
 * single-producer / single-consumer rings of control frames (vrouter/msg
 * frames, one per slot) in one memfd the datapath creates, seals against
 * resizing and passes to the agent with SCM_RIGHTS in the answer to
 * VR_MSG_RING (msg.h). The "down" ring carries the datapath's punts to the
 * agent, the "up" ring the agent's requests (flow installs above all) to the
 * datapath; an eventfd per direction wakes a consumer, written by the
 * producer only when the consumer said it was going to sleep. User space
 * only (the kernel module keeps generic netlink).
 *
 * Trust: each side keeps its own index privately and only reads the
 * other's; an index the peer moved out of range (more than the ring's
 * slots outstanding) makes the ring corrupt (VR_RING_ECORRUPT: its owner
 * drops the channel). A record is copied out of the shared slot before it
 * is looked at, its size checked (VR_MSG_HDR_SIZE .. VR_MSG_MAX), then it
 * is decoded like a socket frame, so the peer can change nothing under the
 * reader's checks; a record of bad size is counted ('malformed') and
 * skipped. The datapath never trusts the agent's ring more than its socket.
 *
 * Layout of the memfd (the VR_MSG_RING reply's value is the slot count N,
 * a power of two, VR_RING_SLOTS_MIN .. VR_RING_SLOTS_MAX): the down ring
 * then the up ring, each a VR_RING_HDR_SIZE-byte header (producer index,
 * consumer index, consumer-sleeping flag and producer-wants-space flag,
 * each on its own cache line) and N slots of VR_RING_SLOT_SIZE bytes (u32
 * record size, then the frame at VR_RING_SLOT_DATA). */
#ifndef STRATA_VR_RING_H
#define STRATA_VR_RING_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "vrouter/msg/msg.h"

#define VR_RING_ERRORS(X)                                                  \
    X(VR_RING_EEMPTY, -16301, "ring is empty")                             \
    X(VR_RING_EFULL, -16302, "ring is full")                               \
    X(VR_RING_EMALFORMED, -16303, "ring record malformed (skipped)")       \
    X(VR_RING_ECORRUPT, -16304, "ring index out of range (peer broken)")   \
    X(VR_RING_ESYS, -16305, "ring system call failed")                     \
    X(VR_RING_EINVAL, -16306, "ring size or descriptor not acceptable")

enum vr_ring_err { VR_RING_ERRORS(STRATA_ERR_ENUM) };

const char *vr_ring_strerror(int code);

#define VR_RING_SLOTS_DEFAULT 8192u
#define VR_RING_HDR_SIZE 256u
#define VR_RING_SLOT_DATA 64u
#define VR_RING_SLOT_SIZE (VR_RING_SLOT_DATA + VR_MSG_MAX)

/* One direction as one end sees it. 'pos' is this end's own index (the
 * producer's next slot, the consumer's next record), never read back from
 * the shared header; 'peer' the other end's index as last read. */
struct vr_ring {
    void *hdr;      /* the shared header */
    uint8_t *slots; /* the shared slots */
    uint32_t count; /* slots, a power of two */
    uint32_t pos;
    uint32_t peer;
    int producer;       /* 1: this end produces */
    uint64_t malformed; /* consumer: records of bad size skipped */
    uint64_t full;      /* producer: puts refused because the ring was full */
};

/* Both directions and their wake-ups, for either end. 'efd_down' wakes
 * the agent (consumer of 'down'; also written when the agent waits for room
 * in 'up'), 'efd_up' the datapath. The fds and the mapping are owned. */
struct vr_ring_chan {
    int is_datapath;
    int memfd, efd_down, efd_up;
    void *map;
    size_t map_size;
    struct vr_ring down; /* punts: datapath -> agent */
    struct vr_ring up;   /* requests: agent -> datapath */
};

/* Bytes of the memfd for rings of 'slots' slots. */
size_t vr_ring_map_size(uint32_t slots);

/* The datapath's end: creates a sealed memfd of two rings of 'slots' slots
 * (a power of two in range) and the two eventfds, and maps it. Returns 0,
 * VR_RING_EINVAL or VR_RING_ESYS (nothing left open). */
int vr_ring_chan_create(uint32_t slots, struct vr_ring_chan *out) STRATA_WARN_UNUSED;

/* The agent's end: maps 'memfd' (which must be sealed against shrinking
 * and at least vr_ring_map_size('slots') bytes) with the eventfds received
 * beside it. Takes ownership of the three fds, even on error (closed).
 * Returns 0, VR_RING_EINVAL or VR_RING_ESYS. */
int vr_ring_chan_open(int memfd, int efd_down, int efd_up, uint32_t slots, struct vr_ring_chan *out)
    STRATA_WARN_UNUSED;

/* Unmaps and closes what 'ch' holds: a channel vr_ring_chan_create or
 * vr_ring_chan_open filled (even when they failed), or one already closed. */
void vr_ring_chan_close(struct vr_ring_chan *ch);

/* Producer: the slot's frame area for the next record (VR_MSG_MAX bytes),
 * or NULL when the ring is full ('full' counted, the want-space flag set
 * so the consumer wakes this end when it makes room) or corrupt ('*err'
 * VR_RING_EFULL or VR_RING_ECORRUPT). Commit with vr_ring_commit. */
uint8_t *vr_ring_reserve(struct vr_ring *r, int *err);
/* Producer: publishes the reserved record of 'size' bytes (<= VR_MSG_MAX). */
void vr_ring_commit(struct vr_ring *r, size_t size);
/* Producer: copies 'size' bytes (VR_MSG_HDR_SIZE .. VR_MSG_MAX) in as one
 * record. Returns 0, VR_RING_EFULL, VR_RING_ECORRUPT or VR_RING_EINVAL. */
int vr_ring_put(struct vr_ring *r, const uint8_t *frame, size_t size) STRATA_WARN_UNUSED;
/* Producer, after a batch: whether the consumer said it sleeps (then the
 * caller writes the consumer's eventfd, vr_ring_signal). */
int vr_ring_consumer_sleeps(struct vr_ring *r);

/* Consumer: copies the next record into 'dst' (VR_MSG_MAX bytes) and its
 * size into '*size'. Returns 0, VR_RING_EEMPTY, VR_RING_EMALFORMED (a
 * record of bad size, skipped and counted: call again) or
 * VR_RING_ECORRUPT. */
int vr_ring_get(struct vr_ring *r, uint8_t *dst, size_t *size) STRATA_WARN_UNUSED;
/* Consumer, before waiting on its eventfd: says so, then checks again.
 * Returns 1 when the ring is still empty (wait), 0 when a record came in
 * meanwhile (the flag is cleared: read on). */
int vr_ring_prepare_sleep(struct vr_ring *r);
/* Consumer, after waking: clears the sleeping flag. */
void vr_ring_awake(struct vr_ring *r);
/* Consumer: whether the producer waits for room (and clears the flag):
 * the caller then wakes the producer. */
int vr_ring_producer_waits(struct vr_ring *r);

/* Writes 1 to eventfd 'efd' (a wake-up); reads and discards its count. */
void vr_ring_signal(int efd);
void vr_ring_drain(int efd);

#endif

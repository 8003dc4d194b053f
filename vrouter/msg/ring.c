/* The shared-memory rings between strata-vrouter and its agent (ring.h):
 * creation of the sealed memfd and eventfds on the datapath's side, their
 * mapping on the agent's, and the single-producer / single-consumer index
 * protocol with its sleep / wake handshake. Every index the peer writes is
 * range-checked before use and every record is copied out of shared memory
 * before its size is trusted. */
#include "vrouter/msg/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

STRATA_ERR_DEFINE(vr_ring, VR_RING_ERRORS)

/* The shared header of one ring; each word on its own cache line. */
struct ring_hdr {
    _Alignas(64) uint32_t head;  /* producer: records published */
    _Alignas(64) uint32_t tail;  /* consumer: records consumed */
    _Alignas(64) uint32_t sleeping; /* consumer: about to wait on its eventfd */
    _Alignas(64) uint32_t want_space; /* producer: found the ring full */
};
_Static_assert(sizeof(struct ring_hdr) <= VR_RING_HDR_SIZE, "ring header fits its area");

#define RING_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static size_t ring_size(uint32_t slots)
{
    return VR_RING_HDR_SIZE + (size_t)slots * VR_RING_SLOT_SIZE;
}

size_t vr_ring_map_size(uint32_t slots)
{
    return 2 * ring_size(slots);
}

static int slots_ok(uint32_t slots)
{
    return slots >= VR_RING_SLOTS_MIN && slots <= VR_RING_SLOTS_MAX && (slots & (slots - 1)) == 0;
}

static void ring_init(struct vr_ring *r, uint8_t *base, uint32_t slots, int producer)
{
    memset(r, 0, sizeof *r);
    r->hdr = base;
    r->slots = base + VR_RING_HDR_SIZE;
    r->count = slots;
    r->producer = producer;
    /* the indexes start where the shared header says (zero in a new map) */
    struct ring_hdr *h = r->hdr;
    r->pos = producer ? __atomic_load_n(&h->head, __ATOMIC_ACQUIRE) : __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
    r->peer = r->pos;
}

static void chan_map(struct vr_ring_chan *ch, uint32_t slots)
{
    uint8_t *base = ch->map;
    ring_init(&ch->down, base, slots, ch->is_datapath);
    ring_init(&ch->up, base + ring_size(slots), slots, !ch->is_datapath);
}

/* Maps 'size' bytes of 'ch->memfd' (both sides map it alike) and lays
 * the two rings out in them. 0, or -1 with nothing mapped. */
static int chan_mmap(struct vr_ring_chan *ch, size_t size, uint32_t slots)
{
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ch->memfd, 0);
    if (map == MAP_FAILED) {
        return -1;
    }
    ch->map = map;
    ch->map_size = size;
    chan_map(ch, slots);
    return 0;
}

int vr_ring_chan_create(uint32_t slots, struct vr_ring_chan *out)
{
    memset(out, 0, sizeof *out);
    out->memfd = out->efd_down = out->efd_up = -1;
    out->is_datapath = 1;
    if (!slots_ok(slots)) {
        return VR_RING_EINVAL;
    }
    size_t size = vr_ring_map_size(slots);
    out->memfd = memfd_create("strata-vr-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (out->memfd < 0 || ftruncate(out->memfd, (off_t)size) != 0 ||
        fcntl(out->memfd, F_ADD_SEALS, RING_SEALS) != 0) {
        goto fail;
    }
    out->efd_down = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    out->efd_up = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (out->efd_down < 0 || out->efd_up < 0) {
        goto fail;
    }
    if (chan_mmap(out, size, slots) != 0) {
        goto fail;
    }
    return 0;
fail:
    vr_ring_chan_close(out);
    return VR_RING_ESYS;
}

int vr_ring_chan_open(int memfd, int efd_down, int efd_up, uint32_t slots, struct vr_ring_chan *out)
{
    memset(out, 0, sizeof *out);
    out->memfd = memfd;
    out->efd_down = efd_down;
    out->efd_up = efd_up;
    out->is_datapath = 0;
    int rc = VR_RING_EINVAL;
    struct stat st;
    size_t size = vr_ring_map_size(slots);
    if (!slots_ok(slots) || memfd < 0 || efd_down < 0 || efd_up < 0) {
        goto fail;
    }
    /* a memfd the other side could shrink would fault this process */
    int seals = fcntl(memfd, F_GET_SEALS);
    if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_SEAL)) != (F_SEAL_SHRINK | F_SEAL_SEAL) ||
        fstat(memfd, &st) != 0 || (size_t)st.st_size < size) {
        goto fail;
    }
    rc = VR_RING_ESYS;
    if (chan_mmap(out, size, slots) != 0) {
        goto fail;
    }
    return 0;
fail:
    vr_ring_chan_close(out);
    return rc;
}

void vr_ring_chan_close(struct vr_ring_chan *ch)
{
    if (ch->map) {
        munmap(ch->map, ch->map_size);
    }
    int *fds[] = {&ch->memfd, &ch->efd_down, &ch->efd_up};
    for (size_t i = 0; i < 3; i++) {
        if (*fds[i] >= 0) {
            close(*fds[i]);
        }
        *fds[i] = -1;
    }
    ch->map = NULL;
    ch->map_size = 0;
    memset(&ch->down, 0, sizeof ch->down);
    memset(&ch->up, 0, sizeof ch->up);
}

/* ---- producer ---- */

uint8_t *vr_ring_reserve(struct vr_ring *r, int *err)
{
    struct ring_hdr *h = r->hdr;
    if (r->pos - r->peer >= r->count) {
        r->peer = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
        uint32_t used = r->pos - r->peer;
        if (used > r->count) {
            *err = VR_RING_ECORRUPT;
            return NULL;
        }
        if (used == r->count) {
            r->full++;
            __atomic_store_n(&h->want_space, 1, __ATOMIC_SEQ_CST);
            /* the consumer may have made room before it saw the flag */
            r->peer = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
            used = r->pos - r->peer;
            if (used > r->count) {
                *err = VR_RING_ECORRUPT;
                return NULL;
            }
            if (used == r->count) {
                *err = VR_RING_EFULL;
                return NULL;
            }
        }
    }
    *err = 0;
    return r->slots + (size_t)(r->pos & (r->count - 1)) * VR_RING_SLOT_SIZE + VR_RING_SLOT_DATA;
}

void vr_ring_commit(struct vr_ring *r, size_t size)
{
    uint8_t *slot = r->slots + (size_t)(r->pos & (r->count - 1)) * VR_RING_SLOT_SIZE;
    __atomic_store_n((uint32_t *)slot, (uint32_t)size, __ATOMIC_RELAXED);
    r->pos++;
    __atomic_store_n(&((struct ring_hdr *)r->hdr)->head, r->pos, __ATOMIC_RELEASE);
}

int vr_ring_put(struct vr_ring *r, const uint8_t *frame, size_t size)
{
    if (size < VR_MSG_HDR_SIZE || size > VR_MSG_MAX) {
        return VR_RING_EINVAL;
    }
    int err;
    uint8_t *dst = vr_ring_reserve(r, &err);
    if (!dst) {
        return err;
    }
    memcpy(dst, frame, size);
    vr_ring_commit(r, size);
    return 0;
}

int vr_ring_consumer_sleeps(struct vr_ring *r)
{
    struct ring_hdr *h = r->hdr;
    /* pairs with the consumer's store of 'sleeping' then load of 'head' */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(&h->sleeping, __ATOMIC_RELAXED) != 0;
}

/* ---- consumer ---- */

int vr_ring_get(struct vr_ring *r, uint8_t *dst, size_t *size)
{
    struct ring_hdr *h = r->hdr;
    if (r->pos == r->peer) {
        r->peer = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
        if (r->peer - r->pos > r->count) {
            r->peer = r->pos;
            return VR_RING_ECORRUPT;
        }
        if (r->pos == r->peer) {
            return VR_RING_EEMPTY;
        }
    }
    const uint8_t *slot = r->slots + (size_t)(r->pos & (r->count - 1)) * VR_RING_SLOT_SIZE;
    uint32_t n = __atomic_load_n((const uint32_t *)slot, __ATOMIC_RELAXED); /* read once */
    int rc = 0;
    if (n < VR_MSG_HDR_SIZE || n > VR_MSG_MAX) {
        r->malformed++;
        rc = VR_RING_EMALFORMED;
    } else {
        memcpy(dst, slot + VR_RING_SLOT_DATA, n);
        *size = n;
    }
    r->pos++;
    __atomic_store_n(&h->tail, r->pos, __ATOMIC_RELEASE);
    return rc;
}

int vr_ring_prepare_sleep(struct vr_ring *r)
{
    struct ring_hdr *h = r->hdr;
    __atomic_store_n(&h->sleeping, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&h->head, __ATOMIC_ACQUIRE) != r->pos) {
        __atomic_store_n(&h->sleeping, 0, __ATOMIC_RELAXED);
        return 0;
    }
    return 1;
}

void vr_ring_awake(struct vr_ring *r)
{
    __atomic_store_n(&((struct ring_hdr *)r->hdr)->sleeping, 0, __ATOMIC_RELAXED);
}

int vr_ring_producer_waits(struct vr_ring *r)
{
    struct ring_hdr *h = r->hdr;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&h->want_space, __ATOMIC_RELAXED)) {
        __atomic_store_n(&h->want_space, 0, __ATOMIC_RELAXED);
        return 1;
    }
    return 0;
}

void vr_ring_signal(int efd)
{
    uint64_t one = 1;
    ssize_t n = write(efd, &one, sizeof one);
    (void)n; /* EAGAIN: the counter is already non-zero, the wake-up pending */
}

void vr_ring_drain(int efd)
{
    uint64_t v;
    ssize_t n = read(efd, &v, sizeof v);
    (void)n;
}

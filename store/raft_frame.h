/* Checks libraft 0.15's peer-to-peer wire frames before libraft reads them.
 * libraft trusts what it reads off a connection: it allocates whatever header
 * and payload sizes a preamble names and decodes headers without bounds
 * checks. The raft transport bridge feeds every received byte through a
 * raft_frame_check first; a frame that breaks a cap or the layout ends the
 * connection before a single byte of it reaches libraft.
 *
 * Frame layout (all integers little-endian, as libraft writes them):
 *   preamble  u64 type (1..6, RAFT_IO_*), u64 header size
 *   header    type-specific; AppendEntries: term, prev index, prev term,
 *             commit (4 x u64), u64 entry count n, n x {u64 term, u8 type,
 *             3 unused, u32 size}; InstallSnapshot: term, last index, last
 *             term, conf index (4 x u64), u64 conf size, conf, u64 data size
 *   payload   AppendEntries: the entries (each size a multiple of 8, since
 *             libraft slices the payload in 8-byte steps); InstallSnapshot:
 *             the snapshot data; other types: none. */
#ifndef STRATA_STORE_RAFT_FRAME_H
#define STRATA_STORE_RAFT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define RAFT_FRAME_ERRORS(X)                                                   \
    X(RAFT_FRAME_ETYPE, -11501, "raft frame: unknown message type")           \
    X(RAFT_FRAME_EHEADER, -11502, "raft frame: header size out of bounds")    \
    X(RAFT_FRAME_EENTRIES, -11503, "raft frame: too many entries")            \
    X(RAFT_FRAME_EPAYLOAD, -11504, "raft frame: payload exceeds its cap")     \
    X(RAFT_FRAME_ELAYOUT, -11505, "raft frame: header inconsistent with its sizes") \
    X(RAFT_FRAME_ENOMEM, -11506, "raft frame: out of memory")

enum raft_frame_err { RAFT_FRAME_ERRORS(STRATA_ERR_ENUM) };
const char *raft_frame_strerror(int code);

struct raft_frame_limits {
    uint64_t max_header;   /* bytes of one header (AppendEntries grows 16/entry) */
    uint64_t max_entries;  /* entries in one AppendEntries */
    uint64_t max_payload;  /* bytes of one AppendEntries payload */
    uint64_t max_snapshot; /* bytes of one InstallSnapshot payload */
};

/* Defaults: 1 MiB headers, 65,536 entries, 256 MiB payloads, 8 GiB snapshots. */
void raft_frame_limits_default(struct raft_frame_limits *l);

/* Invariant: exactly one of the three phases is active; in the header phase
 * 'header.size' < 'header_size'; in the payload phase 'payload_left' > 0. */
struct raft_frame_check {
    struct raft_frame_limits limits;
    enum { RAFT_FRAME_PREAMBLE, RAFT_FRAME_HEADER, RAFT_FRAME_PAYLOAD } phase;
    uint8_t preamble[16];
    size_t preamble_have;
    uint64_t type;
    uint64_t header_size;
    struct buf header;
    uint64_t payload_left;
    uint64_t frames; /* complete frames seen */
    int error;       /* sticky: once set, every feed fails with it */
};

void raft_frame_check_init(struct raft_frame_check *c, const struct raft_frame_limits *limits);
void raft_frame_check_destroy(struct raft_frame_check *c);

/* Consumes 'size' bytes of the stream. Returns 0 if every frame so far is
 * within the limits and well laid out, else a RAFT_FRAME_E* code (sticky). */
int raft_frame_check_feed(struct raft_frame_check *c, const void *data, size_t size)
    STRATA_WARN_UNUSED;

#endif

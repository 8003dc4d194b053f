/* Builders of libraft 0.15 wire frames for tests and fuzz seeds. */
#ifndef STRATA_TEST_FRAMES_H
#define STRATA_TEST_FRAMES_H

#include <stdint.h>
#include <string.h>

#include "lib/buf.h"

static inline void frames_le64(struct buf *b, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++) {
        t[i] = (uint8_t)(v >> (8 * i));
    }
    if (buf_put(b, t, 8) != 0) {
        abort();
    }
}

/* AppendEntries with 'n' entries of the given sizes (payload filled). */
static inline void frames_append_entries(struct buf *b, unsigned n, const uint32_t *sizes)
{
    frames_le64(b, 1);
    frames_le64(b, 40 + 16 * (uint64_t)n);
    for (int i = 0; i < 4; i++) {
        frames_le64(b, 7 + (uint64_t)i); /* term, prev index, prev term, commit */
    }
    frames_le64(b, n);
    for (unsigned i = 0; i < n; i++) {
        uint8_t h[16] = {0};
        h[0] = 7;
        h[8] = 1; /* RAFT_COMMAND */
        h[12] = (uint8_t)sizes[i];
        h[13] = (uint8_t)(sizes[i] >> 8);
        h[14] = (uint8_t)(sizes[i] >> 16);
        h[15] = (uint8_t)(sizes[i] >> 24);
        if (buf_put(b, h, sizeof h) != 0) {
            abort();
        }
    }
    for (unsigned i = 0; i < n; i++) {
        uint8_t *at;
        if (buf_put_space(b, sizes[i], &at) != 0) {
            abort();
        }
        memset(at, 0xa0 + (int)i, sizes[i]);
    }
}

/* RequestVote, current form (5 x u64). */
static inline void frames_request_vote(struct buf *b)
{
    frames_le64(b, 3);
    frames_le64(b, 40);
    for (int i = 0; i < 5; i++) {
        frames_le64(b, (uint64_t)i);
    }
}

/* InstallSnapshot with a configuration blob of 'conf_size' and 'data_size'
 * bytes of data. */
static inline void frames_install_snapshot(struct buf *b, uint64_t conf_size, uint64_t data_size)
{
    frames_le64(b, 5);
    frames_le64(b, 48 + conf_size);
    for (int i = 0; i < 4; i++) {
        frames_le64(b, 1);
    }
    frames_le64(b, conf_size);
    uint8_t *at;
    if (buf_put_space(b, (size_t)conf_size, &at) != 0) {
        abort();
    }
    frames_le64(b, data_size);
    if (buf_put_space(b, (size_t)data_size, &at) != 0) {
        abort();
    }
}

#endif

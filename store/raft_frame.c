/* The streaming checker of raft_frame.h. Bytes arrive in arbitrary chunks
 * (down to one byte); the checker keeps only the preamble and the current
 * header (bounded by max_header), never the payload. */
#include "store/raft_frame.h"

#include <string.h>

STRATA_ERR_DEFINE(raft_frame, RAFT_FRAME_ERRORS)

enum {
    FRAME_APPEND_ENTRIES = 1,
    FRAME_APPEND_ENTRIES_RESULT,
    FRAME_REQUEST_VOTE,
    FRAME_REQUEST_VOTE_RESULT,
    FRAME_INSTALL_SNAPSHOT,
    FRAME_TIMEOUT_NOW,
};

/* Smallest and largest header each fixed-layout type may have. libraft
 * accepts both the V1 and current forms of some messages. */
static const struct {
    uint64_t min, max;
} frame_fixed[] = {
    [FRAME_APPEND_ENTRIES_RESULT] = {24, 64},
    [FRAME_REQUEST_VOTE] = {32, 64},
    [FRAME_REQUEST_VOTE_RESULT] = {16, 64},
    [FRAME_TIMEOUT_NOW] = {24, 64},
};

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void raft_frame_limits_default(struct raft_frame_limits *l)
{
    l->max_header = 1u << 20;
    l->max_entries = 65536;
    l->max_payload = 256u << 20;
    l->max_snapshot = 8ull << 30;
}

void raft_frame_check_init(struct raft_frame_check *c, const struct raft_frame_limits *limits)
{
    memset(c, 0, sizeof *c);
    if (limits) {
        c->limits = *limits;
    } else {
        raft_frame_limits_default(&c->limits);
    }
    c->phase = RAFT_FRAME_PREAMBLE;
    buf_init(&c->header, c->limits.max_header);
}

void raft_frame_check_destroy(struct raft_frame_check *c)
{
    if (c) {
        buf_destroy(&c->header);
    }
}

/* Validates the complete preamble; sets the header phase. */
static int frame_preamble_done(struct raft_frame_check *c)
{
    c->type = le64(c->preamble);
    c->header_size = le64(c->preamble + 8);
    if (c->type < FRAME_APPEND_ENTRIES || c->type > FRAME_TIMEOUT_NOW) {
        return RAFT_FRAME_ETYPE;
    }
    if (c->header_size == 0 || c->header_size > c->limits.max_header) {
        return RAFT_FRAME_EHEADER;
    }
    if (c->type != FRAME_APPEND_ENTRIES && c->type != FRAME_INSTALL_SNAPSHOT &&
        (c->header_size < frame_fixed[c->type].min || c->header_size > frame_fixed[c->type].max)) {
        return RAFT_FRAME_EHEADER;
    }
    if (c->type == FRAME_APPEND_ENTRIES && c->header_size < 40) {
        return RAFT_FRAME_EHEADER;
    }
    if (c->type == FRAME_INSTALL_SNAPSHOT && c->header_size < 48) {
        return RAFT_FRAME_EHEADER;
    }
    buf_reset(&c->header);
    c->phase = RAFT_FRAME_HEADER;
    return 0;
}

/* Validates a complete header through a checked cursor and computes the
 * payload that follows it. */
static int frame_header_done(struct raft_frame_check *c)
{
    struct cursor cur;
    cursor_init(&cur, c->header.data, c->header.size);
    c->payload_left = 0;

    if (c->type == FRAME_APPEND_ENTRIES) {
        const uint8_t *p;
        if (buf_skip(&cur, 32) != 0 || buf_get_view(&cur, 8, &p) != 0) {
            return RAFT_FRAME_ELAYOUT;
        }
        uint64_t n = le64(p);
        if (n > c->limits.max_entries) {
            return RAFT_FRAME_EENTRIES;
        }
        if (n * 16 > cursor_remaining(&cur)) {
            return RAFT_FRAME_ELAYOUT;
        }
        uint64_t total = 0;
        for (uint64_t i = 0; i < n; i++) {
            if (buf_get_view(&cur, 16, &p) != 0) {
                return RAFT_FRAME_ELAYOUT;
            }
            uint8_t type = p[8];
            uint32_t size = le32(p + 12);
            if (type < 1 || type > 3 || size % 8 != 0) {
                return RAFT_FRAME_ELAYOUT;
            }
            total += size;
            if (total > c->limits.max_payload) {
                return RAFT_FRAME_EPAYLOAD;
            }
        }
        c->payload_left = total;
    } else if (c->type == FRAME_INSTALL_SNAPSHOT) {
        const uint8_t *p;
        if (buf_skip(&cur, 32) != 0 || buf_get_view(&cur, 8, &p) != 0) {
            return RAFT_FRAME_ELAYOUT;
        }
        uint64_t conf_size = le64(p);
        if (conf_size > cursor_remaining(&cur) || buf_skip(&cur, (size_t)conf_size) != 0 ||
            buf_get_view(&cur, 8, &p) != 0) {
            return RAFT_FRAME_ELAYOUT;
        }
        uint64_t data_size = le64(p);
        if (data_size > c->limits.max_snapshot) {
            return RAFT_FRAME_EPAYLOAD;
        }
        c->payload_left = data_size;
    }
    return 0;
}

static void frame_next(struct raft_frame_check *c)
{
    c->phase = RAFT_FRAME_PREAMBLE;
    c->preamble_have = 0;
    c->frames++;
}

int raft_frame_check_feed(struct raft_frame_check *c, const void *data, size_t size)
{
    const uint8_t *p = data;
    int rc;

    while (size > 0 && c->error == 0) {
        switch (c->phase) {
        case RAFT_FRAME_PREAMBLE: {
            size_t take = sizeof c->preamble - c->preamble_have;
            take = take < size ? take : size;
            memcpy(c->preamble + c->preamble_have, p, take);
            c->preamble_have += take;
            p += take;
            size -= take;
            if (c->preamble_have == sizeof c->preamble) {
                c->error = frame_preamble_done(c);
            }
            break;
        }
        case RAFT_FRAME_HEADER: {
            uint64_t want = c->header_size - c->header.size;
            size_t take = want < size ? (size_t)want : size;
            rc = buf_put(&c->header, p, take);
            if (rc != 0) {
                c->error = rc == LIB_ENOMEM ? RAFT_FRAME_ENOMEM : RAFT_FRAME_EHEADER;
                break;
            }
            p += take;
            size -= take;
            if (c->header.size == c->header_size) {
                c->error = frame_header_done(c);
                if (c->error == 0) {
                    if (c->payload_left > 0) {
                        c->phase = RAFT_FRAME_PAYLOAD;
                    } else {
                        frame_next(c);
                    }
                }
            }
            break;
        }
        case RAFT_FRAME_PAYLOAD: {
            size_t take = c->payload_left < size ? (size_t)c->payload_left : size;
            p += take;
            size -= take;
            c->payload_left -= take;
            if (c->payload_left == 0) {
                frame_next(c);
            }
            break;
        }
        }
    }
    return c->error;
}

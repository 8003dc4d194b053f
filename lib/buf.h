/* Growable byte buffers for building output, and the checked read cursor that
 * is the only way Strata's parsers read untrusted bytes. Every getter either
 * reads the whole value and advances, or fails with LIB_ESHORT and leaves the
 * cursor where it was. Multi-byte integers are big-endian (network order). */
#ifndef STRATA_BUF_H
#define STRATA_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* Invariant: size <= cap; data is NULL iff cap == 0; limit == 0 or
 * size <= limit. */
struct buf {
    uint8_t *data;
    size_t size;  /* bytes in use */
    size_t cap;   /* bytes allocated */
    size_t limit; /* growth cap in bytes, 0 for none */
};

/* A read-only view of 'size' bytes at 'p'. Never owns memory. */
struct cursor {
    const uint8_t *p;
    size_t size;
};

/* ---- big-endian helpers on raw memory the caller has already bounded ---- */
static inline uint16_t be16_load(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)((b[0] << 8) | b[1]);
}
static inline uint32_t be32_load(const void *p)
{
    const uint8_t *b = p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}
static inline uint64_t be64_load(const void *p)
{
    const uint8_t *b = p;
    return ((uint64_t)be32_load(b) << 32) | be32_load(b + 4);
}
static inline void be16_store(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}
static inline void be32_store(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}
static inline void be64_store(void *p, uint64_t v)
{
    be32_store(p, (uint32_t)(v >> 32));
    be32_store((uint8_t *)p + 4, (uint32_t)v);
}

/* ---- growable buffers ---- */

/* Initialises an empty buffer that may grow to 'limit' bytes (0: no limit). */
void buf_init(struct buf *b, size_t limit);
/* Frees the storage; 'b' may be NULL. The buffer is empty afterwards. */
void buf_destroy(struct buf *b);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);
/* Ensures room for 'extra' more bytes. LIB_ETOOBIG past the limit,
 * LIB_ENOMEM when allocation fails; the contents are untouched on error. */
int buf_reserve(struct buf *b, size_t extra) STRATA_WARN_UNUSED;
/* Appends; same errors as buf_reserve(), nothing appended on error. */
int buf_put(struct buf *b, const void *data, size_t size) STRATA_WARN_UNUSED;
int buf_put_u8(struct buf *b, uint8_t v) STRATA_WARN_UNUSED;
int buf_put_u16(struct buf *b, uint16_t v) STRATA_WARN_UNUSED;
int buf_put_u32(struct buf *b, uint32_t v) STRATA_WARN_UNUSED;
int buf_put_u64(struct buf *b, uint64_t v) STRATA_WARN_UNUSED;
/* Appends 'size' zero bytes and stores their address in '*at' (valid until
 * the next growth), for length fields patched later. */
int buf_put_space(struct buf *b, size_t size, uint8_t **at) STRATA_WARN_UNUSED;
/* Drops 'size' bytes from the front (a consumed prefix). */
void buf_consume(struct buf *b, size_t size);
/* Hands the storage to the caller (who frees it with free()) and leaves 'b'
 * empty. Returns NULL for an empty buffer. */
uint8_t *buf_steal(struct buf *b, size_t *size);

/* ---- checked read cursor ---- */

static inline void cursor_init(struct cursor *c, const void *p, size_t size)
{
    c->p = p;
    c->size = p ? size : 0;
}
static inline size_t cursor_remaining(const struct cursor *c)
{
    return c->size;
}
int buf_get_u8(struct cursor *c, uint8_t *v) STRATA_WARN_UNUSED;
int buf_get_u16(struct cursor *c, uint16_t *v) STRATA_WARN_UNUSED;
int buf_get_u32(struct cursor *c, uint32_t *v) STRATA_WARN_UNUSED;
int buf_get_u64(struct cursor *c, uint64_t *v) STRATA_WARN_UNUSED;
/* Copies 'size' bytes into 'dst'. */
int buf_get_bytes(struct cursor *c, void *dst, size_t size) STRATA_WARN_UNUSED;
/* Points '*p' at the next 'size' bytes without copying (zero-copy view). */
int buf_get_view(struct cursor *c, size_t size, const uint8_t **p) STRATA_WARN_UNUSED;
/* Splits off the next 'size' bytes as the sub-cursor 'sub' (a nested TLV). */
int buf_get_sub(struct cursor *c, size_t size, struct cursor *sub) STRATA_WARN_UNUSED;
/* Skips 'size' bytes. */
int buf_skip(struct cursor *c, size_t size) STRATA_WARN_UNUSED;

#endif

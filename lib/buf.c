/* Growable buffers and the checked cursor declared in buf.h. */
#include "lib/buf.h"

#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t limit)
{
    b->data = NULL;
    b->size = 0;
    b->cap = 0;
    b->limit = limit;
}

void buf_destroy(struct buf *b)
{
    if (!b) {
        return;
    }
    free(b->data);
    b->data = NULL;
    b->size = 0;
    b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->size = 0;
}

int buf_reserve(struct buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->size) {
        return LIB_ETOOBIG;
    }
    size_t need = b->size + extra;
    if (b->limit && need > b->limit) {
        return LIB_ETOOBIG;
    }
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (b->limit && cap > b->limit) {
        cap = b->limit;
    }
    uint8_t *data = realloc(b->data, cap);
    if (!data) {
        return LIB_ENOMEM;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

int buf_put(struct buf *b, const void *data, size_t size)
{
    int rc = buf_reserve(b, size);
    if (rc != 0) {
        return rc;
    }
    if (size) {
        memcpy(b->data + b->size, data, size);
        b->size += size;
    }
    return 0;
}

int buf_put_u8(struct buf *b, uint8_t v)
{
    return buf_put(b, &v, 1);
}

int buf_put_u16(struct buf *b, uint16_t v)
{
    uint8_t tmp[2];
    be16_store(tmp, v);
    return buf_put(b, tmp, sizeof tmp);
}

int buf_put_u32(struct buf *b, uint32_t v)
{
    uint8_t tmp[4];
    be32_store(tmp, v);
    return buf_put(b, tmp, sizeof tmp);
}

int buf_put_u64(struct buf *b, uint64_t v)
{
    uint8_t tmp[8];
    be64_store(tmp, v);
    return buf_put(b, tmp, sizeof tmp);
}

int buf_put_space(struct buf *b, size_t size, uint8_t **at)
{
    int rc = buf_reserve(b, size);
    if (rc != 0) {
        return rc;
    }
    memset(b->data + b->size, 0, size);
    if (at) {
        *at = b->data + b->size;
    }
    b->size += size;
    return 0;
}

void buf_consume(struct buf *b, size_t size)
{
    if (size >= b->size) {
        b->size = 0;
        return;
    }
    memmove(b->data, b->data + size, b->size - size);
    b->size -= size;
}

uint8_t *buf_steal(struct buf *b, size_t *size)
{
    uint8_t *data = b->data;
    if (size) {
        *size = b->size;
    }
    if (b->size == 0) {
        free(data);
        data = NULL;
    }
    b->data = NULL;
    b->size = 0;
    b->cap = 0;
    return data;
}

int buf_get_view(struct cursor *c, size_t size, const uint8_t **p)
{
    if (size > c->size) {
        return LIB_ESHORT;
    }
    *p = c->p;
    c->p += size;
    c->size -= size;
    return 0;
}

int buf_get_bytes(struct cursor *c, void *dst, size_t size)
{
    const uint8_t *p;
    int rc = buf_get_view(c, size, &p);
    if (rc == 0 && size) {
        memcpy(dst, p, size);
    }
    return rc;
}

int buf_get_sub(struct cursor *c, size_t size, struct cursor *sub)
{
    const uint8_t *p;
    int rc = buf_get_view(c, size, &p);
    if (rc == 0) {
        sub->p = p;
        sub->size = size;
    }
    return rc;
}

int buf_skip(struct cursor *c, size_t size)
{
    const uint8_t *p;
    return buf_get_view(c, size, &p);
}

int buf_get_u8(struct cursor *c, uint8_t *v)
{
    const uint8_t *p;
    int rc = buf_get_view(c, 1, &p);
    if (rc == 0) {
        *v = p[0];
    }
    return rc;
}

int buf_get_u16(struct cursor *c, uint16_t *v)
{
    const uint8_t *p;
    int rc = buf_get_view(c, 2, &p);
    if (rc == 0) {
        *v = be16_load(p);
    }
    return rc;
}

int buf_get_u32(struct cursor *c, uint32_t *v)
{
    const uint8_t *p;
    int rc = buf_get_view(c, 4, &p);
    if (rc == 0) {
        *v = be32_load(p);
    }
    return rc;
}

int buf_get_u64(struct cursor *c, uint64_t *v)
{
    const uint8_t *p;
    int rc = buf_get_view(c, 8, &p);
    if (rc == 0) {
        *v = be64_load(p);
    }
    return rc;
}

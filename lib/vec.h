/* Room for one more element in a growable array (pointer, used count,
 * slots): the doubling realloc that arrays of agents, subscriptions,
 * queued routes and transaction entries each wrote out by hand. Header
 * only, like lib/clock.h.
 *   struct x *v = vec_grow(a->items, &a->cap, a->len, sizeof *v, 16);
 *   if (!v) { ...out of memory, a->items unchanged... }
 *   a->items = v;
 *   a->items[a->len++] = item; */
#ifndef STRATA_VEC_H
#define STRATA_VEC_H

#include <stdint.h>
#include <stdlib.h>

/* 'items' (NULL when empty) has '*cap' slots of 'size' bytes, 'len' of them
 * used. Returns 'items' when a slot is free, else the array reallocated to
 * twice its slots ('first' when it has none) with '*cap' updated; NULL
 * without memory or when the size would overflow ('items' and '*cap' are
 * then unchanged and still owned by the caller). */
static inline void *vec_grow(void *items, size_t *cap, size_t len, size_t size, size_t first)
{
    if (len < *cap) {
        return items;
    }
    size_t n = *cap ? *cap * 2 : first;
    if (n <= *cap || n > SIZE_MAX / size) {
        return NULL;
    }
    void *v = realloc(items, n * size);
    if (v) {
        *cap = n;
    }
    return v;
}

#endif

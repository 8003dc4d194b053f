/* The tests' reference Internet checksum (RFC 1071), written byte by byte
 * and independently of the datapath's own (vrd_csum_add, dp's), so the
 * tests check those against something they do not share code with. */
#ifndef STRATA_TEST_CSUM_REF_H
#define STRATA_TEST_CSUM_REF_H

#include <stddef.h>
#include <stdint.h>

/* Adds the big-endian 16-bit words of 'p' (a trailing odd byte as the high
 * half of a word) to 's'. */
static inline uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    }
    if (n & 1) {
        s += (uint32_t)p[n - 1] << 8;
    }
    return s;
}

/* Folds the carries of 's' into 16 bits. */
static inline uint16_t fold(uint32_t s)
{
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return (uint16_t)s;
}

#endif

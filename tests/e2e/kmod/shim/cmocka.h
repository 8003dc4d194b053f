/* A stand-in for <cmocka.h> in the in-guest kernel module test: the frame
 * builders of tests/unit/vrouter/dp_test.h use cmocka's assertions, and the
 * static guest program has no cmocka. A failed assertion reports itself and
 * jumps back to the running test (kvr_test.c). */
#ifndef STRATA_KVR_CMOCKA_SHIM_H
#define STRATA_KVR_CMOCKA_SHIM_H

#include <string.h>

void kvr_fail(const char *file, int line, const char *what, long long a, long long b);

#define assert_true(c) \
    do { \
        if (!(c)) { \
            kvr_fail(__FILE__, __LINE__, #c, 1, 0); \
        } \
    } while (0)
#define assert_int_equal(a, b) \
    do { \
        long long a_ = (long long)(a), b_ = (long long)(b); \
        if (a_ != b_) { \
            kvr_fail(__FILE__, __LINE__, #a " == " #b, a_, b_); \
        } \
    } while (0)
#define assert_memory_equal(a, b, n) \
    do { \
        if (memcmp((a), (b), (n)) != 0) { \
            kvr_fail(__FILE__, __LINE__, "memory " #a " == " #b, 0, 0); \
        } \
    } while (0)

#endif

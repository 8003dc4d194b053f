/* The dp_env.h environment for the in-guest test driver, which links the
 * portable core only to compute what the kernel module must produce (the
 * flow hash behind the MPLSoUDP/VXLAN source port). One thread: the lock is
 * a flag, the grace period empty, logging goes to stderr; a small error
 * registry stands in for lib/err.c (which needs libuv), so the driver links
 * statically with nothing but libc. */
#include <stdio.h>
#include <stdlib.h>

#include "vrouter/dp/dp.h"
#include "vrouter/dp/dp_env.h"

/* lib/err's registry, enough for the codes the driver prints (lib/err.c
 * itself needs libuv). */
static const char *(*lookups[4])(int code);

void strata_err_register(const char *(*lookup)(int code))
{
    for (size_t i = 0; i < sizeof lookups / sizeof lookups[0]; i++) {
        if (!lookups[i]) {
            lookups[i] = lookup;
            return;
        }
    }
}

const char *strata_strerror(int code)
{
    for (size_t i = 0; i < sizeof lookups / sizeof lookups[0] && lookups[i]; i++) {
        const char *s = lookups[i](code);
        if (s) {
            return s;
        }
    }
    return "unknown error";
}

STRATA_ERR_DEFINE(vr, VR_ERRORS)

struct dp_env_lock {
    int held;
};

void *dp_env_zalloc(size_t size)
{
    return calloc(1, size ? size : 1);
}

void dp_env_free(void *p)
{
    free(p);
}

struct dp_env_lock *dp_env_lock_create(void)
{
    return calloc(1, sizeof(struct dp_env_lock));
}

void dp_env_lock_free(struct dp_env_lock *lock)
{
    free(lock);
}

void dp_env_lock(struct dp_env_lock *lock)
{
    lock->held = 1;
}

void dp_env_unlock(struct dp_env_lock *lock)
{
    lock->held = 0;
}

void dp_env_synchronize(void)
{
}

void dp_env_log(enum dp_env_log_level level, const char *msg, int64_t value)
{
    if (level >= DP_ENV_LOG_WARN) {
        fprintf(stderr, "dp: %s value=%lld\n", msg, (long long)value);
    }
}

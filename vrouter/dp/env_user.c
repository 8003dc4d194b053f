/* The user-space environment of the vRouter core (dp_env.h): calloc/free,
 * a pthread mutex as the control lock, logging through lib/log, and the
 * registration of the core's VR_ERRORS table with lib/err (here because every
 * user-space host links this file; the kernel module names codes itself). The
 * grace period is empty: this environment serves hosts whose fast path and
 * control run in one thread (unit tests, fuzzing, a single-loop uspace
 * datapath). A multi-threaded host supplies its own env with a real
 * quiescent-state grace period. */
#include <pthread.h>
#include <stdlib.h>

#include "lib/log.h"
#include "vrouter/dp/dp.h"
#include "vrouter/dp/dp_env.h"

STRATA_ERR_DEFINE(vr, VR_ERRORS)

struct dp_env_lock {
    pthread_mutex_t mu;
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
    struct dp_env_lock *l = calloc(1, sizeof *l);
    if (l && pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        l = NULL;
    }
    return l;
}

void dp_env_lock_free(struct dp_env_lock *lock)
{
    if (lock) {
        pthread_mutex_destroy(&lock->mu);
        free(lock);
    }
}

void dp_env_lock(struct dp_env_lock *lock)
{
    pthread_mutex_lock(&lock->mu);
}

void dp_env_unlock(struct dp_env_lock *lock)
{
    pthread_mutex_unlock(&lock->mu);
}

void dp_env_synchronize(void)
{
}

void dp_env_log(enum dp_env_log_level level, const char *msg, int64_t value)
{
    static const enum log_level map[] = {LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR};
    enum log_level l = (unsigned)level < 4 ? map[level] : LOG_LEVEL_ERROR;
    if (l >= log_get_level()) {
        log_event(l, "vrouter-dp", msg, "value=%lld", (long long)value);
    }
}

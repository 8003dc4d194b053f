/* The environment of the portable vRouter forwarding core. This header is the
 * only thing the core includes: fixed-width integer types, memory helpers,
 * allocation (used only when tables are created), the control lock, atomic
 * publication of single words (what lets the lock-free fast path read tables
 * while control updates them), the reader grace period that must pass before
 * recycled storage is reused, and logging. The user-space implementation is
 * env_user.c; a kernel module provides the same functions in its own file. */
#ifndef STRATA_DP_ENV_H
#define STRATA_DP_ENV_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stddef.h>
#include <stdint.h>
#endif

/* ---- memory helpers (the compiler lowers these; no libc header needed) ---- */
#define dp_memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define dp_memset(d, c, n) __builtin_memset((d), (c), (n))
#define dp_memcmp(a, b, n) __builtin_memcmp((a), (b), (n))

/* ---- single-word atomics: publication and counters ---- */
/* A store-release publishes everything written before it; a load-acquire
 * sees everything published before the store it reads. */
#define dp_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define dp_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define dp_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define dp_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* Per-packet counters. With DP_ENV_COUNTERS_SHARED (always in the kernel,
 * where dp_rx runs on every CPU at once) several fast-path threads may bump
 * one counter: an atomic add, never torn, never lost. Without it (the
 * user-space environment, whose hosts run dp_rx on one thread per dp) the
 * single writer does a relaxed load and store: never torn for a reader on
 * another thread, and no locked instruction per packet. A multi-threaded
 * user-space host compiles the core with -DDP_ENV_COUNTERS_SHARED. */
#if defined(__KERNEL__) && !defined(DP_ENV_COUNTERS_SHARED)
#define DP_ENV_COUNTERS_SHARED 1
#endif
#ifdef DP_ENV_COUNTERS_SHARED
#define dp_counter_add(p, v) ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))
#elif defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
/* The single writer's add as one unlocked add to memory: an aligned 8-byte
 * store is never torn on x86-64, and the compiler does not fuse the relaxed
 * load and store below into it. (Sanitizer builds use the C form, which
 * they can see.) */
static inline void dp_counter_add_u64(uint64_t *p, uint64_t v)
{
    __asm__("addq %1, %0" : "+m"(*p) : "er"(v));
}
#define dp_counter_add(p, v) dp_counter_add_u64((p), (v))
#else
#define dp_counter_add(p, v) __atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#endif
#define dp_fence_release() __atomic_thread_fence(__ATOMIC_RELEASE)
#define dp_fence_acquire() __atomic_thread_fence(__ATOMIC_ACQUIRE)

/* Compare-and-swap of a 32-bit word: 1 when '*p' was 'expect' and is now
 * 'desired' (with acquire ordering), else 0. */
static inline int dp_cas32_acquire(uint32_t *p, uint32_t expect, uint32_t desired)
{
    return __atomic_compare_exchange_n(p, &expect, desired, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* Sequence counters for multi-word entries (next hops, interfaces, flows).
 * A writer (holding the table's lock) brackets its update with
 * dp_seq_write_begin/end; a reader copies the fields it needs between
 * dp_seq_read_begin and dp_seq_read_retry and retries when the latter is
 * true, so it never acts on a half-written entry. */
static inline uint32_t dp_seq_read_begin(const uint32_t *seq)
{
    uint32_t s;
    while ((s = dp_load_acquire(seq)) & 1u) {
    }
    return s;
}
static inline int dp_seq_read_retry(const uint32_t *seq, uint32_t start)
{
    dp_fence_acquire();
    return dp_load_relaxed(seq) != start;
}
static inline void dp_seq_write_begin(uint32_t *seq)
{
    dp_store_relaxed(seq, *seq + 1);
    dp_fence_release();
}
static inline void dp_seq_write_end(uint32_t *seq)
{
    dp_store_release(seq, *seq + 1);
}
/* For entries whose writers do not all share one lock (flows: control under
 * flow_lock, and fast-path threads filling a flow's forwarding cache), the
 * writers exclude each other through the counter itself. dp_seq_lock spins
 * until it moves the counter from even to odd; dp_seq_trylock moves it only
 * from 'start', the even value a reader saw, and returns 0 when the entry
 * changed since (or another writer holds it). Both end with
 * dp_seq_write_end. */
static inline void dp_seq_lock(uint32_t *seq)
{
    for (;;) {
        uint32_t s = dp_load_relaxed(seq);
        if (!(s & 1u) && dp_cas32_acquire(seq, s, s + 1)) {
            break;
        }
    }
    dp_fence_release();
}
static inline int dp_seq_trylock(uint32_t *seq, uint32_t start)
{
    if ((start & 1u) || !dp_cas32_acquire(seq, start, start + 1)) {
        return 0;
    }
    dp_fence_release();
    return 1;
}

/* ---- allocation (table creation only) ---- */
/* Returns 'size' zeroed bytes, or NULL. */
void *dp_env_zalloc(size_t size);
/* Frees what dp_env_zalloc returned; NULL is fine. */
void dp_env_free(void *p);

/* ---- the control lock (a spinlock in the kernel, a mutex in user space) ---- */
struct dp_env_lock;
/* Returns a new unlocked lock, or NULL. */
struct dp_env_lock *dp_env_lock_create(void);
void dp_env_lock_free(struct dp_env_lock *lock);
void dp_env_lock(struct dp_env_lock *lock);
void dp_env_unlock(struct dp_env_lock *lock);

/* ---- grace period ---- */
/* Returns once every fast-path reader that might still hold a reference to
 * storage unlinked before the call has finished its packet. The core calls
 * it (with its lock held) only before reusing recycled storage. */
void dp_env_synchronize(void);

/* ---- logging (control path only) ---- */
enum dp_env_log_level {
    DP_ENV_LOG_DEBUG,
    DP_ENV_LOG_INFO,
    DP_ENV_LOG_WARN,
    DP_ENV_LOG_ERROR,
};
/* Logs the fixed message 'msg' with one numeric field 'value'. */
void dp_env_log(enum dp_env_log_level level, const char *msg, int64_t value);

#endif

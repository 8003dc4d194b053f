// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel environment of the portable vRouter core (vrouter/dp/dp_env.h):
 * kvzalloc()ed tables, a bottom-half-safe spinlock as the core's lock, printk
 * logging, and the reader grace period. The core calls dp_env_synchronize()
 * with its control lock held, so it cannot sleep and synchronize_rcu() is not
 * an option; instead every dp_rx() caller brackets the call with
 * vr_reader_enter()/vr_reader_exit(), which bump a per-CPU sequence (odd while
 * inside), and the grace period waits until every CPU that was inside when
 * it started has left. Readers run with bottom halves (hence preemption)
 * disabled and never take the control lock, so the wait is short and cannot
 * deadlock.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "vr_kmod.h"

static DEFINE_PER_CPU(unsigned long, vr_reader_seq);

/* The strings of the core's and the codec's codes (user space registers
 * them with lib/err; the kernel names them here). */
const char *vr_strerror(int code)
{
	switch (code) {
		VR_ERRORS(STRATA_ERR_CASE)
	default:
		return NULL;
	}
}

const char *vr_msg_strerror(int code)
{
	switch (code) {
		VR_MSG_ERRORS(STRATA_ERR_CASE)
	default:
		return NULL;
	}
}

void vr_reader_enter(void)
{
	WARN_ON_ONCE(!in_softirq());
	this_cpu_inc(vr_reader_seq);
	/* The odd count must be visible before any table read. */
	smp_mb();
}

void vr_reader_exit(void)
{
	/* Every table read completes before the even count is seen. */
	smp_mb();
	this_cpu_inc(vr_reader_seq);
}

void dp_env_synchronize(void)
{
	unsigned long snap;
	int cpu;

	smp_mb();
	for_each_possible_cpu(cpu) {
		snap = READ_ONCE(per_cpu(vr_reader_seq, cpu));
		if (!(snap & 1))
			continue;
		while (READ_ONCE(per_cpu(vr_reader_seq, cpu)) == snap)
			cpu_relax();
	}
	smp_mb();
}

void *dp_env_zalloc(size_t size)
{
	return kvzalloc(size ? size : 1, GFP_KERNEL);
}

void dp_env_free(void *p)
{
	kvfree(p);
}

struct dp_env_lock {
	spinlock_t lock;
};

struct dp_env_lock *dp_env_lock_create(void)
{
	struct dp_env_lock *l = kzalloc(sizeof(*l), GFP_KERNEL);

	if (l)
		spin_lock_init(&l->lock);
	return l;
}

void dp_env_lock_free(struct dp_env_lock *lock)
{
	kfree(lock);
}

/*
 * The flow lock is taken from dp_rx() in softirq context on a flow miss and
 * the control lock from process context, hence the _bh variants.
 */
void dp_env_lock(struct dp_env_lock *lock)
{
	spin_lock_bh(&lock->lock);
}

void dp_env_unlock(struct dp_env_lock *lock)
{
	spin_unlock_bh(&lock->lock);
}

void dp_env_log(enum dp_env_log_level level, const char *msg, int64_t value)
{
	switch (level) {
	case DP_ENV_LOG_DEBUG:
		pr_debug("%s value=%lld\n", msg, (long long)value);
		break;
	case DP_ENV_LOG_INFO:
		pr_info("%s value=%lld\n", msg, (long long)value);
		break;
	case DP_ENV_LOG_WARN:
		pr_warn("%s value=%lld\n", msg, (long long)value);
		break;
	case DP_ENV_LOG_ERROR:
	default:
		pr_err("%s value=%lld\n", msg, (long long)value);
		break;
	}
}

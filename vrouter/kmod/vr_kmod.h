/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internals of the strata_vr kernel module shared by its files: the one
 * datapath instance, the ports that bind core interface slots to
 * net_devices, the reader bracket the kernel environment's grace period
 * relies on, and the control entry points the generic netlink family calls.
 */
#ifndef STRATA_VR_KMOD_H
#define STRATA_VR_KMOD_H

#include <linux/netdevice.h>
#include <linux/rcupdate.h>

#include "vrouter/dp/dp.h"

/*
 * A core interface slot bound to a net_device. A "created" port owns a vif
 * net_device: what the stack transmits on it (the VM side) enters dp_rx(),
 * and what the core sends to the slot is received on it. An "attached" port
 * hooks an existing device (the fabric underlay, a tap or veth) with an
 * rx_handler: what it receives enters dp_rx(), and what the core sends to the
 * slot is transmitted on it. Ports are published in vr.ports[] with RCU; the
 * device pointer is stable for the port's life.
 */
struct vr_port {
	struct net_device *dev;
	u32 slot;
	u8 type;	/* enum dp_if_type */
	bool created;
	struct rcu_head rcu;
};

/* Private area of a created vif net_device. */
struct vr_vif_priv {
	u32 slot;
};

struct vr_state {
	struct dp *dp;
	u32 nslots;
	struct vr_port __rcu **ports;
	struct dp_out __percpu *outs;	/* per-CPU scratch for dp_rx() */
};

extern struct vr_state vr;

/* Bracket every dp_rx() call; bottom halves must be disabled (env_kernel.c). */
void vr_reader_enter(void);
void vr_reader_exit(void);

/*
 * Binds 'slot' to a new vif named 'name' (when non-NULL) or to the device
 * 'ifindex' in 'net' (when non-zero) and installs 'i' in the core. With
 * neither, only the core entry is added or replaced. Returns 0 or -errno;
 * '*vr_code' receives the core's code when the core refused.
 */
int vr_port_add(struct net *net, const struct dp_if *i, const char *name,
		u32 ifindex, int *vr_code);
/* Removes the core interface 'slot' and releases its device. */
int vr_port_del(u32 slot, int *vr_code);

/* Generic netlink family (vr_genl.c). */
int vr_genl_init(void);
void vr_genl_exit(void);

/* Maps a core code (VR_*) to -errno. */
int vr_errno(int code);

#endif

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
#include "vrouter/msg/msg.h"

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
 * Binds the slot of interface 'm->dpif', which vr_msg_apply() has just
 * installed in the core, to device 'm->name' in 'net' (attached if it
 * exists, created as a vif for VM and agent ports if not); the same name
 * keeps the bound device, an empty name unbinds it. Returns 0, VR_ERANGE
 * (no such slot) or -errno.
 */
int vr_port_set(struct net *net, const struct vr_msg_if *m);
/* Copies the name of the device bound to 'slot' ("" for none) to 'name'
 * (IFNAMSIZ bytes). */
void vr_port_name(u32 slot, char *name);
/* Releases the devices of slots the core no longer has (after a delete or
 * a sweep). */
void vr_port_reconcile(void);
/* The core's clock: monotonic milliseconds. */
u64 vr_now_ms(void);

/* The generic netlink family (vr_genl.c). */
int vr_genl_init(void);
void vr_genl_exit(void);


#endif

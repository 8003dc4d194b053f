/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The generic netlink family of the strata_vr kernel module. It carries the
 * forwarding plane's control frames (vrouter/msg/msg.h), the same frames the
 * user-space datapath reads from its unix socket: every generic netlink
 * message of command STRATA_VR_CMD_MSG holds exactly one frame in attribute
 * STRATA_VR_A_MSG, in both directions.
 *
 * A request is answered like on the unix socket: by one VR_MSG_REPLY frame
 * (a VR_MSG_STATS frame before it for VR_MSG_STATS_REQ), then the netlink
 * ack. A VR_MSG_DUMP_REQ must be sent with NLM_F_DUMP: the entries, then the
 * VR_MSG_REPLY with the count, arrive as a multipart dump ending in
 * NLMSG_DONE. A frame that does not decode is refused at the netlink level
 * (ack error -EINVAL, the codec's message in the extended ack). Needs
 * CAP_NET_ADMIN in the namespace's owner.
 *
 * Kernel specifics of VR_MSG_IF: the interface's name binds the slot to the
 * device of that name in the requester's network namespace; an existing
 * Ethernet device is attached (its received frames enter the datapath), and
 * for VM and agent ports a missing one is created as a vif net_device (what
 * the stack sends on it enters the datapath; what the datapath sends to the
 * slot is received on it). The same name again keeps the device, an empty
 * name unbinds it.
 */
#ifndef STRATA_VR_GENL_H
#define STRATA_VR_GENL_H

#define STRATA_VR_GENL_NAME "strata_vr"
#define STRATA_VR_GENL_VERSION 1

enum strata_vr_cmd {
	STRATA_VR_CMD_UNSPEC,
	STRATA_VR_CMD_MSG,
	__STRATA_VR_CMD_MAX,
};
#define STRATA_VR_CMD_MAX (__STRATA_VR_CMD_MAX - 1)

enum strata_vr_attr {
	STRATA_VR_A_UNSPEC,
	STRATA_VR_A_MSG,	/* one frame, at most VR_MSG_MAX bytes */
	__STRATA_VR_A_MAX,
};
#define STRATA_VR_A_MAX (__STRATA_VR_A_MAX - 1)

#endif

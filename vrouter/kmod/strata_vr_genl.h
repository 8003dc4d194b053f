/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The generic netlink interface of the strata_vr kernel module, shared by
 * the module and its user-space clients (the in-guest test driver). One
 * command per control operation of the portable core (vrouter/dp/dp.h); the
 * fields of the core's structures travel as flat attributes whose lengths
 * the kernel checks against its policy. Version STRATA_VR_GENL_VERSION; a
 * request with another version is refused with -EPROTO.
 *
 * This is the module's own minimal message set: the shared agent codec of
 * vrouter/msg/ did not exist when the module was written.
 */
#ifndef STRATA_VR_GENL_H
#define STRATA_VR_GENL_H

#define STRATA_VR_GENL_NAME "strata_vr"
#define STRATA_VR_GENL_VERSION 1

enum strata_vr_cmd {
	STRATA_VR_CMD_UNSPEC,
	STRATA_VR_CMD_IF_ADD,	  /* slot, dp_if fields, plus DEV_NAME or DEV_IFINDEX */
	STRATA_VR_CMD_IF_DEL,	  /* ID */
	STRATA_VR_CMD_VRF_ADD,	  /* ID, BUM_NH */
	STRATA_VR_CMD_VRF_DEL,	  /* ID */
	STRATA_VR_CMD_NH_ADD,	  /* dp_nh fields */
	STRATA_VR_CMD_NH_DEL,	  /* ID */
	STRATA_VR_CMD_ROUTE_ADD,  /* VRF, FAMILY, PLEN, ADDR, NH */
	STRATA_VR_CMD_ROUTE_DEL,  /* VRF, FAMILY, PLEN, ADDR */
	STRATA_VR_CMD_MAC_ADD,	  /* VRF, MAC, NH */
	STRATA_VR_CMD_MAC_DEL,	  /* VRF, MAC */
	STRATA_VR_CMD_LABEL_ADD,  /* ID (label), NH */
	STRATA_VR_CMD_LABEL_DEL,  /* ID */
	STRATA_VR_CMD_VNI_ADD,	  /* ID (vni), VRF, NH */
	STRATA_VR_CMD_VNI_DEL,	  /* ID */
	STRATA_VR_CMD_GEN_BEGIN,  /* GEN */
	STRATA_VR_CMD_SWEEP,	  /* GEN; reply COUNT */
	STRATA_VR_CMD_STATS_GET,  /* reply DROPS, PUNTS */
	STRATA_VR_CMD_IF_GET,	  /* ID; reply RX/TX counters */
	__STRATA_VR_CMD_MAX,
};
#define STRATA_VR_CMD_MAX (__STRATA_VR_CMD_MAX - 1)

enum strata_vr_attr {
	STRATA_VR_A_UNSPEC,
	STRATA_VR_A_VERSION,	 /* u32, required in every request */
	STRATA_VR_A_ID,		 /* u32: interface slot, VRF, next hop, label, VNI */
	STRATA_VR_A_TYPE,	 /* u8: enum dp_if_type or enum dp_nh_type */
	STRATA_VR_A_FLAGS,	 /* u8 */
	STRATA_VR_A_VRF,	 /* u32 */
	STRATA_VR_A_MAC,	 /* 6 bytes */
	STRATA_VR_A_GW_MAC,	 /* 6 bytes */
	STRATA_VR_A_IP4,	 /* u32, host order */
	STRATA_VR_A_GW_IP4,	 /* u32 */
	STRATA_VR_A_DNS_IP4,	 /* u32 */
	STRATA_VR_A_DEV_NAME,	 /* string: create a vif net_device with this name */
	STRATA_VR_A_DEV_IFINDEX, /* u32: attach to this existing net_device */
	STRATA_VR_A_ENCAP,	 /* u8: enum dp_encap */
	STRATA_VR_A_LABEL,	 /* u32: MPLS label or VNI of a tunnel */
	STRATA_VR_A_SIP,	 /* u32 */
	STRATA_VR_A_DIP,	 /* u32 */
	STRATA_VR_A_DMAC,	 /* 6 bytes */
	STRATA_VR_A_OUTER_DMAC,	 /* 6 bytes */
	STRATA_VR_A_MEMBERS,	 /* u32 array, at most DP_NH_MAX_MEMBERS */
	STRATA_VR_A_FAMILY,	 /* u8: 4 or 6 */
	STRATA_VR_A_PLEN,	 /* u8 */
	STRATA_VR_A_ADDR,	 /* 16 bytes, network order */
	STRATA_VR_A_NH,		 /* u32 */
	STRATA_VR_A_BUM_NH,	 /* u32 */
	STRATA_VR_A_GEN,	 /* u32 */
	STRATA_VR_A_COUNT,	 /* u32 (reply) */
	STRATA_VR_A_DROPS,	 /* u64 array indexed by enum dp_drop (reply) */
	STRATA_VR_A_PUNTS,	 /* u64 (reply) */
	STRATA_VR_A_IF_STATS,	 /* u64[5]: rx packets, rx bytes, tx packets, tx bytes, drops */
	STRATA_VR_A_PAD,
	STRATA_VR_A_IF,		 /* u32: a next hop's interface slot */
	__STRATA_VR_A_MAX,
};
#define STRATA_VR_A_MAX (__STRATA_VR_A_MAX - 1)

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "strata_vr": the module's control interface.
 * Each command maps onto one control call of the core (interfaces, VRFs,
 * next hops, routes, MACs, labels, VNIs, generations, statistics); the
 * attribute policy checks every length before a handler reads it, and every
 * command needs CAP_NET_ADMIN. See strata_vr_genl.h for the message set.
 */
#include <linux/kernel.h>
#include <linux/netlink.h>
#include <net/genetlink.h>

#include "strata_vr_genl.h"
#include "vr_kmod.h"

static const struct nla_policy vr_policy[STRATA_VR_A_MAX + 1] = {
	[STRATA_VR_A_VERSION] = { .type = NLA_U32 },
	[STRATA_VR_A_ID] = { .type = NLA_U32 },
	[STRATA_VR_A_TYPE] = { .type = NLA_U8 },
	[STRATA_VR_A_FLAGS] = { .type = NLA_U8 },
	[STRATA_VR_A_VRF] = { .type = NLA_U32 },
	[STRATA_VR_A_MAC] = NLA_POLICY_EXACT_LEN(ETH_ALEN),
	[STRATA_VR_A_GW_MAC] = NLA_POLICY_EXACT_LEN(ETH_ALEN),
	[STRATA_VR_A_IP4] = { .type = NLA_U32 },
	[STRATA_VR_A_GW_IP4] = { .type = NLA_U32 },
	[STRATA_VR_A_DNS_IP4] = { .type = NLA_U32 },
	[STRATA_VR_A_DEV_NAME] = { .type = NLA_NUL_STRING, .len = IFNAMSIZ - 1 },
	[STRATA_VR_A_DEV_IFINDEX] = { .type = NLA_U32 },
	[STRATA_VR_A_ENCAP] = { .type = NLA_U8 },
	[STRATA_VR_A_LABEL] = { .type = NLA_U32 },
	[STRATA_VR_A_SIP] = { .type = NLA_U32 },
	[STRATA_VR_A_DIP] = { .type = NLA_U32 },
	[STRATA_VR_A_DMAC] = NLA_POLICY_EXACT_LEN(ETH_ALEN),
	[STRATA_VR_A_OUTER_DMAC] = NLA_POLICY_EXACT_LEN(ETH_ALEN),
	[STRATA_VR_A_MEMBERS] = { .type = NLA_BINARY,
				  .len = DP_NH_MAX_MEMBERS * sizeof(u32) },
	[STRATA_VR_A_FAMILY] = { .type = NLA_U8 },
	[STRATA_VR_A_PLEN] = { .type = NLA_U8 },
	[STRATA_VR_A_ADDR] = NLA_POLICY_EXACT_LEN(16),
	[STRATA_VR_A_NH] = { .type = NLA_U32 },
	[STRATA_VR_A_BUM_NH] = { .type = NLA_U32 },
	[STRATA_VR_A_GEN] = { .type = NLA_U32 },
	[STRATA_VR_A_IF] = { .type = NLA_U32 },
};

static struct genl_family vr_family;

static u32 vr_u32(struct genl_info *info, int attr)
{
	return info->attrs[attr] ? nla_get_u32(info->attrs[attr]) : 0;
}

static u8 vr_u8(struct genl_info *info, int attr)
{
	return info->attrs[attr] ? nla_get_u8(info->attrs[attr]) : 0;
}

static void vr_mac(struct genl_info *info, int attr, u8 *mac)
{
	if (info->attrs[attr])
		memcpy(mac, nla_data(info->attrs[attr]), ETH_ALEN);
}

/* Checks the version and the attributes every command of 'info' needs. */
static int vr_check(struct genl_info *info, const int *required, int count)
{
	int k;

	if (!info->attrs[STRATA_VR_A_VERSION] ||
	    nla_get_u32(info->attrs[STRATA_VR_A_VERSION]) !=
		    STRATA_VR_GENL_VERSION) {
		GENL_SET_ERR_MSG(info, "strata_vr: missing or unknown version");
		return -EPROTO;
	}
	for (k = 0; k < count; k++) {
		if (GENL_REQ_ATTR_CHECK(info, required[k]))
			return -EINVAL;
	}
	return 0;
}

#define VR_CHECK(info, ...)                                               \
	({                                                                \
		static const int __req[] = { __VA_ARGS__ };               \
		vr_check(info, __req, ARRAY_SIZE(__req));                 \
	})

/* Returns the errno of core code 'code' and names it in the extended ack. */
static int vr_reply_code(struct genl_info *info, int code)
{
	if (code && info->extack)
		info->extack->_msg = vr_strerror(code);
	return vr_errno(code);
}

static int vr_cmd_if_add(struct sk_buff *skb, struct genl_info *info)
{
	struct dp_if i = {};
	const char *name = NULL;
	int code, err;

	err = VR_CHECK(info, STRATA_VR_A_ID, STRATA_VR_A_TYPE);
	if (err)
		return err;
	i.ifindex = vr_u32(info, STRATA_VR_A_ID);
	i.type = vr_u8(info, STRATA_VR_A_TYPE);
	i.flags = vr_u8(info, STRATA_VR_A_FLAGS);
	i.vrf = vr_u32(info, STRATA_VR_A_VRF);
	vr_mac(info, STRATA_VR_A_MAC, i.mac);
	i.ip4 = vr_u32(info, STRATA_VR_A_IP4);
	i.gw_ip4 = vr_u32(info, STRATA_VR_A_GW_IP4);
	i.dns_ip4 = vr_u32(info, STRATA_VR_A_DNS_IP4);
	vr_mac(info, STRATA_VR_A_GW_MAC, i.gw_mac);
	if (info->attrs[STRATA_VR_A_DEV_NAME])
		name = nla_data(info->attrs[STRATA_VR_A_DEV_NAME]);
	if (name && info->attrs[STRATA_VR_A_DEV_IFINDEX]) {
		GENL_SET_ERR_MSG(info, "strata_vr: name or ifindex, not both");
		return -EINVAL;
	}
	err = vr_port_add(genl_info_net(info), &i, name,
			  vr_u32(info, STRATA_VR_A_DEV_IFINDEX), &code);
	if (code)
		return vr_reply_code(info, code);
	return err;
}

static int vr_cmd_if_del(struct sk_buff *skb, struct genl_info *info)
{
	int code, err;

	err = VR_CHECK(info, STRATA_VR_A_ID);
	if (err)
		return err;
	err = vr_port_del(vr_u32(info, STRATA_VR_A_ID), &code);
	if (code)
		return vr_reply_code(info, code);
	return err;
}

static int vr_cmd_vrf(struct sk_buff *skb, struct genl_info *info)
{
	struct dp_vrf v = {};
	int err;

	err = VR_CHECK(info, STRATA_VR_A_ID);
	if (err)
		return err;
	v.vrf = vr_u32(info, STRATA_VR_A_ID);
	v.bum_nh = vr_u32(info, STRATA_VR_A_BUM_NH);
	if (info->genlhdr->cmd == STRATA_VR_CMD_VRF_DEL)
		return vr_reply_code(info, dp_vrf_del(vr.dp, v.vrf));
	return vr_reply_code(info, dp_vrf_add(vr.dp, &v));
}

static int vr_cmd_nh_add(struct sk_buff *skb, struct genl_info *info)
{
	struct dp_nh n = {};
	int err;

	err = VR_CHECK(info, STRATA_VR_A_ID, STRATA_VR_A_TYPE);
	if (err)
		return err;
	n.id = vr_u32(info, STRATA_VR_A_ID);
	n.type = vr_u8(info, STRATA_VR_A_TYPE);
	n.encap = vr_u8(info, STRATA_VR_A_ENCAP);
	n.flags = vr_u8(info, STRATA_VR_A_FLAGS);
	n.ifindex = vr_u32(info, STRATA_VR_A_IF);
	n.vrf = vr_u32(info, STRATA_VR_A_VRF);
	n.label = vr_u32(info, STRATA_VR_A_LABEL);
	n.sip = vr_u32(info, STRATA_VR_A_SIP);
	n.dip = vr_u32(info, STRATA_VR_A_DIP);
	vr_mac(info, STRATA_VR_A_DMAC, n.dmac);
	vr_mac(info, STRATA_VR_A_OUTER_DMAC, n.outer_dmac);
	if (info->attrs[STRATA_VR_A_MEMBERS]) {
		const struct nlattr *a = info->attrs[STRATA_VR_A_MEMBERS];

		if (nla_len(a) % sizeof(u32)) {
			GENL_SET_ERR_MSG(info, "strata_vr: members not u32s");
			return -EINVAL;
		}
		n.member_count = nla_len(a) / sizeof(u32);
		memcpy(n.members, nla_data(a), nla_len(a));
	}
	return vr_reply_code(info, dp_nh_add(vr.dp, &n));
}

static int vr_cmd_nh_del(struct sk_buff *skb, struct genl_info *info)
{
	int err = VR_CHECK(info, STRATA_VR_A_ID);

	if (err)
		return err;
	return vr_reply_code(info,
			     dp_nh_del(vr.dp, vr_u32(info, STRATA_VR_A_ID)));
}

static int vr_cmd_route(struct sk_buff *skb, struct genl_info *info)
{
	struct dp_route r = {};
	int err;

	err = VR_CHECK(info, STRATA_VR_A_VRF, STRATA_VR_A_FAMILY,
		       STRATA_VR_A_PLEN, STRATA_VR_A_ADDR);
	if (err)
		return err;
	r.vrf = vr_u32(info, STRATA_VR_A_VRF);
	r.family = vr_u8(info, STRATA_VR_A_FAMILY);
	r.plen = vr_u8(info, STRATA_VR_A_PLEN);
	memcpy(r.addr, nla_data(info->attrs[STRATA_VR_A_ADDR]), 16);
	r.nh = vr_u32(info, STRATA_VR_A_NH);
	if (info->genlhdr->cmd == STRATA_VR_CMD_ROUTE_DEL)
		return vr_reply_code(info, dp_route_del(vr.dp, &r));
	return vr_reply_code(info, dp_route_add(vr.dp, &r));
}

static int vr_cmd_mac(struct sk_buff *skb, struct genl_info *info)
{
	struct dp_mac m = {};
	int err;

	err = VR_CHECK(info, STRATA_VR_A_VRF, STRATA_VR_A_MAC);
	if (err)
		return err;
	m.vrf = vr_u32(info, STRATA_VR_A_VRF);
	vr_mac(info, STRATA_VR_A_MAC, m.mac);
	m.nh = vr_u32(info, STRATA_VR_A_NH);
	if (info->genlhdr->cmd == STRATA_VR_CMD_MAC_DEL)
		return vr_reply_code(info, dp_mac_del(vr.dp, m.vrf, m.mac));
	return vr_reply_code(info, dp_mac_add(vr.dp, &m));
}

static int vr_cmd_label(struct sk_buff *skb, struct genl_info *info)
{
	struct dp_label l = {};
	int err;

	err = VR_CHECK(info, STRATA_VR_A_ID);
	if (err)
		return err;
	l.label = vr_u32(info, STRATA_VR_A_ID);
	l.nh = vr_u32(info, STRATA_VR_A_NH);
	if (info->genlhdr->cmd == STRATA_VR_CMD_LABEL_DEL)
		return vr_reply_code(info, dp_label_del(vr.dp, l.label));
	return vr_reply_code(info, dp_label_add(vr.dp, &l));
}

static int vr_cmd_vni(struct sk_buff *skb, struct genl_info *info)
{
	struct dp_vni v = {};
	int err;

	err = VR_CHECK(info, STRATA_VR_A_ID);
	if (err)
		return err;
	v.vni = vr_u32(info, STRATA_VR_A_ID);
	v.vrf = vr_u32(info, STRATA_VR_A_VRF);
	v.nh = vr_u32(info, STRATA_VR_A_NH);
	if (info->genlhdr->cmd == STRATA_VR_CMD_VNI_DEL)
		return vr_reply_code(info, dp_vni_del(vr.dp, v.vni));
	return vr_reply_code(info, dp_vni_add(vr.dp, &v));
}

static int vr_cmd_gen_begin(struct sk_buff *skb, struct genl_info *info)
{
	int err = VR_CHECK(info, STRATA_VR_A_GEN);

	if (err)
		return err;
	dp_generation_begin(vr.dp, vr_u32(info, STRATA_VR_A_GEN));
	return 0;
}

/* Sends a reply to 'info' built by 'fill'; returns 0 or -errno. */
static int vr_reply(struct genl_info *info,
		    int (*fill)(struct sk_buff *msg, void *arg), void *arg,
		    size_t size)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(size, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &vr_family, 0, info->genlhdr->cmd);
	if (!hdr)
		goto too_small;
	if (fill(msg, arg))
		goto too_small;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
too_small:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static int vr_fill_count(struct sk_buff *msg, void *arg)
{
	return nla_put_u32(msg, STRATA_VR_A_COUNT, *(u32 *)arg);
}

static int vr_cmd_sweep(struct sk_buff *skb, struct genl_info *info)
{
	int err = VR_CHECK(info, STRATA_VR_A_GEN);
	u32 n;

	if (err)
		return err;
	n = dp_sweep(vr.dp, vr_u32(info, STRATA_VR_A_GEN));
	return vr_reply(info, vr_fill_count, &n, nla_total_size(sizeof(n)));
}

static int vr_fill_stats(struct sk_buff *msg, void *arg)
{
	const struct dp_stats *s = arg;

	if (nla_put(msg, STRATA_VR_A_DROPS, sizeof(s->drops), s->drops))
		return -EMSGSIZE;
	return nla_put_u64_64bit(msg, STRATA_VR_A_PUNTS, s->punts,
				 STRATA_VR_A_PAD);
}

static int vr_cmd_stats_get(struct sk_buff *skb, struct genl_info *info)
{
	struct dp_stats *s;
	int err = vr_check(info, NULL, 0);

	if (err)
		return err;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	dp_stats_get(vr.dp, s);
	err = vr_reply(info, vr_fill_stats, s,
		       nla_total_size(sizeof(s->drops)) +
			       nla_total_size_64bit(sizeof(u64)));
	kfree(s);
	return err;
}

static int vr_fill_if(struct sk_buff *msg, void *arg)
{
	const struct dp_if *i = arg;
	u64 st[5] = { i->stats.rx_packets, i->stats.rx_bytes,
		      i->stats.tx_packets, i->stats.tx_bytes, i->stats.drops };

	if (nla_put_u32(msg, STRATA_VR_A_ID, i->ifindex) ||
	    nla_put_u8(msg, STRATA_VR_A_TYPE, i->type) ||
	    nla_put_u32(msg, STRATA_VR_A_VRF, i->vrf) ||
	    nla_put_u32(msg, STRATA_VR_A_GEN, i->gen))
		return -EMSGSIZE;
	return nla_put(msg, STRATA_VR_A_IF_STATS, sizeof(st), st);
}

static int vr_cmd_if_get(struct sk_buff *skb, struct genl_info *info)
{
	struct dp_if i;
	int code, err = VR_CHECK(info, STRATA_VR_A_ID);

	if (err)
		return err;
	code = dp_if_get(vr.dp, vr_u32(info, STRATA_VR_A_ID), &i);
	if (code)
		return vr_reply_code(info, code);
	return vr_reply(info, vr_fill_if, &i, 256);
}

#define VR_OP(c, fn)                                  \
	{                                             \
		.cmd = (c), .doit = (fn),             \
		.flags = GENL_ADMIN_PERM,             \
	}

static const struct genl_small_ops vr_ops[] = {
	VR_OP(STRATA_VR_CMD_IF_ADD, vr_cmd_if_add),
	VR_OP(STRATA_VR_CMD_IF_DEL, vr_cmd_if_del),
	VR_OP(STRATA_VR_CMD_VRF_ADD, vr_cmd_vrf),
	VR_OP(STRATA_VR_CMD_VRF_DEL, vr_cmd_vrf),
	VR_OP(STRATA_VR_CMD_NH_ADD, vr_cmd_nh_add),
	VR_OP(STRATA_VR_CMD_NH_DEL, vr_cmd_nh_del),
	VR_OP(STRATA_VR_CMD_ROUTE_ADD, vr_cmd_route),
	VR_OP(STRATA_VR_CMD_ROUTE_DEL, vr_cmd_route),
	VR_OP(STRATA_VR_CMD_MAC_ADD, vr_cmd_mac),
	VR_OP(STRATA_VR_CMD_MAC_DEL, vr_cmd_mac),
	VR_OP(STRATA_VR_CMD_LABEL_ADD, vr_cmd_label),
	VR_OP(STRATA_VR_CMD_LABEL_DEL, vr_cmd_label),
	VR_OP(STRATA_VR_CMD_VNI_ADD, vr_cmd_vni),
	VR_OP(STRATA_VR_CMD_VNI_DEL, vr_cmd_vni),
	VR_OP(STRATA_VR_CMD_GEN_BEGIN, vr_cmd_gen_begin),
	VR_OP(STRATA_VR_CMD_SWEEP, vr_cmd_sweep),
	VR_OP(STRATA_VR_CMD_STATS_GET, vr_cmd_stats_get),
	VR_OP(STRATA_VR_CMD_IF_GET, vr_cmd_if_get),
};

static struct genl_family vr_family __ro_after_init = {
	.name = STRATA_VR_GENL_NAME,
	.version = STRATA_VR_GENL_VERSION,
	.maxattr = STRATA_VR_A_MAX,
	.policy = vr_policy,
	.netnsok = true,
	.module = THIS_MODULE,
	.small_ops = vr_ops,
	.n_small_ops = ARRAY_SIZE(vr_ops),
	.resv_start_op = STRATA_VR_CMD_MAX + 1,
};

int vr_genl_init(void)
{
	return genl_register_family(&vr_family);
}

void vr_genl_exit(void)
{
	genl_unregister_family(&vr_family);
}

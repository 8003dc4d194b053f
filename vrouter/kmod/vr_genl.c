// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "strata_vr": the module's control interface.
 * It carries the forwarding plane's control frames (vrouter/msg/), decoded
 * and encoded by the same codec the user-space datapath uses, and applies
 * each request to the core as that datapath does; strata_vr_genl.h states
 * the framing and the kernel's reading of an interface's name. Requests are
 * serialized by the generic netlink mutex.
 */
#include <linux/kernel.h>
#include <linux/netlink.h>
#include <linux/slab.h>
#include <net/genetlink.h>

#include "strata_vr_genl.h"
#include "vr_kmod.h"

static const struct nla_policy vr_policy[STRATA_VR_A_MAX + 1] = {
	[STRATA_VR_A_MSG] = { .type = NLA_BINARY, .len = VR_MSG_MAX },
};

static struct genl_family vr_family;

/* Scratch of one request: too large for the stack. */
struct vr_ctl {
	struct vr_msg req;
	struct vr_msg ans;
	u8 frame[VR_MSG_MAX];
};

/*
 * Appends to 'skb' one generic netlink message holding frame 'm'. Returns 0,
 * -EMSGSIZE when 'skb' is full (nothing appended) or -EINVAL when 'm' does
 * not encode.
 */
static int vr_put_frame(struct sk_buff *skb, u32 portid, u32 seq, int flags,
			const struct vr_msg *m, u8 *frame)
{
	size_t size;
	void *hdr;

	if (vr_msg_encode(m, frame, VR_MSG_MAX, &size)) {
		WARN_ONCE(1, "strata_vr: frame of type %u does not encode\n",
			  m->type);
		return -EINVAL;
	}
	hdr = genlmsg_put(skb, portid, seq, &vr_family, flags,
			  STRATA_VR_CMD_MSG);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put(skb, STRATA_VR_A_MSG, size, frame)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

/* Sends frame 'c->ans' to the requester of 'info'. */
static int vr_send(struct genl_info *info, struct vr_ctl *c)
{
	struct sk_buff *msg;
	int err;

	msg = genlmsg_new(nla_total_size(VR_MSG_MAX), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	err = vr_put_frame(msg, info->snd_portid, info->snd_seq, 0, &c->ans,
			   c->frame);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

/*
 * Applies request 'm' from namespace 'net': the core's tables through the
 * shared vr_msg_apply(), then the devices that follow them; '*value'
 * receives the reply's value. Returns 0, a core or codec code, or -errno.
 */
static int vr_apply(struct net *net, const struct vr_msg *m, u32 *value)
{
	int code = vr_msg_apply(vr.dp, m, vr_now_ms(), value);

	if (code == VR_MSG_ETYPE)
		/* Dumps need NLM_F_DUMP; STATS and REPLY are answers. */
		return VR_EINVAL;
	if (code)
		return code;
	if (m->type == VR_MSG_IF)
		return vr_port_set(net, &m->u.ifc);
	if (m->type == VR_MSG_IF_DEL || m->type == VR_MSG_SWEEP)
		vr_port_reconcile();
	return 0;
}

/* Decodes the frame of attribute 'a' into 'm'; -EINVAL when it does not. */
static int vr_decode(const struct nlattr *a, struct vr_msg *m,
		     struct netlink_ext_ack *extack)
{
	int code;

	if (!a) {
		NL_SET_ERR_MSG(extack, "strata_vr: no frame");
		return -EINVAL;
	}
	code = vr_msg_decode(nla_data(a), nla_len(a), m);
	if (code) {
		if (extack)
			extack->_msg = vr_msg_strerror(code);
		return -EINVAL;
	}
	return 0;
}

static int vr_cmd_msg(struct sk_buff *skb, struct genl_info *info)
{
	struct vr_ctl *c;
	u32 value = 0;
	int code, err;

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	err = vr_decode(info->attrs[STRATA_VR_A_MSG], &c->req, info->extack);
	if (err)
		goto free;
	if (c->req.type == VR_MSG_STATS_REQ) {
		vr_msg_init(&c->ans, VR_MSG_STATS, 0, c->req.seq);
		c->ans.u.stats.drop_count = DP_DROP_COUNT;
		dp_stats_get(vr.dp, &c->ans.u.stats.stats);
		err = vr_send(info, c);
		if (err)
			goto free;
		code = 0;
	} else {
		code = vr_apply(genl_info_net(info), &c->req, &value);
	}
	vr_msg_init(&c->ans, VR_MSG_REPLY, 0, c->req.seq);
	c->ans.u.reply.code = code;
	c->ans.u.reply.value = value;
	err = vr_send(info, c);
free:
	kfree(c);
	return err;
}

/* Fills 'm' with the entry of 'table' at '*pos' and advances it. */
static int vr_dump_next(u8 table, u32 *pos, struct vr_msg *m)
{
	struct dp *dp = vr.dp;
	int code;

	switch (table) {
	case VR_TABLE_IF:
		m->type = VR_MSG_IF;
		code = dp_if_next(dp, pos, &m->u.ifc.dpif);
		if (!code)
			vr_port_name(m->u.ifc.dpif.ifindex, m->u.ifc.name);
		return code;
	case VR_TABLE_VRF:
		m->type = VR_MSG_VRF;
		return dp_vrf_next(dp, pos, &m->u.vrf);
	case VR_TABLE_NH:
		m->type = VR_MSG_NH;
		return dp_nh_next(dp, pos, &m->u.nh);
	case VR_TABLE_ROUTE:
		m->type = VR_MSG_ROUTE;
		return dp_route_next(dp, pos, &m->u.route);
	case VR_TABLE_MAC:
		m->type = VR_MSG_MAC;
		return dp_mac_next(dp, pos, &m->u.mac);
	case VR_TABLE_LABEL:
		m->type = VR_MSG_LABEL;
		return dp_label_next(dp, pos, &m->u.label);
	case VR_TABLE_VNI:
		m->type = VR_MSG_VNI;
		return dp_vni_next(dp, pos, &m->u.vni);
	case VR_TABLE_FLOW:
		m->type = VR_MSG_FLOW;
		return dp_flow_next(dp, pos, &m->u.flow);
	default:
		return VR_MSG_EFIELD;
	}
}

/*
 * A dump: entry frames, then the reply frame with the count. State across
 * calls: args[0] the table position, args[1] the count, args[2] set once
 * the reply is out.
 */
static int vr_dump_msg(struct sk_buff *skb, struct netlink_callback *cb)
{
	const struct genl_dumpit_info *di = genl_dumpit_info(cb);
	u32 portid = NETLINK_CB(cb->skb).portid;
	u32 seq = cb->nlh->nlmsg_seq;
	struct vr_ctl *c;
	int code, err;
	u32 pos;

	if (cb->args[2])
		return 0;
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	err = vr_decode(di->attrs[STRATA_VR_A_MSG], &c->req, cb->extack);
	if (err)
		goto free;
	if (c->req.type != VR_MSG_DUMP_REQ) {
		NL_SET_ERR_MSG(cb->extack, "strata_vr: only dumps may dump");
		err = -EINVAL;
		goto free;
	}
	for (;;) {
		pos = cb->args[0];
		vr_msg_init(&c->ans, 0, VR_MSG_F_DUMP, c->req.seq);
		code = vr_dump_next(c->req.u.table, &pos, &c->ans);
		if (code) {
			vr_msg_init(&c->ans, VR_MSG_REPLY, 0, c->req.seq);
			c->ans.u.reply.code = code == VR_EEND ? 0 : code;
			c->ans.u.reply.value = cb->args[1];
			if (!vr_put_frame(skb, portid, seq, NLM_F_MULTI,
					  &c->ans, c->frame))
				cb->args[2] = 1;
			break;
		}
		err = vr_put_frame(skb, portid, seq, NLM_F_MULTI, &c->ans,
				   c->frame);
		if (err == -EMSGSIZE)
			break;
		cb->args[0] = pos;
		if (!err)
			cb->args[1]++;
	}
	err = skb->len;
free:
	kfree(c);
	return err;
}

static const struct genl_small_ops vr_ops[] = {
	{
		.cmd = STRATA_VR_CMD_MSG,
		.doit = vr_cmd_msg,
		.dumpit = vr_dump_msg,
		.flags = GENL_ADMIN_PERM,
	},
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

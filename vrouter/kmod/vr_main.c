// SPDX-License-Identifier: GPL-2.0
/*
 * The strata_vr kernel module: hosts the portable vRouter core
 * (vrouter/dp/) in the kernel. It creates the datapath at load time, binds
 * core interface slots to net_devices (vif devices it creates for VM ports,
 * rx_handlers on existing devices such as the fabric underlay), feeds every
 * frame they receive through dp_rx() and performs the core's transmit
 * decisions with netif_rx() (towards a vif's VM) or dev_queue_xmit() (out of
 * an attached device). Non-tunnel traffic on an attached fabric device is
 * passed to the host stack untouched. Control arrives over generic netlink
 * (vr_genl.c); held flows age in a periodic work item.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/etherdevice.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/percpu.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "vr_kmod.h"

static uint ifs = 256;
module_param(ifs, uint, 0444);
MODULE_PARM_DESC(ifs, "interface slots");
static uint vrfs = 256;
module_param(vrfs, uint, 0444);
MODULE_PARM_DESC(vrfs, "VRFs");
static uint nhs = 4096;
module_param(nhs, uint, 0444);
MODULE_PARM_DESC(nhs, "next hops");
static uint labels = 4096;
module_param(labels, uint, 0444);
MODULE_PARM_DESC(labels, "MPLS label space");
static uint routes = 16384;
module_param(routes, uint, 0444);
MODULE_PARM_DESC(routes, "IPv4 and IPv6 prefixes over all VRFs");
static uint lpm_nodes = 1024;
module_param(lpm_nodes, uint, 0444);
MODULE_PARM_DESC(lpm_nodes, "LPM trie nodes (1280 bytes each)");
static uint flows = 16384;
module_param(flows, uint, 0444);
MODULE_PARM_DESC(flows, "flow slots");
static uint flow_idle_ms = 180000;
module_param(flow_idle_ms, uint, 0644);
MODULE_PARM_DESC(flow_idle_ms, "flows idle this long are aged out");

struct vr_state vr;

/* Outer IPv4 + UDP + VXLAN + inner Ethernet: the largest encapsulation. */
#define VR_ENCAP_MAX 50

static struct delayed_work vr_age_work;

static const struct net_device_ops vr_vif_ops;

u64 vr_now_ms(void)
{
	return jiffies64_to_msecs(get_jiffies_64());
}

/*
 * Turns transmission 'tx' of the frame in 'skb' into an skb for 'dev'. The
 * last transmission of a frame rewritten in place reuses 'skb' itself
 * ('reuse'); the others are copies. Returns NULL when out of memory.
 */
static struct sk_buff *vr_tx_skb(struct sk_buff *skb, const struct dp_tx *tx,
				 struct net_device *dev, bool reuse)
{
	struct sk_buff *nskb;
	unsigned int size = tx->hdr_size + tx->len;

	if (reuse) {
		skb->data = skb->head + tx->off;
		skb->len = tx->len;
		skb_set_tail_pointer(skb, tx->len);
		nskb = skb;
	} else {
		nskb = netdev_alloc_skb(dev, size + NET_IP_ALIGN);
		if (!nskb)
			return NULL;
		skb_reserve(nskb, NET_IP_ALIGN);
		skb_put_data(nskb, tx->hdr, tx->hdr_size);
		skb_put_data(nskb, skb->head + tx->off, tx->len);
	}
	skb_scrub_packet(nskb, !net_eq(dev_net(dev), dev_net(skb->dev)));
	nskb->dev = dev;
	nskb->ip_summed = CHECKSUM_NONE;
	skb_reset_mac_header(nskb);
	skb_reset_mac_len(nskb);
	return nskb;
}

/* Hands 'skb' (a whole Ethernet frame at skb->data) to the port's device. */
static void vr_deliver(struct sk_buff *skb)
{
	struct net_device *dev = skb->dev;

	if (skb->len < ETH_HLEN || !netif_running(dev)) {
		kfree_skb(skb);
		return;
	}
	if (dev->netdev_ops == &vr_vif_ops) {
		/* Towards the VM: the frame is received on the vif. */
		skb->protocol = eth_type_trans(skb, dev);
		DEV_STATS_INC(dev, rx_packets);
		DEV_STATS_ADD(dev, rx_bytes, skb->len);
		netif_rx(skb);
		return;
	}
	skb->protocol = eth_hdr(skb)->h_proto;
	skb_set_network_header(skb, ETH_HLEN);
	dev_queue_xmit(skb);
}

/*
 * Runs 'skb', a whole Ethernet frame received on core slot 'slot', through
 * the core and performs its decisions. Takes ownership of 'skb' unless it
 * returns false, which it does only for a frame on a fabric port that is not
 * tunnel traffic for this host ('may_pass'): the caller passes it to the
 * stack unchanged. Runs under rcu_read_lock().
 */
static bool vr_process(u32 slot, struct sk_buff *skb, bool may_pass)
{
	struct sk_buff_head txq;
	struct sk_buff *out_skb;
	struct dp_out *out;
	struct dp_pkt pkt;
	unsigned int i;
	bool keep = false;

	if (skb->ip_summed == CHECKSUM_PARTIAL && skb_checksum_help(skb))
		goto drop;
	if (skb_linearize(skb) || skb_cow_head(skb, DP_HEADROOM))
		goto drop;

	pkt.buf = skb->head;
	pkt.size = skb_end_offset(skb);
	pkt.off = skb_headroom(skb);
	pkt.len = skb->len;
	__skb_queue_head_init(&txq);

	local_bh_disable();
	out = this_cpu_ptr(vr.outs);
	vr_reader_enter();
	dp_rx(vr.dp, slot, &pkt, vr_now_ms(), out);
	vr_reader_exit();

	if (out->verdict == DP_VERDICT_DROP) {
		if (may_pass && (out->drop == DP_DROP_NOT_TUNNEL ||
				 out->drop == DP_DROP_NOT_FOR_US))
			keep = true;
		local_bh_enable();
		if (keep)
			return false;
		goto drop;
	}
	for (i = 0; i < out->count; i++) {
		const struct dp_tx *tx = &out->tx[i];
		bool last = i + 1 == out->count;
		struct vr_port *port = NULL;

		if (tx->ifindex < vr.nslots)
			port = rcu_dereference(vr.ports[tx->ifindex]);
		if (!port)
			continue;
		out_skb = vr_tx_skb(skb, tx, port->dev,
				    last && tx->hdr_size == 0);
		if (out_skb == skb)
			keep = true;
		if (out_skb)
			__skb_queue_tail(&txq, out_skb);
	}
	local_bh_enable();

	/* The scratch is free again: transmitting may re-enter dp_rx(). */
	while ((out_skb = __skb_dequeue(&txq)))
		vr_deliver(out_skb);
	if (!keep)
		consume_skb(skb);
	return true;
drop:
	kfree_skb(skb);
	return true;
}

/*
 * vr_process() for what a port receives, which may be a GSO super-packet
 * (a veth peer's TSO, a tunnel stack's UDP-tunnel GSO). Those are segmented
 * in software first. On a fabric port ('fabric') a GSO packet that is not
 * tunnel GSO is host traffic and is passed (returns false, 'skb' untouched).
 */
static bool vr_receive(u32 slot, struct sk_buff *skb, bool fabric)
{
	const unsigned int tunnel_gso = SKB_GSO_UDP_TUNNEL |
		SKB_GSO_UDP_TUNNEL_CSUM | SKB_GSO_GRE | SKB_GSO_GRE_CSUM;
	struct sk_buff *segs, *seg, *next;

	if (!skb_is_gso(skb))
		return vr_process(slot, skb, fabric);
	if (fabric && !(skb_shinfo(skb)->gso_type & tunnel_gso))
		return false;
	segs = __skb_gso_segment(skb, NETIF_F_SG, false);
	if (IS_ERR_OR_NULL(segs)) {
		kfree_skb(skb);
		return true;
	}
	consume_skb(skb);
	skb_list_walk_safe(segs, seg, next) {
		skb_mark_not_on_list(seg);
		vr_process(slot, seg, false);
	}
	return true;
}

/* ---- created vif devices (VM ports) ---- */

static netdev_tx_t vr_vif_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct vr_vif_priv *priv = netdev_priv(dev);

	DEV_STATS_INC(dev, tx_packets);
	DEV_STATS_ADD(dev, tx_bytes, skb->len);
	rcu_read_lock();
	vr_process(priv->slot, skb, false);
	rcu_read_unlock();
	return NETDEV_TX_OK;
}

static int vr_vif_open(struct net_device *dev)
{
	netif_tx_start_all_queues(dev);
	return 0;
}

static int vr_vif_stop(struct net_device *dev)
{
	netif_tx_stop_all_queues(dev);
	return 0;
}

static const struct net_device_ops vr_vif_ops = {
	.ndo_open = vr_vif_open,
	.ndo_stop = vr_vif_stop,
	.ndo_start_xmit = vr_vif_xmit,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

static void vr_vif_setup(struct net_device *dev)
{
	ether_setup(dev);
	dev->netdev_ops = &vr_vif_ops;
	dev->needs_free_netdev = true;
	dev->priv_flags |= IFF_NO_QUEUE;
	dev->needed_headroom = DP_HEADROOM;
	/* Room for the largest encapsulation (VXLAN: 50 bytes) on a 1500-byte
	 * underlay; the VM side may raise it when the fabric allows. */
	dev->mtu = ETH_DATA_LEN - VR_ENCAP_MAX;
	/* No offloads: the stack hands us complete checksums and segments. */
	dev->features = 0;
	dev->hw_features = 0;
}

/* ---- attached devices ---- */

static rx_handler_result_t vr_handle_frame(struct sk_buff **pskb)
{
	struct sk_buff *skb = *pskb;
	struct vr_port *port = rcu_dereference(skb->dev->rx_handler_data);
	unsigned int mac_off;

	if (unlikely(skb->pkt_type == PACKET_LOOPBACK) || !port)
		return RX_HANDLER_PASS;
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb)
		return RX_HANDLER_CONSUMED;
	*pskb = skb;
	mac_off = skb->data - skb_mac_header(skb);
	__skb_push(skb, mac_off);
	if (vr_receive(port->slot, skb, READ_ONCE(port->type) == DP_IF_FABRIC))
		return RX_HANDLER_CONSUMED;
	/* Not ours: restore the stack's view (the head may have moved). */
	__skb_pull(skb, mac_off);
	return RX_HANDLER_PASS;
}

/* ---- ports ---- */

static struct vr_port *vr_port_get(u32 slot)
{
	return rcu_dereference_protected(vr.ports[slot], lockdep_rtnl_is_held());
}

/*
 * Binds 'slot' to the device 'name' in 'net': an existing Ethernet device is
 * attached with an rx_handler; for a VM or agent port a missing one is
 * created as a vif. Caller holds RTNL; the port is not yet published.
 */
static int vr_port_bind(struct net *net, u32 slot, const struct dp_if *i,
			const char *name, struct vr_port **out)
{
	struct vr_vif_priv *priv;
	struct vr_port *port;
	struct net_device *dev;
	int err;

	port = kzalloc(sizeof(*port), GFP_KERNEL);
	if (!port)
		return -ENOMEM;
	port->slot = slot;
	port->type = i->type;
	dev = __dev_get_by_name(net, name);
	if (dev) {
		if (dev->netdev_ops == &vr_vif_ops || dev->type != ARPHRD_ETHER ||
		    (dev->flags & IFF_LOOPBACK)) {
			err = -EINVAL;
			goto free_port;
		}
		err = netdev_rx_handler_register(dev, vr_handle_frame, port);
		if (err)
			goto free_port;
		dev_hold(dev);
	} else {
		err = -ENODEV;
		if (i->type != DP_IF_VM && i->type != DP_IF_AGENT)
			goto free_port;
		err = -ENOMEM;
		dev = alloc_netdev(sizeof(*priv), name, NET_NAME_USER,
				   vr_vif_setup);
		if (!dev)
			goto free_port;
		priv = netdev_priv(dev);
		priv->slot = slot;
		if (is_valid_ether_addr(i->mac))
			eth_hw_addr_set(dev, i->mac);
		else
			eth_hw_addr_random(dev);
		dev_net_set(dev, net);
		err = register_netdevice(dev);
		if (err) {
			free_netdev(dev);
			goto free_port;
		}
		port->created = true;
	}
	port->dev = dev;
	*out = port;
	return 0;
free_port:
	kfree(port);
	return err;
}

/* Releases the device of an unpublished port; caller holds RTNL. */
static void vr_port_unbind(struct vr_port *port)
{
	if (port->created) {
		unregister_netdevice(port->dev);
	} else {
		netdev_rx_handler_unregister(port->dev);
		dev_put(port->dev);
	}
	kfree_rcu(port, rcu);
}

/* Unpublishes and releases the port of 'slot', if any; caller holds RTNL. */
static void vr_port_drop(u32 slot)
{
	struct vr_port *port = vr_port_get(slot);

	if (!port)
		return;
	RCU_INIT_POINTER(vr.ports[slot], NULL);
	synchronize_net();
	vr_port_unbind(port);
}

int vr_port_set(struct net *net, const struct vr_msg_if *m)
{
	const struct dp_if *i = &m->dpif;
	struct vr_port *port = NULL;
	int code = 0;

	if (i->ifindex >= vr.nslots)
		return VR_ERANGE;
	rtnl_lock();
	port = vr_port_get(i->ifindex);
	if (port && m->name[0] && !strcmp(port->dev->name, m->name)) {
		/* The same device: only the core entry changed. */
		WRITE_ONCE(port->type, i->type);
		goto unlock;
	}
	vr_port_drop(i->ifindex);
	if (!m->name[0])
		goto unlock;
	code = vr_port_bind(net, i->ifindex, i, m->name, &port);
	if (!code)
		rcu_assign_pointer(vr.ports[i->ifindex], port);
unlock:
	rtnl_unlock();
	return code;
}

void vr_port_name(u32 slot, char *name)
{
	struct vr_port *port;

	name[0] = 0;
	if (slot >= vr.nslots)
		return;
	rtnl_lock();
	port = vr_port_get(slot);
	if (port)
		strscpy(name, port->dev->name, IFNAMSIZ);
	rtnl_unlock();
}

void vr_port_reconcile(void)
{
	struct dp_if i;
	u32 slot;

	rtnl_lock();
	for (slot = 0; slot < vr.nslots; slot++) {
		if (rcu_access_pointer(vr.ports[slot]) &&
		    dp_if_get(vr.dp, slot, &i))
			vr_port_drop(slot);
	}
	rtnl_unlock();
}

/* An attached device going away takes its core interface with it. */
static int vr_netdev_event(struct notifier_block *nb, unsigned long event,
			   void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct vr_port *port;
	u32 slot;

	/* A move to another namespace also says UNREGISTER: ports follow. */
	if (event != NETDEV_UNREGISTER || dev->reg_state != NETREG_UNREGISTERING)
		return NOTIFY_DONE;
	for (slot = 0; slot < vr.nslots; slot++) {
		port = vr_port_get(slot);
		if (!port || port->dev != dev)
			continue;
		if (dp_if_del(vr.dp, slot))
			pr_warn("slot %u had no core interface\n", slot);
		if (port->created) {
			/* Already being unregistered: just forget it. */
			RCU_INIT_POINTER(vr.ports[slot], NULL);
			kfree_rcu(port, rcu);
		} else {
			vr_port_drop(slot);
		}
	}
	return NOTIFY_DONE;
}

static struct notifier_block vr_netdev_notifier = {
	.notifier_call = vr_netdev_event,
};

static void vr_age(struct work_struct *work)
{
	u32 n = dp_flow_age(vr.dp, vr_now_ms(), READ_ONCE(flow_idle_ms));

	if (n)
		pr_debug("aged %u flows\n", n);
	schedule_delayed_work(&vr_age_work, HZ);
}

static int __init vr_init(void)
{
	struct dp_config cfg;
	int code, err;

	dp_config_default(&cfg);
	cfg.ifs = ifs;
	cfg.vrfs = vrfs;
	cfg.nhs = nhs;
	cfg.labels = labels;
	cfg.routes = routes;
	cfg.lpm_nodes = lpm_nodes;
	cfg.flows = flows;
	cfg.composites = min_t(uint, cfg.composites, nhs);
	cfg.vnis = min_t(uint, cfg.vnis, nhs);
	cfg.bridge = min_t(uint, cfg.bridge, routes);
	cfg.flow_overflow = min_t(uint, cfg.flow_overflow, flows);
	code = dp_create(&cfg, &vr.dp);
	if (code) {
		pr_err("dp_create: %s\n", vr_strerror(code));
		return code == VR_ENOMEM ? -ENOMEM : -EINVAL;
	}
	vr.nslots = cfg.ifs;
	vr.ports = kvcalloc(vr.nslots, sizeof(*vr.ports), GFP_KERNEL);
	vr.outs = alloc_percpu(struct dp_out);
	err = -ENOMEM;
	if (!vr.ports || !vr.outs)
		goto free_tables;
	err = register_netdevice_notifier(&vr_netdev_notifier);
	if (err)
		goto free_tables;
	err = vr_genl_init();
	if (err)
		goto unregister_notifier;
	INIT_DELAYED_WORK(&vr_age_work, vr_age);
	schedule_delayed_work(&vr_age_work, HZ);
	pr_info("loaded: %u interface slots, %u VRFs, %u next hops\n",
		cfg.ifs, cfg.vrfs, cfg.nhs);
	return 0;
unregister_notifier:
	unregister_netdevice_notifier(&vr_netdev_notifier);
free_tables:
	free_percpu(vr.outs);
	kvfree(vr.ports);
	dp_free(vr.dp);
	return err;
}

static void __exit vr_exit(void)
{
	u32 slot;

	vr_genl_exit();
	cancel_delayed_work_sync(&vr_age_work);
	unregister_netdevice_notifier(&vr_netdev_notifier);
	rtnl_lock();
	for (slot = 0; slot < vr.nslots; slot++)
		vr_port_drop(slot);
	rtnl_unlock();
	rcu_barrier();
	free_percpu(vr.outs);
	kvfree(vr.ports);
	dp_free(vr.dp);
}

module_init(vr_init);
module_exit(vr_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Strata vRouter forwarding plane");

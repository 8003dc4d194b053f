#!/bin/sh
# /init of the kernel module test initramfs (busybox): loads veth, vxlan and
# strata_vr, builds the topology (fabric veth fab0 <-> und0 with und0 in an
# "underlay" namespace, two VM namespaces), runs the byte-exact vectors of
# kvr_test, pings between the VM namespaces through the module, over the
# fabric's pass-through and to the kernel's own VXLAN, unloads the module,
# prints one KVR-RESULT line and powers off.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
echo 1 > /proc/sys/net/core/devconf_inherit_init_net 2>/dev/null

fails=0
pass() { echo "PASS kmod_$1"; }
fail() { echo "FAIL kmod_$1"; fails=$((fails + 1)); }
finish() {
	if [ "$fails" -eq 0 ]; then echo "KVR-RESULT: PASS"; else echo "KVR-RESULT: FAIL ($fails)"; fi
	poweroff -f
}

for m in veth udp_tunnel ip6_udp_tunnel vxlan; do insmod /$m.ko || fail insmod_$m; done
if insmod /strata_vr.ko ifs=16 vrfs=8 nhs=64 labels=1024 routes=64 lpm_nodes=128 flows=64; then
	pass insmod
else
	fail insmod
	finish
fi

# busybox ip ignores "peer name": the peer comes up as veth0.
ip link add fab0 type veth
ip link set veth0 name und0
ip link set fab0 address 02:00:00:00:00:01
ip link set und0 address 02:00:00:00:00:fe
unshare -n sleep 600 & U=$!
unshare -n sleep 600 & A=$!
unshare -n sleep 600 & B=$!
# Wait (bounded) until each helper process is inside its new namespace.
self_ns=$(readlink /proc/self/ns/net)
for p in $U $A $B; do
	n=0
	while [ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$self_ns" ] || [ -z "$(readlink /proc/$p/ns/net 2>/dev/null)" ]; do
		n=$((n + 1))
		[ $n -gt 200 ] && { echo "FAIL namespaces: $p never left the initial namespace"; break; }
		sleep 0.05
	done
done
ip link set und0 netns "$U"
ip link set fab0 up
nsenter -t "$U" -n ip link set und0 up
for p in $U $A $B; do
	nsenter -t "$p" -n sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; ip link set lo up'
done

timeout 120 /kvr_test /proc/$U/ns/net /proc/$A/ns/net /proc/$B/ns/net || fails=$((fails + 1))

# The kernel's own stacks in the VM namespaces talk through the module.
nsenter -t "$A" -n sh -c 'ip addr add 192.168.1.10/32 dev vifA &&
	ip route add 192.168.1.1 dev vifA && ip route add default via 192.168.1.1 &&
	arp -s 192.168.1.1 00:00:5e:00:01:00'
nsenter -t "$B" -n sh -c 'ip addr add 192.168.1.20/32 dev vifB &&
	ip route add 192.168.1.1 dev vifB && ip route add default via 192.168.1.1 &&
	arp -s 192.168.1.1 00:00:5e:00:01:00'
if nsenter -t "$A" -n ping -c 3 -i 0.2 -W 2 192.168.1.20; then pass ping_vm_a_to_vm_b; else fail ping_vm_a_to_vm_b; fi

# Non-tunnel traffic on the fabric reaches the host stack (ARP and ICMP).
ip addr add 10.0.0.1/24 dev fab0
nsenter -t "$U" -n ip addr add 10.0.0.2/24 dev und0
if nsenter -t "$U" -n ping -c 2 -i 0.2 -W 2 10.0.0.1; then pass fabric_passthrough; else fail fabric_passthrough; fi

# Interop: the kernel's own VXLAN device in the underlay namespace plays the
# remote compute node (VNI 5000, MAC 02:dd:00:00:00:0d, 172.18.1.1); VM A
# reaches it through the module's VXLAN encapsulation and its replies come
# back through the module's decapsulation and routing.
if nsenter -t "$U" -n sh -c '/kvr_test vxlan-peer && ip link set vx0 up &&
	ip addr add 172.18.1.1/16 dev vx0 && ip route add 192.168.1.0/24 dev vx0 &&
	arp -s 192.168.1.10 00:00:5e:00:01:00 -i vx0' &&
	nsenter -t "$A" -n ping -c 3 -i 0.2 -W 2 172.18.1.1; then
	pass ping_vm_a_to_kernel_vxlan
else
	fail ping_vm_a_to_kernel_vxlan
fi
# TCP both ways (1 MiB): full-size segments need the vif's reduced MTU on
# the way out and the segmentation of the peer's UDP-tunnel GSO on the way in.
tcp() { # name, sink namespace, source namespace, destination
	nsenter -t "$2" -n /kvr_test tcp-sink 5001 1048576 & sink=$!
	# Wait (bounded) until the sink listens: port 5001 = 0x1389, state 0A.
	n=0
	until nsenter -t "$2" -n cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':1389 [0-9A-F:]* 0A'; do
		n=$((n + 1))
		[ $n -gt 200 ] && break
		sleep 0.05
	done
	nsenter -t "$3" -n /kvr_test tcp-source "$4" 5001 1048576
	if wait "$sink"; then pass "$1"; else fail "$1"; fi
}
tcp tcp_vm_a_to_kernel_vxlan "$U" "$A" 172.18.1.1
tcp tcp_kernel_vxlan_to_vm_a "$A" "$U" 192.168.1.10
tcp tcp_vm_b_to_vm_a "$A" "$B" 192.168.1.10

kill "$U" "$A" "$B"
wait 2>/dev/null
if rmmod strata_vr; then pass rmmod; else fail rmmod; fi
if dmesg | grep -E 'BUG:|WARNING:|Oops|scheduling while atomic|refcount_t' ; then fail kernel_clean; else pass kernel_clean; fi
finish

#!/bin/bash
# e2e of floating IPs (issue #9 item 3, evidence "a floating IP reachable
# from an external VN"): REST intent on a three-node controller to NAT'ed
# packets between VMs on two compute nodes. The set-up is the slice's
# (tests/e2e/slice/slice_lib.sh): three `stratad run` nodes
# (tests/e2e/lib/cluster.sh), compute namespaces A and B with
# strata-vrouter and strata-agent reaching the nodes' XMPP ports through
# tests/e2e/slice/uxfwd.py, three VM namespaces on veth ports bound with
# `strata-agent ctl port bind UUID tap=IF`.
#
# Intent: project s, network red 10.10.1.0/24 and an external network ext
# 10.10.3.0/24 with a floating-ip-pool; no network policy at all. v1 (red)
# on A holds floating IP 10.10.3.100 from ext's pool; v2 (ext) on B and v3
# (ext) on A are external VMs. Asserted:
#   1. agent A gives v1 the floating IP from the config alone (`ports`:
#      fip=ADDR@INSTANCE), agent B has the floating address's route in
#      ext's instance (published by A with v1's label);
#   2. v2 (other compute node) pings the floating address: the replies come
#      from the floating address (ping's output), v1 sees the requests
#      DNAT'ed to its fixed address (tshark in v1);
#   3. v1 pings v2: v2 sees the floating address as the source (tshark in
#      v2); a TCP connection v1 -> v2 works (SNAT with port checksums);
#   4. v3 (ext, same compute node as v1) pings the floating address, and v1
#      pings v3 (the local NAT path: punted in the pool's VRF);
#   5. agent A counts the NAT flows and lists each pair (the reverse of a
#      DNAT pair is keyed on the fixed address, of an SNAT pair on the
#      floating one);
#   6. agent A, cut off from both control nodes, is restarted: the
#      floating IP comes back from its state file (headless) and v2's
#      pings to the floating address are answered again;
#   7. the floating IP is deleted through the API: A's port loses it, B's
#      route is withdrawn, pings to the floating address fail.
# Usage: fip_e2e.sh STRATAD STRATACTL STRATA_AGENT STRATA_VROUTER
# Exit 77 (skip) when not root or without namespaces, jq or python3.
set -u
stratad=$1 stratactl=$2 AGENT=$3 VROUTER=$4
t0=$SECONDS

. "$(dirname "$0")/../lib/netns.sh"
command -v jq >/dev/null && command -v python3 >/dev/null || { echo "SKIP: jq and python3 are needed"; exit 77; }
e2e_setup fip-e2e ping busybox tshark
work=$WORK
SLICE_NS=fp SLICE_VMS=3
. "$(dirname "$0")/../slice/slice_lib.sh"
. "$(dirname "$0")/../slice/slice_test.sh"

# ---- the controller ----
slice_pki && slice_controller || die "controller"
ok "three controller nodes started"

slice_bgp || die "cluster AS and bgp-routers"
api 1 project create s --parent default-domain >/dev/null || die "project"
slice_mk network-ipam '{"network-ipam": {"fq_name": ["default-domain", "s", "ipam"], "parent_type": "project"}}' || die "ipam"
ipam=$(field network-ipam default-domain:s:ipam .uuid)
for vn in red:1 ext:3; do
    slice_mk virtual-network '{"virtual-network": {"fq_name": ["default-domain", "s", "'${vn%:*}'"], "parent_type": "project",
      "network_ipam_refs": [{"uuid": "'"$ipam"'", "attr": {"ipam_subnets": [{"subnet": {"ip_prefix": "10.10.'${vn#*:}'.0",
      "ip_prefix_len": 24}}]}}]}}' || die "network ${vn%:*}"
done
ext=$(field virtual-network default-domain:s:ext .uuid)
slice_mk floating-ip-pool '{"floating-ip-pool": {"fq_name": ["default-domain", "s", "ext", "pool"],
  "parent_type": "virtual-network", "parent_uuid": "'"$ext"'"}}' || die "pool"
pool=$(field floating-ip-pool default-domain:s:ext:pool .uuid)
NETS=(x red ext ext)
for i in 1 2 3; do
    vn=${NETS[$i]}
    slice_mk virtual-machine '{"virtual-machine": {"fq_name": ["fip-vm'$i'"]}}' &&
        slice_mk virtual-machine-interface '{"virtual-machine-interface": {"fq_name": ["default-domain", "s", "port'$i'"],
      "parent_type": "project", "virtual_network_refs": [{"to": ["default-domain", "s", "'$vn'"]}],
      "virtual_machine_refs": [{"to": ["fip-vm'$i'"]}]}}' || die "port $i"
    slice_mk instance-ip '{"instance-ip": {"fq_name": ["fip-ip'$i'"], "virtual_network_refs": [{"to": ["default-domain", "s", "'$vn'"]}],
      "virtual_machine_interface_refs": [{"uuid": "'"$(field virtual-machine-interface default-domain:s:port$i .uuid)"'"}]}}' &&
        slice_port_info $i port$i fip-ip$i || die "port $i"
done
FIP=10.10.3.100
slice_mk floating-ip '{"floating-ip": {"fq_name": ["default-domain", "s", "ext", "pool", "f1"],
  "parent_type": "floating-ip-pool", "parent_uuid": "'"$pool"'", "floating_ip_address": "'$FIP'",
  "virtual_machine_interface_refs": [{"uuid": "'"${UUID[1]}"'"}]}}' || die "floating IP"
slice_mk virtual-router '{"virtual-router": {"fq_name": ["default-global-system-config", "compute-a"],
  "virtual_router_ip_address": "10.99.0.1", "virtual_machine_refs": [{"to": ["fip-vm1"]}, {"to": ["fip-vm3"]}]}}' &&
    slice_mk virtual-router '{"virtual-router": {"fq_name": ["default-global-system-config", "compute-b"],
  "virtual_router_ip_address": "10.99.0.2", "virtual_machine_refs": [{"to": ["fip-vm2"]}]}}' || die "virtual routers"
ok "intent: red and ext with a floating-ip-pool, 3 ports (${IP[*]}), floating IP $FIP -> v1, 2 virtual routers"

# ---- compute nodes ----
slice_fabric "${VNS[1]}" "${VNS[2]}" "${VNS[3]}" || die "compute nodes"
slice_vm 1 $CA && slice_vm 3 $CA && slice_vm 2 $CB || die "VM namespaces"
slice_up || die "control nodes"
slice_bind_port a 1 p1 && slice_bind_port a 3 p3 && slice_bind_port b 2 p2 || die "bind"
slice_wait_bound a 2 && slice_wait_bound b 1 || die "bindings"
ok "compute nodes up, ports bound"

# ---- 1. the floating IP from the config; its route on the other compute node ----
EXT_RI=default-domain:s:ext:ext RED_RI=default-domain:s:red:red
has_fip() { actl a ports | grep -q "^${UUID[1]} .* fip=$FIP@$EXT_RI"; }
wait_for 20 has_fip || { actl a ports; die "agent a: v1 has no floating IP $FIP"; }
actl a routes $EXT_RI | grep -q "^inet $FIP/32 local fip port=${UUID[1]} fixed=${IP[1]} " ||
    { actl a routes $EXT_RI; die "agent a: no local route of $FIP in ext"; }
wait_for 20 slice_routed b $EXT_RI $FIP || { actl b routes $EXT_RI; die "agent b lacks the floating address's route in ext"; }
wait_for 20 slice_routed a $EXT_RI ${IP[2]} || { actl a routes $EXT_RI; die "agent a lacks v2's route in ext"; }
ok "v1 holds $FIP (agent a), its route published in ext (agent b)"

# capture FILE NS FILTER: tshark on eth0 of NS in the background (pid in
# CAP), returns once it is capturing; capture_end stops it
capture() {
    in_ns $2 tshark -i eth0 -a duration:30 -f "$3" -w "$1" >"$1.log" 2>&1 &
    CAP=$!
    PIDS+=($CAP)
    wait_for 10 grep -q "Capturing on" "$1.log" || die "tshark did not start capturing: $(cat "$1.log")"
    sleep 0.2
}
capture_end() {
    sleep 0.3
    kill -TERM $CAP 2>/dev/null
    wait $CAP
}
count() { tshark -r "$1" -Y "$2" 2>/dev/null | wc -l; }
# ping_fip I WHEN: VM i pings the floating address 3 times; every reply comes from it
ping_fip() {
    local out
    out=$(in_ns ${VNS[$1]} ping -c 3 -i 0.2 -W 2 $FIP) || { echo "$out"; die "ping v$1 -> $FIP$2"; }
    echo "$out" | grep -q "bytes from $FIP:" || { echo "$out"; die "v$1: replies not from $FIP$2"; }
}
# ping_dnat PCAP WHEN: v2 pings the floating address (ping_fip) while v1
# captures into PCAP; v1 sees the 3 requests DNAT'ed to its fixed address
ping_dnat() {
    local n
    capture "$1" ${VNS[1]} icmp
    ping_fip 2 "$2"
    capture_end
    n=$(count "$1" "icmp.type == 8 && ip.src == ${IP[2]} && ip.dst == ${IP[1]}")
    [ "$n" -ge 3 ] || die "v1 did not see v2's requests DNAT'ed to ${IP[1]}$2 ($n)"
}

# ---- 2. the external VM on B pings the floating address ----
ping_dnat "$work/v1-in.pcap" ""
n=$(count "$work/v1-in.pcap" "ip.dst == $FIP")
[ "$n" = 0 ] || die "v1 saw $n packets to the floating address itself"
ok "ext VM on the other compute node pings $FIP: replies from $FIP, v1 sees ${IP[2]} -> ${IP[1]}"

# ---- 3. v1 reaches the external VM with the floating source ----
capture "$work/v2-in.pcap" ${VNS[2]} "icmp or tcp port 7000"
in_ns ${VNS[1]} ping -c 3 -i 0.2 -W 2 ${IP[2]} >/dev/null || die "ping v1 (red) -> v2 (ext) through the floating IP"
in_ns ${VNS[2]} busybox nc -l -p 7000 >"$work/nc.out" 2>/dev/null &
ncp=$!
PIDS+=($ncp)
sleep 0.3
in_ns ${VNS[1]} timeout 5 bash -c "echo hello-from-v1 >/dev/tcp/${IP[2]}/7000" || die "TCP v1 -> v2:7000"
capture_end
wait_for 3 grep -q hello-from-v1 "$work/nc.out" || die "v2 did not receive v1's TCP data"
n=$(count "$work/v2-in.pcap" "icmp.type == 8 && ip.src == $FIP && ip.dst == ${IP[2]}")
[ "$n" -ge 3 ] || die "v2 did not see v1's requests from $FIP ($n)"
n=$(count "$work/v2-in.pcap" "tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.src == $FIP")
[ "$n" -ge 1 ] || die "v2 did not see v1's TCP SYN from $FIP"
n=$(count "$work/v2-in.pcap" "ip.src == ${IP[1]} || ip.dst == ${IP[1]}")
[ "$n" = 0 ] || die "v2 saw v1's fixed address ${IP[1]} ($n packets)"
ok "v1 -> v2: ping and TCP leave with source $FIP, ext never sees ${IP[1]}"

# ---- 4. the external VM on the same compute node ----
ping_fip 3 ""
capture "$work/v3-in.pcap" ${VNS[3]} icmp
in_ns ${VNS[1]} ping -c 3 -i 0.2 -W 2 ${IP[3]} >/dev/null || die "ping v1 -> v3 (ext, same compute node)"
capture_end
n=$(count "$work/v3-in.pcap" "icmp.type == 8 && ip.src == $FIP")
[ "$n" -ge 3 ] || die "v3 did not see v1's requests from $FIP ($n)"
ok "ext VM on v1's compute node: pings $FIP and is reached from $FIP"

# ---- 5. the flows ----
nat=$(actl a status | sed -n 's/.* nat \([0-9]*\) fips \([0-9]*\).*/\1 \2/p')
set -- $nat
# three NAT pairs: v2 -> FIP (its reverse carries v1's pings to v2), v1 -> v2
# tcp/7000 (SNAT), v3 -> FIP (its reverse carries v1's pings to v3)
[ "${1:-0}" -ge 3 ] && [ "${2:-0}" = 1 ] || { actl a status; die "agent a: nat flows ${1:-?}, fips ${2:-?}"; }
actl a flows | grep -q "proto=1 ${IP[2]}:0 > $FIP:0 forward" || { actl a flows; die "A lists no flow v2 -> $FIP"; }
actl a flows | grep -q "proto=1 ${IP[1]}:0 > ${IP[2]}:0 reverse" || { actl a flows; die "A lists no reverse v1 -> v2"; }
actl a flows | grep -q "proto=6 ${IP[1]}:[0-9]* > ${IP[2]}:7000 forward" || { actl a flows; die "A lists no flow v1 -> v2:7000"; }
actl a flows | grep -q "proto=6 ${IP[2]}:7000 > $FIP:[0-9]* reverse" || { actl a flows; die "A lists no reverse v2:7000 -> $FIP"; }
echo "--- agent a flows"
actl a flows | grep -v "^ok$"
ok "agent a: $1 NAT flows, the pairs listed"

# ---- 6. agent A restarted headless: the floating IP from its state file ----
grep -q "^fip ${UUID[1]} $FIP $EXT_RI default-domain:s:ext vrf=[0-9]*$" "$work/state-a/agent.state" ||
    { cat "$work/state-a/agent.state"; die "agent a's state file lacks the floating IP"; }
kill ${RELAY[a]}
wait ${RELAY[a]} 2>/dev/null
down() { actl a status | grep -q "^node0 .* down " && actl a status | grep -q "^node1 .* down "; }
wait_for 20 down || { actl a status; die "agent a: control nodes not lost"; }
kill -TERM ${DPID[a]}
wait ${DPID[a]}
slice_agent $CA a 10.99.0.1 || die "agent a did not restart"
wait_for 10 has_fip || { actl a ports; die "restarted agent a (headless): v1 has no floating IP"; }
actl a status | grep -q "^node0 .* down " || die "agent a is not headless"
ping_dnat "$work/v1-restart.pcap" " after agent a's headless restart"
slice_relays $CA a
wait_for 20 slice_both_up a || die "agent a: control nodes not back"
ok "agent a restarted headless: v1's floating IP from the state file, $FIP answers; control nodes back"

# ---- 7. the floating IP goes ----
api 1 floating-ip delete default-domain:s:ext:pool:f1 >/dev/null || die "delete the floating IP"
no_fip() { ! actl a ports | grep -q "fip="; }
wait_for 20 no_fip || { actl a ports; die "agent a: v1 keeps the floating IP"; }
unrouted() { ! slice_routed b $EXT_RI $FIP; }
wait_for 20 unrouted || { actl b routes $EXT_RI; die "agent b keeps the floating address's route"; }
in_ns ${VNS[2]} ping -c 2 -i 0.2 -W 1 $FIP >/dev/null 2>&1 && die "v2 still reaches $FIP after the delete"
in_ns ${VNS[1]} ping -c 2 -i 0.2 -W 1 ${IP[2]} >/dev/null 2>&1 && die "v1 still reaches v2 after the delete"
ok "floating IP deleted: agent a drops it, agent b's route withdrawn, no more traffic"

slice_stop

[ $FAILS = 0 ] || exit 1
echo "PASS fip ($((SECONDS - t0)) s)"

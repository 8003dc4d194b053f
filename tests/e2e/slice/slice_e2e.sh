#!/bin/bash
# e2e of the whole slice (issue #9): REST intent on a three-node controller
# to packets between VMs on two compute nodes.
#
#   n1..n3: `stratad run` (store, config, control) on 127.0.0.1-3
#     (tests/e2e/lib/cluster.sh); everything is made through stratactl
#   A, B: compute namespaces, each with strata-vrouter and strata-agent
#     (certificates from `stratad init --agent`), attached to n1 and n2;
#     the agents reach the nodes' XMPP ports through uxfwd.py (a unix
#     socket between the compute namespace's loopback and the root one's,
#     so the address the nodes' certificates name stays 127.0.0.N)
#   v1 (red) and v3 (blue) on A, v2 (red) and v4 (blue) on B: VM
#     namespaces on veth ports, bound with `strata-agent ctl port bind
#     UUID tap=IF` (the hypervisor hook: the interface's uuid and device)
#
# Intent: project s, networks red 10.10.1.0/24 and blue 10.10.2.0/24, a
# policy passing icmp between them (both ways), four machines with a port
# and an instance-ip each, virtual routers compute-a (v1, v3) and
# compute-b (v2, v4). Asserted:
#   1. each agent builds its two ports from the controller's config alone
#      (bindings bound; MAC, address, gateway as the API assigned them);
#   2. ping within red across the compute nodes (v1 -> v2);
#   3. ping across networks under the policy (v1 -> v4, v3 -> v2);
#   4. TCP within red passes (v1 -> v2); TCP red -> blue is not in the
#      policy: dropped by agent A's flow decision (connect times out,
#      `status` counts a denied flow, `flows` lists its drop entry);
#   5. the flows listed by both agents.
# Usage: slice_e2e.sh STRATAD STRATACTL STRATA_AGENT STRATA_VROUTER
# Exit 77 (skip) when not root or without namespaces, jq or python3.
set -u
stratad=$1 stratactl=$2 AGENT=$3 VROUTER=$4
FWD="$(dirname "$0")/uxfwd.py"
t0=$SECONDS

. "$(dirname "$0")/../lib/netns.sh"
command -v jq >/dev/null && command -v python3 >/dev/null || { echo "SKIP: jq and python3 are needed"; exit 77; }
e2e_setup slice-e2e ping busybox
work=$WORK
CA=slca-$ID CB=slcb-$ID
declare -a VNS=(x slv1-$ID slv2-$ID slv3-$ID slv4-$ID)
e2e_first_ns $CA
set -e
e2e_add_ns $CA $CB "${VNS[1]}" "${VNS[2]}" "${VNS[3]}" "${VNS[4]}"
e2e_underlay $CA $CB
set +e
ok() { echo "ok $((SECONDS - t0))s: $*"; }
die() {
    fail "$*"
    for n in a b; do echo "--- agent-$n.log" >&2; tail -15 "$work/agent-$n.log" >&2; done
    exit 1
}

# ---- the controller ----
port=$((9700 + (RANDOM % 60) * 8))
api_port=$((port + 2)) bgp_port=$((port + 3)) xmpp_port=$((port + 4))
pids=()
"$stratad" init --pki "$work/pki" --node n1=127.0.0.1 --node n2=127.0.0.2 --node n3=127.0.0.3 \
    --agent compute-a --agent compute-b >/dev/null || die "stratad init"
. "$(dirname "$0")/../lib/cluster.sh"
e2e_cluster_start store config control
PIDS+=("${pids[1]}" "${pids[2]}" "${pids[3]}")
e2e_cluster_token
ok "three controller nodes started"

mk() { # TYPE JSON
    local f="$work/body.$RANDOM.json"
    printf '%s' "$2" >"$f"
    api 1 "$1" create -f "$f" >/dev/null || { api 1 "$1" create -f "$f" >&2; die "create $1: $2"; }
}
field() { # TYPE FQ JQ
    api 1 -o json "$1" show "$2" | jq -r "(.[\"$1\"] // .) | $3"
}
# the control role serves agents once its BGP speaker runs: an AS and a bgp-router per node
gsc=default-global-system-config
api 1 global-system-config update $gsc autonomous_system=64512 >/dev/null || die "cluster AS"
for i in 1 2 3; do
    api 1 bgp-router create "n$i" --parent $gsc bgp_router_parameters.router_type=control-node \
        bgp_router_parameters.address=127.0.0.$i bgp_router_parameters.identifier=127.0.0.$i \
        bgp_router_parameters.port=$bgp_port >/dev/null || die "bgp-router n$i"
done
api 1 project create s --parent default-domain >/dev/null || die "project"
mk network-ipam '{"network-ipam": {"fq_name": ["default-domain", "s", "ipam"], "parent_type": "project"}}'
ipam=$(field network-ipam default-domain:s:ipam .uuid)
mk network-policy '{"network-policy": {"fq_name": ["default-domain", "s", "red-blue"], "parent_type": "project",
  "network_policy_entries": {"policy_rule": [{"direction": "<>", "protocol": "icmp",
    "src_addresses": [{"virtual_network": "default-domain:s:red"}],
    "dst_addresses": [{"virtual_network": "default-domain:s:blue"}],
    "action_list": {"simple_action": "pass"}}]}}}'
for vn in red:1 blue:2; do
    mk virtual-network '{"virtual-network": {"fq_name": ["default-domain", "s", "'${vn%:*}'"], "parent_type": "project",
      "network_ipam_refs": [{"uuid": "'"$ipam"'", "attr": {"ipam_subnets": [{"subnet": {"ip_prefix": "10.10.'${vn#*:}'.0",
      "ip_prefix_len": 24}}]}}],
      "network_policy_refs": [{"to": ["default-domain", "s", "red-blue"], "attr": {"sequence": {"major": 0, "minor": 0}}}]}}'
done
declare -a UUID MAC IP
for i in 1 2 3 4; do
    vn=red
    [ $i -ge 3 ] && vn=blue
    mk virtual-machine '{"virtual-machine": {"fq_name": ["slice-vm'$i'"]}}'
    mk virtual-machine-interface '{"virtual-machine-interface": {"fq_name": ["default-domain", "s", "port'$i'"],
      "parent_type": "project", "virtual_network_refs": [{"to": ["default-domain", "s", "'$vn'"]}],
      "virtual_machine_refs": [{"to": ["slice-vm'$i'"]}]}}'
    UUID[$i]=$(field virtual-machine-interface default-domain:s:port$i .uuid)
    MAC[$i]=$(field virtual-machine-interface default-domain:s:port$i '.virtual_machine_interface_mac_addresses.mac_address[0]')
    mk instance-ip '{"instance-ip": {"fq_name": ["slice-ip'$i'"], "virtual_network_refs": [{"to": ["default-domain", "s", "'$vn'"]}],
      "virtual_machine_interface_refs": [{"uuid": "'"${UUID[$i]}"'"}]}}'
    IP[$i]=$(field instance-ip slice-ip$i .instance_ip_address)
    [ -n "${IP[$i]}" ] && [ "${IP[$i]}" != null ] && [ "${MAC[$i]}" != null ] || die "port $i: ip ${IP[$i]} mac ${MAC[$i]}"
done
mk virtual-router '{"virtual-router": {"fq_name": ["default-global-system-config", "compute-a"],
  "virtual_router_ip_address": "10.99.0.1", "virtual_machine_refs": [{"to": ["slice-vm1"]}, {"to": ["slice-vm3"]}]}}'
mk virtual-router '{"virtual-router": {"fq_name": ["default-global-system-config", "compute-b"],
  "virtual_router_ip_address": "10.99.0.2", "virtual_machine_refs": [{"to": ["slice-vm2"]}, {"to": ["slice-vm4"]}]}}'
ok "intent: 2 networks, a policy, 4 ports (${IP[*]}), 2 virtual routers"

# ---- compute nodes ----
for n in 1 2; do
    python3 "$FWD" unix-to-tcp "$work/xmpp-$n.sock" 127.0.0.$n $xmpp_port &
    PIDS+=($!)
done
wait_for 5 test -S "$work/xmpp-2.sock" || die "forwarder did not start"
vm() { # I COMPUTENS
    local ns=${VNS[$1]} gw=10.10.$(( $1 >= 3 ? 2 : 1 )).1
    ip link add eth0 netns $ns type veth peer name p$1 netns $2 || return 1
    in_ns $ns ethtool -K eth0 tx off tso off gso off >/dev/null 2>&1
    in_ns $ns ip link set eth0 address ${MAC[$1]} &&
        in_ns $ns ip link set eth0 up && in_ns $2 ip link set p$1 up &&
        in_ns $ns ip addr add ${IP[$1]}/24 dev eth0 && in_ns $ns ip route add default via $gw
}
actl() { # a|b COMMAND...
    local n=$1
    shift
    "$AGENT" ctl --ctl "$work/agent-$n.ctl" "$@"
}
declare -A DPID
compute() { # NS NAME FABRIC
    local n
    for n in 1 2; do
        ip netns exec $1 python3 "$FWD" tcp-to-unix 127.0.0.$n $xmpp_port "$work/xmpp-$n.sock" &
        PIDS+=($!)
    done
    ip netns exec $1 "$VROUTER" -s "$work/vr-$2.sock" --flows 4096 --nhs 8192 --labels 4096 --routes 4096 \
        --ifs 64 --vrfs 64 --flow-idle-ms 3600000 >"$work/vr-$2.log" 2>&1 &
    PIDS+=($!)
    wait_for 5 test -S "$work/vr-$2.sock" || die "vrouter $2 did not start"
    ip netns exec $1 "$AGENT" --name compute-$2 --pki "$work/pki" --control 127.0.0.1:$xmpp_port \
        --control 127.0.0.2:$xmpp_port --vrouter-sock "$work/vr-$2.sock" --fabric-ip $3 \
        --state-dir "$work/state-$2" --ctl "$work/agent-$2.ctl" >"$work/agent-$2.log" 2>&1 &
    PIDS+=($!)
    DPID[$2]=$!
    wait_for 10 test -S "$work/agent-$2.ctl" || die "agent $2 did not start"
}
compute $CA a 10.99.0.1
compute $CB b 10.99.0.2
vm 1 $CA && vm 3 $CA && vm 2 $CB && vm 4 $CB || die "VM namespaces"
both_up() { actl $1 status | grep -q "^node0 .* up " && actl $1 status | grep -q "^node1 .* up "; }
wait_for 20 both_up a || die "agent a: control nodes not both up"
wait_for 20 both_up b || die "agent b: control nodes not both up"
ok "compute nodes up, agents attached to n1 and n2"

# ---- 1. ports from the config ----
actl a port bind ${UUID[1]} tap=p1 >/dev/null || die "bind v1"
actl a port bind ${UUID[3]} tap=p3 >/dev/null || die "bind v3"
actl b port bind ${UUID[2]} tap=p2 >/dev/null || die "bind v2"
actl b port bind ${UUID[4]} tap=p4 >/dev/null || die "bind v4"
bound() { [ "$(actl $1 bindings | grep -c " bound$")" = 2 ]; }
wait_for 20 bound a || { actl a bindings; die "agent a: bindings not bound"; }
wait_for 20 bound b || { actl b bindings; die "agent b: bindings not bound"; }
actl a ports | grep -q "^${UUID[1]} tap=p1 ri=default-domain:s:red:red mac=${MAC[1]} ip=${IP[1]}/24 gw=10.10.1.1 " ||
    { actl a ports; die "v1's port not as the config says"; }
ok "ports made from the controller's config (MAC, address, gateway, instance)"

# ---- 2./3. pings ----
routed() { actl $1 routes $2 | grep -q "^inet $3/32 .* nh=[1-9]"; }
wait_for 20 routed a default-domain:s:red:red ${IP[2]} || { actl a routes default-domain:s:red:red; die "A lacks v2's route"; }
in_ns ${VNS[1]} ping -c 3 -i 0.2 -W 2 ${IP[2]} >/dev/null || die "ping v1 -> v2 (red, across compute nodes)"
ok "ping within red, across compute nodes"
wait_for 20 routed a default-domain:s:red:red ${IP[4]} || { actl a routes default-domain:s:red:red; die "A lacks v4's (blue) route in red"; }
in_ns ${VNS[1]} ping -c 3 -i 0.2 -W 2 ${IP[4]} >/dev/null || die "ping v1 (red) -> v4 (blue), allowed by the policy"
in_ns ${VNS[3]} ping -c 3 -i 0.2 -W 2 ${IP[2]} >/dev/null || die "ping v3 (blue) -> v2 (red), allowed by the policy"
ok "ping across networks under the policy"

# ---- 4. TCP: within red passes, red -> blue is denied ----
in_ns ${VNS[2]} busybox nc -l -p 7000 >/dev/null 2>&1 &
PIDS+=($!)
in_ns ${VNS[4]} busybox nc -l -p 7000 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.3
in_ns ${VNS[1]} timeout 5 bash -c "exec 3<>/dev/tcp/${IP[2]}/7000" || die "TCP v1 -> v2 (within red) refused"
denied() { actl a status | sed -n 's/.* denied \([0-9]*\).*/\1/p'; }
before=$(denied)
in_ns ${VNS[1]} timeout 3 bash -c "exec 3<>/dev/tcp/${IP[4]}/7000" 2>/dev/null && die "TCP v1 (red) -> v4 (blue) got through"
after=$(denied)
[ "${after:-0}" -gt "${before:-0}" ] || die "agent a counted no denied flow ($before -> $after)"
actl a flows | grep -q "proto=6 ${IP[1]}:[0-9]* > ${IP[4]}:7000 drop" || { actl a flows; die "no drop flow for v1 -> v4 tcp/7000"; }
ok "TCP within red passes; red -> blue tcp/7000 dropped by policy (denied $before -> $after)"

# ---- 5. the flows ----
actl a flows | grep -q "proto=1 ${IP[1]}:0 > ${IP[4]}:0 forward" || { actl a flows; die "A lists no icmp flow v1 -> v4"; }
actl b flows | grep -q "proto=1 ${IP[1]}:0 > ${IP[4]}:0 forward" || { actl b flows; die "B lists no icmp flow v1 -> v4"; }
echo "--- agent a flows"
actl a flows | grep -v "^ok$"
ok "flows listed"

# ---- 6. encapsulation priorities through the API (once the control role sends them) ----
# The agents take the order from the global-vrouter-config node of their
# config when the control role sends it (rules version >= 3); before that
# they keep --encap and this part is skipped.
fabric_count() { # FILTER: packets on A's fabric veth while v1 pings v2
    local f="$work/cap.$RANDOM" n
    in_ns $CA tshark -i ua -a duration:3 -f "$1" -w "$f" >/dev/null 2>&1 &
    local tp=$!
    sleep 1
    in_ns ${VNS[1]} ping -c 5 -i 0.2 -W 1 ${IP[2]} >/dev/null
    wait $tp
    n=$(tshark -r "$f" 2>/dev/null | wc -l)
    echo "${n:-0}"
}
if actl a status | grep -q "^config .* encap .* (config)$"; then
    [ "$(fabric_count 'udp port 6635')" -ge 5 ] || fail "default order: v1 -> v2 not over MPLSoUDP"
    gvc=default-global-system-config:default-global-vrouter-config
    printf '%s' '{"global-vrouter-config": {"encapsulation_priorities": {"encapsulation": ["MPLSoGRE", "MPLSoUDP", "VXLAN"]}}}' \
        >"$work/gvc.json"
    api 1 global-vrouter-config update $gvc -f "$work/gvc.json" >/dev/null || die "PUT encapsulation priorities"
    gre_first() { actl $1 status | grep -q "encap mplsgre,mplsudp,vxlan (config)$"; }
    wait_for 15 gre_first a || die "agent a did not take the new encapsulation order"
    wait_for 15 gre_first b || die "agent b did not take the new encapsulation order"
    gre=$(fabric_count 'ip proto 47')
    [ "$gre" -ge 5 ] || die "after the PUT, v1 -> v2 not over MPLSoGRE ($gre GRE packets)"
    ok "encapsulation priorities through the API: MPLSoUDP, then MPLSoGRE on the fabric ($gre packets)"
else
    echo "skip: no global-vrouter-config node in the agents' config yet (encapsulation from --encap;" \
        "cluster version $(api 1 cluster version 2>&1 | tr '\n' ' '))"
    actl a status | grep "^config "
fi

# the agents stop cleanly (exit 0 on SIGTERM; no sanitizer report in an instrumented build)
for n in a b; do
    kill -TERM ${DPID[$n]}
    rc=0
    wait ${DPID[$n]} || rc=$?
    [ $rc = 0 ] || fail "agent $n: exit $rc after SIGTERM"
done
if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$work"/agent-*.log "$work"/n*.log; then
    fail "sanitizer report in a log"
fi

[ $FAILS = 0 ] || exit 1
echo "PASS slice ($((SECONDS - t0)) s)"

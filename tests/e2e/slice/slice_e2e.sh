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
#   5. the flows listed by both agents;
#   6. for each encapsulation put first through the API (MPLSoUDP, the
#      default, then MPLSoGRE, then VXLAN): pings within red and across to
#      blue and TCP within red, carried in it on the fabric (tshark).
# The set-up (controller, intent, compute and VM namespaces, bindings) is
# slice_lib.sh, shared with `make demo` (scripts/demo).
# Usage: slice_e2e.sh STRATAD STRATACTL STRATA_AGENT STRATA_VROUTER
# Exit 77 (skip) when not root or without namespaces, jq or python3.
set -u
stratad=$1 stratactl=$2 AGENT=$3 VROUTER=$4
t0=$SECONDS

. "$(dirname "$0")/../lib/netns.sh"
command -v jq >/dev/null && command -v python3 >/dev/null || { echo "SKIP: jq and python3 are needed"; exit 77; }
e2e_setup slice-e2e ping busybox
work=$WORK
. "$(dirname "$0")/slice_lib.sh"
. "$(dirname "$0")/slice_test.sh"

# ---- the controller, the intent, the compute nodes ----
slice_pki && slice_controller || die "controller"
ok "three controller nodes started"
slice_intent || die "intent"
ok "intent: 2 networks, a policy, 4 ports (${IP[*]}), 2 virtual routers"
slice_compute || die "compute nodes"
ok "compute nodes up, agents attached to n1 and n2"

# ---- 1. ports from the config ----
slice_bind || die "bind the ports"
actl a ports | grep -q "^${UUID[1]} tap=p1 ri=default-domain:s:red:red mac=${MAC[1]} ip=${IP[1]}/24 gw=10.10.1.1 " ||
    { actl a ports; die "v1's port not as the config says"; }
ok "ports made from the controller's config (MAC, address, gateway, instance)"

# ---- 2./3. pings ----
wait_for 20 slice_routed a default-domain:s:red:red ${IP[2]} || { actl a routes default-domain:s:red:red; die "A lacks v2's route"; }
in_ns ${VNS[1]} ping -c 3 -i 0.2 -W 2 ${IP[2]} >/dev/null || die "ping v1 -> v2 (red, across compute nodes)"
ok "ping within red, across compute nodes"
wait_for 20 slice_routed a default-domain:s:red:red ${IP[4]} || { actl a routes default-domain:s:red:red; die "A lacks v4's (blue) route in red"; }
in_ns ${VNS[1]} ping -c 3 -i 0.2 -W 2 ${IP[4]} >/dev/null || die "ping v1 (red) -> v4 (blue), allowed by the policy"
in_ns ${VNS[3]} ping -c 3 -i 0.2 -W 2 ${IP[2]} >/dev/null || die "ping v3 (blue) -> v2 (red), allowed by the policy"
ok "ping across networks under the policy"

# ---- 4. TCP: within red passes, red -> blue is denied ----
slice_listen 2 7000
slice_listen 4 7000
sleep 0.3
in_ns ${VNS[1]} timeout 5 bash -c "exec 3<>/dev/tcp/${IP[2]}/7000" || die "TCP v1 -> v2 (within red) refused"
before=$(slice_denied a)
in_ns ${VNS[1]} timeout 3 bash -c "exec 3<>/dev/tcp/${IP[4]}/7000" 2>/dev/null && die "TCP v1 (red) -> v4 (blue) got through"
after=$(slice_denied a)
[ "${after:-0}" -gt "${before:-0}" ] || die "agent a counted no denied flow ($before -> $after)"
actl a flows | grep -q "proto=6 ${IP[1]}:[0-9]* > ${IP[4]}:7000 drop" || { actl a flows; die "no drop flow for v1 -> v4 tcp/7000"; }
ok "TCP within red passes; red -> blue tcp/7000 dropped by policy (denied $before -> $after)"

# ---- 5. the flows ----
actl a flows | grep -q "proto=1 ${IP[1]}:0 > ${IP[4]}:0 forward" || { actl a flows; die "A lists no icmp flow v1 -> v4"; }
actl b flows | grep -q "proto=1 ${IP[1]}:0 > ${IP[4]}:0 forward" || { actl b flows; die "B lists no icmp flow v1 -> v4"; }
echo "--- agent a flows"
actl a flows | grep -v "^ok$"
ok "flows listed"

# ---- 6. each encapsulation, chosen through the API ----
# The agents take the order from the global-vrouter-config node of their
# config (compiler rules >= 3). For each order, the pings within red and
# across to blue and a TCP connection within red must cross A's fabric veth
# in the first encapsulation of the order (tshark's capture filter).
fabric_count() { # FILTER COMMAND...: packets matching FILTER on A's fabric veth while COMMAND runs; -1 when it fails
    local f="$work/cap.$RANDOM" filter=$1 n rc=0
    shift
    ip netns exec $CA tshark -i ua -f "$filter" -w "$f" >/dev/null 2>"$f.err" &
    local tp=$!
    # tshark takes seconds to start under load: send once it says it captures
    wait_for 20 grep -q "^Capturing on" "$f.err" || { kill $tp; wait $tp; echo 0; return; }
    "$@" >/dev/null 2>&1 || rc=1
    sleep 0.5
    kill -INT $tp
    wait $tp
    n=$(tshark -r "$f" 2>/dev/null | wc -l)
    [ $rc = 0 ] && echo "${n:-0}" || echo -1
}
tcp_port=7100
traffic() { # ping v1 -> v2 (red) and v1 -> v4 (blue), then TCP v1 -> v2 on a fresh listener
    in_ns ${VNS[1]} ping -c 3 -i 0.2 -W 2 ${IP[2]} && in_ns ${VNS[1]} ping -c 3 -i 0.2 -W 2 ${IP[4]} &&
        in_ns ${VNS[1]} timeout 5 bash -c "exec 3<>/dev/tcp/${IP[2]}/$tcp_port"
}
gvc=default-global-system-config:default-global-vrouter-config
set_order() { # the API names, first preferred
    local list
    list=$(printf '"%s",' "$@")
    printf '{"global-vrouter-config": {"encapsulation_priorities": {"encapsulation": [%s]}}}' "${list%,}" >"$work/gvc.json"
    # the compiler fills the defaults when no such object exists: create it then, else update it
    if api 1 global-vrouter-config show $gvc >/dev/null 2>&1; then
        api 1 global-vrouter-config update $gvc -f "$work/gvc.json" >/dev/null
    else
        api 1 global-vrouter-config create default-global-vrouter-config --parent default-global-system-config \
            -f "$work/gvc.json" >/dev/null
    fi
}
encap_round() { # AGENT-ORDER FILTER NAME: the agents use AGENT-ORDER, the traffic crosses in NAME
    local n
    took() { actl $1 status | grep -q "encap $2 (config)$"; }
    wait_for 15 took a $1 || die "agent a did not take the order $1"
    wait_for 15 took b $1 || die "agent b did not take the order $1"
    slice_listen 2 $tcp_port
    sleep 0.3
    n=$(fabric_count "$2" traffic)
    [ "$n" -ge 8 ] || die "$3: pings within and across networks and TCP within red ($n $3 packets on the fabric; -1: the traffic failed)"
    ok "$3 first: ping within red and across to blue, TCP within red ($n $3 packets on A's fabric)"
    tcp_port=$((tcp_port + 1))
}
actl a status | grep -q "^config .* encap .* (config)$" || {
    actl a status | grep "^config "
    die "the agents' config has no global-vrouter-config node (cluster version: $(api 1 cluster version 2>&1 | tr '\n' ' '))"
}
encap_round mplsudp,mplsgre,vxlan 'udp port 6635' MPLSoUDP
set_order MPLSoGRE MPLSoUDP VXLAN || die "PUT encapsulation priorities (MPLSoGRE first)"
encap_round mplsgre,mplsudp,vxlan 'ip proto 47' MPLSoGRE
set_order VXLAN MPLSoUDP MPLSoGRE || die "PUT encapsulation priorities (VXLAN first)"
encap_round vxlan,mplsudp,mplsgre 'udp port 4789' VXLAN

# the agents stop cleanly (exit 0 on SIGTERM; no sanitizer report in an instrumented build)
slice_stop

[ $FAILS = 0 ] || exit 1
echo "PASS slice ($((SECONDS - t0)) s)"

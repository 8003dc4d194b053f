# The whole slice's set-up, shared by the e2e test (slice_e2e.sh) and
# `make demo` (scripts/demo): three `stratad run` controller nodes on
# 127.0.0.1-3, the intent made through stratactl, two compute namespaces
# with strata-vrouter and strata-agent, four VM namespaces bound to them.
# Sourced after tests/e2e/lib/netns.sh's e2e_setup (root, $ID, $WORK, the
# exit trap that kills $PIDS and deletes $E2E_NS) by a script that sets
# $stratad, $stratactl, $AGENT, $VROUTER and work=$WORK.
#
#   slice_pki          certificates (`stratad init`: nodes n1..n3, agents
#                      compute-a/-b, client admin) in $work/pki
#   slice_controller   ports ($port raft, +1 store clients, +2 API, +3 BGP,
#                      +4 XMPP), the three supervisors (store, config,
#                      control; tests/e2e/lib/cluster.sh: $work/nI.json,
#                      pids[1..3], api I ...), the bootstrap token
#   slice_intent       through node 1's API: the cluster AS and a
#                      bgp-router per node (the control role's speaker
#                      needs them), project s, an IPAM, policy red-blue
#                      (icmp both ways), networks red 10.10.1.0/24 and blue
#                      10.10.2.0/24, machines slice-vm1..4 with a port and
#                      an instance-ip each (1, 2 red; 3, 4 blue), virtual
#                      routers compute-a (vm1, vm3) and compute-b (vm2,
#                      vm4); fills UUID[i], MAC[i], IP[i]
#   slice_compute      namespaces $CA, $CB (underlay 10.99.0.1/.2) and
#                      ${VNS[1..4]}; per compute node a strata-vrouter and a
#                      strata-agent attached to n1 and n2 (agent pid in
#                      DPID[a|b]); VM i's eth0 a veth to port pI; waits until
#                      both agents have both control nodes up
#   slice_bind         `strata-agent ctl port bind UUID tap=pI` for the four
#                      ports (the hypervisor hook); waits until bound
#   actl a|b CMD...    the agent's command socket
#   slice_routed a|b RI ADDR  the agent has a programmed route to ADDR/32
#   slice_denied a|b   the agent's count of denied flows
#   slice_listen I PORT  a TCP listener in VM i (killed at exit)
# With SLICE_SHOW=1 every command of the set-up is printed first
# ("$ stratactl ...") and its answer shown, with a '#' note per group (the
# demo's narration); else it is silent. Functions return 1 after a message on stderr.
#
# For a test with its own intent and machines (fip_e2e.sh, chain_e2e.sh),
# set before sourcing: SLICE_NS (the namespaces' prefix, default sl) and
# SLICE_VMS (how many VM namespaces in VNS, default 4); then the pieces:
#   slice_bgp          the cluster AS and the three bgp-routers (slice_intent's first step)
#   slice_mk TYPE JSON create through node 1's API from a JSON body
#   slice_port_info I PORT IIP  UUID[i], MAC[i] of port default-domain:s:PORT, IP[i] of instance-ip IIP
#   slice_fabric NS... the compute namespaces, the extra namespaces NS..., the
#                      relays, both compute nodes (slice_compute's first step)
#   slice_link NS IF I COMPUTE-NS TAP  a veth IF in NS with port i's MAC and address
#   slice_up           both agents have both control nodes up
#   slice_bind_port a|b I TAP, slice_wait_bound a|b N  bind one port; N bindings bound
#   slice_relays NS a|b, slice_agent NS a|b FABRIC-IP  (re)start one compute
#                      node's relays (pids in RELAY[a|b]) or agent (pid in DPID[a|b])
#   slice_stop         SIGTERM both agents: each exits 0, no sanitizer report in a log

SLICE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SLICE_FWD=$SLICE_DIR/uxfwd.py
SLICE_NS=${SLICE_NS:-sl}
CA=${SLICE_NS}ca-$ID CB=${SLICE_NS}cb-$ID
declare -a VNS=(x)
for ((slice_i = 1; slice_i <= ${SLICE_VMS:-4}; slice_i++)); do VNS+=("${SLICE_NS}v$slice_i-$ID"); done
unset slice_i
declare -a UUID MAC IP
declare -A DPID RELAY
. "$SLICE_DIR/../lib/cluster.sh"

slice_err() {
    echo "slice: $*" >&2
    return 1
}

# Prints ARGS as a shell command line: words with blanks or quotes in '...'.
slice_cmdline() {
    local w out=""
    for w in "$@"; do
        case $w in
        *[[:space:]\"\'\{\}\*\$\>\<\|\&\;]* | "") w="'$w'" ;;
        esac
        out+="${out:+ }$w"
    done
    printf '$ %s\n' "$out"
}

# sapi I ARGS...: stratactl ARGS against node I; shown with SLICE_SHOW=1.
sapi() {
    local i=$1 out rc=0
    shift
    [ "${SLICE_SHOW:-0}" = 1 ] && slice_cmdline stratactl "$@"
    out=$(api "$i" "$@" 2>&1) || rc=$?
    if [ "${SLICE_SHOW:-0}" = 1 ] || [ $rc != 0 ]; then
        [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/  /'
    fi
    [ $rc = 0 ] || slice_err "stratactl $* (node $i): exit $rc"
}

# field TYPE FQ JQ: a field of an object, read through node 1.
field() {
    api 1 -o json "$1" show "$2" | jq -r "(.[\"$1\"] // .) | $3"
}

# slice_note TEXT: a narration line of the set-up, with SLICE_SHOW=1.
slice_note() {
    [ "${SLICE_SHOW:-0}" = 1 ] && printf '  \033[2m# %s\033[0m\n' "$*"
    return 0
}

slice_pki() {
    local cmd=("$stratad" init --pki "$work/pki" --node n1=127.0.0.1 --node n2=127.0.0.2 --node n3=127.0.0.3
        --agent compute-a --agent compute-b --client admin)
    [ "${SLICE_SHOW:-0}" = 1 ] && slice_cmdline stratad "${cmd[@]:1}"
    "${cmd[@]}" >"$work/init.log" 2>&1 || { cat "$work/init.log" >&2; slice_err "stratad init"; return 1; }
    [ "${SLICE_SHOW:-0}" = 1 ] && sed 's/^/  /' "$work/init.log"
    return 0
}

slice_controller() {
    port=$((9700 + (RANDOM % 60) * 8))
    api_port=$((port + 2)) bgp_port=$((port + 3)) xmpp_port=$((port + 4))
    pids=()
    e2e_cluster_start store config control
    PIDS+=("${pids[1]}" "${pids[2]}" "${pids[3]}")
    e2e_cluster_token
    [ -n "$tok" ] || slice_err "no bootstrap token"
}

slice_bgp() {
    local gsc=default-global-system-config i
    slice_note "the control role's BGP speaker: the cluster's AS and a bgp-router per node"
    sapi 1 global-system-config update $gsc autonomous_system=64512 || return 1
    for i in 1 2 3; do
        sapi 1 bgp-router create "n$i" --parent $gsc bgp_router_parameters.router_type=control-node \
            bgp_router_parameters.address=127.0.0.$i bgp_router_parameters.identifier=127.0.0.$i \
            bgp_router_parameters.port=$bgp_port || return 1
    done
}

# slice_mk TYPE JSON: creates an object of TYPE from the body JSON through node 1.
slice_mk() {
    local f="$work/body.$RANDOM.json"
    printf '%s' "$2" >"$f"
    api 1 "$1" create -f "$f" >/dev/null || { api 1 "$1" create -f "$f" >&2; slice_err "create $1: $2"; }
}

# slice_port_info I PORT IIP: UUID[i], MAC[i] of port default-domain:s:PORT and
# IP[i] of instance-ip IIP; returns 1 when the address or the MAC is missing.
slice_port_info() {
    local pn=default-domain:s:$2
    UUID[$1]=$(field virtual-machine-interface $pn .uuid)
    MAC[$1]=$(field virtual-machine-interface $pn '.virtual_machine_interface_mac_addresses.mac_address[0]')
    IP[$1]=$(field instance-ip $3 .instance_ip_address)
    [ -n "${IP[$1]}" ] && [ "${IP[$1]}" != null ] && [ -n "${MAC[$1]}" ] && [ "${MAC[$1]}" != null ] ||
        slice_err "port $2: ip '${IP[$1]}' mac '${MAC[$1]}'"
}

slice_intent() {
    local gsc=default-global-system-config i vn pn
    local vna='{"ipam_subnets": [{"subnet": {"ip_prefix": "10.10.N.0", "ip_prefix_len": 24}}]}'
    slice_bgp || return 1
    slice_note "a project, an IPAM and a network policy: icmp passes between red and blue, both ways"
    sapi 1 project create s --parent default-domain || return 1
    sapi 1 ipam create ipam --parent default-domain:s || return 1
    sapi 1 policy create red-blue --parent default-domain:s network_policy_entries='{"policy_rule": [
      {"direction": "<>", "protocol": "icmp",
       "src_addresses": [{"virtual_network": "default-domain:s:red"}],
       "dst_addresses": [{"virtual_network": "default-domain:s:blue"}],
       "action_list": {"simple_action": "pass"}}]}' || return 1
    slice_note "two virtual networks with subnets, both under the policy"
    for vn in red:1 blue:2; do
        sapi 1 vn create "${vn%:*}" --parent default-domain:s \
            --ref ipam=default-domain:s:ipam --ref-attr "${vna/N/${vn#*:}}" \
            --ref policy=default-domain:s:red-blue --ref-attr '{"sequence": {"major": 0, "minor": 0}}' || return 1
    done
    slice_note "four VMs, each with a port and an address: vm1, vm2 in red; vm3, vm4 in blue"
    for i in 1 2 3 4; do
        vn=red
        [ $i -ge 3 ] && vn=blue
        pn=default-domain:s:port$i
        sapi 1 vm create slice-vm$i || return 1
        sapi 1 port create port$i --parent default-domain:s --ref vn=default-domain:s:$vn \
            --ref vm=slice-vm$i || return 1
        sapi 1 ip create slice-ip$i --ref vn=default-domain:s:$vn --ref port=$pn || return 1
        slice_port_info $i port$i slice-ip$i || return 1
    done
    slice_note "two virtual routers (the compute nodes) and the VMs each hosts"
    sapi 1 virtual-router create compute-a --parent $gsc virtual_router_ip_address=10.99.0.1 \
        --ref vm=slice-vm1 --ref vm=slice-vm3 || return 1
    sapi 1 virtual-router create compute-b --parent $gsc virtual_router_ip_address=10.99.0.2 \
        --ref vm=slice-vm2 --ref vm=slice-vm4 || return 1
}

actl() { # a|b COMMAND...
    local n=$1
    shift
    "$AGENT" ctl --ctl "$work/agent-$n.ctl" "$@"
}

slice_both_up() { actl $1 status | grep -q "^node0 .* up " && actl $1 status | grep -q "^node1 .* up "; }

# slice_relays NS a|b: in compute namespace NS, 127.0.0.1-2's XMPP port
# relayed to the root namespace's (pids in RELAY[a|b]).
slice_relays() {
    local n
    RELAY[$2]=""
    for n in 1 2; do
        ip netns exec $1 python3 "$SLICE_FWD" tcp-to-unix 127.0.0.$n $xmpp_port "$work/xmpp-$n.sock" &
        PIDS+=($!)
        RELAY[$2]+="${RELAY[$2]:+ }$!"
    done
}

# slice_agent NS a|b FABRIC-IP: (re)starts compute node a|b's agent (its log
# appended to, pid in DPID[a|b]); returns once its command socket is there.
slice_agent() {
    rm -f "$work/agent-$2.ctl"
    ip netns exec $1 "$AGENT" --name compute-$2 --pki "$work/pki" --control 127.0.0.1:$xmpp_port \
        --control 127.0.0.2:$xmpp_port --vrouter-sock "$work/vr-$2.sock" --fabric-ip $3 \
        --state-dir "$work/state-$2" --ctl "$work/agent-$2.ctl" >>"$work/agent-$2.log" 2>&1 &
    PIDS+=($!)
    DPID[$2]=$!
    wait_for 10 test -S "$work/agent-$2.ctl" || slice_err "agent $2 did not start"
}

# slice_node NS a|b FABRIC-IP: one compute node's relays, vRouter and agent.
slice_node() {
    slice_relays $1 $2
    ip netns exec $1 "$VROUTER" -s "$work/vr-$2.sock" --flows 4096 --nhs 8192 --labels 4096 --routes 4096 \
        --ifs 64 --vrfs 64 --flow-idle-ms 3600000 >"$work/vr-$2.log" 2>&1 &
    PIDS+=($!)
    wait_for 5 test -S "$work/vr-$2.sock" || { slice_err "vrouter $2 did not start"; return 1; }
    slice_agent $1 $2 $3
}

# slice_link NS IF I COMPUTE-NS TAP: a veth IF in NS with port i's MAC and
# address (a /24), whose other end TAP is in COMPUTE-NS; both up.
slice_link() {
    ip link add $2 netns $1 type veth peer name $5 netns $4 || return 1
    in_ns $1 ethtool -K $2 tx off tso off gso off >/dev/null 2>&1
    in_ns $1 ip link set $2 address ${MAC[$3]} && in_ns $1 ip link set $2 up && in_ns $4 ip link set $5 up &&
        in_ns $1 ip addr add ${IP[$3]}/24 dev $2
}

# slice_vm I COMPUTE-NS: VM i's eth0 (the port's MAC and address, default
# route to the subnet's gateway .1) on a veth whose other end pI is in COMPUTE-NS.
slice_vm() {
    slice_link ${VNS[$1]} eth0 $1 $2 p$1 && in_ns ${VNS[$1]} ip route add default via ${IP[$1]%.*}.1
}

slice_up() {
    wait_for 20 slice_both_up a || { slice_err "agent a: control nodes not both up"; return 1; }
    wait_for 20 slice_both_up b || slice_err "agent b: control nodes not both up"
}

# slice_fabric NS...: the compute namespaces $CA, $CB (underlay) and NS...,
# the root namespace's relays to the nodes' XMPP ports, both compute nodes.
slice_fabric() {
    local n
    e2e_first_ns $CA
    e2e_add_ns $CA $CB "$@" && e2e_underlay $CA $CB || { slice_err "namespaces"; return 1; }
    # the agents reach the nodes' XMPP ports under the addresses the nodes'
    # certificates name: 127.0.0.N in the compute namespace, a unix socket
    # to the root namespace's 127.0.0.N (uxfwd.py)
    for n in 1 2; do
        python3 "$SLICE_FWD" unix-to-tcp "$work/xmpp-$n.sock" 127.0.0.$n $xmpp_port &
        PIDS+=($!)
    done
    wait_for 5 test -S "$work/xmpp-1.sock" -a -S "$work/xmpp-2.sock" || { slice_err "forwarder did not start"; return 1; }
    slice_node $CA a 10.99.0.1 && slice_node $CB b 10.99.0.2
}

slice_compute() {
    slice_fabric "${VNS[1]}" "${VNS[2]}" "${VNS[3]}" "${VNS[4]}" || return 1
    slice_vm 1 $CA && slice_vm 3 $CA && slice_vm 2 $CB && slice_vm 4 $CB || { slice_err "VM namespaces"; return 1; }
    slice_up
}

slice_bound() { [ "$(actl $1 bindings | grep -c " bound$")" = $2 ]; }

# slice_wait_bound a|b N: waits until agent a|b has N bindings bound.
slice_wait_bound() {
    wait_for 20 slice_bound $1 $2 || { actl $1 bindings >&2; slice_err "agent $1: bindings not bound"; }
}

# slice_bind_port a|b I TAP: binds port i to TAP on agent a|b (shown with SLICE_SHOW=1).
slice_bind_port() {
    [ "${SLICE_SHOW:-0}" = 1 ] && slice_cmdline strata-agent ctl --ctl agent-$1.ctl port bind ${UUID[$2]} tap=$3
    actl $1 port bind ${UUID[$2]} tap=$3 >"$work/bind.out" 2>&1 || { cat "$work/bind.out" >&2; slice_err "bind port $2"; return 1; }
    [ "${SLICE_SHOW:-0}" = 1 ] && sed 's/^/  /' "$work/bind.out"
    return 0
}

slice_bind() {
    local i n
    for i in 1 2 3 4; do
        n=a
        [ $((i % 2)) = 0 ] && n=b
        slice_bind_port $n $i p$i || return 1
    done
    slice_wait_bound a 2 && slice_wait_bound b 2
}

# slice_stop: SIGTERM to both agents; each must exit 0 and no log of the
# agents or the nodes may hold a sanitizer report (else fail, counted in FAILS).
slice_stop() {
    local n rc
    for n in a b; do
        kill -TERM ${DPID[$n]}
        rc=0
        wait ${DPID[$n]} || rc=$?
        [ $rc = 0 ] || fail "agent $n: exit $rc after SIGTERM"
    done
    if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$work"/agent-*.log "$work"/n*.log; then
        fail "sanitizer report in a log"
    fi
    return 0
}

slice_routed() { actl $1 routes $2 | grep -q "^inet $3/32 .* nh=[1-9]"; }

slice_denied() { actl $1 status | sed -n 's/.* denied \([0-9]*\).*/\1/p'; }

slice_listen() { # I PORT
    ip netns exec ${VNS[$1]} busybox nc -l -p $2 >/dev/null 2>&1 &
    PIDS+=($!)
}

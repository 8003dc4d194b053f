#!/usr/bin/env bash
# e2e (label xmpp) of the agents' channel of stratad's control role: three
# `stratad run` nodes on 127.0.0.1-3 (roles store, config, control; an iBGP
# mesh from bgp-router objects) and simulated agents (agent_cfg_probe)
# whose certificates name virtual-routers vr1 and vr2. Everything is made
# through the REST API.
#   control_xmpp_e2e.sh STRATAD STRATACTL WORKDIR AGENT_CFG_PROBE
# Checks, each bounded in time:
#  - configuration: binding a machine to vr1 (virtual_machine_refs) sends
#    the port's interface, network and instance to agent vr1 only (vr2's
#    sessions never list it); unbinding deletes them at vr1;
#  - routes: the port's routes, inet and EVPN MAC/IP (published by vr1
#    when its config arrives)
#    reaches vr2, subscribed to that network on another control node, and
#    vr2's port route reaches vr1; vr1, attached to nodes 1 and 2, holds
#    the same routes from both;
#  - killing node 2 (SIGKILL) loses no route at vr1: the session's routes
#    stay (stale) until it re-opened on node 3 and got its End-of-RIB, and
#    are then what node 3 sent (the same);
#  - node 2 restarted: the mesh comes back (the routes the others kept
#    stale from it are swept at its End-of-RIB);
#  - unbinding withdraws the port's route at vr2.
# Exit 77 (ctest SKIP) without jq or a config role.
set -euo pipefail
stratad=$1 stratactl=$2 work=$3 probe=$4
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
"$stratad" roles | grep -qx config || { echo "SKIP: this stratad has no config role"; exit 77; }

port=$((9100 + (RANDOM % 60) * 8))
api_port=$((port + 2)) bgp_port=$((port + 3)) xmpp_port=$((port + 4))
rm -rf "$work"
mkdir -p "$work"
pids=()
probes=()
t0=$SECONDS

fail() {
  echo "FAIL: $*" >&2
  for i in 1 2 3; do echo "--- n$i.log" >&2; grep -v 'level=debug' "$work/n$i.log" | tail -12 >&2 || true; done
  for f in "$work"/vr*.json; do echo "--- $f" >&2; jq -c '.sessions[] | {server, established, eors, stale,
    interfaces, routes}' "$f" >&2 || true; done
  exit 1
}
ok() { echo "ok $(( SECONDS - t0 ))s: $*"; }
cleanup() {
  for p in "${probes[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" $(pgrep -P "$p" 2>/dev/null) 2>/dev/null || true; done
  for p in "${probes[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
wait_for() { # wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds
  local n=$(($1 * 10)); shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# ---- three nodes ----
"$stratad" init --pki "$work/pki" --node n1=127.0.0.1 --node n2=127.0.0.2 --node n3=127.0.0.3 >/dev/null
. "$(dirname "$0")/../lib/cluster.sh"
e2e_cluster_start store config control
e2e_cluster_token
mk() { # mk NODE TYPE JSON: create from a JSON body
  local f="$work/body.$RANDOM.json"; printf '%s' "$3" >"$f"; api "$1" "$2" create -f "$f" >/dev/null || {
    api "$1" "$2" create -f "$f" >&2 || true; fail "create $2: $3"; }
}
upd() { # upd NODE TYPE FQ JSON
  local f="$work/body.$RANDOM.json"; printf '%s' "$4" >"$f"; api "$1" "$2" update "$3" -f "$f" >/dev/null ||
    fail "update $2 $3"
}
ok "cluster up"

gsc=default-global-system-config
api 1 global-system-config update $gsc autonomous_system=64512 >/dev/null || fail "cluster AS"
for i in 1 2 3; do
  api 1 bgp-router create "n$i" --parent $gsc bgp_router_parameters.router_type=control-node \
    bgp_router_parameters.address=127.0.0.$i bgp_router_parameters.identifier=127.0.0.$i \
    bgp_router_parameters.port=$bgp_port >/dev/null || fail "bgp-router n$i"
done
mesh_up() {
  local i
  for i in 1 2 3; do
    [ "$(api "$i" -o json bgp neighbors | jq '[.neighbors[] | select(.state == "Established")] | length')" = 2 ] ||
      return 1
  done
}

# ---- a network, two machines with a port each, two virtual routers ----
api 1 project create x --parent default-domain >/dev/null || fail "project"
mk 1 network-ipam '{"network-ipam": {"fq_name": ["default-domain", "x", "ipam"], "parent_type": "project"}}'
ipam=$(api 1 -o json network-ipam show default-domain:x:ipam | jq -r '(.["network-ipam"] // .).uuid')
mk 1 virtual-network '{"virtual-network": {"fq_name": ["default-domain", "x", "net"], "parent_type": "project",
  "network_ipam_refs": [{"uuid": "'"$ipam"'", "attr": {"ipam_subnets": [{"subnet": {"ip_prefix": "10.77.0.0",
  "ip_prefix_len": 24}}]}}]}}'
for m in 1 2; do
  mk 1 virtual-machine '{"virtual-machine": {"fq_name": ["vm'$m'"]}}'
  mk 1 virtual-machine-interface '{"virtual-machine-interface": {"fq_name": ["default-domain", "x", "port'$m'"],
    "parent_type": "project", "virtual_network_refs": [{"to": ["default-domain", "x", "net"]}],
    "virtual_machine_refs": [{"to": ["vm'$m'"]}]}}'
  vmi=$(api 1 -o json virtual-machine-interface show default-domain:x:port$m | jq -r '(.["virtual-machine-interface"] // .).uuid')
  mk 1 instance-ip '{"instance-ip": {"fq_name": ["ip'$m'"], "virtual_network_refs": [{"to": ["default-domain", "x", "net"]}],
    "virtual_machine_interface_refs": [{"uuid": "'"$vmi"'"}]}}'
done
ip_of() { api 1 -o json instance-ip show "ip$1" | jq -r '(.["instance-ip"] // .).instance_ip_address'; }
ip1=$(ip_of 1) ip2=$(ip_of 2)
[ -n "$ip1" ] && [ "$ip1" != null ] && [ -n "$ip2" ] && [ "$ip2" != null ] || fail "instance-ip addresses: $ip1 $ip2"
mk 1 virtual-router '{"virtual-router": {"fq_name": ["'$gsc'", "vr1"], "virtual_router_ip_address": "172.16.0.1"}}'
mk 1 virtual-router '{"virtual-router": {"fq_name": ["'$gsc'", "vr2"], "virtual_router_ip_address": "172.16.0.2",
  "virtual_machine_refs": [{"to": ["vm2"]}]}}'
ok "network, ports ($ip1, $ip2) and virtual routers created"
wait_for 30 mesh_up || fail "iBGP mesh not Established"
ok "iBGP mesh Established"

# ---- the agents: vr1 on nodes 1 and 2 (node 3 as the spare), vr2 on node 3 ----
X() { echo "127.0.0.$1:$xmpp_port"; }
"$probe" "$work/pki" vr1 1 "$work/vr1.json" 2 "$(X 1)" "$(X 2)" "$(X 3)" 2>"$work/vr1.err" &
probes+=($!)
"$probe" "$work/pki" vr2 2 "$work/vr2.json" 1 "$(X 3)" 2>"$work/vr2.err" &
probes+=($!)
j() { jq -e "$2" "$work/$1.json" >/dev/null 2>&1; }
all_sessions() { j "$1" "(.sessions | length) as \$n | [.sessions[] | select(.established)] | length == \$n"; }
wait_for 20 all_sessions vr1 || fail "vr1 sessions not established"
wait_for 20 all_sessions vr2 || fail "vr2 session not established"
port1='default-domain:x:port1' port2='default-domain:x:port2' ri='default-domain:x:net:net'
lists() { j "$1" "(.sessions | length) as \$n | [.sessions[] | select(.interfaces | index(\"$2\"))] | length == \$n"; }
lists_none() { j "$1" "[.sessions[] | select(.interfaces | index(\"$2\"))] | length == 0"; }
wait_for 15 lists vr2 "$port2" || fail "vr2 did not get its port's config"
lists_none vr1 "$port1" || fail "vr1 got port1 before it was bound"
ok "vr2 got its interface config on node 3; vr1 none yet"

# ---- global settings (compiler rules 3): every agent has the node; an
# encapsulation order set through REST reaches every session ----
encaps() { # encaps AGENT TEXT: every session's global node has that encapsulation_priorities text
  jq -e --arg t "$2" '(.sessions | length) as $n |
    [.sessions[] | select(.global.encapsulation_priorities == $t)] | length == $n' "$work/$1.json" >/dev/null 2>&1
}
dflt='{"encapsulation":["MPLSoUDP","MPLSoGRE","VXLAN"]}'
wait_for 10 encaps vr1 "$dflt" || fail "vr1 lacks the default global settings"
wait_for 10 encaps vr2 "$dflt" || fail "vr2 lacks the default global settings"
mk 2 global-vrouter-config '{"global-vrouter-config": {"fq_name": ["'$gsc'", "default-global-vrouter-config"],
  "parent_type": "global-system-config", "encapsulation_priorities": {"encapsulation": ["VXLAN", "MPLSoUDP"]}}}'
new='{"encapsulation":["VXLAN","MPLSoUDP"]}'
wait_for 10 encaps vr1 "$new" || fail "vr1 did not get the new encapsulation order"
wait_for 10 encaps vr2 "$new" || fail "vr2 did not get the new encapsulation order"
f="$work/body.dup.json"
printf '%s' '{"global-vrouter-config": {"encapsulation_priorities": {"encapsulation": ["VXLAN", "VXLAN"]}}}' >"$f"
if api 1 global-vrouter-config update "$gsc:default-global-vrouter-config" -f "$f" >/dev/null 2>&1; then
  fail "a repeated encapsulation was accepted"
fi
j vr1 '.sessions[0].global.graceful_restart_parameters | test("\"restart_time\":300")' ||
  fail "vr1's global node lacks the graceful-restart parameters"
for i in 1 2 3; do # the roles started with the settings' graceful restart (LLGR 300 s, End-of-RIB hold 300 s)
  grep -q 'XMPP server running.* llgr=1 llgr_stale_time=300 xmpp_stale_ms=600000 eor_hold_ms=300000' "$work/n$i.log" ||
    fail "node $i's control role did not start with the global graceful-restart settings"
done
ok "global settings: defaults at every agent and every role's start, a new encapsulation order through REST at every session, a repeat refused"
upd 3 global-system-config "$gsc" '{"global-system-config": {"graceful_restart_parameters": {"restart_time": 90}}}'
gr_changed() { grep -q 'graceful-restart parameters changed; sessions use them from their next OPEN.* restart_time=90 ' "$work/n$1.log"; }
for i in 1 2 3; do wait_for 10 gr_changed $i || fail "node $i's control role did not take the new restart time"; done
mesh_up || fail "the iBGP mesh dropped on a graceful-restart change"
! grep -q "session down" "$work"/n*.log || fail "a BGP session went down on a graceful-restart change"
j vr1 '.sessions[0].global.graceful_restart_parameters | test("\"restart_time\":90")' ||
  fail "vr1's global node lacks the new restart time"
ok "graceful-restart restart time 90 s through REST: every role took it for its sessions' next OPEN, no session dropped"

# ---- bind vm1 to vr1: only vr1 gets port1 ----
upd 2 virtual-router "$gsc:vr1" '{"virtual-router": {"virtual_machine_refs": [{"to": ["vm1"]}]}}'
wait_for 15 lists vr1 "$port1" || fail "vr1 (both sessions) did not get port1's config"
j vr1 ".sessions[0].ports[\"$port1\"].ri == \"$ri\"" || fail "vr1's port1 not in $ri"
lists_none vr2 "$port1" || fail "vr2 got port1's config"
lists_none vr1 "$port2" || fail "vr1 got port2's config"
ok "bound on vr1: both of vr1's sessions got port1 (instance $ri); vr2 did not"

# ---- routes: each agent's port route reaches the other through any node ----
has_route() { # has_route AGENT IP NEXTHOP: every session holds IP/32 in the instance with that next hop
  j "$1" "(.sessions | length) as \$n | [.sessions[] | select(.routes[\"$ri $2/32\"] // \"\" | startswith(\"$3 \"))] | length == \$n"
}
wait_for 20 has_route vr2 "$ip1" 100.64.0.1 || fail "vr2 lacks port1's route $ip1"
wait_for 20 has_route vr1 "$ip2" 100.64.0.2 || fail "vr1 lacks port2's route $ip2"
evpn_key() { # the EVPN MAC/IP item id of IPv4 address $1 (MAC 02:00:<address>)
  local a b c d; IFS=. read -r a b c d <<<"$1"
  printf '0-02:00:%02x:%02x:%02x:%02x,%s/32' "$a" "$b" "$c" "$d" "$1"
}
has_evpn() { # has_evpn AGENT IP NEXTHOP
  j "$1" "(.sessions | length) as \$n | [.sessions[] | select(.routes[\"$ri $(evpn_key "$2")\"] // \"\" | startswith(\"$3 \"))] | length == \$n"
}
wait_for 20 has_evpn vr2 "$ip1" 100.64.0.1 || fail "vr2 lacks port1's EVPN MAC/IP route"
wait_for 20 has_evpn vr1 "$ip2" 100.64.0.2 || fail "vr1 lacks port2's EVPN MAC/IP route"
same_both() { j vr1 '.sessions[0].routes == .sessions[1].routes'; }
wait_for 10 same_both || fail "vr1's two sessions differ"
ok "port1's routes (inet, EVPN MAC/IP) reached vr2 (node 3), port2's reached vr1; vr1 holds the same routes from nodes 1 and 2"

# ---- kill node 2: vr1 loses no route ----
n2kids=$(pgrep -P "${pids[2]}" || true)
kill -9 "${pids[2]}" $n2kids 2>/dev/null || true
pids[2]=""
lost=0 stale_seen=0 swept=0
for _ in $(seq 1 150); do
  cp "$work/vr1.json" "$work/vr1.snap" 2>/dev/null || true
  jq -e --arg k "$ri $ip2/32" '[.sessions[] | select(.routes[$k])] | length == 2' "$work/vr1.snap" >/dev/null || lost=1
  jq -e '.sessions[1].stale > 0' "$work/vr1.snap" >/dev/null && stale_seen=1
  if [ $stale_seen = 1 ] && jq -e '.sessions[1].stale == 0 and .sessions[1].established and
      (.sessions[1].server | startswith("127.0.0.3"))' "$work/vr1.snap" >/dev/null; then swept=1; break; fi
  sleep 0.1
done
[ $lost = 0 ] || fail "vr1 lost port2's route while node 2 died"
[ $stale_seen = 1 ] || fail "vr1's session on node 2 was never seen stale"
[ $swept = 1 ] || fail "vr1's session did not re-open on node 3 and sweep"
wait_for 10 has_route vr1 "$ip2" 100.64.0.2 || fail "vr1 lacks port2's route after the sweep"
wait_for 10 same_both || fail "vr1's sessions differ after the move to node 3"
wait_for 10 has_route vr2 "$ip1" 100.64.0.1 || fail "vr2 lost port1's route"
ok "node 2 killed: vr1's routes stayed (stale), re-opened on node 3, swept, same state; vr2 keeps port1's route"

# ---- node 2 back: BGP graceful restart sweeps what the others kept from it ----
STRATA_LOG_LEVEL=${STRATA_E2E_LOG_LEVEL:-info} "$stratad" run --config "$work/n2.json" >>"$work/n2.log" 2>&1 &
pids[2]=$!
wait_for 30 mesh_up || fail "iBGP mesh not Established again after node 2 restarted"
ok "node 2 restarted, mesh Established again"

# ---- unbind: config deleted at vr1, route withdrawn at vr2 ----
upd 1 virtual-router "$gsc:vr1" '{"virtual-router": {"virtual_machine_refs": []}}'
wait_for 15 lists_none vr1 "$port1" || fail "vr1 still lists port1 after the unbind"
gone() { j vr2 "[.sessions[] | select(.routes[\"$ri $ip1/32\"])] | length == 0"; }
wait_for 15 gone || fail "port1's route still at vr2 after the unbind"
evpn_gone() { j vr2 "[.sessions[] | select(.routes[\"$ri $(evpn_key "$ip1")\"])] | length == 0"; }
wait_for 15 evpn_gone || fail "port1's EVPN route still at vr2 after the unbind"
ok "unbound: vr1's port1 config deleted, its route withdrawn at vr2"

for p in "${probes[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for i in 1 2 3; do kill -TERM "${pids[$i]}"; done
for i in 1 2 3; do
  rc=0; wait "${pids[$i]}" || rc=$?
  pids[$i]=""
  [ "$rc" = 0 ] || fail "node $i: supervisor exit $rc after SIGTERM"
done
if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$work"/n*.log; then
  fail "sanitizer report in a node's log"
fi
echo "PASS control_xmpp ($(( SECONDS - t0 )) s)"

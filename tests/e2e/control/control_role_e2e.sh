#!/usr/bin/env bash
# e2e of stratad's control role: three `stratad run` nodes on 127.0.0.1-3
# with the roles store, config and control, and a gobgpd gateway on
# 127.0.0.4 (eBGP, AS 65001, VPNv4), all on a non-179 BGP port. Sessions
# come only from bgp-router objects created through the REST API.
#   control_role_e2e.sh STRATAD STRATACTL WORKDIR AGENT_PROBE
# Checks, each bounded in time:
#  - the iBGP mesh (n1-n2-n3) and every node's session to the gateway reach
#    Established (`stratactl bgp neighbors` through each node's API);
#  - a VPNv4 route injected at gobgpd is in `stratactl bgp routes
#    bgp.l3vpn.0` on every node, with gobgp's label and target;
#  - a virtual network created through the API gets a routing instance
#    (the compiler's) that every node configures: a VPN route with its
#    target reaches the instance's table, and an agent (agent_probe, over
#    XMPP to node 1) subscribed to it receives that route; the agent's own
#    route goes out as a VPNv4 route (RD node-1:N, the instance's target)
#    to gobgpd and over the mesh to the other nodes;
#  - admin_down on the gateway (a REST update) drops exactly the gateway
#    sessions, while the mesh sessions keep their uptime and flap counters;
#  - the REST errors: a malformed table is 400, an unknown one 404, a node
#    whose control role is down answers 503.
# Exit 77 (ctest SKIP) when gobgpd, gobgp or jq is not installed.
set -euo pipefail
stratad=$1 stratactl=$2 work=$3 probe=$4
for tool in gobgpd gobgp jq curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
"$stratad" roles | grep -qx config || { echo "SKIP: this stratad has no config role"; exit 77; }

port=$((8600 + (RANDOM % 60) * 8))
api_port=$((port + 2)) bgp_port=$((port + 3)) xmpp_port=$((port + 4)) gobgp_api=$((port + 5))
rm -rf "$work"
mkdir -p "$work"
pids=()
gobgpd_pid=""
probe_pid=""
t0=$SECONDS

fail() {
  echo "FAIL: $*" >&2
  for i in 1 2 3; do echo "--- n$i.log" >&2; tail -15 "$work/n$i.log" >&2 || true; done
  echo "--- gobgpd.log" >&2; tail -5 "$work/gobgpd.log" >&2 || true
  exit 1
}
ok() { echo "ok $(( SECONDS - t0 ))s: $*"; }
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  [ -n "$gobgpd_pid" ] && kill -TERM "$gobgpd_pid" 2>/dev/null || true
  [ -n "$probe_pid" ] && kill -TERM "$probe_pid" 2>/dev/null || true
  sleep 0.5
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" $(pgrep -P "$p" 2>/dev/null) 2>/dev/null || true; done
  [ -n "$gobgpd_pid" ] && kill -9 "$gobgpd_pid" 2>/dev/null || true
}
trap cleanup EXIT
# wait_for SECONDS CMD...: polls CMD every 0.2 s until it succeeds.
wait_for() {
  local n=$(($1 * 5)); shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

# ---- the gateway: gobgpd, started first so the nodes find it listening ----
cat >"$work/gobgp.toml" <<EOF
[global.config]
  as = 65001
  router-id = "127.0.0.4"
  port = $bgp_port
  local-address-list = ["127.0.0.4"]
EOF
for i in 1 2 3; do
  cat >>"$work/gobgp.toml" <<EOF
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.$i"
    peer-as = 64512
  [neighbors.transport.config]
    local-address = "127.0.0.4"
    remote-port = $bgp_port
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l3vpn-ipv4-unicast"
EOF
done
gobgpd -f "$work/gobgp.toml" --api-hosts "127.0.0.4:$gobgp_api" >"$work/gobgpd.log" 2>&1 &
gobgpd_pid=$!
G() { gobgp -u 127.0.0.4 -p "$gobgp_api" "$@"; }
wait_for 10 G global || fail "gobgpd API not up"

# ---- three nodes: store, config, control ----
"$stratad" init --pki "$work/pki" --node n1=127.0.0.1 --node n2=127.0.0.2 --node n3=127.0.0.3 >/dev/null
. "$(dirname "$0")/../lib/cluster.sh"
e2e_cluster_start store config control
e2e_cluster_token
ok "cluster up, bootstrap token written"

# ---- BGP configuration through the REST API ----
gsc=default-global-system-config
api 1 global-system-config update $gsc autonomous_system=64512 >/dev/null || fail "cluster AS"
for i in 1 2 3; do
  api 1 bgp-router create "n$i" --parent $gsc bgp_router_parameters.router_type=control-node \
    bgp_router_parameters.address=127.0.0.$i bgp_router_parameters.identifier=127.0.0.$i \
    bgp_router_parameters.port=$bgp_port >/dev/null || fail "bgp-router n$i"
done
gw_params() { # gw_params ADMIN_DOWN: the gateway's full parameters
  printf '{"bgp-router": {"bgp_router_parameters": {"router_type": "router", "address": "127.0.0.4",
    "identifier": "127.0.0.4", "autonomous_system": 65001, "port": %s, "admin_down": %s,
    "address_families": {"family": ["inet-vpn"]}}}}' "$bgp_port" "$1"
}
gw_params false | jq '.["bgp-router"] += {"name": "gw", "fq_name": ["'$gsc'", "gw"], "parent_type": "global-system-config",
  "bgp_router_refs": [{"to": ["'$gsc'", "n1"]}, {"to": ["'$gsc'", "n2"]}, {"to": ["'$gsc'", "n3"]}]}' >"$work/gw.json"
api 2 bgp-router create -f "$work/gw.json" >/dev/null || fail "bgp-router gw: $(api 2 bgp-router create -f "$work/gw.json" 2>&1)"
ok "bgp-routers n1 n2 n3 gw created"

# state NODE PEER: the session state node NODE reports for PEER (by name)
state() { api "$1" -o json bgp neighbors | jq -r --arg p "$2" '.neighbors[] | select(.name == $p) | .state'; }
all_up() { # every node: its two mesh peers and gw Established
  local i
  for i in 1 2 3; do
    [ "$(api "$i" -o json bgp neighbors | jq '[.neighbors[] | select(.state == "Established")] | length')" = 3 ] ||
      return 1
  done
}
wait_for 30 all_up || fail "sessions not all Established: $(for i in 1 2 3; do api $i bgp neighbors; done)"
ok "iBGP mesh and the three gateway sessions Established"
api 1 bgp neighbors >"$work/neighbors.txt"
grep -Eq '^gw +127\.0\.0\.4 +65001 +Established' "$work/neighbors.txt" || fail "table output: $(cat "$work/neighbors.txt")"

# ---- a route from the gateway reaches every node ----
G global rib -a vpnv4 add 10.20.0.0/24 label 2000 rd 65001:7 rt 64512:100 nexthop 127.0.0.4 ||
  fail "gobgp route add"
has_route() {
  api "$1" -o json bgp routes bgp.l3vpn.0 | jq -e '.routes[] | select(.prefix == "65001:7:10.20.0.0/24")
    | .paths[] | select(.label == 2000 and .route_targets == ["target:64512:100"])' >/dev/null
}
for i in 1 2 3; do wait_for 15 has_route "$i" || fail "node $i lacks gobgp's route: $(api $i bgp routes bgp.l3vpn.0)"; done
ok "gobgp's VPNv4 route in bgp.l3vpn.0 on every node"
api 3 bgp routes bgp.l3vpn.0 | grep -q "65001:7:10.20.0.0/24" || fail "routes table output"
api 3 -o json bgp summary | jq -e '.bgp.established == 3 and .bgp.peers == 3 and .bgp.local_as == 64512' >/dev/null ||
  fail "summary: $(api 3 -o json bgp summary)"

# ---- a routing instance the compiler derives: VPN routes reach it ----
api 1 project create e2e --parent default-domain >/dev/null || fail "project"
api 1 vn create net --parent default-domain:e2e >/dev/null || fail "virtual network"
ri_info() { # "NAME TARGET" of net's routing instance
  api 1 -o json routing-instance list --detail | jq -er '.[] | (.["routing-instance"] // .) |
    select(.fq_name[2] == "net") | "\(.fq_name | join(":")) \(.route_target_refs[0].to[0])"' | head -1
}
wait_for 10 ri_info || fail "no routing instance derived for net"
read -r ri rt < <(ri_info)
G global rib -a vpnv4 add 10.30.0.0/24 label 3000 rd 65001:8 rt "${rt#target:}" nexthop 127.0.0.4 ||
  fail "gobgp route add (instance target $rt)"
in_instance() {
  api "$1" -o json bgp routes "$ri" | jq -e '.routes[] | select(.prefix == "10.30.0.0/24") | .paths[] |
    select(.label == 3000 and .next_hop == "127.0.0.4")' >/dev/null
}
for i in 1 2 3; do wait_for 15 in_instance "$i" || fail "node $i: 10.30.0.0/24 not in $ri: $(api $i bgp routes "$ri")"; done
api 2 -o json bgp summary | jq -e '.vpn_instances >= 1 and .rt_memberships >= 1' >/dev/null ||
  fail "summary: $(api 2 -o json bgp summary)"
ok "a VPN route with $rt imported into $ri on every node"

# ---- an agent on node 1: BGP routes reach it, its route reaches BGP ----
"$probe" "$work/pki" 127.0.0.1 "$xmpp_port" "$ri" 7 1 60 >"$work/probe.out" 2>"$work/probe.err" &
probe_pid=$!
wait_for 20 grep -q '^received' "$work/probe.out" || fail "agent: $(cat "$work/probe.err")"
rdn=$(( ${rt##*:} % 65535 + 1 ))
agent_vpn="127.0.0.1:$rdn:10.0.0.0/32"
at_gobgp_any() { G global rib -a vpnv4 -j | jq -e --arg p "$agent_vpn" '.[$p]' >/dev/null; }
wait_for 15 at_gobgp_any || fail "agent's route not at gobgp as $agent_vpn: $(G global rib -a vpnv4)"
G global rib -a vpnv4 | grep -F "10.0.0.0/32" | grep -q "${rt#target:}" ||
  fail "agent's route at gobgp without the instance's target: $(G global rib -a vpnv4)"
mesh_has() { api "$1" -o json bgp routes bgp.l3vpn.0 | jq -e --arg p "$agent_vpn" '.routes[] | select(.prefix == $p)' >/dev/null; }
for i in 2 3; do wait_for 15 mesh_has "$i" || fail "node $i lacks the agent's VPN route $agent_vpn"; done
ok "agent on node 1 got the gateway's route over XMPP; its route reached gobgp ($agent_vpn, $rt) and nodes 2, 3"
kill -TERM "$probe_pid" 2>/dev/null || true
wait "$probe_pid" 2>/dev/null || true
probe_pid=""

# ---- admin_down on the gateway: only its sessions go ----
mesh() { # mesh NODE: "peer uptime flaps" of its mesh sessions
  api "$1" -o json bgp neighbors | jq -r '.neighbors[] | select(.name != "gw") | "\(.name) \(.uptime_s) \(.flaps)"' | sort
}
for i in 1 2 3; do mesh "$i" >"$work/mesh$i.before"; done
gw_params true >"$work/gw-down.json"
api 1 bgp-router update "$gsc:gw" -f "$work/gw-down.json" >/dev/null || fail "admin_down update"
gw_gone() { local i; for i in 1 2 3; do [ -z "$(state "$i" gw)" ] || return 1; done; }
wait_for 10 gw_gone || fail "gateway sessions still configured after admin_down"
gobgp_down() { [ "$(G neighbor -j | jq '[.[] | select(.state.session_state == 6)] | length')" = 0 ]; }
wait_for 10 gobgp_down || fail "gobgp still has Established sessions: $(G neighbor)"
for i in 1 2 3; do
  mesh "$i" >"$work/mesh$i.after"
  [ "$(wc -l <"$work/mesh$i.after")" = 2 ] || fail "node $i mesh: $(cat "$work/mesh$i.after")"
  while read -r name up flaps; do
    read -r name2 up2 flaps2 < <(grep "^$name " "$work/mesh$i.after" || echo "- 0 -")
    [ "$name2" = "$name" ] && [ "$flaps2" = "$flaps" ] && [ "$up2" -ge "$up" ] ||
      fail "node $i: mesh session $name reset (before: $up s, $flaps flaps; after: $up2 s, $flaps2 flaps)"
  done <"$work/mesh$i.before"
  for p in n1 n2 n3; do
    [ "$p" = "n$i" ] || [ "$(state "$i" "$p")" = Established ] || fail "node $i: mesh session $p not Established"
  done
done
ok "admin_down dropped the gateway sessions only; mesh uptime and flaps unchanged"
# the update changed admin_down and nothing else: the links are still there
api 1 -o json bgp-router show $gsc:gw >"$work/gw-now.json"
jq -e '(.bgp_router_refs // .["bgp-router"].bgp_router_refs | length) == 3 and
  (.bgp_router_parameters // .["bgp-router"].bgp_router_parameters).admin_down == true' "$work/gw-now.json" >/dev/null ||
  fail "gateway object after the update: $(cat "$work/gw-now.json")"

# ---- REST errors ----
code() { curl -s -o "$work/body" -w '%{http_code}' --cacert "$work/pki/ca.pem" -H "Authorization: Bearer $tok" \
  "https://127.0.0.1:$api_port$1"; }
[ "$(code '/bgp/routes?table=bad%20table')" = 400 ] || fail "malformed table: $(cat "$work/body")"
[ "$(code /bgp/routes/no-such-instance)" = 404 ] || fail "unknown table: $(cat "$work/body")"
[ "$(code /openapi.json)" = 200 ] && jq -e '.paths["/bgp/routes/{table}"].get' "$work/body" >/dev/null ||
  fail "/bgp not in the OpenAPI document"
# node 3 without its control role: 503 with the JSON error shape
sup3=${pids[3]}
ctl3=$(pgrep -P "$sup3" -f "stratad control " | head -1)
[ -n "$ctl3" ] || fail "no control role under node 3"
kill -STOP "$ctl3"
rm -f "$work/n3/control.sock" # as if it had never started
rc=0; api 3 bgp neighbors 2>"$work/err" || rc=$?
kill -CONT "$ctl3"
[ "$rc" = 5 ] || fail "stratactl bgp without a control role: exit $rc, want 5: $(cat "$work/err")"
grep -q "503 the control role is not running on this node" "$work/err" || fail "503 message: $(cat "$work/err")"
ok "REST errors: 400 malformed table, 404 unknown table, 503 without a control role"
# ---- orderly stop: every role exits 0, no sanitizer report in any log ----
for i in 1 2 3; do kill -TERM "${pids[$i]}"; done
for i in 1 2 3; do
  rc=0; wait "${pids[$i]}" || rc=$?
  pids[$i]=""
  [ "$rc" = 0 ] || fail "node $i: supervisor exit $rc after SIGTERM"
  grep -q 'msg="role stopped" role=control pid=[0-9]* exit=0' "$work/n$i.log" || fail "node $i: control role did not exit 0"
done
if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$work"/n*.log; then
  fail "sanitizer report in a node's log"
fi
echo "PASS control_role ($(( SECONDS - t0 )) s)"

#!/usr/bin/env bash
# control_resume: resume after a control-role restart (docs/xmpp.md "Resume
# after a control-node restart"), end to end. One `stratad run` node (store,
# config, control) and 8 simulated agents (tests/sim/agent-swarm/conv_bench
# --check: real TLS + XMPP, each the agent of virtual-router vr<i>, agent i
# on net<i % 4>; 32 ports created through the REST API). The control role
# is frozen (SIGSTOP), port32 is added and port4 deleted through the API
# (both on net0, owned by vr0 and vr4), then the role is SIGKILLed and the
# supervisor restarts it: the changes are in neither the old role's image
# nor any agent.
# Agent vr1 reconnects announcing nothing (a full replay), the others
# resume. conv_bench fails unless, after the resync, every agent holds
# exactly the routes and interfaces it should, resuming agents of the
# unchanged networks got no route item, no config stanza and one IN_SYNC,
# net0's agents got their table again (digests are per instance) with
# config stanzas only at the two owners of the changed ports, and vr1 got
# its whole config and table.
#   control_resume_e2e.sh STRATAD STRATACTL WORKDIR CONV_BENCH [CONV_BENCH ARGS...]
set -euo pipefail
stratad=$1 stratactl=$2 work=$3 bench=$4
shift 4
rm -rf "$work"; mkdir -p "$work"
port=$((11600 + (RANDOM % 50) * 8))
api_port=$((port + 2)) bgp_port=$((port + 3)) xmpp_port=$((port + 4))
sup=""
cleanup() {
  if [ -n "$sup" ]; then
    kill -CONT $(pgrep -P "$sup" 2>/dev/null) 2>/dev/null || true
    kill -TERM "$sup" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$sup" $(pgrep -P "$sup" 2>/dev/null) 2>/dev/null || true
  fi
}
trap cleanup EXIT
"$stratad" init --pki "$work/pki" --node n1=127.0.0.1 >/dev/null
cat >"$work/n1.json" <<JSON
{"id": 1, "name": "n1", "address": "127.0.0.1", "raft_port": $port, "api_port": $api_port,
 "bgp_port": $bgp_port, "xmpp_port": $xmpp_port, "data_dir": "$work/n1", "pki_dir": "$work/pki",
 "members": ["1=n1@127.0.0.1:$port"], "roles": ["store", "config", "control"], "config_workers": 2}
JSON
STRATA_LOG_LEVEL=info "$stratad" run --config "$work/n1.json" >"$work/n1.log" 2>&1 &
sup=$!
for _ in $(seq 1 300); do [ -s "$work/n1/bootstrap-token" ] && break; sleep 0.1; done
[ -s "$work/n1/bootstrap-token" ] || { echo "FAIL: node did not start"; tail -20 "$work/n1.log"; exit 1; }
tok=$(cat "$work/n1/bootstrap-token")
export STRATA_CA="$work/pki/ca.pem" STRATA_TOKEN="$tok" HOME="$work" STRATA_URL="https://127.0.0.1:$api_port"
ok=""
for _ in $(seq 1 100); do
  "$stratactl" global-system-config update default-global-system-config autonomous_system=64512 >/dev/null 2>&1 \
    && { ok=1; break; }
  sleep 0.2
done
[ -n "$ok" ] || { echo "FAIL: API not answering"; exit 1; }
"$stratactl" bgp-router create n1 --parent default-global-system-config \
  bgp_router_parameters.router_type=control-node bgp_router_parameters.address=127.0.0.1 \
  bgp_router_parameters.identifier=127.0.0.1 bgp_router_parameters.port=$bgp_port >/dev/null
role="\$(pgrep -P $sup -f 'stratad control')"
rc=0
"$bench" --pki "$work/pki" --token "$tok" --api "127.0.0.1:$api_port" --xmpp "127.0.0.1:$xmpp_port" --node n1 \
  --agents 8 --ports 32 --nets 4 --clients 2 --check yes --plain-agent 1 \
  --stop-cmd "kill -STOP $role" --kill-cmd "kill -9 $role" "$@" >"$work/bench.out" 2>&1 || rc=$?
cat "$work/bench.out"
if [ "$rc" -ne 0 ] || ! grep -q '^CHECK ok$' "$work/bench.out"; then
  echo "FAIL: conv_bench --check (exit $rc)"
  grep -E 'control role running|store image loaded|XMPP server running|End-of-RIB to agents released|role exited' \
    "$work/n1.log" | tail -8 || true
  exit 1
fi
# the restarted role loaded its image after the changes: it never saw them as live updates
grep -q 'role exited; restarting" role=control' "$work/n1.log" || { echo "FAIL: the control role was not restarted"; exit 1; }
# every configured router's agent came back in sync: End-of-RIB went at
# once, without waiting for a quiet time or the hold's timer
grep 'End-of-RIB to agents released' "$work/n1.log" | tail -1 | grep -q 'reason=all-agents-synced' || {
  echo "FAIL: End-of-RIB not released as soon as every agent was back in sync"; grep 'End-of-RIB to agents released' "$work/n1.log"; exit 1; }
echo "PASS"

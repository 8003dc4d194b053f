# Shared start-up of a three-node controller cluster for the e2e scripts
# that run real `stratad run` supervisors on 127.0.0.1-3 (tests/e2e/control,
# tests/e2e/appliance/join_e2e.sh). Sourced; the script provides $stratad,
# $stratactl, $work, the ports $port (raft), $api_port, $bgp_port and
# $xmpp_port, the array pids and a fail function. After
# `stratad init --pki "$work/pki" ...`:
#   e2e_cluster_start ROLE...   writes $work/n{1,2,3}.json (members n1..n3,
#                               the given roles; E2E_NODE_ROLES[i] overrides
#                               node i's, e.g. E2E_NODE_ROLES[1]="store config
#                               control") and starts the three supervisors
#                               (logs in $work/nI.log; STRATA_E2E_LOG_LEVEL)
#   e2e_cluster_token           waits (30 s) for a node's bootstrap token,
#                               exports STRATA_CA, STRATA_TOKEN, HOME
#   api I ARGS...               stratactl against node I's API

declare -A E2E_NODE_ROLES

e2e_cluster_start() { # ROLE...
  local members="" i r roles
  for i in 1 2 3; do members+="${members:+, }\"$i=n$i@127.0.0.$i:$port\""; done
  for i in 1 2 3; do
    roles=""
    for r in ${E2E_NODE_ROLES[$i]:-$*}; do roles+="${roles:+, }\"$r\""; done
    cat >"$work/n$i.json" <<JSON
{"id": $i, "name": "n$i", "address": "127.0.0.$i", "raft_port": $port, "api_port": $api_port,
 "bgp_port": $bgp_port, "xmpp_port": $xmpp_port,
 "data_dir": "$work/n$i", "pki_dir": "$work/pki", "members": [$members],
 "roles": [$roles], "config_workers": 2}
JSON
    STRATA_LOG_LEVEL=${STRATA_E2E_LOG_LEVEL:-info} "$stratad" run --config "$work/n$i.json" >"$work/n$i.log" 2>&1 &
    pids[$i]=$!
  done
}

e2e_cluster_token() {
  local i
  tok=""
  for _ in $(seq 1 300); do
    for i in 1 2 3; do [ -s "$work/n$i/bootstrap-token" ] && tok=$(cat "$work/n$i/bootstrap-token") && break 2; done
    sleep 0.1
  done
  [ -n "$tok" ] || fail "no bootstrap token"
  export STRATA_CA="$work/pki/ca.pem" STRATA_TOKEN="$tok" HOME="$work"
}

api() { local i=$1; shift; STRATA_URL="https://127.0.0.$i:$api_port" "$stratactl" "$@"; }

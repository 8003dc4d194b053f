#!/usr/bin/env bash
# e2e test of stratad's supervisor and of stratactl's object commands on a
# real three-node cluster (127.0.0.1-3), each node a `stratad run --config`.
#   appliance_e2e.sh supervisor|stratactl STRATAD STRATACTL WORKDIR
# supervisor: a role killed with SIGKILL is restarted; the other role of that
#   node (and the cluster) keeps serving meanwhile; SIGTERM stops every role
#   and the supervisor exits 0 with no process left.
# stratactl: create/list/show/update/delete through different nodes, and the
#   exit codes for usage (2), not found (3), conflict (4), unauthorized (6).
# Every wait is bounded and every check fails the test with a message.
set -euo pipefail
part=$1 stratad=$2 stratactl=$3 work=$4
port=$((7500 + (RANDOM % 50) * 4))
api_port=$((port + 2))
rm -rf "$work"
mkdir -p "$work"
pids=()

fail() { echo "FAIL: $*" >&2; for i in 1 2 3; do echo "--- n$i.log" >&2; tail -20 "$work/n$i.log" >&2 || true; done; exit 1; }
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" $(pgrep -P "$p" 2>/dev/null) 2>/dev/null || true; done
}
trap cleanup EXIT
# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
  local n=$(($1 * 10)); shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

roles='"store"'
have_config=0
if "$stratad" roles | grep -qx config; then roles='"store", "config"'; have_config=1; fi
if [ "$part" = stratactl ] && [ "$have_config" = 0 ]; then
  echo "SKIP: this stratad has no config role"
  exit 77
fi

"$stratad" init --pki "$work/pki" --node n1=127.0.0.1 --node n2=127.0.0.2 --node n3=127.0.0.3 --client admin >/dev/null
members=""
for i in 1 2 3; do members+="${members:+, }\"$i=n$i@127.0.0.$i:$port\""; done
for i in 1 2 3; do
  cat >"$work/n$i.json" <<JSON
{"id": $i, "name": "n$i", "address": "127.0.0.$i", "raft_port": $port, "api_port": $api_port,
 "data_dir": "$work/n$i", "pki_dir": "$work/pki", "members": [$members], "roles": [$roles],
 "config_workers": 2}
JSON
  "$stratad" run --config "$work/n$i.json" >"$work/n$i.log" 2>&1 &
  pids[$i]=$!
done
store() { local i=$1; shift; "$stratactl" store -s "unix:$work/n$i/store.sock" "$@"; }
role_pid() { pgrep -P "${pids[$1]}" -f "stratad $2 " | head -1; }
leader_known() { store "$1" status | awk '/^node/ {exit !($7 > 0)}'; }
for i in 1 2 3; do wait_for 40 leader_known "$i" || fail "node $i sees no leader"; done

if [ "$part" = supervisor ]; then
  # A rejected config never starts anything.
  echo '{"id": 0}' >"$work/bad.json"
  rc=0; "$stratad" run --config "$work/bad.json" 2>"$work/bad.err" || rc=$?
  [ "$rc" = 2 ] || fail "bad config: exit $rc, want 2"
  grep -q "id: must be a positive integer" "$work/bad.err" || fail "bad config message: $(cat "$work/bad.err")"

  store 1 put /e2e/k v1 >/dev/null || fail "put"
  old=$(role_pid 1 store)
  [ -n "$old" ] || fail "no store role under node 1"
  other=""
  [ "$have_config" = 1 ] && other=$(role_pid 1 config)
  kill -9 "$old"
  restarted() { local p; p=$(role_pid 1 store); [ -n "$p" ] && [ "$p" != "$old" ] && store 1 get /e2e/k; }
  wait_for 20 restarted || fail "store role of node 1 not restarted"
  grep -q 'msg="role exited; restarting" role=store pid='"$old"' signal=9' "$work/n1.log" || fail "no restart log line"
  [ "$(store 1 get /e2e/k)" = "$(printf '/e2e/k\tv1')" ] || fail "restarted store lost data"
  if [ -n "$other" ]; then
    [ "$(role_pid 1 config)" = "$other" ] || fail "the config role was disturbed by the store's crash"
    # And the other way round: a dying config role leaves the store alone.
    cfg=$(role_pid 1 config)
    st=$(role_pid 1 store)
    kill -9 "$cfg"
    store 1 put /e2e/during v2 >/dev/null || fail "store stopped serving while the config role was down"
    cfg_back() { local p; p=$(role_pid 1 config); [ -n "$p" ] && [ "$p" != "$cfg" ]; }
    wait_for 20 cfg_back || fail "config role of node 1 not restarted"
    [ "$(role_pid 1 store)" = "$st" ] || fail "the store role was disturbed by the config role's crash"
  fi
  # Repeated crashes back off instead of spinning.
  for _ in 1 2 3; do
    p=$(role_pid 2 store); [ -n "$p" ] && kill -9 "$p"
    wait_for 20 bash -c "p=\$(pgrep -P ${pids[2]} -f 'stratad store ' | head -1); [ -n \"\$p\" ] && [ \"\$p\" != $p ]" ||
      fail "store role of node 2 not restarted after repeated kills"
  done
  grep -q 'restart_in_ms=400' "$work/n2.log" || fail "no backoff growth in node 2's log"
  # SIGTERM: every role stops, the supervisor exits 0, no process is left.
  children=$(pgrep -P "${pids[3]}" | tr '\n' ' ')
  [ -n "$children" ] || fail "node 3 has no roles"
  kill -TERM "${pids[3]}"
  rc=0; wait "${pids[3]}" || rc=$?
  [ "$rc" = 0 ] || fail "supervisor exit status $rc after SIGTERM"
  pids[3]=""
  for c in $children; do kill -0 "$c" 2>/dev/null && fail "role $c survived its supervisor's SIGTERM"; done
  grep -q 'msg="role stopped" role=store' "$work/n3.log" || fail "store role stop not logged"
  grep -q 'msg="node stopped"' "$work/n3.log" || fail "supervisor stop not logged"
  # The two nodes left still form a quorum.
  store 1 put /e2e/after v3 >/dev/null || fail "cluster of two lost quorum"
  echo "PASS supervisor"
  exit 0
fi

# ---- stratactl against the running cluster ----
tok=""
for _ in $(seq 1 300); do
  for i in 1 2 3; do [ -s "$work/n$i/bootstrap-token" ] && tok=$(cat "$work/n$i/bootstrap-token") && break 2; done
  sleep 0.1
done
[ -n "$tok" ] || fail "no bootstrap token"
[ "$(stat -c %a "$work"/n*/bootstrap-token | sort -u)" = 600 ] || fail "bootstrap token file is not mode 0600"
export STRATA_CA="$work/pki/ca.pem" STRATA_TOKEN="$tok" HOME="$work"
api() { local i=$1; shift; STRATA_URL="https://127.0.0.$i:$api_port" "$stratactl" "$@"; }
expect() { # expect STATUS CMD...
  local want=$1 rc=0; shift
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" = "$want" ] || fail "'$*' exited $rc, want $want: $(cat "$work/err")"
}
expect 0 api 1 project create e2e --parent default-domain
expect 0 api 1 ipam create ipam --parent default-domain:e2e
expect 0 api 1 vn create net --parent default-domain:e2e --ref network-ipam=default-domain:e2e:ipam \
  --ref-attr '{"ipam_subnets": [{"subnet": {"ip_prefix": "10.20.0.0", "ip_prefix_len": 24}}]}'
expect 0 api 2 port create p1 --parent default-domain:e2e --ref vn=default-domain:e2e:net
uuid=$(sed -n 's/.* uuid=//p' "$work/out")
expect 0 api 2 ip create p1-ip --ref vn=default-domain:e2e:net --ref port=default-domain:e2e:p1
# read on node 3, by fq_name and by uuid, table and JSON
expect 0 api 3 port list --parent default-domain:e2e
grep -q "^$uuid  default-domain:e2e:p1" "$work/out" || fail "port list on node 3: $(cat "$work/out")"
expect 0 api 3 -o json port show "$uuid"
[ "$(jq -r .uuid "$work/out" 2>/dev/null || sed -n 's/.*"uuid": "\(.*\)".*/\1/p' "$work/out")" = "$uuid" ] ||
  fail "port show by uuid: $(cat "$work/out")"
expect 0 api 3 ip list --columns instance_ip_address
grep -Eq "p1-ip +10\.20\.0\.[0-9]+" "$work/out" || fail "instance-ip got no address: $(cat "$work/out")"
# update, then read it back through another node
expect 0 api 1 port update default-domain:e2e:p1 display_name="front end"
expect 0 api 2 port show default-domain:e2e:p1
grep -q "^display_name *front end" "$work/out" || fail "update not visible: $(cat "$work/out")"
# a body from stdin
echo '{"virtual-machine-interface": {"name": "p2", "fq_name": ["default-domain", "e2e", "p2"], "parent_type": "project", "virtual_network_refs": [{"to": ["default-domain", "e2e", "net"]}]}}' |
  expect 0 api 1 port create -f -
# exit codes
expect 4 api 2 port create p1 --parent default-domain:e2e --ref vn=default-domain:e2e:net
grep -q "409" "$work/err" || fail "conflict message: $(cat "$work/err")"
expect 4 api 1 vn delete default-domain:e2e:net   # live refs
expect 3 api 3 port show default-domain:e2e:nope
expect 2 api 1 port frobnicate
expect 2 api 1 no-such-type list
expect 6 env STRATA_TOKEN=st_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "$stratactl" --url "https://127.0.0.1:$api_port" port list
# the config file and a reader token
expect 0 api 1 token create --role reader --description e2e
rtok=$(cat "$work/out")
mkdir -p "$work/.config/strata"
printf 'url = https://127.0.0.3:%s\ntoken = %s\n' "$api_port" "$rtok" >"$work/.config/strata/stratactl.conf"
expect 0 env -u STRATA_TOKEN "$stratactl" port list
expect 6 env -u STRATA_TOKEN "$stratactl" port delete default-domain:e2e:p2
# the compiler rules version: the first compile recorded the newest this
# build implements, every node reported its range at start; raising to a
# version no node implements is refused (409), a reader may not raise (403),
# raising to the current one only adds an audit record
expect 0 api 3 -o json cluster version
grep -q '"version": *3' "$work/out" || fail "cluster version is not 3: $(cat "$work/out")"
grep -q '"max": *3' "$work/out" || fail "node range does not reach 3: $(cat "$work/out")"
expect 6 env -u STRATA_TOKEN STRATA_TOKEN="$rtok" STRATA_URL="https://127.0.0.2:$api_port" "$stratactl" cluster version raise 3
reported() { store 1 get /c/nv/ --prefix >"$work/nv" 2>&1 && [ "$(grep -c '1 3' "$work/nv")" = 3 ]; }
wait_for 10 reported || fail "not every node reported its compiler versions: $(cat "$work/nv")"
expect 4 api 1 cluster version raise 4
expect 0 api 2 cluster version raise 3
grep -q "cluster version 3 at revision" "$work/out" || fail "raise answered: $(cat "$work/out")"
rm "$work/.config/strata/stratactl.conf"
# delete, then it is gone everywhere
expect 0 api 1 -o json ip list
ipuuid=$(grep -o '"uuid": "[^"]*"' "$work/out" | head -1 | cut -d'"' -f4)
expect 0 api 1 ip delete "$ipuuid"
expect 0 api 2 port delete default-domain:e2e:p1
expect 3 api 3 port show "$uuid"
# a revoked token is refused
expect 0 api 1 -o json token list
rid=$(grep -B3 '"e2e"' "$work/out" | grep -o '"uuid": "[^"]*"' | cut -d'"' -f4 || true)
[ -n "$rid" ] || rid=$(grep -A3 '"e2e"' "$work/out" | grep -o '"uuid": "[^"]*"' | cut -d'"' -f4)
expect 0 api 1 token revoke "$rid"
# every node refuses it as soon as its replica has applied the revocation
refused() { local rc=0; STRATA_TOKEN="$rtok" "$stratactl" --url "https://127.0.0.2:$api_port" port list || rc=$?; [ "$rc" = 6 ]; }
wait_for 10 refused || fail "revoked token still accepted by node 2"
expect 0 "$stratactl" --url "https://127.0.0.1:$api_port,https://127.0.0.2:$api_port,https://127.0.0.3:$api_port" cluster status
echo "PASS stratactl"

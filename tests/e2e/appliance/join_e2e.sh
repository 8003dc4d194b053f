#!/usr/bin/env bash
# e2e test of enrolment with join tokens on real processes and real TLS:
#   join_e2e.sh STRATAD STRATACTL STRATA_AGENT|- WORKDIR
# A three-node cluster (127.0.0.1-3, `stratad run`) is started; an admin
# mints join tokens through the REST API (stratactl join-token). Refused
# with the right status and no state change: a forged token (401), a wrong
# CA fingerprint (nothing sent), an expired token (401), a revoked token
# (401). A fourth node joins with `stratad join --url --token
# --ca-fingerprint` (its own key, a certificate from the cluster CA, its
# node config written), becomes a voting store member and serves API reads
# of objects created before it joined; the same token used again is refused
# (409) and the token shows as used. An agent enrols with a vrouter token
# (`strata-agent enroll`): its certificate verifies against the CA, names
# the virtual-router the token binds, carries the agent role and is admitted
# by the control role's XMPP server (node 1 runs it); two agents
# racing with one token: one certificate, one 409.
# Every wait is bounded and every check fails the test with a message.
set -euo pipefail
stratad=$1 stratactl=$2 agent=$3 work=$4
port=$((7700 + (RANDOM % 50) * 8))
api_port=$((port + 2)) bgp_port=$((port + 3)) xmpp_port=$((port + 4))
rm -rf "$work"
mkdir -p "$work"
pids=()

fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/n*.log; do echo "--- $f" >&2; tail -15 "$f" >&2 || true; done
  exit 1
}
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" $(pgrep -P "$p" 2>/dev/null) 2>/dev/null || true; done
}
trap cleanup EXIT
wait_for() {
  local n=$(($1 * 10)); shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
if ! "$stratad" roles | grep -qx config; then echo "SKIP: this stratad has no config role"; exit 77; fi

"$stratad" init --pki "$work/pki" --node n1=127.0.0.1 --node n2=127.0.0.2 --node n3=127.0.0.3 >"$work/init.out"
fp=$(sed -n 's/^cluster CA fingerprint //p' "$work/init.out")
[ -n "$fp" ] || fail "stratad init printed no CA fingerprint: $(cat "$work/init.out")"
[ "$(stat -c %a "$work/pki/ca.key")" = 600 ] || fail "ca.key is not mode 0600"
. "$(dirname "$0")/../lib/cluster.sh"
# Node 1 also runs the control role: its XMPP server checks agents' certificates.
E2E_NODE_ROLES[1]="store config control"
e2e_cluster_start store config
e2e_cluster_token
expect() { # expect STATUS CMD...
  local want=$1 rc=0; shift
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" = "$want" ] || fail "'$*' exited $rc, want $want: $(cat "$work/err")"
}
store() { "$stratactl" store -s "unix:$work/n1/store.sock" "$@"; }
audit_count() { store get /c/a/ --prefix --count 2>/dev/null | tail -1 | tr -dc 0-9; }
voters() { store members | grep -c voter || true; }
state_of() { # the state of join token $1, from the JSON list (one object per line)
  api 1 -o json join-token list | tr -d ' \n' | tr '}' '\n' | grep "\"uuid\":\"$1\"" |
    sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'
}

expect 0 api 1 cluster status
grep -q "fingerprint $fp" "$work/out" || fail "cluster status does not show the CA fingerprint: $(cat "$work/out")"
expect 0 api 1 project create before-join --parent default-domain
# Only admins mint join tokens.
expect 0 api 1 token create --role member --ttl 600
member=$(cat "$work/out")
STRATA_TOKEN=$member expect 6 api 1 join-token create --kind controller --name n4
grep -q "403" "$work/err" || fail "member token: $(cat "$work/err")"
# Bad requests.
expect 2 api 1 join-token create --kind controller
expect 1 api 1 join-token create --kind switch --name n4
expect 1 api 1 join-token create --kind controller --name 'bad/name'
expect 0 api 1 join-token create --kind controller --name n4 --ttl 300
t4=$(cat "$work/out")
u4=$(sed -n 's/.*uuid=\([0-9a-f-]*\).*/\1/p' "$work/err")
[ "$(state_of "$u4")" = unused ] || fail "new token not listed as unused"
[ "$(voters)" = 3 ] || fail "want 3 voters before the join"

join4() { # join4 DIR TOKEN [FINGERPRINT]
  "$stratad" join --url "https://127.0.0.1:$api_port" --token "$2" --ca-fingerprint "${3:-$fp}" \
    --dir "$1" --name n4 --address 127.0.0.4 --raft-port "$port" --api-port "$api_port"
}
# A forged token (well-formed, unknown): 401, nothing written, nothing changed.
a0=$(audit_count)
forged="sj_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | cut -c1-43)"
rc=0; join4 "$work/forged" "$forged" >"$work/forged.out" 2>&1 || rc=$?
[ "$rc" = 6 ] || fail "forged token: exit $rc, want 6: $(cat "$work/forged.out")"
grep -q "HTTP 401" "$work/forged.out" || fail "forged token: $(cat "$work/forged.out")"
[ ! -e "$work/forged/node.json" ] && [ ! -e "$work/forged/pki/n4.pem" ] || fail "forged token left credentials"
# A wrong fingerprint: refused before the token is sent.
rc=0; join4 "$work/wrongfp" "$t4" "sha256:$(printf '%064d' 0)" >"$work/wrongfp.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "wrong fingerprint: exit $rc, want 1"
grep -q "not the pinned" "$work/wrongfp.out" || fail "wrong fingerprint: $(cat "$work/wrongfp.out")"
[ "$(state_of "$u4")" = unused ] || fail "a refused join consumed the token"
[ "$(audit_count)" = "$a0" ] || fail "refused joins changed the audit trail"
# An expired token: 401.
expect 0 api 1 join-token create --kind controller --name n4 --ttl 1
tx=$(cat "$work/out")
ux=$(sed -n 's/.*uuid=\([0-9a-f-]*\).*/\1/p' "$work/err")
expired() { [ "$(state_of "$ux")" = expired ]; }
wait_for 5 expired || fail "1 s token never listed as expired"
rc=0; join4 "$work/expired" "$tx" >"$work/expired.out" 2>&1 || rc=$?
[ "$rc" = 6 ] && grep -q "HTTP 401.*expired" "$work/expired.out" || fail "expired token: exit $rc: $(cat "$work/expired.out")"
# A revoked token: 401.
expect 0 api 1 join-token create --kind controller --name n4
tr_=$(cat "$work/out")
ur=$(sed -n 's/.*uuid=\([0-9a-f-]*\).*/\1/p' "$work/err")
expect 0 api 2 join-token revoke "$ur"
expect 3 api 2 join-token revoke "$ur"
rc=0; join4 "$work/revoked" "$tr_" >"$work/revoked.out" 2>&1 || rc=$?
[ "$rc" = 6 ] && grep -q "HTTP 401" "$work/revoked.out" || fail "revoked token: exit $rc: $(cat "$work/revoked.out")"
[ "$(voters)" = 3 ] || fail "a refused join changed the membership"

# The real join: node 4 enrols, writes its config, becomes a voter, serves reads.
# (the token from a file: --token-file keeps it out of the process list)
(umask 077; echo "$t4" >"$work/t4")
"$stratad" join --url "https://127.0.0.1:$api_port" --token-file "$work/t4" --ca-fingerprint "$fp" \
  --dir "$work/n4" --name n4 --address 127.0.0.4 --raft-port "$port" --api-port "$api_port" >"$work/n4.log" 2>&1 &
pids[4]=$!
enrolled() { [ -s "$work/n4/node.json" ] && [ -s "$work/n4/pki/n4.pem" ]; }
wait_for 20 enrolled || fail "node 4 did not enrol"
[ "$(stat -c %a "$work/n4/pki/n4.key")" = 600 ] || fail "n4.key is not mode 0600"
[ ! -e "$work/n4/pki/ca.key" ] || fail "the CA key reached the joiner"
cmp -s "$work/n4/pki/ca.pem" "$work/pki/ca.pem" || fail "node 4 pinned another CA"
[ "$(state_of "$u4")" = used ] || fail "the token is not marked used after enrolment"
four_voters() { [ "$(voters)" = 4 ]; }
wait_for 40 four_voters || fail "node 4 did not become a voting member: $(store members 2>&1)"
reads_on_4() { api 4 project show default-domain:before-join; }
wait_for 30 reads_on_4 || fail "node 4 does not serve API reads: $(api 4 project show default-domain:before-join 2>&1)"
expect 0 api 4 project list
grep -q "default-domain:before-join" "$work/out" || fail "project list on node 4: $(cat "$work/out")"
# Written through node 4, read on node 2.
expect 0 api 4 project create after-join --parent default-domain
expect 0 api 2 project show default-domain:after-join
# The same token again: 409, and nothing changes.
a1=$(audit_count)
rc=0; join4 "$work/again" "$t4" >"$work/again.out" 2>&1 || rc=$?
[ "$rc" = 4 ] && grep -q "HTTP 409" "$work/again.out" || fail "reused token: exit $rc: $(cat "$work/again.out")"
[ "$(audit_count)" = "$a1" ] || fail "a reused token changed the audit trail"
[ "$(voters)" = 4 ] || fail "membership changed after a reused token"
store get /c/a/ --prefix | grep -q '"op":"enroll".*"name":"n4"' || fail "no audit record of the enrolment"

# An agent enrols with a vrouter token.
if [ "$agent" != - ]; then
  expect 0 api 3 join-token create --kind vrouter --name vr-compute1
  ta=$(cat "$work/out")
  rc=0; "$agent" enroll --url "https://127.0.0.3:$api_port" --token "$ta" --ca-fingerprint "$fp" \
    --pki-dir "$work/agent" >"$work/agent.out" 2>"$work/agent.err" || rc=$?
  [ "$rc" = 0 ] || fail "agent enroll: exit $rc: $(cat "$work/agent.err")"
  [ "$(cat "$work/agent.out")" = vr-compute1 ] || fail "agent enroll printed $(cat "$work/agent.out")"
  # The control role's XMPP server admits the enrolled certificate (mutual
  # TLS against the CA, the agent role): it answers the agent's stream
  # header. A node certificate (no agent role) gets no stream.
  api 1 global-system-config update default-global-system-config autonomous_system=64512 >/dev/null ||
    fail "cluster AS"
  api 1 bgp-router create n1 --parent default-global-system-config bgp_router_parameters.router_type=control-node \
    bgp_router_parameters.address=127.0.0.1 bgp_router_parameters.identifier=127.0.0.1 \
    bgp_router_parameters.port=$bgp_port >/dev/null || fail "bgp-router n1"
  xmpp_hello() { # xmpp_hello CERT KEY NAME: the server's reply to a stream header, over mutual TLS
    { printf "<?xml version='1.0'?><stream:stream from='%s' to='network-control@contrailsystems.com' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" "$3"
      sleep 1; } |
      timeout 5 openssl s_client -quiet -no_ign_eof -connect "127.0.0.1:$xmpp_port" -cert "$1" -key "$2" \
        -CAfile "$work/pki/ca.pem" -verify_return_error 2>/dev/null || true
  }
  admitted() { xmpp_hello "$work/agent/vr-compute1.pem" "$work/agent/vr-compute1.key" vr-compute1 >"$work/xmpp.out"
    grep -q "stream:stream" "$work/xmpp.out"; }
  wait_for 30 admitted || fail "the control role's XMPP server did not admit the enrolled agent: $(cat "$work/xmpp.out")"
  xmpp_hello "$work/pki/n2.pem" "$work/pki/n2.key" n2 >"$work/xmpp-node.out"
  ! grep -q "stream:stream" "$work/xmpp-node.out" || fail "the XMPP server admitted a certificate without the agent role"
  openssl verify -CAfile "$work/pki/ca.pem" "$work/agent/vr-compute1.pem" >/dev/null ||
    fail "the agent's certificate does not verify against the cluster CA"
  sans=$(openssl x509 -in "$work/agent/vr-compute1.pem" -noout -ext subjectAltName)
  echo "$sans" | grep -q "DNS:vr-compute1" || fail "agent certificate SANs: $sans"
  echo "$sans" | grep -q "URI:urn:strata:role:agent" || fail "agent certificate lacks the agent role: $sans"
  rc=0; "$agent" enroll --url "https://127.0.0.3:$api_port" --token "$ta" --ca-fingerprint "$fp" \
    --pki-dir "$work/agent2" >/dev/null 2>"$work/agent2.err" || rc=$?
  [ "$rc" = 4 ] && grep -q "HTTP 409" "$work/agent2.err" || fail "agent token reuse: exit $rc: $(cat "$work/agent2.err")"
  # Two agents racing with one token: exactly one gets a certificate.
  expect 0 api 1 join-token create --kind vrouter --name vr-race
  tr2=$(cat "$work/out")
  for k in 1 2; do
    ( rc=0; "$agent" enroll --url "https://127.0.0.$k:$api_port" --token "$tr2" --ca-fingerprint "$fp" \
        --pki-dir "$work/race$k" >/dev/null 2>&1 || rc=$?; echo "$rc" >"$work/race$k.rc" ) &
  done
  wait_race() { [ -s "$work/race1.rc" ] && [ -s "$work/race2.rc" ]; }
  wait_for 20 wait_race || fail "racing enrolments did not finish"
  [ "$(sort "$work/race1.rc" "$work/race2.rc" | tr '\n' ' ')" = "0 4 " ] ||
    fail "racing enrolments: exits $(cat "$work/race1.rc") and $(cat "$work/race2.rc"), want 0 and 4"
  # A controller token does not make an agent.
  expect 0 api 3 join-token create --kind controller --name n9 --address 127.0.0.9
  rc=0; "$agent" enroll --url "https://127.0.0.3:$api_port" --token "$(cat "$work/out")" --ca-fingerprint "$fp" \
    --pki-dir "$work/agent3" >/dev/null 2>"$work/agent3.err" || rc=$?
  [ "$rc" = 6 ] && grep -q "HTTP 403.*not a vrouter" "$work/agent3.err" ||
    fail "controller token as agent: exit $rc: $(cat "$work/agent3.err")"
fi
echo "PASS join"

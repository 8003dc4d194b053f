#!/bin/bash
# e2e of instance names answered with a control node's help (issue #7 item
# 4, issue #9 item 4; docs/agent-proxy.md "Instance names"), on the slice
# of slice_lib.sh: three controller nodes, compute nodes A (v1 red, v3 blue)
# and B (v2 red, v4 blue), machines slice-vm1..4, ports bound by uuid.
# Asserted, with busybox nslookup in the VM namespaces against the subnet
# gateway (the agent's DNS proxy):
#   1. the ports built from the config carry their machine's name as
#      hostname (`ports` lists hostname=slice-vmI);
#   2. v2 (B) resolves slice-vm2 (its own agent's port: answered locally)
#      and slice-vm1 (a VM on A in the same network: agent B asked a
#      control node over XMPP; `status` counts the question and its answer),
#      and the reverse name of v1's address;
#   3. v4 (blue, B) does not resolve slice-vm1 (red) nor v1's address, and
#      resolves slice-vm3 (blue, on A);
#   4. with control node n1 (agent A's first) killed, v1 (A) still resolves
#      slice-vm2: agent A asks n2.
# Usage: dns_e2e.sh STRATAD STRATACTL STRATA_AGENT STRATA_VROUTER
# Exit 77 (skip) when not root or without namespaces, jq, python3 or busybox.
set -u
stratad=$1 stratactl=$2 AGENT=$3 VROUTER=$4
t0=$SECONDS

. "$(dirname "$0")/../lib/netns.sh"
command -v jq >/dev/null && command -v python3 >/dev/null || { echo "SKIP: jq and python3 are needed"; exit 77; }
e2e_setup slice-dns busybox
busybox nslookup -h 2>&1 | grep -qi usage || { echo "SKIP: busybox without nslookup"; exit 77; }
SLICE_NS=sd
work=$WORK
. "$(dirname "$0")/slice_lib.sh"
. "$(dirname "$0")/slice_test.sh"

slice_pki && slice_controller || die "controller"
slice_intent || die "intent"
slice_compute || die "compute nodes"
slice_bind || die "bind the ports"
ok "slice up: ${IP[*]}"

# ---- 1. hostnames from the config ----
for i in 1 2 3 4; do
    n=a
    [ $((i % 2)) = 0 ] && n=b
    actl $n ports | grep -q "^${UUID[$i]} .* hostname=slice-vm$i " || { actl $n ports; die "port $i has no hostname slice-vm$i"; }
done
ok "ports built from the config carry their machine's name"

# lookup I NAME: VM i asks its gateway for NAME; prints busybox's answer
lookup() {
    local gw=${IP[$1]%.*}.1
    in_ns ${VNS[$1]} timeout 10 busybox nslookup $2 $gw 2>&1
}
# resolves I NAME ADDR: VM i gets ADDR for NAME
resolves() { lookup $1 $2 | grep -Eq "^Address( 1)?: $3( |$)"; }
dns_count() { actl $1 status | sed -n "s/^dns asked \([0-9]*\) answered \([0-9]*\) .*/\1 \2/p"; }

# ---- 2. same network: local and remote names, reverse ----
resolves 2 slice-vm2 ${IP[2]} || { lookup 2 slice-vm2; die "v2 does not resolve its own name"; }
before=$(dns_count b)
resolves 2 slice-vm1 ${IP[1]} || { lookup 2 slice-vm1; actl b status | grep ^dns; die "v2 does not resolve slice-vm1 (on A, same network)"; }
after=$(dns_count b)
set -- $before $after
[ "$3" -gt "$1" ] && [ "$4" -gt "$2" ] || die "agent b asked no control node for slice-vm1 ($before -> $after)"
ok "v2 resolves slice-vm2 locally and slice-vm1 through a control node (asked/answered $before -> $after)"
lookup 2 ${IP[1]} | grep -q "slice-vm1" || { lookup 2 ${IP[1]}; die "v2: no reverse name for ${IP[1]}"; }
ok "v2 resolves ${IP[1]} back to slice-vm1"

# ---- 3. other network ----
out=$(lookup 4 slice-vm1)
echo "$out" | grep -Eq "^Address( 1)?: ${IP[1]}( |$)" && die "v4 (blue) resolved slice-vm1 (red): $out"
echo "$out" | grep -Eqi "NXDOMAIN|can't find|can't resolve" || die "v4: no negative answer for slice-vm1: $out"
lookup 4 ${IP[1]} | grep -q "slice-vm1" && die "v4 (blue) got red's slice-vm1 by address"
resolves 4 slice-vm3 ${IP[3]} || { lookup 4 slice-vm3; die "v4 does not resolve slice-vm3 (blue, on A)"; }
ok "v4 (blue) does not learn red's names, resolves slice-vm3 (blue, on A)"

# ---- 4. one control node down: the other answers ----
kill -TERM ${pids[1]}
wait_for 30 bash -c "! \"$AGENT\" ctl --ctl \"$work/agent-a.ctl\" status | grep -q '^node0 .* up '" || die "agent a still sees n1 up"
before=$(dns_count a)
resolves 1 slice-vm2 ${IP[2]} || { lookup 1 slice-vm2; actl a status; die "v1 does not resolve slice-vm2 with n1 down"; }
after=$(dns_count a)
set -- $before $after
[ "$4" -gt "$2" ] || die "agent a had no answer from a control node for slice-vm2 ($before -> $after)"
ok "with n1 down, v1 resolves slice-vm2 through n2 (asked/answered $before -> $after)"

slice_stop
[ $FAILS = 0 ] || exit 1
echo "PASS dns ($((SECONDS - t0)) s)"

#!/usr/bin/env bash
# e2e check of bench/flows' wiring (not of its speed): a small run of each
# agent-interface wiring (veth pair, strata-vrouter's TAP; and the veth pair
# with the agent kept off the ring, on the control socket) with FLOWS_CHECK=1,
# which fails when strata-vrouter dropped agent frames as malformed (the
# fault of the first bench, whose generated punt frames strata-vrouter read
# on the agent's own device), when the agent counted bad punts, or when a
# round set up no flow; and the run must print its RESULT line; the
# end-to-end round's punts must have come through the ring (or the socket
# in the third run) and their packets been held.
#   flows_bench_e2e.sh SOURCE_DIR BUILD_DIR
# Exit 77 (skip) only when namespaces cannot be created (not root).
set -u
SRC=$1
BUILD=$2
if ! ip netns add flt-probe 2>/dev/null; then
    echo "SKIP: cannot create network namespaces"
    exit 77
fi
ip netns del flt-probe
command -v nft >/dev/null || { echo "FAIL: nft is missing"; exit 1; }
for run in veth tap veth-socket; do
    wiring=${run%-socket}
    ring=1
    [ "$run" = veth-socket ] && ring=0 # the agent told to keep to the socket (as with an older datapath)
    out=$(FLOWS_COUNT=3000 FLOWS_ROUNDS=1 FLOWS_CHECK=1 FLOWS_NS=flt FLOWS_AGENT_IF=$wiring FLOWS_RING=$ring \
        "$SRC/bench/flows/run" "$BUILD" 2>&1)
    rc=$?
    echo "$out" | grep -E '^(round|median|RESULT)'
    if [ $rc -ne 0 ]; then
        echo "$out"
        echo "FAIL: bench/flows with the $wiring wiring exited $rc"
        exit 1
    fi
    if ! grep -q '^RESULT flows flows_per_s=[0-9]' <<<"$out"; then
        echo "FAIL: no RESULT line with the $wiring wiring"
        exit 1
    fi
    if grep -q 'WIRING FAULT' <<<"$out"; then
        echo "FAIL: wiring fault with the $wiring wiring"
        exit 1
    fi
    # the end-to-end round's flow misses came through the ring (or, told
    # not to take it, the socket), and were held by the datapath
    dp_status=$(sed -n '/after the last strata\/datapath round/,$p' <<<"$out")
    if [ $ring = 1 ]; then
        want='ring on punts [1-9]'
    else
        want='ring off punts 0 '
    fi
    if ! grep -q "$want" <<<"$dp_status" || ! grep -q 'held [1-9]' <<<"$dp_status"; then
        echo "$dp_status"
        echo "FAIL: $run: the datapath round's punts did not take the expected path ($want, held)"
        exit 1
    fi
done
echo "PASS: flows bench wiring (veth and tap over the ring, veth over the socket)"

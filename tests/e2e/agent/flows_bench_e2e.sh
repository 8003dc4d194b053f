#!/usr/bin/env bash
# e2e check of bench/flows' wiring (not of its speed): a small run of each
# agent-interface wiring (veth pair, strata-vrouter's TAP) with FLOWS_CHECK=1,
# which fails when strata-vrouter dropped agent frames as malformed (the
# fault of the first bench, whose generated punt frames strata-vrouter read
# on the agent's own device), when the agent counted bad punts, or when a
# round set up no flow; and the run must print its RESULT line.
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
for wiring in veth tap; do
    out=$(FLOWS_COUNT=3000 FLOWS_ROUNDS=1 FLOWS_CHECK=1 FLOWS_NS=flt FLOWS_AGENT_IF=$wiring \
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
done
echo "PASS: flows bench wiring (veth and tap)"

# slice_test.sh: the step reporting the slice e2e tests share (slice, dns,
# fip, chain; sourced after slice_lib.sh). `make demo` narrates instead.
# Needs: t0 (the test's start, in SECONDS), work, fail() (lib/netns.sh).

# ok MSG: a step passed, with the seconds since the test began
ok() { echo "ok $((SECONDS - t0))s: $*"; }

# die MSG: the step failed; show each agent's last log lines (and, if the
# test defines slice_debug(), what it prints), then end the test
die() {
    fail "$*"
    for n in a b; do echo "--- agent-$n.log" >&2; tail -15 "$work/agent-$n.log" >&2; done
    if declare -F slice_debug >/dev/null; then slice_debug >&2; fi
    exit 1
}

# Shared scaffolding of the namespace e2e scripts (tests/e2e/vrouter,
# tests/e2e/agent), sourced after the script has parsed its arguments:
#
#   . "$(dirname "$0")/../lib/netns.sh"
#   e2e_setup NAME-PREFIX TOOL...   root check (exit 77 when not root), the
#                                   required tools (exit 1 when missing), a
#                                   per-run ID and work directory ($WORK)
#                                   and the exit trap
#   E2E_NS+=(ns...)                 namespaces the cleanup deletes
#   PIDS+=(pid...)                  processes the cleanup kills
#                                   (with $E2E_KILL_SIGNAL, default TERM)
#   e2e_first_ns NS                 creates the first namespace, exit 77
#                                   when namespaces cannot be created
#   e2e_add_ns NS...                creates (if needed) and prepares
#                                   namespaces: lo up, IPv6 off
#   e2e_underlay NSA NSB            veth ua/ub (MTU 9000) between two
#                                   compute namespaces, 10.99.0.1 and .2/24
#   fail MSG / pass MSG / in_ns NS CMD... / wait_for SECONDS CMD...
# Every namespace name carries the per-run $ID so parallel runs do not
# collide; KEEP_WORK=1 keeps the work directory for a post-mortem.

E2E_NS=()
PIDS=()
FAILS=0
E2E_KILL_SIGNAL=${E2E_KILL_SIGNAL:-TERM}

fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}
pass() {
    echo "ok: $*"
}
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}
# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds; 1 when
# SECONDS pass first.
wait_for() {
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -ge $deadline ] && return 1
        sleep 0.05
    done
}

e2e_cleanup() {
    [ "$BASHPID" = "$$" ] || return 0 # not in background subshells
    local p ns
    for p in "${PIDS[@]}"; do
        kill -"$E2E_KILL_SIGNAL" "$p" 2>/dev/null
    done
    wait 2>/dev/null
    for ns in "${E2E_NS[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "work dir kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}

e2e_setup() { # NAME-PREFIX TOOL...
    local name=$1 tool
    shift
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: network namespaces need root"
        exit 77
    fi
    for tool in ip "$@"; do
        if ! command -v "$tool" >/dev/null; then
            echo "FAIL: $tool is required (scripts/install-deps installs it)"
            exit 1
        fi
    done
    ID=$(printf '%x%04x' $$ $RANDOM)
    WORK=$(mktemp -d "/tmp/$name.XXXXXX")
    trap e2e_cleanup EXIT
    trap 'exit 1' INT TERM
}

e2e_first_ns() { # NS
    if ! ip netns add "$1" 2>/dev/null; then
        echo "SKIP: cannot create network namespaces"
        exit 77
    fi
    E2E_NS+=("$1")
}

e2e_add_ns() { # NS...
    local ns
    for ns in "$@"; do
        if ! ip netns list | grep -qw "^$ns"; then
            ip netns add "$ns" || return 1
            E2E_NS+=("$ns")
        fi
        in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || return 1
        in_ns "$ns" ip link set lo up || return 1
    done
}

e2e_underlay() { # NSA NSB
    ip link add ua netns "$1" mtu 9000 type veth peer name ub netns "$2" mtu 9000 &&
        in_ns "$1" ip addr add 10.99.0.1/24 dev ua &&
        in_ns "$2" ip addr add 10.99.0.2/24 dev ub &&
        in_ns "$1" ip link set ua up &&
        in_ns "$2" ip link set ub up
}

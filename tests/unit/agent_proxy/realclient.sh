#!/bin/bash
# Checks the agent's proxies (vrouter/agent/proxy) against real clients:
# a VM namespace whose eth0 (MAC 02:00:00:00:00:01) is a veth to a host
# namespace where agent_proxy_responder answers every frame through
# proxy_handle(). Asserted: busybox udhcpc gets the port's address, mask,
# router, DNS, domain, hostname, MTU, lease and server id (and with a /32
# address, option 121's host route to the gateway plus the default route);
# busybox nslookup resolves a bare instance name, its FQDN and a PTR, and
# fails for an unknown name in the domain and for an outside name; busybox
# arping gets the vRouter MAC for the gateway and for a known remote
# address and no answer for an unknown one.
# Usage: realclient.sh AGENT_PROXY_RESPONDER [DUMPDIR] (DUMPDIR keeps the
# answered requests: the fuzz seed corpus). Exit 77 (skip) when not root.
set -u
RESP=$1
DUMP=${2:-}

if [ "$(id -u)" != 0 ]; then
    echo "SKIP: network namespaces need root"
    exit 77
fi
if ! command -v busybox >/dev/null; then
    echo "SKIP: busybox (udhcpc, nslookup, arping) is not installed"
    exit 77
fi

ID=$(printf '%x%04x' $$ $RANDOM)
H=prh-$ID V=prv-$ID
WORK=$(mktemp -d)
RPID=
FAILS=0

cleanup() {
    [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    ip netns del "$H" 2>/dev/null
    ip netns del "$V" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

check() { # check DESCRIPTION COMMAND...
    if "${@:2}"; then
        echo "ok: $1"
    else
        echo "FAIL: $1"
        FAILS=$((FAILS + 1))
    fi
}

ip netns add "$H" && ip netns add "$V" || { echo "FAIL: cannot create namespaces"; exit 1; }
ip link add vr0 netns "$H" type veth peer name eth0 netns "$V"
ip -n "$V" link set eth0 address 02:00:00:00:00:01
for ns in "$H" "$V"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip -n "$H" link set vr0 up
ip -n "$V" link set eth0 up

cat > "$WORK/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
# udhcpc event script: records what the lease carried and applies it.
case "$1" in
bound|renew)
    env | grep -E '^(ip|subnet|router|dns|domain|hostname|mtu|lease|serverid|staticroutes|mask)=' \
        | sort > "$LEASE_OUT"
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    ;;
esac
exit 0
SCRIPT
chmod +x "$WORK/udhcpc.sh"

start_responder() { # PLEN
    [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    ip netns exec "$H" "$RESP" vr0 "$1" $DUMP >> "$WORK/responder.log" 2>&1 &
    RPID=$!
    sleep 0.3
}

has() { grep -qx "$1" "$2"; }

# ---- /24: DHCP, DNS, ARP ----
start_responder 24
LEASE_OUT=$WORK/lease24 ip netns exec "$V" env LEASE_OUT="$WORK/lease24" \
    busybox udhcpc -i eth0 -f -q -n -t 4 -T 1 -O staticroutes -O mtu -s "$WORK/udhcpc.sh" > "$WORK/udhcpc24.log" 2>&1
check "udhcpc got a lease" test -s "$WORK/lease24"
for kv in ip=10.1.1.5 subnet=255.255.255.0 mask=24 router=10.1.1.1 dns=10.1.1.1 domain=tenant.example \
          hostname=vm1 mtu=1450 lease=86400 serverid=10.1.1.1; do
    check "lease has $kv" has "$kv" "$WORK/lease24"
done
check "no option 121 with an on-link gateway" bash -c "! grep -q staticroutes $WORK/lease24"
cat "$WORK/lease24"

ns() { ip netns exec "$V" busybox nslookup "$@" 2>&1; }
out=$(ns vm2 10.1.1.1); echo "$out"
check "nslookup vm2 -> 10.1.2.7" grep -q "Address: 10.1.2.7" <<< "$out"
out=$(ns vm2.tenant.example 10.1.1.1)
check "nslookup vm2.tenant.example -> 10.1.2.7" grep -q "Address: 10.1.2.7" <<< "$out"
out=$(ns 10.1.1.5 10.1.1.1); echo "$out"
check "nslookup 10.1.1.5 -> vm1.tenant.example" grep -q "vm1.tenant.example" <<< "$out"
out=$(ns nope.tenant.example 10.1.1.1); echo "$out"
check "nslookup nope.tenant.example -> NXDOMAIN" grep -qi "NXDOMAIN" <<< "$out"
out=$(ns www.example.org 10.1.1.1); echo "$out"
check "nslookup www.example.org -> REFUSED" grep -qi "REFUSED" <<< "$out"

arp() { ip netns exec "$V" busybox arping -c 1 -w 2 -I eth0 "$1" 2>&1; }
out=$(arp 10.1.1.1); echo "$out"
check "arping gateway -> 00:00:5e:00:01:00" grep -qi "\[00:00:5e:00:01:00\]" <<< "$out"
out=$(arp 10.1.2.7)
check "arping known 10.1.2.7 -> 00:00:5e:00:01:00" grep -qi "\[00:00:5e:00:01:00\]" <<< "$out"
out=$(arp 10.1.2.99)
check "arping unknown 10.1.2.99 -> no answer" grep -q "Received 0 response" <<< "$out"

# ---- /32: option 121 carries the route to the gateway ----
ip -n "$V" addr flush dev eth0
start_responder 32
ip netns exec "$V" env LEASE_OUT="$WORK/lease32" \
    busybox udhcpc -i eth0 -f -q -n -t 4 -T 1 -O staticroutes -s "$WORK/udhcpc.sh" > "$WORK/udhcpc32.log" 2>&1
cat "$WORK/lease32" 2>/dev/null
check "/32 lease: mask 32" has "mask=32" "$WORK/lease32"
check "/32 lease: option 121 host route + default" \
    has "staticroutes=10.1.1.1/32 0.0.0.0 0.0.0.0/0 10.1.1.1" "$WORK/lease32"

echo "--- responder log"
sort "$WORK/responder.log" | uniq -c
if [ "$FAILS" -ne 0 ]; then
    echo "FAIL: $FAILS check(s) failed"
    exit 1
fi
echo "PASS"

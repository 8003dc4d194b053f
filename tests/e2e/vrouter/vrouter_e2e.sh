#!/bin/bash
# e2e test of the user-space datapath (vrouter/uspace) in network namespaces.
#
#   v1 (192.168.1.1, VN red) --veth/AF_PACKET-- [ca: strata-vrouter 10.99.0.1]
#                                                    | underlay veth, MTU 9000
#   v2 (192.168.1.2, VN red)  --TAP-- [cb: strata-vrouter 10.99.0.2] --TAP-- v3
#                                                    (192.168.1.3, VN blue)
# Every namespace name carries a per-run suffix; all are deleted on exit.
# vrctl (the stand-in for the agent) programs both datapaths (flows idle
# for an hour before aging, so the driver-installed flow lives until the
# sweep however slow the run). Asserted:
#   1. ping and a 4 MB TCP transfer v1 <-> v2 over MPLSoGRE, MPLSoUDP and
#      VXLAN, each with the fabric captured and dissected by tshark showing
#      the expected outer protocol and MPLS labels / VNI in both directions
#      (v1's veth read through A's AF_PACKET receive ring);
#   2. v1 <-> v3 isolated (different VNs): pings fail both ways;
#   3. headless: the driver that programmed A is killed (SIGKILL) in the
#      middle of a 400-packet ping: zero loss; a new driver announces
#      generation 2, re-installs all but a stale route, label and flow,
#      sweeps during another ping: zero loss, the stale entries are gone
#      from the dumps and every remaining entry carries generation 2.
# Usage: vrouter_e2e.sh STRATA_VROUTER VRCTL TCPXFER (VROUTER_E2E_BYTES sets
# the transfer size; transfer times are printed, never asserted). Exit 77 (skip) only
# when namespaces cannot be created (not root).
set -u
VROUTER=$1 VRCTL=$2 TCPXFER=$3

. "$(dirname "$0")/../lib/netns.sh"
e2e_setup vrouter-e2e ping tshark ethtool
CA=svca-$ID CB=svcb-$ID V1=svv1-$ID V2=svv2-$ID V3=svv3-$ID
ROUTER_MAC=00:00:5e:00:01:00
XFER=${VROUTER_E2E_BYTES:-4000000} # TCP transfer size per encapsulation
MAC1=02:00:00:00:01:01 MAC2=02:00:00:00:01:02 MAC3=02:00:00:00:02:03
declare -A VR_PID

e2e_first_ns $CA
set -e
e2e_add_ns $CA $CB $V1 $V2 $V3
e2e_underlay $CA $CB
# v1: a veth pair, the datapath reads p1 through AF_PACKET with virtio
# headers (GSO passthrough): the VM side leaves checksums and TCP
# segmentation to the "device", so A receives 64 KiB super-frames and
# partial checksums and must cut and complete them; towards v1, A merges
# the segments B sends (GRO). v2 and v3 are TAP devices B creates with
# virtio headers (IFF_VNET_HDR, TUNSETOFFLOAD): the same both ways at B.
ip link add eth0 netns $V1 type veth peer name p1 netns $CA
in_ns $V1 ethtool -K eth0 tx on tso on gso on >/dev/null 2>&1 || true
in_ns $V1 ip link set eth0 address $MAC1
in_ns $V1 ip addr add 192.168.1.1/24 dev eth0
in_ns $V1 ip link set eth0 up
in_ns $CA ip link set p1 up
set +e

start_vrouter() { # NS NAME
    ip netns exec $1 "$VROUTER" -s "$WORK/$2.sock" --flows 4096 --nhs 4096 --labels 4096 --routes 4096 \
        --ifs 64 --vrfs 64 --flow-idle-ms 3600000 >"$WORK/$2.log" 2>&1 &
    PIDS+=($!)
    VR_PID[$2]=$!
    wait_for 5 test -S "$WORK/$2.sock" || { echo "FAIL: $2 did not start"; cat "$WORK/$2.log"; exit 1; }
}
start_vrouter $CA a
start_vrouter $CB b

# ---- programs (gen 1) ----
nh_a() { # ENCAP: A's tunnel to v2 (label 200 / VNI 5001 at B)
    local label=200
    [ "$1" = vxlan ] && label=5001
    echo "nh 20 tunnel if 1 encap $1 label $label sip 10.99.0.1 dip 10.99.0.2 dmac $ROUTER_MAC"
}
nh_b() { # ENCAP: B's tunnel to v1 (label 100 / VNI 5001 at A)
    local label=100
    [ "$1" = vxlan ] && label=5001
    echo "nh 20 tunnel if 1 encap $1 label $label sip 10.99.0.2 dip 10.99.0.1 dmac $ROUTER_MAC"
}
prog_a() { # GEN [stale]
    cat <<EOF
gen $1
vrf 1
if 1 fabric ip 10.99.0.1
if 2 vm vrf 1 mac $MAC1 name p1
nh 10 if if 2 dmac $MAC1
$(nh_a gre)
route 1 192.168.1.1/32 nh 10
route 1 192.168.1.2/32 nh 20
label 100 nh 10
vni 5001 vrf 1
EOF
    if [ "${2:-}" = stale ]; then
        cat <<EOF
route 1 10.200.0.0/16 nh 20
label 999 nh 10
flow vrf 1 proto 6 src 192.168.1.1 dst 192.168.1.2 sport 40000 dport 5001 action forward
EOF
    fi
}
cat >"$WORK/b.conf" <<EOF
gen 1
vrf 1
vrf 2
if 1 fabric ip 10.99.0.2
if 2 vm vrf 1 mac $MAC2 name tap2
if 3 vm vrf 2 mac $MAC3 name tap3
nh 10 if if 2 dmac $MAC2
nh 11 if if 3 dmac $MAC3
$(nh_b gre)
route 1 192.168.1.2/32 nh 10
route 1 192.168.1.1/32 nh 20
route 2 192.168.1.3/32 nh 11
label 200 nh 10
label 300 nh 11
vni 5001 vrf 1
EOF
prog_a 1 stale >"$WORK/a1.conf"

# A is programmed by a driver that stays connected (killed later)
"$VRCTL" -s "$WORK/a.sock" apply "$WORK/a1.conf" --linger >"$WORK/driver-a1.log" 2>&1 &
DRIVER=$!
PIDS+=($DRIVER)
wait_for 5 grep -q lingering "$WORK/driver-a1.log" || { fail "driver A"; cat "$WORK/driver-a1.log"; exit 1; }
"$VRCTL" -s "$WORK/b.sock" apply "$WORK/b.conf" || { echo "FAIL: program B"; exit 1; }

# B created TAP devices tap2/tap3 in its namespace: hand them to the VMs
set -e
for v in 2 3; do
    ns=$V2 mac=$MAC2
    [ $v = 3 ] && ns=$V3 mac=$MAC3
    in_ns $CB ip link set tap$v netns $ns
    in_ns $ns ip link set tap$v address $mac
    in_ns $ns ip addr add 192.168.1.$v/24 dev tap$v
    in_ns $ns ip link set tap$v up
done
# ARP is the agent's job (punted by the core): the VMs get static
# neighbours pointing at the vRouter MAC instead
in_ns $V1 ip neigh add 192.168.1.2 lladdr $ROUTER_MAC dev eth0 nud permanent
in_ns $V1 ip neigh add 192.168.1.3 lladdr $ROUTER_MAC dev eth0 nud permanent
in_ns $V2 ip neigh add 192.168.1.1 lladdr $ROUTER_MAC dev tap2 nud permanent
in_ns $V3 ip neigh add 192.168.1.1 lladdr $ROUTER_MAC dev tap3 nud permanent
set +e

# ---- 1. each encapsulation: ping, TCP, dissection ----
capture_start() { # NAME
    ip netns exec $CA tshark -q -i ua -f "ip proto 47 or udp port 6635 or udp port 4789" -w "$WORK/$1.pcapng" \
        >"$WORK/$1.tshark.log" 2>&1 &
    CAP=$!
    wait_for 10 grep -q "Capturing on" "$WORK/$1.tshark.log" || fail "tshark did not start"
}
capture_stop() {
    kill -INT $CAP
    wait $CAP
}
tcp_xfer() { # BYTES [reverse: v2 -> v1]
    local rxns=$V2 txns=$V1 dst=192.168.1.2
    [ "${2:-}" = reverse ] && rxns=$V1 txns=$V2 dst=192.168.1.1
    ip netns exec $rxns "$TCPXFER" listen 5001 >"$WORK/tcp-rx.log" 2>&1 &
    local rx=$!
    # a loaded machine can take seconds to start it: send only once it listens
    local rc=1
    if wait_for 30 grep -q listening "$WORK/tcp-rx.log"; then
        in_ns $txns timeout 30 "$TCPXFER" send $dst 5001 "$1" >"$WORK/tcp-tx.log" 2>&1
        rc=$?
    else
        echo "the receiver did not listen within 30 s" >"$WORK/tcp-tx.log"
    fi
    [ $rc = 0 ] || kill $rx 2>/dev/null # a failed sender never connects: do not wait forever
    wait $rx
    [ $rc = 0 ] && [ "$(tail -1 "$WORK/tcp-tx.log")" = "$(tail -1 "$WORK/tcp-rx.log")" ] &&
        grep -q "^bytes $1 " "$WORK/tcp-rx.log"
}

for encap in gre udp vxlan; do
    nh_a $encap | "$VRCTL" -s "$WORK/a.sock" apply - || fail "$encap: program A"
    nh_b $encap | "$VRCTL" -s "$WORK/b.sock" apply - || fail "$encap: program B"
    capture_start $encap
    if in_ns $V1 ping -c 5 -i 0.05 -W 2 192.168.1.2 >"$WORK/ping-$encap.log"; then
        pass "$encap: ping v1 -> v2"
    else
        fail "$encap: ping v1 -> v2"; cat "$WORK/ping-$encap.log"
    fi
    in_ns $V2 ping -c 3 -i 0.05 -W 2 192.168.1.1 >/dev/null && pass "$encap: ping v2 -> v1" ||
        fail "$encap: ping v2 -> v1"
    t0=$(date +%s%N)
    if tcp_xfer $XFER; then
        ms=$((($(date +%s%N) - t0) / 1000000))
        pass "$encap: TCP $XFER bytes v1 -> v2 intact in $ms ms ($(tail -1 "$WORK/tcp-rx.log"))"
    else
        fail "$encap: TCP transfer"; cat "$WORK/tcp-tx.log" "$WORK/tcp-rx.log"
    fi
    if tcp_xfer $XFER reverse; then
        pass "$encap: TCP $XFER bytes v2 -> v1 intact ($(tail -1 "$WORK/tcp-rx.log"))"
    else
        fail "$encap: TCP transfer v2 -> v1"; cat "$WORK/tcp-tx.log" "$WORK/tcp-rx.log"
    fi
    capture_stop
    # dissect: one line per fabric packet with the outer (first) occurrence
    # of: src, dst, ip proto, udp dport, MPLS label, VXLAN VNI
    tshark -r "$WORK/$encap.pcapng" -d udp.port==6635,mpls -T fields -E separator=, -E occurrence=f \
        -e ip.src -e ip.dst -e ip.proto -e udp.dstport -e mpls.label -e vxlan.vni \
        >"$WORK/$encap.fields" 2>/dev/null
    tshark -r "$WORK/$encap.pcapng" -d udp.port==6635,mpls -V 2>/dev/null | head -80 >"$WORK/$encap.verbose"
    total=$(wc -l <"$WORK/$encap.fields")
    case $encap in
    gre) want_ab="47,,200," want_ba="47,,100," layer="MultiProtocol Label Switching" ;;
    udp) want_ab="17,6635,200," want_ba="17,6635,100," layer="MultiProtocol Label Switching" ;;
    vxlan) want_ab="17,4789,,5001" want_ba="17,4789,,5001" layer="Virtual eXtensible Local Area Network" ;;
    esac
    ab=$(grep -cx "10.99.0.1,10.99.0.2,$want_ab" "$WORK/$encap.fields")
    ba=$(grep -cx "10.99.0.2,10.99.0.1,$want_ba" "$WORK/$encap.fields")
    layer_ok=$(grep -c "$layer" "$WORK/$encap.verbose")
    other=$((total - ab - ba))
    if [ "$total" -gt 100 ] && [ "$ab" -gt 0 ] && [ "$ba" -gt 0 ] && [ $other = 0 ] && [ "$layer_ok" -gt 0 ]; then
        pass "$encap: tshark dissected $total fabric packets: $ab A->B ($want_ab), $ba B->A ($want_ba)"
    else
        fail "$encap: dissection total=$total ab=$ab ba=$ba other=$other layer=$layer_ok"
        sort "$WORK/$encap.fields" | uniq -c | head -5
    fi
    grep -m3 -E "Label: |VXLAN Network Identifier|Generic Routing" "$WORK/$encap.verbose" | sed 's/^/    /'
done

# The veth of v1 was read through A's AF_PACKET receive ring all along.
if grep -q "name=p1 kind=af_packet ring gso" "$WORK/a.log"; then
    pass "A reads v1's veth through the AF_PACKET receive ring with virtio headers"
else
    fail "A did not attach v1's veth with a receive ring"; grep "port attached" "$WORK/a.log"
fi

# A sent the fabric's packets whole through AF_PACKET on its underlay device
# (the transfers and dissections above went that way once ARP was known).
if grep -q "fabric transmits through AF_PACKET" "$WORK/a.log"; then
    pass "A transmits the fabric through AF_PACKET on its underlay device"
else
    fail "A did not open its AF_PACKET fabric transmitter"; grep "fabric" "$WORK/a.log"
fi

# ---- 2. isolation between VNs ----
uu_before=$("$VRCTL" -s "$WORK/a.sock" stats | awk '$2 == "unknown-unicast" {print $3}')
if in_ns $V1 ping -c 3 -i 0.1 -W 1 192.168.1.3 >/dev/null; then
    fail "isolation: v1 (red) reached v3 (blue)"
else
    pass "isolation: v1 (red) cannot reach v3 (blue)"
fi
if in_ns $V3 ping -c 3 -i 0.1 -W 1 192.168.1.1 >/dev/null; then
    fail "isolation: v3 (blue) reached v1 (red)"
else
    pass "isolation: v3 (blue) cannot reach v1 (red)"
fi
uu_after=$("$VRCTL" -s "$WORK/a.sock" stats | awk '$2 == "unknown-unicast" {print $3}')
if [ "$((${uu_after:-0} - ${uu_before:-0}))" -ge 3 ]; then
    pass "isolation: A dropped v1's pings to v3 as unknown-unicast in VRF 1"
else
    fail "isolation: A's unknown-unicast drops went ${uu_before:-0} -> ${uu_after:-0}"
fi

# ---- 3. headless ----
ip netns exec $V1 ping -c 400 -i 0.01 -W 2 192.168.1.2 >"$WORK/ping-headless.log" 2>&1 &
PING=$!
wait_for 10 grep -q "icmp_seq=50 " "$WORK/ping-headless.log" || fail "headless: ping did not start"
{ kill -KILL $DRIVER && wait $DRIVER; } 2>/dev/null
wait_for 10 grep -q "control client gone" "$WORK/a.log" || fail "headless: A did not see the driver go"
wait $PING
if grep -q " 400 received, 0% packet loss" "$WORK/ping-headless.log"; then
    pass "headless: driver killed mid-ping (seq 50+), 400/400 replies"
else
    fail "headless: loss after killing the driver"; tail -3 "$WORK/ping-headless.log"
fi

"$VRCTL" -s "$WORK/a.sock" dump route >"$WORK/routes-before.txt"
grep -q "^route 1 10.200.0.0/16 nh 20 gen 1$" "$WORK/routes-before.txt" || fail "stale route missing before the sweep"
"$VRCTL" -s "$WORK/a.sock" dump flow | grep -q "dport 5001 action forward .* gen 1$" ||
    fail "flow installed by the driver missing"

ip netns exec $V1 ping -c 400 -i 0.01 -W 2 192.168.1.2 >"$WORK/ping-sweep.log" 2>&1 &
PING=$!
wait_for 10 grep -q "icmp_seq=50 " "$WORK/ping-sweep.log" || fail "sweep: ping did not start"
{ prog_a 2; nh_a vxlan; echo "sweep 2"; } | "$VRCTL" -s "$WORK/a.sock" apply - >"$WORK/driver-a2.log" 2>&1 ||
    fail "generation 2 driver"
wait $PING
swept=$(awk '/^swept/ {print $2}' "$WORK/driver-a2.log")
if grep -q " 400 received, 0% packet loss" "$WORK/ping-sweep.log"; then
    pass "generation 2 re-install and sweep during a ping: 400/400 replies; swept $swept entries"
else
    fail "loss during re-install/sweep"; tail -3 "$WORK/ping-sweep.log"
fi
[ "$swept" = 3 ] || fail "expected 3 stale entries swept (route, label, flow), got '$swept'"
for t in if vrf nh route label vni flow; do
    "$VRCTL" -s "$WORK/a.sock" dump $t >"$WORK/dump-$t.txt" || fail "dump $t"
done
cat "$WORK"/dump-{route,label,flow}.txt | sed 's/^/    /'
grep -q "10.200.0.0" "$WORK/dump-route.txt" && fail "stale route survived the sweep"
grep -q "^label 999 " "$WORK/dump-label.txt" && fail "stale label survived the sweep"
[ -s "$WORK/dump-flow.txt" ] && fail "stale flow survived the sweep"
old=$(cat "$WORK"/dump-*.txt | grep -vc " gen 2\( \|$\)")
[ "$old" = 0 ] || fail "$old entries not of generation 2 after the sweep"
[ "$(wc -l <"$WORK/dump-route.txt")" = 2 ] || fail "expected 2 routes after the sweep"
in_ns $V1 ping -c 3 -i 0.05 -W 2 192.168.1.2 >/dev/null && pass "forwarding after the sweep" ||
    fail "no forwarding after the sweep"
"$VRCTL" -s "$WORK/a.sock" stats | sed 's/^/    A stats: /'

# clean shutdown: SIGTERM, exit status 0 (sanitizer builds report leaks here)
for n in a b; do
    kill -TERM ${VR_PID[$n]}
    wait ${VR_PID[$n]}
    rc=$?
    [ $rc = 0 ] || { fail "strata-vrouter $n exited with $rc"; tail -20 "$WORK/$n.log"; }
done
[ $FAILS = 0 ] && pass "both datapaths stopped cleanly"
# A cut v1's super-frames (the transfers above were intact, so the segments
# and completed checksums were right) and merged B's segments towards v1
stopb=$(grep -o 'gso_frames=.*' "$WORK/b.log" | tail -1)
if grep -q "name=tap2 kind=tap gso" "$WORK/b.log" &&
    echo "$stopb" | grep -q 'gso_frames=[1-9].* gso_errors=0 gro_frames=[1-9]'; then
    pass "B: TAP ports with virtio headers, v2's super-frames cut, segments merged towards v2 ($stopb)"
else
    fail "B: no GSO passthrough on its TAP ports ($stopb)"; grep "port attached" "$WORK/b.log"
fi
stop=$(grep -o 'gso_frames=.*' "$WORK/a.log" | tail -1)
if echo "$stop" | grep -q 'gso_frames=[1-9].* gso_errors=0 gro_frames=[1-9].* fabric_af_packet=[1-9]'; then
    pass "A: GSO super-frames cut, segments merged towards v1, fabric through AF_PACKET ($stop)"
else
    fail "A: no GSO passthrough, merging or AF_PACKET fabric transmission seen ($stop)"
fi
# A glued v1's segments for the fabric (MPLSoUDP and VXLAN runs) into
# UDP_SEGMENT sends, and B received them glued through UDP_GRO (the
# transfers above were intact, so cutting them back was right)
if echo "$stop" | grep -q 'fabric_uso_sends=[1-9].* fabric_uso_fallbacks=0 ' &&
    echo "$stopb" | grep -q 'fabric_gro_datagrams=[1-9]'; then
    pass "A: fabric runs sent with UDP_SEGMENT, B: received glued with UDP_GRO"
else
    fail "A: no UDP_SEGMENT fabric sends or B: no UDP_GRO reception ($stop / $stopb)"
fi
# Both ways, super-frames went to the fabric on one core decision each
# (v1's from A's veth, v2's from B's TAP: vrd_tso.c) and glued datagrams
# were merged for the receiving VM without being cut (the transfers above
# were intact, so every rebuilt segment and merge was right)
if echo "$stop" | grep -q 'tso_direct_frames=[1-9][0-9]* tso_direct_sends=[1-9][0-9]* tso_direct_fallbacks=0 gro_direct_frames=[1-9]' &&
    echo "$stopb" | grep -q 'tso_direct_frames=[1-9][0-9]* tso_direct_sends=[1-9][0-9]* tso_direct_fallbacks=0 gro_direct_frames=[1-9]'; then
    pass "A and B: super-frames sent to the fabric on one core decision, glued datagrams merged directly"
else
    fail "no direct super-frame sends or merges ($stop / $stopb)"
fi

if [ $FAILS = 0 ]; then
    echo "PASS: vrouter e2e"
    exit 0
fi
echo "FAILED: $FAILS checks"
KEEP_WORK=1
exit 1

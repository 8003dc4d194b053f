#!/bin/bash
# BGP interoperability: strata-bgpd against a real BGP implementation from
# Debian (gobgpd, bird2 or frr), each in its own network namespace joined by
# a veth pair (10.99.X.1 Strata, 10.99.X.2 the peer; namespaces created and
# deleted here, nothing else is touched). Every check polls for its
# condition with a deadline and fails with the evidence when it does not
# hold.
#
#   gobgp: sessions Established with VPNv4, EVPN and RT constraint; routes
#          both ways (VPNv4, EVPN type 2 with VXLAN VNI, type 3); RT
#          constraint both ways (Strata only receives targets it asked for,
#          sends only targets gobgp's VRF imports); graceful restart with
#          Strata restarting: gobgp keeps Strata's routes stale, then fresh
#          after Strata's End-of-RIB (never withdrawn).
#   bird:  VPNv4 both ways; graceful restart with BIRD restarting (-R):
#          Strata keeps BIRD's route stale while it is down and marks it
#          fresh after BIRD's End-of-RIB; a BIRD restart without preserved
#          forwarding flushes the stale route first (RFC 4724 §4.2); BIRD
#          down past its restart time: the route goes long-lived stale
#          (RFC 9494) instead of being swept, fresh again once BIRD is back.
#   frr:   VPNv4 both ways, EVPN type 2 from Strata with its VNI and
#          encapsulation; TCP-MD5 on the session (both ends keyed).
#
# Usage: interop.sh gobgp|bird|frr STRATA_BGPD
set -u
PEER=$1
BGPD=$2
WORK=$(mktemp -d /tmp/bgp-interop.XXXXXX)
chmod 755 "$WORK"
ID=$(printf '%x' $$)
NA=sbgA$ID NB=sbgB$ID
NET=$(( ($$ % 200) + 20 ))
A=10.99.$NET.1 B=10.99.$NET.2
PIDS=()
FAILS=0

cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    pkill -9 -f "$WORK/" 2>/dev/null
    ip netns del "$NA" 2>/dev/null
    ip netns del "$NB" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}
ok() { echo "ok: $*"; }

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 100 ms.
wait_until() {
    local secs=$1 desc=$2
    shift 2
    local end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        if "$@" >/dev/null 2>&1; then
            ok "$desc"
            return 0
        fi
        sleep 0.1
    done
    fail "$desc (not within ${secs}s)"
    return 1
}

q() { "$BGPD" query "$WORK/ctl" "$@"; }
# strata_route TABLE PREFIX JQ-FILTER-ON-PATH: true when PREFIX's first path passes.
strata_route() { q routes "$1" | jq -e --arg p "$2" ".[] | select(.prefix == \$p) | .paths[0] | $3" >/dev/null; }
strata_no_route() { ! q routes "$1" | jq -e --arg p "$2" '.[] | select(.prefix == $p)' >/dev/null; }
strata_state() { q neighbors | jq -e --arg s "$1" '.[0].state == $s' >/dev/null; }

ip netns add "$NA" && ip netns add "$NB" || { echo "cannot create namespaces"; exit 1; }
ip link add "va$ID" type veth peer name "vb$ID"
ip link set "va$ID" netns "$NA"
ip link set "vb$ID" netns "$NB"
ip -n "$NA" addr add "$A/24" dev "va$ID"
ip -n "$NB" addr add "$B/24" dev "vb$ID"
for ns in "$NA" "$NB"; do ip -n "$ns" link set lo up; done
ip -n "$NA" link set "va$ID" up
ip -n "$NB" link set "vb$ID" up

start_strata() { # CONFIG-FILE
    ip netns exec "$NA" "$BGPD" --config "$1" --ctl "$WORK/ctl" >>"$WORK/strata.log" 2>&1 &
    STRATA=$!
    PIDS+=($STRATA)
    wait_until 10 "strata-bgpd answers on its control socket" q neighbors
}

strata_config() { # FAMILIES-JSON GR-RESTARTING EXTRA-PEER-JSON ROUTES-JSON
    cat >"$WORK/strata.json" <<EOF
{"local_as": 64512, "router_id": "$A", "listen": "$A",
 "graceful_restart": {"enabled": true, "restart_time": 60, "restarting": $2},
 "peers": [{"name": "$PEER", "address": "$B", "peer_as": 64512, "families": $1 $3}],
 "routes": $4}
EOF
}

ROUTES_BASE='[{"family": "vpnv4", "rd": "64512:1", "prefix": "10.1.1.0/24", "next_hop": "'$A'", "label": 100,
   "route_targets": ["target:64512:1"], "encapsulation": ["udp"]},
  {"family": "vpnv4", "rd": "64512:9", "prefix": "10.9.9.0/24", "next_hop": "'$A'", "label": 900,
   "route_targets": ["target:64512:9"]},
  {"family": "evpn", "rd": "64512:1", "route_type": 2, "mac": "02:00:00:00:00:01", "ip": "10.1.1.5",
   "next_hop": "'$A'", "vni": 5001, "route_targets": ["target:64512:1"], "encapsulation": ["vxlan"]}'

case "$PEER" in
gobgp)
    cat >"$WORK/gobgp.toml" <<EOF
[global.config]
  as = 64512
  router-id = "$B"
  port = 179
  local-address-list = ["$B"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$A"
    peer-as = 64512
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 60
EOF
    for fam in l3vpn-ipv4-unicast l2vpn-evpn rtc; do
        cat >>"$WORK/gobgp.toml" <<EOF
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "$fam"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
EOF
    done
    G() { ip netns exec "$NB" gobgp -u 127.0.0.1 -p 50051 "$@"; }
    ip netns exec "$NB" gobgpd -f "$WORK/gobgp.toml" --api-hosts 127.0.0.1:50051 >"$WORK/gobgpd.log" 2>&1 &
    PIDS+=($!)
    wait_until 10 "gobgpd API up" G global
    strata_config '["vpnv4", "evpn", "rtc"]' false '' "${ROUTES_BASE},
      {\"family\": \"rtc\", \"origin_as\": 64512, \"route_target\": \"target:64512:2\"}]"
    start_strata "$WORK/strata.json"
    wait_until 20 "session Established (VPNv4, EVPN, RTC)" strata_state Established
    G global rib -a vpnv4 add 10.2.0.0/24 label 200 rd 64512:2 rt 64512:2 nexthop "$B"
    G global rib -a vpnv4 add 10.3.0.0/24 label 300 rd 64512:3 rt 64512:3 nexthop "$B"
    G global rib -a evpn add macadv 02:00:00:00:00:02 10.2.0.5 etag 0 label 300 rd 64512:2 rt 64512:2 encap vxlan
    G global rib -a evpn add multicast "$B" etag 0 rd 64512:2 rt 64512:2 encap vxlan
    G vrf add red rd 64512:10 rt both 64512:1
    wait_until 10 "gobgp -> Strata: VPNv4 route with its label and target" \
        strata_route bgp.l3vpn.0 64512:2:10.2.0.0/24 '.label == 200 and .next_hop == "'$B'" and .route_targets == ["target:64512:2"]'
    wait_until 10 "gobgp -> Strata: EVPN MAC/IP route with VNI 300" \
        strata_route bgp.evpn.0 "64512:2:2-02:00:00:00:00:02,10.2.0.5" '.vni == 300'
    wait_until 10 "gobgp -> Strata: EVPN inclusive multicast route" \
        strata_route bgp.evpn.0 "64512:2:3-0-$B" '.next_hop == "'$B'"'
    wait_until 10 "gobgp -> Strata: RT constraint route for gobgp's VRF import target" \
        strata_route bgp.rtarget.0 64512:target:64512:1/96 '.next_hop == "'$B'"'
    strata_no_route bgp.l3vpn.0 64512:3:10.3.0.0/24 && ok "RT constraint: target 64512:3 (not asked for) not received" ||
        fail "RT constraint: Strata received 10.3.0.0/24 whose target it never asked for"
    gobgp_vrf_has() { G vrf red rib -j | jq -e --arg p "$1" '.[$p] // empty' >/dev/null; }
    wait_until 10 "Strata -> gobgp: VPNv4 route imported into gobgp's VRF (target 64512:1)" gobgp_vrf_has 64512:1:10.1.1.0/24
    gobgp_adj_in() { G neighbor "$A" adj-in -a vpnv4 -j | jq -e --arg p "$1" '.[$p] // empty' >/dev/null; }
    gobgp_adj_in 64512:9:10.9.9.0/24 && fail "RT constraint: Strata sent 10.9.9.0/24 whose target gobgp never asked for" ||
        ok "RT constraint: target 64512:9 (not asked for) not sent"
    gobgp_evpn_vni() { G global rib -a evpn | grep -q "02:00:00:00:00:01"; }
    wait_until 10 "Strata -> gobgp: EVPN MAC/IP route" gobgp_evpn_vni
    # gobgpd 3.x (Debian 12) dereferences a nil path in its EVPN MAC
    # mobility code when a peer's MAC/IP routes go stale (osrg/gobgp PR
    # #2797 fixes this class of crash): withdraw Strata's MAC/IP route first;
    # the withdrawal itself is checked.
    q withdraw '{"family": "evpn", "rd": "64512:1", "route_type": 2, "mac": "02:00:00:00:00:01", "ip": "10.1.1.5"}' |
        jq -e .ok >/dev/null || fail "withdraw through the control socket"
    gobgp_no_evpn() { ! G global rib -a evpn | grep -q "02:00:00:00:00:01"; }
    wait_until 10 "Strata withdraws its EVPN MAC/IP route: gone at gobgp" gobgp_no_evpn
    # Graceful restart, Strata restarting: gobgp keeps the route, stale.
    stale_at_gobgp() { G global rib -a vpnv4 -j | jq -e --arg p 64512:1:10.1.1.0/24 --argjson s "$1" '.[$p][0].stale == $s' >/dev/null; }
    # A watcher records every moment gobgp lacks the route while Strata restarts.
    ( while [ ! -e "$WORK/watch.stop" ]; do
          G global rib -a vpnv4 -j | jq -e 'has("64512:1:10.1.1.0/24")' >/dev/null || echo absent >>"$WORK/watch.log"
          echo probe >>"$WORK/watch.count"
          sleep 0.05
      done ) &
    WATCH=$!
    kill -9 "$STRATA"
    wait_until 10 "Strata killed: gobgp keeps its route, marked stale" stale_at_gobgp true ||
        G global rib -a vpnv4 -j
    strata_config '["vpnv4", "evpn", "rtc"]' true '' "$(echo "${ROUTES_BASE}" | sed '/"evpn"/,$d' | sed '$ s/,$//'),
      {\"family\": \"rtc\", \"origin_as\": 64512, \"route_target\": \"target:64512:2\"}]"
    jq -e . "$WORK/strata.json" >/dev/null || fail "restart configuration is not valid JSON"
    start_strata "$WORK/strata.json"
    wait_until 30 "Strata back: session Established again" strata_state Established
    wait_until 15 "after Strata's End-of-RIB gobgp's copy is fresh (stale cleared)" stale_at_gobgp false
    touch "$WORK/watch.stop"
    wait "$WATCH"
    PROBES=$(wc -l <"$WORK/watch.count")
    if [ -s "$WORK/watch.log" ]; then
        fail "gobgp lacked the route in $(wc -l <"$WORK/watch.log") of $PROBES probes during the restart"
    else
        ok "gobgp had the route in all $PROBES probes during the restart (never withdrawn)"
    fi
    wait_until 10 "routes from gobgp relearned after the restart" \
        strata_route bgp.l3vpn.0 64512:2:10.2.0.0/24 '.label == 200'
    ;;
bird)
    cat >"$WORK/bird.conf" <<EOF
router id $B;
log "$WORK/bird.log" all;
vpn4 table vpntab4;
protocol device {}
protocol static vpnstatic {
  vpn4 { table vpntab4; };
  route 64512:2 10.2.0.0/24 via $B mpls 200;
}
protocol bgp strata {
  local $B as 64512;
  neighbor $A as 64512;
  graceful restart on;
  graceful restart time 6;
  long lived graceful restart on;
  long lived stale time 120;
  vpn4 mpls { table vpntab4; import all; export filter { bgp_ext_community.add((rt, 64512, 2)); accept; }; next hop self; };
}
EOF
    start_bird() { ip netns exec "$NB" bird "$@" -c "$WORK/bird.conf" -s "$WORK/bird.ctl" -f >>"$WORK/bird.out" 2>&1 & BIRD=$!; PIDS+=($BIRD); }
    start_bird
    strata_config '["vpnv4"]' false '' '[{"family": "vpnv4", "rd": "64512:1", "prefix": "10.1.1.0/24",
      "next_hop": "'$A'", "label": 100, "route_targets": ["target:64512:1"]}]'
    start_strata "$WORK/strata.json"
    wait_until 20 "session Established (VPNv4)" strata_state Established
    wait_until 10 "BIRD -> Strata: VPNv4 route with its target" \
        strata_route bgp.l3vpn.0 64512:2:10.2.0.0/24 '.next_hop == "'$B'" and .route_targets == ["target:64512:2"] and .stale == false'
    bird_has() { ip netns exec "$NB" birdc -s "$WORK/bird.ctl" show route table vpntab4 all | grep -A9 "64512:1 10.1.1.0/24" | grep -q "mpls_label_stack: 100"; }
    wait_until 10 "Strata -> BIRD: VPNv4 route with label 100" bird_has
    kill -9 "$BIRD"
    wait_until 10 "BIRD killed: Strata keeps its route, stale" \
        strata_route bgp.l3vpn.0 64512:2:10.2.0.0/24 '.stale == true'
    start_bird -R
    wait_until 30 "BIRD restarted with preserved forwarding: session Established" strata_state Established
    wait_until 15 "after BIRD's End-of-RIB the route is fresh" \
        strata_route bgp.l3vpn.0 64512:2:10.2.0.0/24 '.stale == false'
    wait_until 10 "swept after BIRD's End-of-RIB, nothing left stale" \
        grep -q 'End-of-RIB from every family; stale paths swept" peer=bird paths=0' "$WORK/strata.log"
    kill -9 "$BIRD"
    wait_until 10 "BIRD killed again: stale" strata_route bgp.l3vpn.0 64512:2:10.2.0.0/24 '.stale == true'
    start_bird
    wait_until 30 "BIRD restarted without preserved forwarding: Established" strata_state Established
    wait_until 10 "stale route flushed (no F bit), then relearned fresh" \
        strata_route bgp.l3vpn.0 64512:2:10.2.0.0/24 '.stale == false'
    wait_until 10 "flush on a restart without preserved forwarding logged" \
        grep -q 'peer did not preserve forwarding; stale paths flushed" peer=bird' "$WORK/strata.log"
    # Long-lived GR (RFC 9494): BIRD stays down past its 6 s restart time;
    # the route goes LLGR-stale (kept, LLGR_STALE community, least
    # preferred) instead of being swept, and is fresh again after BIRD
    # comes back with preserved forwarding.
    kill -9 "$BIRD"
    wait_until 10 "BIRD killed (LLGR): stale" strata_route bgp.l3vpn.0 64512:2:10.2.0.0/24 '.stale == true'
    wait_until 20 "past the restart time: long-lived stale, still present" \
        strata_route bgp.l3vpn.0 64512:2:10.2.0.0/24 '.llgr_stale == true'
    wait_until 5 "LLGR transition logged" \
        grep -q 'restart time passed; paths long-lived stale" peer=bird' "$WORK/strata.log"
    start_bird -R
    wait_until 30 "BIRD back: route fresh again (neither stale nor LLGR-stale)" \
        strata_route bgp.l3vpn.0 64512:2:10.2.0.0/24 '.stale == false and .llgr_stale == false'
    ;;
frr)
    mkdir -p "$WORK/frr"
    chown frr:frr "$WORK/frr"
    cat >"$WORK/frr.conf" <<EOF
frr defaults traditional
hostname frrpeer
log file $WORK/frr/bgpd.log
route-map SETRT permit 10
 set extcommunity rt 64512:3
!
router bgp 64512
 bgp router-id $B
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor $A remote-as 64512
 neighbor $A update-source $B
 neighbor $A password strata-md5-key
 address-family ipv4 vpn
  neighbor $A activate
  network 10.3.0.0/24 rd 64512:3 label 300 route-map SETRT
 exit-address-family
 address-family l2vpn evpn
  neighbor $A activate
 exit-address-family
!
EOF
    chmod 644 "$WORK/frr.conf"
    ip netns exec "$NB" /usr/lib/frr/bgpd -f "$WORK/frr.conf" -Z --vty_socket "$WORK/frr" \
        -i "$WORK/frr/bgpd.pid" -u frr -g frr -N "i$ID" >"$WORK/frr.out" 2>&1 &
    PIDS+=($!)
    V() { ip netns exec "$NB" vtysh --vty_socket "$WORK/frr" "$@" 2>/dev/null; }
    strata_config '["vpnv4", "evpn"]' false ', "password": "strata-md5-key"' "${ROUTES_BASE}]"
    start_strata "$WORK/strata.json"
    wait_until 30 "session Established with TCP-MD5 (VPNv4, EVPN)" strata_state Established
    wait_until 10 "FRR -> Strata: VPNv4 route with label 300 and its target" \
        strata_route bgp.l3vpn.0 64512:3:10.3.0.0/24 '.label == 300 and .route_targets == ["target:64512:3"]'
    frr_vpn() { V -c "show bgp ipv4 vpn json" | jq -e '.routes.routeDistinguishers["64512:1"]["10.1.1.0/24"]' >/dev/null; }
    wait_until 10 "Strata -> FRR: VPNv4 route" frr_vpn
    frr_evpn() { V -c "show bgp l2vpn evpn json" | jq -e '.["64512:1"] | to_entries[] | select(.key | test("02:00:00:00:00:01")) | .value.paths[0].extendedCommunity.string | test("RT:64512:1") and test("ET:8")' >/dev/null; }
    wait_until 10 "Strata -> FRR: EVPN MAC/IP route with its target and VXLAN encapsulation" frr_evpn
    frr_label() { V -c "show bgp l2vpn evpn route detail json" | grep -q 5001; }
    wait_until 10 "Strata -> FRR: EVPN route carries VNI 5001" frr_label
    ;;
*)
    echo "usage: interop.sh gobgp|bird|frr STRATA_BGPD"
    exit 2
    ;;
esac

if ! kill -0 "$STRATA" 2>/dev/null; then
    fail "strata-bgpd is not running at the end"
fi
if [ $FAILS -ne 0 ]; then
    echo "--- strata-bgpd log"
    tail -40 "$WORK/strata.log"
    echo "$FAILS check(s) failed"
    exit 1
fi
echo "all checks passed ($PEER)"

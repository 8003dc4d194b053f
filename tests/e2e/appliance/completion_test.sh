#!/usr/bin/env bash
# Checks scripts/stratactl-completion.bash offers the commands and verbs it
# should (bgp, join-token, ...), with `stratactl types` answered by a stub.
#   completion_test.sh SCRIPT
set -euo pipefail
source "$1"
stratactl() { [ "$1" = types ] && echo virtual-network; }
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _stratactl; echo "${COMPREPLY[*]}"; }
check() { # check "WANT" WORDS...
  local want=$1; shift
  local got; got=$(complete_words "$@")
  [ "$got" = "$want" ] || { echo "FAIL: '$*' completes to '$got', want '$want'" >&2; exit 1; }
}
check "bgp" stratactl bg
check "join-token" stratactl jo
check "neighbors routes summary" stratactl bgp ""
check "bgp.l3vpn.0 bgp.l3vpn-inet6.0 bgp.evpn.0 bgp.rtarget.0" stratactl bgp routes bgp.
check "create list revoke" stratactl join-token ""
check "--kind --name --ttl --address" stratactl join-token create ""
check "controller vrouter" stratactl join-token create --kind ""
check "create list revoke" stratactl token ""
check "status version" stratactl cluster ""
check "raise" stratactl cluster version ""
check "virtual-network" stratactl virtual-
check "list show create update delete" stratactl vn ""
echo "PASS completion"

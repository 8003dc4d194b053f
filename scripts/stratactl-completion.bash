# bash completion for stratactl. Install: source it from ~/.bashrc, or copy
# it to /usr/share/bash-completion/completions/stratactl. Object types come
# from the binary itself (`stratactl types`), so a schema edit needs no change
# here.
_stratactl() {
  local cur prev words cword
  _init_completion 2>/dev/null || {
    cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}
    words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
  }
  local globals="--url --token --token-file --ca -o"
  case $prev in
    -o) COMPREPLY=($(compgen -W "table json" -- "$cur")); return ;;
    --ca|--token-file|-f) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --url|--token|--parent|--parent-type|--ref|--ref-attr|--columns|--limit|--role|--project|--expires|--ttl|--description|--kind|--name|--address)
      [ "$prev" = --role ] && COMPREPLY=($(compgen -W "admin member reader" -- "$cur"))
      [ "$prev" = --kind ] && COMPREPLY=($(compgen -W "controller vrouter" -- "$cur"))
      return ;;
  esac
  # The command word: skip global options and their values.
  local i=1 cmd="" verb=""
  while [ $i -lt $cword ]; do
    case ${words[i]} in
      --url|--token|--token-file|--ca|-o) i=$((i + 2)); continue ;;
    esac
    if [ -z "$cmd" ]; then cmd=${words[i]}; elif [ -z "$verb" ]; then verb=${words[i]}; fi
    i=$((i + 1))
  done
  if [ -z "$cmd" ]; then
    local types
    types=$(stratactl types 2>/dev/null)
    COMPREPLY=($(compgen -W "$globals store token join-token cluster bgp types port vn ipam ip vm fip sg policy router $types" -- "$cur"))
    return
  fi
  case $cmd in
    store)
      [ -z "$verb" ] && COMPREPLY=($(compgen -W "-s --pki --cert -o put get del txn watch status members snapshot member-add member-remove transfer" -- "$cur")) ;;
    token)
      if [ -z "$verb" ]; then COMPREPLY=($(compgen -W "create list revoke" -- "$cur"))
      elif [ "$verb" = create ]; then COMPREPLY=($(compgen -W "--role --project --expires --ttl --description" -- "$cur")); fi ;;
    join-token)
      if [ -z "$verb" ]; then COMPREPLY=($(compgen -W "create list revoke" -- "$cur"))
      elif [ "$verb" = create ]; then COMPREPLY=($(compgen -W "--kind --name --ttl --address" -- "$cur")); fi ;;
    cluster)
      if [ -z "$verb" ]; then COMPREPLY=($(compgen -W "status version" -- "$cur"))
      elif [ "$verb" = version ] && [ "${words[cword-1]}" = version ]; then COMPREPLY=($(compgen -W "raise" -- "$cur")); fi ;;
    bgp)
      if [ -z "$verb" ]; then COMPREPLY=($(compgen -W "neighbors routes summary" -- "$cur"))
      elif [ "$verb" = routes ]; then
        COMPREPLY=($(compgen -W "bgp.l3vpn.0 bgp.l3vpn-inet6.0 bgp.evpn.0 bgp.rtarget.0" -- "$cur"))
      fi ;;
    types) ;;
    *)
      case $verb in
        "") COMPREPLY=($(compgen -W "list show create update delete" -- "$cur")) ;;
        list) COMPREPLY=($(compgen -W "--parent --detail --columns --limit" -- "$cur")) ;;
        create) COMPREPLY=($(compgen -W "--parent --parent-type --ref --ref-attr -f" -- "$cur")) ;;
        update) COMPREPLY=($(compgen -W "-f" -- "$cur")) ;;
      esac ;;
  esac
}
complete -F _stratactl stratactl

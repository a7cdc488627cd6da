#!/bin/sh
# kea's run_script hook: the ISP routes each delegated prefix to the router it was delegated to
# (the customer's link-local address on wan0), and stops routing one that was taken back.
[ "$1" = leases6_committed ] || exit 0
route() { # $1 add|del, $2 the variables' prefix
  i=0
  while :; do
    eval "type=\${${2}${i}_TYPE}" "addr=\${${2}${i}_ADDRESS}" "len=\${${2}${i}_PREFIX_LEN}"
    [ -n "$type" ] || return 0
    if [ "$type" = IA_PD ]; then
      if [ "$1" = add ]; then ip -6 route replace "$addr/$len" via "$QUERY6_REMOTE_ADDR" dev wan0
      else ip -6 route del "$addr/$len" dev wan0 2>/dev/null; fi
    fi
    i=$((i + 1))
  done
}
route del DELETED_LEASES6_AT
route add LEASES6_AT
exit 0

#!/bin/sh
# Proves each canary mutation is caught: runs walquorum-sim-canary-<name> in
# canary mode over at most N seeds and prints a table of the first failing seed.
# A seed that also fails with the real core (walquorum-sim) does not count: the
# search goes on after it, so a known core bug cannot pass for a caught canary.
# Usage: canary_check.sh BUILD_DIR N NAME...
set -u
dir=$1; n=$2; shift 2
real="$dir/walquorum-sim"
missed=0
table=""
for name in "$@"; do
  lower=$(echo "$name" | tr 'A-Z' 'a-z')
  exe="$dir/walquorum-sim-canary-$lower"
  start=1
  result=""
  while [ "$start" -le "$n" ] && [ -z "$result" ]; do
    count=$((n - start + 1))
    out=$("$exe" --seeds "$count" --start "$start" --jobs 2 --expect-violation --print-failures 0 2>&1)
    rc=$?
    first=$(echo "$out" | sed -n 's/^first failing seed \([0-9]*\) (\(S[0-9]*\)).*/\1/p')
    inv=$(echo "$out" | sed -n 's/^first failing seed \([0-9]*\) (\(S[0-9]*\)).*/\2/p')
    if [ $rc -ne 0 ] || [ -z "$first" ]; then
      break
    fi
    if "$real" --seed "$first" >/dev/null 2>&1; then
      result="$first $inv"
    else
      echo "($name: seed $first fails with the real core too; searching on)"
      start=$((first + 1))
    fi
  done
  if [ -n "$result" ]; then
    table="$table$(printf '%-26s caught: first failing seed %s' "$name" "$result")
"
  else
    missed=1
    table="$table$(printf '%-26s NOT CAUGHT in %s seeds' "$name" "$n")
"
  fi
done
echo "canary                     result (seed, simulator invariant)"
printf '%s' "$table"
exit $missed

#!/bin/sh
# Proves each canary mutation is caught: runs walquorum-sim-canary-<name> in
# canary mode over at most N seeds and prints a table of the first failing seed.
# Usage: canary_check.sh BUILD_DIR N NAME...
set -u
dir=$1; n=$2; shift 2
missed=0
table=""
for name in "$@"; do
  lower=$(echo "$name" | tr 'A-Z' 'a-z')
  exe="$dir/walquorum-sim-canary-$lower"
  out=$("$exe" --seeds "$n" --jobs 2 --expect-violation --print-failures 1 2>&1)
  rc=$?
  first=$(echo "$out" | sed -n 's/^first failing seed \([0-9]*\) (\(S[0-9]*\)).*/\1 \2/p')
  if [ $rc -eq 0 ] && [ -n "$first" ]; then
    table="$table$(printf '%-26s caught: first failing seed %s' "$name" "$first")
"
  else
    missed=1
    table="$table$(printf '%-26s NOT CAUGHT in %s seeds' "$name" "$n")
"
    echo "$out" | tail -20
  fi
done
echo "canary                     result"
printf '%s' "$table"
exit $missed

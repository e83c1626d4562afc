#!/bin/sh
# Runs one libFuzzer target for WQ_FUZZ_SECONDS (default 60) over its working
# corpus (first directory: libFuzzer adds new inputs there) and its committed
# seeds (second), keeping crash inputs under ARTIFACT_PREFIX. The meson test
# 'fuzz' suite calls this; the run is bounded by coreutils timeout as well, so a
# hung target cannot hold the suite (meson's own timeout is off: the time is a
# variable). Ends with libFuzzer's final stats (executions, cov:, ft:).
# Usage: run_target.sh EXE ARTIFACT_PREFIX WORK_CORPUS SEED_CORPUS
set -eu
exe=$1 prefix=$2 work=$3 seeds=$4
secs=${WQ_FUZZ_SECONDS:-60}
case $secs in '' | *[!0-9]*) echo "WQ_FUZZ_SECONDS must be a number of seconds, got '$secs'" >&2; exit 2 ;; esac
mkdir -p "$work"
exec timeout -k 10 $((secs * 2 + 120)) "$exe" -max_total_time="$secs" -rss_limit_mb=2048 \
  -timeout=25 -print_final_stats=1 -artifact_prefix="$prefix" "$work" "$seeds"

#!/usr/bin/env bash
# Benchmark: walquorum-waldump vs PostgreSQL's pg_waldump on the same real WAL.
#
# Generates WAL with a throwaway PostgreSQL 15 (tests/integration/pgharness.py:
# pgbench -i + a bounded pgbench run, then another with wal_compression=lz4),
# checks that both tools report the same --stats totals, then times
#   walquorum-waldump --stats   vs   pg_waldump --stats        (the comparison asked for)
#   walquorum-waldump (text)    vs   pg_waldump (text)         (formatting cost included)
# with hyperfine if installed (else the median of N runs), and prints MB/s and
# the ratio. If the WAL library's wal-bench is built, also runs
# `wal-bench --crc` and `wal-bench --decode`. Ends with a block ready to paste
# into docs/BENCHMARKS.md. Never run as a test; figures are not asserted.
#
# Usage: tests/bench/waldump_vs_pg.sh [--scale N] [--tx N] [--runs N]
# Environment: WQ_BENCH_BUILD (default build/bench, configured --buildtype=release
# if missing), WQ_PG_BIN (default /usr/lib/postgresql/15/bin).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${WQ_BENCH_BUILD:-$root/build/bench}
pg_bin=${WQ_PG_BIN:-/usr/lib/postgresql/15/bin}
scale=20
tx=2000
runs=5
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale=$2; shift 2 ;;
    --tx) tx=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "waldump_vs_pg.sh: unknown argument '$1' (expected --scale N, --tx N, --runs N)" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d /tmp/wq-bench.XXXXXX)
harness_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$harness_pid" ] && kill -0 "$harness_pid" 2>/dev/null; then
    kill -TERM "$harness_pid" 2>/dev/null || true
    wait "$harness_pid" 2>/dev/null || true
  fi
  local pidfile="$work/pg/data/postmaster.pid"
  if [ -f "$pidfile" ]; then
    local pm; pm=$(head -1 "$pidfile" 2>/dev/null || true)
    if [ -n "$pm" ] && kill -0 "$pm" 2>/dev/null; then
      kill -INT "$pm" 2>/dev/null || true
      timeout 30 tail --pid="$pm" -f /dev/null 2>/dev/null || true
      kill -KILL "$pm" 2>/dev/null || true
    fi
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[bench] $*" >&2; }

if [ ! -f "$build/build.ninja" ]; then
  log "meson setup $build --buildtype=release"
  meson setup "$build" --buildtype=release >/dev/null
fi
targets=(src/waldump/walquorum-waldump)
if ninja -C "$build" -t targets all 2>/dev/null | grep -q '^tests/bench/wal/wal-bench:'; then
  targets+=(tests/bench/wal/wal-bench)
fi
log "ninja -C $build ${targets[*]}"
ninja -C "$build" "${targets[@]}" >/dev/null
waldump="$build/src/waldump/walquorum-waldump"
buildtype=$(meson introspect --buildoptions "$build" 2>/dev/null |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))' 2>/dev/null || echo "?")

log "PostgreSQL 15 workload: pgbench -i -s $scale, 4 clients x $tx transactions, twice (second with lz4)"
python3 tests/integration/pgharness.py workload --dir "$work" --scale "$scale" --transactions "$tx" \
  --clients 4 --lz4 --result "$work/result.env" >/dev/null &
harness_pid=$!
wait "$harness_pid"
harness_pid=""
# shellcheck disable=SC1091
. "$work/result.env"
mb=$(awk -v b="$WAL_BYTES" 'BEGIN{printf "%.1f", b / 1e6}')
nseg=$(ls "$WAL_DIR" | grep -c '^[0-9A-F]\{24\}$')
log "WAL $START_LSN .. $END_LSN: $mb MB in $nseg segments"

ours_stats=("$waldump" --stats --start "$START_LSN" --end "$END_LSN" "$WAL_DIR")
pg_stats=("$pg_bin/pg_waldump" --stats -p "$WAL_DIR" -s "$START_LSN" -e "$END_LSN")
ours_text=("$waldump" --start "$START_LSN" --end "$END_LSN" "$WAL_DIR")
pg_text=("$pg_bin/pg_waldump" -p "$WAL_DIR" -s "$START_LSN" -e "$END_LSN")

# Same answer first: a benchmark of a wrong decoder means nothing.
ours_total=$("${ours_stats[@]}" 2>/dev/null | grep '^Total')
pg_total=$("${pg_stats[@]}" 2>/dev/null | grep '^Total')
if [ "$ours_total" != "$pg_total" ]; then
  echo "waldump_vs_pg.sh: --stats totals differ: ours '$ours_total', pg_waldump '$pg_total'" >&2
  exit 1
fi
records=$(echo "$ours_total" | awk '{print $2}')
log "both tools: $records records; totals agree"

median_s() {  # median_s <cmd...>: "<median wall s> <mean user+sys CPU s>" over $runs runs
  if command -v hyperfine >/dev/null 2>&1; then
    local q=""
    for a in "$@"; do q+=" $(printf '%q' "$a")"; done
    hyperfine -N --warmup 1 --runs "$runs" --output=null --export-json "$work/h.json" "$q" >/dev/null 2>&1
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(r["median"], r["user"] + r["system"])' "$work/h.json"
  else
    local ts=()
    for _ in $(seq 1 "$runs"); do
      local t0 t1
      t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
      ts+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')")
    done
    # Without hyperfine there is no CPU time; report the wall median twice.
    printf '%s\n' "${ts[@]}" | sort -g | awk '{a[NR]=$1} END{m=a[int((NR+1)/2)]; print m, m}'
  fi
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
tool=$(command -v hyperfine >/dev/null 2>&1 && echo "hyperfine -N --warmup 1 --runs $runs, median" || echo "median of $runs runs")
log "timing ($tool)"
t_ours_stats=$(median_s "${ours_stats[@]}")
t_pg_stats=$(median_s "${pg_stats[@]}")
t_ours_text=$(median_s "${ours_text[@]}")
t_pg_text=$(median_s "${pg_text[@]}")

row() {  # row <label> "<ours wall> <ours cpu>" "<pg wall> <pg cpu>"
  awk -v l="$1" -v o="$2" -v p="$3" -v b="$WAL_BYTES" 'BEGIN{
    split(o, O, " "); split(p, P, " ");
    printf "| %s | %.1f ms (%.0f MB/s) | %.1f ms (%.0f MB/s) | %.2fx | %.1f ms | %.1f ms | %.2fx |\n",
      l, O[1] * 1000, b / 1e6 / O[1], P[1] * 1000, b / 1e6 / P[1], P[1] / O[1],
      O[2] * 1000, P[2] * 1000, P[2] / O[2] }'
}

wal_bench_out=""
if [ -x "$build/tests/bench/wal/wal-bench" ]; then
  log "wal-bench --crc; wal-bench --decode"
  wal_bench_out+="\$ wal-bench --crc"$'\n'"$("$build/tests/bench/wal/wal-bench" --crc 2>&1 || true)"$'\n'
  # The segments holding [START_LSN, END_LSN), in order.
  mapfile -t segs < <(python3 - "$WAL_DIR" "$END_LSN" "$SEG_SIZE" <<'PY'
import os, re, sys
d, end, seg = sys.argv[1], sys.argv[2], int(sys.argv[3])
hi, lo = end.split("/")
last = ((int(hi, 16) << 32 | int(lo, 16)) - 1) // seg
per = 0x100000000 // seg
for n in sorted(os.listdir(d)):
    if re.fullmatch(r"[0-9A-F]{24}", n) and int(n[8:16], 16) * per + int(n[16:], 16) <= last:
        print(os.path.join(d, n))
PY
)
  wal_bench_out+="\$ wal-bench --decode <the ${#segs[@]} segments above>"$'\n'"$("$build/tests/bench/wal/wal-bench" --decode "${segs[@]}" 2>&1 || true)"$'\n'
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
cat <<EOF

## walquorum-waldump vs pg_waldump ($(date -u +%Y-%m-%d))

WAL from a PostgreSQL 15 pgbench run (\`pgbench -i -s $scale\`, 4 clients x $tx transactions, then
the same with \`wal_compression=lz4\`; full_page_writes=on, checkpoint_timeout=30s, max_wal_size=32MB):
$mb MB ($START_LSN .. $END_LSN), $nseg segments, $records records; both tools report identical
\`--stats\` totals. Build: $buildtype. Timing: $tool. CPU: $cpu.
Ratio = pg_waldump time / walquorum-waldump time (above 1: ours is faster). Wall = median
elapsed (MB/s of WAL from it); CPU = mean user+system time, steadier on a loaded machine
(load average at the start: $load).

| mode | ours, wall | pg_waldump, wall | ratio | ours, CPU | pg_waldump, CPU | CPU ratio |
|---|---|---|---|---|---|---|
$(row "--stats" "$t_ours_stats" "$t_pg_stats")
$(row "text, one line per record" "$t_ours_text" "$t_pg_text")

Command: \`tests/bench/waldump_vs_pg.sh --scale $scale --tx $tx --runs $runs\`
EOF
if [ -n "$wal_bench_out" ]; then
  printf '\n```\n%s```\n' "$wal_bench_out"
else
  printf '\n(wal-bench not built in %s: no CRC/decode micro-benchmarks)\n' "$build"
fi

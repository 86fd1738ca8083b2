#!/usr/bin/env bash
# metrics_overhead.sh - what the per-request metrics cost: wrk against mmapd with
# --instrument off, basic and full, interleaved in one run, warm random 4 KiB ranges.
# Usage: tests/bench/metrics_overhead.sh [REPS=5] [SECONDS=5]
# Writes tests/bench/results/metrics_overhead.md (table of medians, min..max and ratios
# against off) and prints it. Run on an otherwise idle machine; never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-5}
secs=${2:-5}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
scripts/deps.sh build
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DMMAPD_TESTS=OFF >/dev/null
cmake --build build/bench -j"$(nproc)" >/dev/null

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
size=$((64 * 1024 * 1024))
head -c "$size" /dev/urandom > "$work/bench.bin"
cat "$work/bench.bin" > /dev/null   # warm the page cache

declare -A port
start() { # $1 level: starts mmapd, sets port[$1]
  build/bench/mmapd --root "$work" --listen 127.0.0.1:0 --instrument "$1" \
    >/dev/null 2>"$work/$1.log" &
  pids+=($!)
  for _ in $(seq 100); do
    port[$1]=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/$1.log" | sed 's/.*://' || true)
    [ -n "${port[$1]}" ] && return
    sleep 0.05
  done
  echo "mmapd did not start: $(cat "$work/$1.log")" >&2; exit 1
}
for level in off basic full; do start $level; done

: > "$work/raw.csv"
for r in $(seq "$reps"); do
  for level in off basic full; do
    FILE=bench.bin SIZE=$size wrk -t1 -c64 -d"${secs}s" -s tests/bench/random_4k.lua \
      "http://127.0.0.1:${port[$level]}/" | grep '^RESULT' | sed "s/^RESULT/$level $r/" >> "$work/raw.csv"
  done
done

mkdir -p tests/bench/results
out=tests/bench/results/metrics_overhead.md
python3 - "$work/raw.csv" "$reps" "$secs" > "$out" <<'PY'
import statistics, sys, re, subprocess, datetime
rows = {}
for line in open(sys.argv[1]):
    level, rep, *kv = line.split()
    d = dict(x.split("=") for x in kv)
    rows.setdefault(level, []).append({k: float(v) for k, v in d.items()})
med = lambda lvl, k: statistics.median(r[k] for r in rows[lvl])
print(f"# Metrics overhead: warm random 4 KiB ranges\n")
print(f"Command: `tests/bench/metrics_overhead.sh {sys.argv[2]} {sys.argv[3]}` "
      f"(wrk -t1 -c64, {sys.argv[3]} s per run, {sys.argv[2]} interleaved runs per level, "
      f"64 MiB file in the page cache), {datetime.date.today()}, "
      f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs.\n")
print("| --instrument | req/s median | min..max | p50 us | p99 us | errors | req/s vs off |")
print("|---|---|---|---|---|---|---|")
base = med("off", "req_s")
for lvl in ("off", "basic", "full"):
    rs = [r["req_s"] for r in rows[lvl]]
    print(f"| {lvl} | {med(lvl,'req_s'):.0f} | {min(rs):.0f}..{max(rs):.0f} | "
          f"{med(lvl,'p50_us'):.0f} | {med(lvl,'p99_us'):.0f} | {sum(r['errors'] for r in rows[lvl]):.0f} | "
          f"{med(lvl,'req_s')/base:.3f} |")
PY
cat "$out"

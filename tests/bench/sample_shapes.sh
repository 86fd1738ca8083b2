#!/usr/bin/env bash
# sample_shapes.sh - the two /sample response shapes, warm: a zero-copy iovec (what mmapd
# sends up to --sample-iovec-max records) against the copying content reader (what it sends
# above), for the same requests. Two mmapd processes, --threads 1 each, one with
# --sample-iovec-max 511 (iovec for every n <= 511) and one with 0 (reader always); wrk -t1
# -c4 with a new random seed per request; runs interleaved. Per run: req/s, and the server's
# CPU time per request (utime + stime from /proc/PID/stat over the run), which is what the
# shape changes. Multipart (2n+1 iovec elements) unless FORMAT=raw.
# Usage: tests/bench/sample_shapes.sh [REPS=3] [SECONDS=3]
# Writes tests/bench/results/sample_shapes.md and prints it. Never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-3}
secs=${2:-3}
format=${FORMAT:-multipart}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
scripts/deps.sh build
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DMMAPD_TESTS=OFF >/dev/null
cmake --build build/bench -j"$(nproc)" >/dev/null

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
size=$((256 * 1024 * 1024))
head -c "$size" /dev/urandom > "$work/bench.bin"
cat "$work/bench.bin" > /dev/null   # warm the page cache

declare -A port pid
start() { # $1 mode name, $2 --sample-iovec-max
  build/bench/mmapd --root "$work" --listen 127.0.0.1:0 --threads 1 --sample-iovec-max "$2" \
    >/dev/null 2>"$work/$1.log" &
  pids+=($!)
  pid[$1]=$!
  for _ in $(seq 100); do
    port[$1]=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/$1.log" | sed 's/.*://' || true)
    [ -n "${port[$1]}" ] && return
    sleep 0.05
  done
  echo "mmapd did not start: $(cat "$work/$1.log")" >&2; exit 1
}
start iovec 511
start reader 0
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

: > "$work/raw.csv"
for r in $(seq "$reps"); do
  for s in 64 4096 65536; do
    for n in 1 16 64 256 511; do
      for mode in iovec reader; do
        t0=$(ticks "${pid[$mode]}")
        line=$(FILE=bench.bin QUERY="n=$n&size=$s&format=$format" wrk -t1 -c4 -d"${secs}s" \
               -s tests/bench/sample_seeds.lua "http://127.0.0.1:${port[$mode]}/" | grep '^RESULT')
        t1=$(ticks "${pid[$mode]}")
        echo "$mode $r $s $n ${line#RESULT } cpu_ticks=$((t1 - t0)) hz=$hz" >> "$work/raw.csv"
      done
    done
  done
done

mkdir -p tests/bench/results
out=tests/bench/results/sample_shapes.md
python3 - "$work/raw.csv" "$reps" "$secs" "$format" > "$out" <<'PY'
import statistics, sys, datetime, subprocess
rows = {}
for line in open(sys.argv[1]):
    mode, rep, s, n, *kv = line.split()
    d = {k: float(v) for k, v in (x.split("=") for x in kv)}
    d["cpu_us"] = d["cpu_ticks"] / d["hz"] * 1e6 / max(d["requests"], 1)
    rows.setdefault((int(s), int(n)), {}).setdefault(mode, []).append(d)
med = lambda runs, k: statistics.median(r[k] for r in runs)
print(f"# /sample response shapes, warm: iovec (zero copy) vs copying content reader\n")
print(f"Command: `tests/bench/sample_shapes.sh {sys.argv[2]} {sys.argv[3]}` (format="
      f"{sys.argv[4]}, wrk -t1 -c4, {sys.argv[3]} s per run, {sys.argv[2]} interleaved runs, "
      f"mmapd --threads 1, 256 MiB file in the page cache, new seed per request), "
      f"{datetime.date.today()}, "
      f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs. "
      f"Medians; server CPU is utime+stime of mmapd per request.\n")
print("| size S | n | iovec req/s | reader req/s | iovec MB/s | reader MB/s | "
      "iovec CPU us/req | reader CPU us/req | reader CPU / iovec CPU | errors |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (s, n) in sorted(rows):
    a, b = rows[(s, n)]["iovec"], rows[(s, n)]["reader"]
    errs = sum(r["errors"] for r in a + b)
    print(f"| {s} | {n} | {med(a, 'req_s'):.0f} | {med(b, 'req_s'):.0f} | "
          f"{med(a, 'bytes_s') / 1e6:.0f} | {med(b, 'bytes_s') / 1e6:.0f} | "
          f"{med(a, 'cpu_us'):.1f} | {med(b, 'cpu_us'):.1f} | "
          f"{med(b, 'cpu_us') / med(a, 'cpu_us'):.2f} | {errs:.0f} |")
PY
cat "$out"

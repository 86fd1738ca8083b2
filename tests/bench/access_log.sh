#!/usr/bin/env bash
# access_log.sh - what the access log costs: wrk against mmapd with --access-log off, a file
# in JSON and a file in the combined format, interleaved in one run, on warm random 4 KiB
# ranges (tests/bench/wrk_report.lua). The issue's target: at most 5 % fewer requests per
# second than off.
# Usage: tests/bench/access_log.sh [REPS=5] [SECONDS=5] [THREADS=mmapd's default]
# Writes tests/bench/results/access_log.md (medians, min..max, ratios against off, the log's
# bytes per line and its write failures) and prints it. The log files live in a fresh
# directory under $TMPDIR (tmpfs or disk, as the machine has it): say which in the reading.
# Run on an otherwise idle machine; never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh
reps=${1:-5}
secs=${2:-5}
threads=${3:-}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
bench_build_mmapd

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do bench_stop "$p"; done; rm -rf "$work"; }
trap cleanup EXIT
size=$((64 * 1024 * 1024))
head -c "$size" /dev/urandom > "$work/bench.bin"
cat "$work/bench.bin" > /dev/null   # warm the page cache

modes=(off json combined)
declare -A port
for m in "${modes[@]}"; do
  flags=(--access-log off)
  [ "$m" != off ] && flags=(--access-log "$work/access.$m.log" --access-log-format "$m")
  [ -n "$threads" ] && flags+=(--threads "$threads")
  bench_start_mmapd "$work/$m.stderr" "$work" "${flags[@]}"
  pids+=("$BENCH_PID")
  port[$m]=$BENCH_PORT
done

: > "$work/raw.csv"
for r in $(seq "$reps"); do
  for m in "${modes[@]}"; do
    FILE=bench.bin SIZE=$size BLOCK=4096 wrk -t1 -c64 -d"${secs}s" -s tests/bench/wrk_report.lua \
      "http://127.0.0.1:${port[$m]}/" | grep '^RESULT' | sed "s/^RESULT/$m $r/" >> "$work/raw.csv"
  done
done
: > "$work/logs.csv"
for m in json combined; do
  failures=$(curl -fsS "http://127.0.0.1:${port[$m]}/metrics" |
             awk '/^mmapd_access_log_write_failures_total /{print $2}')
  echo "$m $(wc -l < "$work/access.$m.log") $(stat -c %s "$work/access.$m.log") $failures" >> "$work/logs.csv"
done

mkdir -p tests/bench/results
out=tests/bench/results/access_log.md
fs=$(df -T "$work" | awk 'NR==2{print $2}')
python3 - "$work/raw.csv" "$work/logs.csv" "$reps" "$secs" "${threads:-default}" "$fs" > "$out" <<'PY'
import datetime, statistics, subprocess, sys
raw, logs, reps, secs, threads, fs = sys.argv[1:]
rows = {}
for line in open(raw):
    mode, rep, *kv = line.split()
    rows.setdefault(mode, []).append({k: float(v) for k, v in (x.split("=") for x in kv)})
med = lambda m, k: statistics.median(r[k] for r in rows[m])
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print("# Access log cost: warm random 4 KiB ranges\n")
print(f"Command: `tests/bench/access_log.sh {reps} {secs}{'' if threads == 'default' else ' ' + threads}` "
      f"(mmapd {rev}, --threads {threads}; wrk -t1 -c64, {secs} s per run, {reps} interleaved runs "
      f"per mode, 64 MiB file in the page cache, log files on {fs}), {datetime.date.today()}, "
      f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs.\n")
print("| --access-log | req/s median | min..max | p50 us | p99 us | errors | req/s vs off |")
print("|---|---|---|---|---|---|---|")
base = med("off", "req_s")
for m in ("off", "json", "combined"):
    rs = [r["req_s"] for r in rows[m]]
    print(f"| {'off' if m == 'off' else 'FILE, ' + m} | {med(m, 'req_s'):.0f} | {min(rs):.0f}..{max(rs):.0f} | "
          f"{med(m, 'p50_us'):.0f} | {med(m, 'p99_us'):.0f} | {sum(r['errors'] for r in rows[m]):.0f} | "
          f"{med(m, 'req_s') / base:.3f} |")
print("\n| format | lines | bytes per line | write failures |")
print("|---|---|---|---|")
for line in open(logs):
    m, n, b, f = line.split()
    print(f"| {m} | {n} | {int(b) / max(int(n), 1):.0f} | {f} |")
PY
cat "$out"

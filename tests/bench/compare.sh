#!/usr/bin/env bash
# compare.sh - mmapd (defaults; --threads 1; --threads 1 with --files-zero-copy-max 1M) against
# the static servers a user would pick instead, same files, same run: lighttpd (defaults),
# nginx (sendfile on; 1 worker and auto) and Caddy (file_server).
# Scenarios (wrk -t1, warm page cache): random 4 KiB ranges at c16 and c64, random 1 MiB
# ranges at c64, the whole 64 MiB file at c4. Each case runs REPS times, servers interleaved
# within each repetition; a short checked pass first validates every server's answers
# (status and body length and bytes). Before each run it waits until the CPUs are idle
# (>= IDLE_PCT, default 90 %, over one second), and records CPU steal; a run with more than
# 5 % steal is repeated once.
#   usage: tests/bench/compare.sh [REPS=3] [SECONDS=5]
# Writes tests/bench/results/compare.md (medians, min..max, mmapd/peer ratios),
# compare.csv (every run) and compare.png (gnuplot), and prints the markdown.
# Needs: wrk nginx-light lighttpd caddy gnuplot-nox (apt-get install them). On demand only:
# never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-3}
secs=${2:-5}
for cmd in wrk nginx lighttpd caddy gnuplot curl python3; do
  command -v "$cmd" >/dev/null || { echo "compare.sh needs $cmd (apt-get install wrk nginx-light lighttpd caddy gnuplot-nox curl python3)" >&2; exit 1; }
done
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
size=$((64 * 1024 * 1024))
mkdir -p "$work/tmp"
bench_warm_docroot "$work" "$size"

declare -A port
wait_port() { # $1 name
  bench_wait_http "http://127.0.0.1:${port[$1]}/files/bench.bin" || { echo "$1 did not start" >&2; exit 1; }
}

bench_start_mmapd "$work/mmapd.log" "$work/www/files" || exit 1
pids+=("$BENCH_PID")
port[mmapd]=$BENCH_PORT
# like with like: one HTTP thread, against lighttpd (one process) and nginx with one worker
bench_start_mmapd "$work/mmapd-1.log" "$work/www/files" --threads 1 || exit 1
pids+=("$BENCH_PID")
port[mmapd-1]=$BENCH_PORT
# one thread, and bodies up to 1 MiB sent from the mapping without the copy that makes
# truncation in place safe: the guarantees lighttpd and nginx give (files replaced by rename)
bench_start_mmapd "$work/mmapd-zc.log" "$work/www/files" --threads 1 --files-zero-copy-max 1M || exit 1
pids+=("$BENCH_PID")
port[mmapd-zc]=$BENCH_PORT
# nginx: one worker, and one per CPU
for mode in 1 auto; do
  port[nginx-$mode]=$(bench_free_port)
  bench_start_nginx "$work" "nginx-$mode" "$mode" "${port[nginx-$mode]}" "$work/www"
  pids+=("$BENCH_PID")
done
# lighttpd: defaults
port[lighttpd]=$(bench_free_port)
bench_start_lighttpd "$work" lighttpd "${port[lighttpd]}" "$work/www"
pids+=("$BENCH_PID")
# Caddy: file_server
port[caddy]=$(bench_free_port)
bench_start_caddy "$work" caddy "${port[caddy]}" "$work/www"
pids+=("$BENCH_PID")

servers=(mmapd mmapd-1 mmapd-zc lighttpd nginx-1 nginx-auto caddy)
for s in "${servers[@]}"; do wait_port "$s"; done

targets=()
for s in "${servers[@]}"; do targets+=("$s=http://127.0.0.1:${port[$s]}"); done
# checked pass: every server answers ranges and the whole file correctly
bench_check_answers "$work/www/files/bench.bin" "" "${targets[@]/%//files/bench.bin}"

# the runs: every case (bench_warm_cases) on every server, interleaved
bench_warm_runs "$work/runs.csv" "$reps" "$secs" "$size" "${targets[@]}"

mkdir -p tests/bench/results
cp "$work/runs.csv" tests/bench/results/compare.csv
python3 - tests/bench/results/compare.csv "$reps" "$secs" "$work/plot.dat" > tests/bench/results/compare.md <<'PY'
import csv, statistics, sys, datetime, os
rows = list(csv.DictReader(open(sys.argv[1])))
reps, secs, plot = sys.argv[2], sys.argv[3], sys.argv[4]
servers = ["mmapd", "mmapd-1", "mmapd-zc", "lighttpd", "nginx-1", "nginx-auto", "caddy"]
scen = ["r4k_c16", "r4k_c64", "r1m_c64", "whole_c4"]
label = {"r4k_c16": "random 4 KiB ranges, c16", "r4k_c64": "random 4 KiB ranges, c64",
         "r1m_c64": "random 1 MiB ranges, c64", "whole_c4": "whole 64 MiB file, c4"}
def med(sc, sv, k):
    v = [float(r[k]) for r in rows if r["scenario"] == sc and r["server"] == sv]
    return statistics.median(v), min(v), max(v)
print("# mmapd against lighttpd, nginx and Caddy (warm page cache)\n")
print(f"Command: `tests/bench/compare.sh {reps} {secs}` on {datetime.date.today()}, "
      f"{os.cpu_count()} CPUs, wrk -t1 on loopback, {secs} s per run, {reps} interleaved runs "
      "per case; medians, min..max; ratio = mmapd / server (req/s, and p99 for latency); "
      "mmapd-1 is mmapd --threads 1, to compare with lighttpd and nginx-1; mmapd-zc is mmapd "
      "--threads 1 --files-zero-copy-max 1M (no copy of bodies up to 1 MiB: files replaced by "
      "rename only, what the peers assume).\n")
with open(plot, "w") as p:
    p.write("scenario " + " ".join(servers) + "\n")
    for sc in scen:
        print(f"## {label[sc]}\n")
        print("| server | req/s | min..max | MB/s | p50 us | p99 us | mmapd/server req/s | "
              "mmapd/server p99 | mmapd-1/server req/s | mmapd-zc/server req/s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        m_rs, m_p99 = med(sc, "mmapd", "req_s")[0], med(sc, "mmapd", "p99_us")[0]
        m1_rs = med(sc, "mmapd-1", "req_s")[0]
        zc_rs = med(sc, "mmapd-zc", "req_s")[0]
        vals = []
        for sv in servers:
            rs, lo, hi = med(sc, sv, "req_s")
            vals.append(rs)
            print(f"| {sv} | {rs:.0f} | {lo:.0f}..{hi:.0f} | {med(sc, sv, 'mb_s')[0]:.0f} | "
                  f"{med(sc, sv, 'p50_us')[0]:.0f} | {med(sc, sv, 'p99_us')[0]:.0f} | "
                  f"{m_rs / rs:.2f} | {m_p99 / med(sc, sv, 'p99_us')[0]:.2f} | "
                  f"{m1_rs / rs:.2f} | {zc_rs / rs:.2f} |")
        print()
        lt = vals[servers.index("lighttpd")]
        p.write(sc + " " + " ".join(f"{v / lt:.3f}" for v in vals) + "\n")
print("Errors (non-2xx, socket) over all runs: " +
      ", ".join(f"{sv} {sum(int(r['errors']) for r in rows if r['server'] == sv)}" for sv in servers) +
      f"; highest CPU steal in a run: {max(float(r['steal_pct']) for r in rows):.1f}%.")
PY
gnuplot <<GP
set terminal png size 900,500 noenhanced
set output "tests/bench/results/compare.png"
set title "req/s relative to lighttpd (warm page cache, medians)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key outside right
set ylabel "req/s / lighttpd req/s"
set yrange [0:*]
plot for [i=2:8] "$work/plot.dat" using i:xtic(1) title columnhead(i)
GP
cat tests/bench/results/compare.md

#!/usr/bin/env bash
# cost.sh - what each of mmapd's per-request guarantees costs on warm 4 KiB ranges: server
# CPU time per request (user + system, from /proc/PID/stat over the run) and req/s, for
#   lighttpd       the fastest peer here (defaults; sendfile, stat cache);
#   min-mhd        tests/bench/min_mhd.c: libmicrohttpd with nothing but a Range parse and a
#                  206 from the mapping (the floor for any libmicrohttpd server);
#   mmapd-1-async  mmapd --threads 1 --revalidate inotify-async: routing, validators,
#                  metrics, the file cache's lookup (counters, no system call) and the body
#                  read with one preadv2(RWF_NOWAIT) (copy and residency check in one) and
#                  the size checked after it (ioctl FIONREAD);
#   mmapd-1        mmapd --threads 1 (the default): also the ioctl(FIONREAD) that makes sure
#                  no inotify event is pending before a lookup;
#   mmapd-zc       mmapd --threads 1 --files-zero-copy-max 1M: the body sent from the mapping
#                  instead (no copy, no size check; a cachestat for residency first);
#   mmapd-1-stat   mmapd --threads 1 --revalidate stat: an fstatat per request instead of
#                  the inotify watches.
# All with one thread/process, interleaved, REPS runs of SECONDS each (wrk -t1 -c64), after an
# idle gate. The difference between two rows is what the feature between them costs. The
# file sits five directories deep, as a dataset's shards do (data/train/shard-0001/part-0001/),
# since that is where walking the path on every request costs.
#   usage: tests/bench/cost.sh [REPS=5] [SECONDS=4]
# Writes tests/bench/results/cost.md and prints it. Needs wrk, lighttpd, a C compiler and
# libmicrohttpd-dev. On demand only: never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-5}
secs=${2:-4}
for cmd in wrk lighttpd cc python3; do
  command -v "$cmd" >/dev/null || { echo "cost.sh needs $cmd (apt-get install wrk lighttpd gcc python3)" >&2; exit 1; }
done
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd
cc -O2 -Wall -Wextra -Werror -o build/bench/min_mhd tests/bench/min_mhd.c -lmicrohttpd

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
size=$((64 * 1024 * 1024))
rel=data/train/shard-0001/part-0001/bench.bin
file=$work/www/files/$rel
mkdir -p "$(dirname "$file")"
head -c "$size" /dev/urandom > "$file"
cat "$file" > /dev/null

declare -A port pid
servers=(lighttpd min-mhd mmapd-1-async mmapd-1 mmapd-zc mmapd-1-stat)
port[lighttpd]=$(bench_free_port)
bench_start_lighttpd "$work" lighttpd "${port[lighttpd]}" "$work/www"
pid[lighttpd]=$BENCH_PID
pids+=("$BENCH_PID")
port[min-mhd]=$(bench_free_port)
build/bench/min_mhd "$file" "${port[min-mhd]}" 32768 &
pid[min-mhd]=$!
pids+=($!)
for spec in "mmapd-1-async --revalidate inotify-async" "mmapd-1" \
            "mmapd-zc --files-zero-copy-max 1M" "mmapd-1-stat --revalidate stat"; do
  read -r name flags <<<"$spec"
  # shellcheck disable=SC2086
  bench_start_mmapd "$work/$name.log" "$work/www/files" --threads 1 $flags || exit 1
  pid[$name]=$BENCH_PID
  pids+=("$BENCH_PID")
  port[$name]=$BENCH_PORT
done
want=$(dd if="$file" bs=4096 skip=1 count=1 status=none | sha256sum)
for s in "${servers[@]}"; do
  bench_wait_http "http://127.0.0.1:${port[$s]}/files/$rel" "${pid[$s]}"
  # every server answers a range with the right bytes before it is measured
  got=$(curl -s -r 4096-8191 "http://127.0.0.1:${port[$s]}/files/$rel" | sha256sum)
  [ "$want" = "$got" ] || { echo "$s answered a range wrongly" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "server,rep,req_s,cpu_us_per_req,p99_us" > "$work/runs.csv"
for rep in $(seq "$reps"); do
  for s in "${servers[@]}"; do
    bench_wait_idle || true
    c0=$(cpu_ticks "${pid[$s]}")
    line=$(FILE=$rel SIZE=$size BLOCK=4096 wrk -t1 -c64 -d"${secs}s" \
      -s tests/bench/wrk_report.lua "http://127.0.0.1:${port[$s]}/" | grep '^RESULT')
    c1=$(cpu_ticks "${pid[$s]}")
    rs=$(sed 's/.*req_s=\([0-9.]*\).*/\1/' <<<"$line")
    p99=$(sed 's/.*p99_us=\([0-9.]*\).*/\1/' <<<"$line")
    awk -v s="$s" -v r="$rep" -v rs="$rs" -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" \
        -v secs="$secs" -v p99="$p99" \
        'BEGIN{printf "%s,%s,%s,%.2f,%s\n", s, r, rs, c * 1e6 / hz / (rs * secs), p99}' >> "$work/runs.csv"
  done
done

mkdir -p tests/bench/results
cp "$work/runs.csv" tests/bench/results/cost.csv
python3 - "$work/runs.csv" "$reps" "$secs" > tests/bench/results/cost.md <<'PY'
import csv, statistics, sys, datetime, os
rows = list(csv.DictReader(open(sys.argv[1])))
reps, secs = sys.argv[2], sys.argv[3]
servers = ["lighttpd", "min-mhd", "mmapd-1-async", "mmapd-1", "mmapd-zc", "mmapd-1-stat"]
what = {"lighttpd": "lighttpd 1.4.69, defaults",
        "min-mhd": "libmicrohttpd alone: Range parse, 206 from the mapping",
        "mmapd-1-async": "+ routing, file cache, validators, metrics, one preadv2(RWF_NOWAIT)",
        "mmapd-1": "+ ioctl(FIONREAD): no inotify event pending (the default)",
        "mmapd-zc": "the default, but sent from the mapping: cachestat, no copy",
        "mmapd-1-stat": "the default, with an fstatat per request instead of the watches"}
def col(s, k):
    return [float(r[k]) for r in rows if r["server"] == s]
print("# Per-request cost on warm 4 KiB ranges of a file five directories deep\n")
print(f"Command: `tests/bench/cost.sh {reps} {secs}` on {datetime.date.today()}, "
      f"{os.cpu_count()} CPUs, wrk -t1 -c64 on loopback, {secs} s per run, {reps} interleaved "
      "runs; every server with one thread or process; medians, min..max. CPU is the server's "
      "user + system time over the run divided by the requests it answered.\n")
print("| server | what it does per request | req/s | min..max | server CPU us/request | "
      "min..max | vs lighttpd req/s | p99 us |")
print("|---|---|---|---|---|---|---|---|")
lt = statistics.median(col("lighttpd", "req_s"))
for s in servers:
    rs, cpu, p99 = col(s, "req_s"), col(s, "cpu_us_per_req"), col(s, "p99_us")
    print(f"| {s} | {what[s]} | {statistics.median(rs):.0f} | {min(rs):.0f}..{max(rs):.0f} | "
          f"{statistics.median(cpu):.2f} | {min(cpu):.2f}..{max(cpu):.2f} | "
          f"{statistics.median(rs) / lt:.2f} | {statistics.median(p99):.0f} |")
PY
cat tests/bench/results/cost.md

#!/usr/bin/env bash
# sample_next_epoch.sh - does reading the next epoch's first page ahead pay? A loader that
# ends a shard's epoch (Sample-Next: end) asks next for epoch E+1, start 0. With lookahead
# (mmapd's default) that page was read in after the epoch's last page; with
# --sample-lookahead 0 it is cold. For each run: stop mmapd, evict the file (posix_fadvise
# DONTNEED, checked with fincore), start mmapd, read the whole epoch 0 of shard 0 of 2 page by
# page with curl (following Sample-Next, which warms the lookahead up), wait STEP ms (the
# training step on the last batch), then time the GET of epoch 1's first page.
# Usage: tests/bench/sample_next_epoch.sh [REPS=5] [DIR=a directory on a real disk]
# Records: 4 KiB and 64 KiB, align 1 MiB over a 2 GiB file (2048 slots: 1024 per shard, so
# an epoch of a shard is 4 pages of 256 records). Writes tests/bench/results/
# sample_next_epoch.md and prints it. Never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-5}
dir=${2:-}
step_ms=${STEP_MS:-200}
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd
command -v fincore >/dev/null || { echo "needs fincore (util-linux)" >&2; exit 1; }

work=$(bench_disk_workdir "$dir" mmapd-epoch) || exit 1
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
file=$work/epoch.bin
head -c $((2048 * 1024 * 1024)) /dev/urandom > "$file"
sync "$file"
n=256
align=$((1024 * 1024))

start() { # $@: extra flags
  bench_start_mmapd "$work/log" "$work" "$@" || exit 1
  pid=$BENCH_PID port=$BENCH_PORT
}
stop() { bench_stop "$pid"; pid=; }
url() { # SIZE EPOCH START
  echo "http://127.0.0.1:$port/sample/epoch.bin?n=$n&size=$1&align=$align&seed=9&epoch=$2&rank=0&world=2&start=$3"
}

declare -A flags=([lookahead]="" [no-lookahead]="--sample-lookahead 0")
: > "$work/raw.txt"
for r in $(seq "$reps"); do
  for size in 4096 65536; do
    for mode in lookahead no-lookahead; do
      bench_evict "$file"
      resident=$(bench_resident "$file")
      # shellcheck disable=SC2086
      start ${flags[$mode]}
      next=0 pages=0
      while [ "$next" != end ]; do
        next=$(curl -s -o /dev/null -D - "$(url "$size" 0 "$next")" |
               tr -d '\r' | awk -F': ' 'tolower($1) == "sample-next" {print $2}')
        [ -n "$next" ] || { echo "no Sample-Next" >&2; exit 1; }
        pages=$((pages + 1))
      done
      sleep "$(awk -v ms="$step_ms" 'BEGIN {print ms / 1000}')"
      t=$(curl -s -o /dev/null -w '%{time_total} %{http_code}' "$(url "$size" 1 0)")
      hits=$(curl -s "http://127.0.0.1:$port/metrics" |
             awk '$1 == "mmapd_sample_lookahead_hits_total" {print $2}')
      stop
      echo "$size $mode $r $t $pages $hits $resident" >> "$work/raw.txt"
    done
  done
done

mkdir -p tests/bench/results
out=tests/bench/results/sample_next_epoch.md
python3 - "$work/raw.txt" "$reps" "$step_ms" "$(git rev-parse --short HEAD)" > "$out" <<'PY'
import datetime, statistics, subprocess, sys
runs = {}
for line in open(sys.argv[1]):
    size, mode, rep, secs, code, pages, hits, resident = line.split()
    runs.setdefault((int(size), mode), []).append(
        dict(ms=float(secs) * 1000, code=code, pages=int(pages), hits=int(float(hits)),
             resident=int(resident)))
cpus = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
print("# The next epoch's first page, read ahead or not\n")
print(f"Command: `tests/bench/sample_next_epoch.sh {sys.argv[2]}` (STEP_MS={sys.argv[3]}), "
      f"mmapd {sys.argv[4]}, {datetime.date.today()}, {cpus} CPUs. A 2 GiB file evicted before "
      "every run, mmapd restarted; epoch 0 of shard 0 of 2 read page by page (256 records, "
      "align 1 MiB: 4 pages), then, after the step, the GET of epoch 1's first page timed "
      "with curl. Median of the runs (min..max).\n")
print("| record | mode | epoch 1, first page: ms | lookahead hits in the run | pages of epoch 0 "
      "| resident before | status |")
print("|---|---|---|---|---|---|---|")
for (size, mode), rs in sorted(runs.items()):
    ms = [r["ms"] for r in rs]
    print(f"| {size // 1024} KiB | {mode} | {statistics.median(ms):.1f} ({min(ms):.1f}.."
          f"{max(ms):.1f}) | {statistics.median(r['hits'] for r in rs):.0f} | "
          f"{rs[0]['pages']} | {max(r['resident'] for r in rs)} B | "
          f"{','.join(sorted({r['code'] for r in rs}))} |")
PY
cat "$out"

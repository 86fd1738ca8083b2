#!/usr/bin/env bash
# rss_dontneed.sh - what the `dontneed` advice does to mmapd's RSS while a large file streams
# through it. For each policy (the default stream advice, and the default plus dontneed),
# start mmapd --threads 1, download a warm FILE_MB file REPS times with curl, and sample
# VmRSS / RssFile of mmapd every 20 ms while it runs: report the peak, the RSS after the
# downloads, and the download time (median). Warm page cache, so the time shows what
# dropping and re-faulting page table entries costs, not the disk.
# Usage: tests/bench/rss_dontneed.sh [REPS=3] [DIR=a directory on a disk]
# Env: FILE_MB (default 1024). Writes tests/bench/results/rss_dontneed.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
reps=${1:-3}
dir=${2:-}
size_mb=${FILE_MB:-1024}
bench_build_mmapd

work=$(bench_disk_workdir "$dir" mmapd-rss) || exit 1
BENCH_PID=
cleanup() { [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/root"
head -c $((size_mb * 1024 * 1024)) /dev/urandom > "$work/root/big.bin"
cat "$work/root/big.bin" > /dev/null # warm

declare -A flags=([default]="" [dontneed]="--advice stream=sequential,dontneed")
modes=(default dontneed)
out=tests/bench/results/rss_dontneed.md
{
  echo "Command: \`tests/bench/rss_dontneed.sh $reps\` on $(date -u +%F), $(nproc) CPUs," \
       "kernel $(uname -r), a warm ${size_mb} MiB file, mmapd --threads 1, curl on loopback."
  echo
  echo "| stream advice | peak VmRSS MiB | peak RssFile MiB | VmRSS after MiB | download ms (median of $reps) |"
  echo "|---|---|---|---|---|"
} > "$work/table"
for mode in "${modes[@]}"; do
  # shellcheck disable=SC2086
  bench_start_mmapd "$work/log" "$work/root" --threads 1 ${flags[$mode]}
  peak=0 peak_file=0 times=()
  for _ in $(seq "$reps"); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$BENCH_PORT/files/big.bin" > "$work/t" &
    cpid=$!
    while kill -0 "$cpid" 2>/dev/null; do
      read -r rss file < <(awk '/^VmRSS/{r=$2} /^RssFile/{f=$2} END{print r, f}' "/proc/$BENCH_PID/status")
      [ "$rss" -gt "$peak" ] && peak=$rss
      [ "$file" -gt "$peak_file" ] && peak_file=$file
      sleep 0.02
    done
    wait "$cpid"
    times+=("$(cat "$work/t")")
  done
  after=$(awk '/^VmRSS/{print $2}' "/proc/$BENCH_PID/status")
  med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)] * 1000}')
  awk -v m="${flags[$mode]:-default}" -v p="$peak" -v f="$peak_file" -v a="$after" -v t="$med" \
    'BEGIN{printf "| %s | %.0f | %.0f | %.0f | %.0f |\n", m, p / 1024, f / 1024, a / 1024, t}' \
    >> "$work/table"
  bench_stop "$BENCH_PID"
  BENCH_PID=
done
mkdir -p tests/bench/results
cp "$work/table" "$out"
cat "$out"

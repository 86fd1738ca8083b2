#!/usr/bin/env bash
# whole_ab.sh - a cold whole-file GET under two mmapd advice settings, alternated run by run:
# whether one of them is slower, or the disk is slower on some runs whatever the setting.
#
# Usage: tests/bench/whole_ab.sh [ROUNDS=10] [DIR=a directory on a real disk, not tmpfs]
#   e.g. tests/bench/whole_ab.sh 10 /var/tmp
#
# A 1 GiB file of random bytes in DIR. Each round runs arm A (mmapd's defaults, WHOLE_A) and
# arm B (--advice stream=sequential, WHOLE_B), in the order A B on odd rounds and B A on even
# ones. Each run: stop the server, evict the file (fsync + posix_fadvise DONTNEED; fincore
# must show at most 256 KiB resident), start mmapd, wait for an idle machine (bench_wait_idle
# with the disk quiet, unless WHOLE_NO_WAIT=1), one curl GET of the whole file to /dev/null.
# Per run, from /proc/diskstats of the file's device over the GET: reads completed, their
# average size, the sum of their times (read ticks) over the GET's wall time (the mean number
# of reads in flight), and that sum per read. Writes RESULTS/whole_ab.md (every run, medians
# per arm and per place in the round; RESULTS = tests/bench/results, WHOLE_RESULTS) and prints each run as it goes.
# Needs: curl, fincore (util-linux). On demand only: never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-10}
dir=${2:-}
results=${WHOLE_RESULTS:-tests/bench/results}
read -r -a arm_a <<<"${WHOLE_A:-}"
read -r -a arm_b <<<"${WHOLE_B:---advice stream=sequential}"
name_a="${WHOLE_A:-defaults}"
name_b="${WHOLE_B:---advice stream=sequential}"
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd

work=$(bench_disk_workdir "$dir" mmapd-whole) || exit 1
pid=
cleanup() { [ -z "$pid" ] || bench_stop "$pid"; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/www"
file=$work/www/whole.bin
head -c $((1024 * 1024 * 1024)) /dev/urandom > "$file"
sync "$file"
bench_device_of "$file"
[ -n "$devname" ] || { echo "whole_ab.sh: no block device under $file" >&2; exit 1; }
BENCH_IDLE_CHECK=bench_disk_quiet
disk() { awk -v d="$devname" '$3 == d {print $4, $6, $7}' /proc/diskstats; } # reads sectors ticks

rows=$work/rows
: > "$rows"
for r in $(seq "$rounds"); do
  order="A B"
  [ $((r % 2)) = 1 ] || order="B A"
  for arm in $order; do
    bench_evict "$file"
    [ "$(bench_resident "$file")" -le 262144 ] || bench_evict "$file"
    if [ "$arm" = A ]; then
      bench_start_mmapd "$work/mmapd.log" "$work/www" "${arm_a[@]}" || exit 1
    else
      bench_start_mmapd "$work/mmapd.log" "$work/www" "${arm_b[@]}" || exit 1
    fi
    pid=$BENCH_PID
    bench_wait_http "http://127.0.0.1:$BENCH_PORT/healthz" "$pid" || exit 1
    [ "${WHOLE_NO_WAIT:-0}" = 1 ] || bench_wait_idle || true
    read -r n0 s0 t0 < <(disk)
    secs=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$BENCH_PORT/files/whole.bin")
    read -r n1 s1 t1 < <(disk)
    bench_stop "$pid"
    pid=
    line=$(awk -v r="$r" -v a="$arm" -v s="$secs" -v n=$((n1 - n0)) -v b=$((s1 - s0)) -v t=$((t1 - t0)) \
      'BEGIN {printf "%d %s %.3f %d %.0f %.2f %.1f\n", r, a, s, n, n ? b / 2 / n : 0, t / 1000 / s, n ? t / n : 0}')
    echo "$line" >> "$rows"
    echo "whole_ab.sh: $line" >&2
  done
done

mkdir -p "$results"
{
  echo "# A cold whole-file GET, two mmapd advice settings alternated"
  echo
  echo "Command: \`tests/bench/whole_ab.sh $*\`$( [ "${WHOLE_NO_WAIT:-0}" = 1 ] && echo " with WHOLE_NO_WAIT=1 (no idle wait before a GET)") on $(date -u +%F). mmapd $(git rev-parse --short HEAD). The file: 1 GiB on /dev/$devname (read_ahead_kb $ra_kb, $model), kernel $(uname -r), $(nproc) CPUs."
  echo
  echo "A: mmapd $name_a. B: mmapd $name_b. Odd rounds run A then B, even rounds B then A; every run starts a fresh server on the evicted file. \"in flight\" is the sum of the reads' times over the GET's wall time (/proc/diskstats)."
  echo
  echo "| round | arm | seconds | reads | KiB per read | in flight | ms per read |"
  echo "|---|---|---|---|---|---|---|"
  awk '{printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7}' "$rows"
  echo
  # per arm, and per place in the round (the first run of a round follows the other round's
  # last run of the same arm)
  for sel in "arm A" "arm B" "first in its round" "second in its round"; do
    awk -v sel="$sel" '{first = ($1 % 2 == 1) == ($2 == "A")}
      sel == "arm " $2 || (sel == "first in its round" && first) ||
      (sel == "second in its round" && !first) {print $3}' "$rows" | sort -g |
      awk -v a="$sel" '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        printf "- %s: median %.3f s, %.3f..%.3f s over %d runs\n", a, m, v[1], v[NR], NR}'
  done
} > "$results/whole_ab.md"
echo "whole_ab.sh: wrote $results/whole_ab.md" >&2

#!/usr/bin/env bash
# sample_cold.sh - a cold /sample: 4096 random 4 KiB records of a 1 GiB file that is not in
# the page cache, with the default random-class hints (MADV_RANDOM on the mapping, one batch
# of MADV_WILLNEED over the cold records) against --advice random=random (no WILLNEED) and
# --advice random=none (no hint at all). For each run: stop the previous mmapd (a mapping
# keeps its pages in the cache), evict the file (posix_fadvise DONTNEED, checked with
# fincore), start mmapd, time one GET with curl (-w %{time_total}) and take the bytes the
# kernel read for mmapd (read_bytes of /proc/PID/io) and its major faults over that request.
# Usage: tests/bench/sample_cold.sh [REPS=3] [DIR=a directory on a real disk, not tmpfs]
# Writes tests/bench/results/sample_cold.md and prints it. Never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-3}
dir=${2:-}
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd
command -v fincore >/dev/null || { echo "needs fincore (util-linux)" >&2; exit 1; }

work=$(bench_disk_workdir "$dir" mmapd-cold) || exit 1
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
file=$work/cold.bin
head -c $((1024 * 1024 * 1024)) /dev/urandom > "$file"
sync "$file"
n=4096
size=4096

evict() { bench_evict "$file"; bench_resident "$file"; }
start() { # $@: extra flags
  bench_start_mmapd "$work/log" "$work" --threads 1 "$@" || exit 1
  pid=$BENCH_PID port=$BENCH_PORT
}
stop() { kill "$pid"; wait "$pid" || true; pid=; }
read_bytes() { awk '/^read_bytes/ {print $2}' "/proc/$pid/io"; }
majflt() { awk '{print $12}' "/proc/$pid/stat"; }

declare -A flags=([default]="" [random-only]="--advice random=random" [none]="--advice random=none")
modes=(default random-only none)
: > "$work/raw.txt"
for r in $(seq "$reps"); do
  for mode in "${modes[@]}"; do
    resident=$(evict)
    # shellcheck disable=SC2086
    start ${flags[$mode]}
    b0=$(read_bytes); f0=$(majflt)
    t=$(curl -s -o "$work/body" -w '%{time_total} %{http_code} %{size_download}' \
        "http://127.0.0.1:$port/sample/cold.bin?n=$n&size=$size&seed=$r")
    b1=$(read_bytes); f1=$(majflt)
    stop
    echo "$mode $r $t $((b1 - b0)) $((f1 - f0)) $resident" >> "$work/raw.txt"
  done
done

mkdir -p tests/bench/results
out=tests/bench/results/sample_cold.md
python3 - "$work/raw.txt" "$*" "$n" "$size" "$(cat /sys/block/*/queue/read_ahead_kb 2>/dev/null | sort -n | tail -1)" "$reps" > "$out" <<'PY'
import statistics, sys, datetime, subprocess
runs = {}
for line in open(sys.argv[1]):
    mode, rep, secs, code, length, rbytes, majflt, resident = line.split()
    runs.setdefault(mode, []).append(dict(ms=float(secs) * 1000, code=code, len=int(length),
                                          read=int(rbytes), majflt=int(majflt),
                                          resident=int(resident)))
n, size = int(sys.argv[3]), int(sys.argv[4])
want = n * size
print("# Cold /sample: 4096 random 4 KiB records of an evicted 1 GiB file\n")
print(f"Command: `tests/bench/sample_cold.sh {sys.argv[2]}` (GET /sample/cold.bin?n={n}&size="
      f"{size}&seed=REP, multipart, so the copying reader; mmapd --threads 1 restarted and the "
      f"file evicted before every run; largest read_ahead_kb {sys.argv[5]}), "
      f"{datetime.date.today()}, "
      f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs. "
      f"Median of {sys.argv[6]} runs (min..max); read = read_bytes of /proc/PID/io over the "
      f"request, amplification = read / {want // 2**20} MiB of records.\n")
print("| random-class advice | time ms | read MiB | amplification | major faults | "
      "resident before | status |")
print("|---|---|---|---|---|---|---|")
names = {"default": "random,willneed (default)", "random-only": "random",
         "none": "none (`--advice random=none`)"}
for mode in ("default", "random-only", "none"):
    rs = runs.get(mode, [])
    if not rs:
        continue
    med = lambda k: statistics.median(r[k] for r in rs)
    lo = lambda k: min(r[k] for r in rs)
    hi = lambda k: max(r[k] for r in rs)
    codes = ",".join(sorted({r["code"] for r in rs}))
    print(f"| {names[mode]} | {med('ms'):.0f} ({lo('ms'):.0f}..{hi('ms'):.0f}) | "
          f"{med('read') / 2**20:.1f} | {med('read') / want:.2f}x | {med('majflt'):.0f} | "
          f"{max(r['resident'] for r in rs)} B | {codes} |")
PY
cat "$out"

#!/usr/bin/env bash
# sample_lookahead.sh - /sample lookahead with a lean client: what the server's read-ahead of
# the next page gives when the client costs next to nothing (no DataLoader, no tensors), so
# that the epoch is set by the disk and the step alone. 2 workers (threads, one keep-alive
# connection each, scripts/mmapd_dataset.py's SampleClient with views) read shards 0 and 1
# of 2 page by page (1024 records a page) and sleep STEP after each page (the training on
# that page). STEP = k x the disk's time for one page at queue depth 32 (fio in the same
# run), for k in 0 1 2 4. mmapd runs with --sample-lookahead 0, 1 and 2; before every run
# mmapd is stopped, the file evicted (checked with fincore) and mmapd started again.
# Records: 4 KiB (align 128 KiB: 16384 records) and 64 KiB (align 256 KiB: 8192 records) of
# a 2 GiB file. Usage: tests/bench/sample_lookahead.sh [REPS=3] [DIR=a directory on a disk].
# Writes tests/bench/results/sample_lookahead.md and prints it. Needs fio, fincore.
# Never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-3}
dir=${2:-}
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd
for cmd in fio fincore; do
  command -v "$cmd" >/dev/null || { echo "needs $cmd (apt-get install fio util-linux)" >&2; exit 1; }
done

work=$(bench_disk_workdir "$dir" mmapd-lookahead) || exit 1
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
file=$work/la.bin
head -c $((2048 * 1024 * 1024)) /dev/urandom > "$file"
sync "$file"
page=1024

fio_s() { # RECORD N DEPTH: seconds for N random reads of RECORD bytes at DEPTH
  bench_evict "$file"
  bench_fio_s "$file" la --rw=randread --bs="$1" --io_size=$(($1 * $2)) --iodepth="$3" \
    --randseed=7
}

: > "$work/raw.txt"
for cfg in "4096 131072" "65536 262144"; do
  read -r rec align <<<"$cfg"
  slots=$((2048 * 1024 * 1024 / align))
  qd32=$(fio_s "$rec" "$slots" 32)
  qd1=$(fio_s "$rec" "$slots" 1)
  pages=$(( (slots + page - 1) / page ))
  echo "device $rec $qd32 $qd1 $pages" >> "$work/raw.txt"
  for r in $(seq "$reps"); do
    for k in 0 1 2 4; do
      step=$(python3 -c "print($k * $qd32 / $pages)")
      for depth in 0 1 2; do
        bench_evict "$file"
        resident=$(bench_resident "$file")
        bench_start_mmapd "$work/log" "$work" --sample-lookahead "$depth" || exit 1
        pid=$BENCH_PID
        secs=$(python3 - "$BENCH_PORT" "$rec" "$align" "$r" "$step" <<'PY'
import sys, threading, time
sys.path.insert(0, "scripts")
from mmapd_dataset import SampleClient
port, rec, align, epoch, step = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
errors = []
def worker(w):
    c, start = SampleClient(f"http://127.0.0.1:{port}"), 0
    try:
        while start is not None:
            recs, start, _ = c.page("la.bin", rec, views=True, n=1024, align=align, seed=3,
                                    epoch=epoch, rank=w, world=2, start=start)
            time.sleep(step)
    except Exception as e:
        errors.append(e)
    c.close()
t0 = time.time()
ts = [threading.Thread(target=worker, args=(w,)) for w in (0, 1)]
for t in ts: t.start()
for t in ts: t.join()
print(f"{time.time() - t0:.4f}" if not errors else f"error:{errors[0]}")
PY
)
        hits=$(curl -s "http://127.0.0.1:$BENCH_PORT/metrics" |
               awk '$1 == "mmapd_sample_lookahead_hits_total" {print $2}')
        bench_stop "$pid"; pid=
        echo "run $rec $r $k $step $depth $secs $hits $resident" >> "$work/raw.txt"
        echo "sample_lookahead.sh: $rec B k=$k depth=$depth rep $r: $secs s, hits $hits" >&2
      done
    done
  done
done

mkdir -p tests/bench/results
out=tests/bench/results/sample_lookahead.md
python3 - "$work/raw.txt" "$reps" "$(git rev-parse --short HEAD)" > "$out" <<'PY'
import datetime, statistics, subprocess, sys
dev, runs = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "device":
        dev[int(f[1])] = (float(f[2]), float(f[3]), int(f[4]))
        continue
    _, rec, r, k, step, depth, secs, hits, resident = f
    runs.setdefault((int(rec), float(k), int(depth)), []).append(
        (float(secs) if not secs.startswith("error") else None, float(hits), int(resident),
         float(step)))
cpus = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
print("# /sample lookahead with a lean client\n")
print(f"Command: `tests/bench/sample_lookahead.sh {sys.argv[2]}`, mmapd {sys.argv[3]}, "
      f"{datetime.date.today()}, {cpus} CPUs. A 2 GiB file evicted before every run, mmapd "
      "restarted; 2 threads read shards 0 and 1 of 2 in pages of 1024 records "
      "(SampleClient, views: no copy, no DataLoader) and sleep STEP after each page. "
      "bound = max(pages x STEP per worker, disk QD32 for the epoch); sum = the epoch's "
      "steps per worker + disk QD32. Medians of the repetitions (min..max).\n")
for rec, (qd32, qd1, pages) in sorted(dev.items()):
    print(f"## {rec // 1024} KiB records: {pages} pages, disk QD32 {qd32:.3f} s, "
          f"QD1 {qd1:.3f} s (QD1/QD32 {qd1 / qd32:.2f})\n")
    print("| k | step ms | bound s | sum s | lookahead 0 | lookahead 1 | lookahead 2 | "
          "speed-up of 1 over 0 | hits (1, 2) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k in sorted({k for (r, k, d) in runs if r == rec}):
        cells, med = [], {}
        step = runs[(rec, k, 0)][0][3]
        compute = pages / 2 * step
        bound = max(compute, qd32)
        for d in (0, 1, 2):
            xs = [x[0] for x in runs[(rec, k, d)] if x[0] is not None]
            med[d] = statistics.median(xs) if xs else float("nan")
            cells.append(f"{med[d]:.2f} ({min(xs):.2f}..{max(xs):.2f}) {med[d] / bound:.2f}x"
                         if xs else "error")
        hits = ", ".join(f"{statistics.median(x[1] for x in runs[(rec, k, d)]):.0f}"
                         for d in (1, 2))
        print(f"| {k:g} | {step * 1000:.1f} | {bound:.2f} | {compute + qd32:.2f} | "
              f"{' | '.join(cells)} | {med[0] / med[1]:.2f}x | {hits} |")
    print()
PY
cat "$out"

#!/usr/bin/env bash
# stream_auto.sh - the stream class's `auto` advice after its warm-up: one server downloads
# several cold files in turn, so `auto` measures both arms on the first ones and then serves
# the one it found cheaper, beside the fixed lists (and lighttpd) on the same files.
#
# Usage: tests/bench/stream_auto.sh [REPS=3] [DIR=a directory on a real disk, not tmpfs]
#   e.g. tests/bench/stream_auto.sh 3 /var/tmp
#
# STREAM_FILES (12) files of STREAM_MB (96) MiB of random bytes in DIR. Arms (STREAM_ARMS):
# defaults (every class `auto`), stream=sequential, stream=willneed, lighttpd (when
# installed); their order rotates by one each repetition. Each run: stop the server, evict
# every file (fsync + posix_fadvise DONTNEED; fincore must show at most 256 KiB of them
# resident), start the server, wait for an idle machine with a quiet disk, then one curl GET
# of each file in turn (to /dev/null, sizes checked). For mmapd, after each GET, which arm
# `auto` gave it (mmapd_advice_auto_requests_total{class="stream"}: "yes" = WILLNEED). The
# device: fio reads one file sequentially (1 MiB, O_DIRECT, queue depth 1), once per
# repetition. Writes RESULTS/stream_auto.md (per arm: median of the runs' total time, of the
# first 6 GETs (auto's warm-up: 3 per arm) and of the rest; every run's GETs; RESULTS =
# tests/bench/results, STREAM_RESULTS). Needs curl, fincore, fio. On demand only.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-3}
dir=${2:-}
nfiles=${STREAM_FILES:-12}
mb=${STREAM_MB:-96}
results=${STREAM_RESULTS:-tests/bench/results}
read -r -a arms <<<"${STREAM_ARMS:-defaults stream=sequential stream=willneed lighttpd}"
command_line="tests/bench/stream_auto.sh $*"
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd
command -v lighttpd >/dev/null || arms=("${arms[@]/lighttpd/}")

work=$(bench_disk_workdir "$dir" mmapd-stream) || exit 1
pid=
cleanup() { [ -z "$pid" ] || bench_stop "$pid"; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/www/files"
: > "$work/list"
for i in $(seq "$nfiles"); do
  head -c $((mb * 1024 * 1024)) /dev/urandom > "$work/www/files/f$i.bin"
  echo "$work/www/files/f$i.bin" >> "$work/list"
done
sync
bench_device_of "$work/www/files/f1.bin"
BENCH_IDLE_CHECK=bench_disk_quiet

auto_yes() {
  curl -s "http://127.0.0.1:$port/metrics" |
    awk -F' ' '/^mmapd_advice_auto_requests_total\{class="stream",willneed="yes"\}/ {print $2}'
}

rows=$work/rows
: > "$rows"
device=()
for r in $(seq "$reps"); do
  device+=("$(bench_fio_s "$work/www/files/f$(( (r % nfiles) + 1 )).bin" seq --rw=read --bs=1M --iodepth=1)")
  n=${#arms[@]}
  for k in $(seq 0 $((n - 1))); do
    arm=${arms[$(( (k + r) % n ))]}
    [ -n "$arm" ] || continue
    bench_evict_list "$work/list"
    [ "$(bench_resident_list "$work/list")" -le 262144 ] || bench_evict_list "$work/list"
    case $arm in
      lighttpd)
        port=$(bench_free_port)
        bench_start_lighttpd "$work" lighttpd "$port" "$work/www" ;;
      defaults)
        bench_start_mmapd "$work/mmapd.log" "$work/www/files" || exit 1
        port=$BENCH_PORT ;;
      *)
        bench_start_mmapd "$work/mmapd.log" "$work/www/files" --advice "$arm" || exit 1
        port=$BENCH_PORT ;;
    esac
    pid=$BENCH_PID
    bench_wait_http "http://127.0.0.1:$port/none" "$pid" || exit 1 # a 404: no file read
    bench_wait_idle || true
    line="$r,$arm"
    for i in $(seq "$nfiles"); do
      y0=$([ "$arm" = lighttpd ] || auto_yes)
      out=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
        "http://127.0.0.1:$port/files/f$i.bin")
      read -r code got secs <<<"$out"
      [ "$code" = 200 ] && [ "$got" = $((mb * 1024 * 1024)) ] ||
        { echo "stream_auto.sh: $arm f$i.bin: $out" >&2; exit 1; }
      y1=$([ "$arm" = lighttpd ] || auto_yes)
      tag=""
      [ "$arm" != defaults ] || { [ "${y1:-0}" != "${y0:-0}" ] && tag=":w" || tag=":n"; }
      line="$line,$secs$tag"
    done
    echo "$line" | tee -a "$rows"
    bench_stop "$pid"
    pid=
  done
done

mkdir -p "$results"
python3 - "$rows" "$results/stream_auto.md" "$command_line" "$nfiles" "$mb" "${devname:-?}" \
  "${ra_kb:-?}" "$(git rev-parse --short HEAD)" "$(uname -r)" "${device[*]}" <<'PY'
import statistics as st, sys
rows_path, out, cmd, nfiles, mb, dev, ra, rev, kernel, device = sys.argv[1:]
nfiles, mb = int(nfiles), int(mb)
runs = {}
order = []
for line in open(rows_path):
    f = line.strip().split(",")
    rep, arm, gets = f[0], f[1], f[2:]
    if arm not in runs:
        runs[arm] = []
        order.append(arm)
    runs[arm].append([(float(g.split(":")[0]), g.split(":")[1] if ":" in g else "") for g in gets])
dev_s = [float(x) for x in device.split()]
dev_med = st.median(dev_s) * 1000  # one file, ms
w = 6 if nfiles > 6 else nfiles // 2
with open(out, "w") as o:
    o.write("# The stream class's `auto` after its warm-up: several cold files on one server\n\n")
    o.write(f"Command: `{cmd}` at mmapd {rev}, kernel {kernel}, {dev} (read_ahead_kb {ra}). "
            f"{nfiles} files of {mb} MiB, each fetched once, cold, in turn on one server per run; "
            f"the device reads one file sequentially (fio, 1 MiB, O_DIRECT, depth 1) in "
            f"{dev_med:.0f} ms (median of {len(dev_s)}: {', '.join('%.0f' % (x * 1000) for x in dev_s)}).\n\n")
    o.write(f"Per arm, medians over the runs of: all {nfiles} GETs, the first {w} (auto's warm-up: "
            f"it alternates the arms, 3 each), the other {nfiles - w}, and those per GET against the device.\n\n")
    o.write("| arm | runs | all GETs ms | first %d ms | other %d ms | other per GET ms | vs device |\n" % (w, nfiles - w))
    o.write("|---|---|---|---|---|---|---|\n")
    for arm in order:
        tot = [sum(t for t, _ in r) * 1000 for r in runs[arm]]
        first = [sum(t for t, _ in r[:w]) * 1000 for r in runs[arm]]
        rest = [sum(t for t, _ in r[w:]) * 1000 for r in runs[arm]]
        per = st.median(rest) / max(1, nfiles - w)
        o.write(f"| {arm} | {len(tot)} | {st.median(tot):.0f} | {st.median(first):.0f} | "
                f"{st.median(rest):.0f} | {per:.0f} | {per / dev_med:.2f}x |\n")
    o.write("\nEvery run, ms per GET in order (defaults: `w` = that GET gave WILLNEED, `n` = it did not):\n\n")
    for arm in order:
        for i, r in enumerate(runs[arm]):
            o.write(f"- {arm} run {i + 1}: " + " ".join(f"{t * 1000:.0f}{tag}" for t, tag in r) + "\n")
print(open(out).read())
PY

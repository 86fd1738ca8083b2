#!/usr/bin/env bash
# loader.sh - the epoch time of a real PyTorch DataLoader reading a COLD file through mmapd's
# /sample, against the same records fetched from nginx and lighttpd and read from a local
# mmap, between two bounds: the same epoch with the file warm (compute alone) and the disk's
# own time for the epoch's reads (fio).
#
# Usage: tests/bench/loader.sh [REPS=3] [DIR=a directory on a real disk, not tmpfs]
#   e.g. tests/bench/loader.sh 3 /var/tmp;  LOADER_SMOKE=1 tests/bench/loader.sh 1 /var/tmp
#
# The file: 2 GiB of random bytes in DIR. An epoch reads every record slot once: 4 KiB records
# at offsets that are multiples of 128 KiB (16384 records, 64 MiB) and 64 KiB records at
# multiples of 256 KiB (8192 records, 512 MiB), so the records spread over the whole file and
# an epoch lasts seconds. The DataLoader: num_workers=2, batch_size=256, uint8 tensors; worker w
# reads shard w of 2 (/sample's rank=w&world=2), seed 1, epoch = the repetition (0 for the
# checks). After each batch the main loop sleeps STEP (a training step on a GPU leaves the CPU
# free; a busy loop would take one of this machine's 2 CPUs from the server). Steps: 0 and
# k x (disk QD32 epoch time / batches) for k in 0.5 1 1.5 2 (LOADER_STEPS), from the fio
# figures measured first in the same run.
# Arms (tests/bench/loader_client.py runs one epoch and prints its time):
#   mmapd-lookahead     MmapdDataset (scripts/mmapd_dataset.py), page=${LOADER_PAGE:-1024} records (4 batches;
#                       LOADER_PAGE) per GET /sample, --sample-lookahead LOADER_LOOKAHEAD
#                       (1 page by default; mmapd's own default is 0, off) (skipped, with a
#                       note, by a build without that flag)
#   mmapd-nolookahead   the same with --sample-lookahead 0 (no flag on a build without it)
#   mmapd-batch         (only when named in LOADER_ARMS) the same server as mmapd-nolookahead;
#                       MmapdDataset(batch=256) makes whole batches in the workers (one
#                       torch.stack per batch of a multipart page), DataLoader(batch_size=None):
#                       no Python work per record
#   mmapd-batch-lookahead  (only when named) the same client, --sample-lookahead LOADER_LOOKAHEAD
#   mmapd-willneed      (only when named in LOADER_ARMS) --sample-lookahead 0 --advice
#                       random=random,willneed: every cold page gets its WILLNEED batch, where
#                       the default `auto` serves some of a new process's first cold pages
#                       without it; tells lookahead's own gain from that
#   nginx, nginx-auto   the same records in the same order per worker as multi-range GETs of
#                       /files/FILE, a page of records per request (1 worker and auto;
#                       tcp_nopush off, large_client_header_buffers 4 256k for the Range header)
#   lighttpd            the same; it answers at most 10 unsorted ranges per request (more are
#                       dropped, probed here), so 10 records per request
#   python-mmap         no server: mmap.mmap of the file, madvise(MADV_RANDOM), a slice copy
#                       per record
#   compute             mmapd with the file cached right before the epoch (cat after the idle
#                       wait, as cached pages that nothing touches drift out of the page cache
#                       on these machines within seconds; fincore must show >= 99 % of it
#                       resident): the bound set by the DataLoader, the client and the steps
# disk QD32 / QD1: fio, O_DIRECT, --readonly, libaio, randread, bs = the record, io_size = the
# epoch's bytes, queue depth 32 and 1, REPS times each (medians).
# Every run: stop the server (a mapping keeps pages cached), evict the file (fsync +
# posix_fadvise DONTNEED; fincore must show at most 256 KiB resident, else once more, else the
# run is marked not-cold), start the server, wait for an idle machine (CPUs >= IDLE_PCT % idle,
# default 90, disk quiet; IDLE_WAIT tries, default 60), run the epoch. Bytes read = sectors
# read from the file's device (/proc/diskstats) over the epoch; for mmapd, the /sample pages
# its `random,auto` advice served without WILLNEED (a new process tries both ways on its
# first cold pages) and its lookahead counters (pages read ahead, hits, late, dropped), from
# /metrics after the epoch. Before the timed runs, one
# epoch per arm and record size is checked: every record's bytes against the file at the
# offset sample_reference.py computes, each (shard, index) exactly once, parts in the order
# asked. The arms are interleaved within each repetition.
# Writes RESULTS/loader.csv (every run, the checks and the fio runs), loader.md (medians per arm,
# record size and step; ratio to max(compute, disk QD32); lookahead speed-up; QD1/QD32; the
# machine, the command, the mmapd commit) and loader.png (gnuplot); RESULTS =
# tests/bench/results (LOADER_RESULTS).
# Environment: LOADER_SMOKE=1 (one repetition, steps k = 0 and 1, for a check end to end),
# LOADER_ARMS (the arms above, space-separated), LOADER_STEPS (the k list, "0 0.5 1 1.5 2"),
# LOADER_PAGE (records per /sample page and per multi-range request, 1024), LOADER_LOOKAHEAD
# (the mmapd-lookahead arm's --sample-lookahead, 1), LOADER_READ_BPS (bytes per second: the
# script, every server, client and fio read the file's disk through the block layer's
# throttle at most that fast, a slower disk than the machine's: bench_throttle_reads in
# lib.sh; the compute arm fills the page cache outside it; needs root).
# Needs: apt-get install python3-torch fio curl util-linux gnuplot-nox nginx lighttpd (torch
# through Debian's /usr/bin/python3; peers that are missing are skipped and fio's figures left
# out, each with a note). On demand only: never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-3}
dir=${2:-}
smoke=${LOADER_SMOKE:-0}
ks=${LOADER_STEPS:-0 0.5 1 1.5 2}
if [ "$smoke" = 1 ]; then reps=1; ks=${LOADER_STEPS:-0 1}; fi
read -r -a arms <<<"${LOADER_ARMS:-mmapd-lookahead mmapd-nolookahead nginx nginx-auto lighttpd python-mmap compute}"
results=${LOADER_RESULTS:-tests/bench/results}
command_line=
for v in LOADER_SMOKE LOADER_ARMS LOADER_STEPS LOADER_PAGE LOADER_LOOKAHEAD LOADER_READ_BPS; do
  [ -z "${!v:-}" ] || command_line+="$v=\"${!v}\" "
done
command_line+="tests/bench/loader.sh $*"
size_mb=2048
configs=("4096 131072" "65536 262144")   # record bytes, alignment
batch=256
page=${LOADER_PAGE:-1024}
seed=1
max_resident=$((256 * 1024))
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3   # Debian's interpreter sees python3-torch
"$py" -c 'import torch' 2>/dev/null || { echo "loader.sh needs torch for $py (apt-get install python3-torch)" >&2; exit 1; }
for cmd in curl fincore gnuplot; do
  command -v "$cmd" >/dev/null || { echo "loader.sh needs $cmd (apt-get install curl util-linux gnuplot-nox)" >&2; exit 1; }
done
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd

notes=()
have_la=0
la_depth=${LOADER_LOOKAHEAD:-1}
la_default="not in this build"
if build/bench/mmapd --help | grep -q -- --sample-lookahead; then
  have_la=1
  la_default="--sample-lookahead $la_depth"
fi
picked=()
for a in "${arms[@]}"; do
  case $a in
    mmapd-lookahead)
      if [ "$have_la" = 0 ]; then
        notes+=("mmapd has no --sample-lookahead in this build: mmapd-lookahead skipped, mmapd-nolookahead runs without the flag"); continue
      fi ;;
    nginx|nginx-auto|lighttpd)
      command -v "${a%-auto}" >/dev/null || { notes+=("${a%-auto} is not installed: $a skipped"); continue; } ;;
    mmapd-nolookahead|mmapd-batch|mmapd-batch-lookahead|mmapd-willneed|python-mmap|compute) ;;
    *) echo "unknown arm $a" >&2; exit 1 ;;
  esac
  picked+=("$a")
done
arms=("${picked[@]}")
have_fio=1
command -v fio >/dev/null || { have_fio=0; notes+=("fio is not installed (apt-get install fio): no disk bounds, steps k x 10 ms instead"); }

work=$(bench_disk_workdir "$dir" mmapd-loader) || exit 1
pid=
cleanup() { [ -z "$pid" ] || bench_stop "$pid"; bench_throttle_end; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/www/files"
chmod 755 "$work" "$work/www" "$work/www/files"   # nginx workers run as www-data
file=$work/www/files/loader.bin
echo "loader.sh: writing $size_mb MiB of random bytes to $file" >&2
head -c $((size_mb * 1024 * 1024)) /dev/urandom > "$file"
echo ready > "$work/www/files/ping.txt"
chmod 644 "$file" "$work/www/files/ping.txt"
sync "$file"
file_size=$(stat -c %s "$file")
min_warm=$((file_size * 99 / 100))

# The device that holds the file: its sectors read count the bytes an epoch read.
bench_device_of "$file"
sectors_read() { if [ -n "$devname" ]; then awk -v d="$devname" '$3 == d {print $6}' /proc/diskstats; else echo 0; fi; }
in_flight() { awk -v d="$devname" '$3 == d {print $12}' /proc/diskstats; }
if [ -n "${LOADER_READ_BPS:-}" ]; then
  bench_throttle_reads "$file" "$LOADER_READ_BPS" || exit 1
  notes+=("every arm and fio read the disk through the block layer's throttle, at most $((LOADER_READ_BPS / 1000000)) MB/s (LOADER_READ_BPS, cgroup $throttle_cg on $throttle_dev): a slower disk than this machine's")
fi
BENCH_IDLE_CHECK=bench_disk_quiet

# Per record size: the records of an epoch and its batches (each worker batches its own shard).
epoch_records() { echo $(((file_size - $1) / $2 + 1)); }
epoch_batches() {
  local n; n=$(epoch_records "$1" "$2")
  echo $(( ($(( (n + 1) / 2 )) + batch - 1) / batch + ($(( n / 2 )) + batch - 1) / batch ))
}

csv=$work/loader.csv
echo "kind,rep,record,align,step_ms,arm,epoch_s,records,read_bytes,resident_evicted,resident_before,auto_pages_without_willneed,lookahead_pages,lookahead_hits,lookahead_late,lookahead_dropped,loadavg,idle,status" > "$csv"

# The disk: fio for each record size, REPS times; the steps follow from the QD32 medians.
fio_s() { # RECORD BYTES QD REP: seconds for BYTES of random RECORD-sized reads at depth QD
  bench_fio_s "$file" loader --rw=randread --bs="$1" --io_size="$2" --iodepth="$3" \
    --randseed="$4" | awk '{printf "%.4f\n", $1}'
}
declare -A steps
for c in "${configs[@]}"; do
  read -r rec align <<<"$c"
  n=$(epoch_records "$rec" "$align")
  qd32=()
  for r in $(seq "$reps"); do
    [ "$have_fio" = 1 ] || break
    for qd in 32 1; do
      bench_wait_idle || true
      s=$(fio_s "$rec" $((n * rec)) "$qd" "$r")
      echo "fio,$r,$rec,$align,,disk-qd$qd,$s,$n,,,,,,,,,,,ok" >> "$csv"
      [ "$qd" = 32 ] && qd32+=("$s")
      echo "loader.sh: fio $((rec / 1024)) KiB x $n QD$qd: $s s" >&2
    done
  done
  unit=0.010
  [ "$have_fio" = 0 ] || unit=$(printf '%s\n' "${qd32[@]}" | sort -g |
    awk -v b="$(epoch_batches "$rec" "$align")" '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.6f", m / b}')
  steps[$rec]=$(for k in $ks; do awk -v k="$k" -v u="$unit" 'BEGIN{printf "%.2f ", k * u * 1000}'; done)
  echo "loader.sh: $((rec / 1024)) KiB records, steps (ms): ${steps[$rec]}" >&2
done

# Servers. port/pid of the running one; per_req: ranges per multi-range request.
port=
start_server() { # ARM
  case $1 in
    mmapd-*|compute)
      local -a flags=()
      [ "$have_la" = 0 ] || case $1 in
        mmapd-lookahead|mmapd-batch-lookahead) flags+=(--sample-lookahead "$la_depth") ;;
        mmapd-nolookahead|mmapd-batch|mmapd-willneed) flags+=(--sample-lookahead 0) ;;
      esac
      [ "$1" != mmapd-willneed ] || flags+=(--advice "random=random,willneed")
      bench_start_mmapd "$work/mmapd.log" "$work/www/files" "${flags[@]}" || exit 1 ;;
    nginx|nginx-auto)
      port=$(bench_free_port)
      bench_start_nginx "$work" nginx "$([ "$1" = nginx ] && echo 1 || echo auto)" "$port" "$work/www" off "" \
        "large_client_header_buffers 4 256k;" ;;
    lighttpd)
      port=$(bench_free_port)
      bench_start_lighttpd "$work" lighttpd "$port" "$work/www" "server.max-request-field-size = 65536" ;;
    python-mmap) return 0 ;;
  esac
  case $1 in mmapd-*|compute) port=$BENCH_PORT ;; esac
  pid=$BENCH_PID
  bench_wait_http "http://127.0.0.1:$port/files/ping.txt" "$pid" || { echo "$1 did not start" >&2; exit 1; }
}
stop_server() { [ -z "$pid" ] || bench_stop "$pid"; pid=; }
# mmapd_counters: from the running mmapd's /metrics, "/sample pages served without WILLNEED by
# the auto advice,pages read ahead,hits,late,dropped" (the last four empty without lookahead).
mmapd_counters() {
  curl -s "http://127.0.0.1:$port/metrics" | awk '
    /^mmapd_advice_auto_requests_total\{class="random",willneed="no"\}/ {n = $2}
    /^mmapd_sample_lookahead_pages_total / {p = $2}
    /^mmapd_sample_lookahead_hits_total / {h = $2}
    /^mmapd_sample_lookahead_late_total / {l = $2}
    /^mmapd_sample_lookahead_dropped_total\{/ {d += $2; dd = 1}
    END {printf "%s,%s,%s,%s,%s\n", n, p, h, l, dd ? d : ""}'
}

declare -A per_req
for a in nginx nginx-auto lighttpd; do
  [[ " ${arms[*]} " == *" $a "* ]] || continue
  start_server "$a"
  read -r parts order < <("$py" tests/bench/loader_client.py probe --url "http://127.0.0.1:$port" \
    --path /files/loader.bin --size "$file_size" --record 4096 --ranges "$page")
  stop_server
  if [ "$order" != inorder ]; then
    notes+=("$a answered $parts parts ($order) to $page unsorted ranges: skipped")
    picked=()
    for b in "${arms[@]}"; do [ "$b" = "$a" ] || picked+=("$b"); done
    arms=("${picked[@]}")
  elif [ "$parts" -lt "$page" ]; then
    per_req[$a]=$parts
    notes+=("$a answers at most $parts of $page unsorted ranges (206 with the first $parts parts, the rest dropped): it gets $parts records per request")
  else
    per_req[$a]=$page
  fi
done

client_args() { # ARM: the loader_client.py subcommand and its server arguments
  case $1 in
    mmapd-batch|mmapd-batch-lookahead) echo "mmapd --url http://127.0.0.1:$port --path loader.bin --page $page --batched" ;;
    mmapd-*|compute) echo "mmapd --url http://127.0.0.1:$port --path loader.bin --page $page" ;;
    nginx|nginx-auto|lighttpd) echo "peer --url http://127.0.0.1:$port --path /files/loader.bin --per-req ${per_req[$1]}" ;;
    python-mmap) echo local ;;
  esac
}

run_one() { # KIND(run|check) ARM RECORD ALIGN STEP_MS REP: one epoch, one CSV row
  local kind=$1 arm=$2 rec=$3 align=$4 step=$5 r=$6
  local res res2 idle=yes load d0 d1 out t n status epoch=$r counters=,,,,
  local -a args extra=()
  [ "$kind" = run ] || { epoch=0; extra=(--check); }
  stop_server
  if [ "$arm" != compute ]; then
    bench_evict "$file"
    res=$(bench_resident "$file")
    [ "$res" -le "$max_resident" ] || { bench_evict "$file"; res=$(bench_resident "$file"); }
  fi
  start_server "$arm"
  bench_wait_idle || idle=no
  if [ "$arm" = compute ]; then # warmed last: cached pages that nothing touches drift out here
    bench_unthrottled cat "$file" > /dev/null
    res=$(bench_resident "$file")
    [ "$res" -ge "$min_warm" ] || { bench_unthrottled cat "$file" > /dev/null; res=$(bench_resident "$file"); }
  fi
  res2=$(bench_resident "$file")
  load=$(cut -d' ' -f1 /proc/loadavg)
  read -r -a args <<<"$(client_args "$arm")"
  d0=$(sectors_read)
  out=$("$py" tests/bench/loader_client.py "${args[@]}" --file "$file" --record "$rec" \
    --align "$align" --seed "$seed" --epoch "$epoch" --batch "$batch" \
    --step "$(awk -v s="$step" 'BEGIN{print s / 1000}')" "${extra[@]}" 2>"$work/client.err") ||
    out="0 0 bad:client_failed_$(tail -1 "$work/client.err" | tr -c 'A-Za-z0-9_.:\n' _ | cut -c1-80)"
  [ -z "$devname" ] || for _ in $(seq 40); do [ "$(in_flight)" = 0 ] && break; sleep 0.05; done
  d1=$(sectors_read)
  case $arm in mmapd-*|compute) counters=$(mmapd_counters) ;; esac
  read -r t n status <<<"$out"
  if [ "$status" = ok ]; then
    if [ "$arm" = compute ]; then [ "$res2" -ge "$min_warm" ] || status=not-warm
    else [ "$res" -le "$max_resident" ] && [ "$res2" -le "$max_resident" ] || status=not-cold
    fi
  fi
  echo "$kind,$r,$rec,$align,$step,$arm,$t,$n,$(((d1 - d0) * 512)),$res,$res2,$counters,$load,$idle,$status" >> "$csv"
  printf 'loader.sh: %-5s rep %s %2s KiB step %7s ms %-18s %7s s  read %5s MiB  resident %s/%s B  %s\n' \
    "$kind" "$r" $((rec / 1024)) "$step" "$arm" "$t" $(((d1 - d0) / 2048)) "$res" "$res2" "$status" >&2
}

for c in "${configs[@]}"; do
  read -r rec align <<<"$c"
  for a in "${arms[@]}"; do
    [ "$a" = compute ] || run_one check "$a" "$rec" "$align" 0 0
  done
done
for r in $(seq "$reps"); do
  for c in "${configs[@]}"; do
    read -r rec align <<<"$c"
    for st in ${steps[$rec]}; do
      for a in "${arms[@]}"; do run_one run "$a" "$rec" "$align" "$st" "$r"; done
    done
  done
done
stop_server

mkdir -p "$results"
cp "$csv" "$results/loader.csv"
machine="$(nproc) CPUs, kernel $(uname -r), the file on ${devname:+/dev/$devname }($(df --output=fstype "$work" | tail -1), read_ahead_kb $ra_kb, disk: $model)"
versions="Python $("$py" -c 'import platform; print(platform.python_version())'), torch $("$py" -c 'import torch; print(torch.__version__)')"
for a in "${arms[@]}"; do
  case $a in
    nginx) versions+=", $(nginx -v 2>&1 | sed 's/.*version: //')" ;;
    lighttpd) versions+=", $(lighttpd -v 2>&1 | sed 's/ (.*//; s/ - .*//')" ;;
  esac
done
arm_text=$(for a in "${arms[@]}"; do
  case $a in
    mmapd-lookahead) echo "mmapd-lookahead: MmapdDataset, page=$page, mmapd's defaults but $la_default" ;;
    mmapd-nolookahead) echo "mmapd-nolookahead: the same, $([ "$have_la" = 1 ] && echo "--sample-lookahead 0" || echo "a build without lookahead, no flag")" ;;
    mmapd-batch) echo "mmapd-batch: --sample-lookahead 0, MmapdDataset(batch=256): the workers make whole batches (one stack per batch), DataLoader(batch_size=None)" ;;
    mmapd-batch-lookahead) echo "mmapd-batch-lookahead: the same client, $la_default" ;;
    mmapd-willneed) echo "mmapd-willneed: the same, $([ "$have_la" = 1 ] && echo "--sample-lookahead 0 ")--advice random=random,willneed (a WILLNEED batch on every cold page, where auto tries a new process's first cold pages both ways)" ;;
    nginx|nginx-auto) echo "$a: $([ "$a" = nginx ] && echo "1 worker" || echo "worker_processes auto"), multi-range GETs of ${per_req[$a]} records (tcp_nopush off)" ;;
    lighttpd) echo "lighttpd: defaults, multi-range GETs of ${per_req[$a]} records" ;;
    python-mmap) echo "python-mmap: no server, mmap.mmap + madvise(MADV_RANDOM), a slice copy per record, in the same DataLoader" ;;
    compute) echo "compute: mmapd's defaults, the file cached right before the epoch (the bound)" ;;
  esac
done)
smoke_flag=()
[ "$smoke" = 1 ] && smoke_flag=(--smoke)
notes+=("nginx runs with tcp_nopush off: with it on, cold.sh measured a 40 ms stall on every cold multi-range answer (TCP_CORK and a delayed ACK), which is not the disk")
python3 tests/bench/loader_client.py report "$csv" --out "$results/loader.md" --plot "$work/plot" \
  --command "$command_line" --commit "$(git rev-parse --short HEAD)" --machine "$machine" \
  --versions "$versions" --arms "${arms[*]}" --arm-text "$arm_text" --lookahead-default "$la_default" \
  --notes "$(printf '%s\n' "${notes[@]}")" --file-mb "$size_mb" --batch "$batch" --page "$page" \
  --seed "$seed" --idle-pct "${IDLE_PCT:-90}" "${smoke_flag[@]}"
# One panel per record size: epoch time against step time, one line per arm, the bounds dashed.
term=png
gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo && term=pngcairo
{
  echo "set terminal $term size 1600,600 noenhanced"
  echo "set output \"$results/loader.png\""
  echo "set multiplot layout 1,${#configs[@]} title \"DataLoader epoch over a cold $size_mb MiB file (median of $reps)\""
  echo 'set datafile missing "?"; set xlabel "training step per batch (ms)"; set ylabel "epoch (s)"'
  echo 'set yrange [0:*]; set key outside right top; set grid'
  for c in "${configs[@]}"; do
    read -r rec _ <<<"$c"
    dat=$work/plot/$rec.dat
    [ -s "$dat" ] || continue
    echo "set title \"$(head -1 "$dat" | sed 's/^# //')\""
    plot="plot"
    i=2
    for a in "${arms[@]}" disk-qd32; do
      case $a in
        compute) style="with lines dt 2 lw 2 lc rgb \"#c00000\"" ;;
        disk-qd32) style="with lines dt 2 lw 2 lc rgb \"black\"" ;;
        *) style="with linespoints lw 2" ;;
      esac
      plot+=" \"$dat\" using 1:$i $style title \"$a\","
      i=$((i + 1))
    done
    echo "${plot%,}"
  done
  echo 'unset multiplot'
} | gnuplot
cat "$results/loader.md"

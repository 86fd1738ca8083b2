#!/usr/bin/env bash
# cold.sh - the cold page cache part of the benchmark: a 1 GiB file of random bytes that is
# not in the page cache before any run, served by mmapd with each madvise policy and by
# nginx (sendfile on, 1 worker), lighttpd (defaults) and Caddy (file_server).
#   usage: tests/bench/cold.sh [REPS=3] [DIR=a directory on a disk, not tmpfs; default $TMPDIR]
# Cases (the same offsets for every server within a repetition, new ones per repetition; the
# order of a case's servers and modes rotates by one each repetition):
#   sample  mmapd only: GET /sample/cold.bin?n=4096&size=4096&seed=REP&format=multipart
#   multi   the same 4096 records (offsets taken from mmapd's /sample answer, in its order)
#           as multi-range GETs of 64 ranges each on one keep-alive connection; a server that
#           answers fewer ranges per request (lighttpd: 10) gets groups of its own size
#   big     64 random 1 MiB ranges, one GET each, one keep-alive connection
#   whole   the whole file, one GET (curl)
# mmapd modes: default (every class `auto`: WILLNEED or not as its cold requests measure,
# from a fresh start in every run); none (every class none); and fixed lists of the case's
# own class (the other classes none): whole (class stream) stream=sequential,
# stream=willneed, stream=sequential+willneed; sample (class random) random=random,
# random=willneed, random=random+willneed; big and multi are bodies read at once (class
# range): range=willneed.
# Every run: stop the server (a mapping keeps pages cached), evict the file (fsync +
# posix_fadvise DONTNEED), check with fincore that nothing of it is resident (the run is
# marked not-cold otherwise), start the server, wait for an idle machine (CPUs >= IDLE_PCT %
# idle, default 90, and the disk quiet; bounded), check fincore again, record the load
# average and the CPU steal while waiting and during the case, run the case. Read bytes are machine-wide: sectors read from the
# device that holds DIR (/proc/diskstats, after its in-flight I/O drained), or pgpgin of
# /proc/vmstat when the device is not found; amplification = read / bytes requested. Every
# answer is checked (status, Content-Range of every part, sha256 of every range; the whole
# file by a second, warm download through sha256sum): a run with a wrong answer is marked
# bad and left out of the table. A run slower than twice the median of its repetitions is
# run once more, and the new run replaces it. After a valid cold run the same case runs once
# more on the same server, warm (warm_ms): the client's and the transfer's own cost, so that
# cold - warm is what the cold path added, set against the device.
# Writes RESULTS/cold.csv (every run), cold_device.csv (every fio run), cold.md (medians, min..max, amplification, ratio to
# mmapd default, the machine) and cold.png (gnuplot); RESULTS = tests/bench/results.
# Environment, for development runs: COLD_SIZE_MB (1024), COLD_SAMPLES (4096),
# COLD_RANGES_PER_REQ (64), COLD_BIG (64 ranges of 1 MiB), COLD_SERVERS ("mmapd nginx
# lighttpd caddy"), COLD_CASES ("sample multi big whole"), COLD_MAX_RESIDENT_KB (256),
# COLD_NGINX_NOPUSH (off: see below),
# COLD_RESULTS (the output directory), IDLE_PCT (90), IDLE_WAIT (60 tries of about 1.5 s).
# Needs curl python3 fincore (util-linux) gnuplot fio; peers that are not installed are skipped
# with a note. On demand only: never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-3}
dir=${2:-}
size_mb=${COLD_SIZE_MB:-1024}
samples=${COLD_SAMPLES:-4096}
record=4096
per_req=${COLD_RANGES_PER_REQ:-64}
big=${COLD_BIG:-64}
big_size=$((1024 * 1024))
read -r -a servers <<<"${COLD_SERVERS:-mmapd nginx lighttpd caddy}"
read -r -a cases <<<"${COLD_CASES:-sample multi big whole}"
max_resident=$((${COLD_MAX_RESIDENT_KB:-256} * 1024))
results=${COLD_RESULTS:-tests/bench/results}
command_line="tests/bench/cold.sh $*"
for cmd in curl python3 fincore gnuplot sha256sum; do
  command -v "$cmd" >/dev/null || { echo "cold.sh needs $cmd (apt-get install curl python3 util-linux gnuplot-nox fio)" >&2; exit 1; }
done
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd

work=$(bench_disk_workdir "$dir" mmapd-cold) || exit 1
pid=
cleanup() { [ -z "$pid" ] || bench_stop "$pid"; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/www/files"
chmod 755 "$work" "$work/www" "$work/www/files"   # nginx workers run as www-data
file=$work/www/files/cold.bin
path=/files/cold.bin
echo "cold.sh: writing $size_mb MiB of random bytes to $file" >&2
head -c $((size_mb * 1024 * 1024)) /dev/urandom > "$file"
echo ready > "$work/www/files/ping.txt"
chmod 644 "$file" "$work/www/files/ping.txt"
sync "$file"
file_size=$(stat -c %s "$file")
file_sha=$(sha256sum "$file" | cut -d' ' -f1)

# The device that holds the file: its sectors read are the machine-wide read counter.
bench_device_of "$file"
sectors_read() { awk -v d="$devname" '$3 == d {print $6}' /proc/diskstats; }
in_flight() { awk -v d="$devname" '$3 == d {print $12}' /proc/diskstats; }
pgpgin_kb() { awk '$1 == "pgpgin" {print $2}' /proc/vmstat; }
BENCH_IDLE_CHECK=bench_disk_quiet
resident() { bench_resident "$file"; }
evict() { bench_evict "$file"; }

# The device's own time for each case (fio, O_DIRECT, read-only, no page cache), once per
# repetition: whole = the file read sequentially in 1 MiB blocks at queue depth 1 and 8 (the
# faster counts); big = 64 random 1 MiB reads at queue depth 1; sample = 4096 random 4 KiB
# reads at queue depth 32 (what a batch of hints can keep in flight) and at queue depth 1
# (what a server reading one range after the other is bound by). Appended to device.csv.
device_csv=$work/device.csv
echo "rep,test,ms" > "$device_csv"
fio_ms() { # NAME FIO-ARGS...: the job's read time in ms (bytes / bandwidth)
  bench_fio_s "$file" "$@" | awk '{printf "%.1f\n", $1 * 1000}'
}
measure_device() { # REP
  command -v fio >/dev/null || return 0
  local r=$1
  {
    echo "$r,seq_1m_qd1,$(fio_ms seq1 --rw=read --bs=1M --iodepth=1)"
    echo "$r,seq_1m_qd8,$(fio_ms seq8 --rw=read --bs=1M --iodepth=8)"
    echo "$r,rand_1m_qd1,$(fio_ms rand1m --rw=randread --bs=1M --iodepth=1 --io_size=$((big * big_size)) --randseed="$r")"
    echo "$r,rand_4k_qd32,$(fio_ms rand4k32 --rw=randread --bs=$record --iodepth=32 --io_size=$((samples * record)) --randseed="$r")"
    echo "$r,rand_4k_qd1,$(fio_ms rand4k1 --rw=randread --bs=$record --iodepth=1 --io_size=$((samples * record)) --randseed="$r")"
  } >> "$device_csv"
}
command -v fio >/dev/null || notes+=("fio is not installed: no device figures (apt-get install fio)")

# Servers: NAME[:MODE] rows; peers that are missing are skipped with a note.
notes=()
declare -A advice=(
  [default]=""
  [none]="--advice stream=none --advice range=none --advice random=none"
  [stream=sequential]="--advice stream=sequential --advice range=none --advice random=none"
  [stream=willneed]="--advice stream=willneed --advice range=none --advice random=none"
  [stream=sequential+willneed]="--advice stream=sequential,willneed --advice range=none --advice random=none"
  [range=willneed]="--advice stream=none --advice range=willneed --advice random=none"
  [random=random]="--advice stream=none --advice range=none --advice random=random"
  [random=willneed]="--advice stream=none --advice range=none --advice random=willneed"
  [random=random+willneed]="--advice stream=none --advice range=none --advice random=random,willneed"
)
# nginx with tcp_nopush on (compare.sh's config) stalls about 40 ms on every cold multi-range
# answer (TCP_CORK, then a small last segment waiting for a delayed ACK): 2.9 s instead of
# 0.4-0.6 s for the 64 requests of the multi case. That is not the disk: off by default here.
nginx_nopush=${COLD_NGINX_NOPUSH:-off}
peers=()
for s in "${servers[@]}"; do
  [ "$s" = mmapd ] && continue
  if command -v "$s" >/dev/null; then peers+=("$s"); else notes+=("$s is not installed: skipped"); fi
done
for s in "${peers[@]}"; do
  [ "$s" != nginx ] || notes+=("nginx runs with tcp_nopush $nginx_nopush (COLD_NGINX_NOPUSH): with it on, every cold multi-range answer stalled about 40 ms (TCP_CORK and a delayed ACK; 2.9 s against 0.4-0.6 s for the 64 requests when measured), which is not the disk")
done
have_mmapd=0
for s in "${servers[@]}"; do [ "$s" = mmapd ] && have_mmapd=1; done
rows_for() { # CASE -> the server:mode rows that run it
  local c=$1
  if [ "$have_mmapd" = 1 ]; then
    case $c in
      sample) echo mmapd:default mmapd:none mmapd:random=random mmapd:random=willneed \
                   mmapd:random=random+willneed ;;
      whole) echo mmapd:default mmapd:none mmapd:stream=sequential mmapd:stream=willneed \
                  mmapd:stream=sequential+willneed ;;
      *) echo mmapd:default mmapd:none mmapd:range=willneed ;;
    esac
  fi
  [ "$c" = sample ] || for p in "${peers[@]}"; do echo "$p:-"; done
}

port=
start_server() { # NAME MODE: sets pid and port
  local name=$1 mode=$2
  if [ "$name" = mmapd ]; then
    local -a flags
    read -r -a flags <<<"${advice[$mode]}"
    [ "$per_req" -le 64 ] || flags+=(--max-ranges "$per_req")
    bench_start_mmapd "$work/mmapd.log" "$work/www/files" "${flags[@]}" || exit 1
    pid=$BENCH_PID port=$BENCH_PORT
  else
    port=$(bench_free_port)
    case $name in
      nginx) bench_start_nginx "$work" nginx 1 "$port" "$work/www" "$nginx_nopush" ;;
      lighttpd) bench_start_lighttpd "$work" lighttpd "$port" "$work/www" ;;
      caddy) bench_start_caddy "$work" caddy "$port" "$work/www" ;;
    esac
    pid=$BENCH_PID
  fi
  bench_wait_http "http://127.0.0.1:$port/files/ping.txt" "$pid" || { echo "$name did not start" >&2; exit 1; }
}
stop_server() { [ -z "$pid" ] || bench_stop "$pid"; pid=; }

# The offsets of each repetition, from a warm mmapd, with the sha256 of every range.
start_server mmapd default
for r in $(seq "$reps"); do
  python3 tests/bench/cold_client.py plan --port "$port" --file "$file" --path "$path" \
    --samples "$samples" --record "$record" --seed "$r" --big "$big" --big-size "$big_size" \
    --out "$work/plan$r.json"
done
stop_server
# Ranges per request of each server: as asked, or what it answers if fewer.
declare -A per
per[mmapd]=$per_req
for p in "${peers[@]}"; do
  start_server "$p" -
  n=$(python3 tests/bench/cold_client.py probe --port "$port" --path "$path" --size "$file_size" --ranges "$per_req")
  stop_server
  if [ "$n" -ge "$per_req" ]; then per[$p]=$per_req
  elif [ "$n" -ge 1 ]; then per[$p]=$n; notes+=("$p answers at most $n of $per_req ranges (206 with the first $n parts, no error): its multi-range runs ask $n ranges per request")
  else per[$p]=1; notes+=("$p does not answer $per_req ranges as multipart: its multi-range runs ask 1 range per request")
  fi
done

csv=$work/cold.csv
echo "case,server,mode,rep,attempt,wall_ms,requests,ranges_per_request,bytes_requested,body_bytes,disk_read_bytes,pgpgin_bytes,read_bytes,amplification,resident_evicted,resident_before,loadavg,steal_wait_pct,steal_pct,idle,status,warm_ms" > "$csv"
run_one() { # CASE SERVER MODE REP ATTEMPT: one run, one CSV row
  local c=$1 srv=$2 mode=$3 r=$4 attempt=$5
  local res res2 idle=yes load s0 t0 s1 t1 steal w0 u0 w1 u1 d0=0 d1=0 p0 p1 out wall nreq body status want warm
  local k=${per[$srv]} disk=0 pgb readb amp code
  stop_server
  evict; res=$(resident)
  [ "$res" -le "$max_resident" ] || { evict; res=$(resident); }
  start_server "$srv" "$mode"
  read -r w0 u0 < <(bench_steal_ticks)
  bench_wait_idle || idle=no
  read -r w1 u1 < <(bench_steal_ticks)
  res2=$(resident)
  case $c in
    sample|multi) want=$((samples * record)) ;;
    big) want=$((big * big_size)) ;;
    whole) want=$file_size ;;
  esac
  load=$(cut -d' ' -f1 /proc/loadavg)
  read -r s0 t0 < <(bench_steal_ticks)
  [ -z "$devname" ] || d0=$(sectors_read)
  p0=$(pgpgin_kb)
  if [ "$c" = whole ]; then
    out=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "http://127.0.0.1:$port$path" || echo "000 0 0")
    read -r code body wall <<<"$out"
    wall=$(awk -v t="$wall" 'BEGIN{printf "%.1f", t * 1000}')
    nreq=1
    status=ok
    if [ "$code" != 200 ] || [ "$body" != "$file_size" ]; then status="bad:status_${code}_length_$body"; fi
  else
    out=$(python3 tests/bench/cold_client.py run --port "$port" --plan "$work/plan$r.json" --case "$c" --per-req "$k")
    read -r wall nreq body status <<<"$out"
  fi
  read -r s1 t1 < <(bench_steal_ticks)
  if [ -n "$devname" ]; then # reads still in flight (readahead, WILLNEED) count when done
    for _ in $(seq 40); do [ "$(in_flight)" = 0 ] && break; sleep 0.05; done
    d1=$(sectors_read)
  fi
  p1=$(pgpgin_kb)
  steal=$(bench_pct "$s0" "$s1" "$t0" "$t1")
  # The same case at once again, warm (same server, same requests): what the client and the
  # transfer cost without the disk; cold - warm is what the cold path added.
  warm=""
  if [ "$status" = ok ] && [ "$c" = whole ]; then
    warm=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port$path" | awk '{printf "%.1f", $1 * 1000}')
  elif [ "$status" = ok ]; then
    read -r warm _ < <(python3 tests/bench/cold_client.py run --port "$port" --plan "$work/plan$r.json" --case "$c" --per-req "$k")
  fi
  if [ "$c" = whole ] && [ "$status" = ok ]; then # the bytes, by a second (warm) download
    [ "$(curl -s "http://127.0.0.1:$port$path" | sha256sum | cut -d' ' -f1)" = "$file_sha" ] || status=bad:sha256
  fi
  [ "$res" -le "$max_resident" ] && [ "$res2" -le "$max_resident" ] || status=not-cold
  disk=$(((d1 - d0) * 512))
  pgb=$(((p1 - p0) * 1024))
  readb=$pgb
  [ -z "$devname" ] || readb=$disk
  amp=$(awk -v a="$readb" -v b="$want" 'BEGIN{printf "%.3f", a / b}')
  case $c in sample) k=$samples ;; big|whole) k=1 ;; esac
  echo "$c,$srv,$mode,$r,$attempt,$wall,$nreq,$k,$want,$body,$disk,$pgb,$readb,$amp,$res,$res2,$load,$(bench_pct "$w0" "$w1" "$u0" "$u1"),$steal,$idle,$status,$warm" >> "$csv"
  printf 'cold.sh: rep %s %-6s %-24s %8s ms (warm %s)  read %6s MiB  %sx  %s\n' "$r" "$c" "$srv $mode" "$wall" \
    "${warm:--}" $((readb / 1048576)) "$amp" "$status" >&2
}

for r in $(seq "$reps"); do
  stop_server
  measure_device "$r"
  for c in "${cases[@]}"; do
    # each repetition starts the case's rows one further on: no server or mode always runs
    # first (right after fio, or after another case's servers)
    read -r -a rows <<<"$(rows_for "$c" | tr '\n' ' ')"
    nrows=${#rows[@]}
    for i in $(seq 0 $((nrows - 1))); do
      row=${rows[$(((i + r - 1) % nrows))]}
      run_one "$c" "${row%%:*}" "${row#*:}" "$r" 1
    done
  done
done
# Once more, each run slower than twice the median of its repetitions.
while read -r c srv mode r; do
  echo "cold.sh: $c $srv $mode rep $r: slower than twice the median, once more" >&2
  run_one "$c" "$srv" "$mode" "$r" 2
done < <(python3 tests/bench/cold_report.py outliers "$csv")
stop_server

mkdir -p "$results"
cp "$csv" "$results/cold.csv"
machine="$(nproc) CPUs, kernel $(uname -r), $work on ${devname:-an unknown device} ($(df --output=fstype "$work" | tail -1), read_ahead_kb $ra_kb, disk: $model)"
versions="mmapd $(git rev-parse --short HEAD)"
for p in "${peers[@]}"; do
  case $p in
    nginx) versions+=", $(nginx -v 2>&1 | sed 's/.*version: //')" ;;
    lighttpd) versions+=", $(lighttpd -v 2>&1 | sed 's/ (.*//')" ;;
    caddy) versions+=", caddy $(caddy version 2>/dev/null | cut -d' ' -f1)" ;;
  esac
done
note_text=$(printf '%s\n' "${notes[@]+"${notes[@]}"}")
cp "$device_csv" "$results/cold_device.csv"
python3 tests/bench/cold_report.py report "$csv" --device "$device_csv" --out "$results/cold.md" --plot "$work/plot" \
  --command "$command_line" --machine "$machine" --versions "$versions" --notes "$note_text" \
  --file-mb "$size_mb" --samples "$samples" --record "$record" --big "$big" --per-req "$per_req" \
  --counter "$([ -n "$devname" ] && echo "sectors read from /dev/$devname (/proc/diskstats)" || echo "pgpgin (/proc/vmstat)")"
# One panel per case: median wall ms of each server and mode.
{
  echo 'set terminal png size 1400,600 noenhanced'
  echo "set output \"$results/cold.png\""
  echo "set multiplot layout 1,$(find "$work/plot" -name '*.dat' | wc -l) title \"cold page cache: median wall ms ($size_mb MiB file, $reps runs)\""
  echo 'set style fill solid 0.8 border -1; set boxwidth 0.7; set yrange [0:*]; set xtics rotate by 45 right; unset key; set bmargin 12; set ylabel "ms"'
  for c in "${cases[@]}"; do
    [ -s "$work/plot/$c.dat" ] || continue
    echo "set title \"$(head -1 "$work/plot/$c.dat" | sed 's/^# //')\""
    echo "plot \"$work/plot/$c.dat\" using 0:2:3:xtic(1) with boxes lc variable"
  done
  echo 'unset multiplot'
} | gnuplot
cat "$results/cold.md"

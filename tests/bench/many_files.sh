#!/usr/bin/env bash
# many_files.sh - mmapd against nginx and lighttpd on many small files: what serving a
# working set far larger than mmapd's mapping cache (and than any server's fd budget) costs.
#   usage: tests/bench/many_files.sh [--create-only] [REPS=3] [SECONDS=10]
# File sets, created once and kept between runs in DATA (${MMAPD_BENCH_DATA:-/var/tmp/mmapd-bench},
# world-readable since nginx workers run as www-data; a marker DATA/NAME.complete is written
# when a set is complete, so an interrupted creation is redone): 100,000 files of 8 KiB in 100
# directories, 1,000,000 files of 4 KiB in 1000 directories, one 1 GiB file of random bytes.
# --create-only makes the sets (printing how long it took) and stops there.
# Cases (wrk -t1 -c64, tests/bench/many_files.lua drawing a uniformly random path or range per
# request, the same draw for every server of a round; files warm in the page cache, checked
# on a sample of 200 files before each case of each round, re-read if not):
#   files8k   random whole-file GETs over the 100k x 8 KiB set
#   files4k   random whole-file GETs over the 1M x 4 KiB set
#   range4k   random 4 KiB ranges of the warm 1 GiB file
# Servers: mmapd-1 (mmapd --threads 1), mmapd (defaults), nginx-1 (1 worker, sendfile on, as
# lib.sh starts it), nginx-ofc (the same with open_file_cache max=N inactive=60s;
# open_file_cache_valid 60s; N = the hard fd limit minus 2048, and worker_rlimit_nofile),
# lighttpd (defaults). The shell's soft fd limit is raised to the hard limit first. A checked
# pass first: every server answers random files of both sets (200, Content-Length, the bytes
# on disk) and random ranges (206, bytes). Then REPS rounds of SECONDS per run, servers
# interleaved within each case of each round, each run after an idle wait (bench_wait_idle,
# IDLE_PCT, IDLE_WAIT), repeated once if CPU steal was above 5 %. Per run: req/s, p99, errors
# (wrk's count: status >= 400, plus socket errors), server CPU per request (user + system of
# the server and all its workers, from /proc, over the requests wrk counted) and after the
# run the server's open descriptors, mappings (/proc/PID/maps lines) and VmRSS, and for mmapd
# its /metrics lines starting mmapd_file_cache or mmapd_mapped. A server that dies is noted
# (exit status or signal, last log line), its run marked "died", and it is started again:
# lighttpd 1.4.69 with its defaults keeps a descriptor open per file it served and was seen
# to segfault near the fd limit on the 20,000-file set.
# Cold case (servers MANY_FILES_COLD_SERVERS, default "mmapd-1 mmapd nginx-1"; each round, each
# server alone, started after 10,000 random files of the 100k set were evicted from the page
# cache with posix_fadvise): 100 other files are fetched once (the hot set), then wrk -c16
# asks random hot files for SECONDS (warm p99 alone), then again while many_files.py fetches
# the 10,000 cold files once over 8 connections (warm p99 during, cold files/s): do cold files
# stay off the threads that answer warm ones? Skipped when DATA is in memory (tmpfs).
# MANY_FILES_SCALE=small: sets of 2,000 and 20,000 files, a 64 MiB file, 500 cold files, 1 round
# of 2 s by default, in DATA-small, results in DATA-small/results: proves the script end to end.
# Writes tests/bench/results/many_files.md (per case: medians and min..max over the rounds,
# ratios against the best peer with 0 errors, the command, kernel, CPUs, limits) and
# many_files.csv (every run; MANY_FILES_RESULTS overrides the directory), and prints the
# markdown. Needs wrk nginx-light (or nginx) lighttpd curl python3 util-linux (fincore) procps
# (pgrep): apt-get install them. On demand only: never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
command_line="tests/bench/many_files.sh${*:+ $*}"
create_only=no
if [ "${1:-}" = --create-only ]; then create_only=yes; shift; fi
scale=${MANY_FILES_SCALE:-full}
base=${MMAPD_BENCH_DATA:-/var/tmp/mmapd-bench}
case $scale in
  full) n_a=100000 n_b=1000000 big=$((1024 << 20)) cold_n=10000 d_reps=3 d_secs=10 data=$base
        results=${MANY_FILES_RESULTS:-tests/bench/results} ;;
  small) n_a=2000 n_b=20000 big=$((64 << 20)) cold_n=500 d_reps=1 d_secs=2 data=$base-small
         results=${MANY_FILES_RESULTS:-$base-small/results} ;;
  *) echo "MANY_FILES_SCALE is full or small, not $scale" >&2; exit 1 ;;
esac
reps=${1:-$d_reps}
secs=${2:-$d_secs}
size_a=8192 dirs_a=100 size_b=4096 dirs_b=1000 hot_n=100 cold_conns=8 hot_conns=16
read -r -a cold_servers <<<"${MANY_FILES_COLD_SERVERS:-mmapd-1 mmapd nginx-1}"
for cmd in wrk nginx lighttpd curl python3 fincore pgrep; do
  command -v "$cmd" >/dev/null || { echo "many_files.sh needs $cmd (apt-get install wrk nginx-light lighttpd curl python3 util-linux procps)" >&2; exit 1; }
done
# the interpreter itself, not a version manager's shim (which costs most of a second a call)
py=$(python3 -c 'import sys; print(sys.executable)')

# the file sets: once, kept between runs
mkdir -p "$data"
echo "many_files.sh: file sets in $data ($scale)" >&2
t0=$(date +%s.%N)
set_a=$("$py" tests/bench/many_files.py create --data "$data" --count $n_a --size $size_a --dirs $dirs_a)
set_b=$("$py" tests/bench/many_files.py create --data "$data" --count $n_b --size $size_b --dirs $dirs_b)
big_name=$("$py" tests/bench/many_files.py big --data "$data" --size $big)
echo ready > "$data/www/files/ping.txt"   # what start_server asks for: no file of a set
chmod 644 "$data/www/files/ping.txt"
echo "many_files.sh: file sets ready after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}') s" >&2
[ "$create_only" = no ] || exit 0

www=$data/www
files=$www/files
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd
nofile=$(bench_raise_nofile)
hard=$(ulimit -Hn)
ofc_max=$((hard - 2048 > hard / 2 ? hard - 2048 : hard / 2))
fs=$(stat -f -c %T "$data")
cold_ok=yes
case $fs in tmpfs|ramfs) cold_ok=no ;; esac

work=$(mktemp -d)
declare -A pid port
cleanup() {
  local s
  for s in "${!pid[@]}"; do bench_stop "${pid[$s]}"; done
  rm -rf "$work"
}
trap cleanup EXIT
ping=ping.txt
start_server() { # NAME: starts it, sets pid[NAME] and port[NAME]
  local s=$1
  case $s in
    mmapd-1|mmapd)
      local flags=()
      [ "$s" = mmapd ] || flags=(--threads 1)
      bench_start_mmapd "$work/$s.log" "$files" "${flags[@]}" || exit 1
      port[$s]=$BENCH_PORT ;;
    nginx-1)
      port[$s]=$(bench_free_port)
      bench_start_nginx "$work" "$s" 1 "${port[$s]}" "$www" ;;
    nginx-ofc)
      port[$s]=$(bench_free_port)
      bench_start_nginx "$work" "$s" 1 "${port[$s]}" "$www" on "worker_rlimit_nofile $hard;" \
        "open_file_cache max=$ofc_max inactive=60s; open_file_cache_valid 60s;" ;;
    lighttpd)
      port[$s]=$(bench_free_port)
      bench_start_lighttpd "$work" "$s" "${port[$s]}" "$www" ;;
    *) echo "unknown server $s" >&2; exit 1 ;;
  esac
  pid[$s]=$BENCH_PID
  bench_wait_http "http://127.0.0.1:${port[$s]}/files/$ping" "${pid[$s]}" || { echo "$s did not start" >&2; exit 1; }
}
stop_server() { bench_stop "${pid[$1]}"; unset "pid[$1]"; }
alive() { kill -0 "${pid[$1]}" 2>/dev/null; }
# restart NAME WHEN: NAME died; notes how (exit status, the end of its logs) and starts it again
restart() {
  local s=$1 rc=0 how log
  wait "${pid[$s]}" 2>/dev/null || rc=$?
  unset "pid[$s]"
  how="exit status $rc"
  [ "$rc" -le 128 ] || how="killed by SIG$(kill -l $((rc - 128)))"
  log=$(cat "$work/$s.stderr" "$work/$s.log" "$work/$s.err" 2>/dev/null | tail -n 1 | tr -d '|`' || true)
  echo "$s died $2 ($how${log:+; last log line: $log}); restarted" | tee -a "$notes" >&2
  start_server "$s"
}

# key=value of a RESULT or COLD line: kv KEY LINE
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
mmapd_metrics() { # NAME: its mmapd_file_cache* and mmapd_mapped* lines, ';'-separated (none: "")
  curl -s --max-time 5 "http://127.0.0.1:${port[$1]}/metrics" |
    grep -E '^mmapd_(file_cache|mapped)' | tr '\n' ';' || true
}
notes=$work/notes.txt
touch "$notes"
csv=$work/many_files.csv
echo "case,server,rep,status,req_s,mb_s,p50_us,p99_us,errors,status_errors,socket_errors,requests,secs,cpu_us_per_req,steal_pct,idle,resident_pct,fds,maps,rss_kib,base_p99_us,cold_files,cold_errors,cold_secs,cold_files_s,cold_p99_ms,cold_resident_before,metrics" > "$csv"
hz=$(getconf CLK_TCK)
# row CASE SERVER REP STATUS RESULT_LINE CPU_TICKS EXTRA_REQUESTS STEAL IDLE RESIDENT FDS MAPS
#     RSS BASE_P99 COLD_LINE COLD_RESIDENT METRICS: appends one CSV line (no CPU per request
#     unless STATUS is ok: a server that died took its CPU time with it)
row() {
  local c=$1 s=$2 rep=$3 st=$4
  shift 4
  local r=$1 cold=${11} m=${13//\"/\"\"} req cpu
  req=$(( $(kv requests "$r") + $3 ))
  cpu=
  [ "$st" != ok ] || cpu=$(awk -v c="$2" -v hz="$hz" -v n="$req" 'BEGIN{printf "%.2f", n ? c * 1e6 / hz / n : 0}')
  printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,"%s"\n' \
    "$c" "$s" "$rep" "$st" "$(kv req_s "$r")" "$(kv mb_s "$r")" "$(kv p50_us "$r")" "$(kv p99_us "$r")" \
    "$(kv errors "$r")" "$(kv status_errors "$r")" "$(kv socket_errors "$r")" "$(kv requests "$r")" \
    "$(kv secs "$r")" "$cpu" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" \
    "$(kv files "$cold")" "$(kv errors "$cold")" "$(kv secs "$cold")" "$(kv files_s "$cold")" \
    "$(kv p99_ms "$cold")" "${12}" "$m" >> "$csv"
}

# warm CASE: makes sure the case's files are in the page cache (a sample of 200 files, or the
# big file); sets resident (percent, after re-reading them if they were not all there)
warm() {
  local count size dirs res
  case $1 in
    files8k) count=$n_a size=$size_a dirs=$dirs_a ;;
    files4k) count=$n_b size=$size_b dirs=$dirs_b ;;
    range4k)
      [ "$(bench_resident "$files/$big_name")" -ge "$big" ] || cat "$files/$big_name" > /dev/null
      resident=$(awk -v r="$(bench_resident "$files/$big_name")" -v s="$big" 'BEGIN{printf "%.1f", 100 * r / s}')
      return ;;
  esac
  "$py" tests/bench/many_files.py paths --data "$data" --count "$count" --size "$size" \
    --dirs "$dirs" --pick 200 --seed "$RANDOM" > "$work/sample.list"
  res=$(bench_resident_list "$work/sample.list")
  if [ "$res" -lt $((200 * size)) ]; then
    echo "many_files.sh: $1: $((100 * res / (200 * size)))% of a sample cached: reading the set" \
      "($("$py" tests/bench/many_files.py warm --data "$data" --count "$count" --size "$size" --dirs "$dirs") s)" >&2
    res=$(bench_resident_list "$work/sample.list")
  fi
  resident=$(awk -v r="$res" -v s=$((200 * size)) 'BEGIN{printf "%.1f", 100 * r / s}')
}

servers=(mmapd-1 mmapd nginx-1 nginx-ofc lighttpd)
for s in "${servers[@]}"; do start_server "$s"; done
for s in "${servers[@]}"; do
  "$py" tests/bench/many_files.py check --port "${port[$s]}" --data "$data" \
    --sets "$set_a:$n_a:$size_a:$dirs_a" "$set_b:$n_b:$size_b:$dirs_b" --big "$big_name:$big" ||
    { echo "$s answered wrongly" >&2; exit 1; }
done
echo "many_files.sh: every server answered the checked pass correctly" >&2

declare -A case_env=(
  [files8k]="SET=$set_a COUNT=$n_a DIRS=$dirs_a"
  [files4k]="SET=$set_b COUNT=$n_b DIRS=$dirs_b"
  [range4k]="FILE=$big_name SIZE=$big BLOCK=4096"
)
cases=(files8k files4k range4k)
for rep in $(seq "$reps"); do
  for c in "${cases[@]}"; do
    warm "$c"
    for s in "${servers[@]}"; do
      alive "$s" || restart "$s" "while idle, before $c round $rep"
      for _ in 1 2; do
        idle=yes
        bench_wait_idle || idle=no
        read -r c0 _ < <(bench_tree_stats "${pid[$s]}")
        read -r s0 t0 < <(bench_steal_ticks)
        # shellcheck disable=SC2086
        line=$(env ${case_env[$c]} SEED="$rep" wrk -t1 -c64 -d"${secs}s" \
          -s tests/bench/many_files.lua "http://127.0.0.1:${port[$s]}/" | grep '^RESULT' || true)
        read -r s1 t1 < <(bench_steal_ticks)
        read -r c1 fds maps rss < <(bench_tree_stats "${pid[$s]}")
        steal=$(bench_pct "$s0" "$s1" "$t0" "$t1")
        awk -v s="$steal" 'BEGIN{exit !(s > 5)}' || break
        echo "steal ${steal}% in $c/$s: repeating" >&2
      done
      st=ok
      alive "$s" || { st=died; fds='' maps='' rss=''; }   # CPU, fds, maps, RSS of a dead server: none
      if [ -z "$line" ]; then
        [ $st = died ] || { echo "wrk failed for $c/$s" >&2; exit 1; }
        line="RESULT req_s=0 mb_s=0 p50_us=0 p99_us=0 errors=1 requests=0 secs=0 status_errors=0 socket_errors=1"
      fi
      m=
      case $s in mmapd*) [ $st = died ] || m=$(mmapd_metrics "$s") ;; esac
      row "$c" "$s" "$rep" $st "$line" $((c1 - c0)) 0 "$steal" "$idle" "$resident" "$fds" "$maps" "$rss" "" "" "" "$m"
      echo "many_files.sh: $c $s round $rep: $(kv req_s "$line") req/s, p99 $(kv p99_us "$line") us, $(kv errors "$line") errors, $fds fds, $maps maps" >&2
      [ $st = ok ] || restart "$s" "during $c round $rep"
    done
  done
done
for s in "${servers[@]}"; do alive "$s" || restart "$s" "after the last run"; stop_server "$s"; done

# the cold case: one server at a time, 10,000 files of the 100k set evicted before its turn
if [ "$cold_ok" = yes ]; then
  BENCH_IDLE_CHECK=bench_disk_quiet
  "$py" tests/bench/many_files.py paths --data "$data" --count $n_a --size $size_a --dirs $dirs_a \
    --pick $hot_n --seed 7 > "$work/hot.list"
  "$py" tests/bench/many_files.py paths --data "$data" --count $n_a --size $size_a --dirs $dirs_a \
    --pick $cold_n --seed 7 --skip $hot_n > "$work/cold.list"
  sed "s|^$files/|/files/|" "$work/hot.list" > "$work/hot.urls"
  for rep in $(seq "$reps"); do
    for s in "${cold_servers[@]}"; do
      bench_evict_list "$work/cold.list"
      start_server "$s"
      hot=$("$py" tests/bench/many_files.py fetch --port "${port[$s]}" --list "$work/hot.list" \
        --files-root "$files" --conns 4 --size $size_a)
      [ "$(kv errors "$hot")" = 0 ] || { echo "$s: the hot set: $hot" >&2; exit 1; }
      cold_res=$(bench_resident_list "$work/cold.list")
      idle=yes
      bench_wait_idle || idle=no
      read -r s0 t0 < <(bench_steal_ticks)
      base_line=$(LIST=$work/hot.urls SEED=$rep wrk -t1 -c$hot_conns -d"${secs}s" \
        -s tests/bench/many_files.lua "http://127.0.0.1:${port[$s]}/" | grep '^RESULT' || true)
      read -r c0 _ < <(bench_tree_stats "${pid[$s]}")
      out=$(LIST=$work/hot.urls SEED=$rep "$py" tests/bench/many_files.py fetch --port "${port[$s]}" \
        --list "$work/cold.list" --files-root "$files" --conns $cold_conns --size $size_a -- \
        wrk -t1 -c$hot_conns -d1h -s tests/bench/many_files.lua "http://127.0.0.1:${port[$s]}/")
      read -r c1 fds maps rss < <(bench_tree_stats "${pid[$s]}")
      read -r s1 t1 < <(bench_steal_ticks)
      steal=$(bench_pct "$s0" "$s1" "$t0" "$t1")
      line=$(grep '^RESULT' <<<"$out" || true)
      cold=$(grep '^COLD' <<<"$out" || true)
      if [ -z "$line" ] || [ -z "$cold" ] || [ -z "$base_line" ]; then
        echo "cold case failed for $s: $out" >&2; exit 1
      fi
      st=ok
      alive "$s" || { st=died; fds='' maps='' rss=''; restart "$s" "during the cold case round $rep"; }
      m=
      case $s in mmapd*) [ $st = died ] || m=$(mmapd_metrics "$s") ;; esac
      stop_server "$s"
      row cold "$s" "$rep" $st "$line" $((c1 - c0)) "$(kv files "$cold")" "$steal" "$idle" "" "$fds" \
        "$maps" "$rss" "$(kv p99_us "$base_line")" "$cold" "$cold_res" "$m"
      echo "many_files.sh: cold $s round $rep: warm p99 $(kv p99_us "$base_line") us alone," \
        "$(kv p99_us "$line") us during; $(kv files_s "$cold") cold files/s, $(kv errors "$cold") errors" >&2
    done
  done
fi

mkdir -p "$results"
cp "$csv" "$results/many_files.csv"
"$py" - "$csv" "$command_line" "$scale" "$reps" "$secs" "$data" "$fs" "$nofile" "$hard" "$ofc_max" \
  "$set_a" "$set_b" "$big_name" "$cold_n" "$hot_n" "$cold_ok" "${cold_servers[*]}" "$notes" \
  > "$results/many_files.md" <<'PY'
import csv, datetime, os, platform, statistics, sys
(path, cmd, scale, reps, secs, data, fs, nofile, hard, ofc_max, set_a, set_b, big, cold_n, hot_n,
 cold_ok, cold_servers, notes) = sys.argv[1:]
rows = list(csv.DictReader(open(path)))
servers = ["mmapd-1", "mmapd", "nginx-1", "nginx-ofc", "lighttpd"]
peers = ["nginx-1", "nginx-ofc", "lighttpd"]
def count(name):
    return f"{int(name.split('-')[0][1:]):,}"
label = {
    "files8k": f"{count(set_a)} files of 8 KiB in 100 directories, random whole-file GETs",
    "files4k": f"{count(set_b)} files of 4 KiB in 1000 directories, random whole-file GETs",
    "range4k": f"random 4 KiB ranges of one warm {int(big.split('-')[1].split('.')[0]) >> 20} MiB file",
}
def read(p):
    try:
        return open(p).read().strip()
    except OSError:
        return "?"
def col(rs, k):
    return [float(r[k]) for r in rs if r[k] != ""]
class Num(float):   # a median; "-" where there is none (every run of that server died)
    def __format__(self, spec):
        return "-" if self != self else format(float(self), spec)
def med(rs, k):
    v = col(rs, k)
    return Num(statistics.median(v) if v else float("nan"))
def span(rs, k, fmt="{:.0f}"):
    v = col(rs, k)
    return (fmt.format(min(v)) + ".." + fmt.format(max(v))) if v else ""
def ratio(a, b):
    return f"{a / b:.2f}" if b and b == b and a == a else ""
def best_peer(rs_of):
    ok = [(med(rs_of(p), "req_s"), p) for p in peers
          if rs_of(p) and sum(int(r["errors"]) for r in rs_of(p)) == 0]
    return max(ok)[1] if ok else None

print("# mmapd on many small files, against nginx and lighttpd\n")
print(f"Command: `{cmd}` (MANY_FILES_SCALE={scale}) on {datetime.date.today()}, kernel "
      f"{platform.release()}, {os.cpu_count()} CPUs; open files: soft {nofile}, hard {hard}; "
      f"vm.max_map_count {read('/proc/sys/vm/max_map_count')}; fs.inotify.max_user_watches "
      f"{read('/proc/sys/fs/inotify/max_user_watches')}. Files in {data} ({fs}). wrk -t1 -c64 "
      f"on loopback, {secs} s per run, {reps} round(s), servers interleaved within each case of "
      "each round; every request a uniformly random path (or range), the same draw for every "
      "server of a round; files warm in the page cache (resident % of a 200-file sample before "
      "the case). Medians and min..max over the rounds.\n")
print(f"Servers: mmapd-1 = mmapd --threads 1; mmapd = mmapd with its defaults "
      f"({os.cpu_count()} threads); nginx-1 = nginx, 1 worker, sendfile on; nginx-ofc = nginx-1 "
      f"with `open_file_cache max={ofc_max} inactive=60s; open_file_cache_valid 60s;` and "
      f"`worker_rlimit_nofile {hard};`; lighttpd = lighttpd with its defaults. Errors: wrk's "
      "count of answers with status >= 400 plus socket errors. CPU: user + system time of the "
      "server process and all its workers over the run, divided by the requests wrk counted. "
      "Ratios: server / best peer, the best peer being the one with the highest median req/s "
      "and no errors in any round (for p99 and CPU, lower is better).\n")
for c in ("files8k", "files4k", "range4k"):
    rs_of = lambda s: [r for r in rows if r["case"] == c and r["server"] == s]
    if not any(rs_of(s) for s in servers):
        continue
    bp = best_peer(rs_of)
    print(f"## {label[c]}\n")
    print("| server | req/s | min..max | p99 us | min..max | errors | CPU us/req | min..max | "
          "req/s / best peer | p99 / best peer | CPU / best peer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in servers:
        rs = rs_of(s)
        if not rs:
            continue
        b = rs_of(bp) if bp else []
        rr = lambda k: ratio(med(rs, k), med(b, k)) if bp else ""
        print(f"| {s} | {med(rs, 'req_s'):.0f} | {span(rs, 'req_s')} | {med(rs, 'p99_us'):.0f} | "
              f"{span(rs, 'p99_us')} | {sum(int(r['errors']) for r in rs)} | "
              f"{med(rs, 'cpu_us_per_req'):.2f} | {span(rs, 'cpu_us_per_req', '{:.2f}')} | "
              f"{rr('req_s')} | {rr('p99_us')} | {rr('cpu_us_per_req')} |")
    print(f"\nBest peer: {bp or 'none without errors'}. Resident before the runs: "
          f"{span(rs_of(servers[0]), 'resident_pct', '{:.1f}')} % of the sample.\n")
    print("After each run (medians; the server and all its workers):\n")
    print("| server | open fds | mappings | VmRSS MiB |\n|---|---|---|---|")
    print("\n".join(f"| {s} | {med(rs_of(s), 'fds'):.0f} | {med(rs_of(s), 'maps'):.0f} | "
                    f"{Num(med(rs_of(s), 'rss_kib') / 1024):.0f} |" for s in servers if rs_of(s)))
    for s in ("mmapd-1", "mmapd"):
        if rs_of(s):
            m = rs_of(s)[-1]["metrics"].strip(";")
            print(f"\n{s} /metrics after its last run: " +
                  (", ".join(f"`{x}`" for x in m.split(";")) if m else
                   "no mmapd_file_cache or mmapd_mapped lines"))
    print()

cold = [r for r in rows if r["case"] == "cold"]
if cold_ok != "yes":
    print(f"## Cold files\n\nNot run: {data} is in memory ({fs}).\n")
elif cold:
    cs = cold_servers.split()
    rs_of = lambda s: [r for r in cold if r["server"] == s]
    ok = [(med(rs_of(p), "cold_files_s"), p) for p in cs if p in peers and rs_of(p) and
          sum(int(r["errors"]) + int(r["cold_errors"]) for r in rs_of(p)) == 0]
    bp = max(ok)[1] if ok else None
    print(f"## Cold files while warm requests run\n")
    print(f"Each round, each server alone: {cold_n} random files of the {count(set_a)} x 8 KiB "
          "set evicted from the page cache (posix_fadvise DONTNEED per file, before the server "
          "starts; the data only: dentries and inodes stay cached), the server started, "
          f"{hot_n} other files of the set fetched once (the hot set). Then wrk -t1 "
          f"-c16 asks random hot files for {secs} s (warm p99 alone), and again while a client "
          f"fetches the {cold_n} cold files once over 8 keep-alive connections (warm p99 "
          "during, cold files/s, the cold fetch's own p99). If cold files stay off the threads "
          "that answer warm ones, the warm p99 barely moves. Ratios: server / best peer "
          f"({bp or 'none without errors'}).\n")
    print("| server | warm p99 us alone | warm p99 us during | min..max | warm req/s during | "
          "cold files/s | min..max | cold p99 ms | errors warm + cold | cold bytes cached before "
          "| CPU us/req | warm p99 during / best peer | cold files/s / best peer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in cs:
        rs = rs_of(s)
        if not rs:
            continue
        b = rs_of(bp) if bp else []
        print(f"| {s} | {med(rs, 'base_p99_us'):.0f} | {med(rs, 'p99_us'):.0f} | "
              f"{span(rs, 'p99_us')} | {med(rs, 'req_s'):.0f} | {med(rs, 'cold_files_s'):.0f} | "
              f"{span(rs, 'cold_files_s')} | {med(rs, 'cold_p99_ms'):.1f} | "
              f"{sum(int(r['errors']) for r in rs)} + {sum(int(r['cold_errors']) for r in rs)} | "
              f"{max(col(rs, 'cold_resident_before')):.0f} | {med(rs, 'cpu_us_per_req'):.2f} | "
              f"{ratio(med(rs, 'p99_us'), med(b, 'p99_us')) if bp else ''} | "
              f"{ratio(med(rs, 'cold_files_s'), med(b, 'cold_files_s')) if bp else ''} |")
    for s in ("mmapd-1", "mmapd"):
        if rs_of(s):
            m = rs_of(s)[-1]["metrics"].strip(";")
            print(f"\n{s} /metrics after its last cold run: " +
                  (", ".join(f"`{x}`" for x in m.split(";")) if m else
                   "no mmapd_file_cache or mmapd_mapped lines"))
    print()
died = open(notes).read().splitlines()
if died:
    print("Servers that died (each restarted, with its caches empty again):\n")
    print("\n".join(f"- {n}" for n in died) + "\n")
print(f"Runs started without an idle machine: {sum(1 for r in rows if r['idle'] != 'yes')} of "
      f"{len(rows)}; highest CPU steal in a run: {max(float(r['steal_pct']) for r in rows):.1f}%. "
      f"Runs during which the server died: {sum(1 for r in rows if r['status'] != 'ok')}. "
      "Every run: many_files.csv.")
PY
cat "$results/many_files.md"

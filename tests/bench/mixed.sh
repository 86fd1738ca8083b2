#!/usr/bin/env bash
# mixed.sh - warm requests while a cold download runs: does a cold 1 GiB download hold up
# warm 4 KiB range requests to another file? Target: p99 <= 5 ms during the download.
#   usage: tests/bench/mixed.sh [REPS=3] [DIR=a directory on a disk, not tmpfs; default $TMPDIR]
# Servers: mmapd --threads 1, mmapd with its default threads (one per CPU), mmapd-copy (the
# same with MMAPD_TEST_STREAM_OFFLOAD=0: the HTTP thread copies every block of the download
# even while the warm requests are answered, the trade before the blocks went to the helpers),
# lighttpd (defaults, one process) and nginx (sendfile on, 1 worker). Each repetition, for each
# server: stop it, evict the cold file (checked with fincore), start it, read the warm 64 MiB
# file into the page cache (checked with fincore), wait for an idle machine; then
# tests/bench/mixed_client.py keeps 4 keep-alive connections busy with random 4 KiB ranges
# of the warm file (every answer checked against its bytes): 2 s alone (base), then while
# curl downloads the whole cold file (cold; only requests sent during the download count);
# it reports the whole p50/p99 and each connection's own.
# The cold download's status and length are checked, and its bytes by a second (warm)
# download through sha256sum.
# Writes RESULTS/mixed.md (medians over the repetitions of each run's p50 and p99) and
# mixed.csv; RESULTS = tests/bench/results.
# Environment: MIXED_COLD_MB (1024), MIXED_WARM_MB (64), MIXED_CONNS (4), MIXED_BASE_SECS (2),
# MIXED_SERVERS ("mmapd-1 mmapd mmapd-copy lighttpd nginx"), MIXED_RESULTS, IDLE_PCT (90), IDLE_WAIT (60).
# On demand only: never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-3}
dir=${2:-}
cold_mb=${MIXED_COLD_MB:-1024}
warm_mb=${MIXED_WARM_MB:-64}
conns=${MIXED_CONNS:-4}
base_secs=${MIXED_BASE_SECS:-2}
read -r -a servers <<<"${MIXED_SERVERS:-mmapd-1 mmapd mmapd-copy lighttpd nginx}"
results=${MIXED_RESULTS:-tests/bench/results}
command_line="tests/bench/mixed.sh $*"
for cmd in curl python3 fincore sha256sum; do
  command -v "$cmd" >/dev/null || { echo "mixed.sh needs $cmd (apt-get install curl python3 util-linux)" >&2; exit 1; }
done
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd

work=$(bench_disk_workdir "$dir" mmapd-mixed) || exit 1
pid=
cleanup() { [ -z "$pid" ] || bench_stop "$pid"; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/www/files"
chmod 755 "$work" "$work/www" "$work/www/files"   # nginx workers run as www-data
cold=$work/www/files/cold.bin
warm=$work/www/files/warm.bin
echo "mixed.sh: writing $cold_mb + $warm_mb MiB of random bytes under $work" >&2
head -c $((cold_mb * 1024 * 1024)) /dev/urandom > "$cold"
head -c $((warm_mb * 1024 * 1024)) /dev/urandom > "$warm"
echo ready > "$work/www/files/ping.txt"
chmod 644 "$cold" "$warm" "$work/www/files/ping.txt"
sync "$cold" "$warm"
cold_size=$(stat -c %s "$cold")
warm_size=$(stat -c %s "$warm")
cold_sha=$(sha256sum "$cold" | cut -d' ' -f1)

BENCH_IDLE_CHECK=bench_disk_quiet

notes=()
run_servers=()
for s in "${servers[@]}"; do
  case $s in
    mmapd|mmapd-1|mmapd-copy) run_servers+=("$s") ;;
    *) if command -v "$s" >/dev/null; then run_servers+=("$s"); else notes+=("$s is not installed: skipped"); fi ;;
  esac
done

port=
start_server() { # NAME: sets pid and port
  case $1 in
    mmapd-1) bench_start_mmapd "$work/mmapd.log" "$work/www/files" --threads 1 || exit 1; pid=$BENCH_PID port=$BENCH_PORT ;;
    mmapd) bench_start_mmapd "$work/mmapd.log" "$work/www/files" || exit 1; pid=$BENCH_PID port=$BENCH_PORT ;;
    mmapd-copy) MMAPD_TEST_STREAM_OFFLOAD=0 bench_start_mmapd "$work/mmapd.log" "$work/www/files" || exit 1
      pid=$BENCH_PID port=$BENCH_PORT ;;
    nginx) port=$(bench_free_port); bench_start_nginx "$work" nginx 1 "$port" "$work/www"; pid=$BENCH_PID ;;
    lighttpd) port=$(bench_free_port); bench_start_lighttpd "$work" lighttpd "$port" "$work/www"; pid=$BENCH_PID ;;
  esac
  bench_wait_http "http://127.0.0.1:$port/files/ping.txt" "$pid" || { echo "$1 did not start" >&2; exit 1; }
}
stop_server() { [ -z "$pid" ] || bench_stop "$pid"; pid=; }

csv=$work/mixed.csv
echo "server,rep,phase,requests,p50_us,p99_us,max_us,conn_p50_min_us,conn_p50_max_us,conn_p99_min_us,conn_p99_max_us,bad_answers,download_ms,cold_resident_before,warm_resident,loadavg,steal_wait_pct,steal_pct,idle,status" > "$csv"
for r in $(seq "$reps"); do
  for s in "${run_servers[@]}"; do
    stop_server
    bench_evict "$cold"
    start_server "$s"
    cat "$warm" > /dev/null
    idle=yes
    read -r w0 u0 < <(bench_steal_ticks)
    bench_wait_idle || idle=no
    read -r w1 u1 < <(bench_steal_ticks)
    cat "$warm" > /dev/null   # again: an idle page cache may have been trimmed meanwhile
    res_cold=$(bench_resident "$cold") res_warm=$(bench_resident "$warm")
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r s0 t0 < <(bench_steal_ticks)
    out=$(python3 tests/bench/mixed_client.py --port "$port" --warm-file "$warm" \
      --warm-path /files/warm.bin --cold-path /files/cold.bin --cold-size "$cold_size" \
      --conns "$conns" --base-secs "$base_secs")
    read -r s1 t1 < <(bench_steal_ticks)
    steal_wait=$(bench_pct "$w0" "$w1" "$u0" "$u1")
    steal=$(bench_pct "$s0" "$s1" "$t0" "$t1")
    status=ok
    if [ "$res_cold" -gt $((256 * 1024)) ]; then status=not-cold
    elif [ "$res_warm" -lt $((warm_size * 99 / 100)) ]; then status=warm_file_not_cached
    fi
    [ "$status" != ok ] || [ "$(curl -s "http://127.0.0.1:$port/files/cold.bin" | sha256sum | cut -d' ' -f1)" = "$cold_sha" ] || status=bad:sha256
    python3 - "$out" "$s" "$r" "$res_cold" "$res_warm" "$load" "$steal_wait" "$steal" "$idle" "$status" >> "$csv" <<'PY'
import json, sys
o = json.loads(sys.argv[1])
srv, rep, rc, rw, load, steal_wait, steal, idle, status = sys.argv[2:]
if status == "ok" and not o["download_ok"]:
    status = "bad:download_" + o["download"].replace(" ", "_")
for ph in ("base", "cold"):
    p = o[ph]
    st = status if not p["bad"] else f"bad:{p['bad']}_wrong_answers"
    f = lambda v: "" if v is None else f"{v:.0f}"
    each = lambda k: [c[k] for c in p["conns"] if c[k] is not None] or [None]
    print(f"{srv},{rep},{ph},{p['requests']},{f(p['p50_us'])},{f(p['p99_us'])},{f(p['max_us'])},"
          f"{f(min(each('p50_us'), key=lambda v: v or 0))},{f(max(each('p50_us'), key=lambda v: v or 0))},"
          f"{f(min(each('p99_us'), key=lambda v: v or 0))},{f(max(each('p99_us'), key=lambda v: v or 0))},"
          f"{p['bad']},{o['download_ms']},{rc},{rw},{load},{steal_wait},{steal},{idle},{st}")
PY
    tail -2 "$csv" | sed 's/^/mixed.sh: /' >&2
  done
done
stop_server

mkdir -p "$results"
cp "$csv" "$results/mixed.csv"
note_text=$(printf '%s\n' "${notes[@]+"${notes[@]}"}")
python3 - "$csv" "$command_line" "$cold_mb" "$warm_mb" "$conns" "$base_secs" "$note_text" > "$results/mixed.md" <<'PY'
import csv, datetime, os, platform, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cmd, cold_mb, warm_mb, conns, base_secs, notes = sys.argv[2:]
label = {"mmapd-1": "mmapd --threads 1", "mmapd": f"mmapd (default: {os.cpu_count()} threads)",
         "mmapd-copy": "mmapd, blocks never offloaded (MMAPD_TEST_STREAM_OFFLOAD=0)",
         "lighttpd": "lighttpd", "nginx": "nginx (1 worker)"}
print("# Warm requests during a cold download\n")
print(f"Command: `{cmd}` on {datetime.date.today()}, {os.cpu_count()} CPUs, kernel "
      f"{platform.release()}. {conns} keep-alive connections ask random 4 KiB ranges of a warm "
      f"{warm_mb} MiB file (one request in flight each, every answer checked): {base_secs} s "
      f"alone, then while curl downloads the whole cold {cold_mb} MiB file from the same server "
      "(evicted before, checked with fincore). Medians over the repetitions of each run's "
      "p50 and p99 (min..max of p99); target: p99 <= 5 ms during the download. By connection: "
      "the lowest..highest of the connections' own p50 (and p99) during the download, medians "
      "over the runs; in a server with more than one thread, the connections whose thread also "
      "sends the download are the high ones.\n")
for n in notes.strip().split("\n"):
    if n:
        print(f"- {n}")
print("\n| server | p50 us alone | p99 us alone | p50 us during | p99 us during | min..max p99 during "
      "| p50 us during, by connection | p99 us during, by connection "
      "| max us during | requests during | download ms | p99 <= 5 ms | runs |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for s in ("mmapd-1", "mmapd", "mmapd-copy", "lighttpd", "nginx"):
    ok = [r for r in rows if r["server"] == s and r["status"] == "ok"]
    base = [r for r in ok if r["phase"] == "base" and r["p99_us"]]
    cold = [r for r in ok if r["phase"] == "cold" and r["p99_us"]]
    total = sum(1 for r in rows if r["server"] == s and r["phase"] == "cold")
    if not total:
        continue
    if not base or not cold:
        print(f"| {label[s]} | no valid run | | | | | | | | | 0 of {total} |")
        continue
    m = lambda rs, k: statistics.median(float(r[k]) for r in rs)
    p99s = [float(r["p99_us"]) for r in cold]
    print(f"| {label[s]} | {m(base, 'p50_us'):.0f} | {m(base, 'p99_us'):.0f} | "
          f"{m(cold, 'p50_us'):.0f} | {m(cold, 'p99_us'):.0f} | {min(p99s):.0f}..{max(p99s):.0f} | "
          f"{m(cold, 'conn_p50_min_us'):.0f}..{m(cold, 'conn_p50_max_us'):.0f} | "
          f"{m(cold, 'conn_p99_min_us'):.0f}..{m(cold, 'conn_p99_max_us'):.0f} | "
          f"{m(cold, 'max_us'):.0f} | {m(cold, 'requests'):.0f} | {m(cold, 'download_ms'):.0f} | "
          f"{'yes' if m(cold, 'p99_us') <= 5000 else 'no'} | {len(cold)} of {total} |")
bad = [r for r in rows if r["status"] != "ok"]
print("\nRuns not counted: " + ("; ".join(f"{r['server']} rep {r['rep']} {r['phase']}: {r['status']}"
                                          for r in bad) or "none") + ". "
      f"Started without an idle machine: {sum(1 for r in rows if r['idle'] != 'yes') // 2} runs. "
      f"Highest CPU steal in a run: {max(float(r['steal_pct']) for r in rows):.1f}%; highest "
      f"load average before a run: {max(float(r['loadavg']) for r in rows):.2f}.")
PY
cat "$results/mixed.md"

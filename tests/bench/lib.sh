# lib.sh - helpers shared by the benchmark scripts (sourced, not run): the release build of
# mmapd, free ports, starting mmapd and its peers (nginx, lighttpd, Caddy) each with its own
# config in a work directory, and the CPU idle / steal counters from /proc/stat.
# The start functions run the server in the background and set BENCH_PID (the caller owns
# it: stop it with bench_stop, never by name); bench_start_mmapd also sets BENCH_PORT.
# Peers serve DOCROOT, so a file DOCROOT/files/F is GET /files/F on every server (mmapd gets
# --root DOCROOT/files).
# shellcheck shell=bash

# The release build in build/bench (run from the repository root).
bench_build_mmapd() {
  scripts/deps.sh build
  cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DMMAPD_TESTS=OFF >/dev/null
  cmake --build build/bench -j"$(nproc)" >/dev/null
}

bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_start_mmapd LOG ROOT [FLAGS...]: mmapd on a free loopback port; sets BENCH_PID and
# BENCH_PORT (read from its "listening on" line); returns 1 if it did not start.
bench_start_mmapd() {
  local log=$1 root=$2
  shift 2
  build/bench/mmapd --root "$root" --listen 127.0.0.1:0 "$@" >/dev/null 2>"$log" &
  BENCH_PID=$!
  BENCH_PORT=
  for _ in $(seq 200); do
    BENCH_PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | sed 's/.*://' || true)
    [ -n "$BENCH_PORT" ] && return 0
    kill -0 "$BENCH_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "mmapd did not start: $(cat "$log")" >&2
  return 1
}

# bench_start_nginx WORK NAME WORKERS PORT DOCROOT [NOPUSH=on] [MAIN] [HTTP]: nginx (sendfile
# on, tcp_nopush NOPUSH, no access log) with WORKERS worker processes ("1", "auto"), config
# and pid in WORK; MAIN and HTTP are more directives for the main and the http context (e.g.
# "worker_rlimit_nofile 20000;" and "open_file_cache max=1000;"). Sets BENCH_PID (the
# master). Its workers run as www-data: DOCROOT must be world-readable.
bench_start_nginx() {
  local work=$1 name=$2 workers=$3 port=$4 root=$5 nopush=${6:-on} main=${7:-} http=${8:-}
  mkdir -p "$work/tmp"
  cat > "$work/$name.conf" <<CONF
worker_processes $workers;
daemon off;
pid $work/$name.pid;
error_log $work/$name.err;
$main
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush $nopush;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  $http
  server { listen 127.0.0.1:$port; root $root; }
}
CONF
  nginx -c "$work/$name.conf" -p "$work" >/dev/null 2>&1 &
  BENCH_PID=$!
}

# bench_start_lighttpd WORK NAME PORT DOCROOT: lighttpd with its defaults; sets BENCH_PID.
# What it writes to stderr (an assertion that fails) goes to WORK/NAME.stderr.
bench_start_lighttpd() {
  local work=$1 name=$2 port=$3 root=$4
  cat > "$work/$name.conf" <<CONF
server.document-root = "$root"
server.bind = "127.0.0.1"
server.port = $port
server.pid-file = "$work/$name.pid"
server.errorlog = "$work/$name.err"
CONF
  lighttpd -D -f "$work/$name.conf" >/dev/null 2>"$work/$name.stderr" &
  BENCH_PID=$!
}

# bench_start_caddy WORK NAME PORT DOCROOT: Caddy file_server, no admin endpoint, plain HTTP;
# sets BENCH_PID.
bench_start_caddy() {
  local work=$1 name=$2 port=$3 root=$4
  cat > "$work/$name.Caddyfile" <<CONF
{
  admin off
  auto_https off
}
http://127.0.0.1:$port {
  root * $root
  file_server
}
CONF
  HOME=$work XDG_DATA_HOME=$work XDG_CONFIG_HOME=$work \
    caddy run --config "$work/$name.Caddyfile" --adapter caddyfile >/dev/null 2>"$work/$name.err" &
  BENCH_PID=$!
}

# bench_wait_http URL [PID]: until URL answers (any HTTP status), 10 s at most; returns 1 if
# it never did or PID died.
bench_wait_http() {
  local url=$1 pid=${2:-}
  for _ in $(seq 200); do
    curl -s -o /dev/null "$url" && return 0
    [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.05
  done
  echo "no answer from $url" >&2
  return 1
}

# bench_stop PID: SIGTERM and wait (PID must be a child of this shell).
bench_stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# bench_raise_nofile: the shell's soft limit on open files raised to its hard limit (the
# servers started after it inherit it). Prints the new limit.
bench_raise_nofile() { ulimit -Sn "$(ulimit -Hn)"; ulimit -Sn; }

# bench_tree_pids PID: PID and all its descendants (nginx: the master and its workers), one
# a line.
bench_tree_pids() {
  local c
  echo "$1"
  for c in $(pgrep -P "$1" || true); do bench_tree_pids "$c"; done
}

# bench_tree_stats PID: "CPU_TICKS FDS MAPS RSS_KIB" summed over PID and its descendants:
# user + system time in clock ticks (getconf CLK_TCK, all threads), open descriptors, lines
# of /proc/PID/maps (mappings) and VmRSS. Run as the servers' user or root.
bench_tree_stats() {
  local p t=0 f=0 m=0 r=0 x
  for p in $(bench_tree_pids "$1"); do
    x=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || continue
    [ -n "$x" ] || continue
    t=$((t + x))
    f=$((f + $(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)))
    m=$((m + $(wc -l < "/proc/$p/maps" 2>/dev/null || echo 0)))
    r=$((r + $(awk '$1 == "VmRSS:" {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$t $f $m $r"
}

# "steal total" and "idle total" ticks of all CPUs.
bench_steal_ticks() { awk '/^cpu /{print $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
bench_cpu_ticks() { awk '/^cpu /{print $5+$6, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
# bench_pct A0 A1 T0 T1: 100 * (A1 - A0) / (T1 - T0), one decimal.
bench_pct() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN{printf "%.1f", (d > c) ? 100 * (b - a) / (d - c) : 0}'; }

# bench_wait_idle: until the CPUs are >= IDLE_PCT % idle (default 90) over one second and
# the command named by BENCH_IDLE_CHECK (optional, e.g. a function that looks at the disk)
# succeeds right after; IDLE_WAIT tries at most (default 60). Returns 1 (with a warning) if
# the machine never got idle.
bench_wait_idle() {
  local i0 t0 i1 t1 check=${BENCH_IDLE_CHECK:-}
  for _ in $(seq "${IDLE_WAIT:-60}"); do
    read -r i0 t0 < <(bench_cpu_ticks); sleep 1; read -r i1 t1 < <(bench_cpu_ticks)
    if awk -v a="$i0" -v b="$i1" -v c="$t0" -v d="$t1" -v min="${IDLE_PCT:-90}" \
         'BEGIN{exit !(d > c && 100 * (b - a) / (d - c) >= min)}' &&
       { [ -z "$check" ] || "$check"; }; then
      return 0
    fi
  done
  echo "warning: machine not idle after ${IDLE_WAIT:-60} tries" >&2
  return 1
}

# bench_disk_workdir DIR NAME: prints a fresh directory DIR/NAME-XXXXXX (DIR: default $TMPDIR or
# /tmp). Cold-cache runs need a disk: returns 1 (directory removed, reason on stderr) when it is
# in memory (tmpfs, ramfs).
bench_disk_workdir() {
  local work fs
  work=$(mktemp -d -p "${1:-${TMPDIR:-/tmp}}" "$2-XXXXXX") || return 1
  fs=$(stat -f -c %T "$work")
  case $fs in
    tmpfs|ramfs) rmdir "$work"; echo "$work is in memory ($fs): pass a directory on a disk" >&2; return 1 ;;
  esac
  echo "$work"
}

# bench_evict FILE: writes FILE back and drops it from the page cache (fsync, then
# posix_fadvise DONTNEED). Pages a live mapping holds stay: stop the server first.
bench_evict() {
  python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$1"
}

# bench_evict_list LIST: bench_evict for every file named in LIST (one path a line), in one
# process.
bench_evict_list() {
  python3 -c 'import os, sys
for p in open(sys.argv[1]).read().split("\n"):
    if p:
        fd = os.open(p, os.O_RDONLY); os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$1"
}

# bench_resident_list LIST: bytes in the page cache of all the files named in LIST.
bench_resident_list() {
  tr '\n' '\0' < "$1" | xargs -0 -r fincore --bytes --noheadings --output RES |
    awk '{s += $1} END {printf "%d\n", s}'
}

# bench_resident FILE: bytes of FILE in the page cache (fincore, util-linux).
bench_resident() { fincore --bytes --noheadings --output RES "$1" | tr -d ' '; }

# bench_disk_quiet: less than 1 MiB read anywhere over half a second (for BENCH_IDLE_CHECK).
bench_disk_quiet() {
  local a b
  a=$(awk '$1 == "pgpgin" {print $2}' /proc/vmstat); sleep 0.5
  b=$(awk '$1 == "pgpgin" {print $2}' /proc/vmstat)
  [ $((b - a)) -lt 1024 ]
}

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
# BENCH_PORT (read from its "listening on" line, http:// or https://); returns 1 if it did not
# start.
bench_start_mmapd() {
  local log=$1 root=$2
  shift 2
  build/bench/mmapd --root "$root" --listen 127.0.0.1:0 "$@" >/dev/null 2>"$log" &
  BENCH_PID=$!
  BENCH_PORT=
  for _ in $(seq 200); do
    BENCH_PORT=$(grep -o 'listening on https\?://127.0.0.1:[0-9]*' "$log" | sed 's/.*://' || true)
    [ -n "$BENCH_PORT" ] && return 0
    kill -0 "$BENCH_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "mmapd did not start: $(cat "$log")" >&2
  return 1
}

# bench_start_nginx WORK NAME WORKERS PORT DOCROOT [NOPUSH=on] [MAIN] [HTTP] [LISTEN]: nginx
# (sendfile on, tcp_nopush NOPUSH, no access log) with WORKERS worker processes ("1", "auto"),
# config and pid in WORK; MAIN and HTTP are more directives for the main and the http context
# (e.g. "worker_rlimit_nofile 20000;" and "open_file_cache max=1000;"), LISTEN more parameters
# of the listen directive ("ssl", with bench_nginx_tls as HTTP). Sets BENCH_PID (the master).
# Its workers run as www-data: DOCROOT must be world-readable.
bench_start_nginx() {
  local work=$1 name=$2 workers=$3 port=$4 root=$5 nopush=${6:-on} main=${7:-} http=${8:-}
  local listen=${9:-}
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
  server { listen 127.0.0.1:$port $listen; root $root; }
}
CONF
  nginx -c "$work/$name.conf" -p "$work" >/dev/null 2>&1 &
  BENCH_PID=$!
}

# bench_start_lighttpd WORK NAME PORT DOCROOT [MORE]: lighttpd with its defaults; MORE is
# more config lines (bench_lighttpd_tls for HTTPS); sets BENCH_PID. What it writes to stderr
# (an assertion that fails) goes to WORK/NAME.stderr.
bench_start_lighttpd() {
  local work=$1 name=$2 port=$3 root=$4 more=${5:-}
  cat > "$work/$name.conf" <<CONF
server.document-root = "$root"
server.bind = "127.0.0.1"
server.port = $port
server.pid-file = "$work/$name.pid"
server.errorlog = "$work/$name.err"
$more
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

# HTTPS for the peers: one certificate and the same protocol, suite and group on every server.
# bench_make_cert DIR ecdsa|rsa: a throw-away CA (DIR/ca.pem) and a server certificate it
# signed for localhost and 127.0.0.1 (DIR/cert.pem, key DIR/key.pem), both ECDSA P-256 or both
# RSA-2048, valid two days. Readable by all (the servers read them as root): no secret here.
bench_make_cert() {
  local dir=$1 alg usage
  case $2 in
    ecdsa) alg=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1); usage=digitalSignature ;;
    rsa) alg=(-newkey rsa:2048); usage=digitalSignature,keyEncipherment ;;
    *) echo "bench_make_cert: ecdsa or rsa, not $2" >&2; return 1 ;;
  esac
  openssl req -x509 "${alg[@]}" -nodes -days 2 -subj /CN=mmapd-bench-ca \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -new "${alg[@]}" -nodes -subj /CN=localhost \
    -keyout "$dir/key.pem" -out "$dir/req.pem" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,%s\nextendedKeyUsage=serverAuth\n' \
    "$usage" > "$dir/ext.cnf"
  openssl x509 -req -in "$dir/req.pem" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/ext.cnf" -out "$dir/cert.pem" 2>/dev/null
  chmod 644 "$dir/ca.pem" "$dir/cert.pem" "$dir/key.pem"
}

# bench_nginx_tls CERT KEY SUITE GROUP: the http-context directives for bench_start_nginx (with
# LISTEN "ssl"): TLS 1.3 only, the one TLS 1.3 suite SUITE (OpenSSL name), key exchange GROUP.
# Nothing else: session cache and tickets, buffer size and kTLS (off) stay nginx's defaults.
bench_nginx_tls() {
  echo "ssl_certificate $1; ssl_certificate_key $2; ssl_protocols TLSv1.3;"
  echo "ssl_conf_command Ciphersuites $3; ssl_ecdh_curve $4;"
}

# bench_lighttpd_tls CERT KEY SUITE GROUP: the same for bench_start_lighttpd's MORE (mod_openssl
# with OpenSSL's SSL_CONF commands, the way lighttpd's docs pin a protocol and suites).
bench_lighttpd_tls() {
  cat <<CONF
server.modules += ("mod_openssl")
ssl.engine = "enable"
ssl.pemfile = "$1"
ssl.privkey = "$2"
ssl.openssl.ssl-conf-cmd = ("MinProtocol" => "TLSv1.3", "MaxProtocol" => "TLSv1.3",
                            "Ciphersuites" => "$3", "Groups" => "$4")
CONF
}

# bench_tls_handshake PORT CA: what a default OpenSSL client (s_client, like wrk) negotiates
# with 127.0.0.1:PORT, one line: "protocol | suite | key exchange | signature | verification".
bench_tls_handshake() {
  openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$2" -brief \
    </dev/null 2>&1 | awk -F': ' '
      /^Protocol version/ {p = $2} /^Ciphersuite/ {c = $2} /^Server Temp Key/ {g = $2}
      /^Signature type/ {s = $2} /^Verification/ {v = $2}
      END {printf "%s | %s | %s | %s | %s\n", p, c, g, s, v}'
}

# bench_check_answers FILE CA NAME=URL...: every server answers GET URL (FILE's bytes there)
# correctly: 20 random 4 KiB ranges and 2 random 1 MiB ranges (206, exact bytes) and the whole
# file (200, exact bytes). CA: the CA file for https URLs, "" for plain HTTP. Returns 1 (each
# bad answer on stderr) otherwise.
bench_check_answers() {
  python3 - "$@" <<'PY'
import random, ssl, sys, urllib.request
data = open(sys.argv[1], "rb").read()
ctx = ssl.create_default_context(cafile=sys.argv[2]) if sys.argv[2] else None
bad = 0
def get(name, url, want, lo=0, n=0):
    global bad
    hdr = {"Range": f"bytes={lo}-{lo + n - 1}"} if n else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=hdr), context=ctx) as r:
        body = r.read()
        if r.status != want or body != (data[lo:lo + n] if n else data):
            print(f"{name}: bad answer {r.status}, {len(body)} bytes, to {hdr or 'GET'}",
                  file=sys.stderr)
            bad += 1
for arg in sys.argv[3:]:
    name, url = arg.split("=", 1)
    for n, times in ((4096, 20), (1 << 20, 2)):
        for _ in range(times):
            get(name, url, 206, random.randrange(0, len(data) // n) * n, n)
    get(name, url, 200)
sys.exit(1 if bad else 0)
PY
}

# bench_wrk_csv CSV URL SECS SIZE SCEN BLOCK CONNS SERVER REP: one wrk -t1 run of
# wrk_report.lua (bench.bin of SIZE bytes: BLOCK-byte ranges, or the whole file for BLOCK 0)
# for SECS seconds on CONNS keep-alive connections to URL (http:// or https://), appended to
# CSV as "SCEN,SERVER,REP,req_s,mb_s,p50_us,p99_us,errors,steal_pct"; run again once when CPU
# steal was over 5 %. Exits the script when wrk printed no result.
bench_wrk_csv() {
  local csv=$1 url=$2 secs=$3 size=$4 scen=$5 block=$6 conns=$7 srv=$8 rep=$9
  local line s0 t0 s1 t1 steal
  for _ in 1 2; do
    read -r s0 t0 < <(bench_steal_ticks)
    line=$(FILE=bench.bin SIZE=$size BLOCK=$block wrk -t1 -c"$conns" -d"${secs}s" \
      -s tests/bench/wrk_report.lua "$url" | grep '^RESULT' || true)
    read -r s1 t1 < <(bench_steal_ticks)
    steal=$(bench_pct "$s0" "$s1" "$t0" "$t1")
    awk -v s="$steal" 'BEGIN{exit !(s > 5)}' || break
    echo "steal ${steal}% in $scen/$srv: repeating" >&2
  done
  [ -n "$line" ] || { echo "wrk failed for $scen/$srv" >&2; exit 1; }
  echo "$scen,$srv,$rep,$(echo "$line" | sed 's/RESULT //; s/[a-z0-9_]*=//g; s/ /,/g'),$steal" >> "$csv"
}

# bench_warm_docroot WORK SIZE: WORK/www/files/bench.bin, SIZE random bytes, read once so that
# it is in the page cache; WORK, www and files world-readable (nginx workers run as www-data).
bench_warm_docroot() {
  mkdir -p "$1/www/files"
  chmod 755 "$1" "$1/www" "$1/www/files"
  head -c "$2" /dev/urandom > "$1/www/files/bench.bin"
  chmod 644 "$1/www/files/bench.bin"
  cat "$1/www/files/bench.bin" > /dev/null
}

# The warm cases of compare.sh and tls.sh, "NAME BLOCK CONNS" (BLOCK 0: the whole file).
bench_warm_cases=("r4k_c16 4096 16" "r4k_c64 4096 64" "r1m_c64 1048576 64" "whole_c4 0 4")

# bench_warm_runs CSV REPS SECS SIZE NAME=URL...: bench_wrk_csv for every warm case on every
# server (URL: scheme, host and port), REPS times, servers interleaved within each repetition,
# each run after bench_wait_idle; CSV gets its header first.
bench_warm_runs() {
  local csv=$1 reps=$2 secs=$3 size=$4 rep c scen block conns t
  shift 4
  echo "scenario,server,rep,req_s,mb_s,p50_us,p99_us,errors,steal_pct" > "$csv"
  for rep in $(seq "$reps"); do
    for c in "${bench_warm_cases[@]}"; do
      read -r scen block conns <<<"$c"
      for t in "$@"; do
        bench_wait_idle || true
        bench_wrk_csv "$csv" "${t#*=}/" "$secs" "$size" "$scen" "$block" "$conns" "${t%%=*}" "$rep"
      done
    done
  done
}

# bench_wait_http URL [PID]: until URL answers (any HTTP status; https:// too, certificate
# not checked), 10 s at most; returns 1 if it never did or PID died.
bench_wait_http() {
  local url=$1 pid=${2:-}
  for _ in $(seq 200); do
    curl -sk -o /dev/null "$url" && return 0   # -k: only whether it answers
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

# bench_device_of FILE: sets devname (the block device under FILE, "" when not found), ra_kb
# (its read_ahead_kb, "?") and model (its model, or vendor, or "not visible") from sysfs.
# shellcheck disable=SC2034  # devname, ra_kb and model are for the caller
bench_device_of() {
  local sysdev top
  devname="" ra_kb="?" model="not visible"
  sysdev=/sys/dev/block/$(stat -c '%Hd:%Ld' "$1")
  [ -e "$sysdev/uevent" ] || return 0
  devname=$(sed -n 's/^DEVNAME=//p' "$sysdev/uevent")
  top=$sysdev
  [ -e "$sysdev/partition" ] && top=$(readlink -f "$sysdev/..")
  ra_kb=$(cat "$top/queue/read_ahead_kb" 2>/dev/null || echo "?")
  if [ -s "$top/device/model" ]; then model=$(xargs < "$top/device/model")
  elif [ -s "$top/device/vendor" ]; then model="no model; vendor $(xargs < "$top/device/vendor")"
  fi
}

# bench_fio_s FILE NAME FIO-ARGS...: seconds fio takes to read what FIO-ARGS say from FILE
# (O_DIRECT, read-only, libaio): the bytes read over the bandwidth.
bench_fio_s() {
  local file=$1 name=$2
  shift 2
  fio --name="$name" --filename="$file" --readonly --direct=1 --ioengine=libaio \
    --output-format=json "$@" 2>/dev/null |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["jobs"][0]["read"]; print("%.6f" % (r["io_bytes"] / r["bw_bytes"]))'
}

# bench_throttle_reads FILE BYTES_PER_S: from now on this shell and everything it starts read
# the disk that holds FILE at most BYTES_PER_S (the block layer's throttle, cgroup v1 blkio or
# v2 io.max, in a new cgroup `mmapd-bench-$$`): a slower disk than this machine's, for
# benchmarks whose claims are about the disk and the compute being level. Sets throttle_dev
# (MAJ:MIN), throttle_cg (the cgroup's directory) and throttle_parent (where processes go to
# read unthrottled: bench_unthrottled). Returns 1, with a message, where it cannot.
bench_throttle_reads() {
  local sysdev root
  sysdev=/sys/dev/block/$(stat -c '%Hd:%Ld' "$1")
  [ -e "$sysdev/partition" ] && sysdev=$(readlink -f "$sysdev/..")
  throttle_dev=$(cat "$sysdev/dev" 2>/dev/null) || { echo "no block device under $1" >&2; return 1; }
  if [ -e /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device ]; then
    root=/sys/fs/cgroup/blkio
    throttle_cg=$root/mmapd-bench-$$
    mkdir -p "$throttle_cg" && echo "$throttle_dev $2" > "$throttle_cg/blkio.throttle.read_bps_device" || return 1
  elif [ -e /sys/fs/cgroup/cgroup.subtree_control ] && grep -qw io /sys/fs/cgroup/cgroup.controllers; then
    root=/sys/fs/cgroup
    throttle_cg=$root/mmapd-bench-$$
    echo +io > "$root/cgroup.subtree_control" 2>/dev/null || true
    mkdir -p "$throttle_cg" && echo "$throttle_dev rbps=$2" > "$throttle_cg/io.max" || return 1
  else
    echo "no blkio or io cgroup controller here: cannot throttle reads" >&2; return 1
  fi
  throttle_parent=$root
  echo $$ > "$throttle_cg/cgroup.procs"
}

# bench_unthrottled CMD...: runs CMD outside the throttle's cgroup (filling the page cache);
# without a throttle, as it is.
bench_unthrottled() {
  if [ -n "${throttle_parent:-}" ]; then (echo "$BASHPID" > "$throttle_parent/cgroup.procs" && "$@")
  else "$@"; fi
}

# bench_throttle_end: this shell back out of the throttle's cgroup, the cgroup removed (after
# every process started in it has stopped).
bench_throttle_end() {
  [ -n "${throttle_cg:-}" ] || return 0
  echo $$ > "$throttle_parent/cgroup.procs" 2>/dev/null || true
  rmdir "$throttle_cg" 2>/dev/null || true
}

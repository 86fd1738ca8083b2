#!/usr/bin/env bash
# run.sh - N mmapd replicas behind an nginx consistent-hash balancer, and a Prometheus that
# finds them through file_sd_configs, all on free loopback ports of this machine.
#
#   deploy/scale-out/run.sh [-n N] [-b MMAPD_BIN] [-r ROOT] [-s STATE_DIR] [--no-prometheus]
#
#   -n N            replicas (default 3)
#   -b MMAPD_BIN    the mmapd binary (default $MMAPD_BIN, else build/release/mmapd)
#   -r ROOT         directory the replicas serve (default: mmapd's demo directory)
#   -s STATE_DIR    where configs, logs and pids go (default: a new temporary directory,
#                   removed on exit; a given one is kept)
#   --no-prometheus start no Prometheus
#
# Replicas listen on port 0 (each reports its port), nginx and Prometheus on ports picked free
# (retried if taken meanwhile). Replica i is started with --instance-name replica-i, so every
# response names it in the Mmapd-Instance header. Once everything answers, it prints the
# addresses and writes STATE_DIR/state.json, then runs until SIGINT or SIGTERM. On exit
# (including a failed start) it stops every process it started, by pid: replicas and
# Prometheus with SIGTERM, nginx with SIGQUIT, SIGKILL after 15 s. It exits 0 only if every
# replica exited with status 0 (a replica stopped early counts too). SIGHUP takes replicas that
# have exited out of the balancer's configuration (nginx reload) and the file_sd file.
# Needs: nginx (Debian package nginx), prometheus (package prometheus) unless --no-prometheus,
# curl, python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
replicas=3
bin=${MMAPD_BIN:-$repo/build/release/mmapd}
root=
state=
with_prometheus=1
while [ $# -gt 0 ]; do
  case $1 in
    -n) replicas=$2; shift 2 ;;
    -b) bin=$2; shift 2 ;;
    -r) root=$2; shift 2 ;;
    -s) state=$2; shift 2 ;;
    --no-prometheus) with_prometheus=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case $replicas in ''|*[!0-9]*|0) echo "run.sh: -n wants a whole number >= 1" >&2; exit 2 ;; esac
[ -x "$bin" ] || { echo "run.sh: no mmapd binary at $bin (build it, or pass -b)" >&2; exit 2; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "run.sh: nginx not found: apt-get install nginx" >&2; exit 2; }
prometheus=
if [ $with_prometheus = 1 ]; then
  prometheus=$(command -v prometheus) ||
    { echo "run.sh: prometheus not found: apt-get install prometheus (or --no-prometheus)" >&2; exit 2; }
fi

own_state=0
if [ -z "$state" ]; then
  state=$(mktemp -d "${TMPDIR:-/tmp}/mmapd-scale-out.XXXXXX")
  own_state=1
fi
mkdir -p "$state/scale-out" "$state/prometheus" "$state/temp"
state=$(cd "$state" && pwd)

pids=()          # replicas, in order
nginx_pid=
prom_pid=
sleeper=
stopping=0

log() { echo "run.sh: $*" >&2; }

# True if pid $1 is a zombie: an exited child of ours that the shell has not reaped yet.
gone_zombie() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# Waits up to $2 seconds for pid $1 to end; true if it did.
wait_gone() {
  local pid=$1 n=$(($2 * 10))
  while [ $n -gt 0 ]; do
    kill -0 "$pid" 2>/dev/null || return 0
    gone_zombie "$pid" && return 0
    sleep 0.1
    n=$((n - 1))
  done
  return 1
}

# Stops a process we started: signal $2, SIGKILL after 15 s.
stop_pid() {
  local pid=$1 sig=$2
  [ -n "$pid" ] || return 0
  kill -"$sig" "$pid" 2>/dev/null || return 0
  wait_gone "$pid" 15 || { log "pid $pid ignored SIG$sig; killing it"; kill -KILL "$pid" 2>/dev/null || true; }
}

cleanup() {
  local rc=$? i status failed=0
  [ $stopping = 1 ] && return
  stopping=1
  trap '' INT TERM HUP
  [ -n "$sleeper" ] && { kill "$sleeper" 2>/dev/null || true; }
  stop_pid "$nginx_pid" QUIT
  stop_pid "$prom_pid" TERM
  for i in "${!pids[@]}"; do
    stop_pid "${pids[$i]}" TERM
  done
  for i in "${!pids[@]}"; do
    status=0
    wait "${pids[$i]}" 2>/dev/null || status=$?
    if [ $status -ne 0 ]; then
      log "replica-$((i + 1)) (pid ${pids[$i]}) exited with status $status; its log:"
      tail -20 "$state/replica-$((i + 1)).log" >&2 || true
      failed=1
    fi
  done
  [ -n "$nginx_pid" ] && { wait "$nginx_pid" 2>/dev/null || true; }
  [ -n "$prom_pid" ] && { wait "$prom_pid" 2>/dev/null || true; }
  if [ $own_state = 1 ]; then rm -rf "$state"; fi
  if [ $rc -eq 0 ] && [ $failed = 1 ]; then rc=1; fi
  log "stopped (status $rc)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 0' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until curl gets a 2xx from $1, up to $2 seconds, while pid $3 lives.
wait_http() {
  local url=$1 n=$(($2 * 10)) pid=$3
  while [ $n -gt 0 ]; do
    curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
    n=$((n - 1))
  done
  return 1
}

# --- replicas: port 0, read the port from the first log line
ports=()
for i in $(seq 1 "$replicas"); do
  args=(--listen 127.0.0.1:0 --instance-name "replica-$i")
  [ -n "$root" ] && args+=(--root "$root")
  "$bin" "${args[@]}" 2>"$state/replica-$i.log" </dev/null &
  pids+=($!)
done
for i in $(seq 1 "$replicas"); do
  port=
  for _ in $(seq 300); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$state/replica-$i.log" | head -1)
    [ -n "$port" ] && break
    kill -0 "${pids[$((i - 1))]}" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    log "replica-$i did not start; its log:"; cat "$state/replica-$i.log" >&2; exit 1
  fi
  ports+=("$port")
done

# --- the Prometheus file_sd file and the balancer's upstream list, of the replicas alive
write_targets() {
  local i live=() entries=()
  for i in "${!ports[@]}"; do
    kill -0 "${pids[$i]}" 2>/dev/null && ! gone_zombie "${pids[$i]}" && live+=("$i")
  done
  for i in "${live[@]}"; do
    entries+=("$(printf '  {"targets": ["127.0.0.1:%s"], "labels": {"replica": "replica-%s"}}' \
      "${ports[$i]}" $((i + 1)))")
  done
  {
    echo "["
    (IFS=$'\n'; sed '$!s/$/,/' <<<"${entries[*]}")
    echo "]"
  } >"$state/scale-out/targets.json.tmp"
  mv "$state/scale-out/targets.json.tmp" "$state/scale-out/targets.json"
  for i in "${live[@]}"; do
    echo "server 127.0.0.1:${ports[$i]} max_fails=1 fail_timeout=10s;  # replica-$((i + 1))"
  done >"$state/upstreams.conf"
  [ ${#live[@]} -gt 0 ] || echo "server 127.0.0.1:9 down;  # no replica left" >"$state/upstreams.conf"
}
write_targets
cp "$here/nginx.conf" "$state/nginx.conf"

# launch_nginx PORT, launch_prometheus PORT: start one in the background, set its pid.
launch_nginx() {
  echo "listen 127.0.0.1:$1;" >"$state/listen.conf"
  "$nginx" -p "$state/" -c "$state/nginx.conf" -e "$state/error.log" -g 'daemon off;' </dev/null \
    >>"$state/error.log" 2>&1 &
  nginx_pid=$!
}
launch_prometheus() {
  "$prometheus" --config.file="$state/scale-out/prometheus.yml" \
    --storage.tsdb.path="$state/prometheus-data" \
    --web.listen-address="127.0.0.1:$1" --log.level=warn </dev/null >>"$state/prometheus.log" 2>&1 &
  prom_pid=$!
}

# on_free_port NAME PID_VAR PORT_VAR READY_PATH LOG SIGNAL: runs launch_NAME on a port picked
# free until it answers http://127.0.0.1:PORT/READY_PATH (30 s). When LOG says the port was
# taken meanwhile, it stops that try (SIGNAL) and picks another; any other failure exits.
on_free_port() {
  local name=$1 path=$4 logfile=$5 sig=$6 try
  local -n pid_of=$2 port_of=$3
  for try in 1 2 3 4 5; do
    port_of=$(free_port)
    "launch_$name" "$port_of"
    wait_http "http://127.0.0.1:$port_of$path" 30 "$pid_of" && return 0
    stop_pid "$pid_of" "$sig"
    wait "$pid_of" 2>/dev/null || true
    pid_of=
    grep -qi "address already in use" "$logfile" ||
      { log "$name did not start (try $try):"; tail -20 "$logfile" >&2; exit 1; }
  done
  log "$name found no free port"
  exit 1
}

# --- the balancer, then Prometheus configured as in the repository, beside its rules and targets
balancer_port=
on_free_port nginx nginx_pid balancer_port /healthz "$state/error.log" QUIT
prom_port=
if [ -n "$prometheus" ]; then
  cp "$here/prometheus.yml" "$state/scale-out/prometheus.yml"
  cp "$here/../prometheus/rules.yml" "$state/prometheus/rules.yml"
  on_free_port prometheus prom_pid prom_port /-/ready "$state/prometheus.log" TERM
fi

# --- tell
{
  printf '{\n  "state": "%s",\n  "balancer": "http://127.0.0.1:%s",\n  "nginx_pid": %s,\n' \
    "$state" "$balancer_port" "$nginx_pid"
  if [ -n "$prom_pid" ]; then
    printf '  "prometheus": "http://127.0.0.1:%s",\n  "prometheus_pid": %s,\n' "$prom_port" "$prom_pid"
  fi
  echo '  "replicas": ['
  for i in "${!ports[@]}"; do
    sep=","; [ $((i + 1)) -eq ${#ports[@]} ] && sep=
    printf '    {"name": "replica-%s", "pid": %s, "url": "http://127.0.0.1:%s"}%s\n' \
      $((i + 1)) "${pids[$i]}" "${ports[$i]}" "$sep"
  done
  echo '  ]'
  echo '}'
} >"$state/state.json.tmp"
mv "$state/state.json.tmp" "$state/state.json"

echo "state: $state"
for i in "${!ports[@]}"; do
  echo "replica-$((i + 1)): http://127.0.0.1:${ports[$i]} (pid ${pids[$i]})"
done
echo "balancer: http://127.0.0.1:$balancer_port (nginx pid $nginx_pid)"
[ -n "$prom_pid" ] && echo "prometheus: http://127.0.0.1:$prom_port (pid $prom_pid)"
echo "ready; Ctrl-C (or SIGTERM to pid $$) stops everything; SIGHUP drops exited replicas"

# SIGHUP: take replicas that have exited out of the balancer (nginx reloads its configuration
# without dropping connections) and out of the file_sd file (Prometheus re-reads it).
reconfigure() {
  write_targets
  kill -HUP "$nginx_pid" 2>/dev/null || true
  log "reconfigured: $(grep -c '^server 127' "$state/upstreams.conf" || true) replica(s) in the balancer"
}
trap reconfigure HUP

# Run until SIGINT or SIGTERM; a trapped signal interrupts the wait.
sleep infinity </dev/null &
sleeper=$!
while kill -0 "$sleeper" 2>/dev/null; do
  wait "$sleeper" || true
done

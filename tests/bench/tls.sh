#!/usr/bin/env bash
# tls.sh - HTTPS: mmapd (defaults; --threads 1) against nginx (1 worker and auto) and lighttpd
# (defaults), each with TLS on, same files, same run (issue 15's benchmark). All three get one
# certificate and the same protocol, suite and key exchange: TLS 1.3, TLS_AES_128_GCM_SHA256
# (the suite every TLS 1.3 stack must implement), X25519; `openssl s_client` checks that each
# server negotiates exactly that, and the table says so.
# The certificate: ECDSA P-256 signed by a throw-away CA (what an ACME CA issues by default
# today); CERT=rsa for RSA-2048. With keep-alive, each connection does one handshake, so the
# key type moves little: the runs measure bulk encryption and the serving around it.
# Neither peer sends files with sendfile under TLS unless the kernel's tls module (kTLS) is
# there and they are told to use it; nginx's default config does not, and the table says
# whether the kernel had kTLS and whether any server used it.
# Scenarios (wrk -t1 over https, keep-alive, warm page cache), as compare.sh: random 4 KiB
# ranges at c16 and c64, random 1 MiB ranges at c64, the whole 64 MiB file at c4. Each case
# runs REPS times, servers interleaved within each repetition; a short checked pass first
# validates every server's answers over TLS (status, length and bytes), and every run's bytes
# per answer are checked against the size asked for. Waits for idle CPUs before each run
# (IDLE_PCT, IDLE_WAIT as in lib.sh) and records steal.
#   usage: tests/bench/tls.sh [REPS=3] [SECONDS=5]      (CERT=ecdsa|rsa, default ecdsa)
# Writes tests/bench/results/tls.md (handshake parameters, medians, min..max, mmapd/peer
# ratios, errors) and tls.csv (every run), and prints the markdown. Fewer than 3 repetitions or
# 5 s are marked in the table as a smoke run, whose figures mean nothing.
# Needs: wrk nginx lighttpd lighttpd-mod-openssl openssl curl python3 (scripts/deps.sh bench).
# On demand only: never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-3}
secs=${2:-5}
cert_kind=${CERT:-ecdsa}
scripts/deps.sh bench
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
bench_build_mmapd

# The one protocol, suite and group, in OpenSSL's names (nginx, lighttpd) and GnuTLS's (mmapd).
suite=TLS_AES_128_GCM_SHA256
group=X25519
gnutls_prio="SECURE:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:-MAC-ALL:+AEAD:-GROUP-ALL:+GROUP-X25519"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
size=$((64 * 1024 * 1024))
bench_warm_docroot "$work" "$size"
mkdir -p "$work/tls"
bench_make_cert "$work/tls" "$cert_kind"
cert=$work/tls/cert.pem key=$work/tls/key.pem ca=$work/tls/ca.pem

declare -A port
tls_flags=(--tls-cert "$cert" --tls-key "$key" --tls-priorities "$gnutls_prio")
bench_start_mmapd "$work/mmapd.log" "$work/www/files" "${tls_flags[@]}" || exit 1
pids+=("$BENCH_PID")
port[mmapd]=$BENCH_PORT
# like with like: one HTTP thread, against lighttpd (one process) and nginx with one worker
bench_start_mmapd "$work/mmapd-1.log" "$work/www/files" --threads 1 "${tls_flags[@]}" || exit 1
pids+=("$BENCH_PID")
port[mmapd-1]=$BENCH_PORT
# nginx: one worker, and one per CPU (mmapd's default is one thread per CPU)
for mode in 1 auto; do
  port[nginx-$mode]=$(bench_free_port)
  bench_start_nginx "$work" "nginx-$mode" "$mode" "${port[nginx-$mode]}" "$work/www" on "" \
    "$(bench_nginx_tls "$cert" "$key" "$suite" "$group")" ssl
  pids+=("$BENCH_PID")
done
# lighttpd: defaults, plus mod_openssl
port[lighttpd]=$(bench_free_port)
bench_start_lighttpd "$work" lighttpd "${port[lighttpd]}" "$work/www" \
  "$(bench_lighttpd_tls "$cert" "$key" "$suite" "$group")"
pids+=("$BENCH_PID")

servers=(mmapd mmapd-1 lighttpd nginx-1 nginx-auto)
url() { echo "https://127.0.0.1:${port[$1]}/files/bench.bin"; }
for s in "${servers[@]}"; do
  bench_wait_http "$(url "$s")" || {
    echo "$s did not start:" >&2; tail -n 5 "$work"/*.err "$work"/*.stderr "$work"/*.log >&2 || true; exit 1; }
done

# Same handshake everywhere, certificate verified against the CA, or no comparison.
: > "$work/handshake.txt"
for s in "${servers[@]}"; do
  echo "$s | $(bench_tls_handshake "${port[$s]}" "$ca")" >> "$work/handshake.txt"
done
cat "$work/handshake.txt" >&2
want="TLSv1.3 | $suite | X25519, 253 bits"
if [ "$(cut -d'|' -f2- "$work/handshake.txt" | sort -u | wc -l)" -ne 1 ] ||
   ! grep -q "| $want | .* | OK$" "$work/handshake.txt"; then
  echo "tls.sh: the servers do not negotiate the same verified TLS 1.3, $suite, X25519" >&2
  exit 1
fi

targets=()
for s in "${servers[@]}"; do targets+=("$s=https://127.0.0.1:${port[$s]}"); done
# checked pass over TLS: every server answers ranges and the whole file correctly
bench_check_answers "$work/www/files/bench.bin" "$ca" "${targets[@]/%//files/bench.bin}"

# kTLS: the kernel counts the connections it encrypts (/proc/net/tls_stat, tls module only)
ktls_tx() { awk '$1 == "TlsTxSw" || $1 == "TlsTxDevice" {n += $2} END {print n + 0}' /proc/net/tls_stat; }
if [ -r /proc/net/tls_stat ]; then ktls0=$(ktls_tx); else ktls0=; fi

# the runs: every case (bench_warm_cases, as compare.sh) on every server, interleaved
bench_warm_runs "$work/runs.csv" "$reps" "$secs" "$size" "${targets[@]}"
if [ -n "$ktls0" ]; then
  ktls="the kernel has kTLS; connections it encrypted during the runs: $(( $(ktls_tx) - ktls0 ))"
else
  ktls="the kernel has no kTLS (no tls module, no /proc/net/tls_stat): every server encrypts in user space and copies"
fi

commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- . ':!tests/bench/results' || commit="$commit+changes"
mkdir -p tests/bench/results
cp "$work/runs.csv" tests/bench/results/tls.csv
python3 - tests/bench/results/tls.csv "$work/handshake.txt" "$reps" "$secs" "$size" "$commit" \
  "$cert_kind" "$gnutls_prio" "$ktls" > tests/bench/results/tls.md <<'PY'
import csv, datetime, os, statistics, sys
runs, hs, reps, secs, size, commit, kind, prio, ktls = sys.argv[1:]
rows = list(csv.DictReader(open(runs)))
servers = ["mmapd", "mmapd-1", "lighttpd", "nginx-1", "nginx-auto"]
cases = [("r4k_c16", "random 4 KiB ranges, c16", 4096, 16),
         ("r4k_c64", "random 4 KiB ranges, c64", 4096, 64),
         ("r1m_c64", "random 1 MiB ranges, c64", 1 << 20, 64),
         ("whole_c4", "whole 64 MiB file, c4", int(size), 4)]
out = []
smoke = int(reps) < 3 or float(secs) < 5
if smoke:
    out.append(f"**SMOKE RUN ({reps} x {secs} s): it proves that every server answers over the "
               "same TLS; its figures are not a measurement and must not be read.**\n")
out.append("# HTTPS: mmapd against nginx and lighttpd (warm page cache)\n")
out.append(f"Command: `tests/bench/tls.sh {reps} {secs}` (CERT={kind}) on {datetime.date.today()}, "
           f"mmapd {commit}, {os.cpu_count()} CPUs, wrk -t1 over https on loopback with "
           f"keep-alive, {secs} s per run, {reps} interleaved runs per case; medians, min..max; "
           "ratio = mmapd / server req/s (mmapd-1 is mmapd --threads 1, to compare with "
           "lighttpd and nginx-1; nginx-auto has one worker per CPU like mmapd's default).\n")
cert = "ECDSA P-256" if kind == "ecdsa" else "RSA-2048"
out.append(f"One {cert} certificate from a throw-away CA for all. mmapd: `--tls-priorities "
           f"{prio}`; nginx: `ssl_protocols TLSv1.3; ssl_conf_command Ciphersuites "
           "TLS_AES_128_GCM_SHA256; ssl_ecdh_curve X25519;`; lighttpd: mod_openssl with "
           "`ssl.openssl.ssl-conf-cmd` MinProtocol/MaxProtocol TLSv1.3, the same Ciphersuites "
           "and Groups; everything else their defaults. kTLS: " + ktls + ".\n")
out.append("What `openssl s_client` (OpenSSL's default client, as wrk) negotiated:\n")
out.append("| server | protocol | suite | key exchange | signature | verification |")
out.append("|---|---|---|---|---|---|")
out += [f"| {line.strip()} |" for line in open(hs) if line.strip()]
out.append("")

def runs_of(sc, sv):
    return [r for r in rows if r["scenario"] == sc and r["server"] == sv]
def median(sc, sv, key):
    return statistics.median(float(r[key]) for r in runs_of(sc, sv))
def ratio(a, b):  # "-" where a server completed no answer in the run
    return f"{a / b:.2f}" if b else "-"

bad = []
for sc, title, body, conns in cases:
    out.append(f"## {title}\n")
    out.append("| server | req/s | min..max | MB/s | p50 us | p99 us | errors | "
               "mmapd/server | mmapd-1/server |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    top, one = median(sc, "mmapd", "req_s"), median(sc, "mmapd-1", "req_s")
    for sv in servers:
        rs = [float(r["req_s"]) for r in runs_of(sc, sv)]
        errors = sum(int(r["errors"]) for r in runs_of(sc, sv))
        for r in runs_of(sc, sv):
            # a 200 for a range, or a short answer, shows as bytes per answer far from the
            # size asked for (headers and the answers in flight at the end add a little)
            if not float(r["req_s"]):
                bad.append(f"{sc}/{sv} run {r['rep']}: no answer completed")
                continue
            per = float(r["mb_s"]) * 1e6 / float(r["req_s"])
            if not body * 0.9 <= per <= body * 2 + 4096:
                bad.append(f"{sc}/{sv} run {r['rep']}: {per:.0f} bytes per answer, {body} asked")
        m = statistics.median(rs)
        out.append(f"| {sv} | {m:.0f} | {min(rs):.0f}..{max(rs):.0f} | "
                   f"{median(sc, sv, 'mb_s'):.0f} | {median(sc, sv, 'p50_us'):.0f} | "
                   f"{median(sc, sv, 'p99_us'):.0f} | {errors} | {ratio(top, m)} | {ratio(one, m)} |")
    out.append("")

out.append("## Against the target (ahead of nginx; where lighttpd stands)\n")
out.append("| case | mmapd-1 / nginx-1 | mmapd / nginx-auto | mmapd-1 / lighttpd | mmapd / lighttpd |")
out.append("|---|---|---|---|---|")
for sc, title, _, _ in cases:
    r = lambda a, b: ratio(median(sc, a, "req_s"), median(sc, b, "req_s"))
    out.append(f"| {title} | {r('mmapd-1', 'nginx-1')} | {r('mmapd', 'nginx-auto')} | "
               f"{r('mmapd-1', 'lighttpd')} | {r('mmapd', 'lighttpd')} |")
out.append("")
out.append("Errors (non-2xx, socket) over all runs: " +
           ", ".join(f"{sv} {sum(int(r['errors']) for r in rows if r['server'] == sv)}"
                     for sv in servers) +
           f"; highest CPU steal in a run: {max(float(r['steal_pct']) for r in rows):.1f}%; "
           "answers: " + ("; ".join(bad) if bad else "as large as asked in every run") + ".")
print("\n".join(out))
for b in bad:
    print("tls.sh:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
cat tests/bench/results/tls.md

#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets with clang (ASan+UBSan) and runs each one for a
# bounded time over its seed corpus and its saved regressions.
#   tests/fuzz/run.sh [SECONDS] [TARGET...]    default 10 s each, every target
# The suite runs a short pass; for a long run: tests/fuzz/run.sh 3600 range
# New interesting inputs go to build/fuzz/work/TARGET (not the repository); a crash is saved
# as build/fuzz/crash-* : fix it, then copy the input into tests/fuzz/regressions/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
shift || true
all=(range url_path conditional config exposition sample_query)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
command -v clang >/dev/null || { echo "fuzz: clang is not installed (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

out=${FUZZ_BUILD:-build/fuzz}
mkdir -p "$out"
deps="$(pkg-config --cflags --libs libmicrohttpd jansson)"
cflags=(-g -O1 -std=c17 -D_GNU_SOURCE '-DMMAPD_VERSION="fuzz"' -I.
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -pthread)
metrics=(metrics/metrics.c metrics/exposition.c base/strbuf.c metrics/process.c filedata/advice.c)

sources() {
  case "$1" in
    range) echo http/range.c ;;
    url_path) echo http/url_path.c ;;
    conditional) echo http/conditional.c http/http_date.c ;;
    config) echo server/config.c server/config_load.c server/listen_addr.c access/cors.c "${metrics[@]}" ;;
    exposition) echo metrics/exposition.c base/strbuf.c ;;
    sample_query) echo sampling/sample_query.c sampling/sampler.c sampling/permutation.c sampling/prng.c http/url_path.c http/query.c ;;
    *) echo "fuzz: unknown target $1 (targets: ${all[*]})" >&2; return 1 ;;
  esac
}

for t in "${targets[@]}"; do
  src=$(sources "$t")
  # shellcheck disable=SC2086
  clang "${cflags[@]}" -o "$out/fuzz_$t" "tests/fuzz/fuzz_$t.c" $src $deps
  mkdir -p "$out/work/$t" "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t"
  echo "== fuzz $t for ${secs}s" >&2
  rc=0
  "$out/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/crash-$t-" "$out/work/$t" "tests/fuzz/corpus/$t" \
    "tests/fuzz/regressions/$t" >"$out/$t.log" 2>&1 || rc=$?
  grep -E "^(stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY)|Test unit written" "$out/$t.log" >&2 || true
  if [ "$rc" -ne 0 ]; then
    tail -40 "$out/$t.log" >&2
    echo "fuzz: $t FAILED (exit $rc; the input is $out/crash-$t-*)" >&2
    exit 1
  fi
done
echo "== fuzz: all targets ran clean" >&2

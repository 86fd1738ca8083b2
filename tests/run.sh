#!/usr/bin/env bash
# run.sh - the README's test command: install what the suite needs (apt-get, as root, only
# what is missing), then build and run every test twice: a Release build and an
# AddressSanitizer+UndefinedBehaviorSanitizer build. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test

jobs=$(nproc)
for variant in release asan; do
  dir=build/test-$variant
  sanitize=OFF
  [ "$variant" = asan ] && sanitize=ON
  echo "== $variant: configure and build" >&2
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMAPD_SANITIZE=$sanitize >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  echo "== $variant: ctest" >&2
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 600
done
echo "== all tests passed (release and asan)" >&2

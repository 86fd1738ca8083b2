#!/usr/bin/env bash
# run.sh - the README's run command: install build dependencies if missing, build a Release
# mmapd, and start it. With no arguments it serves the demo directory on 127.0.0.1:8080;
# any arguments are passed to mmapd (scripts/run.sh --root /data --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DMMAPD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
exec build/release/mmapd "$@"

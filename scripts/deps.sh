#!/usr/bin/env bash
# deps.sh - installs what mmapd needs on Debian 12: `deps.sh build` (compile and run),
# `deps.sh test` (also the test tools) or `deps.sh bench` (also the peers of
# tests/bench/tls.sh). Installs only what is missing; needs root for that.
set -euo pipefail

build_pkgs=(cmake make gcc libc6-dev pkg-config libmicrohttpd-dev libgnutls28-dev libjansson-dev)
# wrk: the soak and drain-under-load tests. clang and libclang-rt-14-dev: the fuzz targets.
# nginx, yamllint and python3-yaml: the deploy/ tests (scale-out balancer, manifest lint). The
# container test installs podman, runc and debootstrap itself (deploy/podman-base-image.sh).
# dpkg-dev (cpack's dpkg-shlibdeps), file, systemd (systemd-analyze, systemd-socket-activate;
# mmapd itself needs no libsystemd) and strace: the package, unit, system call and systemd tests.
# mandoc, man-db and groff-base: test_man_page.py lints docs/mmapd.8 with both formatters.
# python3-torch: test_dataset.py runs a real DataLoader over /sample (scripts/mmapd_dataset.py).
test_pkgs=(libcmocka-dev curl python3 procps prometheus python3-prometheus-client util-linux wget wrk
           nginx yamllint python3-yaml clang libclang-rt-14-dev dpkg-dev file systemd strace
           mandoc man-db groff-base python3-torch)
# `deps.sh bench`: the peers and the client of tests/bench/tls.sh (the other bench scripts
# name theirs in their usage lines). lighttpd's TLS is a module package of its own.
bench_pkgs=(wrk nginx lighttpd lighttpd-mod-openssl openssl curl python3)

want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")
[ "${1:-build}" = bench ] && want+=("${bench_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

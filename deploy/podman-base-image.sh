#!/usr/bin/env bash
# podman-base-image.sh - for machines that reach Debian's package mirror but no image registry:
# installs podman, runc and debootstrap when missing (as root, apt-get), then makes the image
# docker.io/library/debian:bookworm-slim locally from a debootstrap minbase root file system, so
# that deploy/Dockerfile's "FROM debian:bookworm-slim" resolves with --pull=never.
#
# Does nothing when that image is already present. The root file system tarball is cached in
# $MMAPD_CACHE_DIR (default /var/cache/mmapd-test as root, else $XDG_CACHE_HOME/mmapd-test), so
# only the first run on a machine pays for debootstrap (about 40 s). The mirror is the one apt
# uses (apt-cache policy), or $MMAPD_DEBIAN_MIRROR. Safe to run concurrently (flock).
# Exits non-zero with a message on any failure.
set -euo pipefail

IMAGE=docker.io/library/debian:bookworm-slim
SUITE=bookworm

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in podman runc debootstrap; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "podman-base-image.sh: missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "podman-base-image.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null
fi

if podman image exists "$IMAGE"; then
  echo "podman-base-image.sh: $IMAGE present" >&2
  exit 0
fi

if [ -n "${MMAPD_CACHE_DIR:-}" ]; then
  cache=$MMAPD_CACHE_DIR
elif [ "$(id -u)" -eq 0 ]; then
  cache=/var/cache/mmapd-test
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/mmapd-test
fi
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9
if podman image exists "$IMAGE"; then   # made by a concurrent run while we waited
  exit 0
fi

tarball=$cache/debian-$SUITE-minbase.tar
if [ ! -s "$tarball" ]; then
  # the mirrors apt uses: ".../debian bookworm/main" and ".../debian-security bookworm-security/main"
  policy=$(apt-cache policy)
  mirror=${MMAPD_DEBIAN_MIRROR:-$(awk -v s="$SUITE/main" '$3 == s && $2 ~ /^https?:/ {print $2; exit}' <<<"$policy")}
  security=$(awk -v s="$SUITE-security/main" '$3 == s && $2 ~ /^https?:/ {print $2; exit}' <<<"$policy")
  mirror=${mirror:-http://deb.debian.org/debian}
  security=${security:-${mirror%/debian}/debian-security}
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs" "$tarball.part"' EXIT
  echo "podman-base-image.sh: debootstrap $SUITE from $mirror (about 40 s)" >&2
  if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    tail -20 "$cache/debootstrap.log" >&2
    echo "podman-base-image.sh: debootstrap failed; log in $cache/debootstrap.log" >&2
    exit 1
  fi
  # look like debian:bookworm-slim: deb822 sources, no package lists or downloaded .debs
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  tar --numeric-owner -C "$rootfs" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$rootfs"
  trap - EXIT
fi

echo "podman-base-image.sh: importing $tarball as $IMAGE" >&2
podman import --quiet --change 'CMD ["bash"]' "$tarball" localhost/debian:$SUITE-slim >/dev/null
podman tag localhost/debian:$SUITE-slim "$IMAGE"
echo "podman-base-image.sh: $IMAGE made" >&2

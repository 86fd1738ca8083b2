"""test_units.py - the systemd units in deploy/systemd/ are valid and the service is hardened.

- `systemd-analyze verify` is clean for mmapd.service and mmapd.socket. verify needs the
  ExecStart= binary to exist, so the units are checked with `--root` on a DESTDIR tree that
  `cmake --install --prefix /usr` of the build tree under test made (binary, units, config:
  the files of the package). verify also loads the units they name (sysinit.target,
  network.target...): the host's unit directory is copied in beside ours, and /bin/sh.
- `systemd-analyze security --offline=true` of the service gives an exposure at or below
  THRESHOLD, and the directives docs/operating.md names are in the unit.
- Every hardening line counts: the same check on a copy with one line left out must fail.
- docs/operating.md quotes the exposure figure that systemd-analyze prints.
"""
import os
import re
import shutil
import subprocess
import tempfile

from harness import BIN, check, done

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNITS = os.path.join(REPO, "deploy", "systemd")
# what the unit reaches with systemd 252 (Debian 12) is 1.4; a line removed raises it
THRESHOLD = 1.4
REQUIRED = ["Type=notify", "User=mmapd", "Group=mmapd", "EnvironmentFile=-/etc/default/mmapd",
            "ExecStart=/usr/sbin/mmapd --config /etc/mmapd/mmapd.json",
            "ExecReload=/usr/sbin/mmapd --check-config --config /etc/mmapd/mmapd.json",
            "ExecReload=/bin/sh -c 'kill -HUP \"$$MAINPID\"'", "Restart=on-failure",
            "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
            "NoNewPrivileges=yes", "CapabilityBoundingSet=",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service",
            "SystemCallFilter=mincore", "SystemCallErrorNumber=EPERM", "MemoryDenyWriteExecute=yes", "LockPersonality=yes",
            "RestrictNamespaces=yes", "ReadOnlyPaths=/srv/mmapd", "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes", "ProtectKernelLogs=yes", "ProtectControlGroups=yes",
            "ProtectClock=yes", "ProtectHostname=yes", "RestrictRealtime=yes",
            "SystemCallArchitectures=native", "UMask=0077"]
# RestrictSUIDSGID=yes fails openat2() with ENOSYS under systemd 252, and mmapd opens files with
# openat2: every /files request was a 500 (found by test_package.py under systemd)
FORBIDDEN = ["RestrictSUIDSGID=yes"]
# lines the fail check leaves out one at a time: each must raise the exposure above THRESHOLD.
# MemoryDenyWriteExecute=, LockPersonality=, ProtectClock= and RestrictRealtime= weigh less
# than the figure's 0.1 step: the REQUIRED list holds them. "X=*" leaves out every X= line (the
# mincore line alone would be a stricter allow list).
DROP_ONE = ["ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
            "NoNewPrivileges=yes", "CapabilityBoundingSet=", "PrivateUsers=yes",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=*",
            "SystemCallArchitectures=native", "RestrictNamespaces=yes", "ProtectKernelTunables=yes"]


def run(*args, timeout=120, env=None):
    return subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, env=env)


def exposure(path):
    """systemd-analyze security --offline=true PATH; returns (figure or None, output)."""
    p = run("systemd-analyze", "security", "--offline=true", "--no-pager", path)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout)
    return (float(m.group(1)) if m else None), p.stdout


def drain_timeout_default():
    """The default of --drain-timeout, from mmapd --help."""
    p = run(BIN, "--help")
    m = re.search(r"--drain-timeout SECONDS.*?default (\d+)", p.stdout, re.S)
    return int(m.group(1)) if m else None


def check_verify(tmp):
    """cmake --install of the build tree into DESTDIR, then verify the units under --root."""
    build_dir = os.path.dirname(os.path.abspath(BIN))
    dest = os.path.join(tmp, "root")
    env = dict(os.environ, DESTDIR=dest)
    p = run("cmake", "--install", build_dir, "--prefix", "/usr", env=env)
    if not check(p.returncode == 0, f"cmake --install: {p.stdout}"):
        return
    unitdir = run("pkg-config", "--variable=systemdsystemunitdir", "systemd").stdout.strip() \
        or "/usr/lib/systemd/system"
    # the ExecStart= and ExecReload= binaries must be there; /bin/sh is the host's
    for rel in ("usr/sbin/mmapd", unitdir.lstrip("/") + "/mmapd.service",
                unitdir.lstrip("/") + "/mmapd.socket"):
        check(os.path.exists(os.path.join(dest, rel)), f"cmake --install did not make /{rel}")
    # the targets our units depend on, from the host (not our two units: ours stay)
    host_units = unitdir if os.path.isdir(unitdir) else "/lib/systemd/system"
    for name in os.listdir(host_units):
        src, dst = os.path.join(host_units, name), os.path.join(dest, unitdir.lstrip("/"), name)
        if not name.startswith("mmapd.") and not os.path.lexists(dst):
            if os.path.isdir(src) and not os.path.islink(src):
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst, follow_symlinks=False)
    os.makedirs(os.path.join(dest, "bin"), exist_ok=True)
    shutil.copy2("/bin/sh", os.path.join(dest, "bin", "sh"))
    for unit in ("mmapd.service", "mmapd.socket"):
        p = run("systemd-analyze", "verify", "--root", dest, "--man=no",
                os.path.join(unitdir, unit))
        print(f"systemd-analyze verify --root DESTDIR {unit}: rc {p.returncode} {p.stdout.strip()}")
        check(p.returncode == 0 and p.stdout.strip() == "",
              f"systemd-analyze verify {unit}: rc {p.returncode}:\n{p.stdout}")


def check_security(tmp):
    service = os.path.join(UNITS, "mmapd.service")
    text = open(service).read()
    lines = [ln.strip() for ln in text.splitlines()]
    for want in REQUIRED:
        check(want in lines, f"mmapd.service lacks {want!r}")
    for bad in FORBIDDEN:
        check(bad not in lines, f"mmapd.service has {bad!r}: it breaks openat2 (see the unit)")
    m = re.search(r"^TimeoutStopSec=(\d+)$", text, re.M)
    drain = drain_timeout_default()
    check(m is not None and drain is not None and int(m.group(1)) > drain,
          f"TimeoutStopSec {m and m.group(1)} must be above the drain timeout {drain}")

    figure, out = exposure(service)
    print(f"systemd-analyze security --offline=true mmapd.service: {figure}")
    check(figure is not None and figure <= THRESHOLD,
          f"exposure {figure} above {THRESHOLD}:\n{out[-3000:]}")
    doc = open(os.path.join(REPO, "docs", "operating.md")).read()
    check(f"exposure level for mmapd.service: {figure}" in doc,
          f"docs/operating.md does not quote the exposure {figure}")

    # fail check: each of these lines left out must make the check above fail
    for drop in DROP_ONE:
        copy = os.path.join(tmp, "mmapd.service")
        with open(copy, "w") as f:
            f.write("\n".join(ln for ln in text.splitlines() if ln.strip() != drop and not (
                drop.endswith("=*") and ln.startswith(drop[:-1]))) + "\n")
        worse, _ = exposure(copy)
        check(worse is not None and worse > THRESHOLD,
              f"without {drop!r} the exposure is {worse}, not above {THRESHOLD}")


def main():
    if not check(shutil.which("systemd-analyze") is not None,
                 "systemd-analyze not found: install the Debian package 'systemd'"):
        return
    tmp = tempfile.mkdtemp(prefix="mmapd-units-")
    try:
        check_verify(tmp)
        check_security(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
done()

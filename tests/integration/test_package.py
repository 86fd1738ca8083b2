"""test_package.py - builds the Debian package and installs, upgrades and purges it.

1. The .deb: a Release tree of its own in a temporary directory (-DMMAPD_TESTS=OFF, no
   sanitizer, -DCMAKE_INSTALL_PREFIX=/usr), `cpack -G DEB`, then the same tree configured
   with -DMMAPD_DEB_RELEASE=2 for a higher version (0.1.0-2). `dpkg-deb -c` must list exactly
   the files in docs/operating.md ("Package contents"), `dpkg-deb -f` Depends exactly
   libc6, libgnutls30, libjansson4 and libmicrohttpd12, and the conffiles both files in /etc.
2. A fresh Debian 12 container from the project's base image (deploy/podman-base-image.sh,
   as test_container.py): `dpkg -i`, `apt-get -f install -y` (the Debian mirror gives the
   libraries), the user mmapd, mmapd run as mmapd with a file in /srv/mmapd and a range
   fetched with curl; the same .deb again, then the 0.1.0-2 one (a changed conffile stays);
   `apt-get purge -y mmapd`: no file of the package, no /etc/mmapd, no /srv/mmapd, no user
   and no group mmapd left.
3. Real systemd in a podman container (--systemd=always, /sbin/init, image
   localhost/mmapd-systemd-test built once from the base image with systemd added): install
   the .deb, `systemctl start mmapd`, a range through curl, `systemctl reload mmapd` (the
   journal shows the reload), `systemctl stop mmapd` (result success); started again, an
   upgrade to 0.1.0-2 restarts it (a new MainPID), then `dpkg --purge` of the running mmapd
   (prerm stops it; no process, user or file left). Type=notify: the start waits for READY=1,
   and StatusText shows mmapd's STATUS= after the start and the reload. Socket activation:
   `systemctl start mmapd.socket` alone, then a range through curl starts mmapd on systemd's
   socket (its first line says so).

Containers are removed even when a check fails; the images stay as caches.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from harness import check, done

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIME = ["--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
BASE = "docker.io/library/debian:bookworm-slim"
SYSTEMD_IMAGE = "localhost/mmapd-systemd-test:latest"
NAME = f"mmapd-pkg-test-{os.getpid()}"
SD_NAME = f"mmapd-sd-test-{os.getpid()}"
DEPENDS = {"libc6", "libgnutls30", "libjansson4", "libmicrohttpd12"}
APT = "apt-get -o DPkg::Lock::Timeout=120 -qq"


def run(*args, timeout=600, env=None, input=None):
    return subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, env=env, input=input)


def podman(*args, timeout=300):
    return run("podman", *args, timeout=timeout)


def sh(name, script, timeout=300):
    """Runs a shell script in the container; returns the CompletedProcess."""
    return podman("exec", name, "sh", "-c", script, timeout=timeout)


def build_debs(tmp):
    """Returns the paths of the 0.1.0 and the 0.1.0-2 .deb, or None."""
    tree = os.path.join(tmp, "release")
    t0 = time.time()
    for step in (["cmake", "-S", REPO, "-B", tree, "-DCMAKE_BUILD_TYPE=Release", "-DMMAPD_TESTS=OFF",
                  "-DMMAPD_SANITIZE=OFF", "-DCMAKE_INSTALL_PREFIX=/usr"],
                 ["cmake", "--build", tree, "-j2"]):
        p = run(*step)
        if not check(p.returncode == 0, f"{' '.join(step)}:\n{p.stdout[-3000:]}"):
            return None
    debs = []
    for release in (None, "2"):
        if release:
            p = run("cmake", "-DMMAPD_DEB_RELEASE=" + release, tree)
            if not check(p.returncode == 0, f"cmake -DMMAPD_DEB_RELEASE: {p.stdout}"):
                return None
        p = subprocess.run(["cpack", "-G", "DEB"], cwd=tree, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        m = re.search(r"package: (\S+\.deb) generated", p.stdout)
        if not check(p.returncode == 0 and m, f"cpack -G DEB:\n{p.stdout[-3000:]}"):
            return None
        path = os.path.join(tmp, os.path.basename(m.group(1)))
        shutil.move(m.group(1), path)
        debs.append(path)
    print(f"built {', '.join(os.path.basename(d) for d in debs)} in {time.time() - t0:.1f} s")
    arch = run("dpkg", "--print-architecture").stdout.strip()
    check([os.path.basename(d) for d in debs] == [f"mmapd_0.1.0_{arch}.deb", f"mmapd_0.1.0-2_{arch}.deb"],
          f"package file names: {debs}")
    return debs


def documented_contents():
    """The list under "### Package contents" in docs/operating.md (its first code block)."""
    doc = open(os.path.join(REPO, "docs", "operating.md")).read()
    m = re.search(r"^### Package contents\n.*?```text\n(.*?)```", doc, re.S | re.M)
    if not check(m is not None, "docs/operating.md has no ### Package contents code block"):
        return set()
    return {ln.split()[0] for ln in m.group(1).splitlines() if ln.strip()}


def check_deb(deb):
    p = run("dpkg-deb", "-c", deb)
    listed = set()
    for line in p.stdout.splitlines():
        path = line.split()[-1].lstrip(".")
        if not line.startswith("d") or path == "/srv/mmapd/":
            listed.add(path)
    want = documented_contents()
    if not os.path.exists(os.path.join(REPO, "docs", "mmapd.8")):
        want.discard("/usr/share/man/man8/mmapd.8.gz")  # installed once docs/mmapd.8 exists
    check(listed == want, f"dpkg-deb -c: {sorted(listed)}\n docs list: {sorted(want)}")
    depends = run("dpkg-deb", "-f", deb, "Depends").stdout.strip()
    names = {d.split()[0] for d in depends.split(",") if d.strip()}
    print(f"Depends: {depends}")
    check(names == DEPENDS and "-dev" not in depends, f"Depends: {depends!r}, want {sorted(DEPENDS)}")
    conffiles = run("dpkg-deb", "-I", deb, "conffiles").stdout.split()
    check(sorted(conffiles) == ["/etc/default/mmapd", "/etc/mmapd/mmapd.json"], f"conffiles: {conffiles}")
    # the package is not a test build: no sanitizer runtime, stripped
    x = os.path.join(os.path.dirname(deb), "x")
    run("dpkg-deb", "-x", deb, x)
    info = run("file", "-L", os.path.join(x, "usr/sbin/mmapd")).stdout
    ldd = run("ldd", os.path.join(x, "usr/sbin/mmapd")).stdout
    check(", stripped" in info, f"the packaged binary is not stripped: {info}")
    check("libasan" not in ldd and "libubsan" not in ldd, f"package binary links a sanitizer: {ldd}")
    print(f"binary: {info.strip().split(': ', 1)[-1]}")


def start_container(name, image, tmp, extra=(), cmd=("sleep", "infinity")):
    p = podman("run", "-d", "--name", name, *RUNTIME, "-v", f"{tmp}:/pkg:ro", *extra, image, *cmd)
    return check(p.returncode == 0, f"podman run {image}: {p.stdout}")


def fetch_range(name, data_len, want):
    """curl a range inside the container; compares it with the bytes of the file."""
    p = subprocess.run(["podman", "exec", name, "curl", "-fsS", "--retry", "20", "--retry-connrefused",
                        "--retry-delay", "1", "--retry-max-time", "15", "-r", "1000-5999", "http://127.0.0.1:8080/files/data.bin"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check(p.returncode == 0 and p.stdout == want[1000:6000],
          f"curl -r 1000-5999 in the container: rc {p.returncode}, {len(p.stdout)} bytes")


def put_file(name, data):
    p = subprocess.run(["podman", "exec", "-i", name, "sh", "-c",
                        "cat > /srv/mmapd/data.bin && chmod 644 /srv/mmapd/data.bin"],
                       input=data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    check(p.returncode == 0, f"writing /srv/mmapd/data.bin: {p.stdout!r}")


def install_and_purge(debs, tmp):
    if not start_container(NAME, BASE, tmp):
        return
    d1, d2 = (os.path.basename(d) for d in debs)
    # dpkg -i leaves mmapd unconfigured (no libraries yet); apt-get -f install brings them
    p = sh(NAME, f"dpkg -i /pkg/{d1}; {APT} update && {APT} -f install -y && "
                 f"{APT} install -y --no-install-recommends curl", timeout=600)
    check(p.returncode == 0, f"dpkg -i + apt-get -f install: {p.stdout[-3000:]}")
    status = sh(NAME, "dpkg-query -W -f='${Status} ${Version}' mmapd").stdout
    check(status == "install ok installed 0.1.0", f"after install: {status!r}")
    pw = sh(NAME, "getent passwd mmapd; getent group mmapd").stdout.splitlines()
    check(len(pw) == 2 and pw[0].split(":")[5:] == ["/nonexistent", "/usr/sbin/nologin"]
          and int(pw[0].split(":")[2]) < 1000, f"user mmapd: {pw}")
    check(sh(NAME, "test -d /srv/mmapd && test -z \"$(ls -A /srv/mmapd)\" && test ! -e /nonexistent"
             ).returncode == 0, "/srv/mmapd is not an empty directory, or /nonexistent exists")

    data = os.urandom(256 * 1024)
    put_file(NAME, data)
    p = sh(NAME, "runuser -u mmapd -- /usr/sbin/mmapd --config /etc/mmapd/mmapd.json "
                 ">/tmp/mmapd.log 2>&1 & echo $! > /tmp/mmapd.pid")
    check(p.returncode == 0, f"runuser mmapd: {p.stdout}")
    fetch_range(NAME, len(data), data)
    p = sh(NAME, "kill -TERM $(cat /tmp/mmapd.pid); for i in $(seq 100); do "
                 "kill -0 $(cat /tmp/mmapd.pid) 2>/dev/null || break; sleep 0.1; done; "
                 "ps -o user= -p $(cat /tmp/mmapd.pid); cat /tmp/mmapd.log")
    check("listening on http://127.0.0.1:8080" in p.stdout and "stopped" in p.stdout,
          f"mmapd as user mmapd:\n{p.stdout}")

    # upgrade path: the same version again, then 0.1.0-2; a changed conffile is kept
    sh(NAME, "sed -i 's/127.0.0.1:8080/127.0.0.1:8081/' /etc/mmapd/mmapd.json")
    for deb, version in ((d1, "0.1.0"), (d2, "0.1.0-2")):
        p = sh(NAME, f"dpkg -i --force-confold /pkg/{deb} && dpkg-query -W -f='${{Version}}' mmapd")
        check(p.returncode == 0 and p.stdout.endswith(version), f"dpkg -i {deb}: {p.stdout[-2000:]}")
    conf = sh(NAME, "cat /etc/mmapd/mmapd.json").stdout
    check("127.0.0.1:8081" in conf, f"the edited conffile was replaced on upgrade: {conf}")
    check(len(sh(NAME, "getent passwd mmapd").stdout.splitlines()) == 1, "user mmapd after upgrade")

    files = sh(NAME, "dpkg -L mmapd").stdout.split()
    sh(NAME, "rm -f /srv/mmapd/data.bin")
    p = sh(NAME, f"{APT} purge -y mmapd")
    check(p.returncode == 0, f"apt-get purge: {p.stdout[-2000:]}")
    shared = {"/.", "/etc", "/etc/default", "/lib", "/lib/systemd", "/lib/systemd/system", "/srv",
              "/usr", "/usr/sbin", "/usr/share", "/usr/share/man", "/usr/share/man/man8"}
    owned = [f for f in files if f not in shared]
    check("/usr/sbin/mmapd" in owned and "/srv/mmapd" in owned, f"dpkg -L mmapd: {files}")
    left = sh(NAME, "for f in " + " ".join(owned) + " /etc/mmapd /srv/mmapd; do "
                    "test -e $f && echo $f; done; getent passwd mmapd; getent group mmapd; "
                    "dpkg-query -W -f='${Status}' mmapd 2>/dev/null; true").stdout.strip()
    check(left in ("", "unknown ok not-installed", "deinstall ok config-files") and
          "config-files" not in left, f"left after purge: {left!r}")
    print(f"purge: {len(owned)} paths of the package, nothing left: {left == '' or left}")


def systemd_image(tmp):
    if podman("image", "exists", SYSTEMD_IMAGE).returncode == 0:
        return True
    dockerfile = os.path.join(tmp, "systemd.Dockerfile")
    with open(dockerfile, "w") as f:
        f.write("FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y "
                "--no-install-recommends systemd systemd-sysv curl libmicrohttpd12 libjansson4 "
                "libgnutls30 && rm -rf /var/lib/apt/lists/*\n")
    p = podman("build", *RUNTIME, "--format", "docker", "--pull=never", "-f", dockerfile,
               "-t", SYSTEMD_IMAGE, tmp, timeout=600)
    return check(p.returncode == 0, f"podman build of the systemd image: {p.stdout[-3000:]}")


def under_systemd(debs, tmp):
    if not systemd_image(tmp) or not start_container(
            SD_NAME, SYSTEMD_IMAGE, tmp, extra=("--systemd=always",), cmd=("/sbin/init",)):
        return
    state = ""
    deadline = time.time() + 60
    while time.time() < deadline and state not in ("running", "degraded"):
        time.sleep(0.5)
        state = sh(SD_NAME, "systemctl is-system-running").stdout.strip()
    if not check(state in ("running", "degraded"), f"systemd in podman did not boot: {state!r}"):
        return
    print(f"systemd booted in podman: {state}, {sh(SD_NAME, 'systemctl --version').stdout.splitlines()[0]}")
    p = sh(SD_NAME, f"dpkg -i /pkg/{os.path.basename(debs[0])}")
    check(p.returncode == 0, f"dpkg -i under systemd: {p.stdout[-2000:]}")
    data = os.urandom(64 * 1024)
    put_file(SD_NAME, data)
    p = sh(SD_NAME, "systemctl start mmapd && systemctl is-active mmapd", timeout=120)
    check(p.returncode == 0, f"systemctl start mmapd: {p.stdout}\n"
          + sh(SD_NAME, "journalctl -u mmapd --no-pager | tail -20").stdout)
    fetch_range(SD_NAME, len(data), data)
    # Type=notify: the start waited for READY=1, whose STATUS= systemctl shows
    st = sh(SD_NAME, "systemctl show -p StatusText --value mmapd").stdout.strip()
    check(st == "serving /srv/mmapd on http://127.0.0.1:8080",
          f"systemctl show StatusText after start: {st!r}")
    # mincore must pass the filter: resident_bytes is a number, not null
    listing = sh(SD_NAME, "curl -fsS http://127.0.0.1:8080/files/").stdout
    check('"resident_bytes":65536' in listing, f"listing under systemd: {listing[:400]}")
    status = sh(SD_NAME, "cat /proc/$(systemctl show -p MainPID --value mmapd)/status").stdout
    check(re.search(r"^Seccomp:\s+2$", status, re.M) and re.search(r"^NoNewPrivs:\s+1$", status, re.M)
          and re.search(r"^CapBnd:\s+0+$", status, re.M),
          f"mmapd under systemd: no seccomp filter, no_new_privs or empty bounding set:\n{status}")
    p = sh(SD_NAME, "systemctl reload mmapd && sleep 0.5 && systemctl is-active mmapd")
    journal = sh(SD_NAME, "journalctl -u mmapd --no-pager").stdout
    check(p.returncode == 0 and "reload: done" in journal, f"systemctl reload: {p.stdout}\n{journal[-2000:]}")
    st = sh(SD_NAME, "systemctl show -p StatusText --value mmapd").stdout.strip()
    check(st.startswith("serving /srv/mmapd on http://127.0.0.1:8080; reload: done"),
          f"systemctl show StatusText after reload (READY=1 with the outcome): {st!r}")
    fetch_range(SD_NAME, len(data), data)
    p = sh(SD_NAME, "systemctl stop mmapd; systemctl show -p Result -p ExecMainStatus mmapd")
    journal = sh(SD_NAME, "journalctl -u mmapd --no-pager").stdout
    check("Result=success" in p.stdout and "ExecMainStatus=0" in p.stdout and "stopped" in journal,
          f"systemctl stop: {p.stdout}\n{journal[-2000:]}")
    left = sh(SD_NAME, "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = mmapd ] && "
                       "echo ${p#/proc/}; done; true").stdout.strip()
    check(left == "", f"mmapd processes left after systemctl stop: {left}")
    stopped = "Result=success" in p.stdout
    # socket activation: systemd holds 127.0.0.1:8080, the first connection starts mmapd on it
    p = sh(SD_NAME, "systemctl start mmapd.socket && systemctl is-active mmapd.socket; "
                    "systemctl is-active mmapd; true")
    check(p.stdout.split() == ["active", "inactive"], f"mmapd.socket started alone: {p.stdout}")
    fetch_range(SD_NAME, len(data), data)
    journal = sh(SD_NAME, "journalctl -u mmapd --no-pager").stdout
    check("listening on http://127.0.0.1:8080 (socket passed by systemd)" in journal
          and sh(SD_NAME, "systemctl is-active mmapd").stdout.strip() == "active",
          f"socket activation under systemd: {journal[-2000:]}")
    p = sh(SD_NAME, "systemctl stop mmapd.socket mmapd; systemctl show -p Result mmapd")
    check("Result=success" in p.stdout, f"stop after socket activation: {p.stdout}")
    # an upgrade restarts a running mmapd on the new binary (postinst try-restart)
    pid = sh(SD_NAME, "systemctl start mmapd; systemctl show -p MainPID --value mmapd").stdout.strip()
    p = sh(SD_NAME, f"dpkg -i /pkg/{os.path.basename(debs[1])} && systemctl is-active mmapd && "
                    "systemctl show -p MainPID --value mmapd")
    check(p.returncode == 0 and p.stdout.split()[-1:] != [pid] and pid not in ("", "0"),
          f"upgrade under systemd: MainPID {pid} before, after: {p.stdout[-1000:]}")
    fetch_range(SD_NAME, len(data), data)
    # purge of a running service: prerm stops it, postrm removes the user
    p = sh(SD_NAME, "rm /srv/mmapd/data.bin && dpkg --purge mmapd && "
                    "systemctl daemon-reload; "
                    "systemctl is-active mmapd; getent passwd mmapd; ls /lib/systemd/system/mmapd.* "
                    "/etc/mmapd /srv/mmapd 2>&1; true")
    left = sh(SD_NAME, "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = mmapd ] && "
                       "echo ${p#/proc/}; done; true").stdout.strip()
    check(left == "" and "mmapd:x:" not in p.stdout and p.stdout.count("No such file") == 3,
          f"dpkg --purge of a running mmapd: processes {left!r}; {p.stdout}")
    print("systemd: start, range, reload, stop, socket activation, upgrade while running, purge while running: "
          + ("ok" if stopped and left == "" else "failed"))


def main():
    t_start = time.time()
    for tool in ("dpkg-deb", "dpkg-shlibdeps", "cpack"):
        if not check(shutil.which(tool) is not None, f"{tool} not found (dpkg-dev, cmake)"):
            return
    tmp = tempfile.mkdtemp(prefix="mmapd-package-")
    os.chmod(tmp, 0o755)
    try:
        debs = build_debs(tmp)
        if debs is None:
            return
        check_deb(debs[0])
        p = run(os.path.join(REPO, "deploy/podman-base-image.sh"), timeout=420)
        if not check(p.returncode == 0, f"deploy/podman-base-image.sh failed: {p.stdout}"):
            return
        install_and_purge(debs, tmp)
        under_systemd(debs, tmp)
    finally:
        for name in (NAME, SD_NAME):
            podman("rm", "-f", "-t", "0", name)
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"package test: {time.time() - t_start:.1f} s in all")


if check(os.geteuid() == 0 or shutil.which("podman") is not None, "needs root or podman"):
    main()
sys.stdout.flush()
done()

"""test_container.py - builds deploy/Dockerfile with podman and checks the running container.

Follows deploy/README.md (Container): podman with --runtime runc and explicit ulimits (this
machine's cgroup hybrid and rlimits break the defaults), --format docker (keeps HEALTHCHECK) and
--pull=never, on a base image that deploy/podman-base-image.sh makes with debootstrap (it also
installs podman, runc and debootstrap when missing). Then it runs the image with a host
directory mounted as /data on a loopback port that podman picks, and checks:

- the image: non-root USER, EXPOSE 8080, VOLUME /data, HEALTHCHECK, the MMAPD_* environment;
  the runtime stage has no compiler or sources and every shared library of mmapd resolves;
  the build context leaves out build trees, .git and tests (.dockerignore);
- /healthz is 200, a byte range of a mounted file equals the file's bytes, /metrics passes
  `promtool check metrics`, the server process runs as uid 10001;
- `podman healthcheck run` passes; `podman stop` ends it with exit status 0 within 10 s.

The container is removed and the data directory deleted even when a check fails. The image
stays tagged localhost/mmapd-test:latest as the layer cache for the next run (the base image
and the debootstrap tarball are cached too), so only the first run on a machine is slow.
Prints the image size, the start time (podman run to the first 200 on /healthz) and the stop
time. MMAPD_BIN is not used: the image builds its own binary from the sources.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from harness import check, done

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# container.md: crun fails on this cgroup hybrid and podman's default nofile is above our hard
# limit; conmon caps nproc at 32768.
RUNTIME = ["--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
TAG = "localhost/mmapd-test:latest"
UID = 10001
NAME = f"mmapd-test-{os.getpid()}"


def podman(*args, timeout=120, input=None):
    """Runs podman; returns the CompletedProcess (text output)."""
    return subprocess.run(["podman", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, input=input)


def http(url, headers=None, timeout=5):
    """GET; returns (status, headers, body) or (0, {}, error text) when nothing answered."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except OSError as e:
        return 0, {}, repr(e).encode()


def build(tmp):
    """Builds the image; returns its id or None."""
    iid = os.path.join(tmp, "iid")
    t0 = time.time()
    p = podman("build", *RUNTIME, "--format", "docker", "--pull=never", "-f", "deploy/Dockerfile",
               "-t", TAG, "--iidfile", iid, REPO, timeout=480)
    print(f"podman build: {time.time() - t0:.1f} s, rc {p.returncode}")
    if not check(p.returncode == 0, f"podman build failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"):
        return None
    return open(iid).read().strip()


def check_image(image):
    """Checks the image configuration and what the runtime stage contains."""
    p = podman("image", "inspect", image)
    info = json.loads(p.stdout)[0] if p.returncode == 0 else {}
    cfg = info.get("Config", {})
    print(f"image size: {info.get('Size', 0) / 1e6:.1f} MB")
    check(cfg.get("User") == f"{UID}:{UID}", f"image USER: {cfg.get('User')!r}")
    check("8080/tcp" in (cfg.get("ExposedPorts") or {}), f"EXPOSE: {cfg.get('ExposedPorts')}")
    check("/data" in (cfg.get("Volumes") or {}), f"VOLUME: {cfg.get('Volumes')}")
    health = info.get("Healthcheck") or cfg.get("Healthcheck") or {}  # podman: top level
    check("/healthz" in " ".join(health.get("Test") or []), f"HEALTHCHECK: {health}")
    env = cfg.get("Env") or []
    for want in ("MMAPD_LISTEN=0.0.0.0:8080", "MMAPD_ROOT=/data"):
        check(want in env, f"{want} not in the image environment {env}")
    check(cfg.get("Entrypoint") == ["/usr/local/bin/mmapd"], f"ENTRYPOINT: {cfg.get('Entrypoint')}")

    # runtime stage: no toolchain, no sources, every library of the binary found
    script = ("for x in gcc cc cmake make; do command -v $x && exit 3; done; "
              "test ! -e /src || exit 4; ldd /usr/local/bin/mmapd")
    p = podman("run", "--rm", *RUNTIME, "--entrypoint", "/bin/sh", image, "-c", script)
    check(p.returncode == 0 and "not found" not in p.stdout and "libmicrohttpd" in p.stdout,
          f"runtime stage contents (rc {p.returncode}):\n{p.stdout}{p.stderr}")


def check_context(tmp):
    """A throwaway build that copies the whole context shows what .dockerignore leaves out."""
    dockerfile = os.path.join(tmp, "context.Dockerfile")
    with open(dockerfile, "w") as f:
        f.write("FROM debian:bookworm-slim\nCOPY . /ctx\n"
                "RUN for x in build .git tests; do test ! -e /ctx/$x || { echo in context: $x; exit 1; }; done"
                " && test -f /ctx/CMakeLists.txt && test -d /ctx/server\n")
    tag = f"localhost/mmapd-test-context:{os.getpid()}"
    try:
        p = podman("build", *RUNTIME, "--format", "docker", "--pull=never", "--no-cache", "-q",
                   "-f", dockerfile, "-t", tag, REPO)
        check(p.returncode == 0, f"build context check failed:\n{p.stdout}{p.stderr}")
    finally:
        podman("rmi", "-f", tag)


def make_data():
    """A host directory for /data, readable by the container's uid; returns (dir, bytes)."""
    data_dir = tempfile.mkdtemp(prefix="mmapd-container-data-")
    os.chmod(data_dir, 0o755)
    data = os.urandom(1 << 20)
    with open(os.path.join(data_dir, "data.bin"), "wb") as f:
        f.write(data)
    os.chmod(os.path.join(data_dir, "data.bin"), 0o644)
    return data_dir, data


def start(image, data_dir):
    """Starts the container; returns its base URL once /healthz answered 200, else None."""
    t0 = time.time()
    p = podman("run", "-d", "--name", NAME, *RUNTIME, "-p", "127.0.0.1::8080",
               "-v", f"{data_dir}:/data:ro", "-e", f"MMAPD_INSTANCE_NAME={NAME}", image)
    if not check(p.returncode == 0, f"podman run failed: {p.stderr}"):
        return None
    p = podman("port", NAME, "8080/tcp")
    if not check(p.returncode == 0 and ":" in p.stdout, f"podman port: {p.stdout}{p.stderr}"):
        return None
    base = "http://" + p.stdout.strip().splitlines()[0]
    deadline = time.time() + 30
    while time.time() < deadline:
        status, _, _ = http(base + "/healthz", timeout=1)
        if status == 200:
            print(f"start time: {time.time() - t0:.2f} s (podman run to the first 200 on /healthz)")
            return base
        state = podman("inspect", "--format", "{{.State.Status}}", NAME).stdout.strip()
        if state not in ("running", "created", "configured", "initialized"):
            break
        time.sleep(0.05)
    check(False, f"container did not answer /healthz; logs:\n{podman('logs', NAME).stderr}")
    return None


def check_running(base, data):
    status, headers, body = http(base + "/healthz")
    check(status == 200 and json.loads(body or b"{}") == {"status": "ok"},
          f"/healthz: {status} {body[:200]!r}")
    check(headers.get("Mmapd-Instance") == NAME, f"Mmapd-Instance header: {headers}")
    status, _, body = http(base + "/readyz")
    check(status == 200, f"/readyz: {status} {body[:200]!r}")

    status, headers, body = http(base + "/files/data.bin", {"Range": "bytes=4093-70000"})
    check(status == 206 and body == data[4093:70001] and
          headers.get("Content-Range") == f"bytes 4093-70000/{len(data)}",
          f"range of the mounted file: {status} {headers} {len(body)} bytes")
    status, _, body = http(base + "/files/data.bin")
    check(status == 200 and body == data, f"whole mounted file: {status}, {len(body)} bytes")

    status, _, body = http(base + "/metrics")
    check(status == 200 and b'mmapd_http_requests_total{handler="files"' in body,
          f"/metrics: {status} {body[:300]!r}")
    promtool = shutil.which("promtool")
    if check(promtool is not None, "promtool not found: install the Debian package 'prometheus'"):
        p = subprocess.run([promtool, "check", "metrics"], input=body, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        check(p.returncode == 0, f"promtool check metrics: {p.stdout.decode()}")

    # the server process, seen from the host and from inside
    pid = podman("inspect", "--format", "{{.State.Pid}}", NAME).stdout.strip()
    uids = []
    try:
        with open(f"/proc/{pid}/status") as f:
            uids = next(line.split()[1:] for line in f if line.startswith("Uid:"))
        comm = open(f"/proc/{pid}/comm").read().strip()
    except (OSError, StopIteration, ValueError) as e:
        comm = repr(e)
    check(comm == "mmapd" and uids == [str(UID)] * 4, f"container PID {pid}: comm {comm!r}, Uid {uids}")
    p = podman("exec", NAME, "id", "-u")
    check(p.stdout.strip() == str(UID), f"id -u in the container: {p.stdout}{p.stderr}")

    p = podman("healthcheck", "run", NAME, timeout=60)
    health = podman("inspect", "--format", "{{.State.Health.Status}}", NAME).stdout.strip()
    check(p.returncode == 0 and "unhealthy" not in p.stdout and health == "healthy",
          f"podman healthcheck run: rc {p.returncode}: {p.stdout}{p.stderr}; status {health!r}")


def check_stop():
    t0 = time.time()
    p = podman("stop", "-t", "10", NAME, timeout=60)
    took = time.time() - t0
    print(f"stop time: {took:.2f} s")
    code = podman("inspect", "--format", "{{.State.ExitCode}}", NAME).stdout.strip()
    logs = podman("logs", NAME).stderr
    check(p.returncode == 0 and took < 10 and code == "0",
          f"podman stop: rc {p.returncode}, {took:.1f} s, exit code {code} "
          f"(137 or 10 s means SIGTERM was ignored); logs:\n{logs}")
    check("received Terminated" in logs and "stopped" in logs, f"no drain in the logs:\n{logs}")


def main():
    t_start = time.time()
    p = subprocess.run([os.path.join(REPO, "deploy/podman-base-image.sh")], timeout=420)
    if not check(p.returncode == 0, "deploy/podman-base-image.sh failed"):
        return
    tmp = tempfile.mkdtemp(prefix="mmapd-container-")
    data_dir, data = make_data()
    try:
        image = build(tmp)
        if image is None:
            return
        check_image(image)
        check_context(tmp)
        base = start(image, data_dir)
        if base is not None:
            check_running(base, data)
            check_stop()
    finally:
        podman("rm", "-f", "-t", "0", NAME)
        left = podman("ps", "-a", "-q", "--filter", f"name=^{NAME}$").stdout.strip()
        check(left == "", f"container {NAME} still there after removal")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"container test: {time.time() - t_start:.1f} s in all")


if check(shutil.which("podman") is not None or os.geteuid() == 0,
         "podman is missing and only root can install it (apt-get install podman runc debootstrap)"):
    main()
sys.stdout.flush()
done()

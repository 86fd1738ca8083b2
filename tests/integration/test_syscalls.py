"""test_syscalls.py - mmapd's system calls fit the unit's SystemCallFilter=, and the cachestat
fallback works under a real seccomp filter.

1. strace: the real mmapd runs under `strace -f -qq` (every call written out: `-c` leaves out
   calls strace 6.1 has no name for, such as cachestat) over a short workload (a whole file, a
   range, a listing, /sample, /metrics, /healthz, SIGHUP, SIGTERM), with cachestat failing
   with EPERM as under the unit, so the mincore fallback is traced too (the calls of the
   seccomp helper before its execve of mmapd are not counted). Every system call it made
   must be one that deploy/systemd/mmapd.service allows: its SystemCallFilter= lines expanded
   with `systemd-analyze syscall-filter` (groups inside groups too; "~" lines taken away), or
   one of EXPECTED_DENIED, which says why mmapd copes.
2. seccomp: tests/tools/seccomp_errno_exec runs mmapd with cachestat (451) failing with the
   errno the unit's SystemCallErrorNumber= names (EPERM), and once with ENOSYS (what systemd
   returns for calls newer than it knows). mmapd must serve a cold and a warm file byte for byte,
   list them with numeric resident_bytes (0 cold, the size warm: mincore's answer), and count
   the cold bytes in mmapd_page_cache_miss_bytes_total. MMAPD_TEST_CACHESTAT_ERRNO replaces the
   errnos (the fail check: EACCES gives "resident_bytes": null).
"""
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from harness import BIN, Server, check, curl, done

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(REPO, "deploy", "systemd", "mmapd.service")
SECCOMP_EXEC = os.environ.get("MMAPD_SECCOMP_EXEC",
                              os.path.join(os.path.dirname(BIN), "tests", "seccomp_errno_exec"))
CACHESTAT_NR = 451  # x86-64 and arm64 alike (the unified syscall table since Linux 6.5)
# calls outside the unit's filter that mmapd makes on purpose, and why each is fine
EXPECTED_DENIED = {
    "cachestat": "systemd 252 and libseccomp 2.5.4 do not know it; denied, mmapd falls back to "
                 "mincore (the seccomp part below runs that)",
    "syscall_0x1c3": "cachestat, as strace 6.1 names it",
}


def expand(name, seen=None):
    """The system calls of a name or @group, via systemd-analyze syscall-filter."""
    if not name.startswith("@"):
        return {name}
    seen = seen if seen is not None else set()
    if name in seen:
        return set()
    seen.add(name)
    p = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    out = set()
    for line in p.stdout.splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith("#"):
            out |= expand(line, seen)
    return out


def unit_allowed():
    allowed = set()
    for m in re.finditer(r"^SystemCallFilter=(.*)$", open(UNIT).read(), re.M):
        value = m.group(1).strip()
        deny = value.startswith("~")
        names = set()
        for word in value.lstrip("~").split():
            names |= expand(word)
        allowed = allowed - names if deny else allowed | names
    return allowed


def make_files(root):
    data = {"warm.bin": os.urandom(3 << 20), "cold.bin": os.urandom(3 << 20)}
    for name, body in data.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
    return data


def drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def workload(base, data):
    s, _, body, _ = curl(base + "/files/warm.bin")
    check(s == 200 and body == data["warm.bin"], f"whole file: {s}")
    s, _, body, _ = curl(base + "/files/warm.bin", "-r", "100-70000")
    check(s == 206 and body == data["warm.bin"][100:70001], f"range: {s}")
    s, _, _, _ = curl(base + "/files/")
    check(s == 200, f"listing: {s}")
    s, _, _, _ = curl(base + "/sample/warm.bin?n=4&size=64&seed=1&format=raw")
    check(s == 200, f"/sample: {s}")
    for path in ("/metrics", "/healthz"):
        s, _, _, _ = curl(base + path)
        check(s == 200, f"{path}: {s}")


def strace_part(root, data, tmp):
    out = os.path.join(tmp, "strace.txt")
    log = open(os.path.join(tmp, "log"), "w+")
    proc = subprocess.Popen(["strace", "-f", "-qq", "-o", out, "--", SECCOMP_EXEC, str(CACHESTAT_NR),
                             str(errno.EPERM), BIN, "--listen", "127.0.0.1:0", "--root", root],
                            stderr=log, stdout=subprocess.DEVNULL)
    try:
        base, deadline = None, time.time() + 30
        while base is None and time.time() < deadline and proc.poll() is None:
            log.seek(0)
            m = re.search(r"listening on (http://\S+:\d+)", log.read())
            base = m.group(1) if m else None
            time.sleep(0.05)
        if not check(base is not None, "mmapd under strace did not start"):
            return
        child = int(open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()[0])
        drop_cache(os.path.join(root, "warm.bin"))  # a cold start: the fallback's mincore runs
        workload(base, data)
        os.kill(child, signal.SIGHUP)
        time.sleep(0.3)
        curl(base + "/healthz")
        os.kill(child, signal.SIGTERM)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log.seek(0)
    check("reload: done" in log.read(), "no reload under strace")
    made, execed = set(), False
    call = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]")
    for line in open(out, errors="replace"):
        m = call.match(line)
        if not execed:
            # the execve of mmapd itself, not the helper's, whose arguments name it too
            # (strace cuts strings at 32 characters, so a longer BIN hid this)
            execed = bool(m) and f'execve("{BIN}",' in line and "= 0" in line
            continue
        if m:
            made.add(m.group(1))
    check(execed, "no execve of mmapd in the trace")
    allowed = unit_allowed()
    print(f"strace: mmapd made {len(made)} distinct system calls; the unit allows {len(allowed)}")
    print("  " + " ".join(sorted(made)))
    check(len(made) > 20 and "openat2" in made and "mmap" in made, f"strace counted too little: {made}")
    denied = sorted(made - allowed)
    for name in denied:
        if name in EXPECTED_DENIED:
            print(f"  denied by the unit, expected: {name}: {EXPECTED_DENIED[name]}")
        else:
            check(False, f"mmapd calls {name}, which mmapd.service's SystemCallFilter= denies")


def listing(base):
    s, _, body, _ = curl(base + "/files/")
    entries = json.loads(body).get("entries", []) if s == 200 else []
    return {e["name"]: e.get("resident_bytes") for e in entries}


def miss_bytes(base):
    _, _, body, _ = curl(base + "/metrics")
    m = re.search(rb'^mmapd_page_cache_miss_bytes_total\{handler="files"\} (\S+)$', body, re.M)
    return float(m.group(1)) if m else None


def read_in(path):
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass


def seccomp_part(root, data, err):
    name = errno.errorcode.get(err, str(err))
    for f in data:
        drop_cache(os.path.join(root, f))
    srv = Server(root=root)
    srv.args = [SECCOMP_EXEC, str(CACHESTAT_NR), str(err)] + srv.args
    with srv:
        status = open(f"/proc/{srv.proc.pid}/status").read()
        check(re.search(r"^Seccomp:\s+2$", status, re.M), f"{name}: mmapd runs without the filter")
        size = len(data["cold.bin"])
        # pages that nothing touches can drift out of the page cache on these VMs within
        # seconds: the warm file is read in right before each listing, up to 3 times
        for _ in range(3):
            read_in(os.path.join(root, "warm.bin"))
            res = listing(srv.base)
            if res.get("warm.bin") == size:
                break
        print(f"cachestat -> {name}: resident_bytes {res}")
        check(res.get("warm.bin") == size, f"{name}: warm file resident_bytes {res.get('warm.bin')}")
        check(isinstance(res.get("cold.bin"), int) and res["cold.bin"] < size // 2,
              f"{name}: cold file resident_bytes {res.get('cold.bin')}")
        before = miss_bytes(srv.base)
        for f in ("cold.bin", "warm.bin"):
            s, _, body, _ = curl(srv.base + "/files/" + f)
            check(s == 200 and body == data[f], f"{name}: /files/{f}: {s}, {len(body)} bytes")
        s, _, body, _ = curl(srv.base + "/files/cold.bin", "-r", "4096-9999")
        check(s == 206 and body == data["cold.bin"][4096:10000], f"{name}: range of cold.bin: {s}")
        after = miss_bytes(srv.base)
        print(f"cachestat -> {name}: mmapd_page_cache_miss_bytes_total{{files}} {before} -> {after}")
        check(before is not None and after is not None and after > before,
              f"{name}: the cold file's misses were not counted ({before} -> {after})")
        for _ in range(3):  # read by mmapd just before, unless pages drifted out meanwhile
            resident = listing(srv.base).get("cold.bin")
            if resident == size:
                break
            curl(srv.base + "/files/cold.bin")
        check(resident == size, f"{name}: cold.bin not resident after reading: {resident}")
        check(srv.stop() == 0, f"{name}: mmapd did not exit 0")


def main():
    for tool in ("strace", "systemd-analyze"):
        if not check(shutil.which(tool) is not None, f"{tool} not found (Debian packages strace, systemd)"):
            return
    tmp = tempfile.mkdtemp(prefix="mmapd-syscalls-")
    root = os.path.join(tmp, "root")
    os.mkdir(root)
    try:
        data = make_files(root)
        strace_part(root, data, tmp)
        errs = os.environ.get("MMAPD_TEST_CACHESTAT_ERRNO")
        for err in ([getattr(errno, e) for e in errs.split(",")] if errs else [errno.EPERM, errno.ENOSYS]):
            seccomp_part(root, data, err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
done()

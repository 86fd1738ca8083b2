"""soak_load.py - wrk load for test_soak.py and test_drain_load.py: the served files that
soak.lua expects, running wrk with it, and its summary line; also process figures from /proc.
"""
import os
import re
import resource
import shutil
import subprocess
import tempfile

from harness import BIN

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "soak.lua")
RECORD = 64
RECORDS = 65536                 # records.bin: 4 MiB
SMALLS = (1, 7, 100, 1000)      # small-N.bin: the first N records


def sanitized():
    """True when $MMAPD_BIN is an AddressSanitizer build (env MMAPD_SANITIZED, or ldd)."""
    if os.environ.get("MMAPD_SANITIZED"):
        return os.environ["MMAPD_SANITIZED"] not in ("0", "")
    try:
        out = subprocess.run(["ldd", BIN], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"libasan" in out


def raise_fd_limit(want=16384):
    """Raises this process's (and so its children's) descriptor limit towards `want`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def record(i):
    text = f"record {i:08d} of {RECORDS:08d} offset {i * RECORD:012d} ".encode()
    return text + b"." * (RECORD - 1 - len(text)) + b"\n"


def make_root():
    """A temporary root with the files soak.lua asks for; returns its path."""
    root = tempfile.mkdtemp(prefix="mmapd-soak-")
    data = b"".join(record(i) for i in range(RECORDS))
    with open(os.path.join(root, "records.bin"), "wb") as f:
        f.write(data)
    for n in SMALLS:
        with open(os.path.join(root, f"small-{n}.bin"), "wb") as f:
            f.write(data[:n * RECORD])
    open(os.path.join(root, "empty.bin"), "wb").close()
    return root


def warm_paths():
    """Every file soak.lua reads, each in the way it reads it, so that the files' pages are
    mapped (and counted in RSS) before the measured part of a run."""
    paths = ["/files/records.bin", "/files/empty.bin", "/files/", "/metrics", "/healthz",
             f"/sample/records.bin?n={RECORDS * RECORD // 4096}&size=4096&format=raw&seed=1"]
    return paths + [f"/files/small-{n}.bin" for n in SMALLS]


def start_wrk(base, seconds, connections, seed, threads=2, timeout_s=30):
    """Starts wrk with soak.lua; read its output with wrk_summary(proc.communicate()[0])."""
    wrk = shutil.which("wrk")
    if not wrk:
        raise RuntimeError("wrk is not installed (scripts/deps.sh test)")
    args = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s",
            "-s", SCRIPT, base, "--", str(seed), str(RECORDS), ",".join(map(str, SMALLS))]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wrk_summary(out):
    """The "SOAK key=value ..." line soak.lua prints, as a dict of ints (floats for *_ms);
    None when there is none."""
    m = re.search(r"^SOAK (.*)$", out.decode(errors="replace"), re.M)
    if not m:
        return None
    res = {}
    for k, v in re.findall(r"(\w+)=([\d.]+)", m.group(1)):
        res[k] = float(v) if k.endswith("_ms") else int(v)
    return res


def by_status(summary, prefix):
    """{status: count} of the summary's sentNNN or gotNNN fields."""
    return {int(k[len(prefix):]): v for k, v in summary.items()
            if k.startswith(prefix) and k[len(prefix):].isdigit()}


def proc_status_kb(pid, field):
    """A /proc/PID/status field in kB (VmRSS, RssAnon, RssFile), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None

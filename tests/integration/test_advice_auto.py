"""test_advice_auto.py - the `auto` advice follows what cold requests cost, and never serves a
wrong byte while it explores.

MMAPD_TEST_HINT_DELAY_MS (a test knob) makes every prefetch of one arm (WILLNEED given, or
not) wait that much longer, as a slower device would:
- willneed=60: the range class (bodies read at once) starts with WILLNEED, measures both
  arms during its warm-up and then skips WILLNEED (mmapd_advice_auto_willneed{class="range"}
  0, one change, the log line with both figures); the stream class, never cold here, keeps
  its start.
- none=60: the range class keeps WILLNEED (no change); a stream body (over 1 MiB), which
  starts without WILLNEED, switches to it.
- A fixed `range=willneed` is not measured, and every request found cold gets its hint.
- One cold 160 MiB download measures both arms of the stream class by itself (its cost is
  taken per 32 MiB segment, each segment under its own pick), with the file's bytes.
- Every answer has the file's bytes; a malformed knob stops mmapd at start (exit 2).
Files are evicted before each request (posix_fadvise DONTNEED, checked with fincore); where
the page cache keeps them (tmpfs), the test says so and skips those parts.
"""
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

from harness import BIN, Server, check, curl, done, metric_value

SMALL = 256 << 10  # range class: read at once
LARGE = 3 << 20    # stream class: over 1 MiB
LONG_MIB = 160     # five segments of 32 MiB (FILE_BODY_SEGMENT)


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    res = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                         capture_output=True, text=True)
    return res.returncode == 0 and res.stdout.strip() == "0"


def make_files(root, name, size, n):
    files = {}
    for i in range(n):
        data = (b"%s-%04d|" % (name.encode(), i)) * (size // 11 + 1)
        files[f"{name}{i}.bin"] = data[:size]
        with open(os.path.join(root, f"{name}{i}.bin"), "wb") as f:
            f.write(files[f"{name}{i}.bin"])
    return files


def cold_gets(s, root, files, rounds):
    """Each file evicted, then fetched; returns how many were really cold."""
    cold = 0
    for _ in range(rounds):
        for name, data in files.items():
            cold += evict(os.path.join(root, name))
            st, _, body, _ = curl(s.url("/files/" + name))
            check(st == 200 and body == data, f"{name}: {st}, {len(body)} bytes, wrong bytes")
    return cold


def auto_state(s, cls):
    text = s.metrics_text()
    return {
        "willneed": metric_value(text, f'mmapd_advice_auto_willneed{{class="{cls}"}}', -1),
        "yes": metric_value(text, f'mmapd_advice_auto_requests_total{{class="{cls}",willneed="yes"}}', 0),
        "no": metric_value(text, f'mmapd_advice_auto_requests_total{{class="{cls}",willneed="no"}}', 0),
        "cost_yes": metric_value(text, f'mmapd_advice_auto_cost_seconds_per_mib{{class="{cls}",willneed="yes"}}', 0),
        "cost_no": metric_value(text, f'mmapd_advice_auto_cost_seconds_per_mib{{class="{cls}",willneed="no"}}', 0),
        "changes": metric_value(text, f'mmapd_advice_auto_changes_total{{class="{cls}"}}', -1),
    }


def wait_log(s, pattern, secs=5):
    deadline = time.time() + secs
    while time.time() < deadline:
        if re.search(pattern, s.read_log()):
            return True
        time.sleep(0.1)
    return False


root = tempfile.mkdtemp(prefix="mmapd-auto-")
small = make_files(root, "s", SMALL, 8)
large = make_files(root, "l", LARGE, 8)  # each cold once: a mapped page cannot be evicted

# --- a bad knob: one clear line, exit 2
for bad in ("willneed", "willneed=", "fast=10", "none=-1", "willneed=99999999", "none=5ms"):
    env = dict(os.environ, MMAPD_TEST_HINT_DELAY_MS=bad)
    p = subprocess.run([BIN, "--root", root, "--listen", "127.0.0.1:0"], env=env,
                       capture_output=True, text=True, timeout=10)
    check(p.returncode == 2 and "MMAPD_TEST_HINT_DELAY_MS" in p.stderr and
          len(p.stderr.splitlines()) == 1, f"knob {bad!r}: exit {p.returncode}, {p.stderr!r}")

if not evict(os.path.join(root, "s0.bin")):
    print("SKIP the cold requests: the page cache keeps files here (tmpfs?)")
else:
    # --- WILLNEED made slower: the range class drops it
    with Server(root, args=["--threads", "1"],
                env={"MMAPD_TEST_HINT_DELAY_MS": "willneed=60"}) as s:
        check("advice stream=sequential,auto range=auto random=random,auto" in s.read_log(),
              f"the default advice is not auto: {s.read_log()!r}")
        cold = cold_gets(s, root, small, 2)
        a = auto_state(s, "range")
        print(f"willneed slowed: {cold} cold of {2 * len(small)}; range {a}")
        check(a["yes"] >= 3 and a["no"] >= 3, f"range class did not measure both arms: {a}")
        check(a["cost_yes"] > a["cost_no"] + 0.04, f"the delayed arm does not cost more: {a}")
        check(a["willneed"] == 0 and a["changes"] == 1, f"range class did not drop WILLNEED: {a}")
        check(wait_log(s, r"advice auto: class range skips WILLNEED: cold requests cost "
                          r"[\d.]+ ms/MiB with it \(\d+ measured\), [\d.]+ ms/MiB without"),
              f"no log line for the range class: {s.read_log()[-600:]!r}")
        st = auto_state(s, "stream")
        check(st["willneed"] == 0 and st["yes"] == 0 and st["changes"] == 0,
              f"stream class moved without cold stream requests: {st}")

    # --- no WILLNEED made slower: range keeps it, stream takes it up
    with Server(root, args=["--threads", "1"],
                env={"MMAPD_TEST_HINT_DELAY_MS": "none=60"}) as s:
        cold_gets(s, root, small, 2)
        a = auto_state(s, "range")
        check(a["willneed"] == 1 and a["changes"] == 0 and a["cost_no"] > a["cost_yes"],
              f"range class did not keep WILLNEED: {a}")
        cold = cold_gets(s, root, large, 1)
        check(cold == len(large), f"only {cold} of {len(large)} stream files were evicted")
        st = auto_state(s, "stream")
        print(f"none slowed: range {a}; stream {st}")
        check(st["yes"] >= 3 and st["no"] >= 3, f"stream class did not measure both arms: {st}")
        check(st["willneed"] == 1 and st["changes"] == 1, f"stream class did not take WILLNEED: {st}")
        check(wait_log(s, r"advice auto: class stream gives WILLNEED"),
              f"no log line for the stream class: {s.read_log()[-600:]!r}")

    # --- a fixed list is not measured
    with Server(root, args=["--threads", "1", "--advice", "range=willneed"],
                env={"MMAPD_TEST_HINT_DELAY_MS": "willneed=60"}) as s:
        # an evicted file can be read back in by the kernel's own read-ahead, which the
        # page-cache-only read starts, before that read looks again (on a loaded machine):
        # such a request is warm. Every request found cold must have had its hint.
        for _ in range(5):
            cold_gets(s, root, small, 1)
            text = s.metrics_text()
            cold = metric_value(text, 'mmapd_cold_requests_total{handler="files"}', 0)
            if cold:
                break
        check(metric_value(text, 'mmapd_advice_auto_willneed{class="range"}', None) is None,
              "a fixed range policy is reported as auto")
        hints = metric_value(text, 'mmapd_madvise_calls_total{class="range",advice="willneed",result="ok"}', 0)
        check(cold >= 1 and hints >= cold,
              f"range=willneed: {hints} WILLNEED hints for {cold} cold requests")

    # --- one long cold stream measures both arms itself, in segments of 32 MiB
    longf = os.path.join(root, "long.bin")
    block = hashlib.sha256(b"long").digest() * (1 << 15)  # 1 MiB
    with open(longf, "wb") as f:
        for i in range(LONG_MIB):
            f.write(block[i % 32:] + block[:i % 32])
    want = hashlib.sha256(open(longf, "rb").read()).hexdigest()
    with Server(root, args=["--threads", "1"]) as s:
        check(evict(longf), "the long file was not evicted")
        p = subprocess.run(["curl", "-sS", "-o", "-", s.url("/files/long.bin")],
                           capture_output=True, timeout=120)
        got = hashlib.sha256(p.stdout).hexdigest()
        check(p.returncode == 0 and got == want,
              f"long stream: curl {p.returncode}, {len(p.stdout)} bytes, sha256 {got[:12]}")
        st = auto_state(s, "stream")
        print(f"one long stream: {st}")
        check(st["yes"] >= 1 and st["no"] >= 1 and st["yes"] + st["no"] >= 3,
              f"one {LONG_MIB} MiB cold stream did not measure both arms in segments: {st}")
    os.unlink(longf)

shutil.rmtree(root)
done()

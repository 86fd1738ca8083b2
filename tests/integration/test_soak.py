"""test_soak.py - a bounded soak: wrk with soak.lua (4 KiB and multi-range requests, small and
empty files, /sample in every format, /metrics, /healthz, /readyz, the listing, and 404, 416
and 400 on purpose) against the real binary over loopback, with a few hundred connections.

Checks: every body soak.lua can check is right; the statuses are the ones it asked for, and
wrk saw no socket error; after a warm-up, the server's RSS stays flat (the anonymous part and
the whole); its descriptors come back to where they were once the connections close; the
server still answers and its counters agree with wrk; and SIGTERM gives exit 0 (under ASan,
no leak).

Length: 25 s with 200 connections (Release), 10 s with 100 under AddressSanitizer;
MMAPD_SOAK_SECONDS=N runs N seconds (the long form; e.g. 600), MMAPD_SOAK_CONNECTIONS=N
changes the connections and MMAPD_SOAK_SEED=N replays soak.lua's choices.
"""
import os
import random
import re
import shutil
import threading
import time

import soak_load
from harness import Server, check, curl, done

ASAN = soak_load.sanitized()
SECONDS = int(os.environ.get("MMAPD_SOAK_SECONDS") or (10 if ASAN else 25))
CONNS = int(os.environ.get("MMAPD_SOAK_CONNECTIONS") or (100 if ASAN else 200))
SEED = int(os.environ.get("MMAPD_SOAK_SEED") or random.randrange(1, 1 << 30))
WARMUP = min(max(4.0, 0.4 * SECONDS), 120.0)   # seconds of load before the RSS reference
MIB = 1024
PROVOKED = (400, 404, 416)                       # the error statuses soak.lua asks for


def grown_too_much(ref_kb, kb):
    """The soak's flatness bound: more than max(8 MiB, 10%) above the warm reference."""
    return kb > ref_kb + max(8 * MIB, ref_kb // 10)


def requests_by_status(base):
    """mmapd_http_requests_total summed by status, from /metrics."""
    st, _, body, _ = curl(base + "/metrics", timeout=30)
    out = {}
    if st != 200:
        return out
    for m in re.finditer(rb'^mmapd_http_requests_total\{[^}]*code="(\d+)"[^}]*\} (\d+)', body, re.M):
        out[int(m.group(1))] = out.get(int(m.group(1)), 0) + int(m.group(2))
    return out


def in_flight(base):
    st, _, body, _ = curl(base + "/metrics", timeout=30)
    m = re.search(rb"^mmapd_http_requests_in_flight (\d+)", body, re.M)
    return int(m.group(1)) if st == 200 and m else None


nofile = soak_load.raise_fd_limit()
check(nofile >= 2 * CONNS + 256, f"descriptor limit {nofile} too low for {CONNS} connections")
root = soak_load.make_root()
args = ["--threads", "2", "--max-connections", str(max(1024, 4 * CONNS)),
        "--connection-timeout", "30"]
# ASan holds freed memory in a quarantine of 256 MiB before reusing it, so its RSS climbs for
# minutes; a small quarantine lets a 10 s run reach its plateau (use-after-free within the
# last 16 MiB of frees is still caught).
env = {}
if ASAN:
    env["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS", ""),
                                                 "quarantine_size_mb=16"]))
print(f"soak: {'ASan' if ASAN else 'Release'} build, {SECONDS} s, {CONNS} connections, "
      f"warm-up {WARMUP:.0f} s, seed {SEED} (MMAPD_SOAK_SEED to replay)")

with Server(root, args=args, env=env) as s:
    pid = s.proc.pid
    # map every file the way the load reads it, so that file pages are in RSS from the start
    for path in soak_load.warm_paths():
        st, _, _, _ = curl(s.url(path), timeout=60)
        check(st == 200, f"warming {path}: {st}")
    fd0 = None
    for _ in range(10):  # the warming connections may take a moment to close
        time.sleep(0.1)
        fd0 = min(x for x in (fd0, soak_load.open_fds(pid)) if x is not None)
    rss0, anon0 = soak_load.proc_status_kb(pid, "VmRSS"), soak_load.proc_status_kb(pid, "RssAnon")
    before = requests_by_status(s.base)

    samples = []   # (seconds since the start, VmRSS kB, RssAnon kB, descriptors)
    stop = threading.Event()

    def sampler(t0):
        while not stop.is_set():
            rss, anon, fds = (soak_load.proc_status_kb(pid, "VmRSS"),
                              soak_load.proc_status_kb(pid, "RssAnon"), soak_load.open_fds(pid))
            if rss is not None:
                samples.append((time.time() - t0, rss, anon, fds))
            stop.wait(0.5)

    t0 = time.time()
    wrk = soak_load.start_wrk(s.base, SECONDS, CONNS, SEED)
    th = threading.Thread(target=sampler, args=(t0,), daemon=True)
    th.start()
    try:
        out, err = wrk.communicate(timeout=SECONDS + 120)
    except Exception:
        wrk.kill()
        out, err = wrk.communicate()
        check(False, "wrk did not finish in time")
    elapsed = time.time() - t0
    stop.set()
    th.join()
    check(s.proc.poll() is None, f"mmapd died under load: {s.read_log()[-2000:]}")
    check(wrk.returncode == 0, f"wrk exited {wrk.returncode}: {err.decode(errors='replace')}")
    if err.strip():
        print(err.decode(errors="replace").strip())
    summary = soak_load.wrk_summary(out) or {}
    check(bool(summary), f"no SOAK line in wrk's output: {out.decode(errors='replace')}")
    sent, got = soak_load.by_status(summary, "sent"), soak_load.by_status(summary, "got")
    requests = summary.get("requests", 0)

    # --- what wrk saw -------------------------------------------------------------------
    check(summary.get("bad", 1) == 0, f"{summary.get('bad')} bodies failed soak.lua's checks")
    for e in ("connect", "read", "write", "timeout"):
        check(summary.get(e, 1) == 0, f"wrk {e} errors: {summary.get(e)}")
    check(requests >= 20 * SECONDS, f"only {requests} requests in {SECONDS} s")
    check(sum(got.values()) == requests, f"soak.lua counted {sum(got.values())} answers, wrk {requests}")
    check(set(got) <= set(sent), f"statuses nobody asked for: {sorted(set(got) - set(sent))} ({got})")
    for status in sorted(sent):
        g = got.get(status, 0)
        # at the end of the run wrk drops at most one unanswered request per connection
        check(sent[status] - CONNS <= g <= sent[status],
              f"status {status}: {g} answers to {sent[status]} requests for it")
    for status in PROVOKED:
        check(got.get(status, 0) > 0, f"no {status} in the mix ({got})")
    provoked = sum(got.get(st, 0) for st in PROVOKED)
    check(summary.get("status") == provoked,
          f"wrk's non-2xx/3xx count {summary.get('status')} is not the {provoked} provoked")

    # --- memory and descriptors ---------------------------------------------------------
    # the reference is the most the late warm-up reached: single samples swing by a few MiB
    # (big answers come and go, ASan's allocator more so); a leak climbs past them for good
    ref = [x for x in samples if WARMUP / 2 <= x[0] < WARMUP]
    warm = [x for x in samples if x[0] >= WARMUP]
    check(len(warm) >= 2 and ref, f"too few samples around the warm-up ({len(samples)} in all)")
    if warm and ref:
        rss_w, anon_w = max(x[1] for x in ref), max(x[2] for x in ref)
        rss_peak = max(x[1] for x in warm)
        anon_peak = max(x[2] for x in warm)
        rss_end, anon_end = warm[-1][1], warm[-1][2]
        check(not grown_too_much(rss_w, rss_peak),
              f"VmRSS grew under steady load: {rss_w} kB after the warm-up, up to {rss_peak} kB")
        check(not grown_too_much(anon_w, anon_peak),
              f"RssAnon grew under steady load: {anon_w} kB after the warm-up, up to {anon_peak} kB")
    fd_peak = max((x[3] for x in samples if x[3] is not None), default=None)
    # wrk has exited: the server closes its side as it sees each connection close
    deadline = time.time() + 30
    fd1 = soak_load.open_fds(pid)
    while fd1 is not None and fd1 > fd0 and time.time() < deadline:
        time.sleep(0.2)
        fd1 = soak_load.open_fds(pid)
    check(fd1 is not None and fd1 <= fd0, f"descriptors: {fd0} before the load, {fd1} after")
    check(fd_peak is not None and fd_peak >= fd0 + CONNS // 2,
          f"the load never held many connections: {fd_peak} descriptors at most, {fd0} before")

    # --- the server after the load ------------------------------------------------------
    st, _, body, _ = curl(s.url("/healthz"), timeout=30)
    check(st == 200 and body == b'{"status":"ok"}\n', f"/healthz after the soak: {st} {body!r}")
    n = in_flight(s.base)
    check(n == 1, f"mmapd_http_requests_in_flight after the soak: {n} (1 is the scrape itself)")
    after = requests_by_status(s.base)
    for status in sorted(set(sent) | set(after)):
        delta = after.get(status, 0) - before.get(status, 0)
        # the server may have answered requests wrk stopped waiting for; 200 also counts the
        # scrapes around the run and the /healthz above
        slack = 3 if status == 200 else 0
        check(got.get(status, 0) <= delta <= sent.get(status, 0) + slack,
              f"mmapd counted {delta} status {status}; wrk got {got.get(status, 0)} of "
              f"{sent.get(status, 0)}")
    rss1, anon1 = soak_load.proc_status_kb(pid, "VmRSS"), soak_load.proc_status_kb(pid, "RssAnon")

    rate = requests / elapsed if elapsed else 0
    print(f"soak figures: {'ASan' if ASAN else 'Release'}, {SECONDS} s, {CONNS} connections, "
          f"--threads 2: {requests} requests ({rate:.0f}/s), {summary.get('bytes', 0) / 2**20:.0f} MiB, "
          f"p50 {summary.get('p50_ms')} ms, p99 {summary.get('p99_ms')} ms, max {summary.get('max_ms')} ms; "
          f"errors provoked {provoked} ({', '.join(f'{st}: {got.get(st, 0)}' for st in PROVOKED)}), "
          f"other errors 0 expected")
    if warm and ref:
        print(f"soak figures: VmRSS kB start {rss0}, warm (most in {WARMUP / 2:.0f}-{WARMUP:.0f} s) "
              f"{rss_w}, peak after warm {rss_peak}, end of load {rss_end}, after {rss1}; "
              f"RssAnon kB start {anon0}, warm {anon_w}, peak {anon_peak}, end {anon_end}, "
              f"after {anon1}")
    print(f"soak figures: descriptors {fd0} before, {fd_peak} at most, {fd1} after")

shutil.rmtree(root, ignore_errors=True)
done()

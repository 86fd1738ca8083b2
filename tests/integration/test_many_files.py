"""test_many_files.py - more files than the file cache holds and than the descriptor limit allows.

- Under `prlimit --nofile=100:320`: the soft limit is raised to the hard one and the cache sized
  to fit (the log line says so, and lowers a --map-cache that does not fit); 3000 files, each
  fetched twice by 8 keep-alive clients, all answered 200 with the right bytes, then 1000 of
  them sampled (/sample) by 4 clients; descriptors stay under the limit and the open files
  under the cache's bound.
- A scan does not flush the hot set: with --map-cache 64, 32 hot files cached, then 2000 files
  read once each: no admission once the cache is full, and the hot files are hits afterwards.
- Files that are not cached yet (the first read of each, with a full cache) replaced by
  rename, truncated and deleted under concurrent downloads: every answer is a whole version, a prefix of the
  truncated file's bytes cut short by a closed connection, or 404; never a zero byte.
- The cold small-file path: a file evicted from the page cache is handed to the prefetch helpers
  (mmapd_cold_requests_total) and served whole, with no blocking read on the HTTP thread; its
  prefetch and hints count in the range class (a body read at once). Evicted and fetched up
  to 5 times until one request is found cold (the kernel's read-ahead can win the race).
"""
import http.client
import os
import re
import shutil
import subprocess
import threading

from harness import Server, check, done, evict, make_root, metric_value, open_fds

NFILES = 3000
DIRS = 30


def body_of(i):
    return (b"%06d:" % i) * 171  # 1197 bytes, no zero byte


def fetch_all(s, paths, clients, errors):
    """Each client fetches its share of paths over one keep-alive connection."""
    def worker(part):
        conn = http.client.HTTPConnection(s.host, s.port, timeout=30)
        for p, want in part:
            conn.request("GET", "/files/" + p)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200 or data != want:
                errors.append(f"{p}: {r.status} {len(data)} bytes")
        conn.close()
    ts = [threading.Thread(target=worker, args=(paths[k::clients],)) for k in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def metrics(s):
    text = s.metrics_text()
    names = ["hits", "misses", "admissions", "evictions"]
    m = {n: metric_value(text, f"mmapd_file_cache_{n}_total", -1) for n in names}
    m["entries"] = metric_value(text, "mmapd_file_cache_entries", -1)
    m["capacity"] = metric_value(text, "mmapd_file_cache_capacity", -1)
    m["open"] = metric_value(text, "mmapd_open_files", -1)
    m["cold"] = metric_value(text, 'mmapd_cold_requests_total{handler="files"}', -1)
    m["blocking"] = metric_value(text, 'mmapd_blocking_reads_total{handler="files"}', -1)
    # a body read at once is of the range class: its prefetch wait and its WILLNEED hints
    m["range_waits"] = metric_value(text, 'mmapd_prefetch_duration_seconds_count{class="range"}', -1)
    m["range_hints"] = metric_value(
        text, 'mmapd_madvise_calls_total{class="range",advice="willneed",result="ok"}', -1)
    return m


root, _ = make_root()
names = []
for d in range(DIRS):
    os.mkdir(os.path.join(root, f"d{d:02d}"))
for i in range(NFILES):
    name = f"d{i % DIRS:02d}/f{i:05d}.bin"
    with open(os.path.join(root, name), "wb") as f:
        f.write(body_of(i))
    names.append((name, body_of(i)))

# --- more files than the cache and the descriptor limit
srv = Server(root, args=["--map-cache", "100000", "--threads", "2"])
srv.args = ["prlimit", "--nofile=100:320", "--"] + srv.args
with srv as s:
    log = s.read_log()
    m = re.search(r"file cache: (\d+) files at most \(open files limit 100 raised to 320, "
                  r"vm.max_map_count \d+: (\d+) fit\); --map-cache lowered to that", log)
    check(m is not None, f"the file cache log line: {log}")
    cap = int(m.group(1)) if m else 0
    check(0 < cap <= 160, f"cache sized {cap} for 320 descriptors (at most half)")
    errors = []
    fetch_all(s, names + names[::-1], 8, errors)
    check(not errors, f"{len(errors)} wrong answers, first: {errors[:3]}")
    mm = metrics(s)
    check(mm["capacity"] == cap and mm["entries"] == cap, f"cache full at its bound: {mm}")
    check(mm["open"] <= cap + 8, f"open files {mm['open']} within the cache and 8 clients")
    check(mm["hits"] + mm["misses"] == 2 * NFILES, f"every lookup a hit or a miss: {mm}")
    check(open_fds(s.proc.pid) < 320, f"descriptors {open_fds(s.proc.pid)} under the limit")
    check(mm["evictions"] == mm["admissions"] - cap, f"evictions = admissions past the bound: {mm}")
    # /sample over as many files: each mapped for its request when it is not cached
    errors = []

    def sampler(part):
        conn = http.client.HTTPConnection(s.host, s.port, timeout=30)
        for p, want in part:
            conn.request("GET", f"/sample/{p}?n=4&size=16&seed=7&format=raw")
            r = conn.getresponse()
            data = r.read()
            offs = [int(x) for x in (r.getheader("Sample-Offsets") or "[]").strip("[]").split(",") if x]
            if r.status != 200 or len(offs) != 4 or data != b"".join(want[o:o + 16] for o in offs):
                errors.append(f"sample {p}: {r.status} {len(data)} bytes")
        conn.close()
    ts = [threading.Thread(target=sampler, args=(names[k:1000:4],)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not errors, f"/sample over 1000 files: {len(errors)} wrong, first: {errors[:3]}")
    check(open_fds(s.proc.pid) < 320, f"descriptors {open_fds(s.proc.pid)} after the samples")
    mm = metrics(s)
    check(mm["open"] <= cap + 8, f"open files {mm['open']} after the samples")

# --- a scan does not flush the hot set
with Server(root, args=["--map-cache", "64", "--threads", "1"]) as s:
    hot, scan = names[:32], names[100:2100]
    errors = []
    fetch_all(s, hot + hot, 1, errors)
    before = metrics(s)
    check(before["entries"] == 32 and before["hits"] == 32, f"hot set cached: {before}")
    fetch_all(s, scan, 1, errors)
    mid = metrics(s)
    # the first 32 scanned files fill the room; none after that is admitted
    check(mid["admissions"] - before["admissions"] == 32 and mid["evictions"] == 0,
          f"a scan of {len(scan)} files admitted {mid['admissions'] - before['admissions']}, "
          f"evicted {mid['evictions']}")
    fetch_all(s, hot, 1, errors)
    after = metrics(s)
    check(after["hits"] - mid["hits"] == 32 and after["misses"] == mid["misses"],
          f"hot files after the scan: {after['hits'] - mid['hits']} hits, "
          f"{after['misses'] - mid['misses']} misses")
    check(not errors, f"{len(errors)} wrong answers, first: {errors[:3]}")

# --- races on files that are not cached
with Server(root, args=["--map-cache", "16", "--threads", "2"]) as s:
    errors = []
    fetch_all(s, names[:16], 1, errors)  # the cache is full: a file read once is not admitted
    base = metrics(s)
    race_dir = os.path.join(root, "race")
    os.mkdir(race_dir)
    big = bytes(range(1, 256)) * 1024  # 255 KiB, read at once, no zero byte
    rounds = 60

    def download(path, valid, sizes_ok):
        try:
            conn = http.client.HTTPConnection(s.host, s.port, timeout=30)
            conn.request("GET", path)
            r = conn.getresponse()
            try:
                data = r.read()
            except http.client.IncompleteRead as e:
                data = None  # a closed connection: the file shrank under the send
                if not big.startswith(e.partial):
                    errors.append(f"{path}: cut short with wrong bytes")
            conn.close()
            if data is None or r.status == 404:
                return
            if r.status != 200 or (data not in valid and not (sizes_ok and big.startswith(data)
                                                               and len(data) in sizes_ok)):
                errors.append(f"{path}: {r.status} {len(data)} bytes, zero bytes: {data.count(0)}")
        except OSError as e:
            errors.append(f"{path}: {e}")

    for i in range(rounds):
        kind = ("rename", "truncate", "delete")[i % 3]
        p = os.path.join(race_dir, f"r{i}.bin")
        with open(p, "wb") as f:
            f.write(big)
        valid, sizes = {big}, None
        if kind == "rename":
            new = bytes([i % 200 + 1]) * 5000
            valid.add(new)
        elif kind == "truncate":
            sizes = {100000}
        ts = [threading.Thread(target=download, args=(f"/files/race/r{i}.bin", valid, sizes))
              for _ in range(3)]
        for t in ts:
            t.start()
        if kind == "rename":
            with open(p + ".tmp", "wb") as f:
                f.write(new)
            os.rename(p + ".tmp", p)
        elif kind == "truncate":
            os.truncate(p, 100000)
        else:
            os.unlink(p)
        for t in ts:
            t.join()
        download(f"/files/race/r{i}.bin", {new} if kind == "rename" else set(), sizes)
    after = metrics(s)
    check(not errors, f"uncached races: {len(errors)} wrong answers, first: {errors[:3]}")
    # the first of a round's downloads misses and is not admitted; a second one is (the
    # doorkeeper remembers the first): both ways race with the change
    check(after["misses"] - base["misses"] >= rounds,
          f"race files were misses: {after['misses'] - base['misses']}")

# --- the cold small-file path
cold = os.path.join(root, "cold.bin")
cold_bytes = bytes(range(1, 256)) * 256  # 64 KiB
with open(cold, "wb") as f:
    f.write(cold_bytes)
    f.flush()
    os.fsync(f.fileno())
with Server(root, args=["--threads", "1"]) as s:
    # the kernel's read-ahead, which the page-cache-only read starts, can bring a 64 KiB file
    # in before that read looks again (on a loaded machine): the request is then warm, so the
    # file is evicted and fetched again, up to 5 times, until one request is found cold
    for attempt in range(5):
        evict(cold)
        # fincore (cachestat/mincore) reads nothing in; a read, even RWF_NOWAIT, starts read-ahead
        res = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", cold],
                             capture_output=True, text=True)
        evicted = res.returncode == 0 and res.stdout.strip() == "0"
        if not evicted:
            print("skip the cold path: the page cache kept the file (tmpfs?)")
            break
        before = metrics(s)
        errors = []
        fetch_all(s, [("cold.bin", cold_bytes)], 1, errors)
        after = metrics(s)
        check(not errors, f"cold file: {errors}")
        if after["cold"] - before["cold"] == 1:
            break
    if evicted:
        check(after["cold"] - before["cold"] == 1, f"cold requests {before['cold']} -> {after['cold']}")
        check(after["blocking"] == before["blocking"], f"blocking reads {after['blocking']}")
        check(after["range_waits"] - before["range_waits"] == 1,
              f"range-class prefetch waits {before['range_waits']} -> {after['range_waits']}")
        check(after["range_hints"] > before["range_hints"],
              f"range-class WILLNEED hints {before['range_hints']} -> {after['range_hints']}")

shutil.rmtree(root)
done()

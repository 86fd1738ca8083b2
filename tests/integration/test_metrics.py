"""test_metrics.py - GET /metrics on the real mmapd binary.

Format: `promtool check metrics` accepts the text 0.0.4 output before and after traffic; the
OpenMetrics output (negotiated with Accept) passes the strict parser of python3-prometheus-client
and ends with "# EOF"; other Accept values get text 0.0.4; POST gives 405.
Counters: every family moves by exactly what the test did (requests by handler, method and
code, response bytes, range outcomes, duration histograms). Cold versus warm: a freshly
written, evicted file counts page-cache miss bytes, major faults and WILLNEED hints; served
again warm it counts no miss bytes. --instrument off and basic record what they promise.
Build and process metrics are present and plausible.

promtool (Debian package prometheus), python3-prometheus-client and fincore (util-linux) are
required: the test fails when one is missing.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from harness import Server, check, curl, done, make_root

TEXT_CT = "text/plain; version=0.0.4; charset=utf-8"
OM_CT = "application/openmetrics-text; version=1.0.0; charset=utf-8"
OM_ACCEPT = "application/openmetrics-text;version=1.0.0"
PROMTOOL = shutil.which("promtool")
FINCORE = shutil.which("fincore")


def om_parser():
    """The strict OpenMetrics parser of prometheus_client (Debian: python3-prometheus-client,
    for /usr/bin/python3, which ctest uses), or None."""
    try:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
        return text_string_to_metric_families
    except ImportError:
        return None


OM_PARSE = om_parser()
check(PROMTOOL is not None, "promtool not found: install the Debian package 'prometheus'")
check(OM_PARSE is not None,
      "prometheus_client not importable: install the Debian package 'python3-prometheus-client'")
check(FINCORE is not None, "fincore not found: install the Debian package 'util-linux'")

SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)')


def parse(text):
    """Samples of an exposition: {(name, frozenset of label pairs): float}. Fails on lines
    that are neither comments nor samples, and on a sample given twice."""
    out = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.fullmatch(line)
        if not check(m is not None, f"unparsable exposition line {line!r}"):
            continue
        labels, pos = [], 0
        body = m.group(2) or ""
        while pos < len(body):
            lm = LABEL.match(body, pos)
            if not check(lm is not None, f"unparsable labels in {line!r}"):
                break
            labels.append((lm.group(1), lm.group(2)))
            pos = lm.end()
        key = (m.group(1), frozenset(labels))
        check(key not in out, f"sample given twice: {line!r}")
        out[key] = float(m.group(3))
    return out


def get(samples, name, **labels):
    """A sample's value, or None when absent."""
    return samples.get((name, frozenset(labels.items())))


def val(samples, name, **labels):
    """A sample's value; an absent counter series counts as 0."""
    v = get(samples, name, **labels)
    return 0.0 if v is None else v


def scrape(srv, accept=None):
    """GET /metrics; returns (status, headers, text). accept=None sends no Accept header.
    Waits a moment first so that requests already answered have run their completion
    callback (where they are counted)."""
    time.sleep(0.05)
    header = f"Accept: {accept}" if accept else "Accept:"  # "Accept:" makes curl send none
    status, h, body, _ = curl(srv.url("/metrics"), "-H", header)
    return status, h, body.decode("utf-8")


def samples_of(srv):
    status, h, text = scrape(srv)
    check(status == 200, f"/metrics: {status}")
    return parse(text), len(text.encode())


def promtool_check(text, when):
    if not PROMTOOL:
        return
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=60)
    check(p.returncode == 0 and not p.stdout and not p.stderr,
          f"promtool check metrics ({when}): exit {p.returncode}, "
          f"out {p.stdout.decode()!r} err {p.stderr.decode()!r}")


def openmetrics_check(srv, when):
    status, h, text = scrape(srv, OM_ACCEPT)
    check(status == 200, f"OpenMetrics scrape ({when}): {status}")
    check(h.get("content-type") == OM_CT,
          f"OpenMetrics content type ({when}): {h.get('content-type')}")
    check(text.endswith("# EOF\n") and text.count("# EOF") == 1,
          f"OpenMetrics body ({when}) does not end with one '# EOF': ...{text[-80:]!r}")
    if not OM_PARSE:
        return
    try:
        families = list(OM_PARSE(text))
    except Exception as e:  # the parser raises ValueError and others for any violation
        check(False, f"strict OpenMetrics parser rejected the output ({when}): {e!r}")
        return
    names = {f.name for f in families}
    for want in ("mmapd_http_requests", "mmapd_http_request_duration_seconds",
                 "mmapd_http_response_bytes", "mmapd_page_faults", "mmapd_build_info",
                 "process_cpu_seconds", "process_start_time_seconds"):
        check(want in names, f"OpenMetrics ({when}): no family {want}; got {sorted(names)}")
    for f in families:
        if f.name == "mmapd_http_request_duration_seconds":
            check(f.type == "histogram", f"duration family type {f.type}")


def check_histograms(samples, when):
    """Every duration histogram: cumulative buckets in le order, +Inf bucket == _count."""
    buckets = {}
    for (name, labels), v in samples.items():
        if name == "mmapd_http_request_duration_seconds_bucket":
            d = dict(labels)
            buckets.setdefault(d["handler"], []).append((float(d["le"]), v))
    check(len(buckets) >= 1, f"no duration histogram ({when})")
    for handler, bs in buckets.items():
        bs.sort()
        check(bs[-1][0] == float("inf"), f"{handler}: no +Inf bucket ({when})")
        check(all(a[1] <= b[1] for a, b in zip(bs, bs[1:])),
              f"{handler}: buckets not cumulative ({when}): {bs}")
        count = get(samples, "mmapd_http_request_duration_seconds_count", handler=handler)
        check(count == bs[-1][1], f"{handler}: +Inf bucket {bs[-1][1]} != _count {count} ({when})")
        total = get(samples, "mmapd_http_request_duration_seconds_sum", handler=handler)
        check(total is not None and total >= 0 and (count > 0 or total == 0),
              f"{handler}: _sum {total} with _count {count} ({when})")


def requests_of(samples, handler):
    return sum(v for (name, labels), v in samples.items()
               if name == "mmapd_http_requests_total" and dict(labels)["handler"] == handler)


def write_cold_file(path, size):
    """Writes a new file, flushes it and drops it from the page cache. Returns the bytes
    still resident per fincore, or None when fincore is missing."""
    with open(path, "wb") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    if not FINCORE:
        return None
    p = subprocess.run([FINCORE, "--bytes", "--noheadings", "--output", "RES", path],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, f"fincore {path}: {p.returncode} {p.stderr}")
    try:
        return int(p.stdout.split()[0])
    except (IndexError, ValueError):
        check(False, f"fincore output {p.stdout!r}")
        return None


root, files = make_root()
tmp_roots = [root]
SIZE = len(files["data.bin"])

# ---- format, negotiation, counters ----
with Server(root) as s:
    # before any traffic
    status, h, text = scrape(s)
    check(status == 200 and h.get("content-type") == TEXT_CT, f"no Accept: {status} {h}")
    promtool_check(text, "before traffic")
    openmetrics_check(s, "before traffic")
    for accept in ("application/json", "*/*", "text/plain", "text/plain;version=0.0.4",
                   "application/openmetrics-text;q=0"):
        status, h, text = scrape(s, accept)
        check(status == 200 and h.get("content-type") == TEXT_CT,
              f"Accept {accept}: {status} {h.get('content-type')}")
        check("# EOF" not in text, f"Accept {accept}: text format with an EOF line")
    status, h, body, _ = curl(s.url("/metrics"), "-X", "POST", "-d", "x=1")
    check(status == 405 and h.get("allow") == "GET, HEAD", f"POST /metrics: {status} {h}")
    status, h, body, _ = curl(s.url("/metrics"), "-I")  # (curl -I prints the head as body)
    check(status == 200 and h.get("content-type") == TEXT_CT, f"HEAD /metrics: {status} {h}")

    # build and process metrics
    before, before_len = samples_of(s)
    ver = subprocess.run([s.args[0], "--version"], capture_output=True, text=True).stdout
    m = re.match(r"mmapd (\S+) \(libmicrohttpd (\S+), jansson (\S+)\)", ver)
    check(m is not None, f"--version: {ver!r}")
    if m:
        check(get(before, "mmapd_build_info", version=m.group(1), libmicrohttpd="0.9.75",
                  jansson=m.group(3)) == 1,
              f"mmapd_build_info{{version={m.group(1)},libmicrohttpd=0.9.75,jansson={m.group(3)}}} "
              f"!= 1: {[k for k in before if k[0] == 'mmapd_build_info']}")
    check(get(before, "process_cpu_seconds_total") is not None, "no process_cpu_seconds_total")
    check((get(before, "process_resident_memory_bytes") or 0) > 0, "process_resident_memory_bytes")
    check((get(before, "process_open_fds") or 0) > 0, "process_open_fds")
    check((get(before, "process_max_fds") or 0) >= (get(before, "process_open_fds") or 1),
          f"process_max_fds {get(before, 'process_max_fds')}")
    start = get(before, "process_start_time_seconds")
    check(start is not None and abs(start - time.time()) < 60,
          f"process_start_time_seconds {start} vs now {time.time()}")
    check(get(before, "mmapd_http_requests_in_flight") == 1,
          f"in flight during a lone scrape: {get(before, 'mmapd_http_requests_in_flight')}")

    def delta(name, **labels):
        return val(after, name, **labels) - val(before, name, **labels)

    def expect(name, want, **labels):
        got = delta(name, **labels)
        check(got == want, f"{name}{labels}: grew by {got}, expected {want}")

    R = "mmapd_http_requests_total"
    B = "mmapd_http_response_bytes_total"
    G = "mmapd_range_requests_total"
    H = "mmapd_http_request_duration_seconds"

    # N GETs of one file: +N requests, +N*size bytes, +N durations, nothing else but the scrape
    N = 5
    for _ in range(N):
        status, h, body, _ = curl(s.url("/files/data.bin"))
        check(status == 200 and len(body) == SIZE, f"GET data.bin: {status} {len(body)}")
    after, _ = samples_of(s)
    expect(R, N, handler="files", method="GET", code="200")
    check(requests_of(after, "files") - requests_of(before, "files") == N, "only GET 200 grew")
    expect(B, N * SIZE, handler="files")
    expect(H + "_count", N, handler="files")
    expect(H + "_bucket", N, handler="files", le="+Inf")
    for kind in ("single", "multi", "unsatisfiable", "ignored"):
        expect(G, 0, kind=kind)
    expect(R, 1, handler="metrics", method="GET", code="200")
    for handler in ("health", "other", "sample", "list"):
        check(requests_of(after, handler) == requests_of(before, handler), f"{handler} grew")
    expect(B, before_len, handler="metrics")

    # every other outcome once, counting what each request should add
    before, before_len = samples_of(s)
    files_bytes = 0
    status, h, body, _ = curl(s.url("/files/data.bin"), "-I")
    check(status == 200 and h.get("content-length") == str(SIZE), f"HEAD data.bin: {status} {h}")
    status, h, body, _ = curl(s.url("/files/data.bin"), "-r", "0-99")
    check(status == 206 and len(body) == 100, f"single range: {status} {len(body)}")
    files_bytes += len(body)
    status, h, body, _ = curl(s.url("/files/data.bin"), "-r", "0-9,1000-1009")
    check(status == 206 and h.get("content-type", "").startswith("multipart/byteranges"),
          f"multi range: {status} {h}")
    files_bytes += len(body)
    status, h, body, _ = curl(s.url("/files/data.bin"), "-r", f"{SIZE + 10}-")
    check(status == 416, f"unsatisfiable range: {status}")
    files_bytes += len(body)
    status, h, body, _ = curl(s.url("/files/data.bin"), "-H", "Range: bytes=5-1")
    check(status == 200 and len(body) == SIZE, f"invalid range: {status} {len(body)}")
    files_bytes += len(body)
    status, h, body, _ = curl(s.url("/files/no-such-file"))
    check(status == 404, f"missing file: {status}")
    files_bytes += len(body)
    files_requests = 6
    status, h, body, _ = curl(s.url("/no/such/path"))
    check(status == 404, f"unknown path: {status}")
    other_bytes = len(body)
    status, h, body, _ = curl(s.url("/healthz"))
    check(status == 200, f"/healthz: {status}")
    health_bytes = len(body)

    after, _ = samples_of(s)
    expect(R, 1, handler="files", method="GET", code="200")  # the invalid Range
    expect(R, 1, handler="files", method="HEAD", code="200")
    expect(R, 2, handler="files", method="GET", code="206")
    expect(R, 1, handler="files", method="GET", code="416")
    expect(R, 1, handler="files", method="GET", code="404")
    expect(R, 1, handler="other", method="GET", code="404")
    expect(R, 1, handler="health", method="GET", code="200")
    # the previous scrape is counted once it completed; the current one is not yet
    expect(R, 1, handler="metrics", method="GET", code="200")
    check(requests_of(after, "files") - requests_of(before, "files") == files_requests,
          f"files requests grew by {requests_of(after, 'files') - requests_of(before, 'files')}")
    check(requests_of(after, "other") - requests_of(before, "other") == 1, "other requests")
    expect(B, files_bytes, handler="files")
    expect(B, other_bytes, handler="other")
    expect(B, health_bytes, handler="health")
    expect(B, before_len, handler="metrics")
    expect(G, 1, kind="single")
    expect(G, 1, kind="multi")
    expect(G, 1, kind="unsatisfiable")
    expect(G, 1, kind="ignored")
    expect(H + "_count", files_requests, handler="files")
    expect(H + "_bucket", files_requests, handler="files", le="+Inf")
    expect(H + "_count", 1, handler="health")
    expect(H + "_count", 1, handler="other")
    expect(H + "_count", 1, handler="metrics")
    check(delta(H + "_sum", handler="files") > 0, "files duration _sum did not grow")
    check_histograms(before, "before traffic")
    check_histograms(after, "after traffic")
    check(get(after, "mmapd_http_requests_in_flight") == 1, "in flight after traffic")
    # bodies of at most 1 MiB are read from the open file, not mapped: one file cached, open
    check(get(after, "mmapd_mapped_files") == 0 and get(after, "mmapd_mapped_bytes") == 0,
          f"mapped: {get(after, 'mmapd_mapped_files')} files, "
          f"{get(after, 'mmapd_mapped_bytes')} bytes")
    check(get(after, "mmapd_file_cache_entries") == 1 and get(after, "mmapd_open_files") == 1,
          f"cached: {get(after, 'mmapd_file_cache_entries')} entries, "
          f"{get(after, 'mmapd_open_files')} open files")
    check(get(after, "mmapd_file_cache_misses_total") == 1 and
          get(after, "mmapd_file_cache_admissions_total") == 1 and
          delta("mmapd_file_cache_hits_total") == files_requests - 1,
          "one miss (admitted), then a hit for every files request but the 404")

    # a HEAD adds to method="HEAD" and no bytes
    before, _ = samples_of(s)
    curl(s.url("/files/data.bin"), "-I")
    after, _ = samples_of(s)
    expect(R, 1, handler="files", method="HEAD", code="200")
    expect(R, 0, handler="files", method="GET", code="200")
    expect(B, 0, handler="files")

    # the format still holds with every family populated
    status, h, text = scrape(s)
    promtool_check(text, "after traffic")
    openmetrics_check(s, "after traffic")

# ---- cold versus warm: one HTTP thread, so its fault counts belong to the request ----
root_cold = tempfile.mkdtemp(prefix="mmapd-root-cold-")
tmp_roots.append(root_cold)
# the stream class's WILLNEED read-ahead (not a default: docs/operating.md, Hints) is what is checked here
with Server(root_cold, args=["--threads", "1", "--advice", "stream=sequential,willneed"]) as s:
    m = re.search(r"read-ahead=(\d+)KiB", s.read_log())
    window = int(m.group(1)) * 1024 if m else 128 * 1024
    # longer than one batch of WILLNEED hints (4 windows): the read-ahead must go on
    size = 8 * 2**20 + min(4 * window, 64 * 2**20)
    path = os.path.join(root_cold, "cold.bin")
    resident = write_cold_file(path, size)
    if resident is None:
        pass  # fincore missing: already a failure
    elif resident != 0:
        print(f"SKIP cold/warm: eviction with POSIX_FADV_DONTNEED did not work here "
              f"({resident} of {size} bytes still resident)", file=sys.stderr)
    else:
        F = "mmapd_page_cache_miss_bytes_total"
        MAJ = "mmapd_page_faults_total"
        W = "mmapd_madvise_calls_total"
        s0, _ = samples_of(s)
        status, h, body, _ = curl(s.url("/files/cold.bin"))
        check(status == 200 and len(body) == size, f"cold GET: {status} {len(body)} bytes")
        s1, _ = samples_of(s)
        miss = val(s1, F, handler="files") - val(s0, F, handler="files")
        # the first window's, not a window per block; a few pages more when a page read ahead
        # was dropped again before the copy reached it (these VMs' page cache drifts out pages
        # nothing has touched yet: seen once, 4 KiB over, under ASan)
        check(0 < miss <= min(window, size) + 16 * 4096,
              f"cold GET: miss bytes grew by {miss} (window {window})")
        major = (val(s1, MAJ, handler="files", type="major") -
                 val(s0, MAJ, handler="files", type="major"))
        # the helpers read the file in ahead of the copy: a cold request, faults or not
        cold = (val(s1, "mmapd_cold_requests_total", handler="files") -
                val(s0, "mmapd_cold_requests_total", handler="files"))
        check(cold == 1, f"cold GET: cold requests grew by {cold}")
        hints = (val(s1, W, **{"class": "stream", "advice": "willneed", "result": "ok"}) -
                 val(s0, W, **{"class": "stream", "advice": "willneed", "result": "ok"}))
        check(hints > 0, f"cold GET: WILLNEED calls grew by {hints}")
        print(f"cold GET of {size} bytes: {miss:.0f} miss bytes, {major:.0f} major faults, "
              f"{hints:.0f} WILLNEED calls (window {window})")
        check(val(s1, W, **{"class": "stream", "advice": "sequential", "result": "ok"}) >= 1,
              "no MADV_SEQUENTIAL counted for the new mapping")
        status, h, body, _ = curl(s.url("/files/cold.bin"))
        check(status == 200 and len(body) == size, f"warm GET: {status} {len(body)} bytes")
        s2, _ = samples_of(s)
        warm = val(s2, F, handler="files") - val(s1, F, handler="files")
        check(warm == 0, f"warm GET: miss bytes grew by {warm}")
        hints2 = (val(s2, W, **{"class": "stream", "advice": "willneed", "result": "ok"}) -
                  val(s1, W, **{"class": "stream", "advice": "willneed", "result": "ok"}))
        check(hints2 == 0, f"warm GET: WILLNEED calls grew by {hints2}")
        check(val(s2, "mmapd_http_requests_total", handler="files", method="GET", code="200") == 2,
              "cold and warm GETs not both counted")

# ---- --instrument off: nothing per request ----
with Server(root, args=["--instrument", "off"]) as s:
    before, _ = samples_of(s)
    for path in ("/files/data.bin", "/files/small.txt", "/healthz", "/nope"):
        curl(s.url(path))
    curl(s.url("/files/data.bin"), "-r", "0-9")
    after, _ = samples_of(s)
    status, h, text = scrape(s)
    check(re.search(r"^mmapd_http_requests_total", text, re.M) is None,
          "--instrument off: mmapd_http_requests_total has samples")
    check("# TYPE mmapd_http_requests_total counter" in text, "--instrument off: family missing")
    for handler in ("files", "health", "other", "metrics"):
        check(val(after, "mmapd_http_response_bytes_total", handler=handler) == 0,
              f"--instrument off: {handler} bytes counted")
        check(val(after, "mmapd_http_request_duration_seconds_count", handler=handler) == 0,
              f"--instrument off: {handler} durations counted")
        check(val(after, "mmapd_page_cache_miss_bytes_total", handler=handler) == 0,
              f"--instrument off: {handler} miss bytes counted")
    promtool_check(text, "--instrument off")

# ---- --instrument basic: counts, bytes and durations; no faults, no miss bytes ----
root_basic = tempfile.mkdtemp(prefix="mmapd-root-basic-")
tmp_roots.append(root_basic)
with open(os.path.join(root_basic, "small.txt"), "wb") as f:
    f.write(b"basic\n")
with Server(root_basic, args=["--instrument", "basic"]) as s:
    write_cold_file(os.path.join(root_basic, "cold.bin"), 4 * 2**20)
    before, _ = samples_of(s)
    for _ in range(3):
        curl(s.url("/files/small.txt"))
    status, h, body, _ = curl(s.url("/files/cold.bin"))
    check(status == 200 and len(body) == 4 * 2**20, f"basic: cold GET {status} {len(body)}")
    after, _ = samples_of(s)
    got = (val(after, "mmapd_http_requests_total", handler="files", method="GET", code="200") -
           val(before, "mmapd_http_requests_total", handler="files", method="GET", code="200"))
    check(got == 4, f"--instrument basic: files requests grew by {got}, expected 4")
    got = (val(after, "mmapd_http_response_bytes_total", handler="files") -
           val(before, "mmapd_http_response_bytes_total", handler="files"))
    check(got == 3 * 6 + 4 * 2**20, f"--instrument basic: files bytes grew by {got}")
    check(val(after, "mmapd_http_request_duration_seconds_count", handler="files") == 4,
          "--instrument basic: files durations")
    for handler in ("files", "sample", "list", "metrics", "health", "other"):
        for kind in ("minor", "major"):
            check(val(after, "mmapd_page_faults_total", handler=handler, type=kind) == 0,
                  f"--instrument basic: {handler} {kind} faults counted")
        check(val(after, "mmapd_page_cache_miss_bytes_total", handler=handler) == 0,
              f"--instrument basic: {handler} miss bytes counted")

for d in tmp_roots:
    shutil.rmtree(d, ignore_errors=True)
done()

"""test_access_log.py - the access log (--access-log, --access-log-format) on the real binary:
- a table of hostile requests over raw sockets (invalid UTF-8, control characters, quotes,
  backslashes, a 100 KB path, a huge Range header): every line parses as JSON, gives back the
  bytes sent (Latin-1, one code point per byte), is cut with a marker where it must be, and
  carries the X-Request-Id the response carried; no line holds the bearer token;
- X-Request-Id: a well-formed incoming one is kept, others replaced;
- the combined format: every line matches Apache's combined layout, hostile bytes as \\xHH;
- file size, ranges, cold requests and their prefetch wait, TLS version;
- logrotate's rename then SIGUSR1 under load from concurrent keep-alive clients: every request
  made has exactly one line across the files, and the count equals /metrics' request count;
- SIGHUP beside it: the log's options need a restart and say so, the reloaded tokens show in
  the next lines, a SIGUSR1 after the reload loses nothing;
- /dev/full: writes fail, they are counted, every request is still served;
- bad values exit 2 with one line; --check-config checks the destination without creating it.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

from harness import (BIN, Server, check, curl, done, evict, make_root, metric_total,
                     metric_value, parse_responses, raw)

root, files = make_root()
work = tempfile.mkdtemp(prefix="mmapd-accesslog-")
TOKEN = "s3cr3t-t0ken-abcdefghijklmnop"
token_file = os.path.join(work, "tokens")
with open(token_file, "w") as f:
    f.write(TOKEN + "\n")
AUTH = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
ID_RE = re.compile(r"^[0-9a-f]{16}-[0-9a-f]+-[0-9a-f]+$")  # the ids mmapd makes


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    check(data == b"" or data.endswith(b"\n"), f"{path}: does not end with a newline")
    return data.split(b"\n")[:-1] if data else []


def parse_json_lines(lines, what):
    docs = []
    for line in lines:
        try:
            docs.append(json.loads(line))
        except ValueError as e:
            check(False, f"{what}: not JSON ({e}): {line[:200]!r}")
    return docs


def request(target, headers=b"", method=b"GET"):
    return method + b" " + target + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"Connection: close\r\n\r\n"


# ---- hostile requests, JSON -------------------------------------------------------------------
huge_path = b"/files/" + b"\xff\"\\\x01" * 25_000  # 100 KB of the worst bytes
huge_range = b"bytes=" + b",".join(b"%d-%d" % (2 * i, 2 * i) for i in range(5000))  # 40 KB
CASES = [  # (name, target, extra headers)
    ("plain", b"/files/small.txt", AUTH),
    ("invalid utf-8", b"/files/\xff\xfe\xc3(\xed\xa0\x80.txt", AUTH),
    ("valid utf-8", b"/files/caf\xc3\xa9.txt?q=\xe2\x82\xac", AUTH),
    ("control chars", b"/files/a\x01\x1b[31m\x7fb", AUTH),
    ("quotes and backslashes", b'/files/a"b\\c\\"d?x="\\', AUTH),
    ("percent-encoded", b"/files/%00%0a%22%5c%ff?%0d%0a=1", AUTH),
    ("100 KB path", huge_path, AUTH),
    ("huge range", b"/files/data.bin", AUTH + b"Range: " + huge_range + b"\r\n"),
    ("hostile user agent", b"/files/small.txt",
     AUTH + b"User-Agent: \xff\"\\\x01\x7f\xc3\xa9 {\"x\":1}\r\nReferer: \"\\\xfe\r\n"),
    ("token in the query", b"/files/small.txt?access_token=" + TOKEN.encode(), b""),
    ("no token", b"/files/small.txt", b""),
    ("wrong token", b"/files/small.txt", b"Authorization: Bearer " + TOKEN[::-1].encode() + b"\r\n"),
    ("absolute form", b"http://example.org/files/small.txt", AUTH),
    ("bad method", b"/files/small.txt", AUTH, b"G\"ET"),
    ("healthz", b"/healthz", b""),
]

log_json = os.path.join(work, "access.json.log")
sent = []  # (name, target, status, request id or None)
with Server(root, args=["--access-log", log_json, "--auth-token-file", token_file,
                        "--connection-memory", "256K", "--threads", "2"]) as s:
    for case in CASES:
        name, target, headers = case[:3]
        method = case[3] if len(case) > 3 else b"GET"
        data = raw(s.port, request(target, headers, method))
        resp = parse_responses(data)
        check(len(resp) == 1, f"[{name}] expected one response, got {data[:100]!r}")
        st, h, _ = resp[0] if resp else (0, {}, b"")
        sent.append((name, target, st, h.get("x-request-id")))
        check(st != 0, f"[{name}] no status")
    # curl with the token, the usual way
    st, h, _, _ = curl(s.url("/files/small.txt"), "-H", f"Authorization: Bearer {TOKEN}")
    check(st == 200 and ID_RE.match(h.get("x-request-id", "")), f"curl: {st} {h}")
    # X-Request-Id kept when well formed, replaced otherwise
    for rid, kept in [("lb-0f3c9a8e-1b2d_4c5e.8f70", True), ("Root=1-6789/ab+c=@~:", True),
                      ("x" * 128, True), ("x" * 129, False), ("has space", False),
                      ("quo\"te", False), ("caf\xe9", False), ("", False)]:
        data = raw(s.port, request(b"/healthz", b"X-Request-Id: " + rid.encode("latin-1") + b"\r\n"))
        resp = parse_responses(data)
        got = resp[0][1].get("x-request-id") if resp else None
        if kept:
            check(got == rid, f"X-Request-Id {rid!r} not kept: {got!r}")
        else:
            check(got and got != rid and ID_RE.match(got), f"X-Request-Id {rid!r} not replaced: {got!r}")
        sent.append((f"request id {rid[:20]!r}", b"/healthz", 200, got))
    # every response carries one, errors included
    st, h, _, _ = curl(s.url("/nope"))
    check(st == 404 and "x-request-id" in h, f"404 without X-Request-Id: {h}")
    sent.append(("404", b"/nope", 404, h.get("x-request-id")))
    served = metric_total(s.metrics_text(), "mmapd_http_requests_total")

lines = read_lines(log_json)
docs = parse_json_lines(lines, "json")
raw_log = b"\n".join(lines)
check(TOKEN.encode() not in raw_log.replace(b"access_token=" + TOKEN.encode(), b""),
      "the bearer token appears in the access log outside the query it was sent in")
check(TOKEN[::-1].encode() not in raw_log, "a presented (wrong) token appears in the log")
check(b"Bearer" not in raw_log and b"Authorization" not in raw_log, "Authorization in the log")
by_id = {d.get("request_id"): d for d in docs}
check(len(by_id) == len(docs), "request ids repeat")
for name, target, st, rid in sent:
    d = by_id.get(rid) if rid else None
    if not rid:  # answered by libmicrohttpd itself (400): found by status and target
        d = next((x for x in docs if x["status"] == st and x.get("method") is None), None)
        check(d is not None, f"[{name}] status {st} answered by libmicrohttpd: no line")
        continue
    if not check(d is not None, f"[{name}] no line with request id {rid}"):
        continue
    check(d["status"] == st, f"[{name}] status {d['status']} in the log, {st} sent")
    logged = d["target"].encode("latin-1")
    if d.get("target_truncated"):
        check(len(target) > 1000 and target.startswith(logged) and len(logged) > 300,
              f"[{name}] truncated target is not a prefix: {logged[:60]!r}")
    else:
        check(logged == target, f"[{name}] target {logged[:80]!r} != sent {target[:80]!r}")
    for key in ("time", "remote", "status", "bytes", "file_size", "range", "ranges", "cold",
                "prefetch_wait_ms", "duration_ms", "request_id", "user_agent", "tls", "outcome"):
        check(key in d, f"[{name}] no field {key}")
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", d["time"]), f"[{name}] time {d['time']}")
    check(d["remote"] == "127.0.0.1" and d["outcome"] == "completed", f"[{name}] {d}")
    if name == "100 KB path":
        check(d.get("target_truncated") is True, "100 KB path not marked truncated")
    if name == "huge range":
        check(d.get("range_truncated") is True and d["range"].startswith("bytes=0-0,2-2"),
              f"huge range: {d['range'][:40]!r} {d.get('range_truncated')}")
        check(d["file_size"] == len(files["data.bin"]), f"huge range: file_size {d['file_size']}")
    if name == "hostile user agent":
        check(d["user_agent"].encode("latin-1") == b"\xff\"\\\x01\x7f\xc3\xa9 {\"x\":1}",
              f"user agent {d['user_agent']!r}")
    if name == "plain":
        check(d["file_size"] == len(files["small.txt"]) and d["bytes"] == len(files["small.txt"])
              and d["method"] == "GET" and d["range"] is None and d["tls"] is None, f"plain: {d}")
# libmicrohttpd's own answers are logged but not in mmapd_http_requests_total; the /metrics
# request is logged but counted after it rendered
by_mhd = sum(1 for x in sent if not x[3])
check(len(docs) == served + 1 + by_mhd,
      f"{len(docs)} lines; /metrics counted {served} requests, libmicrohttpd answered {by_mhd}")

# ---- combined format ---------------------------------------------------------------------------
COMBINED = re.compile(rb'^\S+ - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                      rb'"(?:[^"\\]|\\x[0-9a-f]{2})*" \d{3} (?:\d+|-) '
                      rb'"(?:[^"\\]|\\x[0-9a-f]{2})*" "(?:[^"\\]|\\x[0-9a-f]{2})*"$')
log_combined = os.path.join(work, "access.combined.log")
with Server(root, args=["--access-log", log_combined, "--access-log-format", "combined",
                        "--auth-token-file", token_file, "--connection-memory", "256K"]) as s:
    for case in CASES:
        raw(s.port, request(case[1], case[2], case[3] if len(case) > 3 else b"GET"))
lines = read_lines(log_combined)
check(len(lines) == len(CASES), f"combined: {len(lines)} lines for {len(CASES)} requests")
for line in lines:
    check(COMBINED.match(line) and all(0x20 <= b < 0x7f for b in line),
          f"combined line does not match: {line[:200]!r}")
check(not any(TOKEN.encode() in l and b"access_token" not in l for l in lines), "token in combined log")
check(any(b'"GET /files/a\\x22b\\x5cc\\x5c\\x22d?x=\\x22\\x5c HTTP/1.1" 404' in l for l in lines),
      "combined: quotes and backslashes not escaped as \\xHH")
check(any(b"..." in l and len(l) < 4096 for l in lines), "combined: the 100 KB path not cut with ...")

# ---- cold requests, TLS ------------------------------------------------------------------------
cold_path = os.path.join(root, "cold.bin")
with open(cold_path, "wb") as f:
    f.write(os.urandom(4 << 20))
    f.flush()
    os.fsync(f.fileno())
log_cold = os.path.join(work, "access.cold.log")
with Server(root, args=["--access-log", log_cold, "--advice", "range=willneed"],
            env={"MMAPD_TEST_HINT_DELAY_MS": "willneed=50"}) as s:
    # the kernel's read-ahead, which the page-cache-only read starts, can bring the ranges in
    # before that read looks again (on a loaded machine): evicted and asked again, up to 5
    # times, until a request is found cold; the last request's line is the one checked
    for attempt in range(5):
        evict(cold_path)
        st, h, body, _ = curl(s.url("/files/cold.bin"), "-r", "1048576-1052671,2097152-2101247")
        check(st == 206, f"cold: {st}")
        cold_counted = metric_total(s.metrics_text(), "mmapd_cold_requests_total")
        if cold_counted:
            break
docs = parse_json_lines(read_lines(log_cold), "cold")
d = ([x for x in docs if x["target"] == "/files/cold.bin"] or [{}])[-1]
check(d.get("cold") is (cold_counted == 1) and cold_counted == 1 and d.get("prefetch_wait_ms", 0) >= 40 and d.get("ranges") == 2
      and d.get("file_size") == 4 << 20 and d.get("duration_ms", 0) >= d.get("prefetch_wait_ms", 1),
      f"cold request line: {d}")

os.chdir(work)
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-subj", "/CN=localhost", "-days", "2"],
               check=True, capture_output=True)
log_tls = os.path.join(work, "access.tls.log")
with Server(root, args=["--access-log", log_tls, "--tls-cert", "c.pem", "--tls-key", "k.pem"]) as s:
    st, h, _, _ = curl(s.url("/files/small.txt"), "-k", "--tlsv1.3")
    check(st == 200 and "x-request-id" in h, f"TLS: {st}")
docs = parse_json_lines(read_lines(log_tls), "tls")
check(docs and docs[-1].get("tls") == "TLS1.3", f"TLS version: {docs[-1] if docs else None}")

# ---- rename + SIGUSR1 under load ---------------------------------------------------------------
log_rot = os.path.join(work, "access.rot.log")
CLIENTS, PER_CLIENT = 4, 400
made = [0] * CLIENTS
errors = []


def client(k):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for i in range(PER_CLIENT):
            conn.request("GET", "/files/data.bin", headers={
                "Range": f"bytes={4096 * (i % 64)}-{4096 * (i % 64) + 4095}",
                "X-Request-Id": f"c{k}-{i}"})
            r = conn.getresponse()
            r.read()
            if r.status != 206 or r.getheader("X-Request-Id") != f"c{k}-{i}":
                errors.append((k, i, r.status))
            made[k] += 1
    except Exception as e:  # counted: the check below fails
        errors.append((k, repr(e)))
    conn.close()


with Server(root, args=["--access-log", log_rot, "--threads", "2"]) as s:
    port = s.port
    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    rotated = []
    for n in range(1, 4):
        time.sleep(0.15)
        if not check(os.path.exists(log_rot), f"no new file after SIGUSR1 number {n - 1}"):
            break
        os.rename(log_rot, f"{log_rot}.{n}")
        rotated.append(f"{log_rot}.{n}")
        s.proc.send_signal(signal.SIGUSR1)
    for t in threads:
        t.join()
    served = metric_total(s.metrics_text(), "mmapd_http_requests_total")
    check(s.read_log().count("access log reopened") == 3, "three reopen lines expected")
check(not errors, f"rotation clients: {errors[:5]}")
all_docs = []
for p in rotated + [log_rot] * os.path.exists(log_rot):
    ds = parse_json_lines(read_lines(p), p)
    print(f"{os.path.basename(p)}: {len(ds)} lines")
    all_docs += ds
ids = [d["request_id"] for d in all_docs]
want = {f"c{k}-{i}" for k in range(CLIENTS) for i in range(PER_CLIENT)}
check(len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} line(s) duplicated")
# each line's header fields are its own request's, read on a keep-alive connection
wrong = [d for d in all_docs if d["request_id"] in want and d["range"] !=
         "bytes=%d-%d" % (4096 * (int(d["request_id"].split("-")[1]) % 64),
                          4096 * (int(d["request_id"].split("-")[1]) % 64) + 4095)]
check(not wrong and all(d["status"] == 206 and d["bytes"] == 4096 and d["ranges"] == 1
                        for d in all_docs if d["request_id"] in want),
      f"lines with another request's range, or not 206 / 4096 bytes: {wrong[:2]}")
check(want <= set(ids), f"{len(want - set(ids))} request(s) without a line")
check(sum(made) == CLIENTS * PER_CLIENT, f"clients made {sum(made)} requests")
# the lines: the clients' requests and the /metrics request (counted by /metrics after it)
check(len(all_docs) == sum(made) + 1 == served + 1,
      f"{len(all_docs)} lines, {sum(made)} requests made, /metrics counted {served}")
check(sum(1 for p in rotated if read_lines(p)) >= 2, "the load did not span the rotations")

# ---- SIGHUP and SIGUSR1 together -------------------------------------------------------------
# A reload leaves the log as it is (its options need a restart, and say so); the tokens it
# reloads apply to the next lines; a reopen after the reload still loses nothing.
log_hup = os.path.join(work, "access.hup.log")
conf = os.path.join(work, "hup.json")
with open(conf, "w") as f:
    json.dump({"access-log": log_hup, "auth-token-file": token_file}, f)
with Server(root, args=["--config", conf]) as s:
    auth = ["-H", f"Authorization: Bearer {TOKEN}"]
    codes = [curl(s.url("/files/small.txt"), *auth)[0] for _ in range(20)]
    with open(token_file, "w") as f:
        f.write("rotated-token-0123456789\n")
    with open(conf, "w") as f:
        json.dump({"access-log": log_hup + ".other", "access-log-format": "combined",
                   "auth-token-file": token_file}, f)
    before = len(s.read_log().splitlines())
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and "reload: done" not in s.read_log():
        time.sleep(0.02)
    new = s.read_log().splitlines()[before:]
    check(any("reload: done" in x for x in new), f"reload with the log on: {new}")
    ignored = [x for x in new if "needs a restart" in x]
    check(len(ignored) == 2 and any("access-log-format changed from 'json' to 'combined'" in x
                                    for x in ignored), f"access-log options need a restart: {new}")
    codes += [curl(s.url("/files/small.txt"), *auth)[0] for _ in range(20)]
    s.proc.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    codes += [curl(s.url("/files/small.txt"), "-H", "Authorization: Bearer rotated-token-0123456789")[0]
              for _ in range(20)]
hup_docs = parse_json_lines(read_lines(log_hup), "after SIGHUP")
check(codes == [200] * 20 + [401] * 20 + [200] * 20, f"statuses around the reload: {codes}")
check([d["status"] for d in hup_docs] == codes,
      f"one JSON line per request, in order, across SIGHUP and SIGUSR1: "
      f"{[d['status'] for d in hup_docs]}")
check(not os.path.exists(log_hup + ".other"), "a reload opened the new access-log path")
with open(token_file, "w") as f:
    f.write(TOKEN + "\n")

# ---- /dev/full ---------------------------------------------------------------------------------
with Server(root, args=["--access-log", "/dev/full", "--threads", "2"]) as s:
    ok = 0
    for i in range(300):
        st, _, body, _ = curl(s.url("/files/small.txt"))
        ok += st == 200 and body == files["small.txt"]
    time.sleep(1.5)  # the main thread's flush
    m = s.metrics_text()
    check(ok == 300, f"/dev/full: {ok} of 300 served")
    fails = metric_value(m, "mmapd_access_log_write_failures_total", 0)
    dropped = metric_value(m, "mmapd_access_log_dropped_lines_total", 0)
    lines_total = metric_value(m, "mmapd_access_log_lines_total", 0)
    check(fails >= 1 and dropped >= 300 and lines_total >= 300,
          f"/dev/full: failures {fails}, dropped {dropped}, lines {lines_total}")
    st, _, _, _ = curl(s.url("/healthz"))
    check(st == 200, "/dev/full: not healthy afterwards")

# ---- bad values --------------------------------------------------------------------------------
cfg = os.path.join(work, "bad.json")
with open(cfg, "w") as f:
    json.dump({"access-log": "/nonexistent-dir/a.log"}, f)
for label, args, env, needle in [
    ("format", ["--access-log-format", "xml"], {}, "--access-log-format"),
    ("unopenable file", ["--access-log", "/nonexistent-dir/a.log"], {}, "cannot open for append"),
    ("directory", ["--access-log", work], {}, "cannot open for append"),
    ("empty", ["--access-log", ""], {}, "--access-log"),
    ("env format", [], {"MMAPD_ACCESS_LOG_FORMAT": "apache"}, "MMAPD_ACCESS_LOG_FORMAT"),
    ("config file", ["--config", cfg], {}, "cannot open for append"),
]:
    p = subprocess.run([BIN, "--listen", "127.0.0.1:0", "--root", root, *args],
                       env={**os.environ, **env}, capture_output=True, timeout=30)
    err = p.stderr.decode()
    check(p.returncode == 2 and err.count("\n") == 1 and err.startswith("mmapd: error: ")
          and needle in err, f"[bad {label}] exit {p.returncode}: {err!r}")

# ---- --check-config: the log's destination is checked, nothing is created ----------------------
fresh = os.path.join(work, "not-yet.log")
ro_dir = os.path.join(work, "read-only")
os.makedirs(ro_dir)
os.chmod(ro_dir, 0o555)
for label, dest, ok in [("a file to be created", fresh, True), ("stdout", "stdout", True),
                        ("no such directory", "/nonexistent-dir/a.log", False),
                        ("a directory", work, False),
                        ("a read-only directory", os.path.join(ro_dir, "a.log"), os.geteuid() == 0)]:
    p = subprocess.run([BIN, "--check-config", "--root", root, "--access-log", dest],
                       capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode()
    if ok:
        check(p.returncode == 0 and "configuration OK" in out, f"[check-config {label}] {out!r}")
    else:
        check(p.returncode == 2 and "cannot open for append" in out and out.count("\n") == 1,
              f"[check-config {label}] exit {p.returncode}: {out!r}")
check(not os.path.exists(fresh), "--check-config created the access log file")

done()

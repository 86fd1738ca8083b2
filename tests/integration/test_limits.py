"""test_limits.py - connection limits and the memory pool, on the real binary over loopback.

--max-connections-per-ip and --max-connections: the connections over a limit get
503 Service Unavailable with Retry-After: 1 and Connection: close on every request (GET /healthz
excepted), and are closed by the server after the answer; once the room for those 503 answers
is full (max(4, N/4) per address, max(16, N/8) in all), new connections are closed at once.
mmapd_connections_rejected_total{reason} moves by exactly the connections refused,
mmapd_connections_open follows the open connections, other addresses are still served, and
after the excess is gone the server serves normally again. Out of descriptors, accepting
pauses with one log line a second and serving resumes once descriptors are free. A request whose headers outgrow
--connection-memory gets libmicrohttpd's 431 and counts as reason="memory_pool". Loopback
addresses 127.0.0.1, .2 and .3 are three clients.
"""
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import time

from harness import Server, check, curl, done, make_root

PROMTOOL = shutil.which("promtool")
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")


def connect(port, src="127.0.0.1"):
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))


def read_response(sock, timeout=10):
    """One Content-Length framed response: (status, headers, body); None when the server
    closed (or reset) the connection before sending anything."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            b = sock.recv(65536)
            if not b:
                break
            data += b
        if b"\r\n\r\n" not in data:
            return None if not data else (0, {}, data)
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(body) < n:
            b = sock.recv(65536)
            if not b:
                break
            body += b
        return int(lines[0].split()[1]), headers, body
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        return None if not data else (0, {}, data)


def get(sock, path):
    """GET `path` on an open connection; the response, or None if the server closed it."""
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    except (ConnectionResetError, BrokenPipeError):
        return None
    return read_response(sock)


def closed_by_server(sock, timeout=5):
    """True when the server closes `sock` within `timeout` seconds without sending more."""
    sock.settimeout(timeout)
    try:
        return sock.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def samples(text):
    out = {}
    for line in text.split("\n"):
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class Scraper:
    """GET /metrics over one served keep-alive connection (a new one might be over a limit)."""

    def __init__(self, port, src):
        self.sock = connect(port, src)
        self.text = ""

    def scrape(self):
        time.sleep(0.05)  # answered requests run their completion callback first
        r = get(self.sock, "/metrics")
        check(r is not None and r[0] == 200, f"/metrics over the held connection: {r and r[:2]}")
        self.text = r[2].decode() if r else ""
        return samples(self.text)

    def rejected(self, reason):
        return self.scrape().get(f'mmapd_connections_rejected_total{{reason="{reason}"}}', -1)

    def wait_open(self, n, limit=5):
        """Waits until mmapd_connections_open is n (the server accepted what the kernel
        queued); returns the last value seen."""
        deadline = time.time() + limit
        while True:
            v = self.scrape().get("mmapd_connections_open", -1)
            if v == n or time.time() > deadline:
                return v
            time.sleep(0.05)

    def close(self):
        self.sock.close()


def promtool_check(text, when):
    if not PROMTOOL:
        print("skip: promtool not found")
        return
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=60)
    check(p.returncode == 0 and not p.stdout and not p.stderr,
          f"promtool check metrics ({when}): {p.returncode} {p.stdout!r} {p.stderr!r}")


def expect_503(r, message, what):
    check(r is not None and r[0] == 503, f"{what}: expected 503, got {r and r[:2]}")
    if not r or r[0] != 503:
        return
    h = r[1]
    check(h.get("retry-after") == "1", f"{what}: Retry-After {h.get('retry-after')!r}")
    check(h.get("connection", "").lower() == "close", f"{what}: Connection {h.get('connection')!r}")
    check(h.get("content-type") == "application/json", f"{what}: {h.get('content-type')!r}")
    try:
        doc = json.loads(r[2])
    except ValueError:
        doc = None
    check(doc == {"error": message, "status": 503}, f"{what}: body {r[2]!r}")


def expect_file(r, body, what):
    check(r is not None and r[0] == 200 and r[2] == body,
          f"{what}: expected 200 and the file, got {r and r[:2]}")


def close_all(socks):
    for s in socks:
        s.close()
    socks.clear()


root, files = make_root()
SMALL = files["small.txt"]

# --- --max-connections-per-ip 2: 2 served per address, 4 more answered 503, then closed -----
with Server(root, args=["--max-connections-per-ip", "2", "--threads", "2"]) as s:
    check("max-connections-per-ip=2 (+4 answered 503)" in s.read_log(),
          f"per-ip: the start line does not show the limits: {s.read_log()!r}")
    sc = Scraper(s.port, "127.0.0.3")
    first = sc.scrape()
    promtool_check(sc.text, "per-ip, before")
    for reason in ("max_connections", "per_ip", "memory_pool"):
        check(first.get(f'mmapd_connections_rejected_total{{reason="{reason}"}}') == 0,
              f"per-ip: {reason} not 0 at start")
    check(first.get("mmapd_connections_open") == 1, f"per-ip: open {first.get('mmapd_connections_open')}")

    held = [connect(s.port) for _ in range(2)]
    for i, c in enumerate(held):
        expect_file(get(c, "/files/small.txt"), SMALL, f"per-ip: held connection {i}")
    before = sc.rejected("per_ip")
    files_503 = sc.scrape().get(
        'mmapd_http_requests_total{handler="files",method="GET",code="503"}', 0)

    # k = 3 connections over the limit from 127.0.0.1
    excess = [connect(s.port) for _ in range(3)]
    for i, c in enumerate(excess[:2]):
        expect_503(get(c, "/files/small.txt"), "too many connections from this address",
                   f"per-ip: excess connection {i}")
        check(closed_by_server(c), f"per-ip: excess connection {i} left open after its 503")
    r = get(excess[2], "/healthz")  # the liveness probe is answered on a refused connection
    check(r is not None and r[0] == 200 and json.loads(r[2]) == {"status": "ok"},
          f"per-ip: /healthz on a refused connection: {r and r[:2]}")
    expect_503(get(excess[2], "/readyz"), "too many connections from this address",
               "per-ip: /readyz on a refused connection")
    check(closed_by_server(excess[2]), "per-ip: refused connection left open after its 503")
    close_all(excess)
    after = sc.scrape()
    now = after.get('mmapd_connections_rejected_total{reason="per_ip"}')
    check(now == before + 3, f"per-ip: rejected per_ip moved from {before} to {now}, expected +3")
    check(after.get('mmapd_connections_rejected_total{reason="max_connections"}') == 0,
          "per-ip: max_connections moved")
    check(after.get('mmapd_http_requests_total{handler="files",method="GET",code="503"}', 0)
          == files_503 + 2, "per-ip: the two 503 answers to /files are not in the request counts")
    promtool_check(sc.text, "per-ip, after rejections")

    # another address is served, with its own 2, and curl from it too
    other = [connect(s.port, "127.0.0.2") for _ in range(2)]
    for i, c in enumerate(other):
        expect_file(get(c, "/files/small.txt"), SMALL, f"per-ip: 127.0.0.2 connection {i}")
    st, _, body, _ = curl(s.url("/healthz"), "--interface", "127.0.0.3")
    check(st == 200, f"per-ip: /healthz from 127.0.0.3: {st}")
    close_all(other)
    # the held connections are still served
    for i, c in enumerate(held):
        expect_file(get(c, "/files/small.txt"), SMALL, f"per-ip: held connection {i} again")

    # the excess is gone: a third connection from 127.0.0.1 once one held closes
    held.pop().close()
    check(sc.wait_open(2) == 2, "per-ip: open connections after closing the excess")
    c = connect(s.port)
    expect_file(get(c, "/files/small.txt"), SMALL, "per-ip: new connection after one closed")
    held.append(c)

    # 4 idle connections fill the address's 503 room; the next one is closed at once
    before = sc.rejected("per_ip")
    idle = []
    for _ in range(4):
        idle.append(connect(s.port))
        check(sc.wait_open(3 + len(idle)) == 3 + len(idle), f"per-ip: idle {len(idle)} accepted")
    over = connect(s.port)
    check(closed_by_server(over), "per-ip: a connection beyond the 503 room was not closed")
    over.close()
    check(sc.rejected("per_ip") == before + 5,
          f"per-ip: rejected per_ip {sc.rejected('per_ip')} after 4 idle and 1 closed, "
          f"expected {before + 5}")
    expect_503(get(idle[0], "/files/small.txt"), "too many connections from this address",
               "per-ip: an idle refused connection")
    close_all(idle)
    close_all(held)
    check(sc.wait_open(1) == 1, "per-ip: open connections after closing all")
    st, _, body, _ = curl(s.url("/files/small.txt"))
    check(st == 200 and body == SMALL, f"per-ip: served normally again: {st}")
    check("connection limit" not in s.read_log(),
          "per-ip: libmicrohttpd's own per-IP limit was reached")
    sc.close()

# --- --max-connections 4: 4 served, 16 more answered 503, then closed ------------------------
with Server(root, args=["--max-connections", "4", "--threads", "2"]) as s:
    check("max-connections=4 (+16 answered 503)" in s.read_log(),
          f"max: the start line does not show the limits: {s.read_log()!r}")
    sc = Scraper(s.port, "127.0.0.1")  # the first of the 4 served connections
    held = [connect(s.port, "127.0.0.2") for _ in range(3)]
    for i, c in enumerate(held):
        expect_file(get(c, "/files/small.txt"), SMALL, f"max: held connection {i}")
    before = sc.rejected("max_connections")
    excess = [connect(s.port, src) for src in ("127.0.0.1", "127.0.0.2", "127.0.0.3")]
    for i, c in enumerate(excess):
        expect_503(get(c, "/files/small.txt"), "too many connections", f"max: excess {i}")
        check(closed_by_server(c), f"max: excess connection {i} left open after its 503")
    close_all(excess)
    after = sc.scrape()
    now = after.get('mmapd_connections_rejected_total{reason="max_connections"}')
    check(now == before + 3, f"max: rejected max_connections moved from {before} to {now}, "
          "expected +3")
    check(after.get('mmapd_connections_rejected_total{reason="per_ip"}') == 0, "max: per_ip moved")
    # a new connection gets 503 while 4 are held, but answers the liveness probe
    st, h, body, _ = curl(s.url("/files/small.txt"))
    check(st == 503 and h.get("retry-after") == "1", f"max: curl at the limit: {st} {h}")
    st, _, _, _ = curl(s.url("/healthz"))
    check(st == 200, f"max: /healthz at the limit: {st}")
    for i, c in enumerate(held):
        expect_file(get(c, "/files/small.txt"), SMALL, f"max: held connection {i} again")

    # after one held connection closes, a new one is served
    held.pop().close()
    check(sc.wait_open(3) == 3, "max: open connections after closing one")
    c = connect(s.port, "127.0.0.3")
    expect_file(get(c, "/files/small.txt"), SMALL, "max: new connection after one closed")
    held.append(c)

    # 16 idle connections fill the 503 room; the next ones are closed at once
    before = sc.rejected("max_connections")
    idle = [connect(s.port) for _ in range(16)]
    check(sc.wait_open(20) == 20, "max: 4 served and 16 idle refused connections open")
    for i in range(2):
        over = connect(s.port, "127.0.0.2")
        check(closed_by_server(over), f"max: connection {i} beyond the 503 room was not closed")
        over.close()
    check(sc.rejected("max_connections") == before + 18,
          f"max: rejected {sc.rejected('max_connections')}, expected {before + 18}")
    expect_file(get(held[0], "/files/small.txt"), SMALL, "max: held connection beside 16 idle")
    close_all(idle)
    check(sc.wait_open(4) == 4, "max: open connections after closing the idle ones")
    close_all(held)
    check(sc.wait_open(1) == 1, "max: open connections after closing the held ones")
    st, _, body, _ = curl(s.url("/files/small.txt"))
    check(st == 200 and body == SMALL, f"max: served normally again: {st}")
    check("connection limit" not in s.read_log(), "max: libmicrohttpd's own limit was reached")
    promtool_check(sc.text, "max")
    sc.close()

# --- the memory pool: headers larger than --connection-memory (32K) -------------------------
with Server(root) as s:
    sc = Scraper(s.port, "127.0.0.2")
    before = sc.rejected("memory_pool")
    c = connect(s.port)
    c.sendall(b"GET /files/small.txt HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    r = read_response(c)
    check(r is not None and r[0] == 431, f"memory: 100 KB header: {r and r[:2]}")
    check(closed_by_server(c), "memory: connection left open after 431")
    c.close()
    check(sc.rejected("memory_pool") == before + 1,
          f"memory: memory_pool {sc.rejected('memory_pool')}, expected {before + 1}")
    # a request line larger than the pool is answered before mmapd hears of the request
    # (no URI log callback), so it cannot be counted: docs/operating.md, Connection limits
    c = connect(s.port)
    c.sendall(b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    r = read_response(c)
    check(r is None or r[0] in (400, 414), f"memory: 100 KB request line: {r and r[:2]}")
    c.close()
    check(sc.rejected("memory_pool") == before + 1, "memory: the request line was counted")
    st, _, body, _ = curl(s.url("/files/small.txt"))
    check(st == 200 and body == SMALL, f"memory: served normally after: {st}")
    sc.close()

# --- out of descriptors: accepting pauses and says so, then serving goes on ---------------
with Server(root) as s:
    spare = len(os.listdir(f"/proc/{s.proc.pid}/fd")) + 8
    soft, hard = resource.prlimit(s.proc.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(s.proc.pid, resource.RLIMIT_NOFILE, (spare, hard))
    socks = [connect(s.port) for _ in range(40)]  # the kernel completes them all (backlog)
    deadline = time.time() + 10
    while "accept failed" not in s.read_log() and time.time() < deadline:
        time.sleep(0.1)
    log = s.read_log()
    check(re.search(r"accept failed \d+ time\(s\) in the last second: Too many open files; "
                    r"pausing 100 ms each time", log), f"emfile: no log line:\n{log[-2000:]}")
    lines = len(re.findall("accept failed", log))
    time.sleep(1.5)
    check(len(re.findall("accept failed", s.read_log())) - lines <= 2,
          "emfile: more than one line a second")
    close_all(socks)
    resource.prlimit(s.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
    st, _, body, _ = curl(s.url("/files/small.txt"))
    check(st == 200 and body == SMALL, f"emfile: not served after the descriptors came back: {st}")

shutil.rmtree(root, ignore_errors=True)
done()

"""test_drain_load.py - SIGTERM under load. While wrk runs soak.lua, 12 curl downloads of a
32 MiB file (4 MiB/s each) and 6 keep-alive clients asking for 4 MiB ranges back to back are
under way, mmapd gets SIGTERM:

- every download and every response asked for before the signal completes whole (length and
  sha256, bytes compared), within the drain;
- a response begun after the signal completes too, and a keep-alive client is let go after at
  most a few more responses (Connection: close): no response is cut, and the drain ends when
  the last download ends rather than at --drain-timeout;
- connections opened after the signal are refused or closed without an answer;
- exit status 0 within --drain-timeout + 10 s.

The other drain cases are in test_lifecycle.py: a second SIGTERM ends a long drain at once,
and --drain-timeout ends it when a client never reads.
"""
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import soak_load
from harness import Server, check, curl, done

ASAN = soak_load.sanitized()
DRAIN = 40            # --drain-timeout: far longer than the downloads need after the signal
DOWNLOADS = 12
RATE = "4M"           # curl --limit-rate, bytes a second: a 32 MiB download takes 8 s
KEEPALIVE = 6
CHUNK = 4 << 20       # the keep-alive clients' range length
WRK_CONNS = 32 if ASAN else 64

soak_load.raise_fd_limit()
root = soak_load.make_root()
big = os.urandom(32 << 20)
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(big)
big_sha = hashlib.sha256(big).hexdigest()
outdir = tempfile.mkdtemp(prefix="mmapd-drain-")


def read_response(sock):
    """Reads one Content-Length framed response. Returns (status, headers, body, received):
    status None when the connection closed first; `received` counts every byte read."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            b = sock.recv(65536)
        except OSError:
            b = b""
        if not b:
            return None, {}, b"", len(buf)
        buf += b
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    want = int(headers.get("content-length", "0"))
    parts = [body]
    got = len(body)
    while got < want:
        try:
            b = sock.recv(min(1 << 20, want - got))
        except OSError:
            b = b""
        if not b:
            break
        parts.append(b)
        got += len(b)
    return int(lines[0].split()[1]), headers, b"".join(parts), len(head) + 4 + got


class KeepAliveClient(threading.Thread):
    """Asks for random 4 MiB ranges of big.bin back to back on one connection; reconnects
    when the server closes it, until a connect is refused or `stop` is set."""

    def __init__(self, port, stop, seed):
        super().__init__(daemon=True)
        self.port, self.stop, self.rng = port, stop, random.Random(seed)
        self.answers = []     # (time sent, complete and right, Connection: close)
        self.cut = []         # (time sent, bytes received): a response that stopped midway
        self.unanswered = []  # time sent: closed before any byte of an answer
        self.connects = []    # (time, refused)
        self.error = None

    def run(self):
        try:
            self.loop()
        except Exception as e:  # reported by the test, not lost in a thread
            self.error = repr(e)

    def loop(self):
        while not self.stop.is_set():
            t = time.time()
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            except OSError:
                self.connects.append((t, True))
                return
            self.connects.append((t, False))
            with sock:
                while not self.stop.is_set():
                    first = self.rng.randrange(0, len(big) - CHUNK)
                    t_sent = time.time()
                    try:
                        sock.sendall(f"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n"
                                     f"Range: bytes={first}-{first + CHUNK - 1}\r\n\r\n".encode())
                    except OSError:
                        self.unanswered.append(t_sent)
                        break
                    status, h, body, received = read_response(sock)
                    if status is None:
                        (self.cut.append((t_sent, received)) if received
                         else self.unanswered.append(t_sent))
                        break
                    ok = (status == 206 and body == big[first:first + CHUNK] and
                          h.get("content-range") == f"bytes {first}-{first + CHUNK - 1}/{len(big)}")
                    if len(body) < int(h.get("content-length", "0")):
                        self.cut.append((t_sent, received))
                        break
                    closing = h.get("connection", "").lower() == "close"
                    self.answers.append((t_sent, ok, closing))
                    if closing:
                        break


def probe_new_connection(port):
    """What a connection opened now gets for GET /healthz: b"" when refused or closed."""
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=3)
    except OSError:
        return b""
    with c:
        try:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            c.settimeout(3)
            return c.recv(65536)
        except OSError:
            return b""


server = Server(root, args=["--threads", "2", "--drain-timeout", str(DRAIN),
                            "--max-connections", "1024"])
with server as s:
    for path in soak_load.warm_paths() + ["/files/big.bin"]:
        st, _, _, _ = curl(s.url(path), timeout=60)
        check(st == 200, f"warming {path}: {st}")
    wrk = soak_load.start_wrk(s.base, 600, WRK_CONNS, seed=random.randrange(1, 1 << 30), threads=1)
    downloads = []
    for i in range(DOWNLOADS):
        path = os.path.join(outdir, f"big-{i}.bin")
        downloads.append((path, subprocess.Popen(
            ["curl", "-sS", "--limit-rate", RATE, "-o", path, s.url("/files/big.bin")],
            stderr=subprocess.PIPE)))
    stop = threading.Event()
    clients = [KeepAliveClient(s.port, stop, seed) for seed in range(KEEPALIVE)]
    for c in clients:
        c.start()
    # under way: every download has bytes, every keep-alive client has had two answers
    deadline = time.time() + 60
    while time.time() < deadline and not (
            all(os.path.exists(p) and os.path.getsize(p) >= 1 << 20 for p, _ in downloads) and
            all(len(c.answers) >= 2 for c in clients)):
        time.sleep(0.05)
    time.sleep(1)
    sizes = [os.path.getsize(p) if os.path.exists(p) else 0 for p, _ in downloads]
    check(all(0 < n < len(big) for n in sizes), f"downloads not all under way at SIGTERM: {sizes}")
    check(all(len(c.answers) >= 2 for c in clients),
          f"keep-alive clients not under way: {[len(c.answers) for c in clients]}")

    t_sig = time.time()
    s.proc.send_signal(signal.SIGTERM)
    probes = []
    for delay in (0.5, 1, 2, 4):
        time.sleep(max(0.0, t_sig + delay - time.time()))
        probes.append((delay, probe_new_connection(s.port)))
    try:
        code = s.proc.wait(timeout=DRAIN + 10 - (time.time() - t_sig))
    except subprocess.TimeoutExpired:
        code = None
    took = time.time() - t_sig
    stop.set()
    wrk.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
    try:
        out, _ = wrk.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        wrk.kill()
        out, _ = wrk.communicate()
    for c in clients:
        c.join(30)
    results = []
    for path, p in downloads:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        with open(path, "rb") as f:
            data = f.read()
        results.append((p.returncode, len(data), hashlib.sha256(data).hexdigest() == big_sha,
                        p.stderr.read().decode(errors="replace").strip()))

    # --- the server's end ---------------------------------------------------------------
    check(code == 0, f"exit status {code} {took:.1f} s after SIGTERM (limit {DRAIN + 10} s)")
    log = s.read_log()
    check(re.search(r"received Terminated, draining", log) is not None, f"no draining line: {log[-600:]}")
    check(log.rstrip().endswith("stopped"), f"last log line is not 'stopped': {log[-600:]}")
    check("in flight" not in log,
          f"the drain ran out its {DRAIN} s and cut requests ({took:.1f} s after SIGTERM): "
          f"{log[-600:]}")

    # --- the downloads ------------------------------------------------------------------
    for i, (rc, n, same, err) in enumerate(results):
        check(rc == 0 and n == len(big) and same,
              f"download {i}: curl {rc}, {n} of {len(big)} bytes, sha256 equal: {same}; {err}")

    # --- the keep-alive clients ---------------------------------------------------------
    for i, c in enumerate(clients):
        check(c.error is None, f"keep-alive client {i}: {c.error}")
        wrong = [t - t_sig for t, ok, _ in c.answers if not ok]
        check(not wrong, f"keep-alive client {i}: wrong answers (sent at {wrong} s from SIGTERM)")
        check(not c.cut, f"keep-alive client {i}: responses cut midway (sent at s from SIGTERM, "
                         f"bytes received): {[(round(t - t_sig, 2), n) for t, n in c.cut]}")
        early = [t - t_sig for t in c.unanswered if t < t_sig - 0.05]
        check(not early, f"keep-alive client {i}: requests sent before SIGTERM never answered: {early}")
        late = [x for x in c.answers if x[0] > t_sig]
        check(len(late) <= 3, f"keep-alive client {i}: {len(late)} answers after SIGTERM on kept "
                              f"connections (the drain should let it go)")
        opened_late = [t for t, refused in c.connects if not refused and t > t_sig + 0.5]
        if opened_late:
            check(not any(x[0] >= opened_late[0] for x in c.answers),
                  f"keep-alive client {i}: a connection opened {opened_late[0] - t_sig:.1f} s "
                  f"after SIGTERM was served")

    # --- new connections during the drain, and wrk ---------------------------------------
    for delay, reply in probes:
        check(reply == b"", f"a connection opened {delay} s after SIGTERM got {reply[:60]!r}")
    summary = soak_load.wrk_summary(out) or {}
    check(summary.get("bad", 1) == 0, f"wrk: {summary.get('bad')} bodies failed soak.lua's checks")
    got = soak_load.by_status(summary, "got")
    check(set(got) <= {200, 206, 400, 404, 416, 503}, f"wrk got statuses {sorted(got)}")
    check(summary.get("requests", 0) > 0, f"wrk did not run: {out.decode(errors='replace')[-400:]}")

    late_answers = sum(len([x for x in c.answers if x[0] > t_sig]) for c in clients)
    print(f"drain under load: {'ASan' if ASAN else 'Release'}; SIGTERM with {DOWNLOADS} downloads "
          f"at {min(sizes) >> 20}..{max(sizes) >> 20} MiB of 32, {KEEPALIVE} keep-alive clients, "
          f"wrk -c{WRK_CONNS} ({summary.get('requests')} requests, "
          f"read errors {summary.get('read')}); exit {code} after {took:.1f} s "
          f"(--drain-timeout {DRAIN}); keep-alive answers after SIGTERM: {late_answers}")

shutil.rmtree(root, ignore_errors=True)
shutil.rmtree(outdir, ignore_errors=True)
done()

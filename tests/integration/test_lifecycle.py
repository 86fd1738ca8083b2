"""test_lifecycle.py - start, serve, stop: the listening log line, the demo directory made on
first run and reused after, graceful drain on SIGTERM (in-flight downloads finish, new
connections are refused), the drain timeout, SIGINT, second signal, /readyz, idle connection
timeout and the per-IP connection limit (a third connection from one address is answered 503;
test_limits.py has the details).
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import BIN, Server, check, curl, done, make_root

IS_ROOT = os.geteuid() == 0
RECORDS, RECORD_SIZE = 262144, 64


def demo_record(i):
    text = f"record {i:08d} of {RECORDS:08d} offset {i * RECORD_SIZE:012d} ".encode()
    return text + b"." * (RECORD_SIZE - 1 - len(text)) + b"\n"


def http_get(sock, path):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())


def read_some(sock, timeout):
    """Returns what arrives within `timeout` (b"" when the peer closed, None on silence)."""
    sock.settimeout(timeout)
    try:
        return sock.recv(65536)
    except socket.timeout:
        return None
    except (ConnectionResetError, BrokenPipeError):
        return b""


def wait_closed(sock, limit):
    """The time.time() at which the server closed `sock` (data read is discarded); None if it
    is still open after `limit` seconds."""
    t0 = time.time()
    sock.settimeout(0.05)
    while time.time() - t0 < limit:
        try:
            if sock.recv(65536) == b"":
                return time.time()
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.time()
    return None


root, files = make_root()
os.chmod(root, 0o755)
big = os.urandom(20 * 1024 * 1024)
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(big)
big_sha = hashlib.sha256(big).hexdigest()

# --- (a) the first log line says where it listens; (f) /readyz ------------------------------
with Server(root) as s:
    first = s.read_log().splitlines()[0]
    check(re.search(rf"listening on http://127\.0\.0\.1:{s.port}$", first) is not None,
          f"(a) first log line: {first!r}")
    check(s.port > 0, f"(a) port {s.port}")
    status, h, body, _ = curl(s.url("/readyz"))
    check(status == 200 and h.get("content-type") == "application/json",
          f"(f) /readyz: {status} {h}")
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    check(doc == {"status": "ready"}, f"(f) /readyz body {body!r}")
    status, h, body, _ = curl(s.url("/healthz"))
    check(status == 200 and json.loads(body) == {"status": "ok"}, f"/healthz: {status} {body!r}")
    log = s.read_log()
    check(f"serving {root}" in log, f"(a) log does not say what it serves: {log!r}")

# --- (f) /readyz 503 when the root becomes unreadable (as a user other than root) -----------
setpriv = shutil.which("setpriv")
AS_NOBODY = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else None
if IS_ROOT and setpriv and subprocess.run(AS_NOBODY + [BIN, "--version"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL).returncode != 0:
    AS_NOBODY = None  # e.g. the build directory is not reachable for uid 65534
if IS_ROOT and not AS_NOBODY:
    print("skip: /readyz 503 (running as root, and mmapd cannot be run as uid 65534 here)")
else:
    s = Server(root)
    if IS_ROOT:  # root ignores permissions: run mmapd as nobody
        s.args = AS_NOBODY + s.args
    with s:
        status, _, body, _ = curl(s.url("/readyz"))
        check(status == 200, f"(f) /readyz before chmod: {status} {body!r}")
        os.chmod(root, 0)
        try:
            status, h, body, _ = curl(s.url("/readyz"))
            check(status == 503 and b"root not readable" in body
                  and h.get("content-type") == "application/json",
                  f"(f) /readyz with the root unreadable: {status} {body!r}")
            status, _, _, _ = curl(s.url("/healthz"))
            check(status == 200, f"(f) /healthz stays 200 with the root unreadable: {status}")
            status, _, _, _ = curl(s.url("/files/small.txt"))
            check(status == 403, f"(f) file under an unreadable root: {status}")
        finally:
            os.chmod(root, 0o755)
        status, _, body, _ = curl(s.url("/readyz"))
        check(status == 200, f"(f) /readyz after chmod back: {status} {body!r}")

# --- (b) the demo directory ------------------------------------------------------------------
home = tempfile.mkdtemp(prefix="mmapd-home-")
saved_xdg = os.environ.pop("XDG_DATA_HOME", None)
demo = os.path.join(home, ".local/share/mmapd/demo")
records_path = os.path.join(demo, "records.bin")
try:
    with Server(env={"HOME": home}) as s:
        log = s.read_log()
        check(f"serving {demo} (demo directory, just created)" in log,
              f"(b) first start log: {log!r}")
        check(os.path.isfile(records_path) and os.path.getsize(records_path) == RECORDS * RECORD_SIZE,
              f"(b) {records_path} missing or wrong size")
        status, _, body, _ = curl(s.url("/files/hello.txt"))
        check(status == 200 and body.startswith(b"Hello") and body.endswith(b"\n"),
              f"(b) hello.txt: {status} {body!r}")
        for i in (0, 1, 2, 4095, 4096, 131071, 200000, RECORDS - 1):
            status, h, body, _ = curl(s.url("/files/records.bin"), "-r",
                                      f"{i * RECORD_SIZE}-{i * RECORD_SIZE + RECORD_SIZE - 1}")
            check(status == 206 and body == demo_record(i),
                  f"(b) record {i}: {status} {body!r} expected {demo_record(i)!r}")
        # a range across a record boundary, not aligned
        first = 100 * RECORD_SIZE + 40
        status, _, body, _ = curl(s.url("/files/records.bin"), "-r", f"{first}-{first + 99}")
        want = (demo_record(100) + demo_record(101) + demo_record(102))[40:140]
        check(status == 206 and body == want, f"(b) unaligned range: {status} {body!r}")
        status, h, body, _ = curl(s.url("/files/records.bin"), "-r", f"-{RECORD_SIZE}")
        check(status == 206 and body == demo_record(RECORDS - 1), f"(b) suffix range: {status}")
    with open(records_path, "rb") as f:
        on_disk = f.read()
    expected = b"".join(demo_record(i) for i in range(RECORDS))
    check(on_disk == expected, "(b) records.bin on disk differs from the documented format")
    st1 = os.stat(records_path)
    hello1 = os.stat(os.path.join(demo, "hello.txt"))
    time.sleep(0.05)
    with Server(env={"HOME": home}) as s:
        log = s.read_log()
        check(f"serving {demo} (demo directory)" in log and "just created" not in log,
              f"(b) second start log: {log!r}")
        status, _, body, _ = curl(s.url("/files/records.bin"), "-r", "64-127")
        check(status == 206 and body == demo_record(1), f"(b) second start record 1: {status}")
    st2 = os.stat(records_path)
    hello2 = os.stat(os.path.join(demo, "hello.txt"))
    check(st1.st_mtime_ns == st2.st_mtime_ns and st1.st_ino == st2.st_ino,
          "(b) records.bin was rewritten on the second start")
    check(hello1.st_mtime_ns == hello2.st_mtime_ns and hello1.st_ino == hello2.st_ino,
          "(b) hello.txt was rewritten on the second start")
    # a damaged (wrong size) records.bin is replaced
    with open(records_path, "r+b") as f:
        f.truncate(1000)
    with Server(env={"HOME": home}) as s:
        check("just created" in s.read_log(), "(b) truncated records.bin not rewritten")
        status, _, body, _ = curl(s.url("/files/records.bin"), "-r", "0-63")
        check(status == 206 and body == demo_record(0), f"(b) rewritten record 0: {status}")
    check(os.path.getsize(records_path) == RECORDS * RECORD_SIZE, "(b) rewritten size")
    leftovers = [n for n in os.listdir(demo) if ".tmp." in n]
    check(not leftovers, f"(b) temporary files left in the demo directory: {leftovers}")
    # XDG_DATA_HOME, when absolute, wins over HOME
    xdg = os.path.join(home, "xdg")
    with Server(env={"HOME": home, "XDG_DATA_HOME": xdg}) as s:
        check(f"serving {xdg}/mmapd/demo" in s.read_log(), f"(b) XDG_DATA_HOME: {s.read_log()!r}")
        check(os.path.getsize(os.path.join(xdg, "mmapd/demo/records.bin")) == RECORDS * RECORD_SIZE,
              "(b) XDG demo records.bin")
finally:
    if saved_xdg is not None:
        os.environ["XDG_DATA_HOME"] = saved_xdg
    shutil.rmtree(home, ignore_errors=True)

# --- (c) SIGTERM drains: a slow download completes, new connections are refused --------------
fd, out_path = tempfile.mkstemp(prefix="mmapd-download-")
os.close(fd)
with Server(root, args=["--drain-timeout", "30"]) as s:
    # a keep-alive connection opened before the signal, to ask /readyz during the drain
    keep = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    http_get(keep, "/healthz")
    first_reply = read_some(keep, 5) or b""
    check(first_reply.startswith(b"HTTP/1.1 200"), f"(c) keep-alive /healthz: {first_reply[:40]!r}")
    dl = subprocess.Popen(["curl", "-sS", "--limit-rate", "2M", "-o", out_path,
                           s.url("/files/big.bin")], stderr=subprocess.PIPE)
    deadline = time.time() + 15
    while time.time() < deadline and os.path.getsize(out_path) < 2 * 1024 * 1024:
        time.sleep(0.05)
    got_before = os.path.getsize(out_path)
    check(0 < got_before < len(big), f"(c) download not under way at SIGTERM ({got_before} bytes)")
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    # a new connection after SIGTERM must be refused, or at least get no answer
    answered = None
    try:
        c = socket.create_connection(("127.0.0.1", s.port), timeout=3)
        try:
            http_get(c, "/healthz")
            answered = read_some(c, 3)
        except OSError:
            answered = b""
        c.close()
    except OSError:
        answered = b""  # refused: what we want
    check(not answered, f"(c) a new connection after SIGTERM was served: {answered!r}")
    # /readyz on the connection opened before the signal reports the drain (or it was closed)
    try:
        http_get(keep, "/readyz")
        reply = read_some(keep, 3)
    except OSError:
        reply = b""
    check(not reply or (reply.startswith(b"HTTP/1.1 503") and b"draining" in reply),
          f"(c) /readyz while draining: {reply!r}")
    keep.close()
    check(s.proc.poll() is None or dl.poll() is not None,
          "(c) mmapd exited while the download was still running")
    try:
        dl.wait(timeout=40)
    except subprocess.TimeoutExpired:
        dl.kill()
        dl.wait()
    err = dl.stderr.read().decode(errors="replace")
    check(dl.returncode == 0, f"(c) curl exited {dl.returncode}: {err}")
    with open(out_path, "rb") as f:
        got = f.read()
    check(len(got) == len(big) and hashlib.sha256(got).hexdigest() == big_sha,
          f"(c) downloaded {len(got)} of {len(big)} bytes, content equal: {got == big}")
    try:
        code = s.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        code = None
    check(code == 0, f"(c) exit status after the drain: {code}")
    log = s.read_log()
    check(re.search(r"received .*draining", log) is not None, f"(c) no draining line: {log!r}")
    check(log.rstrip().endswith("stopped"), f"(c) last log line is not 'stopped': {log!r}")
    check("in flight" not in log, f"(c) the drain gave up on requests: {log!r}")
os.unlink(out_path)


def stalled_client(port):
    """A client that asks for big.bin and never reads (small receive buffer)."""
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.connect(("127.0.0.1", port))
    http_get(c, "/files/big.bin")
    return c


# --- (d) --drain-timeout 1 with a stalled client: exit 0 within a few seconds ---------------
with Server(root, args=["--drain-timeout", "1"]) as s:
    c = stalled_client(s.port)
    time.sleep(0.5)
    t0 = time.time()
    s.proc.send_signal(signal.SIGTERM)
    try:
        code = s.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        code = None
    took = time.time() - t0
    check(code == 0, f"(d) exit status {code}")
    check(0.8 <= took <= 5, f"(d) stopped {took:.1f}s after SIGTERM (drain-timeout 1)")
    log = s.read_log()
    check("1 request(s) in flight" in log and "stopped" in log, f"(d) log: {log!r}")
    c.close()

# --- a second SIGTERM during a long drain stops at once ------------------------------------
with Server(root, args=["--drain-timeout", "60"]) as s:
    c = stalled_client(s.port)
    time.sleep(0.5)
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    check(s.proc.poll() is None, "second signal: mmapd did not wait for the stalled request")
    t0 = time.time()
    s.proc.send_signal(signal.SIGTERM)
    try:
        code = s.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        code = None
    check(code == 0 and time.time() - t0 < 5, f"second signal: exit {code} after {time.time() - t0:.1f}s")
    check("again, stopping now" in s.read_log(), f"second signal log: {s.read_log()!r}")
    c.close()

# --- (e) SIGINT exits 0 as well -------------------------------------------------------------
with Server(root) as s:
    status, _, _, _ = curl(s.url("/files/small.txt"))
    check(status == 200, f"(e) before SIGINT: {status}")
    code = s.stop(signal.SIGINT)
    check(code == 0, f"(e) exit status after SIGINT: {code}")
    log = s.read_log()
    check("received Interrupt" in log and log.rstrip().endswith("stopped"), f"(e) log: {log!r}")

# --- (g) --connection-timeout 2 closes idle connections -------------------------------------
with Server(root, args=["--connection-timeout", "2"]) as s:
    idle = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    idle_since = time.time()
    kept = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    http_get(kept, "/healthz")
    reply = read_some(kept, 5) or b""
    kept_since = time.time()
    check(reply.startswith(b"HTTP/1.1 200"), f"(g) keep-alive request: {reply[:40]!r}")
    closed_idle = wait_closed(idle, 10)
    closed_kept = wait_closed(kept, 10)
    t_idle = closed_idle and closed_idle - idle_since
    t_kept = closed_kept and closed_kept - kept_since
    check(t_idle is not None and 1.5 <= t_idle <= 5.5,
          f"(g) silent connection closed after {t_idle} s (timeout 2)")
    check(t_kept is not None and 1.5 <= t_kept <= 5.5,
          f"(g) idle keep-alive connection closed after {t_kept} s (timeout 2)")
    idle.close()
    kept.close()
    status, _, _, _ = curl(s.url("/healthz"))
    check(status == 200, f"(g) new connection after timeouts: {status}")

# --- (h) --max-connections-per-ip 2 ---------------------------------------------------------
with Server(root, args=["--max-connections-per-ip", "2"]) as s:
    c1 = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    c2 = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    time.sleep(0.5)  # let the server accept both
    third = b""
    try:
        c3 = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        try:
            http_get(c3, "/files/small.txt")
            third = read_some(c3, 5) or b""
        except OSError:
            third = b""
        c3.close()
    except OSError:
        third = b""
    check(third.startswith(b"HTTP/1.1 503") and b"\r\nRetry-After: 1\r\n" in third
          and b"\r\nConnection: close\r\n" in third,
          f"(h) third connection from 127.0.0.1 was not answered 503: {third!r}")
    for name, c in (("first", c1), ("second", c2)):
        try:
            http_get(c, "/files/small.txt")
            reply = read_some(c, 5) or b""
        except OSError as e:
            reply = str(e).encode()
        check(reply.startswith(b"HTTP/1.1 200") and files["small.txt"] in reply,
              f"(h) {name} held connection not served: {reply[:60]!r}")
    c1.close()
    time.sleep(0.5)
    status, _, body, _ = curl(s.url("/files/small.txt"))
    check(status == 200 and body == files["small.txt"], f"(h) after closing one: {status}")
    c2.close()

shutil.rmtree(root, ignore_errors=True)
done()

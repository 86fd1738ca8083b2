"""harness.py - start the real mmapd binary on a free loopback port and talk to it.

Every integration test imports this module. `Server` starts `$MMAPD_BIN` (set by ctest) with
`--listen 127.0.0.1:0`, reads the first log line ("listening on http(s)://HOST:PORT"), and on
exit sends SIGTERM and requires a clean exit (status 0, which under AddressSanitizer also
means no leak). `curl()` runs the real curl; `raw()` sends bytes over a socket for requests
curl cannot express. `check()` counts failures so that one run reports all of them.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("MMAPD_BIN", os.path.join(os.path.dirname(__file__), "../../build/release/mmapd"))
FAILURES = []


def read_help():
    """mmapd --help, parsed: (text, options, aliases, envs). options maps each long flag to its
    argument name ("" when none), aliases each short flag to its long one, envs each long flag
    to its MMAPD_ variable."""
    text = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10).stdout
    options, aliases, envs = {}, {}, {}
    last = None
    for line in text.splitlines():
        m = re.match(r"^  (--[a-z][a-z-]*)(?:, (-[a-zA-Z]))?(?: (\S+))?$", line)
        if m:
            last = m.group(1)
            options[last] = m.group(3) or ""
            if m.group(2):
                aliases[m.group(2)] = last
            continue
        e = re.match(r"^      \[(MMAPD_[A-Z_]+)\]$", line)
        if e and last:
            envs[last] = e.group(1)
    return text, options, aliases, envs


def check(cond, what):
    """Records a failed expectation (and prints it) without stopping the test."""
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def done():
    """Exits 1 if any check failed, 0 otherwise."""
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("ok")
    sys.exit(0)


class Server:
    """A running mmapd; use as a context manager."""

    def __init__(self, root=None, args=(), env=None, listen="127.0.0.1:0"):
        self.args = [BIN, "--listen", listen] + (["--root", root] if root else []) + list(args)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.log_path = None
        self.exit_code = None

    def __enter__(self):
        fd, self.log_path = tempfile.mkstemp(prefix="mmapd-log-")
        self.log = os.fdopen(fd, "w+")
        self.proc = subprocess.Popen(self.args, stderr=self.log, stdout=subprocess.DEVNULL, env=self.env)
        deadline = time.time() + 30
        while time.time() < deadline:
            m = re.search(r"listening on (https?)://(\S+):(\d+)", self.read_log())
            if m:
                self.host, self.port = m.group(2), int(m.group(3))
                self.base = f"{m.group(1)}://{self.host}:{self.port}"
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"mmapd exited {self.proc.returncode}: {self.read_log()}")
            time.sleep(0.02)
        self.proc.kill()
        raise RuntimeError("mmapd did not report its port: " + self.read_log())

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the server; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                check(False, f"mmapd did not stop within {timeout}s of {sig!r}")
        self.exit_code = self.proc.returncode
        return self.exit_code

    def __exit__(self, *exc):
        code = self.stop()
        log = self.read_log()
        check(code == 0, f"mmapd exited with {code} (expected 0); log:\n{log}")
        check("ERROR: AddressSanitizer" not in log and "runtime error:" not in log,
              f"sanitizer report in the log:\n{log}")
        self.log.close()
        os.unlink(self.log_path)
        return False

    def url(self, path):
        return self.base + path

    def metrics_text(self):
        """The /metrics page as text (Prometheus text format)."""
        return curl(self.url("/metrics"))[2].decode()


def metric_value(text, name, missing=None):
    """The value of the sample written exactly `name` (labels included, as mmapd orders them)
    in a /metrics text; `missing` when there is none."""
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else missing


def metric_total(text, name):
    """The sum of every sample of `name`, whatever its labels (0 when there is none)."""
    return sum(float(v) for v in re.findall(r"^" + re.escape(name) + r"(?:\{[^}]*\})? (\S+)$",
                                             text, re.M))


def page_faults(text, handler):
    """The page faults, minor and major, that a /metrics text counts for `handler`."""
    return sum(metric_value(text, f'mmapd_page_faults_total{{handler="{handler}",type="{t}"}}', 0.0)
               for t in ("minor", "major"))


def open_fds(pid):
    """The descriptors process `pid` holds open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def curl(url, *args, timeout=60):
    """Runs curl; returns (status, headers dict with lower-case names, body bytes, raw head)."""
    with tempfile.NamedTemporaryFile() as hdr:
        p = subprocess.run(["curl", "-sS", "--path-as-is", "-D", hdr.name, "-o", "-", *args, url],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        head = open(hdr.name, "rb").read().decode("latin-1")
    if p.returncode != 0 and not head:
        raise RuntimeError(f"curl {url} failed: {p.stderr.decode()}")
    blocks = [b for b in head.split("\r\n\r\n") if b.strip()]
    last = blocks[-1] if blocks else ""
    lines = last.split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), v.strip())
    return status, headers, p.stdout, last


def raw(port, data, host="127.0.0.1", timeout=10, read_until_close=True):
    """Sends `data` on a fresh TCP connection; returns everything received until the server
    closes the connection or `timeout` passes with nothing new."""
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(data)
    chunks = []
    try:
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            chunks.append(b)
            if not read_until_close:
                break
    except socket.timeout:
        pass
    s.close()
    return b"".join(chunks)


def parse_responses(data):
    """Splits a byte stream of HTTP/1.1 responses (Content-Length framed) into a list of
    (status, headers, body)."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        head = data[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {}
        for line in head[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        body = data[end + 4:end + 4 + n]
        out.append((status, headers, body))
        data = data[end + 4 + n:]
    return out


def parse_multipart(body, content_type):
    """Parses a multipart/byteranges body strictly (CRLF framing, closing boundary);
    returns a list of (part headers dict, data)."""
    m = re.match(r'multipart/byteranges;\s*boundary="?([^";]+)"?', content_type)
    if not m:
        raise ValueError("not multipart/byteranges: " + content_type)
    delim = b"--" + m.group(1).encode()
    parts = []
    pos = body.find(delim)
    if pos < 0:
        raise ValueError("no boundary in body")
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            if body[pos + 2:] not in (b"\r\n", b""):
                raise ValueError("bytes after the closing boundary")
            return parts
        if body[pos:pos + 2] != b"\r\n":
            raise ValueError("boundary line not ended by CRLF")
        end = body.index(b"\r\n\r\n", pos + 2)
        headers = {}
        for line in body[pos + 2:end].decode("latin-1").split("\r\n"):
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        m2 = re.match(r"bytes (\d+)-(\d+)/(\d+)$", headers.get("content-range", ""))
        if not m2:
            raise ValueError("part without a valid Content-Range")
        first, last = int(m2.group(1)), int(m2.group(2))
        data = body[end + 4:end + 4 + (last - first + 1)]
        after = end + 4 + (last - first + 1)
        if body[after:after + 2] != b"\r\n" or body[after + 2:after + 2 + len(delim)] != delim:
            raise ValueError("part data not followed by CRLF and the boundary")
        parts.append((headers, data))
        pos = after + 2


def write_evicted(path, data):
    """Writes `data` to `path`, flushes it to the disk and drops it from the page cache;
    returns the bytes of it still resident (fincore), -1 when that cannot be told."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    evict(path)
    out = subprocess.run(["fincore", "-b", "-n", "-o", "RES", path], capture_output=True,
                         text=True)
    return int(out.stdout.split()[0]) if out.returncode == 0 and out.stdout.split() else -1


def evict(path):
    """Drops the clean pages of `path` from the page cache (posix_fadvise DONTNEED)."""
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def make_root():
    """A temporary served root with a few files; returns (path, {name: bytes})."""
    root = tempfile.mkdtemp(prefix="mmapd-root-")
    files = {
        "small.txt": b"0123456789abcdefghijklmnopqrstuvwxyz\n",
        "data.bin": os.urandom(300_000),
        "empty.bin": b"",
        "sub/nested.json": b'{"nested": true}\n',
    }
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return root, files

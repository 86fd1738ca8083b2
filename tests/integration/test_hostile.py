"""test_hostile.py - hostile and broken clients get a bounded answer or a closed connection,
and the server stays healthy for everyone else: giant headers, thousands of ranges, slowloris,
clients that never read, half-closed connections, hundreds of idle connections."""
import os
import re
import socket
import time

from harness import Server, check, curl, done, make_root, open_fds, parse_responses, raw

root, files = make_root()
big = os.path.join(root, "big.bin")
with open(big, "wb") as f:
    f.write(os.urandom(32 * 1024 * 1024))
BIG = open(big, "rb").read()


def healthy(s, what):
    st, _, body, _ = curl(s.url("/files/small.txt"), timeout=10)
    check(st == 200 and body == files["small.txt"], f"after {what}: a normal request got {st}")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


with Server(root, args=["--connection-timeout", "2", "--threads", "2", "--header-timeout", "3"]) as s:
    pid = s.proc.pid
    # giant header: libmicrohttpd answers 431 (or closes) from its bounded memory pool
    data = raw(s.port, b"GET /files/small.txt HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 +
               b"\r\n\r\n", timeout=5)
    check(data == b"" or data.startswith(b"HTTP/1.1 4"), f"giant header: {data[:60]!r}")
    # thousands of ranges: 3000 disjoint ones over a small part of the file give a bounded 416
    # with a small body; 3000 adjacent ones merge into one range of 3000 bytes
    hdr = "bytes=" + ",".join(f"{2 * i}-{2 * i}" for i in range(3000))
    t0 = time.time()
    st, h, body, _ = curl(s.url("/files/big.bin"), "-H", f"Range: {hdr}")
    check(st in (416, 431, 400) and len(body) < 1000 and time.time() - t0 < 5,
          f"3000 disjoint ranges: {st}, {len(body)} bytes, {time.time() - t0:.1f} s")
    hdr = "bytes=" + ",".join(f"{i}-{i}" for i in range(3000))
    t0 = time.time()
    st, h, body, _ = curl(s.url("/files/big.bin"), "-H", f"Range: {hdr}")
    check(st in (206, 431, 400) and (st != 206 or body == BIG[:3000]) and time.time() - t0 < 5,
          f"3000 adjacent ranges: {st}, {len(body)} bytes, {time.time() - t0:.1f} s")
    # many headers
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
    data = raw(s.port, b"GET /files/small.txt HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n", timeout=5)
    check(data == b"" or data.startswith(b"HTTP/1.1 4"), f"2000 headers: {data[:60]!r}")
    healthy(s, "header abuse")

    # slowloris: one header byte every 0.5 s. Each byte resets libmicrohttpd's idle timer;
    # mmapd's header deadline (--header-timeout 3 here) shuts the connection down anyway,
    # counted, while everyone else is served. A request line sent as slowly gets the same,
    # and so does the next request line on a keep-alive connection, after the idle timeout
    # (--connection-timeout 2) plus the header timeout: 5 s after the first response.
    # A slow but honest client (headers in 2 s) is served.
    def rejected(reason):
        text = s.metrics_text()
        m = re.search(r'^mmapd_connections_rejected_total\{reason="%s"\} (\S+)$' % reason,
                      text, re.M)
        return float(m.group(1)) if m else -1

    def served_once(sl):
        sl.sendall(b"GET /files/small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        sl.settimeout(5)
        got = b""
        while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < len(
                files["small.txt"]):
            more = sl.recv(65536)
            check(more != b"", f"keep-alive: the first response was cut after {got[:40]!r}")
            got += more
        check(got.startswith(b"HTTP/1.1 200"), f"keep-alive: first response {got[:40]!r}")

    before = rejected("header_timeout")
    cases = (("headers", b"GET /files/small.txt HTTP/1.1\r\n", None, 2.5, 8),
             ("request line", b"G", None, 2.5, 8),
             ("keep-alive request line", b"G", served_once, 4.5, 10))
    for what, first, prelude, low, high in cases:
        sl = socket.create_connection(("127.0.0.1", s.port))
        if prelude:
            prelude(sl)
        sl.sendall(first)
        t0, closed = time.time(), False
        while time.time() - t0 < 14 and not closed:
            time.sleep(0.5)
            try:
                sl.sendall(b"X")
                sl.settimeout(0.01)
                closed = sl.recv(1) == b""
            except socket.timeout:
                pass
            except OSError:
                closed = True
            healthy(s, "a slowloris connection")
        secs = time.time() - t0
        check(closed and low <= secs < high,
              f"slowloris on the {what}: closed {closed} after {secs:.1f} s "
              f"(due after {low} s)")
        print(f"slowloris on the {what}: shut down after {secs:.1f} s")
        sl.close()
    check(rejected("header_timeout") == before + len(cases),
          f"header timeouts counted: {before} -> {rejected('header_timeout')}")
    slow = socket.create_connection(("127.0.0.1", s.port))
    for part in (b"GET /files/small.txt HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
        slow.sendall(part)
        time.sleep(0.7)
    slow.settimeout(5)
    got = slow.recv(65536)
    check(got.startswith(b"HTTP/1.1 200"), f"a slow honest client: {got[:40]!r}")
    slow.close()

    # a client that never reads a 32 MiB response: the server keeps serving others, and
    # the connection is closed by the timeout once the kernel buffers are full
    lazy = socket.create_connection(("127.0.0.1", s.port))
    lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lazy.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    for _ in range(5):
        healthy(s, "a client that never reads")
    time.sleep(4)
    lazy.settimeout(2)
    got = 0
    try:
        while True:
            b = lazy.recv(1 << 20)
            if not b:
                break
            got += len(b)
    except OSError:
        pass
    lazy.close()
    check(got < len(BIG), f"a never-reading client was cut off by the timeout ({got} bytes)")

    # half-closed: the client shuts its sending side after the request; the answer arrives
    hc = socket.create_connection(("127.0.0.1", s.port))
    hc.sendall(b"GET /files/small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    hc.shutdown(socket.SHUT_WR)
    hc.settimeout(5)
    buf = b""
    try:
        while True:
            b = hc.recv(65536)
            if not b:
                break
            buf += b
    except OSError:
        pass
    hc.close()
    resp = parse_responses(buf)
    check(len(resp) == 1 and resp[0][0] == 200 and resp[0][2] == files["small.txt"],
          f"half-closed client: {buf[:80]!r}")

    # hundreds of idle connections: others are served; RSS and descriptors come back down
    rss0, fd0 = rss_kb(pid), open_fds(pid)
    idle = []
    for _ in range(600):
        try:
            idle.append(socket.create_connection(("127.0.0.1", s.port)))
        except OSError:
            break
    check(len(idle) == 600, f"opened {len(idle)} idle connections")
    healthy(s, "600 idle connections")
    rss_idle = rss_kb(pid)
    time.sleep(4)  # the 2 s connection timeout closes them all
    for c in idle:
        c.close()
    time.sleep(0.5)
    healthy(s, "idle connections timed out")
    rss1, fd1 = rss_kb(pid), open_fds(pid)
    print(f"RSS {rss0} kB before, {rss_idle} kB with 600 idle connections, {rss1} kB after; "
          f"descriptors {fd0} before, {fd1} after")
    check(fd1 <= fd0 + 2, f"descriptors leak: {fd0} -> {fd1}")
    check(rss1 < rss0 + 64 * 1024, f"RSS grew from {rss0} to {rss1} kB")

import shutil
shutil.rmtree(root)
done()

"""truncation_check.py - slow downloads and the byte-by-byte check of what they received,
for the tests that truncate a file under them (test_truncation.py, test_tls.py)."""
import os
import re
import socket
import ssl
import threading
import time


def recv(sock, n):
    """sock.recv(n); b"" at the end of the stream, also for a TLS stream the server ended
    without close_notify (as it does when it cuts a response short)."""
    try:
        return sock.recv(n)
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        return b""


def slow_get(port, path, range_header, out, truncated, tls=None):
    """GET (over TLS with the ssl.SSLContext `tls`) with a small receive buffer, read 32 KiB at a time with pauses until `truncated`
    is set (so that the server is in the middle of the body then), at full speed after, until
    the server closes the connection or the whole body is in. Appends (status, headers,
    body, cut)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.settimeout(20)
    try:
        sock.connect(("127.0.0.1", port))
        if tls:
            sock = tls.wrap_socket(sock, server_hostname="localhost")
        req = f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        if range_header:
            req += f"Range: {range_header}\r\n"
        sock.sendall((req + "\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = recv(sock, 65536)
            if not chunk:
                break
            data += chunk
        if not data:  # closed before any answer: the copy failed twice (see verify)
            out.append((0, {}, b"", "closed"))
            return
        head, _, rest = data.partition(b"\r\n\r\n")
        body = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/") else 0
        headers = {k.strip().lower(): v.strip()
                   for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = recv(sock, 32 * 1024)
            if not chunk:
                break
            body += chunk
            if not truncated.is_set():
                time.sleep(0.001)
        out.append((status, headers, bytes(body), len(body) < length))
    except OSError as e:
        out.append((0, {}, b"", f"error {e}"))
    finally:
        sock.close()


def verify(content, status, headers, body, cut, counts, errors, what):
    """Every byte of `body` must be `content`'s byte at its offset. A connection closed before
    any answer is allowed (mmapd copies a small body before it sends anything; when the file
    shrinks under that copy it looks the file up again once, and closes the connection if
    the copy fails again): it sent no byte, so none was wrong."""
    if status == 0 and cut == "closed":
        counts["closed"] += 1
        return
    if status == 0:
        errors.append(f"{what}: {cut}")
        return
    if status == 416 or (status == 200 and not body):
        return
    if status not in (200, 206):
        errors.append(f"{what}: status {status}")
        return
    if headers.get("content-type", "").startswith("multipart/byteranges"):
        # /files multi-range or /sample: each part's Content-Range, then its bytes (the last
        # may be cut)
        parts = []
        for m in re.finditer(rb"Content-Range: bytes (\d+)-(\d+)/\d+\r\n\r\n", body):
            first, last = int(m.group(1)), int(m.group(2))
            parts.append((first, body[m.end():m.end() + last - first + 1]))
    elif status == 206:
        m = re.match(r"bytes (\d+)-(\d+)/(\d+)", headers["content-range"])
        parts = [(int(m.group(1)), body)]
    else:
        parts = [(0, body)]
    for first, data in parts:
        counts["bytes"] += len(data)
        expect = content[first:first + len(data)]
        if data != expect:
            lo, hi = 0, min(len(data), len(expect))  # the first wrong byte, by bisection
            while lo < hi:
                mid = (lo + hi) // 2
                if data[lo:mid + 1] == expect[lo:mid + 1]:
                    lo = mid + 1
                else:
                    hi = mid
            bad = len(data) - lo  # every byte from the first wrong one on
            counts["wrong"] += bad
            errors.append(f"{what}: {bad} wrong bytes ({data[lo:].count(0)} of them zeros) "
                          f"from offset {first + lo}, {len(data)} received")
    counts["cut" if cut else "whole"] += 1


def cut_under_downloads(port, gets, path, content, cut_at, delay, counts, errors, label,
                        tls=None):
    """One round: starts a slow_get() per (path, Range) of `gets`, truncates `path` to
    `cut_at` bytes after `delay` seconds, waits for every download and verify()s what each
    received against `content`. A /sample asked after the cut may find too few records (400):
    not an error. Returns the downloads that did not end within 60 s."""
    out = [[] for _ in gets]
    truncated = threading.Event()
    ts = [threading.Thread(target=slow_get, args=(port, g, r, o, truncated, tls))
          for (g, r), o in zip(gets, out)]
    for t in ts:
        t.start()
    time.sleep(delay)
    os.truncate(path, cut_at)
    truncated.set()
    stuck = 0
    for t in ts:
        t.join(60)
        stuck += t.is_alive()
    for (g, r), o in zip(gets, out):
        for st, h, body, cut in o:
            if st == 400 and g.startswith("/sample/") and (
                    b"larger than the file" in body or b"more than the distinct" in body):
                continue
            verify(content, st, h, body, cut, counts, errors, f"{label} {r or g}")
    return stuck

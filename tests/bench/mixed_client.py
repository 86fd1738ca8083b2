#!/usr/bin/env python3
"""mixed_client.py - the client side of tests/bench/mixed.sh (stdlib only).

  mixed_client.py --port P --warm-file F --warm-path /files/W --cold-path /files/C
                  --cold-size BYTES [--conns 4] [--base-secs 2] [--lead 0.3]

Keeps CONNS keep-alive connections busy with random 4 KiB-aligned ranges of 4 KiB of the
warm file (one request in flight per connection, one thread, non-blocking sockets, so the
client's own scheduling adds tens of microseconds, not milliseconds), and checks every
answer against the file's bytes (read here, before the clock; the file is warm). Two phases
on the same connections: `base` for BASE_SECS without anything else; then `cold`: LEAD s
after it starts, one curl downloads the whole cold file to /dev/null, and the phase ends LEAD
s after that download; only requests sent while the download ran count for `cold`.
Prints one JSON object: per phase requests, p50/p99/max latency in microseconds, errors
(wrong status or bytes, dropped connections), and each connection's requests, p50 and p99
(`conns`: a server thread that also carries the download shows as the connections whose
p50 is higher); the download's status, length, wall ms.
"""
import argparse
import json
import os
import random
import re
import selectors
import socket
import subprocess
import time

HDR_END = b"\r\n\r\n"


class Conn:
    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = bytearray()
        self.off = None
        self.t0 = 0.0
        self.index = 0

    def open(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf.clear()


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--warm-file", required=True)
    ap.add_argument("--warm-path", required=True)
    ap.add_argument("--cold-path", required=True)
    ap.add_argument("--cold-size", type=int, required=True)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--base-secs", type=float, default=2.0)
    ap.add_argument("--lead", type=float, default=0.3)
    a = ap.parse_args()

    warm = open(a.warm_file, "rb").read()
    blocks = len(warm) // 4096
    rnd = random.Random(os.getpid())
    sel = selectors.DefaultSelector()
    samples = []  # (send time, latency s, ok, connection index)
    errors = 0

    def send(c):
        c.off = rnd.randrange(blocks) * 4096
        req = (f"GET {a.warm_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Range: bytes={c.off}-{c.off + 4095}\r\n\r\n").encode()
        c.t0 = time.perf_counter()
        c.sock.sendall(req)  # small: fits the empty send buffer of an idle connection

    def reopen(c):
        sel.unregister(c.sock)
        c.sock.close()
        c.open()
        sel.register(c.sock, selectors.EVENT_READ, c)

    conns = [Conn(a.port) for _ in range(a.conns)]
    for i, c in enumerate(conns):
        c.index = i
    for c in conns:
        c.open()
        sel.register(c.sock, selectors.EVENT_READ, c)
        send(c)

    def pump(until):
        """Serves the connections until `until()` is true."""
        nonlocal errors
        while not until():
            for key, _ in sel.select(timeout=0.05):
                c = key.data
                try:
                    chunk = c.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:  # closed by the server
                    errors += 1
                    reopen(c)
                    send(c)
                    continue
                c.buf += chunk
                end = c.buf.find(HDR_END)
                if end < 0:
                    continue
                head = bytes(c.buf[:end]).decode("latin-1")
                m = re.search(r"(?im)^content-length:\s*(\d+)", head)
                clen = int(m.group(1)) if m else 0
                if len(c.buf) < end + 4 + clen:
                    continue
                t1 = time.perf_counter()
                body = bytes(c.buf[end + 4:end + 4 + clen])
                ok = (head.startswith("HTTP/1.1 206") and
                      re.search(rf"(?im)^content-range:\s*bytes {c.off}-{c.off + 4095}/", head)
                      is not None and body == warm[c.off:c.off + 4096])
                samples.append((c.t0, t1 - c.t0, ok, c.index))
                if not ok:
                    errors += 1
                del c.buf[:end + 4 + clen]
                if re.search(r"(?im)^connection:\s*close", head):
                    reopen(c)
                send(c)

    def stats(lo, hi):
        lat = sorted(s[1] * 1e6 for s in samples if lo <= s[0] < hi)
        bad = sum(1 for s in samples if lo <= s[0] < hi and not s[2])
        per_conn = []
        for i in range(len(conns)):
            own = sorted(s[1] * 1e6 for s in samples if lo <= s[0] < hi and s[3] == i)
            per_conn.append({"requests": len(own), "p50_us": percentile(own, 50),
                             "p99_us": percentile(own, 99)})
        return {"requests": len(lat), "p50_us": percentile(lat, 50),
                "p99_us": percentile(lat, 99), "max_us": lat[-1] if lat else None,
                "bad": bad, "conns": per_conn}

    t_base = time.perf_counter()
    pump(lambda: time.perf_counter() - t_base >= a.base_secs)
    t_base_end = time.perf_counter()
    pump(lambda: time.perf_counter() - t_base_end >= a.lead)
    dl_t0 = time.perf_counter()
    dl = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                           f"http://127.0.0.1:{a.port}{a.cold_path}"], stdout=subprocess.PIPE)
    pump(lambda: dl.poll() is not None)
    dl_t1 = time.perf_counter()
    code, size = (dl.stdout.read().decode().split() + ["0", "0"])[:2]
    t_end = dl_t1 + a.lead
    pump(lambda: time.perf_counter() >= t_end)
    out = {"base": stats(t_base, t_base_end), "cold": stats(dl_t0, dl_t1),
           "errors": errors, "download_ms": round((dl_t1 - dl_t0) * 1000, 1),
           "download_ok": code == "200" and int(size) == a.cold_size,
           "download": f"{code} {size}"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

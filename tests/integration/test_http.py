"""test_http.py - HTTP/1.1 behaviour of /files against the real mmapd binary.

Response headers (Content-Type by extension, Accept-Ranges, Content-Length, strong ETag,
Last-Modified and Date as IMF-fixdate), HEAD versus GET on the wire (same status and headers,
no body, proved by a pipelined request after it), 405 with Allow for other methods, 404 for
unknown paths, keep-alive (curl connection reuse and two requests on one socket) and
pipelining (several requests in one send, answered in order).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time
from email.utils import formatdate, parsedate_to_datetime

from harness import Server, check, curl, done, make_root, parse_multipart, parse_responses, raw

root, files = make_root()
extra = {"README": b"no extension here\n", "archive.unknownext": b"\x00\x01\x02" * 100,
         "notes.v2.txt": b"two dots, last one wins\n"}
for name, data in extra.items():
    with open(os.path.join(root, name), "wb") as f:
        f.write(data)
files.update(extra)
T = 1600000000  # Sun, 13 Sep 2020 12:26:40 GMT
for name in files:
    os.utime(os.path.join(root, name), (T, T))

# a modification time in the future (clock skew, a restored backup): RFC 9110 8.8.2.1 says
# the origin MUST send the message's Date instead of a Last-Modified later than Date
FUTURE = int(time.time()) + 10 * 365 * 86400
with open(os.path.join(root, "future.txt"), "wb") as f:
    f.write(b"from the future\n")
os.utime(os.path.join(root, "future.txt"), (FUTURE, FUTURE))

CTYPE = {"small.txt": "text/plain; charset=utf-8", "data.bin": "application/octet-stream",
         "empty.bin": "application/octet-stream", "sub/nested.json": "application/json",
         "README": "application/octet-stream", "archive.unknownext": "application/octet-stream",
         "notes.v2.txt": "text/plain; charset=utf-8"}
IMF = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
                 r"|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")


def fields(head):
    """Status and lower-cased header dict of one response head (str)."""
    lines = head.split("\r\n")
    out = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        check(k.strip().lower() not in out, f"duplicate header {k!r} in {head!r}")
        out[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), out


def bodiless_then(data):
    """(status, headers) of a bodiless answer (HEAD, 304) and the bytes that follow its head."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return 0, {}, b""
    st, h = fields(data[:end].decode("latin-1"))
    return st, h, data[end + 4:]


def check_json_error(body, status, what):
    try:
        doc = json.loads(body)
    except ValueError:
        check(False, f"{what}: body is not JSON: {body[:200]!r}")
        return
    check(isinstance(doc, dict) and doc.get("status") == status and isinstance(doc.get("error"), str)
          and doc["error"], f"{what}: JSON body {doc}")


TAIL = b"GET /files/small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

with Server(root) as s:
    # --- 200 headers for each kind of file
    for name, data in files.items():
        status, h, body, _ = curl(s.url("/files/" + name))
        what = f"GET /files/{name}"
        check(status == 200 and body == data, f"{what}: {status}, {len(body)} bytes")
        check(h.get("content-type") == CTYPE[name], f"{what}: Content-Type {h.get('content-type')!r}")
        check(h.get("content-length") == str(len(data)), f"{what}: Content-Length {h.get('content-length')}")
        check(h.get("accept-ranges") == "bytes", f"{what}: Accept-Ranges {h.get('accept-ranges')!r}")
        check(bool(re.fullmatch(r'"[\x21\x23-\x7e]+"', h.get("etag", ""))), f"{what}: ETag {h.get('etag')!r}")
        check(h.get("last-modified") == formatdate(T, usegmt=True), f"{what}: Last-Modified {h.get('last-modified')!r}")
        date = h.get("date", "")
        check(bool(IMF.match(date)), f"{what}: Date {date!r} is not an IMF-fixdate")
        if IMF.match(date):
            skew = abs(parsedate_to_datetime(date).timestamp() - time.time())
            check(skew < 120, f"{what}: Date {date} is {skew:.0f}s from now")
        check("content-range" not in h, f"{what}: Content-Range on a 200")

    status, h, body, _ = curl(s.url("/files/future.txt"))
    lm, date = h.get("last-modified", ""), h.get("date", "")
    check(status == 200 and IMF.match(lm) and IMF.match(date), f"future.txt: {status} {lm!r} {date!r}")
    if IMF.match(lm) and IMF.match(date):
        check(parsedate_to_datetime(lm) <= parsedate_to_datetime(date),
              f"future.txt: Last-Modified {lm} is later than Date {date} (RFC 9110 8.8.2.1)")

    # --- HEAD answers exactly like GET, without a body. Each is followed by a pipelined GET so
    #     that any stray body byte would corrupt the next response.
    E = curl(s.url("/files/small.txt"))[1]["etag"]
    cases = [("small.txt", ""), ("data.bin", ""), ("empty.bin", ""), ("sub/nested.json", ""),
             ("data.bin", "Range: bytes=100-199\r\n"), ("small.txt", "Range: bytes=-5\r\n"),
             ("data.bin", "Range: bytes=0-9,1000-1999,-10\r\n"), ("small.txt", "Range: bytes=99-\r\n"),
             ("empty.bin", "Range: bytes=0-\r\n"), ("small.txt", f"If-None-Match: {E}\r\n"),
             ("small.txt", 'If-Match: "nope"\r\n'), ("missing.txt", ""), ("small.txt", "Range: bytes=5-1\r\n")]
    for name, extra_hdr in cases:
        what = f"HEAD /files/{name} {extra_hdr.strip()!r}"
        get_req = f"GET /files/{name} HTTP/1.1\r\nHost: t\r\n{extra_hdr}\r\n".encode()
        head_req = f"HEAD /files/{name} HTTP/1.1\r\nHost: t\r\n{extra_hdr}\r\n".encode()
        g = raw(s.port, get_req + TAIL)
        gst, gh, grest = bodiless_then(g)
        hst, hh, hrest = bodiless_then(raw(s.port, head_req + TAIL))
        check(hst == gst and hst != 0, f"{what}: HEAD {hst} vs GET {gst}")
        gh.pop("date", None)
        hh.pop("date", None)
        check(hh == gh, f"{what}: HEAD headers differ from GET:\n  HEAD {hh}\n  GET  {gh}")
        tail = hrest.find(b"HTTP/1.1 ")
        check(tail == 0, f"{what}: {tail if tail >= 0 else len(hrest)} body bytes after the HEAD head: {hrest[:60]!r}")
        tail_resp = parse_responses(hrest)
        check(len(tail_resp) == 1 and tail_resp[0][0] == 200 and tail_resp[0][2] == files["small.txt"],
              f"{what}: the GET pipelined after HEAD: {[r[:2] for r in tail_resp]}")
        # and the GET itself carries the body its Content-Length announces
        if gst != 304:
            n = int(gh.get("content-length", "-1"))
            check(n >= 0 and grest[n:].startswith(b"HTTP/1.1 200 "), f"{what}: GET body is not {n} bytes")
            if gst == 206 and gh.get("content-type", "").startswith("multipart/"):
                try:
                    parse_multipart(grest[:n], gh["content-type"])
                except (ValueError, IndexError) as e:
                    check(False, f"{what}: GET multipart body: {e}")

    # --- other methods: 405, Allow: GET, HEAD, JSON body; the file is untouched
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        args = ["-X", method]
        if method in ("POST", "PUT", "PATCH"):
            args += ["--data-binary", "overwrite me"]
        for path in ("/files/small.txt", "/files/sub/nested.json"):
            status, h, body, _ = curl(s.url(path), *args)
            what = f"{method} {path}"
            check(status == 405, f"{what}: status {status}, expected 405")
            check(h.get("allow") == "GET, HEAD", f"{what}: Allow {h.get('allow')!r}")
            check(h.get("content-type") == "application/json", f"{what}: Content-Type {h.get('content-type')!r}")
            check(h.get("content-length") == str(len(body)), f"{what}: Content-Length {h.get('content-length')}")
            check_json_error(body, 405, what)
    status, h, body, _ = curl(s.url("/files/small.txt"))
    check(status == 200 and body == files["small.txt"], "small.txt changed after PUT/POST/DELETE")
    # a request body is discarded and the connection stays usable
    data = raw(s.port, b"POST /files/small.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world"
               b"PUT /files/data.bin HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
               + TAIL)
    resp = parse_responses(data)
    check([r[0] for r in resp] == [405, 405, 200] and resp[2][2] == files["small.txt"]
          and all(r[1].get("allow") == "GET, HEAD" for r in resp[:2]),
          f"POST and chunked PUT with bodies, then GET: {[(r[0], r[2][:50]) for r in resp]}")

    # --- unknown paths: 404 JSON
    for path in ("/nope", "/filesx", "/files/missing.txt", "/files/sub/missing.json", "/",
                 "/file/small.txt", "/FILES/small.txt"):
        status, h, body, _ = curl(s.url(path))
        check(status == 404, f"GET {path}: status {status}, expected 404")
        check(h.get("content-type") == "application/json", f"GET {path}: Content-Type {h.get('content-type')!r}")
        check_json_error(body, 404, f"GET {path}")

    # --- keep-alive: one curl, several URLs, one connection
    urls = [s.url("/files/small.txt"), s.url("/files/sub/nested.json"), s.url("/files/small.txt")]
    p = subprocess.run(["curl", "-sS", "-v", *urls], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode("latin-1")
    check(p.returncode == 0 and p.stdout == files["small.txt"] + files["sub/nested.json"] + files["small.txt"],
          f"curl with three URLs: rc {p.returncode}, {p.stdout[:100]!r}")
    check(err.count("Re-using existing connection") == 2, "curl did not reuse its connection:\n" + err[-2000:])
    check(err.count("Connected to ") == 1, f"curl connected {err.count('Connected to ')} times")
    check("Connection: close" not in err, "a keep-alive response carried Connection: close")
    # the same over one socket, each request sent after the previous response was read
    def read_one(sock):
        buf = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                n = int(fields(buf[:end].decode("latin-1"))[1].get("content-length", "0"))
                if len(buf) >= end + 4 + n:
                    return buf
            b = sock.recv(65536)
            if not b:
                return buf
            buf += b

    got = []
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sk:
            for name, rng in [("small.txt", None), ("data.bin", "bytes=10-19"), ("sub/nested.json", None)]:
                rng_line = f"Range: {rng}\r\n" if rng else ""
                sk.sendall(f"GET /files/{name} HTTP/1.1\r\nHost: t\r\n{rng_line}\r\n".encode())
                got.append(parse_responses(read_one(sk)))
    except OSError as e:
        check(False, f"sequential keep-alive: {e!r} after {len(got)} responses")
    check([len(r) for r in got] == [1, 1, 1], f"sequential keep-alive: {[len(r) for r in got]} responses")
    if [len(r) for r in got] == [1, 1, 1]:
        check(got[0][0][0] == 200 and got[0][0][2] == files["small.txt"], f"keep-alive #1: {got[0][0][:2]}")
        check(got[1][0][0] == 206 and got[1][0][2] == files["data.bin"][10:20], f"keep-alive #2: {got[1][0][:2]}")
        check(got[2][0][0] == 200 and got[2][0][2] == files["sub/nested.json"], f"keep-alive #3: {got[2][0][:2]}")

    # --- pipelining: three requests in one send, three answers in order
    data = raw(s.port, b"GET /files/small.txt HTTP/1.1\r\nHost: t\r\n\r\n"
               b"GET /files/data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=299990-\r\n\r\n"
               b"GET /files/sub/nested.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    resp = parse_responses(data)
    check(len(resp) == 3, f"pipelining: {len(resp)} responses")
    if len(resp) == 3:
        check(resp[0][0] == 200 and resp[0][2] == files["small.txt"], f"pipelined #1: {resp[0][:2]}")
        check(resp[1][0] == 206 and resp[1][2] == files["data.bin"][299990:]
              and resp[1][1].get("content-range") == "bytes 299990-299999/300000", f"pipelined #2: {resp[1][:2]}")
        check(resp[2][0] == 200 and resp[2][2] == files["sub/nested.json"], f"pipelined #3: {resp[2][:2]}")
    # a longer pipeline mixing whole files, ranges, a multipart, a 416 and a 404
    reqs = [("small.txt", None), ("data.bin", "bytes=0-0,-1"), ("nope.txt", None), ("small.txt", "bytes=99-"),
            ("data.bin", None), ("sub/nested.json", "bytes=2-7")] * 3
    blob = b"".join(f"GET /files/{n} HTTP/1.1\r\nHost: t\r\n".encode()
                    + (f"Range: {r}\r\n".encode() if r else b"") + b"\r\n" for n, r in reqs) + TAIL
    resp = parse_responses(raw(s.port, blob))
    want = [200, 206, 404, 416, 200, 206] * 3 + [200]
    check([r[0] for r in resp] == want, f"long pipeline statuses {[r[0] for r in resp]}")
    if len(resp) == len(want):
        for i, ((n, r), (st, h, body)) in enumerate(zip(reqs, resp)):
            if st == 200:
                check(body == files[n], f"long pipeline #{i}: body of {n}")
            elif st == 206 and n == "data.bin":
                try:
                    parts = parse_multipart(body, h.get("content-type", ""))
                    check([p[1] for p in parts] == [files[n][:1], files[n][-1:]], f"long pipeline #{i}: parts")
                except (ValueError, IndexError) as e:
                    check(False, f"long pipeline #{i}: multipart {e}")
            elif st == 206:
                check(body == files[n][2:8], f"long pipeline #{i}: range body {body!r}")

    # --- HTTP/1.0 without keep-alive: answered, then closed by the server
    t0 = time.time()
    data = raw(s.port, b"GET /files/small.txt HTTP/1.0\r\n\r\n", timeout=10)
    resp = parse_responses(data)
    check(len(resp) == 1 and resp[0][0] == 200 and resp[0][2] == files["small.txt"], f"HTTP/1.0: {data[:80]!r}")
    check(time.time() - t0 < 5, "HTTP/1.0: the server did not close the connection")

shutil.rmtree(root, ignore_errors=True)  # the served tree (80 MiB in test_ranges)
done()

#!/usr/bin/env python3
"""cold_client.py - the client side of tests/bench/cold.sh (stdlib only).

  plan  --port P --file F --path /files/NAME --samples N --record S --seed R --big K
        --big-size B --out PLAN.json
      Asks mmapd (warm) for /sample?n=N&size=S&seed=R&format=multipart and keeps the
      records' offsets in the order of its Content-Range lines; draws K distinct B-aligned
      ranges of B bytes from the seed; stores the sha256 of every record and range, read
      from the file (so the file must be readable now, before the eviction).
  probe --port P --path /files/NAME --size FILESIZE [--ranges 64]
      Sends one request with that many 4 KiB ranges and prints how many of them the answer
      holds (a server that answers fewer parts than asked caps ranges per request).
  run   --port P --plan PLAN.json --case sample|multi|big [--per-req K]
      Times one case over one keep-alive connection (reconnecting only when the server
      closes): sample = one GET /sample of all the records; multi = the same records as
      multi-range GETs of K ranges each (the offsets in /sample order, consecutive groups);
      big = one single-range GET per range. curl makes the requests (one keep-alive
      connection, bodies to tmpfs); the time is the sum of its transfers. Then every answer
      is checked: status, Content-Range of every part, the parts covering
      exactly the ranges asked (a server may merge adjacent ranges, not drop any), and the
      sha256 of every range. Prints one line: wall_ms requests body_bytes status
      (status "ok" or "bad:<first problem>").
"""
import argparse
import bisect
import hashlib
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

CR_RE = re.compile(rb"^content-range:\s*bytes\s+(\d+)-(\d+)/(\d+)\s*$", re.I | re.M)


def coalesce(ranges):
    out = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def multipart_parts(body, boundary):
    """(first, last, bytes) of every part, read by length (bodies are binary)."""
    delim = b"--" + boundary
    parts = []
    pos = body.find(delim)
    while pos >= 0:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            return parts
        hend = body.find(b"\r\n\r\n", pos)
        if hend < 0:
            raise ValueError("part without end of headers")
        m = CR_RE.search(body[pos:hend])
        if not m:
            raise ValueError("part without Content-Range")
        first, last = int(m.group(1)), int(m.group(2))
        start = hend + 4
        parts.append((first, last, body[start:start + last - first + 1]))
        pos = body.find(delim, start + last - first + 1)
    raise ValueError("multipart body without closing boundary")


def parts_of(status, headers, body):
    """The parts of a 206 (single or multipart) or a /sample 200 multipart answer."""
    ctype = headers.get("content-type", "")
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    if ctype.startswith("multipart/byteranges") and m:
        return multipart_parts(body, m.group(1).encode())
    if status == 206:
        cr = re.match(r"bytes (\d+)-(\d+)/\d+", headers.get("content-range", ""))
        if not cr:
            raise ValueError("206 without Content-Range")
        return [(int(cr.group(1)), int(cr.group(2)), body)]
    raise ValueError(f"status {status}, {ctype or 'no Content-Type'}, {len(body)} bytes")


def check(want_status, status, headers, body, ranges, digests):
    """None if the answer holds exactly `ranges` with the right bytes, else the problem."""
    if status != want_status:
        return f"status {status} (want {want_status})"
    parts = parts_of(status, headers, body)
    for a, b, data in parts:
        if len(data) != b - a + 1:
            return f"part {a}-{b}: {len(data)} bytes"
    got = coalesce([(a, b) for a, b, _ in parts])
    want = coalesce(ranges)
    if got != want:
        return f"{len(parts)} parts cover {len(got)} spans, {len(want)} asked"
    parts.sort(key=lambda p: p[0])
    starts = [p[0] for p in parts]
    for a, b in ranges:
        i = bisect.bisect_right(starts, a) - 1
        p = parts[i] if i >= 0 else None
        if p is None or b > p[1]:
            return f"range {a}-{b} missing"
        piece = p[2][a - p[0]:b - p[0] + 1]
        if hashlib.sha256(piece).hexdigest() != digests[str(a)]:
            return f"range {a}-{b}: wrong bytes"
    return None


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = None
        self.requests = 0

    def get(self, url, rng=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        self.conn.request("GET", url, headers={"Range": rng} if rng else {})
        r = self.conn.getresponse()
        body = r.read()
        self.requests += 1
        headers = {k.lower(): v for k, v in r.getheaders()}
        if r.will_close:
            self.conn.close()
            self.conn = None
        return r.status, headers, body


def cmd_plan(a):
    c = Client(a.port)
    url = f"/sample/{os.path.basename(a.path)}?n={a.samples}&size={a.record}&seed={a.seed}&format=multipart"
    status, headers, body = c.get(url)
    if status != 200:
        sys.exit(f"plan: {url}: status {status}")
    offsets = [int(m.group(1)) for m in CR_RE.finditer(body)]
    if len(offsets) != a.samples:
        sys.exit(f"plan: {len(offsets)} records in the /sample answer, {a.samples} asked")
    size = os.path.getsize(a.file)
    rnd = random.Random(a.seed)
    big = [s * a.big_size for s in rnd.sample(range(size // a.big_size), a.big)]
    digests = {"record": {}, "big": {}}
    fd = os.open(a.file, os.O_RDONLY)
    for off in offsets:
        digests["record"][str(off)] = hashlib.sha256(os.pread(fd, a.record, off)).hexdigest()
    for off in big:
        digests["big"][str(off)] = hashlib.sha256(os.pread(fd, a.big_size, off)).hexdigest()
    os.close(fd)
    json.dump({"path": a.path, "size": size, "seed": a.seed, "samples": a.samples,
               "record": a.record, "offsets": offsets, "big_size": a.big_size, "big": big,
               "digests": digests}, open(a.out, "w"))


def cmd_probe(a):
    rnd = random.Random(1)
    offs = sorted(rnd.sample(range(a.size // 4096), a.ranges))
    rng = "bytes=" + ",".join(f"{o * 4096}-{o * 4096 + 4095}" for o in offs)
    status, headers, body = Client(a.port).get(a.path, rng)
    try:
        print(len(parts_of(status, headers, body)) if status == 206 else 0)
    except ValueError:
        print(0)


def read_headers(path):
    """(status, {name: value}) of the last response in a curl --dump-header file."""
    status, headers = 0, {}
    for line in open(path, "rb").read().decode("latin-1").split("\r\n"):
        if line.startswith("HTTP/"):
            status, headers = int(line.split()[1]), {}
        elif ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


def run_with_curl(port, jobs):
    """Runs the jobs in order on one curl keep-alive connection, bodies and headers to files
    in /dev/shm (tmpfs: no disk I/O beside the server's, no page faults in a Python heap:
    a Python client spent about 3 ms per MiB received, more than the disk's cold read).
    Returns ([(status, headers, body)], wall ms = the sum of curl's per-transfer times,
    failure or None)."""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="cold-client-", dir=shm) as tmp:
        cfg = []
        for i, (url, rng, _, _, _) in enumerate(jobs):
            if i:
                cfg.append("next")
            cfg.append(f'url = "http://127.0.0.1:{port}{url}"')
            if rng:
                cfg.append(f'header = "Range: {rng}"')
            cfg += [f'output = "{tmp}/b{i}"', f'dump-header = "{tmp}/h{i}"',
                    'write-out = "%{time_total}\\n"']
        with open(f"{tmp}/curl.cfg", "w") as f:
            f.write("\n".join(cfg) + "\n")
        run = subprocess.run(["curl", "-s", "-K", f"{tmp}/curl.cfg"], capture_output=True,
                             text=True, timeout=600)
        times = [float(t) for t in run.stdout.split()]
        wall = sum(times) * 1000
        if run.returncode != 0 or len(times) != len(jobs):
            return [], wall, f"curl_exit_{run.returncode}_after_{len(times)}"
        answers = []
        for i in range(len(jobs)):
            status, headers = read_headers(f"{tmp}/h{i}")
            answers.append((status, headers, open(f"{tmp}/b{i}", "rb").read()))
        return answers, wall, None


def cmd_run(a):
    plan = json.load(open(a.plan))
    rec, path = plan["record"], plan["path"]
    jobs = []  # (url, Range header or None, ranges, digests, status wanted)
    if a.case == "sample":
        url = (f"/sample/{os.path.basename(path)}?n={plan['samples']}&size={rec}"
               f"&seed={plan['seed']}&format=multipart")
        jobs.append((url, None, [(o, o + rec - 1) for o in plan["offsets"]],
                     plan["digests"]["record"], 200))
    elif a.case == "multi":
        offs = plan["offsets"]
        for i in range(0, len(offs), a.per_req):
            group = [(o, o + rec - 1) for o in offs[i:i + a.per_req]]
            jobs.append((path, "bytes=" + ",".join(f"{x}-{y}" for x, y in group), group,
                         plan["digests"]["record"], 206))
    else:
        bs = plan["big_size"]
        for o in plan["big"]:
            jobs.append((path, f"bytes={o}-{o + bs - 1}", [(o, o + bs - 1)],
                         plan["digests"]["big"], 206))
    answers, wall, failure = run_with_curl(a.port, jobs)
    if failure:
        print(f"{wall:.1f} {len(answers)} 0 bad:{failure}".replace(",", ";"))
        return
    problem = None
    for (url, _, ranges, digests, want), (status, headers, body) in zip(jobs, answers):
        try:
            problem = check(want, status, headers, body, ranges, digests)
        except ValueError as e:
            problem = str(e)
        if problem:
            break
    nbytes = sum(len(b) for _, _, b in answers)
    status = "ok" if not problem else "bad:" + problem.replace(" ", "_").replace(",", ";")
    print(f"{wall:.1f} {len(answers)} {nbytes} {status}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("plan")
    pl.add_argument("--port", type=int, required=True)
    pl.add_argument("--file", required=True)
    pl.add_argument("--path", required=True)
    pl.add_argument("--samples", type=int, required=True)
    pl.add_argument("--record", type=int, required=True)
    pl.add_argument("--seed", type=int, required=True)
    pl.add_argument("--big", type=int, required=True)
    pl.add_argument("--big-size", type=int, required=True)
    pl.add_argument("--out", required=True)
    pr = sub.add_parser("probe")
    pr.add_argument("--port", type=int, required=True)
    pr.add_argument("--path", required=True)
    pr.add_argument("--size", type=int, required=True)
    pr.add_argument("--ranges", type=int, default=64)
    ru = sub.add_parser("run")
    ru.add_argument("--port", type=int, required=True)
    ru.add_argument("--plan", required=True)
    ru.add_argument("--case", choices=("sample", "multi", "big"), required=True)
    ru.add_argument("--per-req", type=int, default=64)
    a = p.parse_args()
    {"plan": cmd_plan, "probe": cmd_probe, "run": cmd_run}[a.cmd](a)


if __name__ == "__main__":
    main()

"""test_sample.py - GET/HEAD /sample/<path> on the real mmapd binary.

Correctness: every record of every format (multipart parsed strictly, json with base64, raw by
its Sample-Offsets header) equals the file's bytes at its offset, and the offsets are exactly
those of tests/unit/sampling/sample_reference.py for the same parameters; the headers (ETag,
Last-Modified, Sample-Seed/Next/Records/Slots, Cache-Control) are as documented.
Determinism: the same seed gives byte-identical bodies across restarts and --threads 1 and 4.
Errors: every bad input is a 400 whose JSON names the parameter and the reason.
Shapes: n = 1, n = 511 (iovec), n = 512 and n = 4096 (copying reader), the default limits
(4096 x 16 KiB = 64 MiB), --sample-iovec-max 0, --connection-memory at its minimum.
Paging: epochs differ, shards of W ranks are disjoint and cover the file, pages joined by
Sample-Next equal one big page, zero-record pages (204 multipart, 200 json/raw).
Files: a 0-byte file, a file smaller than S, a 1 GiB sparse file.
HEAD, 405, path rules as /files; metrics (records, requests, miss bytes, madvise class random);
truncation under a json and a copying multipart answer: a closed connection, a counted SIGBUS
read error, a live server.
"""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from harness import Server, check, curl, done, parse_multipart, raw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../unit/sampling"))
import sample_reference as ref  # noqa: E402

MIB = 1 << 20
ROOT = tempfile.mkdtemp(prefix="mmapd-sample-")
DATA = {}


def put(name, data):
    path = os.path.join(ROOT, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    DATA[name] = data
    return path


put("data.bin", os.urandom(300_000))
put("small.bin", bytes(range(256)) * 2)          # 512 bytes
put("tiny.bin", b"0123456789")                   # 10 bytes
put("empty.bin", b"")
put("slots50.bin", os.urandom(50 * 8))           # 50 records of 8 bytes
put("big.bin", os.urandom(64 * MIB + 12345))     # room for 4096 x 16 KiB without replacement
put("sub/nested.bin", os.urandom(4096))
put("we ird+name.bin", os.urandom(1000))
SPARSE = os.path.join(ROOT, "sparse.bin")
with open(SPARSE, "wb") as f:
    f.truncate(1 << 30)


def q(**params):
    return "&".join(f"{k}={v}" for k, v in params.items())


def get(srv, name, query, *args):
    return curl(srv.url(f"/sample/{name}?{query}"), *args)


def records(status, headers, body, fmt, size):
    """[(offset, bytes)] of a 200 answer in format fmt."""
    if fmt == "multipart":
        out = []
        for h, data in parse_multipart(body, headers.get("content-type", "")):
            m = re.match(r"bytes (\d+)-(\d+)/(\d+)$", h["content-range"])
            check(int(m.group(2)) - int(m.group(1)) + 1 == size, f"part length {h}")
            out.append((int(m.group(1)), data))
        return out
    if fmt == "json":
        doc = json.loads(body)
        return [(r["offset"], base64.b64decode(r["data"], validate=True)) for r in doc["records"]]
    offsets = json.loads(headers["sample-offsets"])
    check(len(body) == size * len(offsets), f"raw body {len(body)} != {size} x {len(offsets)}")
    return [(o, body[i * size:(i + 1) * size]) for i, o in enumerate(offsets)]


def expect_sample(srv, name, fmt, label, size, n, seed=None, **kw):
    """Requests a sample, checks records, offsets, headers against the reference; returns
    (headers, body, offsets)."""
    params = dict(n=n, size=size, format=fmt)
    if seed is not None:
        params["seed"] = seed
    for k in ("align", "epoch", "rank", "world", "start", "replace"):
        if k in kw:
            params[k] = kw[k]
    st, h, body, _ = get(srv, name, q(**params))
    if not check(st == 200, f"[{label}] status {st}: {body[:300]!r}"):
        return h, body, []
    data = DATA[name] if name in DATA else None
    used_seed = int(h.get("sample-seed", "-1"))
    if seed is not None:
        check(used_seed == seed, f"[{label}] Sample-Seed {h.get('sample-seed')} != {seed}")
        check("cache-control" not in h, f"[{label}] Cache-Control with a seed: {h}")
    else:
        check(h.get("cache-control") == "no-store", f"[{label}] no Cache-Control: no-store")
    file_size = len(data) if data is not None else os.path.getsize(os.path.join(ROOT, name))
    slots, shard_len, count, nxt, want = ref.sample(
        file_size, size, n, used_seed, kw.get("align"), kw.get("epoch", 0), kw.get("rank", 0),
        kw.get("world", 1), kw.get("start", 0), bool(kw.get("replace", 0)))
    recs = records(st, h, body, fmt, size)
    got = [o for o, _ in recs]
    check(got == want, f"[{label}] offsets {got[:8]}... != reference {want[:8]}...")
    bad = [o for o, d in recs
           if d != (data[o:o + size] if data is not None else bytes(size))]
    check(not bad, f"[{label}] {len(bad)} record(s) differ from the file, first at {bad[:3]}")
    check(h.get("sample-records") == str(count), f"[{label}] Sample-Records {h.get('sample-records')}"
          f" != {count}")
    check(h.get("sample-slots") == str(slots), f"[{label}] Sample-Slots {h.get('sample-slots')}")
    check(h.get("sample-next") == ("end" if nxt == ref.END else str(nxt)),
          f"[{label}] Sample-Next {h.get('sample-next')} != {nxt}")
    check(h.get("content-length") == str(len(body)), f"[{label}] Content-Length")
    ctype = {"multipart": "multipart/byteranges; boundary=", "json": "application/json",
             "raw": "application/octet-stream"}[fmt]
    check(h.get("content-type", "").startswith(ctype), f"[{label}] Content-Type {h}")
    check("last-modified" in h and h.get("etag", "").startswith('"'), f"[{label}] validators {h}")
    if fmt == "json":
        doc = json.loads(body)
        check(doc["seed"] == str(used_seed) and doc["etag"] == h["etag"] and doc["file"] == name,
              f"[{label}] json envelope {dict((k, doc[k]) for k in ('file', 'etag', 'seed'))}")
    return h, body, got


def head(srv, target):
    """HEAD with http.client (curl -I would print the head as the body): (status, headers with
    lower-case names, body)."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    c.request("HEAD", target)
    r = c.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return out


def expect_400(srv, name, query, param, reason, label=None):
    label = label or f"{name}?{query}"
    st, h, body, _ = get(srv, name, query)
    check(st == 400, f"[{label}] status {st}, expected 400: {body[:200]!r}")
    check(h.get("content-type") == "application/json", f"[{label}] Content-Type {h}")
    try:
        doc = json.loads(body)
    except ValueError:
        check(False, f"[{label}] body is not JSON: {body[:200]!r}")
        return
    check(doc.get("parameter") == param, f"[{label}] parameter {doc.get('parameter')!r} != {param!r}")
    check(reason in doc.get("reason", ""), f"[{label}] reason {doc.get('reason')!r} lacks {reason!r}")
    check(doc.get("status") == 400 and "error" in doc, f"[{label}] body {doc}")


SAMPLE_LINE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")


def scrape(srv):
    st, h, body, _ = curl(srv.url("/metrics"))
    check(st == 200, f"/metrics {st}")
    out = {}
    for line in body.decode().split("\n"):
        m = SAMPLE_LINE.fullmatch(line)
        if line and not line.startswith("#") and m:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- every format, the reference offsets, the headers ----------------------------------------
with Server(ROOT, args=["--sample-iovec-max", "511", "--connection-memory", "64K"]) as s:
    files_etag = curl(s.url("/files/data.bin"), "-I")[1].get("etag")
    cases = [
        ("n=1 size=1", "data.bin", dict(size=1, n=1, seed=0)),
        ("ten records", "data.bin", dict(size=100, n=10, seed=5)),
        ("align 7", "data.bin", dict(size=100, n=20, seed=6, align=7)),
        ("align > size", "data.bin", dict(size=10, n=20, seed=7, align=4096)),
        ("replacement", "small.bin", dict(size=64, n=40, seed=8, replace=1)),
        ("replace=0 explicit", "small.bin", dict(size=64, n=8, seed=8, replace=0)),
        ("epoch 3", "data.bin", dict(size=64, n=30, seed=9, epoch=3)),
        ("rank 1 of 3", "data.bin", dict(size=64, n=30, seed=9, rank=1, world=3)),
        ("start 2", "data.bin", dict(size=64, n=30, seed=9, start=2)),
        ("whole file, one record", "tiny.bin", dict(size=10, n=1, seed=1)),
        ("every slot", "small.bin", dict(size=64, n=8, seed=3)),
        ("max seed", "data.bin", dict(size=3, n=5, seed=18446744073709551615)),
        ("nested", "sub/nested.bin", dict(size=512, n=3, seed=2)),
    ]
    for fmt in ("multipart", "json", "raw"):
        for label, name, kw in cases:
            expect_sample(s, name, fmt, f"{fmt} {label}", **kw)
        # no seed: the server picks one and says which
        h1, _, o1 = expect_sample(s, "data.bin", fmt, f"{fmt} no seed", size=64, n=50)
        h2, _, o2 = expect_sample(s, "data.bin", fmt, f"{fmt} no seed again", size=64, n=50)
        check(h1.get("sample-seed") != h2.get("sample-seed") and o1 != o2,
              f"[{fmt}] two requests without seed got the same seed {h1.get('sample-seed')}")
    h, _, _ = expect_sample(s, "data.bin", "multipart", "etag", size=8, n=2, seed=1)
    check(h.get("etag") == files_etag, f"/sample ETag {h.get('etag')} != /files ETag {files_etag}")
    # the file name in a URL is percent-decoded once, as for /files; '+' is a plus
    st, h, body, _ = get(s, "we%20ird+name.bin", "n=3&size=10&seed=1&format=json")
    check(st == 200 and json.loads(body)["file"] == "we ird+name.bin",
          f"odd name: {st} {body[:200]!r}")
    # the query is read raw: percent-escapes decoded once, '+' is not a space
    st, h, body, _ = get(s, "data.bin", "%6E=3&si%7Ae=%36%34&seed=%31")
    check(st == 200 and h.get("sample-records") == "3" and h.get("sample-seed") == "1",
          f"escaped names and values: {st} {h}")
    expect_400(s, "data.bin", "n=+5&size=4", "n", "not a number")
    expect_400(s, "data.bin", "n&size=4", "n", "empty value")

    # --- HEAD, 405, paths ------------------------------------------------------------------
    for fmt in ("multipart", "json", "raw"):
        query = q(n=20, size=100, seed=4, format=fmt)
        st_g, h_g, body_g, _ = get(s, "data.bin", query)
        st_h, h_h, body_h = head(s, f"/sample/data.bin?{query}")
        check(st_h == 200 and body_h == b"", f"HEAD {fmt}: {st_h} body {len(body_h)}")
        for k in ("content-type", "content-length", "etag", "sample-seed", "sample-next",
                  "sample-records", "sample-slots", "sample-offsets"):
            check(h_g.get(k) == h_h.get(k), f"HEAD {fmt} header {k}: {h_h.get(k)} != GET {h_g.get(k)}")
        check(h_h.get("content-length") == str(len(body_g)), f"HEAD {fmt} Content-Length")
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        st, h, body, _ = curl(s.url("/sample/data.bin?n=1&size=1"), "-X", method)
        check(st == 405 and h.get("allow") == "GET, HEAD", f"{method}: {st} {h.get('allow')}")
    for path, want in (("missing.bin", 404), ("sub", 403), ("sub/", 403), ("", 404),
                       ("..%2Fetc%2Fpasswd", 403), ("../data.bin", 403), (".hidden", 403),
                       ("bad%zz", 400), ("nul%00.bin", 400)):
        st, h, body, _ = curl(s.url(f"/sample/{path}?n=1&size=1"))
        check(st == want, f"/sample/{path}: {st}, expected {want}")
    st, _, _, _ = curl(s.url("/sample?n=1&size=1"))
    check(st == 404, f"/sample without a path: {st}")

    # --- 400s: every bad input names its parameter -------------------------------------------
    bad = [
        ("", "n", "missing"),
        ("size=4", "n", "missing"),
        ("n=4", "size", "missing"),
        ("n=abc&size=4", "n", "not a number"),
        ("n=4&size=1x", "size", "not a number"),
        ("n=4&size=4&seed=0x10", "seed", "not a number"),
        ("n=0&size=4", "n", "must be > 0"),
        ("n=4&size=0", "size", "must be > 0"),
        ("n=4&size=4&align=0", "align", "must be > 0"),
        ("n=4&size=4&rank=0&world=0", "world", "must be > 0"),
        ("n=-1&size=4", "n", "must not be negative"),
        ("n=4&size=4&epoch=-3", "epoch", "must not be negative"),
        ("n=99999999999999999999&size=4", "n", "too large"),
        ("n=4&size=4&seed=18446744073709551616", "seed", "too large"),
        ("n=4&size=300001", "size", "larger than the file"),
        ("n=1&n=2&size=4", "n", "repeated"),
        ("n=1&size=4&size=4", "size", "repeated"),
        ("n=1&size=4&format=xml", "format", "unknown format"),
        ("n=1&size=4&foo=1", "foo", "unknown parameter"),
        ("n=1&size=4&N=1", "N", "unknown parameter"),
        ("n=1&size=4&replace=2", "replace", "must be 0 or 1"),
        ("n=1&size=4&rank=3&world=3", "rank", "must be < world"),
        ("n=1&size=4&rank=1", "world", "missing (rank given)"),
        ("n=1&size=4&world=2", "rank", "missing (world given)"),
        ("n=4097&size=4", "n", "exceeds --max-sample-records"),
        ("n=1&size=67108865", "size", "exceeds --max-sample-bytes"),
        ("n=4096&size=16385", "n", "n*size exceeds --max-sample-bytes"),
        ("n=3001&size=100", "n", "more than the distinct records"),
        ("n=10&size=64&start=5000", "start", "beyond the end"),
        ("n=10&size=64&replace=1&start=18446744073709551615", "start", "too large"),
        ("n=1&size=4&n%3D1", "n=1", "unknown parameter"),
        ("n=1&size=4&bad%zz=1", "bad%zz", "bad percent-encoding"),
        ("n=1&size=4&=3", "", "empty parameter name"),
    ]
    for query, param, reason in bad:
        expect_400(s, "data.bin", query, param, reason)
    expect_400(s, "empty.bin", "n=1&size=1", "size", "larger than the file", "0-byte file")
    expect_400(s, "tiny.bin", "n=1&size=11", "size", "larger than the file", "file < S")
    expect_400(s, "small.bin", "n=9&size=64", "n", "more than the distinct records", "n > slots")
    expect_sample(s, "small.bin", "json", "n > slots with replacement", size=64, n=9, seed=1,
                  replace=1)
    # raw: the offsets must fit in the header (8000 bytes); else 400 naming the other formats
    expect_400(s, "big.bin", "n=1000&size=16&seed=1&format=raw", "format", "format=multipart")
    h, body, _ = expect_sample(s, "big.bin", "raw", "raw, ~7 KB of offsets", size=16, n=700,
                               seed=1)
    check(len(h.get("sample-offsets", "")) > 5000, "raw: long Sample-Offsets header")

    # --- epochs, shards, pages ------------------------------------------------------------------
    _, _, e0 = expect_sample(s, "data.bin", "raw", "epoch 0", size=64, n=100, seed=11, epoch=0)
    _, _, e1 = expect_sample(s, "data.bin", "raw", "epoch 1", size=64, n=100, seed=11, epoch=1)
    check(e0 != e1 and set(e0) != set(e1), "epochs 0 and 1 gave the same records")
    for replace in (0, 1):
        _, _, r0 = expect_sample(s, "data.bin", "raw", f"seed 11 replace={replace}", size=64,
                                 n=100, seed=11, replace=replace)
        _, _, r1 = expect_sample(s, "data.bin", "raw", f"seed 12 replace={replace}", size=64,
                                 n=100, seed=12, replace=replace)
        check(r0 != r1, f"seeds 11 and 12 gave the same records (replace={replace})")

    world = 3
    shards = []
    for rank in range(world):
        got, start, pages = [], 0, 0
        while True:
            h, _, offs = expect_sample(s, "slots50.bin", "json", f"rank {rank} page {pages}",
                                       size=8, n=7, seed=21, rank=rank, world=world, start=start)
            got += offs
            pages += 1
            nxt = h.get("sample-next")
            if nxt == "end" or pages > 20:
                break
            check(int(nxt) == start + 7, f"rank {rank}: Sample-Next {nxt} after start {start}")
            start = int(nxt)
        whole = expect_sample(s, "slots50.bin", "json", f"rank {rank} whole", size=8, n=50,
                              seed=21, rank=rank, world=world)[2]
        check(got == whole, f"rank {rank}: pages joined != one page: {got} vs {whole}")
        shards.append(got)
    every = [o for sh in shards for o in sh]
    check(len(every) == 50 and set(every) == set(range(0, 400, 8)),
          f"shards not disjoint and complete: {len(every)} offsets, {len(set(every))} distinct")
    check(max(map(len, shards)) - min(map(len, shards)) <= 1, "shard sizes differ by more than 1")
    # pages of one unsharded epoch join into the permutation
    joined = []
    for start in range(0, 50, 16):
        joined += expect_sample(s, "slots50.bin", "raw", f"page at {start}", size=8, n=16,
                                seed=22, start=start)[2]
    check(sorted(joined) == list(range(0, 400, 8)), "pages of an epoch are not a permutation")

    # zero-record pages: start at the end of the shard, or a rank beyond the slots
    for query, label in (("n=5&size=8&seed=1&start=50", "start == shard length"),
                         ("n=1&size=10&seed=1&rank=3&world=4", "rank beyond the slots")):
        name = "slots50.bin" if "start" in query else "tiny.bin"
        st, h, body, _ = get(s, name, query)
        check(st == 204 and body == b"" and h.get("sample-records") == "0"
              and h.get("sample-next") == "end" and "content-type" not in h,
              f"[{label}] multipart: {st} {h} {body[:80]!r}")
        st, h, body, _ = get(s, name, query + "&format=json")
        doc = json.loads(body) if st == 200 else {}
        check(st == 200 and doc.get("records") == [] and h.get("sample-records") == "0"
              and h.get("sample-next") == "end", f"[{label}] json: {st} {body[:200]!r}")
        st, h, body, _ = get(s, name, query + "&format=raw")
        check(st == 200 and body == b"" and h.get("sample-offsets") == "[]"
              and h.get("content-length") == "0", f"[{label}] raw: {st} {h}")

    # --- sizes and shapes -------------------------------------------------------------------------
    for fmt in ("multipart", "json", "raw"):
        expect_sample(s, "sparse.bin", fmt, f"{fmt} 1 GiB sparse", size=4096, n=64, seed=5)
        expect_sample(s, "sparse.bin", fmt, f"{fmt} 1 GiB sparse, replace", size=512, n=64,
                      seed=5, replace=1)
    for n in (511, 512):  # the last iovec size and the first copied one
        for fmt in ("multipart", "raw"):
            expect_sample(s, "big.bin", fmt, f"{fmt} n={n}", size=4, n=n, seed=n)
    for fmt in ("multipart", "json"):  # the default limits: 4096 x 16 KiB = 64 MiB
        expect_sample(s, "big.bin", fmt, f"{fmt} n=4096 x 16 KiB", size=16384, n=4096, seed=3)
    expect_sample(s, "data.bin", "multipart", "multipart n=4096 small", size=64, n=4096, seed=3)
    expect_sample(s, "data.bin", "json", "json n=4096 small", size=64, n=4096, seed=3)
    # raw: the offsets header decides; 3999 one-digit offsets take 7999 bytes, 4000 take 8001
    expect_sample(s, "tiny.bin", "raw", "raw n=3999 x 1 byte", size=1, n=3999, seed=3,
                  replace=1)
    expect_400(s, "tiny.bin", "n=4000&size=1&seed=3&replace=1&format=raw", "format",
               "Sample-Offsets", "raw n=4000 one-digit offsets")
    expect_400(s, "big.bin", "n=4096&size=16384&seed=3&format=raw", "format",
               "format=json", "raw n=4096 x 16 KiB")

# the copying reader for every size, and the smallest memory pool the checks accept
with Server(ROOT, args=["--sample-iovec-max", "0"]) as s:
    for fmt in ("multipart", "raw"):
        for n in (1, 2, 100):
            expect_sample(s, "data.bin", fmt, f"reader only {fmt} n={n}", size=100, n=n, seed=n)
with Server(ROOT, args=["--connection-memory", "49120", "--max-ranges", "1"]) as s:
    for fmt in ("multipart", "raw"):
        expect_sample(s, "big.bin", fmt, f"49120-byte pool {fmt} n=511", size=16, n=511, seed=9)
    expect_sample(s, "big.bin", "raw", "49120-byte pool, raw with a long header", size=16,
                  n=700, seed=9)
with Server(ROOT, args=["--max-sample-records", "10", "--max-sample-bytes", "1K"]) as s:
    expect_400(s, "data.bin", "n=11&size=1", "n", "exceeds --max-sample-records")
    expect_400(s, "data.bin", "n=1&size=1025", "size", "exceeds --max-sample-bytes")
    expect_400(s, "data.bin", "n=10&size=103", "n", "n*size exceeds --max-sample-bytes")
    expect_sample(s, "data.bin", "multipart", "at both limits", size=102, n=10, seed=1)

# --- determinism: restarts and thread counts ---------------------------------------------------
QUERIES = [(fmt, q(n=n, size=size, seed=seed, format=fmt, **extra))
           for fmt in ("multipart", "json", "raw")
           for n, size, seed, extra in ((50, 100, 77, {}), (600, 64, 78, {"epoch": 2}),
                                        (30, 10, 79, {"replace": 1, "rank": 1, "world": 2}))]
runs = []
for threads in (1, 1, 4):
    with Server(ROOT, args=["--threads", str(threads)]) as s:
        runs.append([(get(s, "data.bin", query)) for _, query in QUERIES])
for (fmt, query), a, b, c in zip(QUERIES, *runs):
    keys = ("content-type", "etag", "sample-seed", "sample-next", "sample-records",
            "sample-offsets", "content-length")
    same = all(x[0] == 200 for x in (a, b, c)) and a[2] == b[2] == c[2] and \
        all(a[1].get(k) == b[1].get(k) == c[1].get(k) for k in keys)
    check(same, f"[{query}] differs across restarts or --threads 1/4")

# --- metrics -----------------------------------------------------------------------------------
with Server(ROOT, args=["--sample-iovec-max", "511", "--connection-memory", "64K"]) as s:
    before = scrape(s)
    served = 0
    for fmt, n in (("multipart", 7), ("json", 11), ("raw", 13), ("multipart", 600)):
        st, h, _, _ = get(s, "data.bin", q(n=n, size=64, seed=1, format=fmt))
        check(st == 200, f"metrics traffic {fmt}: {st}")
        served += n
    head(s, "/sample/data.bin?" + q(n=5, size=64, seed=1))  # HEAD: no records served
    get(s, "data.bin", q(n=0, size=64))                 # 400
    get(s, "slots50.bin", "n=5&size=8&seed=1&start=50")  # 204: none
    after = scrape(s)
    d = lambda name, **labels: metric(after, name, **labels) - metric(before, name, **labels)
    check(d("mmapd_sample_records_total") == served,
          f"mmapd_sample_records_total grew by {d('mmapd_sample_records_total')}, served {served}")
    check(d("mmapd_http_requests_total", handler="sample", method="GET", code="200") == 4,
          "sample GET 200 not counted 4 times")
    check(d("mmapd_http_requests_total", handler="sample", method="HEAD", code="200") == 1,
          "sample HEAD not counted")
    check(d("mmapd_http_requests_total", handler="sample", method="GET", code="400") == 1,
          "sample 400 not counted")
    check(d("mmapd_http_requests_total", handler="sample", method="GET", code="204") == 1,
          "sample 204 not counted")
    check(d("mmapd_http_response_bytes_total", handler="sample") > 0, "sample bytes not counted")
    check(metric(after, "mmapd_madvise_calls_total", **{"class": "random", "advice": "random",
                                                        "result": "ok"}) >= 1,
          "MADV_RANDOM on the random mapping not counted")
    check(metric(after, "mmapd_http_request_duration_seconds_count", handler="sample") >= 7,
          "sample durations not counted")
    # both expositions stay valid with the new family and the 204 series
    text = curl(s.url("/metrics"))[2]
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           timeout=60)
        check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
              f"promtool check metrics: {p.returncode} {p.stdout!r} {p.stderr!r}")
    else:
        check(False, "promtool not found: install the Debian package 'prometheus'")
    om = curl(s.url("/metrics"), "-H", "Accept: application/openmetrics-text;version=1.0.0")[2]
    try:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
        names = {f.name for f in text_string_to_metric_families(om.decode())}
        check("mmapd_sample_records" in names, f"OpenMetrics: no mmapd_sample_records in {names}")
    except ImportError:
        check(False, "prometheus_client not importable (python3-prometheus-client)")

    # a cold file: miss bytes for handler="sample" and WILLNEED hints of class random
    cold = os.path.join(ROOT, "cold.bin")
    DATA["cold.bin"] = os.urandom(16 * MIB)  # kept in memory: reading the file would warm it
    with open(cold, "wb") as f:
        f.write(DATA["cold.bin"])
        f.flush()
        os.fsync(f.fileno())
    fd = os.open(cold, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    before = scrape(s)
    expect_sample(s, "cold.bin", "multipart", "cold", size=4096, n=256, seed=1)
    after = scrape(s)
    check(d("mmapd_page_cache_miss_bytes_total", handler="sample") > 0,
          "cold sample: no miss bytes for handler=sample")
    check(d("mmapd_madvise_calls_total", **{"class": "random", "advice": "willneed",
                                            "result": "ok"}) >= 1,
          "cold sample: no WILLNEED of class random")
    before = scrape(s)
    expect_sample(s, "cold.bin", "multipart", "warm again", size=4096, n=256, seed=1)
    after = scrape(s)
    check(d("mmapd_madvise_calls_total", **{"class": "random", "advice": "willneed",
                                            "result": "ok"}) == 0,
          "warm sample: WILLNEED issued for warm records")
    check(d("mmapd_page_cache_miss_bytes_total", handler="sample") == 0,
          "warm sample: miss bytes counted")
    check(d("mmapd_sample_records_total") == 256, "sample records after the cold test")

    # requests that MHD answers itself or that end before the handler: the request object
    # made by the URI log callback is freed, never counted in flight
    raw_requests = [b"GET /sample/data.bin?n=1&size=1 HTTP/1.1\r\n",           # then close
                    b"GET /sample/data.bin?n=1&size=1 HTTP/1.1\r\nBad header\r\n\r\n",
                    b"GET /sample/x?" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
                    b"GET /sample/data.bin?n=1&size=1 HTTP/1.1\r\nHost: x\r\nX: " +
                    b"y" * 70000 + b"\r\n\r\n",
                    b"GET\r\n\r\n", b"\r\n\r\n"]
    for data in raw_requests:
        raw(s.port, data, timeout=2)
    time.sleep(0.2)
    check(metric(scrape(s), "mmapd_http_requests_in_flight") == 1,
          "in flight not back to 1 (the scrape) after aborted and refused requests")


# --- truncation under a sample ------------------------------------------------------------------
def read_response_partly(port, target, then):
    """Sends GET target with a small receive buffer, reads the head and 64 KiB of body, calls
    then(), reads to the end; returns (status, content-length, body bytes received)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
    while len(body) < 65536:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    then()
    received = len(body)
    try:
        while received < length:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
    except (socket.timeout, ConnectionResetError):
        pass
    sock.close()
    return status, length, received


with Server(ROOT, args=["--sample-iovec-max", "511", "--connection-memory", "64K"]) as s:
    for label, query in (("json", "n=4096&size=16384&seed=1&format=json"),
                         ("multipart, copying reader", "n=4096&size=16384&seed=2"),
                         ("raw, copying reader", "n=600&size=32768&seed=3&format=raw")):
        name = f"trunc-{label.split(',')[0]}.bin"
        path = put(name, os.urandom(64 * MIB + 4096))
        # the random mapping is cached by a first request
        st, _, _, _ = get(s, name, "n=2&size=16&seed=1")
        check(st == 200, f"[truncate {label}] first request {st}")
        before = scrape(s)
        status, length, received = read_response_partly(
            s.port, f"/sample/{name}?{query}", lambda p=path: os.truncate(p, 4096))
        check(status == 200, f"[truncate {label}] status {status}")
        check(received < length, f"[truncate {label}] got all {length} bytes of a truncated file")
        after = scrape(s)

        def failed_reads(text):  # a copy past the new end, or one the size check caught
            return sum(metric(text, "mmapd_read_errors_total", reason=r) for r in ("sigbus", "short"))
        check(failed_reads(after) - failed_reads(before) == 1,
              f"[truncate {label}] read errors (sigbus + short) {failed_reads(before)} -> "
              f"{failed_reads(after)}")
        st, _, body, _ = curl(s.url("/healthz"))
        check(st == 200, f"[truncate {label}] server not answering after the SIGBUS: {st}")
        # the next request sees the new size: a new mapping, a normal answer
        DATA[name] = open(path, "rb").read()
        expect_sample(s, name, "json", f"[truncate {label}] after", size=16, n=50, seed=4)
        expect_400(s, name, "n=4096&size=16384", "size", "larger than the file",
                   f"truncate {label} after, too large")
    # the iovec shape: the kernel's copy from the mapping fails (EFAULT), libmicrohttpd closes
    # the connection; nothing is read in user space, so no SIGBUS is counted
    path = put("trunc-iovec.bin", os.urandom(64 * MIB))
    st, _, _, _ = get(s, "trunc-iovec.bin", "n=2&size=16&seed=1")
    before = scrape(s)
    status, length, received = read_response_partly(
        s.port, "/sample/trunc-iovec.bin?n=511&size=65536&seed=5",
        lambda p=path: os.truncate(p, 4096))
    check(status == 200 and received < length,
          f"[truncate iovec] {status}: got {received} of {length} bytes")
    after = scrape(s)
    check(metric(after, "mmapd_read_errors_total", reason="sigbus")
          == metric(before, "mmapd_read_errors_total", reason="sigbus"),
          "[truncate iovec] a SIGBUS counted for bytes the kernel sends")
    check(curl(s.url("/healthz"))[0] == 200, "[truncate iovec] server not answering")
    # truncated between two requests while the mapping is cached: the second request's
    # fstat sees the new size and maps the file again
    path = put("trunc-between.bin", os.urandom(MIB))
    expect_sample(s, "trunc-between.bin", "json", "between: before", size=4096, n=100, seed=1)
    os.truncate(path, 8192)
    DATA["trunc-between.bin"] = DATA["trunc-between.bin"][:8192]
    expect_sample(s, "trunc-between.bin", "json", "between: after", size=4096, n=2, seed=1)
    expect_400(s, "trunc-between.bin", "n=100&size=4096", "n", "more than the distinct records")

done()

"""test_conditionals.py - RFC 9110 section 13 preconditions and If-Range against real mmapd.

If-Match (strong), If-Unmodified-Since, If-None-Match (weak), If-Modified-Since in all three
date formats, the 13.2.2 evaluation order, invalid dates, 304 framing (Content-Length of the
file, no body: proved by a pipelined request on the same connection), If-Range with strong,
weak and foreign ETags and with dates, and a file replaced by rename while the server runs.
Files get fixed modification times so that Last-Modified is known exactly.
"""
import calendar
import json
import os
import re
import shutil
import time
from email.utils import formatdate

from harness import Server, check, curl, done, make_root, raw

root, files = make_root()
T = 1700000000                 # Tue, 14 Nov 2023 22:13:20 GMT
T94 = 784111777                # Sun, 06 Nov 1994 08:49:37 GMT (the RFC 9110 example date)
files["rfc.txt"] = b"the RFC 9110 example date\n" * 3
with open(os.path.join(root, "rfc.txt"), "wb") as f:
    f.write(files["rfc.txt"])
os.utime(os.path.join(root, "small.txt"), (T, T))
os.utime(os.path.join(root, "data.bin"), (T, T))
os.utime(os.path.join(root, "rfc.txt"), (T94, T94))
os.utime(os.path.join(root, "empty.bin"), (T, T))

SMALL = files["small.txt"]


def imf(t):
    return formatdate(t, usegmt=True)


def rfc850(t):
    tm = time.gmtime(t)
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    return f"{days[tm.tm_wday]}, {time.strftime('%d-%b-%y %H:%M:%S', tm)} GMT"


def asctime(t):
    tm = time.gmtime(t)
    return time.strftime("%a %b ", tm) + f"{tm.tm_mday:2d}" + time.strftime(" %H:%M:%S %Y", tm)


check(imf(T) == "Tue, 14 Nov 2023 22:13:20 GMT", "test bug: imf()")
check(rfc850(T94) == "Sunday, 06-Nov-94 08:49:37 GMT", f"test bug: rfc850() {rfc850(T94)}")
check(asctime(T94) == "Sun Nov  6 08:49:37 1994", f"test bug: asctime() {asctime(T94)!r}")


def get(s, name, *hdrs, rng=None, method=None):
    args = []
    for hd in hdrs:
        args += ["-H", hd]
    if rng:
        args += ["-H", "Range: " + rng]
    if method == "HEAD":
        args += ["-I"]
    return curl(s.url("/files/" + name), *args)


def expect(s, name, hdrs, want, what, rng=None):
    """want: 200 (whole file), 206 (the single range rng, 'bytes=A-B'), 304 or 412."""
    data = files[name]
    status, h, body, _ = get(s, name, *hdrs, rng=rng)
    what = f"{what} [{'; '.join(hdrs)}{'; Range ' + rng if rng else ''}]"
    check(status == want, f"{what}: status {status}, expected {want}")
    if status != want:
        return h
    if want == 200:
        check(body == data and h.get("content-length") == str(len(data)) and "content-range" not in h,
              f"{what}: 200 is not the whole file ({len(body)} bytes, {h.get('content-range')})")
    elif want == 206:
        a, b = (int(x) for x in rng.split("=")[1].split("-"))
        check(body == data[a:b + 1] and h.get("content-range") == f"bytes {a}-{b}/{len(data)}",
              f"{what}: 206 body/Content-Range wrong: {h.get('content-range')} {body!r}")
    elif want == 304:
        check(body == b"", f"{what}: 304 with a body {body[:100]!r}")
        check(h.get("etag") == ETAG[name] and h.get("last-modified") == LM[name],
              f"{what}: 304 validators {h.get('etag')} {h.get('last-modified')}")
        check(h.get("content-length") == str(len(data)),
              f"{what}: 304 Content-Length {h.get('content-length')}, expected the file size {len(data)}")
    elif want == 412:
        check(h.get("content-type") == "application/json", f"{what}: 412 Content-Type {h.get('content-type')}")
        try:
            doc = json.loads(body)
            check(doc.get("status") == 412 and isinstance(doc.get("error"), str), f"{what}: 412 body {doc}")
        except ValueError:
            check(False, f"{what}: 412 body is not JSON: {body[:200]!r}")
    return h


def split_after_bodiless(data):
    """For a 304/HEAD answer followed by a pipelined one: (head of the first, rest of the stream)."""
    end = data.find(b"\r\n\r\n")
    return data[:end].decode("latin-1"), data[end + 4:]


def head_fields(head):
    out = {}
    for line in head.split("\r\n")[1:]:
        k, v = line.split(":", 1)
        out[k.strip().lower()] = v.strip()
    return out


ETAG, LM = {}, {}
with Server(root) as s:
    for name in ("small.txt", "data.bin", "rfc.txt", "empty.bin"):
        status, h, body, _ = get(s, name)
        ETAG[name], LM[name] = h.get("etag", ""), h.get("last-modified", "")
        check(status == 200 and body == files[name], f"baseline {name}: {status}")
        check(bool(re.fullmatch(r'"[\x21\x23-\x7e]+"', ETAG[name])), f"{name}: ETag {ETAG[name]!r} is not a strong entity-tag")
        status2, h2, _, _ = get(s, name)
        check(h2.get("etag") == ETAG[name], f"{name}: ETag not stable: {ETAG[name]} then {h2.get('etag')}")
    check(LM["small.txt"] == imf(T), f"small.txt Last-Modified {LM['small.txt']!r}, expected {imf(T)!r}")
    check(LM["rfc.txt"] == "Sun, 06 Nov 1994 08:49:37 GMT", f"rfc.txt Last-Modified {LM['rfc.txt']!r}")
    check(len(set(ETAG.values())) == 4, f"ETags of different files collide: {ETAG}")
    E = ETAG["small.txt"]
    W = "W/" + E

    # --- If-Match: strong comparison, "*", lists; failure is 412
    for hv, want in [(E, 200), ("*", 200), (f'"a", {E}', 200), (f'{E}, "b"', 200), (f' "x" ,  {E} ', 200),
                     ('"nope"', 412), (W, 412), (f'"a", {W}', 412), ('"a", "b"', 412), (E[1:-1], 412),
                     (ETAG["data.bin"], 412)]:
        expect(s, "small.txt", [f"If-Match: {hv}"], want, "If-Match")

    # --- If-Unmodified-Since (only without If-Match)
    for hv, want in [(imf(T), 200), (imf(T + 1), 200), (imf(T + 86400 * 400), 200), (imf(T - 1), 412),
                     (imf(0), 412), (rfc850(T - 60), 412), (asctime(T - 60), 412), (rfc850(T), 200),
                     ("garbage", 200), ("Tue, 14 Nov 2023 25:13:20 GMT", 200), (imf(T - 1) + ", " + imf(T - 2), 200),
                     ("Tue, 14 Nov 2023 22:13:19 UTC", 200)]:
        expect(s, "small.txt", [f"If-Unmodified-Since: {hv}"], want, "If-Unmodified-Since")
    expect(s, "small.txt", [f"If-Match: {E}", f"If-Unmodified-Since: {imf(T - 100)}"], 200,
           "If-Unmodified-Since ignored when If-Match is present")
    expect(s, "small.txt", ["If-Match: *", f"If-Unmodified-Since: {imf(T - 100)}"], 200,
           "If-Unmodified-Since ignored when If-Match: * is present")
    expect(s, "small.txt", ['If-Match: "nope"', f"If-Unmodified-Since: {imf(T + 100)}"], 412,
           "If-Match decides, not If-Unmodified-Since")

    # --- If-None-Match: weak comparison, "*", lists
    for hv, want in [(E, 304), (W, 304), ("*", 304), (f'"a", {W}', 304), (f'"a",{E},"b"', 304),
                     ('"nope"', 200), ('W/"nope"', 200), (ETAG["data.bin"], 200), (E[1:-1], 200)]:
        expect(s, "small.txt", [f"If-None-Match: {hv}"], want, "If-None-Match")

    # --- If-Modified-Since (only without If-None-Match); all three date formats
    for hv, want in [(imf(T), 304), (imf(T + 3600), 304), (imf(T - 1), 200), (imf(0), 200),
                     (rfc850(T), 304), (rfc850(T - 1), 200), (asctime(T), 304), (asctime(T - 1), 200),
                     ("garbage", 200), ("Tue, 14 Nov 2023 22:13:20", 200), ("14 Nov 2023 22:13:20 GMT", 200),
                     ("Tue, 14 Nov 2023 22:61:20 GMT", 200)]:
        expect(s, "small.txt", [f"If-Modified-Since: {hv}"], want, "If-Modified-Since")
    for hv, want in [("Sun, 06 Nov 1994 08:49:37 GMT", 304), ("Sunday, 06-Nov-94 08:49:37 GMT", 304),
                     ("Sun Nov  6 08:49:37 1994", 304), ("Sun, 06 Nov 1994 08:49:36 GMT", 200),
                     ("Sunday, 06-Nov-94 08:49:36 GMT", 200), ("Sun Nov  6 08:49:36 1994", 200)]:
        expect(s, "rfc.txt", [f"If-Modified-Since: {hv}"], want, "If-Modified-Since (RFC example date)")
    # dates that fit the grammar but name no real day are not valid HTTP-dates (RFC 9110 5.6.7
    # defers to RFC 5322 3.3: day-of-month within the month's length); they must be ignored,
    # not normalised by timegm() into 1 Dec / 1 Oct (nginx's parser rejects them too)
    expect(s, "small.txt", ["If-Modified-Since: Thu, 31 Nov 2023 00:00:00 GMT"], 200,
           "If-Modified-Since with 31 November (invalid, ignored)")
    expect(s, "small.txt", ["If-Unmodified-Since: Sun, 31 Sep 2023 00:00:00 GMT"], 200,
           "If-Unmodified-Since with 31 September (invalid, ignored)")
    expect(s, "small.txt", ["If-Modified-Since: Thu, 29 Feb 2024 00:00:00 GMT"], 304,
           "If-Modified-Since with 29 Feb of a leap year (valid)")
    # RFC 9110 5.6.7: a two-digit rfc850 year is the most recent year with those digits that
    # is not more than 50 years in the future: 45 years ahead of now is in the future
    ahead = time.gmtime().tm_year + 45
    yy_date = rfc850(calendar.timegm((ahead, 1, 1, 0, 0, 0, 0, 0, 0)))
    expect(s, "small.txt", [f"If-Modified-Since: {yy_date}"], 304,
           f"If-Modified-Since in rfc850 form {ahead} (two-digit year, in the future)")
    expect(s, "small.txt", ['If-None-Match: "nope"', f"If-Modified-Since: {imf(T + 3600)}"], 200,
           "If-Modified-Since ignored when If-None-Match is present")
    expect(s, "small.txt", [f"If-None-Match: {E}", f"If-Modified-Since: {imf(T - 3600)}"], 304,
           "If-None-Match decides, not If-Modified-Since")

    # --- the order of RFC 9110 13.2.2
    expect(s, "small.txt", ['If-Match: "nope"', f"If-None-Match: {E}"], 412, "If-Match before If-None-Match")
    expect(s, "small.txt", [f"If-Unmodified-Since: {imf(T - 1)}", f"If-None-Match: {E}"], 412,
           "If-Unmodified-Since before If-None-Match")
    expect(s, "small.txt", [f"If-Unmodified-Since: {imf(T - 1)}", f"If-Modified-Since: {imf(T)}"], 412,
           "If-Unmodified-Since before If-Modified-Since")
    expect(s, "small.txt", [f"If-Match: {E}", f"If-None-Match: {E}"], 304, "If-Match passes, If-None-Match 304")
    expect(s, "small.txt", [f"If-None-Match: {E}"], 304, "conditional before Range", rng="bytes=0-4")
    expect(s, "small.txt", ['If-Match: "nope"'], 412, "412 before Range", rng="bytes=0-4")
    expect(s, "small.txt", [f"If-Match: {E}"], 206, "If-Match passes, Range served", rng="bytes=0-4")
    expect(s, "empty.bin", [f"If-None-Match: {ETAG['empty.bin']}"], 304, "304 for a zero-byte file")
    # preconditions do not apply when the answer without them would not be 2xx/412
    st, h, body, _ = get(s, "missing.txt", "If-None-Match: *")
    check(st == 404, f"If-None-Match on a missing file: {st}")
    st, h, body, _ = get(s, "missing.txt", 'If-Match: "x"')
    check(st == 404, f"If-Match on a missing file: {st}")

    # --- 304 on the wire: validators, Date, the file's Content-Length, no body bytes.
    for method, hv in [("GET", f"If-None-Match: {E}"), ("HEAD", f"If-None-Match: {W}"),
                       ("GET", f"If-Modified-Since: {imf(T)}"), ("GET", f"If-None-Match: {E}\r\nRange: bytes=1-2")]:
        req = (f"{method} /files/small.txt HTTP/1.1\r\nHost: t\r\n{hv}\r\n\r\n"
               "GET /files/data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=7-12\r\nConnection: close\r\n\r\n").encode()
        data = raw(s.port, req)
        head, rest = split_after_bodiless(data)
        f1 = head_fields(head)
        what = f"raw 304 ({method}, {hv!r})"
        check(head.startswith("HTTP/1.1 304 "), f"{what}: {head[:60]!r}")
        check(f1.get("etag") == E and f1.get("last-modified") == imf(T), f"{what}: validators {f1}")
        check(f1.get("content-length") == str(len(SMALL)), f"{what}: Content-Length {f1.get('content-length')}")
        check("date" in f1, f"{what}: no Date")
        check("content-range" not in f1 and "content-type" not in f1, f"{what}: representation metadata {f1}")
        check(rest.startswith(b"HTTP/1.1 206 "), f"{what}: bytes after the 304 head: {rest[:60]!r}")
        end = rest.find(b"\r\n\r\n")
        check(end > 0 and rest[end + 4:] == files["data.bin"][7:13],
              f"{what}: the pipelined 206 body is wrong: {rest[end + 4:][:40]!r}")

    # --- If-Range: strong ETag or exact Last-Modified date; otherwise the whole file
    for hv, want in [(E, 206), (f" {E} ", 206), (imf(T), 206), (W, 200), ('"other"', 200),
                     (ETAG["data.bin"], 200), (imf(T + 1), 200), (imf(T - 1), 200), ("garbage", 200),
                     (E[1:-1], 200), (f"{E}, {E}", 200), ('W/"x"', 200)]:
        expect(s, "small.txt", [f"If-Range: {hv}"], want, "If-Range", rng="bytes=3-9")
    for hv in (E, '"other"', W, imf(T)):
        expect(s, "small.txt", [f"If-Range: {hv}"], 200, "If-Range without Range is ignored")
    st, h, body, _ = get(s, "small.txt", f"If-Range: {E}", rng="bytes=0-1,5-6")
    check(st == 206 and h.get("content-type", "").startswith("multipart/byteranges"),
          f"If-Range match with two ranges: {st} {h.get('content-type')}")
    st, h, body, _ = get(s, "small.txt", 'If-Range: "other"', rng="bytes=0-1,5-6")
    check(st == 200 and body == SMALL, f"If-Range mismatch with two ranges: {st}")
    st, h, body, _ = get(s, "small.txt", 'If-Range: "other"', rng="bytes=100-")
    check(st == 200 and body == SMALL, f"If-Range mismatch with an unsatisfiable range: {st}")
    st, h, body, _ = get(s, "small.txt", f"If-Range: {E}", rng="bytes=100-")
    check(st == 416 and h.get("content-range") == f"bytes */{len(SMALL)}",
          f"If-Range match with an unsatisfiable range: {st} {h.get('content-range')}")

    # --- an If-Range date is a strong validator only for a file whose Last-Modified is at least
    # 60 s old (RFC 9110 8.8.2.2): a file written now could change again within the same second
    fresh = os.path.join(root, "fresh.txt")
    files["fresh.txt"] = b"written while the server runs\n" * 4
    with open(fresh, "wb") as f:
        f.write(files["fresh.txt"])

    def validators_once(mtime):
        """The fresh file's ETag and Last-Modified once the server has seen mtime `mtime`."""
        h, deadline = {}, time.time() + 5
        while time.time() < deadline:
            h = get(s, "fresh.txt")[1]
            if h.get("last-modified") == imf(mtime):
                break
            time.sleep(0.05)
        check(h.get("last-modified") == imf(mtime), f"fresh.txt: Last-Modified {h.get('last-modified')}, "
              f"expected {imf(mtime)}")
        return h.get("etag"), h.get("last-modified")

    fe, lm = validators_once(int(os.stat(fresh).st_mtime))
    expect(s, "fresh.txt", [f"If-Range: {lm}"], 200, "If-Range date of a file written this second",
           rng="bytes=3-9")
    expect(s, "fresh.txt", [f"If-Range: {fe}"], 206, "If-Range ETag of a file written this second",
           rng="bytes=3-9")
    now = int(time.time())
    for age, want in [(30, 200), (3600, 206)]:
        os.utime(fresh, (now - age, now - age))
        fe, lm = validators_once(now - age)
        expect(s, "fresh.txt", [f"If-Range: {lm}"], want, f"If-Range date of a file {age} s old",
               rng="bytes=3-9")
        expect(s, "fresh.txt", [f"If-Range: {fe}"], 206, f"If-Range ETag of a file {age} s old",
               rng="bytes=3-9")
    # an mtime in the future: Last-Modified is the response's time, never strong
    os.utime(fresh, (now + 3600, now + 3600))
    time.sleep(0.3)
    st, h, _, _ = get(s, "fresh.txt")
    lm = h.get("last-modified")
    check(st == 200 and lm and calendar.timegm(time.strptime(lm, "%a, %d %b %Y %H:%M:%S GMT")) <= time.time() + 1,
          f"fresh.txt dated in the future: Last-Modified {lm}")
    expect(s, "fresh.txt", [f"If-Range: {lm}"], 200, "If-Range date of a file dated in the future",
           rng="bytes=3-9")
    os.unlink(fresh)

    # --- a file replaced by rename while the server runs
    path = os.path.join(root, "small.txt")
    for step, new in enumerate([b"replaced content, another length\n",
                                b"same length as the previous one!\n",  # same size and mtime below
                                b""]):
        old_etag = get(s, "small.txt")[1].get("etag")
        old_data = files["small.txt"]
        check(step != 1 or len(new) == len(old_data), "test bug: step 1 must keep the size")
        tmp = os.path.join(root, f".tmp-{step}")
        with open(tmp, "wb") as f:
            f.write(new)
        if step == 1:
            os.utime(tmp, ns=(os.stat(path).st_mtime_ns, os.stat(path).st_mtime_ns))
        os.rename(tmp, path)
        files["small.txt"] = new
        st, h, body, _ = get(s, "small.txt")
        what = f"rename #{step} ({len(old_data)} -> {len(new)} bytes)"
        check(st == 200 and body == new and h.get("content-length") == str(len(new)),
              f"{what}: {st} CL={h.get('content-length')} body={body[:60]!r}")
        check(h.get("etag") and h.get("etag") != old_etag, f"{what}: ETag {h.get('etag')} (old {old_etag})")
        ETAG["small.txt"], LM["small.txt"] = h.get("etag"), h.get("last-modified")
        expect(s, "small.txt", [f"If-None-Match: {old_etag}"], 200, f"{what}: old ETag in If-None-Match")
        expect(s, "small.txt", [f"If-None-Match: {h.get('etag')}"], 304, f"{what}: new ETag in If-None-Match")
        expect(s, "small.txt", [f"If-Match: {old_etag}"], 412, f"{what}: old ETag in If-Match")
        if new:
            expect(s, "small.txt", [f"If-Range: {old_etag}"], 200, f"{what}: old ETag in If-Range", rng="bytes=0-3")
            expect(s, "small.txt", [f"If-Range: {h.get('etag')}"], 206, f"{what}: new ETag in If-Range",
                   rng="bytes=0-3")

shutil.rmtree(root, ignore_errors=True)  # the served tree (80 MiB in test_ranges)
done()

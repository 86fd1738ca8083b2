"""test_stream_offload.py - a long body's blocks are read by the helpers while other requests
are being answered.

A streamed /files body (over 1 MiB) is copied block by block by the HTTP thread that sends
it, unless short answers are completing meanwhile: then a helper reads each block whose pages
are in the page cache (or on their way) into libmicrohttpd's send buffer, and the HTTP thread
only sends it. Checked on the real binary with curl downloading and a keep-alive client
asking 4 KiB ranges alongside:
- alone, a warm download is copied by the HTTP thread: mmapd_stream_offloaded_bytes_total
  does not move;
- with short requests alongside, warm, cold (evicted first) and over HTTPS: the counter
  grows, by at most the body's length, and every byte of the download and of every short
  answer is the file's;
- with the benchmarks' knob MMAPD_TEST_STREAM_OFFLOAD=0 nothing is offloaded, short requests
  or not; a knob other than 0 or 1 stops mmapd at start (exit 2, the variable named).
A file truncated under an offloaded block is test_truncation.py's (its whole-file download
runs beside short ones, and it checks that blocks were offloaded).
"""
import hashlib
import http.client
import os
import random
import shutil
import ssl
import subprocess
import tempfile
import threading
import time

from harness import BIN, Server, check, curl, done, evict, metric_value

MIB = 1 << 20
SIZE = 48 * MIB
OFFLOADED = "mmapd_stream_offloaded_bytes_total"

root = tempfile.mkdtemp(prefix="mmapd-offload-")
data = os.urandom(SIZE)
small = os.urandom(4 * MIB)
for name, body in (("big.bin", data), ("small.bin", small)):
    with open(os.path.join(root, name), "wb") as f:
        f.write(body)
digest = hashlib.sha256(data).hexdigest()

tls_dir = tempfile.mkdtemp(prefix="mmapd-offload-tls-")
cert, key = os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)


def short_requests(s, stop, result, tls):
    """Asks random 4 KiB ranges of small.bin on one keep-alive connection until `stop`."""
    if tls:
        ctx = ssl.create_default_context(cafile=cert)
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=30)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    rnd = random.Random(1)
    while not stop.is_set():
        off = rnd.randrange(len(small) // 4096) * 4096
        conn.request("GET", "/files/small.bin", headers={"Range": f"bytes={off}-{off + 4095}"})
        r = conn.getresponse()
        body = r.read()
        result["answers"] += 1
        if r.status != 206 or body != small[off:off + 4096]:
            result["bad"] += 1
    conn.close()


def download(s, label, with_short, tls=False, rate="16M"):
    """Downloads big.bin with curl (held to `rate`), with short requests alongside or not;
    returns the bytes offloaded meanwhile."""
    before = metric_value(s.metrics_text() if not tls else tls_metrics(s), OFFLOADED, 0)
    stop, result = threading.Event(), {"answers": 0, "bad": 0}
    threads = [threading.Thread(target=short_requests, args=(s, stop, result, tls))
               for _ in range(2 if with_short else 0)]
    for t in threads:
        t.start()
    time.sleep(0.2 if with_short else 0)
    args = ["curl", "-sS", "-o", "-", "--limit-rate", rate, "-w", "%{http_code}"]
    if tls:
        args += ["--cacert", cert]
    p = subprocess.run(args + ["-D", "/dev/null", s.url("/files/big.bin")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    stop.set()
    for t in threads:
        t.join()
    body, code = p.stdout[:-3], p.stdout[-3:]
    check(code == b"200" and len(body) == SIZE and hashlib.sha256(body).hexdigest() == digest,
          f"{label}: download {code!r}, {len(body)} bytes, sha256 right: "
          f"{hashlib.sha256(body).hexdigest() == digest}")
    check(result["bad"] == 0, f"{label}: {result['bad']} of {result['answers']} short answers wrong")
    if with_short:
        check(result["answers"] > 20, f"{label}: only {result['answers']} short answers")
    print(f"{label}: {result['answers']} short answers", end=", ")
    after = metric_value(s.metrics_text() if not tls else tls_metrics(s), OFFLOADED, 0)
    print(f"offloaded {after - before:.0f} bytes")
    return after - before


def tls_metrics(s):
    return curl(s.url("/metrics"), "--cacert", cert)[2].decode()


with Server(root, args=["--threads", "2"]) as s:
    curl(s.url("/files/big.bin"))  # warm
    n = download(s, "alone, warm", with_short=False)
    check(n == 0, f"alone, warm: {n:.0f} bytes offloaded with no other request answered")

    n = download(s, "with short requests, warm", with_short=True)
    check(0 < n <= SIZE, f"with short requests, warm: {n:.0f} bytes offloaded (wanted 1..{SIZE})")

    evict(os.path.join(root, "big.bin"))
    n = download(s, "with short requests, cold", with_short=True)
    check(0 < n <= SIZE, f"with short requests, cold: {n:.0f} bytes offloaded (wanted 1..{SIZE})")

with Server(root, args=["--threads", "2", "--tls-cert", cert, "--tls-key", key]) as s:
    curl(s.url("/files/big.bin"), "--cacert", cert)  # warm
    n = download(s, "HTTPS, with short requests", with_short=True, tls=True)
    check(0 < n <= SIZE, f"HTTPS, with short requests: {n:.0f} bytes offloaded (wanted 1..{SIZE})")

with Server(root, args=["--threads", "2"], env={"MMAPD_TEST_STREAM_OFFLOAD": "0"}) as s:
    curl(s.url("/files/big.bin"))
    n = download(s, "knob 0, with short requests", with_short=True, rate="64M")
    check(n == 0, f"knob 0, with short requests: {n:.0f} bytes offloaded")

p = subprocess.run([BIN, "--root", root, "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                   env=dict(os.environ, MMAPD_TEST_STREAM_OFFLOAD="yes"), timeout=30)
check(p.returncode == 2 and "MMAPD_TEST_STREAM_OFFLOAD" in p.stderr,
      f"a malformed knob: exit {p.returncode}, {p.stderr.strip()!r}")

shutil.rmtree(root)
shutil.rmtree(tls_dir)
done()

"""test_tls.py - HTTPS on the real binary, with certificates made by openssl in the test and
real clients: curl, openssl s_client and Python's ssl module.

- Bodies over TLS are the bytes of the file: a whole file, a range, a multipart range and a
  /sample answer, byte-compared (the /sample one with the same request over plain HTTP).
- The default refuses TLS 1.0, TLS 1.1 and CBC suites, offered by an openssl client whose own
  security level is lowered; the same client gets in with `--tls-priorities NORMAL`, so the
  refusal is the server's. TLS 1.2 and 1.3 with AEAD suites get in.
- Session tickets: a second connection with the first one's session is resumed, in TLS 1.2
  and 1.3.
- Client certificates (--tls-client-ca): 200 with one from that CA, 403 without one or with
  one from another CA; the probes need none.
- Failed handshakes are counted in mmapd_tls_handshake_failures_total and logged at most
  once a second.
- Bad TLS settings stop the start with one line and exit status 2.
- A file truncated in place under slow TLS downloads: no wrong byte, the server lives.
- Keep-alive HTTPS clients whose requests are found cold, beside a cold HTTPS download: every
  answer comes, right, within the clients' 5 s timeout (a read after the handshake that found
  the socket empty used to suspend the connection until the client sent more, and a request
  resumed from the helpers could then wait for a client that waited for it).
- A stalled handshake waits off the HTTP thread.
"""
import hashlib
import http.client
import os
import random
import re
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from harness import BIN, Server, check, curl, done, evict, make_root, metric_total
from truncation_check import cut_under_downloads

D = tempfile.mkdtemp(prefix="mmapd-tls-")


def sh(*args, stdin=None):
    p = subprocess.run(args, cwd=D, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"{args}: {p.stderr.decode()}")
    return p.stdout


def make_ca(name):
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj",
       f"/CN={name}")


def make_cert(name, ca, cn, ext=None):
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
    extra = []
    if ext:
        with open(os.path.join(D, f"{name}.ext"), "w") as f:
            f.write(ext)
        extra = ["-extfile", f"{name}.ext"]
    sh("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
       f"{ca}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", *extra)


def p(name):
    return os.path.join(D, name)


make_ca("ca")
make_ca("otherca")
make_cert("server", "ca", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
make_cert("client", "ca", "client")
make_cert("stranger", "otherca", "client")
sh("openssl", "pkey", "-in", "server.key", "-aes256", "-passout", "pass:s3cret", "-out",
   "server.enc.key")
for name, text in (("pw", "s3cret\n"), ("badpw", "nope\n"), ("junk.pem", "not a pem\n")):
    with open(p(name), "w") as f:
        f.write(text)

TLS = ["--tls-cert", p("server.pem"), "--tls-key", p("server.key")]
CA = ["--cacert", p("ca.pem")]

root, files = make_root()
BIG = random.Random(3).randbytes(3 * 2**20)
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(BIG)
data = files["data.bin"]


def s_client(port, *args, request=None):
    """openssl s_client's output for one connection (stdin: `request`, whose answer it waits
    for, or nothing: it leaves after the handshake)."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                        "-CAfile", p("ca.pem"), *(["-ign_eof"] if request else []), *args],
                       input=request or b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=20)
    return r.stdout.decode("latin-1")


def negotiated(out):
    """'New, TLSv1.2, Cipher is ...' -> 'TLSv1.2'; None when no session was made."""
    m = re.search(r"^(?:New|Reused), ([^,\s]+), Cipher is ", out, re.M)
    return None if not m or m.group(1) == "(NONE)" else m.group(1)


OLD_CLIENTS = [("TLS 1.0", ["-tls1", "-cipher", "ALL:@SECLEVEL=0"]),
               ("TLS 1.1", ["-tls1_1", "-cipher", "ALL:@SECLEVEL=0"]),
               ("TLS 1.2 CBC only", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"])]

# --- bodies, protocols, resumption -----------------------------------------------------------
with Server(root) as plain, Server(root, args=TLS) as s:
    check(s.base.startswith("https://"), f"log line: {s.base}")
    st, h, body, _ = curl(s.url("/files/data.bin"), *CA)
    check(st == 200 and body == data, f"whole file over TLS: {st}, {len(body)} bytes")
    st, h, body, _ = curl(s.url("/files/big.bin"), *CA, "-r", "1000-1048575")
    check(st == 206 and body == BIG[1000:1048576], f"range over TLS: {st}, {len(body)} bytes")
    st, h, body, _ = curl(s.url("/files/big.bin"), *CA)
    check(st == 200 and body == BIG, f"3 MiB streamed over TLS: {st}, {len(body)} bytes")
    st, h, body, _ = curl(s.url("/files/data.bin"), *CA, "-r", "0-9,100-199,250000-250099")
    parts = re.findall(rb"Content-Range: bytes (\d+)-(\d+)/\d+\r\n\r\n", body)
    check(st == 206 and h["content-type"].startswith("multipart/byteranges") and
          [(int(a), int(b)) for a, b in parts] == [(0, 9), (100, 199), (250000, 250099)] and
          data[100:200] in body and data[250000:250100] in body,
          f"multipart over TLS: {st} {parts}")
    q = "/sample/big.bin?n=64&size=4096&seed=11"
    st, h, body, _ = curl(s.url(q), *CA)
    st0, h0, body0, _ = curl(plain.url(q))
    check(st == 200 and st0 == 200 and body == body0 and len(body) > 64 * 4096,
          f"/sample over TLS: {st}, {len(body)} bytes against {len(body0)} over HTTP")

    for what, args in OLD_CLIENTS:
        check(negotiated(s_client(s.port, *args)) is None, f"{what} got a session")
    for v in ("-tls1_2", "-tls1_3"):
        out = s_client(s.port, v)
        check(negotiated(out) in ("TLSv1.2", "TLSv1.3") and re.search(r"GCM|CHACHA20", out),
              f"{v}: {negotiated(out)}")
    # session tickets: the second connection resumes the first one's session
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    for v in ("-tls1_2", "-tls1_3"):
        sess = p(f"session{v}")
        first = s_client(s.port, v, "-sess_out", sess, request=req)
        second = s_client(s.port, v, "-sess_in", sess, request=req)
        check(first.count("HTTP/1.1 200") == 1 and re.search(r"^Reused, ", second, re.M),
              f"{v}: not resumed:\n{second[:600]}")

    # failed handshakes: counted, and logged once a second at most
    met = curl(s.url("/metrics"), *CA)[2].decode()
    before = metric_total(met, "mmapd_tls_handshake_failures_total")
    t0 = time.time()
    for _ in range(10):
        s_client(s.port, "-tls1", "-cipher", "ALL:@SECLEVEL=0")
    secs = time.time() - t0
    met = curl(s.url("/metrics"), *CA)[2].decode()
    failed = metric_total(met, "mmapd_tls_handshake_failures_total") - before
    check(failed >= 10, f"handshake failures counted: {failed}")
    lines = len(re.findall("TLS handshake failed", s.read_log()))
    check(1 <= lines <= secs + 4, f"{lines} log lines for 10 failures in {secs:.1f} s")

# the refusals above are the server's: with GnuTLS's NORMAL the same clients get in
with Server(root, args=TLS + ["--tls-priorities", "NORMAL"]) as s:
    for what, args in OLD_CLIENTS:
        check(negotiated(s_client(s.port, *args)) is not None,
              f"{what}: refused even with NORMAL, so the test proves nothing")

# --- encrypted key, client certificates -----------------------------------------------------
with Server(root, args=["--tls-cert", p("server.pem"), "--tls-key", p("server.enc.key"),
                        "--tls-key-password-file", p("pw"), "--tls-client-ca",
                        p("ca.pem")]) as s:
    url = s.url("/files/small.txt")
    for v in ("--tlsv1.2", "--tlsv1.3"):
        mx = ["--tls-max", v[6:]]
        st, _, body, _ = curl(url, *CA, v, *mx, "--cert", p("client.pem"), "--key", p("client.key"))
        check(st == 200 and body == files["small.txt"], f"{v} client from the CA: {st}")
        st, _, body, _ = curl(url, *CA, v, *mx)
        check(st == 403 and b"client certificate is required" in body, f"{v} no client cert: {st}")
        st, _, body, _ = curl(url, *CA, v, *mx, "--cert", p("stranger.pem"), "--key",
                              p("stranger.key"))
        check(st == 403 and b"not signed by a trusted CA" in body, f"{v} other CA: {st} {body}")
    check(curl(s.url("/healthz"), *CA)[0] == 200, "/healthz needs no client certificate")
    check(curl(s.url("/metrics"), *CA)[0] == 403, "/metrics needs a client certificate")

# --- bad settings: one line, exit 2 ---------------------------------------------------------
BAD = [
    (["--tls-cert", p("missing.pem"), "--tls-key", p("server.key")], "No such file"),
    (["--tls-cert", p("server.pem"), "--tls-key", p("ca.key")], "does not match the certificate"),
    (["--tls-cert", p("server.pem"), "--tls-key", p("server.enc.key")], "is encrypted"),
    (["--tls-cert", p("server.pem"), "--tls-key", p("server.enc.key"),
      "--tls-key-password-file", p("badpw")], "cannot decrypt it"),
    (["--tls-cert", p("junk.pem"), "--tls-key", p("server.key")], "PEM expected"),
    (TLS + ["--tls-priorities", "NORMAL:+NO-SUCH-THING"], "cannot parse it at '+NO-SUCH-THING'"),
    (TLS + ["--tls-client-ca", p("junk.pem")], "no certificate in it"),
    (["--tls-key", p("server.key")], "--tls-cert and --tls-key go together"),
    (["--tls-client-ca", p("ca.pem")], "need --tls-cert and --tls-key"),
    (TLS + ["--files-zero-copy-max", "64K"], "--files-zero-copy-max with TLS"),
    (TLS + ["--sample-iovec-max", "16"], "--sample-iovec-max with TLS"),
]
for args, want in BAD:
    r = subprocess.run([BIN, "--root", root, "--listen", "127.0.0.1:0", *args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    err = r.stderr.decode()
    check(r.returncode == 2 and want in err and err.count("\n") == 1,
          f"{args}: exit {r.returncode}, {err!r}")

# --- truncation under TLS downloads --------------------------------------------------------
FULL = 8 * 2**20
CONTENT = b"".join(b"%015d\n" % (i * 16) for i in range(FULL // 16))
path = os.path.join(root, "trunc.bin")
ctx = ssl.create_default_context(cafile=p("ca.pem"))
counts = {"bytes": 0, "wrong": 0, "cut": 0, "whole": 0, "closed": 0}
errors = []
rng = random.Random(5)
with Server(root, args=TLS) as s:
    for i in range(12):
        with open(path, "wb" if i == 0 else "r+b") as f:
            f.write(CONTENT)
        off = rng.randrange(0, FULL - 2**20)
        gets = [("/files/trunc.bin", None), ("/files/trunc.bin", f"bytes={off}-{off + 2**20 - 1}"),
                ("/files/trunc.bin", f"bytes=0-99,{off}-{off + 300000}"),
                (f"/sample/trunc.bin?n=200&size=16384&seed={i}", None)]
        stuck = cut_under_downloads(s.port, gets, path, CONTENT, rng.randrange(1, FULL) | 1,
                                    rng.uniform(0.005, 0.05), counts, errors, f"round {i}",
                                    tls=ctx)
        check(stuck == 0, f"round {i}: {stuck} TLS download(s) did not end")
    check(counts["wrong"] == 0, f"{counts['wrong']} wrong bytes over TLS: {errors[:3]}")
    check(not errors, f"bad TLS downloads: {errors[:3]}")
    check(counts["cut"] > 0, "no TLS download was cut short: the test did not truncate under one")
    check(curl(s.url("/healthz"), *CA)[0] == 200, "healthz after truncations under TLS")
    print(f"TLS truncation: {counts}")

# ---- keep-alive requests found cold beside a cold download -----------------------------------
cold_small = os.urandom(8 << 20)
cold_big = os.urandom(64 << 20)
for name, body in (("cold_small.bin", cold_small), ("cold_big.bin", cold_big)):
    with open(os.path.join(root, name), "wb") as f:
        f.write(body)
with Server(root, args=TLS + ["--threads", "2"]) as s:
    stop, results = threading.Event(), []

    def keep_alive(seed):
        rnd, answers, wrong, failed = random.Random(seed), 0, 0, None
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=5,
                                           context=ssl.create_default_context(cafile=p("ca.pem")))
        try:
            while not stop.is_set():
                off = rnd.randrange(len(cold_small) // 4096) * 4096
                conn.request("GET", "/files/cold_small.bin",
                             headers={"Range": f"bytes={off}-{off + 4095}"})
                r = conn.getresponse()
                answers += 1
                wrong += r.status != 206 or r.read() != cold_small[off:off + 4096]
        except (OSError, http.client.HTTPException) as e:
            failed = f"{type(e).__name__}: {e}"
        conn.close()
        results.append((answers, wrong, failed))

    evict(os.path.join(root, "cold_big.bin"))
    threads = [threading.Thread(target=keep_alive, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    dl = subprocess.Popen(["curl", "-sS", "--limit-rate", "32M", *CA, "-o", "-",
                           s.url("/files/cold_big.bin")], stdout=subprocess.PIPE)
    t_end = time.time() + 3
    while time.time() < t_end:  # the small file cold again, time after time
        evict(os.path.join(root, "cold_small.bin"))
        time.sleep(0.1)
    stop.set()
    body = dl.communicate(timeout=60)[0]
    for t in threads:
        t.join(30)
    check(hashlib.sha256(body).digest() == hashlib.sha256(cold_big).digest(),
          f"the cold HTTPS download beside them: {len(body)} bytes, not the file")
    for answers, wrong, failed in results:
        check(failed is None and wrong == 0 and answers > 10,
              f"a keep-alive HTTPS client beside a cold download: {answers} answers, {wrong} "
              f"wrong, ended by {failed}")
    print(f"keep-alive HTTPS requests beside a cold download: {results}")

# ---- a stalled handshake waits off the HTTP thread ------------------------------------------
# libmicrohttpd 0.9.75 polls a handshake that found the socket empty without sleeping; mmapd
# suspends it instead (access/handshake_wait.c). A spin costs about 1 CPU-second per second;
# waiting costs nothing, so the bound below is far from both.
def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


with Server(root, args=TLS + ["--threads", "1", "--tls-client-ca", p("ca.pem")]) as s:
    stalls = []
    partial = socket.create_connection(("127.0.0.1", s.port))
    partial.sendall(b"\x16\x03\x01")  # three bytes of a ClientHello, then nothing
    stalls.append(partial)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    half = ctx.wrap_bio(inc, out)
    try:
        half.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = socket.create_connection(("127.0.0.1", s.port))
    hello.sendall(out.read())  # a whole ClientHello, then no answer to the server's flight
    stalls.append(hello)
    time.sleep(0.5)
    before = cpu_seconds(s.proc.pid)
    served = [curl(s.url("/files/small.txt"), *CA, "--cert", p("client.pem"), "--key",
                   p("client.key"))[0] for _ in range(5)]
    time.sleep(2)
    used = cpu_seconds(s.proc.pid) - before
    check(served == [200] * 5, f"requests beside two stalled handshakes: {served}")
    check(used < 0.6, f"two stalled handshakes cost {used:.2f} s of CPU in 2 s: the HTTP "
                      "thread polls them")
    s.stop()  # with both handshakes still waiting: suspended connections are resumed first
    check(s.proc.returncode == 0, f"stop with handshakes waiting: exit {s.proc.returncode}")
    for sock in stalls:
        sock.close()
    print(f"stalled handshakes: {used:.2f} s of CPU in 2 s")

done()

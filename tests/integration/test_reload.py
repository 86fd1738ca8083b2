"""test_reload.py - SIGHUP reloads the configuration, and --check-config checks it, on the
real binary with real clients (curl, Python's http.client and ssl, openssl for certificates).

- Tokens: a download begun with a token that a reload revokes completes; a revoked token
  gets 401 on the next request, on the same keep-alive connection and
  on a new one; a new token gets 200. A broken token file changes nothing (the old tokens
  still work), logs one line and sets mmapd_config_last_reload_successful to 0; a good reload
  then sets it back to 1 and moves mmapd_config_last_reload_success_timestamp_seconds.
- CORS origins change with the file; --metrics-auth too.
- A restart-only setting changed in the file is logged as ignored; a file value that a flag
  overrides (listen) is not a change at all.
- TLS: the certificate rotates during a slow download, which completes byte-exact on its old
  credentials while the next handshake gets the new certificate; a mismatched key and
  certificate are refused on reload and the old certificate is still served.
- --check-config: exit 0 and "configuration OK" on good settings without binding (the port
  it is given is taken by the test), exit 2 and one line for each bad one.
"""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

from harness import BIN, Server, check, curl, done, make_root, metric_value

D = tempfile.mkdtemp(prefix="mmapd-reload-")


def p(name):
    return os.path.join(D, name)


def write(name, text):
    with open(p(name), "w") as f:
        f.write(text)


def sh(*args):
    r = subprocess.run(args, cwd=D, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"{args}: {r.stderr.decode()}")
    return r.stdout


def reload(s):
    """SIGHUP, then waits for the reload's outcome line; returns the log lines it added."""
    before = s.read_log().splitlines()
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        lines = s.read_log().splitlines()
        new = lines[len(before):]
        if any("reload: done" in x or "reload failed" in x for x in new):
            return new
        time.sleep(0.02)
    check(False, "no reload line within 10 s")
    return []


def status(s, token, conn=None, path="/files/small.txt"):
    """The status of a GET with `token`: on keep-alive connection `conn`, or a new one."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if conn is None:
        return curl(s.url(path), *sum((["-H", f"{k}: {v}"] for k, v in headers.items()), []))[0]
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    r.read()
    return r.status


def metrics(s, token):
    return curl(s.url("/metrics"), "-H", f"Authorization: Bearer {token}")[2].decode()


root, files = make_root()
BIG = random.Random(5).randbytes(32 * 2**20)
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(BIG)


def slow_start(sock, request):
    """Sends `request` on `sock` (small receive buffer) and reads the first MiB slowly."""
    sock.sendall(request)
    got = bytearray()
    while len(got) < 2**20:
        b = sock.recv(4096)
        if not b:
            break
        got += b
        time.sleep(0.0005)
    return got


def slow_finish(sock, got, what):
    """Reads the rest and checks a whole 200 with the bytes of big.bin."""
    while True:
        b = sock.recv(1 << 16)
        if not b:
            break
        got += b
    sock.close()
    head, _, body = bytes(got).partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200") and body == BIG,
          f"{what}: {head[:40]!r}, {len(body)} of {len(BIG)} bytes")


def small_window_socket():
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
    raw.settimeout(20)
    return raw

# --- tokens, CORS, metrics-auth, restart-only settings -------------------------------------
write("tokens", "alpha\nbeta\n")
CONFIG = {"auth-token-file": p("tokens"), "cors-origin": "https://a.example",
          "listen": "127.0.0.1:1", "max-ranges": 64}
write("mmapd.json", json.dumps(CONFIG))
with Server(root, args=["--config", p("mmapd.json")]) as s:
    keep = http.client.HTTPConnection(s.host, s.port, timeout=10)
    check(status(s, "alpha", keep) == 200 and status(s, "beta", keep) == 200,
          "both tokens work at start")
    local = keep.sock.getsockname()
    text = metrics(s, "alpha")
    check(metric_value(text, "mmapd_config_last_reload_successful") == 1,
          "mmapd_config_last_reload_successful is 1 at start")
    started = metric_value(text, "mmapd_config_last_reload_success_timestamp_seconds", 0)
    check(abs(started - time.time()) < 60, f"the success timestamp is the start: {started}")

    slow = small_window_socket()
    slow.connect(("127.0.0.1", s.port))
    got = slow_start(slow, b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n"
                           b"Authorization: Bearer alpha\r\nConnection: close\r\n\r\n")
    write("tokens", "beta\ngamma\n")
    new = reload(s)
    slow_finish(slow, got, "a download begun with a token revoked meanwhile completes")
    check(any("reload: done" in x for x in new), f"reload logged: {new}")
    check(not any("needs a restart" in x for x in new),
          f"nothing restart-only changed (listen: the flag beats the file): {new}")
    check(status(s, "alpha", keep) == 401, "a revoked token: 401 on the same connection")
    check(status(s, "gamma", keep) == 200, "a new token: 200 on the same connection")
    check(keep.sock is not None and keep.sock.getsockname() == local,
          "those requests went over the same keep-alive connection")
    check(status(s, "alpha") == 401, "a revoked token: 401 on a new connection")
    check(status(s, "gamma") == 200 and status(s, "beta") == 200,
          "new and kept tokens: 200 on a new connection")
    text = metrics(s, "gamma")
    ok_time = metric_value(text, "mmapd_config_last_reload_success_timestamp_seconds", 0)
    check(ok_time > started, f"the success timestamp moved: {started} -> {ok_time}")
    check(metric_value(text, 'mmapd_config_reloads_total{result="success"}') == 1,
          "one successful reload counted")

    write("tokens", "gamma\nsecret tok\n")
    new = reload(s)
    check(len(new) == 1 and "reload failed" in new[0] and "line 2" in new[0] and
          "secret" not in new[0],
          f"one line for a broken token file, naming the line, not its content: {new}")
    check(status(s, "gamma", keep) == 200 and status(s, "beta") == 200,
          "a broken token file changes nothing: the old tokens still work")
    check(status(s, "alpha") == 401, "and a revoked one stays revoked")
    text = metrics(s, "gamma")
    check(metric_value(text, "mmapd_config_last_reload_successful") == 0,
          "mmapd_config_last_reload_successful is 0 after a failed reload")
    check(metric_value(text, "mmapd_config_last_reload_success_timestamp_seconds") == ok_time,
          "a failed reload does not move the success timestamp")
    check(metric_value(text, 'mmapd_config_reloads_total{result="failure"}') == 1,
          "one failed reload counted")

    time.sleep(0.05)
    write("tokens", "delta\n")
    CONFIG.update({"cors-origin": "https://b.example", "max-ranges": 8,
                   "listen": "127.0.0.1:2", "metrics-auth": "token"})
    write("mmapd.json", json.dumps(CONFIG))
    new = reload(s)
    ignored = [x for x in new if "needs a restart" in x]
    check(len(ignored) == 1 and "max-ranges changed from '64' to '8', ignored" in ignored[0],
          f"a restart-only change is logged as ignored, one line: {new}")
    check(any("reload: done" in x for x in new), f"reload logged: {new}")
    check(status(s, "delta", keep) == 200 and status(s, "gamma", keep) == 401,
          "the next good reload takes the new file")
    check(curl(s.url("/metrics"))[0] == 401, "--metrics-auth token from the file: 401")
    text = metrics(s, "delta")
    check(metric_value(text, "mmapd_config_last_reload_successful") == 1,
          "a good reload sets mmapd_config_last_reload_successful back to 1")
    check(metric_value(text, "mmapd_config_last_reload_success_timestamp_seconds", 0) > ok_time,
          "and moves the success timestamp")
    auth = ["-H", "Authorization: Bearer delta"]
    h_a = curl(s.url("/files/small.txt"), *auth, "-H", "Origin: https://a.example")[1]
    h_b = curl(s.url("/files/small.txt"), *auth, "-H", "Origin: https://b.example")[1]
    check("access-control-allow-origin" not in h_a, f"the old CORS origin is gone: {h_a}")
    check(h_b.get("access-control-allow-origin") == "https://b.example",
          f"the new CORS origin is allowed: {h_b}")
    check(metric_value(text, "mmapd_connections_open", 0) >= 1, "metrics readable with a token")
    keep.close()

# --- TLS: rotation during a slow download, a mismatched pair refused -----------------------
sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
   "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=reload-ca")
for name, serial in (("one", "0x1001"), ("two", "0x2002")):
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=localhost")
    write(f"{name}.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sh("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-set_serial", serial, "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
shutil.copy(p("one.pem"), p("cur.pem"))
shutil.copy(p("one.key"), p("cur.key"))
ctx = ssl.create_default_context(cafile=p("ca.pem"))


def serial_of_handshake(port):
    """The serial number (openssl x509 -serial) of the certificate a new handshake gets."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as t:
            der = t.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der).encode()
    r = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem,
                       stdout=subprocess.PIPE, timeout=10)
    return r.stdout.decode().strip()


with Server(root, args=["--tls-cert", p("cur.pem"), "--tls-key", p("cur.key")]) as s:
    check(serial_of_handshake(s.port) == "serial=1001", "the first certificate at start")
    raw = small_window_socket()
    raw.connect(("127.0.0.1", s.port))
    slow = ctx.wrap_socket(raw, server_hostname="localhost")
    got = slow_start(slow, b"GET /files/big.bin HTTP/1.1\r\nHost: localhost\r\n"
                           b"Connection: close\r\n\r\n")
    shutil.copy(p("two.pem"), p("cur.pem"))
    shutil.copy(p("two.key"), p("cur.key"))
    new = reload(s)
    check(any("reload: done" in x and "TLS" in x for x in new), f"rotation logged: {new}")
    check(serial_of_handshake(s.port) == "serial=2002", "the next handshake gets the new serial")
    slow_finish(slow, got, "the TLS download begun before the rotation completes byte-exact")

    shutil.copy(p("one.pem"), p("cur.pem"))  # with two.key: a mismatched pair
    new = reload(s)
    check(len(new) == 1 and "reload failed" in new[0] and "does not match" in new[0],
          f"a mismatched pair is refused with one line: {new}")
    check(serial_of_handshake(s.port) == "serial=2002", "the old certificate is still served")
    st, _, body, _ = curl(s.url("/files/small.txt"), "--cacert", p("ca.pem"))
    check(st == 200 and body == files["small.txt"], f"and serves: {st}")
    text = curl(s.url("/metrics"), "--cacert", p("ca.pem"))[2].decode()
    check(metric_value(text, "mmapd_config_last_reload_successful") == 0,
          "mmapd_config_last_reload_successful is 0 after the refused pair")

# --- --check-config ------------------------------------------------------------------------
taken = socket.socket()
taken.bind(("127.0.0.1", 0))
taken.listen(1)
port = taken.getsockname()[1]
GOOD = ["--root", root, "--listen", f"127.0.0.1:{port}", "--auth-token-file", p("tokens"),
        "--tls-cert", p("two.pem"), "--tls-key", p("two.key")]


def check_config(args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                       timeout=20)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


rc, out, err = check_config(["--check-config", *GOOD])
check(rc == 0 and out == "mmapd: configuration OK\n" and err == "",
      f"good settings: exit 0, one line, without binding (the port is taken): {rc} {out!r} {err!r}")
rc, out, err = check_config(GOOD, {"MMAPD_CHECK_CONFIG": "1"})
check(rc == 0 and "configuration OK" in out, f"MMAPD_CHECK_CONFIG=1: {rc} {out!r} {err!r}")
taken.close()
probe = socket.socket()
check(probe.connect_ex(("127.0.0.1", port)) != 0, "nothing listens after --check-config")
probe.close()

write("bad-tokens", "not a token\n")
write("check.json", json.dumps({"check-config": 1}))
write("bad.json", "{\"max-ranges\": \n")
BAD = {
    "a broken token file": ["--auth-token-file", p("bad-tokens")],
    "a mismatched key": ["--tls-key", p("one.key")],
    "a missing root": ["--root", p("nowhere")],
    "an unparsable listen address": ["--listen", "localhost:http"],
    "bad priorities": ["--tls-priorities", "NOT-A-PRIORITY"],
    "a missing certificate": ["--tls-cert", p("missing.pem")],
    "check-config in the config file": ["--config", p("check.json")],
    "a broken config file": ["--config", p("bad.json")],
    "a value for the flag": ["--check-config=1"],
}
for what, args in BAD.items():
    rc, out, err = check_config(["--check-config", *GOOD, *args])
    check(rc == 2 and out == "" and len(err.splitlines()) == 1 and
          err.startswith("mmapd: error: "),
          f"--check-config with {what}: exit 2 and one line: {rc} {out!r} {err!r}")
done()

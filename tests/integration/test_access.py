"""test_access.py - who may read: bearer tokens (--auth-token-file, --metrics-auth) and CORS
(--cors-origin), checked header by header, plus the startup errors of both."""
import os
import subprocess
import tempfile

from harness import BIN, Server, check, curl, done, make_root

root, files = make_root()
tmp = tempfile.mkdtemp(prefix="mmapd-access-")
TOKENS = ["s3cr3t-Token-1", "another.token_2~/+="]
token_file = os.path.join(tmp, "tokens")
with open(token_file, "w") as f:
    f.write("# who may read\n\n  " + TOKENS[0] + "  \n" + TOKENS[1] + "\n")

SMALL = files["small.txt"]

def status_of(s, path, *args):
    return curl(s.url(path), *args)[0]

# --- bearer tokens
with Server(root, args=["--auth-token-file", token_file]) as s:
    st, h, body, _ = curl(s.url("/files/small.txt"))
    check(st == 401 and h.get("www-authenticate") == 'Bearer realm="mmapd"',
          f"no token: {st} {h.get('www-authenticate')!r}")
    check(b'"status":401' in body and h.get("content-type") == "application/json", f"401 body {body!r}")
    st, h, _, _ = curl(s.url("/files/small.txt"), "-H", "Authorization: Bearer wrong-token")
    check(st == 401 and 'error="invalid_token"' in h.get("www-authenticate", ""),
          f"wrong token: {st} {h.get('www-authenticate')!r}")
    for i, t in enumerate(TOKENS):
        st, h, body, _ = curl(s.url("/files/small.txt"), "-H", f"Authorization: Bearer {t}")
        check(st == 200 and body == SMALL, f"token {i}: {st}")
    for hdr, want in (
        (f"Authorization: bearer {TOKENS[0]}", 200),            # scheme is case-insensitive
        (f"Authorization: Bearer   {TOKENS[0]}  ", 200),        # spaces around the token
        (f"Authorization: Bearer {TOKENS[0]}x", 401),           # longer
        (f"Authorization: Bearer {TOKENS[0][:-1]}", 401),       # a prefix
        (f"Authorization: Bearer {TOKENS[0].upper()}", 401),    # tokens are case-sensitive
        (f"Authorization: Basic {TOKENS[0]}", 401),             # another scheme
        ("Authorization: Bearer", 401),
        (f"Authorization: Bearer {TOKENS[0]} {TOKENS[1]}", 401),
        (f"Authorization: Bearer{TOKENS[0]}", 401),
    ):
        check(status_of(s, "/files/small.txt", "-H", hdr) == want, f"{hdr!r}: expected {want}")
    # data endpoints need it, health never, metrics open by default
    check(status_of(s, "/files/") == 401, "listing without token")
    check(status_of(s, "/files/sub/nested.json") == 401, "nested without token")
    check(status_of(s, "/files/", "-H", f"Authorization: Bearer {TOKENS[1]}") == 200, "listing with token")
    check(status_of(s, "/healthz") == 200 and status_of(s, "/readyz") == 200, "probes stay open")
    check(status_of(s, "/sample/data.bin?n=2&size=16&seed=1") == 401, "/sample without token")
    check(status_of(s, "/sample/data.bin?n=2&size=16&seed=1", "-H",
                    f"Authorization: Bearer {TOKENS[0]}") == 200, "/sample with a token")
    st, _, metrics, _ = curl(s.url("/metrics"))
    check(st == 200, f"/metrics open by default: {st}")
    check(b'mmapd_http_requests_total{handler="files",method="GET",code="401"}' in metrics,
          "401s are counted in the metrics")
    for t in TOKENS:
        check(t.encode() not in metrics, "a token appears in /metrics")
    log = s.read_log()
for t in TOKENS + ["wrong-token"]:
    check(t not in log, f"a token appears in the log: {t}")

with Server(root, args=["--auth-token-file", token_file, "--metrics-auth", "token"]) as s:
    check(status_of(s, "/metrics") == 401, "/metrics protected with --metrics-auth token")
    check(status_of(s, "/metrics", "-H", f"Authorization: Bearer {TOKENS[0]}") == 200,
          "/metrics with a token")
    check(status_of(s, "/healthz") == 200, "probes open with --metrics-auth token")

# --- startup errors: one line, exit 2, never the file's content
def start_fails(args, want):
    p = subprocess.run([BIN, "--listen", "127.0.0.1:0", "--root", root] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 2 and len(lines) == 1 and lines[0].startswith("mmapd: error: ")
          and want in lines[0], f"{args}: rc {p.returncode}, stderr {p.stderr!r}")
    return p.stderr

bad = os.path.join(tmp, "bad")
with open(bad, "w") as f:
    f.write(TOKENS[0] + "\nhas space inside-SECRETPART\n")
err = start_fails(["--auth-token-file", bad], "line 2 is not a token")
check("SECRETPART" not in err and TOKENS[0] not in err, "the error echoes the token file")
empty = os.path.join(tmp, "empty")
open(empty, "w").write("# nothing\n\n")
start_fails(["--auth-token-file", empty], "no token")
start_fails(["--auth-token-file", os.path.join(tmp, "missing")], "No such file")
start_fails(["--metrics-auth", "token"], "needs --auth-token-file")
start_fails(["--metrics-auth", "maybe"], "open|token")
for origins in ("example.org", "ftp://x.org", "https://x.org/path", "https://", "*,", "https://a.org:123456"):
    start_fails(["--cors-origin", origins], "not '*' or a list of origins")

# --- CORS
ORIGIN = "https://app.example.org"
EXPOSE = {"content-range", "content-length", "content-type", "etag", "last-modified",
          "accept-ranges", "sample-seed", "sample-next"}

def expose_ok(h):
    got = {x.strip().lower() for x in h.get("access-control-expose-headers", "").split(",")}
    return EXPOSE <= got

with Server(root, args=["--cors-origin", f"{ORIGIN}, http://localhost:3000",
                        "--auth-token-file", token_file]) as s:
    auth = ["-H", f"Authorization: Bearer {TOKENS[0]}"]
    # preflight: answered before authentication (browsers send no credentials on it)
    st, h, body, _ = curl(s.url("/files/small.txt"), "-X", "OPTIONS", "-H", f"Origin: {ORIGIN}",
                          "-H", "Access-Control-Request-Method: GET",
                          "-H", "Access-Control-Request-Headers: range, if-range, authorization")
    check(st == 204 and body == b"", f"preflight: {st} {body!r}")
    check(h.get("access-control-allow-origin") == ORIGIN, f"preflight allow-origin {h}")
    allow_headers = {x.strip().lower() for x in h.get("access-control-allow-headers", "").split(",")}
    check({"range", "if-range", "authorization"} <= allow_headers, f"preflight allow-headers {h}")
    check("GET" in h.get("access-control-allow-methods", "") and "HEAD" in h.get("access-control-allow-methods", ""),
          f"preflight allow-methods {h}")
    check(h.get("access-control-max-age") == "600" and h.get("vary") == "Origin", f"preflight max-age/vary {h}")
    st, h, _, _ = curl(s.url("/files/small.txt"), "-X", "OPTIONS", "-H", "Origin: https://evil.example",
                       "-H", "Access-Control-Request-Method: GET")
    check(st == 403 and "access-control-allow-origin" not in h, f"preflight from another origin: {st} {h}")
    # actual requests: CORS headers on success and on every error
    for path, args, want in (("/files/small.txt", ["-r", "0-3"] + auth, 206),
                             ("/files/small.txt", auth, 200),
                             ("/files/missing.txt", auth, 404),
                             ("/files/small.txt", ["-r", "999999-"] + auth, 416),
                             ("/files/small.txt", [], 401),
                             ("/nope", [], 404)):
        st, h, _, _ = curl(s.url(path), "-H", "Origin: http://localhost:3000", *args)
        check(st == want, f"{path} {args}: {st}, expected {want}")
        check(h.get("access-control-allow-origin") == "http://localhost:3000" and h.get("vary") == "Origin"
              and expose_ok(h), f"{path} {want}: CORS headers {h}")
    st, h, _, _ = curl(s.url("/sample/data.bin?n=2&size=16&seed=1"), "-H", "Origin: http://localhost:3000", *auth)
    check(st == 200 and h.get("access-control-allow-origin") == "http://localhost:3000" and expose_ok(h),
          f"/sample CORS headers: {st} {h}")
    st, h, _, _ = curl(s.url("/sample/data.bin?n=2&size=16"), "-X", "OPTIONS", "-H", f"Origin: {ORIGIN}",
                       "-H", "Access-Control-Request-Method: GET")
    check(st == 204 and h.get("access-control-allow-origin") == ORIGIN, f"/sample preflight: {st} {h}")
    st, h, _, _ = curl(s.url("/files/small.txt"), "-H", "Origin: https://evil.example", *auth)
    check(st == 200 and "access-control-allow-origin" not in h, f"unlisted origin gets no CORS headers: {h}")
    st, h, _, _ = curl(s.url("/files/small.txt"), *auth)
    check("access-control-allow-origin" not in h, "no Origin, no CORS headers")

with Server(root, args=["--cors-origin", "*"]) as s:
    st, h, _, _ = curl(s.url("/files/small.txt"), "-H", "Origin: https://anyone.example", "-r", "1-2")
    check(st == 206 and h.get("access-control-allow-origin") == "*" and "vary" not in h and expose_ok(h),
          f"'*': {st} {h}")

with Server(root) as s:  # CORS off by default
    st, h, _, _ = curl(s.url("/files/small.txt"), "-X", "OPTIONS", "-H", f"Origin: {ORIGIN}",
                       "-H", "Access-Control-Request-Method: GET")
    check(st == 405 and "access-control-allow-origin" not in h, f"CORS off: OPTIONS {st} {h}")
    st, h, _, _ = curl(s.url("/files/small.txt"), "-H", f"Origin: {ORIGIN}")
    check(st == 200 and "access-control-allow-origin" not in h, f"CORS off: GET {h}")
    check(status_of(s, "/files/small.txt") == 200, "no token file: open")

import shutil
shutil.rmtree(tmp)
shutil.rmtree(root)
done()

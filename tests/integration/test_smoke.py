"""test_smoke.py - the README's first steps: health, readiness, one range, a clean stop."""
from harness import Server, check, curl, done, make_root

root, files = make_root()
with Server(root) as s:
    status, h, body, _ = curl(s.url("/healthz"))
    check(status == 200 and h.get("content-type") == "application/json" and b'"ok"' in body,
          f"/healthz: {status} {body!r}")
    status, h, body, _ = curl(s.url("/readyz"))
    check(status == 200 and b'"ready"' in body, f"/readyz: {status} {body!r}")
    status, h, body, _ = curl(s.url("/files/small.txt"), "-r", "10-15")
    check(status == 206 and body == files["small.txt"][10:16], f"range: {status} {body!r}")
    check(h.get("content-range") == f"bytes 10-15/{len(files['small.txt'])}", f"content-range {h}")
done()
